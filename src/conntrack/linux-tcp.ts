/**
 * The TCP window tracker of Linux conntrack (conntrack layer, fast path):
 * the sequence-window half of net/netfilter/nf_conntrack_proto_tcp.c, Linux
 * 6.x, beside linux.ts, which owns the connection table and runs the state
 * machine (nf_conntrack_tcp_packet) around it.
 *
 * What: per connection an `NfTcpState` (struct ip_ct_tcp): for each direction
 * (0 original, 1 reply) the kernel's ip_ct_tcp_state words — td_end (highest
 * seq + len sent), td_maxend (highest ack + window the other end allowed),
 * td_maxwin (largest window seen, scaled), td_maxack (highest ack sent),
 * td_scale (window-scale shift) and flags (IP_CT_TCP_FLAG_*: window scale
 * seen, SACK permitted, CLOSE_INIT, BE_LIBERAL, DATA_UNACKNOWLEDGED,
 * MAXACK_SET) — plus the connection-wide "last packet" annotation (last_dir,
 * last_index, last_seq/ack/end/win, last_wscale, last_flags) and the
 * retransmission counter. The functions are the kernel's, one each:
 *  - `tcpValidFlags` — tcp_error's table of valid flag combinations (PSH,
 *    ECE, CWR ignored): a lone FIN, SYN+FIN, SYN+RST or no flags is INVALID.
 *  - `tcpNew` — tcp_new: a SYN starts a connection, its window data from the
 *    SYN (td_maxend = td_end: nothing allowed beyond it yet); with
 *    nf_conntrack_tcp_loose any other acceptable segment is picked up
 *    mid-stream, td_maxend = td_end + window, and both directions get
 *    SACK_PERM | BE_LIBERAL (the window scale is unknown, so the window
 *    check never refuses a packet of such a connection).
 *  - `tcpInWindow` — tcp_in_window: sender initialisation (a SYN/SYN-ACK,
 *    or a mid-stream packet when the sender was never seen: td_maxwin 0),
 *    re-initialisation on a newer SYN in SYN_SENT/SYN_RECV, window scaling
 *    (RFC 1323: used only when both SYNs carried the option; never applied
 *    to a SYN's own window), SACK right edges as the acknowledgement when
 *    the receiver permitted SACK, and the four bounds of Rooij's paper:
 *      I.   seq <= sender.td_maxend                    (else INVALID, or
 *           IGNORE when only the end overshoots by at most the receiver's
 *           window — "N bytes more than expected": td_end still advances)
 *      II.  seq + len >= sender.td_end - receiver.td_maxwin (else IGNORE:
 *           an already ACKed retransmission)
 *      III. sack <= receiver.td_end                    (else INVALID)
 *      IV.  sack >= receiver.td_end - MAXACKWINDOW     (else IGNORE)
 *    With the BE_LIBERAL flag on the sender or the nf_conntrack_tcp_be_liberal
 *    sysctl, every one of these answers is ACCEPT instead (and the window data
 *    is then left as it was). In window, the sender's and receiver's data
 *    advance and an ACK that repeats the last one (same dir, seq, ack, end,
 *    raw window) counts as a retransmission.
 *  - `tcpSynAnnotate`, `tcpStateResync` — the out-of-sync SYN bookkeeping of
 *    the ignore path (an ignored SYN's options are noted; a SYN-ACK that
 *    acknowledges it rebuilds the originator's data from the note).
 * Verdicts (`NFCT_TCP_*`): IGNORE — the packet belongs to the connection
 * (ctinfo as usual) but changes nothing; INVALID — the kernel drops the
 * packet's conntrack reference: ctinfo INVALID, no NAT, and the rules decide
 * (`--ctstate INVALID -j DROP`); ACCEPT — in window, the state machine moves.
 * Invariants: sequence numbers compare modulo 2^32 (`before`/`after` with
 * `((a - b) | 0)`); the Uint32Array gives the C u32 wrap-around on every
 * store; window values compare unsigned (`>>> 0`). NAT never shifts sequence
 * numbers here (no helper, so nf_ct_seq_offset is 0). A segment's length is
 * the IP total length minus the headers (`l4End`), never the frame's: an
 * Ethernet pad is not data.
 * Source read: nf_conntrack_proto_tcp.c as of Linux 6.17 (the kernel the
 * differential test runs is 6.18); the February 2025 proposal to ignore a
 * re-sent SYN with a lower sequence number (IP_CT_TCP_REINIT) is not in it,
 * and not here. Left out: NAT sequence adjustment (nf_ct_seq_offset: only
 * helpers such as FTP shift sequence numbers); the checksum and truncation
 * part of tcp_error is done by tuple.ts's extraction (INVALID there).
 * Cost per packet: a few dozen integer operations, an options walk only when
 * the header has options and the receiver allowed SACK (or on a SYN);
 * allocates nothing. `NfTcpState` is allocated once per TCP connection.
 * Neighbours: linux.ts (the table, the state machine, timeouts) calls these;
 * tcp.ts is OVS's tracker, a different implementation of the same paper
 * (pf's), not shared.
 */
import { seqLt } from '../wire/tcp.js';
import { be16, be32 } from '../wire/bytes.js';

// TCP states, in tcp_conntrack_names order; IV (TCP_CONNTRACK_MAX) and IG (TCP_CONNTRACK_IGNORE) are table verdicts
export const TCP_NONE = 0, TCP_SYN_SENT = 1, TCP_SYN_RECV = 2, TCP_ESTABLISHED = 3, TCP_FIN_WAIT = 4, TCP_CLOSE_WAIT = 5,
  TCP_LAST_ACK = 6, TCP_TIME_WAIT = 7, TCP_CLOSE = 8, TCP_SYN_SENT2 = 9;
export const TCP_IV = 10, TCP_IG = 11;
export const TCP_STATE_NAMES = ['NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE', 'SYN_SENT2'];

/** enum tcp_bit_set: the row of the state table a segment uses (get_conntrack_index). */
export const TCP_SYN_SET = 0, TCP_SYNACK_SET = 1, TCP_FIN_SET = 2, TCP_ACK_SET = 3, TCP_RST_SET = 4, TCP_NONE_SET = 5;

const SS = TCP_SYN_SENT, SR = TCP_SYN_RECV, ES = TCP_ESTABLISHED, FW = TCP_FIN_WAIT, CW = TCP_CLOSE_WAIT,
  LA = TCP_LAST_ACK, TW = TCP_TIME_WAIT, CL = TCP_CLOSE, S2 = TCP_SYN_SENT2, IV = TCP_IV, IG = TCP_IG;
/** tcp_conntracks[dir][tcp_bit_set][old state] of Linux 6.x (the SYN-ACK row of the original direction and the reply SYN in TIME_WAIT differ from older kernels). */
export const TCP_TABLE: readonly (readonly (readonly number[])[])[] = [
  [ // original        NO  SS  SR  ES  FW  CW  LA  TW  CL  S2
    /* syn    */ [SS, SS, IG, IG, IG, IG, IG, SS, SS, S2],
    /* synack */ [IV, IV, SR, IV, IV, IV, IV, IV, IV, SR],
    /* fin    */ [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
    /* ack    */ [ES, IV, ES, ES, CW, CW, TW, TW, CL, IV],
    /* rst    */ [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
    /* none   */ [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV],
  ],
  [ // reply
    /* syn    */ [IV, S2, IV, IV, IV, IV, IV, SS, IV, S2],
    /* synack */ [IV, SR, IG, IG, IG, IG, IG, IG, IG, SR],
    /* fin    */ [IV, IV, FW, FW, LA, LA, LA, TW, CL, IV],
    /* ack    */ [IV, IG, SR, ES, CW, CW, TW, TW, CL, IG],
    /* rst    */ [IV, CL, CL, CL, CL, CL, CL, CL, CL, CL],
    /* none   */ [IV, IV, IV, IV, IV, IV, IV, IV, IV, IV],
  ],
];

/** tcp_timeouts by state, seconds; RETRANS and UNACK are the two extra classes. */
export const TCP_TIMEOUT_S = [120, 120, 60, 432000, 120, 60, 30, 120, 10, 120];
export const TCP_RETRANS_TIMEOUT_S = 300, TCP_UNACK_TIMEOUT_S = 300;

const TH_FIN = 0x01, TH_SYN = 0x02, TH_RST = 0x04, TH_ACK = 0x10;

/** get_conntrack_index: which row of TCP_TABLE a segment with TCP 'flags' uses. */
export function tcpIndex(flags: number): number {
  if (flags & TH_RST) return TCP_RST_SET;
  if (flags & TH_SYN) return flags & TH_ACK ? TCP_SYNACK_SET : TCP_SYN_SET;
  if (flags & TH_FIN) return TCP_FIN_SET;
  if (flags & TH_ACK) return TCP_ACK_SET;
  return TCP_NONE_SET;
}

/** tcp_valid_flags, indexed by FIN|SYN|RST|ACK|URG (PSH, ECE and CWR masked off). */
const VALID_FLAGS = new Uint8Array(0x40);
for (const f of [0x02, 0x22, 0x12, 0x04, 0x14, 0x11, 0x31, 0x10, 0x30]) VALID_FLAGS[f] = 1;

/** tcp_error's flag check: false when the kernel calls the combination in 'flags' (the TCP flags byte) invalid. */
export function tcpValidFlags(flags: number): boolean {
  return VALID_FLAGS[flags & 0x37] === 1;
}

// ip_ct_tcp_state.flags (include/uapi/linux/netfilter/nf_conntrack_tcp.h) and the kernel-private last_flags bits
export const IP_CT_TCP_FLAG_WINDOW_SCALE = 0x01, IP_CT_TCP_FLAG_SACK_PERM = 0x02, IP_CT_TCP_FLAG_CLOSE_INIT = 0x04,
  IP_CT_TCP_FLAG_BE_LIBERAL = 0x08, IP_CT_TCP_FLAG_DATA_UNACKNOWLEDGED = 0x10, IP_CT_TCP_FLAG_MAXACK_SET = 0x20,
  IP_CT_EXP_CHALLENGE_ACK = 0x40, IP_CT_TCP_SIMULTANEOUS_OPEN = 0x80;

/** Word offsets of one direction's ip_ct_tcp_state inside `NfTcpState.seen` (direction d at d * SEEN_WORDS). */
export const TD_END = 0, TD_MAXEND = 1, TD_MAXWIN = 2, TD_MAXACK = 3, TD_SCALE = 4, TD_FLAGS = 5, SEEN_WORDS = 6;

/** struct ip_ct_tcp without the state (NfConn.tcpState): both directions' window data and the last-packet notes. */
export class NfTcpState {
  /** seen[2]: direction d's words at d * SEEN_WORDS + TD_* */
  readonly seen = new Uint32Array(2 * SEEN_WORDS);
  /** retransmissions of the last ACK-only segment without progress */
  retrans = 0;
  /** last_dir, last_index (tcp_bit_set), last_seq, last_ack, last_end (seq + len), last_win (raw), last_wscale, last_flags */
  lastDir = 0;
  lastIndex = TCP_NONE_SET;
  lastSeq = 0;
  lastAck = 0;
  lastEnd = 0;
  lastWin = 0;
  lastWscale = 0;
  lastFlags = 0;
}

/** after(a, b) of include/net/tcp.h: before(b, a) — at exactly 2^31 apart both before() and after() hold, as in the kernel. */
const seqAfter = (a: number, b: number): boolean => seqLt(b, a);

const MAXACKWINCONST = 66000;
const TCP_MAX_WSCALE = 14;
const TCPOPT_EOL = 0, TCPOPT_NOP = 1, TCPOPT_WINDOW = 3, TCPOPT_SACK_PERM = 4, TCPOPT_SACK = 5;


/** segment_seq_plus_len: seq + payload length (+1 for SYN, +1 for FIN) of the segment at 'l4' ending at 'l4End' (the IP length). */
export function tcpSegmentEnd(b: Uint8Array, l4: number, l4End: number): number {
  const flags = b[l4 + 13]!;
  return (be32(b, l4 + 4) + (l4End - l4 - (b[l4 + 12]! >>> 4) * 4) + (flags & TH_SYN ? 1 : 0) + (flags & TH_FIN ? 1 : 0)) >>> 0;
}

/**
 * tcp_options' reading of the segment at 'l4': its SACK-permitted and
 * window-scale options as (flags << 8) | scale (scale capped at 14), or -1
 * for a header without options. A malformed option list ends the reading
 * where it breaks, keeping what came before, as the kernel does.
 */
function tcpOptionBits(b: Uint8Array, l4: number): number {
  let length = (b[l4 + 12]! >>> 4) * 4 - 20;
  if (length <= 0) return -1;
  let flags = 0, scale = 0;
  let p = l4 + 20;
  while (length > 0) {
    const opcode = b[p++]!;
    if (opcode === TCPOPT_EOL) break;
    if (opcode === TCPOPT_NOP) { length--; continue; }
    if (length < 2) break;
    const opsize = b[p++]!;
    if (opsize < 2 || opsize > length) break;
    if (opcode === TCPOPT_SACK_PERM && opsize === 2) {
      flags |= IP_CT_TCP_FLAG_SACK_PERM;
    } else if (opcode === TCPOPT_WINDOW && opsize === 3) {
      scale = b[p]! > TCP_MAX_WSCALE ? TCP_MAX_WSCALE : b[p]!;
      flags |= IP_CT_TCP_FLAG_WINDOW_SCALE;
    }
    p += opsize - 2;
    length -= opsize;
  }
  return (flags << 8) | scale;
}

/**
 * tcp_options: the options of the segment at 'l4' into direction word
 * offset 'd' of 'seen' (td_scale, and the flags with all but BE_LIBERAL
 * cleared first). A header without options changes nothing.
 */
function tcpOptions(seen: Uint32Array, d: number, b: Uint8Array, l4: number): void {
  const o = tcpOptionBits(b, l4);
  if (o < 0) return;
  seen[d + TD_SCALE] = o & 0xff;
  seen[d + TD_FLAGS] = (seen[d + TD_FLAGS]! & IP_CT_TCP_FLAG_BE_LIBERAL) | (o >>> 8);
}

/**
 * tcp_sack: the highest right edge of the first SACK option of the segment at
 * 'l4', if after 'sack'; else 'sack'. A timestamp-only header is skipped at once.
 */
function tcpSack(b: Uint8Array, l4: number, sack: number): number {
  let length = (b[l4 + 12]! >>> 4) * 4 - 20;
  if (length <= 0) return sack;
  let p = l4 + 20;
  if (length === 12 && be32(b, p) === 0x0101080a) return sack;
  while (length > 0) {
    const opcode = b[p++]!;
    if (opcode === TCPOPT_EOL) return sack;
    if (opcode === TCPOPT_NOP) { length--; continue; }
    if (length < 2) return sack;
    const opsize = b[p++]!;
    if (opsize < 2 || opsize > length) return sack;
    if (opcode === TCPOPT_SACK && opsize >= 10 && (opsize - 2) % 8 === 0) {
      for (let i = 0; i < opsize - 2; i += 8) {
        const right = be32(b, p + i + 4);
        if (seqAfter(right, sack)) sack = right;
      }
      return sack;
    }
    p += opsize - 2;
    length -= opsize;
  }
  return sack;
}

/**
 * tcp_new's window part for the first segment of a connection (at 'l4',
 * IP payload ending at 'l4End'), into the fresh 't'. Returns false when the
 * segment cannot start one: its table entry from NONE is INVALID, or it is
 * not a SYN and 'loose' (nf_conntrack_tcp_loose) is off.
 */
export function tcpNew(t: NfTcpState, b: Uint8Array, l4: number, l4End: number, loose: boolean): boolean {
  const s = TCP_TABLE[0]![tcpIndex(b[l4 + 13]!)]![TCP_NONE]!;
  if (s >= TCP_IV) return false;
  if (s !== TCP_SYN_SENT && !loose) return false;
  const seen = t.seen;
  seen.fill(0);
  t.retrans = 0; t.lastDir = 0; t.lastSeq = 0; t.lastAck = 0; t.lastEnd = 0; t.lastWin = 0; t.lastWscale = 0; t.lastFlags = 0;
  const end = tcpSegmentEnd(b, l4, l4End), win = be16(b, l4 + 14);
  seen[TD_END] = end;
  seen[TD_MAXWIN] = win === 0 ? 1 : win;
  if (s === TCP_SYN_SENT) {
    seen[TD_MAXEND] = end;
    tcpOptions(seen, 0, b, l4);
  } else {
    // picked up mid-stream: its history is lost, window scaling unknown
    seen[TD_MAXEND] = end + seen[TD_MAXWIN]!;
    seen[TD_FLAGS] = IP_CT_TCP_FLAG_SACK_PERM | IP_CT_TCP_FLAG_BE_LIBERAL;
    seen[SEEN_WORDS + TD_FLAGS] = IP_CT_TCP_FLAG_SACK_PERM | IP_CT_TCP_FLAG_BE_LIBERAL;
  }
  t.lastIndex = TCP_NONE_SET;
  return true;
}

/**
 * tcp_init_sender: a SYN (or SYN-ACK) of direction 'dir' sets its sender's
 * data afresh; on the reply side, scaling stays on only if both ends sent
 * the window-scale option.
 */
function tcpInitSender(seen: Uint32Array, dir: number, b: Uint8Array, l4: number, end: number, win: number): void {
  const s = dir * SEEN_WORDS, r = (1 - dir) * SEEN_WORDS;
  seen[s + TD_END] = end;
  seen[s + TD_MAXEND] = end;
  seen[s + TD_MAXWIN] = win === 0 ? 1 : win;
  tcpOptions(seen, s, b, l4);
  if (dir === 1 && !((seen[s + TD_FLAGS]! & IP_CT_TCP_FLAG_WINDOW_SCALE) !== 0 && (seen[r + TD_FLAGS]! & IP_CT_TCP_FLAG_WINDOW_SCALE) !== 0)) {
    seen[s + TD_SCALE] = 0;
    seen[r + TD_SCALE] = 0;
  }
}

/** enum nf_ct_tcp_action */
export const NFCT_TCP_IGNORE = 0, NFCT_TCP_INVALID = 1, NFCT_TCP_ACCEPT = 2;

/**
 * tcp_in_window for the segment at 'l4' (IP payload up to 'l4End') of
 * direction 'dir', row 'index' of the state table, on a connection in TCP
 * state 'state' (before this packet). 'beLiberal' is the sysctl. Updates 't'
 * when the segment is in window (and in the cases the kernel does so before
 * refusing); returns NFCT_TCP_ACCEPT, NFCT_TCP_IGNORE or NFCT_TCP_INVALID.
 */
export function tcpInWindow(t: NfTcpState, state: number, dir: number, index: number, b: Uint8Array, l4: number, l4End: number,
  beLiberal: boolean): number {
  const seen = t.seen;
  const s = dir * SEEN_WORDS, r = (1 - dir) * SEEN_WORDS;
  const flags = b[l4 + 13]!;
  const syn = (flags & TH_SYN) !== 0, hasAck = (flags & TH_ACK) !== 0;
  let seq = be32(b, l4 + 4), ack = be32(b, l4 + 8), sack = ack;
  const winRaw = be16(b, l4 + 14);
  let win = winRaw;
  let end = tcpSegmentEnd(b, l4, l4End);
  if ((seen[r + TD_FLAGS]! & IP_CT_TCP_FLAG_SACK_PERM) !== 0) sack = tcpSack(b, l4, sack);

  if (seen[s + TD_MAXWIN] === 0) {
    if (syn) {
      tcpInitSender(seen, dir, b, l4, end, win);
      // a SYN from the reply side: simultaneous open
      if (!hasAck) return NFCT_TCP_ACCEPT;
    } else {
      // the sender was never seen (mid-stream pickup): take its data from this packet
      seen[s + TD_END] = end;
      const swin = (win << seen[s + TD_SCALE]!) >>> 0;
      seen[s + TD_MAXWIN] = swin === 0 ? 1 : swin;
      seen[s + TD_MAXEND] = end + seen[s + TD_MAXWIN]!;
      if (seen[r + TD_MAXWIN] === 0) {
        // the other direction never seen either: let III and IV pass until it is
        seen[r + TD_END] = sack;
        seen[r + TD_MAXEND] = sack;
      } else if (sack === ((seen[r + TD_END]! + 1) >>> 0)) {
        // likely the answer to a keepalive
        seen[r + TD_END] = seen[r + TD_END]! + 1;
      }
    }
  } else if (syn && seqAfter(end, seen[s + TD_END]!) && (state === TCP_SYN_SENT || state === TCP_SYN_RECV)) {
    // a newer SYN (or SYN-ACK): the end restarted its connection with fresh options
    tcpInitSender(seen, dir, b, l4, end, win);
    if (dir === 1 && !hasAck) return NFCT_TCP_ACCEPT;
  }

  if (!hasAck) {
    ack = sack = seen[r + TD_END]!;
  } else if ((flags & (TH_ACK | TH_RST)) === (TH_ACK | TH_RST) && ack === 0) {
    // broken stacks: RST+ACK with a zero ack
    ack = sack = seen[r + TD_END]!;
  }
  if ((flags & TH_RST) !== 0 && seq === 0 && state === TCP_SYN_SENT) {
    // a RST answering a SYN
    seq = end = seen[s + TD_END]!;
  }

  const liberal = beLiberal || (seen[s + TD_FLAGS]! & IP_CT_TCP_FLAG_BE_LIBERAL) !== 0;
  const maxAckWin = seen[s + TD_MAXWIN]! > MAXACKWINCONST ? seen[s + TD_MAXWIN]! : MAXACKWINCONST;
  const rcvMaxwin = seen[r + TD_MAXWIN]!;

  // I. upper bound for data
  if (!seqLt(seq, seen[s + TD_MAXEND]! + 1)) {
    const overshot = (end - seen[s + TD_MAXEND]! + 1) >>> 0;
    const ackOk = seqAfter(sack, seen[r + TD_END]! - maxAckWin - 1);
    const inRecvWin = rcvMaxwin !== 0 && seqAfter(end, seen[s + TD_END]! - rcvMaxwin - 1);
    if (inRecvWin && ackOk && overshot <= rcvMaxwin && seqLt(sack, seen[r + TD_END]! + 1)) {
      // a stack sending more than the window allows: keep td_end so that the ACK of it is in window
      seen[s + TD_END] = end;
      seen[s + TD_FLAGS] = seen[s + TD_FLAGS]! | IP_CT_TCP_FLAG_DATA_UNACKNOWLEDGED;
      return liberal ? NFCT_TCP_ACCEPT : NFCT_TCP_IGNORE;
    }
    return liberal ? NFCT_TCP_ACCEPT : NFCT_TCP_INVALID;
  }
  // III. upper bound for the (s)ack: nothing acknowledged that was not sent
  if (!seqLt(sack, seen[r + TD_END]! + 1)) return liberal ? NFCT_TCP_ACCEPT : NFCT_TCP_INVALID;
  // II. lower bound for data: an already acknowledged retransmission
  if (rcvMaxwin !== 0 && !seqAfter(end, seen[s + TD_END]! - rcvMaxwin - 1)) return liberal ? NFCT_TCP_ACCEPT : NFCT_TCP_IGNORE;
  // IV. lower bound for the (s)ack: an overly delayed ACK
  if (!seqAfter(sack, seen[r + TD_END]! - maxAckWin - 1)) return liberal ? NFCT_TCP_ACCEPT : NFCT_TCP_IGNORE;

  if (!syn) win = (win << seen[s + TD_SCALE]!) >>> 0;
  // the sender
  const swin = (win + (sack - ack)) >>> 0;
  if (seen[s + TD_MAXWIN]! < swin) seen[s + TD_MAXWIN] = swin;
  if (seqAfter(end, seen[s + TD_END]!)) {
    seen[s + TD_END] = end;
    seen[s + TD_FLAGS] = seen[s + TD_FLAGS]! | IP_CT_TCP_FLAG_DATA_UNACKNOWLEDGED;
  }
  if (hasAck) {
    if ((seen[s + TD_FLAGS]! & IP_CT_TCP_FLAG_MAXACK_SET) === 0) {
      seen[s + TD_MAXACK] = ack;
      seen[s + TD_FLAGS] = seen[s + TD_FLAGS]! | IP_CT_TCP_FLAG_MAXACK_SET;
    } else if (seqAfter(ack, seen[s + TD_MAXACK]!)) {
      seen[s + TD_MAXACK] = ack;
    }
  }
  // the receiver
  if (seen[r + TD_MAXWIN] !== 0 && seqAfter(end, seen[s + TD_MAXEND]!)) seen[r + TD_MAXWIN] = seen[r + TD_MAXWIN]! + (end - seen[s + TD_MAXEND]!);
  if (seqAfter(sack + win, seen[r + TD_MAXEND]! - 1)) {
    seen[r + TD_MAXEND] = sack + win + (win === 0 ? 1 : 0);
  }
  if (ack === seen[r + TD_END]) seen[r + TD_FLAGS] = seen[r + TD_FLAGS]! & ~IP_CT_TCP_FLAG_DATA_UNACKNOWLEDGED;
  // retransmissions: the same ACK-only segment again
  if (index === TCP_ACK_SET) {
    if (t.lastDir === dir && t.lastSeq === seq && t.lastAck === ack && t.lastEnd === end && t.lastWin === winRaw) {
      t.retrans++;
    } else {
      t.lastDir = dir; t.lastSeq = seq; t.lastAck = ack; t.lastEnd = end; t.lastWin = winRaw;
      t.retrans = 0;
    }
  }
  return NFCT_TCP_ACCEPT;
}

/**
 * nf_ct_tcp_state_syn_annotate: note the options of an ignored original-
 * direction SYN at 'l4' in last_flags/last_wscale (and nothing else of them).
 */
export function tcpSynAnnotate(t: NfTcpState, b: Uint8Array, l4: number): void {
  const o = tcpOptionBits(b, l4);
  t.lastFlags = o < 0 ? 0 : o >>> 8;
  t.lastWscale = o < 0 ? 0 : o & 0xff;
}

/**
 * The resynchronisation when a SYN-ACK of direction 'dir' acknowledges a SYN
 * that was ignored: the SYN's direction takes the noted end, window, scale
 * and flags; 'dir' starts over (nf_ct_tcp_state_reset keeps BE_LIBERAL).
 */
export function tcpStateResync(t: NfTcpState, dir: number): void {
  const seen = t.seen;
  const l = t.lastDir * SEEN_WORDS, d = dir * SEEN_WORDS;
  seen[l + TD_END] = t.lastEnd;
  seen[l + TD_MAXEND] = t.lastEnd;
  seen[l + TD_MAXWIN] = t.lastWin === 0 ? 1 : t.lastWin;
  seen[l + TD_SCALE] = t.lastWscale;
  t.lastFlags &= ~IP_CT_EXP_CHALLENGE_ACK;
  seen[l + TD_FLAGS] = t.lastFlags;
  seen[d + TD_END] = 0;
  seen[d + TD_MAXEND] = 0;
  seen[d + TD_MAXWIN] = 0;
  seen[d + TD_MAXACK] = 0;
  seen[d + TD_SCALE] = 0;
  seen[d + TD_FLAGS] = seen[d + TD_FLAGS]! & IP_CT_TCP_FLAG_BE_LIBERAL;
}
