// The shard map (src/shard/map.ts): a full map read back field by field, the defaults, the peer
// lists a StatefulSet's headless Service gives, the partition held against a topology's nodes,
// and a table of broken maps each refused with its code, field path and line.
import { describe, expect, it } from 'vitest';
import { checkNodes, hasVni, parseShardMap, renderPeers, shardHost, shardOfNode, ShardMapError } from '../../src/shard/map.js';
import { InputError } from '../../src/errors.js';

const FULL = `apiVersion: sdnemu.dev/v1
kind: ShardMap
source:
  file: /etc/sdnemu/topology/cluster.yaml
  format: manifests
shards: 3
mode: realtime
partition:
  - [control-plane]
  - [worker-1, worker-2]
  - [worker-3]
underlay:
  encap: geneve
  port: 6082
  vnis: [300-399, 7, 100-199]
discovery:
  statefulSet: emu
  service: emu-peers
  clusterDomain: k8s.example
viewer: { shard: 2, port: 9000 }
`;
const MINIMAL = `apiVersion: sdnemu.dev/v1
kind: ShardMap
source: { file: /t.yaml }
shards: 2
underlay: { vnis: [0] }
`;

/** 'text' refused: the error's code, field and line. */
function refusal(text: string): { code: string; field: string; line: number } {
  try {
    parseShardMap(text);
  } catch (e) {
    if (!(e instanceof ShardMapError)) throw e;
    expect(e.message).toBe(`line ${e.line}: ${e.field ? `${e.field}: ` : ''}${e.message.replace(/^line \d+: (\S+: )?/, '')}`);
    return { code: e.code, field: e.field, line: e.line };
  }
  throw new Error('accepted');
}

describe('shard map: reading', () => {
  it('reads every field of a full map', () => {
    const m = parseShardMap(FULL);
    expect(m.source).toEqual({ file: '/etc/sdnemu/topology/cluster.yaml', format: 'manifests' });
    expect(m.shards).toBe(3);
    expect(m.mode).toBe('realtime');
    expect(m.partition).toEqual([['control-plane'], ['worker-1', 'worker-2'], ['worker-3']]);
    expect(m.underlay).toEqual({ encap: 'geneve', port: 6082, vnis: [{ lo: 7, hi: 7 }, { lo: 100, hi: 199 }, { lo: 300, hi: 399 }] });
    expect(m.discovery).toEqual({ statefulSet: 'emu', service: 'emu-peers', clusterDomain: 'k8s.example' });
    expect(m.viewer).toEqual({ shard: 2, port: 9000 });
    expect(m.lines.get('partition[1][1]')).toBe(10);
    expect(m.lines.get('underlay.vnis')).toBe(15);
  });

  it('defaults: realtime, auto partition, VXLAN on 4789 (Geneve 6081), the deploy/ names, no viewer', () => {
    const m = parseShardMap(MINIMAL);
    expect(m).toMatchObject({
      mode: 'realtime', partition: 'auto', viewer: null,
      underlay: { encap: 'vxlan', port: 4789, vnis: [{ lo: 0, hi: 0 }] },
      discovery: { statefulSet: 'sdnemu-shard', service: 'sdnemu-shards', clusterDomain: 'cluster.local' },
    });
    expect(m.source.format).toBeUndefined();
    expect(parseShardMap(MINIMAL.replace('vnis: [0]', 'encap: geneve, vnis: [0]')).underlay.port).toBe(6081);
    expect(parseShardMap(`${MINIMAL}viewer: { port: 8080 }\n`).viewer).toEqual({ shard: 0, port: 8080 });
  });

  it('VNIs: membership over the whole 24-bit range', () => {
    const m = parseShardMap(MINIMAL.replace('[0]', '[0, 16777215, 5000-5009]'));
    for (const v of [0, 5000, 5009, 16777215]) expect(hasVni(m, v)).toBe(true);
    for (const v of [1, 4999, 5010, 16777214]) expect(hasVni(m, v)).toBe(false);
  });
});

describe('shard map: peers', () => {
  it('each shard gets its own DNS name and every other shard as a peer, in index order', () => {
    const m = parseShardMap(FULL);
    const peers = renderPeers(m, 'lab');
    expect(peers.map((p) => p.host)).toEqual([0, 1, 2].map((k) => `emu-${k}.emu-peers.lab.svc.k8s.example`));
    expect(peers[1]).toEqual({
      shard: 1, host: 'emu-1.emu-peers.lab.svc.k8s.example', port: 6082,
      peers: [{ shard: 0, host: 'emu-0.emu-peers.lab.svc.k8s.example', port: 6082 }, { shard: 2, host: 'emu-2.emu-peers.lab.svc.k8s.example', port: 6082 }],
    });
  });

  it('one shard has no peers', () => {
    expect(renderPeers(parseShardMap(MINIMAL.replace('shards: 2', 'shards: 1')), 'default')).toEqual([
      { shard: 0, host: 'sdnemu-shard-0.sdnemu-shards.default.svc.cluster.local', port: 4789, peers: [] },
    ]);
  });

  it.each(['', 'Lab', 'a.b', '-x', 'x'.repeat(64)])('namespace %j is refused (SHARD_BAD_NAMESPACE)', (ns) => {
    const m = parseShardMap(MINIMAL);
    expect(() => renderPeers(m, ns)).toThrow(InputError);
    try { renderPeers(m, ns); } catch (e) { expect((e as InputError).code).toBe('SHARD_BAD_NAMESPACE'); }
  });

  it('a shard index outside the map is refused (SHARD_BAD_INDEX)', () => {
    const m = parseShardMap(MINIMAL);
    for (const k of [-1, 2, 0.5]) {
      try { shardHost(m, 'default', k); expect.unreachable(); } catch (e) { expect((e as InputError).code).toBe('SHARD_BAD_INDEX'); }
    }
  });
});

describe('shard map: the partition against the topology\'s nodes', () => {
  const NODES = ['control-plane', 'worker-1', 'worker-2', 'worker-3'];
  it('an explicit partition naming every node once passes, and says where each runs', () => {
    const m = parseShardMap(FULL);
    expect(() => checkNodes(m, NODES)).not.toThrow();
    expect(NODES.map((n) => shardOfNode(m, n))).toEqual([0, 1, 1, 2]);
    expect(shardOfNode(m, 'nowhere')).toBe(-1);
  });

  it('a node the topology lacks, or one left out, is refused on the partition\'s line', () => {
    const m = parseShardMap(FULL);
    expect(() => checkNodes(m, NODES.slice(0, 3))).toThrow(expect.objectContaining({ code: 'SHARD_MAP_UNKNOWN_NODE', field: 'partition[2][0]', line: 11 }));
    expect(() => checkNodes(m, [...NODES, 'worker-4', 'worker-5'])).toThrow(expect.objectContaining({ code: 'SHARD_MAP_UNASSIGNED_NODE', field: 'partition', line: 8 }));
    try { checkNodes(m, [...NODES, 'worker-4', 'worker-5']); } catch (e) { expect((e as Error).message).toContain('nodes worker-4, worker-5 of /etc/sdnemu/topology/cluster.yaml in no shard'); }
  });

  it('auto: at least one node per shard', () => {
    const m = parseShardMap(MINIMAL.replace('shards: 2', 'shards: 3'));
    expect(() => checkNodes(m, ['a', 'b', 'c'])).not.toThrow();
    expect(() => checkNodes(m, ['a', 'b'])).toThrow(expect.objectContaining({ code: 'SHARD_MAP_TOO_MANY_SHARDS', field: 'shards', line: 4 }));
    expect(shardOfNode(m, 'a')).toBe(-1);
  });
});

describe('shard map: refused, with the field and its line', () => {
  const sub = (from: string | RegExp, to: string): string => FULL.replace(from, to);
  it.each([
    ['not YAML', 'shards: [1', 'SHARD_MAP_BAD_YAML', '', 1],
    ['a duplicate key', `${MINIMAL}shards: 3\n`, 'SHARD_MAP_BAD_YAML', '', 6],
    ['a list', '- 1\n', 'SHARD_MAP_BAD_FILE', '', 1],
    ['empty', '', 'SHARD_MAP_BAD_FILE', '', 1],
    ['another apiVersion', sub('sdnemu.dev/v1', 'v1'), 'SHARD_MAP_BAD_HEADER', 'apiVersion', 1],
    ['another kind', sub('kind: ShardMap', 'kind: ConfigMap'), 'SHARD_MAP_BAD_HEADER', 'kind', 2],
    ['an unknown key', sub('mode: realtime', 'mode: realtime\nseed: 7'), 'SHARD_MAP_UNKNOWN_KEY', 'seed', 8],
    ['an unknown key below', sub('  port: 6082', '  ports: 6082'), 'SHARD_MAP_UNKNOWN_KEY', 'underlay.ports', 14],
    ['no source', sub(/source:\n.*\n.*\n/, ''), 'SHARD_MAP_MISSING', 'source', 1],
    ['no source file', sub('  file: /etc/sdnemu/topology/cluster.yaml\n', ''), 'SHARD_MAP_MISSING', 'source.file', 3],
    ['a relative source file', sub('/etc/sdnemu/topology/cluster.yaml', 'cluster.yaml'), 'SHARD_MAP_BAD_VALUE', 'source.file', 4],
    ['a source file with ..', sub('/etc/sdnemu/topology/', '/etc/../'), 'SHARD_MAP_BAD_VALUE', 'source.file', 4],
    ['an unknown format', sub('format: manifests', 'format: helm'), 'SHARD_MAP_BAD_VALUE', 'source.format', 5],
    ['no shards', sub('shards: 3\n', ''), 'SHARD_MAP_MISSING', 'shards', 1],
    ['zero shards', sub('shards: 3', 'shards: 0'), 'SHARD_MAP_BAD_VALUE', 'shards', 6],
    ['shards as text', sub('shards: 3', 'shards: three'), 'SHARD_MAP_BAD_VALUE', 'shards', 6],
    ['too many shards', sub('shards: 3', 'shards: 1025'), 'SHARD_MAP_BAD_VALUE', 'shards', 6],
    ['another mode', sub('mode: realtime', 'mode: lockstep'), 'SHARD_MAP_BAD_VALUE', 'mode', 7],
    ['a partition that is text', sub(/partition:\n(  - .*\n)+/, 'partition: metis\n'), 'SHARD_MAP_BAD_VALUE', 'partition', 8],
    ['fewer node lists than shards', sub('  - [worker-3]\n', ''), 'SHARD_MAP_BAD_VALUE', 'partition', 8],
    ['an empty shard', sub('[worker-3]', '[]'), 'SHARD_MAP_BAD_VALUE', 'partition[2]', 11],
    ['a node twice', sub('[worker-3]', '[worker-1]'), 'SHARD_MAP_BAD_VALUE', 'partition[2][0]', 11],
    ['a node that is a number', sub('[worker-3]', '[3]'), 'SHARD_MAP_BAD_VALUE', 'partition[2][0]', 11],
    ['no underlay', MINIMAL.replace('underlay: { vnis: [0] }\n', ''), 'SHARD_MAP_MISSING', 'underlay', 1],
    ['no VNIs', sub('  vnis: [300-399, 7, 100-199]\n', ''), 'SHARD_MAP_MISSING', 'underlay.vnis', 12],
    ['an empty VNI list', sub('[300-399, 7, 100-199]', '[]'), 'SHARD_MAP_BAD_VALUE', 'underlay.vnis', 15],
    ['a VNI over 24 bits', sub('[300-399, 7, 100-199]', '[16777216]'), 'SHARD_MAP_BAD_VALUE', 'underlay.vnis[0]', 15],
    ['a backwards range', sub('300-399', '399-300'), 'SHARD_MAP_BAD_VALUE', 'underlay.vnis[0]', 15],
    ['overlapping VNIs', sub('[300-399, 7, 100-199]', '[300-399, 7, 399]'), 'SHARD_MAP_BAD_VALUE', 'underlay.vnis[2]', 15],
    ['an unknown encapsulation', sub('encap: geneve', 'encap: gre'), 'SHARD_MAP_BAD_VALUE', 'underlay.encap', 13],
    ['port 0', sub('port: 6082', 'port: 0'), 'SHARD_MAP_BAD_VALUE', 'underlay.port', 14],
    ['a StatefulSet name with capitals', sub('statefulSet: emu', 'statefulSet: Emu'), 'SHARD_MAP_BAD_VALUE', 'discovery.statefulSet', 17],
    ['a StatefulSet name too long for its pods', sub('statefulSet: emu', `statefulSet: ${'e'.repeat(62)}`), 'SHARD_MAP_BAD_VALUE', 'discovery.statefulSet', 17],
    ['a Service name starting with a digit', sub('service: emu-peers', 'service: 1emu'), 'SHARD_MAP_BAD_VALUE', 'discovery.service', 18],
    ['a cluster domain with a space', sub('k8s.example', 'k8s example'), 'SHARD_MAP_BAD_VALUE', 'discovery.clusterDomain', 19],
    ['a viewer on no shard', sub('shard: 2, port: 9000', 'shard: 3, port: 9000'), 'SHARD_MAP_BAD_VALUE', 'viewer.shard', 20],
    ['a viewer without a port', sub('{ shard: 2, port: 9000 }', '{ shard: 2 }'), 'SHARD_MAP_MISSING', 'viewer.port', 20],
    ['a viewer that is text', sub('{ shard: 2, port: 9000 }', 'yes'), 'SHARD_MAP_BAD_VALUE', 'viewer', 20],
  ])('%s', (_what, text, code, field, line) => {
    expect(refusal(text)).toEqual({ code, field, line });
  });
});
