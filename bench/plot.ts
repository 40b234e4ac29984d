/**
 * The plots of a bench results file (`BenchDoc`, bench/harness.ts) as SVG,
 * written by hand (no plotting dependency): line charts for the sweeps (log
 * axes where the range spans decades) and horizontal bar charts for sets of
 * cases, with titles, axis labels and units, ticks, legends, and whiskers
 * from each case's spread (quartiles of its samples) when it has one.
 * Charts (bench/results/<name>.svg): classifier-rules, masks,
 * datapath-paths, vxlan, kube-proxy-packets, kube-proxy-sync,
 * k8s-build-time, k8s-build-memory, cloud-build-time, cloud-build-memory,
 * trace-cost, topology. A chart whose cases are missing from the file is
 * skipped.
 * Usage: `tsx bench/plot.ts [results.json] [out-dir]` (defaults:
 * bench/results/latest.json, bench/results); bench/run.ts calls
 * `renderAll` at the end of `npm run bench`.
 * Neighbours: bench/run.ts, bench/harness.ts (the schema).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchDoc, BenchResult } from './harness.js';

export interface Point { x: number; y: number; lo?: number; hi?: number }
export interface Series { name: string; points: Point[] }
export interface LineChart { kind: 'line'; title: string; subtitle: string; xLabel: string; yLabel: string; xLog: boolean; yLog: boolean; series: Series[] }
export interface Bar { label: string; value: number; lo?: number; hi?: number; note?: string }
export interface BarChart { kind: 'bar'; title: string; subtitle: string; xLabel: string; bars: Bar[] }
export type Chart = LineChart | BarChart;

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const FONT = 'font-family="Helvetica, Arial, sans-serif"';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const num = (n: number): string => (Math.round(n * 10) / 10).toString();

/** 1234567 → "1.23 M", 0.5 → "0.5". */
export function si(n: number): string {
  const a = Math.abs(n);
  const fix = (v: number, u: string): string => `${Number(v.toPrecision(3))}${u}`;
  if (a >= 1e9) return fix(n / 1e9, ' G');
  if (a >= 1e6) return fix(n / 1e6, ' M');
  if (a >= 1e3) return fix(n / 1e3, ' k');
  return fix(n, '');
}

/** Ticks for [lo, hi]: powers of ten on a log axis (with 2 and 5 when it spans under two decades), else 1-2-5 steps. */
export function ticks(lo: number, hi: number, log: boolean): number[] {
  if (log) {
    const out: number[] = [];
    const a = Math.floor(Math.log10(lo)), b = Math.ceil(Math.log10(hi));
    const mult = b - a <= 2 ? [1, 2, 5] : [1];
    for (let e = a; e <= b; e++) for (const m of mult) { const v = m * 10 ** e; if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v); }
    return out;
  }
  const span = hi - lo || Math.abs(hi) || 1;
  const raw = span / 5, p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.round(v / step) * step);
  return out;
}

/** The axis range: on a log axis whole decades around the data, else from 0 (or the minimum when negative) to a round maximum. */
function range(vals: number[], log: boolean): [number, number] {
  const pos = log ? vals.filter((v) => v > 0) : vals;
  let lo = Math.min(...pos), hi = Math.max(...pos);
  if (!Number.isFinite(lo)) return [1, 10];
  if (log) {
    lo = 10 ** Math.floor(Math.log10(lo)); hi = 10 ** Math.ceil(Math.log10(hi));
    if (lo === hi) hi = lo * 10;
    return [lo, hi];
  }
  lo = Math.min(0, lo);
  const t = ticks(lo, hi, false);
  const step = t.length > 1 ? t[1]! - t[0]! : hi || 1;
  return [lo, Math.max(Math.ceil(hi / step) * step, step)];
}

function scale(lo: number, hi: number, log: boolean, a: number, b: number): (v: number) => number {
  if (log) { const l = Math.log10(lo), h = Math.log10(hi); return (v) => a + ((Math.log10(Math.max(v, lo)) - l) / (h - l)) * (b - a); }
  return (v) => a + ((v - lo) / (hi - lo || 1)) * (b - a);
}

function header(w: number, h: number, title: string, subtitle: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" ${FONT}>`,
    `<rect width="${w}" height="${h}" fill="#fff"/>`,
    `<text x="${w / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text x="${w / 2}" y="40" text-anchor="middle" font-size="11" fill="#555">${esc(subtitle)}</text>`,
  ];
}

export function lineSvg(c: LineChart): string {
  const W = 760, H = 440, L = 80, R = 230, T = 56, B = 60;
  const pts = c.series.flatMap((s) => s.points);
  const [x0, x1] = range(pts.map((p) => p.x), c.xLog);
  const [y0, y1] = range(pts.flatMap((p) => [p.y, p.lo ?? p.y, p.hi ?? p.y]), c.yLog);
  const sx = scale(x0, x1, c.xLog, L, W - R), sy = scale(y0, y1, c.yLog, H - B, T);
  const out = header(W, H, c.title, c.subtitle);
  for (const v of ticks(x0, x1, c.xLog)) {
    const x = num(sx(v));
    out.push(`<line x1="${x}" y1="${T}" x2="${x}" y2="${H - B}" stroke="#e5e5e5"/>`,
      `<text x="${x}" y="${H - B + 16}" text-anchor="middle" font-size="11">${esc(si(v))}</text>`);
  }
  for (const v of ticks(y0, y1, c.yLog)) {
    const y = num(sy(v));
    out.push(`<line x1="${L}" y1="${y}" x2="${W - R}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="${L - 6}" y="${y}" dy="4" text-anchor="end" font-size="11">${esc(si(v))}</text>`);
  }
  out.push(`<rect x="${L}" y="${T}" width="${W - R - L}" height="${H - B - T}" fill="none" stroke="#333"/>`,
    `<text x="${(L + W - R) / 2}" y="${H - 18}" text-anchor="middle" font-size="12">${esc(c.xLabel)}${c.xLog ? ' (log scale)' : ''}</text>`,
    `<text transform="translate(18 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(c.yLabel)}${c.yLog ? ' (log scale)' : ''}</text>`);
  c.series.forEach((s, i) => {
    const col = COLORS[i % COLORS.length]!;
    const sorted = [...s.points].sort((a, b) => a.x - b.x);
    out.push(`<polyline fill="none" stroke="${col}" stroke-width="2" points="${sorted.map((p) => `${num(sx(p.x))},${num(sy(p.y))}`).join(' ')}"/>`);
    for (const p of sorted) {
      if (p.lo !== undefined && p.hi !== undefined) {
        out.push(`<line x1="${num(sx(p.x))}" y1="${num(sy(p.lo))}" x2="${num(sx(p.x))}" y2="${num(sy(p.hi))}" stroke="${col}"/>`);
      }
      out.push(`<circle cx="${num(sx(p.x))}" cy="${num(sy(p.y))}" r="3.5" fill="${col}"><title>${esc(`${s.name}: ${si(p.x)} → ${si(p.y)}`)}</title></circle>`);
    }
    const ly = T + 10 + i * 34;
    out.push(`<line x1="${W - R + 14}" y1="${ly}" x2="${W - R + 34}" y2="${ly}" stroke="${col}" stroke-width="2"/>`,
      ...wrap(s.name, 30).map((t, k) => `<text x="${W - R + 40}" y="${ly + 4 + k * 13}" font-size="11">${esc(t)}</text>`));
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** 's' cut into lines of at most 'n' characters at spaces (two lines at most). */
function wrap(s: string, n: number): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const w of s.split(' ')) {
    if (cur !== '' && cur.length + 1 + w.length > n) { lines.push(cur); cur = w; } else cur = cur === '' ? w : `${cur} ${w}`;
  }
  if (cur !== '') lines.push(cur);
  return lines.length > 2 ? [lines[0]!, `${lines.slice(1).join(' ').slice(0, n - 1)}…`] : lines;
}

export function barSvg(c: BarChart): string {
  const labelW = 470, W = labelW + 390, rowH = 26, T = 56, B = 50;
  const H = T + B + rowH * c.bars.length;
  const [, x1] = range(c.bars.flatMap((b) => [b.value, b.hi ?? b.value]), false);
  const L = labelW, R = W - 90;
  const sx = scale(0, x1, false, L, R);
  const out = header(W, H, c.title, c.subtitle);
  for (const v of ticks(0, x1, false)) {
    const x = num(sx(v));
    out.push(`<line x1="${x}" y1="${T}" x2="${x}" y2="${H - B}" stroke="#e5e5e5"/>`,
      `<text x="${x}" y="${H - B + 16}" text-anchor="middle" font-size="11">${esc(si(v))}</text>`);
  }
  c.bars.forEach((b, i) => {
    const y = T + i * rowH, col = COLORS[0]!;
    const label = b.label.length > 78 ? `${b.label.slice(0, 77)}…` : b.label;
    out.push(`<text x="${L - 8}" y="${y + rowH / 2 + 4}" text-anchor="end" font-size="11">${esc(label)}<title>${esc(b.label)}</title></text>`,
      `<rect x="${L}" y="${y + 4}" width="${num(Math.max(sx(b.value) - L, 0.5))}" height="${rowH - 8}" fill="${col}" fill-opacity="0.8"/>`);
    if (b.lo !== undefined && b.hi !== undefined) {
      const cy = y + rowH / 2;
      out.push(`<line x1="${num(sx(b.lo))}" y1="${cy}" x2="${num(sx(b.hi))}" y2="${cy}" stroke="#000"/>`,
        `<line x1="${num(sx(b.lo))}" y1="${cy - 4}" x2="${num(sx(b.lo))}" y2="${cy + 4}" stroke="#000"/>`,
        `<line x1="${num(sx(b.hi))}" y1="${cy - 4}" x2="${num(sx(b.hi))}" y2="${cy + 4}" stroke="#000"/>`);
    }
    out.push(`<text x="${num(Math.max(sx(b.value), sx(b.hi ?? 0)) + 6)}" y="${y + rowH / 2 + 4}" font-size="11">${esc(si(b.value) + (b.note ?? ''))}</text>`);
  });
  out.push(`<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#333"/>`, `<line x1="${L}" y1="${H - B}" x2="${R}" y2="${H - B}" stroke="#333"/>`,
    `<text x="${(L + R) / 2}" y="${H - 14}" text-anchor="middle" font-size="12">${esc(c.xLabel)}</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

export const svg = (c: Chart): string => (c.kind === 'line' ? lineSvg(c) : barSvg(c));

// ---- the charts of a results file -----------------------------------------------------------------

/** The median rate (the mean for results without one). */
export const rate = (r: BenchResult): number => r.median ?? r.perSec;
/** "10k" → 10000, "1500" → 1500. */
const count = (s: string): number => Number(s.replace(/k$/, '')) * (s.endsWith('k') ? 1000 : 1);

/** Points of the 'suite' results whose name matches 're' (x from capture group 1), as rates (or as 'map' of the result). */
function sweep(doc: BenchDoc, suite: string, re: RegExp, map: (r: BenchResult) => Point | undefined = ratePoint): Point[] {
  const out: Point[] = [];
  for (const r of doc.results) {
    if (r.suite !== suite) continue;
    const m = re.exec(r.name);
    if (m === null) continue;
    const p = map(r);
    if (p !== undefined) out.push({ ...p, x: count(m[1]!) });
  }
  return out;
}
function ratePoint(r: BenchResult): Point {
  return { x: 0, y: rate(r), ...(r.spread ? { lo: r.spread.p25, hi: r.spread.p75 } : {}) };
}
/** ms per call from a rate of calls/s (its quartiles turn around). */
function msPoint(r: BenchResult): Point {
  return { x: 0, y: 1000 / rate(r), ...(r.spread ? { lo: 1000 / r.spread.p75, hi: 1000 / r.spread.p25 } : {}) };
}
function bars(doc: BenchDoc, suite: string, keep: (r: BenchResult) => boolean = (r) => r.perSec > 0): Bar[] {
  return doc.results.filter((r) => r.suite === suite && keep(r)).map((r) => ({
    label: r.name, value: rate(r), ...(r.spread ? { lo: r.spread.p25, hi: r.spread.p75 } : {}),
  }));
}

/** A build sweep (bench/build.bench.ts): per phase, 'field' of extra against extra[xKey]. */
function buildSeries(doc: BenchDoc, suite: string, xKey: string, field: (r: BenchResult) => number, onlyTotal: boolean): Series[] {
  const by = new Map<string, Point[]>();
  for (const r of doc.results) {
    if (r.suite !== suite) continue;
    const phase = r.name.slice(r.name.indexOf(': ') + 2).replace(/\d+/g, 'N');
    if (onlyTotal !== (phase === 'total')) continue;
    const x = Number(r.extra?.[xKey]);
    if (!Number.isFinite(x)) continue;
    by.set(phase, [...(by.get(phase) ?? []), { x, y: field(r) }]);
  }
  return [...by].map(([name, points]) => ({ name: name === 'total' ? 'the whole build' : name, points }));
}

export function charts(doc: BenchDoc): { file: string; chart: Chart }[] {
  const sub = `${doc.machine?.cpu ?? (doc as { cpu?: string }).cpu ?? ''}, ${doc.machine?.cores ?? (doc as { cores?: number }).cores ?? '?'} cores, Node ${doc.node}, ${doc.commit}, ${doc.date.slice(0, 10)}`;
  const out: { file: string; chart: Chart }[] = [];
  const line = (file: string, c: Omit<LineChart, 'kind' | 'subtitle'>): void => {
    const series = c.series.filter((s) => s.points.length > 0);
    if (series.length > 0) out.push({ file, chart: { kind: 'line', subtitle: sub, ...c, series } });
  };
  const bar = (file: string, c: Omit<BarChart, 'kind' | 'subtitle'>): void => {
    if (c.bars.length > 0) out.push({ file, chart: { kind: 'bar', subtitle: sub, ...c } });
  };

  line('classifier-rules', {
    title: 'Classifier lookups/s vs rules (20 masks, random priorities)', xLabel: 'rules', yLabel: 'lookups/s', xLog: true, yLog: false,
    series: [
      { name: 'with wildcards (as xlate)', points: sweep(doc, 'classifier', /^lookup (\d+) rules \/ 20 masks, random priorities, with wc$/) },
      { name: 'without wildcards', points: sweep(doc, 'classifier', /^lookup (\d+) rules \/ 20 masks, random priorities, no wc$/) },
    ],
  });
  line('masks', {
    title: 'Packets/s vs masks', xLabel: 'masks (subtables)', yLabel: 'lookups or packets per second', xLog: true, yLog: false,
    series: [
      { name: 'classifier lookup, 10k rules, with wildcards', points: sweep(doc, 'classifier', /^lookup 10000 rules \/ (\d+) masks, random priorities, with wc$/) },
      { name: 'datapath megaflow hits, EMC off', points: sweep(doc, 'datapath', /^megaflow hits, (\d+) masks?, EMC off$/) },
    ],
  });
  bar('datapath-paths', { title: 'Datapath packets/s by path (EMC, megaflow, upcall)', xLabel: 'packets/s (median; whiskers: quartiles of the samples)', bars: bars(doc, 'datapath') });
  bar('vxlan', {
    title: 'VXLAN push and pop in the datapath (plain EMC forwarding for reference)', xLabel: 'packets/s (median; whiskers: quartiles of the samples)',
    bars: bars(doc, 'datapath', (r) => /^EMC forwarding|^VXLAN/.test(r.name)),
  });
  line('kube-proxy-packets', {
    title: 'Service packets/s vs Services: iptables vs ipvs', xLabel: 'Services', yLabel: 'new connections per second', xLog: true, yLog: true,
    series: [
      { name: 'iptables: nat PREROUTING walk, first packets', points: sweep(doc, 'netfilter', /^iptables nat PREROUTING, first packets, (\d+) services$/) },
      { name: 'ipvs: lookup + rr scheduler', points: sweep(doc, 'netfilter', /^ipvs new connections \(lookup \+ rr\), (\d+) services$/) },
    ],
  });
  line('kube-proxy-sync', {
    title: 'kube-proxy first sync time vs Services (15 endpoints each)', xLabel: 'Services', yLabel: 'ms per sync', xLog: true, yLog: true,
    series: [
      { name: 'iptables: first (full) sync', points: sweep(doc, 'kube-proxy', /^iptables: first \(full\) sync, (\d+k?) services/, msPoint) },
      { name: 'ipvs: first sync', points: sweep(doc, 'kube-proxy', /^ipvs: first sync, (\d+k?) services/, msPoint) },
    ],
  });
  const ms = (r: BenchResult): number => Number(r.extra?.['ms']) / 1000;
  const total = (r: BenchResult, k: string): number => Number(r.extra?.[k]);
  line('k8s-build-time', {
    title: 'Kubernetes cluster build time vs nodes (30 pods a node)', xLabel: 'nodes', yLabel: 'seconds', xLog: true, yLog: true,
    series: [...buildSeries(doc, 'k8s-build', 'nodes', ms, true), ...buildSeries(doc, 'k8s-build', 'nodes', ms, false).filter((s) => !s.name.includes('deferred'))],
  });
  line('k8s-build-memory', {
    title: 'Kubernetes cluster memory after the build vs nodes', xLabel: 'nodes', yLabel: 'MB', xLog: true, yLog: true,
    series: [
      ...buildSeries(doc, 'k8s-build', 'nodes', (r) => total(r, 'rssMB'), true).map((s) => ({ ...s, name: 'RSS' })),
      ...buildSeries(doc, 'k8s-build', 'nodes', (r) => total(r, 'heapMB'), true).map((s) => ({ ...s, name: 'heap + array buffers (after GC)' })),
    ],
  });
  line('cloud-build-time', {
    title: 'Cloud build time vs hypervisors (50 VMs a hypervisor)', xLabel: 'hypervisors', yLabel: 'seconds', xLog: true, yLog: true,
    series: [...buildSeries(doc, 'compute-build', 'hypervisors', ms, true), ...buildSeries(doc, 'compute-build', 'hypervisors', ms, false)],
  });
  line('cloud-build-memory', {
    title: 'Cloud memory after the build vs hypervisors', xLabel: 'hypervisors', yLabel: 'MB', xLog: true, yLog: true,
    series: [
      ...buildSeries(doc, 'compute-build', 'hypervisors', (r) => total(r, 'rssMB'), true).map((s) => ({ ...s, name: 'RSS' })),
      ...buildSeries(doc, 'compute-build', 'hypervisors', (r) => total(r, 'heapMB'), true).map((s) => ({ ...s, name: 'heap + array buffers (after GC)' })),
    ],
  });
  const trace = bars(doc, 'trace');
  const off = trace.find((b) => /tracing off/.test(b.label))?.value;
  bar('trace-cost', {
    title: 'Tracing cost: UDP across a router', xLabel: 'packets/s (median; the label: times slower than tracing off)',
    bars: trace.map((b) => ({ ...b, label: b.label.replace(/^UDP across a router, /, ''), ...(off ? { note: ` (${(off / b.value).toFixed(1)}×)` } : {}) })),
  });
  bar('topology', { title: 'Simulator end to end', xLabel: 'packets (or events) per second, wall clock', bars: bars(doc, 'topology') });
  return out;
}

/** Write every chart of 'doc' into 'dir' as <name>.svg; the files written. */
export function renderAll(doc: BenchDoc, dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  return charts(doc).map(({ file, chart }) => {
    const f = join(dir, `${file}.svg`);
    writeFileSync(f, svg(chart));
    return f;
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const doc = JSON.parse(readFileSync(process.argv[2] ?? 'bench/results/latest.json', 'utf8')) as BenchDoc;
  for (const f of renderAll(doc, process.argv[3] ?? 'bench/results')) console.log(`wrote ${f}`);
}
