/**
 * kube-proxy on every node of a cluster, run once for all the nodes whose
 * rules are the same (k8s layer).
 *
 * What: a `KubeProxyFleet` holds the kube-proxy of each node (`addNode`,
 * `removeNode`, `setNodeLabels`), is fed the cluster's Services and
 * EndpointSlices once (`upsertService`, `deleteService`, `upsertSlice`,
 * `deleteSlice`), and `sync(nowMs)` returns each sync that happened: its
 * payload and the nodes it is for.
 * Why: in iptables mode a node's rules depend on the node only through a
 * few things — which endpoints are local (read only for Services that use
 * local endpoints: internalTrafficPolicy Local, or externalTrafficPolicy
 * Local and reachable from outside), its zone (read only against
 * EndpointSlice zone hints), its IP (read only for LoadBalancer source
 * ranges that contain it and for nodePortAddresses). Every other node
 * writes byte for byte the same payload, sync after sync; a cluster of
 * 5,000 nodes would compute it 5,000 times. So the fleet runs one shared
 * proxier (no hostname: nothing is local; no zone; no node IP) for every
 * node that nothing above singles out, and an own proxier, fed the same
 * objects, for each node that is singled out. A node once singled out keeps
 * its own proxier (its rules stay right when the reason goes; it only
 * costs). The property test (test/k8s/kube-proxy-fleet.test.ts) checks the
 * claim against a proxier per node on random clusters.
 * A node joining the shared group needs the whole state, so its arrival
 * makes the shared proxier's next sync a full one (kube-proxy's full sync
 * is idempotent for the nodes that already have it).
 * ipvs mode: a proxier per node, always — its IPVS and ipsets are the
 * node's kernel state (connections, set members), which nodes cannot share.
 * Neighbours: iptables.ts, ipvs.ts, tracker.ts (what a Service port uses);
 * k8s/cluster.ts (applies each sync to its nodes: cni/network.ts), and
 * bench/k8s.bench.ts.
 */
import type { EndpointSlice, Service } from '../api.js';
import { IptablesProxier, type KubeProxyConfig } from './iptables.js';
import { IpvsProxier, type IpvsSyncResult } from './ipvs.js';
import { cidrContains, servicePorts, usesLocalEndpoints, ZONE_LABEL } from './tracker.js';

export type FleetProxier = IptablesProxier | IpvsProxier;

/** One sync: what it wrote and the nodes it is for. */
export interface FleetSync {
  nodes: string[];
  /** a full sync (ipvs mode: always) */
  full: boolean;
  /** the iptables-restore payload */
  payload: string;
  /** ipvs mode: the whole result (addresses, ipsets) */
  ipvs?: IpvsSyncResult;
}

/** A node as the fleet knows it. */
interface FleetNode {
  ip: string;
  labels: Record<string, string>;
  /** its own proxier; null: the shared one serves it */
  own: FleetProxier | null;
  /** its own proxier has changes to sync */
  dirty: boolean;
}

const keyOf = (o: Service | EndpointSlice): string => `${o.metadata.namespace ?? 'default'}/${o.metadata.name}`;
const serviceOfSlice = (e: EndpointSlice): string => `${e.metadata.namespace ?? 'default'}/${e.metadata.labels?.['kubernetes.io/service-name'] ?? ''}`;

export class KubeProxyFleet {
  readonly mode: 'iptables' | 'ipvs';
  private readonly config: Partial<KubeProxyConfig>;
  private readonly nodes = new Map<string, FleetNode>();
  private readonly services = new Map<string, Service>();
  private readonly slices = new Map<string, EndpointSlice>();
  /** iptables mode: the proxier of every node not singled out (created with the first such node) */
  private shared: IptablesProxier | null = null;
  private sharedDirty = false;
  /** Services whose rules read which endpoints are local (usesLocalEndpoints) */
  private readonly localServices = new Set<string>();
  /** Services with LoadBalancer source ranges (CIDRs) */
  private readonly sourceRanges = new Map<string, string[]>();
  /** EndpointSlices with zone hints */
  private readonly hinted = new Set<string>();
  /** whether the singled-out set may have changed since the last sync */
  private reclassify = false;

  /** 'config': kube-proxy's configuration but for what each node sets (hostname, nodeIPs, nodeLabels). */
  constructor(mode: 'iptables' | 'ipvs', config: Partial<Omit<KubeProxyConfig, 'hostname' | 'nodeIPs' | 'nodeLabels'>> = {}) {
    this.mode = mode;
    this.config = config;
  }

  /** A node's kube-proxy starts (its first sync is a full one). */
  addNode(name: string, ip: string, labels: Record<string, string> = {}): FleetProxier {
    const n: FleetNode = { ip, labels: { ...labels }, own: null, dirty: true };
    this.nodes.set(name, n);
    if (this.mode === 'ipvs' || this.singledOut(name, n)) return this.ownProxier(name, n);
    this.joinShared();
    return this.shared!;
  }

  removeNode(name: string): void { this.nodes.delete(name); }

  /** The node's labels changed (its zone: kube-proxy's OnNodeUpdate). */
  setNodeLabels(name: string, labels: Record<string, string>): void {
    const n = this.nodes.get(name);
    if (n === undefined) return;
    n.labels = { ...labels };
    if (n.own !== null) { n.own.setNodeLabels(labels); n.dirty = true; }
    this.reclassify = true;
  }

  /** The proxier that writes node 'name''s rules (undefined: no such node). */
  proxier(name: string): FleetProxier | undefined {
    const n = this.nodes.get(name);
    return n === undefined ? undefined : n.own ?? this.shared ?? undefined;
  }

  /** Whether node 'name' has its own proxier (its rules differ from the shared ones). */
  hasOwnProxier(name: string): boolean { return this.nodes.get(name)?.own != null; }

  upsertService(s: Service, isNew: boolean): void {
    const key = keyOf(s);
    const ports = servicePorts(s); // (throws for a Service kube-proxy refuses, before anything changes)
    this.services.set(key, s);
    if (ports.some(usesLocalEndpoints)) this.localServices.add(key); else this.localServices.delete(key);
    const ranges = ports.flatMap((p) => p.loadBalancerSourceRanges);
    if (ranges.length > 0) this.sourceRanges.set(key, ranges); else this.sourceRanges.delete(key);
    this.reclassify = true;
    this.each((p) => (isNew ? p.addService(s) : p.updateService(s)));
  }

  deleteService(s: Service): void {
    const key = keyOf(s);
    this.services.delete(key);
    this.localServices.delete(key);
    this.sourceRanges.delete(key);
    this.each((p) => p.deleteService(s));
  }

  upsertSlice(e: EndpointSlice, isNew: boolean): void {
    const key = keyOf(e);
    this.slices.set(key, e);
    if (e.endpoints?.some((x) => (x.hints?.forZones?.length ?? 0) > 0)) this.hinted.add(key); else this.hinted.delete(key);
    this.reclassify = true;
    this.each((p) => (isNew ? p.addEndpointSlice(e) : p.updateEndpointSlice(e)));
  }

  deleteSlice(e: EndpointSlice): void {
    const key = keyOf(e);
    this.slices.delete(key);
    this.hinted.delete(key);
    this.each((p) => p.deleteEndpointSlice(e));
  }

  /**
   * Sync every proxier with changes: nodes newly singled out get their own proxier first. Each
   * sync once, with the nodes it is for (the shared one: every node it serves, in the order
   * they joined).
   */
  sync(nowMs: number): FleetSync[] {
    if (this.reclassify) {
      this.reclassify = false;
      for (const [name, n] of this.nodes) if (n.own === null && this.singledOut(name, n)) this.ownProxier(name, n);
    }
    const out: FleetSync[] = [];
    if (this.shared !== null && this.sharedDirty) {
      const nodes = [...this.nodes].filter(([, n]) => n.own === null).map(([name]) => name);
      this.sharedDirty = false;
      if (nodes.length > 0) {
        const r = this.shared.sync(nowMs);
        out.push({ nodes, full: r.full, payload: r.payload });
      }
    }
    for (const [name, n] of this.nodes) {
      if (n.own === null || !n.dirty) continue;
      n.dirty = false;
      if (n.own instanceof IpvsProxier) {
        const r = n.own.sync(nowMs);
        out.push({ nodes: [name], full: true, payload: r.iptables, ipvs: r });
      } else {
        const r = n.own.sync(nowMs);
        out.push({ nodes: [name], full: r.full, payload: r.payload });
      }
    }
    return out;
  }

  // ---- inside ----------------------------------------------------------------------------------

  /** Every proxier, told of a change (and marked to sync). */
  private each(fn: (p: FleetProxier) => void): void {
    if (this.shared !== null) { fn(this.shared); this.sharedDirty = true; }
    for (const n of this.nodes.values()) if (n.own !== null) { fn(n.own); n.dirty = true; }
  }

  private joinShared(): void {
    if (this.shared === null) {
      this.shared = new IptablesProxier({ ...this.config, hostname: '' });
      for (const s of this.services.values()) this.shared.addService(s);
      for (const e of this.slices.values()) this.shared.addEndpointSlice(e);
    } else this.shared.forceFullSync();
    this.sharedDirty = true;
  }

  private ownProxier(name: string, n: FleetNode): FleetProxier {
    const config: KubeProxyConfig = { ...this.config, hostname: name, nodeIPs: [n.ip], nodeLabels: n.labels };
    const p = this.mode === 'ipvs' ? new IpvsProxier(config) : new IptablesProxier(config);
    for (const s of this.services.values()) p.addService(s);
    for (const e of this.slices.values()) p.addEndpointSlice(e);
    n.own = p;
    n.dirty = true;
    return p;
  }

  /** Whether node 'name''s rules may differ from the shared proxier's (module comment). */
  private singledOut(name: string, n: FleetNode): boolean {
    if ((this.config.nodePortAddresses?.length ?? 0) > 0) return true;
    if (this.hinted.size > 0 && (n.labels[ZONE_LABEL] ?? '') !== '') return true;
    for (const ranges of this.sourceRanges.values()) {
      if (ranges.some((r) => cidrContains(r, n.ip))) return true;
    }
    if (this.localServices.size === 0) return false;
    for (const e of this.slices.values()) {
      if (!this.localServices.has(serviceOfSlice(e))) continue;
      if (e.endpoints?.some((x) => x.nodeName === name)) return true;
    }
    return false;
  }
}
