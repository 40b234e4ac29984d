/**
 * The datapath's flow caches (datapath layer, fast path) — sdnemu's
 * dpif-netdev EMC and dpcls.
 *
 * What:
 *  - `DpFlow`: one cached megaflow: the masked key, its mask, the compiled
 *    actions and their text, statistics, and what revalidation needs (the
 *    full key of the packet whose upcall made it, the OpenFlow rules it
 *    credits).
 *  - `MegaflowCache` (dpcls): one `Subtable` per distinct mask; a subtable is
 *    an open-addressing hash table over the key words its mask selects.
 *    A lookup probes subtables in rank order and stops at the first hit;
 *    `rank()` re-sorts them by hits since the last ranking (OVS re-sorts
 *    every second, dpcls_sort_subtable_vector). Megaflows from one pipeline
 *    never give two different answers for one key unless the pipeline
 *    changed, and revalidation removes those (datapath.ts).
 *  - `Emc`: the exact-match cache: 8192 entries (OVS's EM_FLOW_HASH_ENTRIES),
 *    two probes per key from the packet's RSS hash (shifted by 13 for the
 *    second, as EM_FLOW_HASH_SHIFT), full-key compare, pointing at DpFlows;
 *    an entry whose flow died is a miss.
 *
 * Invariants: a subtable's `idx` lists exactly the words whose mask is
 * non-zero, in increasing order; a slot holds [occupied, hash, key & mask
 * in idx order] inline in one Int32Array (a lookup reads one cache line,
 * not a flow object and its key), its flow at the same index of `flows`;
 * deletion shifts the following run back (no tombstones), so a probe ends
 * at the first empty slot.
 * Cost: a subtable probe hashes and compares only its mask's words; an EMC
 * hit compares 44 of the FLOW_WORDS words (registers and OpenFlow metadata
 * are always 0 in a datapath key). Nothing here allocates per packet; growth
 * and insertion (upcall path) do.
 * Neighbours: datapath.ts drives both; hash.ts gives the packet hash.
 */
import type { GroupChoice } from '../ofproto/xlate.js';
import { F_IN_PORT, F_METADATA_LO, F_PACKET_TYPE, F_RECIRC_ID, FLOW_WORDS } from '../flow/key.js';
import { hashFinishI32, mhashAddI32 } from '../flow/hash.js';
import type { Rule } from '../ofproto/bridge.js';
import type { DpProgram } from './odp-actions.js';
import type { FlowSpec } from '../ofproto/actions.js';

export class DpFlow {
  /** key & mask, FLOW_WORDS words */
  readonly key: Uint32Array;
  readonly mask: Uint32Array;
  subtable: Subtable | null = null;
  actions: DpProgram;
  actionsText: string;
  /** the full key of the upcall that made this flow (revalidation re-translates it) */
  readonly upcallKey: Uint32Array;
  rules: Rule[];
  learned: FlowSpec[];
  packets = 0;
  bytes = 0;
  /** ms of the last hit; -1 = never */
  used = -1;
  tcpFlags = 0;
  readonly created: number;
  /** packets/bytes already credited to the OpenFlow rules */
  pushedPackets = 0;
  pushedBytes = 0;
  dead = false;
  readonly id: number;
  /** outer TOS and TTL of the upcalled packet when it was decapsulated (printed by dump-flows; not in the key) */
  tunTos = 0;
  tunTtl = 0;
  tunGeneve = false;
  /** the select group's choice the translation made (the trace's load-balancing decision), or null */
  balance: GroupChoice | null = null;
  /** the flow's packets go to userspace (`userspace(pid=0,slow_path(action))`); 'actions' still say what is done */
  slow = false;

  constructor(id: number, key: Uint32Array, mask: Uint32Array, upcallKey: Uint32Array, actions: DpProgram, actionsText: string,
    rules: Rule[], learned: FlowSpec[], now: number) {
    this.id = id;
    this.key = key;
    this.mask = mask;
    this.upcallKey = upcallKey;
    this.actions = actions;
    this.actionsText = actionsText;
    this.rules = rules;
    this.learned = learned;
    this.created = now;
  }
}

export class Subtable {
  readonly mask: Uint32Array;
  /** indices of the mask's non-zero words */
  readonly idx: Int32Array;
  /** words per slot: [occupied, hash, the masked key words in idx order] */
  private readonly stride: number;
  private cap = 16;
  /** the open-addressing table, one 'stride'-word slot after another (one cache line for a lookup) */
  private slots: Int32Array;
  private flows: (DpFlow | null)[] = new Array<DpFlow | null>(16).fill(null);
  count = 0;
  /** hits since the last ranking, and in total */
  hits = 0;
  totalHits = 0;

  constructor(mask: Uint32Array) {
    this.mask = mask;
    const idx: number[] = [];
    for (let w = 0; w < FLOW_WORDS; w++) if (mask[w] !== 0) idx.push(w);
    this.idx = Int32Array.from(idx);
    this.stride = idx.length + 2;
    this.slots = new Int32Array(this.cap * this.stride);
  }

  /** Hash of 'key' at 'base' under this subtable's mask. */
  hashKey(key: Uint32Array, base: number): number {
    const idx = this.idx, m = this.mask;
    let h = 0;
    for (let i = 0; i < idx.length; i++) {
      const w = idx[i]!;
      h = mhashAddI32(h, key[base + w]! & m[w]!);
    }
    return hashFinishI32(h, idx.length);
  }

  /** The flow whose masked key equals 'key' at 'base' under this mask, or null. */
  lookup(key: Uint32Array, base: number): DpFlow | null {
    if (this.count === 0) return null;
    const h = this.hashKey(key, base);
    const mask = this.cap - 1, idx = this.idx, m = this.mask, sl = this.slots, st = this.stride, n = idx.length;
    for (let i = h & mask; ; i = (i + 1) & mask) {
      const o = i * st;
      if (sl[o] === 0) return null;
      if (sl[o + 1] !== h) continue;
      let j = 0;
      for (; j < n; j++) {
        const w = idx[j]!;
        if ((key[base + w]! & m[w]!) !== sl[o + 2 + j]) break;
      }
      if (j === n) return this.flows[i]!;
    }
  }

  insert(f: DpFlow): void {
    if ((this.count + 1) * 2 > this.cap) this.grow();
    this.place(f, this.hashKey(f.key, 0));
    this.count++;
    f.subtable = this;
  }

  private place(f: DpFlow, h: number): void {
    const mask = this.cap - 1, sl = this.slots, st = this.stride, idx = this.idx;
    let i = h & mask;
    while (sl[i * st] !== 0) i = (i + 1) & mask;
    const o = i * st;
    sl[o] = 1;
    sl[o + 1] = h;
    for (let j = 0; j < idx.length; j++) sl[o + 2 + j] = f.key[idx[j]!]!;
    this.flows[i] = f;
  }

  private grow(): void {
    const old = this.flows, oldSlots = this.slots, st = this.stride;
    this.cap *= 2;
    this.flows = new Array<DpFlow | null>(this.cap).fill(null);
    this.slots = new Int32Array(this.cap * st);
    for (let i = 0; i < old.length; i++) {
      const f = old[i];
      if (f !== null && f !== undefined) this.place(f, oldSlots[i * st + 1]!);
    }
  }

  /** Remove 'f' (linear probing deletion: shift the rest of the run back). */
  remove(f: DpFlow): boolean {
    const mask = this.cap - 1, sl = this.slots, st = this.stride;
    let i = this.hashKey(f.key, 0) & mask;
    while (this.flows[i] !== f) {
      if (sl[i * st] === 0) return false;
      i = (i + 1) & mask;
    }
    this.flows[i] = null;
    sl[i * st] = 0;
    this.count--;
    f.subtable = null;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      if (sl[j * st] === 0) break;
      const home = sl[j * st + 1]! & mask;
      // move slot j back to the hole unless its home lies cyclically in (i, j]
      const inRange = i <= j ? home > i && home <= j : home > i || home <= j;
      if (!inRange) {
        sl.copyWithin(i * st, j * st, (j + 1) * st);
        this.flows[i] = this.flows[j]!;
        sl[j * st] = 0;
        this.flows[j] = null;
        i = j;
      }
    }
    return true;
  }

  *entries(): Generator<DpFlow> {
    for (const f of this.flows) if (f !== null) yield f;
  }
}

export class MegaflowCache {
  /** in rank order */
  subtables: Subtable[] = [];
  private readonly byMask = new Map<string, Subtable>();
  size = 0;
  /** subtables probed by the last lookup */
  probes = 0;

  lookup(key: Uint32Array, base: number): DpFlow | null {
    const st = this.subtables;
    for (let i = 0; i < st.length; i++) {
      const s = st[i]!;
      const f = s.lookup(key, base);
      if (f !== null) {
        s.hits++;
        s.totalHits++;
        this.probes = i + 1;
        return f;
      }
    }
    this.probes = st.length;
    return null;
  }

  insert(f: DpFlow): void {
    const id = f.mask.join(',');
    let s = this.byMask.get(id);
    if (s === undefined) {
      s = new Subtable(f.mask);
      this.byMask.set(id, s);
      this.subtables.push(s);
    }
    s.insert(f);
    this.size++;
  }

  remove(f: DpFlow): void {
    const s = f.subtable;
    if (s === null || !s.remove(f)) return;
    this.size--;
    if (s.count === 0) {
      this.byMask.delete(s.mask.join(','));
      this.subtables = this.subtables.filter((x) => x !== s);
    }
  }

  /** Re-sort the subtables by hits since the last ranking, most first (stable). */
  rank(): void {
    this.subtables = this.subtables.map((s, i) => ({ s, i })).sort((a, b) => b.s.hits - a.s.hits || a.i - b.i).map((x) => x.s);
    for (const s of this.subtables) s.hits = 0;
  }

  *flows(): Generator<DpFlow> {
    for (const s of this.subtables) yield* s.entries();
  }

  get masks(): number { return this.subtables.length; }
}

// module-local copies of key.ts indices for the per-packet compare (V8 folds a module's own
// consts; an imported binding is loaded on every use — see key.ts)
const W = FLOW_WORDS, META_END = F_METADATA_LO, IN_PORT = F_IN_PORT, RECIRC_ID = F_RECIRC_ID, PACKET_TYPE = F_PACKET_TYPE;

export const EMC_ENTRIES = 8192;
const EMC_SHIFT = 13;

export class Emc {
  readonly n: number;
  // allocated on the first insert (~2 MB for 8192 entries): a bridge that never caches costs nothing
  private hashes = new Int32Array(0);
  private keys = new Uint32Array(0);
  private flows: (DpFlow | null)[] = [];

  constructor(n = EMC_ENTRIES) {
    this.n = n;
  }

  /**
   * The key at 'base' equals the one in 'slot'. Registers and OpenFlow
   * metadata (F_REG0 … F_METADATA_LO) are skipped: a datapath key has them 0
   * (they exist only inside translation).
   */
  private same(slot: number, key: Uint32Array, base: number): boolean {
    const k = this.keys, o = slot * W;
    // OR of XORs without a branch per word (a hit must read every word anyway); the stored
    // hash already matched, so a miss here is rare
    let d = (k[o + IN_PORT]! ^ key[base + IN_PORT]!) | (k[o + RECIRC_ID]! ^ key[base + RECIRC_ID]!)
      | (k[o + PACKET_TYPE]! ^ key[base + PACKET_TYPE]!);
    for (let w = META_END + 1; w < W; w++) d |= k[o + w]! ^ key[base + w]!;
    return d === 0;
  }

  lookup(key: Uint32Array, base: number, h: number): DpFlow | null {
    if (this.flows.length === 0) return null;
    const m = this.n - 1;
    let s = h & m;
    let f = this.flows[s]!;
    if (f !== null && this.hashes[s] === h && !f.dead && this.same(s, key, base)) return f;
    s = (h >>> EMC_SHIFT) & m;
    f = this.flows[s]!;
    if (f !== null && this.hashes[s] === h && !f.dead && this.same(s, key, base)) return f;
    return null;
  }

  /**
   * emc_insert: into the probe slot that holds this key or a dead flow, else
   * an empty one, else replace the slot whose stored hash is lower (OVS's
   * tie-break, which spreads replacements without an age field).
   */
  insert(key: Uint32Array, base: number, h: number, f: DpFlow): void {
    if (this.flows.length === 0) {
      this.hashes = new Int32Array(this.n);
      this.keys = new Uint32Array(this.n * W);
      this.flows = new Array<DpFlow | null>(this.n).fill(null);
    }
    const m = this.n - 1;
    const s1 = h & m, s2 = (h >>> EMC_SHIFT) & m;
    let to = -1;
    if (this.flows[s1] !== null && this.hashes[s1] === h && this.same(s1, key, base)) to = s1;
    else if (this.flows[s2] !== null && this.hashes[s2] === h && this.same(s2, key, base)) to = s2;
    else {
      const g1 = this.flows[s1], g2 = this.flows[s2];
      if (g1 === null || g1 === undefined || g1.dead) to = s1;
      else if (g2 === null || g2 === undefined || g2.dead) to = s2;
      else to = this.hashes[s1]! < this.hashes[s2]! ? s1 : s2;
    }
    this.hashes[to] = h;
    const k = this.keys, o = to * W;
    for (let w = 0; w < W; w++) k[o + w] = key[base + w]!;
    this.flows[to] = f;
  }

  clear(): void { this.flows.fill(null); }

  /** Entries pointing at a live flow. */
  get used(): number {
    let n = 0;
    for (const f of this.flows) if (f !== null && !f.dead) n++;
    return n;
  }
}
