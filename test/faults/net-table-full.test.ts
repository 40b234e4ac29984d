// Full tables on an OVS bridge in the middle of traffic: the conntrack table at its maximum
// (dpctl/ct-set-maxconns) and the megaflow cache at its flow limit (other_config:flow-limit).
// What users expect of OVS: established connections keep going and the refusals are counted
// (conntrack_full); over the flow limit every packet is still forwarded, by the slow path, the
// hit rate falls and the cache does not grow past the limit.
// A Linux router at nf_conntrack_max: a new connection's packets are dropped (the ledger's
// 'ct-full'), the established one goes on (early_drop itself: test/conntrack/linux.test.ts).
import { describe, expect, it } from 'vitest';
import { Topology } from '../../src/topology/topology.js';
import type { Host } from '../../src/netstack/host.js';
import type { OvsBridge } from '../../src/devices/ovs-bridge.js';
import { ms, sec } from '../../src/sim/engine.js';

const H2 = 0x0a000002;

const CT_PIPELINE = [
  'table=0,priority=100,arp,actions=FLOOD',
  'table=0,priority=10,ip,actions=ct(table=1,zone=1)',
  'table=1,priority=100,ct_state=+trk+new,tcp,in_port=1,actions=ct(commit,zone=1),output:2',
  'table=1,priority=90,ct_state=+trk+est,in_port=1,actions=output:2',
  'table=1,priority=90,ct_state=+trk+est,in_port=2,actions=output:1',
  'table=1,priority=0,actions=drop',
].join('\n');

function lab(flows: string, datapath: { flowLimit?: number } = {}): { topo: Topology; br: OvsBridge; h1: Host; h2: Host } {
  const topo = new Topology({ seed: 9 });
  const br = topo.ovsBridge('br0', { flows, datapath });
  const h1 = topo.host('h1', { ip: '10.0.0.1/24' });
  const h2 = topo.host('h2', { ip: '10.0.0.2/24' });
  topo.link([h1, 'eth0'], br.addPort('p1'), { delay: '100us', bandwidth: '1Gbps' });
  topo.link([h2, 'eth0'], br.addPort('p2'), { delay: '100us', bandwidth: '1Gbps' });
  return { topo, br, h1, h2 };
}

describe('the conntrack table full (ct-set-maxconns) under traffic', () => {
  it('the established connection keeps flowing; a new one is forwarded uncommitted, its reply is +inv and dropped: it never connects; conntrack_full counts', () => {
    const { topo, br, h1, h2 } = lab(CT_PIPELINE);
    let got1 = 0, got2 = 0;
    h2.tcp.listen(5001, (c) => { c.onData = (d) => { got1 += d.length; }; });
    h2.tcp.listen(5002, (c) => { c.onData = (d) => { got2 += d.length; }; });
    const c1 = h1.tcp.connect(H2, 5001);
    const tick = { onEvent: (): void => { if (c1.state === 'ESTABLISHED') c1.send(new Uint8Array(2000)); topo.sim.schedule(ms(1), tick); } };
    c1.onConnect = () => tick.onEvent();
    topo.runFor(ms(100));
    expect(br.dp.ct.size).toBe(1);
    // the table is full with the one connection it has
    br.dp.ct.setMaxEntries(1);
    const mid = got1;
    const c2 = h1.tcp.connect(H2, 5002);
    const errors: string[] = [];
    c2.onError = (e) => errors.push(e.errno);
    topo.runFor(sec(5));
    expect(got1 - mid).toBeGreaterThan(5 * 1000 * 2000 * 0.9);
    expect(c1.totalRetrans).toBe(0);
    expect(c2.state).toBe('SYN_SENT');
    expect(got2).toBe(0);
    // each SYN (the first and its retransmissions at 1, 2, 3, 4 s) was refused a commit …
    expect(br.dp.ct.counters.full).toBe(5);
    expect(br.dp.stats.ctRefused).toBe(5);
    expect(br.dp.ct.size).toBe(1);
    // … but forwarded: h2 answered each with a SYN-ACK, which the pipeline dropped (+trk+inv)
    expect(br.port('p2').stats.txPackets).toBeGreaterThan(0);
    // (h2's SYN-ACKs: one per SYN and its own retransmissions), all by the pipeline's drop rule
    const drops = br.drops();
    expect(Object.keys(drops)).toEqual(['of_pipeline']);
    expect(drops['of_pipeline']).toBeGreaterThanOrEqual(5);
    // room again (the limit raised): the next SYN retransmission is committed and the connection completes
    br.dp.ct.setMaxEntries(100);
    topo.runFor(sec(10));
    expect(c2.state).toBe('ESTABLISHED');
    expect(br.dp.ct.size).toBe(2);
    expect(errors).toEqual([]);
  });
});

describe('the megaflow cache at its flow limit under traffic', () => {
  // reading the UDP source port makes it part of every megaflow: one megaflow per client port
  const FLOWS = [
    'priority=100,arp,actions=FLOOD',
    'priority=10,udp,in_port=1,actions=move:NXM_OF_UDP_SRC[]->NXM_NX_REG0[0..15],output:2',
    'priority=10,in_port=2,actions=output:1',
  ].join('\n');

  /** 'flows' UDP flows (client ports) from h1 to h2, 'rounds' datagrams each, round robin, 20 µs apart. */
  function run(flowLimit: number, flows: number, rounds: number) {
    const { topo, br, h1, h2 } = lab(FLOWS, { flowLimit });
    let got = 0, maxSize = 0;
    h2.sockets.udp(9000).onMessage = () => { got++; };
    const socks = Array.from({ length: flows }, (_x, i) => h1.sockets.udp(20000 + i));
    // resolve ARP first
    socks[0]!.send('10.0.0.2', 9000, 'hi');
    topo.runFor(ms(10));
    got = 0;
    const dp = br.dp;
    const before = { rx: dp.stats.rx, hits: dp.stats.emcHits + dp.stats.megaflowHits, missed: dp.stats.missed };
    let k = 0;
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < flows; i++) {
        topo.sim.at(topo.sim.now + 1 + (k++) * 20_000, { onEvent: () => { socks[i]!.send('10.0.0.2', 9000, 'x'); maxSize = Math.max(maxSize, dp.megaflows.size); } });
      }
    }
    topo.runFor(sec(1));
    const rx = dp.stats.rx - before.rx;
    const hits = dp.stats.emcHits + dp.stats.megaflowHits - before.hits;
    return { got, sent: flows * rounds, rx, hitRate: hits / rx, upcalls: dp.stats.missed - before.missed, limitHits: dp.stats.flowLimitHit,
      maxSize, size: dp.megaflows.size, emcUsed: dp.emc.used, emcSize: dp.emc.n, drops: dp.stats.droppedTotal };
  }

  it('every datagram is delivered; the cache stays at the limit; the hit rate falls (0.90 → 0.22)', () => {
    const ample = run(100_000, 400, 10);
    const tight = run(100, 400, 10);
    for (const m of [ample, tight]) {
      expect(m.got).toBe(m.sent);
      expect(m.drops).toBe(0);
      expect(m.emcUsed).toBeLessThanOrEqual(m.emcSize);
    }
    // installed before the measurement: ARP both ways and the first client port's flow (3); then
    // 400 flows fit: one upcall each for the 399 others, then hits
    expect(ample.size).toBe(3 + 399);
    expect(ample.upcalls).toBe(399);
    expect(ample.hitRate).toBeCloseTo(0.9, 2);
    // 100 megaflows at most: 97 more flows got theirs, the others go to userspace with every packet
    expect(tight.maxSize).toBe(100);
    expect(tight.size).toBe(100);
    expect(tight.limitHits).toBe(tight.upcalls - 97);
    expect(tight.hitRate).toBeLessThan(0.3);
    expect(tight.upcalls).toBeGreaterThan(tight.sent * 0.7);
    console.log('[faults] flow limit 100, 400 UDP flows x 10:', JSON.stringify({ hitRate: +tight.hitRate.toFixed(3), upcalls: tight.upcalls, limitHits: tight.limitHits, megaflows: tight.size },
    ), 'ample:', JSON.stringify({ hitRate: +ample.hitRate.toFixed(3), upcalls: ample.upcalls, megaflows: ample.size }));
  });

  it('the revalidator frees the cache of idle flows (max-idle 10 s): the flows active then get their megaflows back', () => {
    const FLOWS_1 = FLOWS;
    const { topo, br, h1, h2 } = lab(FLOWS_1, { flowLimit: 10 });
    let got = 0;
    h2.sockets.udp(9000).onMessage = () => { got++; };
    const old = Array.from({ length: 10 }, (_x, i) => h1.sockets.udp(30000 + i));
    const busy = h1.sockets.udp(31000);
    for (const s of old) s.send('10.0.0.2', 9000, 'o');
    topo.runFor(ms(50));
    expect(br.dp.megaflows.size).toBe(10);
    // the cache is full of flows that go quiet; the busy flow is slow-pathed until they idle out
    const tick = { onEvent: (): void => { busy.send('10.0.0.2', 9000, 'b'); topo.sim.schedule(ms(100), tick); } };
    tick.onEvent();
    topo.runFor(sec(5));
    expect(br.dp.stats.flowLimitHit).toBeGreaterThan(40);
    const limitHits = br.dp.stats.flowLimitHit;
    topo.runFor(sec(10));
    // the old flows idled out at 10 s: the busy one got its megaflow and hits it
    expect(br.dp.megaflows.size).toBeLessThanOrEqual(3);
    const hitsBefore = br.dp.stats.emcHits + br.dp.stats.megaflowHits;
    topo.runFor(sec(2));
    expect(br.dp.stats.flowLimitHit - limitHits).toBeLessThan(60);
    expect(br.dp.stats.emcHits + br.dp.stats.megaflowHits - hitsBefore).toBeGreaterThanOrEqual(19);
    expect(got).toBe(10 + Math.round(17e3 / 100));
  });
});

describe('a Linux router at nf_conntrack_max under traffic', () => {
  it('the established connection keeps flowing; a new connection\'s SYN is dropped ("table full") with the ledger\'s ct-full; room again, it connects', () => {
    const topo = new Topology({ seed: 5 });
    const h1 = topo.host('h1', { ip: '10.0.1.2/24', gw: '10.0.1.1' });
    const h2 = topo.host('h2', { ip: '10.0.2.2/24', gw: '10.0.2.1' });
    const rules = '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n'
      + '-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A FORWARD -p tcp -m conntrack --ctstate NEW -j ACCEPT\nCOMMIT\n';
    const r1 = topo.router('r1', { ifaces: [{ name: 'eth1', addrs: ['10.0.1.1/24'] }, { name: 'eth2', addrs: ['10.0.2.1/24'] }], rules });
    topo.link([h1, 'eth0'], [r1, 'eth1'], { delay: '1ms' });
    topo.link([r1, 'eth2'], [h2, 'eth0'], { delay: '1ms' });
    const ct = r1.ip.ct;
    ct.maxEntries = 1;
    let got1 = 0;
    h2.tcp.listen(5001, (c) => { c.onData = (d) => { got1 += d.length; }; });
    h2.tcp.listen(5002, () => undefined);
    const c1 = h1.tcp.connect(0x0a000202, 5001);
    c1.onConnect = () => c1.send(new Uint8Array(1000));
    topo.runFor(sec(1));
    expect(c1.state).toBe('ESTABLISHED');
    expect(ct.size).toBe(1);
    const before = topo.sim.ledger.drops()['ct-full'] ?? 0;
    const c2 = h1.tcp.connect(0x0a000202, 5002);
    topo.runFor(sec(4));
    // the SYN and its retransmissions (1 s, 3 s) met a full table of one ASSURED entry: dropped
    expect(c2.state).toBe('SYN_SENT');
    expect(ct.stats.drop).toBeGreaterThanOrEqual(2);
    expect((topo.sim.ledger.drops()['ct-full'] ?? 0) - before).toBe(ct.stats.drop);
    // the established one carries on
    c1.send(new Uint8Array(5000));
    topo.runFor(sec(1));
    expect(got1).toBe(6000);
    ct.maxEntries = 0;
    topo.runFor(sec(8));
    expect(c2.state).toBe('ESTABLISHED');
  });
});
