/**
 * IP sets (netfilter layer): the kernel's ip_set types that kube-proxy and
 * iptables `-m set --match-set` use, their `ipset save` / `ipset restore`
 * text, and an allocation-free packet test. Set management is slow path;
 * `matches()` is fast path (run per packet by the rule evaluator).
 *
 * What: an `Ipsets` registry (one per network namespace, as in the kernel)
 * holding named sets of the types
 *   hash:ip            ip                     (dimension 1)
 *   hash:net           net/cidr               (dimension 1)
 *   hash:ip,port       ip,proto:port          (dimension 2)
 *   hash:ip,port,ip    ip,proto:port,ip       (dimension 3; KUBE-LOOP-BACK,
 *                                              KUBE-LOAD-BALANCER-SOURCE-IP)
 *   hash:ip,port,net   ip,proto:port,net/cidr (dimension 3;
 *                                              KUBE-LOAD-BALANCER-SOURCE-CIDR)
 *   bitmap:port        [proto:]port in a range (dimension 1; KUBE-NODE-PORT-*)
 * with create/add/del/test/flush/destroy/swap/rename as the `ipset` tool.
 *
 * Where each behaviour comes from (no ipset tool nor kernel ip_set_* modules
 * could be run on this machine, so none of it is checked against a live
 * system):
 *  - Matching with too few direction flags never matches: the kernel's
 *    ip_set_test() returns 0 when `opt->dim < set->type->dimension`
 *    (net/netfilter/ipset/ip_set_core.c). Extra flags are ignored.
 *  - Each dimension takes the address/port from the packet side its flag
 *    names (IPSET_DIM_*_SRC bits in xt_set), in order: flag 0 → dimension 0…
 *  - hash:net matches when any stored net contains the address: the kernel
 *    walks its per-cidr list from the most specific prefix (ip_set_hash_gen.h
 *    mtype_test_cidrs); without `nomatch` (not supported here) that is "any".
 *    Stored nets are normalised to their prefix (10.1.2.3/8 → 10.0.0.0/8), a
 *    /32 prints without suffix, and /0 is rejected, as ipset does.
 *  - hash:ip accepts `a-b` ranges and `ip/cidr`, expanded to single
 *    addresses, as ipset(8) documents for hash:ip.
 *  - Ports: `proto:port`, protocol names tcp, udp, sctp, udplite; a bare
 *    port is tcp (ipset(8)); `proto:a-b` expands a range; a reversed range
 *    (`100-1`, also in `range` of bitmap:port) is swapped, which kube-proxy's
 *    validatePortRange (pkg/proxy/ipvs/ipset/ipset.go) notes ipset accepts. bitmap:port only
 *    ever matches TCP, UDP, SCTP, UDPLITE packets (ip_set_get_ip_port).
 *  - Save text: for each set a `create` line then its `add` lines; options
 *    print in the order family, hashsize, maxelem (hash) or range (bitmap),
 *    then timeout, counters, comment, bucketsize, initval when given — the
 *    shape kube-proxy's golden files show (pkg/util/ipset:
 *    `create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024
 *    maxelem 65536`). Members print in insertion order; the kernel prints
 *    them in hash-bucket order, which is not reproducible — compare sorted.
 *  - Errors read like ipset's (`The set with the given name does not
 *    exist`, `Element cannot be added to the set: it's already added`,
 *    `Set cannot be destroyed: it is in use by a kernel component`,
 *    `The sets cannot be swapped: their type does not match`) and carry the
 *    restore line, as `ipset restore` says `Error in line N:`.
 *  - Not modelled: timeouts on members, counters, skbinfo, nomatch, IPv6
 *    (family inet6 is rejected with a clear error), hash:mac and list:set.
 * Invariants: member keys live in an open-addressed table of uint32 words
 * (`WordKeyTable`), also used by ipvs.ts for its connection table; the
 * per-set `cidrs` list is the set of prefix lengths present, most specific
 * first, kept exact on add/del.
 * Cost per `matches()`: one Map lookup of the set name (or none with
 * `matchesSet(set, …)`), a hash of ≤3 words per probe; hash:net and
 * hash:ip,port,net probe once per distinct prefix length stored. Allocates
 * nothing.
 * Neighbours: the iptables evaluator's `-m set` match (model.ts `kind:'set'`);
 * ipvs.ts for kube-proxy's IPVS mode.
 */
import { SdnemuError } from '../errors.js';
import { hashFinishI32, mhashAddI32 } from '../flow/hash.js';
import { ipv4ToString, parseIpv4Dotted } from '../wire/bytes.js';

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
// types and elements

export type IpsetType = 'hash:ip' | 'hash:net' | 'hash:ip,port' | 'hash:ip,port,ip' | 'hash:ip,port,net' | 'bitmap:port';
export const IPSET_TYPES: readonly IpsetType[] = ['hash:ip', 'hash:net', 'hash:ip,port', 'hash:ip,port,ip', 'hash:ip,port,net', 'bitmap:port'];
const DIMENSION: Readonly<Record<IpsetType, number>> = {
  'hash:ip': 1, 'hash:net': 1, 'hash:ip,port': 2, 'hash:ip,port,ip': 3, 'hash:ip,port,net': 3, 'bitmap:port': 1,
};

export const IPPROTO_TCP = 6, IPPROTO_UDP = 17, IPPROTO_SCTP = 132, IPPROTO_UDPLITE = 136;
const PROTO_BY_NAME: ReadonlyMap<string, number> = new Map([['tcp', 6], ['udp', 17], ['sctp', 132], ['udplite', 136]]);
const PROTO_NAME: ReadonlyMap<number, string> = new Map([[6, 'tcp'], [17, 'udp'], [132, 'sctp'], [136, 'udplite']]);

/** Create options as `ipset create` takes them (family inet only). */
export interface IpsetCreateOptions {
  hashsize?: number;
  maxelem?: number;
  /** bitmap:port: the inclusive port range (required) */
  range?: { min: number; max: number };
  timeout?: number;
  counters?: boolean;
  comment?: boolean;
  bucketsize?: number;
  initval?: number;
}

/** A packet as `-m set` sees it: addresses as uint32, ports host order, protocol number. */
export interface IpsetPacket { src: number; dst: number; proto: number; sport: number; dport: number }

export type MatchDir = 'src' | 'dst';

/** One named set. Members are held both as text (for save, in order) and in the typed table (for matching). */
export class IpSet {
  name: string;
  readonly type: IpsetType;
  readonly dimension: number;
  readonly opts: IpsetCreateOptions;
  /** kernel components (iptables rules) holding the set */
  refs = 0;
  /** canonical member text → comment ('' when none), in insertion order */
  readonly members = new Map<string, string>();
  readonly table: WordKeyTable;
  /** bitmap:port membership, one byte per port */
  readonly bitmap: Uint8Array;
  /** prefix lengths present (hash:net: dim 0; hash:ip,port,net: dim 2), most specific first */
  cidrs = new Int8Array(0);
  private readonly cidrCount = new Int32Array(33);

  constructor(name: string, type: IpsetType, opts: IpsetCreateOptions) {
    this.name = name;
    this.type = type;
    this.dimension = DIMENSION[type];
    this.opts = opts;
    this.table = new WordKeyTable(3);
    this.bitmap = new Uint8Array(type === 'bitmap:port' ? 65536 : 0);
  }

  /** Membership by key words (see `parseElement`); bitmap:port uses word 'a' as the port. */
  has(a: number, b: number, c: number): boolean {
    if (this.type === 'bitmap:port') return this.bitmap[a & 0xffff] === 1;
    return this.table.get(a, b, c, 0) >= 0;
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
    this.cidrCount.fill(0);
    this.cidrs = new Int8Array(0);
  }
}

/** A parsed element: up to three key words and its canonical text. */
interface Element { a: number; b: number; c: number; cidr: number; text: string }

function prefixMask(cidr: number): number {
  return cidr === 0 ? 0 : (0xffffffff << (32 - cidr)) >>> 0;
}


const MAX_EXPAND = 65536;

class ElementParser {
  constructor(private readonly line: number, private readonly set: string) {}

  fail(code: string, msg: string): never {
    throw new IpsetError(code, this.line, this.set, msg);
  }

  ip(s: string): number {
    const v = parseIpv4Dotted(s);
    if (v === null) this.fail('IPSET_BAD_IP', `Syntax error: cannot parse ${s}: resolving to IPv4 address failed`);
    return v;
  }

  /** `ip`, `ip/cidr` or `a-b` expanded to single addresses (hash:ip). */
  ipList(s: string): number[] {
    const dash = s.indexOf('-');
    if (dash >= 0) {
      const lo = this.ip(s.slice(0, dash)), hi = this.ip(s.slice(dash + 1));
      if (hi < lo) this.fail('IPSET_BAD_RANGE', `Syntax error: ${s} is an invalid range`);
      if (hi - lo >= MAX_EXPAND) this.fail('IPSET_RANGE_TOO_LARGE', `Syntax error: range ${s} is too large`);
      const out: number[] = [];
      for (let v = lo; v <= hi; v++) out.push(v);
      return out;
    }
    const slash = s.indexOf('/');
    if (slash >= 0) {
      const { net, cidr } = this.net(s);
      const n = 2 ** (32 - cidr);
      if (n > MAX_EXPAND) this.fail('IPSET_RANGE_TOO_LARGE', `Syntax error: range ${s} is too large`);
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((net + i) >>> 0);
      return out;
    }
    return [this.ip(s)];
  }

  /** `ip/cidr` (cidr 1..32) or a bare ip (= /32), normalised to the prefix. */
  net(s: string): { net: number; cidr: number } {
    const slash = s.indexOf('/');
    if (slash < 0) return { net: this.ip(s), cidr: 32 };
    const ip = this.ip(s.slice(0, slash));
    const cs = s.slice(slash + 1);
    const cidr = /^\d{1,2}$/.test(cs) ? Number(cs) : -1;
    if (cidr < 1 || cidr > 32) this.fail('IPSET_BAD_CIDR', `The value of the CIDR parameter of the IP address is invalid`);
    return { net: (ip & prefixMask(cidr)) >>> 0, cidr };
  }

  port(s: string): number {
    if (!/^\d{1,5}$/.test(s) || Number(s) > 65535) this.fail('IPSET_BAD_PORT', `Syntax error: cannot parse '${s}' as a port number`);
    return Number(s);
  }

  /** `[proto:]port[-port]` → protocol and the port list. */
  protoPorts(s: string, defaultProto: number): { proto: number; ports: number[] } {
    let proto = defaultProto;
    const colon = s.indexOf(':');
    let ps = s;
    if (colon >= 0) {
      const name = s.slice(0, colon).toLowerCase();
      const p = PROTO_BY_NAME.get(name);
      if (p === undefined) this.fail('IPSET_BAD_PROTO', `Syntax error: cannot parse '${name}' as a protocol`);
      proto = p;
      ps = s.slice(colon + 1);
    }
    const dash = ps.indexOf('-');
    if (dash < 0) return { proto, ports: [this.port(ps)] };
    let lo = this.port(ps.slice(0, dash)), hi = this.port(ps.slice(dash + 1));
    if (hi < lo) { const t = lo; lo = hi; hi = t; } // swapped, as ipset's port-range parser does
    const ports: number[] = [];
    for (let p = lo; p <= hi; p++) ports.push(p);
    return { proto, ports };
  }
}

function portText(proto: number, port: number): string {
  return `${PROTO_NAME.get(proto) ?? String(proto)}:${port}`;
}

function netText(net: number, cidr: number): string {
  return cidr === 32 ? ipv4ToString(net) : `${ipv4ToString(net)}/${cidr}`;
}

/** Parses one member of 'set' (ranges expanded); throws IpsetError naming 'line'. */
function parseElements(set: IpSet, text: string, line: number): Element[] {
  const p = new ElementParser(line, set.name);
  const parts = text.split(',');
  if (parts.length !== set.dimension) p.fail('IPSET_BAD_ELEMENT', `Syntax error: '${text}' is not a ${set.type} element`);
  const out: Element[] = [];
  switch (set.type) {
    case 'hash:ip':
      for (const ip of p.ipList(parts[0]!)) out.push({ a: ip, b: 0, c: 0, cidr: 32, text: ipv4ToString(ip) });
      break;
    case 'hash:net': {
      const { net, cidr } = p.net(parts[0]!);
      out.push({ a: net, b: cidr, c: 0, cidr, text: netText(net, cidr) });
      break;
    }
    case 'bitmap:port': {
      const { ports } = p.protoPorts(parts[0]!, IPPROTO_TCP);
      const r = set.opts.range!;
      for (const port of ports) {
        if (port < r.min || port > r.max) p.fail('IPSET_OUT_OF_RANGE', `Element is out of the range of the set`);
        out.push({ a: port, b: 0, c: 0, cidr: 32, text: String(port) });
      }
      break;
    }
    case 'hash:ip,port':
    case 'hash:ip,port,ip':
    case 'hash:ip,port,net': {
      const ips = p.ipList(parts[0]!);
      const { proto, ports } = p.protoPorts(parts[1]!, IPPROTO_TCP);
      if (ips.length * ports.length > MAX_EXPAND) p.fail('IPSET_RANGE_TOO_LARGE', `Syntax error: range ${text} is too large`);
      let c = 0, cidr = 32, third = '';
      if (set.type === 'hash:ip,port,ip') { c = p.ip(parts[2]!); third = `,${ipv4ToString(c)}`; }
      if (set.type === 'hash:ip,port,net') { const n = p.net(parts[2]!); c = n.net; cidr = n.cidr; third = `,${netText(c, cidr)}`; }
      for (const ip of ips) for (const port of ports) {
        const b = ((set.type === 'hash:ip,port,net' ? cidr << 24 : 0) | (proto << 16) | port) >>> 0;
        out.push({ a: ip, b, c, cidr, text: `${ipv4ToString(ip)},${portText(proto, port)}${third}` });
      }
      break;
    }
  }
  return out;
}

function hasPorts(proto: number): boolean {
  return proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP || proto === IPPROTO_UDPLITE;
}

// ---------------------------------------------------------------------------
// the registry

/** Options of add/del/restore: `-exist` ignores "already added"/"not added" and re-create of an identical set. */
export interface IpsetCmdOptions { exist?: boolean; comment?: string; line?: number }

export class Ipsets {
  private readonly sets = new Map<string, IpSet>();

  /** The set called 'name', or undefined. */
  get(name: string): IpSet | undefined { return this.sets.get(name); }

  /** Set names in creation order. */
  names(): string[] { return [...this.sets.keys()]; }

  private need(name: string, line: number): IpSet {
    const s = this.sets.get(name);
    if (!s) throw new IpsetError('IPSET_NO_SET', line, name, `The set with the given name does not exist`);
    return s;
  }

  /** `ipset create 'name' 'type' …`; with 'exist' an identical existing set is kept. */
  create(name: string, type: IpsetType, opts: IpsetCreateOptions = {}, o: IpsetCmdOptions = {}): IpSet {
    const line = o.line ?? 0;
    if (name.length === 0 || name.length > 31) throw new IpsetError('IPSET_BAD_NAME', line, name, `Syntax error: setname '${name}' is longer than 31 characters`);
    if (!IPSET_TYPES.includes(type)) throw new IpsetError('IPSET_UNKNOWN_TYPE', line, name, `Syntax error: Unknown settype: '${type}'`);
    if (type === 'bitmap:port') {
      const r = opts.range;
      if (!r) throw new IpsetError('IPSET_MISSING_RANGE', line, name, `Syntax error: Missing mandatory option: "range"`);
      if (r.min > r.max || r.max > 65535 || r.min < 0) throw new IpsetError('IPSET_BAD_RANGE', line, name, `Syntax error: invalid port range ${r.min}-${r.max}`);
    }
    const old = this.sets.get(name);
    if (old) {
      if (o.exist && old.type === type && sameOpts(old.opts, opts)) return old;
      throw new IpsetError('IPSET_EXISTS', line, name, `Set cannot be created: set with the same name already exists`);
    }
    const s = new IpSet(name, type, { ...opts });
    this.sets.set(name, s);
    return s;
  }

  /** `ipset add 'name' 'element'` (ranges expanded). */
  add(name: string, element: string, o: IpsetCmdOptions = {}): void {
    const line = o.line ?? 0;
    const s = this.need(name, line);
    const els = parseElements(s, element, line);
    const maxelem = s.opts.maxelem ?? 65536;
    for (const e of els) {
      const present = s.members.has(e.text);
      if (present) {
        if (o.exist) { if (o.comment !== undefined) s.members.set(e.text, o.comment); continue; }
        throw new IpsetError('IPSET_EXIST_ELEMENT', line, name, `Element cannot be added to the set: it's already added`);
      }
      if (s.type !== 'bitmap:port' && s.members.size >= maxelem) throw new IpsetError('IPSET_FULL', line, name, `Hash is full, cannot add more elements`);
      s.members.set(e.text, o.comment ?? '');
      if (s.type === 'bitmap:port') s.bitmap[e.a] = 1;
      else s.table.set(e.a, e.b, e.c, 0, 1);
      if (s.type === 'hash:net' || s.type === 'hash:ip,port,net') s.countCidr(e.cidr, 1);
    }
  }

  /** `ipset del 'name' 'element'`. */
  del(name: string, element: string, o: IpsetCmdOptions = {}): void {
    const line = o.line ?? 0;
    const s = this.need(name, line);
    for (const e of parseElements(s, element, line)) {
      if (!s.members.delete(e.text)) {
        if (o.exist) continue;
        throw new IpsetError('IPSET_NOT_ELEMENT', line, name, `Element cannot be deleted from the set: it's not added`);
      }
      if (s.type === 'bitmap:port') s.bitmap[e.a] = 0;
      else s.table.delete(e.a, e.b, e.c, 0);
      if (s.type === 'hash:net' || s.type === 'hash:ip,port,net') s.countCidr(e.cidr, -1);
    }
  }

  /**
   * `ipset test 'name' 'element'`: true when every expanded member is in the
   * set. For hash:net an address or net is "in" when a stored net contains
   * it, as the kernel's test of a /32 does.
   */
  test(name: string, element: string): boolean {
    const s = this.need(name, 0);
    for (const e of parseElements(s, element, 0)) {
      if (s.type === 'hash:net') {
        if (!this.netHas(s, e.a, e.cidr)) return false;
      } else if (s.type === 'hash:ip,port,net') {
        if (!this.ipPortNetHas(s, e.a, e.b & 0xffffff, e.c, e.cidr)) return false;
      } else if (!s.has(e.a, e.b, e.c)) return false;
    }
    return true;
  }

  private netHas(s: IpSet, addr: number, maxCidr: number): boolean {
    const cs = s.cidrs;
    for (let i = 0; i < cs.length; i++) {
      const c = cs[i]!;
      if (c > maxCidr) continue;
      if (s.table.get((addr & prefixMask(c)) >>> 0, c, 0, 0) >= 0) return true;
    }
    return false;
  }

  private ipPortNetHas(s: IpSet, ip: number, protoPort: number, addr: number, maxCidr: number): boolean {
    const cs = s.cidrs;
    for (let i = 0; i < cs.length; i++) {
      const c = cs[i]!;
      if (c > maxCidr) continue;
      if (s.table.get(ip, ((c << 24) | protoPort) >>> 0, (addr & prefixMask(c)) >>> 0, 0) >= 0) return true;
    }
    return false;
  }

  /** `ipset flush ['name']` (all sets when no name). */
  flush(name?: string, o: IpsetCmdOptions = {}): void {
    if (name === undefined) { for (const s of this.sets.values()) s.clear(); return; }
    this.need(name, o.line ?? 0).clear();
  }

  /** `ipset destroy ['name']`: refused while an iptables rule holds the set. */
  destroy(name?: string, o: IpsetCmdOptions = {}): void {
    const line = o.line ?? 0;
    if (name === undefined) {
      for (const s of this.sets.values()) if (s.refs > 0) throw new IpsetError('IPSET_IN_USE', line, s.name, `Set cannot be destroyed: it is in use by a kernel component`);
      this.sets.clear();
      return;
    }
    const s = this.need(name, line);
    if (s.refs > 0) throw new IpsetError('IPSET_IN_USE', line, name, `Set cannot be destroyed: it is in use by a kernel component`);
    this.sets.delete(name);
  }

  /** `ipset swap 'a' 'b'`: the names trade contents; both must have the same type. */
  swap(a: string, b: string, o: IpsetCmdOptions = {}): void {
    const line = o.line ?? 0;
    const sa = this.need(a, line), sb = this.need(b, line);
    if (sa.type !== sb.type) throw new IpsetError('IPSET_SWAP_TYPE', line, a, `The sets cannot be swapped: their type does not match`);
    // rules reference sets by kernel index, which stays with the name: swap objects, keep refs with the name
    const ra = sa.refs, rb = sb.refs;
    sa.name = b; sb.name = a;
    sa.refs = rb; sb.refs = ra;
    this.sets.set(a, sb);
    this.sets.set(b, sa);
  }

  /** `ipset rename 'from' 'to'`. */
  rename(from: string, to: string, o: IpsetCmdOptions = {}): void {
    const line = o.line ?? 0;
    const s = this.need(from, line);
    if (this.sets.has(to)) throw new IpsetError('IPSET_EXISTS', line, to, `Set cannot be created: set with the same name already exists`);
    s.name = to;
    const entries = [...this.sets.entries()].map(([k, v]) => (k === from ? [to, v] as const : [k, v] as const));
    this.sets.clear();
    for (const [k, v] of entries) this.sets.set(k, v);
  }

  /** Marks 'name' held by a rule (an iptables `-m set` load); throws if absent. */
  hold(name: string, line = 0): IpSet {
    const s = this.need(name, line);
    s.refs++;
    return s;
  }

  /** Releases a hold taken by `hold()`. */
  release(name: string): void {
    const s = this.sets.get(name);
    if (s && s.refs > 0) s.refs--;
  }

  /**
   * `-m set --match-set 'setName' 'flags'` on packet 'pkt': true when the set
   * holds the packet's element, dimension i taken from the side 'flags[i]'
   * names. Fewer flags than the set's dimension, or an unknown set: false.
   * Fast path: allocates nothing.
   */
  matches(setName: string, flags: readonly MatchDir[], pkt: IpsetPacket): boolean {
    const s = this.sets.get(setName);
    if (s === undefined) return false;
    return matchesSet(s, flags, pkt);
  }

  /** `ipset save` text: per set, its `create` line then its `add` lines. */
  save(name?: string): string {
    let out = '';
    const list = name === undefined ? [...this.sets.values()] : [this.need(name, 0)];
    for (const s of list) {
      out += `create ${s.name} ${s.type}${optsText(s)}\n`;
      for (const [m, comment] of s.members) out += `add ${s.name} ${m}${comment !== '' ? ` comment "${comment}"` : ''}\n`;
    }
    return out;
  }

  /**
   * `ipset restore`: runs 'text' line by line (create/add/del/test/flush/
   * destroy/swap/rename, `COMMIT`, `#` comments, blank lines); 'exist' as
   * `ipset restore -exist`. Throws IpsetError naming the line; the commands
   * before the failing line stay applied, as ipset's restore does.
   */
  restore(text: string, o: { exist?: boolean } = {}): void {
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const raw = lines[i]!.trim();
      if (raw === '' || raw.startsWith('#') || raw === 'COMMIT') continue;
      this.command(tokenize(raw, i + 1), i + 1, o.exist ?? false);
    }
  }

  /** Runs one `ipset` command given as 'args' (no leading `ipset`), e.g. from a script. */
  command(args: string[], line = 0, existDefault = false): void {
    let exist = existDefault;
    const toks = args.filter((t) => { if (t === '-exist' || t === '-!') { exist = true; return false; } return true; });
    const cmd = toks[0] ?? '';
    const name = toks[1];
    const needName = (): string => {
      if (name === undefined) throw new IpsetError('IPSET_MISSING_ARG', line, '', `Syntax error: missing setname`);
      return name;
    };
    switch (cmd) {
      case 'create': case '-N': case 'n': {
        const n = needName();
        const type = toks[2];
        if (type === undefined) throw new IpsetError('IPSET_MISSING_ARG', line, n, `Syntax error: missing settype`);
        if (!IPSET_TYPES.includes(type as IpsetType)) throw new IpsetError('IPSET_UNKNOWN_TYPE', line, n, `Syntax error: Unknown settype: '${type}'`);
        this.create(n, type as IpsetType, parseCreateOpts(toks.slice(3), type as IpsetType, line, n), { exist, line });
        return;
      }
      case 'add': case '-A': case 'a':
      case 'del': case '-D': case 'd':
      case 'test': case '-T': case 't': {
        const n = needName();
        const el = toks[2];
        if (el === undefined) throw new IpsetError('IPSET_MISSING_ARG', line, n, `Syntax error: missing element`);
        let comment: string | undefined;
        for (let i = 3; i < toks.length; i++) {
          const t = toks[i]!;
          if (t === 'comment' && i + 1 < toks.length) { comment = toks[++i]!; continue; }
          if (t === 'timeout' && i + 1 < toks.length) { i++; continue; }
          throw new IpsetError('IPSET_UNKNOWN_ARG', line, n, `Syntax error: Unknown argument: '${t}'`);
        }
        if (cmd === 'add' || cmd === '-A' || cmd === 'a') {
          if (comment !== undefined && !this.sets.get(n)?.opts.comment) throw new IpsetError('IPSET_NO_COMMENT', line, n, `Syntax error: comment extension not enabled for the set`);
          this.add(n, el, comment !== undefined ? { exist, line, comment } : { exist, line });
        } else if (cmd === 'test' || cmd === '-T' || cmd === 't') {
          this.need(n, line);
          if (!this.test(n, el)) throw new IpsetError('IPSET_NOT_IN_SET', line, n, `${el} is NOT in set ${n}.`);
        } else this.del(n, el, { exist, line });
        return;
      }
      case 'flush': case '-F': case 'f': this.flush(name, { line }); return;
      case 'destroy': case '-X': case 'x': this.destroy(name, { line }); return;
      case 'swap': case '-W': case 'w': {
        const n = needName();
        const b = toks[2];
        if (b === undefined) throw new IpsetError('IPSET_MISSING_ARG', line, n, `Syntax error: missing second setname`);
        this.swap(n, b, { line });
        return;
      }
      case 'rename': case '-E': case 'e': {
        const n = needName();
        const b = toks[2];
        if (b === undefined) throw new IpsetError('IPSET_MISSING_ARG', line, n, `Syntax error: missing new setname`);
        this.rename(n, b, { line });
        return;
      }
      default:
        throw new IpsetError('IPSET_UNKNOWN_COMMAND', line, name ?? '', `Syntax error: Unknown command '${cmd}'`);
    }
  }
}

/**
 * The packet test of `matches()` on a set object already resolved (a compiled
 * rule keeps the `IpSet`); allocates nothing.
 */
export function matchesSet(s: IpSet, flags: readonly MatchDir[], pkt: IpsetPacket): boolean {
  if (flags.length < s.dimension) return false;
  const d0 = flags[0] === 'src';
  switch (s.type) {
    case 'hash:ip':
      return s.table.get(d0 ? pkt.src : pkt.dst, 0, 0, 0) >= 0;
    case 'hash:net': {
      const addr = d0 ? pkt.src : pkt.dst;
      const cs = s.cidrs;
      for (let i = 0; i < cs.length; i++) {
        const c = cs[i]!;
        if (s.table.get((addr & prefixMask(c)) >>> 0, c, 0, 0) >= 0) return true;
      }
      return false;
    }
    case 'bitmap:port': {
      if (!hasPorts(pkt.proto)) return false;
      const port = d0 ? pkt.sport : pkt.dport;
      const r = s.opts.range!;
      return port >= r.min && port <= r.max && s.bitmap[port] === 1;
    }
    case 'hash:ip,port':
    case 'hash:ip,port,ip': {
      const ip = d0 ? pkt.src : pkt.dst;
      const port = flags[1] === 'src' ? pkt.sport : pkt.dport;
      const b = ((pkt.proto << 16) | (port & 0xffff)) >>> 0;
      const c = s.type === 'hash:ip,port' ? 0 : (flags[2] === 'src' ? pkt.src : pkt.dst);
      return s.table.get(ip, b, c, 0) >= 0;
    }
    case 'hash:ip,port,net': {
      const ip = d0 ? pkt.src : pkt.dst;
      const port = flags[1] === 'src' ? pkt.sport : pkt.dport;
      const pp = (pkt.proto << 16) | (port & 0xffff);
      const addr = flags[2] === 'src' ? pkt.src : pkt.dst;
      const cs = s.cidrs;
      for (let i = 0; i < cs.length; i++) {
        const c = cs[i]!;
        if (s.table.get(ip, ((c << 24) | pp) >>> 0, (addr & prefixMask(c)) >>> 0, 0) >= 0) return true;
      }
      return false;
    }
  }
}

function sameOpts(a: IpsetCreateOptions, b: IpsetCreateOptions): boolean {
  return (a.hashsize ?? 1024) === (b.hashsize ?? 1024) && (a.maxelem ?? 65536) === (b.maxelem ?? 65536)
    && (a.range?.min ?? -1) === (b.range?.min ?? -1) && (a.range?.max ?? -1) === (b.range?.max ?? -1)
    && !!a.comment === !!b.comment && (a.timeout ?? 0) === (b.timeout ?? 0) && !!a.counters === !!b.counters;
}

function optsText(s: IpSet): string {
  const o = s.opts;
  let t = '';
  if (s.type === 'bitmap:port') t += ` range ${o.range!.min}-${o.range!.max}`;
  else t += ` family inet hashsize ${o.hashsize ?? 1024} maxelem ${o.maxelem ?? 65536}`;
  if (o.timeout !== undefined) t += ` timeout ${o.timeout}`;
  if (o.counters) t += ' counters';
  if (o.comment) t += ' comment';
  if (o.bucketsize !== undefined) t += ` bucketsize ${o.bucketsize}`;
  if (o.initval !== undefined) t += ` initval 0x${o.initval.toString(16).padStart(8, '0')}`;
  return t;
}

function parseCreateOpts(toks: string[], type: IpsetType, line: number, set: string): IpsetCreateOptions {
  const o: IpsetCreateOptions = {};
  const num = (i: number, what: string, max: number): number => {
    const v = toks[i];
    if (v === undefined || !/^\d{1,10}$/.test(v) || Number(v) > max) throw new IpsetError('IPSET_BAD_OPTION', line, set, `Syntax error: '${v ?? ''}' is invalid as number for ${what}`);
    return Number(v);
  };
  const isHash = type !== 'bitmap:port';
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    switch (t) {
      case 'family': {
        const f = toks[++i];
        if (!isHash) break;
        if (f !== 'inet') throw new IpsetError('IPSET_UNSUPPORTED', line, set, `family '${f ?? ''}' is not supported (IPv4 only)`);
        continue;
      }
      case 'hashsize': if (!isHash) break; o.hashsize = num(++i, 'hashsize', 0xffffffff); continue;
      case 'maxelem': if (!isHash) break; o.maxelem = num(++i, 'maxelem', 0xffffffff); continue;
      case 'bucketsize': if (!isHash) break; o.bucketsize = num(++i, 'bucketsize', 255); continue;
      case 'initval': {
        if (!isHash) break;
        const v = toks[++i] ?? '';
        if (!/^(0x[0-9a-fA-F]{1,8}|\d{1,10})$/.test(v) || Number(v) > 0xffffffff) throw new IpsetError('IPSET_BAD_OPTION', line, set, `Syntax error: '${v}' is invalid as number for initval`);
        o.initval = Number(v);
        continue;
      }
      case 'timeout': o.timeout = num(++i, 'timeout', 2147483); continue;
      case 'counters': o.counters = true; continue;
      case 'comment': o.comment = true; continue;
      case 'range': {
        if (isHash) break;
        const v = toks[++i] ?? '';
        const m = /^(\d{1,5})-(\d{1,5})$/.exec(v) ?? /^(\d{1,5})$/.exec(v);
        if (!m) throw new IpsetError('IPSET_BAD_RANGE', line, set, `Syntax error: invalid port range '${v}'`);
        // ipset accepts a reversed range and swaps it (kube-proxy's validatePortRange relies on that)
        const a = Number(m[1]), b = Number(m[2] ?? m[1]);
        if (a > 65535 || b > 65535) throw new IpsetError('IPSET_BAD_RANGE', line, set, `Syntax error: invalid port range '${v}'`);
        o.range = { min: Math.min(a, b), max: Math.max(a, b) };
        continue;
      }
      default: break;
    }
    throw new IpsetError('IPSET_UNKNOWN_ARG', line, set, `Syntax error: Unknown argument: '${t}'`);
  }
  return o;
}

/** Splits a restore line into words; double quotes group (comments). */
function tokenize(s: string, line: number): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    const ch = s[i]!;
    if (ch === ' ' || ch === '\t') { i++; continue; }
    if (ch === '"') {
      const end = s.indexOf('"', i + 1);
      if (end < 0) throw new IpsetError('IPSET_BAD_QUOTE', line, '', `Syntax error: missing close quote`);
      out.push(s.slice(i + 1, end));
      i = end + 1;
      continue;
    }
    let j = i;
    while (j < s.length && s[j] !== ' ' && s[j] !== '\t') j++;
    out.push(s.slice(i, j));
    i = j;
  }
  return out;
}
