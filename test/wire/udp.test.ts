import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { UdpPacket, UdpRepr, UDP_HEADER_LEN } from '../../src/wire/udp.js';
import { ipv4PseudoSum } from '../../src/wire/checksum.js';
import { WireError } from '../../src/errors.js';
import { describeWith, scapyBytes } from '../oracle/tools.js';
import { catchWire } from '../oracle/wire.js';

// /usr/bin/python3 -c "from scapy.all import *; print(bytes(IP(src='10.0.0.1',dst='10.0.0.2')/UDP(sport=1234,dport=53)/b'hello')[UDP]).hex())"
const PACKET_HEX = '04d20035000da2f868656c6c6f';
const PACKET = Uint8Array.from(Buffer.from(PACKET_HEX, 'hex'));
const SRC = 0x0a000001, DST = 0x0a000002;
const pseudo = (len: number): number => ipv4PseudoSum(SRC, DST, 17, len);

describe('udp', () => {
  it('deconstructs every field', () => {
    const p = UdpPacket.checked(PACKET);
    expect(p.srcPort()).toBe(1234);
    expect(p.dstPort()).toBe(53);
    expect(p.length()).toBe(13);
    expect(p.checksum()).toBe(0xa2f8);
    expect(p.payloadOffset()).toBe(8);
    expect(p.payloadEnd()).toBe(13);
    expect(p.verifyChecksum(pseudo(13), true)).toBe(true);
  });

  it('constructs into a 0xa5-filled buffer', () => {
    const buf = new Uint8Array(PACKET.length).fill(0xa5);
    buf.set(PACKET.subarray(8), 8);
    const p = new UdpPacket().reset(buf, 0, buf.length);
    p.setSrcPort(1234); p.setDstPort(53); p.setLength(13); p.setChecksum(0);
    p.fillChecksum(pseudo(13));
    expect(Buffer.from(buf).toString('hex')).toBe(PACKET_HEX);
  });

  it('parses and emits', () => {
    const r = UdpRepr.parse(new UdpPacket().reset(PACKET, 0, PACKET.length));
    expect(r).toEqual({ srcPort: 1234, dstPort: 53, length: 13, checksum: 0xa2f8 });
    const buf = new Uint8Array(13).fill(0xa5);
    buf.set(PACKET.subarray(8), 8);
    UdpRepr.emit({ ...r, length: -1, checksum: -1 }, new UdpPacket().reset(buf, 0, 13), 5, pseudo);
    expect(buf).toEqual(PACKET);
  });

  it('computes a zero checksum as 0xffff', () => {
    // payload chosen so the one's complement sum is 0xffff
    const buf = new Uint8Array(10);
    const p = new UdpPacket().reset(buf, 0, 10);
    p.setLength(10);
    const need = p.computeChecksum(0);
    // put the computed checksum in the payload: the sum then folds to zero
    buf[8] = need >>> 8; buf[9] = need & 0xff;
    expect(p.computeChecksum(0)).toBe(0xffff);
  });

  it('rejects a truncated header with its offset', () => {
    const e = catchWire(() => UdpPacket.checked(PACKET, 0, 5));
    expect(e.code).toBe('WIRE_TRUNCATED');
    expect(e.offset).toBe(5);
  });

  it('rejects a length field shorter than the header', () => {
    const b = PACKET.slice(); b[5] = 7;
    const e = catchWire(() => UdpPacket.checked(b));
    expect([e.code, e.field, e.offset]).toEqual(['WIRE_BAD_LENGTH', 'udp.length', 4]);
  });

  it('reports a length field past the end as truncation at the end', () => {
    const b = PACKET.slice(); b[5] = 40;
    const e = catchWire(() => UdpPacket.checked(b));
    expect([e.code, e.field, e.offset]).toEqual(['WIRE_TRUNCATED', 'udp.length', b.length]);
  });

  it('property: parse(emit(x)) == x', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }),
      fc.uint8Array({ maxLength: 64 }), (sp, dp, payload) => {
        const buf = new Uint8Array(UDP_HEADER_LEN + payload.length);
        buf.set(payload, UDP_HEADER_LEN);
        const v = new UdpPacket().reset(buf, 0, buf.length);
        UdpRepr.emit({ srcPort: sp, dstPort: dp, length: -1, checksum: -1 }, v, payload.length, pseudo);
        const r = UdpRepr.parse(v);
        expect(r.srcPort).toBe(sp); expect(r.dstPort).toBe(dp);
        expect(r.length).toBe(buf.length);
        expect(v.verifyChecksum(pseudo(buf.length), false)).toBe(true);
      }));
  });

  it('property: arbitrary bytes raise only WireError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 32 }), (b) => {
      try { UdpRepr.parse(new UdpPacket().reset(b, 0, b.length)); } catch (e) { expect(e).toBeInstanceOf(WireError); }
    }));
  });
});

describeWith('scapy', 'udp vs scapy', () => {
  it('emits the bytes scapy builds', () => {
    const want = scapyBytes("(IP(src='10.0.0.1',dst='10.0.0.2')/UDP(sport=40000,dport=4789)/(b'x'*31))[UDP]");
    const buf = new Uint8Array(want.length).fill(0x78);
    UdpRepr.emit({ srcPort: 40000, dstPort: 4789, length: -1, checksum: -1 }, new UdpPacket().reset(buf, 0, buf.length), 31, pseudo);
    expect(Buffer.from(buf).toString('hex')).toBe(Buffer.from(want).toString('hex'));
  });
});


describe('udp emit limits', () => {
  it('refuses a computed length that does not fit udp.length', () => {
    const buf = new Uint8Array(UDP_HEADER_LEN + 70_000);
    const e = catchWire(() => UdpRepr.emit({ srcPort: 1, dstPort: 2, length: -1, checksum: -1 }, new UdpPacket().reset(buf, 0, buf.length), 70_000, pseudo));
    expect([e.code, e.field, e.offset]).toEqual(['WIRE_BAD_LENGTH', 'udp.length', 4]);
  });
});
