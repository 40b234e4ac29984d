// Whole topologies against Linux namespaces: the same hosts, routers, links and MTUs built from
// network namespaces (test/oracle/topo-netns.ts) and in the emulator, then ping and traceroute
// in both — replies, TTLs, ICMP errors and their senders, hops — must agree.
import { describe, expect, it } from 'vitest';
import { describeWithKernel } from '../oracle/netns.js';
import { buildEmulated, CHAIN, LOOP, pingFacts, runInKernel, tracerouteFacts, type TopoDesc } from '../oracle/topo-netns.js';
import { ping, traceroute } from '../../src/netstack/tools.js';

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
