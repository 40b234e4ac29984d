/**
 * Resource quantities (k8s layer, slow path): `500m`, `2`, `1.5`, `128Mi`,
 * `1G`, `1e3` — apimachinery's resource.Quantity, reduced to what the
 * scheduler needs: a number of base units.
 *
 * What: `parseQuantity(s)` gives the value in base units (cores for cpu,
 * bytes for memory, a count for pods), `milliValue(s)` the value ×1000
 * rounded up (as Quantity.MilliValue does; cpu is compared in millicores).
 * Suffixes: binary Ki Mi Gi Ti Pi Ei, decimal n u m "" k M G T P E, and
 * decimal exponents e/E. A sign is allowed; anything else is refused with
 * `QuantityError` (apimachinery's ErrFormatWrong message: "quantities must
 * match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'").
 * Texts already read are answered from a small memo (cleared when it
 * holds 4,096): requests are read once per pod, and pods repeat a few texts.
 * Why float64: memory up to exabytes and cpu down to millicores both fit in
 * 53 bits of mantissa with the precision the scheduler's integer scores use.
 * Neighbours: manifest.ts validates requests with it; scheduler.ts sums them.
 */
import { SdnemuError } from '../errors.js';

export class QuantityError extends SdnemuError {
  readonly text: string;
  constructor(text: string) {
    super('K8S_BAD_QUANTITY', `quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`);
    this.name = 'QuantityError';
    this.text = text;
  }
  override location(): Record<string, string | number> {
    return { text: this.text };
  }
}

const SUFFIX: Readonly<Record<string, number>> = {
  '': 1, n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

const RE = /^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/;

/** The value of quantity 's' (a string, or a number as YAML gives `cpu: 2`) in base units. */
export function parseQuantity(s: string | number): number {
  if (typeof s === 'number') {
    if (!Number.isFinite(s)) throw new QuantityError(String(s));
    return s;
  }
  let v = SEEN.get(s);
  if (v !== undefined) return v;
  const m = RE.exec(s.trim());
  if (!m) throw new QuantityError(s);
  const base = Number(m[1]);
  v = m[2] !== undefined ? base * 10 ** Number(m[2].slice(1)) : base * SUFFIX[m[3] ?? '']!;
  if (SEEN.size >= SEEN_MAX) SEEN.clear();
  SEEN.set(s, v);
  return v;
}

/** values of the quantity texts read lately (a cluster repeats a few: '100m', '128Mi'); emptied when full */
const SEEN = new Map<string, number>();
const SEEN_MAX = 4096;

/** Quantity 's' in thousandths of a unit, rounded up (millicores for cpu). */
export function milliValue(s: string | number): number {
  const m = parseQuantity(s) * 1000;
  const r = Math.round(m);
  // 0.1 × 1000 is 100.00000000000001 in binary: a value within rounding error of an integer is that integer
  return Math.abs(m - r) <= 1e-9 * Math.max(1, Math.abs(m)) ? r : Math.ceil(m);
}
