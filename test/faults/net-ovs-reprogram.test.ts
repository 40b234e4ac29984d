// A controller reprogramming an OVS bridge in the middle of traffic: h1 (p1) and h2 (p2) talk TCP
// through a conntrack-stateful pipeline (new connections to port 5001 committed, established
// ones allowed both ways); h3 on p3 is a monitor port. Flows are replaced, modified and deleted
// while a transfer runs. What users expect of OVS: revalidation keeps established connections
// flowing when the new flows still allow them; a changed action applies to the very next packet
// (no megaflow or EMC entry keeps the old one); a deleted flow stops the traffic at once.
import { describe, expect, it } from 'vitest';
import { Topology } from '../../src/topology/topology.js';
import type { Host } from '../../src/netstack/host.js';
import type { TcpConn } from '../../src/netstack/tcp.js';
import type { OvsBridge } from '../../src/devices/ovs-bridge.js';
import type { Port } from '../../src/sim/link.js';
import { ms, sec } from '../../src/sim/engine.js';

const H2 = 0x0a000002;

/** The stateful pipeline: ARP flooded; IP through conntrack (zone 1); +new only to tcp/5001; +est both ways. */
const PIPELINE = [
  'table=0,priority=100,arp,actions=FLOOD',
  'table=0,priority=10,ip,actions=ct(table=1,zone=1)',
  'table=1,priority=100,ct_state=+trk+new,tcp,in_port=1,tp_dst=5001,actions=ct(commit,zone=1),output:2',
  'table=1,priority=90,ct_state=+trk+est,in_port=1,actions=output:2',
  'table=1,priority=90,ct_state=+trk+est,in_port=2,actions=output:1',
  'table=1,priority=0,actions=drop',
].join('\n');

interface Lab {
  topo: Topology; br: OvsBridge; h1: Host; h2: Host; h3: Host;
  /** the bridge's ports toward h1, h2, h3 (what the bridge sends on them, with the time) */
  toH1: number[]; toH2: number[]; toH3: number[];
}

function lab(flows = PIPELINE): Lab {
  const topo = new Topology({ seed: 5 });
  const br = topo.ovsBridge('br0', { flows });
  const h1 = topo.host('h1', { ip: '10.0.0.1/24' });
  const h2 = topo.host('h2', { ip: '10.0.0.2/24' });
  const h3 = topo.host('h3', { ip: '10.0.0.3/24' });
  const l: Lab = { topo, br, h1, h2, h3, toH1: [], toH2: [], toH3: [] };
  const attach = (h: Host, name: string, log: number[]): void => {
    const p: Port = br.addPort(name);
    topo.link([h, 'eth0'], p, { delay: '100us', bandwidth: '1Gbps' });
    p.tap((_f, dir, t) => { if (dir === 'out') log.push(t); });
  };
  attach(h1, 'p1', l.toH1);
  attach(h2, 'p2', l.toH2);
  attach(h3, 'p3', l.toH3);
  return l;
}

interface Stream { conn: TcpConn; received: () => number; errors: string[] }

/** h1 streams 'chunk' bytes every 'everyNs' to h2:port for as long as the test runs. */
function stream(l: Lab, port = 5001, chunk = 4000, everyNs = ms(1)): Stream {
  let received = 0;
  l.h2.tcp.listen(port, (c) => { c.onData = (d) => { received += d.length; }; });
  const conn = l.h1.tcp.connect(H2, port);
  const s: Stream = { conn, received: () => received, errors: [] };
  const tick = { onEvent: (): void => { if (conn.state === 'ESTABLISHED') conn.send(new Uint8Array(chunk)); if (conn.state !== 'CLOSED') l.topo.sim.schedule(everyNs, tick); } };
  conn.onConnect = () => tick.onEvent();
  conn.onError = (e) => s.errors.push(e.errno);
  return s;
}

const after = (log: number[], t: number): number => log.filter((x) => x > t).length;

describe('flows changed under a running TCP stream (ct(commit), +est)', () => {
  it('replace-flows keeping +est: the connection keeps flowing with no retransmission; conntrack keeps its entry; a new connection the new flows refuse fails', () => {
    const l = lab();
    const s = stream(l);
    l.topo.sim.runFor(ms(200));
    const mid = s.received();
    expect(mid).toBeGreaterThan(100_000);
    expect(l.br.dp.megaflows.size).toBeGreaterThan(0);
    const entries = l.br.dp.ct.dump();
    expect(entries.length).toBe(1);
    // the controller pushes a new table: same +est rules, no new connections at all
    l.br.replaceFlows(PIPELINE.split('\n').filter((f) => !f.includes('+new')).join('\n'));
    const changedAt = l.topo.sim.now;
    l.topo.sim.runFor(ms(200));
    expect(s.errors).toEqual([]);
    expect(s.conn.totalRetrans).toBe(0);
    expect(s.received() - mid).toBeGreaterThan(100_000);
    expect(after(l.toH2, changedAt)).toBeGreaterThan(50);
    // the same connection, still tracked (its counters moved on)
    expect(l.br.dp.ct.dump().map((e) => e.replace(/,?(packets|bytes)=[0-9]+/g, ''))).toEqual(entries.map((e) => e.replace(/,?(packets|bytes)=[0-9]+/g, '')));
    // a second connection (to another port h2 listens on): its SYN is +new, which nothing allows any more
    const dropsBefore = l.br.dp.stats.droppedTotal;
    const late = stream(l, 5002);
    l.topo.sim.runFor(sec(3));
    expect(late.conn.state).toBe('SYN_SENT');
    expect(late.received()).toBe(0);
    expect(l.br.dp.stats.droppedTotal - dropsBefore).toBeGreaterThanOrEqual(3);
    expect(s.errors).toEqual([]);
  });

  it('a modified action (add-flow over the +est rule: also to the monitor port) applies to the very next packet, through every cache tier', () => {
    const l = lab();
    const s = stream(l);
    l.topo.sim.runFor(ms(200));
    const dp = l.br.dp;
    const hitsBefore = dp.stats.emcHits + dp.stats.megaflowHits, emcBefore = dp.stats.emcHits;
    expect(hitsBefore).toBeGreaterThan(100);
    const h3Before = l.toH3.length;
    const rxBefore = l.br.port('p1').stats.rxPackets;
    // mod: the same match and priority, new actions
    l.br.addFlows('table=1,priority=90,ct_state=+trk+est,in_port=1,actions=output:2,output:3');
    const changedAt = l.topo.sim.now;
    l.topo.sim.runFor(ms(50));
    // every packet from h1 after the change also went to p3: none slipped through on a stale entry
    const fromH1 = l.br.port('p1').stats.rxPackets - rxBefore;
    expect(fromH1).toBeGreaterThan(20);
    expect(l.toH3.length - h3Before).toBe(fromH1);
    expect(after(l.toH2, changedAt)).toBeGreaterThanOrEqual(fromH1);
    // … and they were cache hits, not upcalls: the megaflows were revalidated in place
    expect(dp.stats.emcHits + dp.stats.megaflowHits - hitsBefore).toBeGreaterThan(fromH1 / 2);
    expect(dp.stats.emcHits - emcBefore).toBeGreaterThan(0);
    const lines = dp.dumpFlows(l.br.nowMs).filter((x) => x.includes('in_port(1)') && x.includes('+est'));
    expect(lines.length).toBeGreaterThan(0);
    for (const x of lines) expect(x).toMatch(/actions:\S*2,3$/);
    expect(s.errors).toEqual([]);
  });

  it('a new higher-priority flow that reads another field (the megaflow mask changes) diverts the very next packet; the old megaflow is gone', () => {
    const l = lab();
    const s = stream(l);
    l.topo.sim.runFor(ms(200));
    const dp = l.br.dp;
    const toH2Before = l.toH2.length;
    // h1's segments to port 5001 now go to the monitor only
    l.br.addFlows('table=1,priority=95,ct_state=+trk+est,tcp,in_port=1,tp_dst=5001,actions=output:3');
    const changedAt = l.topo.sim.now;
    const rxBefore = l.br.port('p1').stats.rxPackets;
    l.topo.sim.runFor(ms(20));
    const fromH1 = l.br.port('p1').stats.rxPackets - rxBefore;
    expect(fromH1).toBeGreaterThan(0);
    expect(l.toH3.filter((t) => t > changedAt).length).toBe(fromH1);
    // the bridge sent nothing to h2 after the change
    expect(l.toH2.length - toH2Before).toBe(0);
    const est = dp.dumpFlows(l.br.nowMs).filter((x) => x.includes('in_port(1)') && x.includes('+est'));
    expect(est.length).toBe(1);
    expect(est[0]).toMatch(/tcp\(dst=5001\).*actions:3$/);
    expect(s.conn.state).toBe('ESTABLISHED');
  });

  it('a deleted flow stops the traffic at once: nothing reaches h2 after the del-flows, the drops are counted', () => {
    const l = lab();
    const s = stream(l);
    l.topo.sim.runFor(ms(200));
    const dropsBefore = l.br.dp.stats.droppedTotal;
    expect(l.br.delFlows('table=1,ct_state=+trk+est,in_port=1')).toBe(1);
    const changedAt = l.topo.sim.now;
    const got = s.received();
    l.topo.sim.runFor(sec(2));
    // frames already on the wire arrive; nothing leaves p2 later than one link delay after the change
    const late = l.toH2.filter((t) => t > changedAt);
    expect(late.length).toBe(0);
    expect(s.received()).toBeLessThanOrEqual(got + 200_000);
    expect(l.br.dp.stats.droppedTotal - dropsBefore).toBeGreaterThan(0);
    // the sender backs off (RTOs) and nothing it sends passes
    expect(s.conn.totalRto).toBeGreaterThan(0);
    const lines = l.br.dp.dumpFlows(l.br.nowMs).filter((x) => x.includes('in_port(1)') && x.includes('+est'));
    for (const x of lines) expect(x).toMatch(/actions:drop$/);
  });
});
