/**
 * Manifests (k8s layer, slow path): `kubectl apply -f`-style loading of
 * ordinary multi-document YAML into the API types of api.ts.
 *
 * What: `loadManifests(text, { file })` reads every document (`---`), and
 * `kind: List` items, in order. Each object goes through the API server's
 * three steps:
 * 1. decode — apiVersion + kind must be served (`no matches for kind
 *    "Deployment" in version "v1"`), each field must have its type (a
 *    string where an int32 belongs is refused), and unknown fields are
 *    dropped with a warning as kubectl prints it (`unknown field
 *    "spec.foo"`). The field table below (`S` schemas) is the part of each
 *    Go type the emulator knows; fields outside it that the real API has are
 *    reported as unknown too, which is the honest answer: they have no effect here.
 * 2. default — what the API server's defaulters fill in: namespace
 *    `default`, protocol TCP, a Service's targetPort = port, type ClusterIP,
 *    sessionAffinity None (ClientIP gets timeoutSeconds 10800),
 *    externalTrafficPolicy Cluster for NodePort/LoadBalancer,
 *    internalTrafficPolicy Cluster, replicas 1, strategy RollingUpdate
 *    25%/25%, a pod's restartPolicy Always (a Job's template is not
 *    defaulted: it must say OnFailure or Never), StatefulSet
 *    podManagementPolicy OrderedReady, Job parallelism/completions 1 and
 *    backoffLimit 6, a NetworkPolicy's policyTypes.
 * 3. validate — the checks of pkg/apis/*\/validation the emulator relies
 *    on, with the API server's wording: `Service "web" is invalid:
 *    spec.ports[0].port: Invalid value: 0: must be between 1 and 65535,
 *    inclusive`.
 * A failure throws `ManifestError` with the field path and the YAML line of
 * that field (LineCounter positions, as topology/file.ts reports them).
 * Invariant: nothing but ManifestError leaves `loadManifests` (property-
 * tested with fast-check on arbitrary YAML and JSON values).
 * Neighbours: api.ts (the types), quantity.ts (requests and limits),
 * controllers/control-plane.ts (`apply` takes what this returns).
 */
import { parseAllDocuments, LineCounter, isScalar, type Node as YamlNode } from 'yaml';
import { indexLines as indexYamlLines, lineOf as linesLineOf } from '../yaml-lines.js';
import { SdnemuError } from '../errors.js';
import { API_VERSIONS, NAMESPACED, type Kind, type KubeObject, type PodSpec, type LabelSelector } from './api.js';
import { parseQuantity } from './quantity.js';
import { matchesSelector } from './labels.js';

export class ManifestError extends SdnemuError {
  readonly file: string;
  readonly line: number;
  readonly path: string;
  constructor(code: string, file: string, line: number, path: string, message: string) {
    super(code, `${file ? `${file}:` : ''}${line}: ${message}`);
    this.name = 'ManifestError';
    this.file = file;
    this.line = line;
    this.path = path;
  }
  override location(): Record<string, string | number> {
    return { file: this.file, line: this.line, path: this.path };
  }
}

export interface ManifestWarning {
  /** as kubectl prints it after `Warning: ` */
  message: string;
  path: string;
  line: number;
}

export interface LoadedManifests {
  objects: KubeObject[];
  /** the YAML line where each object starts, index-aligned with 'objects' */
  lines: number[];
  warnings: ManifestWarning[];
}

// ---- field schemas (decode step)

type S =
  | { t: 'str' } | { t: 'int' } | { t: 'num' } | { t: 'bool' } | { t: 'intstr' } | { t: 'any' }
  | { t: 'map' } | { t: 'qty' } | { t: 'arr'; of: S } | { t: 'obj'; go: string; f: Record<string, S> };

const str: S = { t: 'str' }, int: S = { t: 'int' }, bool: S = { t: 'bool' }, intstr: S = { t: 'intstr' };
const any: S = { t: 'any' }, map: S = { t: 'map' }, qty: S = { t: 'qty' };
const arr = (of: S): S => ({ t: 'arr', of });
const obj = (go: string, f: Record<string, S>): S => ({ t: 'obj', go, f });

const requirement = obj('LabelSelectorRequirement', { key: str, operator: str, values: arr(str) });
const selector = obj('LabelSelector', { matchLabels: map, matchExpressions: arr(requirement) });
const meta = obj('ObjectMeta', {
  name: str, namespace: str, generateName: str, uid: str, labels: map, annotations: map, resourceVersion: str,
  generation: int, creationTimestamp: any, deletionTimestamp: any, finalizers: arr(str), managedFields: any,
  ownerReferences: arr(obj('OwnerReference', { apiVersion: str, kind: str, name: str, uid: str, controller: bool, blockOwnerDeletion: bool })),
});
const nodeSelectorTerm = obj('NodeSelectorTerm', { matchExpressions: arr(requirement), matchFields: arr(requirement) });
const podAffinityTerm = obj('PodAffinityTerm', { labelSelector: selector, namespaces: arr(str), topologyKey: str, namespaceSelector: selector });
const weightedPodAffinity = arr(obj('WeightedPodAffinityTerm', { weight: int, podAffinityTerm }));
const podAffinity = (go: string): S => obj(go, {
  requiredDuringSchedulingIgnoredDuringExecution: arr(podAffinityTerm),
  preferredDuringSchedulingIgnoredDuringExecution: weightedPodAffinity,
});
const affinity = obj('Affinity', {
  nodeAffinity: obj('NodeAffinity', {
    requiredDuringSchedulingIgnoredDuringExecution: obj('NodeSelector', { nodeSelectorTerms: arr(nodeSelectorTerm) }),
    preferredDuringSchedulingIgnoredDuringExecution: arr(obj('PreferredSchedulingTerm', { weight: int, preference: nodeSelectorTerm })),
  }),
  podAffinity: podAffinity('PodAffinity'),
  podAntiAffinity: podAffinity('PodAntiAffinity'),
});
const container = obj('Container', {
  name: str, image: str, command: arr(str), args: arr(str), workingDir: str, imagePullPolicy: str,
  ports: arr(obj('ContainerPort', { name: str, containerPort: int, protocol: str, hostPort: int, hostIP: str })),
  resources: obj('ResourceRequirements', { requests: qty, limits: qty, claims: any }),
  env: any, envFrom: any, volumeMounts: any, readinessProbe: any, livenessProbe: any, startupProbe: any,
  lifecycle: any, securityContext: any, terminationMessagePath: str, terminationMessagePolicy: str, stdin: bool, tty: bool,
});
const podSpec = obj('PodSpec', {
  containers: arr(container), initContainers: arr(container), nodeName: str, nodeSelector: map, affinity,
  tolerations: arr(obj('Toleration', { key: str, operator: str, value: str, effect: str, tolerationSeconds: int })),
  hostNetwork: bool, hostPID: bool, hostIPC: bool, hostname: str, subdomain: str, restartPolicy: str,
  terminationGracePeriodSeconds: int, activeDeadlineSeconds: int, serviceAccountName: str, serviceAccount: str,
  automountServiceAccountToken: bool, volumes: any, dnsPolicy: str, dnsConfig: any, priorityClassName: str,
  priority: int, schedulerName: str, securityContext: any, imagePullSecrets: any, topologySpreadConstraints: any,
  enableServiceLinks: bool, shareProcessNamespace: bool, runtimeClassName: str, preemptionPolicy: str,
  readinessGates: any, overhead: any, hostAliases: any,
});
const podStatus = obj('PodStatus', {
  phase: str, conditions: any, hostIP: str, hostIPs: any, podIP: str, podIPs: any, startTime: any,
  containerStatuses: any, qosClass: str, message: str, reason: str, nominatedNodeName: str,
});
const template = obj('PodTemplateSpec', { metadata: meta, spec: podSpec });
const protocolPort = (go: string): S => obj(go, { name: str, protocol: str, port: int, targetPort: intstr, nodePort: int, appProtocol: str });

const TOP: Readonly<Record<Kind, S>> = {
  Namespace: obj('Namespace', { metadata: meta, spec: any, status: any }),
  Node: obj('Node', {
    metadata: meta,
    spec: obj('NodeSpec', {
      podCIDR: str, podCIDRs: arr(str), unschedulable: bool, providerID: str,
      taints: arr(obj('Taint', { key: str, value: str, effect: str, timeAdded: any })),
    }),
    status: obj('NodeStatus', {
      capacity: qty, allocatable: qty, conditions: any, nodeInfo: any, images: any, daemonEndpoints: any,
      addresses: arr(obj('NodeAddress', { type: str, address: str })),
    }),
  }),
  Pod: obj('Pod', { metadata: meta, spec: podSpec, status: podStatus }),
  Service: obj('Service', {
    metadata: meta,
    spec: obj('ServiceSpec', {
      type: str, selector: map, ports: arr(protocolPort('ServicePort')), clusterIP: str, clusterIPs: arr(str),
      ipFamilies: arr(str), ipFamilyPolicy: str, externalIPs: arr(str), loadBalancerIP: str,
      loadBalancerSourceRanges: arr(str), loadBalancerClass: str, allocateLoadBalancerNodePorts: bool,
      externalTrafficPolicy: str, internalTrafficPolicy: str, healthCheckNodePort: int,
      sessionAffinity: str, sessionAffinityConfig: obj('SessionAffinityConfig', { clientIP: obj('ClientIPConfig', { timeoutSeconds: int }) }),
      externalName: str, publishNotReadyAddresses: bool, trafficDistribution: str,
    }),
    status: obj('ServiceStatus', { loadBalancer: obj('LoadBalancerStatus', { ingress: arr(obj('LoadBalancerIngress', { ip: str, hostname: str, ipMode: str, ports: any })) }), conditions: any }),
  }),
  EndpointSlice: obj('EndpointSlice', {
    metadata: meta, addressType: str,
    endpoints: arr(obj('Endpoint', {
      addresses: arr(str), hostname: str, nodeName: str, zone: str,
      conditions: obj('EndpointConditions', { ready: bool, serving: bool, terminating: bool }),
      targetRef: obj('ObjectReference', { kind: str, namespace: str, name: str, uid: str, apiVersion: str, resourceVersion: str }),
      hints: any, deprecatedTopology: any,
    })),
    ports: arr(obj('EndpointPort', { name: str, protocol: str, port: int, appProtocol: str })),
  }),
  Deployment: obj('Deployment', {
    metadata: meta,
    spec: obj('DeploymentSpec', {
      replicas: int, selector, template, minReadySeconds: int, revisionHistoryLimit: int, paused: bool, progressDeadlineSeconds: int,
      strategy: obj('DeploymentStrategy', { type: str, rollingUpdate: obj('RollingUpdateDeployment', { maxSurge: intstr, maxUnavailable: intstr }) }),
    }),
    status: any,
  }),
  ReplicaSet: obj('ReplicaSet', { metadata: meta, spec: obj('ReplicaSetSpec', { replicas: int, selector, template, minReadySeconds: int }), status: any }),
  DaemonSet: obj('DaemonSet', {
    metadata: meta,
    spec: obj('DaemonSetSpec', { selector, template, minReadySeconds: int, revisionHistoryLimit: int, updateStrategy: any }),
    status: any,
  }),
  StatefulSet: obj('StatefulSet', {
    metadata: meta,
    spec: obj('StatefulSetSpec', {
      replicas: int, serviceName: str, selector, template, podManagementPolicy: str, updateStrategy: any,
      revisionHistoryLimit: int, minReadySeconds: int, volumeClaimTemplates: any, persistentVolumeClaimRetentionPolicy: any, ordinals: any,
    }),
    status: any,
  }),
  Job: obj('Job', {
    metadata: meta,
    spec: obj('JobSpec', {
      completions: int, parallelism: int, backoffLimit: int, selector, template, manualSelector: bool,
      activeDeadlineSeconds: int, ttlSecondsAfterFinished: int, completionMode: str, suspend: bool, podFailurePolicy: any,
    }),
    status: any,
  }),
  NetworkPolicy: obj('NetworkPolicy', {
    metadata: meta,
    spec: obj('NetworkPolicySpec', {
      podSelector: selector, policyTypes: arr(str),
      ingress: arr(obj('NetworkPolicyIngressRule', { from: arr(obj('NetworkPolicyPeer', { podSelector: selector, namespaceSelector: selector, ipBlock: obj('IPBlock', { cidr: str, except: arr(str) }) })), ports: arr(obj('NetworkPolicyPort', { protocol: str, port: intstr, endPort: int })) })),
      egress: arr(obj('NetworkPolicyEgressRule', { to: arr(obj('NetworkPolicyPeer', { podSelector: selector, namespaceSelector: selector, ipBlock: obj('IPBlock', { cidr: str, except: arr(str) }) })), ports: arr(obj('NetworkPolicyPort', { protocol: str, port: intstr, endPort: int })) })),
    }),
  }),
};

const GO_TYPE: Readonly<Record<string, string>> = { str: 'string', int: 'int32', num: 'float64', bool: 'bool', map: 'map[string]string', arr: 'array', obj: 'object', qty: 'map[ResourceName]Quantity' };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const jsType = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'object' ? 'object' : typeof v === 'number' ? 'number' : typeof v);

// ---- the loader

interface Ctx {
  file: string;
  /** field path → line, for the current document */
  lines: Map<string, number>;
  docLine: number;
  warnings: ManifestWarning[];
}

/** The line of field 'path', else of the nearest enclosing field that has one, else the document's. */
const lineOf = (ctx: Ctx, path: string): number => linesLineOf(ctx.lines, path, ctx.docLine);

/**
 * Record the line of every field of YAML node 'n' under 'path' (yaml-lines.ts). A key that is a
 * mapping or a sequence (`? {a: 1}`) has no JSON form: refused as the API server's YAML to JSON
 * conversion refuses it, on the key's line.
 */
function indexLines(n: YamlNode | null | undefined, path: string, lc: LineCounter, out: Map<string, number>, file: string): void {
  indexYamlLines(n, path, lc, out, (line, at) => {
    throw new ManifestError('K8S_BAD_YAML', file, line, at, 'error converting YAML to JSON: yaml: invalid map key: a mapping or a sequence');
  });
}

/**
 * Read every object of YAML 'text' ('file' names it in messages). Returns
 * the objects, defaulted and validated, with their warnings; throws
 * ManifestError on the first object that cannot be created.
 */
export function loadManifests(text: string, opts: { file?: string } = {}): LoadedManifests {
  const file = opts.file ?? '';
  const out: LoadedManifests = { objects: [], lines: [], warnings: [] };
  const lc = new LineCounter();
  let docs;
  try {
    docs = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, logLevel: 'error' });
  } catch (e) {
    throw new ManifestError('K8S_BAD_YAML', file, 1, '', `error parsing ${file || 'YAML'}: ${(e as Error).message}`);
  }
  if (!Array.isArray(docs)) docs = [docs];
  for (const doc of docs) {
    const err = doc.errors[0];
    if (err) {
      throw new ManifestError('K8S_BAD_YAML', file, lc.linePos(err.pos[0]).line, '', `error converting YAML to JSON: ${err.message.split('\n')[0]}`);
    }
    const root = doc.contents as YamlNode | null;
    if (root === null || (isScalar(root) && (root.value === null || root.value === undefined))) continue;
    const lines = new Map<string, number>();
    indexLines(root, '', lc, lines, file);
    const docLine = root.range ? lc.linePos(root.range[0]).line : 1;
    let js: unknown;
    try {
      js = doc.toJS({ maxAliasCount: 1000 });
    } catch (e) {
      throw new ManifestError('K8S_BAD_YAML', file, docLine, '', `error converting YAML to JSON: ${(e as Error).message}`);
    }
    const ctx: Ctx = { file, lines, docLine, warnings: out.warnings };
    if (!isObj(js)) throw new ManifestError('K8S_BAD_OBJECT', file, docLine, '', `error validating data: the document is a ${jsType(js)}, not an object`);
    if (js.kind === 'List' && js.apiVersion === 'v1') {
      const items = js.items ?? [];
      if (!Array.isArray(items)) throw new ManifestError('K8S_DECODE', file, lineOf(ctx, 'items'), 'items', 'error validating data: items must be an array');
      items.forEach((item, i) => {
        const sub = new Map<string, number>();
        for (const [p, l] of lines) if (p.startsWith(`items[${i}]`)) sub.set(p.slice(`items[${i}]`.length).replace(/^\./, ''), l);
        const line = lines.get(`items[${i}]`) ?? docLine;
        loadOne(item, { ...ctx, lines: sub, docLine: line }, out);
      });
      continue;
    }
    loadOne(js, ctx, out);
  }
  return out;
}

function loadOne(js: unknown, ctx: Ctx, out: LoadedManifests): void {
  const fail = (code: string, path: string, msg: string): never => {
    throw new ManifestError(code, ctx.file, lineOf(ctx, path), path, msg);
  };
  if (!isObj(js)) return fail('K8S_BAD_OBJECT', '', `error validating data: the item is a ${jsType(js)}, not an object`);
  const missing = [typeof js.apiVersion !== 'string' || js.apiVersion === '' ? 'apiVersion not set' : '', typeof js.kind !== 'string' || js.kind === '' ? 'kind not set' : ''].filter(Boolean);
  if (missing.length) return fail('K8S_MISSING_KIND', missing[0]!.startsWith('api') ? 'apiVersion' : 'kind', `error validating data: [${missing.join(', ')}]`);
  const kind = js.kind as string, version = js.apiVersion as string;
  if (!Object.prototype.hasOwnProperty.call(API_VERSIONS, kind) || API_VERSIONS[kind as Kind] !== version) {
    return fail('K8S_NO_KIND_MATCH', 'apiVersion', `no matches for kind "${kind}" in version "${version}"`);
  }
  const k = kind as Kind;
  const decoded = decode(js, TOP[k], '', ctx, k, version) as KubeObject & Obj;
  decoded.apiVersion = version as never;
  decoded.kind = k as never;
  if (!isObj(decoded.metadata)) decoded.metadata = { name: '' } as never;
  applyDefaults(decoded);
  const errs = validate(decoded);
  if (errs.length) {
    const name = decoded.metadata.name ?? '';
    const text = errs.map((e) => `${e.path}: ${e.msg}`);
    fail('K8S_INVALID', errs[0]!.path, `${k} "${name}" is invalid: ${text.length === 1 ? text[0] : `[${text.join(', ')}]`}`);
  }
  out.objects.push(decoded);
  out.lines.push(ctx.docLine);
}

/** Step 1: check types against 's', drop unknown fields with a warning. */
function decode(v: unknown, s: S, path: string, ctx: Ctx, kind: Kind, version: string): unknown {
  const bad = (want: string): never => {
    const got = jsType(v);
    throw new ManifestError('K8S_DECODE', ctx.file, lineOf(ctx, path), path,
      `${kind} in version "${version}" cannot be handled as a ${kind}: json: cannot unmarshal ${got} into Go struct field ${path} of type ${want}`);
  };
  switch (s.t) {
    case 'any': return v;
    case 'str': return typeof v === 'string' ? v : v === null ? undefined : bad('string');
    case 'int': return typeof v === 'number' && Number.isInteger(v) ? v : v === null ? undefined : bad('int32');
    case 'num': return typeof v === 'number' ? v : bad('float64');
    case 'bool': return typeof v === 'boolean' ? v : v === null ? undefined : bad('bool');
    case 'intstr':
      if (typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v))) return v;
      return v === null ? undefined : bad('intstr.IntOrString');
    case 'map': {
      if (v === null) return undefined;
      if (!isObj(v)) return bad(GO_TYPE.map!);
      for (const [k, x] of Object.entries(v)) {
        if (typeof x !== 'string') {
          throw new ManifestError('K8S_DECODE', ctx.file, lineOf(ctx, `${path}.${k}`), `${path}.${k}`,
            `${kind} in version "${version}" cannot be handled as a ${kind}: json: cannot unmarshal ${jsType(x)} into Go struct field ${path} of type string`);
        }
      }
      return { ...v };
    }
    case 'qty': {
      if (v === null) return undefined;
      if (!isObj(v)) return bad(GO_TYPE.qty!);
      const o: Record<string, string> = {};
      for (const [k, x] of Object.entries(v)) {
        const p = `${path}[${k}]`;
        if (typeof x !== 'string' && typeof x !== 'number') {
          throw new ManifestError('K8S_DECODE', ctx.file, lineOf(ctx, `${path}.${k}`), p,
            `${kind} in version "${version}" cannot be handled as a ${kind}: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`);
        }
        try {
          parseQuantity(x);
        } catch {
          throw new ManifestError('K8S_DECODE', ctx.file, lineOf(ctx, `${path}.${k}`), p,
            `${kind} in version "${version}" cannot be handled as a ${kind}: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`);
        }
        o[k] = String(x);
      }
      return o;
    }
    case 'arr':
      if (v === null) return undefined;
      if (!Array.isArray(v)) return bad(`[]${s.of.t === 'obj' ? s.of.go : GO_TYPE[s.of.t] ?? 'value'}`);
      return v.map((x, i) => {
        const d = decode(x, s.of, `${path}[${i}]`, ctx, kind, version);
        return d !== undefined ? d : s.of.t === 'obj' || s.of.t === 'map' || s.of.t === 'qty' ? {} : s.of.t === 'str' ? '' : s.of.t === 'bool' ? false : 0;
      });
    case 'obj': {
      if (v === null) return undefined;
      if (!isObj(v)) return bad(s.go);
      const o: Obj = {};
      for (const [k, x] of Object.entries(v)) {
        const p = path ? `${path}.${k}` : k;
        if (!path && (k === 'apiVersion' || k === 'kind')) continue;
        const fs = Object.prototype.hasOwnProperty.call(s.f, k) ? s.f[k] : undefined;
        if (!fs) {
          ctx.warnings.push({ message: `unknown field "${p}"`, path: p, line: lineOf(ctx, p) });
          continue;
        }
        const d = decode(x, fs, p, ctx, kind, version);
        if (d !== undefined) o[k] = d;
      }
      return o;
    }
  }
}

// ---- step 2: defaults

function defaultPodSpec(spec: PodSpec | undefined, restartPolicy: boolean): void {
  if (!isObj(spec)) return;
  if (restartPolicy) spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  for (const c of [...(spec.containers ?? []), ...(((spec as Obj).initContainers as PodSpec['containers'] | undefined) ?? [])]) {
    for (const p of c.ports ?? []) p.protocol ??= 'TCP';
  }
}

/**
 * Fill in what the API server's defaulters would for 'o' (in place;
 * idempotent). The control plane calls it for objects created through its
 * API without a manifest.
 */
export function defaultObject(o: KubeObject): void {
  applyDefaults(o as KubeObject & Obj);
}

function applyDefaults(o: KubeObject & Obj): void {
  const md = o.metadata;
  if (NAMESPACED.has(o.kind)) md.namespace ??= 'default';
  switch (o.kind) {
    case 'Pod': defaultPodSpec(o.spec, true); break;
    case 'Service': {
      const s = (o.spec ??= {});
      s.type ??= 'ClusterIP';
      s.sessionAffinity ??= 'None';
      if (s.sessionAffinity === 'ClientIP') {
        s.sessionAffinityConfig ??= {};
        s.sessionAffinityConfig.clientIP ??= {};
        s.sessionAffinityConfig.clientIP.timeoutSeconds ??= 10800;
      }
      if (s.type !== 'ExternalName') s.internalTrafficPolicy ??= 'Cluster';
      if (s.type === 'NodePort' || s.type === 'LoadBalancer') s.externalTrafficPolicy ??= 'Cluster';
      for (const p of s.ports ?? []) {
        p.protocol ??= 'TCP';
        if (p.targetPort === undefined || p.targetPort === 0 || p.targetPort === '') p.targetPort = p.port;
      }
      break;
    }
    case 'Deployment': {
      const s = o.spec;
      if (!isObj(s)) break;
      s.replicas ??= 1;
      s.strategy ??= {};
      s.strategy.type ??= 'RollingUpdate';
      if (s.strategy.type === 'RollingUpdate') {
        s.strategy.rollingUpdate ??= {};
        s.strategy.rollingUpdate.maxSurge ??= '25%';
        s.strategy.rollingUpdate.maxUnavailable ??= '25%';
      }
      defaultPodSpec(s.template?.spec, true);
      break;
    }
    case 'ReplicaSet': case 'StatefulSet': case 'DaemonSet': {
      const s = o.spec as Obj & { template?: { spec?: PodSpec } };
      if (!isObj(s)) break;
      if (o.kind !== 'DaemonSet') s.replicas ??= 1;
      if (o.kind === 'StatefulSet') s.podManagementPolicy ??= 'OrderedReady';
      defaultPodSpec(s.template?.spec, true);
      break;
    }
    case 'Job': {
      const s = o.spec;
      if (!isObj(s)) break;
      if (s.completions === undefined && s.parallelism === undefined) s.completions = 1;
      s.parallelism ??= 1;
      s.backoffLimit ??= 6;
      defaultPodSpec(s.template?.spec, false);
      break;
    }
    case 'EndpointSlice':
      for (const p of o.ports ?? []) p.protocol ??= 'TCP';
      o.endpoints ??= [];
      break;
    case 'NetworkPolicy': {
      const s = o.spec;
      if (!isObj(s)) break;
      s.podSelector ??= {};
      s.policyTypes ??= s.egress !== undefined ? ['Ingress', 'Egress'] : ['Ingress'];
      for (const r of [...(s.ingress ?? []), ...(s.egress ?? [])]) for (const p of r.ports ?? []) p.protocol ??= 'TCP';
      break;
    }
    default: break;
  }
}

// ---- step 3: validation

interface FieldError { path: string; msg: string }

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const IANA_SVC_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const IPV4 = /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;

const goValue = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : String(v));
const supported = (vals: readonly string[]): string => `supported values: ${[...vals].sort().map((x) => `"${x}"`).join(', ')}`;

class Errs {
  readonly list: FieldError[] = [];
  add(path: string, msg: string): void {
    this.list.push({ path, msg });
  }
  required(path: string, detail = ''): void {
    this.add(path, `Required value${detail ? `: ${detail}` : ''}`);
  }
  invalid(path: string, v: unknown, detail: string): void {
    this.add(path, `Invalid value: ${goValue(v)}: ${detail}`);
  }
  enumOf(path: string, v: unknown, vals: readonly string[]): void {
    if (v !== undefined && !vals.includes(v as string)) this.add(path, `Unsupported value: ${goValue(v)}: ${supported(vals)}`);
  }
  port(path: string, v: number | undefined, required = true): void {
    if (v === undefined) {
      if (required) this.required(path);
    } else if (v < 1 || v > 65535) this.invalid(path, v, 'must be between 1 and 65535, inclusive');
  }
  nonNegative(path: string, v: number | undefined): void {
    if (v !== undefined && v < 0) this.invalid(path, v, 'must be greater than or equal to 0');
  }
}

const PROTOCOLS = ['SCTP', 'TCP', 'UDP'] as const;

function validateName(e: Errs, kind: Kind, name: string | undefined, generateName: string | undefined): void {
  if (!name) {
    if (!generateName) e.required('metadata.name', 'name or generateName is required');
    return;
  }
  if (kind === 'Service') {
    if (!DNS1035_LABEL.test(name) || name.length > 63) {
      e.invalid('metadata.name', name, "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')");
    }
  } else if (kind === 'Namespace') {
    if (!DNS1123_LABEL.test(name) || name.length > 63) {
      e.invalid('metadata.name', name, "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')");
    }
  } else if (!DNS1123_SUBDOMAIN.test(name) || name.length > 253) {
    e.invalid('metadata.name', name, "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
  }
}

const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Label keys ([prefix/]name) and values, as validation.ValidateLabels checks them. */
function validateLabels(e: Errs, path: string, labels: Record<string, string> | undefined): void {
  for (const [k, v] of Object.entries(labels ?? {})) {
    const slash = k.lastIndexOf('/');
    const prefix = slash >= 0 ? k.slice(0, slash) : undefined, name = slash >= 0 ? k.slice(slash + 1) : k;
    if (!LABEL_NAME.test(name) || name.length > 63) {
      e.invalid(path, k, "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')");
    } else if (prefix !== undefined && (!DNS1123_SUBDOMAIN.test(prefix) || prefix.length > 253)) {
      e.invalid(path, k, "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
    }
    if (!LABEL_VALUE.test(v) || v.length > 63) {
      e.invalid(path, v, v.length > 63 ? 'must be no more than 63 characters'
        : "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')");
    }
  }
}

function validateSelector(e: Errs, path: string, sel: LabelSelector | undefined): void {
  validateLabels(e, `${path}.matchLabels`, sel?.matchLabels);
  (sel?.matchExpressions ?? []).forEach((r, i) => {
    const p = `${path}.matchExpressions[${i}]`;
    if (!r.key) e.required(`${p}.key`);
    e.enumOf(`${p}.operator`, r.operator, ['In', 'NotIn', 'Exists', 'DoesNotExist']);
    if ((r.operator === 'In' || r.operator === 'NotIn') && !(r.values ?? []).length) e.required(`${p}.values`, 'must be specified when `operator` is \'In\' or \'NotIn\'');
    if ((r.operator === 'Exists' || r.operator === 'DoesNotExist') && (r.values ?? []).length) e.add(`${p}.values`, 'Forbidden: may not be specified when `operator` is \'Exists\' or \'DoesNotExist\'');
  });
}

function validatePodSpec(e: Errs, path: string, spec: PodSpec | undefined, restart: readonly string[] | null): void {
  if (!isObj(spec)) {
    e.required(`${path}.containers`);
    return;
  }
  if (!spec.containers?.length) e.required(`${path}.containers`);
  const names = new Set<string>();
  (spec.containers ?? []).forEach((c, i) => {
    const p = `${path}.containers[${i}]`;
    if (!c.name) e.required(`${p}.name`);
    else if (names.has(c.name)) e.add(`${p}.name`, `Duplicate value: ${goValue(c.name)}`);
    else names.add(c.name);
    const portNames = new Set<string>();
    (c.ports ?? []).forEach((cp, j) => {
      const pp = `${p}.ports[${j}]`;
      e.port(`${pp}.containerPort`, cp.containerPort);
      e.port(`${pp}.hostPort`, cp.hostPort, false);
      e.enumOf(`${pp}.protocol`, cp.protocol, PROTOCOLS);
      if (cp.name !== undefined) {
        if (!IANA_SVC_NAME.test(cp.name) || cp.name.length > 15 || !/[a-z]/.test(cp.name) || cp.name.includes('--')) {
          e.invalid(`${pp}.name`, cp.name, 'must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-), at most 15 characters, and at least one letter');
        } else if (portNames.has(cp.name)) e.add(`${pp}.name`, `Duplicate value: ${goValue(cp.name)}`);
        portNames.add(cp.name);
      }
    });
    for (const which of ['requests', 'limits'] as const) {
      for (const [r, q] of Object.entries(c.resources?.[which] ?? {})) {
        if (parseQuantity(q) < 0) e.invalid(`${p}.resources.${which}[${r}]`, q, 'must be greater than or equal to 0');
      }
    }
  });
  if (restart) {
    if (spec.restartPolicy === undefined) e.required(`${path}.restartPolicy`, `valid values: ${restart.map((x) => `"${x}"`).join(', ')}`);
    else e.enumOf(`${path}.restartPolicy`, spec.restartPolicy, restart);
  }
  (spec.tolerations ?? []).forEach((t, i) => {
    const p = `${path}.tolerations[${i}]`;
    e.enumOf(`${p}.operator`, t.operator, ['Equal', 'Exists']);
    e.enumOf(`${p}.effect`, t.effect, ['NoExecute', 'NoSchedule', 'PreferNoSchedule']);
    if (t.operator === 'Exists' && t.value) e.invalid(`${p}.operator`, t.operator, 'value must be empty when `operator` is \'Exists\'');
    if (!t.key && t.operator !== 'Exists') e.invalid(`${p}.operator`, t.operator ?? '', 'operator must be Exists when `key` is empty, which means "match all values and all keys"');
    if (t.tolerationSeconds !== undefined && t.effect !== 'NoExecute') e.invalid(`${p}.effect`, t.effect ?? '', 'effect must be \'NoExecute\' when `tolerationSeconds` is set');
  });
  const na = spec.affinity?.nodeAffinity;
  (na?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? []).forEach((t, i) => {
    validateSelector(e, `${path}.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[${i}]`, { matchExpressions: t.matchExpressions });
  });
  if (na?.requiredDuringSchedulingIgnoredDuringExecution && !na.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms?.length) {
    e.required(`${path}.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`, 'must have at least one node selector term');
  }
  (na?.preferredDuringSchedulingIgnoredDuringExecution ?? []).forEach((t, i) => {
    if (t.weight === undefined || t.weight < 1 || t.weight > 100) e.invalid(`${path}.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[${i}].weight`, t.weight ?? 0, 'must be in the range 1-100');
  });
  for (const which of ['podAffinity', 'podAntiAffinity'] as const) {
    (spec.affinity?.[which]?.requiredDuringSchedulingIgnoredDuringExecution ?? []).forEach((t, i) => {
      if (!t.topologyKey) e.required(`${path}.affinity.${which}.requiredDuringSchedulingIgnoredDuringExecution[${i}].topologyKey`, 'can not be empty');
    });
  }
}

/** The template checks every workload shares: selector present, matching the template's labels. */
function validateWorkload(e: Errs, spec: { selector?: LabelSelector; template?: { metadata?: { labels?: Record<string, string> }; spec: PodSpec } } | undefined, restart: readonly string[], selectorRequired = true): void {
  if (!isObj(spec)) {
    e.required('spec');
    return;
  }
  if (spec.selector === undefined) {
    if (selectorRequired) e.required('spec.selector');
  } else {
    validateSelector(e, 'spec.selector', spec.selector);
    if (!spec.selector.matchLabels && !spec.selector.matchExpressions?.length) {
      e.invalid('spec.selector', 'v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}', 'empty selector is invalid for deployment');
    }
  }
  if (!isObj(spec.template)) {
    e.required('spec.template');
    return;
  }
  validateLabels(e, 'spec.template.metadata.labels', spec.template.metadata?.labels);
  const labels = spec.template.metadata?.labels ?? {};
  if (spec.selector && !matchesSelector(labels, spec.selector)) {
    const m = Object.keys(labels).sort().map((k) => `${JSON.stringify(k)}:${JSON.stringify(labels[k])}`).join(', ');
    e.add('spec.template.metadata.labels', `Invalid value: map[string]string{${m}}: \`selector\` does not match template \`labels\``);
  }
  validatePodSpec(e, 'spec.template.spec', spec.template.spec, restart);
}

const intOrPercent = (e: Errs, path: string, v: number | string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  if (typeof v === 'number') {
    e.nonNegative(path, v);
    return v;
  }
  const m = /^([0-9]+)%$/.exec(v);
  if (!m) {
    e.invalid(path, v, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')");
    return undefined;
  }
  if (Number(m[1]) > 100) e.invalid(path, v, 'must not be greater than 100%');
  return Number(m[1]);
};

function validateService(e: Errs, s: NonNullable<import('./api.js').Service['spec']>): void {
  const TYPES = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];
  validateLabels(e, 'spec.selector', s.selector);
  e.enumOf('spec.type', s.type, TYPES);
  e.enumOf('spec.sessionAffinity', s.sessionAffinity, ['ClientIP', 'None']);
  e.enumOf('spec.internalTrafficPolicy', s.internalTrafficPolicy, ['Cluster', 'Local']);
  const t = s.sessionAffinityConfig?.clientIP?.timeoutSeconds;
  if (t !== undefined && (t < 1 || t > 86400)) e.invalid('spec.sessionAffinityConfig.clientIP.timeoutSeconds', t, 'must be greater than 0 and less than 86400');
  if (s.externalTrafficPolicy !== undefined) {
    if (s.type !== 'NodePort' && s.type !== 'LoadBalancer') {
      e.invalid('spec.externalTrafficPolicy', s.externalTrafficPolicy, "may only be set when `type` is 'NodePort' or 'LoadBalancer'");
    } else e.enumOf('spec.externalTrafficPolicy', s.externalTrafficPolicy, ['Cluster', 'Local']);
  }
  if (s.type === 'ExternalName') {
    if (!s.externalName) e.required('spec.externalName');
    return;
  }
  const headless = s.clusterIP === 'None';
  if (s.clusterIP !== undefined && s.clusterIP !== '' && !headless && !IPV4.test(s.clusterIP)) {
    e.invalid('spec.clusterIPs[0]', s.clusterIP, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)');
  }
  if (headless && (s.type === 'NodePort' || s.type === 'LoadBalancer')) e.invalid('spec.clusterIPs[0]', 'None', `may not be set to 'None' for ${s.type} services`);
  (s.externalIPs ?? []).forEach((ip, i) => { if (!IPV4.test(ip)) e.invalid(`spec.externalIPs[${i}]`, ip, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'); });
  if (s.loadBalancerIP !== undefined && s.loadBalancerIP !== '' && !IPV4.test(s.loadBalancerIP)) e.invalid('spec.loadBalancerIP', s.loadBalancerIP, 'must be a valid IP address');
  const ports = s.ports ?? [];
  if (!ports.length && !headless) e.required('spec.ports');
  const names = new Set<string>();
  const seen = new Set<string>();
  ports.forEach((p, i) => {
    const path = `spec.ports[${i}]`;
    if (ports.length > 1 && !p.name) e.required(`${path}.name`);
    if (p.name) {
      if (!IANA_SVC_NAME.test(p.name) && !DNS1123_LABEL.test(p.name)) e.invalid(`${path}.name`, p.name, "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character");
      if (names.has(p.name)) e.add(`${path}.name`, `Duplicate value: ${goValue(p.name)}`);
      names.add(p.name);
    }
    e.port(`${path}.port`, p.port);
    e.enumOf(`${path}.protocol`, p.protocol, PROTOCOLS);
    if (typeof p.targetPort === 'number') e.port(`${path}.targetPort`, p.targetPort);
    else if (typeof p.targetPort === 'string' && (!IANA_SVC_NAME.test(p.targetPort) || p.targetPort.length > 15 || !/[a-z]/.test(p.targetPort))) {
      e.invalid(`${path}.targetPort`, p.targetPort, 'must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-), at most 15 characters, and at least one letter');
    }
    if (p.nodePort !== undefined) {
      if (s.type === 'ClusterIP') e.add(`${path}.nodePort`, "Forbidden: may not be used when `type` is 'ClusterIP'");
      else e.port(`${path}.nodePort`, p.nodePort);
    }
    const k = `${p.port}/${p.protocol}`;
    if (seen.has(k)) e.add(path, `Duplicate value: core.ServicePort{Name:${goValue(p.name ?? '')}, Protocol:${goValue(p.protocol)}, Port:${p.port}}`);
    seen.add(k);
  });
}

/** The field errors the API server's validation finds in 'o' (empty when valid). */
export function validateObject(o: KubeObject): { path: string; msg: string }[] {
  return validate(o);
}

function validate(o: KubeObject): FieldError[] {
  const e = new Errs();
  validateName(e, o.kind, o.metadata.name, o.metadata.generateName);
  validateLabels(e, 'metadata.labels', o.metadata.labels);
  if (NAMESPACED.has(o.kind) && o.metadata.namespace !== undefined && !DNS1123_LABEL.test(o.metadata.namespace)) {
    e.invalid('metadata.namespace', o.metadata.namespace, "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character");
  }
  switch (o.kind) {
    case 'Pod': validatePodSpec(e, 'spec', o.spec, ['Always', 'Never', 'OnFailure']); break;
    case 'Service': validateService(e, o.spec ?? {}); break;
    case 'Deployment': {
      validateWorkload(e, o.spec, ['Always']);
      e.nonNegative('spec.replicas', o.spec?.replicas);
      const st = o.spec?.strategy;
      e.enumOf('spec.strategy.type', st?.type, ['Recreate', 'RollingUpdate']);
      if (st?.type === 'Recreate' && st.rollingUpdate) e.add('spec.strategy.rollingUpdate', "Forbidden: may not be specified when strategy `type` is 'Recreate'");
      if (st?.type === 'RollingUpdate' && st.rollingUpdate) {
        const surge = intOrPercent(e, 'spec.strategy.rollingUpdate.maxSurge', st.rollingUpdate.maxSurge);
        const unav = intOrPercent(e, 'spec.strategy.rollingUpdate.maxUnavailable', st.rollingUpdate.maxUnavailable);
        if (surge === 0 && unav === 0) e.invalid('spec.strategy.rollingUpdate.maxUnavailable', st.rollingUpdate.maxUnavailable, 'may not be 0 when `maxSurge` is 0');
      }
      break;
    }
    case 'ReplicaSet': validateWorkload(e, o.spec, ['Always']); e.nonNegative('spec.replicas', o.spec?.replicas); break;
    case 'DaemonSet': validateWorkload(e, o.spec, ['Always']); break;
    case 'StatefulSet':
      validateWorkload(e, o.spec, ['Always']);
      e.nonNegative('spec.replicas', o.spec?.replicas);
      e.enumOf('spec.podManagementPolicy', o.spec?.podManagementPolicy, ['OrderedReady', 'Parallel']);
      break;
    case 'Job':
      validateWorkload(e, o.spec, ['OnFailure', 'Never'], false);
      e.nonNegative('spec.completions', o.spec?.completions);
      e.nonNegative('spec.parallelism', o.spec?.parallelism);
      e.nonNegative('spec.backoffLimit', o.spec?.backoffLimit);
      break;
    case 'Node':
      (o.spec?.taints ?? []).forEach((t, i) => {
        if (!t.key) e.required(`spec.taints[${i}].key`);
        if (!t.effect) e.required(`spec.taints[${i}].effect`);
        else e.enumOf(`spec.taints[${i}].effect`, t.effect, ['NoExecute', 'NoSchedule', 'PreferNoSchedule']);
      });
      (o.status?.addresses ?? []).forEach((a, i) => e.enumOf(`status.addresses[${i}].type`, a.type, ['ExternalDNS', 'ExternalIP', 'Hostname', 'InternalDNS', 'InternalIP']));
      break;
    case 'EndpointSlice':
      if (!o.addressType) e.required('addressType');
      else e.enumOf('addressType', o.addressType, ['FQDN', 'IPv4', 'IPv6']);
      (o.endpoints ?? []).forEach((ep, i) => {
        if (!ep.addresses?.length) e.required(`endpoints[${i}].addresses`, 'must contain at least 1 address');
        if (o.addressType === 'IPv4') (ep.addresses ?? []).forEach((a, j) => { if (!IPV4.test(a)) e.invalid(`endpoints[${i}].addresses[${j}]`, a, 'must be a valid IPv4 address'); });
      });
      (o.ports ?? []).forEach((p, i) => {
        e.port(`ports[${i}].port`, p.port, false);
        e.enumOf(`ports[${i}].protocol`, p.protocol, PROTOCOLS);
      });
      break;
    case 'NetworkPolicy': {
      const s = o.spec;
      if (!isObj(s)) {
        e.required('spec');
        break;
      }
      validateSelector(e, 'spec.podSelector', s.podSelector);
      (s.policyTypes ?? []).forEach((t, i) => e.enumOf(`spec.policyTypes[${i}]`, t, ['Egress', 'Ingress']));
      for (const dir of ['ingress', 'egress'] as const) {
        (s[dir] ?? []).forEach((r, i) => {
          const peers = dir === 'ingress' ? (r as { from?: import('./api.js').NetworkPolicyPeer[] }).from : (r as { to?: import('./api.js').NetworkPolicyPeer[] }).to;
          (peers ?? []).forEach((peer, j) => {
            const p = `spec.${dir}[${i}].${dir === 'ingress' ? 'from' : 'to'}[${j}]`;
            if (peer.ipBlock) {
              if (peer.podSelector || peer.namespaceSelector) e.add(p, 'Forbidden: may not specify both ipBlock and another peer');
              if (!/^([0-9.]+)\/([0-9]{1,2})$/.test(peer.ipBlock.cidr ?? '') || !IPV4.test(peer.ipBlock.cidr.split('/')[0]!) || Number(peer.ipBlock.cidr.split('/')[1]) > 32) {
                e.invalid(`${p}.ipBlock.cidr`, peer.ipBlock.cidr ?? '', 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)');
              }
            } else if (!peer.podSelector && !peer.namespaceSelector) e.required(p, 'must specify a peer');
          });
          (r.ports ?? []).forEach((pt, j) => {
            const p = `spec.${dir}[${i}].ports[${j}]`;
            e.enumOf(`${p}.protocol`, pt.protocol, PROTOCOLS);
            if (typeof pt.port === 'number') e.port(`${p}.port`, pt.port);
            if (pt.endPort !== undefined && (typeof pt.port !== 'number' || pt.endPort < pt.port)) e.invalid(`${p}.endPort`, pt.endPort, 'must be greater than or equal to `port`');
          });
        });
      }
      break;
    }
    default: break;
  }
  return e.list;
}
