/**
 * `npm run bench`: run every suite in bench/ and write the results as JSON
 * under bench/results/ (machine, Node version, commit, per-case rates).
 * Usage: tsx bench/run.ts [suite-name-substring …] — a filtered run updates
 * only its suites in latest.json.
 */
import { execSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import type { BenchResult } from './harness.js';

const SUITES: Record<string, () => Promise<BenchResult[]>> = {
  wire: async () => (await import('./wire.bench.js')).run(),
  classifier: async () => (await import('./classifier.bench.js')).run(),
  xlate: async () => (await import('./xlate.bench.js')).run(),
  datapath: async () => (await import('./datapath.bench.js')).run(),
  netfilter: async () => (await import('./netfilter.bench.js')).run(),
  topology: async () => (await import('./topology.bench.js')).run(),
  route: async () => (await import('./route.bench.js')).run(),
  trace: async () => (await import('./trace.bench.js')).run(),
  'kube-proxy': async () => (await import('./kube-proxy.bench.js')).run(),
};

const filter = process.argv.slice(2);
const results: BenchResult[] = [];
for (const [name, run] of Object.entries(SUITES)) {
  if (filter.length > 0 && !filter.some((f) => name.includes(f))) continue;
  results.push(...(await run()));
}
let commit = 'unknown';
try { commit = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim(); } catch { /* not a checkout */ }
const doc = {
  date: new Date().toISOString(),
  commit,
  node: process.version,
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memGiB: Math.round(totalmem() / 2 ** 30),
  results,
};
mkdirSync('bench/results', { recursive: true });
const file = join('bench/results', 'latest.json');
// a filtered run replaces only the suites it ran; the others keep their last results
if (filter.length > 0 && existsSync(file)) {
  const ran = new Set(results.map((r) => r.suite));
  const old = JSON.parse(readFileSync(file, 'utf8')) as { results?: BenchResult[] };
  doc.results = [...(old.results ?? []).filter((r) => !ran.has(r.suite)), ...results];
}
writeFileSync(file, JSON.stringify(doc, null, 2) + '\n');
console.log(`\nwrote ${file}`);
