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
 *    first address (canonical as ip.ts prints it: `10.180.00.001` is
 *    `10.180.0.1`) and the
 *    slice port, deduplicated by `ip:port` (`[ip]:port` for IPv6; a
 *    terminating duplicate loses),
 *    and each service port's endpoints are sorted by that string; ready is
 *    nil-or-true, serving nil-or-true, terminating only if true; local means
 *    nodeName equals the proxier's hostname;
 *  - `categorize()` is CategorizeEndpoints: Cluster policy uses the ready
 *    endpoints (narrowed to this node's zone when every ready endpoint has
 *    zone hints and some name that zone), or if none the
 *    serving+terminating ones; Local policy the same among local
 *    endpoints, without topology.
 * Deliberate differences: an EndpointSlice port without a name is the
 * unnamed port "" (the API's nil name, which kube-proxy skips, is what a
 * hand-written manifest gives); a missing protocol is TCP (the API
 * default); only zone hints are read (node hints are behind a feature gate
 * there, and not in api.ts). A tracker serves one family (kube-proxy runs one
 * proxier per family): the other family's addresses and slices are
 * skipped, as there; an address that is none at all is an error.
 * Errors: `KubeProxyError` naming the object and field (`Service ns/name
 * spec.clusterIP`); a refused object leaves the tracker unchanged.
 * Neighbours: api.ts (the objects), ip.ts (addresses), iptables.ts and
 * ipvs.ts (the proxiers).
 */
import { SdnemuError } from '../../errors.js';
import type { EndpointSlice, Service } from '../api.js';
import { canonicalText, cidrHas, joinHostPort, parseCidr, parseIp, type Family } from './ip.js';

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

/** IPv4 as a number, or null (ipvs.ts's addresses). */
export function ipv4Number(s: string): number | null {
  const ip = parseIp(s);
  return ip === null || ip.family !== 'IPv4' ? null : Number(ip.value);
}

/** Does 'cidr' (canonical text) hold 'ip'? */
export function cidrContains(cidr: string, ip: string): boolean {
  const c = parseCidr(cidr), a = parseIp(ip);
  return c !== null && a !== null && cidrHas(c, a);
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
  /** hints.forZones names, when the endpoint has any */
  zoneHints?: string[];
}

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

function objName(kind: string, meta: { name: string; namespace?: string }): string {
  return `${kind} ${meta.namespace ?? 'default'}/${meta.name}`;
}

/** The service ports of 's' for the proxier of 'family' (empty when kube-proxy skips it). */
export function servicePorts(s: Service, family: Family = 'IPv4'): ServicePortInfo[] {
  const ns = s.metadata.namespace ?? 'default';
  const where = objName('Service', s.metadata);
  const spec = s.spec ?? {};
  const type = spec.type ?? 'ClusterIP';
  if (type === 'ExternalName') return [];
  const candidates = spec.clusterIPs !== undefined && spec.clusterIPs.length > 0 ? spec.clusterIPs : spec.clusterIP !== undefined ? [spec.clusterIP] : [];
  if (candidates.length === 0 || candidates[0] === '' || candidates[0] === 'None') return [];
  /** the addresses of 'list' in this family, canonical; a non-address is an error at 'field[i]' */
  const ofFamily = (list: readonly string[], field: (i: number) => string, parse: (x: string) => { family: Family; text: string } | null, what: string): string[] => {
    const out: string[] = [];
    list.forEach((x, i) => {
      const v = parse(x);
      if (v === null) throw new KubeProxyError(what === 'CIDR' ? 'KP_BAD_CIDR' : 'KP_BAD_IP', where, field(i), `'${x}' is not ${what === 'CIDR' ? 'a CIDR' : 'an IP address'}`);
      if (v.family === family) out.push(v.text);
    });
    return out;
  };
  const many = spec.clusterIPs !== undefined && spec.clusterIPs.length > 0;
  const ips = ofFamily(candidates, (i) => (many ? `spec.clusterIPs[${i}]` : 'spec.clusterIP'), parseIp, 'IP');
  if (ips.length === 0) return [];
  const clusterIP = ips[0]!;
  const externallyAcc = type === 'LoadBalancer' || type === 'NodePort' || (type === 'ClusterIP' && (spec.externalIPs ?? []).length > 0);
  const externalPolicyLocal = externallyAcc && spec.externalTrafficPolicy === 'Local';
  const internalPolicyLocal = spec.internalTrafficPolicy === 'Local';
  const sessionAffinity = spec.sessionAffinity === 'ClientIP';
  const sticky = sessionAffinity ? spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? 10800 : 0;
  const externalIPs = ofFamily(spec.externalIPs ?? [], (i) => `spec.externalIPs[${i}]`, parseIp, 'IP');
  const ranges = ofFamily(spec.loadBalancerSourceRanges ?? [], (i) => `spec.loadBalancerSourceRanges[${i}]`, parseCidr, 'CIDR');
  const vips: string[] = [];
  for (const ing of s.status?.loadBalancer?.ingress ?? []) {
    const v = ing.ip === undefined ? null : parseIp(ing.ip);
    if (v !== null && v.family === family) vips.push(v.text);
  }
  const health = type === 'LoadBalancer' && externalPolicyLocal ? spec.healthCheckNodePort ?? 0 : 0;
  return (spec.ports ?? []).map((p, i) => {
    if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) {
      throw new KubeProxyError('KP_BAD_PORT', where, `spec.ports[${i}].port`, `'${String(p.port)}' is not a port number`);
    }
    const proto = p.protocol ?? 'TCP';
    if (proto !== 'TCP' && proto !== 'UDP' && proto !== 'SCTP') {
      throw new KubeProxyError('KP_BAD_PROTOCOL', where, `spec.ports[${i}].protocol`, `'${String(proto)}' is not TCP, UDP or SCTP`);
    }
    const protocol = proto.toLowerCase() as Proto;
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
  if (e.addressType === 'FQDN') return;
  (e.endpoints ?? []).forEach((ep, i) => {
    ep.addresses.forEach((a, j) => {
      const t = canonicalText(a);
      if (t === null || (t.includes(':') ? 'IPv6' : 'IPv4') !== e.addressType) throw new KubeProxyError('KP_BAD_IP', where, `endpoints[${i}].addresses[${j}]`, `'${a}' is not an ${e.addressType} address`);
    });
  });
}

/** Endpoints per service-port key (`ns/name:port/proto`) from one Service's slices. */
function endpointsOf(service: string, slices: Iterable<EndpointSlice>, hostname: string, family: Family): Map<string, EndpointInfo[]> {
  const bySp = new Map<string, Map<string, EndpointInfo>>();
  for (const sl of slices) {
    if (sl.addressType !== family) continue;
    for (const port of sl.ports ?? []) {
      if (port.port === undefined || port.port === 0) continue;
      const proto = (port.protocol ?? 'TCP').toLowerCase();
      const key = `${service}${port.name ? `:${port.name}` : ''}/${proto}`;
      let set = bySp.get(key);
      if (set === undefined) bySp.set(key, set = new Map());
      for (const ep of sl.endpoints ?? []) {
        if (ep.addresses.length === 0) continue;
        const ip = canonicalText(ep.addresses[0]!)!;
        const c = ep.conditions ?? {};
        const info: EndpointInfo = {
          ip, port: port.port, str: joinHostPort(ip, port.port),
          isLocal: hostname !== '' && ep.nodeName === hostname,
          ready: c.ready === undefined || c.ready, serving: c.serving === undefined || c.serving, terminating: c.terminating === true,
        };
        const zones = ep.hints?.forZones?.map((z) => z.name) ?? [];
        if (zones.length > 0) info.zoneHints = zones;
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

interface ServiceState { ports: ServicePortInfo[]; endpoints: Map<string, EndpointInfo[]> }

/** Field-by-field equality of two derived states (plain data: strings, numbers, booleans, arrays, objects). */
function sameData(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameData(a[i], b[i])) return false;
    return true;
  }
  const ka = Object.keys(a), kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) if (!sameData((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  return true;
}
function sameState(prev: ServiceState, ports: ServicePortInfo[], eps: Map<string, EndpointInfo[]>): boolean {
  if (!sameData(prev.ports, ports) || prev.endpoints.size !== eps.size) return false;
  for (const [k, v] of eps) if (!sameData(prev.endpoints.get(k), v)) return false;
  return true;
}

export class ChangeTracker {
  private readonly services = new Map<string, Service>();
  private readonly slices = new Map<string, Map<string, EndpointSlice>>();
  private readonly dirty = new Set<string>();
  private readonly applied = new Map<string, ServiceState>();
  /** the maps as of the last checkout, updated in place */
  private readonly svcPorts = new Map<string, ServicePortInfo>();
  private readonly endpoints = new Map<string, EndpointInfo[]>();

  constructor(readonly hostname: string, readonly family: Family = 'IPv4') {}

  addService(s: Service): void { this.setService(s); }
  updateService(s: Service): void { this.setService(s); }
  deleteService(s: Service): void {
    const key = `${s.metadata.namespace ?? 'default'}/${s.metadata.name}`;
    if (this.services.delete(key)) this.dirty.add(key);
  }
  private setService(s: Service): void {
    servicePorts(s, this.family); // validate before changing anything
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
      const ports = svc === undefined ? [] : servicePorts(svc, this.family);
      const eps = endpointsOf(key, this.slices.get(key)?.values() ?? [], this.hostname, this.family);
      const prev = this.applied.get(key);
      if (prev !== undefined && sameState(prev, ports, eps)) continue;
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
      else this.applied.set(key, { ports, endpoints: eps });
    }
    this.dirty.clear();
    return { svcPorts: this.svcPorts, endpoints: this.endpoints, updated, deleted };
  }
}

/** What both proxiers share: a change tracker fed by the informer-like add/update/delete calls, and the node's zone. */
export abstract class TrackedProxier {
  readonly tracker: ChangeTracker;
  /** this node's topology.kubernetes.io/zone label ('' without one) */
  protected zone = '';
  constructor(hostname: string, family: Family = 'IPv4') { this.tracker = new ChangeTracker(hostname, family); }
  /** The node's labels changed (OnNodeUpdate): the zone topology hints are read against. */
  setNodeLabels(labels: Readonly<Record<string, string>>): void {
    const zone = labels[ZONE_LABEL] ?? '';
    if (zone === this.zone) return;
    this.zone = zone;
    this.topologyChanged();
  }
  /** Every Service's endpoints may now be chosen differently. */
  protected topologyChanged(): void { /* the ipvs proxier syncs everything anyway */ }
  addService(s: Service): void { this.tracker.addService(s); }
  updateService(s: Service): void { this.tracker.updateService(s); }
  deleteService(s: Service): void { this.tracker.deleteService(s); }
  addEndpointSlice(e: EndpointSlice): void { this.tracker.addEndpointSlice(e); }
  updateEndpointSlice(e: EndpointSlice): void { this.tracker.updateEndpointSlice(e); }
  deleteEndpointSlice(e: EndpointSlice): void { this.tracker.deleteEndpointSlice(e); }
}

/** The zone label kube-proxy reads from its Node. */
export const ZONE_LABEL = 'topology.kubernetes.io/zone';

/**
 * topologyModeFromHints (zone hints only): 'PreferSameZone' when every ready
 * endpoint has zone hints and one is hinted for 'zone', else ''.
 */
function zoneMode(eps: readonly EndpointInfo[], zone: string): '' | 'PreferSameZone' {
  let all = true, forZone = false;
  for (const e of eps) {
    if (!e.ready) continue;
    if (e.zoneHints === undefined) all = false;
    else if (e.zoneHints.includes(zone)) forZone = true;
  }
  return all && forZone ? 'PreferSameZone' : '';
}

/**
 * CategorizeEndpoints: the endpoints each policy uses. Cluster policy: the
 * ready endpoints (only those hinted for this node's 'zone' when every
 * ready one carries zone hints and some are for it), or if none the
 * serving+terminating ones; Local policy the same among local endpoints,
 * without topology. 'allReachable' is what gets KUBE-SEP chains.
 */
export function categorize(eps: readonly EndpointInfo[], s: ServicePortInfo, zone = ''): {
  cluster: EndpointInfo[]; local: EndpointInfo[]; allReachable: EndpointInfo[]; hasAny: boolean;
} {
  let cluster: EndpointInfo[] = [];
  let local: EndpointInfo[] = [];
  let hasAny = false;
  let mode: '' | 'PreferSameZone' = '';
  if (usesClusterEndpoints(s)) {
    mode = zoneMode(eps, zone);
    cluster = eps.filter((e) => e.ready && (mode === '' || e.zoneHints!.includes(zone)));
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
  if (mode === '' && !useST) return { cluster, local, allReachable: cluster, hasAny };
  const merged = new Map<string, EndpointInfo>();
  for (const e of cluster) merged.set(e.str, e);
  for (const e of local) merged.set(e.str, e);
  return { cluster, local, allReachable: [...merged.values()], hasAny };
}
