/** Small helpers shared by the wire tests (no tools needed). */
import { WireError } from '../../src/errors.js';
import type { Dissection, DissectLayer } from '../../src/wire/dissect.js';

/** Bytes from a hex string. */
export function hexBytes(h: string): Uint8Array {
  return Uint8Array.from(Buffer.from(h, 'hex'));
}

/** Lower-case hex of bytes. */
export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}
export const toHex = hex;

/** The WireError 'f' throws (any other outcome fails the test). */
export function catchWire(f: () => unknown): WireError {
  try { f(); } catch (e) { if (e instanceof WireError) return e; throw e; }
  throw new Error('expected a WireError');
}

/** [code, field, offset] of the WireError 'f' throws. */
export function fieldOf(f: () => unknown): [string, string, number] {
  const e = catchWire(f);
  return [e.code, e.field, e.offset];
}

/** Every field of 'layers', occurrences joined with ',' as `tshark -T fields -E occurrence=a` prints them. */
export function joined(layers: DissectLayer[]): Map<string, string> {
  const m = new Map<string, string[]>();
  for (const l of layers) for (const [k, v] of l.fields) m.set(k, [...(m.get(k) ?? []), v]);
  return new Map([...m].map(([k, v]) => [k, v.join(',')]));
}

/** `joined` of one layer as a record. */
export function fields(l: DissectLayer): Record<string, string> {
  return Object.fromEntries(joined([l]));
}

/** `joined` of several layers as a record. */
export function fieldsOf(layers: DissectLayer[]): Record<string, string> {
  return Object.fromEntries(joined(layers));
}

/** Every field of a dissection with all its values, outer first. */
export function values(d: Dissection): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const l of d.layers) for (const [k, v] of l.fields) {
    const a = m.get(k) ?? [];
    a.push(v);
    m.set(k, a);
  }
  return m;
}
