/**
 * kube-proxy's ipvs mode: the virtual servers, ipsets, kube-ipvs0 addresses and KUBE-* rules
 * IpvsProxier keeps, against what pkg/proxy/ipvs/proxier_test.go expects (TestOnlyLocalNodePorts,
 * TestHealthCheckNodePort, TestLoadBalancerSourceRanges, TestAcceptIPVSTraffic,
 * TestOnlyLocalLoadBalancing, transcribed: which virtual servers and real servers, which set
 * members, which jumps in which order), then the whole state run in the project's netfilter
 * stack with IPVS.
 */
import { describe, expect, it } from 'vitest';
import { IpvsProxier, type IpvsProxyConfig } from '../../src/k8s/kube-proxy/index.js';
import { parseRestore } from '../../src/netfilter/restore.js';
import { Ruleset } from '../../src/netfilter/model.js';
import { parseHost } from '../../src/netfilter/host.js';
import { NfStack } from '../../src/netfilter/stack.js';
import { FrameBuilder } from '../../src/wire/builder.js';
import { packetText } from '../../src/cli/iptables-trace.js';
import { parseIpv4 } from '../../src/wire/bytes.js';
import { slice, svc } from './kube-proxy-helpers.js';

const BASE: IpvsProxyConfig = {
  hostname: 'test-node', nodeIPs: ['100.101.102.103'], localDetector: { mode: 'cluster-cidr', clusterCIDR: '10.0.0.0/8' },
};

/** Each rule of 'chain' in 'table' as kube-proxy's checkIptables sees it: the jump and the set it matches. */
function jumps(payload: string, table: 'nat' | 'filter', chain: string): string[] {
  const block = payload.split(`*${table}\n`)[1]!.split('COMMIT')[0]!;
  return block.split('\n').filter((l) => l.startsWith(`-A ${chain} `)).map((l) => {
    const j = / -j (\S+)/.exec(l)![1]!;
    const set = / --match-set (\S+)/.exec(l)?.[1];
    const src = / -s (\S+)/.exec(l)?.[1];
    return set !== undefined ? `${j} ${set}` : src !== undefined ? `${j} -s ${src}` : j;
  });
}
/** A virtual server and its real servers from ipvsadm-save text. */
function vs(save: string, key: string): string[] | undefined {
  const lines = save.split('\n');
  if (!lines.some((l) => l.startsWith(`-A -t ${key} `) || l.startsWith(`-A -u ${key} `))) return undefined;
  return lines.filter((l) => l.startsWith(`-a -t ${key} `) || l.startsWith(`-a -u ${key} `)).map((l) => l.split(' ')[4]!).sort();
}
const services = (save: string): number => save.split('\n').filter((l) => l.startsWith('-A ')).length;
const members = (p: IpvsProxier, set: string): string[] => [...(p.ipsets.get(set)?.members.keys() ?? [])].sort();
const port80 = [{ name: 'p80', port: 80, protocol: 'TCP' as const }];

describe('ipvs mode (from pkg/proxy/ipvs/proxier_test.go)', () => {
  it('NewProxier sets net/ipv4/vs/expire_nodest_conn=1 and expire_quiescent_template=1 on the node\'s IPVS', () => {
    const p = new IpvsProxier(BASE);
    expect(p.ipvs.expireNodestConn).toBe(true);
    expect(p.ipvs.expireQuiescentTemplate).toBe(true);
  });
  it('TestOnlyLocalNodePorts: the NodePort virtual server has only the local endpoint', () => {
    const p = new IpvsProxier({ ...BASE, nodePortAddresses: ['100.101.102.0/24'], nodeAddresses: ['100.101.102.103'] });
    p.addService(svc('ns1', 'svc1', (s) => {
      s.spec.type = 'NodePort'; s.spec.clusterIP = '10.20.30.41'; s.spec.externalTrafficPolicy = 'Local';
      s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 3001 }];
    }));
    p.addEndpointSlice(slice('ns1', 'svc1', 1, (e) => {
      e.endpoints = [{ addresses: ['10.180.0.1'], nodeName: 'test-node' }, { addresses: ['10.180.1.1'], nodeName: 'other-node' }];
      e.ports = port80;
    }));
    const r = p.sync(0);
    expect(services(p.ipvs.save())).toBe(2);
    expect(vs(p.ipvs.save(), '100.101.102.103:3001')).toEqual(['10.180.0.1:80']);
    expect(vs(p.ipvs.save(), '10.20.30.41:80')).toEqual(['10.180.0.1:80', '10.180.1.1:80']);
    expect(members(p, 'KUBE-NODE-PORT-TCP')).toEqual(['3001']);
    expect(members(p, 'KUBE-NODE-PORT-LOCAL-TCP')).toEqual(['3001']);
    expect(jumps(r.iptables, 'nat', 'KUBE-SERVICES')).toEqual(['RETURN -s 127.0.0.0/8', 'KUBE-MARK-MASQ KUBE-CLUSTER-IP', 'KUBE-NODE-PORT', 'ACCEPT KUBE-CLUSTER-IP']);
    expect(jumps(r.iptables, 'nat', 'KUBE-NODE-PORT')).toEqual(['RETURN KUBE-NODE-PORT-LOCAL-TCP', 'KUBE-MARK-MASQ KUBE-NODE-PORT-TCP']);
    expect(jumps(r.iptables, 'filter', 'KUBE-NODE-PORT')).toEqual(['ACCEPT KUBE-HEALTH-CHECK-NODE-PORT']);
    // the local endpoint is a hairpin candidate; the ClusterIP is on kube-ipvs0, the node IP is not
    expect(members(p, 'KUBE-LOOP-BACK')).toEqual(['10.180.0.1,tcp:80,10.180.0.1']);
    expect(r.addresses).toEqual(['10.20.30.41']);
    expect(members(p, 'KUBE-IPVS-IPS')).toEqual(['10.20.30.41']);
  });

  it('TestHealthCheckNodePort: only LoadBalancers with eTP=Local put their health-check port in the set', () => {
    const p = new IpvsProxier({ ...BASE, nodePortAddresses: ['100.101.102.0/24'], nodeAddresses: ['100.101.102.103'] });
    const lb = (name: string, hc: number, local: boolean): void => p.addService(svc('ns1', name, (s) => {
      s.spec.type = 'LoadBalancer'; s.spec.clusterIP = '10.20.30.41'; s.spec.externalTrafficPolicy = local ? 'Local' : 'Cluster';
      s.spec.healthCheckNodePort = hc; s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 3000 }];
    }));
    lb('valid-svc1', 30000, true); lb('valid-svc2', 30001, true); lb('invalid-svc3', 30002, false);
    const r = p.sync(0);
    expect(members(p, 'KUBE-HEALTH-CHECK-NODE-PORT')).toEqual(['30000', '30001']);
    expect(jumps(r.iptables, 'nat', 'KUBE-NODE-PORT')).toEqual(['RETURN KUBE-NODE-PORT-LOCAL-TCP', 'KUBE-MARK-MASQ KUBE-NODE-PORT-TCP']);
    expect(jumps(r.iptables, 'filter', 'KUBE-NODE-PORT')).toEqual(['ACCEPT KUBE-HEALTH-CHECK-NODE-PORT']);
  });

  it('TestLoadBalancerSourceRanges: the firewall sets and chains', () => {
    const p = new IpvsProxier(BASE);
    p.addService(svc('ns1', 'svc1', (s) => {
      s.spec.type = 'LoadBalancer'; s.spec.clusterIP = '10.20.30.41'; s.spec.ports = port80;
      s.status = { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } }; s.spec.loadBalancerSourceRanges = ['10.0.0.0/8'];
    }));
    p.addEndpointSlice(slice('ns1', 'svc1', 1, (e) => { e.endpoints = [{ addresses: ['10.180.0.1'] }]; e.ports = port80; }));
    const r = p.sync(0);
    expect(services(p.ipvs.save())).toBe(2);
    expect(vs(p.ipvs.save(), '1.2.3.4:80')).toEqual(['10.180.0.1:80']);
    expect(members(p, 'KUBE-LOAD-BALANCER')).toEqual(['1.2.3.4,tcp:80']);
    expect(members(p, 'KUBE-LOAD-BALANCER-FW')).toEqual(['1.2.3.4,tcp:80']);
    expect(members(p, 'KUBE-LOAD-BALANCER-SOURCE-CIDR')).toEqual(['1.2.3.4,tcp:80,10.0.0.0/8']);
    expect(jumps(r.iptables, 'nat', 'KUBE-SERVICES')).toEqual(['RETURN -s 127.0.0.0/8', 'KUBE-LOAD-BALANCER KUBE-LOAD-BALANCER',
      'KUBE-MARK-MASQ KUBE-CLUSTER-IP', 'KUBE-NODE-PORT', 'ACCEPT KUBE-CLUSTER-IP', 'ACCEPT KUBE-LOAD-BALANCER']);
    expect(jumps(r.iptables, 'filter', 'KUBE-PROXY-FIREWALL')).toEqual(['KUBE-SOURCE-RANGES-FIREWALL KUBE-LOAD-BALANCER-FW']);
    expect(jumps(r.iptables, 'filter', 'KUBE-SOURCE-RANGES-FIREWALL')).toEqual(['RETURN KUBE-LOAD-BALANCER-SOURCE-CIDR', 'DROP']);
    // the node (100.101.102.103) is outside the ranges: its own access to the LB IP is dropped
    expect(r.iptables).toContain('-A KUBE-IPVS-OUT-FILTER -s 1.2.3.4 -m ipvs --vaddr 1.2.3.4 --vproto tcp --vport 80 -j DROP');
    // a range holding the node IP admits the LB IP as a source instead
    const q = new IpvsProxier({ ...BASE, nodeIPs: ['10.1.1.1'] });
    q.addService(svc('ns1', 'svc1', (s) => {
      s.spec.type = 'LoadBalancer'; s.spec.clusterIP = '10.20.30.41'; s.spec.ports = port80;
      s.status = { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } }; s.spec.loadBalancerSourceRanges = ['10.0.0.0/8'];
    }));
    const r2 = q.sync(0);
    expect(members(q, 'KUBE-LOAD-BALANCER-SOURCE-IP')).toEqual(['1.2.3.4,tcp:80,1.2.3.4']);
    expect(r2.iptables).not.toContain('KUBE-IPVS-OUT-FILTER -s');
  });

  it('TestAcceptIPVSTraffic: the KUBE-SERVICES rules for ClusterIP, LoadBalancer, NodePort and external IPs', () => {
    const p = new IpvsProxier({ ...BASE, nodeAddresses: [] });
    const kinds: ['ClusterIP' | 'LoadBalancer' | 'NodePort', string, string][] = [['ClusterIP', '10.20.30.40', 'svc1'], ['LoadBalancer', '10.20.30.41', 'svc2'], ['NodePort', '10.20.30.42', 'svc3']];
    for (const [type, ip, name] of kinds) {
      p.addService(svc('ns1', name, (s) => {
        s.spec.type = type; s.spec.clusterIP = ip; s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 80 }];
        if (type === 'LoadBalancer') s.status = { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } };
        if (type === 'ClusterIP') s.spec.externalIPs = ['5.6.7.8'];
      }));
    }
    const r = p.sync(0);
    expect(jumps(r.iptables, 'nat', 'KUBE-SERVICES')).toEqual([
      'RETURN -s 127.0.0.0/8', 'KUBE-LOAD-BALANCER KUBE-LOAD-BALANCER', 'KUBE-MARK-MASQ KUBE-CLUSTER-IP', 'KUBE-MARK-MASQ KUBE-EXTERNAL-IP',
      'ACCEPT KUBE-EXTERNAL-IP', 'ACCEPT KUBE-EXTERNAL-IP', 'KUBE-NODE-PORT', 'ACCEPT KUBE-CLUSTER-IP', 'ACCEPT KUBE-LOAD-BALANCER']);
  });

  it('TestOnlyLocalLoadBalancing: the LB virtual server has the local endpoint, KUBE-LOAD-BALANCER returns for it', () => {
    const p = new IpvsProxier({ ...BASE, nodeIPs: [], nodeAddresses: [] });
    p.addService(svc('ns1', 'svc1', (s) => {
      s.spec.type = 'LoadBalancer'; s.spec.clusterIP = '10.20.30.41'; s.spec.externalTrafficPolicy = 'Local';
      s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 3001 }];
      s.status = { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } };
    }));
    p.addEndpointSlice(slice('ns1', 'svc1', 1, (e) => {
      e.endpoints = [{ addresses: ['10.180.0.1'], nodeName: 'test-node' }, { addresses: ['10.180.1.1'], nodeName: 'other-node' }];
      e.ports = port80;
    }));
    const r = p.sync(0);
    expect(services(p.ipvs.save())).toBe(2);
    expect(vs(p.ipvs.save(), '1.2.3.4:80')).toEqual(['10.180.0.1:80']);
    expect(members(p, 'KUBE-LOAD-BALANCER')).toEqual(['1.2.3.4,tcp:80']);
    expect(members(p, 'KUBE-LOAD-BALANCER-LOCAL')).toEqual(['1.2.3.4,tcp:80']);
    expect(jumps(r.iptables, 'nat', 'KUBE-LOAD-BALANCER')).toEqual(['RETURN KUBE-LOAD-BALANCER-LOCAL', 'KUBE-MARK-MASQ']);
    expect(r.addresses).toEqual(['1.2.3.4', '10.20.30.41']);
  });

  it('ClientIP affinity is persistence with its timeout; mh gets the port flag; iTP=Local narrows the ClusterIP', () => {
    const p = new IpvsProxier({ ...BASE, scheduler: 'wrr' });
    p.addService(svc('ns1', 'svc1', (s) => {
      s.spec.clusterIP = '10.20.30.41'; s.spec.ports = port80; s.spec.internalTrafficPolicy = 'Local';
      s.spec.sessionAffinity = 'ClientIP'; s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 600 } };
    }));
    p.addEndpointSlice(slice('ns1', 'svc1', 1, (e) => {
      e.endpoints = [{ addresses: ['10.180.0.1'], nodeName: 'test-node' }, { addresses: ['10.180.1.1'], nodeName: 'other-node' }];
      e.ports = port80;
    }));
    const r = p.sync(0);
    expect(p.ipvs.save()).toContain('-A -t 10.20.30.41:80 -s wrr -p 600\n');
    expect(vs(p.ipvs.save(), '10.20.30.41:80')).toEqual(['10.180.0.1:80']);
  });
});

describe('ipvs mode over time', () => {
  function oneService(p: IpvsProxier, ips: string[]): void {
    p.updateEndpointSlice(slice('ns1', 'svc1', 1, (e) => { e.endpoints = ips.map((a) => ({ addresses: [a] })); e.ports = port80; }));
  }
  it('an endpoint with a live connection is quiesced, then deleted when idle; a deleted service leaves nothing', () => {
    const p = new IpvsProxier({ ...BASE, nodeAddresses: [] });
    const s1 = svc('ns1', 'svc1', (s) => { s.spec.clusterIP = '10.20.30.41'; s.spec.ports = port80; });
    p.addService(s1);
    oneService(p, ['10.180.0.1', '10.180.0.2']);
    p.sync(0);
    // a connection to 10.180.0.1 (the kernel schedules it; rr takes the head of the list)
    const v = p.ipvs.findServiceExact(6, parseIpv4('10.20.30.41')!, 80, 0)!;
    const pkt = { proto: 6, src: parseIpv4('10.0.0.5')!, sport: 40000, dst: parseIpv4('10.20.30.41')!, dport: 80, fwmark: 0, tcpFlags: 0x02 };
    const rs = p.ipvs.schedule(v, pkt, 0)!;
    const busy = `${rs.addr >>> 24}.${(rs.addr >>> 16) & 255}.${(rs.addr >>> 8) & 255}.${rs.addr & 255}:80`;
    oneService(p, []);
    let r = p.sync(1000);
    expect(p.ipvs.save()).toContain(`-a -t 10.20.30.41:80 -r ${busy} -m -w 0`);
    expect(vs(p.ipvs.save(), '10.20.30.41:80')).toEqual([busy]);
    p.ipvs.expire(10_000_000);
    r = p.sync(10_000_000);
    expect(vs(p.ipvs.save(), '10.20.30.41:80')).toEqual([]);
    p.deleteService(s1);
    r = p.sync(10_001_000);
    expect(p.ipvs.save()).toBe('');
    expect(r.addresses).toEqual([]);
    expect(r.ipsets).toBe('del KUBE-CLUSTER-IP 10.20.30.41,tcp:80\ndel KUBE-IPVS-IPS 10.20.30.41\n');
    expect(r.ensure).toBeNull();
  });

  it('a steady state writes no ipset commands; a /32 source range is added as kube-proxy writes it, kept bare as ipset stores it', () => {
    const p = new IpvsProxier(BASE);
    p.addService(svc('ns1', 'svc1', (s) => {
      s.spec.type = 'LoadBalancer'; s.spec.clusterIP = '10.20.30.41'; s.spec.ports = port80;
      s.status = { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } }; s.spec.loadBalancerSourceRanges = ['203.0.113.7/32'];
    }));
    expect(p.sync(0).ipsets).toContain('add KUBE-LOAD-BALANCER-SOURCE-CIDR 1.2.3.4,tcp:80,203.0.113.7/32\n');
    expect(members(p, 'KUBE-LOAD-BALANCER-SOURCE-CIDR')).toEqual(['1.2.3.4,tcp:80,203.0.113.7']);
    expect(p.sync(1000).ipsets).toBe('');
  });

  it('excludeCIDRs: virtual servers there are never deleted', () => {
    const p = new IpvsProxier({ ...BASE, excludeCIDRs: ['10.99.0.0/16'] });
    p.ipvs.restore('-A -t 10.99.0.1:80 -s rr\n-A -t 10.98.0.1:80 -s rr\n');
    const r = p.sync(0);
    expect(p.ipvs.save()).toBe('-A -t 10.99.0.1:80 -s rr\n');
    expect(() => new IpvsProxier({ ...BASE, excludeCIDRs: ['10.99.0.0'] })).toThrow(/excludeCIDRs\[0\]/);
  });
});

describe('ipvs mode in sdnemu netfilter', () => {
  it('a pod reaches a ClusterIP through the rules, sets and virtual servers kube-proxy wrote', () => {
    const p = new IpvsProxier({ ...BASE, nodeAddresses: ['100.101.102.103'] });
    p.addService(svc('ns1', 'svc1', (s) => { s.spec.type = 'NodePort'; s.spec.clusterIP = '10.20.30.41'; s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 30080 }]; }));
    p.addEndpointSlice(slice('ns1', 'svc1', 1, (e) => { e.endpoints = [{ addresses: ['10.244.2.7'] }]; e.ports = [{ name: 'p80', port: 8080, protocol: 'TCP' }]; }));
    const r = p.sync(0);
    const rs = new Ruleset();
    parseRestore(r.ensure!, rs, { noflush: true, counters: true });
    parseRestore(r.iptables, rs, { noflush: true, counters: true });
    const host = parseHost(`interfaces:
  - { name: eth0, addresses: [100.101.102.103/24] }
  - { name: cni0, addresses: [10.244.1.1/24] }
  - { name: kube-ipvs0, addresses: [${r.addresses.map((a) => `${a}/32`).join(', ')}] }
routes:
  - { dst: default, via: 100.101.102.1, dev: eth0 }
  - { dst: 10.244.2.0/24, via: 100.101.102.12, dev: eth0 }
sysctls:
  net.ipv4.ip_forward: 1
  net.ipv4.vs.conntrack: 1
`);
    const stack = new NfStack(rs, host, { ipsets: p.ipsets, ipvs: p.ipvs });
    const syn = (src: string, dst: string, dport: number): Uint8Array => new FrameBuilder().eth({ src: '02:50:00:00:00:02', dst: '02:00:00:00:00:01' })
      .ipv4({ src: parseIpv4(src)!, dst: parseIpv4(dst)!, ttl: 64, ident: 1 }).tcp({ srcPort: 40000, dstPort: dport, flags: 'S', seq: 1000, ack: 0, window: 8192 }).build();
    const a = stack.receive(syn('10.244.1.5', '10.20.30.41', 80), 'cni0', 0);
    expect(a.path).toBe('ipvs');
    expect(packetText(a.out!.frame)).toBe('tcp 10.244.1.5:40000 > 10.244.2.7:8080 flags S seq 1000 ack 0 ttl 63');
    // from outside to the NodePort: KUBE-NODE-PORT-TCP marks it for masquerade
    const b = stack.receive(syn('203.0.113.9', '100.101.102.103', 30080), 'eth0', 1000);
    expect(b.path).toBe('ipvs');
    expect(packetText(b.out!.frame)).toBe('tcp 100.101.102.103:40000 > 10.244.2.7:8080 flags S seq 1000 ack 0 ttl 63');
  });
});
