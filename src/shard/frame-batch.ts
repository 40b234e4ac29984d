/**
 * A round's cross-shard frames as one buffer (shard layer): what the
 * worker threads and the coordinator hand each other, transferred, not
 * cloned.
 *
 * What: `packFrames(frames)` writes every CrossFrame into one ArrayBuffer
 * — per frame a 28-byte header (link u32, fromSide u8 and 3 bytes of
 * padding, t f64, trace f64, length u32; big-endian) then its bytes — and
 * `unpackFrames(buffer)` reads them back, each frame's bytes a view into
 * the buffer (no copy). A postMessage with the buffer in its transfer list
 * moves it between threads in O(1), where a structured clone of the frames
 * as objects copies each Uint8Array into an ArrayBuffer of its own:
 * `npx tsx bench/shard.bench.ts 8 4 20000 400` (≈ 250 frames a round) shows
 * the difference in the rounds' synchronization cost (coordinator.ts "Cost").
 * Errors: a buffer whose headers run past its end (not one packFrames
 * made) is a FrameBatchError naming the offset; nothing is returned.
 * Neighbours: worker.ts and coordinator.ts (the round channel),
 * shard-runtime.ts (CrossFrame).
 */
import { SdnemuError } from '../errors.js';
import type { CrossFrame } from './shard-runtime.js';

const HEADER = 28;

/** A buffer that is not a packed batch. */
export class FrameBatchError extends SdnemuError {
  constructor(readonly offset: number, message: string) { super('SHARD_BAD_BATCH', `offset ${offset}: ${message}`); this.name = 'FrameBatchError'; }
  override location(): Record<string, string | number> { return { offset: this.offset }; }
}

/** 'frames' in one buffer (see the header). */
export function packFrames(frames: readonly CrossFrame[]): ArrayBuffer {
  let size = 0;
  for (const f of frames) size += HEADER + f.bytes.length;
  const buf = new ArrayBuffer(size), dv = new DataView(buf), u8 = new Uint8Array(buf);
  let o = 0;
  for (const f of frames) {
    dv.setUint32(o, f.link);
    dv.setUint8(o + 4, f.fromSide);
    dv.setFloat64(o + 8, f.t);
    dv.setFloat64(o + 16, f.trace);
    dv.setUint32(o + 24, f.bytes.length);
    u8.set(f.bytes, o + HEADER);
    o += HEADER + f.bytes.length;
  }
  return buf;
}

/** The frames of a packed buffer, in order, their bytes views into it (FrameBatchError for a buffer packFrames did not make). */
export function unpackFrames(buf: ArrayBuffer): CrossFrame[] {
  const dv = new DataView(buf), out: CrossFrame[] = [];
  for (let o = 0; o < buf.byteLength;) {
    if (o + HEADER > buf.byteLength) throw new FrameBatchError(o, `a frame header needs ${HEADER} bytes, ${buf.byteLength - o} left`);
    const side = dv.getUint8(o + 4), len = dv.getUint32(o + 24);
    if (side > 1) throw new FrameBatchError(o + 4, `fromSide ${side} is not 0 or 1`);
    if (o + HEADER + len > buf.byteLength) throw new FrameBatchError(o + 24, `a frame of ${len} bytes runs past the end (${buf.byteLength - o - HEADER} left)`);
    out.push({ link: dv.getUint32(o), fromSide: side as 0 | 1, t: dv.getFloat64(o + 8), trace: dv.getFloat64(o + 16), bytes: new Uint8Array(buf, o + HEADER, len) });
    o += HEADER + len;
  }
  return out;
}
