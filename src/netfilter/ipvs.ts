/**
 * IPVS, the kernel's layer-4 load balancer (netfilter layer): virtual
 * services, real servers, the seven schedulers kube-proxy's ipvs mode can
 * pick, the connection table with persistence templates and timeouts, and
 * the `ipvsadm -Ln` / `ipvsadm-save -n` / `ipvsadm-restore` text.
 * Configuration and text are slow path; `schedule()` / `reply()` for a packet
 * of a known connection are fast path (typed-array table, no allocation).
 *
 * What: `Ipvs` owns `VirtualService`s (TCP/UDP VIP:port, or fwmark), each
 * with its `RealServer`s in the kernel's list order, and one connection table
 * keyed (proto, client ip:port, vip:port) with a second index for replies
 * (proto, real server ip:port, client ip:port). `schedule(svc, pkt, nowMs)`
 * returns the real server a client→VIP packet goes to, or null (drop): an
 * existing connection first, else the persistence template, else the
 * scheduler; it creates the connection and steps its state.
 *
 * Where each behaviour comes from (this machine has no ip_vs module and no
 * ipvsadm, so nothing here is checked against a live kernel; it is read from
 * the sources and cross-checked by hand-computed sequences in the tests):
 *  - Destination list order: `__ip_vs_update_dest()` adds a new real server
 *    with `list_add_rcu(&dest->n_list, &svc->destinations)`, i.e. at the
 *    FRONT; schedulers walk that order, so the last server added is the
 *    first rr picks. `ipvsadm -L` and `-S` sort (ipvs_cmp_services,
 *    ipvs_cmp_dests: fwmark, af, protocol, address, port, as int-difference
 *    comparators) unless --nosort — printing sorts the same way here.
 *  - rr: ip_vs_rr.c — cursor on the list (head at start), walk on from it to
 *    the first server with weight > 0 and not overloaded, wrapping once; on
 *    deletion of the server under the cursor the cursor steps back.
 *  - wrr: ip_vs_wrr.c — mark {cl, cw, mw, di}: di = gcd of weights > 0 (1 if
 *    none), mw = max weight − (di − 1), cw starts at mw and drops by di per
 *    pass; on add/del/edit cl goes back to the head and cw is clipped to mw
 *    or rounded to a multiple of di plus 1. Weights 4,3,2 give AABABCABC.
 *  - lc: ip_vs_lc.c — skip overloaded and weight 0; least overhead
 *    (activeconns·256 + inactconns, ip_vs_dest_conn_overhead), first wins ties.
 *  - wlc: ip_vs_wlc.c — first server with weight > 0, then any later server
 *    with loh·w_d > doh·w_least replaces it (64-bit products; exact in doubles
 *    for the kernel's int ranges).
 *  - sh: ip_vs_sh.c (4.x+): 256 buckets filled by walking the list, each
 *    server taking `weight` consecutive buckets (at least one); bucket =
 *    (offset + hash_32(port + ntohl(saddr), 8)) & 255, hash_32 = multiply by
 *    0x61C88647 and keep the top 8 bits; port is the client port with the
 *    sh-port flag, else 0; weight ≤ 0 → null, or with sh-fallback the
 *    kernel's walk over offsets.
 *  - dh: ip_vs_dh.c: 256 buckets, one server per bucket round the list;
 *    bucket = (ntohl(daddr) · 2654435761) & 255; weight ≤ 0 → null.
 *  - mh: ip_vs_mh.c — Maglev with the default prime table size 251;
 *    offset = hsiphash(v, key1) % 251, skip = hsiphash(v, key2) % 250 + 1 with
 *    v = ntohs(port) + ntohl(addr) (u32) and keys {2654435761, 2654435761},
 *    {2654446892, 2654446892}; turns = ((last_weight / gcd) >> rshift) or 1,
 *    rshift = fls(max/gcd) − 6; populate in list order. hsiphash on 64-bit
 *    kernels is SipHash-1-3 with 64-bit key words, the u32 result being the
 *    low half (lib/siphash.c) — implemented here on 32-bit halves and tested
 *    against SipHash's reference vectors. last_weight keeps the latest
 *    non-zero weight (__ip_vs_update_dest), so quiescing a server (weight 0)
 *    does not remap the table.
 *  - Connection counters: every new connection starts INACTIVE
 *    (`conn_flags |= IP_VS_CONN_F_INACTIVE` in __ip_vs_update_dest); TCP moves
 *    between inactconns and activeconns as its IPVS state enters or leaves
 *    ESTABLISHED (set_tcp_state); UDP connections stay inactive.
 *  - TCP state machine: ip_vs_proto_tcp.c tcp_states[] (INPUT, OUTPUT,
 *    INPUT-ONLY tables; RST > SYN > FIN > ACK picks the row), INPUT-ONLY for
 *    the non-NAT methods (IP_VS_CONN_F_NOOUTPUT); the INPUT ack row from
 *    NONE goes to CLOSE as in current kernels (older ones had ESTABLISHED
 *    there — both versions circulate; not checked live); timeouts tcp_timeouts[]
 *    (ESTABLISHED 900 s, SYN_RECV 60 s, FIN_WAIT/TIME_WAIT 120 s, CLOSE 10 s,
 *    …), UDP 300 s. A connection's timer restarts at every packet.
 *  - A new SYN hitting a connection in TIME_WAIT or CLOSE expires it and
 *    schedules afresh (conn_reuse_mode 1, is_new_conn_expected).
 *  - A packet of a connection whose server was deleted (ip_vs_in_hook:
 *    dest not AVAILABLE), by the sysctl net.ipv4.vs.expire_nodest_conn
 *    (`expireNodestConn`; the kernel's default 0, kube-proxy's ipvs mode
 *    sets 1): 0 — dropped, the entry kept, its timer not restarted; 1 — the
 *    entry expires at once, and the packet is dropped when its netfilter
 *    conntrack entry is an old (confirmed) one (`oldCt`, as
 *    ip_vs_conn_uses_old_conntrack), else scheduled anew as a new
 *    connection (a TCP packet that is no SYN then starts none: the kernel
 *    lets it go on unbalanced, here it is dropped). Also with 1: deleting a
 *    real server flushes its connections and then-idle templates
 *    (ip_vs_expire_nodest_conn_flush, kernel 5.9+, queued 1 jiffy after the
 *    deletion — done here at once), and a SYN of a connection whose server
 *    is quiesced (weight 0) expires it and is scheduled anew (the
 *    is_new_conn branch of ip_vs_in_hook).
 *  - Persistence (ip_vs_sched_persist): template keyed by client address &
 *    netmask and the service (fwmark, or proto/VIP/port); reused while its
 *    server is AVAILABLE — at weight 0 too unless the sysctl
 *    net.ipv4.vs.expire_quiescent_template (`expireQuiescentTemplate`,
 *    default 0, kube-proxy 1) is set (ip_vs_check_template);
 *    its timer restarts with each connection it places; when it fires while
 *    it still controls connections it is re-armed with a 60 s timeout
 *    (ip_vs_conn_expire "expire_later").
 *  - Text: ipvsadm 1.26 ipvsadm.c print_title/print_service_entry:
 *    `%s  %s` service name cut to 33 characters, `  -> %-28s %-7s %-6d
 *    %-10u %-10u`, `-A -t addr:port -s rr [-p N [-M mask]] [ops]`,
 *    `-a -t … -r addr:port -m|-g|-i -w N`. Header `IP Virtual Server version
 *    1.2.1 (size=4096)` (ip_vs_conn_tab_size = 2^12). ipvsadm defaults for
 *    restore: scheduler wlc, weight 1, forwarding -g, -p 300, port of the
 *    service when -r has none.
 * Not modelled: IPv6, thresholds (-x/-y overload), sync daemon, one-packet
 * scheduling beyond its flag, the DoS tables (secure_tcp), FTP helpers,
 * SCTP states (non-TCP protocols use UDP's single state).
 * Cost per established packet: one 4-word hash probe, a state-table read, a
 * few typed-array writes; allocates nothing. New connections: the
 * scheduler's walk (O(servers) for rr/wrr/lc/wlc, O(1) for sh/dh/mh, mh one
 * SipHash) plus the table insert.
 * Neighbours: stack.ts calls it at IPVS's hooks (LOCAL_IN after filter
 * INPUT, LOCAL_OUT after nat OUTPUT, FORWARD after filter) and rewrites the
 * packets; kube-proxy's rules around it use ipsets (ipset.ts).
 */
import { SdnemuError } from '../errors.js';
import { WordKeyTable } from './ipset.js';
import { ipv4ToString, parseIpv4Dotted } from '../wire/bytes.js';

/** An IPVS configuration or restore error; 'line' is 1-based, 0 when not from text. */
export class IpvsError extends SdnemuError {
  readonly line: number;
  constructor(code: string, line: number, message: string) {
    super(code, line > 0 ? `line ${line}: ${message}` : message);
    this.name = 'IpvsError';
    this.line = line;
  }
  override location(): Record<string, string | number> {
    return { line: this.line };
  }
}

export const IPPROTO_TCP = 6, IPPROTO_UDP = 17;
export const TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_RST = 0x04, TCP_ACK = 0x10;

export type SchedulerName = 'rr' | 'wrr' | 'lc' | 'wlc' | 'sh' | 'dh' | 'mh';
export const SCHEDULERS: readonly SchedulerName[] = ['rr', 'wrr', 'lc', 'wlc', 'sh', 'dh', 'mh'];
/** Forwarding methods: masq = NAT (-m, kube-proxy), route = direct routing (-g), tunnel = IPIP (-i). */
export type ForwardMethod = 'masq' | 'route' | 'tunnel';

/** Scheduler flags (-b): IP_VS_SVC_F_SCHED1/2 as sh/mh read them. */
export const SVC_F_SCHED_FALLBACK = 0x0008, SVC_F_SCHED_PORT = 0x0010;

/** A packet as IPVS sees it: client→VIP for `schedule`, server→client for `reply`. */
export interface IpvsPacket {
  proto: number; src: number; sport: number; dst: number; dport: number;
  /** skb mark (fwmark services) */
  fwmark: number;
  /** TCP flags byte (FIN 1, SYN 2, RST 4, ACK 16); 0 for UDP */
  tcpFlags: number;
}

export class RealServer {
  readonly id: number;
  readonly svc: VirtualService;
  readonly addr: number;
  readonly port: number;
  weight: number;
  /** the latest non-zero weight (mh builds its table from it) */
  lastWeight: number;
  fwd: ForwardMethod;
  activeConns = 0;
  inactConns = 0;
  persistConns = 0;
  /** IP_VS_DEST_F_AVAILABLE: false once deleted */
  available = true;
  /** IP_VS_DEST_F_OVERLOAD (thresholds are not modelled; tests may set it) */
  overloaded = false;
  constructor(id: number, svc: VirtualService, addr: number, port: number, weight: number, fwd: ForwardMethod) {
    this.id = id; this.svc = svc; this.addr = addr; this.port = port;
    this.weight = weight; this.lastWeight = weight; this.fwd = fwd;
  }
}

/** Service spec as ipvsadm -A takes it. */
export interface ServiceSpec {
  /** 'tcp' | 'udp' with addr/port, or 'fwmark' with mark */
  kind: 'tcp' | 'udp' | 'fwmark';
  addr?: number;
  port?: number;
  fwmark?: number;
  scheduler?: SchedulerName;
  /** persistence timeout in seconds (-p); undefined: not persistent */
  persistentS?: number;
  /** persistence netmask (-M), default 255.255.255.255 */
  netmask?: number;
  /** -b flags: SVC_F_SCHED_FALLBACK | SVC_F_SCHED_PORT */
  schedFlags?: number;
  ops?: boolean;
}

export interface DestSpec { addr: number; port?: number; weight?: number; fwd?: ForwardMethod }

const SH_TAB_SIZE = 256, SH_TAB_MASK = 255;
const MH_TAB_SIZE = 251, MH_TAB_BITS = 6;

export class VirtualService {
  readonly id: number;
  /** 6, 17, or 0 for a fwmark service */
  readonly proto: number;
  readonly addr: number;
  readonly port: number;
  readonly fwmark: number;
  scheduler: SchedulerName;
  persistent: boolean;
  timeoutS: number;
  netmask: number;
  schedFlags: number;
  ops: boolean;
  /** real servers in kernel list order (newest first) */
  readonly dests: RealServer[] = [];
  // rr: index in dests of the cursor, -1 = list head
  rrCursor = -1;
  // wrr mark
  wrrCl = -1; wrrCw = 0; wrrMw = 0; wrrDi = 1;
  /** sh/dh buckets (index into dests, -1 none) and mh lookup table */
  buckets: Int32Array = new Int32Array(0);
  constructor(id: number, proto: number, addr: number, port: number, fwmark: number, spec: ServiceSpec) {
    this.id = id; this.proto = proto; this.addr = addr >>> 0; this.port = port; this.fwmark = fwmark;
    this.scheduler = spec.scheduler ?? 'wlc';
    this.persistent = spec.persistentS !== undefined;
    this.timeoutS = spec.persistentS ?? 0;
    this.netmask = (spec.netmask ?? 0xffffffff) >>> 0;
    this.schedFlags = spec.schedFlags ?? 0;
    this.ops = spec.ops ?? false;
  }
}

// ---------------------------------------------------------------------------
// SipHash on 32-bit halves (hsiphash of 64-bit kernels = SipHash-1-3)

const V = new Uint32Array(8); // v0h v0l v1h v1l v2h v2l v3h v3l
const MSG = new Uint8Array(64);

function add64(d: number, s: number): void {
  const lo = (V[d + 1]! + V[s + 1]!) >>> 0;
  const carry = lo < V[d + 1]! ? 1 : 0;
  V[d] = (V[d]! + V[s]! + carry) >>> 0;
  V[d + 1] = lo;
}
function xor64(d: number, s: number): void { V[d] = V[d]! ^ V[s]!; V[d + 1] = V[d + 1]! ^ V[s + 1]!; }
function rotl64(d: number, n: number): void {
  let h = V[d]!, l = V[d + 1]!;
  if (n >= 32) { const t = h; h = l; l = t; n -= 32; }
  if (n > 0) { const nh = (h << n) | (l >>> (32 - n)); const nl = (l << n) | (h >>> (32 - n)); h = nh; l = nl; }
  V[d] = h >>> 0; V[d + 1] = l >>> 0;
}
function sipRound(): void {
  add64(0, 2); rotl64(2, 13); xor64(2, 0); rotl64(0, 32);
  add64(4, 6); rotl64(6, 16); xor64(6, 4);
  add64(0, 6); rotl64(6, 21); xor64(6, 0);
  add64(4, 2); rotl64(2, 17); xor64(2, 4); rotl64(4, 32);
}
function xorWord(d: number, h: number, l: number): void { V[d] = (V[d]! ^ h) >>> 0; V[d + 1] = (V[d + 1]! ^ l) >>> 0; }

let sipHi = 0;
/**
 * SipHash-c-d of the first 'len' bytes of MSG with key (k0, k1) given as
 * 32-bit halves; returns the low 32 bits, the high ones in `sipHi`.
 */
function sipHash(len: number, k0h: number, k0l: number, k1h: number, k1l: number, c: number, d: number): number {
  V[0] = (0x736f6d65 ^ k0h) >>> 0; V[1] = (0x70736575 ^ k0l) >>> 0;
  V[2] = (0x646f7261 ^ k1h) >>> 0; V[3] = (0x6e646f6d ^ k1l) >>> 0;
  V[4] = (0x6c796765 ^ k0h) >>> 0; V[5] = (0x6e657261 ^ k0l) >>> 0;
  V[6] = (0x74656462 ^ k1h) >>> 0; V[7] = (0x79746573 ^ k1l) >>> 0;
  const full = len - (len & 7);
  for (let o = 0; o < full; o += 8) {
    const ml = (MSG[o]! | (MSG[o + 1]! << 8) | (MSG[o + 2]! << 16) | (MSG[o + 3]! << 24)) >>> 0;
    const mh = (MSG[o + 4]! | (MSG[o + 5]! << 8) | (MSG[o + 6]! << 16) | (MSG[o + 7]! << 24)) >>> 0;
    xorWord(6, mh, ml);
    for (let r = 0; r < c; r++) sipRound();
    xorWord(0, mh, ml);
  }
  let bh = (len & 0xff) << 24, bl = 0;
  const left = len & 7;
  for (let i = 0; i < left; i++) {
    const byte = MSG[full + i]!;
    if (i < 4) bl |= byte << (8 * i); else bh |= byte << (8 * (i - 4));
  }
  bh >>>= 0; bl >>>= 0;
  xorWord(6, bh, bl);
  for (let r = 0; r < c; r++) sipRound();
  xorWord(0, bh, bl);
  V[5] = (V[5]! ^ 0xff) >>> 0;
  for (let r = 0; r < d; r++) sipRound();
  sipHi = (V[0]! ^ V[2]! ^ V[4]! ^ V[6]!) >>> 0;
  return (V[1]! ^ V[3]! ^ V[5]! ^ V[7]!) >>> 0;
}

/** SipHash-'c'-'d' of 'msg' (≤ 64 bytes) under the 16-byte 'key', as a 64-bit hex string (tests, vectors). */
export function sipHashHex(msg: Uint8Array, key: Uint8Array, c = 2, d = 4): string {
  if (msg.length > 64 || key.length !== 16) throw new IpvsError('IPVS_BAD_ARG', 0, 'sipHashHex: msg ≤ 64 bytes, key 16 bytes');
  MSG.set(msg);
  const w = (o: number): number => (key[o]! | (key[o + 1]! << 8) | (key[o + 2]! << 16) | (key[o + 3]! << 24)) >>> 0;
  const lo = sipHash(msg.length, w(4), w(0), w(12), w(8), c, d);
  return sipHi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

/** The kernel's hsiphash(&v, 4, key) on 64-bit, key words {'k', 'k'} (each < 2^32). */
export function hsiphash32(v: number, k: number): number {
  MSG[0] = v & 255; MSG[1] = (v >>> 8) & 255; MSG[2] = (v >>> 16) & 255; MSG[3] = (v >>> 24) & 255;
  return sipHash(4, 0, k >>> 0, 0, k >>> 0, 1, 3);
}

const MH_KEY1 = 2654435761, MH_KEY2 = 2654446892;

/** The kernel's hash_32('v', 'bits'): multiply by GOLDEN_RATIO_32, keep the top bits. */
export function hash32(v: number, bits: number): number {
  return Math.imul(v, 0x61c88647) >>> (32 - bits);
}

function gcd(a: number, b: number): number {
  while (b !== 0) { const t = a % b; a = b; b = t; }
  return a;
}

// ---------------------------------------------------------------------------
// TCP state machine (ip_vs_proto_tcp.c)

export const TCP_S_NONE = 0, TCP_S_ESTABLISHED = 1, TCP_S_SYN_SENT = 2, TCP_S_SYN_RECV = 3, TCP_S_FIN_WAIT = 4,
  TCP_S_TIME_WAIT = 5, TCP_S_CLOSE = 6, TCP_S_CLOSE_WAIT = 7, TCP_S_LAST_ACK = 8, TCP_S_LISTEN = 9, TCP_S_SYNACK = 10;
export const UDP_S_NORMAL = 11;
export const CONN_STATE_NAMES: readonly string[] = ['NONE', 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT', 'TIME_WAIT',
  'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'SYNACK', 'UDP'];
const [sNO, sES, sSS, sSR, sFW, sTW, sCL, sCW, sLA, sLI, sSA] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10] as const;
// rows: dir*4 + (syn 0, fin 1, ack 2, rst 3); dir INPUT 0, OUTPUT 1, INPUT-ONLY 2
const TCP_STATES = Int8Array.from([
  /* INPUT */
  sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR,
  sCL, sCW, sSS, sTW, sTW, sTW, sCL, sCW, sLA, sLI, sTW,
  sCL, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES,
  sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sSR,
  /* OUTPUT */
  sSS, sES, sSS, sSR, sSS, sSS, sSS, sSS, sSS, sLI, sSR,
  sTW, sFW, sSS, sTW, sFW, sTW, sCL, sTW, sLA, sLI, sTW,
  sES, sES, sSS, sES, sFW, sTW, sCL, sCW, sLA, sES, sES,
  sCL, sCL, sSS, sCL, sCL, sTW, sCL, sCL, sCL, sCL, sCL,
  /* INPUT-ONLY */
  sSR, sES, sES, sSR, sSR, sSR, sSR, sSR, sSR, sSR, sSR,
  sCL, sFW, sSS, sTW, sFW, sTW, sCL, sCW, sLA, sLI, sTW,
  sCL, sES, sSS, sES, sFW, sTW, sCL, sCW, sCL, sLI, sES,
  sCL, sCL, sCL, sSR, sCL, sCL, sCL, sCL, sLA, sLI, sCL,
]);
/** Default timeouts per state in ms (tcp_timeouts[], udp NORMAL). */
export const DEFAULT_TIMEOUTS_MS: readonly number[] = [2_000, 900_000, 120_000, 60_000, 120_000, 120_000, 10_000, 60_000,
  30_000, 120_000, 120_000, 300_000];

function tcpStateIdx(flags: number): number {
  if (flags & TCP_RST) return 3;
  if (flags & TCP_SYN) return 0;
  if (flags & TCP_FIN) return 1;
  if (flags & TCP_ACK) return 2;
  return -1;
}

// conn flags
const CF_TEMPLATE = 1, CF_INACTIVE = 2, CF_NOOUTPUT = 4;
const KEY_TEMPLATE = 0x100, KEY_FWM_TEMPLATE = 0x200;
const TEMPLATE_REARM_MS = 60_000;

// ---------------------------------------------------------------------------

export class Ipvs {
  readonly services: VirtualService[] = [];
  /** every real server ever added, by id (a deleted one stays for its connections) */
  readonly servers: RealServer[] = [];
  private readonly svcByAddr = new WordKeyTable(2);
  private readonly svcByMark = new WordKeyTable(1);
  private readonly svcSlots: (VirtualService | null)[] = [];
  private portZeroServices = 0;

  // connection table, struct of arrays
  private readonly inTab = new WordKeyTable(4, 1024);
  private readonly outTab = new WordKeyTable(4, 1024);
  private cap = 0;
  private cAddr = new Uint32Array(0);
  private cPort = new Uint16Array(0);
  private vAddr = new Uint32Array(0);
  private vPort = new Uint16Array(0);
  private proto = new Uint16Array(0);
  private dest = new Int32Array(0);
  private state = new Int8Array(0);
  private flags = new Uint8Array(0);
  private expires = new Float64Array(0);
  private timeout = new Float64Array(0);
  private control = new Int32Array(0);
  private nControl = new Int32Array(0);
  private live = new Uint8Array(0);
  private freeIds: number[] = [];
  private nextId = 0;
  connCount = 0;
  readonly timeoutsMs: number[] = [...DEFAULT_TIMEOUTS_MS];
  /** the connection id used by the last schedule()/reply(), -1 if none */
  lastConn = -1;
  /** a forced choice (a trace fork): the next new connection goes to `candidates(svc)[force]`; -1: the scheduler picks */
  force = -1;
  /** sysctl net.ipv4.vs.expire_nodest_conn (default 0; kube-proxy's ipvs mode sets 1) */
  expireNodestConn = false;
  /** sysctl net.ipv4.vs.expire_quiescent_template (default 0; kube-proxy's ipvs mode sets 1) */
  expireQuiescentTemplate = false;

  // ---- services and servers (slow path)

  /** `ipvsadm -A`: adds a virtual service; throws IpvsError IPVS_SVC_EXISTS. */
  addService(spec: ServiceSpec, line = 0): VirtualService {
    const { proto, addr, port, mark } = svcIdentity(spec, line);
    if (this.findServiceExact(proto, addr, port, mark)) throw new IpvsError('IPVS_SVC_EXISTS', line, 'Service already exists');
    if (spec.scheduler !== undefined && !SCHEDULERS.includes(spec.scheduler)) throw new IpvsError('IPVS_NO_SCHEDULER', line, 'Scheduler not found');
    let id = this.svcSlots.indexOf(null);
    if (id < 0) id = this.svcSlots.length;
    const svc = new VirtualService(id, proto, addr, port, mark, spec);
    this.svcSlots[id] = svc;
    this.services.push(svc);
    if (mark !== 0) this.svcByMark.set(mark, 0, 0, 0, id);
    else this.svcByAddr.set(addr, (proto << 16) | port, 0, 0, id);
    if (mark === 0 && port === 0) this.portZeroServices++;
    this.schedInit(svc);
    return svc;
  }

  /** `ipvsadm -E`: changes scheduler, persistence and flags of an existing service. */
  editService(spec: ServiceSpec, line = 0): VirtualService {
    const { proto, addr, port, mark } = svcIdentity(spec, line);
    const svc = this.findServiceExact(proto, addr, port, mark);
    if (!svc) throw new IpvsError('IPVS_NO_SERVICE', line, 'No such service');
    if (spec.scheduler !== undefined && !SCHEDULERS.includes(spec.scheduler)) throw new IpvsError('IPVS_NO_SCHEDULER', line, 'Scheduler not found');
    const changed = (spec.scheduler ?? 'wlc') !== svc.scheduler;
    svc.scheduler = spec.scheduler ?? 'wlc';
    svc.persistent = spec.persistentS !== undefined;
    svc.timeoutS = spec.persistentS ?? 0;
    svc.netmask = (spec.netmask ?? 0xffffffff) >>> 0;
    svc.schedFlags = spec.schedFlags ?? 0;
    svc.ops = spec.ops ?? false;
    if (changed) this.schedInit(svc);
    return svc;
  }

  /** `ipvsadm -D`: deletes a service and its servers (their connections stay until they time out, dropped). */
  delService(spec: ServiceSpec, line = 0): void {
    const { proto, addr, port, mark } = svcIdentity(spec, line);
    const svc = this.findServiceExact(proto, addr, port, mark);
    if (!svc) throw new IpvsError('IPVS_NO_SERVICE', line, 'No such service');
    for (const d of svc.dests) d.available = false;
    svc.dests.length = 0;
    this.flushNodest();
    if (mark !== 0) this.svcByMark.delete(mark, 0, 0, 0);
    else this.svcByAddr.delete(addr, (proto << 16) | port, 0, 0);
    if (mark === 0 && port === 0) this.portZeroServices--;
    this.svcSlots[svc.id] = null;
    this.services.splice(this.services.indexOf(svc), 1);
  }

  /** `ipvsadm -C`: removes every service. */
  clear(): void {
    for (const s of [...this.services]) this.delService(specOf(s));
  }

  /** The service with exactly this identity ('mark' ≠ 0: fwmark service). */
  findServiceExact(proto: number, addr: number, port: number, mark: number): VirtualService | null {
    const id = mark !== 0 ? this.svcByMark.get(mark, 0, 0, 0) : this.svcByAddr.get(addr, (proto << 16) | port, 0, 0);
    return id >= 0 ? this.svcSlots[id] ?? null : null;
  }

  /**
   * The service a packet belongs to, as ip_vs_service_find: fwmark first (when
   * 'pkt.fwmark' ≠ 0), then proto/VIP/port, then a port-zero service. Allocates nothing.
   */
  lookupService(pkt: IpvsPacket): VirtualService | null {
    if (pkt.fwmark !== 0) {
      const id = this.svcByMark.get(pkt.fwmark, 0, 0, 0);
      if (id >= 0) return this.svcSlots[id]!;
    }
    let id = this.svcByAddr.get(pkt.dst, (pkt.proto << 16) | pkt.dport, 0, 0);
    if (id < 0 && this.portZeroServices > 0) id = this.svcByAddr.get(pkt.dst, pkt.proto << 16, 0, 0);
    return id >= 0 ? this.svcSlots[id]! : null;
  }

  /** `ipvsadm -a`: adds real server 'd' to 'svc' (at the front of its list, as the kernel does). */
  addDest(svc: VirtualService, d: DestSpec, line = 0): RealServer {
    const port = d.port ?? svc.port;
    const weight = d.weight ?? 1;
    checkWeight(weight, line);
    if (svc.dests.some((x) => x.addr === d.addr >>> 0 && x.port === port)) throw new IpvsError('IPVS_DEST_EXISTS', line, 'Destination already exists');
    const rs = new RealServer(this.servers.length, svc, d.addr >>> 0, port, weight, d.fwd ?? 'route');
    this.servers.push(rs);
    svc.dests.unshift(rs);
    if (svc.rrCursor >= 0) svc.rrCursor++;
    this.destChanged(svc);
    return rs;
  }

  /** `ipvsadm -e`: changes weight / forwarding of an existing real server. */
  editDest(svc: VirtualService, d: DestSpec, line = 0): RealServer {
    const port = d.port ?? svc.port;
    const rs = svc.dests.find((x) => x.addr === d.addr >>> 0 && x.port === port);
    if (!rs) throw new IpvsError('IPVS_NO_DEST', line, 'No such destination');
    const weight = d.weight ?? 1;
    checkWeight(weight, line);
    if (weight !== 0) rs.lastWeight = weight;
    rs.weight = weight;
    rs.fwd = d.fwd ?? 'route';
    this.destChanged(svc);
    return rs;
  }

  /** `ipvsadm -d`: removes a real server; its connections stay and their packets are dropped. */
  delDest(svc: VirtualService, addr: number, port: number, line = 0): void {
    const i = svc.dests.findIndex((x) => x.addr === addr >>> 0 && x.port === port);
    if (i < 0) throw new IpvsError('IPVS_NO_DEST', line, 'No such destination');
    svc.dests[i]!.available = false;
    svc.dests.splice(i, 1);
    if (svc.rrCursor >= i) svc.rrCursor--; // on the removed one: step back to its predecessor
    this.destChanged(svc);
    this.flushNodest();
  }

  /**
   * ip_vs_expire_nodest_conn_flush, with expire_nodest_conn set: every
   * connection whose server is no longer AVAILABLE goes, then each template
   * left controlling none.
   */
  private flushNodest(): void {
    if (!this.expireNodestConn) return;
    for (const tpl of [false, true]) {
      for (let c = 0; c < this.nextId; c++) {
        if (this.live[c] !== 1 || ((this.flags[c]! & CF_TEMPLATE) !== 0) !== tpl) continue;
        if (this.servers[this.dest[c]!]!.available || this.nControl[c]! > 0) continue;
        this.expireConn(c);
      }
    }
  }

  /** `ipvsadm --set tcp tcpfin udp` in seconds (0 leaves a value unchanged). */
  setTimeouts(tcpS: number, tcpFinS: number, udpS: number): void {
    if (tcpS > 0) this.timeoutsMs[TCP_S_ESTABLISHED] = tcpS * 1000;
    if (tcpFinS > 0) this.timeoutsMs[TCP_S_FIN_WAIT] = tcpFinS * 1000;
    if (udpS > 0) this.timeoutsMs[UDP_S_NORMAL] = udpS * 1000;
  }

  // ---- scheduler state (slow path, on configuration changes)

  private schedInit(svc: VirtualService): void {
    svc.rrCursor = -1;
    svc.wrrCl = -1;
    this.wrrRecompute(svc, true);
    this.rebuildTables(svc);
  }

  private destChanged(svc: VirtualService): void {
    if (svc.scheduler === 'wrr') this.wrrRecompute(svc, false);
    this.rebuildTables(svc);
  }

  private wrrRecompute(svc: VirtualService, init: boolean): void {
    let g = 0, mx = 0;
    for (const d of svc.dests) {
      if (d.weight > 0) g = g > 0 ? gcd(d.weight, g) : d.weight;
      if (d.weight > mx) mx = d.weight;
    }
    svc.wrrCl = -1;
    svc.wrrDi = g > 0 ? g : 1;
    svc.wrrMw = mx - (svc.wrrDi - 1);
    if (init) { svc.wrrCw = svc.wrrMw; return; }
    if (svc.wrrCw > svc.wrrMw || svc.wrrCw === 0) svc.wrrCw = svc.wrrMw;
    else if (svc.wrrDi > 1) svc.wrrCw = Math.trunc(svc.wrrCw / svc.wrrDi) * svc.wrrDi + 1;
  }

  private rebuildTables(svc: VirtualService): void {
    const n = svc.dests.length;
    if (svc.scheduler === 'sh' || svc.scheduler === 'dh') {
      const b = new Int32Array(SH_TAB_SIZE).fill(-1);
      if (n > 0) {
        let p = 0, count = 0;
        for (let i = 0; i < SH_TAB_SIZE; i++) {
          b[i] = p;
          if (svc.scheduler === 'dh') { p = (p + 1) % n; continue; }
          if (++count >= svc.dests[p]!.weight) { p = (p + 1) % n; count = 0; }
        }
      }
      svc.buckets = b;
    } else if (svc.scheduler === 'mh') {
      svc.buckets = mhPopulate(svc.dests);
    } else svc.buckets = new Int32Array(0);
  }

  // ---- scheduling (new connections)

  /** The real servers a scheduler may pick for 'svc', in its order: weight above 0, not overloaded. */
  candidates(svc: VirtualService): RealServer[] {
    return svc.dests.filter((d) => d.weight > 0 && !d.overloaded && d.available);
  }

  /**
   * Picks a real server for a new connection of 'pkt' with 'svc''s scheduler, or null —
   * or the forced one (`force`, once: a trace fork asking what another server would have done).
   */
  pick(svc: VirtualService, pkt: IpvsPacket): RealServer | null {
    if (this.force >= 0) {
      const d = this.candidates(svc)[this.force] ?? null;
      this.force = -1;
      return d;
    }
    switch (svc.scheduler) {
      case 'rr': return this.rr(svc);
      case 'wrr': return this.wrr(svc);
      case 'lc': return lc(svc);
      case 'wlc': return wlc(svc);
      case 'sh': return hashPick(svc, pkt.src, (svc.schedFlags & SVC_F_SCHED_PORT) !== 0 ? pkt.sport : 0, false);
      case 'dh': {
        const i = svc.buckets.length ? svc.buckets[Math.imul(pkt.dst, 0x9e3779b1) & SH_TAB_MASK]! : -1;
        const d = i >= 0 ? svc.dests[i]! : null;
        return d !== null && d.available && d.weight > 0 && !d.overloaded ? d : null;
      }
      case 'mh': return hashPick(svc, pkt.src, (svc.schedFlags & SVC_F_SCHED_PORT) !== 0 ? pkt.sport : 0, true);
    }
  }

  private rr(svc: VirtualService): RealServer | null {
    const ds = svc.dests, n = ds.length, last = svc.rrCursor;
    for (let i = last + 1; i < n; i++) {
      const d = ds[i]!;
      if (!d.overloaded && d.weight > 0) { svc.rrCursor = i; return d; }
    }
    if (last >= 0) {
      for (let i = 0; i <= last; i++) {
        const d = ds[i]!;
        if (!d.overloaded && d.weight > 0) { svc.rrCursor = i; return d; }
      }
    }
    return null;
  }

  private wrr(svc: VirtualService): RealServer | null {
    const ds = svc.dests, n = ds.length;
    let pos = svc.wrrCl;             // -1 = head
    if (svc.wrrMw === 0) return null;
    const last = pos;
    let stop = -2, lastPass = false, restarted = false;
    for (;;) {
      for (pos = pos + 1; pos < n; pos++) {
        const d = ds[pos]!;
        if (!d.overloaded && d.weight >= svc.wrrCw) { svc.wrrCl = pos; return d; }
        if (pos === stop) { svc.wrrCl = pos; return null; }
      }
      pos = -1;
      svc.wrrCw -= svc.wrrDi;
      if (svc.wrrCw <= 0) {
        svc.wrrCw = svc.wrrMw;
        if (lastPass || last === -1) { svc.wrrCl = -1; return null; }
        restarted = true;
      }
      lastPass = svc.wrrCw <= svc.wrrDi;
      if (lastPass && restarted && last !== -1) stop = last;
    }
  }

  // ---- the connection table (fast path for known connections)

  /**
   * The real server for client→VIP packet 'pkt' of service 'svc' at 'nowMs':
   * the existing connection's, else (template or scheduler) a new one's; null
   * means drop (no server available, or the connection's server was deleted).
   * 'oldCt': the packet's netfilter conntrack entry is a confirmed one
   * (with expire_nodest_conn, such a packet of a server-less connection is
   * dropped rather than scheduled anew). Steps the connection's state and
   * restarts its timer. Known connections allocate nothing. `lastConn`
   * names the connection used.
   */
  schedule(svc: VirtualService, pkt: IpvsPacket, nowMs: number, oldCt = false): RealServer | null {
    this.lastConn = -1;
    let c = this.inTab.get(pkt.src, pkt.dst, ((pkt.sport << 16) | pkt.dport) >>> 0, pkt.proto);
    if (c >= 0 && this.expires[c]! <= nowMs) { this.expireConn(c); c = -1; }
    const syn = pkt.proto === IPPROTO_TCP && (pkt.tcpFlags & TCP_SYN) !== 0;
    if (c >= 0 && syn && this.expireNodestConn && this.servers[this.dest[c]!]!.weight === 0) {
      // a new connection expected on a quiesced server: this one goes, the SYN is scheduled anew
      this.lastConn = c;
      this.expireConn(c);
      if (oldCt) return null;
      c = -1;
    } else if (c >= 0 && syn && (pkt.tcpFlags & (TCP_ACK | TCP_RST)) === 0
        && (this.state[c] === TCP_S_TIME_WAIT || this.state[c] === TCP_S_CLOSE)) {
      this.expireConn(c); c = -1; // conn_reuse_mode: a new SYN on a closing connection is a new connection
    }
    if (c >= 0) {
      this.lastConn = c;
      const d = this.servers[this.dest[c]!]!;
      if (d.available) {
        this.step(c, d, pkt, false, nowMs);
        return d;
      }
      // ip_vs_in_hook: dest gone → drop, timer not restarted (expire_nodest_conn 0)
      if (!this.expireNodestConn) return null;
      this.expireConn(c);
      if (oldCt) return null;
      // a TCP packet that is no SYN starts no connection (tcp_conn_schedule)
      if (pkt.proto === IPPROTO_TCP && ((pkt.tcpFlags & TCP_SYN) === 0 || (pkt.tcpFlags & TCP_RST) !== 0)) return null;
    }
    return this.newConn(svc, pkt, nowMs);
  }

  /**
   * A server→client packet 'pkt' (src = real server) of a NAT connection:
   * steps the connection's state (OUTPUT table) and returns its server, or
   * null when no connection matches. The caller rewrites the source back to
   * `connVip(lastConn)`.
   */
  reply(pkt: IpvsPacket, nowMs: number): RealServer | null {
    const c = this.outTab.get(pkt.src, pkt.dst, ((pkt.sport << 16) | pkt.dport) >>> 0, pkt.proto);
    if (c < 0) return null;
    if (this.expires[c]! <= nowMs) { this.expireConn(c); return null; }
    this.lastConn = c;
    const d = this.servers[this.dest[c]!]!;
    this.flags[c] = this.flags[c]! & ~CF_NOOUTPUT;
    this.step(c, d, pkt, true, nowMs);
    return d;
  }

  private newConn(svc: VirtualService, pkt: IpvsPacket, nowMs: number): RealServer | null {
    let d: RealServer | null;
    let tpl = -1;
    if (svc.persistent) {
      const caddr = (pkt.src & svc.netmask) >>> 0;
      const kb = svc.fwmark !== 0 ? svc.fwmark : svc.addr;
      const kd = svc.fwmark !== 0 ? KEY_FWM_TEMPLATE : (KEY_TEMPLATE | svc.proto);
      tpl = this.inTab.get(caddr, kb, svc.fwmark !== 0 ? 0 : svc.port, kd);
      if (tpl >= 0 && !this.templateAlive(tpl, nowMs)) tpl = -1;
      if (tpl >= 0 && this.templateStale(this.servers[this.dest[tpl]!]!)) { this.expireConn(tpl); tpl = -1; }
      if (tpl >= 0) d = this.servers[this.dest[tpl]!]!;
      else {
        d = this.pick(svc, pkt);
        if (d === null) return null;
        tpl = this.alloc(caddr, 0, kb, svc.fwmark !== 0 ? 0 : svc.port, kd, d, CF_TEMPLATE, svc.timeoutS * 1000, nowMs);
        d.persistConns++;
      }
      this.expires[tpl] = nowMs + this.timeout[tpl]!;
    } else {
      d = this.pick(svc, pkt);
      if (d === null) return null;
    }
    const noOut = d.fwd !== 'masq' ? CF_NOOUTPUT : 0;
    const st = pkt.proto === IPPROTO_TCP ? TCP_S_NONE : UDP_S_NORMAL;
    const c = this.alloc(pkt.src, pkt.sport, pkt.dst, pkt.dport, pkt.proto, d, CF_INACTIVE | noOut, 3000, nowMs);
    this.state[c] = st;
    d.inactConns++;
    if (tpl >= 0) { this.control[c] = tpl; this.nControl[tpl] = this.nControl[tpl]! + 1; }
    this.lastConn = c;
    this.step(c, d, pkt, false, nowMs);
    return d;
  }

  /** ip_vs_check_template: a template whose server was deleted, or is quiesced with expire_quiescent_template, goes. */
  private templateStale(d: RealServer): boolean {
    return !d.available || (this.expireQuiescentTemplate && d.weight === 0);
  }

  private alloc(ca: number, cp: number, va: number, vp: number, proto: number, d: RealServer, flags: number, timeoutMs: number, nowMs: number): number {
    let c: number;
    if (this.freeIds.length > 0) c = this.freeIds.pop()!;
    else { c = this.nextId++; if (c >= this.cap) this.grow(); }
    this.cAddr[c] = ca; this.cPort[c] = cp; this.vAddr[c] = va; this.vPort[c] = vp; this.proto[c] = proto;
    this.dest[c] = d.id; this.flags[c] = flags; this.state[c] = TCP_S_NONE;
    this.timeout[c] = timeoutMs; this.expires[c] = nowMs + timeoutMs;
    this.control[c] = -1; this.nControl[c] = 0; this.live[c] = 1;
    this.inTab.set(ca, va, ((cp << 16) | vp) >>> 0, proto, c);
    if ((flags & CF_TEMPLATE) === 0) this.outTab.set(d.addr, ca, ((d.port << 16) | cp) >>> 0, proto, c);
    this.connCount++;
    return c;
  }

  private grow(): void {
    const cap = Math.max(1024, this.cap * 2);
    const g = <T extends Uint32Array | Uint16Array | Int32Array | Int8Array | Uint8Array | Float64Array>(a: T, make: (n: number) => T): T => { const b = make(cap); b.set(a as never); return b; };
    this.cAddr = g(this.cAddr, (n) => new Uint32Array(n));
    this.cPort = g(this.cPort, (n) => new Uint16Array(n));
    this.vAddr = g(this.vAddr, (n) => new Uint32Array(n));
    this.vPort = g(this.vPort, (n) => new Uint16Array(n));
    this.proto = g(this.proto, (n) => new Uint16Array(n));
    this.dest = g(this.dest, (n) => new Int32Array(n));
    this.state = g(this.state, (n) => new Int8Array(n));
    this.flags = g(this.flags, (n) => new Uint8Array(n));
    this.expires = g(this.expires, (n) => new Float64Array(n));
    this.timeout = g(this.timeout, (n) => new Float64Array(n));
    this.control = g(this.control, (n) => new Int32Array(n));
    this.nControl = g(this.nControl, (n) => new Int32Array(n));
    this.live = g(this.live, (n) => new Uint8Array(n));
    this.cap = cap;
  }

  /** Steps the state of connection 'c' for 'pkt' ('out': server→client) and restarts its timer. */
  private step(c: number, d: RealServer, pkt: IpvsPacket, out: boolean, nowMs: number): void {
    if (pkt.proto === IPPROTO_TCP) {
      const idx = tcpStateIdx(pkt.tcpFlags);
      if (idx >= 0) {
        const dir = (this.flags[c]! & CF_NOOUTPUT) !== 0 && !out ? 2 : (out ? 1 : 0);
        const old = this.state[c]!;
        const ns = TCP_STATES[(dir * 4 + idx) * 11 + old]!;
        if (ns !== old) {
          const inactive = (this.flags[c]! & CF_INACTIVE) !== 0;
          if (!inactive && ns !== TCP_S_ESTABLISHED) {
            d.activeConns--; d.inactConns++; this.flags[c] = this.flags[c]! | CF_INACTIVE;
          } else if (inactive && ns === TCP_S_ESTABLISHED) {
            d.activeConns++; d.inactConns--; this.flags[c] = this.flags[c]! & ~CF_INACTIVE;
          }
        }
        this.state[c] = ns;
        this.timeout[c] = this.timeoutsMs[ns]!;
      }
    } else {
      this.timeout[c] = this.timeoutsMs[UDP_S_NORMAL]!;
    }
    this.touch(c, nowMs);
  }

  private touch(c: number, nowMs: number): void {
    this.expires[c] = nowMs + this.timeout[c]!;
  }

  /** Whether template 't' lives at 'nowMs'; re-arms it (60 s) while it controls live connections. */
  private templateAlive(t: number, nowMs: number): boolean {
    while (this.expires[t]! <= nowMs) {
      // its controlled connections that are due go first (their timers fired earlier or together)
      for (let c = 0; c < this.nextId; c++) {
        if (this.live[c] === 1 && this.control[c] === t && this.expires[c]! <= this.expires[t]!) this.expireConn(c);
      }
      if (this.nControl[t]! === 0) { this.expireConn(t); return false; }
      this.timeout[t] = TEMPLATE_REARM_MS;
      this.expires[t] = this.expires[t]! + TEMPLATE_REARM_MS;
    }
    return true;
  }

  private expireConn(c: number): void {
    if (this.live[c] !== 1) return;
    const d = this.servers[this.dest[c]!]!;
    const f = this.flags[c]!;
    this.inTab.delete(this.cAddr[c]!, this.vAddr[c]!, ((this.cPort[c]! << 16) | this.vPort[c]!) >>> 0, this.proto[c]!);
    if ((f & CF_TEMPLATE) !== 0) {
      d.persistConns--;
      if (this.nControl[c]! > 0) { // detached early (its server went away): its connections lose their controller
        for (let x = 0; x < this.nextId; x++) if (this.control[x] === c) this.control[x] = -1;
        this.nControl[c] = 0;
      }
    } else {
      this.outTab.delete(d.addr, this.cAddr[c]!, ((d.port << 16) | this.cPort[c]!) >>> 0, this.proto[c]!);
      if ((f & CF_INACTIVE) !== 0) d.inactConns--; else d.activeConns--;
      const t = this.control[c]!;
      if (t >= 0) this.nControl[t] = this.nControl[t]! - 1;
    }
    this.live[c] = 0;
    this.freeIds.push(c);
    this.connCount--;
  }

  /** Expires every connection and template due at 'nowMs' (the sim's timer tick). */
  expire(nowMs: number): void {
    // templates first: each one's timer is replayed in time order with the connections it controls
    for (let c = 0; c < this.nextId; c++) {
      if (this.live[c] === 1 && (this.flags[c]! & CF_TEMPLATE) !== 0) this.templateAlive(c, nowMs);
    }
    for (let c = 0; c < this.nextId; c++) {
      if (this.live[c] === 1 && (this.flags[c]! & CF_TEMPLATE) === 0 && this.expires[c]! <= nowMs) this.expireConn(c);
    }
  }

  /**
   * The live connection a client→VIP packet 'pkt' belongs to (ip_vs_conn_in_get), or -1;
   * changes nothing. A TCP packet that is not a SYN starts no connection, so the caller asks
   * this before `schedule` (tcp_conn_schedule).
   */
  findConn(pkt: IpvsPacket, nowMs: number): number {
    const c = this.inTab.get(pkt.src, pkt.dst, ((pkt.sport << 16) | pkt.dport) >>> 0, pkt.proto);
    return c >= 0 && this.expires[c]! > nowMs ? c : -1;
  }

  /** VIP of connection 'c' (for un-NATting replies). */
  connVip(c: number): number { return this.vAddr[c]!; }
  connVport(c: number): number { return this.vPort[c]!; }
  /** IPVS state name of connection 'c' (`ESTABLISHED`, `SYN_RECV`, … `UDP`). */
  connState(c: number): string { return CONN_STATE_NAMES[this.state[c]!]!; }
  connExpiresMs(c: number): number { return this.expires[c]!; }

  /** Live connections and templates, as `ipvsadm -Lnc` lists them (slow path). */
  connections(nowMs: number): { proto: string; expiresInMs: number; state: string; source: string; virtual: string; destination: string; template: boolean }[] {
    const out = [];
    for (let c = 0; c < this.nextId; c++) {
      if (this.live[c] !== 1) continue;
      const tpl = (this.flags[c]! & CF_TEMPLATE) !== 0;
      const d = this.servers[this.dest[c]!]!;
      const p = this.proto[c]!;
      out.push({
        proto: tpl ? (p & KEY_FWM_TEMPLATE ? 'IP' : protoName(p & 0xff)) : protoName(p),
        expiresInMs: this.expires[c]! - nowMs,
        state: tpl ? 'NONE' : CONN_STATE_NAMES[this.state[c]!]!,
        source: `${ipv4ToString(this.cAddr[c]!)}:${this.cPort[c]!}`,
        virtual: `${ipv4ToString(this.vAddr[c]!)}:${this.vPort[c]!}`,
        destination: `${ipv4ToString(d.addr)}:${d.port}`,
        template: tpl,
      });
    }
    return out;
  }

  // ---- text

  /** `ipvsadm -Ln` output. */
  list(): string {
    let out = 'IP Virtual Server version 1.2.1 (size=4096)\n';
    out += 'Prot LocalAddress:Port Scheduler Flags\n';
    out += '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';
    for (const s of sortedServices(this.services)) {
      out += `${serviceName(s)} ${s.scheduler}`;
      if (s.persistent) {
        out += ` persistent ${s.timeoutS}`;
        if (s.netmask !== 0xffffffff) out += ` mask ${ipv4ToString(s.netmask)}`;
        if (s.ops) out += ' ops';
      }
      out += '\n';
      for (const d of sortedDests(s.dests)) {
        const dn = `${ipv4ToString(d.addr)}:${d.port}`.slice(0, 28);
        out += `  -> ${dn.padEnd(28)} ${FWD_NAME[d.fwd].padEnd(7)} ${String(d.weight).padEnd(6)} ${String(d.activeConns).padEnd(10)} ${String(d.inactConns).padEnd(10)}\n`;
      }
    }
    return out;
  }

  /** `ipvsadm-save -n` output (ipvsadm -S -n). */
  save(): string {
    let out = '';
    for (const s of sortedServices(this.services)) {
      const name = s.fwmark !== 0 ? `-f ${s.fwmark}` : `${s.proto === IPPROTO_TCP ? '-t' : '-u'} ${ipv4ToString(s.addr)}:${s.port}`;
      out += `-A ${name} -s ${s.scheduler}`;
      if (s.persistent) {
        out += ` -p ${s.timeoutS}`;
        if (s.netmask !== 0xffffffff) out += ` -M ${ipv4ToString(s.netmask)}`;
      }
      if (s.ops) out += ' ops';
      out += '\n';
      for (const d of sortedDests(s.dests)) {
        out += `-a ${name} -r ${ipv4ToString(d.addr)}:${d.port} ${FWD_SWITCH[d.fwd]} -w ${d.weight}\n`;
      }
    }
    return out;
  }

  /**
   * `ipvsadm-restore`: one ipvsadm command per line (-A -E -D -a -e -d -C,
   * short or long options); blank and `#` lines skipped. Throws IpvsError
   * naming the line; earlier lines stay applied, as ipvsadm -R does.
   */
  restore(text: string): void {
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const raw = lines[i]!.trim();
      if (raw === '' || raw.startsWith('#')) continue;
      this.command(raw.split(/\s+/), i + 1);
    }
  }

  /** Runs one ipvsadm command given as 'args' (no leading `ipvsadm`). */
  command(args: string[], line = 0): void {
    const c = parseCommand(args, line);
    switch (c.cmd) {
      case 'C': this.clear(); return;
      case 'A': this.addService(c.svc, line); return;
      case 'E': this.editService(c.svc, line); return;
      case 'D': this.delService(c.svc, line); return;
      case 'a': case 'e': case 'd': {
        const { proto, addr, port, mark } = svcIdentity(c.svc, line);
        const svc = this.findServiceExact(proto, addr, port, mark);
        if (!svc) throw new IpvsError('IPVS_NO_SERVICE', line, 'Service not defined');
        if (!c.dest) throw new IpvsError('IPVS_MISSING_ARG', line, 'Illegal or missing real server (-r)');
        if (c.cmd === 'a') this.addDest(svc, c.dest, line);
        else if (c.cmd === 'e') this.editDest(svc, c.dest, line);
        else this.delDest(svc, c.dest.addr, c.dest.port ?? svc.port, line);
        return;
      }
    }
  }
}

// ---------------------------------------------------------------------------
// schedulers without per-service cursor

function overhead(d: RealServer): number {
  return (d.activeConns << 8) + d.inactConns;
}

function lc(svc: VirtualService): RealServer | null {
  let least: RealServer | null = null, loh = 0;
  for (const d of svc.dests) {
    if (d.overloaded || d.weight === 0) continue;
    const doh = overhead(d);
    if (least === null || doh < loh) { least = d; loh = doh; }
  }
  return least;
}

function wlc(svc: VirtualService): RealServer | null {
  const ds = svc.dests;
  let i = 0;
  for (; i < ds.length; i++) if (!ds[i]!.overloaded && ds[i]!.weight > 0) break;
  if (i === ds.length) return null;
  let least = ds[i]!, loh = overhead(least);
  for (i++; i < ds.length; i++) {
    const d = ds[i]!;
    if (d.overloaded) continue;
    const doh = overhead(d);
    if (loh * d.weight > doh * least.weight) { least = d; loh = doh; }
  }
  return least;
}

function unavailable(d: RealServer): boolean {
  return d.weight <= 0 || d.overloaded;
}

/** Bucket of ('addr', 'port') at 'offset': ip_vs_mh_hashkey % 251 or ip_vs_sh_hashkey. */
function hashKey(mh: boolean, addr: number, port: number, offset: number): number {
  return mh
    ? hsiphash32((offset + port + addr) >>> 0, MH_KEY1) % MH_TAB_SIZE
    : (offset + hash32((port + addr) >>> 0, 8)) & SH_TAB_MASK;
}

/** sh ('mh' false) and mh lookups, with the -b fallback walk; allocates nothing. */
function hashPick(svc: VirtualService, addr: number, port: number, mh: boolean): RealServer | null {
  const b = svc.buckets;
  if (b.length === 0) return null;
  const size = mh ? MH_TAB_SIZE : SH_TAB_SIZE;
  const ihash = hashKey(mh, addr, port, 0);
  const first = b[ihash]!;
  if (first < 0) return null;
  const d0 = svc.dests[first]!;
  if (!unavailable(d0)) return d0;
  if ((svc.schedFlags & SVC_F_SCHED_FALLBACK) === 0) return null;
  for (let offset = 0; offset < size; offset++) {
    const roffset = (offset + ihash) % size;
    const i = b[hashKey(mh, addr, port, roffset)]!;
    if (i < 0) return null;
    const d = svc.dests[i]!;
    if (!unavailable(d)) return d;
  }
  return null;
}

/** The Maglev lookup table of ip_vs_mh.c (size 251) over 'dests' in list order; -1 = empty. */
function mhPopulate(dests: readonly RealServer[]): Int32Array {
  const lookup = new Int32Array(MH_TAB_SIZE).fill(-1);
  let g = 0, mx = 0;
  for (const d of dests) {
    if (d.lastWeight > 0) g = g > 0 ? gcd(d.lastWeight, g) : d.lastWeight;
    if (d.lastWeight > mx) mx = d.lastWeight;
  }
  if (g < 1) return lookup;
  const fls = (x: number): number => 32 - Math.clz32(x);
  const rshift = Math.max(0, fls(Math.trunc(mx / g)) - MH_TAB_BITS);
  const n = dests.length;
  const perm = new Int32Array(n), skip = new Int32Array(n), turns = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const d = dests[i]!;
    const v = (d.port + d.addr) >>> 0;
    perm[i] = hsiphash32(v, MH_KEY1) % MH_TAB_SIZE;
    skip[i] = (hsiphash32(v, MH_KEY2) % (MH_TAB_SIZE - 1)) + 1;
    const lw = d.lastWeight;
    turns[i] = (Math.trunc(lw / g) >> rshift) || (lw !== 0 ? 1 : 0);
  }
  const taken = new Uint8Array(MH_TAB_SIZE);
  let filled = 0, dtCount = 0;
  for (;;) {
    for (let p = 0; p < n;) {
      if (turns[p]! < 1) { p++; continue; }
      let c = perm[p]!;
      while (taken[c] === 1) {
        perm[p] = perm[p]! + skip[p]!;
        if (perm[p]! >= MH_TAB_SIZE) perm[p] = perm[p]! - MH_TAB_SIZE;
        c = perm[p]!;
      }
      taken[c] = 1;
      lookup[c] = p;
      if (++filled === MH_TAB_SIZE) return lookup;
      if (++dtCount >= turns[p]!) { dtCount = 0; p++; }
    }
  }
}

// ---------------------------------------------------------------------------
// text helpers

const FWD_NAME: Readonly<Record<ForwardMethod, string>> = { masq: 'Masq', route: 'Route', tunnel: 'Tunnel' };
const FWD_SWITCH: Readonly<Record<ForwardMethod, string>> = { masq: '-m', route: '-g', tunnel: '-i' };

/** A service as `ipvsadm -Ln` names it: `TCP  10.96.0.10:80` (cut to 33 characters), `FWM  7`. */
export function serviceName(s: VirtualService): string {
  return s.fwmark !== 0 ? `FWM  ${s.fwmark}` : `${s.proto === IPPROTO_TCP ? 'TCP' : 'UDP'}  ${ipv4ToString(s.addr)}:${s.port}`.slice(0, 33);
}

function protoName(p: number): string {
  return p === IPPROTO_TCP ? 'TCP' : p === IPPROTO_UDP ? 'UDP' : String(p);
}

/** ipvs_cmp_services: int differences (u32 address difference wrapped to int, as C does). */
function sortedServices(list: readonly VirtualService[]): VirtualService[] {
  return [...list].sort((a, b) => ((a.fwmark - b.fwmark) | 0) || (a.proto - b.proto) || ((a.addr - b.addr) | 0) || (a.port - b.port));
}

function sortedDests(list: readonly RealServer[]): RealServer[] {
  return [...list].sort((a, b) => ((a.addr - b.addr) | 0) || (a.port - b.port));
}

function svcIdentity(spec: ServiceSpec, line: number): { proto: number; addr: number; port: number; mark: number } {
  if (spec.kind === 'fwmark') {
    const m = spec.fwmark ?? 0;
    if (!Number.isInteger(m) || m <= 0 || m > 0xffffffff) throw new IpvsError('IPVS_BAD_FWMARK', line, 'Illegal virtual service fwmark');
    return { proto: 0, addr: 0, port: 0, mark: m >>> 0 };
  }
  return { proto: spec.kind === 'tcp' ? IPPROTO_TCP : IPPROTO_UDP, addr: (spec.addr ?? 0) >>> 0, port: spec.port ?? 0, mark: 0 };
}

function specOf(s: VirtualService): ServiceSpec {
  return s.fwmark !== 0 ? { kind: 'fwmark', fwmark: s.fwmark } : { kind: s.proto === IPPROTO_TCP ? 'tcp' : 'udp', addr: s.addr, port: s.port };
}

function checkWeight(w: number, line: number): void {
  if (!Number.isInteger(w) || w < 0 || w > 2147483647) throw new IpvsError('IPVS_BAD_WEIGHT', line, 'Illegal weight specified');
}

interface ParsedCommand { cmd: 'A' | 'E' | 'D' | 'a' | 'e' | 'd' | 'C'; svc: ServiceSpec; dest: DestSpec | null }

const LONG_CMD: ReadonlyMap<string, ParsedCommand['cmd']> = new Map([
  ['--add-service', 'A'], ['--edit-service', 'E'], ['--delete-service', 'D'], ['--add-server', 'a'], ['--edit-server', 'e'],
  ['--delete-server', 'd'], ['--clear', 'C'],
]);
const LONG_OPT: ReadonlyMap<string, string> = new Map([
  ['--tcp-service', '-t'], ['--udp-service', '-u'], ['--fwmark-service', '-f'], ['--scheduler', '-s'], ['--persistent', '-p'],
  ['--netmask', '-M'], ['--real-server', '-r'], ['--gatewaying', '-g'], ['--masquerading', '-m'], ['--ipip', '-i'],
  ['--weight', '-w'], ['--sched-flags', '-b'],
]);

function parseAddrPort(s: string, line: number, what: string, needPort: boolean): { addr: number; port: number | undefined } {
  const colon = s.lastIndexOf(':');
  const a = parseIpv4Dotted(colon >= 0 ? s.slice(0, colon) : s);
  if (a === null) throw new IpvsError('IPVS_BAD_ADDRESS', line, `Illegal ${what} address:port specified: '${s}'`);
  if (colon < 0) {
    if (needPort) throw new IpvsError('IPVS_BAD_ADDRESS', line, `Illegal ${what} address:port specified: '${s}'`);
    return { addr: a, port: undefined };
  }
  const ps = s.slice(colon + 1);
  if (!/^\d{1,5}$/.test(ps) || Number(ps) > 65535) throw new IpvsError('IPVS_BAD_PORT', line, `Illegal ${what} port specified: '${ps}'`);
  return { addr: a, port: Number(ps) };
}

function parseCommand(args: string[], line: number): ParsedCommand {
  let cmd: ParsedCommand['cmd'] | null = null;
  const svc: ServiceSpec = { kind: 'tcp' };
  let haveSvc = false;
  let dest: DestSpec | null = null;
  let fwd: ForwardMethod | undefined, weight: number | undefined;
  const toks = args.filter((t) => t !== '');
  for (let i = 0; i < toks.length; i++) {
    const raw = toks[i]!;
    const t = LONG_OPT.get(raw) ?? raw;
    const lc = LONG_CMD.get(raw);
    const next = (): string => {
      const v = toks[i + 1];
      if (v === undefined) throw new IpvsError('IPVS_MISSING_ARG', line, `option ${raw} requires an argument`);
      i++;
      return v;
    };
    if (lc !== undefined || ['-A', '-E', '-D', '-a', '-e', '-d', '-C'].includes(t)) {
      if (cmd !== null) throw new IpvsError('IPVS_BAD_COMMAND', line, `more than one command given ('${raw}')`);
      cmd = lc ?? (t.slice(1) as ParsedCommand['cmd']);
      continue;
    }
    switch (t) {
      case '-t': case '-u': {
        const { addr, port } = parseAddrPort(next(), line, 'virtual service', true);
        svc.kind = t === '-t' ? 'tcp' : 'udp'; svc.addr = addr; svc.port = port; haveSvc = true;
        break;
      }
      case '-f': {
        const v = next();
        if (!/^\d{1,10}$/.test(v) || Number(v) === 0 || Number(v) > 0xffffffff) throw new IpvsError('IPVS_BAD_FWMARK', line, `Illegal virtual service fwmark: '${v}'`);
        svc.kind = 'fwmark'; svc.fwmark = Number(v); haveSvc = true;
        break;
      }
      case '-s': {
        const v = next();
        if (!SCHEDULERS.includes(v as SchedulerName)) throw new IpvsError('IPVS_NO_SCHEDULER', line, `Scheduler not found: '${v}'`);
        svc.scheduler = v as SchedulerName;
        break;
      }
      case '-p': {
        const v = toks[i + 1];
        if (v !== undefined && /^\d+$/.test(v)) {
          i++;
          if (Number(v) < 1 || Number(v) > 2678400) throw new IpvsError('IPVS_BAD_TIMEOUT', line, `Illegal timeout specified: '${v}'`);
          svc.persistentS = Number(v);
        } else svc.persistentS = 300;
        break;
      }
      case '-M': {
        const v = next();
        const m = parseIpv4Dotted(v);
        if (m === null) throw new IpvsError('IPVS_BAD_NETMASK', line, `Illegal netmask specified: '${v}'`);
        svc.netmask = m;
        break;
      }
      case '-b': {
        let f = 0;
        for (const name of next().split(',')) {
          if (name === 'sh-fallback' || name === 'mh-fallback' || name === 'flag-1') f |= SVC_F_SCHED_FALLBACK;
          else if (name === 'sh-port' || name === 'mh-port' || name === 'flag-2') f |= SVC_F_SCHED_PORT;
          else throw new IpvsError('IPVS_BAD_SCHED_FLAG', line, `Invalid scheduler flag '${name}'`);
        }
        svc.schedFlags = f;
        break;
      }
      case 'ops': case '-o': case '--ops': svc.ops = true; break;
      case '-r': {
        const { addr, port } = parseAddrPort(next(), line, 'real server', false);
        dest = port === undefined ? { addr } : { addr, port };
        break;
      }
      case '-g': fwd = 'route'; break;
      case '-m': fwd = 'masq'; break;
      case '-i': fwd = 'tunnel'; break;
      case '-w': {
        const v = next();
        if (!/^\d{1,10}$/.test(v) || Number(v) > 2147483647) throw new IpvsError('IPVS_BAD_WEIGHT', line, `Illegal weight specified: '${v}'`);
        weight = Number(v);
        break;
      }
      case '-n': break;
      default:
        throw new IpvsError('IPVS_UNKNOWN_OPTION', line, `unknown option '${raw}'`);
    }
  }
  if (cmd === null) throw new IpvsError('IPVS_BAD_COMMAND', line, 'no command given (-A, -E, -D, -a, -e, -d or -C)');
  if (cmd !== 'C' && !haveSvc) throw new IpvsError('IPVS_MISSING_ARG', line, 'no virtual service given (-t, -u or -f)');
  if (dest !== null) {
    if (fwd !== undefined) dest.fwd = fwd;
    if (weight !== undefined) dest.weight = weight;
  }
  return { cmd, svc, dest };
}
