import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { graphOfTopology, partition, ShardPartitionError, type ShardGraph } from '../../src/shard/partition.js';
import { loadTopology } from '../../src/topology/file.js';
import { overlayFile } from '../../src/shard/shard-example.js';

const US = 1000;

describe('partition: the demo overlay', () => {
  const g = graphOfTopology(loadTopology(readFileSync('examples/vxlan-overlay.yaml', 'utf8')));

  it('keeps each hypervisor with its bridge, VTEP and VMs, and cuts only an underlay link', () => {
    const p = partition(g, { shards: 2 });
    const s = (n: string): number => p.shardOf.get(n)!;
    for (const n of ['vm1a', 'vm1b', 'br-hv1', 'hv1/vxlan100']) expect(s(n)).toBe(s('hv1'));
    for (const n of ['vm2a', 'vm2b', 'br-hv2', 'hv2/vxlan100']) expect(s(n)).toBe(s('hv2'));
    expect(s('hv1')).not.toBe(s('hv2'));
    expect(p.cut.length).toBe(1);
    const l = g.links[p.cut[0]!]!;
    expect([l.a, l.b].sort()).toEqual(s('underlay-r') === s('hv1') ? ['hv2', 'underlay-r'] : ['hv1', 'underlay-r']);
    expect(p.lookaheadNs).toBe(200 * US);
    expect(p.members.map((m) => m.length).sort()).toEqual([5, 6]);
  });

  it('one shard cuts nothing (lookahead ∞); a threshold above the underlay delay keeps everything together', () => {
    expect(partition(g, { shards: 1 })).toMatchObject({ cut: [], lookaheadNs: Infinity });
    const p = partition(g, { shards: 2, minCutDelayNs: 500 * US });
    expect(p.cut).toEqual([]);
    expect(p.members.map((m) => m.length).sort()).toEqual([0, 11]);
  });

  it('is deterministic: the same graph, the same partition', () => {
    const g4 = graphOfTopology(loadTopology(overlayFile(4, 3)));
    const a = partition(g4, { shards: 3 }), b = partition(g4, { shards: 3 });
    expect([...a.shardOf]).toEqual([...b.shardOf]);
    expect(a.cut).toEqual(b.cut);
  });

  it('refuses bad input with typed errors', () => {
    expect(() => partition(g, { shards: 0 })).toThrow(ShardPartitionError);
    expect(() => partition(g, { shards: 2, minCutDelayNs: 0 })).toThrow(expect.objectContaining({ code: 'SHARD_BAD_THRESHOLD' }));
    expect(() => partition({ nodes: ['a'], links: [{ a: 'a', b: 'zz', delayNs: 1 }] }, { shards: 2 })).toThrow(expect.objectContaining({ code: 'SHARD_UNKNOWN_NODE', field: 'links[0].b' }));
    expect(() => partition({ nodes: ['a', 'a'], links: [] }, { shards: 2 })).toThrow(expect.objectContaining({ code: 'SHARD_DUPLICATE_NODE' }));
  });
});

/** A random graph: n nodes, links with delays from a few µs to a ms. */
const graphArb = fc.integer({ min: 1, max: 40 }).chain((n) => fc.record({
  n: fc.constant(n),
  links: fc.array(fc.record({ a: fc.nat(n - 1), b: fc.nat(n - 1), delayNs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1000 }).map((x) => x * US)) }), { maxLength: 80 }),
})).map(({ n, links }): ShardGraph => ({ nodes: Array.from({ length: n }, (_, i) => `n${i}`), links: links.map((l) => ({ a: `n${l.a}`, b: `n${l.b}`, delayNs: l.delayNs })) }));

describe('partition: synthetic graphs (fast-check)', () => {
  it('cuts only slow links, places every node once, balances within the largest cluster', () => {
    fc.assert(fc.property(graphArb, fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 1000 }), (g, shards, thrUs) => {
      const threshold = thrUs * US;
      const p = partition(g, { shards, minCutDelayNs: threshold });
      // every cut link is slow, and the lookahead is the slowest cut's minimum
      for (const j of p.cut) expect(g.links[j]!.delayNs).toBeGreaterThanOrEqual(threshold);
      expect(p.lookaheadNs).toBe(p.cut.length === 0 ? Infinity : Math.min(...p.cut.map((j) => g.links[j]!.delayNs)));
      // links not listed as cut join nodes of one shard
      g.links.forEach((l, j) => { if (!p.cut.includes(j)) expect(p.shardOf.get(l.a)).toBe(p.shardOf.get(l.b)); });
      // each node in exactly one shard
      expect(p.members.flat().sort()).toEqual([...g.nodes].sort());
      expect(p.members.length).toBe(shards);
      // balance: no shard above the mean plus the largest cluster (the tight components)
      const parent = new Map(g.nodes.map((x) => [x, x]));
      const find = (x: string): string => { while (parent.get(x) !== x) x = parent.get(x)!; return x; };
      for (const l of g.links) if (l.delayNs < threshold) parent.set(find(l.a), find(l.b));
      const size = new Map<string, number>();
      for (const x of g.nodes) size.set(find(x), (size.get(find(x)) ?? 0) + 1);
      const largest = Math.max(...size.values());
      for (const m of p.members) expect(m.length).toBeLessThanOrEqual(g.nodes.length / shards + largest);
    }), { numRuns: 300 });
  });

  it('a grown overlay on 2 and 4 shards: hypervisors whole, shards within one hypervisor of each other', () => {
    for (const shards of [2, 4]) {
      const g = graphOfTopology(loadTopology(overlayFile(8, 4)));
      const p = partition(g, { shards });
      for (let i = 1; i <= 8; i++) for (let j = 1; j <= 4; j++) expect(p.shardOf.get(`vm${i}-${j}`)).toBe(p.shardOf.get(`hv${i}`));
      const sizes = p.members.map((m) => m.length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(7);
    }
  });
});
