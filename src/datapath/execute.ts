/**
 * Datapath actions on packet bytes (datapath layer, fast path) — sdnemu's
 * odp-execute.c and the header push/pop of netdev-native-tnl.c.
 *
 * What: `Pkt` is one packet in flight: its bytes ('buf' [start, end)), the
 * metadata the datapath keeps beside them (in_port, recirc_id, ct_*, tunnel,
 * dp_hash, RSS hash) and the L3/L4 offsets of the current headers. The
 * functions below apply one action of a compiled DpProgram (odp-actions.ts) to it:
 * masked set of Ethernet / IPv4 / IPv6 / TCP / UDP / SCTP / ICMP / ARP fields
 * with incremental checksum fix-up, VLAN push and pop, and native tunnel
 * push and pop (VXLAN and Geneve over IPv4).
 *
 * Checksums (RFC 1624, wire/checksum.ts): an IPv4 address change patches the
 * IPv4 header checksum and the TCP/UDP checksum (pseudo-header); TOS and TTL
 * patch the IPv4 checksum; an IPv6 address change patches TCP/UDP/ICMPv6;
 * port changes patch TCP/UDP; an ICMP type/code change patches ICMP. A UDP
 * checksum of 0 (none, IPv4) stays 0, and a computed 0 is sent as 0xffff.
 * SCTP's CRC32c is recomputed over the packet. Nothing is patched in a later
 * fragment (it carries no L4 header), as OVS's packet_set_*.
 *
 * Headroom: pushes grow the packet at the front. A packet whose buffer lacks
 * the room is moved once into the Pkt's own scratch buffer (allocated the
 * first time a packet of that Pkt needs it, then reused: a datapath that
 * never pushes or clones never holds one), so the per-packet path allocates
 * nothing. The datapath
 * owns the bytes it is given: it rewrites them in place.
 *
 * Tunnels: push writes the prebuilt outer header, then the lengths, the IPv4
 * header checksum, and the UDP source port from the packet's RSS hash (OVS:
 * netdev_tnl_get_src_port); pop validates the outer headers (IPv4 without
 * options or fragments, UDP length, VXLAN I flag and reserved bits, Geneve
 * version 0, known protocol), applies RFC 6040's ECN rule, fills the tunnel
 * metadata and strips them; a failed check is a drop ("tunnel pop error").
 * What OVS checks and fills is listed in hash.ts's design comment (observed
 * on OVS 3.1): no UDP length check, no Geneve C-bit check, never +df.
 * Neighbours: datapath.ts dispatches actions and owns outputs, ct and
 * recirculation; hash.ts gives the RSS hash and tunnel source port.
 */
import { be16, be32, be32i, setBe16, setBe32 } from '../wire/bytes.js';
import { csumUpdate16, csumUpdate32, fold, sum16 } from '../wire/checksum.js';
import { AM, AV, TNL_TYPE_GENEVE, TNL_TYPE_VXLAN } from './odp-actions.js';
import { tnlUdpSrcPort } from '../flow/hash.js';
import { TNL_F_CSUM, TNL_F_KEY } from '../flow/key.js';
import { CtResult } from '../conntrack/conntrack.js';

const ETH_TYPE_IP = 0x0800, ETH_TYPE_IPV6 = 0x86dd;
/** headroom kept in front of a packet moved into the scratch buffer */
const HEADROOM = 256;
const MAX_FRAME = 65535 + 64;
/** a new Pkt's bytes until reset() gives it a packet */
const NO_BYTES = new Uint8Array(0);

export class Pkt {
  buf: Uint8Array;
  start = 0;
  end = 0;
  /** datapath port the packet arrived on (after tnl_pop: the tunnel's port) */
  inPort = 0;
  recircId = 0;
  ctState = 0;
  ctZone = 0;
  ctMark = 0;
  tunIdHi = 0;
  tunIdLo = 0;
  tunSrc = 0;
  tunDst = 0;
  tunFlags = 0;
  tunTos = 0;
  tunTtl = 0;
  tunTpSrc = 0;
  tunTpDst = 0;
  /**
   * The egress tunnel metadata (OVS_ACTION_ATTR_SET(tunnel)), read by a
   * kernel-style tunnel port's sink: set when outTunSet is 1.
   */
  outTunSet = 0;
  outTunIdHi = 0;
  outTunIdLo = 0;
  outTunSrc = 0;
  outTunDst = 0;
  outTunTos = 0;
  outTunTtl = 0;
  outTunTpDst = 0;
  outTunFlags = 0;
  dpHash = 0;
  rssHash = 0;
  /** recirculations so far (OVS drops at MAX_RECIRC_DEPTH) */
  depth = 0;
  /** absolute offsets of the L3 and L4 headers, -1 when absent */
  l3 = -1;
  l4 = -1;
  /** Ethertype of the L3 header at l3; IP protocol at l4; 3 = a later fragment */
  dlType = 0;
  proto = 0;
  laterFrag = false;
  /** conntrack state carried with the packet (ct_state/zone/mark/label, the cached connection) */
  readonly ct = new CtResult();
  /** 'ct' was written since the last reset (clearing it costs more than the rest of reset) */
  ctDirty = false;
  /** this packet's own buffer for pushes that need more headroom, made on first use (`scratch`) */
  private own: Uint8Array | null = null;

  /** this Pkt's index in the datapath's per-depth pool (a clone goes one deeper) */
  readonly slot: number;

  constructor(slot = 0) {
    this.slot = slot;
    this.buf = NO_BYTES;
  }

  /** this packet's own buffer (HEADROOM + MAX_FRAME bytes), allocated the first time a packet needs it */
  get scratch(): Uint8Array { return this.own ??= new Uint8Array(HEADROOM + MAX_FRAME); }

  /** Clear the metadata for a packet received on 'port' with bytes 'buf' [start, end). */
  reset(buf: Uint8Array, start: number, end: number, port: number): void {
    this.buf = buf; this.start = start; this.end = end; this.inPort = port;
    this.recircId = 0; this.ctState = 0; this.ctZone = 0; this.ctMark = 0;
    if (this.ctDirty) { this.ct.clear(); this.ctDirty = false; }
    this.tunIdHi = 0; this.tunIdLo = 0; this.tunSrc = 0; this.tunDst = 0; this.tunFlags = 0;
    this.tunTos = 0; this.tunTtl = 0; this.tunTpSrc = 0; this.tunTpDst = 0;
    this.outTunSet = 0;
    this.dpHash = 0; this.rssHash = 0; this.depth = 0;
    this.l3 = -1; this.l4 = -1; this.dlType = 0; this.proto = 0; this.laterFrag = false;
  }

  /** Copy 'o' (bytes into this Pkt's scratch, and all metadata): clone() and a non-final recirc. */
  copyFrom(o: Pkt): void {
    const n = o.end - o.start;
    const own = this.scratch;
    own.set(o.buf.subarray(o.start, o.end), HEADROOM);
    const shift = HEADROOM - o.start;
    this.buf = own; this.start = HEADROOM; this.end = HEADROOM + n;
    this.inPort = o.inPort; this.recircId = o.recircId; this.ctState = o.ctState; this.ctZone = o.ctZone; this.ctMark = o.ctMark;
    // the copy keeps the ct fields; its next ct() looks the connection up again
    this.ct.clear();
    this.ct.state = o.ct.state; this.ct.zone = o.ct.zone; this.ct.mark = o.ct.mark; this.ct.label.set(o.ct.label);
    this.ctDirty = true;
    this.tunIdHi = o.tunIdHi; this.tunIdLo = o.tunIdLo; this.tunSrc = o.tunSrc; this.tunDst = o.tunDst; this.tunFlags = o.tunFlags;
    this.tunTos = o.tunTos; this.tunTtl = o.tunTtl; this.tunTpSrc = o.tunTpSrc; this.tunTpDst = o.tunTpDst;
    this.outTunSet = o.outTunSet; this.outTunIdHi = o.outTunIdHi; this.outTunIdLo = o.outTunIdLo; this.outTunSrc = o.outTunSrc;
    this.outTunDst = o.outTunDst; this.outTunTos = o.outTunTos; this.outTunTtl = o.outTunTtl; this.outTunTpDst = o.outTunTpDst;
    this.outTunFlags = o.outTunFlags;
    this.dpHash = o.dpHash; this.rssHash = o.rssHash; this.depth = o.depth;
    this.l3 = o.l3 < 0 ? -1 : o.l3 + shift; this.l4 = o.l4 < 0 ? -1 : o.l4 + shift;
    this.dlType = o.dlType; this.proto = o.proto; this.laterFrag = o.laterFrag;
  }

  /** Make room for 'n' more bytes in front of 'start' (moving into scratch when needed). */
  headroom(n: number): boolean {
    if (this.start >= n) return true;
    const len = this.end - this.start;
    if (len > MAX_FRAME) return false;
    const shift = HEADROOM - this.start;
    const own = this.scratch;
    if (this.buf === own) own.copyWithin(HEADROOM, this.start, this.end);
    else own.set(this.buf.subarray(this.start, this.end), HEADROOM);
    this.buf = own;
    this.start = HEADROOM; this.end = HEADROOM + len;
    if (this.l3 >= 0) this.l3 += shift;
    if (this.l4 >= 0) this.l4 += shift;
    return true;
  }

  get length(): number { return this.end - this.start; }
}

// ---- set ---------------------------------------------------------------------------------------------

/** 'old' with the bits of 'm' taken from 'v', as int32 bits (see bytes.ts be32i). */
function masked(old: number, v: number, m: number): number {
  return (old & ~m) | (v & m);
}

/** Offset of the L4 checksum 'p' carries for its protocol, or -1 (none, or a later fragment). */
function l4CsumOff(p: Pkt): number {
  if (p.l4 < 0 || p.laterFrag) return -1;
  const pr = p.proto;
  const off = pr === 6 ? p.l4 + 16 : pr === 17 ? p.l4 + 6 : pr === 58 ? p.l4 + 2 : -1;
  if (off < 0 || off + 2 > p.end) return -1;
  return off;
}

/** Patch the L4 checksum at 'off' for a 32-bit pseudo-header word change (UDP's 0 = none stays 0). */
function patchL4(b: Uint8Array, off: number, udp: boolean, oldV: number, newV: number): void {
  const c = be16(b, off);
  if (udp && c === 0) return;
  let n = csumUpdate32(c, oldV, newV);
  if (udp && n === 0) n = 0xffff;
  setBe16(b, off, n);
}

function patchL4_16(b: Uint8Array, off: number, udp: boolean, oldV: number, newV: number): void {
  const c = be16(b, off);
  if (udp && c === 0) return;
  let n = csumUpdate16(c, oldV, newV);
  if (udp && n === 0) n = 0xffff;
  setBe16(b, off, n);
}

export function setEth(p: Pkt, c: Int32Array, o: number): void {
  const b = p.buf, e = p.start;
  if (p.end - e < 14) return;
  const v = o + AV, m = o + AM;
  setBe16(b, e + 6, masked(be16(b, e + 6), c[v + 0]!, c[m + 0]!));
  setBe32(b, e + 8, masked(be32i(b, e + 8), c[v + 1]!, c[m + 1]!));
  setBe16(b, e, masked(be16(b, e), c[v + 2]!, c[m + 2]!));
  setBe32(b, e + 2, masked(be32i(b, e + 2), c[v + 3]!, c[m + 3]!));
}

export function setIpv4(p: Pkt, c: Int32Array, o: number): void {
  p.ct.conn = -1;
  const b = p.buf, l3 = p.l3;
  if (l3 < 0 || p.dlType !== ETH_TYPE_IP || l3 + 20 > p.end) return;
  const v = o + AV, m = o + AM;
  let csum = be16(b, l3 + 10);
  const l4c = l4CsumOff(p);
  const udp = p.proto === 17;
  for (let f = 0; f < 2; f++) {
    if (c[m + f] === 0) continue;
    const at = l3 + 12 + 4 * f;
    const old = be32i(b, at), now = masked(old, c[v + f]!, c[m + f]!);
    if (old === now) continue;
    setBe32(b, at, now);
    csum = csumUpdate32(csum, old, now);
    if (l4c >= 0 && p.proto !== 58) patchL4(b, l4c, udp, old, now);
  }
  if (c[m + 2] !== 0) {
    const w = be16(b, l3);
    const nw = (w & 0xff00) | masked(w & 0xff, c[v + 2]!, c[m + 2]!);
    if (nw !== w) { setBe16(b, l3, nw); csum = csumUpdate16(csum, w, nw); }
  }
  if (c[m + 3] !== 0) {
    const w = be16(b, l3 + 8);
    const nw = (masked(w >>> 8, c[v + 3]!, c[m + 3]!) << 8) | (w & 0xff);
    if (nw !== w) { setBe16(b, l3 + 8, nw); csum = csumUpdate16(csum, w, nw); }
  }
  setBe16(b, l3 + 10, csum);
}

export function setIpv6(p: Pkt, c: Int32Array, o: number): void {
  p.ct.conn = -1;
  const b = p.buf, l3 = p.l3;
  if (l3 < 0 || p.dlType !== ETH_TYPE_IPV6 || l3 + 40 > p.end) return;
  const v = o + AV, m = o + AM;
  const l4c = l4CsumOff(p);
  const udp = p.proto === 17;
  for (let f = 0; f < 8; f++) {
    if (c[m + f] === 0) continue;
    const at = l3 + 8 + 4 * f;
    const old = be32i(b, at), now = masked(old, c[v + f]!, c[m + f]!);
    if (old === now) continue;
    setBe32(b, at, now);
    if (l4c >= 0) patchL4(b, l4c, udp, old, now);
  }
  let w0 = be32i(b, l3);
  if (c[m + 8] !== 0) w0 = ((w0 & ~0xfffff) | masked(w0 & 0xfffff, c[v + 8]!, c[m + 8]!)) >>> 0;
  if (c[m + 9] !== 0) w0 = ((w0 & ~0x0ff00000) | (masked((w0 >>> 20) & 0xff, c[v + 9]!, c[m + 9]!) << 20)) >>> 0;
  setBe32(b, l3, w0);
  if (c[m + 10] !== 0) b[l3 + 7] = masked(b[l3 + 7]!, c[v + 10]!, c[m + 10]!);
}

export function setL4(p: Pkt, c: Int32Array, o: number): void {
  p.ct.conn = -1;
  const b = p.buf, l4 = p.l4;
  if (l4 < 0 || p.laterFrag || p.proto !== c[o + 1]) return;
  const pr = p.proto;
  const need = pr === 6 ? 20 : pr === 17 ? 8 : 12;
  if (l4 + need > p.end) return;
  const v = o + AV, m = o + AM;
  const cs = pr === 6 ? l4 + 16 : pr === 17 ? l4 + 6 : -1;
  for (let f = 0; f < 2; f++) {
    if (c[m + f] === 0) continue;
    const at = l4 + 2 * f;
    const old = be16(b, at), now = masked(old, c[v + f]!, c[m + f]!) & 0xffff;
    if (old === now) continue;
    setBe16(b, at, now);
    if (cs >= 0) patchL4_16(b, cs, pr === 17, old, now);
  }
  if (pr === 132) sctpCrc(b, l4, p.end);
}

export function setIcmp(p: Pkt, c: Int32Array, o: number): void {
  p.ct.conn = -1;
  const b = p.buf, l4 = p.l4;
  if (l4 < 0 || p.laterFrag || p.proto !== 1 || l4 + 4 > p.end) return;
  const old = be16(b, l4);
  const now = (masked(old >>> 8, c[o + AV]!, c[o + AM]!) << 8) | masked(old & 0xff, c[o + AV + 1]!, c[o + AM + 1]!);
  if (now === old) return;
  setBe16(b, l4, now);
  setBe16(b, l4 + 2, csumUpdate16(be16(b, l4 + 2), old, now));
}

export function setArp(p: Pkt, c: Int32Array, o: number): void {
  const b = p.buf, l3 = p.l3;
  if (l3 < 0 || l3 + 28 > p.end) return;
  const v = o + AV, m = o + AM;
  setBe16(b, l3 + 6, masked(be16(b, l3 + 6), c[v + 2]!, c[m + 2]!));
  setBe16(b, l3 + 8, masked(be16(b, l3 + 8), c[v + 3]!, c[m + 3]!));
  setBe32(b, l3 + 10, masked(be32i(b, l3 + 10), c[v + 4]!, c[m + 4]!));
  setBe32(b, l3 + 14, masked(be32i(b, l3 + 14), c[v + 0]!, c[m + 0]!));
  setBe16(b, l3 + 18, masked(be16(b, l3 + 18), c[v + 5]!, c[m + 5]!));
  setBe32(b, l3 + 20, masked(be32i(b, l3 + 20), c[v + 6]!, c[m + 6]!));
  setBe32(b, l3 + 24, masked(be32i(b, l3 + 24), c[v + 1]!, c[m + 1]!));
}

// CRC32c (Castagnoli), reflected, for SCTP (RFC 4960 appendix B)
const CRC32C = new Uint32Array(256);
for (let i = 0; i < 256; i++) {
  let c = i;
  for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  CRC32C[i] = c >>> 0;
}

/** Recompute the SCTP checksum of the packet at 'l4' .. 'end'. */
function sctpCrc(b: Uint8Array, l4: number, end: number): void {
  setBe32(b, l4 + 8, 0);
  let c = 0xffffffff;
  for (let i = l4; i < end; i++) c = CRC32C[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  c = ~c >>> 0;
  // the CRC is stored least significant byte first
  b[l4 + 8] = c & 0xff; b[l4 + 9] = (c >>> 8) & 0xff; b[l4 + 10] = (c >>> 16) & 0xff; b[l4 + 11] = c >>> 24;
}

// ---- VLAN ---------------------------------------------------------------------------------------------

/** push_vlan: a new outermost tag (TPID v0, TCI v1 of the action at 'o' of 'c') after the MAC addresses. */
export function pushVlan(p: Pkt, c: Int32Array, o: number): boolean {
  if (p.end - p.start < 12 || !p.headroom(4)) return false;
  const b = p.buf;
  b.copyWithin(p.start - 4, p.start, p.start + 12);
  p.start -= 4;
  setBe16(b, p.start + 12, c[o + AV]!);
  setBe16(b, p.start + 14, c[o + AV + 1]! & 0xefff);
  return true;
}

/** pop_vlan: remove the outermost 802.1Q/802.1ad tag, if any. */
export function popVlan(p: Pkt): void {
  const b = p.buf, o = p.start;
  if (p.end - o < 18) return;
  const t = be16(b, o + 12);
  if (t !== 0x8100 && t !== 0x88a8) return;
  b.copyWithin(o + 4, o, o + 12);
  p.start += 4;
}

// ---- tunnels ------------------------------------------------------------------------------------------

/**
 * tnl_push: put the outer header of 'a' in front of the packet: Ethernet,
 * IPv4 (total length, header checksum), UDP (length, source port from the
 * RSS hash; checksum when the header asks for one) and VXLAN or Geneve.
 */
export function tnlPush(p: Pkt, h: Uint8Array): boolean {
  const n = h.length;
  if (!p.headroom(n)) return false;
  p.start -= n;
  const b = p.buf, o = p.start;
  b.set(h, o);
  const ip = o + 14, udp = ip + 20;
  setBe16(b, ip + 2, p.end - ip);
  setBe16(b, ip + 10, fold(sum16(b, ip, ip + 20)));
  setBe16(b, udp, tnlUdpSrcPort(p.rssHash));
  setBe16(b, udp + 4, p.end - udp);
  if (be16(h, 14 + 20 + 6) !== 0) {
    setBe16(b, udp + 6, 0);
    const ps = (be16(b, ip + 12) + be16(b, ip + 14) + be16(b, ip + 16) + be16(b, ip + 18) + 17 + (p.end - udp));
    const c = fold(sum16(b, udp, p.end, ps));
    setBe16(b, udp + 6, c === 0 ? 0xffff : c);
  }
  p.l3 = ip; p.l4 = udp; p.dlType = ETH_TYPE_IP; p.proto = 17; p.laterFrag = false;
  return true;
}

/**
 * Mark the inner IPv4/IPv6 packet of the frame at 'eth' CE (ECN 3), fixing
 * the IPv4 checksum. False when it is not ECN-capable (ECN 0) or not IP.
 */
function markCe(b: Uint8Array, eth: number, end: number): boolean {
  let e = eth + 12;
  let t = be16(b, e);
  while ((t === 0x8100 || t === 0x88a8) && e + 6 <= end) { e += 4; t = be16(b, e); }
  const l3 = e + 2;
  if (t === ETH_TYPE_IP && l3 + 20 <= end) {
    const w = be16(b, l3);
    if ((w & 3) === 0) return false;
    const nw = w | 3;
    setBe16(b, l3, nw);
    setBe16(b, l3 + 10, csumUpdate16(be16(b, l3 + 10), w, nw));
    return true;
  }
  if (t === ETH_TYPE_IPV6 && l3 + 40 <= end) {
    const w = be32(b, l3);
    if (((w >>> 20) & 3) === 0) return false;
    setBe32(b, l3, (w | (3 << 20)) >>> 0);
    return true;
  }
  // not IP: nothing to mark (RFC 6040 §4.2 leaves it to the inner protocol); OVS drops it
  return false;
}

/**
 * tnl_pop for a VXLAN ('type' TNL_TYPE_VXLAN) or Geneve packet: check the
 * outer headers, fill the tunnel metadata, strip them. False (and the
 * packet untouched) when the outer headers are not a valid tunnel packet.
 */
export function tnlPop(p: Pkt, type: number): boolean {
  const b = p.buf, o = p.start, end = p.end;
  if (end - o < 14 + 20 + 8 + 8) return false;
  let e = o + 12;
  let t = be16(b, e);
  while (t === 0x8100 || t === 0x88a8) { e += 4; if (e + 2 > end) return false; t = be16(b, e); }
  if (t !== ETH_TYPE_IP) return false;
  const ip = e + 2;
  const vihl = b[ip]!;
  // IPv4 without options ("ip options not supported on tunnel packets")
  if (vihl !== 0x45) return false;
  const hl = 20;
  const tot = be16(b, ip + 2);
  if (tot < hl + 16 || ip + tot > end) return false;
  if (fold(sum16(b, ip, ip + hl)) !== 0) return false;
  const frag = be16(b, ip + 6);
  if ((frag & 0x3fff) !== 0) return false;
  if (b[ip + 9] !== 17) return false;
  const udp = ip + hl;
  // OVS does not check the UDP length field; a non-zero checksum is verified over the IP payload
  const ulen = ip + tot - udp;
  const csum = be16(b, udp + 6);
  if (csum !== 0) {
    const ps = (be16(b, ip + 12) + be16(b, ip + 14) + be16(b, ip + 16) + be16(b, ip + 18) + 17 + ulen);
    if (fold(sum16(b, udp, udp + ulen, ps)) !== 0) return false;
  }
  const tun = udp + 8;
  let inner: number;
  if (type === TNL_TYPE_VXLAN) {
    // flags word exactly 0x08000000 (I flag only) and the byte after the VNI zero (RFC 7348);
    // with the VXLAN-GPE P bit, OVS first strips the GPE bits (version, P, O, next protocol),
    // refuses OAM, and takes next protocol Ethernet (3) — sdnemu keys Ethernet packets only
    let flags = be32(b, tun);
    if ((flags & 0x04000000) !== 0) {
      if ((b[tun]! & 0x01) !== 0 || b[tun + 3] !== 3) return false;
      flags = (flags & ~(0x30000000 | 0x04000000 | 0x01000000 | 0xff)) >>> 0;
    }
    if (flags !== 0x08000000 || b[tun + 7] !== 0) return false;
    inner = tun + 8;
  } else if (type === TNL_TYPE_GENEVE) {
    // version 0 and Transparent Ethernet Bridging; OVS does not look at the C bit
    if (b[tun]! >>> 6 !== 0) return false;
    if (be16(b, tun + 2) !== 0x6558) return false;
    inner = tun + 8 + (b[tun]! & 0x3f) * 4;
  } else {
    return false;
  }
  if (ip + tot - inner < 14) return false;
  // RFC 6040 decapsulation: outer CE marks an ECN-capable inner packet CE, and drops one that is not
  const outerTos = b[ip + 1]!;
  if ((outerTos & 3) === 3 && !markCe(b, inner, ip + tot)) return false;
  p.tunSrc = be32(b, ip + 12);
  p.tunDst = be32(b, ip + 16);
  p.tunTos = outerTos;
  p.tunTtl = b[ip + 8]!;
  p.tunTpSrc = be16(b, udp);
  p.tunTpDst = be16(b, udp + 2);
  p.tunIdHi = 0;
  p.tunIdLo = be32(b, tun + 4) >>> 8;
  // +key always, +csum for a checksummed datagram; OVS's userspace tunnels never report +df
  p.tunFlags = TNL_F_KEY | (csum !== 0 ? TNL_F_CSUM : 0);
  p.start = inner;
  p.end = ip + tot;
  p.l3 = -1; p.l4 = -1;
  return true;
}

/** set(tunnel(...)): the action at 'o' of 'c' becomes the packet's egress tunnel metadata. */
export function setTunnel(p: Pkt, c: Int32Array, o: number): void {
  const v = o + AV;
  p.outTunSet = 1;
  p.outTunIdHi = c[v]! >>> 0; p.outTunIdLo = c[v + 1]! >>> 0;
  p.outTunSrc = c[v + 2]! >>> 0; p.outTunDst = c[v + 3]! >>> 0;
  p.outTunTos = c[v + 4]!; p.outTunTtl = c[v + 5]!; p.outTunTpDst = c[v + 6]!; p.outTunFlags = c[v + 7]!;
}
