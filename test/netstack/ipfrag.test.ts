// IPv4 fragmentation and reassembly: the fragments' layout, reassembly in any order, overlaps and
// timeouts; tshark reassembles our fragments and checks every checksum.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fragment, isFragment, Reassembler } from '../../src/netstack/ipfrag.js';
import { FrameBuilder } from '../../src/wire/builder.js';
import { be16 } from '../../src/wire/bytes.js';
import { describeWith, tsharkFields, writeTempPcap } from '../oracle/tools.js';

const datagram = (n: number, ident = 77): Uint8Array => new FrameBuilder().eth({}).ipv4({ src: '10.0.0.1', dst: '10.0.0.2', ttl: 64, ident })
  .udp({ srcPort: 1000, dstPort: 2000 }).payload(Uint8Array.from({ length: n }, (_, i) => (i * 7) & 0xff)).build();

describe('fragment', () => {
  it('splits at 8-byte multiples, MF on all but the last, offsets in 8-byte units, the header copied', () => {
    const f = datagram(2000);
    const parts = fragment(f, 1280);
    expect(parts.map((p) => [be16(p, 16), be16(p, 20)])).toEqual([[1276, 0x2000], [772, 157]]);
    expect(parts.every(isFragment)).toBe(true);
    expect(fragment(f, 3000)).toEqual([f]);
  });

  it('reassembles in any order to the original datagram (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 68, max: 1500 }), fc.integer(), (n, mtu, seed) => {
      const f = datagram(n);
      const parts = fragment(f, mtu);
      const order = parts.map((p, i) => ({ p, k: Math.imul(i + 1, seed | 1) >>> 0 })).sort((a, b) => a.k - b.k).map((x) => x.p);
      const r = new Reassembler();
      let whole: Uint8Array | null = null;
      for (const p of order) whole = r.add(p, 0) ?? whole;
      if (parts.length === 1) expect(parts[0]).toBe(f);
      else expect(Buffer.from(whole!).equals(Buffer.from(f))).toBe(true);
      expect(r.size).toBe(0);
    }));
  });

  it('an overlapping fragment drops the datagram; an incomplete one expires after 30 s with its first fragment', () => {
    const parts = fragment(datagram(3000), 1000);
    const r = new Reassembler();
    r.add(parts[0]!, 0);
    expect(r.add(parts[0]!, 0)).toBeNull();
    expect(r.dropped).toBe(1);
    r.add(parts[0]!, 0);
    expect(r.expired(29e9)).toEqual([]);
    const exp = r.expired(30e9);
    expect(exp.length).toBe(1);
    expect(be16(exp[0]!, 20)).toBe(0x2000);
  });
});

describeWith('tshark', 'fragments, as Wireshark reads them', () => {
  it('tshark reassembles them and finds every checksum good', () => {
    const parts = fragment(datagram(3000), 1400);
    const pcap = writeTempPcap(parts);
    try {
      const rows = tsharkFields(pcap.path, ['ip.flags.mf', 'ip.frag_offset', 'ip.checksum.status', 'udp.checksum.status', 'udp.length'],
        { prefs: ['ip.defragment:TRUE', 'udp.check_checksum:TRUE'] });
      expect(rows.map((r) => [r['ip.flags.mf'], r['ip.frag_offset'], r['ip.checksum.status']])).toEqual([['1', '0', '1'], ['1', '172', '1'], ['0', '344', '1']]);
      expect(rows[2]!['udp.checksum.status']).toBe('1');
      expect(rows[2]!['udp.length']).toBe('3008');
    } finally { pcap.cleanup(); }
  });
});
