/**
 * ICMPv6 (RFC 4443) and Neighbor Discovery (RFC 4861) — view and Repr (wire
 * layer; the view is fast path).
 *
 * What: `Icmpv6Packet`, a reusable cursor over one ICMPv6 message in
 * (bytes, off, end), with accessors for echo (128/129), the four errors
 * (destination unreachable 1, packet too big 2 with its MTU, time exceeded 3,
 * parameter problem 4 with its pointer) and the ND messages (router
 * solicitation 133 and advertisement 134, neighbor solicitation 135 and
 * advertisement 136 with R/S/O flags and target, redirect 137); and
 * `Icmpv6Repr`, a discriminated union by `kind` whose ND variants carry a
 * typed option list (`NdpOption`).
 * Layout: type(1) code(1) checksum(2) then 4 type-specific bytes; ND messages
 * continue with a fixed part (`ndFixedLen`) and then options, each
 * type(1) length(1, in units of 8 octets) data. Errors quote the offending
 * packet at `quotedOffset()` (off + 8).
 * Safety contract: `check()` returns 0 when the 8-byte header, the ND fixed
 * part of the type, and every ND option lie inside [off, end); an option
 * whose length byte is 0 is WIRE_BAD_OPTION at that byte (RFC 4861 §4.6 says
 * drop the packet: a zero length would loop forever), as is a prefix
 * information option not 4 units long or an MTU option not 1 unit long; an
 * option running past `end` is WIRE_TRUNCATED at `end`. Errors and
 * `errField` are Wireshark names (icmpv6.opt.length …).
 * The message ends at `end`: the caller sets it to the end of the IPv6
 * payload, so options run to the end of the message.
 * Checksum: over the IPv6 pseudo-header (next header 58, length end - off)
 * and the message; the caller supplies the pseudo sum from `ipv6PseudoSum`.
 * Cost: accessors are a few integer ops; `findOption` walks the options;
 * nothing allocates except `Repr`s.
 * Neighbours: dissect/icmpv6.ts; the netstack's ND cache and router (later).
 */
import { EMPTY, be16, be32, setBe16, setBe32 } from './bytes.js';
import { checksumOf, fold, sum16 } from './checksum.js';
import { checkOrThrow, WireErrc } from './errc.js';

const TYPE = 0, CODE = 1, CHECKSUM = 2, REST = 4, IDENT = 4, SEQ = 6;
const RA_HOP_LIMIT = 4, RA_FLAGS = 5, RA_LIFETIME = 6, RA_REACHABLE = 8, RA_RETRANS = 12;
const TARGET = 8, RD_DEST = 24;
export const ICMPV6_HEADER_LEN = 8;
export const IPPROTO_ICMPV6 = 58;

// Types (RFC 4443, RFC 2710, RFC 4861).
export const ICMPV6_DEST_UNREACH = 1;
export const ICMPV6_PACKET_TOO_BIG = 2;
export const ICMPV6_TIME_EXCEEDED = 3;
export const ICMPV6_PARAM_PROBLEM = 4;
export const ICMPV6_ECHO_REQUEST = 128;
export const ICMPV6_ECHO_REPLY = 129;
export const ICMPV6_MLD_QUERY = 130;
export const ICMPV6_MLD_REPORT = 131;
export const ICMPV6_MLD_DONE = 132;
export const ICMPV6_ROUTER_SOLICIT = 133;
export const ICMPV6_ROUTER_ADVERT = 134;
export const ICMPV6_NEIGHBOR_SOLICIT = 135;
export const ICMPV6_NEIGHBOR_ADVERT = 136;
export const ICMPV6_REDIRECT = 137;

// Destination-unreachable codes (RFC 4443 §3.1).
export const ICMPV6_NO_ROUTE = 0;
export const ICMPV6_ADM_PROHIBITED = 1;
export const ICMPV6_BEYOND_SCOPE = 2;
export const ICMPV6_ADDR_UNREACH = 3;
export const ICMPV6_PORT_UNREACH = 4;
export const ICMPV6_POLICY_FAIL = 5;
export const ICMPV6_REJECT_ROUTE = 6;

// Time-exceeded codes.
export const ICMPV6_EXC_HOPLIMIT = 0;
export const ICMPV6_EXC_FRAGTIME = 1;

// Parameter-problem codes.
export const ICMPV6_HDR_FIELD = 0;
export const ICMPV6_UNK_NEXTHDR = 1;
export const ICMPV6_UNK_OPTION = 2;

// Neighbor-advertisement flags (first byte of the rest-of-header).
export const ND_NA_FLAG_ROUTER = 0x80;
export const ND_NA_FLAG_SOLICITED = 0x40;
export const ND_NA_FLAG_OVERRIDE = 0x20;

// Router-advertisement flags (byte 5).
export const ND_RA_FLAG_MANAGED = 0x80;
export const ND_RA_FLAG_OTHER = 0x40;
export const ND_RA_FLAG_HOME_AGENT = 0x20;
export const ND_RA_FLAG_PROXY = 0x04;

// ND option types (RFC 4861 §4.6).
export const ND_OPT_SOURCE_LINKADDR = 1;
export const ND_OPT_TARGET_LINKADDR = 2;
export const ND_OPT_PREFIX_INFO = 3;
export const ND_OPT_REDIRECTED_HEADER = 4;
export const ND_OPT_MTU = 5;

// Prefix-information flags.
export const ND_OPT_PI_FLAG_ONLINK = 0x80;
export const ND_OPT_PI_FLAG_AUTO = 0x40;
export const ND_OPT_PI_FLAG_ROUTER = 0x20;

/** True for the error types (< 128), whose data quotes the offending packet. */
export function icmpv6IsError(type: number): boolean {
  return type < 128;
}

/**
 * Bytes before the first ND option for ND message 'type' (133-137), or -1 for
 * a type without options.
 */
export function ndFixedLen(type: number): number {
  switch (type) {
    case ICMPV6_ROUTER_SOLICIT: return 8;
    case ICMPV6_ROUTER_ADVERT: return 16;
    case ICMPV6_NEIGHBOR_SOLICIT: return 24;
    case ICMPV6_NEIGHBOR_ADVERT: return 24;
    case ICMPV6_REDIRECT: return 40;
    default: return -1;
  }
}

export class Icmpv6Packet {
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
   * 0 when the header, the type's ND fixed part and its options are in
   * bounds and well formed; else a `WireErrc` with `errAt`/`errField` set.
   * Invalidated by `setType()` and by writes into the options.
   */
  check(): number {
    const b = this.bytes, o = this.off, end = this.end;
    if (end - o < ICMPV6_HEADER_LEN) return this.fail(WireErrc.Truncated, 'icmpv6', o < end ? end : o);
    const fixed = ndFixedLen(b[o + TYPE]!);
    if (fixed < 0) return WireErrc.Ok;
    if (end - o < fixed) return this.fail(WireErrc.Truncated, 'icmpv6', end);
    let i = o + fixed;
    while (i < end) {
      if (end - i < 2) return this.fail(WireErrc.Truncated, 'icmpv6.opt', end);
      const units = b[i + 1]!;
      if (units === 0) return this.fail(WireErrc.BadOption, 'icmpv6.opt.length', i + 1);
      const t = b[i]!;
      if ((t === ND_OPT_PREFIX_INFO && units !== 4) || (t === ND_OPT_MTU && units !== 1)) {
        return this.fail(WireErrc.BadOption, 'icmpv6.opt.length', i + 1);
      }
      if (i + units * 8 > end) return this.fail(WireErrc.Truncated, 'icmpv6.opt', end);
      i += units * 8;
    }
    return WireErrc.Ok;
  }

  private fail(c: number, field: string, at: number): number {
    this.errField = field;
    this.errAt = at;
    return c;
  }

  /** A new checked view over 'bytes'; throws `WireError` if `check()` fails. */
  static checked(bytes: Uint8Array, off = 0, end = bytes.length): Icmpv6Packet {
    return checkOrThrow(new Icmpv6Packet().reset(bytes, off, end), 'icmpv6');
  }

  /** icmpv6.type */
  type(): number { return this.bytes[this.off + TYPE]!; }
  /** icmpv6.code */
  code(): number { return this.bytes[this.off + CODE]!; }
  /** icmpv6.checksum */
  checksum(): number { return be16(this.bytes, this.off + CHECKSUM); }
  /** Bytes 4-7 as one unsigned 32-bit number, whatever the type. */
  restOfHeader(): number { return be32(this.bytes, this.off + REST); }
  /** icmpv6.echo.identifier */
  ident(): number { return be16(this.bytes, this.off + IDENT); }
  /** icmpv6.echo.sequence_number */
  seq(): number { return be16(this.bytes, this.off + SEQ); }
  /** icmpv6.mtu: the MTU of a packet too big (type 2) */
  mtu(): number { return be32(this.bytes, this.off + REST); }
  /** icmpv6.pointer: the octet at fault in a parameter problem (type 4) */
  pointer(): number { return be32(this.bytes, this.off + REST); }
  /** icmpv6.length: RFC 4884 length of the quoted packet in 64-bit words (types 1, 3; 0 = not given) */
  origLength(): number { return this.bytes[this.off + REST]!; }
  /** icmpv6.nd.na.flag.r */
  router(): boolean { return (this.bytes[this.off + REST]! & ND_NA_FLAG_ROUTER) !== 0; }
  /** icmpv6.nd.na.flag.s */
  solicited(): boolean { return (this.bytes[this.off + REST]! & ND_NA_FLAG_SOLICITED) !== 0; }
  /** icmpv6.nd.na.flag.o */
  override(): boolean { return (this.bytes[this.off + REST]! & ND_NA_FLAG_OVERRIDE) !== 0; }
  /** icmpv6.nd.ra.cur_hop_limit */
  curHopLimit(): number { return this.bytes[this.off + RA_HOP_LIMIT]!; }
  /** icmpv6.nd.ra.flag (M, O, H, Prf, P) */
  raFlags(): number { return this.bytes[this.off + RA_FLAGS]!; }
  /** icmpv6.nd.ra.router_lifetime, seconds */
  routerLifetime(): number { return be16(this.bytes, this.off + RA_LIFETIME); }
  /** icmpv6.nd.ra.reachable_time, milliseconds */
  reachableTime(): number { return be32(this.bytes, this.off + RA_REACHABLE); }
  /** icmpv6.nd.ra.retrans_timer, milliseconds */
  retransTimer(): number { return be32(this.bytes, this.off + RA_RETRANS); }
  /** Offset of the 16-byte target address of NS, NA and redirect (icmpv6.nd.ns/na/rd.target_address). */
  targetOffset(): number { return this.off + TARGET; }
  /** Offset of the 16-byte destination address of a redirect (icmpv6.rd.na.destination_address). */
  destinationOffset(): number { return this.off + RD_DEST; }
  /** Offset of the first ND option, or -1 for a type without options. */
  optionsOffset(): number {
    const f = ndFixedLen(this.bytes[this.off + TYPE]!);
    return f < 0 ? -1 : this.off + f;
  }
  /** Offset of the quoted packet of an error message (off + 8). */
  quotedOffset(): number { return this.off + ICMPV6_HEADER_LEN; }
  /** Offset of the data after the 8-byte header (echo payload, quoted packet). */
  payloadOffset(): number { return this.off + ICMPV6_HEADER_LEN; }

  /**
   * Offset of the first ND option of 'optType', or -1. Valid after a
   * successful `check()`; allocates nothing. The option's data starts 2 bytes
   * in (a link-layer address: 6 bytes there for Ethernet).
   */
  findOption(optType: number): number {
    const b = this.bytes, end = this.end;
    const f = ndFixedLen(b[this.off + TYPE]!);
    if (f < 0) return -1;
    let i = this.off + f;
    while (i + 2 <= end) {
      const units = b[i + 1]!;
      if (units === 0) return -1;
      if (b[i] === optType) return i;
      i += units * 8;
    }
    return -1;
  }

  setType(v: number): void { this.bytes[this.off + TYPE] = v; }
  setCode(v: number): void { this.bytes[this.off + CODE] = v; }
  setChecksum(v: number): void { setBe16(this.bytes, this.off + CHECKSUM, v); }
  setRestOfHeader(v: number): void { setBe32(this.bytes, this.off + REST, v); }
  setIdent(v: number): void { setBe16(this.bytes, this.off + IDENT, v); }
  setSeq(v: number): void { setBe16(this.bytes, this.off + SEQ, v); }
  setMtu(v: number): void { setBe32(this.bytes, this.off + REST, v); }
  setPointer(v: number): void { setBe32(this.bytes, this.off + REST, v); }

  /**
   * The checksum the message [off, 'end') should carry, given the
   * pseudo-header sum 'pseudo' (which must count 'end - off' as the length).
   */
  computeChecksum(pseudo: number, end = this.end): number {
    return checksumOf(this.bytes, this.off, end, this.off + CHECKSUM, pseudo);
  }

  /** True when the stored checksum is right for the message [off, end). */
  verifyChecksum(pseudo: number): boolean {
    return fold(sum16(this.bytes, this.off, this.end, pseudo)) === 0;
  }

  /** Compute and store the checksum (the whole message in place). */
  fillChecksum(pseudo: number): void {
    this.setChecksum(this.computeChecksum(pseudo));
  }
}

// ---- Repr (slow path) -------------------------------------------------------

/**
 * One ND option as a value. Link-layer addresses keep every byte of the
 * option (`length * 8 - 2`: 6 for Ethernet); `emit` zero-pads to 8 octets.
 * 'flags' of a prefix option is the whole flag byte (ND_OPT_PI_FLAG_*).
 */
export type NdpOption =
  | { kind: 'sourceLinkAddr'; addr: Uint8Array }
  | { kind: 'targetLinkAddr'; addr: Uint8Array }
  | {
    kind: 'prefixInfo'; prefixLen: number; flags: number; validLifetime: number; preferredLifetime: number;
    reserved: number; prefix: Uint8Array;
  }
  | { kind: 'mtu'; reserved: number; mtu: number }
  | { kind: 'unknown'; type: number; data: Uint8Array };

/**
 * An ICMPv6 message as values; 'checksum' of -1 means "compute on emit".
 * Every variant keeps all the bits of the header (reserved fields included),
 * so `emit(parse(x))` reproduces x. Echo data and quoted packets are not in
 * the Repr: they follow the header in the buffer. ND options are.
 * Addresses are 16-byte arrays.
 */
export type Icmpv6Repr =
  | { kind: 'echoRequest' | 'echoReply'; code: number; checksum: number; ident: number; seq: number }
  /** 'unused' is bytes 4-7; byte 4 is the RFC 4884 length. */
  | { kind: 'destUnreachable'; code: number; checksum: number; unused: number }
  | { kind: 'packetTooBig'; code: number; checksum: number; mtu: number }
  | { kind: 'timeExceeded'; code: number; checksum: number; unused: number }
  | { kind: 'paramProblem'; code: number; checksum: number; pointer: number }
  | { kind: 'routerSolicit'; code: number; checksum: number; reserved: number; options: NdpOption[] }
  | {
    kind: 'routerAdvert'; code: number; checksum: number; curHopLimit: number; flags: number;
    routerLifetime: number; reachableTime: number; retransTimer: number; options: NdpOption[];
  }
  | { kind: 'neighborSolicit'; code: number; checksum: number; reserved: number; target: Uint8Array; options: NdpOption[] }
  /** 'reserved' is the low 29 bits after the R, S and O flags. */
  | {
    kind: 'neighborAdvert'; code: number; checksum: number; router: boolean; solicited: boolean; override: boolean;
    reserved: number; target: Uint8Array; options: NdpOption[];
  }
  | {
    kind: 'redirect'; code: number; checksum: number; reserved: number; target: Uint8Array; destination: Uint8Array;
    options: NdpOption[];
  }
  | { kind: 'other'; type: number; code: number; checksum: number; restOfHeader: number };

/** The type byte a Repr stands for. */
export function icmpv6ReprType(r: Icmpv6Repr): number {
  switch (r.kind) {
    case 'echoRequest': return ICMPV6_ECHO_REQUEST;
    case 'echoReply': return ICMPV6_ECHO_REPLY;
    case 'destUnreachable': return ICMPV6_DEST_UNREACH;
    case 'packetTooBig': return ICMPV6_PACKET_TOO_BIG;
    case 'timeExceeded': return ICMPV6_TIME_EXCEEDED;
    case 'paramProblem': return ICMPV6_PARAM_PROBLEM;
    case 'routerSolicit': return ICMPV6_ROUTER_SOLICIT;
    case 'routerAdvert': return ICMPV6_ROUTER_ADVERT;
    case 'neighborSolicit': return ICMPV6_NEIGHBOR_SOLICIT;
    case 'neighborAdvert': return ICMPV6_NEIGHBOR_ADVERT;
    case 'redirect': return ICMPV6_REDIRECT;
    case 'other': return r.type;
  }
}

/** Bytes 'opt' takes on the wire (a multiple of 8). */
export function ndpOptionLen(opt: NdpOption): number {
  switch (opt.kind) {
    case 'sourceLinkAddr': case 'targetLinkAddr': return (2 + opt.addr.length + 7) & ~7;
    case 'prefixInfo': return 32;
    case 'mtu': return 8;
    case 'unknown': return (2 + opt.data.length + 7) & ~7;
  }
}

function parseOptions(p: Icmpv6Packet): NdpOption[] {
  const b = p.bytes, end = p.end;
  const out: NdpOption[] = [];
  let i = p.optionsOffset();
  while (i < end) {
    const t = b[i]!, n = b[i + 1]! * 8; // check() proved every option whole and non-empty
    switch (t) {
      case ND_OPT_SOURCE_LINKADDR: out.push({ kind: 'sourceLinkAddr', addr: b.slice(i + 2, i + n) }); break;
      case ND_OPT_TARGET_LINKADDR: out.push({ kind: 'targetLinkAddr', addr: b.slice(i + 2, i + n) }); break;
      case ND_OPT_PREFIX_INFO:
        out.push({
          kind: 'prefixInfo', prefixLen: b[i + 2]!, flags: b[i + 3]!, validLifetime: be32(b, i + 4),
          preferredLifetime: be32(b, i + 8), reserved: be32(b, i + 12), prefix: b.slice(i + 16, i + 32),
        });
        break;
      case ND_OPT_MTU: out.push({ kind: 'mtu', reserved: be16(b, i + 2), mtu: be32(b, i + 4) }); break;
      default: out.push({ kind: 'unknown', type: t, data: b.slice(i + 2, i + n) });
    }
    i += n;
  }
  return out;
}

/** Write 'opt' at 'o' in 'b' (zero-padded to 8 octets); returns the offset after it. */
function emitOption(b: Uint8Array, o: number, opt: NdpOption): number {
  const n = ndpOptionLen(opt);
  b.fill(0, o, o + n);
  b[o + 1] = n >>> 3;
  switch (opt.kind) {
    case 'sourceLinkAddr': b[o] = ND_OPT_SOURCE_LINKADDR; b.set(opt.addr, o + 2); break;
    case 'targetLinkAddr': b[o] = ND_OPT_TARGET_LINKADDR; b.set(opt.addr, o + 2); break;
    case 'prefixInfo':
      b[o] = ND_OPT_PREFIX_INFO; b[o + 2] = opt.prefixLen; b[o + 3] = opt.flags;
      setBe32(b, o + 4, opt.validLifetime); setBe32(b, o + 8, opt.preferredLifetime); setBe32(b, o + 12, opt.reserved);
      b.set(opt.prefix.subarray(0, 16), o + 16);
      break;
    case 'mtu': b[o] = ND_OPT_MTU; setBe16(b, o + 2, opt.reserved); setBe32(b, o + 4, opt.mtu); break;
    case 'unknown': b[o] = opt.type; b.set(opt.data, o + 2); break;
  }
  return o + n;
}

/** Bytes before the options of 'r': the ND fixed part, or the 8-byte header ('other' is header only). */
function reprFixedLen(r: Icmpv6Repr): number {
  const f = r.kind === 'other' ? -1 : ndFixedLen(icmpv6ReprType(r));
  return f < 0 ? ICMPV6_HEADER_LEN : f;
}

function optionsOf(r: Icmpv6Repr): NdpOption[] {
  switch (r.kind) {
    case 'routerSolicit': case 'routerAdvert': case 'neighborSolicit': case 'neighborAdvert': case 'redirect':
      return r.options;
    default:
      return [];
  }
}

export const Icmpv6Repr = {
  /** Read a view (throws `WireError` if it does not check). */
  parse(p: Icmpv6Packet): Icmpv6Repr {
    checkOrThrow(p, 'icmpv6');
    const b = p.bytes, o = p.off;
    const type = p.type(), code = p.code(), checksum = p.checksum(), rest = p.restOfHeader();
    switch (type) {
      case ICMPV6_ECHO_REQUEST: return { kind: 'echoRequest', code, checksum, ident: p.ident(), seq: p.seq() };
      case ICMPV6_ECHO_REPLY: return { kind: 'echoReply', code, checksum, ident: p.ident(), seq: p.seq() };
      case ICMPV6_DEST_UNREACH: return { kind: 'destUnreachable', code, checksum, unused: rest };
      case ICMPV6_PACKET_TOO_BIG: return { kind: 'packetTooBig', code, checksum, mtu: rest };
      case ICMPV6_TIME_EXCEEDED: return { kind: 'timeExceeded', code, checksum, unused: rest };
      case ICMPV6_PARAM_PROBLEM: return { kind: 'paramProblem', code, checksum, pointer: rest };
      case ICMPV6_ROUTER_SOLICIT: return { kind: 'routerSolicit', code, checksum, reserved: rest, options: parseOptions(p) };
      case ICMPV6_ROUTER_ADVERT:
        return {
          kind: 'routerAdvert', code, checksum, curHopLimit: p.curHopLimit(), flags: p.raFlags(),
          routerLifetime: p.routerLifetime(), reachableTime: p.reachableTime(), retransTimer: p.retransTimer(),
          options: parseOptions(p),
        };
      case ICMPV6_NEIGHBOR_SOLICIT:
        return { kind: 'neighborSolicit', code, checksum, reserved: rest, target: b.slice(o + TARGET, o + TARGET + 16), options: parseOptions(p) };
      case ICMPV6_NEIGHBOR_ADVERT:
        return {
          kind: 'neighborAdvert', code, checksum, router: p.router(), solicited: p.solicited(), override: p.override(),
          reserved: rest & 0x1fffffff, target: b.slice(o + TARGET, o + TARGET + 16), options: parseOptions(p),
        };
      case ICMPV6_REDIRECT:
        return {
          kind: 'redirect', code, checksum, reserved: rest, target: b.slice(o + TARGET, o + TARGET + 16),
          destination: b.slice(o + RD_DEST, o + RD_DEST + 16), options: parseOptions(p),
        };
      default: return { kind: 'other', type, code, checksum, restOfHeader: rest };
    }
  },
  /** Bytes `emit` writes: the header, any ND fixed part, and the ND options. */
  bufferLen(r: Icmpv6Repr): number {
    let n = reprFixedLen(r);
    for (const opt of optionsOf(r)) n += ndpOptionLen(opt);
    return n;
  },
  /**
   * Write the message at 'p.off': header, ND fixed part and options
   * (`bufferLen(r)` bytes); the 'payloadLen' bytes after them (echo data,
   * quoted packet) must already be in place. 'pseudoOf' gives the IPv6
   * pseudo-header sum for a message length. The checksum is computed unless
   * the Repr gives it (>= 0).
   */
  emit(r: Icmpv6Repr, p: Icmpv6Packet, payloadLen: number, pseudoOf: (len: number) => number): void {
    const b = p.bytes, o = p.off;
    p.setType(icmpv6ReprType(r));
    p.setCode(r.code);
    p.setChecksum(0);
    switch (r.kind) {
      case 'echoRequest': case 'echoReply': p.setIdent(r.ident); p.setSeq(r.seq); break;
      case 'destUnreachable': case 'timeExceeded': p.setRestOfHeader(r.unused); break;
      case 'packetTooBig': p.setMtu(r.mtu); break;
      case 'paramProblem': p.setPointer(r.pointer); break;
      case 'routerSolicit': p.setRestOfHeader(r.reserved); break;
      case 'routerAdvert':
        b[o + RA_HOP_LIMIT] = r.curHopLimit; b[o + RA_FLAGS] = r.flags;
        setBe16(b, o + RA_LIFETIME, r.routerLifetime); setBe32(b, o + RA_REACHABLE, r.reachableTime);
        setBe32(b, o + RA_RETRANS, r.retransTimer);
        break;
      case 'neighborSolicit': p.setRestOfHeader(r.reserved); b.set(r.target.subarray(0, 16), o + TARGET); break;
      case 'neighborAdvert': {
        const fl = (r.router ? ND_NA_FLAG_ROUTER : 0) | (r.solicited ? ND_NA_FLAG_SOLICITED : 0) | (r.override ? ND_NA_FLAG_OVERRIDE : 0);
        p.setRestOfHeader(((fl << 24) | (r.reserved & 0x1fffffff)) >>> 0);
        b.set(r.target.subarray(0, 16), o + TARGET);
        break;
      }
      case 'redirect':
        p.setRestOfHeader(r.reserved);
        b.set(r.target.subarray(0, 16), o + TARGET);
        b.set(r.destination.subarray(0, 16), o + RD_DEST);
        break;
      case 'other': p.setRestOfHeader(r.restOfHeader); break;
    }
    let i = o + reprFixedLen(r);
    for (const opt of optionsOf(r)) i = emitOption(b, i, opt);
    const len = i - o + payloadLen;
    p.setChecksum(r.checksum >= 0 ? r.checksum : p.computeChecksum(pseudoOf(len), o + len));
  },
};
