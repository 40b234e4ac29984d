/**
 * IPv6 (RFC 8200) — view and Repr (wire layer; the view is fast path).
 *
 * What: `Ipv6Packet`, a reusable cursor over (bytes, off, end) for the fixed
 * 40-byte header, whose check walks the extension-header chain; and
 * `Ipv6Repr`, a plain record that keeps the extension headers as raw bytes so
 * that emit(parse(x)) reproduces x.
 * Extension headers walked: hop-by-hop options (0), routing (43), fragment
 * (44, 8 bytes), destination options (60) — length field in 8-byte units
 * after the first 8 — and AH (51, length in 4-byte units + 2, RFC 4302). The
 * walk stops at the first other value, which is the upper-layer protocol
 * (ESP 50 included: what follows it is encrypted), at No Next Header (59),
 * and after a fragment header whose offset is not 0 (a later fragment: the
 * bytes after it are not a header).
 * Safety contract: `reset()` inspects nothing. `check()` returns 0 when the
 * fixed header is present, version 6 (else WIRE_BAD_VERSION, ipv6.version),
 * the payload length fits the bytes present (else WIRE_TRUNCATED, field
 * ipv6.plen, at `end`) and every extension header lies inside the payload (else
 * WIRE_BAD_OPTION at that header's offset, field `<header>.len`). It then
 * sets, without allocating: `upperProto` and `upperOff` (the upper-layer
 * protocol and its first byte), `fragOff` (offset of the fragment header, -1
 * if none), `routingOff` (offset of the routing header, -1 if none).
 * `checkHeader()` is the same for a packet quoted in an ICMPv6 error, which
 * may be cut short: the payload length may exceed the bytes present, and an
 * extension header cut by the end of the bytes is WIRE_TRUNCATED at the end
 * (`errExtOff` keeps the header's own offset). On failure `errAt` and `errField` are set. `setPayloadLength()`,
 * `setNextHeader()` invalidate a previous check.
 * Addresses: offsets (`srcOffset()`) for copying and pseudo-header sums, or
 * four uint32 words (`srcWord(0..3)`) for the flow key. The upper-layer
 * checksum uses the final destination: `finalDstOffset()` follows a routing
 * header with segments left (types 0, 2 and 4), as RFC 8200 §8.1 says.
 * Not supported: jumbograms (RFC 2675: payload length 0 and a Jumbo
 * option); such a packet fails `check()` with WIRE_BAD_OPTION on its
 * hop-by-hop header, and `Ipv6Repr.emit` refuses a payload over 65535.
 * Cost: accessors are a few integer ops; the check is one iteration per
 * extension header; nothing allocates except `Repr`s.
 * Neighbours: dissect/ipv6.ts (`ipv6.*`, `ipv6.hopopts.*`, `ipv6.fraghdr.*`,
 * `ah.*` layers), extract.ts, ICMPv6/UDP/TCP pseudo-headers via checksum.ts.
 */
import { EMPTY, be16, be32, setBe16, setBe32 } from './bytes.js';
import { checkOrThrow, WireErrc, wireError } from './errc.js';

const VTC_FLOW = 0, PAYLOAD_LEN = 4, NEXT_HEADER = 6, HOP_LIMIT = 7, SRC = 8, DST = 24;
export const IPV6_HEADER_LEN = 40;
export const IPV6_FRAG_HEADER_LEN = 8;

export const IPPROTO_HOPOPTS = 0;
export const IPPROTO_ROUTING = 43;
export const IPPROTO_FRAGMENT = 44;
export const IPPROTO_ESP = 50;
export const IPPROTO_AH = 51;
export const IPPROTO_NONE = 59;
export const IPPROTO_DSTOPTS = 60;

export const IPV6_RT_SOURCE = 0;
export const IPV6_RT_MIPV6 = 2;
export const IPV6_RT_SRH = 4;

export class Ipv6Packet {
  bytes: Uint8Array = EMPTY;
  off = 0;
  end = 0;
  /** Absolute offset of the fault found by the last check, -1 if none. */
  errAt = -1;
  /** Wireshark field at fault after a failed check. */
  errField = '';
  /** After a check: the upper-layer protocol (the last Next Header walked; 59 for none). */
  upperProto = 0;
  /** After a check: offset of the upper-layer header (or of the fragment data). */
  upperOff = 0;
  /** After a check: offset of the (first) fragment header, -1 if none. */
  fragOff = -1;
  /** After a check: offset of the (first) routing header, -1 if none. */
  routingOff = -1;
  /** After a failed check: offset of the extension header at fault, -1 if the fault is elsewhere. */
  errExtOff = -1;

  reset(bytes: Uint8Array, off: number, end: number): this {
    this.bytes = bytes;
    this.off = off;
    this.end = end;
    this.errAt = -1;
    this.errField = '';
    this.upperProto = 0;
    this.upperOff = 0;
    this.fragOff = -1;
    this.routingOff = -1;
    this.errExtOff = -1;
    return this;
  }

  /** 0 when the whole packet (payload length) is present and its extension headers are well formed. */
  check(): number {
    const c = this.checkFixed();
    if (c !== 0) return c;
    const pe = this.off + IPV6_HEADER_LEN + be16(this.bytes, this.off + PAYLOAD_LEN);
    if (pe > this.end) return this.fail(WireErrc.Truncated, 'ipv6.plen', this.end); // cut at 'end'
    return this.walk(pe);
  }

  /** Like `check()`, but the payload may be cut short (an ICMPv6 quote). */
  checkHeader(): number {
    const c = this.checkFixed();
    if (c !== 0) return c;
    const pe = this.off + IPV6_HEADER_LEN + be16(this.bytes, this.off + PAYLOAD_LEN);
    return this.walk(pe < this.end ? pe : this.end);
  }

  private checkFixed(): number {
    const o = this.off, e = this.end;
    if (e - o < 1) return this.fail(WireErrc.Truncated, 'ipv6', o < e ? e : o);
    if ((this.bytes[o]! >>> 4) !== 6) return this.fail(WireErrc.BadVersion, 'ipv6.version', o);
    if (e - o < IPV6_HEADER_LEN) return this.fail(WireErrc.Truncated, 'ipv6', e);
    return WireErrc.Ok;
  }

  /** Walk the extension headers inside [off+40, 'limit'); sets upperProto/upperOff/fragOff/routingOff. */
  private walk(limit: number): number {
    const b = this.bytes;
    const pe = this.off + IPV6_HEADER_LEN + be16(b, this.off + PAYLOAD_LEN);
    let nh = b[this.off + NEXT_HEADER]!;
    let p = this.off + IPV6_HEADER_LEN;
    this.fragOff = -1;
    this.routingOff = -1;
    this.errExtOff = -1;
    for (;;) {
      let len: number;
      if (nh === IPPROTO_HOPOPTS || nh === IPPROTO_ROUTING || nh === IPPROTO_DSTOPTS || nh === IPPROTO_AH) {
        if (limit - p < 2) return this.badExt(nh, p, limit, p + 2 > pe);
        len = nh === IPPROTO_AH ? (b[p + 1]! + 2) << 2 : (b[p + 1]! + 1) << 3;
        if (limit - p < len) return this.badExt(nh, p, limit, p + len > pe);
        if (nh === IPPROTO_ROUTING && this.routingOff < 0) this.routingOff = p;
      } else if (nh === IPPROTO_FRAGMENT) {
        if (limit - p < IPV6_FRAG_HEADER_LEN) return this.badExt(nh, p, limit, p + IPV6_FRAG_HEADER_LEN > pe);
        if (this.fragOff < 0) this.fragOff = p;
        len = IPV6_FRAG_HEADER_LEN;
        if ((be16(b, p + 2) & 0xfff8) !== 0) {
          // a later fragment: what follows is data, not a header
          this.upperProto = b[p]!;
          this.upperOff = p + len;
          return WireErrc.Ok;
        }
      } else {
        this.upperProto = nh;
        this.upperOff = p;
        return WireErrc.Ok;
      }
      nh = b[p]!;
      p += len;
    }
  }

  /**
   * Extension header 'nh' at 'p' runs past the payload ('pastPayload':
   * WIRE_BAD_OPTION on its length field) or past the bytes present
   * (WIRE_TRUNCATED at 'limit', where the bytes end). Field names are
   * literals: nothing is allocated.
   */
  private badExt(nh: number, p: number, limit: number, pastPayload: boolean): number {
    this.errExtOff = p;
    if (pastPayload) {
      const f = nh === IPPROTO_HOPOPTS ? 'ipv6.hopopts.len' : nh === IPPROTO_ROUTING ? 'ipv6.routing.len'
        : nh === IPPROTO_DSTOPTS ? 'ipv6.dstopts.len' : nh === IPPROTO_FRAGMENT ? 'ipv6.fraghdr' : 'ah.length';
      return this.fail(WireErrc.BadOption, f, p);
    }
    const t = nh === IPPROTO_HOPOPTS ? 'ipv6.hopopts' : nh === IPPROTO_ROUTING ? 'ipv6.routing'
      : nh === IPPROTO_DSTOPTS ? 'ipv6.dstopts' : nh === IPPROTO_FRAGMENT ? 'ipv6.fraghdr' : 'ah';
    return this.fail(WireErrc.Truncated, t, limit);
  }

  private fail(c: number, field: string, at: number): number {
    this.errField = field;
    this.errAt = at;
    return c;
  }

  /** A new checked view over 'bytes'; throws `WireError` if `check()` fails. */
  static checked(bytes: Uint8Array, off = 0, end = bytes.length): Ipv6Packet {
    return checkOrThrow(new Ipv6Packet().reset(bytes, off, end), 'ipv6');
  }

  /** ipv6.version */
  version(): number { return this.bytes[this.off]! >>> 4; }
  /** ipv6.tclass (8 bits) */
  trafficClass(): number { return (be16(this.bytes, this.off + VTC_FLOW) >>> 4) & 0xff; }
  /** ipv6.tclass.dscp */
  dscp(): number { return this.trafficClass() >>> 2; }
  /** ipv6.tclass.ecn */
  ecn(): number { return this.trafficClass() & 3; }
  /** ipv6.flow (20 bits) */
  flowLabel(): number { return be32(this.bytes, this.off + VTC_FLOW) & 0xfffff; }
  /** ipv6.plen: bytes after the fixed header */
  payloadLength(): number { return be16(this.bytes, this.off + PAYLOAD_LEN); }
  /** ipv6.nxt: the fixed header's Next Header */
  nextHeader(): number { return this.bytes[this.off + NEXT_HEADER]!; }
  /** ipv6.hlim */
  hopLimit(): number { return this.bytes[this.off + HOP_LIMIT]!; }
  /** Offset of ipv6.src's 16 bytes. */
  srcOffset(): number { return this.off + SRC; }
  /** Offset of ipv6.dst's 16 bytes. */
  dstOffset(): number { return this.off + DST; }
  /** Word 'i' (0..3, most significant first) of ipv6.src. */
  srcWord(i: number): number { return be32(this.bytes, this.off + SRC + (i << 2)); }
  /** Word 'i' (0..3, most significant first) of ipv6.dst. */
  dstWord(i: number): number { return be32(this.bytes, this.off + DST + (i << 2)); }
  /** Offset of the first byte after the fixed header. */
  payloadOffset(): number { return this.off + IPV6_HEADER_LEN; }
  /** Offset one past the packet (off + 40 + payload length); Ethernet padding is not payload. */
  payloadEnd(): number { return this.off + IPV6_HEADER_LEN + be16(this.bytes, this.off + PAYLOAD_LEN); }

  /**
   * Offset of the destination the upper-layer pseudo-header uses (after a
   * check): the last address of a type 0 routing header, the home address of
   * a type 2 one, the first segment of an SRH (type 4) — when segments are
   * left — else ipv6.dst.
   */
  finalDstOffset(): number {
    const r = this.routingOff;
    if (r < 0) return this.off + DST;
    const b = this.bytes;
    const len = (b[r + 1]! + 1) << 3;
    const type = b[r + 2]!, left = b[r + 3]!;
    if (left === 0 || len < 24) return this.off + DST;
    if (type === IPV6_RT_SOURCE) return r + 8 + (((len - 8) >>> 4) - 1) * 16;
    if (type === IPV6_RT_MIPV6 || type === IPV6_RT_SRH) return r + 8;
    return this.off + DST;
  }

  // fragment header (valid when fragOff >= 0)
  /** ipv6.fraghdr.offset: in 8-byte units */
  fragOffset(): number { return be16(this.bytes, this.fragOff + 2) >>> 3; }
  /** The fragment offset in bytes. */
  fragOffsetBytes(): number { return be16(this.bytes, this.fragOff + 2) & 0xfff8; }
  /** ipv6.fraghdr.more */
  fragMore(): boolean { return (this.bytes[this.fragOff + 3]! & 1) !== 0; }
  /** ipv6.fraghdr.ident */
  fragIdent(): number { return be32(this.bytes, this.fragOff + 4); }
  /** True after a check when a fragment header with a nonzero offset was found. */
  isLaterFragment(): boolean { return this.fragOff >= 0 && (be16(this.bytes, this.fragOff + 2) & 0xfff8) !== 0; }

  /** Write version 6 with traffic class 'tc' (keeps the flow label). */
  setTrafficClass(tc: number): void {
    const w = be32(this.bytes, this.off + VTC_FLOW);
    setBe32(this.bytes, this.off + VTC_FLOW, (0x60000000 | ((tc & 0xff) << 20) | (w & 0xfffff)) >>> 0);
  }
  /** Write version 6 with flow label 'v' (keeps the traffic class). */
  setFlowLabel(v: number): void {
    const w = be32(this.bytes, this.off + VTC_FLOW);
    setBe32(this.bytes, this.off + VTC_FLOW, (0x60000000 | (w & 0x0ff00000) | (v & 0xfffff)) >>> 0);
  }
  /** Invalidates checks. */
  setPayloadLength(v: number): void { setBe16(this.bytes, this.off + PAYLOAD_LEN, v); }
  /** Invalidates checks. */
  setNextHeader(v: number): void { this.bytes[this.off + NEXT_HEADER] = v; }
  setHopLimit(v: number): void { this.bytes[this.off + HOP_LIMIT] = v; }
  /** OVS's dec_ttl for IPv6: returns the new hop limit, or -1 (unchanged) when it is already 0. */
  decHopLimit(): number {
    const h = this.bytes[this.off + HOP_LIMIT]!;
    if (h === 0) return -1;
    this.bytes[this.off + HOP_LIMIT] = h - 1;
    return h - 1;
  }
  setSrcWord(i: number, v: number): void { setBe32(this.bytes, this.off + SRC + (i << 2), v); }
  setDstWord(i: number, v: number): void { setBe32(this.bytes, this.off + DST + (i << 2), v); }
  /** Copy 16 bytes from 'src' at 'srcOff' into ipv6.src. */
  setSrc(src: Uint8Array, srcOff: number): void { copy16(src, srcOff, this.bytes, this.off + SRC); }
  /** Copy 16 bytes from 'src' at 'srcOff' into ipv6.dst. */
  setDst(src: Uint8Array, srcOff: number): void { copy16(src, srcOff, this.bytes, this.off + DST); }
}

function copy16(src: Uint8Array, so: number, dst: Uint8Array, at: number): void {
  for (let i = 0; i < 16; i++) dst[at + i] = src[so + i]!;
}

/** An IPv6 header as values. 'payloadLength' of -1 means "compute on emit". */
export interface Ipv6Repr {
  trafficClass: number;
  flowLabel: number;
  payloadLength: number;
  /** The fixed header's Next Header (the first extension header's type, if any). */
  nextHeader: number;
  hopLimit: number;
  /** 16 bytes */
  src: Uint8Array;
  /** 16 bytes */
  dst: Uint8Array;
  /** Every extension header, raw, up to the upper-layer header (for a later fragment, up to its data). */
  extHeaders: Uint8Array;
}

export const Ipv6Repr = {
  /** Read a view; throws `WireError` if `check()` fails. Any hop limit and flow label are accepted. */
  parse(p: Ipv6Packet): Ipv6Repr {
    checkOrThrow(p, 'ipv6');
    const b = p.bytes, o = p.off;
    return {
      trafficClass: p.trafficClass(),
      flowLabel: p.flowLabel(),
      payloadLength: p.payloadLength(),
      nextHeader: p.nextHeader(),
      hopLimit: p.hopLimit(),
      src: b.slice(o + SRC, o + SRC + 16),
      dst: b.slice(o + DST, o + DST + 16),
      extHeaders: b.slice(o + IPV6_HEADER_LEN, p.upperOff),
    };
  },
  /** Bytes `emit` writes: 40 plus the extension headers. */
  bufferLen(r: Ipv6Repr): number {
    return IPV6_HEADER_LEN + r.extHeaders.length;
  },
  /**
   * Write the header and extension headers at 'p.off'; 'payloadLen' bytes of
   * upper-layer payload follow them. The payload length is computed unless
   * given. Throws `WireError` (WIRE_BAD_VALUE) for an address that is not 16 bytes.
   */
  emit(r: Ipv6Repr, p: Ipv6Packet, payloadLen: number): void {
    const o = p.off;
    if (r.src.length !== 16) throw wireError(WireErrc.BadValue, 'ipv6', 'ipv6.src', o + SRC);
    if (r.dst.length !== 16) throw wireError(WireErrc.BadValue, 'ipv6', 'ipv6.dst', o + DST);
    setBe32(p.bytes, o + VTC_FLOW, (0x60000000 | ((r.trafficClass & 0xff) << 20) | (r.flowLabel & 0xfffff)) >>> 0);
    const pl = r.payloadLength >= 0 ? r.payloadLength : r.extHeaders.length + payloadLen;
    if (pl > 0xffff) throw wireError(WireErrc.BadLength, 'ipv6', 'ipv6.plen', o + 4, `ipv6: payload length ${pl} does not fit ipv6.plen (jumbograms are not supported)`);
    p.setPayloadLength(pl);
    p.setNextHeader(r.nextHeader);
    p.setHopLimit(r.hopLimit);
    p.setSrc(r.src, 0);
    p.setDst(r.dst, 0);
    p.bytes.set(r.extHeaders, o + IPV6_HEADER_LEN);
  },
};
