import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IPV4_HEADER_LEN, Ipv4Packet, Ipv4Repr } from '../../src/wire/ipv4.js';
import { fold, sum16 } from '../../src/wire/checksum.js';
import { DissectCtx, type DissectLayer, type Next } from '../../src/wire/dissect.js';
import { dissectEthernet } from '../../src/wire/dissect/ethernet.js';
import { dissectIpv4 } from '../../src/wire/dissect/ipv4.js';
import { WireError } from '../../src/errors.js';
import { describeWith, scapy, scapyBytes, tsharkFields, writeTempPcap } from '../oracle/tools.js';
import { catchWire, fieldOf, fields, hex, hexBytes, joined } from '../oracle/wire.js';

// /usr/bin/python3 -c "from scapy.all import *; print(bytes(Ether(dst='02:00:00:00:00:02',src='02:00:00:00:00:01')/IP(src='10.0.0.1',dst='10.0.0.2',tos=0xb9,ttl=3,id=0x1234,flags='DF',options=[IPOption_Router_Alert()])/UDP(sport=1234,dport=53)/b'hello').hex())"
const FRAME_HEX = '020000000002020000000001080046b90025123440000311bbd40a0000010a0000029404000004d20035000da2f868656c6c6f';
const FRAME = hexBytes(FRAME_HEX);
const IP_HEX = FRAME_HEX.slice(28);
const IP = hexBytes(IP_HEX);
const HDR_HEX = IP_HEX.slice(0, 48);

describe('ipv4', () => {
  it('deconstructs every field', () => {
    const p = Ipv4Packet.checked(IP);
    expect([p.version(), p.hdrLen(), p.dsfield(), p.dscp(), p.ecn()]).toEqual([4, 24, 0xb9, 46, 1]);
    expect([p.totalLength(), p.ident(), p.flags(), p.reservedFlag(), p.dontFrag(), p.moreFrags()]).toEqual([37, 0x1234, 2, false, true, false]);
    expect([p.fragOffset(), p.fragOffsetBytes(), p.isFragment()]).toEqual([0, 0, false]);
    expect([p.ttl(), p.protocol(), p.checksum()]).toEqual([3, 17, 0xbbd4]);
    expect([p.src(), p.dst()]).toEqual([0x0a000001, 0x0a000002]);
    expect([p.optionsOffset(), p.payloadOffset(), p.payloadEnd()]).toEqual([20, 24, 37]);
    expect(p.verifyChecksum()).toBe(true);
    expect(p.computeChecksum()).toBe(0xbbd4);
  });

  it('reads addresses with the top bit set as unsigned', () => {
    const b = IP.slice(); b.set([0xc0, 0xa8, 0x01, 0x01, 0xff, 0xff, 0xff, 0xff], 12);
    const p = Ipv4Packet.checked(b);
    expect([p.src(), p.dst()]).toEqual([0xc0a80101, 0xffffffff]);
  });

  it('constructs into a 0xa5-filled buffer', () => {
    const buf = new Uint8Array(IP.length).fill(0xa5);
    buf.set(IP.subarray(20), 20); // the option and the payload
    const p = new Ipv4Packet().reset(buf, 0, buf.length);
    p.setHdrLen(24); p.setDsfield(0); p.setDscp(46); p.setEcn(1); p.setTotalLength(37); p.setIdent(0x1234);
    p.setFlagsFragWord(0); p.setDontFrag(true); p.setMoreFrags(false); p.setReservedFlag(false); p.setFragOffset(0);
    p.setTtl(3); p.setProtocol(17); p.setSrc(0x0a000001); p.setDst(0x0a000002); p.setChecksum(0);
    p.fillChecksum();
    expect(hex(buf)).toBe(IP_HEX);
  });

  it('parses and emits', () => {
    const r = Ipv4Repr.parse(new Ipv4Packet().reset(IP, 0, IP.length));
    expect(r).toEqual({
      dscp: 46, ecn: 1, ident: 0x1234, dontFrag: true, moreFrags: false, fragOffset: 0, ttl: 3, protocol: 17,
      src: 0x0a000001, dst: 0x0a000002, options: hexBytes('94040000'), totalLength: 37, checksum: 0xbbd4,
    });
    expect(Ipv4Repr.bufferLen(r)).toBe(24);
    const buf = new Uint8Array(IP.length).fill(0xa5);
    buf.set(IP.subarray(24), 24);
    Ipv4Repr.emit({ ...r, totalLength: -1, checksum: -1 }, new Ipv4Packet().reset(buf, 0, buf.length), 13);
    expect(hex(buf)).toBe(IP_HEX);
  });

  it('emit pads options with EOL and keeps given lengths and checksums', () => {
    const r = Ipv4Repr.parse(new Ipv4Packet().reset(IP, 0, IP.length));
    const rr = { ...r, options: hexBytes('070304'), totalLength: 999, checksum: 0x1234 }; // a 3-byte Record Route
    expect(Ipv4Repr.bufferLen(rr)).toBe(24);
    const buf = new Uint8Array(24).fill(0xa5);
    const p = new Ipv4Packet().reset(buf, 0, 24);
    Ipv4Repr.emit(rr, p, 0);
    expect(hex(buf.subarray(20))).toBe('07030400');
    expect([p.totalLength(), p.checksum()]).toEqual([999, 0x1234]);
  });

  it('emit rejects what the header cannot carry', () => {
    const r = Ipv4Repr.parse(new Ipv4Packet().reset(IP, 0, IP.length));
    const p = new Ipv4Packet().reset(new Uint8Array(80), 0, 80);
    expect(fieldOf(() => Ipv4Repr.emit({ ...r, options: new Uint8Array(41) }, p, 0))).toEqual(['WIRE_BAD_HDR_LEN', 'ip.hdr_len', 0]);
    expect(fieldOf(() => Ipv4Repr.emit({ ...r, fragOffset: 12 }, p, 0))).toEqual(['WIRE_BAD_VALUE', 'ip.frag_offset', 6]);
    expect(fieldOf(() => Ipv4Repr.emit({ ...r, fragOffset: 65536 }, p, 0))).toEqual(['WIRE_BAD_VALUE', 'ip.frag_offset', 6]);
  });

  it('reads fragment fields in units and bytes', () => {
    const b = IP.slice(); b[6] = 0x20; b[7] = 0xb9; // MF, offset 185
    const p = new Ipv4Packet().reset(b, 0, b.length);
    expect([p.moreFrags(), p.fragOffset(), p.fragOffsetBytes(), p.isFragment(), p.flags()]).toEqual([true, 185, 1480, true, 1]);
    p.setFragOffsetBytes(8);
    expect([p.fragOffset(), p.moreFrags()]).toEqual([1, true]);
  });

  it('incremental setters keep the checksum equal to a full recompute', () => {
    const b = IP.slice();
    const p = new Ipv4Packet().reset(b, 0, b.length);
    expect(p.decTtl()).toBe(2);
    expect(p.verifyChecksum()).toBe(true);
    expect(p.checksum()).toBe(p.computeChecksum());
    p.setTtlIncremental(0);
    expect(p.decTtl()).toBe(-1);
    expect([p.ttl(), p.verifyChecksum()]).toEqual([0, true]);
  });

  it('property: RFC 1624 updates equal a full recompute', () => {
    const u32 = fc.integer({ min: 0, max: 0xffffffff });
    fc.assert(fc.property(fc.uint8Array({ minLength: 20, maxLength: 20 }), u32, u32, fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 255 }), (h, src, dst, ttl, tos) => {
        h[0] = 0x45;
        const p = new Ipv4Packet().reset(h, 0, 20);
        p.fillChecksum();
        p.setSrcIncremental(src);
        p.setDstIncremental(dst);
        p.setTtlIncremental(ttl);
        p.setDsfieldIncremental(tos);
        expect([p.src(), p.dst(), p.ttl(), p.dsfield()]).toEqual([src, dst, ttl, tos]);
        expect(p.verifyChecksum()).toBe(true);
        // the version byte is never zero, so the sum never folds to 0xffff and the value is unique
        expect(p.checksum()).toBe(p.computeChecksum());
      }));
  });

  it('rejects a bad version at its offset', () => {
    const b = IP.slice(); b[0] = 0x66;
    expect(fieldOf(() => Ipv4Packet.checked(b))).toEqual(['WIRE_BAD_VERSION', 'ip.version', 0]);
  });

  it('rejects a header length below 20', () => {
    const b = IP.slice(); b[0] = 0x44;
    expect(fieldOf(() => Ipv4Packet.checked(b))).toEqual(['WIRE_BAD_HDR_LEN', 'ip.hdr_len', 0]);
  });

  it('rejects a header cut short, options included', () => {
    expect(fieldOf(() => Ipv4Packet.checked(IP, 0, 19))).toEqual(['WIRE_TRUNCATED', 'ip', 19]);
    expect(fieldOf(() => Ipv4Packet.checked(IP, 0, 22))).toEqual(['WIRE_TRUNCATED', 'ip', 22]);
    expect(fieldOf(() => Ipv4Packet.checked(IP, 0, 0))).toEqual(['WIRE_TRUNCATED', 'ip', 0]);
  });

  it('rejects a total length below the header length', () => {
    const b = IP.slice(); b[2] = 0; b[3] = 23;
    expect(fieldOf(() => Ipv4Packet.checked(b))).toEqual(['WIRE_BAD_LENGTH', 'ip.len', 2]);
  });

  it('rejects a total length past the end, except in checkHeader()', () => {
    const b = IP.slice(); b[3] = 38;
    expect(fieldOf(() => Ipv4Packet.checked(b))).toEqual(['WIRE_TRUNCATED', 'ip.len', b.length]);
    expect(new Ipv4Packet().reset(IP, 0, 30).checkHeader()).toBe(0);
  });

  it('rejects malformed options at the option offset', () => {
    // option header bytes (4 of them) replacing the Router Alert
    const cases: [string, number][] = [
      ['94050000', 20], // length runs past the header
      ['94010000', 20], // length below 2
      ['01019400', 22], // NOP, NOP, then a type with no room for its length byte... 0x94 at 22, length 0x00
      ['01010194', 23], // the length byte itself is missing
    ];
    for (const [opt, at] of cases) {
      const b = IP.slice(); b.set(hexBytes(opt), 20);
      expect(fieldOf(() => Ipv4Packet.checked(b))).toEqual(['WIRE_BAD_OPTION', 'ip.opt.len', at]);
    }
    const eol = IP.slice(); eol.set(hexBytes('00ffffff'), 20); // nothing after EOL is looked at
    expect(new Ipv4Packet().reset(eol, 0, eol.length).check()).toBe(0);
  });

  it('truncating the frame at every offset gives a WireError with code and offset', () => {
    for (let k = 14; k < FRAME.length; k++) {
      const cut = FRAME.slice(0, k);
      const want = ['WIRE_TRUNCATED', k];
      const e = catchWire(() => Ipv4Repr.parse(new Ipv4Packet().reset(cut, 14, k)));
      expect([e.code, e.offset]).toEqual(want);
      const d = catchWire(() => runStrict(cut));
      expect([d.code, d.offset]).toEqual(want);
    }
  });

  it('dissects and says what follows', () => {
    const ctx = new DissectCtx(FRAME, new Map());
    const next = dissectIpv4(ctx, 14, FRAME.length);
    expect(next).toEqual({ kind: 'ipproto', proto: 17, off: 38, end: 51 });
    expect(ctx.ip).toEqual({ version: 4, src: 0x0a000001, dst: 0x0a000002, srcOff: -1, dstOff: -1, quoted: false, fragmented: false });
    const f = fields(ctx.layers[0]!);
    expect(f).toMatchObject({
      'ip.version': '4', 'ip.hdr_len': '24', 'ip.dsfield': '0xb9', 'ip.dsfield.dscp': '46', 'ip.dsfield.ecn': '1',
      'ip.len': '37', 'ip.id': '0x1234', 'ip.flags': '0x02', 'ip.flags.df': '1', 'ip.frag_offset': '0', 'ip.ttl': '3',
      'ip.proto': '17', 'ip.checksum': '0xbbd4', 'ip.checksum.status': '1', 'ip.src': '10.0.0.1', 'ip.dst': '10.0.0.2',
      'ip.addr': '10.0.0.1,10.0.0.2', 'ip.opt.type': '148', 'ip.opt.ra': '0', 'ip.options.routeralert': '94040000',
    });
  });

  it('stops at the IP total length: Ethernet padding is not payload', () => {
    const padded = new Uint8Array(FRAME.length + 9); padded.set(FRAME);
    expect(dissectIpv4(new DissectCtx(padded, new Map()), 14, padded.length)).toMatchObject({ end: 51 });
  });

  it('decodes a first fragment and returns data for a later one', () => {
    const mf = FRAME.slice(); mf[20] = 0x20; fixChecksum(mf, 14);
    expect(dissectIpv4(new DissectCtx(mf, new Map()), 14, mf.length)).toMatchObject({ kind: 'ipproto', proto: 17 });
    const later = FRAME.slice(); later[20] = 0x00; later[21] = 0x03; fixChecksum(later, 14);
    expect(dissectIpv4(new DissectCtx(later, new Map()), 14, later.length)).toEqual({ kind: 'data', off: 38, end: 51 });
  });

  it('accepts a quote cut short inside an ICMP error, and flags it elsewhere', () => {
    const cut = FRAME.slice(0, 14 + 24 + 8);
    const ctx = new DissectCtx(cut, new Map());
    ctx.quoted = true;
    expect(dissectIpv4(ctx, 14, cut.length)).toEqual({ kind: 'ipproto', proto: 17, off: 38, end: 46 });
    expect(ctx.ip?.quoted).toBe(true);
    expect(fields(ctx.layers[0]!)['ip.checksum.status']).toBe('1');
    // outside a quote the cut is recorded and dissection goes on inside the bytes present
    const plain = new DissectCtx(cut, new Map());
    expect(dissectIpv4(plain, 14, cut.length)).toEqual({ kind: 'ipproto', proto: 17, off: 38, end: 46 });
    const e = plain.truncated!;
    expect([e.code, e.field, e.offset]).toEqual(['WIRE_TRUNCATED', 'ip.len', cut.length]);
    expect(plain.layers[0]!.proto).toBe('ip'); // the fields decoded before the fault are kept
    expect(fields(plain.layers[0]!)['ip.src']).toBe('10.0.0.1');
  });

  it('keeps the fields before a malformed option', () => {
    // NOP, then an option whose length runs past the header
    const b = FRAME.slice(); b.set(hexBytes('01940900'), 34); fixChecksum(b, 14);
    const ctx = new DissectCtx(b, new Map());
    const e = catchWire(() => dissectIpv4(ctx, 14, b.length));
    expect([e.code, e.field, e.offset]).toEqual(['WIRE_BAD_OPTION', 'ip.opt.len', 35]);
    const f = fields(ctx.layers[0]!);
    expect([f['ip.ttl'], f['ip.opt.type'], f['ip.checksum.status']]).toEqual(['3', '1', '1']);
  });

  it('rejects an option too short for its own fields (a 3-byte Router Alert)', () => {
    const b = FRAME.slice(); b.set(hexBytes('94030001'), 34); fixChecksum(b, 14);
    const e = catchWire(() => run(b));
    expect([e.code, e.field, e.offset]).toEqual(['WIRE_BAD_OPTION', 'ip.opt.len', 34]);
  });

  it('reports a bad checksum with the value it should have', () => {
    const b = FRAME.slice(); b[24] = 0; b[25] = 0;
    const ctx = new DissectCtx(b, new Map());
    dissectIpv4(ctx, 14, b.length);
    expect(fields(ctx.layers[0]!)).toMatchObject({ 'ip.checksum': '0x0000', 'ip.checksum.status': '0', 'ip.checksum_calculated': '0xbbd4' });
  });

  it('uses the final destination of a source route for the pseudo-header', () => {
    // LSRR via 1.1.1.1 to 2.2.2.2, pointer at the last address
    const ip = hexBytes('48000020000100004011' + '0000' + '0a000001' + '0a000002' + '830b080101010102020202' + '00');
    fixChecksum(ip, 0);
    const ctx = new DissectCtx(ip, new Map());
    dissectIpv4(ctx, 0, ip.length);
    expect(ctx.ip?.dst).toBe(0x02020202);
    expect(fields(ctx.layers[0]!)).toMatchObject({ 'ip.dst': '2.2.2.2', 'ip.cur_rt': '10.0.0.2', 'ip.rec_rt': '1.1.1.1' });
  });

  it('property: parse(emit(x)) == x', () => {
    const u32 = fc.integer({ min: 0, max: 0xffffffff });
    // option lists of NOPs and Router Alerts, a multiple of 4 bytes long
    const opts = fc.array(fc.constantFrom('01010101', '94040000', '94040001'), { maxLength: 10 }).map((a) => hexBytes(a.join('')));
    const repr = fc.record({
      dscp: fc.integer({ min: 0, max: 63 }), ecn: fc.integer({ min: 0, max: 3 }), ident: fc.integer({ min: 0, max: 0xffff }),
      dontFrag: fc.boolean(), moreFrags: fc.boolean(), fragOffset: fc.integer({ min: 0, max: 0x1fff }).map((x) => x * 8),
      ttl: fc.integer({ min: 0, max: 255 }), protocol: fc.integer({ min: 0, max: 255 }), src: u32, dst: u32, options: opts,
      totalLength: fc.constant(-1), checksum: fc.constant(-1),
    });
    fc.assert(fc.property(repr, fc.uint8Array({ maxLength: 32 }), (r: Ipv4Repr, payload) => {
      const hl = Ipv4Repr.bufferLen(r);
      const buf = new Uint8Array(hl + payload.length);
      buf.set(payload, hl);
      const v = new Ipv4Packet().reset(buf, 0, buf.length);
      Ipv4Repr.emit(r, v, payload.length);
      expect(v.verifyChecksum()).toBe(true);
      const back = Ipv4Repr.parse(v);
      expect(back).toEqual({ ...r, totalLength: buf.length, checksum: v.checksum() });
    }));
  });

  it('property: arbitrary bytes raise only WireError (Repr and dissector, quoted or not)', () => {
    const ipish = fc.uint8Array({ maxLength: 80 }).map((b) => { if (b.length > 0) b[0] = 0x40 | (b[0]! & 15); return b; });
    fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 80 }), ipish), fc.boolean(), (b, quoted) => {
      try { Ipv4Repr.parse(new Ipv4Packet().reset(b, 0, b.length)); } catch (e) { expect(e).toBeInstanceOf(WireError); }
      const ctx = new DissectCtx(b, new Map());
      ctx.quoted = quoted;
      try { dissectIpv4(ctx, 0, b.length); } catch (e) { expect(e).toBeInstanceOf(WireError); }
    }), { numRuns: 500 });
  });
});

describeWith('scapy', 'ipv4 vs scapy', () => {
  it('emits the header scapy builds (options, MF, fragment offset)', () => {
    const want = scapyBytes("IP(src='192.168.1.1',dst='8.8.8.8',tos=0x2,ttl=255,id=7,flags='MF',frag=185,proto=6,options=[IPOption_NOP(),IPOption_RR(routers=['1.2.3.4','0.0.0.0'])])/(b'x'*12)");
    const r: Ipv4Repr = {
      dscp: 0, ecn: 2, ident: 7, dontFrag: false, moreFrags: true, fragOffset: 185 * 8, ttl: 255, protocol: 6,
      src: 0xc0a80101, dst: 0x08080808, options: hexBytes('01070b040102030400000000'), totalLength: -1, checksum: -1,
    };
    const buf = new Uint8Array(want.length).fill(0x78);
    Ipv4Repr.emit(r, new Ipv4Packet().reset(buf, 0, buf.length), 12);
    expect(hex(buf)).toBe(hex(want));
  });

  it('decTtl matches the checksum scapy computes for ttl-1', () => {
    const out = scapy("sys.stdout.write(bytes(IP(src='172.16.0.9',dst='10.1.2.3',ttl=64,id=99)).hex()+' '+bytes(IP(src='172.16.0.9',dst='10.1.2.3',ttl=63,id=99)).hex())").trim();
    const [a, b] = out.split(' ');
    const buf = hexBytes(a!);
    expect(new Ipv4Packet().reset(buf, 0, buf.length).decTtl()).toBe(63);
    expect(hex(buf)).toBe(b);
  });
});

describeWith('tshark', 'ipv4 dissector vs tshark', () => {
  it('prints every ip field as tshark does', () => {
    const opt = (o: string): Uint8Array => ethIp(o);
    const frames = [
      FRAME,
      ethIp(''),
      hexBytes(FRAME_HEX.slice(0, 48) + 'ff' + FRAME_HEX.slice(50)), // bad checksum (changed DS byte)
      ethIp('', { flags: '2000' }), ethIp('', { flags: '0006' }), ethIp('', { flags: '8000' }), // MF; later fragment; evil bit
      ethIp('', { tos: 'fe', ttl: 'ff', proto: '06' }),
      // options: RR + RA (what scapy makes); NOP LSRR NOP EOL; SSRR; RR with recorded entries; timestamps
      opt('070b040102030400000000' + '94040000' + '00'),
      opt('01830b080101010102020202' + '01000000'),
      opt('8907040101010100'),
      opt('070f0c09090909080808080000000000'),
      opt('440c0900' + '000004d2' + '00000000'),
      opt('440c0903' + '01020304' + '00000005'),
      opt('4408050300000000'),
      // LSRR: pointer past the end; pointer in the middle; 9-byte route; Stream ID, MTU probe/reply, traceroute, SDB, QS, security
      opt('8307080101010100'), opt('8307050101010100'), opt('830904010101010202000000'),
      opt('88040001'), opt('0b0405dc'), opt('0c040100'), opt('520c0001000200030a000009'),
      opt('950601020304' + '000000000000'), opt('9504000000000000'), opt('1908000000000000'), opt('82030000'),
      // unknown option type (no fields), four NOPs, RR with a pointer before the first address
      opt('9e040102'), opt('01010101'), opt('07030300'),
      // padding after a short datagram
      hexBytes(FRAME_HEX + '00'.repeat(9)),
    ];
    compareWithTshark(frames);
  });

  it('prints the ip fields of a datagram quoted in an ICMP error as tshark does', () => {
    // /usr/bin/python3 -c "from scapy.all import *; inner=bytes(IP(src='10.0.0.2',dst='10.0.0.9',ttl=1)/UDP(sport=3,dport=4)/(b'z'*100))[:28]; print(bytes(Ether(dst='02:00:00:00:00:02',src='02:00:00:00:00:01')/IP(src='10.0.0.1',dst='10.0.0.2')/ICMP(type=11,code=0)/inner).hex())"
    const frame = hexBytes('02000000000202000000000108004500003800010000400166c20a0000010a0000020b00f573000000004500' +
      '0080000100000111a5620a0000020a00000900030004006cff18');
    const withBadInner = frame.slice(); withBadInner[52] = 0; withBadInner[53] = 0;
    compareWithTshark([frame, withBadInner]);
  });
});

/** Build an Ethernet + IPv4 (10.0.0.1 → 10.0.0.2) + 8-byte UDP frame with option bytes 'opts' (hex, a multiple of 4 bytes). */
function ethIp(opts: string, o: { flags?: string; tos?: string; ttl?: string; proto?: string } = {}): Uint8Array {
  const ol = opts.length / 2;
  const hl = 20 + ol;
  const udp = '000100020008' + '0000';
  const tl = hl + 8;
  const ip = hexBytes((0x40 | (hl >> 2)).toString(16) + (o.tos ?? '00') + tl.toString(16).padStart(4, '0') + '0001' +
    (o.flags ?? '0000') + (o.ttl ?? '40') + (o.proto ?? '11') + '0000' + '0a000001' + '0a000002' + opts + udp);
  fixChecksum(ip, 0);
  const f = new Uint8Array(14 + ip.length);
  f.set(hexBytes('0200000000020200000000010800'));
  f.set(ip, 14);
  return f;
}

function fixChecksum(b: Uint8Array, off: number): void {
  const hl = (b[off]! & 15) * 4;
  b[off + 10] = 0; b[off + 11] = 0;
  const c = fold(sum16(b, off, off + hl));
  b[off + 10] = c >>> 8; b[off + 11] = c & 0xff;
}

/** Ethernet → IPv4, and the IPv4 datagram an ICMP error quotes (with ctx.quoted), as the driver chains them. */
function runCtx(frame: Uint8Array): DissectCtx {
  const ctx = new DissectCtx(frame, new Map());
  const n = dissectEthernet(ctx, 0, frame.length);
  if (n.kind !== 'ethertype' || n.type !== 0x0800) return ctx;
  const m: Next = dissectIpv4(ctx, n.off, n.end);
  if (m.kind === 'ipproto' && m.proto === 1 && m.end - m.off > 8 && [3, 4, 5, 11, 12].includes(frame[m.off]!)) {
    ctx.quoted = true;
    dissectIpv4(ctx, m.off + 8, m.end);
  }
  return ctx;
}

function run(frame: Uint8Array): DissectLayer[] {
  return runCtx(frame).layers;
}

/** `run`, throwing the truncation the dissectors recorded (as the driver reports it). */
function runStrict(frame: Uint8Array): DissectLayer[] {
  const ctx = runCtx(frame);
  if (ctx.truncated) throw ctx.truncated;
  return ctx.layers;
}

/** Check every ip.* field our dissector emits against tshark (and that tshark prints no field of that set we left out). */
function compareWithTshark(frames: Uint8Array[]): void {
  const ours = frames.map((f) => joined(run(f).filter((l) => l.proto === 'ip')));
  const names = [...new Set(ours.flatMap((m) => [...m.keys()]))];
  const { path, cleanup } = writeTempPcap(frames);
  try {
    const theirs = tsharkFields(path, names);
    expect(theirs.length).toBe(frames.length);
    ours.forEach((m, i) => {
      expect(m.size).toBeGreaterThan(0);
      for (const k of names) {
        expect({ frame: i + 1, field: k, value: theirs[i]![k] }).toEqual({ frame: i + 1, field: k, value: m.get(k) ?? '' });
      }
    });
  } finally {
    cleanup();
  }
}

