/**
 * kube-proxy's address texts (src/k8s/kube-proxy/ip.ts): Go's sloppy parsing and net.IP /
 * net.IPNet printing. IPv6 printing is checked against the WHATWG URL serializer (RFC 5952's
 * rules: lower case, no leading zeros, the first longest run of ≥ 2 zero groups as `::`) on
 * random addresses; parsing round-trips every spelling of them.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { canonicalText, formatV6, joinHostPort, parseCidr, parseIp } from '../../src/k8s/kube-proxy/ip.js';

describe('parseIp', () => {
  it('reads both families as Go does', () => {
    expect(parseIp('10.180.00.001')).toMatchObject({ family: 'IPv4', text: '10.180.0.1' });
    expect(parseIp('FF06:0:0::00C2')).toMatchObject({ family: 'IPv6', text: 'ff06::c2' });
    expect(parseIp('2001:db8:0:0:1:0:0:1')?.text).toBe('2001:db8::1:0:0:1');
    expect(parseIp('2001:0:0:1:0:0:0:1')?.text).toBe('2001:0:0:1::1');
    expect(parseIp('2001:db8:0:1:1:1:1:1')?.text).toBe('2001:db8:0:1:1:1:1:1');
    expect(parseIp('::')?.text).toBe('::');
    expect(parseIp('::1')?.text).toBe('::1');
    expect(parseIp('64:ff9b::192.0.2.33')?.text).toBe('64:ff9b::c000:221');
    expect(parseIp('::ffff:10.1.2.3')).toMatchObject({ family: 'IPv4', text: '10.1.2.3' });
    for (const bad of ['256.1.1.1', '1.2.3', '1.2.3.4.5', '1::2::3', '1:2:3:4:5:6:7:8:9', 'g::1', '', ' 10.0.0.1', '10.0.0.1/8', '12345::']) {
      expect(parseIp(bad)).toBeNull();
    }
  });
  it('CIDRs: trimmed, host bits cleared, lengths checked', () => {
    expect(parseCidr(' 203.0.113.0/25')?.text).toBe('203.0.113.0/25');
    expect(parseCidr('10.1.2.3/8')?.text).toBe('10.0.0.0/8');
    expect(parseCidr('2001:db8::1/64')?.text).toBe('2001:db8::/64');
    expect(parseCidr('10.0.0.0/33')).toBeNull();
    expect(parseCidr('10.0.0.0')).toBeNull();
    expect(joinHostPort('ff06::c1', 80)).toBe('[ff06::c1]:80');
    expect(joinHostPort('10.0.0.1', 80)).toBe('10.0.0.1:80');
  });
  it('IPv6 text is RFC 5952 (as the URL serializer) and every spelling parses back', () => {
    const group = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    fc.assert(fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), fc.boolean(), (g, upper) => {
      const v = g.reduce((a, x) => (a << 16n) | BigInt(x), 0n);
      const text = formatV6(v);
      const full = g.map((x) => x.toString(16).padStart(4, '0')).join(':');
      expect(text).toBe(new URL(`http://[${full}]/`).hostname.slice(1, -1));
      const spelled = upper ? full.toUpperCase() : full;
      const back = parseIp(spelled)!;
      if (back.family === 'IPv6') {
        expect(back.value).toBe(v);
        expect(parseIp(text)!.value).toBe(v);
      } else {
        expect(g.slice(0, 6)).toEqual([0, 0, 0, 0, 0, 0xffff]); // only ::ffff:a.b.c.d is IPv4
      }
    }), { numRuns: 500, seed: 7 });
  });
  it('the fast path for dotted quads agrees with the full parser', () => {
    const part = fc.oneof(fc.integer({ min: 0, max: 300 }).map(String), fc.integer({ min: 0, max: 99 }).map((n) => `0${n}`), fc.constantFrom('', 'x', '0000'));
    fc.assert(fc.property(fc.array(part, { minLength: 3, maxLength: 5 }), (ps) => {
      const s = ps.join('.');
      expect(canonicalText(s)).toBe(parseIp(s)?.text ?? null);
    }), { numRuns: 1000, seed: 3 });
  });
});
