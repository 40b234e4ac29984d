/**
 * The dissector: bytes → a layered tree with Wireshark's field names
 * (wire layer, slow path).
 *
 * What: `dissect(frame)` walks a frame from Ethernet inwards, one protocol
 * dissector per layer (files under dissect/), and returns every layer it
 * decoded as an ordered list of `[field, value]` pairs, values formatted as
 * `tshark -T fields` prints them (`eth.type` → `0x0800`, `ip.ttl` → `64`,
 * `ip.checksum.status` → `1`). The CLI (`sdnemu pcap decode`), its JSON and
 * the browser viewer all show this tree.
 * Why a registry of small functions: each protocol dissector only knows its
 * own header and says what comes next (`Next`: an EtherType, an IP protocol,
 * UDP ports, an inner Ethernet frame, an IP packet quoted in ICMP, raw data);
 * this driver picks the next dissector, so VXLAN-in-UDP-in-IP-in-VLAN needs
 * no special case anywhere.
 * Bad input: a dissector throws `WireError` (from a view's `check()`); the
 * driver keeps every layer decoded before the fault — as `miniflow_extract()`
 * jumps to `out` — and records the error with its byte offset. Nothing else
 * is thrown: arbitrary bytes yield a result, never an exception
 * (property-tested).
 * Cost: allocates freely; this is the slow path. The fast path reads the
 * fields a flow key needs with extract.ts instead.
 */
import type { WireError } from '../errors.js';

/** One decoded protocol layer. 'proto' is Wireshark's protocol abbreviation (`eth`, `vlan`, `ip`, `udp`, `vxlan`…). */
export interface DissectLayer {
  proto: string;
  /** Byte offset of the layer's first byte in the frame. */
  offset: number;
  /** Bytes of this layer's header (the payload is the next layer). */
  length: number;
  fields: [string, string][];
  /** Where each field's bytes lie in the frame ([offset, length], parallel to 'fields'; null: no fixed place) — dissect/ranges.ts. */
  ranges?: ([number, number] | null)[];
}

export interface DissectErrorInfo {
  code: string;
  message: string;
  layer: string;
  field: string;
  offset: number;
}

export interface Dissection {
  frameLen: number;
  layers: DissectLayer[];
  error: DissectErrorInfo | null;
}

/** What follows the layer just decoded. Offsets are absolute within the frame. */
export type Next =
  | { kind: 'ethertype'; type: number; off: number; end: number }
  | { kind: 'ipproto'; proto: number; off: number; end: number }
  | { kind: 'udp'; srcPort: number; dstPort: number; off: number; end: number }
  | { kind: 'eth'; off: number; end: number }
  | { kind: 'ip'; off: number; end: number }
  | { kind: 'data'; off: number; end: number }
  | { kind: 'end' };

/** Addresses of the innermost IP header, for upper-layer pseudo-header checksums. */
export interface IpContext {
  version: 4 | 6;
  /** IPv4 source/destination as uint32 (0 for IPv6). */
  src: number;
  dst: number;
  /** Offsets of the IPv6 source/destination addresses in the frame (-1 for IPv4). */
  srcOff: number;
  dstOff: number;
  /**
   * True inside an ICMP error's quoted packet: the quote may be cut short, so
   * upper layers accept lengths past the bytes present; a checksum is verified
   * only when the whole segment is quoted (tshark 4.0 does the same).
   */
  quoted: boolean;
  /**
   * True for an IP fragment (MF set or a nonzero offset): one fragment does
   * not hold the whole upper-layer datagram, so its length and checksum cannot
   * be checked (tshark, without reassembly, shows status 2 "unverified").
   */
  fragmented: boolean;
}

export class DissectCtx {
  readonly bytes: Uint8Array;
  readonly layers: DissectLayer[] = [];
  ip: IpContext | null = null;
  /** Extra UDP port → protocol mappings, like tshark's `-d udp.port==8472,vxlan`. */
  readonly udpPorts: ReadonlyMap<number, string>;
  quoted = false;
  /**
   * A truncation found by an IP header whose length field claims bytes that
   * are not there. Dissection goes on inside the bytes present (the upper
   * headers are usually whole), and the driver reports this error at the end
   * unless a more specific one was thrown first.
   */
  truncated: WireError | null = null;

  constructor(bytes: Uint8Array, udpPorts: ReadonlyMap<number, string>) {
    this.bytes = bytes;
    this.udpPorts = udpPorts;
  }

  /** Start a new layer at 'off' whose header is 'length' bytes (adjust later if unknown). */
  open(proto: string, off: number, length: number): DissectLayer {
    const l: DissectLayer = { proto, offset: off, length, fields: [] };
    this.layers.push(l);
    return l;
  }
}

/** A protocol dissector: decode the header at [off, end), add fields, say what follows. */
export type LayerDissector = (ctx: DissectCtx, off: number, end: number) => Next;

// ---- value formatting as tshark -T fields prints ------------------------------

/** `0x` + 'digits' lower-case hex digits (`hex(0x800, 4)` → `0x0800`). */
export function hex(v: number, digits: number): string {
  return '0x' + (v >>> 0).toString(16).padStart(digits, '0');
}

/** `1`/`0` for a boolean flag, as tshark prints them. */
export function flag(v: boolean | number): string {
  return v ? '1' : '0';
}

/** Checksum status as tshark prints `*.checksum.status`: 1 good, 0 bad, 2 unverified. */
export const CHECKSUM_GOOD = '1', CHECKSUM_BAD = '0', CHECKSUM_UNVERIFIED = '2';

export function addField(l: DissectLayer, name: string, value: string): void {
  l.fields.push([name, value]);
}

/** All values of field 'name' across layers, outer first. */
export function fieldValues(d: Dissection, name: string): string[] {
  const out: string[] = [];
  for (const l of d.layers) for (const [k, v] of l.fields) if (k === name) out.push(v);
  return out;
}

/** First value of 'name' or undefined. */
export function fieldValue(d: Dissection, name: string): string | undefined {
  for (const l of d.layers) for (const [k, v] of l.fields) if (k === name) return v;
  return undefined;
}

export function errorInfo(e: WireError): DissectErrorInfo {
  return { code: e.code, message: e.message, layer: e.layer, field: e.field, offset: e.offset };
}
