/**
 * A Kubernetes cluster (k8s layer): the control plane, the data plane and
 * kube-proxy on every node, wired as a real cluster wires them.
 *
 * What: `new Cluster(opts)` holds a `ControlPlane` (controllers/: the API
 * store, scheduler, controllers, a stand-in kubelet), a `ClusterNetwork`
 * (cni/: nodes with an Antrea-style br-int and tunnels, pods on veths,
 * NetworkPolicy in the flows) on a `Topology` (its own, or one given: the
 * demo puts a cluster beside other networks), and one kube-proxy per node
 * (kube-proxy/: `IptablesProxier` or `IpvsProxier`). Users give it nodes
 * (`addNode`, or `kind: Node` documents) and ordinary manifests (`apply`,
 * `applyYaml`); everything else follows, as in a cluster:
 *  - a Node gets a podCIDR from the cluster CIDR (node IPAM) and, when its
 *    manifest names no InternalIP, the next address of the underlay; its
 *    machine, bridge, tunnels and routes appear in the data plane;
 *  - a pod the scheduler binds gets its address (host-local on the node's
 *    podCIDR) and its stack on a veth; it is Ready at once (`autoReady`);
 *    its containers listen on the ports they declare (TCP: an HTTP/1.0
 *    answer naming the pod; UDP: an echo), so a Service has something to
 *    reach;
 *    a deleted or evicted pod's veth and flows go; label changes reach the
 *    policy flows; Namespaces' labels reach namespaceSelectors;
 *  - Services and EndpointSlices feed every node's kube-proxy, which syncs
 *    — a full sync first, then partial ones rewriting only what changed —
 *    and its payload is loaded into the node's netfilter (ipvs mode: its
 *    IPVS and ipsets are the node's own, shared; the kube-ipvs0 addresses
 *    and the iptables payload are applied). Nodes whose rules are the same
 *    share one kube-proxy (kube-proxy/fleet.ts: a node with a local
 *    endpoint of a Local Service, say, has its own): its sync is loaded on
 *    the first of them at once and on each other one at its first packet
 *    (the CNI's applyIptablesShared: the first node's new chains, shared),
 *    so a 5,000-node cluster computes and parses a payload once, not
 *    5,000 times. `syncs` keeps every
 *    node's payloads, as the issue's API asks (`kubeProxySyncs(node)`);
 *  - `nodeDown(name)`: the machine fails (its links cut) and its kubelet
 *    stops posting: pods are evicted and rescheduled, slices updated,
 *    kube-proxy resynced everywhere; `crashNode(name, { nodeMonitorGracePeriodS })`
 *    is the same with the control plane noticing as it does, after the
 *    node monitor grace period (40 s) — until then the dead pods stay
 *    endpoints — and `restoreNode(name)` brings the machine back;
 *  - after each kube-proxy sync, the UDP conntrack entries that DNAT a
 *    Service address to an endpoint that stopped serving are deleted on
 *    every node, as kube-proxy's conntrack cleanup does (a UDP flow would
 *    otherwise stick to a dead backend for as long as it sends).
 * The data plane follows the control plane after each settled reconcile
 * (ControlPlane.onSettled), doing only what the store's watch events say
 * changed (a node's pods that were bound before it reached the data plane
 * wait for it); kube-proxy syncs after each API change, or once after a
 * batch of them (`apply`, `batch`: a burst kube-proxy's minSyncPeriod
 * would gather), on the nodes whose Services or EndpointSlices changed and
 * on new nodes. Time is the topology's
 * simulator's: eviction timers are simulation events.
 * Neighbours: controllers/control-plane.ts, cni/network.ts, kube-proxy/,
 * manifest.ts; the CLI (`sdnemu run` of a manifest file, `sdnemu
 * kube-proxy`) and the demo (demo.ts) build on it.
 */
import { Topology } from '../topology/topology.js';
import type { Host } from '../netstack/host.js';
import type { ContainerPort, KubeObject, Node, Pod, Service, EndpointSlice } from './api.js';
import { tcpServer } from '../netstack/tools.js';
import { matchesMap } from './labels.js';
import { ControlPlane, type ApplyResult, type NodeSpecInput } from './controllers/control-plane.js';
import { loadManifests, type LoadedManifests } from './manifest.js';
import { ClusterNetwork } from './cni/network.js';
import { parseCidr } from './cni/cidr.js';
import { splitKey } from './controllers/context.js';
import { ipv4ToString, parseIpv4 } from '../wire/bytes.js';
import { IPPROTO_UDP } from '../wire/udp.js';
import { IpvsProxier, KubeProxyFleet, type FleetProxier, type KubeProxyConfig } from './kube-proxy/index.js';
import { InputError } from '../errors.js';

export interface ClusterOptions {
  /** the network to build in (default: a new Topology with 'seed') */
  topology?: Topology;
  seed?: number;
  /** kube-proxy's mode (default iptables) */
  proxyMode?: 'iptables' | 'ipvs';
  /** the tunnel between nodes (default vxlan) */
  tunnel?: 'vxlan' | 'geneve';
  /** pod CIDRs are carved from it, a /24 per node (default 10.244.0.0/16) */
  clusterCIDR?: string;
  /** ClusterIPs (default 10.96.0.0/12) */
  serviceCIDR?: string;
  /** the nodes' network (default 192.168.0.0/24; nodes from .10 on) */
  underlay?: string;
  /** LoadBalancer addresses (CIDRs or ranges; default none) */
  loadBalancerPool?: string[];
  /** kube-proxy's configuration beyond what the cluster sets (hostname, node IPs, the cluster CIDR detector) */
  kubeProxy?: Partial<Omit<KubeProxyConfig, 'hostname' | 'nodeIPs'>>;
  /** a node's routes and flows to its peers installed at its first traffic, not when a node joins (cni/network.ts "Lazy peers": for thousands of nodes; default false) */
  lazyPeers?: boolean;
  /**
   * the data plane holds the pods of the nodes this accepts (default: every node's); the others'
   * pods exist in the API only — a shard of a sharded run (shard/source.ts) builds its own nodes'
   * pods. Not for a cluster with NetworkPolicies: their flows select pods on every node.
   */
  podsOn?: (node: string) => boolean;
  /**
   * deleted pods terminate gracefully (ControlPlane's option): Terminating for their grace period, and
   * on a crashed node until the node is back or its Node deleted (default false: deletion is immediate)
   */
  gracefulTermination?: boolean;
  /**
   * the tolerationSeconds admission gives pods for the not-ready and unreachable NoExecute taints
   * (kube-apiserver's --default-unreachable-toleration-seconds; default 300; null: none, so pods
   * are evicted as soon as their node is noticed down)
   */
  defaultTolerationSeconds?: number | null;
}

/** One kube-proxy sync on a node: when, full or partial, and what it wrote. */
export interface KubeProxySync {
  node: string;
  /** virtual time, ns */
  t: number;
  full: boolean;
  /** the iptables-restore payload */
  payload: string;
}

/** A cluster node as `addNode` takes it. */
export interface ClusterNodeSpec extends Omit<NodeSpecInput, 'podCIDR' | 'internalIP'> {
  /** its underlay address (default: the next free one) */
  ip?: string;
}

export class Cluster {
  readonly net: Topology;
  readonly cp: ControlPlane;
  readonly cni: ClusterNetwork;
  readonly proxyMode: 'iptables' | 'ipvs';
  private readonly tunnel: 'vxlan' | 'geneve';
  /** every kube-proxy sync, in order */
  readonly syncs: KubeProxySync[] = [];
  /** every node's kube-proxy: one sync for all nodes whose rules are the same */
  private readonly fleet: KubeProxyFleet;
  /** the nodes on the data plane */
  private readonly nodeNames = new Set<string>();
  private readonly clusterCIDR: string;
  private readonly underlayBase: number;
  private readonly underlayLen: number;
  private nextNodeHost = 10;
  // what the data plane and kube-proxy have seen, by key: resourceVersion (or a label digest)
  private readonly seenPods = new Map<string, string>();
  private readonly seenNs = new Map<string, string>();
  private readonly seenPolicies = new Map<string, string>();
  private readonly seenServices = new Map<string, Service>();
  private readonly seenSlices = new Map<string, EndpointSlice>();
  private syncing = false;
  private again = false;
  /** apply()/batch() depth: kube-proxy syncs wait for the outermost one's end */
  private holding = 0;
  /** what changed in the API since the data plane last followed: kind → keys (`ns/name`, or the name) */
  private changed = new Map<string, Set<string>>();
  /** crashed nodes (crashNode): whether the control plane has noticed yet */
  private readonly crashed = new Map<string, { noticed: boolean }>();
  /** each Service with a UDP port (`ns/name`) → its addresses and serving endpoints at the last sync */
  private readonly udpServing = new Map<string, { vips: string[]; serving: Set<string> }>();
  /** Services whose object or slices changed since the last UDP conntrack cleanup */
  private readonly udpDirty = new Set<string>();
  /** Service key → the keys of its EndpointSlices (as kube-proxy has them) */
  private readonly slicesOf = new Map<string, Set<string>>();
  /** which nodes' pods the data plane holds (ClusterOptions.podsOn) */
  private readonly podsOn: ((node: string) => boolean) | undefined;
  /** pods bound to a node that is not on the data plane yet, by node */
  private readonly waiting = new Map<string, Set<string>>();

  constructor(opts: ClusterOptions = {}) {
    this.net = opts.topology ?? new Topology({ seed: opts.seed ?? 1 });
    this.proxyMode = opts.proxyMode ?? 'iptables';
    this.podsOn = opts.podsOn;
    this.tunnel = opts.tunnel ?? 'vxlan';
    this.clusterCIDR = opts.clusterCIDR ?? '10.244.0.0/16';
    const underlay = opts.underlay ?? '192.168.0.0/24';
    const net = parseCidr(underlay, 'underlay', 'CLUSTER_BAD_UNDERLAY');
    if (net.len < 8 || net.len > 30) throw new InputError('CLUSTER_BAD_UNDERLAY', 'underlay', `'${underlay}' leaves no room for nodes (a /8 to /30)`);
    this.underlayBase = net.net;
    this.underlayLen = net.len;
    this.cp = new ControlPlane({
      seed: opts.seed ?? 1, clusterCIDR: this.clusterCIDR, autoReady: true, sim: this.net.sim,
      ...(opts.gracefulTermination !== undefined ? { gracefulTermination: opts.gracefulTermination } : {}),
      ...(opts.defaultTolerationSeconds !== undefined ? { defaultTolerationSeconds: opts.defaultTolerationSeconds } : {}),
      ...(opts.serviceCIDR !== undefined ? { serviceCIDR: opts.serviceCIDR } : {}),
      ...(opts.loadBalancerPool !== undefined ? { loadBalancerPool: opts.loadBalancerPool } : {}),
    });
    this.cni = new ClusterNetwork(this.net, {
      underlay, tunnelType: this.tunnel, proxyMode: this.proxyMode, lazyPeers: opts.lazyPeers ?? false,
      ...(opts.serviceCIDR !== undefined ? { serviceCIDR: opts.serviceCIDR } : {}),
    });
    // the viewer draws a tunnel between two nodes once either has the other's flows: every pair
    // at once, or (lazy peers) a node's pairs when its first traffic installs them — not the
    // 12.5 million pairs of 5,000 idle nodes
    this.cni.onPeer = (local, peer) => this.net.tunnel(`${peer.name}/br-int`, `${local.name}/br-int`, this.tunnel, 0);
    this.fleet = new KubeProxyFleet(this.proxyMode, { localDetector: { mode: 'cluster-cidr', clusterCIDR: this.clusterCIDR }, ...opts.kubeProxy });
    // the data plane follows what changed: what the control plane made already, then each write
    for (const kind of FOLLOWED) for (const o of this.cp.store.list(kind)) this.mark(o);
    this.cp.store.watch('*', (e) => this.mark(e.object));
    this.cp.onSettled(() => this.follow());
  }

  // ---- what users do ------------------------------------------------------------------------------

  /** A node joins: the Node object (its kubelet registering), its machine and kube-proxy. */
  addNode(name: string, spec: ClusterNodeSpec = {}): Node {
    const { ip, ...rest } = spec;
    return this.cp.addNode(name, { ...rest, internalIP: ip ?? this.nextNodeIP() });
  }

  /**
   * `kubectl apply -f`: manifests (objects, or text loaded with its warnings); a `kind: Node`
   * document registers a node (its InternalIP, labels, taints and capacity are read). Each
   * object's result as kubectl prints it; a bad one does not stop the others.
   */
  apply(input: readonly KubeObject[] | LoadedManifests): ApplyResult[] {
    const objects = Array.isArray(input) ? input as readonly KubeObject[] : (input as LoadedManifests).objects;
    return this.batch(() => {
      const out: ApplyResult[] = [];
      const rest: KubeObject[] = [];
      for (const o of objects) {
        if (o.kind !== 'Node') { rest.push(o); continue; }
        if (this.cp.store.get('Node', undefined, o.metadata.name) !== undefined) {
          out.push({ kind: 'Node', name: o.metadata.name, action: 'unchanged', message: `node/${o.metadata.name} unchanged` });
          continue;
        }
        this.addNode(o.metadata.name, nodeSpecOf(o));
        out.push({ kind: 'Node', name: o.metadata.name, action: 'created', message: `node/${o.metadata.name} created` });
      }
      return [...out, ...this.cp.apply(rest)];
    });
  }

  /**
   * Run 'fn' (API changes: nodes added, manifests applied) as one batch: the data plane follows
   * each change as it settles, its flows installed at the end, and kube-proxy syncs once after
   * it — as kube-proxy, whose syncs are at least its minSyncPeriod apart, sees a burst of
   * changes. `apply` is one batch.
   */
  batch<T>(fn: () => T): T {
    this.holding++;
    let r: T;
    try {
      r = this.cni.batch(fn);
    } finally {
      this.holding--;
    }
    if (this.holding === 0) this.syncProxies();
    return r;
  }

  /** `kubectl apply -f FILE` of YAML text (throws ManifestError with the line for a file that does not load). */
  applyYaml(text: string, file?: string): ApplyResult[] {
    return this.apply(loadManifests(text, file === undefined ? {} : { file }));
  }

  /** The node fails and is noticed at once: its machine's links are cut, its kubelet stops posting (pods evicted per their tolerations). */
  nodeDown(name: string): void {
    this.cni.failNode(name);
    this.cp.nodeDown(name);
  }

  /**
   * The node's machine crashes now, and the control plane notices as kube-controller-manager's
   * node lifecycle controller does: its links are cut at once (what is sent to its pods is
   * lost; kube-proxy everywhere still lists them), and only after 'nodeMonitorGracePeriodS'
   * (--node-monitor-grace-period, default 40 s) without a heartbeat is the node Ready=Unknown
   * and tainted node.kubernetes.io/unreachable (NoSchedule, NoExecute): its pods turn not ready
   * — the EndpointSlices drop them from the ready endpoints, every kube-proxy resyncs and clears
   * the UDP conntrack entries that still DNAT to them — and are evicted when their toleration
   * of the taint runs out (tolerationSeconds, 300 s by default), when their owners recreate
   * them on live nodes. The Node object stays (NotReady) until someone deletes it: until then
   * the other nodes keep their routes, flows and tunnels to it, as Antrea's do.
   * Throws InputError CLUSTER_NO_NODE (unknown node), CLUSTER_NODE_DOWN (already crashed).
   */
  crashNode(name: string, opts: { nodeMonitorGracePeriodS?: number } = {}): void {
    if (!this.nodeNames.has(name)) throw new InputError('CLUSTER_NO_NODE', name, `no node named '${name}'`);
    if (this.crashed.has(name)) throw new InputError('CLUSTER_NODE_DOWN', name, `node '${name}' is already down`);
    const grace = opts.nodeMonitorGracePeriodS ?? NODE_MONITOR_GRACE_PERIOD_S;
    if (!(grace >= 0)) throw new InputError('CLUSTER_BAD_GRACE', 'nodeMonitorGracePeriodS', `${grace} is not a number of seconds >= 0`);
    this.cni.failNode(name);
    const token = { noticed: false };
    this.crashed.set(name, token);
    const notice = (): void => {
      if (this.crashed.get(name) !== token || this.cp.store.get('Node', undefined, name) === undefined) return;
      token.noticed = true;
      this.cp.nodeDown(name);
    };
    if (grace === 0) notice(); else this.cp.at(this.cp.nowMs() + grace * 1000, notice);
  }

  /**
   * A crashed node is back (rebooted): its links restored, its conntrack empty, its kubelet
   * posting Ready again (the unreachable taints removed) if the control plane had noticed the
   * crash; the pods not yet evicted are Ready again. Throws InputError CLUSTER_NO_NODE (unknown,
   * or its Node deleted meanwhile), CLUSTER_NODE_UP (not down).
   */
  restoreNode(name: string): void {
    if (!this.nodeNames.has(name)) throw new InputError('CLUSTER_NO_NODE', name, `no node named '${name}'`);
    const token = this.crashed.get(name);
    if (token === undefined) throw new InputError('CLUSTER_NODE_UP', name, `node '${name}' is not down`);
    this.crashed.delete(name);
    this.cni.restoreNode(name);
    if (token.noticed) this.cp.nodeUp(name);
  }

  /** A pod's network stack (to ping or curl from). */
  pod(namespace: string, name: string): Host {
    return this.cni.pod(namespace, name).host;
  }

  /** The pods of 'namespace' whose labels include 'labels', in name order. */
  podsWith(labels: Record<string, string>, namespace = 'default'): Pod[] {
    return this.cp.store.list('Pod', namespace)
      .filter((p) => Object.entries(labels).every(([k, v]) => p.metadata.labels?.[k] === v))
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  }

  /** A Service's ClusterIP. */
  serviceIP(namespace: string, name: string): string {
    const s = this.cp.store.get('Service', namespace, name);
    const ip = s?.spec.clusterIP;
    if (ip === undefined || ip === 'None') throw new InputError('CLUSTER_NO_SERVICE', `${namespace}/${name}`, `no Service ${namespace}/${name} with a ClusterIP`);
    return ip;
  }

  /**
   * The requests a user checks a cluster with: for each Service with a selector and a ClusterIP,
   * from up to 'perService' pods it does not select (on the data plane, in its namespace), one to
   * each of its TCP ports; 'nodePort' says the port is also a NodePort (to try from outside).
   */
  serviceChecks(perService = 3): { service: string; from: string; to: string; port: number; nodePort: number | null }[] {
    const out: { service: string; from: string; to: string; port: number; nodePort: number | null }[] = [];
    for (const svc of this.cp.store.list('Service')) {
      const ns = svc.metadata.namespace ?? 'default', ip = svc.spec.clusterIP;
      if (svc.spec.selector === undefined || ip === undefined || ip === 'None') continue;
      const clients = this.cni.pods().filter((p) => p.namespace === ns && !matchesMap(p.labels, svc.spec.selector)).slice(0, perService);
      for (const port of (svc.spec.ports ?? []).filter((x) => (x.protocol ?? 'TCP') === 'TCP')) {
        for (const c of clients) out.push({ service: `${ns}/${svc.metadata.name}`, from: `${ns}/${c.name}`, to: ip, port: port.port, nodePort: port.nodePort ?? null });
        if (clients.length === 0 && port.nodePort !== undefined) out.push({ service: `${ns}/${svc.metadata.name}`, from: '', to: ip, port: port.port, nodePort: port.nodePort });
      }
    }
    return out;
  }

  /** Node 'name''s kube-proxy syncs, in order. */
  kubeProxySyncs(node: string): KubeProxySync[] {
    return this.syncs.filter((s) => s.node === node);
  }

  /** The kube-proxy that writes node 'name''s rules (its change tracker and last state; shared by the nodes whose rules are the same). */
  kubeProxy(node: string): FleetProxier {
    const p = this.fleet.proxier(node);
    if (p === undefined) throw new InputError('CLUSTER_NO_NODE', node, `no node named '${node}'`);
    return p;
  }

  // ---- following the control plane --------------------------------------------------------------

  private nextNodeIP(): string {
    const size = 2 ** (32 - this.underlayLen);
    const taken = new Set(this.cni.nodes().map((n) => n.ip));
    for (;;) {
      if (this.nextNodeHost >= size - 1) throw new InputError('CLUSTER_UNDERLAY_FULL', 'underlay', 'no address left on the underlay for another node');
      const ip = ipv4ToString(this.underlayBase + this.nextNodeHost++);
      if (!taken.has(ip)) return ip;
    }
  }

  /** The node network's last usable address: for a machine outside the cluster (a NodePort client). */
  spareAddress(): string {
    return ipv4ToString(this.underlayBase + 2 ** (32 - this.underlayLen) - 2);
  }

  /** After each settled reconcile: bring the data plane and every kube-proxy to the API's state. */
  private follow(): void {
    if (this.syncing) { this.again = true; return; }
    this.syncing = true;
    try {
      do {
        this.again = false;
        this.cni.batch(() => this.followOnce());
        if (this.holding === 0) this.syncProxies();
      } while (this.again);
    } finally {
      this.syncing = false;
    }
  }

  private followOnce(): void {
    const store = this.cp.store;
    const dirty = this.changed;
    this.changed = new Map();
    const keys = (kind: string): Set<string> => dirty.get(kind) ?? new Set();
    // nodes: a machine and a kube-proxy for each new one, gone with the Node object
    for (const name of keys('Node')) {
      const n = store.get('Node', undefined, name);
      if (n === undefined) { if (this.nodeNames.has(name)) this.removeNode(name); continue; }
      if (this.nodeNames.has(name)) continue;
      const ip = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
      const podCIDR = n.spec?.podCIDR;
      if (ip === undefined || podCIDR === undefined) continue;
      const proxier = this.fleet.addNode(name, ip, n.metadata.labels ?? {});
      this.cni.addNode({ name, ip, podCIDR, ...(proxier instanceof IpvsProxier ? { kernel: { ipvs: proxier.ipvs, ipsets: proxier.ipsets } } : {}) });
      // trace records say what a matched flow means (its table; the NetworkPolicy that allows or denies)
      this.cni.node(name).bridge.explainRule = (line) => this.cni.explainFlow(line);
      // what the viewer draws: a node (and its tunnels as its peers' flows are installed: cni.onPeer)
      this.net.roles.set(name, 'node');
      this.nodeNames.add(name);
      // pods bound to it before it was on the data plane
      const waiting = this.waiting.get(name);
      if (waiting !== undefined) {
        this.waiting.delete(name);
        const pods = dirty.get('Pod') ?? dirty.set('Pod', new Set()).get('Pod')!;
        for (const k of waiting) pods.add(k);
      }
    }
    // namespaces' labels (namespaceSelector)
    for (const name of keys('Namespace')) {
      const ns = store.get('Namespace', undefined, name);
      const d = JSON.stringify(ns?.metadata.labels ?? {});
      if (ns === undefined || this.seenNs.get(name) === d) continue;
      this.seenNs.set(name, d);
      this.cni.setNamespace(name, ns.metadata.labels ?? {});
    }
    // pods: bound, addressed and not finished → on the data plane
    for (const key of keys('Pod')) {
      const [ns, name] = splitKey(key);
      const p = store.get('Pod', ns, name);
      const phase = p?.status?.phase;
      const node = p?.spec.nodeName;
      const want = p !== undefined && p.spec.hostNetwork !== true && node !== undefined && p.status?.podIP !== undefined && phase !== 'Succeeded' && phase !== 'Failed'
        && (this.podsOn === undefined || this.podsOn(node));
      if (want && !this.nodeNames.has(node)) {
        // its node is not on the data plane yet: it comes when the node does
        (this.waiting.get(node) ?? this.waiting.set(node, new Set()).get(node)!).add(key);
      }
      const seen = this.seenPods.get(key);
      if (!want || !this.nodeNames.has(node)) {
        if (seen === undefined) continue;
        this.seenPods.delete(key);
        this.net.roles.delete(key);
        this.cni.removePod(ns, name);
        continue;
      }
      const labels = JSON.stringify(p.metadata.labels ?? {});
      if (seen === labels) continue;
      if (seen === undefined) {
        const ports = p.spec.containers.flatMap((c) => c.ports ?? []);
        const pod = this.cni.addPod({ namespace: ns, name, node, labels: p.metadata.labels ?? {}, ip: p.status!.podIP!, ports });
        this.net.roles.set(key, 'pod');
        serveContainerPorts(pod.host, name, ports);
      } else this.cni.setPodLabels(ns, name, p.metadata.labels ?? {});
      this.seenPods.set(key, labels);
    }
    // NetworkPolicies
    for (const key of keys('NetworkPolicy')) {
      const [ns, name] = splitKey(key);
      const np = store.get('NetworkPolicy', ns, name);
      if (np === undefined) {
        if (this.seenPolicies.delete(key)) this.cni.deleteNetworkPolicy(ns, name);
        continue;
      }
      const d = JSON.stringify(np.spec);
      if (this.seenPolicies.get(key) === d) continue;
      this.cni.applyNetworkPolicy(np);
      this.seenPolicies.set(key, d);
    }
    // Services and EndpointSlices → kube-proxy's change trackers
    const svcKey = (o: Service): string => `${o.metadata.namespace ?? 'default'}/${o.metadata.name}`;
    this.track('Service', keys('Service'), this.seenServices,
      (o, old) => { this.udpDirty.add(svcKey(o)); this.fleet.upsertService(o, old === undefined); },
      (o) => { this.udpDirty.add(svcKey(o)); this.fleet.deleteService(o); });
    this.track('EndpointSlice', keys('EndpointSlice'), this.seenSlices,
      (o, old) => {
        if (old !== undefined && this.sliceService(old) !== this.sliceService(o)) this.noteSlice(old, false);
        this.noteSlice(o, true);
        this.fleet.upsertSlice(o, old === undefined);
      },
      (o) => { this.noteSlice(o, false); this.fleet.deleteSlice(o); });
  }

  /** Note that 'o' changed (its key under its kind), for the next follow. */
  private mark(o: KubeObject): void {
    if (!(FOLLOWED as readonly string[]).includes(o.kind)) return;
    const m = o.metadata;
    const key = o.kind === 'Node' || o.kind === 'Namespace' ? m.name : `${m.namespace ?? 'default'}/${m.name}`;
    (this.changed.get(o.kind) ?? this.changed.set(o.kind, new Set()).get(o.kind)!).add(key);
  }

  /** Node 'name' leaves the data plane, with its pods and its kube-proxy. */
  private removeNode(name: string): void {
    this.nodeNames.delete(name);
    this.crashed.delete(name);
    this.fleet.removeNode(name);
    this.net.untunnel(`${name}/br-int`);
    this.net.roles.delete(name);
    for (const p of this.cni.removeNode(name)) { this.seenPods.delete(`${p.namespace}/${p.name}`); this.net.roles.delete(`${p.namespace}/${p.name}`); }
  }

  /** The objects of 'kind' named in 'keys' against 'seen' (by resourceVersion): kube-proxy hears of each change. */
  private track<T extends Service | EndpointSlice>(kind: T['kind'], keys: Set<string>, seen: Map<string, T>,
    upsert: (o: T, old: T | undefined) => void, remove: (o: T) => void): void {
    for (const key of keys) {
      const [ns, name] = splitKey(key);
      const o = this.cp.store.get(kind, ns, name) as T | undefined;
      const old = seen.get(key);
      if (o === undefined) {
        if (old !== undefined) { seen.delete(key); remove(old); }
        continue;
      }
      if (old !== undefined && old.metadata.resourceVersion === o.metadata.resourceVersion) continue;
      // (the store never changes a stored object in place: it can be kept as it is)
      seen.set(key, o);
      upsert(o, old);
    }
  }

  /**
   * Every kube-proxy with changes syncs and its rules are loaded: a shared sync on the first of
   * its nodes at once (which checks the text), on the others at their first read of the rules
   * (CNI applyIptablesShared; an ipvs-mode sync is one node's).
   */
  private syncProxies(): void {
    const nowMs = this.net.sim.now / 1e6;
    for (const s of this.fleet.sync(nowMs)) {
      if (s.ipvs !== undefined) this.cni.applyIpvs(s.nodes[0]!, { addresses: s.ipvs.addresses, iptables: s.payload });
      else this.cni.applyIptablesShared(s.nodes, s.payload);
      for (const node of s.nodes) this.syncs.push({ node, t: this.net.sim.now, full: s.full, payload: s.payload });
    }
    this.clearStaleUdp();
  }

  /**
   * kube-proxy's conntrack cleanup after a sync (pkg/proxy/conntrack): a UDP flow keeps its
   * conntrack entry as long as it sends, so one DNATed to an endpoint that no longer serves
   * (deleted, not ready) would never reach another; on every node on the data plane, the
   * entries whose original destination is an address of the Service (ClusterIP, external and
   * load-balancer IPs) and whose reply source is such an endpoint are deleted (`conntrack -D
   * --orig-dst VIP --reply-src EP -p udp`, as pkg/proxy/conntrack filters by protocol), and the
   * flow's next datagram is load-balanced anew. TCP entries of the same address pair are left, as
   * kube-proxy leaves them (the endpoint's pod, when it is alive, resets them). Difference:
   * NodePort entries are not cleared.
   * Cost: only the Services whose object or slices changed since the last sync (their slices
   * through an index), plus a table walk per node for each endpoint that stopped serving.
   */
  private clearStaleUdp(): void {
    for (const key of this.udpDirty) {
      const before = this.udpServing.get(key);
      const after = this.udpStateOf(key);
      if (after === undefined) this.udpServing.delete(key); else this.udpServing.set(key, after);
      if (before === undefined) continue;
      for (const ep of before.serving) {
        if (after !== undefined && after.serving.has(ep)) continue;
        for (const vip of before.vips) {
          for (const n of this.cni.nodes()) {
            if (!n.failed) n.host.ip.ct.deleteWhere({ proto: IPPROTO_UDP, origDst: parseIpv4(vip)!, replySrc: parseIpv4(ep)! });
          }
        }
      }
    }
    this.udpDirty.clear();
  }

  /** Service 'key''s addresses and serving endpoints, as kube-proxy has them, when it has a UDP port. */
  private udpStateOf(key: string): { vips: string[]; serving: Set<string> } | undefined {
    const svc = this.seenServices.get(key);
    if (svc === undefined || !(svc.spec.ports ?? []).some((p) => p.protocol === 'UDP')) return undefined;
    const vips = [svc.spec.clusterIP, ...(svc.spec.externalIPs ?? []), ...(svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip)]
      .filter((v): v is string => v !== undefined && v !== '' && v !== 'None' && parseIpv4(v) !== null);
    const serving = new Set<string>();
    for (const sk of this.slicesOf.get(key) ?? []) {
      for (const e of this.seenSlices.get(sk)?.endpoints ?? []) {
        const c = e.conditions ?? {};
        if ((c.serving ?? c.ready ?? true) && e.addresses[0] !== undefined) serving.add(e.addresses[0]);
      }
    }
    return { vips, serving };
  }

  /** The Service key (`ns/name`) an EndpointSlice belongs to, or undefined. */
  private sliceService(sl: EndpointSlice): string | undefined {
    const svc = sl.metadata.labels?.['kubernetes.io/service-name'];
    return svc === undefined ? undefined : `${sl.metadata.namespace ?? 'default'}/${svc}`;
  }

  /** Index slice 'sl' under its Service (or take it out) and mark the Service for the UDP cleanup. */
  private noteSlice(sl: EndpointSlice, present: boolean): void {
    const svc = this.sliceService(sl);
    if (svc === undefined) return;
    const key = `${sl.metadata.namespace ?? 'default'}/${sl.metadata.name}`;
    const set = this.slicesOf.get(svc) ?? this.slicesOf.set(svc, new Set()).get(svc)!;
    if (present) set.add(key); else { set.delete(key); if (set.size === 0) this.slicesOf.delete(svc); }
    this.udpDirty.add(svc);
  }
}

/** kube-controller-manager's --node-monitor-grace-period default (40 s; 50 s from Kubernetes 1.32) */
const NODE_MONITOR_GRACE_PERIOD_S = 40;

/** The kinds the data plane and kube-proxy follow. */
const FOLLOWED = ['Node', 'Namespace', 'Pod', 'NetworkPolicy', 'Service', 'EndpointSlice'] as const;

/**
 * A cluster from loaded manifests (`sdnemu run` / `serve` of a manifest file): its `kind: Node`
 * documents are the nodes, a single `node-1` when there are none; the apply results as kubectl
 * prints them ('opts': the cluster's, as `new Cluster` takes them).
 */
export function clusterOf(loaded: LoadedManifests, opts: ClusterOptions = {}): { cluster: Cluster; results: ApplyResult[] } {
  const cluster = new Cluster(opts);
  if (!loaded.objects.some((o) => o.kind === 'Node')) cluster.addNode('node-1');
  return { cluster, results: cluster.apply({ ...loaded, objects: structuredClone(loaded.objects) }) };
}

/**
 * The pod's containers listen on the ports they declare: TCP ones answer each request with an
 * HTTP/1.0 response naming the pod (which backend answered, as `curl` of an echo server shows),
 * UDP ones echo.
 */
function serveContainerPorts(host: Host, pod: string, ports: readonly ContainerPort[]): void {
  const body = new TextEncoder().encode(`HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n${pod}\n`);
  for (const p of ports) {
    if ((p.protocol ?? 'TCP') === 'TCP') tcpServer(host, p.containerPort, () => body);
    else if (p.protocol === 'UDP') {
      const sock = host.sockets.udp(p.containerPort);
      sock.onMessage = (data, from) => { sock.send(from.addr, from.port, data.slice()); };
    }
  }
}

/** What a `kind: Node` manifest says about its machine. */
function nodeSpecOf(n: Node): ClusterNodeSpec {
  const labels = { ...n.metadata.labels };
  const ip = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  const cap = n.status?.capacity ?? {};
  return {
    labels,
    ...(n.spec?.taints !== undefined ? { taints: n.spec.taints } : {}),
    ...('node-role.kubernetes.io/control-plane' in labels ? { controlPlane: true } : {}),
    ...(ip !== undefined ? { ip } : {}),
    ...(cap['cpu'] !== undefined ? { cpu: cap['cpu'] } : {}),
    ...(cap['memory'] !== undefined ? { memory: cap['memory'] } : {}),
    ...(cap['pods'] !== undefined ? { pods: cap['pods'] } : {}),
  };
}
