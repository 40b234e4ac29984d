/**
 * ARP dissector (slow path): Wireshark's `arp.*` fields. See ../dissect.ts.
 *
 * Fields, as tshark 4.0 prints them: arp.hw.type, arp.proto.type (0x0800),
 * arp.hw.size, arp.proto.size, arp.opcode; arp.isgratuitous (request or reply
 * whose nonempty sender and target protocol addresses are equal), arp.isannouncement
 * (such a request with an all-zero target MAC) and arp.isprobe (a request
 * from 0.0.0.0 with an all-zero target MAC), each only when true; then the
 * four addresses: arp.src.hw_mac / arp.dst.hw_mac when the hardware is
 * Ethernet or IEEE 802 (type 1 or 6) with 6-byte addresses, else
 * arp.src.hw / arp.dst.hw in hex; arp.src.proto_ipv4 / arp.dst.proto_ipv4
 * when the protocol is IPv4 (0x0800, or 0x00cc, AX.25's IP) with 4-byte
 * addresses, else arp.src.proto / arp.dst.proto in hex. Zero-sized addresses
 * are omitted, as tshark does.
 * Not mirrored: tshark hands hardware types 3 (AX.25) and 19 (ATM) to other
 * dissectors (`atmarp`…); here they get the generic fields above.
 * Next: `{kind:'end'}` — bytes after the ARP packet are Ethernet padding.
 */
import { be32, ipv4ToString, macToString, toHex } from '../bytes.js';
import { addField, hex, type DissectCtx, type Next } from '../dissect.js';
import {
  ARP_HRD_ETHERNET, ARP_HRD_IEEE802, ARP_OP_REPLY, ARP_OP_REQUEST, ARP_PRO_IPV4, ArpPacket,
} from '../arp.js';
import { wireError } from '../errc.js';

const ARP_PRO_AX25_IP = 0x00cc;

/** Dissect the ARP packet at [off, end) into an `arp` layer of its declared length. */
export function dissectArp(ctx: DissectCtx, off: number, end: number): Next {
  const b = ctx.bytes;
  const p = new ArpPacket().reset(b, off, end);
  const c = p.check();
  if (c !== 0) throw wireError(c, 'arp', p.errField, p.errAt);
  const hrd = p.hwType(), pro = p.protoType(), hln = p.hwSize(), pln = p.protoSize(), op = p.opcode();
  const l = ctx.open('arp', off, p.packetLen());
  addField(l, 'arp.hw.type', String(hrd));
  addField(l, 'arp.proto.type', hex(pro, 4));
  addField(l, 'arp.hw.size', String(hln));
  addField(l, 'arp.proto.size', String(pln));
  addField(l, 'arp.opcode', String(op));
  const sha = p.shaOffset(), spa = p.spaOffset(), tha = p.thaOffset(), tpa = p.tpaOffset();
  const arpEnd = off + p.packetLen();
  if (op === ARP_OP_REQUEST || op === ARP_OP_REPLY) {
    const zeroTha = tha + 6 <= arpEnd && allZero(b, tha, tha + 6);
    if (pln > 0 && equalBytes(b, spa, tpa, pln)) {
      addField(l, 'arp.isgratuitous', '1');
      if (op === ARP_OP_REQUEST && zeroTha) addField(l, 'arp.isannouncement', '1');
    } else if (op === ARP_OP_REQUEST && zeroTha && pln >= 4 && be32(b, spa) === 0) {
      addField(l, 'arp.isprobe', '1');
    }
  }
  const ether = (hrd === ARP_HRD_ETHERNET || hrd === ARP_HRD_IEEE802) && hln === 6;
  const ipv4 = (pro === ARP_PRO_IPV4 || pro === ARP_PRO_AX25_IP) && pln === 4;
  if (hln !== 0) addField(l, ether ? 'arp.src.hw_mac' : 'arp.src.hw', ether ? macToString(b, sha) : toHex(b, sha, sha + hln));
  if (pln !== 0) addField(l, ipv4 ? 'arp.src.proto_ipv4' : 'arp.src.proto', ipv4 ? ipv4ToString(be32(b, spa)) : toHex(b, spa, spa + pln));
  if (hln !== 0) addField(l, ether ? 'arp.dst.hw_mac' : 'arp.dst.hw', ether ? macToString(b, tha) : toHex(b, tha, tha + hln));
  if (pln !== 0) addField(l, ipv4 ? 'arp.dst.proto_ipv4' : 'arp.dst.proto', ipv4 ? ipv4ToString(be32(b, tpa)) : toHex(b, tpa, tpa + pln));
  return { kind: 'end' };
}

function equalBytes(b: Uint8Array, x: number, y: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (b[x + i] !== b[y + i]) return false;
  return true;
}

function allZero(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false;
  return true;
}
