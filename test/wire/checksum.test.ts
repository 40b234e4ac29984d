import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { csumUpdate16, csumUpdate32, fold, sum16 } from '../../src/wire/checksum.js';
import { setBe16, setBe32 } from '../../src/wire/bytes.js';

describe('checksum', () => {
  it('RFC 1071 example', () => {
    // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2
    const b = Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    expect(fold(sum16(b, 0, b.length))).toBe((~0xddf2) & 0xffff);
  });

  it('pads an odd tail byte with zero', () => {
    expect(sum16(Uint8Array.from([1, 2, 3]), 0, 3)).toBe(0x0102 + 0x0300);
  });

  it('property: incremental 16-bit update equals a full recompute', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 2, maxLength: 60 }).map((a) => (a.length % 2 ? a.subarray(1) : a)),
      fc.nat(), fc.integer({ min: 0, max: 0xffff }), (data, pos, nv) => {
        if (data.length < 2) return;
        const i = (pos % (data.length / 2)) * 2;
        const before = fold(sum16(data, 0, data.length));
        const old = (data[i]! << 8) | data[i + 1]!;
        const b2 = data.slice(); setBe16(b2, i, nv);
        const full = fold(sum16(b2, 0, b2.length));
        const inc = csumUpdate16(before, old, nv);
        // 0x0000 and 0xffff are the same value in one's complement; RFC 1624 picks the canonical one
        expect(inc === full || (inc ^ full) === 0xffff && (inc === 0 || full === 0)).toBe(true);
      }));
  });

  it('property: incremental 32-bit update (NAT of an address) equals a full recompute', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.integer({ min: 0, max: 0xffffffff }), (hdr, addr) => {
      hdr[10] = 0; hdr[11] = 0;
      const c0 = fold(sum16(hdr, 0, 20));
      setBe16(hdr, 10, c0);
      const old = ((hdr[12]! << 24) | (hdr[13]! << 16) | (hdr[14]! << 8) | hdr[15]!) >>> 0;
      setBe32(hdr, 12, addr);
      const inc = csumUpdate32(c0, old, addr);
      setBe16(hdr, 10, 0);
      const full = fold(sum16(hdr, 0, 20));
      expect(inc === full || (inc === 0xffff && full === 0) || (inc === 0 && full === 0xffff)).toBe(true);
    }));
  });
});
