/**
 * The Job controller (k8s layer, slow path), after pkg/controller/job.
 *
 * What: on its first sync a Job gets the selector and labels the API
 * server gives it (`batch.kubernetes.io/controller-uid`,
 * `batch.kubernetes.io/job-name`, and the legacy `controller-uid`,
 * `job-name`). Then: succeeded = pods in phase Succeeded, failed = pods in
 * phase Failed, active = the others not being deleted. With completions
 * set, the Job wants min(parallelism, completions − succeeded) active pods
 * and is Complete when succeeded ≥ completions; without (a work queue), it
 * wants `parallelism` until one pod succeeded, and completes when one has
 * and none is active. More than backoffLimit failures → condition Failed
 * (reason BackoffLimitExceeded) and the active pods are deleted. Pods
 * finish through the control plane's `setPodSucceeded` / `setPodFailed`
 * hooks (the "kubelet"). Names: `<job>-<5 chars>`. Status
 * `{ active, succeeded, failed, conditions }` (conditions is a local
 * extension of api.ts's Job status).
 * Neighbours: context.ts; control-plane.ts's pod hooks.
 */
import type { Job } from '../api.js';
import type { WatchEvent } from '../store.js';
import { type Controller, type ControllerContext, selfOrOwnerKey, isTerminating, podFromTemplate, splitKey } from './context.js';

export type JobStatus = NonNullable<Job['status']> & { conditions?: { type: 'Complete' | 'Failed'; status: 'True'; reason?: string; message?: string }[] };

export class JobController implements Controller {
  readonly name = 'job';
  readonly watches = ['Job', 'Pod'] as const;
  constructor(private readonly ctx: ControllerContext) {}

  keysFor(e: WatchEvent): string[] {
    return selfOrOwnerKey(e.object, 'Job');
  }

  sync(key: string): void {
    const [ns, name] = splitKey(key);
    const { store } = this.ctx;
    let job = store.get('Job', ns, name);
    if (!job) return;
    const uid = job.metadata.uid!;
    if (!job.spec.selector) {
      const labels = { 'batch.kubernetes.io/controller-uid': uid, 'batch.kubernetes.io/job-name': name, 'controller-uid': uid, 'job-name': name };
      job = store.update<Job>({
        ...job,
        spec: {
          ...job.spec,
          selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } },
          template: { ...job.spec.template, metadata: { ...job.spec.template.metadata, labels: { ...job.spec.template.metadata?.labels, ...labels } } },
        },
      });
    }
    const pods = store.ownedBy('Pod', uid);
    const succeeded = pods.filter((p) => p.status?.phase === 'Succeeded').length;
    const failed = pods.filter((p) => p.status?.phase === 'Failed').length;
    let active = pods.filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed' && !isTerminating(p));
    const prev = (job.status ?? {}) as JobStatus;
    let conditions = prev.conditions ?? [];
    const finished = conditions.length > 0;
    const completions = job.spec.completions;
    const parallelism = job.spec.parallelism ?? 1;
    if (!finished) {
      if (failed > (job.spec.backoffLimit ?? 6)) {
        conditions = [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit' }];
        this.ctx.record(job, 'Warning', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit');
      } else if (completions !== undefined ? succeeded >= completions : succeeded > 0 && active.length === 0) {
        conditions = [{ type: 'Complete', status: 'True' }];
        this.ctx.record(job, 'Normal', 'Completed', 'Job completed');
      }
    }
    const done = conditions.length > 0;
    const want = done ? 0 : completions !== undefined ? Math.min(parallelism, completions - succeeded) : succeeded > 0 ? 0 : parallelism;
    if (active.length < want) {
      for (let i = active.length; i < want; i++) {
        const p = store.create(podFromTemplate(job.spec.template, job, { generateName: `${name}-` }));
        this.ctx.record(job, 'Normal', 'SuccessfulCreate', `Created pod: ${p.metadata.name}`);
      }
    } else if (active.length > want) {
      for (const p of active.slice(want)) this.ctx.deletePod(p);
    }
    active = store.ownedBy('Pod', uid).filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed' && !isTerminating(p));
    const status: JobStatus = { active: active.length, succeeded, failed, ...(conditions.length ? { conditions } : {}) };
    const cur = store.get('Job', ns, name)!;
    if (JSON.stringify(cur.status ?? {}) !== JSON.stringify(status)) store.update({ ...cur, status });
  }
}
