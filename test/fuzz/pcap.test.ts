// Capture files against hostile input (issue 11): files built by the writers (classic pcap in both
// byte orders and resolutions, pcapng with several interfaces and sections) cut at every offset, with
// bytes changed, with a huge length declared, and random bytes, read whole or pushed in chunks of any
// size. The reader yields the good records, then a PcapError whose offset lies inside the file —
// never another exception, never a buffer the size of a lying length field.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PcapError } from '../../src/errors.js';
import { PcapReader, readPcap, writePcap, writePcapng, type PcapRecord, type PcapWriteRecord } from '../../src/pcap/index.js';

/** Runs per property (SDNEMU_FUZZ_RUNS explores more locally). */
const RUNS = Number(process.env.SDNEMU_FUZZ_RUNS ?? 1000);

const recs = (n: number, size = 20): PcapWriteRecord[] =>
  Array.from({ length: n }, (_, i) => ({ tsSec: 1_700_000_000 + i, tsNsec: i * 1001, data: Uint8Array.from({ length: size + i }, (_, k) => (k * 7 + i) & 255) }));

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** Valid files of every shape the reader reads. */
const FILES: [string, Uint8Array][] = [
  ['pcap µs little-endian', writePcap(recs(3))],
  ['pcap ns big-endian', writePcap(recs(3), { nanosecond: true, byteOrder: 'be', linktype: 101 })],
  ['pcapng two interfaces', writePcapng([...recs(2), { ...recs(1)[0]!, interfaceId: 1 }], { interfaces: [{ name: 'eth0' }, { nanosecond: true, snaplen: 0, linktype: 113 }] })],
  ['pcapng big-endian', writePcapng(recs(2), { byteOrder: 'be', interfaces: [{ name: 'p1', nanosecond: true }] })],
  // a second section (its own byte order) after the first
  ['pcapng two sections', concat(writePcapng(recs(1)), writePcapng(recs(2), { byteOrder: 'be', application: '' }))],
];

interface Outcome { records: PcapRecord[]; error: PcapError | null }

/** Read 'b' whole: its records, then its PcapError (any other exception fails the test). */
function readAll(b: Uint8Array): Outcome {
  const records: PcapRecord[] = [];
  try {
    for (const r of readPcap(b)) records.push(r);
    return { records, error: null };
  } catch (e) {
    if (!(e instanceof PcapError)) throw e;
    expect(e.offset, e.message).toBeGreaterThanOrEqual(0);
    expect(e.offset, e.message).toBeLessThanOrEqual(b.length);
    expect(e.code).toMatch(/^PCAP_(BAD_MAGIC|TRUNCATED|BAD_RECORD|BAD_BLOCK|NO_INTERFACE)$/);
    return { records, error: e };
  }
}

/** Read 'b' pushed in chunks of the given sizes (cycled). */
function readChunked(b: Uint8Array, sizes: number[]): Outcome {
  const r = new PcapReader();
  const records: PcapRecord[] = [];
  try {
    for (let o = 0, k = 0; o < b.length; k++) {
      const n = sizes[k % sizes.length]!;
      r.push(b.subarray(o, o + n));
      o += n;
      for (const x of r.records()) records.push(x);
    }
    r.end();
    for (const x of r.records()) records.push(x);
    return { records, error: null };
  } catch (e) {
    if (!(e instanceof PcapError)) throw e;
    return { records, error: e };
  }
}

const summary = (o: Outcome): unknown => ({
  records: o.records.map((r) => [r.interfaceId, r.linktype, r.tsSec, r.tsNsec, r.origLen, Array.from(r.data)]),
  error: o.error && [o.error.code, o.error.offset],
});

describe('capture files under hostile input', () => {
  it.each(FILES)('%s: read whole, then cut at every offset: a prefix of its records, then PCAP_TRUNCATED (unless cut between blocks)', (_name, file) => {
    const whole = readAll(file);
    expect(whole.error).toBeNull();
    let cutShort = 0;
    for (let cut = 0; cut < file.length; cut++) {
      const o = readAll(file.subarray(0, cut));
      if (o.error !== null) {
        cutShort++;
        expect(o.error.code, `cut at ${cut}`).toBe('PCAP_TRUNCATED');
        expect(o.error.offset).toBeLessThan(cut === 0 ? 1 : cut);
      }
      expect(summary({ records: o.records, error: null })).toEqual(summary({ records: whole.records.slice(0, o.records.length), error: null }));
    }
    expect(cutShort).toBeGreaterThan(file.length - 12);
  });

  it('files with up to 6 bytes changed: records then a PcapError, the same whatever the chunking', () => {
    fc.assert(fc.property(fc.nat(FILES.length - 1), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 6 }),
      fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 5 }), (k, muts, sizes) => {
        const b = FILES[k]![1].slice();
        for (const [pos, v] of muts) b[pos % b.length] = v;
        const whole = readAll(b);
        expect(summary(readChunked(b, sizes))).toEqual(summary(whole));
      }), { numRuns: RUNS * 3 });
  });

  it('a 32-bit word of a valid file replaced by any value (the lengths, magics, interface ids)', () => {
    fc.assert(fc.property(fc.nat(FILES.length - 1), fc.nat(), fc.oneof(fc.constantFrom(0, 1, 3, 0xffffffff, 0x7fffffff, 0x1000000, 262145, 0x0a0d0d0a), fc.nat()), (k, at, v) => {
      const b = FILES[k]![1].slice();
      const o = (at % (b.length >>> 2)) << 2;
      new DataView(b.buffer).setUint32(o, v >>> 0, at % 2 === 0);
      readAll(b);
    }), { numRuns: RUNS * 3 });
  });

  it('random bytes, alone or after a valid file header: only PcapError', () => {
    const heads = [new Uint8Array(0), FILES[0]![1].subarray(0, 24), FILES[2]![1].subarray(0, FILES[2]![1].indexOf(1, 8) + 64)];
    fc.assert(fc.property(fc.constantFrom(...heads), fc.uint8Array({ maxLength: 300 }), (h, tail) => { readAll(concat(h, tail)); }), { numRuns: RUNS * 3 });
  });

  it('a block or record declaring a huge length waits for bytes it never gets: no buffer of that size', () => {
    const ng = FILES[2]![1].slice();
    const shbLen = new DataView(ng.buffer).getUint32(4, true);
    // the first IDB claims 16 MiB (the largest block accepted); 64 KiB of the file follows
    new DataView(ng.buffer).setUint32(shbLen + 4, 16 * 1024 * 1024, true);
    const classic = FILES[0]![1].slice();
    new DataView(classic.buffer).setUint32(24 + 8, 262144, true);
    for (const b of [concat(ng, new Uint8Array(65536)), concat(classic, new Uint8Array(65536))]) {
      const r = new PcapReader();
      const before = process.memoryUsage().arrayBuffers;
      for (let o = 0; o < b.length; o += 4096) r.push(b.subarray(o, o + 4096));
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(4 * 1024 * 1024);
      r.end();
      expect(() => [...r.records()]).toThrow(PcapError);
    }
  });

  // A safety net against quadratic reading, not a speed test: the bound is generous.
  it('pathological files (a 1 MB option, 100 000 tiny blocks, 1-byte chunks) are read within seconds', () => {
    const ng = FILES[2]![1];
    const shbLen = new DataView(ng.buffer, ng.byteOffset).getUint32(4, true);
    const skip = Uint8Array.from([0xad, 0xde, 0, 0, 12, 0, 0, 0, 12, 0, 0, 0]); // an unknown block, skipped by length
    const tiny = new Uint8Array(12 * 100_000);
    for (let o = 0; o < tiny.length; o += 12) tiny.set(skip, o);
    const idb = new Uint8Array(20 + 1_000_000 + 4);
    const dv = new DataView(idb.buffer);
    dv.setUint32(0, 1, true); dv.setUint32(4, idb.length, true); dv.setUint16(8, 1, true);
    dv.setUint16(16, 2, true); dv.setUint16(18, 65535, true); // if_name of 65535 bytes, the rest skipped as options
    dv.setUint32(idb.length - 4, idb.length, true);
    const t0 = performance.now();
    const a = readAll(concat(ng.subarray(0, shbLen), tiny, idb, ng.subarray(shbLen)));
    expect(a.error).toBeNull();
    readChunked(FILES[0]![1], [1]);
    expect(performance.now() - t0).toBeLessThan(10_000);
  });
});
