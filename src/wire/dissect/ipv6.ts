/**
 * IPv6 dissector (slow path): Wireshark's `ipv6.*` fields and one layer per
 * extension header. See ../dissect.ts for the model.
 *
 * Layers and fields, formatted as tshark 4.0 prints them:
 * - `ipv6`: ipv6.version, ipv6.tclass (0x%08x), ipv6.tclass.dscp,
 *   ipv6.tclass.ecn, ipv6.flow (0x%06x), ipv6.plen, ipv6.nxt, ipv6.hlim,
 *   ipv6.src, ipv6.addr, ipv6.src_host, ipv6.host, ipv6.dst, ipv6.addr,
 *   ipv6.dst_host, ipv6.host. (tshark adds ipv6.*_slaac_mac, *_6to4_*,
 *   *_teredo_*… for addresses of those forms; sdnemu does not. tshark also
 *   gives every IPv6 header a hidden `ip.version` 6; sdnemu does not yet,
 *   because encode.ts reads each `ip.version` as an IPv4 layer.)
 * - `ipv6.hopopts` / `ipv6.dstopts`: <p>.nxt, <p>.len, <p>.len_oct, then per
 *   option ipv6.opt (printed "1"), ipv6.opt.type (0x%02x), and — except for
 *   Pad1 — ipv6.opt.type.action, .change, .rest (0x%02x), ipv6.opt.length;
 *   value fields for Pad1 (ipv6.opt.pad1), PadN (ipv6.opt.padn; an empty
 *   one prints `<none>`, other empty byte fields `<MISSING>`), Tunnel Encapsulation Limit (ipv6.opt.tel), Router Alert
 *   (ipv6.opt.router_alert), Jumbo Payload (ipv6.opt.jumbo), the RFC 4727
 *   experimental types (ipv6.opt.experimental) and types tshark does not know
 *   (ipv6.opt.unknown); other known types get the generic fields only.
 * - `ipv6.routing`: ipv6.routing.nxt, .len, .len_oct, .type, .segleft; type 0
 *   adds ipv6.routing.src.reserved and ipv6.routing.src.addr per address,
 *   type 2 ipv6.routing.mipv6.reserved/.home_address, type 4 (SRH)
 *   ipv6.routing.srh.last_entry/.flags/.tag/.addr.
 * - `ipv6.fraghdr`: ipv6.fraghdr.nxt, .reserved_octet, .offset (8-byte
 *   units), .reserved_bits, .more, .ident (0x%08x).
 * - `ah` (RFC 4302): ah.next_header, ah.length, ah.reserved, ah.spi,
 *   ah.sequence, ah.icv (`<MISSING>` when empty, as tshark prints it). `dissectAh` is exported too, for AH over IPv4.
 * Errors: a bad version, a payload length beyond the bytes present (not in
 * an ICMPv6 quote) or an extension header running past the payload throw
 * WireError after the layers before the fault; an option running past its
 * header throws WIRE_BAD_OPTION at the option. An ICMPv6 quote cut inside an
 * extension header is not an error: as tshark, the cut header shows the
 * fields whose bytes are there (an options header needs its first two bytes,
 * each option its type and length, a fragment header all 8), then nothing
 * follows.
 * Fragments (tshark with `-o ipv6.defragment:FALSE`; sdnemu never
 * reassembles here): a first fragment decodes its upper-layer header from the
 * bytes present; a later one is `{kind:'data'}`.
 * Next: `{kind:'ipproto', proto: upper-layer protocol, off, end: min(payload
 * end, end)}`; No Next Header (59) → `{kind:'data'}` over what follows (tshark
 * shows it as data) or `{kind:'end'}` when nothing does. Sets ctx.ip with the
 * offsets of the source and of the final destination (routing header); its
 * `fragmented` is also set inside an enclosing fragmented packet (a tunnel
 * in a first fragment), as tshark's IPv6 keeps pinfo->fragmented. A payload
 * length beyond the bytes present is no error inside an enclosing first
 * fragment.
 */
import { be16, be32, ipv6ToString, toHex } from '../bytes.js';
import { addField, flag, hex, type DissectCtx, type DissectLayer, type Next } from '../dissect.js';
import { insideFirstFragment } from './ipv4.js';
import { WireErrc, wireError } from '../errc.js';
import {
  IPPROTO_AH, IPPROTO_DSTOPTS, IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_NONE, IPPROTO_ROUTING, IPV6_HEADER_LEN,
  IPV6_RT_MIPV6, IPV6_RT_SOURCE, IPV6_RT_SRH, Ipv6Packet,
} from '../ipv6.js';

/** Dissect the IPv6 packet at [off, end): an `ipv6` layer plus one per extension header; sets ctx.ip. */
export function dissectIpv6(ctx: DissectCtx, off: number, end: number): Next {
  const b = ctx.bytes;
  const p = new Ipv6Packet().reset(b, off, end);
  let c = ctx.quoted ? p.checkHeader() : p.check();
  if (c === WireErrc.Truncated && p.errField === 'ipv6.plen') {
    // the payload length claims bytes that are not there: go on inside the
    // bytes present (an error unless an enclosing first fragment cut them)
    if (!insideFirstFragment(ctx, ctx.layers.length)) ctx.truncated ??= wireError(c, 'ipv6', p.errField, p.errAt);
    c = p.checkHeader();
  }
  if (c === WireErrc.BadVersion) {
    const l = ctx.open('ipv6', off, 1);
    addField(l, 'ipv6.version', String(p.version()));
    throw wireError(c, 'ipv6', p.errField, p.errAt);
  }
  if (end - off < IPV6_HEADER_LEN) throw wireError(c, 'ipv6', p.errField, p.errAt); // the fixed header is cut
  const l = ctx.open('ipv6', off, IPV6_HEADER_LEN);
  addField(l, 'ipv6.version', '6');
  addField(l, 'ip.version', '6'); // hidden in tshark's tree, so that `ip.version == 6` matches IPv6
  addField(l, 'ipv6.tclass', hex(p.trafficClass(), 8));
  addField(l, 'ipv6.tclass.dscp', String(p.dscp()));
  addField(l, 'ipv6.tclass.ecn', String(p.ecn()));
  addField(l, 'ipv6.flow', hex(p.flowLabel(), 6));
  addField(l, 'ipv6.plen', String(p.payloadLength()));
  addField(l, 'ipv6.nxt', String(p.nextHeader()));
  addField(l, 'ipv6.hlim', String(p.hopLimit()));
  const src = ipv6ToString(b, p.srcOffset()), dst = ipv6ToString(b, p.dstOffset());
  addField(l, 'ipv6.src', src);
  addField(l, 'ipv6.addr', src);
  addField(l, 'ipv6.src_host', src);
  addField(l, 'ipv6.host', src);
  addField(l, 'ipv6.dst', dst);
  addField(l, 'ipv6.addr', dst);
  addField(l, 'ipv6.dst_host', dst);
  addField(l, 'ipv6.host', dst);

  // One layer per extension header, up to the header at fault if check() found one.
  const stopAt = c !== 0 ? (p.errExtOff >= 0 ? p.errExtOff : p.errAt) : p.upperOff;
  // The end of what a cut quote holds (Infinity outside quotes, where
  // check() proved every extension header whole).
  const limit = ctx.quoted ? end : Infinity;
  let nh = p.nextHeader();
  let q = off + IPV6_HEADER_LEN;
  while (q < stopAt) {
    const next = b[q]!;
    const before = q;
    if (nh === IPPROTO_HOPOPTS || nh === IPPROTO_DSTOPTS) {
      q = optionsHeader(ctx, q, nh === IPPROTO_HOPOPTS ? 'ipv6.hopopts' : 'ipv6.dstopts', limit);
    } else if (nh === IPPROTO_ROUTING) {
      q = routingHeader(ctx, q, limit);
    } else if (nh === IPPROTO_FRAGMENT) {
      q = fragmentHeader(ctx, q);
    } else if (nh === IPPROTO_AH) {
      q = ahHeader(ctx, q);
    } else {
      break;
    }
    if (q <= before) break; // every header is at least 8 bytes; never loop on a bad length
    nh = next;
  }
  if (c === WireErrc.Truncated && ctx.quoted && q === p.errExtOff) {
    // An ICMPv6 quote cut inside an extension header: the fields whose bytes
    // are there, as tshark shows them, and nothing after (not an error).
    if ((nh === IPPROTO_HOPOPTS || nh === IPPROTO_DSTOPTS) && end - q >= 2) {
      optionsHeader(ctx, q, nh === IPPROTO_HOPOPTS ? 'ipv6.hopopts' : 'ipv6.dstopts', end);
    } else if (nh === IPPROTO_ROUTING && end > q) {
      routingHeader(ctx, q, end);
    }
    return { kind: 'end' };
  }
  if (c !== 0) throw wireError(c, 'ipv6', p.errField, p.errAt);

  // Unlike IPv4, tshark's IPv6 keeps an enclosing packet's "fragmented"
  // state (pinfo->fragmented): inside a tunnel carried by a first fragment,
  // upper-layer checksums stay unverified and tcp.len unknown.
  const fragmented = (p.fragOff >= 0 && (p.fragMore() || p.fragOffset() !== 0)) || (ctx.ip !== null && ctx.ip.fragmented);
  ctx.ip = { version: 6, src: 0, dst: 0, srcOff: p.srcOffset(), dstOff: p.finalDstOffset(), quoted: ctx.quoted, fragmented };
  const payEnd = Math.min(p.payloadEnd(), end);
  const upOff = p.upperOff;
  if (p.isLaterFragment()) return { kind: 'data', off: upOff, end: payEnd };
  if (p.upperProto === IPPROTO_NONE) return upOff < payEnd ? { kind: 'data', off: upOff, end: payEnd } : { kind: 'end' };
  return { kind: 'ipproto', proto: p.upperProto, off: upOff, end: payEnd };
}

/**
 * Option types Wireshark decodes in its own way (CALIPSO, SMF_DPD, PDM,
 * Quick-Start, PMTU, IOAM, TPF, RPL, MPL, ENDI, ILNP nonce, LIO, Home
 * Address, IP_DFF…); sdnemu gives them the generic fields only. Any other
 * type is tshark's "Unknown IPv6 Option" with its data as ipv6.opt.unknown.
 */
export const KNOWN_OPTS: ReadonlySet<number> = new Set([0x07, 0x08, 0x0f, 0x23, 0x26, 0x30, 0x31, 0x41, 0x63, 0x6d, 0x8a, 0x8b, 0x8c, 0xc9, 0xee]);

/**
 * Hop-by-hop or destination options header at 'q'; returns the offset after
 * it. Its first two bytes are present, and so is the rest up to 'limit' (the
 * end of a cut quote; Infinity otherwise, as check() proved the header is
 * whole): an option is shown when its type and length bytes are before
 * 'limit' (a Pad1 when its one byte is), its value only when all of it is.
 * Not mirrored: tshark reads a length byte even for a Pad1, so a Pad1 in the
 * last byte of the data (a header that ends the packet or the quote) is
 * missing from its output, and outside a quote the packet is called
 * malformed; the Pad1 is there, so it is shown here.
 */
function optionsHeader(ctx: DissectCtx, q: number, proto: string, limit: number): number {
  const b = ctx.bytes;
  const len = (b[q + 1]! + 1) << 3;
  const l = ctx.open(proto, q, Math.min(len, limit - q));
  addField(l, proto + '.nxt', String(b[q]!));
  addField(l, proto + '.len', String(b[q + 1]!));
  addField(l, proto + '.len_oct', String(len));
  const hend = q + len;
  let o = q + 2;
  while (o < hend && o < limit) {
    const t = b[o]!;
    if (t !== 0 && o + 2 > limit) break;
    addField(l, 'ipv6.opt', '1');
    addField(l, 'ipv6.opt.type', hex(t, 2));
    if (t === 0) { // Pad1
      addField(l, 'ipv6.opt.pad1', '1');
      o++;
      continue;
    }
    if (o + 2 > hend || o + 2 + b[o + 1]! > hend) { // the option runs past its header
      throw wireError(WireErrc.BadOption, 'ipv6', 'ipv6.opt.length', o);
    }
    const n = b[o + 1]!;
    addField(l, 'ipv6.opt.type.action', String(t >>> 6));
    addField(l, 'ipv6.opt.type.change', String((t >>> 5) & 1));
    addField(l, 'ipv6.opt.type.rest', hex(t & 31, 2));
    addField(l, 'ipv6.opt.length', String(n));
    const d = o + 2;
    if (d + n > limit) break;
    if (t === 1) {
      addField(l, 'ipv6.opt.padn', bytesField(b, d, d + n, '<none>'));
    } else if (t === 5) {
      if (n === 2) addField(l, 'ipv6.opt.router_alert', String(be16(b, d)));
    } else if (t === 0xc2) {
      if (n === 4) addField(l, 'ipv6.opt.jumbo', String(be32(b, d)));
    } else if (t === 4) {
      if (n === 1) addField(l, 'ipv6.opt.tel', String(b[d]!));
    } else if ((t & 31) === 0x1e) {
      addField(l, 'ipv6.opt.experimental', bytesField(b, d, d + n, '<MISSING>'));
    } else if (!KNOWN_OPTS.has(t)) {
      addField(l, 'ipv6.opt.unknown', bytesField(b, d, d + n, '<MISSING>'));
    }
    o = d + n;
  }
  return hend;
}

/**
 * A byte-string field as tshark prints it: hex, or when empty the text tshark
 * shows there ('empty': `<none>` for PadN, `<MISSING>` where Wireshark adds
 * the item with no bytes).
 */
function bytesField(b: Uint8Array, from: number, to: number, empty: string): string {
  return from < to ? toHex(b, from, to) : empty;
}

/**
 * Routing header at 'q'; returns the offset after it. Fields are added
 * while their bytes are before 'limit' (the end of a cut quote, where tshark
 * stops at the first field missing; Infinity when check() proved the header whole).
 */
function routingHeader(ctx: DissectCtx, q: number, limit: number): number {
  const b = ctx.bytes;
  const len = (b[q + 1]! + 1) << 3;
  const hend = q + len;
  const l = ctx.open('ipv6.routing', q, Math.min(len, limit - q));
  const end = Math.min(hend, limit);
  const has = (n: number): boolean => q + n <= end;
  addField(l, 'ipv6.routing.nxt', String(b[q]!));
  if (!has(2)) return hend;
  addField(l, 'ipv6.routing.len', String(b[q + 1]!));
  addField(l, 'ipv6.routing.len_oct', String(len));
  if (!has(3)) return hend;
  const type = b[q + 2]!;
  addField(l, 'ipv6.routing.type', String(type));
  if (!has(4)) return hend;
  addField(l, 'ipv6.routing.segleft', String(b[q + 3]!));
  if (type === IPV6_RT_SOURCE) {
    if (!has(8)) return hend;
    addField(l, 'ipv6.routing.src.reserved', toHex(b, q + 4, q + 8));
    for (let a = q + 8; a + 16 <= end; a += 16) addField(l, 'ipv6.routing.src.addr', ipv6ToString(b, a));
  } else if (type === IPV6_RT_MIPV6 && len >= 24) {
    if (!has(8)) return hend;
    addField(l, 'ipv6.routing.mipv6.reserved', toHex(b, q + 4, q + 8));
    if (has(24)) addField(l, 'ipv6.routing.mipv6.home_address', ipv6ToString(b, q + 8));
  } else if (type === IPV6_RT_SRH) {
    if (!has(5)) return hend;
    addField(l, 'ipv6.routing.srh.last_entry', String(b[q + 4]!));
    if (!has(6)) return hend;
    addField(l, 'ipv6.routing.srh.flags', hex(b[q + 5]!, 2));
    if (!has(8)) return hend;
    addField(l, 'ipv6.routing.srh.tag', toHex(b, q + 6, q + 8));
    const n = Math.min(b[q + 4]! + 1, (len - 8) >>> 4);
    for (let i = 0; i < n && has(24 + 16 * i); i++) addField(l, 'ipv6.routing.srh.addr', ipv6ToString(b, q + 8 + 16 * i));
  }
  return hend;
}

function fragmentHeader(ctx: DissectCtx, q: number): number {
  const b = ctx.bytes;
  const l = ctx.open('ipv6.fraghdr', q, 8);
  const w = be16(b, q + 2);
  addField(l, 'ipv6.fraghdr.nxt', String(b[q]!));
  addField(l, 'ipv6.fraghdr.reserved_octet', hex(b[q + 1]!, 2));
  addField(l, 'ipv6.fraghdr.offset', String(w >>> 3));
  addField(l, 'ipv6.fraghdr.reserved_bits', String((w >>> 1) & 3));
  addField(l, 'ipv6.fraghdr.more', flag(w & 1));
  addField(l, 'ipv6.fraghdr.ident', hex(be32(b, q + 4), 8));
  return q + 8;
}

/** The AH fields of the header at 'q' (12 bytes plus ICV, in bounds); returns the offset after it. */
function ahHeader(ctx: DissectCtx, q: number): number {
  const b = ctx.bytes;
  const len = (b[q + 1]! + 2) << 2;
  const l = ctx.open('ah', q, len);
  addAhFields(l, b, q, len);
  return q + len;
}

function addAhFields(l: DissectLayer, b: Uint8Array, q: number, len: number): void {
  addField(l, 'ah.next_header', String(b[q]!));
  addField(l, 'ah.length', String(b[q + 1]!));
  addField(l, 'ah.reserved', toHex(b, q + 2, q + 4));
  if (len >= 12) {
    addField(l, 'ah.spi', hex(be32(b, q + 4), 8));
    addField(l, 'ah.sequence', String(be32(b, q + 8)));
    addField(l, 'ah.icv', len > 12 ? toHex(b, q + 12, q + len) : '<MISSING>'); // tshark's text for an empty ICV
  }
}

/**
 * AH (RFC 4302) as its own layer, for IP protocol 51 over IPv4 (over IPv6
 * the IPv6 dissector already walks it). Next: the protocol AH protects.
 */
export function dissectAh(ctx: DissectCtx, off: number, end: number): Next {
  const b = ctx.bytes;
  if (end - off < 2) throw wireError(WireErrc.Truncated, 'ah', 'ah', end > off ? end : off);
  const len = (b[off + 1]! + 2) << 2;
  if (end - off < len || len < 12) throw wireError(WireErrc.BadOption, 'ah', 'ah.length', off + 1);
  const l = ctx.open('ah', off, len);
  addAhFields(l, b, off, len);
  return { kind: 'ipproto', proto: b[off]!, off: off + len, end };
}
