// Fault: a Kubernetes node crashes under traffic (issue 11, item 3). A Service with 3 replicas on 3 nodes,
// a client pod on a fourth node sending to the ClusterIP all the time — one long UDP flow (a fixed source
// port, so one conntrack entry on the client's node) and a new TCP connection every second. What users
// expect, measured on the virtual clock:
//  - for the node monitor grace period (40 s) nothing has noticed: the dead pod is still a ready endpoint,
//    every kube-proxy still sends a third of the new connections to it (they time out), and the UDP flow,
//    pinned by conntrack to the dead backend, loses every datagram;
//  - then the node is NotReady and tainted unreachable, its pods not ready: the EndpointSlice marks them,
//    every surviving node's kube-proxy drops them from its rules and clears the UDP conntrack entries that
//    DNAT to them: the UDP flow is re-balanced at its next datagram, every new TCP connection succeeds;
//  - 300 s after the taint (tolerationSeconds) the pods are evicted and the Deployment recreates them on
//    live nodes; the EndpointSlice lists only live pods;
//  - the other nodes keep their routes and flows to the dead node while its Node object exists (Antrea's
//    node route controller acts on Node deletion); deleting the Node removes them;
//  - with graceful termination the evicted pods stay Terminating while no kubelet can finish them: the
//    Deployment replaces its pod at once, the StatefulSet waits until the Node is deleted (PodGC).
// Measured (seed 7, 50 datagrams/s): the UDP flow's first echo after the crash comes 40.0002 s later; it lost
// 2000 datagrams (40 s × 50/s) and nothing after; 14 of the 36 TCP connections of the window failed (the dead
// endpoint's third), none of the ~300 after. Before kube-proxy's UDP conntrack cleanup was added
// (cluster.ts clearStaleUdp) the UDP flow never recovered: its entry, refreshed by every datagram, kept it on
// the dead backend even after the pod was evicted.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Cluster } from '../../src/k8s/cluster.js';
import { startTcpRequest } from '../../src/netstack/tools.js';
import type { Node, Pod } from '../../src/k8s/api.js';
import type { Sim } from '../../src/sim/engine.js';
import { be16 } from '../../src/wire/bytes.js';

const S = 1e9, MS = 1e6;
const GRACE_S = 40, TOLERATION_S = 300;

const MANIFESTS = readFileSync(new URL('./crash-k8s.yaml', import.meta.url), 'utf8');

function build(opts: { gracefulTermination?: boolean; proxyMode?: 'iptables' | 'ipvs'; defaultTolerationSeconds?: number | null } = {}): Cluster {
  const c = new Cluster({ seed: 7, ...opts });
  c.addNode('node-1', { labels: { role: 'client' } });
  for (const n of ['node-2', 'node-3', 'node-4']) c.addNode(n, { labels: { role: 'web' } });
  expect(c.applyYaml(MANIFESTS).filter((r) => r.action === 'error')).toEqual([]);
  return c;
}

const running = (c: Cluster): Pod[] => c.podsWith({ app: 'web' }).filter((p) => p.status?.phase === 'Running' && p.metadata.deletionTimestamp === undefined);

/** Call 'fn' every 'intervalNs' of virtual time from now on (until 'stop' is set). */
function every(sim: Sim, intervalNs: number, fn: () => void): { stop: boolean } {
  const h = { stop: false };
  const tick = { onEvent: (): void => { if (h.stop) return; fn(); sim.schedule(intervalNs, tick); } };
  sim.schedule(0, tick);
  return h;
}

/** The web Service's endpoints (address → ready) over its slices. */
function endpoints(c: Cluster): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const s of c.cp.store.list('EndpointSlice', 'default')) {
    if (s.metadata.labels?.['kubernetes.io/service-name'] !== 'web') continue;
    for (const e of s.endpoints ?? []) out.set(e.addresses[0]!, e.conditions?.ready !== false);
  }
  return out;
}

/** The client's traffic: a UDP flow (one datagram every 'udpGapNs', one source port) and a TCP connection every second. */
function traffic(c: Cluster, udpGapNs: number): {
  sent: number; echoes: number; echoTimes: number[]; tcp: { at: number; ok: boolean | null }[]; stop(): void;
} {
  const client = c.pod('default', 'client');
  const vip = c.serviceIP('default', 'web');
  const sock = client.sockets.udp(40000);
  const t = {
    sent: 0, echoes: 0, echoTimes: [] as number[], tcp: [] as { at: number; ok: boolean | null }[],
    stop: () => { u.stop = true; k.stop = true; },
  };
  sock.onMessage = () => { t.echoes++; t.echoTimes.push(c.net.sim.now); };
  const u = every(c.net.sim, udpGapNs, () => { sock.send(vip, 53, `seq ${t.sent}`); t.sent++; });
  const k = every(c.net.sim, S, () => {
    const rec: { at: number; ok: boolean | null } = { at: c.net.sim.now, ok: null };
    t.tcp.push(rec);
    startTcpRequest(client, vip, 80, 'GET / HTTP/1.0\r\n\r\n', { timeoutSec: 3 }, (r) => { rec.ok = r.error === null && r.response.length > 0; });
  });
  return t;
}

/** UDP datagrams to port 5353 each web pod received, by pod name. */
function tapBackends(c: Cluster): Map<string, number> {
  const got = new Map<string, number>();
  for (const p of running(c)) {
    const name = p.metadata.name;
    got.set(name, 0);
    c.pod('default', name).ports.get('eth0')!.tap((f, dir) => {
      if (dir === 'in' && be16(f, 12) === 0x0800 && f[23] === 17 && be16(f, 36) === 5353) got.set(name, got.get(name)! + 1);
    });
  }
  return got;
}

describe('a node crash under traffic to a Service', () => {
  it('loses the dead backend\'s share for the grace period, recovers when kube-proxy drops it, and replaces the pods after the toleration', () => {
    const c = build();
    const sim = c.net.sim;
    const web = running(c);
    expect(web).toHaveLength(3);
    expect(new Set(web.map((p) => p.spec.nodeName))).toEqual(new Set(['node-2', 'node-3', 'node-4']));
    const perPod = tapBackends(c);
    const UDP_GAP = 20 * MS; // 50 datagrams/s
    const tr = traffic(c, UDP_GAP);
    sim.runUntil(sim.now + 1 * S);
    // the UDP flow went to one backend (conntrack keeps it there); crash that backend's node
    const hit = [...perPod].filter(([, n]) => n > 0);
    expect(hit).toHaveLength(1);
    const deadPod = web.find((p) => p.metadata.name === hit[0]![0])!;
    const dead = deadPod.spec.nodeName!, deadIP = deadPod.status!.podIP!;
    const deadCIDR = c.cni.node(dead).podCIDR;
    const survivors = ['node-1', 'node-2', 'node-3', 'node-4'].filter((n) => n !== dead);
    expect(tr.echoes).toBeGreaterThanOrEqual(tr.sent - 1);
    const tCrash = sim.now, sentAtCrash = tr.sent, echoesAtCrash = tr.echoes;
    c.crashNode(dead);

    // ---- the grace period: nobody knows
    sim.runUntil(tCrash + (GRACE_S - 0.1) * S);
    const node = (): Node | undefined => c.cp.store.get('Node', undefined, dead);
    expect(node()!.status!.conditions!.find((x) => x.type === 'Ready')!.status).toBe('True');
    expect(endpoints(c).get(deadIP)).toBe(true);
    for (const n of survivors) expect(c.cni.iptablesSave(n)).toContain(`${deadIP}:80`);
    // the UDP flow is stuck on the dead backend: not one echo since the crash
    expect(tr.echoes).toBe(echoesAtCrash);
    // new TCP connections are balanced over all three endpoints: the dead one's share times out
    const inWindow = tr.tcp.filter((x) => x.at > tCrash && x.at <= tCrash + (GRACE_S - 4) * S);
    const failed = inWindow.filter((x) => x.ok === false).length;
    expect(inWindow.every((x) => x.ok !== null)).toBe(true);
    expect(failed).toBeGreaterThan(0);
    expect(failed).toBeLessThan(inWindow.length);
    // (each connection picks its endpoint at random, 1 in 3: 36 tries here)
    expect(failed / inWindow.length).toBeGreaterThan(0.15);
    expect(failed / inWindow.length).toBeLessThan(0.55);

    // ---- the node monitor grace period is over: NotReady, tainted, pods not ready, kube-proxy resynced
    sim.runUntil(tCrash + (GRACE_S + 1) * S);
    const ready = node()!.status!.conditions!.find((x) => x.type === 'Ready')!;
    expect(ready).toMatchObject({ status: 'Unknown', reason: 'NodeStatusUnknown' });
    expect(node()!.spec!.taints).toEqual(expect.arrayContaining([
      { key: 'node.kubernetes.io/unreachable', effect: 'NoSchedule' }, { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }]));
    expect(endpoints(c).get(deadIP)).toBe(false);
    for (const n of survivors) expect(c.cni.iptablesSave(n)).not.toContain(deadIP);
    // the UDP flow came back at its first datagram after the resync (its stale conntrack entry deleted)
    const firstEcho = tr.echoTimes.find((x) => x > tCrash)!;
    const recoveryS = (firstEcho - tCrash) / S;
    expect(recoveryS).toBeGreaterThanOrEqual(GRACE_S);
    expect(recoveryS).toBeLessThanOrEqual(GRACE_S + UDP_GAP / S + 0.01);
    // lost: every datagram of the grace period — 40 s × 50/s — and none after
    const sentUntilRecovery = Math.floor((GRACE_S * S) / UDP_GAP);
    const lostUdp = (tr.sent - sentAtCrash) - (tr.echoes - echoesAtCrash);
    expect(lostUdp).toBeGreaterThanOrEqual(sentUntilRecovery);
    expect(lostUdp).toBeLessThanOrEqual(sentUntilRecovery + 2);

    // ---- eviction after the toleration: replicas recreated on live nodes
    sim.runUntil(tCrash + (GRACE_S + TOLERATION_S - 1) * S);
    expect(c.cp.store.get('Pod', 'default', deadPod.metadata.name)).toBeDefined();
    expect(running(c).filter((p) => p.spec.nodeName !== dead)).toHaveLength(2);
    sim.runUntil(tCrash + (GRACE_S + TOLERATION_S + 1) * S);
    expect(c.cp.store.get('Pod', 'default', deadPod.metadata.name)).toBeUndefined();
    const now = running(c);
    expect(now).toHaveLength(3);
    expect(now.every((p) => p.spec.nodeName !== dead)).toBe(true);
    const live = new Set(now.map((p) => p.status!.podIP!));
    expect(new Set(endpoints(c).keys())).toEqual(live);
    expect([...endpoints(c).values()].every((r) => r)).toBe(true);
    for (const n of survivors) {
      const save = c.cni.iptablesSave(n);
      for (const ip of live) expect(save).toContain(`${ip}:80`);
    }
    // every TCP connection since the resync succeeded; the UDP flow lost nothing more
    const after = tr.tcp.filter((x) => x.at > tCrash + (GRACE_S + 1) * S && x.ok !== null);
    expect(after.length).toBeGreaterThan(290);
    expect(after.every((x) => x.ok)).toBe(true);
    expect((tr.sent - sentAtCrash) - (tr.echoes - echoesAtCrash)).toBe(lostUdp);

    // ---- the NotReady Node still has routes and flows on its peers; deleting it takes them away
    for (const n of survivors) expect(c.cni.dumpFlows(n).some((l) => l.includes(`nw_dst=${deadCIDR}`))).toBe(true);
    c.cp.delete('Node', undefined, dead);
    for (const n of survivors) {
      expect(c.cni.dumpFlows(n).some((l) => l.includes(`nw_dst=${deadCIDR}`))).toBe(false);
      expect(c.cni.node(n).host.fib.ipRoute(['show']).includes(deadCIDR)).toBe(false);
    }
    expect(c.net.tunnels.some((x) => x.a === `${dead}/br-int` || x.b === `${dead}/br-int`)).toBe(false);
    expect(() => c.cni.node(dead)).toThrow();
    tr.stop();
  });

  it('ipvs mode: TCP and the UDP flow recover when the real server goes (kube-proxy\'s expire_nodest_conn=1)', () => {
    const c = build({ proxyMode: 'ipvs' });
    const sim = c.net.sim;
    const perPod = tapBackends(c);
    const UDP_GAP = 20 * MS;
    const tr = traffic(c, UDP_GAP);
    sim.runUntil(sim.now + S);
    const deadPod = running(c).find((p) => perPod.get(p.metadata.name)! > 0)!;
    const deadIP = deadPod.status!.podIP!;
    const client = c.cp.store.get('Pod', 'default', 'client')!.spec.nodeName!;
    const ipvs = c.cni.node(client).host.ip.ipvs!;
    // kube-proxy set the sysctls on every node's IPVS
    expect(ipvs.expireNodestConn).toBe(true);
    expect(ipvs.expireQuiescentTemplate).toBe(true);
    const tCrash = sim.now, sentAtCrash = tr.sent, echoesAtCrash = tr.echoes;
    c.crashNode(deadPod.spec.nodeName!);
    sim.runUntil(tCrash + (GRACE_S - 0.1) * S);
    // the grace period: the UDP flow's IPVS connection still goes to the dead pod
    expect(tr.echoes).toBe(echoesAtCrash);
    expect(ipvs.connections(sim.now / MS).some((x) => x.destination.startsWith(`${deadIP}:`) && x.proto === 'UDP')).toBe(true);
    sim.runUntil(tCrash + (GRACE_S + 1) * S);
    // the resync deleted the UDP real server: its connections went with it (expire_nodest_conn=1), and
    // the UDP flow's next datagram was scheduled to a live one
    // (the TCP one, with connections, is quiesced for graceful deletion: weight 0, no new connection)
    expect(ipvs.list()).not.toContain(`${deadIP}:5353`);
    expect(ipvs.list()).toMatch(new RegExp(`-> ${deadIP.replaceAll('.', '\\.')}:80 +Masq +0 `));
    expect(ipvs.connections(sim.now / MS).some((x) => x.destination === `${deadIP}:5353`)).toBe(false);
    const recoveryS = (tr.echoTimes.find((x) => x > tCrash)! - tCrash) / S;
    expect(recoveryS).toBeGreaterThanOrEqual(GRACE_S);
    expect(recoveryS).toBeLessThanOrEqual(GRACE_S + UDP_GAP / S + 0.01);
    const lostUdp = (tr.sent - sentAtCrash) - (tr.echoes - echoesAtCrash);
    sim.runUntil(tCrash + (GRACE_S + TOLERATION_S + 5) * S);
    // new TCP connections: a share fails until the resync at the grace period, none after
    const late = tr.tcp.filter((x) => x.at > tCrash + (GRACE_S + 1) * S && x.ok !== null);
    expect(tr.tcp.filter((x) => x.at > tCrash && x.at < tCrash + (GRACE_S - 4) * S).some((x) => x.ok === false)).toBe(true);
    expect(late.length).toBeGreaterThan(290);
    expect(late.every((x) => x.ok)).toBe(true);
    // the UDP flow lost nothing more after its recovery
    expect((tr.sent - sentAtCrash) - (tr.echoes - echoesAtCrash)).toBeLessThanOrEqual(lostUdp + 1);
    tr.stop();
  });

  it('a node back before the grace period ends: nothing noticed, nothing evicted, its pods answer again', () => {
    const c = build();
    const sim = c.net.sim;
    const web = running(c);
    const perPod = tapBackends(c);
    const tr = traffic(c, 20 * MS);
    sim.runUntil(sim.now + S);
    const deadPod = web.find((p) => perPod.get(p.metadata.name)! > 0)!;
    const dead = deadPod.spec.nodeName!;
    c.crashNode(dead);
    expect(() => c.crashNode(dead)).toThrow(expect.objectContaining({ code: 'CLUSTER_NODE_DOWN' }));
    sim.runUntil(sim.now + 10 * S);
    const echoes = tr.echoes;
    c.restoreNode(dead);
    sim.runUntil(sim.now + (GRACE_S + TOLERATION_S) * S);
    // no NotReady, no eviction: the same three pods, the UDP flow back on the same backend
    expect(c.cp.store.get('Node', undefined, dead)!.status!.conditions!.find((x) => x.type === 'Ready')!.status).toBe('True');
    expect(running(c).map((p) => p.metadata.uid).sort()).toEqual(web.map((p) => p.metadata.uid).sort());
    expect(tr.echoes - echoes).toBeGreaterThanOrEqual(Math.floor((GRACE_S + TOLERATION_S) * 50) - 1);
    tr.stop();
  });

  it('a node back after it was noticed: Ready again, untainted, its pods ready endpoints again', () => {
    const c = build();
    const sim = c.net.sim;
    const victim = running(c)[0]!;
    const dead = victim.spec.nodeName!;
    c.crashNode(dead, { nodeMonitorGracePeriodS: 5 });
    sim.runUntil(sim.now + 6 * S);
    expect(endpoints(c).get(victim.status!.podIP!)).toBe(false);
    c.restoreNode(dead);
    const n = c.cp.store.get('Node', undefined, dead)!;
    expect(n.status!.conditions!.find((x) => x.type === 'Ready')!.status).toBe('True');
    expect(n.spec?.taints ?? []).toEqual([]);
    expect(endpoints(c).get(victim.status!.podIP!)).toBe(true);
    for (const other of ['node-1', 'node-2', 'node-3', 'node-4']) expect(c.cni.iptablesSave(other)).toContain(`${victim.status!.podIP!}:80`);
    // its kernel rebooted: an empty conntrack table
    expect(c.cni.node(dead).host.ip.ct.size).toBe(0);
    expect(() => c.restoreNode(dead)).toThrow(expect.objectContaining({ code: 'CLUSTER_NODE_UP' }));
  });

  it('with graceful termination: the evicted pods stay Terminating while the node is unreachable — a Deployment replaces its pod at once, a StatefulSet waits until the Node is deleted', () => {
    const c = build({ gracefulTermination: true });
    const sim = c.net.sim;
    const db = c.podsWith({ app: 'db' });
    expect(db.map((p) => p.status?.phase)).toEqual(['Running', 'Running', 'Running']);
    const victim = db[1]!, dead = victim.spec.nodeName!;
    const webOnDead = running(c).filter((p) => p.spec.nodeName === dead).map((p) => p.metadata.name);
    expect(webOnDead).toHaveLength(1);
    const tCrash = sim.now;
    c.crashNode(dead);
    // evicted at grace + toleration; the kubelet that would finish the deletion is gone
    sim.runUntil(tCrash + (GRACE_S + TOLERATION_S + 60) * S);
    const old = c.cp.store.get('Pod', 'default', webOnDead[0]!)!;
    expect(old.metadata.deletionTimestamp).toBeDefined();
    expect(c.cp.store.get('Pod', 'default', victim.metadata.name)!.metadata.deletionTimestamp).toBeDefined();
    // the ReplicaSet does not count a terminating pod: three web pods run on live nodes beside it
    expect(running(c).filter((p) => p.spec.nodeName !== dead)).toHaveLength(3);
    // the terminating pod is an endpoint no more (not serving); no kube-proxy sends to it
    const deadIP = old.status!.podIP!;
    const ep = c.cp.store.list('EndpointSlice', 'default').flatMap((s) => s.endpoints ?? []).find((e) => e.addresses[0] === deadIP)!;
    expect(ep.conditions).toMatchObject({ ready: false, serving: false, terminating: true });
    for (const n of ['node-1', 'node-2', 'node-3', 'node-4'].filter((x) => x !== dead)) expect(c.cni.iptablesSave(n)).not.toContain(deadIP);
    // the StatefulSet keeps its identity: no second db-1 while the first may still run
    expect(c.podsWith({ app: 'db' }).filter((p) => p.metadata.name === victim.metadata.name)).toHaveLength(1);
    expect(c.podsWith({ app: 'db' }).filter((p) => p.metadata.deletionTimestamp === undefined)).toHaveLength(2);
    // the Node deleted (the operator, or the cloud's node controller): PodGC force-deletes its pods; db-1 comes back elsewhere
    c.cp.delete('Node', undefined, dead);
    sim.runUntil(sim.now + S);
    expect(c.cp.store.get('Pod', 'default', webOnDead[0]!)).toBeUndefined();
    const again = c.cp.store.get('Pod', 'default', victim.metadata.name)!;
    expect(again.metadata.uid).not.toBe(victim.metadata.uid);
    expect(again.spec.nodeName).not.toBe(dead);
    expect(again.status?.phase).toBe('Running');
  });

  it('short timeouts: noticed after a 5 s grace period, evicted 10 s later (defaultTolerationSeconds), the UDP flow back at 5 s', () => {
    const c = build({ defaultTolerationSeconds: 10 });
    const sim = c.net.sim;
    const perPod = tapBackends(c);
    const tr = traffic(c, 20 * MS);
    sim.runUntil(sim.now + S);
    const victim = running(c).find((p) => perPod.get(p.metadata.name)! > 0)!;
    const dead = victim.spec.nodeName!, tCrash = sim.now;
    c.crashNode(dead, { nodeMonitorGracePeriodS: 5 });
    sim.runUntil(tCrash + 14.9 * S);
    expect(c.cp.store.get('Pod', 'default', victim.metadata.name)).toBeDefined();
    sim.runUntil(tCrash + 15.1 * S);
    expect(c.cp.store.get('Pod', 'default', victim.metadata.name)).toBeUndefined();
    expect(running(c).filter((p) => p.spec.nodeName !== dead)).toHaveLength(3);
    const recoveryS = (tr.echoTimes.find((x) => x > tCrash)! - tCrash) / S;
    expect(recoveryS).toBeGreaterThanOrEqual(5);
    expect(recoveryS).toBeLessThanOrEqual(5.03);
    tr.stop();
  });

  it('refuses to crash a node it does not know, or with a negative grace period', () => {
    const c = build();
    expect(() => c.crashNode('nope')).toThrow(expect.objectContaining({ code: 'CLUSTER_NO_NODE' }));
    expect(() => c.crashNode('node-2', { nodeMonitorGracePeriodS: -1 })).toThrow(expect.objectContaining({ code: 'CLUSTER_BAD_GRACE' }));
    expect(() => c.restoreNode('node-2')).toThrow(expect.objectContaining({ code: 'CLUSTER_NODE_UP' }));
    // a crashed node whose Node object was deleted cannot come back (it would register anew)
    c.crashNode('node-3');
    c.cp.delete('Node', undefined, 'node-3');
    expect(() => c.restoreNode('node-3')).toThrow(expect.objectContaining({ code: 'CLUSTER_NO_NODE' }));
  });
});
