/**
 * The scheduler (k8s layer, slow path): kube-scheduler's default profile,
 * reduced to the plugins the emulator's objects can exercise, with an
 * explanation of every decision.
 *
 * What: `schedule(pod, nodes, pods)` (or `scheduleOn(pod, nodeInfos)` on
 * NodeInfos the caller keeps incrementally, as the control plane does) runs,
 * node after node, the filters in the default profile's order — NodeUnschedulable, NodeName,
 * TaintToleration (NoSchedule and NoExecute), NodeAffinity (nodeSelector +
 * required node affinity, matchFields on metadata.name), NodeResourcesFit
 * (pods, cpu, memory, then any other requested resource), InterPodAffinity
 * (required pod affinity and anti-affinity by topologyKey, and the existing
 * pods' anti-affinity) — stopping at the first plugin that rejects the node,
 * as the framework does. Feasible nodes are scored by:
 *   NodeResourcesFit LeastAllocated (weight 1; cpu and memory weight 1 each,
 *     non-zero requests: a container without a request counts 100m / 200Mi),
 *   NodeResourcesBalancedAllocation (weight 1; actual requests; 1 − std of
 *     the cpu and memory fractions, the 1.24–1.33 formula),
 *   TaintToleration (weight 3; intolerable PreferNoSchedule taints, reverse-
 *     normalized), NodeAffinity (weight 2; sum of matched preferred weights,
 *     normalized to 100), each in [0, 100] in integer arithmetic as Go's int64.
 * The highest total wins. Tie-break (ours, documented): kube-scheduler picks
 * uniformly at random among the best nodes; we take the first by node name
 * (string order), so a run never depends on a draw.
 * An unschedulable pod gets kube-scheduler's FitError text:
 *   `0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated
 *   taint {node-role.kubernetes.io/control-plane: }. preemption: 0/3 nodes
 *   are available: 1 No preemption victims found for incoming pod, 2
 *   Preemption is not helpful for scheduling.`
 * — the reason histogram sorted as strings; the preemption part says "not
 * helpful" for nodes rejected as UnschedulableAndUnresolvable (taints,
 * affinity, unschedulable, node name, pod affinity) and "no victims" for the
 * others (the emulator has no priorities, so no pod can be preempted).
 * From 100 nodes on, filtering stops once `feasibleNodesToFind(n)` nodes
 * passed (percentageOfNodesToScore's adaptive default: 50 − n/125 percent,
 * at least 5 % and 100 nodes), and the next pod's search starts where this
 * one stopped, as kube-scheduler's nextStartNodeIndex does; so on a large
 * cluster the rejection list covers the nodes examined, not all of them.
 * Not modelled: PodTopologySpread (and its default constraints),
 * ImageLocality, NodePorts, volumes, preferred inter-pod affinity scores,
 * preemption itself.
 * Cost: O(nodes examined) per pod with NodeInfos: request sums are kept
 * per node, in a NodeTable's typed-array columns with the node's
 * allocatable and free resources and taint flags, so the loop over 500
 * nodes of a 5,000-node cluster reads contiguous memory; a pod without node
 * name, affinity or extended resources that fits the table's lower bounds
 * of free resources (no node tainted or unschedulable) takes the next nodes
 * of the round robin without a filter pass; LeastAllocated and
 * BalancedAllocation are kept per node while pods with the same requests
 * come (a Deployment's), and every node's score is its row's until the row
 * changes; ties break on a name rank worked out once per NodeInfo array
 * (sort keys are numbers); a pod's requests are read once for its
 * decision and its NodeInfo (the last containers array's are kept, and
 * quantity texts are memoized), its filter inputs once per decision; the
 * score table is a typed array, turned into NodeScore rows only when read.
 * Measured with tsx on this machine: 60,000 pods placed one by one on
 * 5,000 NodeInfos in 0.7–1.0 s (each decision keeping ten rows). The
 * inter-pod affinity filter runs only when a pod in play has a required
 * (anti-)affinity term: O(bound pods) once per decision to find the
 * topology domains of the matching pods, then a few lookups per node.
 * A node without allocatable or capacity for cpu/memory/pods gets
 * `DEFAULT_ALLOCATABLE` (4 cpu, 16Gi, 110 pods) for that resource.
 * Neighbours: quantity.ts (requests), labels.ts (selectors),
 * controllers/control-plane.ts (calls it for Pending pods and writes the
 * PodScheduled condition).
 */
import type { LabelSelectorRequirement, Node, NodeSelectorTerm, Pod, PodAffinityTerm, Taint, Toleration } from './api.js';
import { matchesSelector } from './labels.js';
import { milliValue, parseQuantity } from './quantity.js';

export const DEFAULT_ALLOCATABLE: Readonly<Record<string, string>> = { cpu: '4', memory: '16Gi', pods: '110' };
/** non-zero request defaults used by scoring (pkg/scheduler/util: DefaultMilliCPURequest, DefaultMemoryRequest) */
export const DEFAULT_MILLI_CPU_REQUEST = 100;
export const DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024;
const MAX_NODE_SCORE = 100;

export type FilterPlugin = 'NodeUnschedulable' | 'NodeName' | 'TaintToleration' | 'NodeAffinity' | 'NodeResourcesFit' | 'InterPodAffinity';
export type ScorePlugin = 'NodeResourcesFit' | 'NodeResourcesBalancedAllocation' | 'TaintToleration' | 'NodeAffinity';

/** Plugin weights of the default profile. */
export const SCORE_WEIGHTS: Readonly<Record<ScorePlugin, number>> = {
  NodeResourcesFit: 1, NodeResourcesBalancedAllocation: 1, TaintToleration: 3, NodeAffinity: 2,
};

/** Why one node was rejected. */
export interface NodeRejection {
  node: string;
  plugin: FilterPlugin;
  reasons: string[];
  /** UnschedulableAndUnresolvable: preemption would not help */
  unresolvable: boolean;
}

/** One row of the score table. */
export interface NodeScore {
  node: string;
  /** per plugin: the score before normalization, after it, and × weight */
  plugins: Record<ScorePlugin, { raw: number; normalized: number; weighted: number }>;
  total: number;
}

/**
 * A decision. `Scheduler.scheduleOn` builds a scheduled one's `scores`
 * when first read (an accessor: JSON.stringify gives them, an object
 * spread does not — read them, or use `bestScores` / `keepBestScores`).
 */
export type ScheduleResult =
  | { state: 'scheduled'; node: string; scores: NodeScore[]; rejected: NodeRejection[] }
  | { state: 'unschedulable'; message: string; rejected: NodeRejection[] };

/**
 * Resource requests of a pod: the sum over containers (millicores for cpu,
 * bytes for memory, units otherwise); with 'nonZero', a container without a
 * cpu or memory request counts the defaults. The result is cached: do not change it.
 */
export function podRequests(pod: Pod, nonZero = false): Map<string, number> {
  const containers = pod.spec.containers;
  if (!containers) return computeRequests(pod, nonZero);
  const memo = nonZero ? LAST_NON_ZERO : LAST_REQUESTS;
  if (memo.containers !== containers) {
    memo.containers = containers;
    memo.requests = computeRequests(pod, nonZero);
  }
  return memo.requests!;
}

/**
 * The requests of the containers array last asked about (stored objects
 * are never mutated, so an array's requests never change; the store keeps
 * the array of a pod whose update left it alone, as binding and status
 * writes do, so a pod's decision and its NodeInfo's accounting ask about
 * the same array one after the other). One entry, not a WeakMap of every
 * pod's: that many weak entries cost the garbage collector more than
 * reading the requests again.
 */
const LAST_REQUESTS: { containers: object | undefined; requests: Map<string, number> | undefined } = { containers: undefined, requests: undefined };
const LAST_NON_ZERO: { containers: object | undefined; requests: Map<string, number> | undefined } = { containers: undefined, requests: undefined };
const ALLOCATABLE_CACHE = new WeakMap<object, Map<string, number>>();

function computeRequests(pod: Pod, nonZero: boolean): Map<string, number> {
  const out = new Map<string, number>([['cpu', 0], ['memory', 0]]);
  for (const c of pod.spec.containers ?? []) {
    const req = c.resources?.requests ?? {};
    for (const r in req) out.set(r, (out.get(r) ?? 0) + (r === 'cpu' ? milliValue(req[r]!) : parseQuantity(req[r]!)));
    if (nonZero) {
      if (!req.cpu || milliValue(req.cpu) === 0) out.set('cpu', out.get('cpu')! + DEFAULT_MILLI_CPU_REQUEST);
      if (!req.memory || parseQuantity(req.memory) === 0) out.set('memory', out.get('memory')! + DEFAULT_MEMORY_REQUEST);
    }
  }
  // cpu, memory, then the other resources by name: the order FitError lists them in
  const rest = [...out.keys()].filter((r) => r !== 'cpu' && r !== 'memory').sort();
  return rest.length ? new Map([['cpu', out.get('cpu')!], ['memory', out.get('memory')!], ...rest.map((r) => [r, out.get(r)!] as [string, number])]) : out;
}

/** What node 'n' offers of 'resource' (millicores for cpu). */
export function allocatable(n: Node, resource: string): number {
  const key = n.status ?? n;
  let m = ALLOCATABLE_CACHE.get(key);
  if (!m) ALLOCATABLE_CACHE.set(key, (m = new Map()));
  let v = m.get(resource);
  if (v === undefined) m.set(resource, (v = computeAllocatable(n, resource)));
  return v;
}

function computeAllocatable(n: Node, resource: string): number {
  const q = n.status?.allocatable?.[resource] ?? n.status?.capacity?.[resource] ?? DEFAULT_ALLOCATABLE[resource];
  if (q === undefined) return 0;
  return resource === 'cpu' ? milliValue(q) : parseQuantity(q);
}

export function tolerates(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  if (!t.key && t.operator !== 'Exists') return false;
  if (t.operator === 'Exists') return true;
  return (t.value ?? '') === (taint.value ?? '');
}

/** The first taint of 'taints' with an effect in 'effects' that no toleration tolerates. */
export function untoleratedTaint(taints: readonly Taint[] | undefined, tolerations: readonly Toleration[] | undefined, effects: readonly Taint['effect'][]): Taint | undefined {
  if (!taints) return undefined;
  for (const taint of taints) {
    if (!effects.includes(taint.effect)) continue;
    let ok = false;
    for (const t of tolerations ?? []) if (tolerates(t, taint)) { ok = true; break; }
    if (!ok) return taint;
  }
  return undefined;
}

function nodeRequirement(labels: Record<string, string>, r: LabelSelectorRequirement): boolean {
  const op = r.operator as string;
  if (op === 'Gt' || op === 'Lt') {
    const v = labels[r.key];
    const want = Number(r.values?.[0]);
    if (v === undefined || !/^-?[0-9]+$/.test(v) || !Number.isFinite(want)) return false;
    return op === 'Gt' ? Number(v) > want : Number(v) < want;
  }
  return matchesSelector(labels, { matchExpressions: [r] });
}

/** Whether node 'n' satisfies one node selector term (an empty term matches nothing, as in Kubernetes). */
export function matchesNodeSelectorTerm(n: Node, term: NodeSelectorTerm): boolean {
  const exprs = term.matchExpressions ?? [], fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  const labels = n.metadata.labels ?? {};
  return exprs.every((r) => nodeRequirement(labels, r)) && fields.every((r) => nodeRequirement({ 'metadata.name': n.metadata.name }, r));
}

/** nodeSelector and required node affinity of 'pod' on node 'n' (the DaemonSet controller uses it too). */
export function matchesNodeAffinity(pod: Pod, n: Node): boolean {
  const labels = n.metadata.labels ?? {};
  const sel = pod.spec.nodeSelector;
  if (sel) for (const k in sel) if (labels[k] !== sel[k]) return false;
  const req = pod.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (req) return (req.nodeSelectorTerms ?? []).some((t) => matchesNodeSelectorTerm(n, t));
  return true;
}

function termMatches(term: PodAffinityTerm, owner: Pod, other: Pod): boolean {
  const nss = term.namespaces?.length ? term.namespaces : [owner.metadata.namespace ?? 'default'];
  if (!nss.includes(other.metadata.namespace ?? 'default')) return false;
  return term.labelSelector !== undefined && matchesSelector(other.metadata.labels, term.labelSelector);
}

/** DefaultNormalizeScore: scale to [0, 100] by the maximum; 'reverse' flips it (all 100 when every score is 0). */
function normalizeScore(v: number, max: number, reverse: boolean): number {
  if (max === 0) return reverse ? MAX_NODE_SCORE : 0;
  const s = Math.floor((MAX_NODE_SCORE * v) / max);
  return reverse ? MAX_NODE_SCORE - s : s;
}

function rejection(node: string, plugin: FilterPlugin, reasons: string[], unresolvable: boolean): NodeRejection {
  return { node, plugin, reasons, unresolvable };
}

const terminal = (p: Pod): boolean => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';

const UNSCHEDULABLE = 1, HARD_TAINTS = 2, SOFT_TAINTS = 4;
/** the flags a filter looks at (a PreferNoSchedule taint only scores) */
const BLOCKING = UNSCHEDULABLE | HARD_TAINTS;

/**
 * Where the NodeInfos of one cluster keep the figures the scheduler's loop
 * reads: one typed-array column per figure, one row per NodeInfo, so
 * filtering and scoring hundreds of nodes per pod walks a few contiguous
 * arrays rather than hundreds of objects (on 5,000 nodes the loop is bound
 * by memory, not arithmetic). Also the count of bound pods with a required
 * anti-affinity over all of them, so the scheduler knows without a pass
 * whether InterPodAffinity is in play.
 */
export class NodeTable {
  antiAffinityPods = 0;
  allocCpu = new Float64Array(0);
  allocMemory = new Float64Array(0);
  allocPods = new Float64Array(0);
  requestedCpu = new Float64Array(0);
  requestedMemory = new Float64Array(0);
  nonZeroCpu = new Float64Array(0);
  nonZeroMemory = new Float64Array(0);
  podCount = new Float64Array(0);
  /** allocatable − requested cpu and memory, allocatable − bound pods: what the filter compares a pod's requests with */
  freeCpu = new Float64Array(0);
  freeMemory = new Float64Array(0);
  freePods = new Float64Array(0);
  /** UNSCHEDULABLE | HARD_TAINTS (NoSchedule or NoExecute) | SOFT_TAINTS (PreferNoSchedule) */
  flags = new Uint8Array(0);
  /**
   * The last LeastAllocated and BalancedAllocation scores of each row, valid
   * while its stamp is the table's current one: a row's scores depend only on
   * its figures and the pod's four requests, so while pods with the same
   * requests are placed (a Deployment's), only the rows that changed are scored again.
   */
  scoredLeast = new Int32Array(0);
  scoredBalanced = new Int32Array(0);
  scoredStamp = new Int32Array(0);
  /** 1 for a row in use (set by its first touch) */
  live = new Uint8Array(0);
  /** rows in use that are unschedulable or have a NoSchedule / NoExecute taint: while there are none, those filters pass everywhere */
  flagged = 0;
  /** rows in use with a PreferNoSchedule taint */
  softTainted = 0;
  /**
   * Lower bounds of freeCpu, freeMemory and freePods over the rows in use:
   * a pod that fits them fits every node, and the filter need not visit
   * any. Exact while no free figure went up since they were last worked out.
   */
  floorCpu = Infinity;
  floorMemory = Infinity;
  floorPods = Infinity;
  private floorsExact = true;
  private missesSinceExact = 0;
  private stamp = 1;
  private readonly stampedFor = [NaN, NaN, NaN, NaN];
  private rows = 0;
  private readonly free: number[] = [];

  /** The stamp under which scores of a pod with these requests are kept (a new one when they differ from the last pod's). */
  stampFor(cpuNonZero: number, memoryNonZero: number, cpu: number, memory: number): number {
    const k = this.stampedFor;
    if (k[0] !== cpuNonZero || k[1] !== memoryNonZero || k[2] !== cpu || k[3] !== memory) {
      k[0] = cpuNonZero;
      k[1] = memoryNonZero;
      k[2] = cpu;
      k[3] = memory;
      this.stamp++;
    }
    return this.stamp;
  }

  /** Row 'r' changed: its free figures are worked out again, its kept scores are stale. */
  touch(r: number): void {
    const cpu = this.allocCpu[r]! - this.requestedCpu[r]!, memory = this.allocMemory[r]! - this.requestedMemory[r]!, pods = this.allocPods[r]! - this.podCount[r]!;
    if (this.live[r] && (cpu > this.freeCpu[r]! || memory > this.freeMemory[r]! || pods > this.freePods[r]!)) this.floorsExact = false;
    this.live[r] = 1;
    this.freeCpu[r] = cpu;
    this.freeMemory[r] = memory;
    this.freePods[r] = pods;
    if (cpu < this.floorCpu) this.floorCpu = cpu;
    if (memory < this.floorMemory) this.floorMemory = memory;
    if (pods < this.floorPods) this.floorPods = pods;
    this.scoredStamp[r] = 0;
  }

  /** Set row 'r''s flags (keeping the count of flagged rows). */
  setFlags(r: number, flags: number): void {
    if (this.flags[r]! & BLOCKING) this.flagged--;
    if (this.flags[r]! & SOFT_TAINTS) this.softTainted--;
    this.flags[r] = flags;
    if (flags & BLOCKING) this.flagged++;
    if (flags & SOFT_TAINTS) this.softTainted++;
  }

  /**
   * Whether every node in use passes NodeUnschedulable, TaintToleration and
   * NodeResourcesFit for a pod with these requests (and no node name or
   * affinity), known from the floors; after a few misses with stale floors
   * they are worked out again (one pass over the rows).
   */
  fitsEverywhere(cpu: number, memory: number): boolean {
    if (this.flagged !== 0) return false;
    if (this.fitsFloors(cpu, memory)) return true;
    if (this.floorsExact || ++this.missesSinceExact < 8) return false;
    this.floorCpu = this.floorMemory = this.floorPods = Infinity;
    for (let r = 0; r < this.rows; r++) {
      if (!this.live[r]) continue;
      this.floorCpu = Math.min(this.floorCpu, this.freeCpu[r]!);
      this.floorMemory = Math.min(this.floorMemory, this.freeMemory[r]!);
      this.floorPods = Math.min(this.floorPods, this.freePods[r]!);
    }
    this.floorsExact = true;
    this.missesSinceExact = 0;
    return this.fitsFloors(cpu, memory);
  }

  private fitsFloors(cpu: number, memory: number): boolean {
    return !(1 > this.floorPods) && !(cpu > this.floorCpu) && !(memory > this.floorMemory);
  }

  /** A row for a new NodeInfo (all zero). */
  take(): number {
    const r = this.free.pop();
    if (r !== undefined) return r;
    if (this.rows === this.flags.length) this.grow(Math.max(8, this.rows * 2));
    return this.rows++;
  }

  /** Give row 'r' back (its NodeInfo is gone). */
  release(r: number): void {
    this.setFlags(r, 0);
    for (const col of this.columns()) col[r] = 0;
    this.free.push(r);
  }

  /** Row 'r' of 'from' copied into a new row of this table (scores kept are not copied); returns the row. */
  adopt(from: NodeTable, r: number): number {
    const to = this.take();
    const mine = this.columns(), theirs = from.columns();
    for (let c = 0; c < mine.length; c++) mine[c]![to] = theirs[c]![r]!;
    this.flags[to] = 0;
    this.setFlags(to, from.flags[r]!);
    this.live[to] = 0;
    this.touch(to);
    return to;
  }

  private columns(): (Float64Array | Int32Array | Uint8Array)[] {
    return [this.allocCpu, this.allocMemory, this.allocPods, this.requestedCpu, this.requestedMemory, this.nonZeroCpu, this.nonZeroMemory, this.podCount, this.flags,
      this.freeCpu, this.freeMemory, this.freePods, this.scoredLeast, this.scoredBalanced, this.scoredStamp, this.live];
  }

  private grow(size: number): void {
    const more = <T extends Float64Array | Int32Array | Uint8Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(size);
      b.set(a);
      return b;
    };
    this.allocCpu = more(this.allocCpu);
    this.allocMemory = more(this.allocMemory);
    this.allocPods = more(this.allocPods);
    this.requestedCpu = more(this.requestedCpu);
    this.requestedMemory = more(this.requestedMemory);
    this.nonZeroCpu = more(this.nonZeroCpu);
    this.nonZeroMemory = more(this.nonZeroMemory);
    this.podCount = more(this.podCount);
    this.freeCpu = more(this.freeCpu);
    this.freeMemory = more(this.freeMemory);
    this.freePods = more(this.freePods);
    this.live = more(this.live);
    this.flags = more(this.flags);
    this.scoredLeast = more(this.scoredLeast);
    this.scoredBalanced = more(this.scoredBalanced);
    this.scoredStamp = more(this.scoredStamp);
  }
}

/**
 * What the scheduler knows of one node (kube-scheduler's NodeInfo): the
 * node, its bound non-terminal pods and the sums of their requests, kept
 * incrementally by `NodeInfo.add` / `remove` so a scheduling decision costs
 * O(nodes), not O(pods). The figures the filters and scores read (the
 * node's allocatable cpu, memory and pods, its taint flags, the request
 * sums) live in a row of a NodeTable — the cluster's, given to the
 * constructor, or one of its own.
 */
export class NodeInfo {
  readonly pods = new Map<string, Pod>();
  /** actual requests (cpu in millicores) */
  readonly requested = new Map<string, number>([['cpu', 0], ['memory', 0]]);
  /** bound pods that carry a required pod anti-affinity term */
  antiAffinityPods = 0;
  /** the node's name */
  name = '';
  /** where the figures live (a scheduler given NodeInfos of several tables moves them into one) */
  table: NodeTable;
  row: number;
  private current!: Node;
  private alloc = new Map<string, number>();
  constructor(node: Node, table: NodeTable = new NodeTable()) {
    this.table = table;
    this.row = table.take();
    this.node = node;
  }

  get node(): Node {
    return this.current;
  }

  set node(n: Node) {
    this.current = n;
    this.alloc.clear();
    this.name = n.metadata.name;
    const t = this.table, r = this.row;
    t.allocCpu[r] = this.allocatable('cpu');
    t.allocMemory[r] = this.allocatable('memory');
    t.allocPods[r] = this.allocatable('pods');
    let flags = n.spec?.unschedulable ? UNSCHEDULABLE : 0;
    for (const taint of n.spec?.taints ?? []) flags |= taint.effect === 'PreferNoSchedule' ? SOFT_TAINTS : taint.effect === 'NoSchedule' || taint.effect === 'NoExecute' ? HARD_TAINTS : 0;
    t.setFlags(r, flags);
    t.touch(r);
  }

  /** requests with the non-zero defaults, for scoring */
  get nonZero(): { cpu: number; memory: number } {
    return { cpu: this.table.nonZeroCpu[this.row]!, memory: this.table.nonZeroMemory[this.row]! };
  }

  /** requested cpu (millicores) and memory (bytes): requested's first two entries */
  get requestedCpu(): number {
    return this.table.requestedCpu[this.row]!;
  }

  get requestedMemory(): number {
    return this.table.requestedMemory[this.row]!;
  }

  /** allocatable cpu (millicores), memory and pods */
  get allocCpu(): number {
    return this.table.allocCpu[this.row]!;
  }

  get allocMemory(): number {
    return this.table.allocMemory[this.row]!;
  }

  get allocPods(): number {
    return this.table.allocPods[this.row]!;
  }

  /** spec.unschedulable */
  get unschedulable(): boolean {
    return (this.table.flags[this.row]! & UNSCHEDULABLE) !== 0;
  }

  /** the node has a NoSchedule or NoExecute taint */
  get hardTaints(): boolean {
    return (this.table.flags[this.row]! & HARD_TAINTS) !== 0;
  }

  /** the node has a PreferNoSchedule taint */
  get softTaints(): boolean {
    return (this.table.flags[this.row]! & SOFT_TAINTS) !== 0;
  }

  /** What the node offers of 'resource' (cached until the node changes). */
  allocatable(resource: string): number {
    let v = this.alloc.get(resource);
    if (v === undefined) this.alloc.set(resource, (v = allocatable(this.current, resource)));
    return v;
  }

  add(p: Pod): void {
    const k = p.metadata.uid ?? `${p.metadata.namespace}/${p.metadata.name}`;
    if (this.pods.has(k)) this.remove(this.pods.get(k)!);
    this.pods.set(k, p);
    this.account(p, 1);
  }

  remove(p: Pod): void {
    const k = p.metadata.uid ?? `${p.metadata.namespace}/${p.metadata.name}`;
    const cur = this.pods.get(k);
    if (!cur) return;
    this.pods.delete(k);
    this.account(cur, -1);
  }

  /**
   * 'next', a new version of bound pod 'prev', in its place: its sums are
   * left alone when it kept prev's containers and affinity (the store shares
   * what an update left unchanged; requests are cached per containers array).
   */
  replace(prev: Pod, next: Pod): void {
    const k = next.metadata.uid ?? `${next.metadata.namespace}/${next.metadata.name}`;
    const cur = this.pods.get(k);
    if (cur === prev && (prev.metadata.uid ?? `${prev.metadata.namespace}/${prev.metadata.name}`) === k
      && prev.spec.containers === next.spec.containers && prev.spec.affinity === next.spec.affinity) {
      this.pods.set(k, next);
      return;
    }
    this.remove(prev);
    this.add(next);
  }

  /** The node is gone: give its row back to the table and its anti-affinity pods back to the table's count. */
  release(): void {
    this.table.antiAffinityPods -= this.antiAffinityPods;
    this.table.release(this.row);
  }

  /** Keep the figures in 'table' from now on. */
  moveTo(table: NodeTable): void {
    if (table === this.table) return;
    const row = table.adopt(this.table, this.row);
    this.release();
    table.antiAffinityPods += this.antiAffinityPods;
    this.table = table;
    this.row = row;
  }

  private account(p: Pod, sign: 1 | -1): void {
    const t = this.table, r = this.row;
    for (const [res, v] of podRequests(p)) this.requested.set(res, (this.requested.get(res) ?? 0) + sign * v);
    t.requestedCpu[r] = this.requested.get('cpu')!;
    t.requestedMemory[r] = this.requested.get('memory')!;
    t.podCount[r] = this.pods.size;
    t.touch(r);
    const nz = podRequests(p, true);
    t.nonZeroCpu[r] = t.nonZeroCpu[r]! + sign * nz.get('cpu')!;
    t.nonZeroMemory[r] = t.nonZeroMemory[r]! + sign * nz.get('memory')!;
    if (p.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.length) {
      this.antiAffinityPods += sign;
      t.antiAffinityPods += sign;
    }
  }
}

/** NodeInfos for 'nodes' from a list of pods (those unbound or terminal are skipped). */
export function nodeInfos(nodes: readonly Node[], pods: readonly Pod[]): NodeInfo[] {
  const table = new NodeTable();
  const infos = new Map(nodes.map((n) => [n.metadata.name, new NodeInfo(n, table)]));
  for (const p of pods) if (p.spec.nodeName && !terminal(p)) infos.get(p.spec.nodeName)?.add(p);
  return [...infos.values()];
}

/**
 * How many feasible nodes the scheduler looks for before it stops
 * filtering (numFeasibleNodesToFind with the default
 * percentageOfNodesToScore: every node below 100, else 50 − n/125 percent,
 * at least 5 %, at least 100 nodes).
 */
export function feasibleNodesToFind(numAllNodes: number): number {
  if (numAllNodes < 100) return numAllNodes;
  const pct = Math.max(5, 50 - Math.trunc(numAllNodes / 125));
  return Math.max(100, Math.trunc((numAllNodes * pct) / 100));
}

/** A preferred node affinity term (api.ts has it inline). */
type PreferredSchedulingTerm = { weight: number; preference: NodeSelectorTerm };

/** What the filters and scores read of the pod being placed, digested once per decision rather than once per node. */
interface PodDigest {
  pod: Pod;
  /** actual requests (cpu in millicores), and with the non-zero defaults */
  cpu: number;
  memory: number;
  cpuNonZero: number;
  memoryNonZero: number;
  /** requests of other resources with a positive amount, in FitError order */
  others: [string, number][];
  tolerations: Toleration[] | undefined;
  toleratesUnschedulable: boolean;
  nodeName: string | undefined;
  /** a nodeSelector or a required node affinity to check */
  nodeAffinity: boolean;
  preferred: PreferredSchedulingTerm[];
}

function digest(pod: Pod): PodDigest {
  const req = podRequests(pod), nz = podRequests(pod, true);
  const others: [string, number][] = [];
  for (const [r, w] of req) if (r !== 'cpu' && r !== 'memory' && w > 0) others.push([r, w]);
  const tolerations = pod.spec.tolerations;
  return {
    pod, cpu: req.get('cpu')!, memory: req.get('memory')!, cpuNonZero: nz.get('cpu')!, memoryNonZero: nz.get('memory')!, others, tolerations,
    toleratesUnschedulable: (tolerations ?? []).some((t) => tolerates(t, { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' })),
    nodeName: pod.spec.nodeName || undefined,
    nodeAffinity: pod.spec.nodeSelector !== undefined || pod.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution !== undefined,
    preferred: pod.spec.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [],
  };
}

const HARD_EFFECTS: readonly Taint['effect'][] = ['NoSchedule', 'NoExecute'];

/**
 * InterPodAffinity for one pod, worked out once per decision: for each
 * required term, the topology values of the nodes that hold a matching pod
 * (whether a pod matches does not depend on the node being filtered), so
 * filtering a node costs a few lookups, not a pass over every bound pod.
 */
interface AffinityPlan {
  /** the pod's affinity terms: a node must share a domain with a match, or (no match anywhere) the pod matches itself */
  affinity: { key: string; domains: Set<string>; anywhere: boolean; self: boolean }[];
  /** the pod's anti-affinity terms: a node must share no domain with a match */
  anti: { key: string; domains: Set<string> }[];
  /** topology key → values where a bound pod's anti-affinity refuses this pod */
  refused: Map<string, Set<string>>;
}

function affinityPlan(pod: Pod, infos: readonly NodeInfo[]): AffinityPlan {
  const placed: [Pod, Node][] = [];
  for (const info of infos) for (const p of info.pods.values()) if (p.metadata.uid !== pod.metadata.uid || !pod.metadata.uid) placed.push([p, info.node]);
  const domains = (t: PodAffinityTerm): { domains: Set<string>; anywhere: boolean } => {
    const out = new Set<string>();
    let anywhere = false;
    for (const [p, n] of placed) {
      if (!termMatches(t, pod, p)) continue;
      anywhere = true;
      const v = n.metadata.labels?.[t.topologyKey];
      if (v !== undefined) out.add(v);
    }
    return { domains: out, anywhere };
  };
  const refused = new Map<string, Set<string>>();
  for (const [p, n] of placed) {
    for (const t of p.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []) {
      const v = n.metadata.labels?.[t.topologyKey];
      if (v === undefined || !termMatches(t, p, pod)) continue;
      let set = refused.get(t.topologyKey);
      if (!set) refused.set(t.topologyKey, (set = new Set()));
      set.add(v);
    }
  }
  return {
    affinity: (pod.spec.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [])
      .map((t) => ({ key: t.topologyKey, ...domains(t), self: termMatches(t, pod, pod) })),
    anti: (pod.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []).map((t) => ({ key: t.topologyKey, domains: domains(t).domains })),
    refused,
  };
}

/** Columns of a decision's score table: the four plugins' raw scores per feasible node. */
const LEAST = 0, BALANCED = 1, PREFER = 2, AFFINITY = 3, COLUMNS = 4;

/**
 * A decision's score table: per feasible node (its position in the
 * layout, in the order examined) the raw scores, the total, and a sort key
 * — total, then the node name's rank reversed — so the best row and the
 * best n are found by comparing one number.
 */
interface ScoreSheet {
  layout: Layout;
  count: number;
  feasible: Int32Array;
  /**
   * raw and totals are left unwritten for a plain sheet (no PreferNoSchedule
   * taint, no preferred affinity): the rows' resource scores are then the
   * table's kept ones and the total is the key's quotient by 'span'
   */
  plain: boolean;
  span: number;
  raw: Int32Array;
  totals: Int32Array;
  keys: Float64Array;
  maxPrefer: number;
  maxAffinity: number;
}

function scoreRow(sh: ScoreSheet, i: number): NodeScore {
  const r = sh.raw, o = i * COLUMNS;
  const least = r[o + LEAST]!, balanced = r[o + BALANCED]!, prefer = r[o + PREFER]!, affinity = r[o + AFFINITY]!;
  const tt = normalizeScore(prefer, sh.maxPrefer, true), na = normalizeScore(affinity, sh.maxAffinity, false);
  return {
    node: sh.layout.infos[sh.feasible[i]!]!.name,
    plugins: {
      NodeResourcesFit: { raw: least, normalized: least, weighted: least * SCORE_WEIGHTS.NodeResourcesFit },
      NodeResourcesBalancedAllocation: { raw: balanced, normalized: balanced, weighted: balanced * SCORE_WEIGHTS.NodeResourcesBalancedAllocation },
      TaintToleration: { raw: prefer, normalized: tt, weighted: tt * SCORE_WEIGHTS.TaintToleration },
      NodeAffinity: { raw: affinity, normalized: na, weighted: na * SCORE_WEIGHTS.NodeAffinity },
    },
    total: sh.totals[i]!,
  };
}

/** Every row, in the order the nodes were examined. */
function allRows(sh: ScoreSheet): NodeScore[] {
  const out = new Array<NodeScore>(sh.count);
  for (let i = 0; i < sh.count; i++) out[i] = scoreRow(sh, i);
  return out;
}

/** The 'n' best rows, best first (total, then node name); all of them, in the order examined, when there are no more than 'n'. */
function topRows(sh: ScoreSheet, n: number): NodeScore[] {
  return sh.count <= n ? allRows(sh) : topIndices(sh, n).map((i) => scoreRow(sh, i));
}

/** The indices of topRows. */
function topIndices(sh: ScoreSheet, n: number): number[] {
  if (sh.count <= n) return Array.from({ length: sh.count }, (_, i) => i);
  const keys = sh.keys, top: number[] = [];
  for (let i = 0; i < sh.count; i++) {
    const key = keys[i]!;
    if (top.length === n && !(key > keys[top[n - 1]!]!)) continue;
    let at = top.length === n ? n - 1 : top.length;
    while (at > 0 && key > keys[top[at - 1]!]!) {
      top[at] = top[at - 1]!;
      at--;
    }
    top[at] = i;
  }
  return top;
}

/** A sheet of the rows 'picked' of 'sh', in that order, in memory of its own (one buffer). */
function subSheet(sh: ScoreSheet, picked: readonly number[]): ScoreSheet {
  const k = picked.length;
  const buf = new ArrayBuffer(k * 8 + k * 4 * (2 + COLUMNS));
  const keys = new Float64Array(buf, 0, k), feasible = new Int32Array(buf, k * 8, k), totals = new Int32Array(buf, k * 12, k), raw = new Int32Array(buf, k * 16, k * COLUMNS);
  const { table, rows } = sh.layout;
  picked.forEach((from, to) => {
    keys[to] = sh.keys[from]!;
    feasible[to] = sh.feasible[from]!;
    if (sh.plain) {
      const r = rows[sh.feasible[from]!]!;
      totals[to] = Math.floor(sh.keys[from]! / sh.span);
      raw[to * COLUMNS + LEAST] = table.scoredLeast[r]!;
      raw[to * COLUMNS + BALANCED] = table.scoredBalanced[r]!;
      return;
    }
    totals[to] = sh.totals[from]!;
    for (let c = 0; c < COLUMNS; c++) raw[to * COLUMNS + c] = sh.raw[from * COLUMNS + c]!;
  });
  return { layout: sh.layout, count: k, feasible, plain: false, span: sh.span, raw, totals, keys, maxPrefer: sh.maxPrefer, maxAffinity: sh.maxAffinity };
}

/**
 * A scheduled decision whose score rows are built when read (a decision on
 * a large cluster scores hundreds of nodes; most readers want a few rows,
 * and the control plane keeps a thousand decisions of ten rows each: a
 * buffer apiece rather than fifty objects).
 */
class ScoredDecision {
  readonly state = 'scheduled' as const;
  private rows: NodeScore[] | undefined;
  constructor(readonly node: string, readonly rejected: NodeRejection[], private readonly sheet: ScoreSheet) {}

  get scores(): NodeScore[] {
    return (this.rows ??= allRows(this.sheet));
  }

  /** The 'n' best rows (see `bestScores`). */
  best(n: number): NodeScore[] {
    return topRows(this.sheet, n);
  }

  get count(): number {
    return this.sheet.count;
  }

  /** The sheet of the 'n' best rows. */
  narrowed(n: number): ScoreSheet {
    return subSheet(this.sheet, topIndices(this.sheet, n));
  }

  toJSON(): object {
    return { state: this.state, node: this.node, scores: this.scores, rejected: this.rejected };
  }
}

/** 'r' with only its 'n' best score rows (as `bestScores` gives them): 'r' itself when it has no more. */
export function keepBestScores(r: Extract<ScheduleResult, { state: 'scheduled' }>, n: number): Extract<ScheduleResult, { state: 'scheduled' }> {
  if (r instanceof ScoredDecision) return r.count <= n ? r : new ScoredDecision(r.node, r.rejected, r.narrowed(n));
  return r.scores.length <= n ? r : { state: 'scheduled', node: r.node, scores: bestScores(r, n), rejected: r.rejected };
}

/**
 * The 'n' best score rows of a scheduled decision (total, then node name),
 * or all of them, in the decision's order, when there are no more than 'n'.
 */
export function bestScores(r: Extract<ScheduleResult, { state: 'scheduled' }>, n: number): NodeScore[] {
  if (r instanceof ScoredDecision) return r.best(n);
  if (r.scores.length <= n) return r.scores;
  return [...r.scores].sort((a, b) => b.total - a.total || (a.node < b.node ? -1 : 1)).slice(0, n);
}

/**
 * Where the scheduler finds each NodeInfo's figures: for position i of the
 * NodeInfo array it was given, the table and row, and the rank of the
 * node's name among all (the tie-break, without comparing strings per node).
 */
interface Layout {
  infos: readonly NodeInfo[];
  table: NodeTable;
  rows: Int32Array;
  rank: Int32Array;
}

/** The layout of 'infos', after moving every NodeInfo into one table ('table', or the first one's). */
function layoutOf(infos: readonly NodeInfo[], table = infos[0]?.table ?? new NodeTable()): Layout {
  const n = infos.length;
  const rows = new Int32Array(n), rank = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    infos[i]!.moveTo(table);
    rows[i] = infos[i]!.row;
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (infos[a]!.name < infos[b]!.name ? -1 : infos[a]!.name > infos[b]!.name ? 1 : 0));
  for (let j = 0; j < n; j++) rank[order[j]!] = j > 0 && infos[order[j]!]!.name === infos[order[j - 1]!]!.name ? rank[order[j - 1]!]! : j;
  return { infos, table, rows, rank };
}

/** Options of `Scheduler.scheduleOn`. */
export interface ScheduleOptions {
  /** the NodeTable every NodeInfo was built with: saves a pass over them to learn whether any bound pod has a required anti-affinity */
  table?: NodeTable;
  /** keep only this many score rows, the best (as `bestScores` gives them); default: every row */
  scoreRows?: number;
}

export class Scheduler {
  /** where the next search for feasible nodes starts (kube-scheduler's nextStartNodeIndex) */
  private nextStart = 0;
  /** the layout of the NodeInfo array last given (the control plane gives the same array until a node comes or goes) */
  private layout: Layout | undefined;
  /** scratch columns of the decision being made, reused (a decision that keeps its whole table gets copies) */
  private scratch = { feasible: new Int32Array(0), raw: new Int32Array(0), totals: new Int32Array(0), keys: new Float64Array(0) };

  /**
   * Choose a node for 'pod' among 'nodes', given the pods already bound
   * ('pods': every pod; those without spec.nodeName and terminal ones are
   * ignored). Returns the choice and its score table, or the FitError text.
   */
  schedule(pod: Pod, nodes: readonly Node[], pods: readonly Pod[]): ScheduleResult {
    return this.scheduleOn(pod, nodeInfos(nodes, pods));
  }

  /**
   * As `schedule`, on NodeInfos the caller keeps. With 100 nodes or more,
   * filtering stops once `feasibleNodesToFind` nodes passed, starting where
   * the previous search stopped (round robin), as kube-scheduler does; the
   * rejections then cover only the nodes examined. The array is read as a
   * list of nodes that changes only by being replaced: a caller that adds
   * or removes a NodeInfo passes a new array (the NodeInfos themselves may
   * change at will).
   */
  scheduleOn(pod: Pod, infos: readonly NodeInfo[], opts: ScheduleOptions = {}): ScheduleResult {
    const d = digest(pod);
    const affinityInPlay = (opts.table ? opts.table.antiAffinityPods > 0 : infos.some((i) => i.antiAffinityPods > 0))
      || !!pod.spec.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.length
      || !!pod.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.length;
    const plan = affinityInPlay ? affinityPlan(pod, infos) : undefined;
    const n = infos.length;
    let L = this.layout;
    if (!L || L.infos !== infos || L.rows.length !== n || (opts.table && opts.table !== L.table)) L = this.layout = layoutOf(infos, opts.table);
    const rejected: NodeRejection[] = [];
    const want = feasibleNodesToFind(n);
    this.reserve(Math.min(want, n));
    const feasible = this.scratch.feasible;
    // the common pod (no node name, node affinity, extended resources or pod affinity) on an untainted node: the columns alone decide
    const plain = d.nodeName === undefined && !d.nodeAffinity && d.others.length === 0 && !plan;
    const { rows } = L;
    const { flags, freePods, freeCpu, freeMemory } = L.table;
    // a zero request fits whatever is free (NodeResourcesFit skips it)
    const cpu = d.cpu > 0 ? d.cpu : -Infinity, memory = d.memory > 0 ? d.memory : -Infinity;
    let examined = 0, k = 0;
    if (plain && want <= n && L.table.fitsEverywhere(cpu, memory)) {
      // every node fits: the first 'want' from where the last search stopped
      for (let i = this.nextStart; k < want; i = i + 1 === n ? 0 : i + 1) feasible[k++] = i;
      examined = want;
    }
    for (let i = this.nextStart; examined < n && k < want; examined++, i = i + 1 === n ? 0 : i + 1) {
      const r = rows[i]!;
      if (plain && (flags[r]! & BLOCKING) === 0 && !(1 > freePods[r]!) && !(cpu > freeCpu[r]!) && !(memory > freeMemory[r]!)) {
        feasible[k++] = i;
        continue;
      }
      const rej = this.filter(d, infos[i]!, plan);
      if (rej) rejected.push(rej);
      else feasible[k++] = i;
    }
    if (n > 0) this.nextStart = (this.nextStart + examined) % n;
    if (k === 0) return { state: 'unschedulable', message: fitError(n, rejected), rejected };
    const sheet = this.score(d, L, k);
    // a decision of its own: the best few rows (the first is the choice), or every row (copied out of the scratch columns)
    const few = opts.scoreRows !== undefined && k > opts.scoreRows;
    const picked = few ? topIndices(sheet, opts.scoreRows!) : Array.from({ length: k }, (_, i) => i);
    const node = infos[sheet.feasible[few ? picked[0]! : this.bestOf(sheet)]!]!.name;
    return new ScoredDecision(node, rejected, subSheet(sheet, picked));
  }

  /** Room for 'k' feasible nodes in the scratch columns. */
  private reserve(k: number): void {
    if (this.scratch.feasible.length >= k) return;
    const size = Math.max(k, 2 * this.scratch.feasible.length);
    this.scratch = { feasible: new Int32Array(size), raw: new Int32Array(size * COLUMNS), totals: new Int32Array(size), keys: new Float64Array(size) };
  }

  /** The best row: the highest key, the first of equal ones. */
  private bestOf(sh: ScoreSheet): number {
    let best = 0;
    for (let i = 1; i < sh.count; i++) if (sh.keys[i]! > sh.keys[best]!) best = i;
    return best;
  }

  private filter(d: PodDigest, info: NodeInfo, plan: AffinityPlan | undefined): NodeRejection | undefined {
    const name = info.name;
    if (info.unschedulable && !d.toleratesUnschedulable) return rejection(name, 'NodeUnschedulable', ['node(s) were unschedulable'], true);
    if (d.nodeName !== undefined && d.nodeName !== name) return rejection(name, 'NodeName', ["node(s) didn't match the requested node name"], true);
    if (info.hardTaints) {
      const taint = untoleratedTaint(info.node.spec?.taints, d.tolerations, HARD_EFFECTS);
      if (taint) return rejection(name, 'TaintToleration', [`node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`], true);
    }
    if (d.nodeAffinity && !matchesNodeAffinity(d.pod, info.node)) return rejection(name, 'NodeAffinity', ["node(s) didn't match Pod's node affinity/selector"], true);
    const insufficient: string[] = [];
    if (info.pods.size + 1 > info.allocPods) insufficient.push('Too many pods');
    if (d.cpu > 0 && d.cpu > info.allocCpu - info.requestedCpu) insufficient.push('Insufficient cpu');
    if (d.memory > 0 && d.memory > info.allocMemory - info.requestedMemory) insufficient.push('Insufficient memory');
    for (const [r, w] of d.others) if (w > info.allocatable(r) - (info.requested.get(r) ?? 0)) insufficient.push(`Insufficient ${r}`);
    if (insufficient.length) return rejection(name, 'NodeResourcesFit', insufficient, false);
    return plan ? interPodAffinity(info.node, plan) : undefined;
  }

  /** Score the 'k' feasible nodes in the scratch columns. */
  private score(d: PodDigest, L: Layout, k: number): ScoreSheet {
    const { rows, infos, rank, table: t } = L;
    const { feasible, raw, totals, keys } = this.scratch;
    const { scoredStamp, scoredLeast, scoredBalanced, flags } = t;
    const stamp = t.stampFor(d.cpuNonZero, d.memoryNonZero, d.cpu, d.memory);
    // sort keys: total first, then the lower name rank (ranks < n, so n + 1 apart keeps them exact)
    const span = infos.length + 1;
    if (d.preferred.length === 0 && t.softTainted === 0) {
      // no PreferNoSchedule taint and no preferred affinity: TaintToleration is 100 and NodeAffinity 0 everywhere, one pass
      const rest = normalizeScore(0, 0, true) * SCORE_WEIGHTS.TaintToleration + normalizeScore(0, 0, false) * SCORE_WEIGHTS.NodeAffinity;
      for (let i = 0; i < k; i++) {
        const pos = feasible[i]!, r = rows[pos]!;
        if (scoredStamp[r] !== stamp) resourceScores(d, t, r, stamp);
        const total = scoredLeast[r]! * SCORE_WEIGHTS.NodeResourcesFit + scoredBalanced[r]! * SCORE_WEIGHTS.NodeResourcesBalancedAllocation + rest;
        keys[i] = total * span + (span - 1 - rank[pos]!);
      }
      return { layout: L, count: k, feasible, plain: true, span, raw, totals, keys, maxPrefer: 0, maxAffinity: 0 };
    }
    let maxPrefer = 0, maxAffinity = 0;
    for (let i = 0; i < k; i++) {
      const pos = feasible[i]!, r = rows[pos]!, o = i * COLUMNS;
      if (scoredStamp[r] !== stamp) resourceScores(d, t, r, stamp);
      raw[o + LEAST] = scoredLeast[r]!;
      raw[o + BALANCED] = scoredBalanced[r]!;
      raw[o + PREFER] = 0;
      if (flags[r]! & SOFT_TAINTS) {
        const pr = intolerablePreferNoSchedule(infos[pos]!.node, d.tolerations ?? []);
        raw[o + PREFER] = pr;
        if (pr > maxPrefer) maxPrefer = pr;
      }
      raw[o + AFFINITY] = 0;
      if (d.preferred.length) {
        let af = 0;
        for (const term of d.preferred) if (term.weight && matchesNodeSelectorTerm(infos[pos]!.node, term.preference)) af += term.weight;
        raw[o + AFFINITY] = af;
        if (af > maxAffinity) maxAffinity = af;
      }
    }
    const prefer0 = normalizeScore(0, maxPrefer, true) * SCORE_WEIGHTS.TaintToleration, affinity0 = normalizeScore(0, maxAffinity, false) * SCORE_WEIGHTS.NodeAffinity;
    for (let i = 0; i < k; i++) {
      const o = i * COLUMNS, pr = raw[o + PREFER]!, af = raw[o + AFFINITY]!;
      const total = raw[o + LEAST]! * SCORE_WEIGHTS.NodeResourcesFit + raw[o + BALANCED]! * SCORE_WEIGHTS.NodeResourcesBalancedAllocation
        + (pr === 0 ? prefer0 : normalizeScore(pr, maxPrefer, true) * SCORE_WEIGHTS.TaintToleration)
        + (af === 0 ? affinity0 : normalizeScore(af, maxAffinity, false) * SCORE_WEIGHTS.NodeAffinity);
      totals[i] = total;
      keys[i] = total * span + (span - 1 - rank[feasible[i]!]!);
    }
    return { layout: L, count: k, feasible, plain: false, span, raw, totals, keys, maxPrefer, maxAffinity };
  }
}

/**
 * NodeResourcesFit LeastAllocated and NodeResourcesBalancedAllocation of
 * row 'r' for pod 'd', kept in the table's score columns under 'stamp'.
 */
function resourceScores(d: PodDigest, t: NodeTable, r: number, stamp: number): void {
  const allocCpu = t.allocCpu[r]!, allocMem = t.allocMemory[r]!;
  // LeastAllocated: Σ weight × (alloc − requested) × 100 / alloc over resources with alloc > 0, / Σ weight;
  // BalancedAllocation: 1 − |cpu fraction − memory fraction| / 2 (fractions capped at 1)
  let sum = 0, weights = 0, f0 = -1, f1 = -1;
  if (allocCpu > 0) {
    const u = d.cpuNonZero + t.nonZeroCpu[r]!;
    sum += u > allocCpu ? 0 : Math.floor(((allocCpu - u) * MAX_NODE_SCORE) / allocCpu);
    weights++;
    f0 = Math.min(1, (d.cpu + t.requestedCpu[r]!) / allocCpu);
  }
  if (allocMem > 0) {
    const u = d.memoryNonZero + t.nonZeroMemory[r]!;
    sum += u > allocMem ? 0 : Math.floor(((allocMem - u) * MAX_NODE_SCORE) / allocMem);
    weights++;
    f1 = Math.min(1, (d.memory + t.requestedMemory[r]!) / allocMem);
  }
  t.scoredLeast[r] = weights ? Math.floor(sum / weights) : 0;
  t.scoredBalanced[r] = Math.trunc((1 - (f0 >= 0 && f1 >= 0 ? Math.abs((f0 - f1) / 2) : 0)) * MAX_NODE_SCORE);
  t.scoredStamp[r] = stamp;
}

/** TaintToleration's score input: the node's PreferNoSchedule taints no toleration (for that effect) tolerates. */
function intolerablePreferNoSchedule(n: Node, tolerations: readonly Toleration[]): number {
  let pr = 0;
  for (const t of n.spec?.taints ?? []) {
    if (t.effect !== 'PreferNoSchedule') continue;
    let ok = false;
    for (const tol of tolerations) if ((!tol.effect || tol.effect === 'PreferNoSchedule') && tolerates(tol, t)) { ok = true; break; }
    if (!ok) pr++;
  }
  return pr;
}

/** InterPodAffinity's filter on node 'n', in kube-scheduler's order: the pod's affinity, its anti-affinity, the bound pods' anti-affinity. */
function interPodAffinity(n: Node, plan: AffinityPlan): NodeRejection | undefined {
  const name = n.metadata.name;
  const labels = n.metadata.labels ?? {};
  for (const t of plan.affinity) {
    const v = labels[t.key];
    // the first pod of a group that selects itself may go anywhere the topology key exists
    const ok = t.anywhere ? v !== undefined && t.domains.has(v) : t.self && v !== undefined;
    if (!ok) return rejection(name, 'InterPodAffinity', ["node(s) didn't match pod affinity rules"], true);
  }
  for (const t of plan.anti) {
    const v = labels[t.key];
    if (v !== undefined && t.domains.has(v)) return rejection(name, 'InterPodAffinity', ["node(s) didn't match pod anti-affinity rules"], false);
  }
  for (const [key, values] of plan.refused) {
    const v = labels[key];
    if (v !== undefined && values.has(v)) return rejection(name, 'InterPodAffinity', ["node(s) didn't satisfy existing pods anti-affinity rules"], false);
  }
  return undefined;
}

/** kube-scheduler's FitError message for 'numNodes' nodes all rejected as 'rejected' says. */
export function fitError(numNodes: number, rejected: readonly NodeRejection[]): string {
  if (numNodes === 0) return 'no nodes available to schedule pods';
  const hist = new Map<string, number>();
  const pre = new Map<string, number>();
  for (const r of rejected) {
    for (const reason of r.reasons) hist.set(reason, (hist.get(reason) ?? 0) + 1);
    const p = r.unresolvable ? 'Preemption is not helpful for scheduling' : 'No preemption victims found for incoming pod';
    pre.set(p, (pre.get(p) ?? 0) + 1);
  }
  const sorted = (m: Map<string, number>): string => [...m].map(([k, v]) => `${v} ${k}`).sort().join(', ');
  return `0/${numNodes} nodes are available: ${sorted(hist)}. preemption: 0/${numNodes} nodes are available: ${sorted(pre)}.`;
}

/** The score table of a scheduled pod as text (one row per feasible node, the chosen one marked). */
export function formatScores(result: Extract<ScheduleResult, { state: 'scheduled' }>): string {
  const cols: ScorePlugin[] = ['NodeResourcesFit', 'NodeResourcesBalancedAllocation', 'TaintToleration', 'NodeAffinity'];
  const head = ['NODE', ...cols.map((c) => `${c}(×${SCORE_WEIGHTS[c]})`), 'TOTAL'];
  const rows = [...result.scores].sort((a, b) => b.total - a.total || (a.node < b.node ? -1 : 1))
    .map((s) => [`${s.node === result.node ? '*' : ' '}${s.node}`, ...cols.map((c) => String(s.plugins[c].weighted)), String(s.total)]);
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string => r.map((x, i) => x.padEnd(width[i]!)).join('  ').trimEnd();
  const out = [line(head), ...rows.map(line)];
  for (const r of result.rejected) out.push(`  ${r.node}: ${r.plugin}: ${r.reasons.join(', ')}`);
  return out.join('\n');
}
