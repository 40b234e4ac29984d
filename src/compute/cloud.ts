/**
 * The cloud's control plane (compute layer, slow path): Neutron's server
 * and Nova's API and scheduler in one object, `Cloud`, with an API shaped
 * like theirs (and AWS's VPC words where Neutron has none: a VPC is a
 * Neutron network with a CIDR, a NAT gateway is AWS's).
 *
 * What: hypervisors in regions and zones; tenants' VPCs (one VXLAN VNI
 * each, from ipam.ts's allocator) and subnets (IPAM in ipam.ts); security
 * groups; ports; VMs with flavors, server groups and a lifecycle (BUILD →
 * ACTIVE ⇄ SHUTOFF → deleted; ERROR when an evacuated VM finds no new
 * host); placement by placement.ts; routers with interfaces, an
 * external gateway (SNAT), extra routes and floating IPs; NAT gateways with
 * an elastic IP; one external (provider) network whose addresses router
 * gateways, floating IPs and NAT gateways take.
 * How an operation runs: whole or not at all, then the data plane told.
 * Every public mutator runs in `tx()`, which opens a journal (table.ts):
 * the state (`State`) is tables of frozen records, and every write —
 * a record put, replaced by an updated copy or removed, an address or VNI
 * allocated or released, the external network set — records its inverse.
 * If anything throws, the journal is played backwards (the tables' order
 * kept) and the RNG's draw counter put back: a refused operation changes
 * nothing and the data plane hears nothing. The indexes (names, the ports
 * of a network, subnet, MAC or group, the VMs of a host and its usage, the
 * floating IPs of an address, port or router) follow the tables through
 * their hooks, rollbacks included. Only after the operation returned are
 * its notifications delivered (CloudDataplane in types.ts), in the order
 * they arose, with two coalesced: the security groups
 * (`securityGroups(all)`, computed from the final state, at the place of
 * the first change) and a router's or NAT gateway's record
 * (`routerChanged`, `natGatewayChanged`, likewise, skipped if it was
 * deleted later). `batch(fn)` widens that to every operation 'fn' calls:
 * their notifications held back to its end and coalesced the same way (a
 * router or NAT gateway created and deleted inside is never told);
 * loadCloud (file.ts) applies a file in one batch.
 * Cost: an operation costs what it touches — its records, the indexes'
 * sets it reads — plus O(hypervisors) for placement (chooseHost; the full
 * explanation only for NoValidHost), IPAM's search for the lowest free
 * address (ipam.ts: O(1) amortised while addresses are only taken) and
 * O(live VNIs) for a new VPC. A
 * security-group notification is O(groups) (each group's record for the
 * data plane is kept until its rules or members change, and handed out
 * frozen: a data plane may keep it, not change it) plus the members of
 * the groups that changed; deleteSecurityGroup scans every
 * group's rules. A refused operation costs what it had done, plus
 * O(table) if it had removed records (the table is re-sorted). Measured
 * with `node --expose-gc --import tsx bench/cloud-control-plane.bench.ts`
 * (200 hypervisors, 1000 VPCs each with a /24 subnet and a router with
 * gateway and interface, 10,000 VMs): 0.8 s without a data plane, 1.2 s
 * telling a data plane call by call (22,200 notifications), 0.7 s in one
 * batch (11,201); heap 37 MB. With a whole-state copy per operation
 * (commit 4aa1235) the same bench with 1000 VMs took 56 s (0.26 s now).
 * Identity: every object has an `id` (a version-4-shaped UUID drawn from
 * the seeded RNG, as Neutron's are UUIDs; `devName` takes its first 11
 * characters) and a `name`. Calls take either (a reference, `Ref`): the id,
 * else the name, which must then be unique (AmbiguousName otherwise).
 * Names of VPCs, subnets, routers, VMs, server groups, NAT gateways and
 * hypervisors are unique in the cloud; security group names are unique per
 * tenant (every tenant has its own `default`).
 * Neutron's behaviour kept: a port created without `securityGroups` is put
 * in its tenant's `default` group (created on first use: egress anywhere,
 * ingress from its members); `securityGroups: []` means none; port security
 * off excludes groups. MACs are fa:16:3e:xx:xx:xx (base_mac) from the RNG,
 * unique. A new group allows egress anywhere (IPv4 and IPv6). A subnet may
 * be attached to one router; a router's subnets may not overlap; a floating
 * IP needs a router with an external gateway on the port's subnet. A NAT
 * gateway (AWS's) put in a subnet that no router serves takes the subnet's
 * gateway address — the subnet's VMs reach the outside through it, as an
 * AWS private subnet whose route table sends 0.0.0.0/0 to it — and a router
 * cannot then take that subnet (IpAddressAlreadyAllocated); elsewhere it
 * takes the next free address.
 * Nova's behaviour kept: createVm with `subnets` creates a port per subnet
 * and deleteVm deletes those; ports passed in `ports` are only detached
 * (their addresses kept). A SHUTOFF VM keeps its resources on its host.
 * Live migration needs ACTIVE; it keeps ports, MACs and addresses. A
 * hypervisor with VMs cannot be removed (Nova refuses to delete a compute
 * service hosting instances). A crash comes in two steps, as in Nova:
 * `crashHypervisor` — the host goes down, the data plane loses the machine
 * (`CloudDataplane.crashHypervisor`: its VMs stop, their ports stay bound
 * there, the peers keep sending to it), its VMs stay placed on it (ACTIVE,
 * refused any start, stop or migration: ComputeServiceUnavailable; they can
 * be deleted) — then `evacuateHypervisor` (`nova host-evacuate`, allowed
 * only once the host is down): the dead host's ports are let go and each
 * VM is rebuilt on a host the scheduler picks (same ports and addresses,
 * same power state), or, where nothing fits, left in ERROR with the
 * NoValidHost fault (no host, ports kept: the operator can delete it or,
 * after `recoverHypervisor`, nothing moves it back — as in Nova).
 * `failHypervisor` is both at once. `recoverHypervisor` brings the machine
 * back empty; VMs never evacuated come back SHUTOFF on it.
 * Differences from Nova, on purpose: createVm that finds no host is
 * refused (CloudError NoValidHost, state unchanged) where Nova would keep
 * a server record in ERROR (`ifNoHost: 'error'` does as Nova does);
 * builds are synchronous (BUILD is never seen after the call returns).
 * External network: its segment is `{ networkId: 'external', vni: 0 }` — a
 * flat provider network, not a tunnel (0 is outside every tenant range).
 * IPv4 only.
 * Neighbours: table.ts (the journal and tables), ipam.ts (addresses,
 * VNIs), placement.ts (scheduler),
 * errors.ts (CloudError), types.ts (records for the data plane),
 * devices/security-group.ts (rule shapes, and the final check of a rule:
 * what it accepts the data plane can compile), file.ts (YAML → these
 * calls), dataplane.ts (the CloudDataplane on a Topology).
 */
import { Mulberry32 } from '../rng.js';
import { SecurityGroups, type SecurityGroup, type SgRule } from '../devices/security-group.js';
import { SdnemuError } from '../errors.js';
import type { CloudDataplane, DeviceOwner, HypervisorInfo, NatGatewayInfo, PortInfo, RouterInfo, VmBoot } from './types.js';
import { CloudError, refuse } from './errors.js';
import { deepFreeze, Journal, Table } from './table.js';
import {
  allocateIp, allocateVni, cidrText, contains, ipText, newSubnetIpam, newVniAllocator, overlaps, parseCidr, parseIp,
  releaseIp, releaseVni, within, type Cidr, type SubnetIpam, type VniAllocator,
} from './ipam.js';
import { chooseHost, DEFAULT_PLACEMENT, noValidHostMessage, schedule, type HostState, type PlacementConfig, type ScheduleRequest, type ScheduleResult } from './placement.js';

export { CloudError } from './errors.js';

/** An object's id or (unique) name. */
export type Ref = string;

export type VmStatus = 'BUILD' | 'ACTIVE' | 'SHUTOFF' | 'ERROR';
export type ServerGroupPolicy = 'affinity' | 'anti-affinity';
export interface Flavor { vcpus: number; ramMb: number }

/** Nova's classic flavors (the ones devstack creates). */
export const FLAVORS: Readonly<Record<string, Flavor>> = {
  'm1.tiny': { vcpus: 1, ramMb: 512 },
  'm1.small': { vcpus: 1, ramMb: 2048 },
  'm1.medium': { vcpus: 2, ramMb: 4096 },
  'm1.large': { vcpus: 4, ramMb: 8192 },
  'm1.xlarge': { vcpus: 8, ramMb: 16384 },
};

export interface ExternalNetworkSpec { cidr: string; gateway: string; allocationPools?: { start: string; end: string }[] }

export interface CloudOptions {
  dataplane?: CloudDataplane;
  seed?: number;
  /** the provider network for router gateways, floating IPs and NAT gateways */
  external?: ExternalNetworkSpec;
  /** ML2 vni_ranges: [min, max] (default [1, 16777215]) */
  vniRange?: [number, number];
  /** scheduler settings (placement.ts DEFAULT_PLACEMENT) */
  placement?: Partial<PlacementConfig>;
  /** extra named flavors */
  flavors?: Record<string, Flavor>;
}

// ---- records (the state: plain data, frozen in their tables; see tx()) -----------------------------------

export interface HypervisorRecord {
  name: string; region: string; az: string; vcpus: number; ramMb: number; ip: string; up: boolean;
  /** down by a crash whose data plane is kept (ports bound, peers pointing at it) until evacuation or recovery */
  crashed: boolean;
}
export interface VpcRecord { id: string; name: string; tenant: string; cidr: string; vni: number }
export interface HostRoute { destination: string; nexthop: string }
export interface SubnetRecord {
  id: string; name: string; vpcId: string; tenant: string; cidr: string; gateway: string | null;
  allocationPools: { start: string; end: string }[]; hostRoutes: HostRoute[]; routerId: string | null;
}
export type StoredRule = SgRule & { id: string };
export interface SecurityGroupRecord { id: string; name: string; tenant: string; rules: StoredRule[] }
export interface PortRecord {
  id: string; name: string; tenant: string; networkId: string; subnetId: string | null; vni: number; mac: string;
  fixedIps: string[]; allowedAddressPairs: { ip: string; mac?: string }[]; securityGroups: string[];
  portSecurity: boolean; deviceOwner: DeviceOwner | ''; deviceId: string | null;
}
export interface VmRecord {
  id: string; name: string; tenant: string; flavor: Flavor & { name?: string }; image: string; status: VmStatus;
  hypervisor: string | null; az: string | null; ports: string[]; ownPorts: string[]; serverGroup: string | null;
  fault: { code: string; message: string } | null;
}
export interface ServerGroupRecord { id: string; name: string; policy: ServerGroupPolicy; members: string[] }
export interface RouterRecord {
  id: string; name: string; tenant: string; gateway: { portId: string; snat: boolean } | null;
  interfaces: { subnetId: string; portId: string }[]; routes: HostRoute[];
}
export interface FloatingIpRecord {
  id: string; name: string; tenant: string; ip: string; portId: string | null; fixedIp: string | null;
  routerId: string | null; natGatewayId: string | null;
}
export interface NatGatewayRecord {
  id: string; name: string; tenant: string; vpcId: string; subnetId: string; insidePortId: string;
  outsidePortId: string; floatingIpId: string; ownFloatingIp: boolean;
}

interface State {
  /** RNG draws so far (each draw is a fresh mulberry32 of (seed, counter): the counter is the whole RNG state) */
  draws: number;
  hypervisors: Table<HypervisorRecord>;
  vpcs: Table<VpcRecord>;
  subnets: Table<SubnetRecord>;
  /** by subnet id; mutable records whose inner changes the Cloud journals (alloc, release, setReserved) */
  ipam: Table<SubnetIpam & { id: string }>;
  securityGroups: Table<SecurityGroupRecord>;
  ports: Table<PortRecord>;
  vms: Table<VmRecord>;
  serverGroups: Table<ServerGroupRecord>;
  routers: Table<RouterRecord>;
  floatingIps: Table<FloatingIpRecord>;
  natGateways: Table<NatGatewayRecord>;
  external: { cidr: string; gateway: string; ipam: SubnetIpam } | null;
  vni: VniAllocator;
}

/** Sets of ids by a key (an index): add, remove, read. */
class Multi {
  private readonly m = new Map<string, Set<string>>();
  add(k: string, id: string): void { let s = this.m.get(k); if (s === undefined) this.m.set(k, (s = new Set())); s.add(id); }
  remove(k: string, id: string): void { const s = this.m.get(k); if (s !== undefined) { s.delete(id); if (s.size === 0) this.m.delete(k); } }
  get(k: string): ReadonlySet<string> { return this.m.get(k) ?? NONE; }
}
const NONE: ReadonlySet<string> = new Set();

/** A notification waiting for the operation to commit. */
type Note =
  | { kind: 'call'; run: (dp: CloudDataplane) => void }
  | { kind: 'sg' }
  | { kind: 'router'; id: string }
  | { kind: 'nat'; id: string }
  | { kind: 'routerDeleted'; id: string }
  | { kind: 'natDeleted'; id: string };

export const EXTERNAL_NETWORK_ID = 'external';

export interface CreatePortSpec {
  subnet: Ref; name?: string; ip?: string; mac?: string; securityGroups?: Ref[];
  allowedAddressPairs?: { ip: string; mac?: string }[]; portSecurity?: boolean;
}
export interface CreateVmSpec {
  name: string; flavor: string | Flavor; image: string; ports?: Ref[]; subnets?: Ref[]; securityGroups?: Ref[];
  az?: string; serverGroup?: Ref;
  /** when no host fits: 'refuse' (default: CloudError NoValidHost, nothing changes) or 'error' (Nova's way: the VM is kept in ERROR with the fault, without ports) */
  ifNoHost?: 'refuse' | 'error';
}

/** A JSON-able picture of the whole cloud (describe()). */
export interface CloudSnapshot {
  external: { cidr: string; gateway: string } | null;
  vniRange: [number, number];
  hypervisors: HypervisorRecord[];
  vpcs: VpcRecord[];
  subnets: (SubnetRecord & { allocated: { ip: string; owner: string }[] })[];
  securityGroups: SecurityGroupRecord[];
  ports: PortRecord[];
  vms: VmRecord[];
  serverGroups: ServerGroupRecord[];
  routers: RouterRecord[];
  floatingIps: FloatingIpRecord[];
  natGateways: NatGatewayRecord[];
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,62}$/;

function checkName(v: unknown, path: string): string {
  if (typeof v !== 'string' || !NAME_RE.test(v)) refuse('InvalidInput', path, `'${String(v)}' is not a name (letters, digits, . _ : -; up to 63)`);
  return v;
}

function checkCount(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) refuse('InvalidInput', path, `${String(v)} is not a positive integer`);
  return v;
}

const PORT_PROTOCOLS = new Map<string, number>([['tcp', 6], ['udp', 17], ['sctp', 132], ['icmp', 1], ['ipv6-icmp', 58], ['icmpv6', 58]]);

/** SecurityGroups' codes for a rule, in Neutron's words */
const SG_CODES: Readonly<Record<string, string>> = {
  SG_BAD_PROTOCOL: 'SecurityGroupRuleInvalidProtocol', SG_BAD_ADDRESS: 'InvalidCidr', SG_BAD_PORT_RANGE: 'InvalidPortRange',
  SG_BAD_DIRECTION: 'InvalidInput', SG_BAD_ETHERTYPE: 'InvalidInput', SG_REMOTE_CONFLICT: 'RemoteGroupAndRemoteIpPrefix',
  SG_UNKNOWN_GROUP: 'SecurityGroupNotFound',
};

export class Cloud {
  private readonly s: State;
  private readonly j = new Journal();
  private readonly dp: CloudDataplane | null;
  private readonly seed: number;
  private readonly placementConfig: PlacementConfig;
  private readonly flavors: Record<string, Flavor>;
  private depth = 0;
  private batching = 0;
  private outbox: Note[] = [];
  /** what the outbox holds of the coalesced notes */
  private sgQueued = false;
  private readonly routersQueued = new Set<string>();
  private readonly natsQueued = new Set<string>();
  /** routers and NAT gateways the data plane was told of (a batch may create and delete one unheard) */
  private readonly announced = new Set<string>();

  // ---- indexes (derived from the tables by their hooks, so rollbacks undo them too) ----
  private readonly names = new Map<object, Multi>();
  /** security groups by `${tenant}/${name}` */
  private readonly sgByTenantName = new Multi();
  private readonly subnetsByVpc = new Multi();
  private readonly portsByNetwork = new Multi();
  private readonly portsBySubnet = new Multi();
  private readonly portsByMac = new Multi();
  /** ports by each security group they list */
  private readonly portsByGroup = new Multi();
  private readonly ruleGroup = new Map<string, string>();
  private readonly vmsByHost = new Multi();
  private readonly hostUse = new Map<string, { vcpus: number; ramMb: number }>();
  private readonly fipByIp = new Map<string, string>();
  private readonly fipsByPort = new Multi();
  private readonly fipsByRouter = new Multi();
  /** each group as the data plane takes it, computed when asked and dropped when its rules or members change */
  private readonly sgCache = new Map<string, SecurityGroup>();

  constructor(opts: CloudOptions = {}) {
    this.dp = opts.dataplane ?? null;
    this.seed = opts.seed ?? 1;
    this.placementConfig = { ...DEFAULT_PLACEMENT, ...(opts.placement ?? {}) };
    for (const [k, v] of Object.entries(this.placementConfig)) {
      if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v)) refuse('InvalidInput', `placement.${k}`, `${String(v)} is not a non-negative number`);
    }
    this.flavors = { ...FLAVORS };
    for (const [k, f] of Object.entries(opts.flavors ?? {})) this.flavors[k] = this.checkFlavor(f, `flavors.${k}`);
    const [min, max] = opts.vniRange ?? [1, 0xffffff];
    const j = this.j;
    const byId = (v: { id: string }): string => v.id;
    this.s = {
      draws: 0,
      hypervisors: new Table<HypervisorRecord>(j, (h) => h.name),
      vpcs: this.named(new Table<VpcRecord>(j, byId, (k, a, b) => this.hookNamed(this.s.vpcs, k, a, b))),
      subnets: this.named(new Table<SubnetRecord>(j, byId, (k, a, b) => this.hookSubnet(k, a, b))),
      ipam: new Table<SubnetIpam & { id: string }>(j, byId, null, false),
      securityGroups: this.named(new Table<SecurityGroupRecord>(j, byId, (k, a, b) => this.hookGroup(k, a, b))),
      ports: this.named(new Table<PortRecord>(j, byId, (k, a, b) => this.hookPort(k, a, b))),
      vms: this.named(new Table<VmRecord>(j, byId, (k, a, b) => this.hookVm(k, a, b))),
      serverGroups: this.named(new Table<ServerGroupRecord>(j, byId, (k, a, b) => this.hookNamed(this.s.serverGroups, k, a, b))),
      routers: this.named(new Table<RouterRecord>(j, byId, (k, a, b) => this.hookNamed(this.s.routers, k, a, b))),
      floatingIps: this.named(new Table<FloatingIpRecord>(j, byId, (k, a, b) => this.hookFip(k, a, b))),
      natGateways: this.named(new Table<NatGatewayRecord>(j, byId, (k, a, b) => this.hookNamed(this.s.natGateways, k, a, b))),
      external: null, vni: newVniAllocator(min, max, 'vniRange'),
    };
    if (opts.external !== undefined) this.setExternalNetwork(opts.external);
  }

  // ---- transactions and notifications ----------------------------------------------------------------

  /** Run 'fn' whole or not at all; deliver its notifications after it returned (after the batch, in one). */
  private tx<T>(fn: () => T): T {
    if (this.depth > 0) return fn();
    const draws = this.s.draws, mark = this.outbox.length;
    this.depth++;
    this.j.begin();
    let result: T;
    try {
      result = fn();
    } catch (e) {
      this.j.rollback();
      this.s.draws = draws;
      this.unqueue(mark);
      throw e;
    } finally {
      this.depth--;
    }
    this.j.commit();
    if (this.batching === 0) this.flush();
    return result;
  }

  /**
   * Run 'fn' (calls of this Cloud) with the data plane's notifications held
   * back until it returns (or throws: what the operations before the throw
   * committed is still delivered, then the error rethrown). Each operation
   * inside is still whole or nothing; the notifications are delivered in
   * the order they arose, the security groups once (at the place of the
   * first change, from the final state), each router and NAT gateway once
   * likewise (none for one created and deleted inside the batch). The data
   * plane ends in the state the operations one by one would leave it in.
   * Nested batches are one batch.
   */
  batch<T>(fn: () => T): T {
    if (this.batching > 0 || this.depth > 0) return fn();
    this.batching++;
    try {
      return fn();
    } finally {
      this.batching--;
      this.flush();
    }
  }

  /** Forget the notes queued since outbox position 'mark' (a refused operation's). */
  private unqueue(mark: number): void {
    this.outbox.length = mark;
    this.sgQueued = false;
    this.routersQueued.clear();
    this.natsQueued.clear();
    for (const n of this.outbox) {
      if (n.kind === 'sg') this.sgQueued = true;
      else if (n.kind === 'router') this.routersQueued.add(n.id);
      else if (n.kind === 'nat') this.natsQueued.add(n.id);
    }
  }

  private flush(): void {
    const notes = this.outbox;
    this.outbox = [];
    this.unqueue(0);
    if (this.dp !== null) for (const n of notes) this.deliver(this.dp, n);
  }

  private deliver(dp: CloudDataplane, n: Note): void {
    switch (n.kind) {
      case 'call': n.run(dp); break;
      case 'sg': dp.securityGroups(this.groupsForDataplane()); break;
      case 'router': { const r = this.s.routers.get(n.id); if (r !== undefined) { this.announced.add(n.id); dp.routerChanged(this.routerInfo(r)); } break; }
      case 'nat': { const g = this.s.natGateways.get(n.id); if (g !== undefined) { this.announced.add(n.id); dp.natGatewayChanged(this.natInfo(g)); } break; }
      case 'routerDeleted': if (this.announced.delete(n.id)) dp.routerDeleted(n.id); break;
      case 'natDeleted': if (this.announced.delete(n.id)) dp.natGatewayDeleted(n.id); break;
    }
  }

  private call(run: (dp: CloudDataplane) => void): void { this.outbox.push({ kind: 'call', run }); }
  private sgChanged(): void { if (!this.sgQueued) { this.sgQueued = true; this.outbox.push({ kind: 'sg' }); } }
  private routerChanged(id: string): void { if (!this.routersQueued.has(id)) { this.routersQueued.add(id); this.outbox.push({ kind: 'router', id }); } }
  private natChanged(id: string): void { if (!this.natsQueued.has(id)) { this.natsQueued.add(id); this.outbox.push({ kind: 'nat', id }); } }

  // ---- index upkeep (table hooks) ------------------------------------------------------------------------

  private named<V extends { id: string; name: string }>(t: Table<V>): Table<V> {
    this.names.set(t, new Multi());
    return t;
  }

  private hookNamed(t: object, key: string, a: { name: string } | undefined, b: { name: string } | undefined): void {
    if (a?.name === b?.name) return;
    const idx = this.names.get(t)!;
    if (a !== undefined && a.name !== '') idx.remove(a.name, key);
    if (b !== undefined && b.name !== '') idx.add(b.name, key);
  }

  private hookSubnet(key: string, a: SubnetRecord | undefined, b: SubnetRecord | undefined): void {
    this.hookNamed(this.s.subnets, key, a, b);
    if (a !== undefined) this.subnetsByVpc.remove(a.vpcId, key);
    if (b !== undefined) this.subnetsByVpc.add(b.vpcId, key);
  }

  private hookGroup(key: string, a: SecurityGroupRecord | undefined, b: SecurityGroupRecord | undefined): void {
    this.hookNamed(this.s.securityGroups, key, a, b);
    if (a !== undefined) { this.sgByTenantName.remove(`${a.tenant}/${a.name}`, key); for (const r of a.rules) this.ruleGroup.delete(r.id); }
    if (b !== undefined) { this.sgByTenantName.add(`${b.tenant}/${b.name}`, key); for (const r of b.rules) this.ruleGroup.set(r.id, key); }
    this.sgCache.delete(key);
  }

  private hookPort(key: string, a: PortRecord | undefined, b: PortRecord | undefined): void {
    this.hookNamed(this.s.ports, key, a, b);
    for (const [p, add] of [[a, false], [b, true]] as const) {
      if (p === undefined) continue;
      const op = add ? Multi.prototype.add : Multi.prototype.remove;
      op.call(this.portsByNetwork, p.networkId, key);
      if (p.subnetId !== null) op.call(this.portsBySubnet, p.subnetId, key);
      op.call(this.portsByMac, p.mac, key);
      for (const g of p.securityGroups) op.call(this.portsByGroup, g, key);
    }
    // the groups' members: a port's addresses, pairs, groups or port security
    if (a === undefined || b === undefined || a.securityGroups !== b.securityGroups || a.portSecurity !== b.portSecurity
      || a.fixedIps !== b.fixedIps || a.allowedAddressPairs !== b.allowedAddressPairs) {
      for (const g of a?.securityGroups ?? []) this.sgCache.delete(g);
      for (const g of b?.securityGroups ?? []) this.sgCache.delete(g);
    }
  }

  private hookVm(key: string, a: VmRecord | undefined, b: VmRecord | undefined): void {
    this.hookNamed(this.s.vms, key, a, b);
    for (const [v, sign] of [[a, -1], [b, 1]] as const) {
      if (v === undefined || v.hypervisor === null) continue;
      if (sign < 0) this.vmsByHost.remove(v.hypervisor, key); else this.vmsByHost.add(v.hypervisor, key);
      const use = this.hostUse.get(v.hypervisor) ?? { vcpus: 0, ramMb: 0 };
      this.hostUse.set(v.hypervisor, { vcpus: use.vcpus + sign * v.flavor.vcpus, ramMb: use.ramMb + sign * v.flavor.ramMb });
    }
  }

  private hookFip(key: string, a: FloatingIpRecord | undefined, b: FloatingIpRecord | undefined): void {
    this.hookNamed(this.s.floatingIps, key, a, b);
    if (a !== undefined) {
      this.fipByIp.delete(a.ip);
      if (a.portId !== null) this.fipsByPort.remove(a.portId, key);
      if (a.routerId !== null) this.fipsByRouter.remove(a.routerId, key);
    }
    if (b !== undefined) {
      this.fipByIp.set(b.ip, key);
      if (b.portId !== null) this.fipsByPort.add(b.portId, key);
      if (b.routerId !== null) this.fipsByRouter.add(b.routerId, key);
    }
  }

  /** the records of 'ids' in the order of table 't' */
  private inOrder<V extends object>(t: Table<V>, ids: Iterable<string>): V[] {
    return [...ids].sort((x, y) => t.seqOf(x) - t.seqOf(y)).map((id) => t.get(id)!);
  }

  // ---- journaled changes outside the tables --------------------------------------------------------------

  private alloc(ipam: SubnetIpam, owner: string, requested: number | null, path: string): number {
    const a = allocateIp(ipam, owner, requested, path);
    this.j.record(() => { releaseIp(ipam, a); });
    return a;
  }

  private release(ipam: SubnetIpam, addr: number): void {
    const owner = ipam.allocated.get(addr);
    if (owner === undefined) return;
    releaseIp(ipam, addr);
    this.j.record(() => { ipam.allocated.set(addr, owner); });
  }

  private setReserved(ipam: SubnetIpam, reserved: number[]): void {
    const before = ipam.reserved;
    ipam.reserved = reserved;
    this.j.record(() => { ipam.reserved = before; });
  }

  // ---- ids, names, lookups ---------------------------------------------------------------------------

  private draw(): number {
    const n = this.s.draws++;
    return new Mulberry32((this.seed ^ Math.imul(n + 1, 0x9e3779b9)) | 0).nextI32() >>> 0;
  }

  /** A UUID (version 4 layout) from the RNG. */
  private uuid(): string {
    const h = [this.draw(), this.draw(), this.draw(), this.draw()].map((w) => w.toString(16).padStart(8, '0')).join('');
    const variant = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
  }

  /** A fresh MAC fa:16:3e:xx:xx:xx (Neutron's base_mac), unique among the ports. */
  private newMac(): string {
    for (;;) {
      const w = this.draw();
      const mac = `fa:16:3e:${[w >>> 16, w >>> 8, w].map((b) => (b & 0xff).toString(16).padStart(2, '0')).join(':')}`;
      if (this.portsByMac.get(mac).size === 0) return mac;
    }
  }

  /** The record of 'map' that 'ref' names (id, else a unique name); 'code' when none, AmbiguousName when several. */
  private find<T extends { id: string; name: string }>(map: Table<T>, ref: unknown, code: string, kind: string, path: string, filter?: (t: T) => boolean): T {
    if (typeof ref !== 'string' || ref === '') refuse('InvalidInput', path, `expected the id or name of a ${kind}`);
    const byId = map.get(ref);
    if (byId !== undefined && (filter === undefined || filter(byId))) return byId;
    const named = this.inOrder(map, this.withName(map, ref)).filter((t) => filter === undefined || filter(t));
    if (named.length > 1) refuse('AmbiguousName', path, `${named.length} ${kind}s are named '${ref}': give the id`);
    if (named.length === 0) refuse(code, path, `${kind} '${ref}' could not be found`);
    return named[0]!;
  }

  /** the ids of the records of 't' named 'name' */
  private withName<T extends { id: string; name: string }>(t: Table<T>, name: string): ReadonlySet<string> {
    return this.names.get(t)!.get(name);
  }

  private uniqueName<T extends { id: string; name: string }>(map: Table<T>, name: string, kind: string, path: string): void {
    if (this.withName(map, name).size > 0) refuse('DuplicateName', path, `a ${kind} named '${name}' exists`);
  }

  private vpcOf(ref: unknown, path = 'vpc'): VpcRecord { return this.find(this.s.vpcs, ref, 'NetworkNotFound', 'VPC', path); }
  private subnetOf(ref: unknown, path = 'subnet'): SubnetRecord { return this.find(this.s.subnets, ref, 'SubnetNotFound', 'subnet', path); }
  private portOf(ref: unknown, path = 'port'): PortRecord { return this.find(this.s.ports, ref, 'PortNotFound', 'port', path); }
  private vmOf(ref: unknown, path = 'vm'): VmRecord { return this.find(this.s.vms, ref, 'InstanceNotFound', 'VM', path); }
  private routerOf(ref: unknown, path = 'router'): RouterRecord { return this.find(this.s.routers, ref, 'RouterNotFound', 'router', path); }
  private fipOf(ref: unknown, path = 'floatingIp'): FloatingIpRecord {
    const byIp = typeof ref === 'string' ? this.fipByIp.get(ref) : undefined;
    return byIp !== undefined ? this.s.floatingIps.get(byIp)! : this.find(this.s.floatingIps, ref, 'FloatingIPNotFound', 'floating IP', path);
  }
  private natOf(ref: unknown, path = 'natGateway'): NatGatewayRecord { return this.find(this.s.natGateways, ref, 'NatGatewayNotFound', 'NAT gateway', path); }
  private serverGroupOf(ref: unknown, path = 'serverGroup'): ServerGroupRecord { return this.find(this.s.serverGroups, ref, 'ServerGroupNotFound', 'server group', path); }
  private sgOf(ref: unknown, path = 'securityGroup', tenant?: string): SecurityGroupRecord {
    if (tenant !== undefined && typeof ref === 'string' && !this.s.securityGroups.has(ref)) {
      // a name within the tenant: unique there (names are unique per tenant)
      const id = [...this.sgByTenantName.get(`${tenant}/${ref}`)][0];
      if (id !== undefined) return this.s.securityGroups.get(id)!;
    }
    return this.find(this.s.securityGroups, ref, 'SecurityGroupNotFound', 'security group', path, tenant === undefined ? undefined : (g) => g.tenant === tenant);
  }
  private hypervisorOf(name: unknown, path = 'hypervisor'): HypervisorRecord {
    const h = typeof name === 'string' ? this.s.hypervisors.get(name) : undefined;
    if (h === undefined) refuse('ComputeHostNotFound', path, `hypervisor '${String(name)}' could not be found`);
    return h;
  }
  private ipamOf(p: { subnetId: string | null }): SubnetIpam {
    if (p.subnetId === null) return this.s.external!.ipam;
    return this.s.ipam.get(p.subnetId)!;
  }

  private checkFlavor(f: unknown, path: string): Flavor {
    if (typeof f === 'string') {
      const named = this.flavors[f];
      if (named === undefined) refuse('FlavorNotFound', path, `flavor '${f}' could not be found (${Object.keys(this.flavors).join(', ')})`);
      return { ...named, name: f } as Flavor;
    }
    if (f === null || typeof f !== 'object') refuse('InvalidInput', path, 'a flavor is a name or { vcpus, ramMb }');
    const o = f as Record<string, unknown>;
    return { vcpus: checkCount(o.vcpus, `${path}.vcpus`), ramMb: checkCount(o.ramMb, `${path}.ramMb`) };
  }

  // ---- hypervisors -------------------------------------------------------------------------------------

  /** Add a hypervisor (a compute node): 'ip' is its underlay address. Name and IP unique (DuplicateName, DuplicateIp). */
  addHypervisor(spec: { name: string; region: string; az: string; vcpus: number; ramMb: number; ip: string }): HypervisorRecord {
    return this.tx(() => {
      const name = checkName(spec.name, 'name');
      if (this.s.hypervisors.has(name)) refuse('DuplicateName', 'name', `a hypervisor named '${name}' exists`);
      const region = checkName(spec.region, 'region'), az = checkName(spec.az, 'az');
      const vcpus = checkCount(spec.vcpus, 'vcpus'), ramMb = checkCount(spec.ramMb, 'ramMb');
      const ip = ipText(parseIp(spec.ip, 'ip'));
      for (const h of this.s.hypervisors.values()) if (h.ip === ip) refuse('DuplicateIp', 'ip', `${ip} is the address of hypervisor '${h.name}'`);
      const h = this.s.hypervisors.put({ name, region, az, vcpus, ramMb, ip, up: true, crashed: false });
      const info: HypervisorInfo = { name, region, az, ip };
      this.call((dp) => dp.addHypervisor(info));
      return structuredClone(h);
    });
  }

  /** Remove an idle hypervisor (HypervisorInUse while VMs are placed on it: fail it, or move them, first). */
  removeHypervisor(name: string): void {
    this.tx(() => {
      const h = this.hypervisorOf(name, 'name');
      const vms = this.inOrder(this.s.vms, this.vmsByHost.get(h.name));
      if (vms.length > 0) refuse('HypervisorInUse', 'name', `hypervisor '${h.name}' hosts ${vms.map((v) => v.name).join(', ')}`);
      if (h.up) this.call((dp) => dp.removeHypervisor(h.name));
      else this.clearCrash(h);
      this.s.hypervisors.remove(h.name);
    });
  }

  /**
   * The hypervisor crashed, and nothing has acted on it yet: it is down
   * (the scheduler skips it), the data plane loses the machine — its VMs'
   * memory, its flows and its conntrack table — but its VMs stay placed on
   * it (ACTIVE, as Nova shows them while the compute service is down) and
   * their ports stay bound to it, so the peers' FDB entries and tunnels
   * still point at the dead host and what they send it is lost: the window
   * before an operator (or Masakari) evacuates. HypervisorDown if it is
   * already down.
   */
  crashHypervisor(name: string): void {
    this.tx(() => {
      const h = this.hypervisorOf(name, 'name');
      if (!h.up) refuse('HypervisorDown', 'name', `hypervisor '${h.name}' is already down`);
      this.s.hypervisors.update(h, { up: false, crashed: true });
      // a data plane without a crash of its own loses the machine at once (ports unbound, peers told)
      this.call((dp) => { if (dp.crashHypervisor !== undefined) dp.crashHypervisor(h.name); else dp.removeHypervisor(h.name); });
    });
  }

  /**
   * `nova host-evacuate`: each VM of the down hypervisor 'name' (by name)
   * is rebuilt on the host the scheduler picks — same ports, MACs and
   * addresses, same power state, a fresh guest (no memory, no connections)
   * — or left in ERROR with the NoValidHost fault when nothing fits. Its
   * ports are rebound first, so the peers' FDB entries and tunnels move to
   * the new hosts (l2pop) and the dead host's go. HypervisorUp while it is
   * up (Nova: the compute service is still in use). Returns what became of
   * each VM.
   */
  evacuateHypervisor(name: string): { vm: string; to: string | null; reason?: string }[] {
    return this.tx(() => {
      const h = this.hypervisorOf(name, 'name');
      if (h.up) refuse('HypervisorUp', 'name', `Compute service of ${h.name} is still in use`);
      this.clearCrash(h);
      const out: { vm: string; to: string | null; reason?: string }[] = [];
      const vms = [...this.vmsByHost.get(h.name)].map((id) => this.s.vms.get(id)!).sort((a, b) => (a.name < b.name ? -1 : 1));
      for (let vm of vms) {
        const r = this.scheduleFor(vm, { ignoreHosts: [h.name] });
        if (r.host === null) {
          const fault = { code: 'NoValidHost', message: r.why };
          this.s.vms.update(vm, { status: 'ERROR', hypervisor: null, fault });
          out.push({ vm: vm.name, to: null, reason: fault.message });
          continue;
        }
        vm = this.s.vms.update(vm, { hypervisor: r.host });
        if (vm.status === 'ACTIVE') {
          const boot = this.vmBoot(vm);
          this.call((dp) => dp.startVm(boot));
        }
        out.push({ vm: vm.name, to: r.host });
      }
      return out;
    });
  }

  /**
   * The hypervisor crashed and its VMs are evacuated at once (crashHypervisor
   * then evacuateHypervisor, as one operation): each VM rebuilt elsewhere or
   * left in ERROR with NoValidHost. Returns what became of each VM.
   */
  failHypervisor(name: string): { vm: string; to: string | null; reason?: string }[] {
    return this.tx(() => {
      this.crashHypervisor(name);
      return this.evacuateHypervisor(name);
    });
  }

  /**
   * A failed hypervisor is back, rebooted: empty of everything its data
   * plane had. Its VMs were evacuated or are in ERROR; those never
   * evacuated are still placed on it and come back SHUTOFF (Nova's power
   * state sync after a host reboot, resume_guests_state_on_host_boot off):
   * the operator starts them.
   */
  recoverHypervisor(name: string): void {
    this.tx(() => {
      const h = this.hypervisorOf(name, 'name');
      if (h.up) refuse('HypervisorUp', 'name', `hypervisor '${h.name}' is up`);
      this.clearCrash(h);
      this.s.hypervisors.update(this.s.hypervisors.get(h.name)!, { up: true });
      for (const id of [...this.vmsByHost.get(h.name)]) {
        const vm = this.s.vms.get(id)!;
        if (vm.status === 'ACTIVE') this.s.vms.update(vm, { status: 'SHUTOFF' });
      }
      const info: HypervisorInfo = { name: h.name, region: h.region, az: h.az, ip: h.ip };
      this.call((dp) => dp.addHypervisor(info));
    });
  }

  /** A crashed hypervisor's data plane, kept since the crash (its ports bound), is let go: the peers forget it. */
  private clearCrash(h: HypervisorRecord): void {
    if (!h.crashed) return;
    this.s.hypervisors.update(h, { crashed: false });
    this.call((dp) => { if (dp.crashHypervisor !== undefined) dp.removeHypervisor(h.name); });
  }

  /** Refuse to act on a VM whose hypervisor is down (Nova's ComputeServiceUnavailable). */
  private hostUp(vm: VmRecord, what: string): void {
    const h = vm.hypervisor === null ? undefined : this.s.hypervisors.get(vm.hypervisor);
    if (h !== undefined && !h.up) refuse('ComputeServiceUnavailable', 'vm', `Compute service of ${h.name} is unavailable at this time (${what} of VM '${vm.name}')`);
  }

  // ---- VPCs and subnets --------------------------------------------------------------------------------

  /** A tenant network with a CIDR and a VNI (the lowest free one of the range, or 'vni' if given and free). */
  createVpc(spec: { name: string; cidr: string; tenant: string; vni?: number }): VpcRecord {
    return this.tx(() => {
      const name = checkName(spec.name, 'name');
      this.uniqueName(this.s.vpcs, name, 'VPC', 'name');
      const tenant = checkName(spec.tenant, 'tenant');
      const cidr = parseCidr(spec.cidr, 'cidr');
      if (cidr.len > 28) refuse('InvalidInput', 'cidr', `a VPC needs at least a /28 (${cidrText(cidr)})`);
      const vni = allocateVni(this.s.vni, spec.vni ?? null, 'vni');
      this.j.record(() => { releaseVni(this.s.vni, vni); });
      const vpc = this.s.vpcs.put({ id: this.uuid(), name, tenant, cidr: cidrText(cidr), vni });
      return structuredClone(vpc);
    });
  }

  /** Delete a VPC and its subnets; its VNI is free again. NetworkInUse while any port is in it. */
  deleteVpc(ref: Ref): void {
    this.tx(() => {
      const vpc = this.vpcOf(ref);
      const used = this.portsByNetwork.get(vpc.id).size;
      if (used > 0) refuse('NetworkInUse', 'vpc', `VPC '${vpc.name}' has ${used} port(s)`);
      for (const sn of [...this.subnetsByVpc.get(vpc.id)]) { this.s.subnets.remove(sn); this.s.ipam.remove(sn); }
      if (this.s.vni.live.has(vpc.vni)) {
        releaseVni(this.s.vni, vpc.vni);
        this.j.record(() => { this.s.vni.live.add(vpc.vni); });
      }
      this.s.vpcs.remove(vpc.id);
    });
  }

  /**
   * A subnet of a VPC: inside its CIDR (InvalidSubnetRange), overlapping no
   * other subnet of the VPC (OverlappingSubnet; other VPCs may overlap),
   * gateway (default the first host; null for none) a host address of it,
   * allocation pools (default every host but the gateway) checked by
   * ipam.ts, host routes pushed to VMs.
   */
  createSubnet(spec: {
    vpc: Ref; name: string; cidr: string; gateway?: string | null;
    allocationPools?: { start: string; end: string }[]; hostRoutes?: HostRoute[];
  }): SubnetRecord {
    return this.tx(() => {
      const vpc = this.vpcOf(spec.vpc);
      const name = checkName(spec.name, 'name');
      this.uniqueName(this.s.subnets, name, 'subnet', 'name');
      const cidr = parseCidr(spec.cidr, 'cidr');
      if (!within(cidr, parseCidr(vpc.cidr, 'vpc'))) refuse('InvalidSubnetRange', 'cidr', `${cidrText(cidr)} is not inside VPC '${vpc.name}' ${vpc.cidr}`);
      if (cidr.len > 30) refuse('InvalidInput', 'cidr', `a subnet needs at least a /30 (${cidrText(cidr)})`);
      for (const o of this.inOrder(this.s.subnets, this.subnetsByVpc.get(vpc.id))) {
        if (overlaps(cidr, parseCidr(o.cidr, 'cidr'))) refuse('OverlappingSubnet', 'cidr', `${cidrText(cidr)} overlaps subnet '${o.name}' ${o.cidr}`);
      }
      let gateway: number | null = cidr.net + 1;
      if (spec.gateway === null) gateway = null;
      else if (spec.gateway !== undefined) {
        gateway = parseIp(spec.gateway, 'gateway');
        if (!contains(cidr, gateway) || gateway === cidr.net || gateway === (cidr.net | (2 ** (32 - cidr.len) - 1)) >>> 0) {
          refuse('InvalidInput', 'gateway', `the gateway ${spec.gateway} is not a host address of ${cidrText(cidr)}`);
        }
      }
      const pools = spec.allocationPools?.map((p, i): [number, number] => [parseIp(p.start, `allocationPools[${i}].start`), parseIp(p.end, `allocationPools[${i}].end`)]);
      const ipam = newSubnetIpam(cidr, gateway, pools, '');
      const hostRoutes = (spec.hostRoutes ?? []).map((r, i) => ({
        destination: cidrText(parseCidr(r.destination, `hostRoutes[${i}].destination`)),
        nexthop: ipText(parseIp(r.nexthop, `hostRoutes[${i}].nexthop`)),
      }));
      const sn = this.s.subnets.put({
        id: this.uuid(), name, vpcId: vpc.id, tenant: vpc.tenant, cidr: cidrText(cidr), gateway: gateway === null ? null : ipText(gateway),
        allocationPools: ipam.pools.map(([s, e]) => ({ start: ipText(s), end: ipText(e) })), hostRoutes, routerId: null,
      });
      this.s.ipam.put(Object.assign(ipam, { id: sn.id }));
      return structuredClone(sn);
    });
  }

  /** Delete a subnet without ports (SubnetInUse otherwise, router interfaces and NAT gateways included). */
  deleteSubnet(ref: Ref): void {
    this.tx(() => {
      const sn = this.subnetOf(ref);
      const used = this.inOrder(this.s.ports, this.portsBySubnet.get(sn.id));
      if (used.length > 0) refuse('SubnetInUse', 'subnet', `subnet '${sn.name}' has ${used.length} port(s) (${used.map((p) => p.deviceOwner || 'unbound').join(', ')})`);
      this.s.subnets.remove(sn.id);
      this.s.ipam.remove(sn.id);
    });
  }

  // ---- security groups ---------------------------------------------------------------------------------

  /** A group with Neutron's default rules (egress anywhere, IPv4 and IPv6); names unique per tenant. */
  createSecurityGroup(spec: { name: string; tenant: string; description?: string }): SecurityGroupRecord {
    return this.tx(() => {
      const tenant = checkName(spec.tenant, 'tenant');
      const name = checkName(spec.name, 'name');
      if (this.sgByTenantName.get(`${tenant}/${name}`).size > 0) refuse('DuplicateName', 'name', `a security group named '${name}' exists`);
      const g = this.newGroup(name, tenant, false);
      return structuredClone(g);
    });
  }

  private newGroup(name: string, tenant: string, isDefault: boolean): SecurityGroupRecord {
    const id = this.uuid();
    const rules = (isDefault ? SecurityGroups.defaultGroup(id) : SecurityGroups.newGroup(id)).rules;
    const g = this.s.securityGroups.put({ id, name, tenant, rules: rules.map((r) => ({ ...r, id: this.uuid() })) });
    this.sgChanged();
    return g;
  }

  /** The tenant's `default` group, created on first use (Neutron: ingress from its members, egress anywhere). */
  private defaultGroup(tenant: string): SecurityGroupRecord {
    for (const id of this.sgByTenantName.get(`${tenant}/default`)) return this.s.securityGroups.get(id)!;
    return this.newGroup('default', tenant, true);
  }

  /**
   * Add a rule (SgRule, Neutron's fields) to group 'sg'; returns it with its id.
   * Refused with the field: a bad direction or ethertype (InvalidInput), an
   * unknown protocol (SecurityGroupRuleInvalidProtocol), a port outside
   * 1..65535 (InvalidPortValue; Neutron refuses 0 too), min > max or a max
   * without min (InvalidPortRange), a port range on a protocol without ports
   * (InvalidProtocolForPortRange), an ICMP type or code outside 0..255
   * (InvalidIcmpValue), a remote group that does not exist in the tenant
   * (SecurityGroupNotFound), both remote group and prefix
   * (RemoteGroupAndRemoteIpPrefix), a bad prefix (InvalidCidr), the same rule
   * twice (SecurityGroupRuleExists).
   */
  addSecurityGroupRule(sg: Ref, rule: SgRule): StoredRule {
    return this.tx(() => {
      const g = this.sgOf(sg);
      const r = this.checkRule(g, rule);
      const key = JSON.stringify(ruleKey(r));
      if (g.rules.some((x) => JSON.stringify(ruleKey(x)) === key)) refuse('SecurityGroupRuleExists', 'rule', 'the group already has this rule');
      const stored: StoredRule = { ...r, id: this.uuid() };
      this.s.securityGroups.update(g, { rules: [...g.rules, stored] });
      this.sgChanged();
      return structuredClone(stored);
    });
  }

  private checkRule(g: SecurityGroupRecord, rule: SgRule): SgRule {
    if (rule === null || typeof rule !== 'object') refuse('InvalidInput', 'rule', 'a rule is an object (direction, ethertype, protocol …)');
    if (rule.direction !== 'ingress' && rule.direction !== 'egress') refuse('InvalidInput', 'rule.direction', `'${String(rule.direction)}' is not ingress or egress`);
    const ethertype = rule.ethertype ?? 'IPv4';
    if (ethertype !== 'IPv4' && ethertype !== 'IPv6') refuse('InvalidInput', 'rule.ethertype', `'${String(ethertype)}' is not IPv4 or IPv6`);
    const p = rule.protocol ?? null;
    let proto: number | null = null;
    if (typeof p === 'number') proto = p;
    else if (typeof p === 'string' && /^[0-9]+$/.test(p)) proto = Number(p);
    else if (typeof p === 'string') proto = PORT_PROTOCOLS.get(p.toLowerCase()) ?? null;
    if (typeof p === 'number' && !(Number.isInteger(p) && p >= 0 && p <= 255)) refuse('SecurityGroupRuleInvalidProtocol', 'rule.protocol', `${p} is not an IP protocol number 0..255`);
    if (p !== null && typeof p !== 'number' && typeof p !== 'string') refuse('SecurityGroupRuleInvalidProtocol', 'rule.protocol', 'a protocol is a name or a number');
    let min = rule.portRangeMin ?? null, max = rule.portRangeMax ?? null;
    const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
    if (proto === 1 || proto === 58) {
      if (min === null && max !== null) refuse('InvalidIcmpValue', 'rule.portRangeMax', 'an ICMP code needs an ICMP type (portRangeMin)');
      if (min !== null && !(isInt(min) && min >= 0 && min <= 255)) refuse('InvalidIcmpValue', 'rule.portRangeMin', `ICMP type ${String(min)} is not 0..255`);
      if (max !== null && !(isInt(max) && max >= 0 && max <= 255)) refuse('InvalidIcmpValue', 'rule.portRangeMax', `ICMP code ${String(max)} is not 0..255`);
    } else if (min !== null || max !== null) {
      if (proto !== 6 && proto !== 17 && proto !== 132) refuse('InvalidProtocolForPortRange', 'rule.protocol', `port ranges need protocol tcp, udp or sctp, not ${String(p)}`);
      if (min === null) refuse('InvalidPortRange', 'rule.portRangeMin', 'a port range needs portRangeMin');
      if (max === null) max = min;
      if (!(isInt(min) && min >= 1 && min <= 65535)) refuse('InvalidPortValue', 'rule.portRangeMin', `port ${String(min)} is not 1..65535`);
      if (!(isInt(max) && max >= 1 && max <= 65535)) refuse('InvalidPortValue', 'rule.portRangeMax', `port ${String(max)} is not 1..65535`);
      if (min > max) refuse('InvalidPortRange', 'rule.portRangeMin', `portRangeMin ${min} is larger than portRangeMax ${max}`);
    }
    if (rule.remoteIpPrefix !== undefined && rule.remoteIpPrefix !== null && typeof rule.remoteIpPrefix !== 'string') refuse('InvalidCidr', 'rule.remoteIpPrefix', 'expected a CIDR');
    let remoteGroupId: string | null = null;
    if (rule.remoteGroupId !== undefined && rule.remoteGroupId !== null) {
      if (rule.remoteIpPrefix !== undefined && rule.remoteIpPrefix !== null) refuse('RemoteGroupAndRemoteIpPrefix', 'rule.remoteGroupId', 'give remoteIpPrefix or remoteGroupId, not both');
      remoteGroupId = this.sgOf(rule.remoteGroupId, 'rule.remoteGroupId', g.tenant).id;
    }
    const out: SgRule = { direction: rule.direction, ethertype };
    if (p !== null) out.protocol = typeof p === 'string' ? p.toLowerCase() : p;
    if (min !== null) { out.portRangeMin = min; out.portRangeMax = max; }
    if (rule.remoteIpPrefix !== undefined && rule.remoteIpPrefix !== null) out.remoteIpPrefix = rule.remoteIpPrefix;
    if (remoteGroupId !== null) out.remoteGroupId = remoteGroupId;
    // the data plane's compiler is the last word on what it can compile
    try {
      // the remote group (checked above) is the only other group a rule can name
      const stubs = remoteGroupId === null || remoteGroupId === g.id ? [] : [{ id: remoteGroupId, rules: [] }];
      SecurityGroups.compileDetailed([], [{ id: g.id, rules: [out] }, ...stubs], { baseFlows: false });
    } catch (e) {
      if (!(e instanceof SdnemuError)) throw e;
      const path = e instanceof CloudError ? e.path : ((e as { path?: string }).path ?? '').replace(/^groups\[0\]\.rules\[0\]/, 'rule');
      throw new CloudError(SG_CODES[e.code] ?? e.code, path, e.message.replace(/^[^:]*: /, ''));
    }
    return out;
  }

  /** Remove rule 'ruleId' from whichever group holds it (SecurityGroupRuleNotFound). */
  removeSecurityGroupRule(ruleId: string): void {
    this.tx(() => {
      const g = typeof ruleId === 'string' ? this.s.securityGroups.get(this.ruleGroup.get(ruleId) ?? '') : undefined;
      if (g !== undefined) { this.s.securityGroups.update(g, { rules: g.rules.filter((r) => r.id !== ruleId) }); this.sgChanged(); return; }
      refuse('SecurityGroupRuleNotFound', 'rule', `security group rule '${ruleId}' could not be found`);
    });
  }

  /** Delete a group no port uses and no other group's rule names (SecurityGroupInUse). */
  deleteSecurityGroup(ref: Ref): void {
    this.tx(() => {
      const g = this.sgOf(ref);
      const ports = this.portsByGroup.get(g.id).size;
      if (ports > 0) refuse('SecurityGroupInUse', 'securityGroup', `security group '${g.name}' is used by ${ports} port(s)`);
      const users = [...this.s.securityGroups.values()].filter((o) => o.id !== g.id && o.rules.some((r) => r.remoteGroupId === g.id));
      if (users.length > 0) refuse('SecurityGroupInUse', 'securityGroup', `rules of ${users.map((u) => `'${u.name}'`).join(', ')} name security group '${g.name}' as remote group`);
      this.s.securityGroups.remove(g.id);
      this.sgChanged();
    });
  }

  /** Every group as the data plane takes it (shared, frozen: unchanged groups are the same objects call after call). */
  private groupsForDataplane(): SecurityGroup[] {
    return [...this.s.securityGroups.values()].map((g) => {
      let out = this.sgCache.get(g.id);
      if (out === undefined) {
        // the ports in the order of the port table, each address once
        const members = new Set<string>();
        for (const p of this.inOrder(this.s.ports, this.portsByGroup.get(g.id))) {
          if (!p.portSecurity) continue;
          for (const ip of p.fixedIps) members.add(ip);
          for (const a of p.allowedAddressPairs) members.add(a.ip);
        }
        out = deepFreeze({ id: g.id, rules: g.rules.map(({ id: _id, ...r }) => r), members: [...members] });
        this.sgCache.set(g.id, out);
      }
      return out;
    });
  }

  // ---- ports -------------------------------------------------------------------------------------------

  /**
   * A port on a subnet: its address 'ip' (checked by ipam.ts) or the lowest
   * free one; MAC 'mac' (unique on the network, MacAddressInUse) or a fresh
   * fa:16:3e one; groups of its tenant (default: the tenant's `default`);
   * allowed address pairs; port security (off: no groups allowed,
   * PortSecurityAndIPRequiredForSecurityGroups).
   */
  createPort(spec: CreatePortSpec): PortRecord {
    return this.tx(() => structuredClone(this.newUserPort(spec, '')));
  }

  private newUserPort(spec: CreatePortSpec, path: string): PortRecord {
    const at = (f: string): string => (path === '' ? f : `${path}.${f}`);
    const sn = this.subnetOf(spec.subnet, at('subnet'));
    const portSecurity = spec.portSecurity ?? true;
    if (typeof portSecurity !== 'boolean') refuse('InvalidInput', at('portSecurity'), 'expected true or false');
    if (!portSecurity && spec.securityGroups !== undefined && spec.securityGroups.length > 0) {
      refuse('PortSecurityAndIPRequiredForSecurityGroups', at('securityGroups'), 'a port without port security takes no security groups');
    }
    const groups = !portSecurity ? [] : spec.securityGroups === undefined ? [this.defaultGroup(sn.tenant).id]
      : spec.securityGroups.map((g, i) => this.sgOf(g, at(`securityGroups[${i}]`), sn.tenant).id);
    const pairs = (spec.allowedAddressPairs ?? []).map((a, i) => {
      const ip = typeof a?.ip === 'string' && a.ip.includes('/') ? cidrText(parseCidr(a.ip, at(`allowedAddressPairs[${i}].ip`))) : ipText(parseIp(a?.ip, at(`allowedAddressPairs[${i}].ip`)));
      return a.mac === undefined ? { ip } : { ip, mac: this.checkMac(a.mac, at(`allowedAddressPairs[${i}].mac`)) };
    });
    if (pairs.length > 0 && !portSecurity) refuse('AddressPairAndPortSecurityRequired', at('allowedAddressPairs'), 'allowed address pairs need port security');
    const p = this.newPort(sn, spec.ip ?? null, spec.mac ?? null, '', null, at);
    const name = spec.name === undefined ? '' : checkName(spec.name, at('name'));
    this.sgChanged();
    return this.s.ports.update(p, { name, securityGroups: groups, allowedAddressPairs: pairs, portSecurity });
  }

  private checkMac(mac: unknown, path: string): string {
    if (typeof mac !== 'string' || !/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(mac)) refuse('InvalidInput', path, `'${String(mac)}' is not a MAC address`);
    if ((parseInt(mac.slice(0, 2), 16) & 1) === 1) refuse('InvalidInput', path, `${mac} is a multicast MAC`);
    return mac.toLowerCase();
  }

  /** A port on subnet 'sn' (null: the external network), owned by 'deviceOwner' 'deviceId'; trusted unless the caller sets otherwise. */
  private newPort(sn: SubnetRecord | null, ip: string | null, mac: string | null, deviceOwner: DeviceOwner | '', deviceId: string | null, at: (f: string) => string): PortRecord {
    if (sn === null && this.s.external === null) refuse('ExternalNetworkNotFound', at('external'), 'the cloud has no external network (setExternalNetwork)');
    const networkId = sn === null ? EXTERNAL_NETWORK_ID : sn.vpcId;
    let m: string;
    if (mac !== null) {
      m = this.checkMac(mac, at('mac'));
      for (const o of this.inOrder(this.s.ports, this.portsByMac.get(m))) if (o.networkId === networkId) refuse('MacAddressInUse', at('mac'), `${m} is used by port ${o.id} on the network`);
    } else m = this.newMac();
    const id = this.uuid();
    const ipam = sn === null ? this.s.external!.ipam : this.s.ipam.get(sn.id)!;
    const addr = this.alloc(ipam, id, ip === null ? null : parseIp(ip, at('ip')), at('ip'));
    return this.s.ports.put({
      id, name: '', tenant: sn?.tenant ?? '', networkId, subnetId: sn?.id ?? null, vni: sn === null ? 0 : this.s.vpcs.get(sn.vpcId)!.vni,
      mac: m, fixedIps: [ipText(addr)], allowedAddressPairs: [], securityGroups: [], portSecurity: false, deviceOwner, deviceId,
    });
  }

  /** Delete an unbound user port (PortInUse if a VM, router or NAT gateway owns it); its floating IP is disassociated. */
  deletePort(ref: Ref): void {
    this.tx(() => {
      const p = this.portOf(ref);
      if (p.deviceId !== null) refuse('PortInUse', 'port', `port ${p.id} is used by ${p.deviceOwner} ${p.deviceId}`);
      this.dropPort(p);
    });
  }

  private dropPort(p: PortRecord): void {
    for (const f of this.inOrder(this.s.floatingIps, this.fipsByPort.get(p.id))) {
      if (f.routerId !== null) this.routerChanged(f.routerId);
      this.s.floatingIps.update(f, { portId: null, fixedIp: null, routerId: null });
    }
    const ipam = this.ipamOf(p);
    for (const ip of p.fixedIps) this.release(ipam, parseIp(ip, 'ip'));
    this.s.ports.remove(p.id);
    if (p.securityGroups.length > 0) this.sgChanged();
  }

  private portInfo(p: PortRecord): PortInfo {
    return {
      id: p.id, segment: { networkId: p.networkId, vni: p.vni }, mac: p.mac, fixedIps: [...p.fixedIps],
      allowedAddressPairs: p.allowedAddressPairs.map((a) => ({ ...a })), securityGroups: p.portSecurity ? [...p.securityGroups] : [],
      portSecurity: p.portSecurity, deviceOwner: p.deviceOwner === '' ? 'compute:nova' : p.deviceOwner,
    };
  }

  /** the port's first address with the prefix length of its subnet (or of the external network) */
  private portCidr(p: PortRecord): string {
    const len = p.subnetId === null ? this.s.external!.ipam.cidr.len : this.s.ipam.get(p.subnetId)!.cidr.len;
    return `${p.fixedIps[0]}/${len}`;
  }

  // ---- VMs ---------------------------------------------------------------------------------------------

  /** A server group with policy 'affinity' or 'anti-affinity' (members join with createVm's serverGroup). */
  createServerGroup(spec: { name: string; policy: ServerGroupPolicy }): ServerGroupRecord {
    return this.tx(() => {
      const name = checkName(spec.name, 'name');
      this.uniqueName(this.s.serverGroups, name, 'server group', 'name');
      if (spec.policy !== 'affinity' && spec.policy !== 'anti-affinity') refuse('InvalidInput', 'policy', `'${String(spec.policy)}' is not affinity or anti-affinity`);
      const g = this.s.serverGroups.put({ id: this.uuid(), name, policy: spec.policy, members: [] });
      return structuredClone(g);
    });
  }

  /** Delete a server group (its members stay, unconstrained). */
  deleteServerGroup(ref: Ref): void {
    this.tx(() => {
      const g = this.serverGroupOf(ref);
      // its members are exactly the VMs that name it (deleteVm leaves the group)
      for (const id of g.members) { const vm = this.s.vms.get(id); if (vm?.serverGroup === g.id) this.s.vms.update(vm, { serverGroup: null }); }
      this.s.serverGroups.remove(g.id);
    });
  }

  private hostStates(): HostState[] {
    return [...this.s.hypervisors.values()].map((h) => {
      const use = this.hostUse.get(h.name);
      return { name: h.name, az: h.az, up: h.up, vcpus: h.vcpus, ramMb: h.ramMb, usedVcpus: use?.vcpus ?? 0, usedRamMb: use?.ramMb ?? 0 };
    });
  }

  private request(flavor: Flavor, az: string | null, group: ServerGroupRecord | null, self: string | null): ScheduleRequest {
    const req: ScheduleRequest = { vcpus: flavor.vcpus, ramMb: flavor.ramMb };
    if (az !== null) req.az = az;
    if (group !== null) {
      const memberHosts = group.members.filter((id) => id !== self).map((id) => this.s.vms.get(id)?.hypervisor ?? null).filter((h): h is string => h !== null);
      req.group = { name: group.name, policy: group.policy, memberHosts };
    }
    return req;
  }

  /** The scheduler's choice; its explanation (Nova's NoValidHost message) is worked out only when there is none. */
  private place(hosts: HostState[], req: ScheduleRequest): { host: string; why?: undefined } | { host: null; why: string } {
    const host = chooseHost(hosts, req, this.placementConfig);
    return host !== null ? { host } : { host: null, why: noValidHostMessage(schedule(hosts, req, this.placementConfig)) };
  }

  private scheduleFor(vm: VmRecord, extra: Partial<ScheduleRequest>): ReturnType<Cloud['place']> {
    const group = vm.serverGroup === null ? null : this.s.serverGroups.get(vm.serverGroup) ?? null;
    const hosts = this.hostStates().map((h) => (h.name === vm.hypervisor ? { ...h, usedVcpus: h.usedVcpus - vm.flavor.vcpus, usedRamMb: h.usedRamMb - vm.flavor.ramMb } : h));
    return this.place(hosts, { ...this.request(vm.flavor, vm.az, group, vm.id), ...extra });
  }

  /** What the scheduler would decide for a VM of 'flavor' (in zone 'az', in server group 'serverGroup'), host by host. */
  explain(spec: { flavor: string | Flavor; az?: string; serverGroup?: Ref }): ScheduleResult {
    const flavor = this.checkFlavor(spec.flavor, 'flavor');
    const group = spec.serverGroup === undefined ? null : this.serverGroupOf(spec.serverGroup);
    return schedule(this.hostStates(), this.request(flavor, spec.az ?? null, group, null), this.placementConfig);
  }

  /**
   * Boot a VM: resolve the flavor, pick a host (NoValidHost, naming the
   * filters, when none fits — or, with ifNoHost: 'error', a VM in ERROR
   * with that fault and no ports, the data plane not told), attach 'ports' (unbound ports of one tenant:
   * PortInUse) and a new port on each of 'subnets' (with 'securityGroups'
   * or the default group), join 'serverGroup'; the data plane is told to
   * start it. The VM is ACTIVE when the call returns.
   */
  createVm(spec: CreateVmSpec): VmRecord {
    return this.tx(() => {
      const name = checkName(spec.name, 'name');
      this.uniqueName(this.s.vms, name, 'VM', 'name');
      const flavor = this.checkFlavor(spec.flavor, 'flavor');
      if (typeof spec.image !== 'string' || spec.image === '') refuse('InvalidInput', 'image', 'expected an image name');
      if (spec.az !== undefined && ![...this.s.hypervisors.values()].some((h) => h.az === spec.az)) refuse('InvalidInput', 'az', `no availability zone '${String(spec.az)}'`);
      const group = spec.serverGroup === undefined ? null : this.serverGroupOf(spec.serverGroup);
      const id = this.uuid();
      const vm: VmRecord = {
        id, name, tenant: '', flavor, image: spec.image, status: 'BUILD', hypervisor: null, az: spec.az ?? null,
        ports: [], ownPorts: [], serverGroup: group?.id ?? null, fault: null,
      };
      const r = this.place(this.hostStates(), this.request(flavor, vm.az, group, null));
      if (r.host === null) {
        if (spec.ifNoHost !== 'error') refuse('NoValidHost', 'flavor', r.why);
        // Nova's way: the server exists, in ERROR with the fault; its network was never allocated
        vm.status = 'ERROR';
        vm.fault = { code: 'NoValidHost', message: r.why };
        if (group !== null) this.s.serverGroups.update(group, { members: [...group.members, id] });
        this.s.vms.put(vm);
        return structuredClone(vm);
      }
      (spec.ports ?? []).forEach((ref, i) => {
        const p = this.portOf(ref, `ports[${i}]`);
        if (p.deviceId !== null || p.subnetId === null) refuse('PortInUse', `ports[${i}]`, `port ${p.id} is used by ${p.deviceOwner || 'the external network'} ${p.deviceId ?? ''}`.trim());
        if (vm.ports.includes(p.id)) refuse('PortInUse', `ports[${i}]`, `port ${p.id} is given twice`);
        this.s.ports.update(p, { deviceId: id, deviceOwner: 'compute:nova' });
        vm.ports.push(p.id);
      });
      (spec.subnets ?? []).forEach((ref, i) => {
        const portSpec: CreatePortSpec = { subnet: ref };
        if (spec.securityGroups !== undefined) portSpec.securityGroups = spec.securityGroups;
        const p = this.newUserPort(portSpec, `subnets[${i}]`);
        this.s.ports.update(p, { deviceId: id, deviceOwner: 'compute:nova' });
        vm.ports.push(p.id);
        vm.ownPorts.push(p.id);
      });
      const tenants = new Set(vm.ports.map((p) => this.s.ports.get(p)!.tenant));
      if (tenants.size > 1) refuse('InvalidInput', 'ports', `the ports belong to several tenants (${[...tenants].join(', ')})`);
      vm.tenant = [...tenants][0] ?? '';
      vm.hypervisor = r.host;
      vm.status = 'ACTIVE';
      if (group !== null) this.s.serverGroups.update(group, { members: [...group.members, id] });
      this.s.vms.put(vm);
      const boot = this.vmBoot(vm);
      this.call((dp) => dp.startVm(boot));
      return structuredClone(vm);
    });
  }

  private vmBoot(vm: VmRecord): VmBoot {
    return {
      id: vm.id, name: vm.name, hypervisor: vm.hypervisor!,
      nics: vm.ports.map((pid) => {
        const p = this.s.ports.get(pid)!;
        const sn = this.s.subnets.get(p.subnetId!)!;
        const nic: VmBoot['nics'][number] = { port: this.portInfo(p), cidr: this.portCidr(p), hostRoutes: sn.hostRoutes.map((h) => ({ ...h })) };
        if (sn.gateway !== null) nic.gateway = sn.gateway;
        return nic;
      }),
    };
  }

  /** SHUTOFF → ACTIVE (InstanceInvalidState otherwise). */
  startVm(ref: Ref): void {
    this.tx(() => {
      const vm = this.vmOf(ref);
      if (vm.status !== 'SHUTOFF') refuse('InstanceInvalidState', 'vm', `VM '${vm.name}' is ${vm.status}, not SHUTOFF`);
      this.hostUp(vm, 'start');
      const boot = this.vmBoot(this.s.vms.update(vm, { status: 'ACTIVE' }));
      this.call((dp) => dp.startVm(boot));
    });
  }

  /** ACTIVE → SHUTOFF (it keeps its host, resources and ports). */
  stopVm(ref: Ref): void {
    this.tx(() => {
      const vm = this.vmOf(ref);
      if (vm.status !== 'ACTIVE') refuse('InstanceInvalidState', 'vm', `VM '${vm.name}' is ${vm.status}, not ACTIVE`);
      this.hostUp(vm, 'stop');
      this.s.vms.update(vm, { status: 'SHUTOFF' });
      this.call((dp) => dp.stopVm(vm.id));
    });
  }

  /** Delete a VM in any state: its own ports are deleted (addresses released), ports given at boot are detached. */
  deleteVm(ref: Ref): void {
    this.tx(() => {
      const vm = this.vmOf(ref);
      if (vm.status === 'ACTIVE') this.call((dp) => dp.stopVm(vm.id));
      for (const pid of vm.ports) {
        const p = this.s.ports.get(pid)!;
        if (vm.ownPorts.includes(pid)) this.dropPort(p);
        else this.s.ports.update(p, { deviceId: null, deviceOwner: '' });
      }
      // only its own group lists it (deleteServerGroup clears the members' serverGroup)
      const g = vm.serverGroup === null ? undefined : this.s.serverGroups.get(vm.serverGroup);
      if (g !== undefined) this.s.serverGroups.update(g, { members: g.members.filter((m) => m !== vm.id) });
      this.s.vms.remove(vm.id);
    });
  }

  /**
   * Live-migrate an ACTIVE VM (InstanceInvalidState otherwise) to 'to', or
   * to the host the scheduler picks among the others; the target must pass
   * every filter (NoValidHost otherwise). Ports, MACs and addresses stay.
   */
  migrateVm(ref: Ref, to?: string): { from: string; to: string } {
    return this.tx(() => {
      const vm = this.vmOf(ref);
      if (vm.status !== 'ACTIVE') refuse('InstanceInvalidState', 'vm', `VM '${vm.name}' is ${vm.status}: live migration needs ACTIVE`);
      this.hostUp(vm, 'live migration');
      const from = vm.hypervisor!;
      const extra: Partial<ScheduleRequest> = { ignoreHosts: [from] };
      if (to !== undefined) {
        const h = this.hypervisorOf(to, 'to');
        if (h.name === from) refuse('InvalidInput', 'to', `VM '${vm.name}' already runs on '${from}'`);
        extra.onlyHost = h.name;
      }
      const r = this.scheduleFor(vm, extra);
      if (r.host === null) refuse('NoValidHost', to === undefined ? 'vm' : 'to', r.why);
      const boot = this.vmBoot(this.s.vms.update(vm, { hypervisor: r.host }));
      const target = r.host;
      this.call((dp) => dp.migrateVm(boot, from, target));
      return { from, to: target };
    });
  }

  // ---- external network, routers -----------------------------------------------------------------------

  /** Set (or replace, while nothing uses it) the provider network: its CIDR, upstream gateway, pools. */
  setExternalNetwork(spec: ExternalNetworkSpec): void {
    this.tx(() => {
      if (this.s.external !== null && this.s.external.ipam.allocated.size > 0) refuse('ExternalNetworkInUse', 'external', 'router gateways, floating IPs or NAT gateways use the external network');
      const cidr = parseCidr(spec.cidr, 'external.cidr');
      if (cidr.len > 30) refuse('InvalidInput', 'external.cidr', 'the external network needs at least a /30');
      const gw = parseIp(spec.gateway, 'external.gateway');
      if (!contains(cidr, gw)) refuse('InvalidInput', 'external.gateway', `${spec.gateway} is not in ${cidrText(cidr)}`);
      const pools = spec.allocationPools?.map((p, i): [number, number] => [parseIp(p.start, `external.allocationPools[${i}].start`), parseIp(p.end, `external.allocationPools[${i}].end`)]);
      const before = this.s.external;
      this.s.external = { cidr: cidrText(cidr), gateway: ipText(gw), ipam: newSubnetIpam(cidr, gw, pools, 'external') };
      this.j.record(() => { this.s.external = before; });
    });
  }

  /** A router of 'tenant'; with 'externalGateway' it gets a port on the external network (SNAT on unless snat: false). */
  createRouter(spec: { name: string; tenant: string; externalGateway?: { snat?: boolean } }): RouterRecord {
    return this.tx(() => {
      const name = checkName(spec.name, 'name');
      this.uniqueName(this.s.routers, name, 'router', 'name');
      let r = this.s.routers.put({ id: this.uuid(), name, tenant: checkName(spec.tenant, 'tenant'), gateway: null, interfaces: [], routes: [] });
      if (spec.externalGateway !== undefined) r = this.attachGateway(r, spec.externalGateway, 'externalGateway');
      this.routerChanged(r.id);
      return structuredClone(r);
    });
  }

  private attachGateway(r: RouterRecord, g: { snat?: boolean }, path: string): RouterRecord {
    const snat = g.snat ?? true;
    if (typeof snat !== 'boolean') refuse('InvalidInput', `${path}.snat`, 'expected true or false');
    const p = this.newPort(null, null, null, 'network:router_gateway', r.id, (f) => `${path}.${f}`);
    this.s.ports.update(p, { tenant: r.tenant });
    return this.s.routers.update(r, { gateway: { portId: p.id, snat } });
  }

  /** Set (or replace) the router's external gateway. */
  setRouterGateway(router: Ref, g: { snat?: boolean } = {}): void {
    this.tx(() => {
      const r = this.routerOf(router);
      if (r.gateway !== null) this.dropPort(this.s.ports.get(r.gateway.portId)!);
      this.attachGateway(r, g, 'externalGateway');
      this.routerChanged(r.id);
    });
  }

  /** Remove the external gateway (RouterExternalGatewayInUseByFloatingIp while floating IPs go through it). */
  clearRouterGateway(router: Ref): void {
    this.tx(() => {
      const r = this.routerOf(router);
      if (r.gateway === null) return;
      const fips = this.inOrder(this.s.floatingIps, this.fipsByRouter.get(r.id));
      if (fips.length > 0) refuse('RouterExternalGatewayInUseByFloatingIp', 'router', `floating IPs ${fips.map((f) => f.ip).join(', ')} use router '${r.name}'`);
      this.dropPort(this.s.ports.get(r.gateway.portId)!);
      this.s.routers.update(r, { gateway: null });
      this.routerChanged(r.id);
    });
  }

  /**
   * Attach 'subnet' (of the router's tenant): the subnet's gateway address
   * becomes the router's port. Refused: a subnet without gateway
   * (SubnetHasNoGateway), already on a router (SubnetAlreadyAttached), or
   * overlapping a subnet already on this router (RouterInterfaceOverlap).
   */
  addRouterInterface(router: Ref, subnet: Ref): void {
    this.tx(() => {
      const r = this.routerOf(router);
      const sn = this.subnetOf(subnet);
      if (sn.tenant !== r.tenant) refuse('SubnetNotFound', 'subnet', `subnet '${sn.name}' is not a subnet of tenant '${r.tenant}'`);
      if (sn.gateway === null) refuse('SubnetHasNoGateway', 'subnet', `subnet '${sn.name}' has no gateway address`);
      if (sn.routerId !== null) refuse('SubnetAlreadyAttached', 'subnet', `subnet '${sn.name}' is attached to router '${this.s.routers.get(sn.routerId)!.name}'`);
      for (const i of r.interfaces) {
        const o = this.s.subnets.get(i.subnetId)!;
        if (overlaps(parseCidr(o.cidr, 'cidr'), parseCidr(sn.cidr, 'cidr'))) refuse('RouterInterfaceOverlap', 'subnet', `${sn.cidr} of '${sn.name}' overlaps ${o.cidr} of '${o.name}' on router '${r.name}'`);
      }
      const ipam = this.s.ipam.get(sn.id)!;
      const gw = parseIp(sn.gateway, 'gateway');
      // the gateway is reserved for exactly this port: lift the reservation while it is held
      const reserved = ipam.reserved;
      this.setReserved(ipam, reserved.filter((a) => a !== gw));
      const p = this.newPort(sn, sn.gateway, null, 'network:router_interface', r.id, (f) => `subnet.${f}`);
      this.setReserved(ipam, [...ipam.reserved, gw]);
      this.s.subnets.update(sn, { routerId: r.id });
      this.s.routers.update(r, { interfaces: [...r.interfaces, { subnetId: sn.id, portId: p.id }] });
      this.routerChanged(r.id);
    });
  }

  /**
   * Detach 'subnet'. Refused while a floating IP of a port on it goes
   * through the router (RouterInterfaceInUseByFloatingIP) or a route's next
   * hop is on it (RouterInterfaceInUseByRoute).
   */
  removeRouterInterface(router: Ref, subnet: Ref): void {
    this.tx(() => {
      const r = this.routerOf(router);
      const sn = this.subnetOf(subnet);
      const i = r.interfaces.findIndex((x) => x.subnetId === sn.id);
      if (i < 0) refuse('RouterInterfaceNotFound', 'subnet', `subnet '${sn.name}' is not attached to router '${r.name}'`);
      const fip = this.inOrder(this.s.floatingIps, this.fipsByRouter.get(r.id)).find((f) => this.s.ports.get(f.portId ?? '')?.subnetId === sn.id);
      if (fip !== undefined) refuse('RouterInterfaceInUseByFloatingIP', 'subnet', `floating IP ${fip.ip} reaches subnet '${sn.name}' through router '${r.name}'`);
      const cidr = parseCidr(sn.cidr, 'cidr');
      const route = r.routes.find((x) => contains(cidr, parseIp(x.nexthop, 'nexthop')));
      if (route !== undefined) refuse('RouterInterfaceInUseByRoute', 'subnet', `route ${route.destination} via ${route.nexthop} uses subnet '${sn.name}'`);
      const port = this.s.ports.get(r.interfaces[i]!.portId)!;
      const ipam = this.s.ipam.get(sn.id)!;
      this.dropPort(port);
      if (sn.gateway !== null && !ipam.reserved.includes(parseIp(sn.gateway, 'gateway'))) this.setReserved(ipam, [...ipam.reserved, parseIp(sn.gateway, 'gateway')]);
      this.s.routers.update(r, { interfaces: r.interfaces.filter((_, k) => k !== i) });
      this.s.subnets.update(sn, { routerId: null });
      this.routerChanged(r.id);
    });
  }

  /** An extra route; its next hop must be on a subnet attached to the router or on the external network (InvalidRoutes). */
  addRoute(router: Ref, route: HostRoute): void {
    this.tx(() => {
      const r = this.routerOf(router);
      const destination = cidrText(parseCidr(route?.destination, 'route.destination'));
      const nh = parseIp(route?.nexthop, 'route.nexthop');
      const nets: Cidr[] = r.interfaces.map((i) => parseCidr(this.s.subnets.get(i.subnetId)!.cidr, 'cidr'));
      if (r.gateway !== null) nets.push(this.s.external!.ipam.cidr);
      if (!nets.some((c) => contains(c, nh))) refuse('InvalidRoutes', 'route.nexthop', `the next hop ${ipText(nh)} is not on a network of router '${r.name}'`);
      if (r.routes.some((x) => x.destination === destination && x.nexthop === ipText(nh))) refuse('InvalidRoutes', 'route', 'the router has this route');
      this.s.routers.update(r, { routes: [...r.routes, { destination, nexthop: ipText(nh) }] });
      this.routerChanged(r.id);
    });
  }

  removeRoute(router: Ref, route: HostRoute): void {
    this.tx(() => {
      const r = this.routerOf(router);
      const i = r.routes.findIndex((x) => x.destination === route.destination && x.nexthop === route.nexthop);
      if (i < 0) refuse('InvalidRoutes', 'route', 'the router has no such route');
      this.s.routers.update(r, { routes: r.routes.filter((_, k) => k !== i) });
      this.routerChanged(r.id);
    });
  }

  /** Delete a router without interfaces (RouterInUse); its gateway port goes with it. */
  deleteRouter(ref: Ref): void {
    this.tx(() => {
      const r = this.routerOf(ref);
      if (r.interfaces.length > 0) refuse('RouterInUse', 'router', `router '${r.name}' still has ${r.interfaces.length} interface(s)`);
      if (r.gateway !== null) this.dropPort(this.s.ports.get(r.gateway.portId)!);
      this.s.routers.remove(r.id);
      this.outbox.push({ kind: 'routerDeleted', id: r.id });
    });
  }

  private routerInfo(r: RouterRecord): RouterInfo {
    const info: RouterInfo = {
      id: r.id,
      interfaces: r.interfaces.map((i) => { const p = this.s.ports.get(i.portId)!; return { port: this.portInfo(p), cidr: this.portCidr(p) }; }),
      routes: r.routes.map((x) => ({ ...x })),
      floatingIps: this.inOrder(this.s.floatingIps, this.fipsByRouter.get(r.id)).map((f) => ({ floatingIp: f.ip, fixedIp: f.fixedIp! })),
    };
    if (r.gateway !== null) {
      const p = this.s.ports.get(r.gateway.portId)!;
      info.gateway = { port: this.portInfo(p), cidr: this.portCidr(p), nexthop: this.s.external!.gateway, snat: r.gateway.snat };
    }
    return info;
  }

  // ---- floating IPs and NAT gateways ---------------------------------------------------------------------

  /**
   * Allocate a floating IP of the external network ('ip' if given and
   * free) for 'tenant' (absent: the tenant of the first port it is
   * associated with).
   */
  createFloatingIp(spec: { tenant?: string; ip?: string; name?: string } = {}): FloatingIpRecord {
    return this.tx(() => structuredClone(this.newFip(spec, '')));
  }

  private newFip(spec: { tenant?: string; ip?: string; name?: string }, path: string): FloatingIpRecord {
    const at = (f: string): string => (path === '' ? f : `${path}.${f}`);
    if (this.s.external === null) refuse('ExternalNetworkNotFound', at('ip'), 'the cloud has no external network (setExternalNetwork)');
    const tenant = spec.tenant === undefined ? '' : checkName(spec.tenant, at('tenant'));
    const name = spec.name === undefined ? '' : checkName(spec.name, at('name'));
    if (name !== '') this.uniqueName(this.s.floatingIps, name, 'floating IP', at('name'));
    const id = this.uuid();
    const addr = this.alloc(this.s.external.ipam, id, spec.ip === undefined ? null : parseIp(spec.ip, at('ip')), at('ip'));
    return this.s.floatingIps.put({ id, name, tenant, ip: ipText(addr), portId: null, fixedIp: null, routerId: null, natGatewayId: null });
  }

  /**
   * 1:1 NAT of floating IP 'fip' to the first fixed IP of 'port' (a VM or
   * user port of the same tenant) on the router of the port's subnet.
   * Refused: the floating IP is associated (FloatingIpAlreadyAssociated) or
   * an elastic IP of a NAT gateway; the port has one
   * (FloatingIPPortAlreadyAssociated); no router with an external gateway
   * serves the port's subnet (ExternalGatewayForFloatingIPNotFound).
   */
  associateFloatingIp(fip: Ref, port: Ref): void {
    this.tx(() => {
      const f = this.fipOf(fip);
      const p = this.portOf(port);
      if (f.portId !== null || f.natGatewayId !== null) refuse('FloatingIpAlreadyAssociated', 'floatingIp', `floating IP ${f.ip} is associated with ${f.portId ?? `NAT gateway ${f.natGatewayId}`}`);
      if (f.tenant !== '' && p.tenant !== f.tenant) refuse('PortNotFound', 'port', `port ${p.id} is not a port of tenant '${f.tenant}'`);
      if (p.subnetId === null || (p.deviceOwner !== '' && p.deviceOwner !== 'compute:nova')) refuse('InvalidInput', 'port', `port ${p.id} is a ${p.deviceOwner} port`);
      const other = this.inOrder(this.s.floatingIps, this.fipsByPort.get(p.id))[0];
      if (other !== undefined) refuse('FloatingIPPortAlreadyAssociated', 'port', `port ${p.id} has floating IP ${other.ip}`);
      const sn = this.s.subnets.get(p.subnetId)!;
      const r = sn.routerId === null ? null : this.s.routers.get(sn.routerId)!;
      if (r === null || r.gateway === null) refuse('ExternalGatewayForFloatingIPNotFound', 'port', `no router with an external gateway serves subnet '${sn.name}'`);
      this.s.floatingIps.update(f, { portId: p.id, tenant: p.tenant, fixedIp: p.fixedIps[0]!, routerId: r.id });
      this.routerChanged(r.id);
    });
  }

  disassociateFloatingIp(fip: Ref): void {
    this.tx(() => {
      const f = this.fipOf(fip);
      if (f.portId === null) refuse('FloatingIpNotAssociated', 'floatingIp', `floating IP ${f.ip} is not associated`);
      this.routerChanged(f.routerId!);
      this.s.floatingIps.update(f, { portId: null, fixedIp: null, routerId: null });
    });
  }

  /** Give the floating IP back (disassociated first; FloatingIpInUse while it is a NAT gateway's elastic IP). */
  releaseFloatingIp(fip: Ref): void {
    this.tx(() => {
      const f = this.fipOf(fip);
      if (f.natGatewayId !== null) refuse('FloatingIpInUse', 'floatingIp', `floating IP ${f.ip} is the elastic IP of a NAT gateway`);
      if (f.routerId !== null) this.routerChanged(f.routerId);
      this.release(this.s.external!.ipam, parseIp(f.ip, 'ip'));
      this.s.floatingIps.remove(f.id);
    });
  }

  /**
   * A NAT gateway in 'subnet' of 'vpc' (InvalidInput if the subnet is in
   * another VPC): a port in the subnet and an elastic IP — 'elasticIp' (a
   * free floating IP of the tenant) or a new one, released with the gateway.
   */
  createNatGateway(spec: { vpc: Ref; subnet: Ref; name?: string; elasticIp?: Ref }): NatGatewayRecord {
    return this.tx(() => {
      const vpc = this.vpcOf(spec.vpc);
      const sn = this.subnetOf(spec.subnet);
      if (sn.vpcId !== vpc.id) refuse('InvalidInput', 'subnet', `subnet '${sn.name}' is not in VPC '${vpc.name}'`);
      const name = spec.name === undefined ? `nat-${vpc.name}` : checkName(spec.name, 'name');
      this.uniqueName(this.s.natGateways, name, 'NAT gateway', 'name');
      if (this.s.external === null) refuse('ExternalNetworkNotFound', 'elasticIp', 'the cloud has no external network (setExternalNetwork)');
      let fip: FloatingIpRecord;
      let own = false;
      if (spec.elasticIp !== undefined) {
        fip = this.fipOf(spec.elasticIp, 'elasticIp');
        if (fip.tenant !== vpc.tenant) refuse('FloatingIPNotFound', 'elasticIp', `floating IP ${fip.ip} is not of tenant '${vpc.tenant}'`);
        if (fip.portId !== null || fip.natGatewayId !== null) refuse('FloatingIpAlreadyAssociated', 'elasticIp', `floating IP ${fip.ip} is in use`);
      } else {
        fip = this.newFip({ tenant: vpc.tenant }, 'elasticIp');
        own = true;
      }
      const id = this.uuid();
      // in a subnet no router serves, the NAT gateway is the subnet's gateway (its VMs' default route
      // leads to it, as a private subnet's route table points 0.0.0.0/0 at an AWS NAT gateway)
      const ipam = this.s.ipam.get(sn.id)!;
      const gw = sn.gateway === null ? null : parseIp(sn.gateway, 'gateway');
      const takeGateway = gw !== null && sn.routerId === null && !this.natHoldsGateway(sn);
      if (takeGateway) this.setReserved(ipam, ipam.reserved.filter((a) => a !== gw));
      const inside = this.newPort(sn, takeGateway ? sn.gateway : null, null, 'network:nat_gateway', id, (f) => `subnet.${f}`);
      if (takeGateway) this.setReserved(ipam, [...ipam.reserved, gw]);
      // the outside port holds the elastic IP itself: the floating IP record keeps the allocation
      const outside = this.newPortOnAddress(fip, id);
      const g = this.s.natGateways.put({
        id, name, tenant: vpc.tenant, vpcId: vpc.id, subnetId: sn.id, insidePortId: inside.id, outsidePortId: outside.id,
        floatingIpId: fip.id, ownFloatingIp: own,
      });
      this.s.floatingIps.update(fip, { natGatewayId: id });
      this.natChanged(id);
      return structuredClone(g);
    });
  }

  /** Does a NAT gateway hold subnet 'sn''s gateway address? */
  private natHoldsGateway(sn: SubnetRecord): boolean {
    for (const g of this.s.natGateways.values()) {
      if (g.subnetId === sn.id && this.s.ports.get(g.insidePortId)!.fixedIps[0] === sn.gateway) return true;
    }
    return false;
  }

  /** The external port of a NAT gateway, on the floating IP's address (allocated to the floating IP, not to the port). */
  private newPortOnAddress(f: FloatingIpRecord, deviceId: string): PortRecord {
    return this.s.ports.put({
      id: this.uuid(), name: '', tenant: f.tenant, networkId: EXTERNAL_NETWORK_ID, subnetId: null, vni: 0, mac: this.newMac(),
      fixedIps: [f.ip], allowedAddressPairs: [], securityGroups: [], portSecurity: false, deviceOwner: 'network:nat_gateway', deviceId,
    });
  }

  deleteNatGateway(ref: Ref): void {
    this.tx(() => {
      const g = this.natOf(ref);
      this.dropPort(this.s.ports.get(g.insidePortId)!);
      const sn = this.s.subnets.get(g.subnetId)!, ipam = this.s.ipam.get(sn.id)!;
      if (sn.gateway !== null && !ipam.reserved.includes(parseIp(sn.gateway, 'gateway'))) this.setReserved(ipam, [...ipam.reserved, parseIp(sn.gateway, 'gateway')]);
      this.s.ports.remove(g.outsidePortId);
      const f = this.s.floatingIps.get(g.floatingIpId)!;
      if (g.ownFloatingIp) { this.release(this.s.external!.ipam, parseIp(f.ip, 'ip')); this.s.floatingIps.remove(f.id); }
      else this.s.floatingIps.update(f, { natGatewayId: null });
      this.s.natGateways.remove(g.id);
      this.outbox.push({ kind: 'natDeleted', id: g.id });
    });
  }

  private natInfo(g: NatGatewayRecord): NatGatewayInfo {
    const inside = this.s.ports.get(g.insidePortId)!, outside = this.s.ports.get(g.outsidePortId)!;
    return {
      id: g.id,
      inside: { port: this.portInfo(inside), cidr: this.portCidr(inside) },
      outside: { port: this.portInfo(outside), cidr: `${outside.fixedIps[0]}/${this.s.external!.ipam.cidr.len}`, nexthop: this.s.external!.gateway },
      sources: [this.s.vpcs.get(g.vpcId)!.cidr],
    };
  }

  // ---- read API ----------------------------------------------------------------------------------------

  vpcs(): VpcRecord[] { return structuredClone([...this.s.vpcs.values()]); }
  subnets(): SubnetRecord[] { return structuredClone([...this.s.subnets.values()]); }
  hypervisors(): HypervisorRecord[] { return structuredClone([...this.s.hypervisors.values()]); }
  securityGroups(): SecurityGroupRecord[] { return structuredClone([...this.s.securityGroups.values()]); }
  routers(): RouterRecord[] { return structuredClone([...this.s.routers.values()]); }
  floatingIps(): FloatingIpRecord[] { return structuredClone([...this.s.floatingIps.values()]); }
  natGateways(): NatGatewayRecord[] { return structuredClone([...this.s.natGateways.values()]); }
  vms(): VmRecord[] { return structuredClone([...this.s.vms.values()]); }
  port(ref: Ref): PortRecord { return structuredClone(this.portOf(ref)); }
  subnet(ref: Ref): SubnetRecord { return structuredClone(this.subnetOf(ref)); }
  router(ref: Ref): RouterRecord { return structuredClone(this.routerOf(ref)); }
  /** A security group by id, or by name (within 'tenant' if given). */
  securityGroup(ref: Ref, tenant?: string): SecurityGroupRecord { return structuredClone(this.sgOf(ref, 'securityGroup', tenant)); }

  /** A VM: its status, hypervisor, fault, and its ports in full. */
  vm(ref: Ref): VmRecord & { portDetails: PortRecord[] } {
    const vm = this.vmOf(ref);
    return structuredClone({ ...vm, portDetails: vm.ports.map((p) => this.s.ports.get(p)!) });
  }

  /** What the data plane would be told about a router, a VM, the groups (for tests and the integrator). */
  routerInfoOf(ref: Ref): RouterInfo { return this.routerInfo(this.routerOf(ref)); }
  vmBootOf(ref: Ref): VmBoot { return this.vmBoot(this.vmOf(ref)); }
  natGatewayInfoOf(ref: Ref): NatGatewayInfo { return this.natInfo(this.natOf(ref)); }
  securityGroupsForDataplane(): SecurityGroup[] { return structuredClone(this.groupsForDataplane()); }

  /** The whole cloud as JSON-able data (deep copies). */
  describe(): CloudSnapshot {
    const s = this.s;
    return structuredClone({
      external: s.external === null ? null : { cidr: s.external.cidr, gateway: s.external.gateway },
      vniRange: [s.vni.min, s.vni.max] as [number, number],
      hypervisors: [...s.hypervisors.values()],
      vpcs: [...s.vpcs.values()],
      subnets: [...s.subnets.values()].map((sn) => ({
        ...sn, allocated: [...s.ipam.get(sn.id)!.allocated].sort((a, b) => a[0] - b[0]).map(([ip, owner]) => ({ ip: ipText(ip), owner })),
      })),
      securityGroups: [...s.securityGroups.values()],
      ports: [...s.ports.values()],
      vms: [...s.vms.values()],
      serverGroups: [...s.serverGroups.values()],
      routers: [...s.routers.values()],
      floatingIps: [...s.floatingIps.values()],
      natGateways: [...s.natGateways.values()],
    });
  }
}

/** the fields that make two rules the same rule (Neutron's duplicate check) */
function ruleKey(r: SgRule): unknown[] {
  return [r.direction, r.ethertype ?? 'IPv4', r.protocol ?? null, r.portRangeMin ?? null, r.portRangeMax ?? null, r.remoteIpPrefix ?? null, r.remoteGroupId ?? null];
}
