/**
 * Geneve dissector (slow path): Wireshark's `geneve.*` fields. See ../dissect.ts.
 *
 * Fields, in `tshark -T pdml` order, formatted as `tshark -T fields` prints
 * them (tshark 4.0.17): `geneve.version` (decimal), `geneve.option.length`
 * (the options length in BYTES — Wireshark reuses the option field's name for
 * the header's Opt Len), `geneve.flags` (0x%02x) with `.oam`, `.critical`
 * and `.reserved` (1 when any of the 6 reserved bits is set),
 * `geneve.proto_type` (0x%04x), `geneve.vni` (0x%06x: BASE_HEX_DEC prints
 * only the hex in fields), `geneve.reserved` (0x%02x; hidden in the tree but
 * present in fields). Then, when there are options, `geneve.options` (hex of
 * the whole area) and per option `geneve.option` (hex), `.class` (0x%04x),
 * `.type` (0x%02x, critical bit included), `.type.critical`, `.flags` (the 3
 * R bits shifted down, 0x%02x), `.flags.reserved`, `.length` (bytes, header
 * included) and the data: for Google's class 0x0132 types 1/2/3 the
 * `geneve.option.gcp.*` fields, else `geneve.option.unknown.data` (hex;
 * tshark prints `<MISSING>` for empty data, and so do we).
 * An unknown version gets Wireshark's expert field `geneve.version.unknown`
 * (1) and is decoded on, as Wireshark does.
 * Faults: fewer than 8 bytes → WIRE_TRUNCATED; options past the end →
 * WIRE_BAD_HDR_LEN after the fixed header's fields (tshark: "Malformed
 * Packet"); an option longer than the options area → the options before it,
 * the expert field `geneve.option.length.invalid` (1), then WIRE_BAD_OPTION at
 * that option. Here we differ from Wireshark on purpose: it stops decoding
 * options and goes on into the payload; we report the error and stop, so the
 * payload of a malformed header is never taken as a frame. A GCP option whose
 * data cannot hold its value (VNID under 4 bytes, profile of 0 or more than 8
 * bytes) is WIRE_BAD_OPTION too: tshark reads past the option or raises a
 * malformed-packet exception there.
 * Next: `{kind:'eth'}` for protocol type 0x6558, else `{kind:'ethertype'}`.
 */
import { be32, toHex } from '../bytes.js';
import { addField, flag, hex, type DissectCtx, type DissectLayer, type Next } from '../dissect.js';
import { WireErrc, wireError } from '../errc.js';
import { ETH_TYPE_TEB, GENEVE_HEADER_LEN, GenevePacket } from '../geneve.js';

const GCP_CLASS = 0x0132, GCP_VNID = 1, GCP_ENDPOINT = 2, GCP_PROFILE = 3;

export function dissectGeneve(ctx: DissectCtx, off: number, end: number): Next {
  const p = new GenevePacket().reset(ctx.bytes, off, end);
  const c = p.check();
  if (c === WireErrc.Truncated) throw wireError(c, 'geneve', p.errField, p.errAt);
  const l = ctx.open('geneve', off, GENEVE_HEADER_LEN);
  addField(l, 'geneve.version', String(p.version()));
  if (p.version() !== 0) addField(l, 'geneve.version.unknown', '1');
  addField(l, 'geneve.option.length', String(p.optLen() * 4));
  addField(l, 'geneve.flags', hex(p.flags(), 2));
  addField(l, 'geneve.flags.oam', flag(p.oam()));
  addField(l, 'geneve.flags.critical', flag(p.critical()));
  addField(l, 'geneve.flags.reserved', flag(p.flags() & 0x3f));
  addField(l, 'geneve.proto_type', hex(p.protocolType(), 4));
  addField(l, 'geneve.vni', hex(p.vni(), 6));
  addField(l, 'geneve.reserved', hex(p.reserved(), 2));
  if (c === WireErrc.Truncated && p.errField === 'geneve.option.length') throw wireError(c, 'geneve', p.errField, p.errAt);
  const optEnd = p.optionsEnd();
  l.length = optEnd - off;
  if (optEnd > p.optionsOffset()) {
    addField(l, 'geneve.options', toHex(ctx.bytes, p.optionsOffset(), optEnd));
    // after check(): every option before errAt (or all of them) is in bounds
    const stop = c === WireErrc.BadOption ? p.errAt : optEnd;
    for (let o = p.optionsOffset(); o < stop; o = p.optionEnd(o)) option(ctx, l, p, o);
    if (c === WireErrc.BadOption) {
      addField(l, 'geneve.option.length.invalid', '1');
      throw wireError(c, 'geneve', p.errField, p.errAt,
        `geneve: option of ${4 + p.optionLen(p.errAt) * 4} bytes is past the end of the options (geneve.option.length) at offset ${p.errAt}`);
    }
  }
  const type = p.protocolType();
  if (type === ETH_TYPE_TEB) return { kind: 'eth', off: optEnd, end };
  return { kind: 'ethertype', type, off: optEnd, end };
}

function option(ctx: DissectCtx, l: DissectLayer, p: GenevePacket, o: number): void {
  const b = ctx.bytes;
  const optEnd = p.optionEnd(o), data = p.optionDataOffset(o);
  const cls = p.optionClass(o), type = p.optionType(o);
  addField(l, 'geneve.option', toHex(b, o, optEnd));
  addField(l, 'geneve.option.class', hex(cls, 4));
  addField(l, 'geneve.option.type', hex(type, 2));
  addField(l, 'geneve.option.type.critical', flag(p.optionCritical(o)));
  addField(l, 'geneve.option.flags', hex(p.optionFlags(o), 2));
  addField(l, 'geneve.option.flags.reserved', flag(p.optionFlags(o)));
  addField(l, 'geneve.option.length', String(optEnd - o));
  const n = optEnd - data;
  if (cls === GCP_CLASS && type === GCP_VNID) {
    if (n < 4) throw badGcp('geneve.option.gcp.vnid', data);
    const w = be32(b, data);
    addField(l, 'geneve.option.gcp.vnid', String(w >>> 4));
    addField(l, 'geneve.option.gcp.direction', flag(w & 1));
    addField(l, 'geneve.option.gcp.reserved', flag(w & 0xe));
  } else if (cls === GCP_CLASS && type === GCP_ENDPOINT) {
    addField(l, 'geneve.option.gcp.endpoint', n === 0 ? '<MISSING>' : toHex(b, data, optEnd));
  } else if (cls === GCP_CLASS && type === GCP_PROFILE) {
    if (n === 0 || n > 8) throw badGcp('geneve.option.gcp.profile', data);
    let v = 0n;
    for (let i = data; i < optEnd; i++) v = (v << 8n) | BigInt(b[i]!);
    addField(l, 'geneve.option.gcp.profile', v.toString());
  } else {
    addField(l, 'geneve.option.unknown.data', n === 0 ? '<MISSING>' : toHex(b, data, optEnd));
  }
}

function badGcp(field: string, at: number): Error {
  return wireError(WireErrc.BadOption, 'geneve', field, at, `geneve: option data too short or too long for ${field} at offset ${at}`);
}
