/**
 * ICMP for IPv4 (RFC 792, RFC 1191, RFC 4884) — view and Repr (wire layer;
 * the view is fast path).
 *
 * What: `IcmpPacket`, a reusable cursor over one ICMP message in
 * (bytes, off, end), and `IcmpRepr`, a discriminated union by `kind`: echo
 * request/reply (identifier, sequence number), destination unreachable (with
 * the RFC 1191 next-hop MTU of "fragmentation needed"), time exceeded, and
 * every other type kept generic with its 32-bit rest-of-header.
 * Layout: type(1) code(1) checksum(2) rest-of-header(4), then the data: the
 * echo payload, or for an error (types 3, 4, 5, 11, 12) the quoted IP header
 * plus at least 8 bytes of its payload at `quotedOffset()` (= off + 8).
 * RFC 4884 puts the length of the quoted datagram, in 32-bit words, in byte 5
 * of unreachable, time-exceeded and parameter-problem messages.
 * Safety contract: `check()` returns 0 when the 8-byte header is inside
 * [off, end) — every accessor reads only those bytes — else
 * `WireErrc.Truncated` with `errAt`/`errField` set. What follows the header
 * (the quoted packet) is for the next layer's view to check.
 * The message ends at `end`: the caller sets it to the end of the IP payload.
 * Checksum: over the whole message, no pseudo-header; a computed zero stays
 * zero (unlike UDP, zero has no special meaning here).
 * Cost: accessors are a few integer ops; nothing allocates except `Repr`s.
 * Neighbours: dissect/icmp.ts; conntrack (RELATED via the quoted packet) and
 * the netstack (echo replies, errors) later.
 */
import { EMPTY, be16, be32, setBe16, setBe32 } from './bytes.js';
import { checksumOf, fold, sum16 } from './checksum.js';
import { checkOrThrow, WireErrc } from './errc.js';

const TYPE = 0, CODE = 1, CHECKSUM = 2, REST = 4, IDENT = 4, SEQ = 6, POINTER = 4, LENGTH = 5, MTU = 6;
export const ICMP_HEADER_LEN = 8;
export const IPPROTO_ICMP = 1;

// Types (IANA "ICMP Type Numbers").
export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACH = 3;
export const ICMP_SOURCE_QUENCH = 4;
export const ICMP_REDIRECT = 5;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_ROUTER_ADVERT = 9;
export const ICMP_ROUTER_SOLICIT = 10;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_PARAM_PROBLEM = 12;
export const ICMP_TIMESTAMP = 13;
export const ICMP_TIMESTAMP_REPLY = 14;
export const ICMP_INFO_REQUEST = 15;
export const ICMP_INFO_REPLY = 16;
export const ICMP_ADDR_MASK_REQUEST = 17;
export const ICMP_ADDR_MASK_REPLY = 18;

// Destination-unreachable codes (RFC 792, RFC 1122, RFC 1812).
export const ICMP_NET_UNREACH = 0;
export const ICMP_HOST_UNREACH = 1;
export const ICMP_PROT_UNREACH = 2;
export const ICMP_PORT_UNREACH = 3;
export const ICMP_FRAG_NEEDED = 4;
export const ICMP_SR_FAILED = 5;
export const ICMP_NET_UNKNOWN = 6;
export const ICMP_HOST_UNKNOWN = 7;
export const ICMP_HOST_ISOLATED = 8;
export const ICMP_NET_ANO = 9;
export const ICMP_HOST_ANO = 10;
export const ICMP_NET_UNR_TOS = 11;
export const ICMP_HOST_UNR_TOS = 12;
export const ICMP_PKT_FILTERED = 13;
export const ICMP_PREC_VIOLATION = 14;
export const ICMP_PREC_CUTOFF = 15;

// Time-exceeded codes.
export const ICMP_EXC_TTL = 0;
export const ICMP_EXC_FRAGTIME = 1;

// Redirect codes.
export const ICMP_REDIRECT_NET = 0;
export const ICMP_REDIRECT_HOST = 1;
export const ICMP_REDIRECT_TOS_NET = 2;
export const ICMP_REDIRECT_TOS_HOST = 3;

/** True for the types whose data quotes the offending IP packet (3, 4, 5, 11, 12). */
export function icmpIsError(type: number): boolean {
  return type === ICMP_DEST_UNREACH || type === ICMP_SOURCE_QUENCH || type === ICMP_REDIRECT
    || type === ICMP_TIME_EXCEEDED || type === ICMP_PARAM_PROBLEM;
}

/** True for the types whose rest-of-header is identifier + sequence number (echo, timestamp, info, mask). */
export function icmpHasIdentSeq(type: number): boolean {
  return type === ICMP_ECHO_REPLY || type === ICMP_ECHO_REQUEST || (type >= ICMP_TIMESTAMP && type <= ICMP_ADDR_MASK_REPLY);
}

export class IcmpPacket {
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

  /** 0 when the 8-byte header is in bounds; nothing invalidates it but `reset()`. */
  check(): number {
    const o = this.off;
    if (this.end - o < ICMP_HEADER_LEN) {
      this.errField = 'icmp';
      this.errAt = o < this.end ? this.end : o;
      return WireErrc.Truncated;
    }
    return WireErrc.Ok;
  }

  /** A new checked view over 'bytes'; throws `WireError` if `check()` fails. */
  static checked(bytes: Uint8Array, off = 0, end = bytes.length): IcmpPacket {
    return checkOrThrow(new IcmpPacket().reset(bytes, off, end), 'icmp');
  }

  /** icmp.type */
  type(): number { return this.bytes[this.off + TYPE]!; }
  /** icmp.code */
  code(): number { return this.bytes[this.off + CODE]!; }
  /** icmp.checksum */
  checksum(): number { return be16(this.bytes, this.off + CHECKSUM); }
  /** Bytes 4-7 as one unsigned 32-bit number, whatever the type. */
  restOfHeader(): number { return be32(this.bytes, this.off + REST); }
  /** icmp.ident (echo, timestamp, information, address mask) */
  ident(): number { return be16(this.bytes, this.off + IDENT); }
  /** icmp.seq */
  seq(): number { return be16(this.bytes, this.off + SEQ); }
  /** icmp.mtu: next-hop MTU of a "fragmentation needed" (type 3 code 4; RFC 1191) */
  mtu(): number { return be16(this.bytes, this.off + MTU); }
  /** icmp.pointer: octet at fault in a parameter problem (type 12) */
  pointer(): number { return this.bytes[this.off + POINTER]!; }
  /** icmp.redir_gw: gateway of a redirect (type 5), uint32 */
  gateway(): number { return be32(this.bytes, this.off + REST); }
  /** icmp.length: RFC 4884 length of the quoted datagram in 32-bit words (0 = not given) */
  origLength(): number { return this.bytes[this.off + LENGTH]!; }
  /** True when the message quotes an IP packet (see `icmpIsError`). */
  isError(): boolean { return icmpIsError(this.bytes[this.off + TYPE]!); }
  /** Offset of the quoted IP header in an error message (off + 8). */
  quotedOffset(): number { return this.off + ICMP_HEADER_LEN; }
  /** Offset of the data after the 8-byte header (echo payload, quoted packet…). */
  payloadOffset(): number { return this.off + ICMP_HEADER_LEN; }

  setType(v: number): void { this.bytes[this.off + TYPE] = v; }
  setCode(v: number): void { this.bytes[this.off + CODE] = v; }
  setChecksum(v: number): void { setBe16(this.bytes, this.off + CHECKSUM, v); }
  setRestOfHeader(v: number): void { setBe32(this.bytes, this.off + REST, v); }
  setIdent(v: number): void { setBe16(this.bytes, this.off + IDENT, v); }
  setSeq(v: number): void { setBe16(this.bytes, this.off + SEQ, v); }
  setMtu(v: number): void { setBe16(this.bytes, this.off + MTU, v); }

  /** The checksum the message [off, 'end') should carry. */
  computeChecksum(end = this.end): number {
    return checksumOf(this.bytes, this.off, end, this.off + CHECKSUM);
  }

  /** True when the stored checksum is right for the message [off, end). */
  verifyChecksum(): boolean {
    return fold(sum16(this.bytes, this.off, this.end)) === 0;
  }

  /** Compute and store the checksum (data must already be in place). */
  fillChecksum(): void {
    this.setChecksum(this.computeChecksum());
  }
}

// ---- Repr (slow path) -------------------------------------------------------

/**
 * An ICMP header as values; 'checksum' of -1 means "compute on emit". Every
 * variant keeps all 32 bits of the rest-of-header, so `emit(parse(x))`
 * reproduces x for any x. The data (echo payload, quoted packet) is not part
 * of the Repr: it follows the header in the buffer, as with UDP.
 */
export type IcmpRepr =
  | { kind: 'echoRequest' | 'echoReply'; code: number; checksum: number; ident: number; seq: number }
  /**
   * 'unused' is bytes 4-5 (byte 5 is the RFC 4884 length); 'mtu' is bytes 6-7,
   * the next-hop MTU when code is ICMP_FRAG_NEEDED (normally 0 otherwise).
   */
  | { kind: 'destUnreachable'; code: number; checksum: number; unused: number; mtu: number }
  /** 'unused' is bytes 4-7 (byte 5 is the RFC 4884 length). */
  | { kind: 'timeExceeded'; code: number; checksum: number; unused: number }
  | { kind: 'other'; type: number; code: number; checksum: number; restOfHeader: number };

/** The type byte a Repr stands for. */
export function icmpReprType(r: IcmpRepr): number {
  switch (r.kind) {
    case 'echoRequest': return ICMP_ECHO_REQUEST;
    case 'echoReply': return ICMP_ECHO_REPLY;
    case 'destUnreachable': return ICMP_DEST_UNREACH;
    case 'timeExceeded': return ICMP_TIME_EXCEEDED;
    case 'other': return r.type;
  }
}

function restOf(r: IcmpRepr): number {
  switch (r.kind) {
    case 'echoRequest': case 'echoReply': return (((r.ident & 0xffff) << 16) | (r.seq & 0xffff)) >>> 0;
    case 'destUnreachable': return (((r.unused & 0xffff) << 16) | (r.mtu & 0xffff)) >>> 0;
    case 'timeExceeded': return r.unused >>> 0;
    case 'other': return r.restOfHeader >>> 0;
  }
}

export const IcmpRepr = {
  /** Read a view (throws `WireError` if it does not check). */
  parse(p: IcmpPacket): IcmpRepr {
    checkOrThrow(p, 'icmp');
    const type = p.type(), code = p.code(), checksum = p.checksum();
    switch (type) {
      case ICMP_ECHO_REQUEST: return { kind: 'echoRequest', code, checksum, ident: p.ident(), seq: p.seq() };
      case ICMP_ECHO_REPLY: return { kind: 'echoReply', code, checksum, ident: p.ident(), seq: p.seq() };
      case ICMP_DEST_UNREACH: return { kind: 'destUnreachable', code, checksum, unused: be16(p.bytes, p.off + REST), mtu: p.mtu() };
      case ICMP_TIME_EXCEEDED: return { kind: 'timeExceeded', code, checksum, unused: p.restOfHeader() };
      default: return { kind: 'other', type, code, checksum, restOfHeader: p.restOfHeader() };
    }
  },
  /** Header bytes `emit` writes. */
  bufferLen(_r: IcmpRepr): number {
    return ICMP_HEADER_LEN;
  },
  /**
   * Write the header at 'p.off'; the 'payloadLen' data bytes (echo payload,
   * quoted packet) must already follow it. The checksum is computed over
   * header and data unless the Repr gives it (>= 0).
   */
  emit(r: IcmpRepr, p: IcmpPacket, payloadLen: number): void {
    p.setType(icmpReprType(r));
    p.setCode(r.code);
    p.setRestOfHeader(restOf(r));
    p.setChecksum(0);
    p.setChecksum(r.checksum >= 0 ? r.checksum : p.computeChecksum(p.off + ICMP_HEADER_LEN + payloadLen));
  },
};
