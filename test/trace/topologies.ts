/** Topologies the trace server and session tests run. */
import { Topology } from '../../src/topology/topology.js';

/** a - r - b, two subnets, 10 µs links (the first at 1 Gbit/s) */
export function routed(): Topology {
  const t = new Topology({ seed: 7 });
  const a = t.host('a', { ip: '10.0.1.2/24', gw: '10.0.1.1' }), b = t.host('b', { ip: '10.0.2.2/24', gw: '10.0.2.1' });
  const r = t.router('r');
  t.link(a, r, { delay: '10us', bandwidth: '1Gbps', b: { iface: 'eth1', addr: '10.0.1.1/24' } });
  t.link(b, r, { delay: '10us', b: { iface: 'eth2', addr: '10.0.2.1/24' } });
  return t;
}
