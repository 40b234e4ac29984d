/**
 * encode.ts: JSON of Wireshark fields → frames, the reverse of
 * `sdnemu pcap decode --json`.
 * - Round trip: every packet of every capture in pcap-samples/ decodes to
 *   JSON (dissectionToJson, as the CLI prints it) that encodes back to the
 *   same bytes and timestamp — with frame.protocols, and again with it and
 *   every derived field removed (so the inference rule and the derived-field
 *   list are both exercised on real traffic). Frames built to reach the
 *   dissector's other branches round-trip too, except the documented gaps
 *   (bytes the decoder prints no field for), which are pinned here.
 * - Inference, value forms, errors with their paths, timestamps, the field
 *   registry against the dissector's sources.
 * - Oracles: JSON descriptions encode to scapy's bytes for the same packet,
 *   and tshark reads them with no malformed flag and good checksums.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { InputError } from '../../src/errors.js';
import { PCAP_MAX_CAPLEN } from '../../src/pcap/format.js';
import { readPcap } from '../../src/pcap/index.js';
import { FrameBuilder, ipv6Bytes, macBytes } from '../../src/wire/builder.js';
import { dissect } from '../../src/wire/dissect/index.js';
import { fieldValues } from '../../src/wire/dissect.js';
import {
  DERIVED_FIELDS, ENCODE_EPOCH_S, dissectionToJson, encodeFields, encodeJson, encodedProtocols, isKnownField,
} from '../../src/wire/encode.js';
import { GeneveRepr } from '../../src/wire/geneve.js';
import { describeWith, scapy, tsharkFields, writeTempPcap } from '../oracle/tools.js';

const SAMPLES = fileURLToPath(new URL('../../pcap-samples', import.meta.url));
const A = '02:00:00:00:00:01', B = '02:00:00:00:00:02';
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const u8 = (...x: number[]): Uint8Array => Uint8Array.from(x);
const txt = (s: string): string => Buffer.from(s).toString('hex');

/** The field names the dissector sources add (`addField(l, 'ip.ttl', …)`). */
function dissectorFieldNames(): Set<string> {
  const dir = fileURLToPath(new URL('../../src/wire/dissect', import.meta.url));
  const names = new Set<string>();
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.ts'))) {
    for (const m of readFileSync(join(dir, f), 'utf8').matchAll(/addField\(\s*\w+,\s*'([a-z0-9_.]+)'/g)) {
      if (!m[1]!.endsWith('.')) names.add(m[1]!);
    }
  }
  return names;
}

/**
 * Every Ethernet capture in pcap-samples/, decoded as `sdnemu pcap decode
 * --json` does (pcap encode writes Ethernet frames; the Linux cooked samples
 * are decode-only).
 */
function samples(): { file: string; records: ReturnType<typeof readPcap> extends Generator<infer R> ? R[] : never; json: Record<string, unknown>[] }[] {
  return readdirSync(SAMPLES).filter((f) => /\.pcap(ng)?$/.test(f) && !f.startsWith('any-kernel-sll')).sort().map((file) => {
    const records = [...readPcap(readFileSync(join(SAMPLES, file)))].filter((r) => r.linktype === 1);
    const json = records.map((r, i) => dissectionToJson(dissect(r.data, {
      number: i + 1, tsSec: r.tsSec, tsNsec: r.tsNsec, origLen: r.origLen, interfaceId: r.interfaceId,
    })));
    return { file, records, json: JSON.parse(JSON.stringify(json)) as Record<string, unknown>[] };
  });
}

function inputError(f: () => unknown): InputError {
  try {
    f();
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error('expected an InputError');
}

describe('dissectionToJson', () => {
  it('gives a field seen once as a string and one seen more often as an array, outer first', () => {
    const f = new FrameBuilder().eth({ src: A, dst: B }).ipv4({ src: '192.168.100.1', dst: '192.168.100.2' }).udp({ srcPort: 49152 })
      .vxlan({ vni: 5001 }).eth({ src: B, dst: A }).ipv4({ src: '10.200.0.1', dst: '10.200.0.2' })
      .tcp({ srcPort: 1, dstPort: 2, options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamp', tsval: 1, tsecr: 2 }] }).build();
    const j = dissectionToJson(dissect(f));
    expect(j['ip.src']).toEqual(['192.168.100.1', '10.200.0.1']);
    expect(j['vxlan.vni']).toBe('5001');
    expect(j['tcp.option_kind']).toEqual(['1', '1', '8']);
    expect(j['udp.port']).toEqual(['49152', '4789']);
    expect(j['frame.protocols']).toBe('eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:tcp');
    expect(j.error).toBeUndefined();
  });

  it('carries the fault of a packet that did not fully decode, which the encoder ignores', () => {
    const full = new FrameBuilder().eth({ src: A, dst: B }).ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).tcp().build();
    const j = dissectionToJson(dissect(full.subarray(0, 40)));
    expect(j.error).toMatchObject({ code: 'WIRE_TRUNCATED' });
    expect(typeof (j.error as { offset: number }).offset).toBe('number');
    // what was decoded is rebuilt; the cut TCP header is lost with the fault
    const out = encodeFields(JSON.parse(JSON.stringify(j)), '[0]');
    expect(hex(out.subarray(0, 34))).toBe(hex(full.subarray(0, 34)));
  });
});

describe('encode: round trip over pcap-samples', () => {
  const all = samples();

  it('reads the captures', () => {
    expect(all.length).toBeGreaterThanOrEqual(14);
    expect(all.reduce((n, s) => n + s.records.length, 0)).toBeGreaterThanOrEqual(150);
  });

  for (const s of all) {
    it(`${s.file}: decode → JSON → encode gives every frame and timestamp back`, () => {
      const { frames } = encodeJson(JSON.stringify(s.json), s.file);
      expect(frames).toHaveLength(s.records.length);
      frames.forEach((f, i) => {
        const r = s.records[i]!;
        expect(hex(f.data), `${s.file} #${i + 1}`).toBe(hex(r.data));
        expect([f.tsSec, f.tsNsec, f.origLen], `${s.file} #${i + 1}`).toEqual([r.tsSec, r.tsNsec, r.origLen]);
      });
    });

    it(`${s.file}: the same without frame.protocols and every derived field (inference)`, () => {
      const bare = s.json.map((p) => Object.fromEntries(Object.entries(p).filter(([k]) => k !== 'frame.protocols' && !DERIVED_FIELDS.has(k))));
      bare.forEach((p, i) => {
        const want = s.json[i]!['frame.protocols'] as string;
        expect(encodedProtocols(p, `[${i}]`), `${s.file} #${i + 1}`).toBe(want.split(':').filter((t) => t !== 'ethertype' && t !== 'data').join(':'));
        expect(hex(encodeFields(p, `[${i}]`)), `${s.file} #${i + 1}`).toBe(hex(s.records[i]!.data));
      });
    });
  }
});

/** Frames for the dissector branches the samples do not reach; 'lost' lists [from, to) byte ranges the JSON cannot carry. */
const e = (): FrameBuilder => new FrameBuilder().eth({ src: A, dst: B });
const v4 = (): FrameBuilder => e().ipv4({ src: '10.0.0.1', dst: '10.0.0.2' });
const v6 = (): FrameBuilder => e().ipv6({ src: 'fd00::1', dst: 'fd00::2' });
const quote = (b: FrameBuilder): FrameBuilder => b.ipv4({ src: '10.0.0.2', dst: '8.8.8.8' });
const CRAFTED: { name: string; frame: Uint8Array; lost?: [number, number][] }[] = [
  { name: '802.3 length frame (LLC)', frame: new FrameBuilder().eth({ src: A, dst: B, type: 6 }).payload(u8(0x42, 0x42, 3, 1, 2, 3)).build() },
  { name: '802.3 length after a VLAN tag', frame: new FrameBuilder().eth({ src: A, dst: B, type: 4 }).vlan({ vid: 3 }).payload(u8(1, 2, 3, 4)).build() },
  { name: 'unknown EtherType (data)', frame: new FrameBuilder().eth({ src: A, dst: B, type: 0x88cc }).payload(u8(1, 2, 3, 4)).build() },
  { name: 'two 0x88a8 tags (svid/cvid) then a 0x9100 tag', frame: e().vlan({ vid: 300, tpid: 0x88a8 }).vlan({ vid: 301, tpid: 0x88a8, pcp: 2, dei: 1 }).vlan({ vid: 5, tpid: 0x9100 }).ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).build() },
  { name: 'ARP with IPv6-sized protocol addresses', frame: e().arp({ hwType: 6, protoType: 0x86dd, sha: A, tha: B, spa: ipv6Bytes('fd00::1', 's'), tpa: ipv6Bytes('fd00::2', 't') }).build() },
  { name: 'ARP probe', frame: e().arp({ op: 1, sha: A, spa: '0.0.0.0', tpa: '10.0.0.9' }).build() },
  { name: 'ARP padded to 60 bytes', frame: e().arp({ op: 1 }).pad(60).build() },
  { name: 'ARP padded, with an FCS', frame: new FrameBuilder().eth({ src: A, dst: B, trailer: u8(...new Array<number>(18).fill(0), 0xde, 0xad, 0xbe, 0xef) }).arp({ op: 1 }).build() },
  { name: 'UDP with a non-zero trailer', frame: v4().udp({ srcPort: 1, dstPort: 2 }).payload(new Uint8Array(30)).trailer(u8(1, 2, 3)).build() },
  { name: 'UDP with a trailer and an FCS', frame: v4().udp({ srcPort: 1, dstPort: 2 }).payload(new Uint8Array(30)).trailer(u8(1, 2, 3, 9, 9, 9, 9)).build() },
  { name: 'VXLAN with a padded inner frame and an outer trailer', frame: v4().udp({ srcPort: 1 }).vxlan({ vni: 1 }).eth({ src: A, dst: B, trailer: new Uint8Array(18) }).arp({ op: 1 }).trailer(u8(5, 5)).build() },
  { name: 'VXLAN with GBP flags and reserved bits, inner IPv6', frame: v4().udp({ srcPort: 1 }).vxlan({ vni: 77, flags: 0x88, reserved24: 0x480102, reserved8: 3 }).eth({ src: A, dst: B }).ipv6({ src: 'fd00::1', dst: 'fd00::2' }).icmpv6({ type: 128 }).build() },
  {
    name: 'Geneve with GCP options (VNID, endpoint, profile) and an empty option',
    frame: v4().udp({ srcPort: 1 }).geneve({ vni: 5, options: [GeneveRepr.option(0x0132, 1, u8(0, 0, 0x12, 0x31)), GeneveRepr.option(0x0132, 2, u8(1, 2, 3, 4, 5, 6, 7, 8)), GeneveRepr.option(0x0132, 3, u8(0, 0, 0, 9)), GeneveRepr.option(0x0101, 1, new Uint8Array(0))] }).eth({ src: A, dst: B }).arp({ op: 2 }).build(),
  },
  { name: 'Geneve version 1, reserved bits, IPv6 payload', frame: v4().udp({ srcPort: 1 }).geneve({ vni: 5, version: 1, reservedFlags: 3, reserved: 9, protocolType: 0x86dd }).ipv6({ src: 'fd00::1', dst: 'fd00::2' }).udp({ srcPort: 3, dstPort: 4 }).build() },
  { name: 'IPv4 reserved flag', frame: v4().ipv4 && e().ipv4({ src: '10.0.0.1', dst: '10.0.0.2', reservedFlag: true }).udp({ srcPort: 1, dstPort: 2 }).build() },
  { name: 'IPv4 protocol 47 (data)', frame: e().ipv4({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 47 }).payload(u8(0, 0, 8, 0)).build() },
  { name: 'IPv4 timestamp option with addresses (flag 1)', frame: e().ipv4({ src: '10.0.0.1', dst: '10.0.0.2', options: u8(68, 12, 13, 1, 10, 0, 0, 1, 0, 0, 0, 100) }).udp({ srcPort: 1, dstPort: 2 }).build() },
  { name: 'IPv4 strict source route, used up', frame: e().ipv4({ src: '10.0.0.1', dst: '10.0.0.2', options: u8(137, 11, 12, 10, 0, 0, 5, 10, 0, 0, 6, 0) }).udp({ srcPort: 1, dstPort: 2 }).build() },
  { name: 'IPv4 record route with a bad pointer', frame: e().ipv4({ src: '10.0.0.1', dst: '10.0.0.2', options: u8(7, 7, 5, 1, 2, 3, 4, 0) }).udp({ srcPort: 1, dstPort: 2 }).build() },
  { name: 'IPv4 security option (bytes only)', frame: e().ipv4({ src: '10.0.0.1', dst: '10.0.0.2', options: u8(130, 11, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0) }).udp({ srcPort: 1, dstPort: 2 }).build() },
  { name: 'IPv4 traceroute, stream id, MTU probe', frame: e().ipv4({ src: '10.0.0.1', dst: '10.0.0.2', options: u8(82, 12, 0, 1, 0, 2, 0, 3, 10, 0, 0, 9, 136, 4, 0, 7, 11, 4, 5, 220) }).udp({ srcPort: 1, dstPort: 2 }).build() },
  { name: 'IPv4 SDB with padding', frame: e().ipv4({ src: '10.0.0.1', dst: '10.0.0.2', options: u8(149, 12, 10, 0, 0, 1, 10, 0, 0, 2, 0xaa, 0xbb) }).udp({ srcPort: 1, dstPort: 2 }).build() },
  { name: 'IPv4 option of a type tshark does not know', frame: e().ipv4({ src: '10.0.0.1', dst: '10.0.0.2', options: u8(30, 4, 1, 2) }).udp({ srcPort: 1, dstPort: 2 }).build(), lost: [[34, 38]] },
  { name: 'ICMP timestamp', frame: v4().icmp({ type: 13, ident: 5, seq: 6 }).payload(u8(0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3)).build() },
  { name: 'ICMP address mask reply', frame: v4().icmp({ type: 18, ident: 5, seq: 6 }).payload(u8(255, 255, 255, 0)).build() },
  { name: 'ICMP redirect', frame: quote(v4().icmp({ type: 5, code: 1, rest: 0x0a000001 })).udp({ srcPort: 1, dstPort: 53 }).build() },
  { name: 'ICMP parameter problem with an RFC 4884 length', frame: quote(v4().icmp({ type: 12, code: 0, rest: 0x14050102 })).udp({ srcPort: 1, dstPort: 53 }).payload(new Uint8Array(12)).build() },
  { name: 'ICMP time exceeded with an RFC 4884 length', frame: quote(v4().icmp({ type: 11, code: 0, rest: 0x00070000 })).udp({ srcPort: 1, dstPort: 53 }).payload(new Uint8Array(12)).build() },
  { name: 'ICMP fragmentation needed with an RFC 4884 length', frame: quote(v4().icmp({ type: 3, code: 4, rest: 0x11070500 })).udp({ srcPort: 1, dstPort: 53 }).payload(new Uint8Array(12)).build() },
  ...[8, 16, 18].map((n) => ({ name: `ICMP quoting a TCP header cut to ${n} bytes`, frame: quote(v4().icmp({ type: 3, code: 3 })).tcp({ srcPort: 1, dstPort: 2, seq: 99, truncate: n }).build() })),
  { name: 'ICMP quoting a whole TCP header with options', frame: quote(v4().icmp({ type: 3, code: 3 })).tcp({ srcPort: 1, dstPort: 2, seq: 99, options: [{ kind: 'mss', value: 1400 }] }).build() },
  { name: 'ICMPv6 unreachable quoting IPv6/UDP', frame: v6().icmpv6({ type: 1, code: 4 }).ipv6({ src: 'fd00::2', dst: 'fd00::3' }).udp({ srcPort: 9, dstPort: 9 }).payload('abc').build() },
  { name: 'ICMPv6 packet too big', frame: v6().icmpv6({ kind: 'packetTooBig', code: 0, checksum: -1, mtu: 1280 }).ipv6({ src: 'fd00::2', dst: 'fd00::3' }).udp({ srcPort: 9, dstPort: 9 }).build() },
  { name: 'ICMPv6 parameter problem', frame: v6().icmpv6({ kind: 'paramProblem', code: 1, checksum: -1, pointer: 40 }).ipv6({ src: 'fd00::2', dst: 'fd00::3' }).build() },
  { name: 'ICMPv6 time exceeded with an RFC 4884 length', frame: v6().icmpv6({ type: 3, code: 0, rest: 0x05000000 }).ipv6({ src: 'fd00::2', dst: 'fd00::3' }).build() },
  { name: 'ICMPv6 router solicitation', frame: v6().icmpv6({ kind: 'routerSolicit', code: 0, checksum: -1, reserved: 0, options: [{ kind: 'sourceLinkAddr', addr: macBytes(A, 'a') }] }).build() },
  {
    name: 'ICMPv6 router advertisement with MTU, prefix and unknown options',
    frame: v6().icmpv6({
      kind: 'routerAdvert', code: 0, checksum: -1, curHopLimit: 64, flags: 0xc8, routerLifetime: 1800, reachableTime: 30000, retransTimer: 1000,
      options: [{ kind: 'sourceLinkAddr', addr: macBytes(A, 'a') }, { kind: 'mtu', reserved: 0, mtu: 1500 },
        { kind: 'prefixInfo', prefixLen: 64, flags: 0xc0, validLifetime: 86400, preferredLifetime: 14400, reserved: 0, prefix: ipv6Bytes('fd00:1::', 'p') },
        { kind: 'unknown', type: 200, data: u8(1, 2, 3, 4, 5, 6) }],
    }).build(),
  },
  { name: 'ICMPv6 redirect', frame: v6().icmpv6({ kind: 'redirect', code: 0, checksum: -1, reserved: 0, target: ipv6Bytes('fe80::1', 't'), destination: ipv6Bytes('fd00::9', 'd'), options: [{ kind: 'targetLinkAddr', addr: macBytes(B, 'b') }] }).build() },
  { name: 'ICMPv6 neighbor advertisement (R, O, reserved bits)', frame: v6().icmpv6({ kind: 'neighborAdvert', code: 0, checksum: -1, router: true, solicited: false, override: true, reserved: 5, target: ipv6Bytes('fd00::2', 't'), options: [] }).build() },
  { name: 'MLDv1 report', frame: v6().icmpv6({ type: 131, rest: 0 }).payload(ipv6Bytes('ff02::1:3', 'g')).build() },
  { name: 'ICMPv6 type tshark does not know', frame: v6().icmpv6({ type: 200, code: 1, rest: 0x01020304 }).payload(u8(9, 8, 7)).build() },
  { name: 'IPv6 no next header with data', frame: e().ipv6({ src: 'fd00::1', dst: 'fd00::2', nextHeader: 59 }).payload(u8(1)).build() },
  { name: 'IPv6 routing header type 0', frame: e().ipv6({ src: 'fd00::1', dst: 'fd00::2', nextHeader: 43, extHeaders: u8(17, 4, 0, 1, 0, 0, 0, 0, ...ipv6Bytes('fd00::3', 'a'), ...ipv6Bytes('fd00::4', 'b')) }).udp({ srcPort: 1, dstPort: 2 }).build() },
  { name: 'IPv6 routing header type 2', frame: e().ipv6({ src: 'fd00::1', dst: 'fd00::2', nextHeader: 43, extHeaders: u8(17, 2, 2, 1, 0, 0, 0, 0, ...ipv6Bytes('fd00::3', 'a')) }).udp({ srcPort: 1, dstPort: 2 }).build() },
  { name: 'IPv6 authentication header', frame: e().ipv6({ src: 'fd00::1', dst: 'fd00::2', nextHeader: 51, extHeaders: u8(17, 4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12) }).udp({ srcPort: 1, dstPort: 2 }).build() },
  { name: 'IPv6 destination options: jumbo, tunnel limit, experimental, unknown, PadN', frame: e().ipv6({ src: 'fd00::1', dst: 'fd00::2', nextHeader: 60, extHeaders: u8(17, 2, 0xc2, 4, 0, 0, 0, 1, 4, 1, 5, 0x1e, 2, 9, 9, 0x3f, 1, 7, 1, 4, 0, 0, 0, 0) }).udp({ srcPort: 1, dstPort: 2 }).build() },
  { name: 'IPv6 option of a type tshark decodes itself (CALIPSO)', frame: e().ipv6({ src: 'fd00::1', dst: 'fd00::2', nextHeader: 0, extHeaders: u8(17, 0, 0x07, 4, 1, 2, 3, 4) }).udp({ srcPort: 1, dstPort: 2 }).build(), lost: [[58, 62]] },
  { name: 'TCP unknown option kind and MD5 (kept by tcp.options)', frame: v4().tcp({ optionBytes: u8(99, 4, 0xaa, 0xbb, 19, 18, ...new Array<number>(16).fill(7), 1, 1) }).build() },
  { name: 'TCP EOL followed by non-zero bytes', frame: v4().tcp({ optionBytes: u8(2, 4, 5, 180, 0, 7, 0, 0) }).build() },
  { name: 'TCP AE and reserved flags, urgent pointer', frame: v4().tcp({ flags: 0xf3f, urgent: 7 }).payload('u').build() },
  { name: 'UDP with a zero checksum', frame: v4().udp({ srcPort: 1, dstPort: 2, checksum: 0 }).build() },
];

describe('encode: round trip over crafted frames', () => {
  for (const c of CRAFTED) {
    it(c.lost ? `${c.name}: rebuilt with the bytes no field carries zeroed` : `${c.name}: rebuilt byte for byte`, () => {
      const j = JSON.parse(JSON.stringify(dissectionToJson(dissect(c.frame)))) as Record<string, unknown>;
      const want = Uint8Array.from(c.frame);
      for (const [from, to] of c.lost ?? []) want.fill(0, from, to);
      if (c.lost) expect(hex(want)).not.toBe(hex(c.frame));
      expect(hex(encodeFields(j, '[0]'))).toBe(hex(want));
    });
  }

  it('loses the data of a TCP option kind tshark decodes itself when only the per-option fields are given', () => {
    const f = v4().tcp({ optionBytes: u8(19, 18, ...new Array<number>(16).fill(7), 1, 1) }).build();
    const j = JSON.parse(JSON.stringify(dissectionToJson(dissect(f)))) as Record<string, unknown>;
    delete j['tcp.options'];
    delete j['tcp.checksum'];
    const out = encodeFields(j, '[0]');
    expect(hex(out.subarray(54, 56))).toBe('1312');
    expect(out.subarray(56, 72).every((x) => x === 0)).toBe(true);
    expect(fieldValues(dissect(out), 'tcp.checksum.status')).toEqual(['1']);
  });

  it('field values survive encode → decode for generated packets (property)', () => {
    const arb = fc.record({
      vid: fc.option(fc.integer({ min: 0, max: 4095 }), { nil: undefined }),
      ttl: fc.integer({ min: 0, max: 255 }), id: fc.integer({ min: 0, max: 65535 }), dscp: fc.integer({ min: 0, max: 63 }),
      df: fc.boolean(), src: fc.ipV4(), dst: fc.ipV4(), sport: fc.integer({ min: 1, max: 65535 }), dport: fc.integer({ min: 1, max: 65535 }),
      tcp: fc.boolean(), seq: fc.integer({ min: 0, max: 0xffffffff }), flags: fc.integer({ min: 0, max: 0xfff }),
      tsval: fc.option(fc.integer({ min: 0, max: 0xffffffff }), { nil: undefined }), data: fc.uint8Array({ maxLength: 40 }),
    });
    fc.assert(fc.property(arb, (g) => {
      const j: Record<string, unknown> = {
        'eth.src': A, 'eth.dst': B, 'ip.ttl': String(g.ttl), 'ip.id': '0x' + g.id.toString(16).padStart(4, '0'),
        'ip.dsfield.dscp': g.dscp, 'ip.flags.df': g.df, 'ip.src': g.src, 'ip.dst': g.dst,
      };
      if (g.vid !== undefined) j['vlan.id'] = g.vid;
      if (g.tcp) {
        Object.assign(j, { 'tcp.srcport': g.sport, 'tcp.dstport': String(g.dport), 'tcp.seq': String(g.seq), 'tcp.flags': '0x' + g.flags.toString(16).padStart(4, '0') });
        if (g.tsval !== undefined) Object.assign(j, { 'tcp.option_kind': ['1', '1', '8'], 'tcp.options.timestamp.tsval': g.tsval });
      } else {
        Object.assign(j, { 'udp.srcport': g.sport, 'udp.dstport': g.dport });
      }
      if (g.data.length > 0) j['data.data'] = hex(g.data);
      const bytes = encodeFields(j, '[0]');
      const d = dissect(bytes);
      expect(d.error).toBeNull();
      const back = dissectionToJson(d);
      expect(back['ip.ttl']).toBe(String(g.ttl));
      expect(back['ip.src']).toBe(g.src);
      expect(back['ip.dsfield.dscp']).toBe(String(g.dscp));
      expect(back['ip.flags.df']).toBe(g.df ? '1' : '0');
      expect(back['ip.checksum.status']).toBe('1');
      expect(back[g.tcp ? 'tcp.checksum.status' : 'udp.checksum.status']).toBe('1');
      if (g.tcp) expect(back['tcp.flags']).toBe(j['tcp.flags']);
      if (g.vid !== undefined) expect(back['vlan.id']).toBe(String(g.vid));
      if (g.data.length > 0) expect(back['data.data']).toBe(hex(g.data));
      // and the decoded form encodes to the same bytes
      expect(hex(encodeFields(JSON.parse(JSON.stringify(back)), '[0]'))).toBe(hex(bytes));
    }), { numRuns: 150 });
  });
});

describe('encode: the layer stack', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['an IPv4 address and a UDP port', { 'ip.src': '10.0.0.1', 'udp.dstport': 53 }, 'eth:ip:udp'],
    ['ARP fields alone', { 'arp.opcode': 1 }, 'eth:arp'],
    ['outer and inner values around a VXLAN header', { 'ip.src': ['1.1.1.1', '10.0.0.1'], 'vxlan.vni': 5, 'tcp.dstport': 80 }, 'eth:ip:udp:vxlan:eth:ip:tcp'],
    ['an ICMP error quoting a datagram', { 'ip.src': ['1.1.1.1', '2.2.2.2'], 'icmp.type': 3, 'udp.dstport': 53 }, 'eth:ip:icmp:ip:udp'],
    ['an ICMP echo with TCP fields elsewhere is still ICMP first', { 'ip.src': '1.1.1.1', 'icmp.type': 8, 'data.data': '00' }, 'eth:ip:icmp'],
    ['Geneve carrying IPv4', { 'ip.src': ['1.1.1.1', '10.0.0.1'], 'geneve.vni': 1, 'geneve.proto_type': '0x0800', 'udp.dstport': [6081, 53] }, 'eth:ip:udp:geneve:ip:udp'],
    ['Geneve carrying Ethernet by default', { 'ip.src': ['1.1.1.1', '10.0.0.1'], 'geneve.vni': 1, 'icmp.type': 0 }, 'eth:ip:udp:geneve:eth:ip:icmp'],
    ['S-tags go outside C-tags, all on the outer header', { 'vlan.id': [10, 20], 'ieee8021ad.id': 300, 'ip.src': '1.1.1.1' }, 'eth:ieee8021ad:vlan:vlan:ip'],
    ['an EtherType picks IPv6 over IPv4', { 'eth.type': ['0x86dd', '0x0800'], 'ip.src': '10.0.0.1', 'ipv6.src': 'fd00::1', 'vxlan.vni': 1 }, 'eth:ipv6:udp:vxlan:eth:ip'],
    ['ip.proto picks the upper layer, a header of defaults if no field is given', { 'ip.proto': 6 }, 'eth:ip:tcp'],
    ['IPv6 with a hop-by-hop header', { 'ipv6.src': 'fd00::1', 'ipv6.hopopts.len': 0, 'ipv6.opt.type': ['5', '1'], 'icmpv6.type': 128 }, 'eth:ipv6:ipv6.hopopts:icmpv6'],
    ['destination options before a routing header', { 'ipv6.src': 'fd00::1', 'ipv6.dstopts.len': 0, 'ipv6.routing.type': 4, 'udp.srcport': 1 }, 'eth:ipv6:ipv6.dstopts:ipv6.routing:udp'],
    ['destination options alone', { 'ipv6.src': 'fd00::1', 'ipv6.dstopts.len': 0, 'ipv6.fraghdr.ident': 1, 'udp.srcport': 1 }, 'eth:ipv6:ipv6.fraghdr:ipv6.dstopts:udp'],
    ['a later IPv4 fragment carries data', { 'ip.frag_offset': 150, 'ip.proto': 17, 'udp.srcport': undefined, 'data.data': 'aa' }, 'eth:ip'],
    ['frame.protocols puts a tag on the inner Ethernet header', {
      'frame.protocols': 'eth:ethertype:ip:udp:vxlan:eth:ethertype:vlan:ethertype:ip:udp', 'vlan.id': 42, 'vxlan.vni': 9,
    }, 'eth:ip:udp:vxlan:eth:vlan:ip:udp'],
  ];
  for (const [name, pkt, want] of cases) {
    it(name, () => {
      const p = Object.fromEntries(Object.entries(pkt).filter(([, v]) => v !== undefined));
      expect(encodedProtocols(p)).toBe(want);
      const d = dissect(encodeFields(p, '[0]'));
      expect(d.error).toBeNull();
      const got = (fieldValues(d, 'frame.protocols')[0] ?? '').split(':').filter((t) => t !== 'ethertype' && t !== 'data').join(':');
      expect(got).toBe(want);
    });
  }

  it('links layers: EtherTypes, IP protocols, the VXLAN port, lengths and checksums', () => {
    const d = dissect(encodeFields({ 'ip.src': ['1.1.1.1', '10.0.0.1'], 'vxlan.vni': 5, 'tcp.dstport': 80, 'data.data': txt('hi') }, ''));
    expect(fieldValues(d, 'eth.type')).toEqual(['0x0800', '0x0800']);
    expect(fieldValues(d, 'ip.proto')).toEqual(['17', '6']);
    expect(fieldValues(d, 'udp.dstport')).toEqual(['4789']);
    expect(fieldValues(d, 'ip.len')).toEqual(['92', '42']);
    expect(fieldValues(d, 'udp.length')).toEqual(['72']);
    for (const f of ['ip.checksum.status', 'udp.checksum.status', 'tcp.checksum.status']) expect(fieldValues(d, f).every((v) => v === '1'), f).toBe(true);
  });
});

describe('encode: values', () => {
  const base = { 'eth.src': A, 'eth.dst': B, 'ip.src': '10.0.0.1', 'ip.dst': '10.0.0.2', 'udp.srcport': 1, 'udp.dstport': 2 };
  const same = (a: Record<string, unknown>, b: Record<string, unknown>): void => {
    expect(hex(encodeFields({ ...base, ...a }, ''))).toBe(hex(encodeFields({ ...base, ...b }, '')));
  };

  it('takes numbers, decimal text, 0x hex text and booleans alike', () => {
    same({ 'ip.ttl': 5, 'ip.id': 16, 'ip.flags.df': true }, { 'ip.ttl': '5', 'ip.id': '0x0010', 'ip.flags.df': '1' });
    same({ 'ip.flags': 2 }, { 'ip.flags': '0x02' });
    same({ 'data.data': '68:69' }, { 'data.data': '6869' });
  });

  it('lets bit fields override the aggregate they belong to', () => {
    same({ 'ip.dsfield': '0xb8', 'ip.dsfield.ecn': 1 }, { 'ip.dsfield': '0xb9' });
    same({ 'ip.flags': '0x02', 'ip.flags.df': 0, 'ip.flags.mf': 1 }, { 'ip.flags': '0x01' });
    const t = (j: Record<string, unknown>): string[] => fieldValues(dissect(encodeFields({ 'ip.src': '1.1.1.1', ...j }, '')), 'tcp.flags');
    expect(t({ 'tcp.flags': '0x0002', 'tcp.flags.ack': 1 })).toEqual(['0x0012']);
    expect(t({ 'tcp.flags.ack': 1 })).toEqual(['0x0010']);
    expect(t({ 'tcp.srcport': 1 })).toEqual(['0x0002']);
    const vx = fieldValues(dissect(encodeFields({ 'ip.src': ['1.1.1.1', '2.2.2.2'], 'vxlan.vni': 1, 'vxlan.flag_g': 1, 'vxlan.gbp': 7, 'udp.srcport': [1, 2] }, '')), 'vxlan.flags');
    expect(vx).toEqual(['0x8800']);
  });

  it('computes lengths and checksums unless given, and writes given ones even when wrong', () => {
    const d = dissect(encodeFields({ ...base, 'ip.checksum': '0x1234', 'udp.checksum': '0xbeef', 'ip.len': 29 }, ''));
    expect(fieldValues(d, 'ip.checksum')).toEqual(['0x1234']);
    expect(fieldValues(d, 'ip.checksum.status')).toEqual(['0']);
    expect(fieldValues(d, 'udp.checksum.status')).toEqual(['0']);
    expect(fieldValues(d, 'ip.len')).toEqual(['29']);
  });

  it('pads to frame.len and rebuilds IPv4 options from their fields', () => {
    const f = encodeFields({ ...base, 'frame.len': 60 }, '');
    expect(f.length).toBe(60);
    const o = encodeFields({ ...base, 'ip.opt.type': ['7', '148'], 'ip.opt.len': ['11', '4'], 'ip.opt.ptr': 4, 'ip.empty_rt': ['0.0.0.0', '0.0.0.0'], 'ip.opt.ra': 0 }, '');
    expect(hex(o.subarray(34, 50))).toBe('070b04000000000000000094040000' + '00');
    expect(fieldValues(dissect(o), 'ip.hdr_len')).toEqual(['36']);
  });
});

describe('encode: options as values', () => {
  const tcpBase = { 'ip.src': '10.0.0.1', 'tcp.srcport': 1 };

  it('builds TCP options from their fields as the builder\'s TcpOption values', () => {
    const fromFields = encodeFields({
      ...tcpBase, 'tcp.option_kind': ['2', '1', '3', '4', '5', '8', '99', '28'], 'tcp.option_len': ['4', '3', '2', '10', '10', '4', '4'],
      'tcp.options.mss_val': 1460, 'tcp.options.wscale.shift': 7, 'tcp.options.sack_le': 5, 'tcp.options.sack_re': 9,
      'tcp.options.timestamp.tsval': 1, 'tcp.options.timestamp.tsecr': 2, 'tcp.options.unknown.payload': 'abcd',
    }, '');
    const built = new FrameBuilder().eth().ipv4({ src: '10.0.0.1' }).tcp({
      srcPort: 1, options: [{ kind: 'mss', value: 1460 }, { kind: 'nop' }, { kind: 'wscale', shift: 7 }, { kind: 'sackPerm' }, { kind: 'sack', blocks: [[5, 9]] },
        { kind: 'timestamp', tsval: 1, tsecr: 2 }, { kind: 'unknown', type: 99, data: u8(0xab, 0xcd) }, { kind: 'unknown', type: 28, data: new Uint8Array(2) }],
    }).build();
    expect(hex(fromFields)).toBe(hex(built));
  });

  it('writes an option\'s own bytes field when given alone, and rejects one that is not that option', () => {
    const out = encodeFields({ ...tcpBase, 'tcp.option_kind': ['2', '1', '1'], 'tcp.options.mss': '020405b4' }, '');
    expect(fieldValues(dissect(out), 'tcp.options.mss_val')).toEqual(['1460']);
    for (const blob of ['030405b4', '020505b4', '02']) {
      const e = inputError(() => encodeFields({ ...tcpBase, 'tcp.option_kind': '2', 'tcp.options.mss': blob }, '[0]'));
      expect([e.code, e.path], blob).toEqual(['ENCODE_BAD_VALUE', '[0].tcp.options.mss']);
    }
  });

  it('rejects an option length the dissector would reject for its kind (the whole tcp.options still writes it)', () => {
    for (const [kind, len] of [['2', '6'], ['8', '9'], ['5', '11'], ['3', '1']]) {
      const e = inputError(() => encodeFields({ ...tcpBase, 'tcp.option_kind': kind, 'tcp.option_len': len }, '[0]'));
      expect([e.code, e.path], `${kind}/${len}`).toEqual(['ENCODE_BAD_VALUE', '[0].tcp.option_len']);
    }
    // with the whole options area given, the per-option values are only consumed and the bytes are written
    const raw = encodeFields({ ...tcpBase, 'tcp.options': '020605b40000', 'tcp.option_kind': '2', 'tcp.option_len': '6', 'tcp.options.mss': '020605b40000' }, '');
    expect(hex(raw.subarray(54, 62))).toBe('020605b400000000');
  });

  it('reads a whole geneve.options with the Geneve view, and names it when an option runs past the area', () => {
    const opts = [GeneveRepr.option(0x0102, 0x80, u8(0, 0, 0, 0x2a)), GeneveRepr.option(0xffff, 1, new Uint8Array(0))];
    const want = v4().udp({ srcPort: 1 }).geneve({ vni: 5, options: opts }).eth({ src: A, dst: B }).build();
    const j = { 'eth.src': [A, A], 'eth.dst': [B, B], 'ip.src': '10.0.0.1', 'ip.dst': '10.0.0.2', 'udp.srcport': 1, 'geneve.vni': 5, 'geneve.options': '010280010000002affff0100' };
    expect(hex(encodeFields(j, ''))).toBe(hex(want));
    // an option longer than what is left, a cut option header, more than the 252 bytes Opt Len can count
    for (const bad of ['0102800200000000', '010280', '0102800100000000'.repeat(32) + '00000000']) {
      const e = inputError(() => encodeFields({ ...j, 'geneve.options': bad }, '[0]'));
      expect([e.code, e.path], bad).toEqual(['ENCODE_BAD_VALUE', '[0].geneve.options']);
    }
  });

  it('quotes an IP packet after any ICMP or ICMPv6 error type (icmpIsError / icmpv6IsError)', () => {
    expect(encodedProtocols({ 'ipv6.src': ['fd00::1', 'fd00::2'], 'icmpv6.type': 1, 'udp.dstport': 53 })).toBe('eth:ipv6:icmpv6:ipv6:udp');
    expect(encodedProtocols({ 'ipv6.src': ['fd00::1', 'fd00::2'], 'icmpv6.type': 127 })).toBe('eth:ipv6:icmpv6:ipv6');
    expect(encodedProtocols({ 'ip.src': ['1.1.1.1', '2.2.2.2'], 'icmp.type': 4 })).toBe('eth:ip:icmp:ip');
    expect(() => encodeFields({ 'ipv6.src': ['fd00::1', 'fd00::2'], 'icmpv6.type': 128 }, '')).toThrow(InputError);
  });
});

describe('encode: frame lengths', () => {
  it('keeps the wire length of a capture cut by a snaplen (origLen), and rebuilds the captured bytes', () => {
    const whole = v4().udp({ srcPort: 1000, dstPort: 2000 }).payload(new Uint8Array(1472).fill(0x61)).build();
    expect(whole.length).toBe(1514);
    const cut = whole.slice(0, 96);
    const j = dissectionToJson(dissect(cut, { origLen: whole.length, tsSec: 5, tsNsec: 6 }));
    expect([j['frame.len'], j['frame.cap_len']]).toEqual(['1514', '96']);
    const [f] = encodeJson(JSON.stringify([j]), 'cut.json').frames;
    expect(hex(f!.data)).toBe(hex(cut));
    expect([f!.origLen, f!.tsSec, f!.tsNsec]).toEqual([1514, 5, 6]);
  });

  it('gives origLen the captured length when frame.len is absent or smaller', () => {
    const base = { 'ip.src': '10.0.0.1', 'udp.srcport': 1 };
    const [a, b, c] = encodeJson(JSON.stringify([base, { ...base, 'frame.len': 10 }, { ...base, 'frame.len': 60 }]), 'x').frames;
    expect([a!.data.length, a!.origLen]).toEqual([42, 42]);
    expect([b!.data.length, b!.origLen]).toEqual([42, 42]);
    // frame.len alone is also the captured length to pad to
    expect([c!.data.length, c!.origLen]).toEqual([60, 60]);
  });

  it('refuses a captured length beyond a pcap record (no 2 GB frame from a tiny JSON)', () => {
    const base = { 'ip.src': '10.0.0.1', 'udp.srcport': 1 };
    for (const [k, v] of [['frame.cap_len', 0x7fffffff], ['frame.cap_len', PCAP_MAX_CAPLEN + 1], ['frame.len', 0x7fffffff]] as const) {
      const e = inputError(() => encodeFields({ ...base, [k]: v }, '[4]'));
      expect([e.code, e.path], `${k} ${v}`).toEqual(['ENCODE_BAD_VALUE', `[4].${k}`]);
    }
    expect(encodeFields({ ...base, 'frame.cap_len': PCAP_MAX_CAPLEN }, '').length).toBe(PCAP_MAX_CAPLEN);
    // a wire length beyond it is fine when the captured length is given: nothing is padded to it
    const [f] = encodeJson(JSON.stringify({ ...base, 'frame.cap_len': 60, 'frame.len': 0x7fffffff }), 'x').frames;
    expect([f!.data.length, f!.origLen]).toEqual([60, 0x7fffffff]);
  });

  it('turns a computed length that does not fit (the builder\'s BUILD_TOO_LONG) into ENCODE_BAD_VALUE at that field', () => {
    const e = inputError(() => encodeFields({ 'ip.src': '10.0.0.1', 'udp.srcport': 1, 'data.data': '00'.repeat(65508) }, '[1]'));
    expect([e.code, e.path]).toEqual(['ENCODE_BAD_VALUE', '[1].ip.len']);
    const e6 = inputError(() => encodeFields({ 'ipv6.src': 'fd00::1', 'ipv6.plen': 0, 'udp.srcport': 1, 'data.data': '00'.repeat(65528) }, '[1]'));
    expect([e6.code, e6.path]).toEqual(['ENCODE_BAD_VALUE', '[1].udp.length']);
  });
});

describe('encode: errors', () => {
  it('names an unknown field with its packet and a suggestion', () => {
    const e = inputError(() => encodeJson(JSON.stringify([{}, {}, {}, { 'ip.sorce': '1.2.3.4' }]), 'x.json'));
    expect(e.code).toBe('ENCODE_UNKNOWN_FIELD');
    expect(e.path).toBe('[3].ip.sorce');
    expect(e.message).toContain("did you mean 'ip.src'");
  });

  it('names a bad value with its array index', () => {
    const e = inputError(() => encodeJson(JSON.stringify({ 'ip.src': ['10.0.0.1', '10.0.0.300'], 'vxlan.vni': 1 }), 'x.json'));
    expect([e.code, e.path]).toEqual(['ENCODE_BAD_VALUE', '[0].ip.src[1]']);
  });

  it('rejects values of the wrong type or out of range', () => {
    expect(inputError(() => encodeFields({ 'ip.ttl': null }, '[2]')).path).toBe('[2].ip.ttl');
    expect(inputError(() => encodeFields({ 'ip.ttl': 256 }, '[2]')).code).toBe('ENCODE_BAD_VALUE');
    expect(inputError(() => encodeFields({ 'ip.ttl': '6four' }, '[2]')).code).toBe('ENCODE_BAD_VALUE');
    expect(inputError(() => encodeFields({ 'eth.src': '02:00:00:00:00' }, '[2]')).path).toBe('[2].eth.src');
    expect(inputError(() => encodeFields({ 'ip.flags.df': 'maybe' }, '[2]')).path).toBe('[2].ip.flags.df');
    expect(inputError(() => encodeFields({ 'data.data': 'xyz' }, '[2]')).path).toBe('[2].data.data');
    expect(inputError(() => encodeFields({ 'ip.version': 5 }, '[2]')).path).toBe('[2].ip.version');
  });

  it('reports a value no layer takes', () => {
    const e = inputError(() => encodeFields({ 'frame.protocols': 'eth:ethertype:ip:udp', 'tcp.srcport': 1 }, '[0]'));
    expect([e.code, e.path]).toEqual(['ENCODE_BAD_VALUE', '[0].tcp.srcport']);
    expect(e.message).toContain('eth:ip:udp');
    const e2 = inputError(() => encodeFields({ 'ip.src': ['1.1.1.1', '2.2.2.2', '3.3.3.3'], 'vxlan.vni': 1 }, '[0]'));
    expect(e2.path).toBe('[0].ip.src[2]');
  });

  it('rejects a protocol it cannot build and a stack that does not start with Ethernet', () => {
    expect(inputError(() => encodeFields({ 'frame.protocols': 'eth:ethertype:ip:sctp' }, '[0]')).path).toBe('[0].frame.protocols');
    expect(inputError(() => encodeFields({ 'frame.protocols': 'ip:udp' }, '[0]')).code).toBe('ENCODE_BAD_VALUE');
  });

  it('turns a value the header cannot carry into ENCODE_BAD_VALUE', () => {
    const e = inputError(() => encodeFields({ 'eth.type': '0x0800', 'vlan.id': 5 }, '[0]'));
    expect([e.code, e.path]).toEqual(['ENCODE_BAD_VALUE', '[0].vlan.etype']);
    expect(inputError(() => encodeFields({ 'ip.src': ['1.1.1.1', '2.2.2.2'], 'geneve.options': '0102800300' }, '[0]')).path).toBe('[0].geneve.options');
  });

  it('names the line and column of malformed JSON', () => {
    const e = inputError(() => encodeJson('[\n  {"ip.src": "1.2.3.4",}\n]', 'in.json'));
    expect(e.code).toBe('ENCODE_BAD_JSON');
    expect(e.path).toBe('in.json');
    expect(e.message).toMatch(/line 2, column \d+/);
    expect(inputError(() => encodeJson('[{"ip.src": "1.2', 'in.json')).message).toMatch(/line 1, column/);
  });

  it('wants packet objects', () => {
    expect(inputError(() => encodeJson('[1]', 'in.json')).path).toBe('[0]');
    expect(inputError(() => encodeJson('[{}, [{}]]', 'in.json')).path).toBe('[1]');
  });
});

describe('encode: timestamps and documents', () => {
  it('gives packet i ENCODE_EPOCH_S + i seconds by default', () => {
    const { frames } = encodeJson(JSON.stringify([{}, {}, {}]), 'x');
    expect(frames.map((f) => [f.tsSec, f.tsNsec])).toEqual([[ENCODE_EPOCH_S, 0], [ENCODE_EPOCH_S + 1, 0], [ENCODE_EPOCH_S + 2, 0]]);
  });

  it('reads frame.time_epoch as text or a number', () => {
    const { frames } = encodeJson(JSON.stringify([{ 'frame.time_epoch': '1700000123.000456789' }, { 'frame.time_epoch': 12.5 }, { 'frame.time_epoch': '7' }]), 'x');
    expect(frames.map((f) => [f.tsSec, f.tsNsec])).toEqual([[1700000123, 456789], [12, 500000000], [7, 0]]);
    expect(inputError(() => encodeJson('{"frame.time_epoch": "yesterday"}', 'x')).path).toBe('[0].frame.time_epoch');
  });

  it('accepts one packet object as a document', () => {
    const { frames } = encodeJson('{"ip.src": "10.0.0.1", "udp.dstport": 53}', 'x');
    expect(frames).toHaveLength(1);
    expect(fieldValues(dissect(frames[0]!.data), 'udp.dstport')).toEqual(['53']);
  });
});

describe('encode: the field registry', () => {
  it('knows every field name the dissector sources add (but the link layers it does not write)', () => {
    const names = dissectorFieldNames();
    expect(names.size).toBeGreaterThan(200);
    // pcap encode writes Ethernet frames: Linux cooked capture fields are refused by name (below)
    expect([...names].filter((n) => !isKnownField(n) && !n.startsWith('sll.'))).toEqual([]);
    expect([...names].some((n) => n.startsWith('sll.'))).toBe(true);
  });

  it('refuses a Linux cooked capture field with ENCODE_BAD_VALUE rather than "unknown field"', () => {
    const e = inputError(() => encodeFields({ 'sll.pkttype': '0', 'ip.src': '10.0.0.1' }, '[7]'));
    expect([e.code, e.path]).toEqual(['ENCODE_BAD_VALUE', '[7].sll.pkttype']);
    expect(e.message).toContain('Ethernet');
  });

  it('raises only InputError for arbitrary values of the fields the decoder prints (property)', () => {
    const names = [...dissectorFieldNames()].filter((n) => isKnownField(n)).sort();
    const scalar = fc.oneof(
      fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 0xffffffff }), fc.boolean(),
      fc.constantFrom('0', '1', '0x0800', '0xffff', '10.0.0.1', 'fd00::1', A, '0102800300', '00', '', '<none>', 'eth:ethertype:ip:tcp', '1.5', '-1'),
    );
    const pkt = fc.dictionary(fc.constantFrom(...names), fc.oneof(scalar, fc.array(scalar, { maxLength: 4 })), { maxKeys: 12 });
    fc.assert(fc.property(pkt, (p) => {
      try {
        encodeFields(p, '[0]');
      } catch (e) {
        if (!(e instanceof InputError)) throw e;
        expect(e.code).toMatch(/^ENCODE_/);
      }
    }), { numRuns: 3000 });
  });

  it('knows every field the decoder prints for the samples and the crafted frames', () => {
    const seen = new Set<string>();
    for (const s of samples()) for (const p of s.json) for (const k of Object.keys(p)) if (k !== 'error') seen.add(k);
    for (const c of CRAFTED) for (const k of Object.keys(dissectionToJson(dissect(c.frame)))) if (k !== 'error') seen.add(k);
    expect([...seen].filter((n) => !isKnownField(n))).toEqual([]);
    // a derived field never carries something the encoder needs: the samples round-trip without them (above)
    for (const d of DERIVED_FIELDS) expect(isKnownField(d)).toBe(true);
  });
});

// ---- oracles ---------------------------------------------------------------------

const SA = `Ether(src='${A}',dst='${B}')`;
const DESCRIBED: { name: string; json: Record<string, unknown>; scapy: string; quoted?: boolean }[] = [
  {
    name: 'UDP with a payload',
    json: { 'eth.src': A, 'eth.dst': B, 'ip.src': '10.0.0.1', 'ip.dst': '10.0.0.2', 'udp.srcport': '40000', 'udp.dstport': 40001, 'data.data': txt('hello') },
    scapy: `${SA}/IP(src='10.0.0.1',dst='10.0.0.2')/UDP(sport=40000,dport=40001)/Raw(b'hello')`,
  },
  {
    name: 'TCP SYN with options from tcp.option_kind',
    json: {
      'eth.src': A, 'eth.dst': B, 'ip.src': '10.0.0.1', 'ip.dst': '10.0.0.2', 'ip.flags.df': 1, 'tcp.srcport': 40000, 'tcp.dstport': 80,
      'tcp.seq': 100, 'tcp.flags': '0x0002', 'tcp.window_size_value': 64240, 'tcp.option_kind': ['2', '4', '8', '1', '3'],
      'tcp.options.mss_val': 1460, 'tcp.options.timestamp.tsval': 100, 'tcp.options.timestamp.tsecr': 0, 'tcp.options.wscale.shift': 7,
    },
    scapy: `${SA}/IP(src='10.0.0.1',dst='10.0.0.2',flags='DF')/TCP(sport=40000,dport=80,seq=100,flags='S',window=64240,options=[('MSS',1460),('SAckOK',b''),('Timestamp',(100,0)),('NOP',None),('WScale',7)])`,
  },
  {
    name: 'VXLAN with inner TCP, outer and inner values as arrays',
    json: {
      'eth.src': [A, '02:00:00:00:02:01'], 'eth.dst': [B, '02:00:00:00:02:02'], 'ip.src': ['192.168.100.1', '10.200.0.1'],
      'ip.dst': ['192.168.100.2', '10.200.0.2'], 'udp.srcport': 49152, 'vxlan.vni': 5001, 'tcp.srcport': 57592, 'tcp.dstport': 8080,
      'tcp.flags': '0x0018', 'tcp.seq': 1, 'tcp.ack': 1, 'tcp.window_size_value': 502, 'data.data': txt('inner'),
    },
    scapy: `${SA}/IP(src='192.168.100.1',dst='192.168.100.2')/UDP(sport=49152,dport=4789)/VXLAN(flags=0x08,vni=5001)/Ether(src='02:00:00:00:02:01',dst='02:00:00:00:02:02')/IP(src='10.200.0.1',dst='10.200.0.2')/TCP(sport=57592,dport=8080,flags='PA',seq=1,ack=1,window=502)/Raw(b'inner')`,
  },
  {
    name: 'ICMP port unreachable quoting UDP',
    json: {
      'eth.src': A, 'eth.dst': B, 'ip.src': ['10.0.2.1', '10.0.1.1'], 'ip.dst': ['10.0.1.1', '10.0.2.1'], 'ip.ttl': [63, 64],
      'icmp.type': 3, 'icmp.code': 3, 'udp.srcport': 59663, 'udp.dstport': 33434, 'data.data': txt('anyone on 33434?'),
    },
    scapy: `${SA}/IP(src='10.0.2.1',dst='10.0.1.1',ttl=63)/ICMP(type=3,code=3)/IP(src='10.0.1.1',dst='10.0.2.1')/UDP(sport=59663,dport=33434)/Raw(b'anyone on 33434?')`,
    quoted: true,
  },
  {
    name: 'ICMP time exceeded quoting a TCP header cut to 8 bytes',
    json: {
      'eth.src': A, 'eth.dst': B, 'ip.src': ['10.0.1.254', '10.0.1.1'], 'ip.dst': ['10.0.1.1', '10.0.2.1'], 'ip.ttl': [64, 1],
      'icmp.type': 11, 'tcp.srcport': 50000, 'tcp.dstport': 443, 'tcp.seq': '16909060',
    },
    scapy: `${SA}/IP(src='10.0.1.254',dst='10.0.1.1')/ICMP(type=11,code=0)/IP(src='10.0.1.1',dst='10.0.2.1',ttl=1,proto=6)/Raw(bytes(TCP(sport=50000,dport=443,seq=0x01020304))[:8])`,
    quoted: true,
  },
  {
    name: 'ARP reply',
    json: { 'eth.src': B, 'eth.dst': A, 'arp.opcode': 2, 'arp.src.hw_mac': B, 'arp.src.proto_ipv4': '10.0.0.2', 'arp.dst.hw_mac': A, 'arp.dst.proto_ipv4': '10.0.0.1' },
    scapy: `Ether(src='${B}',dst='${A}')/ARP(op=2,hwsrc='${B}',psrc='10.0.0.2',hwdst='${A}',pdst='10.0.0.1')`,
  },
  {
    name: 'IPv6 neighbor solicitation with a source link-layer option',
    json: {
      'eth.src': A, 'eth.dst': '33:33:ff:00:00:02', 'ipv6.src': 'fd00:0:0:1::1', 'ipv6.dst': 'ff02::1:ff00:2', 'ipv6.hlim': 255,
      'icmpv6.type': 135, 'icmpv6.nd.ns.target_address': 'fd00:0:0:1::2', 'icmpv6.opt.type': 1, 'icmpv6.opt.length': 1, 'icmpv6.opt.linkaddr': A,
    },
    scapy: `Ether(src='${A}',dst='33:33:ff:00:00:02')/IPv6(src='fd00:0:0:1::1',dst='ff02::1:ff00:2',hlim=255)/ICMPv6ND_NS(tgt='fd00:0:0:1::2')/ICMPv6NDOptSrcLLAddr(lladdr='${A}')`,
  },
  {
    name: 'QinQ with an ICMP echo',
    json: { 'eth.src': A, 'eth.dst': B, 'ieee8021ad.id': 300, 'vlan.id': 100, 'vlan.priority': 3, 'ip.src': '10.0.0.1', 'ip.dst': '10.0.0.2', 'icmp.type': 8, 'icmp.ident': 1, 'icmp.seq': 1 },
    scapy: `${SA}/Dot1AD(vlan=300)/Dot1Q(vlan=100,prio=3)/IP(src='10.0.0.1',dst='10.0.0.2')/ICMP(id=1,seq=1)`,
  },
  {
    name: 'Geneve with options given as class/type/data arrays',
    json: {
      'eth.src': [A, A], 'eth.dst': [B, B], 'ip.src': ['10.200.0.1', '10.0.0.1'], 'ip.dst': ['10.200.0.2', '10.0.0.2'], 'udp.srcport': 49153,
      'geneve.vni': '0x001234', 'geneve.flags.critical': 1, 'geneve.option.class': ['0x0102', '0xffff'], 'geneve.option.type': ['0x80', '0x01'],
      'geneve.option.unknown.data': ['0000002a', 'deadbeef01020304'], 'icmp.type': 8, 'icmp.ident': '0x4242', 'icmp.seq': 1,
    },
    scapy: `${SA}/IP(src='10.200.0.1',dst='10.200.0.2')/UDP(sport=49153,dport=6081)/GENEVE(vni=0x1234,proto=0x6558,critical=1,optionlen=5,options=[GeneveOptions(classid=0x0102,type=0x80,data=b'\\x00\\x00\\x00\\x2a'),GeneveOptions(classid=0xffff,type=0x01,data=b'\\xde\\xad\\xbe\\xef\\x01\\x02\\x03\\x04')])/${SA}/IP(src='10.0.0.1',dst='10.0.0.2')/ICMP(id=0x4242,seq=1)`,
  },
  {
    name: 'IPv4 Record Route and Router Alert from their fields',
    json: {
      'eth.src': A, 'eth.dst': B, 'ip.src': '10.0.0.1', 'ip.dst': '10.0.0.2', 'ip.opt.type': ['7', '148'], 'ip.opt.len': ['11', '4'],
      'ip.opt.ptr': 4, 'ip.empty_rt': ['0.0.0.0', '0.0.0.0'], 'ip.opt.ra': 0, 'udp.srcport': 40000, 'udp.dstport': 40001,
    },
    scapy: `${SA}/IP(src='10.0.0.1',dst='10.0.0.2',options=[IPOption_RR(pointer=4,routers=['0.0.0.0','0.0.0.0']),IPOption_Router_Alert()])/UDP(sport=40000,dport=40001)`,
  },
  {
    name: 'IPv6 hop-by-hop options from their fields, then an echo',
    json: {
      'eth.src': A, 'eth.dst': B, 'ipv6.src': 'fd00::1', 'ipv6.dst': 'fd00::2', 'ipv6.hopopts.len': 0, 'ipv6.opt.type': ['0x05', '0x01'],
      'ipv6.opt.router_alert': 0, 'ipv6.opt.padn': '<none>', 'icmpv6.type': 128, 'icmpv6.echo.identifier': '0x0077',
      'icmpv6.echo.sequence_number': 1, 'data.data': '78',
    },
    scapy: `${SA}/IPv6(src='fd00::1',dst='fd00::2')/IPv6ExtHdrHopByHop(options=[RouterAlert(value=0),PadN(optdata=b'')])/ICMPv6EchoRequest(id=0x77,seq=1,data=b'x')`,
  },
  {
    name: 'frame.protocols puts a VLAN tag on the inner frame of a VXLAN packet',
    json: {
      'frame.protocols': 'eth:ethertype:ip:udp:vxlan:eth:ethertype:vlan:ethertype:ip:udp', 'eth.src': [A, A], 'eth.dst': [B, B],
      'vlan.id': 42, 'ip.src': ['192.168.0.1', '10.0.0.1'], 'ip.dst': ['192.168.0.2', '10.0.0.2'], 'udp.srcport': [49152, 40000],
      'udp.dstport': [4789, 40001], 'vxlan.vni': 9,
    },
    scapy: `${SA}/IP(src='192.168.0.1',dst='192.168.0.2')/UDP(sport=49152,dport=4789)/VXLAN(flags=0x08,vni=9)/${SA}/Dot1Q(vlan=42)/IP(src='10.0.0.1',dst='10.0.0.2')/UDP(sport=40000,dport=40001)`,
  },
  {
    name: 'a later IPv4 fragment',
    json: { 'eth.src': A, 'eth.dst': B, 'ip.src': '10.0.0.1', 'ip.dst': '10.0.0.2', 'ip.id': '0x1234', 'ip.flags.mf': 1, 'ip.frag_offset': 150, 'ip.proto': 17, 'data.data': 'aa'.repeat(16) },
    scapy: `${SA}/IP(src='10.0.0.1',dst='10.0.0.2',id=0x1234,flags='MF',frag=150,proto=17)/Raw(b'\\xaa'*16)`,
  },
];

describeWith('scapy', 'encode vs scapy', () => {
  it('JSON descriptions encode to scapy\'s bytes for the same packets', () => {
    const code = 'load_contrib("geneve")\n' + DESCRIBED.map((c) => `print(bytes(${c.scapy}).hex())`).join('\n');
    const lines = scapy(code).trim().split('\n').filter((l) => /^[0-9a-f]*$/.test(l));
    expect(lines).toHaveLength(DESCRIBED.length);
    DESCRIBED.forEach((c, i) => {
      expect(hex(encodeFields(c.json, `[${i}]`)), c.name).toBe(lines[i]);
    });
  });
});

describeWith('tshark', 'encode vs tshark', () => {
  it('reads every encoded packet with no malformed flag, no error-level expert item and good checksums', () => {
    const { frames } = encodeJson(JSON.stringify(DESCRIBED.map((c) => c.json)), 'described.json');
    const status = ['ip.checksum.status', 'udp.checksum.status', 'tcp.checksum.status', 'icmp.checksum.status', 'icmpv6.checksum.status'];
    const { path, cleanup } = writeTempPcap(frames.map((f) => f.data));
    try {
      const rows = tsharkFields(path, ['_ws.malformed', '_ws.expert', '_ws.expert.severity', ...status]);
      expect(rows).toHaveLength(DESCRIBED.length);
      rows.forEach((r, i) => {
        const c = DESCRIBED[i]!;
        expect(r['_ws.malformed'], c.name).toBe('');
        expect(r['_ws.expert.severity']!.split(',').filter((s) => s === String(0x00800000)), `${c.name}: ${r['_ws.expert']}`).toEqual([]);
        for (const f of status) {
          for (const v of r[f] === '' ? [] : r[f]!.split(',')) expect(v === '1' || (c.quoted === true && v === '2'), `${c.name}: ${f} = ${r[f]}`).toBe(true);
        }
      });
    } finally {
      cleanup();
    }
  });

  it('decodes an encoded sample capture as tshark decodes the original', () => {
    const s = samples().find((x) => x.file === 'vxlan-kernel.pcap')!;
    const { frames } = encodeJson(JSON.stringify(s.json), s.file);
    const fields = ['frame.protocols', 'ip.src', 'vxlan.vni', 'tcp.seq_raw', 'ip.checksum.status', 'udp.checksum.status', 'tcp.checksum.status'];
    const a = writeTempPcap(s.records.map((r) => r.data)), b = writeTempPcap(frames.map((f) => f.data));
    try {
      expect(tsharkFields(b.path, fields)).toEqual(tsharkFields(a.path, fields));
    } finally {
      a.cleanup();
      b.cleanup();
    }
  });
});

describe('encode: trailers of tagged frames', () => {
  it('a trailer reported on the innermost VLAN tag round-trips', () => {
    const f = new FrameBuilder().eth({ src: A, dst: B }).vlan({ vid: 5 }).ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).udp({ srcPort: 1, dstPort: 40000 })
      .payload('x').build();
    const withTrailer = new Uint8Array(f.length + 3);
    withTrailer.set(f); withTrailer.set([1, 2, 3], f.length);
    const j = JSON.parse(JSON.stringify(dissectionToJson(dissect(withTrailer)))) as Record<string, unknown>;
    expect(j['vlan.trailer']).toBe('010203');
    expect(hex(encodeFields(j, '[0]'))).toBe(hex(withTrailer));
  });
});
