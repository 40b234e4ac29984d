import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ETH_HEADER_LEN, ETH_TYPE_ARP, ETH_TYPE_IPV4, ETH_TYPE_IPV6, ETH_TYPE_QINQ, ETH_TYPE_QINQ_OLD, ETH_TYPE_TEB, ETH_TYPE_VLAN,
  EthernetFrame, EthernetRepr, VlanTag, etherTypeName, type VlanRepr,
} from '../../src/wire/ethernet.js';
import { DissectCtx, type DissectLayer } from '../../src/wire/dissect.js';
import { dissectEthernet } from '../../src/wire/dissect/ethernet.js';
import { WireError } from '../../src/errors.js';
import { describeWith, scapyBytes, tsharkFields, writeTempPcap } from '../oracle/tools.js';
import { catchWire, fields, hex, hexBytes, joined } from '../oracle/wire.js';

// /usr/bin/python3 -c "from scapy.all import *; print(bytes(Ether(dst='02:00:00:00:00:02',src='02:00:00:00:00:01')/Dot1AD(prio=3,id=1,vlan=200)/Dot1Q(prio=5,vlan=100,type=0x86dd)/b'abcd').hex())"
const QINQ_HEX = '02000000000202000000000188a870c88100a06486dd61626364';
const QINQ = hexBytes(QINQ_HEX);
// /usr/bin/python3 -c "from scapy.all import *; print(bytes(Dot3(dst='01:80:c2:00:00:00',src='02:00:00:00:00:01')/LLC(dsap=0x42,ssap=0x42,ctrl=3)/b'xyz').hex())"
const DOT3 = hexBytes('0180c2000000020000000001000642420378797a');

describe('ethernet', () => {
  it('deconstructs every field of a QinQ frame', () => {
    const f = EthernetFrame.checked(QINQ);
    expect(f.dstOffset()).toBe(0);
    expect(f.srcOffset()).toBe(6);
    expect([f.dstHi16(), f.dstLo32()]).toEqual([0x0200, 0x00000002]);
    expect([f.srcHi16(), f.srcLo32()]).toEqual([0x0200, 0x00000001]);
    expect(f.dstIsGroup()).toBe(false);
    expect(f.etherType()).toBe(ETH_TYPE_QINQ);
    expect(f.tagCount).toBe(2);
    expect([f.tagTpid(0), f.tagPcp(0), f.tagDei(0), f.tagVid(0), f.tagTci(0)]).toEqual([ETH_TYPE_QINQ, 3, 1, 200, 0x70c8]);
    expect([f.tagTpid(1), f.tagPcp(1), f.tagDei(1), f.tagVid(1)]).toEqual([ETH_TYPE_VLAN, 5, 0, 100]);
    expect(f.innerType).toBe(ETH_TYPE_IPV6);
    expect(f.innerTypeOffset()).toBe(20);
    expect(f.payloadOffset()).toBe(22);
    expect(f.isLengthField()).toBe(false);
  });

  it('reads MACs with the top bit set as unsigned words', () => {
    const b = new Uint8Array(14).fill(0xff);
    const f = EthernetFrame.checked(b);
    expect([f.dstHi16(), f.dstLo32(), f.srcLo32()]).toEqual([0xffff, 0xffffffff, 0xffffffff]);
    expect(f.dstIsGroup()).toBe(true);
    expect(f.tagCount).toBe(0);
    expect(f.innerType).toBe(0xffff);
  });

  it('constructs into a 0xa5-filled buffer', () => {
    const buf = new Uint8Array(QINQ.length).fill(0xa5);
    buf.set(QINQ.subarray(22), 22);
    const f = new EthernetFrame().reset(buf, 0, buf.length);
    f.setDstHiLo(0x0200, 2);
    f.setSrc(QINQ, 6);
    f.setEtherType(ETH_TYPE_QINQ);
    f.setTagTci(0, 0x70c8);
    f.setTagTpid(1, ETH_TYPE_VLAN);
    f.setTagTci(1, (5 << 13) | 100);
    expect(f.check()).toBe(0);
    f.setInnerType(ETH_TYPE_IPV6);
    expect(hex(buf)).toBe(QINQ_HEX);
  });

  it('VlanTag reads and writes one tag', () => {
    const t = new VlanTag().reset(QINQ.slice(), 14, QINQ.length);
    expect(t.check()).toBe(0);
    expect([t.tci(), t.pcp(), t.dei(), t.vid(), t.innerType(), t.payloadOffset()]).toEqual([0x70c8, 3, 1, 200, 0x8100, 18]);
    t.setPcp(7); t.setDei(0); t.setVid(4095); t.setInnerType(0x0800);
    expect([t.pcp(), t.dei(), t.vid(), t.innerType()]).toEqual([7, 0, 4095, 0x0800]);
    t.setTci(0x1001);
    expect([t.pcp(), t.dei(), t.vid()]).toEqual([0, 1, 1]);
    const short = new VlanTag().reset(QINQ, 14, 16);
    expect(short.check()).toBe(1);
    expect([short.errField, short.errAt]).toEqual(['vlan', 16]);
  });

  it('parses and emits', () => {
    const r = EthernetRepr.parse(new EthernetFrame().reset(QINQ, 0, QINQ.length));
    expect(r).toEqual({
      dst: hexBytes('020000000002'), src: hexBytes('020000000001'),
      vlans: [{ tpid: ETH_TYPE_QINQ, pcp: 3, dei: 1, vid: 200 }, { tpid: ETH_TYPE_VLAN, pcp: 5, dei: 0, vid: 100 }],
      ethertype: ETH_TYPE_IPV6,
    });
    expect(EthernetRepr.bufferLen(r)).toBe(22);
    const buf = new Uint8Array(QINQ.length).fill(0xa5);
    buf.set(QINQ.subarray(22), 22);
    EthernetRepr.emit(r, new EthernetFrame().reset(buf, 0, buf.length));
    expect(hex(buf)).toBe(QINQ_HEX);
  });

  it('accepts 0x9100 as a tag', () => {
    const b = QINQ.slice(); b[12] = 0x91; b[13] = 0x00;
    const r = EthernetRepr.parse(new EthernetFrame().reset(b, 0, b.length));
    expect(r.vlans.map((v) => v.tpid)).toEqual([ETH_TYPE_QINQ_OLD, ETH_TYPE_VLAN]);
  });

  it('checks an 802.3 frame but Repr.parse rejects it as unsupported', () => {
    const f = EthernetFrame.checked(DOT3);
    expect(f.isLengthField()).toBe(true);
    expect(f.innerType).toBe(6);
    const e = catchWire(() => EthernetRepr.parse(f));
    expect([e.code, e.field, e.offset]).toEqual(['WIRE_UNSUPPORTED', 'eth.len', 12]);
    const tagged = hexBytes('020000000002020000000001810000640010aaaa');
    const e2 = catchWire(() => EthernetRepr.parse(new EthernetFrame().reset(tagged, 0, tagged.length)));
    expect([e2.code, e2.field, e2.offset]).toEqual(['WIRE_UNSUPPORTED', 'vlan.len', 16]);
  });

  it('rejects a truncated header with its offset', () => {
    const e = catchWire(() => EthernetFrame.checked(QINQ, 0, 13));
    expect([e.code, e.field, e.offset]).toEqual(['WIRE_TRUNCATED', 'eth', 13]);
    const e0 = catchWire(() => EthernetFrame.checked(QINQ, 5, 5));
    expect([e0.code, e0.offset]).toEqual(['WIRE_TRUNCATED', 5]);
  });

  it('rejects a truncated tag with its offset', () => {
    const e = catchWire(() => EthernetFrame.checked(QINQ, 0, 17));
    expect([e.code, e.field, e.offset]).toEqual(['WIRE_TRUNCATED', 'ieee8021ad', 17]);
    const e2 = catchWire(() => EthernetFrame.checked(QINQ, 0, 21));
    expect([e2.code, e2.field, e2.offset]).toEqual(['WIRE_TRUNCATED', 'vlan', 21]);
  });

  it('emit rejects what would not parse back', () => {
    const r = EthernetRepr.parse(new EthernetFrame().reset(QINQ, 0, QINQ.length));
    const f = new EthernetFrame().reset(new Uint8Array(32), 0, 32);
    expect(catchWire(() => EthernetRepr.emit({ ...r, dst: new Uint8Array(5) }, f)).code).toBe('WIRE_BAD_VALUE');
    expect(catchWire(() => EthernetRepr.emit({ ...r, ethertype: 0x05dc }, f)).field).toBe('eth.type');
    const bad = catchWire(() => EthernetRepr.emit({ ...r, vlans: [{ tpid: 0x0800, pcp: 0, dei: 0, vid: 1 }] }, f));
    expect([bad.code, bad.offset]).toEqual(['WIRE_BAD_VALUE', 12]);
  });

  it('truncating at every offset gives WIRE_TRUNCATED at the cut (view and dissector)', () => {
    for (let k = 0; k < ETH_HEADER_LEN + 8; k++) {
      const cut = QINQ.slice(0, k);
      const e = catchWire(() => EthernetRepr.parse(new EthernetFrame().reset(cut, 0, k)));
      expect([e.code, e.offset]).toEqual(['WIRE_TRUNCATED', k]);
      const d = catchWire(() => dissectEthernet(new DissectCtx(cut, new Map()), 0, k));
      expect([d.code, d.offset]).toEqual(['WIRE_TRUNCATED', k]);
    }
  });

  it('names EtherTypes, never undefined', () => {
    expect(etherTypeName(ETH_TYPE_IPV4)).toBe('IPv4');
    expect(etherTypeName(ETH_TYPE_ARP)).toBe('ARP');
    expect(etherTypeName(ETH_TYPE_TEB)).toBe('Transparent Ethernet Bridging');
    expect(etherTypeName(0x88cc)).toBe('LLDP');
    expect(etherTypeName(0x88b5)).toBe('0x88b5');
    expect(etherTypeName(46)).toBe('Length 46');
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffff }), (t) => {
      expect(typeof etherTypeName(t)).toBe('string');
      expect(etherTypeName(t).length).toBeGreaterThan(0);
    }));
  });

  it('dissects eth and one layer per tag', () => {
    const ctx = new DissectCtx(QINQ, new Map());
    const next = dissectEthernet(ctx, 0, QINQ.length);
    expect(next).toEqual({ kind: 'ethertype', type: ETH_TYPE_IPV6, off: 22, end: QINQ.length });
    expect(ctx.layers.map((l) => [l.proto, l.offset, l.length])).toEqual([['eth', 0, 14], ['ieee8021ad', 14, 4], ['vlan', 18, 4]]);
    expect(fields(ctx.layers[0]!)).toMatchObject({ 'eth.type': '0x88a8', 'eth.addr': '02:00:00:00:00:02,02:00:00:00:00:01' });
    expect(fields(ctx.layers[1]!)).toEqual({
      'ieee8021ad.priority': '3', 'ieee8021ad.dei': '1', 'ieee8021ad.id': '200', 'ieee8021ah.etype': '0x8100',
    });
    expect(fields(ctx.layers[2]!)).toEqual({ 'vlan.priority': '5', 'vlan.dei': '0', 'vlan.id': '100', 'vlan.etype': '0x86dd' });
  });

  it('dissects an 802.3 frame as eth.len and data', () => {
    const ctx = new DissectCtx(DOT3, new Map());
    expect(dissectEthernet(ctx, 0, DOT3.length)).toEqual({ kind: 'data', off: 14, end: 20 });
    expect(fields(ctx.layers[0]!)['eth.len']).toBe('6');
  });

  it('property: parse(emit(x)) == x', () => {
    const mac = fc.uint8Array({ minLength: 6, maxLength: 6 });
    const tag = fc.record({
      tpid: fc.constantFrom(ETH_TYPE_VLAN, ETH_TYPE_QINQ, ETH_TYPE_QINQ_OLD),
      pcp: fc.integer({ min: 0, max: 7 }), dei: fc.integer({ min: 0, max: 1 }), vid: fc.integer({ min: 0, max: 4095 }),
    });
    const ethertype = fc.integer({ min: 0x0600, max: 0xffff }).filter((t) => t !== ETH_TYPE_VLAN && t !== ETH_TYPE_QINQ && t !== ETH_TYPE_QINQ_OLD);
    fc.assert(fc.property(mac, mac, fc.array(tag, { maxLength: 3 }), ethertype, (dst, src, vlans: VlanRepr[], t) => {
      const r: EthernetRepr = { dst, src, vlans, ethertype: t };
      const buf = new Uint8Array(EthernetRepr.bufferLen(r));
      EthernetRepr.emit(r, new EthernetFrame().reset(buf, 0, buf.length));
      expect(EthernetRepr.parse(new EthernetFrame().reset(buf, 0, buf.length))).toEqual(r);
    }));
  });

  it('property: arbitrary bytes raise only WireError (Repr and dissector)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), (b) => {
      try { EthernetRepr.parse(new EthernetFrame().reset(b, 0, b.length)); } catch (e) { expect(e).toBeInstanceOf(WireError); }
      try { dissectEthernet(new DissectCtx(b, new Map()), 0, b.length); } catch (e) { expect(e).toBeInstanceOf(WireError); }
    }));
  });

  it('property: tagged frames of random TPIDs walk to the innermost type', () => {
    fc.assert(fc.property(fc.array(fc.constantFrom(ETH_TYPE_VLAN, ETH_TYPE_QINQ, ETH_TYPE_QINQ_OLD), { maxLength: 6 }), (tpids) => {
      const b = new Uint8Array(14 + 4 * tpids.length + 2);
      tpids.forEach((t, i) => { b[12 + 4 * i] = t >>> 8; b[13 + 4 * i] = t & 0xff; });
      b[12 + 4 * tpids.length] = 0x08;
      const f = EthernetFrame.checked(b);
      expect([f.tagCount, f.innerType, f.payloadOff]).toEqual([tpids.length, 0x0800, 14 + 4 * tpids.length]);
    }));
  });
});

describeWith('scapy', 'ethernet vs scapy', () => {
  it('emits the header scapy builds', () => {
    const want = scapyBytes("Ether(dst='aa:bb:cc:dd:ee:ff',src='00:11:22:33:44:55')/Dot1Q(prio=7,id=1,vlan=4094)/Dot1Q(vlan=1,type=0x0806)");
    const r: EthernetRepr = {
      dst: hexBytes('aabbccddeeff'), src: hexBytes('001122334455'),
      vlans: [{ tpid: ETH_TYPE_VLAN, pcp: 7, dei: 1, vid: 4094 }, { tpid: ETH_TYPE_VLAN, pcp: 0, dei: 0, vid: 1 }],
      ethertype: ETH_TYPE_ARP,
    };
    const buf = new Uint8Array(EthernetRepr.bufferLen(r));
    EthernetRepr.emit(r, new EthernetFrame().reset(buf, 0, buf.length));
    expect(hex(buf)).toBe(hex(want));
  });
});

describeWith('tshark', 'ethernet dissector vs tshark', () => {
  it('prints every eth/vlan/ieee8021ad field as tshark does', () => {
    // frames: untagged, 802.1Q, QinQ 88a8+8100, 0x9100, two 88a8 tags (one tshark layer), 802.3/LLC,
    // 802.1Q carrying an 802.3 length, broadcast ARP, three stacked tags
    const frames = [
      hexBytes('ffffffffffff0200000000010800' + '45'.padEnd(40, '0')),
      hexBytes('0000000000010a0000000002810020640800' + '00'.repeat(20)),
      QINQ,
      hexBytes('0200000000020200000000019100012c0800' + '00'.repeat(20)),
      hexBytes('02000000000202000000000188a8006488a8a0c80800' + '00'.repeat(20)),
      DOT3,
      hexBytes('020000000002020000000001810000640010' + 'aa'.repeat(16)),
      hexBytes('ffffffffffff020000000001080600010800060400010200000000010a0000010000000000000a000002'),
      hexBytes('0200000000020200000000018100006481000c8088a8000186dd' + '00'.repeat(40)),
    ];
    compareWithTshark(frames);
  });
});

/** Run our dissector on each frame and check every eth/vlan/ieee8021ad field it emits against tshark. */
function compareWithTshark(frames: Uint8Array[]): void {
  const ours = frames.map((f) => {
    const ctx = new DissectCtx(f, new Map());
    dissectEthernet(ctx, 0, f.length);
    return joined(ctx.layers);
  });
  const names = [...new Set(ours.flatMap((m) => [...m.keys()]))];
  const { path, cleanup } = writeTempPcap(frames);
  try {
    const theirs = tsharkFields(path, names);
    expect(theirs.length).toBe(frames.length);
    ours.forEach((m, i) => {
      for (const [k, v] of m) expect({ frame: i + 1, field: k, value: theirs[i]![k] }).toEqual({ frame: i + 1, field: k, value: v });
    });
  } finally {
    cleanup();
  }
}

