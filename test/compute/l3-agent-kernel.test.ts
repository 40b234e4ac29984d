/**
 * Kernel differential test of the L3 agent's legacy router (src/compute/l3-agent.ts): the router
 * the agent builds, rebuilt in a real network namespace (test/oracle/netns.ts: veths named as
 * the qr-/qg- devices, the same MACs, addresses — the floating IP as a /32 on qg- — the default
 * route, ip_forward 1, and `iptables-restore` of the same text, `legacyRouterRules`), gets the
 * same packets as the emulator's `qrouter-` namespace; per packet the interface it leaves by and
 * its addresses after NAT must agree, as must the conntrack table's addresses. Ports chosen by
 * SNAT are not compared: every SNAT rule of the agent has --random-fully (the kernel draws a
 * random port, the emulator its seeded one); a destination port DNAT leaves alone is.
 * Also: the kernel's `iptables-save` after loading the text equals the emulator's save of the
 * namespace (date lines normalised, as test/netfilter/save-kernel.test.ts does).
 * With CI=true a missing tool fails the suite (describeWithKernel).
 */
import { expect, it } from 'vitest';
import { Topology } from '../../src/topology/topology.js';
import { L3Agent, legacyRouterRules, natGatewayLayout, routerLayout, type NatGatewaySync, type NsIface } from '../../src/compute/l3-agent.js';
import type { RouteSpec } from '../../src/netstack/host.js';
import type { PortInfo, PortPlugger, RouterInfo } from '../../src/compute/types.js';
import { LinuxBridge } from '../../src/devices/linux-bridge.js';
import { be16, be32, ipv4ToString } from '../../src/wire/bytes.js';
import { describeWithKernel, inNamespaceSync, normaliseConntrack, runKernelScenario, type HostConfig, type KernelPacket } from '../oracle/netns.js';

const port = (id: string, net: string, mac: string, ip: string): PortInfo =>
  ({ id, segment: { networkId: net, vni: 1 }, mac, fixedIps: [ip], allowedAddressPairs: [], securityGroups: [], portSecurity: false, deviceOwner: 'network:router_interface' });

const ROUTER: RouterInfo = {
  id: 'k1',
  interfaces: [
    { port: port('aaaaaaaa-1111', 'net1', 'fa:16:3e:00:01:01', '10.0.1.1'), cidr: '10.0.1.1/24' },
    { port: port('bbbbbbbb-2222', 'net2', 'fa:16:3e:00:02:01', '10.0.2.1'), cidr: '10.0.2.1/24' },
  ],
  gateway: { port: port('cccccccc-3333', 'ext', 'fa:16:3e:00:ff:01', '203.0.113.10'), cidr: '203.0.113.10/24', nexthop: '203.0.113.1', snat: true },
  routes: [],
  floatingIps: [{ floatingIp: '203.0.113.50', fixedIp: '10.0.2.10' }],
};
const QR1 = 'qr-aaaaaaaa-11', QR2 = 'qr-bbbbbbbb-22', QG = 'qg-cccccccc-33';

/** The agent's namespace as the harness's router: the same devices, MACs, addresses and routes. */
function kernelHost(info: RouterInfo): HostConfig {
  return harnessHost(routerLayout(info));
}

function harnessHost(l: { ifaces: NsIface[]; routes: RouteSpec[] }): HostConfig {
  return {
    ifaces: l.ifaces.map((i) => ({ name: i.dev, addrs: i.addrs, mac: i.mac })),
    routes: l.routes.map((r) => ({ dst: r.dst, dev: r.dev, ...(r.via !== undefined ? { via: r.via } : {}) })),
    sysctls: { ip_forward: 1 },
  };
}

/** The agent on 't', its ports on one bridge: the packets are handed to the namespace's IP path directly. */
function agentOn(t: Topology): L3Agent {
  const br = t.add(new LinuxBridge(t.sim, 'br'));
  const plugger: PortPlugger = { plug: (_h, p) => br.addPort(p.id), unplug: (_h, id) => br.removePort(id) };
  return new L3Agent(t, { host: 'net-node', plugger, external: plugger });
}

const udp = (src: string, sport: number, dst: string, dport: number, inIf: string): KernelPacket => ({ proto: 'udp', src, sport, dst, dport, in: inIf, payload: 'x' });
const PACKETS: KernelPacket[] = [
  udp('10.0.1.10', 5000, '203.0.113.1', 7000, QR1), // SNAT to the gateway address
  udp('203.0.113.1', 6000, '203.0.113.50', 7000, QG), // floating IP in: DNAT
  udp('10.0.2.10', 7000, '203.0.113.1', 6000, QR2), // its reply: from the floating IP
  udp('10.0.2.10', 5001, '203.0.113.1', 7000, QR2), // a new flow of the VM with the floating IP: float-snat
  udp('10.0.1.10', 5002, '10.0.2.10', 7000, QR1), // east-west: no NAT
  udp('10.0.1.10', 5003, '203.0.113.50', 7000, QR1), // hairpin to a floating IP: DNAT + SNAT to the gateway
  { proto: 'tcp', src: '203.0.113.1', sport: 40000, dst: '203.0.113.50', dport: 22, tcpFlags: 'S', seq: 1, in: QG },
  { proto: 'icmp', src: '10.0.1.10', dst: '203.0.113.1', icmpId: 77, in: QR1 },
  udp('203.0.113.1', 6001, '203.0.113.10', 7000, QG), // to the gateway address itself: no mapping, the router answers
  // the metadata address: REDIRECTed to 9697 where nothing listens — refused from 169.254.169.254:80
  { proto: 'tcp', src: '10.0.1.10', sport: 41000, dst: '169.254.169.254', dport: 80, tcpFlags: 'S', seq: 1, in: QR1 },
  // 9697 asked for directly, from outside: dropped in INPUT
  { proto: 'tcp', src: '203.0.113.1', sport: 41001, dst: '203.0.113.10', dport: 9697, tcpFlags: 'S', seq: 1, in: QG },
];

/** What leaves, without the ports SNAT picks: `iface proto src > dst:dport`. */
function leaving(iface: string, f: Uint8Array): string {
  const proto = f[23]!, l4 = 14 + (f[14]! & 15) * 4;
  const dport = proto === 6 || proto === 17 ? `:${be16(f, l4 + 2)}` : proto === 1 ? ` icmp ${f[l4]}/${f[l4 + 1]}` : '';
  return `${iface} ${proto} ${ipv4ToString(be32(f, 26))} > ${ipv4ToString(be32(f, 30))}${dport}`;
}

/** Conntrack lines with the ports and ICMP ids (SNAT's random choices) left out. */
const ctAddresses = (lines: string[]): string[] => lines.map((l) => l.replace(/ (sport|dport|id)=\d+/g, '')).sort();

describeWithKernel('L3 agent legacy router against a Linux namespace', () => {
  it('the same packets leave by the same interfaces with the same addresses after NAT; the same connections', async () => {
    const host = kernelHost(ROUTER);
    const rules = legacyRouterRules(ROUTER);
    const kernel = await runKernelScenario(host, rules, PACKETS, { sendRedirects: false });
    const ns = agentOn(new Topology({ seed: 5 })).syncRouter(ROUTER);
    kernel.forEach((k, i) => {
      const r = ns.ip.receive(k.sent.slice(), PACKETS[i]!.in, (i + 1) * 1000);
      const ours = [...(r.out !== null ? [leaving(r.out.iface, r.out.frame)] : []), ...(r.reply !== null ? [leaving(r.reply.iface, r.reply.frame)] : [])];
      const theirs = k.out.map((f) => leaving(f.iface, f.frame));
      expect(ours.sort(), `packet ${i}: what leaves`).toEqual(theirs.sort());
      expect(ctAddresses(normaliseConntrack(ns.ip.ct.dump((i + 1) * 1000).join('\n'))), `packet ${i}: conntrack`).toEqual(ctAddresses(k.conntrack));
    });
    // the facts the comparison rests on, spelled out
    expect(leaving(QG, kernel[0]!.out[0]!.frame)).toBe(`${QG} 17 203.0.113.10 > 203.0.113.1:7000`);
    expect(leaving(QR2, kernel[5]!.out[0]!.frame)).toBe(`${QR2} 17 203.0.113.10 > 10.0.2.10:7000`);
    expect(kernel[9]!.out.map((f) => leaving(f.iface, f.frame))).toEqual([`${QR1} 6 169.254.169.254 > 10.0.1.10:41000`]);
    expect(kernel[10]!.out).toEqual([]);
  }, 60_000);

  it('iptables-save of the kernel after loading the agent\'s text is the emulator\'s save', () => {
    const rules = legacyRouterRules(ROUTER);
    const kernel = inNamespaceSync('l3', (x) => {
      const r = x(['iptables-restore'], rules);
      if (r.status !== 0) throw new Error(`kernel refused: ${r.stderr}`);
      return x(['iptables-save']).stdout;
    });
    const agent = agentOn(new Topology());
    agent.syncRouter(ROUTER);
    const normalise = (s: string): string => s.replace(/^# (Generated by iptables-save v1\.8\.9 \(nf_tables\)|Completed) on .*$/gm, '# $1 on DATE');
    expect(normalise(agent.iptablesSave('k1'))).toBe(normalise(kernel));
  });

  it('the NAT gateway: the VPC leaves from the elastic IP (its own subnet and one routed back through the subnet gateway); replies come back; nothing else gets in', async () => {
    const mk = (id: string, ip: string, mac: string): PortInfo => ({ ...port(id, 'vpc', mac, ip), deviceOwner: 'network:nat_gateway' });
    const nat: NatGatewaySync = {
      id: 'n1', inside: { port: mk('dddddddd-4444', '10.20.0.5', 'fa:16:3e:00:0a:05'), cidr: '10.20.0.5/24' },
      outside: { port: mk('eeeeeeee-5555', '203.0.113.60', 'fa:16:3e:00:ff:05'), cidr: '203.0.113.60/24', nexthop: '203.0.113.1' }, sources: ['10.20.0.0/16'],
    };
    const QN = 'qn-dddddddd-44', QG2 = 'qg-eeeeeeee-55';
    const layout = natGatewayLayout(nat);
    const packets: KernelPacket[] = [
      udp('10.20.0.10', 5000, '203.0.113.1', 7000, QN), udp('10.20.1.10', 5000, '203.0.113.1', 7000, QN),
      udp('203.0.113.1', 7000, '203.0.113.60', 5000, QG2), udp('203.0.113.1', 7000, '203.0.113.60', 1024, QG2),
      udp('203.0.113.1', 7001, '203.0.113.60', 5000, QG2),
    ];
    const kernel = await runKernelScenario(harnessHost(layout), layout.rules, packets, { sendRedirects: false });
    const ns = agentOn(new Topology({ seed: 5 })).syncNatGateway(nat);
    kernel.forEach((k, i) => {
      const r = ns.ip.receive(k.sent.slice(), packets[i]!.in, (i + 1) * 1000);
      const ours = [...(r.out !== null ? [leaving(r.out.iface, r.out.frame)] : []), ...(r.reply !== null ? [leaving(r.reply.iface, r.reply.frame)] : [])];
      expect(ours.sort(), `packet ${i}: what leaves`).toEqual(k.out.map((f) => leaving(f.iface, f.frame)).sort());
      expect(ctAddresses(normaliseConntrack(ns.ip.ct.dump((i + 1) * 1000).join('\n'))), `packet ${i}: conntrack`).toEqual(ctAddresses(k.conntrack));
    });
    expect(kernel.slice(0, 2).map((k) => leaving(k.out[0]!.iface, k.out[0]!.frame))).toEqual([`${QG2} 17 203.0.113.60 > 203.0.113.1:7000`, `${QG2} 17 203.0.113.60 > 203.0.113.1:7000`]);
  }, 60_000);
});
