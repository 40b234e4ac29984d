/**
 * One iptables table compiled for the walk (netfilter layer, fast path data).
 *
 * What: `CompiledTable.of(table)` flattens a table's chains into typed
 * arrays that eval.ts walks without touching the rule objects:
 *  - every rule is a slot; a chain's rules are consecutive slots, chains
 *    laid out in the order a walk reaches them (depth first from the
 *    built-in chains: a KUBE-SVC chain's rules sit right before its
 *    KUBE-SEP chains'), so one packet's rules share cache lines;
 *  - per chain, CHAIN_WORDS words: first slot, end slot, index, policy;
 *  - per slot, 8 int32 words (32 bytes) with what every walk reads: the
 *    generic part (-s/-d under their masks, -p, each with `!`), -m tcp/udp's
 *    protocol and destination ports, the target's code and argument (the
 *    jump's chain, MARK's value); and 8 more, read only when the flags ask:
 *    source ports, TCP flags, -m mark, -m statistic --mode random's
 *    threshold, MARK's mask (-m comment costs nothing);
 *  - a rule with anything else (-i/-o, -f, addrtype, conntrack, set, nth,
 *    multiport, …, or two matches of one kind, or a statistic that is not its
 *    last match) carries a SLOW flag: the walk then checks that part through
 *    the rule object, in the rule's own match order, so side effects (an nth
 *    counter, a random draw) happen exactly when the kernel's would;
 *  - a chain of INDEX_MIN_RULES rules or more gets an index: rules with an
 *    exact destination (`-d a.b.c.d/32`, not negated — KUBE-SERVICES' one
 *    rule per service port) listed by that address in an open-addressing
 *    table, every other rule in a "wild" list, both in rule order.
 *    `next(c, i, dst)` is the first rule at or after i that can match a
 *    packet to 'dst'; the rules it skips have another exact destination, so
 *    the kernel checks them and they fail on their first test — nothing in
 *    them runs; the walk counts them as checked.
 * Why: a packet through 10k services' worth of kube-proxy rules touches
 * about ten rules; as objects each is half a dozen scattered cache lines,
 * here they are a few adjacent lines — the walk's cost stays nearly flat as
 * the table grows.
 * Invariants: built from the table's state at compile time; the evaluator
 * recompiles when the table object is replaced (parseRestore does that) and
 * on `Evaluator.invalidate()` after an in-place change. Rule counters are
 * kept here (packets and bytes side by side) and added to the rule objects
 * by `flush`.
 * Cost: compile is linear in rules; a lookup is one hash probe and two
 * binary searches over small lists; no allocation after compile.
 * Neighbours: model.ts (what is compiled), eval.ts (the walk), flow/hash.ts
 * (the index hash).
 */
import { hashFinishI32, mhashAddI32 } from '../flow/hash.js';
import { sharedChains, type Chain, type Counters, type Match, type Rule, type Table } from './model.js';

/** int32 words per rule slot: the hot row (w) and the extra row (x) */
export const WORDS = 8;
// w
export const W_FLAGS = 0, W_SRC = 1, W_SRC_MASK = 2, W_DST = 3, W_DST_MASK = 4,
  /** protocol | tcp/udp match's protocol << 8 | target code << 16 */
  W_PROTO = 5, W_DPORT = 6, W_ARG = 7;
// x
export const X_SPORT = 0, X_TCPFLAGS = 1, X_MARK = 2, X_MARK_MASK = 3, X_STAT = 4, X_ARG2 = 5;
/** per chain: first slot, end slot, policy (0 none, 1 ACCEPT, 2 DROP) */
export const CHAIN_WORDS = 4;
export const C_START = 0, C_END = 1, C_POLICY = 2;

// flag bits of W_FLAGS
export const F_SRC = 1, F_SRC_INV = 2, F_DST = 4, F_DST_INV = 8, F_PROTO = 16, F_PROTO_INV = 32,
  /** -i/-o/-f: checked through the rule object */
  F_SLOW_GENERIC = 64,
  /** extension matches checked through the rule object, in order */
  F_SLOW_EXT = 128,
  F_L4 = 256, F_SPORT = 512, F_SPORT_INV = 1024, F_DPORT = 2048, F_DPORT_INV = 4096, F_TCPFLAGS = 8192, F_TCPFLAGS_INV = 16384,
  F_MARK = 1 << 15, F_MARK_INV = 1 << 16, F_STAT = 1 << 17, F_STAT_INV = 1 << 18,
  /** any of the tests that read the x row */
  F_X_MATCH = F_SPORT | F_TCPFLAGS | F_MARK | F_STAT;

// target codes (W_PROTO >> 16)
export const T_NONE = 0, T_ACCEPT = 1, T_DROP = 2, T_REJECT = 3, T_NAT = 4, T_RETURN = 5, T_JUMP = 6, T_GOTO = 7, T_MARK = 8,
  T_LOG = 9, T_TRACE = 10, T_CONNMARK = 11;
/** W_ARG of a jump/goto whose chain does not exist */
export const NO_CHAIN = -1;

/** Chains shorter than this are walked rule by rule (an index would not pay). */
export const INDEX_MIN_RULES = 16;

/** the index's hash of an IPv4 address (int32; OVS's mhash of one word) */
const addrHash = (a: number): number => hashFinishI32(mhashAddI32(0, a), 4);

const portPack = (min: number, max: number): number => (min | (max << 16)) >>> 0 | 0;

export class CompiledTable {
  /** the table object this was compiled from (replaced by parseRestore) */
  readonly table: Table;
  /** chains by id (walk order) */
  readonly chains: Chain[];
  readonly chainId = new Map<string, number>();
  /** per chain, CHAIN_WORDS words */
  readonly cw: Int32Array;
  /** per chain: its index (see ChainIndex) or null */
  readonly index: (ChainIndex | null)[];
  /** per slot: the rule object (slow matches, targets, reports) */
  readonly rules: Rule[];
  /** per slot: the chain it belongs to */
  readonly chainOf: Int32Array;
  /** per chain: 1 when other rulesets hold it too (model.ts sharedChains: its counters are the evaluator's) */
  private readonly shared: Uint8Array;
  readonly w: Int32Array;
  readonly x: Int32Array;
  /** per slot: packets, bytes since the last flush */
  private readonly counts: Float64Array;
  private readonly dirty: Int32Array;
  private nDirty = 0;

  private constructor(table: Table) {
    this.table = table;
    this.chains = walkOrder(table);
    let n = 0;
    this.chains.forEach((c, i) => { this.chainId.set(c.name, i); n += c.rules.length; });
    const nc = this.chains.length;
    this.cw = new Int32Array(nc * CHAIN_WORDS);
    this.index = new Array<ChainIndex | null>(nc).fill(null);
    this.rules = new Array<Rule>(n);
    this.chainOf = new Int32Array(n);
    this.shared = new Uint8Array(nc);
    this.w = new Int32Array(n * WORDS);
    this.x = new Int32Array(n * WORDS);
    this.counts = new Float64Array(n * 2);
    this.dirty = new Int32Array(n);
    let s = 0;
    this.chains.forEach((c, ci) => {
      this.cw[ci * CHAIN_WORDS + C_START] = s;
      if (sharedChains.has(c)) this.shared[ci] = 1;
      for (const r of c.rules) {
        this.rules[s] = r;
        this.chainOf[s] = ci;
        this.encode(s, r);
        s++;
      }
      this.cw[ci * CHAIN_WORDS + C_END] = s;
      this.cw[ci * CHAIN_WORDS + C_POLICY] = c.policy === null ? 0 : c.policy === 'ACCEPT' ? 1 : 2;
      if (c.rules.length >= INDEX_MIN_RULES) this.index[ci] = new ChainIndex(c.rules);
    });
  }

  static of(table: Table): CompiledTable { return new CompiledTable(table); }

  /** Count one packet of 'len' bytes on 'slot'. */
  count(slot: number, len: number): void {
    const k = slot * 2;
    if (this.counts[k] === 0) this.dirty[this.nDirty++] = slot;
    this.counts[k]! += 1;
    this.counts[k + 1]! += len;
  }

  /**
   * Add the counts since the last flush to the rule objects — for a rule of a shared chain, to
   * its entry in 'own' (the evaluator's: the rule object is other nodes' too), which starts
   * from the counters the rule was restored with.
   */
  flush(own: WeakMap<Rule, Counters>): void {
    for (let i = 0; i < this.nDirty; i++) {
      const s = this.dirty[i]!;
      const r = this.rules[s]!;
      let c = r.counters;
      if (this.shared[this.chainOf[s]!] === 1) {
        const o = own.get(r);
        if (o === undefined) own.set(r, c = { ...r.counters }); else c = o;
      }
      c.packets += this.counts[s * 2]!;
      c.bytes += this.counts[s * 2 + 1]!;
      this.counts[s * 2] = 0;
      this.counts[s * 2 + 1] = 0;
    }
    this.nDirty = 0;
  }

  /** The first rule position at or after 'i' in chain 'c' that can match a packet to 'dst'. */
  next(c: number, i: number, dst: number): number {
    const ix = this.index[c];
    return ix === null || ix === undefined ? i : ix.next(i, dst);
  }

  private encode(s: number, r: Rule): void {
    const w = this.w, x = this.x, o = s * WORDS;
    let f = 0, proto = 0;
    if (r.src !== null) { f |= F_SRC | (r.src.invert ? F_SRC_INV : 0); w[o + W_SRC] = r.src.addr & r.src.mask; w[o + W_SRC_MASK] = r.src.mask; }
    if (r.dst !== null) { f |= F_DST | (r.dst.invert ? F_DST_INV : 0); w[o + W_DST] = r.dst.addr & r.dst.mask; w[o + W_DST_MASK] = r.dst.mask; }
    if (r.proto !== null && r.proto.num !== 0) { f |= F_PROTO | (r.proto.invert ? F_PROTO_INV : 0); proto = r.proto.num; }
    if (r.in !== null || r.out !== null || r.fragment !== null) f |= F_SLOW_GENERIC;
    const m = this.encodeMatches(o, r.matches);
    f |= m.flags;
    w[o + W_FLAGS] = f;
    const t = r.target;
    let code = T_NONE;
    if (t !== null) {
      switch (t.kind) {
        case 'ACCEPT': code = T_ACCEPT; break;
        case 'DROP': code = T_DROP; break;
        case 'REJECT': code = T_REJECT; break;
        case 'DNAT': case 'SNAT': case 'MASQUERADE': case 'REDIRECT': code = T_NAT; break;
        case 'RETURN': code = T_RETURN; break;
        case 'jump': case 'goto': code = t.kind === 'jump' ? T_JUMP : T_GOTO; w[o + W_ARG] = this.chainId.get(t.chain) ?? NO_CHAIN; break;
        case 'MARK': code = T_MARK; w[o + W_ARG] = t.value; x[o + X_ARG2] = t.mask; break;
        case 'LOG': code = T_LOG; break;
        case 'TRACE': code = T_TRACE; break;
        case 'CONNMARK': code = T_CONNMARK; break;
      }
    }
    w[o + W_PROTO] = proto | (m.l4 << 8) | (code << 16);
  }

  /** The inline form of 'ms' (flags, the tcp/udp match's protocol), or F_SLOW_EXT when any of it must be checked through the objects. */
  private encodeMatches(o: number, ms: Match[]): { flags: number; l4: number } {
    const w = this.w, x = this.x;
    const slow = { flags: F_SLOW_EXT, l4: 0 };
    let f = 0, l4 = 0;
    for (let i = 0; i < ms.length; i++) {
      const m = ms[i]!;
      switch (m.kind) {
        case 'comment': break;
        case 'tcp': case 'udp':
          if (f & F_L4) return slow;
          f |= F_L4;
          l4 = m.kind === 'tcp' ? 6 : 17;
          if (m.sport !== null) { f |= F_SPORT | (m.sportInvert ? F_SPORT_INV : 0); x[o + X_SPORT] = portPack(m.sport.min, m.sport.max); }
          if (m.dport !== null) { f |= F_DPORT | (m.dportInvert ? F_DPORT_INV : 0); w[o + W_DPORT] = portPack(m.dport.min, m.dport.max); }
          if (m.tcpFlags !== null) { f |= F_TCPFLAGS | (m.tcpFlags.invert ? F_TCPFLAGS_INV : 0); x[o + X_TCPFLAGS] = m.tcpFlags.mask | (m.tcpFlags.comp << 8); }
          break;
        case 'mark':
          if (f & F_MARK) return slow;
          f |= F_MARK | (m.invert ? F_MARK_INV : 0);
          x[o + X_MARK] = m.value; x[o + X_MARK_MASK] = m.mask;
          break;
        case 'statistic': {
          // a random draw happens only if every match before it passed: inline only as the last match
          if (m.mode !== 'random' || ms.slice(i + 1).some((y) => y.kind !== 'comment')) return slow;
          f |= F_STAT | (m.invert ? F_STAT_INV : 0);
          // xt_statistic's threshold, lround(probability * 2^31), compared with a 31-bit draw:
          // stored minus one (fits an int32 for probability 1), the walk tests draw <= it
          x[o + X_STAT] = Math.round(m.probability * 0x80000000) - 1;
          break;
        }
        default: return slow;
      }
    }
    return { flags: f, l4 };
  }
}

/** The chains of 'table' in the order walks reach them: depth first from the built-in chains, then the unreferenced ones. */
function walkOrder(table: Table): Chain[] {
  const seen = new Set<Chain>();
  const out: Chain[] = [];
  const visit = (root: Chain): void => {
    const todo = [root];
    while (todo.length > 0) {
      const c = todo.pop()!;
      if (seen.has(c)) continue;
      seen.add(c);
      out.push(c);
      // push in reverse so the first jump's chain comes next
      for (let i = c.rules.length - 1; i >= 0; i--) {
        const t = c.rules[i]!.target;
        if (t === null || (t.kind !== 'jump' && t.kind !== 'goto')) continue;
        const to = table.chains.get(t.chain);
        if (to !== undefined && !seen.has(to)) todo.push(to);
      }
    }
  };
  for (const c of table.chains.values()) if (c.policy !== null) visit(c);
  for (const c of table.chains.values()) visit(c);
  return out;
}

/**
 * A long chain's index: rule positions by exact destination and the
 * positions of every other rule ('wild'), all sorted. The table is open
 * addressing over the address, a bucket of 4 words: the address, the
 * number of its rules, and the rule position itself when it has one rule
 * (the usual case: one probe, one cache line), else where its positions
 * start in 'lists'.
 */
class ChainIndex {
  private readonly length: number;
  private readonly mask: number;
  /** per bucket: address, count (0: empty), position or list start, unused */
  private readonly buckets: Int32Array;
  private readonly lists: Int32Array;
  private readonly wild: Int32Array;

  constructor(rules: Rule[]) {
    this.length = rules.length;
    const by = new Map<number, number[]>();
    const wild: number[] = [];
    rules.forEach((r, i) => {
      if (r.dst !== null && !r.dst.invert && r.dst.mask >>> 0 === 0xffffffff) {
        const a = r.dst.addr >>> 0;
        const l = by.get(a);
        if (l === undefined) by.set(a, [i]); else l.push(i);
      } else {
        wild.push(i);
      }
    });
    let cap = 8;
    while (cap < by.size * 2) cap *= 2;
    this.mask = cap - 1;
    this.buckets = new Int32Array(cap * 4);
    const lists: number[] = [];
    for (const [a, l] of by) {
      let b = addrHash(a | 0) & this.mask;
      while (this.buckets[b * 4 + 1] !== 0) b = (b + 1) & this.mask;
      this.buckets[b * 4] = a;
      this.buckets[b * 4 + 1] = l.length;
      this.buckets[b * 4 + 2] = l.length === 1 ? l[0]! : lists.length;
      if (l.length > 1) lists.push(...l);
    }
    this.lists = Int32Array.from(lists);
    this.wild = Int32Array.from(wild);
  }

  next(i: number, dst: number): number {
    const a = firstAtLeast(this.wild, 0, this.wild.length, i);
    let b = 0x7fffffff;
    const key = dst | 0, bk = this.buckets;
    for (let h = addrHash(key) & this.mask; ; h = (h + 1) & this.mask) {
      const n = bk[h * 4 + 1]!;
      if (n === 0) break;
      if (bk[h * 4] !== key) continue;
      const at = bk[h * 4 + 2]!;
      b = n === 1 ? (at >= i ? at : 0x7fffffff) : firstAtLeast(this.lists, at, at + n, i);
      break;
    }
    const r = a < b ? a : b;
    return r > this.length ? this.length : r;
  }
}

/** The first value ≥ 'i' in the sorted 'list[lo, hi)', or a value past every rule. */
function firstAtLeast(list: Int32Array, lo: number, hi: number, i: number): number {
  const end = hi;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]! < i) lo = mid + 1; else hi = mid;
  }
  return lo < end ? list[lo]! : 0x7fffffff;
}
