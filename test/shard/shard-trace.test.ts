import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { runSharded, runSingle } from '../../src/shard/coordinator.js';
import type { ShardTraffic } from '../../src/shard/shard-runtime.js';
import type { TraceEvent } from '../../src/sim/tracer.js';
import { TraceStore } from '../../src/trace/store.js';

const text = readFileSync('examples/vxlan-overlay.yaml', 'utf8');
const traffic: ShardTraffic = { pings: [{ from: 'vm1a', to: '10.10.0.3', count: 2, interval: 0.01 }, { from: 'vm2b', to: '10.10.0.2', count: 1, atNs: 30e6 }] };

/** A record as both runs must show it (ids and seq differ: they are numbered per run). */
const line = (e: TraceEvent): string => `${e.t} ${e.node} ${e.port ?? '-'} ${e.kind} ${e.text}`;

describe('traces gathered from the shards', () => {
  it('the same records as one process, in time order, one trace id per packet across shards', async () => {
    const single: TraceEvent[] = [], sharded: TraceEvent[] = [];
    const storeA = new TraceStore(), storeB = new TraceStore();
    runSingle({ text, traffic, endNs: 5e9, onTrace: (e) => { single.push(e); storeA.add(e); } });
    const r = await runSharded({ text, shards: 2, traffic, endNs: 5e9, onTrace: (e) => { sharded.push(e); storeB.add(e); } });
    expect(r.failure).toBeNull();
    expect(sharded.length).toBeGreaterThan(100);
    // the same records (the stubs' own are not shown)
    expect(sharded.map(line).sort()).toEqual(single.map(line).sort());
    expect(sharded.some((e) => e.node.startsWith('shard-remote'))).toBe(false);
    // in virtual-time order, seq renumbered 1, 2, …
    for (let i = 1; i < sharded.length; i++) expect(sharded[i]!.t).toBeGreaterThanOrEqual(sharded[i - 1]!.t);
    expect(sharded.map((e) => e.seq)).toEqual(sharded.map((_, i) => i + 1));
    // a packet is one trace through both shards: the paths of the stored packets are the single run's
    const paths = (s: TraceStore): string[] => s.all().map((p) => p.nodes.join(' > ')).sort();
    expect(paths(storeB)).toEqual(paths(storeA));
    // an echo request from vm1a (shard of hv1) reaches vm2a (shard of hv2) under one id
    const across = storeB.all().filter((p) => p.nodes[0] === 'vm1a' && p.nodes.includes('vm2a'));
    expect(across.length).toBeGreaterThan(0);
    expect(across[0]!.nodes).toEqual(expect.arrayContaining(['hv1', 'underlay-r', 'hv2']));
    // the trace counts of the reports add up to what was gathered
    expect(r.reports.reduce((a, x) => a + x.traceRecords, 0)).toBe(sharded.length);
  });
});
