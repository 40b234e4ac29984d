/**
 * NetworkPolicy in the CNI's flows (src/k8s/cni/policy.ts through network.ts):
 *  - the compiler: Antrea's conjunction flows for the ovs-pipeline.md example, default drops,
 *    ipBlock except as prefixes, port ranges as masked tp_dst (property-tested), bad policies;
 *  - on a cluster: ingress allow/deny by podSelector, namespaceSelector and port, egress by
 *    ipBlock, Service traffic (the policy sees the DNATed packet), replies of allowed
 *    connections never dropped, label and policy changes taking effect, and the drop's trace
 *    naming the policy table and flow.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Topology } from '../../src/topology/topology.js';
import { ClusterNetwork, type CniPod } from '../../src/k8s/cni/network.js';
import { compilePolicies, ipBlockCidrs, portPrefixes, type PolicyPod } from '../../src/k8s/cni/policy.js';
import { flowText } from '../../src/k8s/cni/pipeline.js';
import type { NetworkPolicy } from '../../src/k8s/api.js';
import type { TraceEvent } from '../../src/sim/tracer.js';
import type { Host } from '../../src/netstack/host.js';
import { ipv4ToString } from '../../src/wire/bytes.js';

function policy(name: string, spec: NetworkPolicy['spec'], namespace = 'default'): NetworkPolicy {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace }, spec };
}

const pod = (name: string, ip: string, ofport: number, labels: Record<string, string>, node = 'n1', namespace = 'default'): PolicyPod =>
  ({ namespace, name, node, ip, ofport, labels, ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }] });

describe('compilePolicies', () => {
  it("gives Antrea's conjunction flows for the ovs-pipeline.md example (two nginx pods, TCP 80 both ways)", () => {
    const pods = [pod('nginx-1', '10.10.1.2', 3, { app: 'nginx' }), pod('nginx-2', '10.10.1.3', 4, { app: 'nginx' })];
    const np = policy('test-network-policy', {
      podSelector: { matchLabels: { app: 'nginx' } }, policyTypes: ['Ingress', 'Egress'],
      ingress: [{ from: [{ podSelector: { matchLabels: { app: 'nginx' } } }], ports: [{ protocol: 'TCP', port: 80 }] }],
      egress: [{ to: [{ podSelector: { matchLabels: { app: 'nginx' } } }], ports: [{ protocol: 'TCP', port: 80 }] }],
    });
    const flows = compilePolicies([np], pods, () => ({}), [{ name: 'n1', gwIP: '10.10.1.1' }]).get('n1')!.map(flowText);
    expect(flows).toEqual(expect.arrayContaining([
      'table=50,priority=210,ct_state=-new+est,ip,actions=goto_table:70',
      'table=50,priority=200,ip,nw_src=10.10.1.2,actions=conjunction(2,1/3)',
      'table=50,priority=200,ip,nw_src=10.10.1.3,actions=conjunction(2,1/3)',
      'table=50,priority=200,ip,nw_dst=10.10.1.2,actions=conjunction(2,2/3)',
      'table=50,priority=200,ip,nw_dst=10.10.1.3,actions=conjunction(2,2/3)',
      'table=50,priority=200,tcp,tp_dst=80,actions=conjunction(2,3/3)',
      'cookie=0x2,table=50,priority=190,conj_id=2,ip,actions=load:0x2->NXM_NX_REG5[],goto_table:70',
      'cookie=0x10000001,table=60,priority=200,ip,nw_src=10.10.1.2,actions=drop',
      'cookie=0x10000002,table=60,priority=200,ip,nw_src=10.10.1.3,actions=drop',
      'table=90,priority=200,ip,nw_src=10.10.1.2,actions=conjunction(1,1/3)',
      'table=90,priority=200,ip,reg1=0x3,actions=conjunction(1,2/3)',
      'table=90,priority=200,ip,reg1=0x4,actions=conjunction(1,2/3)',
      'table=90,priority=200,tcp,tp_dst=80,actions=conjunction(1,3/3)',
      'cookie=0x1,table=90,priority=190,conj_id=1,ip,actions=load:0x1->NXM_NX_REG6[],goto_table:105',
      'cookie=0x10000003,table=100,priority=200,ip,reg1=0x3,actions=drop',
      'cookie=0x10000004,table=100,priority=200,ip,reg1=0x4,actions=drop',
    ]));
  });

  it('merges clause flows with the same match into one flow, adds an `ip` clause to single-clause rules, resolves named ports', () => {
    const pods = [pod('web', '10.10.1.2', 3, { app: 'web' }), pod('db', '10.10.1.3', 4, { app: 'db' })];
    const nps = [
      policy('a', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ ports: [{ port: 'http' }] }] }),
      policy('b', { podSelector: { matchLabels: { app: 'web' } }, ingress: [{}] }),
    ];
    const flows = compilePolicies(nps, pods, () => ({}), [{ name: 'n1', gwIP: '10.10.1.1' }]).get('n1')!.map(flowText);
    expect(flows).toContain('table=90,priority=200,ip,reg1=0x3,actions=conjunction(1,1/2),conjunction(2,1/2)');
    expect(flows).toContain('table=90,priority=200,tcp,tp_dst=8080,actions=conjunction(1,2/2)');
    expect(flows).toContain('table=90,priority=200,ip,actions=conjunction(2,2/2)');
  });

  it('puts a pod\'s flows on its own node only, and no flows for a rule whose peers select nothing', () => {
    const pods = [pod('a', '10.10.1.2', 3, { app: 'a' }, 'n1'), pod('b', '10.10.2.2', 3, { app: 'a' }, 'n2')];
    const np = policy('p', { podSelector: {}, ingress: [{ from: [{ podSelector: { matchLabels: { app: 'nobody' } } }] }] });
    const m = compilePolicies([np], pods, () => ({}), [{ name: 'n1', gwIP: '10.10.1.1' }, { name: 'n2', gwIP: '10.10.2.1' }]);
    const n1 = m.get('n1')!.map(flowText);
    expect(n1).toContain('cookie=0x10000001,table=100,priority=200,ip,reg1=0x3,actions=drop');
    expect(n1.some((f) => f.includes('conj'))).toBe(false);
    expect(m.get('n2')!.map(flowText)).toContain('cookie=0x10000002,table=100,priority=200,ip,reg1=0x3,actions=drop');
    expect(n1.filter((f) => f.includes('table=100,priority=200'))).toHaveLength(1);
  });

  it('writes an ipBlock with excepts as the fewest prefixes', () => {
    expect(ipBlockCidrs({ cidr: '10.0.0.0/24' }, 'x')).toEqual(['10.0.0.0/24']);
    expect(ipBlockCidrs({ cidr: '10.0.0.0/24', except: ['10.0.0.0/25'] }, 'x')).toEqual(['10.0.0.128/25']);
    expect(ipBlockCidrs({ cidr: '10.0.0.0/30', except: ['10.0.0.1/32'] }, 'x')).toEqual(['10.0.0.0', '10.0.0.2/31']);
    expect(ipBlockCidrs({ cidr: '0.0.0.0/0', except: ['0.0.0.0/1'] }, 'x')).toEqual(['128.0.0.0/1']);
    expect(ipBlockCidrs({ cidr: '10.0.0.0/24', except: ['10.0.0.0/16'] }, 'x')).toEqual([]);
  });

  it('covers a port range exactly with its masked prefixes (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 0, max: 3000 }), (lo, span) => {
      const hi = Math.min(65535, lo + span);
      const pre = portPrefixes(lo, hi);
      let covered = 0;
      for (const [v, m] of pre) {
        expect(v & ~m & 0xffff).toBe(0);
        covered += 0x10000 - m;
      }
      expect(covered).toBe(hi - lo + 1);
      for (const p of [lo, hi, (lo + hi) >> 1]) expect(pre.filter(([v, m]) => (p & m) === v)).toHaveLength(1);
      if (lo > 1) expect(pre.some(([v, m]) => ((lo - 1) & m) === v)).toBe(false);
    }));
    expect(portPrefixes(256, 511)).toEqual([[256, 0xff00]]);
  });

  it.each([
    [{ podSelector: {}, policyTypes: ['Both'] }, 'spec.policyTypes[0]'],
    [{ podSelector: {}, ingress: [{ from: [{}] }] }, 'spec.ingress[0].from[0]'],
    [{ podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] }] }, 'spec.ingress[0].from[0]'],
    [{ podSelector: {}, egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/40' } }] }] }, 'spec.egress[0].to[0].ipBlock.cidr'],
    [{ podSelector: {}, egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['x'] } }] }] }, 'spec.egress[0].to[0].ipBlock.except[0]'],
    [{ podSelector: {}, ingress: [{ ports: [{ port: 70000 }] }] }, 'spec.ingress[0].ports[0].port'],
    [{ podSelector: {}, ingress: [{ ports: [{ port: 80, endPort: 79 }] }] }, 'spec.ingress[0].ports[0].endPort'],
    [{ podSelector: {}, ingress: [{ ports: [{ port: 'http', endPort: 90 }] }] }, 'spec.ingress[0].ports[0].endPort'],
    [{ podSelector: {}, ingress: [{ ports: [{ protocol: 'ICMP', port: 1 }] }] }, 'spec.ingress[0].ports[0].protocol'],
    [{}, 'spec.podSelector'],
  ])('refuses %j at %s', (spec, path) => {
    const np = policy('bad', spec as NetworkPolicy['spec']);
    expect(() => compilePolicies([np], [pod('a', '10.0.0.2', 3, {})], () => ({}), [{ name: 'n1', gwIP: '10.0.0.1' }]))
      .toThrow(expect.objectContaining({ code: 'CNI_BAD_POLICY', path, name: 'CniError' }));
  });
});

// ---- on a cluster -----------------------------------------------------------------------------------

interface C { t: Topology; cn: ClusterNetwork; client: CniPod; other: CniPod; server: CniPod; prod: CniPod }

/** node1: client (app=client), other (app=other); node2: server (app=server, UDP echo on 5353 and 7000), prod/tool (ns prod, team=ops). */
function cluster(): C {
  const t = new Topology({ seed: 5 });
  const cn = new ClusterNetwork(t);
  cn.addNode({ name: 'node1', ip: '192.168.0.11', podCIDR: '10.10.0.0/24' });
  cn.addNode({ name: 'node2', ip: '192.168.0.12', podCIDR: '10.10.1.0/24' });
  cn.setNamespace('prod', { team: 'ops' });
  const client = cn.addPod({ name: 'client', node: 'node1', labels: { app: 'client' } });
  const other = cn.addPod({ name: 'other', node: 'node1', labels: { app: 'other' } });
  const server = cn.addPod({ name: 'server', node: 'node2', labels: { app: 'server' }, ports: [{ name: 'dns', containerPort: 5353, protocol: 'UDP' }] });
  const prod = cn.addPod({ namespace: 'prod', name: 'tool', node: 'node2', labels: { app: 'tool' } });
  for (const port of [5353, 7000]) {
    const s = server.host.sockets.udp(port);
    s.onMessage = (d, from) => { s.send(from.addr, from.port, d.slice()); };
  }
  return { t, cn, client, other, server, prod };
}

let sport = 41000;
/** Does a UDP datagram from 'from' to dst:port get its echo back? */
function reaches(c: C, from: Host, dst: string, port: number): boolean {
  const got: string[] = [];
  const s = from.sockets.udp(++sport);
  s.onMessage = (_d, f) => got.push(ipv4ToString(f.addr));
  s.send(dst, port, 'x');
  c.t.runFor(20e6);
  s.close();
  return got.length === 1;
}

const allowClientsToDns = policy('allow-client-dns', {
  podSelector: { matchLabels: { app: 'server' } },
  ingress: [{ from: [{ podSelector: { matchLabels: { app: 'client' } } }], ports: [{ protocol: 'UDP', port: 'dns' }] }],
});

describe('NetworkPolicy on a cluster', () => {
  it('ingress: only the selected peers on the allowed port; the drop is a flow of IngressDefault in the trace', () => {
    const c = cluster();
    expect(reaches(c, c.other.host, c.server.ip, 5353)).toBe(true);
    c.cn.applyNetworkPolicy(allowClientsToDns);
    expect(reaches(c, c.client.host, c.server.ip, 5353)).toBe(true);
    expect(reaches(c, c.client.host, c.server.ip, 7000)).toBe(false);
    const events: TraceEvent[] = [];
    const off = c.t.sim.tracer.subscribe((e) => events.push(e));
    expect(reaches(c, c.other.host, c.server.ip, 5353)).toBe(false);
    off();
    const drop = events.find((e) => e.kind === 'drop' && e.node === 'node2/br-int')!;
    expect(drop.reason).toBe('flow-drop');
    const decision = events.filter((e) => e.trace === drop.trace && e.kind === 'flow' && e.node === 'node2/br-int').pop()!;
    expect(String(decision.fields!['rules'])).toContain(`table=100, priority=200,ip,reg1=${'0x' + c.server.ofport.toString(16)} actions=drop`);
    expect(decision.fields!['actions']).toBe('drop');
    // the rule in words: the table, the isolation that denies
    const dropRule = String(decision.fields!['rules']).split('\n').find((l) => l.includes('table=100'))!;
    expect(c.cn.explainFlow(dropRule)).toBe('IngressDefault (table 100): denied: pod default/server is isolated for ingress by NetworkPolicy default/allow-client-dns and no ingress rule allows the packet');
    const allowRule = c.cn.dumpFlows('node2', { table: 90 }).find((l) => l.includes('conj_id'))!;
    expect(c.cn.explainFlow(allowRule)).toBe('IngressRule (table 90): allowed by NetworkPolicy default/allow-client-dns, spec.ingress[0]');
    expect(c.cn.explainFlow(' cookie=0x0, table=70, priority=0 actions=goto_table:80')).toBe('L3Forwarding (table 70)');
    expect(c.cn.explainFlow('table=254, priority=0 actions=drop')).toBeNull();
    // the other pods are not isolated: one default drop, the server's
    expect(c.cn.dumpFlows('node2', { table: 100 }).filter((l) => l.includes('actions=drop') && l.includes('reg1'))).toHaveLength(1);
  });

  it('namespaceSelector: pods of the matching namespaces only', () => {
    const c = cluster();
    c.cn.applyNetworkPolicy(policy('from-ops', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'ops' } } }] }] }));
    expect(reaches(c, c.prod.host, c.server.ip, 7000)).toBe(true);
    expect(reaches(c, c.client.host, c.server.ip, 7000)).toBe(false);
    c.cn.setNamespace('default', { team: 'ops' });
    expect(reaches(c, c.client.host, c.server.ip, 7000)).toBe(true);
  });

  it('egress: ipBlock with an except; the drop is a flow of EgressDefault on the source node', () => {
    const c = cluster();
    c.cn.applyNetworkPolicy(policy('client-out', {
      podSelector: { matchLabels: { app: 'client' } }, policyTypes: ['Egress'],
      egress: [{ to: [{ ipBlock: { cidr: '10.10.0.0/16', except: [`${c.other.ip}/32`] } }] }],
    }));
    expect(reaches(c, c.client.host, c.server.ip, 7000)).toBe(true);
    const events: TraceEvent[] = [];
    const off = c.t.sim.tracer.subscribe((e) => events.push(e));
    expect(reaches(c, c.client.host, c.other.ip, 7000)).toBe(false);
    off();
    const flows = events.filter((e) => e.kind === 'flow' && e.node === 'node1/br-int' && e.fields?.['actions'] === 'drop');
    expect(flows.some((e) => String(e.fields!['rules']).includes(`table=60, priority=200,ip,nw_src=${c.client.ip} actions=drop`))).toBe(true);
    // other pods' egress is open
    expect(reaches(c, c.other.host, c.server.ip, 7000)).toBe(true);
  });

  it('replies of allowed connections pass a policy that isolates the answering pod (established bypass)', () => {
    const c = cluster();
    c.cn.applyNetworkPolicy(policy('server-no-egress', { podSelector: { matchLabels: { app: 'server' } }, policyTypes: ['Egress'] }));
    expect(reaches(c, c.client.host, c.server.ip, 7000)).toBe(true);
    // but the server cannot start anything
    const got: string[] = [];
    const s = c.client.host.sockets.udp(9999);
    s.onMessage = () => got.push('x');
    c.server.host.sockets.udp(9998).send(c.client.ip, 9999, 'hi');
    c.t.runFor(20e6);
    expect(got).toEqual([]);
  });

  it('applies to Service traffic after kube-proxy DNAT (source = the client pod)', () => {
    const c = cluster();
    const payload = `*nat
:KUBE-SERVICES - [0:0]
:KUBE-SVC-AAAAAAAAAAAAAAAA - [0:0]
:KUBE-SEP-BBBBBBBBBBBBBBBB - [0:0]
-A KUBE-SERVICES -d 10.96.0.20/32 -p udp -m comment --comment "default/server:dns cluster IP" -m udp --dport 53 -j KUBE-SVC-AAAAAAAAAAAAAAAA
-A KUBE-SVC-AAAAAAAAAAAAAAAA -m comment --comment "default/server:dns -> ${c.server.ip}:5353" -j KUBE-SEP-BBBBBBBBBBBBBBBB
-A KUBE-SEP-BBBBBBBBBBBBBBBB -p udp -m comment --comment "default/server:dns" -m udp -j DNAT --to-destination ${c.server.ip}:5353
COMMIT
`;
    c.cn.applyIptables('node1', payload);
    c.cn.applyNetworkPolicy(allowClientsToDns);
    expect(reaches(c, c.client.host, '10.96.0.20', 53)).toBe(true);
    expect(reaches(c, c.other.host, '10.96.0.20', 53)).toBe(false);
  });

  it('follows label changes and policy deletion', () => {
    const c = cluster();
    c.cn.applyNetworkPolicy(allowClientsToDns);
    expect(reaches(c, c.other.host, c.server.ip, 5353)).toBe(false);
    c.cn.setPodLabels('default', 'other', { app: 'client' });
    expect(reaches(c, c.other.host, c.server.ip, 5353)).toBe(true);
    c.cn.setPodLabels('default', 'other', { app: 'other' });
    expect(reaches(c, c.other.host, c.server.ip, 5353)).toBe(false);
    expect(c.cn.deleteNetworkPolicy('default', 'allow-client-dns')).toBe(true);
    expect(c.cn.deleteNetworkPolicy('default', 'allow-client-dns')).toBe(false);
    expect(reaches(c, c.other.host, c.server.ip, 5353)).toBe(true);
    expect(c.cn.dumpFlows('node2', { table: 100 }).some((l) => l.includes('drop') && l.includes('reg1'))).toBe(false);
  });

  it('batch(): flows and policies installed once at the end, the same as one by one', () => {
    const build = (batched: boolean): { t: Topology; cn: ClusterNetwork; flows: string[] } => {
      const t = new Topology({ seed: 5 });
      const cn = new ClusterNetwork(t);
      const steps = (): void => {
        cn.addNode({ name: 'node1', ip: '192.168.0.11', podCIDR: '10.10.0.0/24' });
        cn.addNode({ name: 'node2', ip: '192.168.0.12', podCIDR: '10.10.1.0/24' });
        cn.addPod({ name: 'client', node: 'node1', labels: { app: 'client' } });
        cn.addPod({ name: 'gone', node: 'node2', labels: { app: 'client' } });
        cn.addPod({ name: 'server', node: 'node2', labels: { app: 'server' }, ports: [{ name: 'dns', containerPort: 5353, protocol: 'UDP' }] });
        cn.applyNetworkPolicy(allowClientsToDns);
        cn.removePod('default', 'gone');
      };
      if (batched) {
        cn.batch(() => {
          steps();
          // nothing is installed yet inside the batch (beyond what a removal flushed)
          expect(cn.dumpFlows('node1').length).toBe(0);
        });
      } else steps();
      const flows = ['node1', 'node2'].flatMap((n) => cn.dumpFlows(n).map((l) => l.replace(/ cookie=.*?, table/, ' table').replace(/n_packets=\d+, n_bytes=\d+, (idle_age=\d+, )?/, '')));
      return { t, cn, flows };
    };
    const a = build(false), b = build(true);
    expect(b.flows.sort()).toEqual(a.flows.sort());
    const c = b.cn.pod('default', 'client'), s = b.cn.pod('default', 'server');
    const echoS = s.host.sockets.udp(5353);
    echoS.onMessage = (d, f) => { echoS.send(f.addr, f.port, d.slice()); };
    expect(reaches({ t: b.t, cn: b.cn, client: c, other: c, server: s, prod: c }, c.host, s.ip, 5353)).toBe(true);
  });

  it('refuses a malformed policy and keeps the previous flows', () => {
    const c = cluster();
    c.cn.applyNetworkPolicy(allowClientsToDns);
    const before = c.cn.dumpFlows('node2', { table: 90 }).length;
    expect(() => c.cn.applyNetworkPolicy(policy('bad', { podSelector: {}, ingress: [{ from: [{}] }] })))
      .toThrow(expect.objectContaining({ code: 'CNI_BAD_POLICY', path: 'spec.ingress[0].from[0]' }));
    expect(c.cn.dumpFlows('node2', { table: 90 }).length).toBe(before);
    expect(reaches(c, c.client.host, c.server.ip, 5353)).toBe(true);
  });
});
