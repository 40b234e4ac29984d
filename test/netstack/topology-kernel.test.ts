// Whole topologies against Linux namespaces: the same hosts, routers, links and MTUs built from
// network namespaces (test/oracle/topo-netns.ts) and in the emulator, then ping and traceroute
// in both — replies, TTLs, ICMP errors and their senders, hops — must agree.
import { describe, expect, it } from 'vitest';
import { describeWithKernel } from '../oracle/netns.js';
import { buildEmulated, pingFacts, runInKernel, tracerouteFacts, type TopoDesc } from '../oracle/topo-netns.js';
import { ping, traceroute } from '../../src/netstack/tools.js';

/** h1 — r1 — r2 — h2, and a stub 10.0.9.0/24 on r2 with nobody there. */
const CHAIN: TopoDesc = {
  hosts: [
    { name: 'h1', ifaces: [{ name: 'eth0', addrs: ['10.0.1.2/24'] }], routes: [{ dst: 'default', via: '10.0.1.1', dev: 'eth0' }] },
    { name: 'r1', forward: true, ifaces: [{ name: 'eth1', addrs: ['10.0.1.1/24'] }, { name: 'eth2', addrs: ['10.0.12.1/24'] }],
      routes: [{ dst: '10.0.2.0/24', via: '10.0.12.2', dev: 'eth2' }, { dst: '10.0.9.0/24', via: '10.0.12.2', dev: 'eth2' }] },
    { name: 'r2', forward: true, ifaces: [{ name: 'eth1', addrs: ['10.0.12.2/24'] }, { name: 'eth2', addrs: ['10.0.2.1/24'] }, { name: 'eth3', addrs: ['10.0.9.1/24'] }],
      routes: [{ dst: '10.0.1.0/24', via: '10.0.12.1', dev: 'eth1' }] },
    { name: 'h2', ifaces: [{ name: 'eth0', addrs: ['10.0.2.2/24'] }], routes: [{ dst: 'default', via: '10.0.2.1', dev: 'eth0' }] },
    { name: 'stub', ifaces: [{ name: 'eth0', addrs: ['10.0.9.200/24'] }] },
  ],
  links: [
    { a: ['h1', 'eth0'], b: ['r1', 'eth1'] },
    { a: ['r1', 'eth2'], b: ['r2', 'eth1'] },
    { a: ['r2', 'eth2'], b: ['h2', 'eth0'], mtu: 1280 },
    { a: ['r2', 'eth3'], b: ['stub', 'eth0'] },
  ],
};
/** r1 and r2 send 172.16/12 to each other: a routing loop. */
const LOOP: TopoDesc = {
  ...CHAIN,
  hosts: CHAIN.hosts.map((h) => (h.name === 'r1' ? { ...h, routes: [...h.routes!, { dst: '172.16.0.0/12', via: '10.0.12.2', dev: 'eth2' }] }
    : h.name === 'r2' ? { ...h, routes: [...h.routes!, { dst: '172.16.0.0/12', via: '10.0.12.1', dev: 'eth1' }] } : h)),
};

interface Case { name: string; desc: TopoDesc; from: string; kind: 'ping' | 'traceroute'; dst: string; argv: string[]; opts?: Record<string, unknown> }
const CASES: Case[] = [
  { name: 'ping across two routers: TTL 62', desc: CHAIN, from: 'h1', kind: 'ping', dst: '10.0.2.2', argv: ['ping', '-c', '2', '-i', '0.2', '-W', '2'], opts: { count: 2, interval: 0.2 } },
  { name: 'traceroute across two routers', desc: CHAIN, from: 'h1', kind: 'traceroute', dst: '10.0.2.2', argv: ['traceroute', '-n', '-q', '1', '-N', '1', '-w', '2'], opts: { queries: 1 } },
  { name: 'no route at r2: net unreachable from r2', desc: CHAIN, from: 'h1', kind: 'ping', dst: '172.16.0.1', argv: ['ping', '-c', '1', '-W', '2'] },
  { name: 'traceroute to an unroutable address ends with !N', desc: CHAIN, from: 'h1', kind: 'traceroute', dst: '172.16.0.1', argv: ['traceroute', '-n', '-q', '1', '-N', '1', '-w', '2'], opts: { queries: 1 } },
  { name: 'nobody at the address: host unreachable from r2 after its ARP gives up', desc: CHAIN, from: 'h1', kind: 'ping', dst: '10.0.9.99', argv: ['ping', '-c', '1', '-W', '5'], opts: { timeout: 5 } },
  { name: 'ping a router\'s far address: answered by the router itself', desc: CHAIN, from: 'h1', kind: 'ping', dst: '10.0.2.1', argv: ['ping', '-c', '1', '-W', '2'] },
  { name: 'a routing loop: time exceeded where the TTL runs out', desc: LOOP, from: 'h1', kind: 'ping', dst: '172.16.0.1', argv: ['ping', '-c', '1', '-W', '2'] },
  { name: 'traceroute into the routing loop', desc: LOOP, from: 'h1', kind: 'traceroute', dst: '172.16.0.1', argv: ['traceroute', '-n', '-q', '1', '-N', '1', '-w', '1', '-m', '6'], opts: { queries: 1, maxHops: 6, waitSec: 1 } },
  { name: 'a 2000-byte ping over the 1280 link: fragmented and answered', desc: CHAIN, from: 'h1', kind: 'ping', dst: '10.0.2.2', argv: ['ping', '-c', '1', '-s', '2000', '-W', '2'], opts: { size: 2000 } },
  { name: 'DF over the 1280 link: frag needed from r2, then the learnt path MTU refuses locally', desc: CHAIN, from: 'h1', kind: 'ping', dst: '10.0.2.2',
    argv: ['ping', '-c', '2', '-i', '0.2', '-M', 'do', '-s', '1400', '-W', '2'], opts: { count: 2, interval: 0.2, size: 1400, pmtu: 'do' } },
  { name: 'TTL 2 from h1: time exceeded from r2', desc: CHAIN, from: 'h1', kind: 'ping', dst: '10.0.2.2', argv: ['ping', '-c', '1', '-t', '2', '-W', '2'], opts: { ttl: 2 } },
];

describeWithKernel('topologies: sdnemu against Linux namespaces', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const [kernelOut] = await runInKernel(c.desc, [{ host: c.from, argv: [...c.argv, c.dst] }]);
      const t = buildEmulated(c.desc);
      const h = t.hostNamed(c.from);
      if (c.kind === 'ping') {
        const ours = await ping(h, c.dst, c.opts as Parameters<typeof ping>[2]);
        expect(pingFacts(ours.text), `kernel printed:\n${kernelOut}`).toEqual(pingFacts(kernelOut!));
      } else {
        const ours = await traceroute(h, c.dst, { numeric: true, ...(c.opts as Parameters<typeof traceroute>[2]) });
        expect(tracerouteFacts(ours.text), `kernel printed:\n${kernelOut}`).toEqual(tracerouteFacts(kernelOut!));
      }
    }, 30_000);
  }
});

describe('case set', () => {
  it('covers ping, traceroute, unreachables, a loop, MTUs', () => { expect(CASES.length).toBeGreaterThanOrEqual(10); });
});
