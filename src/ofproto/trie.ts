/**
 * Prefix tries (ofproto layer, slow path's hot loop) — the "longest-prefix
 * match tree" half of OVS's lib/classifier.c, for 32-bit fields.
 *
 * What: a path-compressed binary trie of (prefix, length) pairs with a count
 * per node ('n_rules'). The classifier keeps one for nw_dst and one for
 * nw_src over all subtables (OVS's `cls->tries`, default prefix fields
 * MFF_IPV4_DST then MFF_IPV4_SRC), and one per subtable over the 32-bit
 * ports word tp_src:tp_dst (`subtable->ports_trie`). `lookup()` is
 * trie_lookup_value(): walking a packet's value down the trie, it returns how
 * many leading bits are enough to tell the value apart from every longer
 * prefix ("maskbits"), and sets in 'plens' one bit per prefix length that has
 * a rule on the walked path (the lengths that may match). The classifier skips
 * a subtable whose prefix length is not in 'plens' and un-wildcards only
 * 'maskbits' bits instead of the subtable's mask (classifier.ts explains when).
 *
 * Why this shape: maskbits depends on the trie's structure (where a walk
 * falls off a node, whether the last node is a leaf), so the structure is
 * OVS's exactly: trie_insert_prefix() splits a node where a new prefix
 * diverges (a 0-bit node at the root when they differ in the first bit),
 * trie_remove_prefix() prunes rule-less leaves and merges a rule-less node
 * into its only child. With 32-bit fields no node is longer than
 * TRIE_PREFIX_BITS = 32, so there are no intermediate nodes. Each distinct
 * (subtable, value) counts once: the classifier inserts a prefix when a masked
 * value first appears in a subtable and removes it with the last such rule.
 * The result is a canonical trie, so test/ofproto/classifier.test.ts checks
 * lookup() against a closed form (maskbits = deepest agreement m with any
 * prefix, +1 when some prefix agreeing to m goes on past m).
 *
 * Bits: values are uint32 in host order, bit offset 0 = the most significant
 * bit (OVS's "MSB 0" offsets over network-order words). A node's 'prefix' is
 * left-aligned: its n_bits bits start at bit 31 whatever the node's depth.
 * 'plens' has bit (len - 1) set for a length len (OVS sets the MSB-0 bit
 * len - 1 of a be32; only the encoding differs).
 *
 * Storage: one Int32Array of 4-word node records [prefix, n_bits | n_rules
 * << 6, edge0, edge1] with a free list, so a walk touches one cache line per
 * level, and allocates nothing.
 *
 * Jump table (sdnemu's, not OVS's; the results are the same): at 50k
 * prefixes a walk is ~17 levels, the deep ones cache misses, and with wc the
 * classifier walks two or three tries per lookup. So a trie of more than 2^8
 * nodes also keeps a table of 2^k entries, k = log2(nodes) - 2 capped at 16,
 * indexed by the k bits after the root node's own bits. Entry i caches the
 * walk as far as those bits decide it: the final (maskbits, plens), or the
 * node to resume at (or whose edge to take) with the plens so far; the walk
 * then goes on from there with the real value. An entry is 8 bytes; entries
 * are filled lazily by lookups, and every insert/remove clears the ones
 * filled since the previous change (a list of them is kept), so nothing stale
 * is read and a run of inserts clears nothing.
 * Measured: 185 → 40 ns a lookup at 50k prefixes (89k nodes), 95 → 25 ns
 * at 1k.
 *
 * Cost: lookup is one table entry plus one clz32 and one compare per node
 * below the table's depth (without a table: per node on the path, ≤ 33).
 * insert/remove are O(depth) plus an occasional array growth (and a new
 * table when k changes).
 * Neighbours: used only by classifier.ts.
 */

const NIL = -1;
/** Bits per value: IPv4 addresses and the tp_src:tp_dst ports word. */
export const TRIE_FIELD_BITS = 32;
// node record layout
const NODE_WORDS = 4, PFX = 0, META = 1, E0 = 2, E1 = 3;
const NBITS_MASK = 0x3f, RULES_SHIFT = 6, RULE_ONE = 1 << RULES_SHIFT;
// jump table entries, 2 words: [kind | len << 2 | x << 8, plens so far]; kind 0 = not
// filled, J_FINAL: the walk ended (x = maskbits), J_NODE: resume at node x at offset len,
// J_EDGE: resume by taking an edge of node x at offset len (node indices < 2^24)
const JUMP_WORDS = 2, J_WORD = 0, J_PLENS = 1;
const J_FINAL = 1, J_NODE = 2, J_EDGE = 3;
/** index bits: log2(nodes) minus this, between the min and max below (0 = no table) */
const JUMP_BITS_BELOW_LOG2 = 2, JUMP_MIN_BITS = 6, JUMP_MAX_BITS = 16;
const EMPTY_JUMP = new Int32Array(0);
/** node records of a new trie: none until the first insert (a bridge has 510 classifiers, most of them empty) */
const FIRST_NODES = 16;
/**
 * scratch for remove(): the nodes on the path and the edge bit leading to each; one pair for
 * every trie (remove does not nest), so an empty trie allocates no typed array
 */
const PATH_NODE = new Int32Array(TRIE_FIELD_BITS + 2);
const PATH_BIT = new Int32Array(TRIE_FIELD_BITS + 2);

/** Bits of 'v' from MSB-0 offset 'ofs' on, left-aligned, keeping 'plen' of them (trie_get_prefix). */
function getPrefix(v: number, ofs: number, plen: number): number {
  if (plen === 0 || ofs >= 32) return 0;
  return ((v << ofs) & (-1 << (32 - plen))) >>> 0;
}

/** The bit of 'v' at MSB-0 offset 'ofs' (0..31). */
function bitAt(v: number, ofs: number): number {
  return (v >>> (31 - ofs)) & 1;
}

/** How many of the 'n' leading bits of 'prefix' (int32 or uint32) equal 'v''s bits from offset 'ofs' (< 32) on (prefix_equal_bits). */
function equalBits(prefix: number, n: number, v: number, ofs: number): number {
  const eq = Math.clz32(prefix ^ (v << ofs));
  return eq < n ? eq : n;
}

/** A mask of the 'n' (0..32) leading bits of a 32-bit word, as uint32 (be32_prefix_mask). */
export function prefixMask(n: number): number {
  return n === 0 ? 0 : (-1 << (32 - n)) >>> 0;
}

/**
 * A prefix trie over 32-bit values. See the file comment.
 */
export class PrefixTrie {
  /**
   * Nodes, NODE_WORDS per node: [prefix bits (left-aligned), n_bits | n_rules << 6,
   * edge 0, edge 1]. One record per node, so a walk touches one cache line per level.
   */
  private nd = EMPTY_JUMP;
  private root = NIL;
  /** free node list, linked through edge 0 */
  private freeList = NIL;
  private used = 0;
  private live = 0;
  /**
   * Set by lookup(): bit (len - 1) is set for every prefix length len with a
   * rule on the path 'value' walked (lengths that may match).
   */
  plens = 0;
  // ---- jump table: entry i caches the walk for the values whose jumpBits bits after the
  // root's jumpFrom bits are i (see JUMP_WORDS); 'filled' lists the entries lookups have
  // filled since the last change, which are all a change has to clear
  private jump = EMPTY_JUMP;
  private jumpBits = 0;
  private jumpFrom = 0;
  private jumpRootPfx = 0;
  private filled = EMPTY_JUMP;
  private nFilled = 0;

  /** Number of nodes (for tests). */
  get nodeCount(): number { return this.live; }
  /** True when no prefix is stored. */
  get isEmpty(): boolean { return this.root === NIL; }

  /**
   * trie_lookup_value(): walk 'value' (uint32) down the trie. Returns the
   * number of leading bits needed to rule out every longer prefix that does
   * not match (including the first mismatching bit), 32 for a full match, 0
   * for an empty trie; sets 'plens'. Allocates nothing (but may fill one jump
   * table entry).
   */
  lookup(value: number): number {
    const k = this.jumpBits;
    if (k === 0) return this.walk(this.root, 0, 0, NIL, value);
    const r = this.jumpFrom;
    if (r !== 0) {
      // the root's own bits come before the jump index
      const eq = equalBits(this.jumpRootPfx, r, value, 0);
      if (eq < r) { this.plens = 0; return eq + 1; }
    }
    const i = (value << r) >>> (32 - k);
    const jt = this.jump, o = i * JUMP_WORDS;
    if (jt[o + J_WORD] === 0) this.fillJump(i, o);
    const word = jt[o + J_WORD]!, plens = jt[o + J_PLENS]!;
    const kind = word & 3, x = word >>> 8;
    if (kind === J_FINAL) { this.plens = plens; return x; }
    const len = (word >>> 2) & 0x3f;
    if (kind === J_NODE) return this.walk(x, len, plens, NIL, value);
    return this.walk(this.nd[x * NODE_WORDS + ((value << len) < 0 ? E1 : E0)]!, len, plens, x, value);
  }

  /**
   * The walk of trie_lookup_value() from 'node' at bit offset 'len' with
   * 'plens' so far; 'prev' is the last fully matched node (NIL at the root).
   */
  private walk(node: number, len: number, plens: number, prev: number, value: number): number {
    const nd = this.nd;
    while (node !== NIL) {
      const o = node * NODE_WORDS;
      const meta = nd[o + META]!;
      const n = meta & NBITS_MASK;
      const eq = equalBits(nd[o + PFX]!, n, value, len);
      len += eq;
      if (eq < n) {               // mismatch: nothing longer can match
        this.plens = plens;
        return len + 1;           // includes the first mismatching bit
      }
      if (meta >= RULE_ONE && len > 0) plens |= 1 << (len - 1);
      if (len >= TRIE_FIELD_BITS) {
        this.plens = plens;
        return TRIE_FIELD_BITS;
      }
      prev = node;
      node = nd[o + ((value << len) < 0 ? E1 : E0)]!;
    }
    this.plens = plens;
    // fell off after a full match: the other branch (if any) needs one more bit
    if (prev === NIL) return len;
    const po = prev * NODE_WORDS;
    return nd[po + E0] === NIL && nd[po + E1] === NIL ? len : len + 1;
  }

  /**
   * Compute jump entry 'i' (at 'o'): walk the value whose bits after the
   * root's are 'i' as far as bits [0, jumpFrom + jumpBits) decide, and record
   * the result or where to resume.
   */
  private fillJump(i: number, o: number): void {
    const nd = this.nd, r = this.jumpFrom, k = this.jumpBits, horizon = r + k;
    const value = (this.jumpRootPfx | (i << (32 - horizon))) >>> 0;
    const jt = this.jump;
    let node = this.root, len = 0, plens = 0, prev = NIL;
    let kind = J_FINAL, x = 0;
    for (;;) {
      if (node === NIL) {
        const po = prev * NODE_WORDS;
        x = prev === NIL || (nd[po + E0] === NIL && nd[po + E1] === NIL) ? len : len + 1;
        break;
      }
      const no = node * NODE_WORDS;
      const meta = nd[no + META]!;
      const n = meta & NBITS_MASK;
      if (len + n > horizon) {
        // the node reaches past the index: only its bits before the horizon are known
        const eq = equalBits(nd[no + PFX]!, horizon - len, value, len);
        if (eq < horizon - len) x = len + eq + 1; else { kind = J_NODE; x = node; }
        break;
      }
      const eq = equalBits(nd[no + PFX]!, n, value, len);
      if (eq < n) { x = len + eq + 1; break; }
      len += n;
      if (meta >= RULE_ONE && len > 0) plens |= 1 << (len - 1);
      if (len >= TRIE_FIELD_BITS) { x = TRIE_FIELD_BITS; break; }
      if (len === horizon) { kind = J_EDGE; x = node; break; }   // the next edge needs bit 'horizon'
      prev = node;
      node = nd[no + ((value << len) < 0 ? E1 : E0)]!;
    }
    jt[o + J_WORD] = kind | (len << 2) | (x << 8);
    jt[o + J_PLENS] = plens;
    this.filled[this.nFilled++] = o;
  }

  /**
   * After any change: invalidate the jump table (a new generation) and size
   * it for the node count, indexing the bits just after the root's prefix.
   */
  private touch(): void {
    const rootBits = this.root === NIL ? 0 : this.nBits(this.root);
    let k = 32 - Math.clz32(this.live) - JUMP_BITS_BELOW_LOG2;
    if (k > JUMP_MAX_BITS) k = JUMP_MAX_BITS;
    if (k > 32 - rootBits) k = 32 - rootBits;
    if (k < JUMP_MIN_BITS || this.root === NIL || this.used >= 1 << 24) k = 0;   // x has 24 bits
    if (k !== this.jumpBits) {
      this.jump = k === 0 ? EMPTY_JUMP : new Int32Array((1 << k) * JUMP_WORDS);
      this.filled = k === 0 ? EMPTY_JUMP : new Int32Array(1 << k);
      this.jumpBits = k;
    } else {
      // clear what lookups filled since the last change (nothing, in a run of inserts)
      const jt = this.jump, f = this.filled;
      for (let j = 0; j < this.nFilled; j++) jt[f[j]!] = 0;
    }
    this.nFilled = 0;
    this.jumpFrom = rootBits;
    this.jumpRootPfx = this.root === NIL ? 0 : this.nd[this.root * NODE_WORDS + PFX]!;
  }

  /** trie_insert_prefix(): count one more rule with the 'mlen' (1..32) leading bits of 'prefix'. */
  insert(prefix: number, mlen: number): void {
    let parent = NIL, pbit = 0, ofs = 0;
    let node = this.root;
    while (node !== NIL) {
      const n = this.nBits(node);
      const rest = mlen - ofs;
      const pfx = this.nd[node * NODE_WORDS + PFX]!;
      const eq = equalBits(pfx, n < rest ? n : rest, prefix, ofs);
      ofs += eq;
      if (eq < n) {
        // mismatch (or the new prefix ends inside the node): a new parent above 'node'
        const oldBranch = bitAt(pfx, eq);
        const np = this.branch(prefix, ofs - eq, eq, ofs === mlen ? 1 : 0);
        this.nd[node * NODE_WORDS + PFX] = pfx << eq;
        this.setMeta(node, n - eq, this.nRules(node));
        this.setEdge(np, oldBranch, node);
        if (ofs < mlen) this.setEdge(np, oldBranch ^ 1, this.branch(prefix, ofs, mlen - ofs, 1));
        this.link(parent, pbit, np);
        this.touch();
        return;
      }
      if (ofs === mlen) {         // the prefix ends exactly here
        this.setMeta(node, n, this.nRules(node) + 1);
        this.touch();
        return;
      }
      parent = node;
      pbit = bitAt(prefix, ofs);
      node = this.edge(node, pbit);
    }
    this.link(parent, pbit, this.branch(prefix, ofs, mlen - ofs, 1));
    this.touch();
  }

  /**
   * trie_remove_prefix(): count one rule fewer with the 'mlen' leading bits
   * of 'prefix', pruning as OVS does. Returns false (and changes nothing)
   * when no such rule is stored.
   */
  remove(prefix: number, mlen: number): boolean {
    const path = PATH_NODE, bits = PATH_BIT;
    let depth = 0, ofs = 0;
    let node = this.root;
    while (node !== NIL) {
      path[depth] = node;
      const n = this.nBits(node);
      const rest = mlen - ofs;
      const eq = equalBits(this.nd[node * NODE_WORDS + PFX]!, n < rest ? n : rest, prefix, ofs);
      if (eq < n) return false;
      ofs += eq;
      if (ofs === mlen) {
        if (this.nRules(node) === 0) return false;
        this.setMeta(node, n, this.nRules(node) - 1);
        while (this.nRules(node) === 0) {
          const a = this.edge(node, 0), b = this.edge(node, 1);
          if (a !== NIL && b !== NIL) break;            // a branching point stays
          const next = a !== NIL ? a : b;
          if (next !== NIL) {
            const nb = this.nBits(node), nbNext = this.nBits(next);
            if (nb + nbNext > TRIE_FIELD_BITS) break;
            // merge 'node' into its only child
            const o = next * NODE_WORDS + PFX;
            this.nd[o] = this.nd[node * NODE_WORDS + PFX]! | (nb === 32 ? 0 : this.nd[o]! >>> nb);
            this.setMeta(next, nb + nbNext, this.nRules(next));
          }
          this.link(depth === 0 ? NIL : path[depth - 1]!, bits[depth]!, next);
          this.release(node);
          if (next !== NIL || depth === 0) break;
          depth--;
          node = path[depth]!;
        }
        this.touch();
        return true;
      }
      const bit = bitAt(prefix, ofs);
      depth++;
      bits[depth] = bit;
      node = this.edge(node, bit);
    }
    return false;
  }

  /** Every (prefix, length, count) stored, depth first (slow; for tests and debugging). */
  entries(): { prefix: number; len: number; count: number }[] {
    const out: { prefix: number; len: number; count: number }[] = [];
    const walk = (node: number, acc: number, len: number): void => {
      if (node === NIL) return;
      const n = this.nBits(node);
      const pfx = this.nd[node * NODE_WORDS + PFX]! >>> 0;
      const v = len >= 32 ? acc : (acc | (pfx >>> len)) >>> 0;
      const l = len + n;
      if (this.nRules(node) > 0) out.push({ prefix: v, len: l, count: this.nRules(node) });
      walk(this.edge(node, 0), v, l);
      walk(this.edge(node, 1), v, l);
    };
    walk(this.root, 0, 0);
    return out;
  }

  private nBits(node: number): number { return this.nd[node * NODE_WORDS + META]! & NBITS_MASK; }
  private nRules(node: number): number { return this.nd[node * NODE_WORDS + META]! >>> RULES_SHIFT; }
  private setMeta(node: number, nBits: number, nRules: number): void {
    this.nd[node * NODE_WORDS + META] = nBits | (nRules << RULES_SHIFT);
  }
  private edge(node: number, bit: number): number { return this.nd[node * NODE_WORDS + (bit === 1 ? E1 : E0)]!; }
  private setEdge(node: number, bit: number, child: number): void {
    this.nd[node * NODE_WORDS + (bit === 1 ? E1 : E0)] = child;
  }

  /** trie_branch_create() for plen ≤ 32: one node holding 'plen' bits of 'prefix' from 'ofs'. */
  private branch(prefix: number, ofs: number, plen: number, nRules: number): number {
    const node = this.alloc();
    const o = node * NODE_WORDS;
    this.nd[o + PFX] = getPrefix(prefix, ofs, plen);
    this.nd[o + META] = plen | (nRules << RULES_SHIFT);
    this.nd[o + E0] = NIL;
    this.nd[o + E1] = NIL;
    return node;
  }

  /** Point 'parent''s edge 'bit' (the root when 'parent' is NIL) at 'child'. */
  private link(parent: number, bit: number, child: number): void {
    if (parent === NIL) this.root = child; else this.setEdge(parent, bit, child);
  }

  private alloc(): number {
    this.live++;
    if (this.freeList !== NIL) {
      const node = this.freeList;
      this.freeList = this.edge(node, 0);
      return node;
    }
    if ((this.used + 1) * NODE_WORDS > this.nd.length) {
      const nd = new Int32Array(Math.max(this.nd.length * 2, FIRST_NODES * NODE_WORDS));
      nd.set(this.nd);
      this.nd = nd;
    }
    return this.used++;
  }

  private release(node: number): void {
    this.live--;
    this.setMeta(node, 0, 0);
    this.setEdge(node, 1, NIL);
    this.setEdge(node, 0, this.freeList);
    this.freeList = node;
  }
}
