/**
 * Field byte ranges (wire layer, slow path): where in the frame each field
 * of a dissected layer lies, for a hex pane that highlights a field's bytes
 * (as Wireshark's packet bytes pane does).
 *
 * What: `addRanges(layer)` fills `layer.ranges`, parallel to
 * `layer.fields`: `[offset, length]` in the frame for each field, or null
 * when the field has no fixed place (a computed value such as `tcp.nxtseq`,
 * an option's inner field). The places are data, one table per protocol of
 * `[field, offset from the layer's first byte, length]`, in the order the
 * dissector adds the fields; a name listed several times (`eth.addr`,
 * `ip.addr`, `udp.port`) takes its n-th place for its n-th occurrence, as
 * the dissector adds source before destination. A bit field gets the bytes
 * that hold it, as Wireshark highlights them.
 * Why a table beside the dissectors rather than an offset argument at each
 * `addField`: the fixed headers (the ones a user clicks) are all fixed
 * offsets, and one table per protocol reads like the RFC's header diagram
 * (smoltcp's `mod field`); the dissectors stay as they are.
 * Checked against tshark's PDML `pos`/`size` on the sample captures
 * (test/wire/dissect/ranges.test.ts); one deliberate difference: the
 * `*.checksum.status` fields get the checksum's bytes (tshark gives them
 * none), so clicking one shows what was checked.
 * Gaps (null): `ip.dst` when a source route option gives it (tshark points
 * inside the option), options' inner fields (IPv4, TCP, ICMPv6, Geneve),
 * computed values (`tcp.nxtseq`, `tcp.len`, `data.len`); the TCP option
 * block as a whole has a range.
 * Neighbours: dissect/index.ts calls it once per layer; the viewer reads
 * `ranges`.
 */
import type { DissectLayer } from '../dissect.js';

type Place = readonly [name: string, at: number, len: number];

const ETH: Place[] = [
  ['eth.dst', 0, 6], ['eth.dst.oui', 0, 3], ['eth.addr', 0, 6], ['eth.addr.oui', 0, 3], ['eth.dst.lg', 0, 3], ['eth.lg', 0, 3],
  ['eth.dst.ig', 0, 3], ['eth.ig', 0, 3],
  ['eth.src', 6, 6], ['eth.src.oui', 6, 3], ['eth.addr', 6, 6], ['eth.addr.oui', 6, 3], ['eth.src.lg', 6, 3], ['eth.lg', 6, 3],
  ['eth.src.ig', 6, 3], ['eth.ig', 6, 3],
  ['eth.type', 12, 2], ['eth.len', 12, 2],
];

const VLAN: Place[] = [
  ['vlan.priority', 0, 2], ['vlan.dei', 0, 2], ['vlan.id', 0, 2], ['vlan.etype', 2, 2], ['vlan.len', 2, 2],
];

const IEEE8021AD: Place[] = [
  ['ieee8021ad.priority', 0, 1], ['ieee8021ad.dei', 0, 1], ['ieee8021ad.id', 0, 2], ['ieee8021ad.svid', 0, 2],
  ['ieee8021ad.priority', 4, 1], ['ieee8021ad.dei', 4, 1], ['ieee8021ad.cvid', 4, 2],
];

const ARP: Place[] = [
  ['arp.hw.type', 0, 2], ['arp.proto.type', 2, 2], ['arp.hw.size', 4, 1], ['arp.proto.size', 5, 1], ['arp.opcode', 6, 2],
  ['arp.src.hw_mac', 8, 6], ['arp.src.proto_ipv4', 14, 4], ['arp.dst.hw_mac', 18, 6], ['arp.dst.proto_ipv4', 24, 4],
];

const IP: Place[] = [
  ['ip.version', 0, 1], ['ip.hdr_len', 0, 1], ['ip.dsfield', 1, 1], ['ip.dsfield.dscp', 1, 1], ['ip.dsfield.ecn', 1, 1],
  ['ip.len', 2, 2], ['ip.id', 4, 2], ['ip.flags', 6, 1], ['ip.flags.rb', 6, 1], ['ip.flags.df', 6, 1], ['ip.flags.mf', 6, 1],
  ['ip.frag_offset', 6, 2], ['ip.ttl', 8, 1], ['ip.proto', 9, 1], ['ip.checksum', 10, 2], ['ip.checksum.status', 10, 2],
  ['ip.checksum_calculated', 10, 2],
  ['ip.src', 12, 4], ['ip.addr', 12, 4], ['ip.src_host', 12, 4], ['ip.host', 12, 4],
  ['ip.dst', 16, 4], ['ip.addr', 16, 4], ['ip.dst_host', 16, 4], ['ip.host', 16, 4], ['ip.cur_rt', 16, 4], ['ip.cur_rt_host', 16, 4],
];

const IPV6: Place[] = [
  ['ipv6.version', 0, 1], ['ip.version', 0, 1], ['ipv6.tclass', 0, 4], ['ipv6.tclass.dscp', 0, 4], ['ipv6.tclass.ecn', 0, 4],
  ['ipv6.flow', 1, 3], ['ipv6.plen', 4, 2], ['ipv6.nxt', 6, 1], ['ipv6.hlim', 7, 1],
  ['ipv6.src', 8, 16], ['ipv6.addr', 8, 16], ['ipv6.src_host', 8, 16], ['ipv6.host', 8, 16],
  ['ipv6.dst', 24, 16], ['ipv6.addr', 24, 16], ['ipv6.dst_host', 24, 16], ['ipv6.host', 24, 16],
];

const UDP: Place[] = [
  ['udp.srcport', 0, 2], ['udp.dstport', 2, 2], ['udp.port', 0, 2], ['udp.port', 2, 2], ['udp.length', 4, 2],
  ['udp.checksum', 6, 2], ['udp.checksum.status', 6, 2],
];

const TCP: Place[] = [
  ['tcp.srcport', 0, 2], ['tcp.dstport', 2, 2], ['tcp.port', 0, 2], ['tcp.port', 2, 2], ['tcp.seq', 4, 4], ['tcp.seq_raw', 4, 4],
  ['tcp.ack', 8, 4], ['tcp.ack_raw', 8, 4], ['tcp.hdr_len', 12, 1], ['tcp.flags', 12, 2], ['tcp.flags.res', 12, 1],
  ['tcp.flags.ae', 12, 1], ['tcp.flags.cwr', 13, 1], ['tcp.flags.ece', 13, 1], ['tcp.flags.urg', 13, 1], ['tcp.flags.ack', 13, 1],
  ['tcp.flags.push', 13, 1], ['tcp.flags.reset', 13, 1], ['tcp.flags.syn', 13, 1], ['tcp.flags.fin', 13, 1], ['tcp.flags.str', 12, 2],
  ['tcp.window_size_value', 14, 2], ['tcp.checksum', 16, 2], ['tcp.checksum.status', 16, 2], ['tcp.urgent_pointer', 18, 2],
];

const ICMP: Place[] = [
  ['icmp.type', 0, 1], ['icmp.code', 1, 1], ['icmp.checksum', 2, 2], ['icmp.checksum.status', 2, 2],
  ['icmp.ident', 4, 2], ['icmp.ident_le', 4, 2], ['icmp.seq', 6, 2], ['icmp.seq_le', 6, 2],
  ['icmp.pointer', 4, 1], ['icmp.redir_gw', 4, 4], ['icmp.mtu', 6, 2],
  ['icmp.originate_timestamp', 8, 4], ['icmp.receive_timestamp', 12, 4], ['icmp.transmit_timestamp', 16, 4], ['icmp.address_mask', 8, 4],
];

const ICMPV6: Place[] = [
  ['icmpv6.type', 0, 1], ['icmpv6.code', 1, 1], ['icmpv6.checksum', 2, 2], ['icmpv6.checksum.status', 2, 2],
  ['icmpv6.echo.identifier', 4, 2], ['icmpv6.echo.sequence_number', 6, 2], ['icmpv6.mtu', 4, 4],
];

const VXLAN: Place[] = [
  ['vxlan.flags', 0, 2], ['vxlan.flag_g', 0, 2], ['vxlan.flag_i', 0, 2], ['vxlan.flag_d', 0, 2], ['vxlan.flag_a', 0, 2],
  ['vxlan.flags_reserved', 0, 2], ['vxlan.gbp', 2, 2], ['vxlan.vni', 4, 3], ['vxlan.reserved8', 7, 1],
];

const GENEVE: Place[] = [
  ['geneve.version', 0, 1], ['geneve.option.length', 0, 1], ['geneve.flags', 1, 1], ['geneve.flags.oam', 1, 1],
  ['geneve.flags.critical', 1, 1], ['geneve.flags.reserved', 1, 1], ['geneve.proto_type', 2, 2], ['geneve.vni', 4, 3],
  ['geneve.reserved', 7, 1],
];

const TABLES = new Map<string, Place[]>([
  ['eth', ETH], ['vlan', VLAN], ['ieee8021ad', IEEE8021AD], ['arp', ARP], ['ip', IP], ['ipv6', IPV6], ['udp', UDP],
  ['tcp', TCP], ['icmp', ICMP], ['icmpv6', ICMPV6], ['vxlan', VXLAN], ['geneve', GENEVE],
]);

/** The IPv4 destination's fields: from inside a source route option when the header's destination is ip.cur_rt. */
const DST_FIELDS = new Set(['ip.dst', 'ip.dst_host', 'ip.addr', 'ip.host']);

/** Fill 'l.ranges' (absolute [offset, length] per field, null where a field has no fixed place) for a frame of 'frameLen' bytes. */
export function addRanges(l: DissectLayer, frameLen: number): void {
  const table = TABLES.get(l.proto) ?? [];
  const seen = new Map<string, number>();
  const sourceRouted = l.proto === 'ip' && l.fields.some(([k]) => k === 'ip.cur_rt');
  const clip = (at: number, len: number): [number, number] | null => {
    const a = l.offset + at;
    return a + len <= frameLen ? [a, len] : null;
  };
  l.ranges = l.fields.map(([name]) => {
    const n = seen.get(name) ?? 0;
    seen.set(name, n + 1);
    if (name === 'data.data') return clip(0, l.length);
    if (sourceRouted && DST_FIELDS.has(name) && (name === 'ip.dst' || name === 'ip.dst_host' || n === 1)) return null;
    if (name === 'tcp.options') return clip(20, l.length - 20);
    if (name === 'ieee8021ah.etype') return clip(l.length - 2, 2);
    let k = 0;
    for (const [f, at, len] of table) if (f === name && k++ === n) return clip(at, len);
    return null;
  });
}
