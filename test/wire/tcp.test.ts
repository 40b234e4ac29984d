import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  TCP_ACK, TCP_AE, TCP_CWR, TCP_ECE, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG, TcpPacket, TcpRepr,
  seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, tcpOptionsLen, type TcpOption,
} from '../../src/wire/tcp.js';
import { dissectTcp, tcpFlagsString } from '../../src/wire/dissect/tcp.js';
import { DissectCtx, type DissectLayer } from '../../src/wire/dissect.js';
import { ipv4PseudoSum, ipv6PseudoSumOf } from '../../src/wire/checksum.js';
import { parseIpv6 } from '../../src/wire/bytes.js';
import { WireError } from '../../src/errors.js';
import { describeWith, scapy, scapyBytes, writeTempPcap } from '../oracle/tools.js';
import { catchWire, fieldsOf, hexBytes, toHex } from '../oracle/wire.js';

// /usr/bin/python3 -c "from scapy.all import *; print(bytes(IP(src='10.0.0.1',dst='10.0.0.2')/TCP(sport=40000,dport=80,seq=0x89abcdef,flags='S',window=64240,options=[('MSS',1460),('SAckOK',b''),('Timestamp',(123456,0)),('NOP',None),('WScale',7)]))[TCP]).hex())"
const SYN_HEX = '9c40005089abcdef00000000a002faf0629f0000020405b40402080a0001e2400000000001030307';
const SYN = hexBytes(SYN_HEX);
// /usr/bin/python3 -c "from scapy.all import *; print(bytes(IP(src='10.0.0.2',dst='10.0.0.1')/TCP(sport=80,dport=40000,seq=1000,ack=0x89abcdf0,flags='PA',window=502)/b'hello')[TCP]).hex())"
const DATA_HEX = '00509c40000003e889abcdf0501801f65de8000068656c6c6f';
const DATA = hexBytes(DATA_HEX);
const A = 0x0a000001, B = 0x0a000002;
const pseudoAB = (len: number): number => ipv4PseudoSum(A, B, 6, len);
const pseudoBA = (len: number): number => ipv4PseudoSum(B, A, 6, len);

const SYN_OPTIONS: TcpOption[] = [
  { kind: 'mss', value: 1460 }, { kind: 'sackPerm' }, { kind: 'timestamp', tsval: 123456, tsecr: 0 },
  { kind: 'nop' }, { kind: 'wscale', shift: 7 },
];

describe('tcp', () => {
  it('deconstructs every field of a SYN with options', () => {
    const p = TcpPacket.checked(SYN);
    expect(p.srcPort()).toBe(40000);
    expect(p.dstPort()).toBe(80);
    expect(p.seqNumber()).toBe(0x89abcdef);
    expect(p.ackNumber()).toBe(0);
    expect(p.dataOffset()).toBe(10);
    expect(p.hdrLen()).toBe(40);
    expect(p.flags()).toBe(TCP_SYN);
    expect([p.syn(), p.ack(), p.fin(), p.rst(), p.psh(), p.urg(), p.ece(), p.cwr(), p.ae()])
      .toEqual([true, false, false, false, false, false, false, false, false]);
    expect(p.window()).toBe(64240);
    expect(p.checksum()).toBe(0x629f);
    expect(p.urgentPointer()).toBe(0);
    expect(p.optionsOffset()).toBe(20);
    expect(p.payloadOffset()).toBe(40);
    expect(p.payloadLen()).toBe(0);
    expect(p.mss()).toBe(1460);
    expect(p.windowScale()).toBe(7);
    expect(p.sackPermitted()).toBe(true);
    expect(p.tsVal()).toBe(123456);
    expect(p.tsEcr()).toBe(0);
    expect(p.findOption(5)).toBe(-1);
    expect(p.verifyChecksum(pseudoAB(SYN.length))).toBe(true);
  });

  it('deconstructs a data segment without options', () => {
    const p = TcpPacket.checked(DATA);
    expect([p.srcPort(), p.dstPort(), p.seqNumber(), p.ackNumber()]).toEqual([80, 40000, 1000, 0x89abcdf0]);
    expect(p.flags()).toBe(TCP_PSH | TCP_ACK);
    expect([p.hdrLen(), p.payloadOffset(), p.payloadLen()]).toEqual([20, 20, 5]);
    expect([p.mss(), p.windowScale(), p.tsVal(), p.tsEcr()]).toEqual([-1, -1, -1, -1]);
    expect(p.sackPermitted()).toBe(false);
    expect(p.verifyChecksum(pseudoBA(DATA.length))).toBe(true);
  });

  it('constructs into a 0xa5-filled buffer', () => {
    const buf = new Uint8Array(DATA.length).fill(0xa5);
    buf.set(DATA.subarray(20), 20);
    const p = new TcpPacket().reset(buf, 0, buf.length);
    p.setSrcPort(80); p.setDstPort(40000); p.setSeqNumber(1000); p.setAckNumber(0x89abcdf0);
    buf[12] = 0; // the reserved nibble shares the byte with the data offset
    p.setDataOffset(5); p.setFlags(TCP_PSH | TCP_ACK); p.setWindow(502); p.setUrgentPointer(0); p.setChecksum(0);
    p.fillChecksum(pseudoBA(buf.length));
    expect(toHex(buf)).toBe(DATA_HEX);
  });

  it('setDataOffset and setFlags keep each other', () => {
    const buf = new Uint8Array(20);
    const p = new TcpPacket().reset(buf, 0, 20);
    p.setFlags(0xfff); p.setDataOffset(5);
    expect([p.dataOffset(), p.flags()]).toEqual([5, 0xfff]);
    p.setFlags(TCP_SYN);
    expect([p.dataOffset(), p.flags()]).toEqual([5, TCP_SYN]);
    p.setFlags(TCP_AE);
    expect(p.ae()).toBe(true);
  });

  it('parses and emits the SYN', () => {
    const r = TcpRepr.parse(new TcpPacket().reset(SYN, 0, SYN.length));
    expect(r).toEqual({
      srcPort: 40000, dstPort: 80, seq: 0x89abcdef, ack: 0, flags: TCP_SYN, window: 64240, urgent: 0,
      options: SYN_OPTIONS, dataOffset: 10, checksum: 0x629f,
    });
    const buf = new Uint8Array(SYN.length).fill(0xa5);
    TcpRepr.emit({ ...r, dataOffset: -1, checksum: -1 }, new TcpPacket().reset(buf, 0, buf.length), 0, pseudoAB);
    expect(toHex(buf)).toBe(SYN_HEX);
    expect(TcpRepr.bufferLen({ ...r, dataOffset: -1 })).toBe(40);
  });

  it('parses and emits a data segment', () => {
    const r = TcpRepr.parse(new TcpPacket().reset(DATA, 0, DATA.length));
    expect(r.options).toEqual([]);
    const buf = new Uint8Array(DATA.length).fill(0xa5);
    buf.set(DATA.subarray(20), 20);
    TcpRepr.emit({ ...r, dataOffset: -1, checksum: -1 }, new TcpPacket().reset(buf, 0, buf.length), 5, pseudoBA);
    expect(buf).toEqual(DATA);
  });

  it('keeps an EOL and its zero padding', () => {
    // options: MSS, EOL, then 3 zero bytes of padding: 28-byte header
    const seg = segment([2, 4, 5, 0xb4, 0, 0, 0, 0]);
    const r = TcpRepr.parse(new TcpPacket().reset(seg, 0, seg.length));
    expect(r.options).toEqual([{ kind: 'mss', value: 1460 }, { kind: 'eol' }]);
    expect(r.dataOffset).toBe(7);
    const buf = new Uint8Array(seg.length).fill(0xa5);
    TcpRepr.emit(r, new TcpPacket().reset(buf, 0, buf.length), 0, pseudoAB);
    expect(buf).toEqual(seg);
  });

  it('walks options only up to the first EOL in check() and findOption()', () => {
    // EOL, then bytes that would be a malformed MSS if they were options
    const seg = segment([0, 2, 9, 9]);
    const p = TcpPacket.checked(seg);
    expect(p.mss()).toBe(-1);
  });

  it('pads emitted options to a 4-byte boundary with zeros', () => {
    const r: TcpRepr = {
      srcPort: 1, dstPort: 2, seq: 3, ack: 4, flags: TCP_SYN, window: 5, urgent: 0,
      options: [{ kind: 'mss', value: 1400 }, { kind: 'nop' }, { kind: 'wscale', shift: 9 }], dataOffset: -1, checksum: -1,
    };
    expect(TcpRepr.bufferLen(r)).toBe(28);
    const buf = new Uint8Array(28).fill(0xa5);
    TcpRepr.emit(r, new TcpPacket().reset(buf, 0, 28), 0, pseudoAB);
    expect(toHex(buf.subarray(20))).toBe('02040578' + '01030309');
    const sack: TcpRepr = { ...r, options: [{ kind: 'nop' }, { kind: 'sack', blocks: [[1, 2]] }] };
    const b2 = new Uint8Array(TcpRepr.bufferLen(sack)).fill(0xa5);
    TcpRepr.emit(sack, new TcpPacket().reset(b2, 0, b2.length), 0, pseudoAB);
    expect(toHex(b2.subarray(20))).toBe('01050a' + '00000001' + '00000002' + '00');
    expect(b2.length).toBe(32);
  });

  it('emits a given data offset and checksum as given', () => {
    const r: TcpRepr = {
      srcPort: 1, dstPort: 2, seq: 3, ack: 4, flags: TCP_ACK, window: 5, urgent: 6, options: [], dataOffset: 6, checksum: 0xbeef,
    };
    const buf = new Uint8Array(24).fill(0xa5);
    TcpRepr.emit(r, new TcpPacket().reset(buf, 0, 24), 0, pseudoAB);
    const p = TcpPacket.checked(buf);
    expect([p.hdrLen(), p.checksum(), p.urgentPointer()]).toEqual([24, 0xbeef, 6]);
    expect(toHex(buf.subarray(20))).toBe('00000000');
  });

  it('rejects emitting options that do not fit', () => {
    const big: TcpOption[] = [];
    for (let i = 0; i < 11; i++) big.push({ kind: 'mss', value: i });
    const r: TcpRepr = { srcPort: 1, dstPort: 2, seq: 3, ack: 4, flags: 0, window: 5, urgent: 0, options: big, dataOffset: -1, checksum: -1 };
    const e = catchWire(() => TcpRepr.emit(r, new TcpPacket().reset(new Uint8Array(80), 0, 80), 0, pseudoAB));
    expect([e.code, e.offset]).toEqual(['WIRE_BAD_HDR_LEN', 12]);
    const small = { ...r, options: [{ kind: 'mss', value: 1 }] as TcpOption[], dataOffset: 5 };
    expect(catchWire(() => TcpRepr.emit(small, new TcpPacket().reset(new Uint8Array(80), 0, 80), 0, pseudoAB)).code).toBe('WIRE_BAD_HDR_LEN');
  });

  it('formats tcp.flags.str as tshark does', () => {
    expect(tcpFlagsString(TCP_SYN)).toBe('··········S·');
    expect(tcpFlagsString(0xfff)).toBe('RRRACEUAPRSF');
    expect(tcpFlagsString(TCP_FIN | TCP_RST | TCP_URG | TCP_ECE | TCP_CWR)).toBe('····CEU··R·F');
  });

  it('compares sequence numbers modulo 2^32', () => {
    expect(seqLt(0xfffffff0, 0x10)).toBe(true);
    expect(seqGt(0x10, 0xfffffff0)).toBe(true);
    expect(seqLt(5, 5)).toBe(false);
    expect(seqLe(5, 5) && seqGe(5, 5)).toBe(true);
    expect(seqAdd(0xffffffff, 2)).toBe(1);
    expect(seqDiff(0x10, 0xfffffff0)).toBe(0x20);
    expect(seqDiff(0xfffffff0, 0x10)).toBe(-0x20);
    expect(seqLt(0, 0x7fffffff)).toBe(true);
    expect(seqLt(0, 0x80000001)).toBe(false); // more than 2^31 ahead wraps to "behind"
  });

  // ---- rejections: code and offset ------------------------------------------

  it('rejects a header shorter than 20 bytes', () => {
    const e = catchWire(() => TcpPacket.checked(SYN, 0, 19));
    expect([e.code, e.field, e.offset]).toEqual(['WIRE_TRUNCATED', 'tcp', 19]);
  });

  it('rejects every data offset below 5 at the data-offset byte', () => {
    for (let d = 0; d < 5; d++) {
      const b = DATA.slice(); b[12] = (d << 4) | (b[12]! & 0x0f);
      const e = catchWire(() => TcpPacket.checked(b));
      expect([e.code, e.field, e.offset]).toEqual(['WIRE_BAD_HDR_LEN', 'tcp.hdr_len', 12]);
    }
  });

  it('rejects a data offset past the end as truncated at the end', () => {
    const b = DATA.slice(); b[12] = 0xf0 | (b[12]! & 0x0f); // 60-byte header in 25 bytes
    const e = catchWire(() => TcpPacket.checked(b));
    expect([e.code, e.field, e.offset]).toEqual(['WIRE_TRUNCATED', 'tcp.options', 25]);
  });

  const badOptions: [string, number[], number][] = [
    ['length 0', [99, 0, 0, 0], 21],
    ['length 1', [99, 1, 0, 0], 21],
    ['length past the header', [1, 99, 6, 0], 22],
    ['no room for the length byte', [1, 1, 1, 99], 24],
    ['MSS of length 3', [2, 3, 5, 0], 21],
    ['window scale of length 4', [3, 4, 7, 0], 21],
    ['SACK-permitted of length 3', [4, 3, 0, 0], 21],
    ['SACK of length 12', [5, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 21],
    ['SACK of length 2', [5, 2, 0, 0], 21],
    ['timestamps of length 9', [1, 8, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0], 22],
  ];
  for (const [what, opts, at] of badOptions) {
    it(`rejects an option with ${what} at its length byte`, () => {
      const e = catchWire(() => TcpPacket.checked(segment(opts)));
      expect([e.code, e.field, e.offset]).toEqual(['WIRE_BAD_OPTION', 'tcp.option_len', at]);
      const d = catchWire(() => dissectTcp(ctx4(segment(opts)), 0, 20 + opts.length));
      expect([d.code, d.offset]).toEqual(['WIRE_BAD_OPTION', at]);
    });
  }

  it('rejects non-zero padding after an EOL in parse, at the first non-zero byte', () => {
    const seg = segment([1, 0, 0, 7]);
    expect(TcpPacket.checked(seg).check()).toBe(0); // the fast path does not look
    const e = catchWire(() => TcpRepr.parse(new TcpPacket().reset(seg, 0, seg.length)));
    expect([e.code, e.field, e.offset]).toEqual(['WIRE_BAD_OPTION', 'tcp.options', 23]);
  });

  it('truncated at every offset: only WireError, truncated at the cut', () => {
    for (const seg of [SYN, DATA]) {
      const hl = TcpPacket.checked(seg).hdrLen();
      for (let k = 0; k <= seg.length; k++) {
        if (k >= hl) {
          expect(TcpPacket.checked(seg, 0, k).hdrLen()).toBe(hl);
          expect(() => dissectTcp(ctx4(seg), 0, k)).not.toThrow();
          continue;
        }
        const e = catchWire(() => TcpRepr.parse(new TcpPacket().reset(seg, 0, k)));
        expect([e.code, e.offset]).toEqual(['WIRE_TRUNCATED', k]);
        const d = catchWire(() => dissectTcp(ctx4(seg), 0, k));
        expect([d.code, d.offset]).toEqual(['WIRE_TRUNCATED', k]);
      }
    }
  });

  it('truncated quoted segment at every offset: no throw, fields while bytes last', () => {
    for (let k = 0; k <= SYN.length; k++) {
      const ctx = ctx4(SYN); ctx.quoted = true;
      expect(dissectTcp(ctx, 0, k)).toEqual({ kind: 'end' });
      const names = ctx.layers.flatMap((l) => l.fields.map(([n]) => n));
      if (k < 4) expect(names).toEqual([]);
      else expect(names.includes('tcp.seq')).toBe(k >= 8);
      expect(names.includes('tcp.seq_raw') || names.includes('tcp.len')).toBe(false);
    }
  });

  it('dissects a data segment and says what follows', () => {
    const ctx = ctx4(DATA, B, A);
    expect(dissectTcp(ctx, 0, DATA.length)).toEqual({ kind: 'data', off: 20, end: 25 });
    const f = fieldsOf(ctx.layers);
    expect(f['tcp.checksum.status']).toBe('1');
    expect(f['tcp.nxtseq']).toBe('1005');
    expect(f['tcp.flags']).toBe('0x0018');
    expect(dissectTcp(ctx4(SYN), 0, SYN.length)).toEqual({ kind: 'end' });
  });

  // ---- properties --------------------------------------------------------------

  it('property: parse(emit(x)) == x', () => {
    fc.assert(fc.property(arbRepr(), fc.uint8Array({ maxLength: 32 }), (r, payload) => {
      const hl = TcpRepr.bufferLen(r);
      const buf = new Uint8Array(hl + payload.length);
      buf.set(payload, hl);
      const v = new TcpPacket().reset(buf, 0, buf.length);
      TcpRepr.emit(r, v, payload.length, pseudoAB);
      const back = TcpRepr.parse(v);
      expect(back).toEqual({ ...r, dataOffset: hl / 4, checksum: back.checksum });
      expect(v.verifyChecksum(pseudoAB(buf.length))).toBe(true);
      // and emit(parse(y)) == y
      const again = new Uint8Array(buf.length);
      again.set(payload, hl);
      TcpRepr.emit(back, new TcpPacket().reset(again, 0, again.length), payload.length, pseudoAB);
      expect(again).toEqual(buf);
    }));
  });

  it('property: arbitrary bytes raise only WireError (view, Repr, dissector)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 72 }), fc.boolean(), (b, quoted) => {
      try { TcpRepr.parse(new TcpPacket().reset(b, 0, b.length)); } catch (e) { expect(e).toBeInstanceOf(WireError); }
      const ctx = ctx4(b); ctx.quoted = quoted;
      try { dissectTcp(ctx, 0, b.length); } catch (e) { expect(e).toBeInstanceOf(WireError); }
    }));
  });

  it('property: arbitrary option bytes after a valid header raise only WireError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), (opts) => {
      const seg = segment(Array.from(opts.subarray(0, opts.length & ~3)));
      try { TcpRepr.parse(new TcpPacket().reset(seg, 0, seg.length)); } catch (e) { expect(e).toBeInstanceOf(WireError); }
      try { dissectTcp(ctx4(seg), 0, seg.length); } catch (e) { expect(e).toBeInstanceOf(WireError); }
    }));
  });

  it('property: seqLt agrees with the signed difference', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 1, max: 0x7fffffff }), (a, n) => {
      const b = seqAdd(a, n);
      expect(seqLt(a, b)).toBe(true);
      expect(seqGt(b, a)).toBe(true);
      expect(seqDiff(b, a)).toBe(n);
    }));
  });
});

describeWith('scapy', 'tcp vs scapy', () => {
  const cases: [string, TcpRepr, number][] = [
    ["TCP(sport=40000,dport=443,seq=0xfffffffe,ack=0x80000000,flags='SAEC',window=65535,urgptr=0,"
      + "options=[('MSS',9000),('SAckOK',b''),('Timestamp',(0xffffffff,1)),('NOP',None),('WScale',14)])",
    {
      srcPort: 40000, dstPort: 443, seq: 0xfffffffe, ack: 0x80000000, flags: TCP_SYN | TCP_ACK | TCP_ECE | TCP_CWR,
      window: 65535, urgent: 0, dataOffset: -1, checksum: -1,
      options: [{ kind: 'mss', value: 9000 }, { kind: 'sackPerm' }, { kind: 'timestamp', tsval: 0xffffffff, tsecr: 1 },
        { kind: 'nop' }, { kind: 'wscale', shift: 14 }],
    }, 0],
    ["TCP(sport=1,dport=2,seq=7,ack=9,flags='A',window=100,options=[('NOP',None),('NOP',None),"
      + "('SAck',(1,2,3,4,5,6,7,8))])/(b'y'*3)",
    {
      srcPort: 1, dstPort: 2, seq: 7, ack: 9, flags: TCP_ACK, window: 100, urgent: 0, dataOffset: -1, checksum: -1,
      options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [[1, 2], [3, 4], [5, 6], [7, 8]] }],
    }, 3],
    ["TCP(sport=5,dport=6,seq=0,ack=0,flags='FPU',window=0,urgptr=3,options=[('MSS',536),('WScale',2)])/(b'y'*4)",
      {
        srcPort: 5, dstPort: 6, seq: 0, ack: 0, flags: TCP_FIN | TCP_PSH | TCP_URG, window: 0, urgent: 3, dataOffset: -1, checksum: -1,
        options: [{ kind: 'mss', value: 536 }, { kind: 'wscale', shift: 2 }],
      }, 4],
    ["TCP(sport=5,dport=6,flags='R',options=[(99,b'abcdef')])", {
      srcPort: 5, dstPort: 6, seq: 0, ack: 0, flags: TCP_RST, window: 8192, urgent: 0, dataOffset: -1, checksum: -1,
      options: [{ kind: 'unknown', type: 99, data: Uint8Array.from(Buffer.from('abcdef')) }],
    }, 0],
  ];
  for (const [expr, r, payloadLen] of cases) {
    it(`emits the bytes scapy builds for ${expr.slice(0, 60)}…`, () => {
      const want = scapyBytes(`(IP(src='10.0.0.1',dst='10.0.0.2')/${expr})[TCP]`);
      const buf = new Uint8Array(want.length).fill(0x79);
      expect(TcpRepr.bufferLen(r) + payloadLen).toBe(want.length);
      TcpRepr.emit(r, new TcpPacket().reset(buf, 0, buf.length), payloadLen, pseudoAB);
      expect(toHex(buf)).toBe(toHex(want));
    });
  }

  it('emits the bytes scapy builds over IPv6', () => {
    const want = scapyBytes("(IPv6(src='2001:db8::1',dst='2001:db8::2')/TCP(sport=80,dport=8080,seq=1,ack=2,flags='A')/b'zz')[TCP]");
    const buf = new Uint8Array(want.length).fill(0x7a);
    const src = parseIpv6('2001:db8::1')!, dst = parseIpv6('2001:db8::2')!;
    TcpRepr.emit({ srcPort: 80, dstPort: 8080, seq: 1, ack: 2, flags: TCP_ACK, window: 8192, urgent: 0, options: [], dataOffset: -1, checksum: -1 },
      new TcpPacket().reset(buf, 0, buf.length), 2, (len) => ipv6PseudoSumOf(src, dst, 6, len));
    expect(toHex(buf)).toBe(toHex(want));
  });
});

// ---- tshark: dissector fields ---------------------------------------------------

/** Every tcp.* field the dissector emits; compared one by one with tshark. */
const TCP_FIELDS = [
  'tcp.srcport', 'tcp.dstport', 'tcp.port', 'tcp.seq', 'tcp.seq_raw', 'tcp.nxtseq', 'tcp.ack', 'tcp.ack_raw', 'tcp.hdr_len',
  'tcp.flags', 'tcp.flags.res', 'tcp.flags.ae', 'tcp.flags.cwr', 'tcp.flags.ece', 'tcp.flags.urg', 'tcp.flags.ack',
  'tcp.flags.push', 'tcp.flags.reset', 'tcp.flags.syn', 'tcp.flags.fin', 'tcp.flags.str', 'tcp.window_size_value',
  'tcp.checksum', 'tcp.checksum.status', 'tcp.urgent_pointer', 'tcp.len', 'tcp.options', 'tcp.option_kind', 'tcp.option_len',
  'tcp.options.mss', 'tcp.options.mss_val', 'tcp.options.wscale', 'tcp.options.wscale.shift', 'tcp.options.wscale.multiplier',
  'tcp.options.sack_perm', 'tcp.options.sack', 'tcp.options.sack_le', 'tcp.options.sack_re', 'tcp.options.sack.count',
  'tcp.options.timestamp', 'tcp.options.timestamp.tsval', 'tcp.options.timestamp.tsecr', 'tcp.options.nop',
  'tcp.options.eol', 'tcp.options.unknown', 'tcp.options.unknown.payload',
];

describeWith('tshark', 'tcp dissector vs tshark', () => {
  it('prints the fields tshark prints (relative sequence numbers off)', () => {
    // Each frame: [scapy expression of the whole frame, IP version]
    const frames: [string, 4 | 6][] = [
      ["Ether()/IP(src='10.0.0.1',dst='10.0.0.2')/TCP(sport=40000,dport=80,seq=0x89abcdef,flags='S',window=64240,"
        + "options=[('MSS',1460),('SAckOK',b''),('Timestamp',(123456,0)),('NOP',None),('WScale',7)])", 4],
      ["Ether()/IP(src='10.0.0.2',dst='10.0.0.1')/TCP(sport=80,dport=40000,seq=1000,ack=0x89abcdf0,flags='SA',window=65160,"
        + "options=[('MSS',1460),('SAckOK',b''),('Timestamp',(999,123456)),('NOP',None),('WScale',15)])", 4],
      ["Ether()/IP(src='10.0.0.1',dst='10.0.0.2')/TCP(sport=40000,dport=80,seq=0x89abcdf0,ack=1001,flags='PA',window=502,"
        + "options=[('NOP',None),('NOP',None),('SAck',(1100,1200,1300,1400))])/b'GET / HTTP/1.0\\r\\n\\r\\n'", 4],
      ["Ether()/IP(src='10.0.0.1',dst='10.0.0.2')/TCP(sport=40000,dport=80,seq=5,ack=9,flags='FRPUEC',window=0,urgptr=7,chksum=0x1234)", 4],
      ["Ether()/IP(src='10.0.0.1',dst='10.0.0.2')/TCP(sport=1,dport=2,seq=0xffffffff,ack=7,flags='SF')/b'abc'", 4],
      ["Ether()/IP(src='10.0.0.1',dst='10.0.0.2')/TCP(sport=1,dport=2,seq=5,ack=7,flags='A',options=[('EOL',None)])", 4],
      ["Ether()/IP(src='10.0.0.1',dst='10.0.0.2')/TCP(sport=1,dport=2,seq=5,ack=7,flags='A',options=[(99,b'abcdef'),('NOP',None),('NOP',None)])", 4],
      ["Ether()/IP(src='10.0.0.1',dst='10.0.0.2')/TCP(sport=1,dport=2,seq=5,ack=7,flags='A',options=[(19,b'x'*16)])", 4],
      ["Ether()/IP(src='10.0.0.1',dst='10.0.0.2')/TCP(sport=1,dport=2,flags='A',options=[('MSS',1),('EOL',None)])/b'\\x00\\x01\\x02'", 4],
      ["Ether()/IPv6(src='2001:db8::1',dst='2001:db8::2')/TCP(sport=1,dport=2,seq=100,ack=200,flags='A')/b'xyz'", 6],
      ["Ether()/IPv6(src='2001:db8::1',dst='2001:db8::2')/TCP(sport=1,dport=2,seq=100,ack=200,flags='A',chksum=0)/b'xyz'", 6],
    ];
    const bytes = framesFrom(frames.map(([e]) => e));
    // all 12 flag bits and a non-zero padding after EOL, patched by hand (checksum refreshed)
    bytes.push(patchTcp(bytes[4]!, 34, (t) => { t[12] = (t[12]! & 0xf0) | 0x0f; t[13] = 0xff; }));
    bytes.push(patchTcp(frameOf("Ether()/IP(src='10.0.0.1',dst='10.0.0.2')/TCP(sport=1,dport=2,flags='A',options=[('NOP',None),('EOL',None),('NOP',None),('NOP',None)])"), 34, () => {}));
    frames.push(['', 4], ['', 4]);
    const got = tsharkRelOff(bytes, TCP_FIELDS);
    bytes.forEach((f, i) => {
      const v6 = frames[i]![1] === 6;
      const ipOff = 14, l4 = v6 ? 54 : 34;
      const ctx = new DissectCtx(f, new Map());
      ctx.ip = v6
        ? { version: 6, src: 0, dst: 0, srcOff: ipOff + 8, dstOff: ipOff + 24, quoted: false, fragmented: false }
        : { version: 4, src: be32(f, ipOff + 12), dst: be32(f, ipOff + 16), srcOff: -1, dstOff: -1, quoted: false, fragmented: false };
      const end = v6 ? l4 + ((f[ipOff + 4]! << 8) | f[ipOff + 5]!) : ipOff + ((f[ipOff + 2]! << 8) | f[ipOff + 3]!);
      dissectTcp(ctx, l4, end);
      const mine = fieldsOf(ctx.layers);
      for (const name of TCP_FIELDS) expect(`${i}:${name}=${mine[name] ?? ''}`).toBe(`${i}:${name}=${got[i]![name]}`);
    });
  });

  it('prints a quoted segment as tshark does, at every cut length', () => {
    const inner = "IP(src='10.0.0.1',dst='10.0.0.9')/TCP(sport=40000,dport=80,seq=0x89abcdef,ack=77,flags='PA',window=64240,"
      + "options=[('MSS',1460),('SAckOK',b''),('Timestamp',(123456,0)),('NOP',None),('WScale',15)])/b'hello'";
    const cuts = [20, 22, 24, 28, 32, 33, 36, 37, 38, 39, 40, 60, 62, 65];
    const frames = framesFrom(cuts.map((c) =>
      `Ether()/IP(src='10.0.0.254',dst='10.0.0.1')/ICMP(type=3,code=1)/Raw(bytes(${inner})[:${c}])`));
    const got = tsharkRelOff(frames, TCP_FIELDS);
    frames.forEach((f, i) => {
      const ctx = new DissectCtx(f, new Map());
      ctx.quoted = true;
      ctx.ip = { version: 4, src: 0x0a000001, dst: 0x0a000009, srcOff: -1, dstOff: -1, quoted: true, fragmented: false };
      dissectTcp(ctx, 14 + 20 + 8 + 20, f.length);
      const mine = fieldsOf(ctx.layers);
      const c = cuts[i]! - 20;
      // tshark prints the options it could read from a cut option area; we print none (see dissect/tcp.ts)
      const skip = c > 20 && c < 40 ? ['tcp.options', 'tcp.option_kind', 'tcp.option_len', 'tcp.options.mss_val', 'tcp.options.mss',
        'tcp.options.sack_perm', 'tcp.options.timestamp', 'tcp.options.timestamp.tsval', 'tcp.options.timestamp.tsecr',
        'tcp.options.nop', 'tcp.options.wscale', 'tcp.options.wscale.shift', 'tcp.options.wscale.multiplier'] : c === 20 ? ['tcp.options'] : [];
      for (const name of TCP_FIELDS) {
        if (skip.includes(name)) continue;
        expect(`${c}:${name}=${mine[name] ?? ''}`).toBe(`${c}:${name}=${got[i]![name]}`);
      }
    });
  });
});

// ---- helpers -----------------------------------------------------------------------

function be32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** A 20-byte ACK header followed by option bytes 'opts' (length a multiple of 4). */
function segment(opts: number[]): Uint8Array {
  const b = new Uint8Array(20 + opts.length);
  b.set(DATA.subarray(0, 20));
  b[12] = ((20 + opts.length) / 4) << 4;
  b.set(opts, 20);
  return b;
}

function ctx4(b: Uint8Array, src = A, dst = B): DissectCtx {
  const ctx = new DissectCtx(b, new Map());
  ctx.ip = { version: 4, src, dst, srcOff: -1, dstOff: -1, quoted: false, fragmented: false };
  return ctx;
}

function frameOf(expr: string): Uint8Array {
  return scapyBytes(expr);
}

/** Several scapy frames in one Python run. */
function framesFrom(exprs: string[]): Uint8Array[] {
  const out = scapy(`for e in ${JSON.stringify(exprs)}:\n    print(bytes(eval(e)).hex())`);
  return out.trim().split('\n').map(hexBytes);
}

/** Copy of Ethernet/IPv4 frame 'f' with 'edit' applied to its TCP header at 'l4' and the TCP checksum refreshed. */
function patchTcp(f: Uint8Array, l4: number, edit: (t: Uint8Array) => void): Uint8Array {
  const g = f.slice();
  const t = g.subarray(l4);
  edit(t);
  const p = new TcpPacket().reset(g, l4, g.length);
  p.setChecksum(0);
  p.fillChecksum(ipv4PseudoSum(be32(g, 26), be32(g, 30), 6, g.length - l4));
  return g;
}

/**
 * tshark -T fields with `-o tcp.relative_sequence_numbers:FALSE`, which the shared
 * tsharkFields() cannot pass (it has no preference option): a local runner.
 */
function tsharkRelOff(frames: Uint8Array[], fields: string[]): Record<string, string>[] {
  const { path, cleanup } = writeTempPcap(frames);
  try {
    const args = ['-r', path, '-n', '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,',
      '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'tcp.relative_sequence_numbers:FALSE',
      '-o', 'tcp.analyze_sequence_numbers:FALSE'];
    for (const f of fields) args.push('-e', f);
    const out = execFileSync('tshark', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return out.split('\n').filter((l) => l.length > 0).map((line) => {
      const cols = line.split('\t');
      return Object.fromEntries(fields.map((f, i) => [f, cols[i] ?? '']));
    });
  } finally {
    cleanup();
  }
}

function arbOption(): fc.Arbitrary<TcpOption> {
  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  return fc.oneof(
    fc.constant<TcpOption>({ kind: 'nop' }),
    fc.integer({ min: 0, max: 0xffff }).map((value): TcpOption => ({ kind: 'mss', value })),
    fc.integer({ min: 0, max: 255 }).map((shift): TcpOption => ({ kind: 'wscale', shift })),
    fc.constant<TcpOption>({ kind: 'sackPerm' }),
    fc.array(fc.tuple(u32, u32), { minLength: 1, maxLength: 3 }).map((blocks): TcpOption => ({ kind: 'sack', blocks })),
    fc.tuple(u32, u32).map(([tsval, tsecr]): TcpOption => ({ kind: 'timestamp', tsval, tsecr })),
    fc.tuple(fc.integer({ min: 9, max: 255 }).filter((t) => t !== 8), fc.uint8Array({ maxLength: 6 }))
      .map(([type, data]): TcpOption => ({ kind: 'unknown', type, data })),
  );
}

function arbRepr(): fc.Arbitrary<TcpRepr> {
  const u16 = fc.integer({ min: 0, max: 0xffff });
  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  return fc.record({
    srcPort: u16, dstPort: u16, seq: u32, ack: u32, flags: fc.integer({ min: 0, max: 0xfff }), window: u16, urgent: u16,
    options: fc.array(arbOption(), { maxLength: 6 }).filter((o) => tcpOptionsLen(o) <= 38)
      .map((o): TcpOption[] => (tcpOptionsLen(o) % 4 !== 0 ? [...o, { kind: 'eol' }] : o)),
    dataOffset: fc.constant(-1), checksum: fc.constant(-1),
  });
}

