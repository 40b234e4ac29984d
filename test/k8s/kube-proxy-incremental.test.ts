/**
 * Partial syncs are kube-proxy's optimisation, not a different result: after any sequence of
 * Service and EndpointSlice changes, the node's tables built by loading every payload in turn
 * (iptables-restore --noflush into one ruleset, as the kernel keeps them) must equal the tables a
 * fresh kube-proxy writes in one full sync of the same objects. Checked with fast-check over
 * random changes of four Services (types, traffic policies, external IPs, node ports) and their
 * endpoints (local or not, ready, serving, terminating), through the project's restore parser.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IptablesProxier, type KubeProxyConfig } from '../../src/k8s/kube-proxy/index.js';
import type { EndpointSlice, Service } from '../../src/k8s/api.js';
import { parseRestore } from '../../src/netfilter/restore.js';
import { Ruleset } from '../../src/netfilter/model.js';
import { kubeChains, slice, svc } from './kube-proxy-helpers.js';

const CONFIG: KubeProxyConfig = {
  hostname: 'test-node', nodeIPs: ['192.168.0.2'], localDetector: { mode: 'cluster-cidr', clusterCIDR: '10.0.0.0/8' }, nfacct: false,
};
const OPTS = { noflush: true, counters: true };

interface SvcVariant { type: 'ClusterIP' | 'NodePort' | 'LoadBalancer'; etpLocal: boolean; itpLocal: boolean; extIP: boolean; twoPorts: boolean }
interface EpVariant { ip: number; local: boolean; state: 'ready' | 'terminating' | 'not-ready' }
type Op =
  | { kind: 'svc'; i: number; v: SvcVariant }
  | { kind: 'delsvc'; i: number }
  | { kind: 'eps'; i: number; eps: EpVariant[] }
  | { kind: 'deleps'; i: number }
  | { kind: 'sync' };

function service(i: number, v: SvcVariant): Service {
  return svc('ns1', `s${i}`, (s) => {
    s.spec.type = v.type; s.spec.clusterIP = `172.30.0.${10 + i}`;
    s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP', ...(v.type !== 'ClusterIP' ? { nodePort: 30000 + i } : {}) }];
    if (v.twoPorts) s.spec.ports.push({ name: 'p53', port: 53, protocol: 'UDP' });
    if (v.etpLocal) s.spec.externalTrafficPolicy = 'Local';
    if (v.itpLocal) s.spec.internalTrafficPolicy = 'Local';
    if (v.extIP) s.spec.externalIPs = [`192.168.99.${i}`];
    if (v.type === 'LoadBalancer') { s.status = { loadBalancer: { ingress: [{ ip: `1.2.3.${i}` }] } }; s.spec.healthCheckNodePort = 32000 + i; }
  });
}
function endpoints(i: number, eps: EpVariant[]): EndpointSlice {
  return slice('ns1', `s${i}`, 1, (e) => {
    e.ports = [{ name: 'p80', port: 8080, protocol: 'TCP' }, { name: 'p53', port: 53, protocol: 'UDP' }];
    e.endpoints = eps.map((x) => ({
      addresses: [`10.180.${i}.${x.ip}`], nodeName: x.local ? 'test-node' : 'other',
      conditions: x.state === 'ready' ? {} : x.state === 'terminating' ? { ready: false, serving: true, terminating: true } : { ready: false, serving: false },
    }));
  });
}

const svcVariant = fc.record({
  type: fc.constantFrom('ClusterIP' as const, 'NodePort' as const, 'LoadBalancer' as const),
  etpLocal: fc.boolean(), itpLocal: fc.boolean(), extIP: fc.boolean(), twoPorts: fc.boolean(),
});
const epVariant = fc.record({ ip: fc.integer({ min: 1, max: 6 }), local: fc.boolean(), state: fc.constantFrom('ready' as const, 'terminating' as const, 'not-ready' as const) });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('svc' as const), i: fc.integer({ min: 0, max: 3 }), v: svcVariant }),
  fc.record({ kind: fc.constant('delsvc' as const), i: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ kind: fc.constant('eps' as const), i: fc.integer({ min: 0, max: 3 }), eps: fc.array(epVariant, { maxLength: 4 }) }),
  fc.record({ kind: fc.constant('deleps' as const), i: fc.integer({ min: 0, max: 3 }) }),
  fc.constant({ kind: 'sync' as const }),
);

describe('partial syncs equal a full sync', () => {
  it('the tables after any sequence of changes and syncs are those of one fresh full sync', () => {
    fc.assert(fc.property(fc.array(op, { minLength: 1, maxLength: 16 }), (ops) => {
      const p = new IptablesProxier(CONFIG);
      const rs = new Ruleset();
      const services = new Map<number, Service>(), slices = new Map<number, EndpointSlice>();
      let now = 0;
      const syncInto = (): void => {
        const r = p.sync(now += 1000);
        if (r.ensure !== null) parseRestore(r.ensure, rs, OPTS);
        parseRestore(r.payload, rs, OPTS);
      };
      syncInto();
      for (const o of [...ops, { kind: 'sync' as const }]) {
        switch (o.kind) {
          case 'svc': { const s = service(o.i, o.v); services.set(o.i, s); p.updateService(s); break; }
          case 'delsvc': { const s = services.get(o.i); if (s) { services.delete(o.i); p.deleteService(s); } break; }
          case 'eps': { const e = endpoints(o.i, o.eps); slices.set(o.i, e); p.updateEndpointSlice(e); break; }
          case 'deleps': { const e = slices.get(o.i); if (e) { slices.delete(o.i); p.deleteEndpointSlice(e); } break; }
          case 'sync': syncInto(); break;
        }
      }
      const fresh = new IptablesProxier(CONFIG);
      for (const s of services.values()) fresh.addService(s);
      for (const e of slices.values()) fresh.addEndpointSlice(e);
      const f = fresh.sync(0);
      const frs = new Ruleset();
      parseRestore(f.ensure!, frs, OPTS);
      parseRestore(f.payload, frs, OPTS);
      expect(kubeChains(rs)).toEqual(kubeChains(frs));
    }), { numRuns: 150, seed: 42 });
  });
});
