import { describe, it, expect } from 'vitest';
import { ControlPlane, type ControlPlaneOptions } from '../../src/k8s/controllers/control-plane.js';
import { ApiError } from '../../src/k8s/store.js';
import { ManifestError } from '../../src/k8s/manifest.js';
import { Sim } from '../../src/sim/engine.js';
import type { Deployment, EndpointSlice, Pod } from '../../src/k8s/api.js';

const SUFFIX = '[bcdfghjklmnpqrstvwxz2456789]{5}';

function cluster(opts: ControlPlaneOptions = {}): ControlPlane {
  const cp = new ControlPlane(opts);
  cp.addNode('cp', { controlPlane: true, internalIP: '192.168.0.10' });
  cp.addNode('w1', { internalIP: '192.168.0.11' });
  cp.addNode('w2', { internalIP: '192.168.0.12' });
  return cp;
}

const deployment = (o: { replicas?: number; image?: string; strategy?: string; cpu?: string } = {}): string => `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: ${o.replicas ?? 3}
${o.strategy ?? ''}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: ${o.image ?? 'nginx:1.25'}
        ports: [{containerPort: 8080, name: http}]
${o.cpu ? `        resources: {requests: {cpu: ${o.cpu}}}` : ''}
`;
const service = `apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
`;

const pods = (cp: ControlPlane, prefix = ''): Pod[] => cp.store.list('Pod').filter((p) => p.metadata.name.startsWith(prefix));
const slices = (cp: ControlPlane, svc: string): EndpointSlice[] => cp.store.list('EndpointSlice').filter((s) => s.metadata.labels?.['kubernetes.io/service-name'] === svc);
const addrs = (cp: ControlPlane, svc: string, ready?: boolean): string[] => slices(cp, svc).flatMap((s) => s.endpoints)
  .filter((e) => ready === undefined || e.conditions?.ready === ready).map((e) => e.addresses[0]!).sort();
const podIPs = (ps: Pod[]): string[] => ps.map((p) => p.status!.podIP!).sort();

describe('Deployment → ReplicaSet → Pods → EndpointSlices', () => {
  it('creates the ReplicaSet, named pods, bindings, IPs and the Service\'s slice', () => {
    const cp = cluster({ autoReady: true });
    const res = cp.applyYaml(deployment() + '---\n' + service);
    expect(res.map((r) => r.message)).toEqual(['deployment.apps/web created', 'service/web created']);
    const [rs] = cp.store.list('ReplicaSet');
    const hash = rs!.metadata.labels!['pod-template-hash']!;
    expect(rs!.metadata.name).toBe(`web-${hash}`);
    expect(rs!.spec.selector.matchLabels).toEqual({ app: 'web', 'pod-template-hash': hash });
    const ps = pods(cp, 'web-');
    expect(ps).toHaveLength(3);
    for (const p of ps) {
      expect(p.metadata.name).toMatch(new RegExp(`^web-${hash}-${SUFFIX}$`));
      expect(['w1', 'w2']).toContain(p.spec.nodeName);
      expect(p.status).toMatchObject({ phase: 'Running', hostIP: p.spec.nodeName === 'w1' ? '192.168.0.11' : '192.168.0.12' });
      expect(p.status!.podIP).toMatch(p.spec.nodeName === 'w1' ? /^10\.244\.1\.\d+$/ : /^10\.244\.2\.\d+$/);
    }
    expect(new Set(ps.map((p) => p.spec.nodeName)).size).toBe(2);
    const svc = cp.store.get('Service', 'default', 'web')!;
    expect(svc.spec.clusterIP).toBe('10.96.0.2');
    expect(svc.spec.ports![0]!.nodePort).toBe(30000);
    const [slice] = slices(cp, 'web');
    expect(slice!.metadata.name).toMatch(new RegExp(`^web-${SUFFIX}$`));
    expect(slice!.metadata.labels).toMatchObject({ 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' });
    expect(slice!.ports).toEqual([{ name: '', port: 8080, protocol: 'TCP' }]);
    expect(addrs(cp, 'web', true)).toEqual(podIPs(ps));
    expect(slice!.endpoints[0]!.targetRef).toMatchObject({ kind: 'Pod', namespace: 'default' });
    expect(cp.store.get('Deployment', 'default', 'web')!.status).toEqual({ replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3 });
    // the kubernetes Service and its slice
    expect(cp.store.get('Service', 'default', 'kubernetes')!.spec.clusterIP).toBe('10.96.0.1');
    expect(cp.store.get('EndpointSlice', 'default', 'kubernetes')!.endpoints.map((e) => e.addresses[0])).toEqual(['192.168.0.10']);
  });

  it('is deterministic for a seed', () => {
    const names = (seed: number): string[] => {
      const cp = cluster({ autoReady: true, seed });
      cp.applyYaml(deployment());
      return pods(cp).map((p) => `${p.metadata.name}@${p.spec.nodeName}`);
    };
    expect(names(7)).toEqual(names(7));
    expect(names(7)).not.toEqual(names(8));
  });

  it('scales up and down, newest pods first, and the slice follows', () => {
    const cp = cluster({ autoReady: true });
    cp.applyYaml(deployment({ replicas: 2 }) + '---\n' + service);
    const first = pods(cp, 'web-').map((p) => p.metadata.name);
    cp.scale('Deployment', 'default', 'web', 5);
    expect(pods(cp, 'web-')).toHaveLength(5);
    expect(addrs(cp, 'web', true)).toHaveLength(5);
    cp.scale('Deployment', 'default', 'web', 2);
    expect(pods(cp, 'web-').map((p) => p.metadata.name).sort()).toEqual([...first].sort());
    expect(addrs(cp, 'web', true)).toEqual(podIPs(pods(cp, 'web-')));
  });

  it('rolls out honouring maxSurge and maxUnavailable, one readiness at a time', () => {
    const cp = cluster();
    const strategy = '  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 1}}';
    cp.applyYaml(deployment({ replicas: 4, strategy }) + '---\n' + service);
    const readyAll = (): void => {
      for (const p of pods(cp, 'web-')) if (p.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'True') cp.setPodReady('default', p.metadata.name);
    };
    readyAll();
    expect(addrs(cp, 'web', true)).toHaveLength(4);
    const oldHash = cp.store.list('ReplicaSet')[0]!.metadata.labels!['pod-template-hash'];
    cp.applyYaml(deployment({ replicas: 4, strategy, image: 'nginx:1.26' }));
    const rsReplicas = (): number[] => cp.store.list('ReplicaSet').map((r) => r.spec.replicas!);
    // new RS up by surge + unavailable (total ≤ 5), old down to 3 (≥ 3 available)
    expect(rsReplicas()).toEqual([3, 2]);
    let steps = 0;
    for (;;) {
      const live = pods(cp, 'web-');
      expect(live.length).toBeLessThanOrEqual(5);
      const ready = live.filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
      expect(ready.length).toBeGreaterThanOrEqual(3);
      expect(addrs(cp, 'web', true)).toEqual(podIPs(ready));
      const notReady = live.find((p) => !ready.includes(p));
      if (!notReady) break;
      cp.setPodReady('default', notReady.metadata.name);
      steps++;
    }
    expect(steps).toBe(4);
    expect(rsReplicas()).toEqual([0, 4]);
    expect(pods(cp, 'web-').every((p) => p.metadata.labels!['pod-template-hash'] !== oldHash)).toBe(true);
    expect(cp.events.some((e) => e.reason === 'ScalingReplicaSet' && /Scaled down replica set web-\w+ from 1 to 0/.test(e.message))).toBe(true);
  });

  it('Recreate removes every old pod before the new ReplicaSet scales up', () => {
    const cp = cluster({ autoReady: true, gracefulTermination: true });
    const strategy = '  strategy: {type: Recreate}';
    cp.applyYaml(deployment({ replicas: 2, strategy }));
    cp.applyYaml(deployment({ replicas: 2, strategy, image: 'nginx:2' }));
    // the old pods are terminating: nothing new yet
    expect(pods(cp).every((p) => p.metadata.deletionTimestamp !== undefined)).toBe(true);
    for (const p of pods(cp)) cp.podTerminated('default', p.metadata.name);
    const now = pods(cp);
    expect(now).toHaveLength(2);
    expect(now.every((p) => p.spec.containers[0]!.image === 'nginx:2' && !p.metadata.deletionTimestamp)).toBe(true);
  });
});

describe('DaemonSet, StatefulSet, Job', () => {
  const ds = (tolerate: boolean): string => `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: kube-system}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      ${tolerate ? 'tolerations: [{key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule}]' : ''}
      containers: [{name: a}]
`;
  it('DaemonSet: one pod per eligible node, new nodes included', () => {
    const cp = cluster({ autoReady: true });
    cp.applyYaml(ds(false));
    expect(pods(cp, 'agent-').map((p) => p.spec.nodeName).sort()).toEqual(['w1', 'w2']);
    expect(pods(cp, 'agent-')[0]!.metadata.name).toMatch(new RegExp(`^agent-${SUFFIX}$`));
    cp.addNode('w3');
    expect(pods(cp, 'agent-').map((p) => p.spec.nodeName).sort()).toEqual(['w1', 'w2', 'w3']);
    cp.delete('Node', undefined, 'w3');
    expect(pods(cp, 'agent-').map((p) => p.spec.nodeName).sort()).toEqual(['w1', 'w2']);
    cp.applyYaml(ds(true));
    expect(pods(cp, 'agent-').map((p) => p.spec.nodeName).sort()).toEqual(['cp', 'w1', 'w2']);
  });

  const sts = (replicas: number, policy = 'OrderedReady'): string => `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: ${replicas}
  serviceName: db
  podManagementPolicy: ${policy}
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, ports: [{containerPort: 5432}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {clusterIP: None, selector: {app: db}, ports: [{port: 5432}]}
`;
  it('StatefulSet: stable names, db-1 only once db-0 is ready, scale down from the top', () => {
    const cp = cluster();
    cp.applyYaml(sts(3));
    expect(pods(cp, 'db-').map((p) => p.metadata.name)).toEqual(['db-0']);
    cp.setPodReady('default', 'db-0');
    expect(pods(cp, 'db-').map((p) => p.metadata.name)).toEqual(['db-0', 'db-1']);
    cp.setPodReady('default', 'db-1');
    cp.setPodReady('default', 'db-2');
    const p0 = cp.store.get('Pod', 'default', 'db-0')!;
    expect(p0.spec).toMatchObject({ hostname: 'db-0', subdomain: 'db' });
    expect(p0.metadata.labels).toMatchObject({ 'statefulset.kubernetes.io/pod-name': 'db-0', 'apps.kubernetes.io/pod-index': '0' });
    const hl = slices(cp, 'db');
    expect(hl[0]!.metadata.labels!['service.kubernetes.io/headless']).toBe('');
    expect(hl.flatMap((s) => s.endpoints).map((e) => e.hostname).sort()).toEqual(['db-0', 'db-1', 'db-2']);
    cp.scale('StatefulSet', 'default', 'db', 1);
    expect(pods(cp, 'db-').map((p) => p.metadata.name)).toEqual(['db-0']);
  });

  it('StatefulSet Parallel creates every pod at once', () => {
    const cp = cluster();
    cp.applyYaml(sts(3, 'Parallel'));
    expect(pods(cp, 'db-').map((p) => p.metadata.name)).toEqual(['db-0', 'db-1', 'db-2']);
  });

  it('Job: parallelism, completions, success hook, Complete; backoff limit', () => {
    const cp = cluster({ autoReady: true });
    cp.applyYaml(`apiVersion: batch/v1
kind: Job
metadata: {name: pi}
spec:
  completions: 3
  parallelism: 2
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers: [{name: pi}]
`);
    const active = (): Pod[] => pods(cp, 'pi-').filter((p) => p.status?.phase === 'Running');
    expect(active()).toHaveLength(2);
    expect(active()[0]!.metadata.labels).toMatchObject({ 'job-name': 'pi', 'batch.kubernetes.io/job-name': 'pi' });
    cp.setPodSucceeded('default', active()[0]!.metadata.name);
    expect(active()).toHaveLength(2);
    cp.setPodSucceeded('default', active()[0]!.metadata.name);
    expect(active()).toHaveLength(1);
    cp.setPodSucceeded('default', active()[0]!.metadata.name);
    const job = cp.store.get('Job', 'default', 'pi')!;
    expect(job.status).toMatchObject({ active: 0, succeeded: 3, failed: 0, conditions: [{ type: 'Complete', status: 'True' }] });
    expect(pods(cp, 'pi-')).toHaveLength(3);

    cp.applyYaml(`apiVersion: batch/v1
kind: Job
metadata: {name: bad}
spec:
  backoffLimit: 1
  template:
    spec: {restartPolicy: Never, containers: [{name: x}]}
`);
    const running = (): Pod[] => pods(cp, 'bad-').filter((p) => p.status?.phase === 'Running');
    cp.setPodFailed('default', running()[0]!.metadata.name);
    expect(running()).toHaveLength(1);
    cp.setPodFailed('default', running()[0]!.metadata.name);
    expect(running()).toHaveLength(0);
    expect(cp.store.get('Job', 'default', 'bad')!.status).toMatchObject({ failed: 2, conditions: [{ type: 'Failed', reason: 'BackoffLimitExceeded' }] });
  });
});

describe('EndpointSlices', () => {
  it('puts back a slice someone else changed or deleted (its own writes need no second look)', () => {
    const cp = cluster({ autoReady: true });
    cp.applyYaml(deployment({ replicas: 2 }) + '---\n' + service);
    const [mine] = slices(cp, 'web');
    cp.store.update({ ...mine!, endpoints: [] });
    cp.reconcile();
    expect(slices(cp, 'web')[0]!.endpoints).toHaveLength(2);
    cp.store.delete('EndpointSlice', 'default', slices(cp, 'web')[0]!.metadata.name);
    cp.reconcile();
    expect(slices(cp, 'web').map((x) => x.endpoints.length)).toEqual([2]);
    cp.scale('Deployment', 'default', 'web', 3);
    expect(slices(cp, 'web').map((x) => x.endpoints.length)).toEqual([3]);
  });

  it('keeps one empty slice for a selector that matches nothing', () => {
    const cp = cluster({ autoReady: true });
    cp.applyYaml(service.replace('app: web', 'app: nothing'));
    const s = slices(cp, 'web');
    expect(s).toHaveLength(1);
    expect(s[0]!.endpoints).toEqual([]);
    expect(s[0]!.ports).toEqual([]);
  });

  it('publishes not-ready pods as ready=false, or ready with publishNotReadyAddresses', () => {
    const cp = cluster();
    cp.applyYaml(deployment({ replicas: 2 }) + '---\n' + service + '---\n' + service.replace('name: web}', 'name: web-all}').replace('type: NodePort', 'publishNotReadyAddresses: true'));
    expect(addrs(cp, 'web', false)).toHaveLength(2);
    expect(addrs(cp, 'web', true)).toEqual([]);
    expect(slices(cp, 'web')[0]!.endpoints[0]!.conditions).toEqual({ ready: false, serving: false, terminating: false });
    expect(addrs(cp, 'web-all', true)).toHaveLength(2);
  });

  it('resolves named targetPorts per pod and groups pods by their ports', () => {
    const cp = cluster({ autoReady: true });
    cp.applyYaml(`apiVersion: v1
kind: Pod
metadata: {name: a, labels: {app: mix}}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, labels: {app: mix}}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 9090}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: c, labels: {app: mix}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Service
metadata: {name: mix}
spec: {selector: {app: mix}, ports: [{port: 80, targetPort: http}]}
`);
    const s = slices(cp, 'mix').map((x) => [x.endpoints.map((e) => e.targetRef!.name).join(), x.ports!.map((p) => p.port)] as const);
    expect(s.sort((x, y) => x[0].localeCompare(y[0]))).toEqual([['a', [8080]], ['b', [9090]], ['c', []]]);
  });

  it('splits more than 100 endpoints over slices', () => {
    const cp = cluster({ autoReady: true });
    cp.applyYaml(deployment({ replicas: 150 }) + '---\n' + service);
    const s = slices(cp, 'web');
    expect(s.map((x) => x.endpoints.length).sort((a, b) => a - b)).toEqual([50, 100]);
    cp.scale('Deployment', 'default', 'web', 120);
    expect(slices(cp, 'web').reduce((a, x) => a + x.endpoints.length, 0)).toBe(120);
    expect(slices(cp, 'web').every((x) => x.endpoints.length <= 100)).toBe(true);
  });

  it('shows terminating pods with graceful deletion', () => {
    const cp = cluster({ autoReady: true, gracefulTermination: true });
    cp.applyYaml(deployment({ replicas: 2 }) + '---\n' + service);
    const victim = pods(cp, 'web-')[0]!;
    cp.delete('Pod', 'default', victim.metadata.name);
    const ep = slices(cp, 'web').flatMap((s) => s.endpoints).find((e) => e.targetRef!.name === victim.metadata.name)!;
    expect(ep.conditions).toEqual({ ready: false, serving: true, terminating: true });
    expect(pods(cp, 'web-').filter((p) => !p.metadata.deletionTimestamp)).toHaveLength(2);
    cp.advance(30_000);
    expect(cp.store.get('Pod', 'default', victim.metadata.name)).toBeUndefined();
    expect(slices(cp, 'web').flatMap((s) => s.endpoints)).toHaveLength(2);
  });
});

describe('scheduling failures and node failure', () => {
  it('leaves a pod that fits nowhere Pending with the scheduler\'s reason, the rest unaffected', () => {
    const cp = cluster({ autoReady: true });
    cp.applyYaml(deployment({ replicas: 2 }) + '---\n' + service);
    cp.applyYaml(`apiVersion: v1
kind: Pod
metadata: {name: huge}
spec: {containers: [{name: c, resources: {requests: {cpu: "64"}}}]}
`);
    const huge = cp.store.get('Pod', 'default', 'huge')!;
    const msg = '0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.';
    expect(huge.status!.phase).toBe('Pending');
    expect(huge.status!.conditions).toEqual([{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: msg }]);
    expect(cp.explain('default', 'huge')).toBe(msg);
    expect(cp.events.filter((e) => e.reason === 'FailedScheduling').map((e) => [e.object, e.message])).toEqual([['Pod/default/huge', msg]]);
    expect(addrs(cp, 'web', true)).toHaveLength(2);
    cp.addNode('big', { cpu: '128' });
    expect(cp.store.get('Pod', 'default', 'huge')!.spec.nodeName).toBe('big');
    expect(cp.explain('default', 'huge')).toMatch(/^scheduled to big\nNODE/);
  });

  it('nodeDown evicts pods at once without tolerations; they come back elsewhere', () => {
    const cp = cluster({ autoReady: true, defaultTolerationSeconds: null });
    cp.addNode('w3', { internalIP: '192.168.0.13' });
    cp.applyYaml(deployment({ replicas: 4 }) + '---\n' + service);
    const onW1 = pods(cp, 'web-').filter((p) => p.spec.nodeName === 'w1').map((p) => p.metadata.name);
    expect(onW1.length).toBeGreaterThan(0);
    cp.nodeDown('w1');
    const node = cp.store.get('Node', undefined, 'w1')!;
    expect(node.status!.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ status: 'Unknown', reason: 'NodeStatusUnknown' });
    expect(node.spec!.taints).toEqual([{ key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule' }, { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }]);
    const now = pods(cp, 'web-');
    expect(now).toHaveLength(4);
    expect(now.some((p) => p.spec.nodeName === 'w1' || onW1.includes(p.metadata.name))).toBe(false);
    expect(addrs(cp, 'web', true)).toEqual(podIPs(now));
    cp.nodeUp('w1');
    expect(cp.store.get('Node', undefined, 'w1')!.spec!.taints).toBeUndefined();
  });

  it('nodeDown with the default 300 s tolerations: not ready at once, evicted after 300 s', () => {
    const cp = cluster({ autoReady: true });
    cp.applyYaml(deployment({ replicas: 2 }) + '---\n' + service);
    expect(pods(cp, 'web-')[0]!.spec.tolerations).toEqual([
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ]);
    const onW1 = pods(cp, 'web-').filter((p) => p.spec.nodeName === 'w1');
    cp.nodeDown('w1');
    expect(addrs(cp, 'web', false)).toEqual(podIPs(onW1));
    cp.advance(299_000);
    expect(pods(cp, 'web-').filter((p) => p.spec.nodeName === 'w1')).toHaveLength(onW1.length);
    cp.advance(1_000);
    const now = pods(cp, 'web-');
    expect(now.every((p) => p.spec.nodeName === 'w2')).toBe(true);
    expect(now).toHaveLength(2);
    expect(addrs(cp, 'web', true)).toEqual(podIPs(now));
    expect(cp.events.some((e) => e.reason === 'TaintManagerEviction')).toBe(true);
  });

  it('graceful termination on an unreachable node: evicted pods stay Terminating until the kubelet is back or the Node is deleted', () => {
    const cp = cluster({ autoReady: true, gracefulTermination: true });
    cp.applyYaml(deployment({ replicas: 2 }));
    const onW1 = pods(cp, 'web-').filter((p) => p.spec.nodeName === 'w1').map((p) => p.metadata.name);
    expect(onW1.length).toBeGreaterThan(0);
    cp.nodeDown('w1');
    cp.advance(300_000 + 31_000); // evicted, and the 30 s grace period over: no kubelet finished them
    for (const n of onW1) expect(cp.store.get('Pod', 'default', n)!.metadata.deletionTimestamp).toBeDefined();
    expect(pods(cp, 'web-').filter((p) => !p.metadata.deletionTimestamp && p.spec.nodeName === 'w2')).toHaveLength(2);
    // the kubelet is back: it finishes them
    cp.nodeUp('w1');
    for (const n of onW1) expect(cp.store.get('Pod', 'default', n)).toBeUndefined();
    // another eviction, then the Node deleted: PodGC force-deletes what is left on it
    const onW2 = pods(cp, 'web-').filter((p) => p.spec.nodeName === 'w2').map((p) => p.metadata.name);
    cp.nodeDown('w2');
    cp.advance(331_000);
    for (const n of onW2) expect(cp.store.get('Pod', 'default', n)!.metadata.deletionTimestamp).toBeDefined();
    cp.delete('Node', undefined, 'w2');
    for (const n of onW2) expect(cp.store.get('Pod', 'default', n)).toBeUndefined();
    expect(pods(cp, 'web-').map((p) => p.spec.nodeName)).toEqual(['w1', 'w1']);
  });

  it('runs its timers on a Sim when given one', () => {
    const sim = new Sim({ seed: 1 });
    const cp = cluster({ autoReady: true, sim });
    cp.applyYaml(deployment({ replicas: 2 }));
    cp.nodeDown('w1');
    sim.runUntil(301e9);
    expect(pods(cp, 'web-').every((p) => p.spec.nodeName === 'w2')).toBe(true);
  });
});

describe('Service admission', () => {
  it('keeps addresses over apply, refuses taken ones, releases on delete', () => {
    const cp = cluster({ loadBalancerPool: ['203.0.113.10-203.0.113.11'] });
    cp.applyYaml(service);
    const r = cp.applyYaml(service.replace('type: NodePort', 'type: NodePort\n  sessionAffinity: ClientIP'));
    expect(r[0]!.message).toBe('service/web configured');
    expect(cp.applyYaml(service.replace('type: NodePort', 'type: NodePort\n  sessionAffinity: ClientIP'))[0]!.action).toBe('unchanged');
    const s = cp.store.get('Service', 'default', 'web')!;
    expect([s.spec.clusterIP, s.spec.ports![0]!.nodePort]).toEqual(['10.96.0.2', 30000]);
    const clash = cp.applyYaml(service.replace('name: web}', 'name: other}').replace('type: NodePort', 'type: NodePort\n  clusterIP: 10.96.0.2'));
    expect(clash[0]!.action).toBe('error');
    expect(clash[0]!.error).toBeInstanceOf(ApiError);
    expect(clash[0]!.message).toContain('provided IP is already allocated');
    const np = cp.applyYaml(service.replace('name: web}', 'name: np}').replace('targetPort: http', 'targetPort: http, nodePort: 30000'));
    expect(np[0]!.error!.code).toBe('K8S_INVALID');
    expect(np[0]!.message).toContain('spec.ports[0].nodePort: Invalid value: 30000: provided port is already allocated');
    // the failed Service took nothing: the next one gets the next addresses
    cp.applyYaml(service.replace('name: web}', 'name: lb}').replace('type: NodePort', 'type: LoadBalancer\n  externalTrafficPolicy: Local'));
    const lb = cp.store.get('Service', 'default', 'lb')!;
    expect([lb.spec.clusterIP, lb.spec.ports![0]!.nodePort, lb.spec.healthCheckNodePort]).toEqual(['10.96.0.3', 30001, 30002]);
    expect(lb.status!.loadBalancer!.ingress).toEqual([{ ip: '203.0.113.10' }]);
    cp.delete('Service', 'default', 'lb');
    cp.applyYaml(service.replace('name: web}', 'name: lb2}').replace('type: NodePort', 'type: LoadBalancer'));
    const lb2 = cp.store.get('Service', 'default', 'lb2')!;
    expect([lb2.spec.clusterIP, lb2.spec.ports![0]!.nodePort, lb2.status!.loadBalancer!.ingress![0]!.ip]).toEqual(['10.96.0.3', 30001, '203.0.113.10']);
  });

  it('refuses a manifest with a wrong apiVersion before touching the cluster', () => {
    const cp = cluster();
    expect(() => cp.applyYaml(deployment().replace('apps/v1', 'v1'), 'd.yaml')).toThrow(ManifestError);
    expect(cp.store.list('Deployment')).toEqual([]);
  });

  it('refuses objects in a namespace that does not exist, and goes on with the rest', () => {
    const cp = cluster({ autoReady: true });
    const r = cp.applyYaml(service.replace('name: web}', 'name: web, namespace: nope}') + '---\n' + deployment({ replicas: 1 }));
    expect(r.map((x) => x.action)).toEqual(['error', 'created']);
    expect(r[0]!.message).toBe('Error from server: namespaces "nope" not found');
    expect(pods(cp, 'web-')).toHaveLength(1);
    expect((cp.store.get('Deployment', 'default', 'web') as Deployment).status!.availableReplicas).toBe(1);
  });
});

describe('apply keeps what the cluster gave', () => {
  it('re-applying a pod keeps its binding; changing its spec is refused', () => {
    const cp = cluster({ autoReady: true });
    const pod = 'apiVersion: v1\nkind: Pod\nmetadata: {name: p, labels: {a: b}}\nspec: {containers: [{name: c, image: busybox}]}\n';
    cp.applyYaml(pod);
    const node = cp.store.get('Pod', 'default', 'p')!.spec.nodeName;
    expect(node).toBeDefined();
    expect(cp.applyYaml(pod)[0]!.action).toBe('unchanged');
    expect(cp.applyYaml(pod.replace('{a: b}', '{a: c}'))[0]!.action).toBe('configured');
    expect(cp.store.get('Pod', 'default', 'p')!.spec.nodeName).toBe(node);
    const r = cp.applyYaml(pod.replace('name: c,', 'name: d,'))[0]!;
    expect(r.action).toBe('error');
    expect(r.message).toContain('Pod "p" is invalid: spec: Forbidden: pod updates may not change fields');
  });

  it('a node brought with its podCIDR keeps it, and no other node gets it', () => {
    const cp = new ControlPlane();
    cp.applyYaml('apiVersion: v1\nkind: Node\nmetadata: {name: a}\nspec: {podCIDR: 10.244.0.0/24}\n');
    cp.addNode('b');
    expect(cp.store.get('Node', undefined, 'b')!.spec!.podCIDR).toBe('10.244.1.0/24');
    cp.applyYaml('apiVersion: v1\nkind: Node\nmetadata: {name: a, labels: {x: y}}\n');
    expect(cp.store.get('Node', undefined, 'a')!.spec!.podCIDR).toBe('10.244.0.0/24');
    const clash = cp.applyYaml('apiVersion: v1\nkind: Node\nmetadata: {name: c}\nspec: {podCIDR: 10.244.1.0/24}\n')[0]!;
    expect(clash.error!.code).toBe('K8S_INVALID');
    cp.delete('Node', undefined, 'b');
    cp.addNode('d');
    expect(cp.store.get('Node', undefined, 'd')!.spec!.podCIDR).toBe('10.244.1.0/24');
  });

  it('a StatefulSet pod evicted from a dead node comes back under its name on another node', () => {
    const cp = cluster({ autoReady: true, defaultTolerationSeconds: null });
    cp.applyYaml(`apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 2
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db}]}
`);
    const before = new Map(pods(cp, 'db-').map((p) => [p.metadata.name, p.spec.nodeName]));
    expect([...before.keys()]).toEqual(['db-0', 'db-1']);
    const dead = before.get('db-0')!;
    cp.nodeDown(dead);
    const after = pods(cp, 'db-');
    expect(after.map((p) => p.metadata.name).sort()).toEqual(['db-0', 'db-1']);
    expect(after.every((p) => p.spec.nodeName !== dead)).toBe(true);
  });
});

describe('more workload behaviour', () => {
  it('StatefulSet replaces out-of-date pods one at a time from the highest ordinal', () => {
    const cp = cluster();
    const sts = (image: string): string => `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: ${image}}]}
`;
    cp.applyYaml(sts('pg:15'));
    cp.setPodReady('default', 'db-0');
    cp.setPodReady('default', 'db-1');
    cp.applyYaml(sts('pg:16'));
    const image = (n: string): string | undefined => cp.store.get('Pod', 'default', n)?.spec.containers[0]!.image;
    expect([image('db-0'), image('db-1')]).toEqual(['pg:15', 'pg:16']);
    cp.setPodReady('default', 'db-1');
    expect([image('db-0'), image('db-1')]).toEqual(['pg:16', 'pg:16']);
  });

  it('DaemonSet honours the template\'s nodeSelector', () => {
    const cp = cluster({ autoReady: true });
    cp.addNode('gpu', { labels: { accel: 'gpu' } });
    cp.applyYaml(`apiVersion: apps/v1
kind: DaemonSet
metadata: {name: drv}
spec:
  selector: {matchLabels: {app: drv}}
  template:
    metadata: {labels: {app: drv}}
    spec: {nodeSelector: {accel: gpu}, containers: [{name: d}]}
`);
    expect(pods(cp, 'drv-').map((p) => p.spec.nodeName)).toEqual(['gpu']);
  });

  it('EndpointSlices carry every Service port, named, with the resolved target', () => {
    const cp = cluster({ autoReady: true });
    cp.applyYaml(deployment({ replicas: 1 }) + `---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http, appProtocol: http}
  - {name: metrics, port: 9100, protocol: UDP}
`);
    expect(slices(cp, 'web')[0]!.ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP', appProtocol: 'http' }, { name: 'metrics', port: 9100, protocol: 'UDP' }]);
  });

  it('a Service with no selector gets no slices from the controller', () => {
    const cp = cluster();
    cp.applyYaml('apiVersion: v1\nkind: Service\nmetadata: {name: ext}\nspec: {ports: [{port: 80}]}\n');
    expect(slices(cp, 'ext')).toEqual([]);
  });
});

describe('DaemonSet updates', () => {
  it('replaces pods one node at a time when the template changes', () => {
    const cp = cluster();
    const ds = (image: string): string => `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: a, image: ${image}}]}
`;
    const readyAll = (): void => {
      for (const p of pods(cp, 'agent-')) if (!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) cp.setPodReady('default', p.metadata.name);
    };
    cp.applyYaml(ds('v1'));
    readyAll();
    cp.applyYaml(ds('v2'));
    const images = (): string[] => pods(cp, 'agent-').map((p) => `${p.spec.nodeName}:${p.spec.containers[0]!.image}`).sort();
    expect(images()).toEqual(['w1:v2', 'w2:v1']);
    readyAll();
    expect(images()).toEqual(['w1:v2', 'w2:v2']);
  });
});

describe('watching the control plane', () => {
  it('sends store events as they happen and one settled call per change', () => {
    const cp = cluster({ autoReady: true });
    const slicesSeen: string[] = [];
    const settled: number[] = [];
    cp.watch('EndpointSlice', (e) => slicesSeen.push(`${e.type} ${e.object.metadata.labels?.['kubernetes.io/service-name']} ${e.object.endpoints.length}`));
    const stop = cp.onSettled((n) => settled.push(n));
    cp.applyYaml(deployment({ replicas: 2 }) + '---\n' + service);
    expect(settled.length).toBe(2);
    expect(slicesSeen.at(-1)).toBe('ADDED web 2');
    stop();
    cp.scale('Deployment', 'default', 'web', 3);
    expect(settled.length).toBe(2);
    expect(slicesSeen.at(-1)).toBe('MODIFIED web 3');
  });
});

describe('stored objects stay as they were written', () => {
  const freeze = (v: unknown): void => {
    if (v === null || typeof v !== 'object' || Object.isFrozen(v)) return;
    Object.freeze(v);
    for (const x of Object.values(v)) freeze(x);
  };

  it('never changes an object once stored, though versions share what did not change', () => {
    // every object the store hands out is frozen: a write into one (or into a member
    // shared with a later version) would throw, and the control plane rethrows it
    const cp = cluster({ autoReady: true, gracefulTermination: true });
    const olds: string[] = [];
    cp.store.watch('*', (e) => {
      freeze(e.object);
      if (e.old) olds.push(JSON.stringify(e.old));
    });
    const seen = olds.length;
    cp.applyYaml(deployment({ replicas: 3, cpu: '100m' }) + '---\n' + service);
    cp.scale('Deployment', 'default', 'web', 5);
    cp.applyYaml(deployment({ replicas: 5, image: 'nginx:1.26' }));
    cp.nodeDown('w1');
    cp.advance(301_000);
    cp.nodeUp('w1');
    for (const p of pods(cp)) cp.setPodReady('default', p.metadata.name, false);
    cp.delete('Service', 'default', 'web');
    cp.scale('Deployment', 'default', 'web', 1);
    cp.advance(60_000);
    expect(olds.length).toBeGreaterThan(seen);
    expect(pods(cp).filter((p) => !p.metadata.deletionTimestamp)).toHaveLength(1);
  });
});
