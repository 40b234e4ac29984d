/**
 * neutron-openvswitch-agent (src/compute/ovs-agent.ts) and the l2pop fabric
 * (src/compute/l2pop.ts): hosts standing in for VMs plugged on two or three
 * hypervisors; what crosses the underlay, what br-tun answers, what the
 * security groups let through, and what unbinding a port takes with it.
 */
import { describe, expect, it } from 'vitest';
import { Topology, type Capture } from '../../src/topology/topology.js';
import { OvsFabric } from '../../src/compute/l2pop.js';
import { ComputeError, LocalVlanManager, tunnelPortName } from '../../src/compute/ovs-agent.js';
import { SecurityGroups, type SecurityGroup } from '../../src/devices/security-group.js';
import type { PortInfo } from '../../src/compute/types.js';
import type { Host } from '../../src/netstack/host.js';
import { be16 } from '../../src/wire/bytes.js';

const HVS = [['hv1', '192.168.0.11'], ['hv2', '192.168.0.12'], ['hv3', '192.168.0.13']] as const;

interface VmSpec { id: string; net: string; vni: number; mac: string; ip: string; hv: string; sgs?: string[]; portSecurity?: boolean }

const port = (s: VmSpec): PortInfo => ({
  id: s.id, segment: { networkId: s.net, vni: s.vni }, mac: s.mac, fixedIps: [s.ip], allowedAddressPairs: [],
  securityGroups: s.sgs ?? ['open'], portSecurity: s.portSecurity ?? true, deviceOwner: 'compute:nova',
});

/** Everything in and out between VMs; ICMP in. */
const OPEN: SecurityGroup = SecurityGroups.newGroup('open', [{ direction: 'ingress', protocol: 'icmp' }, { direction: 'ingress', protocol: 'tcp' }, { direction: 'ingress', protocol: 'udp' }]);

class Cloud {
  readonly t = new Topology({ seed: 7 });
  readonly fabric = new OvsFabric(this.t);
  readonly vms = new Map<string, Host>();
  readonly ports = new Map<string, PortInfo>();
  constructor(groups: SecurityGroup[] = [OPEN]) {
    for (const [name, ip] of HVS) this.fabric.addHypervisor({ name, region: 'r1', az: 'az1', ip });
    this.fabric.setSecurityGroups(groups);
  }
  vm(s: VmSpec): Host {
    const h = this.t.host(s.id, {});
    const p = port(s);
    this.t.roles.set(s.id, 'vm');
    this.t.link([h, 'eth0'], this.fabric.plug(s.hv, p), { a: { iface: 'eth0', mac: s.mac, addr: `${s.ip}/24`, mtu: 1450 } });
    this.vms.set(s.id, h);
    this.ports.set(s.id, p);
    return h;
  }
  underlay(hv: string): Capture {
    return this.t.capture(this.fabric.underlay.port(`${hv}-eth0`));
  }
}

/** VXLAN frames in a capture: [VNI, inner EtherType, inner frame]. */
function vxlan(c: Capture): { vni: number; inner: Uint8Array }[] {
  const out: { vni: number; inner: Uint8Array }[] = [];
  for (const f of c.frames) {
    const d = f.data;
    if (be16(d, 12) !== 0x0800 || d[23] !== 17 || be16(d, 36) !== 4789) continue;
    out.push({ vni: (d[46]! << 16) | (d[47]! << 8) | d[48]!, inner: d.subarray(50) });
  }
  return out;
}

const A1: VmSpec = { id: '1aaaaaaa-0001', net: 'net-a', vni: 100, mac: 'fa:16:3e:00:00:01', ip: '10.0.0.1', hv: 'hv1' };
const A2: VmSpec = { id: '2aaaaaaa-0002', net: 'net-a', vni: 100, mac: 'fa:16:3e:00:00:02', ip: '10.0.0.2', hv: 'hv2' };
const A3: VmSpec = { id: '3aaaaaaa-0003', net: 'net-a', vni: 100, mac: 'fa:16:3e:00:00:03', ip: '10.0.0.3', hv: 'hv3' };

describe('OvsAgent and OvsFabric: the overlay', () => {
  it('names tunnel ports as Neutron does and hands out the lowest free local VLAN', () => {
    expect(tunnelPortName('192.168.0.12')).toBe('vxlan-c0a8000c');
    expect(() => tunnelPortName('nope')).toThrow(ComputeError);
    const m = new LocalVlanManager();
    expect([m.allocate('a'), m.allocate('b'), m.allocate('a')]).toEqual([1, 2, 1]);
    m.release('a');
    expect(m.allocate('c')).toBe(1);
    expect(m.get('a')).toBe(-1);
  });

  it('ping across hypervisors: VXLAN with the network\'s VNI on the underlay, between the two endpoints', async () => {
    const c = new Cloud();
    const vm1 = c.vm(A1);
    c.vm(A2);
    const cap = c.underlay('hv1');
    const r = await c.t.ping(vm1, A2.ip, { count: 2 });
    expect(r.received).toBe(2);
    const vx = vxlan(cap);
    expect(vx.length).toBeGreaterThanOrEqual(4);
    expect(new Set(vx.map((v) => v.vni))).toEqual(new Set([100]));
    // hv3 has no port of net-a: nothing reaches it
    for (const f of cap.frames) if (be16(f.data, 12) === 0x0800 && f.data[23] === 17) expect(['192.168.0.11>192.168.0.12', '192.168.0.12>192.168.0.11']).toContain(`${[...f.data.subarray(26, 30)].join('.')}>${[...f.data.subarray(30, 34)].join('.')}`);
    const agent1 = c.fabric.agent('hv1');
    expect(agent1.tunnelRemotes()).toEqual(['192.168.0.12']);
    expect(c.t.tunnels).toEqual([{ a: 'hv1/br-tun', b: 'hv2/br-tun', type: 'vxlan', vni: 100 }]);
    expect(c.t.roles.get('hv1')).toBe('node');
    // trace records name the tables as Neutron does
    expect(agent1.brTun.explainRule?.('table=4, priority=1,tun_id=0x64 actions=mod_vlan_vid:1,resubmit(,10)')).toBe('VXLAN_TUN_TO_LV (table 4)');
    expect(agent1.brInt.explainRule?.('table=82, priority=70,ct_state=+est-rel-rpl,icmp,reg5=0x2 actions=output:2')).toBe('RULES_INGRESS_TABLE (table 82)');
    // br-tun holds Neutron's l2pop entries for the remote port
    const tun = agent1.dumpFlows('br-tun').join('\n');
    expect(tun).toMatch(/table=4, .*priority=1,tun_id=0x64 actions=mod_vlan_vid:1,resubmit\(,10\)/);
    expect(tun).toMatch(/table=20, .*priority=2,dl_vlan=1,dl_dst=fa:16:3e:00:00:02 actions=strip_vlan,set_tunnel:0x64,output:2/);
    expect(tun).toMatch(/table=22, .*priority=1,dl_vlan=1 actions=strip_vlan,set_tunnel:0x64,output:2/);
    expect(agent1.brTun.port('vxlan-c0a8000c').ofport).toBe(2);
  });

  it('two networks with the same CIDR on the same hypervisors stay apart (distinct VNIs, no delivery across)', async () => {
    const c = new Cloud();
    const a1 = c.vm(A1);
    c.vm(A2);
    const b1 = c.vm({ id: '1bbbbbbb-0001', net: 'net-b', vni: 200, mac: 'fa:16:3e:00:01:01', ip: '10.0.0.1', hv: 'hv1' });
    const b2 = c.vm({ id: '2bbbbbbb-0002', net: 'net-b', vni: 200, mac: 'fa:16:3e:00:01:02', ip: '10.0.0.2', hv: 'hv2' });
    const seenA2 = c.t.capture([c.vms.get(A2.id)!, 'eth0'], 'in');
    const seenB2 = c.t.capture([b2, 'eth0'], 'in');
    const cap = c.underlay('hv2');
    expect((await c.t.ping(a1, '10.0.0.2', { count: 1 })).received).toBe(1);
    expect((await c.t.ping(b1, '10.0.0.2', { count: 1 })).received).toBe(1);
    const vx = vxlan(cap);
    expect(new Set(vx.map((v) => v.vni))).toEqual(new Set([100, 200]));
    // every frame A2 got came from A1's MAC or was a broadcast of net-a; likewise for B2
    const srcs = (cap2: Capture): Set<string> => new Set(cap2.frames.map((f) => [...f.data.subarray(6, 12)].map((x) => x.toString(16).padStart(2, '0')).join(':')));
    expect(srcs(seenA2)).toEqual(new Set(['fa:16:3e:00:00:01']));
    expect(srcs(seenB2)).toEqual(new Set(['fa:16:3e:00:01:01']));
    // each network's VNI carries only that network's MACs
    for (const v of vx) {
      const src = [...v.inner.subarray(6, 12)].map((x) => x.toString(16).padStart(2, '0')).join(':');
      expect(src.startsWith(v.vni === 100 ? 'fa:16:3e:00:00' : 'fa:16:3e:00:01')).toBe(true);
    }
    // local VLANs: net-a got 1, net-b 2 on both hosts
    expect(c.fabric.agent('hv1').vlans.entries()).toEqual([['net-a', 1], ['net-b', 2]]);
  });

  it('br-tun answers ARP for a known IP: no broadcast goes into the tunnels', async () => {
    const c = new Cloud();
    const vm1 = c.vm(A1);
    c.vm(A2);
    c.vm(A3);
    const cap = c.underlay('hv1');
    expect((await c.t.ping(vm1, A3.ip, { count: 1 })).received).toBe(1);
    const arps = vxlan(cap).filter((v) => be16(v.inner, 12) === 0x0806);
    expect(arps).toHaveLength(0);
    // the trace shows the responder: table 21 turns the request into the reply, out IN_PORT
    const agent = c.fabric.agent('hv1');
    const text = agent.trace('br-tun', `in_port=${agent.brTun.port('patch-int').ofport},dl_vlan=1,arp,dl_src=fa:16:3e:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1,arp_spa=10.0.0.1,arp_tpa=10.0.0.3,arp_sha=fa:16:3e:00:00:01`);
    expect(text).toContain('\n21. arp,dl_vlan=1,arp_tpa=10.0.0.3, priority 1');
    expect(text).toMatch(/Datapath actions: set\(eth\(src=fa:16:3e:00:00:03,dst=fa:16:3e:00:00:01\)\),set\(arp\(sip=10\.0\.0\.3,tip=10\.0\.0\.1,op=2,sha=fa:16:3e:00:00:03,tha=fa:16:3e:00:00:01\)\),\d+/);
    // an unknown IP is flooded to both tunnels
    const flood = agent.trace('br-tun', `in_port=${agent.brTun.port('patch-int').ofport},dl_vlan=1,arp,dl_src=fa:16:3e:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,arp_op=1,arp_spa=10.0.0.1,arp_tpa=10.0.0.99`);
    expect(flood).toContain('\n22. dl_vlan=1, priority 1');
    expect((flood.match(/set\(tunnel\(tun_id=0x64,src=192\.168\.0\.11,dst=192\.168\.0\.1[23]/g) ?? []).length).toBe(2);
  });
});

describe('OvsFabric: security groups across hypervisors', () => {
  const WEB: SecurityGroup = SecurityGroups.newGroup('web', [{ direction: 'ingress', protocol: 'icmp', remoteGroupId: 'client' }]);
  const CLIENT: SecurityGroup = SecurityGroups.newGroup('client');
  const NOTHING: SecurityGroup = SecurityGroups.newGroup('nothing');

  it('a remote-group rule admits members on other hypervisors and no one else', async () => {
    const c = new Cloud([WEB, CLIENT, NOTHING]);
    c.vm({ ...A1, sgs: ['web'] });
    const client = c.vm({ ...A2, sgs: ['client'] });
    const stranger = c.vm({ ...A3, sgs: ['nothing'] });
    expect((await c.t.ping(client, A1.ip, { count: 2 })).received).toBe(2);
    expect((await c.t.ping(stranger, A1.ip, { count: 2, timeout: 1 })).received).toBe(0);
    // the members hv1 compiled: the client's address, a conjunction on reg6 = net-a's local VLAN
    expect(c.fabric.agent('hv1').dumpFlows('br-int').join('\n')).toMatch(/reg6=0x1,nw_src=10\.0\.0\.2 actions=conjunction\(\d+,1\/2\)/);
  });

  it('by port: TCP 80 allowed, TCP 22 refused (no reply at all)', async () => {
    const HTTP: SecurityGroup = SecurityGroups.newGroup('http', [{ direction: 'ingress', protocol: 'tcp', portRangeMin: 80, portRangeMax: 80 }]);
    const c = new Cloud([HTTP, CLIENT]);
    c.vm({ ...A1, sgs: ['http'] });
    c.vm({ ...A2, sgs: ['client'] });
    const agent = c.fabric.agent('hv1');
    const inPort = agent.brInt.port('patch-tun').ofport;
    const base = `in_port=${inPort},dl_vlan=1,dl_src=fa:16:3e:00:00:02,dl_dst=fa:16:3e:00:00:01,tcp,nw_src=10.0.0.2,nw_dst=10.0.0.1`;
    const ok = agent.trace('br-int', `${base},tp_dst=80`, { ctNext: ['trk,new'] });
    const no = agent.trace('br-int', `${base},tp_dst=22`, { ctNext: ['trk,new'] });
    expect(ok).toMatch(/Datapath actions: .*ct\(commit,zone=1\),\d+$/m);
    expect(no).toMatch(/Datapath actions: pop_vlan,ct\(zone=1\),recirc\(0x[0-9a-f]+\)\n[\s\S]*Datapath actions: drop/);
  });
});

describe('unbindPort', () => {
  it('takes the port\'s flows, FDB entries and conntrack state, nothing else', async () => {
    const c = new Cloud();
    const a1 = c.vm(A1);
    c.vm(A2);
    const a3 = c.vm(A3);
    // a second port on hv2 keeps net-a there
    c.vm({ id: '4aaaaaaa-0004', net: 'net-a', vni: 100, mac: 'fa:16:3e:00:00:04', ip: '10.0.0.4', hv: 'hv2' });
    expect((await c.t.ping(a1, A2.ip, { count: 1 })).received).toBe(1);
    expect((await c.t.ping(a3, A1.ip, { count: 1 })).received).toBe(1);
    const hv1 = c.fabric.agent('hv1'), hv2 = c.fabric.agent('hv2');
    const zone1 = hv2.conntrack.dump(1);
    expect(zone1.some((l) => l.includes('10.0.0.2'))).toBe(true);
    expect(zone1.some((l) => l.includes('10.0.0.3'))).toBe(false);
    const intBefore = hv2.dumpFlows('br-int').map(strip);
    const tunBefore1 = hv1.dumpFlows('br-tun').map(strip);
    const tunBefore2 = hv2.dumpFlows('br-tun').map(strip);
    const p2 = hv2.port(A2.id).ofport;
    // hv1 learnt A2's MAC from the tunnel (LEARN_FROM_TUN)
    expect(tunBefore1.some((l) => /table=20, .*priority=1,vlan_tci=0x0001\/0x0fff,dl_dst=fa:16:3e:00:00:02 /.test(l))).toBe(true);

    c.fabric.unplug('hv2', A2.id);

    // hv2's br-int: exactly the flows naming A2's port (ofport, MAC, address) went, and the dead-port drop came
    const intAfter = hv2.dumpFlows('br-int').map(strip);
    const gone = intBefore.filter((l) => !intAfter.includes(l));
    const came = intAfter.filter((l) => !intBefore.includes(l));
    expect(gone.length).toBeGreaterThan(10);
    for (const l of gone) expect(l).toMatch(new RegExp(`in_port=${p2}\\b|reg5=0x${p2.toString(16)}\\b|fa:16:3e:00:00:02|10\\.0\\.0\\.2\\b|output:${p2}\\b`));
    expect(came).toEqual([`table=0, priority=2,in_port=${p2} actions=drop`]);
    // hv1's br-tun: A2's unicast and ARP responder entries went (learnt ones too); the tunnel to hv2 stays (A4)
    const tunAfter1 = hv1.dumpFlows('br-tun').map(strip);
    const gone1 = tunBefore1.filter((l) => !tunAfter1.includes(l));
    expect(gone1.length).toBeGreaterThanOrEqual(2);
    for (const l of gone1) expect(l).toMatch(/fa:16:3e:00:00:02|arp_tpa=10\.0\.0\.2\b/);
    expect(tunAfter1.some((l) => l.includes('fa:16:3e:00:00:02') || l.includes('arp_tpa=10.0.0.2,'))).toBe(false);
    expect(tunBefore1.filter((l) => !gone1.includes(l))).toEqual(tunAfter1);
    // hv2's br-tun: nothing changed (its network still has a port)
    expect(hv2.dumpFlows('br-tun').map(strip)).toEqual(tunBefore2);
    // conntrack: A2's entries left zone 1, the rest stayed
    const after = hv2.conntrack.dump(1);
    expect(after.some((l) => l.includes('10.0.0.2'))).toBe(false);
    expect(after).toEqual(zone1.filter((l) => !l.includes('10.0.0.2')));
    // a1 can no longer reach it
    expect((await c.t.ping(a1, A2.ip, { count: 1, timeout: 1 })).received).toBe(0);
  });

  it('the last port of a network on a host: its VLAN, its br-tun flows and the idle tunnel go; the peers forget the host', () => {
    const c = new Cloud();
    c.vm(A1);
    c.vm(A2);
    const hv1 = c.fabric.agent('hv1'), hv2 = c.fabric.agent('hv2');
    const defaults = hv2.dumpFlows('br-tun').map(strip).filter((l) => !/tun_id=|dl_vlan=|in_port=2\b/.test(l));
    c.fabric.unplug('hv2', A2.id);
    expect(hv2.vlans.entries()).toEqual([]);
    expect(hv2.dumpFlows('br-tun').map(strip)).toEqual(defaults);
    expect(hv1.tunnelRemotes()).toEqual([]);
    expect(hv1.dumpFlows('br-tun').join('\n')).not.toMatch(/table=(20|21|22), .*dl_vlan=1/);
    expect(c.t.tunnels).toEqual([]);
    // the tunnel ports went (cleanup_tunnel_port deletes them), with their in_port flows
    const oldPort = 2;
    expect(hv1.brTun.ports.map((p) => p.name)).toEqual(['patch-int']);
    expect(hv2.brTun.ports.map((p) => p.name)).toEqual(['patch-int']);
    expect(hv1.dumpFlows('br-tun').join('\n')).not.toContain(`in_port=${oldPort}`);
    expect(hv1.brTun.dp.show()).not.toContain('vxlan_sys_4789');
    // binding it again reuses the dead port; the tunnel comes back as a new port (the next OpenFlow number)
    const again = c.fabric.plug('hv2', c.ports.get(A2.id)!);
    expect(again.name).toBe('tap2aaaaaaa-00');
    expect(hv1.tunnelRemotes()).toEqual(['192.168.0.12']);
    expect(hv1.brTun.port('vxlan-c0a8000c').ofport).toBe(3);
    expect(hv1.dumpFlows('br-tun').some((l) => l.includes('priority=1,in_port=3 actions=resubmit(,4)'))).toBe(true);
  });

  it('refuses a port bound twice, an unknown hypervisor, a bad field with ComputeError (nothing changed)', () => {
    const c = new Cloud();
    const hv2 = c.fabric.agent('hv2');
    const flows = hv2.dumpFlows('br-int');
    for (const [field, p] of [['port.mac', { ...port(A2), mac: 'nope' }], ['port.fixedIps[0]', { ...port(A2), fixedIps: ['10.0.0'] }],
      ['port.segment.vni', { ...port(A2), segment: { networkId: 'x', vni: 1 << 24 } }]] as [string, PortInfo][]) {
      let err: unknown = null;
      try { c.fabric.plug('hv2', p); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(ComputeError);
      expect((err as ComputeError).code).toBe('COMPUTE_BAD_PORT');
      expect((err as ComputeError).where).toBe(field);
    }
    expect(hv2.vlans.entries()).toEqual([]);
    expect(hv2.brInt.ports.map((x) => x.name)).toEqual(['patch-tun']);
    expect(hv2.dumpFlows('br-int')).toEqual(flows);
    c.vm(A1);
    expect(() => c.fabric.plug('hv2', c.ports.get(A1.id)!)).toThrow(ComputeError);
    expect(() => c.fabric.plug('hv9', port(A2))).toThrow(ComputeError);
    expect(() => c.fabric.unplug('hv1', 'nope')).toThrow(ComputeError);
  });

  it('removeHypervisor: its ports leave the peers\' FDB and its tunnels go', async () => {
    const c = new Cloud();
    const a1 = c.vm(A1);
    c.vm(A2);
    c.vm(A3);
    c.fabric.removeHypervisor('hv3');
    expect(c.fabric.agent('hv1').tunnelRemotes()).toEqual(['192.168.0.12']);
    expect(c.t.tunnels.map((x) => `${x.a} ${x.b}`)).toEqual(['hv1/br-tun hv2/br-tun']);
    expect((await c.t.ping(a1, A2.ip, { count: 1 })).received).toBe(1);
  });
});

/** A dump-flows line without its counters. */
function strip(l: string): string {
  return l.replace(/ ?(cookie|duration|n_packets|n_bytes|idle_age|hard_age)=[^,]*,/g, '').trim();
}

describe('OvsAgent FDB bookkeeping', () => {
  const seg = { networkId: 'net-a', vni: 100 };
  const M = 'fa:16:3e:00:00:77';
  const l2pop = (lines: string[]): string[] => lines.map(strip).filter((l) => /table=2[01], .*priority=[12],/.test(l) && l.includes('dl_vlan=1'));

  it('a port with two addresses: one unicast flow, two ARP answers, all gone with its fdb_remove', () => {
    const c = new Cloud();
    c.vm(A1);
    const a = c.fabric.agent('hv1');
    const before = a.dumpFlows('br-tun').map(strip);
    a.fdbAdd(seg, '192.168.0.12', [{ mac: M, ip: '10.0.0.7' }, { mac: M, ip: '10.0.0.8' }], false);
    const added = l2pop(a.dumpFlows('br-tun'));
    expect(added.filter((l) => l.startsWith('table=20'))).toHaveLength(1);
    expect(added.filter((l) => l.startsWith('table=21'))).toHaveLength(2);
    a.fdbRemove(seg, '192.168.0.12', [{ mac: M, ip: '10.0.0.7' }, { mac: M, ip: '10.0.0.8' }], false);
    expect(a.dumpFlows('br-tun').map(strip)).toEqual(before);
    expect(a.tunnelRemotes()).toEqual([]);
  });

  it('a MAC that moved (migration): the old host\'s late fdb_remove leaves the new entries alone', () => {
    const c = new Cloud();
    c.vm(A1);
    const a = c.fabric.agent('hv1');
    a.fdbAdd(seg, '192.168.0.12', [{ mac: M, ip: '10.0.0.7' }], true);
    a.fdbAdd(seg, '192.168.0.13', [{ mac: M, ip: '10.0.0.7' }], true);
    a.fdbRemove(seg, '192.168.0.12', [{ mac: M, ip: '10.0.0.7' }], true);
    const hv3 = a.brTun.port('vxlan-c0a8000d').ofport;
    const flows = l2pop(a.dumpFlows('br-tun'));
    expect(flows).toContain(`table=20, priority=2,dl_vlan=1,dl_dst=${M} actions=strip_vlan,set_tunnel:0x64,output:${hv3}`);
    expect(flows.filter((l) => l.includes('arp_tpa=10.0.0.7'))).toHaveLength(1);
    expect(a.tunnelRemotes()).toEqual(['192.168.0.13']);
    // entries for a network without a local port are ignored
    a.fdbAdd({ networkId: 'elsewhere', vni: 5 }, '192.168.0.12', [{ mac: M, ip: '10.9.9.9' }], true);
    expect(a.dumpFlows('br-tun').join('\n')).not.toContain('10.9.9.9');
  });
});

describe('OvsFabric.batch', () => {
  it('ends with the same flows on every bridge as port-by-port plugging, members included', async () => {
    const specs = [A1, A2, A3, { ...A1, id: '5aaaaaaa-0005', mac: 'fa:16:3e:00:00:05', ip: '10.0.0.5', hv: 'hv2' }];
    const build = (batched: boolean): Cloud => {
      const c = new Cloud([SecurityGroups.defaultGroup('open')]);
      const run = (): void => { for (const s of specs) c.vm(s); };
      if (batched) c.fabric.batch(run); else run();
      return c;
    };
    const a = build(false), b = build(true);
    for (const [hv] of HVS) {
      for (const br of ['br-int', 'br-tun'] as const) {
        expect(b.fabric.agent(hv).dumpFlows(br).map(strip).sort()).toEqual(a.fabric.agent(hv).dumpFlows(br).map(strip).sort());
      }
    }
    expect(b.t.tunnels).toEqual(a.t.tunnels);
    // the members made it: hv1 admits A2 (on hv2) through the default group's remote-group rule
    expect(b.fabric.agent('hv1').dumpFlows('br-int').join('\n')).toContain('nw_src=10.0.0.2 actions=conjunction(');
    expect((await b.t.ping(b.vms.get(A2.id)!, A1.ip, { count: 1 })).received).toBe(1);
  });
});
