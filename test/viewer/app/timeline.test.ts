/**
 * The timeline's pure parts (src/viewer/app/timeline.ts), in Node: which
 * frame each hop shows.
 */
import { expect, it } from 'vitest';
import type { TraceEvent } from '../../../src/sim/tracer.js';
import { framesAfter } from '../../../src/viewer/app/timeline.js';

function rec(kind: TraceEvent['kind'], fields: TraceEvent['fields'] = null, frame: Uint8Array | null = null): TraceEvent {
  return { trace: 1, seq: 1, t: 0, node: 'n', port: null, kind, text: '', fields, reason: null, frame };
}

it('each hop shows its own frame, or the last one before it', () => {
  const a = Uint8Array.of(1), b = Uint8Array.of(2);
  expect(framesAfter([rec('route'), rec('tx', null, a), rec('rule'), rec('encap', null, b), rec('tx')])).toEqual([null, a, a, b, b]);
});
