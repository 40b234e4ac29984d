/**
 * The Deployment controller (k8s layer, slow path), after
 * pkg/controller/deployment (sync.go, rolling.go, recreate.go).
 *
 * What: the ReplicaSet whose `pod-template-hash` label is the hash of the
 * Deployment's template is the new RS (`<deployment>-<hash>`, created on
 * demand with the hash added to its selector and template labels); every
 * other owned RS is old.
 * - RollingUpdate: maxSurge rounds up and maxUnavailable down from their
 *   percentages of `replicas` (both 0 → maxUnavailable 1, as
 *   ResolveFenceposts). The new RS grows while the total of all RSs'
 *   replicas is under replicas + maxSurge (NewRSNewReplicas); old RSs
 *   shrink by at most allPods − minAvailable − newRS's unavailable pods,
 *   unhealthy replicas first (cleanupUnhealthyReplicas), then available
 *   ones while more than minAvailable are available
 *   (scaleDownOldReplicaSetsForRollingUpdate), oldest RS first. A pod
 *   counts as available only once ready (the data plane's setPodReady, or
 *   the control plane's autoReady): the rollout advances one fixpoint per
 *   readiness change, as the real one advances per informer event.
 * - Recreate: every old RS to 0; the new RS is created or scaled up only
 *   once no old pod is left.
 * A pure scale (replicas changed, same template) goes through the same
 * steps, which resize the new RS (proportional scaling of a paused
 * mid-rollout Deployment is not modelled). Status: replicas,
 * updatedReplicas, readyReplicas, availableReplicas. Old RSs are kept at 0
 * (revisionHistoryLimit is not enforced).
 * Neighbours: replicaset.ts makes the pods; context.ts (templateHash,
 * scaledValue).
 */
import type { Deployment, ReplicaSet } from '../api.js';
import type { WatchEvent } from '../store.js';
import { controllerRef, ownerRefTo } from '../store.js';
import { type Controller, type ControllerContext, isActive, scaledValue, selfOrOwnerKey, splitKey, templateHash } from './context.js';
import type { ReplicaSetStatus } from './replicaset.js';

const replicasOf = (rs: ReplicaSet): number => rs.spec.replicas ?? 0;
const availableOf = (rs: ReplicaSet): number => (rs.status as ReplicaSetStatus | undefined)?.availableReplicas ?? 0;
const byAge = (a: ReplicaSet, b: ReplicaSet): number => {
  const ca = a.metadata.creationTimestamp ?? '', cb = b.metadata.creationTimestamp ?? '';
  return ca !== cb ? (ca < cb ? -1 : 1) : (a.metadata.uid! < b.metadata.uid! ? -1 : 1);
};

/** [maxSurge, maxUnavailable] as ResolveFenceposts computes them. */
export function fenceposts(d: Deployment): [number, number] {
  const replicas = d.spec.replicas ?? 1;
  const ru = d.spec.strategy?.rollingUpdate;
  const surge = scaledValue(ru?.maxSurge ?? '25%', replicas, true);
  let unavailable = scaledValue(ru?.maxUnavailable ?? '25%', replicas, false);
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return [surge, unavailable];
}

export class DeploymentController implements Controller {
  readonly name = 'deployment';
  readonly watches = ['Deployment', 'ReplicaSet', 'Pod'] as const;
  constructor(private readonly ctx: ControllerContext) {}

  keysFor(e: WatchEvent): string[] {
    const o = e.object;
    if (o.kind !== 'Pod') return selfOrOwnerKey(o, 'Deployment');
    const ref = controllerRef(o);
    // a pod: only its RS's Deployment, and only deletions matter (Recreate waits for old pods to go)
    if (e.type !== 'DELETED' || ref?.kind !== 'ReplicaSet') return [];
    const rs = this.ctx.store.get('ReplicaSet', o.metadata.namespace, ref.name);
    const dref = rs && controllerRef(rs);
    return dref?.kind === 'Deployment' ? [`${o.metadata.namespace}/${dref.name}`] : [];
  }

  sync(key: string): void {
    const [ns, name] = splitKey(key);
    const d = this.ctx.store.get('Deployment', ns, name);
    if (!d) return;
    const hash = templateHash(d.spec.template);
    const all = this.ctx.store.ownedBy('ReplicaSet', d.metadata.uid!);
    const newRS = all.find((rs) => rs.metadata.labels?.['pod-template-hash'] === hash);
    const old = all.filter((rs) => rs !== newRS).sort(byAge);
    if (d.spec.strategy?.type === 'Recreate') this.recreate(d, hash, newRS, old);
    else this.rolling(d, hash, newRS, old);
    this.writeStatus(ns, name, hash);
  }

  private scale(d: Deployment, rs: ReplicaSet, to: number): ReplicaSet {
    const from = replicasOf(rs);
    if (from === to) return rs;
    const out = this.ctx.store.update({ ...rs, spec: { ...rs.spec, replicas: to } });
    this.ctx.record(d, 'Normal', 'ScalingReplicaSet', `Scaled ${to > from ? 'up' : 'down'} replica set ${rs.metadata.name} from ${from} to ${to}`);
    return out;
  }

  private createRS(d: Deployment, hash: string, replicas: number): ReplicaSet {
    const labels = { ...d.spec.template.metadata?.labels, 'pod-template-hash': hash };
    const rs = this.ctx.store.create<ReplicaSet>({
      apiVersion: 'apps/v1', kind: 'ReplicaSet',
      metadata: { name: `${d.metadata.name}-${hash}`, namespace: d.metadata.namespace, labels, ownerReferences: [ownerRefTo(d)] },
      spec: {
        replicas,
        selector: { ...d.spec.selector, matchLabels: { ...d.spec.selector.matchLabels, 'pod-template-hash': hash } },
        template: { ...d.spec.template, metadata: { ...d.spec.template.metadata, labels } },
      },
    });
    this.ctx.record(d, 'Normal', 'ScalingReplicaSet', `Scaled up replica set ${rs.metadata.name} from 0 to ${replicas}`);
    return rs;
  }

  private recreate(d: Deployment, hash: string, newRS: ReplicaSet | undefined, old: ReplicaSet[]): void {
    let scaledDown = false;
    for (const rs of old) if (replicasOf(rs) > 0) { this.scale(d, rs, 0); scaledDown = true; }
    if (scaledDown) return;
    if (old.some((rs) => this.ctx.store.ownedBy('Pod', rs.metadata.uid!).length > 0)) return;
    const want = d.spec.replicas ?? 1;
    if (!newRS) this.createRS(d, hash, want);
    else this.scale(d, newRS, want);
  }

  private rolling(d: Deployment, hash: string, newRS: ReplicaSet | undefined, old: ReplicaSet[]): void {
    const replicas = d.spec.replicas ?? 1;
    const [maxSurge, maxUnavailable] = fenceposts(d);
    const total = (): number => old.reduce((a, rs) => a + replicasOf(rs), newRS ? replicasOf(newRS) : 0);
    // NewRSNewReplicas
    const target = (cur: number): number => {
      const room = replicas + maxSurge - total();
      if (room <= 0) return cur;
      return cur + Math.max(0, Math.min(room, replicas - cur));
    };
    if (!newRS) newRS = this.createRS(d, hash, target(0));
    else if (replicasOf(newRS) > replicas) newRS = this.scale(d, newRS, replicas);
    else if (replicasOf(newRS) < replicas) newRS = this.scale(d, newRS, target(replicasOf(newRS)));
    // reconcileOldReplicaSets
    if (old.every((rs) => replicasOf(rs) === 0)) return;
    const minAvailable = replicas - maxUnavailable;
    const newUnavailable = replicasOf(newRS) - availableOf(newRS);
    let maxScaledDown = total() - minAvailable - newUnavailable;
    if (maxScaledDown <= 0) return;
    for (let i = 0; i < old.length && maxScaledDown > 0; i++) {
      const rs = old[i]!;
      const unhealthy = replicasOf(rs) - availableOf(rs);
      if (replicasOf(rs) === 0 || unhealthy <= 0) continue;
      const n = Math.min(maxScaledDown, unhealthy);
      old[i] = this.scale(d, rs, replicasOf(rs) - n);
      maxScaledDown -= n;
    }
    const available = old.reduce((a, rs) => a + Math.min(availableOf(rs), replicasOf(rs)), availableOf(newRS));
    let excess = available - minAvailable;
    for (let i = 0; i < old.length && excess > 0; i++) {
      const rs = old[i]!;
      if (replicasOf(rs) === 0) continue;
      const n = Math.min(replicasOf(rs), excess);
      old[i] = this.scale(d, rs, replicasOf(rs) - n);
      excess -= n;
    }
  }

  private writeStatus(ns: string, name: string, hash: string): void {
    const d = this.ctx.store.get('Deployment', ns, name)!;
    let replicas = 0, ready = 0, available = 0, updated = 0;
    for (const rs of this.ctx.store.ownedBy('ReplicaSet', d.metadata.uid!)) {
      const pods = this.ctx.store.ownedBy('Pod', rs.metadata.uid!).filter(isActive).length;
      replicas += pods;
      ready += rs.status?.readyReplicas ?? 0;
      available += availableOf(rs);
      if (rs.metadata.labels?.['pod-template-hash'] === hash) updated += pods;
    }
    const status = { replicas, updatedReplicas: updated, readyReplicas: ready, availableReplicas: available };
    if (JSON.stringify(d.status ?? {}) !== JSON.stringify(status)) {
      this.ctx.store.patchTop('Deployment', ns, name, (x) => {
        x.status = status;
      });
    }
  }
}
