/**
 * UDP dissector (slow path): Wireshark's `udp.*` fields. See ../dissect.ts.
 *
 * Checksum status as tshark 4.0 reports it: 1 good, 0 bad, 2 unverified (a
 * fragment, or a quote that cuts the datagram short), 3 "not present" (zero
 * over IPv4, allowed by RFC 768), 4 "illegal" (zero over IPv6, RFC 8200 §8.1).
 * A quoted datagram that is complete is verified, as tshark does; one cut
 * inside its header shows the fields whose bytes are there.
 */
import { CHECKSUM_BAD, CHECKSUM_GOOD, CHECKSUM_UNVERIFIED, addField, hex, type DissectCtx, type Next } from '../dissect.js';
import { ipv4PseudoSum, ipv6PseudoSum } from '../checksum.js';
import { wireError } from '../errc.js';
import { IPPROTO_UDP, UDP_HEADER_LEN, UdpPacket } from '../udp.js';
import { insideFirstFragment } from './ipv4.js';

const CHECKSUM_NOT_PRESENT = '3', CHECKSUM_ILLEGAL = '4';

export function dissectUdp(ctx: DissectCtx, off: number, end: number): Next {
  const p = new UdpPacket().reset(ctx.bytes, off, end);
  const c = p.check();
  const ip = ctx.ip;
  const partial = ctx.quoted || (ip !== null && ip.fragmented);
  if (ctx.quoted && end - off < UDP_HEADER_LEN) return cutQuote(ctx, p, off, end);
  // A quoted datagram or a first fragment may be cut after its header; any
  // other datagram cut after its header is decoded and reported as truncated.
  if (c !== 0) {
    const cutAfterHeader = end - off >= UDP_HEADER_LEN && p.length() >= UDP_HEADER_LEN;
    if (!cutAfterHeader) throw wireError(c, 'udp', p.errField, p.errAt);
    if (!partial && !insideFirstFragment(ctx, ctx.layers.length)) ctx.truncated ??= wireError(c, 'udp', p.errField, p.errAt);
  }
  const l = ctx.open('udp', off, UDP_HEADER_LEN);
  const len = p.length();
  addField(l, 'udp.srcport', String(p.srcPort()));
  addField(l, 'udp.dstport', String(p.dstPort()));
  addField(l, 'udp.port', String(p.srcPort()));
  addField(l, 'udp.port', String(p.dstPort()));
  addField(l, 'udp.length', String(len));
  addField(l, 'udp.checksum', hex(p.checksum(), 4));
  let status = CHECKSUM_UNVERIFIED;
  const complete = len <= end - off && !(ip !== null && ip.fragmented);
  if (ip !== null && p.checksum() === 0) {
    status = ip.version === 4 ? CHECKSUM_NOT_PRESENT : CHECKSUM_ILLEGAL;
  } else if (ip !== null && complete) {
    const pseudo = ip.version === 4
      ? ipv4PseudoSum(ip.src, ip.dst, IPPROTO_UDP, len)
      : ipv6PseudoSum(ctx.bytes, ip.srcOff, ip.dstOff, IPPROTO_UDP, len);
    status = p.verifyChecksum(pseudo, ip.version === 4) ? CHECKSUM_GOOD : CHECKSUM_BAD;
  }
  addField(l, 'udp.checksum.status', status);
  const payEnd = Math.min(off + len, end);
  return { kind: 'udp', srcPort: p.srcPort(), dstPort: p.dstPort(), off: off + UDP_HEADER_LEN, end: payEnd };
}

/** A quoted datagram cut inside its header: the ports from 4 bytes, udp.length from 6, as tshark shows them. */
function cutQuote(ctx: DissectCtx, p: UdpPacket, off: number, end: number): Next {
  if (end - off < 4) return { kind: 'end' };
  const l = ctx.open('udp', off, end - off);
  addField(l, 'udp.srcport', String(p.srcPort()));
  addField(l, 'udp.dstport', String(p.dstPort()));
  addField(l, 'udp.port', String(p.srcPort()));
  addField(l, 'udp.port', String(p.dstPort()));
  if (end - off >= 6) addField(l, 'udp.length', String(p.length()));
  return { kind: 'end' };
}
