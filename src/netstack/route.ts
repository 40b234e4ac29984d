/**
 * The routing table of a Linux-like host: its IPv4 and IPv6 FIB, as the kernel keeps them
 * (net/ipv4/fib_trie.c, net/ipv6/ip6_fib.c), with `ip route` text in and out (netstack, issue 6).
 *
 * What: `RoutingTable` holds a host's devices and addresses, and per family a `Fib`: routes of
 * every type the kernel has (unicast, local, broadcast, multicast, blackhole, unreachable,
 * prohibit, throw), each with table, metric, protocol, scope, gateway, device and preferred
 * source. `addConnected(dev, 'a/p')` adds what the kernel adds for a new address (the local and
 * broadcast routes in table local, the subnet route `proto kernel scope link src a` in main).
 * `ipRoute('add|append|prepend|replace|change|del|show|get …')` reads and writes routes in
 * iproute2's syntax with its error messages, and prints `ip route show`/`ip route get` byte for
 * byte as iproute2 6.1 does on Linux 6.x (test/netstack/route-kernel.test.ts compares them).
 * `lookup4(addr)` / `lookup6(words, off)` are the per-packet calls: a route id or -1.
 *
 * Kernel semantics kept (each seen on Linux 6.18 with iproute2 6.1, see the kernel test):
 *  - IPv4 without policy rules looks up ONE merged trie of tables local and main (the kernel's
 *    fib_trie "local/main collapse"), not local then main: the longest prefix of either table
 *    wins; at equal length table local sorts first. So a main 127.0.0.0/16 beats the local
 *    127.0.0.0/8, and a `throw` in table local ends the lookup for the addresses it covers.
 *    A `throw` (or no match) then consults table default (253) if it was ever created;
 *    blackhole/unreachable/prohibit are final.
 *  - IPv6 looks up table local, then main (fib6_rule_lookup without custom rules); a `throw`
 *    in local goes on to main.
 *  - Among routes of one prefix: table (local first), then metric ascending, then the order
 *    `add`/`append`/`prepend`/`replace` put them in (fib_insert_alias, fib6_add_rt2node); the
 *    first one is the route. `add` of a second route with the same prefix, table and metric is
 *    EEXIST; `append`/`prepend` (IPv4) put it after/before the others of that metric.
 *  - Preferred source: the route's `src`; else IPv4's inet_select_addr (the first primary
 *    address of the device in the gateway's subnet, scope-filtered by the route's scope, else
 *    any device's) and IPv6's RFC 6724 selection (ipv6_dev_get_saddr's rules 1, 2, 5, 6, 8, 9).
 *    `ip route get` of an IPv4 destination whose source would be 127/8 on a non-loopback
 *    device is EINVAL (__mkroute_output, route_localnet=0).
 *  - An IPv4 gateway is checked with a lookup of scope >= link (a scope-global route to it
 *    does not count) and, with `dev`, on that device; one that resolves through a host-scope
 *    route (a local address) is accepted but is not the next hop (RTF_USES_GATEWAY clear).
 *  - An IPv6 gateway is checked in the route's table, then by fib6_lookup, which stops at ANY
 *    match in table local — so a `throw default table local` makes every gateway check of a
 *    route for another table fail with EHOSTUNREACH (ip6_route_check_nh).
 *  - Not reproduced: the kernel caches IPv4 output routes per nexthop and CPU, and a multicast
 *    destination (group not joined, prefix >= /4) shares that cache with unicast ones through
 *    the same fib_info, so `ip route get` may print `multicast … <mc>` for a unicast address
 *    or a unicast answer for a multicast one, depending on which came first. This model
 *    answers as a fresh cache does.
 *
 * Why this lookup structure: a per-family store of prefixes sits under one LPM index per lookup
 * domain (v4: local+main merged, default; v6: local, main). An index is a hash table keyed by
 * (prefix length, masked prefix) — "only the lengths that have routes, longest first" — with a
 * direct-indexed first level of 2^S slots on the top S address bits (S = 8, then 16 above 1024
 * prefixes): a slot holds the best route of the prefixes of length <= S covering it (leaf
 * pushed) and the list of longer lengths present under it, so a lookup probes only lengths that
 * exist under its /S. Measured at 100k BGP-like IPv4 routes (24 lengths present): 1.2 probes a
 * lookup at S = 16 against 15.9 for plain per-length tables (`{ stride: 0 }`), ~17–20 M
 * lookups/s against 2–3 M (bench/route.bench.ts, 65536 spread destinations). A leaf-pushed
 * multibit trie of stride 8 (DIR-8-8-8-8, benched there for comparison) is faster still for
 * IPv4 (~5x) but takes 50 MB for those routes (this whole FIB: 6.8 MB) and its IPv6 form
 * (up to 16 levels) far more; one structure for both families, with memory bounded by the
 * prefix count, was preferred, since 17 M/s is well past the 5 M/s goal.
 * Invariants:
 *  - a Fib's node store (`byLen`, one node per (length, prefix), routes in kernel order) is the
 *    truth; every index holds, for each prefix with a route in its tables, the first such route,
 *    and nothing else. Indexes are updated on every change, never rebuilt for a lookup.
 *  - slotEnt/slotBest of a slot are the longest prefix of length <= S covering it; slotSet
 *    lists every length > S that has a prefix under the slot, longest first.
 *  - route ids are stable while the route exists; a deleted id is reused. Typed arrays are
 *    replaced when they grow: re-read `fib.type` etc. after adding routes.
 * Cost: lookup4 allocates nothing: one slot read, then per listed length a mask, a
 * multiply-shift hash and a probe of an Int32Array (linear probing, load <= 1/2). lookup6 the
 * same over four words. Adding or deleting a route is O(routes of that prefix) plus, for
 * lengths <= S, a rewrite of 2^(S-len) slots (a default route: 65536 writes).
 * Memory: a RoutingTable's IPv6 Fib (with its two indexes, ~20 kB) is made when something first
 * reads `fib6` (an IPv6 packet, address or route, `ip -6 route`); the kernel's own IPv6 routes
 * added before (each device's ff00::/8 and link-local address, ::1) wait in a list and are
 * inserted then, in the order they came, so the FIB is the same as if made at once.
 * Neighbours: the host stack's interface code calls addDevice/addConnected; forwarding and
 * local output call lookup4/lookup6 and read the typed arrays (type, oif, gateway, prefsrc);
 * the topology loader feeds `ip route` lines to ipRoute. Errors are RouteError (errors.ts base).
 * Not modelled: policy rules (`ip rule`), multipath, nexthop objects, route metrics (mtu…),
 * tos, neighbour-state-driven choices (fib_select_default among equal default routes, IPv6
 * round robin), link-down, IPv6 address deletion, promote_secondaries, IPv6 anycast routes
 * (forwarding=1). IPv4 address deletion (`delAddress4`) and device deletion (`delDevice`) are
 * modelled.
 */
import { SdnemuError } from '../errors.js';
import { ipv6ToString } from '../wire/bytes.js';

// ---------------------------------------------------------------------------------------------
// Kernel constants (include/uapi/linux/rtnetlink.h)

export const RTN_UNSPEC = 0;
export const RTN_UNICAST = 1;
export const RTN_LOCAL = 2;
export const RTN_BROADCAST = 3;
export const RTN_ANYCAST = 4;
export const RTN_MULTICAST = 5;
export const RTN_BLACKHOLE = 6;
export const RTN_UNREACHABLE = 7;
export const RTN_PROHIBIT = 8;
export const RTN_THROW = 9;
export const RTN_NAT = 10;

export const RT_TABLE_UNSPEC = 0;
export const RT_TABLE_DEFAULT = 253;
export const RT_TABLE_MAIN = 254;
export const RT_TABLE_LOCAL = 255;

export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_SITE = 200;
export const RT_SCOPE_LINK = 253;
export const RT_SCOPE_HOST = 254;
export const RT_SCOPE_NOWHERE = 255;

export const RTPROT_UNSPEC = 0;
export const RTPROT_KERNEL = 2;
export const RTPROT_BOOT = 3;
export const RTPROT_STATIC = 4;

/** `flags[id]` bits. */
export const RTF_HAS_GATEWAY = 1;
export const RTF_HAS_PREFSRC = 2;
export const RTF_ONLINK = 4;
/**
 * IPv4: the gateway is the next hop (its nexthop scope is link: it resolved through an on-link
 * route, or `onlink`). A route with a gateway but without this bit resolved it through a
 * host-scope route (a local address): the kernel then sends to the destination itself on the
 * route's device (rt_set_nexthop's rt_uses_gateway). IPv6 routes with a gateway always use it.
 */
export const RTF_USES_GATEWAY = 8;

/** Errnos a lookup result maps to (fib_props[type].error; ENETUNREACH for no route). */
export const EINVAL = 22;
export const EHOSTUNREACH = 113;
export const ENETUNREACH = 101;
export const EACCES = 13;

const TYPE_NAMES = ['unspec', 'unicast', 'local', 'broadcast', 'anycast', 'multicast', 'blackhole', 'unreachable', 'prohibit', 'throw', 'nat', 'xresolve'];
/** iproute2's /etc/iproute2/rt_protos (Debian iproute2 6.1). */
const PROTO_NAMES = new Map<number, string>([
  [0, 'unspec'], [1, 'redirect'], [2, 'kernel'], [3, 'boot'], [4, 'static'], [8, 'gated'], [9, 'ra'], [10, 'mrt'],
  [11, 'zebra'], [12, 'bird'], [13, 'dnrouted'], [14, 'xorp'], [15, 'ntk'], [16, 'dhcp'], [18, 'keepalived'],
  [42, 'babel'], [99, 'openr'], [186, 'bgp'], [187, 'isis'], [188, 'ospf'], [189, 'rip'], [192, 'eigrp'],
]);
/** /etc/iproute2/rt_scopes. */
const SCOPE_NAMES = new Map<number, string>([[0, 'global'], [255, 'nowhere'], [254, 'host'], [253, 'link'], [200, 'site']]);
/** /etc/iproute2/rt_tables. */
const TABLE_NAMES = new Map<number, string>([[255, 'local'], [254, 'main'], [253, 'default'], [0, 'unspec']]);

/** The route type's name as `ip route` prints it ('unicast', 'blackhole', …). */
export function routeTypeName(type: number): string {
  return TYPE_NAMES[type] ?? String(type);
}
/** The protocol's name as `ip route` prints it (rt_protos), else its number. */
export function routeProtoName(proto: number): string {
  return PROTO_NAMES.get(proto) ?? String(proto);
}
/** The scope's name (rt_scopes), else its number. */
export function routeScopeName(scope: number): string {
  return SCOPE_NAMES.get(scope) ?? String(scope);
}
/** The table's name (rt_tables), else its number. */
export function routeTableName(table: number): string {
  return TABLE_NAMES.get(table) ?? String(table);
}

/** The errno a route of 'type' answers a lookup with, 0 for a usable route (fib_props). */
export function routeTypeErrno(type: number): number {
  switch (type) {
    case RTN_BLACKHOLE: return EINVAL;
    case RTN_UNREACHABLE: return EHOSTUNREACH;
    case RTN_PROHIBIT: return EACCES;
    case RTN_THROW: return ENETUNREACH;
    default: return 0;
  }
}

const ERRNO_TEXT = new Map<number, string>([
  [EINVAL, 'Invalid argument'], [EHOSTUNREACH, 'No route to host'], [ENETUNREACH, 'Network is unreachable'],
  [EACCES, 'Permission denied'],
]);

// ---------------------------------------------------------------------------------------------
// Errors

/**
 * A refused `ip route` command or address: 'code' is stable, 'token' the argument at fault
 * ('' when the kernel refused the whole request), the message is what iproute2 prints to
 * stderr (its first line), e.g. `Error: inet prefix is expected rather than "10.0.0.300/24".`
 * or `RTNETLINK answers: File exists`.
 */
export class RouteError extends SdnemuError {
  readonly token: string;
  constructor(code: string, token: string, message: string) {
    super(code, message);
    this.name = 'RouteError';
    this.token = token;
  }
  override location(): Record<string, string | number> {
    return { token: this.token };
  }
}

const kernelError = (code: string, text: string): RouteError => new RouteError(code, '', text);
const rtnetlink = (code: string, text: string): RouteError => new RouteError(code, '', `RTNETLINK answers: ${text}`);

// ---------------------------------------------------------------------------------------------
// Address text, as iproute2 reads it (lib/utils.c) and glibc prints it

/** C's strtoul(s, &end, base) over 's' from 'pos': [value (2^64-wrapped for '-'), end]. */
function strtoul(s: string, pos: number, base: number): [number, number] {
  let i = pos;
  while (i < s.length && ' \t\n\v\f\r'.includes(s[i]!)) i++;
  let neg = false;
  if (s[i] === '+' || s[i] === '-') { neg = s[i] === '-'; i++; }
  let b = base;
  if ((b === 0 || b === 16) && s[i] === '0' && (s[i + 1] === 'x' || s[i + 1] === 'X') && /[0-9a-fA-F]/.test(s[i + 2] ?? '')) {
    i += 2; b = 16;
  } else if (b === 0) {
    b = s[i] === '0' ? 8 : 10;
  }
  const start = i;
  let v = 0;
  for (; i < s.length; i++) {
    const d = parseInt(s[i]!, 36);
    if (Number.isNaN(d) || d >= b) break;
    v = v * b + d;
  }
  if (i === start) return [0, pos]; // no digits: end = the start of the string, as C does
  if (neg && v !== 0) v = 2 ** 64 - v; // only compared against limits
  return [v, i];
}

/** get_u32 / get_unsigned (base 0): the number, or null when 's' is not all digits or > 2^32-1. */
function getU32(s: string): number | null {
  if (s === '') return null;
  const [v, end] = strtoul(s, 0, 0);
  if (end === 0 || end !== s.length || v > 0xffffffff) return null;
  return v;
}

/** iproute2's get_addr_ipv4: 1–4 strtoul(base 0) parts separated by '.', each <= 255. */
function getAddrIpv4(s: string): number | null {
  const b = [0, 0, 0, 0];
  let pos = 0;
  for (let i = 0; i < 4; i++) {
    const [n, end] = strtoul(s, pos, 0);
    if (n > 255) return null;
    if (end === pos) return null;
    b[i] = n;
    if (end === s.length) break;
    if (i === 3 || s[end] !== '.') return null;
    pos = end + 1;
  }
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

/** glibc inet_pton(AF_INET): exactly four decimal octets, no leading zeros. */
function inetPton4(s: string): number | null {
  const m = /^(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})$/.exec(s);
  if (m === null) return null;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]);
    if (o > 255) return null;
    v = (v << 8) | o;
  }
  return v >>> 0;
}

/**
 * glibc inet_pton(AF_INET6) into four uint32 words, or null: 1–4 hex digits a group, one `::`
 * standing for at least one zero group, an optional dotted IPv4 tail.
 */
export function inetPton6(s: string): number[] | null {
  const groups: number[] = [];
  let gap = -1;
  let i = 0;
  if (s.startsWith('::')) { gap = 0; i = 2; if (s.length === 2) return [0, 0, 0, 0]; } else if (s.startsWith(':')) return null;
  while (i < s.length) {
    // a group or the IPv4 tail
    let j = i;
    while (j < s.length && /[0-9a-fA-F]/.test(s[j]!)) j++;
    if (s[j] === '.') {
      const v4 = inetPton4(s.slice(i));
      if (v4 === null || groups.length > 6) return null;
      groups.push(v4 >>> 16, v4 & 0xffff);
      i = s.length;
      break;
    }
    if (j === i || j - i > 4) return null;
    groups.push(parseInt(s.slice(i, j), 16));
    if (j === s.length) { i = j; break; }
    if (s[j] !== ':') return null;
    if (s[j + 1] === ':') {
      if (gap >= 0) return null;
      gap = groups.length;
      i = j + 2;
      if (i === s.length) break;
    } else {
      i = j + 1;
      if (i === s.length) return null; // a trailing single ':'
    }
    if (groups.length > 8) return null;
  }
  if (gap >= 0) {
    if (groups.length >= 8) return null;
    const fill = new Array<number>(8 - groups.length).fill(0);
    groups.splice(gap, 0, ...fill);
  }
  if (groups.length !== 8) return null;
  const w: number[] = [];
  for (let k = 0; k < 4; k++) w.push(((groups[2 * k]! << 16) | groups[2 * k + 1]!) >>> 0);
  return w;
}

/** Dotted-quad text of uint32 'a'. */
export function ipv4Text(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}

/** RFC 5952 text (glibc inet_ntop) of the four words at 'w[off..off+3]'. */
export function ipv6Text(w: ArrayLike<number>, off = 0): string {
  const b = new Uint8Array(16);
  for (let i = 0; i < 4; i++) {
    const x = w[off + i]! >>> 0;
    b[4 * i] = x >>> 24; b[4 * i + 1] = (x >>> 16) & 0xff; b[4 * i + 2] = (x >>> 8) & 0xff; b[4 * i + 3] = x & 0xff;
  }
  return ipv6ToString(b, 0);
}

/** An address as iproute2's get_addr_1 reads it: family 4 or 6 with words, or 0 for `default`/`any`/`all`. */
interface ParsedAddr { family: 0 | 4 | 6; words: number[]; isDefault: boolean }

function getAddr1(s: string, family: 0 | 4 | 6): ParsedAddr | null {
  if (s === 'default') return { family, words: [0, 0, 0, 0], isDefault: true };
  if (s === 'all' || s === 'any') return { family, words: [0, 0, 0, 0], isDefault: true };
  if (s.includes(':')) {
    if (family !== 0 && family !== 6) return null;
    const w = inetPton6(s);
    return w === null ? null : { family: 6, words: w, isDefault: false };
  }
  if (family !== 0 && family !== 4) return null;
  const a = getAddrIpv4(s);
  return a === null ? null : { family: 4, words: [a, 0, 0, 0], isDefault: false };
}

/** A prefix as get_prefix_1 reads it ('/len' or '/dotted.mask'); bitlen -1 = no '/'. */
interface ParsedPrefix { family: 0 | 4 | 6; words: number[]; bitlen: number; isDefault: boolean }

function getPrefix1(s: string, family: 0 | 4 | 6): ParsedPrefix | null {
  const slash = s.indexOf('/');
  const a = getAddr1(slash >= 0 ? s.slice(0, slash) : s, family);
  if (a === null) return null;
  const hostLen = a.family === 6 ? 128 : a.family === 4 ? 32 : 0;
  let bitlen = a.isDefault ? 0 : hostLen;
  if (slash >= 0) {
    if (a.isDefault) return null;
    const t = s.slice(slash + 1);
    let plen = getU32(t);
    if (plen === null) {
      const m = getAddr1(t, 4);
      if (m !== null && m.family === 4 && !m.isDefault) plen = maskToBits(m.words[0]!);
    }
    if (plen === null || plen > hostLen) return null;
    bitlen = plen;
  }
  return { family: a.family, words: a.words, bitlen, isDefault: a.isDefault };
}

/** mask2bits: the length of a contiguous netmask, else null. */
function maskToBits(m: number): number | null {
  const inv = ~m >>> 0;
  if ((inv & (inv + 1)) !== 0) return null;
  return 32 - (inv === 0 ? 0 : 32 - Math.clz32(inv));
}

const familyVerbose = (f: 0 | 4 | 6): string => (f === 4 ? 'inet' : f === 6 ? 'inet6' : 'any valid');

// ---------------------------------------------------------------------------------------------
// Masks and hashes (the hot path)

/** MASK32[len]: the int32 netmask of an IPv4 prefix length. */
const MASK32 = new Int32Array(33);
for (let l = 1; l <= 32; l++) MASK32[l] = (-1 << (32 - l)) | 0;
/** MASK128[4*len + i]: word i of the IPv6 netmask of length len. */
const MASK128 = new Int32Array(129 * 4);
for (let l = 0; l <= 128; l++) for (let i = 0; i < 4; i++) MASK128[4 * l + i] = MASK32[Math.max(0, Math.min(32, l - 32 * i))]!;

function hash1(k: number, len: number): number {
  let h = (Math.imul(k, 0x9e3779b1) + Math.imul(len, 0x85ebca77)) | 0;
  h ^= h >>> 15;
  return Math.imul(h, 0x2c1b3c6d) ^ (h >>> 13);
}

function hash4(k0: number, k1: number, k2: number, k3: number, len: number): number {
  let h = (Math.imul(k0, 0x9e3779b1) ^ Math.imul(k1, 0x85ebca77) ^ Math.imul(k2, 0xc2b2ae3d) ^ Math.imul(k3, 0x27d4eb2f)) + len;
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return h ^ (h >>> 13);
}

// ---------------------------------------------------------------------------------------------
// LpmIndex: the per-domain longest-prefix-match structure

/** Slot stride choice: 'auto' = 8 bits, 16 above AUTO_STRIDE_LIMIT prefixes. */
export type StrideOption = 0 | 8 | 16 | 'auto';
const AUTO_STRIDE_LIMIT = 1024;

/**
 * The longest-prefix index of one lookup domain: maps (length, masked prefix) to the route
 * the domain answers for that prefix. W = 1 (IPv4, int32 keys) or 4 (IPv6, four int32 words).
 * See the module comment for the slot layer. Only `set` changes it.
 */
export class LpmIndex {
  readonly W: number;
  private readonly maxLen: number;
  private readonly auto: boolean;
  stride = 0;
  private shA = 16;
  private shB = 16;
  // entries
  private ekey: Int32Array;
  private elen: Uint8Array;
  private ebest: Int32Array;
  private efree: number[] = [];
  private ecap: number;
  private ehigh = 0;
  count = 0;
  // open-addressed hash of entry ids, -1 empty
  private htab: Int32Array;
  private hmask: number;
  // first level
  private slotBest: Int32Array;
  private slotEnt: Int32Array;
  private slotSet: Int32Array;
  // interned length lists, longest first; set 0 is empty
  private setOff: Int32Array;
  private setLen: Uint8Array;
  private setLens: Uint8Array;
  private setCount = 1;
  private setLensUsed = 0;
  private readonly setIntern = new Map<string, number>([['', 0]]);
  private readonly setList: number[][] = [[]];
  /** prefixes of length > stride per (slot, length): key slot * 256 + length */
  private readonly slotLenCount = new Map<number, number>();
  /** prefixes per length (all lengths) */
  private readonly lenCount: Int32Array;

  constructor(W: 1 | 4, stride: StrideOption) {
    this.W = W;
    this.maxLen = W * 32;
    this.auto = stride === 'auto';
    this.ecap = 16;
    this.ekey = new Int32Array(this.ecap * W);
    this.elen = new Uint8Array(this.ecap);
    this.ebest = new Int32Array(this.ecap);
    this.htab = new Int32Array(32).fill(-1);
    this.hmask = 31;
    this.setOff = new Int32Array(16);
    this.setLen = new Uint8Array(16);
    this.setLens = new Uint8Array(64);
    this.lenCount = new Int32Array(this.maxLen + 1);
    this.slotBest = new Int32Array(1);
    this.slotEnt = new Int32Array(1);
    this.slotSet = new Int32Array(1);
    this.setStride(stride === 'auto' ? 8 : stride);
  }

  /** The route for IPv4 address 'a' (uint32 or int32 bits): the best route of the longest prefix, or -1. */
  lookup1(a: number): number {
    const s = (a >>> this.shA) >>> this.shB;
    const set = this.slotSet[s]!;
    if (set !== 0) {
      const lens = this.setLens, htab = this.htab, hmask = this.hmask, ekey = this.ekey, elen = this.elen;
      for (let i = this.setOff[set]!, end = i + this.setLen[set]!; i < end; i++) {
        const len = lens[i]!;
        const k = a & MASK32[len]!;
        let h = hash1(k, len) & hmask;
        let e = htab[h]!;
        while (e >= 0) {
          if (ekey[e] === k && elen[e] === len) return this.ebest[e]!;
          h = (h + 1) & hmask;
          e = htab[h]!;
        }
      }
    }
    return this.slotBest[s]!;
  }

  /** The route for the IPv6 address in 'w[off..off+3]' (uint32 words), or -1. */
  lookup4w(w: ArrayLike<number>, off: number): number {
    const a0 = w[off]! | 0, a1 = w[off + 1]! | 0, a2 = w[off + 2]! | 0, a3 = w[off + 3]! | 0;
    const s = (a0 >>> this.shA) >>> this.shB;
    const set = this.slotSet[s]!;
    if (set !== 0) {
      const lens = this.setLens, htab = this.htab, hmask = this.hmask, ekey = this.ekey, elen = this.elen;
      for (let i = this.setOff[set]!, end = i + this.setLen[set]!; i < end; i++) {
        const len = lens[i]!;
        const m = len << 2;
        const k0 = a0 & MASK128[m]!, k1 = a1 & MASK128[m + 1]!, k2 = a2 & MASK128[m + 2]!, k3 = a3 & MASK128[m + 3]!;
        let h = hash4(k0, k1, k2, k3, len) & hmask;
        let e = htab[h]!;
        while (e >= 0) {
          const b = e << 2;
          if (ekey[b] === k0 && ekey[b + 1] === k1 && ekey[b + 2] === k2 && ekey[b + 3] === k3 && elen[e] === len) return this.ebest[e]!;
          h = (h + 1) & hmask;
          e = htab[h]!;
        }
      }
    }
    return this.slotBest[s]!;
  }

  /** The route of the longest prefix shorter than 'maxLen' covering 'key' (slow path), or -1. */
  private bestShorter(key: ArrayLike<number>, maxLen: number): number {
    for (let len = maxLen - 1; len >= 0; len--) {
      if (this.lenCount[len] === 0) continue;
      const e = this.find(key, len);
      if (e >= 0) return e;
    }
    return -1;
  }

  private homeOf(e: number): number {
    const W = this.W, len = this.elen[e]!;
    if (W === 1) return hash1(this.ekey[e]!, len) & this.hmask;
    const b = e * 4;
    return hash4(this.ekey[b]!, this.ekey[b + 1]!, this.ekey[b + 2]!, this.ekey[b + 3]!, len) & this.hmask;
  }

  private hashKey(key: ArrayLike<number>, len: number): number {
    if (this.W === 1) return hash1(key[0]! & MASK32[len]!, len);
    const m = len << 2;
    return hash4(key[0]! & MASK128[m]!, key[1]! & MASK128[m + 1]!, key[2]! & MASK128[m + 2]!, key[3]! & MASK128[m + 3]!, len);
  }

  /** The entry id of (len, key) or -1 ('key' already masked or not; words beyond len are masked here). */
  private find(key: ArrayLike<number>, len: number): number {
    const W = this.W;
    let h = this.hashKey(key, len) & this.hmask;
    for (;;) {
      const e = this.htab[h]!;
      if (e < 0) return -1;
      if (this.elen[e] === len) {
        let same = true;
        for (let i = 0; i < W; i++) {
          const m = W === 1 ? MASK32[len]! : MASK128[4 * len + i]!;
          if (this.ekey[e * W + i] !== (key[i]! & m)) { same = false; break; }
        }
        if (same) return e;
      }
      h = (h + 1) & this.hmask;
    }
  }

  /**
   * Make route 'best' the answer for prefix 'key'/'len' ('key' masked, uint32 or int32 words);
   * -1 removes the prefix from the index. Updates the hash, the slots and the length lists.
   */
  set(key: ArrayLike<number>, len: number, best: number): void {
    const e = this.find(key, len);
    if (best < 0) {
      if (e >= 0) this.remove(e);
      return;
    }
    if (e >= 0) {
      if (this.ebest[e] === best) return;
      this.ebest[e] = best;
      if (len <= this.stride) this.forRange(e, (s) => { if (this.slotEnt[s] === e) this.slotBest[s] = best; });
      return;
    }
    this.insert(key, len, best);
  }

  private insert(key: ArrayLike<number>, len: number, best: number): void {
    const W = this.W;
    let e = this.efree.pop();
    if (e === undefined) {
      if (this.ehigh === this.ecap) this.growEntries();
      e = this.ehigh++;
    }
    for (let i = 0; i < W; i++) this.ekey[e * W + i] = key[i]! & (W === 1 ? MASK32[len]! : MASK128[4 * len + i]!);
    this.elen[e] = len;
    this.ebest[e] = best;
    this.count++;
    this.lenCount[len]!++;
    if (this.count * 2 > this.htab.length) this.rehash(this.htab.length * 2);
    this.hashPut(e);
    this.slotAdd(e);
    if (this.auto && this.stride < 16 && this.count > AUTO_STRIDE_LIMIT) this.setStride(16);
  }

  private remove(e: number): void {
    // backward-shift deletion (linear probing)
    let i = this.homeOf(e);
    while (this.htab[i] !== e) i = (i + 1) & this.hmask;
    let j = i;
    for (;;) {
      j = (j + 1) & this.hmask;
      const f = this.htab[j]!;
      if (f < 0) break;
      const k = this.homeOf(f);
      if (i <= j ? i < k && k <= j : i < k || k <= j) continue;
      this.htab[i] = f;
      i = j;
    }
    this.htab[i] = -1;
    this.slotRemove(e);
    this.count--;
    this.lenCount[this.elen[e]!]!--;
    this.efree.push(e);
  }

  private hashPut(e: number): void {
    let h = this.homeOf(e);
    while (this.htab[h]! >= 0) h = (h + 1) & this.hmask;
    this.htab[h] = e;
  }

  private rehash(size: number): void {
    const old = this.htab;
    this.htab = new Int32Array(size).fill(-1);
    this.hmask = size - 1;
    for (let i = 0; i < old.length; i++) if (old[i]! >= 0) this.hashPut(old[i]!);
  }

  private growEntries(): void {
    const cap = this.ecap * 2, W = this.W;
    const k = new Int32Array(cap * W); k.set(this.ekey); this.ekey = k;
    const l = new Uint8Array(cap); l.set(this.elen); this.elen = l;
    const b = new Int32Array(cap); b.set(this.ebest); this.ebest = b;
    this.ecap = cap;
  }

  private slotOf(e: number): number {
    return (this.ekey[e * this.W]! >>> this.shA) >>> this.shB;
  }

  /** Call 'fn' on each slot prefix 'e' (length <= stride) covers. */
  private forRange(e: number, fn: (s: number) => void): void {
    const first = this.slotOf(e), n = 1 << (this.stride - this.elen[e]!);
    for (let s = first; s < first + n; s++) fn(s);
  }

  private slotAdd(e: number): void {
    const len = this.elen[e]!;
    if (len <= this.stride) {
      const first = this.slotOf(e), n = 1 << (this.stride - len), best = this.ebest[e]!;
      for (let s = first; s < first + n; s++) {
        const cur = this.slotEnt[s]!;
        if (cur < 0 || this.elen[cur]! <= len) { this.slotEnt[s] = e; this.slotBest[s] = best; }
      }
      return;
    }
    const s = this.slotOf(e), k = s * 256 + len;
    const c = (this.slotLenCount.get(k) ?? 0) + 1;
    this.slotLenCount.set(k, c);
    if (c === 1) this.slotSet[s] = this.internWith(this.slotSet[s]!, len, true);
  }

  private slotRemove(e: number): void {
    const len = this.elen[e]!;
    if (len <= this.stride) {
      const W = this.W;
      const key: number[] = [];
      for (let i = 0; i < W; i++) key.push(this.ekey[e * W + i]!);
      const rep = this.bestShorter(key, len);
      const first = this.slotOf(e), n = 1 << (this.stride - len);
      for (let s = first; s < first + n; s++) {
        if (this.slotEnt[s] !== e) continue;
        this.slotEnt[s] = rep;
        this.slotBest[s] = rep >= 0 ? this.ebest[rep]! : -1;
      }
      return;
    }
    const s = this.slotOf(e), k = s * 256 + len;
    const c = (this.slotLenCount.get(k) ?? 0) - 1;
    if (c > 0) { this.slotLenCount.set(k, c); return; }
    this.slotLenCount.delete(k);
    this.slotSet[s] = this.internWith(this.slotSet[s]!, len, false);
  }

  /** The id of length list 'set' with 'len' added ('add') or removed, interned. */
  private internWith(set: number, len: number, add: boolean): number {
    const cur = this.setList[set]!;
    const next = add ? [...cur, len].sort((a, b) => b - a) : cur.filter((l) => l !== len);
    const name = next.join(',');
    const id = this.setIntern.get(name);
    if (id !== undefined) return id;
    if (this.setCount === this.setOff.length) {
      const o = new Int32Array(this.setOff.length * 2); o.set(this.setOff); this.setOff = o;
      const l = new Uint8Array(this.setLen.length * 2); l.set(this.setLen); this.setLen = l;
    }
    if (this.setLensUsed + next.length > this.setLens.length) {
      const n = new Uint8Array(Math.max(this.setLens.length * 2, this.setLensUsed + next.length)); n.set(this.setLens); this.setLens = n;
    }
    const nid = this.setCount++;
    this.setOff[nid] = this.setLensUsed;
    this.setLen[nid] = next.length;
    for (const l of next) this.setLens[this.setLensUsed++] = l;
    this.setIntern.set(name, nid);
    this.setList.push(next);
    return nid;
  }

  /** Rebuild the slot layer for stride 'S' (0, 8 or 16); entries and hash stay. */
  private setStride(S: number): void {
    this.stride = S;
    if (S === 0) { this.shA = 16; this.shB = 16; } else { this.shA = 32 - S; this.shB = 0; }
    const n = 1 << S;
    this.slotBest = new Int32Array(n).fill(-1);
    this.slotEnt = new Int32Array(n).fill(-1);
    this.slotSet = new Int32Array(n);
    this.slotLenCount.clear();
    // the interned lists are kept (ids stay valid); only the slots are refilled
    const live: number[] = [];
    for (let e = 0; e < this.ehigh; e++) if (!this.efree.includes(e)) live.push(e);
    live.sort((a, b) => this.elen[a]! - this.elen[b]!);
    for (const e of live) this.slotAdd(e);
  }

  /** Bytes held by the typed arrays (for the bench's memory figure). */
  bytes(): number {
    return this.ekey.byteLength + this.elen.byteLength + this.ebest.byteLength + this.htab.byteLength + this.slotBest.byteLength
      + this.slotEnt.byteLength + this.slotSet.byteLength + this.setOff.byteLength + this.setLen.byteLength + this.setLens.byteLength;
  }
}

// ---------------------------------------------------------------------------------------------
// Fib: one family's routes

/** One (length, prefix) of a Fib and its routes in kernel order. */
interface PrefixNode { len: number; key: number[]; routes: number[] }

/** The fields of a route to insert (resolved: device index, words). */
export interface RouteFields {
  type: number;
  table: number;
  metric: number;
  protocol: number;
  scope: number;
  /** interface index, 0 = none */
  oif: number;
  flags: number;
  dstLen: number;
  /** W words, masked */
  dst: number[];
  /** W words (zeros when none) */
  gateway: number[];
  prefsrc: number[];
}

/** How a route joins routes of the same prefix, table and metric (NLM_F_* of `ip route`). */
export type InsertMode = 'add' | 'append' | 'prepend' | 'replace' | 'change';

/**
 * The routes of one family (W = 1: IPv4, W = 4: IPv6): route fields struct-of-arrays indexed by
 * route id, the prefix store, and the LPM indexes of its lookup domains.
 */
export class Fib {
  readonly W: 1 | 4;
  readonly family: 4 | 6;
  private cap = 0;
  private high = 0;
  private readonly free: number[] = [];
  // Per route id, struct of arrays (the hot data forwarding reads after lookup4/lookup6):
  /** RTN_* of each route id (0 = free id) */
  type: Uint8Array = new Uint8Array(0);
  /** table id */
  table: Uint32Array = new Uint32Array(0);
  /** metric (the kernel's priority) */
  metric: Uint32Array = new Uint32Array(0);
  protocol: Uint8Array = new Uint8Array(0);
  scope: Uint8Array = new Uint8Array(0);
  /** egress interface index; 0 for none (v4 reject routes) */
  /** bumped by every insert and remove: what a cache of route answers checks */
  version = 0;
  oif: Int32Array = new Int32Array(0);
  /** RTF_HAS_GATEWAY | RTF_HAS_PREFSRC | RTF_ONLINK | RTF_USES_GATEWAY */
  flags: Uint8Array = new Uint8Array(0);
  dstLen: Uint8Array = new Uint8Array(0);
  /** W words per route, uint32 */
  dst: Uint32Array = new Uint32Array(0);
  gateway: Uint32Array = new Uint32Array(0);
  prefsrc: Uint32Array = new Uint32Array(0);
  /** the prefix node of each live route id (for remove) */
  private readonly nodeOf: (PrefixNode | undefined)[] = [];
  /** nodes by length: key text → node (a length's map made by its first node: a host uses few lengths) */
  private readonly byLen: (Map<string, PrefixNode> | undefined)[];
  private readonly lenCount: Int32Array;
  /** tables that exist (created by a route), with their creation order */
  readonly tables = new Map<number, number>();
  private tableSeq = 0;
  /** lookup domains: each index with the tables it merges */
  readonly domains: { tables: number[]; index: LpmIndex }[] = [];
  private readonly strideOpt: StrideOption;

  constructor(family: 4 | 6, stride: StrideOption = 'auto') {
    this.family = family;
    this.W = family === 4 ? 1 : 4;
    this.strideOpt = stride;
    this.byLen = new Array<Map<string, PrefixNode> | undefined>(this.W * 32 + 1).fill(undefined);
    this.lenCount = new Int32Array(this.W * 32 + 1);
    this.grow(16);
    // the kernel creates local and main at namespace creation
    this.touchTable(RT_TABLE_LOCAL);
    this.touchTable(RT_TABLE_MAIN);
    if (family === 4) this.domains.push({ tables: [RT_TABLE_LOCAL, RT_TABLE_MAIN], index: new LpmIndex(1, stride) });
    else {
      this.domains.push({ tables: [RT_TABLE_LOCAL], index: new LpmIndex(4, stride) });
      this.domains.push({ tables: [RT_TABLE_MAIN], index: new LpmIndex(4, stride) });
    }
  }

  /** Live routes. */
  get size(): number {
    return this.high - this.free.length;
  }

  private grow(cap: number): void {
    const W = this.W;
    const g8 = (a: Uint8Array): Uint8Array => { const n = new Uint8Array(cap); n.set(a); return n; };
    const g32 = (a: Uint32Array, k = 1): Uint32Array => { const n = new Uint32Array(cap * k); n.set(a); return n; };
    this.type = g8(this.type);
    this.table = g32(this.table);
    this.metric = g32(this.metric);
    this.protocol = g8(this.protocol);
    this.scope = g8(this.scope);
    const o = new Int32Array(cap); o.set(this.oif); this.oif = o;
    this.flags = g8(this.flags);
    this.dstLen = g8(this.dstLen);
    this.dst = g32(this.dst, W);
    this.gateway = g32(this.gateway, W);
    this.prefsrc = g32(this.prefsrc, W);
    this.cap = cap;
  }

  private touchTable(t: number): void {
    if (this.tables.has(t)) return;
    this.tables.set(t, this.tableSeq++);
    if (t === RT_TABLE_DEFAULT && this.family === 4) this.domains.push({ tables: [RT_TABLE_DEFAULT], index: new LpmIndex(1, this.strideOpt) });
  }

  private static keyText(key: ArrayLike<number>, W: number): string {
    return W === 1 ? String(key[0]! >>> 0) : `${key[0]! >>> 0},${key[1]! >>> 0},${key[2]! >>> 0},${key[3]! >>> 0}`;
  }

  /** The prefix node of 'key'/'len' ('key' masked), created if 'create'. */
  private node(key: ArrayLike<number>, len: number, create: boolean): PrefixNode | undefined {
    const kt = Fib.keyText(key, this.W);
    let m = this.byLen[len];
    if (m === undefined) {
      if (!create) return undefined;
      m = this.byLen[len] = new Map();
    }
    let n = m.get(kt);
    if (n === undefined && create) {
      n = { len, key: Array.from({ length: this.W }, (_, i) => key[i]! >>> 0), routes: [] };
      m.set(kt, n);
      this.lenCount[len]!++;
    }
    return n;
  }

  /** Read route 'id' back as RouteFields. */
  fields(id: number): RouteFields {
    const W = this.W;
    const words = (a: Uint32Array): number[] => Array.from(a.subarray(id * W, id * W + W));
    return {
      type: this.type[id]!, table: this.table[id]!, metric: this.metric[id]!, protocol: this.protocol[id]!, scope: this.scope[id]!,
      oif: this.oif[id]!, flags: this.flags[id]!, dstLen: this.dstLen[id]!, dst: words(this.dst), gateway: words(this.gateway),
      prefsrc: words(this.prefsrc),
    };
  }

  /** Whether route 'id' has the same type and the same fib_info as 'f' (the kernel's fa_match). */
  private sameInfo(id: number, f: RouteFields): boolean {
    const W = this.W;
    if (this.type[id] !== f.type || this.protocol[id] !== f.protocol || this.scope[id] !== f.scope || this.oif[id] !== f.oif) return false;
    if (this.flags[id] !== f.flags || this.metric[id] !== f.metric) return false;
    for (let i = 0; i < W; i++) {
      if (this.gateway[id * W + i] !== f.gateway[i]! >>> 0 || this.prefsrc[id * W + i] !== f.prefsrc[i]! >>> 0) return false;
    }
    return true;
  }

  /** Position order of a route group: table descending, then metric ascending. */
  private static groupCmp(tA: number, mA: number, tB: number, mB: number): number {
    if (tA !== tB) return tA > tB ? -1 : 1;
    return mA - mB;
  }

  /**
   * Insert a route as `ip route 'mode'` does (IPv4: fib_table_insert; IPv6: fib6_add_rt2node for
   * non-multipath routes). Returns the route id; throws RouteError EEXIST/ENOENT as the kernel
   * answers. 'f.dst' must be masked.
   */
  insert(f: RouteFields, mode: InsertMode): number {
    this.version++;
    const n = this.node(f.dst, f.dstLen, mode !== 'change');
    if (n === undefined) throw rtnetlink('ROUTE_ENOENT', 'No such file or directory');
    const rs = n.routes;
    let runStart = -1, runEnd = -1;
    for (let i = 0; i < rs.length; i++) {
      const r = rs[i]!;
      if (Fib.groupCmp(this.table[r]!, this.metric[r]!, f.table, f.metric) === 0) {
        if (runStart < 0) runStart = i;
        runEnd = i + 1;
      }
    }
    let pos: number;
    let replaced = -1;
    if (runStart >= 0) {
      if (mode === 'add') throw rtnetlink('ROUTE_EEXIST', 'File exists');
      let match = -1;
      for (let i = runStart; i < runEnd; i++) if (this.sameInfo(rs[i]!, f)) { match = i; break; }
      if (mode === 'replace' || mode === 'change') {
        if (match >= 0 && this.family === 4) {
          if (match === runStart) return rs[match]!;
          throw rtnetlink('ROUTE_EEXIST', 'File exists');
        }
        replaced = rs[runStart]!;
        pos = runStart;
      } else {
        if (match >= 0) throw rtnetlink('ROUTE_EEXIST', 'File exists');
        pos = mode === 'append' ? runEnd : runStart;
      }
    } else {
      if (mode === 'change') throw rtnetlink('ROUTE_ENOENT', 'No such file or directory');
      pos = rs.length;
      for (let i = 0; i < rs.length; i++) {
        const r = rs[i]!;
        if (Fib.groupCmp(this.table[r]!, this.metric[r]!, f.table, f.metric) > 0) { pos = i; break; }
      }
    }
    const id = this.alloc(f);
    this.nodeOf[id] = n;
    if (replaced >= 0) {
      rs[pos] = id;
      this.release(replaced);
    } else {
      rs.splice(pos, 0, id);
    }
    this.touchTable(f.table);
    this.refresh(n, f.table);
    return id;
  }

  private alloc(f: RouteFields): number {
    let id = this.free.pop();
    if (id === undefined) {
      if (this.high === this.cap) this.grow(this.cap * 2);
      id = this.high++;
    }
    const W = this.W;
    this.type[id] = f.type;
    this.table[id] = f.table;
    this.metric[id] = f.metric;
    this.protocol[id] = f.protocol;
    this.scope[id] = f.scope;
    this.oif[id] = f.oif;
    this.flags[id] = f.flags;
    this.dstLen[id] = f.dstLen;
    for (let i = 0; i < W; i++) {
      this.dst[id * W + i] = f.dst[i]! >>> 0;
      this.gateway[id * W + i] = f.gateway[i]! >>> 0;
      this.prefsrc[id * W + i] = f.prefsrc[i]! >>> 0;
    }
    return id;
  }

  private release(id: number): void {
    this.type[id] = RTN_UNSPEC;
    this.nodeOf[id] = undefined;
    this.free.push(id);
  }

  /** Remove route 'id' (from `del`). */
  remove(id: number): void {
    const n = this.nodeOf[id];
    if (n === undefined) return;
    this.version++;
    const t = this.table[id]!;
    n.routes.splice(n.routes.indexOf(id), 1);
    this.release(id);
    if (n.routes.length === 0) {
      this.byLen[n.len]!.delete(Fib.keyText(n.key, this.W));
      this.lenCount[n.len]!--;
    }
    this.refresh(n, t);
  }

  /** Re-tell every domain holding 'table' which route answers for prefix 'n'. */
  private refresh(n: PrefixNode, table: number): void {
    for (const d of this.domains) {
      if (!d.tables.includes(table)) continue;
      let best = -1;
      for (const r of n.routes) if (d.tables.includes(this.table[r]!)) { best = r; break; }
      d.index.set(n.key, n.len, best);
    }
  }

  /** The routes of prefix 'key'/'len' in kernel order ([] when none). */
  routesOf(key: ArrayLike<number>, len: number): readonly number[] {
    const masked: number[] = [];
    for (let i = 0; i < this.W; i++) masked.push((key[i]! & (this.W === 1 ? MASK32[len]! : MASK128[4 * len + i]!)) >>> 0);
    return this.node(masked, len, false)?.routes ?? [];
  }

  /**
   * The kernel's route walk with filters (slow path, for gateway checks): longest prefix first,
   * routes in order, skipping those outside 'tables', of scope < 'minScope', or (when 'oif' is
   * nonzero) of another device; a reject route that is reached ends the walk with its id.
   * IPv4 (fib_table_lookup) answers a reject route before looking at devices; IPv6 (rt6_select
   * with RT6_LOOKUP_F_IFACE) skips any route of another device, reject routes (on lo) included.
   * Returns the route id or -1.
   */
  walk(addr: ArrayLike<number>, tables: readonly number[], minScope: number, oif: number): number {
    const W = this.W;
    // fast path: a domain indexing exactly these tables knows the first route of the longest
    // prefix; when that route passes the filters the walk would stop at it too
    for (const d of this.domains) {
      if (d.tables.length !== tables.length || !d.tables.every((t) => tables.includes(t))) continue;
      const r = W === 1 ? d.index.lookup1(addr[0]!) : d.index.lookup4w(addr, 0);
      if (r < 0) return -1;
      if (this.scope[r]! >= minScope) {
        const devOk = oif === 0 || this.oif[r] === oif;
        if (W === 1 ? devOk || routeTypeErrno(this.type[r]!) !== 0 : devOk) return r;
      }
      break;
    }
    for (let len = W * 32; len >= 0; len--) {
      if (this.lenCount[len] === 0) continue;
      const key: number[] = [];
      for (let i = 0; i < W; i++) key.push((addr[i]! & (W === 1 ? MASK32[len]! : MASK128[4 * len + i]!)) >>> 0);
      const n = this.byLen[len]!.get(Fib.keyText(key, W));
      if (n === undefined) continue;
      for (const r of n.routes) {
        if (!tables.includes(this.table[r]!)) continue;
        if (this.scope[r]! < minScope) continue;
        if (W === 4 && oif !== 0 && this.oif[r] !== oif) continue;
        if (routeTypeErrno(this.type[r]!) !== 0) return r;
        if (oif !== 0 && this.oif[r] !== oif) continue;
        return r;
      }
    }
    return -1;
  }

  /** All live route ids of table 't' in `ip route show` order (v4: key, longer first; v6: fib6 post-order). */
  showOrder(t: number): number[] {
    const nodes: PrefixNode[] = [];
    for (const m of this.byLen) if (m !== undefined) for (const n of m.values()) if (n.routes.some((r) => this.table[r] === t)) nodes.push(n);
    if (this.W === 1) nodes.sort((a, b) => (a.key[0]! - b.key[0]!) || (b.len - a.len));
    else nodes.sort(postOrderCmp);
    const out: number[] = [];
    for (const n of nodes) for (const r of n.routes) if (this.table[r] === t) out.push(r);
    return out;
  }

  /** Every live route id (ascending). */
  ids(): number[] {
    const out: number[] = [];
    for (let id = 0; id < this.high; id++) if (this.type[id] !== RTN_UNSPEC) out.push(id);
    return out;
  }

  /** Bytes of the typed arrays of the routes and the indexes. */
  bytes(): number {
    let b = this.type.byteLength + this.table.byteLength + this.metric.byteLength + this.protocol.byteLength + this.scope.byteLength
      + this.oif.byteLength + this.flags.byteLength + this.dstLen.byteLength + this.dst.byteLength + this.gateway.byteLength + this.prefsrc.byteLength;
    for (const d of this.domains) b += d.index.bytes();
    return b;
  }
}

/** fib6 tree walk order: a prefix after every prefix it contains; siblings by the first differing bit (0 first). */
function postOrderCmp(a: PrefixNode, b: PrefixNode): number {
  const m = Math.min(a.len, b.len);
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(32, m - 32 * i));
    if (bits === 0) break;
    const x = ((a.key[i]! ^ b.key[i]!) & MASK32[bits]!) >>> 0;
    if (x !== 0) {
      const bit = 31 - Math.clz32(x);
      return ((a.key[i]! >>> bit) & 1) === 0 ? -1 : 1;
    }
  }
  return b.len - a.len;
}

// ---------------------------------------------------------------------------------------------
// IPv6 address classes (net/ipv6/addrconf_core.c __ipv6_addr_type, net/ipv6/addrlabel.c)

const SCOPE6_NODE = 1, SCOPE6_LINK = 2, SCOPE6_SITE = 5, SCOPE6_GLOBAL = 14;

/** __ipv6_addr_src_scope of an address: node 1, link 2, site 5, global 14; -1 for `::`. */
function ipv6SrcScope(w: ArrayLike<number>): number {
  const w0 = w[0]! >>> 0;
  if ((w0 >>> 24) === 0xff) return (w0 >>> 16) & 0xf;
  if ((w0 & 0xffc00000) >>> 0 === 0xfe800000) return SCOPE6_LINK;
  if ((w0 & 0xffc00000) >>> 0 === 0xfec00000) return SCOPE6_SITE;
  if (w0 === 0 && w[1] === 0 && w[2] === 0) {
    if (w[3] === 0) return -1;
    if (w[3] === 1) return SCOPE6_NODE;
  }
  return SCOPE6_GLOBAL;
}

const isMulticast6 = (w: ArrayLike<number>): boolean => (w[0]! >>> 24) === 0xff;

/** The default address label table (ip addrlabel list): prefix words, length, label. */
const LABELS: [number[], number, number][] = [
  [[0, 0, 0, 1], 128, 0],
  [[0, 0, 0, 0], 96, 3],
  [[0, 0, 0xffff, 0], 96, 4],
  [[0x20010000, 0, 0, 0], 32, 6],
  [[0x20010010, 0, 0, 0], 28, 7],
  [[0x3ffe0000, 0, 0, 0], 16, 12],
  [[0x20020000, 0, 0, 0], 16, 2],
  [[0xfec00000, 0, 0, 0], 10, 11],
  [[0xfc000000, 0, 0, 0], 7, 5],
  [[0, 0, 0, 0], 0, 1],
];

function prefixMatch6(a: ArrayLike<number>, p: ArrayLike<number>, len: number): boolean {
  for (let i = 0; i < 4; i++) {
    const m = MASK128[4 * len + i]!;
    if (((a[i]! ^ p[i]!) & m) !== 0) return false;
  }
  return true;
}

function ipv6Label(w: ArrayLike<number>): number {
  let best = -1, label = 1;
  for (const [p, len, l] of LABELS) if (len > best && prefixMatch6(w, p, len)) { best = len; label = l; }
  return label;
}

/** ipv6_addr_diff: the number of leading bits 'a' and 'b' share (128 when equal). */
function commonBits6(a: ArrayLike<number>, b: ArrayLike<number>): number {
  for (let i = 0; i < 4; i++) {
    const x = (a[i]! ^ b[i]!) >>> 0;
    if (x !== 0) return 32 * i + Math.clz32(x);
  }
  return 128;
}

const isOrchid6 = (w: ArrayLike<number>): boolean => ((w[0]! >>> 0) & 0xfffffff0) >>> 0 === 0x20010010;

// ---------------------------------------------------------------------------------------------
// Devices and addresses

/** An IPv4 address of a device, in the kernel's list order (primaries by scope, then secondaries). */
export interface Addr4 { local: number; len: number; scope: number; secondary: boolean; metric: number }
/** An IPv6 address of a device, newest first within a scope class. */
export interface Addr6 { words: number[]; len: number; metric: number }

/** A network device as the routing table knows it. */
export interface Device {
  name: string;
  index: number;
  loopback: boolean;
  addrs4: Addr4[];
  addrs6: Addr6[];
}

/** What `ip route get` answers: the route and the choices made for the packet. */
export interface RouteGet {
  family: 4 | 6;
  /** the route id in fib4/fib6 */
  route: number;
  /** RTN_* of the answer (broadcast/multicast for 255.255.255.255 and class D) */
  type: number;
  /** egress device ('lo' for local delivery) */
  dev: string;
  /** next hop: the gateway, or null for on-link */
  via: string | null;
  /** preferred source, null when the host has none to offer */
  src: string | null;
  /** table the route came from */
  table: number;
}

/** Parsed `ip route add/del/…` arguments (before the kernel's checks). */
export interface ParsedRoute {
  family: 4 | 6;
  type: number;
  /** masked words of the prefix */
  dst: number[];
  dstLen: number;
  /** the prefix as given had host bits set (IPv4 refuses, IPv6 masks) */
  hostBits: boolean;
  gateway: number[] | null;
  dev: string | null;
  src: number[] | null;
  metric: number | null;
  table: number | null;
  protocol: number | null;
  scope: number | null;
  onlink: boolean;
}

/** Options of a RoutingTable. */
export interface RoutingTableOptions {
  /** slot stride of the LPM indexes (default 'auto') */
  stride?: StrideOption;
}

/**
 * A host's routing state: devices, their addresses, and the IPv4 and IPv6 FIBs.
 */
export class RoutingTable {
  readonly fib4: Fib;
  private readonly devices = new Map<string, Device>();
  private readonly byIndex = new Map<number, Device>();
  private nextIndex = 1;
  private readonly main4: LpmIndex;
  /** the IPv6 FIB once made (see `fib6`), and its two lookup domains */
  private f6: Fib | null = null;
  private local6!: LpmIndex;
  private main6!: LpmIndex;
  /**
   * The kernel's own IPv6 routes (a device's ff00::/8, its link-local address and fe80::/64,
   * ::1) inserted before anything read or wrote the IPv6 FIB: inserted, in order, when `fib6`
   * is first read. Most hosts never use IPv6, and a Fib with its two indexes is ~20 kB.
   */
  private pending6: { f: RouteFields; ignoreError: boolean }[] | null = [];
  private readonly stride: StrideOption;
  /** lookup4's last destination (as int32), the FIB version it was answered at, and its answer */
  private last4Addr = 0;
  private last4Version = -1;
  private last4 = -1;

  constructor(opts: RoutingTableOptions = {}) {
    this.stride = opts.stride ?? 'auto';
    this.fib4 = new Fib(4, this.stride);
    this.main4 = this.fib4.domains[0]!.index;
  }

  /** The IPv6 routes (made, with the kernel routes held back until now, on first use). */
  get fib6(): Fib {
    return this.f6 ?? this.makeFib6();
  }

  private makeFib6(): Fib {
    const f = this.f6 = new Fib(6, this.stride);
    this.local6 = f.domains[0]!.index;
    this.main6 = f.domains[1]!.index;
    const pending = this.pending6!;
    this.pending6 = null;
    for (const p of pending) {
      try { f.insert(p.f, 'append'); } catch (e) { if (!p.ignoreError || !(e instanceof RouteError)) throw e; }
    }
    return f;
  }

  /**
   * A kernel route of the IPv6 FIB (`append`): now when the FIB exists, else when it is first
   * read ('ignoreError': an EEXIST the kernel ignores). The routes held back are ones whose
   * insert cannot fail but for that (a new device's, an address the device did not have).
   */
  private insert6(f: RouteFields, ignoreError: boolean): void {
    if (this.f6 === null) { this.pending6!.push({ f, ignoreError }); return; }
    try { this.f6.insert(f, 'append'); } catch (e) { if (!ignoreError || !(e instanceof RouteError)) throw e; }
  }

  // -------------------------------------------------------------------------------------------
  // Per packet

  /**
   * The IPv4 route for destination 'addr' (uint32, or the same bits as int32): a route id whose
   * `fib4.type[id]` says unicast/local/broadcast/blackhole/unreachable/prohibit, or -1 for no
   * route (ENETUNREACH; a `throw` gives -1 too). Allocates nothing.
   */
  lookup4(addr: number): number {
    const fib = this.fib4;
    // one packet asks several times (is it local? the route, the path MTU, the source): the last answer while the FIB holds
    if ((addr | 0) === this.last4Addr && fib.version === this.last4Version) return this.last4;
    let r = this.main4.lookup1(addr);
    if (r < 0 || fib.type[r] === RTN_THROW) {
      r = -1;
      const d = fib.domains[1];
      if (d !== undefined) {
        r = d.index.lookup1(addr);
        if (r >= 0 && fib.type[r] === RTN_THROW) r = -1;
      }
    }
    this.last4Addr = addr | 0; this.last4Version = fib.version; this.last4 = r;
    return r;
  }

  /** The IPv6 route for the destination in 'words[off..off+3]' (uint32 words), or -1. Allocates nothing. */
  lookup6(words: ArrayLike<number>, off: number): number {
    const fib = this.fib6;
    let r = this.local6.lookup4w(words, off);
    if (r >= 0 && fib.type[r] !== RTN_THROW) return r;
    r = this.main6.lookup4w(words, off);
    if (r >= 0 && fib.type[r] !== RTN_THROW) return r;
    return -1;
  }

  // -------------------------------------------------------------------------------------------
  // Devices and addresses

  /**
   * Register device 'name' (index 'opts.index', else the next free one) as up. A non-loopback
   * device gets the IPv6 `multicast ff00::/8 dev NAME table local proto kernel metric 256`
   * route the kernel adds when a link comes up with IPv6 enabled (unless 'opts.ipv6' is false).
   * Returns the index.
   */
  addDevice(name: string, opts: { index?: number; loopback?: boolean; ipv6?: boolean } = {}): number {
    if (this.devices.has(name)) throw new RouteError('ROUTE_DEVICE_EXISTS', name, `RTNETLINK answers: File exists`);
    const index = opts.index ?? this.nextIndex;
    if (this.byIndex.has(index)) throw new RouteError('ROUTE_DEVICE_EXISTS', String(index), `RTNETLINK answers: File exists`);
    this.nextIndex = Math.max(this.nextIndex, index + 1);
    const dev: Device = { name, index, loopback: opts.loopback === true, addrs4: [], addrs6: [] };
    this.devices.set(name, dev);
    this.byIndex.set(index, dev);
    if (!dev.loopback && opts.ipv6 !== false) {
      this.insert6(this.fields6(RTN_MULTICAST, [0xff000000, 0, 0, 0], 8, RT_TABLE_LOCAL, 256, index, null), false);
    }
    return index;
  }

  /**
   * The loopback device of a fresh namespace, up: 'name' (index 1 when free) with 127.0.0.1/8
   * (scope host: `local 127.0.0.0/8`, `local 127.0.0.1`, `broadcast 127.255.255.255` in table
   * local) and ::1/128 (`local ::1 dev lo table local proto kernel metric 0`, no prefix route).
   */
  addLoopback(name = 'lo'): number {
    const index = this.addDevice(name, { loopback: true, ...(this.byIndex.has(1) ? {} : { index: 1 }) });
    this.addConnected(name, '127.0.0.1/8');
    this.addAddress6(this.devices.get(name)!, [0, 0, 0, 1], 128, 0, false);
    return index;
  }

  /** The device called 'name', or undefined. */
  device(name: string): Device | undefined {
    return this.devices.get(name);
  }

  /** The device with index 'index', or undefined. */
  deviceByIndex(index: number): Device | undefined {
    return this.byIndex.get(index);
  }

  /**
   * Add address 'cidr' (`10.0.0.1/24`, `2001:db8::1/64`) to device 'ifname' as `ip addr add`
   * does, with the routes the kernel adds for it. IPv4 (fib_add_ifaddr): `local ADDR` in table
   * local (src = the subnet's primary); for a primary, unless /32, the subnet route
   * `PREFIX dev D proto kernel scope link src ADDR` in main (a `local` route in table local on a
   * loopback device) and, below /31, `broadcast LAST` in table local. IPv6: `local ADDR` in
   * table local (metric 0) and `PREFIX dev D proto kernel metric 256` in main (also for /128).
   * 'opts.metric' is `ip addr add … metric N` (the subnet route's metric); 'opts.scope' the
   * IPv4 address scope (iproute2's default: host for 127/8, else global).
   * IPv6 addresses are usable at once, as with DAD off (accept_dad=0): with DAD the kernel keeps
   * a new address tentative for ~2 s — no `local` route, not a source (seen: `src ::1`).
   */
  addConnected(ifname: string, cidr: string, opts: { metric?: number; scope?: number; noprefixroute?: boolean } = {}): void {
    const dev = this.devices.get(ifname);
    if (dev === undefined) throw new RouteError('ROUTE_UNKNOWN_DEVICE', ifname, `Cannot find device "${ifname}"`);
    const p = getPrefix1(cidr, 0);
    if (p === null || p.isDefault) throw new RouteError('ROUTE_BAD_PREFIX', cidr, `Error: any valid prefix is expected rather than "${cidr}".`);
    if (p.family === 4) this.addAddress4(dev, p.words[0]!, p.bitlen, opts.scope ?? ((p.words[0]! >>> 24) === 127 ? RT_SCOPE_HOST : RT_SCOPE_UNIVERSE), opts.metric ?? 0, opts.noprefixroute === true);
    else this.addAddress6(dev, p.words, p.bitlen, opts.metric ?? 0, opts.noprefixroute !== true);
  }

  private addAddress4(dev: Device, local: number, len: number, scope: number, metric: number, noprefixroute: boolean): void {
    const mask = MASK32[len]!;
    let secondary = false;
    let lastPrimary = 0; // insert position for a primary: after the last primary of scope >= ours
    for (let i = 0; i < dev.addrs4.length; i++) {
      const a = dev.addrs4[i]!;
      if (!a.secondary && scope <= a.scope) lastPrimary = i + 1;
      if (a.len === len && ((a.local ^ local) & mask) === 0) {
        if (a.local === local) throw rtnetlink('ROUTE_EEXIST', 'File exists');
        if (a.scope !== scope) throw kernelError('ROUTE_EINVAL', 'Error: ipv4: Invalid scope value.');
        secondary = true;
      }
    }
    const addr: Addr4 = { local, len, scope, secondary, metric };
    if (secondary) dev.addrs4.push(addr); else dev.addrs4.splice(lastPrimary, 0, addr);
    const prim = secondary ? dev.addrs4.find((a) => !a.secondary && a.len === len && ((a.local ^ local) & mask) === 0)! : addr;
    const magic = (type: number, dst: number, dstLen: number, prio: number): void => {
      const table = type === RTN_UNICAST ? RT_TABLE_MAIN : RT_TABLE_LOCAL;
      const f: RouteFields = {
        type, table, metric: prio, protocol: RTPROT_KERNEL, scope: type === RTN_LOCAL ? RT_SCOPE_HOST : RT_SCOPE_LINK,
        oif: dev.index, flags: RTF_HAS_PREFSRC, dstLen, dst: [(dst & MASK32[dstLen]!) >>> 0], gateway: [0], prefsrc: [prim.local],
      };
      try { this.fib4.insert(f, 'append'); } catch (e) { if (!(e instanceof RouteError)) throw e; /* fib_magic ignores EEXIST */ }
    };
    magic(RTN_LOCAL, local, 32, 0);
    const prefix = (local & mask) >>> 0;
    if (!secondary && (prefix !== local || len < 32)) {
      if (!noprefixroute) magic(dev.loopback ? RTN_LOCAL : RTN_UNICAST, prefix, len, metric);
      if (len < 31) magic(RTN_BROADCAST, (prefix | ~mask) >>> 0, 32, 0);
    }
  }

  /**
   * `ip -4 addr del 'cidr' dev 'ifname'` (inet_del_ifa with promote_secondaries off, then
   * fib_del_ifaddr): the address goes and, when it was the subnet's primary, the secondaries of
   * its subnet with it; so do the routes the kernel added for them — each one's `local` route
   * on this device and, for a primary, its subnet route
   * and `broadcast` route; then, as fib_sync_down_addr, every route whose preferred source was an
   * address no device holds any more (`src` routes included). Throws RouteError EADDRNOTAVAIL (the kernel's message) when the device lacks the address.
   */
  delAddress4(ifname: string, cidr: string): void {
    const dev = this.devices.get(ifname);
    if (dev === undefined) throw new RouteError('ROUTE_UNKNOWN_DEVICE', ifname, `Cannot find device "${ifname}"`);
    const p = getPrefix1(cidr, 4);
    if (p === null || p.isDefault) throw new RouteError('ROUTE_BAD_PREFIX', cidr, `Error: any valid prefix is expected rather than "${cidr}".`);
    const local = p.words[0]! >>> 0, len = p.bitlen, mask = MASK32[len]!;
    const a = dev.addrs4.find((x) => x.local === local && x.len === len);
    if (a === undefined) throw kernelError('ROUTE_EADDRNOTAVAIL', 'Error: ipv4: Address not found.');
    const gone = a.secondary ? [a] : dev.addrs4.filter((x) => x === a || (x.secondary && x.len === len && ((x.local ^ local) & mask) === 0));
    dev.addrs4 = dev.addrs4.filter((x) => !gone.includes(x));
    const drop = (type: number, dst: number, dstLen: number, prefsrc: number | null): void => {
      const f = this.fib4;
      for (const r of f.routesOf([(dst & MASK32[dstLen]!) >>> 0], dstLen)) {
        if (f.type[r] === type && f.oif[r] === dev.index && f.protocol[r] === RTPROT_KERNEL && (prefsrc === null || f.prefsrc[r] === prefsrc)) { f.remove(r); return; }
      }
    };
    if (!a.secondary) {
      const prefix = (local & mask) >>> 0;
      if (prefix !== local || len < 32) drop(dev.loopback ? RTN_LOCAL : RTN_UNICAST, prefix, len, local);
      if (len < 31) drop(RTN_BROADCAST, (prefix | ~mask) >>> 0, 32, local);
    }
    for (const g of gone) {
      // the device's own local route goes unless it still has the address (LOCAL_OK)
      if (dev.addrs4.some((x) => x.local === g.local)) continue;
      drop(RTN_LOCAL, g.local, 32, null);
      if ([...this.devices.values()].some((d) => d.addrs4.some((x) => x.local === g.local))) continue;
      // the address is gone from the host: fib_sync_down_addr + fib_flush remove every route preferring it as source
      const f = this.fib4;
      for (const r of f.ids()) if ((f.flags[r]! & RTF_HAS_PREFSRC) !== 0 && f.prefsrc[r] === g.local) f.remove(r);
    }
  }

  /** `ip link del 'name'`: the device goes, and every route through it (its addresses' too). */
  delDevice(name: string): void {
    const dev = this.devices.get(name);
    if (dev === undefined) throw new RouteError('ROUTE_UNKNOWN_DEVICE', name, `Cannot find device "${name}"`);
    for (const r of this.fib4.ids()) if (this.fib4.oif[r] === dev.index) this.fib4.remove(r);
    if (this.f6 !== null) { for (const r of this.f6.ids()) if (this.f6.oif[r] === dev.index) this.f6.remove(r); }
    else this.pending6 = this.pending6!.filter((x) => x.f.oif !== dev.index);
    this.devices.delete(name);
    this.byIndex.delete(dev.index);
  }

  private addAddress6(dev: Device, words: number[], len: number, metric: number, prefixRoute: boolean): void {
    for (const a of dev.addrs6) if (a.words.every((w, i) => w === words[i])) throw rtnetlink('ROUTE_EEXIST', 'File exists');
    const sc = ipv6SrcScope(words);
    let pos = dev.addrs6.length;
    for (let i = 0; i < dev.addrs6.length; i++) if (sc >= ipv6SrcScope(dev.addrs6[i]!.words)) { pos = i; break; }
    dev.addrs6.splice(pos, 0, { words: words.map((w) => w >>> 0), len, metric });
    this.insert6(this.fields6(RTN_LOCAL, words, 128, RT_TABLE_LOCAL, 0, dev.index, null), false);
    if (prefixRoute) {
      const pfx = words.map((w, i) => (w & MASK128[4 * len + i]!) >>> 0);
      // an existing identical prefix route stays (the error ignored)
      this.insert6(this.fields6(RTN_UNICAST, pfx, len, RT_TABLE_MAIN, metric === 0 ? 256 : metric, dev.index, null), true);
    }
  }

  private fields6(type: number, dst: number[], len: number, table: number, metric: number, oif: number, gw: number[] | null): RouteFields {
    return {
      type, table, metric, protocol: RTPROT_KERNEL, scope: RT_SCOPE_UNIVERSE, oif, flags: gw === null ? 0 : RTF_HAS_GATEWAY,
      dstLen: len, dst: dst.map((w, i) => (w & MASK128[4 * len + i]!) >>> 0), gateway: gw ?? [0, 0, 0, 0], prefsrc: [0, 0, 0, 0],
    };
  }

  /** Devices by index (the kernel's for_each_netdev order). */
  private devicesInOrder(): Device[] {
    return [...this.byIndex.values()].sort((a, b) => a.index - b.index);
  }

  // -------------------------------------------------------------------------------------------
  // Source address selection

  /**
   * inet_select_addr(dev, dst, scope): the first primary address of device 'oif' of scope <=
   * 'scope' in the subnet of 'dst' (any, if 'dst' is 0), else the first primary of scope <=
   * 'scope' and not link on any device in index order; 0 when none.
   */
  selectSource4(oif: number, dst: number, scope: number): number {
    const dev = this.byIndex.get(oif);
    let addr = 0;
    if (dev !== undefined) {
      for (const a of dev.addrs4) {
        if (a.secondary) continue;
        if (Math.min(a.scope, RT_SCOPE_HOST) > scope) continue;
        if (dst === 0 || ((a.local ^ dst) & MASK32[a.len]!) === 0) { addr = a.local; break; }
        if (addr === 0) addr = a.local;
      }
      if (addr !== 0) return addr >>> 0;
    }
    for (const d of this.devicesInOrder()) {
      for (const a of d.addrs4) {
        if (a.secondary) continue;
        if (a.scope !== RT_SCOPE_LINK && Math.min(a.scope, RT_SCOPE_HOST) <= scope) return a.local >>> 0;
      }
    }
    return 0;
  }

  /**
   * ipv6_dev_get_saddr(dst_dev = 'oif', 'dst'): RFC 6724 over the host's addresses (only
   * 'oif's for multicast and link-scope destinations): same address, appropriate scope, outgoing
   * interface, matching label, ORCHID, longest matching prefix (capped at the address's prefix
   * length); the first candidate wins ties. Returns the words or null.
   */
  selectSource6(oif: number, dst: ArrayLike<number>): number[] | null {
    const dstScope = ipv6SrcScope(dst);
    const dstLabel = ipv6Label(dst);
    const dev = this.byIndex.get(oif);
    const cands: { a: Addr6; dev: Device }[] = [];
    if (dev !== undefined && (isMulticast6(dst) || dstScope <= SCOPE6_LINK)) {
      for (const a of dev.addrs6) cands.push({ a, dev });
    } else {
      for (const d of this.devicesInOrder()) for (const a of d.addrs6) cands.push({ a, dev: d });
    }
    const score = (c: { a: Addr6; dev: Device }): number[] => {
      const s = ipv6SrcScope(c.a.words);
      return [
        c.a.words.every((w, i) => w === (dst[i]! >>> 0)) ? 1 : 0,
        s >= dstScope ? -s : s - 128,
        oif === 0 || c.dev.index === oif ? 1 : 0,
        ipv6Label(c.a.words) === dstLabel ? 1 : 0,
        isOrchid6(c.a.words) === isOrchid6(dst) ? 1 : 0,
        Math.min(commonBits6(c.a.words, dst), c.a.len),
      ];
    };
    let best: number[] | null = null, bestScore: number[] = [];
    for (const c of cands) {
      if (isMulticast6(c.a.words)) continue;
      const sc = score(c);
      if (best === null) { best = c.a.words; bestScore = sc; continue; }
      for (let i = 0; i < sc.length; i++) {
        if (sc[i]! > bestScore[i]!) { best = c.a.words; bestScore = sc; break; }
        if (sc[i]! < bestScore[i]!) break;
      }
    }
    return best;
  }

  // -------------------------------------------------------------------------------------------
  // ip route get

  /**
   * What `ip route get 'addr'` answers for IPv4 'addr' (uint32): the route and the packet's
   * device, next hop and source, or the errno (EINVAL blackhole, EHOSTUNREACH unreachable,
   * EACCES prohibit, ENETUNREACH no route/throw). Slow path.
   */
  routeGet4(addr: number): RouteGet | number {
    const fib = this.fib4;
    const lo = this.loopbackName();
    if (addr === 0) {
      return { family: 4, route: -1, type: RTN_LOCAL, dev: lo, via: null, src: '127.0.0.1', table: RT_TABLE_MAIN };
    }
    let r = this.main4.lookup1(addr);
    let table = RT_TABLE_MAIN;
    if (r < 0 || fib.type[r] === RTN_THROW) {
      const d = fib.domains[1];
      r = d === undefined ? -1 : d.index.lookup1(addr);
      table = RT_TABLE_DEFAULT;
    }
    if (r < 0) return ENETUNREACH;
    const errno = routeTypeErrno(fib.type[r]!);
    if (errno !== 0) return errno;
    const hasPrefsrc = (fib.flags[r]! & RTF_HAS_PREFSRC) !== 0;
    const gw = (fib.flags[r]! & RTF_HAS_GATEWAY) !== 0 ? fib.gateway[r]! : 0;
    const nextHop = (fib.flags[r]! & RTF_USES_GATEWAY) !== 0 ? gw : 0;
    if (fib.type[r] === RTN_LOCAL) {
      const src = hasPrefsrc ? fib.prefsrc[r]! : addr >>> 0;
      return { family: 4, route: r, type: RTN_LOCAL, dev: lo, via: null, src: ipv4Text(src), table };
    }
    const src = hasPrefsrc ? fib.prefsrc[r]! : this.selectSource4(fib.oif[r]!, gw, fib.scope[r]!);
    // __mkroute_output: a loopback source may not leave by another device (route_localnet=0)
    if ((src >>> 24) === 127 && this.byIndex.get(fib.oif[r]!)?.loopback !== true) return EINVAL;
    // the limited broadcast drops the route's gateway (fi = NULL); so does a multicast
    // destination routed by a prefix shorter than /4 (the default route)
    let type = fib.type[r]!, via = nextHop;
    if (addr >>> 0 === 0xffffffff) { type = RTN_BROADCAST; via = 0; }
    else if ((addr >>> 28) === 0xe) { type = RTN_MULTICAST; if (fib.dstLen[r]! < 4) via = 0; }
    else if (type === RTN_BROADCAST) via = 0;
    return {
      family: 4, route: r, type, dev: this.devName(fib.oif[r]!), via: via !== 0 ? ipv4Text(via) : null, src: src !== 0 ? ipv4Text(src) : null, table,
    };
  }

  /** `ip -6 route get`'s answer for the IPv6 address 'words' (four uint32), or the errno. Slow path. */
  routeGet6(words: ArrayLike<number>): RouteGet | number {
    const fib = this.fib6;
    let r = this.local6.lookup4w(words, 0);
    let table = RT_TABLE_LOCAL;
    if (r < 0 || fib.type[r] === RTN_THROW) { r = this.main6.lookup4w(words, 0); table = RT_TABLE_MAIN; }
    if (r < 0) return ENETUNREACH;
    const errno = routeTypeErrno(fib.type[r]!);
    if (errno !== 0) return errno;
    const type = fib.type[r]!;
    let src: number[] | null;
    if ((fib.flags[r]! & RTF_HAS_PREFSRC) !== 0) src = Array.from(fib.prefsrc.subarray(r * 4, r * 4 + 4));
    else src = this.selectSource6(fib.oif[r]!, words);
    const hasGw = (fib.flags[r]! & RTF_HAS_GATEWAY) !== 0;
    return {
      family: 6, route: r, type, dev: type === RTN_LOCAL || type === RTN_ANYCAST ? this.loopbackName() : this.devName(fib.oif[r]!),
      via: hasGw ? ipv6Text(fib.gateway, r * 4) : null, src: src === null ? null : ipv6Text(src), table,
    };
  }

  private loopbackName(): string {
    for (const d of this.devicesInOrder()) if (d.loopback) return d.name;
    return 'lo';
  }

  private devName(index: number): string {
    return this.byIndex.get(index)?.name ?? `if${index}`;
  }

  // -------------------------------------------------------------------------------------------
  // ip route text

  /**
   * Run an `ip [-4|-6] route …` command given as its arguments after `ip`/`route` (a string
   * split on blanks, or an array): `add|change|replace|prepend|append|del ROUTE`, `show
   * [table T]`, `get ADDR`. 'family' is `-4`/`-6` (0: from the addresses). Returns what ip
   * prints on stdout ('' for changes); throws RouteError with iproute2's stderr otherwise.
   */
  ipRoute(args: string | readonly string[], family: 0 | 4 | 6 = 0): string {
    const argv = typeof args === 'string' ? args.trim().split(/\s+/).filter((s) => s !== '') : [...args];
    const cmd = argv.shift();
    if (cmd === undefined || matches(cmd, 'list') || matches(cmd, 'show') || matches(cmd, 'lst')) return this.show(argv, family);
    if (matches(cmd, 'add')) { this.apply(parseRouteArgs(argv, family), 'add'); return ''; }
    if (matches(cmd, 'change') || cmd === 'chg') { this.apply(parseRouteArgs(argv, family), 'change'); return ''; }
    if (matches(cmd, 'replace')) { this.apply(parseRouteArgs(argv, family), 'replace'); return ''; }
    if (matches(cmd, 'prepend')) { this.apply(parseRouteArgs(argv, family), 'prepend'); return ''; }
    if (matches(cmd, 'append')) { this.apply(parseRouteArgs(argv, family), 'append'); return ''; }
    if (matches(cmd, 'delete')) { this.del(parseRouteArgs(argv, family, true)); return ''; }
    if (matches(cmd, 'get')) return this.get(argv, family);
    throw new RouteError('ROUTE_UNKNOWN_COMMAND', cmd, `Command "${cmd}" is unknown, try "ip route help".`);
  }

  /**
   * Apply a parsed route with the kernel's checks (fib_create_info/fib_check_nh for IPv4,
   * ip6_route_info_create/ip6_validate_gw for IPv6) and insert it as 'mode'. Returns the id.
   */
  apply(p: ParsedRoute, mode: InsertMode): number {
    const oif = this.resolveDev(p.dev);
    return p.family === 4 ? this.apply4(p, oif, mode) : this.apply6(p, oif, mode);
  }

  private resolveDev(name: string | null): number {
    if (name === null) return 0;
    const d = this.devices.get(name);
    if (d === undefined) throw new RouteError('ROUTE_UNKNOWN_DEVICE', name, `Cannot find device "${name}"`);
    return d.index;
  }

  private apply4(p: ParsedRoute, oifIn: number, mode: InsertMode): number {
    const fib = this.fib4;
    const table = p.table === null || p.table === 0 ? (isLocalType(p.type) ? RT_TABLE_LOCAL : RT_TABLE_MAIN) : p.table;
    const scope = p.scope ?? defaultScope4(p.type, p.gateway !== null);
    if (p.hostBits) throw kernelError('ROUTE_EINVAL', 'Error: Invalid prefix for given prefix length.');
    const minScope = [RT_SCOPE_UNIVERSE, RT_SCOPE_HOST, RT_SCOPE_LINK, RT_SCOPE_LINK, RT_SCOPE_UNIVERSE][p.type - 1] ?? RT_SCOPE_UNIVERSE;
    if (minScope > scope) throw kernelError('ROUTE_EINVAL', 'Error: Invalid scope.');
    let oif = oifIn;
    let usesGateway = false;
    const errno = routeTypeErrno(p.type);
    if (errno !== 0) {
      if (p.gateway !== null || oif !== 0) throw kernelError('ROUTE_EINVAL', 'Error: Gateway, device and multipath can not be specified for this route type.');
    } else {
      if (p.type > RTN_MULTICAST) throw kernelError('ROUTE_EINVAL', 'Error: Invalid route type.');
      if (scope > RT_SCOPE_HOST) throw kernelError('ROUTE_EINVAL', 'Error: Invalid scope.');
      if (scope === RT_SCOPE_HOST) {
        if (p.gateway !== null) throw kernelError('ROUTE_EINVAL', 'Error: Route with host scope can not have a gateway.');
        if (oif === 0) throw rtnetlink('ROUTE_ENODEV', 'No such device');
      } else if (p.gateway !== null) {
        const gw = p.gateway[0]!;
        if (p.onlink) {
          if (scope >= RT_SCOPE_LINK) throw kernelError('ROUTE_EINVAL', 'Error: Nexthop has invalid scope.');
          if (oif === 0) throw kernelError('ROUTE_ENODEV', 'Error: Nexthop device required for onlink.');
          // inet_addr_type_dev_table passes no device: a local address of any device is refused
          const t = this.addrType4(gw);
          if (t !== RTN_UNICAST) throw kernelError('ROUTE_EINVAL', 'Error: Nexthop has invalid gateway.');
          usesGateway = true;
        } else {
          const tables = table !== RT_TABLE_MAIN && table !== RT_TABLE_LOCAL && fib.tables.has(table) ? [table] : [];
          let r = tables.length > 0 ? fib.walk([gw], tables, Math.max(scope + 1, RT_SCOPE_LINK), oif) : -1;
          if (r < 0 || routeTypeErrno(fib.type[r]!) !== 0) r = this.walk4(gw, Math.max(scope + 1, RT_SCOPE_LINK), oif);
          if (r < 0 || (fib.type[r] !== RTN_UNICAST && fib.type[r] !== RTN_LOCAL)) throw kernelError('ROUTE_EINVAL', 'Error: Nexthop has invalid gateway.');
          oif = fib.oif[r]!;
          usesGateway = fib.scope[r] === RT_SCOPE_LINK;
        }
      } else if (oif === 0) {
        throw rtnetlink('ROUTE_ENODEV', 'No such device');
      }
    }
    if (p.src !== null) {
      const s = p.src[0]!;
      if (!(p.type === RTN_LOCAL && p.dstLen === 32 && s === p.dst[0]) && this.addrType4(s) !== RTN_LOCAL) {
        throw kernelError('ROUTE_EINVAL', 'Error: Invalid prefsrc address.');
      }
    }
    const f: RouteFields = {
      type: p.type, table, metric: p.metric ?? 0, protocol: p.protocol ?? RTPROT_BOOT, scope, oif,
      flags: (p.gateway !== null ? RTF_HAS_GATEWAY : 0) | (p.src !== null ? RTF_HAS_PREFSRC : 0) | (p.onlink ? RTF_ONLINK : 0) | (usesGateway ? RTF_USES_GATEWAY : 0),
      dstLen: p.dstLen, dst: p.dst.slice(0, 1), gateway: [p.gateway?.[0] ?? 0], prefsrc: [p.src?.[0] ?? 0],
    };
    return fib.insert(f, mode);
  }

  /** fib_lookup with a scope floor and an oif filter: merged local+main, then default on EAGAIN. */
  private walk4(addr: number, minScope: number, oif: number): number {
    const fib = this.fib4;
    const r = fib.walk([addr], [RT_TABLE_LOCAL, RT_TABLE_MAIN], minScope, oif);
    if (r >= 0 && fib.type[r] !== RTN_THROW) return r;
    if (!fib.tables.has(RT_TABLE_DEFAULT)) return -1;
    return fib.walk([addr], [RT_TABLE_DEFAULT], minScope, oif);
  }

  /**
   * __inet_dev_addr_type: broadcast for 0/8 and 255.255.255.255, multicast for class D, else
   * the type of the route 'addr' hits in the merged tables — RTN_UNICAST when none, when it is
   * a reject route, or when 'oif' is given and the route is another device's.
   */
  private addrType4(addr: number, oif = 0): number {
    if ((addr >>> 24) === 0 || addr >>> 0 === 0xffffffff) return RTN_BROADCAST;
    if ((addr >>> 28) === 0xe) return RTN_MULTICAST;
    const fib = this.fib4;
    const r = fib.walk([addr], [RT_TABLE_LOCAL, RT_TABLE_MAIN], RT_SCOPE_UNIVERSE, 0);
    if (r < 0 || routeTypeErrno(fib.type[r]!) !== 0) return RTN_UNICAST;
    if (oif !== 0 && fib.oif[r] !== oif) return RTN_UNICAST;
    return fib.type[r]!;
  }

  /** Whether IPv6 'w' is an address of this host (global on any device, link/host scope on 'oif'). */
  private isLocal6(w: ArrayLike<number>, oif: number): boolean {
    for (const d of this.byIndex.values()) {
      for (const a of d.addrs6) {
        if (!a.words.every((x, i) => x === (w[i]! >>> 0))) continue;
        // ipv6_chk_addr: an address of link or host scope counts only on its own device
        const sc = ipv6SrcScope(a.words);
        if (oif === 0 || d.index === oif || (sc !== SCOPE6_LINK && sc !== SCOPE6_NODE)) return true;
      }
    }
    return false;
  }

  private apply6(p: ParsedRoute, oifIn: number, mode: InsertMode): number {
    const fib = this.fib6;
    if (mode === 'append' || mode === 'prepend') {
      throw new RouteError('ROUTE_UNSUPPORTED', mode, `sdnemu: "ip -6 route ${mode}" (multipath) is not supported`);
    }
    const table = p.table === null || p.table === 0 ? (isLocalType(p.type) ? RT_TABLE_LOCAL : RT_TABLE_MAIN) : p.table;
    let oif = oifIn;
    const errno = routeTypeErrno(p.type);
    if (errno !== 0) {
      oif = this.devices.get(this.loopbackName())?.index ?? oif;
    } else if (p.gateway !== null) {
      const gw = p.gateway;
      const needAddrCheck = oif === 0;
      if (oif !== 0 && this.isLocal6(gw, oif)) throw kernelError('ROUTE_EINVAL', 'Error: Gateway can not be a local address.');
      const linkLocal = ((gw[0]! >>> 0) & 0xffc00000) >>> 0 === 0xfe800000;
      if (!linkLocal) {
        if (isMulticast6(gw) || gw.every((x) => x === 0)) throw kernelError('ROUTE_EINVAL', 'Error: Invalid gateway address.');
        oif = this.checkGateway6(gw, table, oif);
      }
      if (oif === 0) throw kernelError('ROUTE_EINVAL', 'Error: Egress device not specified.');
      if (this.byIndex.get(oif)?.loopback === true) throw kernelError('ROUTE_EINVAL', 'Error: Egress device can not be loopback device for this route.');
      if (needAddrCheck && this.isLocal6(gw, oif)) throw kernelError('ROUTE_EINVAL', 'Error: Gateway can not be a local address.');
    } else if (oif === 0) {
      throw rtnetlink('ROUTE_ENODEV', 'No such device');
    }
    if (p.src !== null && !this.isLocal6(p.src, oif)) throw kernelError('ROUTE_EINVAL', 'Error: Invalid source address.');
    const f: RouteFields = {
      type: p.type, table, metric: p.metric === null || p.metric === 0 ? 1024 : p.metric, protocol: p.protocol ?? RTPROT_BOOT,
      scope: RT_SCOPE_UNIVERSE, oif, flags: (p.gateway !== null ? RTF_HAS_GATEWAY : 0) | (p.src !== null ? RTF_HAS_PREFSRC : 0),
      dstLen: p.dstLen, dst: p.dst, gateway: p.gateway ?? [0, 0, 0, 0], prefsrc: p.src ?? [0, 0, 0, 0],
    };
    return fib.insert(f, mode);
  }

  /**
   * ip6_route_check_nh: the gateway must resolve, in the route's own 'table', to a route that is
   * not a reject route, has no gateway and is on 'oif' (when given); failing that, by
   * fib6_lookup — table local, and main only when local has NO match (a `throw` in local is a
   * match, and a reject one) — with the same conditions. Returns the egress device index;
   * throws EHOSTUNREACH.
   */
  private checkGateway6(gw: ArrayLike<number>, table: number, oif: number): number {
    const fib = this.fib6;
    const usable = (r: number): boolean => r >= 0 && routeTypeErrno(fib.type[r]!) === 0 && (fib.flags[r]! & RTF_HAS_GATEWAY) === 0;
    let r = fib.walk(gw, [table], RT_SCOPE_UNIVERSE, oif);
    if (!usable(r) || (oif !== 0 && fib.oif[r] !== oif)) {
      r = fib.walk(gw, [RT_TABLE_LOCAL], RT_SCOPE_UNIVERSE, oif);
      if (r < 0) r = fib.walk(gw, [RT_TABLE_MAIN], RT_SCOPE_UNIVERSE, oif);
      if (!usable(r) || (oif !== 0 && fib.oif[r] !== oif)) throw rtnetlink('ROUTE_EHOSTUNREACH', 'No route to host');
    }
    return fib.oif[r]!;
  }

  /** `ip route del`: the first route of the prefix in the table matching every given field (fib_table_delete, ip6_route_del). */
  private del(p: ParsedRoute): void {
    const fib = p.family === 4 ? this.fib4 : this.fib6;
    const W = fib.W;
    const oif = this.resolveDev(p.dev);
    if (p.family === 4 && p.hostBits) throw kernelError('ROUTE_EINVAL', 'Error: Invalid prefix for given prefix length.');
    const table = p.table === null || p.table === 0 ? (isLocalType(p.type) ? RT_TABLE_LOCAL : RT_TABLE_MAIN) : p.table;
    // iproute2 sends scope NOWHERE (any) for a unicast/untyped delete, else the type's default scope
    const scope = p.scope ?? (p.type === RTN_UNSPEC || p.type === RTN_UNICAST ? null : defaultScope4(p.type, false));
    for (const r of fib.routesOf(p.dst, p.dstLen)) {
      if (fib.table[r] !== table) continue;
      if (p.family === 4) {
        if (p.type !== RTN_UNSPEC && fib.type[r] !== p.type) continue;
        if (scope !== null && scope !== RT_SCOPE_NOWHERE && fib.scope[r] !== scope) continue;
        if (p.src !== null && fib.prefsrc[r] !== p.src[0]! >>> 0) continue;
      }
      if (p.protocol !== null && p.protocol !== 0 && fib.protocol[r] !== p.protocol) continue;
      if (p.metric !== null && p.metric !== 0 && fib.metric[r] !== p.metric) continue;
      if (oif !== 0 && fib.oif[r] !== oif) continue;
      if (p.gateway !== null) {
        if ((fib.flags[r]! & RTF_HAS_GATEWAY) === 0) continue;
        let same = true;
        for (let i = 0; i < W; i++) if (fib.gateway[r * W + i] !== p.gateway[i]! >>> 0) same = false;
        if (!same) continue;
      }
      fib.remove(r);
      return;
    }
    throw rtnetlink('ROUTE_ESRCH', 'No such process');
  }

  private show(argv: string[], familyOpt: 0 | 4 | 6): string {
    let table: number | 'all' = RT_TABLE_MAIN;
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      if (matches(a, 'table')) {
        const v = argv[++i];
        if (v === undefined) throw incomplete();
        const t = v === 'all' ? 0 : tableA2n(v);
        if (t === null) throw invarg('"table" value is invalid', v);
        table = t === 0 ? 'all' : t;
      } else {
        throw new RouteError('ROUTE_UNSUPPORTED', a, `sdnemu: "ip route show ${a}" is not supported (only "table")`);
      }
    }
    const fams: (4 | 6)[] = familyOpt !== 0 ? [familyOpt] : table === 'all' ? [4, 6] : [4];
    let out = '';
    for (const fam of fams) {
      const fib = fam === 4 ? this.fib4 : this.fib6;
      if (table !== 'all' && !fib.tables.has(table)) {
        throw kernelError('ROUTE_NO_TABLE', `Error: ipv${fam}: FIB table does not exist.\nDump terminated`);
      }
      const tables = table === 'all' ? tableDumpOrder(fib.tables) : [table];
      for (const t of tables) for (const r of fib.showOrder(t)) out += this.routeLine(fib, r, table === 'all');
    }
    return out;
  }

  /** One route as `ip route show` prints it ('showTable': the dump is of all tables). */
  routeLine(fib: Fib, r: number, showTable: boolean): string {
    const W = fib.W;
    const type = fib.type[r]!, len = fib.dstLen[r]!, table = fib.table[r]!, flags = fib.flags[r]!;
    let s = type !== RTN_UNICAST ? `${routeTypeName(type)} ` : '';
    const text = (a: Uint32Array): string => (W === 1 ? ipv4Text(a[r]!) : ipv6Text(a, r * 4));
    s += len === 0 ? 'default ' : len === W * 32 ? `${text(fib.dst)} ` : `${text(fib.dst)}/${len} `;
    if ((flags & RTF_HAS_GATEWAY) !== 0) s += `via ${text(fib.gateway)} `;
    if (fib.oif[r] !== 0) s += `dev ${this.devName(fib.oif[r]!)} `;
    if (showTable && table !== RT_TABLE_MAIN) s += `table ${routeTableName(table)} `;
    if (fib.protocol[r] !== RTPROT_BOOT) s += `proto ${routeProtoName(fib.protocol[r]!)} `;
    if (W === 1 && fib.scope[r] !== RT_SCOPE_UNIVERSE) s += `scope ${routeScopeName(fib.scope[r]!)} `;
    if ((flags & RTF_HAS_PREFSRC) !== 0) s += `src ${text(fib.prefsrc)} `;
    if (W === 4 || fib.metric[r] !== 0) s += `metric ${fib.metric[r]} `;
    if ((flags & RTF_ONLINK) !== 0) s += 'onlink ';
    if (W === 4) s += 'pref medium';
    return s + '\n';
  }

  private get(argv: string[], familyOpt: 0 | 4 | 6): string {
    let target: string | null = null;
    for (let i = 0; i < argv.length; i++) {
      let a = argv[i]!;
      if (a === 'to') { a = argv[++i] ?? ''; if (a === '') throw incomplete(); }
      else if (['from', 'iif', 'oif', 'tos', 'dsfield', 'mark', 'vrf', 'uid', 'ipproto', 'sport', 'dport', 'fibmatch', 'connected'].includes(a)) {
        throw new RouteError('ROUTE_UNSUPPORTED', a, `sdnemu: "ip route get ${a}" is not supported`);
      }
      if (target !== null) throw new RouteError('ROUTE_GARBAGE', a, `Error: either "to" is duplicate, or "${a}" is a garbage.`);
      target = a;
    }
    if (target === null) throw new RouteError('ROUTE_INCOMPLETE', '', 'need at least a destination address');
    const p = getPrefix1(target, familyOpt);
    if (p === null || (p.family === 0 && !p.isDefault)) throw new RouteError('ROUTE_BAD_PREFIX', target, `Error: ${familyVerbose(familyOpt)} prefix is expected rather than "${target}".`);
    const fam = p.family === 0 ? (familyOpt === 0 ? 4 : familyOpt) : p.family;
    const res = fam === 4 ? this.routeGet4(p.words[0]!) : this.routeGet6(p.words);
    if (typeof res === 'number') throw rtnetlink(`ROUTE_E${errnoName(res)}`, ERRNO_TEXT.get(res) ?? `errno ${res}`);
    const dstText = fam === 4 ? ipv4Text(p.words[0]!) : ipv6Text(p.words);
    const typeText = res.type !== RTN_UNICAST ? `${routeTypeName(res.type)} ` : '';
    if (fam === 4) {
      let s = `${typeText}${dstText} `;
      if (res.via !== null) s += `via ${res.via} `;
      s += `dev ${res.dev} `;
      if (res.table !== RT_TABLE_MAIN) s += `table ${routeTableName(res.table)} `;
      if (res.src !== null) s += `src ${res.src} `;
      if (res.type === RTN_MULTICAST) s += 'rt_offload_failed ';
      s += 'uid 0 \n    cache ';
      const a = p.words[0]!;
      if (res.type === RTN_LOCAL) s += '<local> ';
      else if (res.type === RTN_BROADCAST) s += '<local,brd> ';
      else if (res.type === RTN_MULTICAST) s += a === 0xe0000001 ? '<local,mc> ' : '<mc> ';
      return s + '\n';
    }
    const fib = this.fib6, r = res.route;
    let s = `${typeText}${dstText} from :: `;
    if (res.via !== null) s += `via ${res.via} `;
    s += `dev ${res.dev} `;
    if (res.table !== RT_TABLE_MAIN) s += `table ${routeTableName(res.table)} `;
    if (fib.protocol[r] !== RTPROT_BOOT) s += `proto ${routeProtoName(fib.protocol[r]!)} `;
    if (res.src !== null) s += `src ${res.src} `;
    s += `metric ${fib.metric[r]} pref medium\n`;
    return s;
  }

  /** A route of either family as a plain record (slow path; for tests, traces and the CLI). */
  routeInfo(family: 4 | 6, id: number): RouteInfo {
    const fib = family === 4 ? this.fib4 : this.fib6;
    const W = fib.W, flags = fib.flags[id]!;
    const text = (a: Uint32Array): string => (W === 1 ? ipv4Text(a[id]!) : ipv6Text(a, id * 4));
    return {
      id, family, type: routeTypeName(fib.type[id]!), dst: `${text(fib.dst)}/${fib.dstLen[id]}`, table: fib.table[id]!, metric: fib.metric[id]!,
      protocol: routeProtoName(fib.protocol[id]!), scope: routeScopeName(fib.scope[id]!),
      dev: fib.oif[id] !== 0 ? this.devName(fib.oif[id]!) : null,
      gateway: (flags & RTF_HAS_GATEWAY) !== 0 ? text(fib.gateway) : null,
      prefsrc: (flags & RTF_HAS_PREFSRC) !== 0 ? text(fib.prefsrc) : null,
      onlink: (flags & RTF_ONLINK) !== 0,
    };
  }
}

/** A route as a plain record (RoutingTable.routeInfo). */
export interface RouteInfo {
  id: number;
  family: 4 | 6;
  type: string;
  dst: string;
  table: number;
  metric: number;
  protocol: string;
  scope: string;
  dev: string | null;
  gateway: string | null;
  prefsrc: string | null;
  onlink: boolean;
}

function errnoName(e: number): string {
  switch (e) {
    case EINVAL: return 'INVAL';
    case EHOSTUNREACH: return 'HOSTUNREACH';
    case EACCES: return 'ACCES';
    default: return 'NETUNREACH';
  }
}

const isLocalType = (t: number): boolean => t === RTN_LOCAL || t === RTN_BROADCAST || t === RTN_NAT || t === RTN_ANYCAST;

/** iproute2's default scope for an IPv4 route of 'type' (iproute_modify). */
function defaultScope4(type: number, hasGw: boolean): number {
  if (type === RTN_LOCAL || type === RTN_NAT) return RT_SCOPE_HOST;
  if (type === RTN_BROADCAST || type === RTN_MULTICAST || type === RTN_ANYCAST) return RT_SCOPE_LINK;
  if (type === RTN_UNICAST || type === RTN_UNSPEC) return hasGw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
  return RT_SCOPE_UNIVERSE;
}

/** The kernel's dump order of tables: hash bucket (id & 255), newest first within a bucket. */
function tableDumpOrder(tables: Map<number, number>): number[] {
  return [...tables.entries()].sort((a, b) => ((a[0] & 255) - (b[0] & 255)) || (b[1] - a[1])).map((e) => e[0]);
}

// ---------------------------------------------------------------------------------------------
// iproute2 argument parsing (ip/iproute.c iproute_modify)

/** iproute2's matches(): 'arg' is a non-empty prefix of 'word'. */
function matches(arg: string, word: string): boolean {
  return arg.length > 0 && word.startsWith(arg);
}

const incomplete = (): RouteError => new RouteError('ROUTE_INCOMPLETE', '', 'Command line is not complete. Try option "help"');
const invarg = (msg: string, arg: string): RouteError => new RouteError('ROUTE_BAD_VALUE', arg, `Error: argument "${arg}" is wrong: ${msg}`);

function tableA2n(s: string): number | null {
  for (const [id, name] of TABLE_NAMES) if (name === s) return id;
  const v = getU32(s);
  return v;
}

function nameOrNumber(names: Map<number, string>, s: string, max: number): number | null {
  for (const [id, name] of names) if (name === s) return id;
  const [v, end] = strtoul(s, 0, 0);
  if (end === 0 || end !== s.length || v > max) return null;
  return v;
}

/** rtnl_rtntype_a2n: a route type keyword, or null. */
function typeA2n(s: string): number | null {
  if (s === 'local') return RTN_LOCAL;
  if (s === 'nat') return RTN_NAT;
  if (matches(s, 'broadcast') || s === 'brd') return RTN_BROADCAST;
  if (matches(s, 'anycast')) return RTN_ANYCAST;
  if (matches(s, 'multicast')) return RTN_MULTICAST;
  if (matches(s, 'prohibit')) return RTN_PROHIBIT;
  if (matches(s, 'unreachable')) return RTN_UNREACHABLE;
  if (matches(s, 'blackhole')) return RTN_BLACKHOLE;
  if (matches(s, 'xresolve')) return 11;
  if (matches(s, 'unicast')) return RTN_UNICAST;
  if (s === 'throw') return RTN_THROW;
  const [v, end] = strtoul(s, 0, 0);
  if (end === 0 || end !== s.length || v > 255) return null;
  return v;
}

/** iproute2 route options this model does not carry (parsed by ip, refused here by name). */
const UNSUPPORTED = new Set(['as', 'newdst', 'from', 'tos', 'expires', 'mtu', 'hoplimit', 'advmss', 'reordering', 'rtt', 'rttvar',
  'window', 'cwnd', 'ssthresh', 'realms', 'rto_min', 'initcwnd', 'initrwnd', 'features', 'quickack', 'congctl', 'pref',
  'encap', 'ttl-propagate', 'nexthop', 'nhid', 'vrf', 'weight', 'pervasive', 'fastopen_no_cookie', 'lock']);

/**
 * Parse the arguments of `ip [-4|-6] route add|del|… ROUTE` (iproute_modify): `[to] [TYPE]
 * PREFIX`, `via [inet|inet6] ADDR`, `dev|oif NAME`, `src ADDR`, `metric|priority|preference N`,
 * `table ID`, `proto P`, `scope S`, `onlink`. Throws RouteError with iproute2's message and the
 * token. 'forDelete': `ip route del` (type and scope stay unset). Devices are not resolved here.
 */
export function parseRouteArgs(argv: readonly string[], familyOpt: 0 | 4 | 6 = 0, forDelete = false): ParsedRoute {
  let family: 0 | 4 | 6 = familyOpt;
  let type: number | null = null;
  let dst: ParsedPrefix | null = null;
  let gateway: number[] | null = null;
  let dev: string | null = null;
  let src: number[] | null = null;
  let metric: number | null = null;
  let table: number | null = null;
  let protocol: number | null = null;
  let scope: number | null = null;
  let onlink = false;
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i]!;
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw incomplete();
      return v;
    };
    if (a === 'src') {
      const v = next();
      const p = getAddr1(v, family);
      if (p === null || p.isDefault) throw new RouteError('ROUTE_BAD_ADDRESS', v, `Error: ${familyVerbose(family)} address is expected rather than "${v}".`);
      if (family === 0) family = p.family === 0 ? 0 : p.family;
      src = p.words;
    } else if (a === 'via') {
      if (gateway !== null) throw invarg('use nexthop syntax to specify multiple via', a);
      let v = next();
      let fam = family;
      if (v === 'inet' || v === 'inet6') { fam = v === 'inet' ? 4 : 6; v = next(); }
      const p = getAddr1(v, fam);
      if (p === null || p.isDefault) throw new RouteError('ROUTE_BAD_ADDRESS', v, `Error: ${familyVerbose(fam)} address is expected rather than "${v}".`);
      if (family === 0) family = p.family === 0 ? 0 : p.family;
      else if (p.family !== family) throw new RouteError('ROUTE_UNSUPPORTED', v, `sdnemu: a gateway of another family ("via ${v}") is not supported`);
      gateway = p.words;
    } else if (matches(a, 'metric') || matches(a, 'priority') || a === 'preference') {
      const v = next();
      const n = getU32(v);
      if (n === null) throw invarg('"metric" value is invalid', v);
      metric = n;
    } else if (a === 'scope') {
      const v = next();
      const n = nameOrNumber(SCOPE_NAMES, v, 255);
      if (n === null) throw invarg('invalid "scope" value', v);
      scope = n;
    } else if (UNSUPPORTED.has(a)) {
      throw new RouteError('ROUTE_UNSUPPORTED', a, `sdnemu: the route option "${a}" is not supported`);
    } else if (matches(a, 'protocol')) {
      const v = next();
      const n = nameOrNumber(PROTO_NAMES, v, 255);
      if (n === null) throw invarg('"protocol" value is invalid', v);
      protocol = n;
    } else if (matches(a, 'table')) {
      const v = next();
      const n = tableA2n(v);
      if (n === null) throw invarg('"table" value is invalid', v);
      table = n;
    } else if (a === 'dev' || a === 'oif') {
      dev = next();
    } else if (a === 'onlink') {
      onlink = true;
    } else {
      if (matches(a, 'to')) a = next();
      if ((a[0]! < '0' || a[0]! > '9')) {
        const t = typeA2n(a);
        if (t !== null) { type = t; a = next(); }
      }
      if (matches(a, 'help')) throw new RouteError('ROUTE_HELP', a, 'Usage: ip route { list | flush } SELECTOR');
      if (dst !== null) throw new RouteError('ROUTE_GARBAGE', a, `Error: either "to" is duplicate, or "${a}" is a garbage.`);
      const p = getPrefix1(a, family);
      if (p === null) throw new RouteError('ROUTE_BAD_PREFIX', a, `Error: ${familyVerbose(family)} prefix is expected rather than "${a}".`);
      if (family === 0 && p.family !== 0) family = p.family;
      dst = p;
    }
  }
  if (dst === null) throw new RouteError('ROUTE_INCOMPLETE', '', 'Error: destination prefix is required (ip would send a request without one)');
  const fam: 4 | 6 = family === 0 ? 4 : family;
  const W = fam === 4 ? 1 : 4;
  const words = dst.words.slice(0, W).map((w) => w >>> 0);
  const len = dst.bitlen;
  const masked = words.map((w, i) => (w & (W === 1 ? MASK32[len]! : MASK128[4 * len + i]!)) >>> 0);
  return {
    family: fam, type: type ?? (forDelete ? RTN_UNSPEC : RTN_UNICAST), dst: masked, dstLen: len,
    hostBits: masked.some((w, i) => w !== words[i]), gateway: gateway === null ? null : gateway.slice(0, W).map((w) => w >>> 0),
    dev, src: src === null ? null : src.slice(0, W).map((w) => w >>> 0), metric, table, protocol, scope, onlink,
  };
}
