/**
 * Ethernet / 802.1Q / 802.1ad dissector (slow path): Wireshark's `eth.*`,
 * `vlan.*` and `ieee8021ad.*` fields. See ../dissect.ts for the model.
 *
 * Layers, as tshark 4.0 builds them:
 * - `eth`: eth.dst, eth.dst.oui, eth.addr, eth.addr.oui, eth.dst.lg, eth.lg,
 *   eth.dst.ig, eth.ig, the same for eth.src, then eth.type — or eth.len for
 *   an 802.3 frame (type < 0x0600). `eth.type` is the outer type field only:
 *   in a tagged frame it is the TPID (0x8100, 0x88a8, 0x9100); Wireshark has
 *   no TPID field in the tag layers themselves.
 * - one `vlan` layer per 802.1Q tag (TPID 0x8100, and 0x9100 which tshark
 *   decodes the same way): vlan.priority, vlan.dei, vlan.id, then vlan.etype
 *   (or vlan.len below 0x0600).
 * - one `ieee8021ad` layer per 802.1ad S-tag (TPID 0x88a8):
 *   ieee8021ad.priority, ieee8021ad.dei, ieee8021ad.id, ieee8021ah.etype (sic:
 *   tshark reuses the 802.1ah field for the inner type). When an S-tag is
 *   followed directly by another 0x88a8 tag, tshark shows both in one layer
 *   with ieee8021ad.svid and ieee8021ad.cvid; so does this dissector.
 * Next: `{kind:'ethertype', type: innermost EtherType, off, end}`; for an
 * 802.3 length frame `{kind:'data'}` over the LLC payload (tshark goes on
 * into `llc`, which sdnemu does not decode).
 * Padding: not decided here (tshark's eth.padding/eth.trailer need the
 * payload's own length, which the IP/ARP layer knows).
 */
import { be16, macToString } from '../bytes.js';
import { addField, hex, type DissectCtx, type DissectLayer, type Next } from '../dissect.js';
import { WireErrc, wireError } from '../errc.js';
import {
  ETH_HEADER_LEN, ETH_TYPE_MIN, ETH_TYPE_QINQ, ETH_TYPE_QINQ_OLD, ETH_TYPE_VLAN, EthernetFrame, VLAN_TAG_LEN,
} from '../ethernet.js';

/** Dissect the Ethernet header at [off, end) and every VLAN tag after it. */
export function dissectEthernet(ctx: DissectCtx, off: number, end: number): Next {
  const b = ctx.bytes;
  const f = new EthernetFrame().reset(b, off, end);
  if (end - off < ETH_HEADER_LEN) {
    // check() would say the same; the header itself is not there.
    f.check();
    throw wireError(WireErrc.Truncated, 'eth', f.errField, f.errAt);
  }
  const l = ctx.open('eth', off, ETH_HEADER_LEN);
  addMac(l, b, off, 'dst');
  addMac(l, b, off + 6, 'src');
  const outer = f.etherType();
  if (outer < ETH_TYPE_MIN) {
    addField(l, 'eth.len', String(outer));
    const payEnd = Math.min(off + ETH_HEADER_LEN + outer, end);
    return { kind: 'data', off: off + ETH_HEADER_LEN, end: payEnd };
  }
  addField(l, 'eth.type', hex(outer, 4));
  let type = outer;
  let p = off + ETH_HEADER_LEN; // first byte after the current type field
  while (type === ETH_TYPE_VLAN || type === ETH_TYPE_QINQ_OLD || type === ETH_TYPE_QINQ) {
    if (end - p < VLAN_TAG_LEN) {
      throw wireError(WireErrc.Truncated, 'eth', type === ETH_TYPE_QINQ ? 'ieee8021ad' : 'vlan', end > p ? end : p);
    }
    const tci = be16(b, p);
    let inner = be16(b, p + 2);
    if (type === ETH_TYPE_QINQ) {
      if (inner === ETH_TYPE_QINQ && end - p >= 2 * VLAN_TAG_LEN) {
        // S-tag and C-tag both with TPID 0x88a8: one layer, as tshark shows it
        const tci2 = be16(b, p + 4);
        inner = be16(b, p + 6);
        const q = ctx.open('ieee8021ad', p, 2 * VLAN_TAG_LEN);
        addField(q, 'ieee8021ad.priority', String(tci >>> 13));
        addField(q, 'ieee8021ad.dei', String((tci >>> 12) & 1));
        addField(q, 'ieee8021ad.svid', String(tci & 0x0fff));
        addField(q, 'ieee8021ad.priority', String(tci2 >>> 13));
        addField(q, 'ieee8021ad.dei', String((tci2 >>> 12) & 1));
        addField(q, 'ieee8021ad.cvid', String(tci2 & 0x0fff));
        addField(q, 'ieee8021ah.etype', hex(inner, 4));
        p += 2 * VLAN_TAG_LEN;
      } else {
        const q = ctx.open('ieee8021ad', p, VLAN_TAG_LEN);
        addField(q, 'ieee8021ad.priority', String(tci >>> 13));
        addField(q, 'ieee8021ad.dei', String((tci >>> 12) & 1));
        addField(q, 'ieee8021ad.id', String(tci & 0x0fff));
        addField(q, 'ieee8021ah.etype', hex(inner, 4));
        p += VLAN_TAG_LEN;
      }
    } else {
      const v = ctx.open('vlan', p, VLAN_TAG_LEN);
      addField(v, 'vlan.priority', String(tci >>> 13));
      addField(v, 'vlan.dei', String((tci >>> 12) & 1));
      addField(v, 'vlan.id', String(tci & 0x0fff));
      if (inner < ETH_TYPE_MIN) {
        addField(v, 'vlan.len', String(inner));
        p += VLAN_TAG_LEN;
        return { kind: 'data', off: p, end: Math.min(p + inner, end) };
      }
      addField(v, 'vlan.etype', hex(inner, 4));
      p += VLAN_TAG_LEN;
    }
    type = inner;
  }
  return { kind: 'ethertype', type, off: p, end };
}

/** eth.<which>, its OUI and LG/IG bits, and the eth.addr twins, in tshark's order. */
function addMac(l: DissectLayer, b: Uint8Array, at: number, which: 'dst' | 'src'): void {
  const text = macToString(b, at);
  const oui = String((b[at]! << 16) | (b[at + 1]! << 8) | b[at + 2]!);
  const lg = String((b[at]! >>> 1) & 1);
  const ig = String(b[at]! & 1);
  addField(l, 'eth.' + which, text);
  addField(l, 'eth.' + which + '.oui', oui);
  addField(l, 'eth.addr', text);
  addField(l, 'eth.addr.oui', oui);
  addField(l, 'eth.' + which + '.lg', lg);
  addField(l, 'eth.lg', lg);
  addField(l, 'eth.' + which + '.ig', ig);
  addField(l, 'eth.ig', ig);
}
