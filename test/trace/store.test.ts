import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Sim } from '../../src/sim/engine.js';
import { Link, Port, type PortOwner } from '../../src/sim/link.js';
import { Topology } from '../../src/topology/topology.js';
import { buildTopology, loadTopology } from '../../src/topology/file.js';
import { buildOverlay } from '../../src/topology/demo.js';
import { macText } from '../../src/netstack/neigh.js';
import type { TraceEvent } from '../../src/sim/tracer.js';
import { TraceStore } from '../../src/trace/store.js';
import { FilterError } from '../../src/trace/filter.js';

function routed(): Topology {
  const t = new Topology({ seed: 7 });
  const a = t.host('a', { ip: '10.0.1.2/24', gw: '10.0.1.1' }), b = t.host('b', { ip: '10.0.2.2/24', gw: '10.0.2.1' });
  const r = t.router('r');
  t.link(a, r, { delay: '10us', b: { iface: 'eth1', addr: '10.0.1.1/24' } });
  t.link(b, r, { delay: '10us', b: { iface: 'eth2', addr: '10.0.2.1/24' } });
  return t;
}

/** A host's eth0 MAC as text. */
function macOf(t: Topology, host: string): string { return macText(t.hostNamed(host).mac('eth0')!); }

describe('packet traces', () => {
  it('costs nothing until someone subscribes, then follows a frame across hops with one id', () => {
    const sim = new Sim();
    // a relay: what arrives on one port leaves by the other, rewritten (as a router or a NAT would)
    class Relay implements PortOwner {
      readonly a: Port; readonly b: Port;
      constructor(readonly name: string) { this.a = new Port(this, 'a'); this.b = new Port(this, 'b'); }
      receive(port: Port, frame: Uint8Array): void { frame[0] = frame[0]! + 1; (port === this.a ? this.b : this.a).send(frame); }
    }
    const end = { name: 'end', sink: true, got: [] as Uint8Array[], receive(_p: Port, f: Uint8Array): void { this.got.push(f); } };
    const src = { name: 'src', sink: true, receive(): void { /* nothing comes back */ } };
    const s = new Port(src, 'eth0'), r1 = new Relay('r1'), r2 = new Relay('r2'), e = new Port(end, 'eth0');
    new Link(sim, s, r1.a, { delay: 10 }); new Link(sim, r1.b, r2.a, { delay: 10 }); new Link(sim, r2.b, e, { delay: 10, loss: 0 });
    expect(sim.tracer.on).toBe(false);
    s.send(new Uint8Array(60));
    sim.run();
    expect(sim.tracer.current).toBe(0);

    const store = new TraceStore();
    const detach = store.attach(sim);
    expect(sim.tracer.on).toBe(true);
    for (let i = 0; i < 2; i++) { sim.call(i * 100, () => s.send(new Uint8Array(60))); }
    sim.run();
    expect(store.size).toBe(2);
    const [p1, p2] = store.all();
    expect(p1!.events.map((x) => `${x.kind} ${x.node}:${x.port} ${x.frame![0]}`)).toEqual([
      'tx src:eth0 0', 'rx r1:a 0', 'tx r1:b 1', 'rx r2:a 1', 'tx r2:b 2', 'rx end:eth0 2']);
    expect(p1!.events.map((x) => x.t)).toEqual([30, 40, 40, 50, 50, 60]);
    expect(p2!.id).not.toBe(p1!.id);
    expect(p2!.nodes).toEqual(['src', 'r1', 'r2', 'end']);
    detach();
    expect(sim.tracer.on).toBe(false);
  });

  it('follows a ping across a router: ARP, the request and the reply each a packet of its own', async () => {
    const t = routed();
    const store = new TraceStore();
    store.attach(t.sim);
    const res = await t.ping('a', '10.0.2.2', { count: 1 });
    expect(res.received).toBe(1);
    const [req] = store.query('icmp.type == 8');
    expect(req!.events.map((e) => `${e.kind} ${e.node}:${e.port}`)).toEqual(
      ['route a:eth0', 'tx a:eth0', 'rx r:eth1', 'route r:eth2', 'tx r:eth2', 'rx b:eth0', 'deliver b:eth0']);
    // the bytes after each step: the router's copy has TTL 63
    expect(req!.events.map((e) => e.frame![22])).toEqual([64, 64, 64, 63, 63, 63, 63]);
    // it waited at a and at r for ARP: sent later than it was made, under its own id
    expect(req!.events[1]!.t).toBeGreaterThan(req!.events[0]!.t);
    const [rep] = store.query('icmp.type == 0');
    expect(rep!.id).not.toBe(req!.id);
    expect(rep!.nodes).toEqual(['b', 'r', 'a']);
    // two ARP exchanges, a request and a reply each
    expect(store.query('arp.opcode == 1').length).toBe(2);
    expect(store.query('arp.opcode == 2').length).toBe(2);
    expect(store.query('arp.opcode == 1 && node == r')[0]!.events.find((e) => e.kind === 'arp')!.text).toBe('ARP, Request who-has 10.0.1.1 tell 10.0.1.2');
    expect(store.query('node == "r" && icmp').length).toBe(2);
    expect(store.query('delivered').length).toBe(2);
  });

  it('names the drop: TTL, no socket, a closed port — and the ICMP error is a packet of its own', async () => {
    const t = routed();
    const store = new TraceStore();
    store.attach(t.sim);
    await t.ping('a', '10.0.2.2', { count: 1, ttl: 1 });
    const [dead] = store.query('drop.reason == "ttl-exceeded"');
    expect(dead!.dropped!.node).toBe('r');
    expect(dead!.delivered).toBe(false);
    expect(store.query('icmp.type == 11 && !drop').map((p) => p.nodes)).toEqual([['r', 'a']]);
    t.hostNamed('a').sockets.udp(5000).send('10.0.2.2', 9, 'x');
    t.runFor(1e6);
    const [udp] = store.query('udp.dstport == 9');
    expect(udp!.dropped!.reason).toBe('no-socket');
    expect(udp!.dropped!.node).toBe('b');
    expect(store.query('icmp.type == 3 && icmp.code == 3').length).toBe(1);
  });

  it('keeps one id across a VXLAN overlay of OVS bridges: upcall, encapsulation, the underlay, decapsulation', async () => {
    const t = buildTopology(loadTopology(readFileSync('examples/ovs-vxlan-overlay.yaml', 'utf8')));
    const store = new TraceStore();
    store.attach(t.sim);
    await t.ping('vm1', '10.10.0.2', { count: 2 });
    const [first, second] = store.query('icmp.type == 8 && vxlan.vni == 100');
    expect(first!.events.map((e) => `${e.kind} ${e.node}`)).toEqual([
      'route vm1', 'tx vm1', 'rx hv1/br-int', 'flow hv1/br-int', 'encap hv1', 'route hv1', 'tx hv1', 'rx underlay-r', 'route underlay-r', 'tx underlay-r',
      'rx hv2', 'decap hv2', 'flow hv2/br-int', 'tx hv2/br-int', 'rx vm2', 'deliver vm2']);
    // the first packet of a flow is an upcall through the tables, the next a cache hit
    expect(first!.events.filter((e) => e.kind === 'flow').map((e) => e.fields!['tier'])).toEqual(['upcall', 'upcall']);
    expect(second!.events.filter((e) => e.kind === 'flow').map((e) => e.fields!['tier'])).toEqual(['megaflow', 'megaflow']);
    expect(first!.events.find((e) => e.kind === 'encap')!.fields).toMatchObject({ vni: 100, src: '192.168.1.2', dst: '192.168.2.2', dport: 4789 });
    // a filter on the underlay's fields finds the VMs' packet: its encapsulated bytes are one of its versions
    expect(store.query('ip.dst == 192.168.2.2 && ip.dst == 10.10.0.2 && node == "underlay-r"').map((p) => p.id)).toEqual([first!.id, second!.id]);
  });

  it('shows the connection state, the iptables rule and the NAT a packet met at a NAT gateway', async () => {
    const t = buildTopology(loadTopology(readFileSync('examples/nat-gateway.yaml', 'utf8')));
    const store = new TraceStore();
    store.attach(t.sim);
    await t.ping('internet', '203.0.113.50', { count: 1 });
    // found by its address before DNAT and by its address after
    const [req] = store.query('icmp.type == 8 && ip.dst == 203.0.113.50 && ip.dst == 10.0.1.10');
    const at = req!.events.filter((e) => e.node === 'nat1').map((e) => `${e.kind} ${e.text}`);
    expect(at).toEqual([
      'rx nat1:eth0 received 98 bytes', 'ct ct_state NEW',
      'rule nat PREROUTING: DNAT (-A PREROUTING -d 203.0.113.50/32 -j DNAT --to-destination 10.0.1.10)', 'rule nat POSTROUTING: ACCEPT',
      'nat DNAT: ICMP 203.0.113.100 > 203.0.113.50 → ICMP 203.0.113.100 > 10.0.1.10', 'route 10.0.1.10 dev eth1', 'tx nat1:eth1 sent 98 bytes']);
    // the reply is un-NATed by conntrack: no rule, an ESTABLISHED connection, the source rewritten back
    const [rep] = store.query('icmp.type == 0 && hop.kind == "nat"');
    expect(rep!.events.filter((e) => e.kind === 'ct' || e.kind === 'nat').map((e) => e.text)).toEqual([
      'ct_state ESTABLISHED', 'SNAT: ICMP 10.0.1.10 > 203.0.113.100 → ICMP 203.0.113.50 > 203.0.113.100']);
  });

  it('samples one packet in n: the others carry ids and leave no record', async () => {
    const t = routed();
    const store = new TraceStore();
    store.attach(t.sim);
    t.sim.tracer.setSample(4);
    await t.ping('a', '10.0.2.2', { count: 12, interval: 0.01 });
    const ids = store.all().map((p) => p.id);
    expect(ids.length).toBeGreaterThan(3);
    expect(ids.every((id) => id % 4 === 0)).toBe(true);
    // a sampled echo request is whole: every hop
    for (const p of store.query('icmp.type == 8')) expect(p.events.map((e) => e.kind)).toEqual(['route', 'tx', 'rx', 'route', 'tx', 'rx', 'deliver']);
    expect(() => t.sim.tracer.setSample(0)).toThrow(RangeError);
  });

  it('follows a packet round a routing loop until its TTL runs out, never a hang', async () => {
    const t = new Topology({ seed: 3 });
    const h = t.host('h', { ip: '10.0.1.2/24', gw: '10.0.1.1' });
    const r1 = t.router('r1'), r2 = t.router('r2');
    t.link(h, r1, { delay: '10us', b: { iface: 'eth1', addr: '10.0.1.1/24' } });
    t.link(r1, r2, { delay: '10us', a: { iface: 'eth2', addr: '10.0.9.1/24' }, b: { iface: 'eth1', addr: '10.0.9.2/24' } });
    // each router's default route points at the other
    r1.addRoute({ dst: 'default', via: '10.0.9.2', dev: 'eth2' });
    r2.addRoute({ dst: 'default', via: '10.0.9.1', dev: 'eth1' });
    const store = new TraceStore();
    store.attach(t.sim);
    const res = await t.ping(h, '172.16.0.1', { count: 1, ttl: 8 });
    expect(res.text).toContain('Time to live exceeded');
    const [p] = store.query('icmp.type == 8');
    // 8 hops: r1 r2 r1 r2 … until the TTL is gone, then the drop where it ran out
    const routes = p!.events.filter((e) => e.kind === 'route' && e.node !== 'h').map((e) => e.node);
    expect(routes).toEqual(['r1', 'r2', 'r1', 'r2', 'r1', 'r2', 'r1']);
    expect(p!.dropped).toMatchObject({ node: 'r2', reason: 'ttl-exceeded' });
    expect(p!.events.filter((e) => e.kind === 'route').map((e) => e.frame![22])).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);
  });

  it('shows a Linux bridge forwarding on its FDB, and flooding what it has not learnt', async () => {
    const { net } = buildOverlay();
    const store = new TraceStore();
    store.attach(net.sim);
    await net.ping('vm1a', '10.10.0.3', { count: 1 });
    // the ARP request is flooded by hv1's bridge (to vm1b and the VTEP); the echo request forwarded to the VTEP's port
    const [who] = store.query('arp.opcode == 1 && node == "hv1/br0"');
    expect(who!.events.find((e) => e.kind === 'fdb' && e.node === 'hv1/br0')!.text).toBe('flood: broadcast ff:ff:ff:ff:ff:ff');
    const [req] = store.query('icmp.type == 8');
    const fdb = req!.events.filter((e) => e.kind === 'fdb').map((e) => `${e.node} ${e.text}`);
    expect(fdb).toEqual([`hv1/br0 forward: ${macOf(net, 'vm2a')} is on vxlan100`, `hv2/br0 forward: ${macOf(net, 'vm2a')} is on tapa`]);
  });

  it('follows an IPv6 packet: routes with the hop limit, and the drop where it runs out', async () => {
    const t = new Topology({ seed: 5 });
    const a = t.host('a', { ip: '2001:db8:1::2/64', gw: '2001:db8:1::1' }), b = t.host('b', { ip: '2001:db8:2::2/64', gw: '2001:db8:2::1' });
    const r = t.router('r');
    t.link(a, r, { delay: '10us', b: { iface: 'eth1', addr: '2001:db8:1::1/64' } });
    t.link(b, r, { delay: '10us', b: { iface: 'eth2', addr: '2001:db8:2::1/64' } });
    const store = new TraceStore();
    store.attach(t.sim);
    expect((await t.ping(a, '2001:db8:2::2', { count: 1 })).received).toBe(1);
    const [req] = store.query('icmpv6.type == 128 && ipv6.dst == 2001:db8:2::2');
    expect(req!.events.filter((e) => e.kind === 'route').map((e) => `${e.node} ${e.text} hlim ${e.frame![21]}`)).toEqual(['r 2001:db8:2::2 dev eth2 hlim 63']);
    // neighbour discovery, as tcpdump prints it: r asks for b, b answers (each a packet of its own)
    const nd = store.query('icmpv6.type == 135 || icmpv6.type == 136').flatMap((p) => p.events.filter((e) => e.kind === 'arp').map((e) => `${e.node} ${e.text}`));
    expect(nd).toContain('b ICMP6, neighbor solicitation, who has 2001:db8:2::2');
    expect(nd).toContain('r ICMP6, neighbor advertisement, tgt is 2001:db8:2::2');
    await t.ping(a, '2001:db8:2::2', { count: 1, ttl: 1 });
    const [dead] = store.query('drop.reason == "ttl-exceeded"');
    expect(dead!.dropped).toMatchObject({ node: 'r', text: 'ttl-exceeded: hop limit 1' });
  });

  it('files link drops with their reason', () => {
    const sim = new Sim();
    const sink = { name: 'b', receive(): void {} };
    const a = new Port({ name: 'a', receive(): void {} }, 'eth0'), b = new Port(sink, 'eth0');
    const l = new Link(sim, a, b, { mtu: 100, delay: 5 });
    const store = new TraceStore();
    store.attach(sim);
    a.send(new Uint8Array(200));
    a.send(new Uint8Array(60));
    l.cut(2);
    sim.run();
    expect(store.query('drop').map((p) => p.dropped!.reason)).toEqual(['link-mtu', 'link-down']);
    expect(store.query('drop.reason == "link-mtu" && node == a').length).toBe(1);
    expect(store.query('!drop').length).toBe(0);
  });

  it('files drops with their reason, and filters find them', () => {
    const sim = new Sim();
    const store = new TraceStore();
    store.attach(sim);
    const seen: TraceEvent[] = [];
    sim.tracer.subscribe((e) => seen.push(e));
    sim.tracer.emit('x', 'p', 'drop', 'x:p: the link was cut', { reason: 'link-down' });
    expect(store.query('drop && drop.reason == "link-down" && node == x').length).toBe(1);
    expect(store.query('!drop').length).toBe(0);
    expect(seen[0]!.reason).toBe('link-down');
  });

  it('refuses a bad filter with its column', () => {
    const store = new TraceStore();
    expect(() => store.query('node == ')).toThrow(FilterError);
    try { store.query('drop.reasn == x'); } catch (e) { expect((e as FilterError).column).toBe(1); }
  });

  it('stays within its packet and byte bounds whatever arrives', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 20 }), fc.integer({ min: 400, max: 8000 }),
      fc.array(fc.record({ id: fc.integer({ min: 1, max: 60 }), len: fc.integer({ min: 0, max: 1500 }) }), { maxLength: 200 }),
      (maxPackets, maxBytes, evs) => {
        const store = new TraceStore({ maxPackets, maxBytes });
        let seq = 0, lastTooBig = false;
        for (const e of evs) {
          const tooBig = store.tooBig;
          // frames of the same packet alike or not: references and copies both
          const frame = new Uint8Array(e.len).fill(e.len % 3);
          store.add({ trace: e.id, seq: ++seq, t: seq, node: 'n', port: seq % 2 ? 'p' : null, kind: 'tx', text: `r${seq}`, fields: seq % 3 ? { seq, s: 'é' } : null, reason: null, frame });
          lastTooBig = store.tooBig > tooBig;
          expect(store.size).toBeLessThanOrEqual(maxPackets);
          expect(store.bytes).toBeLessThanOrEqual(maxBytes);
          expect(store.bytes).toBe(store.all().reduce((n, p) => n + p.bytes, 0));
        }
        // the packet of the last record goes last: kept, unless that record alone is over the byte bound
        const last = evs[evs.length - 1];
        if (last !== undefined) {
          if (!lastTooBig) {
            const p = store.get(last.id)!;
            const r = p.events.at(-1)!;
            expect([r.seq, r.text, r.frame!.length, r.frame!.every((x) => x === last.len % 3)]).toEqual([seq, `r${seq}`, last.len, true]);
            expect(r.fields).toEqual(seq % 3 ? { seq, s: 'é' } : null);
          } else {
            // refused whole (its worst-case encoding, 3 bytes a character, is over the bound), never half-written
            expect(last.len + 48).toBeGreaterThan(maxBytes - 64);
            expect(store.get(last.id)?.events.at(-1)?.seq).not.toBe(seq);
          }
        }
        // every packet kept reads back in order of its records
        for (const p of store.all()) expect(p.events.map((e) => e.seq)).toEqual([...p.events.map((e) => e.seq)].sort((a, b) => a - b));
      }), { numRuns: 300 });
  });
});
