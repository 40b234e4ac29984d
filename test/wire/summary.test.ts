/**
 * Tests of the one-line summaries (src/wire/summary.ts) against real tcpdump.
 *
 * The oracle is `TZ=UTC tcpdump -nn -e -S -r FILE` (tcpdump 4.99). Every line
 * is compared whole, after the normalisation the module comment documents and
 * nothing more:
 * - tcpdump starts the inner frame of a VXLAN packet on a new line: the
 *   continuation line is joined to its packet's line with one space;
 * - tcpdump's hex dump of undecoded bytes (lines starting with a tab and
 *   `0x`) is dropped;
 * - where tcpdump decodes a protocol sdnemu does not dissect (APP_DECODES
 *   below: HTTP, BCM-LI, LLC, LLDP), both lines are cut where that decode starts,
 *   after checking that sdnemu prints what the rule says it prints there.
 * Suites: golden lines (no tool needed), properties (fast-check), every
 * packet of every capture in pcap-samples/ vs tcpdump, and frames made with
 * scapy for what the samples lack (more ARP, ICMP and ICMPv6 types, IPv4 and
 * IPv6 oddities, TCP options, tags, tunnels, malformed headers and captures
 * cut short by a snaplen) vs tcpdump.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPcap, writePcap, type PcapRecord } from '../../src/pcap/index.js';
import type { Dissection, DissectLayer } from '../../src/wire/dissect.js';
import { dissect } from '../../src/wire/dissect/index.js';
import { summarize, timeOfDay } from '../../src/wire/summary.js';
import { describeWith, scapy, tempDir } from '../oracle/tools.js';

const DIR = 'pcap-samples';
const SAMPLES = readdirSync(DIR).filter((f) => /\.pcap(ng)?$/.test(f)).sort();

/** Our line for one capture record. */
function ours(r: PcapRecord): string {
  return summarize(dissect(r.data, { origLen: r.origLen, linktype: r.linktype }), r.data, r.tsSec, r.tsNsec, r.origLen, r.linktype);
}

/** tcpdump's lines for 'path', one per packet: continuation lines joined with a space, hex dumps dropped. */
function tcpdumpLines(path: string): string[] {
  const out = execFileSync('tcpdump', ['-nn', '-e', '-S', '-r', path], {
    encoding: 'utf8', env: { ...process.env, TZ: 'UTC' }, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20,
  });
  const lines: string[] = [];
  for (const l of out.split('\n')) {
    if (l === '' || l.startsWith('\t0x')) continue;
    // SLL2 (tcpdump -i any): tcpdump prints the name the READING machine has for the interface
    // index (`lo    `, or some unrelated interface); sdnemu prints only `ifindex N`
    const line = l.replace(/^(\d\d:\d\d:\d\d\.\d{6} )\S+ +((In|Out|B|M|P) +ifindex )/, '$1$2');
    if (/^\d\d:\d\d:\d\d\.\d{6} /.test(line) || lines.length === 0) lines.push(line);
    else lines[lines.length - 1] += ' ' + line;
  }
  return lines;
}

/**
 * tcpdump decodes of protocols sdnemu does not dissect: where 'theirs'
 * starts (in tcpdump's line) and what sdnemu prints from the same place
 * ('ours', matched against the rest of our line).
 */
const APP_DECODES: { name: string; theirs: RegExp; ours: RegExp }[] = [
  // HTTP on TCP 80/8080: tcpdump appends ": HTTP" (and the request line) after the TCP length
  { name: 'HTTP', theirs: /: HTTP.*$/, ours: /^$/ },
  // UDP source port 49152 is BCM-LI to tcpdump, checked before Geneve on 6081 (the dissector's choice)
  { name: 'BCM-LI', theirs: /BCM-LI-SHIM: .*$/, ours: /^Geneve, / },
  // LLC after an 802.3 length field or the 0x8870 jumbo type
  { name: 'LLC', theirs: /LLC, dsap .*$/, ours: /^$/ },
  // an EtherType with a tcpdump printer (LLDP here, after a Geneve header)
  { name: 'LLDP', theirs: /LLDP, length .*$/, ours: /^$/ },
];

/** Apply APP_DECODES to one pair of lines: both are cut where tcpdump's decode starts. */
function normalise(mine: string, theirs: string): [string, string] {
  for (const rule of APP_DECODES) {
    const m = rule.theirs.exec(theirs);
    if (m === null) continue;
    const rest = mine.slice(m.index);
    if (!rule.ours.test(rest)) return [mine, theirs]; // leave them different: the test shows both
    return [`${mine.slice(0, m.index)}<${rule.name}>`, `${theirs.slice(0, m.index)}<${rule.name}>`];
  }
  return [mine, theirs];
}

/** Our lines and tcpdump's for the records in 'path', normalised pairwise. */
function compareFile(path: string, recs: PcapRecord[]): { mine: string[]; theirs: string[] } {
  const raw = tcpdumpLines(path);
  const mine: string[] = [], theirs: string[] = [];
  recs.forEach((r, i) => {
    const [a, b] = normalise(ours(r), raw[i] ?? '<no tcpdump line>');
    mine.push(a);
    theirs.push(b);
  });
  // tcpdump printed exactly one line per packet
  expect(raw.length).toBe(recs.length);
  return { mine, theirs };
}

function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
}

function noLayers(frame: Uint8Array, layers: DissectLayer[] = []): Dissection {
  return { frameLen: frame.length, layers, error: null };
}

describe('summary: golden lines', () => {
  it('prints the time of day in UTC with microseconds, truncating nanoseconds', () => {
    expect(timeOfDay(0, 0)).toBe('00:00:00.000000');
    expect(timeOfDay(1700000000, 999_999_999)).toBe('22:13:20.999999');
    expect(timeOfDay(86399, 1000)).toBe('23:59:59.000001');
    expect(timeOfDay(-1, 0)).toBe('23:59:59.000000');
  });

  // Lines recorded from `TZ=UTC tcpdump -nn -e -S -r pcap-samples/FILE` (tcpdump 4.99.3).
  const GOLDEN: [string, number, string][] = [
    ['vlan.pcap', 5, '04:05:50.616810 02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype 802.1Q-QinQ (0x88a8), length 54: vlan 300, p 1, ethertype 802.1Q (0x8100), vlan 100, p 0, ethertype IPv4 (0x0800), 10.0.0.1 > 10.0.0.2: ICMP echo request, id 1, seq 2, length 12'],
    ['vlan.pcap', 4, '04:05:50.593044 02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype 802.1Q (0x8100), length 79: vlan 4094, p 0, DEI, ethertype IPv6 (0x86dd), fd00::1.5000 > fd00::2.5001: UDP, length 13'],
    ['icmp-errors.pcap', 6, '04:05:47.010095 02:00:00:00:00:fe > 02:00:00:00:00:11, ethertype IPv4 (0x0800), length 590: 10.0.1.254 > 10.0.1.1: ICMP 10.0.2.1 unreachable - need to frag (mtu 1280), length 556'],
    ['ipv6-ext.pcap', 6, '22:13:20.005000 02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv6 (0x86dd), length 137: fd00::1 > fd00::fe: HBH DSTOPT RT6 (len=4, type=4, segleft=1, last-entry=1, tag=0, [0]fd00::2, [1]fd00::fe) frag (0|19) 6000 > 6001: UDP, length 11'],
    ['ipv4-fragments.pcap', 1, '22:13:20.000000 02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800), length 1234: 10.0.0.1.5000 > 10.0.0.2.5001: UDP, length 3000'],
    ['tcp-options.pcap', 10, '22:13:20.009000 02:00:00:00:00:02 > 02:00:00:00:00:01, ethertype IPv4 (0x0800), length 86: 10.0.0.2.80 > 10.0.0.1.40000: Flags [.], ack 1000101, win 508, options [nop,nop,TS val 511 ecr 106,nop,nop,sack 2 {1000401:1000501}{1000201:1000301}], length 0'],
    ['tcp-kernel-nano.pcap', 2, '04:05:49.171307 02:00:00:00:00:02 > 02:00:00:00:00:01, ethertype IPv4 (0x0800), length 74: 10.0.0.2.8080 > 10.0.0.1.50886: Flags [S.], seq 3587967255, ack 524084828, win 65160, options [mss 1460,sackOK,TS val 3460753204 ecr 2424445101,nop,wscale 10], length 0'],
    // VXLAN: tcpdump's newline before the inner frame is a space here
    ['vxlan-kernel.pcap', 3, '04:05:38.932351 02:00:00:00:01:01 > 02:00:00:00:01:02, ethertype IPv4 (0x0800), length 92: 192.168.100.1.34762 > 192.168.100.2.4789: VXLAN, flags [I] (0x08), vni 5001 02:00:00:00:02:01 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: Request who-has 10.200.0.2 tell 10.200.0.1, length 28'],
    ['geneve.pcap', 2, '22:13:20.001000 02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800), length 144: 192.168.100.1.49153 > 192.168.100.2.6081: Geneve, Flags [C], vni 0x1234, proto TEB (0x6558), options [20 bytes]: 02:00:00:00:10:01 > 02:00:00:00:10:02, ethertype IPv4 (0x0800), length 74: 10.200.0.1 > 10.200.0.2: ICMP echo request, id 16962, seq 1, length 40'],
  ];
  for (const [file, n, want] of GOLDEN) {
    it(`${file} #${n}`, () => {
      const r = [...readPcap(readFileSync(join(DIR, file)))][n - 1]!;
      expect(ours(r)).toBe(want);
    });
  }

  it('uses the dissection to tell VXLAN from plain UDP (a port mapped with udpPorts)', () => {
    // /usr/bin/python3 -c "from scapy.all import *; print(bytes(Ether(src='02:00:00:00:00:01', dst='02:00:00:00:00:02')/
    //   IP(src='10.0.0.1', dst='10.0.0.2')/UDP(sport=1000, dport=8472, chksum=0)/VXLAN(vni=7)/
    //   Ether(src='02:00:00:00:10:01', dst='ff:ff:ff:ff:ff:ff')/ARP(psrc='10.200.0.1', pdst='10.200.0.2', hwsrc='02:00:00:00:10:01')).hex())"
    const f = hex(`02000000000202000000000108004500004e000100004011669c0a0000010a00000203e82118003a00000c00000300000700
      ffffffffffff020000001001080600010800060400010200000010010ac800010000000000000ac80002`);
    const head = '00:00:00.000000 02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype IPv4 (0x0800), length 92: 10.0.0.1.1000 > 10.0.0.2.8472: ';
    // tcpdump decodes 8472 as OTV; sdnemu, like Wireshark, leaves it as UDP unless told
    expect(summarize(dissect(f), f, 0, 0)).toBe(`${head}UDP, length 50`);
    // as `tcpdump -T vxlan` prints it, the newline before the inner frame a space
    expect(summarize(dissect(f, { udpPorts: new Map([[8472, 'vxlan']]) }), f, 0, 0)).toBe(`${head}VXLAN, flags [I] (0x0c), vni 7 `
      + '02:00:00:00:10:01 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: Request who-has 10.200.0.2 tell 10.200.0.1, length 28');
  });

  it('ends a line cut by the snaplen as tcpdump does', () => {
    const r = [...readPcap(readFileSync(join(DIR, 'tcp-kernel.pcap')))][0]!;
    const cut = r.data.subarray(0, 60); // inside the TCP options; the line tcpdump prints for this record cut to 60 bytes
    expect(summarize(dissect(cut), cut, r.tsSec, r.tsNsec, r.origLen)).toBe('04:05:49.171262 02:00:00:00:00:01 > 02:00:00:00:00:02, '
      + 'ethertype IPv4 (0x0800), length 74: 10.0.0.1.50886 > 10.0.0.2.8080: Flags [S], seq 524084827, win 64240, options [mss 1460,sackOK, [|tcp]');
    const eth = r.data.subarray(0, 10);
    expect(summarize(dissect(eth), eth, r.tsSec, r.tsNsec, r.origLen)).toBe('04:05:49.171262  [|ether]');
  });
});

describe('summary: properties', () => {
  const line = /^\d\d:\d\d:\d\d\.\d{6} /;

  it('never throws and prints one line for arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 160 }), fc.nat(), (b, extra) => {
      const s = summarize(dissect(b), b, 1700000000, 5, b.length + (extra % 3));
      expect(s).toMatch(line);
      expect(s).not.toContain('\n');
    }), { numRuns: 2000 });
  });

  it('never throws behind valid headers, whatever the dissection claims', () => {
    const prefixes = [
      '020000000002020000000001 0800 45000040000100004011000 00a0000010a000002 03e812b5002c0000', // IPv4/UDP to 4789
      '020000000002020000000001 86dd 6000000000281140fd000000000000000000000000000001fd000000000000000000000000000002 03e817c100280000',
      '020000000002020000000001 86dd 6000000000280040fd000000000000000000000000000001fd000000000000000000000000000002',
      '020000000002020000000001 0800 46000040000100004006000 00a0000010a000002 01000000 04d2162e0000000000000000f0020000',
      '020000000002020000000001 0800 45000040000100004001000 00a0000010a000002',
      '020000000002020000000001 8100 0007 88a8 0008 0806 00010800',
    ].map((p) => hex(p));
    fc.assert(fc.property(fc.constantFrom(...prefixes), fc.uint8Array({ maxLength: 120 }), fc.constantFrom('vxlan', 'geneve', ''),
      (prefix, tail, claim) => {
        const b = new Uint8Array(prefix.length + tail.length);
        b.set(prefix);
        b.set(tail, prefix.length);
        // the tunnel claim sits where a UDP payload would start after the IPv4 or IPv6 header
        const layers: DissectLayer[] = claim === '' ? [] : [42, 62].map((offset) => ({ proto: claim, offset, length: 8, fields: [] }));
        const s = summarize(noLayers(b, layers), b, 0, 0);
        expect(s).toMatch(line);
        expect(s).not.toContain('\n');
      }), { numRuns: 3000 });
  });
});

describeWith('tcpdump', 'summary vs tcpdump: pcap-samples', () => {
  it('has samples to check', () => {
    expect(SAMPLES.length).toBeGreaterThanOrEqual(10);
  });
  for (const file of SAMPLES) {
    it(file, () => {
      const path = join(DIR, file);
      const recs = [...readPcap(readFileSync(path))];
      expect(recs.length).toBeGreaterThan(0);
      const { mine, theirs } = compareFile(path, recs);
      expect(mine).toEqual(theirs);
    });
  }
});

/**
 * Frames for what the samples lack, one scapy expression per line (in the
 * helpers' scope below); ` |cut=N` captures only the first N bytes (the record
 * keeps the full length on the wire, as a snaplen does). Grouped by topic,
 * one test per group.
 */
const SCAPY_HELPERS = String.raw`
from scapy.contrib.geneve import GENEVE
E = lambda **k: Ether(src='02:00:00:00:00:01', dst='02:00:00:00:00:02', **k)
I4 = lambda **k: IP(src='10.0.0.1', dst='10.0.0.2', **k)
I6 = lambda **k: IPv6(src='fd00::1', dst='fd00::2', **k)
Q = IP(src='10.0.0.2', dst='10.9.9.9')/UDP(sport=1111, dport=2222)
QT = IP(src='10.0.0.2', dst='10.9.9.9')/TCP(sport=1111, dport=2223)
Q6 = IPv6(src='fd00::2', dst='fd00::99')/UDP(sport=1111, dport=2222)
INNER = Ether(src='02:00:00:00:10:01', dst='02:00:00:00:10:02')/IP(src='10.200.0.1', dst='10.200.0.2')/ICMP(id=1, seq=1)
INNER_TCP = Ether(src='02:00:00:00:10:01', dst='02:00:00:00:10:02')/IP(src='10.200.0.1', dst='10.200.0.2')/TCP(sport=1, dport=2, flags='S', options=[('MSS', 1460), ('Timestamp', (1, 2))])
AH4 = lambda nh, rsv: bytes([nh, 4, 0, rsv]) + (0x1234).to_bytes(4, 'big') + (7).to_bytes(4, 'big') + bytes([0xaa] * 12)
def T(flags, opt):
    o = bytes(opt) + b'\x00' * ((-len(opt)) % 4)
    return E()/I4()/TCP(sport=1234, dport=5678, flags=flags, dataofs=5 + len(o) // 4)/Raw(o)
`;

const SCAPY_FRAMES: Record<string, string> = {
  'link layer, tags and ARP': String.raw`
E(type=0x88b5)/Raw(b'hello world, unknown')
Dot3(src='02:00:00:00:00:01', dst='02:00:00:00:00:02')/LLC(dsap=0x42, ssap=0x42, ctrl=3)/Raw(b'x'*20)
Dot3(src='02:00:00:00:00:01', dst='02:00:00:00:00:02', len=1)/Raw(b'\x42')
E()/LLC(dsap=0x42, ssap=0x42, ctrl=3)/Raw(b'x'*20)
E(type=0x9100)/Dot1Q(vlan=5, prio=7)/I4()/UDP(sport=5000, dport=5001)
E(type=0x88a8)/Dot1AD(vlan=10)/Dot1AD(vlan=11, type=0x8100)/Dot1Q(vlan=12)/I4()/UDP(sport=5000, dport=5001)
E(type=0x88a8)/Dot1AD(vlan=10)/Dot1AD(vlan=11)/I4()/UDP(sport=5000, dport=5001)
E()/Dot1Q(vlan=7, type=0x88b5)/Raw(b'payload!')
E()/Dot1Q(vlan=7, id=1)/I6()/ICMPv6EchoRequest()
E()/Dot1Q(vlan=7, type=30)/LLC()/Raw(b'abc')
E(type=0x8100)/Raw(b'\x00')
E()/ARP(op=1, psrc='10.0.0.1', pdst='10.0.0.2', hwdst='02:00:00:00:00:09')
E()/ARP(op=2, psrc='10.0.0.1', pdst='10.0.0.2')
E()/ARP(op=1, psrc='10.0.0.1', pdst='10.0.0.2')/Padding(b'\0'*18)
E()/Dot1Q(vlan=7)/ARP(op=2, psrc='10.0.0.1', hwsrc='02:00:00:00:00:01', pdst='10.0.0.2', hwdst='02:00:00:00:00:02')
E(type=0x8035)/ARP(op=3, hwsrc='02:00:00:00:00:01', hwdst='02:00:00:00:00:01')
E(type=0x8035)/ARP(op=4, hwsrc='02:00:00:00:00:02', hwdst='02:00:00:00:00:01', pdst='10.0.0.9')
E()/ARP(op=8, psrc='10.0.0.1', pdst='10.0.0.2')
E()/ARP(op=9, hwsrc='02:00:00:00:00:07', psrc='10.0.0.7')
E()/ARP(op=1, ptype=0x86dd, plen=16, psrc='fd00::1', pdst='fd00::2')
E()/ARP(op=1, hwtype=6, hwlen=0, psrc='10.0.0.1', pdst='10.0.0.2')
E()/ARP(op=7)
`,
  'IPv4 and ICMP': String.raw`
E()/I4()/ICMP(type=8, id=7, seq=3)
E()/I4()/ICMP(type=3, code=0)/Q
E()/I4()/ICMP(type=3, code=1)/Q
E()/I4()/ICMP(type=3, code=2)/Q
E()/I4()/ICMP(type=3, code=3)/QT
E()/I4()/ICMP(type=3, code=3)/IP(src='10.0.0.2', dst='10.9.9.9', proto=132)/Raw(b'\x00\x01\x00\x02\x00\x00\x00\x00')
E()/I4()/ICMP(type=3, code=4, nexthopmtu=0)/Q
E()/I4()/ICMP(type=3, code=5)/Q
E()/I4()/ICMP(type=3, code=9)/Q
E()/I4()/ICMP(type=3, code=13)/Q
E()/I4()/ICMP(type=3, code=15)/Q
E()/I4()/ICMP(type=3, code=77)/Q
E()/I4()/ICMP(type=3, code=3)
E()/I4()/ICMP(type=5, code=0, gw='10.0.0.254')/Q
E()/I4()/ICMP(type=5, code=1, gw='10.0.0.254')/Q
E()/I4()/ICMP(type=5, code=3, gw='10.0.0.254')/Q
E()/I4()/ICMP(type=5, code=9, gw='10.0.0.254')/Q
E()/I4()/ICMP(type=11, code=1)/Q
E()/I4()/ICMP(type=11, code=5)/Q
E()/I4()/ICMP(type=11, code=0)/Raw(b'\x45\x00')
E()/I4()/ICMP(type=12, code=0, ptr=9)/Q
E()/I4()/ICMP(type=12, code=2)/Q
E()/I4()/ICMP(type=4)/Q
E()/I4()/ICMP(type=13, id=1, seq=2, ts_ori=1000, ts_rx=0, ts_tx=0)
E()/I4()/ICMP(type=14, id=1, seq=2, ts_ori=3723004, ts_rx=86399999, ts_tx=5)
E()/I4()/ICMP(type=17, id=1, seq=2)/Raw(b'\0\0\0\0')
E()/I4()/ICMP(type=18, id=1, seq=2, addr_mask='255.255.255.0')
E()/I4()/ICMP(type=9)
E()/I4(proto=1)/Raw(bytes([9,0,0,0, 2,2,0x0e,0x10, 10,0,0,254, 0,0,0,5, 10,0,0,253, 0,0,0,0]))
E()/I4(proto=1)/Raw(bytes([9,0,0,0, 1,2,0,30, 10,0,0,254, 0,0,0,5]))
E()/I4(proto=1)/Raw(bytes([9,0,0,0, 1,3,0x01,0x2c, 10,0,0,254, 0,0,0,5]))
E()/I4(proto=1)/Raw(bytes([9,0,0,0, 2,2,0x01,0x2c, 10,0,0,254, 0,0,0,5]))
E()/I4()/ICMP(type=10)
E()/I4()/ICMP(type=15)
E()/I4()/ICMP(type=42, code=1)
E()/I4(proto=253)/Raw(b'abcd')
E()/I4(proto=6, frag=10)/Raw(b'abcd'*4)
E()/I4(flags='MF')/TCP(sport=1234, dport=5678, flags='PA')/Raw(b'x'*40)
E()/I4(options=[IPOption_RR(routers=['1.1.1.1', '2.2.2.2'])])/UDP(sport=5000, dport=5001)/Raw(b'abc')
E()/IP(src='10.0.0.1', dst='10.0.0.9', options=[IPOption_LSRR(routers=['10.0.0.2', '10.0.0.3'])])/ICMP()
E()/I4()/IP(src='192.0.2.1', dst='192.0.2.2')/UDP(sport=5000, dport=5001)/Raw(b'abc')
E()/I4()/IPv6(src='fd00::1', dst='fd00::2')/UDP(sport=5000, dport=5001)/Raw(b'abc')
E()/I4(proto=59)
E()/I4(proto=51)/Raw(AH4(6, 0) + bytes(TCP(sport=1234, dport=5678, flags='S')))
E()/I4(proto=51)/Raw(AH4(17, 5) + bytes(UDP(sport=1234, dport=5678)/Raw(b'xy')))
E()/I4(proto=58)/ICMPv6EchoRequest()
E()/I4(ihl=4)/Raw(b'x'*20)
E()/I4(len=10)/Raw(b'x'*20)
E()/I4(len=200)/UDP(sport=5000, dport=5001)/Raw(b'x'*20)
E()/IP(version=5, src='10.0.0.1', dst='10.0.0.2')/Raw(b'x'*20)
E()/IP(version=6, src='10.0.0.1', dst='10.0.0.2')/Raw(b'x'*20)
`,
  'IPv6 and ICMPv6': String.raw`
E()/I6()/ICMP()
E()/I6()/TCP(sport=1234, dport=5678, flags='SA', seq=4294967295, ack=0)/Raw(b'abc')
E()/I6()/IPv6ExtHdrDestOpt()/TCP(sport=1234, dport=5678, flags='A')
E()/I6()/IPv6ExtHdrHopByHop(options=[RouterAlert()])/ICMPv6MLReport(mladdr='ff02::1:ff00:1')
E()/I6()/ICMPv6MLQuery(mladdr='::')
E()/I6()/ICMPv6MLDone(mladdr='ff02::1:ff00:1')
E()/I6()/ICMPv6MLQuery2(mladdr='ff02::5', sources=['fd00::7'])
E()/I6()/ICMPv6MLReport2(records=[ICMPv6MLDMultAddrRec(dst='ff02::5')])
E()/I6()/ICMPv6ND_RS()/ICMPv6NDOptSrcLLAddr(lladdr='02:00:00:00:00:01')
E()/I6()/ICMPv6ND_RA()/ICMPv6NDOptPrefixInfo(prefix='fd00:1::')
E()/I6()/ICMPv6ND_NA(tgt='fd00::1', R=0)/ICMPv6NDOptDstLLAddr(lladdr='02:00:00:00:00:01')
E()/I6()/ICMPv6ND_Redirect(tgt='fe80::1', dst='fd00::9')
E()/I6()/ICMPv6DestUnreach(code=0)/Q6
E()/I6()/ICMPv6DestUnreach(code=1)/Q6
E()/I6()/ICMPv6DestUnreach(code=2)/Q6
E()/I6()/ICMPv6DestUnreach(code=3)/Q6
E()/I6()/ICMPv6DestUnreach(code=4)/Q6
E()/I6()/ICMPv6DestUnreach(code=4)/IPv6(src='fd00::2', dst='fd00::99')/IPv6ExtHdrDestOpt()/TCP(sport=1111, dport=80)
E()/I6()/ICMPv6DestUnreach(code=4)/IPv6(src='fd00::2', dst='fd00::99', nh=132)/Raw(b'\x00\x01\x00\x02')
E()/I6()/ICMPv6DestUnreach(code=6)/Q6
E()/I6()/ICMPv6PacketTooBig(mtu=1280)/Q6
E()/I6()/ICMPv6TimeExceeded(code=0)/Q6
E()/I6()/ICMPv6TimeExceeded(code=1)/Q6
E()/I6()/ICMPv6TimeExceeded(code=2)/Q6
E()/I6()/ICMPv6ParamProblem(code=0, ptr=6)/Q6
E()/I6()/ICMPv6ParamProblem(code=1, ptr=40)/Q6
E()/I6()/ICMPv6ParamProblem(code=2, ptr=42)/Q6
E()/I6()/ICMPv6ParamProblem(code=3, ptr=0)/Q6
E()/I6()/ICMPv6ParamProblem(code=9, ptr=0)/Q6
E()/I6()/ICMPv6Unknown(type=250, msgbody=b'abcd')
E()/I6()/ICMPv6Unknown(type=144, msgbody=b'\x12\x34\0\0')
E()/I6()/ICMPv6Unknown(type=141, msgbody=b'\x12\x34\0\0')
E()/I6(nh=59)
E()/I6()/IPv6ExtHdrHopByHop(nh=59)
E()/I6()/IPv6ExtHdrRouting(addresses=['fd00::3', 'fd00::4'])/UDP(sport=5000, dport=5001)
E()/I6()/IPv6ExtHdrSegmentRouting(addresses=['fd00::3'], tag=0xab, lastentry=0)/UDP(sport=5000, dport=5001)
E()/I6()/IPv6ExtHdrRouting(type=7, addresses=['fd00::3'])/UDP(sport=5000, dport=5001)
E()/I6()/IPv6ExtHdrFragment(offset=0, m=1, id=5)/TCP(sport=1234, dport=5678, flags='S')/Raw(b'x'*16)
E()/I6()/IPv6ExtHdrFragment(offset=100, m=0, id=5, nh=6)/Raw(b'x'*16)
E()/I6()/IPv6ExtHdrHopByHop(options=[HBHOptUnknown(otype=5, optdata=b'\x01')])/UDP(sport=5000, dport=5001)
E()/I6(nh=51)/Raw(AH4(17, 5) + bytes(UDP(sport=1234, dport=5678)/Raw(b'xy')))
E()/I6(nh=51)/Raw(bytes([58, 4, 0, 0]) + bytes(8) + bytes([0xaa] * 12) + bytes(ICMPv6EchoRequest(id=1, seq=1)))
E()/I6()/IPv6ExtHdrHopByHop()/IPv6ExtHdrHopByHop()/UDP()
E()/I6()/IPv6ExtHdrDestOpt()/IPv6ExtHdrHopByHop()/UDP()
E()/I6()/IPv6(src='fd00::5', dst='fd00::6')/ICMPv6EchoReply(id=9, seq=9)
E()/IPv6(src='::ffff:10.0.0.1', dst='::10.0.0.2')/ICMPv6EchoRequest(id=1, seq=2)
E()/IPv6(src='fd00:0:0:1::', dst='1:0:0:2::3:0:0')/UDP(sport=5000, dport=5001)
E()/I6(plen=100)/UDP(sport=5000, dport=5001)/Raw(b'x'*10)
E()/IPv6(version=4, src='fd00::1', dst='fd00::2')/UDP()
`,
  'TCP flags and options': String.raw`
E()/I4()/TCP(sport=1234, dport=5678, flags='SAFRPUEC', urgptr=7, seq=1, ack=2)
E()/I4()/TCP(sport=1234, dport=5678, flags=0)
E()/I4()/TCP(sport=1234, dport=5678, flags='U', urgptr=9)
E()/I4()/TCP(sport=1234, dport=5678, flags='RA', seq=5, ack=9)/Raw(b'reset reason')
E()/I4()/TCP(sport=1234, dport=5678, dataofs=3)/Raw(b'x'*8)
E()/I4()/TCP(sport=1234, dport=5678, flags='A', dataofs=6)/Raw(b'\x02\x04\x05')
E()/I4()/TCP(sport=1234, dport=5678, flags='S', options=[('MSS', 1460), ('NOP', None), ('WScale', 14), ('SAckOK', b''), ('Timestamp', (1, 2)), ('SAck', (1, 2, 3, 4))])
E()/I4()/TCP(sport=1234, dport=5678, flags='S', options=[(19, b'\x00'*16), (28, b'\x01\x2c'), (34, b'\x01\x02\x03\x04\x05\x06\x07\x08'), ('EOL', None)])
E()/I4()/TCP(sport=1234, dport=5678, flags='S', options=[(254, b'\xf9\x89\x01\x02'), (99, b'\x01\x02'), (254, b'\x12\x34'), (8, b'\x00'*8)])
E()/I4()/TCP(sport=1234, dport=5678, flags='S', options=[(6, b'\x00\x00\x00\x01'), (7, b'\x00\x00\x00\x02'), (11, b'\x00\x00\x00\x03'), (12, b'\x00\x00\x00\x04'), (13, b'\x00\x00\x00\x05'), (20, b'\x01\x02'), (29, b'\x01\x02\x03\x04')])
E()/I4()/TCP(sport=1234, dport=5678, flags='PA', options=[(19, b'\x11'*16)])/Raw(b'data'*10)
E()/I4()/TCP(sport=1234, dport=5678, flags='S', options=[('MSS', 1460), ('SAckOK', b''), ('NOP', None)])
T('A', b'\x02\x09\x00\x00')
T('A', b'\x01\x00\x00\x00')
T('A', b'\x05\x0a' + bytes(8) + b'\x00\x00')
T('A', b'\x05\x0b' + bytes(9) + b'\x01')
T('A', b'\x08\x0a\x00\x00')
T('A', b'\x02\x03\x05\x00')
T('A', b'\x22\x02\xfe\x04\xf9\x89\x01\x01')
T('A', b'\x22\x05\x01\x02\x03\x00\x00\x00')
T('A', b'\xfe\x06\xf9\x89\x01\x02\x00\x00')
T('A', b'\x1d\x03\x01\x00\x00\x00\x00\x00')
T('A', b'\x03\x04\x07\x00')
T('A', b'\x01\x01\x01\x01')
T('S', b'\x1e\x0c\x00\x81' + bytes(range(8)))
T('S', b'\x1e\x04\x01\x01')
T('A', b'\x1e\x14\x01\x00' + bytes(range(16)))
T('A', b'\x1e\x16\x00\x80' + bytes(range(18)))
T('S', b'\x1e\x0c\x11\x05' + b'\x01\x02\x03\x04\x05\x06\x07\x08')
T('SA', b'\x1e\x10\x10\x05' + bytes(range(12)))
T('A', b'\x1e\x18\x10\x05' + bytes(range(20)))
T('A', b'\x1e\x14\x20\x15' + bytes(range(16)))
T('A', b'\x1e\x08\x20\x01' + b'\x00\x00\x01\x00')
T('A', b'\x1e\x10\x20\x04' + bytes(range(12)))
T('A', b'\x1e\x12\x20\x0e' + bytes(range(14)))
T('A', b'\x1e\x0a\x30\x03' + bytes([10, 0, 0, 3, 0x1f, 0x90]))
T('A', b'\x1e\x10\x31\x03' + bytes([10, 0, 0, 3]) + bytes(range(8)))
T('A', b'\x1e\x1e\x30\x03' + bytes(16) + b'\x00\x50' + bytes(range(8)))
T('A', b'\x1e\x06\x40\x01\x02\x03')
T('A', b'\x1e\x04\x51\x07')
T('A', b'\x1e\x0c\x60\x00' + bytes(range(8)))
T('A', b'\x1e\x0c\x70\x00' + bytes(range(8)))
T('A', b'\x1e\x04\x90\x00')
T('A', b'\x1e\x04\x05\x00')
T('S', b'\x1e\x05\x20\x01\x02')
`,
  'UDP, VXLAN and Geneve': String.raw`
E()/I4()/UDP(sport=5000, dport=5001, len=4)/Raw(b'abcdefgh')
E()/I4()/UDP(sport=5000, dport=5001, len=100)/Raw(b'abcdefgh')
E()/I4()/UDP(sport=5000, dport=5001)/Raw(b'x'*10)/Padding(b'\0'*20)
E()/I4()/UDP(sport=1000, dport=4789)/VXLAN(vni=0, flags=0)/INNER
E()/I4()/UDP(sport=1000, dport=4789)/VXLAN(vni=99, flags=0x0c)/Ether(src='02:00:00:00:10:01', dst='02:00:00:00:10:02')/Dot1Q(vlan=3)/IPv6(src='fd00::1', dst='fd00::2')/UDP(sport=5000, dport=5001)
E()/Dot1Q(vlan=9)/I6()/UDP(sport=1000, dport=4789)/VXLAN(vni=16777215)/Ether(src='02:00:00:00:10:01', dst='ff:ff:ff:ff:ff:ff')/ARP(psrc='10.200.0.1', pdst='10.200.0.2')
E()/I4()/UDP(sport=4789, dport=1000)/VXLAN(vni=1)/INNER
E()/I4()/UDP(sport=1000, dport=4789)/Raw(b'\x08\0\0')
E()/I4()/UDP(sport=1000, dport=4789)/VXLAN(vni=1)/Raw(b'\x02\x00\x00')
E()/I4()/UDP(sport=1000, dport=4789)/VXLAN(vni=1)/INNER/Raw(b'trailer')
E()/I4()/UDP(sport=1000, dport=4789)/VXLAN(vni=1)/INNER_TCP
E()/I4()/UDP(sport=1000, dport=6081)/GENEVE(vni=0x10, proto=0x86dd)/IPv6(src='fd00::1', dst='fd00::2')/UDP(sport=5000, dport=5001)
E()/I4()/UDP(sport=1000, dport=6081)/GENEVE(vni=0x10, proto=0x0806)/ARP(psrc='10.200.0.1', pdst='10.200.0.2')
E()/I4()/UDP(sport=1000, dport=6081)/GENEVE(vni=0x10, proto=0x6558)/INNER
E()/I4()/UDP(sport=1000, dport=6081)/Raw(bytes([0, 0xff, 0x88, 0xb5, 0, 0, 5, 7]) + b'abcd')
E()/I4()/UDP(sport=1000, dport=6081)/Raw(bytes([0, 0, 0x88, 0xcc, 0, 0, 5, 0]) + b'abcd')
E()/I4()/UDP(sport=1000, dport=6081)/Raw(bytes([0x40, 0, 0x65, 0x58, 0, 0, 5, 0]))
E()/I4()/UDP(sport=1000, dport=6081)/Raw(bytes([2, 0, 0x65, 0x58, 0, 0, 5, 0]) + b'ab')
E()/I4()/UDP(sport=1000, dport=6081)/Raw(bytes([0, 0]))
`,
  'captures cut by a snaplen': String.raw`
E()/I4()/UDP(sport=5000, dport=5001)/Raw(b'x'*30) |cut=5
E()/I4()/UDP(sport=5000, dport=5001)/Raw(b'x'*30) |cut=14
E()/I4()/UDP(sport=5000, dport=5001)/Raw(b'x'*30) |cut=33
E()/I4()/UDP(sport=5000, dport=5001)/Raw(b'x'*30) |cut=35
E()/I4()/UDP(sport=5000, dport=5001)/Raw(b'x'*30) |cut=39
E()/I4()/UDP(sport=5000, dport=5001)/Raw(b'x'*30) |cut=41
E()/I4()/UDP(sport=5000, dport=5001)/Raw(b'x'*30) |cut=42
E()/Dot1Q(vlan=3)/I4()/ICMP() |cut=15
E()/Dot1Q(vlan=3)/I4()/ICMP() |cut=18
E()/I4()/TCP(sport=1234, dport=5678, flags='S', options=[('MSS', 1460), ('NOP', None), ('WScale', 14), ('SAckOK', b''), ('Timestamp', (1, 2))]) |cut=36
E()/I4()/TCP(sport=1234, dport=5678, flags='S', options=[('MSS', 1460), ('NOP', None), ('WScale', 14), ('SAckOK', b''), ('Timestamp', (1, 2))]) |cut=53
E()/I4()/TCP(sport=1234, dport=5678, flags='S', options=[('MSS', 1460), ('NOP', None), ('WScale', 14), ('SAckOK', b''), ('Timestamp', (1, 2))]) |cut=57
E()/I4()/TCP(sport=1234, dport=5678, flags='S', options=[('MSS', 1460), ('NOP', None), ('WScale', 14), ('SAckOK', b''), ('Timestamp', (1, 2))]) |cut=62
E()/I4()/TCP(sport=1234, dport=5678, flags='S', options=[('MSS', 1460), ('NOP', None), ('WScale', 14), ('SAckOK', b''), ('Timestamp', (1, 2))]) |cut=72
E()/I4()/TCP(sport=1234, dport=5678, flags='PA', options=[(19, b'\x11'*16)])/Raw(b'data'*10) |cut=60
E()/I4()/TCP(sport=1234, dport=5678, flags='PA', options=[(19, b'\x11'*16)])/Raw(b'data'*10) |cut=80
E()/I4()/UDP(sport=1000, dport=4789)/VXLAN(vni=5)/INNER_TCP |cut=42
E()/I4()/UDP(sport=1000, dport=4789)/VXLAN(vni=5)/INNER_TCP |cut=45
E()/I4()/UDP(sport=1000, dport=4789)/VXLAN(vni=5)/INNER_TCP |cut=56
E()/I4()/UDP(sport=1000, dport=4789)/VXLAN(vni=5)/INNER_TCP |cut=70
E()/I4()/UDP(sport=1000, dport=4789)/VXLAN(vni=5)/INNER_TCP |cut=99
E()/I4()/UDP(sport=1000, dport=4789)/VXLAN(vni=5)/INNER_TCP |cut=118
E()/ARP(psrc='10.0.0.1', pdst='10.0.0.2') |cut=16
E()/ARP(psrc='10.0.0.1', pdst='10.0.0.2') |cut=41
E()/I4()/ICMP(type=3, code=3)/IP(src='10.0.0.2', dst='10.9.9.9')/UDP(sport=1, dport=2) |cut=40
E()/I4()/ICMP(type=3, code=3)/IP(src='10.0.0.2', dst='10.9.9.9')/UDP(sport=1, dport=2) |cut=60
E()/I4()/ICMP(type=3, code=3)/IP(src='10.0.0.2', dst='10.9.9.9')/UDP(sport=1, dport=2) |cut=66
E()/I6()/ICMPv6ND_NS(tgt='fd00::9') |cut=40
E()/I6()/ICMPv6ND_NS(tgt='fd00::9') |cut=54
E()/I6()/ICMPv6ND_NS(tgt='fd00::9') |cut=62
E()/I6()/IPv6ExtHdrHopByHop()/IPv6ExtHdrRouting(addresses=['fd00::3'])/IPv6ExtHdrFragment()/UDP(sport=5000, dport=5001) |cut=60
E()/I6()/IPv6ExtHdrHopByHop()/IPv6ExtHdrRouting(addresses=['fd00::3'])/IPv6ExtHdrFragment()/UDP(sport=5000, dport=5001) |cut=66
E()/I6()/IPv6ExtHdrHopByHop()/IPv6ExtHdrRouting(addresses=['fd00::3'])/IPv6ExtHdrFragment()/UDP(sport=5000, dport=5001) |cut=80
E()/I6()/IPv6ExtHdrHopByHop()/IPv6ExtHdrRouting(addresses=['fd00::3'])/IPv6ExtHdrFragment()/UDP(sport=5000, dport=5001) |cut=110
E()/I6()/IPv6ExtHdrHopByHop()/IPv6ExtHdrRouting(addresses=['fd00::3'])/IPv6ExtHdrFragment()/UDP(sport=5000, dport=5001) |cut=115
E()/I6()/ICMPv6DestUnreach(code=4)/IPv6(src='fd00::2', dst='fd00::99')/UDP(sport=1111, dport=2222) |cut=90
E()/I6()/ICMPv6DestUnreach(code=4)/IPv6(src='fd00::2', dst='fd00::99')/UDP(sport=1111, dport=2222) |cut=102
E()/I4()/UDP(sport=1000, dport=6081)/Raw(bytes([2, 0, 0x65, 0x58, 0, 0, 5, 0]) + bytes(8))/INNER_TCP |cut=50
E()/I4()/UDP(sport=1000, dport=6081)/Raw(bytes([2, 0, 0x65, 0x58, 0, 0, 5, 0]) + bytes(8))/INNER_TCP |cut=58
`,
};

interface ScapyCase {
  group: string;
  expr: string;
  cut: number;
}

const CASES: ScapyCase[] = Object.entries(SCAPY_FRAMES).flatMap(([group, block]) =>
  block.split('\n').map((l) => l.trim()).filter((l) => l !== '').map((l) => {
    const m = /^(.*?)\s*\|cut=(\d+)$/.exec(l);
    return m === null ? { group, expr: l, cut: -1 } : { group, expr: m[1]!, cut: Number(m[2]) };
  }));

describeWith('scapy', 'summary vs tcpdump: scapy frames', () => {
  describeWith('tcpdump', 'frames the samples lack', () => {
    let recs: PcapRecord[] = [];
    let mine: string[] = [], theirs: string[] = [];
    let cleanup = (): void => {};

    beforeAll(() => {
      const code = `${SCAPY_HELPERS}\nframes = [\n${CASES.map((c) => c.expr).join(',\n')}\n]\n`
        + `sys.stdout.write('\\n'.join(bytes(f).hex() for f in frames))`;
      const hexes = scapy(code).trim().split('\n');
      expect(hexes.length).toBe(CASES.length);
      // nanosecond stamps over several days: tcpdump shows them truncated to µs
      const records = hexes.map((h, i) => {
        const data = hex(h);
        const cut = CASES[i]!.cut;
        return {
          tsSec: 1700000000 + i * 3671, tsNsec: (i * 7_919_111) % 1_000_000_000,
          data: cut >= 0 ? data.subarray(0, cut) : data, origLen: data.length,
        };
      });
      const t = tempDir();
      cleanup = t.cleanup;
      const path = join(t.dir, 'frames.pcap');
      writeFileSync(path, writePcap(records, { nanosecond: true }));
      recs = [...readPcap(readFileSync(path))];
      ({ mine, theirs } = compareFile(path, recs));
    });
    afterAll(() => cleanup());

    for (const group of Object.keys(SCAPY_FRAMES)) {
      it(group, () => {
        const idx = CASES.map((c, i) => (c.group === group ? i : -1)).filter((i) => i >= 0);
        expect(idx.length).toBeGreaterThan(0);
        // each line labelled with its scapy expression, so a difference names its frame
        const label = (i: number, s: string): string => `${CASES[i]!.expr}${CASES[i]!.cut >= 0 ? ` |cut=${CASES[i]!.cut}` : ''}\n  ${s}`;
        expect(idx.map((i) => label(i, mine[i]!))).toEqual(idx.map((i) => label(i, theirs[i]!)));
      });
    }
  });
});
