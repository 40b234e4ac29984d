// The cloud file against hostile input: the example with lines dropped, duplicated or cut short, values
// swapped for others of any shape, and arbitrary text. Each either builds or is refused with a
// CloudFileError (or, for its run steps, a TopologyFileError) naming a line of the file — never another
// exception — and a refusal tells the data plane nothing.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CloudFileError, loadCloud } from '../../src/compute/file.js';
import { buildCloudFile } from '../../src/compute/run.js';
import { TopologyFileError } from '../../src/topology/file.js';
import { recorder } from './cloud-ops.js';

const EXAMPLE = readFileSync('examples/cloud.yaml', 'utf8');
const LINES = EXAMPLE.split('\n');

/** loadCloud on 'text': built, or refused with a CloudFileError on a line of the file; the data plane hears nothing of a refusal. */
function check(text: string): void {
  const { dp, calls } = recorder();
  try {
    loadCloud(text, { dataplane: dp });
  } catch (e) {
    if (!(e instanceof CloudFileError)) throw e;
    expect(e.line).toBeGreaterThanOrEqual(1);
    expect(e.line).toBeLessThanOrEqual(text.split('\n').length + 1);
    expect(e.message).toMatch(/^line \d+: /);
    expect(calls).toEqual([]);
  }
}

const scalar = fc.oneof(fc.integer({ min: -5, max: 70000 }), fc.constantFrom('', 'x', '10.0.1.0/24', '10.0.1.300', 'acme', 'null', '~', '[]', '{}', 'az9', 'm1.huge', 'fa:16:3e:00:00:01'), fc.string({ maxLength: 12 }));

describe('the cloud file under hostile input', () => {
  it('lines dropped, doubled or cut: built or refused with its line, never another error', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(LINES.length - 1), fc.constantFrom('drop', 'double', 'cut')), { minLength: 1, maxLength: 4 }), (edits) => {
      const lines = [...LINES];
      for (const [i, op] of edits) {
        const at = i % lines.length;
        if (op === 'drop') lines.splice(at, 1);
        else if (op === 'double') lines.splice(at, 0, lines[at]!);
        else lines[at] = lines[at]!.slice(0, Math.floor(lines[at]!.length / 2));
      }
      check(lines.join('\n'));
    }), { numRuns: 150 });
  });

  it('a value replaced by one of any shape: built or refused with its line', () => {
    // the `key: value` places of the example
    const spots: [number, number][] = [];
    LINES.forEach((l, i) => { for (const m of l.matchAll(/: (?=[^\s{[#])/g)) spots.push([i, m.index! + 2]); });
    fc.assert(fc.property(fc.nat(spots.length - 1), scalar, (k, v) => {
      const [i, at] = spots[k]!;
      const line = LINES[i]!;
      const end = line.slice(at).search(/[,}\]]|\s#|$/);
      const text = [...LINES.slice(0, i), `${line.slice(0, at)}${JSON.stringify(v)}${line.slice(at + end)}`, ...LINES.slice(i + 1)].join('\n');
      check(text);
    }), { numRuns: 200 });
  });

  it('arbitrary text: refused with a line (or an empty cloud), never another error', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (text) => { check(text); }), { numRuns: 300 });
  });

  it('a run step naming what is not there is refused with its line before anything runs', () => {
    const text = EXAMPLE.replace('  - ping: { from: web1, to: 10.0.1.3, count: 2 }', '  - ping: { from: web9, to: 10.0.1.3, count: 2 }');
    try {
      buildCloudFile(text);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(TopologyFileError);
      expect((e as TopologyFileError).message).toBe(`line ${LINES.findIndex((l) => l.includes('ping: { from: web1, to: 10.0.1.3')) + 1}: run[1].ping.from: no host named 'web9'`);
    }
  });
});
