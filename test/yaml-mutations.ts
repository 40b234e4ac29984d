/**
 * Mutations of a YAML file's lines for the fuzz tests of the files users write (topology and cloud
 * files): lines dropped, doubled or cut short; a `key: value` replaced by a value of any shape.
 */
import fc from 'fast-check';

export type LineEdit = [number, 'drop' | 'double' | 'cut'];

/** Up to four line edits at positions taken modulo the file's length. */
export const lineEdits = fc.array(fc.tuple(fc.nat(400), fc.constantFrom('drop' as const, 'double' as const, 'cut' as const)), { minLength: 1, maxLength: 4 });

/** 'lines' with 'edits' applied, as text. */
export function editLines(lines: readonly string[], edits: readonly LineEdit[]): string {
  const out = [...lines];
  for (const [i, op] of edits) {
    const at = i % out.length;
    if (op === 'drop') out.splice(at, 1);
    else if (op === 'double') out.splice(at, 0, out[at]!);
    else out[at] = out[at]!.slice(0, Math.floor(out[at]!.length / 2));
  }
  return out.join('\n');
}

/** Values of any shape a user might write (or not). */
export const anyScalar = fc.oneof(fc.integer({ min: -5, max: 70000 }), fc.double({ noNaN: false }),
  fc.constantFrom('', 'x', '10.0.1.0/24', '10.0.1.300', '1ms', '-1ms', '0', 'null', '~', '[]', '{}', 'eth9', 'az9', 'm1.huge', 'fa:16:3e:00:00:01', '1Gbps', '9999999TB'),
  fc.string({ maxLength: 12 }));

/** 'lines' with the k-th `key: value` (counted modulo their number) replaced by 'v' as JSON. */
export function replaceValue(lines: readonly string[], k: number, v: unknown): string {
  const spots: [number, number][] = [];
  lines.forEach((l, i) => { for (const m of l.matchAll(/: (?=[^\s{[#|])/g)) spots.push([i, m.index! + 2]); });
  const [i, at] = spots[k % spots.length]!;
  const line = lines[i]!;
  const end = line.slice(at).search(/[,}\]]|\s#|$/);
  return [...lines.slice(0, i), `${line.slice(0, at)}${JSON.stringify(v)}${line.slice(at + end)}`, ...lines.slice(i + 1)].join('\n');
}
