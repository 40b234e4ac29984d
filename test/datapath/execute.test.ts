// Datapath actions on bytes: every set/push/pop must give exactly the frame the builder makes
// with the new values (the builder computes every length and checksum from scratch), so an
// incremental checksum fix-up that is off by one bit fails here.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FrameBuilder } from '../../src/wire/builder.js';
import { compileAction, compileActions, DpProgram, OdpParseError } from '../../src/datapath/odp-actions.js';
import { Pkt, popVlan, pushVlan, setArp, setEth, setIcmp, setIpv4, setIpv6, setL4, tnlPop, tnlPush } from '../../src/datapath/execute.js';
import { flowFromFrame, FLOW_WORDS, F_DL_TYPE, F_NW_FRAG, F_NW_PROTO, lastL3Offset, lastL4Offset } from '../../src/flow/key.js';
import { toHex } from '../../src/wire/bytes.js';
import { tnlUdpSrcPort } from '../../src/flow/hash.js';

const MAC1 = '00:00:00:00:00:01', MAC2 = '00:00:00:00:00:02';

/** A Pkt over a copy of 'frame' with its layers located as the datapath does. */
function pkt(frame: Uint8Array, headroom = 0): Pkt {
  const buf = new Uint8Array(frame.length + headroom);
  buf.set(frame, headroom);
  const p = new Pkt();
  p.reset(buf, headroom, buf.length, 1);
  const key = new Uint32Array(FLOW_WORDS);
  flowFromFrame(buf, headroom, buf.length, 1, key, 0, false);
  const l3 = lastL3Offset(), l4 = lastL4Offset();
  p.l3 = l3 === 0xffff ? -1 : l3;
  p.l4 = l4 === 0xffff ? -1 : l4;
  p.dlType = key[F_DL_TYPE]!;
  p.proto = key[F_NW_PROTO]!;
  p.laterFrag = (key[F_NW_FRAG]! & 2) !== 0;
  return p;
}
const bytes = (p: Pkt): string => toHex(p.buf, p.start, p.end);
/** One action's text packed as the datapath runs it: [code, offset]. */
const one = (text: string): [Int32Array, number] => [new DpProgram([compileAction(text)]).code, 0];
const hex = (b: Uint8Array): string => toHex(b);

function tcp4(o: { src?: string; dst?: string; sport?: number; dport?: number; ttl?: number; dscp?: number; ecn?: number; vid?: number }): Uint8Array {
  const b = new FrameBuilder().eth({ src: MAC1, dst: MAC2 });
  if (o.vid !== undefined) b.vlan({ vid: o.vid });
  return b.ipv4({ src: o.src ?? '10.0.0.1', dst: o.dst ?? '10.0.0.2', ttl: o.ttl ?? 64, dscp: o.dscp ?? 0, ecn: o.ecn ?? 0, ident: 7 })
    .tcp({ srcPort: o.sport ?? 1234, dstPort: o.dport ?? 80, seq: 1000, flags: 'PA' }).payload('hello').build();
}
function udp4(o: { src?: string; dst?: string; sport?: number; dport?: number; checksum?: number }): Uint8Array {
  return new FrameBuilder().eth({ src: MAC1, dst: MAC2 }).ipv4({ src: o.src ?? '10.0.0.1', dst: o.dst ?? '10.0.0.2', ident: 7 })
    .udp({ srcPort: o.sport ?? 5000, dstPort: o.dport ?? 53, ...(o.checksum !== undefined ? { checksum: o.checksum } : {}) }).payload('abcdefg').build();
}

describe('compileAction', () => {
  it('parses the actions translation prints', () => {
    expect(compileAction('3').port).toBe(3);
    const s = compileAction('set(ipv4(src=10.0.0.9,tos=0x20/0xfc,ttl=63))');
    expect([...s.v.slice(0, 4)]).toEqual([0x0a000009, 0, 0x20, 63]);
    expect([...s.m.slice(0, 4)]).toEqual([0xffffffff, 0, 0xfc, 0xff]);
    const ct = compileAction('ct(commit,zone=5,mark=0x2a/0xff,label=0x1/0x1,nat(src=192.168.1.1-192.168.1.5:1000-2000,random))');
    expect(ct.ct).toMatchObject({ zone: 5, commit: true, mark: { value: 42, mask: 255 }, label: { value: 1n, mask: 1n } });
    expect(ct.ct!.nat!.range).toMatchObject({ kind: 'src', addrMin: 0xc0a80101, addrMax: 0xc0a80105, portMin: 1000, portMax: 2000 });
    expect(compileAction('ct(nat)').ct!.nat).toEqual({ range: null });
    expect(compileAction('ct').ct!.commit).toBe(false);
    expect(compileAction('recirc(0x1f)').port).toBe(0x1f);
    expect(compileAction('push_vlan(tpid=0x88a8,vid=100,pcp=3)').v.slice(0, 2)).toEqual(new Uint32Array([0x88a8, 0x7064]));
    const push = compileAction('tnl_push(tnl_port(4789),header(size=50,type=4,eth(dst=f8:bc:12:44:34:b6,src=aa:55:aa:55:00:00,dl_type=0x0800),ipv4(src=1.1.2.88,dst=1.1.2.92,proto=17,tos=0,ttl=64,frag=0x4000),udp(src=0,dst=4789,csum=0x0),vxlan(flags=0x8000000,vni=0x7b)),out_port(100))');
    expect(push.port).toBe(4789);
    expect(hex(push.hdr!)).toBe('f8bc124434b6aa55aa5500000800' + '450000000000400040110000010102580101025c' + '000012b500000000' + '080000000000 7b00'.replace(' ', ''));
    expect(compileActions(['drop']).n).toBe(0);
    expect(compileActions(['2', 'pop_vlan']).code.length).toBe(48);
  });

  it('names the action and the offset of what it cannot parse', () => {
    expect(() => compileAction('set(ipv4(src=10.0.0))')).toThrow(OdpParseError);
    expect(() => compileAction('set(ipv4(src=10.0.0))')).toThrow(/not an IPv4 address.*offset 13/);
    expect(() => compileAction('frobnicate(1)')).toThrow(/unknown datapath action "frobnicate"/);
    expect(() => compileAction('set(foo(a=1))')).toThrow(/unsupported set\(foo\)/);
    expect(() => compileAction('ct(zone=x)')).toThrow(/"x" is not a number/);
  });

  it('never throws anything but OdpParseError on arbitrary text', () => {
    fc.assert(fc.property(fc.string(), (s) => {
      try { compileAction(s); } catch (e) { expect(e).toBeInstanceOf(OdpParseError); }
    }));
  });
});

describe('set actions fix every checksum', () => {
  it('set(ipv4(src,dst)) on TCP patches the IPv4 and TCP checksums', () => {
    const p = pkt(tcp4({}));
    setIpv4(p, ...one('set(ipv4(src=192.168.7.9,dst=172.16.0.3))'));
    expect(bytes(p)).toBe(hex(tcp4({ src: '192.168.7.9', dst: '172.16.0.3' })));
  });

  it('set(ipv4(ttl,tos)) patches the IPv4 checksum only; a masked tos keeps ECN', () => {
    const p = pkt(tcp4({ ttl: 64, dscp: 0, ecn: 2 }));
    setIpv4(p, ...one('set(ipv4(tos=0x20/0xfc,ttl=63))'));
    expect(bytes(p)).toBe(hex(tcp4({ ttl: 63, dscp: 8, ecn: 2 })));
  });

  it('UDP: a zero checksum stays zero, a real one is patched', () => {
    const none = pkt(udp4({ checksum: 0 }));
    setIpv4(none, ...one('set(ipv4(dst=8.8.8.8))'));
    setL4(none, ...one('set(udp(dst=5353))'));
    expect(bytes(none)).toBe(hex(udp4({ dst: '8.8.8.8', dport: 5353, checksum: 0 })));
    const some = pkt(udp4({}));
    setIpv4(some, ...one('set(ipv4(dst=8.8.8.8))'));
    setL4(some, ...one('set(udp(src=1,dst=5353))'));
    expect(bytes(some)).toBe(hex(udp4({ dst: '8.8.8.8', sport: 1, dport: 5353 })));
  });

  it('set(tcp(...)) with a mask changes only the masked bits', () => {
    const p = pkt(tcp4({ dport: 0x1234 }));
    setL4(p, ...one('set(tcp(dst=0xff00/0xff00))'));
    expect(bytes(p)).toBe(hex(tcp4({ dport: 0xff34 })));
  });

  it('set(tcp) does nothing to a UDP packet', () => {
    const f = udp4({});
    const p = pkt(f);
    setL4(p, ...one('set(tcp(dst=1))'));
    expect(bytes(p)).toBe(hex(f));
  });

  it('set(eth) and set(icmp) and set(arp)', () => {
    const icmp = (t: number, c: number, dst = MAC2): Uint8Array => new FrameBuilder().eth({ src: MAC1, dst }).ipv4({ src: '1.1.1.1', dst: '2.2.2.2', ident: 1 })
      .icmp({ type: t, code: c, ident: 9, seq: 1 }).payload('ping').build();
    const p = pkt(icmp(8, 0));
    setEth(p, ...one('set(eth(dst=aa:bb:cc:dd:ee:ff))'));
    setIcmp(p, ...one('set(icmp(type=0,code=0))'));
    expect(bytes(p)).toBe(hex(icmp(0, 0, 'aa:bb:cc:dd:ee:ff')));
    const arp = (op: number, tip: string): Uint8Array => new FrameBuilder().eth({ src: MAC1, dst: 'ff:ff:ff:ff:ff:ff' })
      .arp({ op, sha: MAC1, spa: '10.0.0.1', tha: '00:00:00:00:00:00', tpa: tip }).build();
    const a = pkt(arp(1, '10.0.0.2'));
    setArp(a, ...one('set(arp(sip=10.0.0.1,tip=10.0.0.3,op=2,sha=00:00:00:00:00:01,tha=00:00:00:00:00:00))'));
    expect(bytes(a)).toBe(hex(arp(2, '10.0.0.3')));
  });

  it('set(ipv6(...)) patches TCP and ICMPv6 checksums; label/tclass/hlimit change no checksum', () => {
    const v6 = (src: string, label: number, hl: number): Uint8Array => new FrameBuilder().eth({ src: MAC1, dst: MAC2 })
      .ipv6({ src, dst: 'fd00::2', flowLabel: label, hopLimit: hl, trafficClass: 0 }).tcp({ srcPort: 1, dstPort: 2, flags: 'S' }).build();
    const p = pkt(v6('fd00::1', 0, 64));
    setIpv6(p, ...one('set(ipv6(src=2001:db8::77,label=0x12345,hlimit=9))'));
    expect(bytes(p)).toBe(hex(v6('2001:db8::77', 0x12345, 9)));
  });

  it('property: random IPv4 NAT-style rewrites equal a fresh build', () => {
    const ip = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((a) => a.join('.'));
    fc.assert(fc.property(ip, ip, fc.nat(65535), fc.nat(65535), fc.boolean(), (src, dst, sport, dport, isUdp) => {
      const make = isUdp ? udp4 : tcp4;
      const p = pkt(make({}));
      setIpv4(p, ...one(`set(ipv4(src=${src},dst=${dst}))`));
      setL4(p, ...one(`set(${isUdp ? 'udp' : 'tcp'}(src=${sport},dst=${dport}))`));
      const want = make({ src, dst, sport, dport });
      // the builder writes UDP checksum 0 as 0xffff when the sum is zero; so does the patch
      expect(bytes(p)).toBe(hex(want));
    }), { numRuns: 300 });
  });
});

describe('VLAN push and pop', () => {
  it('push_vlan then pop_vlan; push with and without headroom', () => {
    const plain = tcp4({});
    const tagged = tcp4({ vid: 10 });
    for (const room of [0, 4, 64]) {
      const p = pkt(plain, room);
      expect(pushVlan(p, ...one('push_vlan(vid=10,pcp=0)'))).toBe(true);
      expect(bytes(p)).toBe(hex(tagged));
      popVlan(p);
      expect(bytes(p)).toBe(hex(plain));
    }
  });
});

describe('tunnels', () => {
  const header = 'tnl_push(tnl_port(4789),header(size=50,type=4,eth(dst=f8:bc:12:44:34:b6,src=aa:55:aa:55:00:00,dl_type=0x0800),ipv4(src=1.1.2.88,dst=1.1.2.92,proto=17,tos=0,ttl=64,frag=0x4000),udp(src=0,dst=4789,csum=0x0),vxlan(flags=0x8000000,vni=0x7b)),out_port(100))';
  it('tnl_push builds the outer headers the builder builds; tnl_pop restores the inner frame and the metadata', () => {
    const inner = tcp4({});
    const p = pkt(inner);
    p.rssHash = 0x12345678;
    expect(tnlPush(p, compileAction(header).hdr!)).toBe(true);
    const sport = tnlUdpSrcPort(0x12345678);
    const want = new FrameBuilder().eth({ src: 'aa:55:aa:55:00:00', dst: 'f8:bc:12:44:34:b6' })
      .ipv4({ src: '1.1.2.88', dst: '1.1.2.92', ttl: 64, df: true, ident: 0 }).udp({ srcPort: sport, dstPort: 4789, checksum: 0 })
      .vxlan({ vni: 123 }).payload(inner).build();
    expect(bytes(p)).toBe(hex(want));
    expect(tnlPop(p, 4)).toBe(true);
    expect(bytes(p)).toBe(hex(inner));
    expect([p.tunIdLo, p.tunSrc, p.tunDst, p.tunTtl, p.tunTpDst, p.tunFlags]).toEqual([123, 0x01010258, 0x0101025c, 64, 4789, 8]);
  });

  it('tnl_pop refuses a bad VXLAN header, a bad IPv4 checksum, a truncated packet', () => {
    const inner = tcp4({});
    const good = new FrameBuilder().eth({}).ipv4({ src: '1.1.1.1', dst: '2.2.2.2' }).udp({ srcPort: 1, dstPort: 4789 }).vxlan({ vni: 5 }).payload(inner).build();
    expect(tnlPop(pkt(good), 4)).toBe(true);
    const noI = new FrameBuilder().eth({}).ipv4({ src: '1.1.1.1', dst: '2.2.2.2' }).udp({ srcPort: 1, dstPort: 4789 }).vxlan({ vni: 5, flags: 0 }).payload(inner).build();
    expect(tnlPop(pkt(noI), 4)).toBe(false);
    const badIp = new FrameBuilder().eth({}).ipv4({ src: '1.1.1.1', dst: '2.2.2.2', checksum: 1 }).udp({ srcPort: 1, dstPort: 4789 }).vxlan({ vni: 5 }).payload(inner).build();
    expect(tnlPop(pkt(badIp), 4)).toBe(false);
    expect(tnlPop(pkt(good.subarray(0, 40)), 4)).toBe(false);
    const geneve = new FrameBuilder().eth({}).ipv4({ src: '1.1.1.1', dst: '2.2.2.2' }).udp({ srcPort: 1, dstPort: 6081 }).geneve({ vni: 7 }).payload(inner).build();
    const g = pkt(geneve);
    expect(tnlPop(g, 5)).toBe(true);
    expect(bytes(g)).toBe(hex(inner));
    expect(g.tunIdLo).toBe(7);
  });
});
