// Shard maps against hostile input, as test/topology/file-fuzz.test.ts holds topology files: the
// deployed map and a full one with lines dropped, doubled or cut short, values swapped for others
// of any shape, and arbitrary text. Each is read (and its peers rendered), or refused with a
// ShardMapError naming a line of the file — never another exception.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parse, stringify } from 'yaml';
import { checkNodes, parseShardMap, renderPeers, ShardMapError } from '../../src/shard/map.js';
import { anyScalar, editLines, lineEdits, replaceValue } from '../yaml-mutations.js';

const DEPLOYED = (parse(readFileSync('deploy/k8s/shard-map.yaml', 'utf8')) as { data: Record<string, string> }).data['shards.yaml']!;
const FULL = `apiVersion: sdnemu.dev/v1
kind: ShardMap
source: { file: /etc/sdnemu/topology/cluster.yaml, format: topology }
shards: 3
mode: realtime
partition:
  - [h1, r1]
  - [h2]
  - [h3, r2]
underlay: { encap: vxlan, port: 4789, vnis: [100, 200-299] }
discovery: { statefulSet: sdnemu-shard, service: sdnemu-shards, clusterDomain: cluster.local }
viewer: { shard: 1, port: 8080 }
`;
const EXAMPLES = [DEPLOYED, FULL].map((t) => t.split('\n'));

/** Read 'text' and render its peers: done, or refused with a ShardMapError on a line of the file. */
function check(text: string): void {
  try {
    const m = parseShardMap(text);
    const peers = renderPeers(m, 'sdnemu');
    expect(peers).toHaveLength(m.shards);
    for (const p of peers) expect(p.peers).toHaveLength(m.shards - 1);
    checkNodes(m, ['h1', 'h2', 'h3', 'r1', 'r2']);
  } catch (e) {
    if (!(e instanceof ShardMapError)) throw e;
    expect(e.line).toBeGreaterThanOrEqual(1);
    expect(e.line).toBeLessThanOrEqual(text.split('\n').length + 1);
    expect(e.message).toMatch(/^line \d+: /);
  }
}

describe('shard maps under hostile input', () => {
  it('lines dropped, doubled or cut: read or refused with its line, never another error', () => {
    fc.assert(fc.property(fc.nat(EXAMPLES.length - 1), lineEdits, (x, edits) => { check(editLines(EXAMPLES[x]!, edits)); }), { numRuns: 300 });
  });

  it('a value replaced by one of any shape: read or refused with its line', () => {
    fc.assert(fc.property(fc.nat(EXAMPLES.length - 1), fc.nat(10_000), anyScalar, (x, k, v) => { check(replaceValue(EXAMPLES[x]!, k, v)); }), { numRuns: 400 });
  });

  it('arbitrary text: refused with a line, never another error', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (text) => { check(text); }), { numRuns: 300 });
  });

  it('any JSON value in place of a top-level field, or of the whole map: read or refused with its line', () => {
    const KEYS = ['apiVersion', 'kind', 'source', 'shards', 'mode', 'partition', 'underlay', 'discovery', 'viewer'];
    const base = parse(FULL) as Record<string, unknown>;
    fc.assert(fc.property(fc.constantFrom(...KEYS), fc.jsonValue(), (k, v) => { check(stringify({ ...base, [k]: v })); }), { numRuns: 300 });
    fc.assert(fc.property(fc.jsonValue(), (v) => { check(stringify(v)); }), { numRuns: 200 });
  });

  it.each([
    ['an alias without its anchor', '*! :'],
    ['a mapping as a key', '? { a: 1 }\n: 2\n'],
    ['a billion laughs', 'a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n'],
    ['a shard count of 1e9', FULL.replace('shards: 3', 'shards: 1e9')],
    ['NaN shards', FULL.replace('shards: 3', 'shards: .nan')],
  ])('%s is refused with a ShardMapError', (_what, text) => {
    expect(() => parseShardMap(text)).toThrow(ShardMapError);
  });
});
