/**
 * The partitioner (shard layer): which worker thread runs which node of a
 * topology, cutting only links slow enough to synchronize across.
 *
 * What: a topology is seen as a graph (`ShardGraph`): its nodes, and its
 * links with their propagation delays (`graphOfTopology` reads one from a
 * loaded topology file: hosts, routers, NAT gateways, bridges, OVS bridges
 * and VTEPs are nodes; a VTEP or an OVS bridge on a hypervisor is tied to
 * that host by a link of delay 0, since it runs in the host's stack; a
 * cluster's graph — its nodes and the underlay — is source.ts's).
 * `partition(graph, { shards, minCutDelayNs })`:
 *  1. joins every pair of nodes linked with a delay below `minCutDelayNs`
 *     (union-find): these clusters — a hypervisor with its bridge, VTEP and
 *     VMs — are never split; only links at or above the threshold (the
 *     underlay: hypervisors to the underlay router) may be cut;
 *  2. places the clusters on `shards` shards, largest first, each on the
 *     shard with the fewest nodes so far (lowest index on a tie) — the
 *     LPT rule: no shard holds more than the mean plus the largest cluster;
 *  3. names the links it cut and the lookahead they allow: the smallest
 *     delay of a cut link (Infinity when none is cut).
 * Deterministic: the result depends only on the graph (clusters are ordered
 * by size, then by their first node in the graph's order), never on a hash.
 * Cost: O(n + m α(n)) for the clusters, O(c log c + c·k) to place them.
 * Limits: balance counts nodes, not traffic; a topology whose slow links do
 * not split it (everything tightly linked) is one cluster on one shard.
 * Neighbours: topology/file.ts (the loaded file), sim/units.ts (delays),
 * coordinator.ts and worker.ts (which build and run the shards).
 */
import { parseDuration } from '../sim/units.js';
import type { LoadedTopology } from '../topology/file.js';
import { SdnemuError } from '../errors.js';

/** A partition that cannot be made (no shards, an unknown node). */
export class ShardPartitionError extends SdnemuError {
  constructor(code: string, readonly field: string, message: string) { super(code, `${field}: ${message}`); this.name = 'ShardPartitionError'; }
  override location(): Record<string, string | number> { return { field: this.field }; }
}

/** A link of the graph: its two nodes and its propagation delay (ns). */
export interface ShardGraphLink { a: string; b: string; delayNs: number }

/** What the partitioner sees of a topology. */
export interface ShardGraph {
  nodes: string[];
  links: ShardGraphLink[];
}

export interface PartitionOptions {
  /** how many shards (≥ 1) */
  shards: number;
  /** only links with at least this delay (ns) may be cut (default 100 µs) */
  minCutDelayNs?: number;
}

export interface Partition {
  /** node name → shard index */
  shardOf: Map<string, number>;
  /** the nodes of each shard, in the graph's order */
  members: string[][];
  /** indexes into the graph's links of the links the partition cuts */
  cut: number[];
  /** the smallest delay of a cut link (ns); Infinity when nothing is cut */
  lookaheadNs: number;
}

/** The default threshold: links of 100 µs or more may be cut. */
export const DEFAULT_MIN_CUT_DELAY_NS = 100_000;

/** The node a link end names: a VTEP by its whole name, else the part before ':'. */
export function endNode(text: string, vteps: ReadonlySet<string>): string {
  return vteps.has(text) ? text : text.split(':')[0]!;
}

/** The graph of a loaded topology file (links in the file's order, then the VTEP/OVS-to-host ties). */
export function graphOfTopology(t: LoadedTopology): ShardGraph {
  const vteps = new Set(t.vteps.map((v) => v.name));
  const nodes = [...t.hosts.map((h) => h.name), ...t.natGateways.map((g) => g.name), ...t.bridges.map((b) => b.name),
    ...t.ovsBridges.map((b) => b.name), ...t.vteps.map((v) => v.name)];
  const links: ShardGraphLink[] = t.links.map((l) => ({
    a: endNode(l.a, vteps), b: endNode(l.b, vteps),
    delayNs: typeof l.opts.delay === 'string' ? parseDuration(l.opts.delay) : l.opts.delay ?? 0,
  }));
  for (const v of t.vteps) links.push({ a: v.name, b: v.host, delayNs: 0 });
  for (const b of t.ovsBridges) if (b.host !== undefined) links.push({ a: b.name, b: b.host, delayNs: 0 });
  return { nodes, links };
}

/** Split 'g' into shards (see the header). */
export function partition(g: ShardGraph, opts: PartitionOptions): Partition {
  const k = opts.shards, threshold = opts.minCutDelayNs ?? DEFAULT_MIN_CUT_DELAY_NS;
  if (!Number.isInteger(k) || k < 1) throw new ShardPartitionError('SHARD_BAD_COUNT', 'shards', `expected a positive integer, got ${k}`);
  if (!(threshold > 0)) throw new ShardPartitionError('SHARD_BAD_THRESHOLD', 'minCutDelayNs', `expected a delay > 0 (a cut link of delay 0 allows no lookahead), got ${threshold}`);
  const index = new Map<string, number>();
  g.nodes.forEach((n, i) => {
    if (index.has(n)) throw new ShardPartitionError('SHARD_DUPLICATE_NODE', `nodes[${i}]`, `'${n}' is listed twice`);
    index.set(n, i);
  });
  const at = (n: string, field: string): number => {
    const i = index.get(n);
    if (i === undefined) throw new ShardPartitionError('SHARD_UNKNOWN_NODE', field, `no node named '${n}'`);
    return i;
  };
  // 1. clusters: union-find over the links too fast to cut
  const parent = g.nodes.map((_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) { parent[i] = parent[parent[i]!]!; i = parent[i]!; }
    return i;
  };
  g.links.forEach((l, j) => {
    const a = at(l.a, `links[${j}].a`), b = at(l.b, `links[${j}].b`);
    if (l.delayNs < threshold) {
      const ra = find(a), rb = find(b);
      // the smaller index is the root: a cluster is named by its first node
      if (ra !== rb) { if (ra < rb) parent[rb] = ra; else parent[ra] = rb; }
    }
  });
  const clusters = new Map<number, number[]>();
  g.nodes.forEach((_, i) => {
    const r = find(i);
    const c = clusters.get(r);
    if (c === undefined) clusters.set(r, [i]); else c.push(i);
  });
  // 2. largest first (then by first node), each on the lightest shard
  const order = [...clusters.entries()].sort((x, y) => y[1].length - x[1].length || x[0] - y[0]);
  const load = new Array<number>(k).fill(0);
  const shardOfIdx = new Array<number>(g.nodes.length).fill(0);
  for (const [, members] of order) {
    let s = 0;
    for (let i = 1; i < k; i++) if (load[i]! < load[s]!) s = i;
    load[s]! += members.length;
    for (const m of members) shardOfIdx[m] = s;
  }
  const shardOf = new Map<string, number>();
  const members: string[][] = Array.from({ length: k }, () => []);
  g.nodes.forEach((n, i) => { shardOf.set(n, shardOfIdx[i]!); members[shardOfIdx[i]!]!.push(n); });
  // 3. the cut links and the lookahead they allow
  const cut: number[] = [];
  let lookaheadNs = Infinity;
  g.links.forEach((l, j) => {
    if (shardOf.get(l.a) !== shardOf.get(l.b)) { cut.push(j); if (l.delayNs < lookaheadNs) lookaheadNs = l.delayNs; }
  });
  return { shardOf, members, cut, lookaheadNs };
}
