/**
 * `npm run bench`: run every suite in bench/ and write the results as JSON
 * (`BenchDoc`, bench/harness.ts: machine, Node version, commit, per-case
 * mean and median rates with their spread) to bench/results/latest.json,
 * then render the plots (bench/plot.ts) into bench/results/*.svg.
 * Usage: tsx bench/run.ts [suite-name-substring …] [--no-plot] — a filtered
 * run updates only its suites in latest.json. A progress bar over the suites
 * shows on a terminal (bench/progress.ts; quiet in CI).
 * Compare with the committed baseline: `npm run bench:guard` (bench/guard.ts).
 * Neighbours: bench/harness.ts, bench/plot.ts, bench/guard.ts.
 */
import { execSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { arch, cpus, platform, totalmem } from 'node:os';
import { join } from 'node:path';
import type { BenchDoc, BenchResult } from './harness.js';
import { progress } from './progress.js';
import { renderAll } from './plot.js';

type Suite = () => Promise<BenchResult[]>;

const SUITES: Record<string, Suite> = {
  wire: async () => (await import('./wire.bench.js')).run(),
  classifier: async () => (await import('./classifier.bench.js')).run(),
  xlate: async () => (await import('./xlate.bench.js')).run(),
  datapath: async () => (await import('./datapath.bench.js')).run(),
  netfilter: async () => (await import('./netfilter.bench.js')).run(),
  topology: async () => (await import('./topology.bench.js')).run(),
  route: async () => (await import('./route.bench.js')).run(),
  trace: async () => (await import('./trace.bench.js')).run(),
  'kube-proxy': async () => (await import('./kube-proxy.bench.js')).run(),
  build: async () => (await import('./build.bench.js')).run(),
  'ovs-compare': async () => (await import('./ovs-compare.bench.js')).run(),
  // the VM overlay in one thread and on 2 worker threads (the 5,000-node cluster: bench/shard-k8s.bench.ts, by hand)
  shard: async () => (await import('./shard.bench.js')).run(),
};

const args = process.argv.slice(2);
const noPlot = args.includes('--no-plot');
const filter = args.filter((a) => !a.startsWith('--'));
const chosen = Object.entries(SUITES).filter(([name]) => filter.length === 0 || filter.some((f) => name.includes(f)));

const t0 = Date.now();
const results: BenchResult[] = [];
const failed: string[] = [];
const bar = progress('bench', chosen.length);
for (const [name, run] of chosen) {
  bar.tick(0, name);
  // a suite that fails is reported and left out; the others still run and are written
  try { results.push(...(await run())); } catch (e) { failed.push(name); console.error(`bench: suite ${name} failed: ${(e as Error).message}`); }
  bar.tick(1, name);
}
bar.done();

let commit = 'unknown';
try {
  commit = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
  if (execSync('git status --porcelain --untracked-files=no', { encoding: 'utf8' }).trim() !== '') commit += '+dirty';
} catch { /* not a checkout */ }
const doc: BenchDoc = {
  schema: 2,
  date: new Date().toISOString(),
  commit,
  node: process.version,
  machine: { cpu: cpus()[0]?.model.trim() ?? 'unknown', cores: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), platform: platform(), arch: arch() },
  durationSec: Math.round((Date.now() - t0) / 1000),
  suites: chosen.map(([name]) => name).filter((n) => !failed.includes(n)),
  results,
};
mkdirSync('bench/results', { recursive: true });
const file = join('bench/results', 'latest.json');
// a filtered run replaces only the suites it ran; the others keep their last results
if (filter.length > 0 && existsSync(file)) {
  const ran = new Set(results.map((r) => r.suite));
  const old = JSON.parse(readFileSync(file, 'utf8')) as Partial<BenchDoc>;
  doc.results = [...(old.results ?? []).filter((r) => !ran.has(r.suite)), ...results];
  doc.suites = [...new Set([...(old.suites ?? []), ...doc.suites])];
}
writeFileSync(file, JSON.stringify(doc, null, 2) + '\n');
console.log(`\nwrote ${file} (${doc.durationSec} s)`);
if (!noPlot) {
  for (const f of renderAll(doc, 'bench/results')) console.log(`wrote ${f}`);
}
if (failed.length > 0) {
  console.error(`bench: failed suites: ${failed.join(', ')}`);
  process.exitCode = 1;
}
