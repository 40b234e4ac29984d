/**
 * Quantities as users write them in topology scripts and files (sim layer,
 * slow path): durations ('1ms', '250us', '2s', '10ns'), rates ('10Gbps',
 * '100Mbps', '1.5kbps', '64bps') and sizes ('256KB', '1MiB', '1500B').
 * Decimal prefixes for rates (as networking counts them: 1 Gbps = 10^9),
 * both kinds for sizes (KB = 1000, KiB = 1024). A bare number is the base
 * unit (ns, bps, bytes). Errors name the text and what was expected.
 * Neighbours: link.ts, topology/.
 */
import { InputError } from '../errors.js';

const DURATION: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9 };
const RATE: Record<string, number> = { bps: 1, kbps: 1e3, mbps: 1e6, gbps: 1e9, tbps: 1e12 };
const SIZE: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

function quantity(text: string, units: Record<string, number>, what: string, field: string): number {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Zµ]*)\s*$/.exec(text);
  const unit = m?.[2]?.toLowerCase() ?? '';
  const k = m === null ? undefined : unit === '' ? 1 : units[unit];
  if (m === null || k === undefined) throw new InputError('BAD_QUANTITY', field, `'${text}' is not ${what} (${Object.keys(units).join(', ')})`);
  return Number(m[1]) * k;
}

/** '1ms' → 1e6 (ns). */
export function parseDuration(text: string, field = 'delay'): number { return quantity(text, DURATION, 'a duration', field); }
/** '10Gbps' → 1e10 (bits per second). */
export function parseRate(text: string, field = 'bandwidth'): number { return quantity(text, RATE, 'a rate', field); }
/** '256KB' → 256000 (bytes). */
export function parseBytes(text: string, field = 'queue'): number { return quantity(text, SIZE, 'a size', field); }

/** A duration in ns as people read it: '1.5ms', '250us', '12ns'. */
export function formatDuration(ns: number): string {
  if (ns >= 1e9) return `${+(ns / 1e9).toFixed(6)}s`;
  if (ns >= 1e6) return `${+(ns / 1e6).toFixed(6)}ms`;
  if (ns >= 1e3) return `${+(ns / 1e3).toFixed(3)}us`;
  return `${+ns.toFixed(3)}ns`;
}
