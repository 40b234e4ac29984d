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
 * changes the answer. test/ofproto/classifier-ovs.test.ts checks the bits
 * themselves against ovs-vswitchd's `Megaflow:` lines.
 *
 * Basic classifier design (tuple space search)
 * ============================================
 * One subtable per distinct mask. A subtable precomputes the indices of the
 * mask's non-zero words and the mask words themselves (interleaved in 'wm');
 * it hashes the masked key words (an FxHash step per word, one Math.imul, and
 * murmur3's fmix32 at the end) into a power-of-two open-addressed table whose
 * slots are records [head rule id, hash, head's priority, masked value
 * words…] in one Int32Array, so a hit reads one cache line. The head rule
 * heads a chain of rules with that masked value, sorted by priority
 * (descending), then insertion order, so it is the subtable's answer. A
 * one-hash Bloom filter (8 bits per slot) in front of the table answers most
 * misses from a few KB instead of a cache miss in the table (removals leave
 * their bits until the table is rebuilt: a false positive costs a probe, never
 * an answer).
 * Subtables are kept sorted by their max rule priority, so the lookup stops as
 * soon as the best match found is >= the next subtable's max priority; the
 * subtables it never reached contribute nothing to 'wc'.
 *
 * Staged lookup
 * =============
 * OVS's segments are metadata → L2 → L3 → L4; key.ts lays the words out in
 * that order (SEG_*), except nd_target, arp_sha and arp_tha, which OVS 3.1
 * puts in L4 and key.ts at the end of L3: `stageOfWord()` follows OVS. Each subtable
 * groups its mask words by segment into "stages" (empty segments are
 * skipped). For every stage but the last, it keeps a counting set of the
 * hashes of the masked-value prefix up to the end of that stage (OVS's
 * ccmap indices). A lookup with 'wc' checks the running hash at each stage
 * boundary; when no rule has that prefix, the subtable fails there and
 * un-wildcards only the words of the stages it looked at. So a UDP key against
 * a `tcp,tp_dst=80` rule gets dl_type and nw_proto but no tp_dst. A hash
 * collision in a stage set makes the lookup go on to a later stage: more
 * 1-bits, never fewer (safe). A subtable that gets through all stages
 * un-wildcards its whole mask, hit or miss, as OVS does (but see the ports
 * trie below). Without 'wc' there is nothing to un-wildcard, so, like OVS's
 * find_match(), one hash over all mask words and one probe, no stage checks.
 *
 * Prefix tracking
 * ===============
 * As OVS's classifier does with its default prefix fields (ofproto.c
 * default_prefix_fields = { nw_dst, nw_src }), two binary tries (trie.ts)
 * hold the nw_dst and nw_src prefixes of every subtable whose mask on that
 * word is a CIDR prefix (trie_plen = minimask_get_prefix_len(); 0 for none or
 * a non-contiguous mask such as 255.0.255.0), one entry per distinct
 * (subtable, masked value). On a lookup with 'wc', at a subtable's L3 stage
 * and before hashing it, `checkTries()` (check_tries()) looks each trie up at
 * most once per classifier lookup (trie_lookup(): 'maskbits' = leading bits
 * needed to rule out the longer prefixes, 'plens' = prefix lengths that may
 * match). Tries are looked at in OVS's order, nw_dst first. When the
 * subtable's prefix length is not in 'plens', no rule of it can match:
 *  - if maskbits <= its prefix length, 'wc' gets the first 'maskbits' bits of
 *    the address and the subtable is skipped;
 *  - else, if those bits are already in 'wc', it is skipped with nothing new;
 *  - else the next trie is tried, and failing that the lookup goes on as usual.
 * A skipped subtable un-wildcards the stages before L3 plus the trie bits,
 * never its own address mask, and nothing later (OVS's `goto no_match` with
 * 'stages_map' so far). A subtable that is not skipped un-wildcards its mask
 * exactly as without tries: the trie bits are added only by skips, and never
 * replace a visited subtable's bits. Hence BEHAVIOUR.md item 3: 10.1.9.9
 * against /32 10.1.2.3 and /16 10.1.0.0 gives `nw_src=10.1.8.0/21` (21 trie
 * bits from skipping the /32 subtable, /16 from visiting the other), and
 * misses give shortened prefixes such as `nw_dst=128.0.0.0/2`.
 * The trie lookup's prerequisite is dl_type = IPv4 (mf_are_prereqs_ok() of
 * MFF_IPV4_*). nw_src/nw_dst are also ARP's spa/tpa, so `arp,arp_spa=…/N`
 * rules enter the tries (and lengthen IPv4 packets' trie prefixes), but an
 * ARP (or IPv6, …) key gets every length in 'plens': no skipping. There is no
 * trie for IPv6, so ipv6_src/ipv6_dst un-wildcard their whole mask.
 *
 * Each subtable whose mask covers tp_src/tp_dst also keeps a ports trie of
 * its masked tp_src:tp_dst words (tp_src in the high half, OVS's 32-bit
 * TP_PORTS_OFS32 word; length ports_mask_len = 32 - ctz(mask)). When such a
 * subtable gets through all stages and misses, only the trie's prefix of the
 * port bits is un-wildcarded (`tp_dst=0x100/0xff00`, `tp_dst=0x0/0xffc0`), while
 * the rest of the final stage (tcp_flags, arp_sha, …) still folds in full:
 * that is OVS commit 489553b1c ("classifier: Fix missing masks on a final
 * stage with ports trie"), which Debian's 3.1.0-2+deb12u1 carries
 * (`tcp_flags=-psh` shows up for a SYN to port 81). A hit un-wildcards the
 * whole mask.
 *
 * Conjunctive matches are bridge.ts's: FlowTable keeps the soft rules in a
 * classifier of their own and collects them with matchesAbove().
 * Not implemented: versioning (classifier.h "Classifier Versioning"),
 * reconfiguring the prefix fields
 * (classifier_set_prefix_fields(); always nw_dst, nw_src), and per-subtable
 * hit-count re-ranking (that is dpcls, datapath/).
 *
 * Cost per lookup with 'wc': for each visited subtable (findMatchWc(), which
 * V8 inlines into the lookup loop), one mix per mask word up to where it stops;
 * one probe per non-final stage passed, in that subtable's stage sets (one
 * small Int32Array for all of them, each sized by its own distinct prefixes);
 * in the final stage a filter bit, and on a maybe a probe + word compare; for
 * a subtable with an address prefix, two bit tests against the trie results,
 * each trie walked at most once per lookup (a jump-table entry and the few
 * levels below it, trie.ts); on a ports miss, one ports-trie walk. A subtable
 * the tries skip costs its earlier stages only: no L3 hash, no table probe.
 * Without 'wc': one mix per mask word, a
 * filter bit and rarely a probe per visited subtable. Allocates nothing.
 * Measured (bench/classifier.bench.ts on the project's 2-core VM, whose
 * speed varies by up to 2x between processes): at 100k rules over 20 masks
 * with random priorities, so every subtable is visited, 0.8-1.35 M lookups/s
 * with 'wc' (before the tries, filter and layout work: 0.45-0.9) and 2.2-2.8
 * M/s without (0.5-1.0); the trie walks (address and ports) are about a
 * quarter of the 'wc' time, table hits and the per-subtable loop most of the
 * rest. lookup() dispatches to two methods so that callers alternating with
 * and without 'wc' do not keep deoptimizing one shared body.
 * insert/remove are slow path (a Map keyed by the mask's text, an
 * O(#subtables) re-sort, O(subtable) max-priority recompute, O(32) trie
 * updates, occasional table and stage-set rebuilds). Not safe against
 * mutation during a lookup; single-threaded (the per-lookup trie context
 * lives on the instance).
 * Memory: an empty classifier holds no rule arrays; they start at 8 rules
 * and double. A rule's masked value words (for remove and matchOf) live in
 * one arena per classifier, compacted when it would grow; a subtable costs
 * its handful of small typed arrays (~2.5 kB, mostly their fixed overhead).
 * Neighbours: flow/key.ts (layout, SEG_*), flow/match.ts (Match), trie.ts
 * (prefix tries); used by ofproto/bridge.ts flow tables and xlate; datapath/'s
 * megaflow cache is filled from the 'wc' computed here.
 */
import { Match } from '../flow/match.js';
import {
  F_ARP_SHA_HI, F_DL_TYPE, F_NW_DST, F_NW_SRC, F_TP_DST, F_TP_SRC, FLOW_WORDS, SEG_L2_START,
  SEG_L3_START,
} from '../flow/key.js';
import { PrefixTrie, prefixMask } from './trie.js';

const EMPTY = -1;
const TOMB = -2;
/** Filter bits per table slot (the table keeps a load of 1/4..3/4: 10-32 bits per value). */
const FILTER_BITS_PER_SLOT = 8;
const GOLDEN = 0x9e3779b1 | 0;
const ETH_TYPE_IP = 0x0800;
/** OVS's segments: metadata, L2, L3, L4. */
const STAGE_METADATA = 0, STAGE_L2 = 1, STAGE_L3 = 2, STAGE_L4 = 3;

/** One word into running hash 'h' (FxHash's step: rotate, xor, one multiply); fin() avalanches. */
function mix(h: number, w: number): number {
  return Math.imul(((h << 5) | (h >>> 27)) ^ w, 0x9e3779b9 | 0);
}

/** murmur3's fmix32 finalizer. */
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
 * The OVS segment (stage) of key word 'w'. key.ts's SEG_* ranges, except
 * that arp_sha/arp_tha (nd_sll/nd_tll) and nd_target belong to L4: OVS 3.1's
 * FLOW_SEGMENT_3_ENDS_AT is offsetof(struct flow, nd_target), and arp_sha,
 * arp_tha and tcp_flags follow it (classifier: "Adjust segment boundary to
 * execute prerequisite processing"); key.ts keeps them at the end of L3.
 */
function stageOfWord(w: number): number {
  if (w < SEG_L2_START) return STAGE_METADATA;
  if (w < SEG_L3_START) return STAGE_L2;
  if (w >= F_ARP_SHA_HI) return STAGE_L4;   // arp_sha, arp_tha, nd_target, then L4 proper
  return STAGE_L3;
}

/**
 * minimask_get_prefix_len() for a 32-bit field: the CIDR length of mask word
 * 'm', or 0 when 'm' is zero or not a prefix.
 */
function cidrLen(m: number): number {
  const inv = ~m;
  if ((inv & (inv + 1)) !== 0) return 0;   // not contiguous from the MSB
  return 32 - (m === 0 ? 32 : 31 - Math.clz32(m & -m));
}

/** Slot record: [head rule id, hash, head's priority, masked value words…]. */
const REC_HEAD = 0, REC_HASH = 1, REC_PRIO = 2, REC_VAL = 3;
/** a new subtable's stage sets until relayoutStages sizes them */
const NO_STAGE_SETS = new Int32Array(0);

/**
 * One mask's rules (cls_subtable). The hash table is one interleaved buffer,
 * a record of stride = 3 + n words per slot: [head rule id, hash, head's
 * priority, masked value words…], so a hit touches one cache line, not four
 * arrays (at 100k rules the tables outgrow the caches and each probe costs a
 * miss); a filter in front keeps most misses out of the table.
 */
class Subtable {
  /** key word index of each non-zero mask word, grouped by stage (then ascending) */
  readonly idx: Int32Array;
  /** the mask word at each idx */
  readonly mask: Uint32Array;
  /** idx and mask interleaved, [idx0, mask0, idx1, mask1, …]: what lookups read */
  readonly wm: Int32Array;
  /** number of mask words */
  readonly n: number;
  /** words per slot record: head, hash, priority, n value words */
  readonly stride: number;
  /** per non-empty stage: number of mask words up to its end (cumulative) */
  readonly stageEnd: Int32Array;
  readonly nStages: number;
  // ---- stage sets (OVS's ccmap indices): for each stage but the last, a counting set of
  // the hashes of every masked value's prefix up to the end of that stage, sized by its own
  // number of distinct prefixes (a stage all rules share, dl_type=0x0800, is one line). All
  // of them live in one array 'stTab' of [hash, count] pairs (count 0 empty, -1 tombstone),
  // set s at pair offset stg[3s + 1] with capacity mask stg[3s + 2]; stg[3s] is the stage's
  // end (mask words). One array, so a lookup reads no per-set objects.
  stg: Int32Array;
  stTab: Int32Array;
  readonly stLive: Int32Array;
  readonly stTombs: Int32Array;
  /** CIDR length of the mask on nw_dst / nw_src (trie_plen), 0 for none or non-CIDR */
  readonly plenDst: number;
  readonly plenSrc: number;
  /** the stage (index into stageEnd) holding nw_src/nw_dst when a plen is set, else -1 */
  readonly trieStage: number;
  /** ports_mask_len: 32 - ctz of the tp_src:tp_dst mask word, 0 without ports */
  readonly portsLen: number;
  /** the tp_src:tp_dst mask word (tp_src in the high half) */
  readonly portsMask: number;
  /** per-subtable trie of masked tp_src:tp_dst values (null when portsLen is 0) */
  readonly portsTrie: PrefixTrie | null;
  /** creation order, the tie-break between subtables of equal max priority */
  readonly created: number;
  readonly maskKey: string;
  maxPrio = -0x80000000;
  nRules = 0;
  /** set by probe() on a hit: the priority of the rule it returned */
  hitPrio = 0;
  // ---- full table: 'cap' records of 'stride' words; tabI and tabU view one buffer
  cap = 8;
  tabI: Int32Array;
  tabU: Uint32Array;
  live = 0;
  tombs = 0;
  // ---- a one-hash Bloom filter over the full hashes in the table, FILTER_BITS_PER_SLOT
  // bits per slot, so a miss (most probes) reads a few KB instead of the table. Removals
  // leave their bit (a false positive costs a probe, never an answer); rebuild() clears them.
  filt: Int32Array;
  filtShift: number;

  constructor(maskWords: Uint32Array, created: number, maskKey: string) {
    const words: number[] = [];
    for (let w = 0; w < FLOW_WORDS; w++) if (maskWords[w] !== 0) words.push(w);
    words.sort((a, b) => (stageOfWord(a) - stageOfWord(b)) || (a - b));
    const n = words.length;
    const ends: number[] = [];
    let l3 = -1;
    for (let j = 0; j < n; j++) {
      const sg = stageOfWord(words[j]!);
      if (j + 1 === n || stageOfWord(words[j + 1]!) !== sg) {
        if (sg === STAGE_L3) l3 = ends.length;
        ends.push(j + 1);
      }
    }
    const k = ends.length;
    // the arrays whose length never changes are views of one buffer: a cluster makes hundreds of
    // thousands of subtables, and each typed array of its own costs an ArrayBuffer object too
    const buf = new ArrayBuffer(4 * (4 * n + 6 * k));
    let at = 0;
    const view = <A>(mk: new (b: ArrayBuffer, o: number, l: number) => A, len: number): A => { const a = new mk(buf, at, len); at += 4 * len; return a; };
    this.idx = view(Int32Array, n);
    this.mask = view(Uint32Array, n);
    this.wm = view(Int32Array, 2 * n);
    this.stageEnd = view(Int32Array, k);
    this.stLive = view(Int32Array, k);
    this.stTombs = view(Int32Array, k);
    this.stg = view(Int32Array, 3 * k);
    // plain loops: TypedArray.from (with a map function above all) is slow, and a cluster makes thousands of subtables
    for (let j = 0; j < n; j++) {
      const w = words[j]!;
      this.idx[j] = w; this.mask[j] = maskWords[w]!;
      this.wm[2 * j] = w; this.wm[2 * j + 1] = maskWords[w]!;
    }
    this.n = n;
    this.stride = REC_VAL + n;
    for (let s = 0; s < k; s++) this.stageEnd[s] = ends[s]!;
    this.nStages = k;
    this.stTab = NO_STAGE_SETS;
    for (let s = 0; s < ends.length; s++) this.stg[3 * s] = ends[s]!;
    this.relayoutStages();
    this.plenDst = cidrLen(maskWords[F_NW_DST]!);
    this.plenSrc = cidrLen(maskWords[F_NW_SRC]!);
    this.trieStage = this.plenDst !== 0 || this.plenSrc !== 0 ? l3 : -1;
    this.portsMask = (((maskWords[F_TP_SRC]! & 0xffff) << 16) | (maskWords[F_TP_DST]! & 0xffff)) >>> 0;
    this.portsLen = this.portsMask === 0 ? 0 : 32 - (31 - Math.clz32(this.portsMask & -this.portsMask));
    this.portsTrie = this.portsLen !== 0 ? new PrefixTrie() : null;
    this.created = created;
    this.maskKey = maskKey;
    this.tabI = new Int32Array(8 * this.stride);
    this.tabU = new Uint32Array(this.tabI.buffer);
    for (let o = 0; o < 8; o++) this.tabI[o * this.stride] = EMPTY;
    this.filt = new Int32Array(Math.max((8 * FILTER_BITS_PER_SLOT) >>> 5, 1));
    this.filtShift = 32 - Math.log2(this.filt.length * 32);
  }

  /**
   * find_match() without 'wc': the head rule of the chain whose masked value
   * equals 'key'[base…] under this mask, or -1. One hash over all mask words,
   * no stage checks. Allocates nothing.
   */
  find(key: Uint32Array, base: number): number {
    const wm = this.wm, n2 = 2 * this.n;
    let h = 0;
    for (let i = 0; i < n2; i += 2) h = mix(h, key[base + wm[i]!]! & wm[i + 1]!);
    return this.probe(key, base, fin(h));
  }

  /**
   * The head rule whose value equals the masked 'key'[base…], given its
   * finalized hash 'fh', or -1; on a hit, 'hitPrio' is its priority.
   */
  probe(key: Uint32Array, base: number, fh: number): number {
    const b = Math.imul(fh, GOLDEN) >>> this.filtShift;
    if ((this.filt[b >>> 5]! & (1 << (b & 31))) === 0) return -1;
    const wm = this.wm, n = this.n;
    const m = this.cap - 1, stride = this.stride, tabI = this.tabI;
    for (let slot = fh & m; ; slot = (slot + 1) & m) {
      const o = slot * stride;
      const head = tabI[o]!;
      if (head === EMPTY) return -1;
      if (head !== TOMB && tabI[o + REC_HASH] === fh) {
        let diff = 0;
        for (let j = 0; j < n; j++) diff |= (key[base + wm[2 * j]!]! & wm[2 * j + 1]!) ^ tabI[o + REC_VAL + j]!;
        if (diff === 0) { this.hitPrio = tabI[o + REC_PRIO]!; return head; }
      }
    }
  }

  /** OR into 'wc' the mask words [0, 'end') (flow_wildcards_fold_minimask_in_map). */
  fold(wc: Uint32Array, end: number): void {
    const wm = this.wm, e2 = 2 * end;
    for (let j = 0; j < e2; j += 2) { const w = wm[j]!; wc[w] = wc[w]! | wm[j + 1]!; }
  }

  /** True when stage set 's' holds finalized prefix hash 'fh'. */
  stageHas(s: number, fh: number): boolean {
    const tab = this.stTab, off = this.stg[3 * s + 1]!, m = this.stg[3 * s + 2]!;
    for (let p = fh & m; ; p = (p + 1) & m) {
      const c = tab[off + 2 * p + 1]!;
      if (c === 0) return false;
      if (c > 0 && tab[off + 2 * p] === fh) return true;
    }
  }

  /** Add 'delta' (±1) to the count of 'fh' in stage set 's' (slow path). */
  private stageAdd(s: number, fh: number, delta: number): void {
    const tab = this.stTab, off = this.stg[3 * s + 1]!, m = this.stg[3 * s + 2]!;
    let free = -1;
    for (let p = fh & m; ; p = (p + 1) & m) {
      const c = tab[off + 2 * p + 1]!;
      if (c > 0 && tab[off + 2 * p] === fh) {
        if (c + delta > 0) tab[off + 2 * p + 1] = c + delta;
        else { tab[off + 2 * p + 1] = -1; this.stLive[s]!--; this.stTombs[s]!++; }
        return;
      }
      if (c === -1 && free < 0) free = p;
      if (c === 0) { if (free < 0) free = p; break; }
    }
    if (delta < 0) throw new Error('classifier: stage count underflow');
    if (tab[off + 2 * free + 1] === -1) this.stTombs[s]!--;
    tab[off + 2 * free] = fh;
    tab[off + 2 * free + 1] = delta;
    this.stLive[s]!++;
    if ((this.stLive[s]! + this.stTombs[s]!) * 4 > (m + 1) * 3) this.relayoutStages();
  }

  /** Re-size every stage set to a load of at most 1/2 and drop tombstones (slow path). */
  private relayoutStages(): void {
    const old = this.stTab, oldStg = this.stg.slice();
    const ns = this.nStages - 1;
    let words = 0;
    for (let s = 0; s < ns; s++) {
      const cap = pow2AtLeast(this.stLive[s]! * 2 + 2);
      this.stg[3 * s + 1] = words;          // word offset of the set's first pair
      this.stg[3 * s + 2] = cap - 1;
      words += 2 * cap;
    }
    const tab = new Int32Array(words);
    for (let s = 0; s < ns; s++) {
      const off = this.stg[3 * s + 1]!, m = this.stg[3 * s + 2]!;
      const oOff = oldStg[3 * s + 1]!, oCap = old.length === 0 ? 0 : oldStg[3 * s + 2]! + 1;
      for (let q = 0; q < oCap; q++) {
        const c = old[oOff + 2 * q + 1]!;
        if (c <= 0) continue;
        const fh = old[oOff + 2 * q]!;
        let p = fh & m;
        while (tab[off + 2 * p + 1] !== 0) p = (p + 1) & m;
        tab[off + 2 * p] = fh;
        tab[off + 2 * p + 1] = c;
      }
      this.stTombs[s] = 0;
    }
    this.stTab = tab;
  }

  /** Hash of the masked value prefix 'v'[voff…] through 'end' words, finalized. */
  prefixHash(v: Uint32Array, voff: number, end: number): number {
    let h = 0;
    for (let j = 0; j < end; j++) h = mix(h, v[voff + j]!);
    return fin(h);
  }

  head(slot: number): number { return this.tabI[slot * this.stride + REC_HEAD]!; }
  setHead(slot: number, rule: number, prio: number): void {
    this.tabI[slot * this.stride + REC_HEAD] = rule;
    this.tabI[slot * this.stride + REC_PRIO] = prio;
  }

  /** Slot holding masked value 'v' (compact words), or -1. */
  slotOf(v: Uint32Array, fh: number): number {
    const m = this.cap - 1, n = this.n, stride = this.stride;
    for (let slot = fh & m; ; slot = (slot + 1) & m) {
      const o = slot * stride;
      const head = this.tabI[o]!;
      if (head === EMPTY) return -1;
      if (head !== TOMB && this.tabI[o + REC_HASH] === fh) {
        let same = true;
        for (let j = 0; j < n; j++) if (this.tabU[o + REC_VAL + j] !== v[j]) { same = false; break; }
        if (same) return slot;
      }
    }
  }

  /** Put a new chain head 'rule' of priority 'prio' with value 'v' and hash 'fh' (value not present). */
  addSlot(v: Uint32Array, fh: number, rule: number, prio: number): void {
    // load (live + tombstones) at most 3/4; rebuild to a load of 1/4..1/2
    if ((this.live + this.tombs + 1) * 4 > this.cap * 3) this.rebuild(pow2AtLeast((this.live + 1) * 2));
    this.place(v, 0, fh, rule, prio);
    for (let s = 0; s < this.nStages - 1; s++) this.stageAdd(s, this.prefixHash(v, 0, this.stageEnd[s]!), 1);
    if (this.portsTrie !== null) this.portsTrie.insert(this.portsOf(v, 0), this.portsLen);
  }

  removeSlot(slot: number): void {
    const o = slot * this.stride;
    for (let s = 0; s < this.nStages - 1; s++) this.stageAdd(s, this.prefixHash(this.tabU, o + REC_VAL, this.stageEnd[s]!), -1);
    if (this.portsTrie !== null) this.portsTrie.remove(this.portsOf(this.tabU, o + REC_VAL), this.portsLen);
    this.tabI[o] = TOMB;
    this.live--;
    this.tombs++;
  }

  /** The masked tp_src:tp_dst word of compact value 'v'[voff…] (minimatch_get_ports). */
  private portsOf(v: Uint32Array, voff: number): number {
    let p = 0;
    for (let j = 0; j < this.n; j++) {
      if (this.idx[j] === F_TP_SRC) p |= (v[voff + j]! & 0xffff) << 16;
      else if (this.idx[j] === F_TP_DST) p |= v[voff + j]! & 0xffff;
    }
    return p >>> 0;
  }

  /** Head rule ids of every chain (slow path). */
  heads(out: number[]): number[] {
    for (let slot = 0; slot < this.cap; slot++) { const h = this.head(slot); if (h >= 0) out.push(h); }
    return out;
  }

  private place(v: Uint32Array, voff: number, fh: number, rule: number, prio: number): void {
    const m = this.cap - 1, n = this.n, stride = this.stride;
    let slot = fh & m;
    while (this.tabI[slot * stride]! >= 0) slot = (slot + 1) & m;
    const o = slot * stride;
    if (this.tabI[o] === TOMB) this.tombs--;
    this.tabI[o + REC_HEAD] = rule;
    this.tabI[o + REC_HASH] = fh;
    this.tabI[o + REC_PRIO] = prio;
    for (let j = 0; j < n; j++) this.tabU[o + REC_VAL + j] = v[voff + j]!;
    this.live++;
    const b = Math.imul(fh, GOLDEN) >>> this.filtShift;
    this.filt[b >>> 5] = this.filt[b >>> 5]! | (1 << (b & 31));
  }

  private rebuild(cap: number): void {
    const oldI = this.tabI, oldU = this.tabU, oldCap = this.cap, stride = this.stride;
    this.cap = cap;
    this.tabI = new Int32Array(cap * stride);
    this.tabU = new Uint32Array(this.tabI.buffer);
    for (let o = 0; o < cap; o++) this.tabI[o * stride] = EMPTY;
    this.filt = new Int32Array((cap * FILTER_BITS_PER_SLOT) >>> 5);
    this.filtShift = 32 - Math.log2(this.filt.length * 32);
    this.live = 0;
    this.tombs = 0;
    for (let s = 0; s < oldCap; s++) {
      const o = s * stride;
      const head = oldI[o]!;
      if (head >= 0) this.place(oldU, o + REC_VAL, oldI[o + REC_HASH]!, head, oldI[o + REC_PRIO]!);
    }
  }
}

/**
 * A classifier of rules with payloads of type 'T'. See the file comment.
 */
/**
 * A new classifier's rule arrays: empty until the first insert (a bridge has 255 tables of two
 * classifiers each, most of them never used), then FIRST_RULES, doubling.
 */
const NO_RULES = new Int32Array(0);
const FIRST_RULES = 8;
/** up to this many subtables, insert finds a mask's by comparing words (subtableOf), beyond by its key */
const SUBTABLE_SCAN = 12;
/** compact()'s output, shared by every classifier (it is read before the next compact) */
const SCRATCH = new Uint32Array(FLOW_WORDS);
/** valsOf()'s output, shared likewise (remove() and matchOf() read it before the next call) */
const VALS_OUT = new Uint32Array(FLOW_WORDS);
const NO_VALS = new Uint32Array(0);

/** Word 'w' of the compact value 'v' of subtable 'st' (0 when the subtable does not match it). */
function wordOf(st: Subtable, v: Uint32Array, w: number): number {
  for (let j = 0; j < st.n; j++) if (st.idx[j] === w) return v[j]!;
  return 0;
}

export class Classifier<T = unknown> {
  private subs: Subtable[] = [];
  private readonly byMask = new Map<string, Subtable>();
  private subSeq = 0;
  // rules, struct-of-arrays indexed by rule id
  private prio = NO_RULES;
  private next = NO_RULES;
  private ruleSub: (Subtable | null)[] = [];
  /**
   * Each rule's masked value words in its subtable's order (st.idx) — what remove() and matchOf()
   * need, not a Match copy — at valOff[id] in one arena for all rules (not an array per rule);
   * the words of removed rules are reclaimed when the arena would have to grow.
   */
  private vals = NO_VALS;
  private valOff = NO_RULES;
  private valsUsed = 0;
  private valsLive = 0;
  private payloads: (T | undefined)[] = [];
  private freeIds: number[] = [];
  private nextId = 0;
  private count = 0;
  // prefix tries over all subtables, in OVS's default order: nw_dst, then nw_src
  private readonly trieDst = new PrefixTrie();
  private readonly trieSrc = new PrefixTrie();
  // per-lookup trie context (struct trie_ctx ×2): valid when the done flag is set
  private dstDone = false;
  private dstMaskbits = 0;
  private dstPlens = 0;
  private srcDone = false;
  private srcMaskbits = 0;
  private srcPlens = 0;

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
    let st = this.subtableOf(match.mask);
    if (st === undefined) {
      // joined, not concatenated: the subtable keeps its key, one flat string rather than a rope
      const parts: string[] = [];
      for (let w = 0; w < FLOW_WORDS; w++) if (match.mask[w] !== 0) parts.push(`${w}:${match.mask[w]},`);
      const key = parts.join('');
      st = this.byMask.get(key);
      if (st === undefined) {
        st = new Subtable(match.mask, this.subSeq++, key);
        this.byMask.set(key, st);
        this.subs.push(st);
      }
    }
    const id = this.allocId();
    this.prio[id] = priority | 0;
    this.next[id] = -1;
    this.ruleSub[id] = st;
    this.payloads[id] = payload;
    const v = this.compact(st, match);
    this.storeVals(id, v, st.n);
    const fh = st.prefixHash(v, 0, st.n);
    const slot = st.slotOf(v, fh);
    if (slot < 0) {
      // the first rule with this masked value: it enters the stage sets and tries
      st.addSlot(v, fh, id, priority | 0);
      if (st.plenDst !== 0) this.trieDst.insert(wordOf(st, v, F_NW_DST), st.plenDst);
      if (st.plenSrc !== 0) this.trieSrc.insert(wordOf(st, v, F_NW_SRC), st.plenSrc);
    } else {
      // insert into the chain: after every rule of >= priority (they are older)
      const head = st.head(slot);
      if (this.prio[head]! < priority) {
        this.next[id] = head;
        st.setHead(slot, id, priority | 0);
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
    if (st === undefined || st === null) return false;
    const v = this.valsOf(id, st.n);
    const slot = st.slotOf(v, st.prefixHash(v, 0, st.n));
    if (slot < 0) throw new Error('classifier: rule not in its subtable');
    const head = st.head(slot);
    if (head === id) {
      const nx = this.next[id]!;
      if (nx >= 0) {
        st.setHead(slot, nx, this.prio[nx]!);
      } else {
        // the last rule with this masked value leaves the stage sets and tries
        st.removeSlot(slot);
        if (st.plenDst !== 0) this.trieDst.remove(wordOf(st, v, F_NW_DST), st.plenDst);
        if (st.plenSrc !== 0) this.trieSrc.remove(wordOf(st, v, F_NW_SRC), st.plenSrc);
      }
    } else {
      let p = head;
      while (this.next[p] !== id) p = this.next[p]!;
      this.next[p] = this.next[id]!;
    }
    st.nRules--;
    this.count--;
    this.ruleSub[id] = null;
    this.valsLive -= st.n;
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
   * into it the bits the answer depended on (staged, with prefix tries; see
   * the file comment). Allocates nothing.
   */
  lookup(key: Uint32Array, base: number, wc: Uint32Array | null): number {
    // two methods, so that each keeps its own type feedback and optimized code: a caller
    // alternating between them (the bench; xlate vs. a stats query) deoptimizes neither
    return wc === null ? this.lookupNoWc(key, base) : this.lookupWc(key, base, wc);
  }

  /** lookup() without 'wc' (OVS's find_match() per subtable). */
  private lookupNoWc(key: Uint32Array, base: number): number {
    const subs = this.subs, nsubs = subs.length;
    let best = -1, bestPrio = 0;
    for (let s = 0; s < nsubs; s++) {
      const st = subs[s]!;
      if (best >= 0 && st.maxPrio <= bestPrio) break;
      const r = st.find(key, base);
      if (r >= 0 && (best < 0 || st.hitPrio > bestPrio)) { best = r; bestPrio = st.hitPrio; }
    }
    return best;
  }

  /** lookup() with 'wc': classifier_lookup__(). */
  private lookupWc(key: Uint32Array, base: number, wc: Uint32Array): number {
    const subs = this.subs, nsubs = subs.length;
    let best = -1, bestPrio = 0;
    this.dstDone = false;
    this.srcDone = false;
    for (let s = 0; s < nsubs; s++) {
      const st = subs[s]!;
      if (best >= 0 && st.maxPrio <= bestPrio) break;
      const r = this.findMatchWc(st, key, base, wc);
      if (r >= 0 && (best < 0 || st.hitPrio > bestPrio)) { best = r; bestPrio = st.hitPrio; }
    }
    return best;
  }

  /**
   * find_match_wc(): the subtable's head rule for the key, or -1, ORing into
   * 'wc' what the answer depended on — the stages looked at; or, when the
   * prefix tries rule the subtable out at its L3 stage, the stages before it
   * plus the tries' 'maskbits' leading address bits; on a miss in a final
   * stage with ports, the ports trie's prefix of the port bits instead of all
   * of them. Small and monomorphic so that V8 inlines it into both callers.
   */
  private findMatchWc(st: Subtable, key: Uint32Array, base: number, wc: Uint32Array): number {
    const wm = st.wm, stg = st.stg, n = st.n, last = st.nStages - 1, trieStage = st.trieStage;
    let h = 0, i = 0;
    for (let g = 0; g < last; g++) {
      if (g === trieStage && this.checkTries(st, key, base, wc)) { st.fold(wc, i); return -1; }
      const end = stg[3 * g]!;
      for (; i < end; i++) h = mix(h, key[base + wm[2 * i]!]! & wm[2 * i + 1]!);
      if (!st.stageHas(g, fin(h))) { st.fold(wc, end); return -1; }
    }
    if (last === trieStage && this.checkTries(st, key, base, wc)) { st.fold(wc, i); return -1; }
    for (; i < n; i++) h = mix(h, key[base + wm[2 * i]!]! & wm[2 * i + 1]!);
    const r = st.probe(key, base, fin(h));
    if (r < 0 && st.portsTrie !== null) { this.foldPortsMiss(st, key, base, wc); return -1; }
    st.fold(wc, n);
    return r;
  }

  /**
   * Every rule of priority above 'floor' that matches the key, ORing into
   * 'wc' what OVS's classifier_lookup__ reads when it collects conjunctive
   * ("soft") matches: each subtable whose max priority is above 'floor' is
   * searched exactly as lookup() searches it, with no early stop at a match.
   * Returns rule ids, highest priority first (a chain's equal values in
   * insertion order). Slow path: allocates the result.
   */
  matchesAbove(key: Uint32Array, base: number, wc: Uint32Array, floor: number): number[] {
    const out: number[] = [];
    this.dstDone = false;
    this.srcDone = false;
    for (const st of this.subs) {
      if (st.maxPrio <= floor) break;
      for (let id = this.findMatchWc(st, key, base, wc); id >= 0 && this.prio[id]! > floor; id = this.next[id]!) out.push(id);
    }
    return out.sort((a, b) => this.prio[b]! - this.prio[a]!);
  }

  /** Rule 'id''s priority. */
  priorityOf(id: number): number { return this.prio[id]!; }
  /** Rule 'id''s payload. */
  payloadOf(id: number): T { return this.payloads[id] as T; }
  /** Rule 'id''s match, masked (a new copy, from the words the classifier keeps). */
  matchOf(id: number): Match | null {
    const st = this.ruleSub[id];
    if (st === undefined || st === null) return null;
    const v = this.valsOf(id, st.n);
    const m = new Match();
    for (let j = 0; j < st.n; j++) { m.value[st.idx[j]!] = v[j]!; m.mask[st.idx[j]!] = st.mask[j]!; }
    return m;
  }

  /**
   * A miss in subtable 'st''s final stage, which has ports: "Instead of
   * unwildcarding all the ports bits, use the ports trie to figure out a
   * smaller set of bits to unwildcard"; the rest of the final stage still
   * folds in full (OVS 489553b1c, which Debian's 3.1.0 carries).
   */
  private foldPortsMiss(st: Subtable, key: Uint32Array, base: number, wc: Uint32Array): void {
    const pm = st.portsMask, wm = st.wm, n = st.n;
    const value = ((((key[base + F_TP_SRC]! & 0xffff) << 16) | (key[base + F_TP_DST]! & 0xffff)) & pm) >>> 0;
    const keep = pm & prefixMask(st.portsTrie!.lookup(value));
    for (let j = 0; j < n; j++) {
      const w = wm[2 * j]!;
      const mw = w === F_TP_SRC ? (keep >>> 16) : w === F_TP_DST ? (keep & 0xffff) : wm[2 * j + 1]!;
      wc[w] = wc[w]! | mw;
    }
  }

  /**
   * check_tries(): true when the tries show that no rule of 'st' can match,
   * after ORing into 'wc' the trie's prefix bits (when they are no more than
   * the subtable would un-wildcard) or finding them already there. Looks each
   * trie up at most once per classifier lookup (OVS's on-demand trie_lookup,
   * which gives every length and skips nothing unless dl_type is IPv4: the
   * words are shared with ARP's spa/tpa).
   */
  private checkTries(st: Subtable, key: Uint32Array, base: number, wc: Uint32Array): boolean {
    const dst = st.plenDst;
    if (dst !== 0) {
      if (!this.dstDone) this.lookupDst(key, base);
      if (((this.dstPlens >>> (dst - 1)) & 1) === 0) {
        const pm = prefixMask(this.dstMaskbits);
        if (this.dstMaskbits <= dst) { wc[F_NW_DST] = wc[F_NW_DST]! | pm; return true; }
        if (((wc[F_NW_DST]! & pm) >>> 0) === pm) return true;
      }
    }
    const src = st.plenSrc;
    if (src !== 0) {
      if (!this.srcDone) this.lookupSrc(key, base);
      if (((this.srcPlens >>> (src - 1)) & 1) === 0) {
        const pm = prefixMask(this.srcMaskbits);
        if (this.srcMaskbits <= src) { wc[F_NW_SRC] = wc[F_NW_SRC]! | pm; return true; }
        if (((wc[F_NW_SRC]! & pm) >>> 0) === pm) return true;
      }
    }
    return false;
  }

  /** trie_lookup() on nw_dst, once per classifier lookup: all lengths unless dl_type is IPv4. */
  private lookupDst(key: Uint32Array, base: number): void {
    this.dstDone = true;
    if (key[base + F_DL_TYPE] === ETH_TYPE_IP) {
      this.dstMaskbits = this.trieDst.lookup(key[base + F_NW_DST]!);
      this.dstPlens = this.trieDst.plens;
    } else {
      this.dstMaskbits = 0;
      this.dstPlens = -1;
    }
  }

  /** trie_lookup() on nw_src, once per classifier lookup: all lengths unless dl_type is IPv4. */
  private lookupSrc(key: Uint32Array, base: number): void {
    this.srcDone = true;
    if (key[base + F_DL_TYPE] === ETH_TYPE_IP) {
      this.srcMaskbits = this.trieSrc.lookup(key[base + F_NW_SRC]!);
      this.srcPlens = this.trieSrc.plens;
    } else {
      this.srcMaskbits = 0;
      this.srcPlens = -1;
    }
  }

  /**
   * The subtable of 'mask' found by comparing words, without building its key: a table of a few
   * masks (most of a pipeline's) takes many inserts in a row. undefined: look it up by key.
   */
  private subtableOf(mask: Uint32Array): Subtable | undefined {
    if (this.subs.length > SUBTABLE_SCAN) return undefined;
    let n = 0;
    for (let w = 0; w < FLOW_WORDS; w++) if (mask[w] !== 0) n++;
    for (const st of this.subs) {
      if (st.n !== n) continue;
      let j = 0;
      while (j < n && mask[st.idx[j]!] === st.mask[j]) j++;
      if (j === n) return st;
    }
    return undefined;
  }

  private compact(st: Subtable, m: Match): Uint32Array {
    const v = SCRATCH;
    for (let j = 0; j < st.n; j++) v[j] = m.value[st.idx[j]!]! & st.mask[j]!;
    return v;
  }

  /** Keep rule 'id''s 'n' value words 'v' in the arena (reclaiming removed rules' words, or growing, when full). */
  private storeVals(id: number, v: Uint32Array, n: number): void {
    if (this.valsUsed + n > this.vals.length) {
      const live = this.valsLive + n;
      let cap = Math.max(this.vals.length, 16);
      while (cap < 2 * live) cap *= 2;
      const out = new Uint32Array(cap);
      let used = 0;
      for (let r = 0; r < this.nextId; r++) {
        const s = this.ruleSub[r];
        if (s === undefined || s === null || r === id) continue;
        const o = this.valOff[r]!;
        for (let j = 0; j < s.n; j++) out[used + j] = this.vals[o + j]!;
        this.valOff[r] = used;
        used += s.n;
      }
      this.vals = out;
      this.valsUsed = used;
    }
    const o = this.valsUsed;
    for (let j = 0; j < n; j++) this.vals[o + j] = v[j]!;
    this.valOff[id] = o;
    this.valsUsed += n;
    this.valsLive += n;
  }

  /** Rule 'id''s 'n' value words (in VALS_OUT: read them before the next call). */
  private valsOf(id: number, n: number): Uint32Array {
    const o = this.valOff[id]!;
    for (let j = 0; j < n; j++) VALS_OUT[j] = this.vals[o + j]!;
    return VALS_OUT;
  }

  private allocId(): number {
    const f = this.freeIds.pop();
    if (f !== undefined) return f;
    const id = this.nextId++;
    if (id >= this.prio.length) {
      const grow = <A extends Int32Array>(a: A, mk: (n: number) => A): A => { const b = mk(Math.max(a.length * 2, FIRST_RULES)); b.set(a); return b; };
      this.prio = grow(this.prio, (n) => new Int32Array(n));
      this.next = grow(this.next, (n) => new Int32Array(n));
      this.valOff = grow(this.valOff, (n) => new Int32Array(n));
    }
    return id;
  }

  private sortSubtables(): void {
    this.subs.sort((a, b) => (b.maxPrio - a.maxPrio) || (a.created - b.created));
  }
}
