// What a host makes on first use (netstack/host.ts "Memory", route.ts's IPv6 FIB): the same FIB,
// the same answers and the same packets as a host that made everything at once.
import { describe, expect, it } from 'vitest';
import { Sim } from '../../src/sim/engine.js';
import { Link } from '../../src/sim/link.js';
import { Host, type HostOptions } from '../../src/netstack/host.js';
import { ping } from '../../src/netstack/tools.js';
import { RoutingTable } from '../../src/netstack/route.js';

const POD: HostOptions = {
  ifaces: [{ name: 'eth0', addrs: ['10.0.1.2/24'] }, { name: 'eth1', addrs: ['10.0.9.2/24', '2001:db8:9::2/64'] }],
  routes: [{ dst: 'default', via: '10.0.1.1', dev: 'eth0' }, { dst: '10.7.0.0/16', via: '10.0.9.1', dev: 'eth1' }],
};

/** h — r (10.0.1.1), 1 ms; h built with 'lazyStack' or not. */
function pair(lazyStack: boolean): { sim: Sim; h: Host; r: Host } {
  const sim = new Sim({ seed: 3 });
  const h = new Host(sim, 'h', { ...POD, lazyStack });
  const r = new Host(sim, 'r', { ifaces: [{ name: 'eth0', addrs: ['10.0.1.1/24'] }] });
  new Link(sim, h.ports.get('eth0')!, r.ports.get('eth0')!, { delay: '1ms' });
  return { sim, h, r };
}

describe('a host with lazyStack', () => {
  it('builds the same FIB, IPv4 and IPv6, when first read', () => {
    const eager = pair(false).h, lazy = pair(true).h;
    for (const args of [['show'], ['show', 'table', 'local'], ['get', '10.7.1.1'], ['get', '8.8.8.8']]) {
      expect(lazy.fib.ipRoute(args)).toEqual(eager.fib.ipRoute(args));
    }
    for (const args of [['show'], ['show', 'table', 'local']]) expect(lazy.fib.ipRoute(args, 6)).toEqual(eager.fib.ipRoute(args, 6));
  });

  it('answers pings the same way when its first packet arrives', async () => {
    const a = pair(false), b = pair(true);
    const ra = await ping(a.r, '10.0.1.2', { count: 2 });
    const rb = await ping(b.r, '10.0.1.2', { count: 2 });
    expect(rb.text).toEqual(ra.text);
    expect(rb.received).toBe(2);
    expect(b.h.stats).toEqual(a.h.stats);
  });

  it('sends the same way from a socket', async () => {
    const a = pair(false), b = pair(true);
    const [pa, pb] = [await ping(a.h, '10.0.1.1', { count: 1 }), await ping(b.h, '10.0.1.1', { count: 1 })];
    expect(pb.text).toEqual(pa.text);
  });
});

describe('RoutingTable: the IPv6 FIB made on first use', () => {
  it('holds the kernel routes of devices and addresses added before, in their order', () => {
    const build = (readEarly: boolean): RoutingTable => {
      const f = new RoutingTable();
      if (readEarly) void f.fib6;
      f.addLoopback('lo');
      f.addDevice('eth0');
      f.addConnected('eth0', 'fe80::1/64');
      f.addDevice('eth1');
      f.addConnected('eth1', '10.0.0.1/24');
      f.addConnected('eth1', 'fe80::2/64');
      return f;
    };
    const early = build(true), late = build(false);
    for (const args of [['show'], ['show', 'table', 'local'], ['show', 'table', 'all']]) expect(late.ipRoute(args, 6)).toEqual(early.ipRoute(args, 6));
    expect(late.fib6.size).toBe(early.fib6.size);
    expect(late.fib6.version).toBe(early.fib6.version);
  });
});
