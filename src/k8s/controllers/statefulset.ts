/**
 * The StatefulSet controller (k8s layer, slow path), after
 * pkg/controller/statefulset (stateful_set_control.go).
 *
 * What: pods with stable names `<sts>-<ordinal>`, hostname = name,
 * subdomain = serviceName, labels `statefulset.kubernetes.io/pod-name`,
 * `apps.kubernetes.io/pod-index` and `controller-revision-hash`
 * (`<sts>-<template hash>`).
 * - OrderedReady: walk ordinals 0…replicas−1; create the first missing pod
 *   and stop; stop at a pod that is terminating or not Running and Ready
 *   (so web-1 is created only once web-0 is Ready). Then remove condemned
 *   pods (ordinal ≥ replicas) one at a time, highest first, only when every
 *   other pod is ready; then replace one out-of-date pod (highest ordinal
 *   first: RollingUpdate with partition 0) at a time.
 * - Parallel: create every missing pod and delete every condemned one at
 *   once; updates still one at a time.
 * A Failed pod is deleted and recreated under the same name. A pod evicted
 * from a dead node comes back with the same name (wherever the scheduler
 * puts it). Volume claims are not modelled.
 * Neighbours: context.ts; the EndpointSlice controller gives the pods
 * hostnames in a headless Service's slices.
 */
import type { Pod, StatefulSet } from '../api.js';
import type { WatchEvent } from '../store.js';
import { type Controller, type ControllerContext, selfOrOwnerKey, isPodReady, isTerminating, podFromTemplate, splitKey, templateHash } from './context.js';

const runningAndReady = (p: Pod): boolean => p.status?.phase === 'Running' && isPodReady(p);

export class StatefulSetController implements Controller {
  readonly name = 'statefulset';
  readonly watches = ['StatefulSet', 'Pod'] as const;
  constructor(private readonly ctx: ControllerContext) {}

  keysFor(e: WatchEvent): string[] {
    return selfOrOwnerKey(e.object, 'StatefulSet');
  }

  private create(sts: StatefulSet, i: number, revision: string): void {
    const name = `${sts.metadata.name}-${i}`;
    const p = podFromTemplate(sts.spec.template, sts, {
      name,
      labels: { 'statefulset.kubernetes.io/pod-name': name, 'apps.kubernetes.io/pod-index': String(i), 'controller-revision-hash': revision },
    });
    p.spec.hostname = name;
    if (sts.spec.serviceName) p.spec.subdomain = sts.spec.serviceName;
    this.ctx.store.create(p);
    this.ctx.record(sts, 'Normal', 'SuccessfulCreate', `create Pod ${name} in StatefulSet ${sts.metadata.name} successful`);
  }

  sync(key: string): void {
    const [ns, name] = splitKey(key);
    const { store } = this.ctx;
    const sts = store.get('StatefulSet', ns, name);
    if (!sts) return;
    const replicas = sts.spec.replicas ?? 1;
    const parallel = sts.spec.podManagementPolicy === 'Parallel';
    const revision = `${name}-${templateHash(sts.spec.template)}`;
    const byOrdinal = new Map<number, Pod>();
    const prefix = `${name}-`;
    for (const p of store.ownedBy('Pod', sts.metadata.uid!)) {
      const ord = p.metadata.name.startsWith(prefix) ? Number(p.metadata.name.slice(prefix.length)) : NaN;
      if (Number.isInteger(ord) && ord >= 0) byOrdinal.set(ord, p);
    }
    // failed pods are replaced
    for (const [i, p] of byOrdinal) {
      if (p.status?.phase === 'Failed' && !isTerminating(p)) {
        this.ctx.deletePod(p);
        byOrdinal.delete(i);
      }
    }
    let blocked = false;
    for (let i = 0; i < replicas; i++) {
      const p = byOrdinal.get(i);
      if (!p) {
        this.create(sts, i, revision);
        if (!parallel) { blocked = true; break; }
        continue;
      }
      if (!parallel && (isTerminating(p) || !runningAndReady(p))) { blocked = true; break; }
    }
    this.writeStatus(sts, revision);
    if (blocked) return;
    const condemned = [...byOrdinal.keys()].filter((i) => i >= replicas).sort((a, b) => b - a);
    if (condemned.length) {
      if (parallel) {
        for (const i of condemned) if (!isTerminating(byOrdinal.get(i)!)) this.ctx.deletePod(byOrdinal.get(i)!);
        return;
      }
      const top = byOrdinal.get(condemned[0]!)!;
      const othersReady = [...byOrdinal.values()].every((p) => p === top || runningAndReady(p));
      if (!isTerminating(top) && othersReady) this.ctx.deletePod(top);
      return;
    }
    const live = [...byOrdinal.entries()].filter(([i]) => i < replicas);
    if (!live.every(([, p]) => runningAndReady(p) && !isTerminating(p))) return;
    const stale = live.filter(([, p]) => p.metadata.labels?.['controller-revision-hash'] !== revision).sort((a, b) => b[0] - a[0]);
    if (stale.length) this.ctx.deletePod(stale[0]![1]);
  }

  private writeStatus(sts: StatefulSet, revision: string): void {
    const pods = this.ctx.store.ownedBy('Pod', sts.metadata.uid!);
    const status = {
      replicas: pods.length,
      readyReplicas: pods.filter(isPodReady).length,
      currentRevision: revision,
      updatedReplicas: pods.filter((p) => p.metadata.labels?.['controller-revision-hash'] === revision).length,
    };
    const cur = this.ctx.store.get('StatefulSet', sts.metadata.namespace, sts.metadata.name)!;
    const old = (cur as { status?: unknown }).status;
    if (JSON.stringify(old ?? {}) !== JSON.stringify(status)) this.ctx.store.update({ ...cur, status } as StatefulSet);
  }
}
