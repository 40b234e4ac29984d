/**
 * The regression guard (issue 10): compare a bench results file (`BenchDoc`,
 * bench/harness.ts) with the committed baseline and flag every case, and
 * every suite, more than 20 % slower.
 * The rule compares ratios within one run, never absolute times, so a slower
 * or busier machine does not flag everything: in each file a case's rate
 * (median, else mean) is divided by the reference of that file — the
 * geometric mean of the rates of all cases the two files share (or one
 * named case, `--reference suite/name`; or, with `--per-suite`, the
 * geometric mean of the case's own suite, which is blind to a whole suite
 * slowing down but not to load that changed between suites of one run on a
 * shared machine). A case is flagged when its
 * normalised rate fell below (1 − threshold) × its baseline's; a suite when
 * the geometric mean of its cases' ratios did. Cases only in one file, and
 * figures that are not rates (perSec 0: memory), are listed, not compared.
 * Usage: `npm run bench:guard [-- results.json] [--baseline file]
 * [--threshold 0.2] [--reference suite/name | --per-suite]` (defaults:
 * bench/results/latest.json against bench/results/baseline.json); exit
 * status 1 when something is flagged, 2 on bad input.
 * Neighbours: bench/run.ts (writes the results), test/bench/guard.test.ts.
 */
import { readFileSync } from 'node:fs';
import { SdnemuError } from '../src/errors.js';
import type { BenchDoc, BenchResult } from './harness.js';

/** A results file that cannot be compared: 'field' names the place (a file, or a result's index). */
export class GuardInputError extends SdnemuError {
  readonly field: string;
  constructor(field: string, message: string) {
    super('BENCH_GUARD_INPUT', `${field}: ${message}`);
    this.name = 'GuardInputError';
    this.field = field;
  }
  override location(): Record<string, string | number> {
    return { field: this.field };
  }
}

export interface GuardOptions {
  /** how much slower (a fraction) a case may get before it is flagged; default 0.2 */
  threshold?: number;
  /** "suite/name" of the reference case; default: the geometric mean of the shared cases */
  reference?: string;
  /** normalise each case by the geometric mean of its suite's shared cases (suites are then not flagged as a whole) */
  perSuite?: boolean;
}

export interface CaseVerdict {
  suite: string;
  name: string;
  /** rates in each file */
  baseline: number;
  current: number;
  /** the current normalised rate over the baseline's: < 1 is slower */
  ratio: number;
  flagged: boolean;
}

export interface SuiteVerdict { suite: string; cases: number; ratio: number; flagged: boolean }

export interface GuardReport {
  threshold: number;
  reference: string;
  cases: CaseVerdict[];
  suites: SuiteVerdict[];
  /** "suite/name" of the cases in one file only */
  onlyBaseline: string[];
  onlyCurrent: string[];
  flagged: boolean;
}

const key = (r: BenchResult): string => `${r.suite}/${r.name}`;
const rateOf = (r: BenchResult): number => r.median ?? r.perSec;
const geomean = (xs: number[]): number => Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / Math.max(xs.length, 1));

/** The rates of 'doc' by "suite/name" (rates > 0 only), checked. */
function rates(doc: unknown, what: string): Map<string, BenchResult> {
  const results = (doc as { results?: unknown } | null)?.results;
  if (!Array.isArray(results)) throw new GuardInputError(`${what}.results`, 'not an array of results');
  const out = new Map<string, BenchResult>();
  results.forEach((r: unknown, i) => {
    const x = r as Partial<BenchResult> | null;
    if (typeof x?.suite !== 'string' || typeof x.name !== 'string' || typeof x.perSec !== 'number') {
      throw new GuardInputError(`${what}.results[${i}]`, 'wants suite, name (strings) and perSec (a number)');
    }
    if (x.median !== undefined && typeof x.median !== 'number') throw new GuardInputError(`${what}.results[${i}].median`, 'not a number');
    const res = x as BenchResult;
    if (Number.isFinite(rateOf(res)) && rateOf(res) > 0) out.set(key(res), res);
  });
  return out;
}

/** Compare 'current' with 'baseline' (parsed results files). */
export function compare(baseline: BenchDoc | unknown, current: BenchDoc | unknown, opts: GuardOptions = {}): GuardReport {
  const threshold = opts.threshold ?? 0.2;
  if (!(threshold > 0 && threshold < 1)) throw new GuardInputError('threshold', `wants a fraction between 0 and 1, got ${threshold}`);
  const base = rates(baseline, 'baseline'), cur = rates(current, 'current');
  const shared = [...base.keys()].filter((k) => cur.has(k));
  if (opts.reference !== undefined && opts.perSuite === true) throw new GuardInputError('reference', 'a reference case and per-suite normalisation exclude each other');
  /** the reference rates [baseline, current] for the cases 'keys' */
  const refOf = (keys: string[]): [number, number] => [geomean(keys.map((k) => rateOf(base.get(k)!))), geomean(keys.map((k) => rateOf(cur.get(k)!)))];
  let reference: string;
  let refFor: (suite: string) => [number, number];
  if (opts.reference !== undefined) {
    const b = base.get(opts.reference), c = cur.get(opts.reference);
    if (b === undefined || c === undefined) throw new GuardInputError('reference', `no case '${opts.reference}' (suite/name) with a rate in both files`);
    reference = `case ${opts.reference}`;
    refFor = () => [rateOf(b), rateOf(c)];
  } else if (opts.perSuite === true) {
    const refs = new Map<string, [number, number]>();
    for (const suite of new Set(shared.map((k) => base.get(k)!.suite))) refs.set(suite, refOf(shared.filter((k) => base.get(k)!.suite === suite)));
    reference = 'geometric mean of each suite\'s shared cases';
    refFor = (suite) => refs.get(suite)!;
  } else {
    const ref = refOf(shared);
    reference = `geometric mean of ${shared.length} shared cases`;
    refFor = () => ref;
  }
  const cases: CaseVerdict[] = shared.map((k) => {
    const b = base.get(k)!, c = cur.get(k)!;
    const [refBase, refCur] = refFor(b.suite);
    const ratio = (rateOf(c) / refCur) / (rateOf(b) / refBase);
    return { suite: b.suite, name: b.name, baseline: rateOf(b), current: rateOf(c), ratio, flagged: ratio < 1 - threshold };
  });
  const bySuite = new Map<string, number[]>();
  for (const c of cases) bySuite.set(c.suite, [...(bySuite.get(c.suite) ?? []), c.ratio]);
  const suites = [...bySuite].map(([suite, rs]) => {
    const ratio = geomean(rs);
    return { suite, cases: rs.length, ratio, flagged: opts.perSuite !== true && ratio < 1 - threshold };
  });
  return {
    threshold, reference, cases, suites,
    onlyBaseline: [...base.keys()].filter((k) => !cur.has(k)),
    onlyCurrent: [...cur.keys()].filter((k) => !base.has(k)),
    flagged: cases.some((c) => c.flagged) || suites.some((s) => s.flagged),
  };
}

const pct = (r: number): string => `${r >= 1 ? '+' : ''}${((r - 1) * 100).toFixed(1)} %`;

/** The report as text: flagged cases and suites first, then every suite's ratio. */
export function formatReport(r: GuardReport): string {
  const out: string[] = [`bench guard: rates normalised by the ${r.reference}; flagged when more than ${Math.round(r.threshold * 100)} % slower than the baseline`];
  for (const c of r.cases.filter((x) => x.flagged)) out.push(`SLOWER  ${c.suite} › ${c.name}: ${pct(c.ratio)} (relative to the run)`);
  for (const s of r.suites.filter((x) => x.flagged)) out.push(`SLOWER  suite ${s.suite}: ${pct(s.ratio)} over ${s.cases} cases`);
  out.push('', 'suites (geometric mean of the cases\' normalised ratios):');
  for (const s of r.suites) out.push(`  ${s.flagged ? '!' : ' '} ${s.suite.padEnd(16)} ${pct(s.ratio).padStart(9)}  (${s.cases} cases)`);
  if (r.onlyBaseline.length > 0) out.push('', `not in this run (${r.onlyBaseline.length}): ${r.onlyBaseline.join('; ')}`);
  if (r.onlyCurrent.length > 0) out.push('', `new, not in the baseline (${r.onlyCurrent.length}): ${r.onlyCurrent.join('; ')}`);
  out.push('', r.flagged ? 'FLAGGED: a case or suite is more than the threshold slower' : 'ok: nothing more than the threshold slower');
  return out.join('\n');
}

function readDoc(file: string): unknown {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) { throw new GuardInputError(file, `cannot read (${(e as Error).message})`); }
  try { return JSON.parse(text) as unknown; } catch (e) { throw new GuardInputError(file, `not JSON (${(e as Error).message})`); }
}

/** The command line: exit status 0 (ok), 1 (flagged), 2 (bad input). */
export function main(argv: string[]): number {
  const opt = (name: string): string | undefined => { const i = argv.indexOf(`--${name}`); return i < 0 ? undefined : argv[i + 1]; };
  const valued = new Set(['--baseline', '--threshold', '--reference']);
  const perSuite = argv.includes('--per-suite');
  const positional = argv.filter((a, i) => !a.startsWith('--') && !valued.has(argv[i - 1] ?? ''));
  try {
    const t = opt('threshold');
    const ref = opt('reference');
    const report = compare(readDoc(opt('baseline') ?? 'bench/results/baseline.json'), readDoc(positional[0] ?? 'bench/results/latest.json'),
      { ...(t !== undefined ? { threshold: Number(t) } : {}), ...(ref !== undefined ? { reference: ref } : {}), perSuite });
    console.log(formatReport(report));
    return report.flagged ? 1 : 0;
  } catch (e) {
    if (e instanceof SdnemuError) { console.error(`bench guard: ${e.message}`); return 2; }
    throw e;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main(process.argv.slice(2));
