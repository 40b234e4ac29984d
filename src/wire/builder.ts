/**
 * A fluent frame builder (wire layer, slow path).
 *
 * What: `new FrameBuilder().eth({…}).vlan({vid: 10}).ipv4({src, dst}).udp({…})
 * .vxlan({vni}).eth({…}).ipv4({…}).tcp({flags: 'S'}).payload('hi').build()`
 * lays a whole frame outer to inner and returns its bytes. Each layer becomes
 * the protocol's `Repr` and is written by that Repr's `emit`, so the builder
 * knows almost no header layout of its own; the few things a Repr cannot
 * carry are patched in after `emit` and listed here: the IPv4 reserved flag,
 * a raw TCP options area, a TCP header cut short (a segment quoted in an
 * ICMP error), the Geneve version, an 802.3 length in place of an EtherType,
 * and ARP with other than Ethernet/IPv4 addresses (written through the
 * `ArpPacket` view's setters and offsets).
 * Defaults follow scapy where a user would expect them (ttl 64, ident 1, TCP
 * sport 20 → dport 80, window 8192, flags S; UDP ports 53; ICMP echo
 * request): fields left out are chosen for you, and what links layers is
 * derived — EtherTypes, IP protocol numbers, the UDP port of a VXLAN (4789)
 * or Geneve (6081) payload, lengths and checksums (also computed when given
 * as -1, the Reprs' "compute"). A field you do give is written as given,
 * even when it is wrong (a bad checksum, a lying length), because tests need
 * broken packets too — but never cut to fit (see input checks).
 * Order of work: sizes first (outer to inner), then the payload, then headers
 * from the innermost out, so every checksum covers bytes already in place
 * (an outer UDP checksum covers the whole inner frame). Upper-layer
 * checksums use the pseudo-header of the nearest enclosing IP header, with
 * the final destination of a source route (IPv4 LSRR/SSRR, IPv6 routing
 * header) as RFC 1122 §3.2.1.8 / RFC 8200 §8.1 say and Wireshark checks.
 * Trailing bytes: an Ethernet header's `trailer` (padding, an FCS) follows
 * the packet it carries — inside a tunnel that is still the tunnel's payload,
 * which the outer lengths and checksums cover; `trailer(bytes)` appends bytes
 * after everything and `pad(n)` zero-fills to 'n' bytes; no length or
 * checksum covers those.
 * Headroom: `buildWithHeadroom(n)` leaves 'n' free bytes before the frame, so
 * a later `pushVxlan()`/tunnel push writes in front of it and copies nothing.
 * Input checks: every number is range-checked where it enters (`checkUint`),
 * so nothing is silently cut to its field's width: ttl 300 is an
 * `InputError` BUILD_BAD_VALUE whose path is the Wireshark field (`ip.ttl`),
 * not TTL 44. A length the builder computes that does not fit its 16-bit
 * field (`ip.len`, `ipv6.plen`, `udp.length`) is BUILD_TOO_LONG, found
 * before anything is written. Addresses are parsed with bytes.ts
 * (`parseMac`, `parseIpv4`, `parseIpv6`); a malformed one is an `InputError`
 * naming the field. A value in range that the header still cannot carry (a
 * fragment offset that is not a multiple of 8, 44 bytes of IPv4 options) is
 * a `WireError` from the Repr's `emit`.
 * Neighbours: encode.ts (JSON of Wireshark fields → builder calls; it shares
 * `checkUint` and `ipv4FinalDstAt`), the CLI's `pcap encode`, tests
 * everywhere that need frames.
 */
import { InputError } from '../errors.js';
import { be32, parseIpv4, parseIpv6, parseMac, setBe32 } from './bytes.js';
import { ipv4PseudoSum, ipv6PseudoSum, ipv6PseudoSumOf } from './checksum.js';
import { ArpPacket, ArpRepr, ARP_FIXED_LEN, ARP_HRD_ETHERNET, ARP_OP_REQUEST, ARP_PRO_IPV4 } from './arp.js';
import {
  EthernetFrame, EthernetRepr, ETH_TYPE_ARP, ETH_TYPE_IPV4, ETH_TYPE_IPV6, ETH_TYPE_MIN, ETH_TYPE_QINQ, ETH_TYPE_TEB,
  ETH_TYPE_VLAN, type VlanRepr,
} from './ethernet.js';
import { GenevePacket, GeneveRepr, GENEVE_PORT, type GeneveOption } from './geneve.js';
import { IcmpPacket, IcmpRepr, IPPROTO_ICMP, icmpHasIdentSeq, ICMP_DEST_UNREACH, ICMP_ECHO_REQUEST } from './icmp.js';
import { Icmpv6Packet, Icmpv6Repr, IPPROTO_ICMPV6, ndpOptionLen, type NdpOption } from './icmpv6.js';
import { IPOPT_EOL, IPOPT_LSRR, IPOPT_NOP, IPOPT_SSRR, IPV4_HEADER_LEN, IPV4_MAX_HEADER_LEN, Ipv4Packet, Ipv4Repr } from './ipv4.js';
import { IPPROTO_NONE, IPV6_HEADER_LEN, Ipv6Packet, Ipv6Repr } from './ipv6.js';
import { IPPROTO_TCP, TCP_HEADER_LEN, TCP_MAX_HEADER_LEN, TcpPacket, TcpRepr, type TcpOption } from './tcp.js';
import { IPPROTO_UDP, UdpPacket, UdpRepr } from './udp.js';
import { VxlanPacket, VxlanRepr, VXLAN_FLAG_I, VXLAN_PORT, VNI_MAX, asVni } from './vxlan.js';

export type MacLike = string | Uint8Array;
export type Ipv4Like = string | number;
export type Ipv6Like = string | Uint8Array;

/**
 * 'type' is the innermost EtherType (after any VLAN tags); a value below
 * 0x0600 is written as an IEEE 802.3 length instead. 'trailer' is bytes
 * after the packet this header carries (padding, an FCS): for a frame inside
 * a tunnel they are part of the tunnel's payload, for the outer frame they
 * end the frame; the carried packet's own lengths never cover them.
 */
export interface EthOptions { src?: MacLike; dst?: MacLike; type?: number; trailer?: Uint8Array }
/** 'tpid' 0x8100 (default), 0x88a8 (802.1ad S-tag) or 0x9100. */
export interface VlanOptions { vid: number; pcp?: number; dei?: number; tpid?: number }
/**
 * Ethernet/IPv4 ARP by default. With 'hwType'/'protoType'/'hwSize'/'protoSize'
 * other than 1/0x0800/6/4, give the addresses as bytes of those sizes.
 */
export interface ArpOptions {
  op?: number; sha?: MacLike; spa?: Ipv4Like | Uint8Array; tha?: MacLike; tpa?: Ipv4Like | Uint8Array;
  hwType?: number; protoType?: number; hwSize?: number; protoSize?: number;
}
/**
 * 'fragOffset' is in bytes (a multiple of 8). 'options' are raw option bytes;
 * 'hdrLen' (bytes, a multiple of 4) pads them with EOL (0) up to it.
 * 'reservedFlag' sets the evil bit (ip.flags.rb).
 */
export interface Ipv4Options {
  src?: Ipv4Like; dst?: Ipv4Like; ttl?: number; ident?: number; dscp?: number; ecn?: number;
  df?: boolean; mf?: boolean; reservedFlag?: boolean; fragOffset?: number; protocol?: number; options?: Uint8Array;
  hdrLen?: number; totalLength?: number; checksum?: number;
}
/** With 'extHeaders' (raw extension headers), give 'nextHeader' (the first one's type). */
export interface Ipv6Options {
  src?: Ipv6Like; dst?: Ipv6Like; hopLimit?: number; trafficClass?: number; flowLabel?: number;
  nextHeader?: number; extHeaders?: Uint8Array; payloadLength?: number;
}
export interface UdpOptions { srcPort?: number; dstPort?: number; length?: number; checksum?: number }
/**
 * 'options' as values, or 'optionBytes' as the raw options area (written as
 * given, zero-padded to the header length). 'dataOffset' is in 32-bit words.
 * 'truncate' keeps only the first bytes of the header (a segment quoted in
 * an ICMP error, usually 8); such a layer must be the last one.
 */
export interface TcpOptions {
  srcPort?: number; dstPort?: number; seq?: number; ack?: number; flags?: number | string; window?: number;
  urgent?: number; options?: TcpOption[]; optionBytes?: Uint8Array; dataOffset?: number; checksum?: number;
  truncate?: number;
}
/**
 * 'rest' is bytes 4-7 as one 32-bit word and overrides 'ident'/'seq' (echo,
 * timestamp…) and 'mtu' (destination unreachable) when given.
 */
export interface IcmpOptions { type?: number; code?: number; ident?: number; seq?: number; mtu?: number; rest?: number; checksum?: number }
export type Icmpv6Options = Icmpv6Repr | { type?: number; code?: number; ident?: number; seq?: number; rest?: number; checksum?: number };
/** 'flags' is the first byte (0x08, the I flag, by default); 'reserved24' the next three (vxlan.gbp in the low 16 bits). */
export interface VxlanOptions { vni: number; flags?: number; reserved24?: number; reserved8?: number }
/** 'critical' defaults to "some option has its critical bit"; 'version' to 0. */
export interface GeneveOptions {
  vni: number; protocolType?: number; options?: GeneveOption[]; oam?: boolean; critical?: boolean;
  reservedFlags?: number; reserved?: number; version?: number;
}

type Layer =
  | { kind: 'eth'; repr: EthernetRepr; typeGiven: boolean; lengthField: number; trailer: Uint8Array }
  | { kind: 'arp'; o: ArpOptions }
  | { kind: 'ipv4'; repr: Ipv4Repr; protoGiven: boolean; reservedFlag: boolean }
  | { kind: 'ipv6'; repr: Ipv6Repr; nhGiven: boolean }
  | { kind: 'udp'; repr: UdpRepr; dportGiven: boolean }
  | { kind: 'tcp'; repr: TcpRepr; optionBytes: Uint8Array | null; truncate: number }
  | { kind: 'icmp'; repr: IcmpRepr }
  | { kind: 'icmpv6'; repr: Icmpv6Repr }
  | { kind: 'vxlan'; repr: VxlanRepr }
  | { kind: 'geneve'; repr: GeneveRepr; protoGiven: boolean; version: number };

const ZERO_MAC = new Uint8Array(6);
const NO_BYTES = new Uint8Array(0);
const U16 = 0xffff, U32 = 0xffffffff;
/** Largest value of the 16-bit length fields the builder computes (ip.len, ipv6.plen, udp.length). */
const MAX_LEN16 = 0xffff;

/**
 * The largest frame the builder and the encoder make: libpcap's
 * MAXIMUM_SNAPLEN (262144), so every frame fits one pcap record.
 */
export const MAX_FRAME_LEN = 262144;

/**
 * 'v' itself when it is an integer in 0..'max'; otherwise an `InputError`
 * with 'code' (BUILD_BAD_VALUE by default) whose path is 'path', the
 * Wireshark field the value is for (`ip.ttl`, `udp.srcport`, `vlan.id`).
 * The one range check of the builder's options, shared with encode.ts
 * (which passes ENCODE_BAD_VALUE and a path like `[3].ip.ttl[1]`).
 */
export function checkUint(v: number, max: number, path: string, code = 'BUILD_BAD_VALUE'): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw new InputError(code, path, `${String(v)} is not an integer in 0..${max}`);
  }
  return v;
}

/** 'v' range-checked as `checkUint` does, or 'dflt' when it is not given. */
function uintOr(v: number | undefined, dflt: number, max: number, path: string): number {
  return v === undefined ? dflt : checkUint(v, max, path);
}

/** A length or checksum: -1 ("compute on emit") when not given or given as -1, else range-checked. */
function computedOr(v: number | undefined, max: number, path: string): number {
  return v === undefined || v === -1 ? -1 : checkUint(v, max, path);
}

/** Six bytes from a MAC given as text or bytes; 'field' names it in the error. */
export function macBytes(v: MacLike, field: string): Uint8Array {
  if (typeof v !== 'string') {
    if (v.length !== 6) throw new InputError('BUILD_BAD_MAC', field, 'a MAC address is 6 bytes');
    return v;
  }
  const m = parseMac(v);
  if (!m) throw new InputError('BUILD_BAD_MAC', field, `'${v}' is not a MAC address`);
  return m;
}

/** An IPv4 address as uint32 from a dotted quad or a number; 'field' names it in the error. */
export function ipv4Number(v: Ipv4Like, field: string): number {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new InputError('BUILD_BAD_IPV4', field, `${v} is not an IPv4 address`);
    return v >>> 0;
  }
  const a = parseIpv4(v);
  if (a === null) throw new InputError('BUILD_BAD_IPV4', field, `'${v}' is not an IPv4 address`);
  return a;
}

/** Sixteen bytes from IPv6 text or bytes; 'field' names it in the error. */
export function ipv6Bytes(v: Ipv6Like, field: string): Uint8Array {
  if (typeof v !== 'string') {
    if (v.length !== 16) throw new InputError('BUILD_BAD_IPV6', field, 'an IPv6 address is 16 bytes');
    return v;
  }
  const a = parseIpv6(v);
  if (a === null) throw new InputError('BUILD_BAD_IPV6', field, `'${v}' is not an IPv6 address`);
  return a;
}

const TCP_FLAG_LETTERS: Record<string, number> = { F: 0x01, S: 0x02, R: 0x04, P: 0x08, A: 0x10, U: 0x20, E: 0x40, C: 0x80, N: 0x100 };

/**
 * TCP flags from a number, `0x…` hex, or scapy-style letters ('S', 'SA',
 * 'PA', 'FA'; N is AE). A number above the 12 flag bits is BUILD_BAD_VALUE,
 * an unknown letter BUILD_BAD_TCP_FLAGS; 'field' names it in the error.
 */
export function tcpFlagsOf(v: number | string, field = 'tcp.flags'): number {
  if (typeof v === 'number') return checkUint(v, 0xfff, field);
  if (/^0x[0-9a-f]+$/i.test(v)) return checkUint(parseInt(v, 16), 0xfff, field);
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
  private data: Uint8Array = NO_BYTES;
  private tail: Uint8Array = NO_BYTES;
  private padTo = 0;

  eth(o: EthOptions = {}): this {
    const t = o.type;
    if (t !== undefined) checkUint(t, U16, 'eth.type');
    const isLen = t !== undefined && t < ETH_TYPE_MIN;
    this.layers.push({
      kind: 'eth',
      repr: {
        dst: macBytes(o.dst ?? ZERO_MAC, 'eth.dst'), src: macBytes(o.src ?? ZERO_MAC, 'eth.src'), vlans: [],
        ethertype: isLen || t === undefined ? 0x9000 : t,
      },
      typeGiven: t !== undefined,
      lengthField: isLen ? t : -1,
      trailer: o.trailer ?? NO_BYTES,
    });
    return this;
  }

  /**
   * Add an 802.1Q (or, with tpid 0x88a8, 802.1ad) tag to the Ethernet header
   * just added; tags go outer to inner. Errors name the tag's fields as
   * tshark does (`vlan.id`, or `ieee8021ad.id` for an S-tag); the TPID is the
   * `eth.type` of the first tag, the `vlan.etype` of the tag before the others.
   */
  vlan(o: VlanOptions): this {
    const last = this.layers[this.layers.length - 1];
    if (last?.kind !== 'eth') throw new InputError('BUILD_BAD_ORDER', 'vlan', 'a VLAN tag must follow an Ethernet header');
    const tpid = uintOr(o.tpid, ETH_TYPE_VLAN, U16, last.repr.vlans.length === 0 ? 'eth.type' : 'vlan.etype');
    const f = tpid === ETH_TYPE_QINQ ? 'ieee8021ad' : 'vlan';
    const tag: VlanRepr = { tpid, pcp: uintOr(o.pcp, 0, 7, `${f}.priority`), dei: uintOr(o.dei, 0, 1, `${f}.dei`), vid: checkUint(o.vid, 0xfff, `${f}.id`) };
    last.repr.vlans.push(tag);
    return this;
  }

  arp(o: ArpOptions = {}): this {
    const nums: [number | undefined, number, string][] = [
      [o.op, U16, 'arp.opcode'], [o.hwType, U16, 'arp.hw.type'], [o.protoType, U16, 'arp.proto.type'],
      [o.hwSize, 0xff, 'arp.hw.size'], [o.protoSize, 0xff, 'arp.proto.size'],
    ];
    for (const [v, max, path] of nums) if (v !== undefined) checkUint(v, max, path);
    this.layers.push({ kind: 'arp', o });
    return this;
  }

  ipv4(o: Ipv4Options = {}): this {
    let options = o.options ?? NO_BYTES;
    if (o.hdrLen !== undefined) {
      const h = o.hdrLen;
      if (!Number.isInteger(h) || h < IPV4_HEADER_LEN || h > IPV4_MAX_HEADER_LEN || (h & 3) !== 0 || h - IPV4_HEADER_LEN < options.length) {
        throw new InputError('BUILD_BAD_VALUE', 'ip.hdr_len', `${h} is not a header length (20..60, a multiple of 4) that holds ${options.length} bytes of options`);
      }
      const padded = new Uint8Array(h - IPV4_HEADER_LEN);
      padded.set(options);
      options = padded;
    }
    this.layers.push({
      kind: 'ipv4',
      repr: {
        dscp: uintOr(o.dscp, 0, 63, 'ip.dsfield.dscp'), ecn: uintOr(o.ecn, 0, 3, 'ip.dsfield.ecn'), ident: uintOr(o.ident, 1, U16, 'ip.id'),
        dontFrag: o.df ?? false, moreFrags: o.mf ?? false,
        // in bytes: the range here, the multiple of 8 in the Repr's emit (a WireError)
        fragOffset: uintOr(o.fragOffset, 0, 0x1fff * 8, 'ip.frag_offset'),
        ttl: uintOr(o.ttl, 64, 0xff, 'ip.ttl'), protocol: uintOr(o.protocol, 0, 0xff, 'ip.proto'),
        src: ipv4Number(o.src ?? '127.0.0.1', 'ip.src'), dst: ipv4Number(o.dst ?? '127.0.0.1', 'ip.dst'),
        options, totalLength: computedOr(o.totalLength, U16, 'ip.len'), checksum: computedOr(o.checksum, U16, 'ip.checksum'),
      },
      protoGiven: o.protocol !== undefined,
      reservedFlag: o.reservedFlag ?? false,
    });
    return this;
  }

  ipv6(o: Ipv6Options = {}): this {
    this.layers.push({
      kind: 'ipv6',
      repr: {
        trafficClass: uintOr(o.trafficClass, 0, 0xff, 'ipv6.tclass'), flowLabel: uintOr(o.flowLabel, 0, 0xfffff, 'ipv6.flow'),
        payloadLength: computedOr(o.payloadLength, U16, 'ipv6.plen'),
        nextHeader: uintOr(o.nextHeader, IPPROTO_NONE, 0xff, 'ipv6.nxt'), hopLimit: uintOr(o.hopLimit, 64, 0xff, 'ipv6.hlim'),
        src: ipv6Bytes(o.src ?? '::1', 'ipv6.src'), dst: ipv6Bytes(o.dst ?? '::1', 'ipv6.dst'),
        extHeaders: o.extHeaders ?? NO_BYTES,
      },
      nhGiven: o.nextHeader !== undefined,
    });
    return this;
  }

  udp(o: UdpOptions = {}): this {
    this.layers.push({
      kind: 'udp',
      repr: {
        srcPort: uintOr(o.srcPort, 53, U16, 'udp.srcport'), dstPort: uintOr(o.dstPort, 53, U16, 'udp.dstport'),
        length: computedOr(o.length, U16, 'udp.length'), checksum: computedOr(o.checksum, U16, 'udp.checksum'),
      },
      dportGiven: o.dstPort !== undefined,
    });
    return this;
  }

  tcp(o: TcpOptions = {}): this {
    const raw = o.optionBytes ?? null;
    if (raw !== null && o.options !== undefined && o.options.length > 0) {
      throw new InputError('BUILD_BAD_VALUE', 'tcp.options', 'give the options as values or as bytes, not both');
    }
    let dataOffset = computedOr(o.dataOffset, 15, 'tcp.hdr_len');
    if (raw !== null && dataOffset < 0) dataOffset = (TCP_HEADER_LEN + raw.length + 3) >>> 2;
    if (raw !== null && (dataOffset * 4 < TCP_HEADER_LEN + raw.length || dataOffset * 4 > TCP_MAX_HEADER_LEN)) {
      throw new InputError('BUILD_BAD_VALUE', 'tcp.options', `${raw.length} bytes of options do not fit a ${dataOffset * 4}-byte header`);
    }
    const truncate = o.truncate ?? -1;
    if (truncate !== -1 && (!Number.isInteger(truncate) || truncate < 0)) throw new InputError('BUILD_BAD_VALUE', 'tcp', `cannot cut a TCP header to ${truncate} bytes`);
    const options = raw !== null ? [] : o.options ?? [];
    for (const opt of options) checkTcpOption(opt);
    this.layers.push({
      kind: 'tcp',
      repr: {
        srcPort: uintOr(o.srcPort, 20, U16, 'tcp.srcport'), dstPort: uintOr(o.dstPort, 80, U16, 'tcp.dstport'),
        seq: uintOr(o.seq, 0, U32, 'tcp.seq'), ack: uintOr(o.ack, 0, U32, 'tcp.ack'), flags: tcpFlagsOf(o.flags ?? 'S'),
        window: uintOr(o.window, 8192, U16, 'tcp.window_size_value'), urgent: uintOr(o.urgent, 0, U16, 'tcp.urgent_pointer'),
        options, dataOffset, checksum: computedOr(o.checksum, U16, 'tcp.checksum'),
      },
      optionBytes: raw,
      truncate,
    });
    return this;
  }

  /** An ICMP message; 'rest' (bytes 4-7, checked as the path `icmp`) wins over 'ident'/'seq'/'mtu'. */
  icmp(o: IcmpOptions = {}): this {
    const type = uintOr(o.type, ICMP_ECHO_REQUEST, 0xff, 'icmp.type');
    const ident = uintOr(o.ident, 0, U16, 'icmp.ident'), seq = uintOr(o.seq, 0, U16, 'icmp.seq'), mtu = uintOr(o.mtu, 0, U16, 'icmp.mtu');
    let rest = 0;
    if (o.rest !== undefined) rest = checkUint(o.rest, U32, 'icmp');
    else if (icmpHasIdentSeq(type)) rest = ((ident << 16) | seq) >>> 0;
    else if (type === ICMP_DEST_UNREACH) rest = mtu;
    this.layers.push({
      kind: 'icmp',
      repr: { kind: 'other', type, code: uintOr(o.code, 0, 0xff, 'icmp.code'), checksum: computedOr(o.checksum, U16, 'icmp.checksum'), restOfHeader: rest },
    });
    return this;
  }

  icmpv6(o: Icmpv6Options = {}): this {
    let repr: Icmpv6Repr;
    if ('kind' in o) repr = o;
    else {
      const type = o.type ?? 128, code = o.code ?? 0, checksum = o.checksum ?? -1;
      if (o.rest !== undefined) repr = { kind: 'other', type, code, checksum, restOfHeader: o.rest };
      else if (type === 128 || type === 129) repr = { kind: type === 128 ? 'echoRequest' : 'echoReply', code, checksum, ident: o.ident ?? 0, seq: o.seq ?? 0 };
      else repr = { kind: 'other', type, code, checksum, restOfHeader: 0 };
    }
    checkIcmpv6(repr);
    this.layers.push({ kind: 'icmpv6', repr });
    return this;
  }

  vxlan(o: VxlanOptions): this {
    this.layers.push({
      kind: 'vxlan',
      repr: {
        flags: uintOr(o.flags, VXLAN_FLAG_I, 0xff, 'vxlan.flags'), reserved24: uintOr(o.reserved24, 0, 0xffffff, 'vxlan.gbp'),
        vni: asVni(checkUint(o.vni, VNI_MAX, 'vxlan.vni', 'BUILD_BAD_VNI')), reserved8: uintOr(o.reserved8, 0, 0xff, 'vxlan.reserved8'),
      },
    });
    return this;
  }

  geneve(o: GeneveOptions): this {
    checkUint(o.vni, VNI_MAX, 'geneve.vni', 'BUILD_BAD_VNI');
    const version = uintOr(o.version, 0, 3, 'geneve.version');
    const options = o.options ?? [];
    for (const opt of options) {
      checkUint(opt.optClass, U16, 'geneve.option.class');
      checkUint(opt.type, 0xff, 'geneve.option.type');
      checkUint(opt.flags, 7, 'geneve.option.flags');
    }
    const repr = GeneveRepr.of(o.vni, uintOr(o.protocolType, ETH_TYPE_TEB, U16, 'geneve.proto_type'), options);
    repr.oam = o.oam ?? false;
    if (o.critical !== undefined) repr.critical = o.critical;
    repr.reservedFlags = uintOr(o.reservedFlags, 0, 0x3f, 'geneve.flags.reserved');
    repr.reserved = uintOr(o.reserved, 0, 0xff, 'geneve.reserved');
    this.layers.push({ kind: 'geneve', repr, protoGiven: o.protocolType !== undefined, version });
    return this;
  }

  /** Bytes after the innermost header (a string is UTF-8 encoded). */
  payload(p: Uint8Array | string): this {
    this.data = typeof p === 'string' ? new TextEncoder().encode(p) : p;
    return this;
  }

  /** Bytes after everything else that no length or checksum covers (the outer frame's padding, an FCS). */
  trailer(bytes: Uint8Array): this {
    this.tail = bytes;
    return this;
  }

  /** Pad the frame with zeros to at least 'n' bytes (60 for a minimum Ethernet frame without FCS). */
  pad(n = 60): this {
    this.padTo = checkUint(n, Number.MAX_SAFE_INTEGER, 'frame.len');
    return this;
  }

  /** The frame's bytes. */
  build(): Uint8Array {
    return this.buildWithHeadroom(0).buf;
  }

  /**
   * The frame laid out after 'headroom' free bytes: `buf[off, end)` is the
   * frame and `end` is `buf.length`. Throws `InputError` for an impossible
   * stack or a computed length that does not fit its field (BUILD_TOO_LONG,
   * before anything is allocated) and `WireError` for a value a header cannot
   * carry. The builder can be built again (each call makes a new buffer).
   */
  buildWithHeadroom(headroom: number): { buf: Uint8Array; off: number; end: number } {
    checkUint(headroom, Number.MAX_SAFE_INTEGER, 'headroom');
    const ls = this.layers;
    this.link();
    const lens = ls.map((l) => headerLen(l));
    for (let i = 0; i < ls.length - 1; i++) {
      const l = ls[i]!;
      if (l.kind === 'tcp' && l.truncate >= 0) throw new InputError('BUILD_BAD_ORDER', 'tcp', 'a cut TCP header must be the last layer');
    }
    const offs: number[] = [];
    let o = headroom;
    for (const n of lens) { offs.push(o); o += n; }
    // Each layer's payload ends after the data and the trailers of the Ethernet
    // frames inside it; an Ethernet header's own trailer follows its packet.
    const payloadEnds: number[] = new Array<number>(ls.length).fill(0);
    let p = o + this.data.length;
    for (let i = ls.length - 1; i >= 0; i--) {
      payloadEnds[i] = p;
      const l = ls[i]!;
      if (l.kind === 'eth') p += l.trailer.length;
    }
    checkLengths(ls, offs, payloadEnds);
    const frameLen = Math.max(p + this.tail.length - headroom, this.padTo);
    const buf = new Uint8Array(headroom + frameLen);
    buf.set(this.data, o);
    for (let i = 0; i < ls.length; i++) {
      const l = ls[i]!;
      if (l.kind === 'eth') buf.set(l.trailer, payloadEnds[i]!);
    }
    buf.set(this.tail, p);
    for (let i = ls.length - 1; i >= 0; i--) emitLayer(ls, i, buf, offs, lens, payloadEnds[i]!);
    return { buf, off: headroom, end: headroom + frameLen };
  }

  /** Fill the fields that link a layer to the next one, unless the user gave them. */
  private link(): void {
    const ls = this.layers;
    for (let i = 0; i < ls.length; i++) {
      const l = ls[i]!, next = ls[i + 1];
      switch (l.kind) {
        case 'eth':
          if (!l.typeGiven && next) l.repr.ethertype = etherTypeOf(next, l.repr.ethertype);
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
          if (!l.protoGiven && next) l.repr.protocolType = etherTypeOf(next, l.repr.protocolType);
          break;
        default:
          break;
      }
    }
  }
}

function etherTypeOf(next: Layer, otherwise: number): number {
  switch (next.kind) {
    case 'ipv4': return ETH_TYPE_IPV4;
    case 'ipv6': return ETH_TYPE_IPV6;
    case 'arp': return ETH_TYPE_ARP;
    case 'eth': return ETH_TYPE_TEB;
    default: return otherwise;
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

function arpSizes(o: ArpOptions): { hln: number; pln: number } {
  const hln = o.hwSize ?? (o.sha instanceof Uint8Array ? o.sha.length : 6);
  const pln = o.protoSize ?? (o.spa instanceof Uint8Array ? o.spa.length : 4);
  return { hln, pln };
}

function headerLen(l: Layer): number {
  switch (l.kind) {
    case 'eth': return EthernetRepr.bufferLen(l.repr);
    case 'arp': { const { hln, pln } = arpSizes(l.o); return ARP_FIXED_LEN + 2 * (hln + pln); }
    case 'ipv4': return Ipv4Repr.bufferLen(l.repr);
    case 'ipv6': return Ipv6Repr.bufferLen(l.repr);
    case 'udp': return UdpRepr.bufferLen(l.repr);
    case 'tcp': return l.truncate >= 0 ? Math.min(l.truncate, TcpRepr.bufferLen(l.repr)) : TcpRepr.bufferLen(l.repr);
    case 'icmp': return IcmpRepr.bufferLen(l.repr);
    case 'icmpv6': return Icmpv6Repr.bufferLen(l.repr);
    case 'vxlan': return VxlanRepr.bufferLen(l.repr);
    case 'geneve': return GeneveRepr.bufferLen(l.repr);
  }
}

/**
 * BUILD_TOO_LONG when a length the builder computes (not one the caller
 * gave) does not fit its 16-bit field: the IPv4 total length, the IPv6
 * payload length (extension headers included) or the UDP length of layer i,
 * whose header starts at 'offs[i]' and whose payload ends at 'payloadEnds[i]'.
 */
function checkLengths(ls: Layer[], offs: number[], payloadEnds: number[]): void {
  for (let i = 0; i < ls.length; i++) {
    const l = ls[i]!;
    const whole = payloadEnds[i]! - offs[i]!;
    let field = '', len = 0;
    if (l.kind === 'ipv4' && l.repr.totalLength < 0) { field = 'ip.len'; len = whole; }
    else if (l.kind === 'ipv6' && l.repr.payloadLength < 0) { field = 'ipv6.plen'; len = whole - IPV6_HEADER_LEN; }
    else if (l.kind === 'udp' && l.repr.length < 0) { field = 'udp.length'; len = whole; }
    if (len > MAX_LEN16) {
      throw new InputError('BUILD_TOO_LONG', field, `${len} bytes do not fit the 16-bit length field (at most ${MAX_LEN16}); give the length to write another`);
    }
  }
}

/** Range-check the numbers of one TCP option (as `checkUint`). */
function checkTcpOption(opt: TcpOption): void {
  switch (opt.kind) {
    case 'mss': checkUint(opt.value, U16, 'tcp.options.mss_val'); break;
    case 'wscale': checkUint(opt.shift, 0xff, 'tcp.options.wscale.shift'); break;
    case 'sack':
      for (const [le, re] of opt.blocks) { checkUint(le, U32, 'tcp.options.sack_le'); checkUint(re, U32, 'tcp.options.sack_re'); }
      break;
    case 'timestamp':
      checkUint(opt.tsval, U32, 'tcp.options.timestamp.tsval');
      checkUint(opt.tsecr, U32, 'tcp.options.timestamp.tsecr');
      break;
    case 'unknown':
      checkUint(opt.type, 0xff, 'tcp.option_kind');
      checkUint(2 + opt.data.length, 0xff, 'tcp.option_len');
      break;
    default: break;
  }
}

/** Range-check the numbers of an ICMPv6 message and its ND options (as `checkUint`). */
function checkIcmpv6(r: Icmpv6Repr): void {
  checkUint(r.code, 0xff, 'icmpv6.code');
  computedOr(r.checksum, U16, 'icmpv6.checksum');
  switch (r.kind) {
    case 'echoRequest': case 'echoReply':
      checkUint(r.ident, U16, 'icmpv6.echo.identifier');
      checkUint(r.seq, U16, 'icmpv6.echo.sequence_number');
      break;
    case 'destUnreachable': case 'timeExceeded': checkUint(r.unused, U32, 'icmpv6.reserved'); break;
    case 'packetTooBig': checkUint(r.mtu, U32, 'icmpv6.mtu'); break;
    case 'paramProblem': checkUint(r.pointer, U32, 'icmpv6.pointer'); break;
    case 'routerSolicit': case 'neighborSolicit': case 'redirect': checkUint(r.reserved, U32, 'icmpv6.reserved'); break;
    case 'routerAdvert':
      checkUint(r.curHopLimit, 0xff, 'icmpv6.nd.ra.cur_hop_limit');
      checkUint(r.flags, 0xff, 'icmpv6.nd.ra.flag');
      checkUint(r.routerLifetime, U16, 'icmpv6.nd.ra.router_lifetime');
      checkUint(r.reachableTime, U32, 'icmpv6.nd.ra.reachable_time');
      checkUint(r.retransTimer, U32, 'icmpv6.nd.ra.retrans_timer');
      break;
    case 'neighborAdvert': checkUint(r.reserved, 0x1fffffff, 'icmpv6.nd.na.flag.rsv'); break;
    case 'other':
      checkUint(r.type, 0xff, 'icmpv6.type');
      checkUint(r.restOfHeader, U32, 'icmpv6');
      break;
  }
  if ('options' in r) for (const opt of r.options) checkNdOption(opt);
}

/** Range-check one ND option; its length byte counts 8-octet units, so it is at most 255 × 8 bytes. */
function checkNdOption(opt: NdpOption): void {
  checkUint(ndpOptionLen(opt) >>> 3, 0xff, 'icmpv6.opt.length');
  switch (opt.kind) {
    case 'prefixInfo':
      checkUint(opt.prefixLen, 0xff, 'icmpv6.opt.prefix.length');
      checkUint(opt.flags, 0xff, 'icmpv6.opt.prefix.flag');
      checkUint(opt.validLifetime, U32, 'icmpv6.opt.prefix.valid_lifetime');
      checkUint(opt.preferredLifetime, U32, 'icmpv6.opt.prefix.preferred_lifetime');
      checkUint(opt.reserved, U32, 'icmpv6.opt.reserved');
      break;
    case 'mtu':
      checkUint(opt.reserved, U16, 'icmpv6.opt.reserved');
      checkUint(opt.mtu, U32, 'icmpv6.opt.mtu');
      break;
    case 'unknown': checkUint(opt.type, 0xff, 'icmpv6.opt.type'); break;
    default: break;
  }
}

/**
 * Offset of the final destination in the IPv4 options 'opts' (a loose or
 * strict source route whose pointer has not run past its end), or -1: the
 * same rule as Wireshark's get_dst_offset() and dissect/ipv4.ts. encode.ts
 * uses it to tell whether `ip.dst` is the header's address or the route's last.
 */
export function ipv4FinalDstAt(opts: Uint8Array): number {
  let p = 0;
  while (p < opts.length) {
    const t = opts[p]!;
    if (t === IPOPT_EOL) return -1;
    if (t === IPOPT_NOP) { p++; continue; }
    const n = opts[p + 1] ?? 0;
    if (n < 2) return -1;
    if ((t === IPOPT_LSRR || t === IPOPT_SSRR) && n >= 3 && p + n <= opts.length) {
      const ptr = opts[p + 2]!;
      if (ptr < 4 || (ptr & 3) !== 0 || ptr > n) return -1;
      return p + n - 4;
    }
    p += n;
  }
  return -1;
}

/** The pseudo-header sum function of the IP header enclosing layer 'i'. */
function pseudoFor(ls: Layer[], i: number, proto: number): (len: number) => number {
  for (let j = i - 1; j >= 0; j--) {
    const l = ls[j]!;
    if (l.kind === 'ipv4') {
      const { src, options } = l.repr;
      const at = ipv4FinalDstAt(options);
      const dst = at < 0 ? l.repr.dst : be32(options, at);
      return (len) => ipv4PseudoSum(src, dst, proto, len);
    }
    if (l.kind === 'ipv6') {
      const r = l.repr;
      if (r.extHeaders.length === 0) return (len) => ipv6PseudoSumOf(r.src, r.dst, proto, len);
      // the routing header, if any, names the final destination: lay the header out to find it
      const tmp = new Uint8Array(IPV6_HEADER_LEN + r.extHeaders.length);
      const v = new Ipv6Packet().reset(tmp, 0, tmp.length);
      Ipv6Repr.emit({ ...r, payloadLength: r.extHeaders.length }, v, 0);
      v.checkHeader();
      const dstOff = v.finalDstOffset();
      return (len) => ipv6PseudoSum(tmp, v.srcOffset(), dstOff, proto, len);
    }
  }
  throw new InputError('BUILD_BAD_ORDER', ls[i]!.kind, `${ls[i]!.kind} needs an enclosing IP header for its checksum`);
}

function emitLayer(ls: Layer[], i: number, buf: Uint8Array, offs: number[], lens: number[], payloadEnd: number): void {
  const l = ls[i]!;
  const off = offs[i]!;
  const hdrEnd = off + lens[i]!;
  const payloadLen = payloadEnd - hdrEnd;
  switch (l.kind) {
    case 'eth': {
      const f = new EthernetFrame().reset(buf, off, hdrEnd);
      EthernetRepr.emit(l.repr, f);
      // an 802.3 length goes where the innermost EtherType would
      if (l.lengthField >= 0) f.setTagTpid(l.repr.vlans.length, l.lengthField);
      break;
    }
    case 'arp': emitArp(l.o, buf, off, hdrEnd); break;
    case 'ipv4': {
      const p = new Ipv4Packet().reset(buf, off, payloadEnd);
      Ipv4Repr.emit(l.repr, p, payloadLen);
      if (l.reservedFlag) {
        p.setReservedFlag(true);
        if (l.repr.checksum < 0) p.fillChecksum();
      }
      break;
    }
    case 'ipv6': Ipv6Repr.emit(l.repr, new Ipv6Packet().reset(buf, off, payloadEnd), payloadLen); break;
    case 'udp': UdpRepr.emit(l.repr, new UdpPacket().reset(buf, off, payloadEnd), payloadLen, pseudoFor(ls, i, IPPROTO_UDP)); break;
    case 'tcp': emitTcp(l, buf, off, hdrEnd, payloadEnd, pseudoFor(ls, i, IPPROTO_TCP)); break;
    case 'icmp': IcmpRepr.emit(l.repr, new IcmpPacket().reset(buf, off, payloadEnd), payloadLen); break;
    case 'icmpv6': Icmpv6Repr.emit(l.repr, new Icmpv6Packet().reset(buf, off, payloadEnd), payloadLen, pseudoFor(ls, i, IPPROTO_ICMPV6)); break;
    case 'vxlan': VxlanRepr.emit(l.repr, new VxlanPacket().reset(buf, off, payloadEnd)); break;
    case 'geneve':
      GeneveRepr.emit(l.repr, new GenevePacket().reset(buf, off, payloadEnd));
      if (l.version !== 0) new GenevePacket().reset(buf, off, payloadEnd).setVersion(l.version);
      break;
  }
}

/** TCP: the Repr's emit, then a raw options area and the checksum over it, or a cut copy of the header. */
function emitTcp(l: Extract<Layer, { kind: 'tcp' }>, buf: Uint8Array, off: number, hdrEnd: number, payloadEnd: number, pseudo: (len: number) => number): void {
  const full = TcpRepr.bufferLen(l.repr);
  // a cut header is laid out whole in scratch space and copied as far as it goes
  const cut = l.truncate >= 0 && l.truncate < full;
  const b = cut ? new Uint8Array(full) : buf;
  const o = cut ? 0 : off;
  const end = cut ? full : payloadEnd;
  const p = new TcpPacket().reset(b, o, end);
  const raw = l.optionBytes;
  const computeSum = l.repr.checksum < 0;
  TcpRepr.emit(raw !== null && computeSum ? { ...l.repr, checksum: 0 } : l.repr, p, end - o - full, pseudo);
  if (raw !== null) {
    b.set(raw, o + TCP_HEADER_LEN);
    if (computeSum) p.setChecksum(p.computeChecksum(pseudo(end - o), end));
  }
  if (cut) buf.set(b.subarray(0, hdrEnd - off), off);
}

/** ARP through the view: Ethernet/IPv4 with `ArpRepr`, any other sizes with the view's setters and offsets. */
function emitArp(o: ArpOptions, buf: Uint8Array, off: number, end: number): void {
  const { hln, pln } = arpSizes(o);
  const hrd = o.hwType ?? ARP_HRD_ETHERNET, pro = o.protoType ?? ARP_PRO_IPV4;
  const p = new ArpPacket().reset(buf, off, end);
  if (hln === 6 && pln === 4 && hrd === ARP_HRD_ETHERNET && pro === ARP_PRO_IPV4 && !(o.spa instanceof Uint8Array) && !(o.tpa instanceof Uint8Array)) {
    ArpRepr.emit({
      opcode: o.op ?? ARP_OP_REQUEST, sha: macBytes(o.sha ?? ZERO_MAC, 'arp.src.hw_mac'), spa: ipv4Number(o.spa ?? 0, 'arp.src.proto_ipv4'),
      tha: macBytes(o.tha ?? ZERO_MAC, 'arp.dst.hw_mac'), tpa: ipv4Number(o.tpa ?? 0, 'arp.dst.proto_ipv4'),
    }, p);
    return;
  }
  p.setHwType(hrd);
  p.setProtoType(pro);
  p.setHwSize(hln);
  p.setProtoSize(pln);
  p.setOpcode(o.op ?? ARP_OP_REQUEST);
  const put = (v: MacLike | Ipv4Like | Uint8Array | undefined, at: number, n: number, field: string): void => {
    let bytes: Uint8Array;
    if (v === undefined) bytes = new Uint8Array(n);
    else if (v instanceof Uint8Array) bytes = v;
    else if (n === 6 && typeof v === 'string' && v.includes(':')) bytes = macBytes(v, field);
    else if (n === 4) { bytes = new Uint8Array(4); setBe32(bytes, 0, ipv4Number(v, field)); }
    else throw new InputError('BUILD_BAD_VALUE', field, `give a ${n}-byte address as bytes`);
    if (bytes.length !== n) throw new InputError('BUILD_BAD_VALUE', field, `the address has ${bytes.length} bytes, the header says ${n}`);
    buf.set(bytes, at);
  };
  put(o.sha, p.shaOffset(), hln, 'arp.src.hw');
  put(o.spa, p.spaOffset(), pln, 'arp.src.proto');
  put(o.tha, p.thaOffset(), hln, 'arp.dst.hw');
  put(o.tpa, p.tpaOffset(), pln, 'arp.dst.proto');
}
