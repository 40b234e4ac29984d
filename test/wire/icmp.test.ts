import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ICMP_DEST_UNREACH, ICMP_ECHO_REQUEST, ICMP_FRAG_NEEDED, ICMP_HEADER_LEN, ICMP_PORT_UNREACH, ICMP_REDIRECT,
  ICMP_TIMESTAMP, IcmpPacket, IcmpRepr, icmpIsError, icmpReprType,
} from '../../src/wire/icmp.js';
import { dissectIcmp } from '../../src/wire/dissect/icmp.js';
import { DissectCtx, type DissectLayer } from '../../src/wire/dissect.js';
import { WireError } from '../../src/errors.js';
import { describeWith, scapy, scapyBytes, tsharkFields, writeTempPcap } from '../oracle/tools.js';
import { catchWire, fieldsOf, hexBytes, toHex } from '../oracle/wire.js';

// /usr/bin/python3 -c "from scapy.all import *; print(bytes(IP(src='10.0.0.1',dst='10.0.0.2')/ICMP(type=8,id=0x1234,seq=5)/b'hello')[ICMP]).hex())"
const ECHO_HEX = '0800a1f41234000568656c6c6f';
const ECHO = hexBytes(ECHO_HEX);
// /usr/bin/python3 -c "from scapy.all import *; print(bytes(IP(src='10.0.0.254',dst='10.0.0.1')/ICMP(type=3,code=4,nexthopmtu=1400)/IP(src='10.0.0.1',dst='10.0.0.9',flags='DF')/UDP(sport=1234,dport=53)/b'abcd')[ICMP]).hex())"
const FRAG_HEX = '03040bab000005784500002000014000401126c30a0000010a00000904d20035000c21ff61626364';
const FRAG = hexBytes(FRAG_HEX);

describe('icmp', () => {
  it('deconstructs an echo request', () => {
    const p = IcmpPacket.checked(ECHO);
    expect([p.type(), p.code(), p.checksum()]).toEqual([8, 0, 0xa1f4]);
    expect([p.ident(), p.seq(), p.restOfHeader()]).toEqual([0x1234, 5, 0x12340005]);
    expect(p.isError()).toBe(false);
    expect(p.payloadOffset()).toBe(8);
    expect(p.verifyChecksum()).toBe(true);
  });

  it('deconstructs a fragmentation-needed error', () => {
    const p = IcmpPacket.checked(FRAG);
    expect([p.type(), p.code(), p.checksum(), p.mtu(), p.origLength()]).toEqual([ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, 0x0bab, 1400, 0]);
    expect(p.isError()).toBe(true);
    expect(p.quotedOffset()).toBe(8);
    expect(FRAG[p.quotedOffset()]).toBe(0x45);
    expect(p.verifyChecksum()).toBe(true);
  });

  it('reads the pointer, gateway and RFC 4884 length where they live', () => {
    const b = new Uint8Array(8);
    b.set([12, 0, 0, 0, 9, 5, 0, 0]);
    const p = IcmpPacket.checked(b);
    expect([p.pointer(), p.origLength()]).toEqual([9, 5]);
    b.set([ICMP_REDIRECT, 1, 0, 0, 10, 0, 0, 77]);
    expect(p.gateway()).toBe(0x0a00004d);
  });

  it('constructs into a 0xa5-filled buffer', () => {
    const buf = new Uint8Array(ECHO.length).fill(0xa5);
    buf.set(ECHO.subarray(8), 8);
    const p = new IcmpPacket().reset(buf, 0, buf.length);
    p.setType(ICMP_ECHO_REQUEST); p.setCode(0); p.setIdent(0x1234); p.setSeq(5); p.setChecksum(0);
    p.fillChecksum();
    expect(toHex(buf)).toBe(ECHO_HEX);
    const f = new Uint8Array(FRAG.length).fill(0xa5);
    f.set(FRAG.subarray(8), 8);
    const q = new IcmpPacket().reset(f, 0, f.length);
    q.setType(ICMP_DEST_UNREACH); q.setCode(ICMP_FRAG_NEEDED); q.setRestOfHeader(0); q.setMtu(1400);
    q.setChecksum(q.computeChecksum());
    expect(toHex(f)).toBe(FRAG_HEX);
  });

  it('parses and emits', () => {
    const r = IcmpRepr.parse(new IcmpPacket().reset(ECHO, 0, ECHO.length));
    expect(r).toEqual({ kind: 'echoRequest', code: 0, checksum: 0xa1f4, ident: 0x1234, seq: 5 });
    const buf = new Uint8Array(ECHO.length).fill(0xa5);
    buf.set(ECHO.subarray(8), 8);
    IcmpRepr.emit({ ...r, checksum: -1 }, new IcmpPacket().reset(buf, 0, buf.length), 5);
    expect(buf).toEqual(ECHO);

    const f = IcmpRepr.parse(new IcmpPacket().reset(FRAG, 0, FRAG.length));
    expect(f).toEqual({ kind: 'destUnreachable', code: ICMP_FRAG_NEEDED, checksum: 0x0bab, unused: 0, mtu: 1400 });
    const fb = new Uint8Array(FRAG.length).fill(0xa5);
    fb.set(FRAG.subarray(8), 8);
    IcmpRepr.emit({ ...f, checksum: -1 }, new IcmpPacket().reset(fb, 0, fb.length), FRAG.length - 8);
    expect(fb).toEqual(FRAG);
    expect(IcmpRepr.bufferLen(f)).toBe(ICMP_HEADER_LEN);
  });

  it('keeps other types generic', () => {
    const b = Uint8Array.from([ICMP_TIMESTAMP, 0, 0, 0, 0, 1, 0, 2]);
    const r = IcmpRepr.parse(new IcmpPacket().reset(b, 0, 8));
    expect(r).toEqual({ kind: 'other', type: ICMP_TIMESTAMP, code: 0, checksum: 0, restOfHeader: 0x00010002 });
    expect(icmpReprType(r)).toBe(ICMP_TIMESTAMP);
    const t = IcmpRepr.parse(new IcmpPacket().reset(Uint8Array.from([11, 1, 0, 0, 0xff, 0xfe, 0xfd, 0xfc]), 0, 8));
    expect(t).toEqual({ kind: 'timeExceeded', code: 1, checksum: 0, unused: 0xfffefdfc });
    expect([3, 4, 5, 11, 12].every(icmpIsError)).toBe(true);
    expect([0, 8, 9, 13, 42].some(icmpIsError)).toBe(false);
  });

  it('rejects a truncated header with its offset', () => {
    const e = catchWire(() => IcmpPacket.checked(ECHO, 0, 7));
    expect([e.code, e.field, e.offset]).toEqual(['WIRE_TRUNCATED', 'icmp', 7]);
    const z = catchWire(() => IcmpPacket.checked(ECHO, 3, 3));
    expect(z.offset).toBe(3);
  });

  it('truncated at every offset: only WireError, truncated at the cut', () => {
    for (let k = 0; k <= FRAG.length; k++) {
      if (k >= 8) {
        expect(IcmpRepr.parse(new IcmpPacket().reset(FRAG, 0, k)).kind).toBe('destUnreachable');
        expect(dissectIcmp(ctxOf(FRAG), 0, k).kind).toBe(k > 8 ? 'ip' : 'end');
        continue;
      }
      const e = catchWire(() => IcmpRepr.parse(new IcmpPacket().reset(FRAG, 0, k)));
      expect([e.code, e.offset]).toEqual(['WIRE_TRUNCATED', k]);
      const d = catchWire(() => dissectIcmp(ctxOf(FRAG), 0, k));
      expect([d.code, d.offset]).toEqual(['WIRE_TRUNCATED', k]);
      // quoted, tshark shows the message from 6 bytes on (type, code, checksum, unverified)
      const q = ctxOf(FRAG); q.quoted = true;
      expect(dissectIcmp(q, 0, k)).toEqual({ kind: 'end' });
      expect(q.layers.map((l) => l.fields.length)).toEqual(k >= 6 ? [4] : []);
    }
  });

  it('says what follows each kind of message', () => {
    expect(dissectIcmp(ctxOf(ECHO), 0, ECHO.length)).toEqual({ kind: 'data', off: 8, end: 13 });
    expect(dissectIcmp(ctxOf(ECHO), 0, 8)).toEqual({ kind: 'end' });
    expect(dissectIcmp(ctxOf(FRAG), 0, FRAG.length)).toEqual({ kind: 'ip', off: 8, end: FRAG.length });
    const ts = Uint8Array.from([ICMP_TIMESTAMP, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]);
    expect(dissectIcmp(ctxOf(ts), 0, ts.length)).toEqual({ kind: 'end' });
    const cut = catchWire(() => dissectIcmp(ctxOf(ts), 0, 14));
    expect([cut.code, cut.field, cut.offset]).toEqual(['WIRE_TRUNCATED', 'icmp.receive_timestamp', 14]);
    const q = ctxOf(ts); q.quoted = true;
    expect(dissectIcmp(q, 0, 14)).toEqual({ kind: 'end' });
    expect(fieldsOf(q.layers)['icmp.originate_timestamp']).toBe('1');
    expect(fieldsOf(q.layers)['icmp.receive_timestamp']).toBeUndefined();
  });

  it('marks checksums good, bad, or unverified inside a quote', () => {
    const status = (b: Uint8Array, quoted: boolean): string | undefined => {
      const ctx = ctxOf(b); ctx.quoted = quoted;
      dissectIcmp(ctx, 0, b.length);
      return fieldsOf(ctx.layers)['icmp.checksum.status'];
    };
    expect(status(ECHO, false)).toBe('1');
    const bad = ECHO.slice(); bad[2] = ECHO[2]! ^ 1;
    expect(status(bad, false)).toBe('0');
    expect(status(bad, true)).toBe('2');
  });

  it('property: parse(emit(x)) == x', () => {
    fc.assert(fc.property(arbRepr(), fc.uint8Array({ maxLength: 40 }), (r, data) => {
      const buf = new Uint8Array(8 + data.length);
      buf.set(data, 8);
      const v = new IcmpPacket().reset(buf, 0, buf.length);
      IcmpRepr.emit(r, v, data.length);
      const back = IcmpRepr.parse(v);
      expect(back).toEqual({ ...r, checksum: back.checksum });
      expect(v.verifyChecksum()).toBe(true);
    }));
  });

  it('property: emit(parse(y)) == y for any 8+ bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 8, maxLength: 40 }), (b) => {
      const r = IcmpRepr.parse(new IcmpPacket().reset(b, 0, b.length));
      const out = b.slice(); out.fill(0xa5, 0, 8);
      IcmpRepr.emit(r, new IcmpPacket().reset(out, 0, out.length), b.length - 8);
      expect(out).toEqual(b);
    }));
  });

  it('property: arbitrary bytes raise only WireError (Repr and dissector)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), fc.boolean(), (b, quoted) => {
      try { IcmpRepr.parse(new IcmpPacket().reset(b, 0, b.length)); } catch (e) { expect(e).toBeInstanceOf(WireError); }
      const ctx = ctxOf(b); ctx.quoted = quoted;
      try { dissectIcmp(ctx, 0, b.length); } catch (e) { expect(e).toBeInstanceOf(WireError); }
    }));
  });
});

describeWith('scapy', 'icmp vs scapy', () => {
  const cases: [string, IcmpRepr][] = [
    ["ICMP(type=0,id=0xbeef,seq=65535)/(b'x'*56)", { kind: 'echoReply', code: 0, checksum: -1, ident: 0xbeef, seq: 65535 }],
    ["ICMP(type=8,id=1,seq=1)", { kind: 'echoRequest', code: 0, checksum: -1, ident: 1, seq: 1 }],
    ["ICMP(type=3,code=3)/IP(src='10.0.0.1',dst='10.0.0.9')/UDP(sport=1234,dport=53)",
      { kind: 'destUnreachable', code: ICMP_PORT_UNREACH, checksum: -1, unused: 0, mtu: 0 }],
    ["ICMP(type=3,code=4,nexthopmtu=1280)/IP(src='10.0.0.1',dst='10.0.0.9',flags='DF')/TCP(sport=1,dport=2)",
      { kind: 'destUnreachable', code: ICMP_FRAG_NEEDED, checksum: -1, unused: 0, mtu: 1280 }],
    ["ICMP(type=11,code=1)/IP(src='10.0.0.1',dst='10.0.0.9',flags='MF')/(b'q'*8)",
      { kind: 'timeExceeded', code: 1, checksum: -1, unused: 0 }],
    ["ICMP(type=5,code=1,gw='192.168.1.254')/IP(src='10.0.0.1',dst='10.0.0.9')/UDP()",
      { kind: 'other', type: ICMP_REDIRECT, code: 1, checksum: -1, restOfHeader: 0xc0a801fe }],
    ["ICMP(type=12,ptr=9)/IP(src='10.0.0.1',dst='10.0.0.9')/UDP()",
      { kind: 'other', type: 12, code: 0, checksum: -1, restOfHeader: 0x09000000 }],
    ["ICMP(type=13,id=7,seq=8,ts_ori=1,ts_rx=2,ts_tx=3)",
      { kind: 'other', type: ICMP_TIMESTAMP, code: 0, checksum: -1, restOfHeader: 0x00070008 }],
  ];
  for (const [expr, r] of cases) {
    it(`emits the bytes scapy builds for ${expr.slice(0, 50)}`, () => {
      const want = scapyBytes(`(IP(src='10.0.0.254',dst='10.0.0.1')/${expr})[ICMP]`);
      const buf = new Uint8Array(want.length).fill(0x5a);
      buf.set(want.subarray(8), 8);
      IcmpRepr.emit(r, new IcmpPacket().reset(buf, 0, buf.length), want.length - 8);
      expect(toHex(buf)).toBe(toHex(want));
    });
  }
});

// ---- tshark: dissector fields ---------------------------------------------------

const ICMP_FIELDS = [
  'icmp.type', 'icmp.code', 'icmp.checksum', 'icmp.checksum.status', 'icmp.ident', 'icmp.ident_le', 'icmp.seq', 'icmp.seq_le',
  'icmp.mtu', 'icmp.unused', 'icmp.length', 'icmp.length.original_datagram', 'icmp.pointer', 'icmp.redir_gw',
  'icmp.originate_timestamp', 'icmp.receive_timestamp', 'icmp.transmit_timestamp', 'icmp.address_mask',
];

describeWith('tshark', 'icmp dissector vs tshark', () => {
  it('prints the fields tshark prints', () => {
    // icmp(t, c, rest, data, ck) builds a raw message with the right checksum unless 'ck' is given.
    const prelude = `import struct
from scapy.utils import checksum
def icmp(t, c, rest, data=b'', ck=None):
    h = struct.pack('!BBHI', t, c, 0, rest) + data
    return struct.pack('!BBHI', t, c, checksum(h) if ck is None else ck, rest) + data
def F(msg):
    return Ether()/IP(src='10.0.0.254', dst='10.0.0.1', proto=1)/Raw(msg)
inner = bytes(IP(src='10.0.0.1', dst='10.0.0.9')/UDP(sport=1234, dport=53)/b'abcd')
ping = bytes(IP(src='10.0.0.1', dst='10.0.0.9', ttl=1)/ICMP(type=8, id=7, seq=9)/(b'x'*56))`;
    const exprs = [
      "Ether()/IP(src='10.0.0.1',dst='10.0.0.2')/ICMP(type=8,id=0x1234,seq=5)/b'hello'",
      "Ether()/IP(src='10.0.0.2',dst='10.0.0.1')/ICMP(type=0,id=0x1234,seq=5)",
      "Ether()/IP(src='10.0.0.1',dst='10.0.0.2')/ICMP(type=8,id=0x1234,seq=5,chksum=0x1111)/b'hello'",
      'F(icmp(3, 3, 0, inner))',
      'F(icmp(3, 4, 1400, inner))',
      'F(icmp(3, 4, 0x12340240, inner))',
      'F(icmp(3, 1, 0x00050000, inner))',
      'F(icmp(3, 3, 0x12340240, inner))',
      'F(icmp(11, 0, 0, inner))',
      'F(icmp(11, 1, 0x00ff0000, inner))',
      'F(icmp(12, 0, 0x09000000, inner))',
      'F(icmp(12, 1, 0x0a050001, inner))',
      'F(icmp(5, 1, 0x0a00004d, inner))',
      'F(icmp(4, 0, 0, inner))',
      "F(icmp(13, 0, 0x00010002, struct.pack('!III', 1, 2, 3)))",
      "F(icmp(14, 0, 0x00010002, struct.pack('!III', 4, 5, 0xffffffff)))",
      "F(icmp(18, 0, 0x00010002, struct.pack('!I', 0xffffff00)))",
      'F(icmp(15, 0, 0x00030004))',
      "F(icmp(99, 3, 0x01020304, b'zz'))",
      'F(icmp(1, 0, 0))',
      'F(icmp(11, 0, 0, ping))',
      'F(icmp(11, 0, 0, ping[:28]))',
      'F(icmp(11, 0, 0, ping[:24]))',
      'F(icmp(3, 3, 0))',
    ];
    const out = scapy(`${prelude}\nfor e in ${JSON.stringify(exprs)}:\n    print(bytes(eval(e)).hex())`);
    const frames = out.trim().split('\n').map(hexBytes);
    expect(frames.length).toBe(exprs.length);
    const { path, cleanup } = writeTempPcap(frames);
    let got: Record<string, string>[];
    try { got = tsharkFields(path, ICMP_FIELDS); } finally { cleanup(); }
    frames.forEach((f, i) => {
      const ctx = new DissectCtx(f, new Map());
      const end = 14 + ((f[16]! << 8) | f[17]!);
      const next = dissectIcmp(ctx, 34, end);
      // a quoted ICMP message (traceroute -I): dissect it as the driver would
      if (next.kind === 'ip' && f[42 + 9] === 1) {
        ctx.quoted = true;
        dissectIcmp(ctx, next.off + (f[next.off]! & 15) * 4, end);
      }
      const mine = fieldsOf(ctx.layers);
      for (const name of ICMP_FIELDS) expect(`${exprs[i]} ${name}=${mine[name] ?? ''}`).toBe(`${exprs[i]} ${name}=${got[i]![name]}`);
    });
  });
});

// ---- helpers -----------------------------------------------------------------------

function ctxOf(b: Uint8Array): DissectCtx {
  const ctx = new DissectCtx(b, new Map());
  ctx.ip = { version: 4, src: 0x0a000001, dst: 0x0a000002, srcOff: -1, dstOff: -1, quoted: false, fragmented: false };
  return ctx;
}

function arbRepr(): fc.Arbitrary<IcmpRepr> {
  const u8 = fc.integer({ min: 0, max: 255 });
  const u16 = fc.integer({ min: 0, max: 0xffff });
  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  return fc.oneof(
    fc.record({ kind: fc.constantFrom('echoRequest' as const, 'echoReply' as const), code: u8, checksum: fc.constant(-1), ident: u16, seq: u16 }),
    fc.record({ kind: fc.constant('destUnreachable' as const), code: u8, checksum: fc.constant(-1), unused: u16, mtu: u16 }),
    fc.record({ kind: fc.constant('timeExceeded' as const), code: u8, checksum: fc.constant(-1), unused: u32 }),
    fc.record({
      kind: fc.constant('other' as const), type: u8.filter((t) => t !== 0 && t !== 3 && t !== 8 && t !== 11),
      code: u8, checksum: fc.constant(-1), restOfHeader: u32,
    }),
  );
}

