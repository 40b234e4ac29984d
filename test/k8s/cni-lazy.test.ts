/**
 * ClusterNetwork's lazyPeers option (src/k8s/cni/network.ts, "Lazy peers"): a node holds no
 * peer routes or flows until its br-int first receives a frame from a port or it is
 * inspected; then exactly what an eager network installs, and the same traffic gets through.
 */
import { describe, expect, it } from 'vitest';
import { Topology } from '../../src/topology/topology.js';
import { ClusterNetwork } from '../../src/k8s/cni/network.js';
import { ipv4ToString } from '../../src/wire/bytes.js';

function build(lazyPeers: boolean): { t: Topology; cn: ClusterNetwork } {
  const t = new Topology({ seed: 11 });
  const cn = new ClusterNetwork(t, { underlay: '192.168.0.0/24', lazyPeers });
  cn.batch(() => {
    for (let i = 0; i < 4; i++) cn.addNode({ name: `node${i + 1}`, ip: `192.168.0.${11 + i}`, podCIDR: `10.10.${i}.0/24` });
    cn.addPod({ namespace: 'default', name: 'a', node: 'node1' });
    cn.addPod({ namespace: 'default', name: 'c', node: 'node3' });
  });
  return { t, cn };
}

const peerRoutes = (cn: ClusterNetwork, node: string): string[] =>
  String(cn.node(node).host.fib.ipRoute('show')).split('\n').map((r) => r.trim()).filter((r) => r.endsWith('dev antrea-gw0 onlink'));

describe('ClusterNetwork lazyPeers', () => {
  it('gives a node added later to the materialized nodes at once, to the others when they materialize', () => {
    const { cn } = build(true);
    cn.materialize('node2');
    cn.addNode({ name: 'node5', ip: '192.168.0.15', podCIDR: '10.10.4.0/24' });
    expect(peerRoutes(cn, 'node2')).toContain('10.10.4.0/24 via 10.10.4.1 dev antrea-gw0 onlink');
    expect(cn.node('node2').peers.has('node5')).toBe(true);
    expect(cn.node('node1').peers.size).toBe(0);
    expect(peerRoutes(cn, 'node1')).toEqual([]);
    const eager = build(false).cn;
    eager.addNode({ name: 'node5', ip: '192.168.0.15', podCIDR: '10.10.4.0/24' });
    // the same flows (a materialized node lists its pods' before its peers' at one priority)
    expect(cn.dumpFlows('node1').slice().sort()).toEqual(eager.dumpFlows('node1').slice().sort());
    expect(cn.dumpFlows('node2').slice().sort()).toEqual(eager.dumpFlows('node2').slice().sort());
  });

  it('keeps a node without peer routes and flows until it is inspected, then has what an eager node has', () => {
    const eager = build(false).cn, lazy = build(true).cn;
    expect(lazy.node('node2').bridge.dumpFlows().length).toBeLessThan(eager.node('node2').bridge.dumpFlows().length);
    expect(peerRoutes(lazy, 'node2')).toEqual([]);
    expect(lazy.node('node2').materialized).toBe(false);
    expect(lazy.node('node2').peers.size).toBe(0);
    // dumpFlows materializes: the flows then are the eager network's, line for line
    expect(lazy.dumpFlows('node2')).toEqual(eager.dumpFlows('node2'));
    expect([...lazy.node('node2').peers]).toEqual([...eager.node('node2').peers]);
    expect([...lazy.node('node2').peers].sort()).toEqual(['node1', 'node3', 'node4']);
    expect(peerRoutes(lazy, 'node2')).toEqual(peerRoutes(eager, 'node2'));
    expect(peerRoutes(lazy, 'node2')).toContain('10.10.2.0/24 via 10.10.2.1 dev antrea-gw0 onlink');
  });

  it('installs the peers of the sending node on its first frame; pod to pod across nodes works both ways', () => {
    const { t, cn } = build(true);
    const a = cn.pod('default', 'a'), c = cn.pod('default', 'c');
    const s = c.host.sockets.udp(7000);
    s.onMessage = (d, from) => { s.send(from.addr, from.port, d.slice()); };
    const got: string[] = [];
    const k = a.host.sockets.udp(4000);
    k.onMessage = (d, from) => got.push(`${new TextDecoder().decode(d)} from ${ipv4ToString(from.addr)}`);
    k.send(c.ip, 7000, 'hi');
    t.runFor(20e6);
    expect(got).toEqual([`hi from ${c.ip}`]);
    // node1 (sender) and node3 (the reply) materialized; node2 and node4 saw nothing
    expect(cn.nodes().map((n) => `${n.name}:${n.materialized}`)).toEqual(['node1:true', 'node2:false', 'node3:true', 'node4:false']);
  });

  it('installs a node\'s peers when its own stack first routes a packet (from the underlay, as a NodePort\'s), not for ARP or the tunnel', () => {
    const { t, cn } = build(true);
    const c = cn.pod('default', 'c');
    const s = c.host.sockets.udp(7000);
    s.onMessage = (d, from) => { s.send(from.addr, from.port, d.slice()); };
    const ext = cn.addExternalHost('client', '192.168.0.50');
    ext.fib.ipRoute(['add', '10.10.0.0/16', 'via', '192.168.0.12']); // through node2's host
    const got: string[] = [];
    const k = ext.sockets.udp(4000);
    k.onMessage = (d, from) => got.push(`${new TextDecoder().decode(d)} from ${ipv4ToString(from.addr)}`);
    k.send(c.ip, 7000, 'hi');
    t.runFor(20e6);
    // the answer leaves node3 masqueraded to its node IP (Antrea's ANTREA-POSTROUTING: pod traffic out another interface)
    expect(got).toEqual(['hi from 192.168.0.13']);
    // node2 routed it (materialized at the packet, not at the ARP before it); node3 got it from the tunnel
    // and answered through its gateway to its host (materialized by its pod's frame); node1 and node4 saw ARP only
    expect(cn.nodes().map((n) => `${n.name}:${n.materialized}`)).toEqual(['node1:false', 'node2:true', 'node3:true', 'node4:false']);
  });

  it('installs a node\'s peers before its own ping checks the route (connect), so a ping to a peer\'s pod network goes out', async () => {
    const { t, cn } = build(true);
    expect(peerRoutes(cn, 'node2')).toEqual([]);
    const r = await t.ping('node2', '10.10.2.1', { count: 1 });
    expect(r.errors).toEqual([]);
    expect(r.received).toBe(1);
    expect(cn.node('node2').materialized).toBe(true);
  });

  it('forgets a removed peer whether or not a node was materialized', () => {
    const { cn } = build(true);
    cn.materialize('node1');
    cn.removeNode('node4');
    expect(cn.node('node2').peers.has('node4')).toBe(false);
    expect(peerRoutes(cn, 'node1').some((r) => r.startsWith('10.10.3.0/24'))).toBe(false);
    expect(cn.dumpFlows('node1').some((f) => f.includes('192.168.0.14') || f.includes('10.10.3.'))).toBe(false);
    expect(cn.dumpFlows('node2').some((f) => f.includes('10.10.3.'))).toBe(false);
  });
});
