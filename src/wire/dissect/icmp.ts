/**
 * ICMP (IPv4) dissector (slow path): Wireshark's `icmp.*` fields. See ../dissect.ts.
 *
 * Per type, as tshark 4.0 prints them:
 * - echo, timestamp, information and address-mask messages (0, 8, 13-18):
 *   icmp.ident / icmp.seq and their byte-swapped twins icmp.ident_le /
 *   icmp.seq_le; timestamps (13, 14) add the three timestamps, address masks
 *   (17, 18) icmp.address_mask;
 * - destination unreachable (3) and time exceeded (11): when byte 5 (the
 *   RFC 4884 length) is zero, icmp.unused over bytes 4-7 (4-5 for
 *   "fragmentation needed", followed by icmp.mtu); otherwise icmp.unused for
 *   byte 4, icmp.length, icmp.length.original_datagram (bytes), then icmp.mtu
 *   or icmp.unused for bytes 6-7;
 * - parameter problem (12): icmp.pointer, then the same RFC 4884 split;
 * - redirect (5): icmp.redir_gw. Source quench and other types: nothing more.
 * Checksum: over the message [off, end); inside a quote (`ctx.quoted`) it is
 * not verified (status 2), as tshark does. A quoted message cut inside its
 * header shows what tshark shows (nothing below 6 bytes; type, code,
 * checksum and identifier from 6), and a quoted timestamp or address mask
 * cut short loses the fields it lacks instead of failing.
 * Next: errors (3, 4, 5, 11, 12) → `{kind:'ip'}` at the quoted header (the
 * driver dissects it with `ctx.quoted`), for a redirect only over the quoted
 * header + 8 bytes, as tshark reads it (RFC 792's "header + 64 bits"); echo
 * request/reply → `{kind:'data'}` for the payload; otherwise, or with nothing
 * after the header, `{kind:'end'}`.
 */
import { CHECKSUM_BAD, CHECKSUM_GOOD, CHECKSUM_UNVERIFIED, addField, hex, type DissectCtx, type DissectLayer, type Next } from '../dissect.js';
import { be32, ipv4ToString, toHex } from '../bytes.js';
import { WireErrc, wireError } from '../errc.js';
import {
  ICMP_ADDR_MASK_REPLY, ICMP_ADDR_MASK_REQUEST, ICMP_DEST_UNREACH, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_FRAG_NEEDED,
  ICMP_HEADER_LEN, ICMP_PARAM_PROBLEM, ICMP_REDIRECT, ICMP_TIMESTAMP, ICMP_TIMESTAMP_REPLY, ICMP_TIME_EXCEEDED,
  IcmpPacket, icmpHasIdentSeq, icmpIsError,
} from '../icmp.js';

export function dissectIcmp(ctx: DissectCtx, off: number, end: number): Next {
  const p = new IcmpPacket().reset(ctx.bytes, off, end);
  const c = p.check();
  if (c !== 0) {
    if (ctx.quoted) return cutQuote(ctx, p, off, end);
    throw wireError(c, 'icmp', p.errField, p.errAt);
  }
  const b = ctx.bytes;
  const l = ctx.open('icmp', off, ICMP_HEADER_LEN);
  const type = p.type(), code = p.code();
  addField(l, 'icmp.type', String(type));
  addField(l, 'icmp.code', String(code));
  addField(l, 'icmp.checksum', hex(p.checksum(), 4));
  addField(l, 'icmp.checksum.status', ctx.quoted || ctx.ip?.fragmented === true ? CHECKSUM_UNVERIFIED : p.verifyChecksum() ? CHECKSUM_GOOD : CHECKSUM_BAD);

  if (icmpHasIdentSeq(type)) {
    const id = p.ident(), seq = p.seq();
    addField(l, 'icmp.ident', String(id));
    addField(l, 'icmp.ident_le', String(swap16(id)));
    addField(l, 'icmp.seq', String(seq));
    addField(l, 'icmp.seq_le', String(swap16(seq)));
    if (type === ICMP_TIMESTAMP || type === ICMP_TIMESTAMP_REPLY) {
      addU32s(l, b, off + 8, end, ['icmp.originate_timestamp', 'icmp.receive_timestamp', 'icmp.transmit_timestamp'], ctx.quoted);
      l.length = 20;
      return { kind: 'end' };
    }
    if (type === ICMP_ADDR_MASK_REQUEST || type === ICMP_ADDR_MASK_REPLY) {
      if (end - off >= 12) addField(l, 'icmp.address_mask', ipv4ToString(be32(b, off + 8)));
      else if (!ctx.quoted) throw wireError(WireErrc.Truncated, 'icmp', 'icmp.address_mask', end);
      l.length = 12;
      return { kind: 'end' };
    }
  } else if (type === ICMP_DEST_UNREACH) {
    addRfc4884(l, b, off, code === ICMP_FRAG_NEEDED ? 'icmp.mtu' : '', 4);
  } else if (type === ICMP_TIME_EXCEEDED) {
    addRfc4884(l, b, off, '', 4);
  } else if (type === ICMP_PARAM_PROBLEM) {
    addField(l, 'icmp.pointer', String(p.pointer()));
    addRfc4884(l, b, off, '', 5);
  } else if (type === ICMP_REDIRECT) {
    addField(l, 'icmp.redir_gw', ipv4ToString(p.gateway()));
  }

  const data = off + ICMP_HEADER_LEN;
  if (data >= end) return { kind: 'end' };
  if (type === ICMP_REDIRECT) {
    // tshark 4.0 decodes a redirect's quote as RFC 792 defines it, the IP
    // header plus 64 bits, and ignores anything after that
    return { kind: 'ip', off: data, end: Math.min(end, data + ((b[data]! & 15) << 2) + 8) };
  }
  if (icmpIsError(type)) return { kind: 'ip', off: data, end };
  if (type === ICMP_ECHO_REQUEST || type === ICMP_ECHO_REPLY) return { kind: 'data', off: data, end };
  return { kind: 'end' };
}

/**
 * A quoted message cut inside its 8-byte header: tshark 4.0 shows nothing
 * below 6 bytes (it reads the identifier up front), else the type, code,
 * unverified checksum and, for the messages that have one, the identifier.
 */
function cutQuote(ctx: DissectCtx, p: IcmpPacket, off: number, end: number): Next {
  if (end - off < 6) return { kind: 'end' };
  const l = ctx.open('icmp', off, end - off);
  const type = p.type();
  addField(l, 'icmp.type', String(type));
  addField(l, 'icmp.code', String(p.code()));
  addField(l, 'icmp.checksum', hex(p.checksum(), 4));
  addField(l, 'icmp.checksum.status', CHECKSUM_UNVERIFIED);
  if (icmpHasIdentSeq(type)) {
    addField(l, 'icmp.ident', String(p.ident()));
    addField(l, 'icmp.ident_le', String(swap16(p.ident())));
  }
  return { kind: 'end' };
}

/**
 * Bytes 4-7 of an error message. With an RFC 4884 length in byte 5: icmp.unused
 * (byte 4), icmp.length and its byte count, then 'lowField' (icmp.mtu) or
 * icmp.unused for bytes 6-7. Without: icmp.unused from byte 'unusedFrom' to the
 * MTU (or to byte 8), then the MTU if any.
 */
function addRfc4884(l: DissectLayer, b: Uint8Array, off: number, lowField: string, unusedFrom: number): void {
  const words = b[off + 5]!;
  const low = (b[off + 6]! << 8) | b[off + 7]!;
  if (words !== 0) {
    if (unusedFrom === 4) addField(l, 'icmp.unused', toHex(b, off + 4, off + 5));
    addField(l, 'icmp.length', String(words));
    addField(l, 'icmp.length.original_datagram', String(words * 4));
    if (lowField !== '') addField(l, lowField, String(low));
    else addField(l, 'icmp.unused', toHex(b, off + 6, off + 8));
  } else if (lowField !== '') {
    addField(l, 'icmp.unused', toHex(b, off + unusedFrom, off + 6));
    addField(l, lowField, String(low));
  } else {
    addField(l, 'icmp.unused', toHex(b, off + unusedFrom, off + 8));
  }
}

/**
 * Consecutive uint32 fields 'names' from 'o'. The first one cut short ends
 * the list: silently in a quote ('quoted'), else with a truncation error.
 */
function addU32s(l: DissectLayer, b: Uint8Array, o: number, end: number, names: string[], quoted: boolean): void {
  for (const name of names) {
    if (o + 4 > end) {
      if (quoted) return;
      throw wireError(WireErrc.Truncated, 'icmp', name, end);
    }
    addField(l, name, String(be32(b, o)));
    o += 4;
  }
}

function swap16(v: number): number {
  return ((v & 0xff) << 8) | (v >>> 8);
}
