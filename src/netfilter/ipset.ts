/**
 * IP sets (netfilter layer): the kernel's ip_set types that kube-proxy and
 * iptables `-m set --match-set` use, their `ipset save` / `ipset restore`
 * text, `ipset test`, and an allocation-free packet test. Set management is
 * slow path; `matchesSet()` is fast path (run per packet by the rule
 * evaluator).
 *
 * What: an `Ipsets` registry (one per network namespace, as in the kernel)
 * holding named sets of the types
 *   hash:ip            ip                     (dimension 1)
 *   hash:net           net/cidr               (dimension 1)
 *   hash:ip,port       ip,proto:port          (dimension 2; KUBE-CLUSTER-IP,
 *                                              KUBE-EXTERNAL-IP, KUBE-LOAD-BALANCER…)
 *   hash:ip,port,ip    ip,proto:port,ip       (dimension 3; KUBE-LOOP-BACK,
 *                                              KUBE-LOAD-BALANCER-SOURCE-IP)
 *   hash:ip,port,net   ip,proto:port,net/cidr (dimension 3;
 *                                              KUBE-LOAD-BALANCER-SOURCE-CIDR)
 *   bitmap:port        [proto:]port in a range (dimension 1; KUBE-NODE-PORT-*)
 * (and ipset's old names iphash, nethash, ipporthash, ipportiphash,
 * ipportnethash, portmap) with create/add/del/test/flush/destroy/swap/rename
 * as the `ipset` tool, and the create options family inet, hashsize,
 * maxelem, bucketsize, initval, range, timeout, counters, comment, and the
 * member options timeout, packets, bytes, comment, nomatch.
 *
 * Checked against Linux 6.18's ip_set and ipset 7.17 in network namespaces
 * (test/netfilter/ipset-kernel.test.ts: `ipset restore` + `ipset save`,
 * `ipset test`, packets through `-m set` rules, refused inputs):
 *  - Save text: the sets in kernel index order (a destroyed set's index is
 *    reused by the next create), each a `create` line then its `add` lines.
 *    Hash sets print `family inet hashsize H maxelem M [timeout T]
 *    [counters] [comment] bucketsize B initval 0xXXXXXXXX`: hashsize rounded
 *    up to a power of two ≥ 64, bucketsize clamped to 2..12 and rounded up
 *    to even (default 12). bitmap:port prints `range A-B [timeout T]
 *    [counters] [comment]`. Members print `ELEM [timeout T] [nomatch]
 *    [packets P bytes B] [comment "C"]`; a bare port is tcp, protocol
 *    numbers print as names, a /32 net prints bare, nets are masked
 *    (10.1.2.3/8 → 10.0.0.0/8).
 *  - Member order: bitmap:port ascending (as the kernel walks its bitmap);
 *    hash sets in insertion order — the kernel prints them in bucket order
 *    of a jhash seeded with initval, so compare hash sets' members sorted.
 *  - Numbers are C `strtoul(…, 0)`: 0x hex and leading-0 octal are accepted
 *    (`range 0x10-020` is 16-16); errors "'x' is invalid as number" and
 *    "'N' is out of range 0-MAX".
 *  - Add expands ranges: hash:ip `a-b` (reversed is swapped) and `ip/cidr`
 *    to addresses; hash:net `a-b` (and hash:ip,port,net's third part) to the
 *    fewest covering CIDRs; `proto:a-b` ports (reversed swapped). Elements
 *    are added in order until one fails, and the ones before stay (a range
 *    past maxelem fills the set, then "Hash is full"). 0.0.0.0 is refused
 *    by hash:ip and hash:ip,port ("Null-valued element…").
 *  - nomatch (hash:net, hash:ip,port,net only): a packet or `ipset test` of
 *    an address walks the stored prefix lengths from the most specific and
 *    the FIRST stored entry that contains it decides: a nomatch entry means
 *    "not in the set" (ip_set_hash_gen.h mtype_test_cidrs). `ipset test` of
 *    a net (cidr < 32) looks up exactly that entry. `test … nomatch` and
 *    `--return-nomatch` invert the answer of nets (IPSET_FLAG_RETURN_NOMATCH
 *    in ip_set_test).
 *  - `ipset test` of hash:ip takes the first address as written
 *    (`10.0.0.1/31` tests 10.0.0.1); hash:ip,port* refuse an IP range or
 *    CIDR (even /32) in the first part and a port range, hash:net an IP
 *    range; hash:ip,port,net tests a range in its net part as its first
 *    address; bitmap:port ignores the protocol and says "not in set"
 *    outside the range (add there is an error).
 *  - Packets: fewer direction flags than the set's dimension never match
 *    (ip_set_test: `opt->dim < set->type->dimension`), extra flags are
 *    ignored; dimension i reads the side its flag i names. hash:ip,port*
 *    compare the protocol number (ports are 0 for protocols without ports);
 *    bitmap:port matches TCP and UDP packets only (ip_set_get_ip_port), and
 *    takes only tcp and udp elements; a later fragment of TCP, UDP, SCTP,
 *    UDP-Lite or ICMP never matches a type with ports (ip_set_get_ip4_port).
 *  - Counters (`-m set` on a set created with `counters`; xt_set revision 4,
 *    ip_set_match_extensions): each member the packet test finds gets 1
 *    packet and the IP total length added FIRST, then `--packets-eq/lt/gt`
 *    and `--bytes-eq/lt/gt` (`! --…-eq`: not equal) are checked on the new
 *    values; `! --update-counters` skips the update. A member failing them
 *    is passed over: a net type walks on to the next stored prefix and
 *    counts that entry too, nomatch entries alike. A set without counters
 *    ignores the conditions; `ipset test` neither counts nor checks.
 *  - `-exist`: re-adding replaces the member's nomatch, timeout and comment
 *    (dropped when not given) and the counters given; `create` of an
 *    existing set succeeds when type, maxelem, timeout, counters, comment
 *    (and range) match — hashsize, bucketsize and initval may differ
 *    (mtype_same_set). In `ipset restore` only the global flag
 *    (`restore(text, { exist: true })`, `ipset -exist restore`) counts: a
 *    per-line `-exist` is ignored, as ipset 7.17 does.
 *  - Errors use ipset's words and carry the restore line. ipset prints
 *    "Error in line N:" for most errors but none for usage errors (unknown
 *    or missing argument, `range 5`); the command that failed is still
 *    that line.
 *  - What a failed `ipset restore` leaves: ipset sends consecutive add (or
 *    del) lines of one set as one batch, when a line of another command or
 *    set comes or the input ends. An error ipset finds itself (syntax,
 *    usage, add to an unknown set) drops the unsent batch; an error the
 *    kernel finds (already added, not added, full, an extension the set
 *    lacks, 0.0.0.0, /0, out of a bitmap's range) is reported when the
 *    batch is sent, the batch's elements before it applied — unless a later
 *    line of the batch has an error of the first kind. Other commands stay
 *    applied (see `restore()`).
 * Deliberate differences: no clock, so member timeouts never run down or
 * expire (`save` prints the timeout as set; the kernel prints the seconds
 * left); counters are numbers, exact up to 2^53 (the kernel's are u64);
 * initval is drawn
 * from a seeded generator (the kernel's is random); hashsize is never grown
 * (the kernel doubles it when a bucket overflows, which depends on initval);
 * a `test` line in a restore file does not end the restore (ipset 7.17
 * stops reading after a test, silently when it succeeded); ipset also sends
 * a batch when its message buffer fills, which is not modelled; IPv6
 * (family inet6), protocols other than tcp, udp, sctp, udplite, service
 * names, the other set types (hash:net,port, list:set, …) and
 * skbinfo/forceadd/netmask are refused as unsupported; ranges of more than
 * 2^22 elements that maxelem would not stop are refused.
 * Invariants: member keys live in an open-addressed table of uint32 words
 * (`WordKeyTable`, also used by ipvs.ts for its connection table) or in the
 * bitmap, with the value `id * 4 + kind` (kind MEMBER_MATCH or
 * MEMBER_NOMATCH; `byId[id]` is the member's extensions, the same object as
 * in `members`, which holds the same elements by text); the per-set `cidrs`
 * list is the set of prefix lengths present, most specific first, kept
 * exact on add/del.
 * Cost per `matchesSet()`: a hash of ≤3 words per probe; hash:net and
 * hash:ip,port,net probe once per distinct prefix length stored; on a set
 * with counters, two additions per member found (and a number–bigint
 * compare per condition). Allocates nothing. `restore()` keeps one undo closure per member changed by the
 * pending batch, and copies the sets (save + restore) only on the error
 * path of a batch that holds a kernel error.
 * Neighbours: the iptables evaluator's `-m set` match (model.ts `kind:'set'`,
 * restore.ts parses it, save.ts prints it, stack.ts checks the sets exist);
 * ipvs.ts for kube-proxy's IPVS mode.
 */
import { SdnemuError } from '../errors.js';
import { hashFinishI32, mhashAddI32 } from '../flow/hash.js';
import { ipv4ToString, parseIpv4Dotted } from '../wire/bytes.js';
import type { SetCounterMatch } from './model.js';

/** An error in an ipset command or restore line; 'line' is 1-based, 0 when not from text. */
export class IpsetError extends SdnemuError {
  readonly line: number;
  readonly set: string;
  constructor(code: string, line: number, set: string, message: string) {
    super(code, line > 0 ? `Error in line ${line}: ${message}` : message);
    this.name = 'IpsetError';
    this.line = line;
    this.set = set;
  }
  override location(): Record<string, string | number> {
    return { line: this.line, set: this.set };
  }
}

// ---------------------------------------------------------------------------
// WordKeyTable: open addressing over keys of K uint32 words

const EMPTY_SLOT = -1;

/**
 * A hash table from keys of 'words' uint32 words to int32 values, stored
 * struct-of-arrays; linear probing, backward-shift deletion (no tombstones),
 * doubling when 3/4 full. `get()` allocates nothing.
 */
export class WordKeyTable {
  readonly words: number;
  private mask: number;
  private slots: Int32Array;      // entry index or EMPTY_SLOT
  private keys: Uint32Array;      // entry-major, 'words' per entry
  private vals: Int32Array;
  private hashes: Uint32Array;
  private free: number[] = [];
  private top = 0;                // entries ever used
  size = 0;

  constructor(words: number, initialSlots = 64) {
    this.words = words;
    let cap = 16;
    while (cap < initialSlots) cap <<= 1;
    this.mask = cap - 1;
    this.slots = new Int32Array(cap).fill(EMPTY_SLOT);
    this.keys = new Uint32Array((cap >> 1) * words + words);
    this.vals = new Int32Array((cap >> 1) + 1);
    this.hashes = new Uint32Array((cap >> 1) + 1);
  }

  static hash(a: number, b: number, c: number, d: number): number {
    return hashFinishI32(mhashAddI32(mhashAddI32(mhashAddI32(mhashAddI32(0, a), b), c), d), 16) >>> 0;
  }

  /** The slot holding the key, or the empty slot that ends its probe sequence. */
  private find(h: number, a: number, b: number, c: number, d: number): number {
    const slots = this.slots, mask = this.mask;
    let i = h & mask;
    for (;;) {
      const e = slots[i]!;
      if (e === EMPTY_SLOT || (this.hashes[e] === h && this.eq(e, a, b, c, d))) return i;
      i = (i + 1) & mask;
    }
  }

  private eq(e: number, a: number, b: number, c: number, d: number): boolean {
    const k = this.keys, o = e * this.words, w = this.words;
    if (k[o] !== a >>> 0) return false;
    if (w > 1 && k[o + 1] !== b >>> 0) return false;
    if (w > 2 && k[o + 2] !== c >>> 0) return false;
    if (w > 3 && k[o + 3] !== d >>> 0) return false;
    return true;
  }

  /** The value stored for key ('a','b','c','d'; unused words 0), or -1. */
  get(a: number, b: number, c: number, d: number): number {
    const e = this.slots[this.find(WordKeyTable.hash(a, b, c, d), a, b, c, d)]!;
    return e === EMPTY_SLOT ? -1 : this.vals[e]!;
  }

  /** Sets the value for a key; returns false when the key was already present (value replaced). */
  set(a: number, b: number, c: number, d: number, v: number): boolean {
    const h = WordKeyTable.hash(a, b, c, d);
    const i = this.find(h, a, b, c, d);
    if (this.slots[i] !== EMPTY_SLOT) { this.vals[this.slots[i]!] = v; return false; }
    if ((this.size + 1) * 4 > (this.mask + 1) * 3) { this.grow(); return this.set(a, b, c, d, v); }
    const e = this.free.length > 0 ? this.free.pop()! : this.top++;
    this.ensureEntries(e + 1);
    const o = e * this.words;
    this.keys[o] = a; if (this.words > 1) this.keys[o + 1] = b;
    if (this.words > 2) this.keys[o + 2] = c; if (this.words > 3) this.keys[o + 3] = d;
    this.vals[e] = v; this.hashes[e] = h;
    this.slots[i] = e;
    this.size++;
    return true;
  }

  /** Removes a key; returns its value or -1 when absent. */
  delete(a: number, b: number, c: number, d: number): number {
    const mask = this.mask, slots = this.slots;
    let i = this.find(WordKeyTable.hash(a, b, c, d), a, b, c, d);
    const e = slots[i]!;
    if (e === EMPTY_SLOT) return -1;
    const v = this.vals[e]!;
    this.free.push(e);
    this.size--;
    // backward-shift: pull later members of the cluster into the hole
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const f = slots[j]!;
      if (f === EMPTY_SLOT) break;
      const home = this.hashes[f]! & mask;
      const between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
      if (!between) { slots[i] = f; i = j; }
    }
    slots[i] = EMPTY_SLOT;
    return v;
  }

  clear(): void {
    this.slots.fill(EMPTY_SLOT);
    this.free = [];
    this.top = 0;
    this.size = 0;
  }

  private ensureEntries(n: number): void {
    if (n <= this.vals.length) return;
    const cap = Math.max(n, this.vals.length * 2);
    const k = new Uint32Array(cap * this.words); k.set(this.keys); this.keys = k;
    const v = new Int32Array(cap); v.set(this.vals); this.vals = v;
    const hs = new Uint32Array(cap); hs.set(this.hashes); this.hashes = hs;
  }

  private grow(): void {
    const cap = (this.mask + 1) * 2;
    this.mask = cap - 1;
    this.slots = new Int32Array(cap).fill(EMPTY_SLOT);
    const live = new Uint8Array(this.top).fill(1);
    for (const f of this.free) live[f] = 0;
    for (let e = 0; e < this.top; e++) {
      if (live[e] === 0) continue;
      let i = this.hashes[e]! & this.mask;
      while (this.slots[i] !== EMPTY_SLOT) i = (i + 1) & this.mask;
      this.slots[i] = e;
    }
  }
}


// ---------------------------------------------------------------------------
// types, options and members

export type IpsetType = 'hash:ip' | 'hash:net' | 'hash:ip,port' | 'hash:ip,port,ip' | 'hash:ip,port,net' | 'bitmap:port';
export const IPSET_TYPES: readonly IpsetType[] = ['hash:ip', 'hash:net', 'hash:ip,port', 'hash:ip,port,ip', 'hash:ip,port,net', 'bitmap:port'];
const DIMENSION: Readonly<Record<IpsetType, number>> = {
  'hash:ip': 1, 'hash:net': 1, 'hash:ip,port': 2, 'hash:ip,port,ip': 3, 'hash:ip,port,net': 3, 'bitmap:port': 1,
};
/** ipset's old type names; `ipset save` prints the new one. */
const TYPE_ALIASES: ReadonlyMap<string, IpsetType> = new Map([
  ['iphash', 'hash:ip'], ['nethash', 'hash:net'], ['ipporthash', 'hash:ip,port'], ['ipportiphash', 'hash:ip,port,ip'],
  ['ipportnethash', 'hash:ip,port,net'], ['portmap', 'bitmap:port'],
]);
/** Types Linux and ipset 7.17 have that sdnemu does not model. */
const OTHER_KERNEL_TYPES: ReadonlySet<string> = new Set([
  'bitmap:ip', 'bitmap:ip,mac', 'hash:ip,mac', 'hash:ip,mark', 'hash:mac', 'hash:net,iface', 'hash:net,net', 'hash:net,port',
  'hash:net,port,net', 'list:set', 'ipmap', 'macipmap', 'setlist',
]);

export const IPPROTO_TCP = 6, IPPROTO_UDP = 17, IPPROTO_SCTP = 132, IPPROTO_UDPLITE = 136;
const PROTO_BY_NAME: ReadonlyMap<string, number> = new Map([['tcp', 6], ['udp', 17], ['sctp', 132], ['udplite', 136]]);
const PROTO_NAME: ReadonlyMap<number, string> = new Map([[6, 'tcp'], [17, 'udp'], [132, 'sctp'], [136, 'udplite']]);
/** /etc/protocols names ipset accepts in hash:ip,port elements that sdnemu does not model. */
const OTHER_PROTO_NAMES: ReadonlySet<string> = new Set([
  'icmp', 'igmp', 'ipencap', 'ipip', 'egp', 'pup', 'idp', 'dccp', 'rsvp', 'gre', 'esp', 'ah', 'ipv6-icmp', 'icmpv6', 'ospf',
  'pim', 'vrrp', 'l2tp', 'ipv6', 'mpls-in-ip', 'ethernet',
]);

/**
 * Member kinds. A member's value in `IpSet.table` and `IpSet.bitmap` is
 * `id * 4 + kind`, 'id' its index in `IpSet.byId` (so a packet reaches the
 * member's counters without a lookup by text); a value ≤ 0 is no member.
 */
export const MEMBER_MATCH = 1, MEMBER_NOMATCH = 2;
const KIND_MASK = 3;

/** Create options as `ipset create` takes them; absent ones take ipset's defaults. */
export interface IpsetCreateOptions {
  hashsize?: number;
  maxelem?: number;
  /** bitmap:port: the inclusive port range (required; a reversed one is swapped) */
  range?: { min: number; max: number };
  /** default timeout of members, seconds (0..2147483; 0 = permanent) */
  timeout?: number;
  counters?: boolean;
  comment?: boolean;
  bucketsize?: number;
  initval?: number;
}

/** The options a set holds, canonical as the kernel keeps them (and `ipset save` prints them). */
export interface IpsetSetOptions {
  /** hash types: a power of two ≥ 64; bitmap:port: 0 */
  hashsize: number;
  maxelem: number;
  /** hash types: even, 2..12; bitmap:port: 0 */
  bucketsize: number;
  /** hash types: the jhash seed, uint32 */
  initval: number;
  /** bitmap:port only */
  range: { min: number; max: number } | null;
  /** default member timeout in seconds; -1: the set has no timeout support */
  timeout: number;
  counters: boolean;
  comment: boolean;
}

/** A member's extensions as `ipset save` prints them. */
export interface IpsetMember {
  nomatch: boolean;
  /** seconds as given (never runs down here); -1 when the set has no timeouts */
  timeout: number;
  /** counters (sets with `counters`): as added, then counted by `-m set` (see `matchesSet`) */
  packets: number;
  bytes: number;
  /** '' when none */
  comment: string;
}

/**
 * A packet as `-m set` sees it: addresses as uint32, ports host order,
 * protocol number; 'fragment': a later fragment (offset > 0), whose ports
 * are unknown; 'length': the IP total length (skb->len), what a member's
 * byte counter adds (0 when absent). eval.ts's NfPacket carries all of these.
 */
export interface IpsetPacket { src: number; dst: number; proto: number; sport: number; dport: number; fragment?: boolean; length?: number }

/**
 * The options of `-m set --match-set` that change the packet test (xt_set
 * revision 4; model.ts's `kind: 'set'` match has these fields). Absent
 * fields take iptables' defaults: no --return-nomatch, counters updated, no
 * counter conditions.
 */
export interface SetMatchOptions {
  /** --return-nomatch: a nomatch member answers "in the set", a member "not in the set" (nomatch types only) */
  returnNomatch?: boolean;
  /** false: `! --update-counters`, the member's counters are not updated */
  updateCounters?: boolean;
  /** --packets-eq/lt/gt (`! --packets-eq` is 'ne'); null: none */
  packets?: SetCounterMatch | null;
  /** --bytes-eq/lt/gt (`! --bytes-eq` is 'ne'); null: none */
  bytes?: SetCounterMatch | null;
}

/** `matchesSet`'s default options: `-m set --match-set NAME FLAGS` alone. */
const PLAIN_MATCH: SetMatchOptions = {};

export type MatchDir = 'src' | 'dst';

/**
 * One named set. Members are held both as text with their extensions (for
 * save, in insertion order) and in the typed table or bitmap (for matching),
 * whose value `id * 4 + kind` names the same `IpsetMember` object in `byId`.
 * Table keys: hash:ip (ip); hash:net (net, cidr); hash:ip,port (ip,
 * proto<<16|port); hash:ip,port,ip (ip, proto<<16|port, ip2);
 * hash:ip,port,net (ip, cidr<<24|proto<<16|port, net).
 */
export class IpSet {
  name: string;
  readonly type: IpsetType;
  readonly dimension: number;
  readonly opts: IpsetSetOptions;
  /** the types with nomatch and prefix walks (hash:net, hash:ip,port,net) */
  readonly hasNets: boolean;
  /** kernel components (iptables rules) holding the set */
  refs = 0;
  /** canonical member text → extensions, in insertion order */
  readonly members = new Map<string, IpsetMember>();
  readonly table: WordKeyTable;
  /** bitmap:port membership, one member value per port (0: none) */
  readonly bitmap: Int32Array;
  /** the members by id (null: a free id, reused first) */
  readonly byId: (IpsetMember | null)[] = [];
  readonly freeIds: number[] = [];
  /** prefix lengths present (hash:net: dim 0; hash:ip,port,net: dim 2), most specific first */
  cidrs = new Int8Array(0);
  private readonly cidrCount = new Int32Array(33);

  constructor(name: string, type: IpsetType, opts: IpsetSetOptions) {
    this.name = name;
    this.type = type;
    this.dimension = DIMENSION[type];
    this.opts = opts;
    this.hasNets = type === 'hash:net' || type === 'hash:ip,port,net';
    this.table = new WordKeyTable(3);
    this.bitmap = new Int32Array(type === 'bitmap:port' ? 65536 : 0);
  }

  countCidr(cidr: number, delta: number): void {
    this.cidrCount[cidr] = this.cidrCount[cidr]! + delta;
    const list: number[] = [];
    for (let c = 32; c >= 1; c--) if (this.cidrCount[c]! > 0) list.push(c);
    this.cidrs = Int8Array.from(list);
  }

  clear(): void {
    this.members.clear();
    this.table.clear();
    this.bitmap.fill(0);
    this.byId.length = 0;
    this.freeIds.length = 0;
    this.cidrCount.fill(0);
    this.cidrs = new Int8Array(0);
  }
}

// ---------------------------------------------------------------------------
// element text

/** One element: up to three key words (see IpSet), its prefix length and canonical text. */
interface Element { a: number; b: number; c: number; cidr: number; text: string }

interface Net { net: number; cidr: number }

/** A parsed add/del element before expansion: ranges per dimension. */
interface ElementSpec {
  ipLo: number; ipHi: number;
  proto: number; portLo: number; portHi: number;
  /** hash:net dim 0, hash:ip,port,net dim 2 */
  nets: Net[];
  /** hash:ip,port,ip dim 2 */
  ip2: number;
  count: number;
}

function prefixMask(cidr: number): number {
  return cidr === 0 ? 0 : (0xffffffff << (32 - cidr)) >>> 0;
}

/** The fewest CIDRs covering lo..hi, lowest first (ip_set_range_to_cidr). */
function rangeToCidrs(lo: number, hi: number): Net[] {
  const out: Net[] = [];
  let a = lo;
  while (a <= hi) {
    let cidr = 32;
    while (cidr > 0) {
      const size = 2 ** (33 - cidr);
      if (a % size !== 0 || a + size - 1 > hi) break;
      cidr--;
    }
    out.push({ net: a, cidr });
    a += 2 ** (32 - cidr);
  }
  return out;
}

/** Elements one add/del may expand to when maxelem would not stop it first. */
const MAX_EXPAND = 1 << 22;

/**
 * C `strtoul(s, &end, 0)` with the whole word consumed: decimal, 0x hex or
 * leading-0 octal; 'range' for a negative number or one above 'max'.
 */
function parseUlong(s: string, max: number): number | 'invalid' | 'range' {
  let v: number;
  if (/^0[xX][0-9a-fA-F]+$/.test(s)) v = parseInt(s.slice(2), 16);
  else if (/^0[0-7]*$/.test(s)) v = parseInt(s, 8);
  else if (/^[1-9][0-9]*$/.test(s)) v = Number(s);
  else if (/^-[0-9]+$/.test(s)) return 'range';
  else return 'invalid';
  return v > max ? 'range' : v;
}

class ElementParser {
  constructor(private readonly line: number, private readonly set: string) {}

  fail(code: string, msg: string): never {
    throw new IpsetError(code, this.line, this.set, msg);
  }

  num(s: string, max: number): number {
    const v = parseUlong(s, max);
    if (v === 'invalid') this.fail('IPSET_BAD_NUMBER', `Syntax error: '${s}' is invalid as number`);
    if (v === 'range') this.fail('IPSET_NUMBER_RANGE', `Syntax error: '${s}' is out of range 0-${max}`);
    return v;
  }

  ip(s: string, whole = s): number {
    const v = parseIpv4Dotted(s);
    if (v === null) this.fail('IPSET_BAD_IP', `Syntax error: cannot parse ${whole}: resolving to IPv4 address failed`);
    return v;
  }

  cidr(s: string, whole: string): number {
    if (s === '') this.ip('', whole);
    const c = this.num(s, 32);
    if (c === 0) this.fail('IPSET_BAD_CIDR', 'The value of the CIDR parameter of the IP address is invalid');
    return c;
  }

  /** `ip`, `a-b` (swapped when reversed) or `ip/cidr` as an address range; 'first' is the address as written. */
  ipRange(s: string): { lo: number; hi: number; first: number; kind: 'single' | 'range' | 'cidr' } {
    const dash = s.indexOf('-');
    if (dash >= 0) {
      const a = this.ip(s.slice(0, dash), s), b = this.ip(s.slice(dash + 1), s);
      return { lo: Math.min(a, b), hi: Math.max(a, b), first: a, kind: 'range' };
    }
    const slash = s.indexOf('/');
    if (slash >= 0) {
      const ip = this.ip(s.slice(0, slash), s);
      const c = this.cidr(s.slice(slash + 1), s);
      const lo = (ip & prefixMask(c)) >>> 0;
      return { lo, hi: (lo | ~prefixMask(c)) >>> 0, first: ip, kind: c === 32 ? 'single' : 'cidr' };
    }
    const ip = this.ip(s);
    return { lo: ip, hi: ip, first: ip, kind: 'single' };
  }

  /** `ip` (/32), `ip/cidr` (masked) or `a-b` (the covering CIDRs). */
  nets(s: string): { nets: Net[]; kind: 'single' | 'range' | 'cidr'; first: number } {
    const dash = s.indexOf('-');
    if (dash >= 0) {
      const a = this.ip(s.slice(0, dash), s), b = this.ip(s.slice(dash + 1), s);
      return { nets: rangeToCidrs(Math.min(a, b), Math.max(a, b)), kind: 'range', first: a };
    }
    const slash = s.indexOf('/');
    if (slash >= 0) {
      const ip = this.ip(s.slice(0, slash), s);
      const c = this.cidr(s.slice(slash + 1), s);
      return { nets: [{ net: (ip & prefixMask(c)) >>> 0, cidr: c }], kind: c === 32 ? 'single' : 'cidr', first: ip };
    }
    const ip = this.ip(s);
    return { nets: [{ net: ip, cidr: 32 }], kind: 'single', first: ip };
  }

  port(s: string, protoName: string): number {
    const v = parseUlong(s, 65535);
    if (v === 'range') this.fail('IPSET_BAD_PORT', `Syntax error: '${s}' is out of range 0-65535`);
    if (v === 'invalid') {
      if (/^[a-z][a-z0-9-]*$/i.test(s)) this.fail('IPSET_UNSUPPORTED', `service name '${s}' is not supported by sdnemu: give the port number`);
      this.fail('IPSET_BAD_PORT', `Syntax error: cannot parse '${s}' as a ${protoName} port`);
    }
    return v;
  }

  /** `[proto:]port[-port]` (a bare port is tcp; reversed ranges swapped); bitmap:port takes tcp and udp only. */
  protoPorts(s: string, bitmap = false): { proto: number; lo: number; hi: number; range: boolean } {
    let proto = IPPROTO_TCP;
    const colon = s.indexOf(':');
    let ps = s;
    if (colon >= 0) {
      const name = s.slice(0, colon).toLowerCase();
      ps = s.slice(colon + 1);
      const byNum = /^\d+$/.test(name) ? Number(name) : -1;
      const p = byNum >= 0 ? (PROTO_NAME.has(byNum) ? byNum : undefined) : PROTO_BY_NAME.get(name);
      if (p === undefined) {
        if ((byNum >= 0 && byNum <= 255) || OTHER_PROTO_NAMES.has(name)) {
          this.fail('IPSET_UNSUPPORTED', `protocol '${name}' is not supported by sdnemu (tcp, udp, sctp, udplite)`);
        }
        this.fail('IPSET_BAD_PROTO', `Syntax error: cannot parse '${name}' as a protocol`);
      }
      proto = p;
      if (bitmap && p !== IPPROTO_TCP && p !== IPPROTO_UDP) this.fail('IPSET_BAD_PROTO', 'Syntax error: Only protocols TCP and UDP are valid');
    }
    const pname = PROTO_NAME.get(proto)!;
    const dash = ps.indexOf('-');
    if (dash < 0) { const v = this.port(ps, pname); return { proto, lo: v, hi: v, range: false }; }
    const a = this.port(ps.slice(0, dash), pname), b = this.port(ps.slice(dash + 1), pname);
    return { proto, lo: Math.min(a, b), hi: Math.max(a, b), range: true };
  }

  /** The comma-separated parts of 'text', exactly 'set.dimension' of them. */
  parts(set: IpSet, text: string): string[] {
    const parts = text.split(',');
    const d = set.dimension;
    if (parts.length > d) {
      const seps = ['', 'Elem separator', 'Two elem separators', 'Three elem separators'][parts.length - 1] ?? 'Too many elem separators';
      this.fail('IPSET_BAD_ELEMENT', `Syntax error: ${seps} in ${text}, but settype ${set.type} supports ${['none', 'one', 'two'][d - 1]}.`);
    }
    if (parts.length < d) this.fail('IPSET_BAD_ELEMENT', `Syntax error: ${parts.length === 1 ? 'Second' : 'Third'} element is missing from ${text}.`);
    return parts;
  }

  plainIp(s: string): number {
    if (s.includes('/') || s.includes('-')) this.fail('IPSET_BAD_ELEMENT', `Syntax error: plain IP address must be supplied: ${s}`);
    return this.ip(s);
  }
}

function portText(proto: number, port: number): string {
  return `${PROTO_NAME.get(proto) ?? String(proto)}:${port}`;
}

function netText(net: number, cidr: number): string {
  return cidr === 32 ? ipv4ToString(net) : `${ipv4ToString(net)}/${cidr}`;
}

/** Parses an add/del element of 'set' into its ranges; throws IpsetError naming 'line'. */
function parseSpec(set: IpSet, text: string, line: number): ElementSpec {
  const p: ElementParser = new ElementParser(line, set.name);
  const parts = p.parts(set, text);
  const spec: ElementSpec = { ipLo: 0, ipHi: 0, proto: 0, portLo: 0, portHi: 0, nets: [], ip2: 0, count: 1 };
  switch (set.type) {
    case 'hash:ip': {
      const r = p.ipRange(parts[0]!);
      spec.ipLo = r.lo; spec.ipHi = r.hi;
      break;
    }
    case 'hash:net':
      spec.nets = p.nets(parts[0]!).nets;
      break;
    case 'bitmap:port': {
      const pp = p.protoPorts(parts[0]!, true);
      const r = set.opts.range!;
      if (pp.lo < r.min || pp.hi > r.max) p.fail('IPSET_OUT_OF_RANGE', 'Element is out of the range of the set');
      spec.portLo = pp.lo; spec.portHi = pp.hi;
      break;
    }
    case 'hash:ip,port':
    case 'hash:ip,port,ip':
    case 'hash:ip,port,net': {
      const r = p.ipRange(parts[0]!);
      const pp = p.protoPorts(parts[1]!);
      spec.ipLo = r.lo; spec.ipHi = r.hi; spec.proto = pp.proto; spec.portLo = pp.lo; spec.portHi = pp.hi;
      if (set.type === 'hash:ip,port,ip') spec.ip2 = p.plainIp(parts[2]!);
      if (set.type === 'hash:ip,port,net') spec.nets = p.nets(parts[2]!).nets;
      break;
    }
  }
  const ips = set.type === 'hash:net' || set.type === 'bitmap:port' ? 1 : spec.ipHi - spec.ipLo + 1;
  const ports = set.type === 'hash:ip' || set.type === 'hash:net' ? 1 : spec.portHi - spec.portLo + 1;
  spec.count = ips * ports * Math.max(1, spec.nets.length);
  return spec;
}

/** The elements of 'spec' in the kernel's order (address, then port, then net). */
function* expand(set: IpSet, spec: ElementSpec, line: number): Generator<Element> {
  // 0.0.0.0 is refused by hash:ip and hash:ip,port only (hash:ip,port,ip and hash:ip,port,net take it)
  const nullIp = (): never => {
    if (set.type === 'hash:ip') throw new IpsetError('IPSET_NULL_ELEMENT', line, set.name, 'Null-valued element, cannot be stored in a hash type of set');
    throw new IpsetError('IPSET_NULL_ELEMENT', line, set.name, 'Kernel error received: Invalid argument');
  };
  switch (set.type) {
    case 'hash:ip':
      for (let ip = spec.ipLo; ip <= spec.ipHi; ip++) {
        if (ip === 0) nullIp();
        yield { a: ip, b: 0, c: 0, cidr: 32, text: ipv4ToString(ip) };
      }
      return;
    case 'hash:net':
      for (const n of spec.nets) yield { a: n.net, b: n.cidr, c: 0, cidr: n.cidr, text: netText(n.net, n.cidr) };
      return;
    case 'bitmap:port':
      for (let port = spec.portLo; port <= spec.portHi; port++) yield { a: port, b: 0, c: 0, cidr: 32, text: String(port) };
      return;
    case 'hash:ip,port':
    case 'hash:ip,port,ip':
    case 'hash:ip,port,net': {
      const third = set.type === 'hash:ip,port,ip' ? `,${ipv4ToString(spec.ip2)}` : '';
      for (let ip = spec.ipLo; ip <= spec.ipHi; ip++) {
        if (ip === 0 && set.type === 'hash:ip,port') nullIp();
        for (let port = spec.portLo; port <= spec.portHi; port++) {
          const pp = ((spec.proto << 16) | port) >>> 0;
          const head = `${ipv4ToString(ip)},${portText(spec.proto, port)}`;
          if (set.type !== 'hash:ip,port,net') {
            yield { a: ip, b: pp, c: spec.ip2, cidr: 32, text: head + third };
            continue;
          }
          for (const n of spec.nets) yield { a: ip, b: ((n.cidr << 24) | pp) >>> 0, c: n.net, cidr: n.cidr, text: `${head},${netText(n.net, n.cidr)}` };
        }
      }
    }
  }
}

function hasPorts(proto: number): boolean {
  return proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP || proto === IPPROTO_UDPLITE;
}

/**
 * ip_set_get_ip4_port's refusal: a later fragment of a protocol whose port
 * (or ICMP type/code) is in the first fragment only; other protocols match
 * with port 0.
 */
function portUnknown(pkt: IpsetPacket): boolean {
  return pkt.fragment === true && (hasPorts(pkt.proto) || pkt.proto === 1);
}

/**
 * A counter condition on counter 'c' (ip_set_match_counter). 'c' is a
 * number and the condition's value a u64 bigint: JS compares the two
 * exactly.
 */
function counterHolds(c: number, m: SetCounterMatch): boolean {
  switch (m.op) {
    case 'eq': return !(c < m.value) && !(c > m.value);
    case 'ne': return c < m.value || c > m.value;
    case 'lt': return c < m.value;
    case 'gt': return c > m.value;
  }
}

/**
 * ip_set_match_extensions for the member of value 'v' found by a packet of
 * length 'len' ('o' null: `ipset test`, which neither counts nor checks):
 * on a set with counters the member's counters are updated first (unless
 * `! --update-counters`), then the packet and byte conditions are checked
 * on the new values; a set without counters ignores the conditions.
 * Allocates nothing.
 */
function extensionsMatch(s: IpSet, v: number, o: SetMatchOptions | null, len: number): boolean {
  if (o === null || !s.opts.counters) return true;
  const m = s.byId[v >>> 2]!;
  if (o.updateCounters !== false) {
    m.packets += 1;
    m.bytes += len;
  }
  const pc = o.packets ?? null, bc = o.bytes ?? null;
  return (pc === null || counterHolds(m.packets, pc)) && (bc === null || counterHolds(m.bytes, bc));
}

/**
 * The stored value deciding an address of a net type: the first entry
 * containing 'addr' walking the prefix lengths from the most specific whose
 * extensions match ('o', 'len': see `extensionsMatch`; every entry passed on
 * the way is counted) — mtype_test_cidrs. hash:net: key (addr/c, c);
 * hash:ip,port,net: key ('ip', c<<24|'pp', addr/c). Returns the member's
 * value, or 0. Allocates nothing.
 */
function walkNets(s: IpSet, ip: number, pp: number, addr: number, o: SetMatchOptions | null, len: number): number {
  const cs = s.cidrs;
  const ipPortNet = s.type === 'hash:ip,port,net';
  for (let i = 0; i < cs.length; i++) {
    const c = cs[i]!;
    const net = (addr & prefixMask(c)) >>> 0;
    const v = ipPortNet ? s.table.get(ip, ((c << 24) | pp) >>> 0, net, 0) : s.table.get(net, c, 0, 0);
    if (v > 0 && extensionsMatch(s, v, o, len)) return v;
  }
  return 0;
}

/** What `ipset test` and `-m set` answer for the deciding member value 'v' (≤ 0: none). */
function verdict(s: IpSet, v: number, returnNomatch: boolean): boolean {
  if (v <= 0) return false;
  return (v & KIND_MASK) === (returnNomatch && s.hasNets ? MEMBER_NOMATCH : MEMBER_MATCH);
}

/**
 * The packet test of `-m set --match-set SET 'flags'` with the options 'o'
 * on a set already resolved (a compiled rule keeps the `IpSet`), as
 * ip_set_test: on a set with counters, the members found are counted (see
 * `extensionsMatch`). Allocates nothing.
 */
export function matchesSet(s: IpSet, flags: readonly MatchDir[], pkt: IpsetPacket, o: SetMatchOptions = PLAIN_MATCH): boolean {
  if (flags.length < s.dimension) return false;
  const d0 = flags[0] === 'src';
  const len = pkt.length ?? 0;
  const ret = o.returnNomatch === true;
  switch (s.type) {
    case 'hash:ip': {
      const v = s.table.get(d0 ? pkt.src : pkt.dst, 0, 0, 0);
      return v > 0 && extensionsMatch(s, v, o, len);
    }
    case 'hash:net':
      return verdict(s, walkNets(s, 0, 0, d0 ? pkt.src : pkt.dst, o, len), ret);
    case 'bitmap:port': {
      if ((pkt.proto !== IPPROTO_TCP && pkt.proto !== IPPROTO_UDP) || pkt.fragment === true) return false;
      const v = s.bitmap[(d0 ? pkt.sport : pkt.dport) & 0xffff]!;
      return v > 0 && extensionsMatch(s, v, o, len);
    }
    case 'hash:ip,port':
    case 'hash:ip,port,ip': {
      if (portUnknown(pkt)) return false;
      const ip = d0 ? pkt.src : pkt.dst;
      const port = hasPorts(pkt.proto) ? (flags[1] === 'src' ? pkt.sport : pkt.dport) & 0xffff : 0;
      const b = ((pkt.proto << 16) | port) >>> 0;
      const c = s.type === 'hash:ip,port' ? 0 : (flags[2] === 'src' ? pkt.src : pkt.dst);
      const v = s.table.get(ip, b, c, 0);
      return v > 0 && extensionsMatch(s, v, o, len);
    }
    case 'hash:ip,port,net': {
      if (portUnknown(pkt)) return false;
      const ip = d0 ? pkt.src : pkt.dst;
      const port = hasPorts(pkt.proto) ? (flags[1] === 'src' ? pkt.sport : pkt.dport) & 0xffff : 0;
      const addr = flags[2] === 'src' ? pkt.src : pkt.dst;
      return verdict(s, walkNets(s, ip, (pkt.proto << 16) | port, addr, o, len), ret);
    }
  }
}

// ---------------------------------------------------------------------------
// the registry

/** Options of add/del/test: `-exist` ignores "already added"/"not added"; the member extensions of add. */
export interface IpsetCmdOptions {
  exist?: boolean;
  line?: number;
  comment?: string;
  timeout?: number;
  packets?: number;
  bytes?: number;
  /** add: store a nomatch member; test: `ipset test … nomatch` (answer for nomatch members) */
  nomatch?: boolean;
}

export class Ipsets {
  /** sets by kernel index; null: a destroyed set's free index (the next create takes the lowest) */
  private readonly slots: (IpSet | null)[] = [];
  private readonly byName = new Map<string, IpSet>();
  /** xorshift32 state for the initval of sets created without one */
  private rng: number;
  /** during `restore()`: how to undo the members changed by the pending add/del batch, in order */
  private journal: (() => void)[] | null = null;

  /** 'seed' drives the initval of sets created without one (the kernel's is random). */
  constructor(o: { seed?: number } = {}) {
    this.rng = ((o.seed ?? 1) >>> 0) || 1;
  }

  /** The set called 'name', or undefined. */
  get(name: string): IpSet | undefined { return this.byName.get(name); }

  /** Set names in kernel index order (as `ipset save` lists them). */
  names(): string[] {
    const out: string[] = [];
    for (const s of this.slots) if (s !== null) out.push(s.name);
    return out;
  }

  private need(name: string, line: number): IpSet {
    const s = this.byName.get(name);
    if (!s) throw new IpsetError('IPSET_NO_SET', line, name, 'The set with the given name does not exist');
    return s;
  }

  private nextInitval(): number {
    let x = this.rng;
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    this.rng = x;
    // murmur3's fmix32, so that small seeds still give values that look drawn at random
    x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
    x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
    return (x ^ (x >>> 16)) >>> 0;
  }

  /**
   * `ipset create 'name' 'type' …`: the options are canonicalised as the
   * kernel does (hashsize to a power of two ≥ 64, bucketsize to an even
   * 2..12). With 'exist' an existing set of the same type, maxelem, timeout,
   * extensions (and range) is kept as it is.
   */
  create(name: string, type: IpsetType, opts: IpsetCreateOptions = {}, o: IpsetCmdOptions = {}): IpSet {
    const line = o.line ?? 0;
    const fail = (code: string, msg: string): never => { throw new IpsetError(code, line, name, msg); };
    if (name.length > 31) fail('IPSET_BAD_NAME', `Syntax error: setname '${name}' is longer than 31 characters`);
    if (name.length === 0) fail('IPSET_BAD_NAME', 'Syntax error: setname is empty');
    if (!IPSET_TYPES.includes(type)) fail('IPSET_UNKNOWN_TYPE', `Syntax error: typename '${type}' is unknown`);
    const isHash = type !== 'bitmap:port';
    let range: { min: number; max: number } | null = null;
    if (!isHash) {
      const r = opts.range;
      if (!r) return fail('IPSET_MISSING_RANGE', 'Mandatory option `range\' is missing');
      if (r.min < 0 || r.max < 0 || r.min > 65535 || r.max > 65535) fail('IPSET_BAD_RANGE', `Syntax error: invalid port range ${r.min}-${r.max}`);
      range = { min: Math.min(r.min, r.max), max: Math.max(r.min, r.max) };
    }
    let hashsize = 0, bucketsize = 0;
    if (isHash) {
      const want = Math.max(64, opts.hashsize ?? 1024);
      hashsize = 64;
      while (hashsize < want) hashsize *= 2;
      // htable_size(): more than 2^27 buckets of 8 bytes do not fit an int
      if (hashsize > 2 ** 27) fail('IPSET_NOMEM', 'Kernel error received: Cannot allocate memory');
      bucketsize = Math.min(12, Math.max(2, opts.bucketsize ?? 12));
      if (bucketsize & 1) bucketsize++;
    }
    const timeout = opts.timeout ?? -1;
    if (timeout > 2147483) fail('IPSET_NUMBER_RANGE', `Syntax error: '${timeout}' is out of range 0-2147483`);
    const old = this.byName.get(name);
    if (old) {
      const same = old.type === type && old.opts.maxelem === (isHash ? opts.maxelem ?? 65536 : 0) && old.opts.timeout === timeout
        && old.opts.counters === !!opts.counters && old.opts.comment === !!opts.comment
        && (old.opts.range?.min ?? -1) === (range?.min ?? -1) && (old.opts.range?.max ?? -1) === (range?.max ?? -1);
      if (o.exist && same) return old;
      fail('IPSET_EXISTS', 'Set cannot be created: set with the same name already exists');
    }
    const canon: IpsetSetOptions = {
      hashsize, maxelem: isHash ? opts.maxelem ?? 65536 : 0, bucketsize,
      initval: isHash ? (opts.initval ?? this.nextInitval()) >>> 0 : 0,
      range, timeout, counters: !!opts.counters, comment: !!opts.comment,
    };
    const s = new IpSet(name, type, canon);
    const free = this.slots.indexOf(null);
    if (free >= 0) this.slots[free] = s; else this.slots.push(s);
    this.byName.set(name, s);
    return s;
  }

  /**
   * `ipset add 'name' 'element'` with the member extensions of 'o'. Ranges
   * are expanded and added in order; an element that fails stops the add
   * and the ones before it stay, as in the kernel.
   */
  add(name: string, element: string, o: IpsetCmdOptions = {}): void {
    const line = o.line ?? 0;
    const s = this.need(name, line);
    const fail = (code: string, msg: string): never => { throw new IpsetError(code, line, name, msg); };
    // what ipset itself checks (the element, nomatch, comment length) comes before what the kernel checks
    if (o.nomatch && !s.hasNets) fail('IPSET_UNKNOWN_ARG', 'Unknown argument: `nomatch\'');
    if (o.comment !== undefined && o.comment.length > 255) {
      fail('IPSET_COMMENT_TOO_LONG', 'Syntax error: Comment is longer than the maximum allowed 255 characters');
    }
    const spec = parseSpec(s, element, line);
    if (spec.count > MAX_EXPAND && s.opts.maxelem - s.members.size > MAX_EXPAND) {
      fail('IPSET_RANGE_TOO_LARGE', `${element} expands to ${spec.count} elements: more than sdnemu adds at once (${MAX_EXPAND})`);
    }
    if (o.timeout !== undefined && s.opts.timeout < 0) fail('IPSET_NO_TIMEOUT', 'Timeout cannot be used: set was created without timeout support');
    if ((o.packets !== undefined || o.bytes !== undefined) && !s.opts.counters) {
      fail('IPSET_NO_COUNTERS', 'Packet/byte counters cannot be used: set was created without counter support');
    }
    if (o.comment !== undefined && !s.opts.comment) fail('IPSET_NO_COMMENT', 'Comment cannot be used: set was created without comment support');
    const timeout = o.timeout ?? s.opts.timeout;
    for (const e of expand(s, spec, line)) {
      const old = s.members.get(e.text);
      if (old) {
        if (!o.exist) fail('IPSET_EXIST_ELEMENT', 'Element cannot be added to the set: it\'s already added');
        // -exist re-add: nomatch, timeout and comment are replaced, counters only when given
        this.remove(s, e);
        this.insert(s, e, { nomatch: !!o.nomatch, timeout, packets: o.packets ?? old.packets, bytes: o.bytes ?? old.bytes, comment: o.comment ?? '' });
        continue;
      }
      if (s.type !== 'bitmap:port' && s.members.size >= s.opts.maxelem) fail('IPSET_FULL', 'Hash is full, cannot add more elements');
      this.insert(s, e, { nomatch: !!o.nomatch, timeout, packets: o.packets ?? 0, bytes: o.bytes ?? 0, comment: o.comment ?? '' });
    }
  }

  /** `ipset del 'name' 'element'` (ranges expanded; stops at the first absent one unless 'exist'). */
  del(name: string, element: string, o: IpsetCmdOptions = {}): void {
    const line = o.line ?? 0;
    const s = this.need(name, line);
    const spec = parseSpec(s, element, line);
    if (spec.count > MAX_EXPAND) {
      throw new IpsetError('IPSET_RANGE_TOO_LARGE', line, name, `${element} expands to ${spec.count} elements: more than sdnemu deletes at once (${MAX_EXPAND})`);
    }
    for (const e of expand(s, spec, line)) {
      if (!s.members.has(e.text)) {
        if (o.exist) continue;
        throw new IpsetError('IPSET_NOT_ELEMENT', line, name, 'Element cannot be deleted from the set: it\'s not added');
      }
      this.remove(s, e);
    }
  }

  /** Stores member 'e' of 's' (absent before) with extensions 'm'; journaled during a restore batch. */
  private insert(s: IpSet, e: Element, m: IpsetMember): void {
    s.members.set(e.text, m);
    const id = s.freeIds.length > 0 ? s.freeIds.pop()! : s.byId.length;
    s.byId[id] = m;
    const value = id * 4 + (m.nomatch ? MEMBER_NOMATCH : MEMBER_MATCH);
    if (s.type === 'bitmap:port') s.bitmap[e.a] = value;
    else s.table.set(e.a, e.b, e.c, 0, value);
    if (s.hasNets) s.countCidr(e.cidr, 1);
    this.journal?.push(() => this.remove(s, e));
  }

  /** Removes member 'e' of 's' (present); journaled during a restore batch. */
  private remove(s: IpSet, e: Element): void {
    const m = s.members.get(e.text)!;
    s.members.delete(e.text);
    let value: number;
    if (s.type === 'bitmap:port') { value = s.bitmap[e.a]!; s.bitmap[e.a] = 0; }
    else value = s.table.delete(e.a, e.b, e.c, 0);
    s.byId[value >>> 2] = null;
    s.freeIds.push(value >>> 2);
    if (s.hasNets) s.countCidr(e.cidr, -1);
    this.journal?.push(() => this.insert(s, e, m));
  }

  /**
   * `ipset test 'name' 'element'` (with `nomatch` as 'o.nomatch'): hash:ip
   * tests the first address as written; an address (or /32) of a net type
   * walks the stored prefixes, a net (cidr < 32) is looked up exactly;
   * bitmap:port ignores the protocol. IP ranges, CIDRs and port ranges that
   * ipset refuses in a test throw IpsetError (IPSET_TEST_RANGE).
   */
  test(name: string, element: string, o: IpsetCmdOptions = {}): boolean {
    const line = o.line ?? 0;
    const s = this.need(name, line);
    const p: ElementParser = new ElementParser(line, name);
    if (o.nomatch && !s.hasNets) p.fail('IPSET_UNKNOWN_ARG', 'Unknown argument: `nomatch\'');
    const parts = p.parts(s, element);
    const refuse = (what: string): never => p.fail('IPSET_TEST_RANGE',
      `${what} is not allowed in command test with set type ${s.type} and family ${s.type === 'bitmap:port' ? 'unspec' : 'inet'}`);
    const ret = !!o.nomatch;
    switch (s.type) {
      case 'hash:ip':
        return s.table.get(p.ipRange(parts[0]!).first, 0, 0, 0) > 0;
      case 'hash:net': {
        const n = p.nets(parts[0]!);
        if (n.kind === 'range') refuse('FROM-TO IP range');
        const { net, cidr } = n.nets[0]!;
        return verdict(s, cidr === 32 ? walkNets(s, 0, 0, net, null, 0) : s.table.get(net, cidr, 0, 0), ret);
      }
      case 'bitmap:port': {
        const pp = p.protoPorts(parts[0]!, true);
        if (pp.range) refuse('FROM-TO port range');
        return s.bitmap[pp.lo]! > 0;
      }
      case 'hash:ip,port':
      case 'hash:ip,port,ip':
      case 'hash:ip,port,net': {
        const r = p.ipRange(parts[0]!);
        if (r.kind === 'range') refuse('FROM-TO IP range');
        if (r.kind === 'cidr' || parts[0]!.includes('/')) refuse('IP/CIDR range');
        const pp = p.protoPorts(parts[1]!);
        if (pp.range) refuse('FROM-TO port range');
        const b = ((pp.proto << 16) | pp.lo) >>> 0;
        if (s.type === 'hash:ip,port') return s.table.get(r.first, b, 0, 0) > 0;
        if (s.type === 'hash:ip,port,ip') return s.table.get(r.first, b, p.plainIp(parts[2]!), 0) > 0;
        const n = p.nets(parts[2]!);
        // a range in the net part is tested as its first address
        if (n.kind !== 'cidr') return verdict(s, walkNets(s, r.first, b, n.first, null, 0), ret);
        const { net, cidr } = n.nets[0]!;
        return verdict(s, s.table.get(r.first, ((cidr << 24) | b) >>> 0, net, 0), ret);
      }
    }
  }

  /** `ipset flush ['name']` (all sets when no name). */
  flush(name?: string, o: IpsetCmdOptions = {}): void {
    if (name === undefined) { for (const s of this.byName.values()) s.clear(); return; }
    this.need(name, o.line ?? 0).clear();
  }

  /** `ipset destroy ['name']`: refused while an iptables rule holds the set; its index becomes free. */
  destroy(name?: string, o: IpsetCmdOptions = {}): void {
    const line = o.line ?? 0;
    const inUse = (s: IpSet): never => { throw new IpsetError('IPSET_IN_USE', line, s.name, 'Set cannot be destroyed: it is in use by a kernel component'); };
    if (name === undefined) {
      for (const s of this.byName.values()) if (s.refs > 0) inUse(s);
      this.slots.length = 0;
      this.byName.clear();
      return;
    }
    const s = this.need(name, line);
    if (s.refs > 0) inUse(s);
    this.slots[this.slots.indexOf(s)] = null;
    while (this.slots.length > 0 && this.slots[this.slots.length - 1] === null) this.slots.pop();
    this.byName.delete(name);
  }

  /** `ipset swap 'a' 'b'`: the names (and their indexes and rule references) trade contents; types must match. */
  swap(a: string, b: string, o: IpsetCmdOptions = {}): void {
    const line = o.line ?? 0;
    const sa = this.need(a, line), sb = this.need(b, line);
    if (sa.type !== sb.type) throw new IpsetError('IPSET_SWAP_TYPE', line, a, 'The sets cannot be swapped: their type does not match');
    const ia = this.slots.indexOf(sa), ib = this.slots.indexOf(sb);
    const ra = sa.refs, rb = sb.refs;
    sa.name = b; sb.name = a;
    sa.refs = rb; sb.refs = ra;
    this.slots[ia] = sb; this.slots[ib] = sa;
    this.byName.set(a, sb);
    this.byName.set(b, sa);
  }

  /** `ipset rename 'from' 'to'` (the set keeps its index). */
  rename(from: string, to: string, o: IpsetCmdOptions = {}): void {
    const line = o.line ?? 0;
    const s = this.need(from, line);
    if (this.byName.has(to)) throw new IpsetError('IPSET_EXISTS', line, to, 'Set cannot be renamed: a set with the new name already exists');
    if (to.length > 31) throw new IpsetError('IPSET_BAD_NAME', line, to, `Syntax error: setname '${to}' is longer than 31 characters`);
    s.name = to;
    this.byName.delete(from);
    this.byName.set(to, s);
  }

  /** Marks 'name' held by a rule (an iptables `-m set` load); throws if absent. */
  hold(name: string, line = 0): IpSet {
    const s = this.need(name, line);
    s.refs++;
    return s;
  }

  /** Releases a hold taken by `hold()`. */
  release(name: string): void {
    const s = this.byName.get(name);
    if (s && s.refs > 0) s.refs--;
  }

  /**
   * `-m set --match-set 'setName' 'flags'` with the options 'o' on packet
   * 'pkt' (see `matchesSet`; counts on sets with counters). An unknown set:
   * false. Allocates nothing.
   */
  matches(setName: string, flags: readonly MatchDir[], pkt: IpsetPacket, o: SetMatchOptions = PLAIN_MATCH): boolean {
    const s = this.byName.get(setName);
    if (s === undefined) return false;
    return matchesSet(s, flags, pkt, o);
  }

  /** `ipset save ['name']` text: per set in index order, its `create` line then its `add` lines. */
  save(name?: string): string {
    let out = '';
    const list = name === undefined ? this.slots.filter((s): s is IpSet => s !== null) : [this.need(name, 0)];
    for (const s of list) {
      out += `create ${s.name} ${s.type}${optsText(s.opts)}\n`;
      const members = [...s.members];
      if (s.type === 'bitmap:port') members.sort((x, y) => Number(x[0]) - Number(y[0]));
      for (const [m, ext] of members) out += `add ${s.name} ${m}${memberText(s.opts, ext)}\n`;
    }
    return out;
  }

  /**
   * `ipset restore`: runs 'text' line by line (create/add/del/test/flush/
   * destroy/swap/rename, `COMMIT`, `#` comments, blank lines); 'exist' as
   * `ipset -exist restore` (a `-exist` inside a line is ignored, as ipset
   * 7.17 does). Throws IpsetError naming the line. What stays applied is
   * what ipset 7.17 leaves: it batches consecutive add (or del) lines of one
   * set into one kernel message, sent when a line of another command or set
   * comes or the input ends. So an error ipset finds itself (syntax, usage,
   * an unknown set) drops the unsent batch; an error the kernel finds (an
   * element already added, a full set…) is reported when the batch is sent,
   * with the batch's elements before the failing one applied — unless a
   * later line of the same batch has an error of the first kind, which then
   * wins. Every other command stays applied.
   */
  restore(text: string, o: { exist?: boolean } = {}): void {
    const exist = o.exist ?? false;
    const lines = text.split('\n');
    const undo: (() => void)[] = [];
    const rollback = (): void => {
      this.journal = null;
      for (let k = undo.length - 1; k >= 0; k--) undo[k]!();
      undo.length = 0;
    };
    let batch: string | null = null;
    let deferred: IpsetError | null = null;
    try {
      for (let i = 0; i < lines.length; i++) {
        const raw = lines[i]!.trim();
        if (raw === '' || raw.startsWith('#') || raw === 'COMMIT') continue;
        const toks = tokenize(raw);
        const cmd = CMD_ALIASES.get(toks[0] ?? '') ?? toks[0] ?? '';
        const key = cmd === 'add' || cmd === 'del' ? `${cmd} ${toks[1] ?? ''}` : null;
        if (deferred !== null) {
          // the batch holds a kernel error: ipset only parses what follows until it sends the batch
          const err = this.dryRun(toks, i + 1, exist);
          if (err !== null && !isKernelError(err, cmd)) { rollback(); throw err; }
          if (key === batch) continue;
          throw deferred;
        }
        const mark = undo.length;
        this.journal = undo;
        try {
          this.run(toks, i + 1, exist, false);
        } catch (e) {
          if (!(e instanceof IpsetError)) throw e;
          if (!isKernelError(e, cmd)) { rollback(); throw e; }
          if (key === null) throw e;
          deferred = e;
        }
        if (key !== batch) { undo.splice(0, mark); batch = key; }
      }
      if (deferred !== null) throw deferred;
    } finally {
      this.journal = null;
    }
  }

  /** The error running 'toks' would raise now, found on a copy of the sets (null: none). */
  private dryRun(toks: string[], line: number, exist: boolean): IpsetError | null {
    const copy = new Ipsets();
    copy.restore(this.save());
    try { copy.run(toks, line, exist, false); } catch (e) { if (e instanceof IpsetError) return e; throw e; }
    return null;
  }

  /** Runs one `ipset` command given as 'args' (no leading `ipset`; `-exist`/`-!` anywhere), e.g. from a script. */
  command(args: string[], line = 0): void {
    this.run(args, line, false, true);
  }

  private run(args: string[], line: number, existGlobal: boolean, existPerLine: boolean): void {
    let exist = existGlobal;
    const toks = args.filter((t) => {
      if (t !== '-exist' && t !== '-!') return true;
      if (existPerLine) exist = true;
      return false;
    });
    const cmd = toks[0] ?? '';
    const name = toks[1];
    const fail = (code: string, msg: string): never => { throw new IpsetError(code, line, name ?? '', msg); };
    const canonical = CMD_ALIASES.get(cmd) ?? cmd;
    const needArg = (i: number): string =>
      toks[i] ?? fail('IPSET_MISSING_ARG', `Missing ${i === 1 ? '' : 'second '}mandatory argument to command ${canonical}`);
    switch (canonical) {
      case 'create': {
        const n = needArg(1);
        const t = needArg(2).toLowerCase();
        const type = (IPSET_TYPES as readonly string[]).includes(t) ? t as IpsetType : TYPE_ALIASES.get(t);
        if (type === undefined) {
          if (OTHER_KERNEL_TYPES.has(t)) fail('IPSET_UNSUPPORTED', `set type ${t} is not supported by sdnemu`);
          fail('IPSET_UNKNOWN_TYPE', `Syntax error: typename '${toks[2]!}' is unknown`);
        }
        this.create(n, type!, parseCreateOpts(toks.slice(3), type!, line, n), { exist, line });
        return;
      }
      case 'add': case 'del': case 'test': {
        const n = needArg(1);
        const el = needArg(2);
        const o = parseMemberOpts(toks.slice(3), canonical, line, n);
        o.exist = exist; o.line = line;
        if (canonical === 'add') this.add(n, el, o);
        else if (canonical === 'del') this.del(n, el, o);
        else if (!this.test(n, el, o)) fail('IPSET_NOT_IN_SET', `${el} is NOT in set ${n}.`);
        return;
      }
      case 'flush': this.flush(name, { line }); return;
      case 'destroy': this.destroy(name, { line }); return;
      case 'swap': this.swap(needArg(1), needArg(2), { line }); return;
      case 'rename': this.rename(needArg(1), needArg(2), { line }); return;
      default:
        fail('IPSET_UNKNOWN_COMMAND', cmd === '' ? 'No command specified' : `No command specified: unknown argument ${cmd}`);
    }
  }
}

/** Errors the kernel reports (ipset finds the others before sending anything); see `restore()`. */
const KERNEL_ERRORS: ReadonlySet<string> = new Set([
  'IPSET_EXIST_ELEMENT', 'IPSET_NOT_ELEMENT', 'IPSET_FULL', 'IPSET_NO_TIMEOUT', 'IPSET_NO_COUNTERS', 'IPSET_NO_COMMENT',
  'IPSET_NULL_ELEMENT', 'IPSET_OUT_OF_RANGE', 'IPSET_BAD_CIDR', 'IPSET_EXISTS', 'IPSET_NOMEM', 'IPSET_SWAP_TYPE', 'IPSET_IN_USE',
  'IPSET_NOT_IN_SET', 'IPSET_NO_SET',
]);

/** Whether 'e', raised by command 'cmd', comes from the kernel: ipset itself looks up the set of add, del and test. */
function isKernelError(e: IpsetError, cmd: string): boolean {
  if (e.code === 'IPSET_NO_SET') return cmd !== 'add' && cmd !== 'del' && cmd !== 'test';
  return KERNEL_ERRORS.has(e.code);
}

const CMD_ALIASES: ReadonlyMap<string, string> = new Map([
  ['-N', 'create'], ['n', 'create'], ['-A', 'add'], ['a', 'add'], ['-D', 'del'], ['d', 'del'], ['-T', 'test'], ['t', 'test'],
  ['-F', 'flush'], ['f', 'flush'], ['-X', 'destroy'], ['x', 'destroy'], ['-W', 'swap'], ['w', 'swap'], ['-E', 'rename'], ['e', 'rename'],
]);

function optsText(o: IpsetSetOptions): string {
  let t = o.range !== null ? ` range ${o.range.min}-${o.range.max}` : ` family inet hashsize ${o.hashsize} maxelem ${o.maxelem}`;
  if (o.timeout >= 0) t += ` timeout ${o.timeout}`;
  if (o.counters) t += ' counters';
  if (o.comment) t += ' comment';
  if (o.range === null) t += ` bucketsize ${o.bucketsize} initval 0x${o.initval.toString(16).padStart(8, '0')}`;
  return t;
}

function memberText(o: IpsetSetOptions, m: IpsetMember): string {
  let t = '';
  if (o.timeout >= 0) t += ` timeout ${m.timeout}`;
  if (m.nomatch) t += ' nomatch';
  if (o.counters) t += ` packets ${m.packets} bytes ${m.bytes}`;
  if (o.comment && m.comment !== '') t += ` comment "${m.comment}"`;
  return t;
}

/** Value options of `create` (each at most once) and their limits. */
const CREATE_VALUE_OPTS: Readonly<Record<string, { hash: boolean; bitmap: boolean; max: number }>> = {
  family: { hash: true, bitmap: false, max: 0 },
  hashsize: { hash: true, bitmap: false, max: 0xffffffff },
  maxelem: { hash: true, bitmap: false, max: 0xffffffff },
  bucketsize: { hash: true, bitmap: false, max: 255 },
  initval: { hash: true, bitmap: false, max: 0xffffffff },
  timeout: { hash: true, bitmap: true, max: 2147483 },
  range: { hash: false, bitmap: true, max: 0 },
};
const UNSUPPORTED_CREATE_OPTS = new Set(['skbinfo', 'forceadd', 'netmask', 'markmask', 'bitmask']);

function parseCreateOpts(toks: string[], type: IpsetType, line: number, set: string): IpsetCreateOptions {
  const o: IpsetCreateOptions = {};
  const p: ElementParser = new ElementParser(line, set);
  const seen = new Set<string>();
  const isHash = type !== 'bitmap:port';
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    if (t === 'counters' || t === 'comment') { o[t] = true; continue; }
    const spec = CREATE_VALUE_OPTS[t];
    if (spec === undefined || !(isHash ? spec.hash : spec.bitmap)) {
      if (UNSUPPORTED_CREATE_OPTS.has(t)) p.fail('IPSET_UNSUPPORTED', `create option ${t} is not supported by sdnemu`);
      p.fail('IPSET_UNKNOWN_ARG', `Unknown argument: \`${t}'`);
    }
    const v = toks[++i];
    if (v === undefined) p.fail('IPSET_MISSING_ARG', `Missing mandatory argument of option \`${t}'`);
    if (seen.has(t)) p.fail('IPSET_DUPLICATE_OPTION', `Syntax error: ${t} already specified`);
    seen.add(t);
    switch (t) {
      case 'family':
        if (v === 'inet6') p.fail('IPSET_UNSUPPORTED', 'family inet6 is not supported by sdnemu (IPv4 only)');
        if (v !== 'inet') p.fail('IPSET_BAD_FAMILY', `Syntax error: unknown inet family ${v}`);
        break;
      case 'range': {
        const dash = v.indexOf('-');
        if (dash < 0) { p.port(v, 'tcp'); p.fail('IPSET_MISSING_ARG', 'Mandatory option `to\' is missing'); }
        const a = p.port(v.slice(0, dash), 'tcp'), b = p.port(v.slice(dash + 1), 'tcp');
        o.range = { min: Math.min(a, b), max: Math.max(a, b) };
        break;
      }
      default:
        o[t as 'hashsize' | 'maxelem' | 'bucketsize' | 'initval' | 'timeout'] = p.num(v, spec.max);
    }
  }
  return o;
}

/** Member options of add (timeout, packets, bytes, comment, nomatch), test (nomatch) and del (none). */
function parseMemberOpts(toks: string[], cmd: 'add' | 'del' | 'test', line: number, set: string): IpsetCmdOptions {
  const o: IpsetCmdOptions = {};
  const p: ElementParser = new ElementParser(line, set);
  const seen = new Set<string>();
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    if (t === 'nomatch' && cmd !== 'del') { o.nomatch = true; continue; }
    if (cmd !== 'add' || (t !== 'timeout' && t !== 'packets' && t !== 'bytes' && t !== 'comment')) {
      if (cmd === 'add' && (t === 'skbmark' || t === 'skbprio' || t === 'skbqueue')) p.fail('IPSET_UNSUPPORTED', `${t} is not supported by sdnemu`);
      p.fail('IPSET_UNKNOWN_ARG', `Unknown argument: \`${t}'`);
    }
    const v = toks[++i];
    if (v === undefined) p.fail('IPSET_MISSING_ARG', `Missing mandatory argument of option \`${t}'`);
    if (seen.has(t)) p.fail('IPSET_DUPLICATE_OPTION', `Syntax error: ${t} already specified`);
    seen.add(t);
    if (t === 'comment') o.comment = v;
    else if (t === 'timeout') o.timeout = p.num(v, 2147483);
    else o[t] = p.num(v, Number.MAX_SAFE_INTEGER);
  }
  return o;
}

/**
 * Splits a restore line into words as ipset 7.17 does: blanks outside
 * double quotes separate, each `"` toggles quoting and is dropped, empty
 * words vanish, and a word still inside quotes at the end of the line is
 * dropped (so `comment "x` misses its argument).
 */
function tokenize(s: string): string[] {
  const out: string[] = [];
  let word = '';
  let quoted = false;
  for (const ch of s) {
    if (ch === '"') { quoted = !quoted; continue; }
    if (!quoted && (ch === ' ' || ch === '\t')) {
      if (word !== '') out.push(word);
      word = '';
      continue;
    }
    word += ch;
  }
  if (!quoted && word !== '') out.push(word);
  return out;
}
