/**
 * The ReplicaSet controller (k8s layer, slow path), after
 * pkg/controller/replicaset: keep `spec.replicas` active pods.
 *
 * What: a sync counts the RS's active pods (its controller ownerReference,
 * neither terminal nor terminating); it creates the missing ones
 * (`generateName: <rs>-`, so `<rs>-<5 chars>` from the store's seeded RNG)
 * or deletes the surplus, choosing victims as controller.ActivePods ranks
 * them: unscheduled before scheduled, Pending before Unknown before
 * Running, not ready before ready, then the newest first (creation time,
 * then uid — our uids grow with creation). It then writes
 * `status.{replicas, readyReplicas, availableReplicas}` (minReadySeconds is
 * not modelled: available = ready; `availableReplicas` is a local
 * extension of api.ts's ReplicaSet status).
 * Neighbours: deployment.ts scales ReplicaSets; context.ts helpers.
 */
import type { Pod, ReplicaSet } from '../api.js';
import type { WatchEvent } from '../store.js';
import { type Controller, type ControllerContext, selfOrOwnerKey, isActive, isPodReady, podFromTemplate, splitKey } from './context.js';

/** api.ts's ReplicaSet status plus the field the Deployment controller reads. */
export type ReplicaSetStatus = NonNullable<ReplicaSet['status']> & { availableReplicas?: number };

const PHASE_RANK: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

/** controller.ActivePods ordering: the pods to delete first come first. */
export function deletionOrder(a: Pod, b: Pod): number {
  const sa = a.spec.nodeName ? 1 : 0, sb = b.spec.nodeName ? 1 : 0;
  if (sa !== sb) return sa - sb;
  const pa = PHASE_RANK[a.status?.phase ?? 'Pending'] ?? 0, pb = PHASE_RANK[b.status?.phase ?? 'Pending'] ?? 0;
  if (pa !== pb) return pa - pb;
  const ra = isPodReady(a) ? 1 : 0, rb = isPodReady(b) ? 1 : 0;
  if (ra !== rb) return ra - rb;
  const ca = a.metadata.creationTimestamp ?? '', cb = b.metadata.creationTimestamp ?? '';
  if (ca !== cb) return ca < cb ? 1 : -1;
  return (a.metadata.uid ?? '') < (b.metadata.uid ?? '') ? 1 : -1;
}

export class ReplicaSetController implements Controller {
  readonly name = 'replicaset';
  readonly watches = ['ReplicaSet', 'Pod'] as const;
  constructor(private readonly ctx: ControllerContext) {}

  keysFor(e: WatchEvent): string[] {
    return selfOrOwnerKey(e.object, 'ReplicaSet');
  }

  sync(key: string): void {
    const [ns, name] = splitKey(key);
    const { store } = this.ctx;
    const rs = store.get('ReplicaSet', ns, name);
    if (!rs) return;
    const want = rs.spec.replicas ?? 1;
    let pods = store.ownedBy('Pod', rs.metadata.uid!).filter(isActive);
    if (pods.length < want) {
      for (let i = pods.length; i < want; i++) {
        const p = store.create(podFromTemplate(rs.spec.template, rs, { generateName: `${rs.metadata.name}-` }));
        this.ctx.record(rs, 'Normal', 'SuccessfulCreate', `Created pod: ${p.metadata.name}`);
      }
    } else if (pods.length > want) {
      const victims = [...pods].sort(deletionOrder).slice(0, pods.length - want);
      for (const p of victims) {
        this.ctx.deletePod(p);
        this.ctx.record(rs, 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata.name}`);
      }
    }
    pods = store.ownedBy('Pod', rs.metadata.uid!).filter(isActive);
    const ready = pods.filter(isPodReady).length;
    const status: ReplicaSetStatus = { replicas: pods.length, readyReplicas: ready, availableReplicas: ready };
    const cur = store.get('ReplicaSet', ns, name)!;
    if (JSON.stringify(cur.status ?? {}) !== JSON.stringify(status)) {
      store.patchTop('ReplicaSet', ns, name, (x) => {
        x.status = status;
      });
    }
  }
}
