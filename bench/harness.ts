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
