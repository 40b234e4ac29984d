import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  IPPROTO_AH, IPPROTO_DSTOPTS, IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_NONE, IPPROTO_ROUTING, IPV6_HEADER_LEN,
  Ipv6Packet, Ipv6Repr,
} from '../../src/wire/ipv6.js';
import { DissectCtx, type DissectLayer } from '../../src/wire/dissect.js';
import { dissectEthernet } from '../../src/wire/dissect/ethernet.js';
import { dissectAh, dissectIpv6 } from '../../src/wire/dissect/ipv6.js';
import { dissectUdp } from '../../src/wire/dissect/udp.js';
import { WireError } from '../../src/errors.js';
import { describeWith, scapyBytes, tsharkFields, writeTempPcap } from '../oracle/tools.js';
import { catchWire, fieldOf, fields, hex, hexBytes, joined } from '../oracle/wire.js';

// /usr/bin/python3 -c "from scapy.all import *; print(bytes(Ether(dst='02:00:00:00:00:02',src='02:00:00:00:00:01')/IPv6(src='2001:db8::1',dst='2001:db8::2',tc=0xb8,fl=0x12345,hlim=7)/IPv6ExtHdrHopByHop(options=[RouterAlert()])/IPv6ExtHdrFragment(id=0x1234,m=1,offset=0)/UDP(sport=1234,dport=53)/b'hello').hex())"
const ETH = '02000000000202000000000186dd';
const IP_HEX = '6b812345001d000720010db800000000000000000000000120010db8000000000000000000000002' +
  '2c00050200000100' + '1100000100001234' + '04d20035000d5b8668656c6c6f';
const FRAME = hexBytes(ETH + IP_HEX);
const IP = hexBytes(IP_HEX);
const SRC = '20010db8000000000000000000000001', DST = '20010db8000000000000000000000002';
/** AH (RFC 4302) before UDP: next header 17, payload length 4 (24 bytes), SPI 0x100, sequence 5, a 12-byte ICV. */
const AH_UDP = '1104' + '0000' + '00000100' + '00000005' + '01'.repeat(12);
// /usr/bin/python3 -c "from scapy.all import *; print(bytes(Ether(dst='02:00:00:00:00:02',src='02:00:00:00:00:01')/IPv6(src='2001:db8::1',dst='2001:db8::2')/IPv6ExtHdrRouting(addresses=['2001:db8::3','2001:db8::4'],segleft=2)/UDP(sport=1,dport=2)/b'hi').hex())"
const RH0 = hexBytes(ETH + '6000000000322b40' + SRC + DST + '1104000200000000' + '20010db8000000000000000000000003' +
  '20010db8000000000000000000000004' + '00010002000a3bf76869');
// same with IPv6ExtHdrSegmentRouting(addresses=['2001:db8::9','2001:db8::8'],segleft=1)
const SRH = hexBytes(ETH + '6000000000322b40' + SRC + DST + '1104040101000000' + '20010db8000000000000000000000009' +
  '20010db8000000000000000000000008' + '00010002000a3bf26869');

describe('ipv6', () => {
  it('deconstructs every field and walks the extension headers', () => {
    const p = Ipv6Packet.checked(IP);
    expect([p.version(), p.trafficClass(), p.dscp(), p.ecn(), p.flowLabel()]).toEqual([6, 0xb8, 46, 0, 0x12345]);
    expect([p.payloadLength(), p.nextHeader(), p.hopLimit()]).toEqual([29, IPPROTO_HOPOPTS, 7]);
    expect([p.srcOffset(), p.dstOffset(), p.payloadOffset(), p.payloadEnd()]).toEqual([8, 24, 40, 69]);
    expect([0, 1, 2, 3].map((i) => p.srcWord(i))).toEqual([0x20010db8, 0, 0, 1]);
    expect([0, 1, 2, 3].map((i) => p.dstWord(i))).toEqual([0x20010db8, 0, 0, 2]);
    expect([p.upperProto, p.upperOff, p.fragOff, p.routingOff]).toEqual([17, 56, 48, -1]);
    expect([p.fragOffset(), p.fragOffsetBytes(), p.fragMore(), p.fragIdent(), p.isLaterFragment()]).toEqual([0, 0, true, 0x1234, false]);
    expect(p.finalDstOffset()).toBe(24);
  });

  it('constructs into a 0xa5-filled buffer', () => {
    const buf = new Uint8Array(IP.length).fill(0xa5);
    buf.set(IP.subarray(40), 40);
    const p = new Ipv6Packet().reset(buf, 0, buf.length);
    p.setTrafficClass(0xb8); p.setFlowLabel(0x12345); p.setPayloadLength(29); p.setNextHeader(0); p.setHopLimit(7);
    p.setSrc(hexBytes(SRC), 0);
    for (let i = 0; i < 4; i++) p.setDstWord(i, [0x20010db8, 0, 0, 2][i]!);
    expect(hex(buf)).toBe(IP_HEX);
    p.setSrcWord(3, 0xffffffff);
    expect(p.srcWord(3)).toBe(0xffffffff);
    expect(p.decHopLimit()).toBe(6);
  });

  it('parses and emits, extension headers kept raw', () => {
    const r = Ipv6Repr.parse(new Ipv6Packet().reset(IP, 0, IP.length));
    expect(r).toEqual({
      trafficClass: 0xb8, flowLabel: 0x12345, payloadLength: 29, nextHeader: 0, hopLimit: 7,
      src: hexBytes(SRC), dst: hexBytes(DST), extHeaders: hexBytes('2c00050200000100' + '1100000100001234'),
    });
    expect(Ipv6Repr.bufferLen(r)).toBe(56);
    const buf = new Uint8Array(IP.length).fill(0xa5);
    buf.set(IP.subarray(56), 56);
    Ipv6Repr.emit({ ...r, payloadLength: -1 }, new Ipv6Packet().reset(buf, 0, buf.length), 13);
    expect(hex(buf)).toBe(IP_HEX);
  });

  it('emit rejects an address that is not 16 bytes', () => {
    const r = Ipv6Repr.parse(new Ipv6Packet().reset(IP, 0, IP.length));
    const p = new Ipv6Packet().reset(new Uint8Array(80), 0, 80);
    expect(fieldOf(() => Ipv6Repr.emit({ ...r, dst: new Uint8Array(4) }, p, 0))).toEqual(['WIRE_BAD_VALUE', 'ipv6.dst', 24]);
  });

  it('finds the final destination behind a routing header', () => {
    const p = Ipv6Packet.checked(RH0, 14);
    expect([p.routingOff, p.upperProto, p.upperOff]).toEqual([54, 17, 94]);
    expect(hex(RH0.subarray(p.finalDstOffset(), p.finalDstOffset() + 16))).toBe('20010db8000000000000000000000004');
    const s = Ipv6Packet.checked(SRH, 14);
    expect(hex(SRH.subarray(s.finalDstOffset(), s.finalDstOffset() + 16))).toBe('20010db8000000000000000000000009');
    const done = RH0.slice(); done[57] = 0; // segments left 0: the header's destination is final
    expect(Ipv6Packet.checked(done, 14).finalDstOffset()).toBe(14 + 24);
  });

  it('walks AH (4-byte units + 2) and destination options', () => {
    // dstopts (8 bytes) → AH (24 bytes) → UDP
    const ext = '3300010400000000' + AH_UDP;
    const b = hexBytes('6000000000' + '28' + '3c40' + SRC + DST + ext + '0001000200080000');
    const p = Ipv6Packet.checked(b);
    expect([p.upperProto, p.upperOff]).toEqual([17, 40 + 8 + 24]);
    const ctx = new DissectCtx(b, new Map());
    expect(dissectIpv6(ctx, 0, b.length)).toEqual({ kind: 'ipproto', proto: 17, off: 72, end: 80 });
    expect(ctx.layers.map((l) => l.proto)).toEqual(['ipv6', 'ipv6.dstopts', 'ah']);
    expect(fields(ctx.layers[2]!)).toMatchObject({ 'ah.spi': '0x00000100', 'ah.sequence': '5', 'ah.icv': '010101010101010101010101' });
    expect([b[6], b[40]]).toEqual([IPPROTO_DSTOPTS, IPPROTO_AH]);
  });

  it('stops at No Next Header and at a later fragment', () => {
    const none = hexBytes('6000000000023b40' + SRC + DST + '7878');
    const p = Ipv6Packet.checked(none);
    expect([p.upperProto, p.upperOff]).toEqual([IPPROTO_NONE, 40]);
    expect(dissectIpv6(new DissectCtx(none, new Map()), 0, none.length)).toEqual({ kind: 'data', off: 40, end: 42 });
    const later = hexBytes('60000000000c2c40' + SRC + DST + '3c00003000001234' + '79797979');
    const q = Ipv6Packet.checked(later);
    expect([q.upperProto, q.upperOff, q.fragOff, q.isLaterFragment(), q.fragOffsetBytes()]).toEqual([IPPROTO_DSTOPTS, 48, 40, true, 48]);
    expect(dissectIpv6(new DissectCtx(later, new Map()), 0, later.length)).toEqual({ kind: 'data', off: 48, end: 52 });
  });

  it('rejects a bad version at its offset', () => {
    const b = IP.slice(); b[0] = 0x4b;
    expect(fieldOf(() => Ipv6Packet.checked(b))).toEqual(['WIRE_BAD_VERSION', 'ipv6.version', 0]);
  });

  it('rejects a fixed header cut short', () => {
    expect(fieldOf(() => Ipv6Packet.checked(IP, 0, 39))).toEqual(['WIRE_TRUNCATED', 'ipv6', 39]);
    expect(fieldOf(() => Ipv6Packet.checked(IP, 0, 0))).toEqual(['WIRE_TRUNCATED', 'ipv6', 0]);
  });

  it('rejects a payload length past the end', () => {
    const b = IP.slice(); b[5] = 30;
    expect(fieldOf(() => Ipv6Packet.checked(b))).toEqual(['WIRE_TRUNCATED', 'ipv6.plen', b.length]);
  });

  it('rejects extension headers running past the payload, at their offset', () => {
    const long = IP.slice(); long[41] = 9; // hop-by-hop says 80 bytes
    expect(fieldOf(() => Ipv6Packet.checked(long))).toEqual(['WIRE_BAD_OPTION', 'ipv6.hopopts.len', 40]);
    const plen = IP.slice(); plen[5] = 12; // the fragment header no longer fits in the payload
    expect(fieldOf(() => Ipv6Packet.checked(plen, 0, 52))).toEqual(['WIRE_BAD_OPTION', 'ipv6.fraghdr', 48]);
    const ah = hexBytes('6000000000083340' + SRC + DST + '1104000000000100');
    expect(fieldOf(() => Ipv6Packet.checked(ah))).toEqual(['WIRE_BAD_OPTION', 'ah.length', 40]);
    const rt = hexBytes('6000000000082b40' + SRC + DST + '1102000100000000');
    expect(fieldOf(() => Ipv6Packet.checked(rt))).toEqual(['WIRE_BAD_OPTION', 'ipv6.routing.len', 40]);
  });

  it('checkHeader() accepts a quote cut short but not a cut extension header', () => {
    expect(new Ipv6Packet().reset(IP, 0, 60).checkHeader()).toBe(0);
    const p = new Ipv6Packet().reset(IP, 0, 52);
    expect(p.checkHeader()).toBe(1);
    expect([p.errField, p.errAt]).toEqual(['ipv6.fraghdr', 52]); // truncated where the bytes end
  });

  it('truncating the frame at every offset gives a WireError with code and offset', () => {
    for (let k = 14; k < FRAME.length; k++) {
      const cut = FRAME.slice(0, k);
      const want = ['WIRE_TRUNCATED', k];
      const e = catchWire(() => Ipv6Repr.parse(new Ipv6Packet().reset(cut, 14, k)));
      expect([e.code, e.offset]).toEqual(want);
      const d = catchWire(() => runStrict(cut));
      expect([d.code, d.offset]).toEqual(want);
      // inside an ICMPv6 error the same cut is accepted: once the extension headers are whole the
      // upper layer follows; a cut extension header shows what tshark shows of it and ends the quote
      const ctx = new DissectCtx(cut, new Map());
      ctx.quoted = true;
      if (k >= 14 + 56) expect(dissectIpv6(ctx, 14, k)).toMatchObject({ kind: 'ipproto', proto: 17, off: 70, end: k });
      else if (k >= 14 + 40) {
        expect(dissectIpv6(ctx, 14, k)).toEqual({ kind: 'end' });
        expect(ctx.layers.map((l) => l.proto)).toEqual(k >= 14 + 42 ? ['ipv6', 'ipv6.hopopts'] : ['ipv6']);
      }
    }
  });

  it('dissects one layer per extension header and says what follows', () => {
    const ctx = new DissectCtx(FRAME, new Map());
    expect(dissectIpv6(ctx, 14, FRAME.length)).toEqual({ kind: 'ipproto', proto: 17, off: 70, end: 83 });
    expect(ctx.layers.map((l) => [l.proto, l.offset, l.length])).toEqual([['ipv6', 14, 40], ['ipv6.hopopts', 54, 8], ['ipv6.fraghdr', 62, 8]]);
    expect(ctx.ip).toEqual({ version: 6, src: 0, dst: 0, srcOff: 22, dstOff: 38, quoted: false, fragmented: true }) // M=1: a first fragment;
    expect(fields(ctx.layers[0]!)).toMatchObject({ 'ipv6.tclass': '0x000000b8', 'ipv6.flow': '0x012345', 'ipv6.addr': '2001:db8::1,2001:db8::2' });
    expect(fields(ctx.layers[1]!)).toMatchObject({ 'ipv6.opt.type': '0x05,0x01', 'ipv6.opt.router_alert': '0' });
    expect(fields(ctx.layers[2]!)).toMatchObject({ 'ipv6.fraghdr.more': '1', 'ipv6.fraghdr.ident': '0x00001234' });
  });

  it('rejects an option running past its header, keeping the layers before', () => {
    const b = FRAME.slice(); b[61] = 9; // the PadN claims 9 bytes
    const ctx = new DissectCtx(b, new Map());
    expect(fieldOf(() => dissectIpv6(ctx, 14, b.length))).toEqual(['WIRE_BAD_OPTION', 'ipv6.opt.length', 60]);
    expect(ctx.layers.map((l) => l.proto)).toEqual(['ipv6', 'ipv6.hopopts']);
  });

  it('dissectAh decodes AH over IPv4 and rejects a bad length', () => {
    const ah = hexBytes('06' + AH_UDP.slice(2) + 'ffff');
    const ctx = new DissectCtx(ah, new Map());
    expect(dissectAh(ctx, 0, ah.length)).toEqual({ kind: 'ipproto', proto: 6, off: 24, end: 26 });
    expect(fieldOf(() => dissectAh(new DissectCtx(ah, new Map()), 0, 20))).toEqual(['WIRE_BAD_OPTION', 'ah.length', 1]);
    expect(fieldOf(() => dissectAh(new DissectCtx(ah, new Map()), 0, 1))).toEqual(['WIRE_TRUNCATED', 'ah', 1]);
  });

  it('property: parse(emit(x)) == x, and emit(parse(x)) reproduces x', () => {
    const ext = fc.record({
      type: fc.constantFrom(IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_DSTOPTS, IPPROTO_FRAGMENT, IPPROTO_AH),
      units: fc.integer({ min: 0, max: 3 }), fill: fc.integer({ min: 0, max: 255 }),
    });
    fc.assert(fc.property(fc.array(ext, { maxLength: 4 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xfffff }),
      fc.integer({ min: 0, max: 255 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ maxLength: 24 }),
      (exts, tc, fl, hlim, addr, payload) => {
        // chain the headers; the last one points at UDP (17)
        const parts: number[][] = exts.map((x, i) => {
          const len = x.type === IPPROTO_FRAGMENT ? 8 : x.type === IPPROTO_AH ? (x.units + 1 + 2) * 4 : (x.units + 1) * 8;
          const h = new Array<number>(len).fill(x.fill);
          h[0] = i + 1 < exts.length ? exts[i + 1]!.type : 17;
          if (x.type === IPPROTO_FRAGMENT) { h[2] = 0; h[3] = x.fill & 1; } // offset 0: a first fragment
          else h[1] = x.type === IPPROTO_AH ? x.units + 1 : x.units;
          return h;
        });
        const r: Ipv6Repr = {
          trafficClass: tc, flowLabel: fl, payloadLength: -1, nextHeader: exts.length ? exts[0]!.type : 17, hopLimit: hlim,
          src: addr, dst: addr.map((x) => x ^ 0xff), extHeaders: Uint8Array.from(parts.flat()),
        };
        const buf = new Uint8Array(Ipv6Repr.bufferLen(r) + payload.length);
        buf.set(payload, Ipv6Repr.bufferLen(r));
        const v = new Ipv6Packet().reset(buf, 0, buf.length);
        Ipv6Repr.emit(r, v, payload.length);
        const back = Ipv6Repr.parse(v);
        expect(back).toEqual({ ...r, payloadLength: buf.length - 40 });
        expect([v.upperProto, v.upperOff]).toEqual([17, 40 + r.extHeaders.length]);
        const again = new Uint8Array(buf.length);
        again.set(payload, Ipv6Repr.bufferLen(r));
        Ipv6Repr.emit(back, new Ipv6Packet().reset(again, 0, again.length), payload.length);
        expect(hex(again)).toBe(hex(buf));
      }));
  });

  it('property: arbitrary bytes raise only WireError (Repr and dissector, quoted or not)', () => {
    const v6ish = fc.uint8Array({ minLength: 40, maxLength: 120 }).map((b) => {
      b[0] = 0x60 | (b[0]! & 15); b[4] = 0; b[5] = Math.min(b[5]!, b.length - 40);
      b[6] = [0, 43, 44, 51, 60, 59, 17][b[6]! % 7]!;
      return b;
    });
    fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 80 }), v6ish), fc.boolean(), (b, quoted) => {
      try { Ipv6Repr.parse(new Ipv6Packet().reset(b, 0, b.length)); } catch (e) { expect(e).toBeInstanceOf(WireError); }
      const ctx = new DissectCtx(b, new Map());
      ctx.quoted = quoted;
      try { dissectIpv6(ctx, 0, b.length); } catch (e) { expect(e).toBeInstanceOf(WireError); }
    }), { numRuns: 500 });
  });
});

describeWith('scapy', 'ipv6 vs scapy', () => {
  it('emits the header scapy builds, extension headers included', () => {
    const want = scapyBytes("IPv6(src='fe80::1',dst='ff02::1:ff00:2',tc=3,fl=0xfffff,hlim=255)/IPv6ExtHdrDestOpt(options=[PadN(optdata=b'\\x00'*4)])/IPv6ExtHdrFragment(id=0xdeadbeef,m=0,offset=0,nh=58)");
    const r: Ipv6Repr = {
      trafficClass: 3, flowLabel: 0xfffff, payloadLength: -1, nextHeader: IPPROTO_DSTOPTS, hopLimit: 255,
      src: hexBytes('fe800000000000000000000000000001'), dst: hexBytes('ff0200000000000000000001ff000002'),
      extHeaders: want.slice(40),
    };
    const buf = new Uint8Array(want.length);
    Ipv6Repr.emit(r, new Ipv6Packet().reset(buf, 0, buf.length), 0);
    expect(hex(buf)).toBe(hex(want));
    const p = Ipv6Packet.checked(buf);
    expect([p.upperProto, p.fragOff, p.fragIdent()]).toEqual([58, 48, 0xdeadbeef]);
  });
});

describeWith('tshark', 'ipv6 dissector vs tshark', () => {
  it('prints every ipv6 and extension header field as tshark does, and the UDP checksum over the final destination', () => {
    const v6 = (nh: string, ext: string, up: string): Uint8Array => {
      const plen = (ext.length + up.length) / 2;
      return hexBytes(ETH + '6000000000' + plen.toString(16).padStart(2, '0') + nh + '40' + SRC + DST + ext + up);
    };
    const udp = '0001000200080000';
    const frames = [
      FRAME,
      hexBytes(ETH + '6fffffff00083a01' + 'fe800000000000000000000000000001' + 'ff020000000000000000000000000001' + '8000000000000000'),
      // hop-by-hop: RA + Pad1 Pad1; Jumbo; destination options: experimental 0x3e + PadN; unknown type 9 + Pad1s;
      // Tunnel Encapsulation Limit
      v6('00', '1100050200000000', udp), v6('00', '1100c20400011170', udp),
      v6('3c', '11013e03616263010100010400000000', udp), v6('3c', '1100090100000000', udp), v6('3c', '1100040105010100', udp),
      RH0, SRH,
      // routing type 2 (mobile IPv6), a later fragment, No Next Header with data, AH, ESP, two hop-by-hop headers
      v6('2b', '1102020100000000' + '20010db8000000000000000000000005', udp),
      v6('2c', '1100003000001234', '79797979'), v6('3b', '', '7878'),
      v6('33', AH_UDP, udp), v6('32', '', '0000010000000001aaaa'),
      v6('00', '0000010400000000' + '1100010400000000', udp),
      // AH without an ICV; an empty experimental option and an empty PadN; an empty unknown option
      v6('33', '1101000000000100' + '00000005', udp), v6('3c', '11001e0001020000', udp), v6('3c', '1100090001020000', udp),
    ];
    const ours = frames.map((f) => {
      const ctx = new DissectCtx(f, new Map());
      const n = dissectEthernet(ctx, 0, f.length);
      if (n.kind === 'ethertype' && n.type === 0x86dd) {
        const m = dissectIpv6(ctx, n.off, n.end);
        if (m.kind === 'ipproto' && m.proto === 17) dissectUdp(ctx, m.off, m.end);
      }
      const keep = ctx.layers.filter((l) => l.proto !== 'eth');
      const j = joined(keep.filter((l) => l.proto !== 'udp'));
      // Only where the checksum is real (the filler UDP headers carry 0) and not in a fragment (tshark does not
      // verify a fragment's checksum, and sdnemu's udp dissector is not told about fragments).
      const u = joined(keep.filter((l) => l.proto === 'udp'));
      if (u.get('udp.checksum') !== undefined && u.get('udp.checksum') !== '0x0000' && !j.has('ipv6.fraghdr.nxt')) {
        j.set('udp.checksum.status', u.get('udp.checksum.status')!);
      }
      return j;
    });
    const names = [...new Set(ours.flatMap((m) => [...m.keys()]))];
    const { path, cleanup } = writeTempPcap(frames);
    try {
      const theirs = tsharkFields(path, names);
      expect(theirs.length).toBe(frames.length);
      ours.forEach((m, i) => {
        for (const k of names) {
          if (k === 'udp.checksum.status' && !m.has(k)) continue;
          expect({ frame: i + 1, field: k, value: theirs[i]![k] }).toEqual({ frame: i + 1, field: k, value: m.get(k) ?? '' });
        }
      });
      // the UDP checksums behind RH0 and SRH are good only over the final destination
      expect([ours[7]!.get('udp.checksum.status'), ours[8]!.get('udp.checksum.status')]).toEqual(['1', '1']);
    } finally {
      cleanup();
    }
  });
});

function run(frame: Uint8Array): DissectLayer[] {
  const ctx = new DissectCtx(frame, new Map());
  const n = dissectEthernet(ctx, 0, frame.length);
  if (n.kind === 'ethertype' && n.type === 0x86dd) dissectIpv6(ctx, n.off, n.end);
  return ctx.layers;
}

/** `run`, throwing the truncation the dissector recorded (as the driver reports it). */
function runStrict(frame: Uint8Array): DissectLayer[] {
  const ctx = new DissectCtx(frame, new Map());
  const n = dissectEthernet(ctx, 0, frame.length);
  if (n.kind === 'ethertype' && n.type === 0x86dd) dissectIpv6(ctx, n.off, n.end);
  if (ctx.truncated) throw ctx.truncated;
  return ctx.layers;
}

