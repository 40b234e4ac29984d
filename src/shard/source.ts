/**
 * What a sharded run is built from (shard layer): a topology file or a
 * Kubernetes cluster's manifests — the graph the partitioner splits, and
 * the network every shard builds whole.
 *
 * What: a `ShardSource` is the text, its format ('topology', the default,
 * or 'manifests') and, for manifests, the cluster's options (`new Cluster`'s:
 * CIDRs, proxy mode, tunnel, lazy peers, seed).
 *  - `graphOfSource(src)` reads what the partitioner needs without building
 *    the network (so the coordinator stays small): a topology file's graph
 *    (partition.ts `graphOfTopology`), or a cluster's — its nodes and the
 *    'underlay' segment, one link from each node to it with the CNI's
 *    underlay delay. A cluster node stands for its machine, its br-int and
 *    every pod on it (their veths are never cut: a pod runs where its node
 *    runs); only the underlay links may be cut, so the lookahead is the
 *    underlay's one-way delay (cni/network.ts UNDERLAY_DELAY, 50 µs) and the
 *    cut threshold defaults to it. The underlay segment is one learning
 *    bridge in one shard, as in one process: every frame between nodes goes
 *    through that shard (two crossings between two nodes of another shard),
 *    which keeps its learning, flooding and timing exactly the
 *    single-process run's. The hosts traffic may start at: a file's hosts;
 *    a cluster's are known only once built (its pods' names come from the
 *    controllers), so `hosts` is null and each shard checks its traffic.
 *  - `buildSource(src)` builds it as the single-process run does (the same
 *    order, seed, MACs and addresses: a cluster's control plane is
 *    deterministic too) and answers, for the runtime: graph link j's
 *    runtime Link (null for a tie that is not a link), which graph node
 *    runs a host (a pod: its node), and the host by name. Told which graph
 *    nodes its shard runs, a cluster's data plane holds only their pods (a
 *    pod's stack, veth and flows are most of a big cluster's memory: each
 *    shard would hold every pod otherwise); not with NetworkPolicies. Pod
 *    MACs then differ from one process's (they are numbered in creation
 *    order) but never leave their node (the tunnel rewrites them). A cluster node
 *    that did not reach the data plane (its cluster CIDR or underlay full)
 *    is an InputError SHARD_NODE_NOT_BUILT naming it.
 * Neighbours: partition.ts, shard-runtime.ts (builds and runs one shard),
 * coordinator.ts (partitions), topology/file.ts, k8s/cluster.ts (`clusterOf`).
 */
import { buildTopology, loadTopology, type LoadedTopology } from '../topology/file.js';
import type { Topology } from '../topology/topology.js';
import type { Link } from '../sim/link.js';
import type { Host } from '../netstack/host.js';
import { parseDuration } from '../sim/units.js';
import { loadManifests, type LoadedManifests } from '../k8s/manifest.js';
import { clusterOf, type Cluster, type ClusterOptions } from '../k8s/cluster.js';
import { UNDERLAY_DELAY } from '../k8s/cni/network.js';
import { DEFAULT_MIN_CUT_DELAY_NS, graphOfTopology, type ShardGraph } from './partition.js';
import { InputError } from '../errors.js';

export type ShardFormat = 'topology' | 'manifests';

/** A cluster's options that a sharded run passes to every shard (plain data: they cross to worker threads). */
export type ShardClusterOptions = Pick<ClusterOptions, 'seed' | 'proxyMode' | 'tunnel' | 'clusterCIDR' | 'serviceCIDR' | 'underlay' | 'lazyPeers'>;

export interface ShardSource {
  /** the file's text (YAML) */
  text: string;
  /** default 'topology' */
  format?: ShardFormat;
  /** manifests: the cluster's options */
  cluster?: ShardClusterOptions;
}

export interface SourceGraph {
  graph: ShardGraph;
  /** only links of at least this delay are cut unless the run says otherwise */
  minCutDelayNs: number;
  /** the hosts traffic may start at; null when known only once built (a cluster's pods) */
  hosts: ReadonlySet<string> | null;
}

export interface BuiltSource {
  topology: Topology;
  graph: ShardGraph;
  /** a topology file's declarations (null for a cluster) */
  loaded: LoadedTopology | null;
  /** a cluster's (null for a topology file) */
  cluster: Cluster | null;
  /** graph link j's runtime link (null: a tie between a node and what runs on it, never cut) */
  link(j: number): Link | null;
  /** the graph node that runs host 'name' (undefined: no such host) */
  ownerOf(name: string): string | undefined;
  host(name: string): Host;
}

/** A cluster's graph: its nodes (their `kind: Node` documents, or the one node `clusterOf` adds when there is none), then the underlay. */
function clusterGraph(loaded: LoadedManifests): ShardGraph {
  const names = loaded.objects.filter((o) => o.kind === 'Node').map((o) => o.metadata.name);
  const nodes = names.length > 0 ? names : ['node-1'], delayNs = parseDuration(UNDERLAY_DELAY);
  return { nodes: [...nodes, 'underlay'], links: nodes.map((n) => ({ a: n, b: 'underlay', delayNs })) };
}

/** What the partitioner needs of 'src' (see the header). */
export function graphOfSource(src: ShardSource): SourceGraph {
  if ((src.format ?? 'topology') === 'topology') {
    const loaded = loadTopology(src.text);
    return { graph: graphOfTopology(loaded), minCutDelayNs: DEFAULT_MIN_CUT_DELAY_NS, hosts: new Set(loaded.hosts.map((h) => h.name)) };
  }
  return { graph: clusterGraph(loadManifests(src.text)), minCutDelayNs: parseDuration(UNDERLAY_DELAY), hosts: null };
}

/**
 * Build 'src' whole (see the header); 'owns', when given, says which graph nodes this shard runs:
 * a cluster's data plane then holds only their pods (the others' stay in the API), unless the
 * cluster has NetworkPolicies (whose flows select pods on every node).
 */
export function buildSource(src: ShardSource, owns?: (node: string) => boolean): BuiltSource {
  if ((src.format ?? 'topology') === 'topology') {
    const loaded = loadTopology(src.text);
    const topology = buildTopology({ ...loaded, steps: [] });
    const hosts = new Set(loaded.hosts.map((h) => h.name));
    return {
      topology, graph: graphOfTopology(loaded), loaded, cluster: null,
      link: (j) => (j < loaded.links.length ? topology.links[j]! : null),
      ownerOf: (name) => (hosts.has(name) ? name : undefined),
      host: (name) => topology.hostNamed(name),
    };
  }
  const manifests = loadManifests(src.text), graph = clusterGraph(manifests), nodes = graph.nodes.slice(0, -1);
  const podsOn = owns !== undefined && !manifests.objects.some((o) => o.kind === 'NetworkPolicy') ? owns : undefined;
  const { cluster } = clusterOf(manifests, { ...src.cluster, ...(podsOn !== undefined ? { podsOn } : {}) });
  const cni = cluster.cni;
  for (const n of nodes) {
    if (!cni.hasNode(n)) {
      throw new InputError('SHARD_NODE_NOT_BUILT', n, `node '${n}' is not on the data plane: it got no podCIDR or InternalIP (are the cluster CIDR and the underlay large enough for ${nodes.length} nodes? a /24 a node)`);
    }
  }
  return {
    topology: cluster.net, graph, loaded: null, cluster,
    link: (j) => (j < nodes.length ? cni.node(nodes[j]!).links[0]! : null),
    ownerOf: (name) => {
      if (cni.hasNode(name)) return name;
      const slash = name.indexOf('/');
      if (slash <= 0) return undefined;
      const ns = name.slice(0, slash), pod = name.slice(slash + 1);
      // a pod of another shard's node is in the API only
      return cni.findPod(ns, pod)?.node.name ?? cluster.cp.store.get('Pod', ns, pod)?.spec.nodeName;
    },
    host: (name) => cluster.net.hostNamed(name),
  };
}
