/**
 * kube-proxy's change tracker (src/k8s/kube-proxy/tracker.ts): how Services and EndpointSlices
 * become service ports and endpoints (pkg/proxy/serviceport.go, endpointslicecache.go), and
 * which Services a checkout reports changed — what decides the SVC/SEP chains a partial sync
 * rewrites.
 */
import { describe, expect, it } from 'vitest';
import { ChangeTracker, servicePorts } from '../../src/k8s/kube-proxy/index.js';
import { slice, svc } from './kube-proxy-helpers.js';

const S = svc('ns1', 'svc1', (s) => { s.spec.clusterIP = '172.30.0.1'; s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP' }]; });
const eps = (t: ChangeTracker): Record<string, string[]> => {
  const out: Record<string, string[]> = {};
  for (const [k, v] of t.checkout().endpoints) out[k] = v.map((e) => `${e.str}${e.terminating ? ' T' : ''}${e.isLocal ? ' L' : ''}`);
  return out;
};

describe('endpoints from slices', () => {
  it('an endpoint in two slices counts once, the non-terminating copy winning; local by node name', () => {
    const t = new ChangeTracker('n1');
    t.addService(S);
    t.addEndpointSlice(slice('ns1', 'svc1', 1, (e) => { e.ports = [{ name: 'p80', port: 80 }]; e.endpoints = [{ addresses: ['10.0.0.1'], conditions: { ready: false, serving: true, terminating: true } }, { addresses: ['10.0.0.10'], nodeName: 'n1' }]; }));
    t.addEndpointSlice(slice('ns1', 'svc1', 2, (e) => { e.ports = [{ name: 'p80', port: 80 }]; e.endpoints = [{ addresses: ['10.0.0.1'] }, { addresses: ['10.0.0.2'] }]; }));
    // sorted as strings, as kube-proxy sorts them: ':' sorts after '0', so 10.0.0.10:80 comes before 10.0.0.1:80
    expect(eps(t)).toEqual({ 'ns1/svc1:p80/tcp': ['10.0.0.10:80 L', '10.0.0.1:80', '10.0.0.2:80'] });
  });
  it('ports match by name and protocol; FQDN slices, port-less ports and address-less endpoints are skipped', () => {
    const t = new ChangeTracker('n1');
    t.addService(S);
    t.addEndpointSlice(slice('ns1', 'svc1', 1, (e) => { e.ports = [{ name: 'p80', port: 80, protocol: 'UDP' }, { name: 'other', port: 81 }, { name: 'p80' }]; e.endpoints = [{ addresses: ['10.0.0.1'] }, { addresses: [] }]; }));
    t.addEndpointSlice(slice('ns1', 'svc1', 2, (e) => { e.addressType = 'FQDN'; e.ports = [{ name: 'p80', port: 80 }]; e.endpoints = [{ addresses: ['example.com'] }]; }));
    const c = t.checkout();
    expect(c.endpoints.get('ns1/svc1:p80/tcp')).toBeUndefined();
    expect([...c.endpoints.keys()].sort()).toEqual(['ns1/svc1:other/tcp', 'ns1/svc1:p80/udp']);
  });
});

describe('what a checkout reports changed', () => {
  it('only real changes: the same content again, a delete of something unknown, are none', () => {
    const t = new ChangeTracker('n1');
    const e1 = slice('ns1', 'svc1', 1, (e) => { e.ports = [{ name: 'p80', port: 80 }]; e.endpoints = [{ addresses: ['10.0.0.1'] }]; });
    t.addService(S);
    t.addEndpointSlice(e1);
    expect([...t.checkout().updated]).toEqual(['ns1/svc1']);
    t.updateService(svc('ns1', 'svc1', (s) => { s.spec.clusterIP = '172.30.0.1'; s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP' }]; s.metadata.labels = { a: 'b' }; }));
    t.updateEndpointSlice({ ...e1, endpoints: [{ addresses: ['10.0.0.01'] }] });
    t.deleteEndpointSlice(slice('ns1', 'svc1', 9, () => undefined));
    expect([...t.checkout().updated]).toEqual([]);
    // a change and its undo before the sync: no change either
    t.updateEndpointSlice({ ...e1, endpoints: [{ addresses: ['10.0.0.2'] }] });
    t.updateEndpointSlice(e1);
    expect([...t.checkout().updated]).toEqual([]);
    t.updateEndpointSlice({ ...e1, endpoints: [{ addresses: ['10.0.0.2'] }] });
    const c = t.checkout();
    expect([...c.updated]).toEqual(['ns1/svc1']);
    t.deleteService(S);
    const d = t.checkout();
    expect(d.deleted.map((p) => p.name)).toEqual(['ns1/svc1:p80']);
    expect(d.svcPorts.size).toBe(0);
  });
});

describe('service ports', () => {
  it('dual-stack Services give each family its ClusterIP; ingress hostnames and the other family are skipped', () => {
    const s = svc('ns1', 'ds', (x) => {
      x.spec.type = 'LoadBalancer'; x.spec.clusterIPs = ['fd00::10', '10.96.0.10']; x.spec.ports = [{ port: 53, protocol: 'UDP' }];
      x.spec.externalIPs = ['2001:db8::5', '192.0.2.5']; x.spec.loadBalancerSourceRanges = ['10.0.0.0/8', '2001:db8::/32'];
      x.status = { loadBalancer: { ingress: [{ hostname: 'lb.example.com' }, { ip: '198.51.100.1' }, { ip: '2001:db8::9' }] } };
    });
    const [v4] = servicePorts(s, 'IPv4');
    expect(v4).toMatchObject({ name: 'ns1/ds', protocol: 'udp', clusterIP: '10.96.0.10', externalIPs: ['192.0.2.5'], loadBalancerVIPs: ['198.51.100.1'], loadBalancerSourceRanges: ['10.0.0.0/8'] });
    const [v6] = servicePorts(s, 'IPv6');
    expect(v6).toMatchObject({ clusterIP: 'fd00::10', externalIPs: ['2001:db8::5'], loadBalancerVIPs: ['2001:db8::9'], loadBalancerSourceRanges: ['2001:db8::/32'] });
    // eTP=Local counts only for externally accessible Services; the health-check port only for LoadBalancers
    const np = svc('ns1', 'np', (x) => { x.spec.type = 'NodePort'; x.spec.clusterIP = '10.96.0.11'; x.spec.externalTrafficPolicy = 'Local'; x.spec.healthCheckNodePort = 31000; x.spec.ports = [{ port: 80, nodePort: 30080 }]; });
    expect(servicePorts(np)[0]).toMatchObject({ externalPolicyLocal: true, healthCheckNodePort: 0 });
    const cip = svc('ns1', 'cip', (x) => { x.spec.clusterIP = '10.96.0.12'; x.spec.externalTrafficPolicy = 'Local'; x.spec.ports = [{ port: 80 }]; });
    expect(servicePorts(cip)[0]).toMatchObject({ externalPolicyLocal: false });
    expect(() => servicePorts(svc('ns1', 'bad', (x) => { x.spec.clusterIP = '10.96.0.13'; x.spec.ports = [{ port: 70000 }]; }))).toThrow(/spec\.ports\[0\]\.port/);
    expect(() => servicePorts(svc('ns1', 'bad', (x) => { x.spec.clusterIP = '10.96.0.13'; x.spec.ports = [{ port: 80 }, { port: 81, protocol: 'HTTP' as 'TCP' }]; }))).toThrow(/spec\.ports\[1\]\.protocol/);
  });
});

describe('one sync over parsed objects (the CLI\'s entry)', () => {
  it('iptablesOnce / ipvsOnce take Services, EndpointSlices and this node\'s labels, ignore the rest', async () => {
    const { iptablesOnce, ipvsOnce } = await import('../../src/k8s/kube-proxy/index.js');
    const objects = [
      S,
      slice('ns1', 'svc1', 1, (e) => {
        e.ports = [{ name: 'p80', port: 8080 }];
        e.endpoints = [{ addresses: ['10.0.0.1'], hints: { forZones: [{ name: 'z1' }] } }, { addresses: ['10.0.0.2'], hints: { forZones: [{ name: 'z2' }] } }];
      }),
      { apiVersion: 'v1' as const, kind: 'Node' as const, metadata: { name: 'n1', labels: { 'topology.kubernetes.io/zone': 'z2' } } },
      { apiVersion: 'v1' as const, kind: 'Namespace' as const, metadata: { name: 'ns1' } },
    ];
    const r = iptablesOnce(objects, { hostname: 'n1', nfacct: false });
    expect(r.full).toBe(true);
    expect(r.payload.split('\n').filter((l) => l.includes('-j DNAT'))).toEqual([expect.stringContaining('--to-destination 10.0.0.2:8080')]);
    const v = ipvsOnce(objects, { hostname: 'n1' });
    expect(v.ipvsadm).toBe('-A -t 172.30.0.1:80 -s rr\n-a -t 172.30.0.1:80 -r 10.0.0.2:8080 -m -w 1\n');
    expect(v.addresses).toEqual(['172.30.0.1']);
    expect(v.ipsets).toContain('add KUBE-CLUSTER-IP 172.30.0.1,tcp:80');
    expect(v.ensure).toContain('-I PREROUTING 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
  });
});
