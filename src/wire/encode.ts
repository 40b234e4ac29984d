/**
 * Packets from Wireshark field names: the reverse of `sdnemu pcap decode
 * --json` (wire layer, slow path).
 *
 * What: `dissectionToJson(d)` shapes a dissection as the CLI prints it — one
 * key per Wireshark field, the value a string as `tshark -T fields` prints
 * it, or an array of strings, outer first, when the field occurs more than
 * once in the frame (outer and inner `ip.src` of a VXLAN packet, every
 * `tcp.option_kind`). `encodeFields(pkt, path)` turns such an object back
 * into frame bytes and `encodeJson(text, source)` does it for a whole JSON
 * document (an array of packet objects, or one object) with timestamps.
 * Values may also be JSON numbers and booleans; numeric text may be decimal
 * or `0x` hex whatever tshark would print; byte strings are hex (`:`
 * separators allowed, `<MISSING>`/`<none>` for empty).
 *
 * How: the packet becomes a stack of layers, then each layer takes its
 * fields from per-field cursors — the k-th value of `ip.src` belongs to the
 * k-th IPv4 layer that has one — and becomes a `FrameBuilder` call, so
 * lengths, checksums and the fields linking layers (EtherType, IP protocol,
 * VXLAN/Geneve port) are computed unless given, exactly as the builder does.
 * A layer takes its fields in the order the dissector emitted them, so the
 * several values one layer has of a field (TCP options, IPv4 option
 * addresses, the two `ieee8021ad.priority` of a double S-tag) line up.
 * Where a field is an aggregate and its bits are also fields (`ip.flags` and
 * `ip.flags.df`, `tcp.flags` and `tcp.flags.syn`, `vxlan.flags` and
 * `vxlan.flag_i`, `ip.dsfield` and `ip.dsfield.dscp` …), the aggregate sets
 * the base and each bit field given overrides its bits. Where a whole byte
 * string and its parsed values are both present (`tcp.options` and the
 * options, `ip.options.route` and its addresses, `geneve.option` and its
 * class/type/data), the parsed values are consumed and the bytes are written.
 *
 * The layer stack (`encodedProtocols(pkt)` tells which one a packet gets):
 * - from `frame.protocols` when given (tshark's `eth:ethertype:ip:udp:vxlan:
 *   eth:ethertype:ip:tcp`; `ethertype` and `data` tokens are skipped; `vlan`
 *   and `ieee8021ad` tokens are tags of the Ethernet header before them);
 * - otherwise inferred, outer to inner. The number of layers of a protocol
 *   left is the largest number of values left of any field it has once per
 *   layer (`ip.src`, `udp.srcport` … see PROTO_KEYS). The frame starts with
 *   Ethernet, carrying every 802.1ad then every 802.1Q tag. After each layer
 *   the next one is chosen by the linking field when the layer has it
 *   (EtherType, `ip.proto`, `ipv6.nxt` and the extension headers' `nxt`,
 *   ICMP type, `geneve.proto_type`), and otherwise by which protocols have
 *   layers left: after Ethernet ip, ipv6, arp; after IPv4/IPv6 a UDP when a
 *   VXLAN/Geneve layer is left, else icmp (icmpv6 first for IPv6), tcp, udp;
 *   extension headers in RFC 8200 order; after UDP vxlan or geneve; after
 *   VXLAN always Ethernet, after Geneve Ethernet unless `geneve.proto_type`
 *   says IPv4/IPv6; an ICMP/ICMPv6 error quotes an IP packet when one is
 *   left; a non-initial fragment carries data. `data.data` is the payload of
 *   the innermost layer.
 * Values line up outer first: to give a field for an inner layer only, give
 * it for the outer ones too (or let frame.protocols fix the stack).
 *
 * Derived fields (DERIVED_FIELDS: ip.addr, udp.port, *.checksum.status,
 * eth.addr.oui, tcp.flags.str, tcp.nxtseq, tcp.len, ip.src_host …) are
 * accepted and ignored, as is `error` (the decoder's fault report: a packet
 * that did not fully decode is rebuilt from what was decoded). Any other
 * unknown field is ENCODE_UNKNOWN_FIELD, a value that does not parse or fit
 * ENCODE_BAD_VALUE, a value no layer takes (three `ip.src` for two IPv4
 * headers) ENCODE_BAD_VALUE too; paths look like `[3].ip.src[1]`. Values
 * are range-checked by the builder's `checkUint`; what the builder itself
 * rejects (a computed `ip.len` over 65535) is ENCODE_BAD_VALUE at the field
 * it names. JSON that does not parse is ENCODE_BAD_JSON with its line and
 * column.
 * Options become values where the builder has them (TCP options are a
 * `TcpOption[]`, Geneve options are read by the Geneve view); a
 * `tcp.option_len` the dissector would reject for its kind is
 * ENCODE_BAD_VALUE (give the whole `tcp.options` to write such bytes).
 * Trailing bytes: `eth.padding`, `eth.trailer` and `eth.fcs` follow the
 * packet their Ethernet header carries (inside a tunnel, within the tunnel's
 * payload); padding values go to the innermost Ethernet headers, trailer and
 * FCS values to the outermost (a frame that carries a tunnel is at least 64
 * bytes, so in a tunnelled packet only the inner frame can be padded).
 * Then `frame.cap_len` (else `frame.len`), when larger than the frame built,
 * zero-pads it to that length, which may not exceed a pcap record's
 * MAX_FRAME_LEN (262144; larger is ENCODE_BAD_VALUE, never a huge
 * allocation). `frame.len`, when at least the captured length, is the
 * frame's `origLen` (a capture cut by a snaplen keeps its wire length).
 * Time: `frame.time_epoch` (`1700000000.123456789`); without it packet i gets
 * ENCODE_EPOCH_S + i seconds, so output is deterministic.
 *
 * What the decoder's JSON cannot carry, and the encoder therefore cannot
 * rebuild (the round-trip test pins the first two): bytes the dissector
 * shows no field for, written as zeros — the data of IPv6 option types
 * Wireshark decodes itself (only type and length are shown) and of TCP
 * option kinds it decodes itself unless the whole `tcp.options` is given,
 * IPv4 options of a type tshark does not know, the reserved words of ND
 * prefix and MTU options, the body of ICMP types other than
 * echo/timestamp/mask/errors/redirect and of ICMPv6 types Wireshark knows
 * but sdnemu does not decode (MLDv2 …), routing header types other than
 * 0/2/4 beyond their fixed fields; and lossy bit summaries
 * (`tcp.flags.res`, `geneve.flags.reserved`, `geneve.option.gcp.reserved`)
 * when the aggregate or bytes field is missing. Every capture in
 * pcap-samples/ round-trips byte for byte.
 * Neighbours: dissect/ (what it inverts), builder.ts (what it calls), the
 * CLI's `pcap decode --json` and `pcap encode --json`.
 */
import { KNOWN_IPV4_OPTIONS } from './dissect/ipv4.js';
import { KNOWN_OPTS } from './dissect/ipv6.js';
import { WIRESHARK_KNOWN_KINDS } from './dissect/tcp.js';
import { wiresharkKnowsOption } from './dissect/icmpv6.js';
import { InputError, WireError } from '../errors.js';
import { EMPTY, be16, be24, be32, fromHex, parseIpv4, parseIpv6, parseMac, setBe16, setBe32 } from './bytes.js';
import type { Dissection, DissectErrorInfo } from './dissect.js';
import {
  FrameBuilder, checkUint, ipv4FinalDstAt, type ArpOptions, type EthOptions, type GeneveOptions, type Icmpv6Options,
  type IcmpOptions, type Ipv4Options, type Ipv6Options, type TcpOptions, type UdpOptions, type VxlanOptions, MAX_FRAME_LEN } from './builder.js';
import { ETH_TYPE_QINQ, ETH_TYPE_VLAN } from './ethernet.js';
import { GENEVE_HEADER_LEN, GENEVE_MAX_OPTIONS_LEN, GenevePacket, GeneveRepr, type GeneveOption } from './geneve.js';
import {
  ICMP_ADDR_MASK_REPLY, ICMP_ADDR_MASK_REQUEST, ICMP_DEST_UNREACH, ICMP_ECHO_REQUEST, ICMP_FRAG_NEEDED, ICMP_PARAM_PROBLEM,
  ICMP_REDIRECT, ICMP_TIME_EXCEEDED, ICMP_TIMESTAMP, ICMP_TIMESTAMP_REPLY, IPPROTO_ICMP, icmpHasIdentSeq, icmpIsError,
} from './icmp.js';
import { IPPROTO_ICMPV6, icmpv6IsError, type NdpOption } from './icmpv6.js';
import { IPOPT_EOL, IPOPT_LSRR, IPOPT_MTU_PROBE, IPOPT_MTU_REPLY, IPOPT_NOP, IPOPT_RA, IPOPT_RR, IPOPT_SDB, IPOPT_SID, IPOPT_SSRR, IPOPT_TR, IPOPT_TS } from './ipv4.js';
import { IPPROTO_AH, IPPROTO_DSTOPTS, IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_NONE, IPPROTO_ROUTING } from './ipv6.js';
import {
  IPPROTO_TCP, TCP_OPT_EOL, TCP_OPT_MSS, TCP_OPT_NOP, TCP_OPT_SACK, TCP_OPT_SACK_PERM, TCP_OPT_TIMESTAMP, TCP_OPT_WSCALE,
  tcpOptionLen, tcpOptionLenOk, type TcpOption,
} from './tcp.js';
import { IPPROTO_UDP } from './udp.js';

/** Seconds of the first packet's timestamp when `frame.time_epoch` is not given (packet i gets this + i). */
export const ENCODE_EPOCH_S = 1_700_000_000;

/** One packet as `sdnemu pcap decode --json` prints it. */
export type DecodedPacket = Record<string, string | string[] | DissectErrorInfo>;

export interface EncodedFrame {
  data: Uint8Array;
  tsSec: number;
  tsNsec: number;
  /**
   * Bytes the frame had on the wire (the pcap record's original length):
   * `frame.len` when it is at least the captured length `data.length` (a
   * capture cut by a snaplen), else `data.length`.
   */
  origLen: number;
}

/**
 * The CLI's JSON form of 'd': every field once, a field seen more than once
 * as an array outer first, and `error` when the dissection stopped at a fault.
 */
export function dissectionToJson(d: Dissection): DecodedPacket {
  const out: DecodedPacket = {};
  const multi = new Map<string, string[]>();
  for (const l of d.layers) {
    for (const [k, v] of l.fields) {
      const seen = multi.get(k);
      if (seen) { seen.push(v); continue; }
      const list = [v];
      multi.set(k, list);
      out[k] = v;
    }
  }
  for (const [k, list] of multi) if (list.length > 1) out[k] = list;
  if (d.error) out.error = d.error;
  return out;
}

// ---- field registry -----------------------------------------------------------

/**
 * What tshark decodes itself, shared with the dissectors so the encoder mirrors
 * them exactly: IPv4 option types and the name of their `ip.options.*` field,
 * TCP option kinds and IPv6 option types tshark shows only by type and length.
 */
const IPV4_OPT_NAMES: ReadonlyMap<number, string> = new Map([...KNOWN_IPV4_OPTIONS].map(([t, k]) => [t, k.name]));
const TCP_WIRESHARK_KINDS = WIRESHARK_KNOWN_KINDS;
const IPV6_WIRESHARK_OPTS = KNOWN_OPTS;

/**
 * Fields the decoder prints that follow from others (or are markers), found
 * by running the decoder over pcap-samples/ and reading dissect/: accepted
 * and ignored.
 */
export const DERIVED_FIELDS: ReadonlySet<string> = new Set([
  'frame.number', 'frame.interface_id',
  'eth.addr', 'eth.addr.oui', 'eth.dst.oui', 'eth.src.oui', 'eth.dst.lg', 'eth.src.lg', 'eth.lg', 'eth.dst.ig', 'eth.src.ig', 'eth.ig',
  'arp.isgratuitous', 'arp.isannouncement', 'arp.isprobe',
  'ip.checksum.status', 'ip.checksum_calculated', 'ip.addr', 'ip.src_host', 'ip.dst_host', 'ip.host', 'ip.cur_rt_host',
  'ip.rec_rt_host', 'ip.src_rt_host', 'ip.empty_rt_host', 'ip.opt.type.copy', 'ip.opt.type.class', 'ip.opt.type.number',
  'ipv6.addr', 'ipv6.src_host', 'ipv6.dst_host', 'ipv6.host', 'ipv6.hopopts.len_oct', 'ipv6.dstopts.len_oct',
  'ipv6.routing.len_oct', 'ipv6.opt', 'ipv6.opt.type.action', 'ipv6.opt.type.change', 'ipv6.opt.type.rest', 'ipv6.opt.pad1',
  'icmp.checksum.status', 'icmp.ident_le', 'icmp.seq_le', 'icmp.length.original_datagram',
  'icmpv6.checksum.status', 'icmpv6.opt', 'icmpv6.opt.reserved',
  'udp.port', 'udp.checksum.status',
  'tcp.port', 'tcp.seq_raw', 'tcp.ack_raw', 'tcp.nxtseq', 'tcp.len', 'tcp.flags.str', 'tcp.checksum.status',
  'tcp.options.wscale.multiplier', 'tcp.options.sack.count',
  'geneve.version.unknown', 'geneve.flags.reserved', 'geneve.option.type.critical', 'geneve.option.flags.reserved',
  'geneve.option.length.invalid',
  'data.len',
]);

/** Fields the encoder reads. */
const INPUT_FIELDS: ReadonlySet<string> = new Set([
  'frame.time_epoch', 'frame.len', 'frame.cap_len', 'frame.protocols',
  'eth.dst', 'eth.src', 'eth.type', 'eth.len', 'eth.padding', 'eth.trailer', 'eth.fcs', 'vlan.trailer', 'ieee8021ah.trailer',
  'vlan.priority', 'vlan.dei', 'vlan.id', 'vlan.etype', 'vlan.len',
  'ieee8021ad.priority', 'ieee8021ad.dei', 'ieee8021ad.id', 'ieee8021ad.svid', 'ieee8021ad.cvid', 'ieee8021ah.etype',
  'arp.hw.type', 'arp.proto.type', 'arp.hw.size', 'arp.proto.size', 'arp.opcode', 'arp.src.hw_mac', 'arp.src.hw',
  'arp.src.proto_ipv4', 'arp.src.proto', 'arp.dst.hw_mac', 'arp.dst.hw', 'arp.dst.proto_ipv4', 'arp.dst.proto',
  'ip.version', 'ip.hdr_len', 'ip.dsfield', 'ip.dsfield.dscp', 'ip.dsfield.ecn', 'ip.len', 'ip.id', 'ip.flags',
  'ip.flags.rb', 'ip.flags.df', 'ip.flags.mf', 'ip.frag_offset', 'ip.ttl', 'ip.proto', 'ip.checksum', 'ip.src',
  'ip.dst', 'ip.cur_rt', 'ip.opt.type', 'ip.opt.len', 'ip.opt.ptr', 'ip.rec_rt', 'ip.src_rt', 'ip.empty_rt',
  'ip.opt.overflow', 'ip.opt.flag', 'ip.opt.time_stamp_addr', 'ip.opt.time_stamp', 'ip.opt.ra', 'ip.opt.sid',
  'ip.opt.mtu', 'ip.opt.id_number', 'ip.opt.ohc', 'ip.opt.rhc', 'ip.opt.originator', 'ip.opt.addr', 'ip.opt.padding',
  ...[...IPV4_OPT_NAMES.values()].map((n) => 'ip.options.' + n),
  'ipv6.version', 'ipv6.tclass', 'ipv6.tclass.dscp', 'ipv6.tclass.ecn', 'ipv6.flow', 'ipv6.plen', 'ipv6.nxt', 'ipv6.hlim',
  'ipv6.src', 'ipv6.dst',
  'ipv6.hopopts.nxt', 'ipv6.hopopts.len', 'ipv6.dstopts.nxt', 'ipv6.dstopts.len',
  'ipv6.opt.type', 'ipv6.opt.length', 'ipv6.opt.padn', 'ipv6.opt.router_alert', 'ipv6.opt.jumbo', 'ipv6.opt.tel',
  'ipv6.opt.experimental', 'ipv6.opt.unknown',
  'ipv6.routing.nxt', 'ipv6.routing.len', 'ipv6.routing.type', 'ipv6.routing.segleft', 'ipv6.routing.src.reserved',
  'ipv6.routing.src.addr', 'ipv6.routing.mipv6.reserved', 'ipv6.routing.mipv6.home_address',
  'ipv6.routing.srh.last_entry', 'ipv6.routing.srh.flags', 'ipv6.routing.srh.tag', 'ipv6.routing.srh.addr',
  'ipv6.fraghdr.nxt', 'ipv6.fraghdr.reserved_octet', 'ipv6.fraghdr.offset', 'ipv6.fraghdr.reserved_bits',
  'ipv6.fraghdr.more', 'ipv6.fraghdr.ident',
  'ah.next_header', 'ah.length', 'ah.reserved', 'ah.spi', 'ah.sequence', 'ah.icv',
  'icmp.type', 'icmp.code', 'icmp.checksum', 'icmp.ident', 'icmp.seq', 'icmp.originate_timestamp',
  'icmp.receive_timestamp', 'icmp.transmit_timestamp', 'icmp.address_mask', 'icmp.unused', 'icmp.length', 'icmp.mtu',
  'icmp.pointer', 'icmp.redir_gw',
  'icmpv6.type', 'icmpv6.code', 'icmpv6.checksum', 'icmpv6.length', 'icmpv6.reserved', 'icmpv6.mtu', 'icmpv6.pointer',
  'icmpv6.echo.identifier', 'icmpv6.echo.sequence_number', 'icmpv6.mld.maximum_response_delay',
  'icmpv6.mld.multicast_address', 'icmpv6.nd.ra.cur_hop_limit', 'icmpv6.nd.ra.flag', 'icmpv6.nd.ra.flag.m',
  'icmpv6.nd.ra.flag.o', 'icmpv6.nd.ra.flag.h', 'icmpv6.nd.ra.flag.prf', 'icmpv6.nd.ra.flag.p', 'icmpv6.nd.ra.flag.rsv',
  'icmpv6.nd.ra.router_lifetime', 'icmpv6.nd.ra.reachable_time', 'icmpv6.nd.ra.retrans_timer',
  'icmpv6.nd.ns.target_address', 'icmpv6.nd.na.flag', 'icmpv6.nd.na.flag.r', 'icmpv6.nd.na.flag.s',
  'icmpv6.nd.na.flag.o', 'icmpv6.nd.na.flag.rsv', 'icmpv6.nd.na.target_address', 'icmpv6.nd.rd.target_address',
  'icmpv6.rd.na.destination_address', 'icmpv6.opt.type', 'icmpv6.opt.length', 'icmpv6.opt.linkaddr',
  'icmpv6.opt.src_linkaddr', 'icmpv6.opt.target_linkaddr', 'icmpv6.opt.prefix.length', 'icmpv6.opt.prefix.flag',
  'icmpv6.opt.prefix.flag.l', 'icmpv6.opt.prefix.flag.a', 'icmpv6.opt.prefix.flag.r', 'icmpv6.opt.prefix.flag.reserved',
  'icmpv6.opt.prefix.valid_lifetime', 'icmpv6.opt.prefix.preferred_lifetime', 'icmpv6.opt.prefix', 'icmpv6.opt.mtu',
  'icmpv6.data',
  'udp.srcport', 'udp.dstport', 'udp.length', 'udp.checksum',
  'tcp.srcport', 'tcp.dstport', 'tcp.seq', 'tcp.ack', 'tcp.hdr_len', 'tcp.flags', 'tcp.flags.res', 'tcp.flags.ae',
  'tcp.flags.cwr', 'tcp.flags.ece', 'tcp.flags.urg', 'tcp.flags.ack', 'tcp.flags.push', 'tcp.flags.reset',
  'tcp.flags.syn', 'tcp.flags.fin', 'tcp.window_size_value', 'tcp.checksum', 'tcp.urgent_pointer', 'tcp.options',
  'tcp.option_kind', 'tcp.option_len', 'tcp.options.eol', 'tcp.options.nop', 'tcp.options.mss', 'tcp.options.mss_val',
  'tcp.options.wscale', 'tcp.options.wscale.shift', 'tcp.options.sack_perm', 'tcp.options.sack', 'tcp.options.sack_le',
  'tcp.options.sack_re', 'tcp.options.timestamp', 'tcp.options.timestamp.tsval', 'tcp.options.timestamp.tsecr',
  'tcp.options.unknown', 'tcp.options.unknown.payload',
  'vxlan.flags', 'vxlan.flag_g', 'vxlan.flag_i', 'vxlan.flag_d', 'vxlan.flag_a', 'vxlan.flags_reserved', 'vxlan.gbp',
  'vxlan.vni', 'vxlan.reserved8',
  'geneve.version', 'geneve.option.length', 'geneve.flags', 'geneve.flags.oam', 'geneve.flags.critical',
  'geneve.proto_type', 'geneve.vni', 'geneve.reserved', 'geneve.options', 'geneve.option', 'geneve.option.class',
  'geneve.option.type', 'geneve.option.flags', 'geneve.option.gcp.vnid', 'geneve.option.gcp.direction',
  'geneve.option.gcp.reserved', 'geneve.option.gcp.endpoint', 'geneve.option.gcp.profile', 'geneve.option.unknown.data',
  'data.data',
]);

/** Every field name `encodeFields` accepts. */
export function isKnownField(name: string): boolean {
  return INPUT_FIELDS.has(name) || DERIVED_FIELDS.has(name);
}

type Proto =
  | 'eth' | 'vlan' | 'ieee8021ad' | 'arp' | 'ip' | 'ipv6' | 'ipv6.hopopts' | 'ipv6.dstopts' | 'ipv6.routing'
  | 'ipv6.fraghdr' | 'ah' | 'icmp' | 'icmpv6' | 'udp' | 'tcp' | 'vxlan' | 'geneve';

/** Fields a layer of each protocol has at most once: how many layers are left is the most values left of any of them. */
const PROTO_KEYS: Record<Proto, readonly string[]> = {
  eth: ['eth.dst', 'eth.src', 'eth.type', 'eth.len'],
  vlan: ['vlan.id', 'vlan.priority', 'vlan.dei', 'vlan.etype', 'vlan.len'],
  ieee8021ad: ['ieee8021ad.id', 'ieee8021ad.svid', 'ieee8021ah.etype'],
  arp: ['arp.opcode', 'arp.hw.type', 'arp.proto.type', 'arp.hw.size', 'arp.proto.size', 'arp.src.hw_mac', 'arp.src.hw',
    'arp.src.proto_ipv4', 'arp.src.proto', 'arp.dst.hw_mac', 'arp.dst.hw', 'arp.dst.proto_ipv4', 'arp.dst.proto'],
  ip: ['ip.version', 'ip.hdr_len', 'ip.dsfield', 'ip.dsfield.dscp', 'ip.dsfield.ecn', 'ip.len', 'ip.id', 'ip.flags',
    'ip.flags.rb', 'ip.flags.df', 'ip.flags.mf', 'ip.frag_offset', 'ip.ttl', 'ip.proto', 'ip.checksum', 'ip.src', 'ip.dst'],
  ipv6: ['ipv6.version', 'ipv6.tclass', 'ipv6.tclass.dscp', 'ipv6.tclass.ecn', 'ipv6.flow', 'ipv6.plen', 'ipv6.nxt',
    'ipv6.hlim', 'ipv6.src', 'ipv6.dst'],
  'ipv6.hopopts': ['ipv6.hopopts.nxt', 'ipv6.hopopts.len'],
  'ipv6.dstopts': ['ipv6.dstopts.nxt', 'ipv6.dstopts.len'],
  'ipv6.routing': ['ipv6.routing.nxt', 'ipv6.routing.len', 'ipv6.routing.type', 'ipv6.routing.segleft'],
  'ipv6.fraghdr': ['ipv6.fraghdr.nxt', 'ipv6.fraghdr.reserved_octet', 'ipv6.fraghdr.offset', 'ipv6.fraghdr.reserved_bits',
    'ipv6.fraghdr.more', 'ipv6.fraghdr.ident'],
  ah: ['ah.next_header', 'ah.length', 'ah.reserved', 'ah.spi', 'ah.sequence', 'ah.icv'],
  icmp: ['icmp.type', 'icmp.code', 'icmp.checksum', 'icmp.ident', 'icmp.seq', 'icmp.mtu', 'icmp.pointer', 'icmp.redir_gw'],
  icmpv6: ['icmpv6.type', 'icmpv6.code', 'icmpv6.checksum', 'icmpv6.echo.identifier', 'icmpv6.echo.sequence_number', 'icmpv6.mtu',
    'icmpv6.pointer', 'icmpv6.nd.ns.target_address', 'icmpv6.nd.na.target_address'],
  udp: ['udp.srcport', 'udp.dstport', 'udp.length', 'udp.checksum'],
  tcp: ['tcp.srcport', 'tcp.dstport', 'tcp.seq', 'tcp.ack', 'tcp.hdr_len', 'tcp.flags', 'tcp.window_size_value',
    'tcp.checksum', 'tcp.urgent_pointer', 'tcp.options', 'tcp.flags.syn', 'tcp.flags.ack', 'tcp.flags.fin', 'tcp.flags.reset',
    'tcp.flags.push', 'tcp.flags.urg', 'tcp.flags.ece', 'tcp.flags.cwr', 'tcp.flags.ae', 'tcp.flags.res'],
  vxlan: ['vxlan.flags', 'vxlan.vni', 'vxlan.gbp', 'vxlan.reserved8', 'vxlan.flag_g', 'vxlan.flag_i', 'vxlan.flag_d',
    'vxlan.flag_a', 'vxlan.flags_reserved'],
  geneve: ['geneve.version', 'geneve.flags', 'geneve.proto_type', 'geneve.vni', 'geneve.reserved', 'geneve.flags.oam',
    'geneve.flags.critical', 'geneve.options'],
};

const TOKENS: ReadonlySet<string> = new Set(Object.keys(PROTO_KEYS));

// ---- values and cursors -----------------------------------------------------------

type Scalar = string | number | boolean;

/** One value of a field and where it came from (`[3].ip.src[1]`), for errors. */
interface Val { v: Scalar; where: string }

function bad(where: string, message: string): InputError {
  return new InputError('ENCODE_BAD_VALUE', where, message);
}

/** The values of every input field of one packet, each with a cursor: layers take them outer to inner. */
class Fields {
  private readonly vals = new Map<string, { list: Scalar[]; array: boolean; next: number }>();

  constructor(pkt: Record<string, unknown>, readonly path: string) {
    for (const [name, raw] of Object.entries(pkt)) {
      if (name === 'error') continue; // the decoder's fault report
      const input = INPUT_FIELDS.has(name);
      if (name.startsWith('sll.')) {
        throw bad(`${path}.${name}`, 'a Linux cooked capture (sll) frame cannot be encoded: pcap encode writes Ethernet frames');
      }
      if (!input && !DERIVED_FIELDS.has(name)) {
        const hint = closestField(name);
        throw new InputError('ENCODE_UNKNOWN_FIELD', `${path}.${name}`, `unknown field '${name}'${hint ? ` (did you mean '${hint}'?)` : ''}`);
      }
      const array = Array.isArray(raw);
      let list = (array ? raw : [raw]) as unknown[];
      // tshark (and the decoder) give every IPv6 header a hidden ip.version of 6; only IPv4 headers take ip.version
      if (name === 'ip.version') list = list.filter((x) => String(x) !== '6');
      list.forEach((x, i) => {
        if (typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'boolean') {
          throw bad(array ? `${path}.${name}[${i}]` : `${path}.${name}`, `expected a string, number or boolean, got ${x === null ? 'null' : typeof x}`);
        }
      });
      if (input) this.vals.set(name, { list: list as Scalar[], array, next: 0 });
    }
  }

  /** Values of 'name' not taken yet. */
  left(name: string): number {
    const e = this.vals.get(name);
    return e ? e.list.length - e.next : 0;
  }

  /** Layers of 'p' left (see PROTO_KEYS). */
  layersLeft(p: Proto): number {
    let n = 0;
    for (const k of PROTO_KEYS[p]) n = Math.max(n, this.left(k));
    return n;
  }

  /** The next value of 'name', taken (undefined when none is left). */
  take(name: string): Val | undefined {
    const e = this.vals.get(name);
    if (!e || e.next >= e.list.length) return undefined;
    return this.val(name, e.next++);
  }

  /** Value 'i' of 'name' and where it came from (`[3].ip.src[1]`, or `[3].ip.src` for a single value). */
  private val(name: string, i: number): Val {
    const e = this.vals.get(name)!;
    return { v: e.list[i]!, where: e.array ? `${this.path}.${name}[${i}]` : `${this.path}.${name}` };
  }

  uint(name: string, max: number): number | undefined { const x = this.take(name); return x && uintOf(x, max); }
  bool(name: string): boolean | undefined { const x = this.take(name); return x && boolOf(x); }
  bytes(name: string): Uint8Array | undefined { const x = this.take(name); return x && bytesOf(x); }
  ipv4(name: string): number | undefined { const x = this.take(name); return x && ipv4Of(x); }
  ipv6(name: string): Uint8Array | undefined { const x = this.take(name); return x && ipv6Of(x); }

  /** The first value no layer took, if any. */
  firstLeftover(): { name: string; val: Val } | undefined {
    for (const [name, e] of this.vals) if (e.next < e.list.length) return { name, val: this.val(name, e.next) };
    return undefined;
  }
}

/** The known field nearest to 'name' by edit distance, if it is close enough to be a typo. */
function closestField(name: string): string | undefined {
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(name.length / 4)) + 1;
  for (const k of [...INPUT_FIELDS, ...DERIVED_FIELDS]) {
    const d = editDistance(name, k, bestD);
    if (d < bestD) { bestD = d; best = k; }
  }
  return best;
}

function editDistance(a: string, b: string, cap: number): number {
  if (Math.abs(a.length - b.length) >= cap) return cap;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur.push(Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** An unsigned integer up to 'max' from a number, decimal or `0x` hex text, or a boolean (the builder's `checkUint`). */
function uintOf(x: Val, max: number): number {
  let n: number;
  if (typeof x.v === 'boolean') n = x.v ? 1 : 0;
  else if (typeof x.v === 'number') n = x.v;
  else {
    const s = x.v.trim();
    if (/^0x[0-9a-f]+$/i.test(s)) n = parseInt(s.slice(2), 16);
    else if (/^[0-9]+$/.test(s)) n = Number(s);
    else throw bad(x.where, `'${x.v}' is not a number`);
  }
  return checkUint(n, max, x.where, 'ENCODE_BAD_VALUE');
}

/** A flag from 1/0, true/false (text or JSON). */
function boolOf(x: Val): boolean {
  if (typeof x.v === 'boolean') return x.v;
  const s = String(x.v).trim().toLowerCase();
  if (s === '1' || s === 'true') return true;
  if (s === '0' || s === 'false') return false;
  throw bad(x.where, `'${String(x.v)}' is not a flag (1/0, true/false)`);
}

/** Bytes from hex (`:`/space separators allowed); `<MISSING>` and `<none>` are empty, as tshark prints them. */
function bytesOf(x: Val): Uint8Array {
  const s = String(x.v);
  if (s === '<MISSING>' || s === '<none>' || s === '') return new Uint8Array(0);
  const b = fromHex(s);
  if (b === null) throw bad(x.where, `'${s}' is not hex bytes`);
  return b;
}

/** Exactly 'n' bytes of hex. */
function bytesN(x: Val, n: number): Uint8Array {
  const b = bytesOf(x);
  if (b.length !== n) throw bad(x.where, `'${String(x.v)}' is ${b.length} bytes, this field has ${n}`);
  return b;
}

function macOf(x: Val): Uint8Array {
  const m = typeof x.v === 'string' ? parseMac(x.v) : null;
  if (m === null) throw bad(x.where, `'${String(x.v)}' is not a MAC address`);
  return m;
}

function ipv4Of(x: Val): number {
  if (typeof x.v === 'number') return uintOf(x, 0xffffffff);
  const a = typeof x.v === 'string' ? parseIpv4(x.v) : null;
  if (a === null) throw bad(x.where, `'${String(x.v)}' is not an IPv4 address`);
  return a;
}

function ipv6Of(x: Val): Uint8Array {
  const a = typeof x.v === 'string' ? parseIpv6(x.v) : null;
  if (a === null) throw bad(x.where, `'${String(x.v)}' is not an IPv6 address`);
  return a;
}

/** 'b' cut or zero-filled to 'n' bytes ('b' itself when it has 'n'). */
function sized(b: Uint8Array, n: number): Uint8Array {
  if (b.length === n) return b;
  const out = new Uint8Array(n);
  out.set(b.subarray(0, n));
  return out;
}

/** Copy as much of 'src' as fits into 'dst' at 'at' (a field cut by a shorter length). */
function put(dst: Uint8Array, src: Uint8Array, at: number): void {
  if (at < dst.length) dst.set(src.subarray(0, dst.length - at), at);
}

/** The bytes of 'parts' one after another. */
function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, b) => n + b.length, 0));
  let o = 0;
  for (const b of parts) { out.set(b, o); o += b.length; }
  return out;
}

/** 'bits' of 'base' replaced by 'on' when a bit field was given. */
function withBit(base: number, bit: number, on: boolean | undefined): number {
  if (on === undefined) return base;
  return on ? base | bit : base & ~bit;
}

// ---- layer specs: what each layer's fields say, before linking ---------------------------

interface TagSpec { kind: 'vlan' | 'ieee8021ad'; pcp: number; dei: number; vid: number; etype?: number; len?: number }
interface EthSpec { proto: 'eth'; o: EthOptions; type?: number; len?: number; tags: TagSpec[] }
interface ExtSpec { proto: 'ipv6.hopopts' | 'ipv6.dstopts' | 'ipv6.routing' | 'ipv6.fraghdr' | 'ah'; nxt?: number; body: Uint8Array; laterFragment: boolean }
type Spec =
  | EthSpec
  | { proto: 'arp'; o: ArpOptions }
  | { proto: 'ip'; o: Ipv4Options; laterFragment: boolean }
  | { proto: 'ipv6'; o: Ipv6Options; nxt?: number; ext: ExtSpec[] }
  | { proto: 'udp'; o: UdpOptions }
  | { proto: 'tcp'; o: TcpOptions }
  | { proto: 'icmp'; o: IcmpOptions; type: number; extra: Uint8Array }
  | { proto: 'icmpv6'; o: Icmpv6Options; type: number; extra: Uint8Array }
  | { proto: 'vxlan'; o: VxlanOptions }
  | { proto: 'geneve'; o: GeneveOptions };

/** The IP protocol number (next header) of each layer that can follow an IP header. */
const IPPROTO_OF: Partial<Record<Proto, number>> = {
  icmp: IPPROTO_ICMP, tcp: IPPROTO_TCP, udp: IPPROTO_UDP, icmpv6: IPPROTO_ICMPV6,
  ip: 4, ipv6: 41, // IPv4 / IPv6 in IP: no IPPROTO_ constant is exported for them yet
  'ipv6.hopopts': IPPROTO_HOPOPTS, 'ipv6.dstopts': IPPROTO_DSTOPTS, 'ipv6.routing': IPPROTO_ROUTING,
  'ipv6.fraghdr': IPPROTO_FRAGMENT, ah: IPPROTO_AH,
};
/** Upper layers the inference picks by protocol number (the dissector decodes no IP in IP). */
const UPPER_PROTOS: readonly Proto[] = ['icmp', 'tcp', 'udp', 'icmpv6'];
/** IPv6 extension headers in RFC 8200 §4.1 order (a Destination Options header may come twice). */
const EXT_ORDER: readonly Proto[] = ['ipv6.hopopts', 'ipv6.dstopts', 'ipv6.routing', 'ipv6.fraghdr', 'ah', 'ipv6.dstopts'];
const EXT_OR_UPPER: readonly Proto[] = [...EXT_ORDER, ...UPPER_PROTOS];

/** The layer among 'among' whose protocol number is 'n', or null. */
function protoOfNumber(n: number, among: readonly Proto[]): Proto | null {
  return among.find((p) => IPPROTO_OF[p] === n) ?? null;
}

// ---- Ethernet and VLAN ---------------------------------------------------------------

function ethSpec(F: Fields): EthSpec {
  const dst = F.take('eth.dst'), src = F.take('eth.src');
  const o: EthOptions = {};
  if (dst) o.dst = macOf(dst);
  if (src) o.src = macOf(src);
  const spec: EthSpec = { proto: 'eth', o, tags: [] };
  const len = F.uint('eth.len', 0x5ff);
  if (len !== undefined) spec.len = len;
  else {
    const t = F.uint('eth.type', 0xffff);
    if (t !== undefined) spec.type = t;
  }
  return spec;
}

function tagSpecs(F: Fields, kind: 'vlan' | 'ieee8021ad'): TagSpec[] {
  if (kind === 'vlan') {
    const pcp = F.uint('vlan.priority', 7) ?? 0, dei = F.uint('vlan.dei', 1) ?? 0, vid = F.uint('vlan.id', 0xfff) ?? 0;
    const tag: TagSpec = { kind, pcp, dei, vid };
    const len = F.uint('vlan.len', 0x5ff);
    if (len !== undefined) tag.len = len;
    else { const t = F.uint('vlan.etype', 0xffff); if (t !== undefined) tag.etype = t; }
    return [tag];
  }
  // an S-tag followed by another 0x88a8 tag is one layer with svid and cvid, as tshark shows it
  const double = F.left('ieee8021ad.svid') > 0;
  const tags: TagSpec[] = [];
  for (const idField of double ? ['ieee8021ad.svid', 'ieee8021ad.cvid'] : ['ieee8021ad.id']) {
    const pcp = F.uint('ieee8021ad.priority', 7) ?? 0, dei = F.uint('ieee8021ad.dei', 1) ?? 0;
    tags.push({ kind, pcp, dei, vid: F.uint(idField, 0xfff) ?? 0 });
  }
  const t = F.uint('ieee8021ah.etype', 0xffff);
  if (t !== undefined) tags[tags.length - 1]!.etype = t;
  return tags;
}

/** The EtherType (or length) after the last tag of 'e', when given. */
function innerEtherType(e: EthSpec): { type?: number; len?: number } {
  const last = e.tags[e.tags.length - 1];
  if (!last) return { type: e.type, len: e.len };
  return { type: last.etype, len: last.len };
}

// ---- ARP -------------------------------------------------------------------

function arpSpec(F: Fields): Spec {
  const o: ArpOptions = {};
  const hw = F.uint('arp.hw.type', 0xffff), pro = F.uint('arp.proto.type', 0xffff);
  const hln = F.uint('arp.hw.size', 255), pln = F.uint('arp.proto.size', 255), op = F.uint('arp.opcode', 0xffff);
  if (hw !== undefined) o.hwType = hw;
  if (pro !== undefined) o.protoType = pro;
  if (hln !== undefined) o.hwSize = hln;
  if (pln !== undefined) o.protoSize = pln;
  if (op !== undefined) o.op = op;
  const hwAddr = (mac: string, raw: string): Uint8Array | undefined => {
    const m = F.take(mac);
    if (m) return macOf(m);
    return F.bytes(raw);
  };
  // an IPv4 address as its number (4 bytes), any other as its bytes
  const protoAddr = (v4: string, raw: string): number | Uint8Array | undefined => {
    const a = F.take(v4);
    if (a) return ipv4Of(a);
    return F.bytes(raw);
  };
  const sha = hwAddr('arp.src.hw_mac', 'arp.src.hw'), spa = protoAddr('arp.src.proto_ipv4', 'arp.src.proto');
  const tha = hwAddr('arp.dst.hw_mac', 'arp.dst.hw'), tpa = protoAddr('arp.dst.proto_ipv4', 'arp.dst.proto');
  const size = (a: number | Uint8Array | undefined): number | undefined => (typeof a === 'number' ? 4 : a?.length);
  // sizes the header does not give follow the addresses
  o.hwSize ??= sha?.length ?? tha?.length ?? 6;
  o.protoSize ??= size(spa) ?? size(tpa) ?? 4;
  if (sha) o.sha = sha;
  if (spa) o.spa = spa;
  if (tha) o.tha = tha;
  if (tpa) o.tpa = tpa;
  return { proto: 'arp', o };
}

// ---- IPv4 and its options ------------------------------------------------------

function ipv4Spec(F: Fields): Spec & { proto: 'ip' } {
  const o: Ipv4Options = {};
  const ver = F.take('ip.version');
  if (ver && uintOf(ver, 15) !== 4) throw bad(ver.where, 'an IPv4 header has version 4');
  const hdrLen = F.uint('ip.hdr_len', 60);
  const ds = F.uint('ip.dsfield', 255);
  const dscp = F.uint('ip.dsfield.dscp', 63), ecn = F.uint('ip.dsfield.ecn', 3);
  o.dscp = dscp ?? (ds !== undefined ? ds >>> 2 : 0);
  o.ecn = ecn ?? (ds !== undefined ? ds & 3 : 0);
  const len = F.uint('ip.len', 0xffff), id = F.uint('ip.id', 0xffff);
  if (len !== undefined) o.totalLength = len;
  if (id !== undefined) o.ident = id;
  let flags = F.uint('ip.flags', 7) ?? 0;
  flags = withBit(flags, 4, F.bool('ip.flags.rb'));
  flags = withBit(flags, 2, F.bool('ip.flags.df'));
  flags = withBit(flags, 1, F.bool('ip.flags.mf'));
  o.reservedFlag = (flags & 4) !== 0;
  o.df = (flags & 2) !== 0;
  o.mf = (flags & 1) !== 0;
  const frag = F.uint('ip.frag_offset', 0x1fff) ?? 0;
  o.fragOffset = frag * 8;
  const ttl = F.uint('ip.ttl', 255), proto = F.uint('ip.proto', 255), sum = F.uint('ip.checksum', 0xffff);
  if (ttl !== undefined) o.ttl = ttl;
  if (proto !== undefined) o.protocol = proto;
  if (sum !== undefined) o.checksum = sum;
  const src = F.ipv4('ip.src');
  if (src !== undefined) o.src = src;
  const opts = ipv4Options(F, hdrLen === undefined ? 40 : hdrLen - 20);
  o.options = opts;
  if (hdrLen !== undefined) {
    if ((hdrLen & 3) !== 0 || hdrLen < 20 || hdrLen - 20 < opts.length) throw bad(`${F.path}.ip.hdr_len`, `${hdrLen} cannot hold 20 bytes plus ${opts.length} bytes of options`);
    o.hdrLen = hdrLen;
  }
  // with a source route, tshark shows the header's destination as ip.cur_rt and the final one (in the option) as ip.dst
  const dst = ipv4FinalDstAt(opts) >= 0 ? F.ipv4('ip.cur_rt') : F.ipv4('ip.dst');
  if (dst !== undefined) o.dst = dst;
  return { proto: 'ip', o, laterFragment: frag !== 0 };
}

/**
 * The option bytes of one IPv4 header, at most 'room' bytes, from the
 * option type list (ip.opt.type) and each option's fields in the order
 * dissect/ipv4.ts prints them; an option's `ip.options.<name>` bytes, when
 * given, are written instead of what its fields build. An EOL ends the list.
 */
function ipv4Options(F: Fields, room: number): Uint8Array {
  const parts: Uint8Array[] = [];
  let used = 0;
  while (used < room && F.left('ip.opt.type') > 0) {
    const tv = F.take('ip.opt.type')!;
    const t = uintOf(tv, 255);
    const name = IPV4_OPT_NAMES.get(t);
    if (name === undefined) throw bad(tv.where, `tshark shows no IPv4 option of type ${t}; give the options another way`);
    const blobV = F.take('ip.options.' + name);
    const blob = blobV && bytesOf(blobV);
    let bytes: Uint8Array;
    if (t === IPOPT_EOL || t === IPOPT_NOP) bytes = Uint8Array.of(t);
    else {
      const built = ipv4OptionFromFields(F, t, blob);
      if (blob && (blob.length < 2 || blob[0] !== t || blob[1] !== blob.length)) throw bad(blobV!.where, `not a type ${t} option of its own length`);
      bytes = blob ?? built;
    }
    parts.push(bytes);
    used += bytes.length;
    if (t === IPOPT_EOL) break;
  }
  if (used > 40) throw bad(`${F.path}.ip.opt.type`, `${used} bytes of options do not fit an IPv4 header`);
  return concat(parts);
}

/**
 * Take the fields one option of type 't' printed (ip.opt.len, pointer,
 * addresses, timestamps …) and build its bytes; 'blob' (its bytes field),
 * when given, supplies the length and pointer the fields leave out. The
 * option is its length 'n' long: values are written at their offsets and a
 * value past 'n' is cut (a typed array ignores writes past its end).
 */
function ipv4OptionFromFields(F: Fields, t: number, blob: Uint8Array | undefined): Uint8Array {
  const lenGiven = F.uint('ip.opt.len', 255);
  const ptrOf = (): number | undefined => F.uint('ip.opt.ptr', 255) ?? (blob ? blob[2] : undefined);
  const option = (n: number): Uint8Array => {
    const b = new Uint8Array(n);
    b[0] = t;
    b[1] = n;
    return b;
  };
  switch (t) {
    case IPOPT_RR: case IPOPT_LSRR: case IPOPT_SSRR: {
      const source = t !== IPOPT_RR;
      const ptr = ptrOf() ?? 4;
      const n = lenGiven ?? blob?.length ?? 3 + 4 * (F.left('ip.rec_rt') + (source ? F.left('ip.src_rt') + 1 : F.left('ip.empty_rt')));
      const b = option(n);
      b[2] = ptr;
      if (ptr >= 4 && (ptr & 3) === 0) {
        // the dissector's route(): each slot is recorded, empty, still to visit, or the final destination
        for (let slot = 3; n - slot >= 4; slot += 4) {
          let field: string;
          if (ptr > n || slot + 1 < ptr) field = source && ptr <= n && slot === n - 4 ? 'ip.dst' : 'ip.rec_rt';
          else if (source && slot === n - 4) field = 'ip.dst';
          else field = source ? 'ip.src_rt' : 'ip.empty_rt';
          setBe32(b, slot, F.ipv4(field) ?? 0);
        }
      }
      return b;
    }
    case IPOPT_TS: {
      const ptr = ptrOf();
      const of = F.uint('ip.opt.overflow', 15) ?? (blob ? blob[3]! >>> 4 : 0);
      const fl = F.uint('ip.opt.flag', 15) ?? (blob ? blob[3]! & 15 : 0);
      const withAddr = fl === 1 || fl === 3;
      const step = withAddr ? 8 : 4;
      const n = lenGiven ?? blob?.length ?? 4 + step * F.left('ip.opt.time_stamp');
      const b = option(n);
      b[2] = ptr ?? Math.min(n + 1, 255);
      b[3] = (of << 4) | fl;
      for (let q = 4; n - q >= step; q += step) {
        if (withAddr) setBe32(b, q, F.ipv4('ip.opt.time_stamp_addr') ?? 0);
        setBe32(b, q + step - 4, F.uint('ip.opt.time_stamp', 0xffffffff) ?? 0);
      }
      return b;
    }
    case IPOPT_RA: case IPOPT_SID: case IPOPT_MTU_PROBE: case IPOPT_MTU_REPLY: {
      const b = option(lenGiven ?? 4);
      const field = t === IPOPT_RA ? 'ip.opt.ra' : t === IPOPT_SID ? 'ip.opt.sid' : 'ip.opt.mtu';
      setBe16(b, 2, F.uint(field, 0xffff) ?? 0);
      return b;
    }
    case IPOPT_TR: {
      const b = option(lenGiven ?? 12);
      setBe16(b, 2, F.uint('ip.opt.id_number', 0xffff) ?? 0);
      setBe16(b, 4, F.uint('ip.opt.ohc', 0xffff) ?? 0);
      setBe16(b, 6, F.uint('ip.opt.rhc', 0xffff) ?? 0);
      setBe32(b, 8, F.ipv4('ip.opt.originator') ?? 0);
      return b;
    }
    case IPOPT_SDB: {
      const b = option(lenGiven ?? blob?.length ?? 2 + 4 * F.left('ip.opt.addr'));
      let q = 2;
      for (; q + 4 <= b.length; q += 4) setBe32(b, q, F.ipv4('ip.opt.addr') ?? 0);
      if (q < b.length) { const pad = F.bytes('ip.opt.padding'); if (pad) put(b, pad, q); }
      return b;
    }
    default:
      // security, CIPSO, Quick-Start …: only the bytes field carries the data
      return option(lenGiven ?? blob?.length ?? 2);
  }
}

// ---- IPv6 and extension headers ------------------------------------------------

function ipv6Spec(F: Fields): Spec & { proto: 'ipv6' } {
  const o: Ipv6Options = {};
  const ver = F.take('ipv6.version');
  if (ver && uintOf(ver, 15) !== 6) throw bad(ver.where, 'an IPv6 header has version 6');
  const tc = F.uint('ipv6.tclass', 255) ?? 0;
  const dscp = F.uint('ipv6.tclass.dscp', 63), ecn = F.uint('ipv6.tclass.ecn', 3);
  o.trafficClass = ((dscp ?? tc >>> 2) << 2) | (ecn ?? tc & 3);
  const flow = F.uint('ipv6.flow', 0xfffff), plen = F.uint('ipv6.plen', 0xffff), nxt = F.uint('ipv6.nxt', 255), hlim = F.uint('ipv6.hlim', 255);
  if (flow !== undefined) o.flowLabel = flow;
  if (plen !== undefined) o.payloadLength = plen;
  if (hlim !== undefined) o.hopLimit = hlim;
  const src = F.ipv6('ipv6.src'), dst = F.ipv6('ipv6.dst');
  if (src) o.src = src;
  if (dst) o.dst = dst;
  const spec: Spec & { proto: 'ipv6' } = { proto: 'ipv6', o, ext: [] };
  if (nxt !== undefined) spec.nxt = nxt;
  return spec;
}

function optionsHeader(F: Fields, proto: 'ipv6.hopopts' | 'ipv6.dstopts'): ExtSpec {
  const nxt = F.uint(proto + '.nxt', 255);
  const lenUnits = F.uint(proto + '.len', 255);
  const room = lenUnits === undefined ? Infinity : (lenUnits + 1) * 8 - 2;
  const body: number[] = [0]; // the length byte is written below
  while (body.length - 1 < room && F.left('ipv6.opt.type') > 0) {
    const t = F.uint('ipv6.opt.type', 255)!;
    if (t === 0) { body.push(0); continue; }
    const nGiven = F.uint('ipv6.opt.length', 255);
    let data: Uint8Array | undefined;
    if (t === 1) data = F.bytes('ipv6.opt.padn');
    else if (t === 5 && (nGiven === undefined || nGiven === 2)) data = uintField(F, 'ipv6.opt.router_alert', 2);
    else if (t === 0xc2 && (nGiven === undefined || nGiven === 4)) data = uintField(F, 'ipv6.opt.jumbo', 4);
    else if (t === 4 && (nGiven === undefined || nGiven === 1)) data = uintField(F, 'ipv6.opt.tel', 1);
    else if ((t & 31) === 0x1e) data = F.bytes('ipv6.opt.experimental');
    else if (!IPV6_WIRESHARK_OPTS.has(t)) data = F.bytes('ipv6.opt.unknown');
    const n = nGiven ?? data?.length ?? 0;
    body.push(t, n, ...sized(data ?? EMPTY, n));
  }
  // pad to a multiple of 8 (or to the given length) with Pad1/PadN
  const total = lenUnits === undefined ? (body.length + 1 + 7) & ~7 : (lenUnits + 1) * 8;
  const gap = total - 1 - body.length;
  if (gap < 0) throw bad(`${F.path}.${proto}.len`, `the options take ${body.length + 1} bytes, more than ${total}`);
  if (gap === 1) body.push(0);
  else if (gap > 1) body.push(1, gap - 2, ...new Array<number>(gap - 2).fill(0));
  body[0] = total / 8 - 1;
  const spec: ExtSpec = { proto, body: Uint8Array.from(body), laterFragment: false };
  if (nxt !== undefined) spec.nxt = nxt;
  return spec;
}

/** A big-endian number field of 'n' (1, 2 or 4) bytes as its bytes, or undefined when absent. */
function uintField(F: Fields, name: string, n: 1 | 2 | 4): Uint8Array | undefined {
  const v = F.uint(name, n === 4 ? 0xffffffff : n === 2 ? 0xffff : 0xff);
  if (v === undefined) return undefined;
  const b = new Uint8Array(n);
  if (n === 4) setBe32(b, 0, v);
  else if (n === 2) setBe16(b, 0, v);
  else b[0] = v;
  return b;
}

function routingHeader(F: Fields): ExtSpec {
  const nxt = F.uint('ipv6.routing.nxt', 255), lenUnits = F.uint('ipv6.routing.len', 255);
  const type = F.uint('ipv6.routing.type', 255) ?? 0, segleft = F.uint('ipv6.routing.segleft', 255) ?? 0;
  const body: number[] = [0, type, segleft];
  const hlen = lenUnits === undefined ? undefined : (lenUnits + 1) * 8;
  const addrs = (name: string, max: number): void => {
    for (let i = 0; i < max && F.left(name) > 0; i++) body.push(...F.ipv6(name)!);
  };
  if (type === 0) {
    const r = F.take('ipv6.routing.src.reserved');
    body.push(...(r ? bytesN(r, 4) : [0, 0, 0, 0]));
    addrs('ipv6.routing.src.addr', hlen === undefined ? Infinity : (hlen - 8) >>> 4);
  } else if (type === 2 && (hlen === undefined || hlen >= 24)) {
    const r = F.take('ipv6.routing.mipv6.reserved');
    body.push(...(r ? bytesN(r, 4) : [0, 0, 0, 0]));
    body.push(...(F.ipv6('ipv6.routing.mipv6.home_address') ?? new Uint8Array(16)));
  } else if (type === 4) {
    const last = F.uint('ipv6.routing.srh.last_entry', 255);
    const fl = F.uint('ipv6.routing.srh.flags', 255) ?? 0;
    const tag = F.take('ipv6.routing.srh.tag');
    const room = hlen === undefined ? Infinity : (hlen - 8) >>> 4;
    const n = Math.min(last === undefined ? F.left('ipv6.routing.srh.addr') : last + 1, room);
    body.push(last ?? Math.max(n - 1, 0), fl, ...(tag ? bytesN(tag, 2) : [0, 0]));
    addrs('ipv6.routing.srh.addr', n);
  } else {
    body.push(0, 0, 0, 0);
  }
  const total = hlen ?? (body.length + 1 + 7) & ~7;
  if (body.length + 1 > total) throw bad(`${F.path}.ipv6.routing.len`, `the routing header takes ${body.length + 1} bytes, more than ${total}`);
  const out = sized(Uint8Array.from(body), total - 1);
  out[0] = total / 8 - 1;
  const spec: ExtSpec = { proto: 'ipv6.routing', body: out, laterFragment: false };
  if (nxt !== undefined) spec.nxt = nxt;
  return spec;
}

function fragmentHeader(F: Fields): ExtSpec {
  const nxt = F.uint('ipv6.fraghdr.nxt', 255);
  const res = F.uint('ipv6.fraghdr.reserved_octet', 255) ?? 0;
  const off = F.uint('ipv6.fraghdr.offset', 0x1fff) ?? 0;
  const rb = F.uint('ipv6.fraghdr.reserved_bits', 3) ?? 0;
  const more = F.bool('ipv6.fraghdr.more') ?? false;
  const ident = F.uint('ipv6.fraghdr.ident', 0xffffffff) ?? 0;
  // the header after its next-header byte: reserved octet, offset/res/M word, identification
  const body = new Uint8Array(7);
  body[0] = res;
  setBe16(body, 1, (off << 3) | (rb << 1) | (more ? 1 : 0));
  setBe32(body, 3, ident);
  const spec: ExtSpec = { proto: 'ipv6.fraghdr', body, laterFragment: off !== 0 };
  if (nxt !== undefined) spec.nxt = nxt;
  return spec;
}

function ahHeader(F: Fields): ExtSpec {
  const nxt = F.uint('ah.next_header', 255), len = F.uint('ah.length', 255);
  const r = F.take('ah.reserved');
  const spi = F.uint('ah.spi', 0xffffffff) ?? 0, seq = F.uint('ah.sequence', 0xffffffff) ?? 0;
  const icv = F.bytes('ah.icv') ?? new Uint8Array(0);
  const total = len === undefined ? 12 + icv.length : (len + 2) * 4;
  // the header after its next-header byte, cut or zero-filled to its length: length, reserved, SPI, sequence, ICV
  const body = new Uint8Array(total - 1);
  body[0] = total / 4 - 2;
  if (r) body.set(bytesN(r, 2), 1);
  setBe32(body, 3, spi);
  setBe32(body, 7, seq);
  put(body, icv, 11);
  const spec: ExtSpec = { proto: 'ah', body, laterFragment: false };
  if (nxt !== undefined) spec.nxt = nxt;
  return spec;
}

// ---- ICMP and ICMPv6 -------------------------------------------------------

function icmpSpec(F: Fields): Spec & { proto: 'icmp' } {
  const type = F.uint('icmp.type', 255) ?? ICMP_ECHO_REQUEST;
  const o: IcmpOptions = { type, code: F.uint('icmp.code', 255) ?? 0 };
  const sum = F.uint('icmp.checksum', 0xffff);
  if (sum !== undefined) o.checksum = sum;
  // bytes 4-7 of the header, and what follows it (timestamps, a mask)
  const rest = new Uint8Array(4);
  const extra = new Uint8Array(12);
  let extraLen = 0;
  const append = (v: number | undefined): void => { if (v !== undefined) { setBe32(extra, extraLen, v); extraLen += 4; } };
  if (icmpHasIdentSeq(type)) {
    setBe16(rest, 0, F.uint('icmp.ident', 0xffff) ?? 0);
    setBe16(rest, 2, F.uint('icmp.seq', 0xffff) ?? 0);
    if (type === ICMP_TIMESTAMP || type === ICMP_TIMESTAMP_REPLY) {
      for (const n of ['icmp.originate_timestamp', 'icmp.receive_timestamp', 'icmp.transmit_timestamp']) append(F.uint(n, 0xffffffff));
    }
    if (type === ICMP_ADDR_MASK_REQUEST || type === ICMP_ADDR_MASK_REPLY) append(F.ipv4('icmp.address_mask'));
  } else if (type === ICMP_DEST_UNREACH || type === ICMP_TIME_EXCEEDED || type === ICMP_PARAM_PROBLEM) {
    // offsets below are into 'rest': header byte 4 is rest[0]
    let from = 0;
    if (type === ICMP_PARAM_PROBLEM) { rest[0] = F.uint('icmp.pointer', 255) ?? 0; from = 1; }
    const mtu = type === ICMP_DEST_UNREACH && o.code === ICMP_FRAG_NEEDED;
    // the dissector's addRfc4884(): an RFC 4884 length in byte 5 splits icmp.unused in two
    const words = F.uint('icmp.length', 255);
    if (words !== undefined && words !== 0) {
      if (from === 0) { const u = F.take('icmp.unused'); if (u) put(rest, bytesN(u, 1), 0); }
      rest[1] = words;
      if (!mtu) { const u = F.take('icmp.unused'); if (u) put(rest, bytesN(u, 2), 2); }
    } else {
      const u = F.take('icmp.unused');
      if (u) put(rest, bytesN(u, (mtu ? 2 : 4) - from), from);
    }
    if (mtu) setBe16(rest, 2, F.uint('icmp.mtu', 0xffff) ?? 0);
  } else if (type === ICMP_REDIRECT) {
    setBe32(rest, 0, F.ipv4('icmp.redir_gw') ?? 0);
  }
  o.rest = be32(rest, 0);
  return { proto: 'icmp', o, type, extra: extra.slice(0, extraLen) };
}

function icmpv6Spec(F: Fields): Spec & { proto: 'icmpv6' } {
  const type = F.uint('icmpv6.type', 255) ?? 128;
  const code = F.uint('icmpv6.code', 255) ?? 0;
  const checksum = F.uint('icmpv6.checksum', 0xffff) ?? -1;
  const reserved = (n: number): Uint8Array => { const r = F.take('icmpv6.reserved'); return r ? bytesN(r, n) : new Uint8Array(n); };
  const addr = (name: string): Uint8Array => F.ipv6(name) ?? new Uint8Array(16);
  let extra: Uint8Array = new Uint8Array(0);
  let o: Icmpv6Options;
  switch (type) {
    case 1: case 3: {
      // an RFC 4884 length takes the first of the four bytes
      const len = F.uint('icmpv6.length', 255);
      const rest = len !== undefined && len !== 0 ? ((len << 24) | be24(reserved(3), 0)) >>> 0 : be32(reserved(4), 0);
      o = { type, code, checksum, rest };
      break;
    }
    case 2: o = { kind: 'packetTooBig', code, checksum, mtu: F.uint('icmpv6.mtu', 0xffffffff) ?? 0 }; break;
    case 4: o = { kind: 'paramProblem', code, checksum, pointer: F.uint('icmpv6.pointer', 0xffffffff) ?? 0 }; break;
    case 128: case 129:
      o = { type, code, checksum, ident: F.uint('icmpv6.echo.identifier', 0xffff) ?? 0, seq: F.uint('icmpv6.echo.sequence_number', 0xffff) ?? 0 };
      break;
    case 130: case 131: case 132: {
      const delay = F.uint('icmpv6.mld.maximum_response_delay', 0xffff);
      if (delay === undefined && F.left('icmpv6.mld.multicast_address') === 0) { o = { type, code, checksum, rest: 0 }; break; }
      o = { type, code, checksum, rest: (((delay ?? 0) << 16) | be16(reserved(2), 0)) >>> 0 };
      extra = addr('icmpv6.mld.multicast_address');
      break;
    }
    case 133: o = { kind: 'routerSolicit', code, checksum, reserved: be32(reserved(4), 0), options: ndOptions(F) }; break;
    case 134: {
      const hop = F.uint('icmpv6.nd.ra.cur_hop_limit', 255) ?? 0;
      let f = F.uint('icmpv6.nd.ra.flag', 255) ?? 0;
      f = withBit(f, 0x80, F.bool('icmpv6.nd.ra.flag.m'));
      f = withBit(f, 0x40, F.bool('icmpv6.nd.ra.flag.o'));
      f = withBit(f, 0x20, F.bool('icmpv6.nd.ra.flag.h'));
      const prf = F.uint('icmpv6.nd.ra.flag.prf', 3);
      if (prf !== undefined) f = (f & ~0x18) | (prf << 3);
      f = withBit(f, 0x04, F.bool('icmpv6.nd.ra.flag.p'));
      const rsv = F.uint('icmpv6.nd.ra.flag.rsv', 3);
      if (rsv !== undefined) f = (f & ~3) | rsv;
      o = {
        kind: 'routerAdvert', code, checksum, curHopLimit: hop, flags: f,
        routerLifetime: F.uint('icmpv6.nd.ra.router_lifetime', 0xffff) ?? 0,
        reachableTime: F.uint('icmpv6.nd.ra.reachable_time', 0xffffffff) ?? 0,
        retransTimer: F.uint('icmpv6.nd.ra.retrans_timer', 0xffffffff) ?? 0,
        options: ndOptions(F),
      };
      break;
    }
    case 135: {
      const r = be32(reserved(4), 0);
      o = { kind: 'neighborSolicit', code, checksum, reserved: r, target: addr('icmpv6.nd.ns.target_address'), options: ndOptions(F) };
      break;
    }
    case 136: {
      let w = F.uint('icmpv6.nd.na.flag', 0xffffffff) ?? 0;
      w = withBit(w, 0x80000000, F.bool('icmpv6.nd.na.flag.r'));
      w = withBit(w, 0x40000000, F.bool('icmpv6.nd.na.flag.s'));
      w = withBit(w, 0x20000000, F.bool('icmpv6.nd.na.flag.o'));
      const rsv = F.uint('icmpv6.nd.na.flag.rsv', 0x1fffffff);
      if (rsv !== undefined) w = (w & 0xe0000000) | rsv;
      w >>>= 0;
      o = {
        kind: 'neighborAdvert', code, checksum, router: (w & 0x80000000) !== 0, solicited: (w & 0x40000000) !== 0,
        override: (w & 0x20000000) !== 0, reserved: w & 0x1fffffff, target: addr('icmpv6.nd.na.target_address'), options: ndOptions(F),
      };
      break;
    }
    case 137: {
      const r = be32(reserved(4), 0);
      const target = addr('icmpv6.nd.rd.target_address'), destination = addr('icmpv6.rd.na.destination_address');
      o = { kind: 'redirect', code, checksum, reserved: r, target, destination, options: ndOptions(F) };
      break;
    }
    default: {
      // a type tshark has no dissector for: icmpv6.data is everything after the first four bytes
      const data = F.bytes('icmpv6.data') ?? new Uint8Array(0);
      const head = new Uint8Array(4);
      head.set(data.subarray(0, 4));
      o = { type, code, checksum, rest: be32(head, 0) };
      extra = data.subarray(4);
    }
  }
  return { proto: 'icmpv6', o, type, extra };
}

/** ND options from icmpv6.opt.type and each option's fields (every remaining one: ND messages end the frame). */
function ndOptions(F: Fields): NdpOption[] {
  const out: NdpOption[] = [];
  while (F.left('icmpv6.opt.type') > 0) {
    const t = F.uint('icmpv6.opt.type', 255)!;
    const units = F.uint('icmpv6.opt.length', 255);
    const room = units === undefined ? undefined : Math.max(units * 8 - 2, 0);
    const fit = (b: Uint8Array): Uint8Array => (room === undefined ? b : sized(b, room));
    if (t === 1 || t === 2) {
      const a = F.take('icmpv6.opt.linkaddr');
      const alias = F.take(t === 1 ? 'icmpv6.opt.src_linkaddr' : 'icmpv6.opt.target_linkaddr');
      const v = a ?? alias;
      const addr = v ? (typeof v.v === 'string' && parseMac(v.v) ? macOf(v) : bytesOf(v)) : new Uint8Array(6);
      out.push({ kind: t === 1 ? 'sourceLinkAddr' : 'targetLinkAddr', addr: fit(addr) });
    } else if (t === 3) {
      let f = F.uint('icmpv6.opt.prefix.flag', 255) ?? 0;
      f = withBit(f, 0x80, F.bool('icmpv6.opt.prefix.flag.l'));
      f = withBit(f, 0x40, F.bool('icmpv6.opt.prefix.flag.a'));
      f = withBit(f, 0x20, F.bool('icmpv6.opt.prefix.flag.r'));
      const rsv = F.uint('icmpv6.opt.prefix.flag.reserved', 31);
      if (rsv !== undefined) f = (f & ~31) | rsv;
      const prefixLen = F.uint('icmpv6.opt.prefix.length', 255) ?? 0;
      out.push({
        kind: 'prefixInfo', prefixLen, flags: f,
        validLifetime: F.uint('icmpv6.opt.prefix.valid_lifetime', 0xffffffff) ?? 0,
        preferredLifetime: F.uint('icmpv6.opt.prefix.preferred_lifetime', 0xffffffff) ?? 0,
        reserved: 0, prefix: F.ipv6('icmpv6.opt.prefix') ?? new Uint8Array(16),
      });
    } else if (t === 5) {
      out.push({ kind: 'mtu', reserved: 0, mtu: F.uint('icmpv6.opt.mtu', 0xffffffff) ?? 0 });
    } else {
      // types tshark decodes itself print no data here: zeros of the given length
      const known = wiresharkKnowsOption(t);
      const data = known ? new Uint8Array(room ?? 6) : F.bytes('icmpv6.data') ?? new Uint8Array(room ?? 6);
      out.push({ kind: 'unknown', type: t, data: fit(data) });
    }
  }
  return out;
}

// ---- UDP, TCP ---------------------------------------------------------------

function udpSpec(F: Fields): Spec {
  const o: UdpOptions = {};
  const s = F.uint('udp.srcport', 0xffff), d = F.uint('udp.dstport', 0xffff), l = F.uint('udp.length', 0xffff), c = F.uint('udp.checksum', 0xffff);
  if (s !== undefined) o.srcPort = s;
  if (d !== undefined) o.dstPort = d;
  if (l !== undefined) o.length = l;
  if (c !== undefined) o.checksum = c;
  return { proto: 'udp', o };
}

const TCP_FLAG_FIELDS: readonly [string, number][] = [
  ['tcp.flags.res', 0xe00], ['tcp.flags.ae', 0x100], ['tcp.flags.cwr', 0x80], ['tcp.flags.ece', 0x40], ['tcp.flags.urg', 0x20],
  ['tcp.flags.ack', 0x10], ['tcp.flags.push', 0x08], ['tcp.flags.reset', 0x04], ['tcp.flags.syn', 0x02], ['tcp.flags.fin', 0x01],
];

function tcpSpec(F: Fields, quoted: boolean): Spec {
  const o: TcpOptions = {};
  if (quoted) {
    // a quoted segment is the last layer; the fields present tell how much of it the quote holds (dissect/tcp.ts)
    const cut = F.left('tcp.urgent_pointer') > 0 ? -1 : F.left('tcp.checksum') > 0 ? 18
      : F.left('tcp.ack') + F.left('tcp.hdr_len') + F.left('tcp.flags') + F.left('tcp.window_size_value') > 0 ? 16
        : F.left('tcp.seq') > 0 ? 8 : 4;
    if (cut >= 0) o.truncate = cut;
    else if (F.left('tcp.option_kind') === 0 && F.left('tcp.options') === 0) o.truncate = 20;
  }
  const s = F.uint('tcp.srcport', 0xffff), d = F.uint('tcp.dstport', 0xffff);
  const seq = F.uint('tcp.seq', 0xffffffff), ack = F.uint('tcp.ack', 0xffffffff);
  const hl = F.uint('tcp.hdr_len', 60);
  // tcp.flags is the base; without it the bits given start from zero (and with none at all, a SYN, as scapy)
  const fv = F.take('tcp.flags');
  let flags = fv ? uintOf(fv, 0xfff) : TCP_FLAG_FIELDS.some(([n]) => F.left(n) > 0) ? 0 : 0x002;
  for (const [name, bit] of TCP_FLAG_FIELDS) {
    const x = F.take(name);
    if (!x) continue;
    // tcp.flags.res says only whether any of the three reserved bits is set: keep them when it agrees, else set or clear all three
    if (bit === 0xe00) flags = boolOf(x) === ((flags & 0xe00) !== 0) ? flags : withBit(flags, 0xe00, boolOf(x));
    else flags = withBit(flags, bit, boolOf(x));
  }
  const win = F.uint('tcp.window_size_value', 0xffff), sum = F.uint('tcp.checksum', 0xffff), urg = F.uint('tcp.urgent_pointer', 0xffff);
  if (s !== undefined) o.srcPort = s;
  if (d !== undefined) o.dstPort = d;
  if (seq !== undefined) o.seq = seq;
  if (ack !== undefined) o.ack = ack;
  o.flags = flags;
  if (win !== undefined) o.window = win;
  if (sum !== undefined) o.checksum = sum;
  if (urg !== undefined) o.urgent = urg;
  if (hl !== undefined) {
    if ((hl & 3) !== 0 || hl < 20) throw bad(`${F.path}.tcp.hdr_len`, `${hl} is not a TCP header length`);
    o.dataOffset = hl >>> 2;
  }
  // the whole options area as bytes wins (it keeps what no option field shows; the values are only consumed); else the options as values
  const whole = F.bytes('tcp.options');
  const options = tcpOptions(F, hl === undefined ? 40 : hl - 20, whole === undefined);
  if (whole) o.optionBytes = whole;
  else if (options.length > 0) o.options = options;
  return { proto: 'tcp', o };
}

/**
 * The options of one TCP header from tcp.option_kind and each option's
 * fields, in the order dissect/tcp.ts prints them, up to 'room' bytes; an
 * EOL is one zero byte (tshark prints one per zero byte of padding).
 * 'strict' (the options will be written) rejects lengths as `tcpOption` says.
 */
function tcpOptions(F: Fields, room: number, strict: boolean): TcpOption[] {
  const out: TcpOption[] = [];
  let used = 0;
  while (used < room && F.left('tcp.option_kind') > 0) {
    const kind = F.uint('tcp.option_kind', 255)!;
    let opt: TcpOption;
    if (kind === TCP_OPT_EOL) { F.take('tcp.options.eol'); opt = { kind: 'eol' }; }
    else if (kind === TCP_OPT_NOP) { F.take('tcp.options.nop'); opt = { kind: 'nop' }; }
    else opt = tcpOption(F, kind, strict);
    out.push(opt);
    used += tcpOptionLen(opt);
  }
  return out;
}

/** The bytes field dissect/tcp.ts prints for each option kind it decodes. */
const TCP_OPTION_BYTES: ReadonlyMap<number, string> = new Map([
  [TCP_OPT_MSS, 'tcp.options.mss'], [TCP_OPT_WSCALE, 'tcp.options.wscale'], [TCP_OPT_SACK_PERM, 'tcp.options.sack_perm'],
  [TCP_OPT_SACK, 'tcp.options.sack'], [TCP_OPT_TIMESTAMP, 'tcp.options.timestamp'],
]);

/**
 * One option of 'kind' (not EOL/NOP) from tcp.option_len and its fields.
 * Its bytes field (tcp.options.mss …), when given, is written instead of
 * what the values build. When 'strict', a length the dissector would reject
 * for the kind (an MSS option of 6 bytes) is ENCODE_BAD_VALUE (give the
 * whole tcp.options to write such a header), and so is a bytes field that
 * is not one option of that kind and length.
 */
function tcpOption(F: Fields, kind: number, strict: boolean): TcpOption {
  const lenV = F.take('tcp.option_len');
  const n = lenV && uintOf(lenV, 255);
  if (strict && lenV && (n! < 2 || !tcpOptionLenOk(kind, n!))) {
    throw bad(lenV.where, `a kind ${kind} TCP option cannot be ${n!} bytes long (give the whole tcp.options to write one)`);
  }
  const own = TCP_WIRESHARK_KINDS.has(kind);
  const blobV = own ? undefined : F.take(TCP_OPTION_BYTES.get(kind) ?? 'tcp.options.unknown');
  const blob = blobV && bytesOf(blobV);
  if (strict && blob && (blob.length < 2 || blob[0] !== kind || blob[1] !== blob.length || (n ?? blob.length) !== blob.length)) {
    throw bad(blobV!.where, `not one kind ${kind} option of its own length`);
  }
  let opt: TcpOption;
  switch (kind) {
    case TCP_OPT_MSS: opt = { kind: 'mss', value: F.uint('tcp.options.mss_val', 0xffff) ?? 0 }; break;
    case TCP_OPT_WSCALE: opt = { kind: 'wscale', shift: F.uint('tcp.options.wscale.shift', 255) ?? 0 }; break;
    case TCP_OPT_SACK_PERM: opt = { kind: 'sackPerm' }; break;
    case TCP_OPT_SACK: {
      const blocks: [number, number][] = [];
      const count = Math.max((n ?? blob?.length ?? 2 + 8 * F.left('tcp.options.sack_le')) - 2, 0) >>> 3;
      for (let j = 0; j < count; j++) blocks.push([F.uint('tcp.options.sack_le', 0xffffffff) ?? 0, F.uint('tcp.options.sack_re', 0xffffffff) ?? 0]);
      opt = { kind: 'sack', blocks };
      break;
    }
    case TCP_OPT_TIMESTAMP:
      opt = { kind: 'timestamp', tsval: F.uint('tcp.options.timestamp.tsval', 0xffffffff) ?? 0, tsecr: F.uint('tcp.options.timestamp.tsecr', 0xffffffff) ?? 0 };
      break;
    default: {
      // a kind tshark decodes itself prints no data (zeros of its length); any other its payload
      const pay = own ? EMPTY : F.bytes('tcp.options.unknown.payload') ?? EMPTY;
      opt = { kind: 'unknown', type: kind, data: n === undefined ? pay : sized(pay, Math.max(n - 2, 0)) };
    }
  }
  // the bytes field wins, as given (TcpRepr writes the kind, the length and this data)
  return blob && blob.length >= 2 ? { kind: 'unknown', type: kind, data: blob.slice(2) } : opt;
}

// ---- VXLAN, Geneve ---------------------------------------------------------------

function vxlanSpec(F: Fields): Spec {
  let flags = F.uint('vxlan.flags', 0xffff) ?? 0x0800;
  flags = withBit(flags, 0x8000, F.bool('vxlan.flag_g'));
  flags = withBit(flags, 0x0800, F.bool('vxlan.flag_i'));
  flags = withBit(flags, 0x0040, F.bool('vxlan.flag_d'));
  flags = withBit(flags, 0x0008, F.bool('vxlan.flag_a'));
  const rsv = F.uint('vxlan.flags_reserved', 0xffff);
  if (rsv !== undefined) flags = (flags & ~0x77b7) | (rsv & 0x77b7);
  const gbp = F.uint('vxlan.gbp', 0xffff) ?? 0;
  const vni = F.uint('vxlan.vni', 0xffffff) ?? 0;
  const r8 = F.uint('vxlan.reserved8', 255) ?? 0;
  return { proto: 'vxlan', o: { vni, flags: flags >>> 8, reserved24: ((flags & 0xff) << 16) | gbp, reserved8: r8 } };
}

function geneveSpec(F: Fields): Spec {
  const version = F.uint('geneve.version', 3) ?? 0;
  const optBytes = F.uint('geneve.option.length', 252);
  let flags = F.uint('geneve.flags', 255);
  const oam = F.bool('geneve.flags.oam'), crit = F.bool('geneve.flags.critical');
  const proto = F.uint('geneve.proto_type', 0xffff);
  const vni = F.uint('geneve.vni', 0xffffff) ?? 0;
  const reserved = F.uint('geneve.reserved', 255) ?? 0;
  const whole = F.bytes('geneve.options');
  const options: GeneveOption[] = [];
  let used = 0;
  const target = optBytes ?? whole?.length;
  while ((target === undefined ? F.left('geneve.option.class') + F.left('geneve.option') > 0 : used < target)
    && F.left('geneve.option.class') + F.left('geneve.option') > 0) {
    const opt = geneveOption(F);
    options.push(opt);
    used += 4 + opt.data.length;
  }
  const o: GeneveOptions = { vni, version, reserved, options: whole ? geneveOptionsOf(whole, `${F.path}.geneve.options`) : options };
  if (proto !== undefined) o.protocolType = proto;
  if (flags === undefined && (oam !== undefined || crit !== undefined)) flags = 0;
  if (flags !== undefined) {
    flags = withBit(flags, 0x80, oam);
    flags = withBit(flags, 0x40, crit);
    o.oam = (flags & 0x80) !== 0;
    o.critical = (flags & 0x40) !== 0;
    o.reservedFlags = flags & 0x3f;
  }
  return { proto: 'geneve', o };
}

/** One Geneve option: its bytes field (geneve.option) when given, else class, type, flags, length and data. */
function geneveOption(F: Fields): GeneveOption {
  const blobV = F.take('geneve.option');
  const cls = F.uint('geneve.option.class', 0xffff) ?? 0, type = F.uint('geneve.option.type', 255) ?? 0;
  const flags = F.uint('geneve.option.flags', 7) ?? 0;
  const len = F.uint('geneve.option.length', 128);
  const n = len === undefined ? undefined : Math.max(len - 4, 0);
  let data: Uint8Array = EMPTY;
  if (cls === 0x0132 && type === 1) {
    const vnid = F.uint('geneve.option.gcp.vnid', 0x0fffffff) ?? 0, dir = F.bool('geneve.option.gcp.direction') ?? false;
    const rsv = F.bool('geneve.option.gcp.reserved') ?? false;
    data = new Uint8Array(4);
    setBe32(data, 0, (vnid << 4) | (rsv ? 2 : 0) | (dir ? 1 : 0));
  } else if (cls === 0x0132 && type === 2) {
    data = F.bytes('geneve.option.gcp.endpoint') ?? EMPTY;
  } else if (cls === 0x0132 && type === 3) {
    const x = F.take('geneve.option.gcp.profile');
    if (x) {
      const s = String(x.v).trim();
      if (!/^[0-9]+$/.test(s)) throw bad(x.where, `'${s}' is not a number`);
      // a 64-bit profile ID (or the option's whole data), big-endian
      let v = BigInt(s);
      data = new Uint8Array(n ?? 8);
      for (let i = data.length - 1; i >= 0; i--) { data[i] = Number(v & 0xffn); v >>= 8n; }
    }
  } else {
    data = F.bytes('geneve.option.unknown.data') ?? EMPTY;
  }
  if (blobV) {
    const [opt] = geneveOptionsOf(bytesOf(blobV), blobV.where);
    if (!opt) throw bad(blobV.where, 'empty Geneve option');
    return opt;
  }
  return { optClass: cls, type, flags, data: sized(data, n ?? ((data.length + 3) & ~3)) };
}

/**
 * The options in 'b', the bytes of an options area, walked by the Geneve
 * view (`GeneveRepr.parse` over a header made for them); a walk that does not
 * end exactly at the end of 'b' is ENCODE_BAD_VALUE at 'where'.
 */
function geneveOptionsOf(b: Uint8Array, where: string): GeneveOption[] {
  if ((b.length & 3) !== 0 || b.length > GENEVE_MAX_OPTIONS_LEN) {
    throw bad(where, `${b.length} bytes are not a Geneve options area (a multiple of 4, at most ${GENEVE_MAX_OPTIONS_LEN})`);
  }
  const hdr = new Uint8Array(GENEVE_HEADER_LEN + b.length);
  hdr.set(b, GENEVE_HEADER_LEN);
  const p = new GenevePacket().reset(hdr, 0, hdr.length);
  p.setOptLen(b.length >>> 2);
  if (p.check() !== 0) throw bad(where, `the Geneve option at byte ${p.errAt - GENEVE_HEADER_LEN} runs past the ${b.length}-byte area`);
  return GeneveRepr.parse(p).options;
}

// ---- the stack ---------------------------------------------------------------

/** The layers `frame.protocols` names, outer to inner, without `ethertype`/`data`; null when it is not given. */
function protocolTokens(F: Fields): { tokens: Proto[]; where: string } | null {
  const x = F.take('frame.protocols');
  if (!x) return null;
  if (typeof x.v !== 'string') throw bad(x.where, 'frame.protocols is text like eth:ethertype:ip:udp');
  const tokens: Proto[] = [];
  for (const t of x.v.split(':').map((s) => s.trim()).filter((s) => s !== '')) {
    if (t === 'ethertype' || t === 'data' || t === 'frame') continue;
    if (!TOKENS.has(t)) throw bad(x.where, `sdnemu cannot build '${t}' (it builds ${[...TOKENS].join(', ')})`);
    tokens.push(t as Proto);
  }
  if (tokens[0] !== 'eth') throw bad(x.where, 'the frame must start with eth');
  return { tokens, where: x.where };
}

/** Inference: the layer after 'cur' (see the module comment). */
function inferNext(F: Fields, cur: Spec, extDone: Proto | null): Proto | null {
  const left = (p: Proto): boolean => F.layersLeft(p) > 0;
  const upper = (v6: boolean): Proto | null => {
    if (F.layersLeft('vxlan') + F.layersLeft('geneve') > 0) return 'udp';
    const order: Proto[] = v6 ? ['icmpv6', 'icmp', 'tcp', 'udp'] : ['icmp', 'tcp', 'udp', 'icmpv6'];
    for (const p of order) if (left(p)) return p;
    return null;
  };
  const byEtherType = (t: number | undefined): Proto | null => {
    if (t === 0x0800) return 'ip';
    if (t === 0x86dd) return 'ipv6';
    if (t === 0x0806) return 'arp';
    if (t === 0x6558) return 'eth';
    if (t !== undefined) return null;
    for (const p of ['ip', 'ipv6', 'arp'] as Proto[]) if (left(p)) return p;
    return null;
  };
  switch (cur.proto) {
    case 'eth': {
      const { type, len } = innerEtherType(cur);
      return len !== undefined ? null : byEtherType(type);
    }
    case 'ip':
      if (cur.laterFragment) return null;
      if (cur.o.protocol !== undefined) return protoOfNumber(cur.o.protocol, UPPER_PROTOS);
      return upper(false);
    case 'ipv6': {
      const last = cur.ext[cur.ext.length - 1];
      if (last?.laterFragment) return null;
      const nh = last ? last.nxt : cur.nxt;
      if (nh !== undefined) return protoOfNumber(nh, EXT_OR_UPPER);
      // extension headers in RFC 8200 order, after the last one placed
      const from = extDone === null ? 0 : EXT_ORDER.indexOf(extDone) + 1;
      for (let i = from; i < EXT_ORDER.length; i++) {
        const p = EXT_ORDER[i]!;
        if (!left(p)) continue;
        // a Destination Options header comes before a routing header only when one follows
        if (p === 'ipv6.dstopts' && i === 1 && !left('ipv6.routing')) continue;
        return p;
      }
      return upper(true);
    }
    case 'icmp':
      if (icmpIsError(cur.type)) return left('ip') ? 'ip' : left('ipv6') ? 'ipv6' : null;
      return null;
    case 'icmpv6':
      if (icmpv6IsError(cur.type)) return left('ipv6') ? 'ipv6' : left('ip') ? 'ip' : null;
      return null;
    case 'udp': {
      const vx = left('vxlan'), gn = left('geneve');
      if (vx && gn) return cur.o.dstPort === 6081 || cur.o.srcPort === 6081 ? 'geneve' : 'vxlan';
      return vx ? 'vxlan' : gn ? 'geneve' : null;
    }
    case 'vxlan': return 'eth';
    case 'geneve': {
      const t = cur.o.protocolType;
      if (t === undefined || t === 0x6558) return 'eth';
      return t === 0x0800 ? 'ip' : t === 0x86dd ? 'ipv6' : null;
    }
    default: return null;
  }
}

interface Plan { specs: Spec[]; protocols: string }

/** Turn the packet's fields into layer specs, outer to inner, from frame.protocols or by inference. */
function plan(F: Fields): Plan {
  const given = protocolTokens(F);
  const specs: Spec[] = [];
  const names: string[] = [];
  let quoted = false;
  let lastEth: EthSpec | null = null;
  let lastIpv6: (Spec & { proto: 'ipv6' }) | null = null;
  let extDone: Proto | null = null;
  const add = (p: Proto): void => {
    names.push(p);
    switch (p) {
      case 'eth': { const e = ethSpec(F); specs.push(e); lastEth = e; lastIpv6 = null; break; }
      case 'vlan': case 'ieee8021ad': {
        if (lastEth === null) throw bad(given!.where, `${p} must follow eth`);
        (lastEth as EthSpec).tags.push(...tagSpecs(F, p));
        break;
      }
      case 'arp': specs.push(arpSpec(F)); break;
      case 'ip': specs.push(ipv4Spec(F)); lastIpv6 = null; break;
      case 'ipv6': { const s = ipv6Spec(F); specs.push(s); lastIpv6 = s; extDone = null; break; }
      case 'ipv6.hopopts': case 'ipv6.dstopts': case 'ipv6.routing': case 'ipv6.fraghdr': case 'ah': {
        if (lastIpv6 === null) {
          if (given) throw bad(given.where, `${p} must follow ipv6`);
          return;
        }
        const ext = p === 'ipv6.routing' ? routingHeader(F) : p === 'ipv6.fraghdr' ? fragmentHeader(F) : p === 'ah' ? ahHeader(F) : optionsHeader(F, p);
        (lastIpv6 as Spec & { proto: 'ipv6' }).ext.push(ext);
        extDone = p;
        break;
      }
      case 'icmp': specs.push(icmpSpec(F)); break;
      case 'icmpv6': specs.push(icmpv6Spec(F)); break;
      case 'udp': specs.push(udpSpec(F)); break;
      case 'tcp': specs.push(tcpSpec(F, quoted)); break;
      case 'vxlan': specs.push(vxlanSpec(F)); break;
      case 'geneve': specs.push(geneveSpec(F)); break;
    }
    if (p !== 'eth' && p !== 'vlan' && p !== 'ieee8021ad') lastEth = null;
  };
  if (given) {
    for (let i = 0; i < given.tokens.length; i++) {
      const p = given.tokens[i]!;
      // an ICMP error's quote: the IP layer after icmp is quoted, and so is everything after it
      if ((p === 'ip' || p === 'ipv6') && (given.tokens[i - 1] === 'icmp' || given.tokens[i - 1] === 'icmpv6')) quoted = true;
      add(p);
    }
  } else {
    add('eth');
    // every tag goes on the outer Ethernet header: S-tags, then C-tags
    while (F.layersLeft('ieee8021ad') > 0) add('ieee8021ad');
    while (F.layersLeft('vlan') > 0) add('vlan');
    for (let guard = 0; guard < 64; guard++) {
      const cur = specs[specs.length - 1]!;
      const next = inferNext(F, cur, cur.proto === 'ipv6' ? extDone : null);
      if (next === null) break;
      if ((next === 'ip' || next === 'ipv6') && (cur.proto === 'icmp' || cur.proto === 'icmpv6')) quoted = true;
      add(next);
    }
  }
  return { specs, protocols: names.join(':') };
}

// ---- building ------------------------------------------------------------------

/** The IP protocol number of the layer after specs[i], or IPPROTO_NONE (59) at the end. */
function upperProto(specs: Spec[], i: number): number {
  const n = specs[i + 1];
  return (n && IPPROTO_OF[n.proto]) ?? IPPROTO_NONE;
}

/**
 * What follows the packet each Ethernet header carries: eth.padding goes to
 * the innermost headers (a frame carrying a tunnel is at least 64 bytes, so
 * never padded), eth.trailer (or a tag's vlan.trailer / ieee8021ah.trailer)
 * and eth.fcs to the outermost; one value each.
 */
function ethTrailers(F: Fields, eths: number): Uint8Array[] {
  const pads = Math.min(F.left('eth.padding'), eths);
  const out: Uint8Array[] = [];
  for (let k = 0; k < eths; k++) {
    const parts: Uint8Array[] = [];
    if (k >= eths - pads) parts.push(F.bytes('eth.padding')!);
    // a tagged frame's trailer is reported on its innermost tag (vlan.trailer / ieee8021ah.trailer)
    const t = F.bytes('eth.trailer') ?? F.bytes('vlan.trailer') ?? F.bytes('ieee8021ah.trailer');
    if (t) parts.push(t);
    const fcs = F.uint('eth.fcs', 0xffffffff);
    if (fcs !== undefined) {
      const b = new Uint8Array(4);
      setBe32(b, 0, fcs);
      parts.push(b);
    }
    out.push(concat(parts));
  }
  return out;
}

/**
 * The frame of 'p' and its original length. Every field is read (and a
 * value no layer took reported) before the builder runs; an error from the
 * builder (a value out of range, a length that does not fit) becomes
 * ENCODE_BAD_VALUE at the field it names.
 */
function buildFrame(F: Fields, p: Plan): { data: Uint8Array; origLen: number } {
  const { specs } = p;
  const trailers = ethTrailers(F, specs.filter((s) => s.proto === 'eth').length);
  const data = F.bytes('data.data');
  // frame.cap_len (else frame.len) is the captured length to pad to, at most a pcap record's
  const capLen = F.uint('frame.cap_len', MAX_FRAME_LEN);
  const lenV = F.take('frame.len');
  const wireLen = lenV && uintOf(lenV, 0xffffffff);
  if (capLen === undefined && wireLen !== undefined && wireLen > MAX_FRAME_LEN) {
    throw bad(lenV!.where, `cannot pad a frame to ${wireLen} bytes (a pcap record holds at most ${MAX_FRAME_LEN}); give frame.cap_len`);
  }
  const left = F.firstLeftover();
  if (left) throw bad(left.val.where, `no ${left.name.split('.')[0]} layer takes this value (the packet is ${p.protocols})`);
  let frame: Uint8Array;
  try {
    const b = new FrameBuilder();
    let ethIndex = 0;
    let extra: Uint8Array = EMPTY;
    specs.forEach((s, i) => {
      switch (s.proto) {
        case 'eth': {
          const o: EthOptions = { ...s.o };
          const trailer = trailers[ethIndex++]!;
          if (trailer.length > 0) o.trailer = trailer;
          const { type, len } = innerEtherType(s);
          if (len !== undefined) o.type = len;
          else if (type !== undefined) o.type = type;
          b.eth(o);
          s.tags.forEach((t, k) => {
            const tpid = k === 0 ? s.type : s.tags[k - 1]!.etype;
            b.vlan({ vid: t.vid, pcp: t.pcp, dei: t.dei, tpid: tpid ?? (t.kind === 'vlan' ? ETH_TYPE_VLAN : ETH_TYPE_QINQ) });
          });
          break;
        }
        case 'arp': b.arp(s.o); break;
        case 'ip': b.ipv4(s.o); break;
        case 'ipv6': {
          const o: Ipv6Options = { ...s.o };
          if (s.ext.length > 0) {
            // each extension header's next-header byte names the one after it, the last the upper layer
            o.extHeaders = concat(s.ext.map((e, k) => {
              const after = s.ext[k + 1];
              return concat([Uint8Array.of(e.nxt ?? (after ? IPPROTO_OF[after.proto]! : upperProto(specs, i))), e.body]);
            }));
            o.nextHeader = s.nxt ?? IPPROTO_OF[s.ext[0]!.proto]!;
          } else if (s.nxt !== undefined) o.nextHeader = s.nxt;
          b.ipv6(o);
          break;
        }
        case 'udp': b.udp(s.o); break;
        case 'tcp': b.tcp(s.o); break;
        case 'icmp': b.icmp(s.o); break;
        case 'icmpv6': b.icmpv6(s.o); break;
        case 'vxlan': b.vxlan(s.o); break;
        case 'geneve': b.geneve(s.o); break;
      }
      // what an ICMP header carries after itself (timestamps, an MLD address …) starts the payload when it is the last layer
      extra = s.proto === 'icmp' || s.proto === 'icmpv6' ? s.extra : EMPTY;
    });
    b.payload(data ? concat([extra, data]) : extra);
    const padTo = capLen ?? wireLen;
    if (padTo !== undefined) b.pad(padTo);
    frame = b.build();
  } catch (e) {
    if (e instanceof WireError) throw bad(`${F.path}.${e.field}`, e.message);
    if (e instanceof InputError && e.code.startsWith('BUILD_')) throw bad(`${F.path}.${e.path}`, e.message.replace(/^[^:]*: /, ''));
    throw e;
  }
  return { data: frame, origLen: wireLen !== undefined && wireLen >= frame.length ? wireLen : frame.length };
}

/** The timestamp of packet 'index' from frame.time_epoch, or the default ENCODE_EPOCH_S + index. */
function timestampOf(F: Fields, index: number): { tsSec: number; tsNsec: number } {
  const x = F.take('frame.time_epoch');
  if (!x) return { tsSec: ENCODE_EPOCH_S + index, tsNsec: 0 };
  const s = typeof x.v === 'number' ? x.v.toFixed(9) : String(x.v).trim();
  const m = /^([0-9]+)(?:\.([0-9]{0,9}))?$/.exec(s);
  if (!m) throw bad(x.where, `'${String(x.v)}' is not a time like 1700000000.123456789`);
  const tsSec = Number(m[1]);
  if (!Number.isSafeInteger(tsSec) || tsSec > 0xffffffff) throw bad(x.where, `${m[1]} seconds is out of range`);
  return { tsSec, tsNsec: Number((m[2] ?? '').padEnd(9, '0')) };
}

function asObject(x: unknown, path: string): Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) {
    throw new InputError('ENCODE_BAD_VALUE', path, `a packet is an object of Wireshark fields, got ${Array.isArray(x) ? 'an array' : x === null ? 'null' : typeof x}`);
  }
  return x as Record<string, unknown>;
}

function encodePacket(pkt: Record<string, unknown>, path: string, index: number): EncodedFrame {
  const F = new Fields(pkt, path);
  const ts = timestampOf(F, index);
  return { ...buildFrame(F, plan(F)), ...ts };
}

/**
 * Frame bytes from one packet object 'pkt' (field name → value or array of
 * values, outer first). 'path' prefixes error paths (`[3]` gives
 * `[3].ip.src`). Throws `InputError` (ENCODE_UNKNOWN_FIELD, ENCODE_BAD_VALUE).
 */
export function encodeFields(pkt: Record<string, unknown>, path: string): Uint8Array {
  return encodePacket(asObject(pkt, path), path, 0).data;
}

/**
 * The layer stack 'pkt' encodes to, as `eth:ip:udp` (the tokens of
 * frame.protocols without `ethertype`/`data`): what the inference rule chose.
 */
export function encodedProtocols(pkt: Record<string, unknown>, path = ''): string {
  return plan(new Fields(asObject(pkt, path), path)).protocols;
}

/**
 * Frames from a JSON document 'text' (an array of packet objects, or one
 * object); 'source' names it in errors. Timestamps come from
 * frame.time_epoch or default to ENCODE_EPOCH_S + packet index. Throws
 * `InputError`: ENCODE_BAD_JSON (path 'source', with line and column),
 * ENCODE_UNKNOWN_FIELD, ENCODE_BAD_VALUE (path `[i].field[k]`).
 */
export function encodeJson(text: string, source: string): { frames: EncodedFrame[] } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new InputError('ENCODE_BAD_JSON', source, jsonErrorText(text, e));
  }
  const list = Array.isArray(doc) ? doc : [doc];
  const frames = list.map((x, i) => encodePacket(asObject(x, `[${i}]`), `[${i}]`, i));
  return { frames };
}

/** JSON.parse's message with the line and column of its position, when it gives one. */
function jsonErrorText(text: string, e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const lc = /line (\d+) column (\d+)/.exec(msg);
  if (lc) return `line ${lc[1]}, column ${lc[2]}: ${msg}`;
  const m = /position (\d+)/.exec(msg);
  let pos = m ? Number(m[1]) : -1;
  if (pos < 0 && /Unexpected end of JSON input/.test(msg)) pos = text.length;
  if (pos < 0) return msg;
  let line = 1, col = 1;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text[i] === '\n') { line++; col = 1; } else col++;
  }
  return `line ${line}, column ${col}: ${msg}`;
}
