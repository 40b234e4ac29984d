/**
 * A VXLAN tunnel endpoint (devices layer): Linux's vxlan netdevice
 * (drivers/net/vxlan/vxlan_core.c, Linux 6.x, read for this module; RFC 7348)
 * inside a `Host`, with its L2 side as a sim `Port`.
 *
 * What: `new Vtep(host, { vni, local, … })` is what `ip link add vxlan100 type
 * vxlan id 100 local … dstport 4789` makes, as the port of a bridge: its one
 * L2 `port` (`addPort()` returns it, so `Topology.link` can join it to a
 * bridge or a VM) takes frames to encapsulate; datagrams arriving on the
 * host's UDP port `dstPort` come out of it decapsulated. What the driver
 * does, step by step, and what this module does the same way:
 *
 * TX (vxlan_xmit → vxlan_xmit_one), a frame from the port:
 *  - The device MTU is 1500, or the underlay `dev`'s MTU − 50 when `dev` is
 *    given (checked: `ip link add … type vxlan` shows mtu 1500 without `dev`,
 *    1450 with it). The bridge in front checks frames against it before the
 *    device sees them, and this module does that in its stead: with
 *    br_netfilter (`bridgeNf`, default on: bridge-nf-call-iptables=1, built
 *    into the kernel these tests run on and loaded on every Docker or
 *    Kubernetes host) an untagged IPv4 packet longer than the MTU is dropped
 *    if DF is set, else fragmented to the MTU with the original Ethernet
 *    header on each piece (br_nf_dev_queue_xmit → br_nf_ip_fragment), and
 *    each fragment is tunnelled on its own; every other frame (and every
 *    frame with `bridgeNf: false`) passes up to MTU + 18 bytes
 *    (is_skb_forwardable: the Ethernet header and a VLAN tag's allowance) and
 *    is dropped above ('too_big'). Checked with MTU 1450: IPv4 1450 passes,
 *    1454 with DF vanishes, 1500 without DF leaves as 1444 + 76; a 1468-byte
 *    ARP frame passes, 1469 does not.
 *  - `arpSuppress` (the driver's `proxy`): EVERY ARP frame is consumed by
 *    arp_reduce, never tunnelled. A well-formed request (Ethernet/IPv4,
 *    not for 127/8 or a multicast address) whose target has a neighbour entry
 *    on the device (`addNeigh`, as `ip neigh add IP lladdr MAC dev vxlan100`,
 *    what a controller programs) is answered out of the port — a 42-byte
 *    reply from arp_create: Ethernet dst = the request's sender hardware
 *    address, src = the neighbour's MAC — unless the FDB sends that MAC to
 *    0.0.0.0 (a "bridge-local neighbour"). Everything else (replies,
 *    unanswered requests) is dropped. IPv6 neighbour solicitations are
 *    consumed likewise (neigh_reduce; no IPv6 neighbours are modelled, so
 *    none is answered).
 *  - FDB lookup of the destination MAC (it refreshes the entry's `used`, not
 *    its ageing); no entry: the all-zeros entry (`bridge fdb append
 *    00:00:00:00:00:00 dev vxlan100 dst R`, or the `remote` option); none
 *    either: dropped ('no_tx_target', tx_dropped). An entry's remotes get a
 *    copy each — head-end replication — in the driver's order: the second,
 *    third, … remote first, the first one last.
 *  - Per remote: 0.0.0.0 → dropped; a remote that is one of the host's own
 *    addresses → local bypass (the default `localbypass`): the frame goes
 *    straight to the host's VTEP of that VNI and port, which learns the
 *    source MAC at 127.0.0.1; no route → tx_errors ('no_route').
 *  - Path MTU (skb_tunnel_check_pmtu with headroom 50, the bridged form that
 *    answers): an inner untagged IPv4 packet longer than the route's path MTU
 *    − 50 whose fragment field is exactly DF, from a unicast-able source, not
 *    itself an ICMP error, with that MTU ≥ 576, is answered with ICMP
 *    fragmentation needed (mtu = path MTU − 50) built by
 *    iptunnel_pmtud_build_icmp: Ethernet addresses swapped, IPv4 src = the
 *    inner destination, dst = the inner source, TTL = the inner TTL, id 0,
 *    DF, TOS 0, the first 548 bytes of the inner packet quoted; sent out of
 *    the port, and the packet dropped. Otherwise it is encapsulated and the
 *    host fragments the outer packet (outer DF is clear by default).
 *  - Encapsulation: outer IPv4 src = `local` (else the route's source), dst =
 *    the remote, TTL = `ttl` (0, the default, means ip_default_ttl: 64; 1 to
 *    a multicast remote; 'inherit' copies the inner TTL), TOS = `tos`
 *    ('inherit' or 1 copies the inner DS field) with the inner ECN bits
 *    folded in (INET_ECN_encapsulate: ECT(0)/ECT(1) copied, CE → ECT(0)),
 *    DF per `df` (unset by default: clear; 'set'; 'inherit': the inner DF,
 *    always for IPv6), id chosen by the host (the kernel's is a hashed
 *    per-destination counter: unpredictable); UDP dst = the remote's port
 *    (default `dstPort`), src = a hash of the inner flow mapped into
 *    32768–60998 (see below), checksum computed (`udpcsum` is the kernel's
 *    default for IPv4: checked, `ip -d link show` says udpcsum and the
 *    captured checksums are valid) unless `udpCsum: false`; VXLAN flags
 *    0x08, the remote's VNI (default `vni`). The packet goes to the host
 *    (`sendIp`): routed, ARPed, fragmented if needed, through OUTPUT.
 *  - The UDP source port: the kernel's udp_flow_src_port (range: `srcport
 *    MIN MAX`, else ip_local_port_range 32768–60999; MAX itself never comes
 *    out) hashes the inner
 *    flow with skb_get_hash — the flow dissector's keys hashed with siphash
 *    and a key drawn at boot — so no one can predict it. This module hashes
 *    the same fields (VLAN id, EtherType, IPv4/IPv6 addresses, protocol,
 *    TCP/UDP/SCTP ports, ordered so both directions of a flow hash alike, as
 *    __flow_hash_consistentify does; not the ICMP type or id — seen: the
 *    kernel gave an echo request and an ICMP error between the same two
 *    addresses one source port) with Murmur3 and a per-host seed from the
 *    simulation's seed (a packet a local socket sent may carry the socket's
 *    random txhash in the kernel instead), then does what the kernel does
 *    with its hash:
 *    `hash ^= hash << 16; min + (hash × (max − min)) >> 32`. Deterministic per
 *    seed, stable per flow, spread over the range; never equal to a kernel's.
 *
 * RX (vxlan_rcv), a datagram on the host's UDP `dstPort` — one socket per
 * host and port shared by every Vtep on it (the driver's vxlan_sock),
 * dispatched by VNI:
 *  - shorter than the VXLAN header, or without the I flag: dropped; an
 *    unknown VNI: dropped silently (no ICMP: the socket consumed it). These
 *    are counted on the socket (`socketDrops`), as no device is found.
 *  - any other flag or reserved bit set: rx_frame_errors ('invalid_hdr');
 *    an inner frame shorter than 14 bytes ('too_short'); an inner source MAC
 *    equal to the device's ('local_mac');
 *  - learning (on by default; `learning: false` is `nolearning`, the mode of
 *    controller-programmed FDBs): an invalid source MAC (multicast or zero)
 *    drops the frame; a known MAC refreshes the entry's ageing; at another
 *    remote a learned entry moves there, a static one stays and the frame
 *    is dropped ('entry_exists'); a new MAC is learned at the outer source
 *    address (port `dstPort`, VNI `vni`);
 *  - an inner IPv4/IPv6 frame too short for its header: rx_length_errors;
 *  - the inner frame leaves the port byte for byte.
 * Ageing: learned (and `dynamic`) entries are removed `ageing` seconds
 * (default 300; 0 means 300, as the driver) after they were last refreshed by
 * a received frame — transmitting to a MAC does not refresh it — by the
 * driver's cleanup timer, which runs every 10 s from the device's creation or
 * earlier at the next expiry; the timer is modelled exactly but only
 * scheduled while a dynamic entry exists, so a finished simulation has no
 * event left.
 * Counters, as `ip -s link show vxlan100`: tx/rx packets and bytes (bytes are
 * the inner packet from its network header on, not the inner frame, as the
 * driver counts them), errors and drops, plus `drops` by reason.
 * `fdbShow()` prints `bridge fdb show dev vxlan100` (newest entry first, each
 * entry's remotes in order; `port`/`vni` only where they differ from the
 * device's; `self permanent`, `self static`, or `self ` for dynamic ones —
 * checked against iproute2 6.1 on Linux 6.18).
 * Not modelled: multicast groups (`group`), IPv6 underlays, GBP/GPE/RCO,
 * route short-circuit (`rsc`), l2miss/l3miss notifications, nexthop FDBs,
 * ECN decapsulation — the host's UDP socket hands over the payload only,
 * not the outer TOS (a marked CE would have to be copied into the inner
 * header, a CE over a Not-ECT inner frame dropped) — and the outer UDP
 * checksum on receipt: the host's UDP input does not verify it, where the
 * kernel drops a bad one before vxlan_rcv (udp_queue_rcv_one_skb).
 * Invariants: a frame taken from the port is dropped with one reason,
 * answered, or sent to each remote (as fragments when the bridge in front
 * splits it); the port sends inner frames unchanged. Each drop is the packet
 * ledger's too (sim/ledger.ts), under the trace's reason (LEDGER_REASON). Determinism: nothing here draws from the RNG.
 * Cost per frame: one Map lookup on a 48-bit MAC number, a hash of the
 * inner headers, one allocation for the outer packet, the UDP checksum over
 * it; the host's IP path after that (slow path, objects per packet).
 * Checked against Linux 6.18 (test/devices/vtep-kernel.test.ts, namespaces): the
 * kernel decapsulates and answers what this module encapsulates and the other
 * way round, byte for byte; outer headers field by field (not the source port
 * or IPv4 id); fdb text; ARP suppression; the path-MTU ICMP; fragments; the
 * bridge's MTU handling; the receive-path drops; the ip -s link counters.
 * Neighbours: netstack/host.ts (sendIp, route, mtuTo, sourceFor), sockets.ts
 * (the UDP socket), ipfrag.ts (the bridge's fragmentation), sim/link.ts (Port), flow/hash.ts (mixing, the port
 * range formula), wire/ (bytes, checksums, VXLAN constants); a bridge
 * (linux-bridge.ts) or a VM on the other side of the port.
 */
import { allocFrame, Port, type PortOwner } from '../sim/link.js';
import type { TraceDropReason } from '../sim/tracer.js';
import type { EventHandler, EventId } from '../sim/engine.js';
import { nextMac, type Host } from '../netstack/host.js';
import type { UdpSocket } from '../netstack/sockets.js';
import { fragment } from '../netstack/ipfrag.js';
import { be16, be24, be32, ipv4ToString, macToString, parseIpv4, parseMac, setBe16, setBe32 } from '../wire/bytes.js';
import { fold, ipv4PseudoSum, sum16 } from '../wire/checksum.js';
import { VXLAN_ENCAP_OVERHEAD, VXLAN_FLAG_I, VXLAN_HEADER_LEN, VXLAN_PORT, VNI_MAX } from '../wire/vxlan.js';
import { hashFinishI32, mhashAddI32, tnlUdpSrcPort } from '../flow/hash.js';
import { InputError } from '../errors.js';

/** The driver's FDB_AGE_INTERVAL: the cleanup timer's longest period. */
const FDB_AGE_INTERVAL_NS = 10e9;
/** FDB_AGE_DEFAULT, seconds. */
const FDB_AGE_DEFAULT_S = 300;
/** ip_local_port_range, the source-port range when none is configured. */
const SRC_PORT_MIN = 32768, SRC_PORT_MAX = 60999;
/** 576 − IPv4 header − ICMP header: what iptunnel_pmtud_build_icmp quotes. */
const PMTUD_QUOTE = 548;
const LOOPBACK = 0x7f000001;
const ETH_P_IP = 0x0800, ETH_P_ARP = 0x0806, ETH_P_IPV6 = 0x86dd;

export type VtepDf = 'unset' | 'set' | 'inherit';
/** NUD state of an FDB entry: `permanent` and `static` never age or move; `dynamic` (NUD_REACHABLE) does. */
export type FdbState = 'permanent' | 'static' | 'dynamic';

export interface VtepOptions {
  /** the interface name (default `vxlan<vni>`); the node is named `<host>/<name>` */
  name?: string;
  vni: number;
  /** outer source address (`local`); default: the route's source towards each remote */
  local?: string;
  /** UDP destination port (default 4789; the kernel's own default is 8472, iproute2 warns) */
  dstPort?: number;
  /** flood-and-learn (default true, as the driver); false is `nolearning` */
  learning?: boolean;
  /** the `remote` option: the default destination (an all-zeros FDB entry) */
  remote?: string;
  /** all-zeros FDB entries for head-end replication, as `bridge fdb append 00:00:00:00:00:00 … dst R` */
  remotes?: string[];
  /** multicast group: not modelled (an InputError) */
  group?: undefined;
  /** the driver's `proxy`: ARP answered from `addNeigh` entries, never tunnelled */
  arpSuppress?: boolean;
  /** seconds a dynamic entry lives without a frame from it (default 300; 0 means 300) */
  ageing?: number;
  /** outer TTL: 0 (default) = 64, 1..255, or 'inherit' */
  ttl?: number | 'inherit';
  /** outer TOS: 0 (default), a value, or 'inherit' (= 1 in the driver) */
  tos?: number | 'inherit';
  df?: VtepDf;
  /** UDP checksum of the outer datagram (default true, the kernel's `udpcsum`) */
  udpCsum?: boolean;
  /** the underlay interface (`dev`): the default MTU is its MTU − 50 */
  dev?: string;
  /** the device MTU (default 1500, or dev's − 50) */
  mtu?: number;
  /** the bridge in front runs br_netfilter (bridge-nf-call-iptables=1): oversized IPv4 is fragmented or, with DF, dropped (default true) */
  bridgeNf?: boolean;
  /** the device's MAC (default: one the simulator hands out; the kernel's is random) */
  mac?: string;
  /** outer UDP source-port range `[min, max]` (`srcport MIN MAX`; default 32768–60999) */
  srcPortRange?: [number, number];
}

export interface FdbOptions {
  /** UDP destination port for this remote (default the device's) */
  port?: number;
  /** VNI for this remote (default the device's) */
  vni?: number;
  /** default `permanent`, as `bridge fdb add/append` without a state */
  state?: FdbState;
}

/** One remote of an FDB entry. */
export interface FdbRemote { readonly dst: number; readonly port: number; readonly vni: number }

/** An FDB entry as tests and tools read it. */
export interface FdbEntryInfo {
  mac: string;
  state: FdbState;
  /** learned from a received frame (not programmed) */
  learned: boolean;
  remotes: { dst: string; port: number; vni: number }[];
  /** virtual time of the last refresh (learning) and of the last lookup, ns */
  updatedNs: number;
  usedNs: number;
}

/** Why a frame was dropped (drop reasons named after the kernel's SKB_DROP_REASON_* where one exists). */
export type VtepDropReason =
  | 'too_big' | 'no_tx_target' | 'remote_any' | 'no_route' | 'inet_short' | 'frag_fail' | 'netfilter' | 'vni_not_found'
  | 'arp_consumed' | 'nd_consumed' | 'frag_needed'
  | 'invalid_hdr' | 'too_short' | 'local_mac' | 'mac_invalid_source' | 'entry_exists' | 'length';

/** Counters, named as `ip -s link show` prints them, and drops by reason. */
export class VtepStats {
  rxPackets = 0; rxBytes = 0; rxErrors = 0; rxFrameErrors = 0; rxLengthErrors = 0;
  txPackets = 0; txBytes = 0; txErrors = 0; txCarrierErrors = 0; txDropped = 0;
  /** ARP requests answered from the neighbour table (arpSuppress) */
  arpReplies = 0;
  /** ICMP fragmentation needed sent back for oversized DF packets */
  pmtuReplies = 0;
  drops: Record<VtepDropReason, number> = {
    too_big: 0, no_tx_target: 0, remote_any: 0, no_route: 0, inet_short: 0, frag_fail: 0, netfilter: 0, vni_not_found: 0,
    arp_consumed: 0, nd_consumed: 0, frag_needed: 0,
    invalid_hdr: 0, too_short: 0, local_mac: 0, mac_invalid_source: 0, entry_exists: 0, length: 0,
  };
}

/** Datagrams the shared socket could not give to any Vtep. */
export interface VxlanSocketDrops { too_short: number; invalid_flags: number; vni_not_found: number }

/** Each drop reason as the packet ledger's and the trace's (sim/tracer.ts DROP_REASONS). */
const LEDGER_REASON: Record<VtepDropReason, TraceDropReason> = {
  too_big: 'frag-needed', no_tx_target: 'no-fdb', remote_any: 'no-fdb', no_route: 'no-route', inet_short: 'bad-header',
  frag_fail: 'frag-needed', netfilter: 'policy', vni_not_found: 'unknown-vni', arp_consumed: 'arp-suppressed',
  nd_consumed: 'arp-suppressed', frag_needed: 'frag-needed', invalid_hdr: 'bad-header', too_short: 'bad-header',
  local_mac: 'not-for-us', mac_invalid_source: 'bad-header', entry_exists: 'no-fdb', length: 'bad-header',
};

class FdbEntry {
  used = 0;
  updated = 0;
  constructor(
    readonly key: number,
    readonly mac: Uint8Array,
    public state: FdbState,
    public learned: boolean,
    readonly remotes: FdbRemote[],
  ) {}
}

/** The driver's vxlan_sock: one UDP socket per host and port, its devices by VNI. */
class VxlanSock {
  readonly byVni = new Map<number, Vtep>();
  readonly drops: VxlanSocketDrops = { too_short: 0, invalid_flags: 0, vni_not_found: 0 };
  readonly udp: UdpSocket;
  constructor(readonly host: Host, readonly port: number) {
    this.udp = host.sockets.udp(port);
    this.udp.encap = true;
    this.udp.onMessage = (data, from) => this.input(data, from.addr);
  }

  private input(data: Uint8Array, src: number): void {
    const L = this.host.sim.ledger;
    if (data.length < VXLAN_HEADER_LEN) { this.drops.too_short++; L.drop('bad-header'); return; }
    if ((data[0]! & VXLAN_FLAG_I) === 0) { this.drops.invalid_flags++; L.drop('bad-header'); return; }
    const v = this.byVni.get(be24(data, 4));
    if (v === undefined) {
      this.drops.vni_not_found++;
      L.drop('unknown-vni');
      const tr = this.host.sim.tracer;
      if (tr.on) tr.drop(this.host.name, null, 'unknown-vni', `no VXLAN device for VNI ${be24(data, 4)}`);
      return;
    }
    v.rx(data, src);
  }
}

const socks = new WeakMap<Host, Map<number, VxlanSock>>();

/** The 48-bit MAC at 'o' as one number (a Map key that allocates nothing). */
function macKey(b: Uint8Array, o: number): number {
  return ((b[o]! << 8) | b[o + 1]!) * 4294967296 + (((b[o + 2]! << 24) | (b[o + 3]! << 16) | (b[o + 4]! << 8) | b[o + 5]!) >>> 0);
}

const ZERO_KEY = 0;

function isIcmpError(type: number): boolean {
  return type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
}

/**
 * The inner flow's hash (see the module comment): VLAN id, EtherType, L3
 * addresses, protocol and ports, both directions of a flow alike.
 * Returns a uint32; reads only within 'f'; allocates nothing.
 */
export function innerFlowHash(f: Uint8Array, basis: number): number {
  let h = basis | 0;
  let type = be16(f, 12), nh = 14;
  if ((type === 0x8100 || type === 0x88a8) && f.length >= 18) {
    h = mhashAddI32(h, be16(f, 14) & 0x0fff);
    type = be16(f, 16);
    nh = 18;
  }
  h = mhashAddI32(h, type);
  let proto = -1, l4 = -1, a0 = 0, b0 = 0, words = 0;
  if (type === ETH_P_IP && f.length >= nh + 20) {
    proto = f[nh + 9]!;
    a0 = be32(f, nh + 12); b0 = be32(f, nh + 16);
    words = 1;
    // fragments carry no ports for the dissector (not even the first one)
    if ((be16(f, nh + 6) & 0x3fff) === 0) l4 = nh + (f[nh]! & 15) * 4;
  } else if (type === ETH_P_IPV6 && f.length >= nh + 40) {
    proto = f[nh + 6]!;
    words = 4;
    l4 = nh + 40;
  }
  if (words === 0) return hashFinishI32(h, 0) >>> 0;
  // the addresses in a fixed order (lower first), so both directions of a flow hash alike
  let sp = 0, dp = 0;
  if (l4 >= 0 && f.length >= l4 + 4 && (proto === 6 || proto === 17 || proto === 132 || proto === 33 || proto === 136)) {
    sp = be16(f, l4); dp = be16(f, l4 + 2);
  }
  const srcOff = type === ETH_P_IP ? nh + 12 : nh + 8, dstOff = type === ETH_P_IP ? nh + 16 : nh + 24;
  let swap = false;
  if (words === 1) {
    swap = b0 < a0 || (b0 === a0 && dp < sp);
  } else {
    let c = 0;
    for (let i = 0; i < 16 && c === 0; i++) c = f[dstOff + i]! - f[srcOff + i]!;
    swap = c < 0 || (c === 0 && dp < sp);
  }
  const first = swap ? dstOff : srcOff, second = swap ? srcOff : dstOff;
  for (let w = 0; w < words; w++) h = mhashAddI32(h, be32(f, first + 4 * w));
  for (let w = 0; w < words; w++) h = mhashAddI32(h, be32(f, second + 4 * w));
  h = mhashAddI32(h, proto);
  h = mhashAddI32(h, swap ? ((dp << 16) | sp) : ((sp << 16) | dp));
  return hashFinishI32(h, 0) >>> 0;
}

/** The per-host seed of the source-port hash (the kernel's boot-time key), from the simulation's seed. */
export function hostHashBasis(host: Host): number {
  let hb = host.sim.seed | 0;
  for (let i = 0; i < host.name.length; i++) hb = mhashAddI32(hb, host.name.charCodeAt(i));
  return hashFinishI32(hb, host.name.length);
}

/**
 * udp_flow_src_port: the outer UDP source port for inner frame 'frame'
 * (innerFlowHash with 'basis', folded and mapped into ['min', 'max')).
 */
export function udpFlowSrcPort(frame: Uint8Array, basis: number, min = SRC_PORT_MIN, max = SRC_PORT_MAX): number {
  let h = innerFlowHash(frame, basis);
  h = (h ^ (h << 16)) >>> 0;
  return tnlUdpSrcPort(h, min, max);
}

/** The outer headers of a UDP tunnel packet (udp_tunnel_xmit_skb's arguments). */
export interface UdpTunnelOuter {
  src: number; dst: number; tos: number; ttl: number; df: boolean;
  sport: number; dport: number;
  /** compute the UDP checksum (else 0) */
  csum: boolean;
}

/**
 * Outer Ethernet (left for the host to fill) + IPv4 + UDP + an 8-byte tunnel
 * header (words 'w0', 'w1': VXLAN flags/VNI, or Geneve's base header with
 * no options) in front of 'inner'. The IPv4 id is 0: the host picks one for
 * a packet without DF.
 */
export function encapUdpTunnel(inner: Uint8Array, o: UdpTunnelOuter, w0: number, w1: number): Uint8Array {
  const n = inner.length;
  // carved from the links' slabs: a frame per packet without an off-heap buffer each
  const out = allocFrame(VXLAN_ENCAP_OVERHEAD + n);
  setBe16(out, 12, ETH_P_IP);
  out[14] = 0x45; out[15] = o.tos;
  setBe16(out, 16, 36 + n);
  setBe16(out, 20, o.df ? 0x4000 : 0);
  out[22] = o.ttl; out[23] = 17;
  setBe32(out, 26, o.src); setBe32(out, 30, o.dst);
  setBe16(out, 24, fold(sum16(out, 14, 34)));
  setBe16(out, 34, o.sport); setBe16(out, 36, o.dport); setBe16(out, 38, 16 + n);
  setBe32(out, 42, w0); setBe32(out, 46, w1);
  out.set(inner, VXLAN_ENCAP_OVERHEAD);
  if (o.csum) {
    const c = fold(sum16(out, 34, out.length, ipv4PseudoSum(o.src, o.dst, 17, 16 + n)));
    setBe16(out, 40, c === 0 ? 0xffff : c);
  }
  return out;
}

function ipOf(s: string, field: string): number {
  const a = parseIpv4(s);
  if (a === null) throw new InputError('VTEP_BAD_ADDRESS', field, `'${s}' is not an IPv4 address`);
  return a;
}

function macOf(s: string, field: string): Uint8Array {
  const m = parseMac(s);
  if (m === null) throw new InputError('VTEP_BAD_MAC', field, `'${s}' is not a MAC address`);
  return m;
}

function uintOf(v: number, max: number, field: string, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new InputError('VTEP_BAD_VALUE', field, `${String(v)} is not ${what}`);
  return v;
}

export class Vtep implements PortOwner, EventHandler {
  /** the node name: `<host>/<ifname>` */
  readonly name: string;
  /** the interface name (`vxlan100`) */
  readonly ifname: string;
  readonly host: Host;
  /** the L2 side: link it to a bridge port or a VM */
  readonly port: Port;
  readonly vni: number;
  readonly dstPort: number;
  readonly local: number;
  readonly learning: boolean;
  readonly arpSuppress: boolean;
  readonly ageingS: number;
  readonly ttl: number;
  readonly ttlInherit: boolean;
  readonly tos: number;
  readonly df: VtepDf;
  readonly udpCsum: boolean;
  readonly mtu: number;
  readonly bridgeNf: boolean;
  readonly mac: Uint8Array;
  readonly stats = new VtepStats();
  private readonly portMin: number;
  private readonly portMax: number;
  /** per-host seed of the source-port hash (the kernel's boot-time key) */
  private readonly hashBasis: number;
  /** FDB by MAC number; Map order = creation order (the dump prints newest first) */
  private readonly fdb = new Map<number, FdbEntry>();
  private readonly neigh = new Map<number, Uint8Array>();
  private readonly sock: VxlanSock;
  /** the kernel cleanup timer's next run (ns); an event is queued only while a dynamic entry exists */
  private ageTimerAt: number;
  private ageEvent: EventId | null = null;
  private dynamicCount = 0;
  private closed = false;

  constructor(host: Host, opts: VtepOptions) {
    this.host = host;
    this.vni = uintOf(opts.vni, VNI_MAX, 'vni', 'a VNI (0..16777215)');
    this.ifname = opts.name ?? `vxlan${this.vni}`;
    this.name = `${host.name}/${this.ifname}`;
    if (opts.group !== undefined) throw new InputError('VTEP_UNSUPPORTED', 'group', 'multicast groups are not modelled: use remotes (head-end replication)');
    this.dstPort = uintOf(opts.dstPort ?? VXLAN_PORT, 0xffff, 'dstPort', 'a UDP port');
    if (this.dstPort === 0) throw new InputError('VTEP_BAD_VALUE', 'dstPort', 'port 0 is not a destination port');
    this.local = opts.local === undefined ? 0 : ipOf(opts.local, 'local');
    if (this.local !== 0 && (this.local >>> 28) === 14) throw new InputError('VTEP_BAD_ADDRESS', 'local', 'Local address cannot be multicast');
    this.learning = opts.learning ?? true;
    this.arpSuppress = opts.arpSuppress ?? false;
    const age = opts.ageing ?? FDB_AGE_DEFAULT_S;
    if (!(age >= 0) || !Number.isFinite(age)) throw new InputError('VTEP_BAD_VALUE', 'ageing', `${String(age)} is not a number of seconds`);
    this.ageingS = age === 0 ? FDB_AGE_DEFAULT_S : age;
    this.ttlInherit = opts.ttl === 'inherit';
    this.ttl = opts.ttl === undefined || opts.ttl === 'inherit' ? 0 : uintOf(opts.ttl, 255, 'ttl', 'a TTL (0..255)');
    this.tos = opts.tos === 'inherit' ? 1 : uintOf(opts.tos ?? 0, 255, 'tos', 'a TOS (0..255)');
    this.df = opts.df ?? 'unset';
    this.udpCsum = opts.udpCsum ?? true;
    let maxMtu = 65535;
    if (opts.dev !== undefined) maxMtu = Math.max(68, host.mtu(host.iface(opts.dev, 'dev').name) - VXLAN_ENCAP_OVERHEAD);
    const mtu = opts.mtu === undefined ? (opts.dev !== undefined ? maxMtu : 1500) : uintOf(opts.mtu, 65535, 'mtu', 'an MTU');
    if (mtu < 68) throw new InputError('VTEP_BAD_VALUE', 'mtu', `${mtu} is below the minimum MTU 68`);
    this.mtu = Math.min(mtu, maxMtu);
    this.bridgeNf = opts.bridgeNf ?? true;
    this.mac = macOf(opts.mac ?? nextMac(host.sim), 'mac');
    const [lo, hi] = opts.srcPortRange ?? [0, 0];
    uintOf(lo, 0xffff, 'srcPortRange[0]', 'a UDP port'); uintOf(hi, 0xffff, 'srcPortRange[1]', 'a UDP port');
    // udp_flow_src_port: a range with min >= max means ip_local_port_range
    [this.portMin, this.portMax] = lo >= hi ? [SRC_PORT_MIN, SRC_PORT_MAX] : [lo, hi];
    this.hashBasis = hostHashBasis(host);
    this.port = new Port(this, this.ifname);
    this.ageTimerAt = host.sim.now + FDB_AGE_INTERVAL_NS;

    let perHost = socks.get(host);
    if (perHost === undefined) { perHost = new Map(); socks.set(host, perHost); }
    let sock = perHost.get(this.dstPort);
    if (sock?.byVni.has(this.vni) === true) {
      throw new InputError('VTEP_VNI_IN_USE', 'vni', `A VXLAN device with the specified VNI already exists (${host.name}, VNI ${this.vni}, port ${this.dstPort})`);
    }
    if (sock === undefined) { sock = new VxlanSock(host, this.dstPort); perHost.set(this.dstPort, sock); }
    sock.byVni.set(this.vni, this);
    this.sock = sock;

    if (opts.remote !== undefined) this.fdbAppend('00:00:00:00:00:00', opts.remote);
    opts.remotes?.forEach((r, i) => this.fdbAppendAt('00:00:00:00:00:00', r, {}, `remotes[${i}]`));
  }

  /** The single L2 port (the vxlan netdevice as a bridge port), for `Topology.link`. */
  addPort(_name?: string): Port {
    if (this.port.link !== null) throw new InputError('VTEP_LINKED', this.name, `${this.port.id} is already linked (a VTEP has one L2 port)`);
    return this.port;
  }

  /** Datagrams the host's shared VXLAN socket dropped before finding a device. */
  get socketDrops(): Readonly<VxlanSocketDrops> { return this.sock.drops; }

  /** `ip link del`: unbind from the shared socket (closing it when last), stop ageing. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sock.byVni.delete(this.vni);
    if (this.sock.byVni.size === 0) {
      this.sock.udp.close();
      socks.get(this.host)?.delete(this.dstPort);
    }
    if (this.ageEvent !== null) { this.host.sim.cancel(this.ageEvent); this.ageEvent = null; }
  }

  // ---- FDB and neighbours (the control plane: `bridge fdb`, `ip neigh`) -------------------------

  /** `bridge fdb add MAC dev vxlanN dst DST …`: a new entry (VTEP_EXISTS when the MAC has one). */
  fdbAdd(mac: string, dst: string, opts: FdbOptions = {}): void {
    const m = macOf(mac, 'mac');
    const key = macKey(m, 0);
    if (this.fdb.has(key)) throw new InputError('VTEP_EXISTS', 'mac', `RTNETLINK answers: File exists (${mac} on ${this.ifname})`);
    this.insert(key, m, this.stateOf(opts), false, [this.remoteOf(dst, opts, 'dst')]);
  }

  /**
   * `bridge fdb append MAC dev vxlanN dst DST …`: creates the entry, or adds a
   * remote to an existing all-zeros or multicast entry (an existing unicast
   * entry only takes the new state, as vxlan_fdb_update_existing does).
   */
  fdbAppend(mac: string, dst: string, opts: FdbOptions = {}): void {
    this.fdbAppendAt(mac, dst, opts, 'dst');
  }

  /** `bridge fdb replace MAC dev vxlanN dst DST`: a unicast entry's first remote replaced (or the entry created). */
  fdbReplace(mac: string, dst: string, opts: FdbOptions = {}): void {
    const m = macOf(mac, 'mac');
    if ((m[0]! & 1) === 1 || macKey(m, 0) === ZERO_KEY) throw new InputError('VTEP_UNSUPPORTED', 'mac', 'Cannot replace non-unicast fdb entries');
    const key = macKey(m, 0);
    const r = this.remoteOf(dst, opts, 'dst');
    const e = this.fdb.get(key);
    if (e === undefined) { this.insert(key, m, this.stateOf(opts), false, [r]); return; }
    this.setState(e, this.stateOf(opts));
    e.learned = false;
    if (!e.remotes.some((x) => x.dst === r.dst && x.port === r.port && x.vni === r.vni)) e.remotes[0] = r;
    e.updated = this.host.sim.now;
  }

  /** `bridge fdb del MAC dev vxlanN [dst DST]`: one remote of an entry, or the whole entry (VTEP_NO_ENTRY when absent). */
  fdbDel(mac: string, dst?: string, opts: FdbOptions = {}): void {
    const key = macKey(macOf(mac, 'mac'), 0);
    const e = this.fdb.get(key);
    if (e === undefined) throw new InputError('VTEP_NO_ENTRY', 'mac', `RTNETLINK answers: No such file or directory (${mac} on ${this.ifname})`);
    if (dst === undefined) { this.remove(e); return; }
    const r = this.remoteOf(dst, opts, 'dst');
    const i = e.remotes.findIndex((x) => x.dst === r.dst && x.port === r.port && x.vni === r.vni);
    if (i < 0) return; // the kernel answers success without deleting anything
    if (e.remotes.length > 1) e.remotes.splice(i, 1); else this.remove(e);
  }

  /** The FDB, newest entry first (the order `bridge fdb show` prints). */
  fdbEntries(): FdbEntryInfo[] {
    return [...this.fdb.values()].reverse().map((e) => ({
      mac: macToString(e.mac, 0), state: e.state, learned: e.learned,
      remotes: e.remotes.map((r) => ({ dst: ipv4ToString(r.dst), port: r.port, vni: r.vni })),
      updatedNs: e.updated, usedNs: e.used,
    }));
  }

  /** `bridge fdb show dev vxlanN`, as iproute2 prints this device's own (`self`) entries. */
  fdbShow(): string {
    let out = '';
    for (const e of [...this.fdb.values()].reverse()) {
      const state = e.state === 'permanent' ? 'permanent' : e.state === 'static' ? 'static' : '';
      for (const r of e.remotes) {
        out += `${macToString(e.mac, 0)} dst ${ipv4ToString(r.dst)} ${r.port !== this.dstPort ? `port ${r.port} ` : ''}`
          + `${r.vni !== this.vni ? `vni ${r.vni} ` : ''}self ${state}\n`;
      }
    }
    return out;
  }

  /** `ip neigh add IP lladdr MAC dev vxlanN` (permanent): what ARP suppression answers from. */
  addNeigh(ip: string, mac: string): void {
    this.neigh.set(ipOf(ip, 'ip'), macOf(mac, 'mac'));
  }

  /** `ip neigh del IP dev vxlanN`; false when there was none. */
  delNeigh(ip: string): boolean {
    return this.neigh.delete(ipOf(ip, 'ip'));
  }

  /** `ip neigh show dev vxlanN` lines. */
  neighShow(): string[] {
    return [...this.neigh].map(([a, m]) => `${ipv4ToString(a)} lladdr ${macToString(m, 0)} PERMANENT`);
  }

  private fdbAppendAt(mac: string, dst: string, opts: FdbOptions, field: string): void {
    const m = macOf(mac, 'mac');
    const key = macKey(m, 0);
    const r = this.remoteOf(dst, opts, field);
    const e = this.fdb.get(key);
    if (e === undefined) { this.insert(key, m, this.stateOf(opts), false, [r]); return; }
    this.setState(e, this.stateOf(opts));
    e.learned = false;
    const multi = key === ZERO_KEY || (m[0]! & 1) === 1;
    if (multi && !e.remotes.some((x) => x.dst === r.dst && x.port === r.port && x.vni === r.vni)) e.remotes.push(r);
    e.updated = this.host.sim.now;
  }

  private stateOf(opts: FdbOptions): FdbState {
    const s = opts.state ?? 'permanent';
    if (s !== 'permanent' && s !== 'static' && s !== 'dynamic') throw new InputError('VTEP_BAD_VALUE', 'state', `'${String(s)}' is not permanent, static or dynamic`);
    return s;
  }

  private remoteOf(dst: string, opts: FdbOptions, field: string): FdbRemote {
    return {
      dst: ipOf(dst, field),
      port: opts.port === undefined ? this.dstPort : uintOf(opts.port, 0xffff, 'port', 'a UDP port'),
      vni: opts.vni === undefined ? this.vni : uintOf(opts.vni, VNI_MAX, 'vni', 'a VNI (0..16777215)'),
    };
  }

  private insert(key: number, mac: Uint8Array, state: FdbState, learned: boolean, remotes: FdbRemote[]): FdbEntry {
    const e = new FdbEntry(key, mac, state, learned, remotes);
    e.used = e.updated = this.host.sim.now;
    this.fdb.set(key, e);
    if (state === 'dynamic') { this.dynamicCount++; this.armAgeing(); }
    return e;
  }

  private setState(e: FdbEntry, s: FdbState): void {
    if (e.state === s) return;
    if (e.state === 'dynamic') this.dynamicCount--;
    if (s === 'dynamic') { this.dynamicCount++; this.armAgeing(); }
    e.state = s;
  }

  private remove(e: FdbEntry): void {
    this.fdb.delete(e.key);
    if (e.state === 'dynamic') this.dynamicCount--;
  }

  // ---- ageing (vxlan_cleanup) ---------------------------------------------------------------

  /** Queue the cleanup timer's next run, if none is queued: the kernel's 10 s grid continued to now. */
  private armAgeing(): void {
    if (this.ageEvent !== null || this.closed) return;
    const now = this.host.sim.now;
    while (this.ageTimerAt <= now) this.ageTimerAt += FDB_AGE_INTERVAL_NS;
    this.ageEvent = this.host.sim.at(this.ageTimerAt, this);
  }

  /** The cleanup timer ran: expired dynamic entries go; the next run is in 10 s or at the next expiry. */
  onEvent(): void {
    this.ageEvent = null;
    const now = this.host.sim.now;
    const ageNs = this.ageingS * 1e9;
    let next = now + FDB_AGE_INTERVAL_NS;
    for (const e of [...this.fdb.values()]) {
      if (e.state !== 'dynamic') continue;
      const timeout = e.updated + ageNs;
      if (timeout <= now) this.remove(e);
      else if (timeout < next) next = timeout;
    }
    this.ageTimerAt = next;
    if (this.dynamicCount > 0) this.ageEvent = this.host.sim.at(next, this);
  }

  // ---- TX: a frame from the L2 port -------------------------------------------------------------

  receive(_port: Port, frame: Uint8Array): void {
    if (this.closed) { this.host.sim.ledger.drop('unconnected'); return; }
    if (frame.length < 14) { this.dropped('too_short'); return; }
    if (frame.length - 14 > this.mtu) {
      // the bridge in front: br_netfilter fragments IPv4 (or drops it with DF) ...
      if (this.bridgeNf && be16(frame, 12) === ETH_P_IP && frame.length >= 34 && (frame[14]! >> 4) === 4) {
        if ((frame[20]! & 0x40) !== 0) { this.dropped('too_big'); return; }
        for (const piece of fragment(frame, this.mtu)) this.forward(piece);
        return;
      }
      // ... is_skb_forwardable lets a frame through up to MTU + Ethernet header + one VLAN tag
      if (frame.length > this.mtu + 18) { this.dropped('too_big'); return; }
    }
    this.forward(frame);
  }

  /** vxlan_xmit: a frame the bridge handed over. */
  private forward(frame: Uint8Array): void {
    const type = be16(frame, 12);
    if (this.arpSuppress) {
      if (type === ETH_P_ARP) { this.arpReduce(frame); return; }
      if (type === ETH_P_IPV6 && frame.length >= 14 + 40 + 24 && frame[20] === 58 && frame[54] === 135 && frame[55] === 0) {
        this.dropped('nd_consumed');
        return;
      }
    }
    let e = this.lookup(macKey(frame, 0));
    if (e === undefined) e = this.lookup(ZERO_KEY);
    if (e === undefined || e.remotes.length === 0) { this.stats.txDropped++; this.dropped('no_tx_target'); return; }
    const rs = e.remotes;
    for (let i = 1; i < rs.length; i++) this.xmitOne(frame, rs[i]!);
    this.xmitOne(frame, rs[0]!);
  }

  /** The frame in hand is dropped for 'reason': counted here and in the packet ledger. */
  private dropped(reason: VtepDropReason): void {
    this.stats.drops[reason]++;
    this.host.sim.ledger.drop(LEDGER_REASON[reason]);
  }

  /** vxlan_find_mac: the entry of 'key', its `used` refreshed. */
  private lookup(key: number): FdbEntry | undefined {
    const e = this.fdb.get(key);
    if (e !== undefined) e.used = this.host.sim.now;
    return e;
  }

  private xmitOne(frame: Uint8Array, r: FdbRemote): void {
    const st = this.stats;
    // skb_vlan_inet_prepare: the inner network header must be there
    const tagged = be16(frame, 12) === 0x8100 || be16(frame, 12) === 0x88a8;
    const nh = tagged ? 18 : 14;
    const proto = frame.length >= nh ? be16(frame, nh - 2) : 0;
    if ((proto === ETH_P_IP && frame.length < nh + 20) || (proto === ETH_P_IPV6 && frame.length < nh + 40)) {
      st.txDropped++; this.dropped('inet_short'); return;
    }
    if (r.dst === 0) { st.txDropped++; this.dropped('remote_any'); return; }
    // skb->protocol is the frame's own EtherType: a tagged frame is not IP to the tunnel code
    const ip4 = !tagged && proto === ETH_P_IP, ip6 = !tagged && proto === ETH_P_IPV6;
    const multicast = (r.dst >>> 28) === 14;
    const host = this.host;
    if (host.ip.isLocal(r.dst)) { this.bypass(frame, r); return; }
    if (host.ip.route(r.dst) === null) { st.txErrors++; st.txCarrierErrors++; this.dropped('no_route'); return; }
    const innerTos = ip4 ? frame[15]! : ip6 ? ((be16(frame, 14) >>> 4) & 0xff) : 0;
    let ttl = this.ttlInherit ? (ip4 ? frame[22]! : ip6 ? frame[21]! : 0) : this.ttl;
    if (!this.ttlInherit && ttl === 0 && multicast) ttl = 1;
    if (ttl === 0) ttl = 64; // ip4_dst_hoplimit: net.ipv4.ip_default_ttl
    let tos = this.tos === 1 ? innerTos : this.tos;
    let df = this.df === 'set';
    if (this.df === 'inherit') df = ip6 || (ip4 && (frame[20]! & 0x40) !== 0);
    // skb_tunnel_check_pmtu, bridged: an ICMP back instead of a too-big DF packet
    const pmtu = host.mtuTo(r.dst) - VXLAN_ENCAP_OVERHEAD;
    if (frame.length - nh > pmtu && ip4 && this.pmtuReply(frame, pmtu)) return;
    // INET_ECN_encapsulate
    const ecn = innerTos & 3;
    tos = (tos & ~3) | (ecn === 3 ? 2 : ecn);
    const sport = this.srcPort(frame);
    const src = this.local !== 0 ? this.local : host.ip.sourceFor(r.dst);
    const out = encapUdpTunnel(frame, { src, dst: r.dst, tos, ttl, df, sport, dport: r.port, csum: this.udpCsum }, VXLAN_FLAG_I << 24, (r.vni << 8) >>> 0);
    const tr = host.sim.tracer;
    if (tr.on) {
      tr.emit(host.name, this.ifname, 'encap', `VXLAN VNI ${r.vni} ${ipv4ToString(src)}:${sport} > ${ipv4ToString(r.dst)}:${r.port}`,
        { fields: { vni: r.vni, src: ipv4ToString(src), dst: ipv4ToString(r.dst), sport, dport: r.port }, frame: out });
    }
    const res = host.sendIp(out);
    if (res === 'sent') { st.txPackets++; st.txBytes += frame.length - nh; return; }
    st.txDropped++;
    // the host's stack counted the drop in the packet ledger (sendIp)
    st.drops[res === 'EMSGSIZE' ? 'frag_fail' : res === 'ENETUNREACH' ? 'no_route' : 'netfilter']++;
  }

  /** The outer UDP source port for 'frame' (udp_flow_src_port's mapping of the flow hash). */
  srcPort(frame: Uint8Array): number {
    return udpFlowSrcPort(frame, this.hashBasis, this.portMin, this.portMax);
  }

  /** vxlan_encap_bypass: a remote that is this host: straight to its VTEP of that VNI, learnt at 127.0.0.1. */
  private bypass(frame: Uint8Array, r: FdbRemote): void {
    const dst = socks.get(this.host)?.get(r.port)?.byVni.get(r.vni);
    if (dst === undefined) { this.stats.txErrors++; this.dropped('vni_not_found'); return; }
    // the driver ignores what snooping says here: the frame is delivered anyway
    if (dst.learning) dst.snoop(LOOPBACK, frame);
    this.stats.txPackets++; this.stats.txBytes += frame.length;
    dst.stats.rxPackets++; dst.stats.rxBytes += frame.length;
    dst.port.send(frame);
  }

  /**
   * iptunnel_pmtud_check_icmp + iptunnel_pmtud_build_icmp: answer 'frame'
   * (untagged IPv4, too big for 'mtu' after encapsulation) with ICMP
   * fragmentation needed out of the port; false when the rules say no ICMP.
   */
  private pmtuReply(frame: Uint8Array, mtu: number): boolean {
    if (mtu < 576 || be16(frame, 20) !== 0x4000) return false;
    const saddr = be32(frame, 26), daddr = be32(frame, 30);
    if (daddr === 0xffffffff || (daddr >>> 28) === 14) return false;
    if ((saddr >>> 24) === 0 || (saddr >>> 24) === 127 || saddr === 0xffffffff || (saddr >>> 28) === 14) return false;
    const ihl = (frame[14]! & 15) * 4;
    if (frame[23] === 1 && frame.length > 14 + ihl && isIcmpError(frame[14 + ihl]!)) return false;
    const q = Math.min(frame.length - 14, PMTUD_QUOTE);
    const out = new Uint8Array(14 + 28 + q);
    out.set(frame.subarray(6, 12), 0);
    out.set(frame.subarray(0, 6), 6);
    setBe16(out, 12, be16(frame, 12));
    out[14] = 0x45;
    setBe16(out, 16, 28 + q);
    setBe16(out, 20, 0x4000);
    out[22] = frame[22]!; out[23] = 1;
    setBe32(out, 26, daddr); setBe32(out, 30, saddr);
    setBe16(out, 24, fold(sum16(out, 14, 34)));
    out[34] = 3; out[35] = 4;
    setBe16(out, 40, mtu);
    out.set(frame.subarray(14, 14 + q), 42);
    setBe16(out, 36, fold(sum16(out, 34, out.length)));
    // vxlan_encap_bypass to itself: counted as sent and received, the frame length each
    this.stats.pmtuReplies++; this.dropped('frag_needed');
    this.stats.txPackets++; this.stats.txBytes += out.length;
    this.stats.rxPackets++; this.stats.rxBytes += out.length;
    this.port.send(out);
    return true;
  }

  /** arp_reduce: answer an ARP request from the neighbour table; every ARP frame is consumed. */
  private arpReduce(f: Uint8Array): void {
    const st = this.stats;
    if (f.length < 14 + 28) { st.txDropped++; this.dropped('arp_consumed'); return; }
    const hrd = be16(f, 14);
    if ((hrd !== 1 && hrd !== 6) || be16(f, 16) !== ETH_P_IP || be16(f, 20) !== 1 || f[18] !== 6 || f[19] !== 4) {
      this.dropped('arp_consumed'); return;
    }
    const sip = be32(f, 28), tip = be32(f, 38);
    const n = (tip >>> 24) === 127 || (tip >>> 28) === 14 ? undefined : this.neigh.get(tip);
    if (n === undefined) { this.dropped('arp_consumed'); return; }
    const fe = this.lookup(macKey(n, 0));
    if (fe !== undefined && (fe.remotes[0]?.dst ?? 0) === 0) { this.dropped('arp_consumed'); return; }
    // arp_create(ARPOP_REPLY, ETH_P_ARP, sip, dev, tip, sha, n->ha, sha)
    const r = new Uint8Array(42);
    r.set(f.subarray(22, 28), 0); r.set(n, 6); setBe16(r, 12, ETH_P_ARP);
    setBe16(r, 14, 1); setBe16(r, 16, ETH_P_IP); r[18] = 6; r[19] = 4; setBe16(r, 20, 2);
    r.set(n, 22); setBe32(r, 28, tip); r.set(f.subarray(22, 28), 32); setBe32(r, 38, sip);
    st.arpReplies++;
    this.host.sim.ledger.deliver();
    this.port.send(r);
  }

  // ---- RX: a datagram for this VNI --------------------------------------------------------------

  /** vxlan_rcv after the socket found this device: 'data' is the VXLAN header and the inner frame, 'src' the outer source. */
  rx(data: Uint8Array, src: number): void {
    const st = this.stats;
    if (this.closed) { this.host.sim.ledger.drop('unconnected'); return; }
    if (((data[0]! & ~VXLAN_FLAG_I) | data[1]! | data[2]! | data[3]! | data[7]!) !== 0) {
      st.rxFrameErrors++; st.rxErrors++; this.dropped('invalid_hdr'); return;
    }
    if (data.length < VXLAN_HEADER_LEN + 14) { this.dropped('too_short'); return; }
    const inner = data.subarray(VXLAN_HEADER_LEN);
    if (macKey(inner, 6) === macKey(this.mac, 0)) { this.dropped('local_mac'); return; }
    if (this.learning) {
      const why = this.snoop(src, inner);
      if (why !== null) { this.dropped(why); return; }
    }
    const type = be16(inner, 12);
    if ((type === ETH_P_IP && inner.length < 34) || (type === ETH_P_IPV6 && inner.length < 54)) {
      st.rxLengthErrors++; st.rxErrors++; this.dropped('length'); return;
    }
    st.rxPackets++; st.rxBytes += inner.length - 14;
    const tr = this.host.sim.tracer;
    if (tr.on) tr.emit(this.host.name, this.ifname, 'decap', `VXLAN VNI ${this.vni} from ${ipv4ToString(src)}`, { fields: { vni: this.vni, src: ipv4ToString(src) }, frame: inner });
    this.port.send(inner);
  }

  /** vxlan_snoop: learn (or refresh, or move) the inner source MAC at 'src'; the drop reason, or null to deliver. */
  private snoop(src: number, inner: Uint8Array): 'mac_invalid_source' | 'entry_exists' | null {
    const key = macKey(inner, 6);
    if ((inner[6]! & 1) === 1 || key === ZERO_KEY) return 'mac_invalid_source';
    const e = this.fdb.get(key);
    if (e === undefined) {
      this.insert(key, inner.slice(6, 12), 'dynamic', true, [{ dst: src, port: this.dstPort, vni: this.vni }]);
      return null;
    }
    e.updated = this.host.sim.now;
    const r = e.remotes[0];
    if (r !== undefined && r.dst === src) return null;
    // static entries do not move: the frame is dropped
    if (e.state !== 'dynamic') return 'entry_exists';
    e.remotes[0] = { dst: src, port: r?.port ?? this.dstPort, vni: r?.vni ?? this.vni };
    return null;
  }
}
