import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  VxlanPacket, VxlanRepr, VXLAN_ENCAP_OVERHEAD, VXLAN_HEADER_LEN, VXLAN_PORT, asVni, isVni, pushVxlan,
} from '../../src/wire/vxlan.js';
import { dissectVxlan } from '../../src/wire/dissect/vxlan.js';
import { DissectCtx } from '../../src/wire/dissect.js';
import { WireError } from '../../src/errors.js';
import { describeWith, scapy, tsharkFields, writeTempPcap } from '../oracle/tools.js';
import { catchWire, hexBytes, toHex } from '../oracle/wire.js';

// /usr/bin/python3 -c "from scapy.all import *; print(bytes(VXLAN(flags=0x08,vni=0xabcdef)/Ether(src='0a:00:00:00:00:01',dst='0a:00:00:00:00:02',type=0x0800)).hex())"
const PACKET_HEX = '08000000abcdef000a00000000020a00000000010800';
const PACKET = hexBytes(PACKET_HEX);
const HEADER_HEX = PACKET_HEX.slice(0, 16);

describe('vxlan', () => {
  it('deconstructs every field', () => {
    const p = VxlanPacket.checked(PACKET);
    expect(p.flags()).toBe(0x08);
    expect(p.flagI()).toBe(true);
    expect(p.reserved24()).toBe(0);
    expect(p.vni()).toBe(0xabcdef);
    expect(p.reserved8()).toBe(0);
    expect(p.payloadOffset()).toBe(8);
    expect(VXLAN_PORT).toBe(4789);
    expect(VXLAN_ENCAP_OVERHEAD).toBe(14 + 20 + 8 + 8);
  });

  it('constructs into a 0xa5-filled buffer', () => {
    const buf = new Uint8Array(PACKET.length).fill(0xa5);
    buf.set(PACKET.subarray(8), 8);
    const p = new VxlanPacket().reset(buf, 0, buf.length);
    p.setFlags(0x08); p.setReserved24(0); p.setVni(0xabcdef); p.setReserved8(0);
    expect(toHex(buf)).toBe(PACKET_HEX);
  });

  it('parses and emits', () => {
    const r = VxlanRepr.parse(new VxlanPacket().reset(PACKET, 0, PACKET.length));
    expect(r).toEqual({ flags: 0x08, reserved24: 0, vni: 0xabcdef, reserved8: 0 });
    expect(VxlanRepr.bufferLen(r)).toBe(VXLAN_HEADER_LEN);
    const buf = new Uint8Array(8).fill(0xa5);
    VxlanRepr.emit(VxlanRepr.of(0xabcdef), new VxlanPacket().reset(buf, 0, 8));
    expect(toHex(buf)).toBe(HEADER_HEX);
  });

  it('keeps reserved bits so emit(parse(x)) == x', () => {
    // GBP-style header: G bit, policy id 0x1234 in the reserved bits, a nonzero last byte
    const x = hexBytes('8812345600000177');
    const r = VxlanRepr.parse(VxlanPacket.checked(x));
    expect(r).toEqual({ flags: 0x88, reserved24: 0x123456, vni: 1, reserved8: 0x77 });
    const out = new Uint8Array(8).fill(0xa5);
    VxlanRepr.emit(r, new VxlanPacket().reset(out, 0, 8));
    expect(out).toEqual(x);
  });

  it('pushes a header in front of an inner frame without touching it', () => {
    const inner = PACKET.subarray(8);
    const buf = new Uint8Array(VXLAN_ENCAP_OVERHEAD + inner.length).fill(0xa5);
    buf.set(inner, VXLAN_ENCAP_OVERHEAD);
    const start = pushVxlan(buf, VXLAN_ENCAP_OVERHEAD, 0xabcdef);
    expect(start).toBe(VXLAN_ENCAP_OVERHEAD - 8);
    expect(toHex(buf.subarray(start))).toBe(PACKET_HEX);
    expect(buf.subarray(0, start).every((b) => b === 0xa5)).toBe(true);
  });

  it('refuses to push without headroom', () => {
    const buf = new Uint8Array(20).fill(0xa5);
    expect(pushVxlan(buf, 7, 5)).toBe(-1);
    expect(pushVxlan(buf, 21, 5)).toBe(-1);
    expect(buf.every((b) => b === 0xa5)).toBe(true);
    expect(pushVxlan(buf, 8, 5)).toBe(0);
  });

  it('rejects a truncated header with its offset', () => {
    const e = catchWire(() => VxlanPacket.checked(PACKET, 0, 5));
    expect([e.code, e.field, e.offset]).toEqual(['WIRE_TRUNCATED', 'vxlan', 5]);
    const e2 = catchWire(() => VxlanPacket.checked(PACKET, 30, PACKET.length));
    expect([e2.code, e2.offset]).toEqual(['WIRE_TRUNCATED', 30]);
  });

  it('reads a header with the I flag clear, but Repr.parse rejects it', () => {
    const b = new Uint8Array(30);
    b.set(hexBytes('0000000000000500'), 10);
    const p = VxlanPacket.checked(b, 10);
    expect(p.flagI()).toBe(false);
    expect(p.vni()).toBe(5);
    const e = catchWire(() => VxlanRepr.parse(p));
    expect([e.code, e.layer, e.field, e.offset]).toEqual(['WIRE_BAD_VALUE', 'vxlan', 'vxlan.flags', 10]);
  });

  it('refuses to emit an out-of-range VNI or into a short buffer', () => {
    const buf = new Uint8Array(8);
    const e = catchWire(() => VxlanRepr.emit(VxlanRepr.of(0x1000000), new VxlanPacket().reset(buf, 0, 8)));
    expect([e.code, e.field, e.offset]).toEqual(['WIRE_BAD_VALUE', 'vxlan.vni', 4]);
    const e2 = catchWire(() => VxlanRepr.emit(VxlanRepr.of(-1), new VxlanPacket().reset(buf, 0, 8)));
    expect(e2.code).toBe('WIRE_BAD_VALUE');
    const e3 = catchWire(() => VxlanRepr.emit(VxlanRepr.of(1), new VxlanPacket().reset(buf, 2, 8)));
    expect([e3.code, e3.offset]).toEqual(['WIRE_TRUNCATED', 8]);
  });

  it('brands VNIs at no runtime cost', () => {
    const v = asVni(42);
    expect(v).toBe(42);
    expect(isVni(0)).toBe(true);
    expect(isVni(0xffffff)).toBe(true);
    expect(isVni(0x1000000)).toBe(false);
    expect(isVni(1.5)).toBe(false);
  });

  it('property: VNIs across 0..2^24-1 survive emit, push, parse and dissect', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffff }), (vni) => {
      const buf = new Uint8Array(VXLAN_HEADER_LEN + 14).fill(0xa5);
      VxlanRepr.emit(VxlanRepr.of(vni), new VxlanPacket().reset(buf, 0, buf.length));
      const r = VxlanRepr.parse(new VxlanPacket().reset(buf, 0, buf.length));
      expect(r.vni).toBe(vni);
      const pushed = new Uint8Array(buf.length).fill(0xa5);
      expect(pushVxlan(pushed, 8, vni)).toBe(0);
      expect(pushed.subarray(0, 8)).toEqual(buf.subarray(0, 8));
      const f = dissectFields(buf, 0);
      expect(f.get('vxlan.vni')).toBe(String(vni));
    }));
  });

  it('property: parse(emit(x)) == x for any header with the I flag', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 8, maxLength: 8 }), (x) => {
      x[0] = x[0]! | 0x08;
      const r = VxlanRepr.parse(VxlanPacket.checked(x));
      const out = new Uint8Array(8);
      VxlanRepr.emit(r, new VxlanPacket().reset(out, 0, 8));
      expect(out).toEqual(x);
    }));
  });

  it('property: arbitrary bytes raise only WireError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 24 }), fc.nat(24), (b, off) => {
      try { VxlanRepr.parse(new VxlanPacket().reset(b, off, b.length)); } catch (e) { expect(e).toBeInstanceOf(WireError); }
      try { dissectVxlan(new DissectCtx(b, new Map()), off, b.length); } catch (e) { expect(e).toBeInstanceOf(WireError); }
    }));
  });

  it('dissects into the inner Ethernet frame', () => {
    const ctx = new DissectCtx(PACKET, new Map());
    expect(dissectVxlan(ctx, 0, PACKET.length)).toEqual({ kind: 'eth', off: 8, end: PACKET.length });
    expect(ctx.layers.map((l) => [l.proto, l.offset, l.length])).toEqual([['vxlan', 0, 8]]);
  });

  it('reports a truncated header from the dissector', () => {
    const e = catchWire(() => dissectVxlan(new DissectCtx(PACKET, new Map()), 0, 7));
    expect([e.code, e.offset]).toEqual(['WIRE_TRUNCATED', 7]);
  });
});

describeWith('scapy', 'vxlan vs scapy', () => {
  it('emits the bytes scapy builds for VNIs 0, 1, 0xffffff, 0x800000', () => {
    const vnis = [0, 1, 0xffffff, 0x800000];
    const out = scapy(`for v in ${JSON.stringify(vnis)}: print(bytes(VXLAN(flags=0x08,vni=v)).hex())`).trim().split('\n');
    vnis.forEach((vni, i) => {
      const buf = new Uint8Array(8).fill(0xa5);
      VxlanRepr.emit(VxlanRepr.of(vni), new VxlanPacket().reset(buf, 0, 8));
      expect(toHex(buf)).toBe(out[i]);
    });
  });
});

const VXLAN_FIELDS = ['vxlan.flags', 'vxlan.flag_g', 'vxlan.flag_i', 'vxlan.flag_d', 'vxlan.flag_a',
  'vxlan.flags_reserved', 'vxlan.gbp', 'vxlan.vni', 'vxlan.reserved8'];

describeWith('tshark', 'vxlan dissector vs tshark', () => {
  it('prints every vxlan field as tshark does', () => {
    // a sample of VNIs over the whole range, plus the edges, on scapy-built frames
    const vnis = [0, 1, 0xffffff, 0x800000, ...fc.sample(fc.integer({ min: 0, max: 0xffffff }), { numRuns: 40, seed: 7 })];
    const code = [
      `for v in ${JSON.stringify(vnis)}:`,
      "  p = Ether(src='02:00:00:00:00:01',dst='02:00:00:00:00:02')/IP(src='192.168.1.1',dst='192.168.1.2')/UDP(sport=40000,dport=4789)/VXLAN(flags=0x08,vni=v)/Ether(src='0a:00:00:00:00:01',dst='0a:00:00:00:00:02')/IP(src='10.0.0.1',dst='10.0.0.2')/ICMP()",
      '  print(bytes(p).hex())',
      // I flag clear; GBP extension with a policy id and every reserved bit pattern
      "raw = [bytes.fromhex('0000000000000500'), bytes.fromhex('8840123400000a77'), bytes.fromhex('ffffffffffffffff'), bytes.fromhex('0c00000300002a00')]",
      'for h in raw:',
      "  print(bytes(Ether()/IP(src='192.168.1.1',dst='192.168.1.2')/UDP(sport=40000,dport=4789)/Raw(h)/Ether(src='0a:00:00:00:00:01',dst='0a:00:00:00:00:02')/IP(src='10.0.0.1',dst='10.0.0.2')/ICMP()).hex())",
    ].join('\n');
    const frames = scapy(code).trim().split('\n').map(hexBytes);
    const { path, cleanup } = writeTempPcap(frames);
    try {
      const want = tsharkFields(path, VXLAN_FIELDS);
      expect(want.length).toBe(frames.length);
      frames.forEach((f, i) => {
        const got = dissectFields(f, 42);
        for (const name of VXLAN_FIELDS) expect([i, name, got.get(name)]).toEqual([i, name, want[i]![name]]);
      });
    } finally {
      cleanup();
    }
  });
});

/** The fields dissectVxlan emits for the header at 'off' of 'frame'. */
function dissectFields(frame: Uint8Array, off: number): Map<string, string> {
  const ctx = new DissectCtx(frame, new Map());
  dissectVxlan(ctx, off, frame.length);
  const m = new Map<string, string>();
  for (const l of ctx.layers) for (const [k, v] of l.fields) m.set(k, v);
  return m;
}

