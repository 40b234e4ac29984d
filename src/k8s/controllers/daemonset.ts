/**
 * The DaemonSet controller (k8s layer, slow path), after pkg/controller/daemon.
 *
 * What: one pod per eligible node. A node is eligible to get a new pod when
 * the template's nodeSelector and required node affinity match it and its
 * NoSchedule/NoExecute taints are tolerated; an existing pod keeps running
 * while the node's NoExecute taints are tolerated (nodeShouldRunDaemonPod's
 * shouldRun vs shouldContinueRunning). Pods get the tolerations the
 * controller adds (not-ready and unreachable NoExecute without a time limit,
 * disk/memory/pid-pressure and unschedulable NoSchedule, network-unavailable
 * for hostNetwork pods) and are pinned with a required node affinity
 * `matchFields metadata.name In [node]` — the default scheduler binds them,
 * as in Kubernetes ≥ 1.12. Names: `<ds>-<5 chars>`. Pods on nodes that are
 * gone or no longer eligible, and duplicates, are deleted. A changed
 * template rolls out as RollingUpdate with maxUnavailable 1: pods carry
 * `controller-revision-hash` (the template's hash), and one out-of-date pod
 * (first by node name) is deleted — then recreated from the new template —
 * whenever every pod of the set is ready.
 * Neighbours: scheduler.ts (matchesNodeAffinity, untoleratedTaint);
 * context.ts.
 */
import type { DaemonSet, Node, Pod, Toleration } from '../api.js';
import type { WatchEvent } from '../store.js';
import { matchesNodeAffinity, untoleratedTaint } from '../scheduler.js';
import { type Controller, type ControllerContext, selfOrOwnerKey, isActive, isPodReady, objKey, podFromTemplate, splitKey, templateHash } from './context.js';

const REVISION_LABEL = 'controller-revision-hash';

const DAEMON_TOLERATIONS: Toleration[] = [
  { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
  { key: 'node.kubernetes.io/disk-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/memory-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/pid-pressure', operator: 'Exists', effect: 'NoSchedule' },
  { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
];

/** The node a daemon pod is pinned to (its nodeName, or its matchFields affinity). */
export function daemonPodNode(p: Pod): string | undefined {
  if (p.spec.nodeName) return p.spec.nodeName;
  const terms = p.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  return terms[0]?.matchFields?.find((f) => f.key === 'metadata.name')?.values?.[0];
}

export class DaemonSetController implements Controller {
  readonly name = 'daemonset';
  readonly watches = ['DaemonSet', 'Pod', 'Node'] as const;
  constructor(private readonly ctx: ControllerContext) {}

  keysFor(e: WatchEvent): string[] {
    if (e.object.kind === 'Node') return this.ctx.store.list('DaemonSet').map(objKey);
    return selfOrOwnerKey(e.object, 'DaemonSet');
  }

  /** The pod the DaemonSet would place on 'node' (template + tolerations + pinning affinity). */
  private podFor(ds: DaemonSet, node: string): Pod {
    const p = podFromTemplate(ds.spec.template, ds, { generateName: `${ds.metadata.name}-`, labels: { [REVISION_LABEL]: templateHash(ds.spec.template) } });
    const tol = [...(p.spec.tolerations ?? [])];
    const extra = p.spec.hostNetwork ? [...DAEMON_TOLERATIONS, { key: 'node.kubernetes.io/network-unavailable', operator: 'Exists' as const, effect: 'NoSchedule' as const }] : DAEMON_TOLERATIONS;
    for (const t of extra) if (!tol.some((x) => x.key === t.key && x.effect === t.effect)) tol.push(t);
    p.spec.tolerations = tol;
    p.spec.affinity = {
      ...p.spec.affinity,
      nodeAffinity: {
        ...p.spec.affinity?.nodeAffinity,
        requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [node] }] }] },
      },
    };
    return p;
  }

  /** [shouldRun, shouldContinueRunning] for 'ds' on 'n'. */
  private eligibility(ds: DaemonSet, n: Node): [boolean, boolean] {
    const probe = this.podFor(ds, n.metadata.name);
    const template = { ...probe, spec: { ...probe.spec, affinity: ds.spec.template.spec.affinity } };
    if (!matchesNodeAffinity(template, n)) return [false, false];
    const cont = !untoleratedTaint(n.spec?.taints, probe.spec.tolerations, ['NoExecute']);
    const run = cont && !untoleratedTaint(n.spec?.taints, probe.spec.tolerations, ['NoSchedule']);
    return [run, cont];
  }

  sync(key: string): void {
    const [ns, name] = splitKey(key);
    const { store } = this.ctx;
    const ds = store.get('DaemonSet', ns, name);
    if (!ds) return;
    const revision = templateHash(ds.spec.template);
    const pods = store.ownedBy('Pod', ds.metadata.uid!).filter(isActive);
    const byNode = new Map<string, Pod[]>();
    for (const p of pods) {
      const n = daemonPodNode(p) ?? '';
      byNode.set(n, [...(byNode.get(n) ?? []), p]);
    }
    const nodes = new Set<string>();
    for (const n of store.list('Node')) {
      nodes.add(n.metadata.name);
      const here = byNode.get(n.metadata.name) ?? [];
      const [run, cont] = this.eligibility(ds, n);
      if (here.length === 0 && run) {
        const p = store.create(this.podFor(ds, n.metadata.name));
        this.ctx.record(ds, 'Normal', 'SuccessfulCreate', `Created pod: ${p.metadata.name}`);
      } else if (here.length > 0 && !cont) {
        for (const p of here) this.ctx.deletePod(p);
      } else if (here.length > 1) {
        for (const p of here.slice(1)) this.ctx.deletePod(p);
      }
    }
    for (const [n, here] of byNode) if (!nodes.has(n)) for (const p of here) this.ctx.deletePod(p);
    // RollingUpdate, maxUnavailable 1: replace one out-of-date pod when every pod is ready
    const live = store.ownedBy('Pod', ds.metadata.uid!).filter(isActive);
    if (!live.every(isPodReady)) return;
    const stale = live.filter((p) => p.metadata.labels?.[REVISION_LABEL] !== revision)
      .sort((a, b) => ((daemonPodNode(a) ?? '') < (daemonPodNode(b) ?? '') ? -1 : 1));
    if (stale.length) this.ctx.deletePod(stale[0]!);
  }
}
