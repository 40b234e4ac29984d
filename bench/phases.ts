/**
 * Phase-by-phase build benchmarks (bench/k8s.bench.ts, bench/compute.bench.ts):
 * each phase's wall time, the process's CPU time (user + system, all
 * threads: GC helpers included — the steadier figure on a shared machine)
 * and memory (heap used + array buffers after a forced GC, needs
 * --expose-gc; and the RSS), printed as one table and as `RESULT {json}`
 * lines for collection. Progress goes to a terminal's stderr only (quiet
 * in CI).
 */
import { performance } from 'node:perf_hooks';
import { interactive } from './progress.js';

/** `--name N` from the command line (a whole number ≥ 'min'), else 'dflt'. */
export function intArg(name: string, dflt: number, min = 0): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < min) throw new Error(`--${name} wants a whole number ≥ ${min}, got '${process.argv[i + 1]}'`);
  return v;
}

export interface PhaseRow { phase: string; ms: number; cpuMs: number; heapMB: number; rssMB: number; note: string }

const gc = (globalThis as { gc?: () => void }).gc;

/** Heap used + array buffers after a forced GC, and the RSS, in MB. */
export function memory(): { heapMB: number; rssMB: number } {
  gc?.();
  const m = process.memoryUsage();
  return { heapMB: Math.round((m.heapUsed + m.arrayBuffers) / 1e6), rssMB: Math.round(m.rss / 1e6) };
}

export class Phases {
  readonly rows: PhaseRow[] = [];

  /** Run 'fn' as phase 'name'; 'note' describes its result. */
  run<T>(name: string, fn: () => T, note: (r: T, ms: number) => string = () => ''): T {
    const a = performance.now(), cpu = process.cpuUsage();
    const r = fn();
    const ms = performance.now() - a, c = process.cpuUsage(cpu);
    const row = { phase: name, ms: Math.round(ms), cpuMs: Math.round((c.user + c.system) / 1000), ...memory(), note: note(r, ms) };
    this.rows.push(row);
    if (interactive()) console.error(`… ${row.phase}: ${row.ms} ms (cpu ${row.cpuMs} ms), ${row.heapMB} MB heap, ${row.rssMB} MB rss ${row.note}`);
    return r;
  }

  /** The table, a title line first. */
  print(title: string, width = 58): void {
    console.log(`\n${title}\n`);
    console.log(`${'phase'.padEnd(width)} ${'ms'.padStart(9)} ${'cpu ms'.padStart(9)} ${'heap MB'.padStart(8)} ${'rss MB'.padStart(7)}  note`);
    for (const r of this.rows) {
      console.log(`${r.phase.padEnd(width)} ${String(r.ms).padStart(9)} ${String(r.cpuMs).padStart(9)} ${String(r.heapMB).padStart(8)} ${String(r.rssMB).padStart(7)}  ${r.note}`);
    }
  }

  /** `RESULT {json}` per phase, with 'tags'. */
  results(tags: Record<string, unknown>): void {
    for (const r of this.rows) process.stdout.write(`RESULT ${JSON.stringify({ ...tags, ...r })}\n`);
  }
}
