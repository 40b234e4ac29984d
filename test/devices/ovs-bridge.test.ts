/**
 * OvsBridge (src/devices/ovs-bridge.ts): an OVS bridge as a simulator device.
 *  - port numbering as ovs-vswitchd 3.1 numbers dummy ports (values observed with `ovs-appctl
 *    dpif/show`, recorded below; security-group-ovs.test.ts re-checks them against a live OVS);
 *  - VMs (netstack Hosts) ping each other through the default learning flows, through the
 *    literal NORMAL flow (OVS's MAC-learning switch) and through explicit flows;
 *  - flow changes take effect at once (the datapath revalidates), counters (dump-flows,
 *    dump-ports), trace without side effects, outputs built in the datapath's scratch (clone,
 *    VLAN push), learnt MACs ageing out, bad input, determinism;
 *  - against a real Open vSwitch 3.1 (FAILS under CI=true without it): the default learning
 *    flows loaded into ovs-vswitchd, the same frames injected into both (netdev-dummy/receive),
 *    what each port sends and the learnt flows (dump-flows) must be the same.
 */
import { describe, expect, it } from 'vitest';
import { Sim } from '../../src/sim/engine.js';
import { Link } from '../../src/sim/link.js';
import { Host } from '../../src/netstack/host.js';
import { ping } from '../../src/netstack/tools.js';
import { Topology } from '../../src/topology/topology.js';
import { DpifNumbers, OvsBridge, OvsBridgeError, learningFlows } from '../../src/devices/ovs-bridge.js';
import { FlowSyntaxError } from '../../src/flow/errors.js';
import { FrameBuilder } from '../../src/wire/builder.js';
import { toHex } from '../../src/wire/bytes.js';
import { Port, type PortOwner } from '../../src/sim/link.js';
import { describeWith } from '../oracle/tools.js';
import { OvsSandbox, normaliseDumpFlowsLine } from '../oracle/ovs.js';

/** 'n' hosts 10.0.0.i/24 with MACs 02:00:00:00:00:0i, each linked to a new port of 'br'. */
function lan(sim: Sim, br: OvsBridge, n: number): Host[] {
  const hs: Host[] = [];
  for (let i = 1; i <= n; i++) {
    const h = new Host(sim, `h${i}`, { ifaces: [{ name: 'eth0', mac: `02:00:00:00:00:0${i}`, addrs: [`10.0.0.${i}/24`] }] });
    new Link(sim, h.ports.get('eth0')!, br.addPort(), { delay: '50us' });
    hs.push(h);
  }
  return hs;
}

describe('OvsBridge ports', () => {
  it('numbers ports as ovs-vswitchd does on a dummy datapath', () => {
    // observed (OVS 3.1.0, --enable-dummy): add-br br-int; add-port p1; tapab12; p3 ofport_request=10; vm; p2
    //   → dpif/show: br-int 65534/1, p1 1/2, tapab12 2/12, p3 10/3, vm 3/4, p2 4/5;
    // then add-br br1; add-port br1 q7 → br1 65534/101, q7 1/7 (one datapath for both bridges)
    const sim = new Sim();
    const dpif = new DpifNumbers();
    const br = new OvsBridge(sim, 'br-int', { dpif });
    const got = [br.addPort('p1'), br.addPort('tapab12'), br.addPort('p3', { ofport: 10 }), br.addPort('vm'), br.addPort('p2')]
      .map((p) => `${p.name} ${p.ofport}/${p.odp}`);
    expect(got).toEqual(['p1 1/2', 'tapab12 2/12', 'p3 10/3', 'vm 3/4', 'p2 4/5']);
    expect(br.br.ports.get(65534)!.odp).toBe(1);
    const br1 = new OvsBridge(sim, 'br1', { dpif });
    const q7 = br1.addPort('q7');
    expect([br1.br.ports.get(65534)!.odp, q7.ofport, q7.odp]).toEqual([101, 1, 7]);
    // a bridge of its own vswitchd: br0 → 100, default names p<ofport>
    const br0 = new OvsBridge(sim, 'br0');
    expect([br0.br.ports.get(65534)!.odp, ...br0.ports, br0.addPort(), br0.addPort()].map((p) => (typeof p === 'number' ? p : `${p.name} ${p.ofport}/${p.odp}`)))
      .toEqual([100, 'p1 1/1', 'p2 2/2']);
    expect(br0.dp.show()).toContain('port 100: br0 (dummy-internal)');
  });

  it('refuses a duplicate name and an ofport out of range; a taken request falls back to the next number', () => {
    const br = new OvsBridge(new Sim(), 'br0');
    br.addPort('a', { ofport: 5 });
    expect(() => br.addPort('a')).toThrow(OvsBridgeError);
    expect(() => br.addPort('b', { ofport: 0 })).toThrow(OvsBridgeError);
    expect(() => br.addPort('b', { ofport: 65280 })).toThrow(OvsBridgeError);
    expect(br.addPort('c', { ofport: 5 }).ofport).toBe(1);
    expect(() => br.port('zz')).toThrow(OvsBridgeError);
    expect(br.port(5).name).toBe('a');
  });

  it('is a topology PortFactory: net.link(host, bridge) makes a port', async () => {
    const net = new Topology({ seed: 3 });
    const sw = net.add(new OvsBridge(net.sim, 'sw1'));
    const a = net.host('a', { ip: '192.168.1.1/24' }), b = net.host('b', { ip: '192.168.1.2/24' });
    net.link(a, sw, { delay: '1ms' });
    net.link(b, sw, { delay: '1ms' });
    expect(sw.ports.map((p) => p.name)).toEqual(['p1', 'p2']);
    const r = await net.ping('a', '192.168.1.2', { count: 2 });
    expect(r.received).toBe(2);
    expect(r.replies[1]!.rttMs).toBeCloseTo(4, 6);   // 4 link crossings, no switching delay
  });
});

describe('OvsBridge.delPort (ovs-vsctl del-port)', () => {
  it('removes the port and its datapath port, keeps the flows naming it (they output nothing), detaches its link', async () => {
    const sim = new Sim({ seed: 1 });
    const br = new OvsBridge(sim, 'br0', { flows: 'in_port=1,actions=output:2\nin_port=2,actions=output:1\nin_port=3,actions=output:2,output:1' });
    const [h1, h2, h3] = lan(sim, br, 3) as [Host, Host, Host];
    expect((await ping(h1, '10.0.0.2', { count: 1 })).received).toBe(1);
    const p2 = br.port('p2');
    const odp = p2.odp;
    br.delPort('p2');
    expect(br.ports.map((p) => p.name)).toEqual(['p1', 'p3']);
    expect(() => br.port(2)).toThrow(OvsBridgeError);
    expect(br.dumpPorts()).toMatch(/^OFPST_PORT reply \(xid=0x2\): 3 ports\n/);
    expect(br.dumpPorts()).not.toContain('port  2:');
    expect(br.dp.show()).not.toContain('p2');
    expect(p2.link).toBeNull();
    expect(h2.ports.get('eth0')!.link).toBeNull();
    // the flows stay; an output to the deleted port outputs nothing
    expect(br.dumpFlows().map((l) => l.replace(/.* in_port/, 'in_port'))).toEqual(['in_port=1 actions=output:2', 'in_port=2 actions=output:1', 'in_port=3 actions=output:2,output:1']);
    const tr = br.trace('in_port=1,ip,nw_src=1.1.1.1,nw_dst=2.2.2.2');
    expect(tr).toContain('>> Nonexistent output port');
    expect(tr).toContain('Datapath actions: drop');
    expect(br.trace('in_port=3,ip,nw_src=1.1.1.1,nw_dst=2.2.2.2')).toContain('Datapath actions: 1\n');
    // the cached megaflow that sent to p2 was revalidated: the next ping goes nowhere
    expect((await ping(h1, '10.0.0.2', { count: 1, timeout: 1 })).received).toBe(0);
    expect(h3.stats.otherHost).toBe(0);
    // a new port: the next OpenFlow number (2 is not reused at once), the freed datapath number
    const x = br.addPort('x');
    expect([x.ofport, x.odp]).toEqual([4, odp]);
  });

  it('refuses the bridge\'s own port and a port it does not have', () => {
    const br = new OvsBridge(new Sim(), 'br0');
    br.addPort('p1');
    expect(() => br.delPort('br0')).toThrow(expect.objectContaining({ code: 'OVS_LOCAL_PORT' }));
    expect(() => br.delPort('nope')).toThrow(expect.objectContaining({ code: 'OVS_NO_PORT', message: 'br0: no port named nope' }));
    br.delPort('p1');
    expect(() => br.delPort('p1')).toThrow(expect.objectContaining({ code: 'OVS_NO_PORT' }));
  });

  it('a tunnel port: the shared vxlan_sys_4789 goes with the last one, and the host\'s UDP port is free again', () => {
    const t = new Topology();
    const hv = t.host('hv', { ip: '192.168.1.1/24' });
    const br = t.ovsBridge('br-tun', { host: hv, defaultFlows: 'none', tunnels: [
      { name: 'vxlan-c0a80102', type: 'vxlan', remote: '192.168.1.2', key: 'flow' },
      { name: 'vxlan-c0a80103', type: 'vxlan', remote: '192.168.1.3', key: 'flow' }] });
    expect(br.dp.show()).toContain('vxlan_sys_4789');
    br.delPort('vxlan-c0a80102');
    expect(br.ports.map((p) => p.name)).toEqual(['vxlan-c0a80103']);
    expect(br.vports.size).toBe(1);
    expect(br.dp.show()).toContain('vxlan_sys_4789');
    br.delPort('vxlan-c0a80103');
    expect(br.vports.size).toBe(0);
    // the UDP port is free: a new tunnel port binds it again
    const again = br.addTunnelPort({ name: 'vxlan-c0a80102', type: 'vxlan', remote: '192.168.1.2', key: 'flow' });
    expect([again.ofport, again.odp]).toEqual([3, 4789]);
  });
});

describe('OvsBridge forwarding', () => {
  it('learns MACs with the default flows: pings pass, unicast stops being flooded', async () => {
    const sim = new Sim({ seed: 1 });
    const br = new OvsBridge(sim, 'br0');
    const [h1, , h3] = lan(sim, br, 3) as [Host, Host, Host];
    expect(br.dumpFlows()).toHaveLength(5);
    const v0 = br.br.version;
    const r = await ping(h1, '10.0.0.2', { count: 3 });
    expect(r.received).toBe(3);
    const macTable = br.dumpFlows({ table: 3 });
    expect(macTable.some((l) => l.includes('idle_timeout=300, idle_age=0, priority=1,vlan_tci=0x0000/0x0fff,dl_dst=02:00:00:00:00:01 actions=output:1'))).toBe(true);
    expect(macTable.some((l) => l.includes('dl_dst=02:00:00:00:00:02 actions=output:2'))).toBe(true);
    const sources = br.dumpFlows({ table: 1 });
    expect(sources.some((l) => l.includes('hard_timeout=300') && l.includes('priority=1,in_port=2,vlan_tci=0x0000/0x0fff,dl_src=02:00:00:00:00:02 actions=load:0x1->NXM_NX_REG0[0]'))).toBe(true);
    // each source was learnt once: 2 sources, so the flow tables changed (and the datapath
    // revalidated) twice, not once per upcall
    expect(sources).toHaveLength(3);
    expect(br.dp.stats.missed).toBeGreaterThan(2);
    expect(br.br.version - v0).toBe(2);
    // h3 saw the ARP request (flooded) and nothing else
    expect(br.port('p3').stats.txPackets).toBe(1);
    expect(h3.stats.otherHost).toBe(0);
    expect(br.dp.stats.delivered).toBe(8);
  });

  it('with the literal NORMAL flow it is OVS\'s learning switch: pings pass, the third port sees only the broadcast', async () => {
    const sim = new Sim({ seed: 1 });
    const br = new OvsBridge(sim, 'br0', { defaultFlows: 'normal' });
    const [h1, , h3] = lan(sim, br, 3) as [Host, Host, Host];
    expect(br.dumpFlows()[0]).toContain('priority=0 actions=NORMAL');
    expect((await ping(h1, '10.0.0.2', { count: 2 })).received).toBe(2);
    sim.runFor(1e9);
    // NORMAL learnt both stations from the ARP exchange: only the ARP request was flooded
    expect(br.port('p3').stats.txPackets).toBe(1);
    expect(h3.stats.otherHost).toBe(0);
  });

  it('forwards by explicit flows; a change takes effect at once (revalidation), and so does its removal', async () => {
    const sim = new Sim({ seed: 1 });
    const br = new OvsBridge(sim, 'br0', { flows: 'in_port=1,actions=output:2\nin_port=2,actions=output:1' });
    const [h1] = lan(sim, br, 3) as [Host, Host, Host];
    expect((await ping(h1, '10.0.0.2', { count: 2 })).received).toBe(2);
    br.addFlows('priority=40000,icmp,in_port=2,actions=drop');
    expect((await ping(h1, '10.0.0.2', { count: 2, timeout: 2 })).received).toBe(0);
    expect(br.delFlows('icmp,in_port=2,priority=40000', { strict: true })).toBe(1);
    expect((await ping(h1, '10.0.0.2', { count: 2 })).received).toBe(2);
    br.replaceFlows('in_port=1,actions=output:3\nin_port=3,actions=output:1');
    expect((await ping(h1, '10.0.0.2', { count: 1, timeout: 2 })).received).toBe(0);
    expect(br.delFlows()).toBe(2);
    expect(br.dumpFlows()).toEqual([]);
  });

  it('counts per flow and per port (dump-flows, dump-ports)', async () => {
    const sim = new Sim({ seed: 1 });
    const br = new OvsBridge(sim, 'br0', { flows: 'in_port=1,actions=output:2\nin_port=2,actions=output:1' });
    const [h1] = lan(sim, br, 2) as [Host, Host];
    await ping(h1, '10.0.0.2', { count: 4 });
    // ARP request + 4 echo requests one way, ARP reply + 4 replies the other (84 + 98 bytes each)
    const flows = br.dumpFlows();
    expect(flows[0]).toMatch(/n_packets=5, n_bytes=434, idle_age=0, in_port=1 actions=output:2$/);
    expect(flows[1]).toMatch(/n_packets=5, n_bytes=434, idle_age=0, in_port=2 actions=output:1$/);
    expect(br.dumpPorts()).toBe([
      'OFPST_PORT reply (xid=0x2): 3 ports',
      '  port LOCAL: rx pkts=0, bytes=0, drop=?, errs=?, frame=?, over=?, crc=?',
      '           tx pkts=0, bytes=0, drop=?, errs=?, coll=?',
      '  port  1: rx pkts=5, bytes=434, drop=?, errs=?, frame=?, over=?, crc=?',
      '           tx pkts=5, bytes=434, drop=?, errs=?, coll=?',
      '  port  2: rx pkts=5, bytes=434, drop=?, errs=?, frame=?, over=?, crc=?',
      '           tx pkts=5, bytes=434, drop=?, errs=?, coll=?',
      '',
    ].join('\n'));
    expect(br.dp.stats.rx).toBe(10);
  });

  it('sends outputs the datapath built in its scratch (clone, VLAN push) as whole frames', () => {
    const sim = new Sim({ seed: 1 });
    const br = new OvsBridge(sim, 'br0', { flows: 'in_port=1,actions=clone(mod_vlan_vid:10,output:2),output:3,mod_dl_dst:02:00:00:00:00:09,output:2' });
    const ports = [br.addPort(), br.addPort(), br.addPort()];
    const seen: string[][] = [[], [], []];
    ports.forEach((p, i) => p.tap((f, dir) => { if (dir === 'out') seen[i]!.push(toHex(f)); }));
    const frame = new FrameBuilder().eth({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }).ipv4({ src: '10.0.0.1', dst: '10.0.0.2' })
      .udp({ srcPort: 1, dstPort: 2 }).payload('x').build();
    const plain = toHex(frame);
    for (let k = 0; k < 3; k++) br.receive(ports[0]!, frame.slice());   // upcall, then cache hits
    const tagged = new FrameBuilder().eth({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }).vlan({ vid: 10 })
      .ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).udp({ srcPort: 1, dstPort: 2 }).payload('x').build();
    const rewritten = new FrameBuilder().eth({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:09' }).ipv4({ src: '10.0.0.1', dst: '10.0.0.2' })
      .udp({ srcPort: 1, dstPort: 2 }).payload('x').build();
    expect(seen[1]).toEqual([toHex(tagged), toHex(rewritten), toHex(tagged), toHex(rewritten), toHex(tagged), toHex(rewritten)]);
    expect(seen[2]).toEqual([plain, plain, plain]);
    expect(seen[0]).toEqual([]);
  });

  it('traces without side effects, from a flow string (port names allowed) or a frame', async () => {
    const sim = new Sim({ seed: 1 });
    const br = new OvsBridge(sim, 'br0');
    const [h1] = lan(sim, br, 2) as [Host, Host];
    const t = br.trace('in_port=p1,dl_src=02:00:00:00:00:01,dl_dst=02:00:00:00:00:02,dl_type=0x0800,nw_src=10.0.0.1,nw_dst=10.0.0.2');
    expect(t).toContain(' 3. priority 0\n    FLOOD');
    expect(t).toMatch(/Datapath actions: 2,100\n$/);
    expect(br.dumpFlows({ table: 3 })).toHaveLength(1);   // the trace learnt nothing
    await ping(h1, '10.0.0.2', { count: 1 });
    const frame = new FrameBuilder().eth({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }).ipv4({ src: '10.0.0.1', dst: '10.0.0.2' })
      .icmp({ type: 8, code: 0, ident: 1, seq: 1 }).build();
    const t2 = br.trace(frame, { inPort: 'p1' });
    expect(t2).toContain('vlan_tci=0x0000/0x0fff,dl_dst=02:00:00:00:00:02, priority 1');
    expect(t2).toMatch(/Datapath actions: 2\n$/);
    expect(() => br.trace(frame)).toThrow(OvsBridgeError);
  });

  it('forgets a MAC after the ageing time and floods again until it is relearnt', async () => {
    const sim = new Sim({ seed: 1 });
    const br = new OvsBridge(sim, 'br0', { macAgeingS: 60 });
    const [h1, , h3] = lan(sim, br, 3) as [Host, Host, Host];
    await ping(h1, '10.0.0.2', { count: 1 });
    expect(br.dumpFlows({ table: 3 })).toHaveLength(3);
    // Linux confirms a used neighbour entry with a unicast ARP probe ~5 s later, which refreshes
    // the learnt flows; after that nothing is sent
    sim.runFor(70e9);
    expect(br.dumpFlows({ table: 3 })).toHaveLength(1);
    expect(br.dumpFlows({ table: 1 })).toHaveLength(1);
    const before = br.port('p3').stats.txPackets;
    // h1's ARP entry is stale by now: a new exchange goes through the flood entry first
    await ping(h1, '10.0.0.2', { count: 1 });
    expect(br.port('p3').stats.txPackets).toBeGreaterThan(before);
    expect(br.dumpFlows({ table: 3 })).toHaveLength(3);
    expect(h3.stats.inDelivers).toBe(0);
  });

  it('refuses bad flows with the ovs-ofctl error code and installs nothing', () => {
    const br = new OvsBridge(new Sim(), 'br0', { defaultFlows: 'none' });
    for (const text of ['in_port=1,actions=output:2\nfoo=1,actions=drop', 'actions=frobnicate']) {
      let err: unknown = null;
      try { br.addFlows(text); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(FlowSyntaxError);
      expect(br.br.allRules()).toEqual([]);
    }
    expect(() => br.delFlows('table=300')).toThrow(FlowSyntaxError);
    expect(() => br.delFlows('nonsense=1')).toThrow(FlowSyntaxError);
    expect(() => new OvsBridge(new Sim(), 'br1', { flows: 'actions=frobnicate' })).toThrow(FlowSyntaxError);
    expect(learningFlows(10)).toContain('idle_timeout=10,');
  });

  it('is deterministic: one seed and script, the same frames byte for byte and the same counters', async () => {
    const run = async (): Promise<string> => {
      const net = new Topology({ seed: 42 });
      const sw = net.add(new OvsBridge(net.sim, 'sw'));
      const hosts = [1, 2, 3].map((i) => net.host(`h${i}`, { ip: `10.1.0.${i}/24` }));
      for (const h of hosts) net.link(h, sw, { delay: '100us', bandwidth: '1Gbps' });
      const cap = net.capture(sw.port('p2'));
      await net.ping('h1', '10.1.0.2', { count: 3 });
      await net.ping('h3', '10.1.0.1', { count: 2 });
      return [toHex(cap.pcap()), ...sw.dumpFlows(), sw.dumpPorts(), sw.dp.show()].join('\n');
    };
    const a = await run();
    expect(await run()).toBe(a);
  });
});

/** A peer for bridge ports that only need their sends accepted. */
class Sink implements PortOwner {
  readonly sink = true;
  readonly name = 'sink';
  receive(_p: Port, _f: Uint8Array): void { /* recorded by the bridge port's tap */ }
}

describeWith('ovs', 'OvsBridge default learning flows against Open vSwitch 3.1', () => {
  it('sends the same frames on every port and learns the same flows', async () => {
    const sb = await OvsSandbox.start();
    try {
      const names = ['p1', 'p2', 'p3'];
      await sb.vsctl('add-br', 'br0', '--', 'set', 'bridge', 'br0', 'datapath_type=dummy', 'fail-mode=secure');
      for (const n of names) await sb.vsctl('add-port', 'br0', n, '--', 'set', 'Interface', n, 'type=dummy', `options:tx_pcap=${sb.txPcapPath(n)}`);
      await sb.setMaxIdle(600_000);
      await sb.addFlows('br0', learningFlows());
      const sim = new Sim({ seed: 1 });
      const br = new OvsBridge(sim, 'br0');
      const sent = new Map<string, string[]>();
      for (const n of names) {
        const p = br.addPort();
        const list: string[] = [];
        sent.set(n, list);
        p.tap((f, dir) => { if (dir === 'out') list.push(toHex(f)); });
        new Link(sim, p, new Port(new Sink(), n));
      }
      const mac = (i: number): string => `02:00:00:00:00:0${i}`;
      const ip = (i: number): string => `10.0.0.${i}`;
      const udp = (s: number, d: number, smac = mac(s)): Uint8Array => new FrameBuilder().eth({ src: smac, dst: mac(d) })
        .ipv4({ src: ip(s), dst: ip(d), ident: 1 }).udp({ srcPort: 1000 + s, dstPort: 2000 + d }).payload('learn').build();
      const frames: [string, Uint8Array][] = [
        ['p1', new FrameBuilder().eth({ src: mac(1), dst: 'ff:ff:ff:ff:ff:ff' }).arp({ op: 1, sha: mac(1), spa: ip(1), tpa: ip(2) }).build()],
        ['p2', new FrameBuilder().eth({ src: mac(2), dst: mac(1) }).arp({ op: 2, sha: mac(2), spa: ip(2), tha: mac(1), tpa: ip(1) }).build()],
        ['p1', udp(1, 2)], ['p2', udp(2, 1)], ['p1', udp(1, 2)],
        ['p3', udp(3, 1)],                        // a new source
        ['p1', udp(1, 3)], ['p1', udp(1, 4)],     // known, then unknown destination
        ['p3', udp(3, 1, mac(2))],                // mac 2 moves to p3
        ['p1', udp(1, 2)],                        // now to p3
      ];
      for (const [port, f] of frames) {
        await sb.receive(port, toHex(f));
        br.receive(br.port(port), f.slice());
        sim.runFor(1e6);
      }
      for (const n of names) {
        const mine = sent.get(n)!;
        const ovs = (await sb.txFrames(n, { expect: mine.length })).map((f) => toHex(f));
        expect({ port: n, frames: mine }).toEqual({ port: n, frames: ovs });
      }
      expect(sent.get('p3')!.length).toBeGreaterThan(0);
      const norm = (lines: string[]): string[] => lines.map((l) => normaliseDumpFlowsLine(l).replace(/\b(?:duration|n_packets|n_bytes|idle_age|hard_age)=[^,\s]*,\s*/g, '')).sort();
      const learnt = norm(br.dumpFlows());
      expect(learnt).toContain('cookie=0x0, table=3, idle_timeout=300, priority=1,vlan_tci=0x0000/0x0fff,dl_dst=02:00:00:00:00:02 actions=output:3');
      expect(learnt).toHaveLength(12);
      expect(learnt).toEqual(norm(await sb.dumpFlows('br0')));
    } finally {
      await sb.stop();
    }
  }, 30_000);

  it('del-port: the same flows stay, the same traces (an output to the deleted port: "Nonexistent output port"), the same numbers after', async () => {
    const sb = await OvsSandbox.start();
    try {
      const flows = 'in_port=1,actions=output:2\nin_port=2,actions=output:1\nin_port=3,actions=output:2,output:1';
      await sb.vsctl('add-br', 'br0', '--', 'set', 'bridge', 'br0', 'datapath_type=dummy', 'fail-mode=secure');
      for (const n of ['p1', 'p2', 'p3']) await sb.vsctl('add-port', 'br0', n, '--', 'set', 'Interface', n, 'type=dummy');
      await sb.addFlows('br0', flows);
      await sb.vsctl('del-port', 'br0', 'p2');
      await sb.vsctl('add-port', 'br0', 'x', '--', 'set', 'Interface', 'x', 'type=dummy');
      const br = new OvsBridge(new Sim({ seed: 1 }), 'br0', { flows });
      for (const n of ['p1', 'p2', 'p3']) br.addPort(n);
      br.delPort('p2');
      br.addPort('x');
      const norm = (lines: string[]): string[] => lines.map((l) => normaliseDumpFlowsLine(l).replace(/\b(?:duration|n_packets|n_bytes|idle_age|hard_age)=[^,\s]*,\s*/g, '')).sort();
      expect(norm(br.dumpFlows())).toEqual(norm(await sb.dumpFlows('br0')));
      for (const inPort of [1, 2, 3]) {
        const flow = `in_port=${inPort},ip,nw_src=1.1.1.1,nw_dst=2.2.2.2`;
        expect(br.trace(flow)).toBe(await sb.trace('br0', flow));
      }
      const dp = (await sb.dpifShow()).map((p) => `${p.name} ${p.ofport}/${p.odpPort}`).sort();
      expect(br.ports.map((p) => `${p.name} ${p.ofport}/${p.odp}`).sort()).toEqual(dp.filter((l) => !l.startsWith('br0 ')));
    } finally {
      await sb.stop();
    }
  }, 30_000);

  it('del-flows with conj_id, loose and strict, removes the flows ovs-ofctl removes', async () => {
    const sb = await OvsSandbox.start();
    try {
      await sb.vsctl('add-br', 'br0', '--', 'set', 'bridge', 'br0', 'datapath_type=dummy', 'fail-mode=secure');
      const flows = [
        'table=0,priority=10,conj_id=5,ip actions=drop',
        'table=0,priority=10,conj_id=6,ip actions=drop',
        'table=0,priority=11,conj_id=5,ip,nw_dst=10.0.0.9 actions=drop',
        'table=0,priority=10,ip actions=drop',
        'table=0,priority=5,ip,nw_src=10.0.0.1 actions=conjunction(5,1/2),conjunction(6,1/2)',
        'table=0,priority=5,tcp,tp_dst=80 actions=conjunction(5,2/2),conjunction(6,2/2)',
      ].join('\n');
      const norm = (lines: string[]): string[] => lines.map((l) => normaliseDumpFlowsLine(l).replace(/\b(?:duration|n_packets|n_bytes|idle_age|hard_age)=[^,\s]*,\s*/g, '')).sort();
      for (const [match, strict] of [['conj_id=5', false], ['priority=10,conj_id=5,ip', true], ['ip,conj_id=6', false], ['priority=10,ip', true]] as const) {
        const br = new OvsBridge(new Sim({ seed: 1 }), 'br0', { defaultFlows: 'none' });
        br.addFlows(flows);
        br.delFlows(match, { strict });
        await sb.delFlows('br0');
        await sb.addFlows('br0', flows);
        await sb.ofctl(strict ? '--strict' : '--', 'del-flows', 'br0', match);
        expect({ match, strict, flows: norm(br.dumpFlows()) }).toEqual({ match, strict, flows: norm(await sb.dumpFlows('br0')) });
      }
    } finally {
      await sb.stop();
    }
  }, 30_000);
});
