/**
 * Classifier benchmarks (issue 3, item 7): lookups/s at 100, 10k and 100k
 * rules spread over 20 masks, each call looking up a batch of BATCH keys, as
 * the upcall path will. Goal: >= 1 M lookups/s at 100k rules, 20 masks.
 *
 * Rules: 20 masks built from the field combinations real tables use (in_port,
 * MACs, IPv4 prefixes, 5-tuple-ish, registers, ct_state …), values random,
 * priorities random in [0, 1000) so every subtable's max priority is high and
 * a lookup has to visit many subtables (a hard case for the early stop);
 * one 100k case instead gives each mask its own priority band ('banded'),
 * as pipelines ordered by specificity do, so the early stop helps.
 * Keys: 3 in 4 taken from a rule's value with its wildcarded bits random (a
 * hit in that subtable, though a higher-priority rule elsewhere may win), 1 in
 * 4 random (mostly misses). Cases run with wc (what xlate does: zeroed per
 * key) and without.
 * The 'routing table' case is 100k nw_dst prefixes, /8 to /32 weighted as in
 * a BGP table (mostly /24), priority = prefix length (longest prefix wins):
 * there the prefix tries decide most of the un-wildcarding, and the keys
 * (3 in 4 inside a random rule's prefix) stop at the longest match.
 * Sweeps for bench/plot.ts: rules (100, 1k, 10k, 100k over 20 masks) and
 * masks (1, 5, 10, 20 at 10k rules, with wc); each result's extra has
 * `rules` and `masks`.
 * With wc, a lookup's cost is dominated by the subtables it must visit (all
 * 20 with random priorities) and the two trie walks; see the cost notes in
 * src/ofproto/classifier.ts.
 */
import { Classifier } from '../src/ofproto/classifier.js';
import { Match } from '../src/flow/match.js';
import {
  F_CT_STATE, F_DL_DST_HI, F_DL_DST_LO, F_DL_SRC_HI, F_DL_SRC_LO, F_DL_TYPE, F_IN_PORT, F_METADATA_LO, F_NW_DST,
  F_NW_PROTO, F_NW_SRC, F_NW_TOS, F_REG0, F_TP_DST, F_TP_SRC, F_TUN_ID_LO, F_VLAN_TCI, FLOW_WORDS,
} from '../src/flow/key.js';
import { runSuite, type BenchCase, type BenchResult } from './harness.js';
import { mulberry32 as rng } from '../src/rng.js';

const BATCH = 32;
const KEYS = 4096; // distinct keys cycled through, BATCH at a time


const IP = (extra: [number, number][]): [number, number][] => [[F_DL_TYPE, 0xffff], ...extra];
const TCP = (extra: [number, number][]): [number, number][] => IP([[F_NW_PROTO, 0xff], ...extra]);

/** 20 masks: [word, mask word] lists. */
export const MASKS: [number, number][][] = [
  [[F_IN_PORT, 0xffff]],
  [[F_IN_PORT, 0xffff], [F_DL_SRC_HI, 0xffff], [F_DL_SRC_LO, 0xffffffff]],
  [[F_DL_DST_HI, 0xffff], [F_DL_DST_LO, 0xffffffff]],
  [[F_DL_DST_HI, 0xffff], [F_DL_DST_LO, 0xffffffff], [F_VLAN_TCI, 0x1fff]],
  IP([[F_NW_DST, 0xffffffff]]),
  IP([[F_NW_DST, 0xffffff00]]),
  IP([[F_NW_DST, 0xffff0000]]),
  IP([[F_NW_SRC, 0xffffffff]]),
  IP([[F_NW_SRC, 0xffffff00]]),
  IP([[F_NW_SRC, 0xffffffff], [F_NW_DST, 0xffffffff]]),
  TCP([[F_TP_DST, 0xffff]]),
  TCP([[F_NW_DST, 0xffffffff], [F_TP_DST, 0xffff]]),
  TCP([[F_NW_SRC, 0xffffffff], [F_NW_DST, 0xffffffff], [F_TP_SRC, 0xffff], [F_TP_DST, 0xffff]]),
  TCP([[F_TP_DST, 0xff00]]),
  [[F_REG0, 0xffffffff]],
  [[F_METADATA_LO, 0xffffffff], [F_IN_PORT, 0xffff]],
  [[F_CT_STATE, 0x21], ...TCP([[F_TP_DST, 0xffff]])],
  [[F_TUN_ID_LO, 0xffffff], [F_IN_PORT, 0xffff]],
  IP([[F_NW_TOS, 0xfc], [F_NW_DST, 0xffffff00]]),
  [[F_IN_PORT, 0xffff], ...IP([[F_NW_SRC, 0xffff0000], [F_NW_DST, 0xffff0000]])],
];

function value(r: () => number, w: number): number {
  if (w === F_DL_TYPE) return 0x0800;
  if (w === F_NW_PROTO) return 6;
  if (w === F_IN_PORT) return 1 + (r() % 64);
  return r();
}

/** A classifier of 'n' rules over MASKS and KEYS keys (laid out with stride FLOW_WORDS). */
export function setup(n: number, seed = 1, prios: 'random' | 'banded' = 'random', masks = MASKS.length): { cls: Classifier<number>; keys: Uint32Array } {
  const r = rng(seed);
  const cls = new Classifier<number>();
  const rules: Match[] = [];
  for (let i = 0; i < n; i++) {
    const m = new Match();
    for (const [w, mask] of MASKS[i % masks]!) { m.mask[w] = mask; m.value[w] = (value(r, w) & mask) >>> 0; }
    // 'banded': each mask has its own band of 50 priorities, so the early stop can work
    cls.insert(m, prios === 'random' ? r() % 1000 : (i % masks) * 50 + (r() % 50), i);
    rules.push(m);
  }
  const keys = new Uint32Array(KEYS * FLOW_WORDS);
  for (let k = 0; k < KEYS; k++) {
    const b = k * FLOW_WORDS;
    for (let w = 0; w < FLOW_WORDS; w++) keys[b + w] = value(r, w) & 0xffff;
    keys[b + F_DL_TYPE] = 0x0800; keys[b + F_NW_PROTO] = r() % 2 ? 6 : 17;
    if (r() % 4 !== 0) {
      const m = rules[r() % rules.length]!;
      for (let w = 0; w < FLOW_WORDS; w++) keys[b + w] = ((keys[b + w]! & ~m.mask[w]!) | m.value[w]!) >>> 0;
    }
  }
  return { cls, keys };
}

/** Prefix lengths of the routing table, weighted (a BGP table is about 60% /24). */
const ROUTE_LENS = [8, 12, 14, 16, 16, 17, 18, 19, 20, 20, 21, 22, 22, 23, 23, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 24, 28, 30, 32, 32];

/** A routing table of 'n' distinct nw_dst prefixes, priority = length, and KEYS keys. */
export function setupRoutes(n: number, seed = 2): { cls: Classifier<number>; keys: Uint32Array } {
  const r = rng(seed);
  const cls = new Classifier<number>();
  const seen = new Set<string>();
  const routes: [number, number][] = [];
  while (routes.length < n) {
    const len = ROUTE_LENS[r() % ROUTE_LENS.length]!;
    const mask = len === 0 ? 0 : (-1 << (32 - len)) >>> 0;
    const addr = (r() & mask) >>> 0;
    const k = `${addr}/${len}`;
    if (seen.has(k)) continue;
    seen.add(k);
    const m = new Match();
    m.mask[F_DL_TYPE] = 0xffff; m.value[F_DL_TYPE] = 0x0800;
    m.mask[F_NW_DST] = mask; m.value[F_NW_DST] = addr;
    cls.insert(m, len, routes.length);
    routes.push([addr, mask]);
  }
  const keys = new Uint32Array(KEYS * FLOW_WORDS);
  for (let k = 0; k < KEYS; k++) {
    const b = k * FLOW_WORDS;
    for (let w = 0; w < FLOW_WORDS; w++) keys[b + w] = r() & 0xffff;
    keys[b + F_DL_TYPE] = 0x0800;
    keys[b + F_NW_PROTO] = r() % 2 ? 6 : 17;
    const [addr, mask] = routes[r() % routes.length]!;
    keys[b + F_NW_DST] = r() % 4 !== 0 ? ((addr | (r() & ~mask)) >>> 0) : r();
  }
  return { cls, keys };
}

export function classifierCases(): BenchCase[] {
  const cases: BenchCase[] = [];
  const shapes: [number, 'random' | 'banded' | 'routes', number?][] = [[100, 'random'], [1000, 'random'], [10_000, 'random'], [100_000, 'random'], [100_000, 'banded'], [100_000, 'routes'],
    [10_000, 'random', 1], [10_000, 'random', 5], [10_000, 'random', 10]];
  for (const [n, prios, maskCount] of shapes) {
    const { cls, keys } = prios === 'routes' ? setupRoutes(n) : setup(n, 1, prios, maskCount);
    const wc = new Uint32Array(FLOW_WORDS);
    let at = 0;
    let hits = 0, total = 0;
    const what = prios === 'routes' ? 'nw_dst routing table (priority = prefix length)' : `${prios} priorities`;
    const name = (w: string): string => `lookup ${n} rules / ${cls.subtableCount} masks, ${what}, ${w}`;
    cases.push({
      name: name('with wc'),
      batch: BATCH,
      fn: () => {
        let acc = 0;
        for (let i = 0; i < BATCH; i++) {
          wc.fill(0);
          const id = cls.lookup(keys, at * FLOW_WORDS, wc);
          acc += id;
          if (id >= 0) hits++;
          total++;
          at = (at + 1) & (KEYS - 1);
        }
        return acc + wc[F_IN_PORT]!;
      },
      extra: () => ({ hitRate: total === 0 ? 0 : Math.round((hits / total) * 1000) / 1000, rules: n, masks: cls.subtableCount }),
    });
    if (maskCount !== undefined) continue; // the masks sweep: with wc only
    cases.push({
      name: name('no wc'),
      batch: BATCH,
      fn: () => {
        let acc = 0;
        for (let i = 0; i < BATCH; i++) {
          acc += cls.lookup(keys, at * FLOW_WORDS, null);
          at = (at + 1) & (KEYS - 1);
        }
        return acc;
      },
      extra: () => ({ rules: n, masks: cls.subtableCount }),
    });
  }
  return cases;
}

export async function run(): Promise<BenchResult[]> {
  return runSuite('classifier', classifierCases());
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
