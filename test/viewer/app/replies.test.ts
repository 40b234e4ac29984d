/**
 * Reply bodies as the viewer reads them (src/viewer/app/replies.ts): the
 * documented shapes pass typed, anything else becomes empty or null.
 */
import { expect, it } from 'vitest';
import * as replies from '../../../src/viewer/app/replies.js';

const rec = (seq: number) => ({ trace: 1, seq, t: seq, node: 'n', port: null, kind: 'tx', text: '', fields: null, reason: null, frame: null });

it('takes the documented shapes', () => {
  expect(replies.records({ summary: {}, records: [rec(2), rec(1)] }).map((r) => r.seq)).toEqual([1, 2]);
  expect(replies.summaries([{ packet: 3, path: ['a'] }])).toHaveLength(1);
  expect(replies.snapshot({ nodes: [{ name: 'a', kind: 'host', ports: [] }], links: [{ a: 'a:eth0', b: 'b:eth0' }] })!.nodes).toHaveLength(1);
  expect(replies.clock({ now: 5, running: false, speed: 1, events: 9 })).toEqual({ now: 5, running: false, speed: 1, events: 9 });
  expect(replies.pcapBytes(Uint8Array.of(1))).toEqual(Uint8Array.of(1));
  const d = replies.dissected({ packets: [{ number: 1, line: 'x', dissection: { frameLen: 1, layers: [], error: null } }], truncated: true });
  expect([d.packets.length, d.truncated]).toEqual([1, true]);
});

it('turns anything else into nothing, without throwing', () => {
  const junk = [null, undefined, 7, 'x', [], {}, Uint8Array.of(1), { records: 'no' }, { nodes: {}, links: [] }, [null, 3, { packet: 'x' }]];
  for (const j of junk) {
    expect(replies.records(j)).toEqual([]);
    expect(replies.summaries(j)).toEqual([]);
    expect(replies.snapshot(j)).toBeNull();
    expect(replies.clock(j)).toBeNull();
    expect(replies.dissected(j)).toEqual({ packets: [], truncated: false });
  }
  expect(replies.records({ records: [rec(1), { seq: 'x' }, null, 5] })).toHaveLength(1);
  expect(replies.snapshot({ nodes: [{ name: 'a', ports: [] }, { name: 3 }], links: [7] })).toEqual({ nodes: [{ name: 'a', ports: [] }], links: [], tunnels: [] });
  expect(replies.snapshot({ nodes: [], links: [], tunnels: [{ a: 'x', b: 'y', type: 'vxlan', vni: 5 }, { a: 1 }] })!.tunnels).toEqual([{ a: 'x', b: 'y', type: 'vxlan', vni: 5 }]);
  expect(replies.pcapBytes([1])).toBeNull();
});
