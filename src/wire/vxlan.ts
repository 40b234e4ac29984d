/**
 * VXLAN (RFC 7348) — view, Repr and in-place encapsulation (wire layer; the
 * view and `pushVxlan` are fast path).
 *
 * What: `VxlanPacket`, a reusable cursor over the 8-byte VXLAN header
 * (`flags:8 reserved:24 vni:24 reserved:8`); `VxlanRepr`, a plain record that
 * `parse`s from a view and `emit`s into one; `pushVxlan`, which writes a VXLAN
 * header in front of an inner frame already sitting in a buffer with headroom.
 * Why headroom: encapsulation happens per packet in the datapath (tnl_push).
 * Builders leave `VXLAN_ENCAP_OVERHEAD` (outer Ethernet 14 + IPv4 20 + UDP 8 +
 * VXLAN 8 = 50 bytes, the `header(size=50,…)` OVS prints) free in front of
 * the inner frame, so pushing the outer headers writes backwards and the inner
 * frame is never copied. The outer UDP/IP/Ethernet headers are pushed by
 * their own codecs; this module only knows its 8 bytes.
 * The I flag: RFC 7348 says the I flag MUST be 1 for a valid VNI. Linux
 * (`vxlan_rcv`: "invalid vxlan flags") drops a packet without it; Wireshark
 * 4.0.17 decodes it anyway, with `vxlan.flag_i` = 0 and no expert info
 * (checked with tshark). So: `check()` is about bounds only and the view
 * still reads such a header; `VxlanRepr.parse` rejects it (WIRE_BAD_VALUE,
 * field `vxlan.flags`, at the flags byte), as the receiving VTEP would; the
 * dissector shows it as Wireshark does.
 * Reserved bits are kept in the Repr (`reserved24`, `reserved8`), so
 * `emit(parse(x))` reproduces `x` byte for byte, extensions such as GBP
 * (the G bit and policy id in the first reserved bits) included.
 * Safety contract: as udp.ts — `reset()` inspects nothing; `check()` returns
 * 0 when the 8 header bytes lie inside [off, end), else a `WireErrc` with
 * `errAt`/`errField` set. Nothing invalidates it (no length field).
 * Cost: accessors are a few integer ops; nothing allocates except `Repr`s.
 * Neighbours: udp.ts below (the UDP destination port `VXLAN_PORT`), the inner
 * Ethernet frame above; dissect/vxlan.ts shows it; the VTEP and the datapath's
 * tunnel actions push and pop it.
 */
import { EMPTY, be24, setBe24 } from './bytes.js';
import { checkOrThrow, WireErrc, wireError } from './errc.js';

/**
 * A VXLAN (or Geneve) Network Identifier, 24 bits. Branded so a VNI is not
 * mixed up with a port or a VLAN id; free at runtime (a plain number).
 */
export type Vni = number & { readonly __brand: 'Vni' };

export const VNI_MAX = 0xffffff;

/** 'n' as a `Vni` (no check; see `isVni`). */
export function asVni(n: number): Vni {
  return n as Vni;
}

/** True when 'n' is an integer in 0..2^24-1. */
export function isVni(n: number): n is Vni {
  return Number.isInteger(n) && n >= 0 && n <= VNI_MAX;
}

const FLAGS = 0, RESERVED24 = 1, VNI = 4, RESERVED8 = 7;
export const VXLAN_HEADER_LEN = 8;
/** IANA-assigned UDP destination port (Linux's legacy default is 8472). */
export const VXLAN_PORT = 4789;
/** The I flag: the VNI field is valid. */
export const VXLAN_FLAG_I = 0x08;
/** Outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8: headroom a builder leaves for a VXLAN push. */
export const VXLAN_ENCAP_OVERHEAD = 50;

export class VxlanPacket {
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

  /** 0 when the 8-byte header is inside [off, end). The I flag is not checked here (see the module comment). */
  check(): number {
    const o = this.off;
    if (this.end - o < VXLAN_HEADER_LEN) {
      this.errField = 'vxlan';
      this.errAt = o < this.end ? this.end : o;
      return WireErrc.Truncated;
    }
    return WireErrc.Ok;
  }

  /** A new checked view over 'bytes'; throws `WireError` if `check()` fails. */
  static checked(bytes: Uint8Array, off = 0, end = bytes.length): VxlanPacket {
    return checkOrThrow(new VxlanPacket().reset(bytes, off, end), 'vxlan');
  }

  /** The flags byte (RFC 7348 `R R R R I R R R`); vxlan.flags is this byte and the next as 16 bits. */
  flags(): number { return this.bytes[this.off + FLAGS]!; }
  /** vxlan.flag_i: the VNI is valid. */
  flagI(): boolean { return (this.bytes[this.off + FLAGS]! & VXLAN_FLAG_I) !== 0; }
  /** The 24 reserved bits after the flags byte (vxlan.gbp is their low 16 bits). */
  reserved24(): number { return be24(this.bytes, this.off + RESERVED24); }
  /** vxlan.vni */
  vni(): Vni { return be24(this.bytes, this.off + VNI) as Vni; }
  /** vxlan.reserved8: the last reserved byte. */
  reserved8(): number { return this.bytes[this.off + RESERVED8]!; }
  /** Offset of the inner Ethernet frame. */
  payloadOffset(): number { return this.off + VXLAN_HEADER_LEN; }

  setFlags(v: number): void { this.bytes[this.off + FLAGS] = v; }
  setReserved24(v: number): void { setBe24(this.bytes, this.off + RESERVED24, v); }
  /** Writes the low 24 bits of 'v'. */
  setVni(v: number): void { setBe24(this.bytes, this.off + VNI, v); }
  setReserved8(v: number): void { this.bytes[this.off + RESERVED8] = v; }
}

/**
 * Write a standard VXLAN header (I flag set, reserved bits zero, VNI 'vni')
 * into the 8 bytes before 'innerOff' in 'buf', where an inner Ethernet frame
 * starts. The inner frame is not touched or copied.
 * Returns the header's offset (`innerOff - 8`), the new start of the packet,
 * or -1 when there are fewer than 8 bytes of headroom (the fast path never
 * throws; the caller drops the packet). Only the low 24 bits of 'vni' are
 * written: callers hold a `Vni` (checked with `asVni` where it entered).
 * Only the VXLAN header: the outer Ethernet/IPv4/UDP headers are the
 * datapath's tunnel push (a per-port header template, as OVS's tnl_push).
 */
export function pushVxlan(buf: Uint8Array, innerOff: number, vni: number): number {
  const o = innerOff - VXLAN_HEADER_LEN;
  if (o < 0 || innerOff > buf.length) return -1;
  buf[o] = VXLAN_FLAG_I;
  buf[o + 1] = 0;
  buf[o + 2] = 0;
  buf[o + 3] = 0;
  setBe24(buf, o + VNI, vni);
  buf[o + RESERVED8] = 0;
  return o;
}

/** A VXLAN header as values. */
export interface VxlanRepr {
  /** The flags byte; 0x08 (I) for every valid header. */
  flags: number;
  /** The 24 reserved bits after the flags, normally 0. */
  reserved24: number;
  vni: Vni;
  /** The reserved byte after the VNI, normally 0. */
  reserved8: number;
}

export const VxlanRepr = {
  /** The standard header for 'vni': I flag set, reserved bits zero. */
  of(vni: number): VxlanRepr {
    return { flags: VXLAN_FLAG_I, reserved24: 0, vni: vni as Vni, reserved8: 0 };
  },
  /** Read a checked view; throws `WireError` if it does not check or the I flag is clear. */
  parse(p: VxlanPacket): VxlanRepr {
    checkOrThrow(p, 'vxlan');
    if (!p.flagI()) {
      throw wireError(WireErrc.BadValue, 'vxlan', 'vxlan.flags', p.off + FLAGS,
        `vxlan: I flag clear (flags 0x${p.flags().toString(16).padStart(2, '0')}): no valid VNI (vxlan.flags) at offset ${p.off + FLAGS}`);
    }
    return { flags: p.flags(), reserved24: p.reserved24(), vni: p.vni(), reserved8: p.reserved8() };
  },
  /** Header bytes `emit` writes. */
  bufferLen(_r: VxlanRepr): number {
    return VXLAN_HEADER_LEN;
  },
  /**
   * Write the header at 'p.off' (the inner frame follows it). Throws
   * `WireError`: WIRE_BAD_VALUE for a VNI or reserved value out of range
   * (rather than writing its low bits silently), WIRE_TRUNCATED when
   * [p.off, p.end) has no room for 8 bytes.
   */
  emit(r: VxlanRepr, p: VxlanPacket): void {
    if (p.end - p.off < VXLAN_HEADER_LEN) throw wireError(WireErrc.Truncated, 'vxlan', 'vxlan', p.end);
    if (!isVni(r.vni)) throw wireError(WireErrc.BadValue, 'vxlan', 'vxlan.vni', p.off + VNI, `vxlan: VNI ${r.vni} is not in 0..16777215`);
    if (!isUint(r.flags, 0xff)) throw wireError(WireErrc.BadValue, 'vxlan', 'vxlan.flags', p.off + FLAGS);
    if (!isUint(r.reserved24, 0xffffff)) throw wireError(WireErrc.BadValue, 'vxlan', 'vxlan.flags', p.off + RESERVED24);
    if (!isUint(r.reserved8, 0xff)) throw wireError(WireErrc.BadValue, 'vxlan', 'vxlan.reserved8', p.off + RESERVED8);
    p.setFlags(r.flags);
    p.setReserved24(r.reserved24);
    p.setVni(r.vni);
    p.setReserved8(r.reserved8);
  },
};

function isUint(v: number, max: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= max;
}
