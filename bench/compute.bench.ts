/**
 * Cloud-scale benchmark (issue 9, item 6): a cloud of 200 hypervisors and
 * 10,000 VMs in 1,000 VPCs, built through the control plane (Cloud) onto
 * its data plane (CloudNetwork: OVS agents with br-int and br-tun, l2pop,
 * a network node), phase by phase, with the wall time and the memory of
 * each.
 * What: `node --max-old-space-size=8000 --expose-gc --import tsx
 * bench/compute.bench.ts [--hypervisors N] [--vpcs N] [--vms N]
 * [--control-plane-only] [--build-only]` prints one table (and `RESULT {json}` lines for
 * collection):
 *  1. hypervisors: each one's agent, bridges and underlay link;
 *  2. VPCs: per VPC (one tenant each) a VPC with one /24 subnet, a security
 *     group allowing ICMP and UDP 5000 in (egress anywhere, Neutron's
 *     default), all VPCs with the same CIDR, as tenants' are;
 *  3. VMs: vms/vpcs per VPC (consecutive VMs in one VPC), placed by the scheduler (RAM and CPU weighers
 *     spread them), each a host on its tap: the control plane's
 *     notifications inside `Cloud.batch` (one security-group sync at its
 *     end), the data plane's plugs and l2pop updates;
 *  then flows per hypervisor (br-int and br-tun, the network node left
 *  out) and the tunnels;
 *  4. packets/s VM to VM across hypervisors: 20 VMs each send UDP to
 *     another VM of their VPC on another hypervisor; wall-clock datagrams
 *     delivered per second after a warm-up (ARP, upcalls, conntrack).
 * The build's total is phases 1–3; `--build-only` skips phase 4 (the small
 * clouds `npm run bench` sweeps, bench/run.ts). Long loops show a progress
 * bar on a terminal (bench/progress.ts).
 * Time: wall clock, and the process's CPU time (user + system: GC helpers
 * included; on this shared machine the steadier figure). Memory: heap used
 * + array buffers after a forced GC at the end of each phase (needs
 * --expose-gc), and the RSS.
 * Goal (issue 9): the cloud built in ≤ 30 s and ≤ 4 GB on one of these
 * machines. Measured: the README's table.
 * Neighbours: compute/cloud.ts, compute/dataplane.ts, compute/l2pop.ts,
 * bench/k8s.bench.ts (the same table).
 */
import { performance } from 'node:perf_hooks';
import { intArg, Phases } from './phases.js';
import { progress } from './progress.js';
import { Topology } from '../src/topology/topology.js';
import { Cloud } from '../src/compute/cloud.js';
import { CloudNetwork } from '../src/compute/dataplane.js';
import { constantRate } from '../src/netstack/tools.js';

const HVS = intArg('hypervisors', 200, 1);
const VPCS = intArg('vpcs', 1000, 1);
const VMS = intArg('vms', 10_000, 1);
const CONTROL_PLANE_ONLY = process.argv.includes('--control-plane-only');
const BUILD_ONLY = process.argv.includes('--build-only');
const EXT = { cidr: '203.0.112.0/22', gateway: '203.0.112.1' };
const phases = new Phases();
const phase = phases.run.bind(phases);

const t = new Topology({ seed: 1 });
const net = CONTROL_PLANE_ONLY ? undefined : new CloudNetwork(t, { external: EXT, underlayPrefixLen: 16, networkNode: { name: 'network1', ip: '192.168.0.2' } });
const cloud = new Cloud({ seed: 1, external: EXT, ...(net !== undefined ? { dataplane: net } : {}) });

phase(`${HVS} hypervisors`, () => {
  const bar = progress('hypervisors', HVS);
  for (let i = 0; i < HVS; i++) {
    bar.tick();
    cloud.addHypervisor({ name: `hv${i}`, region: 'r1', az: `az${i % 3}`, vcpus: 128, ramMb: 1 << 20, ip: `192.168.${1 + ((i + 10) >> 8)}.${(i + 10) & 255}` });
  }
  bar.done();
});

phase(`${VPCS} VPCs (a subnet and a security group each)`, () => cloud.batch(() => {
  const bar = progress('VPCs', VPCS);
  for (let v = 0; v < VPCS; v++) {
    bar.tick();
    cloud.createVpc({ name: `vpc${v}`, cidr: '10.0.0.0/16', tenant: `t${v}` });
    cloud.createSubnet({ vpc: `vpc${v}`, name: `sn${v}`, cidr: '10.0.1.0/24' });
    const sg = cloud.createSecurityGroup({ name: 'app', tenant: `t${v}` });
    cloud.addSecurityGroupRule(sg.id, { direction: 'ingress', protocol: 'icmp' });
    cloud.addSecurityGroupRule(sg.id, { direction: 'ingress', protocol: 'udp', portRangeMin: 5000, portRangeMax: 5000 });
  }
  bar.done();
}));

const sgOf = new Map(cloud.securityGroups().map((g) => [g.tenant, g.id]));
phase(`${VMS} VMs`, () => cloud.batch(() => {
  const perVpc = Math.ceil(VMS / VPCS);
  const bar = progress('VMs', VMS);
  for (let i = 0; i < VMS; i++) {
    bar.tick();
    const v = Math.floor(i / perVpc);
    cloud.createVm({ name: `vm${i}`, flavor: 'm1.tiny', image: 'cirros', subnets: [`sn${v}`], securityGroups: [sgOf.get(`t${v}`)!] });
  }
  bar.done();
}), () => {
  if (net === undefined) return '';
  let flows = 0, max = 0, tunnels = 0;
  for (const h of net.fabric.hypervisors()) {
    if (h === 'network1') continue;
    const a = net.fabric.agent(h);
    const n = a.brInt.rules().length + a.brTun.rules().length;
    flows += n; max = Math.max(max, n); tunnels += a.tunnelRemotes().length;
  }
  return `${Math.round(flows / HVS)} flows per hypervisor (max ${max}; br-int + br-tun), ${Math.round(tunnels / HVS)} tunnels per hypervisor`;
});

if (net !== undefined && !BUILD_ONLY) {
  phase('packets VM → VM across hypervisors', () => {
    let got = 0;
    const pairs: [string, string][] = [];
    // per VPC, its first VM and the next of its VMs on another hypervisor
    const vms = cloud.vms(), perVpc = Math.ceil(VMS / VPCS);
    for (let v = 0; v < VPCS && pairs.length < 20; v++) {
      const members = vms.slice(v * perVpc, (v + 1) * perVpc);
      const b = members.find((m) => m.hypervisor !== members[0]!.hypervisor);
      if (b !== undefined) pairs.push([members[0]!.name, b.name]);
    }
    for (const [, b] of pairs) net.vmHost(b).sockets.udp(5000).onMessage = () => { got++; };
    for (const [a, b] of pairs) constantRate(net.vmHost(a), cloud.vm(b).portDetails[0]!.fixedIps[0]!, { pps: 1e4, durationSec: 1e6, dport: 5000 });
    if (pairs.length === 0) return { pps: 0, pairs: 0 };
    t.runFor(20e6); // ARP, upcalls and conntrack settle
    const g = got, a = performance.now();
    while (got - g < 20_000 && performance.now() - a < 20_000) t.sim.step();
    return { pps: ((got - g) / (performance.now() - a)) * 1000, pairs: pairs.length };
  }, (r) => `${Math.round(r.pps)} datagrams/s delivered (${r.pairs} senders)`);
}

const total = phases.rows.slice(0, 3).reduce((a, r) => a + r.ms, 0);
const tags = { suite: 'compute', hypervisors: HVS, vpcs: VPCS, vms: VMS };
phases.print(`cloud: ${HVS} hypervisors, ${VPCS} VPCs, ${VMS} VMs${CONTROL_PLANE_ONLY ? ' (control plane only)' : ''} (node ${process.version})`, 46);
console.log(`\nthe cloud built: ${(total / 1000).toFixed(1)} s`);
phases.results(tags);
