import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ICMPV6_ECHO_REQUEST, ICMPV6_NEIGHBOR_ADVERT, ICMPV6_NEIGHBOR_SOLICIT, ICMPV6_PACKET_TOO_BIG, ICMPV6_ROUTER_ADVERT,
  ND_OPT_MTU, ND_OPT_PI_FLAG_AUTO, ND_OPT_PI_FLAG_ONLINK, ND_OPT_PREFIX_INFO, ND_OPT_SOURCE_LINKADDR, ND_OPT_TARGET_LINKADDR,
  ND_RA_FLAG_MANAGED, Icmpv6Packet, Icmpv6Repr, icmpv6IsError, icmpv6ReprType, ndFixedLen, type NdpOption,
} from '../../src/wire/icmpv6.js';
import { dissectIcmpv6 } from '../../src/wire/dissect/icmpv6.js';
import { DissectCtx, type DissectLayer } from '../../src/wire/dissect.js';
import { ipv6PseudoSumOf } from '../../src/wire/checksum.js';
import { parseIpv6, parseMac } from '../../src/wire/bytes.js';
import { WireError } from '../../src/errors.js';
import { describeWith, scapy, scapyBytes, tsharkFields, writeTempPcap } from '../oracle/tools.js';
import { catchWire, fieldsOf, hexBytes, toHex } from '../oracle/wire.js';

// Each vector: /usr/bin/python3 -c "from scapy.all import *; print(bytes(<expr>)[40:].hex())"
// IPv6(src='2001:db8::1',dst='2001:db8::2')/ICMPv6EchoRequest(id=0x1234,seq=7,data=b'hello')
const ECHO_HEX = '8000ce351234000768656c6c6f';
// IPv6(src='fe80::1',dst='ff02::1:ff00:2',hlim=255)/ICMPv6ND_NS(tgt='fe80::2')/ICMPv6NDOptSrcLLAddr(lladdr='02:00:00:00:00:01')
const NS_HEX = '87007a9700000000fe8000000000000000000000000000020101020000000001';
// IPv6(src='fe80::2',dst='fe80::1',hlim=255)/ICMPv6ND_NA(tgt='fe80::2',R=0,S=1,O=1)/ICMPv6NDOptDstLLAddr(lladdr='02:00:00:00:00:02')
const NA_HEX = '8800181a60000000fe8000000000000000000000000000020201020000000002';
// IPv6(src='fe80::2',dst='ff02::1',hlim=255)/ICMPv6ND_RA(chlim=64,M=1,O=0,prf=0,routerlifetime=1800,reachabletime=30000,
//   retranstimer=1000)/ICMPv6NDOptSrcLLAddr(lladdr='02:00:00:00:00:02')/ICMPv6NDOptMTU(mtu=1500)/ICMPv6NDOptPrefixInfo(
//   prefixlen=64,L=1,A=1,validlifetime=86400,preferredlifetime=14400,prefix='2001:db8::')
const RA_HEX = '8600b23e4080070800007530000003e8010102000000000205010000000005dc030440c000015180000038400000000020010db8000000000000000000000000';
// IPv6(src='2001:db8::fe',dst='2001:db8::1')/ICMPv6PacketTooBig(mtu=1280)/IPv6(src='2001:db8::1',dst='2001:db8::9')/UDP(sport=1234,dport=53)/b'abcd'
const PTB_HEX = '02002ae90000050060000000000c114020010db800000000000000000000000120010db800000000000000000000000904d20035000cda8c61626364';

const ECHO = hexBytes(ECHO_HEX), NS = hexBytes(NS_HEX), NA = hexBytes(NA_HEX), RA = hexBytes(RA_HEX), PTB = hexBytes(PTB_HEX);
const ip6 = (s: string): Uint8Array => parseIpv6(s)!;
const pseudo = (src: string, dst: string) => (len: number): number => ipv6PseudoSumOf(ip6(src), ip6(dst), 58, len);
const PS_ECHO = pseudo('2001:db8::1', '2001:db8::2');
const PS_NS = pseudo('fe80::1', 'ff02::1:ff00:2');
const PS_NA = pseudo('fe80::2', 'fe80::1');
const PS_RA = pseudo('fe80::2', 'ff02::1');
const PS_PTB = pseudo('2001:db8::fe', '2001:db8::1');
const MAC1 = parseMac('02:00:00:00:00:01')!, MAC2 = parseMac('02:00:00:00:00:02')!;

const RA_REPR: Icmpv6Repr = {
  kind: 'routerAdvert', code: 0, checksum: 0xb23e, curHopLimit: 64, flags: ND_RA_FLAG_MANAGED, routerLifetime: 1800,
  reachableTime: 30000, retransTimer: 1000,
  options: [
    { kind: 'sourceLinkAddr', addr: MAC2 },
    { kind: 'mtu', reserved: 0, mtu: 1500 },
    {
      kind: 'prefixInfo', prefixLen: 64, flags: ND_OPT_PI_FLAG_ONLINK | ND_OPT_PI_FLAG_AUTO, validLifetime: 86400,
      preferredLifetime: 14400, reserved: 0, prefix: ip6('2001:db8::'),
    },
  ],
};

describe('icmpv6', () => {
  it('deconstructs an echo request', () => {
    const p = Icmpv6Packet.checked(ECHO);
    expect([p.type(), p.code(), p.checksum(), p.ident(), p.seq()]).toEqual([ICMPV6_ECHO_REQUEST, 0, 0xce35, 0x1234, 7]);
    expect([p.payloadOffset(), p.optionsOffset()]).toEqual([8, -1]);
    expect(p.verifyChecksum(PS_ECHO(ECHO.length))).toBe(true);
  });

  it('deconstructs a neighbor solicitation', () => {
    const p = Icmpv6Packet.checked(NS);
    expect([p.type(), p.restOfHeader(), p.targetOffset(), p.optionsOffset()]).toEqual([ICMPV6_NEIGHBOR_SOLICIT, 0, 8, 24]);
    expect(NS.subarray(8, 24)).toEqual(ip6('fe80::2'));
    const o = p.findOption(ND_OPT_SOURCE_LINKADDR);
    expect(o).toBe(24);
    expect(NS.subarray(o + 2, o + 8)).toEqual(MAC1);
    expect(p.findOption(ND_OPT_TARGET_LINKADDR)).toBe(-1);
    expect(p.verifyChecksum(PS_NS(NS.length))).toBe(true);
  });

  it('deconstructs a neighbor advertisement', () => {
    const p = Icmpv6Packet.checked(NA);
    expect([p.type(), p.router(), p.solicited(), p.override()]).toEqual([ICMPV6_NEIGHBOR_ADVERT, false, true, true]);
    expect(p.findOption(ND_OPT_TARGET_LINKADDR)).toBe(24);
    expect(p.verifyChecksum(PS_NA(NA.length))).toBe(true);
  });

  it('deconstructs a router advertisement', () => {
    const p = Icmpv6Packet.checked(RA);
    expect([p.type(), p.curHopLimit(), p.raFlags(), p.routerLifetime(), p.reachableTime(), p.retransTimer()])
      .toEqual([ICMPV6_ROUTER_ADVERT, 64, 0x80, 1800, 30000, 1000]);
    expect([p.optionsOffset(), p.findOption(ND_OPT_MTU), p.findOption(ND_OPT_PREFIX_INFO)]).toEqual([16, 24, 32]);
    expect(p.verifyChecksum(PS_RA(RA.length))).toBe(true);
  });

  it('deconstructs a packet too big', () => {
    const p = Icmpv6Packet.checked(PTB);
    expect([p.type(), p.mtu(), p.quotedOffset()]).toEqual([ICMPV6_PACKET_TOO_BIG, 1280, 8]);
    expect(PTB[8]! >>> 4).toBe(6);
    expect(icmpv6IsError(p.type())).toBe(true);
    expect(p.verifyChecksum(PS_PTB(PTB.length))).toBe(true);
  });

  it('constructs into a 0xa5-filled buffer', () => {
    const buf = new Uint8Array(ECHO.length).fill(0xa5);
    buf.set(ECHO.subarray(8), 8);
    const p = new Icmpv6Packet().reset(buf, 0, buf.length);
    p.setType(ICMPV6_ECHO_REQUEST); p.setCode(0); p.setIdent(0x1234); p.setSeq(7); p.setChecksum(0);
    p.fillChecksum(PS_ECHO(buf.length));
    expect(toHex(buf)).toBe(ECHO_HEX);
    const q = new Uint8Array(PTB.length).fill(0xa5);
    q.set(PTB.subarray(8), 8);
    const v = new Icmpv6Packet().reset(q, 0, q.length);
    v.setType(ICMPV6_PACKET_TOO_BIG); v.setCode(0); v.setMtu(1280); v.setChecksum(0);
    v.fillChecksum(PS_PTB(q.length));
    expect(toHex(q)).toBe(PTB_HEX);
  });

  it('parses and emits every golden message', () => {
    const cases: [Uint8Array, (n: number) => number, Icmpv6Repr, number][] = [
      [ECHO, PS_ECHO, { kind: 'echoRequest', code: 0, checksum: 0xce35, ident: 0x1234, seq: 7 }, 5],
      [NS, PS_NS, { kind: 'neighborSolicit', code: 0, checksum: 0x7a97, reserved: 0, target: ip6('fe80::2'), options: [{ kind: 'sourceLinkAddr', addr: MAC1 }] }, 0],
      [NA, PS_NA, {
        kind: 'neighborAdvert', code: 0, checksum: 0x181a, router: false, solicited: true, override: true, reserved: 0,
        target: ip6('fe80::2'), options: [{ kind: 'targetLinkAddr', addr: MAC2 }],
      }, 0],
      [RA, PS_RA, RA_REPR, 0],
      [PTB, PS_PTB, { kind: 'packetTooBig', code: 0, checksum: 0x2ae9, mtu: 1280 }, PTB.length - 8],
    ];
    for (const [bytes, ps, want, payloadLen] of cases) {
      const r = Icmpv6Repr.parse(new Icmpv6Packet().reset(bytes, 0, bytes.length));
      expect(r).toEqual(want);
      expect(Icmpv6Repr.bufferLen(r) + payloadLen).toBe(bytes.length);
      const buf = new Uint8Array(bytes.length).fill(0xa5);
      buf.set(bytes.subarray(bytes.length - payloadLen), bytes.length - payloadLen);
      Icmpv6Repr.emit({ ...r, checksum: -1 }, new Icmpv6Packet().reset(buf, 0, buf.length), payloadLen, ps);
      expect(toHex(buf)).toBe(toHex(bytes));
    }
  });

  it('keeps the other types generic and pads link-layer addresses', () => {
    const r = Icmpv6Repr.parse(new Icmpv6Packet().reset(Uint8Array.from([130, 0, 0, 0, 0x12, 0x34, 0, 0]), 0, 8));
    expect(r).toEqual({ kind: 'other', type: 130, code: 0, checksum: 0, restOfHeader: 0x12340000 });
    expect(icmpv6ReprType(r)).toBe(130);
    const rs: Icmpv6Repr = { kind: 'routerSolicit', code: 0, checksum: -1, reserved: 0, options: [{ kind: 'sourceLinkAddr', addr: Uint8Array.from([1, 2]) }] };
    expect(Icmpv6Repr.bufferLen(rs)).toBe(16);
    const buf = new Uint8Array(16).fill(0xa5);
    Icmpv6Repr.emit(rs, new Icmpv6Packet().reset(buf, 0, 16), 0, PS_NS);
    expect(toHex(buf.subarray(8))).toBe('0101010200000000');
    expect([ndFixedLen(133), ndFixedLen(134), ndFixedLen(135), ndFixedLen(136), ndFixedLen(137), ndFixedLen(128)])
      .toEqual([8, 16, 24, 24, 40, -1]);
  });

  // ---- rejections: code and offset ------------------------------------------

  it('rejects a truncated header', () => {
    const e = catchWire(() => Icmpv6Packet.checked(ECHO, 0, 6));
    expect([e.code, e.field, e.offset]).toEqual(['WIRE_TRUNCATED', 'icmpv6', 6]);
  });

  it('rejects a neighbor solicitation cut in its target', () => {
    const e = catchWire(() => Icmpv6Packet.checked(NS, 0, 20));
    expect([e.code, e.offset]).toEqual(['WIRE_TRUNCATED', 20]);
  });

  it('rejects an option of length zero at its length byte', () => {
    const b = NS.slice(); b[25] = 0;
    const e = catchWire(() => Icmpv6Packet.checked(b));
    expect([e.code, e.field, e.offset]).toEqual(['WIRE_BAD_OPTION', 'icmpv6.opt.length', 25]);
    const d = catchWire(() => dissectIcmpv6(ctx6(b), 0, b.length));
    expect([d.code, d.offset]).toEqual(['WIRE_BAD_OPTION', 25]);
  });

  it('rejects a prefix option not 4 units long and an MTU option not 1 unit long', () => {
    const b = RA.slice(); b[33] = 3; // prefix option at 32
    expect([catchWire(() => Icmpv6Packet.checked(b)).code, catchWire(() => Icmpv6Packet.checked(b)).offset]).toEqual(['WIRE_BAD_OPTION', 33]);
    const m = RA.slice(); m[25] = 2; // MTU option at 24
    const e = catchWire(() => Icmpv6Packet.checked(m));
    expect([e.code, e.offset]).toEqual(['WIRE_BAD_OPTION', 25]);
  });

  it('rejects an option running past the end as truncated at the end', () => {
    const b = NS.slice(); b[25] = 2;
    const e = catchWire(() => Icmpv6Packet.checked(b));
    expect([e.code, e.field, e.offset]).toEqual(['WIRE_TRUNCATED', 'icmpv6.opt', 32]);
  });

  it('truncated at every offset: only WireError, truncated at the cut', () => {
    for (const msg of [NS, NA, RA]) {
      const p = Icmpv6Packet.checked(msg);
      const fixed = ndFixedLen(p.type());
      const boundaries = new Set<number>([fixed]);
      for (let i = fixed; i < msg.length; i += msg[i + 1]! * 8) boundaries.add(i + msg[i + 1]! * 8);
      for (let k = 0; k <= msg.length; k++) {
        if (boundaries.has(k)) {
          expect(Icmpv6Repr.parse(new Icmpv6Packet().reset(msg, 0, k)).kind).not.toBe('other');
          expect(dissectIcmpv6(ctx6(msg), 0, k)).toEqual({ kind: 'end' });
          continue;
        }
        const e = catchWire(() => Icmpv6Repr.parse(new Icmpv6Packet().reset(msg, 0, k)));
        expect([e.code, e.offset]).toEqual(['WIRE_TRUNCATED', k]);
        const d = catchWire(() => dissectIcmpv6(ctx6(msg), 0, k));
        expect([d.code, d.offset]).toEqual(['WIRE_TRUNCATED', k]);
      }
    }
  });

  it('says what follows each kind of message', () => {
    expect(dissectIcmpv6(ctx6(ECHO), 0, ECHO.length)).toEqual({ kind: 'data', off: 8, end: ECHO.length });
    expect(dissectIcmpv6(ctx6(PTB), 0, PTB.length)).toEqual({ kind: 'ip', off: 8, end: PTB.length });
    expect(dissectIcmpv6(ctx6(PTB), 0, 8)).toEqual({ kind: 'end' });
    expect(dissectIcmpv6(ctx6(RA), 0, RA.length)).toEqual({ kind: 'end' });
    const mld2 = new Uint8Array(28); mld2[0] = 130;
    expect(dissectIcmpv6(ctx6(mld2), 0, 28)).toEqual({ kind: 'end' });
    const mld1 = new Uint8Array(24); mld1[0] = 131;
    expect(dissectIcmpv6(ctx6(mld1), 0, 24)).toEqual({ kind: 'end' });
    // a quote cut inside the header: each field whose bytes are there, as tshark shows it
    const q = ctx6(ECHO); q.quoted = true;
    expect(dissectIcmpv6(q, 0, 5)).toEqual({ kind: 'end' });
    expect(q.layers.map((l) => l.fields.map(([k]) => k))).toEqual([['icmpv6.type', 'icmpv6.code', 'icmpv6.checksum', 'icmpv6.checksum.status']]);
  });

  // ---- properties --------------------------------------------------------------

  it('property: parse(emit(x)) == x', () => {
    fc.assert(fc.property(arbRepr(), fc.uint8Array({ maxLength: 24 }), (r, data) => {
      const hasOptions = 'options' in r;
      const payload = hasOptions ? new Uint8Array(0) : data;
      const hl = Icmpv6Repr.bufferLen(r);
      const buf = new Uint8Array(hl + payload.length);
      buf.set(payload, hl);
      const v = new Icmpv6Packet().reset(buf, 0, buf.length);
      Icmpv6Repr.emit(r, v, payload.length, PS_ECHO);
      const back = Icmpv6Repr.parse(v);
      expect(back).toEqual({ ...r, checksum: back.checksum });
      expect(v.verifyChecksum(PS_ECHO(buf.length))).toBe(true);
    }));
  });

  it('property: emit(parse(y)) == y for any message that parses', () => {
    fc.assert(fc.property(arbMessage(), (b) => {
      let r: Icmpv6Repr;
      try { r = Icmpv6Repr.parse(new Icmpv6Packet().reset(b, 0, b.length)); } catch (e) { expect(e).toBeInstanceOf(WireError); return; }
      const hl = Icmpv6Repr.bufferLen(r);
      const out = b.slice(); out.fill(0xa5, 0, hl);
      Icmpv6Repr.emit(r, new Icmpv6Packet().reset(out, 0, out.length), b.length - hl, PS_ECHO);
      expect(out).toEqual(b);
    }));
  });

  it('property: arbitrary bytes raise only WireError (Repr and dissector)', () => {
    fc.assert(fc.property(arbMessage(), fc.boolean(), (b, quoted) => {
      try { Icmpv6Repr.parse(new Icmpv6Packet().reset(b, 0, b.length)); } catch (e) { expect(e).toBeInstanceOf(WireError); }
      const ctx = ctx6(b); ctx.quoted = quoted;
      try { dissectIcmpv6(ctx, 0, b.length); } catch (e) { expect(e).toBeInstanceOf(WireError); }
    }));
  });
});

describeWith('scapy', 'icmpv6 vs scapy', () => {
  const T = ip6('2001:db8::77'), D = ip6('2001:db8::99');
  const cases: [string, Icmpv6Repr][] = [
    ["ICMPv6EchoReply(id=0xffff,seq=1,data=b'y'*20)", { kind: 'echoReply', code: 0, checksum: -1, ident: 0xffff, seq: 1 }],
    ["ICMPv6DestUnreach(code=4)/IPv6(src='2001:db8::2',dst='2001:db8::9')/UDP(sport=1,dport=2)",
      { kind: 'destUnreachable', code: 4, checksum: -1, unused: 0 }],
    ["ICMPv6PacketTooBig(mtu=1400)/IPv6(src='2001:db8::2',dst='2001:db8::9')/UDP()", { kind: 'packetTooBig', code: 0, checksum: -1, mtu: 1400 }],
    ["ICMPv6TimeExceeded(code=1)/IPv6(src='2001:db8::2',dst='2001:db8::9')", { kind: 'timeExceeded', code: 1, checksum: -1, unused: 0 }],
    ["ICMPv6ParamProblem(code=1,ptr=6)/IPv6(src='2001:db8::2',dst='2001:db8::9')", { kind: 'paramProblem', code: 1, checksum: -1, pointer: 6 }],
    ["ICMPv6ND_NS(tgt='2001:db8::77')", { kind: 'neighborSolicit', code: 0, checksum: -1, reserved: 0, target: T, options: [] }],
    ["ICMPv6ND_NA(tgt='2001:db8::77',R=1,S=0,O=1)/ICMPv6NDOptDstLLAddr(lladdr='02:00:00:00:00:02')", {
      kind: 'neighborAdvert', code: 0, checksum: -1, router: true, solicited: false, override: true, reserved: 0, target: T,
      options: [{ kind: 'targetLinkAddr', addr: MAC2 }],
    }],
    ["ICMPv6ND_RS()/ICMPv6NDOptSrcLLAddr(lladdr='02:00:00:00:00:01')",
      { kind: 'routerSolicit', code: 0, checksum: -1, reserved: 0, options: [{ kind: 'sourceLinkAddr', addr: MAC1 }] }],
    ["ICMPv6ND_RA(chlim=64,M=1,O=0,prf=0,routerlifetime=1800,reachabletime=30000,retranstimer=1000)"
      + "/ICMPv6NDOptSrcLLAddr(lladdr='02:00:00:00:00:02')/ICMPv6NDOptMTU(mtu=1500)/ICMPv6NDOptPrefixInfo(prefixlen=64,L=1,A=1,"
      + "validlifetime=86400,preferredlifetime=14400,prefix='2001:db8::')", { ...RA_REPR, checksum: -1 }],
    ["ICMPv6ND_Redirect(tgt='2001:db8::77',dst='2001:db8::99')/ICMPv6NDOptDstLLAddr(lladdr='02:00:00:00:00:02')",
      { kind: 'redirect', code: 0, checksum: -1, reserved: 0, target: T, destination: D, options: [{ kind: 'targetLinkAddr', addr: MAC2 }] }],
  ];
  for (const [expr, r] of cases) {
    it(`emits the bytes scapy builds for ${expr.slice(0, 50)}`, () => {
      const want = scapyBytes(`bytes(IPv6(src='fe80::1',dst='fe80::2')/${expr})[40:]`);
      const hl = Icmpv6Repr.bufferLen(r);
      const buf = new Uint8Array(want.length).fill(0x5a);
      buf.set(want.subarray(hl), hl);
      Icmpv6Repr.emit(r, new Icmpv6Packet().reset(buf, 0, buf.length), want.length - hl, pseudo('fe80::1', 'fe80::2'));
      expect(toHex(buf)).toBe(toHex(want));
    });
  }
});

// ---- tshark: dissector fields ---------------------------------------------------

const ICMPV6_FIELDS = [
  'icmpv6.type', 'icmpv6.code', 'icmpv6.checksum', 'icmpv6.checksum.status', 'icmpv6.reserved', 'icmpv6.length',
  'icmpv6.mtu', 'icmpv6.pointer', 'icmpv6.echo.identifier', 'icmpv6.echo.sequence_number',
  'icmpv6.nd.ns.target_address', 'icmpv6.nd.na.target_address', 'icmpv6.nd.rd.target_address', 'icmpv6.rd.na.destination_address',
  'icmpv6.nd.na.flag', 'icmpv6.nd.na.flag.r', 'icmpv6.nd.na.flag.s', 'icmpv6.nd.na.flag.o', 'icmpv6.nd.na.flag.rsv',
  'icmpv6.nd.ra.cur_hop_limit', 'icmpv6.nd.ra.flag', 'icmpv6.nd.ra.flag.m', 'icmpv6.nd.ra.flag.o', 'icmpv6.nd.ra.flag.h',
  'icmpv6.nd.ra.flag.prf', 'icmpv6.nd.ra.flag.p', 'icmpv6.nd.ra.flag.rsv', 'icmpv6.nd.ra.router_lifetime',
  'icmpv6.nd.ra.reachable_time', 'icmpv6.nd.ra.retrans_timer',
  'icmpv6.opt', 'icmpv6.opt.type', 'icmpv6.opt.length', 'icmpv6.opt.linkaddr', 'icmpv6.opt.src_linkaddr',
  'icmpv6.opt.target_linkaddr', 'icmpv6.opt.mtu', 'icmpv6.opt.reserved', 'icmpv6.opt.prefix.length', 'icmpv6.opt.prefix.flag',
  'icmpv6.opt.prefix.flag.l', 'icmpv6.opt.prefix.flag.a', 'icmpv6.opt.prefix.flag.r', 'icmpv6.opt.prefix.flag.reserved',
  'icmpv6.opt.prefix.valid_lifetime', 'icmpv6.opt.prefix.preferred_lifetime', 'icmpv6.opt.prefix', 'icmpv6.data',
  'icmpv6.mld.maximum_response_delay', 'icmpv6.mld.multicast_address',
];

describeWith('tshark', 'icmpv6 dissector vs tshark', () => {
  it('prints the fields tshark prints', () => {
    // raw6(src, dst, t, c, rest, data) builds an IPv6 frame around a raw message with the right checksum.
    const prelude = `import struct
from scapy.layers.inet6 import in6_chksum
def raw6(src, dst, t, c, rest, data=b''):
    p = IPv6(src=src, dst=dst, nh=58, hlim=255)/Raw(struct.pack('!BBHI', t, c, 0, rest) + data)
    b = bytearray(bytes(p))
    ck = in6_chksum(58, IPv6(bytes(b)), bytes(b[40:]))
    b[42] = ck >> 8; b[43] = ck & 255
    return Ether(type=0x86dd)/Raw(bytes(b))
A = lambda s: inet_pton(socket.AF_INET6, s)
E = lambda: Ether(src='02:00:00:00:00:01', dst='02:00:00:00:00:02')
inner = IPv6(src='2001:db8::1', dst='2001:db8::9')/UDP(sport=1234, dport=53)/b'abcd'
ping = bytes(IPv6(src='2001:db8::1', dst='2001:db8::9')/ICMPv6EchoRequest(id=1, seq=2, data=b'x'*20))`;
    const exprs = [
      "E()/IPv6(src='2001:db8::1',dst='2001:db8::2')/ICMPv6EchoRequest(id=0x1234,seq=7,data=b'hello')",
      "E()/IPv6(src='2001:db8::2',dst='2001:db8::1')/ICMPv6EchoReply(id=0x1234,seq=7)",
      "E()/IPv6(src='2001:db8::1',dst='2001:db8::2')/ICMPv6EchoRequest(id=0x1234,seq=7,data=b'hello',cksum=0x1234)",
      "E()/IPv6(src='2001:db8::fe',dst='2001:db8::1')/ICMPv6DestUnreach(code=4)/inner",
      "E()/IPv6(src='2001:db8::fe',dst='2001:db8::1')/ICMPv6PacketTooBig(mtu=1280)/inner",
      "E()/IPv6(src='2001:db8::fe',dst='2001:db8::1')/ICMPv6TimeExceeded(code=0)/inner",
      "E()/IPv6(src='2001:db8::fe',dst='2001:db8::1')/ICMPv6ParamProblem(code=1,ptr=40)/inner",
      "raw6('2001:db8::fe', '2001:db8::1', 3, 0, 0x06000000, bytes(inner))",
      "E()/IPv6(src='fe80::1',dst='ff02::1:ff00:2',hlim=255)/ICMPv6ND_NS(tgt='fe80::2')/ICMPv6NDOptSrcLLAddr(lladdr='02:00:00:00:00:01')",
      "E()/IPv6(src='fe80::2',dst='fe80::1',hlim=255)/ICMPv6ND_NA(tgt='fe80::2',R=0,S=1,O=1)/ICMPv6NDOptDstLLAddr(lladdr='02:00:00:00:00:02')",
      "E()/IPv6(src='fe80::2',dst='fe80::1',hlim=255)/ICMPv6ND_NA(tgt='fe80::2',R=1,S=1,O=0,res=5)",
      "E()/IPv6(src='fe80::1',dst='ff02::2',hlim=255)/ICMPv6ND_RS()/ICMPv6NDOptSrcLLAddr(lladdr='02:00:00:00:00:01')",
      "E()/IPv6(src='fe80::2',dst='ff02::1',hlim=255)/ICMPv6ND_RA(chlim=64,M=1,O=1,H=1,prf=1,routerlifetime=1800,reachabletime=30000,"
        + "retranstimer=1000)/ICMPv6NDOptSrcLLAddr(lladdr='02:00:00:00:00:02')/ICMPv6NDOptMTU(mtu=1500)/ICMPv6NDOptPrefixInfo("
        + "prefixlen=64,L=1,A=1,validlifetime=0xffffffff,preferredlifetime=14400,prefix='2001:db8::')",
      "raw6('fe80::1', 'ff02::1', 135, 0, 0, A('fe80::2') + b'\\x01\\x02' + bytes(range(14)))",
      "raw6('fe80::2', 'fe80::1', 136, 0, 0xa0000000, A('fe80::2') + b'\\x03\\x04' + bytes([64, 0xff]) + struct.pack('!III', 1, 2, 0) + A('2001:db8:1::'))",
      "raw6('fe80::1', 'ff02::1', 137, 0, 0, A('fe80::2') + A('2001:db8::5') + b'\\x02\\x01' + bytes(6))",
      "raw6('fe80::1', 'ff02::1', 135, 0, 0, A('fe80::2') + b'\\x01\\x01' + bytes(6) + b'\\x63\\x01abcdef' + b'\\x0e\\x01' + bytes(6))",
      "raw6('fe80::1', 'fe80::2', 200, 1, 0x01020304, b'abc')",
      "E()/IPv6(src='fe80::1',dst='ff02::1',hlim=1)/ICMPv6MLQuery(mrd=10000,mladdr='::')",
      "E()/IPv6(src='fe80::1',dst='ff02::1:ff00:2',hlim=1)/ICMPv6MLReport(mladdr='ff02::1:ff00:2')",
      "E()/IPv6(src='fe80::1',dst='ff02::2',hlim=1)/ICMPv6MLDone(mladdr='ff02::1:ff00:2')",
      "raw6('2001:db8::fe', '2001:db8::1', 3, 0, 0, ping)",
      "raw6('2001:db8::fe', '2001:db8::1', 3, 0, 0, ping[:48])",
    ];
    const out = scapy(`${prelude}\nfor e in ${JSON.stringify(exprs)}:\n    print(bytes(eval(e)).hex())`);
    const frames = out.trim().split('\n').map(hexBytes);
    expect(frames.length).toBe(exprs.length);
    const { path, cleanup } = writeTempPcap(frames);
    let got: Record<string, string>[];
    try { got = tsharkFields(path, ICMPV6_FIELDS); } finally { cleanup(); }
    frames.forEach((f, i) => {
      const ctx = new DissectCtx(f, new Map());
      ctx.ip = { version: 6, src: 0, dst: 0, srcOff: 22, dstOff: 38, quoted: false, fragmented: false };
      const end = 54 + ((f[18]! << 8) | f[19]!);
      const next = dissectIcmpv6(ctx, 54, end);
      // a quoted ICMPv6 message: dissect it as the driver would (no extension headers here)
      if (next.kind === 'ip' && f[next.off + 6] === 58) {
        ctx.quoted = true;
        dissectIcmpv6(ctx, next.off + 40, end);
      }
      const mine = fieldsOf(ctx.layers);
      for (const name of ICMPV6_FIELDS) expect(`${exprs[i]} ${name}=${mine[name] ?? ''}`).toBe(`${exprs[i]} ${name}=${got[i]![name]}`);
    });
  });
});

// ---- helpers -----------------------------------------------------------------------

/** A context over 'b' with no IP header in it: checksums come out unverified, which these tests do not look at. */
function ctx6(b: Uint8Array): DissectCtx {
  return new DissectCtx(b, new Map());
}

const u8 = fc.integer({ min: 0, max: 255 });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const addr16 = fc.uint8Array({ minLength: 16, maxLength: 16 });

function arbOption(): fc.Arbitrary<NdpOption> {
  // link-layer addresses and unknown data sized so that 2 + length is a multiple of 8 (exact round trip)
  const padded = fc.integer({ min: 0, max: 2 }).chain((n) => fc.uint8Array({ minLength: 6 + 8 * n, maxLength: 6 + 8 * n }));
  return fc.oneof(
    padded.map((addr): NdpOption => ({ kind: 'sourceLinkAddr', addr })),
    padded.map((addr): NdpOption => ({ kind: 'targetLinkAddr', addr })),
    fc.record({
      kind: fc.constant('prefixInfo' as const), prefixLen: u8, flags: u8, validLifetime: u32, preferredLifetime: u32,
      reserved: u32, prefix: addr16,
    }),
    fc.record({ kind: fc.constant('mtu' as const), reserved: u16, mtu: u32 }),
    fc.tuple(u8.filter((t) => t !== 0 && (t < 1 || t > 5 || t === 4)), padded)
      .map(([type, data]): NdpOption => ({ kind: 'unknown', type, data })),
  );
}

function arbRepr(): fc.Arbitrary<Icmpv6Repr> {
  const ck = fc.constant(-1);
  const opts = fc.array(arbOption(), { maxLength: 4 });
  return fc.oneof(
    fc.record({ kind: fc.constantFrom('echoRequest' as const, 'echoReply' as const), code: u8, checksum: ck, ident: u16, seq: u16 }),
    fc.record({ kind: fc.constantFrom('destUnreachable' as const, 'timeExceeded' as const), code: u8, checksum: ck, unused: u32 }),
    fc.record({ kind: fc.constant('packetTooBig' as const), code: u8, checksum: ck, mtu: u32 }),
    fc.record({ kind: fc.constant('paramProblem' as const), code: u8, checksum: ck, pointer: u32 }),
    fc.record({ kind: fc.constant('routerSolicit' as const), code: u8, checksum: ck, reserved: u32, options: opts }),
    fc.record({
      kind: fc.constant('routerAdvert' as const), code: u8, checksum: ck, curHopLimit: u8, flags: u8, routerLifetime: u16,
      reachableTime: u32, retransTimer: u32, options: opts,
    }),
    fc.record({ kind: fc.constant('neighborSolicit' as const), code: u8, checksum: ck, reserved: u32, target: addr16, options: opts }),
    fc.record({
      kind: fc.constant('neighborAdvert' as const), code: u8, checksum: ck, router: fc.boolean(), solicited: fc.boolean(),
      override: fc.boolean(), reserved: fc.integer({ min: 0, max: 0x1fffffff }), target: addr16, options: opts,
    }),
    fc.record({
      kind: fc.constant('redirect' as const), code: u8, checksum: ck, reserved: u32, target: addr16, destination: addr16, options: opts,
    }),
    fc.record({
      kind: fc.constant('other' as const), type: u8.filter((t) => !(t >= 1 && t <= 4) && t !== 128 && t !== 129 && (t < 133 || t > 137)),
      code: u8, checksum: ck, restOfHeader: u32,
    }),
  );
}

/** Mostly well-formed ND messages (a type from the ND range and option-like bytes), plus noise. */
function arbMessage(): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    fc.tuple(fc.constantFrom(1, 2, 3, 4, 128, 129, 133, 134, 135, 136, 137), fc.uint8Array({ maxLength: 80 })).map(([t, rest]) => {
      const b = new Uint8Array(1 + rest.length);
      b[0] = t; b.set(rest, 1);
      // make option lengths small so that some messages parse
      for (let i = 24; i + 1 < b.length; i += 8) b[i + 1] = (b[i + 1]! & 1) + 1;
      return b;
    }),
  );
}

