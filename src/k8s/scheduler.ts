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
 * Cost: O(nodes examined) per pod with NodeInfos (request sums are kept
 * per node; a pod's requests are parsed once per spec object); the
 * inter-pod affinity filter, O(bound pods), runs only when a pod in play
 * has a required (anti-)affinity term.
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

export type ScheduleResult =
  | { state: 'scheduled'; node: string; scores: NodeScore[]; rejected: NodeRejection[] }
  | { state: 'unschedulable'; message: string; rejected: NodeRejection[] };

/**
 * Resource requests of a pod: the sum over containers (millicores for cpu,
 * bytes for memory, units otherwise); with 'nonZero', a container without a
 * cpu or memory request counts the defaults. The result is cached: do not change it.
 */
export function podRequests(pod: Pod, nonZero = false): Map<string, number> {
  const cache = nonZero ? NON_ZERO_CACHE : REQUEST_CACHE;
  let out = cache.get(pod.spec);
  if (!out) cache.set(pod.spec, (out = computeRequests(pod, nonZero)));
  return out;
}

/** requests per pod spec object (stored objects are never mutated, so a spec's requests never change) */
const REQUEST_CACHE = new WeakMap<object, Map<string, number>>();
const NON_ZERO_CACHE = new WeakMap<object, Map<string, number>>();
const ALLOCATABLE_CACHE = new WeakMap<object, Map<string, number>>();

function computeRequests(pod: Pod, nonZero: boolean): Map<string, number> {
  const out = new Map<string, number>([['cpu', 0], ['memory', 0]]);
  for (const c of pod.spec.containers ?? []) {
    const req = c.resources?.requests ?? {};
    for (const [r, q] of Object.entries(req)) out.set(r, (out.get(r) ?? 0) + (r === 'cpu' ? milliValue(q) : parseQuantity(q)));
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

/**
 * What the scheduler knows of one node (kube-scheduler's NodeInfo): the
 * node, its bound non-terminal pods and the sums of their requests, kept
 * incrementally by `NodeInfo.add` / `remove` so a scheduling decision costs
 * O(nodes), not O(pods).
 */
export class NodeInfo {
  readonly pods = new Map<string, Pod>();
  /** actual requests (cpu in millicores) */
  readonly requested = new Map<string, number>([['cpu', 0], ['memory', 0]]);
  /** requests with the non-zero defaults, for scoring */
  readonly nonZero = { cpu: 0, memory: 0 };
  /** bound pods that carry a required pod anti-affinity term */
  antiAffinityPods = 0;
  private current: Node;
  private alloc = new Map<string, number>();
  constructor(node: Node) {
    this.current = node;
  }

  get node(): Node {
    return this.current;
  }

  set node(n: Node) {
    this.current = n;
    this.alloc.clear();
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

  private account(p: Pod, sign: 1 | -1): void {
    for (const [r, v] of podRequests(p)) this.requested.set(r, (this.requested.get(r) ?? 0) + sign * v);
    const nz = podRequests(p, true);
    this.nonZero.cpu += sign * nz.get('cpu')!;
    this.nonZero.memory += sign * nz.get('memory')!;
    if (p.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.length) this.antiAffinityPods += sign;
  }
}

/** NodeInfos for 'nodes' from a list of pods (those unbound or terminal are skipped). */
export function nodeInfos(nodes: readonly Node[], pods: readonly Pod[]): NodeInfo[] {
  const infos = new Map(nodes.map((n) => [n.metadata.name, new NodeInfo(n)]));
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

export class Scheduler {
  /** where the next search for feasible nodes starts (kube-scheduler's nextStartNodeIndex) */
  private nextStart = 0;

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
   * rejections then cover only the nodes examined.
   */
  scheduleOn(pod: Pod, infos: readonly NodeInfo[]): ScheduleResult {
    const affinityInPlay = infos.some((i) => i.antiAffinityPods > 0)
      || !!pod.spec.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.length
      || !!pod.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.length;
    const byName = new Map<string, NodeInfo>();
    if (affinityInPlay) for (const i of infos) byName.set(i.node.metadata.name, i);
    const rejected: NodeRejection[] = [];
    const feasible: NodeInfo[] = [];
    const want = feasibleNodesToFind(infos.length);
    const n = infos.length;
    let examined = 0;
    for (; examined < n && feasible.length < want; examined++) {
      const info = infos[(this.nextStart + examined) % n]!;
      const r = this.filter(pod, info, byName, affinityInPlay);
      if (r) rejected.push(r);
      else feasible.push(info);
    }
    if (n > 0) this.nextStart = (this.nextStart + examined) % n;
    if (feasible.length === 0) return { state: 'unschedulable', message: fitError(n, rejected), rejected };
    const scores = this.score(pod, feasible);
    let best = scores[0]!;
    for (const s of scores) if (s.total > best.total || (s.total === best.total && s.node < best.node)) best = s;
    return { state: 'scheduled', node: best.node, scores, rejected };
  }

  private filter(pod: Pod, info: NodeInfo, byName: Map<string, NodeInfo>, affinityInPlay: boolean): NodeRejection | undefined {
    const n = info.node;
    const name = n.metadata.name;
    if (n.spec?.unschedulable && !(pod.spec.tolerations ?? []).some((t) => tolerates(t, { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }))) {
      return rejection(name, 'NodeUnschedulable', ['node(s) were unschedulable'], true);
    }
    if (pod.spec.nodeName && pod.spec.nodeName !== name) return rejection(name, 'NodeName', ["node(s) didn't match the requested node name"], true);
    const taint = untoleratedTaint(n.spec?.taints, pod.spec.tolerations, ['NoSchedule', 'NoExecute']);
    if (taint) return rejection(name, 'TaintToleration', [`node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`], true);
    if (!matchesNodeAffinity(pod, n)) return rejection(name, 'NodeAffinity', ["node(s) didn't match Pod's node affinity/selector"], true);
    const insufficient: string[] = [];
    if (info.pods.size + 1 > info.allocatable('pods')) insufficient.push('Too many pods');
    for (const [r, w] of podRequests(pod)) {
      if (w > 0 && w > info.allocatable(r) - (info.requested.get(r) ?? 0)) insufficient.push(`Insufficient ${r}`);
    }
    if (insufficient.length) return rejection(name, 'NodeResourcesFit', insufficient, false);
    return affinityInPlay ? this.interPodAffinity(pod, n, byName) : undefined;
  }

  private interPodAffinity(pod: Pod, n: Node, byName: Map<string, NodeInfo>): NodeRejection | undefined {
    const name = n.metadata.name;
    const labels = n.metadata.labels ?? {};
    const sameDomain = (other: string, key: string): boolean => {
      const o = byName.get(other)?.node;
      return labels[key] !== undefined && o?.metadata.labels?.[key] === labels[key];
    };
    const placed: [Pod, string][] = [];
    for (const [nn, info] of byName) for (const p of info.pods.values()) if (p.metadata.uid !== pod.metadata.uid || !pod.metadata.uid) placed.push([p, nn]);
    // in kube-scheduler's order: the pod's affinity, its anti-affinity, then the existing pods' anti-affinity
    for (const t of pod.spec.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []) {
      const anywhere = placed.some(([p]) => termMatches(t, pod, p));
      // the first pod of a group that selects itself may go anywhere the topology key exists
      const ok = anywhere ? placed.some(([p, nn]) => termMatches(t, pod, p) && sameDomain(nn, t.topologyKey))
        : termMatches(t, pod, pod) && labels[t.topologyKey] !== undefined;
      if (!ok) return { node: name, plugin: 'InterPodAffinity', reasons: ["node(s) didn't match pod affinity rules"], unresolvable: true };
    }
    for (const t of pod.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []) {
      if (placed.some(([p, nn]) => termMatches(t, pod, p) && sameDomain(nn, t.topologyKey))) {
        return { node: name, plugin: 'InterPodAffinity', reasons: ["node(s) didn't match pod anti-affinity rules"], unresolvable: false };
      }
    }
    // existing pods' required anti-affinity against the incoming pod
    for (const [p, nn] of placed) {
      for (const t of p.spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []) {
        if (termMatches(t, p, pod) && sameDomain(nn, t.topologyKey)) {
          return { node: name, plugin: 'InterPodAffinity', reasons: ["node(s) didn't satisfy existing pods anti-affinity rules"], unresolvable: false };
        }
      }
    }
    return undefined;
  }

  private score(pod: Pod, feasible: NodeInfo[]): NodeScore[] {
    const reqNZ = podRequests(pod, true), req = podRequests(pod);
    const podCpuNZ = reqNZ.get('cpu')!, podMemNZ = reqNZ.get('memory')!, podCpu = req.get('cpu')!, podMem = req.get('memory')!;
    const tolerations = pod.spec.tolerations ?? [];
    const preferred = pod.spec.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [];
    const k = feasible.length;
    const least = new Array<number>(k), balanced = new Array<number>(k), prefer = new Array<number>(k), affinity = new Array<number>(k);
    let maxPrefer = 0, maxAffinity = 0;
    for (let i = 0; i < k; i++) {
      const info = feasible[i]!;
      const n = info.node;
      const allocCpu = info.allocatable('cpu'), allocMem = info.allocatable('memory');
      // LeastAllocated: Σ weight × (alloc − requested) × 100 / alloc over resources with alloc > 0, / Σ weight;
      // BalancedAllocation: 1 − |cpu fraction − memory fraction| / 2 (fractions capped at 1)
      let sum = 0, weights = 0, f0 = -1, f1 = -1;
      if (allocCpu > 0) {
        const u = podCpuNZ + info.nonZero.cpu;
        sum += u > allocCpu ? 0 : Math.floor(((allocCpu - u) * MAX_NODE_SCORE) / allocCpu);
        weights++;
        f0 = Math.min(1, (podCpu + info.requested.get('cpu')!) / allocCpu);
      }
      if (allocMem > 0) {
        const u = podMemNZ + info.nonZero.memory;
        sum += u > allocMem ? 0 : Math.floor(((allocMem - u) * MAX_NODE_SCORE) / allocMem);
        weights++;
        f1 = Math.min(1, (podMem + info.requested.get('memory')!) / allocMem);
      }
      least[i] = weights ? Math.floor(sum / weights) : 0;
      balanced[i] = Math.trunc((1 - (f0 >= 0 && f1 >= 0 ? Math.abs((f0 - f1) / 2) : 0)) * MAX_NODE_SCORE);
      let pr = 0;
      for (const t of n.spec?.taints ?? []) {
        if (t.effect !== 'PreferNoSchedule') continue;
        let ok = false;
        for (const tol of tolerations) if ((!tol.effect || tol.effect === 'PreferNoSchedule') && tolerates(tol, t)) { ok = true; break; }
        if (!ok) pr++;
      }
      prefer[i] = pr;
      if (pr > maxPrefer) maxPrefer = pr;
      let af = 0;
      for (const term of preferred) if (term.weight && matchesNodeSelectorTerm(n, term.preference)) af += term.weight;
      affinity[i] = af;
      if (af > maxAffinity) maxAffinity = af;
    }
    const out: NodeScore[] = new Array(k);
    for (let i = 0; i < k; i++) {
      const tt = normalizeScore(prefer[i]!, maxPrefer, true), na = normalizeScore(affinity[i]!, maxAffinity, false);
      const plugins: NodeScore['plugins'] = {
        NodeResourcesFit: { raw: least[i]!, normalized: least[i]!, weighted: least[i]! * SCORE_WEIGHTS.NodeResourcesFit },
        NodeResourcesBalancedAllocation: { raw: balanced[i]!, normalized: balanced[i]!, weighted: balanced[i]! * SCORE_WEIGHTS.NodeResourcesBalancedAllocation },
        TaintToleration: { raw: prefer[i]!, normalized: tt, weighted: tt * SCORE_WEIGHTS.TaintToleration },
        NodeAffinity: { raw: affinity[i]!, normalized: na, weighted: na * SCORE_WEIGHTS.NodeAffinity },
      };
      const total = plugins.NodeResourcesFit.weighted + plugins.NodeResourcesBalancedAllocation.weighted + plugins.TaintToleration.weighted + plugins.NodeAffinity.weighted;
      out[i] = { node: feasible[i]!.node.metadata.name, plugins, total };
    }
    return out;
  }

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
