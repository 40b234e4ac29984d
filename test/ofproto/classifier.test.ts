import { describe, expect, it } from 'vitest';
import { Classifier } from '../../src/ofproto/classifier.js';
import { Match, matches, parseMatch } from '../../src/flow/match.js';
import {
  F_DL_DST_HI, F_DL_DST_LO, F_DL_SRC_LO, F_DL_TYPE, F_IN_PORT, F_METADATA_LO, F_NW_DST, F_NW_PROTO, F_NW_SRC,
  F_REG0, F_TP_DST, F_TP_SRC, F_VLAN_TCI, FLOW_WORDS, F_CT_STATE, F_NW_TTL,
} from '../../src/flow/key.js';

/** mulberry32: a seeded RNG so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** OVS's tcls: a trivial linear classifier, the reference. */
class Tcls {
  rules: { id: number; prio: number; m: Match }[] = [];
  /** every matching rule of the highest priority */
  best(key: Uint32Array): { prio: number; ids: number[] } {
    let prio = -Infinity;
    let ids: number[] = [];
    for (const r of this.rules) {
      if (!matches(r.m, key, 0)) continue;
      if (r.prio > prio) { prio = r.prio; ids = [r.id]; } else if (r.prio === prio) ids.push(r.id);
    }
    return { prio, ids };
  }
}

/** Field combinations: [word, mask] lists (a small set, as in test-classifier.c). */
const COMBOS: [number, number][][] = [
  [],
  [[F_IN_PORT, 0xffff]],
  [[F_DL_DST_HI, 0xffff], [F_DL_DST_LO, 0xffffffff]],
  [[F_DL_TYPE, 0xffff], [F_NW_SRC, 0xffffff00]],
  [[F_DL_TYPE, 0xffff], [F_NW_DST, 0xffff0000]],
  [[F_DL_TYPE, 0xffff], [F_NW_PROTO, 0xff], [F_TP_DST, 0xffff]],
  [[F_DL_TYPE, 0xffff], [F_NW_PROTO, 0xff], [F_TP_DST, 0xff00]],
  [[F_DL_TYPE, 0xffff], [F_NW_SRC, 0xffffffff], [F_NW_DST, 0xffffffff]],
  [[F_IN_PORT, 0xffff], [F_DL_TYPE, 0xffff], [F_NW_DST, 0xffffff00], [F_NW_PROTO, 0xff], [F_TP_DST, 0xffff]],
  [[F_REG0, 0xffffffff]],
  [[F_METADATA_LO, 0xffffffff], [F_IN_PORT, 0xffff]],
  [[F_VLAN_TCI, 0x1fff]],
  [[F_DL_SRC_LO, 0x00ff00ff], [F_NW_TTL, 0xff]],
  [[F_CT_STATE, 0x21], [F_DL_TYPE, 0xffff], [F_NW_PROTO, 0xff], [F_TP_SRC, 0xfff0]],
];

/** Small value pools per word so that random keys often hit. */
function pick(r: () => number, w: number): number {
  const x = r();
  switch (w) {
    case F_DL_TYPE: return [0x0800, 0x0806, 0x86dd][x % 3]!;
    case F_NW_PROTO: return [6, 17, 1][x % 3]!;
    case F_IN_PORT: return 1 + (x % 4);
    case F_TP_DST: case F_TP_SRC: return [80, 443, 53, 0x1234, 8080][x % 5]!;
    case F_NW_SRC: case F_NW_DST: return (0x0a000000 | ((x >>> 4) & 0x3) << 8 | (x & 3)) >>> 0;
    case F_CT_STATE: return x & 0x3f;
    default: return x % 4;
  }
}

function randomRule(r: () => number): Match {
  const combo = COMBOS[r() % COMBOS.length]!;
  const m = new Match();
  for (const [w, mask] of combo) {
    m.mask[w] = mask;
    m.value[w] = (pick(r, w) & mask) >>> 0;
  }
  return m;
}

function randomKey(r: () => number, rules: Match[]): Uint32Array {
  const k = new Uint32Array(FLOW_WORDS);
  for (let w = 0; w < FLOW_WORDS; w++) k[w] = pick(r, w);
  if (rules.length > 0 && r() % 4 !== 0) {
    // near a rule: its value under its mask, random elsewhere, sometimes one bit off
    const m = rules[r() % rules.length]!;
    for (let w = 0; w < FLOW_WORDS; w++) k[w] = ((k[w]! & ~m.mask[w]!) | m.value[w]!) >>> 0;
    if (r() % 3 === 0) { const w = r() % FLOW_WORDS; k[w] = (k[w]! ^ (1 << (r() % 32))) >>> 0; }
  }
  return k;
}

function build(seed: number, nRules: number, prios: number): { cls: Classifier<number>; ref: Tcls; ms: Match[]; ids: number[] } {
  const r = rng(seed);
  const cls = new Classifier<number>();
  const ref = new Tcls();
  const ms: Match[] = [];
  const ids: number[] = [];
  for (let i = 0; i < nRules; i++) {
    const m = randomRule(r);
    const prio = r() % prios;
    const id = cls.insert(m, prio, i);
    ref.rules.push({ id, prio, m });
    ms.push(m);
    ids.push(id);
  }
  return { cls, ref, ms, ids };
}

function check(cls: Classifier<number>, ref: Tcls, key: Uint32Array): void {
  const got = cls.lookup(key, 0, null);
  const want = ref.best(key);
  if (want.ids.length === 0) { expect(got).toBe(-1); return; }
  expect(got).toBeGreaterThanOrEqual(0);
  expect(cls.priorityOf(got)).toBe(want.prio);
  expect(want.ids).toContain(got);
  if (want.ids.length === 1) expect(got).toBe(want.ids[0]);
}

describe('Classifier vs the linear reference (tcls)', () => {
  it('agrees on thousands of random lookups, distinct and colliding priorities', () => {
    for (const [seed, n, prios] of [[1, 50, 1000000], [2, 300, 20], [3, 1000, 5], [4, 10, 2]] as const) {
      const { cls, ref, ms } = build(seed, n, prios);
      const r = rng(seed * 77);
      for (let i = 0; i < 2000; i++) check(cls, ref, randomKey(r, ms));
    }
  });

  it('agrees after random removals and re-insertions', () => {
    const { cls, ref, ms } = build(9, 400, 50);
    const r = rng(99);
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 60; i++) {
        const at = r() % ref.rules.length;
        const rule = ref.rules[at]!;
        expect(cls.remove(rule.id)).toBe(true);
        ref.rules.splice(at, 1);
      }
      for (let i = 0; i < 40; i++) {
        const m = randomRule(r);
        const prio = r() % 50;
        ref.rules.push({ id: cls.insert(m, prio, 0), prio, m });
        ms.push(m);
      }
      expect(cls.size).toBe(ref.rules.length);
      for (let i = 0; i < 300; i++) check(cls, ref, randomKey(r, ms));
    }
    for (const rule of ref.rules) cls.remove(rule.id);
    expect(cls.size).toBe(0);
    expect(cls.subtableCount).toBe(0);
    expect(cls.lookup(new Uint32Array(FLOW_WORDS), 0, null)).toBe(-1);
  });
});

describe('megaflow property', () => {
  it('flipping bits that wc leaves wildcarded never changes the answer', () => {
    for (const [seed, n, prios] of [[11, 200, 1000], [12, 800, 10], [13, 30, 3]] as const) {
      const { cls, ms } = build(seed, n, prios);
      const r = rng(seed + 5);
      const wc = new Uint32Array(FLOW_WORDS);
      for (let i = 0; i < 1500; i++) {
        const key = randomKey(r, ms);
        wc.fill(0);
        const got = cls.lookup(key, 0, wc);
        // flip one random wildcarded bit, then many at once
        for (let t = 0; t < 4; t++) {
          const k2 = key.slice();
          const nflip = t === 0 ? 1 : 1 + (r() % 40);
          for (let f = 0; f < nflip; f++) {
            const w = r() % FLOW_WORDS, b = 1 << (r() % 32);
            if ((wc[w]! & b) === 0) k2[w] = (k2[w]! ^ b) >>> 0;
          }
          expect(cls.lookup(k2, 0, null)).toBe(got);
        }
        // and the bits in wc are all the un-wildcarding: a lookup never clears wc bits
        const before = wc.slice();
        cls.lookup(key, 0, wc);
        expect(wc).toEqual(before);
      }
    }
  });
});

describe('priorities and ties', () => {
  it('higher priority wins; among equal priority and equal mask the first inserted', () => {
    const cls = new Classifier<string>();
    const a = cls.insert(parseMatch('tcp,tp_dst=80'), 10, 'a');
    const b = cls.insert(parseMatch('tcp,tp_dst=80'), 10, 'b');
    const key = new Uint32Array(FLOW_WORDS);
    key[F_DL_TYPE] = 0x0800; key[F_NW_PROTO] = 6; key[F_TP_DST] = 80;
    expect(cls.lookup(key, 0, null)).toBe(a);
    const c = cls.insert(parseMatch('tcp,tp_dst=80'), 11, 'c');
    expect(cls.lookup(key, 0, null)).toBe(c);
    expect(cls.payloadOf(c)).toBe('c');
    cls.remove(c);
    expect(cls.lookup(key, 0, null)).toBe(a);
    cls.remove(a);
    expect(cls.lookup(key, 0, null)).toBe(b);
    // across subtables at equal priority: the older subtable's rule
    const d = cls.insert(parseMatch('ip'), 10, 'd');
    expect(cls.lookup(key, 0, null)).toBe(b);
    cls.remove(b);
    expect(cls.lookup(key, 0, null)).toBe(d);
  });

  it('stops before subtables that cannot beat the match (no wc from them)', () => {
    const cls = new Classifier<string>();
    cls.insert(parseMatch('in_port=1'), 100, 'hi');
    cls.insert(parseMatch('ip,nw_src=10.0.0.1'), 50, 'lo');
    const key = new Uint32Array(FLOW_WORDS);
    key[F_IN_PORT] = 1; key[F_DL_TYPE] = 0x0800; key[F_NW_SRC] = 0x0a000001;
    const wc = new Uint32Array(FLOW_WORDS);
    expect(cls.payloadOf(cls.lookup(key, 0, wc))).toBe('hi');
    expect(wc[F_IN_PORT]).toBe(0xffff);
    expect(wc[F_NW_SRC]).toBe(0);
    expect(wc[F_DL_TYPE]).toBe(0);
  });

  it('like OVS, does not visit a subtable whose max priority only equals the best found', () => {
    const cls = new Classifier<string>();
    cls.insert(parseMatch('in_port=1'), 10, 'first');
    cls.insert(parseMatch('ip,nw_src=10.0.0.1'), 10, 'second');
    const key = new Uint32Array(FLOW_WORDS);
    key[F_IN_PORT] = 1; key[F_DL_TYPE] = 0x0800; key[F_NW_SRC] = 0x0a000001;
    const wc = new Uint32Array(FLOW_WORDS);
    expect(cls.payloadOf(cls.lookup(key, 0, wc))).toBe('first');
    expect(wc[F_NW_SRC]).toBe(0);
  });
});

describe('staged lookup', () => {
  it('a subtable failing at L3 does not un-wildcard L4 (tcp,tp_dst=80 vs a UDP key)', () => {
    const cls = new Classifier<string>();
    cls.insert(parseMatch('tcp,tp_dst=80'), 10, 'web');
    const key = new Uint32Array(FLOW_WORDS);
    key[F_DL_TYPE] = 0x0800; key[F_NW_PROTO] = 17; key[F_TP_DST] = 80;
    const wc = new Uint32Array(FLOW_WORDS);
    expect(cls.lookup(key, 0, wc)).toBe(-1);
    expect(wc[F_TP_DST]).toBe(0);
    expect(wc[F_NW_PROTO]).toBe(0xff);
    expect(wc[F_DL_TYPE]).toBe(0xffff);
    // a TCP key reaches L4: tp_dst un-wildcarded, hit or miss
    key[F_NW_PROTO] = 6; key[F_TP_DST] = 81;
    wc.fill(0);
    expect(cls.lookup(key, 0, wc)).toBe(-1);
    expect(wc[F_TP_DST]).toBe(0xffff);
  });

  it('a subtable failing at L2 un-wildcards only metadata and L2', () => {
    const cls = new Classifier<string>();
    cls.insert(parseMatch('in_port=1,dl_dst=00:00:00:00:00:01,ip,nw_dst=10.0.0.1,tcp,tp_src=5'), 10, 'x');
    const key = new Uint32Array(FLOW_WORDS);
    key[F_IN_PORT] = 1; key[F_DL_DST_LO] = 2; key[F_DL_TYPE] = 0x0800;
    const wc = new Uint32Array(FLOW_WORDS);
    expect(cls.lookup(key, 0, wc)).toBe(-1);
    expect(wc[F_IN_PORT]).toBe(0xffff);
    expect(wc[F_DL_DST_LO]).toBe(0xffffffff);
    expect(wc[F_NW_DST]).toBe(0);
    expect(wc[F_NW_PROTO]).toBe(0);
    expect(wc[F_TP_SRC]).toBe(0);
  });

  it('reads keys at a base offset in a batch', () => {
    const cls = new Classifier<string>();
    const id = cls.insert(parseMatch('in_port=3'), 1, 'p3');
    const batch = new Uint32Array(FLOW_WORDS * 4);
    batch[2 * FLOW_WORDS + F_IN_PORT] = 3;
    expect(cls.lookup(batch, 0, null)).toBe(-1);
    expect(cls.lookup(batch, 2 * FLOW_WORDS, null)).toBe(id);
  });
});
