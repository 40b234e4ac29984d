/**
 * Geneve (RFC 8926) — view, Repr and in-place encapsulation (wire layer; the
 * view and `pushGeneve` are fast path).
 *
 * What: `GenevePacket`, a reusable cursor over the Geneve header
 *
 *     |Ver|  Opt Len  |O|C|    Rsvd.  |          Protocol Type        |
 *     |        Virtual Network Identifier (VNI)       |    Reserved   |
 *     |                    Variable-Length Options                    |
 *
 * whose options are TLVs (`class:16 type:8 R:3 length:5`, type bit 0x80 =
 * critical, lengths in 4-byte words not counting the 4-byte option header);
 * `GeneveRepr`, a plain record with the options as a list; `pushGeneve`, which
 * writes an option-less header in front of an inner frame with headroom
 * (see vxlan.ts for why headroom).
 * Options without allocation: `check()` walks the TLVs once and proves every
 * option lies inside the options area; afterwards a caller iterates with
 * `for (let o = p.optionsOffset(); o < p.optionsEnd(); o = p.optionEnd(o))`
 * and reads `optionClass(o)`, `optionType(o)`, `optionDataOffset(o)` — offsets,
 * never subarrays.
 * Safety contract: as udp.ts. `check()` returns 0 when the 8 fixed bytes and
 * the `Opt Len` options are inside [off, end) and every option's length stays
 * inside the options area; else WIRE_TRUNCATED (fewer than 8 bytes),
 * WIRE_BAD_HDR_LEN (`geneve.option.length` of the header points past the
 * end, at the first byte) or WIRE_BAD_OPTION (at the offending option's
 * first byte). `setOptLen()` and any write to an option's length byte
 * invalidate it. The version is not part of `check()` (a bounds proof);
 * `GeneveRepr.parse` rejects version ≠ 0 as RFC 8926 §3.4 requires
 * ("MUST be dropped"), and fast-path readers test `version() === 0`.
 * Wireshark shows an unknown version with an expert note and goes on; so does
 * dissect/geneve.ts.
 * Cost: accessors a few integer ops; `check()` one pass over the option
 * headers; nothing allocates except `Repr`s.
 * Neighbours: udp.ts below (port `GENEVE_PORT`); above it an Ethernet frame
 * (protocol type 0x6558) or any EtherType; vxlan.ts owns the `Vni` type.
 */
import { EMPTY, be16, be24, setBe16, setBe24 } from './bytes.js';
import { checkOrThrow, WireErrc, wireError } from './errc.js';
import { isVni, type Vni } from './vxlan.js';

const VER_OPTLEN = 0, FLAGS = 1, PROTOCOL_TYPE = 2, VNI = 4, RESERVED = 7;
export const GENEVE_HEADER_LEN = 8;
/** IANA-assigned UDP destination port. */
export const GENEVE_PORT = 6081;
/** Protocol type of an Ethernet payload (Transparent Ethernet Bridging). */
export const ETH_TYPE_TEB = 0x6558;
export const GENEVE_FLAG_OAM = 0x80;
export const GENEVE_FLAG_CRITICAL = 0x40;
/** The critical bit of an option's type. */
export const GENEVE_OPT_CRITICAL = 0x80;
/** Option header bytes (class, type, flags+length). */
export const GENEVE_OPT_HEADER_LEN = 4;
/** Largest options area: 63 words. */
export const GENEVE_MAX_OPTIONS_LEN = 252;
/** Largest option data: 31 words. */
export const GENEVE_MAX_OPTION_DATA_LEN = 124;
/** Outer Ethernet 14 + IPv4 20 + UDP 8 + Geneve 8, without options. */
export const GENEVE_ENCAP_OVERHEAD = 50;

export class GenevePacket {
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

  /**
   * 0 when the header and its options are inside [off, end) and every option
   * fits the options area; invalidated by `setOptLen()` and by writes to an
   * option's length byte.
   */
  check(): number {
    const b = this.bytes, o = this.off;
    if (this.end - o < GENEVE_HEADER_LEN) return this.fail(WireErrc.Truncated, 'geneve', o < this.end ? this.end : o);
    const optEnd = o + GENEVE_HEADER_LEN + (b[o + VER_OPTLEN]! & 0x3f) * 4;
    if (optEnd > this.end) return this.fail(WireErrc.Truncated, 'geneve.option.length', this.end); // options cut at 'end'
    let x = o + GENEVE_HEADER_LEN;
    while (x < optEnd) {
      // the options area is a whole number of words, so an option header always fits
      const next = x + GENEVE_OPT_HEADER_LEN + (b[x + 3]! & 0x1f) * 4;
      if (next > optEnd) return this.fail(WireErrc.BadOption, 'geneve.option.length', x);
      x = next;
    }
    return WireErrc.Ok;
  }

  private fail(c: number, field: string, at: number): number {
    this.errField = field;
    this.errAt = at;
    return c;
  }

  /** A new checked view over 'bytes'; throws `WireError` if `check()` fails. */
  static checked(bytes: Uint8Array, off = 0, end = bytes.length): GenevePacket {
    return checkOrThrow(new GenevePacket().reset(bytes, off, end), 'geneve');
  }

  /** geneve.version (2 bits; 0 is the only one defined). */
  version(): number { return this.bytes[this.off + VER_OPTLEN]! >>> 6; }
  /** Opt Len: options length in 4-byte words (geneve.option.length shows it in bytes). */
  optLen(): number { return this.bytes[this.off + VER_OPTLEN]! & 0x3f; }
  /** geneve.flags: the whole flags byte (O, C and 6 reserved bits). */
  flags(): number { return this.bytes[this.off + FLAGS]!; }
  /** geneve.flags.oam */
  oam(): boolean { return (this.bytes[this.off + FLAGS]! & GENEVE_FLAG_OAM) !== 0; }
  /** geneve.flags.critical: some option has its critical bit set. */
  critical(): boolean { return (this.bytes[this.off + FLAGS]! & GENEVE_FLAG_CRITICAL) !== 0; }
  /** geneve.proto_type: EtherType of the payload. */
  protocolType(): number { return be16(this.bytes, this.off + PROTOCOL_TYPE); }
  /** geneve.vni */
  vni(): Vni { return be24(this.bytes, this.off + VNI) as Vni; }
  /** geneve.reserved: the byte after the VNI. */
  reserved(): number { return this.bytes[this.off + RESERVED]!; }
  /** Offset of the first option (== `optionsEnd()` when there are none). */
  optionsOffset(): number { return this.off + GENEVE_HEADER_LEN; }
  /** Offset one past the options. */
  optionsEnd(): number { return this.off + GENEVE_HEADER_LEN + (this.bytes[this.off + VER_OPTLEN]! & 0x3f) * 4; }
  /** Offset of the payload (the inner frame). */
  payloadOffset(): number { return this.optionsEnd(); }

  /** geneve.option.class of the option at 'o'. */
  optionClass(o: number): number { return be16(this.bytes, o); }
  /** geneve.option.type (including the critical bit 0x80). */
  optionType(o: number): number { return this.bytes[o + 2]!; }
  /** geneve.option.type.critical */
  optionCritical(o: number): boolean { return (this.bytes[o + 2]! & GENEVE_OPT_CRITICAL) !== 0; }
  /** geneve.option.flags: the 3 reserved bits (R R R). */
  optionFlags(o: number): number { return this.bytes[o + 3]! >>> 5; }
  /** Option data length in 4-byte words (geneve.option.length shows 4 + 4 × this, in bytes). */
  optionLen(o: number): number { return this.bytes[o + 3]! & 0x1f; }
  /** Offset of the option's data. */
  optionDataOffset(o: number): number { return o + GENEVE_OPT_HEADER_LEN; }
  /** Offset one past the option at 'o': the next option, or `optionsEnd()`. */
  optionEnd(o: number): number { return o + GENEVE_OPT_HEADER_LEN + (this.bytes[o + 3]! & 0x1f) * 4; }

  setVersion(v: number): void {
    const o = this.off + VER_OPTLEN;
    this.bytes[o] = (this.bytes[o]! & 0x3f) | ((v & 3) << 6);
  }
  /** Options length in words; invalidates `check()`. */
  setOptLen(words: number): void {
    const o = this.off + VER_OPTLEN;
    this.bytes[o] = (this.bytes[o]! & 0xc0) | (words & 0x3f);
  }
  setFlags(v: number): void { this.bytes[this.off + FLAGS] = v; }
  setProtocolType(v: number): void { setBe16(this.bytes, this.off + PROTOCOL_TYPE, v); }
  /** Writes the low 24 bits of 'v'. */
  setVni(v: number): void { setBe24(this.bytes, this.off + VNI, v); }
  setReserved(v: number): void { this.bytes[this.off + RESERVED] = v; }
}

/**
 * Write an option-less Geneve header (version 0, no flags, protocol type
 * 'protocolType', VNI 'vni') into the 8 bytes before 'innerOff' in 'buf'.
 * Returns the header's offset, or -1 when there is not enough headroom.
 */
export function pushGeneve(buf: Uint8Array, innerOff: number, vni: number, protocolType: number = ETH_TYPE_TEB): number {
  const o = innerOff - GENEVE_HEADER_LEN;
  if (o < 0 || innerOff > buf.length) return -1;
  buf[o] = 0;
  buf[o + FLAGS] = 0;
  setBe16(buf, o + PROTOCOL_TYPE, protocolType);
  setBe24(buf, o + VNI, vni);
  buf[o + RESERVED] = 0;
  return o;
}

/** One Geneve option as values. 'data' is a whole number of words, at most 124 bytes. */
export interface GeneveOption {
  optClass: number;
  /** Type, including the critical bit 0x80. */
  type: number;
  /** The 3 reserved bits, normally 0. */
  flags: number;
  data: Uint8Array;
}

/** A Geneve header as values (version 0). */
export interface GeneveRepr {
  oam: boolean;
  /** The C flag as sent; `GeneveRepr.of` sets it from the options. */
  critical: boolean;
  /** The 6 reserved flag bits, normally 0. */
  reservedFlags: number;
  protocolType: number;
  vni: Vni;
  /** The byte after the VNI, normally 0. */
  reserved: number;
  options: GeneveOption[];
}

export const GeneveRepr = {
  /** A header for 'vni' carrying 'protocolType', with the C flag computed from 'options'. */
  of(vni: number, protocolType: number = ETH_TYPE_TEB, options: GeneveOption[] = []): GeneveRepr {
    let critical = false;
    for (const opt of options) if ((opt.type & GENEVE_OPT_CRITICAL) !== 0) critical = true;
    return { oam: false, critical, reservedFlags: 0, protocolType, vni: vni as Vni, reserved: 0, options };
  },
  /** An option with reserved bits clear. */
  option(optClass: number, type: number, data: Uint8Array): GeneveOption {
    return { optClass, type, flags: 0, data };
  },
  /** Read a view; throws `WireError` if it does not check or its version is not 0. */
  parse(p: GenevePacket): GeneveRepr {
    checkOrThrow(p, 'geneve');
    if (p.version() !== 0) {
      throw wireError(WireErrc.BadVersion, 'geneve', 'geneve.version', p.off + VER_OPTLEN,
        `geneve: unknown version ${p.version()} (geneve.version) at offset ${p.off + VER_OPTLEN}`);
    }
    const options: GeneveOption[] = [];
    for (let o = p.optionsOffset(); o < p.optionsEnd(); o = p.optionEnd(o)) {
      options.push({
        optClass: p.optionClass(o),
        type: p.optionType(o),
        flags: p.optionFlags(o),
        data: p.bytes.slice(p.optionDataOffset(o), p.optionEnd(o)),
      });
    }
    return {
      oam: p.oam(), critical: p.critical(), reservedFlags: p.flags() & 0x3f,
      protocolType: p.protocolType(), vni: p.vni(), reserved: p.reserved(), options,
    };
  },
  /** Bytes `emit` writes: the fixed header plus every option. */
  bufferLen(r: GeneveRepr): number {
    let n = GENEVE_HEADER_LEN;
    for (const opt of r.options) n += GENEVE_OPT_HEADER_LEN + opt.data.length;
    return n;
  },
  /**
   * Write the header and options at 'p.off' (the payload follows them).
   * Lengths are always computed from the options. Throws `WireError`:
   * WIRE_BAD_OPTION for option data that is not a whole number of words or
   * longer than 124 bytes, or an out-of-range class/type/flags;
   * WIRE_BAD_HDR_LEN when the options exceed 252 bytes; WIRE_BAD_VALUE for
   * other out-of-range values; WIRE_TRUNCATED when [p.off, p.end) is too short.
   */
  emit(r: GeneveRepr, p: GenevePacket): void {
    const o = p.off;
    const len = GeneveRepr.bufferLen(r);
    if (len - GENEVE_HEADER_LEN > GENEVE_MAX_OPTIONS_LEN) {
      throw wireError(WireErrc.BadHdrLen, 'geneve', 'geneve.option.length', o + VER_OPTLEN,
        `geneve: ${len - GENEVE_HEADER_LEN} bytes of options exceed ${GENEVE_MAX_OPTIONS_LEN} (geneve.option.length) at offset ${o}`);
    }
    if (p.end - o < len) throw wireError(WireErrc.Truncated, 'geneve', 'geneve', p.end);
    if (!isVni(r.vni)) throw wireError(WireErrc.BadValue, 'geneve', 'geneve.vni', o + VNI, `geneve: VNI ${r.vni} is not in 0..16777215`);
    if (!isUint(r.protocolType, 0xffff)) throw wireError(WireErrc.BadValue, 'geneve', 'geneve.proto_type', o + PROTOCOL_TYPE);
    if (!isUint(r.reservedFlags, 0x3f)) throw wireError(WireErrc.BadValue, 'geneve', 'geneve.flags.reserved', o + FLAGS);
    if (!isUint(r.reserved, 0xff)) throw wireError(WireErrc.BadValue, 'geneve', 'geneve.reserved', o + RESERVED);
    let x = o + GENEVE_HEADER_LEN;
    for (const opt of r.options) {
      const n = opt.data.length;
      if (n % 4 !== 0 || n > GENEVE_MAX_OPTION_DATA_LEN) {
        throw wireError(WireErrc.BadOption, 'geneve', 'geneve.option.length', x,
          `geneve: option data of ${n} bytes is not a whole number of words up to ${GENEVE_MAX_OPTION_DATA_LEN} (geneve.option.length) at offset ${x}`);
      }
      if (!isUint(opt.optClass, 0xffff)) throw wireError(WireErrc.BadOption, 'geneve', 'geneve.option.class', x);
      if (!isUint(opt.type, 0xff)) throw wireError(WireErrc.BadOption, 'geneve', 'geneve.option.type', x + 2);
      if (!isUint(opt.flags, 7)) throw wireError(WireErrc.BadOption, 'geneve', 'geneve.option.flags', x + 3);
      setBe16(p.bytes, x, opt.optClass);
      p.bytes[x + 2] = opt.type;
      p.bytes[x + 3] = (opt.flags << 5) | (n >>> 2);
      p.bytes.set(opt.data, x + GENEVE_OPT_HEADER_LEN);
      x += GENEVE_OPT_HEADER_LEN + n;
    }
    p.bytes[o + VER_OPTLEN] = (len - GENEVE_HEADER_LEN) >>> 2; // version 0
    p.setFlags((r.oam ? GENEVE_FLAG_OAM : 0) | (r.critical ? GENEVE_FLAG_CRITICAL : 0) | r.reservedFlags);
    p.setProtocolType(r.protocolType);
    p.setVni(r.vni);
    p.setReserved(r.reserved);
  },
};

function isUint(v: number, max: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= max;
}
