/**
 * The control plane (k8s layer, slow path): the API store, its admission
 * (defaults, validation, Service addresses), the address allocators, the
 * scheduler, the controllers and a stand-in kubelet, run to a fixpoint
 * after every change.
 *
 * What: `ControlPlane` owns one `ApiStore`. Every store event is mapped by
 * each controller's `keysFor` into that controller's queue; `reconcile()`
 * drains the queues in a fixed order (node, deployment, replicaset,
 * daemonset, statefulset, job, scheduler, kubelet, endpointslice,
 * apiserver-endpoints) round after round until every queue is empty, so a
 * public method returns with the cluster settled: an `apply` of a
 * Deployment returns with its ReplicaSet, pods, bindings and EndpointSlices
 * written. Everything is synchronous and deterministic: names come from the
 * store's seeded RNG, addresses from lowest-free allocators, ties in the
 * scheduler break by node name.
 * Admission (on create and update): the manifest defaulters and validation
 * (`defaultObject`, `validateObject`); Services get their ClusterIP from
 * the service CIDR (10.96.0.0/12; 10.96.0.1 is the `kubernetes` Service's),
 * NodePorts (30000–32767) for NodePort and LoadBalancer types, a
 * healthCheckNodePort for LoadBalancer + externalTrafficPolicy Local, and a
 * LoadBalancer ingress IP from the configured pool (the cloud provider's
 * part; none when the pool is empty, as on a bare cluster). An update keeps
 * the addresses already given unless it names others. Pods get the
 * DefaultTolerationSeconds tolerations (not-ready / unreachable NoExecute,
 * 300 s).
 * The kubelet stand-in: a bound pod gets an IP from its node's podCIDR
 * (host-local style: .1 is the node's gateway) and the node's InternalIP
 * as hostIP; it becomes Running and Ready only when the data plane calls
 * `setPodRunning` / `setPodReady`, or at once with `autoReady`. Jobs'
 * pods finish with `setPodSucceeded` / `setPodFailed`.
 * Node lifecycle: `nodeDown(name)` sets Ready=Unknown (NodeStatusUnknown)
 * and the `node.kubernetes.io/unreachable` NoSchedule and NoExecute taints,
 * marks the node's pods not Ready (so EndpointSlices show ready=false at
 * once), and evicts them per their tolerations: immediately without one,
 * after tolerationSeconds (300 by default) on the control plane's clock —
 * then the owners recreate them on other nodes and the slices follow.
 * `nodeUp(name)` undoes it.
 * Time: `nowMs()`; `advance(ms)` / `advanceTo(ms)` run the timers due
 * (evictions, graceful deletions) in order, reconciling after each. Given
 * a `sim` (sim/engine.ts), the clock is the simulation's and timers are
 * simulation events; `advance` then runs the simulation.
 * Graceful deletion (option `gracefulTermination`): a deleted pod first gets
 * a deletionTimestamp (its endpoints turn terminating), and is removed when
 * the data plane calls `podTerminated` or after its
 * terminationGracePeriodSeconds — but only by a kubelet that posts: on a
 * node not Ready (crashed, unreachable) an evicted pod stays Terminating
 * until `nodeUp` or until the Node is deleted (PodGC force-deletes the
 * pods of a Node that no longer exists). A ReplicaSet replaces a
 * terminating pod at once; a StatefulSet waits for it to be gone, as in a
 * cluster. Without the option (default), deletion is immediate.
 * Cost: each controller's `keysFor` reads store indexes (pods by node,
 * unscheduled pods, pods by label pair, Services by selector pair) rather
 * than lists (the node controller ignores pod events on a healthy node),
 * and the scheduler works on NodeInfos this class keeps in step with the
 * store's events, in one NodeTable; a decision keeps its ten best score
 * rows, built when read. Per pod: one create and two writes (binding,
 * kubelet status). Measured (bench/k8s.bench.ts --control-plane-only, tsx,
 * this 2-core machine shared with other jobs): 5,000 nodes, 10,000
 * Deployments and Services, 150,000 pods settle in 11–15 s (12–15 s of CPU)
 * beside one other busy job, 0.56 GB heap; about a fifth of it is the
 * scheduler, a quarter the garbage collector, most of the rest the store's
 * writes (copy, admission, indexes, events to the controllers).
 * Neighbours: store.ts, ipam.ts, scheduler.ts, manifest.ts and the
 * controllers of this folder; kube-proxy/ and cni/ watch `store`; the data
 * plane calls the pod hooks.
 */
import type { EndpointSlice, Kind, KubeObject, Node, Pod, Service, Taint, Toleration } from '../api.js';
import { NAMESPACED } from '../api.js';
import { SdnemuError } from '../../errors.js';
import { ApiStore, ApiError, resourceName, type ObjectOf, type Watcher, type WatchEvent } from '../store.js';
import { CidrAllocator, IpAllocator, IpamError, LoadBalancerPool, PortAllocator, formatIPv4 } from '../ipam.js';
import { NodeInfo, Scheduler, formatScores, keepBestScores, untoleratedTaint, NodeTable, type ScheduleResult } from '../scheduler.js';
import { defaultObject, validateObject, loadManifests, type LoadedManifests } from '../manifest.js';
import type { Sim } from '../../sim/engine.js';
import {
  type Controller, type ControllerContext, type KubeEvent, isActive, isTerminal, isTerminating, objKey, podCondition, sameJSON, setPodCondition, splitKey,
} from './context.js';
import { DeploymentController } from './deployment.js';
import { ReplicaSetController } from './replicaset.js';
import { DaemonSetController } from './daemonset.js';
import { StatefulSetController } from './statefulset.js';
import { JobController } from './job.js';
import { EndpointSliceController, SERVICE_NAME_LABEL } from './endpointslice.js';

export interface ControlPlaneOptions {
  /** seed of the name RNG (default 1) */
  seed?: number;
  /** pod CIDRs are carved from it (default 10.244.0.0/16) */
  clusterCIDR?: string;
  /** podCIDR prefix length per node (default 24) */
  nodeCIDRMaskSize?: number;
  /** default 10.96.0.0/12 */
  serviceCIDR?: string;
  /** default [30000, 32767] */
  nodePortRange?: [number, number];
  /** LoadBalancer addresses: CIDRs or 'a.b.c.d-a.b.c.e' ranges (default none) */
  loadBalancerPool?: string[];
  /** pods become Running and Ready as soon as they are bound (default false) */
  autoReady?: boolean;
  /** give bound pods an IP from their node's podCIDR (default true) */
  assignPodIPs?: boolean;
  /** deleted pods linger as terminating until podTerminated or their grace period (default false) */
  gracefulTermination?: boolean;
  /** DefaultTolerationSeconds admission: seconds, or null to add none (default 300) */
  defaultTolerationSeconds?: number | null;
  /** the API server's addresses for the `kubernetes` Service (default: control-plane nodes' InternalIPs) */
  apiServerAddresses?: string[];
  /** clock origin, ms since the Unix epoch (default 2025-01-01T00:00:00Z) */
  startMs?: number;
  /** run timers on this simulation's clock */
  sim?: Sim;
  /** max endpoints per EndpointSlice (default 100) */
  maxEndpointsPerSlice?: number;
}

/** A node as `addNode` takes it. */
export interface NodeSpecInput {
  internalIP?: string;
  labels?: Record<string, string>;
  taints?: Taint[];
  cpu?: string;
  memory?: string;
  pods?: string;
  /** label node-role.kubernetes.io/control-plane and taint it NoSchedule */
  controlPlane?: boolean;
  podCIDR?: string;
}

export interface ApplyResult {
  kind: Kind;
  namespace?: string;
  name: string;
  /** as kubectl prints it: `deployment.apps/web created` */
  message: string;
  action: 'created' | 'configured' | 'unchanged' | 'error';
  error?: SdnemuError;
}

export class ControlPlaneError extends SdnemuError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'ControlPlaneError';
  }
}

const UNREACHABLE = 'node.kubernetes.io/unreachable';
const NOT_READY = 'node.kubernetes.io/not-ready';
const MAX_ROUNDS = 100_000;
/** events kept: between MAX_EVENTS and twice as many (trimmed in one splice) */
const MAX_EVENTS = 10_000;
/** scheduling decisions kept for explain() (the score tables of the latest bindings; unschedulable pods' always) */
const MAX_DECISIONS = 1_000;
/** score rows kept per decision: the best ones */
const SCORE_ROWS_KEPT = 10;

/** `deployment.apps`, `service`… as kubectl names a kind in its output. */
function kubectlKind(kind: Kind): string {
  const r = resourceName(kind);
  const dot = r.indexOf('.');
  const singular = kind.toLowerCase();
  return dot < 0 ? singular : `${singular}${r.slice(dot)}`;
}

export class ControlPlane {
  readonly store: ApiStore;
  readonly scheduler = new Scheduler();
  readonly podCidrs: CidrAllocator;
  readonly serviceIPs: IpAllocator;
  readonly nodePorts: PortAllocator;
  readonly loadBalancerIPs: LoadBalancerPool;
  /** Kubernetes Events, oldest first (the last 10,000 to 20,000) */
  readonly events: KubeEvent[] = [];
  private readonly opts: ControlPlaneOptions;
  private readonly controllers: Controller[];
  private readonly queues = new Map<Controller, Set<string>>();
  /** per kind, the controllers that watch it and their queues, in the controllers' order */
  private readonly watching = new Map<Kind, [Controller, Set<string>][]>();
  private readonly podIPs = new Map<string, IpAllocator>();
  /** last scheduling result per pod uid */
  private readonly decisions = new Map<string, ScheduleResult>();
  private readonly eventListeners: ((e: KubeEvent) => void)[] = [];
  private readonly settledListeners: ((syncs: number) => void)[] = [];
  private readonly infos = new Map<string, NodeInfo>();
  private infoList: NodeInfo[] | null = null;
  /** the NodeInfos' figures, in columns the scheduler's loop reads (and their count of anti-affinity pods) */
  readonly nodeTable = new NodeTable();
  private timers: { at: number; seq: number; fn: () => void }[] = [];
  private timerSeq = 0;
  private clockMs: number;
  private reconciling = false;
  /** the store changed since the settled listeners last heard (a change no controller works on counts too) */
  private changed = false;
  readonly ctx: ControllerContext;

  constructor(opts: ControlPlaneOptions = {}) {
    this.opts = opts;
    this.clockMs = opts.startMs ?? Date.UTC(2025, 0, 1);
    this.store = new ApiStore({ seed: opts.seed ?? 1, clock: { nowMs: () => this.nowMs() }, admit: (o, old) => this.admit(o, old) });
    this.podCidrs = new CidrAllocator(opts.clusterCIDR ?? '10.244.0.0/16', opts.nodeCIDRMaskSize ?? 24);
    this.serviceIPs = new IpAllocator(opts.serviceCIDR ?? '10.96.0.0/12');
    const [lo, hi] = opts.nodePortRange ?? [30000, 32767];
    this.nodePorts = new PortAllocator(lo, hi);
    this.loadBalancerIPs = new LoadBalancerPool(opts.loadBalancerPool ?? []);
    const self = this;
    this.ctx = {
      store: this.store,
      nowMs: () => this.nowMs(),
      deletePod: (p) => this.removePod(p),
      record: (o, type, reason, message) => this.record(o, type, reason, message),
      at: (t, fn) => this.at(t, fn),
    };
    this.controllers = [
      new NodeController(this), new DeploymentController(this.ctx), new ReplicaSetController(this.ctx),
      new DaemonSetController(this.ctx), new StatefulSetController(this.ctx), new JobController(this.ctx),
      new SchedulerController(this), new KubeletController(this),
      new EndpointSliceController(this.ctx, opts.maxEndpointsPerSlice ?? 100), new ApiServerEndpoints(this),
    ];
    for (const c of this.controllers) this.queues.set(c, new Set());
    this.store.addIndex('Pod', 'nodeName', (p) => (p.spec.nodeName ? [p.spec.nodeName] : []));
    this.store.addIndex('Pod', 'unscheduled', (p) => (!p.spec.nodeName && isActive(p) ? [''] : []));
    this.store.watch('*', (e) => { self.changed = true; self.dispatch(e); });
    this.store.bootstrapNamespaces();
    const first = formatIPv4(this.serviceIPs.first);
    this.store.create<Service>({
      apiVersion: 'v1', kind: 'Service',
      metadata: { name: 'kubernetes', namespace: 'default', labels: { component: 'apiserver', provider: 'kubernetes' } },
      spec: { type: 'ClusterIP', clusterIP: first, ports: [{ name: 'https', protocol: 'TCP', port: 443, targetPort: 6443 }], sessionAffinity: 'None' },
    });
    this.reconcile();
  }

  // ---- time

  nowMs(): number {
    return this.opts.sim ? (this.opts.startMs ?? Date.UTC(2025, 0, 1)) + this.opts.sim.now / 1e6 : this.clockMs;
  }

  /** Run 'fn' (then reconcile) when the clock reaches 'atMs'. */
  at(atMs: number, fn: () => void): void {
    const sim = this.opts.sim;
    if (sim) {
      const origin = this.opts.startMs ?? Date.UTC(2025, 0, 1);
      sim.at(Math.max(sim.now, (atMs - origin) * 1e6), { onEvent: () => { fn(); this.reconcile(); } });
      return;
    }
    this.timers.push({ at: atMs, seq: this.timerSeq++, fn });
    this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
  }

  /** Move the clock 'ms' forward, running the timers due on the way. */
  advance(ms: number): void {
    const sim = this.opts.sim;
    if (sim) sim.runUntil(sim.now + ms * 1e6);
    else this.advanceTo(this.clockMs + ms);
  }

  /** Move the clock to 'atMs' (never back), running the timers due on the way. */
  advanceTo(atMs: number): void {
    if (this.opts.sim) {
      this.advance(atMs - this.nowMs());
      return;
    }
    while (this.timers.length && this.timers[0]!.at <= atMs) {
      const t = this.timers.shift()!;
      this.clockMs = Math.max(this.clockMs, t.at);
      t.fn();
      this.reconcile();
    }
    this.clockMs = Math.max(this.clockMs, atMs);
    this.reconcile();
  }

  // ---- the loop

  private dispatch(e: WatchEvent): void {
    if (e.type === 'DELETED') this.released(e.object);
    this.trackNodeInfo(e);
    let mine = this.watching.get(e.object.kind);
    if (!mine) this.watching.set(e.object.kind, (mine = this.controllers.filter((c) => c.watches.includes(e.object.kind)).map((c) => [c, this.queues.get(c)!])));
    for (const [c, q] of mine) for (const k of c.keysFor(e)) q.add(k);
  }

  /** Keep the scheduler's NodeInfos (per-node pods and request sums) in step with the store. */
  private trackNodeInfo(e: WatchEvent): void {
    const o = e.object;
    if (o.kind === 'Node') {
      const name = o.metadata.name;
      if (e.type === 'DELETED') {
        this.infos.get(name)?.release();
        this.infos.delete(name);
        this.infoList = null;
        return;
      }
      const cur = this.infos.get(name);
      if (cur) {
        cur.node = o;
        return;
      }
      const info = new NodeInfo(o, this.nodeTable);
      for (const p of this.podsOn(name)) if (!isTerminal(p)) info.add(p);
      this.infos.set(name, info);
      this.infoList = null;
    } else if (o.kind === 'Pod') {
      const old = e.old as Pod | undefined;
      if (e.type === 'MODIFIED' && old && o.spec.nodeName && old.spec.nodeName === o.spec.nodeName && !isTerminal(o) && !isTerminal(old)) {
        this.infos.get(o.spec.nodeName)?.replace(old, o);
        return;
      }
      if (old?.spec.nodeName) this.infos.get(old.spec.nodeName)?.remove(old);
      if (e.type === 'DELETED') {
        if (o.spec.nodeName) this.infos.get(o.spec.nodeName)?.remove(o);
      } else if (o.spec.nodeName && !isTerminal(o)) this.infos.get(o.spec.nodeName)?.add(o);
    }
  }

  /** The scheduler's view of every node, in the order the nodes were added. */
  nodeInfoList(): NodeInfo[] {
    return (this.infoList ??= [...this.infos.values()]);
  }

  /** Drain every controller's queue until none has work; returns the number of syncs run. */
  reconcile(): number {
    if (this.reconciling) return 0;
    this.reconciling = true;
    let syncs = 0;
    try {
      for (let round = 0; ; round++) {
        if (round >= MAX_ROUNDS) throw new ControlPlaneError('K8S_NO_FIXPOINT', `controllers did not settle after ${MAX_ROUNDS} rounds`);
        let busy = false;
        for (const c of this.controllers) {
          const q = this.queues.get(c)!;
          if (q.size === 0) continue;
          busy = true;
          const keys = [...q];
          q.clear();
          for (const k of keys) {
            syncs++;
            try {
              c.sync(k);
            } catch (err) {
              if (!(err instanceof SdnemuError)) throw err;
              this.events.push({ type: 'Warning', reason: 'SyncError', object: `${c.name}/${k}`, message: err.message, timeMs: this.nowMs() });
            }
          }
        }
        if (!busy) break;
      }
    } finally {
      this.reconciling = false;
    }
    if (syncs > 0 || this.changed) {
      this.changed = false;
      for (const l of [...this.settledListeners]) l(syncs);
    }
    return syncs;
  }

  /**
   * Call 'fn' each time a reconcile after a change has settled (every queue
   * empty; a change no controller works on, a NetworkPolicy's, counts) —
   * the moment for kube-proxy's or the CNI's batched sync, once per API
   * change rather than once per store event. Returns the unsubscribe function.
   */
  onSettled(fn: (syncs: number) => void): () => void {
    this.settledListeners.push(fn);
    return () => this.settledListeners.splice(this.settledListeners.indexOf(fn) >>> 0, 1);
  }

  /** Queue 'key' for controller 'name' (used by the built-in controllers). */
  enqueue(name: string, key: string): void {
    const c = this.controllers.find((x) => x.name === name);
    if (c) this.queues.get(c)!.add(key);
  }

  private record(o: KubeObject, type: KubeEvent['type'], reason: string, message: string): void {
    const ev: KubeEvent = {
      type, reason, message, timeMs: this.nowMs(),
      object: NAMESPACED.has(o.kind) ? `${o.kind}/${o.metadata.namespace}/${o.metadata.name}` : `${o.kind}/${o.metadata.name}`,
    };
    this.events.push(ev);
    if (this.events.length > 2 * MAX_EVENTS) this.events.splice(0, this.events.length - MAX_EVENTS);
    for (const l of this.eventListeners) l(ev);
  }

  /** Call 'fn' for every Kubernetes Event recorded from now on; returns the unsubscribe function. */
  onEvent(fn: (e: KubeEvent) => void): () => void {
    this.eventListeners.push(fn);
    return () => this.eventListeners.splice(this.eventListeners.indexOf(fn) >>> 0, 1);
  }

  /** Watch the store (ADDED / MODIFIED / DELETED), as kube-proxy and the CNI do. */
  watch<K extends Kind>(kind: K, w: Watcher<ObjectOf<K>>): () => void {
    return this.store.watch(kind, w);
  }

  // ---- admission

  private admit(o: KubeObject, old: KubeObject | undefined): void {
    defaultObject(o);
    const errs = validateObject(o);
    if (errs.length) {
      const text = errs.map((e) => `${e.path}: ${e.msg}`);
      throw new ApiError('Invalid', o.kind, o.metadata.name, `${o.kind} "${o.metadata.name}" is invalid: ${text.length === 1 ? text[0] : `[${text.join(', ')}]`}`, errs[0]!.path);
    }
    if (o.kind === 'Service') this.admitService(o, old as Service | undefined);
    if (o.kind === 'Pod' && !old) this.admitPod(o);
    if (o.kind === 'Node' && o.spec?.podCIDR && o.spec.podCIDR !== (old as Node | undefined)?.spec?.podCIDR) this.admitPodCidr(o);
  }

  /** A node that comes with its podCIDR: the range allocator marks it taken (one outside the cluster CIDR is the user's business). */
  private admitPodCidr(n: Node): void {
    const cidr = n.spec!.podCIDR!;
    try {
      this.podCidrs.occupy(cidr);
    } catch (e) {
      if (!(e instanceof IpamError) || e.code !== 'IPAM_IN_USE') return;
      throw new ApiError('Invalid', 'Node', n.metadata.name, `Node "${n.metadata.name}" is invalid: spec.podCIDRs: Invalid value: []string{"${cidr}"}: ${e.message}`, 'spec.podCIDRs');
    }
    n.spec!.podCIDRs ??= [cidr];
  }

  private admitPod(p: Pod): void {
    const secs = this.opts.defaultTolerationSeconds === undefined ? 300 : this.opts.defaultTolerationSeconds;
    if (secs === null) return;
    const tol = (p.spec.tolerations ??= []);
    for (const key of [NOT_READY, UNREACHABLE]) {
      const taint: Taint = { key, effect: 'NoExecute' };
      if (!untoleratedTaint([taint], tol, ['NoExecute'])) continue;
      tol.push({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: secs });
    }
  }

  private admitService(s: Service, old: Service | undefined): void {
    const spec = s.spec;
    const taken: (() => void)[] = [];
    const fail = (path: string, value: string, e: unknown): never => {
      for (const undo of taken) undo();
      if (!(e instanceof IpamError)) throw e;
      throw new ApiError('Invalid', 'Service', s.metadata.name, `Service "${s.metadata.name}" is invalid: ${path}: Invalid value: ${value}: ${e.message}`, path);
    };
    const wantsNodePorts = spec.type === 'NodePort' || spec.type === 'LoadBalancer';
    const releases: (() => void)[] = [];
    // ClusterIP
    const oldIP = old?.spec.clusterIP;
    if (spec.type === 'ExternalName') {
      if (oldIP && oldIP !== 'None') releases.push(() => this.serviceIPs.release(oldIP));
      delete spec.clusterIP;
      delete spec.clusterIPs;
    } else if (spec.clusterIP === 'None') {
      spec.clusterIPs = ['None'];
      spec.ipFamilies = ['IPv4'];
    } else {
      if (!spec.clusterIP && oldIP && oldIP !== 'None') spec.clusterIP = oldIP;
      if (old && oldIP && spec.clusterIP !== oldIP && old.spec.type !== 'ExternalName') {
        throw new ApiError('Invalid', 'Service', s.metadata.name, `Service "${s.metadata.name}" is invalid: spec.clusterIPs[0]: Invalid value: []string{"${spec.clusterIP}"}: may not change once set`, 'spec.clusterIPs[0]');
      }
      if (!spec.clusterIP || spec.clusterIP !== oldIP) {
        const want = spec.clusterIP;
        try {
          spec.clusterIP = want ? this.serviceIPs.allocateSpecific(want) : this.serviceIPs.allocate();
        } catch (e) {
          fail('spec.clusterIPs', `[]string{"${want ?? ''}"}`, e);
        }
        const ip = spec.clusterIP!;
        taken.push(() => this.serviceIPs.release(ip));
      }
      spec.clusterIPs = [spec.clusterIP!];
      spec.ipFamilies = ['IPv4'];
    }
    // NodePorts
    const oldPorts = new Map((old?.spec.ports ?? []).filter((p) => p.nodePort).map((p) => [`${p.port}/${p.protocol}`, p.nodePort!]));
    const keep = new Set<number>();
    (spec.ports ?? []).forEach((p, i) => {
      if (!wantsNodePorts) {
        delete p.nodePort;
        return;
      }
      const prev = oldPorts.get(`${p.port}/${p.protocol}`);
      if (p.nodePort === undefined && prev !== undefined) p.nodePort = prev;
      if (p.nodePort !== undefined && p.nodePort === prev) {
        keep.add(prev);
        return;
      }
      const want = p.nodePort;
      try {
        p.nodePort = want !== undefined ? this.nodePorts.allocateSpecific(want) : this.nodePorts.allocate();
      } catch (e) {
        fail(`spec.ports[${i}].nodePort`, String(want), e);
      }
      const np = p.nodePort!;
      taken.push(() => this.nodePorts.release(np));
    });
    for (const np of oldPorts.values()) if (!keep.has(np)) releases.push(() => this.nodePorts.release(np));
    // health check node port
    const oldHc = old?.spec.healthCheckNodePort;
    if (spec.type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local') {
      if (spec.healthCheckNodePort === undefined && oldHc !== undefined) spec.healthCheckNodePort = oldHc;
      if (spec.healthCheckNodePort === undefined || spec.healthCheckNodePort !== oldHc) {
        const want = spec.healthCheckNodePort;
        try {
          spec.healthCheckNodePort = want !== undefined ? this.nodePorts.allocateSpecific(want) : this.nodePorts.allocate();
        } catch (e) {
          fail('spec.healthCheckNodePort', String(want), e);
        }
        const hc = spec.healthCheckNodePort!;
        taken.push(() => this.nodePorts.release(hc));
        if (oldHc !== undefined) releases.push(() => this.nodePorts.release(oldHc));
      }
    } else {
      delete spec.healthCheckNodePort;
      if (oldHc !== undefined) releases.push(() => this.nodePorts.release(oldHc));
    }
    // LoadBalancer ingress (the cloud provider's part)
    const oldLb = old?.status?.loadBalancer?.ingress?.[0]?.ip;
    if (spec.type === 'LoadBalancer') {
      let ip = oldLb;
      if (spec.loadBalancerIP && spec.loadBalancerIP !== oldLb) {
        try {
          ip = this.loadBalancerIPs.allocateSpecific(spec.loadBalancerIP);
        } catch (e) {
          fail('spec.loadBalancerIP', `"${spec.loadBalancerIP}"`, e);
        }
        if (oldLb) releases.push(() => this.loadBalancerIPs.release(oldLb));
      } else if (!ip) {
        try {
          ip = this.loadBalancerIPs.allocate();
        } catch {
          ip = undefined; // no address left: the Service stays <pending>, as without a provider
        }
      }
      if (ip) {
        const got = ip;
        if (got !== oldLb) taken.push(() => this.loadBalancerIPs.release(got));
        s.status = { loadBalancer: { ingress: [{ ip: got }] } };
      } else s.status = { loadBalancer: {} };
    } else {
      if (oldLb) releases.push(() => this.loadBalancerIPs.release(oldLb));
      if (s.status?.loadBalancer) s.status = { loadBalancer: {} };
    }
    for (const r of releases) r();
  }

  /** Give back what a deleted object held (Service addresses, a pod's IP, a node's podCIDR). */
  private released(o: KubeObject): void {
    if (o.kind === 'Service') {
      const ip = o.spec.clusterIP;
      if (ip && ip !== 'None') this.serviceIPs.release(ip);
      for (const p of o.spec.ports ?? []) if (p.nodePort) this.nodePorts.release(p.nodePort);
      if (o.spec.healthCheckNodePort) this.nodePorts.release(o.spec.healthCheckNodePort);
      const lb = o.status?.loadBalancer?.ingress?.[0]?.ip;
      if (lb) this.loadBalancerIPs.release(lb);
    } else if (o.kind === 'Pod') {
      this.decisions.delete(o.metadata.uid!);
      const ip = o.status?.podIP;
      if (ip && o.spec.nodeName && !o.spec.hostNetwork) this.podIPs.get(o.spec.nodeName)?.release(ip);
    } else if (o.kind === 'Node') {
      const cidr = o.spec?.podCIDR;
      if (cidr) {
        try {
          this.podCidrs.release(cidr);
        } catch {
          // a podCIDR from outside the cluster CIDR was never ours
        }
      }
      this.podIPs.delete(o.metadata.name);
    }
  }

  /** The pod IP allocator of node 'n' (its podCIDR, .1 reserved for the gateway). */
  podIpAllocator(n: Node): IpAllocator | undefined {
    const cidr = n.spec?.podCIDR;
    if (!cidr) return undefined;
    let a = this.podIPs.get(n.metadata.name);
    if (!a || a.cidr !== cidr) this.podIPs.set(n.metadata.name, (a = new IpAllocator(cidr, 1)));
    return a;
  }

  get options(): Readonly<ControlPlaneOptions> {
    return this.opts;
  }

  // ---- the API

  /** Create 'obj' (admission, then the controllers run); throws ApiError. */
  create<T extends KubeObject>(obj: T): T {
    const out = this.store.create(obj);
    this.reconcile();
    return this.store.get(out.kind, out.metadata.namespace, out.metadata.name) as T;
  }

  /**
   * `kubectl apply`: create each object, or replace the spec of the one
   * that exists (its status and server-given addresses are kept). A failing
   * object is reported in its result and does not stop the others.
   */
  apply(input: readonly KubeObject[] | LoadedManifests): ApplyResult[] {
    const objs = Array.isArray(input) ? input : (input as LoadedManifests).objects;
    const out: ApplyResult[] = [];
    for (const o of objs) {
      const ns = NAMESPACED.has(o.kind) ? (o.metadata.namespace ?? 'default') : undefined;
      const ref = `${kubectlKind(o.kind)}/${o.metadata.name}`;
      try {
        const cur = this.store.get(o.kind, ns, o.metadata.name);
        if (!cur) {
          this.store.create(o);
          out.push({ kind: o.kind, namespace: ns, name: o.metadata.name, action: 'created', message: `${ref} created` });
        } else {
          const next = structuredClone(o) as KubeObject & { status?: unknown };
          const status = (cur as { status?: unknown }).status;
          if (status !== undefined) next.status = status;
          delete next.metadata.resourceVersion;
          this.keepServerFields(next, cur);
          const res = this.store.update(next);
          const action = res === cur ? 'unchanged' : 'configured';
          out.push({ kind: o.kind, namespace: ns, name: o.metadata.name, action, message: `${ref} ${action}` });
        }
      } catch (e) {
        if (!(e instanceof SdnemuError)) throw e;
        out.push({ kind: o.kind, namespace: ns, name: o.metadata.name, action: 'error', message: `Error from server: ${e.message}`, error: e });
      }
      this.reconcile();
    }
    return out;
  }

  /**
   * What `apply` must not take from a manifest that lacks it: a pod's
   * binding and admitted tolerations (a pod's spec is otherwise immutable:
   * any other change is refused as the API server does), a node's podCIDR.
   */
  private keepServerFields(next: KubeObject, cur: KubeObject): void {
    if (next.kind === 'Pod' && cur.kind === 'Pod') {
      defaultObject(next);
      const mine = { ...next.spec, nodeName: cur.spec.nodeName, tolerations: cur.spec.tolerations };
      if (!sameJSON(mine, cur.spec)) {
        throw new ApiError('Invalid', 'Pod', cur.metadata.name,
          `Pod "${cur.metadata.name}" is invalid: spec: Forbidden: pod updates may not change fields other than \`spec.containers[*].image\`,\`spec.initContainers[*].image\`,\`spec.activeDeadlineSeconds\`,\`spec.tolerations\` (only additions to existing tolerations),\`spec.terminationGracePeriodSeconds\` (allow it to be set to 1 if it was previously negative)`, 'spec');
      }
      next.spec = cur.spec;
    } else if (next.kind === 'Node' && cur.kind === 'Node' && !next.spec?.podCIDR && cur.spec?.podCIDR) {
      next.spec = { ...next.spec, podCIDR: cur.spec.podCIDR, podCIDRs: cur.spec.podCIDRs };
    }
  }

  /** Load YAML 'text' (manifest.ts) and apply it; throws ManifestError for a bad file. */
  applyYaml(text: string, file?: string): ApplyResult[] {
    return this.apply(loadManifests(text, { file }));
  }

  /** Delete an object (owned objects follow); returns whether it existed. */
  delete(kind: Kind, namespace: string | undefined, name: string): boolean {
    const o = this.store.get(kind, namespace, name);
    if (!o) return false;
    if (o.kind === 'Pod') this.removePod(o);
    else this.store.delete(kind, namespace, name);
    this.reconcile();
    return true;
  }

  /** Set spec.replicas of a Deployment, ReplicaSet or StatefulSet (`kubectl scale`). */
  scale(kind: 'Deployment' | 'ReplicaSet' | 'StatefulSet', namespace: string, name: string, replicas: number): void {
    this.store.patch(kind, namespace, name, (o) => {
      (o.spec as { replicas?: number }).replicas = replicas;
    });
    this.reconcile();
  }

  /** Register a node as its kubelet would (Ready, addresses, capacity); returns the stored Node. */
  addNode(name: string, n: NodeSpecInput = {}): Node {
    const labels: Record<string, string> = {
      'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'kubernetes.io/arch': 'amd64', ...n.labels,
    };
    const taints = [...(n.taints ?? [])];
    if (n.controlPlane) {
      labels['node-role.kubernetes.io/control-plane'] = '';
      if (!taints.some((t) => t.key === 'node-role.kubernetes.io/control-plane')) taints.push({ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' });
    }
    const resources = { cpu: n.cpu ?? '4', memory: n.memory ?? '16Gi', pods: n.pods ?? '110' };
    const node: Node = {
      apiVersion: 'v1', kind: 'Node',
      metadata: { name, labels },
      spec: { ...(n.podCIDR ? { podCIDR: n.podCIDR, podCIDRs: [n.podCIDR] } : {}), ...(taints.length ? { taints } : {}) },
      status: {
        capacity: resources, allocatable: resources,
        addresses: [...(n.internalIP ? [{ type: 'InternalIP' as const, address: n.internalIP }] : []), { type: 'Hostname', address: name }],
        conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' }],
      },
    };
    return this.create(node);
  }

  /** The node's kubelet stops posting status: Ready=Unknown, unreachable taints, pods marked not ready and evicted per their tolerations. */
  nodeDown(name: string): void {
    this.store.patch('Node', undefined, name, (n) => {
      n.status ??= {};
      n.status.conditions = [...(n.status.conditions ?? []).filter((c) => c.type !== 'Ready'),
        { type: 'Ready', status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.' }];
      n.spec ??= {};
      const taints = (n.spec.taints ?? []).filter((t) => t.key !== UNREACHABLE && t.key !== NOT_READY);
      n.spec.taints = [...taints, { key: UNREACHABLE, effect: 'NoSchedule' }, { key: UNREACHABLE, effect: 'NoExecute' }];
    });
    this.reconcile();
  }

  /** The node's kubelet is back: Ready=True, the unreachable taints removed (pods it still runs become ready again with autoReady). */
  nodeUp(name: string): void {
    this.store.patch('Node', undefined, name, (n) => {
      n.status ??= {};
      n.status.conditions = [...(n.status.conditions ?? []).filter((c) => c.type !== 'Ready'),
        { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' }];
      const taints = (n.spec?.taints ?? []).filter((t) => t.key !== UNREACHABLE && t.key !== NOT_READY);
      n.spec = { ...n.spec, taints };
      if (!taints.length) delete n.spec.taints;
    });
    for (const p of this.podsOn(name)) {
      // the kubelet finishes what was deleted while it was away (its grace period over)
      if (isTerminating(p) && Date.parse(p.metadata.deletionTimestamp!) + (p.spec.terminationGracePeriodSeconds ?? 30) * 1000 <= this.nowMs()) {
        this.store.delete('Pod', p.metadata.namespace, p.metadata.name);
        continue;
      }
      if (this.opts.autoReady && isActive(p) && p.status?.phase === 'Running' && podCondition(p, 'Ready')?.status !== 'True') this.setPodReady(p.metadata.namespace!, p.metadata.name, true);
    }
    this.reconcile();
  }

  // ---- hooks the data plane (the "kubelet") calls

  /** The pod's containers started: phase Running (and its IP, when the CNI chose one). */
  setPodRunning(namespace: string, name: string, opts: { podIP?: string } = {}): void {
    this.store.patch('Pod', namespace, name, (p) => {
      p.status ??= {};
      p.status.phase = 'Running';
      if (opts.podIP) {
        p.status.podIP = opts.podIP;
        p.status.podIPs = [{ ip: opts.podIP }];
      }
      setPodCondition(p, { type: 'Initialized', status: 'True' });
    });
    this.reconcile();
  }

  /** The pod's readiness (Ready and ContainersReady conditions); a ready pod is Running. */
  setPodReady(namespace: string, name: string, ready = true): void {
    this.store.patch('Pod', namespace, name, (p) => {
      p.status ??= {};
      if (ready && p.status.phase !== 'Succeeded' && p.status.phase !== 'Failed') p.status.phase = 'Running';
      const status = ready ? 'True' : 'False';
      const reason = ready ? undefined : 'ContainersNotReady';
      setPodCondition(p, { type: 'ContainersReady', status, ...(reason ? { reason } : {}) });
      setPodCondition(p, { type: 'Ready', status, ...(reason ? { reason } : {}) });
    });
    this.reconcile();
  }

  /** The pod's containers exited 0 (a Job's pod finished). */
  setPodSucceeded(namespace: string, name: string): void {
    this.finish(namespace, name, 'Succeeded');
  }

  /** The pod's containers failed. */
  setPodFailed(namespace: string, name: string): void {
    this.finish(namespace, name, 'Failed');
  }

  private finish(namespace: string, name: string, phase: 'Succeeded' | 'Failed'): void {
    this.store.patch('Pod', namespace, name, (p) => {
      p.status ??= {};
      p.status.phase = phase;
      setPodCondition(p, { type: 'ContainersReady', status: 'False', reason: 'PodCompleted' });
      setPodCondition(p, { type: 'Ready', status: 'False', reason: 'PodCompleted' });
    });
    this.reconcile();
  }

  /** A terminating pod's containers are gone: remove it (graceful deletion ends). */
  podTerminated(namespace: string, name: string): void {
    const p = this.store.get('Pod', namespace, name);
    if (p && isTerminating(p)) {
      this.store.delete('Pod', namespace, name);
      this.reconcile();
    }
  }

  /** PodGC's force deletion (grace period 0): 'p' goes at once, terminating or not. */
  forceDeletePod(p: Pod): void {
    const cur = this.store.get('Pod', p.metadata.namespace, p.metadata.name);
    if (cur && cur.metadata.uid === p.metadata.uid) this.store.delete('Pod', p.metadata.namespace, p.metadata.name);
  }

  /**
   * Delete pod 'p': at once, or — with gracefulTermination — mark it terminating until
   * podTerminated or its grace period ends; the kubelet finishes that (the stand-in's timer), so
   * on a node whose kubelet is not posting (Ready not True) the pod stays terminating until the
   * kubelet is back (nodeUp) or the Node is deleted (PodGC), as in a cluster.
   */
  private removePod(p: Pod): void {
    if (!this.opts.gracefulTermination || !p.spec.nodeName) {
      this.store.delete('Pod', p.metadata.namespace, p.metadata.name);
      return;
    }
    if (isTerminating(p)) return;
    const now = this.nowMs();
    this.store.patch('Pod', p.metadata.namespace, p.metadata.name, (x) => {
      x.metadata.deletionTimestamp = new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z');
    });
    const uid = p.metadata.uid;
    this.at(now + (p.spec.terminationGracePeriodSeconds ?? 30) * 1000, () => {
      const cur = this.store.get('Pod', p.metadata.namespace, p.metadata.name);
      if (!cur || cur.metadata.uid !== uid) return;
      const n = this.store.get('Node', undefined, cur.spec.nodeName!);
      if (n && !nodeReady(n)) return; // no kubelet to finish it: nodeUp or PodGC will
      this.store.delete('Pod', p.metadata.namespace, p.metadata.name);
    });
  }

  // ---- explanations

  /** The last scheduling decision for a pod (undefined when the scheduler never saw it, or its table was dropped: only the latest 1,000 bindings are kept). */
  schedulingResult(namespace: string, name: string): ScheduleResult | undefined {
    const p = this.store.get('Pod', namespace, name);
    return p ? this.decisions.get(p.metadata.uid!) : undefined;
  }

  /** Why the pod is where it is: the score table (its 10 best rows and the rejected nodes), or the scheduler's FitError message. */
  explain(namespace: string, name: string): string {
    const p = this.store.get('Pod', namespace, name);
    if (!p) return `pods "${name}" not found`;
    const r = this.decisions.get(p.metadata.uid!);
    if (!r) return p.spec.nodeName ? `bound to ${p.spec.nodeName} by spec.nodeName (the scheduler was not involved)` : 'not scheduled yet';
    if (r.state === 'unschedulable') return r.message;
    return `scheduled to ${r.node}\n${formatScores(r)}`;
  }

  /** Record a scheduling decision (SchedulerController). */
  noteDecision(uid: string, r: ScheduleResult): void {
    // keep the best rows (the chosen node is the first of them) and the rejections
    if (r.state === 'scheduled') r = keepBestScores(r, SCORE_ROWS_KEPT);
    this.decisions.delete(uid);
    this.decisions.set(uid, r);
    if (this.decisions.size > MAX_DECISIONS) {
      for (const [k, d] of this.decisions) {
        if (this.decisions.size <= MAX_DECISIONS) break;
        if (d.state === 'scheduled') this.decisions.delete(k);
      }
    }
  }

  /** Pods bound to node 'name'. */
  podsOn(name: string): Pod[] {
    return this.store.byIndex('Pod', 'nodeName', name);
  }

  /** Internal: evict 'p' now (a NoExecute toleration period ran out). */
  enqueueEviction(p: Pod): void {
    this.record(p, 'Normal', 'TaintManagerEviction', `Marking for deletion Pod ${p.metadata.namespace}/${p.metadata.name}`);
    this.removePod(p);
  }

  /** Internal: record an event for a built-in controller. */
  recordFor(o: KubeObject, type: KubeEvent['type'], reason: string, message: string): void {
    this.record(o, type, reason, message);
  }
}

/** The node's Ready condition is True. */
const nodeReady = (n: Node): boolean => n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';

/** Node IPAM (podCIDR per node) and node lifecycle (not-ready pods, taint-based eviction, orphaned pods). */
class NodeController implements Controller {
  readonly name = 'node';
  readonly watches = ['Node', 'Pod'] as const;
  private readonly evictionTimers = new Set<string>();
  constructor(private readonly cp: ControlPlane) {}

  keysFor(e: WatchEvent): string[] {
    if (e.object.kind === 'Node') return [e.object.metadata.name];
    const p = e.object as Pod;
    if (e.type === 'DELETED' || !p.spec.nodeName) return [];
    // a pod on a node that is Ready, has its podCIDR and no NoExecute taint needs nothing of this controller
    const n = this.cp.store.get('Node', undefined, p.spec.nodeName);
    return n && n.spec?.podCIDR && nodeReady(n) && !n.spec.taints?.some((t) => t.effect === 'NoExecute') ? [] : [p.spec.nodeName];
  }

  sync(name: string): void {
    const { store } = this.cp;
    let node = store.get('Node', undefined, name);
    if (!node) {
      // PodGC: the pods of a Node that no longer exists go at once (force: no kubelet will finish them)
      for (const p of this.cp.podsOn(name)) this.cp.forceDeletePod(p);
      return;
    }
    if (!node.spec?.podCIDR) {
      const cidr = this.cp.podCidrs.peek(); // admission takes it
      node = store.update({ ...node, spec: { ...node.spec, podCIDR: cidr, podCIDRs: [cidr] } });
      this.cp.recordFor(node, 'Normal', 'CIDRAssignmentSucceeded', `Node ${name} has CIDR ${cidr}`);
    }
    if (!node.status?.conditions?.some((c) => c.type === 'Ready')) {
      node = store.update({ ...node, status: { ...node.status, conditions: [...(node.status?.conditions ?? []), { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' }] } });
    }
    const ready = nodeReady(node);
    for (const p of this.cp.podsOn(name)) {
      if (isTerminal(p) || isTerminating(p)) continue;
      if (!ready && podCondition(p, 'Ready')?.status !== 'False') {
        store.patch('Pod', p.metadata.namespace, p.metadata.name, (x) => setPodCondition(x, { type: 'Ready', status: 'False' }));
      }
      this.evict(node, p);
    }
  }

  /** NoExecute taint manager: delete 'p' now, later (tolerationSeconds), or never. */
  private evict(node: Node, p: Pod): void {
    const noExec = (node.spec?.taints ?? []).filter((t) => t.effect === 'NoExecute');
    if (!noExec.length) return;
    const tols = p.spec.tolerations ?? [];
    let minSecs = Infinity;
    for (const taint of noExec) {
      const matching = tols.filter((t: Toleration) => !untoleratedTaint([taint], [t], ['NoExecute']));
      if (!matching.length) {
        this.cp.enqueueEviction(p);
        return;
      }
      const secs = Math.max(...matching.map((t) => t.tolerationSeconds ?? Infinity));
      minSecs = Math.min(minSecs, secs);
    }
    if (minSecs === Infinity) return;
    const key = `${p.metadata.uid}`;
    if (this.evictionTimers.has(key)) return;
    this.evictionTimers.add(key);
    this.cp.at(this.cp.nowMs() + Math.max(0, minSecs) * 1000, () => {
      this.evictionTimers.delete(key);
      const cur = this.cp.store.get('Pod', p.metadata.namespace, p.metadata.name);
      const n = this.cp.store.get('Node', undefined, node.metadata.name);
      if (!cur || cur.metadata.uid !== p.metadata.uid || !n) return;
      if ((n.spec?.taints ?? []).some((t) => t.effect === 'NoExecute')) this.cp.enqueueEviction(cur);
    });
  }
}

/** kube-scheduler's loop: binds pending pods, or writes PodScheduled=False with the FitError. */
class SchedulerController implements Controller {
  readonly name = 'scheduler';
  readonly watches = ['Pod', 'Node'] as const;
  constructor(private readonly cp: ControlPlane) {}

  private pending(): string[] {
    return this.cp.store.byIndex('Pod', 'unscheduled', '').map(objKey);
  }

  keysFor(e: WatchEvent): string[] {
    if (e.object.kind === 'Node') return this.pending();
    const p = e.object as Pod;
    if (!p.spec.nodeName) return e.type === 'DELETED' || !isActive(p) ? [] : [objKey(p)];
    // capacity freed: a bound pod went away or finished
    const old = e.old as Pod | undefined;
    if (e.type === 'DELETED' || (isTerminal(p) && !(old && isTerminal(old)))) return this.pending();
    return [];
  }

  sync(key: string): void {
    const [ns, name] = splitKey(key);
    const { store } = this.cp;
    const pod = store.get('Pod', ns, name);
    if (!pod || pod.spec.nodeName || !isActive(pod)) return;
    const r = this.cp.scheduler.scheduleOn(pod, this.cp.nodeInfoList(), { table: this.cp.nodeTable, scoreRows: SCORE_ROWS_KEPT });
    this.cp.noteDecision(pod.metadata.uid!, r);
    if (r.state === 'scheduled') {
      store.patchTop('Pod', ns, name, (p) => {
        p.spec.nodeName = r.node;
        setPodCondition(p, { type: 'PodScheduled', status: 'True' });
      });
      this.cp.recordFor(pod, 'Normal', 'Scheduled', `Successfully assigned ${ns}/${name} to ${r.node}`);
      return;
    }
    const prev = podCondition(pod, 'PodScheduled');
    if (prev?.status === 'False' && prev.message === r.message) return;
    store.patch('Pod', ns, name, (p) => {
      p.status ??= {};
      p.status.phase = 'Pending';
      setPodCondition(p, { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: r.message });
    });
    this.cp.recordFor(pod, 'Warning', 'FailedScheduling', r.message);
  }
}

/** The kubelet stand-in: a bound pod gets its IPs (and, with autoReady, Running + Ready). */
class KubeletController implements Controller {
  readonly name = 'kubelet';
  readonly watches = ['Pod', 'Node'] as const;
  constructor(private readonly cp: ControlPlane) {}

  keysFor(e: WatchEvent): string[] {
    if (e.object.kind === 'Node') return this.cp.podsOn(e.object.metadata.name).map(objKey);
    const p = e.object as Pod;
    return e.type !== 'DELETED' && p.spec.nodeName ? [objKey(p)] : [];
  }

  sync(key: string): void {
    const [ns, name] = splitKey(key);
    const { store } = this.cp;
    const pod = store.get('Pod', ns, name);
    if (!pod || !pod.spec.nodeName || !isActive(pod)) return;
    const node = store.get('Node', undefined, pod.spec.nodeName);
    if (!node || !nodeReady(node)) return;
    const hostIP = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    const opts = this.cp.options;
    const needIP = opts.assignPodIPs !== false && !pod.status?.podIP;
    const needHost = hostIP !== undefined && pod.status?.hostIP !== hostIP;
    const needReady = opts.autoReady && (pod.status?.phase !== 'Running' || podCondition(pod, 'Ready')?.status !== 'True') && !pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'False' && c.reason === 'ContainersNotReady');
    if (!needIP && !needHost && !needReady) return;
    let ip: string | undefined;
    if (needIP) {
      if (pod.spec.hostNetwork) ip = hostIP;
      else ip = this.cp.podIpAllocator(node)?.allocate();
    }
    store.patchTop('Pod', ns, name, (p) => {
      p.status ??= {};
      if (hostIP) {
        p.status.hostIP = hostIP;
      }
      if (ip) {
        p.status.podIP = ip;
        p.status.podIPs = [{ ip }];
      }
      if (needReady) {
        p.status.phase = 'Running';
        setPodCondition(p, { type: 'Initialized', status: 'True' });
        setPodCondition(p, { type: 'ContainersReady', status: 'True' });
        setPodCondition(p, { type: 'Ready', status: 'True' });
      }
    });
  }
}

/** The API server's own EndpointSlice for the `kubernetes` Service. */
class ApiServerEndpoints implements Controller {
  readonly name = 'apiserver-endpoints';
  readonly watches = ['Node', 'Service'] as const;
  constructor(private readonly cp: ControlPlane) {}

  keysFor(e: WatchEvent): string[] {
    return e.object.kind === 'Node' || (e.object.metadata.namespace === 'default' && e.object.metadata.name === 'kubernetes') ? ['default/kubernetes'] : [];
  }

  sync(): void {
    const { store } = this.cp;
    const svc = store.get('Service', 'default', 'kubernetes');
    if (!svc) return;
    const addrs = this.cp.options.apiServerAddresses ?? store.list('Node')
      .filter((n) => n.metadata.labels?.['node-role.kubernetes.io/control-plane'] !== undefined)
      .map((n) => n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address)
      .filter((a): a is string => a !== undefined);
    const slice: EndpointSlice = {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: 'kubernetes', namespace: 'default', labels: { [SERVICE_NAME_LABEL]: 'kubernetes' } },
      addressType: 'IPv4',
      endpoints: addrs.map((a) => ({ addresses: [a], conditions: { ready: true } })),
      ports: [{ name: 'https', port: 6443, protocol: 'TCP' }],
    };
    const cur = store.get('EndpointSlice', 'default', 'kubernetes');
    if (!cur) store.create(slice);
    else store.update({ ...cur, endpoints: slice.endpoints, ports: slice.ports });
  }
}

