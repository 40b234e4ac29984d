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
import { anyScalar, editLines, lineEdits, replaceValue } from '../yaml-mutations.js';

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

describe('the cloud file under hostile input', () => {
  it('lines dropped, doubled or cut: built or refused with its line, never another error', () => {
    fc.assert(fc.property(lineEdits, (edits) => { check(editLines(LINES, edits)); }), { numRuns: 150 });
  });

  it('a value replaced by one of any shape: built or refused with its line', () => {
    fc.assert(fc.property(fc.nat(10_000), anyScalar, (k, v) => { check(replaceValue(LINES, k, v)); }), { numRuns: 200 });
  });

  it('arbitrary text: refused with a line (or an empty cloud), never another error', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (text) => { check(text); }), { numRuns: 300 });
  });

  it('an alias without its anchor is refused with its line (found by the topology file\'s fuzzing)', () => {
    expect(() => loadCloud('hypervisors: *x\n')).toThrow(/^line 1: Unresolved alias/);
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
