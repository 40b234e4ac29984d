// Two hosts across two routers, written with the scripting API.
// Run it: npx sdnemu run examples/routed-chain.ts   (or: npx tsx examples/routed-chain.ts)
import { Topology } from '../src/topology/index.js';

export default async function main(): Promise<void> {
  const net = new Topology({ seed: 1 });
  const h1 = net.host('h1', { ip: '10.0.1.2/24', gw: '10.0.1.1' });
  const h2 = net.host('h2', { ip: '10.0.2.2/24', gw: '10.0.2.1' });
  const r1 = net.router('r1');
  const r2 = net.router('r2');
  net.link(h1, r1, { delay: '1ms', bandwidth: '1Gbps', b: { iface: 'eth0', addr: '10.0.1.1/24' } });
  net.link(r1, r2, { delay: '2ms', bandwidth: '10Gbps', a: { iface: 'eth1', addr: '10.0.12.1/24' }, b: { iface: 'eth0', addr: '10.0.12.2/24' } });
  net.link(r2, h2, { delay: '1ms', bandwidth: '1Gbps', mtu: 1400, a: { iface: 'eth1', addr: '10.0.2.1/24' } });
  r1.addRoute({ dst: '10.0.2.0/24', via: '10.0.12.2', dev: 'eth1' });
  r2.addRoute({ dst: '10.0.1.0/24', via: '10.0.12.1', dev: 'eth0' });
  process.stdout.write((await net.ping(h1, '10.0.2.2', { count: 3 })).text);
  process.stdout.write((await net.traceroute(h1, '10.0.2.2', { numeric: true })).text);
  process.stdout.write((await net.ping(h1, '10.0.2.2', { size: 1400, pmtu: 'do' })).text);
}
