/**
 * One-line packet summaries, as `tcpdump -nn -e -S` prints them (wire layer,
 * slow path).
 *
 * What: `summarize(dissection, frame, tsSec, tsNsec, origLen, linktype)`
 * returns `HH:MM:SS.ffffff SRC > DST, ethertype IPv4 (0x0800), length 98: …`
 * for one frame — Ethernet, Linux cooked v1/v2 (`  In 02:… ethertype …`,
 * `In  ifindex 2 …`) or raw IP (`ip: …`) — the line `sdnemu pcap decode`
 * prints per packet. The text
 * after the timestamp is what tcpdump 4.99 prints for the same bytes with
 * `-nn -e -S` (no name lookups, link-layer header shown, absolute TCP
 * sequence numbers), byte for byte, for the protocols sdnemu dissects:
 * Ethernet, 802.1Q/802.1ad/0x9100 tags, ARP (and RARP), IPv4 (fragments,
 * IP-in-IP, AH), IPv6 and its extension headers (HBH, DSTOPT, routing types
 * 0/2/4, fragment, AH), ICMP (echo, errors, redirects, router discovery,
 * timestamps, masks), ICMPv6 (echo, errors, ND, MLD), TCP (flags, seq/ack,
 * window, urgent pointer, every option tcpdump decodes, MPTCP included), UDP,
 * VXLAN and Geneve. Times are UTC; nanosecond captures are truncated to
 * microseconds, as libpcap does for tcpdump. The test compares every packet
 * of pcap-samples/ and of a set of scapy frames with real tcpdump.
 *
 * Why it reads header bytes, not only the dissection's fields: tcpdump's
 * line is built from raw header values at places where the dissector, which
 * follows Wireshark, reports something else or stops: lengths come from
 * ip.len/udp.length even in a first fragment whose datagram is not all
 * there, an IPv4 source-routed
 * packet shows the header's destination (Wireshark's ip.dst is the final
 * one), ICMP errors quote the inner header's destination, option lists are
 * printed with tcpdump's own names and checks. So the dissection decides
 * *what* each byte range is — in particular which UDP payloads are VXLAN or
 * Geneve, including ports the caller mapped with `udpPorts` — and this
 * module formats the header bytes at those offsets the way tcpdump's
 * printers do (print-ether.c, print-arp.c, print-ip.c, print-ip6.c,
 * print-ip6opts.c, print-rt6.c, print-frag6.c, print-ah.c, print-icmp.c,
 * print-icmp6.c, print-tcp.c, print-udp.c, print-vxlan.c, print-geneve.c).
 * When the captured bytes end before a header does, the line ends with
 * tcpdump's ` [|proto]`; a malformed packet gets tcpdump's own words
 * (`bad-hlen 16`, `[bad opt]`, `truncated-udplength 4` …). The dissector's
 * error (code, field, offset) is in `--json`, not on this line.
 *
 * Differences from tcpdump, on purpose:
 * - a Linux cooked v2 line omits the interface name tcpdump looks up for the
 *   index on the machine that READS the file (it says nothing about the
 *   capture): `In  ifindex 1 …` where tcpdump may print `lo    In  ifindex 1 …`;
 * - one line per packet: where tcpdump starts the inner frame of a VXLAN
 *   packet on a new line, the inner frame follows after a single space;
 * - no application-layer decoding: where tcpdump decodes a protocol sdnemu
 *   does not dissect (HTTP on port 80/8080 (`: HTTP…`), DNS, DHCP, NTP and
 *   the other well-known UDP/TCP ports, LLC after an 802.3 length field,
 *   MPLS/LLDP/PPPoE and other EtherTypes, GRE/IGMP/OSPF/SCTP and other IP
 *   protocols, ICMPv6 node information/router renumbering/RPL), the line
 *   stops where that decode would begin — an IP protocol is shown as
 *   `SRC > DST:  ip-proto-N LEN` (SCTP and DCCP too, with the addresses
 *   their tcpdump printers would have shown), a UDP payload as
 *   `UDP, length N`, a TCP payload only by its length, an 802.3 frame as
 *   `802.3, length N: ` — and tcpdump's hex dump of undecoded bytes
 *   (the lines starting with a tab and `0x`) is never printed. Port-based
 *   decodes that tcpdump checks first also lose to the dissection: UDP
 *   source port 49152 is BCM-LI to tcpdump even when the other port is 6081,
 *   Geneve to sdnemu (and Wireshark);
 * - a packet nesting more than MAX_NESTED Ethernet/IP headers (tunnels in
 *   tunnels, IP-in-IP chains a crafted frame can repeat thousands of times)
 *   is printed up to that depth, then ` [more than 64 nested headers]`; the
 *   dissector stops at the same depth.
 * Invariants: never throws for any bytes and any dissection (property-tested);
 * the result holds no newline.
 * Cost: string building; a few µs per packet. Not for the datapath.
 * Neighbours: input from dissect/index.ts (`dissect`) and the frame bytes
 * and times of a pcap/ record; used by the CLI's `pcap decode`. The test
 * (test/wire/summary.test.ts) holds the exact normalisation applied to
 * tcpdump's output before comparing.
 */
import type { DissectLayer, Dissection } from './dissect.js';

/** HH:MM:SS.ffffff in UTC for a capture time 'tsSec' + 'tsNsec' (nanoseconds truncated to microseconds). */
export function timeOfDay(tsSec: number, tsNsec: number): string {
  const s = ((tsSec % 86400) + 86400) % 86400;
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  const us = Math.floor(tsNsec / 1000);
  return `${pad(hh, 2)}:${pad(mm, 2)}:${pad(ss, 2)}.${pad(us, 6)}`;
}

/**
 * One `tcpdump -nn -e -S`-style line (without a newline) for the Ethernet
 * frame 'frame' captured at 'tsSec'/'tsNsec', whose dissection is 'd'
 * (`dissect(frame)`); 'origLen' is the length on the wire when a snaplen cut
 * the capture (the record's origLen).
 */
export function summarize(d: Dissection, frame: Uint8Array, tsSec: number, tsNsec: number, origLen = frame.length, linktype = 1): string {
  const p = new LinePrinter(frame, d);
  p.put(timeOfDay(tsSec, tsNsec) + ' ');
  const length = Math.max(origLen, frame.length);
  try {
    if (linktype === 113) p.sll(0, length, frame.length);
    else if (linktype === 276) p.sll2(0, length, frame.length);
    else if (linktype === 101 || linktype === 228 || linktype === 229) p.raw(0, length, frame.length);
    else if (linktype === 1) p.ether(0, length, frame.length);
    else p.put(`[link type ${linktype} not decoded], length ${length}`);
  } catch (e) {
    if (e instanceof TooDeep) p.put(` [more than ${MAX_NESTED} nested headers]`);
    else if (!(e instanceof Truncated)) throw e;
    else p.put(` [|${p.proto}]${e.suffix}`);
  }
  return p.text();
}

// ---- names tcpdump prints --------------------------------------------------------------------

/** print-sll.c sll_pkttype_values. */
const SLL_PKTTYPE_NAMES: Record<number, string> = { 0: 'In', 1: 'B', 2: 'M', 3: 'P', 4: 'Out' };

/** print-ether.c ethertype_values (first entry wins for duplicates). */
const ETHERTYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [0x0800, 'IPv4'], [0x8847, 'MPLS unicast'], [0x8848, 'MPLS multicast'], [0x86dd, 'IPv6'], [0x8100, '802.1Q'],
  [0x9100, '802.1Q-9100'], [0x88a8, '802.1Q-QinQ'], [0x9200, '802.1Q-9200'], [0x88e5, '802.1AE MACsec'],
  [0x0200, 'PUP'], [0x0806, 'ARP'], [0x8035, 'Reverse ARP'], [0x0600, 'NS'], [0x0500, 'Sprite'], [0x1000, 'Trail'],
  [0x6001, 'MOP DL'], [0x6002, 'MOP RC'], [0x6003, 'DN'], [0x6004, 'LAT'], [0x6007, 'SCA'], [0x6558, 'TEB'],
  [0x8038, 'Lanbridge'], [0x803c, 'DEC DNS'], [0x803e, 'DEC DTS'], [0x805b, 'VEXP'], [0x805c, 'VPROD'],
  [0x809b, 'Appletalk'], [0x80f3, 'Appletalk ARP'], [0x8137, 'IPX'], [0x880b, 'PPP'], [0x8808, 'MPCP'],
  [0x8809, 'Slow Protocols'], [0x8863, 'PPPoE D'], [0x8864, 'PPPoE S'], [0x888e, 'EAPOL'],
  [0x8899, 'Realtek protocols'], [0x886f, 'MS NLB heartbeat'], [0x8870, 'Jumbo'], [0x894f, 'NSH'],
  [0x9000, 'Loopback'], [0xfefe, 'OSI'], [0x00fe, 'GRE-OSI'], [0xabcd, 'CFM (old)'], [0x8902, 'CFM'],
  [0x893a, 'IEEE1905.1'], [0x88cc, 'LLDP'], [0x88ca, 'TIPC'], [0x0707, 'GeoNet (old)'], [0x8947, 'GeoNet'],
  [0x1111, 'CALM FAST'], [0x88a2, 'AoE'], [0x88f7, 'PTP'], [0xd28b, 'Arista Vendor Specific Protocol'],
]);

/**
 * EtherTypes tcpdump's ethertype_print() has a printer for beyond those
 * sdnemu decodes (DECnet, AppleTalk, IPX, OSI, PPPoE, EAPOL, Realtek, PPP,
 * MPCP, slow protocols, CFM, LLDP, NSH, loopback, MPLS, TIPC, MS NLB,
 * GeoNet, CALM FAST, AoE, PTP, LAT, SCA, MOP, IEEE 1905.1): where they
 * follow a Geneve header the line stops, as tcpdump's decode would begin.
 */
const TCPDUMP_DECODED_ETHERTYPES: ReadonlySet<number> = new Set([
  0x6003, 0x809b, 0x80f3, 0x8137, 0xfefe, 0x8863, 0x8864, 0x3c12, 0x3c13, 0x888e, 0x8899, 0x880b, 0x8808, 0x8809,
  0x8902, 0xabcd, 0x88cc, 0x894f, 0x9000, 0x8847, 0x8848, 0x88ca, 0x886f, 0x0707, 0x8947, 0x1111, 0x88a2, 0x88f7,
  0x6004, 0x6007, 0x6002, 0x6001, 0x893a,
]);

const ETH_IPV4 = 0x0800, ETH_IPV6 = 0x86dd, ETH_ARP = 0x0806, ETH_RARP = 0x8035, ETH_TEB = 0x6558;
const ETH_JUMBO = 0x8870, ETH_TRAIL = 0x1000, MAX_ETHERNET_LENGTH = 1500;
const VLAN_TPIDS: ReadonlySet<number> = new Set([0x8100, 0x9100, 0x9200, 0x88a8]);

const ARP_HRD_NAMES: ReadonlyMap<number, string> = new Map([
  [1, 'Ethernet'], [6, 'TokenRing'], [7, 'ArcNet'], [15, 'FrameRelay'], [23, 'Strip'], [24, 'IEEE 1394'],
  [19, 'ATM'], [32, 'InfiniBand'],
]);
const ARP_OP_NAMES: ReadonlyMap<number, string> = new Map([
  [1, 'Request'], [2, 'Reply'], [3, 'Reverse Request'], [4, 'Reverse Reply'], [8, 'Inverse Request'],
  [9, 'Inverse Reply'], [10, 'NACK Reply'],
]);

const IPPROTO_HOPOPTS = 0, IPPROTO_ICMP = 1, IPPROTO_IPIP = 4, IPPROTO_TCP = 6, IPPROTO_UDP = 17;
const IPPROTO_IPV6 = 41, IPPROTO_ROUTING = 43, IPPROTO_FRAGMENT = 44, IPPROTO_AH = 51, IPPROTO_ICMPV6 = 58;
const IPPROTO_NONE = 59, IPPROTO_DSTOPTS = 60;
const IP_MF = 0x2000, IP_OFFMASK = 0x1fff;
const VXLAN_PORT = 4789, GENEVE_PORT = 6081;

/** Unreachable codes whose text names only the quoted destination ('%d'). */
const ICMP_UNREACH_TEXT: ReadonlyMap<number, string> = new Map([
  [0, 'net %d unreachable'], [1, 'host %d unreachable'], [5, '%d unreachable - source route failed'],
  [6, 'net %d unreachable - unknown'], [7, 'host %d unreachable - unknown'],
  [8, '%d unreachable - source host isolated'], [9, 'net %d unreachable - admin prohibited'],
  [10, 'host %d unreachable - admin prohibited'], [11, 'net %d unreachable - tos prohibited'],
  [12, 'host %d unreachable - tos prohibited'], [13, 'host %d unreachable - admin prohibited filter'],
  [14, 'host %d unreachable - host precedence violation'], [15, 'host %d unreachable - precedence cutoff'],
]);
const ICMP_REDIRECT_TEXT: ReadonlyMap<number, string> = new Map([
  [0, 'redirect %d to net %g'], [1, 'redirect %d to host %g'], [2, 'redirect-tos %d to net %g'],
  [3, 'redirect-tos %d to host %g'],
]);
/** print-icmp.c icmp2str: types printed by name only. */
const ICMP_TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [0, 'echo reply'], [4, 'source quench'], [8, 'echo request'], [10, 'router solicitation'],
  [13, 'time stamp request'], [14, 'time stamp reply'], [15, 'information request'], [16, 'information reply'],
  [17, 'address mask request'],
]);

/** print-icmp6.c icmp6_type_values (139/140 are both who-are-you and node information; the first wins). */
const ICMP6_TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [1, 'destination unreachable'], [2, 'packet too big'], [3, 'time exceeded in-transit'], [4, 'parameter problem'],
  [128, 'echo request'], [129, 'echo reply'], [130, 'multicast listener query'], [131, 'multicast listener report'],
  [132, 'multicast listener done'], [133, 'router solicitation'], [134, 'router advertisement'],
  [135, 'neighbor solicitation'], [136, 'neighbor advertisement'], [137, 'redirect'], [138, 'router renumbering'],
  [141, 'inverse neighbor solicitation'], [142, 'inverse neighbor advertisement'],
  [143, 'multicast listener report v2'], [144, 'ha discovery request'], [145, 'ha discovery reply'],
  [146, 'mobile router solicitation'], [147, 'mobile router advertisement'], [139, 'who-are-you request'],
  [140, 'who-are-you reply'], [201, 'mtrace message'], [200, 'mtrace response'], [155, 'RPL'],
]);
const ICMP6_UNREACH_NAMES: ReadonlyMap<number, string> = new Map([
  [0, 'unreachable route'], [1, ' unreachable prohibited'], [2, 'beyond scope'], [3, 'unreachable address'],
  [4, 'unreachable port'],
]);
const ICMP6_PARAMPROB_TEXT: ReadonlyMap<number, string> = new Map([
  [0, 'erroneous'], [1, 'next header'], [2, 'option'], [3, 'incomplete header chain'],
]);

/** TCP flag letters in tcpdump's order (print-tcp.c tcp_flag_values). */
const TCP_FLAGS: readonly [number, string][] = [
  [0x01, 'F'], [0x02, 'S'], [0x04, 'R'], [0x08, 'P'], [0x10, '.'], [0x20, 'U'], [0x40, 'E'], [0x80, 'W'],
];
const TH_FIN = 0x01, TH_SYN = 0x02, TH_RST = 0x04, TH_ACK = 0x10, TH_URG = 0x20;
const TCP_OPTION_NAMES: ReadonlyMap<number, string> = new Map([
  [0, 'eol'], [1, 'nop'], [2, 'mss'], [3, 'wscale'], [4, 'sackOK'], [5, 'sack'], [6, 'echo'], [7, 'echoreply'],
  [8, 'TS'], [11, 'cc'], [12, 'ccnew'], [13, ''], [19, 'md5'], [20, 'scps'], [28, 'uto'], [29, 'tcp-ao'],
  [30, 'mptcp'], [34, 'tfo'], [254, 'exp'],
]);

/** print-mptcp.c mptcp_options names by subtype (8: any higher subtype) and the ADD_ADDR version/echo bits. */
const MPTCP_SUBTYPES = ['capable', 'join', 'dss', 'add-addr', 'rem-addr', 'prio', 'fail', 'fast-close', 'unknown'];
const MPTCP_ADDR_ECHO: ReadonlyMap<number, string> = new Map([[6, 'v0-ip6'], [4, 'v0-ip4'], [1, 'v1-echo'], [0, 'v1']]);

const GENEVE_FLAGS: readonly [number, string][] = [
  [0x80, 'O'], [0x40, 'C'], [0x20, 'R1'], [0x10, 'R2'], [0x08, 'R3'], [0x04, 'R4'], [0x02, 'R5'], [0x01, 'R6'],
];

/** IPv6 option types ip6_opt_process() checks even without -v. */
const IP6OPT_PAD1 = 0, IP6OPT_PADN = 1, IP6OPT_ROUTER_ALERT = 5, IP6OPT_JUMBO = 0xc2, IP6OPT_HOME_ADDRESS = 0xc9;

// ---- the printer -----------------------------------------------------------------------------

/**
 * Thrown when a printer needs bytes past the current end of captured (or
 * IP-length-bounded) data; `summarize` then appends ` [|proto]` and
 * 'suffix', where tcpdump's printers longjmp out.
 */
class Truncated {
  constructor(readonly suffix = '') {}
}

/** Thrown when a frame nests more than MAX_NESTED Ethernet/IP headers; the line stops there. */
class TooDeep {}

/** Most Ethernet/IP headers one line prints (the dissector's MAX_LAYERS): printing recurses per header. */
const MAX_NESTED = 64;

/** State of ip6_print's Jumbo Payload search, shared with the hop-by-hop option walk. */
interface JumboState {
  payloadLen: number;
  found: boolean;
}

/**
 * tcpdump's printers over one frame. Every reader takes the end of the data
 * it may use ('end', tcpdump's snapend: the capture's end, cut down to the
 * IP datagram's end by the IP printers) and throws `Truncated` past it.
 */
class LinePrinter {
  private out = '';
  /** tcpdump's ndo_protocol: the name shown in ` [|proto]`. */
  proto = '';
  private readonly layers = new Map<number, DissectLayer[]>();
  /** Ethernet/IP headers entered so far (bounded by MAX_NESTED). */
  private nested = 0;

  constructor(private readonly b: Uint8Array, private readonly d: Dissection) {
    for (const l of d.layers) {
      const at = this.layers.get(l.offset);
      if (at === undefined) this.layers.set(l.offset, [l]);
      else at.push(l);
    }
  }

  put(s: string): void {
    this.out += s;
  }

  text(): string {
    return this.out;
  }

  /** Count one more nested Ethernet/IP header; past MAX_NESTED the line stops (`TooDeep`). */
  private nest(): void {
    if (++this.nested > MAX_NESTED) throw new TooDeep();
  }

  // -- bounded readers

  private need(p: number, n: number, end: number): void {
    if (p < 0 || n < 0 || p + n > end || p + n > this.b.length) throw new Truncated();
  }

  private has(p: number, n: number, end: number): boolean {
    return p >= 0 && p + n <= end && p + n <= this.b.length;
  }

  private u8(p: number, end: number): number {
    this.need(p, 1, end);
    return this.b[p]!;
  }

  private u16(p: number, end: number): number {
    this.need(p, 2, end);
    return (this.b[p]! << 8) | this.b[p + 1]!;
  }

  private u24(p: number, end: number): number {
    this.need(p, 3, end);
    return (this.b[p]! << 16) | (this.b[p + 1]! << 8) | this.b[p + 2]!;
  }

  private u32(p: number, end: number): number {
    this.need(p, 4, end);
    return ((this.b[p]! << 24) | (this.b[p + 1]! << 16) | (this.b[p + 2]! << 8) | this.b[p + 3]!) >>> 0;
  }

  private u64(p: number, end: number): bigint {
    this.need(p, 8, end);
    return (BigInt(this.u32(p, end)) << 32n) | BigInt(this.u32(p + 4, end));
  }

  private ip4(p: number, end: number): string {
    this.need(p, 4, end);
    return `${this.b[p]!}.${this.b[p + 1]!}.${this.b[p + 2]!}.${this.b[p + 3]!}`;
  }

  private ip6(p: number, end: number): string {
    this.need(p, 16, end);
    return ipv6Text(this.b, p);
  }

  private mac(p: number, end: number): string {
    this.need(p, 6, end);
    let s = hex2(this.b[p]!);
    for (let i = 1; i < 6; i++) s += ':' + hex2(this.b[p + i]!);
    return s;
  }

  /** addrtoname.c linkaddr_string() for an Ethernet-style hardware address of 'len' bytes. */
  private linkaddr(p: number, len: number, end: number): string {
    if (len === 0) return '<empty>';
    if (len === 6) return this.mac(p, end);
    this.need(p, len, end);
    let s = hex2(this.b[p]!);
    for (let i = 1; i < len; i++) s += ':' + hex2(this.b[p + i]!);
    return s;
  }

  /** The dissector's layer named 'proto' starting at byte 'off', if it decoded one there. */
  private layerAt(off: number, proto: string): DissectLayer | undefined {
    return this.layers.get(off)?.find((l) => l.proto === proto);
  }

  // -- link layer

  /**
   * print-ether.c ether_common_print(): the frame at 'p' of 'length' bytes on
   * the wire, captured up to 'end'.
   */
  ether(p: number, length: number, end: number): void {
    this.nest();
    this.proto = 'ether';
    const caplen = end - p;
    if (length < caplen) {
      this.put(`[length ${length} < caplen ${caplen}] (invalid)`);
      return;
    }
    if (caplen < 14) throw new Truncated();
    const origLength = length;
    this.put(`${this.mac(p + 6, end)} > ${this.mac(p, end)}, `);
    let q = p + 12;
    length -= 12;
    let type = this.u16(q, end);
    q += 2;
    length -= 2;
    let printedLength = false;
    while (VLAN_TPIDS.has(type)) {
      if (end - q < 4 || length < 4) {
        this.proto = 'vlan';
        throw new Truncated();
      }
      const tci = this.u16(q, end);
      this.put(ethertypeText(type));
      this.put(printedLength ? ', ' : `, length ${origLength}: `);
      printedLength = true;
      this.put(`vlan ${tci & 0xfff}, p ${tci >>> 13}${tci & 0x1000 ? ', DEI' : ''}, `);
      type = this.u16(q + 2, end);
      q += 4;
      length -= 4;
    }
    if (type <= MAX_ETHERNET_LENGTH) {
      // 802.3 length field: an LLC header follows, which sdnemu does not decode
      // (print-llc.c gives up at once when its 3 bytes are not there).
      if (type < length) length = type;
      this.put('802.3');
      if (!printedLength) this.put(`, length ${length}: `);
      if (Math.min(end, q + length) - q < 3) {
        this.proto = 'llc';
        throw new Truncated();
      }
      return;
    }
    if (type === ETH_JUMBO) return; // LLC follows directly; not decoded
    this.put(ethertypeText(type));
    this.put(printedLength ? ', ' : `, length ${origLength}: `);
    this.ethertypePayload(type, q, length, end);
  }

  /** print-sll.c sll_print() with -e: packet type, source address, protocol, then the packet. */
  sll(p: number, length: number, end: number): void {
    this.proto = 'sll';
    if (end - p < 16) throw new Truncated();
    const pkttype = this.u16(p, end), halen = this.u16(p + 4, end), proto = this.u16(p + 14, end);
    this.put(`${(SLL_PKTTYPE_NAMES[pkttype] ?? '?').padStart(3, ' ')} `);
    if (halen === 6) this.put(`${this.mac(p + 6, end)} `);
    if (proto < 0x0600) {
      this.put(`ltype 0x${hex4(proto)}, length ${length}`);
      return;
    }
    this.put(`${ethertypeText(proto)}, length ${length}: `);
    this.ethertypePayload(proto, p + 16, length - 16, end);
  }

  /**
   * print-sll.c sll2_print() with -e. tcpdump first prints the interface
   * name it finds for the index on the machine reading the file; that says
   * nothing about the capture, so sdnemu prints only `ifindex N`.
   */
  sll2(p: number, length: number, end: number): void {
    this.proto = 'sll2';
    if (end - p < 20) throw new Truncated();
    const proto = this.u16(p, end), ifindex = (this.u16(p + 4, end) * 65536) + this.u16(p + 6, end);
    const pkttype = this.u8(p + 10, end), halen = this.u8(p + 11, end);
    this.put(`${(SLL_PKTTYPE_NAMES[pkttype] ?? '?').padEnd(3, ' ')} ifindex ${ifindex} `);
    if (halen === 6) this.put(`${this.mac(p + 12, end)} `);
    this.put(`${ethertypeText(proto)}, length ${length}: `);
    this.ethertypePayload(proto, p + 20, length - 20, end);
  }

  /** print-raw.c raw_if_print() with -e: `ip: ` then the IPv4 or IPv6 packet. */
  raw(p: number, length: number, end: number): void {
    this.proto = 'raw';
    this.put('ip: ');
    if (end - p < 1) throw new Truncated();
    const v = this.u8(p, end) >>> 4;
    if (v === 6) this.ipv6(p, length, end);
    else this.ipv4(p, length, end);
  }

  /** print-ether.c ethertype_print() for the EtherTypes sdnemu decodes; false for the rest. */
  private ethertypePayload(type: number, p: number, length: number, end: number): boolean {
    switch (type) {
      case ETH_IPV4:
        this.ipv4(p, length, end);
        return true;
      case ETH_IPV6:
        this.ipv6(p, length, end);
        return true;
      case ETH_ARP:
      case ETH_RARP:
        this.arp(p, length, end);
        return true;
      default:
        return false;
    }
  }

  /** print-arp.c arp_print() for the packet at 'p', 'length' bytes after the link header. */
  private arp(p: number, length: number, end: number): void {
    this.proto = 'arp';
    this.need(p, 8, end);
    const hrd = this.u16(p, end), pro = this.u16(p + 2, end), hln = this.u8(p + 4, end), pln = this.u8(p + 5, end);
    const op = this.u16(p + 6, end);
    const sha = p + 8, spa = sha + hln, tha = spa + pln, tpa = tha + hln;
    this.need(tpa, pln, end);
    if ((pro !== ETH_IPV4 && pro !== ETH_TRAIL) || pln !== 4 || hln === 0) {
      const proName = ETHERTYPE_NAMES.get(pro) ?? `Unknown Protocol (0x${hex4(pro)})`;
      this.put(`${ARP_HRD_NAMES.get(hrd) ?? `Unknown Hardware (${hrd})`} (len ${hln}), ${proName} (len ${pln})`);
      this.put(`, length ${length}`);
      return;
    }
    this.put(`${ARP_OP_NAMES.get(op) ?? `Unknown (${op})`} `);
    switch (op) {
      case 1: {
        this.put(`who-has ${this.ip4(tpa, end)}`);
        let nonzero = false;
        for (let i = 0; i < hln; i++) if (this.u8(tha + i, end) !== 0) nonzero = true;
        if (nonzero) this.put(` (${this.linkaddr(tha, hln, end)})`);
        this.put(` tell ${this.ip4(spa, end)}`);
        break;
      }
      case 2:
        this.put(`${this.ip4(spa, end)} is-at ${this.linkaddr(sha, hln, end)}`);
        break;
      case 3:
      case 8:
        this.put(`who-is ${this.linkaddr(tha, hln, end)} tell ${this.linkaddr(sha, hln, end)}`);
        break;
      case 4:
        this.put(`${this.linkaddr(tha, hln, end)} at ${this.ip4(tpa, end)}`);
        break;
      case 9:
        this.put(`${this.linkaddr(sha, hln, end)} at ${this.ip4(spa, end)}`);
        break;
      default:
        return; // tcpdump hex-dumps the packet here
    }
    this.put(`, length ${length}`);
  }

  // -- IPv4

  /** print-ip.c ip_print(): the datagram at 'p', 'length' bytes long at the link layer. */
  private ipv4(p: number, length: number, end: number): void {
    this.nest();
    this.proto = 'ip';
    const v = this.u8(p, end) >>> 4;
    if (v !== 4) {
      this.put(v === 6 ? 'IP6, wrong link-layer encapsulation (invalid)' : `IP${v} (invalid)`);
      return;
    }
    this.need(p, 20, end);
    if (length < 20) {
      this.put(`truncated-ip ${length}`);
      return;
    }
    const hlen = (this.b[p]! & 15) * 4;
    if (hlen < 20) {
      this.put(`bad-hlen ${hlen}`);
      return;
    }
    let len = this.u16(p + 2, end);
    if (length < len) this.put(`truncated-ip - ${len - length} bytes missing! `);
    if (len < hlen) {
      this.put(`bad-len ${len}`);
      return;
    }
    const ipEnd = Math.min(end, p + len);
    len -= hlen;
    const off = this.u16(p + 6, end);
    const proto = this.u8(p + 9, end);
    const src = this.ip4(p + 12, end), dst = this.ip4(p + 16, end);
    if ((off & IP_OFFMASK) === 0) {
      // tcpdump leaves the addresses to the TCP/UDP/SCTP/DCCP printers; sdnemu
      // prints SCTP and DCCP as ` ip-proto-N LEN`, so it shows them here.
      if (proto !== IPPROTO_TCP && proto !== IPPROTO_UDP) this.put(`${src} > ${dst}: `);
      if (!this.has(p, hlen, ipEnd)) {
        this.put(` [remaining caplen(${Math.max(0, Math.min(ipEnd, this.b.length) - p)}) < header length(${hlen})]`);
        throw new Truncated();
      }
      this.ipDemux(p + hlen, len, 4, (off & IP_MF) !== 0, proto, p, ipEnd);
    } else {
      this.put(`${src} > ${dst}: ip-proto-${proto}`);
    }
  }

  /**
   * print-ip-demux.c ip_demux_print(): the upper-layer protocol 'nh' at 'p'
   * ('length' bytes) of IP version 'ver' whose header is at 'iph'.
   */
  private ipDemux(p: number, length: number, ver: 4 | 6, fragmented: boolean, nh: number, iph: number, end: number): void {
    for (;;) {
      switch (nh) {
        case IPPROTO_AH: {
          if (!this.has(p, 1, end)) {
            this.proto = 'ah';
            throw new Truncated();
          }
          nh = this.b[p]!;
          const adv = this.ah(p, end);
          p += adv;
          length -= adv;
          continue;
        }
        case IPPROTO_TCP:
          this.tcp(p, length, iph, end);
          return;
        case IPPROTO_UDP:
          this.udp(p, length, iph, fragmented, end);
          return;
        case IPPROTO_ICMP:
          if (ver === 4) this.icmp(p, length, end);
          else this.put('[ICMP requires IPv4] (invalid)');
          return;
        case IPPROTO_ICMPV6:
          if (ver === 6) this.icmp6(p, length, end);
          else this.put('[ICMPv6 requires IPv6] (invalid)');
          return;
        case IPPROTO_IPIP:
          this.ipv4(p, length, end);
          return;
        case IPPROTO_IPV6:
          this.ipv6(p, length, end);
          return;
        case IPPROTO_NONE:
          this.put('no next header');
          return;
        default:
          this.put(` ip-proto-${nh} ${length}`);
          return;
      }
    }
  }

  /** print-ah.c ah_print(); returns the header's length. */
  private ah(p: number, end: number): number {
    this.proto = 'ah';
    this.put('AH');
    const hdr = (this.u8(p + 1, end) + 2) * 4;
    this.put('(');
    const reserved = this.u16(p + 2, end);
    if (reserved !== 0) this.put(`reserved=0x${reserved.toString(16)}[MustBeZero],`);
    this.put(`spi=0x${pad16(this.u32(p + 4, end), 8)},`);
    this.put(`seq=0x${this.u32(p + 8, end).toString(16)},`);
    this.put('icv=0x');
    for (let q = p + 12; q < p + hdr; q++) this.put(hex2(this.u8(q, end)));
    this.put('): ');
    return hdr;
  }

  // -- IPv6

  /** print-ip6.c ip6_print(): the packet at 'p', 'length' bytes long at the link layer. */
  private ipv6(p: number, length: number, end: number): void {
    this.nest();
    this.proto = 'ip6';
    this.need(p, 40, end);
    if (length < 40) {
      this.put(`truncated-ip6 ${length}`);
      return;
    }
    const v = this.b[p]! >>> 4;
    if (v !== 6) {
      this.put(`version error: ${v} != 6`);
      return;
    }
    const jumbo: JumboState = { payloadLen: this.u16(p + 4, end), found: false };
    let len: number;
    if (jumbo.payloadLen !== 0) {
      len = jumbo.payloadLen + 40;
      if (length < len) this.put(`truncated-ip6 - ${len - length} bytes missing!`);
    } else {
      len = length + 40;
    }
    let nh = this.b[p + 6]!;
    let ipEnd = Math.min(end, p + len);
    let cp = p, advance = 40, total = 0, ph = 255;
    let fragmented = false, foundExt = false, foundHbh = false;
    while (cp < ipEnd && advance > 0) {
      if (len < advance) throw new Truncated();
      cp += advance;
      len -= advance;
      total += advance;
      if (cp === p + 40 && nh !== IPPROTO_TCP && nh !== IPPROTO_UDP) {
        this.put(`${this.ip6(p + 8, end)} > ${this.ip6(p + 24, end)}: `);
      }
      switch (nh) {
        case IPPROTO_HOPOPTS:
          if (foundHbh) {
            this.put('[The Hop-by-Hop Options header was already found] (invalid)');
            return;
          }
          if (ph !== 255) {
            this.put("[The Hop-by-Hop Options header don't follow the IPv6 header] (invalid)");
            return;
          }
          advance = this.hbhopt(cp, ipEnd, jumbo);
          if (jumbo.payloadLen === 0 && !jumbo.found) {
            this.put('[No valid Jumbo Payload Hop-by-Hop option found] (invalid)');
            return;
          }
          foundExt = true;
          foundHbh = true;
          nh = this.u8(cp, ipEnd);
          break;
        case IPPROTO_DSTOPTS:
          advance = this.dstopt(cp, ipEnd);
          foundExt = true;
          nh = this.u8(cp, ipEnd);
          break;
        case IPPROTO_FRAGMENT:
          advance = this.frag6(cp, p, ipEnd);
          if (advance < 0 || ipEnd <= cp + advance) return;
          foundExt = true;
          nh = this.u8(cp, ipEnd);
          fragmented = true;
          break;
        case IPPROTO_ROUTING:
          this.u8(cp, ipEnd);
          advance = this.rt6(cp, ipEnd);
          if (advance < 0) return;
          foundExt = true;
          nh = this.u8(cp, ipEnd);
          break;
        default:
          if (jumbo.found) {
            len = jumbo.payloadLen + 40;
            if (len < total) throw new Truncated();
            if (length < len) this.put(`truncated-ip6 - ${len - length} bytes missing!`);
            ipEnd = Math.min(end, p + len);
            len -= total;
          } else if (jumbo.payloadLen === 0) {
            if (foundExt) throw new Truncated();
            len = 0;
            ipEnd = Math.min(end, p + 40);
          }
          this.ipDemux(cp, len, 6, fragmented, nh, p, ipEnd);
          return;
      }
      ph = nh;
      this.proto = 'ip6';
    }
  }

  /** print-ip6opts.c hbhopt_process(): prints `HBH ` and checks the options; returns the header length. */
  private hbhopt(p: number, end: number, jumbo: JumboState): number {
    this.proto = 'hbhopt';
    const hlen = (this.u8(p + 1, end) + 1) << 3;
    this.need(p, hlen, end);
    this.put('HBH ');
    if (!this.ip6opts(p + 2, hlen - 2, end, jumbo)) throw new Truncated();
    return hlen;
  }

  /** print-ip6opts.c dstopt_process(): prints `DSTOPT ` (options only with -v); returns the header length. */
  private dstopt(p: number, end: number): number {
    this.proto = 'dstopt';
    const hlen = (this.u8(p + 1, end) + 1) << 3;
    this.need(p, hlen, end);
    this.put('DSTOPT ');
    return hlen;
  }

  /**
   * print-ip6opts.c ip6_opt_process() without -v: only malformed options
   * print something. 'jumbo' is null for a destination options header.
   * Returns false where tcpdump gives up (truncated or invalid option).
   */
  private ip6opts(p: number, len: number, end: number, jumbo: JumboState | null): boolean {
    let optlen = 0;
    let seenJumbo = false;
    for (let i = 0; i < len; i += optlen) {
      const type = this.u8(p + i, end);
      if (type === IP6OPT_PAD1) optlen = 1;
      else if (i + 1 < len) optlen = this.u8(p + i + 1, end) + 2;
      else return false;
      if (i + optlen > len) return false;
      switch (type) {
        case IP6OPT_PAD1:
          break;
        case IP6OPT_PADN:
          if (len - i < 2) {
            this.put('(padn: trunc)');
            return false;
          }
          break;
        case IP6OPT_ROUTER_ALERT:
          if (len - i < 4) {
            this.put('(rtalert: trunc)');
            return false;
          }
          if (this.u8(p + i + 1, end) !== 2) {
            this.put(`(rtalert: invalid len ${this.u8(p + i + 1, end)})`);
            return false;
          }
          break;
        case IP6OPT_JUMBO: {
          if (len - i < 6) {
            this.put('(jumbo: trunc)');
            return false;
          }
          if (this.u8(p + i + 1, end) !== 4) {
            this.put(`(jumbo: invalid len ${this.u8(p + i + 1, end)})`);
            return false;
          }
          const jlen = this.u32(p + i + 2, end);
          if (!seenJumbo) {
            seenJumbo = true;
            if (jumbo !== null && jumbo.payloadLen === 0 && jlen >= 65536) {
              jumbo.found = true;
              jumbo.payloadLen = jlen;
            }
          }
          break;
        }
        case IP6OPT_HOME_ADDRESS:
          if (len - i < 18) {
            this.put('(homeaddr: trunc)');
            return false;
          }
          if (this.u8(p + i + 1, end) < 16) {
            this.put(`(homeaddr: invalid len ${this.u8(p + i + 1, end)})`);
            return false;
          }
          break;
        default:
          if (len - i < 2) {
            this.put(`(type ${type}: trunc)`);
            return false;
          }
      }
    }
    return true;
  }

  /** print-frag6.c frag6_print(): `frag (offset|length)`; -1 for a later fragment (nothing follows). */
  private frag6(p: number, ip6: number, end: number): number {
    this.proto = 'frag6';
    const off = this.u16(p + 2, end) & 0xfff8;
    const plen = this.u16(ip6 + 4, end);
    // size_t arithmetic in tcpdump: a header past the payload length wraps around
    const fragLen = 40 + plen - (p - ip6) - 8;
    this.put(`frag (${off}|${fragLen < 0 ? BigInt.asUintN(64, BigInt(fragLen)).toString() : fragLen})`);
    if (off !== 0) return -1;
    this.put(' ');
    return 8;
  }

  /** print-rt6.c rt6_print(): `RT6 (len=…, type=…, …) `; returns the header length, -1 when invalid. */
  private rt6(p: number, end: number): number {
    this.proto = 'rt6';
    this.put('RT6');
    let len = this.u8(p + 1, end);
    this.put(` (len=${len}`);
    const type = this.u8(p + 2, end);
    this.put(`, type=${type}`);
    if (type === 0) this.put(' [Deprecated]');
    this.put(`, segleft=${this.u8(p + 3, end)}`);
    if (type === 0 || type === 2 || type === 4) {
      if (type === 4) {
        this.put(`, last-entry=${this.u8(p + 4, end)}`);
        const flags = this.u8(p + 5, end);
        if (flags !== 0) this.put(`, flags=0x${flags.toString(16)}`);
        this.put(`, tag=${this.u16(p + 6, end).toString(16)}`);
      } else {
        const rsv = this.u32(p + 4, end);
        if (rsv !== 0) this.put(`, rsv=0x${rsv.toString(16)}`);
      }
      if (len % 2 === 1) {
        this.put(` (invalid length ${len}) (invalid)`);
        return -1;
      }
      len >>= 1;
      for (let i = 0; i < len; i++) this.put(`, [${i}]${this.ip6(p + 8 + 16 * i, end)}`);
      this.put(') ');
      return (this.u8(p + 1, end) + 1) << 3;
    }
    this.put(' (unknown type) (invalid)');
    return -1;
  }

  /** Source and destination of the IP header at 'iph' (version 4 or 6). */
  private ipAddrs(iph: number, end: number): [string, string, number] {
    if (this.u8(iph, end) >>> 4 === 6) return [this.ip6(iph + 8, end), this.ip6(iph + 24, end), this.u8(iph + 6, end)];
    return [this.ip4(iph + 12, end), this.ip4(iph + 16, end), this.u8(iph + 9, end)];
  }

  // -- transport

  /** print-udp.c udp_print(): the datagram at 'p', 'length' bytes by the IP header. */
  private udp(p: number, length: number, iph: number, fragmented: boolean, end: number): void {
    this.proto = 'udp';
    if (!this.has(p + 2, 2, end)) {
      this.udpAddrs(iph, -1, -1, end);
      throw new Truncated();
    }
    const sport = this.u16(p, end), dport = this.u16(p + 2, end);
    if (length < 8) {
      this.udpAddrs(iph, sport, dport, end);
      this.put(`truncated-udp ${length}`);
      return;
    }
    if (!this.has(p + 4, 2, end)) {
      this.udpAddrs(iph, sport, dport, end);
      throw new Truncated();
    }
    let ulen = this.u16(p + 4, end);
    if (ulen === 0 && length > 65535) ulen = length;
    if (ulen < 8) {
      this.udpAddrs(iph, sport, dport, end);
      this.put(`truncated-udplength ${ulen}`);
      return;
    }
    ulen -= 8;
    length -= 8;
    if (ulen < length) length = ulen;
    const cp = p + 8;
    this.udpAddrs(iph, sport, dport, end);
    if (cp > end) throw new Truncated();
    switch (this.udpPayloadProto(cp, sport, dport)) {
      case 'vxlan':
        this.vxlan(cp, length, end);
        return;
      case 'geneve':
        this.geneve(cp, length, end);
        return;
      default:
        if (ulen > length && !fragmented) this.put(`UDP, bad length ${ulen} > ${length}`);
        else this.put(`UDP, length ${ulen}`);
    }
  }

  /**
   * What the dissector made of the UDP payload at 'off' (ports 'sport',
   * 'dport'): a vxlan/geneve layer there, or a vxlan/geneve error (a header
   * too short to decode, which tcpdump still names). When not one byte of the
   * payload was captured the dissector says nothing; then the default tunnel
   * ports decide (4789 VXLAN, 6081 Geneve), as in tcpdump. Anything else is
   * plain UDP here.
   */
  private udpPayloadProto(off: number, sport: number, dport: number): string {
    if (this.layerAt(off, 'vxlan') !== undefined) return 'vxlan';
    if (this.layerAt(off, 'geneve') !== undefined) return 'geneve';
    const err = this.d.error;
    if (err !== null && (err.layer === 'vxlan' || err.layer === 'geneve') && err.offset >= off) {
      const last = this.d.layers[this.d.layers.length - 1];
      if (last !== undefined && last.proto === 'udp' && last.offset + last.length === off) return err.layer;
    }
    if (off >= this.b.length) {
      if (sport === VXLAN_PORT || dport === VXLAN_PORT) return 'vxlan';
      if (sport === GENEVE_PORT || dport === GENEVE_PORT) return 'geneve';
    }
    return '';
  }

  /** print-udp.c udpipaddr_print(): addresses with ports (plain UDP header), or ports only (after extension headers). */
  private udpAddrs(iph: number, sport: number, dport: number, end: number): void {
    const [src, dst, nxt] = this.ipAddrs(iph, end);
    if (nxt === IPPROTO_UDP) {
      this.put(sport === -1 ? `${src} > ${dst}: ` : `${src}.${sport} > ${dst}.${dport}: `);
    } else if (sport !== -1) {
      this.put(`${sport} > ${dport}: `);
    }
  }

  /** print-tcp.c tcp_print() with -S: the segment at 'p', 'length' bytes by the IP header. */
  private tcp(p: number, length: number, iph: number, end: number): void {
    this.proto = 'tcp';
    const [src, dst, nxt] = this.ipAddrs(iph, end);
    if (!this.has(p + 2, 2, end)) {
      this.put(`${src} > ${dst}:`);
      throw new Truncated();
    }
    const sport = this.u16(p, end), dport = this.u16(p + 2, end);
    this.put(nxt === IPPROTO_TCP ? `${src}.${sport} > ${dst}.${dport}: ` : `${sport} > ${dport}: `);
    this.need(p, 20, end);
    let hlen = (this.b[p + 12]! >>> 4) * 4;
    if (hlen < 20) {
      this.put(` tcp ${(length - hlen) >>> 0} [bad hdr length ${hlen} - too short, < 20]`);
      return;
    }
    const seq = this.u32(p + 4, end), ack = this.u32(p + 8, end);
    const win = this.u16(p + 14, end), urp = this.u16(p + 18, end);
    const flags = this.b[p + 13]!;
    let fs = '';
    for (const [bit, c] of TCP_FLAGS) if (flags & bit) fs += c;
    this.put(`Flags [${fs === '' ? 'none' : fs}]`);
    if (hlen > length) {
      this.put(` [bad hdr length ${hlen} - too long, > ${length}]`);
      return;
    }
    length -= hlen;
    if (length > 0 || (flags & (TH_SYN | TH_FIN | TH_RST)) !== 0) {
      this.put(`, seq ${seq}`);
      if (length > 0) this.put(`:${(seq + length) >>> 0}`);
    }
    if (flags & TH_ACK) this.put(`, ack ${ack}`);
    this.put(`, win ${win}`);
    if (flags & TH_URG) this.put(`, urg ${urp}`);
    if (hlen > 20) {
      hlen -= 20;
      this.put(', options [');
      if (!this.tcpOptions(p + 20, hlen, p + (this.b[p + 12]! >>> 4) * 4, length, flags, end)) return;
      this.put(']');
    }
    this.put(`, length ${length}`);
  }

  /**
   * The option list of 'hlen' bytes at 'cp' (print-tcp.c's loop) of a
   * segment with TCP 'flags'. 'data' and 'length' locate the payload (for the
   * MD5 check's snaplen test). Returns false when tcpdump stopped with
   * `[bad opt]`.
   */
  private tcpOptions(cp: number, hlen: number, data: number, length: number, flags: number, end: number): boolean {
    let ch = '';
    const bad = (): false => {
      this.put('[bad opt]');
      if (ch !== '') this.put(']');
      return false;
    };
    while (hlen > 0) {
      if (ch !== '') this.put(ch);
      const opt = this.u8(cp, end);
      cp++;
      let len: number;
      const zeroLen = opt === 0 || opt === 1;
      if (zeroLen) {
        len = 1;
      } else {
        len = this.u8(cp, end);
        cp++;
        if (len < 2 || len > hlen) return bad();
        hlen--;
      }
      hlen--;
      let datalen = 0;
      // LENCHECK(l): bytes beyond the option list are bad, beyond the capture truncated
      const lencheck = (l: number): boolean => {
        if (l > hlen) return false;
        if (!this.has(cp, l, end)) throw new Truncated(ch !== '' ? '>' : '');
        return true;
      };
      this.put(TCP_OPTION_NAMES.get(opt) ?? `unknown-${opt}`);
      switch (opt) {
        case 2:
          datalen = 2;
          if (!lencheck(datalen)) return bad();
          this.put(` ${this.u16(cp, end)}`);
          break;
        case 3:
          datalen = 1;
          if (!lencheck(datalen)) return bad();
          this.put(` ${this.u8(cp, end)}`);
          break;
        case 5:
          datalen = len - 2;
          if (datalen % 8 !== 0) {
            this.put(' invalid sack');
          } else {
            this.put(` ${datalen / 8} `);
            for (let i = 0; i < datalen; i += 8) {
              if (!lencheck(i + 4)) return bad();
              const s = this.u32(cp + i, end);
              if (!lencheck(i + 8)) return bad();
              const e = this.u32(cp + i + 4, end);
              this.put(`{${s}:${e}}`);
            }
          }
          break;
        case 6: case 7: case 11: case 12: case 13:
          datalen = 4;
          if (!lencheck(datalen)) return bad();
          this.put(` ${this.u32(cp, end)}`);
          break;
        case 8:
          datalen = 8;
          if (!lencheck(datalen)) return bad();
          this.put(` val ${this.u32(cp, end)} ecr ${this.u32(cp + 4, end)}`);
          break;
        case 19: {
          datalen = 16;
          if (!lencheck(datalen)) return bad();
          this.put(' ');
          if (data + length > end) this.put('snaplen too short, ');
          else this.put('shared secret not supplied with -M, ');
          this.put("can't check - ");
          for (let i = 0; i < 16; i++) this.put(hex2(this.u8(cp + i, end)));
          break;
        }
        case 20:
          datalen = 2;
          if (!lencheck(datalen)) return bad();
          this.put(` cap ${hex2(this.u8(cp, end))} id ${this.u8(cp + 1, end)}`);
          break;
        case 29:
          datalen = len - 2;
          if (datalen < 2) {
            this.put(' (invalid)');
          } else {
            if (!lencheck(1)) return bad();
            this.put(` keyid ${this.u8(cp, end)}`);
            if (!lencheck(2)) return bad();
            this.put(` rnextkeyid ${this.u8(cp + 1, end)}`);
            if (datalen > 2) {
              this.put(' mac 0x');
              for (let i = 2; i < datalen; i++) {
                if (!lencheck(i + 1)) return bad();
                this.put(hex2(this.u8(cp + i, end)));
              }
            }
          }
          break;
        case 0: case 1: case 4:
          break;
        case 28: {
          datalen = 2;
          if (!lencheck(datalen)) return bad();
          let uto = this.u16(cp, end);
          this.put(` 0x${uto.toString(16)}`);
          uto = uto & 1 ? (uto >>> 1) * 60 : uto >>> 1;
          this.put(` ${uto}`);
          break;
        }
        case 34:
          datalen = len - 2;
          if (!lencheck(datalen)) return bad();
          this.put(' ');
          this.fastOpen(cp, datalen, false, end);
          break;
        case 254: {
          datalen = len - 2;
          if (!lencheck(datalen)) return bad();
          if (datalen < 2) return bad();
          const magic = this.u16(cp, end);
          this.put('-');
          if (magic === 0xf989) this.fastOpen(cp + 2, datalen - 2, true, end);
          else this.put(hex4(magic));
          break;
        }
        case 30: {
          datalen = len - 2;
          if (!lencheck(datalen)) return bad();
          // print-mptcp.c reads only up to the option's end and leaves ndo_protocol at "mptcp"
          if (!this.mptcp(cp - 2, len, flags, Math.min(cp - 2 + len, end))) return bad();
          break;
        }
        default:
          datalen = len - 2;
          if (datalen !== 0) this.put(' 0x');
          for (let i = 0; i < datalen; i++) {
            if (!lencheck(i + 1)) return bad();
            this.put(hex2(this.u8(cp + i, end)));
          }
      }
      cp += datalen;
      hlen -= datalen;
      datalen++;
      if (!zeroLen) datalen++;
      if (datalen !== len) this.put(`[len ${len}]`);
      ch = ',';
      if (opt === 0) break;
    }
    return true;
  }

  /**
   * print-mptcp.c mptcp_print(): the MPTCP option of 'len' bytes at 'opt' in a
   * segment with TCP 'flags', read only up to 'end' (the option's end).
   * Returns false for a length or flag combination tcpdump rejects.
   */
  private mptcp(opt: number, len: number, flags: number, end: number): boolean {
    this.proto = 'mptcp';
    if (len < 3) return false;
    const subtype = Math.min(this.u8(opt + 2, end) >>> 4, 8);
    this.put(` ${len} ${MPTCP_SUBTYPES[subtype]!}`);
    const syn = (flags & TH_SYN) !== 0, ack = (flags & TH_ACK) !== 0;
    switch (subtype) {
      case 0: { // capable
        if (!((len === 12 || len === 4) && syn) && !((len === 20 || len === 22) && ack && !syn)) return false;
        const version = this.u8(opt + 2, end) & 0xf;
        if (version > 1) {
          this.put(` Unknown Version (${version})`);
          return true;
        }
        this.put(` v${version}`);
        if (this.u8(opt + 3, end) & 0x80) this.put(' csum');
        if (len === 12 || len >= 20) {
          this.put(` {0x${this.u64(opt + 4, end).toString(16)}`);
          if (len >= 20) this.put(`,0x${this.u64(opt + 12, end).toString(16)}`);
          this.put('}');
        }
        return true;
      }
      case 1: { // join
        if (!(len === 12 && syn) && !(len === 16 && syn && ack) && !(len === 24 && ack)) return false;
        if (len !== 24) {
          if (this.u8(opt + 2, end) & 1) this.put(' backup');
          this.put(` id ${this.u8(opt + 3, end)}`);
        }
        if (len === 12) {
          this.put(` token 0x${this.u32(opt + 4, end).toString(16)} nonce 0x${this.u32(opt + 8, end).toString(16)}`);
        } else if (len === 16) {
          this.put(` hmac 0x${this.u64(opt + 4, end).toString(16)} nonce 0x${this.u32(opt + 12, end).toString(16)}`);
        } else {
          this.put(' hmac 0x');
          for (let i = 0; i < 20; i++) this.put(hex2(this.u8(opt + 4 + i, end)));
        }
        return true;
      }
      case 2: { // dss
        if (len < 4 || syn) return false;
        const f = this.u8(opt + 3, end);
        if (f & 0x10) this.put(' fin');
        let q = opt + 4, left = len - 4;
        if (f & 0x01) {
          this.put(' ack ');
          const n = f & 0x02 ? 8 : 4;
          if (left < n) return false;
          this.put(n === 8 ? this.u64(q, end).toString() : String(this.u32(q, end)));
          q += n;
          left -= n;
        }
        if (f & 0x04) {
          this.put(' seq ');
          const n = f & 0x08 ? 8 : 4;
          if (left < n) return false;
          this.put(n === 8 ? this.u64(q, end).toString() : String(this.u32(q, end)));
          q += n;
          left -= n;
          if (left < 4) return false;
          this.put(` subseq ${this.u32(q, end)}`);
          q += 4;
          left -= 4;
          if (left < 2) return false;
          this.put(` len ${this.u16(q, end)}`);
          q += 2;
          left -= 2;
          if (left >= 2) {
            this.put(` csum 0x${this.u16(q, end).toString(16)}`);
            left -= 2;
          }
        }
        return left === 0;
      }
      case 3: { // add-addr
        if (![8, 10, 16, 18, 20, 22, 28, 30].includes(len)) return false;
        this.put(` ${MPTCP_ADDR_ECHO.get(this.u8(opt + 2, end) & 0xf) ?? '[bad version/echo]'}`);
        this.put(` id ${this.u8(opt + 3, end)}`);
        if (len <= 18) {
          this.put(` ${this.ip4(opt + 4, end)}`);
          if (len === 10 || len === 18) this.put(`:${this.u16(opt + 8, end)}`);
          if (len === 16) this.put(` hmac 0x${this.u64(opt + 8, end).toString(16)}`);
          if (len === 18) this.put(` hmac 0x${this.u64(opt + 10, end).toString(16)}`);
        } else {
          this.put(` ${this.ip6(opt + 4, end)}`);
          if (len === 22 || len === 30) this.put(`:${this.u16(opt + 20, end)}`);
          if (len === 28) this.put(` hmac 0x${this.u64(opt + 20, end).toString(16)}`);
          if (len === 30) this.put(` hmac 0x${this.u64(opt + 22, end).toString(16)}`);
        }
        return true;
      }
      case 4: // rem-addr
        if (len < 4) return false;
        this.put(' id');
        for (let i = 0; i < len - 3; i++) this.put(` ${this.u8(opt + 3 + i, end)}`);
        return true;
      case 5: // prio
        if (len !== 3 && len !== 4) return false;
        this.put(this.u8(opt + 2, end) & 1 ? ' backup' : ' non-backup');
        if (len === 4) this.put(` id ${this.u8(opt + 3, end)}`);
        return true;
      case 6: // fail
        if (len !== 12) return false;
        this.put(` seq ${this.u64(opt + 4, end).toString()}`);
        return true;
      case 7: // fast-close
        if (len !== 12) return false;
        this.put(` key 0x${this.u64(opt + 4, end).toString(16)}`);
        return true;
      default:
        return true;
    }
  }

  /** print-tcp.c print_tcp_fastopen_option(). */
  private fastOpen(cp: number, datalen: number, exp: boolean, end: number): void {
    if (exp) this.put('tfo');
    if (datalen === 0) {
      this.put(' cookiereq');
    } else if (datalen % 2 !== 0 || datalen < 4 || datalen > 16) {
      this.put(' (invalid)');
    } else {
      this.put(' cookie ');
      for (let i = 0; i < datalen; i++) this.put(hex2(this.u8(cp + i, end)));
    }
  }

  // -- ICMP

  /** print-icmp.c icmp_print() without -v: the message at 'p', 'plen' bytes by the IP header. */
  private icmp(p: number, plen: number, end: number): void {
    this.proto = 'icmp';
    const type = this.u8(p, end), code = this.u8(p + 1, end);
    const qdst = (): string => this.ip4(p + 24, end); // the quoted header's destination
    let str: string;
    switch (type) {
      case 0:
      case 8:
        str = `echo ${type === 8 ? 'request' : 'reply'}, id ${this.u16(p + 4, end)}, seq ${this.u16(p + 6, end)}`;
        break;
      case 3:
        if (code === 2) {
          str = `${qdst()} protocol ${this.u8(p + 17, end)} unreachable`;
        } else if (code === 3) {
          this.need(p + 17, 1, end);
          const ohl = (this.u8(p + 8, end) & 15) * 4;
          const dport = this.u16(p + 8 + ohl + 2, end);
          const oproto = this.u8(p + 17, end);
          if (oproto === IPPROTO_TCP) str = `${qdst()} tcp port ${dport} unreachable`;
          else if (oproto === IPPROTO_UDP) str = `${qdst()} udp port ${dport} unreachable`;
          else str = `${qdst()} protocol ${oproto} port ${dport} unreachable`;
        } else if (code === 4) {
          const mtu = this.u16(p + 6, end);
          str = mtu !== 0 ? `${qdst()} unreachable - need to frag (mtu ${mtu})` : `${qdst()} unreachable - need to frag`;
        } else {
          const t = ICMP_UNREACH_TEXT.get(code);
          str = t !== undefined ? t.replace('%d', qdst()) : `${qdst()} unreachable - #${code}`;
        }
        break;
      case 5: {
        const t = ICMP_REDIRECT_TEXT.get(code);
        str = t !== undefined
          ? t.replace('%d', qdst()).replace('%g', this.ip4(p + 4, end))
          : `redirect-#${code} ${qdst()} to ${this.ip4(p + 4, end)}`;
        break;
      }
      case 9:
        str = this.routerAdvert(p, end);
        break;
      case 11:
        this.need(p + 24, 4, end);
        str = code === 0 ? 'time exceeded in-transit' : code === 1 ? 'ip reassembly time exceeded' : `time exceeded-#${code}`;
        break;
      case 12:
        str = code !== 0 ? `parameter problem - code ${code}` : `parameter problem - octet ${this.u8(p + 4, end)}`;
        break;
      case 18:
        str = `address mask is 0x${pad16(this.u32(p + 8, end), 8)}`;
        break;
      case 13:
        str = `time stamp query id ${this.u16(p + 4, end)} seq ${this.u16(p + 6, end)}`;
        break;
      case 14:
        this.need(p + 16, 4, end);
        str = `time stamp reply id ${this.u16(p + 4, end)} seq ${this.u16(p + 6, end)}: org ${msTime(this.u32(p + 8, end))}`
          + `, recv ${msTime(this.u32(p + 12, end))}, xmit ${msTime(this.u32(p + 16, end))}`;
        break;
      default:
        str = ICMP_TYPE_NAMES.get(type) ?? `type-#${type}`;
    }
    this.put(`ICMP ${str}, length ${plen}`);
  }

  /** The text of an ICMP router advertisement (RFC 1256) at 'p'. */
  private routerAdvert(p: number, end: number): string {
    this.need(p + 4, 4, end);
    let s = 'router advertisement lifetime ';
    const life = this.u16(p + 6, end);
    if (life < 60) s += String(life);
    else if (life < 3600) s += `${Math.floor(life / 60)}:${pad(life % 60, 2)}`;
    else s += `${Math.floor(life / 3600)}:${pad(Math.floor((life % 3600) / 60), 2)}:${pad(life % 60, 2)}`;
    let num = this.u8(p + 4, end);
    s += ` ${num}:`;
    const size = this.u8(p + 5, end);
    if (size !== 2) return s + ` [size ${size}]`;
    for (let q = p + 8; num > 0; q += 8, num--) {
      this.need(q, 8, end);
      s += ` {${this.ip4(q, end)} ${this.u32(q + 4, end)}}`;
    }
    return s;
  }

  /** print-icmp6.c icmp6_print() without -v: the message at 'p', 'length' bytes by the IPv6 header. */
  private icmp6(p: number, length: number, end: number): void {
    this.proto = 'icmp6';
    if (length === 0) {
      this.put('ICMP6, length 0 (invalid)');
      return;
    }
    const type = this.u8(p, end);
    this.put(`ICMP6, ${ICMP6_TYPE_NAMES.get(type) ?? `unknown icmp6 type (${type})`}`);
    const code = this.u8(p + 1, end);
    const oip = p + 8;
    switch (type) {
      case 1:
        this.put(`, ${ICMP6_UNREACH_NAMES.get(code) ?? `unknown unreach code (${code})`}`);
        switch (code) {
          case 0: case 1: case 3:
            this.put(` ${this.ip6(oip + 24, end)}`);
            break;
          case 2:
            this.put(` ${this.ip6(oip + 24, end)}, source address ${this.ip6(oip + 8, end)}`);
            break;
          case 4: {
            const up = this.upperLayer(oip, end);
            if (up === null) throw new Truncated();
            const dport = this.u16(up.off + 2, end);
            if (up.proto === IPPROTO_TCP) this.put(`, ${this.ip6(oip + 24, end)} tcp port ${dport}`);
            else if (up.proto === IPPROTO_UDP) this.put(`, ${this.ip6(oip + 24, end)} udp port ${dport}`);
            else this.put(`, ${this.ip6(oip + 24, end)} protocol ${up.proto} port ${dport} unreachable`);
            break;
          }
          default:
            return; // tcpdump hex-dumps the message here
        }
        break;
      case 2:
        this.put(`, mtu ${this.u32(p + 4, end)}`);
        break;
      case 3:
        if (code === 0) this.put(` for ${this.ip6(oip + 24, end)}`);
        else if (code === 1) this.put(' (reassembly)');
        else this.put(`, unknown code (${code})`);
        break;
      case 4: {
        this.need(oip + 24, 16, end);
        const t = ICMP6_PARAMPROB_TEXT.get(code);
        this.put(t !== undefined ? `, ${t} - octet ${this.u32(p + 4, end)}` : `, code-#${code}`);
        break;
      }
      case 128:
      case 129:
        this.put(`, id ${this.u16(p + 4, end)}, seq ${this.u16(p + 6, end)}`);
        break;
      case 130:
        if (length === 24) this.mld6(p, end);
        else if (length >= 28) this.mldv2Query(p, length, end);
        else this.put(` unknown-version (len ${length}) `);
        break;
      case 131:
      case 132:
        this.mld6(p, end);
        break;
      case 135:
        this.put(`, who has ${this.ip6(p + 8, end)}`);
        break;
      case 136:
        this.put(`, tgt is ${this.ip6(p + 8, end)}`);
        break;
      case 137:
        this.put(`, ${this.ip6(p + 24, end)}`);
        this.put(` to ${this.ip6(p + 8, end)}`);
        break;
      case 143:
        if (length < 8) this.put(` [invalid len ${length}]`);
        else this.put(`, ${this.u16(p + 6, end)} group record(s)`);
        break;
      case 144:
      case 146:
        this.put(`, id 0x${hex4(this.u16(p + 4, end))}`);
        break;
      case 133: case 134: case 141: case 142: case 145: case 147:
        break; // details only with -v
      default:
        // unknown types (and those tcpdump decodes at length, see the module comment)
        this.put(`, length ${length}`);
        return;
    }
    this.put(`, length ${length}`);
  }

  /** print-icmp6.c mld6_print(): MLDv1 query/report/done. */
  private mld6(p: number, end: number): void {
    if (p + 24 > end || p + 24 > this.b.length) return;
    this.put(`max resp delay: ${this.u16(p + 4, end)} `);
    this.put(`addr: ${this.ip6(p + 8, end)}`);
  }

  /** print-icmp6.c mldv2_query_print() without -v. */
  private mldv2Query(p: number, len: number, end: number): void {
    this.put(' v2');
    if (len < 28) {
      this.put(` [invalid len ${len}]`);
      return;
    }
    this.put(` [gaddr ${this.ip6(p + 8, end)}`);
    const nsrcs = this.u16(p + 26, end);
    if (nsrcs > 0) {
      if (len < 28 + nsrcs * 16) this.put(' [invalid number of sources]');
      else this.put(`, ${nsrcs} source(s)`);
    }
    this.put(']');
  }

  /** print-icmp6.c get_upperlayer(): the TCP/UDP header inside the IPv6 packet quoted at 'ip6'. */
  private upperLayer(ip6: number, end: number): { off: number; proto: number } | null {
    if (!this.has(ip6 + 6, 1, end)) return null;
    let nh = this.b[ip6 + 6]!;
    let hlen = 40;
    let q = ip6;
    while (q < end) {
      q += hlen;
      switch (nh) {
        case IPPROTO_UDP:
        case IPPROTO_TCP:
          return this.has(q + 2, 2, end) ? { off: q, proto: nh } : null;
        case IPPROTO_HOPOPTS:
        case IPPROTO_DSTOPTS:
        case IPPROTO_ROUTING:
          if (!this.has(q + 1, 1, end)) return null;
          nh = this.b[q]!;
          hlen = (this.b[q + 1]! + 1) << 3;
          break;
        case IPPROTO_FRAGMENT:
          if (!this.has(q + 2, 2, end)) return null;
          if ((((this.b[q + 2]! << 8) | this.b[q + 3]!) & 0xfff8) !== 0) return null;
          nh = this.b[q]!;
          hlen = 8;
          break;
        case IPPROTO_AH:
          if (!this.has(q + 1, 1, end)) return null;
          nh = this.b[q]!;
          hlen = (this.b[q + 1]! + 2) << 2;
          break;
        default:
          return null;
      }
    }
    return null;
  }

  // -- tunnels

  /** print-vxlan.c vxlan_print(): header, then the inner frame after a space (tcpdump: a newline). */
  private vxlan(p: number, len: number, end: number): void {
    this.proto = 'vxlan';
    this.put('VXLAN');
    if (len < 8) {
      this.put(' (invalid)');
      return;
    }
    const flags = this.u8(p, end);
    this.put(`, flags [${flags & 0x08 ? 'I' : 'invalid'}] (0x${hex2(flags)}), `);
    this.put(`vni ${this.u24(p + 4, end)} `);
    this.u8(p + 7, end);
    this.ether(p + 8, len - 8, end);
  }

  /** print-geneve.c geneve_print() without -v (with -e: the protocol is shown). */
  private geneve(p: number, len: number, end: number): void {
    this.proto = 'geneve';
    this.put('Geneve');
    if (len < 8) {
      this.put(` [length ${len} < 8] (invalid)`);
      return;
    }
    this.need(p, 8, end);
    const verOpt = this.b[p]!;
    const version = verOpt >>> 6;
    if (version !== 0) {
      this.put(` ERROR: unknown-version ${version}`);
      return;
    }
    const flags = this.b[p + 1]!;
    const prot = this.u16(p + 2, end);
    const vni = this.u24(p + 4, end);
    const reserved = this.b[p + 7]!;
    len -= 8;
    let fs = '';
    for (const [bit, name] of GENEVE_FLAGS) if (flags & bit) fs += name;
    this.put(`, Flags [${fs === '' ? 'none' : fs}]`);
    this.put(`, vni 0x${vni.toString(16)}`);
    if (reserved !== 0) this.put(`, rsvd 0x${reserved.toString(16)}`);
    this.put(`, proto ${ETHERTYPE_NAMES.get(prot) ?? 'unknown'} (0x${hex4(prot)})`);
    const optsLen = (verOpt & 0x3f) * 4;
    if (len < optsLen) {
      this.put(` truncated-geneve - ${optsLen - len} bytes missing`);
      return;
    }
    this.need(p + 8, optsLen, end);
    if (optsLen > 0) this.put(`, options [${optsLen} bytes]`);
    const q = p + 8 + optsLen;
    len -= optsLen;
    this.put(': ');
    if (!this.ethertypePayload(prot, q, len, end)) {
      if (prot === ETH_TEB) this.ether(q, len, end);
      else if (!TCPDUMP_DECODED_ETHERTYPES.has(prot)) this.put(`geneve-proto-0x${prot.toString(16)}`);
    }
  }
}

// ---- formatting helpers ----------------------------------------------------------------------

function pad(n: number, w: number): string {
  return String(n).padStart(w, '0');
}

function hex2(v: number): string {
  return v.toString(16).padStart(2, '0');
}

function hex4(v: number): string {
  return v.toString(16).padStart(4, '0');
}

function pad16(v: number, w: number): string {
  return v.toString(16).padStart(w, '0');
}

/** `ethertype NAME (0xTTTT)`, tcpdump's ether_type_print(). */
function ethertypeText(t: number): string {
  return `ethertype ${ETHERTYPE_NAMES.get(t) ?? 'Unknown'} (0x${hex4(t)})`;
}

/** print-icmp.c icmp_tstamp_print(): milliseconds since midnight as HH:MM:SS.mmm. */
function msTime(t: number): string {
  const ms = t % 1000;
  let sec = Math.floor(t / 1000);
  let min = Math.floor(sec / 60);
  sec -= min * 60;
  const hrs = Math.floor(min / 60);
  min -= hrs * 60;
  return `${pad(hrs, 2)}:${pad(min, 2)}:${pad(sec, 2)}.${pad(ms, 3)}`;
}

/**
 * An IPv6 address as tcpdump's addrtostr6() writes it: the longest run of two
 * or more zero words (the first of equal runs) becomes `::`, and an address
 * whose first six words are zero, or five zero words and 0xffff, ends in
 * dotted IPv4 (`::1.2.3.4`, `::ffff:1.2.3.4`).
 */
function ipv6Text(b: Uint8Array, o: number): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[o + 2 * i]! << 8) | b[o + 2 * i + 1]!);
  let best = -1, bestLen = 0, cur = -1, curLen = 0;
  for (let i = 0; i < 8; i++) {
    if (w[i] === 0) {
      if (cur === -1) { cur = i; curLen = 1; } else curLen++;
    } else if (cur !== -1) {
      if (best === -1 || curLen > bestLen) { best = cur; bestLen = curLen; }
      cur = -1;
    }
  }
  if (cur !== -1 && (best === -1 || curLen > bestLen)) { best = cur; bestLen = curLen; }
  if (best !== -1 && bestLen < 2) best = -1;
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (best !== -1 && i >= best && i < best + bestLen) {
      if (i === best) s += ':';
      continue;
    }
    if (i !== 0) s += ':';
    if (i === 6 && best === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
      s += `${b[o + 12]!}.${b[o + 13]!}.${b[o + 14]!}.${b[o + 15]!}`;
      return s;
    }
    s += w[i]!.toString(16);
  }
  if (best !== -1 && best + bestLen === 8) s += ':';
  return s;
}
