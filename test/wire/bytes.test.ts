import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromHex, ipv4ToString, ipv6ToString, macToString, parseIpv4, parseIpv6, parseMac, toHex } from '../../src/wire/bytes.js';

describe('address text (tables of valid and invalid input)', () => {
  it.each([
    ['0.0.0.0', 0], ['10.0.0.1', 0x0a000001], ['255.255.255.255', 0xffffffff], [' 192.168.1.1 ', 0xc0a80101],
  ])('parseIpv4(%j)', (s, v) => { expect(parseIpv4(s)).toBe(v); });
  it.each(['1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.4/24', 'a.b.c.d', '', '1..2.3'])('parseIpv4 rejects %j', (s) => {
    expect(parseIpv4(s)).toBeNull();
  });
  it.each([
    ['::', '::'], ['::1', '::1'], ['fe80::1', 'fe80::1'], ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], ['::ffff:1.2.3.4', '::ffff:1.2.3.4'], ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['2001:db8::', '2001:db8::'], ['0:0:1:0:0:0:0:0', '0:0:1::'],
    // embedded IPv4 exactly where tshark and tcpdump print it (checked with tshark 4.0 / glibc inet_ntop)
    ['::0.0.1.2', '::102'], ['::0.1.0.0', '::0.1.0.0'], ['::ffff:0:1.2.3.4', '::ffff:0:102:304'], ['64:ff9b::1.2.3.4', '64:ff9b::102:304'],
    ['::0.0.0.2', '::2'], ['0:0:0:0:0:1:0:0', '::1:0:0'],
  ])('parseIpv6(%j) prints as %j (RFC 5952, as tshark prints)', (s, out) => {
    const b = parseIpv6(s);
    expect(b).not.toBeNull();
    expect(ipv6ToString(b!, 0)).toBe(out);
  });
  it.each(['1::2::3', 'gggg::', '1:2:3:4:5:6:7:8:9', '2001:db8::/32', 'fe80::1%eth0', '', ':::'])('parseIpv6 rejects %j', (s) => {
    expect(parseIpv6(s)).toBeNull();
  });
  it.each([['02:00:00:00:00:01', '02:00:00:00:00:01'], ['AA-BB-CC-DD-EE-FF', 'aa:bb:cc:dd:ee:ff'], ['0:1:2:3:4:5', '00:01:02:03:04:05']])('parseMac(%j)', (s, out) => {
    expect(macToString(parseMac(s)!, 0)).toBe(out);
  });
  it.each(['02:00:00:00:00', '02:00:00:00:00:01:02', 'zz:00:00:00:00:01', ''])('parseMac rejects %j', (s) => {
    expect(parseMac(s)).toBeNull();
  });
  it('property: IPv4 and IPv6 text round-trips', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (a) => { expect(parseIpv4(ipv4ToString(a))).toBe(a); }));
    fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => { expect(parseIpv6(ipv6ToString(b, 0))).toEqual(b); }));
  });
  it('hex both ways, offsets respected', () => {
    const b = Uint8Array.from([0, 1, 0xab, 0xff]);
    expect(toHex(b)).toBe('0001abff');
    expect(toHex(b.subarray(1), 1, 3)).toBe('abff');
    expect(fromHex('00:01 ab ff')).toEqual(b);
    expect(fromHex('abc')).toBeNull();
    expect(fromHex('zz')).toBeNull();
  });
});
