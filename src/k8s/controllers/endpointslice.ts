/**
 * The EndpointSlice controller (k8s layer, slow path), after
 * pkg/controller/endpointslice and staging/.../endpointslice/reconciler.go.
 *
 * What: for every Service with a selector (not ExternalName), the pods of
 * its namespace whose labels match it and that have a pod IP and are not
 * Succeeded/Failed — terminating pods included — become endpoints:
 * `addresses [podIP]`, `conditions { ready: publishNotReadyAddresses ||
 * (podReady && !terminating), serving: publishNotReadyAddresses ||
 * podReady, terminating }`, nodeName, zone (the node's
 * `topology.kubernetes.io/zone` label), targetRef to the Pod, and
 * `hostname` when the pod's subdomain is the Service's name. Each pod's
 * ports come from the Service's ports with targetPort resolved through its
 * containers' ports (a named targetPort the pod does not declare drops that
 * port for that pod, as findPort fails); endpoints with the same port list
 * share slices. A slice holds at most `maxEndpointsPerSlice` (100)
 * endpoints. Slices are labelled `kubernetes.io/service-name`,
 * `endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io`
 * (and `service.kubernetes.io/headless` for a headless Service, plus the
 * Service's own labels), owned by the Service, named `<service>-<5 chars>`.
 * A Service whose selector matches nothing keeps one empty placeholder
 * slice (no endpoints, no ports), as the reconciler does.
 * Reconcile (placement): existing slices keep the endpoints that are still
 * wanted (updated in place); new endpoints fill existing slices with room
 * before new slices are created; emptied slices are deleted; so a change
 * touches as few slices as it can (the real reconciler's goal; its exact
 * packing heuristics are not reproduced).
 * A slice event the controller caused itself (its resourceVersion is the
 * one this controller wrote) queues nothing, as the real controller's
 * endpointSliceTracker skips its own writes; a slice someone else changed
 * or deleted brings its Service back to the queue and is put right.
 * The `kubernetes` Service's slice (the API server's addresses) is written
 * by control-plane.ts, not here: that Service has no selector.
 * Neighbours: kube-proxy/ watches the slices; labels.ts (matchesMap).
 */
import type { Endpoint, EndpointPort, EndpointSlice, Pod, Service } from '../api.js';
import type { WatchEvent } from '../store.js';
import { ownerRefTo, sameJSON } from '../store.js';
import { matchesMap } from '../labels.js';
import { type Controller, type ControllerContext, isPodReady, isTerminal, isTerminating, objKey, selfOrOwnerKey, splitKey } from './context.js';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const MANAGED_BY = 'endpointslice-controller.k8s.io';

/** The container port a Service port's targetPort names on 'pod' (podutil.FindPort), or undefined. */
export function findPort(pod: Pod, sp: Service['spec']['ports'] extends (infer P)[] | undefined ? P : never): number | undefined {
  const t = sp.targetPort ?? sp.port;
  if (typeof t === 'number') return t;
  for (const c of pod.spec.containers ?? []) {
    for (const p of c.ports ?? []) if (p.name === t && (p.protocol ?? 'TCP') === (sp.protocol ?? 'TCP')) return p.containerPort;
  }
  return undefined;
}

const LABEL_INDEX = 'labels';
const SELECTOR_INDEX = 'selector';
/** `namespace/key=value` for each pair of 'labels' (the index values of pods' labels and Services' selectors). */
function labelPairs(ns: string | undefined, labels: Record<string, string> | undefined): string[] {
  // the same map is often asked twice in a row (indexed on create, then the event's keys): the last answer is kept
  if (labels === last.labels && ns === last.ns) return last.pairs;
  const out: string[] = [];
  for (const k in labels) out.push(`${ns ?? ''}/${k}=${labels[k]}`);
  last = { labels, ns, pairs: out };
  return out;
}
/** labelPairs' last answer (stored label maps are never mutated, so the same object has the same pairs) */
let last: { labels: Record<string, string> | undefined; ns: string | undefined; pairs: string[] } = { labels: undefined, ns: undefined, pairs: [] };

const portsKey = (ports: EndpointPort[]): string => JSON.stringify(ports);
const epKey = (e: Endpoint): string => e.targetRef?.uid ?? e.addresses[0] ?? '';

export class EndpointSliceController implements Controller {
  readonly name = 'endpointslice';
  readonly watches = ['Service', 'Pod', 'EndpointSlice'] as const;
  /** resourceVersion of each slice as this controller last wrote it */
  private readonly written = new Map<string, string | undefined>();
  constructor(private readonly ctx: ControllerContext, readonly maxEndpointsPerSlice = 100) {
    ctx.store.addIndex('Pod', LABEL_INDEX, (p) => labelPairs(p.metadata.namespace, p.metadata.labels), (p) => p.metadata.labels);
    ctx.store.addIndex('Service', SELECTOR_INDEX, (s) => labelPairs(s.metadata.namespace, s.spec.selector), (s) => s.spec.selector);
  }

  keysFor(e: WatchEvent): string[] {
    const o = e.object;
    if (o.kind === 'EndpointSlice') {
      // the controller's own writes need no second look (the real one's endpointSliceTracker: ShouldSync)
      const k = objKey(o), mine = this.written.get(k);
      if (e.type === 'DELETED') this.written.delete(k);
      else if (mine === o.metadata.resourceVersion) return [];
    }
    if (o.kind !== 'Pod') return selfOrOwnerKey(o, 'Service');
    const out: string[] = [];
    const old = (e.old as Pod | undefined)?.metadata.labels;
    for (const labels of old === o.metadata.labels ? [old] : [o.metadata.labels, old]) {
      for (const pair of labelPairs(o.metadata.namespace, labels)) {
        for (const s of this.ctx.store.byIndex('Service', SELECTOR_INDEX, pair)) {
          if (!matchesMap(labels, s.spec.selector)) continue;
          const k = objKey(s);
          if (!out.includes(k)) out.push(k);
        }
      }
    }
    return out;
  }

  private wrote(s: EndpointSlice): void {
    this.written.set(objKey(s), s.metadata.resourceVersion);
  }

  private endpointFor(svc: Service, pod: Pod): Endpoint {
    const ready = isPodReady(pod);
    const terminating = isTerminating(pod);
    const publish = svc.spec.publishNotReadyAddresses === true;
    const ep: Endpoint = {
      addresses: [pod.status!.podIP!],
      conditions: { ready: publish || (ready && !terminating), serving: publish || ready, terminating },
    };
    if (pod.spec.hostname && pod.spec.subdomain === svc.metadata.name) ep.hostname = pod.spec.hostname;
    if (pod.spec.nodeName) {
      ep.nodeName = pod.spec.nodeName;
      const zone = this.ctx.store.get('Node', undefined, pod.spec.nodeName)?.metadata.labels?.['topology.kubernetes.io/zone'];
      if (zone) ep.zone = zone;
    }
    ep.targetRef = { kind: 'Pod', namespace: pod.metadata.namespace, name: pod.metadata.name, uid: pod.metadata.uid };
    return ep;
  }

  sync(key: string): void {
    const [ns, name] = splitKey(key);
    const { store } = this.ctx;
    const svc = store.get('Service', ns, name);
    if (!svc || svc.spec.type === 'ExternalName' || !svc.spec.selector || Object.keys(svc.spec.selector).length === 0) return;
    // desired endpoints grouped by their port list
    const groups = new Map<string, { ports: EndpointPort[]; eps: Map<string, Endpoint> }>();
    // candidates: the pods carrying the selector's rarest label pair
    const pairs = labelPairs(ns, svc.spec.selector);
    const rarest = pairs.reduce((a, b) => (store.countByIndex('Pod', LABEL_INDEX, b) < store.countByIndex('Pod', LABEL_INDEX, a) ? b : a));
    const pods = store.byIndex('Pod', LABEL_INDEX, rarest).filter((p) => matchesMap(p.metadata.labels, svc.spec.selector) && p.status?.podIP && !isTerminal(p))
      .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
    for (const p of pods) {
      const ports: EndpointPort[] = [];
      for (const sp of svc.spec.ports ?? []) {
        const port = findPort(p, sp);
        if (port === undefined) continue;
        ports.push({ name: sp.name ?? '', port, protocol: sp.protocol ?? 'TCP', ...(sp.appProtocol ? { appProtocol: sp.appProtocol } : {}) });
      }
      const k = portsKey(ports);
      let g = groups.get(k);
      if (!g) groups.set(k, (g = { ports, eps: new Map() }));
      const ep = this.endpointFor(svc, p);
      g.eps.set(epKey(ep), ep);
    }
    const existing = store.ownedBy('EndpointSlice', svc.metadata.uid!)
      .filter((s) => s.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY)
      .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
    const labels: Record<string, string> = { ...svc.metadata.labels, [SERVICE_NAME_LABEL]: name, [MANAGED_BY_LABEL]: MANAGED_BY };
    if (svc.spec.clusterIP === 'None') labels['service.kubernetes.io/headless'] = '';
    const write = (s: EndpointSlice, endpoints: Endpoint[], ports: EndpointPort[]): void => {
      const next: EndpointSlice = { ...s, metadata: { ...s.metadata, labels }, endpoints, ports };
      if (!sameJSON(next, s)) this.wrote(store.update(next));
    };
    const create = (endpoints: Endpoint[], ports: EndpointPort[]): void => {
      this.wrote(store.create<EndpointSlice>({
        apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
        metadata: { name: '', generateName: `${name}-`, namespace: ns, labels, ownerReferences: [ownerRefTo(svc)] },
        addressType: 'IPv4', endpoints, ports,
      }));
    };
    if (groups.size === 0) {
      const [keep, ...rest] = existing;
      if (keep) write(keep, [], []);
      else create([], []);
      for (const s of rest) store.delete('EndpointSlice', ns, s.metadata.name);
      return;
    }
    const used = new Set<EndpointSlice>();
    for (const [k, g] of groups) {
      const mine = existing.filter((s) => portsKey(s.ports ?? []) === k);
      const fill: { slice: EndpointSlice; eps: Endpoint[] }[] = [];
      for (const s of mine) {
        const eps: Endpoint[] = [];
        for (const e of s.endpoints) {
          const want = g.eps.get(epKey(e));
          if (want && eps.length < this.maxEndpointsPerSlice) {
            eps.push(want);
            g.eps.delete(epKey(e));
          }
        }
        fill.push({ slice: s, eps });
      }
      const rest = [...g.eps.values()];
      for (const f of fill) while (rest.length && f.eps.length < this.maxEndpointsPerSlice && f.eps.length > 0) f.eps.push(rest.shift()!);
      for (const f of fill) {
        if (f.eps.length === 0 && rest.length) f.eps.push(...rest.splice(0, this.maxEndpointsPerSlice));
        if (f.eps.length === 0) continue;
        write(f.slice, f.eps, g.ports);
        used.add(f.slice);
      }
      while (rest.length) create(rest.splice(0, this.maxEndpointsPerSlice), g.ports);
    }
    for (const s of existing) if (!used.has(s)) store.delete('EndpointSlice', ns, s.metadata.name);
  }
}
