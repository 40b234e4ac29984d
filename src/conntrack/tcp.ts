/**
 * The TCP connection tracker (conntrack layer, fast path).
 *
 * What: OVS's lib/conntrack-tcp.c — pf's state machine with Guido van
 * Rooij's sequence-window check — over struct-of-arrays storage. Each
 * connection has two peers (index `conn * 2 + dir`, dir 0 = the originator,
 * 1 = the responder), each with `seqlo` (highest sequence number sent),
 * `seqhi` (highest the other end acknowledged plus its window), `maxWin`
 * (largest unscaled window, 16 bits as in OVS, so shifts truncate the same
 * way), `wscale` (scale | 0x80 when the option was seen | 0x40 when unknown:
 * picked up mid-stream) and `state` (CT_DPIF_TCPS_*: CLOSED 0 … TIME_WAIT 10).
 * `update()` returns what `tcp_conn_update()` returns: INVALID (the packet
 * is +inv), VALID (+est), NEW (a SYN reopening a closed connection: the old
 * entry goes, a new one may be made) or VALID_NEW (+new: a retransmitted
 * SYN). It also leaves in `tm` the timeout class the connection moves to
 * (CT_TM_*), or -1 when the timeout must not be refreshed (pf's loose path).
 * Invariant: sequence numbers are compared modulo 2^32 with `((a - b) | 0)`;
 * typed arrays give the C types' wrap-around (uint32 seq, uint16 max_win).
 * Cost: a few integer ops per packet; allocates nothing (storage grows only
 * when the table grows, on commit).
 * Neighbours: conntrack.ts owns the table and calls `init`/`update`;
 * format.ts prints `state` (the larger of the two peers, as ct-dpif.c).
 */
import { be16, be32 } from '../wire/bytes.js';

export const TCPS_CLOSED = 0, TCPS_LISTEN = 1, TCPS_SYN_SENT = 2, TCPS_SYN_RECV = 3, TCPS_ESTABLISHED = 4,
  TCPS_CLOSE_WAIT = 5, TCPS_FIN_WAIT_1 = 6, TCPS_CLOSING = 7, TCPS_LAST_ACK = 8, TCPS_FIN_WAIT_2 = 9,
  TCPS_TIME_WAIT = 10;
/** ct-dpif.h's CT_DPIF_TCP_STATES names, by value. */
export const TCP_STATE_NAMES: readonly string[] = [
  'CLOSED', 'LISTEN', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'CLOSE_WAIT', 'FIN_WAIT_1', 'CLOSING',
  'LAST_ACK', 'FIN_WAIT_2', 'TIME_WAIT',
];

/** ct_update_res */
export const CT_UPDATE_INVALID = 0, CT_UPDATE_VALID = 1, CT_UPDATE_NEW = 2, CT_UPDATE_VALID_NEW = 3;

/** Timeout classes (conntrack-private.h CT_TIMEOUTS order). */
export const CT_TM_TCP_FIRST_PACKET = 0, CT_TM_TCP_OPENING = 1, CT_TM_TCP_ESTABLISHED = 2, CT_TM_TCP_CLOSING = 3,
  CT_TM_TCP_FIN_WAIT = 4, CT_TM_TCP_CLOSED = 5, CT_TM_OTHER_FIRST = 6, CT_TM_OTHER_MULTIPLE = 7,
  CT_TM_OTHER_BIDIR = 8, CT_TM_ICMP_FIRST = 9, CT_TM_ICMP_REPLY = 10;

const TH_FIN = 0x01, TH_SYN = 0x02, TH_RST = 0x04, TH_PSH = 0x08, TH_ACK = 0x10, TH_URG = 0x20;
const TCP_MAX_WSCALE = 14;
const WS_FLAG = 0x80, WS_UNKNOWN = 0x40, WS_MASK = 0x0f;
const MAXACKWINDOW = 0xffff + 1500;

const seqGeq = (a: number, b: number): boolean => ((a - b) | 0) >= 0;
const seqGt = (a: number, b: number): boolean => ((a - b) | 0) > 0;

/** pf's flag sanity check (`tcp_invalid_flags`). */
export function tcpInvalidFlags(f: number): boolean {
  if (f & TH_SYN) {
    if (f & (TH_RST | TH_FIN)) return true;
  } else if (!(f & (TH_ACK | TH_RST))) {
    return true;
  }
  if (!(f & TH_ACK) && (f & (TH_FIN | TH_PSH | TH_URG))) return true;
  return false;
}

/** OVS `tcp_valid_new`: may this segment create a connection? (not a bad-flag one, not a SYN-ACK) */
export function tcpValidNew(b: Uint8Array, l4: number): boolean {
  const f = be16(b, l4 + 12) & 0x0fff;
  if (tcpInvalidFlags(f)) return false;
  return !((f & TH_SYN) && (f & TH_ACK));
}

/** Window scale option of the segment at 'l4' (| 0x80 when present), as `tcp_get_wscale`. */
function tcpGetWscale(b: Uint8Array, l4: number): number {
  let len = (b[l4 + 12]! >>> 4) * 4 - 20;
  let o = l4 + 20;
  let ws = 0;
  while (len >= 3) {
    const kind = b[o]!;
    if (kind === 0) return ws;
    if (kind === 1) { o++; len--; continue; }
    if (kind === 3) ws = Math.min(b[o + 2]!, TCP_MAX_WSCALE) | WS_FLAG;
    let ol = b[o + 1]!;
    if (ol < 2) ol = 2;
    len -= ol;
    o += ol;
  }
  return ws;
}

export class TcpPeers {
  seqlo = new Uint32Array(0);
  seqhi = new Uint32Array(0);
  maxWin = new Uint16Array(0);
  wscale = new Uint8Array(0);
  state = new Uint8Array(0);
  /** Timeout class chosen by the last `init`/`update`, -1 for none. */
  tm = -1;
  /** When false, sequence checks always pass (`ovs-appctl dpctl/ct-disable-tcp-seq-chk`). */
  seqCheck = true;

  /** Make room for 'cap' connections, keeping the first 'used'. */
  grow(cap: number): void {
    const n = cap * 2;
    const lo = new Uint32Array(n); lo.set(this.seqlo); this.seqlo = lo;
    const hi = new Uint32Array(n); hi.set(this.seqhi); this.seqhi = hi;
    const mw = new Uint16Array(n); mw.set(this.maxWin); this.maxWin = mw;
    const ws = new Uint8Array(n); ws.set(this.wscale); this.wscale = ws;
    const st = new Uint8Array(n); st.set(this.state); this.state = st;
  }

  /** `tcp_new_conn` for connection 'c' from the segment at [l4, l4End) in 'b'. */
  init(c: number, b: Uint8Array, l4: number, l4End: number): void {
    const s = c * 2, d = s + 1;
    const f = be16(b, l4 + 12) & 0x0fff;
    const pLen = l4End - l4 - (b[l4 + 12]! >>> 4) * 4;
    this.seqlo[d] = 0; this.seqhi[d] = 0; this.maxWin[d] = 0; this.wscale[d] = 0;
    this.seqlo[s] = be32(b, l4 + 4);
    this.seqhi[s] = this.seqlo[s]! + pLen + 1;
    if (f & TH_SYN) {
      this.seqhi[s] = this.seqhi[s]! + 1;
      this.wscale[s] = tcpGetWscale(b, l4);
    } else {
      this.wscale[s] = WS_UNKNOWN;
      this.wscale[d] = WS_UNKNOWN;
    }
    this.maxWin[s] = Math.max(be16(b, l4 + 14), 1);
    const sws = this.wscale[s]! & WS_MASK;
    if (sws) this.maxWin[s] = (this.maxWin[s]! + (1 << sws) - 1) >>> sws;
    if (f & TH_FIN) this.seqhi[s] = this.seqhi[s]! + 1;
    this.seqhi[d] = 1;
    this.maxWin[d] = 1;
    this.state[s] = TCPS_SYN_SENT;
    this.state[d] = TCPS_CLOSED;
    this.tm = CT_TM_TCP_FIRST_PACKET;
  }

  /** `tcp_conn_update` for connection 'c', segment [l4, l4End) of 'b' sent in direction 'reply'. */
  update(c: number, b: Uint8Array, l4: number, l4End: number, reply: boolean): number {
    const si = c * 2 + (reply ? 1 : 0), di = c * 2 + (reply ? 0 : 1);
    const seqlo = this.seqlo, seqhi = this.seqhi, maxWin = this.maxWin, wscale = this.wscale, state = this.state;
    const flags = be16(b, l4 + 12) & 0x0fff;
    let win = be16(b, l4 + 14);
    const pLen = l4End - l4 - (b[l4 + 12]! >>> 4) * 4;
    let sws = 0, dws = 0;
    this.tm = -1;

    if (tcpInvalidFlags(flags)) return CT_UPDATE_INVALID;

    if ((flags & (TH_SYN | TH_ACK)) === TH_SYN) {
      if (state[di]! >= TCPS_FIN_WAIT_2 && state[si]! >= TCPS_FIN_WAIT_2) {
        state[si] = TCPS_CLOSED; state[di] = TCPS_CLOSED;
        return CT_UPDATE_NEW;
      } else if (state[si]! <= TCPS_SYN_SENT) {
        state[si] = TCPS_SYN_SENT;
        this.tm = CT_TM_TCP_FIRST_PACKET;
        return CT_UPDATE_VALID_NEW;
      }
    }

    if ((wscale[si]! & WS_FLAG) && (wscale[di]! & WS_FLAG) && !(flags & TH_SYN)) {
      sws = wscale[si]! & WS_MASK;
      dws = wscale[di]! & WS_MASK;
    } else if ((wscale[si]! & WS_UNKNOWN) && (wscale[di]! & WS_UNKNOWN) && !(flags & TH_SYN)) {
      sws = TCP_MAX_WSCALE;
      dws = TCP_MAX_WSCALE;
    }

    let seq = be32(b, l4 + 4);
    const origSeq = seq;
    let ack: number, end: number;
    let checkAckskew = true;
    if (state[si]! < TCPS_SYN_SENT) {
      // first packet from this end
      ack = be32(b, l4 + 8);
      end = (seq + pLen) >>> 0;
      if (flags & TH_SYN) {
        end = (end + 1) >>> 0;
        if (wscale[di]! & WS_FLAG) {
          wscale[si] = tcpGetWscale(b, l4);
          if (wscale[si]! & WS_FLAG) {
            sws = wscale[si]! & WS_MASK;
            win = (win + (1 << sws) - 1) >>> sws;
            dws = wscale[di]! & WS_MASK;
          } else {
            maxWin[di] = maxWin[di]! << (wscale[di]! & WS_MASK);
            wscale[di] = 0;
          }
        }
      }
      if (flags & TH_FIN) end = (end + 1) >>> 0;
      seqlo[si] = seq;
      state[si] = TCPS_SYN_SENT;
      const w = Math.max(1, maxWin[di]! << dws);
      if (seqhi[si] === 1 || seqGeq((end + w) >>> 0, seqhi[si]!)) {
        seqhi[si] = end + w;
        checkAckskew = false;
      }
      if (win > maxWin[si]!) maxWin[si] = win;
    } else {
      ack = be32(b, l4 + 8);
      end = (seq + pLen) >>> 0;
      if (flags & TH_SYN) end = (end + 1) >>> 0;
      if (flags & TH_FIN) end = (end + 1) >>> 0;
    }

    if ((flags & TH_ACK) === 0) {
      ack = seqlo[di]!;
    } else if (ack === 0 && (flags & (TH_ACK | TH_RST)) === (TH_ACK | TH_RST)) {
      ack = seqlo[di]!;
    }

    if (seq === end) {
      seq = seqlo[si]!;
      end = seq;
    }

    const ackskew = checkAckskew ? (seqlo[di]! - ack) | 0 : 0;
    const dmw = maxWin[di]! << dws;
    const inWindow = seqGeq(seqhi[si]!, end)
      && seqGeq(seq, (seqlo[si]! - dmw) >>> 0)
      && ackskew >= -MAXACKWINDOW
      && ackskew <= (MAXACKWINDOW << sws)
      && ((flags & TH_RST) === 0 || origSeq === seqlo[si] || origSeq === ((seqlo[si]! + 1) >>> 0)
        || ((origSeq + 1) >>> 0) === seqlo[si]);
    if (inWindow || !this.seqCheck) {
      if (maxWin[si]! < win) maxWin[si] = win;
      if (seqGt(end, seqlo[si]!)) seqlo[si] = end;
      const ws = win << sws;
      if (seqGeq((ack + ws) >>> 0, seqhi[di]!)) seqhi[di] = ack + Math.max(ws, 1);

      if ((flags & TH_SYN) && state[si]! < TCPS_SYN_SENT) state[si] = TCPS_SYN_SENT;
      if ((flags & TH_FIN) && state[si]! < TCPS_CLOSING) state[si] = TCPS_CLOSING;
      if (flags & TH_ACK) {
        if (state[di] === TCPS_SYN_SENT) state[di] = TCPS_ESTABLISHED;
        else if (state[di] === TCPS_CLOSING) state[di] = TCPS_FIN_WAIT_2;
      }
      if (flags & TH_RST) { state[si] = TCPS_TIME_WAIT; state[di] = TCPS_TIME_WAIT; }

      const ss = state[si]!, ds = state[di]!;
      if (ss >= TCPS_FIN_WAIT_2 && ds >= TCPS_FIN_WAIT_2) this.tm = CT_TM_TCP_CLOSED;
      else if (ss >= TCPS_CLOSING && ds >= TCPS_CLOSING) this.tm = CT_TM_TCP_FIN_WAIT;
      else if (ss < TCPS_ESTABLISHED || ds < TCPS_ESTABLISHED) this.tm = CT_TM_TCP_OPENING;
      else if (ss >= TCPS_CLOSING || ds >= TCPS_CLOSING) this.tm = CT_TM_TCP_CLOSING;
      else this.tm = CT_TM_TCP_ESTABLISHED;
      return CT_UPDATE_VALID;
    }
    if ((state[di]! < TCPS_SYN_SENT || state[di]! >= TCPS_FIN_WAIT_2 || state[si]! >= TCPS_FIN_WAIT_2)
      && seqGeq((seqhi[si]! + MAXACKWINDOW) >>> 0, end)
      && seqGeq(seq, (seqlo[si]! - MAXACKWINDOW) >>> 0)) {
      // pf's loose path: shotgunned SYNs, a picked-up stream, funky packets after close; no timeout update
      if (maxWin[si]! < win) maxWin[si] = win;
      if (seqGt(end, seqlo[si]!)) seqlo[si] = end;
      const ws = win << sws;
      if (seqGeq((ack + ws) >>> 0, seqhi[di]!)) seqhi[di] = ack + Math.max(ws, 1);
      if ((flags & TH_FIN) && state[si]! < TCPS_CLOSING) state[si] = TCPS_CLOSING;
      if (flags & TH_RST) { state[si] = TCPS_TIME_WAIT; state[di] = TCPS_TIME_WAIT; }
      return CT_UPDATE_VALID;
    }
    return CT_UPDATE_INVALID;
  }

  /** The state printed by `dpctl/dump-conntrack` (max of the peers, FIN_WAIT_2→TIME_WAIT, SYN_RECV→ESTABLISHED). */
  printedState(c: number): string {
    let s = Math.max(this.state[c * 2]!, this.state[c * 2 + 1]!);
    if (s === TCPS_FIN_WAIT_2) s = TCPS_TIME_WAIT;
    else if (s === TCPS_SYN_RECV) s = TCPS_ESTABLISHED;
    return TCP_STATE_NAMES[s] ?? `[${s}]`;
  }
}
