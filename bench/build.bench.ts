/**
 * Build sweeps for `npm run bench` (issue 10): topology build time and
 * memory versus size, from small runs of the two phase-by-phase build
 * benches, each size in a child process of its own (a clean heap; the
 * memory figures are that process's):
 *  - bench/k8s.bench.ts --build-only: 10, 100 and 1,000 nodes with 30 pods
 *    a node and a Service per 15 pods (the control plane, the data plane
 *    with lazy peers, kube-proxy iptables loaded);
 *  - bench/compute.bench.ts --build-only: 10, 40 and 100 hypervisors with
 *    50 VMs a hypervisor, 10 VMs a VPC.
 * One result per phase and one for the whole build ("total"): perSec is
 * builds per second (1000 / ms) so bench/guard.ts can compare it as a rate;
 * extra has ms, cpuMs, heapMB, rssMB (after the phase, a forced GC) and the
 * sizes. A build runs once per size: no spread.
 * The 5,000-node cluster and the 200-hypervisor cloud stay out of `npm run
 * bench` (30 s and 4 GB, 14 s): run those benches directly (README).
 * Neighbours: bench/phases.ts (the RESULT lines parsed here), bench/plot.ts.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { BenchResult } from './harness.js';
import type { PhaseRow } from './phases.js';

interface Build { suite: 'k8s' | 'compute'; file: string; args: string[]; sizes: Record<string, number>; label: string; heapMB: number }

export const K8S_NODES = [10, 100, 1000];
export const CLOUD_HYPERVISORS = [10, 40, 100];

function builds(): Build[] {
  const out: Build[] = [];
  for (const nodes of K8S_NODES) {
    const pods = nodes * 30, services = pods / 15;
    out.push({ suite: 'k8s', file: 'k8s.bench.ts', args: ['--nodes', String(nodes), '--pods', String(pods), '--services', String(services), '--build-only'],
      sizes: { nodes, pods, services }, label: `${nodes} nodes / ${pods} pods / ${services} services`, heapMB: 4000 });
  }
  for (const hypervisors of CLOUD_HYPERVISORS) {
    const vms = hypervisors * 50, vpcs = vms / 10;
    out.push({ suite: 'compute', file: 'compute.bench.ts', args: ['--hypervisors', String(hypervisors), '--vpcs', String(vpcs), '--vms', String(vms), '--build-only'],
      sizes: { hypervisors, vpcs, vms }, label: `${hypervisors} hypervisors / ${vms} VMs / ${vpcs} VPCs`, heapMB: 4000 });
  }
  return out;
}

/** The phase rows in a bench's stdout (`RESULT {json}` lines, bench/phases.ts). */
export function parsePhases(stdout: string): PhaseRow[] {
  const rows: PhaseRow[] = [];
  for (const l of stdout.split('\n')) if (l.startsWith('RESULT ')) rows.push(JSON.parse(l.slice(7)) as PhaseRow);
  return rows;
}

/** The results of one build: a result per phase, then the total ('buildPhases' first phases). */
export function buildResults(suite: string, label: string, sizes: Record<string, number>, rows: PhaseRow[], buildPhases: number): BenchResult[] {
  const one = (name: string, ms: number, cpuMs: number, heapMB: number, rssMB: number): BenchResult => {
    const perSec = ms > 0 ? 1000 / ms : 0;
    return { suite: `${suite}-build`, name, perSec, median: perSec, rme: 0, samples: 1, batch: 1, extra: { ...sizes, ms, cpuMs, heapMB, rssMB } };
  };
  const out = rows.map((r) => one(`${label}: ${r.phase}`, r.ms, r.cpuMs, r.heapMB, r.rssMB));
  const b = rows.slice(0, buildPhases);
  const last = b[b.length - 1];
  if (last !== undefined) {
    out.push(one(`${label}: total`, b.reduce((a, r) => a + r.ms, 0), b.reduce((a, r) => a + r.cpuMs, 0), last.heapMB, Math.max(...b.map((r) => r.rssMB))));
  }
  return out;
}

export async function run(): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  const here = fileURLToPath(new URL('.', import.meta.url));
  for (const b of builds()) {
    const r = spawnSync(process.execPath, [...process.execArgv, `--max-old-space-size=${b.heapMB}`, '--max-semi-space-size=32', '--expose-gc', `${here}${b.file}`, ...b.args],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status !== 0) throw new Error(`${b.suite} build bench (${b.label}) failed (status ${r.status})`);
    // k8s: control plane (2 phases), data plane (2), kube-proxy's load (1); compute: hypervisors, VPCs, VMs
    const res = buildResults(b.suite, b.label, b.sizes, parsePhases(r.stdout), b.suite === 'k8s' ? 5 : 3);
    const total = res[res.length - 1];
    if (total !== undefined) console.log(`${total.suite} › ${total.name}: ${total.extra?.['ms']} ms (cpu ${total.extra?.['cpuMs']} ms), ${total.extra?.['heapMB']} MB heap, ${total.extra?.['rssMB']} MB rss`);
    out.push(...res);
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
