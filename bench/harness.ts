/**
 * A thin layer over benchmark.js shared by every bench/*.bench.ts file.
 *
 * Each case processes a batch of packets per call, so call overhead does not
 * swamp per-packet work; results are reported per packet (ops/s × batch).
 * benchmark.js warms up and samples until the relative margin of error is
 * small; we report the mean rate, the rme, the median and the spread of the
 * samples (min, quartiles, max, as rates), and a sink value so V8 cannot drop
 * the work. `BenchDoc` is the schema of bench/results/*.json (bench/run.ts
 * writes it; bench/plot.ts and bench/guard.ts read it).
 */
import Benchmark from 'benchmark';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The spread of a case's samples, each as a rate (items per second): the slowest sample is `min`. */
export interface Spread { min: number; p25: number; p75: number; max: number }

export interface BenchResult {
  suite: string;
  name: string;
  /** packets (or items) per second: the mean rate (0 for a figure that is not a rate, e.g. memory) */
  perSec: number;
  /** the median sample's rate, items per second (absent in results written before it was kept) */
  median?: number;
  /** the samples' rates: min, quartiles, max (absent as 'median') */
  spread?: Spread;
  /** relative margin of error of the mean, percent (95 %) */
  rme: number;
  samples: number;
  /** items processed per call */
  batch: number;
  /** extra figures (hit rates, bytes allocated, ms, MB …) */
  extra?: Record<string, number | string>;
}

/** The machine a results file was measured on. */
export interface BenchMachine {
  /** cpus()[0].model */
  cpu: string;
  cores: number;
  memGiB: number;
  platform: string;
  arch: string;
}

/**
 * bench/results/latest.json and baseline.json. Rates are per second, higher
 * is faster; times are in each result's `extra` (`ms`, `meanMs`, `p50Ms`).
 */
export interface BenchDoc {
  /** the schema's version: 2 adds machine, median, spread and durationSec (version 1 had none) */
  schema: 2;
  /** ISO date of the run's end */
  date: string;
  /** `git rev-parse --short HEAD`, with "+dirty" when the work tree had changes */
  commit: string;
  /** process.version */
  node: string;
  machine: BenchMachine;
  /** wall time of the whole run, s (a filtered run: of the suites it ran) */
  durationSec: number;
  /** suites run, in order */
  suites: string[];
  results: BenchResult[];
}

/** The 'q' quantile (0–1) of sorted 'xs', interpolated. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return 0;
  const at = (xs.length - 1) * q, lo = Math.floor(at), hi = Math.ceil(at);
  return xs[lo]! + (xs[hi]! - xs[lo]!) * (at - lo);
}

/**
 * Median and spread, as rates, of samples given as seconds (or ms, with
 * 'unit' 1000) per call of 'batch' items.
 */
export function rateStats(secondsPerCall: readonly number[], batch: number, unit = 1): { median: number; spread: Spread } {
  const t = [...secondsPerCall].sort((a, b) => a - b);
  const rate = (s: number): number => (s > 0 ? (batch * unit) / s : 0);
  // the fastest call is the highest rate: quantiles of time turn around
  return { median: rate(quantile(t, 0.5)), spread: { min: rate(t[t.length - 1] ?? 0), p25: rate(quantile(t, 0.75)), p75: rate(quantile(t, 0.25)), max: rate(t[0] ?? 0) } };
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
      ...rateStats(b.stats.sample, c.batch),
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
