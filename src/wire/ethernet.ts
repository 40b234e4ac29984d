/**
 * Ethernet II, 802.1Q and 802.1ad (QinQ) — views and Repr (wire layer; the
 * views are fast path).
 *
 * What: `EthernetFrame`, a reusable cursor over (bytes, off, end) for the
 * 14-byte Ethernet II header plus any VLAN tags that follow it; `VlanTag`, a
 * cursor over one tag's last four bytes (TCI + inner type, the part after the
 * TPID, as Wireshark's `vlan` layer shows it); `EthernetRepr`, a plain record
 * that `parse`s from a frame view and `emit`s into one; the EtherType
 * constants and `etherTypeName()`.
 * Layout: tags sit between the source MAC and the EtherType. Tag i has its
 * TPID at off+12+4i and its TCI at off+14+4i; the innermost EtherType follows
 * the last tag. A TPID is 0x8100 (802.1Q), 0x88a8 (802.1ad S-tag) or 0x9100
 * (the pre-standard QinQ value some switches still send).
 * Safety contract: `reset()` inspects nothing. `check()` returns 0 when the
 * header and every tag are inside [off, end), and then sets `tagCount`,
 * `innerType` (the EtherType after the last tag) and `payloadOff` (the first
 * byte after it) — the walk to the innermost type costs nothing more later
 * and allocates nothing. Otherwise it returns a `WireErrc` with `errAt`
 * (absolute offset) and `errField` (Wireshark field) set. `setEtherType()` or
 * `setTagTpid()` invalidate a previous `check()`; do not `check()` a buffer you
 * are about to emit into (the answer would depend on stale bytes).
 * 802.3 frames: a type value below 0x0600 is a length (IEEE 802.3 with LLC);
 * `check()` accepts it (`isLengthField()` tells), `EthernetRepr.parse`
 * rejects it as WIRE_UNSUPPORTED, and the dissector shows the addresses and
 * `eth.len`.
 * MACs: as two numbers for the fast path (`dstHi16()`/`dstLo32()`, the form
 * OVS's flow key and sdnemu's extract.ts use) or as byte offsets
 * (`dstOffset()`) for copying. Padding after a short payload is not this
 * layer's business: IPv4/IPv6/ARP know their own length.
 * Cost: accessors are a few integer ops; `check()` is one loop iteration per
 * tag; nothing allocates except `EthernetRepr`s and `etherTypeName()`.
 * Neighbours: dissect/ethernet.ts (the eth/vlan/ieee8021ad layers),
 * extract.ts (its own inlined walk for the flow key), the datapath's push/pop
 * VLAN and set-field actions.
 */
import { EMPTY, be16, be32, setBe16, setBe32 } from './bytes.js';
import { checkOrThrow, WireErrc, wireError } from './errc.js';

const DST = 0, SRC = 6, TYPE = 12;
export const ETH_HEADER_LEN = 14;
/** Bytes one VLAN tag adds (TPID + TCI). */
export const VLAN_TAG_LEN = 4;
/** Smallest value of the type field that is an EtherType; below it the field is an 802.3 length. */
export const ETH_TYPE_MIN = 0x0600;

export const ETH_TYPE_IPV4 = 0x0800;
export const ETH_TYPE_ARP = 0x0806;
export const ETH_TYPE_WOL = 0x0842;
export const ETH_TYPE_TEB = 0x6558;
export const ETH_TYPE_RARP = 0x8035;
export const ETH_TYPE_VLAN = 0x8100;
export const ETH_TYPE_IPV6 = 0x86dd;
export const ETH_TYPE_SLOW = 0x8809;
export const ETH_TYPE_MPLS = 0x8847;
export const ETH_TYPE_MPLS_MC = 0x8848;
export const ETH_TYPE_PPPOE_DISC = 0x8863;
export const ETH_TYPE_PPPOE_SESS = 0x8864;
export const ETH_TYPE_EAPOL = 0x888e;
export const ETH_TYPE_QINQ = 0x88a8;
export const ETH_TYPE_LLDP = 0x88cc;
export const ETH_TYPE_MACSEC = 0x88e5;
export const ETH_TYPE_PBB = 0x88e7;
export const ETH_TYPE_PTP = 0x88f7;
export const ETH_TYPE_CFM = 0x8902;
export const ETH_TYPE_FCOE = 0x8906;
export const ETH_TYPE_ROCE = 0x8915;
export const ETH_TYPE_NSH = 0x894f;
export const ETH_TYPE_LOOPBACK = 0x9000;
/** Pre-standard QinQ TPID, accepted as a tag like 0x8100. */
export const ETH_TYPE_QINQ_OLD = 0x9100;

const NAMES = new Map<number, string>([
  [ETH_TYPE_IPV4, 'IPv4'],
  [ETH_TYPE_ARP, 'ARP'],
  [ETH_TYPE_WOL, 'Wake-on-LAN'],
  [ETH_TYPE_TEB, 'Transparent Ethernet Bridging'],
  [ETH_TYPE_RARP, 'RARP'],
  [ETH_TYPE_VLAN, '802.1Q'],
  [ETH_TYPE_IPV6, 'IPv6'],
  [ETH_TYPE_SLOW, 'Slow Protocols'],
  [ETH_TYPE_MPLS, 'MPLS'],
  [ETH_TYPE_MPLS_MC, 'MPLS multicast'],
  [ETH_TYPE_PPPOE_DISC, 'PPPoE Discovery'],
  [ETH_TYPE_PPPOE_SESS, 'PPPoE Session'],
  [ETH_TYPE_EAPOL, 'EAPOL'],
  [ETH_TYPE_QINQ, '802.1ad'],
  [ETH_TYPE_LLDP, 'LLDP'],
  [ETH_TYPE_MACSEC, 'MACsec'],
  [ETH_TYPE_PBB, '802.1ah'],
  [ETH_TYPE_PTP, 'PTP'],
  [ETH_TYPE_CFM, 'CFM'],
  [ETH_TYPE_FCOE, 'FCoE'],
  [ETH_TYPE_ROCE, 'RoCE'],
  [ETH_TYPE_NSH, 'NSH'],
  [ETH_TYPE_LOOPBACK, 'Loopback'],
  [ETH_TYPE_QINQ_OLD, 'QinQ (0x9100)'],
]);

/**
 * A short name for EtherType 't' ('IPv4', 'LLDP'); never undefined: a value
 * below 0x0600 gives 'Length N' (802.3), an unknown one its hex ('0x88b5').
 * Slow path (allocates a string for unknown values).
 */
export function etherTypeName(t: number): string {
  const n = NAMES.get(t);
  if (n !== undefined) return n;
  if (t < ETH_TYPE_MIN) return 'Length ' + String(t);
  return '0x' + (t & 0xffff).toString(16).padStart(4, '0');
}

/** True when 't' is a TPID this module treats as a VLAN tag (0x8100, 0x88a8, 0x9100). */
export function isVlanTpid(t: number): boolean {
  return t === ETH_TYPE_VLAN || t === ETH_TYPE_QINQ || t === ETH_TYPE_QINQ_OLD;
}

export class EthernetFrame {
  bytes: Uint8Array = EMPTY;
  off = 0;
  end = 0;
  /** Absolute offset of the fault found by the last `check()`, -1 if none. */
  errAt = -1;
  /** Wireshark field at fault after a failed `check()`. */
  errField = '';
  /** After `check()`: the number of VLAN tags. */
  tagCount = 0;
  /** After `check()`: the EtherType (or 802.3 length) after the last tag. */
  innerType = 0;
  /** After `check()`: offset of the first byte after the innermost type field. */
  payloadOff = 0;

  reset(bytes: Uint8Array, off: number, end: number): this {
    this.bytes = bytes;
    this.off = off;
    this.end = end;
    this.errAt = -1;
    this.errField = '';
    this.tagCount = 0;
    this.innerType = 0;
    this.payloadOff = 0;
    return this;
  }

  /**
   * 0 when the 14-byte header and every VLAN tag are in bounds; sets
   * `tagCount`, `innerType`, `payloadOff`. Invalidated by `setEtherType()`
   * and `setTagTpid()`.
   */
  check(): number {
    const o = this.off, e = this.end, b = this.bytes;
    if (e - o < ETH_HEADER_LEN) return this.fail(WireErrc.Truncated, 'eth', o < e ? e : o);
    let p = o + TYPE;
    let t = be16(b, p);
    let n = 0;
    while (t === ETH_TYPE_VLAN || t === ETH_TYPE_QINQ || t === ETH_TYPE_QINQ_OLD) {
      // a tag: TCI at p+2, the next type at p+4
      if (e - p < 6) return this.fail(WireErrc.Truncated, t === ETH_TYPE_QINQ ? 'ieee8021ad' : 'vlan', e);
      p += VLAN_TAG_LEN;
      t = be16(b, p);
      n++;
    }
    this.tagCount = n;
    this.innerType = t;
    this.payloadOff = p + 2;
    return WireErrc.Ok;
  }

  private fail(c: number, field: string, at: number): number {
    this.errField = field;
    this.errAt = at;
    return c;
  }

  /** A new checked view over 'bytes'; throws `WireError` if `check()` fails. */
  static checked(bytes: Uint8Array, off = 0, end = bytes.length): EthernetFrame {
    return checkOrThrow(new EthernetFrame().reset(bytes, off, end), 'eth');
  }

  /** Offset of eth.dst's first byte. */
  dstOffset(): number { return this.off + DST; }
  /** Offset of eth.src's first byte. */
  srcOffset(): number { return this.off + SRC; }
  /** eth.dst, top 16 bits */
  dstHi16(): number { return be16(this.bytes, this.off + DST); }
  /** eth.dst, low 32 bits (unsigned) */
  dstLo32(): number { return be32(this.bytes, this.off + DST + 2); }
  /** eth.src, top 16 bits */
  srcHi16(): number { return be16(this.bytes, this.off + SRC); }
  /** eth.src, low 32 bits (unsigned) */
  srcLo32(): number { return be32(this.bytes, this.off + SRC + 2); }
  /** eth.dst.ig: group (multicast/broadcast) address */
  dstIsGroup(): boolean { return (this.bytes[this.off + DST]! & 1) !== 0; }
  /** eth.type: the outer type field (a TPID when tagged; an 802.3 length below 0x0600) */
  etherType(): number { return be16(this.bytes, this.off + TYPE); }
  /** True when, after `check()`, the innermost type field is an 802.3 length (eth.len/vlan.len). */
  isLengthField(): boolean { return this.innerType < ETH_TYPE_MIN; }
  /** Offset of the innermost type field (valid after `check()`). */
  innerTypeOffset(): number { return this.payloadOff - 2; }
  /** Offset of the first payload byte (valid after `check()`). */
  payloadOffset(): number { return this.payloadOff; }

  /** TPID of tag 'i' (0 = outermost; 'i' < `tagCount`). */
  tagTpid(i: number): number { return be16(this.bytes, this.off + TYPE + VLAN_TAG_LEN * i); }
  /** TCI of tag 'i' (vlan.priority | vlan.dei | vlan.id). */
  tagTci(i: number): number { return be16(this.bytes, this.off + TYPE + 2 + VLAN_TAG_LEN * i); }
  /** vlan.priority of tag 'i' (PCP, 3 bits) */
  tagPcp(i: number): number { return this.bytes[this.off + TYPE + 2 + VLAN_TAG_LEN * i]! >>> 5; }
  /** vlan.dei of tag 'i' (1 bit) */
  tagDei(i: number): number { return (this.bytes[this.off + TYPE + 2 + VLAN_TAG_LEN * i]! >>> 4) & 1; }
  /** vlan.id of tag 'i' (12 bits) */
  tagVid(i: number): number { return this.tagTci(i) & 0x0fff; }

  /** Copy six bytes from 'src' at 'srcOff' into eth.dst. */
  setDst(src: Uint8Array, srcOff: number): void { this.copyMac(src, srcOff, this.off + DST); }
  /** Copy six bytes from 'src' at 'srcOff' into eth.src. */
  setSrc(src: Uint8Array, srcOff: number): void { this.copyMac(src, srcOff, this.off + SRC); }
  /** Set eth.dst from its (hi16, lo32) form. */
  setDstHiLo(hi16: number, lo32: number): void {
    setBe16(this.bytes, this.off + DST, hi16);
    setBe32(this.bytes, this.off + DST + 2, lo32);
  }
  /** Set eth.src from its (hi16, lo32) form. */
  setSrcHiLo(hi16: number, lo32: number): void {
    setBe16(this.bytes, this.off + SRC, hi16);
    setBe32(this.bytes, this.off + SRC + 2, lo32);
  }
  /** Set the outer type field; invalidates `check()`. */
  setEtherType(v: number): void { setBe16(this.bytes, this.off + TYPE, v); }
  /** Set tag 'i''s TPID; invalidates `check()`. */
  setTagTpid(i: number, v: number): void { setBe16(this.bytes, this.off + TYPE + VLAN_TAG_LEN * i, v); }
  /** Set tag 'i''s whole TCI. */
  setTagTci(i: number, v: number): void { setBe16(this.bytes, this.off + TYPE + 2 + VLAN_TAG_LEN * i, v); }
  /** Set the innermost type field (valid after `check()`). */
  setInnerType(v: number): void { setBe16(this.bytes, this.payloadOff - 2, v); }

  private copyMac(src: Uint8Array, srcOff: number, at: number): void {
    const b = this.bytes;
    b[at] = src[srcOff]!;
    b[at + 1] = src[srcOff + 1]!;
    b[at + 2] = src[srcOff + 2]!;
    b[at + 3] = src[srcOff + 3]!;
    b[at + 4] = src[srcOff + 4]!;
    b[at + 5] = src[srcOff + 5]!;
  }
}

/**
 * One VLAN tag as Wireshark's `vlan`/`ieee8021ad` layer sees it: the 4 bytes
 * after the TPID (TCI, then the inner type). 'off' is the TCI's offset.
 * `check()` returns 0 when those 4 bytes are in bounds.
 */
export class VlanTag {
  bytes: Uint8Array = EMPTY;
  off = 0;
  end = 0;
  errAt = -1;
  errField = '';

  reset(bytes: Uint8Array, off: number, end: number): this {
    this.bytes = bytes;
    this.off = off;
    this.end = end;
    this.errAt = -1;
    this.errField = '';
    return this;
  }

  /** 0 when TCI and inner type are in bounds. */
  check(): number {
    const o = this.off;
    if (this.end - o < VLAN_TAG_LEN) {
      this.errField = 'vlan';
      this.errAt = o < this.end ? this.end : o;
      return WireErrc.Truncated;
    }
    return WireErrc.Ok;
  }

  /** The whole 16-bit TCI */
  tci(): number { return be16(this.bytes, this.off); }
  /** vlan.priority (PCP) */
  pcp(): number { return this.bytes[this.off]! >>> 5; }
  /** vlan.dei */
  dei(): number { return (this.bytes[this.off]! >>> 4) & 1; }
  /** vlan.id */
  vid(): number { return be16(this.bytes, this.off) & 0x0fff; }
  /** vlan.etype (or vlan.len below 0x0600) */
  innerType(): number { return be16(this.bytes, this.off + 2); }
  /** Offset of the first byte after the tag. */
  payloadOffset(): number { return this.off + VLAN_TAG_LEN; }

  setTci(v: number): void { setBe16(this.bytes, this.off, v); }
  setPcp(v: number): void { this.bytes[this.off] = (this.bytes[this.off]! & 0x1f) | ((v & 7) << 5); }
  setDei(v: number): void { this.bytes[this.off] = (this.bytes[this.off]! & 0xef) | ((v & 1) << 4); }
  setVid(v: number): void { setBe16(this.bytes, this.off, (be16(this.bytes, this.off) & 0xf000) | (v & 0x0fff)); }
  setInnerType(v: number): void { setBe16(this.bytes, this.off + 2, v); }
}

/** One VLAN tag as values. */
export interface VlanRepr {
  /** 0x8100, 0x88a8 or 0x9100 */
  tpid: number;
  pcp: number;
  dei: number;
  vid: number;
}

/** An Ethernet II header with its VLAN tags (outermost first). */
export interface EthernetRepr {
  dst: Uint8Array;
  src: Uint8Array;
  vlans: VlanRepr[];
  /** The innermost EtherType (>= 0x0600). */
  ethertype: number;
}

export const EthernetRepr = {
  /** Read a frame view; throws `WireError` if it does not check or is an 802.3 length frame. */
  parse(f: EthernetFrame): EthernetRepr {
    checkOrThrow(f, 'eth');
    if (f.isLengthField()) {
      throw wireError(WireErrc.Unsupported, 'eth', f.tagCount === 0 ? 'eth.len' : 'vlan.len', f.innerTypeOffset(),
        `eth: 802.3 length frames (LLC) are not supported (length ${f.innerType}) at offset ${f.innerTypeOffset()}`);
    }
    const b = f.bytes;
    const vlans: VlanRepr[] = [];
    for (let i = 0; i < f.tagCount; i++) {
      vlans.push({ tpid: f.tagTpid(i), pcp: f.tagPcp(i), dei: f.tagDei(i), vid: f.tagVid(i) });
    }
    return {
      dst: b.slice(f.dstOffset(), f.dstOffset() + 6),
      src: b.slice(f.srcOffset(), f.srcOffset() + 6),
      vlans,
      ethertype: f.innerType,
    };
  },
  /** Header bytes `emit` writes: 14 plus 4 per tag. */
  bufferLen(r: EthernetRepr): number {
    return ETH_HEADER_LEN + VLAN_TAG_LEN * r.vlans.length;
  },
  /**
   * Write the header at 'f.off' (the payload goes at `f.off + bufferLen(r)`).
   * Throws `WireError` (WIRE_BAD_VALUE) for a MAC that is not 6 bytes or a
   * tag whose TPID is not a VLAN TPID, since the result would not parse back.
   */
  emit(r: EthernetRepr, f: EthernetFrame): void {
    if (r.dst.length !== 6) throw wireError(WireErrc.BadValue, 'eth', 'eth.dst', f.off);
    if (r.src.length !== 6) throw wireError(WireErrc.BadValue, 'eth', 'eth.src', f.off + SRC);
    f.setDst(r.dst, 0);
    f.setSrc(r.src, 0);
    for (let i = 0; i < r.vlans.length; i++) {
      const v = r.vlans[i]!;
      if (!isVlanTpid(v.tpid)) throw wireError(WireErrc.BadValue, 'eth', 'vlan.etype', f.off + TYPE + VLAN_TAG_LEN * i);
      f.setTagTpid(i, v.tpid);
      f.setTagTci(i, ((v.pcp & 7) << 13) | ((v.dei & 1) << 12) | (v.vid & 0x0fff));
    }
    const typeAt = f.off + TYPE + VLAN_TAG_LEN * r.vlans.length;
    if (r.ethertype < ETH_TYPE_MIN || r.ethertype > 0xffff) throw wireError(WireErrc.BadValue, 'eth', 'eth.type', typeAt);
    setBe16(f.bytes, typeAt, r.ethertype);
  },
};
