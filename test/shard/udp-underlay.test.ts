/**
 * src/shard/udp-underlay.ts and udp-realtime.ts: emulated nodes exchanging REAL VXLAN datagrams.
 *
 * Two emulated nodes in one process but in two separate Sims/Topologies, each
 *
 *     vm (10.10.0.N/24) ── br0 ── vxlan100 (Vtep, VNI 100) ── hv eth0 192.168.0.N/24 ── UdpUnderlay (127.0.0.1:0)
 *
 * with its own UdpUnderlay and RealTimeClock; the peer maps point at each other's real port.
 * Checked: a ping between the VMs goes across the loopback as real datagrams, both ledgers
 * balance; bad datagrams from raw dgram sockets (random bytes, no I flag, an unknown peer, an
 * unknown VNI) are dropped and counted with their reasons and the nodes keep serving; the
 * frames the host sends that are not for a peer's tunnel port are dropped with reasons; the
 * proxy ARP answer; option errors; the clock's pacing and slipping on a hand-driven wall clock;
 * the same over Geneve between two OVS bridges' tunnel ports (bad versions, options beyond the
 * datagram, a key no tunnel port takes).
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { Topology } from '../../src/topology/topology.js';
import { LinuxBridge } from '../../src/devices/linux-bridge.js';
import { Vtep } from '../../src/devices/vtep.js';
import type { OvsBridge } from '../../src/devices/ovs-bridge.js';
import type { Host } from '../../src/netstack/host.js';
import { startPing, type PingResult } from '../../src/netstack/tools.js';
import { Link, Port, type PortOwner } from '../../src/sim/link.js';
import { Sim } from '../../src/sim/engine.js';
import { Mulberry32 } from '../../src/rng.js';
import { FrameBuilder } from '../../src/wire/builder.js';
import { UdpUnderlay, type UdpUnderlayOptions } from '../../src/shard/udp-underlay.js';
import { RealTimeClock } from '../../src/shard/udp-realtime.js';

interface Node { net: Topology; hv: Host; vm: Host; vtep: Vtep; u: UdpUnderlay; clock: RealTimeClock }

const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const c of open.splice(0).reverse()) await c.close();
});

/** Node 'i' (1 or 2) of the overlay; its VTEP's remote is node 'peer'. */
function node(i: number, peer: number, extra: Partial<UdpUnderlayOptions> = {}): Node {
  const net = new Topology({ seed: 7 + i });
  // every MAC given: each Sim hands out the same sequence (02:00:00:00:00:01, …), and these two share an L2 overlay
  const hv = net.host(`hv${i}`, { ifaces: [{ name: 'eth0', addrs: [`192.168.0.${i}/24`], mac: `02:0${i}:00:00:00:01` }] });
  const br = net.add(new LinuxBridge(net.sim, `hv${i}/br0`, { mac: `02:0${i}:00:00:0b:00` }));
  const vtep = net.add(new Vtep(hv, { mac: `02:0${i}:00:00:01:00`, vni: 100, local: `192.168.0.${i}`, remotes: [`192.168.0.${peer}`] }));
  net.link(vtep, br, { b: { iface: 'vxlan100' } });
  const vm = net.host(`vm${i}`, { ifaces: [{ name: 'eth0', addrs: [`10.10.0.${i}/24`], mac: `02:0${i}:00:00:02:01` }] });
  net.link(vm, br, { delay: '20us', b: { iface: 'tap0' } });
  const clock = new RealTimeClock(net.sim);
  const u = net.add(new UdpUnderlay(hv, { localIp: `192.168.0.${i}`, bind: { address: '127.0.0.1', port: 0 }, clock, ...extra }));
  net.link(hv, u, { delay: '10us' });
  open.push({ close: () => clock.stop() }, u);
  return { net, hv, vm, vtep, u, clock };
}

async function pair(): Promise<[Node, Node]> {
  const a = node(1, 2), b = node(2, 1);
  const [aa, ba] = [await a.u.open(), await b.u.open()];
  a.u.addPeer('192.168.0.2', ba);
  b.u.addPeer('192.168.0.1', aa);
  a.clock.start();
  b.clock.start();
  return [a, b];
}

function pingAcross(from: Node, dst: string, count: number): Promise<PingResult> {
  return new Promise((resolve) => { startPing(from.vm, dst, { count, interval: 0.02, timeout: 3 }, resolve); });
}

/** Wait (wall time, at most 'ms') until 'cond' holds; false if it never did. */
async function until(cond: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 2));
  }
  return true;
}

function rawSocket(): Promise<Socket> {
  const s = createSocket('udp4');
  open.push(s);
  return new Promise((r) => s.bind(0, '127.0.0.1', () => r(s)));
}

function send(s: Socket, to: { address: string; port: number }, bytes: Uint8Array): void {
  s.send(bytes, to.port, to.address);
}

describe('UdpUnderlay between two Sims over loopback', () => {
  it('carries a ping between VMs on two nodes as real VXLAN datagrams; both ledgers balance', async () => {
    const [a, b] = await pair();
    const r = await pingAcross(a, '10.10.0.2', 3);
    expect(r.received, r.text).toBe(3);
    expect(r.replies.map((x) => x.from)).toEqual(['10.10.0.2', '10.10.0.2', '10.10.0.2']);
    // both directions went through the sockets: ARP (flooded to the remote) and 3 echo each way
    expect(a.u.stats.txDatagrams).toBeGreaterThanOrEqual(4);
    expect(b.u.stats.rxDatagrams).toBe(a.u.stats.txDatagrams);
    expect(await until(() => a.u.stats.rxDatagrams === b.u.stats.txDatagrams)).toBe(true);
    expect(a.u.stats.arpReplies).toBe(1); // hv1 ARPed for 192.168.0.2 once: the underlay answered
    expect(a.vtep.stats.txPackets).toBe(a.u.stats.txDatagrams);
    expect(b.vtep.stats.rxPackets).toBe(b.u.stats.rxDatagrams);
    // the remote VM's MAC was learned at the emulated underlay address, not the real one
    expect(a.vtep.fdbShow()).toContain('dst 192.168.0.2');
    for (const n of [a, b]) {
      expect(n.u.stats.drops.unknown_peer + n.u.stats.drops.bad_header).toBe(0);
      expect(n.net.sim.ledger.check()).toBeNull();
      expect(n.net.sim.ledger.created).toBeGreaterThan(0);
    }
    // what one sent is what the other took in, datagram for datagram
    expect(a.u.stats.txBytes).toBe(b.u.stats.rxBytes);
  });

  it('drops and counts bad datagrams with their reasons, and keeps serving', async () => {
    const [a, b] = await pair();
    const target = a.u.address;
    const known = await rawSocket(), stranger = await rawSocket();
    // a second peer at 127.0.0.1: datagrams are matched by address and port, no single peer owns the address
    a.u.addPeer('192.168.0.9', { address: '127.0.0.1', port: known.address().port });
    const rng = new Mulberry32(99);
    const RANDOM = 40;
    let injectedRandom = 0;
    for (let i = 0; i < RANDOM; i++) {
      const d = new Uint8Array((rng.nextI32() >>> 0) % 80);
      for (let j = 0; j < d.length; j++) d[j] = rng.nextI32() & 0xff;
      if (d.length >= 8 && (d[0]! & 0x08) !== 0) injectedRandom++;
      send(known, target, d);
    }
    const inner = new FrameBuilder().eth({ src: '02:00:00:00:99:01', dst: 'ff:ff:ff:ff:ff:ff' }).ipv4({ src: '10.10.0.99', dst: '10.10.0.1' })
      .icmp({ type: 8 }).build();
    const vxlan = (vni: number, flags = 0x08): Uint8Array => {
      const h = new Uint8Array(8 + inner.length);
      h[0] = flags; h[4] = vni >> 16; h[5] = (vni >> 8) & 0xff; h[6] = vni & 0xff;
      h.set(inner, 8);
      return h;
    };
    send(known, target, vxlan(100, 0x00)); // no I flag
    send(known, target, vxlan(999)); // a VNI no device has
    send(stranger, target, vxlan(100)); // not a peer
    const total = RANDOM + 3;
    const st = a.u.stats;
    expect(await until(() => st.drops.bad_header + st.drops.unknown_peer + st.rxDatagrams === total)).toBe(true);
    expect(st.drops.unknown_peer).toBe(1);
    expect(st.drops.bad_header).toBe(RANDOM - injectedRandom + 1);
    expect(st.rxDatagrams).toBe(injectedRandom + 1);
    expect(st.errors).toBe(0);
    // the VTEP's socket reports the unknown VNIs of what went in (the random ones too, unless one hit VNI 100)
    expect(await until(() => a.net.sim.now > 0 && a.vtep.socketDrops.vni_not_found >= 1)).toBe(true);
    const vtepSaw = a.vtep.socketDrops.vni_not_found + a.vtep.stats.rxPackets + a.vtep.stats.rxErrors;
    expect(vtepSaw).toBe(st.rxDatagrams);
    // the ledger names the reasons
    const L = a.net.sim.ledger;
    expect(L.check()).toBeNull();
    expect(L.dropped).toBeGreaterThanOrEqual(RANDOM - injectedRandom + 3);
    // still serving
    const r = await pingAcross(b, '10.10.0.1', 2);
    expect(r.received, r.text).toBe(2);
    expect(a.net.sim.ledger.check()).toBeNull();
    expect(b.net.sim.ledger.check()).toBeNull();
  });
});

describe('UdpUnderlay carrying Geneve between OVS tunnel ports', () => {
  interface OvsNode { net: Topology; vm: Host; br: OvsBridge; u: UdpUnderlay; clock: RealTimeClock }
  /** hv'i' with br-int, a Geneve port (key 100) to hv'peer', vm'i' on ofport 1, the underlay for Geneve. */
  function ovsNode(i: number, peer: number): OvsNode {
    const net = new Topology({ seed: 20 + i });
    const hv = net.host(`hv${i}`, { ifaces: [{ name: 'eth0', addrs: [`192.168.0.${i}/24`], mac: `02:0${i}:00:00:00:01` }] });
    const br = net.ovsBridge(`hv${i}/br-int`, { host: hv, defaultFlows: 'normal',
      tunnels: [{ name: 'gnv0', type: 'geneve', remote: `192.168.0.${peer}`, key: 100, ofport: 10 }] });
    const vm = net.host(`vm${i}`, { ifaces: [{ name: 'eth0', addrs: [`10.20.0.${i}/24`], mac: `02:0${i}:00:00:02:01` }] });
    net.link(vm, br.addPort('tap1', { ofport: 1 }), { delay: '10us' });
    const clock = new RealTimeClock(net.sim);
    const u = net.add(new UdpUnderlay(hv, { localIp: `192.168.0.${i}`, bind: { address: '127.0.0.1', port: 0 }, proto: 'geneve', clock }));
    net.link(hv, u, { delay: '10us' });
    open.push({ close: () => clock.stop() }, u);
    return { net, vm, br, u, clock };
  }

  it('pings VM to VM across Geneve ports as real datagrams; bad Geneve headers and wrong keys are dropped and counted', async () => {
    const a = ovsNode(1, 2), b = ovsNode(2, 1);
    a.u.addPeer('192.168.0.2', await b.u.open());
    b.u.addPeer('192.168.0.1', await a.u.open());
    expect(a.u.tunnelPort).toBe(6081);
    a.clock.start(); b.clock.start();
    const r = await new Promise<PingResult>((res) => { startPing(a.vm, '10.20.0.2', { count: 3, interval: 0.02, timeout: 3 }, res); });
    expect(r.received, r.text).toBe(3);
    expect(b.u.stats.rxDatagrams).toBe(a.u.stats.txDatagrams);
    // bad datagrams from b's real address and port (a known peer)
    const s = b.u as unknown as { sock: Socket };
    const to = a.u.address;
    const gnv = (first: number, vni: number): Uint8Array => {
      const h = new Uint8Array(8 + 14);
      h[0] = first; h[2] = 0x65; h[3] = 0x58; h[4] = vni >> 16; h[5] = (vni >> 8) & 0xff; h[6] = vni & 0xff;
      h.set([2, 0, 0, 0, 0, 9, 2, 0, 0, 0, 0, 8, 8, 0], 8);
      return h;
    };
    const before = { rx: a.u.stats.rxDatagrams, notFound: a.br.dp.stats.tnlPortNotFound };
    s.sock.send(gnv(0x40, 100), to.port, to.address); // version 1
    s.sock.send(gnv(0x08, 100), to.port, to.address); // 32 bytes of options in a 22-byte datagram
    s.sock.send(new Uint8Array(5), to.port, to.address); // shorter than the header
    s.sock.send(gnv(0x00, 777), to.port, to.address); // a key no tunnel port takes
    expect(await until(() => a.u.stats.drops.bad_header === 3 && a.u.stats.rxDatagrams === before.rx + 1)).toBe(true);
    expect(await until(() => a.br.dp.stats.tnlPortNotFound === before.notFound + 1)).toBe(true);
    expect(a.net.sim.ledger.check()).toBeNull();
    expect(b.net.sim.ledger.check()).toBeNull();
  });
});

/** A test's end of a link: records what arrives (a sink: the ledger counts it delivered). */
class Recorder implements PortOwner {
  readonly sink = true;
  readonly frames: Uint8Array[] = [];
  readonly port: Port;
  constructor(readonly sim: Sim, readonly name = 'rec') { this.port = new Port(this, 'p0'); }
  receive(_p: Port, f: Uint8Array): void { this.frames.push(f.slice()); }
}

describe('UdpUnderlay frames from the host', () => {
  function setup(): { sim: Sim; u: UdpUnderlay; rec: Recorder } {
    const net = new Topology({ seed: 1 });
    const hv = net.host('hv', { ip: '192.168.0.1/24' });
    const u = new UdpUnderlay(hv, { localIp: '192.168.0.1', bind: { address: '127.0.0.1', port: 0 }, gateway: '192.168.0.254', peers: { '192.168.0.2': { address: '127.0.0.1', port: 9 } } });
    const rec = new Recorder(net.sim);
    new Link(net.sim, rec.port, u.addPort());
    return { sim: net.sim, u, rec };
  }
  const ARP = (tpa: string, op = 1): Uint8Array => new FrameBuilder().eth({ src: '02:00:00:00:00:01', dst: 'ff:ff:ff:ff:ff:ff', type: 0x0806 })
    .arp({ op, sha: '02:00:00:00:00:01', spa: '192.168.0.1', tha: '00:00:00:00:00:00', tpa }).build();
  const UDP = (dst: string, dport: number, mf = false): Uint8Array => new FrameBuilder().eth({ src: '02:00:00:00:00:01', dst: '02:55:00:00:00:01' })
    .ipv4({ src: '192.168.0.1', dst, mf }).udp({ srcPort: 40000, dstPort: dport }).payload(new Uint8Array(16)).build();

  it('answers ARP for peers and the gateway with its own MAC, nothing else', () => {
    const { sim, u, rec } = setup();
    for (const f of [ARP('192.168.0.2'), ARP('192.168.0.254'), ARP('192.168.0.77'), ARP('192.168.0.2', 2)]) rec.port.send(f);
    sim.run();
    expect(rec.frames.length).toBe(2);
    const hex = Buffer.from(rec.frames[0]!).toString('hex');
    // reply: to the asker, from 02:55:00:00:00:01, sender = the device's MAC with the asked address
    expect(hex.slice(0, 24)).toBe('02000000000102550000000' + '1');
    expect(hex.slice(40, 44)).toBe('0002');
    expect(hex.slice(44, 56)).toBe('025500000001');
    expect(hex.slice(56, 64)).toBe('c0a80002');
    expect(u.stats.arpReplies).toBe(2);
    expect(u.stats.drops.arp_unanswered).toBe(1);
    expect(sim.ledger.check()).toBeNull();
  });

  it('drops what is not a whole datagram to a peer\'s tunnel port, with reasons', () => {
    const { sim, u, rec } = setup();
    rec.port.send(UDP('192.168.0.3', 4789)); // no peer
    rec.port.send(UDP('192.168.0.2', 53)); // not the tunnel port
    rec.port.send(UDP('192.168.0.2', 4789, true)); // an outer fragment
    rec.port.send(UDP('192.168.0.2', 4789)); // the socket is not open
    rec.port.send(new Uint8Array(10)); // a runt
    rec.port.send(new FrameBuilder().eth({ type: 0x86dd }).payload(new Uint8Array(40)).build()); // IPv6
    sim.run();
    expect(u.stats.drops).toMatchObject({ no_peer: 1, not_tunnel: 2, fragment: 1, closed: 1, bad_frame: 1 });
    expect(u.stats.txDatagrams).toBe(0);
    expect(sim.ledger.dropped).toBe(6);
    expect(sim.ledger.check()).toBeNull();
  });

  it('rejects bad options with the option named', () => {
    const net = new Topology();
    const hv = net.host('hv', { ip: '192.168.0.1/24' });
    const bind = { address: '127.0.0.1', port: 0 };
    const code = (o: Partial<UdpUnderlayOptions>): [string, string] => {
      try { new UdpUnderlay(hv, { localIp: '192.168.0.1', bind, ...o }); } catch (e) { return [(e as { code: string }).code, (e as { path: string }).path]; }
      return ['', ''];
    };
    expect(code({ localIp: '192.168.0' })).toEqual(['UNDERLAY_BAD_ADDRESS', 'localIp']);
    expect(code({ bind: { address: 'localhost', port: 0 } })).toEqual(['UNDERLAY_BAD_ADDRESS', 'bind.address']);
    expect(code({ bind: { address: '127.0.0.1', port: 70000 } })).toEqual(['UNDERLAY_BAD_PORT', 'bind.port']);
    expect(code({ tunnelPort: 0 })).toEqual(['UNDERLAY_BAD_PORT', 'tunnelPort']);
    expect(code({ proto: 'gre' as 'vxlan' })).toEqual(['UNDERLAY_BAD_PROTO', 'proto']);
    expect(code({ peers: { '192.168.0.2': { address: '127.0.0.1', port: 0 } } })).toEqual(['UNDERLAY_BAD_PORT', 'peers.192.168.0.2.port']);
    expect(code({ peers: { x: { address: '127.0.0.1', port: 1 } } })).toEqual(['UNDERLAY_BAD_ADDRESS', 'peers.x']);
    expect(code({ mac: 'zz' })[0]).not.toBe('');
    expect(code({ recvBufferBytes: -1 })).toEqual(['UNDERLAY_BAD_BUFFER', 'recvBufferBytes']);
  });

  it('reports a failed bind as an InputError', async () => {
    const net = new Topology();
    const hv = net.host('hv', { ip: '192.168.0.1/24' });
    const u1 = new UdpUnderlay(hv, { localIp: '192.168.0.1', bind: { address: '127.0.0.1', port: 0 } });
    open.push(u1);
    const { port } = await u1.open();
    const u2 = new UdpUnderlay(hv, { name: 'u2', localIp: '192.168.0.1', bind: { address: '127.0.0.1', port } });
    await expect(u2.open()).rejects.toMatchObject({ code: 'UNDERLAY_BIND', path: 'bind' });
  });
});

describe('RealTimeClock', () => {
  it('runs the events due by the wall clock and moves virtual time with it', () => {
    const sim = new Sim();
    let wall = 1000;
    const ran: number[] = [];
    for (const t of [1e6, 2e6, 5e6]) sim.at(t, { onEvent: () => ran.push(sim.now) });
    const c = new RealTimeClock(sim, { wallClock: () => wall });
    c.start();
    c.stop(); // no timer: the test drives catchUp by hand
    (c as unknown as { running: boolean }).running = true;
    wall += 2.5;
    expect(c.catchUp()).toBe(2);
    expect(ran).toEqual([1e6, 2e6]);
    expect(sim.now).toBe(2.5e6);
    wall += 10;
    c.catchUp();
    expect(ran).toEqual([1e6, 2e6, 5e6]);
    expect(sim.now).toBe(12.5e6);
    expect(c.slips).toBe(0);
  });

  it('slips rather than falling ever further behind when overloaded', () => {
    const sim = new Sim();
    let wall = 0;
    // an event every microsecond for a second, 10 events allowed per catch-up
    let n = 0;
    const h = { onEvent: () => { n++; if (n < 1e6) sim.schedule(1e3, h); } };
    sim.schedule(1e3, h);
    const c = new RealTimeClock(sim, { wallClock: () => wall, maxEventsPerTick: 10, maxLagMs: 50 });
    c.start();
    c.stop();
    (c as unknown as { running: boolean }).running = true;
    wall = 100;
    expect(c.catchUp()).toBe(10);
    expect(c.slips).toBe(1);
    expect(c.slippedMs).toBeCloseTo(100 - 0.01, 5);
    expect(c.lagNs).toBe(0);
  });

  it('rejects bad options', () => {
    expect(() => new RealTimeClock(new Sim(), { tickMs: 0 })).toThrow(expect.objectContaining({ code: 'REALTIME_BAD_OPTION' }));
  });
});
