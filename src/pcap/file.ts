/**
 * Capture files on disk: streaming read and buffered write (pcap layer,
 * slow path).
 *
 * What: `readPcapFile(path)`, an async generator of the records of a pcap or
 * pcapng file of any size; `PcapFileWriter`, which streams a `PcapWriter` or
 * `PcapngWriter` to a file path or any Node `Writable`.
 * Why this shape: a capture can be far larger than memory. The reader reads
 * the file in chunks (default 1 MiB) into ONE buffer reused for every read;
 * `PcapReader.push` copies out what it keeps (records, and a partial record at
 * the chunk's edge), so the buffer is free again before the next read. Peak
 * memory is the chunk, one record and the records of one chunk not yet
 * consumed. The writer collects records in the serialiser's buffer and
 * flushes it in slices of `flushBytes` (default 256 KiB), waiting for the
 * stream to drain, so a fast producer cannot queue the whole capture in
 * memory.
 * Errors: a corrupt file yields its good records, then the `PcapError`
 * (file offsets, see format.ts); I/O errors from fs are passed on as they are.
 * Neighbours: reader.ts and writer.ts do the format work; the CLI and port
 * captures in the simulator call these.
 */
import { createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { EventEmitter } from 'node:events';
import type { Writable } from 'node:stream';
import type { PcapRecord } from './format.js';
import { PcapReader, type PcapReaderOptions } from './reader.js';
import { PcapWriter, PcapngWriter, type PcapWriteRecord, type PcapWriterOptions, type PcapngInterfaceOptions, type PcapngWriterOptions } from './writer.js';

export interface PcapFileReadOptions extends PcapReaderOptions {
  /** Bytes per read (default 1 MiB). */
  chunkSize?: number;
}

/**
 * Stream the records of the capture at 'path'. Yields every good record,
 * then throws the `PcapError` of the first fault, if any. The file is closed
 * when the iteration ends, completes or throws.
 */
export async function* readPcapFile(path: string, opts: PcapFileReadOptions = {}): AsyncGenerator<PcapRecord, void, undefined> {
  const chunkSize = opts.chunkSize ?? 1 << 20;
  if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new RangeError(`chunkSize ${chunkSize} must be a positive integer`);
  const fh = await open(path, 'r');
  try {
    const reader = new PcapReader(opts);
    const buf = new Uint8Array(chunkSize);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, chunkSize, null);
      if (bytesRead === 0) break;
      reader.push(bytesRead === chunkSize ? buf : buf.subarray(0, bytesRead));
      yield* reader.records();
      if (reader.failed) break;
    }
    reader.end();
    yield* reader.records();
  } finally {
    await fh.close();
  }
}

/**
 * Stream the records of a capture arriving as chunks ('source': a Readable
 * such as process.stdin, or any async iterable of bytes). Same contract as
 * `readPcapFile`: every good record, then the `PcapError` of the first fault.
 */
export async function* readPcapStream(source: AsyncIterable<Uint8Array>, opts: PcapReaderOptions = {}): AsyncGenerator<PcapRecord, void, undefined> {
  const reader = new PcapReader(opts);
  for await (const chunk of source) {
    reader.push(chunk);
    yield* reader.records();
    if (reader.failed) break;
  }
  reader.end();
  yield* reader.records();
}

export type PcapFileWriterOptions =
  | ({ format?: 'pcap'; flushBytes?: number } & PcapWriterOptions)
  | ({ format: 'pcapng'; flushBytes?: number; interfaces?: PcapngInterfaceOptions[] } & PcapngWriterOptions);

/** Writes a capture to a file or a Writable, with back-pressure. */
export class PcapFileWriter {
  private readonly w: PcapWriter | PcapngWriter;
  private readonly stream: Writable;
  private readonly flushBytes: number;
  /** We opened the file: wait for it to be closed, not only finished. */
  private readonly ownsStream: boolean;
  private pending = 0;
  private failure: Error | null = null;
  private closed = false;

  private constructor(w: PcapWriter | PcapngWriter, stream: Writable, flushBytes: number, ownsStream: boolean) {
    this.w = w;
    this.stream = stream;
    this.flushBytes = flushBytes;
    this.ownsStream = ownsStream;
    stream.on('error', (e: Error) => { this.failure ??= e; });
  }

  /**
   * Open 'target' (a path, created or truncated, or a Writable) and write the
   * file header. For pcapng, 'opts.interfaces' are added first (default one
   * Ethernet interface); more can be added with `addInterface`.
   */
  static async create(target: string | Writable, opts: PcapFileWriterOptions = {}): Promise<PcapFileWriter> {
    let w: PcapWriter | PcapngWriter;
    if (opts.format === 'pcapng') {
      const ng = new PcapngWriter(opts);
      for (const i of opts.interfaces ?? [{}]) ng.addInterface(i);
      w = ng;
    } else {
      w = new PcapWriter(opts);
    }
    let stream: Writable;
    if (typeof target === 'string') {
      const s = createWriteStream(target);
      await waitFor(s, 'open');
      stream = s;
    } else {
      stream = target;
    }
    const fw = new PcapFileWriter(w, stream, opts.flushBytes ?? 256 * 1024, typeof target === 'string');
    await fw.flush();
    return fw;
  }

  /** pcapng only: describe another interface; returns its id. */
  addInterface(opts: PcapngInterfaceOptions = {}): number {
    if (!(this.w instanceof PcapngWriter)) throw new Error('PcapFileWriter.addInterface: only pcapng files have several interfaces');
    return this.w.addInterface(opts);
  }

  /** Append one record; resolves once the buffered bytes are below the flush threshold. */
  async write(r: PcapWriteRecord): Promise<void> {
    if (this.closed) throw new Error('PcapFileWriter.write() after close()');
    if (this.failure) throw this.failure;
    const before = this.w.offset;
    this.w.write(r);
    this.pending += this.w.offset - before;
    if (this.pending >= this.flushBytes) await this.flush();
  }

  /** Flush what is buffered and end the stream (closing the file). */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    const s = this.stream;
    const done = waitFor(s, this.ownsStream ? 'close' : 'finish');
    s.end();
    await done;
    if (this.failure) throw this.failure;
  }

  private async flush(): Promise<void> {
    const bytes = this.w.take();
    this.pending = 0;
    if (bytes.length === 0) return;
    if (this.failure) throw this.failure;
    if (!this.stream.write(bytes)) await waitFor(this.stream, 'drain');
    if (this.failure) throw this.failure;
  }
}

/** Resolve on 'event' from 's', reject on its 'error'; leaves no listener behind. */
function waitFor(s: EventEmitter, event: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ok = (): void => { s.off('error', bad); resolve(); };
    const bad = (e: Error): void => { s.off(event, ok); reject(e); };
    s.once(event, ok);
    s.once('error', bad);
  });
}
