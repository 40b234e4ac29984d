/**
 * Sharded-cluster benchmark (issue 12, item 5): a Kubernetes cluster with
 * constant pod-to-Service traffic, run on 1, 2 and 4 shards (worker
 * threads), its steady-state packets/s, the speed-up and what the
 * synchronization costs.
 *
 * The cluster: `clusterManifests` (src/shard/shard-example.ts) — N Nodes,
 * S Deployments of R echo pods (UDP 5353) each behind a ClusterIP Service
 * (UDP 53), and C client pods on nodes 0..C−1; every shard builds it whole
 * from the manifests (`sdnemu shard`'s path: shard/source.ts, a `Cluster`
 * with lazy peer flows) and runs its nodes, the underlay links cut
 * (lookahead: the underlay's 50 µs; one shard runs 1 ms windows, for
 * progress points). Client c sends to Service
 * (c·7919 mod S) at P datagrams/s, as bench/k8s.bench.ts picks them: each
 * datagram is DNATed by the client node's kube-proxy rules, tunnelled
 * (VXLAN) to a backend's node — through the underlay bridge's shard —
 * echoed, and tunnelled back.
 * Figures per shard count: the build (threads started, every shard's
 * cluster built: they build in parallel, on as many cores as there are),
 * the warm-up (the first W ms of virtual time: ARP, the nodes the traffic
 * meets install their peers' routes and flows, conntrack), and the steady
 * state after it — packets delivered (datagrams to the backends' sockets,
 * echoes to the clients', the ledger's delivered count across shards) per
 * wall-clock second, the rounds (barriers) in it and their cost: the
 * rounds' wall time minus the critical path (the busiest shard's
 * simulation time in each round, summed). The process's peak RSS (every
 * shard is a thread of this process). Every run's outcome (each flow's
 * datagrams sent and echoes received, the gathered ledger's totals) must
 * equal the first's.
 * Usage: node --max-old-space-size=12000 --max-semi-space-size=32 --import tsx
 * bench/shard-k8s.bench.ts [--nodes 5000] [--services 1000] [--replicas 5]
 * [--clients 20] [--pps 10000] [--warmup-ms 20] [--measure-ms 50]
 * [--shards 1,2,4]
 * Measured: the README's sharding table (with the command line of each).
 * Neighbours: bench/shard.bench.ts (the VM overlay), bench/k8s.bench.ts
 * (the cluster in one process, phase by phase).
 */
import { runSharded, type RoundProgress, type ShardedRunResult } from '../src/shard/coordinator.js';
import { clusterManifests, clusterTraffic, type ClusterExample } from '../src/shard/shard-example.js';
import { intArg } from './phases.js';

const c: ClusterExample = { nodes: intArg('nodes', 5000, 1), services: intArg('services', 1000, 1), replicas: intArg('replicas', 5, 1), clients: intArg('clients', 20, 1) };
const PPS = intArg('pps', 10_000, 1), WARMUP_MS = intArg('warmup-ms', 20, 1), MEASURE_MS = intArg('measure-ms', 50, 1);
const shardsAt = process.argv.indexOf('--shards');
const SHARDS = (shardsAt < 0 ? '1,2,4' : process.argv[shardsAt + 1]!).split(',').map(Number);
const text = clusterManifests(c);
const endNs = (WARMUP_MS + MEASURE_MS) * 1e6;
const traffic = { udp: clusterTraffic(c, PPS, endNs / 1e9) };
const cluster = { lazyPeers: true, clusterCIDR: '10.0.0.0/8', underlay: '192.168.0.0/16' };

const outcome = (r: ShardedRunResult): string =>
  JSON.stringify({ udp: r.udp.map((u) => [u.sent, u.received]), created: r.ledger.created, delivered: r.ledger.delivered, dropped: r.ledger.dropped });

console.log(`cluster: ${c.nodes} nodes, ${c.services} Services × ${c.replicas} pods, ${c.clients} clients at ${PPS} datagrams/s each; `
  + `${WARMUP_MS} ms warm-up, ${MEASURE_MS} ms measured (virtual); node ${process.version}, ${(await import('node:os')).cpus().length} cores`);
let ref = '', base = 0;
for (const k of SHARDS) {
  let mark: RoundProgress | null = null, last: RoundProgress | null = null, rss = 0;
  const t0 = performance.now();
  const r = await runSharded({
    text, format: 'manifests', cluster, shards: k, traffic, endNs, timeoutMs: 3_600_000, maxWindowNs: 1e6,
    onRound: (p) => {
      if (mark === null && p.w > WARMUP_MS * 1e6) mark = p;
      last = p;
      if ((p.rounds & 63) === 0) rss = Math.max(rss, process.memoryUsage().rss);
    },
  });
  const totalS = (performance.now() - t0) / 1000;
  if (r.failure !== null) throw new Error(`${k} shards: shard ${r.failure.shard} failed: ${r.failure.reason}`);
  if (ref === '') ref = outcome(r);
  else if (outcome(r) !== ref) throw new Error(`${k} shards: the outcome ${outcome(r)} differs from the first run's ${ref}`);
  const m = mark as RoundProgress | null, e = last as RoundProgress | null;
  if (m === null || e === null) throw new Error('the run ended before the warm-up did');
  const ms = e.roundsMs - m.roundsMs, packets = e.delivered - m.delivered, rounds = e.rounds - m.rounds;
  const sync = ms - (e.criticalMs - m.criticalMs);
  const pps = packets / ms * 1000;
  if (base === 0) base = pps;
  console.log(`${k} shard${k > 1 ? 's' : ' '}: build ${(r.wall.startMs / 1000).toFixed(1)} s, warm-up ${(m.roundsMs / 1000).toFixed(1)} s; `
    + `steady ${Math.round(pps).toLocaleString('en')} packets/s (${packets} in ${(ms / 1000).toFixed(2)} s, ${(pps / base).toFixed(2)}×), `
    + `${rounds} rounds, synchronization ${(sync / 1000).toFixed(2)} s (${(sync / Math.max(rounds, 1)).toFixed(2)} ms a round); `
    + `each shard's simulation ${e.busyMs.map((b, i) => ((b - m.busyMs[i]!) / 1000).toFixed(2)).join(' / ')} s; `
    + `peak RSS ${(Math.max(rss, process.memoryUsage().rss) / 1e9).toFixed(1)} GB; total ${totalS.toFixed(0)} s; echoes ${r.udp.reduce((a, u) => a + u.received, 0)}/${r.udp.reduce((a, u) => a + u.sent, 0)}`);
}
