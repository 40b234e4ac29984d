/**
 * The browser test's network (test helper): the demo's VXLAN overlay
 * (examples/vxlan-overlay.ts `build`: two hypervisors behind an underlay
 * router, Linux bridges and flood-and-learn VTEPs, VNI 100) with a NAT
 * gateway added on hv2's bridge, whose floating IP 203.0.113.50 leads to
 * vm1a on hv1 — so a ping from `internet` to the floating IP is DNATed on
 * nat1, bridged on hv2, encapsulated by hv2's VTEP, routed across the
 * underlay, decapsulated on hv1 and delivered to vm1a: one trace id
 * through DNAT and a tunnel. (The demo's VMs have no gateway: vm1a's
 * reply goes nowhere.)
 *   internet ── nat1 ── hv2/br0 ── hv2/vxlan100 (hv2) ── underlay-r ── (hv1) hv1/vxlan100 ── hv1/br0 ── vm1a
 */
import { build as overlay } from '../../examples/vxlan-overlay.js';
import type { PortFactory, Topology } from '../../src/topology/index.js';

export const FLOATING_IP = '203.0.113.50';

export function buildScenario(): Topology {
  const { net } = overlay();
  const nat = net.natGateway('nat1', {
    outside: { iface: 'eth0', addr: '203.0.113.1/24' },
    inside: [{ iface: 'eth1', addr: '10.10.0.254/24' }],
    floatingIps: [{ ip: FLOATING_IP, to: '10.10.0.1' }],
  });
  net.link([nat, 'eth1'], net.node('hv2/br0') as PortFactory, { delay: '20us', b: { iface: 'tapn' } });
  const internet = net.host('internet', { ip: '203.0.113.100/24' });
  net.link(internet, [nat, 'eth0'], { delay: '1ms' });
  return net;
}
