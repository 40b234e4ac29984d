/**
 * Linux cooked capture dissectors (slow path): what `tcpdump -i any`
 * writes. v1 (LINKTYPE_LINUX_SLL, 113) is a 16-byte pseudo-header — packet
 * type, ARPHRD type, address length, 8 bytes of address, protocol; v2
 * (LINKTYPE_LINUX_SLL2, 276, tcpdump 4.99's default) is 20 bytes — protocol,
 * reserved, interface index, ARPHRD type, packet type, address length,
 * address. The packet follows without its link header. Fields as tshark
 * names them (`sll.*`, shared by both versions); a 6-byte address is
 * `sll.src.eth`, a 4-byte one `sll.src.ipv4`, as packet-sll.c shows them.
 */
import { ipv4ToString, macToString, toHex } from '../bytes.js';
import { addField, hex, type DissectCtx, type DissectLayer, type Next } from '../dissect.js';
import { WireErrc, wireError } from '../errc.js';

export const SLL_HEADER_LEN = 16;
export const SLL2_HEADER_LEN = 20;

export function dissectSll(ctx: DissectCtx, off: number, end: number): Next {
  const b = ctx.bytes;
  if (end - off < SLL_HEADER_LEN) throw wireError(WireErrc.Truncated, 'sll', 'sll', end);
  const l = ctx.open('sll', off, SLL_HEADER_LEN);
  const halen = (b[off + 4]! << 8) | b[off + 5]!;
  addField(l, 'sll.pkttype', String((b[off]! << 8) | b[off + 1]!));
  addField(l, 'sll.hatype', String((b[off + 2]! << 8) | b[off + 3]!));
  addField(l, 'sll.halen', String(halen));
  address(l, b, off + 6, halen);
  const proto = (b[off + 14]! << 8) | b[off + 15]!;
  if (proto < 0x0600) {
    addField(l, 'sll.ltype', hex(proto, 4));
    return { kind: 'data', off: off + SLL_HEADER_LEN, end };
  }
  addField(l, 'sll.etype', hex(proto, 4));
  return { kind: 'ethertype', type: proto, off: off + SLL_HEADER_LEN, end };
}

export function dissectSll2(ctx: DissectCtx, off: number, end: number): Next {
  const b = ctx.bytes;
  if (end - off < SLL2_HEADER_LEN) throw wireError(WireErrc.Truncated, 'sll', 'sll', end);
  const l = ctx.open('sll', off, SLL2_HEADER_LEN);
  const proto = (b[off]! << 8) | b[off + 1]!;
  addField(l, 'sll.etype', hex(proto, 4));
  addField(l, 'sll.ifindex', String(((b[off + 4]! << 24) | (b[off + 5]! << 16) | (b[off + 6]! << 8) | b[off + 7]!) >>> 0));
  addField(l, 'sll.hatype', String((b[off + 8]! << 8) | b[off + 9]!));
  addField(l, 'sll.pkttype', String(b[off + 10]!));
  const halen = b[off + 11]!;
  addField(l, 'sll.halen', String(halen));
  address(l, b, off + 12, halen);
  return { kind: 'ethertype', type: proto, off: off + SLL2_HEADER_LEN, end };
}

/** The 8-byte address field at 'o' of which 'halen' bytes are used. */
function address(l: DissectLayer, b: Uint8Array, o: number, halen: number): void {
  const used = Math.min(halen, 8);
  if (halen === 6) addField(l, 'sll.src.eth', macToString(b, o));
  else if (halen === 4) addField(l, 'sll.src.ipv4', ipv4ToString(((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0));
  else if (used > 0) addField(l, 'sll.src.other', toHex(b, o, o + used));
  if (used < 8) addField(l, 'sll.unused', toHex(b, o + used, o + 8));
}
