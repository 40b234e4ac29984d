import { describe, expect, it } from 'vitest';
import { compare, formatReport, GuardInputError } from '../../bench/guard.js';
import type { BenchDoc, BenchResult } from '../../bench/harness.js';

const r = (suite: string, name: string, rate: number, extra: Partial<BenchResult> = {}): BenchResult =>
  ({ suite, name, perSec: rate, median: rate, rme: 1, samples: 20, batch: 1, ...extra });

function doc(results: BenchResult[]): BenchDoc {
  return {
    schema: 2, date: '2026-11-22T00:00:00.000Z', commit: 'abc1234', node: 'v20.0.0',
    machine: { cpu: 'test', cores: 2, memGiB: 4, platform: 'linux', arch: 'x64' }, durationSec: 1, suites: [], results,
  };
}

const BASE = doc([
  r('a', 'x', 1000), r('a', 'y', 2000), r('b', 'z', 500), r('b', 'w', 4000), r('c', 'v', 100),
]);
/** every rate × f, case 'only' × g on top */
const scaled = (f: number, only?: string, g = 1): BenchDoc =>
  doc(BASE.results.map((x) => r(x.suite, x.name, x.perSec * f * (`${x.suite}/${x.name}` === only ? g : 1))));

describe('bench guard: ratios within one run', () => {
  it('a uniformly slower machine flags nothing', () => {
    const rep = compare(BASE, scaled(0.4));
    expect(rep.flagged).toBe(false);
    for (const c of rep.cases) expect(c.ratio).toBeCloseTo(1, 9);
  });

  it('one case 2x slower than the rest of its run is flagged, with its suite', () => {
    const rep = compare(BASE, scaled(1.5, 'b/z', 0.5));
    expect(rep.flagged).toBe(true);
    expect(rep.cases.filter((c) => c.flagged).map((c) => `${c.suite}/${c.name}`)).toEqual(['b/z']);
    // the reference (geometric mean of 5 cases) moved by 0.5^(1/5): the case's ratio is 0.5 / 0.5^0.2
    expect(rep.cases.find((c) => c.name === 'z')!.ratio).toBeCloseTo(0.5 / 0.5 ** 0.2, 9);
    // the suite: the geometric mean of its two cases' ratios (0.57 and 1.15) is 0.81, not flagged on its own
    expect(rep.suites.find((s) => s.suite === 'b')!.flagged).toBe(false);
  });

  it('a suite whose cases all got slower is flagged as a suite', () => {
    const cur = doc(BASE.results.map((x) => r(x.suite, x.name, x.perSec * (x.suite === 'b' ? 0.85 : 1))));
    expect(compare(BASE, cur, { reference: 'a/x' }).flagged).toBe(false);
    const worse = doc(BASE.results.map((x) => r(x.suite, x.name, x.perSec * (x.suite === 'b' ? 0.7 : 1))));
    const rep2 = compare(BASE, worse, { reference: 'a/x' });
    expect(rep2.suites.find((s) => s.suite === 'b')).toMatchObject({ flagged: true, cases: 2 });
    expect(rep2.suites.find((s) => s.suite === 'b')!.ratio).toBeCloseTo(0.7, 9);
    expect(formatReport(rep2)).toContain('SLOWER  suite b');
  });

  it('the threshold is 20 % by default: 15 % slower passes, 30 % slower fails', () => {
    const ref = { reference: 'a/x' };
    expect(compare(BASE, scaled(1, 'c/v', 0.85), ref).flagged).toBe(false);
    const rep = compare(BASE, scaled(1, 'c/v', 0.7), ref);
    expect(rep.flagged).toBe(true);
    expect(rep.cases.find((c) => c.name === 'v')!.ratio).toBeCloseTo(0.7, 9);
    expect(compare(BASE, scaled(1, 'c/v', 0.7), { ...ref, threshold: 0.35 }).flagged).toBe(false);
  });

  it('a named reference case normalises both runs', () => {
    // the reference itself got 2x faster: relative to it, everything else is 2x slower
    const rep = compare(BASE, scaled(1, 'a/x', 2), { reference: 'a/x' });
    expect(rep.reference).toBe('case a/x');
    expect(rep.cases.filter((c) => c.flagged).length).toBe(4);
  });

  it('per suite: load that differs between suites flags nothing; a case slower than its suite is flagged', () => {
    // suite b ran on a busier machine: all its cases 2x slower
    const busy = doc(BASE.results.map((x) => r(x.suite, x.name, x.perSec * (x.suite === 'b' ? 0.5 : 1))));
    expect(compare(BASE, busy).flagged).toBe(true);
    const rep = compare(BASE, busy, { perSuite: true });
    expect(rep.flagged).toBe(false);
    expect(rep.suites.every((s) => !s.flagged)).toBe(true);
    const one = doc(BASE.results.map((x) => r(x.suite, x.name, x.perSec * (x.name === 'z' ? 0.5 : 1))));
    expect(compare(BASE, one, { perSuite: true }).cases.filter((c) => c.flagged).map((c) => c.name)).toEqual(['z']);
    // a suite of one case is its own reference
    expect(compare(BASE, doc(BASE.results.map((x) => r(x.suite, x.name, x.perSec * (x.suite === 'c' ? 0.1 : 1)))), { perSuite: true }).flagged).toBe(false);
    expect(() => compare(BASE, BASE, { perSuite: true, reference: 'a/x' })).toThrow(GuardInputError);
  });

  it('a faster case is never flagged', () => {
    expect(compare(BASE, scaled(1, 'a/y', 3)).cases.find((c) => c.name === 'y')!.flagged).toBe(false);
  });

  it('lists cases present in one file only, and leaves non-rates (memory) out', () => {
    const cur = doc([...scaled(1).results.filter((x) => x.name !== 'w'), r('d', 'new', 10), r('m', 'memory', 0)]);
    const rep = compare(doc([...BASE.results, r('m', 'memory', 0)]), cur);
    expect(rep.onlyBaseline).toEqual(['b/w']);
    expect(rep.onlyCurrent).toEqual(['d/new']);
    expect(rep.cases.map((c) => c.name)).not.toContain('memory');
    expect(rep.flagged).toBe(false);
  });

  it('uses the mean rate when a result has no median (results written before it was kept)', () => {
    const old = { ...BASE, results: BASE.results.map(({ median: _m, ...x }) => x) };
    expect(compare(old, scaled(0.9)).flagged).toBe(false);
  });

  it('the report names the flagged cases and suites', () => {
    const text = formatReport(compare(BASE, scaled(1, 'b/z', 0.5)));
    expect(text).toContain('SLOWER  b › z');
    expect(text).toContain('FLAGGED');
    expect(formatReport(compare(BASE, BASE))).toContain('ok: nothing');
  });

  it('bad input is a typed error naming the place', () => {
    expect(() => compare({}, BASE)).toThrow(GuardInputError);
    try {
      compare(BASE, { results: [r('a', 'x', 1), { suite: 'a', name: 3 }] });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(GuardInputError);
      expect((e as GuardInputError).field).toBe('current.results[1]');
      expect((e as GuardInputError).code).toBe('BENCH_GUARD_INPUT');
    }
    expect(() => compare(BASE, BASE, { reference: 'nope/none' })).toThrow(/reference/);
    expect(() => compare(BASE, BASE, { threshold: 1.5 })).toThrow(/threshold/);
  });
});
