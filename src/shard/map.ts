/**
 * The shard map (shard layer, control plane): which shard runs which part of
 * a topology, and where every shard's underlay socket is, as one YAML
 * document — stored in a ConfigMap when the shards run as the pods of a
 * StatefulSet (deploy/k8s/), read from a file otherwise.
 *
 * ```yaml
 * apiVersion: sdnemu.dev/v1
 * kind: ShardMap
 * source:                        # the network to split: a file every shard loads
 *   file: /etc/sdnemu/topology/cluster.yaml   # absolute (a ConfigMap's mount in a pod)
 *   format: manifests            # manifests | topology | cloud (optional: detected as `sdnemu run` does)
 * shards: 2                      # = the StatefulSet's replicas
 * mode: realtime                 # the only mode across machines (issue 12: the shards' clocks follow the wall clock)
 * partition: auto                # the partitioner decides; or one list of node names per shard:
 * #  - [control-plane, worker-1]  #   shard 0
 * #  - [worker-2]                 #   shard 1
 * underlay:
 *   encap: vxlan                 # vxlan (default) | geneve
 *   port: 4789                   # UDP; default 4789 for vxlan, 6081 for geneve
 *   vnis: [0, 100-199]           # the VNIs carried between shards; a datagram for another is dropped
 * discovery:                     # the DNS names the shards find each other by (all defaulted)
 *   statefulSet: sdnemu-shard    # shard k is the pod sdnemu-shard-k …
 *   service: sdnemu-shards       # … of the headless Service sdnemu-shards:
 *   clusterDomain: cluster.local #   sdnemu-shard-k.sdnemu-shards.<namespace>.svc.cluster.local
 * viewer: { shard: 0, port: 8080 }   # optional: the shard that serves the trace viewer (TCP)
 * ```
 * What: `parseShardMap(text)` checks the whole document and returns a
 * `ShardMap`, or throws `ShardMapError` naming the line and the field path
 * (`partition[1][0]`), as topology/file.ts and compute/file.ts report their
 * files. `renderPeers(map, namespace)` gives each shard its own address and
 * its peers' (DNS name, UDP port): the names a StatefulSet's pods get from
 * their headless Service. `checkNodes(map, names)` holds an explicit
 * partition against the nodes the source file really has (each exactly once).
 * Why a document of its own, not flags: every shard must read the same
 * assignment and the same peer list, and a ConfigMap gives all pods one copy;
 * the namespace is not in it (the pods learn theirs from the downward API),
 * so the same map serves any namespace.
 * Invariants: `shards` ≥ 1; an explicit partition has exactly `shards`
 * non-empty lists and names no node twice; the VNI ranges are sorted and
 * disjoint; the pod hostname `<statefulSet>-<shards−1>` is a DNS label.
 * Not here: the partitioner (`partition: auto`), the coordinator and the
 * sockets (partition.ts, coordinator.ts, udp-underlay.ts of this folder).
 * Neighbours: yaml-lines.ts (the lines of fields, shared with k8s/manifest.ts), deploy/k8s/ (the ConfigMap holding one), test/shard/deploy.test.ts
 * (the manifests held against this format), errors.ts.
 */
import { parseDocument, LineCounter } from 'yaml';
import { indexLines, lineOf } from '../yaml-lines.js';
import { InputError, SdnemuError } from '../errors.js';

export const SHARD_MAP_API_VERSION = 'sdnemu.dev/v1';
export const SHARD_MAP_KIND = 'ShardMap';
export const VXLAN_PORT = 4789;
export const GENEVE_PORT = 6081;
/** the most shards a map may name (a StatefulSet's pods, one per shard) */
export const MAX_SHARDS = 1024;
const MAX_VNI = 0xffffff;

export type SourceFormat = 'manifests' | 'topology' | 'cloud';
export type Encap = 'vxlan' | 'geneve';
export type ShardMode = 'realtime';
/** VNIs lo…hi, both included */
export interface VniRange { lo: number; hi: number }

export interface ShardMap {
  source: { file: string; format?: SourceFormat };
  shards: number;
  mode: ShardMode;
  /** 'auto', or per shard the names of its nodes */
  partition: 'auto' | string[][];
  underlay: { encap: Encap; port: number; vnis: VniRange[] };
  discovery: { statefulSet: string; service: string; clusterDomain: string };
  /** the shard serving the trace viewer and its TCP port, or null for none */
  viewer: { shard: number; port: number } | null;
  /** field path (`partition[1][0]`) → the line it is written on */
  lines: ReadonlyMap<string, number>;
}

/** One shard's address and its peers', as `renderPeers` gives them. */
export interface ShardAddress { shard: number; host: string; port: number }
export interface ShardPeers extends ShardAddress { peers: ShardAddress[] }

/** A shard map that cannot be used: the line (1-based) and field path of the fault. */
export class ShardMapError extends SdnemuError {
  constructor(code: string, readonly line: number, readonly field: string, message: string) {
    super(code, `line ${line}: ${field ? `${field}: ` : ''}${message}`);
    this.name = 'ShardMapError';
  }
  override location(): Record<string, string | number> { return { line: this.line, field: this.field }; }
}

const TOP_KEYS = ['apiVersion', 'kind', 'source', 'shards', 'mode', 'partition', 'underlay', 'discovery', 'viewer'];
const KEYS: Readonly<Record<string, readonly string[]>> = {
  source: ['file', 'format'],
  underlay: ['encap', 'port', 'vnis'],
  discovery: ['statefulSet', 'service', 'clusterDomain'],
  viewer: ['shard', 'port'],
};
const FORMATS: readonly SourceFormat[] = ['manifests', 'topology', 'cloud'];
const ENCAPS: readonly Encap[] = ['vxlan', 'geneve'];
const MODES: readonly ShardMode[] = ['realtime'];

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const shape = (v: unknown): string => (v === null || v === undefined ? 'nothing' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a mapping' : typeof v === 'string' ? `text ${JSON.stringify(v)}` : `${typeof v} ${String(v)}`);

/** The reader of one parsed document: typed getters that fail on the line of the field they read. */
class Reader {
  constructor(readonly lines: Map<string, number>) {}

  /** the line of 'path', else of its nearest enclosing field, else 1 */
  lineOf(path: string): number { return lineOf(this.lines, path, 1); }

  fail(code: string, path: string, msg: string): never {
    throw new ShardMapError(code, this.lineOf(path), path, msg);
  }

  /** 'v' as a mapping with only the keys 'allowed' (or nothing: an empty mapping) */
  mapping(v: unknown, path: string, allowed: readonly string[]): Obj {
    if (v === undefined || v === null) return {};
    if (!isObj(v)) return this.fail('SHARD_MAP_BAD_VALUE', path, `expected a mapping, not ${shape(v)}`);
    for (const k of Object.keys(v)) {
      if (!allowed.includes(k)) this.fail('SHARD_MAP_UNKNOWN_KEY', path ? `${path}.${k}` : k, `unknown key (expected one of ${allowed.join(', ')})`);
    }
    return v;
  }

  text(v: unknown, path: string): string {
    if (typeof v !== 'string' || v === '') return this.fail(v === undefined ? 'SHARD_MAP_MISSING' : 'SHARD_MAP_BAD_VALUE', path, v === undefined ? 'required' : `expected text, not ${shape(v)}`);
    return v;
  }

  int(v: unknown, path: string, lo: number, hi: number): number {
    if (v === undefined) return this.fail('SHARD_MAP_MISSING', path, 'required');
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) return this.fail('SHARD_MAP_BAD_VALUE', path, `${shape(v)} is not an integer in ${lo}..${hi}`);
    return v;
  }

  oneOf<T extends string>(v: unknown, path: string, vals: readonly T[], dflt?: T): T {
    if (v === undefined && dflt !== undefined) return dflt;
    if (typeof v !== 'string' || !vals.includes(v as T)) return this.fail(v === undefined ? 'SHARD_MAP_MISSING' : 'SHARD_MAP_BAD_VALUE', path, `${v === undefined ? 'required' : shape(v)}: expected one of ${vals.join(', ')}`);
    return v as T;
  }

  name(v: unknown, path: string, dflt: string, re: RegExp, what: string, maxLen: number): string {
    const s = v === undefined ? dflt : this.text(v, path);
    if (!re.test(s) || s.length > maxLen) this.fail('SHARD_MAP_BAD_VALUE', path, `${JSON.stringify(s)} is not a ${what} of at most ${maxLen} characters`);
    return s;
  }
}

/**
 * Read the shard map in YAML 'text'. Returns it checked and defaulted;
 * throws ShardMapError (line, field) for the first fault.
 */
export function parseShardMap(text: string): ShardMap {
  const lc = new LineCounter();
  let doc;
  try {
    doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, logLevel: 'error' });
  } catch (e) {
    throw new ShardMapError('SHARD_MAP_BAD_YAML', 1, '', (e as Error).message.split('\n')[0]!);
  }
  const err = doc.errors[0];
  if (err) throw new ShardMapError('SHARD_MAP_BAD_YAML', lc.linePos(err.pos[0]).line, '', err.message.split('\n')[0]!);
  const lines = new Map<string, number>();
  indexLines(doc.contents, '', lc, lines);
  const r = new Reader(lines);
  let js: unknown;
  try {
    js = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    return r.fail('SHARD_MAP_BAD_YAML', '', (e as Error).message.split('\n')[0]!);
  }
  if (!isObj(js)) return r.fail('SHARD_MAP_BAD_FILE', '', `a shard map is a mapping, not ${shape(js)}`);
  const top = r.mapping(js, '', TOP_KEYS);
  if (top.apiVersion !== SHARD_MAP_API_VERSION) r.fail('SHARD_MAP_BAD_HEADER', 'apiVersion', `expected ${SHARD_MAP_API_VERSION}, not ${shape(top.apiVersion)}`);
  if (top.kind !== SHARD_MAP_KIND) r.fail('SHARD_MAP_BAD_HEADER', 'kind', `expected ${SHARD_MAP_KIND}, not ${shape(top.kind)}`);

  if (top.source === undefined) r.fail('SHARD_MAP_MISSING', 'source', 'required');
  const src = r.mapping(top.source, 'source', KEYS.source!);
  const file = r.text(src.file, 'source.file');
  if (!file.startsWith('/') || file.endsWith('/') || file.split('/').slice(1).some((s) => s === '' || s === '.' || s === '..')) {
    r.fail('SHARD_MAP_BAD_VALUE', 'source.file', `${JSON.stringify(file)} is not an absolute path to a file (no empty, . or .. segments)`);
  }
  const source: ShardMap['source'] = { file };
  if (src.format !== undefined) source.format = r.oneOf(src.format, 'source.format', FORMATS);

  const shards = r.int(top.shards, 'shards', 1, MAX_SHARDS);
  const mode = r.oneOf(top.mode, 'mode', MODES, 'realtime');
  const partition = readPartition(r, top.partition, shards);

  const u = r.mapping(top.underlay, 'underlay', KEYS.underlay!);
  if (top.underlay === undefined) r.fail('SHARD_MAP_MISSING', 'underlay', 'required (at least its vnis)');
  const encap = r.oneOf(u.encap, 'underlay.encap', ENCAPS, 'vxlan');
  const port = u.port === undefined ? (encap === 'vxlan' ? VXLAN_PORT : GENEVE_PORT) : r.int(u.port, 'underlay.port', 1, 65535);
  const vnis = readVnis(r, u.vnis);

  const d = r.mapping(top.discovery, 'discovery', KEYS.discovery!);
  const podSuffix = `-${shards - 1}`.length;
  const discovery = {
    statefulSet: r.name(d.statefulSet, 'discovery.statefulSet', 'sdnemu-shard', DNS1123_LABEL, 'DNS label (with its pods\' ordinal suffix)', 63 - podSuffix),
    service: r.name(d.service, 'discovery.service', 'sdnemu-shards', DNS1035_LABEL, 'DNS-1035 label (a Service name)', 63),
    clusterDomain: r.name(d.clusterDomain, 'discovery.clusterDomain', 'cluster.local', DNS1123_SUBDOMAIN, 'DNS subdomain', 253),
  };

  let viewer: ShardMap['viewer'] = null;
  if (top.viewer !== undefined && top.viewer !== null) {
    const v = r.mapping(top.viewer, 'viewer', KEYS.viewer!);
    viewer = { shard: v.shard === undefined ? 0 : r.int(v.shard, 'viewer.shard', 0, shards - 1), port: r.int(v.port, 'viewer.port', 1, 65535) };
  }
  return { source, shards, mode, partition, underlay: { encap, port, vnis }, discovery, viewer, lines };
}

function readPartition(r: Reader, v: unknown, shards: number): ShardMap['partition'] {
  if (v === undefined || v === 'auto') return 'auto';
  if (!Array.isArray(v)) return r.fail('SHARD_MAP_BAD_VALUE', 'partition', `expected auto or one list of node names per shard, not ${shape(v)}`);
  if (v.length !== shards) r.fail('SHARD_MAP_BAD_VALUE', 'partition', `${v.length} node lists for ${shards} shards`);
  const seen = new Map<string, string>();
  return v.map((nodes, k) => {
    const p = `partition[${k}]`;
    if (!Array.isArray(nodes) || nodes.length === 0) return r.fail('SHARD_MAP_BAD_VALUE', p, `shard ${k}: expected a non-empty list of node names, not ${shape(nodes)}`);
    return nodes.map((n, i) => {
      const name = r.text(n, `${p}[${i}]`);
      const before = seen.get(name);
      if (before !== undefined) r.fail('SHARD_MAP_BAD_VALUE', `${p}[${i}]`, `node ${name} is already assigned (${before})`);
      seen.set(name, `${p}[${i}]`);
      return name;
    });
  });
}

/** `vnis: [0, 100-199]`: integers and `lo-hi` ranges, sorted and disjoint after reading. */
function readVnis(r: Reader, v: unknown): VniRange[] {
  if (v === undefined) return r.fail('SHARD_MAP_MISSING', 'underlay.vnis', 'required: the VNIs carried between shards');
  if (!Array.isArray(v) || v.length === 0) return r.fail('SHARD_MAP_BAD_VALUE', 'underlay.vnis', `expected a non-empty list of VNIs and lo-hi ranges, not ${shape(v)}`);
  const ranges = v.map((x, i): VniRange & { i: number } => {
    const p = `underlay.vnis[${i}]`;
    if (typeof x === 'number') {
      const n = r.int(x, p, 0, MAX_VNI);
      return { lo: n, hi: n, i };
    }
    const m = typeof x === 'string' ? /^(\d{1,8})-(\d{1,8})$/.exec(x) : null;
    const lo = m ? Number(m[1]) : NaN, hi = m ? Number(m[2]) : NaN;
    if (!m || lo > hi || hi > MAX_VNI) return r.fail('SHARD_MAP_BAD_VALUE', p, `${shape(x)} is not a VNI (0..${MAX_VNI}) or a range lo-hi of them`);
    return { lo, hi, i };
  });
  const sorted = [...ranges].sort((a, b) => a.lo - b.lo || a.i - b.i);
  for (let j = 1; j < sorted.length; j++) {
    const a = sorted[j - 1]!, b = sorted[j]!;
    if (b.lo <= a.hi) {
      const later = a.i > b.i ? a : b, earlier = later === a ? b : a;
      r.fail('SHARD_MAP_BAD_VALUE', `underlay.vnis[${later.i}]`, `VNI ${Math.max(a.lo, b.lo)} is listed twice (also in underlay.vnis[${earlier.i}])`);
    }
  }
  return sorted.map(({ lo, hi }) => ({ lo, hi }));
}

/** Whether 'vni' is one the map carries between shards. */
export function hasVni(map: ShardMap, vni: number): boolean {
  return map.underlay.vnis.some((r) => vni >= r.lo && vni <= r.hi);
}

/** The pod name of shard 'k' (`sdnemu-shard-k`): its hostname too. */
export function shardPodName(map: ShardMap, k: number): string {
  return `${map.discovery.statefulSet}-${k}`;
}

/** The DNS name of shard 'k' in 'namespace': `<pod>.<service>.<namespace>.svc.<clusterDomain>`. */
export function shardHost(map: ShardMap, namespace: string, k: number): string {
  if (!DNS1123_LABEL.test(namespace) || namespace.length > 63) {
    throw new InputError('SHARD_BAD_NAMESPACE', 'namespace', `${JSON.stringify(namespace)} is not a namespace name (a DNS label)`);
  }
  if (!Number.isInteger(k) || k < 0 || k >= map.shards) throw new InputError('SHARD_BAD_INDEX', 'index', `${k} is not a shard of this map (0..${map.shards - 1})`);
  return `${shardPodName(map, k)}.${map.discovery.service}.${namespace}.svc.${map.discovery.clusterDomain}`;
}

/**
 * Every shard's underlay address in 'namespace' and its peers' (every other
 * shard, in index order): what shard k connects its underlay socket to.
 * Throws InputError (SHARD_BAD_NAMESPACE) for a namespace that is not a DNS label.
 */
export function renderPeers(map: ShardMap, namespace: string): ShardPeers[] {
  const all: ShardAddress[] = [];
  for (let k = 0; k < map.shards; k++) all.push({ shard: k, host: shardHost(map, namespace, k), port: map.underlay.port });
  return all.map((a) => ({ ...a, peers: all.filter((b) => b.shard !== a.shard) }));
}

/**
 * Hold the map's partition against 'nodes', the node names of the source
 * file: an explicit partition must name each of them exactly once and no
 * other; `auto` needs at least one node per shard. Throws ShardMapError
 * (SHARD_MAP_UNKNOWN_NODE, SHARD_MAP_UNASSIGNED_NODE, SHARD_MAP_TOO_MANY_SHARDS).
 */
export function checkNodes(map: ShardMap, nodes: readonly string[]): void {
  const r = new Reader(map.lines as Map<string, number>);
  if (map.partition === 'auto') {
    if (nodes.length < map.shards) r.fail('SHARD_MAP_TOO_MANY_SHARDS', 'shards', `${map.shards} shards for ${nodes.length} nodes: a shard would have none`);
    return;
  }
  const known = new Set(nodes);
  const assigned = new Set<string>();
  map.partition.forEach((list, k) => list.forEach((n, i) => {
    if (!known.has(n)) r.fail('SHARD_MAP_UNKNOWN_NODE', `partition[${k}][${i}]`, `no node ${n} in ${map.source.file}`);
    assigned.add(n);
  }));
  const left = nodes.filter((n) => !assigned.has(n));
  if (left.length) r.fail('SHARD_MAP_UNASSIGNED_NODE', 'partition', `node${left.length > 1 ? 's' : ''} ${left.join(', ')} of ${map.source.file} in no shard`);
}

/** The shard that runs node 'name' under an explicit partition, -1 when none does (or the partition is auto). */
export function shardOfNode(map: ShardMap, name: string): number {
  return map.partition === 'auto' ? -1 : map.partition.findIndex((l) => l.includes(name));
}
