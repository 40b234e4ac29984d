/**
 * VXLAN dissector (slow path): Wireshark's `vxlan.*` fields. See ../dissect.ts.
 *
 * Wireshark 4.0 decodes the header as RFC 7348 plus the Group Based Policy
 * draft: the first two bytes are one 16-bit `vxlan.flags` with bits
 * `flag_g` (0x8000), `flag_i` (0x0800), `flag_d` (0x0040), `flag_a` (0x0008)
 * and `flags_reserved` (the other bits, mask 0x77b7, printed masked and not
 * shifted), then `vxlan.gbp` (16 bits), `vxlan.vni` and `vxlan.reserved8`,
 * all decimal. A header with the I flag clear is shown like any other (no
 * expert info in tshark 4.0.17), so no error is raised here; `VxlanRepr.parse`
 * is where it is rejected. Field order follows `tshark -T pdml`.
 * Next: the inner Ethernet frame right after the 8 bytes.
 */
import { be16 } from '../bytes.js';
import { addField, flag, hex, type DissectCtx, type Next } from '../dissect.js';
import { wireError } from '../errc.js';
import { VXLAN_HEADER_LEN, VxlanPacket } from '../vxlan.js';

export function dissectVxlan(ctx: DissectCtx, off: number, end: number): Next {
  const p = new VxlanPacket().reset(ctx.bytes, off, end);
  const c = p.check();
  if (c !== 0) throw wireError(c, 'vxlan', p.errField, p.errAt);
  const l = ctx.open('vxlan', off, VXLAN_HEADER_LEN);
  const flags16 = be16(ctx.bytes, off);
  addField(l, 'vxlan.flags', hex(flags16, 4));
  addField(l, 'vxlan.flag_g', flag(flags16 & 0x8000));
  addField(l, 'vxlan.flag_i', flag(flags16 & 0x0800));
  addField(l, 'vxlan.flag_d', flag(flags16 & 0x0040));
  addField(l, 'vxlan.flag_a', flag(flags16 & 0x0008));
  addField(l, 'vxlan.flags_reserved', hex(flags16 & 0x77b7, 4));
  addField(l, 'vxlan.gbp', String(be16(ctx.bytes, off + 2)));
  addField(l, 'vxlan.vni', String(p.vni()));
  addField(l, 'vxlan.reserved8', String(p.reserved8()));
  return { kind: 'eth', off: p.payloadOffset(), end };
}
