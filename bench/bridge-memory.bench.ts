/**
 * What an idle OVS bridge costs (the cluster-scale question: a Kubernetes
 * node is one br-int): 200 bridges with no flows made on one Topology, the
 * heap, array buffers and RSS per bridge after a forced GC.
 * Run: `node --expose-gc --import tsx bench/bridge-memory.bench.ts`.
 * Measured 2026-11-22 (Node 20, this machine): heap 971 KB, array buffers
 * 460 KB, RSS 1.5 MB per bridge — with the datapath's exact-match cache
 * (~2 MB) and its deeper packet buffers (64 KB each) made on first use; 1052 KB,
 * 3473 KB and 2.2 MB before.
 * Neighbours: bench/k8s.bench.ts (the whole cluster).
 */
import { Topology } from '../src/topology/topology.js';

const N = 200;
globalThis.gc?.();
const m0 = process.memoryUsage();
const t = new Topology({ seed: 1 });
const bridges = [];
for (let i = 0; i < N; i++) bridges.push(t.ovsBridge(`br${i}`, { defaultFlows: 'none' }));
globalThis.gc?.();
const m1 = process.memoryUsage();
const kb = (a: number, b: number): number => Math.round((b - a) / N / 1024);
console.log(`per idle OVS bridge (${bridges.length} made): heap ${kb(m0.heapUsed, m1.heapUsed)} KB, array buffers ${kb(m0.arrayBuffers, m1.arrayBuffers)} KB, RSS ${kb(m0.rss, m1.rss)} KB`);
