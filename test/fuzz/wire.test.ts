// Frame decoders against hostile bytes (issue 11): every header decoder of src/wire (the views'
// `checked()` and their Repr's `parse`) and every consumer of a dissection (the dissector, the
// tcpdump-style summary line, the JSON of `pcap decode`, the flow-key extractor) get frames of each
// protocol cut at every offset, mutated valid frames and random bytes. Each yields a result or a
// WireError whose byte offset lies inside the buffer — never a TypeError, RangeError or a hang.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { WireError } from '../../src/errors.js';
import { ArpPacket, ArpRepr } from '../../src/wire/arp.js';
import { FrameBuilder } from '../../src/wire/builder.js';
import { dissect } from '../../src/wire/dissect/index.js';
import { dissectionToJson } from '../../src/wire/encode.js';
import { EthernetFrame, EthernetRepr } from '../../src/wire/ethernet.js';
import { X_WORDS, extractFields } from '../../src/wire/extract.js';
import { GenevePacket, GeneveRepr } from '../../src/wire/geneve.js';
import { IcmpPacket, IcmpRepr } from '../../src/wire/icmp.js';
import { Icmpv6Packet, Icmpv6Repr } from '../../src/wire/icmpv6.js';
import { Ipv4Packet, Ipv4Repr } from '../../src/wire/ipv4.js';
import { Ipv6Packet, Ipv6Repr } from '../../src/wire/ipv6.js';
import { summarize } from '../../src/wire/summary.js';
import { TcpPacket, TcpRepr } from '../../src/wire/tcp.js';
import { UdpPacket, UdpRepr } from '../../src/wire/udp.js';
import { VxlanPacket, VxlanRepr } from '../../src/wire/vxlan.js';

/** Runs per property (SDNEMU_FUZZ_RUNS explores more locally). */
const RUNS = Number(process.env.SDNEMU_FUZZ_RUNS ?? 1000);

const MAC_A = '02:00:00:00:00:01', MAC_B = '02:00:00:00:00:02';
const eth = (): FrameBuilder => new FrameBuilder().eth({ src: MAC_A, dst: MAC_B });
const v4 = { src: '10.0.0.1', dst: '10.0.0.2' };
const v6 = { src: 'fd00::1', dst: 'fd00::2' };
const quote4 = new FrameBuilder().ipv4(v4).udp({ srcPort: 1000, dstPort: 2000 }).payload('abcdefgh').build();
const quote6 = new FrameBuilder().ipv6(v6).tcp({ flags: 'PA', seq: 7 }).payload('q').build();
/** Hop-by-hop (Router Alert) then a fragment header (first fragment), then UDP. */
const EXT6 = Uint8Array.from([44, 0, 5, 2, 0, 0, 1, 0, 17, 0, 0, 1, 0, 0, 0, 42]);

/** One valid frame of each protocol sdnemu dissects, built with the frame builder. */
const FRAMES: [string, Uint8Array][] = [
  ['ethernet', eth().payload('x').build()],
  ['802.1Q', eth().vlan({ vid: 10, pcp: 3 }).ipv4(v4).udp().payload('dns?').build()],
  ['802.1ad + 802.1Q', eth().vlan({ vid: 100, tpid: 0x88a8 }).vlan({ vid: 7 }).arp({}).build()],
  ['ARP', eth().arp({ op: 2 }).pad().build()],
  ['IPv4 with options', eth().ipv4({ ...v4, options: Uint8Array.from([7, 7, 4, 0, 0, 0, 0, 1]) }).udp().payload('o').build()],
  ['IPv4 first fragment of UDP', eth().ipv4({ ...v4, mf: true, protocol: 17 }).payload(Uint8Array.from([0, 53, 0, 53, 0, 200, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8])).build()],
  ['IPv6 with extension headers', eth().ipv6({ ...v6, nextHeader: 0, extHeaders: EXT6 }).udp().payload('e').build()],
  ['ICMP echo', eth().ipv4(v4).icmp({ ident: 1, seq: 2 }).payload('ping').build()],
  ['ICMP error quoting UDP', eth().ipv4(v4).icmp({ type: 3, code: 3 }).payload(quote4).build()],
  ['ICMPv6 echo', eth().ipv6(v6).icmpv6({ type: 128, ident: 3, seq: 4 }).payload('p6').build()],
  ['ICMPv6 neighbour solicitation', eth().ipv6({ ...v6, hopLimit: 255 }).icmpv6({
    kind: 'neighborSolicit', code: 0, checksum: -1, reserved: 0, target: new Uint8Array(16), options: [{ kind: 'sourceLinkAddr', addr: Uint8Array.from([2, 0, 0, 0, 0, 1]) }],
  }).build()],
  ['ICMPv6 error quoting TCP', eth().ipv6(v6).icmpv6({ type: 1, code: 4 }).payload(quote6).build()],
  ['UDP', eth().ipv4(v4).udp({ srcPort: 5000, dstPort: 5001 }).payload('hello').build()],
  ['TCP with options', eth().ipv4(v4).tcp({
    flags: 'S', options: [{ kind: 'mss', value: 1460 }, { kind: 'sackPerm' }, { kind: 'timestamp', tsval: 1, tsecr: 0 }, { kind: 'nop' }, { kind: 'wscale', shift: 7 }],
  }).build()],
  ['TCP over IPv6', eth().ipv6(v6).tcp({ flags: 'PA', seq: 1, ack: 2 }).payload('data').build()],
  ['VXLAN', eth().ipv4(v4).udp().vxlan({ vni: 0xabcdef }).eth({ src: MAC_B, dst: MAC_A }).ipv4(v4).tcp({}).build()],
  ['Geneve with options', eth().ipv6(v6).udp().geneve({
    vni: 42, options: [GeneveRepr.option(0x0102, 0x80, Uint8Array.from([1, 2, 3, 4])), GeneveRepr.option(0xffff, 1, new Uint8Array(8))],
  }).eth({ src: MAC_B, dst: MAC_A }).ipv6(v6).icmpv6({ type: 128 }).build()],
];

/** Every header decoder, applied at 'off' of 'b': a Repr (whatever it holds) or a WireError. */
const DECODERS: [string, (b: Uint8Array, off: number) => unknown][] = [
  ['ethernet', (b, o) => EthernetRepr.parse(EthernetFrame.checked(b, o))],
  ['arp', (b, o) => ArpRepr.parse(ArpPacket.checked(b, o))],
  ['ipv4', (b, o) => Ipv4Repr.parse(Ipv4Packet.checked(b, o))],
  ['ipv6', (b, o) => Ipv6Repr.parse(Ipv6Packet.checked(b, o))],
  ['icmp', (b, o) => IcmpRepr.parse(IcmpPacket.checked(b, o))],
  ['icmpv6', (b, o) => Icmpv6Repr.parse(Icmpv6Packet.checked(b, o))],
  ['udp', (b, o) => UdpRepr.parse(UdpPacket.checked(b, o))],
  ['tcp', (b, o) => TcpRepr.parse(TcpPacket.checked(b, o))],
  ['vxlan', (b, o) => VxlanRepr.parse(VxlanPacket.checked(b, o))],
  ['geneve', (b, o) => GeneveRepr.parse(GenevePacket.checked(b, o))],
];

/** Run one decoder: a result, or a WireError at an offset inside [off, b.length]. */
function decodeOrWireError(name: string, decode: (b: Uint8Array, off: number) => unknown, b: Uint8Array, off: number): void {
  try {
    decode(b, off);
  } catch (e) {
    if (!(e instanceof WireError)) throw new Error(`${name} at ${off} of ${b.length} bytes threw ${String(e)}`, { cause: e });
    expect(e.offset, `${name}: ${e.message}`).toBeGreaterThanOrEqual(Math.min(off, b.length));
    expect(e.offset, `${name}: ${e.message}`).toBeLessThanOrEqual(Math.max(off, b.length));
    expect(e.code).toMatch(/^WIRE_/);
  }
}

const LINKTYPES = [1, 101, 113, 228, 229, 276, 147];
const keys = new Uint32Array(X_WORDS);

/** Every user-facing decode of one frame: dissection (error inside the frame), one summary line, JSON, flow key. */
function decodeAll(b: Uint8Array, linktype = 1): ReturnType<typeof dissect> {
  const d = dissect(b, { linktype });
  if (d.error) {
    expect(d.error.offset).toBeGreaterThanOrEqual(0);
    expect(d.error.offset).toBeLessThanOrEqual(b.length);
    expect(d.error.code).toMatch(/^WIRE_/);
  }
  expect(summarize(d, b, 0, 0, b.length, linktype).split('\n')).toHaveLength(1);
  JSON.stringify(dissectionToJson(d));
  if (linktype === 1) extractFields(b, 0, b.length, keys, 0);
  return d;
}

/** An Ethernet frame of 'n' IPv4 headers each carrying the next (protocol 4), lengths as large as they go. */
function ipInIp(n: number): Uint8Array {
  const b = new Uint8Array(14 + 20 * n);
  b.set([0x08, 0x00], 12);
  for (let o = 14; o < b.length; o += 20) b.set([0x45, 0, 0xff, 0xff, 0, 0, 0, 0, 64, 4, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2], o);
  return b;
}

describe('frame decoders under hostile input', () => {
  it.each(FRAMES)('%s: decodes whole, then cut at every offset each decoder and the dissector fail with a WireError at or before the cut', (_name, frame) => {
    expect(decodeAll(frame).error).toBeNull();
    for (let cut = 0; cut < frame.length; cut++) {
      const b = frame.slice(0, cut);
      const d = decodeAll(b);
      if (d.error) expect(d.error.offset).toBeLessThanOrEqual(cut);
      for (let off = 0; off <= cut; off += 2) for (const [n, dec] of DECODERS) decodeOrWireError(n, dec, b, off);
    }
  });

  it('valid frames with up to 8 bytes changed: every decode gives a result or its WireError', () => {
    fc.assert(fc.property(fc.nat(FRAMES.length - 1), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 8 }), fc.nat(), (k, muts, at) => {
      const b = FRAMES[k]![1].slice();
      for (const [pos, v] of muts) b[pos % b.length] = v;
      decodeAll(b);
      for (const [n, dec] of DECODERS) decodeOrWireError(n, dec, b, at % (b.length + 1));
    }), { numRuns: RUNS * 2 });
  });

  it('random bytes, under every link type: a dissection whose error (if any) lies inside the frame', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.constantFrom(...LINKTYPES), (b, lt) => { decodeAll(b, lt); }), { numRuns: RUNS * 2 });
  });

  it('random bytes at any offset: each header decoder gives a result or a WireError inside the buffer', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 120 }), fc.nat(130), (b, off) => {
      for (const [n, dec] of DECODERS) decodeOrWireError(n, dec, b, off);
    }), { numRuns: RUNS * 2 });
  });

  it('random bytes after valid headers of each protocol (a valid prefix, garbage inside)', () => {
    fc.assert(fc.property(fc.nat(FRAMES.length - 1), fc.nat(200), fc.uint8Array({ minLength: 1, maxLength: 80 }), (k, at, junk) => {
      const f = FRAMES[k]![1];
      const cut = at % (f.length + 1);
      const b = new Uint8Array(cut + junk.length);
      b.set(f.subarray(0, cut));
      b.set(junk, cut);
      decodeAll(b);
    }), { numRuns: Math.round(RUNS * 1.5) });
  });

  // what the properties above found (each crashed before it was fixed)
  it('regression: 3000 nested IP-in-IP headers: the summary line stops at 64 instead of overflowing the stack (RangeError)', () => {
    const b = ipInIp(3000);
    const line = summarize(dissect(b), b, 0, 0);
    expect(line).toMatch(/ \[more than 64 nested headers\]$/);
    expect(line.match(/10\.0\.0\.1 > 10\.0\.0\.2/g)).toHaveLength(64 - 1);
  });

  // A safety net against exponential or quadratic decoding, not a speed test: the bound is generous.
  it('pathological frames (1 MB, hundreds of tags, nested tunnels, option floods) decode within seconds', () => {
    const big = new Uint8Array(1 << 20);
    big.set(FRAMES[12]![1]);
    const tags = new Uint8Array(12 + 4 * 5000 + 2);
    for (let i = 12; i < tags.length - 2; i += 4) { tags[i] = 0x81; tags[i + 2] = 0x00; tags[i + 3] = 1; }
    let nested = eth();
    for (let i = 0; i < 40; i++) nested = nested.ipv4(v4).udp().vxlan({ vni: i }).eth({ src: MAC_A, dst: MAC_B });
    const nops = eth().ipv4({ ...v4, options: new Uint8Array(40).fill(1) }).tcp({ optionBytes: new Uint8Array(40).fill(1) }).build();
    const t0 = performance.now();
    for (const b of [big, tags, nested.payload('end').build(), nops, ipInIp(30_000)]) decodeAll(b);
    expect(performance.now() - t0).toBeLessThan(10_000);
  });
});
