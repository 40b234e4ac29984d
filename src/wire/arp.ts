/**
 * ARP (RFC 826) — view and Repr (wire layer; the view is fast path).
 *
 * What: `ArpPacket`, a reusable cursor over (bytes, off, end) that reads and
 * writes an ARP packet in place, and `ArpRepr`, a plain record for the one
 * kind sdnemu speaks: Ethernet hardware addresses over IPv4 (htype 1, ptype
 * 0x0800, hlen 6, plen 4 — 28 bytes).
 * Layout: 8 fixed bytes (ar$hrd, ar$pro, ar$hln, ar$pln, ar$op), then sender
 * hardware address (hlen bytes), sender protocol address (plen), target
 * hardware address (hlen), target protocol address (plen). The address
 * offsets therefore depend on hlen/plen.
 * Safety contract: `reset()` inspects nothing. `check()` returns 0 when the
 * fixed part and all four addresses, at the sizes the packet declares, are
 * inside [off, end); the generic accessors (`hwType()`…`tpaOffset()`) are
 * then safe for any sizes. The Ethernet/IPv4 accessors (`shaHi16()`, `spa()`,
 * …) read fixed offsets and are meaningful only when `isEthIpv4()` — they
 * stay in bounds then, because check() proved 28 bytes. `setHwSize()` /
 * `setProtoSize()` invalidate a previous `check()`.
 * `ArpRepr.parse` rejects other address sizes and types with
 * WIRE_UNSUPPORTED naming the field at fault. The ARP packet ends at
 * `off + packetLen()`; what follows in the frame is Ethernet padding.
 * Cost: accessors are a few integer ops; nothing allocates except `Repr`s.
 * Neighbours: dissect/arp.ts (`arp.*` fields), extract.ts (arp_spa/arp_tpa in
 * the flow key), netstack's ARP cache and the datapath's set(arp()) action.
 */
import { EMPTY, be16, be32, setBe16, setBe32 } from './bytes.js';
import type { WireError } from '../errors.js';
import { checkOrThrow, WireErrc, wireError } from './errc.js';

const HRD = 0, PRO = 2, HLN = 4, PLN = 5, OP = 6;
/** Fixed part before the addresses. */
export const ARP_FIXED_LEN = 8;
/** An Ethernet/IPv4 ARP packet. */
export const ARP_ETH_IPV4_LEN = 28;

export const ARP_HRD_ETHERNET = 1;
export const ARP_HRD_IEEE802 = 6;
export const ARP_PRO_IPV4 = 0x0800;

export const ARP_OP_REQUEST = 1;
export const ARP_OP_REPLY = 2;
export const ARP_OP_RREQUEST = 3;
export const ARP_OP_RREPLY = 4;

// fixed offsets of the Ethernet/IPv4 form
const SHA = 8, SPA = 14, THA = 18, TPA = 24;

export class ArpPacket {
  bytes: Uint8Array = EMPTY;
  off = 0;
  end = 0;
  /** Absolute offset of the fault found by the last `check()`, -1 if none. */
  errAt = -1;
  /** Wireshark field at fault after a failed `check()`. */
  errField = '';

  reset(bytes: Uint8Array, off: number, end: number): this {
    this.bytes = bytes;
    this.off = off;
    this.end = end;
    this.errAt = -1;
    this.errField = '';
    return this;
  }

  /** 0 when the fixed part and the four addresses fit; invalidated by `setHwSize()`/`setProtoSize()`. */
  check(): number {
    const o = this.off, e = this.end;
    if (e - o < ARP_FIXED_LEN) return this.fail(WireErrc.Truncated, 'arp', o < e ? e : o);
    const b = this.bytes;
    if (e - o < ARP_FIXED_LEN + 2 * (b[o + HLN]! + b[o + PLN]!)) return this.fail(WireErrc.Truncated, 'arp', e);
    return WireErrc.Ok;
  }

  private fail(c: number, field: string, at: number): number {
    this.errField = field;
    this.errAt = at;
    return c;
  }

  /** A new checked view over 'bytes'; throws `WireError` if `check()` fails. */
  static checked(bytes: Uint8Array, off = 0, end = bytes.length): ArpPacket {
    return checkOrThrow(new ArpPacket().reset(bytes, off, end), 'arp');
  }

  /** arp.hw.type (ar$hrd) */
  hwType(): number { return be16(this.bytes, this.off + HRD); }
  /** arp.proto.type (ar$pro) */
  protoType(): number { return be16(this.bytes, this.off + PRO); }
  /** arp.hw.size (ar$hln) */
  hwSize(): number { return this.bytes[this.off + HLN]!; }
  /** arp.proto.size (ar$pln) */
  protoSize(): number { return this.bytes[this.off + PLN]!; }
  /** arp.opcode (ar$op) */
  opcode(): number { return be16(this.bytes, this.off + OP); }
  /** Bytes of the whole ARP packet at its declared sizes. */
  packetLen(): number { return ARP_FIXED_LEN + 2 * (this.hwSize() + this.protoSize()); }
  /** Offset of the sender hardware address (arp.src.hw_mac). */
  shaOffset(): number { return this.off + ARP_FIXED_LEN; }
  /** Offset of the sender protocol address (arp.src.proto_ipv4). */
  spaOffset(): number { return this.off + ARP_FIXED_LEN + this.hwSize(); }
  /** Offset of the target hardware address (arp.dst.hw_mac). */
  thaOffset(): number { return this.off + ARP_FIXED_LEN + this.hwSize() + this.protoSize(); }
  /** Offset of the target protocol address (arp.dst.proto_ipv4). */
  tpaOffset(): number { return this.off + ARP_FIXED_LEN + 2 * this.hwSize() + this.protoSize(); }
  /** True for the Ethernet (or IEEE 802) / IPv4 form with 6- and 4-byte addresses. */
  isEthIpv4(): boolean {
    const h = this.hwType();
    return (h === ARP_HRD_ETHERNET || h === ARP_HRD_IEEE802) && this.protoType() === ARP_PRO_IPV4 &&
      this.hwSize() === 6 && this.protoSize() === 4;
  }

  // Ethernet/IPv4 form only (see isEthIpv4()).
  /** arp.src.hw_mac, top 16 bits */
  shaHi16(): number { return be16(this.bytes, this.off + SHA); }
  /** arp.src.hw_mac, low 32 bits */
  shaLo32(): number { return be32(this.bytes, this.off + SHA + 2); }
  /** arp.src.proto_ipv4 */
  spa(): number { return be32(this.bytes, this.off + SPA); }
  /** arp.dst.hw_mac, top 16 bits */
  thaHi16(): number { return be16(this.bytes, this.off + THA); }
  /** arp.dst.hw_mac, low 32 bits */
  thaLo32(): number { return be32(this.bytes, this.off + THA + 2); }
  /** arp.dst.proto_ipv4 */
  tpa(): number { return be32(this.bytes, this.off + TPA); }

  setHwType(v: number): void { setBe16(this.bytes, this.off + HRD, v); }
  setProtoType(v: number): void { setBe16(this.bytes, this.off + PRO, v); }
  /** Invalidates `check()`. */
  setHwSize(v: number): void { this.bytes[this.off + HLN] = v; }
  /** Invalidates `check()`. */
  setProtoSize(v: number): void { this.bytes[this.off + PLN] = v; }
  setOpcode(v: number): void { setBe16(this.bytes, this.off + OP, v); }
  setShaHiLo(hi16: number, lo32: number): void {
    setBe16(this.bytes, this.off + SHA, hi16);
    setBe32(this.bytes, this.off + SHA + 2, lo32);
  }
  setSpa(v: number): void { setBe32(this.bytes, this.off + SPA, v); }
  setThaHiLo(hi16: number, lo32: number): void {
    setBe16(this.bytes, this.off + THA, hi16);
    setBe32(this.bytes, this.off + THA + 2, lo32);
  }
  setTpa(v: number): void { setBe32(this.bytes, this.off + TPA, v); }
  /** Copy a 6-byte MAC from 'src' at 'srcOff' into the sender hardware address. */
  setSha(src: Uint8Array, srcOff: number): void { copy6(src, srcOff, this.bytes, this.off + SHA); }
  /** Copy a 6-byte MAC from 'src' at 'srcOff' into the target hardware address. */
  setTha(src: Uint8Array, srcOff: number): void { copy6(src, srcOff, this.bytes, this.off + THA); }
}

/** An Ethernet/IPv4 ARP packet as values. */
export interface ArpRepr {
  opcode: number;
  /** sender hardware address, 6 bytes */
  sha: Uint8Array;
  /** sender protocol address (uint32) */
  spa: number;
  /** target hardware address, 6 bytes */
  tha: Uint8Array;
  /** target protocol address (uint32) */
  tpa: number;
}

export const ArpRepr = {
  /** Read a view; throws `WireError` if it does not check or is not Ethernet/IPv4. */
  parse(p: ArpPacket): ArpRepr {
    checkOrThrow(p, 'arp');
    const h = p.hwType();
    if (h !== ARP_HRD_ETHERNET && h !== ARP_HRD_IEEE802) throw unsupported('arp.hw.type', p.off + HRD, h);
    if (p.protoType() !== ARP_PRO_IPV4) throw unsupported('arp.proto.type', p.off + PRO, p.protoType());
    if (p.hwSize() !== 6) throw unsupported('arp.hw.size', p.off + HLN, p.hwSize());
    if (p.protoSize() !== 4) throw unsupported('arp.proto.size', p.off + PLN, p.protoSize());
    const b = p.bytes, o = p.off;
    return {
      opcode: p.opcode(),
      sha: b.slice(o + SHA, o + SHA + 6),
      spa: p.spa(),
      tha: b.slice(o + THA, o + THA + 6),
      tpa: p.tpa(),
    };
  },
  bufferLen(_r: ArpRepr): number {
    return ARP_ETH_IPV4_LEN;
  },
  /** Write the 28-byte Ethernet/IPv4 packet at 'p.off'. Throws `WireError` for a MAC that is not 6 bytes. */
  emit(r: ArpRepr, p: ArpPacket): void {
    if (r.sha.length !== 6) throw wireError(WireErrc.BadValue, 'arp', 'arp.src.hw_mac', p.off + SHA);
    if (r.tha.length !== 6) throw wireError(WireErrc.BadValue, 'arp', 'arp.dst.hw_mac', p.off + THA);
    p.setHwType(ARP_HRD_ETHERNET);
    p.setProtoType(ARP_PRO_IPV4);
    p.setHwSize(6);
    p.setProtoSize(4);
    p.setOpcode(r.opcode);
    p.setSha(r.sha, 0);
    p.setSpa(r.spa);
    p.setTha(r.tha, 0);
    p.setTpa(r.tpa);
  },
};

function copy6(src: Uint8Array, so: number, dst: Uint8Array, at: number): void {
  for (let i = 0; i < 6; i++) dst[at + i] = src[so + i]!;
}

function unsupported(field: string, at: number, v: number): WireError {
  return wireError(WireErrc.Unsupported, 'arp', field, at,
    `arp: only Ethernet/IPv4 ARP is supported (${field} ${v}) at offset ${at}`);
}
