/**
 * kube-proxy's view of Services and EndpointSlices (k8s layer, slow path):
 * the change trackers both proxiers (iptables.ts, ipvs.ts) read.
 *
 * What: `ChangeTracker` takes api.ts `Service` and `EndpointSlice` objects
 * through add/update/delete, and on `checkout()` gives the service-port map
 * and the endpoints map kube-proxy's proxiers sync from, plus the set of
 * Services (`ns/name`) whose derived state changed since the last checkout —
 * what kube-proxy's ServiceChangeTracker / EndpointsChangeTracker hand to
 * syncProxyRules as `UpdatedServices` (a partial sync rewrites only those
 * Services' chains). A change that comes back to the applied state is no
 * change, as there (previous and current are compared, not events counted).
 * The derivation follows pkg/proxy (serviceport.go, endpointslicecache.go,
 * topology.go), read, not copied:
 *  - a Service is skipped when its ClusterIP (of this proxier's family) is
 *    unset or `None`, or when it is an ExternalName;
 *  - one service port per `spec.ports[]`, keyed by `ns/name:port` (just
 *    `ns/name` for an unnamed port) and protocol; external IPs, LB ingress
 *    IPs and loadBalancerSourceRanges (trimmed: " 203.0.113.0/25" is
 *    accepted, as for back-compat there) filtered to the family;
 *    externalTrafficPolicy Local only counts for NodePort/LoadBalancer types
 *    or ClusterIP with external IPs; the health-check node port only for a
 *    LoadBalancer with that policy; ClientIP affinity's timeout defaults to
 *    10800 s (the API server's default);
 *  - EndpointSlices join their Service by the `kubernetes.io/service-name`
 *    label; slices of another address family are ignored; an endpoint is its
 *    first address (canonicalised: `10.180.00.001` is `10.180.0.1`) and the
 *    slice port, deduplicated by `ip:port` (a terminating duplicate loses),
 *    and each service port's endpoints are sorted by that string; ready is
 *    nil-or-true, serving nil-or-true, terminating only if true; local means
 *    nodeName equals the proxier's hostname;
 *  - `categorize()` is CategorizeEndpoints without topology hints: Cluster
 *    policy uses the ready endpoints, or if none the serving+terminating
 *    ones; Local policy the same among local endpoints.
 * Deliberate differences: an EndpointSlice port without a name is the
 * unnamed port "" (the API's nil name, which kube-proxy skips, is what a
 * hand-written manifest gives); a missing protocol is TCP (the API
 * default); topology-aware hints are not applied (the node's zone label is
 * not known here). IPv6 objects are ignored by the IPv4 proxier, as by
 * kube-proxy's.
 * Errors: `KubeProxyError` naming the object and field (`Service ns/name
 * spec.clusterIP`); a refused object leaves the tracker unchanged.
 * Neighbours: api.ts (the objects), iptables.ts and ipvs.ts (the proxiers).
 */
import { SdnemuError } from '../../errors.js';
import type { EndpointSlice, Service } from '../api.js';

/** Bad input to kube-proxy: 'object' is `Kind ns/name`, 'field' the field path. */
export class KubeProxyError extends SdnemuError {
  readonly object: string;
  readonly field: string;
  constructor(code: string, object: string, field: string, message: string) {
    super(code, `${object}${field ? ` ${field}` : ''}: ${message}`);
    this.name = 'KubeProxyError';
    this.object = object;
    this.field = field;
  }
  override location(): Record<string, string | number> {
    return { object: this.object, field: this.field };
  }
}

/** Canonical dotted IPv4 of 's', accepting leading zeros as Go's ParseIPSloppy; null if not IPv4. */
export function canonicalIpv4(s: string): string | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^[0-9]{1,3}$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out.push(n);
  }
  return out.join('.');
}

/** IPv4 as a number, or null. */
export function ipv4Number(s: string): number | null {
  const c = canonicalIpv4(s);
  if (c === null) return null;
  return c.split('.').reduce((a, p) => ((a << 8) | Number(p)) >>> 0, 0);
}

/** Canonical `a.b.c.d/len` (network address masked, as net.IPNet's String) of 's', or null. */
export function canonicalCidr4(s: string): string | null {
  const [a, l, extra] = s.trim().split('/');
  if (extra !== undefined || a === undefined || l === undefined || !/^[0-9]{1,2}$/.test(l)) return null;
  const len = Number(l);
  const n = ipv4Number(a);
  if (n === null || len > 32) return null;
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  const net = (n & mask) >>> 0;
  return `${[24, 16, 8, 0].map((sh) => (net >>> sh) & 255).join('.')}/${len}`;
}

export function cidrContains(cidr: string, ip: string): boolean {
  const [a, l] = cidr.split('/');
  const net = ipv4Number(a!), x = ipv4Number(ip);
  if (net === null || x === null) return false;
  const len = Number(l);
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return ((net & mask) >>> 0) === ((x & mask) >>> 0);
}

export type Proto = 'tcp' | 'udp' | 'sctp';

/** One Service port as the proxiers see it (kube-proxy's BaseServicePortInfo). */
export interface ServicePortInfo {
  /** `ns/name` */
  service: string;
  /** `ns/name:port` or `ns/name` (ServicePortName.String()) */
  name: string;
  /** lower-case protocol */
  protocol: Proto;
  /** the map key: name + '/' + protocol */
  key: string;
  clusterIP: string;
  port: number;
  nodePort: number;
  externalIPs: string[];
  loadBalancerVIPs: string[];
  loadBalancerSourceRanges: string[];
  sessionAffinity: boolean;
  stickyMaxAgeSeconds: number;
  externalPolicyLocal: boolean;
  internalPolicyLocal: boolean;
  healthCheckNodePort: number;
}

export function externallyAccessible(s: ServicePortInfo): boolean {
  return s.nodePort !== 0 || s.loadBalancerVIPs.length > 0 || s.externalIPs.length > 0;
}
export function usesClusterEndpoints(s: ServicePortInfo): boolean {
  return !s.internalPolicyLocal || externallyAccessible(s);
}
export function usesLocalEndpoints(s: ServicePortInfo): boolean {
  return s.internalPolicyLocal || (s.externalPolicyLocal && externallyAccessible(s));
}

/** One endpoint of a service port (BaseEndpointInfo). */
export interface EndpointInfo {
  ip: string;
  port: number;
  /** `ip:port` */
  str: string;
  isLocal: boolean;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

function objName(kind: string, meta: { name: string; namespace?: string }): string {
  return `${kind} ${meta.namespace ?? 'default'}/${meta.name}`;
}

/** The service ports of 's' for the IPv4 proxier (empty when kube-proxy skips it). */
export function servicePorts(s: Service): ServicePortInfo[] {
  const ns = s.metadata.namespace ?? 'default';
  const where = objName('Service', s.metadata);
  const spec = s.spec ?? {};
  const type = spec.type ?? 'ClusterIP';
  if (type === 'ExternalName') return [];
  const candidates = spec.clusterIPs !== undefined && spec.clusterIPs.length > 0 ? spec.clusterIPs : spec.clusterIP !== undefined ? [spec.clusterIP] : [];
  if (candidates.length === 0 || candidates[0] === '' || candidates[0] === 'None') return [];
  const v4s = candidates.map((c, i) => {
    const v4 = canonicalIpv4(c);
    if (v4 === null && !c.includes(':')) {
      throw new KubeProxyError('KP_BAD_IP', where, spec.clusterIPs !== undefined ? `spec.clusterIPs[${i}]` : 'spec.clusterIP', `'${c}' is not an IP address`);
    }
    return v4;
  }).filter((x): x is string => x !== null);
  if (v4s.length === 0) return [];
  const clusterIP = v4s[0]!;
  const externallyAcc = type === 'LoadBalancer' || type === 'NodePort' || (type === 'ClusterIP' && (spec.externalIPs ?? []).length > 0);
  const externalPolicyLocal = externallyAcc && spec.externalTrafficPolicy === 'Local';
  const internalPolicyLocal = spec.internalTrafficPolicy === 'Local';
  const sessionAffinity = spec.sessionAffinity === 'ClientIP';
  const sticky = sessionAffinity ? spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? 10800 : 0;
  const externalIPs: string[] = [];
  (spec.externalIPs ?? []).forEach((e, i) => {
    const v4 = canonicalIpv4(e);
    if (v4 !== null) externalIPs.push(v4);
    else if (!e.includes(':')) throw new KubeProxyError('KP_BAD_IP', where, `spec.externalIPs[${i}]`, `'${e}' is not an IP address`);
  });
  const ranges: string[] = [];
  (spec.loadBalancerSourceRanges ?? []).forEach((r, i) => {
    const c = canonicalCidr4(r);
    if (c !== null) ranges.push(c);
    else if (!r.includes(':')) throw new KubeProxyError('KP_BAD_CIDR', where, `spec.loadBalancerSourceRanges[${i}]`, `'${r}' is not a CIDR`);
  });
  const vips: string[] = [];
  for (const ing of s.status?.loadBalancer?.ingress ?? []) {
    if (ing.ip === undefined || ing.ip === '') continue;
    const v4 = canonicalIpv4(ing.ip);
    if (v4 !== null) vips.push(v4);
  }
  const health = type === 'LoadBalancer' && externalPolicyLocal ? spec.healthCheckNodePort ?? 0 : 0;
  return (spec.ports ?? []).map((p, i) => {
    if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) {
      throw new KubeProxyError('KP_BAD_PORT', where, `spec.ports[${i}].port`, `'${String(p.port)}' is not a port number`);
    }
    const protocol = (p.protocol ?? 'TCP').toLowerCase() as Proto;
    const name = `${ns}/${s.metadata.name}${p.name ? `:${p.name}` : ''}`;
    return {
      service: `${ns}/${s.metadata.name}`, name, protocol, key: `${name}/${protocol}`,
      clusterIP, port: p.port, nodePort: p.nodePort ?? 0,
      externalIPs, loadBalancerVIPs: vips, loadBalancerSourceRanges: ranges,
      sessionAffinity, stickyMaxAgeSeconds: sticky, externalPolicyLocal, internalPolicyLocal, healthCheckNodePort: health,
    };
  });
}

/** The Service (`ns/name`) an EndpointSlice belongs to, and its own key. */
function sliceKeys(e: EndpointSlice): { service: string; slice: string } {
  const where = objName('EndpointSlice', e.metadata);
  const svc = e.metadata.labels?.[SERVICE_NAME_LABEL];
  if (svc === undefined || svc === '') {
    throw new KubeProxyError('KP_NO_SERVICE_LABEL', where, `metadata.labels["${SERVICE_NAME_LABEL}"]`, 'no service-name label set on the endpoint slice');
  }
  return { service: `${e.metadata.namespace ?? 'default'}/${svc}`, slice: e.metadata.name };
}

function checkSlice(e: EndpointSlice): void {
  const where = objName('EndpointSlice', e.metadata);
  if (e.addressType !== 'IPv4') return;
  (e.endpoints ?? []).forEach((ep, i) => {
    ep.addresses.forEach((a, j) => {
      if (canonicalIpv4(a) === null) throw new KubeProxyError('KP_BAD_IP', where, `endpoints[${i}].addresses[${j}]`, `'${a}' is not an IPv4 address`);
    });
  });
}

/** Endpoints per service-port key (`ns/name:port/proto`) from one Service's slices. */
function endpointsOf(service: string, slices: Iterable<EndpointSlice>, hostname: string): Map<string, EndpointInfo[]> {
  const bySp = new Map<string, Map<string, EndpointInfo>>();
  for (const sl of slices) {
    if (sl.addressType !== 'IPv4') continue;
    for (const port of sl.ports ?? []) {
      if (port.port === undefined || port.port === 0) continue;
      const proto = (port.protocol ?? 'TCP').toLowerCase();
      const key = `${service}${port.name ? `:${port.name}` : ''}/${proto}`;
      let set = bySp.get(key);
      if (set === undefined) bySp.set(key, set = new Map());
      for (const ep of sl.endpoints ?? []) {
        if (ep.addresses.length === 0) continue;
        const ip = canonicalIpv4(ep.addresses[0]!)!;
        const c = ep.conditions ?? {};
        const info: EndpointInfo = {
          ip, port: port.port, str: `${ip}:${port.port}`,
          isLocal: hostname !== '' && ep.nodeName === hostname,
          ready: c.ready === undefined || c.ready, serving: c.serving === undefined || c.serving, terminating: c.terminating === true,
        };
        if (!set.has(info.str) || !info.terminating) set.set(info.str, info);
      }
    }
  }
  const out = new Map<string, EndpointInfo[]>();
  for (const [k, set] of bySp) {
    if (set.size === 0) continue;
    out.set(k, [...set.values()].sort((a, b) => (a.str < b.str ? -1 : a.str > b.str ? 1 : 0)));
  }
  return out;
}

/** What one sync reads: the service ports, the endpoints, and which Services changed. */
export interface Checkout {
  svcPorts: Map<string, ServicePortInfo>;
  endpoints: Map<string, EndpointInfo[]>;
  /** `ns/name` of the Services whose ports or endpoints changed since the last checkout */
  updated: Set<string>;
  /** service-port keys that disappeared since the last checkout */
  deleted: ServicePortInfo[];
}

interface ServiceState { ports: ServicePortInfo[]; endpoints: Map<string, EndpointInfo[]>; sig: string }

export class ChangeTracker {
  private readonly services = new Map<string, Service>();
  private readonly slices = new Map<string, Map<string, EndpointSlice>>();
  private readonly dirty = new Set<string>();
  private readonly applied = new Map<string, ServiceState>();
  /** the maps as of the last checkout, updated in place */
  private readonly svcPorts = new Map<string, ServicePortInfo>();
  private readonly endpoints = new Map<string, EndpointInfo[]>();

  constructor(readonly hostname: string) {}

  addService(s: Service): void { this.setService(s); }
  updateService(s: Service): void { this.setService(s); }
  deleteService(s: Service): void {
    const key = `${s.metadata.namespace ?? 'default'}/${s.metadata.name}`;
    if (this.services.delete(key)) this.dirty.add(key);
  }
  private setService(s: Service): void {
    servicePorts(s); // validate before changing anything
    const key = `${s.metadata.namespace ?? 'default'}/${s.metadata.name}`;
    this.services.set(key, s);
    this.dirty.add(key);
  }

  addEndpointSlice(e: EndpointSlice): void { this.setSlice(e); }
  updateEndpointSlice(e: EndpointSlice): void { this.setSlice(e); }
  deleteEndpointSlice(e: EndpointSlice): void {
    const { service, slice } = sliceKeys(e);
    const m = this.slices.get(service);
    if (m?.delete(slice)) {
      if (m.size === 0) this.slices.delete(service);
      this.dirty.add(service);
    }
  }
  private setSlice(e: EndpointSlice): void {
    const { service, slice } = sliceKeys(e);
    checkSlice(e);
    let m = this.slices.get(service);
    if (m === undefined) this.slices.set(service, m = new Map());
    m.set(slice, e);
    this.dirty.add(service);
  }

  /** Apply the pending changes: the maps to sync from and the Services that changed. */
  checkout(): Checkout {
    const updated = new Set<string>();
    const deleted: ServicePortInfo[] = [];
    for (const key of this.dirty) {
      const svc = this.services.get(key);
      const ports = svc === undefined ? [] : servicePorts(svc);
      const eps = endpointsOf(key, this.slices.get(key)?.values() ?? [], this.hostname);
      const sig = JSON.stringify([ports, [...eps]]);
      const prev = this.applied.get(key);
      if (prev !== undefined && prev.sig === sig) continue;
      updated.add(key);
      if (prev !== undefined) {
        for (const p of prev.ports) {
          this.svcPorts.delete(p.key);
          if (!ports.some((q) => q.key === p.key)) deleted.push(p);
        }
        for (const k of prev.endpoints.keys()) this.endpoints.delete(k);
      }
      for (const p of ports) this.svcPorts.set(p.key, p);
      for (const [k, v] of eps) this.endpoints.set(k, v);
      if (ports.length === 0 && eps.size === 0) this.applied.delete(key);
      else this.applied.set(key, { ports, endpoints: eps, sig });
    }
    this.dirty.clear();
    return { svcPorts: this.svcPorts, endpoints: this.endpoints, updated, deleted };
  }
}

/** What both proxiers share: a change tracker fed by the informer-like add/update/delete calls. */
export abstract class TrackedProxier {
  readonly tracker: ChangeTracker;
  constructor(hostname: string) { this.tracker = new ChangeTracker(hostname); }
  addService(s: Service): void { this.tracker.addService(s); }
  updateService(s: Service): void { this.tracker.updateService(s); }
  deleteService(s: Service): void { this.tracker.deleteService(s); }
  addEndpointSlice(e: EndpointSlice): void { this.tracker.addEndpointSlice(e); }
  updateEndpointSlice(e: EndpointSlice): void { this.tracker.updateEndpointSlice(e); }
  deleteEndpointSlice(e: EndpointSlice): void { this.tracker.deleteEndpointSlice(e); }
}

/** CategorizeEndpoints (no topology hints): the endpoints each policy uses. */
export function categorize(eps: readonly EndpointInfo[], s: ServicePortInfo): {
  cluster: EndpointInfo[]; local: EndpointInfo[]; allReachable: EndpointInfo[]; hasAny: boolean;
} {
  let cluster: EndpointInfo[] = [];
  let local: EndpointInfo[] = [];
  let hasAny = false;
  if (usesClusterEndpoints(s)) {
    cluster = eps.filter((e) => e.ready);
    if (cluster.length === 0) cluster = eps.filter((e) => e.serving && e.terminating);
    if (cluster.length > 0) hasAny = true;
  }
  if (!usesLocalEndpoints(s)) return { cluster, local, allReachable: cluster, hasAny };
  let localReady = false, localST = false;
  for (const e of eps) {
    if (e.ready) {
      hasAny = true;
      if (e.isLocal) localReady = true;
    } else if (e.serving && e.terminating) {
      hasAny = true;
      if (e.isLocal) localST = true;
    }
  }
  let useST = false;
  if (localReady) local = eps.filter((e) => e.isLocal && e.ready);
  else if (localST) {
    useST = true;
    local = eps.filter((e) => e.isLocal && e.serving && e.terminating);
  }
  if (!usesClusterEndpoints(s)) return { cluster, local, allReachable: local, hasAny };
  if (!useST) return { cluster, local, allReachable: cluster, hasAny };
  const merged = new Map<string, EndpointInfo>();
  for (const e of cluster) merged.set(e.str, e);
  for (const e of local) merged.set(e.str, e);
  return { cluster, local, allReachable: [...merged.values()], hasAny };
}
