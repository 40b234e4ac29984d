/**
 * IPv6 in a Linux-like host (netstack layer): input, Neighbour Discovery, forwarding, ICMPv6
 * errors and the host's own output, as net/ipv6 (ip6_input.c, ip6_output.c, ndisc.c, icmp.c,
 * reassembly.c) does them with the default sysctls.
 *
 * What: one `Ip6Stack` per host (host.ts hands it every frame of ethertype 0x86dd, before and
 * apart from the IPv4 path). Addresses and routes live in the host's FIB (route.ts: `lookup6`,
 * the local and prefix routes `ip -6 addr add` makes, RFC 6724 source selection); each
 * interface also has its link-local address, EUI-64 from its MAC (addr_gen_mode eui64).
 * Addresses are usable at once: treated as `nodad` (no tentative state, no DAD probes).
 *  - Input (ip6_rcv_core): shorter than the fixed header or version != 6 → InHdrErrors;
 *    payload length past the frame → InTruncatedPkts; a multicast source → InAddrErrors;
 *    Ethernet padding trimmed; extension headers walked by wire/ipv6.ts (`Ipv6Packet.check`,
 *    a malformed one → InHdrErrors): hop-by-hop, routing, destination options are skipped;
 *    a Fragment header for the host is reassembled (ipfrag.ts `addPiece`, 60 s ip6frag_time;
 *    an overlap drops the datagram, RFC 5722). Then: one of the host's addresses (a `local`
 *    route) or a group it joined on that interface (ff02::1, ff02::2 when forwarding, the
 *    solicited-node group ff02::1:ffXX:XXXX of each of its addresses) → delivered; anything
 *    else → routed (ip6_route_input: no route → ICMPv6 no route, even on a host, as
 *    ip6_pkt_discard does; `unreachable` → 1/0, `prohibit` → 1/1, `blackhole` → nothing;
 *    a unicast route → ip6_forward).
 *  - Delivery: ICMPv6 with a wrong checksum → Icmp6InCsumErrors, dropped; Neighbour
 *    Discovery (hop limit must be 255): an NS for an address of the receiving interface
 *    is answered with a solicited NA (override set; router flag when forwarding; target
 *    link-layer option only when the NS was multicast, as ndisc_recv_ns does) and creates a
 *    STALE entry for its source link-layer option; an NA feeds the neighbour table (neigh.ts,
 *    the same NUD machine as ARP: REACHABLE when solicited, router flag kept); RS/RA/redirect/MLD
 *    are ignored. Echo requests are answered (from the address asked, hop limit 64); a packet
 *    too big for one of the host's packets teaches the path MTU (min 1280, 600 s); the rest
 *    goes to the sockets (sockets.ts `input6`: UDP with a mandatory checksum, echo replies,
 *    errors to the socket their quote names); UDP that no socket takes → port unreachable.
 *  - Forwarding (net.ipv6.conf.all.forwarding; routers): off → dropped (InAddrErrors);
 *    a link-local source → 1/2 beyond scope; a link-local destination is never forwarded;
 *    hop limit <= 1 → time exceeded 3/0; larger than the egress MTU → packet too big with it
 *    (a router never fragments); else hop limit − 1 and out. A next hop that never answers ND
 *    gets the packet's sender address unreachable 1/3 (ip6_link_failure).
 *  - ICMPv6 errors (icmp6_send): never about an ICMPv6 error, a multicast destination (but
 *    packet too big), an unspecified or multicast source; from the offending packet's
 *    destination when it is the host's, else the route back's `src`, else RFC 6724 preferring
 *    the interface the packet came in on (icmp6_send's "more meaningful saddr from input
 *    if": a router in a loop answers from the address facing the loop), else (the host's
 *    own packets) the route back's choice; hop limit
 *    64; the quote cut so the error fits 1280 bytes. Rate limit (icmpv6_xrlim_allow, the
 *    sysctls' defaults): types 1, 3 and 4 (ratemask 0-1,3-127; packet too big and echo replies
 *    are never limited) per destination, a token bucket of 1000 ms >> ((128 − plen) >> 5) per
 *    message and a burst of 6 (plen: the prefix length of the route back), not applied to
 *    errors for the host itself (over lo). The global icmp_msgs_per_sec (1000/s) is not
 *    modelled.
 *  - Output of the host's own packets (`send`, from sockets.ts): the route (ENETUNREACH when
 *    none), the path MTU (the egress MTU or a learnt one); over it, with `dontFrag` →
 *    EMSGSIZE, else fragmented with a Fragment header (ip6_fragment: 8-byte multiples, an id
 *    from the simulator's RNG); then the neighbour table. Packets for the host's own
 *    addresses loop back through input (lo).
 *  - Neighbour solicitations: to the solicited-node group (33:33:ff:XX:XX:XX) while
 *    INCOMPLETE, unicast in PROBE; from the waiting packet's source when it is an address of
 *    that interface, else RFC 6724's choice for the NS destination; with the source
 *    link-layer option; hop limit 255.
 * Not modelled: ip6tables (IPv6 does not go through netfilter/stack.ts), router
 * advertisements/SLAAC, MLD reports, redirects (sent or obeyed), routing header processing
 * (type 0 with segments left is skipped, not refused), jumbograms, anycast, IPv6 TCP.
 * Cost: slow path of a host stack (frames are copied, strings key the neighbour table).
 * Neighbours: host.ts (owner: interfaces, FIB, transmit), neigh.ts, ipfrag.ts, sockets.ts,
 * route.ts, wire/ipv6.ts, wire/icmpv6.ts, wire/checksum.ts.
 */
import type { Sim } from '../sim/engine.js';
import { be16, be32, ipv6ToString, setBe16, setBe32 } from '../wire/bytes.js';
import { ipv6PseudoSum, fold, sum16 } from '../wire/checksum.js';
import { Ipv6Packet, IPPROTO_FRAGMENT } from '../wire/ipv6.js';
import {
  Icmpv6Packet, IPPROTO_ICMPV6, ICMPV6_DEST_UNREACH, ICMPV6_PACKET_TOO_BIG, ICMPV6_TIME_EXCEEDED, ICMPV6_ECHO_REQUEST,
  ICMPV6_ECHO_REPLY, ICMPV6_NEIGHBOR_SOLICIT, ICMPV6_NEIGHBOR_ADVERT, ICMPV6_NO_ROUTE, ICMPV6_ADM_PROHIBITED, ICMPV6_BEYOND_SCOPE,
  ICMPV6_ADDR_UNREACH, ICMPV6_PORT_UNREACH, ICMPV6_EXC_HOPLIMIT, ICMPV6_EXC_FRAGTIME, ND_OPT_SOURCE_LINKADDR, ND_OPT_TARGET_LINKADDR,
  icmpv6IsError,
} from '../wire/icmpv6.js';
import { Neighbours } from './neigh.js';
import { Reassembler } from './ipfrag.js';
import { inetPton6, RTF_HAS_GATEWAY, RTF_HAS_PREFSRC, RTN_LOCAL, RTN_UNICAST, RTN_UNREACHABLE, RTN_PROHIBIT, type RoutingTable } from './route.js';

/** What the IPv6 stack counts, named after /proc/net/snmp6's Ip6, Icmp6 and Udp6 fields. */
export class Ip6Stats {
  inReceives = 0; inHdrErrors = 0; inTruncatedPkts = 0; inAddrErrors = 0; inNoRoutes = 0; inTooBigErrors = 0; inDelivers = 0;
  inUnknownProtos = 0; outForwDatagrams = 0; outRequests = 0; outNoRoutes = 0;
  reasmOKs = 0; reasmFails = 0; fragOKs = 0; fragFails = 0; fragCreates = 0;
  icmpInCsumErrors = 0; icmpInErrors = 0; icmpOutMsgs = 0; icmpOutRateLimitHost = 0;
  udpInCsumErrors = 0; udpNoPorts = 0;
  nsIn = 0; nsOut = 0; naIn = 0; naOut = 0;
}

/** The outcome of a send (sockets.ts's SendStatus, without the IPv4-only EPERM of netfilter). */
export type Send6Status = 'sent' | 'dropped' | 'EMSGSIZE' | 'ENETUNREACH';

/** What the stack needs from its host. */
export interface Ip6Owner {
  readonly name: string;
  readonly sim: Sim;
  readonly fib: RoutingTable;
  /** the interface's MAC, undefined for an unknown one */
  mac(ifname: string): Uint8Array | undefined;
  mtu(ifname: string): number;
  /** send 'frame' out of 'ifname' to Ethernet 'mac' (the source MAC is filled in) */
  transmit(ifname: string, frame: Uint8Array, mac: Uint8Array): void;
  /** a packet for the host (Ethernet + IPv6, 'l4' the upper-layer offset): true when a socket took it */
  deliver(frame: Uint8Array, l4: number, proto: number): boolean;
}

export const IPV6_MIN_MTU = 1280;
const ETH = 14, IP6 = 40, L3 = ETH, NH = L3 + 6, HLIM = L3 + 7, SRC = L3 + 8, DST = L3 + 24, PAY = L3 + IP6;

/** The link-local address Linux gives an interface with MAC 'mac' (EUI-64, addr_gen_mode eui64). */
export function linkLocalOf(mac: Uint8Array): string {
  const b = new Uint8Array(16);
  b[0] = 0xfe; b[1] = 0x80;
  b[8] = mac[0]! ^ 2; b[9] = mac[1]!; b[10] = mac[2]!; b[11] = 0xff; b[12] = 0xfe; b[13] = mac[3]!; b[14] = mac[4]!; b[15] = mac[5]!;
  return ipv6ToString(b, 0);
}

const words = (b: Uint8Array, o: number, w: Uint32Array): Uint32Array => {
  for (let i = 0; i < 4; i++) w[i] = be32(b, o + 4 * i);
  return w;
};
const bytesOfWords = (w: ArrayLike<number>): Uint8Array => {
  const b = new Uint8Array(16);
  for (let i = 0; i < 4; i++) setBe32(b, 4 * i, w[i]! >>> 0);
  return b;
};
const isMulticast = (b: Uint8Array, o: number): boolean => b[o] === 0xff;
const isLinkLocal = (b: Uint8Array, o: number): boolean => b[o] === 0xfe && (b[o + 1]! & 0xc0) === 0x80;
const isUnspecified = (b: Uint8Array, o: number): boolean => { for (let i = 0; i < 16; i++) if (b[o + i] !== 0) return false; return true; };

/** The solicited-node group of the address at 'b'[o]: ff02::1:ffXX:XXXX. */
function solicitedNode(b: Uint8Array, o: number): Uint8Array {
  const g = new Uint8Array(16);
  g[0] = 0xff; g[1] = 0x02; g[11] = 1; g[12] = 0xff; g[13] = b[o + 13]!; g[14] = b[o + 14]!; g[15] = b[o + 15]!;
  return g;
}
/** The Ethernet address of IPv6 multicast group 'b'[o] (RFC 2464): 33:33 and its last four bytes. */
function multicastMac(b: Uint8Array, o: number): Uint8Array {
  return new Uint8Array([0x33, 0x33, b[o + 12]!, b[o + 13]!, b[o + 14]!, b[o + 15]!]);
}

export class Ip6Stack {
  readonly stats = new Ip6Stats();
  readonly neigh: Neighbours<string>;
  /** net.ipv6.conf.all.forwarding */
  forwarding: boolean;
  /** learnt path MTUs: destination text → [mtu, expiry ns] */
  private readonly pmtu = new Map<string, [number, number]>();
  /** per-destination ICMPv6 error tokens (inet_peer rate_tokens, in ms): destination text → [tokens, last ms] */
  private readonly peers = new Map<string, [number, number]>();
  private readonly reasm: Reassembler;
  private readonly view = new Ipv6Packet();
  private readonly icmp = new Icmpv6Packet();
  private readonly w = new Uint32Array(4);
  /** the interface a forwarded packet came in on, while it waits for its next hop (IP6CB's iif) */
  private readonly inIfaceOf = new WeakMap<Uint8Array, string>();
  /** net.ipv6.icmp.ratelimit (ms) */
  static readonly ICMP_RATELIMIT_MS = 1000;
  static readonly PMTU_EXPIRES_NS = 600e9;

  constructor(private readonly host: Ip6Owner, forwarding: boolean) {
    this.forwarding = forwarding;
    this.reasm = new Reassembler(60_000, host.sim.ledger);
    // ip6_frag_expire: ICMPv6 time exceeded (fragment reassembly) for a datagram whose first fragment came
    this.reasm.expireOn(host.sim, (first) => {
      this.stats.reasmFails++;
      this.error(first, ICMPV6_TIME_EXCEEDED, ICMPV6_EXC_FRAGTIME, 0, null);
    });
    this.neigh = new Neighbours<string>(host.sim, {
      name: host.name,
      solicit: (iface, addr, to, first) => this.sendNs(iface, addr, to, first),
      transmit: (iface, frame, mac) => host.transmit(iface, frame, mac),
      onUnreachable: (_iface, frame) => this.error(frame, ICMPV6_DEST_UNREACH, ICMPV6_ADDR_UNREACH, 0, this.inIfaceOf.get(frame) ?? null),
    });
  }

  private get fib(): RoutingTable { return this.host.fib; }

  /** The route id for the address at 'b'[o], or -1. */
  private route(b: Uint8Array, o: number): number { return this.fib.lookup6(words(b, o, this.w), 0); }

  /** Is the address at 'b'[o] one of the host's? */
  isLocal(b: Uint8Array, o: number): boolean {
    const r = this.route(b, o);
    return r >= 0 && this.fib.fib6.type[r] === RTN_LOCAL;
  }

  /** Is the address at 'b'[o] an address of interface 'ifname'? */
  private onIface(ifname: string, b: Uint8Array, o: number): boolean {
    const d = this.fib.device(ifname);
    if (d === undefined) return false;
    const w = words(b, o, this.w);
    return d.addrs6.some((a) => a.words[0] === w[0] && a.words[1] === w[1] && a.words[2] === w[2] && a.words[3] === w[3]);
  }

  /** Has 'ifname' joined the multicast group at 'b'[o]? (all-nodes, all-routers when forwarding, solicited-node groups) */
  private joined(ifname: string, b: Uint8Array, o: number): boolean {
    if (b[o + 1] !== 0x02) return false;
    for (let i = 2; i < 11; i++) if (b[o + i] !== 0) return false;
    if (b[o + 11] === 0 && b[o + 12] === 0 && b[o + 13] === 0 && b[o + 14] === 0) return b[o + 15] === 1 || (b[o + 15] === 2 && this.forwarding);
    if (b[o + 11] !== 1 || b[o + 12] !== 0xff) return false;
    const d = this.fib.device(ifname);
    return d?.addrs6.some((a) => (a.words[3]! & 0xffffff) === ((b[o + 13]! << 16) | (b[o + 14]! << 8) | b[o + 15]!)) ?? false;
  }

  /** The source the host uses towards the address at 'b'[o] (RFC 6724 through the route), or null. */
  sourceFor(b: Uint8Array, o: number): Uint8Array | null {
    const w = words(b, o, new Uint32Array(4));
    const r = this.fib.lookup6(w, 0);
    if (r < 0) return null;
    const f = this.fib.fib6;
    if (f.type[r] === RTN_LOCAL) return b.slice(o, o + 16);
    const s = this.fib.selectSource6(f.oif[r]!, w);
    return s === null ? null : bytesOfWords(s);
  }

  /** The path MTU towards 'dst' (text or bytes at o): the route's interface MTU, or a learnt smaller one. */
  mtuTo(b: Uint8Array, o: number): number {
    const r = this.route(b, o);
    const f = this.fib.fib6;
    const dev = r < 0 || f.type[r] !== RTN_UNICAST ? 1500 : this.host.mtu(this.fib.deviceByIndex(f.oif[r]!)?.name ?? '');
    const key = ipv6ToString(b, o);
    const e = this.pmtu.get(key);
    if (e === undefined) return dev;
    if (e[1] <= this.host.sim.now) { this.pmtu.delete(key); return dev; }
    return Math.min(dev, e[0]);
  }

  // ---- input -----------------------------------------------------------------------------

  /** A frame of ethertype 0x86dd arrived on 'ifname'. Never throws: bad input is counted and dropped. */
  input(ifname: string, frame: Uint8Array): void {
    this.stats.inReceives++;
    const L = this.host.sim.ledger;
    if (frame.length < PAY || (frame[L3]! >> 4) !== 6) { this.stats.inHdrErrors++; L.drop('bad-header'); return; }
    const end = PAY + be16(frame, L3 + 4);
    if (end > frame.length) { this.stats.inTruncatedPkts++; L.drop('bad-header'); return; }
    if (isMulticast(frame, SRC)) { this.stats.inAddrErrors++; L.drop('bad-header'); return; }
    let f: Uint8Array = frame.slice(0, end);
    const v = this.view.reset(f, L3, end);
    if (v.check() !== 0) { this.stats.inHdrErrors++; L.drop('bad-header'); return; }
    const mine = this.isLocal(f, DST) || (isMulticast(f, DST) && this.joined(ifname, f, DST));
    if (!mine) {
      if (isMulticast(f, DST)) { L.drop('not-for-us'); return; } // a group not joined here
      this.routeInput(ifname, f);
      return;
    }
    if (v.fragOff >= 0) {
      const whole = this.reassemble(f, v.fragOff);
      if (whole === null) return;
      f = whole;
      if (this.view.reset(f, L3, f.length).check() !== 0) { this.stats.inHdrErrors++; L.drop('bad-header'); return; }
    }
    this.local(ifname, f, this.view.upperOff, this.view.upperProto);
  }

  /** Fragment at 'fragOff' of 'f': the whole datagram when it completes one (the Fragment header taken out), else null. */
  private reassemble(f: Uint8Array, fragOff: number): Uint8Array | null {
    // the header whose next-header byte names the Fragment header
    let prev = NH, at = PAY;
    while (at < fragOff) { prev = at; at += (f[at + 1]! + 1) * 8; }
    const offWord = be16(f, fragOff + 2);
    const key = `${ipv6ToString(f, SRC)}/${ipv6ToString(f, DST)}/${be32(f, fragOff + 4)}`;
    const head = (offWord & 0xfff8) === 0 ? f.slice(0, fragOff) : null;
    if (head !== null) head[prev] = f[fragOff]!;
    const before = this.reasm.dropped;
    const whole = this.reasm.addPiece(key, offWord & 0xfff8, f.slice(fragOff + 8), (offWord & 1) === 0, head, this.host.sim.now);
    if (this.reasm.dropped !== before) this.stats.reasmFails++;
    if (whole === null) return null;
    this.stats.reasmOKs++;
    setBe16(whole.datagram, L3 + 4, whole.datagram.length - PAY);
    return whole.datagram;
  }

  /** Not for the host: ip6_route_input, then ip6_forward. */
  private routeInput(ifname: string, f: Uint8Array): void {
    const r = this.route(f, DST);
    const fib = this.fib.fib6;
    const L = this.host.sim.ledger;
    if (r < 0 || fib.type[r] === RTN_UNREACHABLE || fib.type[r] === RTN_PROHIBIT) {
      this.stats.inNoRoutes++;
      L.drop('no-route');
      if (this.host.sim.tracer.on) this.host.sim.tracer.drop(this.host.name, ifname, 'no-route', `no route to ${ipv6ToString(f, DST)}`);
      this.error(f, ICMPV6_DEST_UNREACH, r >= 0 && fib.type[r] === RTN_PROHIBIT ? ICMPV6_ADM_PROHIBITED : ICMPV6_NO_ROUTE, 0, ifname);
      return;
    }
    if (fib.type[r] !== RTN_UNICAST) { L.drop('no-route'); return; } // blackhole, multicast: dropped silently
    if (!this.forwarding) { this.stats.inAddrErrors++; L.drop('forwarding-off'); if (this.host.sim.tracer.on) this.host.sim.tracer.drop(this.host.name, ifname, 'forwarding-off', `${ipv6ToString(f, DST)} is not this host's`); return; }
    if (isLinkLocal(f, DST)) { this.stats.inAddrErrors++; L.drop('no-route'); return; }
    if (isLinkLocal(f, SRC)) { L.drop('no-route'); this.error(f, ICMPV6_DEST_UNREACH, ICMPV6_BEYOND_SCOPE, 0, ifname); this.stats.inAddrErrors++; return; }
    if (f[HLIM]! <= 1) {
      this.stats.inHdrErrors++;
      L.drop('ttl-exceeded');
      this.host.sim.tracer.drop(this.host.name, ifname, 'ttl-exceeded', 'hop limit 1');
      this.error(f, ICMPV6_TIME_EXCEEDED, ICMPV6_EXC_HOPLIMIT, 0, ifname);
      return;
    }
    const dev = this.fib.deviceByIndex(fib.oif[r]!)?.name;
    if (dev === undefined) { this.stats.outNoRoutes++; L.drop('no-route'); return; }
    const mtu = Math.max(IPV6_MIN_MTU, this.host.mtu(dev));
    if (f.length - L3 > mtu) {
      this.stats.inTooBigErrors++; this.stats.fragFails++;
      L.drop('frag-needed');
      if (this.host.sim.tracer.on) this.host.sim.tracer.drop(this.host.name, ifname, 'frag-needed', `${f.length - L3} bytes over ${dev}'s MTU ${mtu}`);
      this.error(f, ICMPV6_PACKET_TOO_BIG, 0, mtu, ifname);
      return;
    }
    const out = f.slice();
    out[HLIM] = out[HLIM]! - 1;
    this.stats.outForwDatagrams++;
    this.inIfaceOf.set(out, ifname);
    const hop = this.nextHop(r, out);
    const tr = this.host.sim.tracer;
    if (tr.on) {
      const dst = ipv6ToString(out, DST);
      tr.emit(this.host.name, dev, 'route', `${dst}${hop !== dst ? ` via ${hop}` : ''} dev ${dev}`, { fields: { dev, via: hop }, frame: out });
    }
    this.neigh.output(dev, hop, out);
  }

  /** The next hop of route 'r' for the packet 'f': its gateway, else the destination, as text. */
  private nextHop(r: number, f: Uint8Array): string {
    const fib = this.fib.fib6;
    if ((fib.flags[r]! & RTF_HAS_GATEWAY) !== 0) return ipv6ToString(bytesOfWords(fib.gateway.subarray(r * 4, r * 4 + 4)), 0);
    return ipv6ToString(f, DST);
  }

  /** For the host: ICMPv6 (ND, echo, errors), UDP and the rest through the sockets. */
  private local(ifname: string, f: Uint8Array, l4: number, proto: number): void {
    this.stats.inDelivers++;
    if (proto === IPPROTO_ICMPV6) { this.icmpInput(ifname, f, l4); return; }
    const L = this.host.sim.ledger;
    if (this.host.deliver(f, l4, proto)) {
      L.deliverHeld();
      const tr = this.host.sim.tracer;
      if (tr.on) tr.emit(this.host.name, ifname, 'deliver', `delivered to a socket (${proto === 17 ? 'UDP' : `protocol ${proto}`})`, { frame: f });
      return;
    }
    if (proto === 17) { L.drop('no-socket'); if (this.host.sim.tracer.on) this.host.sim.tracer.drop(this.host.name, ifname, 'no-socket', `UDP to ${ipv6ToString(f, DST)}`); this.stats.udpNoPorts++; if (!isMulticast(f, DST)) this.error(f, ICMPV6_DEST_UNREACH, ICMPV6_PORT_UNREACH, 0, ifname); return; }
    this.stats.inUnknownProtos++;
    L.drop('unknown-proto');
  }

  private icmpInput(ifname: string, f: Uint8Array, l4: number): void {
    const end = f.length;
    const m = this.icmp.reset(f, l4, end);
    const L = this.host.sim.ledger;
    if (m.check() !== 0) { this.stats.icmpInErrors++; L.drop('bad-header'); return; }
    if (!m.verifyChecksum(ipv6PseudoSum(f, SRC, DST, IPPROTO_ICMPV6, end - l4))) { this.stats.icmpInCsumErrors++; this.stats.icmpInErrors++; L.drop('bad-checksum'); return; }
    const type = m.type();
    if (type === ICMPV6_NEIGHBOR_SOLICIT || type === ICMPV6_NEIGHBOR_ADVERT) {
      if (f[HLIM] !== 255 || m.code() !== 0 || isMulticast(f, m.targetOffset())) { this.stats.icmpInErrors++; L.drop('bad-header'); return; }
      // neighbour discovery is the stack's: it takes the message (and may answer it)
      L.deliver();
      const tr = this.host.sim.tracer;
      if (tr.on) {
        // as tcpdump prints them; 'arp' is the trace's kind for neighbour resolution
        const t = m.targetOffset(), target = ipv6ToString(f, t), ours = this.onIface(ifname, f, t);
        tr.emit(this.host.name, ifname, 'arp', type === ICMPV6_NEIGHBOR_SOLICIT
          ? `ICMP6, neighbor solicitation, who has ${target}${ours ? '' : ' (not ours)'}`
          : `ICMP6, neighbor advertisement, tgt is ${target}`, { fields: { type, src: ipv6ToString(f, SRC), target } });
      }
      if (type === ICMPV6_NEIGHBOR_SOLICIT) this.nsInput(ifname, f, m); else this.naInput(ifname, f, m);
      return;
    }
    // an echo request is answered by the stack; the rest goes to the sockets (if any wants it)
    L.deliver();
    if (type === ICMPV6_ECHO_REQUEST) { this.echoReply(f, l4); return; }
    if (type === ICMPV6_PACKET_TOO_BIG && end - l4 >= 8 + IP6) {
      const mtu = m.mtu(), q = l4 + 8;
      const key = ipv6ToString(f, q + 24);
      if (mtu >= IPV6_MIN_MTU && mtu < this.mtuTo(f, q + 24)) this.pmtu.set(key, [mtu, this.host.sim.now + Ip6Stack.PMTU_EXPIRES_NS]);
    }
    this.host.deliver(f, l4, IPPROTO_ICMPV6);
  }

  private nsInput(ifname: string, f: Uint8Array, m: Icmpv6Packet): void {
    this.stats.nsIn++;
    const t = m.targetOffset();
    if (!this.onIface(ifname, f, t)) return;
    if (isUnspecified(f, SRC)) return; // DAD of someone else's address: the host does no DAD
    const sl = m.findOption(ND_OPT_SOURCE_LINKADDR);
    if (sl >= 0) this.neigh.learn(ifname, ipv6ToString(f, SRC), f.slice(sl + 2, sl + 8), 'request-for-us');
    // the NA: to the solicitation's source, to its MAC (the option's, else the frame's)
    const mac = sl >= 0 ? f.slice(sl + 2, sl + 8) : f.slice(6, 12);
    const withOpt = isMulticast(f, DST);
    const na = this.ndFrame(ICMPV6_NEIGHBOR_ADVERT, f.subarray(t, t + 16), f.subarray(SRC, SRC + 16), f.subarray(t, t + 16),
      (this.forwarding ? 0x80 : 0) | 0x40 | 0x20, withOpt ? ND_OPT_TARGET_LINKADDR : 0, this.host.mac(ifname)!);
    this.stats.naOut++;
    this.host.sim.tracer.aside(() => this.host.transmit(ifname, na, mac));
  }

  private naInput(ifname: string, f: Uint8Array, m: Icmpv6Packet): void {
    this.stats.naIn++;
    const solicited = m.solicited();
    if (solicited && isMulticast(f, DST)) { this.stats.icmpInErrors++; return; }
    const t = m.targetOffset();
    if (this.onIface(ifname, f, t)) return; // someone claims our address: the kernel only logs it
    const tl = m.findOption(ND_OPT_TARGET_LINKADDR);
    const key = ipv6ToString(f, t);
    const mac = tl >= 0 ? f.slice(tl + 2, tl + 8) : this.neigh.get(ifname, key)?.mac ?? null;
    if (mac === null) return;
    this.neigh.learn(ifname, key, mac, solicited ? 'reply' : 'other', m.router());
  }

  private echoReply(f: Uint8Array, l4: number): void {
    const src = isMulticast(f, DST) ? this.sourceFor(f, SRC) : f.slice(DST, DST + 16);
    if (src === null) return;
    // a fresh header: the request's extension headers are not echoed
    const r = new Uint8Array(PAY + f.length - l4);
    r.set(f.subarray(0, PAY), 0);
    setBe16(r, L3 + 4, f.length - l4); r[NH] = IPPROTO_ICMPV6;
    r.set(f.subarray(l4), PAY);
    r.set(f.subarray(SRC, SRC + 16), DST);
    r.set(src, SRC);
    r[HLIM] = 64;
    r[PAY] = ICMPV6_ECHO_REPLY;
    this.fillChecksum(r, PAY, IPPROTO_ICMPV6);
    this.stats.icmpOutMsgs++;
    this.host.sim.tracer.aside(() => this.send(r, false));
  }

  // ---- ICMPv6 errors ---------------------------------------------------------------------

  /**
   * icmp6_send: an error of 'type'/'code' ('info': the MTU or pointer) about packet 'f'
   * (Ethernet + IPv6) that came in on 'inIface' (null: the host's own). Sent as the host's
   * own packet unless a rule above forbids it or the rate limit holds it back.
   */
  error(f: Uint8Array, type: number, code: number, info: number, inIface: string | null): void {
    if (f.length < PAY) return;
    if (isMulticast(f, DST) && type !== ICMPV6_PACKET_TOO_BIG) return;
    if (isUnspecified(f, SRC) || isMulticast(f, SRC)) return;
    // never about an ICMPv6 error (is_ineligible); the upper layer found through the extension headers
    const v = this.view.reset(f, L3, f.length);
    if (v.checkHeader() === 0 && v.upperProto === IPPROTO_ICMPV6 && v.upperOff < f.length && (icmpv6IsError(f[v.upperOff]!) || f[v.upperOff]! >= 133)) return;
    const src = this.isLocal(f, DST) ? f.slice(DST, DST + 16) : this.errorSource(f, inIface);
    if (src === null) return;
    if (type !== ICMPV6_PACKET_TOO_BIG && !this.allow(f)) { this.stats.icmpOutRateLimitHost++; return; }
    const quote = Math.min(f.length - L3, IPV6_MIN_MTU - IP6 - 8);
    const e = new Uint8Array(PAY + 8 + quote);
    setBe16(e, 12, 0x86dd);
    e[L3] = 0x60; setBe16(e, L3 + 4, 8 + quote); e[NH] = IPPROTO_ICMPV6; e[HLIM] = 64;
    e.set(src, SRC); e.set(f.subarray(SRC, SRC + 16), DST);
    e[PAY] = type; e[PAY + 1] = code; setBe32(e, PAY + 4, info);
    e.set(f.subarray(L3, L3 + quote), PAY + 8);
    this.fillChecksum(e, PAY, IPPROTO_ICMPV6);
    this.stats.icmpOutMsgs++;
    this.host.sim.tracer.aside(() => this.send(e, false));
  }

  /**
   * The source of an error about 'f' (not addressed to the host): the route back's `src`;
   * else, for a packet that came in on 'inIface', RFC 6724 with that interface as the preferred
   * one ("a more meaningful saddr from input if": a router in a loop answers from the address
   * facing the packet, not the one facing the sender); else the route back's choice.
   */
  private errorSource(f: Uint8Array, inIface: string | null): Uint8Array | null {
    const w = words(f, SRC, new Uint32Array(4));
    const r = this.fib.lookup6(w, 0);
    const fib = this.fib.fib6;
    if (r >= 0 && (fib.flags[r]! & RTF_HAS_PREFSRC) !== 0) return bytesOfWords(fib.prefsrc.subarray(r * 4, r * 4 + 4));
    const dev = inIface === null ? undefined : this.fib.device(inIface);
    if (dev !== undefined && !dev.loopback) {
      const s = this.fib.selectSource6(dev.index, w);
      return s === null ? null : bytesOfWords(s);
    }
    return this.sourceFor(f, SRC);
  }

  /** icmpv6_xrlim_allow for an error to the source of 'f': the per-destination token bucket. */
  private allow(f: Uint8Array): boolean {
    const r = this.route(f, SRC);
    if (r < 0) return true;
    if (this.fib.fib6.type[r] === RTN_LOCAL) return true; // to the host itself, over lo
    const plen = this.fib.fib6.dstLen[r]!;
    const tmo = plen < 128 ? Ip6Stack.ICMP_RATELIMIT_MS >> ((128 - plen) >> 5) : Ip6Stack.ICMP_RATELIMIT_MS;
    const now = Math.floor(this.host.sim.now / 1e6);
    const key = ipv6ToString(f, SRC);
    let p = this.peers.get(key);
    if (p === undefined) { p = [0, -Infinity]; this.peers.set(key, p); }
    let tokens = Math.min(p[0] + (now - p[1]), 6 * tmo);
    p[1] = now;
    const ok = tokens >= tmo;
    if (ok) tokens -= tmo;
    p[0] = tokens;
    return ok;
  }

  // ---- output ----------------------------------------------------------------------------

  /**
   * Send 'frame' (Ethernet + IPv6, source and checksums filled), a packet of the host's own:
   * routed, fragmented to the path MTU unless 'dontFrag' (then EMSGSIZE), resolved, out.
   */
  send(frame: Uint8Array, dontFrag: boolean): Send6Status {
    this.stats.outRequests++;
    if (this.isLocal(frame, DST)) {
      // over lo: the host's own input
      this.host.sim.call(0, () => this.input('lo', frame));
      return 'sent';
    }
    const r = this.route(frame, DST);
    const fib = this.fib.fib6;
    if (r < 0 || fib.type[r] !== RTN_UNICAST) { this.stats.outNoRoutes++; return 'ENETUNREACH'; }
    const dev = this.fib.deviceByIndex(fib.oif[r]!)?.name;
    if (dev === undefined || this.host.mac(dev) === undefined) { this.stats.outNoRoutes++; return 'ENETUNREACH'; }
    const mtu = Math.max(IPV6_MIN_MTU, this.mtuTo(frame, DST));
    let frames = [frame];
    if (frame.length - L3 > mtu) {
      if (dontFrag) { this.stats.fragFails++; return 'EMSGSIZE'; }
      frames = this.fragment(frame, mtu);
      this.stats.fragOKs++;
      this.stats.fragCreates += frames.length;
    }
    if (isMulticast(frame, DST)) { for (const x of frames) this.host.transmit(dev, x, multicastMac(frame, DST)); return 'sent'; }
    const hop = this.nextHop(r, frame);
    for (const x of frames) this.neigh.output(dev, hop, x);
    return 'sent';
  }

  /** ip6_fragment for a packet without extension headers: Fragment headers after the fixed header, 8-byte multiples. */
  private fragment(frame: Uint8Array, mtu: number): Uint8Array[] {
    const chunk = (mtu - IP6 - 8) & ~7;
    const data = frame.subarray(PAY);
    const id = this.host.sim.rng.nextI32() >>> 0;
    const out: Uint8Array[] = [];
    for (let at = 0; at < data.length; at += chunk) {
      const len = Math.min(chunk, data.length - at);
      const x = new Uint8Array(PAY + 8 + len);
      x.set(frame.subarray(0, PAY), 0);
      setBe16(x, L3 + 4, 8 + len);
      x[NH] = IPPROTO_FRAGMENT;
      x[PAY] = frame[NH]!;
      setBe16(x, PAY + 2, at | (at + len < data.length ? 1 : 0));
      setBe32(x, PAY + 4, id);
      x.set(data.subarray(at, at + len), PAY + 8);
      out.push(x);
    }
    return out;
  }

  /** The checksum of the upper-layer message at 'l4' of 'f' (ICMPv6, UDP, TCP). */
  fillChecksum(f: Uint8Array, l4: number, proto: number): void {
    const at = l4 + (proto === 17 ? 6 : proto === 6 ? 16 : 2);
    setBe16(f, at, 0);
    let c = fold(sum16(f, l4, f.length, ipv6PseudoSum(f, SRC, DST, proto, f.length - l4)));
    if (c === 0 && proto === 17) c = 0xffff;
    setBe16(f, at, c);
  }

  /** An NS for 'target' out of 'ifname': to its solicited-node group, or (with 'to') unicast. */
  private sendNs(ifname: string, target: string, to: Uint8Array | null, first: Uint8Array | null): void {
    const mac = this.host.mac(ifname);
    if (mac === undefined) return;
    const tw = inetPton6(target);
    if (tw === null) return;
    const t = bytesOfWords(tw);
    const dst = to === null ? solicitedNode(t, 0) : t;
    let src: Uint8Array | null = first !== null && first.length >= PAY && this.onIface(ifname, first, SRC) ? first.slice(SRC, SRC + 16) : null;
    if (src === null) {
      const s = this.fib.selectSource6(this.fib.device(ifname)!.index, words(dst, 0, new Uint32Array(4)));
      if (s === null) return;
      src = bytesOfWords(s);
    }
    this.stats.nsOut++;
    const ns = this.ndFrame(ICMPV6_NEIGHBOR_SOLICIT, src, dst, t, 0, ND_OPT_SOURCE_LINKADDR, mac);
    this.host.sim.tracer.aside(() => this.host.transmit(ifname, ns, to ?? multicastMac(dst, 0)));
  }

  /** An NS or NA frame: 'flags' in the first byte after the checksum, 'opt' a link-layer option (0: none) with 'mac'. */
  private ndFrame(type: number, src: Uint8Array, dst: Uint8Array, target: Uint8Array, flags: number, opt: number, mac: Uint8Array): Uint8Array {
    const len = 24 + (opt !== 0 ? 8 : 0);
    const f = new Uint8Array(PAY + len);
    setBe16(f, 12, 0x86dd);
    f[L3] = 0x60; setBe16(f, L3 + 4, len); f[NH] = IPPROTO_ICMPV6; f[HLIM] = 255;
    f.set(src, SRC); f.set(dst, DST);
    f[PAY] = type; f[PAY + 4] = flags; f.set(target, PAY + 8);
    if (opt !== 0) { f[PAY + 24] = opt; f[PAY + 25] = 1; f.set(mac, PAY + 26); }
    this.fillChecksum(f, PAY, IPPROTO_ICMPV6);
    return f;
  }
}
