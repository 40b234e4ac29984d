/**
 * What every controller shares (k8s layer, slow path): the `Controller`
 * interface the control plane drives, the `ControllerContext` it hands
 * them, and the pod helpers of pkg/controller and pkg/api/v1/pod.
 *
 * What: a controller names the kinds it watches; `keysFor(event)` maps a
 * store event to the keys (`namespace/name` of the objects it owns) that
 * need a sync; `sync(key)` reads the store and writes the difference
 * (level-triggered, idempotent: syncing a key twice in a row writes
 * nothing the second time — that is what lets the control plane run to a
 * fixpoint). Controllers never delete a Pod with the store directly: they
 * call `ctx.deletePod`, which honours graceful termination.
 * Neighbours: control-plane.ts implements the context and runs the queues;
 * every other file of controllers/ implements a Controller.
 */
import type { Kind, KubeObject, Pod, PodTemplateSpec, PodCondition } from '../api.js';
import type { ApiStore, WatchEvent } from '../store.js';
import { canonical, controllerRef, ownerRefTo } from '../store.js';
export { sameJSON } from '../store.js';
import { NAME_ALPHABET } from '../store.js';

export interface KubeEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  /** `Kind/namespace/name` (`Kind/name` for cluster-scoped objects) */
  object: string;
  message: string;
  timeMs: number;
}

export interface ControllerContext {
  readonly store: ApiStore;
  nowMs(): number;
  /** Delete 'pod' (gracefully when the control plane is configured so). */
  deletePod(pod: Pod, reason?: string): void;
  /** Record a Kubernetes Event (`kubectl get events`). */
  record(obj: KubeObject, type: KubeEvent['type'], reason: string, message: string): void;
  /** Run 'fn' at 'atMs' on the control plane's clock (then reconcile). */
  at(atMs: number, fn: () => void): void;
}

export interface Controller {
  readonly name: string;
  readonly watches: readonly Kind[];
  keysFor(e: WatchEvent): string[];
  sync(key: string): void;
}

export const objKey = (o: KubeObject): string => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
/** The key of 'o' when it is a 'kind', else of its controller when that is a 'kind', else none. */
export function selfOrOwnerKey(o: KubeObject, kind: Kind): string[] {
  if (o.kind === kind) return [objKey(o)];
  const ref = controllerRef(o);
  return ref?.kind === kind ? [`${o.metadata.namespace ?? ''}/${ref.name}`] : [];
}

export const splitKey = (key: string): [string, string] => {
  const i = key.indexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
};

export function podCondition(p: Pod, type: PodCondition['type']): PodCondition | undefined {
  return p.status?.conditions?.find((c) => c.type === type);
}

/** podutil.IsPodReady: the Ready condition is True. */
export function isPodReady(p: Pod): boolean {
  return podCondition(p, 'Ready')?.status === 'True';
}

export const isTerminating = (p: Pod): boolean => p.metadata.deletionTimestamp !== undefined;
export const isTerminal = (p: Pod): boolean => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
/** controller.IsPodActive: neither terminal nor being deleted. */
export const isActive = (p: Pod): boolean => !isTerminating(p) && !isTerminal(p);

/**
 * Set (or replace) condition 'c' in the pod status, keeping the others'
 * order; the list is a new array (the pod may share its old one with the
 * stored version: see ApiStore.patchTop).
 */
export function setPodCondition(p: Pod, c: PodCondition): void {
  p.status ??= {};
  const list = [...(p.status.conditions ?? [])];
  const i = list.findIndex((x) => x.type === c.type);
  if (i >= 0) list[i] = c;
  else list.push(c);
  p.status.conditions = list;
}

/**
 * A pod from 'template' owned by 'owner', named 'name' or `generateName`,
 * with 'labels' added. The spec is a shallow copy (its top-level fields may
 * be set; deeper members are the template's, which the store copies on create).
 */
export function podFromTemplate(template: PodTemplateSpec, owner: KubeObject, opts: { name?: string; generateName?: string; labels?: Record<string, string> }): Pod {
  const t = template;
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name: opts.name ?? '',
      ...(opts.generateName ? { generateName: opts.generateName } : {}),
      namespace: owner.metadata.namespace,
      labels: { ...t.metadata?.labels, ...opts.labels },
      ...(t.metadata?.annotations ? { annotations: { ...t.metadata.annotations } } : {}),
      ownerReferences: [ownerRefTo(owner)],
    },
    spec: { ...t.spec },
    status: { phase: 'Pending' },
  };
}

/** FNV-1a, 32 bits, of the UTF-16 code units of 's' (they are ASCII for JSON of ASCII names). */
function fnv32a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i) & 0xff;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * The pod-template-hash of 'template' (controller.ComputeHash: FNV-32a of
 * the template — here of its canonical JSON, Go hashes a spew dump, so the
 * values differ from a real cluster's — then rand.SafeEncodeString of the
 * decimal number: each digit mapped into the 27-character alphabet).
 * 'template' is taken as immutable, as stored objects are: its hash is remembered.
 */
export function templateHash(template: PodTemplateSpec, collisionCount = 0): string {
  if (collisionCount === 0) {
    const seen = HASHES.get(template);
    if (seen !== undefined) return seen;
  }
  const h = fnv32a(canonical(template) + (collisionCount ? String(collisionCount) : ''));
  const out = [...String(h)].map((d) => NAME_ALPHABET[d.charCodeAt(0) % NAME_ALPHABET.length]).join('');
  if (collisionCount === 0) HASHES.set(template, out);
  return out;
}

/**
 * pod-template-hashes of templates already hashed: the controllers hash
 * stored templates, which are never mutated, and the store keeps a
 * template object across updates that leave it alone (status writes).
 */
const HASHES = new WeakMap<PodTemplateSpec, string>();

/** intstr.GetScaledValueFromIntOrPercent. */
export function scaledValue(v: number | string | undefined, total: number, roundUp: boolean): number {
  if (v === undefined) return 0;
  if (typeof v === 'number') return v;
  const pct = Number(v.replace(/%$/, ''));
  const x = (pct * total) / 100;
  return roundUp ? Math.ceil(x) : Math.floor(x);
}
