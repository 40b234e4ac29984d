/**
 * Connection keys: extraction from wire bytes, hashing, reversal
 * (conntrack layer, fast path).
 *
 * What: `TupleExtractor.extract()` is OVS's `conn_key_extract()`
 * (lib/conntrack.c): it validates the L3 and L4 headers of one packet the
 * way OVS's userspace conntrack does and writes the connection key — the
 * 5-tuple plus zone — into a reusable `Uint32Array` of `KEY_WORDS` words.
 * For an ICMP/ICMPv6 error it extracts the quoted (inner) header instead,
 * reversed, and sets `icmpRelated`, exactly as `extract_l4_icmp()` does.
 * Key layout (one layout for IPv4 and IPv6, so one compare loop):
 *   words 0..3  source address (IPv4: word 0, words 1..3 zero)
 *   words 4..7  destination address
 *   word 8      source endpoint: port << 16, or icmp id << 16 | type << 8 | code
 *   word 9      destination endpoint (ICMP: the same id, the reply type)
 *   word 10     zone | (IPv6 ? 1 << 16 : 0) | nw_proto << 24
 * Two keys are equal iff all words are equal: OVS's `conn_key_cmp()`.
 * What OVS rejects (→ the packet is +trk+inv): a truncated or inconsistent
 * IPv4/IPv6 header, a bad IPv4 header checksum, a later IPv4 fragment, any
 * IPv6 fragment header, a bad TCP/UDP/ICMP/ICMPv6 checksum (UDP over IPv4
 * with checksum 0 is accepted), a TCP data offset outside [20, size], port 0,
 * an ICMP info message with a nonzero code, an ICMP type it does not track
 * (ICMPv6 NDP and MLD included), an ICMP error whose quoted source is not
 * the outer destination or whose quote is too short (IPv4: 8 bytes of L4;
 * IPv6: a whole TCP header). Other IP protocols are keyed by addresses and
 * protocol only (ports zero); SCTP is treated as such (OVS ≥ 3.2 parses its
 * ports; 3.1 does not).
 * Offsets found on the way (`l4`, `l4End`, `innerL3`, `innerL4`) are kept for
 * the NAT rewrite (nat.ts), which must not parse again.
 * Cost: one pass over the headers plus one checksum pass over L4 (as OVS
 * with no checksum offload); allocates nothing.
 * Neighbours: conntrack.ts (the table) calls it per packet; linux.ts
 * (netfilter's conntrack) reuses it unchanged — the same tuple, zone 0.
 */
import { be16, be32 } from '../wire/bytes.js';
import { fold, ipv4PseudoSum, ipv6PseudoSum, sum16 } from '../wire/checksum.js';
import { hashFinishI32, mhashAddI32 } from '../flow/hash.js';

export const KEY_WORDS = 11;
export const K_SRC = 0;
export const K_DST = 4;
export const K_SRC_EP = 8;
export const K_DST_EP = 9;
export const K_META = 10;

export const ETH_TYPE_IP = 0x0800;
export const ETH_TYPE_IPV6 = 0x86dd;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;

const IPPROTO_HOPOPTS = 0, IPPROTO_ROUTING = 43, IPPROTO_FRAGMENT = 44, IPPROTO_AH = 51, IPPROTO_DSTOPTS = 60;

/** OVS's `reverse_icmp_type()`; -1 for a type that is not an info message. */
export function reverseIcmpType(t: number): number {
  switch (t) {
    case 8: return 0;
    case 0: return 8;
    case 13: return 14;
    case 14: return 13;
    case 15: return 16;
    case 16: return 15;
    default: return -1;
  }
}

/** OVS's `reverse_icmp6_type()`; -1 unless echo request/reply. */
export function reverseIcmp6Type(t: number): number {
  return t === 128 ? 129 : t === 129 ? 128 : -1;
}

/** True for the ICMPv4 query types that form their own connection (echo, timestamp, info). */
export function icmpIsInfo(t: number): boolean {
  return reverseIcmpType(t) >= 0;
}

/** The zone in key word 10. */
export function keyZone(meta: number): number { return meta & 0xffff; }
/** True when the key is IPv6. */
export function keyIsV6(meta: number): boolean { return (meta & 0x10000) !== 0; }
/** The IP protocol in key word 10. */
export function keyProto(meta: number): number { return meta >>> 24; }
/** The meta word for 'zone', 'v6', 'proto'. */
export function keyMeta(zone: number, v6: boolean, proto: number): number {
  return ((zone & 0xffff) | (v6 ? 0x10000 : 0) | ((proto & 0xff) << 24)) >>> 0;
}

/** Copy the key at 'so' in 's' to 'do_' in 'd', swapping source and destination (OVS `conn_key_reverse`). */
export function reverseKeyInto(s: Uint32Array, so: number, d: Uint32Array, do_: number): void {
  const a0 = s[so]!, a1 = s[so + 1]!, a2 = s[so + 2]!, a3 = s[so + 3]!;
  const b0 = s[so + 4]!, b1 = s[so + 5]!, b2 = s[so + 6]!, b3 = s[so + 7]!;
  const e0 = s[so + K_SRC_EP]!, e1 = s[so + K_DST_EP]!, m = s[so + K_META]!;
  d[do_] = b0; d[do_ + 1] = b1; d[do_ + 2] = b2; d[do_ + 3] = b3;
  d[do_ + 4] = a0; d[do_ + 5] = a1; d[do_ + 6] = a2; d[do_ + 7] = a3;
  d[do_ + K_SRC_EP] = e1; d[do_ + K_DST_EP] = e0; d[do_ + K_META] = m;
}

/** Copy one key. */
export function copyKey(s: Uint32Array, so: number, d: Uint32Array, do_: number): void {
  for (let i = 0; i < KEY_WORDS; i++) d[do_ + i] = s[so + i]!;
}

/** True when the keys at 'ao' in 'a' and 'bo' in 'b' are equal. */
export function keyEquals(a: Uint32Array, ao: number, b: Uint32Array, bo: number): boolean {
  for (let i = 0; i < KEY_WORDS; i++) if (a[ao + i] !== b[bo + i]) return false;
  return true;
}

/** 32-bit hash of the key at 'o' in 'k' with 'basis': OVS's mhash steps (flow/hash.ts), not symmetric. */
/** TCP/UDP ports into the key's endpoint words; a zero port is no connection. */
function portsInto(k: Uint32Array, b: Uint8Array, l4: number): boolean {
  const sp = be16(b, l4), dp = be16(b, l4 + 2);
  k[K_SRC_EP] = (sp << 16) >>> 0;
  k[K_DST_EP] = (dp << 16) >>> 0;
  return sp !== 0 && dp !== 0;
}

/** ICMP echo-style id and type into the endpoint words; the reply side carries the reverse type. */
function echoInto(k: Uint32Array, b: Uint8Array, l4: number, type: number, rev: number): boolean {
  const id = be16(b, l4 + 4);
  k[K_SRC_EP] = ((id << 16) | (type << 8)) >>> 0;
  k[K_DST_EP] = ((id << 16) | (rev << 8)) >>> 0;
  return true;
}

export function hashKey(k: Uint32Array, o: number, basis: number): number {
  let h = basis | 0;
  for (let i = 0; i < KEY_WORDS; i++) h = mhashAddI32(h, k[o + i]!);
  return hashFinishI32(h, 0) >>> 0;
}

/**
 * Reusable parser of connection keys (one per datapath or netfilter
 * instance). After a successful `extract()`, `key` holds the key and the
 * offsets below describe the packet; after a failed one they are undefined.
 */
export class TupleExtractor {
  /** The extracted key (KEY_WORDS words). */
  readonly key = new Uint32Array(KEY_WORDS);
  /** True when the packet is an ICMP/ICMPv6 error and `key` is its quoted tuple, reversed. */
  icmpRelated = false;
  /** Offsets: outer L3, outer L4, end of the IP packet (padding excluded). */
  l3 = 0;
  l4 = 0;
  l4End = 0;
  /** Outer IP protocol (after IPv6 extension headers). */
  proto = 0;
  v6 = false;
  /** For an ICMP error: offsets of the quoted IP header and its L4 header. */
  innerL3 = -1;
  innerL4 = -1;
  // results of the last l3v4/l3v6 call (protocol, L4 offset)
  private scratchProto = 0;
  private scratchL4 = 0;

  /**
   * Validate the packet whose L3 header starts at 'l3' in 'b' (frame ends at
   * 'end'; 'dlType' 0x0800 or 0x86dd) and write its key for 'zone'. Returns
   * false when OVS would mark it invalid (see the module comment). Never throws.
   */
  extract(b: Uint8Array, l3: number, end: number, dlType: number, zone: number): boolean {
    this.icmpRelated = false;
    this.innerL3 = -1;
    this.innerL4 = -1;
    this.l3 = l3;
    const k = this.key;
    if (end > b.length) end = b.length;
    if (l3 < 0 || l3 > end) return false;
    let ok: boolean;
    if (dlType === ETH_TYPE_IP) {
      this.v6 = false;
      ok = this.l3v4(b, l3, end, true);
      if (!ok) return false;
      this.l4End = l3 + be16(b, l3 + 2);
    } else if (dlType === ETH_TYPE_IPV6) {
      this.v6 = true;
      if (end - l3 < 40 || (b[l3]! >>> 4) !== 6) return false;
      const l4End = l3 + 40 + be16(b, l3 + 4);
      if (l4End > end) return false;
      this.l4End = l4End;
      ok = this.l3v6(b, l3, l4End);
      if (!ok) return false;
    } else {
      return false;
    }
    this.l4 = this.scratchL4;
    this.proto = this.scratchProto;
    k[K_META] = keyMeta(zone, this.v6, this.proto);
    return this.l4Extract(b, this.l4, this.l4End, true, 0);
  }

  /** IPv4 header at 'l3'; with 'outer', also total length, version and checksum (OVS `extract_l3_ipv4` + miniflow's sanity check). */
  private l3v4(b: Uint8Array, l3: number, end: number, outer: boolean): boolean {
    const size = end - l3;
    if (size < 20) return false;
    const ihl = (b[l3]! & 0x0f) * 4;
    if (ihl < 20 || size < ihl) return false;
    if (outer) {
      if ((b[l3]! >>> 4) !== 4) return false;
      const tot = be16(b, l3 + 2);
      if (tot < ihl || tot > size) return false;
      if (fold(sum16(b, l3, l3 + ihl)) !== 0) return false;
    }
    if ((be16(b, l3 + 6) & 0x1fff) !== 0) return false; // a later fragment
    const k = this.key;
    k[K_SRC] = be32(b, l3 + 12); k[1] = 0; k[2] = 0; k[3] = 0;
    k[K_DST] = be32(b, l3 + 16); k[5] = 0; k[6] = 0; k[7] = 0;
    this.scratchProto = b[l3 + 9]!;
    this.scratchL4 = l3 + ihl;
    return true;
  }

  /** IPv6 header at 'l3', extension headers walked up to 'end' (OVS `extract_l3_ipv6`); fragments are refused. */
  private l3v6(b: Uint8Array, l3: number, end: number): boolean {
    if (end - l3 < 40) return false;
    let nh = b[l3 + 6]!;
    let p = l3 + 40;
    for (;;) {
      if (nh === IPPROTO_HOPOPTS || nh === IPPROTO_ROUTING || nh === IPPROTO_DSTOPTS) {
        if (end - p < 8) return false;
        const len = (b[p + 1]! + 1) * 8;
        if (end - p < len) return false;
        nh = b[p]!;
        p += len;
      } else if (nh === IPPROTO_AH) {
        if (end - p < 8) return false;
        const len = (b[p + 1]! + 2) * 4;
        if (end - p < len) return false;
        nh = b[p]!;
        p += len;
      } else if (nh === IPPROTO_FRAGMENT) {
        return false;
      } else {
        break;
      }
    }
    const k = this.key;
    for (let i = 0; i < 4; i++) {
      k[K_SRC + i] = be32(b, l3 + 8 + 4 * i);
      k[K_DST + i] = be32(b, l3 + 24 + 4 * i);
    }
    this.scratchProto = nh;
    this.scratchL4 = p;
    return true;
  }

  /** Pseudo-header sum of the current (outer) packet for its L4 bytes [l4, l4End). */
  private pseudo(b: Uint8Array, proto: number): number {
    const len = this.l4End - this.l4;
    if (this.v6) return ipv6PseudoSum(b, this.l3 + 8, this.l3 + 24, proto, len);
    return ipv4PseudoSum(be32(b, this.l3 + 12), be32(b, this.l3 + 16), proto, len);
  }

  /**
   * L4 part of the key (OVS `extract_l4`). 'outer' false is a header quoted
   * in an ICMP error: no checksum, no recursion, and 'chkLen' (0 = the
   * protocol's header length) is the minimum length.
   */
  private l4Extract(b: Uint8Array, l4: number, end: number, outer: boolean, chkLen: number): boolean {
    const k = this.key;
    const meta = k[K_META]!;
    const proto = keyProto(meta);
    const v6 = keyIsV6(meta);
    const size = end - l4;
    if (proto === IPPROTO_TCP) {
      if (outer) {
        if (size < 20) return false;
        const hl = (b[l4 + 12]! >>> 4) * 4;
        if (hl < 20 || hl > size) return false;
        if (fold(sum16(b, l4, end, this.pseudo(b, IPPROTO_TCP))) !== 0) return false;
      } else if (size < (chkLen || 20)) {
        return false;
      }
      return portsInto(k, b, l4);
    }
    if (proto === IPPROTO_UDP) {
      if (outer) {
        if (size < 8) return false;
        const ul = be16(b, l4 + 4);
        if (ul < 8 || ul > size) return false;
        if (!(be16(b, l4 + 6) === 0 && !v6) && fold(sum16(b, l4, end, this.pseudo(b, IPPROTO_UDP))) !== 0) return false;
      } else if (size < (chkLen || 8)) {
        return false;
      }
      return portsInto(k, b, l4);
    }
    if (proto === IPPROTO_ICMP && !v6) {
      if (outer && fold(sum16(b, l4, end)) !== 0) return false;
      if (size < (chkLen || 8)) return false;
      const type = b[l4]!, code = b[l4 + 1]!;
      const rev = reverseIcmpType(type);
      if (rev >= 0) {
        return code === 0 && echoInto(k, b, l4, type, rev);
      }
      if (type === 3 || type === 11 || type === 12 || type === 4 || type === 5) {
        if (!outer) return false;
        const outerDst = k[K_DST]!;
        const il3 = l4 + 8;
        if (!this.l3v4(b, il3, end, false)) return false;
        if (k[K_SRC] !== outerDst) return false;
        return this.relatedInner(b, il3, end, meta, false, 8);
      }
      return false;
    }
    if (proto === IPPROTO_ICMPV6 && v6) {
      if (outer && fold(sum16(b, l4, end, this.pseudo(b, IPPROTO_ICMPV6))) !== 0) return false;
      if (size < 8) return false;
      const type = b[l4]!, code = b[l4 + 1]!;
      const rev = reverseIcmp6Type(type);
      if (rev >= 0) {
        return code === 0 && echoInto(k, b, l4, type, rev);
      }
      if (type >= 1 && type <= 4) {
        if (!outer) return false;
        const d0 = k[K_DST]!, d1 = k[K_DST + 1]!, d2 = k[K_DST + 2]!, d3 = k[K_DST + 3]!;
        const il3 = l4 + 8;
        if (!this.l3v6(b, il3, end)) return false;
        if (k[K_SRC] !== d0 || k[K_SRC + 1] !== d1 || k[K_SRC + 2] !== d2 || k[K_SRC + 3] !== d3) return false;
        return this.relatedInner(b, il3, end, meta, true, 0);
      }
      return false;
    }
    k[K_SRC_EP] = 0;
    k[K_DST_EP] = 0;
    return true;
  }

  /** The key of the connection an ICMP error quotes (inner header at il3), reversed into the key. */
  private relatedInner(b: Uint8Array, il3: number, end: number, meta: number, v6: boolean, chkLen: number): boolean {
    const k = this.key;
    k[K_META] = keyMeta(keyZone(meta), v6, this.scratchProto);
    this.innerL3 = il3;
    this.innerL4 = this.scratchL4;
    if (!this.l4Extract(b, this.scratchL4, end, false, chkLen)) return false;
    reverseKeyInto(k, 0, k, 0);
    this.icmpRelated = true;
    return true;
  }
}
