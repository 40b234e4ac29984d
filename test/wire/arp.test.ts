import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ARP_ETH_IPV4_LEN, ARP_HRD_ETHERNET, ARP_OP_REPLY, ARP_OP_REQUEST, ARP_PRO_IPV4, ArpPacket, ArpRepr,
} from '../../src/wire/arp.js';
import { DissectCtx, type DissectLayer } from '../../src/wire/dissect.js';
import { dissectArp } from '../../src/wire/dissect/arp.js';
import { dissectEthernet } from '../../src/wire/dissect/ethernet.js';
import { WireError } from '../../src/errors.js';
import { describeWith, scapyBytes, tsharkFields, writeTempPcap } from '../oracle/tools.js';
import { catchWire, fieldOf, hex, hexBytes, joined } from '../oracle/wire.js';

// /usr/bin/python3 -c "from scapy.all import *; print(bytes(Ether(dst='ff:ff:ff:ff:ff:ff',src='02:00:00:00:00:01')/ARP(op=1,hwsrc='02:00:00:00:00:01',psrc='10.0.0.1',pdst='10.0.0.2')).hex())"
const FRAME_HEX = 'ffffffffffff020000000001080600010800060400010200000000010a0000010000000000000a000002';
const FRAME = hexBytes(FRAME_HEX);
const ARP_HEX = FRAME_HEX.slice(28);
const ARP = hexBytes(ARP_HEX);

describe('arp', () => {
  it('deconstructs every field', () => {
    const p = ArpPacket.checked(ARP);
    expect([p.hwType(), p.protoType(), p.hwSize(), p.protoSize(), p.opcode()]).toEqual([1, 0x0800, 6, 4, ARP_OP_REQUEST]);
    expect([p.shaOffset(), p.spaOffset(), p.thaOffset(), p.tpaOffset(), p.packetLen()]).toEqual([8, 14, 18, 24, 28]);
    expect(p.isEthIpv4()).toBe(true);
    expect([p.shaHi16(), p.shaLo32(), p.spa()]).toEqual([0x0200, 1, 0x0a000001]);
    expect([p.thaHi16(), p.thaLo32(), p.tpa()]).toEqual([0, 0, 0x0a000002]);
  });

  it('constructs into a 0xa5-filled buffer', () => {
    const buf = new Uint8Array(ARP.length).fill(0xa5);
    const p = new ArpPacket().reset(buf, 0, buf.length);
    p.setHwType(ARP_HRD_ETHERNET); p.setProtoType(ARP_PRO_IPV4); p.setHwSize(6); p.setProtoSize(4);
    p.setOpcode(ARP_OP_REQUEST); p.setShaHiLo(0x0200, 1); p.setSpa(0x0a000001); p.setThaHiLo(0, 0); p.setTpa(0x0a000002);
    expect(hex(buf)).toBe(ARP_HEX);
  });

  it('parses and emits', () => {
    const r = ArpRepr.parse(new ArpPacket().reset(ARP, 0, ARP.length));
    expect(r).toEqual({ opcode: 1, sha: hexBytes('020000000001'), spa: 0x0a000001, tha: new Uint8Array(6), tpa: 0x0a000002 });
    expect(ArpRepr.bufferLen(r)).toBe(ARP_ETH_IPV4_LEN);
    const buf = new Uint8Array(28).fill(0xa5);
    ArpRepr.emit(r, new ArpPacket().reset(buf, 0, 28));
    expect(hex(buf)).toBe(ARP_HEX);
  });

  it('reads other address sizes safely with the generic accessors', () => {
    // hw type 6 (IEEE 802), 8-byte hardware and 16-byte protocol addresses
    const b = hexBytes('000686dd0810' + '0003' + '01'.repeat(8) + '02'.repeat(16) + '03'.repeat(8) + '04'.repeat(16));
    const p = ArpPacket.checked(b);
    expect(p.isEthIpv4()).toBe(false);
    expect([p.shaOffset(), p.spaOffset(), p.thaOffset(), p.tpaOffset(), p.packetLen()]).toEqual([8, 16, 32, 40, 56]);
    expect(b[p.tpaOffset()]).toBe(4);
    const zero = ArpPacket.checked(hexBytes('0001080000000001'));
    expect([zero.packetLen(), zero.tpaOffset()]).toEqual([8, 8]);
  });

  it('Repr.parse rejects other kinds as unsupported, naming the field', () => {
    const cases: [string, string, number][] = [
      ['000f', 'arp.hw.type', 0], ['86dd', 'arp.proto.type', 2],
    ];
    for (const [v, field, at] of cases) {
      const b = ARP.slice(); b.set(hexBytes(v), at);
      const e = catchWire(() => ArpRepr.parse(new ArpPacket().reset(b, 0, b.length)));
      expect([e.code, e.field, e.offset]).toEqual(['WIRE_UNSUPPORTED', field, at]);
    }
    const h = hexBytes('0001080008040001' + '00'.repeat(24));
    expect(fieldOf(() => ArpRepr.parse(new ArpPacket().reset(h, 0, h.length)))).toEqual(['WIRE_UNSUPPORTED', 'arp.hw.size', 4]);
    const pl = hexBytes('0001080006100001' + '00'.repeat(44));
    expect(fieldOf(() => ArpRepr.parse(new ArpPacket().reset(pl, 0, pl.length)))).toEqual(['WIRE_UNSUPPORTED', 'arp.proto.size', 5]);
  });

  it('rejects a truncated packet with its offset', () => {
    expect(fieldOf(() => ArpPacket.checked(ARP, 0, 7))).toEqual(['WIRE_TRUNCATED', 'arp', 7]);
    expect(fieldOf(() => ArpPacket.checked(ARP, 0, 27))).toEqual(['WIRE_TRUNCATED', 'arp', 27]);
    // the sizes declare more than is present
    const big = ARP.slice(); big[4] = 200;
    expect(fieldOf(() => ArpPacket.checked(big))).toEqual(['WIRE_TRUNCATED', 'arp', 28]);
  });

  it('emit rejects a MAC that is not 6 bytes', () => {
    const r = ArpRepr.parse(new ArpPacket().reset(ARP, 0, ARP.length));
    expect(fieldOf(() => ArpRepr.emit({ ...r, tha: new Uint8Array(4) }, new ArpPacket().reset(new Uint8Array(28), 0, 28))))
      .toEqual(['WIRE_BAD_VALUE', 'arp.dst.hw_mac', 18]);
  });

  it('truncating the frame at every offset gives WIRE_TRUNCATED at the cut', () => {
    for (let k = 14; k < FRAME.length; k++) {
      const e = catchWire(() => ArpRepr.parse(new ArpPacket().reset(FRAME.slice(0, k), 14, k)));
      expect([e.code, e.offset]).toEqual(['WIRE_TRUNCATED', k]);
      const d = catchWire(() => run(FRAME.slice(0, k)));
      expect([d.code, d.offset]).toEqual(['WIRE_TRUNCATED', k]);
    }
  });

  it('dissects a request and stops', () => {
    const ctx = new DissectCtx(FRAME, new Map());
    expect(dissectArp(ctx, 14, FRAME.length)).toEqual({ kind: 'end' });
    expect(ctx.layers[0]!.length).toBe(28);
    expect(Object.fromEntries(ctx.layers[0]!.fields)).toEqual({
      'arp.hw.type': '1', 'arp.proto.type': '0x0800', 'arp.hw.size': '6', 'arp.proto.size': '4', 'arp.opcode': '1',
      'arp.src.hw_mac': '02:00:00:00:00:01', 'arp.src.proto_ipv4': '10.0.0.1',
      'arp.dst.hw_mac': '00:00:00:00:00:00', 'arp.dst.proto_ipv4': '10.0.0.2',
    });
  });

  it('property: parse(emit(x)) == x', () => {
    const mac = fc.uint8Array({ minLength: 6, maxLength: 6 });
    const ip = fc.integer({ min: 0, max: 0xffffffff });
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffff }), mac, ip, mac, ip, (opcode, sha, spa, tha, tpa) => {
      const r: ArpRepr = { opcode, sha, spa, tha, tpa };
      const buf = new Uint8Array(28);
      ArpRepr.emit(r, new ArpPacket().reset(buf, 0, 28));
      expect(ArpRepr.parse(new ArpPacket().reset(buf, 0, 28))).toEqual(r);
    }));
  });

  it('property: arbitrary bytes raise only WireError (Repr and dissector)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
      try { ArpRepr.parse(new ArpPacket().reset(b, 0, b.length)); } catch (e) { expect(e).toBeInstanceOf(WireError); }
      try { dissectArp(new DissectCtx(b, new Map()), 0, b.length); } catch (e) { expect(e).toBeInstanceOf(WireError); }
    }));
  });
});

describeWith('scapy', 'arp vs scapy', () => {
  it('emits the reply scapy builds', () => {
    const want = scapyBytes("ARP(op=2,hwsrc='aa:bb:cc:dd:ee:ff',psrc='192.168.1.1',hwdst='00:11:22:33:44:55',pdst='192.168.1.200')");
    const buf = new Uint8Array(28);
    ArpRepr.emit({ opcode: ARP_OP_REPLY, sha: hexBytes('aabbccddeeff'), spa: 0xc0a80101, tha: hexBytes('001122334455'), tpa: 0xc0a801c8 },
      new ArpPacket().reset(buf, 0, 28));
    expect(hex(buf)).toBe(hex(want));
  });
});

describeWith('tshark', 'arp dissector vs tshark', () => {
  it('prints every arp field as tshark does', () => {
    const eth = 'ffffffffffff0200000000010806';
    const frames = [
      FRAME,
      // reply; gratuitous request (announcement); probe from 0.0.0.0; gratuitous reply
      hexBytes(eth + '000108000604' + '0002' + '020000000001' + '0a000001' + '020000000003' + '0a000003'),
      hexBytes(eth + '000108000604' + '0001' + '020000000001' + '0a000001' + '000000000000' + '0a000001'),
      hexBytes(eth + '000108000604' + '0001' + '020000000001' + '00000000' + '000000000000' + '0a000009'),
      hexBytes(eth + '000108000604' + '0002' + '020000000001' + '0a000001' + '020000000001' + '0a000001'),
      // IEEE 802 hardware; AX.25 IP protocol id; other sizes; zero sizes; unknown opcode; padded to 60 bytes
      hexBytes(eth + '000608000604' + '0001' + '020000000001' + '0a000001' + '000000000000' + '0a000002'),
      hexBytes(eth + '000100cc0604' + '0001' + '020000000001' + '0a000001' + '000000000000' + '0a000002'),
      hexBytes(eth + '000686dd0810' + '0003' + '01'.repeat(8) + '02'.repeat(16) + '03'.repeat(8) + '04'.repeat(16)),
      hexBytes(eth + '000f08000604' + '0001' + '020000000001' + '0a000001' + '000000000000' + '0a000002'),
      hexBytes(eth + '000108000000' + '0001'),
      hexBytes(eth + '000108000604' + '0009' + '020000000001' + '01020304' + '000000000000' + '05060708'),
      hexBytes(eth + '000108000604' + '0001' + '010101010101' + '02020202' + '030303030303' + '04040404' + '00'.repeat(18)),
      // gratuitous with odd sizes: 16- and 2-byte protocol addresses, no hardware address, 4-byte hardware addresses
      hexBytes(eth + '000186dd0610' + '0001' + '020000000001' + '02'.repeat(16) + '000000000000' + '02'.repeat(16)),
      hexBytes(eth + '000108000602' + '0001' + '020000000001' + '0a00' + '000000000000' + '0a00'),
      hexBytes(eth + '000108000004' + '0001' + '0a000001' + '0a000001'),
      hexBytes(eth + '000108000404' + '0001' + '01010101' + '0a000001' + '00000000' + '0a000001'),
      hexBytes(eth + '000108000404' + '0001' + '01010101' + '00000000' + '00000000' + '0a000002'),
    ];
    compareWithTshark(frames, ['arp']);
  });
});

function run(frame: Uint8Array): DissectLayer[] {
  const ctx = new DissectCtx(frame, new Map());
  const n = dissectEthernet(ctx, 0, frame.length);
  if (n.kind === 'ethertype' && n.type === 0x0806) dissectArp(ctx, n.off, n.end);
  return ctx.layers;
}

/** Check every field our dissector emits in layers 'protos' against tshark's output for the same frames. */
function compareWithTshark(frames: Uint8Array[], protos: string[]): void {
  const ours = frames.map((f) => joined(run(f).filter((l) => protos.includes(l.proto))));
  const names = [...new Set(ours.flatMap((m) => [...m.keys()]))];
  const { path, cleanup } = writeTempPcap(frames);
  try {
    const theirs = tsharkFields(path, names);
    expect(theirs.length).toBe(frames.length);
    ours.forEach((m, i) => {
      expect(m.size).toBeGreaterThan(0);
      for (const [k, v] of m) expect({ frame: i + 1, field: k, value: theirs[i]![k] }).toEqual({ frame: i + 1, field: k, value: v });
      // and tshark prints none of these fields that we left out
      for (const k of names) if (!m.has(k)) expect({ frame: i + 1, field: k, value: theirs[i]![k] }).toEqual({ frame: i + 1, field: k, value: '' });
    });
  } finally {
    cleanup();
  }
}

