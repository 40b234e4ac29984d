import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PcapReader, readPcap } from '../../src/pcap/reader.js';
import type { PcapRecord } from '../../src/pcap/format.js';
import { PcapError } from '../../src/errors.js';
import { Bytes, classicPcap, concat, epb, frame, idb, pb, shb, spb, block } from './build.js';

const F60 = frame(60, 1), F61 = frame(61, 2), F100 = frame(100, 3);

/** Read everything: the records before the fault and the fault (or null). */
function readAll(bytes: Uint8Array, chunk = bytes.length || 1, opts = {}): { recs: PcapRecord[]; err: PcapError | null } {
  const r = new PcapReader(opts);
  const recs: PcapRecord[] = [];
  let err: PcapError | null = null;
  try {
    for (let o = 0; o < bytes.length; o += chunk) {
      r.push(bytes.subarray(o, Math.min(o + chunk, bytes.length)));
      for (const x of r.records()) recs.push(x);
    }
    r.end();
    for (const x of r.records()) recs.push(x);
  } catch (e) {
    if (!(e instanceof PcapError)) throw e;
    err = e;
  }
  return { recs, err };
}

function summary(r: PcapRecord): unknown[] {
  return [r.interfaceId, r.linktype, r.tsSec, r.tsNsec, r.capLen, r.origLen, Buffer.from(r.data).toString('hex')];
}

describe('classic pcap', () => {
  for (const endian of ['le', 'be'] as const) {
    it(`reads µs and ns files in ${endian} order`, () => {
      const us = classicPcap(endian, [{ sec: 1700000000, frac: 123456, data: F60 }, { sec: 1700000001, frac: 999999, data: F61, orig: 1514 }],
        { linktype: 1, snaplen: 65535 });
      const r = new PcapReader();
      r.push(us);
      r.end();
      expect([...r.records()].map(summary)).toEqual([
        [0, 1, 1700000000, 123456000, 60, 60, Buffer.from(F60).toString('hex')],
        [0, 1, 1700000001, 999999000, 61, 1514, Buffer.from(F61).toString('hex')],
      ]);
      expect([r.format, r.byteOrder, r.nanosecond, r.sections, r.offset]).toEqual(['pcap', endian, false, 1, 24 + 16 + 60 + 16 + 61]);
      expect(r.interfaces).toEqual([{ linktype: 1, snaplen: 65535, unitsPerSec: 1000000n, tsOffsetSec: 0, name: '' }]);
      const ns = classicPcap(endian, [{ sec: 5, frac: 123456789, data: F60 }], { magic: 0xa1b23c4d, linktype: 101 });
      const { recs, err } = readAll(ns);
      expect(err).toBeNull();
      expect(recs.map((x) => [x.linktype, x.tsSec, x.tsNsec])).toEqual([[101, 5, 123456789]]);
    });
  }

  it('keeps only the link type of the linktype field (upper bits are FCS information)', () => {
    const { recs } = readAll(classicPcap('le', [{ sec: 1, frac: 0, data: F60 }], { linktype: 0x14000001 }));
    expect(recs[0]!.linktype).toBe(1);
  });

  it('carries a µs/ns field of a second or more into the seconds', () => {
    const us = readAll(classicPcap('le', [{ sec: 1, frac: 2_000_001, data: F60 }])).recs[0]!;
    expect([us.tsSec, us.tsNsec]).toEqual([3, 1000]);
    const ns = readAll(classicPcap('be', [{ sec: 1, frac: 4_000_000_000, data: F60 }], { magic: 0xa1b23c4d })).recs[0]!;
    expect([ns.tsSec, ns.tsNsec]).toEqual([5, 0]);
  });

  it('gives each record its own copy of the bytes', () => {
    const file = classicPcap('le', [{ sec: 1, frac: 0, data: F60 }]);
    const r = new PcapReader();
    const chunk = file.slice();
    r.push(chunk);
    chunk.fill(0);
    expect(r.next()!.data).toEqual(F60);
  });

  it('rejects a bad magic at offset 0', () => {
    const { recs, err } = readAll(Uint8Array.from([0x12, 0x34, 0x56, 0x78, ...new Array(40).fill(0)]));
    expect(recs).toEqual([]);
    expect([err?.code, err?.offset]).toEqual(['PCAP_BAD_MAGIC', 0]);
  });

  it('rejects an empty file as truncated', () => {
    const { err } = readAll(new Uint8Array(0));
    expect([err?.code, err?.offset]).toEqual(['PCAP_TRUNCATED', 0]);
  });

  it('rejects a captured length above 256 KiB after the good records, at the field', () => {
    const file = concat(classicPcap('le', [{ sec: 1, frac: 0, data: F60 }], { snaplen: 0x7fffffff }),
      new Bytes('le').u32(2).u32(0).u32(262145).u32(262145).done());
    const { recs, err } = readAll(file);
    expect(recs.length).toBe(1);
    expect([err?.code, err?.offset]).toEqual(['PCAP_BAD_RECORD', 24 + 16 + 60 + 8]);
  });

  it('rejects a captured length above the snaplen unless allowed', () => {
    const file = classicPcap('be', [{ sec: 1, frac: 0, data: F60 }, { sec: 2, frac: 0, data: F100 }], { snaplen: 64 });
    const strict = readAll(file);
    expect(strict.recs.length).toBe(1);
    expect([strict.err?.code, strict.err?.offset]).toEqual(['PCAP_BAD_RECORD', 24 + 76 + 8]);
    const lenient = readAll(file, file.length, { allowOverSnaplen: true });
    expect(lenient.err).toBeNull();
    expect(lenient.recs.map((r) => r.capLen)).toEqual([60, 100]);
    // snaplen 0: no limit
    expect(readAll(classicPcap('le', [{ sec: 2, frac: 0, data: F100 }], { snaplen: 0 })).err).toBeNull();
  });

  it('reports truncation at the start of the unfinished record, for every cut', () => {
    const file = classicPcap('le', [{ sec: 1, frac: 1, data: F60 }, { sec: 2, frac: 2, data: F61 }, { sec: 3, frac: 3, data: frame(0, 0) }]);
    const starts = [24, 24 + 76, 24 + 76 + 77, file.length];
    for (let cut = 0; cut <= file.length; cut++) {
      for (const chunk of [cut || 1, 7]) {
        const { recs, err } = readAll(file.subarray(0, cut), chunk);
        const complete = starts.filter((s, i) => i > 0 && s <= cut).length;
        expect(recs.length).toBe(complete);
        if (cut === file.length || (cut >= 24 && starts.includes(cut))) {
          expect(err).toBeNull();
        } else {
          const at = cut < 24 ? 0 : starts.filter((s) => s <= cut).at(-1)!;
          expect([cut, err?.code, err?.offset]).toEqual([cut, 'PCAP_TRUNCATED', at]);
        }
      }
    }
  });
});

describe('pcapng', () => {
  const LE_SECTION = concat(
    shb('le', [[4, new TextEncoder().encode('test')]]),
    idb('le', 1, 0, [[2, new TextEncoder().encode('eth0')]]), // default µs
    idb('le', 101, 65535, [[9, Uint8Array.of(9)]]), // ns
    idb('le', 1, 0, [[9, Uint8Array.of(0x80 | 10)], [14, Uint8Array.of(100, 0, 0, 0, 0, 0, 0, 0)]]), // 2^-10 s, +100 s
    epb('le', 0, 1700000000123456n, F60),
    block('le', 4, new Uint8Array(8)), // a name resolution block: skipped
    epb('le', 1, 1700000000123456789n, F61, 1000),
    epb('le', 2, (1700000000n << 10n) + 1023n, F100),
    spb('le', F60),
    pb('le', 1, 5000000007n, F61),
    block('le', 0x40000bad, Uint8Array.of(1, 2, 3, 4)), // custom/unknown: skipped
  );
  const BE_SECTION = concat(
    shb('be'),
    idb('be', 113, 0, [[9, Uint8Array.of(0x80 | 30)]]),
    epb('be', 0, (1700000000n << 30n) + (1n << 30n) - 1n, F100),
    idb('be', 1, 0, [[9, Uint8Array.of(12)]]), // an interface described after packets of another
    epb('be', 1, 12345678123456789012n, F60),
  );

  it('reads several sections in both byte orders, several interfaces and every packet block', () => {
    const r = new PcapReader();
    r.push(concat(LE_SECTION, BE_SECTION));
    r.end();
    expect([...r.records()].map((x) => summary(x).slice(0, 6))).toEqual([
      [0, 1, 1700000000, 123456000, 60, 60],
      [1, 101, 1700000000, 123456789, 61, 1000],
      [2, 1, 1700000100, 999023437, 100, 100], // 1023/1024 s, floored to ns, plus if_tsoffset
      [0, 1, 0, 0, 60, 60], // SPB: no timestamp
      [1, 101, 5, 7, 61, 61], // obsolete PB
      [0, 113, 1700000000, 999999999, 100, 100],
      [1, 1, 12345678, 123456789, 60, 60], // ps resolution, exact
    ]);
    expect([r.format, r.byteOrder, r.sections]).toEqual(['pcapng', 'be', 2]);
    expect(r.interfaces.map((i) => [i.linktype, i.unitsPerSec])).toEqual([[113, 1n << 30n], [1, 10n ** 12n]]);
  });

  it('exposes interface names, snaplens and resolutions', () => {
    const r = new PcapReader();
    r.push(LE_SECTION);
    expect(r.interfaces).toEqual([
      { linktype: 1, snaplen: 0, unitsPerSec: 1000000n, tsOffsetSec: 0, name: 'eth0' },
      { linktype: 101, snaplen: 65535, unitsPerSec: 1000000000n, tsOffsetSec: 0, name: '' },
      { linktype: 1, snaplen: 0, unitsPerSec: 1024n, tsOffsetSec: 100, name: '' },
    ]);
  });

  it('gives the same records for any chunking', () => {
    const file = concat(LE_SECTION, BE_SECTION);
    const whole = readAll(file).recs.map(summary);
    fc.assert(fc.property(fc.integer({ min: 1, max: file.length }), (chunk) => {
      const { recs, err } = readAll(file, chunk);
      expect(err).toBeNull();
      expect(recs.map(summary)).toEqual(whole);
    }), { numRuns: 60 });
  });

  it('reports truncation at the start of the unfinished block, for every cut', () => {
    const file = concat(shb('le'), idb('le', 1, 0), epb('le', 0, 1n, F60), epb('le', 0, 2n, F61), spb('le', frame(5, 5)));
    const starts: number[] = [];
    for (let o = 0; o < file.length; o += new DataView(file.buffer, file.byteOffset).getUint32(o + 4, true)) starts.push(o);
    starts.push(file.length);
    const packetBlocksBefore = (cut: number): number => starts.filter((s, i) => i >= 2 && i < starts.length - 1 && starts[i + 1]! <= cut).length;
    for (let cut = 0; cut <= file.length; cut++) {
      const { recs, err } = readAll(file.subarray(0, cut), 5);
      expect(recs.length).toBe(packetBlocksBefore(cut));
      if (cut > 0 && starts.includes(cut)) expect(err).toBeNull();
      else expect([cut, err?.code, err?.offset]).toEqual([cut, 'PCAP_TRUNCATED', starts.filter((s) => s <= cut).at(-1)]);
    }
  });

  const base = concat(shb('le'), idb('le', 1, 0));

  it('rejects a block length that is too small, unaligned or absurd, at the length field', () => {
    for (const len of [8, 14, 0x7ffffff0]) {
      const bad = new Bytes('le').u32(6).u32(len).u32(0).done();
      const { recs, err } = readAll(concat(base, epb('le', 0, 1n, F60), bad));
      expect(recs.length).toBe(1);
      expect([len, err?.code, err?.offset]).toEqual([len, 'PCAP_BAD_BLOCK', base.length + 92 + 4]);
    }
  });

  it('rejects a trailer that does not repeat the length, at the trailer', () => {
    const b = block('le', 6, new Uint8Array(20), 99);
    const { err } = readAll(concat(base, b));
    expect([err?.code, err?.offset]).toEqual(['PCAP_BAD_BLOCK', base.length + b.length - 4]);
  });

  it('rejects a captured length that does not fit its block', () => {
    const { err } = readAll(concat(base, epb('le', 0, 1n, F60, 60, 61)));
    expect([err?.code, err?.offset]).toEqual(['PCAP_BAD_BLOCK', base.length + 20]);
  });

  it('rejects a packet on an undescribed interface', () => {
    const { recs, err } = readAll(concat(base, epb('le', 0, 1n, F60), epb('le', 1, 1n, F60)));
    expect(recs.length).toBe(1);
    expect([err?.code, err?.offset]).toEqual(['PCAP_NO_INTERFACE', base.length + 92 + 8]);
    const spbFirst = readAll(concat(shb('be'), spb('be', F60)));
    expect([spbFirst.err?.code, spbFirst.err?.offset]).toEqual(['PCAP_NO_INTERFACE', 28]);
    // a new section forgets the interfaces of the previous one
    const second = readAll(concat(base, shb('be'), epb('be', 0, 1n, F60)));
    expect([second.err?.code, second.err?.offset]).toEqual(['PCAP_NO_INTERFACE', base.length + 28 + 8]);
  });

  it('rejects captured lengths above 256 KiB and above the snaplen', () => {
    const big = readAll(concat(base, epb('le', 0, 1n, new Uint8Array(262145))));
    expect([big.err?.code, big.err?.offset]).toEqual(['PCAP_BAD_RECORD', base.length + 20]);
    const snap = concat(shb('le'), idb('le', 1, 64), epb('le', 0, 1n, F100));
    expect([readAll(snap).err?.code, readAll(snap).err?.offset]).toEqual(['PCAP_BAD_RECORD', 28 + 20 + 20]);
    expect(readAll(snap, snap.length, { allowOverSnaplen: true }).recs.length).toBe(1);
  });

  it('rejects an option that overruns its block, at the option', () => {
    const body = new Bytes('le').u16(1).u16(0).u32(0).u16(9).u16(8).u8(6).done();
    const { err } = readAll(concat(shb('le'), block('le', 1, body)));
    expect([err?.code, err?.offset]).toEqual(['PCAP_BAD_BLOCK', 28 + 16]);
  });

  it('rejects a bad byte-order magic and an unknown version', () => {
    const first = shb('le');
    first.set([1, 2, 3, 4], 8);
    expect([readAll(first).err?.code, readAll(first).err?.offset]).toEqual(['PCAP_BAD_MAGIC', 8]);
    const later = concat(base, first);
    expect([readAll(later).err?.code, readAll(later).err?.offset]).toEqual(['PCAP_BAD_BLOCK', base.length + 8]);
    const v2 = shb('le');
    v2[12] = 2;
    expect([readAll(v2).err?.code, readAll(v2).err?.offset]).toEqual(['PCAP_BAD_BLOCK', 12]);
  });

  it('keeps throwing the same error, and ignores input after it', () => {
    const r = new PcapReader();
    r.push(Uint8Array.of(1, 2, 3, 4));
    expect(r.failed).toBe(true);
    r.push(base);
    expect(() => r.next()).toThrow(PcapError);
    expect(() => r.next()).toThrow(/magic/);
  });
});

describe('readPcap', () => {
  it('yields every good record, then throws', () => {
    const file = concat(classicPcap('le', [{ sec: 1, frac: 0, data: F60 }, { sec: 2, frac: 0, data: F61 }]), Uint8Array.of(1, 2, 3));
    const seen: number[] = [];
    expect(() => { for (const r of readPcap(file)) seen.push(r.tsSec); }).toThrow(PcapError);
    expect(seen).toEqual([1, 2]);
  });
});

describe('properties', () => {
  const classicHeader = classicPcap('le', [], { snaplen: 0 });
  const ngHeader = concat(shb('be'), idb('be', 1, 0), idb('be', 1, 0, [[9, Uint8Array.of(0x85)]]));

  it('arbitrary bytes after a valid header raise only PcapError', () => {
    fc.assert(fc.property(fc.constantFrom(classicHeader, ngHeader), fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 1, max: 64 }),
      (header, tail, chunk) => {
        readAll(concat(header, tail), chunk); // throws anything but PcapError through
      }), { numRuns: 500 });
  });

  it('plausible pcapng blocks with arbitrary contents raise only PcapError', () => {
    const arbBlock = fc.record({
      type: fc.constantFrom(1, 2, 3, 5, 6, 0x0a0d0d0a, 0xdead),
      body: fc.uint8Array({ maxLength: 80 }),
      endian: fc.constantFrom<'le' | 'be'>('le', 'be'),
    }).map(({ type, body, endian }) => block(endian, type, body));
    fc.assert(fc.property(fc.array(arbBlock, { maxLength: 8 }), fc.integer({ min: 1, max: 50 }), (blocks, chunk) => {
      readAll(concat(ngHeader, ...blocks), chunk);
    }), { numRuns: 500 });
  });

  it('arbitrary bytes raise only PcapError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), (b) => {
      const { err } = readAll(b);
      expect(err).not.toBeNull();
    }));
  });
});

describe('pcapng timestamps out of range', () => {
  it('a 1-second if_tsresol with a huge timestamp is PCAP_BAD_RECORD at the timestamp, after the good records', () => {
    const file = concat(
      shb('le'),
      idb('le', 1, 0, [[9, Uint8Array.of(0)]]), // if_tsresol 10^0: whole seconds
      epb('le', 0, 1_700_000_000n, Uint8Array.of(1, 2, 3)),
      epb('le', 0, 1n << 62n, Uint8Array.of(4, 5, 6)),
    );
    const got: number[] = [];
    let err: unknown;
    try { for (const r of readPcap(file)) got.push(r.tsSec); } catch (e) { err = e; }
    expect(got).toEqual([1_700_000_000]);
    expect(err).toBeInstanceOf(PcapError);
    const shbLen = shb('le').length, idbLen = idb('le', 1, 0, [[9, Uint8Array.of(0)]]).length, epbLen = epb('le', 0, 0n, Uint8Array.of(1, 2, 3)).length;
    expect([(err as PcapError).code, (err as PcapError).offset]).toEqual(['PCAP_BAD_RECORD', shbLen + idbLen + epbLen + 12]);
  });
});

