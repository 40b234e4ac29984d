/**
 * A thin layer over benchmark.js shared by every bench/*.bench.ts file.
 *
 * Each case processes a batch of packets per call, so call overhead does not
 * swamp per-packet work; results are reported per packet (ops/s × batch).
 * benchmark.js warms up and samples until the relative margin of error is
 * small; we report the mean rate, the rme, and a sink value so V8 cannot drop
 * the work.
 */
import Benchmark from 'benchmark';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface BenchResult {
  suite: string;
  name: string;
  /** packets (or items) per second */
  perSec: number;
  /** relative margin of error, percent */
  rme: number;
  samples: number;
  /** items processed per call */
  batch: number;
  /** extra figures (hit rates, bytes allocated …) */
  extra?: Record<string, number | string>;
}

export interface BenchCase {
  name: string;
  batch: number;
  fn: () => number;
  extra?: () => Record<string, number | string>;
}

let sink = 0;
/** Keep a value alive so the optimizer cannot remove the work producing it. */
export function consume(v: number): void {
  sink = (sink + v) | 0;
}

export function runSuite(suiteName: string, cases: BenchCase[], opts: { maxTime?: number; quiet?: boolean } = {}): BenchResult[] {
  const results: BenchResult[] = [];
  const suite = new Benchmark.Suite(suiteName);
  for (const c of cases) {
    suite.add(c.name, () => { consume(c.fn()); }, { maxTime: opts.maxTime ?? 2, minSamples: 20 });
  }
  suite.on('cycle', (ev: Benchmark.Event) => {
    const b = ev.target as unknown as Benchmark;
    const c = cases.find((x) => x.name === b.name)!;
    const r: BenchResult = {
      suite: suiteName,
      name: b.name ?? '',
      perSec: (b.hz ?? 0) * c.batch,
      rme: b.stats.rme,
      samples: b.stats.sample.length,
      batch: c.batch,
    };
    if (c.extra) r.extra = c.extra();
    results.push(r);
    if (opts.quiet !== true) console.log(`${suiteName} › ${r.name}: ${formatRate(r.perSec)}/s ±${r.rme.toFixed(2)}% (${r.samples} samples)`);
  });
  suite.run({ async: false });
  if (sink === 0x7fffffff) console.log('');
  return results;
}

export function formatRate(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return n.toFixed(0);
}

const RESULT_TAG = 'RESULT ';

/**
 * Run each of 'builders' in a child process of its own (same Node, same
 * flags, the bench module 'moduleUrl' with `--case i`): a case starts with
 * clean JIT feedback and a heap of its own, as a user's one workload would.
 * In one process, the per-packet functions every case shares carry the type
 * feedback (and the heap) of the cases before, and rates moved by 2x with
 * the order. The module calls `caseMain` when run directly.
 */
export function runIsolated(suiteName: string, moduleUrl: string, count: number): BenchResult[] {
  const out: BenchResult[] = [];
  for (let i = 0; i < count; i++) {
    const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(moduleUrl), '--case', String(i)],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status !== 0) throw new Error(`${suiteName} bench case ${i} failed (status ${r.status})`);
    const json = r.stdout.split('\n').find((l) => l.startsWith(RESULT_TAG));
    if (json === undefined) throw new Error(`${suiteName} bench case ${i} printed no result`);
    for (const x of JSON.parse(json.slice(RESULT_TAG.length)) as BenchResult[]) {
      console.log(`${suiteName} › ${x.name}: ${formatRate(x.perSec)}/s ±${x.rme.toFixed(2)}% (${x.samples} samples)`);
      out.push(x);
    }
  }
  return out;
}

/**
 * The `--case i` side of `runIsolated`: when argv names a case, run that
 * builder's cases and print them for the parent; true when it did.
 */
export function caseMain(suiteName: string, builders: (() => BenchCase[])[]): boolean {
  const at = process.argv.indexOf('--case');
  if (at < 0) return false;
  const results = runSuite(suiteName, builders[Number(process.argv[at + 1])]!(), { quiet: true });
  process.stdout.write(`${RESULT_TAG}${JSON.stringify(results)}\n`);
  return true;
}
