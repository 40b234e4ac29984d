// Topology files against hostile input: the examples with lines dropped, doubled or cut short, values
// swapped for others of any shape, and arbitrary text. Each is loaded and built, or refused with a
// TopologyFileError naming a line of the file — never another exception.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { buildTopology, loadTopology, TopologyFileError } from '../../src/topology/file.js';
import { anyScalar, editLines, lineEdits, replaceValue } from '../yaml-mutations.js';

const EXAMPLES = ['nat-gateway.yaml', 'ovs-vxlan-overlay.yaml', 'security-groups.yaml', 'vxlan-overlay.yaml']
  .map((f) => readFileSync(`examples/${f}`, 'utf8').split('\n'));

/** Load and build 'text': done, or refused with a TopologyFileError on a line of the file. */
function check(text: string): void {
  try {
    buildTopology(loadTopology(text));
  } catch (e) {
    if (!(e instanceof TopologyFileError)) throw e;
    expect(e.line).toBeGreaterThanOrEqual(1);
    expect(e.line).toBeLessThanOrEqual(text.split('\n').length + 1);
    expect(e.message).toMatch(/^line \d+: /);
  }
}

describe('topology files under hostile input', () => {
  it('lines dropped, doubled or cut: built or refused with its line, never another error', () => {
    fc.assert(fc.property(fc.nat(EXAMPLES.length - 1), lineEdits, (x, edits) => { check(editLines(EXAMPLES[x]!, edits)); }), { numRuns: 200 });
  });

  it('a value replaced by one of any shape: built or refused with its line', () => {
    fc.assert(fc.property(fc.nat(EXAMPLES.length - 1), fc.nat(10_000), anyScalar, (x, k, v) => { check(replaceValue(EXAMPLES[x]!, k, v)); }), { numRuns: 300 });
  });

  it('arbitrary text: refused with a line (or an empty topology), never another error', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (text) => { check(text); }), { numRuns: 300 });
  });

  // what the properties above found (each crashed with a TypeError, RangeError, ReferenceError or an untyped error before)
  const NAT = EXAMPLES[0]!.join('\n');
  it.each([
    ['an alias without its anchor', '*! :', /^line 1: Unresolved alias/],
    ['a list item cut to nothing', EXAMPLES[2]!.map((l, i) => (i === 22 ? '        - ' : l)).join('\n'), /^line \d+: .*expected a mapping/],
    ['an empty SNAT pool', NAT.replace(/pool: [^,}\s]+/, 'pool: ""'), /^line \d+: .*pool/],
    ['a number for an address', NAT.replace(/outside: \{ iface: eth0, addr: [^,}]+/, 'outside: { iface: eth0, addr: 0'), /^line \d+: natGateways\[0\]\.outside\.addr: expected text/],
    ['a security group rule cut to nothing', editLines(EXAMPLES[2]!, [[182, 'cut'], [223, 'cut']]), /^line \d+: .*null is not a rule/],
    ['a negative delay', NAT.replace(/delay: [^,}\s]+/, 'delay: -1'), /^line \d+: links\[\d+\]\.delay: -1 is not a quantity ≥ 0/],
  ])('%s is refused with its line', (_what, text, message) => {
    expect(() => buildTopology(loadTopology(text))).toThrow(TopologyFileError);
    try { buildTopology(loadTopology(text)); } catch (e) { expect((e as Error).message).toMatch(message); }
  });
});
