/**
 * A Linux-like host (netstack layer): interfaces on ports, ARP, IPv4 in and
 * out through the netfilter path, fragmentation, sockets.
 *
 * What: a `Host` is a `PortOwner` on the simulator. Each interface has a
 * port (a link attaches to it), a MAC, addresses and an MTU. A frame that
 * arrives:
 *  - is taken when it is for the interface's MAC, broadcast or multicast
 *    (anything else is another host's: dropped, counted);
 *  - ARP: answered when it asks for one of the host's addresses (on any of
 *    its interfaces, arp_ignore 0), and fed to the neighbour table
 *    (neigh.ts);
 * Routing: the host keeps a FIB (route.ts: tables local and main, the
 * connected, local and broadcast routes the kernel adds with an address,
 * `ip route` semantics for the routes given); the IP path asks it for every
 * route and every "is this one of mine" (`fib.lookup4`, no allocation).
 *  - IPv4: checked as ip_rcv does (version, header length, total length,
 *    header checksum: a bad one is dropped and counted); fragments for one
 *    of the host's addresses are reassembled first (ipfrag.ts); then the
 *    netfilter path (netfilter/stack.ts `NfStack`: hooks, conntrack, NAT,
 *    routing, forwarding with its ICMP errors) decides: delivered to a
 *    socket (`local`), forwarded, or answered;
 *  - IPv6 (ethertype 0x86dd): handed at once to ipv6.ts (`Ip6Stack`: ND,
 *    input, forwarding, ICMPv6), which reads the same FIB; it never goes
 *    through netfilter (ip6tables is not modelled). Each interface gets its
 *    EUI-64 link-local address; `addrs`, `routes` take IPv6 too;
 *  - anything else (VLAN-tagged frames): dropped, counted.
 * A packet leaving (forwarded, or sent by a socket through `sendIp`) is
 * fragmented when it exceeds the interface MTU and DF is clear (a socket's
 * DF packet over the route's MTU is refused with EMSGSIZE before it is
 * sent, as ip_append_data does), and waits for its next hop's MAC in the
 * neighbour table; a next hop that never answers gets the packet's sender
 * an ICMP host unreachable (ipv4_link_failure) — the host's own sockets
 * too, over lo.
 * Sockets: ICMP echo (`ping`) and UDP (sockets.ts), TCP (tcp.ts; ICMP
 * errors quoting a TCP segment go to it). What no socket takes, the
 * netfilter path's stack answers (echo reply, port unreachable, TCP reset).
 * Time: the simulator's clock (ns); the netfilter path counts ms.
 * Cost: slow path of a host (objects per packet are fine here); the
 * forwarding hot path of the product is the datapath, not this.
 * Memory (a cluster has hundreds of thousands of hosts that mostly never
 * send): what is allocated when. At once: the interfaces (ports, MACs,
 * addresses in `config`), the counters, the FIB's IPv4 half (route.ts makes
 * its IPv6 half on first use) and the IPv4 path (NfStack, whose rule
 * evaluator waits for the first walk). On first use: the ARP table
 * (`neigh`), the IPv6 half (`ip6`), `sockets`, `tcp`, the fragment
 * reassembler, the learnt path MTUs. With `lazyStack` (the CNI's pods) the FIB and the IPv4 path
 * wait too: the IPv4 configuration given is kept as a list of FIB
 * operations and replayed, in order, when a packet, a socket or a caller
 * first reads `fib` or `ip` — the same FIB as if built at once.
 * Tracing (sim/tracer.ts), when someone traces: the IP path's decision
 * (iptables chains and matched rules, ct_state, NAT before → after, the
 * route, a drop with its reason), ARP as tcpdump prints it, delivery; a
 * packet the host makes itself (a socket's, an ARP request, an echo reply,
 * an ICMP error) is a packet of its own, with a new trace id.
 * Neighbours: netfilter/stack.ts (the IP path), ipv6.ts, route.ts (the FIB), neigh.ts,
 * ipfrag.ts, sockets.ts, tcp.ts, sim/ (ports, clock), topology/ (builds hosts).
 */
import type { Sim } from '../sim/engine.js';
import { Port, type PortOwner } from '../sim/link.js';
import type { TraceDropReason } from '../sim/tracer.js';
import { NfStack, type Egress, type HookReport, type HostConfig, type HostIface, type StackResult } from '../netfilter/stack.js';
import { formatRule } from '../netfilter/save.js';
import { Ruleset } from '../netfilter/model.js';
import { parseRestore } from '../netfilter/restore.js';
import type { Ipsets } from '../netfilter/ipset.js';
import type { Ipvs } from '../netfilter/ipvs.js';
import { be16, be32, ipv4ToString, parseIpv4, setBe16, setBe32 } from '../wire/bytes.js';
import { sum16, fold } from '../wire/checksum.js';
import { InputError } from '../errors.js';
import { Neighbours, macText, sameMac } from './neigh.js';
import { fragment, isFragment, Reassembler } from './ipfrag.js';
import { Sockets } from './sockets.js';
import { TcpStack } from './tcp.js';
import { Ip6Stack, linkLocalOf } from './ipv6.js';
import { inetPton6, RouteError, RoutingTable, RTF_HAS_PREFSRC, RTF_USES_GATEWAY, RTN_LOCAL, RTN_UNICAST } from './route.js';

export interface IfaceSpec {
  name: string;
  /** 'aa:bb:cc:dd:ee:ff'; default: one the simulator hands out */
  mac?: string;
  /** 'a.b.c.d/len' (the primary address of each subnet first) or an IPv6 CIDR ('2001:db8:1::2/64') */
  addrs?: string[];
  /** L3 MTU; default the link's (1500) */
  mtu?: number;
}

export interface RouteSpec {
  /** 'default' or a CIDR (IPv4 or IPv6; 'default' with an IPv6 `via` is ::/0) */
  dst: string;
  via?: string;
  dev: string;
  src?: string;
}

export interface HostOptions {
  ifaces?: IfaceSpec[];
  routes?: RouteSpec[];
  /** net.ipv4.ip_forward (default off: a host; a router turns it on) */
  ipForward?: boolean;
  /** net.ipv6.conf.all.forwarding (default: as ipForward) */
  ip6Forward?: boolean;
  /** iptables-restore text */
  rules?: string;
  routeLocalnet?: boolean;
  tcpLoose?: boolean;
  ipsets?: Ipsets;
  ipvs?: Ipvs;
  /**
   * Build the FIB and the IPv4 path (NfStack) when the host first needs them — a packet, a
   * socket, a caller reading `fib` or `ip` — replaying the IPv4 configuration given until then,
   * in order (see "Memory" in the module comment). For hosts whose configuration the caller
   * has checked (the CNI's pods): a route or address the kernel would refuse throws at that
   * first use instead of here. Without 'rules', 'ipsets' and 'ipvs' only (else the IPv4 path
   * is built at once). Default false.
   */
  lazyStack?: boolean;
}

/** What a host counts, named after /proc/net/snmp's Ip: and Icmp: fields. */
export class HostStats {
  inReceives = 0; inHdrErrors = 0; inDelivers = 0; forwDatagrams = 0; outRequests = 0; outNoRoutes = 0;
  fragCreates = 0; fragFails = 0; reasmOKs = 0; reasmFails = 0;
  /** frames not for us (another MAC), not IPv4/ARP, or for no interface */
  otherHost = 0; unknownProto = 0;
  arpRequestsIn = 0; arpRepliesOut = 0; arpRequestsOut = 0;
}

/** The outcome of a socket's send. */
export type SendStatus = 'sent' | 'dropped' | 'EMSGSIZE' | 'ENETUNREACH' | 'EPERM';

const BROADCAST = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const PROTO_NAME: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP' };

/** `TCP 10.0.0.1:1234 > 10.96.0.10:80` (ports for TCP/UDP), for trace records. */
function tupleText(f: Uint8Array): string {
  const p = f[23]!, l4 = 14 + (f[14]! & 15) * 4;
  const ports = (p === 6 || p === 17) && f.length >= l4 + 4;
  const end = (a: number, port: number): string => `${ipv4ToString(a)}${ports ? `:${port}` : ''}`;
  return `${PROTO_NAME[p] ?? `proto ${p}`} ${end(be32(f, 26), ports ? be16(f, l4) : 0)} > ${end(be32(f, 30), ports ? be16(f, l4 + 2) : 0)}`;
}

/** Why the IP path dropped a packet, from where it stopped (StackResult.path). */
function stackDropReason(path: string): TraceDropReason {
  switch (path) {
    case 'routing': return 'forwarding-off';
    case 'routing:no-route': return 'no-route';
    case 'routing:ttl': return 'ttl-exceeded';
    case 'routing:mtu': return 'frag-needed';
    case 'ipvs': return 'ipvs-no-server';
    case 'conntrack': return 'ct-full';
    default: return 'policy';
  }
}
const macCounters = new WeakMap<Sim, number>();

/** A MAC from the simulator's counter: 02:00:00:xx:xx:xx, locally administered, unique per simulation. */
export function nextMac(sim: Sim): string {
  const n = (macCounters.get(sim) ?? 0) + 1;
  macCounters.set(sim, n);
  return `02:00:00:${((n >> 16) & 0xff).toString(16).padStart(2, '0')}:${((n >> 8) & 0xff).toString(16).padStart(2, '0')}:${(n & 0xff).toString(16).padStart(2, '0')}`;
}

function macBytes(s: string, field: string): Uint8Array {
  const parts = s.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) throw new InputError('HOST_BAD_MAC', field, `'${s}' is not a MAC address`);
  return new Uint8Array(parts.map((p) => parseInt(p, 16)));
}

function cidr(s: string, field: string): { addr: number; prefixLen: number } {
  const [a, l] = s.split('/');
  const addr = parseIpv4(a ?? '');
  const len = l === undefined ? 32 : Number(l);
  if (addr === null || !Number.isInteger(len) || len < 0 || len > 32) throw new InputError('HOST_BAD_ADDRESS', field, `'${s}' is not an IPv4 address with a prefix length`);
  return { addr, prefixLen: len };
}

export class Host implements PortOwner {
  readonly name: string;
  readonly sim: Sim;
  readonly config: HostConfig;
  // made on first use (see "Memory" in the module comment)
  private ipObj: NfStack | null = null;
  private fibObj: RoutingTable | null = null;
  /** lazyStack: the FIB operations waiting for the FIB, in order (null once it exists or without lazyStack) */
  private fibLog: ((fib: RoutingTable) => void)[] | null = null;
  private neighObj: Neighbours | null = null;
  private socketsObj: Sockets | null = null;
  private tcpObj: TcpStack | null = null;
  private ip6Obj: Ip6Stack | null = null;
  private reasmObj: Reassembler | null = null;
  /** net.ipv6.conf.all.forwarding as given, for the IPv6 half when it is made */
  private readonly ip6Forward: boolean;
  /** fibRoute's answers by route id, for FIB version fibCacheVersion */
  private readonly fibCache: ({ dev: string; via: number | null; src: number | null } | null)[] = [];
  private fibCacheVersion = -1;
  readonly stats = new HostStats();
  readonly ports = new Map<string, Port>();
  /** each interface's port, MAC bytes and configuration, by name: one lookup per packet */
  private readonly ifs = new Map<string, { port: Port; mac: Uint8Array; cfg: HostIface }>();
  /** IPv4 ids of packets this host sends without DF */
  private ident = 0;
  /** path MTUs learnt from fragmentation needed (route exceptions): destination → [mtu, expiry ns] */
  private pmtu: Map<number, [number, number]> | null = null;
  /** how long a learnt path MTU holds (net.ipv4.route.mtu_expires, 600 s) */
  static readonly PMTU_EXPIRES_NS = 600e9;

  constructor(sim: Sim, name: string, opts: HostOptions = {}) {
    this.sim = sim;
    this.name = name;
    this.config = { ifaces: [], routes: [], ipForward: opts.ipForward ?? false, routeLocalnet: opts.routeLocalnet ?? false, tcpLoose: opts.tcpLoose ?? true };
    const lazy = opts.lazyStack === true;
    if (lazy) this.fibLog = []; else this.makeFib();
    if (!lazy || opts.rules !== undefined || opts.ipsets !== undefined || opts.ipvs !== undefined) {
      this.ipObj = this.makeIp(opts.rules === undefined ? new Ruleset() : parseRestore(opts.rules), opts);
    }
    this.ip6Forward = opts.ip6Forward ?? opts.ipForward ?? false;
    opts.ifaces?.forEach((f, i) => this.addIface(f, `ifaces[${i}]`));
    opts.routes?.forEach((r, i) => this.addRoute(r, `routes[${i}]`));
  }

  /** the host's FIB (tables local and main, as the kernel keeps them): every routing decision reads it */
  get fib(): RoutingTable {
    return this.fibObj ?? this.makeFib();
  }

  /** A fresh namespace's FIB (lo up), then what lazyStack held back. */
  private makeFib(): RoutingTable {
    const fib = this.fibObj = new RoutingTable();
    fib.addLoopback('lo');
    const log = this.fibLog;
    this.fibLog = null;
    if (log !== null) for (const op of log) op(fib);
    return fib;
  }

  /** Run 'op' on the FIB now, or (lazyStack, no FIB yet) when it is made. */
  private onFib(op: (fib: RoutingTable) => void): void {
    if (this.fibLog !== null) this.fibLog.push(op); else op(this.fib);
  }

  /** the IPv4 path: netfilter's hooks, conntrack, routing (netfilter/stack.ts) */
  get ip(): NfStack {
    return this.ipObj ??= this.makeIp(new Ruleset(), {});
  }

  /** the IPv4 path if it was built (a lazy host builds it at its first packet), else null: for reports that must not build it */
  get ipIfBuilt(): NfStack | null { return this.ipObj; }

  private makeIp(rs: Ruleset, opts: HostOptions): NfStack {
    return new NfStack(rs, this.config, {
      router: { route: (dst) => this.fibRoute(dst), isLocal: (a) => { const r = this.fib.lookup4(a); return r >= 0 && this.fib.fib4.type[r] === RTN_LOCAL; } },
      seed: this.sim.seed, ...(opts.ipsets !== undefined ? { ipsets: opts.ipsets } : {}), ...(opts.ipvs !== undefined ? { ipvs: opts.ipvs } : {}),
      local: (frame, inIface) => this.deliver(frame, inIface),
      mtu: (dev) => this.mtu(dev),
    });
  }

  /** the ARP neighbour table (neigh.ts) */
  get neigh(): Neighbours {
    return this.neighObj ??= new Neighbours(this.sim, {
      name: this.name,
      solicit: (iface, addr, to) => this.arpRequest(iface, addr, to),
      transmit: (iface, frame, mac) => this.transmit(iface, frame, mac),
      onUnreachable: (iface, frame) => this.linkFailure(iface, frame),
    });
  }

  /** the IPv6 half of the stack (ipv6.ts) */
  get ip6(): Ip6Stack {
    return this.ip6Obj ??= new Ip6Stack({
      name: this.name, sim: this.sim, fib: this.fib, mac: (n) => this.ifs.get(n)?.mac, mtu: (n) => this.mtu(n),
      transmit: (iface, frame, mac) => this.transmit(iface, frame, mac),
      deliver: (frame, l4, proto) => this.sockets.input6(frame, l4, proto),
    }, this.ip6Forward);
  }

  /** ICMP echo and UDP sockets (sockets.ts) */
  get sockets(): Sockets {
    return this.socketsObj ??= new Sockets(this);
  }

  /** TCP (tcp.ts) */
  get tcp(): TcpStack {
    return this.tcpObj ??= new TcpStack({
      sim: this.sim, send: (f) => { this.sockets.own(() => this.sendIp(f)); }, mtuTo: (d) => this.mtuTo(d), sourceFor: (d) => this.ip.sourceFor(d),
    });
  }

  private get reasm(): Reassembler {
    if (this.reasmObj === null) {
      this.reasmObj = new Reassembler(30_000, this.sim.ledger);
      // ip_expire: ICMP time exceeded (fragment reassembly) for a datagram whose first fragment came
      this.reasmObj.expireOn(this.sim, (first, ifname) => this.sendAnswer(this.ip.icmpError(11, 1, 0, first, ifname, true)));
    }
    return this.reasmObj;
  }

  // ---- configuration ---------------------------------------------------------------------------

  /** Add interface 'spec'; its port is what a link attaches to. */
  addIface(spec: IfaceSpec, field = 'iface'): Port {
    if (this.ports.has(spec.name)) throw new InputError('HOST_DUPLICATE_IFACE', `${field}.name`, `${this.name} already has an interface ${spec.name}`);
    const mac = spec.mac ?? nextMac(this.sim);
    const iface: HostIface = { name: spec.name, mac, addrs: [], ...(spec.mtu !== undefined ? { mtu: spec.mtu } : {}) };
    const macb = macBytes(mac, `${field}.mac`);
    this.config.ifaces.push(iface);
    const ll = `${linkLocalOf(macb)}/64`;
    this.onFib((fib) => { fib.addDevice(spec.name); fib.addConnected(spec.name, ll); });
    const port = new Port(this, spec.name);
    this.ports.set(spec.name, port);
    this.ifs.set(spec.name, { port, mac: macb, cfg: iface });
    spec.addrs?.forEach((a, i) => this.addAddress(spec.name, a, `${field}.addrs[${i}]`));
    return port;
  }

  /** `ip addr add CIDR dev IFACE` (an IPv6 one as with `nodad`). */
  addAddress(ifname: string, text: string, field = 'address'): void {
    const i = this.iface(ifname, field);
    if (text.includes(':')) {
      const [a, l] = text.split('/');
      const len = l === undefined ? 128 : Number(l);
      if (inetPton6(a ?? '') === null || !/^\d+$/.test(l ?? '128') || len > 128) throw new InputError('HOST_BAD_ADDRESS', field, `'${text}' is not an IPv6 address with a prefix length`);
      try { this.fib.addConnected(ifname, text); } catch (e) {
        if (e instanceof RouteError) throw new InputError('HOST_DUPLICATE_ADDRESS', field, `${this.name} already has ${text} on ${ifname}`);
        throw e;
      }
      return;
    }
    i.addrs.push(cidr(text, field));
    this.onFib((fib) => fib.addConnected(ifname, text));
  }

  /** `ip route add …`. */
  addRoute(r: RouteSpec, field = 'route'): void {
    this.iface(r.dev, `${field}.dev`);
    if (r.dst.includes(':') || (r.via?.includes(':') ?? false)) { this.addRoute6(r, field); return; }
    const d = r.dst === 'default' ? { addr: 0, prefixLen: 0 } : cidr(r.dst, `${field}.dst`);
    const via = r.via === undefined ? null : parseIpv4(r.via);
    if (via === null && r.via !== undefined) throw new InputError('HOST_BAD_ADDRESS', `${field}.via`, `'${r.via}' is not an IPv4 address`);
    const src = r.src === undefined ? null : parseIpv4(r.src);
    if (src === null && r.src !== undefined) throw new InputError('HOST_BAD_ADDRESS', `${field}.src`, `'${r.src}' is not an IPv4 address`);
    this.config.routes.push({ net: d.addr, prefixLen: d.prefixLen, via, dev: r.dev, src });
    const args = ['replace', r.dst, ...(r.via !== undefined ? ['via', r.via] : []), 'dev', r.dev, ...(r.src !== undefined ? ['src', r.src] : [])];
    this.onFib((fib) => fib.ipRoute(args));
  }

  /**
   * `ip addr del CIDR dev IFACE` (IPv4): the address and its kernel routes go; a subnet's
   * primary takes that subnet's secondaries with it (promote_secondaries off, the default).
   * Throws InputError HOST_NO_ADDRESS when the interface lacks it.
   */
  removeAddress(ifname: string, text: string, field = 'address'): void {
    const i = this.iface(ifname, field);
    const c = cidr(text, field);
    const k = i.addrs.findIndex((a) => a.addr === c.addr && a.prefixLen === c.prefixLen);
    if (k < 0) throw new InputError('HOST_NO_ADDRESS', field, `${this.name} has no address ${text} on ${ifname}`);
    const m = c.prefixLen === 0 ? 0 : (0xffffffff << (32 - c.prefixLen)) >>> 0;
    const sameNet = (a: { addr: number; prefixLen: number }): boolean => a.prefixLen === c.prefixLen && ((a.addr ^ c.addr) & m) === 0;
    const primary = i.addrs.findIndex(sameNet) === k;
    i.addrs = i.addrs.filter((a, n) => n !== k && !(primary && sameNet(a)));
    this.onFib((fib) => fib.delAddress4(ifname, text));
  }

  /** `ip route del` of a route 'r' as addRoute took it (IPv4). Throws InputError HOST_BAD_ROUTE when there is none. */
  removeRoute(r: RouteSpec, field = 'route'): void {
    const d = r.dst === 'default' ? { addr: 0, prefixLen: 0 } : cidr(r.dst, `${field}.dst`);
    const via = r.via === undefined ? null : parseIpv4(r.via);
    const k = this.config.routes.findIndex((x) => x.net === d.addr && x.prefixLen === d.prefixLen && x.dev === r.dev && x.via === via);
    if (k < 0) throw new InputError('HOST_BAD_ROUTE', field, `${this.name}: no route ${r.dst}${r.via !== undefined ? ` via ${r.via}` : ''} dev ${r.dev}`);
    this.config.routes.splice(k, 1);
    const args = ['del', r.dst, ...(r.via !== undefined ? ['via', r.via] : []), 'dev', r.dev];
    this.onFib((fib) => fib.ipRoute(args));
  }

  /**
   * `ip link del IFACE`: the interface goes with its addresses and every route through it; its
   * link is detached (the port at the other end stays its owner's, free to be linked again).
   * The name may be used again.
   */
  removeIface(name: string, field = 'iface'): void {
    const i = this.iface(name, field);
    this.config.ifaces.splice(this.config.ifaces.indexOf(i), 1);
    this.config.routes = this.config.routes.filter((r) => r.dev !== name);
    const port = this.ports.get(name)!;
    if (port.link !== null) port.link.detach();
    this.ports.delete(name);
    this.ifs.delete(name);
    this.onFib((fib) => fib.delDevice(name));
  }

  /** An IPv6 `ip -6 route replace`; the kernel's errors become InputErrors naming the field. */
  private addRoute6(r: RouteSpec, field: string): void {
    const dst = r.dst === 'default' ? '::/0' : r.dst;
    const check = (v: string | undefined, f: string): void => {
      if (v !== undefined && inetPton6(v) === null) throw new InputError('HOST_BAD_ADDRESS', `${field}.${f}`, `'${v}' is not an IPv6 address`);
    };
    check(dst.split('/')[0], 'dst'); check(r.via, 'via'); check(r.src, 'src');
    try {
      this.fib.ipRoute(['replace', dst, ...(r.via !== undefined ? ['via', r.via] : []), 'dev', r.dev, ...(r.src !== undefined ? ['src', r.src] : [])], 6);
    } catch (e) {
      if (e instanceof RouteError) throw new InputError('HOST_BAD_ROUTE', field, `${this.name}: ip -6 route replace ${dst}: ${e.message}`);
      throw e;
    }
  }

  /** The FIB's unicast route to 'dst' as the IP path reads it: one answer object per route, kept while the FIB is unchanged. */
  private fibRoute(dst: number): { dev: string; via: number | null; src: number | null } | null {
    const r = this.fib.lookup4(dst);
    if (r < 0) return null;
    const f = this.fib.fib4;
    if (this.fibCacheVersion !== f.version) { this.fibCache.length = 0; this.fibCacheVersion = f.version; }
    const hit = this.fibCache[r];
    if (hit !== undefined) return hit;
    // blackhole, unreachable, prohibit, local: no route to forward on
    const dev = f.type[r] === RTN_UNICAST ? this.fib.deviceByIndex(f.oif[r]!)?.name : undefined;
    const answer = dev === undefined ? null
      : { dev, via: (f.flags[r]! & RTF_USES_GATEWAY) !== 0 ? f.gateway[r]! : null, src: (f.flags[r]! & RTF_HAS_PREFSRC) !== 0 ? f.prefsrc[r]! : null };
    this.fibCache[r] = answer;
    return answer;
  }

  /** The interface named 'name'. */
  iface(name: string, field = 'dev'): HostIface {
    const i = this.ifs.get(name)?.cfg;
    if (i === undefined) throw new InputError('HOST_NO_IFACE', field, `${this.name} has no interface '${name}'`);
    return i;
  }

  /** The interface's MTU: its own, else its link's. */
  mtu(ifname: string): number {
    const i = this.ifs.get(ifname);
    return i === undefined ? 1500 : i.cfg.mtu ?? i.port.mtu;
  }

  /**
   * connect(2)'s check for a socket of this host's own: is 'dst' local or routed? Traffic of its
   * own is about to be sent, so `beforeTraffic` runs first (routes installed on demand are there).
   */
  routable(dst: number): boolean {
    if (this.beforeTraffic !== null) this.beforeTraffic(null);
    return this.ip.isLocal(dst) || this.ip.route(dst) !== null;
  }

  /** The path MTU towards 'dst': the route's interface MTU, or less when fragmentation needed taught it so. */
  mtuTo(dst: number): number {
    const rt = this.ip.isLocal(dst) ? null : this.ip.route(dst);
    const dev = rt === null ? 1500 : this.mtu(rt.dev);
    if (this.pmtu === null || this.pmtu.size === 0) return dev;
    const e = this.pmtu.get(dst >>> 0);
    if (e === undefined) return dev;
    if (e[1] <= this.sim.now) { this.pmtu.delete(dst >>> 0); return dev; }
    return Math.min(dev, e[0]);
  }

  mac(ifname: string): Uint8Array | undefined { return this.ifs.get(ifname)?.mac; }

  /** The host's first address (for names in traces and tools). */
  get address(): number { return this.config.ifaces.find((i) => i.addrs.length > 0)?.addrs[0]?.addr ?? 0; }

  private get nowMs(): number { return this.sim.now / 1e6; }

  // ---- input -----------------------------------------------------------------------------------

  /**
   * Called before this host handles a frame it received (with the frame) or sends a packet of its
   * own (with null), while set: an owner that installs routes on demand (k8s/cni/network.ts's lazy
   * peers) hooks here.
   */
  beforeTraffic: ((frame: Uint8Array | null) => void) | null = null;

  receive(port: Port, frame: Uint8Array): void {
    if (this.beforeTraffic !== null) this.beforeTraffic(frame);
    const mac = this.ifs.get(port.name)?.mac;
    if (mac === undefined || frame.length < 14) { this.stats.otherHost++; this.sim.ledger.drop('not-for-us'); this.sim.tracer.drop(this.name, port.name, 'not-for-us', 'no such interface, or a runt frame'); return; }
    const forUs = (frame[0]! & 1) === 1 || sameMac(frame, mac);
    if (!forUs) { this.stats.otherHost++; this.sim.ledger.drop('not-for-us'); if (this.sim.tracer.on) this.sim.tracer.drop(this.name, port.name, 'not-for-us', `for ${macText(frame)}, not ${macText(mac)}`); return; }
    const type = be16(frame, 12);
    if (type === 0x86dd) { this.ip6.input(port.name, frame); return; }
    if (type === 0x0806) { this.arpInput(port.name, frame, mac); return; }
    if (type !== 0x0800) { this.stats.unknownProto++; this.sim.ledger.drop('unknown-proto'); if (this.sim.tracer.on) this.sim.tracer.drop(this.name, port.name, 'unknown-proto', `ethertype 0x${type.toString(16).padStart(4, '0')}`); return; }
    this.ipInput(port.name, frame);
  }


  /**
   * The records of the IP path's decision on the packet in hand: the iptables chains it met, its
   * connection's state, the NAT it underwent ('before': the packet as it arrived, when conntrack
   * runs), the route, a drop.
   */
  private traceStack(ifname: string, before: Uint8Array | null, frame: Uint8Array, r: StackResult): void {
    const tr = this.sim.tracer;
    if (r.ctinfo !== 'UNTRACKED') tr.emit(this.name, ifname, 'ct', `ct_state ${r.ctinfo}`, { fields: { state: r.ctinfo } });
    for (const h of r.hooks) {
      // a stateful match's note (`recent --rcheck KUBE-SEP-X src 10.0.0.5: match`) follows its rule
      const matched = h.traversed.filter((x) => x.matched && x.rule !== null)
        .map((x) => `${formatRule(x.chain, x.rule!)}${x.notes === undefined ? '' : ` [${x.notes.join('; ')}]`}`);
      // IPVS: what it did, as `ipvsadm -Lnc` would show the connection
      if (h.ipvs !== undefined) matched.push(`${h.ipvs.action} ${h.ipvs.service}${h.ipvs.server === null ? '' : ` -> ${h.ipvs.server}`}${h.ipvs.state === null ? '' : ` ${h.ipvs.state}`}`);
      tr.emit(this.name, ifname, h.table === 'ipvs' ? 'ipvs' : 'rule', `${h.table} ${h.hook}: ${h.verdict}${matched.length > 0 ? ` (${matched.join('; ')})` : ''}`,
        { fields: { table: h.table, hook: h.hook, verdict: h.verdict, checked: h.checked, ...this.balance(h) } });
    }
    const after = r.out?.frame ?? (r.path === 'local' ? frame : null);
    if (before !== null && after !== null) {
      const was = tupleText(before), now = tupleText(after);
      if (was !== now) {
        const type = be32(before, 26) !== be32(after, 26) || (before[23] !== 1 && be16(before, 34) !== be16(after, 34))
          ? (be32(before, 30) !== be32(after, 30) || (before[23] !== 1 && be16(before, 36) !== be16(after, 36)) ? 'snat+dnat' : 'snat') : 'dnat';
        tr.emit(this.name, ifname, 'nat', `${type.toUpperCase()}: ${was} → ${now}`, { fields: { type, before: was, after: now }, frame: after });
      }
    }
    if (r.out !== null && r.out.iface !== 'lo' && (r.path === 'forward' || r.path === 'ipvs' || r.path === 'out')) {
      // as `ip route get` prints it: the next hop only when it is a gateway
      const dst = be32(r.out.frame, 30), hop = r.out.hop;
      tr.emit(this.name, r.out.iface, 'route', `${ipv4ToString(dst)}${hop !== dst ? ` via ${ipv4ToString(hop)}` : ''} dev ${r.out.iface}`,
        { fields: { dev: r.out.iface, via: ipv4ToString(hop) }, frame: r.out.frame });
    }
    if (r.verdict !== 'ACCEPT') {
      // (the host's own packet stopped at routing: a martian source, not forwarding)
      const reason = ifname === 'lo' && r.path === 'routing' ? 'no-route' : stackDropReason(r.path);
      tr.drop(this.name, ifname, reason, `${r.verdict} at ${r.path}`, frame);
    }
  }

  /** A trace fork's forced choice for the packet in hand here, armed on the stack; -1 when none. */
  private forceChoice(): number {
    const k = this.sim.tracer.forced(this.name);
    if (k >= 0) this.ip.force(k);
    return k;
  }

  /**
   * A hook's load-balancing decision for the trace (sim/tracer.ts's forks): a run of `statistic
   * --mode random` rules (kube-proxy's KUBE-SVC- chain) or an IPVS scheduler's pick — the
   * choices and the one taken; IPVS's service and server in any case.
   */
  private balance(h: HookReport): Record<string, string | number> {
    const v = h.ipvs;
    if (v !== undefined) {
      const base = { service: v.service, server: v.server ?? '' };
      return v.candidates === undefined ? base
        : { ...base, lb: 'ipvs', choices: v.candidates.join(' '), chosen: v.server === null ? -1 : v.candidates.indexOf(v.server) };
    }
    if (h.table === 'ipvs') return {};
    const at = h.traversed.find((x) => x.rule !== null && x.rule.matches.some((m) => m.kind === 'statistic' && m.mode === 'random'));
    if (at === undefined) return {};
    const matched = h.traversed.filter((x) => x.matched && x.chain === at.chain && x.rule !== null).map((x) => x.rule!);
    const b = this.ip.ev.balance(h.table, at.chain, at.rule!, matched);
    return b === null ? {} : { lb: 'iptables', chain: at.chain, choices: b.choices.join(' '), chosen: b.chosen };
  }

  private arpInput(ifname: string, f: Uint8Array, mac: Uint8Array): void {
    if (f.length < 42 || be16(f, 14) !== 1 || be16(f, 16) !== 0x0800 || f[18] !== 6 || f[19] !== 4) { this.stats.unknownProto++; this.sim.ledger.drop('bad-header'); return; }
    // ARP is the stack's: it learns from the message and may answer it
    this.sim.ledger.deliver();
    const op = be16(f, 20), sha = f.slice(22, 28), sip = be32(f, 28), tip = be32(f, 38);
    if (sip === 0 && op === 1) return; // an address probe (RFC 5227): nothing to learn or answer here
    const ours = this.ip.isLocal(tip) && (tip >>> 24) !== 127;
    const tr = this.sim.tracer;
    if (tr.on) {
      // as tcpdump prints it
      tr.emit(this.name, ifname, 'arp', op === 1 ? `ARP, Request who-has ${ipv4ToString(tip)} tell ${ipv4ToString(sip)}${ours ? '' : ' (not ours)'}`
        : `ARP, Reply ${ipv4ToString(sip)} is-at ${macText(sha)}`, { fields: { op, sip: ipv4ToString(sip), tip: ipv4ToString(tip), sha: macText(sha) } });
    }
    if (op === 1) {
      this.stats.arpRequestsIn++;
      this.neigh.learn(ifname, sip, sha, ours && sip !== tip ? 'request-for-us' : 'other');
      if (ours && sip !== tip) {
        this.stats.arpRepliesOut++;
        const port = this.ports.get(ifname)!;
        this.sim.tracer.aside(() => port.send(arpFrame(2, sha, mac, tip, sha, sip)));
      }
    } else if (op === 2) {
      this.neigh.learn(ifname, sip, sha, sameMac(f, mac) ? 'reply' : 'other');
    }
  }

  private ipInput(ifname: string, frame: Uint8Array): void {
    this.stats.inReceives++;
    const ihl = frame.length >= 15 ? (frame[14]! & 15) * 4 : 0;
    const total = frame.length >= 18 ? be16(frame, 16) : 0;
    if (frame.length < 34 || (frame[14]! >> 4) !== 4 || ihl < 20 || total < ihl || 14 + total > frame.length
        || fold(sum16(frame, 14, 14 + ihl)) !== 0) {
      this.stats.inHdrErrors++;
      this.sim.ledger.drop('bad-header');
      this.sim.tracer.drop(this.name, ifname, 'bad-header', 'IPv4 header (version, lengths or checksum)');
      return;
    }
    let f = frame.length > 14 + total ? frame.subarray(0, 14 + total) : frame;
    if (isFragment(f) && this.ip.isLocal(be32(f, 30))) {
      const whole = this.reasm.add(f, this.sim.now, ifname);
      if (whole === null) return;
      this.stats.reasmOKs++;
      f = whole;
    }
    // NAT rewrites the frame in place: a copy of it as it came, for the trace's NAT record
    const before = this.sim.tracer.on && this.ip.tracking ? f.slice() : null;
    const k = this.sim.tracer.forcing ? this.forceChoice() : -1;
    const r = this.ip.receive(f, ifname, this.nowMs);
    if (k >= 0 && this.ip.unforce()) this.sim.tracer.forceUsed();
    if (r.path === 'forward' || r.path === 'ipvs') this.stats.forwDatagrams++;
    if (this.sim.tracer.on) this.traceStack(ifname, before, f, r);
    if (r.out !== null) this.output(r.out);
    else if (r.verdict !== 'ACCEPT') this.sim.ledger.drop(stackDropReason(r.path));
    // the stack's answer (an echo reply, an ICMP error, a reset) is a packet of its own
    const reply = r.reply;
    if (reply !== null) this.sim.tracer.aside(() => this.output(reply));
  }

  /** The IP path delivered 'frame' to this host: a socket takes it, or not (the stack answers). */
  private deliver(frame: Uint8Array, inIface: string): boolean {
    this.stats.inDelivers++;
    const proto = frame[23]!;
    // fragmentation needed for a packet of ours: the path MTU to its destination (icmp_unreach)
    const l4 = 14 + (frame[14]! & 15) * 4;
    if (proto === 1 && frame[l4] === 3 && frame[l4 + 1] === 4 && be16(frame, 16) >= l4 - 14 + 28) {
      const mtu = be16(frame, l4 + 6), qdst = be32(frame, l4 + 8 + 16);
      if (mtu >= 68 && mtu < this.mtuTo(qdst)) (this.pmtu ??= new Map()).set(qdst, [mtu, this.sim.now + Host.PMTU_EXPIRES_NS]);
    }
    this.sockets.lastEncap = false;
    const took = proto === 6 ? this.tcp.input(frame)
      // an ICMP error quoting a TCP segment goes to TCP (tcp_v4_err), others to the sockets
      : proto === 1 && frame[l4] !== 0 && frame[l4] !== 8 && be16(frame, 16) >= l4 - 14 + 28 && frame[l4 + 8 + 9] === 6 ? this.tcp.icmpError(frame)
      : this.sockets.input(frame, inIface);
    const tr = this.sim.tracer;
    // a tunnel's socket sent the inner frame on (under this packet's token): nothing is left in hand
    if (took || (proto === 1 && frame[l4] === 8)) this.sim.ledger.deliverHeld();
    else this.sim.ledger.drop('no-socket');
    if (tr.on) {
      // an echo request is the stack's to answer; anything else no socket took is dropped (and answered)
      if (took && this.sockets.lastEncap) { /* a tunnel's: its decap record tells */ }
      else if (took || (proto === 1 && frame[l4] === 8)) tr.emit(this.name, inIface, 'deliver', took ? `delivered to a socket (${PROTO_NAME[proto] ?? proto})` : 'answered by the stack', { frame });
      else tr.drop(this.name, inIface, 'no-socket', `${PROTO_NAME[proto] ?? `protocol ${proto}`} to ${ipv4ToString(be32(frame, 30))}`);
    }
    return took;
  }

  // ---- output ----------------------------------------------------------------------------------

  /**
   * Send 'frame' (Ethernet + IPv4; the Ethernet addresses are filled in
   * here), a packet of this host's own: through OUTPUT and POSTROUTING, then
   * out. A DF packet larger than the route's MTU is refused (EMSGSIZE).
   */
  sendIp(frame: Uint8Array): SendStatus {
    if (this.beforeTraffic !== null) this.beforeTraffic(null);
    // a packet sent with none in hand (a timer's, a script's) is a new packet from here on
    const tr = this.sim.tracer;
    if (tr.current !== 0 || !tr.on) return this.sendOwn(frame);
    tr.begin();
    try { return this.sendOwn(frame); } finally { tr.current = 0; }
  }

  /** sendIp for the packet in hand. */
  private sendOwn(frame: Uint8Array): SendStatus {
    this.stats.outRequests++;
    const dst = be32(frame, 30);
    if (!this.ip.isLocal(dst)) {
      const rt = this.ip.route(dst);
      // refused before it enters the network: a packet in hand (a tunnel's) is dropped here
      if (rt === null) { this.stats.outNoRoutes++; this.sim.ledger.dropHeld('no-route'); return 'ENETUNREACH'; }
      if ((frame[20]! & 0x40) !== 0 && be16(frame, 16) > this.mtuTo(dst)) { this.stats.fragFails++; this.sim.ledger.dropHeld('frag-needed'); return 'EMSGSIZE'; }
    }
    if ((frame[20]! & 0x40) === 0 && be16(frame, 18) === 0) { this.ident = (this.ident + 1) & 0xffff; setBe16(frame, 18, this.ident); fixIpChecksum(frame); }
    const before = this.sim.tracer.on && this.ip.tracking ? frame.slice() : null;
    const k = this.sim.tracer.forcing ? this.forceChoice() : -1;
    const r = this.ip.send(frame, this.nowMs);
    if (k >= 0 && this.ip.unforce()) this.sim.tracer.forceUsed();
    if (this.sim.tracer.on) this.traceStack('lo', before, frame, r);
    if (r.out !== null) this.output(r.out);
    else if (r.verdict !== 'ACCEPT') this.sim.ledger.drop(r.path === 'routing' ? 'no-route' : stackDropReason(r.path));
    if (r.reply !== null) this.output(r.reply);
    if (r.verdict === 'ACCEPT') return 'sent';
    return r.path === 'routing' ? 'ENETUNREACH' : 'EPERM';
  }

  /** An answer the IP path built (an ICMP error): sent as this host's own packet. */
  private sendAnswer(made: { frame: Uint8Array } | null): void {
    if (made === null) return;
    // an ICMP error is a packet of its own (sim/tracer.ts)
    this.sim.tracer.aside(() => {
      const r = this.ip.send(made.frame, this.nowMs);
      if (r.out !== null) this.output(r.out);
    });
  }

  /** 'eg' leaves by its interface: fragmented to the MTU, then to its next hop's MAC. */
  private output(eg: Egress): void {
    if (eg.iface === 'lo') return; // delivered inside the IP path
    const i = this.ifs.get(eg.iface);
    if (i === undefined) { this.stats.outNoRoutes++; this.sim.ledger.drop('no-route'); return; }
    const mtu = i.cfg.mtu ?? i.port.mtu;
    if (be16(eg.frame, 16) <= mtu) { this.emit(i.cfg, eg.hop, eg.frame); return; }
    if ((eg.frame[20]! & 0x40) !== 0) { this.stats.fragFails++; this.sim.ledger.drop('frag-needed'); return; }
    const frames = fragment(eg.frame, mtu);
    this.stats.fragCreates += frames.length;
    if (frames.length === 0) { this.stats.fragFails++; this.sim.ledger.drop('frag-needed'); return; }
    for (const f of frames) this.emit(i.cfg, eg.hop, f);
  }

  /** One frame out of 'i' to next hop 'hop': broadcast, multicast, or through the neighbour table. */
  private emit(i: HostIface, hop: number, f: Uint8Array): void {
    if (this.broadcastOn(i, hop)) this.transmit(i.name, f, BROADCAST);
    else if ((hop >>> 28) === 14) this.transmit(i.name, f, new Uint8Array([0x01, 0x00, 0x5e, (hop >>> 16) & 0x7f, (hop >>> 8) & 0xff, hop & 0xff]));
    else this.neigh.output(i.name, hop, f);
  }

  /** Is 'addr' a broadcast address on 'i' (limited, or a subnet's)? */
  private broadcastOn(i: HostIface, addr: number): boolean {
    if (addr === 0xffffffff) return true;
    for (const a of i.addrs) {
      if (a.prefixLen < 31 && ((addr | ((0xffffffff << (32 - a.prefixLen)) >>> 0)) >>> 0) === 0xffffffff
        && ((addr ^ a.addr) >>> (32 - a.prefixLen)) === 0) return true;
    }
    return false;
  }

  private transmit(ifname: string, frame: Uint8Array, mac: Uint8Array): void {
    const i = this.ifs.get(ifname)!;
    frame.set(mac, 0);
    frame.set(i.mac, 6);
    i.port.send(frame);
  }

  private arpRequest(ifname: string, addr: number, to: Uint8Array | null): void {
    const { mac, cfg: i } = this.ifs.get(ifname)!;
    // the source address: one of the interface's in the target's subnet, else its primary
    const spa = (i.addrs.find((a) => a.prefixLen > 0 && ((a.addr ^ addr) >>> (32 - a.prefixLen)) === 0) ?? i.addrs[0])?.addr ?? 0;
    this.stats.arpRequestsOut++;
    const port = this.ports.get(ifname)!;
    this.sim.tracer.aside(() => port.send(arpFrame(1, to ?? BROADCAST, mac, spa, ZERO_MAC, addr)));
  }

  /** The next hop of 'frame' never answered: its sender gets ICMP host unreachable. */
  private linkFailure(ifname: string, frame: Uint8Array): void {
    this.sendAnswer(this.ip.icmpError(3, 1, 0, frame, ifname, false));
  }

  /** `ip -br addr`-like lines. */
  addresses(): string[] {
    return this.config.ifaces.map((i) => `${i.name.padEnd(16)} ${macText(this.ifs.get(i.name)!.mac)} ${i.addrs.map((a) => `${ipv4ToString(a.addr)}/${a.prefixLen}`).join(' ')}`.trimEnd());
  }
}

const ZERO_MAC = new Uint8Array(6);

/** An Ethernet/ARP frame: operation 'op' from 'sha'/'spa' to 'tha'/'tpa', Ethernet destination 'dst'. */
function arpFrame(op: number, dst: Uint8Array, sha: Uint8Array, spa: number, tha: Uint8Array, tpa: number): Uint8Array {
  const r = new Uint8Array(42);
  r.set(dst, 0); r.set(sha, 6); setBe16(r, 12, 0x0806);
  setBe16(r, 14, 1); setBe16(r, 16, 0x0800); r[18] = 6; r[19] = 4; setBe16(r, 20, op);
  r.set(sha, 22); setBe32(r, 28, spa); r.set(tha, 32); setBe32(r, 38, tpa);
  return r;
}

/** Recompute the IPv4 header checksum of 'frame'. */
export function fixIpChecksum(frame: Uint8Array): void {
  const ihl = (frame[14]! & 15) * 4;
  setBe16(frame, 24, 0);
  setBe16(frame, 24, fold(sum16(frame, 14, 14 + ihl)));
}
