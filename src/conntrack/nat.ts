/**
 * NAT packet rewriting (conntrack layer, fast path).
 *
 * What: OVS's `nat_packet()`, `nat_inner_packet()` and `pat_packet()`
 * (lib/conntrack.c) with the `packet_set_*` helpers they call (lib/packets.c):
 * given a connection key of the *other* direction, rewrite the packet's
 * address (and ports, or ICMP echo id) in place so that it matches that key,
 * fixing every checksum incrementally (RFC 1624, wire/checksum.ts): the IPv4
 * header checksum, the TCP checksum, the UDP checksum when nonzero (a result
 * of 0 is sent as 0xffff; a zero UDP checksum over IPv4 stays 0), the ICMP
 * checksum for an echo id, the ICMPv6 checksum for an IPv6 address. For an
 * ICMP error (RELATED), the quoted inner header is rewritten with the
 * reversed key and the ICMP/ICMPv6 checksum is recomputed over the whole
 * message, as OVS does.
 * Key convention (see tuple.ts): for SNAT the packet's source becomes the
 * key's destination, for DNAT its destination becomes the key's source;
 * ports likewise (source ← key dst port, destination ← key src port).
 * Divergence: for an IPv6 ICMP error OVS adjusts the outer checksum as if the
 * ICMPv6 message were the inner protocol before recomputing it; here the
 * outer protocol is used. The final bytes are the same whenever the quoted
 * source address is rewritten too (every reply-direction error).
 * Cost: a handful of 16-bit checksum updates, or one pass over an ICMP error;
 * allocates nothing (one scratch key per module).
 * Neighbours: conntrack.ts decides when and with which key; linux.ts
 * (netfilter's NAT) calls `natPacket` on its own tuples, one port at a time
 * ('onePort', as nf_nat's l4 manip).
 */
import { be16, be32, setBe16, setBe32 } from '../wire/bytes.js';
import { checksumOf, csumUpdate16, csumUpdate32, ipv6PseudoSum, sum16, fold } from '../wire/checksum.js';
import {
  IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, KEY_WORDS, K_DST, K_DST_EP, K_SRC, K_SRC_EP, icmpIsInfo,
  reverseKeyInto, type TupleExtractor,
} from './tuple.js';

/** nat_action bits (conntrack.h `enum nat_action_e`). */
export const NAT_ACTION_SRC = 1, NAT_ACTION_SRC_PORT = 2, NAT_ACTION_DST = 4, NAT_ACTION_DST_PORT = 8;

/** OVS `nat_action_reverse`: SRC ↔ DST (port bits kept). */
export function natActionReverse(a: number): number {
  if (a & NAT_ACTION_SRC) return (a ^ NAT_ACTION_SRC) | NAT_ACTION_DST;
  if (a & NAT_ACTION_DST) return (a ^ NAT_ACTION_DST) | NAT_ACTION_SRC;
  return a;
}

/**
 * `packet_set_ipv4_addr`: the IPv4 address field at 'addrOff' (inside the
 * header at 'l3', whose L4 is [l4, l4End)) becomes 'addr'.
 */
export function setIpv4Addr(b: Uint8Array, l3: number, l4: number, l4End: number, addrOff: number, addr: number): void {
  const old = be32(b, addrOff);
  const proto = b[l3 + 9]!;
  const l4Size = l4End - l4;
  if (proto === IPPROTO_TCP && l4Size >= 20) {
    setBe16(b, l4 + 16, csumUpdate32(be16(b, l4 + 16), old, addr));
  } else if (proto === IPPROTO_UDP && l4Size >= 8) {
    const c = be16(b, l4 + 6);
    if (c !== 0) {
      const n = csumUpdate32(c, old, addr);
      setBe16(b, l4 + 6, n === 0 ? 0xffff : n);
    }
  }
  setBe16(b, l3 + 10, csumUpdate32(be16(b, l3 + 10), old, addr));
  setBe32(b, addrOff, addr);
}

/**
 * `packet_set_ipv6_addr` with checksum recalculation: the 16 bytes at
 * 'addrOff' become key words 'k[ko..ko+3]'; the L4 checksum of protocol
 * 'proto' at [l4, l4End) follows.
 */
export function setIpv6Addr(b: Uint8Array, proto: number, l4: number, l4End: number, addrOff: number, k: Uint32Array, ko: number): void {
  const l4Size = l4End - l4;
  let csOff = -1;
  let udp = false;
  if (proto === IPPROTO_TCP && l4Size >= 20) csOff = l4 + 16;
  else if (proto === IPPROTO_UDP && l4Size >= 8) { csOff = l4 + 6; udp = true; }
  else if (proto === IPPROTO_ICMPV6 && l4Size >= 4) csOff = l4 + 2;
  if (csOff >= 0 && !(udp && be16(b, csOff) === 0)) {
    let c = be16(b, csOff);
    for (let i = 0; i < 4; i++) c = csumUpdate32(c, be32(b, addrOff + 4 * i), k[ko + i]!);
    if (udp && c === 0) c = 0xffff;
    setBe16(b, csOff, c);
  }
  for (let i = 0; i < 4; i++) setBe32(b, addrOff + 4 * i, k[ko + i]!);
}

/** `packet_set_port` for both ports of a TCP/UDP header at 'l4' (checksum at 'csOff', -1 for none; 'udp' maps 0 to 0xffff); -1 keeps a port. */
function setPorts(b: Uint8Array, l4: number, sp: number, dp: number, csOff: number, udp: boolean): void {
  const os = be16(b, l4), od = be16(b, l4 + 2);
  if (sp < 0) sp = os;
  if (dp < 0) dp = od;
  if (csOff >= 0) {
    let c = be16(b, csOff);
    if (os !== sp) c = csumUpdate16(c, os, sp);
    if (od !== dp) c = csumUpdate16(c, od, dp);
    if (udp && c === 0) c = 0xffff;
    setBe16(b, csOff, c);
  }
  setBe16(b, l4, sp);
  setBe16(b, l4 + 2, dp);
}

/**
 * `pat_packet`: the L4 header at [l4, end) of protocol 'proto' gets the
 * ports of key 'k' at 'ko' (source ← key dst, destination ← key src); an ICMP
 * query gets the key's id. 'only' NAT_ACTION_SRC or NAT_ACTION_DST sets that
 * one port and keeps the other (Linux's l4proto manip_pkt); 0 sets both
 * (OVS). A checksum lying beyond 'end' (a quoted, cut header) is left alone.
 */
export function patPacket(b: Uint8Array, l4: number, end: number, proto: number, k: Uint32Array, ko: number, only = 0): void {
  const size = end - l4;
  if (proto === IPPROTO_TCP || proto === IPPROTO_UDP) {
    if (size < 4) return;
    const sp = only === NAT_ACTION_DST ? -1 : k[ko + K_DST_EP]! >>> 16;
    const dp = only === NAT_ACTION_SRC ? -1 : k[ko + K_SRC_EP]! >>> 16;
    if (proto === IPPROTO_TCP) setPorts(b, l4, sp, dp, size >= 18 ? l4 + 16 : -1, false);
    else setPorts(b, l4, sp, dp, size >= 8 && be16(b, l4 + 6) !== 0 ? l4 + 6 : -1, true);
  } else if (proto === IPPROTO_ICMP) {
    if (size < 8 || !icmpIsInfo(b[l4]!)) return;
    const id = k[ko + K_SRC_EP]! >>> 16, old = be16(b, l4 + 4);
    if (id !== old) {
      setBe16(b, l4 + 4, id);
      setBe16(b, l4 + 2, csumUpdate16(be16(b, l4 + 2), old, id));
    }
  }
}

/** Address part of NAT on the IP header at 'l3' (L4 [l4, l4End), protocol 'proto' for the checksum): `nat_packet_ipv4/6`. */
export function natAddresses(b: Uint8Array, v6: boolean, l3: number, l4: number, l4End: number, proto: number,
  k: Uint32Array, ko: number, action: number): void {
  if (action & NAT_ACTION_SRC) {
    if (v6) setIpv6Addr(b, proto, l4, l4End, l3 + 8, k, ko + K_DST);
    else setIpv4Addr(b, l3, l4, l4End, l3 + 12, k[ko + K_DST]!);
  } else if (action & NAT_ACTION_DST) {
    if (v6) setIpv6Addr(b, proto, l4, l4End, l3 + 24, k, ko + K_SRC);
    else setIpv4Addr(b, l3, l4, l4End, l3 + 16, k[ko + K_SRC]!);
  }
}

const innerKey = new Uint32Array(KEY_WORDS);

/**
 * OVS `nat_packet` minus the ct_state bits: rewrite the packet 'ex' last
 * extracted so it matches key 'k' at 'ko' (the other direction's key) under
 * 'action' (already reversed for a reply). For an ICMP error ('ex.icmpRelated')
 * the outer address is rewritten, then the quoted header with the reversed key
 * and the reversed action, then the ICMP checksum is recomputed.
 * 'onePort': only the port of the manip's side changes, as Linux's nf_nat
 * does (OVS's pat_packet rewrites both ports from the key).
 */
export function natPacket(b: Uint8Array, ex: TupleExtractor, k: Uint32Array, ko: number, action: number, onePort = false): void {
  natAddresses(b, ex.v6, ex.l3, ex.l4, ex.l4End, ex.proto, k, ko, action);
  const side = action & (NAT_ACTION_SRC | NAT_ACTION_DST);
  if (side === 0) return;
  if (!ex.icmpRelated) {
    patPacket(b, ex.l4, ex.l4End, keyProtoOf(k, ko), k, ko, onePort ? side : 0);
    return;
  }
  const inner = natActionReverse(action);
  reverseKeyInto(k, ko, innerKey, 0);
  const iproto = keyProtoOf(k, ko);
  const tail = ex.l4End;
  patPacket(b, ex.innerL4, tail, iproto, innerKey, 0, onePort ? inner & (NAT_ACTION_SRC | NAT_ACTION_DST) : 0);
  natAddresses(b, ex.v6, ex.innerL3, ex.innerL4, tail, iproto, innerKey, 0, inner);
  if (ex.v6) {
    setBe16(b, ex.l4 + 2, 0);
    const acc = ipv6PseudoSum(b, ex.l3 + 8, ex.l3 + 24, IPPROTO_ICMPV6, tail - ex.l4);
    setBe16(b, ex.l4 + 2, fold(sum16(b, ex.l4, tail, acc)));
  } else {
    setBe16(b, ex.l4 + 2, checksumOf(b, ex.l4, tail, ex.l4 + 2));
  }
}

function keyProtoOf(k: Uint32Array, ko: number): number {
  return k[ko + 10]! >>> 24;
}
