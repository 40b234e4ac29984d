/**
 * The display-filter field registry (trace layer): every Wireshark field the
 * dissector (wire/dissect) produces, with the type Wireshark gives it, so a
 * filter such as `ip.src == 10.0.0.300` or `tcp.port == abc` is refused at
 * the value, and `ip.scr` is refused as an unknown field — as tshark -Y does.
 * What: `FIELDS`, name → type, built from the table below (types as
 * `tshark -G fields` lists them: FT_UINT8…FT_UINT64 → uint, FT_IPv4 → ipv4,
 * FT_ETHER → ether, FT_BYTES → bytes, FT_BOOLEAN → bool, FT_PROTOCOL →
 * protocol, FT_NONE → none …). test/trace/fields.test.ts holds it to the
 * dissectors (every field name they emit is here) and to tshark (every name
 * here is a Wireshark field of that type).
 * Trace metadata fields (`node`, `drop` …) are not here: the trace layer
 * adds them (filter.ts takes extra fields).
 * Neighbours: filter.ts (parses and evaluates filters against these types),
 * wire/dissect (the values).
 */

export type FieldType = 'protocol' | 'none' | 'bool' | 'uint' | 'int' | 'time' | 'ipv4' | 'ipv6' | 'ether' | 'bytes' | 'string';

const TABLE: Record<FieldType, string> = {
  protocol: `
    arp data eth frame geneve icmp icmpv6 ieee8021ad ip ip.options.eol ip.options.nop
    ip.options.record_route ip.options.route ip.options.routeralert ip.options.timestamp ipv6
    ipv6.dstopts ipv6.fraghdr ipv6.hopopts ipv6.routing sll tcp tcp.options.eol tcp.options.mss
    tcp.options.nop tcp.options.sack tcp.options.sack_perm tcp.options.timestamp tcp.options.unknown
    tcp.options.wscale udp vlan vxlan`,
  none: `
    geneve.option.length.invalid geneve.version.unknown icmpv6.opt icmpv6.opt.reserved ipv6.opt
    ipv6.opt.pad1`,
  bool: `
    arp.isannouncement arp.isgratuitous arp.isprobe eth.dst.ig eth.dst.lg eth.ig eth.lg eth.src.ig
    eth.src.lg geneve.flags.critical geneve.flags.oam geneve.flags.reserved geneve.option.flags.reserved
    geneve.option.gcp.direction geneve.option.gcp.reserved geneve.option.type.critical
    icmpv6.nd.na.flag.o icmpv6.nd.na.flag.r icmpv6.nd.na.flag.s icmpv6.nd.ra.flag.h icmpv6.nd.ra.flag.m
    icmpv6.nd.ra.flag.o icmpv6.nd.ra.flag.p icmpv6.opt.prefix.flag.a icmpv6.opt.prefix.flag.l
    icmpv6.opt.prefix.flag.r ip.flags.df ip.flags.mf ip.flags.rb ip.opt.type.copy ipv6.fraghdr.more
    ipv6.opt.type.change tcp.flags.ack tcp.flags.ae tcp.flags.cwr tcp.flags.ece tcp.flags.fin
    tcp.flags.push tcp.flags.res tcp.flags.reset tcp.flags.syn tcp.flags.urg vlan.dei vxlan.flag_a
    vxlan.flag_d vxlan.flag_g vxlan.flag_i`,
  uint: `
    ah.length ah.next_header ah.sequence ah.spi arp.hw.size arp.hw.type arp.opcode arp.proto.size
    arp.proto.type eth.addr.oui eth.dst.oui eth.fcs eth.len eth.src.oui eth.type frame.cap_len
    frame.interface_id frame.len frame.linktype frame.number geneve.flags geneve.option.class
    geneve.option.flags geneve.option.gcp.profile geneve.option.gcp.vnid geneve.option.length
    geneve.option.type geneve.proto_type geneve.reserved geneve.version geneve.vni icmp.checksum
    icmp.checksum.status icmp.code icmp.ident icmp.ident_le icmp.length icmp.length.original_datagram
    icmp.mtu icmp.originate_timestamp icmp.pointer icmp.receive_timestamp icmp.seq icmp.seq_le
    icmp.transmit_timestamp icmp.type icmpv6.checksum icmpv6.checksum.status icmpv6.code
    icmpv6.echo.identifier icmpv6.echo.sequence_number icmpv6.length icmpv6.mld.maximum_response_delay
    icmpv6.mtu icmpv6.nd.na.flag icmpv6.nd.na.flag.rsv icmpv6.nd.ra.cur_hop_limit icmpv6.nd.ra.flag
    icmpv6.nd.ra.flag.prf icmpv6.nd.ra.flag.rsv icmpv6.nd.ra.reachable_time icmpv6.nd.ra.retrans_timer
    icmpv6.nd.ra.router_lifetime icmpv6.opt.length icmpv6.opt.mtu icmpv6.opt.prefix.flag
    icmpv6.opt.prefix.flag.reserved icmpv6.opt.prefix.length icmpv6.opt.prefix.preferred_lifetime
    icmpv6.opt.prefix.valid_lifetime icmpv6.opt.type icmpv6.pointer icmpv6.type ieee8021ad.cvid
    ieee8021ad.dei ieee8021ad.id ieee8021ad.priority ieee8021ad.svid ieee8021ah.etype ip.checksum
    ip.checksum.status ip.checksum_calculated ip.dsfield ip.dsfield.dscp ip.dsfield.ecn ip.flags
    ip.frag_offset ip.hdr_len ip.id ip.len ip.opt.flag ip.opt.id_number ip.opt.len ip.opt.mtu ip.opt.ohc
    ip.opt.overflow ip.opt.ptr ip.opt.ra ip.opt.rhc ip.opt.sid ip.opt.time_stamp ip.opt.type
    ip.opt.type.class ip.opt.type.number ip.proto ip.ttl ip.version ipv6.dstopts.len
    ipv6.dstopts.len_oct ipv6.dstopts.nxt ipv6.flow ipv6.fraghdr.ident ipv6.fraghdr.nxt
    ipv6.fraghdr.offset ipv6.fraghdr.reserved_bits ipv6.fraghdr.reserved_octet ipv6.hlim
    ipv6.hopopts.len ipv6.hopopts.len_oct ipv6.hopopts.nxt ipv6.nxt ipv6.opt.jumbo ipv6.opt.length
    ipv6.opt.router_alert ipv6.opt.tel ipv6.opt.type ipv6.opt.type.action ipv6.opt.type.rest ipv6.plen
    ipv6.routing.len ipv6.routing.len_oct ipv6.routing.nxt ipv6.routing.segleft ipv6.routing.srh.flags
    ipv6.routing.srh.last_entry ipv6.routing.type ipv6.tclass ipv6.tclass.dscp ipv6.tclass.ecn
    ipv6.version sll.etype sll.halen sll.hatype sll.ifindex sll.ltype sll.pkttype tcp.ack tcp.ack_raw
    tcp.checksum tcp.checksum.status tcp.dstport tcp.flags tcp.hdr_len tcp.len tcp.nxtseq
    tcp.option_kind tcp.option_len tcp.options.mss_val tcp.options.sack.count tcp.options.sack_le
    tcp.options.sack_re tcp.options.timestamp.tsecr tcp.options.timestamp.tsval
    tcp.options.wscale.multiplier tcp.options.wscale.shift tcp.port tcp.seq tcp.seq_raw tcp.srcport
    tcp.urgent_pointer tcp.window_size_value udp.checksum udp.checksum.status udp.dstport udp.length
    udp.port udp.srcport vlan.etype vlan.id vlan.len vlan.priority vxlan.flags vxlan.flags_reserved
    vxlan.gbp vxlan.reserved8 vxlan.vni`,
  int: `
    data.len`,
  time: `
    frame.time_epoch`,
  ipv4: `
    arp.dst.proto_ipv4 arp.src.proto_ipv4 icmp.address_mask icmp.redir_gw ip.addr ip.cur_rt ip.dst
    ip.empty_rt ip.opt.addr ip.opt.originator ip.opt.time_stamp_addr ip.rec_rt ip.src ip.src_rt
    sll.src.ipv4`,
  ipv6: `
    icmpv6.mld.multicast_address icmpv6.nd.na.target_address icmpv6.nd.ns.target_address
    icmpv6.nd.rd.target_address icmpv6.opt.prefix icmpv6.rd.na.destination_address ipv6.addr ipv6.dst
    ipv6.routing.mipv6.home_address ipv6.routing.src.addr ipv6.routing.srh.addr ipv6.src`,
  ether: `
    arp.dst.hw_mac arp.src.hw_mac eth.addr eth.dst eth.src sll.src.eth`,
  bytes: `
    ah.icv ah.reserved arp.dst.hw arp.dst.proto arp.src.hw arp.src.proto data.data eth.padding
    eth.trailer geneve.option geneve.option.gcp.endpoint geneve.option.unknown.data geneve.options
    icmp.unused icmpv6.data icmpv6.opt.linkaddr icmpv6.opt.src_linkaddr icmpv6.opt.target_linkaddr
    icmpv6.reserved ieee8021ah.trailer ip.opt.padding ipv6.opt.experimental ipv6.opt.padn
    ipv6.opt.unknown ipv6.routing.mipv6.reserved ipv6.routing.src.reserved ipv6.routing.srh.tag
    sll.src.other sll.unused tcp.options tcp.options.unknown.payload vlan.trailer`,
  string: `
    frame.protocols ip.cur_rt_host ip.dst_host ip.empty_rt_host ip.host ip.rec_rt_host ip.src_host
    ip.src_rt_host ipv6.dst_host ipv6.host ipv6.src_host tcp.flags.str`,
};

/** Every dissector field by name, with its Wireshark type. */
export const FIELDS: ReadonlyMap<string, FieldType> = new Map(
  (Object.entries(TABLE) as [FieldType, string][]).flatMap(([t, names]) => names.split(/\s+/).filter((n) => n !== '').map((n) => [n, t] as const)),
);
