/**
 * frame-batch.ts: a round's cross-shard frames packed into one transferable buffer — read back
 * exactly (property), moved between threads without a copy, and a buffer it did not make refused
 * with the offset, never misread.
 */
import fc from 'fast-check';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { FrameBatchError, packFrames, unpackFrames } from '../../src/shard/frame-batch.js';
import type { CrossFrame } from '../../src/shard/shard-runtime.js';

const frame: fc.Arbitrary<CrossFrame> = fc.record({
  link: fc.nat({ max: 0xffffffff }),
  fromSide: fc.constantFrom(0 as const, 1 as const),
  t: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  bytes: fc.uint8Array({ maxLength: 1600 }),
  trace: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
});

const plain = (fs: readonly CrossFrame[]): unknown => fs.map((f) => ({ ...f, bytes: [...f.bytes] }));

describe('frame batches', () => {
  it('read back what was packed, in order, field for field and byte for byte', () => {
    fc.assert(fc.property(fc.array(frame, { maxLength: 40 }), (fs) => {
      expect(plain(unpackFrames(packFrames(fs)))).toEqual(plain(fs));
    }), { numRuns: 300 });
  });

  it('move between threads: the buffer is transferred (the sender\'s copy detached), the frames views into it', () => {
    const fs: CrossFrame[] = [{ link: 3, fromSide: 1, t: 250_000, bytes: new Uint8Array([1, 2, 3]), trace: 9 }, { link: 0, fromSide: 0, t: 250_000, bytes: new Uint8Array(60).fill(7), trace: 0 }];
    const { port1, port2 } = new MessageChannel();
    const buf = packFrames(fs);
    port1.postMessage({ frames: buf }, [buf]);
    expect(buf.byteLength).toBe(0);
    const got = (receiveMessageOnPort(port2)!.message as { frames: ArrayBuffer }).frames;
    const back = unpackFrames(got);
    expect(plain(back)).toEqual(plain(fs));
    expect(back[1]!.bytes.buffer).toBe(got);
    port1.close();
  });

  it('an empty round is an empty buffer', () => {
    expect(packFrames([]).byteLength).toBe(0);
    expect(unpackFrames(new ArrayBuffer(0))).toEqual([]);
  });

  it('a buffer it did not make: FrameBatchError with the offset, never frames past the end', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (junk) => {
      let out: CrossFrame[] | undefined;
      try { out = unpackFrames(junk.slice().buffer); } catch (e) {
        expect(e).toBeInstanceOf(FrameBatchError);
        expect((e as FrameBatchError).offset).toBeLessThanOrEqual(junk.length);
        return;
      }
      for (const f of out) expect(f.bytes.byteOffset + f.bytes.length).toBeLessThanOrEqual(junk.length);
    }), { numRuns: 500 });
    const cut = packFrames([{ link: 1, fromSide: 0, t: 1, bytes: new Uint8Array(10), trace: 1 }]).slice(0, 30);
    expect(() => unpackFrames(cut)).toThrow(expect.objectContaining({ code: 'SHARD_BAD_BATCH', offset: 24, message: expect.stringMatching(/runs past the end/) }));
  });
});
