/**
 * The demo network (topology layer): what `sdnemu demo` prints and what
 * `npm start` (`sdnemu serve`) runs under the trace viewer.
 *
 * What: `buildOverlay()` — a VXLAN overlay across a routed underlay: two
 * hypervisors in different subnets behind a router, each with a Linux
 * bridge joining its VMs to a VXLAN tunnel endpoint (VNI 100,
 * flood-and-learn with head-end replication); the VMs share one overlay
 * subnet. `runOverlay(out)` runs its pings and prints them, the VTEPs'
 * forwarding tables and the first encapsulated packets on the underlay
 * (examples/vxlan-overlay.ts is this, as a script). `buildDemo()` is the
 * richest network, the viewer's default: the overlay plus a NAT gateway on
 * hv2's bridge whose floating IP leads to vm1a on hv1, and a host on the
 * internet side — a ping from `internet` to the floating IP is DNATed on
 * nat1, bridged on hv2, encapsulated by hv2's VTEP, routed across the
 * underlay, decapsulated on hv1 and delivered: one trace id through DNAT
 * and a tunnel; the VMs' default route is nat1, so the reply goes back
 * across the tunnel and is un-NATed.
 *   internet ── nat1 ── hv2/br0 ── hv2/vxlan100 ── underlay-r ── hv1/vxlan100 ── hv1/br0 ── vm1a
 * Why in src/: the compiled CLI builds it from the same classes it
 * inspects (a demo loaded from examples/ through tsx would be a second copy
 * of every class).
 * Neighbours: topology.ts, devices/ (bridge, VTEP), cli/demo.ts and
 * cli/serve.ts, examples/vxlan-overlay.ts.
 */
import { Topology, type Capture, type PortFactory } from './topology.js';
import { LinuxBridge } from '../devices/linux-bridge.js';
import { Vtep } from '../devices/vtep.js';
import { dissect } from '../wire/dissect/index.js';
import { summarize } from '../wire/summary.js';
import { fieldValues } from '../wire/dissect.js';
import type { Host } from '../netstack/host.js';

/** The floating IP of the demo's NAT gateway (it leads to vm1a, 10.10.0.1, across the tunnel). */
export const FLOATING_IP = '203.0.113.50';

/** The overlay, a NAT gateway on hv2's bridge with a floating IP for vm1a on hv1, and a host on the internet side. */
export function buildDemo(): { net: Topology; vms: Host[] } {
  const { net, vms } = buildOverlay();
  const nat = net.natGateway('nat1', {
    outside: { iface: 'eth0', addr: '203.0.113.1/24' },
    inside: [{ iface: 'eth1', addr: '10.10.0.254/24' }],
    floatingIps: [{ ip: FLOATING_IP, to: '10.10.0.1' }],
  });
  net.link([nat, 'eth1'], net.node('hv2/br0') as PortFactory, { delay: '20us', b: { iface: 'tapn' } });
  const internet = net.host('internet', { ip: '203.0.113.100/24' });
  net.link(internet, [nat, 'eth0'], { delay: '1ms' });
  // the VMs' way out is the NAT gateway: vm1a's answers to the internet go back across the tunnel and are un-NATed
  for (const vm of vms) vm.addRoute({ dst: 'default', via: '10.10.0.254', dev: 'eth0' });
  return { net, vms };
}

/** The pings the demo runs, in order: [from VM, to VM] (indexes into `buildOverlay().vms`). */
export const PINGS = [[0, 2], [1, 3], [3, 0]] as const;

/**
 * The topology alone (what `sdnemu serve` runs without a file): nothing sent yet. With
 * 'captureUnderlay' (what `sdnemu demo` prints) a capture on the underlay router keeps every
 * frame it sees — never for a network that runs on and on (the served demo, the soak).
 */
export function buildOverlay(opts: { captureUnderlay?: boolean } = {}): { net: Topology; vms: Host[]; hv: Host[]; underlay: Capture | null } {
  const net = new Topology({ seed: 42 });
  const r = net.router('underlay-r');
  const hv = [1, 2].map((i) => {
    const h = net.host(`hv${i}`, { ip: `192.168.${i}.2/24`, gw: `192.168.${i}.1` });
    net.link(h, r, { delay: '200us', bandwidth: '10Gbps', b: { iface: `eth${i}`, addr: `192.168.${i}.1/24` } });
    return h;
  });
  const vms: Host[] = [];
  hv.forEach((h, i) => {
    const br = net.add(new LinuxBridge(net.sim, `${h.name}/br0`));
    const vtep = net.add(new Vtep(h, { vni: 100, local: `192.168.${i + 1}.2`, remotes: [`192.168.${2 - i}.2`] }));
    if (i === 1) net.tunnel('hv1/vxlan100', 'hv2/vxlan100', 'vxlan', 100);
    net.link(vtep, br, { b: { iface: 'vxlan100' } });
    for (const v of ['a', 'b']) {
      const n = vms.length + 1;
      const vm = net.host(`vm${i + 1}${v}`, { ip: `10.10.0.${n}/24` });
      net.roles.set(vm.name, 'vm');
      net.link(vm, br, { delay: '20us', bandwidth: '10Gbps', b: { iface: `tap${v}` } });
      vms.push(vm);
    }
  });
  const underlay = opts.captureUnderlay === true ? net.capture([r, 'eth2']) : null;
  return { net, vms, hv, underlay };
}

export async function runOverlay(out: (s: string) => void = (s) => process.stdout.write(`${s}\n`)): Promise<{ underlay: Capture }> {
  const { net, vms, hv, underlay: u } = buildOverlay({ captureUnderlay: true });
  const underlay = u!;
  for (const [from, to] of PINGS) {
    out(`$ ${vms[from]!.name}: ping -c 2 ${ipOf(to)}`);
    out((await net.ping(vms[from]!, ipOf(to), { count: 2 })).text);
  }
  for (const h of hv) {
    out(`$ ${h.name}: bridge fdb show dev vxlan100`);
    out((net.node(`${h.name}/vxlan100`) as Vtep).fdbShow().trimEnd());
    out('');
  }
  out('$ tcpdump -i underlay-r:eth2 (the first VXLAN packets)');
  let shown = 0;
  for (const f of underlay.frames) {
    const d = dissect(f.data);
    if (fieldValues(d, 'vxlan.vni').length === 0 || shown === 4) continue;
    shown++;
    out(summarize(d, f.data, Math.floor(f.t / 1e9), f.t % 1e9, f.data.length));
    const inner = fieldValues(d, 'ip.src')[1] === undefined ? 'ARP' : `${fieldValues(d, 'ip.src')[1]} > ${fieldValues(d, 'ip.dst')[1]}`;
    out(`  outer ${fieldValues(d, 'ip.src')[0]} > ${fieldValues(d, 'ip.dst')[0]}  vxlan.vni ${fieldValues(d, 'vxlan.vni').join(',')}  inner ${inner}`);
  }
  return { underlay };
}

export function ipOf(i: number): string { return `10.10.0.${i + 1}`; }
