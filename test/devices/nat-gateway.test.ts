// The NAT gateway: two private subnets behind it, SNAT to a pool, a floating IP, a port forward —
// proven by traffic and by what the provider side sees; and its rules against a kernel-built copy.
import { describe, expect, it } from 'vitest';
import { Topology } from '../../src/topology/topology.js';
import { natGatewayRules, natGatewayOutsideAddrs, type NatGatewaySpec } from '../../src/devices/nat-gateway.js';
import { drive } from '../../src/netstack/tools.js';
import { be32, ipv4ToString } from '../../src/wire/bytes.js';
import { describeWithKernel } from '../oracle/netns.js';
import { buildEmulated, pingFacts, runInKernel, type TopoDesc } from '../oracle/topo-netns.js';

const SPEC: NatGatewaySpec = {
  outside: { iface: 'eth0', addr: '203.0.113.1/24', gw: '203.0.113.254' },
  inside: [{ iface: 'eth1', addr: '10.0.1.1/24' }, { iface: 'eth2', addr: '10.0.2.1/24' }],
  pool: '203.0.113.10-203.0.113.13',
  floatingIps: [{ ip: '203.0.113.50', to: '10.0.2.10' }],
  portForwards: [{ proto: 'udp', port: 8053, to: '10.0.1.10:53' }],
};

function build(): { t: Topology; vm1: ReturnType<Topology['host']>; vm2: ReturnType<Topology['host']>; inet: ReturnType<Topology['host']> } {
  const t = new Topology({ seed: 3 });
  const gw = t.natGateway('nat1', SPEC);
  const vm1 = t.host('vm1', { ip: '10.0.1.10/24', gw: '10.0.1.1' });
  const vm2 = t.host('vm2', { ip: '10.0.2.10/24', gw: '10.0.2.1' });
  const inet = t.host('inet', { ip: '203.0.113.100/24' });
  t.link(vm1, [gw, 'eth1'], { delay: '100us' });
  t.link(vm2, [gw, 'eth2'], { delay: '100us' });
  t.link(inet, [gw, 'eth0'], { delay: '1ms' });
  return { t, vm1, vm2, inet };
}

describe('NatGateway', () => {
  it('writes the L3 agent\'s rules: floating IP DNAT/SNAT first, port forwards, the pool for each subnet', () => {
    expect(natGatewayRules(SPEC)).toBe(`*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
-A PREROUTING -d 203.0.113.50/32 -j DNAT --to-destination 10.0.2.10
-A OUTPUT -d 203.0.113.50/32 -j DNAT --to-destination 10.0.2.10
-A PREROUTING -d 203.0.113.1/32 -p udp -m udp --dport 8053 -j DNAT --to-destination 10.0.1.10:53
-A POSTROUTING -s 10.0.2.10/32 -o eth0 -j SNAT --to-source 203.0.113.50
-A POSTROUTING -s 10.0.1.0/24 -o eth0 -j SNAT --to-source 203.0.113.10-203.0.113.13
-A POSTROUTING -s 10.0.2.0/24 -o eth0 -j SNAT --to-source 203.0.113.10-203.0.113.13
COMMIT
`);
    expect(natGatewayOutsideAddrs(SPEC)).toEqual(['203.0.113.1/24', '203.0.113.10/32', '203.0.113.11/32', '203.0.113.12/32', '203.0.113.13/32', '203.0.113.50/32']);
    expect(() => natGatewayRules({ ...SPEC, floatingIps: [{ ip: '203.0.113.51', to: '10.9.9.9' }] })).toThrow(/floatingIps\[0\]\.to: 10\.9\.9\.9 is in none of the inside subnets/);
  });

  it('private hosts reach the provider network from pool addresses; the floating IP is the VM\'s, both ways; the port forward reaches vm1', async () => {
    const { t, vm1, vm2, inet } = build();
    const seen: string[] = [];
    inet.ports.get('eth0')!.tap((f, dir) => { if (dir === 'in' && f[23] !== undefined && f[12] === 8 && f[13] === 0) seen.push(ipv4ToString(be32(f, 26))); });
    expect((await t.ping(vm1, '203.0.113.100')).received).toBe(1);
    expect((await t.ping(vm2, '203.0.113.100')).received).toBe(1);
    expect((await t.ping(inet, '203.0.113.50')).replies[0]).toMatchObject({ from: '203.0.113.50', ttl: 63 });
    // vm1 leaves from one pool address (jhash of source and destination), vm2 from its floating IP
    expect(seen[0]).toMatch(/^203\.0\.113\.1[0-3]$/);
    expect(seen[1]).toBe('203.0.113.50');
    // the port forward: a UDP request to the gateway's own address lands on vm1:53
    const dns = vm1.sockets.udp(53);
    dns.onMessage = (d, from) => dns.send(from.addr, from.port, d);
    const client = inet.sockets.udp();
    const got: string[] = [];
    client.onMessage = (d, from) => got.push(`${new TextDecoder().decode(d)} from ${ipv4ToString(from.addr)}:${from.port}`);
    client.send('203.0.113.1', 8053, 'q?');
    drive(t.sim, () => got.length > 0);
    expect(got).toEqual(['q? from 203.0.113.1:8053']);
  });
});

/** The same gateway from namespaces: the same rules text, the same addresses. */
const DESC: TopoDesc = {
  hosts: [
    { name: 'nat1', forward: true, rules: natGatewayRules(SPEC),
      ifaces: [{ name: 'eth0', addrs: natGatewayOutsideAddrs(SPEC) }, { name: 'eth1', addrs: ['10.0.1.1/24'] }, { name: 'eth2', addrs: ['10.0.2.1/24'] }] },
    { name: 'vm1', ifaces: [{ name: 'eth0', addrs: ['10.0.1.10/24'] }], routes: [{ dst: 'default', via: '10.0.1.1', dev: 'eth0' }] },
    { name: 'vm2', ifaces: [{ name: 'eth0', addrs: ['10.0.2.10/24'] }], routes: [{ dst: 'default', via: '10.0.2.1', dev: 'eth0' }] },
    { name: 'inet', ifaces: [{ name: 'eth0', addrs: ['203.0.113.100/24'] }] },
  ],
  links: [{ a: ['vm1', 'eth0'], b: ['nat1', 'eth1'] }, { a: ['vm2', 'eth0'], b: ['nat1', 'eth2'] }, { a: ['inet', 'eth0'], b: ['nat1', 'eth0'] }],
};

describeWithKernel('NatGateway against Linux namespaces', () => {
  it('the same pings succeed and fail in both: SNAT out, floating IP in, nothing to a private address from outside', async () => {
    const cmds = [
      { host: 'vm1', dst: '203.0.113.100' }, { host: 'vm2', dst: '203.0.113.100' }, { host: 'inet', dst: '203.0.113.50' },
      { host: 'inet', dst: '10.0.1.10' }, { host: 'inet', dst: '203.0.113.12' },
    ];
    const kernel = await runInKernel(DESC, cmds.map((c) => ({ host: c.host, argv: ['ping', '-c', '1', '-W', '2', c.dst] })));
    const t = buildEmulated(DESC);
    for (const [i, c] of cmds.entries()) {
      const ours = await t.ping(c.host, c.dst, { timeout: 2 });
      expect(pingFacts(ours.text), `${c.host} → ${c.dst}; kernel printed:\n${kernel[i]}`).toEqual(pingFacts(kernel[i]!));
    }
  }, 30_000);
});
