import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { ApiStore, ApiError, jsonCopy, type WatchEvent } from '../../src/k8s/store.js';
import type { Pod, ReplicaSet, Service } from '../../src/k8s/api.js';

const pod = (name: string, extra: Partial<Pod['metadata']> = {}): Pod => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name, ...extra }, spec: { containers: [{ name: 'c' }] } });

function store(): ApiStore {
  const s = new ApiStore({ seed: 3, clock: { nowMs: () => Date.UTC(2025, 5, 1, 12) } });
  s.bootstrapNamespaces();
  return s;
}

describe('ApiStore', () => {
  it('assigns uid, resourceVersion, generation and timestamps; defaults the namespace', () => {
    const s = store();
    const p = s.create(pod('a'));
    expect(p.metadata).toMatchObject({ name: 'a', namespace: 'default', generation: 1, creationTimestamp: '2025-06-01T12:00:00Z' });
    expect(p.metadata.uid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$/);
    const rv = Number(p.metadata.resourceVersion);
    const q = s.update({ ...p, metadata: { ...p.metadata, labels: { x: 'y' } } });
    expect(Number(q.metadata.resourceVersion)).toBe(rv + 1);
    expect(q.metadata.generation).toBe(1);
    const r = s.update({ ...q, spec: { ...q.spec, nodeName: 'n1' } });
    expect(r.metadata.generation).toBe(2);
    expect(s.update(r)).toBe(r);
    expect(s.resourceVersion).toBe(rv + 2);
  });

  it('keeps its own copies: changing what create returned or was given changes nothing stored', () => {
    const s = store();
    const input = pod('a');
    const out = s.create(input);
    input.spec.nodeName = 'x';
    expect(s.get('Pod', 'default', 'a')!.spec.nodeName).toBeUndefined();
    expect(out).toBe(s.get('Pod', 'default', 'a'));
  });

  it('copies values as a JSON round trip does', () => {
    const value = fc.letrec((tie) => ({
      v: fc.oneof({ depthSize: 'small' }, fc.constant(undefined), fc.constant(null), fc.boolean(), fc.string(), fc.double(), fc.date({ noInvalidDate: true }),
        fc.array(tie('v'), { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 4 }), tie('v'), { maxKeys: 4 })),
    })).v;
    fc.assert(fc.property(value, (v) => {
      const c = jsonCopy(v);
      expect(JSON.stringify(c)).toBe(JSON.stringify(v));
      if (v !== undefined) expect(c).toEqual(JSON.parse(JSON.stringify(v)));
    }), { numRuns: 300 });
  });

  it('shares what an update left unchanged with the previous version, which stays as it was', () => {
    const s = store();
    const a = s.create({ ...pod('a', { labels: { app: 'x' } }), status: { phase: 'Pending' } });
    const events: WatchEvent[] = [];
    s.watch('Pod', (e) => events.push(e));
    const b = s.patch('Pod', 'default', 'a', (p) => {
      p.status = { phase: 'Running' };
    });
    expect(b.spec).toBe(a.spec);
    expect(b.metadata.labels).toBe(a.metadata.labels);
    expect(b.metadata).not.toBe(a.metadata);
    expect(b.metadata.generation).toBe(1);
    expect(events[0]!.old).toBe(a);
    expect([a.status!.phase, a.metadata.resourceVersion]).toEqual(['Pending', String(Number(b.metadata.resourceVersion) - 1)]);
    const c = s.patch('Pod', 'default', 'a', (p) => {
      p.spec.nodeName = 'n1';
    });
    expect(c.spec.containers).toBe(a.spec.containers);
    expect([a.spec.nodeName, c.spec.nodeName, c.metadata.generation]).toEqual([undefined, 'n1', 2]);
  });

  it('keeps indexes in step, and leaves one alone when the member it reads is unchanged', () => {
    const s = store();
    let calls = 0;
    s.addIndex('Pod', 'app', (p) => {
      calls++;
      return p.metadata.labels?.app ? [p.metadata.labels.app] : [];
    }, (p) => p.metadata.labels);
    s.create(pod('a', { labels: { app: 'x' } }));
    const before = calls;
    s.patch('Pod', 'default', 'a', (p) => {
      p.spec.nodeName = 'n1';
    });
    expect(calls).toBe(before);
    s.patch('Pod', 'default', 'a', (p) => {
      p.metadata.labels = { app: 'y' };
    });
    expect([s.byIndex('Pod', 'app', 'x').length, s.byIndex('Pod', 'app', 'y').map((p) => p.spec.nodeName)]).toEqual([0, ['n1']]);
  });

  it('answers as the API server: AlreadyExists, NotFound, Conflict, missing namespace', () => {
    const s = store();
    const a = s.create(pod('a'));
    const err = (f: () => unknown): ApiError => {
      try {
        f();
      } catch (e) {
        return e as ApiError;
      }
      throw new Error('no error');
    };
    expect(err(() => s.create(pod('a')))).toMatchObject({ code: 'K8S_ALREADY_EXISTS', message: 'pods "a" already exists' });
    expect(err(() => s.update(pod('b')))).toMatchObject({ code: 'K8S_NOT_FOUND', message: 'pods "b" not found' });
    s.update({ ...a, metadata: { ...a.metadata, labels: { v: '2' } } });
    expect(err(() => s.update({ ...a, metadata: { ...a.metadata, labels: { v: '3' } } }))).toMatchObject({ code: 'K8S_CONFLICT' });
    expect(err(() => s.create(pod('c', { namespace: 'nope' })))).toMatchObject({ code: 'K8S_NOT_FOUND', message: 'namespaces "nope" not found' });
    expect(err(() => s.create(pod('')))).toBeInstanceOf(ApiError);
  });

  it('names generateName objects from its seeded RNG', () => {
    const names = (): string[] => {
      const s = store();
      return [1, 2, 3].map(() => s.create(pod('', { generateName: 'web-' })).metadata.name);
    };
    expect(names()).toEqual(names());
    for (const n of names()) expect(n).toMatch(/^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
  });

  it('sends ADDED, MODIFIED (with the old object) and DELETED to the watchers of the kind', () => {
    const s = store();
    const seen: string[] = [];
    const all: WatchEvent[] = [];
    const stop = s.watch('Pod', (e) => seen.push(`${e.type} ${e.object.metadata.name} ${e.old?.metadata.labels?.v ?? '-'}→${e.object.metadata.labels?.v ?? '-'}`));
    s.watch('*', (e) => all.push(e));
    const a = s.create(pod('a'));
    s.patch('Pod', 'default', 'a', (p) => { p.metadata.labels = { v: '1' }; });
    s.create<Service>({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: {} });
    s.delete('Pod', 'default', 'a');
    stop();
    s.create(pod('b'));
    expect(seen).toEqual(['ADDED a -→-', 'MODIFIED a -→1', 'DELETED a -→1']);
    expect(all.map((e) => `${e.type} ${e.object.kind}`)).toEqual(['ADDED Pod', 'MODIFIED Pod', 'ADDED Service', 'DELETED Pod', 'ADDED Pod']);
    expect(a.metadata.labels).toBeUndefined();
  });

  it('deletes dependents with their owner (background cascading), and a namespace\'s objects', () => {
    const s = store();
    const rs = s.create<ReplicaSet>({ apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'rs' }, spec: { selector: {}, template: { spec: { containers: [] } } } });
    const ref = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: rs.metadata.uid!, controller: true };
    s.create(pod('a', { ownerReferences: [ref] }));
    s.create(pod('b', { ownerReferences: [ref] }));
    s.create(pod('c'));
    expect(s.ownedBy('Pod', rs.metadata.uid!).map((p) => p.metadata.name)).toEqual(['a', 'b']);
    s.delete('ReplicaSet', 'default', 'rs');
    expect(s.list('Pod').map((p) => p.metadata.name)).toEqual(['c']);
    s.delete('Namespace', undefined, 'default');
    expect(s.list('Pod')).toEqual([]);
  });

  it('keeps secondary indexes through create, update and delete', () => {
    const s = store();
    s.addIndex('Pod', 'node', (p) => (p.spec.nodeName ? [p.spec.nodeName] : []));
    s.create({ ...pod('a'), spec: { containers: [], nodeName: 'n1' } });
    s.create(pod('b'));
    s.addIndex('Pod', 'node', () => ['ignored: the first registration wins']);
    expect(s.byIndex('Pod', 'node', 'n1').map((p) => p.metadata.name)).toEqual(['a']);
    s.patch('Pod', 'default', 'b', (p) => { p.spec.nodeName = 'n1'; });
    s.patch('Pod', 'default', 'a', (p) => { p.spec.nodeName = 'n2'; });
    expect(s.byIndex('Pod', 'node', 'n1').map((p) => p.metadata.name)).toEqual(['b']);
    expect(s.countByIndex('Pod', 'node', 'n2')).toBe(1);
    s.delete('Pod', 'default', 'b');
    expect(s.byIndex('Pod', 'node', 'n1')).toEqual([]);
  });
});

describe('sameJSON', () => {
  it('agrees with comparing key-sorted JSON', async () => {
    const fc = (await import('fast-check')).default;
    const { canonical, sameJSON } = await import('../../src/k8s/store.js');
    const v = fc.jsonValue({ maxDepth: 3 });
    fc.assert(fc.property(v, v, (a, b) => sameJSON(a, b) === (canonical(a) === canonical(b))));
    fc.assert(fc.property(v, (a) => sameJSON(a, structuredClone(a))));
    expect(sameJSON({ a: 1, b: undefined }, { a: 1 })).toBe(true);
    expect(sameJSON({ a: 1, b: 2 }, { b: 2, a: 1 })).toBe(true);
    expect(sameJSON([1, 2], [2, 1])).toBe(false);
  });
});
