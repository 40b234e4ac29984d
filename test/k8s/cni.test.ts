/**
 * The cluster data plane (src/k8s/cni/network.ts, pipeline.ts): nodes on an underlay with an
 * Antrea-style br-int each, pods on veths, kube-proxy iptables payloads in the nodes' netfilter:
 *  - pod to pod on one node and across nodes (the VXLAN / Geneve outer header: VNI 0, outer
 *    addresses = the node IPs, UDP 4789 / 6081; inner TTL decremented once per bridge);
 *  - pod → ClusterIP → pod on another node and back, the reply's source the ClusterIP (the
 *    gateway ct_mark path), and the trace of that packet: DNAT and VXLAN under one id;
 *  - NodePort from a client on the underlay to a pod on another node, MASQUERADEd;
 *  - removeNode / failNode, removePod, IPAM, and bad input.
 */
import { describe, expect, it } from 'vitest';
import { Topology } from '../../src/topology/topology.js';
import { ClusterNetwork, CniError, type ClusterNetworkOptions, type CniPod } from '../../src/k8s/cni/network.js';
import { GLOBAL_VIRTUAL_MAC, TABLES, tableName } from '../../src/k8s/cni/pipeline.js';
import { TraceStore } from '../../src/trace/store.js';
import { be16, be32, ipv4ToString } from '../../src/wire/bytes.js';
import type { Host } from '../../src/netstack/host.js';
import type { TraceEvent } from '../../src/sim/tracer.js';

interface Cluster { t: Topology; cn: ClusterNetwork }

/** 'nodes' nodes 192.168.0.11… with podCIDRs 10.10.0.0/24… on a network with 'opts'. */
function cluster(opts: ClusterNetworkOptions = {}, nodes = 3): Cluster {
  const t = new Topology({ seed: 11 });
  const cn = new ClusterNetwork(t, { underlay: '192.168.0.0/24', ...opts });
  for (let i = 0; i < nodes; i++) cn.addNode({ name: `node${i + 1}`, ip: `192.168.0.${11 + i}`, podCIDR: `10.10.${i}.0/24` });
  return { t, cn };
}

/** A UDP echo server on 'pod' at 'port' (answers with the same bytes). */
function echo(pod: Host, port: number): void {
  const s = pod.sockets.udp(port);
  s.onMessage = (d, from) => { s.send(from.addr, from.port, d.slice()); };
}

/** Send 'text' from 'pod' (local port 'sport') to dst:dport; the answers as "text from ip:port". */
function ask(t: Topology, pod: Host, sport: number, dst: string, dport: number, text: string): string[] {
  const got: string[] = [];
  const c = pod.sockets.udp(sport);
  c.onMessage = (d, from) => got.push(`${new TextDecoder().decode(d)} from ${ipv4ToString(from.addr)}:${from.port}`);
  c.send(dst, dport, text);
  t.runFor(20e6);
  c.close();
  return got;
}

/** The outer UDP/tunnel packets among captured frames. */
function tunnelled(frames: { data: Uint8Array }[], dport: number): { src: string; dst: string; dport: number; vni: number; inner: Uint8Array }[] {
  return frames.map((f) => f.data).filter((f) => be16(f, 12) === 0x0800 && f[23] === 17 && be16(f, 36) === dport).map((f) => {
    const hdr = dport === 4789 ? 8 : 8 + (f[42]! & 0x3f) * 4;
    return { src: ipv4ToString(be32(f, 26)), dst: ipv4ToString(be32(f, 30)), dport: be16(f, 36), vni: be32(f, 46) >>> 8, inner: f.slice(42 + hdr) };
  });
}

/** A kube-proxy-style payload (iptables mode) for UDP Service default/echo:53 → 'ep':5353, NodePort 30053. */
function kubeProxyPayload(ep: string): string {
  return `*nat
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
:KUBE-EXT-XPGD46QRK7WJZT7O - [0:0]
:KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m comment --comment "default/echo:dns cluster IP" -m udp --dport 53 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-NODEPORTS -p udp -m comment --comment "default/echo:dns" -m udp --dport 30053 -j KUBE-EXT-XPGD46QRK7WJZT7O
-A KUBE-SVC-XPGD46QRK7WJZT7O ! -s 10.10.0.0/16 -d 10.96.0.10/32 -p udp -m comment --comment "default/echo:dns cluster IP" -m udp --dport 53 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "default/echo:dns -> ${ep}:5353" -j KUBE-SEP-SXIVWICOYRO3J4NJ
-A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment "masquerade traffic for default/echo:dns external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-XPGD46QRK7WJZT7O -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SEP-SXIVWICOYRO3J4NJ -s ${ep}/32 -m comment --comment "default/echo:dns" -j KUBE-MARK-MASQ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -p udp -m comment --comment "default/echo:dns" -m udp -j DNAT --to-destination ${ep}:5353
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
COMMIT
`;
}

/** A pod per node ('a' on node1, 'b' on node1, 'c' on node2) and the echo backend on node2. */
function withPods(c: Cluster): { a: CniPod; b: CniPod; c: CniPod } {
  const a = c.cn.addPod({ namespace: 'default', name: 'a', node: 'node1', labels: { app: 'client' } });
  const b = c.cn.addPod({ namespace: 'default', name: 'b', node: 'node1', labels: { app: 'other' } });
  const cc = c.cn.addPod({ namespace: 'default', name: 'c', node: 'node2', labels: { app: 'echo' } });
  return { a, b, c: cc };
}

describe('ClusterNetwork: nodes and pods', () => {
  it('builds each node as Antrea does: gateway .1, tunnel port 1, gateway port 2, onlink routes to every peer', () => {
    const { t, cn } = cluster();
    const n1 = cn.node('node1');
    expect(n1.gwIP).toBe('10.10.0.1');
    expect(n1.bridge.port('antrea-tun0').ofport).toBe(1);
    expect(n1.bridge.port('antrea-gw0').ofport).toBe(2);
    const routes = n1.host.fib.ipRoute('show');
    expect(routes).toContain('10.10.1.0/24 via 10.10.1.1 dev antrea-gw0 onlink');
    expect(routes).toContain('10.10.2.0/24 via 10.10.2.1 dev antrea-gw0 onlink');
    // one tunnel flow and one ARP responder flow per peer, tun_dst = the peer's node IP
    const l3 = cn.dumpFlows('node1', { table: TABLES.L3Forwarding }).join('\n');
    expect(l3).toContain('nw_dst=10.10.1.0/24');
    expect(l3).toContain('load:0xc0a8000c->NXM_NX_TUN_IPV4_DST[]');
    expect(l3).toContain('load:0xc0a8000d->NXM_NX_TUN_IPV4_DST[]');
    expect(cn.dumpFlows('node3', { table: TABLES.ARPResponder }).join('\n')).toContain('arp_tpa=10.10.0.1,arp_op=1');
    expect(tableName(70)).toBe('L3Forwarding');
    expect(t.nodes.has('node2/br-int')).toBe(true);
  });

  it('gives pods host-local addresses from .2 and a default route via the gateway', () => {
    const { cn } = cluster();
    const p = withPods({ t: cn.topology, cn });
    expect([p.a.ip, p.b.ip, p.c.ip]).toEqual(['10.10.0.2', '10.10.0.3', '10.10.1.2']);
    expect(p.a.host.fib.ipRoute('show')).toContain('default via 10.10.0.1 dev eth0');
    expect(p.a.portName).toMatch(/^a-[0-9a-f]{6}$/);
    // round robin: a freed address is not handed out again at once
    cn.removePod('default', 'b');
    expect(cn.addPod({ name: 'd', node: 'node1' }).ip).toBe('10.10.0.4');
    expect(cn.addPod({ name: 'e', node: 'node1', ip: '10.10.0.3' }).ip).toBe('10.10.0.3');
  });

  it('carries pod to pod on one node through br-int (no tunnel, no TTL decrement)', async () => {
    const c = cluster();
    const p = withPods(c);
    const cap = c.t.capture([c.t.hostNamed('node1'), 'eth0'], 'out');
    const r = await c.t.ping(p.a.host, p.b.ip, { count: 2 });
    expect(r.received).toBe(2);
    expect(r.text).toContain('ttl=64');
    expect(tunnelled(cap.frames, 4789)).toEqual([]);
  });

  it('tunnels pod to pod across nodes: VXLAN VNI 0 between the node IPs, the inner TTL decremented on each bridge', async () => {
    const c = cluster();
    const p = withPods(c);
    const cap = c.t.capture([c.t.hostNamed('node1'), 'eth0'], 'out');
    const r = await c.t.ping(p.a.host, p.c.ip, { count: 3 });
    expect(r.received).toBe(3);
    expect(r.text).toContain('ttl=62');
    const out = tunnelled(cap.frames, 4789);
    expect(out.length).toBe(3);
    for (const o of out) {
      expect([o.src, o.dst, o.vni]).toEqual(['192.168.0.11', '192.168.0.12', 0]);
      // inner: Global Virtual MAC, pod a → pod c
      expect(Array.from(o.inner.subarray(0, 6), (x) => x.toString(16).padStart(2, '0')).join(':')).toBe(GLOBAL_VIRTUAL_MAC);
      expect([ipv4ToString(be32(o.inner, 26)), ipv4ToString(be32(o.inner, 30)), o.inner[22]]).toEqual([p.a.ip, p.c.ip, 63]);
    }
  });

  it("masquerades a pod's packets to the underlay with its node's address (ANTREA-POSTROUTING)", () => {
    const c = cluster();
    const p = withPods(c);
    const ext = c.cn.addExternalHost('ext', '192.168.0.200');
    const seen: string[] = [];
    const s = ext.sockets.udp(7000);
    s.onMessage = (d, from) => { seen.push(ipv4ToString(from.addr)); s.send(from.addr, from.port, d.slice()); };
    expect(ask(c.t, p.c.host, 40030, '192.168.0.200', 7000, 'out')).toEqual(['out from 192.168.0.200:7000']);
    expect(seen).toEqual(['192.168.0.12']);
    expect(c.cn.iptablesSave('node2')).toContain('-A ANTREA-POSTROUTING -s 10.10.1.0/24 ! -o antrea-gw0 -m comment --comment "Antrea: masquerade Pod to external packets" -j MASQUERADE');
  });

  it('uses Geneve (UDP 6081) when asked', async () => {
    const c = cluster({ tunnelType: 'geneve' });
    const p = withPods(c);
    const cap = c.t.capture([c.t.hostNamed('node2'), 'eth0'], 'out');
    expect((await c.t.ping(p.a.host, p.c.ip, { count: 1 })).received).toBe(1);
    const out = tunnelled(cap.frames, 6081);
    expect(out.map((o) => [o.src, o.dst, o.vni])).toEqual([['192.168.0.12', '192.168.0.11', 0]]);
  });
});

describe('ClusterNetwork: Services through kube-proxy in the node netfilter', () => {
  it('pod → ClusterIP → pod on another node and back: DNAT on the client node, the reply un-DNATed (source = ClusterIP)', () => {
    const c = cluster();
    const p = withPods(c);
    for (const n of c.cn.nodes()) c.cn.applyIptables(n.name, kubeProxyPayload(p.c.ip));
    echo(p.c.host, 5353);
    const cap = c.t.capture([c.t.hostNamed('node1'), 'eth0'], 'out');
    expect(ask(c.t, p.a.host, 40000, '10.96.0.10', 53, 'hello')).toEqual(['hello from 10.96.0.10:53']);
    // the request crossed the tunnel already DNATed to the backend
    const out = tunnelled(cap.frames, 4789);
    expect(out.length).toBe(1);
    expect([ipv4ToString(be32(out[0]!.inner, 26)), ipv4ToString(be32(out[0]!.inner, 30)), be16(out[0]!.inner, 36)]).toEqual([p.a.ip, p.c.ip, 5353]);
    // the connection that came back from the gateway is committed with ct_mark 0x20 on node1
    const commit = c.cn.dumpFlows('node1', { table: TABLES.ConntrackCommit }).find((l) => l.includes('reg0=0x1/0xffff'))!;
    expect(commit).toMatch(/n_packets=1,/);
    const rpl = c.cn.dumpFlows('node1', { table: TABLES.L3Forwarding }).find((l) => l.includes('ct_mark=0x20'))!;
    expect(rpl).toMatch(/n_packets=1,/);
    // kube-proxy's jumps were ensured from the built-in chains
    const save = c.cn.iptablesSave('node1');
    expect(save).toContain('-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
    expect(save).toContain('-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING');
    // a second sync does not add them twice
    c.cn.applyIptables('node1', kubeProxyPayload(p.c.ip));
    expect(c.cn.iptablesSave('node1').split('"kubernetes service portals" -j KUBE-SERVICES').length - 1).toBe(2);
  });

  it('pod → ClusterIP with the backend on the same node: the reply (ct_mark 0x20) goes back through the gateway to be un-DNATed', () => {
    const c = cluster();
    const p = withPods(c);
    c.cn.applyIptables('node1', kubeProxyPayload(p.b.ip));
    echo(p.b.host, 5353);
    expect(ask(c.t, p.a.host, 40002, '10.96.0.10', 53, 'local')).toEqual(['local from 10.96.0.10:53']);
    const rpl = c.cn.dumpFlows('node1', { table: TABLES.L3Forwarding }).find((l) => l.includes('ct_mark=0x20'))!;
    expect(rpl).toMatch(/n_packets=1,/);
  });

  it('lets each node reach pods, its own and remote ones (from its gateway address)', async () => {
    const c = cluster();
    const p = withPods(c);
    const node1 = c.t.hostNamed('node1');
    expect((await c.t.ping(node1, p.a.ip, { count: 1 })).received).toBe(1);
    expect((await c.t.ping(node1, p.c.ip, { count: 1 })).received).toBe(1);
  });

  it('carries a TCP connection pod → ClusterIP → pod on another node: handshake, data both ways, close', () => {
    const c = cluster();
    const p = withPods(c);
    const payload = kubeProxyPayload(p.c.ip).replaceAll('udp', 'tcp').replaceAll('5353', '8080').replaceAll('--dport 53', '--dport 80');
    for (const n of c.cn.nodes()) c.cn.applyIptables(n.name, payload);
    const served: string[] = [];
    p.c.host.tcp.listen(8080, (conn) => {
      served.push(`${ipv4ToString(conn.remoteAddr)}`);
      conn.onData = (d) => { conn.send(new TextEncoder().encode(new TextDecoder().decode(d).toUpperCase())); conn.close(); };
    });
    const conn = p.a.host.tcp.connect(0x0a60000a, 80);
    const got: string[] = [];
    let closed = false;
    conn.onConnect = () => conn.send(new TextEncoder().encode('get'));
    conn.onData = (d) => got.push(new TextDecoder().decode(d));
    conn.onEnd = () => conn.close();
    conn.onClose = () => { closed = true; };
    c.t.runFor(200e6);
    expect(got.join('')).toBe('GET');
    expect(served).toEqual([p.a.ip]);
    expect([ipv4ToString(conn.remoteAddr), conn.remotePort]).toEqual(['10.96.0.10', 80]);
    expect(closed).toBe(true);
  });

  it('traces the pod → Service packet with a nat (DNAT) and an encap (VXLAN) record under one trace id', () => {
    const c = cluster();
    const p = withPods(c);
    for (const n of c.cn.nodes()) c.cn.applyIptables(n.name, kubeProxyPayload(p.c.ip));
    echo(p.c.host, 5353);
    const store = new TraceStore();
    store.attach(c.t.sim);
    const events: TraceEvent[] = [];
    c.t.sim.tracer.subscribe((e) => events.push(e));
    expect(ask(c.t, p.a.host, 40001, '10.96.0.10', 53, 'traced')).toEqual(['traced from 10.96.0.10:53']);
    const dnat = events.find((e) => e.kind === 'nat' && e.node === 'node1' && e.text.startsWith('DNAT'));
    expect(dnat?.text).toBe(`DNAT: UDP ${p.a.ip}:40001 > 10.96.0.10:53 → UDP ${p.a.ip}:40001 > ${p.c.ip}:5353`);
    const id = dnat!.trace;
    const mine = events.filter((e) => e.trace === id);
    expect(mine.some((e) => e.kind === 'encap' && e.text.startsWith('VXLAN VNI 0 192.168.0.11 > 192.168.0.12'))).toBe(true);
    expect(mine.some((e) => e.kind === 'decap' && e.node === 'node2')).toBe(true);
    expect(mine.some((e) => e.kind === 'deliver' && e.node === 'default/c')).toBe(true);
    // the OVS decisions on the way name the pipeline's tables
    const flows = mine.filter((e) => e.kind === 'flow' && e.fields?.['rules'] !== undefined).map((e) => String(e.fields!['rules']));
    expect(flows.some((r) => r.includes('table=40') && r.includes('nw_dst=10.96.0.0/12'))).toBe(true);
    expect(flows.some((r) => r.includes('table=70') && r.includes('NXM_NX_TUN_IPV4_DST'))).toBe(true);
    // the store files them as one packet
    const pkt = store.query(`trace.id == ${id}`)[0]!;
    expect(pkt.events.map((e) => e.kind)).toEqual(expect.arrayContaining(['nat', 'encap', 'decap', 'deliver']));
  });

  it('NodePort from a client on the underlay to a pod on another node, MASQUERADEd to the gateway IP, and back', () => {
    const c = cluster();
    const p = withPods(c);
    for (const n of c.cn.nodes()) c.cn.applyIptables(n.name, kubeProxyPayload(p.c.ip));
    const seen: string[] = [];
    const s = p.c.host.sockets.udp(5353);
    s.onMessage = (d, from) => { seen.push(`${ipv4ToString(from.addr)}`); s.send(from.addr, from.port, d.slice()); };
    const client = c.cn.addExternalHost('client', '192.168.0.100');
    // to node3, whose kube-proxy sends it to the backend on node2
    expect(ask(c.t, client, 50000, '192.168.0.13', 30053, 'np')).toEqual(['np from 192.168.0.13:30053']);
    // the backend saw node3's gateway address (KUBE-POSTROUTING MASQUERADE out of antrea-gw0)
    expect(seen).toEqual(['10.10.2.1']);
    // to the backend's own node too
    expect(ask(c.t, client, 50001, '192.168.0.12', 30053, 'np2')).toEqual(['np2 from 192.168.0.12:30053']);
    expect(seen).toEqual(['10.10.2.1', '10.10.1.1']);
  });

  it("a node's own packet to a ClusterIP (default route via the underlay gateway): OUTPUT DNAT, masqueraded to the gateway IP, answered", () => {
    const { t, cn } = cluster({ defaultGateway: '192.168.0.1' }, 2);
    const b = cn.addPod({ name: 'b', node: 'node2' });
    for (const n of cn.nodes()) cn.applyIptables(n.name, kubeProxyPayload(b.ip));
    const seen: string[] = [];
    const s = b.host.sockets.udp(5353);
    s.onMessage = (d, from) => { seen.push(ipv4ToString(from.addr)); s.send(from.addr, from.port, d.slice()); };
    expect(t.hostNamed('node1').fib.ipRoute('show')).toContain('default via 192.168.0.1 dev eth0');
    expect(ask(t, t.hostNamed('node1'), 40020, '10.96.0.10', 53, 'host')).toEqual(['host from 10.96.0.10:53']);
    expect(seen).toEqual(['10.10.0.1']);
    expect(() => new ClusterNetwork(new Topology(), { defaultGateway: '10.0.0.1' })).toThrow(expect.objectContaining({ code: 'CNI_BAD_ADDRESS', path: 'defaultGateway' }));
  });

  it('ipvs mode: the ClusterIP on kube-ipvs0, IPVS NATs to the pod on another node, the reply un-NATed through the gateway', () => {
    const { t, cn } = cluster({ proxyMode: 'ipvs' }, 2);
    const a = cn.addPod({ name: 'a', node: 'node1' });
    const b = cn.addPod({ name: 'b', node: 'node2' });
    echo(b.host, 5353);
    cn.applyIpvs('node1', {
      ipset: 'create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\nadd KUBE-CLUSTER-IP 10.96.0.10,udp:53\n',
      addresses: ['10.96.0.10'],
      ipvsadm: `-A -u 10.96.0.10:53 -s rr\n-a -u 10.96.0.10:53 -r ${b.ip}:5353 -m -w 1\n`,
    });
    expect(cn.node('node1').host.addresses().join('\n')).toMatch(/kube-ipvs0 .* 10\.96\.0\.10\/32/);
    expect(ask(t, a.host, 40010, '10.96.0.10', 53, 'vs')).toEqual(['vs from 10.96.0.10:53']);
    expect(() => cluster().cn.applyIpvs('node1', {})).toThrow(expect.objectContaining({ code: 'CNI_NOT_IPVS' }));
  });

  it('refuses a bad payload naming its line, and leaves the rules as they were', () => {
    const c = cluster();
    const before = c.cn.iptablesSave('node1');
    expect(() => c.cn.applyIptables('node1', '*nat\n-A NOPE -j ACCEPT\nCOMMIT\n')).toThrow(expect.objectContaining({ line: 2 }));
    expect(c.cn.iptablesSave('node1')).toBe(before);
  });
});

describe('ClusterNetwork: node and pod removal', () => {
  it('removeNode: its pods are returned, its routes and flows leave the other nodes, its pods are unreachable', async () => {
    const c = cluster();
    const p = withPods(c);
    expect((await c.t.ping(p.a.host, p.c.ip, { count: 1 })).received).toBe(1);
    const gone = c.cn.removeNode('node2');
    expect(gone.map((x) => x.key)).toEqual(['default/c']);
    expect(c.cn.nodes().map((n) => n.name)).toEqual(['node1', 'node3']);
    expect(c.cn.node('node1').host.fib.ipRoute('show')).not.toContain('10.10.1.0/24');
    expect(c.cn.dumpFlows('node1').join('\n')).not.toContain('10.10.1.');
    expect((await c.t.ping(p.a.host, p.c.ip, { count: 1 })).received).toBe(0);
    expect(() => c.cn.pod('default', 'c')).toThrow(CniError);
    // the others still talk; a node with the same name can come back (a new machine: another address, as the old one's MAC is still in the ARP caches)
    const d = c.cn.addPod({ name: 'd', node: 'node3' });
    expect((await c.t.ping(p.a.host, d.ip, { count: 1 })).received).toBe(1);
    c.cn.addNode({ name: 'node2', ip: '192.168.0.14', podCIDR: '10.10.1.0/24' });
    const e = c.cn.addPod({ name: 'c', node: 'node2' });
    expect((await c.t.ping(p.a.host, e.ip, { count: 1 })).received).toBe(1);
  });

  it('failNode cuts the links only: traffic to its pods is lost, its configuration stays', async () => {
    const c = cluster();
    const p = withPods(c);
    c.cn.failNode('node2');
    expect((await c.t.ping(p.a.host, p.c.ip, { count: 1 })).received).toBe(0);
    expect(c.cn.node('node1').host.fib.ipRoute('show')).toContain('10.10.1.0/24');
    expect(() => c.cn.addPod({ name: 'x', node: 'node2' })).toThrow(expect.objectContaining({ code: 'CNI_NODE_FAILED' }));
  });

  it('removePod takes its flows back and cuts its veth', async () => {
    const c = cluster();
    const p = withPods(c);
    c.cn.removePod('default', 'b');
    expect(c.cn.dumpFlows('node1').join('\n')).not.toContain(`nw_src=${p.b.ip}`);
    expect((await c.t.ping(p.a.host, p.b.ip, { count: 1 })).received).toBe(0);
  });
});

describe('ClusterNetwork: bad input', () => {
  it.each([
    [{ name: 'node1', ip: '192.168.0.50', podCIDR: '10.20.0.0/24' }, 'CNI_DUPLICATE_NODE', 'name'],
    [{ name: 'n', ip: '10.0.0.1', podCIDR: '10.20.0.0/24' }, 'CNI_BAD_ADDRESS', 'ip'],
    [{ name: 'n', ip: '192.168.0.11', podCIDR: '10.20.0.0/24' }, 'CNI_DUPLICATE_ADDRESS', 'ip'],
    [{ name: 'n', ip: '192.168.0.50', podCIDR: '10.10.0.128/25' }, 'CNI_OVERLAPPING_CIDR', 'podCIDR'],
    [{ name: 'n', ip: '192.168.0.50', podCIDR: '10.20.0.0/33' }, 'CNI_BAD_CIDR', 'podCIDR'],
    [{ name: 'n', ip: '192.168.0.50', podCIDR: '10.20.0.0/31' }, 'CNI_BAD_CIDR', 'podCIDR'],
  ])('addNode %j → %s', (spec, code, path) => {
    const { cn } = cluster();
    expect(() => cn.addNode(spec)).toThrow(expect.objectContaining({ code, path }));
  });

  it('names the first node that conflicts, in the order the nodes were added, and frees a removed node\'s IP and podCIDR', () => {
    const t = new Topology();
    const cn = new ClusterNetwork(t, { underlay: '192.168.0.0/24' });
    cn.addNode({ name: 'wide', ip: '192.168.0.11', podCIDR: '10.10.0.0/16' });
    cn.addNode({ name: 'narrow', ip: '192.168.0.12', podCIDR: '10.20.1.0/24' });
    // overlaps 'wide' (added first) and has 'narrow''s IP: the first node in order is named
    expect(() => cn.addNode({ name: 'n', ip: '192.168.0.12', podCIDR: '10.10.5.0/24' }))
      .toThrow(expect.objectContaining({ code: 'CNI_OVERLAPPING_CIDR', message: expect.stringContaining('node wide') }));
    // one node both ways: its IP is what is reported
    expect(() => cn.addNode({ name: 'n', ip: '192.168.0.11', podCIDR: '10.10.5.0/24' }))
      .toThrow(expect.objectContaining({ code: 'CNI_DUPLICATE_ADDRESS', message: expect.stringContaining('node wide') }));
    // a wider prefix containing a narrower node's
    expect(() => cn.addNode({ name: 'n', ip: '192.168.0.13', podCIDR: '10.20.0.0/16' }))
      .toThrow(expect.objectContaining({ code: 'CNI_OVERLAPPING_CIDR', message: expect.stringContaining('node narrow') }));
    cn.removeNode('narrow');
    expect(cn.addNode({ name: 'again', ip: '192.168.0.12', podCIDR: '10.20.0.0/16' }).name).toBe('again');
  });

  it.each([
    [{ name: 'a', node: 'nope' }, 'CNI_NO_NODE', 'node'],
    [{ name: 'a', node: 'node1', ip: '10.10.1.5' }, 'CNI_BAD_ADDRESS', 'ip'],
    [{ name: 'a', node: 'node1', ip: '10.10.0.1' }, 'CNI_BAD_ADDRESS', 'ip'],
    [{ name: 'a', node: 'node1', ip: '10.10.0.255' }, 'CNI_BAD_ADDRESS', 'ip'],
  ])('addPod %j → %s', (spec, code, path) => {
    const { cn } = cluster();
    expect(() => cn.addPod(spec)).toThrow(expect.objectContaining({ code, path }));
  });

  it('refuses a duplicate pod and runs out of addresses with an error', () => {
    const t = new Topology();
    const cn = new ClusterNetwork(t);
    cn.addNode({ name: 'n', ip: '192.168.0.2', podCIDR: '10.1.0.0/30' });
    cn.addPod({ name: 'a', node: 'n' });
    expect(() => cn.addPod({ name: 'a', node: 'n' })).toThrow(expect.objectContaining({ code: 'CNI_DUPLICATE_POD' }));
    expect(() => cn.addPod({ name: 'b', node: 'n' })).toThrow(expect.objectContaining({ code: 'CNI_NO_ADDRESS' }));
    expect(() => new ClusterNetwork(new Topology(), { tunnelType: 'gre' as 'vxlan' })).toThrow(expect.objectContaining({ code: 'CNI_BAD_TUNNEL' }));
  });
});
