// The topology file: what it refuses (with the line and the reason), what it builds and runs,
// and that one seed gives the same run twice.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { loadTopology, runTopology, TopologyFileError } from '../../src/topology/file.js';

const GOOD = `seed: 3
hosts:
  - { name: h1, ip: 10.0.1.2/24, gw: 10.0.1.1 }
  - { name: h2, ip: 10.0.2.2/24, gw: 10.0.2.1 }
routers:
  - name: r1
    interfaces:
      - { name: eth1, addresses: [10.0.1.1/24] }
      - { name: eth2, addresses: [10.0.2.1/24] }
links:
  - { a: h1, b: r1:eth1, delay: 1ms }
  - { a: h2, b: r1:eth2, delay: 1ms }
run:
  - ping: { from: h1, to: 10.0.2.2, count: 2 }
  - cut: { link: 1 }
  - ping: { from: h1, to: 10.0.2.2, count: 1 }
  - restore: { link: 1 }
  - traceroute: { from: h1, to: 10.0.2.2 }
`;

async function run(text: string): Promise<string> {
  let out = '';
  await runTopology(loadTopology(text), (s) => { out += s; });
  return out;
}

describe('topology files', () => {
  it('builds and runs the steps in order: pings, a cut link, traceroute', async () => {
    const out = await run(GOOD);
    expect(out).toContain('64 bytes from 10.0.2.2: icmp_seq=2 ttl=63 time=4.00 ms');
    expect(out).toContain('1 packets transmitted, 0 received, 100% packet loss');
    // the cut made r1's entry for h2 fail: the first probe after the restore waits for ARP again
    expect(out).toContain(' 2  10.0.2.2  6.000 ms  4.000 ms  4.000 ms');
  });

  it('a link reorder, as netem-like text or a mapping, becomes the reorder option of the link', () => {
    for (const ro of ['50% 3ms', '{ rate: 0.5, delay: 3ms }']) {
      const loaded = loadTopology(GOOD.replace('delay: 1ms }\n  - { a: h2', `delay: 1ms, reorder: ${ro} }\n  - { a: h2`));
      expect(loaded.links[0]!.opts.reorder).toEqual({ rate: 0.5, delay: 3e6 });
    }
  });

  it('one seed, the same run', async () => {
    expect(await run(GOOD)).toBe(await run(GOOD));
  });

  const BAD: [string, string, number, RegExp][] = [
    ['an unknown device kind', GOOD.replace('routers:', 'switches:'), 5, /unknown key/],
    ['a dangling link', GOOD.replace('b: r1:eth2', 'b: r9:eth2'), 12, /no host, router, gateway or bridge named 'r9'/],
    ['a gateway outside the subnet', GOOD.replace('gw: 10.0.1.1 }', 'gw: 10.0.9.1 }'), 3, /10\.0\.9\.1 is outside every subnet of h1:eth0/],
    ['a duplicate IP', GOOD.replace('ip: 10.0.2.2/24', 'ip: 10.0.1.2/24'), 4, /10\.0\.1\.2 is already the address of h1:eth0/],
    ['a duplicate name', GOOD.replace('name: h2', 'name: h1'), 4, /'h1' is already the name of hosts\[0\]/],
    ['a bad address', GOOD.replace('10.0.2.1/24]', '10.0.2.300/24]'), 9, /'10\.0\.2\.300\/24' is not an IPv4 address/],
    ['an interface linked twice', GOOD.replace('b: r1:eth2', 'b: r1:eth1'), 12, /r1:eth1 is already linked/],
    ['an unknown step', GOOD.replace('traceroute: {', 'tracert: {'), 18, /unknown step 'tracert'/],
    ['a cut of a link that is not there', GOOD.replace('cut: { link: 1 }', 'cut: { link: 7 }'), 15, /there is no link 7/],
    ['a bad quantity', GOOD.replace('delay: 1ms }\n  - { a: h2', 'delay: soon }\n  - { a: h2'), 11, /'soon' is not a duration/],
    ['broken YAML', 'hosts: [\n', 2, /./],
    ['reorder without a delay', GOOD.replace('delay: 1ms }\n  - { a: h2', 'delay: 1ms, reorder: 25% }\n  - { a: h2'), 11, /links\[0\]\.reorder: '25%': expected a probability \(25%\) and a delay/],
    ['reorder over 100%', GOOD.replace('delay: 1ms }\n  - { a: h2', 'delay: 1ms, reorder: 150% 5ms }\n  - { a: h2'), 11, /not between 0% and 100%/],
    ['reorder as a list', GOOD.replace('delay: 1ms }\n  - { a: h2', 'delay: 1ms, reorder: [1, 2] }\n  - { a: h2'), 11, /expected netem-like text/],
    ['a reorder rate that is no probability', GOOD.replace('delay: 1ms }\n  - { a: h2', 'delay: 1ms, reorder: { rate: 2, delay: 1ms } }\n  - { a: h2'), 11, /rate 2 is not a probability/],
    ['a reorder delay that is no duration', GOOD.replace('delay: 1ms }\n  - { a: h2', 'delay: 1ms, reorder: { rate: 0.1, delay: soon } }\n  - { a: h2'), 11, /delay: 'soon' is not a duration/],
    ['an unknown reorder key', GOOD.replace('delay: 1ms }\n  - { a: h2', 'delay: 1ms, reorder: { rate: 0.1, delay: 1ms, gap: 5 } }\n  - { a: h2'), 11, /unknown key 'gap'/],
  ];
  for (const [name, text, line, msg] of BAD) {
    it(`refuses ${name}, naming line ${line}`, async () => {
      let err: unknown;
      try { await run(text); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(TopologyFileError);
      expect((err as TopologyFileError).line).toBe(line);
      expect((err as Error).message).toMatch(msg);
    });
  }

  it('runs the VXLAN overlay file: VTEPs and bridges as nodes, the same pings as the script', async () => {
    const text = readFileSync('examples/vxlan-overlay.yaml', 'utf8').replace(/  - capture:.*\n/, '');
    const out = await run(text);
    expect(out).toContain('64 bytes from 10.10.0.3: icmp_seq=1 ttl=64 time=2.56 ms');
    expect(out).toContain('64 bytes from 10.10.0.2: icmp_seq=2 ttl=64');
    expect(() => loadTopology(text.replace('{ host: hv2, vni: 100', '{ host: hv9, vni: 100'))).toThrow(/line 22: vteps\[1\]\.host: no host named 'hv9'/);
  });

  it('runs the security-groups file: one port allowed, another blocked, a remote group; an unknown group is refused with its line', async () => {
    const text = readFileSync('examples/security-groups.yaml', 'utf8');
    const out = await run(text);
    expect(out).toContain('$ client: tcp 10.0.0.1:80  "HTTP/1.0 200 OK"');
    expect(out).toContain('$ client: tcp 10.0.0.1:22  ETIMEDOUT');
    expect(out).toContain('$ web: tcp 10.0.0.2:5432  "postgres ready"');
    expect(out).toContain('$ client: tcp 10.0.0.2:5432  ETIMEDOUT');
    expect(() => loadTopology(text.replace('{ port: tap3, groups: [default] }', '{ port: tap3, groups: [nope] }')))
      .toThrow(/line 27: ovsBridges\[0\]\.securityGroups\.ports\[2\]\.groups: no security group 'nope'/);
  });

  it('runs the example files', async () => {
    const out = await run(readFileSync('examples/nat-gateway.yaml', 'utf8'));
    expect(out).toContain('64 bytes from 203.0.113.50: icmp_seq=1 ttl=63');
    expect(out).toContain('64 bytes from 203.0.113.100: icmp_seq=2 ttl=63');
  });
});

describe('IPv6 and dual-stack topologies', () => {
  const DUAL = `hosts:
  - { name: h1, ip: [10.0.1.2/24, 2001:db8:1::2/64], gw: [10.0.1.1, 2001:db8:1::1] }
  - { name: h2, ip: 2001:db8:2::2/64, gw: 2001:db8:2::1 }
routers:
  - name: r1
    interfaces: [{ name: eth1, addresses: [10.0.1.1/24, 2001:db8:1::1/64] }, { name: eth2, addresses: [2001:db8:2::1/64] }]
links:
  - { a: h1, b: r1:eth1 }
  - { a: r1:eth2, b: h2 }
run:
  - ping: { from: h1, to: 2001:db8:2::2 }
  - ping: { from: h1, to: 10.0.1.1 }
  - traceroute: { from: h1, to: 2001:db8:2::2 }
`;
  it('builds a dual-stack host from ip/gw lists and runs IPv6 ping and traceroute', async () => {
    let out = '';
    await runTopology(loadTopology(DUAL), (s) => { out += s; });
    expect(out).toContain('64 bytes from 2001:db8:2::2: icmp_seq=1 ttl=63');
    expect(out).toContain('64 bytes from 10.0.1.1: icmp_seq=1 ttl=64');
    expect(out).toMatch(/traceroute to 2001:db8:2::2 \(2001:db8:2::2\), 30 hops max, 80 byte packets\n 1  2001:db8:1::1  /);
  });

  it('refuses an IPv6 gateway outside the interface\'s IPv6 subnets, naming the line', () => {
    expect(() => loadTopology(DUAL.replace('gw: 2001:db8:2::1 }', 'gw: 2001:db8:3::1 }'))).toThrow(/line 3: hosts\[1\]\.gw: 2001:db8:3::1 is outside every IPv6 subnet of h2:eth0/);
    // a link-local next hop is on every interface
    expect(() => loadTopology(DUAL.replace('gw: 2001:db8:2::1 }', 'gw: fe80::1 }'))).not.toThrow();
  });

  it('refuses the same IPv6 address twice and a malformed one, naming the line', () => {
    try {
      loadTopology(DUAL.replace('ip: 2001:db8:2::2/64', 'ip: 2001:db8:1:0::2/64'));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(TopologyFileError);
      expect((e as TopologyFileError).code).toBe('TOPO_DUPLICATE_IP');
      expect((e as Error).message).toMatch(/line 3: hosts\[1\]\.ip: 2001:db8:1::2 is already the address of h1:eth0/);
    }
    expect(() => loadTopology(DUAL.replace('ip: 2001:db8:2::2/64', 'ip: 2001:db8::g/64'))).toThrow(/line 3: hosts\[1\]\.ip\[0\]: '2001:db8::g\/64' is not an IPv6 address/);
  });
});
