/**
 * Kubernetes API objects (k8s layer): the shapes of the objects users write
 * in YAML, with the API's own field names (v1 Pod, Service, Namespace, Node;
 * apps/v1 Deployment, ReplicaSet, DaemonSet, StatefulSet; batch/v1 Job;
 * discovery.k8s.io/v1 EndpointSlice; networking.k8s.io/v1 NetworkPolicy).
 *
 * What: types only — the subset of each object the emulator reads, as the
 * API server serves it (JSON names, optional where the API defaults them).
 * Quantities (`cpu: 500m`, `memory: 1Gi`) stay strings here; the scheduler
 * parses them. Every other module of k8s/ (manifests, controllers, the
 * scheduler, the CNI, kube-proxy) speaks these types, so they are the one
 * place the object model is written down.
 * Neighbours: manifest.ts (YAML → these, with validation), the controllers,
 * kube-proxy/ (Services and EndpointSlices in, rules out).
 */

export interface ObjectMeta {
  name: string;
  namespace?: string;
  /** set by the emulator's API store when an object is created */
  uid?: string;
  generateName?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  /** set when deletion starts (a terminating pod) */
  deletionTimestamp?: string;
  creationTimestamp?: string;
  resourceVersion?: string;
  generation?: number;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
}

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export type Protocol = 'TCP' | 'UDP' | 'SCTP';

// ---- core/v1

export interface Namespace {
  apiVersion: 'v1'; kind: 'Namespace';
  metadata: ObjectMeta;
}

export interface Taint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
}

export interface NodeAddress {
  type: 'InternalIP' | 'ExternalIP' | 'Hostname';
  address: string;
}

export interface Node {
  apiVersion: 'v1'; kind: 'Node';
  metadata: ObjectMeta;
  spec?: {
    podCIDR?: string;
    podCIDRs?: string[];
    taints?: Taint[];
    unschedulable?: boolean;
  };
  status?: {
    capacity?: Record<string, string>;
    allocatable?: Record<string, string>;
    addresses?: NodeAddress[];
    conditions?: { type: string; status: 'True' | 'False' | 'Unknown'; reason?: string; message?: string }[];
  };
}

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: Protocol;
  hostPort?: number;
}

export interface Container {
  name: string;
  image?: string;
  ports?: ContainerPort[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  readinessProbe?: Record<string, unknown>;
}

export interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  tolerationSeconds?: number;
}

export interface NodeSelectorTerm {
  matchExpressions?: LabelSelectorRequirement[];
  matchFields?: LabelSelectorRequirement[];
}

export interface PodAffinityTerm {
  labelSelector?: LabelSelector;
  namespaces?: string[];
  topologyKey: string;
}

export interface Affinity {
  nodeAffinity?: {
    requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms: NodeSelectorTerm[] };
    preferredDuringSchedulingIgnoredDuringExecution?: { weight: number; preference: NodeSelectorTerm }[];
  };
  podAffinity?: {
    requiredDuringSchedulingIgnoredDuringExecution?: PodAffinityTerm[];
  };
  podAntiAffinity?: {
    requiredDuringSchedulingIgnoredDuringExecution?: PodAffinityTerm[];
    preferredDuringSchedulingIgnoredDuringExecution?: { weight: number; podAffinityTerm: PodAffinityTerm }[];
  };
}

export interface PodSpec {
  containers: Container[];
  nodeName?: string;
  nodeSelector?: Record<string, string>;
  affinity?: Affinity;
  tolerations?: Toleration[];
  hostNetwork?: boolean;
  hostname?: string;
  subdomain?: string;
  restartPolicy?: 'Always' | 'OnFailure' | 'Never';
  terminationGracePeriodSeconds?: number;
}

export interface PodCondition {
  type: 'PodScheduled' | 'Ready' | 'ContainersReady' | 'Initialized';
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
}

export interface Pod {
  apiVersion: 'v1'; kind: 'Pod';
  metadata: ObjectMeta;
  spec: PodSpec;
  status?: {
    phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
    conditions?: PodCondition[];
    hostIP?: string;
    podIP?: string;
    podIPs?: { ip: string }[];
  };
}

export interface PodTemplateSpec {
  metadata?: Omit<ObjectMeta, 'name'> & { name?: string };
  spec: PodSpec;
}

export interface ServicePort {
  name?: string;
  protocol?: Protocol;
  port: number;
  /** a number or the name of a container port */
  targetPort?: number | string;
  nodePort?: number;
  appProtocol?: string;
}

export interface ServiceSpec {
  type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
  selector?: Record<string, string>;
  ports?: ServicePort[];
  /** 'None' for a headless Service */
  clusterIP?: string;
  clusterIPs?: string[];
  ipFamilies?: ('IPv4' | 'IPv6')[];
  externalIPs?: string[];
  loadBalancerIP?: string;
  loadBalancerSourceRanges?: string[];
  externalTrafficPolicy?: 'Cluster' | 'Local';
  internalTrafficPolicy?: 'Cluster' | 'Local';
  healthCheckNodePort?: number;
  sessionAffinity?: 'None' | 'ClientIP';
  sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } };
  externalName?: string;
  publishNotReadyAddresses?: boolean;
}

export interface Service {
  apiVersion: 'v1'; kind: 'Service';
  metadata: ObjectMeta;
  spec: ServiceSpec;
  status?: { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } };
}

// ---- discovery.k8s.io/v1

export interface EndpointConditions {
  /** nil means ready */
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

export interface Endpoint {
  addresses: string[];
  conditions?: EndpointConditions;
  hostname?: string;
  nodeName?: string;
  zone?: string;
  targetRef?: { kind: string; namespace?: string; name: string; uid?: string };
  hints?: { forZones?: { name: string }[] };
}

export interface EndpointPort {
  name?: string;
  protocol?: Protocol;
  port?: number;
  appProtocol?: string;
}

export interface EndpointSlice {
  apiVersion: 'discovery.k8s.io/v1'; kind: 'EndpointSlice';
  /** labels carry `kubernetes.io/service-name` */
  metadata: ObjectMeta;
  addressType: 'IPv4' | 'IPv6' | 'FQDN';
  endpoints: Endpoint[];
  ports?: EndpointPort[];
}

// ---- apps/v1, batch/v1

export interface RollingUpdate {
  maxSurge?: number | string;
  maxUnavailable?: number | string;
}

export interface Deployment {
  apiVersion: 'apps/v1'; kind: 'Deployment';
  metadata: ObjectMeta;
  spec: {
    replicas?: number;
    selector: LabelSelector;
    template: PodTemplateSpec;
    strategy?: { type?: 'RollingUpdate' | 'Recreate'; rollingUpdate?: RollingUpdate };
    minReadySeconds?: number;
  };
  status?: { replicas?: number; readyReplicas?: number; updatedReplicas?: number; availableReplicas?: number };
}

export interface ReplicaSet {
  apiVersion: 'apps/v1'; kind: 'ReplicaSet';
  metadata: ObjectMeta;
  spec: { replicas?: number; selector: LabelSelector; template: PodTemplateSpec };
  status?: { replicas?: number; readyReplicas?: number };
}

export interface DaemonSet {
  apiVersion: 'apps/v1'; kind: 'DaemonSet';
  metadata: ObjectMeta;
  spec: { selector: LabelSelector; template: PodTemplateSpec };
}

export interface StatefulSet {
  apiVersion: 'apps/v1'; kind: 'StatefulSet';
  metadata: ObjectMeta;
  spec: {
    replicas?: number;
    serviceName?: string;
    selector: LabelSelector;
    template: PodTemplateSpec;
    podManagementPolicy?: 'OrderedReady' | 'Parallel';
  };
}

export interface Job {
  apiVersion: 'batch/v1'; kind: 'Job';
  metadata: ObjectMeta;
  spec: {
    completions?: number;
    parallelism?: number;
    backoffLimit?: number;
    selector?: LabelSelector;
    template: PodTemplateSpec;
  };
  status?: { succeeded?: number; failed?: number; active?: number };
}

// ---- networking.k8s.io/v1

export interface NetworkPolicyPort {
  protocol?: Protocol;
  port?: number | string;
  endPort?: number;
}

export interface NetworkPolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: { cidr: string; except?: string[] };
}

export interface NetworkPolicy {
  apiVersion: 'networking.k8s.io/v1'; kind: 'NetworkPolicy';
  metadata: ObjectMeta;
  spec: {
    podSelector: LabelSelector;
    policyTypes?: ('Ingress' | 'Egress')[];
    ingress?: { from?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }[];
    egress?: { to?: NetworkPolicyPeer[]; ports?: NetworkPolicyPort[] }[];
  };
}

export type KubeObject = Namespace | Node | Pod | Service | EndpointSlice | Deployment | ReplicaSet
  | DaemonSet | StatefulSet | Job | NetworkPolicy;

export type Kind = KubeObject['kind'];

/** The apiVersion each kind is served under. */
export const API_VERSIONS: Readonly<Record<Kind, string>> = {
  Namespace: 'v1', Node: 'v1', Pod: 'v1', Service: 'v1',
  EndpointSlice: 'discovery.k8s.io/v1',
  Deployment: 'apps/v1', ReplicaSet: 'apps/v1', DaemonSet: 'apps/v1', StatefulSet: 'apps/v1',
  Job: 'batch/v1',
  NetworkPolicy: 'networking.k8s.io/v1',
};

/** Kinds that live in a namespace ('default' when the manifest gives none). */
export const NAMESPACED: ReadonlySet<Kind> = new Set<Kind>(['Pod', 'Service', 'EndpointSlice', 'Deployment',
  'ReplicaSet', 'DaemonSet', 'StatefulSet', 'Job', 'NetworkPolicy']);
