import { describe, expect, it } from 'vitest';
import { barSvg, charts, lineSvg, si, ticks } from '../../bench/plot.js';
import { barText, interactive } from '../../bench/progress.js';
import { rateStats } from '../../bench/harness.js';
import type { BenchDoc, BenchResult } from '../../bench/harness.js';

describe('bench plots', () => {
  it('ticks: powers of ten on a log axis, 1-2-5 steps on a linear one', () => {
    expect(ticks(100, 100_000, true)).toEqual([100, 1000, 10_000, 100_000]);
    expect(ticks(100, 10_000, true)).toEqual([100, 200, 500, 1000, 2000, 5000, 10_000]);
    expect(ticks(1, 10, true)).toEqual([1, 2, 5, 10]);
    expect(ticks(0, 3e6, false)).toEqual([0, 1e6, 2e6, 3e6]);
    expect(ticks(0, 2.4e6, false)).toEqual([0, 500_000, 1e6, 1.5e6, 2e6]);
  });

  it('si prefixes', () => {
    expect(si(1_234_567)).toBe('1.23 M');
    expect(si(25_000)).toBe('25 k');
    expect(si(12)).toBe('12');
  });

  it('a line chart has its title, axis labels, one polyline per series and escaped text', () => {
    const s = lineSvg({ kind: 'line', title: 'A & B', subtitle: 'sub', xLabel: 'rules', yLabel: 'lookups/s', xLog: true, yLog: false,
      series: [{ name: 's1', points: [{ x: 100, y: 5 }, { x: 10_000, y: 3, lo: 2, hi: 4 }] }, { name: 's2 <x>', points: [{ x: 1000, y: 1 }] }] });
    expect(s.startsWith('<svg')).toBe(true);
    expect(s).toContain('A &amp; B');
    expect(s).toContain('rules (log scale)');
    expect(s).toContain('s2 &lt;x&gt;');
    expect(s.match(/<polyline/g)!.length).toBe(2);
    expect(s.trim().endsWith('</svg>')).toBe(true);
  });

  it('a bar chart has one bar per case', () => {
    const s = barSvg({ kind: 'bar', title: 't', subtitle: '', xLabel: 'packets/s', bars: [{ label: 'a', value: 10 }, { label: 'b', value: 20, lo: 15, hi: 25 }] });
    expect(s.match(/<rect x=/g)!.length).toBe(2);
  });

  it('charts come from the results named as the benches name them; missing ones are skipped', () => {
    const r = (suite: string, name: string, perSec: number, extra?: BenchResult['extra']): BenchResult =>
      ({ suite, name, perSec, rme: 1, samples: 1, batch: 1, ...(extra ? { extra } : {}) });
    const doc: BenchDoc = {
      schema: 2, date: '2026-11-22T00:00:00Z', commit: 'c', node: 'v20', durationSec: 1, suites: [],
      machine: { cpu: 'cpu', cores: 2, memGiB: 1, platform: 'linux', arch: 'x64' },
      results: [
        r('kube-proxy', 'iptables: first (full) sync, 100 services / 1500 endpoints', 100),
        r('kube-proxy', 'iptables: first (full) sync, 10k services / 150k endpoints', 0.5),
        r('k8s-build', '10 nodes / 300 pods / 20 services: total', 2, { nodes: 10, ms: 500, rssMB: 100, heapMB: 20 }),
        r('k8s-build', '100 nodes / 3000 pods / 200 services: total', 0.5, { nodes: 100, ms: 2000, rssMB: 200, heapMB: 80 }),
      ],
    };
    const got = charts(doc);
    expect(got.map((c) => c.file).sort()).toEqual(['k8s-build-memory', 'k8s-build-time', 'kube-proxy-sync']);
    const sync = got.find((c) => c.file === 'kube-proxy-sync')!.chart;
    expect(sync.kind === 'line' && sync.series[0]!.points).toEqual([{ x: 100, y: 10 }, { x: 10_000, y: 2000 }]);
  });
});

describe('bench harness and progress', () => {
  it('rateStats: median and quartiles as rates of the per-call times', () => {
    const s = rateStats([0.001, 0.002, 0.004], 32);
    expect(s.median).toBeCloseTo(16_000, 6);
    expect(s.spread.max).toBeCloseTo(32_000, 6);
    expect(s.spread.min).toBeCloseTo(8000, 6);
    expect(s.spread.p25).toBeLessThan(s.median);
    expect(s.spread.p75).toBeGreaterThan(s.median);
  });

  it('progress shows on a terminal only, never in CI', () => {
    expect(interactive({}, true)).toBe(true);
    expect(interactive({ CI: 'true' }, true)).toBe(false);
    expect(interactive({ CI: 'false' }, true)).toBe(true);
    expect(interactive({}, false)).toBe(false);
  });

  it('the bar text', () => {
    expect(barText('pods', 50, 100, 2000)).toBe(`pods [${'#'.repeat(14)}${'.'.repeat(14)}] 50/100 2 s eta 2 s`);
    expect(barText('x', 3, 3, 0, 'done')).toContain('3/3 0 s done');
  });
});
