/**
 * The API store (k8s layer, slow path): the emulator's kube-apiserver +
 * etcd, in memory — the bus every controller, the scheduler, kube-proxy and
 * the CNI read from and react to.
 *
 * What: objects keyed by (kind, namespace, name). `create` assigns a uid
 * (deterministic: a counter formatted as a UUID), `creationTimestamp` (from
 * the store's clock), `resourceVersion` (one global counter, as etcd's
 * revision) and `generation` 1; `update` bumps resourceVersion, and
 * generation when `spec` changed; `delete` removes the object and, as the
 * garbage collector does with background propagation, every object whose
 * ownerReferences name its uid. `generateName` gets a 5-character suffix
 * from the store's seeded RNG (the alphabet of apimachinery's rand.String).
 * Every change is sent synchronously to the watchers of its kind as
 * `{ type: 'ADDED' | 'MODIFIED' | 'DELETED', object, old }`.
 * Invariants: a stored object is never mutated in place — writers pass a
 * new object (or a modified copy from `get`), the store keeps its own deep
 * copy, so an `old` handed to a watcher stays what it was (an update's copy
 * shares the members it left unchanged with the previous version, which is
 * safe because neither is ever mutated, and keeps e.g. a pod's spec object
 * — and what is cached per spec — across status writes); names are unique
 * per (kind, namespace); a namespaced object's namespace must exist
 * (`namespaces "x" not found`, as the API server answers).
 * Cost: a write copies its input once (`jsonCopy`, a walk rather than a
 * JSON round trip), then one walk against the old version both finds an
 * unchanged object (no event) and shares what did not change; indexes
 * (`addIndex`) are kept per write, touching only values that changed, and
 * not at all when the member an index reads is the same object.
 * Errors: `ApiError` with the API server's reason (`AlreadyExists`,
 * `NotFound`, `Conflict`, `Invalid`) as code `K8S_ALREADY_EXISTS`...
 * Neighbours: api.ts (the object types), controllers/ (write through it),
 * controllers/control-plane.ts (owns one, adds admission: Service IPs,
 * default tolerations), kube-proxy/ and cni/ (watch it).
 */
import { SdnemuError } from '../errors.js';
import { Mulberry32 } from '../rng.js';
import { NAMESPACED, API_VERSIONS, type Kind, type KubeObject, type Namespace } from './api.js';

export type ObjectOf<K extends Kind> = Extract<KubeObject, { kind: K }>;

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One change: for MODIFIED, 'old' is the object before it; for DELETED, 'object' is the last state. */
export interface WatchEvent<T extends KubeObject = KubeObject> {
  type: WatchEventType;
  object: T;
  old?: T;
}

export type Watcher<T extends KubeObject = KubeObject> = (e: WatchEvent<T>) => void;

/** An API server answer other than success; 'reason' as metav1.StatusReason. */
export class ApiError extends SdnemuError {
  readonly reason: 'AlreadyExists' | 'NotFound' | 'Conflict' | 'Invalid' | 'Forbidden';
  readonly kind: string;
  readonly objectName: string;
  readonly path: string;
  constructor(reason: ApiError['reason'], kind: string, name: string, message: string, path = '') {
    super(`K8S_${reason.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()}`, message);
    this.name = 'ApiError';
    this.reason = reason;
    this.kind = kind;
    this.objectName = name;
    this.path = path;
  }
  override location(): Record<string, string | number> {
    return this.path ? { kind: this.kind, name: this.objectName, path: this.path } : { kind: this.kind, name: this.objectName };
  }
}

/** The lower-case plural resource name the API server uses in messages ('services', 'endpointslices.discovery.k8s.io'). */
export function resourceName(kind: Kind): string {
  const plural = kind === 'NetworkPolicy' ? 'networkpolicies' : `${kind.toLowerCase()}s`;
  const v = API_VERSIONS[kind];
  const group = v.includes('/') ? v.slice(0, v.indexOf('/')) : '';
  return group ? `${plural}.${group}` : plural;
}

/** The 27 characters apimachinery's rand.String draws from (no vowels, no 0 1 3). */
export const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** Something the store can ask the time of: milliseconds since an epoch. */
export interface Clock {
  nowMs(): number;
}

export interface ApiStoreOptions {
  /** RNG seed for generateName suffixes (default 1) */
  seed?: number;
  clock?: Clock;
  /** called before an object is stored: may change 'obj' (defaults, allocations) or throw */
  admit?: (obj: KubeObject, old: KubeObject | undefined) => void;
}

function key(kind: string, namespace: string | undefined, name: string): string {
  return `${kind}/${namespace ?? ''}/${name}`;
}

/**
 * A deep copy of the JSON value 'v', as a JSON round trip would give it
 * (undefined and function members dropped, in arrays turned to null;
 * non-finite numbers null; `toJSON` honoured, so a Date becomes its string)
 * — several times faster than `JSON.parse(JSON.stringify(v))` or
 * structuredClone on API objects' shapes, and a copy is made per write.
 */
export function jsonCopy<T>(v: T): T {
  return copyValue(v) as T;
}

function copyValue(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) {
    if (typeof v === 'number') return Number.isFinite(v) ? v + 0 : null; // -0 + 0 is 0, as JSON writes it
    return typeof v === 'function' || typeof v === 'symbol' ? undefined : v;
  }
  if (Array.isArray(v)) {
    const n = v.length, out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) {
      const x = copyValue(v[i]);
      out[i] = x === undefined ? null : x;
    }
    return out;
  }
  if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return copyValue((v as { toJSON: () => unknown }).toJSON());
  const out: Record<string, unknown> = {};
  // for-in (API objects are plain: no inherited enumerable members) rather than Object.keys, which allocates a key array per object
  for (const k in v) {
    const x = copyValue((v as Record<string, unknown>)[k]);
    if (x !== undefined) out[k] = x;
  }
  return out;
}

const clone = jsonCopy;

/**
 * 'next' with every member that is the same JSON value as the one at its
 * place in 'prev' replaced by prev's (so unchanged subtrees are shared
 * between an object's versions: stored objects are never mutated); returns
 * prev itself when the whole of next equals it. 'next' is changed in place.
 */
function shareWith(next: unknown, prev: unknown): unknown {
  if (next === prev || next === null || prev === null || typeof next !== 'object' || typeof prev !== 'object') return sameJSON(next, prev) ? prev : next;
  if (Array.isArray(next)) {
    if (!Array.isArray(prev)) return next;
    let same = next.length === prev.length;
    for (let i = 0; i < next.length; i++) {
      const x = i < prev.length ? shareWith(next[i], prev[i]) : next[i];
      next[i] = x;
      if (x !== prev[i]) same = false;
    }
    return same ? prev : next;
  }
  if (Array.isArray(prev)) return next;
  return shareMembers(next as Record<string, unknown>, prev as Record<string, unknown>) ? prev : next;
}

/** shareWith for the members of two objects; whether all of them are the same. */
function shareMembers(next: Record<string, unknown>, prev: Record<string, unknown>): boolean {
  let same = true, n = 0;
  for (const k in next) {
    const x = next[k];
    if (x === undefined) continue;
    n++;
    const y = shareWith(x, prev[k]);
    next[k] = y;
    if (y !== prev[k]) same = false;
  }
  if (!same) return false;
  for (const k in prev) if (prev[k] !== undefined) n--;
  return n === 0;
}

/** JSON of 'v' with object keys sorted (and undefined members left out): equal values, equal text. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** Whether 'a' and 'b' are the same JSON value, whatever the order of their keys (undefined members count as absent). */
export function sameJSON(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    if (a.length !== bb.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJSON(a[i], bb[i])) return false;
    return true;
  }
  const ao = a as Record<string, unknown>, bo = b as Record<string, unknown>;
  let na = 0;
  for (const k in ao) {
    if (ao[k] === undefined) continue;
    na++;
    if (!sameJSON(ao[k], bo[k])) return false;
  }
  let nb = 0;
  for (const k in bo) if (bo[k] !== undefined) nb++;
  return na === nb;
}

/** A secondary index: the values 'fn' gives an object → the keys of the objects with that value. */
interface StoreIndex {
  fn: (o: KubeObject) => string[];
  basis: ((o: KubeObject) => unknown) | undefined;
  map: Map<string, Set<string>>;
}

export class ApiStore {
  private readonly objects = new Map<string, KubeObject>();
  /** per kind, namespace → name → object, for list */
  private readonly byKind = new Map<Kind, Map<string, KubeObject>>();
  private readonly watchers = new Map<Kind | '*', Watcher[]>();
  private readonly uidIndex = new Map<string, KubeObject>();
  /** owner uid → keys of dependents */
  private readonly dependents = new Map<string, Set<string>>();
  /** secondary indexes: kind → index name → (value function, value → keys) */
  private readonly indexes = new Map<Kind, Map<string, StoreIndex>>();
  private rv = 0;
  private uidCounter = 0;
  /** the last creationTimestamp written, and the clock reading it is for */
  private stampMs = NaN;
  private stampText = '';
  readonly rng: Mulberry32;
  readonly clock: Clock;
  admit: ApiStoreOptions['admit'];

  constructor(opts: ApiStoreOptions = {}) {
    this.rng = new Mulberry32(opts.seed ?? 1);
    this.clock = opts.clock ?? { nowMs: () => 0 };
    this.admit = opts.admit;
  }

  /** The current global resourceVersion (bumped by every write). */
  get resourceVersion(): number {
    return this.rv;
  }

  /** 'n' characters of NAME_ALPHABET from the store's RNG. */
  randomSuffix(n = 5): string {
    let s = '';
    for (let i = 0; i < n; i++) s += NAME_ALPHABET[(this.rng.nextI32() >>> 0) % NAME_ALPHABET.length];
    return s;
  }

  private nextUid(): string {
    const h = (++this.uidCounter).toString(16).padStart(12, '0');
    return `00000000-0000-4000-8000-${h}`;
  }

  private timestamp(): string {
    const ms = this.clock.nowMs();
    if (ms !== this.stampMs) {
      this.stampMs = ms;
      this.stampText = new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
    }
    return this.stampText;
  }

  /** Register 'w' for changes of 'kind' ('*' for every kind); returns the function that unregisters it. */
  watch<K extends Kind>(kind: K, w: Watcher<ObjectOf<K>>): () => void;
  watch(kind: '*', w: Watcher): () => void;
  watch(kind: Kind | '*', w: Watcher<any>): () => void {
    const list = this.watchers.get(kind) ?? [];
    list.push(w);
    this.watchers.set(kind, list);
    return () => {
      const l = this.watchers.get(kind);
      if (l) l.splice(l.indexOf(w) >>> 0, 1);
    };
  }

  private emit(e: WatchEvent): void {
    for (const w of this.watchers.get(e.object.kind) ?? []) w(e);
    for (const w of this.watchers.get('*') ?? []) w(e);
  }

  get<K extends Kind>(kind: K, namespace: string | undefined, name: string): ObjectOf<K> | undefined {
    return this.objects.get(key(kind, NAMESPACED.has(kind) ? (namespace ?? 'default') : undefined, name)) as ObjectOf<K> | undefined;
  }

  /** The object with uid 'uid', if it still exists. */
  byUid(uid: string): KubeObject | undefined {
    return this.uidIndex.get(uid);
  }

  /** Objects of 'kind', in 'namespace' when given, in insertion order. */
  list<K extends Kind>(kind: K, namespace?: string): ObjectOf<K>[] {
    const m = this.byKind.get(kind);
    if (!m) return [];
    const all = [...m.values()] as ObjectOf<K>[];
    return namespace === undefined ? all : all.filter((o) => o.metadata.namespace === namespace);
  }

  /** Objects whose controller ownerReference is 'ownerUid'. */
  ownedBy<K extends Kind>(kind: K, ownerUid: string): ObjectOf<K>[] {
    const out: ObjectOf<K>[] = [];
    for (const k of this.dependents.get(ownerUid) ?? []) {
      const o = this.objects.get(k);
      if (o && o.kind === kind) out.push(o as ObjectOf<K>);
    }
    return out;
  }

  /**
   * Keep an index 'name' of the objects of 'kind' by the values 'fn' gives
   * (e.g. pods by node name); `byIndex` reads it. 'basis', when given,
   * names the member the values come from (e.g. the labels map): an update
   * that keeps it the same object — the store shares what an update left
   * unchanged — leaves the index alone without calling 'fn'. Registering
   * the same name twice keeps the first.
   */
  addIndex<K extends Kind>(kind: K, name: string, fn: (o: ObjectOf<K>) => string[], basis?: (o: ObjectOf<K>) => unknown): void {
    let m = this.indexes.get(kind);
    if (!m) this.indexes.set(kind, (m = new Map()));
    if (m.has(name)) return;
    const idx: StoreIndex = { fn: fn as (o: KubeObject) => string[], basis: basis as ((o: KubeObject) => unknown) | undefined, map: new Map<string, Set<string>>() };
    m.set(name, idx);
    for (const [k, o] of this.byKind.get(kind) ?? []) this.indexOne(idx, k, o, 1);
  }

  /** The objects of 'kind' whose index 'name' holds 'value'. */
  byIndex<K extends Kind>(kind: K, name: string, value: string): ObjectOf<K>[] {
    const keys = this.indexes.get(kind)?.get(name)?.map.get(value);
    if (!keys) return [];
    const out: ObjectOf<K>[] = [];
    for (const k of keys) out.push(this.objects.get(k) as ObjectOf<K>);
    return out;
  }

  /** How many objects index 'name' of 'kind' holds under 'value'. */
  countByIndex(kind: Kind, name: string, value: string): number {
    return this.indexes.get(kind)?.get(name)?.map.get(value)?.size ?? 0;
  }

  private indexOne(idx: StoreIndex, k: string, o: KubeObject, sign: 1 | -1): void {
    for (const v of idx.fn(o)) this.indexValue(idx, k, v, sign);
  }

  private indexValue(idx: StoreIndex, k: string, v: string, sign: 1 | -1): void {
    let set = idx.map.get(v);
    if (sign > 0) {
      if (!set) idx.map.set(v, (set = new Set()));
      set.add(k);
    } else if (set) {
      set.delete(k);
      if (set.size === 0) idx.map.delete(v);
    }
  }

  private reindex(k: string, o: KubeObject, sign: 1 | -1): void {
    for (const idx of this.indexes.get(o.kind)?.values() ?? []) this.indexOne(idx, k, o, sign);
  }

  /** Move key 'k' in the indexes of its kind from the values of 'old' to those of 'cur', touching only the ones that differ. */
  private reindexChange(k: string, old: KubeObject, cur: KubeObject): void {
    for (const idx of this.indexes.get(cur.kind)?.values() ?? []) {
      if (idx.basis && idx.basis(old) === idx.basis(cur)) continue;
      const a = idx.fn(old), b = idx.fn(cur);
      if (a === b || (a.length === b.length && a.every((v, i) => v === b[i]))) continue;
      for (const v of a) if (!b.includes(v)) this.indexValue(idx, k, v, -1);
      for (const v of b) if (!a.includes(v)) this.indexValue(idx, k, v, 1);
    }
  }

  /** Store a new object; returns the stored copy (with uid, resourceVersion...). */
  create<T extends KubeObject>(input: T): T {
    const obj = clone(input);
    const md = obj.metadata;
    if (NAMESPACED.has(obj.kind)) {
      md.namespace ??= 'default';
      if (!this.objects.has(key('Namespace', undefined, md.namespace))) {
        throw new ApiError('NotFound', 'Namespace', md.namespace, `namespaces "${md.namespace}" not found`);
      }
    } else {
      delete md.namespace;
    }
    if (!md.name && md.generateName) {
      do md.name = md.generateName + this.randomSuffix();
      while (this.objects.has(key(obj.kind, md.namespace, md.name)));
    }
    if (!md.name) throw new ApiError('Invalid', obj.kind, '', `${obj.kind} "" is invalid: metadata.name: Required value: name or generateName is required`, 'metadata.name');
    const k = key(obj.kind, md.namespace, md.name);
    if (this.objects.has(k)) {
      throw new ApiError('AlreadyExists', obj.kind, md.name, `${resourceName(obj.kind)} "${md.name}" already exists`);
    }
    this.admit?.(obj, undefined);
    md.uid = this.nextUid();
    md.creationTimestamp = this.timestamp();
    md.resourceVersion = String(++this.rv);
    md.generation = 1;
    this.put(k, obj);
    this.emit({ type: 'ADDED', object: obj });
    return obj;
  }

  /**
   * Replace the stored object named by 'input' with 'input' (server-set
   * metadata — uid, creationTimestamp — is kept); a stale resourceVersion,
   * when the caller gives one, is a Conflict. Returns the stored copy;
   * when nothing changed, the old object and no event.
   */
  update<T extends KubeObject>(input: T): T {
    return this.replace(clone(input));
  }

  /** `update` of an object the store may keep as it is (a copy nobody else holds). */
  private replace<T extends KubeObject>(obj: T): T {
    const md = obj.metadata;
    if (NAMESPACED.has(obj.kind)) md.namespace ??= 'default';
    const k = key(obj.kind, md.namespace, md.name);
    const old = this.objects.get(k) as T | undefined;
    if (!old) throw new ApiError('NotFound', obj.kind, md.name, `${resourceName(obj.kind)} "${md.name}" not found`);
    if (md.resourceVersion !== undefined && md.resourceVersion !== old.metadata.resourceVersion) {
      throw new ApiError('Conflict', obj.kind, md.name,
        `Operation cannot be fulfilled on ${resourceName(obj.kind)} "${md.name}": the object has been modified; please apply your changes to the latest version and try again`);
    }
    md.uid = old.metadata.uid;
    md.creationTimestamp = old.metadata.creationTimestamp;
    md.generation = old.metadata.generation;
    md.resourceVersion = old.metadata.resourceVersion;
    this.admit?.(obj, old);
    // share what did not change with the old version (the metadata object itself stays new: its resourceVersion changes)
    const rest = obj as unknown as Record<string, unknown>, was = old as unknown as Record<string, unknown>;
    const metaSame = shareMembers(md as unknown as Record<string, unknown>, old.metadata as unknown as Record<string, unknown>);
    rest.metadata = old.metadata;
    const same = shareMembers(rest, was);
    rest.metadata = md;
    if (same && metaSame) return old;
    const spec = (obj as { spec?: unknown }).spec, oldSpec = (old as { spec?: unknown }).spec;
    if (spec !== oldSpec) md.generation = (old.metadata.generation ?? 1) + 1;
    md.resourceVersion = String(++this.rv);
    if (md.ownerReferences !== old.metadata.ownerReferences) {
      this.unindexOwners(k, old);
      this.indexOwners(k, obj);
    }
    this.reindexChange(k, old, obj);
    this.objects.set(k, obj);
    this.byKind.get(obj.kind)!.set(k, obj);
    this.uidIndex.set(md.uid!, obj);
    this.emit({ type: 'MODIFIED', object: obj, old });
    return obj;
  }

  /** Change the stored object with 'fn' applied to a copy; returns the stored result. */
  patch<K extends Kind>(kind: K, namespace: string | undefined, name: string, fn: (o: ObjectOf<K>) => void): ObjectOf<K> {
    const cur = this.get(kind, namespace, name);
    if (!cur) throw new ApiError('NotFound', kind, name, `${resourceName(kind)} "${name}" not found`);
    const copy = clone(cur);
    fn(copy);
    return this.replace(copy);
  }

  /**
   * As `patch`, for a writer that only assigns members of the object or of
   * its object-valued members (metadata, spec, status: `p.spec.nodeName = …`,
   * `p.status.conditions = […]`), never changes a deeper member in place:
   * 'fn' gets a copy two levels deep whose deeper members are the stored
   * object's own, so a write costs a few shallow copies rather than a deep
   * one. Admission runs on the result as on any write: it may only fill
   * what is missing there (the control plane's defaulters do, and a stored
   * object already has what they fill).
   */
  patchTop<K extends Kind>(kind: K, namespace: string | undefined, name: string, fn: (o: ObjectOf<K>) => void): ObjectOf<K> {
    const cur = this.get(kind, namespace, name);
    if (!cur) throw new ApiError('NotFound', kind, name, `${resourceName(kind)} "${name}" not found`);
    const copy: Record<string, unknown> = { ...(cur as unknown as Record<string, unknown>) };
    for (const k in copy) {
      const v = copy[k];
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) copy[k] = { ...v };
    }
    const obj = copy as unknown as ObjectOf<K>;
    fn(obj);
    return this.replace(obj);
  }

  /** Remove an object and (background cascading deletion) its dependents; returns the last state, or undefined when absent. */
  delete<K extends Kind>(kind: K, namespace: string | undefined, name: string): ObjectOf<K> | undefined {
    const k = key(kind, NAMESPACED.has(kind) ? (namespace ?? 'default') : undefined, name);
    const old = this.objects.get(k) as ObjectOf<K> | undefined;
    if (!old) return undefined;
    this.objects.delete(k);
    this.byKind.get(kind)?.delete(k);
    this.reindex(k, old, -1);
    this.uidIndex.delete(old.metadata.uid!);
    this.unindexOwners(k, old);
    this.rv++;
    this.emit({ type: 'DELETED', object: old });
    const deps = this.dependents.get(old.metadata.uid!);
    this.dependents.delete(old.metadata.uid!);
    for (const dk of deps ?? []) {
      const d = this.objects.get(dk);
      if (d) this.delete(d.kind, d.metadata.namespace, d.metadata.name);
    }
    if (kind === 'Namespace') {
      for (const o of [...this.objects.values()]) {
        if (o.metadata.namespace === name) this.delete(o.kind, name, o.metadata.name);
      }
    }
    return old;
  }

  private put(k: string, obj: KubeObject): void {
    this.objects.set(k, obj);
    let m = this.byKind.get(obj.kind);
    if (!m) this.byKind.set(obj.kind, (m = new Map()));
    m.set(k, obj);
    this.uidIndex.set(obj.metadata.uid!, obj);
    this.reindex(k, obj, 1);
    this.indexOwners(k, obj);
  }

  private indexOwners(k: string, obj: KubeObject): void {
    for (const r of obj.metadata.ownerReferences ?? []) {
      let s = this.dependents.get(r.uid);
      if (!s) this.dependents.set(r.uid, (s = new Set()));
      s.add(k);
    }
  }

  private unindexOwners(k: string, old: KubeObject): void {
    for (const r of old.metadata.ownerReferences ?? []) this.dependents.get(r.uid)?.delete(k);
  }

  /** Create the namespaces every cluster has (default, kube-system, kube-public, kube-node-lease). */
  bootstrapNamespaces(): void {
    for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
      if (!this.get('Namespace', undefined, name)) {
        this.create<Namespace>({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
      }
    }
  }
}

/** The controller ownerReference of 'o', if any. */
export function controllerRef(o: KubeObject): { kind: string; name: string; uid: string } | undefined {
  return o.metadata.ownerReferences?.find((r) => r.controller);
}

/** An ownerReference naming 'owner' as controller. */
export function ownerRefTo(owner: KubeObject): { apiVersion: string; kind: string; name: string; uid: string; controller: true; blockOwnerDeletion: true } {
  return { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata.name, uid: owner.metadata.uid!, controller: true, blockOwnerDeletion: true };
}
