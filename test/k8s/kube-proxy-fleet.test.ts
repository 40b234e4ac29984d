/**
 * The fleet's claim (kube-proxy/fleet.ts): one shared proxier writes, for every node it serves,
 * exactly the rules that node's own kube-proxy would write. Checked with fast-check: four nodes
 * (zones or none; one joins late) and four Services (types, traffic policies, external IPs,
 * LoadBalancer source ranges that hold a node's IP or not) with endpoints on any node (states,
 * zone hints), changed and synced at random; every node's tables, built by loading each payload
 * the fleet gives it, must equal those built from a proxier of its own.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IptablesProxier, KubeProxyFleet, type KubeProxyConfig } from '../../src/k8s/kube-proxy/index.js';
import type { EndpointSlice, Service } from '../../src/k8s/api.js';
import { parseRestore } from '../../src/netfilter/restore.js';
import { Ruleset } from '../../src/netfilter/model.js';
import { kubeChains, slice, svc } from './kube-proxy-helpers.js';

const BASE: Omit<KubeProxyConfig, 'hostname'> = { localDetector: { mode: 'cluster-cidr', clusterCIDR: '10.0.0.0/8' }, nfacct: false };
const OPTS = { noflush: true, counters: true };
const NODES = ['n0', 'n1', 'n2', 'n3'];
const ipOf = (i: number): string => `192.168.0.${10 + i}`;

interface SvcVariant { type: 'ClusterIP' | 'NodePort' | 'LoadBalancer'; etpLocal: boolean; itpLocal: boolean; extIP: boolean; range: 0 | 1 | 2 }
interface EpVariant { ip: number; node: number; state: 'ready' | 'terminating' | 'not-ready'; hint: '' | 'z1' | 'z2' }
type Op =
  | { kind: 'svc'; i: number; v: SvcVariant }
  | { kind: 'delsvc'; i: number }
  | { kind: 'eps'; i: number; eps: EpVariant[] }
  | { kind: 'deleps'; i: number }
  | { kind: 'join' }
  | { kind: 'sync' };

function service(i: number, v: SvcVariant): Service {
  return svc('ns1', `s${i}`, (s) => {
    s.spec.type = v.type; s.spec.clusterIP = `172.30.0.${10 + i}`;
    s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP', ...(v.type !== 'ClusterIP' ? { nodePort: 30000 + i } : {}) }];
    if (v.etpLocal) s.spec.externalTrafficPolicy = 'Local';
    if (v.itpLocal) s.spec.internalTrafficPolicy = 'Local';
    if (v.extIP) s.spec.externalIPs = [`192.168.99.${i}`];
    if (v.type === 'LoadBalancer') {
      s.status = { loadBalancer: { ingress: [{ ip: `1.2.3.${i}` }] } };
      if (v.range === 1) s.spec.loadBalancerSourceRanges = [`${ipOf(1)}/32`];
      if (v.range === 2) s.spec.loadBalancerSourceRanges = ['203.0.113.0/24'];
    }
  });
}
function endpoints(i: number, eps: EpVariant[]): EndpointSlice {
  return slice('ns1', `s${i}`, 1, (e) => {
    e.ports = [{ name: 'p80', port: 8080, protocol: 'TCP' }];
    e.endpoints = eps.map((x) => ({
      addresses: [`10.180.${i}.${x.ip}`], nodeName: NODES[x.node] ?? 'other',
      conditions: x.state === 'ready' ? {} : x.state === 'terminating' ? { ready: false, serving: true, terminating: true } : { ready: false, serving: false },
      ...(x.hint === '' ? {} : { hints: { forZones: [{ name: x.hint }] } }),
    }));
  });
}

const svcVariant = fc.record({
  type: fc.constantFrom('ClusterIP' as const, 'NodePort' as const, 'LoadBalancer' as const),
  etpLocal: fc.boolean(), itpLocal: fc.boolean(), extIP: fc.boolean(), range: fc.constantFrom(0 as const, 1 as const, 2 as const),
});
const epVariant = fc.record({
  ip: fc.integer({ min: 1, max: 6 }), node: fc.integer({ min: 0, max: 4 }),
  state: fc.constantFrom('ready' as const, 'terminating' as const, 'not-ready' as const), hint: fc.constantFrom('' as const, 'z1' as const, 'z2' as const),
});
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('svc' as const), i: fc.integer({ min: 0, max: 3 }), v: svcVariant }),
  fc.record({ kind: fc.constant('delsvc' as const), i: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ kind: fc.constant('eps' as const), i: fc.integer({ min: 0, max: 3 }), eps: fc.array(epVariant, { maxLength: 4 }) }),
  fc.record({ kind: fc.constant('deleps' as const), i: fc.integer({ min: 0, max: 3 }) }),
  fc.constant({ kind: 'join' as const }),
  fc.constant({ kind: 'sync' as const }),
);
const zones = fc.array(fc.constantFrom('', 'z1', 'z2'), { minLength: 4, maxLength: 4 });

describe('KubeProxyFleet', () => {
  it('gives every node the rules a kube-proxy of its own writes, through any changes', () => {
    fc.assert(fc.property(zones, fc.array(op, { minLength: 1, maxLength: 14 }), (zoneOf, ops) => {
      const fleet = new KubeProxyFleet('iptables', BASE);
      const own = new Map<string, IptablesProxier>();
      const refRs = new Map<string, Ruleset>(), fleetRs = new Map<string, Ruleset>();
      const services = new Map<number, Service>(), slices = new Map<number, EndpointSlice>();
      let now = 0;
      const labels = (i: number): Record<string, string> => (zoneOf[i] === '' ? {} : { 'topology.kubernetes.io/zone': zoneOf[i]! });
      const join = (i: number): void => {
        const name = NODES[i]!;
        const p = new IptablesProxier({ ...BASE, hostname: name, nodeIPs: [ipOf(i)], nodeLabels: labels(i) });
        for (const s of services.values()) p.addService(s);
        for (const e of slices.values()) p.addEndpointSlice(e);
        own.set(name, p);
        refRs.set(name, new Ruleset());
        fleetRs.set(name, new Ruleset());
        fleet.addNode(name, ipOf(i), labels(i));
      };
      const sync = (): void => {
        now += 1000;
        for (const [name, p] of own) {
          const r = p.sync(now);
          // the jump rules kube-proxy ensures: the same text for every node, loaded into both
          if (r.ensure !== null) { parseRestore(r.ensure, refRs.get(name)!, OPTS); parseRestore(r.ensure, fleetRs.get(name)!, OPTS); }
          parseRestore(r.payload, refRs.get(name)!, OPTS);
        }
        for (const s of fleet.sync(now)) for (const n of s.nodes) parseRestore(s.payload, fleetRs.get(n)!, OPTS);
      };
      for (let i = 0; i < 3; i++) join(i);
      for (const o of [...ops, { kind: 'sync' as const }]) {
        const each = (fn: (p: IptablesProxier) => void): void => { for (const p of own.values()) fn(p); };
        switch (o.kind) {
          case 'svc': {
            const s = service(o.i, o.v), isNew = !services.has(o.i);
            services.set(o.i, s); each((p) => p.updateService(s)); fleet.upsertService(s, isNew); break;
          }
          case 'delsvc': { const s = services.get(o.i); if (s) { services.delete(o.i); each((p) => p.deleteService(s)); fleet.deleteService(s); } break; }
          case 'eps': {
            const e = endpoints(o.i, o.eps), isNew = !slices.has(o.i);
            slices.set(o.i, e); each((p) => p.updateEndpointSlice(e)); fleet.upsertSlice(e, isNew); break;
          }
          case 'deleps': { const e = slices.get(o.i); if (e) { slices.delete(o.i); each((p) => p.deleteEndpointSlice(e)); fleet.deleteSlice(e); } break; }
          case 'join': if (!own.has('n3')) join(3); break;
          case 'sync': sync(); break;
        }
      }
      for (const name of own.keys()) expect(kubeChains(fleetRs.get(name)!), name).toEqual(kubeChains(refRs.get(name)!));
    }), { numRuns: 1000, seed: 7 });
  });

  it('syncs once for all nodes that nothing singles out, and apart for a node with a local endpoint of a Local Service', () => {
    const fleet = new KubeProxyFleet('iptables', BASE);
    for (let i = 0; i < 3; i++) fleet.addNode(NODES[i]!, ipOf(i));
    fleet.upsertService(service(0, { type: 'ClusterIP', etpLocal: false, itpLocal: false, extIP: false, range: 0 }), true);
    fleet.upsertSlice(endpoints(0, [{ ip: 1, node: 1, state: 'ready', hint: '' }]), true);
    let syncs = fleet.sync(1000);
    expect(syncs.map((s) => [s.nodes, s.full])).toEqual([[['n0', 'n1', 'n2'], true]]);
    expect(fleet.proxier('n0')).toBe(fleet.proxier('n2'));

    fleet.upsertService(service(1, { type: 'NodePort', etpLocal: true, itpLocal: false, extIP: false, range: 0 }), true);
    fleet.upsertSlice(endpoints(1, [{ ip: 2, node: 2, state: 'ready', hint: '' }]), true);
    syncs = fleet.sync(2000);
    expect(syncs.map((s) => [s.nodes, s.full])).toEqual([[['n0', 'n1'], false], [['n2'], true]]);
    expect(fleet.hasOwnProxier('n2')).toBe(true);
    expect(syncs[1]!.payload).toContain('KUBE-SVL-');
    expect(syncs[0]!.payload).toContain('has no local endpoints');

    // a node joining the shared group makes its next sync a full one, for every node it serves
    fleet.addNode('n3', ipOf(3));
    syncs = fleet.sync(3000);
    expect(syncs.map((s) => [s.nodes, s.full])).toEqual([[['n0', 'n1', 'n3'], true]]);
  });
});
