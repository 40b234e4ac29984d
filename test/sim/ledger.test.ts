// The packet ledger (src/sim/ledger.ts): every packet delivered, dropped with a reason, merged,
// in flight or parked — checked here at every event boundary of random traffic over lossy links
// that are cut and restored, through a router, a Linux bridge and ARP that fails; and a device
// that swallows a frame is named by the lost packet's trace id.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Sim, ms, sec } from '../../src/sim/engine.js';
import { Link, Port, type PortOwner } from '../../src/sim/link.js';
import { Ledger, LedgerError } from '../../src/sim/ledger.js';
import { Topology } from '../../src/topology/topology.js';
import type { Host } from '../../src/netstack/host.js';
import { LinuxBridge } from '../../src/devices/linux-bridge.js';

describe('Ledger', () => {
  it('spends the packet in hand or makes a new one; balances; names what is wrong', () => {
    const L = new Ledger();
    // a frame arrives and is forwarded (no new packet), then flooded a second time (a copy)
    L.board();
    expect([L.created, L.inFlight]).toEqual([1, 1]);
    L.inFlight--;
    let h = L.swap(1);
    L.board(); L.board();
    L.restore(h, 7);
    expect([L.created, L.inFlight, L.leaks]).toEqual([2, 2, 0]);
    // one copy is delivered, the other parked then dropped
    L.inFlight -= 2;
    h = L.swap(1); L.deliver(); L.restore(h, 7);
    h = L.swap(1); L.park(); L.restore(h, 7);
    expect(L.check()).toBeNull();
    L.parked--;
    h = L.swap(1); L.drop('neigh-failed'); L.restore(h, 7);
    expect(L.snapshot()).toEqual({ created: 2, delivered: 1, dropped: 1, merged: 0, inFlight: 0, parked: 0, leaks: 0, drops: { 'neigh-failed': 1 } });
    // three fragments arrive: two parked, then merged into the third, which is delivered
    L.board(); L.board(); L.board();
    L.inFlight -= 3;
    h = L.swap(1); L.park(); L.restore(h, 8);
    h = L.swap(1); L.park(); L.restore(h, 9);
    h = L.swap(1); L.settle(2, null); L.deliver(); L.restore(h, 10);
    expect([L.created, L.merged, L.delivered, L.parked]).toEqual([5, 2, 2, 0]);
    expect(L.check()).toBeNull();
    // a receive that did nothing: lost without a word, under its trace id
    h = L.swap(1); L.restore(h, 42);
    expect(L.leaks).toBe(1);
    expect(L.check()).toMatch(/1 packet\(s\) lost without a reason \(trace ids 42\)/);
    expect(() => L.assertBalanced('the probe')).toThrow(LedgerError);
    try { L.assertBalanced(); } catch (e) { expect((e as LedgerError).traceIds).toEqual([42]); expect((e as LedgerError).code).toBe('LEDGER_IMBALANCE'); }
  });

  it('a device that swallows a frame fails the check with that packet\'s trace id (tracing off)', () => {
    // (made outside the test suite's registry, which would fail this test for the leak it is about)
    const hook = Sim.onCreate;
    Sim.onCreate = null;
    try {
      const sim = new Sim();
      sim.tracer.tagIds(true);
      const sink: PortOwner = { name: 'sink', sim, receive: (_p, f) => { if (f[0] !== 0xee) sim.ledger.deliver(); } };
      const src: PortOwner = { name: 'src', sim, sink: true, receive: () => undefined };
      const a = new Port(src, 'eth0'), b = new Port(sink, 'eth0');
      new Link(sim, a, b, { delay: 10 });
      for (let i = 0; i < 4; i++) { const f = new Uint8Array(60); f[0] = i === 2 ? 0xee : 0; a.send(f); }
      sim.run();
      expect(sim.ledger.leaks).toBe(1);
      // the third packet sent (ids 1, 2, 3 … in order)
      expect(sim.ledger.leakIds).toEqual([3]);
      expect(() => sim.ledger.assertBalanced()).toThrow(/trace ids 3/);
    } finally { Sim.onCreate = hook; }
  });
});

/** h1 — br (a Linux bridge, with h3) — r1 — h2: lossy links (h1's with 'loss0'), one cut and restored. */
function lab(loss: number, seed: number, loss0 = loss): { topo: Topology; h1: Host; h2: Host; h3: Host; links: Link[] } {
  const topo = new Topology({ seed });
  const h1 = topo.host('h1', { ip: '10.0.1.2/24', gw: '10.0.1.1' });
  const h3 = topo.host('h3', { ip: '10.0.1.3/24', gw: '10.0.1.1' });
  const h2 = topo.host('h2', { ip: '10.0.2.2/24', gw: '10.0.2.1' });
  const r1 = topo.router('r1', { ifaces: [{ name: 'eth1', addrs: ['10.0.1.1/24'] }, { name: 'eth2', addrs: ['10.0.2.1/24'] }] });
  const br = topo.add(new LinuxBridge(topo.sim, 'br0'));
  const links = [
    topo.link([h1, 'eth0'], br.addPort('p1'), { delay: '50us', loss: loss0 }),
    topo.link([h3, 'eth0'], br.addPort('p3'), { delay: '50us' }),
    topo.link(br.addPort('p0'), [r1, 'eth1'], { delay: '50us', bandwidth: '100Mbps', queue: '16KB' }),
    topo.link([r1, 'eth2'], [h2, 'eth0'], { delay: '200us', loss, mtu: 1400, a: { mtu: 1400 }, b: { mtu: 1400 } }),
  ];
  return { topo, h1, h2, h3, links };
}

describe('the ledger balances at every event of random traffic', () => {
  // destinations: h2 (routed), h3 (bridged), r1, nobody on h1's subnet (ARP fails), nobody routable
  const DSTS = ['10.0.2.2', '10.0.1.3', '10.0.1.1', '10.0.1.77', '10.9.9.9'];
  it('UDP of every size (fragments), ARP that fails, loss, a queue that overflows, a cut mid-flight', () => {
    fc.assert(fc.property(
      fc.array(fc.record({ at: fc.integer({ min: 0, max: 30_000_000 }), from: fc.constantFrom(0, 1, 2), dst: fc.integer({ min: 0, max: 4 }), size: fc.integer({ min: 1, max: 4000 }) }), { minLength: 1, maxLength: 60 }),
      fc.double({ min: 0, max: 0.3, noNaN: true }), fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 0, max: 3 }),
      (sends, loss, seed, cutLink) => {
        const { topo, h1, h2, h3, links } = lab(loss, seed);
        const hosts = [h1, h2, h3];
        for (const h of hosts) h.sockets.udp(7000).onMessage = () => undefined;
        // (at least one packet crosses the network: a host's datagram to itself never enters it)
        for (const s of [{ at: 0, from: 0, dst: 0, size: 100 }, ...sends]) {
          topo.sim.at(s.at, { onEvent: () => { hosts[s.from]!.sockets.udp(0).send(DSTS[s.dst]!, 7000, new Uint8Array(s.size)); } });
        }
        links[cutLink]!.cut(ms(10));
        links[cutLink]!.restore(ms(20));
        const L = topo.sim.ledger;
        let sawInFlight = false;
        // every event boundary until ARP has given up on everything (3 s) and reassembly timed out (30 s)
        while (topo.sim.nextTime <= sec(40) && topo.sim.step()) {
          const w = L.check();
          if (w !== null) throw new Error(`at ${topo.sim.now} ns: ${w}`);
          if (L.inFlight > 0 || L.parked > 0) sawInFlight = true;
        }
        expect(L.created).toBeGreaterThan(0);
        expect(sawInFlight).toBe(true);
        expect(L.created).toBe(L.delivered + L.dropped + L.merged + L.inFlight + L.parked);
      },
    ), { numRuns: 60 });
  });

  it('where they went: fragments merged, ARP failures, losses and a cut, each counted by reason', () => {
    const { topo, h1, h2, links } = lab(0.1, 3, 0);
    h2.sockets.udp(7000).onMessage = () => undefined;
    const s = h1.sockets.udp(0);
    for (let i = 0; i < 200; i++) topo.sim.at(ms(i), { onEvent: () => { s.send('10.0.2.2', 7000, new Uint8Array(3000)); if (i % 10 === 0) s.send('10.0.1.77', 7000, new Uint8Array(10)); } });
    links[2]!.cut(ms(100));
    links[2]!.restore(ms(105));
    topo.runFor(sec(40));
    const L = topo.sim.ledger;
    expect(L.check()).toBeNull();
    const d = L.drops();
    expect(d['link-loss']).toBeGreaterThan(0);
    expect(d['link-down']).toBeGreaterThan(0);
    // the 20 datagrams to 10.0.1.77 waited for ARP, which failed: each dropped (and answered: host unreachable)
    expect(d['neigh-failed']).toBe(20);
    // datagrams of 3000 bytes leave h1 in three fragments, the big ones split again for the 1400 MTU: merged at h2
    expect(L.merged).toBeGreaterThan(0);
    // a datagram with a fragment lost never completes: its other fragments time out
    expect(d['reasm-timeout']).toBeGreaterThan(0);
    expect([L.inFlight, L.parked]).toEqual([0, 0]);
  });
});
