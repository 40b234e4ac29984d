/**
 * FrameBuilder: every stack it builds is byte-identical to scapy's for the
 * same fields, and tshark reads every frame with no malformed flag, no
 * error-level expert item and good checksums (bad only where a case gives a
 * wrong checksum on purpose). Headroom: a VXLAN header pushed in front of a
 * frame built with headroom lands in the same buffer.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { InputError, WireError } from '../../src/errors.js';
import { FrameBuilder, checkUint, ipv4FinalDstAt, ipv6Bytes, macBytes, tcpFlagsOf } from '../../src/wire/builder.js';
import { dissect } from '../../src/wire/dissect/index.js';
import { fieldValues } from '../../src/wire/dissect.js';
import { GeneveRepr } from '../../src/wire/geneve.js';
import { pushVxlan, VXLAN_HEADER_LEN } from '../../src/wire/vxlan.js';
import { describeWith, scapy, tsharkFields, writeTempPcap } from '../oracle/tools.js';

const A = '02:00:00:00:00:01', B = '02:00:00:00:00:02';
const ETH = `Ether(src='${A}',dst='${B}')`;

interface Case {
  name: string;
  build: () => FrameBuilder;
  /** scapy expression for the same packet (scapy.all and contrib geneve imported) */
  scapy: string;
  /** checksum status fields tshark must find bad (the case gives a wrong checksum on purpose) */
  bad?: string[];
  /** an ICMP error: checksums inside the quote are unverified (2), as tshark shows them */
  quoted?: boolean;
}

const eth = (): FrameBuilder => new FrameBuilder().eth({ src: A, dst: B });

const CASES: Case[] = [
  {
    name: 'Ethernet/IPv4/UDP with a payload',
    build: () => eth().ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).udp({ srcPort: 1234, dstPort: 5678 }).payload('hello'),
    scapy: `${ETH}/IP(src='10.0.0.1',dst='10.0.0.2')/UDP(sport=1234,dport=5678)/Raw(b'hello')`,
  },
  {
    name: 'defaults match scapy (ttl 64, id 1, ports 53 / 20→80, window 8192, SYN)',
    build: () => eth().ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).tcp(),
    scapy: `${ETH}/IP(src='10.0.0.1',dst='10.0.0.2')/TCP()`,
  },
  {
    name: 'TCP SYN with MSS, SACK_PERM, timestamps, NOP, window scale',
    build: () => eth().ipv4({ src: '10.0.0.1', dst: '10.0.0.2', df: true, ident: 0x4d2 }).tcp({
      srcPort: 40000, dstPort: 80, seq: 0xfffffff0, flags: 'S', window: 64240,
      options: [{ kind: 'mss', value: 1460 }, { kind: 'sackPerm' }, { kind: 'timestamp', tsval: 100, tsecr: 0 }, { kind: 'nop' }, { kind: 'wscale', shift: 7 }],
    }),
    scapy: `${ETH}/IP(src='10.0.0.1',dst='10.0.0.2',flags='DF',id=0x4d2)/TCP(sport=40000,dport=80,seq=0xfffffff0,flags='S',window=64240,options=[('MSS',1460),('SAckOK',b''),('Timestamp',(100,0)),('NOP',None),('WScale',7)])`,
  },
  {
    name: 'TCP PSH/ACK with two SACK blocks and data',
    build: () => eth().ipv4({ src: '10.0.0.2', dst: '10.0.0.1' }).tcp({
      srcPort: 80, dstPort: 40000, seq: 1, ack: 101, flags: 'PA', window: 508,
      options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [[401, 501], [201, 301]] }],
    }).payload('GET / HTTP/1.0\r\n\r\n'),
    scapy: `${ETH}/IP(src='10.0.0.2',dst='10.0.0.1')/TCP(sport=80,dport=40000,seq=1,ack=101,flags='PA',window=508,options=[('NOP',None),('NOP',None),('SAck',(401,501,201,301))])/Raw(b'GET / HTTP/1.0\\r\\n\\r\\n')`,
  },
  {
    name: 'TCP options given as raw bytes (MSS, WS, EOL)',
    build: () => eth().ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).tcp({
      srcPort: 40001, dstPort: 81, optionBytes: Uint8Array.from([2, 4, 2, 24, 3, 3, 0, 0]),
    }),
    scapy: `${ETH}/IP(src='10.0.0.1',dst='10.0.0.2')/TCP(sport=40001,dport=81,options=[('MSS',536),('WScale',0),('EOL',None)])`,
  },
  {
    name: 'ICMP echo request',
    build: () => eth().ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).icmp({ type: 8, ident: 0x1234, seq: 7 }).payload('abcdefgh'),
    scapy: `${ETH}/IP(src='10.0.0.1',dst='10.0.0.2')/ICMP(type=8,id=0x1234,seq=7)/Raw(b'abcdefgh')`,
  },
  {
    name: 'ICMP port unreachable quoting IPv4/UDP', quoted: true,
    build: () => eth().ipv4({ src: '10.0.2.1', dst: '10.0.1.1', ttl: 63 }).icmp({ type: 3, code: 3 })
      .ipv4({ src: '10.0.1.1', dst: '10.0.2.1', ident: 0x77 }).udp({ srcPort: 59663, dstPort: 33434 }).payload('0123456789abcdef'),
    scapy: `${ETH}/IP(src='10.0.2.1',dst='10.0.1.1',ttl=63)/ICMP(type=3,code=3)/IP(src='10.0.1.1',dst='10.0.2.1',id=0x77)/UDP(sport=59663,dport=33434)/Raw(b'0123456789abcdef')`,
  },
  {
    name: 'ICMP fragmentation needed (MTU 1280) quoting an echo', quoted: true,
    build: () => eth().ipv4({ src: '10.0.1.254', dst: '10.0.1.1' }).icmp({ type: 3, code: 4, mtu: 1280 })
      .ipv4({ src: '10.0.1.1', dst: '10.0.2.1', df: true }).icmp({ type: 8, ident: 0x9931, seq: 1 }).payload(new Uint8Array(32).fill(0x61)),
    scapy: `${ETH}/IP(src='10.0.1.254',dst='10.0.1.1')/ICMP(type=3,code=4,nexthopmtu=1280)/IP(src='10.0.1.1',dst='10.0.2.1',flags='DF')/ICMP(type=8,id=0x9931,seq=1)/Raw(b'a'*32)`,
  },
  {
    name: 'ICMP time exceeded quoting a TCP header cut to 8 bytes', quoted: true,
    build: () => eth().ipv4({ src: '10.0.1.254', dst: '10.0.1.1' }).icmp({ type: 11, code: 0 })
      .ipv4({ src: '10.0.1.1', dst: '10.0.2.1', ttl: 1 }).tcp({ srcPort: 50000, dstPort: 443, seq: 0x01020304, truncate: 8 }),
    scapy: `${ETH}/IP(src='10.0.1.254',dst='10.0.1.1')/ICMP(type=11,code=0)/IP(src='10.0.1.1',dst='10.0.2.1',ttl=1,proto=6)/Raw(bytes(TCP(sport=50000,dport=443,seq=0x01020304))[:8])`,
  },
  {
    name: 'ARP request',
    build: () => new FrameBuilder().eth({ src: A, dst: 'ff:ff:ff:ff:ff:ff' }).arp({ op: 1, sha: A, spa: '10.0.0.1', tpa: '10.0.0.2' }),
    scapy: `Ether(src='${A}',dst='ff:ff:ff:ff:ff:ff')/ARP(op=1,hwsrc='${A}',psrc='10.0.0.1',hwdst='00:00:00:00:00:00',pdst='10.0.0.2')`,
  },
  {
    name: 'ARP reply, padded to 60 bytes',
    build: () => eth().arp({ op: 2, sha: B, spa: '10.0.0.2', tha: A, tpa: '10.0.0.1' }).pad(60),
    scapy: `${ETH}/ARP(op=2,hwsrc='${B}',psrc='10.0.0.2',hwdst='${A}',pdst='10.0.0.1')/Padding(b'\\x00'*18)`,
  },
  {
    name: 'IPv6 neighbor solicitation with a source link-layer option',
    build: () => new FrameBuilder().eth({ src: A, dst: '33:33:ff:00:00:02' })
      .ipv6({ src: 'fd00:0:0:1::1', dst: 'ff02::1:ff00:2', hopLimit: 255 })
      .icmpv6({ kind: 'neighborSolicit', code: 0, checksum: -1, reserved: 0, target: ipv6Bytes('fd00:0:0:1::2', 't'), options: [{ kind: 'sourceLinkAddr', addr: macBytes(A, 'a') }] }),
    scapy: `Ether(src='${A}',dst='33:33:ff:00:00:02')/IPv6(src='fd00:0:0:1::1',dst='ff02::1:ff00:2',hlim=255)/ICMPv6ND_NS(tgt='fd00:0:0:1::2')/ICMPv6NDOptSrcLLAddr(lladdr='${A}')`,
  },
  {
    name: 'IPv6 neighbor advertisement (S, O) with a target link-layer option',
    build: () => new FrameBuilder().eth({ src: B, dst: A })
      .ipv6({ src: 'fd00:0:0:1::2', dst: 'fd00:0:0:1::1', hopLimit: 255 })
      .icmpv6({
        kind: 'neighborAdvert', code: 0, checksum: -1, router: false, solicited: true, override: true, reserved: 0,
        target: ipv6Bytes('fd00:0:0:1::2', 't'), options: [{ kind: 'targetLinkAddr', addr: macBytes(B, 'b') }],
      }),
    scapy: `Ether(src='${B}',dst='${A}')/IPv6(src='fd00:0:0:1::2',dst='fd00:0:0:1::1',hlim=255)/ICMPv6ND_NA(tgt='fd00:0:0:1::2',R=0,S=1,O=1)/ICMPv6NDOptDstLLAddr(lladdr='${B}')`,
  },
  {
    name: 'ICMPv6 echo request',
    build: () => eth().ipv6({ src: 'fd00::1', dst: 'fd00::2' }).icmpv6({ type: 128, ident: 0x72b5, seq: 1 }).payload('ping6'),
    scapy: `${ETH}/IPv6(src='fd00::1',dst='fd00::2')/ICMPv6EchoRequest(id=0x72b5,seq=1,data=b'ping6')`,
  },
  {
    name: 'IPv6/UDP with a flow label and traffic class',
    build: () => eth().ipv6({ src: 'fd00::1', dst: 'fd00::2', trafficClass: 0xb8, flowLabel: 0x12345 }).udp({ srcPort: 52100, dstPort: 5000 }).payload('hello over v6'),
    scapy: `${ETH}/IPv6(src='fd00::1',dst='fd00::2',tc=0xb8,fl=0x12345)/UDP(sport=52100,dport=5000)/Raw(b'hello over v6')`,
  },
  {
    name: 'IPv6 hop-by-hop (router alert, PadN) + ICMPv6 echo',
    build: () => eth().ipv6({ src: 'fd00::1', dst: 'fd00::2', nextHeader: 0, extHeaders: Uint8Array.from([58, 0, 5, 2, 0, 0, 1, 0]) })
      .icmpv6({ type: 128, ident: 0x77, seq: 1 }).payload('x'),
    scapy: `${ETH}/IPv6(src='fd00::1',dst='fd00::2')/IPv6ExtHdrHopByHop(options=[RouterAlert(value=0),PadN(optdata=b'')])/ICMPv6EchoRequest(id=0x77,seq=1,data=b'x')`,
  },
  {
    name: 'IPv6 segment routing header: the checksum uses the final segment',
    build: () => eth().ipv6({
      src: 'fd00::1', dst: 'fd00::a', nextHeader: 43,
      extHeaders: Uint8Array.from([17, 4, 4, 1, 1, 0, 0, 0, ...ipv6Bytes('fd00::2', 's0'), ...ipv6Bytes('fd00::a', 's1')]),
    }).udp({ srcPort: 6000, dstPort: 6001 }).payload('srh'),
    scapy: `${ETH}/IPv6(src='fd00::1',dst='fd00::a')/IPv6ExtHdrSegmentRouting(addresses=['fd00::2','fd00::a'],segleft=1,lastentry=1)/UDP(sport=6000,dport=6001)/Raw(b'srh')`,
  },
  {
    name: '802.1Q tag with PCP 3 on VLAN 100',
    build: () => eth().vlan({ vid: 100, pcp: 3 }).ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).udp({ srcPort: 40000, dstPort: 40001 }).payload('tagged'),
    scapy: `${ETH}/Dot1Q(vlan=100,prio=3)/IP(src='10.0.0.1',dst='10.0.0.2')/UDP(sport=40000,dport=40001)/Raw(b'tagged')`,
  },
  {
    name: '802.1Q VLAN 4094 with DEI carrying IPv6/UDP',
    build: () => eth().vlan({ vid: 4094, dei: 1 }).ipv6({ src: 'fd00::1', dst: 'fd00::2' }).udp({ srcPort: 40000, dstPort: 40001 }).payload('dei'),
    scapy: `${ETH}/Dot1Q(vlan=4094,id=1)/IPv6(src='fd00::1',dst='fd00::2')/UDP(sport=40000,dport=40001)/Raw(b'dei')`,
  },
  {
    name: 'QinQ: 802.1ad S-tag 300 over C-tag 100, ICMP',
    build: () => eth().vlan({ vid: 300, tpid: 0x88a8 }).vlan({ vid: 100 }).ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).icmp({ ident: 1, seq: 1 }),
    scapy: `${ETH}/Dot1AD(vlan=300)/Dot1Q(vlan=100)/IP(src='10.0.0.1',dst='10.0.0.2')/ICMP(id=1,seq=1)`,
  },
  {
    name: 'double 802.1Q tags 10/20',
    build: () => eth().vlan({ vid: 10 }).vlan({ vid: 20 }).ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).udp({ srcPort: 40000, dstPort: 40001 }).payload('qq'),
    scapy: `${ETH}/Dot1Q(vlan=10)/Dot1Q(vlan=20)/IP(src='10.0.0.1',dst='10.0.0.2')/UDP(sport=40000,dport=40001)/Raw(b'qq')`,
  },
  {
    name: 'VXLAN (VNI 5001) with inner Ethernet/IPv4/TCP',
    build: () => eth().ipv4({ src: '192.168.100.1', dst: '192.168.100.2' }).udp({ srcPort: 49152 }).vxlan({ vni: 5001 })
      .eth({ src: '02:00:00:00:02:01', dst: '02:00:00:00:02:02' }).ipv4({ src: '10.200.0.1', dst: '10.200.0.2' })
      .tcp({ srcPort: 57592, dstPort: 8080, seq: 1, ack: 1, flags: 'PA', window: 502 }).payload('inner payload'),
    scapy: `${ETH}/IP(src='192.168.100.1',dst='192.168.100.2')/UDP(sport=49152,dport=4789)/VXLAN(flags=0x08,vni=5001)/Ether(src='02:00:00:00:02:01',dst='02:00:00:00:02:02')/IP(src='10.200.0.1',dst='10.200.0.2')/TCP(sport=57592,dport=8080,seq=1,ack=1,flags='PA',window=502)/Raw(b'inner payload')`,
  },
  {
    name: 'VXLAN with a VNI whose top byte is set',
    build: () => eth().ipv4({ src: '192.168.100.1', dst: '192.168.100.2' }).udp({ srcPort: 50000 }).vxlan({ vni: 16000000 })
      .eth({ src: A, dst: B }).arp({ op: 1, sha: A, spa: '10.200.0.1', tpa: '10.200.0.2' }),
    scapy: `${ETH}/IP(src='192.168.100.1',dst='192.168.100.2')/UDP(sport=50000,dport=4789)/VXLAN(flags=0x08,vni=16000000)/${ETH}/ARP(op=1,hwsrc='${A}',psrc='10.200.0.1',hwdst='00:00:00:00:00:00',pdst='10.200.0.2')`,
  },
  {
    name: 'VXLAN whose inner frame is padded to 60 bytes: the outer lengths and checksum cover the padding',
    build: () => eth().ipv4({ src: '192.168.100.1', dst: '192.168.100.2' }).udp({ srcPort: 50001 }).vxlan({ vni: 7 })
      .eth({ src: A, dst: B, trailer: new Uint8Array(18) }).arp({ op: 1, sha: A, spa: '10.200.0.1', tpa: '10.200.0.2' }),
    scapy: `${ETH}/IP(src='192.168.100.1',dst='192.168.100.2')/UDP(sport=50001,dport=4789)/VXLAN(flags=0x08,vni=7)/${ETH}/ARP(op=1,hwsrc='${A}',psrc='10.200.0.1',hwdst='00:00:00:00:00:00',pdst='10.200.0.2')/Raw(b'\\x00'*18)`,
  },
  {
    name: 'Geneve with two options and the C flag, inner ICMP echo',
    build: () => eth().ipv4({ src: '10.200.0.1', dst: '10.200.0.2' }).udp({ srcPort: 49153 }).geneve({
      vni: 0x1234, critical: true,
      options: [GeneveRepr.option(0x0102, 0x80, Uint8Array.from([0, 0, 0, 0x2a])), GeneveRepr.option(0xffff, 0x01, Uint8Array.from([0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]))],
    }).eth({ src: A, dst: B }).ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).icmp({ ident: 0x4242, seq: 1 }),
    scapy: `${ETH}/IP(src='10.200.0.1',dst='10.200.0.2')/UDP(sport=49153,dport=6081)/GENEVE(vni=0x1234,proto=0x6558,critical=1,optionlen=5,options=[GeneveOptions(classid=0x0102,type=0x80,data=b'\\x00\\x00\\x00\\x2a'),GeneveOptions(classid=0xffff,type=0x01,data=b'\\xde\\xad\\xbe\\xef\\x01\\x02\\x03\\x04')])/${ETH}/IP(src='10.0.0.1',dst='10.0.0.2')/ICMP(id=0x4242,seq=1)`,
  },
  {
    name: 'Geneve OAM carrying IPv4 directly (protocol 0x0800)',
    build: () => eth().ipv4({ src: '10.200.0.1', dst: '10.200.0.2' }).udp({ srcPort: 49155 }).geneve({ vni: 7, oam: true })
      .ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).udp({ srcPort: 40000, dstPort: 40001 }).payload('oam'),
    scapy: `${ETH}/IP(src='10.200.0.1',dst='10.200.0.2')/UDP(sport=49155,dport=6081)/GENEVE(vni=7,proto=0x0800,oam=1)/IP(src='10.0.0.1',dst='10.0.0.2')/UDP(sport=40000,dport=40001)/Raw(b'oam')`,
  },
  {
    name: 'IPv4 Router Alert option on UDP',
    build: () => eth().ipv4({ src: '10.0.0.1', dst: '224.0.0.22', ttl: 1, options: Uint8Array.from([0x94, 4, 0, 0]) }).udp({ srcPort: 4000, dstPort: 4001 }).payload('igmp-ish'),
    scapy: `${ETH}/IP(src='10.0.0.1',dst='224.0.0.22',ttl=1,options=[IPOption_Router_Alert()])/UDP(sport=4000,dport=4001)/Raw(b'igmp-ish')`,
  },
  {
    name: 'IPv4 Record Route (padded with EOL to the header length)',
    build: () => eth().ipv4({ src: '10.0.0.1', dst: '10.0.0.2', options: Uint8Array.from([7, 11, 4, ...new Array<number>(8).fill(0)]) }).icmp({ ident: 1, seq: 1 }),
    scapy: `${ETH}/IP(src='10.0.0.1',dst='10.0.0.2',options=[IPOption_RR(pointer=4,routers=['0.0.0.0','0.0.0.0'])])/ICMP(id=1,seq=1)`,
  },
  {
    name: 'IPv4 loose source route: the UDP checksum uses the final destination',
    build: () => eth().ipv4({ src: '10.0.0.1', dst: '10.0.1.254', options: Uint8Array.from([1, 131, 11, 4, 10, 0, 1, 254, 10, 0, 2, 1]) })
      .udp({ srcPort: 1000, dstPort: 2000 }).payload('lsrr'),
    scapy: `${ETH}/IP(src='10.0.0.1',dst='10.0.1.254',options=[IPOption_NOP(),IPOption_LSRR(pointer=4,routers=['10.0.1.254','10.0.2.1'])])/UDP(sport=1000,dport=2000)/Raw(b'lsrr')`,
  },
  {
    name: 'IPv4 first fragment (MF) and a later fragment with an offset',
    build: () => eth().ipv4({ src: '10.0.0.1', dst: '10.0.0.2', ident: 0x1234, mf: true, fragOffset: 1200, protocol: 17 }).payload(new Uint8Array(64).fill(0x5a)),
    scapy: `${ETH}/IP(src='10.0.0.1',dst='10.0.0.2',id=0x1234,flags='MF',frag=150,proto=17)/Raw(b'\\x5a'*64)`,
  },
  {
    name: 'IPv4 with the reserved (evil) flag and DF, DSCP/ECN',
    build: () => eth().ipv4({ src: '10.0.0.1', dst: '10.0.0.2', reservedFlag: true, df: true, dscp: 46, ecn: 1 }).udp({ srcPort: 7, dstPort: 7 }),
    scapy: `${ETH}/IP(src='10.0.0.1',dst='10.0.0.2',flags='evil+DF',tos=0xb9)/UDP(sport=7,dport=7)`,
  },
  {
    name: 'explicit bad IPv4 and UDP checksums',
    build: () => eth().ipv4({ src: '10.0.0.1', dst: '10.0.0.2', checksum: 0x1234 }).udp({ srcPort: 1, dstPort: 2, checksum: 0xbeef }).payload('bad'),
    scapy: `${ETH}/IP(src='10.0.0.1',dst='10.0.0.2',chksum=0x1234)/UDP(sport=1,dport=2,chksum=0xbeef)/Raw(b'bad')`,
    bad: ['ip.checksum.status', 'udp.checksum.status'],
  },
  {
    name: 'explicit bad TCP checksum',
    build: () => eth().ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).tcp({ flags: 'A', checksum: 0 }),
    scapy: `${ETH}/IP(src='10.0.0.1',dst='10.0.0.2')/TCP(flags='A',chksum=0)`,
    bad: ['tcp.checksum.status'],
  },
  {
    name: 'explicit bad ICMPv6 checksum',
    build: () => eth().ipv6({ src: 'fd00::1', dst: 'fd00::2' }).icmpv6({ type: 129, ident: 5, seq: 6, checksum: 0xabcd }),
    scapy: `${ETH}/IPv6(src='fd00::1',dst='fd00::2')/ICMPv6EchoReply(id=5,seq=6,cksum=0xabcd)`,
    bad: ['icmpv6.checksum.status'],
  },
];

/** Bytes of each scapy expression, in one Python run. */
function scapyMany(exprs: string[]): Uint8Array[] {
  const code = 'load_contrib("geneve")\n' + exprs.map((e) => `print(bytes(${e}).hex())`).join('\n');
  const lines = scapy(code).trim().split('\n').filter((l) => /^[0-9a-f]*$/.test(l));
  expect(lines).toHaveLength(exprs.length);
  return lines.map((h) => Uint8Array.from(Buffer.from(h, 'hex')));
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('FrameBuilder', () => {
  it('builds a frame its own dissector decodes with every checksum good', () => {
    for (const c of CASES) {
      const d = dissect(c.build().build());
      expect(d.error, c.name).toBeNull();
      for (const l of d.layers) {
        for (const [k, v] of l.fields) {
          if (!k.endsWith('checksum.status')) continue;
          if (c.bad?.includes(k)) continue;
          expect(v === '1' || (c.quoted === true && v === '2'), `${c.name}: ${k} = ${v}`).toBe(true);
        }
      }
      for (const k of c.bad ?? []) expect(fieldValues(d, k), c.name).toContain('0');
    }
  });

  it('writes a VXLAN header into headroom without copying the inner frame', () => {
    const b = new FrameBuilder().eth({ src: A, dst: B }).ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).udp({ srcPort: 1, dstPort: 2 }).payload('inner');
    const plain = b.build();
    const { buf, off, end } = b.buildWithHeadroom(64);
    expect(off).toBe(64);
    expect(end).toBe(buf.length);
    expect(hex(buf.subarray(off, end))).toBe(hex(plain));
    const inner = buf.subarray(off, end);
    const at = pushVxlan(buf, off, 5001);
    expect(at).toBe(off - VXLAN_HEADER_LEN);
    expect(hex(buf.subarray(at, off))).toBe('0800000000138900');
    // same memory: the view taken before the push still shows the inner frame
    expect(inner.buffer).toBe(buf.buffer);
    expect(hex(inner)).toBe(hex(plain));
    // not enough headroom: the fast path gets -1, never an exception
    expect(pushVxlan(b.buildWithHeadroom(4).buf, 4, 1)).toBe(-1);
  });

  it('pads and appends a trailer that no length covers', () => {
    const f = new FrameBuilder().eth({ src: A, dst: B }).ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).udp({ srcPort: 1, dstPort: 2 })
      .trailer(Uint8Array.from([0xde, 0xad])).pad(60).build();
    expect(f.length).toBe(60);
    expect(hex(f.subarray(42, 44))).toBe('dead');
    expect(f.subarray(44).every((x) => x === 0)).toBe(true);
    const d = dissect(f);
    expect(fieldValues(d, 'ip.len')).toEqual(['28']);
    expect(fieldValues(d, 'udp.checksum.status')).toEqual(['1']);
  });

  it('keeps an inner Ethernet trailer inside the tunnel payload and the outer trailer outside every length', () => {
    const f = new FrameBuilder().eth({ src: A, dst: B }).ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).udp({ srcPort: 1 }).vxlan({ vni: 1 })
      .eth({ src: A, dst: B, trailer: new Uint8Array(18) }).arp({ op: 1 }).trailer(Uint8Array.from([7, 7])).build();
    expect(f.length).toBe(50 + 42 + 18 + 2);
    const d = dissect(f);
    expect(fieldValues(d, 'udp.length')).toEqual([String(8 + 8 + 60)]);
    expect(fieldValues(d, 'ip.len')).toEqual([String(20 + 8 + 8 + 60)]);
    expect(fieldValues(d, 'udp.checksum.status')).toEqual(['1']);
    expect(fieldValues(d, 'eth.padding')).toEqual(['00'.repeat(18)]);
    expect(fieldValues(d, 'eth.trailer')).toEqual(['0707']);
  });

  it('writes an 802.3 length in place of the EtherType', () => {
    const f = new FrameBuilder().eth({ src: A, dst: B, type: 3 }).payload(Uint8Array.from([0x42, 0x42, 0x03])).build();
    expect(hex(f.subarray(12, 17))).toBe('0003424203');
    expect(fieldValues(dissect(f), 'eth.len')).toEqual(['3']);
  });

  it('writes ARP with other address sizes through the view', () => {
    const f = new FrameBuilder().eth({ src: A, dst: B }).arp({
      hwType: 6, protoType: 0x86dd, sha: A, tha: B, spa: ipv6Bytes('fd00::1', 's'), tpa: ipv6Bytes('fd00::2', 't'),
    }).build();
    expect(hex(f.subarray(14, 22))).toBe('000686dd06100001');
    expect(f.length).toBe(14 + 8 + 2 * (6 + 16));
    expect(fieldValues(dissect(f), 'arp.src.proto')).toEqual(['fd000000000000000000000000000001']);
  });

  it('rejects impossible input with InputError naming the field', () => {
    const code = (f: () => unknown): [string, string] => {
      try { f(); } catch (e) { if (e instanceof InputError) return [e.code, e.path]; throw e; }
      throw new Error('did not throw');
    };
    expect(code(() => new FrameBuilder().eth({ src: '02:00:00:00:00' }))).toEqual(['BUILD_BAD_MAC', 'eth.src']);
    expect(code(() => new FrameBuilder().ipv4({ dst: '10.0.0.256' }))).toEqual(['BUILD_BAD_IPV4', 'ip.dst']);
    expect(code(() => new FrameBuilder().ipv6({ src: 'fd00:::1' }))).toEqual(['BUILD_BAD_IPV6', 'ipv6.src']);
    expect(code(() => new FrameBuilder().vlan({ vid: 1 }))).toEqual(['BUILD_BAD_ORDER', 'vlan']);
    expect(code(() => new FrameBuilder().vxlan({ vni: 1 << 24 }))).toEqual(['BUILD_BAD_VNI', 'vxlan.vni']);
    expect(code(() => tcpFlagsOf('SX'))).toEqual(['BUILD_BAD_TCP_FLAGS', 'tcp.flags']);
    expect(code(() => new FrameBuilder().ipv4({ hdrLen: 22 }))).toEqual(['BUILD_BAD_VALUE', 'ip.hdr_len']);
    expect(code(() => new FrameBuilder().eth().ipv4().tcp({ truncate: 8 }).udp().build())).toEqual(['BUILD_BAD_ORDER', 'tcp']);
    expect(code(() => new FrameBuilder().eth().arp().udp().build())).toEqual(['BUILD_BAD_ORDER', 'udp']);
    expect(code(() => new FrameBuilder().eth().ipv6({ extHeaders: new Uint8Array(8) }).udp().build())).toEqual(['BUILD_BAD_ORDER', 'ipv6.nxt']);
  });

  it('reports a value no header can carry as WireError', () => {
    expect(() => new FrameBuilder().eth().ipv4({ fragOffset: 12 }).build()).toThrow(WireError);
    expect(() => new FrameBuilder().eth().ipv4({ options: new Uint8Array(44) }).build()).toThrow(WireError);
  });

  // Every numeric option, one past its field's range (or negative, or not an
  // integer), and the Wireshark field the error must name. Before the range
  // checks these were cut to the field's width: ttl 300 became 44.
  const OUT_OF_RANGE: [string, () => unknown, string][] = [
    ['eth type', () => eth().eth({ type: 0x10000 }), 'eth.type'],
    ['VLAN id 5000 (was 904)', () => eth().vlan({ vid: 5000 }), 'vlan.id'],
    ['VLAN priority', () => eth().vlan({ vid: 1, pcp: 8 }), 'vlan.priority'],
    ['VLAN DEI', () => eth().vlan({ vid: 1, dei: 2 }), 'vlan.dei'],
    ['S-tag id', () => eth().vlan({ vid: 4096, tpid: 0x88a8 }), 'ieee8021ad.id'],
    ['first TPID', () => eth().vlan({ vid: 1, tpid: 0x10000 }), 'eth.type'],
    ['second TPID', () => eth().vlan({ vid: 1 }).vlan({ vid: 2, tpid: -1 }), 'vlan.etype'],
    ['ARP opcode', () => eth().arp({ op: 0x10000 }), 'arp.opcode'],
    ['ARP hardware size', () => eth().arp({ hwSize: 256 }), 'arp.hw.size'],
    ['ARP protocol type', () => eth().arp({ protoType: 0x10000 }), 'arp.proto.type'],
    ['TTL 300 (was 44)', () => eth().ipv4({ ttl: 300 }), 'ip.ttl'],
    ['TTL 1.5', () => eth().ipv4({ ttl: 1.5 }), 'ip.ttl'],
    ['TTL NaN', () => eth().ipv4({ ttl: NaN }), 'ip.ttl'],
    ['IP ident', () => eth().ipv4({ ident: 0x10000 }), 'ip.id'],
    ['DSCP', () => eth().ipv4({ dscp: 64 }), 'ip.dsfield.dscp'],
    ['ECN', () => eth().ipv4({ ecn: 4 }), 'ip.dsfield.ecn'],
    ['fragment offset', () => eth().ipv4({ fragOffset: 0x10000 }), 'ip.frag_offset'],
    ['negative fragment offset', () => eth().ipv4({ fragOffset: -8 }), 'ip.frag_offset'],
    ['IP protocol', () => eth().ipv4({ protocol: 256 }), 'ip.proto'],
    ['IP total length', () => eth().ipv4({ totalLength: 0x10000 }), 'ip.len'],
    ['IP checksum', () => eth().ipv4({ checksum: -2 }), 'ip.checksum'],
    ['hop limit', () => eth().ipv6({ hopLimit: 256 }), 'ipv6.hlim'],
    ['traffic class', () => eth().ipv6({ trafficClass: 256 }), 'ipv6.tclass'],
    ['flow label', () => eth().ipv6({ flowLabel: 0x100000 }), 'ipv6.flow'],
    ['next header', () => eth().ipv6({ nextHeader: 256 }), 'ipv6.nxt'],
    ['payload length', () => eth().ipv6({ payloadLength: 0x10000 }), 'ipv6.plen'],
    ['UDP source port 70000 (was 4464)', () => eth().ipv4().udp({ srcPort: 70000 }), 'udp.srcport'],
    ['UDP destination port', () => eth().ipv4().udp({ dstPort: -1 }), 'udp.dstport'],
    ['UDP length', () => eth().ipv4().udp({ length: 0x10000 }), 'udp.length'],
    ['UDP checksum', () => eth().ipv4().udp({ checksum: 0x10000 }), 'udp.checksum'],
    ['TCP source port', () => eth().ipv4().tcp({ srcPort: 0x10000 }), 'tcp.srcport'],
    ['TCP destination port', () => eth().ipv4().tcp({ dstPort: 0x10000 }), 'tcp.dstport'],
    ['TCP seq beyond 2^32', () => eth().ipv4().tcp({ seq: 2 ** 32 }), 'tcp.seq'],
    ['TCP ack negative', () => eth().ipv4().tcp({ ack: -1 }), 'tcp.ack'],
    ['TCP flags beyond 12 bits', () => eth().ipv4().tcp({ flags: 0x1000 }), 'tcp.flags'],
    ['TCP flags as hex text', () => eth().ipv4().tcp({ flags: '0x1002' }), 'tcp.flags'],
    ['TCP window', () => eth().ipv4().tcp({ window: 65536 }), 'tcp.window_size_value'],
    ['TCP urgent pointer', () => eth().ipv4().tcp({ urgent: 65536 }), 'tcp.urgent_pointer'],
    ['TCP data offset (words)', () => eth().ipv4().tcp({ dataOffset: 16 }), 'tcp.hdr_len'],
    ['TCP checksum', () => eth().ipv4().tcp({ checksum: 0x10000 }), 'tcp.checksum'],
    ['MSS value', () => eth().ipv4().tcp({ options: [{ kind: 'mss', value: 70000 }] }), 'tcp.options.mss_val'],
    ['window scale shift', () => eth().ipv4().tcp({ options: [{ kind: 'wscale', shift: 256 }] }), 'tcp.options.wscale.shift'],
    ['SACK edge', () => eth().ipv4().tcp({ options: [{ kind: 'sack', blocks: [[1, 2 ** 32]] }] }), 'tcp.options.sack_re'],
    ['timestamp value', () => eth().ipv4().tcp({ options: [{ kind: 'timestamp', tsval: 2 ** 32, tsecr: 0 }] }), 'tcp.options.timestamp.tsval'],
    ['option kind', () => eth().ipv4().tcp({ options: [{ kind: 'unknown', type: 256, data: new Uint8Array(0) }] }), 'tcp.option_kind'],
    ['option length byte', () => eth().ipv4().tcp({ options: [{ kind: 'unknown', type: 99, data: new Uint8Array(254) }] }), 'tcp.option_len'],
    ['ICMP type', () => eth().ipv4().icmp({ type: 256 }), 'icmp.type'],
    ['ICMP code', () => eth().ipv4().icmp({ code: 256 }), 'icmp.code'],
    ['ICMP ident', () => eth().ipv4().icmp({ ident: 0x10000 }), 'icmp.ident'],
    ['ICMP sequence', () => eth().ipv4().icmp({ seq: -1 }), 'icmp.seq'],
    ['ICMP next-hop MTU', () => eth().ipv4().icmp({ type: 3, code: 4, mtu: 0x10000 }), 'icmp.mtu'],
    ['ICMP rest of header', () => eth().ipv4().icmp({ rest: 2 ** 32 }), 'icmp'],
    ['ICMP checksum', () => eth().ipv4().icmp({ checksum: 0x10000 }), 'icmp.checksum'],
    ['ICMPv6 type', () => eth().ipv6().icmpv6({ type: 256 }), 'icmpv6.type'],
    ['ICMPv6 code', () => eth().ipv6().icmpv6({ code: 256 }), 'icmpv6.code'],
    ['ICMPv6 echo identifier', () => eth().ipv6().icmpv6({ ident: 0x10000 }), 'icmpv6.echo.identifier'],
    ['ICMPv6 packet-too-big MTU', () => eth().ipv6().icmpv6({ kind: 'packetTooBig', code: 0, checksum: -1, mtu: 2 ** 32 }), 'icmpv6.mtu'],
    ['RA hop limit', () => eth().ipv6().icmpv6({ kind: 'routerAdvert', code: 0, checksum: -1, curHopLimit: 256, flags: 0, routerLifetime: 0, reachableTime: 0, retransTimer: 0, options: [] }), 'icmpv6.nd.ra.cur_hop_limit'],
    ['NA reserved bits', () => eth().ipv6().icmpv6({ kind: 'neighborAdvert', code: 0, checksum: -1, router: false, solicited: false, override: false, reserved: 0x20000000, target: new Uint8Array(16), options: [] }), 'icmpv6.nd.na.flag.rsv'],
    ['ND MTU option', () => eth().ipv6().icmpv6({ kind: 'routerSolicit', code: 0, checksum: -1, reserved: 0, options: [{ kind: 'mtu', reserved: 0, mtu: 2 ** 32 }] }), 'icmpv6.opt.mtu'],
    ['ND option too long for its length byte', () => eth().ipv6().icmpv6({ kind: 'routerSolicit', code: 0, checksum: -1, reserved: 0, options: [{ kind: 'unknown', type: 200, data: new Uint8Array(2046) }] }), 'icmpv6.opt.length'],
    ['VXLAN flags', () => eth().ipv4().udp().vxlan({ vni: 1, flags: 256 }), 'vxlan.flags'],
    ['VXLAN GBP/reserved', () => eth().ipv4().udp().vxlan({ vni: 1, reserved24: 0x1000000 }), 'vxlan.gbp'],
    ['VXLAN reserved byte', () => eth().ipv4().udp().vxlan({ vni: 1, reserved8: 256 }), 'vxlan.reserved8'],
    ['Geneve protocol type', () => eth().ipv4().udp().geneve({ vni: 1, protocolType: 0x10000 }), 'geneve.proto_type'],
    ['Geneve reserved flags', () => eth().ipv4().udp().geneve({ vni: 1, reservedFlags: 64 }), 'geneve.flags.reserved'],
    ['Geneve reserved byte', () => eth().ipv4().udp().geneve({ vni: 1, reserved: 256 }), 'geneve.reserved'],
    ['Geneve option class', () => eth().ipv4().udp().geneve({ vni: 1, options: [GeneveRepr.option(0x10000, 1, new Uint8Array(4))] }), 'geneve.option.class'],
    ['pad length', () => eth().pad(-1), 'frame.len'],
  ];

  it('checkUint: the value itself in range, else InputError with the given code and path', () => {
    expect(checkUint(0, 255, 'ip.ttl')).toBe(0);
    expect(checkUint(255, 255, 'ip.ttl')).toBe(255);
    expect(checkUint(0xffffffff, 0xffffffff, 'tcp.seq')).toBe(0xffffffff);
    for (const bad of [256, -1, 1.5, NaN, Infinity]) {
      const e = (() => { try { checkUint(bad, 255, 'ip.ttl'); } catch (x) { return x; } return null; })();
      expect(e, String(bad)).toBeInstanceOf(InputError);
      expect([(e as InputError).code, (e as InputError).path]).toEqual(['BUILD_BAD_VALUE', 'ip.ttl']);
    }
    expect(() => checkUint(300, 255, '[2].ip.ttl[1]', 'ENCODE_BAD_VALUE')).toThrow(expect.objectContaining({ code: 'ENCODE_BAD_VALUE', path: '[2].ip.ttl[1]' }));
    expect(() => checkUint('7' as unknown as number, 255, 'ip.ttl')).toThrow(InputError);
  });

  it('tcpFlagsOf rejects a number beyond the 12 flag bits instead of masking it', () => {
    expect(tcpFlagsOf(0xfff)).toBe(0xfff);
    expect(tcpFlagsOf('0x0012')).toBe(0x12);
    expect(() => tcpFlagsOf(0x1002)).toThrow(expect.objectContaining({ code: 'BUILD_BAD_VALUE', path: 'tcp.flags' }));
    expect(() => tcpFlagsOf('0x1002', 'x.flags')).toThrow(expect.objectContaining({ code: 'BUILD_BAD_VALUE', path: 'x.flags' }));
  });

  it('ipv4FinalDstAt finds the last address of a live source route, as dissect/ipv4.ts does', () => {
    // NOP, LSRR len 11 ptr 4 (two addresses): the final destination is the last 4 bytes of the option
    expect(ipv4FinalDstAt(Uint8Array.from([1, 131, 11, 4, 10, 0, 1, 254, 10, 0, 2, 1]))).toBe(8);
    expect(ipv4FinalDstAt(Uint8Array.from([137, 7, 4, 10, 0, 0, 9, 0]))).toBe(3);
    // a pointer past the end (route used up), a misaligned pointer, record route, EOL first, a cut option
    expect(ipv4FinalDstAt(Uint8Array.from([137, 11, 12, 10, 0, 0, 5, 10, 0, 0, 6, 0]))).toBe(-1);
    expect(ipv4FinalDstAt(Uint8Array.from([131, 7, 5, 10, 0, 0, 9, 0]))).toBe(-1);
    expect(ipv4FinalDstAt(Uint8Array.from([7, 7, 4, 10, 0, 0, 9, 0]))).toBe(-1);
    expect(ipv4FinalDstAt(Uint8Array.from([0, 131, 7, 4, 10, 0, 0, 9]))).toBe(-1);
    expect(ipv4FinalDstAt(Uint8Array.from([131, 11, 4, 10, 0, 0, 9]))).toBe(-1);
    expect(ipv4FinalDstAt(new Uint8Array(0))).toBe(-1);
  });

  it('rejects every out-of-range number with BUILD_BAD_VALUE naming the Wireshark field', () => {
    for (const [name, f, path] of OUT_OF_RANGE) {
      let err: unknown;
      try { f(); } catch (e) { err = e; }
      expect(err, name).toBeInstanceOf(InputError);
      expect([(err as InputError).code, (err as InputError).path], name).toEqual(['BUILD_BAD_VALUE', path]);
    }
    expect(() => eth().build()).not.toThrow();
    expect(() => new FrameBuilder().eth().buildWithHeadroom(-1)).toThrow(InputError);
  });

  it('accepts every field at the top of its range and writes it whole', () => {
    const f = eth().vlan({ vid: 4095, pcp: 7, dei: 1 })
      .ipv4({ src: '10.0.0.1', dst: '10.0.0.2', ttl: 255, ident: 0xffff, dscp: 63, ecn: 3, fragOffset: 0xfff8, protocol: 17 })
      .payload(new Uint8Array(8)).build();
    const d = dissect(f);
    expect(d.error).toBeNull();
    expect(fieldValues(d, 'vlan.id')).toEqual(['4095']);
    expect(fieldValues(d, 'vlan.priority')).toEqual(['7']);
    expect(fieldValues(d, 'ip.ttl')).toEqual(['255']);
    expect(fieldValues(d, 'ip.id')).toEqual(['0xffff']);
    expect(fieldValues(d, 'ip.dsfield')).toEqual(['0xff']);
    expect(fieldValues(d, 'ip.frag_offset')).toEqual(['8191']);
    const t = dissect(eth().ipv4().tcp({ srcPort: 65535, dstPort: 65535, seq: 0xffffffff, ack: 0xffffffff, flags: 0xfff, window: 65535 }).build());
    expect(fieldValues(t, 'tcp.seq_raw')).toEqual(['4294967295']);
    expect(fieldValues(t, 'tcp.flags')).toEqual(['0x0fff']);
    expect(fieldValues(t, 'tcp.srcport')).toEqual(['65535']);
    // -1 is the Reprs' "compute it", accepted for every computed length and checksum
    expect(hex(eth().ipv4({ totalLength: -1, checksum: -1 }).udp({ length: -1, checksum: -1 }).build()))
      .toBe(hex(eth().ipv4().udp().build()));
  });

  it('rejects a computed length that does not fit its 16-bit field with BUILD_TOO_LONG naming it', () => {
    const tooLong = (f: () => unknown): [string, string] => {
      try { f(); } catch (e) { if (e instanceof InputError) return [e.code, e.path]; throw e; }
      throw new Error('did not throw');
    };
    // 20 + 8 + 65508 = 65536: the IPv4 total length is the first that overflows
    expect(tooLong(() => eth().ipv4().udp().payload(new Uint8Array(65508)).build())).toEqual(['BUILD_TOO_LONG', 'ip.len']);
    // with the IPv4 length given, the UDP length is next
    expect(tooLong(() => eth().ipv4({ totalLength: 0 }).udp().payload(new Uint8Array(65528)).build())).toEqual(['BUILD_TOO_LONG', 'udp.length']);
    expect(tooLong(() => eth().ipv6().payload(new Uint8Array(65536)).build())).toEqual(['BUILD_TOO_LONG', 'ipv6.plen']);
    // extension headers count in the payload length
    expect(tooLong(() => eth().ipv6({ nextHeader: 60, extHeaders: Uint8Array.from([59, 0, 1, 4, 0, 0, 0, 0]) }).payload(new Uint8Array(65528)).build()))
      .toEqual(['BUILD_TOO_LONG', 'ipv6.plen']);
    expect(tooLong(() => eth().ipv6({ payloadLength: 0 }).udp().payload(new Uint8Array(65528)).build())).toEqual(['BUILD_TOO_LONG', 'udp.length']);
    // an outer header counts the tunnel it carries: the inner IPv6 fits, the outer IPv4 does not
    expect(tooLong(() => eth().ipv4().udp().vxlan({ vni: 1 }).eth().ipv6().payload(new Uint8Array(65500)).build())).toEqual(['BUILD_TOO_LONG', 'ip.len']);
    // the largest that fits, and a given length, which is written as given
    const max = eth().ipv4().udp().payload(new Uint8Array(65507)).build();
    expect(fieldValues(dissect(max), 'ip.len')).toEqual(['65535']);
    expect(fieldValues(dissect(max), 'udp.length')).toEqual(['65515']);
    const given = eth().ipv4({ totalLength: 28 }).udp({ length: 8 }).payload(new Uint8Array(70000)).build();
    expect(given.length).toBe(14 + 28 + 70000);
  });

  it('round-trips arbitrary UDP/TCP over VLAN through its own dissector (property)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 4095 }), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }), fc.boolean(), fc.uint8Array({ maxLength: 64 }),
      (vid, src, dst, sport, dport, tcp, data) => {
        const b = new FrameBuilder().eth({ src: A, dst: B }).vlan({ vid }).ipv4({ src, dst });
        if (tcp) b.tcp({ srcPort: sport, dstPort: dport, flags: 'PA' }); else b.udp({ srcPort: sport, dstPort: dport });
        const d = dissect(b.payload(data).build());
        expect(d.error).toBeNull();
        expect(fieldValues(d, 'vlan.id')).toEqual([String(vid)]);
        expect(fieldValues(d, tcp ? 'tcp.checksum.status' : 'udp.checksum.status')).toEqual(['1']);
        expect(fieldValues(d, 'ip.checksum.status')).toEqual(['1']);
      },
    ), { numRuns: 200 });
  });
});

describeWith('scapy', 'FrameBuilder vs scapy', () => {
  it('builds the same bytes as scapy for every case', () => {
    const want = scapyMany(CASES.map((c) => c.scapy));
    CASES.forEach((c, i) => {
      expect(hex(c.build().build()), c.name).toBe(hex(want[i]!));
    });
  });

  it('writes the VXLAN header pushed into headroom as scapy does', () => {
    const inner = new FrameBuilder().eth({ src: A, dst: B }).ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).icmp({ ident: 9, seq: 9 });
    const { buf, off, end } = inner.buildWithHeadroom(VXLAN_HEADER_LEN);
    const at = pushVxlan(buf, off, 0xabcdef);
    const [want] = scapyMany([`VXLAN(flags=0x08,vni=0xabcdef)/${ETH}/IP(src='10.0.0.1',dst='10.0.0.2')/ICMP(id=9,seq=9)`]);
    expect(at).toBe(0);
    expect(hex(buf.subarray(at, end))).toBe(hex(want!));
  });
});

describeWith('tshark', 'FrameBuilder vs tshark', () => {
  it('every frame is well formed with good checksums (bad only where given)', () => {
    const frames = CASES.map((c) => c.build().build());
    const statusFields = ['ip.checksum.status', 'udp.checksum.status', 'tcp.checksum.status', 'icmp.checksum.status', 'icmpv6.checksum.status'];
    const { path, cleanup } = writeTempPcap(frames);
    try {
      const rows = tsharkFields(path, ['_ws.malformed', '_ws.expert', '_ws.expert.severity', 'frame.protocols', ...statusFields]);
      expect(rows).toHaveLength(CASES.length);
      rows.forEach((r, i) => {
        const c = CASES[i]!;
        expect(r['_ws.malformed'], c.name).toBe('');
        const errors = r['_ws.expert.severity']!.split(',').filter((s) => s === String(0x00800000));
        // the only error-level expert items allowed are the deliberate bad checksums
        // (tshark files a bad ICMPv6 checksum as a warning, the others as errors)
        expect(errors.length, `${c.name}: ${r['_ws.expert']}`).toBeLessThanOrEqual(c.bad?.length ?? 0);
        let seen = 0;
        for (const f of statusFields) {
          const vals = r[f] === '' ? [] : r[f]!.split(',');
          seen += vals.length;
          if (c.bad?.includes(f)) expect(vals, `${c.name}: ${f}`).toContain('0');
          else for (const v of vals) expect(v === '1' || (c.quoted === true && v === '2'), `${c.name}: ${f} = ${r[f]}`).toBe(true);
        }
        // every case with an IP header has at least one checksum tshark verified
        if (/:ipv?6?:|:ip:/.test(`:${r['frame.protocols']}:`)) expect(seen, c.name).toBeGreaterThan(0);
      });
    } finally {
      cleanup();
    }
  });
});
