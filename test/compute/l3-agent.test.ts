// The L3 agent's legacy router: the namespace it builds (interfaces, addresses, routes, rules),
// proven by traffic through Linux bridges standing in for br-int and the external network:
// SNAT to the gateway, floating IPs both ways, east-west routing, hairpin, removal of a floating
// IP (its conntrack entries only), unplugging, the NAT gateway; inconsistent input refused.
import { describe, expect, it } from 'vitest';
import { Topology } from '../../src/topology/topology.js';
import { LinuxBridge } from '../../src/devices/linux-bridge.js';
import type { Port } from '../../src/sim/link.js';
import { L3Agent, L3AgentError, legacyRouterRules, type NatGatewaySync } from '../../src/compute/l3-agent.js';
import type { PortInfo, PortPlugger, RouterInfo } from '../../src/compute/types.js';
import type { Host } from '../../src/netstack/host.js';
import { tcpRequest } from '../../src/netstack/tools.js';
import { be16, be32, ipv4ToString } from '../../src/wire/bytes.js';
import { formatSave } from '../../src/netfilter/save.js';
import { parseRestore } from '../../src/netfilter/restore.js';

/** One Linux bridge per network: plugging a port adds a bridge port for it. */
class BridgePlugger implements PortPlugger {
  readonly bridges = new Map<string, LinuxBridge>();
  readonly plugged = new Map<string, { bridge: LinuxBridge; name: string }>();
  readonly log: string[] = [];
  constructor(private readonly t: Topology) {}
  bridge(net: string): LinuxBridge {
    let b = this.bridges.get(net);
    if (b === undefined) { b = this.t.add(new LinuxBridge(this.t.sim, `br-${net}`)); this.bridges.set(net, b); }
    return b;
  }
  plug(host: string, port: PortInfo): Port {
    const bridge = this.bridge(port.segment.networkId), name = `${host}-${port.id.slice(0, 8)}`;
    this.plugged.set(port.id, { bridge, name });
    this.log.push(`plug ${host} ${port.id}`);
    return bridge.addPort(name);
  }
  unplug(host: string, portId: string): void {
    const p = this.plugged.get(portId)!;
    p.bridge.removePort(p.name);
    this.plugged.delete(portId);
    this.log.push(`unplug ${host} ${portId}`);
  }
}

let vni = 100;
const nets = new Map<string, number>();
function port(id: string, net: string, mac: string, ip: string, owner: PortInfo['deviceOwner']): PortInfo {
  if (!nets.has(net)) nets.set(net, vni++);
  return { id, segment: { networkId: net, vni: nets.get(net)! }, mac, fixedIps: [ip], allowedAddressPairs: [], securityGroups: [], portSecurity: false, deviceOwner: owner };
}

const RP1 = port('aaaaaaaa-1111-0000-0000-000000000001', 'net1', 'fa:16:3e:00:01:01', '10.0.1.1', 'network:router_interface');
const RP2 = port('bbbbbbbb-2222-0000-0000-000000000002', 'net2', 'fa:16:3e:00:02:01', '10.0.2.1', 'network:router_interface');
const GP = port('cccccccc-3333-0000-0000-000000000003', 'ext', 'fa:16:3e:00:ff:01', '203.0.113.10', 'network:router_gateway');

const ROUTER: RouterInfo = {
  id: 'r1',
  interfaces: [{ port: RP1, cidr: '10.0.1.1/24' }, { port: RP2, cidr: '10.0.2.1/24' }],
  gateway: { port: GP, cidr: '203.0.113.10/24', nexthop: '203.0.113.1', snat: true },
  routes: [],
  floatingIps: [{ floatingIp: '203.0.113.50', fixedIp: '10.0.2.10' }],
};

interface World { t: Topology; agent: L3Agent; plug: BridgePlugger; vm1: Host; vm2: Host; inet: Host }

function world(info: RouterInfo = ROUTER): World {
  const t = new Topology({ seed: 7 });
  const plug = new BridgePlugger(t);
  const agent = new L3Agent(t, { host: 'network1', plugger: plug, external: plug });
  agent.syncRouter(info);
  const vm1 = t.host('vm1', { ip: '10.0.1.10/24', gw: '10.0.1.1' });
  const vm2 = t.host('vm2', { ip: '10.0.2.10/24', gw: '10.0.2.1' });
  const inet = t.host('inet', { ip: '203.0.113.1/24' });
  t.link(vm1, plug.bridge('net1'));
  t.link(vm2, plug.bridge('net2'));
  t.link(inet, plug.bridge('ext'));
  return { t, agent, plug, vm1, vm2, inet };
}

/** Send a UDP datagram 'from' → 'dst':'dport' and return the (src, dst) the receiver 'at' saw, or null. */
function udpSeen(w: World, from: Host, dst: string, at: Host, sport = 5000, dport = 7000): { src: string; dst: string } | null {
  const got: { src: string; dst: string }[] = [];
  const sock = at.sockets.udp(dport);
  sock.onMessage = (_d, f, to) => { got.push({ src: ipv4ToString(f.addr), dst: ipv4ToString(to) }); };
  const c = from.sockets.udp(sport);
  c.send(dst, dport, 'hi');
  w.t.runFor(50e6);
  sock.close(); c.close();
  return got[0] ?? null;
}

/** Sources of the IPv4 frames 'h' received on eth0 while 'fn' ran. */
async function sourcesSeen(w: World, h: Host, fn: () => Promise<unknown>): Promise<string[]> {
  const cap = w.t.capture([h, 'eth0'], 'in');
  await fn();
  cap.close();
  return cap.frames.filter((f) => be16(f.data, 12) === 0x0800).map((f) => ipv4ToString(be32(f.data, 26)));
}

describe('L3Agent: the legacy router namespace', () => {
  it('builds qrouter-<id>: qr-/qg- devices with the ports\' MACs, the floating IP as a /32 on qg-, the default route', () => {
    const { agent } = world();
    const ns = agent.namespace('r1');
    expect(ns.name).toBe('qrouter-r1');
    expect(ns.config.ipForward).toBe(true);
    expect(ns.addresses()).toEqual([
      'qr-aaaaaaaa-11   fa:16:3e:00:01:01 10.0.1.1/24',
      'qr-bbbbbbbb-22   fa:16:3e:00:02:01 10.0.2.1/24',
      'qg-cccccccc-33   fa:16:3e:00:ff:01 203.0.113.10/24 203.0.113.50/32',
    ]);
    expect(ns.fib.ipRoute('show')).toContain('default via 203.0.113.1 dev qg-cccccccc-33');
  });

  it('writes the agent\'s nat rules: postrouting-bottom → snat → float-snat, the DNAT-marked SNAT, floating IP DNAT/SNAT, --random-fully', () => {
    const { agent } = world();
    const save = agent.iptablesSave('r1');
    const nat = save.slice(save.indexOf('*nat'), save.indexOf('COMMIT', save.indexOf('*nat')));
    expect(nat.split('\n').filter((l) => l.startsWith('-A'))).toEqual([
      '-A PREROUTING -j neutron-l3-agent-PREROUTING',
      '-A OUTPUT -j neutron-l3-agent-OUTPUT',
      '-A POSTROUTING -j neutron-l3-agent-POSTROUTING',
      '-A POSTROUTING -j neutron-postrouting-bottom',
      '-A neutron-l3-agent-OUTPUT -d 203.0.113.50/32 -j DNAT --to-destination 10.0.2.10',
      '-A neutron-l3-agent-POSTROUTING ! -o qg-cccccccc-33 -m conntrack ! --ctstate DNAT -j ACCEPT',
      '-A neutron-l3-agent-PREROUTING -d 203.0.113.50/32 -j DNAT --to-destination 10.0.2.10',
      '-A neutron-l3-agent-PREROUTING -d 169.254.169.254/32 -i qr-+ -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 9697',
      '-A neutron-l3-agent-float-snat -s 10.0.2.10/32 -j SNAT --to-source 203.0.113.50 --random-fully',
      '-A neutron-l3-agent-snat -j neutron-l3-agent-float-snat',
      '-A neutron-l3-agent-snat -o qg-cccccccc-33 -j SNAT --to-source 203.0.113.10 --random-fully',
      '-A neutron-l3-agent-snat -m mark ! --mark 0x2/0xffff -m conntrack --ctstate DNAT -j SNAT --to-source 203.0.113.10 --random-fully',
      '-A neutron-postrouting-bottom -m comment --comment "Perform source NAT on outgoing traffic." -j neutron-l3-agent-snat',
    ]);
    expect(save).toContain('-A neutron-l3-agent-mark -i qg-cccccccc-33 -j MARK --set-xmark 0x2/0xffff');
    expect(save).toContain('-A neutron-l3-agent-PREROUTING -m connmark ! --mark 0x0/0xffff0000 -j CONNMARK --restore-mark --nfmask 0xffff0000 --ctmask 0xffff0000');
    expect(save).toContain('-A neutron-l3-agent-POSTROUTING -o qg-cccccccc-33 -m connmark --mark 0x0/0xffff0000 -j CONNMARK --save-mark --nfmask 0xffff0000 --ctmask 0xffff0000');
    expect(save).toContain('-A neutron-l3-agent-scope -o qr-aaaaaaaa-11 -m mark ! --mark 0x4000000/0xffff0000 -j DROP');
    expect(save).not.toContain('-A neutron-l3-agent-scope -o qg-');
    expect(save).toContain('-A FORWARD -j neutron-filter-top');
    // the save is the text loaded, as iptables-save prints it
    expect(save).toBe(formatSave(parseRestore(legacyRouterRules(ROUTER))));
    expect(save).toContain('-A neutron-l3-agent-INPUT -p tcp -m tcp --dport 9697 -j DROP');
    expect(legacyRouterRules(ROUTER, { metadata: false })).not.toContain('169.254.169.254');
    // SNAT off: no -o qg SNAT, qg- joins the scope drops; the hairpin SNAT stays
    const off = legacyRouterRules({ ...ROUTER, gateway: { ...ROUTER.gateway!, snat: false } });
    expect(off).not.toContain('-o qg-cccccccc-33 -j SNAT');
    expect(off).toContain('-A neutron-l3-agent-scope -o qg-cccccccc-33 -m mark ! --mark 0x4000000/0xffff0000 -j DROP');
    expect(off).toContain('--ctstate DNAT -j SNAT --to-source 203.0.113.10 --random-fully');
  });

  it('the metadata address is redirected to the router, where no proxy listens: refused', async () => {
    const w = world();
    const r = await tcpRequest(w.vm1, '169.254.169.254', 80, 'GET / HTTP/1.0\r\n\r\n', { timeoutSec: 2 });
    expect(r.error).toBe('ECONNREFUSED');
  });

  it('VM → internet leaves from the gateway address; the reply comes back to the VM', () => {
    const w = world();
    expect(udpSeen(w, w.vm1, '203.0.113.1', w.inet)).toEqual({ src: '203.0.113.10', dst: '203.0.113.1' });
  });

  it('internet → floating IP reaches the VM (source kept); replies come from the floating IP', async () => {
    const w = world();
    expect(udpSeen(w, w.inet, '203.0.113.50', w.vm2)).toEqual({ src: '203.0.113.1', dst: '10.0.2.10' });
    const r = await w.t.ping(w.inet, '203.0.113.50');
    expect(r.received).toBe(1);
    expect(r.replies[0]).toMatchObject({ from: '203.0.113.50', ttl: 63 });
  });

  it('a VM with a floating IP leaves with it as its source', async () => {
    const w = world();
    expect(udpSeen(w, w.vm2, '203.0.113.1', w.inet)).toEqual({ src: '203.0.113.50', dst: '203.0.113.1' });
    expect(await sourcesSeen(w, w.inet, () => w.t.ping(w.vm2, '203.0.113.1'))).toContain('203.0.113.50');
  });

  it('routes between its two subnets without NAT; a VM reaching another\'s floating IP is SNATed to the gateway (hairpin)', () => {
    const w = world();
    expect(udpSeen(w, w.vm1, '10.0.2.10', w.vm2)).toEqual({ src: '10.0.1.10', dst: '10.0.2.10' });
    expect(udpSeen(w, w.vm1, '203.0.113.50', w.vm2, 5001)).toEqual({ src: '203.0.113.10', dst: '10.0.2.10' });
  });

  it('removing the floating IP breaks its path and deletes only its conntrack entries', async () => {
    const w = world();
    expect(udpSeen(w, w.vm2, '203.0.113.1', w.inet, 5100)).not.toBeNull();
    expect(udpSeen(w, w.inet, '203.0.113.50', w.vm2, 5200)).not.toBeNull();
    expect(udpSeen(w, w.vm1, '203.0.113.1', w.inet, 5300)).not.toBeNull();
    const ct = w.agent.namespace('r1').ip.ct;
    const before = ct.dump(w.t.sim.now / 1e6);
    expect(before.filter((l) => l.includes('203.0.113.50'))).toHaveLength(2);
    w.agent.syncRouter({ ...ROUTER, floatingIps: [] });
    const after = ct.dump(w.t.sim.now / 1e6);
    expect(after).toEqual(before.filter((l) => !l.includes('203.0.113.50')));
    expect(after.some((l) => l.includes('src=10.0.1.10'))).toBe(true);
    // the scope mark a connection leaving by qg- saved (CONNMARK --save-mark)
    expect(after.find((l) => l.includes('src=10.0.1.10'))).toContain('mark=67108864');
    expect(w.agent.namespace('r1').addresses()[2]).toBe('qg-cccccccc-33   fa:16:3e:00:ff:01 203.0.113.10/24');
    expect(w.agent.iptablesSave('r1')).not.toContain('203.0.113.50');
    // nobody answers for the address any more; the VM now leaves from the gateway address
    expect((await w.t.ping(w.inet, '203.0.113.50', { timeout: 1 })).received).toBe(0);
    expect(udpSeen(w, w.vm2, '203.0.113.1', w.inet, 5400)).toEqual({ src: '203.0.113.10', dst: '203.0.113.1' });
  });

  it('a re-sync changes only what changed: the same info reloads nothing, a new floating IP adds its /32 and rules', () => {
    const w = world();
    const ns = w.agent.namespace('r1');
    const nat = ns.ip.ev.rs.table('nat');
    w.agent.syncRouter(ROUTER);
    expect(ns.ip.ev.rs.table('nat')).toBe(nat);
    expect(w.plug.log.filter((l) => l.startsWith('plug'))).toHaveLength(3);
    w.agent.syncRouter({ ...ROUTER, floatingIps: [...ROUTER.floatingIps, { floatingIp: '203.0.113.51', fixedIp: '10.0.1.10' }] });
    expect(ns.addresses()[2]).toContain('203.0.113.51/32');
    expect(udpSeen(w, w.vm1, '203.0.113.1', w.inet)).toEqual({ src: '203.0.113.51', dst: '203.0.113.1' });
    expect(w.plug.log.filter((l) => l.startsWith('plug'))).toHaveLength(3);
  });

  it('an interface left out is unplugged; extra routes are added and removed', () => {
    const w = world();
    const up = w.t.router('up', { ifaces: [{ name: 'eth0', addrs: ['10.0.2.254/24'] }, { name: 'eth1', addrs: ['192.168.9.1/24'] }] });
    w.t.link([up, 'eth0'], w.plug.bridge('net2'));
    w.agent.syncRouter({ ...ROUTER, routes: [{ destination: '192.168.9.0/24', nexthop: '10.0.2.254' }] });
    expect(w.agent.namespace('r1').fib.ipRoute('show')).toContain('192.168.9.0/24 via 10.0.2.254 dev qr-bbbbbbbb-22');
    w.agent.syncRouter({ ...ROUTER, interfaces: [ROUTER.interfaces[1]!] });
    const ns = w.agent.namespace('r1');
    expect(ns.fib.ipRoute('show')).not.toContain('192.168.9.0');
    expect(ns.addresses().map((l) => l.split(' ')[0])).toEqual(['qr-bbbbbbbb-22', 'qg-cccccccc-33']);
    expect(w.plug.log).toContain(`unplug network1 ${RP1.id}`);
    expect(udpSeen(w, w.vm1, '203.0.113.1', w.inet)).toBeNull();
    expect(udpSeen(w, w.vm2, '203.0.113.1', w.inet)).toEqual({ src: '203.0.113.50', dst: '203.0.113.1' });
  });

  it('deleteRouter unplugs every port and removes the namespace; a gateway added later gets NAT working', () => {
    const w = world({ ...ROUTER, gateway: undefined, floatingIps: [] });
    expect(udpSeen(w, w.vm1, '203.0.113.1', w.inet)).toBeNull();
    w.agent.syncRouter(ROUTER);
    expect(udpSeen(w, w.vm1, '203.0.113.1', w.inet)).toEqual({ src: '203.0.113.10', dst: '203.0.113.1' });
    w.agent.deleteRouter('r1');
    expect(w.t.nodes.has('qrouter-r1')).toBe(false);
    expect(w.plug.plugged.size).toBe(0);
    expect(() => w.agent.namespace('r1')).toThrow(L3AgentError);
    expect(udpSeen(w, w.vm1, '203.0.113.1', w.inet)).toBeNull();
  });

  const bad: [string, RouterInfo, string, string][] = [
    ['an interface CIDR that is not its port\'s fixed IP', { ...ROUTER, interfaces: [{ port: RP1, cidr: '10.0.1.2/24' }] }, 'L3_FIXED_IP_MISMATCH', 'interfaces[0].cidr'],
    ['a CIDR that does not parse', { ...ROUTER, interfaces: [{ port: RP1, cidr: '10.0.1.1' }] }, 'L3_BAD_CIDR', 'interfaces[0].cidr'],
    ['overlapping subnets', { ...ROUTER, interfaces: [{ port: RP1, cidr: '10.0.1.1/24' }, { port: { ...RP2, fixedIps: ['10.0.1.129'] }, cidr: '10.0.1.129/25' }] }, 'L3_OVERLAPPING_SUBNET', 'interfaces[1].cidr'],
    ['a floating IP inside a router subnet', { ...ROUTER, floatingIps: [{ floatingIp: '10.0.2.99', fixedIp: '10.0.2.10' }] }, 'L3_FIP_IN_SUBNET', 'floatingIps[0].floatingIp'],
    ['a floating IP that is the gateway address', { ...ROUTER, floatingIps: [{ floatingIp: '203.0.113.10', fixedIp: '10.0.2.10' }] }, 'L3_FIP_IS_GATEWAY', 'floatingIps[0].floatingIp'],
    ['a floating IP twice', { ...ROUTER, floatingIps: [ROUTER.floatingIps[0]!, { floatingIp: '203.0.113.50', fixedIp: '10.0.1.10' }] }, 'L3_DUPLICATE_FIP', 'floatingIps[1].floatingIp'],
    ['a fixed IP on no subnet of the router', { ...ROUTER, floatingIps: [{ floatingIp: '203.0.113.50', fixedIp: '10.9.9.9' }] }, 'L3_FIXED_IP_UNROUTED', 'floatingIps[0].fixedIp'],
    ['floating IPs without a gateway', { ...ROUTER, gateway: undefined }, 'L3_FIP_WITHOUT_GATEWAY', 'floatingIps'],
    ['a gateway nexthop outside its subnet', { ...ROUTER, gateway: { ...ROUTER.gateway!, nexthop: '198.51.100.1' } }, 'L3_BAD_NEXTHOP', 'gateway.nexthop'],
    ['an extra route to nowhere', { ...ROUTER, routes: [{ destination: '192.168.0.0/16', nexthop: '172.16.0.1' }] }, 'L3_BAD_NEXTHOP', 'routes[0].nexthop'],
    ['a bad MAC', { ...ROUTER, interfaces: [{ port: { ...RP1, mac: 'fa:16:3e' }, cidr: '10.0.1.1/24' }] }, 'L3_BAD_MAC', 'interfaces[0].port.mac'],
  ];
  for (const [what, info, code, field] of bad) {
    it(`refuses ${what} (${code} at ${field}), changing nothing`, () => {
      const w = world();
      const save = w.agent.iptablesSave('r1');
      let err: unknown;
      try { w.agent.syncRouter(info); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(L3AgentError);
      expect(err).toMatchObject({ code, field });
      expect(w.agent.iptablesSave('r1')).toBe(save);
    });
  }

  it('refuses a namespace name another node holds', () => {
    const t = new Topology();
    t.host('qrouter-r1');
    const plug = new BridgePlugger(t);
    expect(() => new L3Agent(t, { host: 'n', plugger: plug, external: plug }).syncRouter(ROUTER)).toThrow(expect.objectContaining({ code: 'L3_DUPLICATE_NAMESPACE' }));
  });
});

describe('L3Agent: the NAT gateway', () => {
  const NP = port('dddddddd-4444-0000-0000-000000000004', 'vpc-a', 'fa:16:3e:00:0a:05', '10.20.0.5', 'network:nat_gateway');
  const EP = port('eeeeeeee-5555-0000-0000-000000000005', 'ext', 'fa:16:3e:00:ff:05', '203.0.113.60', 'network:nat_gateway');
  const NAT: NatGatewaySync = {
    id: 'n1', inside: { port: NP, cidr: '10.20.0.5/24' }, outside: { port: EP, cidr: '203.0.113.60/24', nexthop: '203.0.113.1' }, sources: ['10.20.0.0/16'],
  };

  it('SNATs the VPC to its elastic IP; the VPC\'s other subnets are routed back through the subnet\'s gateway', async () => {
    const t = new Topology({ seed: 9 });
    const plug = new BridgePlugger(t);
    const agent = new L3Agent(t, { host: 'network1', plugger: plug, external: plug });
    const ns = agent.syncNatGateway(NAT);
    expect(ns.name).toBe('qnat-n1');
    expect(agent.iptablesSave('n1')).toContain('-A POSTROUTING -s 10.20.0.0/16 -o qg-eeeeeeee-55 -j SNAT --to-source 203.0.113.60');
    expect(ns.fib.ipRoute('show')).toContain('10.20.0.0/16 via 10.20.0.1 dev qn-dddddddd-44');
    const vm = t.host('vm', { ip: '10.20.0.10/24', gw: '10.20.0.5' });
    const inet = t.host('inet', { ip: '203.0.113.1/24' });
    t.link(vm, plug.bridge('vpc-a'));
    t.link(inet, plug.bridge('ext'));
    const w = { t, agent, plug, vm1: vm, vm2: vm, inet };
    expect(udpSeen(w, vm, '203.0.113.1', inet)).toEqual({ src: '203.0.113.60', dst: '203.0.113.1' });
    expect((await t.ping(vm, '203.0.113.1')).received).toBe(1);
    // nothing reaches the VPC from outside through it
    expect(udpSeen(w, inet, '203.0.113.60', vm)).toBeNull();
    // sources changed in place; a new port rebuilds it
    agent.syncNatGateway({ ...NAT, sources: ['10.20.0.0/24'] });
    expect(agent.namespace('n1')).toBe(ns);
    expect(ns.fib.ipRoute('show')).not.toContain('10.20.0.0/16');
    agent.deleteNatGateway('n1');
    expect(plug.plugged.size).toBe(0);
    expect(t.nodes.has('qnat-n1')).toBe(false);
  });

  it('refuses an inside CIDR that is not its port\'s address', () => {
    const t = new Topology();
    const plug = new BridgePlugger(t);
    expect(() => new L3Agent(t, { host: 'n', plugger: plug, external: plug }).syncNatGateway({ ...NAT, inside: { port: NP, cidr: '10.20.0.6/24' } }))
      .toThrow(expect.objectContaining({ code: 'L3_FIXED_IP_MISMATCH', field: 'inside.cidr' }));
  });
});

