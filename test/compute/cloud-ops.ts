// Random Cloud operations for property tests: an operation is a few small numbers, read against small pools
// of names, so that many operations are refused (taken names, unknown names, full hosts, a small external
// network) and the accepted ones touch every part of the state.
import fc from 'fast-check';
import type { Cloud } from '../../src/compute/cloud.js';
import type { CloudDataplane, SecurityGroup, VmBoot, RouterInfo, NatGatewayInfo } from '../../src/compute/types.js';

/** [which operation, three arguments] */
export type Op = [number, number, number, number];

const HV = ['hv0', 'hv1', 'hv2'];
const VPC = ['vpc0', 'vpc1'];
const SN: [string, string, string][] = [['sn0', 'vpc0', '10.0.1.0/24'], ['sn1', 'vpc0', '10.0.2.0/24'], ['sn2', 'vpc1', '10.0.1.0/24'], ['sn3', 'vpc0', '10.0.1.0/25']];
const TENANT = ['t0', 't1'];
const SG = ['web', 'db', 'default'];
const PORT = ['p0', 'p1', 'p2'];
const VM = ['vm0', 'vm1', 'vm2', 'vm3'];
const FLAVOR = ['m1.tiny', 'm1.medium', 'm1.large'];
const ROUTER = ['r0', 'r1'];
const FIP = ['f0', 'f1', 'f2'];
const RULES = [
  { direction: 'ingress' as const, protocol: 'tcp', portRangeMin: 80, portRangeMax: 80 },
  { direction: 'ingress' as const, remoteGroupId: 'web' },
  { direction: 'ingress' as const, protocol: 'tcp', portRangeMin: 90, portRangeMax: 80 },
];

export type Call = [string, ...unknown[]];

/** A data plane that records its calls (deep copies, as they arrived). */
export function recorder(): { dp: CloudDataplane; calls: Call[] } {
  const calls: Call[] = [];
  const rec = (name: string) => (...args: unknown[]): void => { calls.push([name, ...structuredClone(args)]); };
  const dp: CloudDataplane = {
    addHypervisor: rec('addHypervisor'), removeHypervisor: rec('removeHypervisor'), startVm: rec('startVm'), stopVm: rec('stopVm'),
    migrateVm: rec('migrateVm'), securityGroups: rec('securityGroups'), routerChanged: rec('routerChanged'), routerDeleted: rec('routerDeleted'),
    natGatewayChanged: rec('natGatewayChanged'), natGatewayDeleted: rec('natGatewayDeleted'),
  };
  return { dp, calls };
}

const pick = <T>(xs: readonly T[], i: number): T => xs[i % xs.length]!;

export const OPS: ((c: Cloud, a: number, b: number, d: number) => unknown)[] = [
  (c, a, b) => c.addHypervisor({ name: pick(HV, a), region: 'r', az: `az${b % 2}`, vcpus: 2, ramMb: 8192, ip: `192.168.0.${b % 4}` }),
  (c, a) => c.removeHypervisor(pick(HV, a)),
  (c, a) => c.failHypervisor(pick(HV, a)),
  (c, a) => c.recoverHypervisor(pick(HV, a)),
  (c, a, b, d) => c.createVpc({ name: pick(VPC, a), cidr: '10.0.0.0/16', tenant: pick(TENANT, b), ...(d % 3 === 0 ? { vni: 5 } : {}) }),
  (c, a) => c.deleteVpc(pick(VPC, a)),
  (c, a, b) => { const [name, vpc, cidr] = pick(SN, a); return c.createSubnet({ vpc: b % 4 === 0 ? pick(VPC, b + 1) : vpc, name, cidr }); },
  (c, a) => c.deleteSubnet(pick(SN, a)[0]),
  (c, a, b) => c.createSecurityGroup({ name: pick(SG, a), tenant: pick(TENANT, b) }),
  (c, a, b) => c.addSecurityGroupRule(pick(SG, a), pick(RULES, b)),
  (c, a) => c.deleteSecurityGroup(pick(SG, a)),
  (c, a, b, d) => c.createPort({
    subnet: pick(SN, b)[0], name: pick(PORT, a), ...(d % 3 === 0 ? { ip: '10.0.1.5' } : {}), ...(d % 4 === 1 ? { mac: 'fa:16:3e:00:00:01' } : {}),
    ...(d % 5 === 2 ? { securityGroups: [pick(SG, d)] } : {}), ...(d % 7 === 3 ? { allowedAddressPairs: [{ ip: '10.0.9.9' }] } : {}),
  }),
  (c, a) => c.deletePort(pick(PORT, a)),
  (c, a, b) => c.createServerGroup({ name: `g${a % 2}`, policy: b % 2 === 0 ? 'anti-affinity' : 'affinity' }),
  (c, a) => c.deleteServerGroup(`g${a % 2}`),
  (c, a, b, d) => c.createVm({
    name: pick(VM, a), flavor: pick(FLAVOR, d), image: 'cirros', ...(b % 3 === 2 ? { ports: [pick(PORT, b)] } : { subnets: [pick(SN, b)[0]] }),
    ...(d % 3 === 1 ? { serverGroup: `g${d % 2}` } : {}), ...(d % 5 === 4 ? { ifNoHost: 'error' as const } : {}), ...(d % 7 === 6 ? { securityGroups: [pick(SG, b)] } : {}),
  }),
  (c, a) => c.deleteVm(pick(VM, a)),
  (c, a) => c.stopVm(pick(VM, a)),
  (c, a) => c.startVm(pick(VM, a)),
  (c, a, b) => c.migrateVm(pick(VM, a), b % 2 === 0 ? undefined : pick(HV, b)),
  (c, a, b, d) => c.createRouter({ name: pick(ROUTER, a), tenant: pick(TENANT, b), ...(d % 2 === 0 ? { externalGateway: { snat: d % 4 === 0 } } : {}) }),
  (c, a, b) => c.addRouterInterface(pick(ROUTER, a), pick(SN, b)[0]),
  (c, a, b) => c.removeRouterInterface(pick(ROUTER, a), pick(SN, b)[0]),
  (c, a, b) => c.setRouterGateway(pick(ROUTER, a), b % 3 === 2 ? { snat: 'no' as unknown as boolean } : {}),
  (c, a) => c.clearRouterGateway(pick(ROUTER, a)),
  (c, a, b) => c.addRoute(pick(ROUTER, a), { destination: '10.9.0.0/16', nexthop: b % 2 === 0 ? '10.0.1.254' : '10.0.2.254' }),
  (c, a) => c.removeRoute(pick(ROUTER, a), { destination: '10.9.0.0/16', nexthop: '10.0.1.254' }),
  (c, a) => c.deleteRouter(pick(ROUTER, a)),
  (c, a, b) => c.createFloatingIp({ name: pick(FIP, a), ...(b % 3 === 0 ? {} : { tenant: pick(TENANT, b) }) }),
  (c, a, b, d) => c.associateFloatingIp(pick(FIP, a), d % 2 === 0 ? pick(PORT, b) : (c.vms().find((v) => v.name === pick(VM, b))?.ports[0] ?? 'none')),
  (c, a) => c.disassociateFloatingIp(pick(FIP, a)),
  (c, a) => c.releaseFloatingIp(pick(FIP, a)),
  (c, a, b) => c.createNatGateway({ vpc: pick(VPC, a), subnet: pick(SN, b)[0], name: `n${a % 2}` }),
  (c, a) => c.deleteNatGateway(`n${a % 2}`),
  (c, a) => c.crashHypervisor(pick(HV, a)),
  (c, a) => c.evacuateHypervisor(pick(HV, a)),
];

export const opArb: fc.Arbitrary<Op> = fc.tuple(fc.nat(OPS.length - 1), fc.nat(11), fc.nat(11), fc.nat(11));

/** the cloud's settings for these operations: a small external network (five addresses) so it runs out */
export const OPS_CLOUD = { seed: 3, external: { cidr: '203.0.113.0/29', gateway: '203.0.113.1' } };

export function runOp(c: Cloud, [k, a, b, d]: Op): unknown { return OPS[k]!(c, a, b, d); }

/**
 * A data plane that keeps what it was told as state (the hypervisors, the
 * running VMs, the groups, routers and NAT gateways), to compare where two
 * runs leave it.
 */
export function modelDataplane(): { dp: CloudDataplane; state: () => unknown } {
  const hvs = new Set<string>();
  const vms = new Map<string, VmBoot>();
  let groups: SecurityGroup[] = [];
  const routers = new Map<string, RouterInfo>();
  const nats = new Map<string, NatGatewayInfo>();
  const dp: CloudDataplane = {
    addHypervisor: (h) => { hvs.add(h.name); },
    removeHypervisor: (n) => { hvs.delete(n); for (const [id, v] of vms) if (v.hypervisor === n) vms.delete(id); },
    crashHypervisor: (n) => { for (const [id, v] of vms) if (v.hypervisor === n) vms.delete(id); },
    startVm: (v) => { vms.set(v.id, structuredClone(v)); },
    stopVm: (id) => { vms.delete(id); },
    migrateVm: (v) => { vms.set(v.id, structuredClone(v)); },
    securityGroups: (g) => { groups = structuredClone(g); },
    routerChanged: (r) => { routers.set(r.id, structuredClone(r)); },
    routerDeleted: (id) => { routers.delete(id); },
    natGatewayChanged: (n) => { nats.set(n.id, structuredClone(n)); },
    natGatewayDeleted: (id) => { nats.delete(id); },
  };
  const sorted = <V>(m: Map<string, V>): [string, V][] => [...m].sort((x, y) => (x[0] < y[0] ? -1 : 1));
  return { dp, state: () => ({ hvs: [...hvs].sort(), vms: sorted(vms), groups, routers: sorted(routers), nats: sorted(nats) }) };
}

/**
 * a start that the random operations build on: two hosts, two VPCs of two tenants, three subnets, a router
 * with a gateway and a subnet, a port, a VM, a floating IP
 */
export const PRELUDE: Op[] = [
  [0, 0, 0, 0], [0, 1, 1, 0], [4, 0, 0, 1], [4, 1, 1, 1], [6, 0, 1, 0], [6, 1, 1, 0], [6, 2, 1, 0], [20, 0, 0, 2],
  [21, 0, 0, 0], [11, 0, 0, 1], [15, 0, 0, 0], [28, 0, 0, 0],
];

/** operation sequences: the prelude, then up to 'max' random ones */
export const opsArb = (max: number): fc.Arbitrary<Op[]> => fc.array(opArb, { minLength: 1, maxLength: max, size: 'max' }).map((ops) => [...PRELUDE, ...ops]);
