// A VXLAN overlay across a routed underlay: two hypervisors in different subnets behind a router,
// each with a Linux bridge joining its VMs to a VXLAN tunnel endpoint (VNI 100, flood-and-learn
// with head-end replication). The VMs share one overlay subnet. Prints the pings, the VTEPs'
// forwarding tables and the first encapsulated packets as they cross the underlay.
// Run it: npx sdnemu run examples/vxlan-overlay.ts
import { Topology } from '../src/topology/index.js';
import { LinuxBridge } from '../src/devices/linux-bridge.js';
import { Vtep } from '../src/devices/vtep.js';
import { dissect } from '../src/wire/dissect/index.js';
import { summarize } from '../src/wire/summary.js';
import { fieldValues } from '../src/wire/dissect.js';
import type { Capture } from '../src/topology/index.js';
import type { Host } from '../src/netstack/host.js';

/** The pings the demo runs, in order: [from VM, to VM] (indexes into `build().vms`). */
export const PINGS = [[0, 2], [1, 3], [3, 0]] as const;

/** The topology alone (what `sdnemu serve` runs without a file): nothing sent yet. */
export function build(): { net: Topology; vms: Host[]; hv: Host[]; underlay: Capture } {
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
    net.link(vtep, br, { b: { iface: 'vxlan100' } });
    for (const v of ['a', 'b']) {
      const n = vms.length + 1;
      const vm = net.host(`vm${i + 1}${v}`, { ip: `10.10.0.${n}/24` });
      net.link(vm, br, { delay: '20us', bandwidth: '10Gbps', b: { iface: `tap${v}` } });
      vms.push(vm);
    }
  });
  const underlay = net.capture([r, 'eth2']);
  return { net, vms, hv, underlay };
}

export default async function main(out: (s: string) => void = (s) => process.stdout.write(`${s}\n`)): Promise<{ underlay: Capture }> {
  const { net, vms, hv, underlay } = build();
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
