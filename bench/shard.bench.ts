/**
 * Shard benchmark (issue 12, item 2): the same UDP load across a VXLAN
 * overlay run in one thread and split across worker threads.
 *
 * The network: `overlayFile(H, V)` (src/shard/shard-example.ts) — H
 * hypervisors behind one underlay router (200 µs, 10 Gbps links: what the
 * partition cuts, so the lookahead is 200 µs), V VMs on each; every VM
 * sends constant-rate UDP to its twin on the next hypervisor, so every
 * datagram crosses bridge, VTEP, the hypervisor's stack, the router (and
 * a shard boundary when split), the far VTEP, bridge and VM stack — and
 * the ICMP port-unreachable answers come back the same way.
 * Figures per run: packets/s = packets the network carried (the gathered
 * ledger's `created`: datagrams, answers, ARP) per wall-clock second of
 * the whole run (worker start and topology build included), the rounds
 * (barriers) and the wall time per round, the speed-up over one thread.
 * Every sharded run is checked against the single-process one (the same
 * ledger totals) before its figures are printed.
 * Measured (2026-11-23, the 2-core machine shared with other jobs, load
 * average ≈ 4.5, TypeScript through tsx; 8 hypervisors × 4 VMs, 20 000
 * pps per VM, 400 ms of virtual time, 513 296 packets):
 *   1 thread   64 357 packets/s (7.8 s of simulation)
 *   2 shards   46 267 packets/s (0.72×): 1.3 s to start the threads (tsx
 *              compiles the sources in each), 2005 rounds in 9.6 s, of which
 *              the critical path (busiest shard each round) 4.5 s — the
 *              simulation itself parallelizes 1.7× — and 5.1 s synchronization
 *              (≈ 2.5 ms a round: two messages per shard and the waits of an
 *              oversubscribed machine); with almost no traffic (2 VMs,
 *              5000 pps) a round costs ≈ 0.64 ms.
 * Compiled (tsc, node): 1 thread 104 345 packets/s (4.8 s), 2 shards
 * 52 828 packets/s: 0.6 s to start, critical path 4.3 s, synchronization
 * 4.7 s over 2005 rounds (≈ 2.4 ms a round: mostly waiting for a core).
 * On the same machine quiet (2026-11-23, `tsx bench/shard.bench.ts 8 4 20000 400`):
 * 1 thread 114 369 packets/s, 2 shards 107 354 (0.94×), critical path 2.6 s,
 * synchronization 1.5 s (≈ 0.76 ms a round).
 * With the round channel (worker.ts: Atomics.wait, no event-loop turn) and
 * the frames packed in one transferred buffer (frame-batch.ts), two runs
 * later that day: 1 thread 112 868 / 115 067 packets/s, 2 shards 100 451 /
 * 96 080 (0.89× / 0.83×), synchronization 0.63 / 0.70 s (≈ 0.33 ms a
 * round), critical path 3.6 / 3.7 s (this host's speed swings between runs).
 * So on this machine the barrier per 200 µs window still costs about what
 * the parallel work saves; the speed-up needs free cores and busier windows
 * (more traffic per lookahead).
 * Usage: tsx bench/shard.bench.ts [hypervisors=8] [vmsPerHv=4] [pps=20000] [virtualMs=200] [shards=1,2]
 * `run()` returns the figures as BenchResult rows (bench/harness.ts).
 */
import { runSharded, runSingle, type ShardedRunResult } from '../src/shard/coordinator.js';
import { overlayFile, vmIp } from '../src/shard/shard-example.js';
import type { ShardTraffic } from '../src/shard/shard-runtime.js';
import type { BenchResult } from './harness.js';

export interface ShardBenchOptions { hypervisors: number; vmsPerHv: number; pps: number; virtualMs: number; shards: number[] }

function traffic(o: ShardBenchOptions): ShardTraffic {
  const udp: NonNullable<ShardTraffic['udp']> = [];
  for (let i = 1; i <= o.hypervisors; i++) {
    for (let j = 1; j <= o.vmsPerHv; j++) udp.push({ from: `vm${i}-${j}`, to: vmIp((i % o.hypervisors) + 1, j), pps: o.pps, durationSec: o.virtualMs / 1000, atNs: 1e6 + j * 1000 });
  }
  return { udp };
}

const totals = (r: ShardedRunResult): string => JSON.stringify([r.ledger.created, r.ledger.delivered, r.ledger.dropped, r.udp.map((u) => u.sent)]);

export async function run(o: ShardBenchOptions = { hypervisors: 8, vmsPerHv: 4, pps: 20_000, virtualMs: 200, shards: [1, 2] }): Promise<BenchResult[]> {
  const text = overlayFile(o.hypervisors, o.vmsPerHv), t = traffic(o), endNs = (o.virtualMs + 50) * 1e6;
  const out: BenchResult[] = [];
  let base = 0, ref = '';
  for (const k of o.shards) {
    const t0 = performance.now();
    const r = k === 1 ? runSingle({ text, traffic: t, endNs }) : await runSharded({ text, shards: k, traffic: t, endNs });
    const sec = (performance.now() - t0) / 1000;
    if (r.failure !== null) throw new Error(`shard ${r.failure.shard} failed: ${r.failure.reason}`);
    if (ref === '') ref = totals(r);
    else if (totals(r) !== ref) throw new Error(`${k} shards: ledger totals ${totals(r)} differ from the first run's ${ref}`);
    const pps = r.ledger.created / sec;
    if (k === o.shards[0]) base = pps;
    out.push({
      suite: 'shard', name: `UDP across the overlay, ${o.hypervisors}×${o.vmsPerHv} VMs, ${k} shard${k > 1 ? 's' : ''}`, perSec: pps, rme: 0, samples: 1, batch: r.ledger.created,
      extra: { packets: r.ledger.created, wallMs: Math.round(sec * 1000), startMs: Math.round(r.wall.startMs), roundsMs: Math.round(r.wall.roundsMs),
        criticalMs: Math.round(r.wall.criticalMs), syncMs: Math.round(r.wall.roundsMs - r.wall.criticalMs), rounds: r.rounds,
        simPacketsPerSec: Math.round(r.ledger.created / (r.wall.roundsMs / 1000)),
        lookaheadUs: Number.isFinite(r.partition.lookaheadNs) ? r.partition.lookaheadNs / 1000 : '∞', speedup: Number((pps / base).toFixed(2)), events: r.reports.reduce((a, x) => a + x.eventsRun, 0) },
    });
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [h, v, pps, ms, shards] = process.argv.slice(2);
  const rows = await run({ hypervisors: Number(h ?? 8), vmsPerHv: Number(v ?? 4), pps: Number(pps ?? 20_000), virtualMs: Number(ms ?? 200),
    shards: (shards ?? '1,2').split(',').map(Number) });
  for (const r of rows) console.log(`${r.name}: ${Math.round(r.perSec).toLocaleString('en')} packets/s  ${JSON.stringify(r.extra)}`);
}
