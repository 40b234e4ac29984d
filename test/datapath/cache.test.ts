// The megaflow cache (subtables per mask) and the EMC against a linear model.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DpFlow, Emc, MegaflowCache, Subtable } from '../../src/datapath/cache.js';
import { FLOW_WORDS } from '../../src/flow/key.js';
import { DpProgram } from '../../src/datapath/odp-actions.js';

function flow(id: number, key: Uint32Array, mask: Uint32Array): DpFlow {
  const k = key.map((v, i) => (v & mask[i]!) >>> 0);
  return new DpFlow(id, k, mask, key.slice(), new DpProgram([]), 'drop', [], [], 0);
}
function keyOf(words: Record<number, number>): Uint32Array {
  const k = new Uint32Array(FLOW_WORDS);
  for (const [w, v] of Object.entries(words)) k[Number(w)] = v;
  return k;
}

describe('Subtable', () => {
  it('insert, lookup, remove agree with a linear scan (random ops, with deletions shifting runs)', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.boolean(), fc.nat(40)), { maxLength: 300 }), (ops) => {
      const mask = keyOf({ 35: 0xffffff00, 60: 0xffff });
      const st = new Subtable(mask);
      const live = new Map<number, DpFlow>();
      let id = 0;
      for (const [add, n] of ops) {
        if (add && !live.has(n)) {
          const f = flow(id++, keyOf({ 35: n << 8, 60: n * 7 }), mask);
          st.insert(f);
          live.set(n, f);
        } else if (!add && live.has(n)) {
          expect(st.remove(live.get(n)!)).toBe(true);
          live.delete(n);
        }
        expect(st.count).toBe(live.size);
      }
      for (let n = 0; n <= 40; n++) {
        const probe = keyOf({ 35: (n << 8) | 0x55, 60: n * 7, 36: 99 });
        expect(st.lookup(probe, 0)).toBe(live.get(n) ?? null);
      }
    }), { numRuns: 200 });
  });
});

describe('MegaflowCache', () => {
  it('one subtable per mask, ranked by hits, gone when empty', () => {
    const c = new MegaflowCache();
    const m1 = keyOf({ 36: 0xffffffff }), m2 = keyOf({ 60: 0xffff });
    const a = flow(1, keyOf({ 36: 1 }), m1), b = flow(2, keyOf({ 60: 80 }), m2), d = flow(3, keyOf({ 36: 2 }), m1);
    c.insert(a); c.insert(b); c.insert(d);
    expect(c.masks).toBe(2);
    expect(c.size).toBe(3);
    const k = keyOf({ 60: 80 });
    for (let i = 0; i < 3; i++) expect(c.lookup(k, 0)).toBe(b);
    expect(c.probes).toBe(2);
    c.rank();
    expect(c.lookup(k, 0)).toBe(b);
    expect(c.probes).toBe(1);
    c.remove(b);
    expect(c.masks).toBe(1);
    expect(c.lookup(k, 0)).toBeNull();
    expect(c.lookup(keyOf({ 36: 2, 60: 5 }), 0)).toBe(d);
  });
});

describe('Emc', () => {
  it('hits on the exact key only, misses once the flow is dead', () => {
    const e = new Emc(16);
    const k = keyOf({ 35: 1, 36: 2, 60: 80 });
    const f = flow(1, k, keyOf({ 36: 0xffffffff }));
    e.insert(k, 0, 0xabcdef, f);
    expect(e.lookup(k, 0, 0xabcdef)).toBe(f);
    expect(e.lookup(keyOf({ 35: 1, 36: 2, 60: 81 }), 0, 0xabcdef)).toBeNull();
    expect(e.used).toBe(1);
    f.dead = true;
    expect(e.lookup(k, 0, 0xabcdef)).toBeNull();
    expect(e.used).toBe(0);
  });

  it('uses both probe slots and replaces when both are taken', () => {
    const e = new Emc(16);
    const fs = [1, 2, 3].map((i) => flow(i, keyOf({ 60: i }), keyOf({ 60: 0xffff })));
    // the same hash for all three: slots h&15 and (h>>>13)&15
    const h = (3 << 13) | 5;
    fs.forEach((f, i) => e.insert(keyOf({ 60: i + 1 }), 0, h, f));
    const found = [1, 2, 3].map((i) => e.lookup(keyOf({ 60: i }), 0, h));
    expect(found.filter((x) => x !== null).length).toBe(2);
    expect(found[2]).toBe(fs[2]);
  });
});
