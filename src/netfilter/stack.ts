/**
 * A Linux host's netfilter path (netfilter layer): the hooks, conntrack and
 * routing a packet meets, in the kernel's order.
 *
 * What: `NfStack.receive(frame, inIface, now)` runs an Ethernet/IPv4 frame
 * arriving on one of the host's interfaces, `NfStack.send(frame, now)` one
 * the host itself sends (OUTPUT, see there), through:
 *   PREROUTING: raw → conntrack (track) → mangle → nat (a connection's first
 *     packet only: DNAT/REDIRECT or the null binding) → the DNAT applied
 *   routing: to a local address → INPUT; else, with ip_forward, the longest
 *     prefix route → FORWARD (TTL − 1 first, as ip_forward does)
 *   INPUT: mangle → filter → nat (SNAT for local delivery) → confirm
 *   FORWARD: mangle → filter
 *   POSTROUTING: mangle → nat (SNAT/MASQUERADE or the null binding) → the
 *     SNAT applied → confirm → out of the egress interface.
 * A DROP anywhere ends the packet and leaves no conntrack entry; a REJECT
 * builds the reply the kernel sends (ipt_REJECT: ICMP errors from the
 * address the route back to the sender chooses — in INPUT the address the
 * packet was sent to — quoting the packet as it arrived (its TTL already
 * decremented when the REJECT is in FORWARD or later); TCP resets from the
 * original destination, RA with ack = seq + len for a SYN, R with seq = the
 * segment's ack otherwise), BEHAVIOUR.md Linux §4–5. That answer is a
 * packet of this host: it goes through OUTPUT and POSTROUTING (an OUTPUT
 * rule may drop it; an ICMP error is never answered), over lo when it is
 * for a local address (the REJECT of the host's own packet). The kernel
 * attaches the rejected packet's connection to the answer (nf_ct_attach,
 * RELATED in the other direction), so the answer to a NATed packet is
 * un-NATed on its way out: a reset's addresses and ports, an ICMP error's
 * outer source and quoted header.
 * MASQUERADE takes the egress interface's primary address in the subnet of
 * the next hop (not the route's src, §3); REDIRECT the incoming interface's
 * primary address (§11); `addrtype LOCAL` is every address of every
 * interface (§12). route_localnet: 127/8 destinations are only routed when
 * it is on (§14). Conntrack runs only when the rules need it (§9). Each
 * hook reports every rule checked. ICMP redirects for hairpinned packets
 * are not sent (the kernel's are rate-limited by time).
 * IPVS (kube-proxy's ipvs mode; `opts.ipvs`) sits where ip_vs_core.c
 * registers it: after filter INPUT (a reply from a real server, then a
 * request for a virtual service), after nat OUTPUT for the host's own
 * packets, after filter FORWARD (replies). A scheduled packet is rewritten
 * (NAT), routed to its real server (TTL − 1) and sent through LOCAL_OUT's
 * chains and POSTROUTING; with net.ipv4.vs.conntrack its connection's reply
 * tuple names the real server (ip_vs_update_conntrack), without it the
 * packet leaves untracked. Each IPVS step is a hook report of table 'ipvs'.
 * Not modelled there: ICMP errors for IPVS connections (ip_vs_in_icmp),
 * ICMP time exceeded / need-frag from IPVS (the packet is dropped), the
 * one-packet scheduling flag.
 * The skb mark lives for the packet's whole path (KUBE-MARK-MASQ in nat
 * PREROUTING is what KUBE-POSTROUTING and filter FORWARD read, §15).
 * Forwarding refuses, before the FORWARD hook, with an ICMP error sent as
 * the host's own packet (from the route back to the sender, quoting the
 * packet as it arrived, un-NATed through conntrack): TTL 1 → time exceeded;
 * no route → net unreachable; DF set and over the egress interface's MTU →
 * fragmentation needed with that MTU. Forwarding off: dropped silently.
 * The kernel's per-peer ICMP tokens (icmp_ratelimit, ip_error's one error a
 * second) are not modelled: every error is sent.
 * The namespace's match state: `recent` (xt_recent lists, recent.ts) is
 * kept across rule reloads and follows the rules the way the kernel's
 * lists do (synced when parseRestore replaced a table); `-m recent` reads
 * the packet's TTL (+1 for a forwarded packet once it has an out
 * interface, the TTL before forwarding) and the virtual clock `now`;
 * `opts.nfacct` holds the nfacct objects `-m nfacct` counts into (a rule
 * naming a missing one is refused when the stack is built); `-m ipvs`
 * sees the IPVS connection the packet was handled by (skb->ipvs_property),
 * found again from the packet's addresses and ports as xt_ipvs does.
 * A socket of the host (`opts.local`) takes what is delivered to it; what
 * none takes, the host's stack answers.
 * A packet of the host for one of its own addresses crosses lo:
 * POSTROUTING, then PREROUTING and INPUT, and the host's stack answers it.
 * Ethernet padding past the IP total length is trimmed on arrival.
 * Routing: the host config's connected routes and routes by longest
 * prefix, or the host's own FIB when it gives one (`opts.router`,
 * netstack/route.ts).
 * Memory: the rule evaluator (eval.ts, with its walk stacks) is made when
 * a packet first meets a hook's chain or a caller reads `ev` — a host
 * whose rules no packet ever walked has none.
 * Left out: IPv6, the raw table's NOTRACK, defragmentation before
 * conntrack.
 * Neighbours: eval.ts (chains), conntrack/linux.ts (NfConntrack), model.ts, ipvs.ts, recent.ts.
 */
import { be16, be32, ipv4ToString, setBe16, setBe32 } from '../wire/bytes.js';
import { checksumOf, csumUpdate16 } from '../wire/checksum.js';
import { FrameBuilder } from '../wire/builder.js';
import { IPS_CONFIRMED, NfConntrack, NfCtResult, type CtInfo, type NfConn, type NfNatRange } from '../conntrack/linux.js';
import { setIpv4Addr } from '../conntrack/nat.js';
import type { AddrType, CtStateName, Hook, IpvsMatch, Ruleset, Table, TableName, Target } from './model.js';
import { Evaluator, NetfilterError, type NfPacket, type RunResult, type TraceRule } from './eval.js';
import type { Ipsets } from './ipset.js';
import { serviceName, type ForwardMethod, type Ipvs, type IpvsPacket, type RealServer, type VirtualService } from './ipvs.js';
import { tablePresent } from './save.js';
import { RecentTables, type NfAcct } from './recent.js';

/** The IPVS connection the packet on its way belongs to (skb->ipvs_property and what xt_ipvs looks up). */
interface VsConnInfo {
  proto: number; client: number; cport: number; server: number; sport: number;
  vaddr: number; vport: number; fwd: ForwardMethod;
  /** the controlling connection's virtual port (a persistence template's), or null */
  ctlVport: number | null;
}

export interface HostAddr { addr: number; prefixLen: number }
export interface HostIface {
  name: string; mac: string; addrs: HostAddr[];
  /** the L3 MTU (1500 when not given): a forwarded packet with DF set that exceeds it gets ICMP fragmentation needed */
  mtu?: number;
}
export interface HostRoute { net: number; prefixLen: number; via: number | null; dev: string; src: number | null }
export interface HostConfig {
  ifaces: HostIface[];
  routes: HostRoute[];
  ipForward: boolean;
  routeLocalnet: boolean;
  tcpLoose: boolean;
  /**
   * net.ipv4.vs.conntrack: the packets IPVS forwards stay tracked (their
   * connection's reply tuple names the real server), so nat POSTROUTING and
   * conntrack see them; kube-proxy sets 1. The kernel's default, 0, leaves
   * them untracked.
   */
  vsConntrack?: boolean;
  /** net.netfilter.nf_conntrack_tcp_be_liberal: out-of-window segments are not INVALID (default 0) */
  tcpBeLiberal?: boolean;
  /** net.netfilter.nf_conntrack_tcp_ignore_invalid_rst: an out-of-window RST is not INVALID (default 0) */
  tcpIgnoreInvalidRst?: boolean;
}

/** Where a host's routing decisions come from when it keeps a FIB of its own (netstack/route.ts). */
export interface HostRouter {
  /** the route to 'dst': its device, next hop (null: on link) and preferred source; null: none usable */
  route(dst: number): { dev: string; via: number | null; src: number | null } | null;
  /** is 'a' one of the host's own (a local route)? */
  isLocal(a: number): boolean;
}

export interface HookReport {
  /** an iptables table, or 'ipvs' for IPVS's own hook functions */
  hook: Hook; table: TableName | 'ipvs'; verdict: string;
  /** the rules evaluated (the compiled index skips rules that cannot match) */
  traversed: TraceRule[];
  /** the rules the kernel would have checked */
  checked: number;
  /** what IPVS did (table 'ipvs') */
  ipvs?: IpvsStep;
}

export interface IpvsStep {
  /**
   * 'scheduled': a new connection, its real server chosen; 'forwarded': a
   * packet of a known connection sent on; 'reply': a real server's packet
   * given the virtual address back as its source; 'no-server': nothing to
   * schedule to (ip_vs_leave: ICMP port unreachable); 'server-gone': the
   * connection's server was deleted (dropped)
   */
  action: 'scheduled' | 'forwarded' | 'reply' | 'no-server' | 'server-gone';
  /** the virtual service and its scheduler, `TCP  10.96.0.10:80 rr` */
  service: string;
  /** the real server, `10.244.1.5:8080` */
  server: string | null;
  fwd: ForwardMethod | null;
  /** the IPVS connection's state after the packet (`SYN_RECV`, `ESTABLISHED`, `UDP` …) */
  state: string | null;
  /** 'scheduled': the real servers the scheduler could have picked, in its order (listed when read) */
  readonly candidates?: string[];
}

/** A frame leaving the host: its interface and the next hop its Ethernet destination is resolved for. */
export interface Egress { iface: string; frame: Uint8Array; hop: number }

export interface StackResult {
  verdict: 'ACCEPT' | 'DROP' | 'REJECT';
  /** 'forward', 'local' (delivered to the host), 'out' (sent by the host), 'ipvs' (sent on by IPVS), or the hook that dropped it */
  path: string;
  hooks: HookReport[];
  /** the frame as it leaves, its interface and next hop (null for local delivery or a drop) */
  out: Egress | null;
  /** the answer the host sent back (REJECT's, an ICMP error of the forwarding path, the stack's), how it leaves */
  reply: Egress | null;
  ctinfo: CtInfo;
}

const mask = (len: number): number => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);
const inNet = (a: number, net: number, len: number): boolean => ((a & mask(len)) >>> 0) === ((net & mask(len)) >>> 0);

export class NfStack {
  readonly ct: NfConntrack;
  /** the rule evaluator, made on first use (`ev`): a host whose packets never met a hook has none */
  private evObj: Evaluator | null = null;
  /** the rules (the evaluator's, once made) and what the evaluator is made with */
  private readonly rules: Ruleset;
  /** the namespace's ipsets (`-m set`), when given */
  private readonly ipsets: Ipsets | null;
  private readonly seed: number;
  readonly host: HostConfig;
  private readonly r = new NfCtResult();
  /** the skb mark of the packet on its way */
  private mark = 0;
  /** the time of the packet on its way (for the answers REJECT makes) */
  private now = 0;
  /** conntrack runs only when the rules need it: a nat table, or a rule reading or setting connection state */
  readonly tracking: boolean;
  /** the tables the rules created (only they have hooks) */
  private readonly tables: Set<TableName>;
  /** IPVS (kube-proxy's ipvs mode), when the host has virtual services */
  readonly ipvs: Ipvs | null;
  private readonly vs: IpvsPacket = { proto: 0, src: 0, sport: 0, dst: 0, dport: 0, fwmark: 0, tcpFlags: 0 };

  /** a host's sockets: true when one took the packet delivered locally (no stack answer then) */
  private readonly local: ((frame: Uint8Array, inIface: string) => boolean) | null;

  /** an interface's MTU when the host knows better than HostIface.mtu (its link's) */
  private readonly mtuOf: ((dev: string) => number) | null;
  /** the host's FIB, when it keeps one (netstack/route.ts): routes and local addresses from it */
  private readonly router: HostRouter | null;
  /** this namespace's `-m recent` lists (kept across rule reloads as the kernel keeps them) */
  readonly recent: RecentTables;
  /** this namespace's nfacct objects (`-m nfacct`), when given */
  readonly nfacct: NfAcct | null;
  /** the packet on its way is the host's own (it has a socket: no TTL correction in xt_recent) */
  private own = false;
  /** the frame and out interface of the chain being walked (for xt_recent's TTL) */
  private curFrame: Uint8Array = new Uint8Array(0);
  private curOut: string | null = null;
  /** the IPVS connection the packet on its way was handled by (skb->ipvs_property), or null */
  private vsConn: VsConnInfo | null = null;
  /** the table objects the recent lists were last synced with (parseRestore replaces them) */
  private synced: Table[] = [];

  constructor(rs: Ruleset, host: HostConfig, opts: { seed?: number; ipsets?: Ipsets; ipvs?: Ipvs;
    local?: (frame: Uint8Array, inIface: string) => boolean; mtu?: (dev: string) => number; router?: HostRouter;
    /** the namespace's nfacct objects, which `-m nfacct` rules count into */
    nfacct?: NfAcct;
    /** the namespace's recent lists, to share them (default: new, empty ones) */
    recent?: RecentTables } = {}) {
    this.host = host;
    this.router = opts.router ?? null;
    this.local = opts.local ?? null;
    this.mtuOf = opts.mtu ?? null;
    this.ipvs = opts.ipvs ?? null;
    this.ct = new NfConntrack({ seed: opts.seed ?? 1, tcpLoose: host.tcpLoose, tcpBeLiberal: host.tcpBeLiberal ?? false,
      tcpIgnoreInvalidRst: host.tcpIgnoreInvalidRst ?? false });
    const sets = opts.ipsets;
    // as iptables-restore, a rule naming a set that does not exist is refused when loaded
    for (const t of rs.tables.values()) for (const c of t.chains.values()) for (const r of c.rules) {
      for (const m of r.matches) {
        if (m.kind === 'set' && sets?.get(m.name) === undefined) {
          throw new NetfilterError('NF_NO_SET', `line ${r.line}: Set ${m.name} doesn't exist.`);
        }
        // xt_nfacct's checkentry: the object must exist (ENOENT)
        if (m.kind === 'nfacct' && opts.nfacct?.has(m.name) !== true) {
          throw new NetfilterError('NF_NO_NFACCT', `line ${r.line}: RULE_APPEND failed (No such file or directory): rule in chain ${c.name} (nfacct ${m.name})`);
        }
      }
    }
    this.nfacct = opts.nfacct ?? null;
    this.recent = opts.recent ?? new RecentTables();
    this.rules = rs;
    this.seed = opts.seed ?? 1;
    this.ipsets = sets ?? null;
    this.syncRules();
    // IPVS with vs/conntrack holds conntrack's hooks itself (ip_vs_register_conntrack)
    this.tracking = needsConntrack(rs) || (this.ipvs !== null && host.vsConntrack === true);
    this.tables = new Set((['raw', 'mangle', 'nat', 'filter'] as const).filter((t) => tablePresent(rs, t)));
  }

  /** The rule evaluator over this namespace's rules (made the first time a packet or a caller needs it). */
  get ev(): Evaluator {
    return this.evObj ??= this.makeEvaluator();
  }

  private makeEvaluator(): Evaluator {
    const sets = this.ipsets, acct = this.nfacct;
    return new Evaluator(this.rules, {
      addrType: (a) => this.addrType(a),
      ...(sets !== null ? { setMatches: (name, flags, p, m) => sets.matches(name, flags, p, m) } : {}),
      recent: (m, p) => this.recent.match(m, m.side === 'src' ? p.src : p.dst, this.recentTtl(), this.now),
      ...(acct !== null ? { nfacct: (name: string, p: NfPacket) => acct.count(name, p.length) } : {}),
      ipvs: (m, p) => this.ipvsMatch(m, p),
    }, this.seed);
  }

  /**
   * After the rules changed: the recent lists follow what the rules name
   * (RecentTables.sync). Walks call it themselves when parseRestore replaced
   * a table; call it after changing rules in place.
   */
  syncRules(): void {
    const rs = this.rules;
    this.synced = (['raw', 'mangle', 'nat', 'filter'] as const).map((t) => rs.table(t));
    this.recent.sync(rs);
  }

  /** The TTL xt_recent records and compares: the packet's, plus one on a forwarded packet after routing (its TTL before forwarding). */
  private recentTtl(): number {
    const ttl = this.curFrame[22] ?? 0;
    return this.curOut !== null && !this.own ? (ttl + 1) & 255 : ttl;
  }

  /**
   * xt_ipvs's ipvs_mt for 'p': `--ipvs` alone asks whether IPVS handled the
   * packet; any other option needs that and the IPVS connection found for
   * the packet as it is now (client → real server, after IPVS's NAT: the
   * lookup ip_vs_conn_out_get does with the tuple inverted — so a reply
   * with the virtual address back, or a direct-routing or tunnelled packet,
   * finds none), then checks its protocol, virtual port, controlling
   * connection's port, conntrack direction, forwarding method, virtual
   * address, each with its `!`.
   */
  private ipvsMatch(m: IpvsMatch, p: NfPacket): boolean {
    const c = this.vsConn;
    const only = m.vproto === null && m.vaddr === null && m.vport === null && m.vdir === null && m.vmethod === null && m.vportctl === null;
    if (only) return (c !== null) !== (m.property === false);
    if (c === null) return false;
    if (m.vproto !== null && (p.proto === m.vproto.num) === m.vproto.invert) return false;
    if (p.proto !== 6 && p.proto !== 17 && p.proto !== 132) return false;
    if (p.fragment || p.proto !== c.proto || p.src !== c.client || p.sport !== c.cport || p.dst !== c.server || p.dport !== c.sport) return false;
    if (m.vport !== null && (c.vport === m.vport.port) === m.vport.invert) return false;
    if (m.vportctl !== null && (c.ctlVport !== null && c.ctlVport === m.vportctl.port) === m.vportctl.invert) return false;
    if (m.vdir !== null && (this.r.conn === null || (this.r.dir === 1) !== (m.vdir === 'REPLY'))) return false;
    if (m.vmethod !== null && ((c.fwd === 'masq' ? 'MASQ' : c.fwd === 'route' ? 'GATE' : 'IPIP') === m.vmethod.method) === m.vmethod.invert) return false;
    if (m.vaddr !== null && ((((c.vaddr ^ m.vaddr.addr) & m.vaddr.mask) >>> 0) === 0) === m.vaddr.invert) return false;
    return true;
  }

  // ---- host facts -----------------------------------------------------------------------------

  isLocal(a: number): boolean {
    if (this.router !== null) return this.router.isLocal(a);
    if ((a >>> 24) === 127) return true;
    return this.host.ifaces.some((i) => i.addrs.some((x) => x.addr === a));
  }

  addrType(a: number): AddrType {
    if (this.isLocal(a)) return 'LOCAL';
    if (a === 0xffffffff || this.host.ifaces.some((i) => i.addrs.some((x) => x.prefixLen < 31 && ((a | mask(x.prefixLen)) >>> 0) === 0xffffffff && inNet(a, x.addr, x.prefixLen)))) return 'BROADCAST';
    if ((a >>> 28) === 14) return 'MULTICAST';
    return 'UNICAST';
  }

  /** The longest-prefix route to 'dst' (connected routes from the interfaces' addresses first among equals). */
  route(dst: number): { dev: string; via: number | null; src: number | null } | null {
    if (this.router !== null) return this.router.route(dst);
    let best: { dev: string; via: number | null; src: number | null; len: number } | null = null;
    for (const i of this.host.ifaces) {
      for (const a of i.addrs) {
        if (inNet(dst, a.addr, a.prefixLen) && (best === null || a.prefixLen > best.len)) best = { dev: i.name, via: null, src: a.addr, len: a.prefixLen };
      }
    }
    for (const r of this.host.routes) {
      if (inNet(dst, r.net, r.prefixLen) && (best === null || r.prefixLen > best.len)) best = { dev: r.dev, via: r.via, src: r.src, len: r.prefixLen };
    }
    return best;
  }

  private iface(name: string): HostIface | undefined { return this.host.ifaces.find((i) => i.name === name); }

  /** The primary address of 'dev' in the subnet of 'hop', else its primary address (MASQUERADE, REJECT). */
  private addrFor(dev: string, hop: number): number {
    if (dev === 'lo' && this.iface('lo') === undefined) return 0x7f000001;
    const i = this.iface(dev);
    if (i === undefined || i.addrs.length === 0) return 0;
    return (i.addrs.find((a) => inNet(hop, a.addr, a.prefixLen)) ?? i.addrs[0]!).addr;
  }

  // ---- the path ---------------------------------------------------------------------------------

  /** A frame arriving on 'inIface'. The frame is rewritten in place as NAT and TTL require. */
  receive(frame: Uint8Array, inIface: string, now: number): StackResult {
    this.now = now;
    this.own = false;
    this.vsConn = null;
    // ip_rcv trims what lies past the IP total length (Ethernet padding)
    if (frame.length > 14 + be16(frame, 16)) frame = frame.subarray(0, 14 + be16(frame, 16));
    const hooks: HookReport[] = [];
    // the packet as it arrived, for what REJECT and ICMP errors quote; with no rules nothing rewrites
    // it before an error is built, so the frame itself serves
    const original = this.tables.size === 0 ? frame : frame.slice();
    const r = this.r;
    this.mark = 0;
    let res = this.chain('raw', 'PREROUTING', frame, inIface, null, 'UNTRACKED', hooks);
    if (res !== null) return this.end(res, 'PREROUTING', hooks, original, inIface);
    if (this.tracking) this.ct.track(frame, 14, frame.length, now, r);
    else { r.conn = null; r.dir = 0; r.info = 'UNTRACKED'; r.full = false; }
    // nf_conntrack_in: a full table with nothing to evict drops the packet before any rule
    if (r.full) return this.drop('conntrack', hooks, r.info);
    const info = r.info;
    res = this.chain('mangle', 'PREROUTING', frame, inIface, null, info, hooks);
    if (res !== null) return this.end(res, 'PREROUTING', hooks, original, inIface);
    if (!this.nat('PREROUTING', 'dst', frame, inIface, null, info, hooks, now)) return this.drop('PREROUTING', hooks, info);
    const dst = be32(frame, 30);
    if (this.isLocal(dst) && ((dst >>> 24) !== 127 || this.host.routeLocalnet)) {
      res = this.chain('mangle', 'INPUT', frame, inIface, null, info, hooks) ?? this.chain('filter', 'INPUT', frame, inIface, null, info, hooks);
      if (res !== null) return this.end(res, 'INPUT', hooks, original, inIface);
      // IPVS after filter INPUT: a real server's reply (98), then a request for a virtual service (99)
      this.ipvsReply('INPUT', frame, hooks, now);
      const vs = this.ipvsRequest('INPUT', frame, original, inIface, hooks, now);
      if (vs !== null) return vs;
      this.nat('INPUT', 'src', frame, inIface, null, r.info, hooks, now);
      this.ct.confirm(r);
      // a socket takes it, or the host's own stack answers: its reply leaves through OUTPUT and
      // POSTROUTING, where conntrack undoes the NAT the request met
      if (this.local?.(frame, inIface) === true) return { verdict: 'ACCEPT', path: 'local', hooks, out: null, reply: null, ctinfo: info };
      const answer = this.stackAnswer(frame, inIface);
      const back = answer === null ? null : this.send(answer, now);
      return { verdict: 'ACCEPT', path: 'local', hooks, out: null, reply: back?.out ?? null, ctinfo: info };
    }
    // not for this host: forwarding off (or a 127/8 destination) drops it silently (ip_error)
    if (!this.host.ipForward || (dst >>> 24) === 127) return this.drop('routing', hooks, info);
    const rt = this.route(dst);
    // no route: ICMP net unreachable; TTL 1: time exceeded; DF and over the egress MTU:
    // fragmentation needed — each before the FORWARD hook, quoting the packet as it arrived
    if (rt === null) return this.forwardError('no-route', 3, 0, 0, original, inIface, hooks, info, now);
    const ttl = frame[22]!;
    if (ttl <= 1) return this.forwardError('ttl', 11, 0, 0, original, inIface, hooks, info, now);
    const mtu = this.mtuOf?.(rt.dev) ?? this.iface(rt.dev)?.mtu ?? 1500;
    if ((frame[20]! & 0x40) !== 0 && be16(frame, 16) > mtu) return this.forwardError('mtu', 3, 4, mtu, original, inIface, hooks, info, now);
    // ip_forward: TTL − 1 before the FORWARD hook
    decTtl(frame);
    // what a REJECT from here on quotes: the packet as it arrived, TTL already decremented
    if (original !== frame) decTtl(original);
    res = this.chain('mangle', 'FORWARD', frame, inIface, rt.dev, info, hooks) ?? this.chain('filter', 'FORWARD', frame, inIface, rt.dev, info, hooks);
    if (res !== null) return this.end(res, 'FORWARD', hooks, original, inIface);
    // IPVS after filter FORWARD: a real server's reply gets the virtual address back
    this.ipvsReply('FORWARD', frame, hooks, now);
    return this.postrouting(frame, original, inIface, rt.dev, rt.via ?? dst, info, hooks, now, 'forward');
  }

  /**
   * A frame the host itself sends (its source address set by the caller, as
   * a bound socket would; `sourceFor` gives an unbound socket's): raw →
   * conntrack → mangle → nat OUTPUT (DNAT), then the route is looked up
   * again for the new destination — the source stays what it was — filter
   * OUTPUT, POSTROUTING. A 127/8 source leaving for another host is a
   * martian unless route_localnet is on: dropped at the re-route, before
   * confirmation, so no conntrack entry stays (BEHAVIOUR.md Linux §13-14).
   * A packet for a local address is delivered through INPUT.
   */
  send(frame: Uint8Array, now: number): StackResult {
    this.mark = 0;
    this.own = true;
    this.vsConn = null;
    return this.localOut(frame, now);
  }

  /**
   * LOCAL_OUT with the skb mark as it is (an IPVS tunnel's outer packet keeps
   * the inner one's); 'attach': the connection the packet answers, carried
   * instead of tracking it (REJECT's reset).
   */
  private localOut(frame: Uint8Array, now: number, attach: { conn: NfConn; dir: number } | null = null): StackResult {
    this.now = now;
    const hooks: HookReport[] = [];
    const original = this.tables.size === 0 ? frame : frame.slice();
    const r = this.r;
    const first = this.route(be32(frame, 30));
    const out0 = this.isLocal(be32(frame, 30)) ? 'lo' : first?.dev ?? null;
    let res = this.chain('raw', 'OUTPUT', frame, null, out0, 'UNTRACKED', hooks);
    if (res !== null) return this.end(res, 'OUTPUT', hooks, original, 'lo');
    if (attach !== null && this.ct.attach(frame, 14, frame.length, attach.conn, attach.dir, r)) { r.full = false; /* carried, not tracked */ }
    else if (this.tracking) this.ct.track(frame, 14, frame.length, now, r);
    else { r.conn = null; r.dir = 0; r.info = 'UNTRACKED'; r.full = false; }
    if (r.full) return this.drop('conntrack', hooks, r.info);
    const info = r.info;
    res = this.chain('mangle', 'OUTPUT', frame, null, out0, info, hooks);
    if (res !== null) return this.end(res, 'OUTPUT', hooks, original, 'lo');
    if (!this.nat('OUTPUT', 'dst', frame, null, out0, info, hooks, now)) return this.drop('OUTPUT', hooks, info);
    // IPVS after nat OUTPUT: a local real server's reply (-99), then a local client's request (-98)
    this.ipvsReply('OUTPUT', frame, hooks, now);
    const vs = this.ipvsRequest('OUTPUT', frame, original, null, hooks, now);
    if (vs !== null) return vs;
    // the re-route after OUTPUT's DNAT
    const dst = be32(frame, 30), src = be32(frame, 26);
    // filter OUTPUT still sees the interface of the route before a DNAT (the hook's out device)
    if (this.isLocal(dst)) {
      res = this.chain('filter', 'OUTPUT', frame, null, out0, info, hooks);
      if (res !== null) return this.end(res, 'OUTPUT', hooks, original, 'lo');
      return this.loopback(frame, original, info, hooks, now);
    }
    const rt = this.route(dst);
    if (rt === null || ((src >>> 24) === 127 && !this.host.routeLocalnet)) return this.drop('routing', hooks, info);
    res = this.chain('filter', 'OUTPUT', frame, null, out0, info, hooks);
    if (res !== null) return this.end(res, 'OUTPUT', hooks, original, 'lo');
    return this.postrouting(frame, original, 'lo', rt.dev, rt.via ?? dst, info, hooks, now, 'out');
  }

  // ---- IPVS ------------------------------------------------------------------------------------

  /** The packet as IPVS reads it (TCP/UDP, not a later fragment), or null. */
  private vsPacket(frame: Uint8Array): IpvsPacket | null {
    const proto = frame[23]!;
    if ((proto !== 6 && proto !== 17) || (be16(frame, 20) & 0x1fff) !== 0) return null;
    const l4 = 14 + (frame[14]! & 15) * 4, p = this.vs;
    p.proto = proto; p.src = be32(frame, 26); p.dst = be32(frame, 30); p.sport = be16(frame, l4); p.dport = be16(frame, l4 + 2);
    p.fwmark = this.mark; p.tcpFlags = proto === 6 ? frame[l4 + 13]! : 0;
    return p;
  }

  private vsReport(hook: Hook, verdict: string, hooks: HookReport[], action: IpvsStep['action'], svc: VirtualService, d: RealServer | null, c: number): void {
    const v = this.ipvs!;
    const name = (x: RealServer): string => `${ipv4ToString(x.addr)}:${x.port}`;
    const step: IpvsStep = {
      action, service: `${serviceName(svc)} ${svc.scheduler}`, server: d === null ? null : name(d),
      fwd: d?.fwd ?? null, state: c >= 0 ? v.connState(c) : null,
    };
    if (action === 'scheduled') {
      // only traces and the CLI read the choices: listed when read, not for every new connection
      let list: string[] | null = null;
      Object.defineProperty(step, 'candidates', { enumerable: true, get: () => (list ??= v.candidates(svc).map(name)) });
    }
    hooks.push({ hook, table: 'ipvs', verdict, traversed: [], checked: 0, ipvs: step });
  }

  /**
   * Force the next load-balancing choice of the packet about to be processed
   * (a trace fork): the k-th target of a run of `statistic --mode random`
   * rules (Evaluator.forceRandom), the k-th candidate of an IPVS scheduler;
   * -1 ends it.
   */
  force(k: number): void {
    this.ev.forceRandom(k);
    if (this.ipvs !== null) this.ipvs.force = k;
  }

  /** End a forced choice; whether it was made (a random rule met, or an IPVS server picked). */
  unforce(): boolean {
    const used = this.ev.forcedUsed() || (this.ipvs !== null && this.ipvs.force < 0);
    this.force(-1);
    return used;
  }

  /**
   * ip_vs_reply4 (LOCAL_IN, FORWARD) and ip_vs_local_reply4 (LOCAL_OUT): a
   * real server's packet of a NAT connection gets the virtual address and
   * port back as its source (snat_handler), and steps the connection.
   */
  private ipvsReply(hook: Hook, frame: Uint8Array, hooks: HookReport[], now: number): void {
    const v = this.ipvs;
    const p = v === null ? null : this.vsPacket(frame);
    if (v === null || p === null) return;
    const d = v.reply(p, now);
    if (d === null || d.fwd !== 'masq') return;
    const c = v.lastConn;
    this.vsConn = { proto: p.proto, client: p.dst, cport: p.dport, server: p.src, sport: p.sport, vaddr: v.connVip(c), vport: v.connVport(c), fwd: d.fwd, ctlVport: null };
    rewriteAddrPort(frame, 'src', v.connVip(c), v.connVport(c));
    this.vsReport(hook, 'ACCEPT', hooks, 'reply', d.svc, d, c);
  }

  /**
   * ip_vs_remote_request4 (LOCAL_IN) and ip_vs_local_request4 (LOCAL_OUT):
   * a packet for a virtual service is scheduled (a new TCP connection only
   * by a SYN without RST, tcp_conn_schedule) and sent on to its real server:
   * NAT (-m) rewrites the destination and, with vs/conntrack, makes the
   * connection's reply tuple name the real server; direct routing (-g)
   * sends it unchanged to the server's address as next hop; IPIP (-i)
   * wraps it in an outer header to the server. TTL − 1 (decrement_ttl),
   * then LOCAL_OUT again: raw, mangle, nat (a binding already made is not
   * redone), filter OUTPUT, POSTROUTING. A real server on this host: the
   * packet goes on to local delivery ('local', null returned). No server:
   * ICMP port unreachable (ip_vs_leave). Null: IPVS lets the packet go on.
   */
  private ipvsRequest(hook: Hook, frame: Uint8Array, original: Uint8Array, inIface: string | null, hooks: HookReport[], now: number): StackResult | null {
    const v = this.ipvs;
    const p = v === null ? null : this.vsPacket(frame);
    if (v === null || p === null) return null;
    const known = v.findConn(p, now) >= 0;
    if (!known && p.proto === 6 && ((p.tcpFlags & 0x04) !== 0 || (p.tcpFlags & 0x02) === 0)) return null;
    const svc = v.lookupService(p);
    if (svc === null) return null;
    const r = this.r;
    // expire_nodest_conn drops the packet of a confirmed connection whose server is gone (ip_vs_in_hook's old_ct)
    const d = v.schedule(svc, p, now, r.conn !== null && (r.conn.status & IPS_CONFIRMED) !== 0);
    const c = v.lastConn;
    if (d === null) {
      if (known) {
        this.vsReport(hook, 'DROP', hooks, 'server-gone', svc, null, c);
        return this.drop('ipvs', hooks, r.info);
      }
      this.vsReport(hook, 'DROP', hooks, 'no-server', svc, null, -1);
      const info = r.info;
      const reply = this.answer(this.icmpError(3, 3, 0, original, inIface ?? 'lo', inIface !== null), now);
      return { verdict: 'REJECT', path: 'ipvs', hooks, out: null, reply, ctinfo: info };
    }
    const action = known ? 'forwarded' : 'scheduled';
    // skb->ipvs_property from here on, and the connection xt_ipvs finds (client → real server)
    this.vsConn = { proto: p.proto, client: p.src, cport: p.sport, server: d.addr, sport: d.port, vaddr: v.connVip(c), vport: v.connVport(c), fwd: d.fwd,
      ctlVport: svc.persistent ? (svc.fwmark !== 0 ? 0 : svc.port) : null };
    if (d.fwd === 'masq') rewriteAddrPort(frame, 'dst', d.addr, d.port);
    if (r.conn !== null) {
      if (!this.host.vsConntrack) {
        // ip_vs_notrack: the packet leaves untracked, its unconfirmed connection is dropped
        r.conn = null; r.info = 'UNTRACKED';
      } else if (d.fwd === 'masq' && r.dir === 0 && (r.conn.status & IPS_CONFIRMED) === 0) {
        this.ct.alterReplySource(r.conn, d.addr, d.port);
      }
    }
    if (this.isLocal(d.addr)) {
      this.vsReport(hook, 'ACCEPT', hooks, action, svc, d, c);
      return null;
    }
    const rt = this.route(d.addr);
    // no route, a loopback source leaving the host (crosses_local_route_boundary), a TTL that would expire
    if (rt === null || (be32(frame, 26) >>> 24) === 127 || frame[22]! <= 1) {
      this.vsReport(hook, 'DROP', hooks, action, svc, d, c);
      return this.drop('ipvs', hooks, r.info);
    }
    decTtl(frame);
    this.vsReport(hook, 'STOLEN', hooks, action, svc, d, c);
    if (d.fwd === 'tunnel') {
      // ip_vs_tunnel_xmit: the inner connection is confirmed, the outer packet starts afresh through LOCAL_OUT
      this.ct.confirm(r);
      const outer = this.localOut(ipip(frame, this.sourceFor(d.addr), d.addr), now);
      return { ...outer, hooks: [...hooks, ...outer.hooks], path: outer.path === 'out' ? 'ipvs' : outer.path };
    }
    const dev = rt.dev, hop = d.fwd === 'route' ? d.addr : rt.via ?? d.addr;
    const from = inIface ?? 'lo';
    for (const t of ['raw', 'mangle'] as const) {
      const res = this.chain(t, 'OUTPUT', frame, null, dev, r.info, hooks);
      if (res !== null) return this.end(res, 'OUTPUT', hooks, original, from);
    }
    if (!this.nat('OUTPUT', 'dst', frame, null, dev, r.info, hooks, now)) return this.drop('OUTPUT', hooks, r.info);
    const res = this.chain('filter', 'OUTPUT', frame, null, dev, r.info, hooks);
    if (res !== null) return this.end(res, 'OUTPUT', hooks, original, from);
    return this.postrouting(frame, original, from, dev, hop, r.info, hooks, now, 'ipvs');
  }

  /** The source address an unbound socket of this host uses towards 'dst' (the route's src, else the device's address). */
  sourceFor(dst: number): number {
    if (this.isLocal(dst)) return dst;
    const rt = this.route(dst);
    if (rt === null) return 0;
    return rt.src ?? this.addrFor(rt.dev, rt.via ?? dst);
  }

  /**
   * A packet of this host for one of its own addresses: POSTROUTING out of
   * lo (the connection is confirmed there), then in again on lo:
   * PREROUTING (conntrack keeps the packet's entry; a binding made is not
   * redone), INPUT, delivery — where the host's stack answers, no socket
   * listening (its answer goes out the same way). 'out' is the packet as it
   * crossed lo.
   */
  private loopback(frame: Uint8Array, original: Uint8Array, info: CtInfo, hooks: HookReport[], now: number): StackResult {
    const dst = be32(frame, 30);
    let res = this.chain('mangle', 'POSTROUTING', frame, null, 'lo', info, hooks);
    if (res !== null) return this.end(res, 'POSTROUTING', hooks, original, 'lo');
    if (!this.nat('POSTROUTING', 'src', frame, null, 'lo', info, hooks, now, dst)) return this.drop('POSTROUTING', hooks, info);
    this.ct.confirm(this.r);
    const onLo = frame.slice();
    for (const t of ['raw', 'mangle'] as const) {
      res = this.chain(t, 'PREROUTING', frame, 'lo', null, info, hooks);
      if (res !== null) return this.end(res, 'PREROUTING', hooks, original, 'lo');
    }
    if (!this.nat('PREROUTING', 'dst', frame, 'lo', null, info, hooks, now)) return this.drop('PREROUTING', hooks, info);
    for (const [t, h] of [['mangle', 'INPUT'], ['filter', 'INPUT']] as const) {
      res = this.chain(t, h, frame, 'lo', null, info, hooks);
      if (res !== null) return this.end(res, h, hooks, original, 'lo');
    }
    this.nat('INPUT', 'src', frame, 'lo', null, info, hooks, now);
    if (this.local?.(frame, 'lo') === true) return { verdict: 'ACCEPT', path: 'local', hooks, out: { iface: 'lo', frame: onLo, hop: dst }, reply: null, ctinfo: info };
    const answer = this.stackAnswer(frame, 'lo');
    const back = answer === null ? null : this.send(answer, now);
    return { verdict: 'ACCEPT', path: 'local', hooks, out: { iface: 'lo', frame: onLo, hop: dst }, reply: back?.out ?? null, ctinfo: info };
  }

  /** POSTROUTING and out. */
  private postrouting(frame: Uint8Array, original: Uint8Array, inIface: string, dev: string, hop: number, info: CtInfo, hooks: HookReport[],
    now: number, path: string): StackResult {
    const res = this.chain('mangle', 'POSTROUTING', frame, inIface, dev, info, hooks);
    if (res !== null) return this.end(res, 'POSTROUTING', hooks, original, inIface);
    if (!this.nat('POSTROUTING', 'src', frame, inIface, dev, info, hooks, now, hop)) return this.drop('POSTROUTING', hooks, info);
    this.ct.confirm(this.r);
    return { verdict: 'ACCEPT', path, hooks, out: { iface: dev, frame, hop }, reply: null, ctinfo: info };
  }

  /**
   * The nat table at 'hook' for a connection's first packet, binding its
   * 'manip' (dst at PREROUTING/OUTPUT, src at INPUT/POSTROUTING; no rule
   * binds the identity), then that manip on the packet; false on DROP.
   */
  private nat(hook: Hook, manip: 'src' | 'dst', frame: Uint8Array, inIface: string | null, outIface: string | null, info: CtInfo,
    hooks: HookReport[], now: number, hop = 0): boolean {
    const r = this.r;
    if (r.conn !== null && info === 'NEW' && !this.ct.natInitialized(r.conn, manip) && this.tables.has('nat')) {
      const n = this.run('nat', hook, frame, inIface, outIface, info);
      hooks.push({ hook, table: 'nat', verdict: verdictText(n), traversed: n.traversed, checked: n.checked });
      if (n.verdict.kind === 'DROP') return false;
      this.ct.setupNat(r.conn, manip, n.verdict.kind === 'NAT' ? this.natRange(n.verdict.target, manip, inIface, outIface, hop) : null, now);
    }
    this.ct.manip(frame, r, manip);
    return true;
  }

  /**
   * The range a nat target binds for 'manip': SNAT's or DNAT's own;
   * MASQUERADE's source from the out interface, REDIRECT's destination the
   * in interface's primary address (127.0.0.1 for locally sent packets).
   */
  private natRange(t: Extract<Target, { kind: 'DNAT' | 'SNAT' | 'MASQUERADE' | 'REDIRECT' }>, manip: 'src' | 'dst', inIface: string | null, outIface: string | null, hop: number): NfNatRange | null {
    if ((t.kind === 'SNAT' && manip === 'src') || (t.kind === 'DNAT' && manip === 'dst')) return t.to === null ? null : { ...t.to, persistent: t.persistent };
    let a: number;
    if (t.kind === 'MASQUERADE' && manip === 'src' && outIface !== null) a = this.addrFor(outIface, hop);
    else if (t.kind === 'REDIRECT' && manip === 'dst') a = inIface === null ? 0x7f000001 : this.iface(inIface)?.addrs[0]?.addr ?? 0x7f000001;
    else return null;
    return { addrMin: a, addrMax: a, portMin: t.toPorts?.min ?? 0, portMax: t.toPorts?.max ?? 0 };
  }

  /** Run one table's chain; null when the packet goes on, else the ending result. */
  private chain(table: TableName, hook: Hook, frame: Uint8Array, inIface: string | null, outIface: string | null, info: CtInfo,
    hooks: HookReport[]): RunResult | null {
    // a table the rules never created has no hooks (nf_tables registers them per table)
    if (!this.tables.has(table)) return null;
    // (through the evaluator: a load deferred until the rules are first read runs now, Evaluator.defer)
    if (this.ev.rs.chain(table, hook) === undefined) return null;
    const n = this.run(table, hook, frame, inIface, outIface, info);
    hooks.push({ hook, table, verdict: verdictText(n), traversed: n.traversed, checked: n.checked });
    if (n.verdict.kind === 'ACCEPT' || n.verdict.kind === 'NAT') return null;
    return n;
  }

  /** One chain walk with the packet's mark carried in and out. */
  private run(table: TableName, hook: Hook, frame: Uint8Array, inIface: string | null, outIface: string | null, info: CtInfo): RunResult {
    const rs = this.ev.rs;
    if (this.synced[0] !== rs.table('raw') || this.synced[1] !== rs.table('mangle') || this.synced[2] !== rs.table('nat') || this.synced[3] !== rs.table('filter')) this.syncRules();
    this.curFrame = frame;
    this.curOut = outIface;
    const p = this.packet(frame, inIface, outIface, info);
    p.mark = this.mark;
    const n = this.ev.run(table, hook, p);
    this.mark = p.mark;
    // CONNMARK's change, on the connection
    const c = this.r.conn;
    if (c !== null) c.mark = p.ctMark;
    return n;
  }

  private drop(where: string, hooks: HookReport[], info: CtInfo): StackResult {
    return { verdict: 'DROP', path: where, hooks, out: null, reply: null, ctinfo: info };
  }

  /** A chain's DROP or REJECT. */
  private end(res: RunResult, hook: Hook, hooks: HookReport[], original: Uint8Array, inIface: string): StackResult {
    const info = this.r.info;
    if (res.verdict.kind !== 'REJECT') return this.drop(hook, hooks, info);
    const reply = this.answer(this.reject(res.verdict.with, original, inIface, hook), this.now);
    return { verdict: 'REJECT', path: hook, hooks, out: null, reply, ctinfo: info };
  }

  /**
   * Send 'made', an answer this host built (REJECT's, an ICMP error), as its
   * own packet: through OUTPUT and POSTROUTING (over lo to a local address),
   * carrying the connection of the packet it answers (nf_ct_attach).
   */
  private answer(made: { frame: Uint8Array } | null, now: number): Egress | null {
    if (made === null) return null;
    const attach = this.r.conn !== null ? { conn: this.r.conn, dir: this.r.dir } : null;
    this.mark = 0;
    return this.localOut(made.frame, now, attach).out;
  }

  /**
   * What the host's own stack sends back to a packet delivered to it ('pkt'
   * as delivered, after NAT): no socket listens here, so a TCP segment gets a
   * reset (RFC 793: RA acking a SYN, R with the segment's ack otherwise), a
   * UDP datagram an ICMP port unreachable, an echo request its echo reply;
   * nothing else is answered (BEHAVIOUR.md Linux §12: a wrong NodePort gets
   * the stack's RST).
   */
  private stackAnswer(pkt: Uint8Array, inIface: string): Uint8Array | null {
    const proto = pkt[23]!, l4 = 14 + (pkt[14]! & 15) * 4;
    if (proto === 6) {
      if ((pkt[l4 + 13]! & 0x04) !== 0) return null;
      return this.reject('tcp-reset', pkt, inIface, 'INPUT')?.frame ?? null;
    }
    if (proto === 17) return this.reject('icmp-port-unreachable', pkt, inIface, 'INPUT')?.frame ?? null;
    if (proto === 1 && pkt[l4] === 8) {
      const src = be32(pkt, 26), dst = be32(pkt, 30);
      const end = 14 + be16(pkt, 16);
      return new FrameBuilder().eth({ src: pktMac(pkt, 0), dst: pktMac(pkt, 6) }).ipv4({ src: dst, dst: src, ttl: 64, ident: 0 })
        .icmp({ type: 0, code: 0, rest: be32(pkt, l4 + 4) }).payload(pkt.subarray(l4 + 8, end)).build();
    }
    return null;
  }

  /** ipt_REJECT's answer to 'pkt' (the frame as it arrived on 'inIface'). */
  private reject(kind: string, pkt: Uint8Array, inIface: string, hook: Hook): { iface: string; frame: Uint8Array } | null {
    const src = be32(pkt, 26), dst = be32(pkt, 30), proto = pkt[23]!;
    const l4 = 14 + (pkt[14]! & 15) * 4;
    // icmp_send never answers an ICMP error (nor a later fragment)
    if (kind !== 'tcp-reset' && ((proto === 1 && ![0, 8, 13, 14, 15, 16, 17, 18].includes(pkt[l4]!)) || (be16(pkt, 20) & 0x1fff) !== 0)) return null;
    const back = this.route(src);
    const dev = back?.dev ?? inIface;
    const macs = { src: this.iface(inIface)?.mac ?? '00:00:00:00:00:00', dst: pktMac(pkt, 6) };
    const b = new FrameBuilder().eth(macs);
    if (kind === 'tcp-reset') {
      if (proto !== 6) return null;
      const flags = pkt[l4 + 13]!, seq = be32(pkt, l4 + 4), ack = be32(pkt, l4 + 8);
      const dataLen = be16(pkt, 16) - (l4 - 14) - (pkt[l4 + 12]! >>> 4) * 4;
      const isAck = (flags & 0x10) !== 0;
      const f = b.ipv4({ src: dst, dst: src, ttl: 64, ident: 0, df: true })
        .tcp(isAck ? { srcPort: be16(pkt, l4 + 2), dstPort: be16(pkt, l4), seq: ack, ack: 0, flags: 'R', window: 0 }
          : { srcPort: be16(pkt, l4 + 2), dstPort: be16(pkt, l4), seq: 0, ack: (seq + dataLen + ((flags & 0x02) !== 0 ? 1 : 0) + ((flags & 0x01) !== 0 ? 1 : 0)) >>> 0, flags: 'RA', window: 0 })
        .build();
      return { iface: dev, frame: f };
    }
    const code = ({ 'icmp-net-unreachable': 0, 'icmp-host-unreachable': 1, 'icmp-proto-unreachable': 2, 'icmp-port-unreachable': 3,
      'icmp-net-prohibited': 9, 'icmp-host-prohibited': 10, 'icmp-admin-prohibited': 13 } as Record<string, number>)[kind] ?? 3;
    return this.icmpError(3, code, 0, pkt, inIface, hook === 'INPUT');
  }

  /**
   * icmp_send's error 'type'/'code' (with 'rest', the header's second word:
   * the next-hop MTU of fragmentation needed) about 'pkt' (the frame as it
   * arrived on 'inIface'): from the address it was sent to when it was for
   * this host ('toLocal'), else from the address the route back to its
   * sender chooses; TOS 0xc0; quoting its IP header and up to 548 bytes
   * (576 in all). Null for a packet no error answers (an ICMP error, a later
   * fragment).
   */
  icmpError(type: number, code: number, rest: number, pkt: Uint8Array, inIface: string, toLocal: boolean): { iface: string; frame: Uint8Array } | null {
    const src = be32(pkt, 26), dst = be32(pkt, 30), proto = pkt[23]!;
    const l4 = 14 + (pkt[14]! & 15) * 4;
    if ((proto === 1 && ![0, 8, 13, 14, 15, 16, 17, 18].includes(pkt[l4]!)) || (be16(pkt, 20) & 0x1fff) !== 0) return null;
    const back = this.route(src);
    const dev = back?.dev ?? inIface;
    const from = toLocal ? dst : back?.src ?? this.addrFor(dev, back?.via ?? src);
    const quoted = pkt.subarray(14, Math.min(pkt.length, 14 + be16(pkt, 16), 14 + 548));
    const f = new FrameBuilder().eth({ src: this.iface(inIface)?.mac ?? '00:00:00:00:00:00', dst: pktMac(pkt, 6) })
      .ipv4({ src: from, dst: src, ttl: 64, ident: 0, dscp: 48 }).icmp({ type, code, rest }).payload(quoted).build();
    return { iface: dev, frame: f };
  }

  /** A packet the forwarding path refuses ('why'), answered with ICMP 'type'/'code' sent as the host's own packet. */
  private forwardError(why: string, type: number, code: number, rest: number, original: Uint8Array, inIface: string, hooks: HookReport[],
    info: CtInfo, now: number): StackResult {
    const reply = this.answer(this.icmpError(type, code, rest, original, inIface, false), now);
    return { verdict: 'DROP', path: `routing:${why}`, hooks, out: null, reply, ctinfo: info };
  }

  /** The fields the rules read, from the frame as it is now. */
  private packet(frame: Uint8Array, inIface: string | null, outIface: string | null, info: CtInfo): NfPacket {
    const l4 = 14 + (frame[14]! & 15) * 4, proto = frame[23]!;
    const frag = (be16(frame, 20) & 0x1fff) !== 0;
    const ports = !frag && (proto === 6 || proto === 17 || proto === 132);
    const states = new Set<CtStateName>([info === 'UNTRACKED' ? 'UNTRACKED' : info]);
    const c = this.r.conn;
    if (c !== null) {
      if ((c.status & 0x10) !== 0) states.add('SNAT');
      if ((c.status & 0x20) !== 0) states.add('DNAT');
    }
    return {
      src: be32(frame, 26), dst: be32(frame, 30), proto,
      sport: ports ? be16(frame, l4) : proto === 1 ? frame[l4]! : 0,
      dport: ports ? be16(frame, l4 + 2) : proto === 1 ? frame[l4 + 1]! : 0,
      tcpFlags: proto === 6 && !frag ? frame[l4 + 13]! : 0, fragment: frag, length: be16(frame, 16),
      inIface, outIface, mark: 0, ctStates: states, ctMark: c?.mark ?? 0, physIn: null, physOut: null, bridged: false,
    };
  }
}

/**
 * Whether the kernel would track connections for 'rs' (BEHAVIOUR.md Linux §9): nf_conntrack is
 * pulled in by a rule that reads or changes connection state (-m conntrack/state/connmark, NAT
 * targets, CONNMARK); a nat table alone does not (iptables-nft registers its chains without conntrack,
 * and without an entry the nat chains are never walked).
 */
function needsConntrack(rs: Ruleset): boolean {
  for (const t of rs.tables.values()) {
    for (const c of t.chains.values()) {
      for (const r of c.rules) {
        if (r.matches.some((m) => m.kind === 'conntrack' || m.kind === 'state' || m.kind === 'connmark')) return true;
        const k = r.target?.kind;
        if (k === 'DNAT' || k === 'SNAT' || k === 'MASQUERADE' || k === 'REDIRECT' || k === 'CONNMARK') return true;
      }
    }
  }
  return false;
}

/** The source or destination address and port of a TCP/UDP frame rewritten, checksums patched (IPVS's snat/dnat_handler). */
function rewriteAddrPort(frame: Uint8Array, side: 'src' | 'dst', addr: number, port: number): void {
  const l4 = 14 + (frame[14]! & 15) * 4, end = 14 + be16(frame, 16), proto = frame[23]!;
  setIpv4Addr(frame, 14, l4, end, side === 'src' ? 26 : 30, addr);
  const at = l4 + (side === 'src' ? 0 : 2), old = be16(frame, at);
  if (old === port) return;
  setBe16(frame, at, port);
  const cs = proto === 6 ? l4 + 16 : l4 + 6;
  if (proto === 17 && be16(frame, cs) === 0) return;
  const n = csumUpdate16(be16(frame, cs), old, port);
  setBe16(frame, cs, proto === 17 && n === 0 ? 0xffff : n);
}

/**
 * ip_vs_tunnel_xmit's IPIP packet: 'frame' (Ethernet/IPv4) inside a new
 * IPv4 header from 'src' to 'dst', protocol 4, with the inner TOS, TTL and
 * DF; the outer id is 0 here (the kernel's ip_select_ident is not
 * predictable).
 */
function ipip(frame: Uint8Array, src: number, dst: number): Uint8Array {
  const inner = frame.subarray(14, 14 + be16(frame, 16));
  const out = new Uint8Array(14 + 20 + inner.length);
  out.set(frame.subarray(0, 14), 0);
  out[14] = 0x45;
  out[15] = frame[15]!;
  setBe16(out, 16, 20 + inner.length);
  setBe16(out, 20, be16(frame, 20) & 0x4000);
  out[22] = frame[22]!;
  out[23] = 4;
  setBe32(out, 26, src);
  setBe32(out, 30, dst);
  setBe16(out, 24, checksumOf(out, 14, 34, 24));
  out.set(inner, 34);
  return out;
}

/** ip_forward's TTL decrement with the checksum patched (RFC 1624). */
function decTtl(frame: Uint8Array): void {
  const w = be16(frame, 22);
  frame[22] = frame[22]! - 1;
  setBe16(frame, 24, csumUpdate16(be16(frame, 24), w, be16(frame, 22)));
}

function verdictText(n: RunResult): string {
  return n.verdict.kind === 'NAT' ? n.verdict.target.kind : n.verdict.kind;
}

function pktMac(b: Uint8Array, o: number): string {
  return Array.from(b.subarray(o, o + 6), (x) => x.toString(16).padStart(2, '0')).join(':');
}
