/**
 * A fluent frame builder (wire layer, slow path).
 *
 * What: `new FrameBuilder().eth({…}).vlan({vid: 10}).ipv4({src, dst}).udp({…})
 * .vxlan({vni}).eth({…}).ipv4({…}).tcp({flags: 'S'}).payload('hi').build()`
 * lays a whole frame outer to inner and returns its bytes. Each layer becomes
 * the protocol's `Repr` and is written by that Repr's `emit`, so the builder
 * knows no header layout of its own.
 * Defaults follow scapy where a user would expect them (ttl 64, ident 1, TCP
 * window 8192, UDP ports 53): fields left out are chosen for you, and what
 * links layers is derived — EtherTypes, IP protocol numbers, the UDP port of
 * a VXLAN (4789) or Geneve (6081) payload, lengths and checksums. A field you
 * do give is written as given, even when it is wrong (a bad checksum, a lying
 * length), because tests need broken packets too.
 * Order of work: sizes first (outer to inner), then the payload, then headers
 * from the innermost out, so every checksum covers bytes already in place
 * (an outer UDP checksum covers the whole inner frame).
 * Headroom: `buildWithHeadroom(n)` leaves 'n' free bytes before the frame, so
 * a later `pushVxlan()`/tunnel push writes in front of it and copies nothing.
 * Addresses are parsed with ip-address (IPv4/IPv6 text) and bytes.ts (MACs);
 * a malformed one is an `InputError` naming the field.
 */
import { Address4, Address6 } from 'ip-address';
import { InputError } from '../errors.js';
import { parseMac } from './bytes.js';
import { ipv4PseudoSum, ipv6PseudoSumOf } from './checksum.js';
import { ArpPacket, ArpRepr, ARP_OP_REQUEST } from './arp.js';
import { EthernetFrame, EthernetRepr, ETH_TYPE_ARP, ETH_TYPE_IPV4, ETH_TYPE_IPV6, ETH_TYPE_TEB, ETH_TYPE_VLAN, type VlanRepr } from './ethernet.js';
import { GenevePacket, GeneveRepr, GENEVE_PORT, type GeneveOption } from './geneve.js';
import { IcmpPacket, IcmpRepr, IPPROTO_ICMP } from './icmp.js';
import { Icmpv6Packet, Icmpv6Repr, IPPROTO_ICMPV6 } from './icmpv6.js';
import { Ipv4Packet, Ipv4Repr } from './ipv4.js';
import { Ipv6Packet, Ipv6Repr } from './ipv6.js';
import { TcpPacket, TcpRepr, type TcpOption } from './tcp.js';
import { IPPROTO_UDP, UdpPacket, UdpRepr } from './udp.js';
import { VxlanPacket, VxlanRepr, VXLAN_PORT, asVni } from './vxlan.js';

const IPPROTO_TCP = 6;

export type MacLike = string | Uint8Array;
export type Ipv4Like = string | number;
export type Ipv6Like = string | Uint8Array;

export interface EthOptions { src?: MacLike; dst?: MacLike; type?: number }
export interface VlanOptions { vid: number; pcp?: number; dei?: number; tpid?: number }
export interface ArpOptions { op?: number; sha?: MacLike; spa?: Ipv4Like; tha?: MacLike; tpa?: Ipv4Like }
export interface Ipv4Options {
  src?: Ipv4Like; dst?: Ipv4Like; ttl?: number; ident?: number; dscp?: number; ecn?: number;
  df?: boolean; mf?: boolean; fragOffset?: number; protocol?: number; options?: Uint8Array;
  totalLength?: number; checksum?: number;
}
export interface Ipv6Options {
  src?: Ipv6Like; dst?: Ipv6Like; hopLimit?: number; trafficClass?: number; flowLabel?: number;
  nextHeader?: number; extHeaders?: Uint8Array; payloadLength?: number;
}
export interface UdpOptions { srcPort?: number; dstPort?: number; length?: number; checksum?: number }
export interface TcpOptions {
  srcPort?: number; dstPort?: number; seq?: number; ack?: number; flags?: number | string; window?: number;
  urgent?: number; options?: TcpOption[]; dataOffset?: number; checksum?: number;
}
export interface IcmpOptions { type?: number; code?: number; ident?: number; seq?: number; mtu?: number; rest?: number; checksum?: number }
export type Icmpv6Options = Icmpv6Repr | { type?: number; code?: number; ident?: number; seq?: number; checksum?: number };
export interface VxlanOptions { vni: number; flags?: number }
export interface GeneveOptions { vni: number; protocolType?: number; options?: GeneveOption[]; oam?: boolean }

type Layer =
  | { kind: 'eth'; repr: EthernetRepr; typeGiven: boolean }
  | { kind: 'arp'; repr: ArpRepr }
  | { kind: 'ipv4'; repr: Ipv4Repr; protoGiven: boolean }
  | { kind: 'ipv6'; repr: Ipv6Repr; nhGiven: boolean }
  | { kind: 'udp'; repr: UdpRepr; dportGiven: boolean }
  | { kind: 'tcp'; repr: TcpRepr }
  | { kind: 'icmp'; repr: IcmpRepr }
  | { kind: 'icmpv6'; repr: Icmpv6Repr }
  | { kind: 'vxlan'; repr: VxlanRepr }
  | { kind: 'geneve'; repr: GeneveRepr; protoGiven: boolean };

const ZERO_MAC = new Uint8Array(6);

export function macBytes(v: MacLike, field: string): Uint8Array {
  if (typeof v !== 'string') {
    if (v.length !== 6) throw new InputError('BUILD_BAD_MAC', field, 'a MAC address is 6 bytes');
    return v;
  }
  const m = parseMac(v);
  if (!m) throw new InputError('BUILD_BAD_MAC', field, `'${v}' is not a MAC address`);
  return m;
}

export function ipv4Number(v: Ipv4Like, field: string): number {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new InputError('BUILD_BAD_IPV4', field, `${v} is not an IPv4 address`);
    return v >>> 0;
  }
  if (!Address4.isValid(v) || v.includes('/')) throw new InputError('BUILD_BAD_IPV4', field, `'${v}' is not an IPv4 address`);
  const parts = new Address4(v).toArray();
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

export function ipv6Bytes(v: Ipv6Like, field: string): Uint8Array {
  if (typeof v !== 'string') {
    if (v.length !== 16) throw new InputError('BUILD_BAD_IPV6', field, 'an IPv6 address is 16 bytes');
    return v;
  }
  if (!Address6.isValid(v) || v.includes('/')) throw new InputError('BUILD_BAD_IPV6', field, `'${v}' is not an IPv6 address`);
  const arr = new Address6(v).toByteArray();
  const out = new Uint8Array(16);
  out.set(arr.slice(-16), 16 - Math.min(arr.length, 16));
  return out;
}

const TCP_FLAG_LETTERS: Record<string, number> = { F: 0x01, S: 0x02, R: 0x04, P: 0x08, A: 0x10, U: 0x20, E: 0x40, C: 0x80, N: 0x100 };

/** TCP flags from a number or scapy-style letters ('S', 'SA', 'PA', 'FA'). */
export function tcpFlagsOf(v: number | string, field = 'tcp.flags'): number {
  if (typeof v === 'number') return v & 0xfff;
  if (/^0x[0-9a-f]+$/i.test(v)) return parseInt(v, 16) & 0xfff;
  let f = 0;
  for (const c of v.toUpperCase()) {
    const bit = TCP_FLAG_LETTERS[c];
    if (bit === undefined) throw new InputError('BUILD_BAD_TCP_FLAGS', field, `unknown TCP flag '${c}' in '${v}' (use F S R P A U E C N)`);
    f |= bit;
  }
  return f;
}

export class FrameBuilder {
  private readonly layers: Layer[] = [];
  private data: Uint8Array = new Uint8Array(0);
  private padTo = 0;

  eth(o: EthOptions = {}): this {
    this.layers.push({
      kind: 'eth',
      repr: { dst: macBytes(o.dst ?? ZERO_MAC, 'eth.dst'), src: macBytes(o.src ?? ZERO_MAC, 'eth.src'), vlans: [], ethertype: o.type ?? 0x9000 },
      typeGiven: o.type !== undefined,
    });
    return this;
  }

  /** Add an 802.1Q (or, with tpid 0x88a8, 802.1ad) tag to the Ethernet header just added. */
  vlan(o: VlanOptions): this {
    const last = this.layers[this.layers.length - 1];
    if (last?.kind !== 'eth') throw new InputError('BUILD_BAD_ORDER', 'vlan', 'a VLAN tag must follow an Ethernet header');
    const tag: VlanRepr = { tpid: o.tpid ?? ETH_TYPE_VLAN, pcp: o.pcp ?? 0, dei: o.dei ?? 0, vid: o.vid };
    last.repr.vlans.push(tag);
    return this;
  }

  arp(o: ArpOptions = {}): this {
    this.layers.push({
      kind: 'arp',
      repr: {
        opcode: o.op ?? ARP_OP_REQUEST, sha: macBytes(o.sha ?? ZERO_MAC, 'arp.src.hw_mac'), spa: ipv4Number(o.spa ?? 0, 'arp.src.proto_ipv4'),
        tha: macBytes(o.tha ?? ZERO_MAC, 'arp.dst.hw_mac'), tpa: ipv4Number(o.tpa ?? 0, 'arp.dst.proto_ipv4'),
      },
    });
    return this;
  }

  ipv4(o: Ipv4Options = {}): this {
    this.layers.push({
      kind: 'ipv4',
      repr: {
        dscp: o.dscp ?? 0, ecn: o.ecn ?? 0, ident: o.ident ?? 1, dontFrag: o.df ?? false, moreFrags: o.mf ?? false,
        fragOffset: o.fragOffset ?? 0, ttl: o.ttl ?? 64, protocol: o.protocol ?? 0,
        src: ipv4Number(o.src ?? '127.0.0.1', 'ip.src'), dst: ipv4Number(o.dst ?? '127.0.0.1', 'ip.dst'),
        options: o.options ?? new Uint8Array(0), totalLength: o.totalLength ?? -1, checksum: o.checksum ?? -1,
      },
      protoGiven: o.protocol !== undefined,
    });
    return this;
  }

  ipv6(o: Ipv6Options = {}): this {
    this.layers.push({
      kind: 'ipv6',
      repr: {
        trafficClass: o.trafficClass ?? 0, flowLabel: o.flowLabel ?? 0, payloadLength: o.payloadLength ?? -1,
        nextHeader: o.nextHeader ?? 59, hopLimit: o.hopLimit ?? 64,
        src: ipv6Bytes(o.src ?? '::1', 'ipv6.src'), dst: ipv6Bytes(o.dst ?? '::1', 'ipv6.dst'),
        extHeaders: o.extHeaders ?? new Uint8Array(0),
      },
      nhGiven: o.nextHeader !== undefined,
    });
    return this;
  }

  udp(o: UdpOptions = {}): this {
    this.layers.push({
      kind: 'udp',
      repr: { srcPort: o.srcPort ?? 53, dstPort: o.dstPort ?? 53, length: o.length ?? -1, checksum: o.checksum ?? -1 },
      dportGiven: o.dstPort !== undefined,
    });
    return this;
  }

  tcp(o: TcpOptions = {}): this {
    this.layers.push({
      kind: 'tcp',
      repr: {
        srcPort: o.srcPort ?? 20, dstPort: o.dstPort ?? 80, seq: (o.seq ?? 0) >>> 0, ack: (o.ack ?? 0) >>> 0,
        flags: tcpFlagsOf(o.flags ?? 'S'), window: o.window ?? 8192, urgent: o.urgent ?? 0, options: o.options ?? [],
        dataOffset: o.dataOffset ?? -1, checksum: o.checksum ?? -1,
      },
    });
    return this;
  }

  icmp(o: IcmpOptions = {}): this {
    const type = o.type ?? 8, code = o.code ?? 0, checksum = o.checksum ?? -1;
    let repr: IcmpRepr;
    if (type === 8 || type === 0) repr = { kind: type === 8 ? 'echoRequest' : 'echoReply', code, checksum, ident: o.ident ?? 0, seq: o.seq ?? 0 };
    else if (type === 3) repr = { kind: 'destUnreachable', code, checksum, unused: 0, mtu: o.mtu ?? 0 };
    else if (type === 11) repr = { kind: 'timeExceeded', code, checksum, unused: o.rest ?? 0 };
    else repr = { kind: 'other', type, code, checksum, restOfHeader: (o.rest ?? 0) >>> 0 };
    this.layers.push({ kind: 'icmp', repr });
    return this;
  }

  icmpv6(o: Icmpv6Options = {}): this {
    let repr: Icmpv6Repr;
    if ('kind' in o) repr = o;
    else {
      const type = o.type ?? 128, code = o.code ?? 0, checksum = o.checksum ?? -1;
      if (type === 128 || type === 129) repr = { kind: type === 128 ? 'echoRequest' : 'echoReply', code, checksum, ident: o.ident ?? 0, seq: o.seq ?? 0 };
      else repr = { kind: 'other', type, code, checksum, restOfHeader: 0 };
    }
    this.layers.push({ kind: 'icmpv6', repr });
    return this;
  }

  vxlan(o: VxlanOptions): this {
    if (!Number.isInteger(o.vni) || o.vni < 0 || o.vni > 0xffffff) throw new InputError('BUILD_BAD_VNI', 'vxlan.vni', `${o.vni} is not a 24-bit VNI`);
    this.layers.push({ kind: 'vxlan', repr: { flags: o.flags ?? 0x08, reserved24: 0, vni: asVni(o.vni), reserved8: 0 } });
    return this;
  }

  geneve(o: GeneveOptions): this {
    if (!Number.isInteger(o.vni) || o.vni < 0 || o.vni > 0xffffff) throw new InputError('BUILD_BAD_VNI', 'geneve.vni', `${o.vni} is not a 24-bit VNI`);
    const repr = GeneveRepr.of(o.vni, o.protocolType ?? ETH_TYPE_TEB, o.options ?? []);
    repr.oam = o.oam ?? false;
    this.layers.push({ kind: 'geneve', repr, protoGiven: o.protocolType !== undefined });
    return this;
  }

  /** Bytes after the innermost header (a string is UTF-8 encoded). */
  payload(p: Uint8Array | string): this {
    this.data = typeof p === 'string' ? new TextEncoder().encode(p) : p;
    return this;
  }

  /** Pad the frame with zeros to at least 'n' bytes (60 for a minimum Ethernet frame without FCS). */
  pad(n = 60): this {
    this.padTo = n;
    return this;
  }

  /** The frame's bytes. */
  build(): Uint8Array {
    const r = this.buildWithHeadroom(0);
    return r.buf;
  }

  /**
   * The frame laid out after 'headroom' free bytes: `buf[off, end)` is the frame.
   * Throws `InputError` for an impossible stack and `WireError` for a value a
   * header cannot carry.
   */
  buildWithHeadroom(headroom: number): { buf: Uint8Array; off: number; end: number } {
    const ls = this.layers;
    this.link();
    const lens = ls.map((l) => headerLen(l));
    const hdrTotal = lens.reduce((a, b) => a + b, 0);
    const frameLen = Math.max(hdrTotal + this.data.length, this.padTo);
    const buf = new Uint8Array(headroom + frameLen);
    const offs: number[] = [];
    let o = headroom;
    for (const n of lens) { offs.push(o); o += n; }
    buf.set(this.data, o);
    const payloadEnd = o + this.data.length;   // padding is not payload
    for (let i = ls.length - 1; i >= 0; i--) emitLayer(ls, i, buf, offs, lens, payloadEnd);
    return { buf, off: headroom, end: headroom + frameLen };
  }

  /** Fill the fields that link a layer to the next one, unless the user gave them. */
  private link(): void {
    const ls = this.layers;
    for (let i = 0; i < ls.length; i++) {
      const l = ls[i]!, next = ls[i + 1];
      switch (l.kind) {
        case 'eth':
          if (!l.typeGiven && next) l.repr.ethertype = next.kind === 'ipv4' ? ETH_TYPE_IPV4 : next.kind === 'ipv6' ? ETH_TYPE_IPV6 : next.kind === 'arp' ? ETH_TYPE_ARP : next.kind === 'eth' ? ETH_TYPE_TEB : l.repr.ethertype;
          break;
        case 'ipv4':
          if (!l.protoGiven && next) l.repr.protocol = protoOf(next);
          break;
        case 'ipv6':
          if (!l.nhGiven) {
            if (l.repr.extHeaders.length > 0) throw new InputError('BUILD_BAD_ORDER', 'ipv6.nxt', 'with extension headers, give nextHeader (the first extension header type)');
            if (next) l.repr.nextHeader = protoOf(next);
          }
          break;
        case 'udp':
          if (!l.dportGiven && next?.kind === 'vxlan') l.repr.dstPort = VXLAN_PORT;
          if (!l.dportGiven && next?.kind === 'geneve') l.repr.dstPort = GENEVE_PORT;
          break;
        case 'geneve':
          if (!l.protoGiven && next && next.kind !== 'eth') {
            l.repr.protocolType = next.kind === 'ipv4' ? ETH_TYPE_IPV4 : next.kind === 'ipv6' ? ETH_TYPE_IPV6 : l.repr.protocolType;
          }
          break;
        default:
          break;
      }
    }
  }
}

function protoOf(l: Layer): number {
  switch (l.kind) {
    case 'tcp': return IPPROTO_TCP;
    case 'udp': return IPPROTO_UDP;
    case 'icmp': return IPPROTO_ICMP;
    case 'icmpv6': return IPPROTO_ICMPV6;
    case 'ipv4': return 4;
    case 'ipv6': return 41;
    default: throw new InputError('BUILD_BAD_ORDER', l.kind, `${l.kind} cannot follow an IP header`);
  }
}

function headerLen(l: Layer): number {
  switch (l.kind) {
    case 'eth': return EthernetRepr.bufferLen(l.repr);
    case 'arp': return ArpRepr.bufferLen(l.repr);
    case 'ipv4': return Ipv4Repr.bufferLen(l.repr);
    case 'ipv6': return Ipv6Repr.bufferLen(l.repr);
    case 'udp': return UdpRepr.bufferLen(l.repr);
    case 'tcp': return TcpRepr.bufferLen(l.repr);
    case 'icmp': return IcmpRepr.bufferLen(l.repr);
    case 'icmpv6': return Icmpv6Repr.bufferLen(l.repr);
    case 'vxlan': return VxlanRepr.bufferLen(l.repr);
    case 'geneve': return GeneveRepr.bufferLen(l.repr);
  }
}

/** The pseudo-header sum function of the IP header enclosing layer 'i'. */
function pseudoFor(ls: Layer[], i: number, proto: number): (len: number) => number {
  for (let j = i - 1; j >= 0; j--) {
    const l = ls[j]!;
    if (l.kind === 'ipv4') { const { src, dst } = l.repr; return (len) => ipv4PseudoSum(src, dst, proto, len); }
    if (l.kind === 'ipv6') { const { src, dst } = l.repr; return (len) => ipv6PseudoSumOf(src, dst, proto, len); }
  }
  throw new InputError('BUILD_BAD_ORDER', ls[i]!.kind, `${ls[i]!.kind} needs an enclosing IP header for its checksum`);
}

function emitLayer(ls: Layer[], i: number, buf: Uint8Array, offs: number[], lens: number[], payloadEnd: number): void {
  const l = ls[i]!;
  const off = offs[i]!;
  const hdrEnd = off + lens[i]!;
  const payloadLen = payloadEnd - hdrEnd;
  switch (l.kind) {
    case 'eth': EthernetRepr.emit(l.repr, new EthernetFrame().reset(buf, off, hdrEnd)); break;
    case 'arp': ArpRepr.emit(l.repr, new ArpPacket().reset(buf, off, hdrEnd)); break;
    case 'ipv4': Ipv4Repr.emit(l.repr, new Ipv4Packet().reset(buf, off, payloadEnd), payloadLen); break;
    case 'ipv6': Ipv6Repr.emit(l.repr, new Ipv6Packet().reset(buf, off, payloadEnd), payloadLen); break;
    case 'udp': UdpRepr.emit(l.repr, new UdpPacket().reset(buf, off, payloadEnd), payloadLen, pseudoFor(ls, i, IPPROTO_UDP)); break;
    case 'tcp': TcpRepr.emit(l.repr, new TcpPacket().reset(buf, off, payloadEnd), payloadLen, pseudoFor(ls, i, IPPROTO_TCP)); break;
    case 'icmp': IcmpRepr.emit(l.repr, new IcmpPacket().reset(buf, off, payloadEnd), payloadLen); break;
    case 'icmpv6': Icmpv6Repr.emit(l.repr, new Icmpv6Packet().reset(buf, off, payloadEnd), payloadLen, pseudoFor(ls, i, IPPROTO_ICMPV6)); break;
    case 'vxlan': VxlanRepr.emit(l.repr, new VxlanPacket().reset(buf, off, payloadEnd)); break;
    case 'geneve': GeneveRepr.emit(l.repr, new GenevePacket().reset(buf, off, payloadEnd)); break;
  }
}
