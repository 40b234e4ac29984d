import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ETH_TYPE_TEB, GENEVE_HEADER_LEN, GENEVE_PORT, GenevePacket, GeneveRepr, pushGeneve, type GeneveOption,
} from '../../src/wire/geneve.js';
import { dissectGeneve } from '../../src/wire/dissect/geneve.js';
import { DissectCtx, type Next } from '../../src/wire/dissect.js';
import { WireError } from '../../src/errors.js';
import { describeWith, scapy, tsharkFields, writeTempPcap } from '../oracle/tools.js';
import { catchWire, hexBytes, toHex } from '../oracle/wire.js';

// /usr/bin/python3 -c "from scapy.all import *; from scapy.contrib.geneve import *; print(bytes(GENEVE(vni=0xabcdef,proto=0x6558,critical=1,options=[GeneveOptions(classid=0x0102,type=0x80,data=b'\x01\x02\x03\x04'),GeneveOptions(classid=0xffff,type=0x05,data=b'')])/Ether(src='0a:00:00:00:00:01',dst='0a:00:00:00:00:02',type=0x0800)).hex())"
const PACKET_HEX = '03406558abcdef000102800101020304ffff05000a00000000020a00000000010800';
const PACKET = hexBytes(PACKET_HEX);
const HDR_LEN = 20; // 8 fixed + 8 + 4 bytes of options

describe('geneve', () => {
  it('deconstructs every field and walks the options', () => {
    const p = GenevePacket.checked(PACKET);
    expect(p.version()).toBe(0);
    expect(p.optLen()).toBe(3);
    expect(p.flags()).toBe(0x40);
    expect(p.oam()).toBe(false);
    expect(p.critical()).toBe(true);
    expect(p.protocolType()).toBe(ETH_TYPE_TEB);
    expect(p.vni()).toBe(0xabcdef);
    expect(p.reserved()).toBe(0);
    expect(p.optionsOffset()).toBe(8);
    expect(p.optionsEnd()).toBe(HDR_LEN);
    expect(p.payloadOffset()).toBe(HDR_LEN);
    const seen: number[][] = [];
    for (let o = p.optionsOffset(); o < p.optionsEnd(); o = p.optionEnd(o)) {
      seen.push([o, p.optionClass(o), p.optionType(o), Number(p.optionCritical(o)), p.optionFlags(o), p.optionLen(o), p.optionDataOffset(o)]);
    }
    expect(seen).toEqual([[8, 0x0102, 0x80, 1, 0, 1, 12], [16, 0xffff, 0x05, 0, 0, 0, 20]]);
    expect(GENEVE_PORT).toBe(6081);
  });

  it('constructs into a 0xa5-filled buffer', () => {
    const buf = new Uint8Array(PACKET.length).fill(0xa5);
    buf.set(PACKET.subarray(8), 8); // options and inner frame
    const p = new GenevePacket().reset(buf, 0, buf.length);
    p.setVersion(0); p.setOptLen(3); p.setFlags(0x40); p.setProtocolType(0x6558); p.setVni(0xabcdef); p.setReserved(0);
    expect(toHex(buf)).toBe(PACKET_HEX);
  });

  it('parses and emits', () => {
    const r = GeneveRepr.parse(new GenevePacket().reset(PACKET, 0, PACKET.length));
    expect(r).toEqual({
      oam: false, critical: true, reservedFlags: 0, protocolType: 0x6558, vni: 0xabcdef, reserved: 0,
      options: [
        { optClass: 0x0102, type: 0x80, flags: 0, data: Uint8Array.of(1, 2, 3, 4) },
        { optClass: 0xffff, type: 0x05, flags: 0, data: new Uint8Array(0) },
      ],
    });
    expect(GeneveRepr.bufferLen(r)).toBe(HDR_LEN);
    const built = GeneveRepr.of(0xabcdef, ETH_TYPE_TEB, [
      GeneveRepr.option(0x0102, 0x80, Uint8Array.of(1, 2, 3, 4)), GeneveRepr.option(0xffff, 0x05, new Uint8Array(0)),
    ]);
    expect(built).toEqual(r);
    const buf = new Uint8Array(HDR_LEN).fill(0xa5);
    GeneveRepr.emit(built, new GenevePacket().reset(buf, 0, buf.length));
    expect(toHex(buf)).toBe(PACKET_HEX.slice(0, HDR_LEN * 2));
  });

  it('pushes an option-less header in front of an inner frame', () => {
    const inner = PACKET.subarray(HDR_LEN);
    const buf = new Uint8Array(50 + inner.length).fill(0xa5);
    buf.set(inner, 50);
    const start = pushGeneve(buf, 50, 0x123456);
    expect(start).toBe(42);
    expect(toHex(buf.subarray(42, 50))).toBe('0000655812345600');
    expect(buf.subarray(50)).toEqual(inner);
    expect(pushGeneve(buf, 7, 1)).toBe(-1);
    expect(pushGeneve(new Uint8Array(8), 8, 1, 0x0800)).toBe(0);
  });

  it('rejects a truncated header with its offset', () => {
    const e = catchWire(() => GenevePacket.checked(PACKET, 0, 6));
    expect([e.code, e.field, e.offset]).toEqual(['WIRE_TRUNCATED', 'geneve', 6]);
  });

  it('reports options past the end as truncation at the end', () => {
    const b = PACKET.slice(0, 16); // header says 12 bytes of options, 8 present
    const e = catchWire(() => GenevePacket.checked(b));
    expect([e.code, e.field, e.offset]).toEqual(['WIRE_TRUNCATED', 'geneve.option.length', 16]);
  });

  it('rejects an option longer than the options area at that option', () => {
    const b = PACKET.slice();
    b[19] = 1; // second option (at 16) claims 4 data bytes; the area ends at 20
    const e = catchWire(() => GenevePacket.checked(b));
    expect([e.code, e.field, e.offset]).toEqual(['WIRE_BAD_OPTION', 'geneve.option.length', 16]);
    const c = PACKET.slice();
    c[11] = 3; // first option claims 12 data bytes
    expect(catchWire(() => GenevePacket.checked(c)).offset).toBe(8);
  });

  it('reads version 1 but Repr.parse rejects it', () => {
    const b = new Uint8Array(40);
    b.set(hexBytes('4000655800000100'), 12);
    const p = GenevePacket.checked(b, 12);
    expect(p.version()).toBe(1);
    const e = catchWire(() => GeneveRepr.parse(p));
    expect([e.code, e.field, e.offset]).toEqual(['WIRE_BAD_VERSION', 'geneve.version', 12]);
  });

  it('refuses to emit malformed options', () => {
    const buf = new Uint8Array(300);
    const p = new GenevePacket().reset(buf, 0, buf.length);
    const odd = catchWire(() => GeneveRepr.emit(GeneveRepr.of(1, ETH_TYPE_TEB, [GeneveRepr.option(1, 1, new Uint8Array(4)), GeneveRepr.option(1, 1, new Uint8Array(3))]), p));
    expect([odd.code, odd.field, odd.offset]).toEqual(['WIRE_BAD_OPTION', 'geneve.option.length', 16]);
    const long = catchWire(() => GeneveRepr.emit(GeneveRepr.of(1, ETH_TYPE_TEB, [GeneveRepr.option(1, 1, new Uint8Array(128))]), p));
    expect([long.code, long.offset]).toEqual(['WIRE_BAD_OPTION', 8]);
    const many = Array.from({ length: 3 }, () => GeneveRepr.option(1, 1, new Uint8Array(124)));
    const tooMany = catchWire(() => GeneveRepr.emit(GeneveRepr.of(1, ETH_TYPE_TEB, many), p));
    expect([tooMany.code, tooMany.field, tooMany.offset]).toEqual(['WIRE_BAD_HDR_LEN', 'geneve.option.length', 0]);
    const vni = catchWire(() => GeneveRepr.emit(GeneveRepr.of(1 << 24), p));
    expect([vni.code, vni.field, vni.offset]).toEqual(['WIRE_BAD_VALUE', 'geneve.vni', 4]);
    const short = catchWire(() => GeneveRepr.emit(GeneveRepr.of(1), new GenevePacket().reset(buf, 0, 7)));
    expect([short.code, short.offset]).toEqual(['WIRE_TRUNCATED', 7]);
  });

  it('sets the C flag from the options in GeneveRepr.of', () => {
    expect(GeneveRepr.of(1, ETH_TYPE_TEB, [GeneveRepr.option(1, 0x7f, new Uint8Array(0))]).critical).toBe(false);
    expect(GeneveRepr.of(1, ETH_TYPE_TEB, [GeneveRepr.option(1, 0x81, new Uint8Array(0))]).critical).toBe(true);
  });

  it('property: parse(emit(x)) == x, including VNIs across 0..2^24-1', () => {
    fc.assert(fc.property(arbRepr(), (r) => {
      const buf = new Uint8Array(GeneveRepr.bufferLen(r) + 4).fill(0xa5);
      const p = new GenevePacket().reset(buf, 0, buf.length);
      GeneveRepr.emit(r, p);
      expect(p.check()).toBe(0);
      expect(GeneveRepr.parse(p)).toEqual(r);
      expect(p.payloadOffset()).toBe(GeneveRepr.bufferLen(r));
    }));
  });

  it('property: emit(parse(x)) == x for any version-0 header that checks', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 8, maxLength: 80 }), (x) => {
      x[0] = x[0]! & 0x3f;
      const p = new GenevePacket().reset(x, 0, x.length);
      if (p.check() !== 0) return;
      const r = GeneveRepr.parse(p);
      const out = new Uint8Array(GeneveRepr.bufferLen(r));
      GeneveRepr.emit(r, new GenevePacket().reset(out, 0, out.length));
      expect(out).toEqual(x.subarray(0, p.payloadOffset()));
    }));
  });

  it('property: arbitrary bytes raise only WireError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(16), (b, off) => {
      try { GeneveRepr.parse(new GenevePacket().reset(b, off, b.length)); } catch (e) { expect(e).toBeInstanceOf(WireError); }
      try { dissectGeneve(new DissectCtx(b, new Map()), off, b.length); } catch (e) { expect(e).toBeInstanceOf(WireError); }
    }));
  });

  it('dissects into Ethernet for 0x6558 and an EtherType otherwise', () => {
    const ctx = new DissectCtx(PACKET, new Map());
    expect(dissectGeneve(ctx, 0, PACKET.length)).toEqual<Next>({ kind: 'eth', off: HDR_LEN, end: PACKET.length });
    expect(ctx.layers.map((l) => [l.proto, l.offset, l.length])).toEqual([['geneve', 0, HDR_LEN]]);
    const v4 = hexBytes('0000080000000700450000');
    expect(dissectGeneve(new DissectCtx(v4, new Map()), 0, v4.length)).toEqual<Next>({ kind: 'ethertype', type: 0x0800, off: 8, end: v4.length });
  });

  it('keeps the fields before a bad option, then reports it', () => {
    const b = PACKET.slice();
    b[19] = 1;
    const ctx = new DissectCtx(b, new Map());
    const e = catchWire(() => dissectGeneve(ctx, 0, b.length));
    expect([e.code, e.offset]).toEqual(['WIRE_BAD_OPTION', 16]);
    const fields = ctx.layers[0]!.fields;
    expect(fields.filter(([k]) => k === 'geneve.option.class').map(([, v]) => v)).toEqual(['0x0102']);
    expect(fields.at(-1)).toEqual(['geneve.option.length.invalid', '1']);
  });
});

describeWith('scapy', 'geneve vs scapy', () => {
  it('emits the bytes scapy builds', () => {
    const out = scapy([
      'from scapy.contrib.geneve import GENEVE, GeneveOptions',
      "print(bytes(GENEVE(vni=0xffffff,proto=0x0800,oam=1,critical=1,options=[GeneveOptions(classid=0x0103,type=0xff,data=b'abcdefgh')])).hex())",
      'print(bytes(GENEVE(vni=0x800000,proto=0x6558)).hex())',
    ].join('\n')).trim().split('\n');
    const reprs = [
      { ...GeneveRepr.of(0xffffff, 0x0800, [GeneveRepr.option(0x0103, 0xff, new TextEncoder().encode('abcdefgh'))]), oam: true },
      GeneveRepr.of(0x800000),
    ];
    reprs.forEach((r, i) => {
      const buf = new Uint8Array(GeneveRepr.bufferLen(r)).fill(0xa5);
      GeneveRepr.emit(r, new GenevePacket().reset(buf, 0, buf.length));
      expect(toHex(buf)).toBe(out[i]);
    });
  });
});

const GENEVE_FIELDS = [
  'geneve.version', 'geneve.version.unknown', 'geneve.option.length', 'geneve.flags', 'geneve.flags.oam',
  'geneve.flags.critical', 'geneve.flags.reserved', 'geneve.proto_type', 'geneve.vni', 'geneve.reserved',
  'geneve.options', 'geneve.option', 'geneve.option.class', 'geneve.option.type', 'geneve.option.type.critical',
  'geneve.option.flags', 'geneve.option.flags.reserved', 'geneve.option.gcp.vnid', 'geneve.option.gcp.direction',
  'geneve.option.gcp.reserved', 'geneve.option.gcp.endpoint', 'geneve.option.gcp.profile',
  'geneve.option.unknown.data', 'geneve.option.length.invalid',
];

describeWith('tshark', 'geneve dissector vs tshark', () => {
  it('prints every geneve field as tshark does', () => {
    const vnis = [0, 1, 0xffffff, 0x800000, ...fc.sample(fc.integer({ min: 0, max: 0xffffff }), { numRuns: 20, seed: 11 })];
    const code = [
      'from scapy.contrib.geneve import GENEVE, GeneveOptions',
      "inner = Ether(src='0a:00:00:00:00:01',dst='0a:00:00:00:00:02')/IP(src='10.0.0.1',dst='10.0.0.2')/ICMP()",
      "outer = Ether(src='02:00:00:00:00:01',dst='02:00:00:00:00:02')/IP(src='192.168.1.1',dst='192.168.1.2')/UDP(sport=40000,dport=6081)",
      'def opt(c, t, f, data): return struct.pack(">HBB", c, t, (f << 5) | (len(data) // 4)) + data',
      'frames = []',
      `for v in ${JSON.stringify(vnis)}: frames.append(outer/GENEVE(vni=v,proto=0x6558)/inner)`,
      "frames.append(outer/GENEVE(vni=0xabcdef,proto=0x6558,critical=1,oam=1,options=[GeneveOptions(classid=0x0102,type=0x80,data=b'\\x01\\x02\\x03\\x04'),GeneveOptions(classid=0xffff,type=0x05,data=b''),GeneveOptions(classid=0x0103,type=0x7f,data=b'abcdefgh')])/inner)",
      "frames.append(outer/GENEVE(vni=7,proto=0x0800)/IP(src='10.0.0.1',dst='10.0.0.2')/ICMP())",
      "frames.append(outer/GENEVE(vni=7,proto=0x1234)/b'xyz')",
      // hand-built: GCP options, reserved bits everywhere, version 1, a 124-byte option, a bad option length
      'def hdr(first, flags, proto, vni, rsv, opts): return struct.pack(">BBHI", first | (len(opts) // 4), flags, proto, (vni << 8) | rsv) + opts',
      "gcp = opt(0x132,1,0,bytes.fromhex('12345679')) + opt(0x132,2,0,b'abcdefgh') + opt(0x132,3,0,bytes.fromhex('0102030405060708')) + opt(0x132,3,0,bytes.fromhex('01020304')) + opt(0x132,2,0,b'')",
      'frames.append(outer/Raw(hdr(0, 0, 0x6558, 1, 0, gcp))/inner)',
      "frames.append(outer/Raw(hdr(0, 0x3f, 0x6558, 0x10203, 9, opt(0x102,0x81,7,b'wxyz') + opt(0xffff,0xff,1,b'\\xff'*124)))/inner)",
      'frames.append(outer/Raw(hdr(0x40, 0, 0x6558, 1, 0, b""))/inner)',
      "frames.append(outer/Raw(hdr(0, 0x40, 0x6558, 1, 0, opt(0x102,0x80,0,b'abcd') + bytes.fromhex('01020103') + b'abcd'))/inner)",
      'for f in frames: print(bytes(f).hex())',
    ].join('\n');
    const frames = scapy(code).trim().split('\n').map(hexBytes);
    const { path, cleanup } = writeTempPcap(frames);
    try {
      const want = tsharkFields(path, GENEVE_FIELDS);
      expect(want.length).toBe(frames.length);
      frames.forEach((f, i) => {
        const got = dissectFields(f, 42);
        for (const name of GENEVE_FIELDS) expect([i, name, got.get(name) ?? '']).toEqual([i, name, want[i]![name]]);
      });
      // the last frame is the malformed one: tshark flags it, we report the option's offset
      const bad = frames.at(-1)!;
      const e = catchWire(() => dissectGeneve(new DissectCtx(bad, new Map()), 42, bad.length));
      expect([e.code, e.offset]).toEqual(['WIRE_BAD_OPTION', 42 + 8 + 8]);
    } finally {
      cleanup();
    }
  });
});

/** Arbitrary valid Reprs, with VNIs over the whole 24-bit range. */
function arbRepr(): fc.Arbitrary<GeneveRepr> {
  const option: fc.Arbitrary<GeneveOption> = fc.record({
    optClass: fc.integer({ min: 0, max: 0xffff }),
    type: fc.integer({ min: 0, max: 0xff }),
    flags: fc.integer({ min: 0, max: 7 }),
    data: fc.integer({ min: 0, max: 31 }).chain((w) => fc.uint8Array({ minLength: w * 4, maxLength: w * 4 })),
  });
  return fc.record({
    oam: fc.boolean(),
    critical: fc.boolean(),
    reservedFlags: fc.integer({ min: 0, max: 0x3f }),
    protocolType: fc.integer({ min: 0, max: 0xffff }),
    vni: fc.integer({ min: 0, max: 0xffffff }),
    reserved: fc.integer({ min: 0, max: 0xff }),
    options: fc.array(option, { maxLength: 6 }),
  }).filter((r) => GeneveRepr.bufferLen(r as GeneveRepr) - GENEVE_HEADER_LEN <= 252) as fc.Arbitrary<GeneveRepr>;
}

/** Fields dissectGeneve emits for the header at 'off', multi-valued fields joined with ',' as tshark aggregates them. */
function dissectFields(frame: Uint8Array, off: number): Map<string, string> {
  const ctx = new DissectCtx(frame, new Map());
  try { dissectGeneve(ctx, off, frame.length); } catch (e) { if (!(e instanceof WireError)) throw e; }
  const m = new Map<string, string>();
  for (const l of ctx.layers) for (const [k, v] of l.fields) m.set(k, m.has(k) ? `${m.get(k)},${v}` : v);
  return m;
}

