// Kubernetes manifests against hostile input (issue 11): valid multi-document manifests (Nodes,
// Deployments, Services, EndpointSlices, Pods, a StatefulSet, a Job, a DaemonSet, a NetworkPolicy, a
// List, and the example cluster) with lines dropped, doubled or cut, values replaced by others of
// any shape, indentation shifted, and arbitrary text. loadManifests gives objects or a ManifestError
// naming a line of the file and a field path — never another exception — and a control plane that
// already holds objects is left unchanged by an apply the file's error stops, and by each object
// the API refuses.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ControlPlane } from '../../src/k8s/controllers/control-plane.js';
import { API_VERSIONS, type Kind } from '../../src/k8s/api.js';
import { loadManifests, ManifestError } from '../../src/k8s/manifest.js';
import { anyScalar, editLines, lineEdits, replaceValue } from '../yaml-mutations.js';

const RUNS = Number(process.env.SDNEMU_FUZZ_RUNS ?? 400);

const WORKLOADS = `apiVersion: v1
kind: Node
metadata: {name: n1, labels: {zone: a}}
spec: {podCIDR: 10.244.1.0/24, taints: [{key: k, value: v, effect: NoSchedule}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}, matchExpressions: [{key: tier, operator: In, values: [fe, be]}]}
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 25%}}
  template:
    metadata: {labels: {app: web, tier: fe}}
    spec:
      tolerations: [{key: k, operator: Equal, value: v, effect: NoExecute, tolerationSeconds: 30}]
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
            - weight: 10
              podAffinityTerm: {topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app: web}}}
      containers:
        - name: nginx
          image: nginx
          ports: [{containerPort: 80, name: http, protocol: TCP}]
          resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {cpu: "1", memory: 1Gi}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default, annotations: {team: a}}
spec:
  selector: {app: web}
  type: NodePort
  sessionAffinity: ClientIP
  externalTrafficPolicy: Local
  ports:
    - {name: http, port: 80, targetPort: http, nodePort: 30080}
    - {name: udp, port: 53, protocol: UDP, targetPort: 5353}
---
apiVersion: v1
kind: Service
metadata: {name: lb}
spec: {type: LoadBalancer, selector: {app: web}, ports: [{port: 443, targetPort: 8443}], internalTrafficPolicy: Local}
`;

const OTHERS = `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ext-1, labels: {kubernetes.io/service-name: ext}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
  - addresses: [192.0.2.10]
    conditions: {ready: true, serving: true, terminating: false}
    nodeName: n1
---
apiVersion: v1
kind: Pod
metadata: {name: solo, labels: {app: solo}}
spec:
  nodeSelector: {zone: a}
  restartPolicy: Never
  containers: [{name: c, image: busybox, command: [sleep, "3600"]}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, labels: {app: db}}
spec:
  replicas: 2
  serviceName: db
  podManagementPolicy: Parallel
  selector: {matchLabels: {app: db}}
  template: {metadata: {labels: {app: db}}, spec: {containers: [{name: pg, image: postgres}]}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: once}
spec:
  completions: 2
  parallelism: 1
  backoffLimit: 3
  template: {spec: {restartPolicy: OnFailure, containers: [{name: j, image: busybox}]}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template: {metadata: {labels: {app: agent}}, spec: {hostNetwork: true, containers: [{name: a, image: agent}]}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-clients}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress, Egress]
  ingress:
    - from: [{podSelector: {matchLabels: {app: client}}}, {ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]
      ports: [{protocol: TCP, port: 80}, {port: 8000, endPort: 8080}]
  egress: [{to: [{namespaceSelector: {}}]}]
---
apiVersion: v1
kind: List
items:
  - {apiVersion: v1, kind: Namespace, metadata: {name: prod}}
  - {apiVersion: v1, kind: Service, metadata: {name: headless, namespace: prod}, spec: {clusterIP: None, selector: {app: db}, ports: [{port: 5432}]}}
`;

const FILES = [WORKLOADS, OTHERS, readFileSync('examples/k8s/cluster.yaml', 'utf8')].map((t) => t.split('\n'));

/** Load 'text': objects, or a ManifestError on a line of the text with a field path. */
function load(text: string): ReturnType<typeof loadManifests> | null {
  try {
    return loadManifests(text, { file: 'm.yaml' });
  } catch (e) {
    if (!(e instanceof ManifestError)) throw e;
    expect(e.line, e.message).toBeGreaterThanOrEqual(1);
    expect(e.line, e.message).toBeLessThanOrEqual(text.split('\n').length + 1);
    expect(e.message.startsWith(`m.yaml:${e.line}: `), e.message).toBe(true);
    expect(typeof e.path).toBe('string');
    expect(e.code).toMatch(/^K8S_/);
    return null;
  }
}

/** Every object the store holds, by kind (the state an apply must leave alone where it fails). */
function snapshot(cp: ControlPlane): unknown {
  return (Object.keys(API_VERSIONS) as Kind[]).map((k) => [k, JSON.stringify(cp.store.list(k))]);
}

/** A control plane holding the example cluster (nodes with pod CIDRs, deployments, services). */
function loadedPlane(): ControlPlane {
  const cp = new ControlPlane({ autoReady: true });
  cp.applyYaml(FILES[2]!.join('\n'));
  return cp;
}

/** Apply 'text' to 'cp': a file error changes nothing; each object the API refuses is left as it was. */
function applyChecked(cp: ControlPlane, text: string): void {
  const before = snapshot(cp);
  let loaded: ReturnType<typeof loadManifests> | null;
  try {
    loaded = loadManifests(text);
  } catch (e) {
    if (!(e instanceof ManifestError)) throw e;
    expect(() => cp.applyYaml(text)).toThrow(ManifestError);
    expect(snapshot(cp)).toEqual(before);
    return;
  }
  const prior = loaded.objects.map((o) => JSON.stringify(cp.store.get(o.kind, o.metadata.namespace, o.metadata.name) ?? null));
  const results = cp.apply(loaded);
  results.forEach((r, i) => {
    if (r.action !== 'error') return;
    expect(r.error).toBeDefined();
    const o = loaded.objects[i]!;
    // refused: the object is what it was before the apply (or still absent)
    const now = cp.store.get(o.kind, o.metadata.namespace, o.metadata.name) ?? null;
    if (prior[i] === 'null' || now === null) expect(JSON.stringify(now)).toBe(prior[i]);
  });
}

describe('manifests under hostile input', () => {
  it('every manifest of the corpus loads as it is', () => {
    for (const f of FILES) expect(load(f.join('\n'))!.objects.length).toBeGreaterThan(2);
  });

  it('lines dropped, doubled or cut: objects, or a ManifestError on a line of the file', () => {
    fc.assert(fc.property(fc.nat(FILES.length - 1), lineEdits, (x, edits) => { load(editLines(FILES[x]!, edits)); }), { numRuns: RUNS * 2 });
  });

  it('a value replaced by one of any shape: objects, or a ManifestError with its line and field path', () => {
    const seen = { loaded: 0, refused: 0 };
    fc.assert(fc.property(fc.nat(FILES.length - 1), fc.nat(10_000), fc.oneof(anyScalar, fc.jsonValue({ maxDepth: 2 })), (x, k, v) => {
      seen[load(replaceValue(FILES[x]!, k, v)) === null ? 'refused' : 'loaded']++;
    }), { numRuns: RUNS * 3 });
    expect(seen.loaded).toBeGreaterThan(RUNS / 10);
    expect(seen.refused).toBeGreaterThan(RUNS / 10);
  });

  it('indentation shifted, markers and YAML syntax inserted: objects or a ManifestError', () => {
    const junk = fc.constantFrom('  ', '- ', '---', '...', '&a ', '*a', '!!str ', '!!binary ', '? ', '{', '[', '|', '>-', '"', "'", '#', '%YAML 1.1', '<<: *a', ': ', '\t');
    fc.assert(fc.property(fc.nat(FILES.length - 1), fc.array(fc.tuple(fc.nat(), fc.nat(), junk), { minLength: 1, maxLength: 4 }), (x, es) => {
      const lines = [...FILES[x]!];
      for (const [li, c, j] of es) {
        const at = li % lines.length;
        const col = c % (lines[at]!.length + 1);
        lines[at] = lines[at]!.slice(0, col) + j + lines[at]!.slice(col);
      }
      load(lines.join('\n'));
    }), { numRuns: RUNS * 2 });
  });

  it('arbitrary text: objects or a ManifestError', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (t) => { load(t); }), { numRuns: RUNS * 2 });
  });

  it('applying mutated manifests to a loaded control plane: a file error changes nothing, a refused object stays as it was', () => {
    const cp = loadedPlane();
    // numbers kept small: a valid `replicas: 1000000000` is applied (every pod created at once, as
    // the control plane settles synchronously), which is a workload, not a parse, to bound
    const small = fc.oneof(anyScalar, fc.jsonValue({ maxDepth: 1 })).map((v) => (typeof v === 'number' && Math.abs(v) > 500 ? v % 500 : v));
    fc.assert(fc.property(fc.nat(1), fc.nat(10_000), small, lineEdits, fc.boolean(), (x, k, v, edits, byLine) => {
      applyChecked(cp, byLine ? editLines(FILES[x]!, edits) : replaceValue(FILES[x]!, k, v));
    }), { numRuns: Math.ceil(RUNS / 4) });
  });

  // what the properties above found (each hung in an endless loop before: the field path of the
  // error could not be shortened to one whose line is known)
  it.each([
    ['a mapping as a key (`? spec:`)', 'apiVersion: batch/v1\nkind: Job\nmetadata: {name: once}\n? spec:\n  completions: 2\n', 'K8S_BAD_YAML', 4, /invalid map key/],
    ['a sequence as a key', 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n? [a, b]\n: 1\n', 'K8S_BAD_YAML', 4, /invalid map key/],
    ['an annotation key with a bracket and a number for its value', 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations: {"a[b": 1}\n', 'K8S_DECODE', 5, /cannot unmarshal number/],
    ['a label key ending in a bracket', 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels:\n    "x]": [1]\n', 'K8S_DECODE', 6, /cannot unmarshal array/],
  ])('regression: %s is refused at its line', (_what, text, code, line, message) => {
    const e = (() => { try { loadManifests(text); } catch (x) { return x; } throw new Error('loaded'); })();
    expect(e).toBeInstanceOf(ManifestError);
    expect([(e as ManifestError).code, (e as ManifestError).line]).toEqual([code, line]);
    expect((e as ManifestError).message).toMatch(message);
  });

  // A safety net against exponential parsing (alias bombs, deep nesting), not a speed test.
  it('pathological YAML (alias bombs, deep nesting, 1 MB scalars, many documents) loads or fails within seconds', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]`),
      'apiVersion: v1', 'kind: Pod', 'metadata: {name: p}'].join('\n');
    const inputs = [
      bomb,
      `apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations: {a: "${'x'.repeat(1 << 20)}"}\nspec: {containers: [{name: c, image: i}]}\n`,
      `apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: ${'['.repeat(5000)}${']'.repeat(5000)}\n`,
      `apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {volumes: ${'['.repeat(20_000)}${']'.repeat(20_000)}}\n`,
      `apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {volumes: ${'{a: '.repeat(5000)}1${'}'.repeat(5000)}}\n`,
      Array.from({ length: 2000 }, (_, i) => `${' '.repeat(i)}a${i}:`).join('\n'),
      `${'---\n'.repeat(50_000)}`,
      Array.from({ length: 3000 }, (_, i) => `apiVersion: v1\nkind: Namespace\nmetadata: {name: ns${i}}`).join('\n---\n'),
      `${'- '.repeat(10_000)}x`,
      `a: "${'\\'.repeat(1 << 20)}`,
      `apiVersion: v1\nkind: Pod\nmetadata:\n  name: ${'a'.repeat(1 << 20)}-\n  labels: {${'a.'.repeat(100_000)}b/c: ${'x'.repeat(100_000)}-}\n`,
      `apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations: {"${'['.repeat(200_000)}": 1, "${'.'.repeat(200_000)}]": 2}\n`,
    ];
    const t0 = performance.now();
    for (const t of inputs) load(t);
    expect(performance.now() - t0).toBeLessThan(30_000);
  });
});
