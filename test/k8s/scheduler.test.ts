import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { NodeInfo, NodeTable, Scheduler, bestScores, feasibleNodesToFind, fitError, formatScores, nodeInfos, podRequests } from '../../src/k8s/scheduler.js';
import type { Node, Pod, Taint } from '../../src/k8s/api.js';

const node = (name: string, o: { cpu?: string; memory?: string; pods?: string; taints?: Taint[]; labels?: Record<string, string>; unschedulable?: boolean } = {}): Node => ({
  apiVersion: 'v1', kind: 'Node',
  metadata: { name, labels: { 'kubernetes.io/hostname': name, ...o.labels } },
  spec: { taints: o.taints, unschedulable: o.unschedulable },
  status: { allocatable: { cpu: o.cpu ?? '4', memory: o.memory ?? '16Gi', pods: o.pods ?? '110' } },
});
const pod = (name: string, o: { cpu?: string; memory?: string; nodeName?: string; labels?: Record<string, string>; spec?: Partial<Pod['spec']> } = {}): Pod => ({
  apiVersion: 'v1', kind: 'Pod',
  metadata: { name, namespace: 'default', uid: `uid-${name}`, labels: o.labels },
  spec: {
    containers: [{ name: 'c', resources: o.cpu || o.memory ? { requests: { ...(o.cpu ? { cpu: o.cpu } : {}), ...(o.memory ? { memory: o.memory } : {}) } } : undefined }],
    nodeName: o.nodeName, ...o.spec,
  },
});
const CP: Taint = { key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' };
const s = new Scheduler();

describe('scheduler filters', () => {
  it('writes kube-scheduler\'s FitError for a pod that fits nowhere', () => {
    const nodes = [node('cp', { taints: [CP] }), node('w1', { cpu: '1' }), node('w2', { cpu: '2' })];
    const r = s.schedule(pod('big', { cpu: '2' }), nodes, [pod('x', { cpu: '1500m', nodeName: 'w2' })]);
    expect(r.state).toBe('unschedulable');
    if (r.state !== 'unschedulable') return;
    expect(r.message).toBe('0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. '
      + 'preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.');
    expect(r.rejected.map((x) => [x.node, x.plugin])).toEqual([['cp', 'TaintToleration'], ['w1', 'NodeResourcesFit'], ['w2', 'NodeResourcesFit']]);
  });

  it('counts every insufficient resource of a node, pods first', () => {
    const r = s.schedule(pod('p', { cpu: '8', memory: '32Gi' }), [node('a', { pods: '1' })], [pod('x', { nodeName: 'a' })]);
    expect(r.state === 'unschedulable' && r.message).toBe('0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 1 Too many pods. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.');
  });

  it('honours tolerations, nodeSelector, required node affinity and unschedulable nodes', () => {
    const nodes = [node('cp', { taints: [CP] }), node('ssd', { labels: { disk: 'ssd' } }), node('hdd', { labels: { disk: 'hdd' } }), node('off', { unschedulable: true, labels: { disk: 'ssd' } })];
    const sel = s.schedule(pod('p', { spec: { nodeSelector: { disk: 'nvme' } } }), nodes, []);
    expect(sel.state === 'unschedulable' && sel.message).toBe("0/4 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 1 node(s) were unschedulable, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/4 nodes are available: 4 Preemption is not helpful for scheduling.");
    const aff = s.schedule(pod('p', { spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'disk', operator: 'In', values: ['hdd'] }] }] } } } } }), nodes, []);
    expect(aff.state === 'scheduled' && aff.node).toBe('hdd');
    const tol = s.schedule(pod('p', { spec: { nodeSelector: { 'kubernetes.io/hostname': 'cp' }, tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }] } }), nodes, []);
    expect(tol.state === 'scheduled' && tol.node).toBe('cp');
    const field = s.schedule(pod('p', { spec: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['ssd'] }] }] } } } } }), nodes, []);
    expect(field.state === 'scheduled' && field.node).toBe('ssd');
  });

  it('spreads a group with required anti-affinity by hostname and reports the rule when no node is left', () => {
    const anti = { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { app: 'db' } } }] } };
    const nodes = [node('a'), node('b')];
    const placed: Pod[] = [];
    for (const name of ['db-0', 'db-1', 'db-2']) {
      const p = pod(name, { labels: { app: 'db' }, spec: { affinity: anti } });
      const r = s.schedule(p, nodes, placed);
      if (r.state === 'scheduled') placed.push({ ...p, spec: { ...p.spec, nodeName: r.node } });
      else expect(r.message).toBe("0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.");
    }
    expect(placed.map((p) => p.spec.nodeName)).toEqual(['a', 'b']);
  });

  it('says so when there are no nodes', () => {
    expect(fitError(0, [])).toBe('no nodes available to schedule pods');
  });
});

describe('scheduler scores', () => {
  it('scores LeastAllocated and BalancedAllocation as the default profile does', () => {
    const r = s.schedule(pod('p', { cpu: '1', memory: '1Gi' }), [node('n1'), node('n2')], [pod('x', { cpu: '2', memory: '2Gi', nodeName: 'n1' })]);
    expect(r.state).toBe('scheduled');
    if (r.state !== 'scheduled') return;
    expect(r.node).toBe('n2');
    const n1 = r.scores.find((x) => x.node === 'n1')!, n2 = r.scores.find((x) => x.node === 'n2')!;
    // n2: cpu (4000-1000)*100/4000 = 75, memory 15/16 → 93; (75+93)/2 = 84; fractions .25/.0625 → std .09375 → 90
    expect([n2.plugins.NodeResourcesFit.weighted, n2.plugins.NodeResourcesBalancedAllocation.weighted, n2.plugins.TaintToleration.weighted, n2.total]).toEqual([84, 90, 300, 474]);
    // n1: cpu 25, memory 13/16 → 81; 53; fractions .75/.1875 → std .28125 → 71
    expect([n1.plugins.NodeResourcesFit.weighted, n1.plugins.NodeResourcesBalancedAllocation.weighted, n1.total]).toEqual([53, 71, 424]);
    expect(formatScores(r).split('\n')[1]).toMatch(/^\*n2\s+84\s+90\s+300\s+0\s+474$/);
  });

  it('uses the non-zero defaults (100m, 200Mi) for pods without requests', () => {
    const req = podRequests(pod('p'), true);
    expect([req.get('cpu'), req.get('memory')]).toEqual([100, 200 * 1024 * 1024]);
    expect(podRequests(pod('p')).get('cpu')).toBe(0);
  });

  it('prefers nodes without PreferNoSchedule taints and with preferred affinity; breaks ties by name', () => {
    const nodes = [node('c'), node('b', { taints: [{ key: 'k', value: 'v', effect: 'PreferNoSchedule' }] }), node('a', { labels: { zone: 'z1' } })];
    const tie = s.schedule(pod('p'), [node('y'), node('x')], []);
    expect(tie.state === 'scheduled' && tie.node).toBe('x');
    const pref = s.schedule(pod('p', { spec: { affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 10, preference: { matchExpressions: [{ key: 'zone', operator: 'In', values: ['z1'] }] } }] } } } }), nodes, []);
    expect(pref.state === 'scheduled' && pref.node).toBe('a');
    if (pref.state !== 'scheduled') return;
    const b = pref.scores.find((x) => x.node === 'b')!;
    expect(b.plugins.TaintToleration).toEqual({ raw: 1, normalized: 0, weighted: 0 });
    expect(pref.scores.find((x) => x.node === 'a')!.plugins.NodeAffinity).toEqual({ raw: 10, normalized: 100, weighted: 200 });
  });
});

describe('scheduler at scale', () => {
  it('looks for as many feasible nodes as percentageOfNodesToScore says', () => {
    expect([50, 99, 100, 500, 1000, 5000, 6000].map(feasibleNodesToFind)).toEqual([50, 99, 100, 230, 420, 500, 300]);
  });

  it('keeps NodeInfo sums equal to a fresh count through adds and removes', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.constantFrom('add', 'remove', 'status', 'resize'), fc.integer({ min: 0, max: 5 }), fc.constantFrom('', '250m', '1', '2'), fc.constantFrom('', '128Mi', '1Gi')), { maxLength: 30 }), (ops) => {
      const info = new NodeInfo(node('n'));
      const live = new Map<number, Pod>();
      for (const [op, id, cpu, memory] of ops) {
        const p = pod(`p${id}`, { cpu: cpu || undefined, memory: memory || undefined, nodeName: 'n' });
        const prev = live.get(id);
        if (op === 'add') {
          info.add(p);
          live.set(id, p);
        } else if (op !== 'remove' && prev) {
          // a new version: the same spec (a status write) or other requests
          const next = op === 'status' ? { ...prev, status: { phase: 'Running' as const } } : { ...p, status: prev.status };
          info.replace(prev, next);
          live.set(id, next);
        } else if (op === 'remove' && prev) {
          info.remove(live.get(id)!);
          live.delete(id);
        }
      }
      const fresh = nodeInfos([node('n')], [...live.values()])[0]!;
      expect([...info.requested]).toEqual([...fresh.requested]);
      expect(info.nonZero).toEqual(fresh.nonZero);
      expect(info.pods.size).toBe(live.size);
    }), { numRuns: 200 });
  });

  it('keeps NodeInfos of one table in its rows, and gives a released row back empty', () => {
    const table = new NodeTable();
    const infos = Array.from({ length: 20 }, (_, i) => new NodeInfo(node(`n${i}`, { cpu: '2' }), table));
    infos[3]!.add(pod('x', { cpu: '1', nodeName: 'n3', spec: { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'zone', labelSelector: { matchLabels: { a: 'b' } } }] } } } }));
    expect([infos[3]!.requestedCpu, infos[3]!.allocCpu, table.antiAffinityPods]).toEqual([1000, 2000, 1]);
    infos[3]!.release();
    expect(table.antiAffinityPods).toBe(0);
    const again = new NodeInfo(node('n99'), table);
    expect([again.row, again.requestedCpu, again.nonZero, again.allocCpu]).toEqual([infos[3]!.row, 0, { cpu: 0, memory: 0 }, 4000]);
    // a new array without the released node: the scheduler lays it out anew
    const live = [...infos.slice(0, 3), ...infos.slice(4), again];
    const r = new Scheduler().scheduleOn(pod('p', { cpu: '3' }), live, { table });
    expect(r.state === 'scheduled' && r.node).toBe('n99');
  });

  it('schedules NodeInfos built apart (each with its own table) as one cluster, and keeps only the best rows when asked', () => {
    const apart = [node('a', { cpu: '1' }), node('b'), node('c', { cpu: '2' })].map((n) => new NodeInfo(n));
    apart[1]!.add(pod('x', { cpu: '3', nodeName: 'b' }));
    const together = nodeInfos([node('a', { cpu: '1' }), node('b'), node('c', { cpu: '2' })], [pod('x', { cpu: '3', nodeName: 'b' })]);
    const r1 = new Scheduler().scheduleOn(pod('p', { cpu: '500m' }), apart), r2 = new Scheduler().scheduleOn(pod('p', { cpu: '500m' }), together);
    expect(r1.state === 'scheduled' && [r1.node, r1.scores]).toEqual(r2.state === 'scheduled' && [r2.node, r2.scores]);
    expect(new Set(apart.map((i) => i.table)).size).toBe(1);
    expect(apart[1]!.requestedCpu).toBe(3000);
    const kept = new Scheduler().scheduleOn(pod('p', { cpu: '500m' }), together, { scoreRows: 2 });
    expect(kept.state === 'scheduled' && kept.scores).toEqual(r2.state === 'scheduled' && bestScores(r2, 2));
    expect(kept.state === 'scheduled' && kept.scores.map((x) => x.node)).toEqual(['c', 'a']);
  });

  it('knows when a pod fits every node without visiting them, and works the floors out again once they went stale', () => {
    const table = new NodeTable();
    const infos = ['a', 'b', 'c'].map((n) => new NodeInfo(node(n, { cpu: '2' }), table));
    expect(table.fitsEverywhere(1500, 0)).toBe(true);
    const big = pod('big', { cpu: '1', nodeName: 'b' });
    infos[1]!.add(big);
    expect([table.fitsEverywhere(1500, 0), table.fitsEverywhere(1000, 0)]).toEqual([false, true]);
    infos[1]!.remove(big);
    // the floor stays low (a lower bound) until a few misses make the table look again
    const misses = Array.from({ length: 8 }, () => table.fitsEverywhere(1500, 0));
    expect(misses.slice(0, 7).every((x) => !x) && misses[7]).toBe(true);
    infos[2]!.node = node('c', { cpu: '2', taints: [CP] });
    expect([table.flagged, table.fitsEverywhere(1, 0)]).toEqual([1, false]);
    infos[2]!.release();
    expect([table.flagged, table.fitsEverywhere(1, 0)]).toEqual([0, true]);
  });

  it('stops filtering once enough nodes fit and starts the next search where it stopped', () => {
    const nodes = Array.from({ length: 500 }, (_, i) => node(`n${String(i).padStart(3, '0')}`));
    const sched = new Scheduler();
    const infos = nodeInfos(nodes, []);
    const a = sched.scheduleOn(pod('a'), infos);
    const b = sched.scheduleOn(pod('b'), infos);
    expect(a.state === 'scheduled' && a.scores.length).toBe(230);
    expect(a.state === 'scheduled' && a.node).toBe('n000');
    expect(b.state === 'scheduled' && b.node).toBe('n230');
  });
});

describe('scheduler score rows', () => {
  it('gives the best rows of a decision as sorting its whole table would', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.constantFrom('1', '2', '4'), fc.constantFrom('4Gi', '8Gi'), fc.integer({ min: 0, max: 3 })), { minLength: 1, maxLength: 40 }),
      fc.integer({ min: 1, max: 12 }), (shape, n) => {
        const nodes = shape.map(([cpu, memory], i) => node(`n${(i * 7) % 41}-${i}`, { cpu, memory }));
        const placed = shape.flatMap(([, , k], i) => Array.from({ length: k }, (_, j) => pod(`x${i}-${j}`, { cpu: '250m', memory: '512Mi', nodeName: nodes[i]!.metadata.name })));
        const r = new Scheduler().schedule(pod('p', { cpu: '100m' }), nodes, placed);
        if (r.state !== 'scheduled') throw new Error('unschedulable');
        const sorted = [...r.scores].sort((a, b) => b.total - a.total || (a.node < b.node ? -1 : 1));
        expect(bestScores(r, n)).toEqual(r.scores.length <= n ? r.scores : sorted.slice(0, n));
        expect(sorted[0]!.node).toBe(r.node);
        // rows built when read: a JSON text of the decision has them
        expect(JSON.parse(JSON.stringify(r)).scores).toEqual(r.scores);
      }), { numRuns: 100 });
  });

  it('applies pod affinity and the bound pods\' anti-affinity by topology domain', () => {
    const zone = (name: string, z: string): Node => node(name, { labels: { zone: z } });
    const nodes = [zone('a1', 'a'), zone('a2', 'a'), zone('b1', 'b'), node('nozone')];
    const keepAway = { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'zone', labelSelector: { matchLabels: { app: 'web' } } }] } };
    const placed = [pod('db', { labels: { app: 'db' }, nodeName: 'a1', spec: { affinity: keepAway } })];
    const near = { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: 'zone', labelSelector: { matchLabels: { app: 'db' } } }] } };
    // web must be in db's zone, and db refuses web in its zone: nowhere
    const web = s.schedule(pod('web', { labels: { app: 'web' }, spec: { affinity: near } }), nodes, placed);
    expect(web.state === 'unschedulable' && web.rejected.map((r) => [r.node, r.reasons[0]])).toEqual([
      ['a1', "node(s) didn't satisfy existing pods anti-affinity rules"], ['a2', "node(s) didn't satisfy existing pods anti-affinity rules"],
      ['b1', "node(s) didn't match pod affinity rules"], ['nozone', "node(s) didn't match pod affinity rules"]]);
    // a cache pod (not refused) goes next to db: zone a only
    const cache = s.schedule(pod('cache', { labels: { app: 'cache' }, spec: { affinity: near } }), nodes, placed);
    expect(cache.state === 'scheduled' && cache.scores.map((x) => x.node).sort()).toEqual(['a1', 'a2']);
  });
});

describe('quantities', () => {
  it('reads the suffixes apimachinery reads', async () => {
    const { parseQuantity, milliValue, QuantityError } = await import('../../src/k8s/quantity.js');
    const table: [string | number, number][] = [['500m', 0.5], ['2', 2], [2, 2], ['1.5', 1.5], ['128Mi', 128 * 2 ** 20], ['1Gi', 2 ** 30],
      ['1G', 1e9], ['1k', 1000], ['1e3', 1000], ['100n', 1e-7], ['.5', 0.5], ['+1Ki', 1024]];
    for (const [q, v] of table) expect(parseQuantity(q)).toBeCloseTo(v, 12);
    expect([milliValue('100m'), milliValue('0.1'), milliValue('1'), milliValue('1n')]).toEqual([100, 100, 1000, 1]);
    for (const bad of ['', 'lots', '1Q', '1 Gi', 'Mi', '--1', '1e']) expect(() => parseQuantity(bad)).toThrow(QuantityError);
    fc.assert(fc.property(fc.string({ maxLength: 12 }), (t) => {
      try {
        parseQuantity(t);
      } catch (e) {
        if (!(e instanceof QuantityError)) throw e;
      }
    }));
  });
});
