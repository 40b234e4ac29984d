/**
 * A small TCP for the emulated host (netstack layer, slow path).
 *
 * What: `TcpStack` is one host's TCP: `listen()` and `connect()` make
 * sockets, `input()` takes the segments IPv4 delivers to the host, and every
 * segment it sends leaves as a whole Ethernet+IPv4+TCP frame through
 * `TcpIo.send` (the host fills in the Ethernet addresses and runs its output
 * path). `TcpConn` is one connection with the RFC 793 states, a send buffer,
 * retransmission and the callbacks an application scripts against.
 * Enough TCP for request/response traffic between emulated hosts and against a
 * real Linux peer (test/netstack/tcp-kernel.test.ts), with Linux's numbers
 * wherever a choice shows on the wire or in time.
 *
 * Wire choices (what the segments look like):
 *  - IPv4: TTL 64, DF set, TOS 0, no options. IPv4 id as Linux 6.x picks it
 *    (ip_select_ident_segs): a connected socket counts from a random 16-bit
 *    value (drawn at connect(), or when a passive connection is created) and
 *    adds one per segment; segments sent without a full socket — the
 *    SYN-ACK of a passive open (request socket), RSTs answering stray
 *    segments, ACKs from TIME_WAIT — carry id 0.
 *  - Options: only MSS, on SYN and SYN-ACK (advertised MSS = route MTU - 40).
 *    No window scaling, SACK or timestamps are sent, so a Linux peer uses none
 *    either. Without a peer MSS option the send MSS is 536 (RFC 9293, Linux's
 *    TCP_MSS_DEFAULT); otherwise min(peer MSS, route MTU - 40).
 *  - Receive window: fixed (`rcvWnd`, default 65535 — the largest an unscaled
 *    window can say). Data goes to `onData` as it becomes in order, so the
 *    application never holds the window closed; out-of-order segments inside
 *    the window are BUFFERED (as views of their frames) and delivered when the
 *    hole fills. Every segment that carries data or a FIN is ACKed at once:
 *    no delayed ACK, no Nagle (a `send()` leaves as soon as window and cwnd
 *    allow; the last segment of what is queued carries PSH).
 *  - RSTs: a segment for no socket is the host's (input returns false). What
 *    a socket does answer follows RFC 9293 as Linux does it: an ACK to a
 *    listener, or an unacceptable ACK in SYN_SENT/SYN_RECEIVED, gets
 *    <SEQ=SEG.ACK><CTL=RST>; an unacceptable segment gets an ACK; RFC 5961
 *    is applied to RST (only seq == RCV.NXT resets, or RCV.NXT-1 after the
 *    peer's FIN; another in-window RST gets a challenge ACK) and to SYN in a
 *    synchronized state (challenge ACK).
 *
 * Time (everything on the `TcpClock`, i.e. the sim's virtual clock):
 *  - RTT: RFC 6298's estimator (SRTT, RTTVAR with 1/8, 1/4), one segment timed
 *    at a time, Karn's rule (no sample from a retransmitted sequence range;
 *    the handshake gives the first sample). The minimum applies to the variance
 *    term, as Linux's tcp_set_rto does: RTO = SRTT + max(4·RTTVAR, 200 ms),
 *    at most 120 s — so a 10 ms path gets 210 ms, as on Linux. Before any
 *    sample RTO is 1 s; a handshake that needed a retransmission and gave no
 *    sample leaves 3 s (RFC 6298 §5.7).
 *  - SYN: as Linux 6.18 was measured to do (tcp_retransmit_timer with
 *    tcp_syn_linear_timeouts): the first `synLinearTimeouts` (4) expiries keep
 *    the 1 s RTO, later ones double it; the first expiry at least
 *    tcp_model_timeout(synRetries, 1 s) after the first SYN — 2^(n+1) - 1
 *    seconds, 127 s for 6 — fails connect() with ETIMEDOUT instead of
 *    retransmitting: SYNs at 0, 1, 2, 3, 4, 5, 7, 11, 19, 35, 67 s and
 *    ETIMEDOUT at 131 s (synLinearTimeouts 0: the classic 0, 1, 3, …, 63 s
 *    and 127 s). test/netstack/tcp.test.ts holds the kernel's measured
 *    schedules for other settings.
 *  - SYN-ACK (passive): 1 s doubling, `synackRetries` (5) retransmissions,
 *    then the embryonic connection is dropped silently (at 63 s).
 *  - Data: on RTO, exponential backoff (×2, at most 120 s); the connection
 *    fails with ETIMEDOUT (or the last ICMP error it saw, as Linux's
 *    sk_err_soft) when Linux's retransmits_timed_out() model for
 *    `retries2` (15) says so: the time since the first retransmission's
 *    timer was armed exceeds the sum of the backoff series from 200 ms
 *    (924.6 s for 15). A net or host unreachable quoting SND.UNA while backed
 *    off undoes one doubling (RFC 6069, tcp_ld_RTO_revert): the timer is
 *    re-armed for the rest of the shorter RTO since that segment was sent.
 *  - Zero window: the persist timer probes with an old-sequence ACK (as
 *    tcp_xmit_probe_skb), backing off like RTO; `retries2` unanswered probes
 *    fail the connection.
 *  - TIME_WAIT: 60 s (TCP_TIMEWAIT_LEN), restarted by a retransmitted FIN or
 *    an in-window bare ACK; a SYN beyond RCV.NXT ends it and goes to the
 *    listener, a RST kills it (tcp_rfc1337 = 0), as tcp_timewait_state_process.
 * Congestion: Reno with Linux's initial window of 10 segments, slow start,
 * congestion avoidance, NewReno fast retransmit / recovery on three duplicate
 * ACKs (RFC 6582), and after an RTO: ssthresh = max(flight/2, 2·MSS), cwnd =
 * 1 MSS, go-back-N from SND.UNA. (Linux's default is CUBIC; this is the
 * simplest sender that recovers from loss in reasonable virtual time.)
 *
 * Application API: `close()` is a half-close (shutdown(SHUT_WR), Node's
 * `end()`): the FIN follows the queued data, data keeps arriving until the
 * peer's FIN; called before the handshake completes it waits for it (RFC 9293
 * would delete the TCB in SYN-SENT: use `abort()` for that). `abort()` sends a
 * RST where Linux's tcp_disconnect would (ESTABLISHED, CLOSE_WAIT, FIN_WAIT_*,
 * SYN_RECEIVED) and closes. Without `allowHalfOpen` (Node's default, false)
 * the peer's FIN makes the connection `close()` its side after `onEnd`.
 * Callbacks: onConnect (active open completed), onData, onEnd (peer's FIN),
 * onError (then onClose), onClose (TIME_WAIT or CLOSED reached); the
 * listener's onAccept when a passive connection reaches ESTABLISHED.
 *
 * Re-entry: `TcpIo.send` may deliver synchronously (a loopback path inside the
 * host): every operation (input, a timer, an application call) counts itself
 * busy, and `input()`/`icmpError()` arriving meanwhile are validated, answered
 * "wanted or not" at once, queued, and processed in order when the outermost
 * operation ends — Linux's socket backlog. The SYN of `connect()` leaves from a
 * zero-delay event, so callbacks set right after `connect()` returns see every
 * event. `input()` takes ownership of the frame: `onData` gets a view into it,
 * and out-of-order data stays a view.
 *
 * Invariants: sequence numbers are compared only through wire/tcp.ts's
 * seqLt/seqGt/seqDiff (modulo 2^32); SND.UNA ≤ SND.NXT ≤ SND.MAX (SND.NXT
 * rewinds for go-back-N, SND.MAX never does); the send buffer holds exactly
 * the bytes [SND.UNA, end of queued data) not yet acknowledged; a connection is
 * in the table from creation until CLOSED (TIME_WAIT included), keyed by the
 * 4-tuple; every random draw (ephemeral port, ISN, IPv4 id) comes from the
 * clock's seeded RNG, so a run replays exactly.
 * Cost: per segment one 4-tuple hash and a short bucket compare, the checksum;
 * a segment sent allocates its frame and nothing else (the payload is copied in
 * by a loop, no view); a segment received allocates the view `onData` gets, or
 * one small record when it is out of order. Timers are re-armed lazily (a later
 * deadline does not touch the heap); a timer event carries the connection's one
 * handler object, no closure.
 * Neighbours: wire/tcp.ts (view, seq arithmetic), wire/ipv4.ts, checksum.ts;
 * the host stack (netstack/host.ts) owns the TcpStack, feeds `input()` and
 * `icmpError()`, and answers segments nobody wants with its RST; the sim's
 * `Sim` is the clock (structurally: netstack sits below sim in the layer
 * order, so this module names only the part it uses, `TcpClock`).
 */
import { SdnemuError } from '../errors.js';
import { be16, be32, setBe16, setBe32 } from '../wire/bytes.js';
import { fold, ipv4PseudoSum, sum16 } from '../wire/checksum.js';
import { ETH_HEADER_LEN, ETH_TYPE_IPV4 } from '../wire/ethernet.js';
import { IPV4_FLAG_DF, IPV4_HEADER_LEN, Ipv4Packet } from '../wire/ipv4.js';
import {
  IPPROTO_TCP, seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, TcpPacket, TCP_ACK, TCP_FIN, TCP_HEADER_LEN, TCP_OPT_MSS,
  TCP_PSH, TCP_RST, TCP_SYN,
} from '../wire/tcp.js';

// ---- the boundary ---------------------------------------------------------------------------

/** A queued timer, as the clock returns it. */
export type TimerId = object;

/**
 * What TCP needs from the clock: sim/engine.ts's `Sim` is one (structurally).
 * 'now' is virtual time in ns; 'schedule' calls 'handler.onEvent(arg)' after
 * 'delayNs'; 'rng' is the seeded generator every random choice draws from.
 */
export interface TcpClock {
  readonly now: number;
  readonly rng: { nextI32(): number };
  schedule(delayNs: number, handler: { onEvent(arg: unknown): void }, arg?: unknown): TimerId;
  cancel(id: TimerId): boolean;
}

export interface TcpIo {
  /** clock (sim.now, ns) and timers (sim.schedule / sim.cancel), sim.rng for ISNs, ports and IPv4 ids */
  readonly sim: TcpClock;
  /**
   * Hand a complete Ethernet+IPv4+TCP frame to the host's output path. The
   * Ethernet addresses are zero (the host fills them in); the EtherType,
   * IPv4 header (TTL 64, DF, id as the module comment says) and both
   * checksums are final. May deliver into `input()` synchronously (queued).
   */
  send(frame: Uint8Array): void;
  /** The MTU of the route to 'dst' (advertised MSS = MTU - 40). */
  mtuTo(dst: number): number;
  /** The source address an unbound socket uses towards 'dst'. */
  sourceFor(dst: number): number;
}

/** Linux's knobs (sysctl names in the comments); every field optional. */
export interface TcpStackOptions {
  /** receive window advertised, bytes, 1..65535 (no window scaling); default 65535 */
  rcvWnd?: number;
  /** net.ipv4.tcp_syn_retries (6) */
  synRetries?: number;
  /** net.ipv4.tcp_syn_linear_timeouts (4 on Linux 6.18): SYN timer expiries that keep the initial RTO */
  synLinearTimeouts?: number;
  /** net.ipv4.tcp_synack_retries (5) */
  synackRetries?: number;
  /** net.ipv4.tcp_retries2 (15) */
  retries2?: number;
  /** TCP_TIMEOUT_INIT: RTO before any RTT sample (1 s) */
  rtoInitNs?: number;
  /** net.ipv4.tcp_rto_min_us (200 ms) */
  rtoMinNs?: number;
  /** net.ipv4.tcp_rto_max_ms (120 s) */
  rtoMaxNs?: number;
  /** TCP_TIMEWAIT_LEN (60 s) */
  timeWaitNs?: number;
  /** TCP_INIT_CWND, segments (10) */
  initCwnd?: number;
  /** net.ipv4.ip_local_port_range ([32768, 60999]) */
  portRange?: readonly [number, number];
  /** Node's allowHalfOpen: false (default) closes our side when the peer's FIN arrives */
  allowHalfOpen?: boolean;
}

const NS_PER_MS = 1e6;
const DEFAULTS = {
  rcvWnd: 65535,
  synRetries: 6,
  synLinearTimeouts: 4,
  synackRetries: 5,
  retries2: 15,
  rtoInitNs: 1000 * NS_PER_MS,
  rtoMinNs: 200 * NS_PER_MS,
  rtoMaxNs: 120_000 * NS_PER_MS,
  timeWaitNs: 60_000 * NS_PER_MS,
  initCwnd: 10,
  portRange: [32768, 60999] as readonly [number, number],
  allowHalfOpen: false,
};
type Config = typeof DEFAULTS;

/** RFC 6298 §5.7: the RTO after a handshake retransmission without an RTT sample (TCP_TIMEOUT_FALLBACK). */
const RTO_FALLBACK_NS = 3000 * NS_PER_MS;
/** TCP_MSS_DEFAULT: the send MSS when the peer's SYN has no MSS option. */
const MSS_DEFAULT = 536;
/** net.ipv4.tcp_min_snd_mss: the smallest MSS an ICMP frag-needed can impose. */
const MSS_MIN = 48;

// ---- errors and names -----------------------------------------------------------------------

/** The errno names TCP reports (Node's `code`s for the same conditions). */
export type TcpErrno =
  | 'EADDRINUSE' | 'EADDRNOTAVAIL' | 'ECONNREFUSED' | 'ECONNRESET' | 'ETIMEDOUT' | 'EPIPE' | 'EINVAL'
  | 'ENETUNREACH' | 'EHOSTUNREACH' | 'ENOPROTOOPT' | 'EMSGSIZE' | 'EOPNOTSUPP' | 'EHOSTDOWN' | 'ENONET' | 'EPROTO';

/** A socket error; `code` is the errno name ('ECONNREFUSED'), as Node's. */
export class TcpError extends SdnemuError {
  constructor(readonly errno: TcpErrno, message: string) {
    super(errno, `${errno}: ${message}`);
    this.name = 'TcpError';
  }
}

/** Connection states, RFC 793's names. */
export type TcpState =
  | 'CLOSED' | 'LISTEN' | 'SYN_SENT' | 'SYN_RECEIVED' | 'ESTABLISHED' | 'FIN_WAIT_1' | 'FIN_WAIT_2'
  | 'CLOSE_WAIT' | 'CLOSING' | 'LAST_ACK' | 'TIME_WAIT';

/** The names `ss -tan` prints for each state. */
export const SS_STATE: Readonly<Record<TcpState, string>> = {
  CLOSED: 'UNCONN', LISTEN: 'LISTEN', SYN_SENT: 'SYN-SENT', SYN_RECEIVED: 'SYN-RECV', ESTABLISHED: 'ESTAB',
  FIN_WAIT_1: 'FIN-WAIT-1', FIN_WAIT_2: 'FIN-WAIT-2', CLOSE_WAIT: 'CLOSE-WAIT', CLOSING: 'CLOSING',
  LAST_ACK: 'LAST-ACK', TIME_WAIT: 'TIME-WAIT',
};

/** icmp_err_convert (net/ipv4/icmp.c): the errno for each destination-unreachable code 0..15. */
const UNREACH_ERRNO: readonly TcpErrno[] = [
  'ENETUNREACH', 'EHOSTUNREACH', 'ENOPROTOOPT', 'ECONNREFUSED', 'EMSGSIZE', 'EOPNOTSUPP', 'ENETUNREACH', 'EHOSTDOWN',
  'ENONET', 'ENETUNREACH', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTUNREACH', 'EHOSTUNREACH', 'EHOSTUNREACH', 'EHOSTUNREACH',
];

/** /proc/net/snmp's Tcp: counters, for one stack. */
export class TcpMib {
  ActiveOpens = 0;
  PassiveOpens = 0;
  AttemptFails = 0;
  EstabResets = 0;
  CurrEstab = 0;
  InSegs = 0;
  OutSegs = 0;
  RetransSegs = 0;
  InErrs = 0;
  OutRsts = 0;
  InCsumErrors = 0;
}

// ---- frames -----------------------------------------------------------------------------------

const L3 = ETH_HEADER_LEN;
const L4 = ETH_HEADER_LEN + IPV4_HEADER_LEN;

/**
 * A new Ethernet+IPv4+TCP frame (MACs zero) with 'len' payload bytes copied from
 * 'data' at 'dataOff', the MSS option when 'mss' ≥ 0, and both checksums.
 */
function buildSegment(
  src: number, sport: number, dst: number, dport: number, seq: number, ack: number, flags: number, window: number,
  ipId: number, mss: number, data: Uint8Array | null, dataOff: number, len: number,
): Uint8Array {
  const thl = mss >= 0 ? TCP_HEADER_LEN + 4 : TCP_HEADER_LEN;
  const ipLen = IPV4_HEADER_LEN + thl + len;
  const f = new Uint8Array(L3 + ipLen);
  setBe16(f, 12, ETH_TYPE_IPV4);
  f[L3] = 0x45;
  setBe16(f, L3 + 2, ipLen);
  setBe16(f, L3 + 4, ipId & 0xffff);
  setBe16(f, L3 + 6, IPV4_FLAG_DF);
  f[L3 + 8] = 64;
  f[L3 + 9] = IPPROTO_TCP;
  setBe32(f, L3 + 12, src);
  setBe32(f, L3 + 16, dst);
  setBe16(f, L3 + 10, fold(sum16(f, L3, L4)));
  setBe16(f, L4, sport);
  setBe16(f, L4 + 2, dport);
  setBe32(f, L4 + 4, seq);
  setBe32(f, L4 + 8, ack);
  f[L4 + 12] = (thl >>> 2) << 4;
  f[L4 + 13] = flags;
  setBe16(f, L4 + 14, window);
  if (mss >= 0) {
    f[L4 + 20] = TCP_OPT_MSS;
    f[L4 + 21] = 4;
    setBe16(f, L4 + 22, mss);
  }
  if (data !== null) {
    const o = L4 + thl - dataOff;
    for (let i = dataOff; i < dataOff + len; i++) f[o + i] = data[i]!; // no subarray view per segment
  }
  setBe16(f, L4 + 16, fold(sum16(f, L4, f.length, ipv4PseudoSum(src, dst, IPPROTO_TCP, thl + len))));
  return f;
}

/** A bucket key for a 4-tuple: a 30-bit hash (a small integer), collisions resolved by comparing. */
function tupleHash(laddr: number, lport: number, raddr: number, rport: number): number {
  let h = Math.imul(laddr ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ raddr ^ (h >>> 15), 0xc2b2ae35);
  h = Math.imul(h ^ ((lport << 16) | rport) ^ (h >>> 13), 0x27d4eb2f);
  return (h ^ (h >>> 16)) & 0x3fffffff;
}

// ---- the stack ------------------------------------------------------------------------------

/** A listening socket: `close()` stops accepting (connections already accepted carry on). */
export class TcpListener {
  readonly state: TcpState = 'LISTEN';
  /** connections handed to onAccept so far */
  accepted = 0;
  /** embryonic connections (SYN_RECEIVED) now */
  pending = 0;
  closed = false;
  constructor(
    private readonly stack: TcpStack,
    readonly localAddr: number,
    readonly localPort: number,
    readonly onAccept: (c: TcpConn) => void,
  ) {}

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stack.unlisten(this);
  }

  /** `ss -tan`'s columns for a listener (no accept queue is modelled: both queues 0). */
  toString(): string {
    return `LISTEN 0 0 ${this.localAddr === 0 ? '0.0.0.0' : quad(this.localAddr)}:${this.localPort} 0.0.0.0:*`;
  }
}

/** One host's TCP: sockets, demultiplexing, the segments nobody else owns. */
export class TcpStack {
  readonly io: TcpIo;
  readonly mib = new TcpMib();
  /** Called on every connection state change (tracing, tests); null costs nothing. */
  onStateChange: ((c: TcpConn, prev: TcpState) => void) | null = null;
  /** @internal resolved options */
  readonly cfg: Config;
  private readonly conns = new Map<number, TcpConn[]>();
  private readonly listeners = new Map<number, TcpListener[]>();
  private readonly ipv = new Ipv4Packet();
  private readonly tcpv = new TcpPacket();
  /** views for input() called while the stack is busy (the outer call's views are in use) */
  private readonly ipvNested = new Ipv4Packet();
  private readonly tcpvNested = new TcpPacket();
  /** operations under way (input, a timer, an application call); >0: input is queued */
  private depth = 0;
  private readonly backlog: { frame: Uint8Array; icmp: boolean }[] = [];

  constructor(io: TcpIo, opts: TcpStackOptions = {}) {
    this.io = io;
    const cfg: Config = { ...DEFAULTS };
    for (const k of Object.keys(opts) as (keyof TcpStackOptions)[]) {
      if (opts[k] !== undefined) (cfg as Record<string, unknown>)[k] = opts[k];
    }
    const [lo, hi] = cfg.portRange;
    if (!(cfg.rcvWnd >= 1 && cfg.rcvWnd <= 65535) || !(Number.isInteger(lo) && Number.isInteger(hi) && lo >= 1 && lo <= hi && hi <= 65535)) {
      throw new TcpError('EINVAL', `bad TCP options ${JSON.stringify(opts)}`);
    }
    this.cfg = cfg;
  }

  /**
   * Listen on 'port' at 'addr' (0, the default, is every local address); 'onAccept'
   * gets each connection when its handshake completes. Port 0 binds an ephemeral
   * port (odd first, as Linux's bind()). Throws TcpError EADDRINUSE when another
   * listener holds the port at an overlapping address.
   */
  listen(port: number, onAccept: (c: TcpConn) => void, addr = 0): TcpListener {
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TcpError('EINVAL', `bad port ${port}`);
    if (port === 0) port = this.pickListenPort(addr);
    for (const l of this.listeners.get(port) ?? []) {
      if (l.localAddr === addr || l.localAddr === 0 || addr === 0) throw new TcpError('EADDRINUSE', `port ${port} is in use`);
    }
    const l = new TcpListener(this, addr >>> 0, port, onAccept);
    const list = this.listeners.get(port);
    if (list === undefined) this.listeners.set(port, [l]);
    else list.push(l);
    return l;
  }

  /**
   * Open a connection to 'dst':'dport' (the SYN leaves at this instant, from a
   * zero-delay event: set the callbacks before the clock runs). The source is
   * 'opts.src' or the route's (`sourceFor`); the port 'opts.sport' or an
   * ephemeral one from `portRange` drawn from the RNG (Linux's connect():
   * a random start, ports of the range start's parity first, a port shared
   * with other connections only towards other destinations). Throws TcpError:
   * EADDRINUSE when 'opts.sport' is a listener's, EADDRNOTAVAIL when the
   * 4-tuple is taken or no ephemeral port is free.
   */
  connect(dst: number, dport: number, opts: { src?: number; sport?: number } = {}): TcpConn {
    if (!Number.isInteger(dport) || dport < 1 || dport > 65535) throw new TcpError('EINVAL', `bad port ${dport}`);
    dst >>>= 0;
    const src = (opts.src ?? this.io.sourceFor(dst)) >>> 0;
    let sport: number;
    if (opts.sport !== undefined && opts.sport !== 0) {
      sport = opts.sport;
      if (!Number.isInteger(sport) || sport < 1 || sport > 65535) throw new TcpError('EINVAL', `bad port ${sport}`);
      if (this.listenerHolds(src, sport)) throw new TcpError('EADDRINUSE', `port ${sport} is in use`);
      if (this.lookup(src, sport, dst, dport) !== null) throw new TcpError('EADDRNOTAVAIL', `connection to ${dport} from ${sport} exists`);
    } else {
      sport = this.pickEphemeral(src, dst, dport);
    }
    const c = new TcpConn(this, src, sport, dst, dport, null);
    this.insert(c);
    this.mib.ActiveOpens++;
    c.startActive();
    return c;
  }

  /**
   * A TCP segment delivered to this host: 'frame' is Ethernet+IPv4+TCP with the
   * IPv4 header at offset 14 (not a fragment). Returns false when no socket
   * wants it — the host then answers with its RST; true when a socket took it
   * or it was dropped as malformed (bad checksum: counted, never answered).
   */
  input(frame: Uint8Array): boolean {
    // while the stack is busy (io.send delivered synchronously, a loopback path) the nested
    // call parses with views of its own and queues the segment (Linux's socket backlog)
    const nested = this.depth > 0;
    const ip = (nested ? this.ipvNested : this.ipv).reset(frame, L3, frame.length);
    if (frame.length < L4 || ip.checkHeader() !== 0 || ip.protocol() !== IPPROTO_TCP || ip.payloadEnd() > frame.length || ip.isFragment()) {
      this.mib.InErrs++;
      return true;
    }
    const src = ip.src(), dst = ip.dst();
    const off = ip.payloadOffset(), end = ip.payloadEnd();
    const t = (nested ? this.tcpvNested : this.tcpv).reset(frame, off, end);
    if (t.check() !== 0) { this.mib.InErrs++; return true; }
    if (!t.verifyChecksum(ipv4PseudoSum(src, dst, IPPROTO_TCP, end - off))) {
      this.mib.InErrs++;
      this.mib.InCsumErrors++;
      return true;
    }
    this.mib.InSegs++;
    if (nested) {
      if (this.lookup(dst, t.dstPort(), src, t.srcPort()) === null && this.findListener(dst, t.dstPort()) === null) return false;
      this.backlog.push({ frame, icmp: false });
      return true;
    }
    this.depth++;
    try {
      return this.dispatch(t, src, dst);
    } finally {
      this.leave();
    }
  }

  /** A valid segment 't' from 'src' to 'dst' (us): to its connection or listener; false when none wants it. */
  private dispatch(t: TcpPacket, src: number, dst: number): boolean {
    const sport = t.srcPort(), dport = t.dstPort();
    const c = this.lookup(dst, dport, src, sport);
    const l = this.findListener(dst, dport);
    if (c !== null) {
      if (l === null || !c.timeWaitSynReuse(t)) { c.arrive(t); return true; }
      c.destroy(null); // TIME_WAIT ends: the new SYN goes to the listener (TCP_TW_SYN)
    }
    if (l === null) return false;
    this.listenInput(l, t, src, dst);
    return true;
  }

  /**
   * An ICMP error that arrived for this host: 'frame' is Ethernet+IPv4+ICMP (IPv4 at
   * offset 14) quoting an IPv4 header and at least 8 bytes of one of our segments.
   * As Linux's tcp_v4_err: destination unreachable and time exceeded (EHOSTUNREACH),
   * parameter problem (EPROTO); the quoted sequence number must lie in
   * [SND.UNA, SND.MAX]. Fragmentation needed lowers the MSS to next-hop MTU - 40 and
   * resends what is in flight; any other error aborts a connection still in its
   * handshake (connect() fails with the errno), ends an embryonic passive one when
   * it is a parameter problem, time exceeded or net/host unreachable quoting our ISN
   * (tcp_req_err), and is only remembered (the error reported if the
   * connection later times out) by an established one. Returns true when a
   * connection took it (while the stack is busy: when one exists; it is applied
   * when the current operation ends).
   */
  icmpError(frame: Uint8Array): boolean {
    if (this.depth > 0) {
      if (!this.icmpApply(frame, false)) return false;
      this.backlog.push({ frame, icmp: true });
      return true;
    }
    this.depth++;
    try {
      return this.icmpApply(frame, true);
    } finally {
      this.leave();
    }
  }

  /** Parse an ICMP error; with 'apply' act on its connection. True when a connection matches (and took it). */
  private icmpApply(frame: Uint8Array, apply: boolean): boolean {
    if (frame.length < L4 || (frame[L3]! >>> 4) !== 4 || frame[L3 + 9] !== 1) return false;
    const icmp = L3 + (frame[L3]! & 15) * 4;
    const end = Math.min(L3 + be16(frame, L3 + 2), frame.length);
    if (end - icmp < 8 + IPV4_HEADER_LEN + 8) return false;
    const type = frame[icmp]!, code = frame[icmp + 1]!;
    const q = icmp + 8;
    if ((frame[q]! >>> 4) !== 4 || frame[q + 9] !== IPPROTO_TCP) return false;
    const qhl = (frame[q]! & 15) * 4;
    if (qhl < IPV4_HEADER_LEN || end - q < qhl + 8) return false;
    const c = this.lookup(be32(frame, q + 12), be16(frame, q + qhl), be32(frame, q + 16), be16(frame, q + qhl + 2));
    if (c === null) return false;
    let errno: TcpErrno;
    if (type === 3) {
      const e = UNREACH_ERRNO[code];
      if (e === undefined) return false;
      if (!apply) return true;
      if (code === 4) return c.fragNeeded(be32(frame, q + qhl + 4), be16(frame, icmp + 6));
      errno = e;
    } else if (type === 11) {
      errno = 'EHOSTUNREACH';
    } else if (type === 12) {
      errno = 'EPROTO';
    } else {
      return false;
    }
    if (!apply) return true;
    // what ends an embryonic passive connection (tcp_v4_err's tcp_req_err 'abort')
    const reqAbort = type === 12 || type === 11 || (type === 3 && (code === 0 || code === 1));
    return c.icmpError(be32(frame, q + qhl + 4), errno, reqAbort, type === 3 && (code === 0 || code === 1));
  }

  /** @internal Start an operation that may send (nested calls queue their input until it ends). */
  enter(): void { this.depth++; }

  /** @internal End an operation: the outermost one processes what arrived meanwhile, in order. */
  leave(): void {
    if (this.depth > 1) { this.depth--; return; }
    // still "busy" while draining, so what the drained segments provoke queues behind them
    try {
      for (let item = this.backlog.shift(); item !== undefined; item = this.backlog.shift()) {
        if (item.icmp) { this.icmpApply(item.frame, true); continue; }
        const f = item.frame;
        const ip = this.ipv.reset(f, L3, f.length);
        const t = this.tcpv.reset(f, ip.payloadOffset(), ip.payloadEnd());
        // no socket wants it any more (closed meanwhile): answer as the host would have
        if (!this.dispatch(t, ip.src(), ip.dst())) this.sendReset(t, ip.src(), ip.dst());
      }
    } finally {
      this.depth--;
    }
  }

  /** Every socket: listeners first, then connections (TIME_WAIT included), in creation order per bucket. */
  sockets(): (TcpListener | TcpConn)[] {
    const out: (TcpListener | TcpConn)[] = [];
    for (const ls of this.listeners.values()) out.push(...ls);
    for (const cs of this.conns.values()) out.push(...cs);
    return out;
  }

  /** The connection for this 4-tuple (as seen from this host), or null. */
  lookup(laddr: number, lport: number, raddr: number, rport: number): TcpConn | null {
    const b = this.conns.get(tupleHash(laddr, lport, raddr, rport));
    if (b === undefined) return null;
    for (let i = 0; i < b.length; i++) {
      const c = b[i]!;
      if (c.localPort === lport && c.remotePort === rport && c.localAddr === laddr && c.remoteAddr === raddr) return c;
    }
    return null;
  }

  /** @internal */
  remove(c: TcpConn): void {
    const h = tupleHash(c.localAddr, c.localPort, c.remoteAddr, c.remotePort);
    const b = this.conns.get(h);
    if (b === undefined) return;
    const i = b.indexOf(c);
    if (i < 0) return;
    b.splice(i, 1);
    if (b.length === 0) this.conns.delete(h);
  }

  /** @internal */
  unlisten(l: TcpListener): void {
    const list = this.listeners.get(l.localPort);
    if (list !== undefined) {
      const i = list.indexOf(l);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.listeners.delete(l.localPort);
    }
    // embryonic connections die with their listener (inet_csk_listen_stop drops request socks)
    for (const s of this.sockets()) {
      if (s instanceof TcpConn && s.listener === l && s.state === 'SYN_RECEIVED') s.destroy(null);
    }
  }

  /**
   * @internal A RST answering segment 't' (from 'src' to 'dst', i.e. we are 'dst'), as
   * tcp_v4_send_reset: <SEQ=SEG.ACK><CTL=RST> when it has ACK, else
   * <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>; IPv4 id 0.
   */
  sendReset(t: TcpPacket, src: number, dst: number): void {
    const flags = t.flags();
    if ((flags & TCP_RST) !== 0) return;
    let frame: Uint8Array;
    if ((flags & TCP_ACK) !== 0) {
      frame = buildSegment(dst, t.dstPort(), src, t.srcPort(), t.ackNumber(), 0, TCP_RST, 0, 0, -1, null, 0, 0);
    } else {
      const segLen = t.payloadLen() + ((flags & TCP_SYN) !== 0 ? 1 : 0) + ((flags & TCP_FIN) !== 0 ? 1 : 0);
      frame = buildSegment(dst, t.dstPort(), src, t.srcPort(), 0, seqAdd(t.seqNumber(), segLen), TCP_RST | TCP_ACK, 0, 0, -1, null, 0, 0);
    }
    this.mib.OutRsts++;
    this.transmit(frame);
  }

  /** @internal every frame leaves here */
  transmit(frame: Uint8Array): void {
    this.mib.OutSegs++;
    this.io.send(frame);
  }

  private insert(c: TcpConn): void {
    const h = tupleHash(c.localAddr, c.localPort, c.remoteAddr, c.remotePort);
    const b = this.conns.get(h);
    if (b === undefined) this.conns.set(h, [c]);
    else b.push(c);
  }

  private findListener(addr: number, port: number): TcpListener | null {
    const list = this.listeners.get(port);
    if (list === undefined) return null;
    let wild: TcpListener | null = null;
    for (const l of list) {
      if (l.localAddr === addr) return l;
      if (l.localAddr === 0) wild = l;
    }
    return wild;
  }

  private listenerHolds(addr: number, port: number): boolean {
    for (const l of this.listeners.get(port) ?? []) {
      if (l.localAddr === 0 || addr === 0 || l.localAddr === addr) return true;
    }
    return false;
  }

  /** Linux's __inet_hash_connect, with the offset from the RNG. */
  private pickEphemeral(src: number, dst: number, dport: number): number {
    const [lo, hi] = this.cfg.portRange;
    const n = hi - lo + 1;
    const offset = ((this.io.sim.rng.nextI32() >>> 0) % n) & ~1;
    for (let parity = 0; parity < 2; parity++) {
      for (let i = parity; i < n; i += 2) {
        const port = lo + ((offset + i) % n);
        if (this.listeners.has(port)) continue;
        if (this.lookup(src, port, dst, dport) !== null) continue;
        return port;
      }
    }
    throw new TcpError('EADDRNOTAVAIL', 'no free ephemeral port');
  }

  /** bind() to port 0: odd ports of the range first (Linux leaves even ones to connect()). */
  private pickListenPort(addr: number): number {
    const [lo, hi] = this.cfg.portRange;
    const n = hi - lo + 1;
    const offset = ((this.io.sim.rng.nextI32() >>> 0) % n) | 1;
    for (let parity = 0; parity < 2; parity++) {
      for (let i = parity; i < n; i += 2) {
        const port = lo + ((offset + i) % n);
        if (this.listenerHolds(addr, port)) continue;
        let used = false;
        for (const b of this.conns.values()) {
          for (const c of b) if (c.localPort === port) used = true;
        }
        if (!used) return port;
      }
    }
    throw new TcpError('EADDRINUSE', 'no free port to listen on');
  }

  /** RFC 9293 "SEGMENT ARRIVES", LISTEN state (tcp_v4_conn_request for the SYN). */
  private listenInput(l: TcpListener, t: TcpPacket, src: number, dst: number): void {
    const flags = t.flags();
    if ((flags & TCP_RST) !== 0) return;
    if ((flags & TCP_ACK) !== 0) { this.sendReset(t, src, dst); return; }
    if ((flags & TCP_SYN) === 0 || (flags & TCP_FIN) !== 0) return;
    const c = new TcpConn(this, dst, t.dstPort(), src, t.srcPort(), l);
    this.insert(c);
    l.pending++;
    c.startPassive(t);
  }
}

// ---- a connection -------------------------------------------------------------------------

/** An out-of-order segment kept until the hole before it fills: a view into its frame. */
interface OooSeg {
  seq: number;
  data: Uint8Array;
  fin: boolean;
}

const TIMER_RTX = 1;
const TIMER_TIME_WAIT = 2;
const RTX_NONE = 0, RTX_RETRANSMIT = 1, RTX_PROBE = 2, RTX_START = 3;

/** A snapshot of the sender's and receiver's variables, as `ss -ti` shows them. */
export interface TcpInfo {
  state: TcpState;
  /** smoothed RTT, ns (0 before the first sample) */
  srttNs: number;
  rttvarNs: number;
  /** current RTO including backoff, ns */
  rtoNs: number;
  /** send MSS */
  mss: number;
  /** congestion window and slow-start threshold, bytes (ssthresh Infinity until the first loss) */
  cwnd: number;
  ssthresh: number;
  /** the peer's advertised window */
  sndWnd: number;
  /** bytes sent and not acknowledged */
  unacked: number;
  /** bytes queued and not yet sent */
  unsent: number;
  /** consecutive RTOs without progress */
  retransmits: number;
}

export class TcpConn {
  readonly stack: TcpStack;
  readonly localAddr: number;
  readonly localPort: number;
  readonly remoteAddr: number;
  readonly remotePort: number;
  /** the listener that accepted it (passive open), or null */
  readonly listener: TcpListener | null;
  state: TcpState = 'CLOSED';
  /** the error that closed the connection, or null */
  error: TcpError | null = null;
  /** the last ICMP error seen while established (Linux's sk_err_soft), or null */
  softError: TcpErrno | null = null;
  /** Node's allowHalfOpen; from the stack's options */
  allowHalfOpen: boolean;

  // callbacks
  /** the active open completed (ESTABLISHED) */
  onConnect: (() => void) | null = null;
  /** in-order bytes arrived (a view into the arriving frame) */
  onData: ((data: Uint8Array) => void) | null = null;
  /** the peer's FIN arrived: no more data will come */
  onEnd: (() => void) | null = null;
  /** the connection failed; onClose follows */
  onError: ((err: TcpError) => void) | null = null;
  /** the connection is over for the application (TIME_WAIT or CLOSED reached) */
  onClose: (() => void) | null = null;

  // counters (tcp_info's names)
  segsIn = 0;
  segsOut = 0;
  /** segments retransmitted (tcpi_total_retrans) */
  totalRetrans = 0;
  /** data bytes sent, retransmissions included (tcpi_bytes_sent) */
  bytesSent = 0;
  bytesRetrans = 0;
  /** data bytes the peer acknowledged */
  bytesAcked = 0;
  /** data bytes delivered in order */
  bytesReceived = 0;
  /** RTOs that fired (tcpi_total_rto) */
  totalRto = 0;
  /** fast retransmissions (three duplicate ACKs) */
  fastRetrans = 0;

  // sequence space
  private iss = 0;
  private irs = 0;
  private sndUna = 0;
  private sndNxt = 0;
  private sndMax = 0;
  private sndWnd = 0;
  private sndWl1 = 0;
  private sndWl2 = 0;
  private maxSndWnd = 0;
  private rcvNxt = 0;
  private readonly rcvWnd: number;
  private mss = MSS_DEFAULT;
  private advMss = 0;
  private ipId = 0;

  // send buffer: bytes [sbufSeq, sbufSeq + sbufLen) at sbuf[sbufHead…]
  private sbuf = new Uint8Array(0);
  private sbufHead = 0;
  private sbufLen = 0;
  private sbufSeq = 0;
  private finQueued = false;
  private finSeq = 0;
  private finRcvd = false;
  private ackPending = false;

  // receive side
  private readonly ooo: OooSeg[] = [];

  // RTT and RTO
  private srtt = 0;
  private rttvar = 0;
  private hasRtt = false;
  private rto: number;
  private rttTiming = false;
  private rttSeq = 0;
  private rttStart = 0;
  private retransmits = 0;
  private retransStamp = -1;
  /** data RTOs that doubled the RTO since new data was last acknowledged (icsk_backoff) */
  private backoff = 0;
  /** when the segment at SND.UNA was last sent (the head skb's timestamp), ns; -1 none */
  private headSentAt = -1;
  private probesOut = 0;
  private handshakeRetransmitted = false;

  // congestion
  private cwnd = 0;
  private ssthresh = Infinity;
  private caAcked = 0;
  private dupAcks = 0;
  private inRecovery = false;
  private recover = 0;

  // timers
  private rtxKind = RTX_NONE;
  private rtxDeadline = -1;
  private rtxArmedAt = 0;
  private rtxEvent: TimerId | null = null;
  private rtxEventAt = 0;
  private twEvent: TimerId | null = null;
  private readonly timers: { onEvent(arg: unknown): void };
  private closeReported = false;

  /** @internal use TcpStack.connect / listen */
  constructor(stack: TcpStack, laddr: number, lport: number, raddr: number, rport: number, listener: TcpListener | null) {
    this.stack = stack;
    this.localAddr = laddr >>> 0;
    this.localPort = lport;
    this.remoteAddr = raddr >>> 0;
    this.remotePort = rport;
    this.listener = listener;
    this.allowHalfOpen = stack.cfg.allowHalfOpen;
    this.rcvWnd = stack.cfg.rcvWnd;
    this.rto = stack.cfg.rtoInitNs;
    this.timers = { onEvent: (arg: unknown) => this.onTimer(arg as number) };
  }

  // ---- application API ----------------------------------------------------------------------

  /**
   * Queue 'data' (copied) for sending; it leaves as window and congestion window
   * allow. Throws TcpError EPIPE after close() or once the connection is over.
   */
  send(data: Uint8Array): void {
    if (this.finQueued || !(this.state === 'SYN_SENT' || this.state === 'SYN_RECEIVED' || this.state === 'ESTABLISHED' || this.state === 'CLOSE_WAIT')) {
      throw new TcpError('EPIPE', `send on a connection in ${this.state}${this.finQueued ? ' after close()' : ''}`);
    }
    if (data.length === 0) return;
    this.reserve(data.length);
    this.sbuf.set(data, this.sbufHead + this.sbufLen);
    this.sbufLen += data.length;
    if (this.state === 'ESTABLISHED' || this.state === 'CLOSE_WAIT') {
      this.stack.enter();
      try { this.output(); } finally { this.stack.leave(); }
    }
  }

  /** Half-close: the FIN follows the queued data (see the module comment). Idempotent. */
  close(): void {
    this.stack.enter();
    try { this.shutdown(); } finally { this.stack.leave(); }
  }

  private shutdown(): void {
    if (this.finQueued) return;
    switch (this.state) {
      case 'SYN_SENT': case 'SYN_RECEIVED':
        this.queueFin();
        return;
      case 'ESTABLISHED':
        this.queueFin();
        this.setState('FIN_WAIT_1');
        this.output();
        return;
      case 'CLOSE_WAIT':
        this.queueFin();
        this.setState('LAST_ACK');
        this.output();
        return;
      default:
        return;
    }
  }

  /** Reset the connection: RST where Linux's tcp_disconnect sends one, then CLOSED (no error). */
  abort(): void {
    const s = this.state;
    if (s === 'CLOSED') return;
    this.stack.enter();
    try {
      if (s === 'ESTABLISHED' || s === 'CLOSE_WAIT' || s === 'FIN_WAIT_1' || s === 'FIN_WAIT_2' || s === 'SYN_RECEIVED') {
        this.emit(this.sndMax, TCP_RST | TCP_ACK, 0, -1);
        this.stack.mib.OutRsts++;
      }
      this.destroy(null);
    } finally {
      this.stack.leave();
    }
  }

  /** Bytes queued and not yet acknowledged. */
  get bufferedAmount(): number { return this.sbufLen; }

  /** The sender's and receiver's variables now. */
  info(): TcpInfo {
    const dataEnd = seqAdd(this.sbufSeq, this.sbufLen);
    const unsent = Math.max(0, seqDiff(dataEnd, this.sndNxt));
    return {
      state: this.state, srttNs: this.srtt, rttvarNs: this.rttvar, rtoNs: this.rto, mss: this.mss,
      cwnd: this.cwnd, ssthresh: this.ssthresh, sndWnd: this.sndWnd, unacked: this.sbufLen - unsent, unsent,
      retransmits: this.retransmits,
    };
  }

  /** `ss -tan`'s line: State Recv-Q Send-Q Local:Port Peer:Port (queues as Linux shows them: 0 and unacked+unsent). */
  toString(): string {
    return `${SS_STATE[this.state]} 0 ${this.sbufLen} ${quad(this.localAddr)}:${this.localPort} ${quad(this.remoteAddr)}:${this.remotePort}`;
  }

  // ---- opens ----------------------------------------------------------------------------------

  /**
   * @internal connect(): draw ISN and IPv4 id, SYN_SENT; the SYN itself leaves from a
   * zero-delay event, so that connect() returns (and the application sets its
   * callbacks) before anything can come back, even over a synchronous loopback.
   */
  startActive(): void {
    const rng = this.stack.io.sim.rng;
    this.iss = rng.nextI32() >>> 0;
    this.ipId = rng.nextI32() & 0xffff;
    this.advMss = this.stack.io.mtuTo(this.remoteAddr) - 40;
    this.mss = this.advMss;
    this.initSendSeq();
    this.setState('SYN_SENT');
    this.sndNxt = this.sndMax = seqAdd(this.iss, 1);
    this.armRtx(RTX_START, 0);
  }

  private sendFirstSyn(): void {
    this.sendSyn(false);
    this.startRttTiming(this.sndMax);
    this.armRtx(RTX_RETRANSMIT, this.rto);
  }

  /** @internal A SYN reached our listener: SYN_RECEIVED, SYN-ACK out. */
  startPassive(t: TcpPacket): void {
    const rng = this.stack.io.sim.rng;
    this.iss = rng.nextI32() >>> 0;
    this.ipId = rng.nextI32() & 0xffff;
    this.irs = t.seqNumber();
    this.rcvNxt = seqAdd(this.irs, 1);
    this.advMss = this.stack.io.mtuTo(this.remoteAddr) - 40;
    this.peerMss(t.mss());
    this.initSendSeq();
    this.sndWnd = this.maxSndWnd = t.window();
    this.sndWl1 = this.irs;
    this.sndWl2 = this.iss;
    this.setState('SYN_RECEIVED');
    this.sendSyn(true);
    this.sndNxt = this.sndMax = seqAdd(this.iss, 1);
    this.startRttTiming(this.sndMax);
    this.armRtx(RTX_RETRANSMIT, this.rto);
  }

  private initSendSeq(): void {
    this.sndUna = this.sndNxt = this.sndMax = this.iss;
    this.sbufSeq = seqAdd(this.iss, 1);
    this.cwnd = this.stack.cfg.initCwnd * this.mss;
  }

  private peerMss(opt: number): void {
    const m = opt < 0 ? MSS_DEFAULT : opt;
    this.mss = Math.max(MSS_MIN, Math.min(m, this.advMss));
    this.cwnd = this.stack.cfg.initCwnd * this.mss;
  }

  // ---- arriving segments ----------------------------------------------------------------

  /**
   * @internal True when 't' is a SYN that ends this TIME_WAIT connection so the
   * listener can take it (tcp_timewait_state_process's TCP_TW_SYN).
   */
  timeWaitSynReuse(t: TcpPacket): boolean {
    if (this.state !== 'TIME_WAIT') return false;
    const f = t.flags();
    return (f & (TCP_SYN | TCP_RST | TCP_ACK)) === TCP_SYN && seqGt(t.seqNumber(), this.rcvNxt);
  }

  /** @internal RFC 9293 §3.10.7.4 "SEGMENT ARRIVES" for every state but LISTEN. */
  arrive(t: TcpPacket): void {
    this.segsIn++;
    const flags = t.flags();
    const seq = t.seqNumber();
    if (this.state === 'SYN_SENT') { this.arriveSynSent(t, flags, seq); return; }
    if (this.state === 'TIME_WAIT') { this.arriveTimeWait(t, flags, seq); return; }
    if (this.state === 'CLOSED') return;
    const rst = (flags & TCP_RST) !== 0, syn = (flags & TCP_SYN) !== 0, hasAck = (flags & TCP_ACK) !== 0;
    let fin = (flags & TCP_FIN) !== 0;
    let dataOff = t.payloadOffset();
    let dlen = t.end - dataOff;

    // a retransmitted SYN while our SYN-ACK is unanswered: send the SYN-ACK again (tcp_check_req)
    if (this.state === 'SYN_RECEIVED' && syn && !hasAck && !rst && seq === this.irs) {
      this.retransmitSynAck(false);
      return;
    }

    // first: the sequence number
    const segLen = dlen + (syn ? 1 : 0) + (fin ? 1 : 0);
    if (!this.acceptable(seq, segLen)) {
      if (!rst) this.sendAck();
      return;
    }

    // second: RST (RFC 5961 §3)
    if (rst) {
      const exact = seq === this.rcvNxt ||
        (this.finRcvd && seq === seqAdd(this.rcvNxt, -1) && (this.state === 'CLOSE_WAIT' || this.state === 'LAST_ACK' || this.state === 'CLOSING'));
      if (!exact) { this.sendAck(); return; }
      this.resetArrived();
      return;
    }

    // fourth: SYN in a synchronized state (RFC 5961 §4): challenge ACK
    if (syn) { this.sendAck(); return; }

    // fifth: ACK
    if (!hasAck) return;
    const ack = t.ackNumber();
    if (this.state === 'SYN_RECEIVED') {
      if (!(seqGt(ack, this.sndUna) && seqLe(ack, this.sndMax))) { this.stack.sendReset(t, this.remoteAddr, this.localAddr); return; }
      this.sndWnd = t.window();
      this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd);
      this.sndWl1 = seq;
      this.sndWl2 = ack;
      this.establish();
      if (this.cur() !== 'ESTABLISHED' && this.cur() !== 'FIN_WAIT_1') return; // the application aborted in onAccept/onConnect
    }
    if (seqGt(ack, this.sndMax)) { this.sendAck(); return; } // acks something not yet sent
    this.processAck(ack, seq, t.window(), dlen === 0 && !fin);
    if (this.cur() === 'CLOSED' || this.cur() === 'TIME_WAIT') return;

    // seventh: segment text (only where the peer may still send)
    if (this.state === 'ESTABLISHED' || this.state === 'FIN_WAIT_1' || this.state === 'FIN_WAIT_2') {
      let s = seq;
      if (seqLt(s, this.rcvNxt)) {
        const skip = seqDiff(this.rcvNxt, s); // ≤ dlen: the segment passed the acceptability test
        if (skip > dlen) { dlen = 0; fin = false; } else { dataOff += skip; dlen -= skip; }
        s = this.rcvNxt;
      }
      const rightEdge = seqAdd(this.rcvNxt, this.rcvWnd);
      if (seqGt(seqAdd(s, dlen), rightEdge)) { dlen = seqDiff(rightEdge, s); fin = false; }
      if (dlen > 0 || fin) {
        this.ackPending = true;
        if (s === this.rcvNxt) {
          if (dlen > 0) {
            this.rcvNxt = seqAdd(this.rcvNxt, dlen);
            this.deliver(t.bytes.subarray(dataOff, dataOff + dlen));
            if (!this.receiving()) { this.afterInput(); return; }
          }
          if (fin) this.finArrived();
          else this.drainOoo();
        } else {
          this.keepOoo(s, t.bytes.subarray(dataOff, dataOff + dlen), fin);
        }
      }
    }
    this.afterInput();
  }

  /** The state now (re-read after a callback may have changed it; TypeScript keeps narrowings). */
  private cur(): TcpState { return this.state; }

  private receiving(): boolean {
    return this.state === 'ESTABLISHED' || this.state === 'FIN_WAIT_1' || this.state === 'FIN_WAIT_2';
  }

  private afterInput(): void {
    const s = this.state;
    if (s === 'CLOSED') return;
    if (s === 'TIME_WAIT') { if (this.ackPending) this.sendAck(); return; }
    this.output();
  }

  /** RFC 9293: SEG.SEQ/SEG.LEN against RCV.NXT/RCV.WND (the four cases). */
  private acceptable(seq: number, segLen: number): boolean {
    const wnd = this.rcvWnd;
    if (segLen === 0) {
      return wnd === 0 ? seq === this.rcvNxt : seqGe(seq, this.rcvNxt) && seqLt(seq, seqAdd(this.rcvNxt, wnd));
    }
    if (wnd === 0) return false;
    const end = seqAdd(seq, segLen - 1);
    const right = seqAdd(this.rcvNxt, wnd);
    return (seqGe(seq, this.rcvNxt) && seqLt(seq, right)) || (seqGe(end, this.rcvNxt) && seqLt(end, right));
  }

  /** SYN_SENT (RFC 9293 and tcp_rcv_synsent_state_process). */
  private arriveSynSent(t: TcpPacket, flags: number, seq: number): void {
    const hasAck = (flags & TCP_ACK) !== 0;
    const ack = t.ackNumber();
    if (hasAck && (seqLe(ack, this.iss) || seqGt(ack, this.sndMax))) {
      this.stack.sendReset(t, this.remoteAddr, this.localAddr);
      return;
    }
    if ((flags & TCP_RST) !== 0) {
      if (hasAck) this.fail('ECONNREFUSED', 'connection refused');
      return;
    }
    if ((flags & TCP_SYN) === 0) return;
    this.irs = seq;
    this.rcvNxt = seqAdd(seq, 1);
    this.peerMss(t.mss());
    this.sndWnd = this.maxSndWnd = t.window();
    this.sndWl1 = seq;
    if (hasAck) {
      this.sndWl2 = ack;
      this.ackArrivedForSyn(ack);
      // the handshake's ACK leaves before the application hears of it, as Linux's
      // tcp_rcv_synsent_state_process sends it before connect() returns
      this.establish(true);
      if (this.cur() !== 'CLOSED') this.output();
    } else {
      // simultaneous open: SYN_RECEIVED, our SYN again with the ACK
      this.setState('SYN_RECEIVED');
      this.retransmitSynAck(true);
    }
  }

  /** The ACK of our SYN: SND.UNA past it, an RTT sample unless the SYN was resent. */
  private ackArrivedForSyn(ack: number): void {
    this.sndUna = ack;
    if (this.rttTiming && seqGe(ack, this.rttSeq)) this.rttSample(this.stack.io.sim.now - this.rttStart);
    this.rttTiming = false;
    this.stopRtx();
  }

  /**
   * SYN_SENT/SYN_RECEIVED → ESTABLISHED: RTO fallback, queued FIN, then the callbacks
   * ('ackFirst': send the handshake's ACK before them).
   */
  private establish(ackFirst = false): void {
    if (this.state === 'SYN_RECEIVED') this.ackArrivedForSyn(seqAdd(this.iss, 1));
    if (!this.hasRtt && this.handshakeRetransmitted) this.rto = RTO_FALLBACK_NS;
    this.retransmits = 0;
    this.retransStamp = -1;
    this.setState('ESTABLISHED');
    if (this.finQueued) this.setState('FIN_WAIT_1');
    if (ackFirst) this.sendAck();
    const l = this.listener;
    if (l !== null) {
      l.pending--;
      l.accepted++;
      this.stack.mib.PassiveOpens++;
      l.onAccept(this);
    } else {
      this.onConnect?.();
    }
  }

  /** TIME_WAIT (tcp_timewait_state_process, tcp_rfc1337 = 0). */
  private arriveTimeWait(t: TcpPacket, flags: number, seq: number): void {
    const rst = (flags & TCP_RST) !== 0;
    const segLen = t.payloadLen() + ((flags & TCP_SYN) !== 0 ? 1 : 0) + ((flags & TCP_FIN) !== 0 ? 1 : 0);
    if (seq === this.rcvNxt && (segLen === 0 || rst)) {
      if (rst) this.destroy(null);
      else this.armTimeWait();
      return;
    }
    if (rst) return;
    if ((flags & TCP_ACK) !== 0) this.armTimeWait();
    this.sendAck();
  }

  /** An acceptable RST (RFC 9293 "second, check the RST bit"). */
  private resetArrived(): void {
    switch (this.state) {
      case 'SYN_RECEIVED':
        if (this.listener !== null) { this.destroy(null); return; } // back to LISTEN: the embryo goes
        this.fail('ECONNREFUSED', 'connection refused');
        return;
      case 'ESTABLISHED': case 'FIN_WAIT_1': case 'FIN_WAIT_2': case 'CLOSE_WAIT':
        this.fail('ECONNRESET', 'connection reset by peer');
        return;
      default:
        this.destroy(null);
    }
  }

  /** An acceptable ACK 'ack' (≤ SND.MAX) with the segment's 'seq' and 'wnd'. */
  private processAck(ack: number, seq: number, wnd: number, pure: boolean): void {
    const flightBefore = seqDiff(this.sndNxt, this.sndUna);
    const wndChanged = wnd !== this.sndWnd;
    if (seqGt(ack, this.sndUna)) {
      this.newAck(ack);
    } else if (ack === this.sndUna && pure && !wndChanged && flightBefore > 0) {
      this.duplicateAck();
    }
    // window update (RFC 9293: SND.WL1 < SEG.SEQ or (= and SND.WL2 ≤ SEG.ACK))
    if (seqGe(ack, this.sndUna) && (seqLt(this.sndWl1, seq) || (this.sndWl1 === seq && seqLe(this.sndWl2, ack)))) {
      const opened = this.sndWnd === 0 && wnd > 0;
      this.sndWnd = wnd;
      this.sndWl1 = seq;
      this.sndWl2 = ack;
      if (wnd > this.maxSndWnd) this.maxSndWnd = wnd;
      if (opened && this.rtxKind === RTX_PROBE) { this.stopRtx(); this.probesOut = 0; }
    }
    this.probesOut = 0;
    // our FIN acknowledged?
    if (this.finQueued && seqGt(this.sndUna, this.finSeq)) {
      if (this.state === 'FIN_WAIT_1') this.setState('FIN_WAIT_2');
      else if (this.state === 'CLOSING') this.enterTimeWait();
      else if (this.state === 'LAST_ACK') this.destroy(null);
    }
  }

  /** SND.UNA advances to 'ack': free the buffer, sample RTT, grow cwnd, recovery, timer. */
  private newAck(ack: number): void {
    const acked = seqDiff(ack, this.sndUna);
    this.sndUna = ack;
    if (seqLt(this.sndNxt, ack)) this.sndNxt = ack;
    let n = seqDiff(ack, this.sbufSeq);
    if (n > this.sbufLen) n = this.sbufLen;
    if (n > 0) {
      this.sbufHead += n;
      this.sbufLen -= n;
      this.sbufSeq = seqAdd(this.sbufSeq, n);
      this.bytesAcked += n;
      if (this.sbufLen === 0) this.sbufHead = 0;
    }
    if (this.rttTiming && seqGe(ack, this.rttSeq)) {
      this.rttSample(this.stack.io.sim.now - this.rttStart);
      this.rttTiming = false;
    } else if (this.hasRtt) {
      this.rto = this.rtoFromEstimate(); // backoff ends with new data acknowledged
    }
    this.retransmits = 0;
    this.backoff = 0;
    this.retransStamp = -1;
    const mss = this.mss;
    if (this.inRecovery) {
      if (seqGe(ack, this.recover)) {
        this.inRecovery = false;
        this.cwnd = Math.max(mss, Math.min(this.ssthresh, seqDiff(this.sndMax, this.sndUna) + mss));
      } else {
        // partial ACK (RFC 6582): the next hole goes out now, cwnd deflates by what was acked
        this.retransmitHead();
        this.cwnd = Math.max(mss, this.cwnd - acked + mss);
      }
    } else if (this.cwnd < this.ssthresh) {
      this.cwnd += Math.min(acked, mss);
    } else {
      this.caAcked += acked;
      if (this.caAcked >= this.cwnd) { this.caAcked -= this.cwnd; this.cwnd += mss; }
    }
    this.dupAcks = 0;
    if (seqDiff(this.sndNxt, this.sndUna) > 0) this.armRtx(RTX_RETRANSMIT, this.rto);
    else this.stopRtx();
  }

  private duplicateAck(): void {
    this.dupAcks++;
    const mss = this.mss;
    if (this.inRecovery) {
      this.cwnd += mss; // each duplicate means a segment left the network
      return;
    }
    if (this.dupAcks === 3) {
      const flight = seqDiff(this.sndMax, this.sndUna);
      this.ssthresh = Math.max(flight >>> 1, 2 * mss);
      this.cwnd = this.ssthresh + 3 * mss;
      this.caAcked = 0;
      this.inRecovery = true;
      this.recover = this.sndMax;
      this.fastRetrans++;
      this.retransmitHead();
    }
  }

  /** Resend one segment at SND.UNA without moving SND.NXT (fast retransmit, partial ACKs). */
  private retransmitHead(): void {
    const dataEnd = seqAdd(this.sbufSeq, this.sbufLen);
    const upto = seqLt(this.sndMax, dataEnd) ? this.sndMax : dataEnd;
    const len = Math.min(this.mss, Math.max(0, seqDiff(upto, this.sndUna)));
    const fin = this.finQueued && seqAdd(this.sndUna, len) === this.finSeq && seqGt(this.sndMax, this.finSeq);
    if (len === 0 && !fin) return;
    this.rttTiming = false;
    this.sendData(this.sndUna, len, fin);
    this.armRtx(RTX_RETRANSMIT, this.rto);
  }

  /** Deliver in-order bytes to the application. */
  private deliver(data: Uint8Array): void {
    this.bytesReceived += data.length;
    this.onData?.(data);
  }

  /** Keep an out-of-order segment (sorted by sequence number; overlaps are trimmed on delivery). */
  private keepOoo(seq: number, data: Uint8Array, fin: boolean): void {
    const q = this.ooo;
    let i = q.length;
    while (i > 0 && seqGt(q[i - 1]!.seq, seq)) i--;
    q.splice(i, 0, { seq, data, fin });
  }

  /** Move what the newly filled hole made contiguous from the out-of-order queue. */
  private drainOoo(): void {
    const q = this.ooo;
    while (q.length > 0) {
      const s = q[0]!;
      if (seqGt(s.seq, this.rcvNxt)) break;
      q.shift();
      const end = seqAdd(s.seq, s.data.length);
      if (seqGt(end, this.rcvNxt)) {
        const skip = seqDiff(this.rcvNxt, s.seq);
        this.rcvNxt = end;
        this.deliver(s.data.subarray(skip));
        if (!this.receiving()) return;
      }
      if (s.fin && end === this.rcvNxt) { this.finArrived(); return; }
    }
  }

  /** The peer's FIN is next in sequence (RFC 9293 "eighth, check the FIN bit"). */
  private finArrived(): void {
    this.rcvNxt = seqAdd(this.rcvNxt, 1);
    this.finRcvd = true;
    this.ooo.length = 0;
    this.ackPending = true;
    switch (this.state) {
      case 'ESTABLISHED':
        this.setState('CLOSE_WAIT');
        this.onEnd?.();
        if (!this.allowHalfOpen && this.cur() === 'CLOSE_WAIT') this.shutdown();
        return;
      case 'FIN_WAIT_1':
        this.setState('CLOSING');
        this.onEnd?.();
        return;
      case 'FIN_WAIT_2':
        this.onEnd?.();
        if (this.cur() === 'FIN_WAIT_2') {
          this.sendAck(); // from the full socket, before it turns into a TIME_WAIT one (tcp_fin)
          this.enterTimeWait();
        }
        return;
      default:
        return;
    }
  }

  // ---- ICMP ----------------------------------------------------------------------------------

  /** @internal ICMP frag-needed quoting 'seq' with next-hop 'mtu'. */
  fragNeeded(seq: number, mtu: number): boolean {
    if (!this.quotedSeqOk(seq)) return false;
    const routeMtu = this.stack.io.mtuTo(this.remoteAddr);
    const m = Math.max(MSS_MIN, Math.min(routeMtu, mtu >= 68 ? mtu : routeMtu) - 40);
    if (m < this.mss) {
      this.mss = m;
      if (this.cwnd < m) this.cwnd = m;
      // tcp_simple_retransmit: what is in flight goes again at the new size; not a congestion event
      if (seqDiff(this.sndNxt, this.sndUna) > 0 && this.sendingState()) {
        this.sndNxt = this.sndUna;
        this.rttTiming = false;
        this.output();
      }
    }
    return true;
  }

  /**
   * @internal ICMP error 'errno' quoting 'seq'; 'reqAbort': whether it ends an embryonic passive
   * connection; 'revert': a net or host unreachable, which may undo one RTO backoff (RFC 6069).
   */
  icmpError(seq: number, errno: TcpErrno, reqAbort: boolean, revert = false): boolean {
    if (this.state === 'SYN_RECEIVED' && this.listener !== null) {
      if (seq !== this.iss) return false;
      if (reqAbort) this.destroy(null);
      return true;
    }
    if (!this.quotedSeqOk(seq)) return false;
    if (this.state === 'SYN_SENT' || this.state === 'SYN_RECEIVED') {
      this.fail(errno, 'ICMP error during connect');
    } else {
      this.softError = errno;
      if (revert) this.rtoRevert(seq);
    }
    return true;
  }

  /**
   * tcp_ld_RTO_revert (RFC 6069): a net/host unreachable quoting SND.UNA while
   * the RTO is backed off says the path, not congestion, lost the segment —
   * one doubling is undone and the timer re-armed for what is left of the
   * shorter RTO since the segment was last sent (or it retransmits now).
   */
  private rtoRevert(seq: number): void {
    if (seq !== this.sndUna || this.retransmits === 0 || this.backoff === 0 || this.rtxKind !== RTX_RETRANSMIT) return;
    const cfg = this.stack.cfg;
    this.backoff--;
    const base = this.hasRtt ? this.rtoFromEstimate() : cfg.rtoInitNs;
    this.rto = Math.min(base * 2 ** this.backoff, cfg.rtoMaxNs);
    const remaining = this.rto - (this.stack.io.sim.now - this.headSentAt);
    if (remaining > 0) {
      this.armRtx(RTX_RETRANSMIT, remaining);
    } else {
      this.rtxKind = RTX_NONE;
      this.rtxDeadline = -1;
      this.retransmitTimer();
    }
  }

  private quotedSeqOk(seq: number): boolean {
    return this.state !== 'CLOSED' && this.state !== 'TIME_WAIT' && seqGe(seq, this.sndUna) && seqLe(seq, this.sndMax);
  }

  // ---- output --------------------------------------------------------------------------------

  private sendingState(): boolean {
    const s = this.state;
    return s === 'ESTABLISHED' || s === 'CLOSE_WAIT' || s === 'FIN_WAIT_1' || s === 'CLOSING' || s === 'LAST_ACK';
  }

  /**
   * Send what window and cwnd allow from SND.NXT (data, then the FIN), or a pure ACK
   * if one is owed and nothing else carried it; arm the RTO or persist timer.
   */
  private output(): void {
    if (!this.sendingState()) {
      if (this.ackPending) this.sendAck();
      return;
    }
    const dataEnd = seqAdd(this.sbufSeq, this.sbufLen);
    for (;;) {
      const unsent = Math.max(0, seqDiff(dataEnd, this.sndNxt));
      const flight = seqDiff(this.sndNxt, this.sndUna);
      const usable = Math.min(this.sndWnd, this.cwnd) - flight;
      const len = Math.min(unsent, this.mss, usable > 0 ? usable : 0);
      const finUnsent = this.finQueued && seqLe(this.sndNxt, this.finSeq);
      if (len <= 0) {
        // the FIN needs no window (Linux accepts a bare FIN at a zero window)
        if (unsent === 0 && finUnsent) this.sendData(this.sndNxt, 0, true);
        break;
      }
      // sender-side silly window avoidance (RFC 9293 §3.8.6.2.1): a short segment only
      // when it is the rest of the data, or nothing is in flight to bring a bigger window
      if (len < unsent && len < this.mss && flight > 0 && len < (this.maxSndWnd >>> 1)) break;
      const fin = finUnsent && seqAdd(this.sndNxt, len) === this.finSeq;
      this.sendData(this.sndNxt, len, fin);
    }
    const flight = seqDiff(this.sndNxt, this.sndUna);
    if (flight > 0) {
      if (this.rtxKind !== RTX_RETRANSMIT) this.armRtx(RTX_RETRANSMIT, this.rto);
    } else if (seqDiff(dataEnd, this.sndNxt) > 0) {
      if (this.rtxKind !== RTX_PROBE) this.armRtx(RTX_PROBE, this.rto);
    }
    if (this.ackPending) this.sendAck();
  }

  /** One segment from the send buffer at 'seq' ('len' bytes, FIN if 'fin'); SND.NXT/SND.MAX follow. */
  private sendData(seq: number, len: number, fin: boolean): void {
    const dataEnd = seqAdd(this.sbufSeq, this.sbufLen);
    const end = seqAdd(seq, len);
    let flags = TCP_ACK;
    if (len > 0 && end === dataEnd) flags |= TCP_PSH;
    if (fin) flags |= TCP_FIN;
    const retrans = seqLt(seq, this.sndMax);
    this.emit(seq, flags, len, -1);
    if (seq === this.sndUna) this.headSentAt = this.stack.io.sim.now;
    this.bytesSent += len;
    if (retrans) {
      this.totalRetrans++;
      this.bytesRetrans += len;
      this.stack.mib.RetransSegs++;
    }
    const next = seqAdd(end, fin ? 1 : 0);
    if (seqGt(next, this.sndNxt)) this.sndNxt = next;
    if (seqGt(next, this.sndMax)) {
      if (!retrans && !this.rttTiming) this.startRttTiming(next);
      this.sndMax = next;
    }
  }

  private sendAck(): void {
    this.emit(this.sndMax, TCP_ACK, 0, -1);
  }

  /** SYN (active) or SYN-ACK (passive), with the MSS option. */
  private sendSyn(synAck: boolean): void {
    const flags = synAck ? TCP_SYN | TCP_ACK : TCP_SYN;
    this.emit(this.iss, flags, 0, this.advMss);
  }

  private retransmitSynAck(fromSynSent: boolean): void {
    if (!fromSynSent) {
      this.totalRetrans++;
      this.stack.mib.RetransSegs++;
      this.handshakeRetransmitted = true;
      this.rttTiming = false;
    }
    this.sendSyn(true);
  }

  /** Build and send one segment: 'len' data bytes from the buffer at 'seq', MSS option if 'mss' ≥ 0. */
  private emit(seq: number, flags: number, len: number, mss: number): void {
    // no full socket yet (request sock) or no more (TIME_WAIT): id 0; else the socket's counter
    let id = 0;
    if (!(this.state === 'TIME_WAIT' || (this.state === 'SYN_RECEIVED' && this.listener !== null))) {
      id = this.ipId;
      this.ipId = (id + 1) & 0xffff;
    }
    const ack = (flags & TCP_ACK) !== 0 ? this.rcvNxt : 0;
    const off = len > 0 ? this.sbufHead + seqDiff(seq, this.sbufSeq) : 0;
    const f = buildSegment(this.localAddr, this.localPort, this.remoteAddr, this.remotePort, seq, ack, flags, this.rcvWnd,
      id, mss, len > 0 ? this.sbuf : null, off, len);
    this.segsOut++;
    if ((flags & TCP_ACK) !== 0) this.ackPending = false;
    this.stack.transmit(f);
  }

  private queueFin(): void {
    this.finQueued = true;
    this.finSeq = seqAdd(this.sbufSeq, this.sbufLen);
  }

  /** Room for 'n' more bytes at the end of the send buffer (compacting, then doubling). */
  private reserve(n: number): void {
    const need = this.sbufLen + n;
    if (this.sbufHead + need <= this.sbuf.length) return;
    if (need <= this.sbuf.length && this.sbufHead > 0) {
      this.sbuf.copyWithin(0, this.sbufHead, this.sbufHead + this.sbufLen);
      this.sbufHead = 0;
      return;
    }
    let cap = Math.max(4096, this.sbuf.length * 2);
    while (cap < need) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.sbuf.subarray(this.sbufHead, this.sbufHead + this.sbufLen));
    this.sbuf = b;
    this.sbufHead = 0;
  }

  // ---- RTT, RTO ------------------------------------------------------------------------------

  private startRttTiming(endSeq: number): void {
    this.rttTiming = true;
    this.rttSeq = endSeq;
    this.rttStart = this.stack.io.sim.now;
  }

  /** RFC 6298 §2 with the measurement 'r' ns; the RTO as Linux's tcp_set_rto. */
  private rttSample(r: number): void {
    if (r <= 0) r = 1;
    if (!this.hasRtt) {
      this.srtt = r;
      this.rttvar = r / 2;
      this.hasRtt = true;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    this.rto = this.rtoFromEstimate();
  }

  private rtoFromEstimate(): number {
    const c = this.stack.cfg;
    return Math.min(c.rtoMaxNs, Math.round(this.srtt + Math.max(4 * this.rttvar, c.rtoMinNs)));
  }

  /**
   * Linux's tcp_model_timeout: how long 'boundary' retransmissions take with
   * exponential backoff from 'base', capped per step at the maximum RTO.
   */
  private modelTimeout(boundary: number, base: number): number {
    const max = this.stack.cfg.rtoMaxNs;
    const thresh = Math.floor(Math.log2(max / base));
    if (boundary <= thresh) return (2 ** (boundary + 1) - 1) * base;
    return (2 ** (thresh + 1) - 1) * base + (boundary - thresh) * max;
  }

  // ---- timers --------------------------------------------------------------------------------

  /** Arm the retransmission-slot timer ('kind') to fire 'delay' ns from now. */
  private armRtx(kind: number, delay: number): void {
    const sim = this.stack.io.sim;
    this.rtxKind = kind;
    this.rtxArmedAt = sim.now;
    this.rtxDeadline = sim.now + delay;
    if (this.rtxEvent !== null) {
      if (this.rtxEventAt <= this.rtxDeadline) return; // fires early and re-arms itself
      sim.cancel(this.rtxEvent);
    }
    this.rtxEventAt = this.rtxDeadline;
    this.rtxEvent = sim.schedule(delay, this.timers, TIMER_RTX);
  }

  private stopRtx(): void {
    this.rtxKind = RTX_NONE;
    this.rtxDeadline = -1;
    if (this.rtxEvent !== null) {
      this.stack.io.sim.cancel(this.rtxEvent);
      this.rtxEvent = null;
    }
  }

  private armTimeWait(): void {
    const sim = this.stack.io.sim;
    if (this.twEvent !== null) sim.cancel(this.twEvent);
    this.twEvent = sim.schedule(this.stack.cfg.timeWaitNs, this.timers, TIMER_TIME_WAIT);
  }

  private onTimer(kind: number): void {
    this.stack.enter();
    try { this.timerFired(kind); } finally { this.stack.leave(); }
  }

  private timerFired(kind: number): void {
    if (kind === TIMER_TIME_WAIT) {
      this.twEvent = null;
      this.destroy(null);
      return;
    }
    this.rtxEvent = null;
    if (this.rtxKind === RTX_NONE) return;
    const now = this.stack.io.sim.now;
    if (now < this.rtxDeadline) {
      this.rtxEventAt = this.rtxDeadline;
      this.rtxEvent = this.stack.io.sim.schedule(this.rtxDeadline - now, this.timers, TIMER_RTX);
      return;
    }
    const kindNow = this.rtxKind;
    this.rtxKind = RTX_NONE;
    this.rtxDeadline = -1;
    if (kindNow === RTX_START) this.sendFirstSyn();
    else if (kindNow === RTX_PROBE) this.probeTimer();
    else this.retransmitTimer();
  }

  /** tcp_retransmit_timer / tcp_write_timeout, per state. */
  private retransmitTimer(): void {
    const cfg = this.stack.cfg;
    const now = this.stack.io.sim.now;
    if (this.retransStamp < 0) this.retransStamp = this.rtxArmedAt;
    switch (this.state) {
      case 'SYN_SENT': {
        if (this.retransmits > 0 && now - this.retransStamp >= this.modelTimeout(cfg.synRetries, cfg.rtoInitNs)) {
          this.fail('ETIMEDOUT', 'connection timed out');
          return;
        }
        this.totalRto++;
        this.retransmits++;
        this.totalRetrans++;
        this.stack.mib.RetransSegs++;
        this.handshakeRetransmitted = true;
        this.rttTiming = false;
        this.sendSyn(false);
        if (this.totalRto > cfg.synLinearTimeouts) this.rto = Math.min(this.rto * 2, cfg.rtoMaxNs);
        this.armRtx(RTX_RETRANSMIT, this.rto);
        return;
      }
      case 'SYN_RECEIVED': {
        // a request sock counts its SYN-ACKs (reqsk_timer_handler); a simultaneous open is a full socket
        const expired = this.listener !== null
          ? this.retransmits >= cfg.synackRetries
          : this.retransmits > 0 && now - this.retransStamp >= this.modelTimeout(cfg.synRetries, cfg.rtoInitNs);
        if (expired) {
          if (this.listener !== null) { this.destroy(null); return; } // the request sock expires silently
          this.fail('ETIMEDOUT', 'connection timed out');
          return;
        }
        this.totalRto++;
        this.retransmits++;
        this.retransmitSynAck(false);
        this.rto = Math.min(this.rto * 2, cfg.rtoMaxNs);
        this.armRtx(RTX_RETRANSMIT, this.rto);
        return;
      }
      default:
        break;
    }
    if (!this.sendingState() || seqDiff(this.sndMax, this.sndUna) <= 0) return;
    if (this.retransmits > 0 && now - this.retransStamp >= this.modelTimeout(cfg.retries2, cfg.rtoMinNs)) {
      this.fail(this.softError ?? 'ETIMEDOUT', 'connection timed out');
      return;
    }
    // tcp_enter_loss: everything outstanding is lost; slow start from one segment, go back to SND.UNA
    const flight = seqDiff(this.sndMax, this.sndUna);
    this.ssthresh = Math.max(flight >>> 1, 2 * this.mss);
    this.cwnd = this.mss;
    this.caAcked = 0;
    this.inRecovery = false;
    this.dupAcks = 0;
    this.rttTiming = false;
    this.sndNxt = this.sndUna;
    this.totalRto++;
    this.retransmits++;
    this.backoff++;
    this.rto = Math.min(this.rto * 2, cfg.rtoMaxNs);
    this.output(); // re-arms: RTO with the backed-off value, or the persist timer if the window is shut
  }

  /** Zero-window probe (tcp_probe_timer / tcp_xmit_probe_skb): an ACK with SEQ = SND.UNA - 1. */
  private probeTimer(): void {
    const cfg = this.stack.cfg;
    if (!this.sendingState()) return;
    const dataEnd = seqAdd(this.sbufSeq, this.sbufLen);
    if (seqDiff(dataEnd, this.sndNxt) <= 0 || seqDiff(this.sndNxt, this.sndUna) > 0) return;
    if (this.sndWnd > 0) { this.output(); return; }
    if (this.probesOut >= cfg.retries2) { this.fail(this.softError ?? 'ETIMEDOUT', 'zero-window probes unanswered'); return; }
    this.probesOut++;
    this.emit(seqAdd(this.sndUna, -1), TCP_ACK, 0, -1);
    this.armRtx(RTX_PROBE, Math.min(this.rto * 2 ** this.probesOut, cfg.rtoMaxNs));
  }

  // ---- endings -------------------------------------------------------------------------------

  private enterTimeWait(): void {
    this.stopRtx();
    this.setState('TIME_WAIT');
    this.ooo.length = 0;
    this.armTimeWait();
    this.reportClose();
  }

  /** Close with 'errno': counters, no RST (tcp_done), onError then onClose. */
  private fail(errno: TcpErrno, message: string): void {
    this.destroy(new TcpError(errno, `${message} (${quad(this.localAddr)}:${this.localPort} -> ${quad(this.remoteAddr)}:${this.remotePort})`));
  }

  /** @internal To CLOSED: timers off, out of the table, callbacks (once). */
  destroy(err: TcpError | null): void {
    if (this.state === 'CLOSED' && this.rtxEvent === null && this.twEvent === null) return;
    this.stopRtx();
    if (this.twEvent !== null) { this.stack.io.sim.cancel(this.twEvent); this.twEvent = null; }
    const was = this.state;
    if (was === 'SYN_SENT' || was === 'SYN_RECEIVED') this.stack.mib.AttemptFails++;
    if (was === 'SYN_RECEIVED' && this.listener !== null) this.listener.pending--;
    this.setState('CLOSED');
    this.ooo.length = 0;
    this.stack.remove(this);
    const embryo = was === 'SYN_RECEIVED' && this.listener !== null;
    if (err !== null) {
      this.error = err;
      if (!embryo) this.onError?.(err);
    }
    if (!embryo) this.reportClose();
  }

  private reportClose(): void {
    if (this.closeReported) return;
    this.closeReported = true;
    this.onClose?.();
  }

  /** State changes with Linux's tcp_set_state MIB accounting. */
  private setState(next: TcpState): void {
    const old = this.state;
    if (old === next) return;
    const mib = this.stack.mib;
    if (next === 'ESTABLISHED') mib.CurrEstab++;
    else if (old === 'ESTABLISHED') mib.CurrEstab--;
    if (next === 'CLOSED' && (old === 'ESTABLISHED' || old === 'CLOSE_WAIT')) mib.EstabResets++;
    this.state = next;
    this.stack.onStateChange?.(this, old);
  }
}

function quad(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}
