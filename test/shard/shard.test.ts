import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { runSharded, runSingle, type ShardedRunResult } from '../../src/shard/coordinator.js';
import { overlayFile, vmIp } from '../../src/shard/shard-example.js';
import type { ShardTraffic } from '../../src/shard/shard-runtime.js';

const MS = 1e6;

/** What two runs must agree on: every ping's replies and RTTs, every flow's counts, the gathered ledger. */
function outcomes(r: ShardedRunResult): unknown {
  const { created, delivered, dropped, merged, inFlight, parked, leaks, drops, inTransit } = r.ledger;
  return { pings: r.pings, udp: r.udp, ledger: { created, delivered, dropped, merged, inFlightOrTransit: inFlight + inTransit, parked, leaks, drops } };
}

describe('sharded runs equal the single-process run', () => {
  it('examples/vxlan-overlay.yaml on 2 worker threads: the same replies, RTTs and ledger', async () => {
    const text = readFileSync('examples/vxlan-overlay.yaml', 'utf8');
    const traffic: ShardTraffic = {
      pings: [{ from: 'vm1a', to: '10.10.0.3', count: 3 }, { from: 'vm2b', to: '10.10.0.2', count: 2, atNs: 5 * MS }, { from: 'vm2a', to: '10.10.0.1', count: 2, interval: 0.01 }],
      udp: [{ from: 'vm1b', to: '10.10.0.4', pps: 2000, durationSec: 0.05 }],
    };
    const single = runSingle({ text, traffic, endNs: 15e9 });
    const sharded = await runSharded({ text, shards: 2, traffic, endNs: 15e9, tagIds: true });
    expect(sharded.failure).toBeNull();
    expect(sharded.partition.cut.length).toBe(1);
    expect(sharded.partition.lookaheadNs).toBe(200_000);
    expect(outcomes(sharded)).toEqual(outcomes(single));
    // the traffic crossed: replies came back, and frames went both ways between the shards
    expect(sharded.pings.map((p) => p.received)).toEqual([3, 2, 2]);
    expect(sharded.pings[0]!.rttsNs[1]).toBe(880_550);
    for (const r of sharded.reports) { expect(r.exported).toBeGreaterThan(0); expect(r.imported).toBeGreaterThan(0); }
    expect(sharded.ledger.balanced).toBe(true);
    expect(sharded.ledger.inTransit).toBe(0);
  });

  it.each([2, 3])('four hypervisors behind a router, all-pairs pings and UDP, on %i shards: identical outcomes', async (shards) => {
    const text = overlayFile(4, 2);
    const pings = [] as NonNullable<ShardTraffic['pings']>;
    for (let i = 1; i <= 4; i++) for (let k = 1; k <= 4; k++) if (k !== i) pings.push({ from: `vm${i}-1`, to: vmIp(k, 2), count: 2, interval: 0.003, atNs: (i * 4 + k) * 0.25 * MS });
    const traffic: ShardTraffic = { pings, udp: [{ from: 'vm1-2', to: vmIp(3, 1), pps: 5000, durationSec: 0.02, dport: 5001 }, { from: 'vm4-2', to: vmIp(2, 1), pps: 3000, durationSec: 0.02 }] };
    const single = runSingle({ text, traffic, endNs: 12e9 });
    const sharded = await runSharded({ text, shards, traffic, endNs: 12e9 });
    expect(sharded.partition.cut.length).toBeGreaterThanOrEqual(shards - 1);
    expect(sharded.failure).toBeNull();
    expect(outcomes(sharded)).toEqual(outcomes(single));
    expect(sharded.pings.every((p) => p.received === 2)).toBe(true);
    expect(sharded.udp.map((u) => u.sent)).toEqual([100, 60]);
  });

  it('examples/ovs-vxlan-overlay.yaml (OVS bridges on the hypervisors, VXLAN and Geneve ports): the same outcomes on 2 shards', async () => {
    const text = readFileSync('examples/ovs-vxlan-overlay.yaml', 'utf8');
    const traffic: ShardTraffic = { pings: [{ from: 'vm1', to: '10.10.0.2', count: 2 }, { from: 'vm4', to: '10.20.0.3', count: 2 }] };
    const single = runSingle({ text, traffic, endNs: 12e9 });
    const sharded = await runSharded({ text, shards: 2, traffic, endNs: 12e9 });
    // each OVS bridge runs with its hypervisor
    const shardOf = (n: string): number => sharded.partition.members.findIndex((m) => m.includes(n));
    expect(shardOf('hv1/br-int')).toBe(shardOf('hv1'));
    expect(shardOf('hv2/br-int')).toBe(shardOf('hv2'));
    expect(shardOf('hv1')).not.toBe(shardOf('hv2'));
    expect(sharded.pings.map((p) => p.received)).toEqual([2, 2]);
    expect(outcomes(sharded)).toEqual(outcomes(single));
  });

  it('more shards than clusters (4 shards, 3 clusters): one shard runs nothing, the outcomes are the same', async () => {
    const text = readFileSync('examples/vxlan-overlay.yaml', 'utf8');
    const traffic: ShardTraffic = { pings: [{ from: 'vm1a', to: '10.10.0.4', count: 2 }] };
    const single = runSingle({ text, traffic, endNs: 12e9 });
    const sharded = await runSharded({ text, shards: 4, traffic, endNs: 12e9 });
    expect(sharded.partition.members.map((m) => m.length).sort()).toEqual([0, 1, 5, 5]);
    expect(sharded.partition.cut.length).toBe(2);
    expect(outcomes(sharded)).toEqual(outcomes(single));
    expect(sharded.reports.find((r) => r.nodes === 0)!.ledger.created).toBe(0);
  });

  it('a run stopped mid-traffic: frames still between shards are counted in transit and the ledger balances', async () => {
    const text = readFileSync('examples/vxlan-overlay.yaml', 'utf8');
    const traffic: ShardTraffic = { udp: [{ from: 'vm1b', to: '10.10.0.4', pps: 100_000, durationSec: 0.01 }] };
    // 2.2 ms: the ARP exchange is over, datagrams are on their way across the underlay
    const single = runSingle({ text, traffic, endNs: 2.2 * MS });
    const sharded = await runSharded({ text, shards: 2, traffic, endNs: 2.2 * MS });
    expect(sharded.ledger.balanced).toBe(true);
    expect(sharded.ledger.inTransit).toBeGreaterThan(0);
    expect(outcomes(sharded)).toEqual(outcomes(single));
  });
});

describe('sharded runs with random draws (loss, ephemeral ports)', () => {
  it('repeat exactly: the same seed, the same outcomes, run after run', async () => {
    // 10 % loss on every VM link, UDP from ephemeral source ports: both draw from each shard's RNG
    const text = overlayFile(4, 2).replaceAll('delay: 20us }', 'delay: 20us, loss: 0.1 }');
    const traffic: ShardTraffic = {
      pings: [{ from: 'vm1-1', to: vmIp(3, 1), count: 10, interval: 0.002 }, { from: 'vm4-2', to: vmIp(2, 2), count: 10, interval: 0.002 }],
      udp: [{ from: 'vm2-1', to: vmIp(4, 1), pps: 4000, durationSec: 0.01 }],
    };
    const a = await runSharded({ text, shards: 2, traffic, endNs: 12e9 });
    const b = await runSharded({ text, shards: 2, traffic, endNs: 12e9 });
    expect(a.ledger.drops['link-loss']).toBeGreaterThan(0);
    expect(a.pings.some((p) => p.received < 10)).toBe(true);
    expect(outcomes(b)).toEqual(outcomes(a));
    expect(b.rounds).toBe(a.rounds);
  });
});

describe('a shard that fails', () => {
  const text = readFileSync('examples/vxlan-overlay.yaml', 'utf8');
  const traffic: ShardTraffic = { pings: [{ from: 'vm1a', to: '10.10.0.3', count: 5, interval: 0.01 }, { from: 'vm2a', to: '10.10.0.1', count: 5, interval: 0.01 }] };

  it('throws: the coordinator names it and why, stops the other, and returns what was gathered', async () => {
    const r = await runSharded({ text, shards: 2, traffic, endNs: 10e9, tagIds: true, trace: true, faults: { 1: { atNs: 15 * MS, kind: 'throw' } } });
    expect(r.failure).toMatchObject({ shard: 1 });
    expect(r.failure!.reason).toMatch(/injected fault at 15000000 ns/);
    // both reports: the healthy shard's at the end of its last round, the failed one's as it threw
    expect(r.reports.map((x) => x.shard).sort()).toEqual([0, 1]);
    const healthy = r.reports.find((x) => x.shard === 0)!;
    expect(healthy.ledger.created).toBeGreaterThan(0);
    expect(healthy.traceRecords).toBeGreaterThan(0);
    expect(healthy.now).toBeLessThan(16 * MS);
    // the pings of the healthy shard had replies before the failure
    expect(r.pings.find((p) => p.index === 0)!.received).toBeGreaterThan(0);
  });

  it('dies (its thread exits): reported with the exit code; the other shard reports', async () => {
    const r = await runSharded({ text, shards: 2, traffic, endNs: 10e9, faults: { 0: { atNs: 12 * MS, kind: 'exit' } } });
    expect(r.failure).toEqual({ shard: 0, reason: 'its thread exited (code 70)' });
    expect(r.reports.map((x) => x.shard)).toEqual([1]);
    expect(r.reports[0]!.ledger.created).toBeGreaterThan(0);
  });

  it('a topology file that does not load is refused before any thread starts', async () => {
    await expect(runSharded({ text: 'hosts: [{ name: a, ip: nope }]', shards: 2, traffic: {}, endNs: 1 })).rejects.toMatchObject({ code: 'TOPO_BAD_ADDRESS' });
  });

  it('traffic from a host that does not exist is refused, naming the field', async () => {
    await expect(runSharded({ text, shards: 2, traffic: { udp: [{ from: 'vm9z', to: '10.10.0.1', pps: 1, durationSec: 1 }] }, endNs: 1e9 }))
      .rejects.toMatchObject({ code: 'SHARD_BAD_TRAFFIC', field: 'traffic.udp[0].from' });
  });

  it('a shard that throws at once (its first round): named, and no round completed', async () => {
    const r = await runSharded({ text, shards: 2, traffic, endNs: 1e9, faults: { 0: { atNs: 0, kind: 'throw' } } });
    expect(r.failure).toMatchObject({ shard: 0 });
    expect(r.rounds).toBe(0);
    expect(r.reports.length).toBe(2);
  });
});
