import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { PcapFileWriter, readPcapFile } from '../../src/pcap/file.js';
import { readPcap } from '../../src/pcap/reader.js';
import type { PcapRecord } from '../../src/pcap/format.js';
import { PcapError } from '../../src/errors.js';
import { describeWith, tempDir } from '../oracle/tools.js';
import { frame } from './build.js';

/** Deterministic record 'i': sizes 14..1514, times 1 ms apart with odd nanoseconds. */
function rec(i: number): { tsSec: number; tsNsec: number; data: Uint8Array } {
  return { tsSec: 1700000000 + Math.floor(i / 1000), tsNsec: (i % 1000) * 1_000_000 + (i % 997), data: frame(14 + ((i * 7919) % 1501), i) };
}

async function collect(it: AsyncIterable<PcapRecord>): Promise<{ recs: PcapRecord[]; err: unknown }> {
  const recs: PcapRecord[] = [];
  let err: unknown = null;
  try { for await (const r of it) recs.push(r); } catch (e) { err = e; }
  return { recs, err };
}

describe('readPcapFile and PcapFileWriter', () => {
  it('streams a file many times larger than the chunk size', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'big.pcapng');
      const N = 12000;
      const w = await PcapFileWriter.create(path, { format: 'pcapng', interfaces: [{ nanosecond: true }, {}] });
      const wrote = createHash('sha256');
      for (let i = 0; i < N; i++) {
        const r = rec(i);
        wrote.update(r.data);
        await w.write({ ...r, interfaceId: i % 2 === 0 ? 0 : 1, tsNsec: i % 2 === 0 ? r.tsNsec : r.tsNsec - (r.tsNsec % 1000) });
      }
      await w.close();
      const size = statSync(path).size;
      const chunkSize = 64 * 1024;
      expect(size).toBeGreaterThan(100 * chunkSize);
      const read = createHash('sha256');
      let n = 0, lastSec = 0, bytes = 0;
      for await (const r of readPcapFile(path, { chunkSize })) {
        read.update(r.data);
        expect(r.interfaceId).toBe(n % 2);
        expect(r.tsNsec).toBe(n % 2 === 0 ? rec(n).tsNsec : rec(n).tsNsec - (rec(n).tsNsec % 1000));
        lastSec = r.tsSec;
        bytes += r.capLen;
        n++;
      }
      expect(n).toBe(N);
      expect(lastSec).toBe(rec(N - 1).tsSec);
      expect(bytes).toBeGreaterThan(size / 2);
      expect(read.digest('hex')).toBe(wrote.digest('hex'));
    } finally {
      cleanup();
    }
  });

  it('reads a classic file with a chunk size that splits every record', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'c.pcap');
      const w = await PcapFileWriter.create(path, { nanosecond: true, byteOrder: 'be', flushBytes: 1000 });
      for (let i = 0; i < 20; i++) await w.write(rec(i));
      await w.close();
      const whole = [...readPcap(new Uint8Array(readFileSync(path)))];
      expect(whole.length).toBe(20);
      for (const chunkSize of [1, 3, 16, 17, 4095]) {
        const { recs, err } = await collect(readPcapFile(path, { chunkSize }));
        expect(err).toBeNull();
        expect(recs).toEqual(whole);
      }
    } finally {
      cleanup();
    }
  });

  it('yields the good records of a corrupt file, then the PcapError with its file offset', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'bad.pcap');
      const w = await PcapFileWriter.create(path, { snaplen: 2000 });
      for (let i = 0; i < 300; i++) await w.write(rec(i));
      await w.close();
      const good = readFileSync(path);
      // a record header claiming 3000 captured bytes, past the snaplen of 2000
      const bad = Buffer.alloc(16);
      bad.writeUInt32LE(3000, 8);
      writeFileSync(path, Buffer.concat([good, bad, Buffer.alloc(5000)]));
      const { recs, err } = await collect(readPcapFile(path, { chunkSize: 4096 }));
      expect(recs.length).toBe(300);
      expect(err).toBeInstanceOf(PcapError);
      expect([(err as PcapError).code, (err as PcapError).offset]).toEqual(['PCAP_BAD_RECORD', good.length + 8]);
      // cut in the middle of the last record
      writeFileSync(path, good.subarray(0, good.length - 5));
      const cut = await collect(readPcapFile(path, { chunkSize: 1000 }));
      expect(cut.recs.length).toBe(299);
      expect([(cut.err as PcapError).code, (cut.err as PcapError).offset]).toEqual(['PCAP_TRUNCATED', good.length - 16 - rec(299).data.length]);
    } finally {
      cleanup();
    }
  });

  it('passes file system errors through', async () => {
    const { err } = await collect(readPcapFile('/nonexistent/sdnemu.pcap'));
    expect((err as NodeJS.ErrnoException).code).toBe('ENOENT');
    await expect(PcapFileWriter.create('/nonexistent/dir/x.pcap')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('writes to a slow Writable, waiting for it to drain', async () => {
    const chunks: Buffer[] = [];
    let drains = 0;
    const sink = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, cb) { chunks.push(chunk); setImmediate(cb); },
    });
    sink.on('drain', () => { drains++; });
    const w = await PcapFileWriter.create(sink, { flushBytes: 2048 });
    for (let i = 0; i < 100; i++) await w.write(rec(i));
    await w.close();
    expect(drains).toBeGreaterThan(0);
    const recs = [...readPcap(new Uint8Array(Buffer.concat(chunks)))];
    expect(recs.map((r) => r.capLen)).toEqual(Array.from({ length: 100 }, (_, i) => rec(i).data.length));
    await expect(w.write(rec(0))).rejects.toThrow(/after close/);
  });
});

describeWith('tshark', 'tshark reads a file streamed by PcapFileWriter', () => {
  it('counts the same packets and bytes', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 's.pcapng');
      const w = await PcapFileWriter.create(path, { format: 'pcapng', byteOrder: 'be' });
      const idB = w.addInterface({ linktype: 1, nanosecond: true, name: 'p2' });
      let total = 0;
      for (let i = 0; i < 500; i++) {
        const r = rec(i);
        total += r.data.length;
        await w.write({ ...r, interfaceId: i % 3 === 0 ? idB : 0 });
      }
      await w.close();
      const out = execFileSync('tshark', ['-r', path, '-T', 'fields', '-e', 'frame.cap_len', '-e', 'frame.interface_id'],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n');
      expect(out.length).toBe(500);
      expect(out.reduce((n, l) => n + Number(l.split('\t')[0]), 0)).toBe(total);
      expect(out.filter((l) => l.endsWith('\t1')).length).toBe(167);
    } finally {
      cleanup();
    }
  });
});
