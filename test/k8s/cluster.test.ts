/**
 * The cluster as users drive it (k8s/cluster.ts): nodes and ordinary manifests in; pods on the
 * data plane, every node's kube-proxy syncing, Services reachable across the tunnel, the
 * NetworkPolicy enforced, a node failure healed.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/k8s/cluster.js';
import { startTcpRequest, tcpRequest } from '../../src/netstack/tools.js';
import { TraceStore } from '../../src/trace/store.js';
import { IptablesProxier, IpvsProxier } from '../../src/k8s/kube-proxy/index.js';
import { parseRestore } from '../../src/netfilter/restore.js';
import { Ruleset } from '../../src/netfilter/model.js';
import { kubeChains } from './kube-proxy-helpers.js';

const EXAMPLE = readFileSync('examples/k8s/cluster.yaml', 'utf8');
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

function example(proxyMode: 'iptables' | 'ipvs' = 'iptables', lazyPeers = false): Cluster {
  const c = new Cluster({ seed: 3, proxyMode, lazyPeers });
  const results = c.applyYaml(EXAMPLE, 'cluster.yaml');
  expect(results.filter((r) => r.action === 'error')).toEqual([]);
  return c;
}

describe('a cluster from examples/k8s/cluster.yaml', () => {
  it('schedules the pods on the workers, gives them addresses and stacks, and fills the slices', () => {
    const c = example();
    expect(c.cp.store.list('Node').map((n) => `${n.metadata.name} ${n.spec?.podCIDR}`)).toEqual([
      'control-plane 10.244.0.0/24', 'worker-1 10.244.1.0/24', 'worker-2 10.244.2.0/24']);
    const web = c.podsWith({ app: 'web' });
    expect(web).toHaveLength(3);
    // the control plane's taint keeps them off it
    expect(new Set(web.map((p) => p.spec.nodeName))).toEqual(new Set(['worker-1', 'worker-2']));
    for (const p of web) expect(c.pod('default', p.metadata.name).address).not.toBe(0);
    const slices = c.cp.store.list('EndpointSlice', 'default').filter((s) => s.metadata.labels?.['kubernetes.io/service-name'] === 'web');
    expect(slices.flatMap((s) => s.endpoints).filter((e) => e.conditions?.ready !== false)).toHaveLength(3);
  });

  it('the viewer\'s tunnels are the pairs whose flows are installed: every pair at once, or (lazy peers) a node\'s at its first traffic', async () => {
    const pairs = (c: Cluster): string[] => c.net.tunnels.map((t) => `${t.a} ${t.b}`);
    expect(pairs(example())).toEqual(['control-plane/br-int worker-1/br-int', 'control-plane/br-int worker-2/br-int', 'worker-1/br-int worker-2/br-int']);
    const lazy = example('iptables', true);
    expect(pairs(lazy)).toEqual([]);
    const client = lazy.podsWith({ app: 'client' })[0]!;
    const node = client.spec.nodeName!;
    await tcpRequest(lazy.pod('default', client.metadata.name), lazy.serviceIP('default', 'web'), 80, 'GET / HTTP/1.0\r\n\r\n');
    // the client's node learned both others; a backend's node that answered learned its peers too
    for (const other of ['control-plane', 'worker-1', 'worker-2'].filter((n) => n !== node)) {
      expect(lazy.net.tunnels.some((t) => [t.a, t.b].includes(`${node}/br-int`) && [t.a, t.b].includes(`${other}/br-int`)), other).toBe(true);
    }
  });

  it('a client pod reaches the ClusterIP: DNAT on its node, across the tunnel, answered by a web pod', async () => {
    const c = example();
    const store = new TraceStore();
    store.attach(c.net.sim);
    const ip = c.serviceIP('default', 'web');
    const backends = c.podsWith({ app: 'web' }).map((p) => p.metadata.name);
    const answered = new Set<string>();
    for (const client of c.podsWith({ app: 'client' })) {
      for (let i = 0; i < 4; i++) {
        const r = await tcpRequest(c.pod('default', client.metadata.name), ip, 80, 'GET / HTTP/1.0\r\n\r\n');
        expect(r.error).toBeNull();
        const body = text(r.response);
        expect(body).toMatch(/^HTTP\/1\.0 200 OK/);
        answered.add(body.trim().split('\n').at(-1)!);
      }
    }
    for (const a of answered) expect(backends).toContain(a);
    // one SYN's trace: DNAT at the client's node, then VXLAN to the backend's node, delivered
    const syns = store.query(`tcp.flags.syn == 1 && tcp.flags.ack == 0 && ip.addr == ${ip}`);
    expect(syns.length).toBeGreaterThan(0);
    const crossed = syns.find((p) => p.events.some((e) => e.kind === 'encap'));
    expect(crossed).toBeDefined();
    const kinds = crossed!.events.map((e) => e.kind);
    expect(kinds.indexOf('nat')).toBeLessThan(kinds.indexOf('encap'));
    expect(kinds.indexOf('encap')).toBeLessThan(kinds.indexOf('decap'));
    expect(kinds.at(-1)).toBe('deliver');
    // the decision among the endpoints is a load-balancing record (the viewer's fork)
    expect(crossed!.events.some((e) => e.fields?.['lb'] === 'iptables' && String(e.fields['choices']).split(' ').length === 3)).toBe(true);
  });

  it.each([false, true])('an outside machine reaches the NodePort on any node (lazy peers: %s)', async (lazy) => {
    const c = example('iptables', lazy);
    const ext = c.cni.addExternalHost('outside', '192.168.0.200');
    for (const node of ['control-plane', 'worker-1', 'worker-2']) {
      const ip = c.cni.node(node).ip;
      const r = await tcpRequest(ext, ip, 30080, 'GET / HTTP/1.0\r\n\r\n');
      expect(r.error, node).toBeNull();
      expect(text(r.response)).toMatch(/^HTTP\/1\.0 200 OK/);
    }
  });

  it('the NetworkPolicy lets only clients in: another pod times out', async () => {
    const c = example();
    c.applyYaml(`apiVersion: v1
kind: Pod
metadata: { name: stranger, labels: { app: stranger } }
spec:
  containers: [{ name: sh, image: busybox }]
`);
    const store = new TraceStore();
    store.attach(c.net.sim);
    const r = await tcpRequest(c.pod('default', 'stranger'), c.serviceIP('default', 'web'), 80, 'GET /\r\n\r\n', { timeoutSec: 3 });
    expect(r.error).toBe('ETIMEDOUT');
    // the trace says why: the web pod is isolated by the policy, and no rule lets this source in
    const drops = store.query('drop.reason == "flow-drop"').flatMap((p) => p.events.filter((e) => e.kind === 'drop').map((e) => e.text));
    expect(drops.length).toBeGreaterThan(0);
    expect(drops[0]).toMatch(/^flow-drop: IngressDefault \(table 100\): .*isolated for ingress by NetworkPolicy default\/web-from-clients/);
    // relabelled as a client, it gets in
    const p = c.cp.store.get('Pod', 'default', 'stranger')!;
    c.apply([{ ...p, metadata: { ...p.metadata, labels: { app: 'client' } } }]);
    const ok = await tcpRequest(c.pod('default', 'stranger'), c.serviceIP('default', 'web'), 80, 'GET /\r\n\r\n');
    expect(ok.error).toBeNull();
  });

  it('kube-proxy syncs in full first, then partially, and a node failure heals', async () => {
    const c = example();
    const syncs = c.kubeProxySyncs('worker-1');
    expect(syncs[0]!.full).toBe(true);
    // as kube-proxy writes it (iptables-save would reorder the matches)
    expect(syncs.at(-1)!.payload).toContain(`-A KUBE-SERVICES -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d ${c.serviceIP('default', 'web')} --dport 80 -j KUBE-SVC-`);
    const before = syncs.length;
    c.cp.scale('Deployment', 'default', 'web', 4);
    const after = c.kubeProxySyncs('worker-1');
    expect(after.length).toBeGreaterThan(before);
    expect(after.at(-1)!.full).toBe(false);
    // worker-2 fails: its web pods are evicted (no toleration for the taint after 300 s) and come back on worker-1
    c.nodeDown('worker-2');
    c.cp.advance(301_000);
    const web = c.podsWith({ app: 'web' }).filter((p) => p.status?.phase === 'Running');
    expect(web.length).toBe(4);
    expect(new Set(web.map((p) => p.spec.nodeName))).toEqual(new Set(['worker-1']));
    const client = c.podsWith({ app: 'client' }).find((p) => p.spec.nodeName === 'worker-1')!;
    const r = await tcpRequest(c.pod('default', client.metadata.name), c.serviceIP('default', 'web'), 80, 'GET /\r\n\r\n');
    expect(r.error).toBeNull();
  });

  it('nodes whose rules are the same share one kube-proxy; the others load its payload at their first read, and get what their own would write', () => {
    const c = example();
    const nodes = ['control-plane', 'worker-1', 'worker-2'];
    expect(new Set(nodes.map((n) => c.kubeProxy(n))).size).toBe(1);
    // the first node of the sync loaded it at once; the others wait for their first reader
    const ev = (n: string) => c.cni.node(n).host.ip.ev;
    expect(ev('control-plane').deferred).toBe(0);
    expect(ev('worker-2').deferred).toBeGreaterThan(0);
    const save = c.cni.iptablesSave('worker-2');
    expect(ev('worker-2').deferred).toBe(0);
    expect(ev('worker-2').deferredErrors).toEqual([]);
    expect(save).toContain('-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
    // what a kube-proxy of worker-2's own writes, loaded alone
    const own = new IptablesProxier({ hostname: 'worker-2', nodeIPs: [c.cni.node('worker-2').ip], localDetector: { mode: 'cluster-cidr', clusterCIDR: '10.244.0.0/16' } });
    for (const s of c.cp.store.list('Service')) own.addService(s);
    for (const e of c.cp.store.list('EndpointSlice')) own.addEndpointSlice(e);
    const alone = new Ruleset();
    parseRestore(own.sync(0).payload, alone, { noflush: true });
    expect(kubeChains(ev('worker-2').rs)).toEqual(kubeChains(alone));
  });

  it('sessionAffinity ClientIP: a client keeps its backend (kube-proxy\'s -m recent rules)', async () => {
    const c = example();
    c.applyYaml(`apiVersion: v1
kind: Service
metadata: { name: sticky }
spec:
  selector: { app: web }
  sessionAffinity: ClientIP
  ports: [{ port: 80, targetPort: 80 }]
`);
    const ip = c.serviceIP('default', 'sticky');
    for (const client of c.podsWith({ app: 'client' })) {
      const seen = new Set<string>();
      for (let i = 0; i < 5; i++) {
        const r = await tcpRequest(c.pod('default', client.metadata.name), ip, 80, 'GET /\r\n\r\n');
        expect(r.error).toBeNull();
        seen.add(text(r.response).trim().split('\n').at(-1)!);
      }
      expect(seen.size).toBe(1);
    }
  });

  it('a LoadBalancer gets an address from the pool; externalTrafficPolicy Local keeps the client\'s address, so NetworkPolicy sees it', async () => {
    const c = new Cluster({ seed: 3, loadBalancerPool: ['192.168.0.240-192.168.0.249'] });
    c.applyYaml(EXAMPLE);
    c.applyYaml(`apiVersion: v1
kind: Service
metadata: { name: web-lb }
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: { app: web }
  ports: [{ port: 80, targetPort: 80 }]
`);
    const svc = c.cp.store.get('Service', 'default', 'web-lb')!;
    const lbIP = svc.status?.loadBalancer?.ingress?.[0]?.ip;
    expect(lbIP).toBe('192.168.0.240');
    const nodePort = svc.spec.ports![0]!.nodePort!;
    const ext = c.cni.addExternalHost('outside', '192.168.0.200');
    const withWeb = [...new Set(c.podsWith({ app: 'web' }).map((p) => p.spec.nodeName!))];
    const store = new TraceStore();
    store.attach(c.net.sim);
    // not masqueraded, the client's own address meets the policy that admits only the clients
    const denied = await tcpRequest(ext, c.cni.node(withWeb[0]!).ip, nodePort, 'GET /\r\n\r\n', { timeoutSec: 2 });
    expect(denied.error).toBe('ETIMEDOUT');
    expect(store.query('drop.reason == "flow-drop" && ip.src == 192.168.0.200').flatMap((p) => p.events.filter((e) => e.kind === 'drop').map((e) => e.text))[0])
      .toMatch(/isolated for ingress by NetworkPolicy default\/web-from-clients/);
    c.cp.delete('NetworkPolicy', 'default', 'web-from-clients');
    for (const n of ['control-plane', 'worker-1', 'worker-2']) {
      const r = await tcpRequest(ext, c.cni.node(n).ip, nodePort, 'GET /\r\n\r\n', { timeoutSec: 2 });
      // eTP=Local: KUBE-EXT- jumps to the node's own endpoints only; a node without one drops it
      if (withWeb.includes(n)) expect(r.error, n).toBeNull(); else expect(r.error, n).not.toBeNull();
    }
    // the web pod saw the client's address
    const delivered = store.all().flatMap((p) => p.events).filter((e) => e.kind === 'deliver' && e.node.startsWith('default/web-') && e.frame !== null);
    expect(delivered.some((e) => [...e.frame!.subarray(26, 30)].join('.') === '192.168.0.200')).toBe(true);
    // the cloud's load balancer, as a route: the LB address via a node with an endpoint
    ext.addRoute({ dst: `${lbIP}/32`, via: c.cni.node(withWeb[0]!).ip, dev: 'eth0' });
    const r = await tcpRequest(ext, lbIP!, 80, 'GET /\r\n\r\n');
    expect(r.error).toBeNull();
    expect(text(r.response)).toMatch(/^HTTP\/1\.0 200 OK/);
  });

  it('ipvs mode: the same ClusterIP through IPVS', async () => {
    const c = example('ipvs');
    const client = c.podsWith({ app: 'client' })[0]!;
    const r = await tcpRequest(c.pod('default', client.metadata.name), c.serviceIP('default', 'web'), 80, 'GET /\r\n\r\n');
    expect(r.error).toBeNull();
    expect(text(r.response)).toMatch(/^HTTP\/1\.0 200 OK/);
    expect(c.kubeProxy('worker-1')).toBeInstanceOf(IpvsProxier);
  });
});

describe('kube-proxy\'s UDP conntrack cleanup', () => {
  it('a UDP flow whose backend is scaled away moves to another at its next datagram; TCP entries to it stay', () => {
    const c = new Cluster({ seed: 7 });
    c.addNode('node-1', { labels: { role: 'client' } });
    for (const n of ['node-2', 'node-3', 'node-4']) c.addNode(n, { labels: { role: 'web' } });
    c.applyYaml(readFileSync('test/faults/crash-k8s.yaml', 'utf8'));
    const sim = c.net.sim, vip = c.serviceIP('default', 'web');
    const client = c.pod('default', 'client');
    const sock = client.sockets.udp(40000);
    let echoes = 0;
    sock.onMessage = () => { echoes++; };
    const send = (n: number): void => { for (let i = 0; i < n; i++) { sock.send(vip, 53, 'x'); sim.runUntil(sim.now + 10e6); } };
    send(3);
    expect(echoes).toBe(3);
    const ct = (): string[] => c.cni.node('node-1').host.ip.ct.dump(sim.now / 1e6).filter((l) => l.startsWith('udp') && l.includes(`dst=${vip}`));
    const backend = /src=(10\.244\.\d+\.\d+) dst=10\.244\.0\.\d+ sport=5353/.exec(ct()[0]!)![1]!;
    // TCP connections to the same ClusterIP until one was DNATed to that backend (its entry then in TIME_WAIT)
    const tcpTo = (): string[] => c.cni.node('node-1').host.ip.ct.dump(sim.now / 1e6)
      .filter((l) => l.startsWith('tcp') && l.includes(`dst=${vip} `) && l.includes(`src=${backend} `));
    for (let i = 0; i < 30 && tcpTo().length === 0; i++) {
      startTcpRequest(client, vip, 80, 'GET / HTTP/1.0\r\n\r\n', { timeoutSec: 3 });
      sim.runUntil(sim.now + 100e6);
    }
    expect(tcpTo()).toHaveLength(1);
    // the backend's pod goes: the Deployment scaled to the other two
    const pod = c.podsWith({ app: 'web' }).find((p) => p.status?.podIP === backend)!;
    c.cp.delete('Pod', 'default', pod.metadata.name);
    c.cp.scale('Deployment', 'default', 'web', 2);
    // the entry that DNATed to it is gone on the client's node; the next datagram is answered by another
    expect(ct().some((l) => l.includes(`src=${backend} `))).toBe(false);
    send(3);
    expect(echoes).toBe(6);
    expect(ct()).toHaveLength(1);
    expect(ct()[0]).not.toContain(`src=${backend} `);
    // the cleanup was `conntrack -D -p udp`: the TCP entry of the same address pair is still there
    expect(tcpTo()).toHaveLength(1);
  });
});
