/**
 * What the cloud's control plane (src/compute/cloud.ts) costs at issue 9's
 * scale, without the data plane: 200 hypervisors; 1000 VPCs, each with a
 * /24 subnet and a router with an external gateway and that subnet; then
 * 10,000 m1.tiny VMs round-robin over the subnets — the wall time, the
 * notifications a data plane would get (counted, not acted on) and the heap.
 * Run: `node --expose-gc --import tsx bench/cloud-control-plane.bench.ts
 * [hypervisors vpcs vms]`; each of three modes in turn: no data plane, a
 * counting data plane told call by call, the same in one `batch` (the
 * first mode also pays for the JIT's warm-up).
 * Measured 2026-11-22 (Node 20, this machine shared with other jobs):
 * none 0.8 s, call by call 1.2 s (22,200 notifications), batch 0.7 s
 * (11,201), heap 37 MB after a collection. Before the journal (a
 * structuredClone of the whole state per operation, commit 4aa1235) the
 * same with 1000 VMs (`… 200 1000 1000`, no data plane) took 56 s; 0.26 s
 * now.
 * Neighbours: src/compute/cloud.ts (its design note quotes these figures).
 */
import { Cloud } from '../src/compute/cloud.js';
import type { CloudDataplane } from '../src/compute/types.js';

const arg = (i: number, dflt: number): number => Number(process.argv[i] ?? dflt);
const hvs = arg(2, 200), vpcs = arg(3, 1000), vms = arg(4, 10000);

function run(mode: 'none' | 'calls' | 'batch'): void {
  let told = 0;
  const count = (): void => { told++; };
  const dp: CloudDataplane = {
    addHypervisor: count, removeHypervisor: count, startVm: count, stopVm: count, migrateVm: count, securityGroups: count,
    routerChanged: count, routerDeleted: count, natGatewayChanged: count, natGatewayDeleted: count,
  };
  const t0 = performance.now();
  const c = new Cloud({ seed: 1, external: { cidr: '203.0.0.0/16', gateway: '203.0.0.1' }, ...(mode === 'none' ? {} : { dataplane: dp }) });
  const build = (): void => {
    for (let i = 0; i < hvs; i++) c.addHypervisor({ name: `hv${i}`, region: 'r1', az: `az${i % 3}`, vcpus: 64, ramMb: 262144, ip: `10.${i >> 8}.${i & 255}.10` });
    for (let i = 0; i < vpcs; i++) {
      c.createVpc({ name: `vpc${i}`, cidr: '10.0.0.0/16', tenant: `t${i}` });
      c.createSubnet({ vpc: `vpc${i}`, name: `sn${i}`, cidr: '10.0.1.0/24' });
      c.createRouter({ name: `r${i}`, tenant: `t${i}`, externalGateway: {} });
      c.addRouterInterface(`r${i}`, `sn${i}`);
    }
    for (let i = 0; i < vms; i++) c.createVm({ name: `vm${i}`, flavor: 'm1.tiny', image: 'cirros', subnets: [`sn${i % vpcs}`] });
  };
  if (mode === 'batch') c.batch(build); else build();
  const ms = performance.now() - t0;
  globalThis.gc?.();
  const heap = process.memoryUsage().heapUsed / 1e6;
  // 'c' is read after the collection: the heap measured holds the cloud
  console.log(`${mode}: ${c.hypervisors().length} hypervisors, ${vpcs} VPCs, ${vms} VMs in ${(ms / 1000).toFixed(2)} s, ${told} notifications, heap ${heap.toFixed(0)} MB`);
}

for (const mode of ['none', 'calls', 'batch'] as const) run(mode);
