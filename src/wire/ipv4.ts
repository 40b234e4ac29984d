/**
 * IPv4 (RFC 791) — view and Repr (wire layer; the view is fast path).
 *
 * What: `Ipv4Packet`, a reusable cursor over (bytes, off, end) that reads and
 * writes header fields in place — including RFC 1624 incremental setters that
 * keep the header checksum right without a full pass (`decTtl()`,
 * `setSrcIncremental()`, …) — and `Ipv4Repr`, a plain record that `parse`s
 * from a view and `emit`s into one.
 * Safety contract: `reset()` inspects nothing. `checkHeader()` returns 0 when
 * the whole header (options included) is inside [off, end) and
 * self-consistent: version 4 (else WIRE_BAD_VERSION, ip.version), IHL >= 5
 * (WIRE_BAD_HDR_LEN, ip.hdr_len), header present (WIRE_TRUNCATED), total
 * length >= header length (WIRE_BAD_LENGTH, ip.len), and the option list
 * well formed: EOL ends it, NOP is one byte, every other option has a length
 * byte >= 2 that stays inside the header (else WIRE_BAD_OPTION at the
 * option's own offset). `check()` adds: total length <= bytes present
 * (else WIRE_TRUNCATED, field ip.len, at `end`: the packet was cut there). A packet quoted inside an ICMP error is cut
 * short on purpose; callers decoding one use `checkHeader()`. On failure
 * `errAt` (absolute offset) and `errField` (Wireshark field) are set.
 * `setHdrLen()`/`setTotalLength()` invalidate a previous check; do not check a
 * buffer you are about to emit into.
 * Length: the datagram ends at `payloadEnd()` = off + total length, not at
 * `end` — bytes after it are Ethernet padding.
 * Fragments: `fragOffset()` is the 13-bit field (8-byte units, what
 * ip.frag_offset prints); `fragOffsetBytes()` is the same in bytes. Only a
 * packet with offset 0 carries the upper-layer header.
 * Checksums: `verifyChecksum()`/`fillChecksum()` do the full RFC 1071 sum over
 * the header; the `*Incremental` setters and `decTtl()` patch it with
 * RFC 1624 eqn. 3 (checksum.ts), so forwarding and NAT cost a few integer ops.
 * They do not touch upper-layer (TCP/UDP) checksums, which cover the
 * addresses through the pseudo-header: NAT must fix those too.
 * Cost: accessors are a few integer ops; `checkHeader()` walks the options
 * once; nothing allocates except `Repr`s.
 * Neighbours: dissect/ipv4.ts (`ip.*` fields), extract.ts (the flow key),
 * the datapath's dec_ttl / set(ipv4()) actions, netstack forwarding.
 */
import { EMPTY, be16, be32, setBe16, setBe32 } from './bytes.js';
import { checksumOf, csumUpdate16, csumUpdate32, fold, sum16 } from './checksum.js';
import { checkOrThrow, WireErrc, wireError } from './errc.js';

const VER_IHL = 0, DSFIELD = 1, TOTAL_LEN = 2, IDENT = 4, FLAGS_FRAG = 6, TTL = 8, PROTOCOL = 9, CHECKSUM = 10;
const SRC = 12, DST = 16;
export const IPV4_HEADER_LEN = 20;
export const IPV4_MAX_HEADER_LEN = 60;
/** Bits of the 16-bit flags + fragment offset word. */
export const IPV4_FLAG_RB = 0x8000;
export const IPV4_FLAG_DF = 0x4000;
export const IPV4_FLAG_MF = 0x2000;
export const IPV4_FRAG_OFFSET_MASK = 0x1fff;

// option types (RFC 791 and successors, as IANA lists them)
export const IPOPT_EOL = 0;
export const IPOPT_NOP = 1;
export const IPOPT_RR = 7;
export const IPOPT_MTU_PROBE = 11;
export const IPOPT_MTU_REPLY = 12;
export const IPOPT_QS = 25;
export const IPOPT_TS = 68;
export const IPOPT_TR = 82;
export const IPOPT_SEC = 130;
export const IPOPT_LSRR = 131;
export const IPOPT_ESEC = 133;
export const IPOPT_CIPSO = 134;
export const IPOPT_SID = 136;
export const IPOPT_SSRR = 137;
export const IPOPT_RA = 148;
export const IPOPT_SDB = 149;

export class Ipv4Packet {
  bytes: Uint8Array = EMPTY;
  off = 0;
  end = 0;
  /** Absolute offset of the fault found by the last check, -1 if none. */
  errAt = -1;
  /** Wireshark field at fault after a failed check. */
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
   * 0 when the header and its options are present and consistent; the total
   * length may exceed the bytes present (an ICMP quote). Invalidated by
   * `setHdrLen()` and `setTotalLength()`.
   */
  checkHeader(): number {
    const o = this.off, e = this.end, b = this.bytes;
    if (e - o < 1) return this.fail(WireErrc.Truncated, 'ip', o < e ? e : o);
    const v = b[o]!;
    if ((v >>> 4) !== 4) return this.fail(WireErrc.BadVersion, 'ip.version', o);
    const hl = (v & 15) << 2;
    if (hl < IPV4_HEADER_LEN) return this.fail(WireErrc.BadHdrLen, 'ip.hdr_len', o);
    if (e - o < hl) return this.fail(WireErrc.Truncated, 'ip', e);
    if (be16(b, o + TOTAL_LEN) < hl) return this.fail(WireErrc.BadLength, 'ip.len', o + TOTAL_LEN);
    const he = o + hl;
    let p = o + IPV4_HEADER_LEN;
    while (p < he) {
      const t = b[p]!;
      if (t === IPOPT_EOL) break;
      if (t === IPOPT_NOP) { p++; continue; }
      if (p + 1 >= he) return this.fail(WireErrc.BadOption, 'ip.opt.len', p);
      const n = b[p + 1]!;
      if (n < 2 || p + n > he) return this.fail(WireErrc.BadOption, 'ip.opt.len', p);
      p += n;
    }
    return WireErrc.Ok;
  }

  /** `checkHeader()` plus: the whole datagram (total length) is present. */
  check(): number {
    const c = this.checkHeader();
    if (c !== 0) return c;
    // ip.len claims bytes that are not there: the packet was cut at 'end'
    if (be16(this.bytes, this.off + TOTAL_LEN) > this.end - this.off) {
      return this.fail(WireErrc.Truncated, 'ip.len', this.end);
    }
    return WireErrc.Ok;
  }

  private fail(c: number, field: string, at: number): number {
    this.errField = field;
    this.errAt = at;
    return c;
  }

  /** A new checked view over 'bytes'; throws `WireError` if `check()` fails. */
  static checked(bytes: Uint8Array, off = 0, end = bytes.length): Ipv4Packet {
    return checkOrThrow(new Ipv4Packet().reset(bytes, off, end), 'ipv4');
  }

  /** ip.version */
  version(): number { return this.bytes[this.off + VER_IHL]! >>> 4; }
  /** ip.hdr_len, in bytes (IHL × 4) */
  hdrLen(): number { return (this.bytes[this.off + VER_IHL]! & 15) << 2; }
  /** ip.dsfield: the whole DS byte (DSCP << 2 | ECN; OVS's nw_tos) */
  dsfield(): number { return this.bytes[this.off + DSFIELD]!; }
  /** ip.dsfield.dscp */
  dscp(): number { return this.bytes[this.off + DSFIELD]! >>> 2; }
  /** ip.dsfield.ecn */
  ecn(): number { return this.bytes[this.off + DSFIELD]! & 3; }
  /** ip.len: header plus payload, in bytes */
  totalLength(): number { return be16(this.bytes, this.off + TOTAL_LEN); }
  /** ip.id */
  ident(): number { return be16(this.bytes, this.off + IDENT); }
  /** ip.flags: the three flag bits (RB, DF, MF) as a number 0..7 */
  flags(): number { return this.bytes[this.off + FLAGS_FRAG]! >>> 5; }
  /** ip.flags.rb */
  reservedFlag(): boolean { return (this.bytes[this.off + FLAGS_FRAG]! & 0x80) !== 0; }
  /** ip.flags.df */
  dontFrag(): boolean { return (this.bytes[this.off + FLAGS_FRAG]! & 0x40) !== 0; }
  /** ip.flags.mf */
  moreFrags(): boolean { return (this.bytes[this.off + FLAGS_FRAG]! & 0x20) !== 0; }
  /** ip.frag_offset: in 8-byte units, as carried */
  fragOffset(): number { return be16(this.bytes, this.off + FLAGS_FRAG) & IPV4_FRAG_OFFSET_MASK; }
  /** The fragment offset in bytes. */
  fragOffsetBytes(): number { return (be16(this.bytes, this.off + FLAGS_FRAG) & IPV4_FRAG_OFFSET_MASK) << 3; }
  /** True for any fragment (MF set or a nonzero offset). */
  isFragment(): boolean { return (be16(this.bytes, this.off + FLAGS_FRAG) & (IPV4_FLAG_MF | IPV4_FRAG_OFFSET_MASK)) !== 0; }
  /** ip.ttl */
  ttl(): number { return this.bytes[this.off + TTL]!; }
  /** ip.proto */
  protocol(): number { return this.bytes[this.off + PROTOCOL]!; }
  /** ip.checksum */
  checksum(): number { return be16(this.bytes, this.off + CHECKSUM); }
  /** ip.src (uint32) */
  src(): number { return be32(this.bytes, this.off + SRC); }
  /** ip.dst as carried in the header (uint32; with a source route this is the next hop) */
  dst(): number { return be32(this.bytes, this.off + DST); }
  /** Offset of the first option byte (== payloadOffset() when there are none). */
  optionsOffset(): number { return this.off + IPV4_HEADER_LEN; }
  /** Offset of the first payload byte (off + header length). */
  payloadOffset(): number { return this.off + this.hdrLen(); }
  /** Offset one past the datagram (off + total length); Ethernet padding is not payload. */
  payloadEnd(): number { return this.off + be16(this.bytes, this.off + TOTAL_LEN); }

  /** Write version 4 and the header length 'bytes' (a multiple of 4, 20..60); invalidates checks. */
  setHdrLen(bytes: number): void { this.bytes[this.off + VER_IHL] = 0x40 | ((bytes >>> 2) & 15); }
  setDsfield(v: number): void { this.bytes[this.off + DSFIELD] = v; }
  setDscp(v: number): void { this.bytes[this.off + DSFIELD] = ((v & 0x3f) << 2) | (this.bytes[this.off + DSFIELD]! & 3); }
  setEcn(v: number): void { this.bytes[this.off + DSFIELD] = (this.bytes[this.off + DSFIELD]! & 0xfc) | (v & 3); }
  /** Invalidates checks. */
  setTotalLength(v: number): void { setBe16(this.bytes, this.off + TOTAL_LEN, v); }
  setIdent(v: number): void { setBe16(this.bytes, this.off + IDENT, v); }
  /** Set the whole flags + fragment offset word. */
  setFlagsFragWord(v: number): void { setBe16(this.bytes, this.off + FLAGS_FRAG, v); }
  setReservedFlag(v: boolean): void { this.setFlagBit(0x80, v); }
  setDontFrag(v: boolean): void { this.setFlagBit(0x40, v); }
  setMoreFrags(v: boolean): void { this.setFlagBit(0x20, v); }
  /** Set the fragment offset in 8-byte units. */
  setFragOffset(units: number): void {
    const w = be16(this.bytes, this.off + FLAGS_FRAG);
    setBe16(this.bytes, this.off + FLAGS_FRAG, (w & 0xe000) | (units & IPV4_FRAG_OFFSET_MASK));
  }
  /** Set the fragment offset in bytes (a multiple of 8). */
  setFragOffsetBytes(bytes: number): void { this.setFragOffset(bytes >>> 3); }
  setTtl(v: number): void { this.bytes[this.off + TTL] = v; }
  setProtocol(v: number): void { this.bytes[this.off + PROTOCOL] = v; }
  setChecksum(v: number): void { setBe16(this.bytes, this.off + CHECKSUM, v); }
  setSrc(v: number): void { setBe32(this.bytes, this.off + SRC, v); }
  setDst(v: number): void { setBe32(this.bytes, this.off + DST, v); }

  private setFlagBit(bit: number, v: boolean): void {
    const at = this.off + FLAGS_FRAG;
    this.bytes[at] = v ? (this.bytes[at]! | bit) : (this.bytes[at]! & ~bit);
  }

  /** The header checksum this header should carry (the stored one is skipped). */
  computeChecksum(): number {
    return checksumOf(this.bytes, this.off, this.off + this.hdrLen(), this.off + CHECKSUM);
  }

  /** True when the stored header checksum is right. */
  verifyChecksum(): boolean {
    const o = this.off;
    return fold(sum16(this.bytes, o, o + this.hdrLen())) === 0;
  }

  /** Compute and store the header checksum. */
  fillChecksum(): void { this.setChecksum(this.computeChecksum()); }

  // ---- RFC 1624 incremental updates (checksum stays right) ----------------

  /** Set ip.ttl to 'v' and patch the checksum (the 16-bit word is TTL, protocol). */
  setTtlIncremental(v: number): void {
    const o = this.off, b = this.bytes;
    const old = (b[o + TTL]! << 8) | b[o + PROTOCOL]!;
    b[o + TTL] = v;
    this.setChecksum(csumUpdate16(this.checksum(), old, ((v & 0xff) << 8) | b[o + PROTOCOL]!));
  }

  /**
   * OVS's dec_ttl: decrement ip.ttl by one, patching the checksum. Returns the
   * new TTL, or -1 (and changes nothing) when the TTL is already 0.
   */
  decTtl(): number {
    const t = this.bytes[this.off + TTL]!;
    if (t === 0) return -1;
    this.setTtlIncremental(t - 1);
    return t - 1;
  }

  /** Set the DS byte (DSCP and ECN) and patch the checksum. */
  setDsfieldIncremental(v: number): void {
    const o = this.off, b = this.bytes;
    const old = (b[o + VER_IHL]! << 8) | b[o + DSFIELD]!;
    b[o + DSFIELD] = v;
    this.setChecksum(csumUpdate16(this.checksum(), old, (b[o + VER_IHL]! << 8) | (v & 0xff)));
  }

  /** Set ip.src and patch the header checksum (not the TCP/UDP one). */
  setSrcIncremental(v: number): void {
    const old = this.src();
    this.setSrc(v);
    this.setChecksum(csumUpdate32(this.checksum(), old, v >>> 0));
  }

  /** Set ip.dst and patch the header checksum (not the TCP/UDP one). */
  setDstIncremental(v: number): void {
    const old = this.dst();
    this.setDst(v);
    this.setChecksum(csumUpdate32(this.checksum(), old, v >>> 0));
  }
}

/** An IPv4 header as values. 'totalLength'/'checksum' of -1 mean "compute on emit". */
export interface Ipv4Repr {
  dscp: number;
  ecn: number;
  ident: number;
  dontFrag: boolean;
  moreFrags: boolean;
  /** In bytes (a multiple of 8). */
  fragOffset: number;
  ttl: number;
  protocol: number;
  /** uint32 */
  src: number;
  /** uint32, as carried in the header */
  dst: number;
  /** Raw option bytes (0..40); emit pads them with EOL to a multiple of 4. */
  options: Uint8Array;
  totalLength: number;
  checksum: number;
}

export const Ipv4Repr = {
  /**
   * Read a view (throws `WireError` if `check()` fails). All TTLs, protocols
   * and checksum values are accepted and kept: a router decides what to do
   * with them (verify with `verifyChecksum()`). The reserved flag is not kept.
   */
  parse(p: Ipv4Packet): Ipv4Repr {
    checkOrThrow(p, 'ipv4');
    const o = p.off;
    return {
      dscp: p.dscp(),
      ecn: p.ecn(),
      ident: p.ident(),
      dontFrag: p.dontFrag(),
      moreFrags: p.moreFrags(),
      fragOffset: p.fragOffsetBytes(),
      ttl: p.ttl(),
      protocol: p.protocol(),
      src: p.src(),
      dst: p.dst(),
      options: p.bytes.slice(o + IPV4_HEADER_LEN, o + p.hdrLen()),
      totalLength: p.totalLength(),
      checksum: p.checksum(),
    };
  },
  /** Header bytes `emit` writes: 20 plus the options rounded up to 4. */
  bufferLen(r: Ipv4Repr): number {
    return IPV4_HEADER_LEN + ((r.options.length + 3) & ~3);
  },
  /**
   * Write the header at 'p.off'; 'payloadLen' bytes of payload follow it.
   * Total length and checksum are computed unless the Repr gives them (>= 0).
   * Throws `WireError` for options longer than 40 bytes (WIRE_BAD_HDR_LEN) or
   * a fragment offset that is not a multiple of 8 below 65536
   * (WIRE_BAD_VALUE), which the header cannot carry.
   */
  emit(r: Ipv4Repr, p: Ipv4Packet, payloadLen: number): void {
    const o = p.off, b = p.bytes;
    const hl = Ipv4Repr.bufferLen(r);
    if (hl > IPV4_MAX_HEADER_LEN) throw wireError(WireErrc.BadHdrLen, 'ipv4', 'ip.hdr_len', o);
    if ((r.fragOffset & 7) !== 0 || r.fragOffset < 0 || r.fragOffset > 0xfff8) {
      throw wireError(WireErrc.BadValue, 'ipv4', 'ip.frag_offset', o + FLAGS_FRAG);
    }
    p.setHdrLen(hl);
    p.setDsfield(((r.dscp & 0x3f) << 2) | (r.ecn & 3));
    const tl = r.totalLength >= 0 ? r.totalLength : hl + payloadLen;
    if (tl > 0xffff) throw wireError(WireErrc.BadLength, 'ipv4', 'ip.len', o + 2, `ipv4: total length ${tl} does not fit ip.len (at most 65535)`);
    p.setTotalLength(tl);
    p.setIdent(r.ident);
    p.setFlagsFragWord((r.dontFrag ? IPV4_FLAG_DF : 0) | (r.moreFrags ? IPV4_FLAG_MF : 0) | (r.fragOffset >>> 3));
    p.setTtl(r.ttl);
    p.setProtocol(r.protocol);
    p.setSrc(r.src);
    p.setDst(r.dst);
    b.set(r.options, o + IPV4_HEADER_LEN);
    b.fill(IPOPT_EOL, o + IPV4_HEADER_LEN + r.options.length, o + hl);
    p.setChecksum(0);
    p.setChecksum(r.checksum >= 0 ? r.checksum : p.computeChecksum());
  },
};
