/** UDP dissector (slow path): Wireshark's `udp.*` fields. See ../dissect.ts. */
import { CHECKSUM_BAD, CHECKSUM_GOOD, CHECKSUM_UNVERIFIED, addField, hex, type DissectCtx, type Next } from '../dissect.js';
import { ipv4PseudoSum, ipv6PseudoSum } from '../checksum.js';
import { wireError } from '../errc.js';
import { IPPROTO_UDP, UDP_HEADER_LEN, UdpPacket } from '../udp.js';

export function dissectUdp(ctx: DissectCtx, off: number, end: number): Next {
  const p = new UdpPacket().reset(ctx.bytes, off, end);
  const c = p.check();
  // A quoted datagram (inside an ICMP error) may be cut after its header.
  if (c !== 0 && !(ctx.quoted && end - off >= UDP_HEADER_LEN)) throw wireError(c, 'udp', p.errField, p.errAt);
  const l = ctx.open('udp', off, UDP_HEADER_LEN);
  const len = p.length();
  addField(l, 'udp.srcport', String(p.srcPort()));
  addField(l, 'udp.dstport', String(p.dstPort()));
  addField(l, 'udp.port', String(p.srcPort()));
  addField(l, 'udp.port', String(p.dstPort()));
  addField(l, 'udp.length', String(len));
  addField(l, 'udp.checksum', hex(p.checksum(), 4));
  let status = CHECKSUM_UNVERIFIED;
  const ip = ctx.ip;
  if (!ctx.quoted && ip !== null && p.checksum() !== 0) {
    const pseudo = ip.version === 4
      ? ipv4PseudoSum(ip.src, ip.dst, IPPROTO_UDP, len)
      : ipv6PseudoSum(ctx.bytes, ip.srcOff, ip.dstOff, IPPROTO_UDP, len);
    status = p.verifyChecksum(pseudo, ip.version === 4) ? CHECKSUM_GOOD : CHECKSUM_BAD;
  }
  addField(l, 'udp.checksum.status', status);
  const payEnd = Math.min(off + len, end);
  if (ctx.quoted) return { kind: 'end' };
  return { kind: 'udp', srcPort: p.srcPort(), dstPort: p.dstPort(), off: off + UDP_HEADER_LEN, end: payEnd };
}
