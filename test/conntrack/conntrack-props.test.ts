/**
 * Properties of the conntrack fast path (fast-check):
 * - arbitrary bytes, and mutations of real frames, never throw; an IP packet
 *   always comes out +trk (a malformed one +trk+inv), anything else untouched;
 *   the table stays consistent (size = dump lines = sum of zone counts);
 * - NAT then reverse NAT restores the original: the reply to a translated
 *   packet, translated back, is byte for byte the reply to the original
 *   packet (builder-made, so every checksum must be exactly right).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Conntrack, CtResult, CS_INVALID, CS_TRACKED, type CtExecSpec, type NatRange } from '../../src/conntrack/index.js';
import { be16, be32, ipv4ToString } from '../../src/wire/bytes.js';
import { FrameBuilder } from '../../src/wire/builder.js';

const eth = (): FrameBuilder => new FrameBuilder().eth({ src: '00:00:00:00:00:01', dst: '00:00:00:00:00:02' });

function spec(o: Partial<CtExecSpec> = {}): CtExecSpec {
  return { zone: 0, commit: false, force: false, nat: null, mark: null, label: null, ...o };
}

const SPECS: CtExecSpec[] = [
  spec(), spec({ commit: true }), spec({ zone: 3, commit: true, force: true }),
  spec({ nat: { range: null } }),
  spec({ commit: true, nat: { range: { kind: 'src', addrMin: 0xc0a80001, addrMax: 0xc0a80003, portMin: 1000, portMax: 1003 } } }),
  spec({ commit: true, nat: { range: { kind: 'dst', addrMin: 0x0a000009, addrMax: 0, portMin: 0, portMax: 0 } } }),
  spec({ commit: true, mark: { value: 5, mask: 0xff }, label: { value: 3n, mask: 3n } }),
];

const SEEDS: Uint8Array[] = [
  eth().ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).tcp({ srcPort: 1, dstPort: 2, flags: 'S', seq: 5 }).payload('abc').build(),
  eth().ipv4({ src: '10.0.0.2', dst: '10.0.0.1' }).tcp({ srcPort: 2, dstPort: 1, flags: 'SA', seq: 9, ack: 6 }).build(),
  eth().ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).udp({ srcPort: 1, dstPort: 2 }).payload('abc').build(),
  eth().ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).icmp({ type: 8, ident: 3, seq: 1 }).build(),
  eth().ipv4({ src: '10.0.0.2', dst: '10.0.0.1' }).icmp({ type: 3, code: 3 }).ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).udp({ srcPort: 1, dstPort: 2 }).payload('abc').build(),
  eth().ipv6({ src: 'fd00::1', dst: 'fd00::2' }).tcp({ srcPort: 1, dstPort: 2, flags: 'S' }).build(),
  eth().ipv6({ src: 'fd00::2', dst: 'fd00::1' }).icmpv6({ type: 1, code: 4, rest: 0 }).ipv6({ src: 'fd00::1', dst: 'fd00::2' }).tcp({ srcPort: 1, dstPort: 2, flags: 'S' }).build(),
];

function checkTable(ct: Conntrack): void {
  const lines = ct.dump();
  expect(lines.length).toBe(ct.size);
  let sum = 0;
  for (const z of [0, 3]) sum += ct.zoneCount(z);
  expect(sum).toBe(ct.size);
}

describe('arbitrary input never throws', () => {
  it('random bytes, offsets, EtherTypes and prior states', () => {
    fc.assert(fc.property(
      fc.uint8Array({ maxLength: 160 }), fc.nat(200), fc.constantFrom(0x0800, 0x86dd, 0x0806, 0x8100), fc.nat(SPECS.length - 1),
      fc.integer({ min: 0, max: 255 }),
      (bytes, l3, dlType, si, prior) => {
        const ct = new Conntrack();
        const out = new CtResult();
        out.state = prior;
        ct.execute(bytes, Math.min(l3, bytes.length), bytes.length, dlType, SPECS[si]!, 0, out);
        if (dlType !== 0x0800 && dlType !== 0x86dd) expect(out.state).toBe(prior);
        else expect(out.state & CS_TRACKED).toBe(CS_TRACKED);
        checkTable(ct);
      },
    ), { numRuns: 400 });
  });

  it('mutated real frames through one table: always +trk, table consistent', () => {
    fc.assert(fc.property(
      fc.array(fc.record({
        seed: fc.nat(SEEDS.length - 1),
        flips: fc.array(fc.tuple(fc.nat(200), fc.integer({ min: 1, max: 255 })), { maxLength: 3 }),
        cut: fc.nat(8),
        spec: fc.nat(SPECS.length - 1),
        dt: fc.nat(100_000),
      }), { minLength: 1, maxLength: 20 }),
      (pkts) => {
        const ct = new Conntrack({ seed: 3 });
        const out = new CtResult();
        let now = 0;
        for (const p of pkts) {
          const src = SEEDS[p.seed]!;
          const f = src.slice(0, Math.max(14, src.length - p.cut));
          for (const [at, x] of p.flips) if (14 + at < f.length) f[14 + at] = f[14 + at]! ^ x;
          now += p.dt;
          out.clear();
          ct.execute(f, 14, f.length, be16(f, 12), SPECS[p.spec]!, now, out);
          expect(out.state & CS_TRACKED).toBe(CS_TRACKED);
          if (out.state & CS_INVALID) expect(out.state).toBe(CS_INVALID | CS_TRACKED);
          if (p.dt % 7 === 0) ct.expire(now);
        }
        ct.expire(now + 1e12);
        expect(ct.size).toBe(0);
      },
    ), { numRuns: 200 });
  });
});

describe('NAT then reverse NAT restores the original', () => {
  const ip4 = fc.integer({ min: 0x0a000001, max: 0x0a0000fe });
  const port = fc.integer({ min: 1, max: 65535 });
  it('TCP, UDP (with and without checksum) and ICMP echo, SNAT and DNAT, any range', () => {
    fc.assert(fc.property(
      fc.constantFrom('tcp', 'udp', 'udp0', 'icmp'), ip4, ip4, port, port,
      fc.constantFrom<'src' | 'dst'>('src', 'dst'), fc.integer({ min: 0xc0a80001, max: 0xc0a800fe }), fc.nat(3),
      fc.option(fc.tuple(port, fc.nat(50))), fc.uint8Array({ maxLength: 40 }), fc.integer({ min: 0, max: 0xffff }),
      (kind, a, b, sp, dp, natKind, natAddr, addrSpan, ports, payload, zone) => {
        fc.pre(a !== b);
        // ICMP with a port range: OVS (≥ 3.2) gives the reply key two different ids, so the echo
        // reply is never matched; not a configuration anyone uses, so not part of this property
        if (kind === 'icmp') ports = null;
        const range: NatRange = {
          kind: natKind, addrMin: natAddr, addrMax: natAddr + addrSpan,
          portMin: ports ? ports[0] : 0, portMax: ports ? Math.min(65535, ports[0] + ports[1]) : 0,
        };
        const frame = (s: number, d: number, sport: number, dport: number, reply: boolean): Uint8Array => {
          const f = eth().ipv4({ src: ipv4ToString(s), dst: ipv4ToString(d) });
          if (kind === 'tcp') f.tcp({ srcPort: sport, dstPort: dport, flags: reply ? 'SA' : 'S', seq: reply ? 500 : 100, ack: reply ? 101 : 0 });
          else if (kind === 'udp') f.udp({ srcPort: sport, dstPort: dport });
          else if (kind === 'udp0') f.udp({ srcPort: sport, dstPort: dport, checksum: 0 });
          else f.icmp({ type: reply ? 0 : 8, ident: sport, seq: 1 });
          return f.payload(payload).build();
        };
        const ct = new Conntrack({ seed: 11 });
        const out = new CtResult();
        const orig = frame(a, b, sp, dp, false);
        const p = orig.slice();
        ct.execute(p, 14, p.length, 0x800, spec({ zone, commit: true, nat: { range } }), 0, out);
        expect(ct.size).toBe(1);
        // the translated packet as the peer sees it, and the peer's answer
        const ts = be32(p, 26), td = be32(p, 30);
        const l4 = 34;
        const tsp = kind === 'icmp' ? be16(p, l4 + 4) : be16(p, l4), tdp = kind === 'icmp' ? be16(p, l4 + 4) : be16(p, l4 + 2);
        const answer = frame(td, ts, tdp, tsp, true);
        out.clear();
        ct.execute(answer, 14, answer.length, 0x800, spec({ zone, nat: { range: null } }), 1, out);
        expect(answer).toEqual(frame(b, a, kind === 'icmp' ? sp : dp, sp, true));
      },
    ), { numRuns: 300 });
  });
});
