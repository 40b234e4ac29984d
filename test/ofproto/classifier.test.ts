import { describe, expect, it } from 'vitest';
import { Classifier } from '../../src/ofproto/classifier.js';
import { PrefixTrie, prefixMask } from '../../src/ofproto/trie.js';
import { Match, formatMatch, matches, parseMatch } from '../../src/flow/match.js';
import {
  F_ARP_SHA_LO, F_ND_TARGET, F_DL_DST_HI, F_DL_DST_LO, F_DL_SRC_LO, F_DL_TYPE, F_IN_PORT, F_METADATA_LO, F_NW_DST, F_NW_PROTO,
  F_NW_SRC, F_PACKET_TYPE, F_REG0, F_TCP_FLAGS, F_TP_DST, F_TP_SRC, F_VLAN_TCI, FLOW_WORDS, F_CT_STATE, F_NW_TTL,
} from '../../src/flow/key.js';
import { mulberry32 as rng } from '../../src/rng.js';


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
  // prefix tries: CIDR masks of many lengths on nw_src/nw_dst, alone and together
  [[F_DL_TYPE, 0xffff], [F_NW_SRC, 0xfffff000]],
  [[F_DL_TYPE, 0xffff], [F_NW_SRC, 0xffffffff]],
  [[F_DL_TYPE, 0xffff], [F_NW_DST, 0xffffffff]],
  [[F_DL_TYPE, 0xffff], [F_NW_DST, 0xfe000000]],
  [[F_DL_TYPE, 0xffff], [F_NW_DST, 0xfffffffc]],
  [[F_DL_TYPE, 0xffff], [F_NW_SRC, 0xffff0000], [F_NW_DST, 0xff000000]],
  [[F_DL_TYPE, 0xffff], [F_NW_SRC, 0xff00ff00]],                       // not CIDR: no trie
  [[F_IN_PORT, 0xffff], [F_DL_TYPE, 0xffff], [F_NW_SRC, 0xffffff80], [F_NW_PROTO, 0xff]],
  [[F_NW_DST, 0xffff8000]],                                              // no dl_type at all
  // ports trie: prefixes of tp_dst, tp_src:tp_dst, and the rest of the final stage beside them
  [[F_DL_TYPE, 0xffff], [F_NW_PROTO, 0xff], [F_TP_DST, 0xfff0]],
  [[F_DL_TYPE, 0xffff], [F_NW_PROTO, 0xff], [F_TP_SRC, 0xff00], [F_TP_DST, 0xffff]],
  [[F_DL_TYPE, 0xffff], [F_NW_PROTO, 0xff], [F_TP_DST, 0xffff], [F_TCP_FLAGS, 0x12]],
  [[F_DL_TYPE, 0xffff], [F_ARP_SHA_LO, 0xff], [F_NW_DST, 0xffffff00]],
  [[F_DL_TYPE, 0xffff], [F_NW_PROTO, 0xff], [F_TP_SRC, 0xffff], [F_ND_TARGET + 3, 0xffffffff]],   // L4 with nd_target
];

/** Small value pools per word so that random keys often hit. */
function pick(r: () => number, w: number): number {
  const x = r();
  switch (w) {
    case F_DL_TYPE: return [0x0800, 0x0806, 0x86dd][x % 3]!;
    case F_NW_PROTO: return [6, 17, 1][x % 3]!;
    case F_IN_PORT: return 1 + (x % 4);
    case F_TP_DST: case F_TP_SRC: return [80, 443, 53, 0x1234, 8080][x % 5]!;
    case F_NW_SRC: case F_NW_DST: {
      // a few bases, so prefixes nest and diverge at many depths
      const b = [0x0a000000, 0x0a000000, 0x0a010200, 0xc0a80000, 0x80000001][x % 5]!;
      return (b ^ ((x >>> 4) & 0x3) << 8 ^ ((x >>> 8) & 3) ^ ((x >>> 12) % 7 === 0 ? (x >>> 16) << 12 : 0)) >>> 0;
    }
    case F_CT_STATE: return x & 0x3f;
    case F_TCP_FLAGS: return x & 0x1f;
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

const WC = new Uint32Array(FLOW_WORDS);

/** Both lookups (without wc, and with wc: staged, tries) agree with tcls and with each other. */
function check(cls: Classifier<number>, ref: Tcls, key: Uint32Array): void {
  const got = cls.lookup(key, 0, null);
  WC.fill(0);
  expect(cls.lookup(key, 0, WC)).toBe(got);
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

describe('matchesAbove (the conjunctive "soft" matches)', () => {
  it('returns every matching rule above the floor, and its wc is safe', () => {
    const { cls, ref, ms } = build(5, 300, 40);
    const r = rng(555);
    for (let i = 0; i < 500; i++) {
      const key = randomKey(r, ms);
      const floor = (r() % 45) - 2;
      const wc = new Uint32Array(FLOW_WORDS);
      const got = cls.matchesAbove(key, 0, wc, floor).sort((a, b) => a - b);
      const want = ref.rules.filter((x) => x.prio > floor && matches(x.m, key, 0)).map((x) => x.id).sort((a, b) => a - b);
      expect(got).toEqual(want);
      // flipping a bit wc leaves 0 changes nothing
      const w = r() % FLOW_WORDS, bit = r() % 32;
      if (((wc[w]! >>> bit) & 1) === 0) {
        const k2 = key.slice();
        k2[w] = (k2[w]! ^ (1 << bit)) >>> 0;
        expect(cls.matchesAbove(k2, 0, new Uint32Array(FLOW_WORDS), floor).sort((a, b) => a - b)).toEqual(got);
      }
    }
  });
});

describe('megaflow property', () => {
  it('flipping bits that wc leaves wildcarded never changes the answer', () => {
    // the words whose masks the tries shorten: flipped on purpose, not only by chance
    const TRIMMED = [F_NW_SRC, F_NW_DST, F_TP_SRC, F_TP_DST];
    const ruleMasks = new Map<number, Set<number>>(TRIMMED.map((w) => [w, new Set([0])]));
    for (const combo of COMBOS) for (const [w, m] of combo) ruleMasks.get(w)?.add(m >>> 0);
    let addrTrieMasks = 0, portsTrieMasks = 0;
    for (const [seed, n, prios] of [[11, 200, 1000], [12, 800, 10], [13, 30, 3]] as const) {
      const { cls, ms } = build(seed, n, prios);
      const r = rng(seed + 5);
      const wc = new Uint32Array(FLOW_WORDS);
      for (let i = 0; i < 1500; i++) {
        const key = randomKey(r, ms);
        wc.fill(0);
        const got = cls.lookup(key, 0, wc);
        // a mask no rule has can only come from a trie
        for (const w of TRIMMED) {
          if (ruleMasks.get(w)!.has(wc[w]!)) continue;
          if (w === F_NW_SRC || w === F_NW_DST) addrTrieMasks++; else portsTrieMasks++;
        }
        // flip one random wildcarded bit, then many at once, then bits of the trimmed words
        for (let t = 0; t < 6; t++) {
          const k2 = key.slice();
          const nflip = t === 0 ? 1 : 1 + (r() % 40);
          for (let f = 0; f < nflip; f++) {
            const w = t >= 4 ? TRIMMED[r() % TRIMMED.length]! : r() % FLOW_WORDS, b = 1 << (r() % 32);
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
    // both kinds of trie shortened masks in this run (240 and 162 of them when written)
    expect(addrTrieMasks).toBeGreaterThan(100);
    expect(portsTrieMasks).toBeGreaterThan(50);
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

/** Look 'packet' (ovs-ofctl flow text) up in a classifier of 'rules'; wc printed as OVS prints a match. */
function lookupWc(rules: [number, string][], packet: string): { prio: number; wc: Uint32Array; text: string } {
  const cls = new Classifier<number>();
  for (const [prio, m] of rules) cls.insert(parseMatch(m), prio, prio);
  const key = parseMatch(packet).value;
  const wc = new Uint32Array(FLOW_WORDS);
  const id = cls.lookup(key, 0, wc);
  expect(cls.lookup(key, 0, null)).toBe(id);
  const m = new Match();
  for (let w = 0; w < FLOW_WORDS; w++) { m.mask[w] = wc[w]!; m.value[w] = (key[w]! & wc[w]!) >>> 0; }
  return { prio: id < 0 ? -1 : cls.priorityOf(id), wc, text: formatMatch(m) };
}

// Expected masks below are the classifier's part of ovs-vswitchd 3.1's Megaflow lines for the
// same rules and packets (classifier-ovs.test.ts runs these rule sets against the real thing).
describe('prefix tries on nw_src/nw_dst (check_tries)', () => {
  const host16: [number, string][] = [[10, 'ip,nw_src=10.1.2.3'], [5, 'ip,nw_src=10.1.0.0/16']];

  it('BEHAVIOUR.md: 10.1.9.9 vs /32 10.1.2.3 and /16 10.1.0.0 un-wildcards nw_src=10.1.8.0/21', () => {
    const r = lookupWc(host16, 'ip,nw_src=10.1.9.9');
    expect(r.prio).toBe(5);
    expect(r.text).toBe('ip,nw_src=10.1.8.0/21');
    expect(r.wc[F_NW_SRC]).toBe(0xfffff800);
    expect(r.wc[F_NW_DST]).toBe(0);
    expect(r.wc[F_PACKET_TYPE]).toBe(0xffffffff);
    expect(r.wc[F_DL_TYPE]).toBe(0xffff);
  });

  it('a hit in the /32 subtable is a full /32 and stops before the /16', () => {
    expect(lookupWc(host16, 'ip,nw_src=10.1.2.3')).toMatchObject({ prio: 10, text: 'ip,nw_src=10.1.2.3' });
  });

  it('misses print shortened prefixes (the /2, /4, /5 of BEHAVIOUR.md)', () => {
    const rules: [number, string][] = [[10, 'ip,nw_dst=10.0.0.0/8'], [9, 'ip,nw_dst=192.168.0.0/16']];
    expect(lookupWc(rules, 'ip,nw_dst=128.0.0.1')).toMatchObject({ prio: -1, text: 'ip,nw_dst=128.0.0.0/2' });
    expect(lookupWc(rules, 'ip,nw_dst=30.1.1.1')).toMatchObject({ prio: -1, text: 'ip,nw_dst=16.0.0.0/4' });
    expect(lookupWc(rules, 'ip,nw_dst=200.1.1.1')).toMatchObject({ prio: -1, text: 'ip,nw_dst=200.0.0.0/5' });
    // a hit visits its subtable: its /8 mask, after the /16's skip bits
    expect(lookupWc(rules, 'ip,nw_dst=10.9.9.9')).toMatchObject({ prio: 10, text: 'ip,nw_dst=10.0.0.0/8' });
  });

  it('a skipped subtable adds only the trie bits: not its L3 words, nothing of L4', () => {
    const r = lookupWc([[10, 'tcp,nw_dst=10.0.0.0/8,tp_dst=80']], 'tcp,nw_dst=11.1.1.1,tp_dst=80');
    expect(r.prio).toBe(-1);
    expect(r.wc[F_NW_DST]).toBe(0xff000000);
    expect(r.wc[F_NW_PROTO]).toBe(0);
    expect(r.wc[F_TP_DST]).toBe(0);
    expect(r.text).toBe('ip,nw_dst=11.0.0.0/8');
  });

  it('trie bits longer than a subtable\'s prefix skip it only when already in wc', () => {
    // /32 skipped first (30 trie bits ≤ 32), then the /8 may skip because those 30 bits are set
    const a = lookupWc([[30, 'ip,nw_dst=10.1.2.3'], [20, 'ip,nw_dst=11.0.0.0/8'], [10, 'ip,nw_dst=10.1.2.0/24']],
      'ip,nw_dst=10.1.2.4');
    expect(a).toMatchObject({ prio: 10, text: 'ip,nw_dst=10.1.2.4/30' });
    // the /8 alone cannot use 30 trie bits (more than its own 8): it is visited and folds its /8
    const b = lookupWc([[20, 'ip,nw_dst=11.0.0.0/8'], [10, 'ip,nw_dst=10.1.2.3'], [5, 'ip,nw_dst=10.1.2.3/31']],
      'ip,nw_dst=10.1.2.1');
    expect(b.prio).toBe(-1);
    expect(b.text).toBe('ip,nw_dst=10.1.2.0/31');
  });

  it('a subtable that is not skipped un-wildcards its whole address mask', () => {
    // 10.1.2.3 matches the /16's prefix length in the trie, so the /16 subtable is visited
    const r = lookupWc([[5, 'ip,nw_src=10.1.0.0/16,nw_dst=1.0.0.0/8']], 'ip,nw_src=10.1.2.3,nw_dst=2.0.0.0');
    expect(r.prio).toBe(-1);
    // nw_dst is checked first (OVS's trie order): its trie skips, with 7 bits
    expect(r.text).toBe('ip,nw_dst=2.0.0.0/7');
    const s = lookupWc([[5, 'ip,nw_src=10.1.0.0/16,nw_dst=1.0.0.0/8']], 'ip,nw_src=10.1.2.3,nw_dst=1.2.3.4');
    expect(s).toMatchObject({ prio: 5, text: 'ip,nw_src=10.1.0.0/16,nw_dst=1.0.0.0/8' });
  });

  it('ARP: arp_spa prefixes enter the nw_src trie; an ARP key skips nothing', () => {
    const rules: [number, string][] = [[10, 'arp,arp_spa=10.0.0.0/8'], [5, 'ip,nw_src=10.1.2.3']];
    expect(lookupWc(rules, 'arp,arp_spa=11.0.0.1')).toMatchObject({ prio: -1, text: 'arp,arp_spa=11.0.0.0/8' });
    expect(lookupWc(rules, 'ip,nw_src=11.0.0.1')).toMatchObject({ prio: -1, text: 'ip,nw_src=11.0.0.0/8' });
    expect(lookupWc(rules, 'ip,nw_src=10.7.7.7')).toMatchObject({ prio: -1, text: 'ip,nw_src=10.4.0.0/14' });
  });

  it('IPv6 has no trie: ipv6_dst comes out in full', () => {
    const r = lookupWc([[10, 'ipv6,ipv6_dst=2001:db8::1'], [5, 'ipv6,ipv6_dst=2001:db8::/32']], 'ipv6,ipv6_dst=2001:db8::2');
    expect(r).toMatchObject({ prio: 5, text: 'ipv6,ipv6_dst=2001:db8::2' });
  });

  it('tries follow removals: a removed prefix no longer lengthens the trie bits', () => {
    const cls = new Classifier<number>();
    const a = cls.insert(parseMatch('ip,nw_src=10.1.2.3'), 10, 0);
    cls.insert(parseMatch('ip,nw_src=10.1.0.0/16'), 5, 0);
    const dup = cls.insert(parseMatch('ip,nw_src=10.1.2.3'), 8, 0);   // same subtable, same value
    const key = parseMatch('ip,nw_src=10.1.9.9').value;
    const wc = new Uint32Array(FLOW_WORDS);
    cls.lookup(key, 0, wc);
    expect(wc[F_NW_SRC]).toBe(0xfffff800);
    cls.remove(a);                                                     // 'dup' keeps the prefix
    wc.fill(0);
    cls.lookup(key, 0, wc);
    expect(wc[F_NW_SRC]).toBe(0xfffff800);
    cls.remove(dup);                                                   // only the /16 is left
    wc.fill(0);
    cls.lookup(key, 0, wc);
    expect(wc[F_NW_SRC]).toBe(0xffff0000);
  });
});

describe('ports trie (final stage with tp_src/tp_dst)', () => {
  const ranges: [number, string][] = [[10, 'tcp,tp_dst=0x100/0xff00'], [9, 'tcp,tp_dst=0x0/0xffc0'], [8, 'tcp,tp_dst=0x36/0xfffe']];

  it('a miss un-wildcards only the trie prefix of the port bits', () => {
    expect(lookupWc(ranges, 'tcp,tp_dst=1000')).toMatchObject({ prio: -1, text: 'tcp,tp_dst=0x200/0xfe00' });
    expect(lookupWc(ranges, 'tcp,tp_dst=22')).toMatchObject({ prio: 9, text: 'tcp,tp_dst=0x0/0xffc0' });
    expect(lookupWc(ranges, 'tcp,tp_dst=0x1ff')).toMatchObject({ prio: 10, text: 'tcp,tp_dst=0x100/0xff00' });
  });

  it('the rest of the final stage folds in full (OVS 489553b1c): tcp_flags=-psh', () => {
    const r = lookupWc([[10, 'tcp,tp_dst=80,tcp_flags=+psh']], 'tcp,tp_dst=81,tcp_flags=+syn');
    expect(r.prio).toBe(-1);
    expect(r.text).toBe('tcp,tp_dst=81,tcp_flags=-psh');
    expect(r.wc[F_TCP_FLAGS]).toBe(0x008);
  });

  it('tp_src is the high half of the ports word', () => {
    const r = lookupWc([[10, 'tcp,tp_src=0x400/0xfc00,tp_dst=80']], 'tcp,tp_src=0x801,tp_dst=80');
    expect(r.prio).toBe(-1);
    expect(r.wc[F_TP_SRC]).toBe(0xf800);     // 0x0801 vs 0x0400: the 5th bit differs
    expect(r.wc[F_TP_DST]).toBe(0);
  });
});

/**
 * trie_lookup_value() in closed form for a canonical trie of 'set': 'maskbits'
 * = the deepest agreement m of 'v' with any prefix, plus one when a prefix
 * agreeing to m goes on past m; 'plens' = the lengths of the prefixes of 'v'.
 */
function trieRef(set: { p: number; len: number }[], v: number): { maskbits: number; plens: number } {
  let m = -1, plens = 0;
  for (const q of set) {
    const a = Math.min(Math.clz32((q.p ^ v) >>> 0), q.len);
    if (a === q.len) plens |= 1 << (q.len - 1);
    if (a > m) m = a;
  }
  if (m < 0) return { maskbits: 0, plens };
  if (m >= 32) return { maskbits: 32, plens };
  const longer = set.some((q) => Math.min(Math.clz32((q.p ^ v) >>> 0), q.len) === m && q.len > m);
  return { maskbits: longer ? m + 1 : m, plens };
}

describe('PrefixTrie', () => {
  it('10.1.2.3/32 + 10.1.0.0/16, looking up 10.1.9.9: 21 bits, length 16 may match', () => {
    const t = new PrefixTrie();
    t.insert(0x0a010203, 32);
    t.insert(0x0a010000, 16);
    expect(t.lookup(0x0a010909)).toBe(21);
    expect(t.plens >>> 0).toBe(1 << 15);
    expect(t.lookup(0x0a010203)).toBe(32);
    expect(t.plens >>> 0).toBe(((1 << 15) | (1 << 31)) >>> 0);
    expect(t.nodeCount).toBe(2);
  });

  it('an empty trie needs no bits; a lone leaf needs up to its first mismatch', () => {
    const t = new PrefixTrie();
    expect(t.lookup(0x12345678)).toBe(0);
    t.insert(0xc0a80000, 16);
    expect(t.lookup(0x0a000000)).toBe(1);
    expect(t.lookup(0xc0a90000)).toBe(16);
    expect(t.lookup(0xc0a8ffff)).toBe(16);   // past a leaf: nothing longer to rule out
  });

  it('agrees with the closed form under random inserts and removals, and prunes to empty', () => {
    const r = rng(7);
    const bases = [0x0a000000, 0x0a010203, 0x80000000, 0x7fffffff, 0xc0a80100, 0];
    const rand = (): number => (bases[r() % bases.length]! ^ (r() % 3 === 0 ? r() >>> (r() % 32) : r() & 0x1ff)) >>> 0;
    const t = new PrefixTrie();
    const set: { p: number; len: number }[] = [];
    for (let round = 0; round < 400; round++) {
      if (set.length > 0 && r() % 3 === 0) {
        const q = set.splice(r() % set.length, 1)[0]!;
        expect(t.remove(q.p, q.len)).toBe(true);
      } else {
        const len = 1 + (r() % 32);
        const q = { p: (rand() & prefixMask(len)) >>> 0, len };
        set.push(q);
        t.insert(q.p, q.len);
      }
      for (let i = 0; i < 20; i++) {
        const v = i % 2 === 0 ? rand() : set.length > 0 ? (set[r() % set.length]!.p ^ (1 << (r() % 32))) >>> 0 : rand();
        const want = trieRef(set, v);
        expect(t.lookup(v)).toBe(want.maskbits);
        expect(t.plens >>> 0).toBe(want.plens >>> 0);
      }
    }
    const counts = new Map<string, number>();
    for (const q of set) counts.set(`${q.p}/${q.len}`, (counts.get(`${q.p}/${q.len}`) ?? 0) + 1);
    const got = new Map(t.entries().map((e) => [`${e.prefix}/${e.len}`, e.count] as const));
    expect(got).toEqual(counts);
    expect(t.remove(0x01020304, 32) && set.every((q) => q.p !== 0x01020304 || q.len !== 32)).toBe(false);
    for (const q of set) expect(t.remove(q.p, q.len)).toBe(true);
    expect(t.isEmpty).toBe(true);
    expect(t.nodeCount).toBe(0);
  });
  it('agrees with the closed form at thousands of prefixes (jump table), through growth and shrinking', () => {
    const r = rng(8);
    const t = new PrefixTrie();
    const set: { p: number; len: number }[] = [];
    const checkMany = (n: number): void => {
      for (let i = 0; i < n; i++) {
        const q = set[r() % set.length];
        const v = q === undefined || i % 3 === 0 ? r() >>> 0 : (q.p ^ (r() >>> (r() % 32))) >>> 0;
        const want = trieRef(set, v);
        if (t.lookup(v) !== want.maskbits || (t.plens >>> 0) !== (want.plens >>> 0)) {
          expect({ v, maskbits: t.lookup(v), plens: t.plens >>> 0 }).toEqual({ v, ...want, plens: want.plens >>> 0 });
        }
      }
    };
    for (const target of [300, 3000]) {
      while (set.length < target) {
        const len = [32, 24, 16, 8, 28, 30][r() % 6]!;
        const base = [0x0a000000, 0xc0a80000, 0][r() % 3]!;
        const q = { p: ((base ^ (r() >>> (r() % 16))) & prefixMask(len)) >>> 0, len };
        set.push(q);
        t.insert(q.p, q.len);
        if (set.length % 97 === 0) checkMany(20);   // lookups between changes re-fill stale entries
      }
      checkMany(3000);
    }
    while (set.length > 5) {
      const q = set.splice(r() % set.length, 1)[0]!;
      expect(t.remove(q.p, q.len)).toBe(true);
      if (set.length % 89 === 0) checkMany(20);
    }
    checkMany(500);
  });
});
