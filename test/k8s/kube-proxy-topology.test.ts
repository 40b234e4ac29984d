/**
 * CategorizeEndpoints (src/k8s/kube-proxy/tracker.ts `categorize`): which endpoints the Cluster
 * and Local policies use and which get KUBE-SEP chains, transcribed from kube-proxy's
 * TestCategorizeEndpoints (pkg/proxy/topology_test.go) — zone hints, traffic policies, ready /
 * serving / terminating. Where upstream expects nil ("this policy is not used") the result here
 * is an empty list. Then the same through the iptables proxier: a node's zone label narrows the
 * SVC chain, and a label change forces a full sync.
 */
import { describe, expect, it } from 'vitest';
import { categorize, IptablesProxier, type EndpointInfo, type ServicePortInfo } from '../../src/k8s/kube-proxy/index.js';
import { slice, svc } from './kube-proxy-helpers.js';

function spi(nodePort: number, etpLocal: boolean, itpLocal: boolean): ServicePortInfo {
  return {
    service: 'ns1/svc1', name: 'ns1/svc1', protocol: 'tcp', key: 'ns1/svc1/tcp', clusterIP: '10.96.0.1', port: 80, nodePort,
    externalIPs: [], loadBalancerVIPs: [], loadBalancerSourceRanges: [], sessionAffinity: false, stickyMaxAgeSeconds: 0,
    externalPolicyLocal: etpLocal, internalPolicyLocal: itpLocal, healthCheckNodePort: 0,
  };
}
/** makeTestEndpointInfo(ip, port, isLocal, ready, serving, terminating, zoneHints) */
function ep(ip: string, isLocal: boolean, ready: boolean, serving: boolean, terminating: boolean, zones?: string[]): EndpointInfo {
  return { ip, port: 80, str: `${ip}:80`, isLocal, ready, serving, terminating, ...(zones ? { zoneHints: zones } : {}) };
}
interface Case { name: string; zone?: string; s: ServicePortInfo; eps: EndpointInfo[]; cluster: string[]; local: string[]; all?: string[] }
const Z = (z: string[]): string[] => z;

const CASES: Case[] = [
  { name: 'topology used: all endpoints hinted, some for the node\'s zone', zone: 'zone-a', s: spi(0, false, false),
    eps: [ep('10.1.2.3', false, true, true, false, Z(['zone-a'])), ep('10.1.2.4', false, true, true, false, Z(['zone-b'])), ep('10.1.2.5', false, true, true, false, Z(['zone-c'])), ep('10.1.2.6', false, true, true, false, Z(['zone-a']))],
    cluster: ['10.1.2.3:80', '10.1.2.6:80'], local: [] },
  { name: 'eTP: Local, topology ignored for Local endpoints', zone: 'zone-a', s: spi(8080, true, false),
    eps: [ep('10.1.2.3', true, true, true, false, Z(['zone-a'])), ep('10.1.2.4', true, true, true, false, Z(['zone-b'])), ep('10.1.2.5', false, true, true, false, Z(['zone-c'])), ep('10.1.2.6', false, true, true, false, Z(['zone-a']))],
    cluster: ['10.1.2.3:80', '10.1.2.6:80'], local: ['10.1.2.3:80', '10.1.2.4:80'], all: ['10.1.2.3:80', '10.1.2.4:80', '10.1.2.6:80'] },
  { name: 'iTP: Local, topology ignored for Local endpoints', zone: 'zone-a', s: spi(8080, false, true),
    eps: [ep('10.1.2.3', true, true, true, false, Z(['zone-a'])), ep('10.1.2.4', true, true, true, false, Z(['zone-b'])), ep('10.1.2.5', false, true, true, false, Z(['zone-c'])), ep('10.1.2.6', false, true, true, false, Z(['zone-a']))],
    cluster: ['10.1.2.3:80', '10.1.2.6:80'], local: ['10.1.2.3:80', '10.1.2.4:80'], all: ['10.1.2.3:80', '10.1.2.4:80', '10.1.2.6:80'] },
  { name: 'empty zone label', zone: '', s: spi(0, false, false), eps: [ep('10.1.2.3', false, true, true, false, Z(['zone-a']))], cluster: ['10.1.2.3:80'], local: [] },
  { name: 'node in a different zone: no filtering', zone: 'zone-b', s: spi(0, false, false),
    eps: [ep('10.1.2.3', false, true, true, false, Z(['zone-a'])), ep('10.1.2.5', false, true, true, false, Z(['zone-c']))], cluster: ['10.1.2.3:80', '10.1.2.5:80'], local: [] },
  { name: 'unready endpoint', zone: 'zone-a', s: spi(0, false, false),
    eps: [ep('10.1.2.3', false, true, true, false, Z(['zone-a'])), ep('10.1.2.4', false, true, true, false, Z(['zone-b'])), ep('10.1.2.5', false, true, true, false, Z(['zone-c'])), ep('10.1.2.6', false, false, true, false, Z(['zone-a']))],
    cluster: ['10.1.2.3:80'], local: [] },
  { name: 'only unready endpoints in the same zone: no filtering', zone: 'zone-a', s: spi(0, false, false),
    eps: [ep('10.1.2.3', false, false, true, false, Z(['zone-a'])), ep('10.1.2.4', false, true, true, false, Z(['zone-b'])), ep('10.1.2.5', false, true, true, false, Z(['zone-c'])), ep('10.1.2.6', false, false, true, false, Z(['zone-a']))],
    cluster: ['10.1.2.4:80', '10.1.2.5:80'], local: [] },
  { name: 'missing hints: no filtering', zone: 'zone-a', s: spi(0, false, false),
    eps: [ep('10.1.2.3', false, true, true, false, Z(['zone-a'])), ep('10.1.2.4', false, true, true, false, Z(['zone-b'])), ep('10.1.2.5', false, true, true, false), ep('10.1.2.6', false, true, true, false, Z(['zone-a']))],
    cluster: ['10.1.2.3:80', '10.1.2.4:80', '10.1.2.5:80', '10.1.2.6:80'], local: [] },
  { name: 'multiple hints per endpoint', zone: 'zone-c', s: spi(0, false, false),
    eps: [ep('10.1.2.3', false, true, true, false, Z(['zone-a', 'zone-b', 'zone-c'])), ep('10.1.2.4', false, true, true, false, Z(['zone-b', 'zone-c'])), ep('10.1.2.5', false, true, true, false, Z(['zone-b', 'zone-d'])), ep('10.1.2.6', false, true, true, false, Z(['zone-c']))],
    cluster: ['10.1.2.3:80', '10.1.2.4:80', '10.1.2.6:80'], local: [] },
  { name: 'conflicting topology and localness merge allEndpoints', zone: 'zone-a', s: spi(8080, false, true),
    eps: [ep('10.0.0.0', true, true, true, false, Z(['zone-a'])), ep('10.0.0.1', true, true, true, false, Z(['zone-b'])), ep('10.0.0.2', false, true, true, false, Z(['zone-a'])), ep('10.0.0.3', false, true, true, false, Z(['zone-b']))],
    cluster: ['10.0.0.0:80', '10.0.0.2:80'], local: ['10.0.0.0:80', '10.0.0.1:80'], all: ['10.0.0.0:80', '10.0.0.1:80', '10.0.0.2:80'] },
  { name: 'iTP: Local, all endpoints remote', s: spi(0, false, true), eps: [ep('10.0.0.0', false, true, true, false), ep('10.0.0.1', false, true, true, false)], cluster: [], local: [] },
  { name: 'iTP: Local, some endpoints local', s: spi(0, false, true), eps: [ep('10.0.0.0', true, true, true, false), ep('10.0.0.1', false, true, true, false)], cluster: [], local: ['10.0.0.0:80'] },
  { name: 'Cluster, no endpoint ready', s: spi(0, false, false), eps: [ep('10.0.0.0', false, false, true, false), ep('10.0.0.1', false, false, true, false)], cluster: [], local: [] },
  { name: 'Cluster, all endpoints terminating', s: spi(0, false, false), eps: [ep('10.0.0.0', false, false, true, true), ep('10.0.0.1', false, false, true, true)], cluster: ['10.0.0.0:80', '10.0.0.1:80'], local: [] },
  { name: 'iTP: Local, eTP: Local, all endpoints remote and terminating', s: spi(8080, true, true),
    eps: [ep('10.0.0.0', false, false, true, true), ep('10.0.0.1', false, false, true, true)], cluster: ['10.0.0.0:80', '10.0.0.1:80'], local: [], all: ['10.0.0.0:80', '10.0.0.1:80'] },
  { name: 'iTP: Cluster, eTP: Local, with terminating endpoints', s: spi(8080, true, false),
    eps: [ep('10.0.0.0', false, true, true, false), ep('10.0.0.1', true, false, false, false), ep('10.0.0.2', true, false, true, true), ep('10.0.0.3', false, false, true, true)],
    cluster: ['10.0.0.0:80'], local: ['10.0.0.2:80'], all: ['10.0.0.0:80', '10.0.0.2:80'] },
  { name: 'eTP ignored when not externally accessible', s: spi(0, true, false), eps: [ep('10.0.0.0', false, true, true, false), ep('10.0.0.1', true, true, true, false)], cluster: ['10.0.0.0:80', '10.0.0.1:80'], local: [] },
  { name: 'eTP: Local, externally accessible, some endpoints local', s: spi(8080, true, false),
    eps: [ep('10.0.0.0', true, true, true, false), ep('10.0.0.1', false, true, true, false)], cluster: ['10.0.0.0:80', '10.0.0.1:80'], local: ['10.0.0.0:80'], all: ['10.0.0.0:80', '10.0.0.1:80'] },
];

describe('CategorizeEndpoints (TestCategorizeEndpoints)', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const r = categorize(c.eps, c.s, c.zone ?? '');
      const strs = (l: EndpointInfo[]): string[] => l.map((e) => e.str).sort();
      expect(strs(r.cluster)).toEqual(c.cluster);
      expect(strs(r.local)).toEqual(c.local);
      expect(strs(r.allReachable)).toEqual(c.all ?? (c.local.length === 0 ? c.cluster : c.cluster.length === 0 ? c.local : []));
    });
  }
});

describe('zone hints through the iptables proxier', () => {
  it('the node\'s zone narrows the SVC chain; a label change forces a full sync', () => {
    const p = new IptablesProxier({ hostname: 'n1', nfacct: false, nodeLabels: { 'topology.kubernetes.io/zone': 'zone-a' } });
    p.addService(svc('ns1', 'svc1', (s) => { s.spec.clusterIP = '172.30.0.1'; s.spec.ports = [{ port: 80 }]; }));
    p.addEndpointSlice(slice('ns1', 'svc1', 1, (e) => {
      e.ports = [{ name: '', port: 80, protocol: 'TCP' }];
      e.endpoints = [{ addresses: ['10.0.0.1'], hints: { forZones: [{ name: 'zone-a' }] } }, { addresses: ['10.0.0.2'], hints: { forZones: [{ name: 'zone-b' }] } }];
    }));
    const dnat = (t: string): string[] => t.split('\n').filter((l) => l.includes('-j DNAT')).map((l) => l.split(' ').pop()!);
    expect(dnat(p.sync(0).payload)).toEqual(['10.0.0.1:80']);
    p.setNodeLabels({ 'topology.kubernetes.io/zone': 'zone-b' });
    const r = p.sync(1000);
    expect(r.full).toBe(true);
    expect(dnat(r.payload)).toEqual(['10.0.0.2:80']);
    expect(r.payload).toMatch(/^-X KUBE-SEP-/m); // zone-a's endpoint chain is stale now
    p.setNodeLabels({ 'topology.kubernetes.io/zone': 'zone-b', other: 'x' });
    expect(p.sync(2000).full).toBe(false);
  });
});
