/**
 * The OpenFlow classifier (ofproto layer) — sdnemu's lib/classifier.[ch].
 *
 * What?
 * =====
 * A `Classifier` holds rules, each a (priority, Match, payload) triple, and
 * answers "which rule of highest priority matches this flow key?". It also
 * reports, through an optional wildcard mask 'wc', which key bits the answer
 * depended on, so that xlate can build the megaflow the datapath caches.
 * Rules are identified by a small integer id (returned by `insert()`, reused
 * after `remove()`); the payload is opaque to the classifier.
 *
 * Ties
 * ====
 * Among equal-priority matching rules *with the same mask* (one subtable), the
 * rule inserted first wins. Across subtables, OVS (whose classifier.h calls
 * equal-priority overlaps undefined) stops as soon as no remaining subtable can
 * *beat* the best match, i.e. it never visits a subtable whose max priority
 * equals the best priority found. We keep that stop rule, because it decides
 * the megaflow, and OVS fidelity of the megaflow matters more than a global
 * tie rule that OpenFlow leaves undefined. So across subtables the winner is
 * the rule from the subtable visited first: subtables are ordered by max
 * priority (descending), then by creation (oldest first). In particular, the
 * rule inserted first wins whenever the tied rules share a mask, or when the
 * earlier rule's subtable is older. Inserting the same match and priority
 * twice keeps both; the first shadows the second until it is removed.
 *
 * Un-wildcarding
 * ==============
 * `lookup(key, base, wc)` ORs into 'wc' every bit it examined. The invariant
 * (classifier.h): a 1-bit that did not matter ("false 1-bit") only makes the
 * megaflow narrower, which is safe; a missing 1-bit ("false 0-bit") would let
 * the datapath send packets the wrong way. test/ofproto/classifier.test.ts
 * checks the property directly: flipping any bit that 'wc' leaves 0 never
 * changes the answer.
 *
 * Basic classifier design (tuple space search)
 * ============================================
 * One subtable per distinct mask. A subtable precomputes the indices of the
 * mask's non-zero words ('idx') and the mask words themselves ('mask'); it
 * hashes the masked key words (murmur3 steps with Math.imul) into a
 * power-of-two open-addressed table whose slots hold the head rule id of a
 * chain of rules with that masked value, plus the 32-bit hash and the masked
 * value words for confirmation. A chain is sorted by priority (descending),
 * then insertion order, so its head is the subtable's answer.
 * Subtables are kept sorted by their max rule priority, so the lookup stops as
 * soon as the best match found is >= the next subtable's max priority; the
 * subtables it never reached contribute nothing to 'wc'.
 *
 * Staged lookup
 * =============
 * The key layout (flow/key.ts) is metadata → L2 → L3 → L4 (SEG_*). Each
 * subtable groups its mask words by segment into "stages" (empty segments are
 * skipped). For every stage but the last, it keeps a counting set of the
 * hashes of the masked-value prefix up to the end of that stage. A lookup
 * checks the running hash at each stage boundary; when no rule has that
 * prefix, the subtable fails there and un-wildcards only the words of the
 * stages it looked at. So a UDP key against a `tcp,tp_dst=80` rule gets
 * dl_type and nw_proto but no tp_dst. A hash collision in a stage set makes
 * the lookup go on to a later stage: more 1-bits, never fewer (safe). A
 * subtable that gets through all stages un-wildcards its whole mask, hit or
 * miss, as OVS does.
 *
 * Prefix tracking: NOT IMPLEMENTED
 * ================================
 * OVS also keeps binary tries on nw_src/nw_dst and un-wildcards only as many
 * leading address bits as are needed to rule out longer prefixes
 * (BEHAVIOUR.md item 3: 10.1.9.9 vs /32 10.1.2.3 and /16 10.1.0.0 →
 * `nw_src=10.1.8.0/21`). sdnemu does not do this yet: a subtable it visits
 * un-wildcards its whole nw_src/nw_dst mask (at the stage reached). The
 * megaflow is then a superset of OVS's bits (false 1-bits: correct, but
 * narrower than OVS's and printed differently). Nor do we skip subtables via
 * the tries, which OVS uses to avoid whole subtables.
 *
 * Not implemented either: versioning (classifier.h "Classifier Versioning"),
 * conjunctive matches, and per-subtable hit-count re-ranking (that is dpcls,
 * datapath/).
 *
 * Cost per lookup: for each visited subtable, one mix per mask word, one
 * table probe per non-final stage, one probe + word compare at the end.
 * Allocates nothing. insert/remove are slow path (a Map keyed by the mask's
 * text, an O(#subtables) re-sort, O(subtable) max-priority recompute).
 * Not reentrant-safe against mutation during a lookup; single-threaded.
 * Neighbours: flow/key.ts (layout, SEG_*), flow/match.ts (Match); used by
 * ofproto/ flow tables and xlate; datapath/'s megaflow cache is filled from
 * the 'wc' computed here.
 */
import { type Match } from '../flow/match.js';
import { FLOW_WORDS, SEGMENT_ENDS } from '../flow/key.js';

const EMPTY = -1;
const TOMB = -2;
const C1 = 0xcc9e2d51 | 0, C2 = 0x1b873593 | 0;

function mix(h: number, w: number): number {
  let k = Math.imul(w, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function fin(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

function pow2AtLeast(n: number): number {
  let c = 8;
  while (c < n) c <<= 1;
  return c;
}

/**
 * One mask's rules (cls_subtable). The hash table is one interleaved buffer,
 * a record of STRIDE = 2 + n words per slot: [head rule id, hash, masked value
 * words…], so a probe touches one cache line, not three arrays (at 100k rules
 * the tables outgrow the caches and each visited subtable costs a miss).
 * Stage sets are interleaved the same way: [hash, count] per entry.
 */
class Subtable {
  /** key word index of each non-zero mask word, ascending (so staged by segment) */
  readonly idx: Int32Array;
  /** the mask word at each idx */
  readonly mask: Uint32Array;
  /** number of mask words */
  readonly n: number;
  /** words per slot record: head, hash, n value words */
  readonly stride: number;
  /** per non-empty stage: number of mask words up to its end (cumulative) */
  readonly stageEnd: Int32Array;
  readonly nStages: number;
  /** creation order, the tie-break between subtables of equal max priority */
  readonly created: number;
  readonly maskKey: string;
  maxPrio = -0x80000000;
  nRules = 0;
  // ---- full table: 'cap' records of 'stride' words; tabI and tabU view one buffer
  cap = 8;
  tabI: Int32Array;
  tabU: Uint32Array;
  live = 0;
  tombs = 0;
  // ---- stage prefix sets, (nStages - 1) tables of 'cap' [hash, count] pairs;
  // count 0 empty, -1 tombstone, > 0 live
  st: Int32Array;

  constructor(maskWords: Uint32Array, created: number, maskKey: string) {
    let n = 0;
    for (let w = 0; w < FLOW_WORDS; w++) if (maskWords[w] !== 0) n++;
    this.idx = new Int32Array(n);
    this.mask = new Uint32Array(n);
    let i = 0;
    for (let w = 0; w < FLOW_WORDS; w++) {
      if (maskWords[w] !== 0) { this.idx[i] = w; this.mask[i] = maskWords[w]!; i++; }
    }
    this.n = n;
    this.stride = 2 + n;
    const ends: number[] = [];
    let j = 0;
    for (const segEnd of SEGMENT_ENDS) {
      const before = j;
      while (j < n && this.idx[j]! < segEnd) j++;
      if (j > before) ends.push(j);
    }
    this.stageEnd = Int32Array.from(ends);
    this.nStages = ends.length;
    this.created = created;
    this.maskKey = maskKey;
    this.tabI = new Int32Array(8 * this.stride);
    this.tabU = new Uint32Array(this.tabI.buffer);
    for (let o = 0; o < 8; o++) this.tabI[o * this.stride] = EMPTY;
    this.st = new Int32Array(Math.max(this.nStages - 1, 0) * 8 * 2);
  }

  /**
   * The head rule of the chain whose masked value equals 'key'[base…] under
   * this mask, or -1. ORs into 'wc' (when given) the mask words of the stages
   * examined. Allocates nothing.
   */
  find(key: Uint32Array, base: number, wc: Uint32Array | null): number {
    const idx = this.idx, mask = this.mask, n = this.n;
    let h = 0, i = 0;
    const last = this.nStages - 1;
    for (let s = 0; s < last; s++) {
      const end = this.stageEnd[s]!;
      for (; i < end; i++) h = mix(h, key[base + idx[i]!]! & mask[i]!);
      if (!this.stageHas(s, fin(h))) {
        if (wc !== null) for (let j = 0; j < end; j++) { const w = idx[j]!; wc[w] = wc[w]! | mask[j]!; }
        return -1;
      }
    }
    for (; i < n; i++) h = mix(h, key[base + idx[i]!]! & mask[i]!);
    if (wc !== null) for (let j = 0; j < n; j++) { const w = idx[j]!; wc[w] = wc[w]! | mask[j]!; }
    const fh = fin(h);
    const m = this.cap - 1, stride = this.stride, tabI = this.tabI, tabU = this.tabU;
    for (let slot = fh & m; ; slot = (slot + 1) & m) {
      const o = slot * stride;
      const head = tabI[o]!;
      if (head === EMPTY) return -1;
      if (head !== TOMB && tabI[o + 1] === fh) {
        let diff = 0;
        for (let j = 0; j < n; j++) diff |= (key[base + idx[j]!]! & mask[j]!) ^ tabU[o + 2 + j]!;
        if (diff === 0) return head;
      }
    }
  }

  private stageHas(s: number, fh: number): boolean {
    const cap = this.cap, m = cap - 1, off = s * cap * 2, st = this.st;
    for (let p = fh & m; ; p = (p + 1) & m) {
      const c = st[off + 2 * p + 1]!;
      if (c === 0) return false;
      if (c > 0 && st[off + 2 * p] === fh) return true;
    }
  }

  /** Hash of the masked value prefix 'v'[voff…] through 'end' words, finalized. */
  prefixHash(v: Uint32Array, voff: number, end: number): number {
    let h = 0;
    for (let j = 0; j < end; j++) h = mix(h, v[voff + j]!);
    return fin(h);
  }

  private stageAdd(s: number, fh: number, delta: number): void {
    const cap = this.cap, m = cap - 1, off = s * cap * 2, st = this.st;
    let free = -1;
    for (let p = fh & m; ; p = (p + 1) & m) {
      const c = st[off + 2 * p + 1]!;
      if (c > 0 && st[off + 2 * p] === fh) {
        st[off + 2 * p + 1] = c + delta > 0 ? c + delta : -1;
        return;
      }
      if (c === -1 && free < 0) free = p;
      if (c === 0) { if (free < 0) free = p; break; }
    }
    if (delta < 0) throw new Error('classifier: stage count underflow');
    st[off + 2 * free] = fh;
    st[off + 2 * free + 1] = delta;
  }

  head(slot: number): number { return this.tabI[slot * this.stride]!; }
  setHead(slot: number, rule: number): void { this.tabI[slot * this.stride] = rule; }

  /** Slot holding masked value 'v' (compact words), or -1. */
  slotOf(v: Uint32Array, fh: number): number {
    const m = this.cap - 1, n = this.n, stride = this.stride;
    for (let slot = fh & m; ; slot = (slot + 1) & m) {
      const o = slot * stride;
      const head = this.tabI[o]!;
      if (head === EMPTY) return -1;
      if (head !== TOMB && this.tabI[o + 1] === fh) {
        let same = true;
        for (let j = 0; j < n; j++) if (this.tabU[o + 2 + j] !== v[j]) { same = false; break; }
        if (same) return slot;
      }
    }
  }

  /** Put a new chain head 'rule' with value 'v' and hash 'fh' (value not present). */
  addSlot(v: Uint32Array, fh: number, rule: number): void {
    // load (live + tombstones) at most 3/4; rebuild to a load of 1/4..1/2
    if ((this.live + this.tombs + 1) * 4 > this.cap * 3) this.rebuild(pow2AtLeast((this.live + 1) * 2));
    this.place(v, 0, fh, rule);
    for (let s = 0; s < this.nStages - 1; s++) this.stageAdd(s, this.prefixHash(v, 0, this.stageEnd[s]!), 1);
  }

  private place(v: Uint32Array, voff: number, fh: number, rule: number): void {
    const m = this.cap - 1, n = this.n, stride = this.stride;
    let slot = fh & m;
    while (this.tabI[slot * stride]! >= 0) slot = (slot + 1) & m;
    const o = slot * stride;
    if (this.tabI[o] === TOMB) this.tombs--;
    this.tabI[o] = rule;
    this.tabI[o + 1] = fh;
    for (let j = 0; j < n; j++) this.tabU[o + 2 + j] = v[voff + j]!;
    this.live++;
  }

  removeSlot(slot: number): void {
    const o = slot * this.stride;
    for (let s = 0; s < this.nStages - 1; s++) this.stageAdd(s, this.prefixHash(this.tabU, o + 2, this.stageEnd[s]!), -1);
    this.tabI[o] = TOMB;
    this.live--;
    this.tombs++;
  }

  /** Head rule ids of every chain (slow path). */
  heads(out: number[]): number[] {
    for (let slot = 0; slot < this.cap; slot++) { const h = this.head(slot); if (h >= 0) out.push(h); }
    return out;
  }

  private rebuild(cap: number): void {
    const oldI = this.tabI, oldU = this.tabU, oldCap = this.cap, stride = this.stride;
    const ns = Math.max(this.nStages - 1, 0);
    this.cap = cap;
    this.tabI = new Int32Array(cap * stride);
    this.tabU = new Uint32Array(this.tabI.buffer);
    for (let o = 0; o < cap; o++) this.tabI[o * stride] = EMPTY;
    this.st = new Int32Array(ns * cap * 2);
    this.live = 0;
    this.tombs = 0;
    for (let s = 0; s < oldCap; s++) {
      const o = s * stride;
      const head = oldI[o]!;
      if (head < 0) continue;
      this.place(oldU, o + 2, oldI[o + 1]!, head);
      for (let t = 0; t < ns; t++) this.stageAdd(t, this.prefixHash(oldU, o + 2, this.stageEnd[t]!), 1);
    }
  }
}

/**
 * A classifier of rules with payloads of type 'T'. See the file comment.
 */
export class Classifier<T = unknown> {
  private subs: Subtable[] = [];
  private readonly byMask = new Map<string, Subtable>();
  private subSeq = 0;
  // rules, struct-of-arrays indexed by rule id
  private prio = new Int32Array(64);
  private next = new Int32Array(64);
  private ruleSub: (Subtable | null)[] = [];
  private ruleMatch: (Match | null)[] = [];
  private payloads: (T | undefined)[] = [];
  private freeIds: number[] = [];
  private nextId = 0;
  private count = 0;
  private readonly scratch = new Uint32Array(FLOW_WORDS);

  /** Number of rules. */
  get size(): number { return this.count; }
  /** Number of subtables (distinct masks). */
  get subtableCount(): number { return this.subs.length; }

  /**
   * Add a rule matching 'match' (copied) at 'priority' (int32) with
   * 'payload'. Returns the rule's id. A rule identical to an existing one is
   * kept after it (see "Ties").
   */
  insert(match: Match, priority: number, payload: T): number {
    const m = match.clone();
    for (let w = 0; w < FLOW_WORDS; w++) m.value[w] = (m.value[w]! & m.mask[w]!) >>> 0;
    let key = '';
    for (let w = 0; w < FLOW_WORDS; w++) if (m.mask[w] !== 0) key += `${w}:${m.mask[w]},`;
    let st = this.byMask.get(key);
    if (st === undefined) {
      st = new Subtable(m.mask, this.subSeq++, key);
      this.byMask.set(key, st);
      this.subs.push(st);
    }
    const id = this.allocId();
    this.prio[id] = priority | 0;
    this.next[id] = -1;
    this.ruleSub[id] = st;
    this.ruleMatch[id] = m;
    this.payloads[id] = payload;
    const v = this.compact(st, m);
    const fh = st.prefixHash(v, 0, st.n);
    const slot = st.slotOf(v, fh);
    if (slot < 0) {
      st.addSlot(v, fh, id);
    } else {
      // insert into the chain: after every rule of >= priority (they are older)
      const head = st.head(slot);
      if (this.prio[head]! < priority) {
        this.next[id] = head;
        st.setHead(slot, id);
      } else {
        let p = head;
        while (this.next[p]! >= 0 && this.prio[this.next[p]!]! >= priority) p = this.next[p]!;
        this.next[id] = this.next[p]!;
        this.next[p] = id;
      }
    }
    st.nRules++;
    this.count++;
    if (priority > st.maxPrio) { st.maxPrio = priority | 0; this.sortSubtables(); }
    return id;
  }

  /** Remove rule 'id'. Returns false when no such rule exists. */
  remove(id: number): boolean {
    const st = this.ruleSub[id];
    const m = this.ruleMatch[id];
    if (st === undefined || st === null || m === undefined || m === null) return false;
    const v = this.compact(st, m);
    const slot = st.slotOf(v, st.prefixHash(v, 0, st.n));
    if (slot < 0) throw new Error('classifier: rule not in its subtable');
    const head = st.head(slot);
    if (head === id) {
      const nx = this.next[id]!;
      if (nx >= 0) st.setHead(slot, nx); else st.removeSlot(slot);
    } else {
      let p = head;
      while (this.next[p] !== id) p = this.next[p]!;
      this.next[p] = this.next[id]!;
    }
    st.nRules--;
    this.count--;
    this.ruleSub[id] = null;
    this.ruleMatch[id] = null;
    this.payloads[id] = undefined;
    this.freeIds.push(id);
    if (st.nRules === 0) {
      this.byMask.delete(st.maskKey);
      this.subs.splice(this.subs.indexOf(st), 1);
    } else if (this.prio[id] === st.maxPrio) {
      let max = -0x80000000;
      for (const h of st.heads([])) if (this.prio[h]! > max) max = this.prio[h]!;
      if (max !== st.maxPrio) { st.maxPrio = max; this.sortSubtables(); }
    }
    return true;
  }

  /**
   * The id of the highest-priority rule matching the key at 'key'[base…]
   * (FLOW_WORDS words), or -1. When 'wc' (FLOW_WORDS words) is given, ORs
   * into it the bits the answer depended on (staged; see the file comment).
   * Allocates nothing.
   */
  lookup(key: Uint32Array, base: number, wc: Uint32Array | null): number {
    const subs = this.subs, prio = this.prio;
    let best = -1, bestPrio = 0;
    for (let s = 0; s < subs.length; s++) {
      const st = subs[s]!;
      if (best >= 0 && st.maxPrio <= bestPrio) break;
      const r = st.find(key, base, wc);
      if (r >= 0 && (best < 0 || prio[r]! > bestPrio)) { best = r; bestPrio = prio[r]!; }
    }
    return best;
  }

  /** Rule 'id''s priority. */
  priorityOf(id: number): number { return this.prio[id]!; }
  /** Rule 'id''s payload. */
  payloadOf(id: number): T { return this.payloads[id] as T; }
  /** Rule 'id''s match (the classifier's copy; do not modify). */
  matchOf(id: number): Match | null { return this.ruleMatch[id] ?? null; }

  private compact(st: Subtable, m: Match): Uint32Array {
    const v = this.scratch;
    for (let j = 0; j < st.n; j++) v[j] = m.value[st.idx[j]!]! & st.mask[j]!;
    return v;
  }

  private allocId(): number {
    const f = this.freeIds.pop();
    if (f !== undefined) return f;
    const id = this.nextId++;
    if (id >= this.prio.length) {
      const grow = <A extends Int32Array>(a: A, mk: (n: number) => A): A => { const b = mk(a.length * 2); b.set(a); return b; };
      this.prio = grow(this.prio, (n) => new Int32Array(n));
      this.next = grow(this.next, (n) => new Int32Array(n));
    }
    return id;
  }

  private sortSubtables(): void {
    this.subs.sort((a, b) => (b.maxPrio - a.maxPrio) || (a.created - b.created));
  }
}
