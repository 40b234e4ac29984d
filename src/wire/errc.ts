/**
 * Numeric wire error codes (wire layer, fast path).
 *
 * What: the small integers a view's `check()` returns (0 = every accessor in
 * bounds and the header is self-consistent), and their stable string codes.
 * Why numbers: `check()` runs per packet and must not allocate; only the slow
 * path (`checked()`, `Repr.parse`, the dissector) turns a nonzero code into a
 * thrown `WireError` with layer, Wireshark field and byte offset; every
 * view's `checked()` and every `Repr.parse` go through `checkOrThrow` below.
 * Why each view still declares its own fields and `reset()` instead of
 * inheriting them: `reset()` runs per packet, and a base-class method would
 * see every view's hidden class and turn megamorphic; only the cold,
 * error-reporting path is shared.
 */
import { WireError } from '../errors.js';

export const enum WireErrc {
  Ok = 0,
  Truncated = 1,
  BadVersion = 2,
  BadHdrLen = 3,
  BadLength = 4,
  BadChecksum = 5,
  BadOption = 6,
  BadValue = 7,
  Unsupported = 8,
}

const NAMES = [
  'WIRE_OK', 'WIRE_TRUNCATED', 'WIRE_BAD_VERSION', 'WIRE_BAD_HDR_LEN', 'WIRE_BAD_LENGTH',
  'WIRE_BAD_CHECKSUM', 'WIRE_BAD_OPTION', 'WIRE_BAD_VALUE', 'WIRE_UNSUPPORTED',
];

/** Stable string code for a numeric code ('WIRE_TRUNCATED'). */
export function errcName(c: number): string {
  return NAMES[c] ?? `WIRE_ERR_${c}`;
}

/** Build the `WireError` for code 'c' found in 'layer' at 'field', byte 'offset'. */
export function wireError(c: number, layer: string, field: string, offset: number, message?: string): WireError {
  return new WireError(errcName(c), layer, field, offset, message);
}

/** What `checkOrThrow` needs of a view: its `check()` and where the fault is. */
export interface CheckedView {
  errAt: number;
  errField: string;
  check(): number;
}

/**
 * Run 'v.check()' and throw the `WireError` for 'layer' if it fails; returns
 * 'v'. Slow path only (static `checked()` constructors and `Repr.parse`):
 * the per-packet path calls `check()` itself and never throws.
 */
export function checkOrThrow<V extends CheckedView>(v: V, layer: string): V {
  const c = v.check();
  if (c !== 0) throw wireError(c, layer, v.errField, v.errAt);
  return v;
}
