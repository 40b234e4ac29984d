/**
 * Masked matches over the flow key, and their ovs-ofctl text (flow layer).
 *
 * What: a `Match` is two FLOW_WORDS arrays, 'value' and 'mask', over key.ts's
 * layout, with the invariant value & ~mask == 0 (OVS's `struct match`: flow
 * plus wildcards, values stored pre-masked), views of one buffer (or, for
 * `cloneShared()`'s copies — a flow template's, ofproto/template.ts — the
 * value in a buffer shared by many matches and the mask the original's own
 * array: nothing writes a parsed match). `matches(m, key, base)` is the
 * masked compare (fast path: allocation-free, branch-free over the words).
 * `parseMatch(text)` reads the match part of ovs-ofctl syntax and
 * `formatMatch(m)` prints it as ovs-ofctl does (lib/match.c
 * `match_format()`: keyword first, OVS's fixed field order, CIDR prefixes as
 * `/24`, other masks as `value/mask`, ports as `0x1000/0xf000`).
 * `MatchBuilder` is the same parser one `key=value` at a time, for the flow
 * parser in ofproto/ that also sees priority, table, actions….
 *
 * Parsing follows ovs-ofctl (lib/ofp-flow.c `parse_ofp_str__`, meta-flow.c
 * `mf_parse`): tokens split on `,` and white space, `key=value` or
 * `key:value`; fields are applied in order, so a later field overrides an
 * earlier one on the same bits (`tcp,udp` is udp, `vlan_tci=…,dl_vlan=5`
 * keeps only dl_vlan's bits); numbers are C's strtoull base 0 (`0x1f`,
 * `010` = 8, `31`); `*` or an all-zero mask wildcards the field; error
 * messages are ovs-ofctl's (`80): bad syntax for tcp_dst value`).
 * Where sdnemu is stricter than ovs-ofctl (each refused with a FlowSyntaxError):
 *  - prerequisites: ovs-ofctl accepts `tp_dst=80` without `tcp` and silently
 *    DROPS the field while encoding (log line "normalization changed
 *    ofp_match"); that drops a user's intent, so by default it is
 *    OFCTL_MISSING_PREREQ. `{ prereqs: 'ovs' }` reproduces ovs-ofctl's
 *    normalisation instead (used by the differential tests and for loading
 *    flow files verbatim), listing the dropped fields in 'dropped'.
 *  - values ovs-ofctl wraps or truncates without a word: IPv4 octets > 255
 *    (`1.2.3.400` = 1.2.3.144), `dl_vlan=5000` (= 904), `nw_tos=3` (= 0),
 *    `nw_ecn=4`, `ip_dscp=64`, `arp_op=256`, `dl_vlan_pcp=8`, labels over 20
 *    bits; an empty value (`reg0=`); a VID without the CFI bit under an
 *    exact TCI mask (OF1.0 turns `vlan_tci=0x000a` into 0x0000).
 * Cost: parse and print are slow path (strings, BigInt for 64-bit values).
 * Neighbours: fields.ts (registry), key.ts (layout), errors.ts; ofproto/
 * builds flow entries and classifier subtables from Match.
 */
import { ipv6ToString, parseIpv4Dotted, parseIpv6 as parseIpv6Bytes } from '../wire/bytes.js';
import { FlowSyntaxError } from './errors.js';
import {
  CT_STATE_FLAGS, ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, ETH_TYPE_RARP, type FieldDef, FIELDS, IPPROTO_ICMP,
  IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP, OFPP_NAMES, OFPP_PRINT, PROTOCOLS, prereqSatisfied,
  TCP_FLAG_NAMES, TUN_FLAG_NAMES,
} from './fields.js';
import {
  F_ARP_SHA_HI, F_ARP_THA_HI, F_CT_MARK, F_CT_STATE, F_CT_ZONE, F_DP_HASH, F_DL_DST_HI, F_DL_SRC_HI, F_DL_TYPE, F_IN_PORT,
  F_IPV6_DST, F_IPV6_LABEL, F_IPV6_SRC, F_ND_TARGET, F_METADATA_HI, F_NW_DST, F_NW_ECN, F_NW_FRAG, F_NW_PROTO, F_NW_SRC,
  F_NW_TOS, F_NW_TTL, F_PACKET_TYPE, F_RECIRC_ID, F_REG0, F_TCP_FLAGS, F_TP_DST, F_TP_SRC, F_TUN_DST,
  F_TUN_FLAGS, F_TUN_ID_HI, F_TUN_ID_LO, F_TUN_SRC, F_VLAN_TCI, FLOW_WORDS,
} from './key.js';

/** bytes of one match's words (value, then mask) */
const MATCH_BYTES = FLOW_WORDS * 8;
/** matches per shared buffer of value words (cloneShared), ~0.5 MB */
const SHARED_MATCHES = 2048;
let shared: ArrayBuffer | null = null;
let sharedUsed = 0;

/** A (value, mask) pair over the key layout; value & ~mask is always 0. */
export class Match {
  readonly value: Uint32Array;
  readonly mask: Uint32Array;
  /**
   * Both arrays are views of one buffer (value, then mask): one backing store per match, not two
   * (a cluster holds hundreds of thousands of flows; each store costs memory and collector work).
   * 'from': a zeroed buffer with room at byte 'offset' for the value words, and for the mask
   * words after them unless 'mask' is given (another match's mask array, shared: cloneShared's).
   */
  constructor(from?: ArrayBuffer, offset = 0, mask?: Uint32Array) {
    const buf = from ?? new ArrayBuffer(MATCH_BYTES);
    this.value = new Uint32Array(buf, offset, FLOW_WORDS);
    this.mask = mask ?? new Uint32Array(buf, offset + FLOW_WORDS * 4, FLOW_WORDS);
  }
  /** A copy with its own arrays. */
  clone(): Match {
    const m = new Match();
    m.value.set(this.value);
    m.mask.set(this.mask);
    return m;
  }
  /**
   * A copy for one whose value words change and whose mask never does (a flow template's
   * copies, whose holes are values): its 'mask' IS this match's mask array (nothing may write
   * either), and its value words live in a buffer shared with the next SHARED_MATCHES - 1 such
   * copies — one backing store per two thousand matches, not one each: V8 makes every new
   * backing store pay towards the next collection (at hundreds of thousands of flows, seconds
   * of marking). For matches that live about as long as one another (a bridge's installed
   * flows): the buffer stays while any of its matches does.
   */
  cloneShared(): Match {
    const bytes = FLOW_WORDS * 4;
    if (shared === null || sharedUsed + bytes > shared.byteLength) {
      shared = new ArrayBuffer(bytes * SHARED_MATCHES);
      sharedUsed = 0;
    }
    const m = new Match(shared, sharedUsed, this.mask);
    sharedUsed += bytes;
    m.value.set(this.value);
    return m;
  }
  /** True when both match exactly the same packets (same value and mask words). */
  equals(o: Match): boolean {
    for (let i = 0; i < FLOW_WORDS; i++) {
      if (this.value[i] !== o.value[i] || this.mask[i] !== o.mask[i]) return false;
    }
    return true;
  }
  /** True when no bit is matched (the catch-all). */
  isCatchall(): boolean {
    for (let i = 0; i < FLOW_WORDS; i++) if (this.mask[i] !== 0) return false;
    return true;
  }
}

/**
 * True when the key at 'key'[base…] has, under 'm''s mask, 'm''s values.
 * Fast path: no allocation, one OR-accumulated XOR per word.
 */
export function matches(m: Match, key: Uint32Array, base: number): boolean {
  const v = m.value, k = m.mask;
  let diff = 0;
  for (let i = 0; i < FLOW_WORDS; i++) diff |= (key[base + i]! & k[i]!) ^ v[i]!;
  return diff === 0;
}

// ---- parsing ----------------------------------------------------------------------

export interface ParseOptions {
  /**
   * 'error' (default): a field whose prerequisites the match does not pin is
   * OFCTL_MISSING_PREREQ. 'ovs': drop such fields as ovs-ofctl's encoder does.
   */
  prereqs?: 'error' | 'ovs';
  /** with prereqs 'ovs': receives the names of the fields that were dropped */
  dropped?: string[];
  /** line number for errors (1 by default) */
  line?: number;
}

interface Use { field: FieldDef; column: number; token: string }

type Parsed = { v: bigint[]; m: bigint[] };

/**
 * Builds one Match from `key=value` items in order (ovs-ofctl semantics).
 * `add()` returns false for a key that is neither a match field nor a
 * protocol keyword, so a flow parser can handle priority, actions, …; call
 * `finish()` once to check prerequisites and get the Match.
 */
export class MatchBuilder {
  readonly match = new Match();
  private readonly uses: Use[] = [];
  private readonly line: number;
  constructor(line = 1) {
    this.line = line;
  }

  /** Apply one item; 'column' is the 1-based column of 'key' in its line. */
  add(key: string, value: string, column: number): boolean {
    const token = value === '' ? key : `${key}=${value}`;
    const proto = PROTOCOLS.get(key);
    if (proto !== undefined) {
      this.setWord(F_DL_TYPE, proto.dlType, 0xffff, 0xffff);
      if (proto.nwProto !== 0) this.setWord(F_NW_PROTO, proto.nwProto, 0xff, 0xff);
      this.setEthernet();
      return true;
    }
    if (key === 'eth') {
      this.setEthernet();
      return true;
    }
    const f = FIELDS.get(key);
    if (f === undefined) return false;
    if (value === '') throw this.err('OFCTL_BAD_VALUE', `field ${key} missing value`, column, token);
    const vcol = column + key.length + 1;
    const p = this.parseValue(f, value, vcol);
    this.apply(f, p, value, vcol);
    if (f.ethernet) this.setEthernet();
    let any = false;
    for (const x of p.m) if (x !== 0n) any = true;
    if (any && f.prereq !== null) this.uses.push({ field: f, column, token });
    return true;
  }

  /** The match built so far (live; do not modify). */
  peek(): Match { return this.match; }

  /** Check prerequisites (or normalise, with prereqs 'ovs') and return the match. */
  finish(opts: ParseOptions = {}): Match {
    const m = this.match;
    if ((opts.prereqs ?? 'error') === 'ovs') {
      normalizeLikeOvs(m, opts.dropped);
      return m;
    }
    for (const u of this.uses) {
      const p = u.field.prereq!;
      if (!prereqSatisfied(p, m.value[F_DL_TYPE]!, m.mask[F_DL_TYPE]!, m.value[F_NW_PROTO]!, m.mask[F_NW_PROTO]!)) {
        throw this.err('OFCTL_MISSING_PREREQ',
          `${u.token}: field ${u.field.name} requires ${p.name} (add ${p.hint}); ovs-ofctl would silently drop it`,
          u.column, u.token);
      }
    }
    return m;
  }

  private err(code: ConstructorParameters<typeof FlowSyntaxError>[0], detail: string, column: number, token: string): FlowSyntaxError {
    return new FlowSyntaxError(code, detail, column, token, this.line);
  }

  private setEthernet(): void {
    this.match.value[F_PACKET_TYPE] = 0;
    this.match.mask[F_PACKET_TYPE] = 0xffffffff;
  }

  private setWord(w: number, v: number, m: number, wordMask: number): void {
    const val = this.match.value, msk = this.match.mask;
    val[w] = ((val[w]! & ~wordMask) | (v & m & wordMask)) >>> 0;
    msk[w] = ((msk[w]! & ~wordMask) | (m & wordMask)) >>> 0;
  }

  private apply(f: FieldDef, p: Parsed, text: string, col: number): void {
    const w = f.word;
    switch (f.storage) {
      case 'word': {
        const v = Number(p.v[0]!), m = Number(p.m[0]!);
        if (f.name === 'dl_vlan' && v === 0xffff) {   // OFP10_VLAN_NONE: untagged
          this.setWord(w, 0, 0xffff, 0xffff);
          return;
        }
        if (m === 0) { this.setWord(w, 0, 0, f.wordMask); return; }
        const fv = (((v << f.shift) | f.fixedBits) & f.wordMask) >>> 0;
        // a non-maskable field owns its whole word range exactly (icmp_type: tp_src/0xffff, as OVS)
        const fm = f.maskable ? (((m << f.shift) | f.fixedBits) & f.wordMask) >>> 0 : f.wordMask;
        if (f.name === 'vlan_tci' || f.name === 'vlan_vid') {
          // a VID or PCP under an exact CFI=0 is "untagged and tagged": refuse it
          if ((fm & 0x1000) !== 0 && (fv & 0x1000) === 0 && (fv & 0xefff) !== 0) {
            throw this.err('OFCTL_BAD_VALUE', `${text}: VLAN bits set without the CFI/present bit (0x1000) for ${f.ovsName}`, col, text);
          }
        }
        this.setWord(w, fv, fm, f.wordMask);
        // OVS stores an exact flow label as an all-ones 32-bit mask (match_set_ipv6_label); any
        // other mask replaces it whole
        if (f.name === 'ipv6_label') this.match.mask[w] = fm === 0xfffff ? 0xffffffff : fm;
        return;
      }
      case 'u64':
      case 'mac': {
        const lowBits = 32n;
        const v = p.v[0]!, m = p.m[0]!;
        this.setWord(w, Number(v >> lowBits), Number(m >> lowBits), 0xffffffff);
        this.setWord(w + 1, Number(v & 0xffffffffn), Number(m & 0xffffffffn), 0xffffffff);
        return;
      }
      case 'ipv6':
        for (let i = 0; i < 4; i++) this.setWord(w + i, Number(p.v[i]!), Number(p.m[i]!), 0xffffffff);
        return;
    }
  }

  private parseValue(f: FieldDef, s: string, col: number): Parsed {
    if (s === '*') return { v: [0n, 0n, 0n, 0n], m: [0n, 0n, 0n, 0n] };
    // no error closure per value: parse is per flow (~5 per pod in a cluster)
    switch (f.format) {
      case 'decimal':
      case 'hex': return this.parseInt(f, s, col);
      case 'port': {
        const port = parsePort(s);
        if (port < 0) throw this.err('OFCTL_BAD_VALUE', `${s}: invalid or unknown port for ${f.ovsName}`, col, s);
        return { v: [BigInt(port)], m: [0xffffn] };
      }
      case 'mac': {
        const r = parseMacMasked(s);
        if (r === null) throw this.err('OFCTL_BAD_VALUE', `${s}: invalid Ethernet address`, col, s);
        return { v: [r[0]], m: [r[1]] };
      }
      case 'ipv4': {
        const r = parseIpv4Masked(s);
        if (typeof r === 'string') throw this.err(r.includes('prefix') ? 'OFCTL_BAD_MASK' : 'OFCTL_BAD_VALUE', r, col, s);
        return { v: [BigInt(r[0])], m: [BigInt(r[1])] };
      }
      case 'ipv6': {
        const r = parseIpv6Masked(s);
        if (typeof r === 'string') throw this.err(r.includes('prefix') ? 'OFCTL_BAD_MASK' : 'OFCTL_BAD_VALUE', r, col, s);
        return { v: r[0].map(BigInt), m: r[1].map(BigInt) };
      }
      case 'frag': {
        const h = FRAG_NAMES.get(s.toLowerCase());
        if (h === undefined) {
          throw this.err('OFCTL_BAD_VALUE', `${s}: unknown fragment type (valid types are "no", "yes", "first", "later", "not_later"`, col, s);
        }
        return { v: [BigInt(h[1])], m: [BigInt(h[0])] };
      }
      case 'ct_state':
        return this.parseFlags(s, CT_STATE_FLAGS, 'ct_state', 0xff, col);
      case 'tcp_flags':
        return this.parseFlags(s, TCP_FLAG_NAMES, 'TCP', 0x0fff, col);
      case 'tun_flags':
        return this.parseFlags(s, TUN_FLAG_NAMES, 'tunnel', 0x1, col);
    }
  }

  private parseInt(f: FieldDef, s: string, col: number): Parsed {
    const slash = s.indexOf('/');
    const vs = slash < 0 ? s : s.slice(0, slash);
    const limit = 1n << BigInt(f.nBytes * 8);
    if (f.name === 'dl_vlan' && slash < 0 && parseCInt(vs) === 0xffffn) return { v: [0xffffn], m: [0xffffn] };   // untagged
    const v = parseCInt(vs);
    if (v === null) throw this.err('OFCTL_BAD_VALUE', `${s}: bad syntax for ${f.ovsName} value`, col, s);
    if (v === 'range' || v >= limit) throw this.err('OFCTL_BAD_VALUE', `${s}: value too large for ${f.nBytes}-byte field ${f.ovsName}`, col, s);
    let m = limit - 1n;
    if (slash >= 0) {
      const mm = parseCInt(s.slice(slash + 1));
      if (mm === null) throw this.err('OFCTL_BAD_MASK', `${s}: bad syntax for ${f.ovsName} mask`, col, s);
      if (mm === 'range' || mm >= limit) throw this.err('OFCTL_BAD_MASK', `${s}: mask too large for ${f.nBytes}-byte field ${f.ovsName}`, col, s);
      m = mm;
    }
    // a non-maskable field takes only all-ones or all-zero (wildcard) masks, as mf_is_mask_valid
    if (!f.maskable && m !== 0n && m !== limit - 1n) throw this.err('OFCTL_BAD_MASK', `${s}: invalid mask for field ${f.ovsName}`, col, s);
    if (m === 0n) return { v: [0n], m: [0n] };
    const fieldMax = (1n << BigInt(f.bits)) - 1n;
    if (f.name === 'nw_tos' ? (v & 3n) !== 0n : v > fieldMax) {
      const what = f.name === 'nw_tos' ? 'has ECN bits set (nw_tos takes the DSCP bits only: a multiple of 4)' : `out of range for ${f.bits}-bit field ${f.ovsName}`;
      throw this.err('OFCTL_BAD_VALUE', `${s}: value ${what}`, col, s);
    }
    if (f.maskable && f.bits < f.nBytes * 8) {
      if (slash >= 0 && (m & ~fieldMax) !== 0n) throw this.err('OFCTL_BAD_MASK', `${s}: mask out of range for ${f.bits}-bit field ${f.ovsName}`, col, s);
      m &= fieldMax;
    } else if (!f.maskable) {
      m = fieldMax;
    }
    return { v: [v & m], m: [m] };
  }

  /** parse_flags() of lib/flow.c: `0x21/0x21`, `+trk-new`, or `trk|new` (exact). */
  private parseFlags(s: string, names: readonly (readonly [string, number])[], what: string, allowed: number,
    col: number): Parsed {
    const bad = (code: 'OFCTL_BAD_VALUE' | 'OFCTL_BAD_MASK', detail: string): FlowSyntaxError => this.err(code, detail, col, s);
    const unknown = (rest: string): FlowSyntaxError => bad('OFCTL_BAD_VALUE', `${rest}: unknown ${what} flag(s)`);
    const nm = /^([^/]+)\/(.+)$/.exec(s);
    if (nm !== null) {
      const v = parseCInt(nm[1]!), m = parseCInt(nm[2]!);
      if (typeof v === 'bigint' && typeof m === 'bigint') {
        if ((v & ~BigInt(allowed)) !== 0n || (m & ~BigInt(allowed)) !== 0n) throw unknown(s);
        return { v: [v & m], m: [m] };
      }
    }
    if (s[0] === '+' || s[0] === '-') {
      let flags = 0, mask = 0, i = 0;
      while (i < s.length) {
        const c = s[i]!;
        if (c !== '+' && c !== '-') {
          throw bad('OFCTL_BAD_VALUE', `${s.slice(i)}: ${what} must be preceded by '+' (for SET) or '-' (NOT SET)`);
        }
        i++;
        const rest = s.slice(i);
        let hit = false;
        for (const [name, bit] of names) {
          if (!rest.startsWith(name)) continue;
          const after = rest[name.length];
          if (after !== undefined && after !== '+' && after !== '-') continue;
          if ((mask & bit) !== 0) throw bad('OFCTL_BAD_VALUE', `${rest}: Each ${what} flag can be specified only once`);
          if ((bit & allowed) === 0) throw unknown(rest);
          if (c === '+') flags |= bit;
          mask |= bit;
          i += name.length;
          hit = true;
          break;
        }
        if (!hit) throw unknown(rest);
      }
      return { v: [BigInt(flags)], m: [BigInt(mask)] };
    }
    let flags = 0;
    for (const part of s.split('|')) {
      const n = parseCInt(part);
      if (typeof n === 'bigint') {
        if ((n & ~BigInt(allowed)) !== 0n) throw unknown(s);
        flags |= Number(n);
        continue;
      }
      const e = names.find(([name]) => name === part);
      if (e === undefined || (e[1] & allowed) === 0) throw unknown(s);
      flags |= e[1];
    }
    return { v: [BigInt(flags)], m: [BigInt(allowed === 0x1 ? 0x1 : allowed === 0xff ? 0xff : 0xfff)] };
  }
}

/** OVS's all_frags table: name → [mask, value]; "no"/"later" take the two-bit mask. */
const FRAG_NAMES = new Map<string, readonly [number, number]>([
  ['no', [3, 0]], ['first', [3, 1]], ['later', [3, 3]], ['yes', [1, 1]], ['not_later', [2, 0]],
]);

/** C strtoull(s, 0) on the whole string: null when malformed, 'range' for a minus sign. */
function parseCInt(s: string): bigint | null | 'range' {
  if (/^0[xX][0-9a-fA-F]+$/.test(s)) return BigInt(s);
  if (/^0[0-7]*$/.test(s)) return s.length === 1 ? 0n : BigInt(`0o${s.slice(1)}`);
  if (/^[1-9][0-9]*$/.test(s)) return BigInt(s);
  if (/^-[0-9]+$/.test(s)) return 'range';
  return null;
}

/** An OpenFlow 1.0 port number or name; -1 when invalid. */
function parsePort(s: string): number {
  if (/^[0-9]+$/.test(s)) {
    const n = Number(s);
    return n <= 0xffff ? n : -1;
  }
  return OFPP_NAMES.get(s.toUpperCase()) ?? -1;
}

function parseMac(s: string): bigint | null {
  const m = /^([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})$/.exec(s);
  if (m === null) return null;
  let v = 0n;
  for (let i = 1; i <= 6; i++) v = (v << 8n) | BigInt(parseInt(m[i]!, 16));
  return v;
}

function parseMacMasked(s: string): [bigint, bigint] | null {
  const parts = s.split('/');
  if (parts.length > 2) return null;
  const v = parseMac(parts[0]!);
  if (v === null) return null;
  if (parts.length === 1) return [v, 0xffffffffffffn];
  const m = parseMac(parts[1]!);
  return m === null ? null : [v & m, m];
}

/** ip_parse_masked(): `a.b.c.d`, `a.b.c.d/N`, `a.b.c.d/m.m.m.m`; an error string when bad. */
function parseIpv4Masked(s: string): [number, number] | string {
  const parts = s.split('/');
  const ip = parseIpv4Dotted(parts[0]!);
  if (ip === null || parts.length > 2) return `${s}: invalid IP address`;
  if (parts.length === 1) return [ip, 0xffffffff];
  const ms = parts[1]!;
  let mask: number;
  if (/^[0-9]+$/.test(ms)) {
    const n = Number(ms);
    if (n > 32) return `${s}: IPv4 network prefix bits not between 0 and 32, inclusive`;
    mask = n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0;
  } else {
    const mm = parseIpv4Dotted(ms);
    if (mm === null) return `${s}: invalid IP address`;
    mask = mm;
  }
  return [(ip & mask) >>> 0, mask];
}

function ipv6Words(s: string): number[] | null {
  if (!/^[0-9a-fA-F:.]+$/.test(s)) return null;
  // parsed with ip-address through wire/bytes.ts
  const b = parseIpv6Bytes(s);
  if (b === null) return null;
  const w: number[] = [];
  for (let i = 0; i < 4; i++) w.push(((b[4 * i]! << 24) | (b[4 * i + 1]! << 16) | (b[4 * i + 2]! << 8) | b[4 * i + 3]!) >>> 0);
  return w;
}

/** ipv6_parse_masked(): `addr`, `addr/N`, `addr/maskaddr`; an error string when bad. */
function parseIpv6Masked(s: string): [number[], number[]] | string {
  const parts = s.split('/');
  const a = ipv6Words(parts[0]!);
  if (a === null || parts.length > 2) return `${s}: invalid IPv6 address`;
  if (parts.length === 1) return [a, [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff]];
  const ms = parts[1]!;
  let m: number[];
  if (/^[0-9]+$/.test(ms)) {
    const n = Number(ms);
    if (n > 128) return `${s}: IPv6 network prefix bits not between 0 and 128, inclusive`;
    m = [];
    for (let i = 0; i < 4; i++) {
      const bits = Math.max(0, Math.min(32, n - 32 * i));
      m.push(bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0);
    }
  } else {
    const mm = ipv6Words(ms);
    if (mm === null) return `${s}: invalid IPv6 address`;
    m = mm;
  }
  return [a.map((x, i) => (x & m[i]!) >>> 0), m];
}

/** a delimiter between tokenize()'s items */
function isSep(c: string): boolean {
  return c === ',' || c === ' ' || c === '\t' || c === '\r' || c === '\n';
}

/**
 * ovs-ofctl's tokenizer (ofputil_parse_key_value): items separated by `,`
 * or white space; `key=value`, `key:value`, `key(value)` or a bare `key`;
 * a value runs to the next delimiter outside parentheses. Yields
 * [key, value, 1-based column of key].
 */
export function* tokenize(text: string): Generator<[string, string, number]> {
  let i = 0;
  const n = text.length;
  while (true) {
    while (i < n && isSep(text[i]!)) i++;
    if (i >= n) return;
    const start = i;
    while (i < n && !':=(, \t\r\n'.includes(text[i]!)) i++;
    const key = text.slice(start, i);
    const delim = i < n ? text[i]! : '';
    if (delim === '' || isSep(delim)) {
      yield [key, '', start + 1];
      continue;
    }
    i++;
    const vstart = i;
    let depth = 0;
    while (i < n) {
      const c = text[i]!;
      if (delim === '(') {
        if (c === '(') depth++;
        else if (c === ')') { if (depth === 0) break; depth--; }
      } else if (depth === 0 && isSep(c)) break;
      else if (c === '(') depth++;
      else if (c === ')' && depth > 0) depth--;
      i++;
    }
    const value = text.slice(vstart, i);
    if (delim === '(' && i < n) i++;
    yield [key, value, start + 1];
  }
}

/**
 * Parse the match part of an ovs-ofctl flow (`tcp,nw_src=10.0.0.0/24,tp_dst=80`).
 * Throws FlowSyntaxError (OFCTL_UNKNOWN_FIELD for any key that is not a match
 * field or protocol keyword — split off priority/actions first).
 */
export function parseMatch(text: string, opts: ParseOptions = {}): Match {
  const line = opts.line ?? 1;
  const b = new MatchBuilder(line);
  for (const [key, value, col] of tokenize(text)) {
    if (!b.add(key, value, col)) {
      if (value === '') throw new FlowSyntaxError('OFCTL_UNKNOWN_FIELD', `field ${key} missing value`, col, key, line);
      throw new FlowSyntaxError('OFCTL_UNKNOWN_FIELD', `unknown keyword ${key}`, col, key, line);
    }
  }
  return b.finish(opts);
}

/**
 * What ovs-ofctl's encoder keeps (ofp-match.c `ofputil_normalize_match__`
 * plus nx-match.c `nx_put_raw`): clear every field whose prerequisites the
 * match's dl_type/nw_proto values do not satisfy. Names of cleared fields go
 * to 'dropped'.
 */
export function normalizeLikeOvs(m: Match, dropped?: string[]): void {
  const val = m.value, msk = m.mask;
  const dl = val[F_DL_TYPE]!;
  const proto = val[F_NW_PROTO]!;
  const protoMasked = msk[F_NW_PROTO] !== 0;
  const isIp = dl === ETH_TYPE_IP, isIp6 = dl === ETH_TYPE_IPV6, isArp = dl === ETH_TYPE_ARP || dl === ETH_TYPE_RARP;
  const clear = (name: string, w: number, n: number): void => {
    let any = false;
    for (let i = 0; i < n; i++) if (msk[w + i] !== 0) any = true;
    if (!any) return;
    for (let i = 0; i < n; i++) { val[w + i] = 0; msk[w + i] = 0; }
    dropped?.push(name);
  };
  const l4 = protoMasked && ((isIp && (proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP || proto === IPPROTO_ICMP))
    || (isIp6 && (proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP || proto === IPPROTO_ICMPV6)));
  if (!isIp && !isArp) { clear('nw_src', F_NW_SRC, 1); clear('nw_dst', F_NW_DST, 1); }
  if (!l4) { clear('tp_src', F_TP_SRC, 1); clear('tp_dst', F_TP_DST, 1); }
  if (!isIp && !isIp6 && !isArp) clear('nw_proto', F_NW_PROTO, 1);
  if (!isIp && !isIp6) {
    clear('nw_tos', F_NW_TOS, 1); clear('nw_ecn', F_NW_ECN, 1); clear('nw_ttl', F_NW_TTL, 1); clear('nw_frag', F_NW_FRAG, 1);
  }
  // arp_sha/arp_tha double as nd_sll/nd_tll, and nd_target needs ICMPv6
  const nd = isIp6 && protoMasked && proto === IPPROTO_ICMPV6;
  if (!isArp && !nd) { clear('arp_sha', F_ARP_SHA_HI, 2); clear('arp_tha', F_ARP_THA_HI, 2); }
  if (!nd) clear('nd_target', F_ND_TARGET, 4);
  if (!isIp6) { clear('ipv6_src', F_IPV6_SRC, 4); clear('ipv6_dst', F_IPV6_DST, 4); clear('ipv6_label', F_IPV6_LABEL, 1); }
  if (!((isIp || isIp6) && protoMasked && proto === IPPROTO_TCP)) clear('tcp_flags', F_TCP_FLAGS, 1);
  // ICMP type/code travel as exact 8-bit fields
  if (l4 && (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6)) {
    for (const w of [F_TP_SRC, F_TP_DST]) {
      if (msk[w] !== 0) { val[w] = val[w]! & 0xff; msk[w] = 0xffff; }
    }
  }
}

// ---- printing ---------------------------------------------------------------------

const hex = (n: number | bigint): string => (n === 0 || n === 0n ? '0' : `0x${n.toString(16)}`);

function ipv4Text(a: number): string {
  return `${(a >>> 24) & 255}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** Prefix length when 'words' (MSB first) is a CIDR mask, else -1. */
function cidrLen(words: ArrayLike<number>): number {
  let n = 0, i = 0;
  for (; i < words.length; i++) {
    const w = words[i]! >>> 0;
    if (w === 0xffffffff) { n += 32; continue; }
    const inv = ~w >>> 0;
    if ((inv & (inv + 1)) !== 0) return -1;   // ones not contiguous from the top
    n += 32 - (32 - Math.clz32(inv));
    i++;
    break;
  }
  for (; i < words.length; i++) if (words[i] !== 0) return -1;
  return n;
}

function macText(hi: number, lo: number): string {
  const b = [hi >>> 8, hi & 255, lo >>> 24, (lo >>> 16) & 255, (lo >>> 8) & 255, lo & 255];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function ipv6Text(w: ArrayLike<number>): string {
  const b = new Uint8Array(16);
  for (let i = 0; i < 4; i++) {
    const x = w[i]!;
    b[4 * i] = x >>> 24; b[4 * i + 1] = x >>> 16; b[4 * i + 2] = x >>> 8; b[4 * i + 3] = x;
  }
  return ipv6ToString(b, 0);
}

function flagsText(names: readonly (readonly [string, number])[], flags: number, mask: number, maxMask: number): string {
  const name = (bit: number): string | undefined => names.find(([, b]) => b === bit)?.[0];
  if (mask === maxMask) {
    if (flags === 0) return '0';
    const out: string[] = [];
    let bad = 0;
    for (let bit = 1; bit <= flags; bit <<= 1) {
      if ((flags & bit) === 0) continue;
      const n = name(bit);
      if (n === undefined) bad |= bit; else out.push(n);
    }
    if (bad !== 0) out.push(`0x${bad.toString(16)}`);
    return out.join('|');
  }
  if (mask === 0) return '0/0';
  let s = '';
  for (let bit = 1; bit <= mask; bit <<= 1) {
    if ((mask & bit) === 0) continue;
    s += `${(flags & bit) !== 0 ? '+' : '-'}${name(bit) ?? '[Unknown]'}`;
  }
  return s;
}

/**
 * The match as ovs-ofctl prints it (lib/match.c `match_format`, OVS 3.1):
 * e.g. `ct_state=+new+trk,tcp,reg3=0x5/0xff,dl_dst=…,nw_src=10.0.0.0/24,tp_dst=0x1000/0xf000`.
 * The catch-all prints as the empty string.
 */
/**
 * What match_format prints that sdnemu's key has no words for:
 *  - 'tunnel': 'megaflow' adds `tun_tos=0` after the tunnel addresses (a
 *    translation's tnl_wc_init makes the outer TOS exact; it is always 0
 *    here); 'flow' prints a decapsulated packet's tunnel as flow_format does
 *    (every OVS tunnel field, zero where sdnemu has none; tun_id only with the
 *    key flag) instead of the masked tunnel words;
 *  - 'vlanTci1': the absent second VLAN tag of a tagged packet
 *    (`vlan_tci1=0x0000`, which flow_wildcards_init_for_packet masks).
 */
export interface FormatOptions {
  tunnel?: 'megaflow' | 'flow';
  vlanTci1?: boolean;
}

export function formatMatch(m: Match, opts: FormatOptions = {}): string {
  const v = m.value, k = m.mask;
  const out: string[] = [];
  const u32 = (name: string, w: number): void => {
    const mask = k[w]!;
    if (mask === 0) return;
    out.push(mask === 0xffffffff ? `${name}=${hex(v[w]!)}` : `${name}=${hex(v[w]!)}/${hex(mask)}`);
  };
  const u64 = (name: string, w: number): void => {
    const mh = k[w]!, ml = k[w + 1]!;
    if (mh === 0 && ml === 0) return;
    const val = (BigInt(v[w]!) << 32n) | BigInt(v[w + 1]!);
    const mask = (BigInt(mh) << 32n) | BigInt(ml);
    out.push(mask === 0xffffffffffffffffn ? `${name}=${hex(val)}` : `${name}=${hex(val)}/${hex(mask)}`);
  };
  const be16 = (name: string, w: number): void => {
    const mask = k[w]!;
    if (mask === 0) return;
    out.push(mask === 0xffff ? `${name}=${v[w]}` : `${name}=0x${v[w]!.toString(16)}/0x${mask.toString(16)}`);
  };
  const ip = (name: string, w: number): void => {
    const mask = k[w]!;
    if (mask === 0) return;
    if (mask === 0xffffffff) { out.push(`${name}=${ipv4Text(v[w]!)}`); return; }
    const n = cidrLen([mask]);
    out.push(`${name}=${ipv4Text(v[w]!)}/${n >= 0 ? n : ipv4Text(mask)}`);
  };
  const ip6 = (name: string, w: number): void => {
    const mw = k.subarray(w, w + 4);
    if (mw.every((x) => x === 0)) return;
    const a = ipv6Text(v.subarray(w, w + 4));
    if (mw.every((x) => x === 0xffffffff)) { out.push(`${name}=${a}`); return; }
    const n = cidrLen(mw);
    out.push(`${name}=${a}/${n >= 0 ? n : ipv6Text(mw)}`);
  };
  const mac = (name: string, w: number): void => {
    if (k[w] === 0 && k[w + 1] === 0) return;
    const a = macText(v[w]!, v[w + 1]!);
    out.push(k[w] === 0xffff && k[w + 1] === 0xffffffff ? `${name}=${a}` : `${name}=${a}/${macText(k[w]!, k[w + 1]!)}`);
  };

  const isMegaflow = k[F_RECIRC_ID] !== 0;
  u32('recirc_id', F_RECIRC_ID);
  u32('dp_hash', F_DP_HASH);
  if (k[F_CT_STATE] !== 0) out.push(`ct_state=${flagsText(CT_STATE_FLAGS, v[F_CT_STATE]!, k[F_CT_STATE]!, 0xff)}`);
  be16('ct_zone', F_CT_ZONE);
  u32('ct_mark', F_CT_MARK);
  if (k[F_PACKET_TYPE] !== 0 && isMegaflow) out.push('eth');

  const dl = v[F_DL_TYPE]!, proto = v[F_NW_PROTO]!;
  let skipType = false, skipProto = false;
  if (k[F_DL_TYPE] !== 0) {
    skipType = true;
    const protoMasked = k[F_NW_PROTO] !== 0;
    if (dl === ETH_TYPE_IP || dl === ETH_TYPE_IPV6) {
      const v6 = dl === ETH_TYPE_IPV6;
      let kw = v6 ? 'ipv6' : 'ip';
      if (protoMasked) {
        skipProto = true;
        if (proto === (v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP)) kw = v6 ? 'icmp6' : 'icmp';
        else if (proto === IPPROTO_TCP) kw = v6 ? 'tcp6' : 'tcp';
        else if (proto === IPPROTO_UDP) kw = v6 ? 'udp6' : 'udp';
        else if (proto === IPPROTO_SCTP) kw = v6 ? 'sctp6' : 'sctp';
        else skipProto = false;
      }
      out.push(kw);
    } else if (dl === ETH_TYPE_ARP) out.push('arp');
    else if (dl === ETH_TYPE_RARP) out.push('rarp');
    else skipType = false;
  }
  for (let r = 0; r < 16; r++) u32(`reg${r}`, F_REG0 + r);
  if (opts.tunnel === 'flow' && v[F_TUN_DST] !== 0) {
    const flags = v[F_TUN_FLAGS]! & 0xf;
    if ((flags & 8) !== 0) out.push(`tun_id=${hex((BigInt(v[F_TUN_ID_HI]!) << 32n) | BigInt(v[F_TUN_ID_LO]!))}`);
    out.push(`tun_src=${ipv4Text(v[F_TUN_SRC]!)}`, `tun_dst=${ipv4Text(v[F_TUN_DST]!)}`, 'tun_ipv6_src=::', 'tun_ipv6_dst=::',
      'tun_gbp_id=0', 'tun_gbp_flags=0', 'tun_tos=0', 'tun_ttl=0', 'tun_erspan_ver=0', 'gtpu_flags=0', 'gtpu_msgtype=0',
      `tun_flags=${flags === 0 ? '0' : flagsText(TUN_FLAG_NAMES, flags, 0xf, 0xf)}`);
  } else {
    u64('tun_id', F_TUN_ID_HI);
    ip('tun_src', F_TUN_SRC);
    ip('tun_dst', F_TUN_DST);
    if (opts.tunnel === 'megaflow' && k[F_TUN_DST] !== 0) out.push('tun_tos=0');
    if ((k[F_TUN_FLAGS]! & 0xf) !== 0) out.push(`tun_flags=${flagsText(TUN_FLAG_NAMES, v[F_TUN_FLAGS]! & 0xf, k[F_TUN_FLAGS]! & 0xf, 0xf)}`);
  }
  u64('metadata', F_METADATA_HI);
  if (k[F_IN_PORT] !== 0) out.push(`in_port=${OFPP_PRINT.get(v[F_IN_PORT]!) ?? v[F_IN_PORT]}`);
  const tciMask = k[F_VLAN_TCI]!;
  if (tciMask !== 0) {
    const tci = v[F_VLAN_TCI]!;
    const vidMask = tciMask & 0x0fff, pcpMask = tciMask & 0xe000, cfi = tciMask & 0x1000;
    if (cfi !== 0 && (tci & 0x1000) !== 0 && (vidMask === 0 || vidMask === 0x0fff) && (pcpMask === 0 || pcpMask === 0xe000)
      && (vidMask !== 0 || pcpMask !== 0)) {
      if (vidMask !== 0) out.push(`dl_vlan=${tci & 0x0fff}`);
      if (pcpMask !== 0) out.push(`dl_vlan_pcp=${tci >>> 13}`);
      if (opts.vlanTci1 === true) out.push('vlan_tci1=0x0000');
    } else if (tciMask === 0xffff) {
      out.push(`vlan_tci=0x${tci.toString(16).padStart(4, '0')}`);
    } else {
      out.push(`vlan_tci=0x${tci.toString(16).padStart(4, '0')}/0x${tciMask.toString(16).padStart(4, '0')}`);
    }
  }
  mac('dl_src', F_DL_SRC_HI);
  mac('dl_dst', F_DL_DST_HI);
  if (!skipType && k[F_DL_TYPE] !== 0) out.push(`dl_type=0x${dl.toString(16).padStart(4, '0')}`);
  const arp = dl === ETH_TYPE_ARP || dl === ETH_TYPE_RARP;
  if (dl === ETH_TYPE_IPV6) {
    ip6('ipv6_src', F_IPV6_SRC);
    ip6('ipv6_dst', F_IPV6_DST);
    const lm = k[F_IPV6_LABEL]!;
    if (lm !== 0) {
      const lv = v[F_IPV6_LABEL]!.toString(16).padStart(5, '0');
      // exact is the whole word (match_set_ipv6_label); a megaflow from set_field has the 20-bit mask
      out.push(lm === 0xffffffff ? `ipv6_label=0x${lv}` : `ipv6_label=0x${lv}/0x${lm.toString(16).padStart(5, '0')}`);
    }
  } else if (arp) {
    ip('arp_spa', F_NW_SRC);
    ip('arp_tpa', F_NW_DST);
  } else {
    ip('nw_src', F_NW_SRC);
    ip('nw_dst', F_NW_DST);
  }
  if (!skipProto && k[F_NW_PROTO] !== 0) out.push(arp ? `arp_op=${proto}` : `nw_proto=${proto}`);
  if (arp) {
    mac('arp_sha', F_ARP_SHA_HI);
    mac('arp_tha', F_ARP_THA_HI);
  }
  if ((k[F_NW_TOS]! & 0xfc) !== 0) out.push(`nw_tos=${v[F_NW_TOS]! & 0xfc}`);
  if ((k[F_NW_ECN]! & 0x03) !== 0) out.push(`nw_ecn=${v[F_NW_ECN]! & 0x03}`);
  if (k[F_NW_TTL] !== 0) out.push(`nw_ttl=${v[F_NW_TTL]}`);
  const fm = k[F_NW_FRAG]! & 3, fv = v[F_NW_FRAG]!;
  if (fm === 3) out.push(`nw_frag=${(fv & 1) !== 0 ? ((fv & 2) !== 0 ? 'later' : 'first') : ((fv & 2) !== 0 ? '<error>' : 'no')}`);
  else if (fm === 1) out.push(`nw_frag=${(fv & 1) !== 0 ? 'yes' : 'no'}`);
  else if (fm === 2) out.push(`nw_frag=${(fv & 2) !== 0 ? 'later' : 'not_later'}`);
  if ((dl === ETH_TYPE_IP && proto === IPPROTO_ICMP) || (dl === ETH_TYPE_IPV6 && proto === IPPROTO_ICMPV6)) {
    be16('icmp_type', F_TP_SRC);
    be16('icmp_code', F_TP_DST);
    if (dl === ETH_TYPE_IPV6) {
      ip6('nd_target', F_ND_TARGET);
      mac('nd_sll', F_ARP_SHA_HI);
      mac('nd_tll', F_ARP_THA_HI);
    }
  } else {
    be16('tp_src', F_TP_SRC);
    be16('tp_dst', F_TP_DST);
  }
  if ((dl === ETH_TYPE_IP || dl === ETH_TYPE_IPV6) && proto === IPPROTO_TCP && k[F_TCP_FLAGS] !== 0) {
    out.push(`tcp_flags=${flagsText(TCP_FLAG_NAMES, v[F_TCP_FLAGS]!, k[F_TCP_FLAGS]!, 0x0fff)}`);
  }
  return out.join(',');
}
