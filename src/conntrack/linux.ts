/**
 * Connection tracking as the Linux kernel does it (conntrack layer) — the
 * nf_conntrack / nf_nat semantics netfilter needs, beside conntrack.ts's
 * OVS semantics. Shares the tuple layout and extraction (tuple.ts) and the
 * NAT rewrite (nat.ts).
 *
 * What differs from OVS, and is done here as nf_conntrack does it:
 *  - Every packet is tracked (`track`, at PREROUTING or OUTPUT); a packet
 *    that can start a connection gets a new, *unconfirmed* entry, inserted
 *    into the table only by `confirm` (POSTROUTING or INPUT: a packet
 *    dropped before that leaves no entry, BEHAVIOUR.md Linux §6).
 *  - ctinfo: NEW for the original direction until a reply was seen (a
 *    retransmitted SYN is NEW again, but its connection's NAT is already
 *    set up, so the nat table is not consulted: §2), ESTABLISHED once
 *    replied (both directions), RELATED for an ICMP error quoting a
 *    tracked connection, INVALID when the tracker refuses the packet.
 *  - TCP: the state machine of nf_conntrack_proto_tcp.c (tcp_conntracks,
 *    loose pickup of a bare ACK as ESTABLISHED: §8; a lone RST/FIN is
 *    INVALID); ASSURED when SYN_RECV/ESTABLISHED moves to ESTABLISHED; a
 *    RST on a connection that is not ASSURED kills it at once (§7).
 *    Left out: the sequence-window check (tcp_in_window): an out-of-window
 *    segment is tracked, where the kernel would call it INVALID.
 *  - UDP and other protocols: ASSURED on the first packet after a reply was
 *    seen (§10); ICMP echo keyed by id, its reply ESTABLISHED.
 *  - NAT (nf_nat_setup_info): one binding per manip type (source,
 *    destination), each set up once per connection — by a nat-table target
 *    or as a null binding when no rule matched. The original tuple is
 *    changed, the reply tuple is its inverse, made unique: a port is kept
 *    when the resulting reply tuple is free and the port lies in the range;
 *    otherwise a port of the range (MASQUERADE/SNAT without ports: 1024-
 *    65535) drawn from the seeded RNG until free (§3). `manip` rewrites a
 *    packet at a hook as nf_nat_packet does: the destination at PREROUTING/
 *    OUTPUT, the source at POSTROUTING/INPUT, in whichever direction the
 *    connection's bindings require (a reply is un-NATed the other way).
 *  - `conntrack -L` text (`dump`).
 * Timeouts: the kernel's defaults (tcp_timeouts, udp 30 s / 120 s stream,
 * icmp 30 s), on the caller's clock in ms.
 * Cost: a lookup is one hash and a short chain walk over typed keys; a new
 * connection allocates its entry (slow path, as the kernel's nf_conn).
 * Neighbours: tuple.ts (keys), nat.ts (rewrite); netfilter's hook pipeline
 * drives it.
 */
import { ipv4ToString } from '../wire/bytes.js';
import { Mulberry32 } from '../rng.js';
import { NAT_ACTION_DST, NAT_ACTION_DST_PORT, NAT_ACTION_SRC, NAT_ACTION_SRC_PORT, natPacket } from './nat.js';
import {
  IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, K_DST, K_DST_EP, K_META, K_SRC, K_SRC_EP, KEY_WORDS, TupleExtractor, copyKey,
  hashKey, keyEquals, reverseKeyInto,
} from './tuple.js';

// TCP states, in tcp_conntrack_names order
export const TCP_NONE = 0, TCP_SYN_SENT = 1, TCP_SYN_RECV = 2, TCP_ESTABLISHED = 3, TCP_FIN_WAIT = 4, TCP_CLOSE_WAIT = 5,
  TCP_LAST_ACK = 6, TCP_TIME_WAIT = 7, TCP_CLOSE = 8, TCP_SYN_SENT2 = 9;
const IV = 10, IG = 11;
export const TCP_STATE_NAMES = ['NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE', 'SYN_SENT2'];
const SS = TCP_SYN_SENT, SR = TCP_SYN_RECV, ES = TCP_ESTABLISHED, FW = TCP_FIN_WAIT, CW = TCP_CLOSE_WAIT, LA = TCP_LAST_ACK,
  TW = TCP_TIME_WAIT, CL = TCP_CLOSE, S2 = TCP_SYN_SENT2;
/** tcp_conntracks[dir][syn, synack, fin, ack, rst, none][old state] (nf_conntrack_proto_tcp.c) */
const TCP_TABLE: readonly (readonly (readonly number[])[])[] = [
  [ // original
    [SS, SS, IG, IG, IG, IG, IG, SS, SS, S2],
    [IV, IV, IG, IG, IG, IG, IG, IG, IG, SR],
    [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
    [ES, IV, ES, ES, CW, CW, TW, TW, CL, IV],
    [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
    [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV],
  ],
  [ // reply
    [IV, S2, IV, IV, IV, IV, IV, IV, IV, S2],
    [IV, SR, IG, IG, IG, IG, IG, IG, IG, SR],
    [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
    [IV, IG, SR, ES, CW, CW, TW, TW, CL, IG],
    [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
    [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV],
  ],
];
/** tcp_timeouts, seconds, by state */
const TCP_TIMEOUT_S = [0, 120, 60, 432000, 120, 60, 30, 120, 10, 120];
const UDP_TIMEOUT_S = 30, UDP_STREAM_TIMEOUT_S = 120, ICMP_TIMEOUT_S = 30, OTHER_TIMEOUT_S = 600;

/** get_conntrack_index: which row of TCP_TABLE a segment with 'flags' uses. */
function tcpIndex(flags: number): number {
  if (flags & 0x04) return 4;
  if (flags & 0x02) return flags & 0x10 ? 1 : 0;
  if (flags & 0x01) return 2;
  if (flags & 0x10) return 3;
  return 5;
}

export const IPS_SEEN_REPLY = 0x2, IPS_ASSURED = 0x4, IPS_CONFIRMED = 0x8, IPS_SRC_NAT = 0x10, IPS_DST_NAT = 0x20,
  IPS_SRC_NAT_DONE = 0x80, IPS_DST_NAT_DONE = 0x100;

export type CtInfo = 'NEW' | 'ESTABLISHED' | 'RELATED' | 'INVALID' | 'UNTRACKED';

/** One connection (nf_conn): both tuples, status bits, protocol state, timeout. */
export class NfConn {
  /** [0, KEY_WORDS): the original tuple; [KEY_WORDS, 2*KEY_WORDS): the reply tuple */
  readonly keys = new Uint32Array(2 * KEY_WORDS);
  status = 0;
  tcpState = TCP_NONE;
  /** ms on the caller's clock */
  expires = 0;
  mark = 0;
  readonly proto: number;
  constructor(proto: number) { this.proto = proto; }
}

/** What `track` found: the connection (null: untracked/invalid), the direction, the kernel's ctinfo. */
export class NfCtResult {
  conn: NfConn | null = null;
  /** 0 original, 1 reply */
  dir = 0;
  info: CtInfo = 'UNTRACKED';
}

export interface NfNatRange { addrMin: number; addrMax: number; portMin: number; portMax: number; random?: boolean }

export class NfConntrack {
  private readonly table = new Map<number, { conn: NfConn; dir: number }[]>();
  private readonly ex = new TupleExtractor();
  private readonly tmp = new Uint32Array(KEY_WORDS);
  private readonly rng: Mulberry32;
  private readonly loose: boolean;

  constructor(opts: { seed?: number; tcpLoose?: boolean } = {}) {
    this.rng = new Mulberry32(opts.seed ?? 1);
    this.loose = opts.tcpLoose ?? true;
  }

  get size(): number {
    let n = 0;
    for (const l of this.table.values()) for (const e of l) if (e.dir === 0) n++;
    return n;
  }

  private find(k: Uint32Array, o: number, now: number): { conn: NfConn; dir: number } | null {
    const l = this.table.get(hashKey(k, o, 0));
    if (l === undefined) return null;
    for (const e of l) {
      if (keyEquals(e.conn.keys, e.dir * KEY_WORDS, k, o)) return e.conn.expires > now ? e : null;
    }
    return null;
  }

  private insert(c: NfConn): void {
    for (let dir = 0; dir < 2; dir++) {
      const h = hashKey(c.keys, dir * KEY_WORDS, 0);
      const l = this.table.get(h);
      if (l === undefined) this.table.set(h, [{ conn: c, dir }]);
      else l.push({ conn: c, dir });
    }
  }

  private remove(c: NfConn): void {
    for (let dir = 0; dir < 2; dir++) {
      const h = hashKey(c.keys, dir * KEY_WORDS, 0);
      const l = this.table.get(h);
      if (l === undefined) continue;
      const i = l.findIndex((e) => e.conn === c);
      if (i >= 0) l.splice(i, 1);
      if (l.length === 0) this.table.delete(h);
    }
  }

  /**
   * nf_conntrack_in for the IPv4 packet at 'l3' of 'b' (frame end 'end') at
   * 'now': look it up, run its protocol's tracker, or make a new
   * unconfirmed connection; the result in 'out'.
   */
  track(b: Uint8Array, l3: number, end: number, now: number, out: NfCtResult): void {
    out.conn = null; out.dir = 0; out.info = 'INVALID';
    const ex = this.ex;
    if (!ex.extract(b, l3, end, 0x0800, 0)) return;
    const k = ex.key;
    const hit = this.find(k, 0, now);
    if (ex.icmpRelated) {
      if (hit === null) return;
      out.conn = hit.conn; out.dir = hit.dir; out.info = 'RELATED';
      return;
    }
    const proto = k[K_META]! >>> 24;
    if (hit === null) {
      const c = new NfConn(proto);
      copyKey(k, 0, c.keys, 0);
      reverseKeyInto(k, 0, c.keys, KEY_WORDS);
      if (proto === IPPROTO_TCP) {
        // tcp_new: only a state the table reaches from NONE starts a connection
        const flags = b[ex.l4 + 13]!;
        const s = TCP_TABLE[0]![tcpIndex(flags)]![TCP_NONE]!;
        if (s === IV || (s === ES && !this.loose)) return;
        c.tcpState = s;
        c.expires = now + TCP_TIMEOUT_S[s]! * 1000;
      } else if (proto === IPPROTO_ICMP) {
        // an echo reply or other non-request cannot start a connection
        if ((k[K_SRC_EP]! >>> 8 & 0xff) !== 8 && (k[K_SRC_EP]! >>> 8 & 0xff) !== 13 && (k[K_SRC_EP]! >>> 8 & 0xff) !== 15
          && (k[K_SRC_EP]! >>> 8 & 0xff) !== 17) return;
        c.expires = now + ICMP_TIMEOUT_S * 1000;
      } else {
        c.expires = now + (proto === IPPROTO_UDP ? UDP_TIMEOUT_S : OTHER_TIMEOUT_S) * 1000;
      }
      out.conn = c; out.dir = 0; out.info = 'NEW';
      return;
    }
    const c = hit.conn, dir = hit.dir;
    out.conn = c; out.dir = dir;
    if (proto === IPPROTO_TCP) {
      const flags = b[ex.l4 + 13]!;
      const idx = tcpIndex(flags);
      const old = c.tcpState;
      const s = TCP_TABLE[dir]![idx]![old]!;
      if (s === IV) { out.info = 'INVALID'; return; }
      if (s !== IG) {
        if (idx === 4 && (c.status & IPS_ASSURED) === 0) {
          // a RST on a connection that never got ASSURED ends it at once (§7)
          this.remove(c);
          c.expires = now;
        } else {
          if ((old === TCP_SYN_RECV || old === TCP_ESTABLISHED) && s === TCP_ESTABLISHED) c.status |= IPS_ASSURED;
          c.tcpState = s;
          c.expires = now + TCP_TIMEOUT_S[s]! * 1000;
        }
      }
    } else if (proto === IPPROTO_UDP || proto !== IPPROTO_ICMP) {
      if ((c.status & IPS_SEEN_REPLY) !== 0) {
        c.status |= IPS_ASSURED;
        c.expires = now + (proto === IPPROTO_UDP ? UDP_STREAM_TIMEOUT_S : OTHER_TIMEOUT_S) * 1000;
      } else {
        c.expires = now + (proto === IPPROTO_UDP ? UDP_TIMEOUT_S : OTHER_TIMEOUT_S) * 1000;
      }
    } else {
      c.expires = now + ICMP_TIMEOUT_S * 1000;
    }
    if (dir === 1) c.status |= IPS_SEEN_REPLY;
    out.info = (c.status & IPS_SEEN_REPLY) !== 0 ? 'ESTABLISHED' : 'NEW';
  }

  /** nf_nat_initialized: has 'c' its source ('src') or destination ('dst') binding yet? */
  natInitialized(c: NfConn, manip: 'src' | 'dst'): boolean {
    return (c.status & (manip === 'src' ? IPS_SRC_NAT_DONE : IPS_DST_NAT_DONE)) !== 0;
  }

  /**
   * nf_nat_setup_info: bind 'c' for 'manip' to 'range' (null: the null
   * binding). Changes the original tuple's source or destination, makes the
   * reply tuple its inverse, and keeps that reply tuple unique.
   */
  setupNat(c: NfConn, manip: 'src' | 'dst', range: NfNatRange | null, now: number): void {
    const k = this.tmp;
    // the tuple the connection will have in the original direction: the inverse of the current reply
    reverseKeyInto(c.keys, KEY_WORDS, k, 0);
    if (range !== null) {
      const addrW = manip === 'src' ? K_SRC : K_DST, epW = manip === 'src' ? K_SRC_EP : K_DST_EP;
      const cur = k[addrW]!;
      if (cur < range.addrMin || cur > range.addrMax) k[addrW] = range.addrMin;
      const proto = c.proto;
      if (proto === IPPROTO_TCP || proto === IPPROTO_UDP) {
        const port = k[epW]! >>> 16;
        const lo = range.portMin !== 0 ? range.portMin : 1024, hi = range.portMin !== 0 ? range.portMax : 65535;
        let p = port;
        // keep the port when it is in range (or no range was asked for and the tuple is free)
        const inRange = range.portMin === 0 || (port >= range.portMin && port <= range.portMax);
        if (!inRange) p = lo + ((this.rng.nextI32() >>> 0) % (hi - lo + 1));
        for (let tries = 0; ; tries++) {
          k[epW] = ((p << 16) | (k[epW]! & 0xffff)) >>> 0;
          reverseKeyInto(k, 0, c.keys, KEY_WORDS);
          if (this.find(c.keys, KEY_WORDS, now) === null || tries > 65535) break;
          p = lo + ((this.rng.nextI32() >>> 0) % (hi - lo + 1));
        }
      } else {
        reverseKeyInto(k, 0, c.keys, KEY_WORDS);
      }
      c.status |= manip === 'src' ? IPS_SRC_NAT : IPS_DST_NAT;
    }
    c.status |= manip === 'src' ? IPS_SRC_NAT_DONE : IPS_DST_NAT_DONE;
  }

  /**
   * nf_nat_packet: rewrite the packet of 'r' (the last `track`ed one) for
   * 'manip' at its hook: in the original direction as the connection's own
   * bindings say, in the reply direction the other binding undone.
   */
  manip(b: Uint8Array, r: NfCtResult, manip: 'src' | 'dst'): void {
    const c = r.conn;
    if (c === null) return;
    // the binding whose effect this hook applies in this direction
    const bit = (manip === 'src') === (r.dir === 0) ? IPS_SRC_NAT : IPS_DST_NAT;
    if ((c.status & bit) === 0) return;
    // the packet's side of this manip must end up as the inverse of the other direction's
    // tuple (natPacket takes that tuple itself); only that side's port changes
    const action = manip === 'src' ? NAT_ACTION_SRC | NAT_ACTION_SRC_PORT : NAT_ACTION_DST | NAT_ACTION_DST_PORT;
    natPacket(b, this.ex, c.keys, (1 - r.dir) * KEY_WORDS, action, true);
  }

  /**
   * nf_conntrack_alter_reply: the unconfirmed connection 'c' will see its
   * replies come from 'addr':'port' (IPVS's NAT forwarding sets the real
   * server so, with net.ipv4.vs.conntrack=1). The reply tuple's source
   * changes; no NAT binding is made (the status bits stay), so conntrack
   * never rewrites these packets — IPVS does.
   */
  alterReplySource(c: NfConn, addr: number, port: number): void {
    if ((c.status & IPS_CONFIRMED) !== 0) throw new Error('alterReplySource: the connection is confirmed');
    const k = c.keys;
    k[KEY_WORDS + K_SRC] = addr >>> 0;
    if (c.proto === IPPROTO_TCP || c.proto === IPPROTO_UDP) k[KEY_WORDS + K_SRC_EP] = ((port << 16) | (k[KEY_WORDS + K_SRC_EP]! & 0xffff)) >>> 0;
  }

  /** nf_conntrack_confirm: insert a new connection (no-op for a confirmed one or none). */
  confirm(r: NfCtResult): void {
    const c = r.conn;
    if (c === null || (c.status & IPS_CONFIRMED) !== 0) return;
    c.status |= IPS_CONFIRMED;
    this.insert(c);
  }

  /** Remove the entries that timed out by 'now'. */
  expire(now: number): number {
    const dead = new Set<NfConn>();
    for (const l of this.table.values()) for (const e of l) if (e.conn.expires <= now) dead.add(e.conn);
    for (const c of dead) this.remove(c);
    return dead.size;
  }

  /** `conntrack -L` lines at 'now' (insertion order; the tool prints hash order). */
  dump(now: number): string[] {
    const out: string[] = [];
    const seen = new Set<NfConn>();
    for (const l of this.table.values()) {
      for (const e of l) {
        const c = e.conn;
        if (seen.has(c) || c.expires <= now) continue;
        seen.add(c);
        out.push(formatConn(c, now));
      }
    }
    return out;
  }
}

const PROTO_NAMES: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 132: 'sctp' };

function tupleText(k: Uint32Array, o: number, proto: number): string {
  let s = `src=${ipv4ToString(k[o + K_SRC]!)} dst=${ipv4ToString(k[o + K_DST]!)}`;
  if (proto === IPPROTO_TCP || proto === IPPROTO_UDP) s += ` sport=${k[o + K_SRC_EP]! >>> 16} dport=${k[o + K_DST_EP]! >>> 16}`;
  else if (proto === IPPROTO_ICMP) {
    const e = k[o + K_SRC_EP]!;
    s += ` type=${(e >>> 8) & 0xff} code=${e & 0xff} id=${e >>> 16}`;
  }
  return s;
}

/** One `conntrack -L` line (conntrack-tools' default output). */
export function formatConn(c: NfConn, now: number): string {
  const name = PROTO_NAMES[c.proto] ?? 'unknown';
  let s = `${name.padEnd(8)} ${c.proto} ${Math.max(0, Math.floor((c.expires - now) / 1000))} `;
  if (c.proto === IPPROTO_TCP) s += `${TCP_STATE_NAMES[c.tcpState]} `;
  s += tupleText(c.keys, 0, c.proto);
  if ((c.status & IPS_SEEN_REPLY) === 0) s += ' [UNREPLIED]';
  s += ` ${tupleText(c.keys, KEY_WORDS, c.proto)}`;
  if ((c.status & IPS_ASSURED) !== 0) s += ' [ASSURED]';
  s += ` mark=${c.mark} use=1`;
  return s;
}
