/**
 * Routing table benchmark (issue 6: "a longest-prefix-match routing table … fast at 100k
 * routes"; goal >= 5 M IPv4 lookups/s at 100k routes on one core).
 *
 * Tables: a host with eth0 192.0.2.1/24 and a default route, plus N routes `via 192.0.2.x`
 * (N = 100, 10k, 100k) added with `ipRoute('add …')` — the whole path: parsing, the kernel's
 * gateway check, insertion. Prefixes are random with a BGP-like length mix: IPv4 after the
 * share of lengths in the IPv4 DFZ (/24 ~60 %, /22–/23 ~21 %, /16–/21 ~14 %, /8–/15 ~2 %, plus
 * a few /25–/32 host and link routes a router's FIB also holds); IPv6 after the IPv6 DFZ
 * (/48 ~48 %, /32 ~14 %, /44, /40, /36, /29, /56, … and some /64 and /128).
 * Cases, per size and family: `lookup4`/`lookup6` of batches of 1024 destinations taken in turn
 * from 65536 (so the caches see a router's spread of destinations, not one hot batch), half
 * inside a random route's prefix (host bits random: the longest prefix hits) and half uniformly
 * random (mostly the default route). Reported beside each rate (`extra`): the insert time of the whole
 * table (median of 3 builds), inserts/s, and the bytes of the FIB's typed arrays.
 * At 100k IPv4 the same lookups also run against the alternatives, to choose the structure:
 *  - `stride 0`: plain per-prefix-length hash tables, only the lengths present, longest first;
 *  - `stride 8` (fixed);
 *  - a leaf-pushed multibit trie with stride 8 (DIR-8-8-8-8: at most four dependent array reads),
 *    built here from the same routes for comparison only.
 * Run alone: `npx tsx -e "import('./bench/route.bench.ts').then((m) => m.run())"`.
 */
import { RoutingTable, ipv4Text, ipv6Text, type StrideOption } from '../src/netstack/route.js';
import { mulberry32 } from '../src/rng.js';
import { consume, runSuite, type BenchCase, type BenchResult } from './harness.js';

const BATCH = 1024;
/** Distinct destinations per case: each call takes the next BATCH of them, so the working set is not one cache-hot batch. */
const DESTS = 65536;

/** [length, weight per 10 000] of the IPv4 mix. */
const V4_LENS: [number, number][] = [
  [8, 2], [9, 2], [10, 4], [11, 8], [12, 15], [13, 30], [14, 50], [15, 80], [16, 140], [17, 90], [18, 140], [19, 250],
  [20, 400], [21, 500], [22, 1100], [23, 1000], [24, 6000], [25, 20], [26, 20], [27, 20], [28, 20], [29, 20], [30, 30], [32, 59],
];
/** [length, weight per 10 000] of the IPv6 mix. */
const V6_LENS: [number, number][] = [
  [19, 5], [20, 10], [24, 20], [28, 80], [29, 300], [30, 60], [31, 30], [32, 1400], [33, 60], [34, 60], [35, 50], [36, 350], [37, 40],
  [38, 60], [39, 50], [40, 550], [41, 50], [42, 100], [43, 50], [44, 800], [45, 100], [46, 350], [47, 250], [48, 4800], [52, 50],
  [56, 150], [60, 30], [64, 100], [128, 45],
];

function pickLen(r: () => number, mix: [number, number][]): number {
  const total = mix.reduce((s, m) => s + m[1], 0);
  let x = r() % total;
  for (const [len, w] of mix) { if (x < w) return len; x -= w; }
  return mix[mix.length - 1]![0];
}

/** A random public-looking IPv4 address (first octet 1–223, not 10 or 127 or 192.0.2). */
function addr4(r: () => number): number {
  for (;;) {
    const a = r();
    const o = a >>> 24;
    if (o >= 1 && o <= 223 && o !== 10 && o !== 127 && (a >>> 8) !== 0xc00002) return a >>> 0;
  }
}

interface Table4 { t: RoutingTable; prefixes: [number, number][]; insertMs: number[] }

/**
 * A table with lo, eth0 (192.0.2.1/24, 2001:db8::1/64) and a default route, then 'lines'
 * inserted; built 'builds' times, each insertion timed, the last table kept.
 */
function timedBuilds(lines: string[], family: 4 | 6, stride: StrideOption, builds: number): { t: RoutingTable; insertMs: number[] } {
  const insertMs: number[] = [];
  let t = new RoutingTable({ stride });
  for (let b = 0; b < builds; b++) {
    t = new RoutingTable({ stride });
    t.addLoopback();
    t.addDevice('eth0');
    t.addConnected('eth0', family === 4 ? '192.0.2.1/24' : '2001:db8::1/64');
    t.ipRoute(family === 4 ? 'add default via 192.0.2.254' : 'add default via 2001:db8::fe', family);
    const t0 = performance.now();
    for (const l of lines) t.ipRoute(l, family);
    insertMs.push(performance.now() - t0);
  }
  return { t, insertMs };
}

/** 'n' IPv4 routes via 192.0.2.x with the BGP-like mix, built 'builds' times (the last one is kept). */
function build4(n: number, seed: number, stride: StrideOption, builds = 3): Table4 {
  const r = mulberry32(seed);
  const lines: string[] = [];
  const prefixes: [number, number][] = [];
  const seen = new Set<string>();
  while (lines.length < n) {
    const len = pickLen(r, V4_LENS);
    const p = (addr4(r) & (len === 32 ? 0xffffffff : ~(0xffffffff >>> len))) >>> 0;
    const key = `${p}/${len}`;
    if (seen.has(key)) continue;
    seen.add(key);
    prefixes.push([p, len]);
    lines.push(`add ${ipv4Text(p)}/${len} via 192.0.2.${2 + (r() % 200)}`);
  }
  return { prefixes, ...timedBuilds(lines, 4, stride, builds) };
}

interface Table6 { t: RoutingTable; prefixes: [number[], number][]; insertMs: number[] }

function build6(n: number, seed: number, stride: StrideOption, builds = 3): Table6 {
  const r = mulberry32(seed);
  const lines: string[] = [];
  const prefixes: [number[], number][] = [];
  const seen = new Set<string>();
  while (lines.length < n) {
    const len = pickLen(r, V6_LENS);
    const w = [(0x20000000 | (r() & 0x1fffffff)) >>> 0, r(), r(), r()].map((x, i) => {
      const bits = Math.max(0, Math.min(32, len - 32 * i));
      return bits === 0 ? 0 : (x & ((0xffffffff << (32 - bits)) >>> 0)) >>> 0;
    });
    const key = `${w.join(',')}/${len}`;
    if (seen.has(key)) continue;
    seen.add(key);
    prefixes.push([w, len]);
    lines.push(`add ${ipv6Text(w)}/${len} via 2001:db8::${(2 + (r() % 200)).toString(16)}`);
  }
  return { prefixes, ...timedBuilds(lines, 6, stride, builds) };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/** 'count' destinations: half inside random prefixes, half uniformly random. */
function dests4(prefixes: [number, number][], seed: number, count: number): Uint32Array {
  const r = mulberry32(seed);
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    if (i % 2 === 0) {
      const [p, len] = prefixes[r() % prefixes.length]!;
      out[i] = (p | (len === 32 ? 0 : r() & (0xffffffff >>> len))) >>> 0;
    } else out[i] = addr4(r);
  }
  return out;
}

function dests6(prefixes: [number[], number][], seed: number, count: number): Uint32Array {
  const r = mulberry32(seed);
  const out = new Uint32Array(count * 4);
  for (let i = 0; i < count; i++) {
    if (i % 2 === 0) {
      const [p, len] = prefixes[r() % prefixes.length]!;
      for (let k = 0; k < 4; k++) {
        const bits = Math.max(0, Math.min(32, len - 32 * k));
        out[4 * i + k] = (p[k]! | (bits === 32 ? 0 : r() & (0xffffffff >>> bits))) >>> 0;
      }
    } else {
      out[4 * i] = (0x20000000 | (r() & 0x1fffffff)) >>> 0;
      for (let k = 1; k < 4; k++) out[4 * i + k] = r();
    }
  }
  return out;
}

/** A lookup case over 'dst' (DESTS destinations): 'one(i)' looks up the i-th; 'fib' gives the extra figures. */
function lookupCase(name: string, fib: { size: number; bytes(): number }, insertMs: number[], prefixes: number, one: (i: number) => number): BenchCase {
  let off = 0;
  return {
    name,
    batch: BATCH,
    fn: () => {
      let s = 0;
      for (let i = off, end = off + BATCH; i < end; i++) s = (s + one(i)) | 0;
      off = (off + BATCH) & (DESTS - 1);
      return s;
    },
    extra: () => ({
      routes: fib.size, insertMs: Math.round(median(insertMs)), insertsPerSec: Math.round(prefixes / (median(insertMs) / 1000)), fibBytes: fib.bytes(),
    }),
  };
}

function lookup4Case(name: string, tb: Table4, dst: Uint32Array): BenchCase {
  const t = tb.t;
  return lookupCase(name, t.fib4, tb.insertMs, tb.prefixes.length, (i) => t.lookup4(dst[i]!));
}

function lookup6Case(name: string, tb: Table6, dst: Uint32Array): BenchCase {
  const t = tb.t;
  return lookupCase(name, t.fib6, tb.insertMs, tb.prefixes.length, (i) => t.lookup6(dst, 4 * i));
}

// ---------------------------------------------------------------------------------------------
// The comparison structure: a leaf-pushed multibit trie, stride 8 (DIR-8-8-8-8)

/**
 * Four levels of 256-entry nodes in one Int32Array: an entry >= 0 is a route id (pushed down
 * from the longest prefix covering it), -1 none, <= -2 the child node -2-entry. Built from
 * prefixes sorted by length, so a range is filled before any longer prefix makes children in it.
 */
class MultibitTrie8 {
  nodes = new Int32Array(256).fill(-1);
  count = 1;

  insert(p: number, len: number, id: number): void {
    let node = 0;
    let depth = 0;
    while (len > depth + 8) {
      const i = node * 256 + ((p >>> (24 - depth)) & 255);
      const e = this.nodes[i]!;
      if (e <= -2) node = -2 - e;
      else {
        const c = this.count++;
        if (this.count * 256 > this.nodes.length) { const n = new Int32Array(this.nodes.length * 2); n.set(this.nodes); this.nodes = n; }
        this.nodes.fill(e, c * 256, c * 256 + 256);
        this.nodes[i] = -2 - c;
        node = c;
      }
      depth += 8;
    }
    const rem = len - depth;
    const start = ((p >>> (24 - depth)) & 255) & (rem === 0 ? 0 : (0xff << (8 - rem)) & 0xff);
    this.nodes.fill(id, node * 256 + start, node * 256 + start + (1 << (8 - rem)));
  }

  lookup(a: number): number {
    const nodes = this.nodes;
    let e = nodes[a >>> 24]!;
    if (e > -2) return e;
    e = nodes[(-2 - e) * 256 + ((a >>> 16) & 255)]!;
    if (e > -2) return e;
    e = nodes[(-2 - e) * 256 + ((a >>> 8) & 255)]!;
    if (e > -2) return e;
    return nodes[(-2 - e) * 256 + (a & 255)]!;
  }
}

function trieCase(tb: Table4, dst: Uint32Array): BenchCase {
  const fib = tb.t.fib4;
  const routes = fib.ids().filter((id) => fib.table[id] === 254 || fib.table[id] === 255);
  routes.sort((a, b) => fib.dstLen[a]! - fib.dstLen[b]!);
  const trie = new MultibitTrie8();
  const t0 = performance.now();
  for (const id of routes) trie.insert(fib.dst[id]!, fib.dstLen[id]!, id);
  const buildMs = performance.now() - t0;
  // it must answer as the routing table does (no throw/local subtleties in this table)
  for (let i = 0; i < dst.length; i++) if (trie.lookup(dst[i]!) !== tb.t.lookup4(dst[i]!)) throw new Error(`trie disagrees at ${ipv4Text(dst[i]!)}`);
  let off = 0;
  return {
    name: 'lookup4, 100k routes, multibit trie stride 8 (comparison)',
    batch: BATCH,
    fn: () => {
      let s = 0;
      for (let i = off, end = off + BATCH; i < end; i++) s = (s + trie.lookup(dst[i]!)) | 0;
      off = (off + BATCH) & (DESTS - 1);
      return s;
    },
    extra: () => ({ buildMsFromSortedRoutes: Math.round(buildMs), trieBytes: trie.count * 256 * 4 }),
  };
}

export async function run(): Promise<BenchResult[]> {
  const cases: BenchCase[] = [];
  for (const n of [100, 10_000, 100_000]) {
    const tb = build4(n, n, 'auto');
    cases.push(lookup4Case(`lookup4, ${n} routes`, tb, dests4(tb.prefixes, 7, DESTS)));
    if (n === 100_000) {
      const dst = dests4(tb.prefixes, 7, DESTS);
      for (const stride of [0, 8] as const) cases.push(lookup4Case(`lookup4, 100k routes, stride ${stride}${stride === 0 ? ' (per-length hashes only)' : ''}`, build4(n, n, stride, 1), dst));
      cases.push(trieCase(tb, dst));
    }
  }
  for (const n of [100, 10_000, 100_000]) {
    const tb = build6(n, n + 1, 'auto');
    cases.push(lookup6Case(`lookup6, ${n} routes`, tb, dests6(tb.prefixes, 9, DESTS)));
    if (n === 100_000) cases.push(lookup6Case('lookup6, 100k routes, stride 0 (per-length hashes only)', build6(n, n + 1, 0, 1), dests6(tb.prefixes, 9, DESTS)));
  }
  consume(cases.length);
  return runSuite('route', cases);
}
