// A cloud end to end: the control plane (Cloud) driving the data plane (CloudNetwork) — tenants kept apart on
// the underlay by their VNIs, VM to VM across hypervisors, SNAT and floating IPs through the network node's
// router, security groups, live migration under a continuous ping, and deletion taking only what was the VM's.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Topology } from '../../src/topology/topology.js';
import { Cloud } from '../../src/compute/cloud.js';
import { CloudNetwork } from '../../src/compute/dataplane.js';
import { tcpRequest, tcpServer } from '../../src/netstack/tools.js';
import { be16, ipv4ToString, be32 } from '../../src/wire/bytes.js';

const EXT = { cidr: '203.0.113.0/24', gateway: '203.0.113.1' };

function build(seed = 5): { t: Topology; net: CloudNetwork; cloud: Cloud } {
  const t = new Topology({ seed });
  const net = new CloudNetwork(t, { external: EXT });
  const cloud = new Cloud({ dataplane: net, external: EXT, seed });
  for (const i of [1, 2, 3]) cloud.addHypervisor({ name: `hv${i}`, region: 'r1', az: `az${i}`, vcpus: 16, ramMb: 32768, ip: `192.168.0.1${i}` });
  return { t, net, cloud };
}

/** Two tenants with the same CIDR, a router each (SNAT), a VM of each on hv1 and on hv2. */
function twoTenants(): ReturnType<typeof build> {
  const b = build();
  for (const ten of ['acme', 'globex']) {
    b.cloud.createVpc({ name: ten, cidr: '10.0.0.0/16', tenant: ten });
    b.cloud.createSubnet({ vpc: ten, name: `${ten}-a`, cidr: '10.0.1.0/24' });
    const sg = b.cloud.createSecurityGroup({ name: 'open', tenant: ten });
    b.cloud.addSecurityGroupRule(sg.id, { direction: 'ingress', protocol: 'icmp' });
    b.cloud.addSecurityGroupRule(sg.id, { direction: 'ingress', protocol: 'tcp', portRangeMin: 80, portRangeMax: 80 });
    b.cloud.createRouter({ name: `${ten}-r`, tenant: ten, externalGateway: { snat: true } });
    b.cloud.addRouterInterface(`${ten}-r`, `${ten}-a`);
    for (const az of ['az1', 'az2']) {
      b.cloud.createVm({ name: `${ten}-${az}`, flavor: 'm1.tiny', image: 'cirros', subnets: [`${ten}-a`], securityGroups: ['open'], az });
    }
  }
  return b;
}

const ipOf = (cloud: Cloud, vm: string): string => cloud.vm(vm).portDetails[0]!.fixedIps[0]!;

/** The VXLAN datagrams in a capture: [VNI, inner source IP, inner destination IP] of each IPv4 one. */
function vxlan(frames: { data: Uint8Array }[]): [number, string, string][] {
  const out: [number, string, string][] = [];
  for (const { data: f } of frames) {
    if (be16(f, 12) !== 0x0800 || f[23] !== 17 || be16(f, 36) !== 4789) continue;
    const vni = be32(f, 46) >>> 8, inner = 50;
    if (be16(f, inner + 12) !== 0x0800) continue;
    out.push([vni, ipv4ToString(be32(f, inner + 26)), ipv4ToString(be32(f, inner + 30))]);
  }
  return out;
}

describe('a cloud on its data plane', () => {
  it('keeps two tenants with the same CIDR apart: distinct VNIs on the underlay, no packet across', async () => {
    const { t, cloud, net } = twoTenants();
    const a1 = ipOf(cloud, 'acme-az1'), a2 = ipOf(cloud, 'acme-az2'), g2 = ipOf(cloud, 'globex-az2');
    expect(a1).toBe(ipOf(cloud, 'globex-az1')); // the same addresses in both tenants
    const cap = t.capture([net.fabric.agent('hv1').host, 'eth0']);
    // ICMP frames each VM on hv2 receives
    const icmpIn = (vm: string): { n: number } => {
      const c = { n: 0 };
      net.vmHost(vm).ports.get('eth0')!.tap((f, dir) => { if (dir === 'in' && be16(f, 12) === 0x0800 && f[23] === 1) c.n++; });
      return c;
    };
    const acmeIn = icmpIn('acme-az2'), globexIn = icmpIn('globex-az2');
    const r = await t.ping('acme-az1', a2, { count: 3 });
    expect(r.received).toBe(3);
    // globex's VM on hv2 has acme-az2's very address, yet it saw none of acme's echoes
    expect([acmeIn.n, globexIn.n]).toEqual([3, 0]);
    const r2 = await t.ping('globex-az1', g2, { count: 2 });
    expect(r2.received).toBe(2);
    expect([acmeIn.n, globexIn.n]).toEqual([3, 2]);
    const vnis = new Map<number, Set<string>>();
    for (const [vni, s, d] of vxlan(cap.frames)) { if (!vnis.has(vni)) vnis.set(vni, new Set()); vnis.get(vni)!.add(`${s}>${d}`); }
    const acmeVni = cloud.vpcs().find((v) => v.name === 'acme')!.vni, globexVni = cloud.vpcs().find((v) => v.name === 'globex')!.vni;
    expect(acmeVni).not.toBe(globexVni);
    expect([...vnis.keys()].sort()).toEqual([acmeVni, globexVni].sort());
    // both tenants' echoes are 10.0.1.x → 10.0.1.y; only the VNI tells them apart
    expect(vnis.get(acmeVni)!.has(`${a1}>${a2}`)).toBe(true);
    expect(vnis.get(globexVni)!.has(`${a1}>${g2}`)).toBe(true);
  });

  it('takes a VM to the outside through its router\'s SNAT, and the outside to a VM through a floating IP', async () => {
    const { t, cloud, net } = twoTenants();
    const gw = cloud.router('acme-r').gateway!;
    const gwIp = cloud.port(gw.portId).fixedIps[0]!;
    const up = t.capture([net.upstream!, 'eth0']);
    const r = await t.ping('acme-az1', EXT.gateway, { count: 2 });
    expect(r.received).toBe(2);
    const srcs = new Set(up.frames.filter((f) => be16(f.data, 12) === 0x0800 && f.dir === 'in').map((f) => ipv4ToString(be32(f.data, 26))));
    expect([...srcs]).toEqual([gwIp]);
    // a floating IP for acme-az2: reachable from the internet, and its own traffic leaves from it
    const fip = cloud.createFloatingIp({ tenant: 'acme' });
    cloud.associateFloatingIp(fip.id, cloud.vm('acme-az2').ports[0]!);
    tcpServer(net.vmHost('acme-az2'), 80, () => new TextEncoder().encode('hello'));
    const got = await tcpRequest(net.upstream!, fip.ip, 80, 'GET', { timeoutSec: 5 });
    expect(got.error).toBeNull();
    expect(new TextDecoder().decode(got.response)).toBe('hello');
    up.frames.length = 0;
    expect((await t.ping('acme-az2', EXT.gateway, { count: 1 })).received).toBe(1);
    expect(up.frames.filter((f) => be16(f.data, 12) === 0x0800 && f.dir === 'in').map((f) => ipv4ToString(be32(f.data, 26)))).toEqual([fip.ip]);
    // disassociated: the floating IP leads nowhere
    cloud.disassociateFloatingIp(fip.id);
    const gone = await tcpRequest(net.upstream!, fip.ip, 80, 'GET', { timeoutSec: 2 });
    expect(gone.error).not.toBeNull();
  });

  it('a router\'s gateway cleared and set again: the outside lost, then reached again through a new qg- port', async () => {
    const { t, cloud } = twoTenants();
    expect((await t.ping('globex-az1', EXT.gateway, { count: 1 })).received).toBe(1);
    cloud.clearRouterGateway('globex-r');
    expect((await t.ping('globex-az1', EXT.gateway, { count: 1, timeout: 1 })).received).toBe(0);
    cloud.setRouterGateway('globex-r', { snat: true });
    expect((await t.ping('globex-az1', EXT.gateway, { count: 1 })).received).toBe(1);
  });

  it('a router made without a gateway gets one later: its namespace is made anew on the same ports, and the VMs reach the outside', async () => {
    const { t, cloud } = build();
    cloud.createVpc({ name: 'v', cidr: '10.0.0.0/16', tenant: 'v' });
    cloud.createSubnet({ vpc: 'v', name: 'v-a', cidr: '10.0.1.0/24' });
    cloud.createRouter({ name: 'r', tenant: 'v' });
    cloud.addRouterInterface('r', 'v-a');
    cloud.createVm({ name: 'v1', flavor: 'm1.tiny', image: 'cirros', subnets: ['v-a'] });
    expect((await t.ping('v1', '10.0.1.1', { count: 1 })).received).toBe(1);
    cloud.setRouterGateway('r', { snat: true });
    expect((await t.ping('v1', EXT.gateway, { count: 1 })).received).toBe(1);
  });

  it('filters by security group: a port allowed, another refused, a remote group admitted', async () => {
    const { t, cloud, net } = twoTenants();
    const a2 = ipOf(cloud, 'acme-az2');
    tcpServer(net.vmHost('acme-az2'), 80, () => new TextEncoder().encode('web'));
    tcpServer(net.vmHost('acme-az2'), 22, () => new TextEncoder().encode('ssh'));
    expect((await tcpRequest(net.vmHost('acme-az1'), a2, 80, 'x', { timeoutSec: 2 })).error).toBeNull();
    expect((await tcpRequest(net.vmHost('acme-az1'), a2, 22, 'x', { timeoutSec: 2 })).error).not.toBeNull();
    // ssh from the members of 'admin' only
    const admin = cloud.createSecurityGroup({ name: 'admin', tenant: 'acme' });
    const open = cloud.securityGroups().find((g) => g.name === 'open' && g.tenant === 'acme')!.id;
    cloud.addSecurityGroupRule(open, { direction: 'ingress', protocol: 'tcp', portRangeMin: 22, portRangeMax: 22, remoteGroupId: admin.id } as never);
    cloud.createVm({ name: 'acme-bastion', flavor: 'm1.tiny', image: 'cirros', subnets: ['acme-a'], securityGroups: ['admin'], az: 'az3' });
    await t.ping('acme-bastion', a2, { count: 1 }).catch(() => undefined);
    expect((await tcpRequest(net.vmHost('acme-bastion'), a2, 22, 'x', { timeoutSec: 2 })).error).toBeNull();
    expect((await tcpRequest(net.vmHost('acme-az1'), a2, 22, 'x', { timeoutSec: 2 })).error).not.toBeNull();
  });

  it('live-migrates a VM under a continuous ping, losing at most what was in flight at the switch-over', async () => {
    const { t, cloud, net } = twoTenants();
    // a VM created without an availability zone may go anywhere (Nova keeps a requested zone on migration)
    const vm = cloud.createVm({ name: 'acme-m', flavor: 'm1.tiny', image: 'cirros', subnets: ['acme-a'], securityGroups: ['open'] });
    const from = vm.hypervisor!, to = ['hv1', 'hv2', 'hv3'].find((h) => h !== from && h !== 'hv1')!;
    const ip = ipOf(cloud, 'acme-m');
    const mac = cloud.vm('acme-m').portDetails[0]!.mac;
    const host = net.vmHost('acme-m');
    // the echo requests the sender has out, replies not yet back: what is in flight at any moment
    let requests = 0, replies = 0;
    net.vmHost('acme-az1').ports.get('eth0')!.tap((f, dir) => {
      if (be16(f, 12) !== 0x0800 || f[23] !== 1) return;
      if (dir === 'out' && f[34] === 8) requests++;
      if (dir === 'in' && f[34] === 0) replies++;
    });
    let moved: { from: string; to: string } | null = null, inFlight = -1;
    t.sim.call(t.sim.now + 200_000_000 + 123_456, () => { inFlight = requests - replies; moved = cloud.migrateVm('acme-m', to); });
    const r = await t.ping('acme-az1', ip, { count: 40, interval: 0.01 });
    expect(moved).toEqual({ from, to });
    expect(cloud.vm('acme-m').hypervisor).toBe(to);
    // the same VM (host, MAC, address) now behind the target's br-int
    expect(net.vmHost('acme-m')).toBe(host);
    expect(cloud.vm('acme-m').portDetails[0]!.mac).toBe(mac);
    expect(host.ports.get('eth0')!.peer!.owner.name).toBe(`${to}/br-int`);
    expect(r.transmitted).toBe(40);
    // lost: exactly the echoes in flight at the switch-over (one: the switch-over falls inside an RTT)
    expect(inFlight).toBe(1);
    expect(r.transmitted - r.received).toBe(inFlight);
    expect((await t.ping('acme-az1', ip, { count: 3 })).received).toBe(3);
    // the port is bound on the target only
    const portId = cloud.vm('acme-m').ports[0]!;
    expect(net.fabric.agent(from).boundPorts().map((p) => p.id)).not.toContain(portId);
    expect(net.fabric.agent(to).boundPorts().map((p) => p.id)).toContain(portId);
  });

  it('evacuates the VMs of a crashed hypervisor: rebuilt elsewhere with their addresses, the peers\' tunnels to it gone', async () => {
    const { t, cloud, net } = twoTenants();
    cloud.createVm({ name: 'acme-m', flavor: 'm1.tiny', image: 'cirros', subnets: ['acme-a'], securityGroups: ['open'] });
    const ip = ipOf(cloud, 'acme-m'), dead = cloud.vm('acme-m').hypervisor!;
    expect((await t.ping('acme-az1', ip, { count: 1 })).received).toBe(1);
    const moves = cloud.failHypervisor(dead);
    const m = moves.find((x) => x.vm === 'acme-m')!;
    expect(m.to).not.toBeNull();
    expect(m.to).not.toBe(dead);
    expect(cloud.vm('acme-m').status).toBe('ACTIVE');
    expect(ipOf(cloud, 'acme-m')).toBe(ip);
    expect(net.vmHost('acme-m').ports.get('eth0')!.peer!.owner.name).toBe(`${m.to}/br-int`);
    const deadIp = cloud.hypervisors().find((h) => h.name === dead)!.ip;
    for (const h of ['hv1', 'hv2', 'hv3'].filter((x) => x !== dead)) {
      expect(net.fabric.agent(h).tunnelRemotes()).not.toContain(deadIp);
    }
    expect((await t.ping('acme-az1', ip, { count: 2 })).received).toBe(2);
    // the machine comes back (rebooted: a fresh agent); a VM can be migrated onto it again
    cloud.recoverHypervisor(dead);
    cloud.migrateVm('acme-m', dead);
    expect(net.vmHost('acme-m').ports.get('eth0')!.peer!.owner.name).toBe(`${dead}/br-int`);
    // its announcement waits for the rebooted host's first ARP on the underlay; then the switches know the way
    t.runFor(10e6);
    expect((await t.ping('acme-az1', ip, { count: 2 })).received).toBe(2);
  });

  it('deleting a VM takes its flows and FDB entries and nothing else', async () => {
    const { t, cloud, net } = twoTenants();
    await t.ping('acme-az1', ipOf(cloud, 'acme-az2'), { count: 1 });
    const strip = (l: string): string => l.replace(/ (duration|n_packets|n_bytes|idle_age|hard_age)=[^,]*,/g, '');
    const hv1Tun = net.fabric.agent('hv1').dumpFlows('br-tun').map(strip);
    const mac = cloud.vm('globex-az2').portDetails[0]!.mac;
    cloud.deleteVm('globex-az2');
    const after = net.fabric.agent('hv1').dumpFlows('br-tun').map(strip);
    const removed = hv1Tun.filter((l) => !after.includes(l));
    expect(removed.length).toBeGreaterThan(0);
    // each flow removed names the VM's MAC (an l2pop unicast or ARP responder entry), or is its network's
    // flood flow, which lost hv2's tunnel (globex has no port left there)
    const macHex = mac.toLowerCase().replace(/:/g, '');
    for (const l of removed) expect(l.includes(mac) || l.includes(macHex) || /table=22,/.test(l)).toBe(true);
    // and the only flow added is that flood flow, rewritten
    expect(after.filter((l) => !hv1Tun.includes(l)).every((l) => /table=22,/.test(l))).toBe(true);
    expect(after.filter((l) => !hv1Tun.includes(l)).length).toBeLessThanOrEqual(1);
    expect(() => net.vmHost('globex-az2')).toThrow();
    // acme is untouched
    expect((await t.ping('acme-az1', ipOf(cloud, 'acme-az2'), { count: 1 })).received).toBe(1);
  });

  it('CloudNetwork.batch around a control-plane batch ends with the flows and tunnels of delivery one by one', async () => {
    const strip = (l: string): string => l.replace(/ ?(cookie|duration|n_packets|n_bytes|idle_age|hard_age)=[^,]*,/g, '');
    const make = (held: boolean): ReturnType<typeof build> => {
      const b = build();
      const run = (): void => b.cloud.batch(() => {
        for (const ten of ['acme', 'globex']) {
          b.cloud.createVpc({ name: ten, cidr: '10.0.0.0/16', tenant: ten });
          b.cloud.createSubnet({ vpc: ten, name: `${ten}-a`, cidr: '10.0.1.0/24' });
          const sg = b.cloud.createSecurityGroup({ name: 'peers', tenant: ten });
          b.cloud.addSecurityGroupRule(sg.id, { direction: 'ingress', protocol: 'icmp', remoteGroupId: sg.id });
          for (let i = 0; i < 5; i++) b.cloud.createVm({ name: `${ten}-${i}`, flavor: 'm1.tiny', image: 'cirros', subnets: [`${ten}-a`], securityGroups: [sg.id] });
        }
      });
      if (held) b.net.batch(run); else run();
      return b;
    };
    const a = make(false), b = make(true);
    for (const hv of a.net.fabric.hypervisors()) {
      for (const br of ['br-int', 'br-tun'] as const) {
        expect(b.net.fabric.agent(hv).dumpFlows(br).map(strip).sort()).toEqual(a.net.fabric.agent(hv).dumpFlows(br).map(strip).sort());
      }
    }
    expect(b.t.tunnels).toEqual(a.t.tunnels);
    // the remote-group rule admits a peer on another hypervisor
    const vms = b.cloud.vms().filter((v) => v.name.startsWith('acme-'));
    const far = vms.find((v) => v.hypervisor !== vms[0]!.hypervisor)!;
    expect((await b.t.ping(vms[0]!.name, ipOf(b.cloud, far.name), { count: 1 })).received).toBe(1);
  });
});

describe('tenant layouts drawn at random', () => {
  it('every tenant reaches all its VMs, and no frame of one tenant is carried in another\'s VNI or delivered to its VMs', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.array(fc.constantFrom('az1', 'az2', 'az3'), { minLength: 2, maxLength: 4 }), { minLength: 2, maxLength: 3 }),
      async (layout) => {
        const { t, cloud, net } = build(11);
        const tenants = layout.map((azs, k) => {
          const ten = `t${k}`;
          cloud.createVpc({ name: ten, cidr: '10.0.0.0/16', tenant: ten });
          cloud.createSubnet({ vpc: ten, name: `${ten}-s`, cidr: '10.0.1.0/24' });
          const sg = cloud.createSecurityGroup({ name: 'icmp', tenant: ten });
          cloud.addSecurityGroupRule(sg.id, { direction: 'ingress', protocol: 'icmp' });
          const vms = azs.map((az, i) => cloud.createVm({ name: `${ten}-vm${i}`, flavor: 'm1.tiny', image: 'cirros', subnets: [`${ten}-s`], securityGroups: [sg.id], az }).name);
          return { ten, vni: cloud.vpcs().find((v) => v.name === ten)!.vni, vms, macs: new Set(vms.map((v) => cloud.vm(v).portDetails[0]!.mac)) };
        });
        const macText = (f: Uint8Array, off: number): string => Array.from(f.subarray(off, off + 6), (b) => b.toString(16).padStart(2, '0')).join(':');
        const caps = ['hv1', 'hv2', 'hv3'].map((h) => t.capture([net.fabric.agent(h).host, 'eth0']));
        const wrong: string[] = [];
        for (const ten of tenants) {
          for (const vm of ten.vms) {
            net.vmHost(vm).ports.get('eth0')!.tap((f, dir) => {
              if (dir === 'in' && be16(f, 12) === 0x0800 && !ten.macs.has(macText(f, 6)) && f[23] === 1) wrong.push(`${vm} got ICMP from ${macText(f, 6)}`);
            });
          }
        }
        for (const ten of tenants) {
          for (const vm of ten.vms.slice(1)) {
            const r = await t.ping(ten.vms[0]!, ipOf(cloud, vm), { count: 1, timeout: 2 });
            expect(r.received, `${ten.ten}: ${ten.vms[0]} → ${vm}`).toBe(1);
          }
        }
        let carried = 0;
        for (const c of caps) {
          for (const { data: f } of c.frames) {
            if (be16(f, 12) !== 0x0800 || f[23] !== 17 || be16(f, 36) !== 4789) continue;
            carried++;
            const vni = be32(f, 46) >>> 8, src = macText(f, 50 + 6);
            const owner = tenants.find((x) => x.macs.has(src));
            if (owner !== undefined && owner.vni !== vni) wrong.push(`${src} of ${owner.ten} carried in VNI ${vni}`);
          }
        }
        expect(wrong).toEqual([]);
        // a tenant on two zones (so two hypervisors) crossed the underlay
        if (layout.some((azs) => new Set(azs).size > 1)) expect(carried).toBeGreaterThan(0);
      }), { numRuns: 8 });
  });
});
