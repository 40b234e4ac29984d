/**
 * The hash functions Open vSwitch's userspace datapath applies to packets (datapath, fast path).
 *
 * What: OVS 3.1's generic (non-SSE4.2, non-ARM-CRC) `lib/hash.h` primitives (Murmur3-style
 * `mhash_*`, as `hash_add`/`hash_finish`), `lib/jhash.c`'s Bob Jenkins hash, and on top of them
 * the packet hashes that decide observable bytes and choices (each one checked against a live
 * OVS 3.1.0 in test/datapath/tunnel-hash-ovs.test.ts, except rssHashRecirc, which only feeds
 * the EMC and is invisible):
 *  - `rssHash5Tuple`  = `miniflow_hash_5tuple(mf, 0)` / `flow_hash_5tuple(flow, 0)` (lib/flow.c):
 *    the "RSS hash" dpif-netdev gives a packet whose netdev supplied none (netdev-dummy never
 *    does). `rssHashOfPacket` adds the one quirk of the copy miniflow_extract() computes first
 *    for TCP/UDP (`dp_packet_update_rss_hash_ipv6_tcp_udp`, see there).
 *  - `rssHashRecirc`  = the recirculation-depth mixing of `dpif_netdev_packet_get_rss_hash`;
 *    it only feeds the EMC/SMC key hash. The hash STORED in the packet (the one tnl_push reads)
 *    is never mixed.
 *  - `tnlUdpSrcPort`  = `netdev_tnl_get_src_port` (lib/netdev-native-tnl.h): the outer UDP
 *    source port of VXLAN/Geneve/GTP-U/… pushed by tnl_push.
 *  - `symmetricL4Hash` = what `hash(sym_l4(B))` writes into dp_hash. NB: in dpif-netdev that is
 *    `flow_hash_symmetric_l3l4(flow, B, false)` (lib/odp-execute.c, OVS_HASH_ALG_SYM_L4), NOT
 *    `flow_hash_symmetric_l4`. `dpHashL4` is `hash(l4(B))` (a group with
 *    selection_method=dp_hash): `hash_int(rss, B)`.
 *    A default select group (no selection_method, ≤ 256 hash slots) emits
 *    `hash(sym_l4(0)),recirc(N)`; after recirculation xlate picks
 *    `hash_map[(dp_hash + i) & hash_mask]`, the first live bucket for i = 0, 1, … (ofproto-dpif.c
 *    group_setup_dp_hash_table: n_hash = max(16, pow2ceil(ceil(total_weight / min_weight))),
 *    slots dealt to buckets by the Webster method; with equal weights slot i → bucket i % n).
 *  - `flowHashSymmetricL4` = `flow_hash_symmetric_l4` (jhash): the slow-path default select
 *    method (`pick_default_select_group`, when the dp_hash table cannot be built) and
 *    multipath/bundle `symmetric_l4`; the bucket is the live one maximising
 *    `(hash_int(bucket_id, hash) & 0xffff) * weight` (ties → the later bucket).
 *
 * Why this file is byte-exact: OVS hashes `struct flow`/miniflow MEMORY, where fields are
 * big-endian, as host (x86, little-endian) uint32s. sdnemu's flow key (flow/key.ts) holds the
 * natural numeric values, so every address/port word is byte-swapped before it is mixed
 * (`bswap32`, `ports32`). Verified against a live OVS 3.1.0 (Debian amd64, built without
 * -msse4.2, so hash.h takes the mhash branch, not the CRC32 one): tunnel-hash-ovs.test.ts checks
 * the outer UDP source port of 150 frames OVS really encapsulated and the buckets its select
 * groups chose; hash.test.ts checks the primitives against a C program compiled from OVS's
 * formulas. An SSE4.2 build of OVS would give different values everywhere.
 *
 * Invariants: every function returns a uint32 (>>> 0) and reads only the key words it names;
 * the key is not modified. Only the outermost VLAN tag is in sdnemu's key, so for QinQ frames
 * the symmetric hashes miss OVS's XOR with the inner tag's VID (vlans[1]).
 * Cost: tens of integer ops (Math.imul); allocates nothing (one module scratch Uint32Array for
 * jhash; not reentrant, the datapath is single-threaded).
 * Neighbours: flow/key.ts (the key layout, F_*); datapath tnl_push/tnl_pop (the facts below);
 * ofproto select groups (dp_hash → bucket).
 *
 * ---------------------------------------------------------------------------------------------
 * Native tunnel outer headers on OVS 3.1's userspace datapath (lib/netdev-native-tnl.c,
 * ofproto/tunnel.c, lib/netdev.c) — what tnl_push writes beyond the `header(...)` text, and
 * what tnl_pop checks and fills. Items marked [seen] are asserted by tunnel-hash-ovs.test.ts
 * (tnl_push: the whole outer frame byte for byte; tnl_pop: delivered or dropped, and the
 * `tunnel(...)` key of the recirculated megaflow); the rest is read from the source.
 *
 * tnl_push (netdev_tnl_push_udp_header after netdev_*_build_header at translation time):
 *  1. The header template is built once per megaflow, zero-filled (eth_build_header memsets it),
 *     then prepended to the inner frame unchanged except for the fields below. The inner frame is
 *     not modified (no padding removed, nothing recomputed).
 *  2. Ethernet: dst = neighbour MAC, src = bridge MAC, type 0x0800 (0x86dd for IPv6) [seen].
 *  3. Outer IPv4: version/IHL 0x45, no options; TOS = the header text's tos = configured tos
 *     (options:tos, default 0; "inherit" copies the inner DSCP) OR'ed with the inner ECN bits
 *     (inner CE (3) → ECT(0) (2) outside; ECT(0)/ECT(1) copied; non-IP inner → 0) [seen];
 *     IP ID = 0 ALWAYS (never incremented) [seen]; frag_off = 0x4000 (DF) when
 *     options:df_default is true (the default), else 0 [seen]; TTL = options:ttl (default 64;
 *     "inherit" copies the inner TTL) [seen]; protocol 17; src = the bridge's address on the
 *     route to the remote, dst = remote_ip.
 *     Total length = 20 + 8 + tunnel header + inner frame length (the whole inner Ethernet frame,
 *     as received) [seen]. Header checksum: computed over the template with total length 0,
 *     then patched incrementally (RFC 1624) for the total length — equal to a full recompute of
 *     the final header [seen].
 *  4. Outer IPv6 (remote is IPv6): version 6, traffic class = tos as above, flow label 0,
 *     hop limit = ttl, next header 17, payload length = 8 + tunnel header + inner length.
 *  5. UDP: src = tnlUdpSrcPort(packet RSS hash) [seen]; dst = options:dst_port (4789 VXLAN,
 *     6081 Geneve) [seen]; length = 8 + tunnel header + inner length [seen]; checksum 0 unless
 *     options:csum=true (FLOW_TNL_F_CSUM) or the outer is IPv6 — then the template holds 0xffff
 *     and the full checksum over the IPv4/IPv6 pseudo-header + UDP header + payload is written,
 *     0 → 0xffff (netdev_tnl_calc_udp_csum) [seen for IPv4 csum=true].
 *  6. VXLAN: 8 bytes: flags word 0x08000000 (I bit only, all reserved bits 0), VNI << 8 with
 *     the low reserved byte 0 [seen]. (VXLAN-GPE ports, exts=gpe, set the P bit 0x04 and a
 *     next-protocol byte; not covered here.)
 *  7. Geneve: byte 0 = ver 0 | opt_len (options length / 4, 0 without tun_metadata), byte 1 =
 *     O bit (0x80) iff tun_flags has +oam, C bit (0x40) iff a critical option is present, 6
 *     reserved bits 0; protocol 0x6558; VNI << 8, reserved byte 0; then the options (TLVs from
 *     tun_metadata) [seen: option-less, O=C=0].
 *  8. The packet keeps its RSS hash (netdev_push_header resets only the metadata), so a second
 *     tnl_push of the same packet would reuse it.
 *
 * tnl_pop (netdev_vxlan_pop_header / netdev_geneve_pop_header, via udp_extract_tnl_md and
 * netdev_tnl_ip_extract_tnl_md). Translation only emits tnl_pop for an untagged (vlan_tci=0)
 * frame to the bridge's MAC and IP, UDP to a listening tunnel port, nw_frag=no. The pop then
 * drops the packet (datapath drop, a rate-limited log line) when [all seen, except where noted]:
 *  - outer IPv4 header checksum is bad (always verified: netdev-dummy marks nothing valid);
 *  - IPv4 total length > the bytes present from the IP header on; IPv4 options present
 *    (IHL > 5: "ip options not supported on tunnel packets"); IP version not 4/6 (source);
 *  - UDP checksum non-zero and wrong (a zero checksum is accepted; over IPv6 too, per the
 *    source). The UDP length field is NOT checked (a UDP length of 9999 is accepted);
 *  - VXLAN: fewer than 16 bytes from the UDP header on (source); flags word ≠ 0x08000000
 *    exactly (I bit set, every other flag/reserved bit 0; a GPE-bit packet is decoded as
 *    VXLAN-GPE instead, source); low VNI-word byte (reserved) ≠ 0;
 *  - Geneve: fewer than 16 bytes from the UDP header on, 8 + opt_len*4 beyond the packet
 *    (source); version ≠ 0; protocol ≠ 0x6558. The C bit and critical options are NOT
 *    checked at pop (unknown critical options are the translation's business; source).
 * Tunnel metadata filled (everything else zeroed, pkt_metadata_init_tnl):
 *  - tun_src/tun_dst (or tun_ipv6_src/dst) = outer addresses [seen];
 *  - tun_tos = the whole outer TOS / traffic-class byte, DSCP and ECN [seen: 0x20, 0x3];
 *    tun_ttl = outer TTL / hop limit (source: the megaflow wildcards it);
 *  - tun_tp_src/tun_tp_dst = outer UDP ports (source: always wildcarded in megaflows);
 *  - tun_id = VNI (24 bits) [seen]; tun_flags: +key always [seen]; +csum iff the UDP checksum
 *    was non-zero (and valid) [seen]; +oam iff Geneve O bit (source). NEVER +df on the userspace
 *    datapath, whatever the outer DF bit [seen]. dpctl/dump-flows prints the recirculated
 *    megaflow as `tunnel(tun_id=0x101,src=1.1.2.92,dst=1.1.2.88,flags(-df+csum+key))`, with
 *    `tos=0x20,` only when non-zero and `geneve(),` for Geneve.
 *  - Geneve: the options are copied raw into tun_metadata (length = opt_len * 4), UDPIF flag.
 *  - The inner frame is what follows the tunnel header; its RSS hash is invalidated
 *    (dp_packet_reset_offload), so after the recirculation it gets rssHashOfPacket(inner key)
 *    afresh [seen: decap on one VXLAN port, re-encap on another → the new outer source port
 *    is tnlUdpSrcPort(rssHash5Tuple(inner))]; depth 1 is mixed only into the EMC key hash.
 *  - Translation afterwards (tnl_process_ecn): outer ECN CE with a non-ECT inner IP packet →
 *    dropped (megaflow `…ipv4(tos=0/0x3,…), actions:drop`); outer CE with ECT inner → inner ECN
 *    set to CE (`set(ipv4(tos=0x3/0x3))`) [both seen]. The inner frame is otherwise delivered
 *    byte for byte [seen].
 */
import {
  F_DL_DST_HI, F_DL_DST_LO, F_DL_SRC_HI, F_DL_SRC_LO, F_DL_TYPE, F_IPV6_DST, F_IPV6_SRC, F_NW_DST, F_NW_FRAG,
  F_NW_PROTO, F_NW_SRC, F_TP_DST, F_TP_SRC, F_VLAN_TCI,
} from './key.js';

// ---- lib/hash.h primitives (mhash branch) -------------------------------------------------

/** `hash_rot`: rotate 'x' left by 'k' bits (0 < k < 32). */
export function hashRot(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/*
 * Two forms of each primitive: the exported uint32 one (`mhashAdd`, C's uint32_t value) and an
 * int32 one with the same bits (`mhashAddI32`). The hot path (the datapath's RSS hash, EMC and
 * megaflow hashing) uses the int32 forms: V8 returns a uint32 above 2^31 from a call it did not
 * inline as a freshly allocated HeapNumber, an int32 never.
 */

/** `mhash_add__` as int32: mix 'data' into 'hash' without the final rotate; a zero 'data' leaves 'hash' unchanged. */
function mhashAddRaw(hash: number, data: number): number {
  if ((data | 0) === 0) return hash | 0;
  let d = Math.imul(data, 0xcc9e2d51);
  d = (d << 15) | (d >>> 17);
  d = Math.imul(d, 0x1b873593);
  return hash ^ d;
}

/** `mhash_add` as int32 (same bits as mhashAdd). */
export function mhashAddI32(hash: number, data: number): number {
  let h = mhashAddRaw(hash, data);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** `hash_finish` as int32 (same bits as hashFinish): Murmur3's avalanche of 'hash' ^ 'final'. */
export function hashFinishI32(hash: number, final: number): number {
  let h = hash ^ final;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** `mhash_add__`: mix 'data' into 'hash' without the final rotate; a zero 'data' leaves 'hash' unchanged. */
export function mhashAdd__(hash: number, data: number): number {
  return mhashAddRaw(hash, data) >>> 0;
}

/** `mhash_add`: one Murmur3 round of 'data' into 'hash'. */
export function mhashAdd(hash: number, data: number): number {
  return mhashAddI32(hash, data) >>> 0;
}

/** `mhash_finish`: Murmur3's avalanche of 'hash'. */
export function mhashFinish(hash: number): number {
  return hashFinishI32(hash, 0) >>> 0;
}

/** `hash_add` (= mhash_add on OVS's generic build). */
export function hashAdd(hash: number, data: number): number {
  return mhashAdd(hash, data);
}

/** `hash_add64` of the 64-bit value whose low half is 'lo' and high half 'hi' (low half first). */
export function hashAdd64(hash: number, lo: number, hi: number): number {
  return mhashAdd(mhashAdd(hash, lo), hi);
}

/** `hash_finish`: mhash_finish('hash' ^ 'final'). */
export function hashFinish(hash: number, final: number): number {
  return hashFinishI32(hash, final) >>> 0;
}

/** `hash_2words` ('x' first, then 'y'). */
export function hash2Words(x: number, y: number): number {
  return hashFinish(hashAdd(hashAdd(x, 0), y), 8);
}

/** `hash_int`: hash of 'x' with 'basis' (= hash_2words(x, basis)). */
export function hashInt(x: number, basis: number): number {
  return hash2Words(x, basis);
}

/**
 * `hash_bytes` over 'b' read as little-endian 32-bit words (get_unaligned_u32 on x86), the
 * tail zero-padded, from 'basis' (`hash_string(s, 0)` is this over the UTF-8 bytes).
 */
export function hashBytes(b: Uint8Array, basis: number): number {
  let h = basis >>> 0, i = 0;
  for (; i + 4 <= b.length; i += 4) h = mhashAdd(h, (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> 0);
  if (i < b.length) {
    let t = 0;
    for (let j = 0; i + j < b.length; j++) t |= b[i + j]! << (8 * j);
    h = mhashAdd(h, t >>> 0);
  }
  return hashFinish(h, b.length);
}

/** `hash_words`: hash of 'n' uint32 words of 'p' from 'off', starting from 'basis'. */
export function hashWords(p: Uint32Array, off: number, n: number, basis: number): number {
  let h = basis >>> 0;
  for (let i = 0; i < n; i++) h = mhashAdd(h, p[off + i]!);
  return hashFinish(h, (n * 4) >>> 0);
}

// ---- lib/jhash.c -------------------------------------------------------------------------

/**
 * `jhash_bytes` over 'nBytes' bytes given as little-endian uint32 words 'p' from 'off' (bytes
 * past 'nBytes' in the last word must be 0, as jhash's zero-filled tail buffer has them).
 */
export function jhashBytesLe(p: Uint32Array, off: number, nBytes: number, basis: number): number {
  let a = (0xdeadbeef + nBytes + basis) | 0;
  let b = a, c = a;
  let n = nBytes, i = off;
  while (n >= 12) {
    a = (a + p[i]!) | 0; b = (b + p[i + 1]!) | 0; c = (c + p[i + 2]!) | 0;
    // jhash_mix
    a = (a - c) | 0; a ^= rot(c, 4); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rot(a, 6); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rot(b, 8); b = (b + a) | 0;
    a = (a - c) | 0; a ^= rot(c, 16); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rot(a, 19); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rot(b, 4); b = (b + a) | 0;
    n -= 12; i += 3;
  }
  if (n > 0) {
    a = (a + p[i]!) | 0;
    if (n > 4) b = (b + p[i + 1]!) | 0;
    if (n > 8) c = (c + p[i + 2]!) | 0;
    // jhash_final
    c ^= b; c = (c - rot(b, 14)) | 0;
    a ^= c; a = (a - rot(c, 11)) | 0;
    b ^= a; b = (b - rot(a, 25)) | 0;
    c ^= b; c = (c - rot(b, 16)) | 0;
    a ^= c; a = (a - rot(c, 4)) | 0;
    b ^= a; b = (b - rot(a, 14)) | 0;
    c ^= b; c = (c - rot(b, 24)) | 0;
  }
  return c >>> 0;
}

function rot(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

// ---- byte order: OVS reads big-endian struct memory as little-endian uint32s ----------------

/** The uint32 an x86 host reads from the 4 big-endian bytes of 'x' (byte swap). */
export function bswap32(x: number): number {
  return bswap32I32(x) >>> 0;
}

/** bswap32 as int32 (same bits; see the I32 note above). */
function bswap32I32(x: number): number {
  return ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24);
}

/** The word (int32 bits) read from memory holding be16 'a' then be16 'b' (tp_src, tp_dst). */
function ports32(a: number, b: number): number {
  return ((a >>> 8) & 0xff) | ((a & 0xff) << 8) | ((b & 0xff00) << 8) | ((b & 0xff) << 24);
}

// ---- packet hashes ------------------------------------------------------------------------

const ETH_TYPE_IP = 0x0800, ETH_TYPE_ARP = 0x0806, ETH_TYPE_IPV6 = 0x86dd;
const IPPROTO_ICMP = 1, IPPROTO_TCP = 6, IPPROTO_UDP = 17, IPPROTO_ICMPV6 = 58, IPPROTO_SCTP = 132;
const VLAN_VID_MASK = 0x0fff;

function hasPorts5Tuple(p: number): boolean {
  return p === IPPROTO_TCP || p === IPPROTO_UDP || p === IPPROTO_SCTP || p === IPPROTO_ICMP || p === IPPROTO_ICMPV6;
}

/** Shared body of rssHash5Tuple / rssHashOfPacket, as int32: 'proto' is the protocol byte mixed in. */
function hash5(key: Uint32Array, base: number, basis: number, proto: number): number {
  let h = basis | 0;
  const type = key[base + F_DL_TYPE]!;
  if (type === ETH_TYPE_IPV6) {
    for (let i = 0; i < 4; i++) h = mhashAddI32(h, bswap32I32(key[base + F_IPV6_SRC + i]!));
    for (let i = 0; i < 4; i++) h = mhashAddI32(h, bswap32I32(key[base + F_IPV6_DST + i]!));
  } else if (type === ETH_TYPE_IP || type === ETH_TYPE_ARP) {
    h = mhashAddI32(h, bswap32I32(key[base + F_NW_SRC]!));
    h = mhashAddI32(h, bswap32I32(key[base + F_NW_DST]!));
  } else {
    return hashFinishI32(h, 42);
  }
  const nwProto = key[base + F_NW_PROTO]! & 0xff;
  h = mhashAddI32(h, proto);
  if (hasPorts5Tuple(nwProto)) h = mhashAddI32(h, ports32(key[base + F_TP_SRC]!, key[base + F_TP_DST]!));
  return hashFinishI32(h, 42);
}

/**
 * `miniflow_hash_5tuple(mf, 'basis')` (= `flow_hash_5tuple`) of the flow key at 'key'['base']:
 * IPv6 src/dst (or IPv4/ARP nw_src/nw_dst), nw_proto, and for TCP/UDP/SCTP/ICMP/ICMPv6 the
 * tp_src/tp_dst word; anything not IP/ARP hashes to hash_finish('basis', 42). With 'basis' 0
 * this is the RSS hash dpif-netdev stores in a packet from netdev-dummy (see rssHashOfPacket
 * for the one exception). Later fragments contribute ports 0 (the key holds 0 there).
 */
export function rssHash5Tuple(key: Uint32Array, base: number, basis = 0): number {
  return hash5(key, base, basis, key[base + F_NW_PROTO]! & 0xff) >>> 0;
}

/**
 * The RSS hash dpif-netdev stores in a packet received without one, exactly: miniflow_extract()
 * computes it early for TCP/UDP whose header was parsed (dp_packet_update_rss_hash_*_tcp_udp),
 * and for IPv6 that copy mixes the FIXED header's Next Header byte 'ip6Nxt' instead of nw_proto
 * — different when extension headers precede TCP/UDP (hop-by-hop 0, routing 43, fragment 44,
 * destination options 60). For everything else it equals rssHash5Tuple(key, base, 0).
 * 'ip6Nxt' is ignored unless the key is IPv6 TCP/UDP, not a later fragment; pass -1 to mean
 * "no extension headers" (the same as nw_proto).
 */
export function rssHashOfPacket(key: Uint32Array, base: number, ip6Nxt: number): number {
  return rssHashOfPacketI32(key, base, ip6Nxt) >>> 0;
}

/** rssHashOfPacket as int32 (same bits), for the datapath's per-packet path. */
export function rssHashOfPacketI32(key: Uint32Array, base: number, ip6Nxt: number): number {
  const nwProto = key[base + F_NW_PROTO]! & 0xff;
  if (ip6Nxt >= 0 && key[base + F_DL_TYPE] === ETH_TYPE_IPV6 && (nwProto === IPPROTO_TCP || nwProto === IPPROTO_UDP)
    && (key[base + F_NW_FRAG]! & 2) === 0) {
    return hash5(key, base, 0, ip6Nxt & 0xff);
  }
  return hash5(key, base, 0, nwProto);
}

/**
 * The EMC/SMC lookup hash of a packet whose stored RSS hash is 'hash' at recirculation depth
 * 'depth' (dpif_netdev_packet_get_rss_hash): unchanged at depth 0, else hash_finish(hash, depth).
 * The packet's stored hash (what tnl_push and hash(l4) read) stays unmixed.
 */
export function rssHashRecirc(hash: number, depth: number): number {
  return rssHashRecircI32(hash, depth) >>> 0;
}

/** rssHashRecirc as int32 (same bits). */
export function rssHashRecircI32(hash: number, depth: number): number {
  return depth === 0 ? hash | 0 : hashFinishI32(hash, depth);
}

/** OVS's default tunnel source-port range (`ovs-appctl tnl/egress_port_range`). */
export const TNL_UDP_PORT_MIN = 32768, TNL_UDP_PORT_MAX = 61000;

/**
 * `netdev_tnl_get_src_port`: the outer UDP source port for a packet with RSS hash 'hash':
 * ((uint64)hash * ('max' − 'min')) >> 32, plus 'min'. 'max' itself is never produced.
 * Integer-only: the 48-bit product is split into 16-bit limbs.
 */
export function tnlUdpSrcPort(hash: number, min = TNL_UDP_PORT_MIN, max = TNL_UDP_PORT_MAX): number {
  const r = (max - min) & 0xffff;
  const h = hash >>> 0;
  const p0 = (h & 0xffff) * r;     // < 2^32, exact
  const p1 = (h >>> 16) * r;       // < 2^32, exact
  const s = (p1 & 0xffff) + (p0 >>> 16);
  return (((p1 >>> 16) + (s >>> 16)) + min) & 0xffff;
}

/**
 * `hash(l4('basis'))` on dpif-netdev when the packet has an RSS hash 'rss' (always, after the
 * datapath saw it): hash_int(rss, basis) (lib/odp-execute.c).
 */
export function dpHashL4(rss: number, basis: number): number {
  return hashInt(rss, basis);
}

/** `flow_hash_symmetric_l2`: dl_src^dl_dst, VLAN VID, dl_type; hash_finish(…, 'basis'). */
export function flowHashSymmetricL2(key: Uint32Array, base: number, basis: number): number {
  const hi = (key[base + F_DL_SRC_HI]! ^ key[base + F_DL_DST_HI]!) & 0xffff;
  const lo = (key[base + F_DL_SRC_LO]! ^ key[base + F_DL_DST_LO]!) >>> 0;
  const tci = key[base + F_VLAN_TCI]! & VLAN_VID_MASK;
  // struct { be16 eth_type; be16 vlan_tci; eth_addr; be16 pad } as three LE words
  const w0 = ports32(key[base + F_DL_TYPE]! & 0xffff, tci);
  const w1 = ((hi >>> 8) | ((hi & 0xff) << 8) | (((lo >>> 24) & 0xff) << 16) | (((lo >>> 16) & 0xff) << 24)) >>> 0;
  const w2 = ((lo >>> 8) & 0xff) | ((lo & 0xff) << 8);
  let h = basis >>> 0;
  h = mhashAdd(h, w0);
  h = mhashAdd(h, w1);
  h = mhashAdd(h, w2);
  return hashFinish(h, basis >>> 0);
}

/**
 * `flow_hash_symmetric_l3l4(flow, 'basis', 'incUdpPorts')`: nw_src^nw_dst (IPv6: the 64-bit
 * halves XORed), nw_proto, and for unfragmented TCP/SCTP (and UDP when 'incUdpPorts') the
 * 16-bit tp_src^tp_dst; non-IP falls back to flowHashSymmetricL2. Symmetric in src/dst.
 */
export function flowHashSymmetricL3L4(key: Uint32Array, base: number, basis: number, incUdpPorts: boolean): number {
  let h = basis >>> 0;
  const type = key[base + F_DL_TYPE]!;
  if (type === ETH_TYPE_IP) {
    h = mhashAdd(h, bswap32(key[base + F_NW_SRC]! ^ key[base + F_NW_DST]!));
  } else if (type === ETH_TYPE_IPV6) {
    for (let i = 0; i < 4; i++) h = mhashAdd(h, bswap32(key[base + F_IPV6_SRC + i]! ^ key[base + F_IPV6_DST + i]!));
  } else {
    return flowHashSymmetricL2(key, base, basis);
  }
  const p = key[base + F_NW_PROTO]! & 0xff;
  h = mhashAdd(h, p);
  if ((key[base + F_NW_FRAG]! & 3) === 0
    && (p === IPPROTO_TCP || p === IPPROTO_SCTP || (incUdpPorts && p === IPPROTO_UDP))) {
    // (OVS_FORCE uint16_t)(tp_src ^ tp_dst): the be16 XOR read as a host uint16
    const x = (key[base + F_TP_SRC]! ^ key[base + F_TP_DST]!) & 0xffff;
    h = mhashAdd(h, ((x >>> 8) | ((x & 0xff) << 8)) >>> 0);
  }
  return hashFinish(h, basis >>> 0);
}

/**
 * The dp_hash `hash(sym_l4('basis'))` computes on the userspace datapath:
 * flow_hash_symmetric_l3l4(flow, basis, false) (odp-execute.c OVS_HASH_ALG_SYM_L4).
 */
export function symmetricL4Hash(key: Uint32Array, base: number, basis = 0): number {
  return flowHashSymmetricL3L4(key, base, basis, false);
}

// flow_hash_symmetric_l4's 32-byte struct as 8 little-endian words (see below)
const sym = new Uint32Array(8);

/**
 * `flow_hash_symmetric_l4(flow, 'basis')`: jhash of the zeroed 32-byte struct
 *   { union { be32 ipv4; in6_addr ipv6 } @0; be16 eth_type @16; be16 vlan_tci @18;
 *     be16 tp_port @20; eth_addr (dl_src^dl_dst) @22; u8 ip_proto @28; pad @29..31 }
 * with ipv4 = nw_src^nw_dst or ipv6 = src^dst, ip_proto = nw_proto for IP, tp_port =
 * tp_src^tp_dst for TCP/SCTP only (fragments included), vlan = VID of the tag.
 */
export function flowHashSymmetricL4(key: Uint32Array, base: number, basis: number): number {
  const s = sym;
  s.fill(0);
  const type = key[base + F_DL_TYPE]! & 0xffff;
  let proto = 0, port = 0;
  if (type === ETH_TYPE_IP) {
    s[0] = bswap32(key[base + F_NW_SRC]! ^ key[base + F_NW_DST]!);
    proto = key[base + F_NW_PROTO]! & 0xff;
  } else if (type === ETH_TYPE_IPV6) {
    for (let i = 0; i < 4; i++) s[i] = bswap32(key[base + F_IPV6_SRC + i]! ^ key[base + F_IPV6_DST + i]!);
    proto = key[base + F_NW_PROTO]! & 0xff;
  }
  if ((type === ETH_TYPE_IP || type === ETH_TYPE_IPV6) && (proto === IPPROTO_TCP || proto === IPPROTO_SCTP)) {
    port = (key[base + F_TP_SRC]! ^ key[base + F_TP_DST]!) & 0xffff;
  }
  const hi = (key[base + F_DL_SRC_HI]! ^ key[base + F_DL_DST_HI]!) & 0xffff;
  const lo = (key[base + F_DL_SRC_LO]! ^ key[base + F_DL_DST_LO]!) >>> 0;
  s[4] = ports32(type, key[base + F_VLAN_TCI]! & VLAN_VID_MASK);
  // bytes 20..23: tp_port (be16), mac[0], mac[1]
  s[5] = (((port >>> 8) & 0xff) | ((port & 0xff) << 8) | ((hi >>> 8) << 16) | ((hi & 0xff) << 24)) >>> 0;
  // bytes 24..27: mac[2..5]
  s[6] = bswap32(lo);
  s[7] = proto;
  return jhashBytesLe(s, 0, 32, basis);
}
