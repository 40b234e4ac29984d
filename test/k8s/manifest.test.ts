import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { loadManifests, ManifestError } from '../../src/k8s/manifest.js';
import type { Deployment, Job, NetworkPolicy, Service, StatefulSet } from '../../src/k8s/api.js';

const deploy = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx
        ports:
        - containerPort: 80
          name: http
`;

function fails(text: string): ManifestError {
  try {
    loadManifests(text, { file: 'x.yaml' });
  } catch (e) {
    expect(e).toBeInstanceOf(ManifestError);
    return e as ManifestError;
  }
  throw new Error('expected a ManifestError');
}

describe('loadManifests: documents and defaults', () => {
  it('reads several documents and applies the API server defaults', () => {
    const text = `${deploy}---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  type: NodePort
  selector: {app: web}
  ports:
  - port: 80
---
# an empty document is skipped
---
apiVersion: v1
kind: Namespace
metadata: {name: prod}
`;
    const r = loadManifests(text);
    expect(r.objects.map((o) => o.kind)).toEqual(['Deployment', 'Service', 'Namespace']);
    expect(r.lines).toEqual([1, 19, 30]);
    const d = r.objects[0] as Deployment;
    expect(d.metadata.namespace).toBe('default');
    expect(d.spec.replicas).toBe(1);
    expect(d.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } });
    expect(d.spec.template.spec.restartPolicy).toBe('Always');
    expect(d.spec.template.spec.containers[0]!.ports![0]!.protocol).toBe('TCP');
    const s = r.objects[1] as Service;
    expect(s.spec).toMatchObject({ type: 'NodePort', sessionAffinity: 'None', externalTrafficPolicy: 'Cluster', internalTrafficPolicy: 'Cluster' });
    expect(s.spec.ports![0]).toEqual({ port: 80, protocol: 'TCP', targetPort: 80 });
    expect(r.objects[2]!.metadata.namespace).toBeUndefined();
    expect(r.warnings).toEqual([]);
  });

  it('defaults ClientIP affinity timeout, Job counts, StatefulSet policy and NetworkPolicy types', () => {
    const r = loadManifests(`apiVersion: v1
kind: Service
metadata: {name: s}
spec: {sessionAffinity: ClientIP, selector: {a: b}, ports: [{port: 53, protocol: UDP, targetPort: dns}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: c}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: np}
spec:
  podSelector: {}
  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}}]}]
`);
    const s = r.objects[0] as Service;
    expect(s.spec.sessionAffinityConfig).toEqual({ clientIP: { timeoutSeconds: 10800 } });
    expect(s.spec.ports![0]!.targetPort).toBe('dns');
    expect(s.spec.externalTrafficPolicy).toBeUndefined();
    expect((r.objects[1] as Job).spec).toMatchObject({ completions: 1, parallelism: 1, backoffLimit: 6 });
    expect((r.objects[2] as StatefulSet).spec).toMatchObject({ replicas: 1, podManagementPolicy: 'OrderedReady' });
    expect((r.objects[3] as NetworkPolicy).spec.policyTypes).toEqual(['Ingress', 'Egress']);
  });

  it('reads kind: List items', () => {
    const r = loadManifests(stringify({ apiVersion: 'v1', kind: 'List', items: [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a' } },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'a' }, spec: { containers: [{ name: 'c' }] } },
    ] }));
    expect(r.objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['Namespace/a', 'Pod/p']);
  });

  it('drops unknown fields with kubectl\'s warning and the line', () => {
    const r = loadManifests(deploy.replace('  selector:', '  foo: 1\n  selector:').replace('image: nginx', 'image: nginx\n        colour: blue'));
    expect(r.warnings.map((w) => [w.message, w.line])).toEqual([['unknown field "spec.foo"', 6], ['unknown field "spec.template.spec.containers[0].colour"', 16]]);
    expect((r.objects[0] as unknown as { spec: Record<string, unknown> }).spec.foo).toBeUndefined();
  });
});

describe('loadManifests: refusals', () => {
  const svc = (ports: string, extra = ''): string => `apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector: {app: web}${extra}\n  ports:\n${ports}`;
  const table: [string, string, string, string, number][] = [
    ['wrong apiVersion', deploy.replace('apps/v1', 'v1'), 'K8S_NO_KIND_MATCH', 'no matches for kind "Deployment" in version "v1"', 1],
    ['unknown kind', 'apiVersion: v1\nkind: Pdo\nmetadata: {name: x}\n', 'K8S_NO_KIND_MATCH', 'no matches for kind "Pdo" in version "v1"', 1],
    ['no kind', 'apiVersion: v1\nmetadata: {name: x}\n', 'K8S_MISSING_KIND', 'kind not set', 1],
    ['port 0', svc('  - port: 0\n'), 'K8S_INVALID', 'Service "web" is invalid: [spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive, spec.ports[0].targetPort: Invalid value: 0', 8],
    ['port missing', svc('  - targetPort: 8080\n'), 'K8S_INVALID', 'spec.ports[0].port: Required value', 8],
    ['a string port', svc('  - port: "80"\n'), 'K8S_DECODE', 'cannot unmarshal string into Go struct field spec.ports[0].port of type int32', 8],
    ['two unnamed ports', svc('  - port: 80\n  - port: 81\n'), 'K8S_INVALID', 'Service "web" is invalid: [spec.ports[0].name: Required value, spec.ports[1].name: Required value]', 8],
    ['bad protocol', svc('  - port: 80\n    protocol: ICMP\n'), 'K8S_INVALID', 'spec.ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"', 9],
    ['nodePort on ClusterIP', svc('  - port: 80\n    nodePort: 30080\n'), 'K8S_INVALID', "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'", 9],
    ['no ports', 'apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {selector: {a: b}}\n', 'K8S_INVALID', 'spec.ports: Required value', 4],
    ['Service name', 'apiVersion: v1\nkind: Service\nmetadata: {name: Web}\nspec: {ports: [{port: 1}]}\n', 'K8S_INVALID', 'metadata.name: Invalid value: "Web": a DNS-1035 label', 3],
    ['selector vs labels', deploy.replace('labels: {app: web}', 'labels: {app: api}'), 'K8S_INVALID', 'spec.template.metadata.labels: Invalid value: map[string]string{"app":"api"}: `selector` does not match template `labels`', 10],
    ['no containers', deploy.replace(/containers:[\s\S]*/, 'containers: []\n'), 'K8S_INVALID', 'spec.template.spec.containers: Required value', 12],
    ['Job restartPolicy', 'apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  template:\n    spec:\n      containers: [{name: c}]\n', 'K8S_INVALID', 'spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"', 6],
    ['bad quantity', deploy.replace('image: nginx', 'image: nginx\n        resources: {requests: {cpu: lots}}'), 'K8S_DECODE', 'quantities must match', 15],
    ['surge and unavailable 0', deploy.replace('spec:\n  selector', 'spec:\n  strategy: {rollingUpdate: {maxSurge: 0, maxUnavailable: 0}}\n  selector'), 'K8S_INVALID', 'spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0', 6],
    ['bad label value', deploy.replace('labels: {app: web}', 'labels: {app: "web app"}'), 'K8S_INVALID', 'spec.template.metadata.labels: Invalid value: "web app": a valid label must be an empty string', 10],
    ['bad label key', 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  labels: {"-x": y}\n', 'K8S_INVALID', 'metadata.labels: Invalid value: "-x": name part must consist of alphanumeric characters', 5],
    ['bad YAML', 'apiVersion: v1\nkind: Pod\nmetadata: {name: [\n', 'K8S_BAD_YAML', 'error converting YAML to JSON', 4],
    ['scalar document', 'hello\n', 'K8S_BAD_OBJECT', 'not an object', 1],
  ];
  for (const [what, text, code, msg, line] of table) {
    it(what, () => {
      const e = fails(text);
      expect(e.code).toBe(code);
      expect(e.message).toContain(msg);
      expect(e.line).toBe(line);
      expect(e.message.startsWith(`x.yaml:${line}: `)).toBe(true);
    });
  }

  it('names the field path in the error', () => {
    const e = fails(svc('  - port: 80\n    targetPort: 70000\n'));
    expect(e.path).toBe('spec.ports[0].targetPort');
    expect(e.toJSON()).toMatchObject({ code: 'K8S_INVALID', path: 'spec.ports[0].targetPort', line: 9, file: 'x.yaml' });
  });
});

describe('loadManifests: property', () => {
  const kinds = ['Pod', 'Service', 'Deployment', 'Job', 'Node', 'EndpointSlice', 'NetworkPolicy', 'StatefulSet', 'DaemonSet', 'List'];
  const versions = ['v1', 'apps/v1', 'batch/v1', 'discovery.k8s.io/v1', 'networking.k8s.io/v1'];
  const keys = fc.constantFrom('metadata', 'spec', 'name', 'ports', 'port', 'targetPort', 'containers', 'selector', 'template',
    'matchLabels', 'labels', 'items', 'replicas', 'type', 'strategy', 'tolerations', 'affinity', 'endpoints', 'addresses', 'x');
  const value = fc.letrec((tie) => ({
    v: fc.oneof({ depthSize: 'small' }, fc.jsonValue({ maxDepth: 1 }), fc.dictionary(keys, tie('v'), { maxKeys: 4 }), fc.array(tie('v'), { maxLength: 3 })),
  })).v;
  it('throws nothing but ManifestError on arbitrary objects', () => {
    fc.assert(fc.property(fc.constantFrom(...kinds), fc.constantFrom(...versions), fc.dictionary(keys, value, { maxKeys: 5 }), (kind, apiVersion, rest) => {
      const text = stringify({ apiVersion, kind, ...rest });
      try {
        loadManifests(text);
      } catch (e) {
        if (!(e instanceof ManifestError)) throw e;
      }
    }), { numRuns: 800 });
  });
  it('throws nothing but ManifestError on arbitrary text', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (text) => {
      try {
        loadManifests(text);
      } catch (e) {
        if (!(e instanceof ManifestError)) throw e;
      }
    }), { numRuns: 500 });
  });
});
