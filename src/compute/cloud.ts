/**
 * The cloud's control plane (compute layer, slow path): Neutron's server
 * and Nova's API and scheduler in one object, `Cloud`, with an API shaped
 * like theirs (and AWS's VPC words where Neutron has none: a VPC is a
 * Neutron network with a CIDR, a NAT gateway is AWS's).
 *
 * What: hypervisors in regions and zones; tenants' VPCs (one VXLAN VNI
 * each, from ipam.ts's allocator) and subnets (IPAM in ipam.ts); security
 * groups; ports; VMs with flavors, server groups and a lifecycle (BUILD →
 * ACTIVE ⇄ SHUTOFF → deleted; ERROR when a failed hypervisor's VM finds no
 * new host); placement by placement.ts; routers with interfaces, an
 * external gateway (SNAT), extra routes and floating IPs; NAT gateways with
 * an elastic IP; one external (provider) network whose addresses router
 * gateways, floating IPs and NAT gateways take.
 * How an operation runs: checked, then committed whole, then the data plane
 * told. Every public mutator runs in `tx()`: the state (plain data in one
 * record, `State`) is copied with structuredClone first; if anything throws,
 * the copy is put back — a refused operation changes nothing, the RNG's
 * draw counter included, and the data plane hears nothing. Only after the
 * operation returned are its notifications delivered (CloudDataplane in
 * types.ts), in the order they arose, with two coalesced: the security
 * groups (`securityGroups(all)`, computed from the final state, at the
 * place of the first change) and a router's or NAT gateway's record
 * (`routerChanged`, `natGatewayChanged`, likewise, skipped if it was deleted
 * later in the same operation). The copy costs O(state) per operation: a
 * control plane of thousands of objects, not millions.
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
 * IP needs a router with an external gateway on the port's subnet.
 * Nova's behaviour kept: createVm with `subnets` creates a port per subnet
 * and deleteVm deletes those; ports passed in `ports` are only detached
 * (their addresses kept). A SHUTOFF VM keeps its resources on its host.
 * Live migration needs ACTIVE; it keeps ports, MACs and addresses. A
 * hypervisor with VMs cannot be removed (Nova refuses to delete a compute
 * service hosting instances); `failHypervisor` is the crash: the host goes
 * down, the data plane loses it, and each of its VMs is evacuated (`nova
 * evacuate`: rebuilt on a host the scheduler picks, same ports and
 * addresses, same power state), or, where nothing fits, left in ERROR with
 * the NoValidHost fault (no host, ports kept: the operator can delete it or,
 * after `recoverHypervisor`, nothing moves it back — as in Nova).
 * Differences from Nova, on purpose: createVm that finds no host is
 * refused (CloudError NoValidHost, state unchanged) where Nova would keep
 * a server record in ERROR (`ifNoHost: 'error'` does as Nova does);
 * builds are synchronous (BUILD is never seen after the call returns).
 * External network: its segment is `{ networkId: 'external', vni: 0 }` — a
 * flat provider network, not a tunnel (0 is outside every tenant range).
 * IPv4 only.
 * Neighbours: ipam.ts (addresses, VNIs), placement.ts (scheduler),
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
import {
  allocateIp, allocateVni, cidrText, contains, ipText, newSubnetIpam, newVniAllocator, overlaps, parseCidr, parseIp,
  releaseIp, releaseVni, within, type Cidr, type SubnetIpam, type VniAllocator,
} from './ipam.js';
import { DEFAULT_PLACEMENT, noValidHostMessage, schedule, type HostState, type PlacementConfig, type ScheduleRequest, type ScheduleResult } from './placement.js';

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

// ---- records (the state: plain data only, see tx()) ----------------------------------------------------

export interface HypervisorRecord { name: string; region: string; az: string; vcpus: number; ramMb: number; ip: string; up: boolean }
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
  hypervisors: Map<string, HypervisorRecord>;
  vpcs: Map<string, VpcRecord>;
  subnets: Map<string, SubnetRecord>;
  ipam: Map<string, SubnetIpam>;
  securityGroups: Map<string, SecurityGroupRecord>;
  ports: Map<string, PortRecord>;
  vms: Map<string, VmRecord>;
  serverGroups: Map<string, ServerGroupRecord>;
  routers: Map<string, RouterRecord>;
  floatingIps: Map<string, FloatingIpRecord>;
  natGateways: Map<string, NatGatewayRecord>;
  external: { cidr: string; gateway: string; ipam: SubnetIpam } | null;
  vni: VniAllocator;
}

/** A notification waiting for the operation to commit. */
type Note =
  | { kind: 'call'; run: (dp: CloudDataplane) => void }
  | { kind: 'sg' }
  | { kind: 'router'; id: string }
  | { kind: 'nat'; id: string };

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
  private s: State;
  private readonly dp: CloudDataplane | null;
  private readonly seed: number;
  private readonly placementConfig: PlacementConfig;
  private readonly flavors: Record<string, Flavor>;
  private depth = 0;
  private outbox: Note[] = [];

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
    this.s = {
      draws: 0, hypervisors: new Map(), vpcs: new Map(), subnets: new Map(), ipam: new Map(), securityGroups: new Map(),
      ports: new Map(), vms: new Map(), serverGroups: new Map(), routers: new Map(), floatingIps: new Map(),
      natGateways: new Map(), external: null, vni: newVniAllocator(min, max, 'vniRange'),
    };
    if (opts.external !== undefined) this.setExternalNetwork(opts.external);
  }

  // ---- transactions and notifications ----------------------------------------------------------------

  /** Run 'fn' whole or not at all; deliver its notifications after it returned. */
  private tx<T>(fn: () => T): T {
    if (this.depth > 0) return fn();
    const saved = structuredClone(this.s);
    this.depth++;
    this.outbox = [];
    let result: T;
    try {
      result = fn();
    } catch (e) {
      this.s = saved;
      this.outbox = [];
      throw e;
    } finally {
      this.depth--;
    }
    const notes = this.outbox;
    this.outbox = [];
    if (this.dp !== null) for (const n of notes) this.deliver(this.dp, n);
    return result;
  }

  private deliver(dp: CloudDataplane, n: Note): void {
    switch (n.kind) {
      case 'call': n.run(dp); break;
      case 'sg': dp.securityGroups(this.groupsForDataplane()); break;
      case 'router': { const r = this.s.routers.get(n.id); if (r !== undefined) dp.routerChanged(this.routerInfo(r)); break; }
      case 'nat': { const g = this.s.natGateways.get(n.id); if (g !== undefined) dp.natGatewayChanged(this.natInfo(g)); break; }
    }
  }

  private call(run: (dp: CloudDataplane) => void): void { this.outbox.push({ kind: 'call', run }); }
  private sgChanged(): void { if (!this.outbox.some((n) => n.kind === 'sg')) this.outbox.push({ kind: 'sg' }); }
  private routerChanged(id: string): void { if (!this.outbox.some((n) => n.kind === 'router' && n.id === id)) this.outbox.push({ kind: 'router', id }); }
  private natChanged(id: string): void { if (!this.outbox.some((n) => n.kind === 'nat' && n.id === id)) this.outbox.push({ kind: 'nat', id }); }

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
    const taken = new Set([...this.s.ports.values()].map((p) => p.mac));
    for (;;) {
      const w = this.draw();
      const mac = `fa:16:3e:${[w >>> 16, w >>> 8, w].map((b) => (b & 0xff).toString(16).padStart(2, '0')).join(':')}`;
      if (!taken.has(mac)) return mac;
    }
  }

  /** The record of 'map' that 'ref' names (id, else a unique name); 'code' when none, AmbiguousName when several. */
  private find<T extends { id: string; name: string }>(map: Map<string, T>, ref: unknown, code: string, kind: string, path: string, filter?: (t: T) => boolean): T {
    if (typeof ref !== 'string' || ref === '') refuse('InvalidInput', path, `expected the id or name of a ${kind}`);
    const byId = map.get(ref);
    if (byId !== undefined && (filter === undefined || filter(byId))) return byId;
    const named = [...map.values()].filter((t) => t.name === ref && (filter === undefined || filter(t)));
    if (named.length > 1) refuse('AmbiguousName', path, `${named.length} ${kind}s are named '${ref}': give the id`);
    if (named.length === 0) refuse(code, path, `${kind} '${ref}' could not be found`);
    return named[0]!;
  }

  private uniqueName(map: Map<string, { name: string }>, name: string, kind: string, path: string, filter?: (t: { name: string }) => boolean): void {
    for (const t of map.values()) if (t.name === name && (filter === undefined || filter(t))) refuse('DuplicateName', path, `a ${kind} named '${name}' exists`);
  }

  private vpcOf(ref: unknown, path = 'vpc'): VpcRecord { return this.find(this.s.vpcs, ref, 'NetworkNotFound', 'VPC', path); }
  private subnetOf(ref: unknown, path = 'subnet'): SubnetRecord { return this.find(this.s.subnets, ref, 'SubnetNotFound', 'subnet', path); }
  private portOf(ref: unknown, path = 'port'): PortRecord { return this.find(this.s.ports, ref, 'PortNotFound', 'port', path); }
  private vmOf(ref: unknown, path = 'vm'): VmRecord { return this.find(this.s.vms, ref, 'InstanceNotFound', 'VM', path); }
  private routerOf(ref: unknown, path = 'router'): RouterRecord { return this.find(this.s.routers, ref, 'RouterNotFound', 'router', path); }
  private fipOf(ref: unknown, path = 'floatingIp'): FloatingIpRecord {
    const byIp = [...this.s.floatingIps.values()].find((f) => f.ip === ref);
    return byIp ?? this.find(this.s.floatingIps, ref, 'FloatingIPNotFound', 'floating IP', path);
  }
  private natOf(ref: unknown, path = 'natGateway'): NatGatewayRecord { return this.find(this.s.natGateways, ref, 'NatGatewayNotFound', 'NAT gateway', path); }
  private serverGroupOf(ref: unknown, path = 'serverGroup'): ServerGroupRecord { return this.find(this.s.serverGroups, ref, 'ServerGroupNotFound', 'server group', path); }
  private sgOf(ref: unknown, path = 'securityGroup', tenant?: string): SecurityGroupRecord {
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
      const h: HypervisorRecord = { name, region, az, vcpus, ramMb, ip, up: true };
      this.s.hypervisors.set(name, h);
      const info: HypervisorInfo = { name, region, az, ip };
      this.call((dp) => dp.addHypervisor(info));
      return structuredClone(h);
    });
  }

  /** Remove an idle hypervisor (HypervisorInUse while VMs are placed on it: fail it, or move them, first). */
  removeHypervisor(name: string): void {
    this.tx(() => {
      const h = this.hypervisorOf(name, 'name');
      const vms = [...this.s.vms.values()].filter((v) => v.hypervisor === h.name);
      if (vms.length > 0) refuse('HypervisorInUse', 'name', `hypervisor '${h.name}' hosts ${vms.map((v) => v.name).join(', ')}`);
      this.s.hypervisors.delete(h.name);
      if (h.up) this.call((dp) => dp.removeHypervisor(h.name));
    });
  }

  /**
   * The hypervisor crashed: it goes down, the data plane loses it, and
   * each of its VMs (by name) is evacuated to the host the scheduler picks
   * — same ports, MACs and addresses, same power state — or left in ERROR
   * with the NoValidHost fault when nothing fits. Returns what became of
   * each VM.
   */
  failHypervisor(name: string): { vm: string; to: string | null; reason?: string }[] {
    return this.tx(() => {
      const h = this.hypervisorOf(name, 'name');
      if (!h.up) refuse('HypervisorDown', 'name', `hypervisor '${h.name}' is already down`);
      h.up = false;
      this.call((dp) => dp.removeHypervisor(h.name));
      const out: { vm: string; to: string | null; reason?: string }[] = [];
      const vms = [...this.s.vms.values()].filter((v) => v.hypervisor === h.name).sort((a, b) => (a.name < b.name ? -1 : 1));
      for (const vm of vms) {
        const r = this.scheduleFor(vm, { ignoreHosts: [h.name] });
        if (r.host === null) {
          vm.status = 'ERROR';
          vm.hypervisor = null;
          vm.fault = { code: 'NoValidHost', message: noValidHostMessage(r) };
          out.push({ vm: vm.name, to: null, reason: vm.fault.message });
          continue;
        }
        vm.hypervisor = r.host;
        if (vm.status === 'ACTIVE') {
          const boot = this.vmBoot(vm);
          this.call((dp) => dp.startVm(boot));
        }
        out.push({ vm: vm.name, to: r.host });
      }
      return out;
    });
  }

  /** A failed hypervisor is back (empty: its VMs were evacuated or are in ERROR). */
  recoverHypervisor(name: string): void {
    this.tx(() => {
      const h = this.hypervisorOf(name, 'name');
      if (h.up) refuse('HypervisorUp', 'name', `hypervisor '${h.name}' is up`);
      h.up = true;
      const info: HypervisorInfo = { name: h.name, region: h.region, az: h.az, ip: h.ip };
      this.call((dp) => dp.addHypervisor(info));
    });
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
      const vpc: VpcRecord = { id: this.uuid(), name, tenant, cidr: cidrText(cidr), vni };
      this.s.vpcs.set(vpc.id, vpc);
      return structuredClone(vpc);
    });
  }

  /** Delete a VPC and its subnets; its VNI is free again. NetworkInUse while any port is in it. */
  deleteVpc(ref: Ref): void {
    this.tx(() => {
      const vpc = this.vpcOf(ref);
      const used = [...this.s.ports.values()].filter((p) => p.networkId === vpc.id);
      if (used.length > 0) refuse('NetworkInUse', 'vpc', `VPC '${vpc.name}' has ${used.length} port(s)`);
      for (const sn of [...this.s.subnets.values()]) if (sn.vpcId === vpc.id) { this.s.subnets.delete(sn.id); this.s.ipam.delete(sn.id); }
      releaseVni(this.s.vni, vpc.vni);
      this.s.vpcs.delete(vpc.id);
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
      for (const o of this.s.subnets.values()) {
        if (o.vpcId === vpc.id && overlaps(cidr, parseCidr(o.cidr, 'cidr'))) refuse('OverlappingSubnet', 'cidr', `${cidrText(cidr)} overlaps subnet '${o.name}' ${o.cidr}`);
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
      const sn: SubnetRecord = {
        id: this.uuid(), name, vpcId: vpc.id, tenant: vpc.tenant, cidr: cidrText(cidr), gateway: gateway === null ? null : ipText(gateway),
        allocationPools: ipam.pools.map(([s, e]) => ({ start: ipText(s), end: ipText(e) })), hostRoutes, routerId: null,
      };
      this.s.subnets.set(sn.id, sn);
      this.s.ipam.set(sn.id, ipam);
      return structuredClone(sn);
    });
  }

  /** Delete a subnet without ports (SubnetInUse otherwise, router interfaces and NAT gateways included). */
  deleteSubnet(ref: Ref): void {
    this.tx(() => {
      const sn = this.subnetOf(ref);
      const used = [...this.s.ports.values()].filter((p) => p.subnetId === sn.id);
      if (used.length > 0) refuse('SubnetInUse', 'subnet', `subnet '${sn.name}' has ${used.length} port(s) (${used.map((p) => p.deviceOwner || 'unbound').join(', ')})`);
      this.s.subnets.delete(sn.id);
      this.s.ipam.delete(sn.id);
    });
  }

  // ---- security groups ---------------------------------------------------------------------------------

  /** A group with Neutron's default rules (egress anywhere, IPv4 and IPv6); names unique per tenant. */
  createSecurityGroup(spec: { name: string; tenant: string; description?: string }): SecurityGroupRecord {
    return this.tx(() => {
      const tenant = checkName(spec.tenant, 'tenant');
      const name = checkName(spec.name, 'name');
      this.uniqueName(this.s.securityGroups, name, 'security group', 'name', (g) => (g as SecurityGroupRecord).tenant === tenant);
      const g = this.newGroup(name, tenant, false);
      return structuredClone(g);
    });
  }

  private newGroup(name: string, tenant: string, isDefault: boolean): SecurityGroupRecord {
    const id = this.uuid();
    const rules = (isDefault ? SecurityGroups.defaultGroup(id) : SecurityGroups.newGroup(id)).rules;
    const g: SecurityGroupRecord = { id, name, tenant, rules: rules.map((r) => ({ ...r, id: this.uuid() })) };
    this.s.securityGroups.set(id, g);
    this.sgChanged();
    return g;
  }

  /** The tenant's `default` group, created on first use (Neutron: ingress from its members, egress anywhere). */
  private defaultGroup(tenant: string): SecurityGroupRecord {
    for (const g of this.s.securityGroups.values()) if (g.tenant === tenant && g.name === 'default') return g;
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
      g.rules.push(stored);
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
      const stubs = [...this.s.securityGroups.keys()].filter((id) => id !== g.id).map((id) => ({ id, rules: [] }));
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
      for (const g of this.s.securityGroups.values()) {
        const i = g.rules.findIndex((r) => r.id === ruleId);
        if (i >= 0) { g.rules.splice(i, 1); this.sgChanged(); return; }
      }
      refuse('SecurityGroupRuleNotFound', 'rule', `security group rule '${ruleId}' could not be found`);
    });
  }

  /** Delete a group no port uses and no other group's rule names (SecurityGroupInUse). */
  deleteSecurityGroup(ref: Ref): void {
    this.tx(() => {
      const g = this.sgOf(ref);
      const ports = [...this.s.ports.values()].filter((p) => p.securityGroups.includes(g.id));
      if (ports.length > 0) refuse('SecurityGroupInUse', 'securityGroup', `security group '${g.name}' is used by ${ports.length} port(s)`);
      const users = [...this.s.securityGroups.values()].filter((o) => o.id !== g.id && o.rules.some((r) => r.remoteGroupId === g.id));
      if (users.length > 0) refuse('SecurityGroupInUse', 'securityGroup', `rules of ${users.map((u) => `'${u.name}'`).join(', ')} name security group '${g.name}' as remote group`);
      this.s.securityGroups.delete(g.id);
      this.sgChanged();
    });
  }

  /** Every group as the data plane takes it: rules, and members = fixed and allowed-pair IPs of its ports. */
  private groupsForDataplane(): SecurityGroup[] {
    return [...this.s.securityGroups.values()].map((g) => {
      const members: string[] = [];
      for (const p of this.s.ports.values()) {
        if (!p.portSecurity || !p.securityGroups.includes(g.id)) continue;
        for (const ip of p.fixedIps) if (!members.includes(ip)) members.push(ip);
        for (const a of p.allowedAddressPairs) if (!members.includes(a.ip)) members.push(a.ip);
      }
      return { id: g.id, rules: g.rules.map(({ id: _id, ...r }) => r), members };
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
    p.name = spec.name === undefined ? '' : checkName(spec.name, at('name'));
    p.securityGroups = groups;
    p.allowedAddressPairs = pairs;
    p.portSecurity = portSecurity;
    this.sgChanged();
    return p;
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
      for (const o of this.s.ports.values()) if (o.networkId === networkId && o.mac === m) refuse('MacAddressInUse', at('mac'), `${m} is used by port ${o.id} on the network`);
    } else m = this.newMac();
    const id = this.uuid();
    const ipam = sn === null ? this.s.external!.ipam : this.s.ipam.get(sn.id)!;
    const addr = allocateIp(ipam, id, ip === null ? null : parseIp(ip, at('ip')), at('ip'));
    const p: PortRecord = {
      id, name: '', tenant: sn?.tenant ?? '', networkId, subnetId: sn?.id ?? null, vni: sn === null ? 0 : this.s.vpcs.get(sn.vpcId)!.vni,
      mac: m, fixedIps: [ipText(addr)], allowedAddressPairs: [], securityGroups: [], portSecurity: false, deviceOwner, deviceId,
    };
    this.s.ports.set(id, p);
    return p;
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
    for (const f of this.s.floatingIps.values()) {
      if (f.portId === p.id) { if (f.routerId !== null) this.routerChanged(f.routerId); f.portId = null; f.fixedIp = null; f.routerId = null; }
    }
    const ipam = this.ipamOf(p);
    for (const ip of p.fixedIps) releaseIp(ipam, parseIp(ip, 'ip'));
    this.s.ports.delete(p.id);
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
      const g: ServerGroupRecord = { id: this.uuid(), name, policy: spec.policy, members: [] };
      this.s.serverGroups.set(g.id, g);
      return structuredClone(g);
    });
  }

  /** Delete a server group (its members stay, unconstrained). */
  deleteServerGroup(ref: Ref): void {
    this.tx(() => {
      const g = this.serverGroupOf(ref);
      for (const vm of this.s.vms.values()) if (vm.serverGroup === g.id) vm.serverGroup = null;
      this.s.serverGroups.delete(g.id);
    });
  }

  private hostStates(): HostState[] {
    return [...this.s.hypervisors.values()].map((h) => {
      let usedVcpus = 0, usedRamMb = 0;
      for (const vm of this.s.vms.values()) if (vm.hypervisor === h.name) { usedVcpus += vm.flavor.vcpus; usedRamMb += vm.flavor.ramMb; }
      return { name: h.name, az: h.az, up: h.up, vcpus: h.vcpus, ramMb: h.ramMb, usedVcpus, usedRamMb };
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

  private scheduleFor(vm: VmRecord, extra: Partial<ScheduleRequest>): ScheduleResult {
    const group = vm.serverGroup === null ? null : this.s.serverGroups.get(vm.serverGroup) ?? null;
    const hosts = this.hostStates().map((h) => (h.name === vm.hypervisor ? { ...h, usedVcpus: h.usedVcpus - vm.flavor.vcpus, usedRamMb: h.usedRamMb - vm.flavor.ramMb } : h));
    return schedule(hosts, { ...this.request(vm.flavor, vm.az, group, vm.id), ...extra }, this.placementConfig);
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
      const r = schedule(this.hostStates(), this.request(flavor, vm.az, group, null), this.placementConfig);
      if (r.host === null) {
        if (spec.ifNoHost !== 'error') refuse('NoValidHost', 'flavor', noValidHostMessage(r));
        // Nova's way: the server exists, in ERROR with the fault; its network was never allocated
        vm.status = 'ERROR';
        vm.fault = { code: 'NoValidHost', message: noValidHostMessage(r) };
        group?.members.push(id);
        this.s.vms.set(id, vm);
        return structuredClone(vm);
      }
      (spec.ports ?? []).forEach((ref, i) => {
        const p = this.portOf(ref, `ports[${i}]`);
        if (p.deviceId !== null || p.subnetId === null) refuse('PortInUse', `ports[${i}]`, `port ${p.id} is used by ${p.deviceOwner || 'the external network'} ${p.deviceId ?? ''}`.trim());
        if (vm.ports.includes(p.id)) refuse('PortInUse', `ports[${i}]`, `port ${p.id} is given twice`);
        p.deviceId = id;
        p.deviceOwner = 'compute:nova';
        vm.ports.push(p.id);
      });
      (spec.subnets ?? []).forEach((ref, i) => {
        const portSpec: CreatePortSpec = { subnet: ref };
        if (spec.securityGroups !== undefined) portSpec.securityGroups = spec.securityGroups;
        const p = this.newUserPort(portSpec, `subnets[${i}]`);
        p.deviceId = id;
        p.deviceOwner = 'compute:nova';
        vm.ports.push(p.id);
        vm.ownPorts.push(p.id);
      });
      const tenants = new Set(vm.ports.map((p) => this.s.ports.get(p)!.tenant));
      if (tenants.size > 1) refuse('InvalidInput', 'ports', `the ports belong to several tenants (${[...tenants].join(', ')})`);
      vm.tenant = [...tenants][0] ?? '';
      vm.hypervisor = r.host;
      vm.status = 'ACTIVE';
      group?.members.push(id);
      this.s.vms.set(id, vm);
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
      vm.status = 'ACTIVE';
      const boot = this.vmBoot(vm);
      this.call((dp) => dp.startVm(boot));
    });
  }

  /** ACTIVE → SHUTOFF (it keeps its host, resources and ports). */
  stopVm(ref: Ref): void {
    this.tx(() => {
      const vm = this.vmOf(ref);
      if (vm.status !== 'ACTIVE') refuse('InstanceInvalidState', 'vm', `VM '${vm.name}' is ${vm.status}, not ACTIVE`);
      vm.status = 'SHUTOFF';
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
        else { p.deviceId = null; p.deviceOwner = ''; }
      }
      for (const g of this.s.serverGroups.values()) g.members = g.members.filter((m) => m !== vm.id);
      this.s.vms.delete(vm.id);
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
      const from = vm.hypervisor!;
      const extra: Partial<ScheduleRequest> = { ignoreHosts: [from] };
      if (to !== undefined) {
        const h = this.hypervisorOf(to, 'to');
        if (h.name === from) refuse('InvalidInput', 'to', `VM '${vm.name}' already runs on '${from}'`);
        extra.onlyHost = h.name;
      }
      const r = this.scheduleFor(vm, extra);
      if (r.host === null) refuse('NoValidHost', to === undefined ? 'vm' : 'to', noValidHostMessage(r));
      vm.hypervisor = r.host;
      const boot = this.vmBoot(vm);
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
      this.s.external = { cidr: cidrText(cidr), gateway: ipText(gw), ipam: newSubnetIpam(cidr, gw, pools, 'external') };
    });
  }

  /** A router of 'tenant'; with 'externalGateway' it gets a port on the external network (SNAT on unless snat: false). */
  createRouter(spec: { name: string; tenant: string; externalGateway?: { snat?: boolean } }): RouterRecord {
    return this.tx(() => {
      const name = checkName(spec.name, 'name');
      this.uniqueName(this.s.routers, name, 'router', 'name');
      const r: RouterRecord = { id: this.uuid(), name, tenant: checkName(spec.tenant, 'tenant'), gateway: null, interfaces: [], routes: [] };
      this.s.routers.set(r.id, r);
      if (spec.externalGateway !== undefined) this.attachGateway(r, spec.externalGateway, 'externalGateway');
      this.routerChanged(r.id);
      return structuredClone(r);
    });
  }

  private attachGateway(r: RouterRecord, g: { snat?: boolean }, path: string): void {
    const snat = g.snat ?? true;
    if (typeof snat !== 'boolean') refuse('InvalidInput', `${path}.snat`, 'expected true or false');
    const p = this.newPort(null, null, null, 'network:router_gateway', r.id, (f) => `${path}.${f}`);
    p.tenant = r.tenant;
    r.gateway = { portId: p.id, snat };
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
      const fips = [...this.s.floatingIps.values()].filter((f) => f.routerId === r.id);
      if (fips.length > 0) refuse('RouterExternalGatewayInUseByFloatingIp', 'router', `floating IPs ${fips.map((f) => f.ip).join(', ')} use router '${r.name}'`);
      this.dropPort(this.s.ports.get(r.gateway.portId)!);
      r.gateway = null;
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
      ipam.reserved = ipam.reserved.filter((a) => a !== gw);
      const p = this.newPort(sn, sn.gateway, null, 'network:router_interface', r.id, (f) => `subnet.${f}`);
      ipam.reserved.push(gw);
      sn.routerId = r.id;
      r.interfaces.push({ subnetId: sn.id, portId: p.id });
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
      const fip = [...this.s.floatingIps.values()].find((f) => f.routerId === r.id && this.s.ports.get(f.portId ?? '')?.subnetId === sn.id);
      if (fip !== undefined) refuse('RouterInterfaceInUseByFloatingIP', 'subnet', `floating IP ${fip.ip} reaches subnet '${sn.name}' through router '${r.name}'`);
      const cidr = parseCidr(sn.cidr, 'cidr');
      const route = r.routes.find((x) => contains(cidr, parseIp(x.nexthop, 'nexthop')));
      if (route !== undefined) refuse('RouterInterfaceInUseByRoute', 'subnet', `route ${route.destination} via ${route.nexthop} uses subnet '${sn.name}'`);
      const port = this.s.ports.get(r.interfaces[i]!.portId)!;
      const ipam = this.s.ipam.get(sn.id)!;
      this.dropPort(port);
      if (sn.gateway !== null && !ipam.reserved.includes(parseIp(sn.gateway, 'gateway'))) ipam.reserved.push(parseIp(sn.gateway, 'gateway'));
      r.interfaces.splice(i, 1);
      sn.routerId = null;
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
      r.routes.push({ destination, nexthop: ipText(nh) });
      this.routerChanged(r.id);
    });
  }

  removeRoute(router: Ref, route: HostRoute): void {
    this.tx(() => {
      const r = this.routerOf(router);
      const i = r.routes.findIndex((x) => x.destination === route.destination && x.nexthop === route.nexthop);
      if (i < 0) refuse('InvalidRoutes', 'route', 'the router has no such route');
      r.routes.splice(i, 1);
      this.routerChanged(r.id);
    });
  }

  /** Delete a router without interfaces (RouterInUse); its gateway port goes with it. */
  deleteRouter(ref: Ref): void {
    this.tx(() => {
      const r = this.routerOf(ref);
      if (r.interfaces.length > 0) refuse('RouterInUse', 'router', `router '${r.name}' still has ${r.interfaces.length} interface(s)`);
      if (r.gateway !== null) this.dropPort(this.s.ports.get(r.gateway.portId)!);
      this.s.routers.delete(r.id);
      this.call((dp) => dp.routerDeleted(r.id));
    });
  }

  private routerInfo(r: RouterRecord): RouterInfo {
    const info: RouterInfo = {
      id: r.id,
      interfaces: r.interfaces.map((i) => { const p = this.s.ports.get(i.portId)!; return { port: this.portInfo(p), cidr: this.portCidr(p) }; }),
      routes: r.routes.map((x) => ({ ...x })),
      floatingIps: [...this.s.floatingIps.values()].filter((f) => f.routerId === r.id).map((f) => ({ floatingIp: f.ip, fixedIp: f.fixedIp! })),
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
    const addr = allocateIp(this.s.external.ipam, id, spec.ip === undefined ? null : parseIp(spec.ip, at('ip')), at('ip'));
    const f: FloatingIpRecord = { id, name, tenant, ip: ipText(addr), portId: null, fixedIp: null, routerId: null, natGatewayId: null };
    this.s.floatingIps.set(id, f);
    return f;
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
      const other = [...this.s.floatingIps.values()].find((o) => o.portId === p.id);
      if (other !== undefined) refuse('FloatingIPPortAlreadyAssociated', 'port', `port ${p.id} has floating IP ${other.ip}`);
      const sn = this.s.subnets.get(p.subnetId)!;
      const r = sn.routerId === null ? null : this.s.routers.get(sn.routerId)!;
      if (r === null || r.gateway === null) refuse('ExternalGatewayForFloatingIPNotFound', 'port', `no router with an external gateway serves subnet '${sn.name}'`);
      f.portId = p.id;
      f.tenant = p.tenant;
      f.fixedIp = p.fixedIps[0]!;
      f.routerId = r.id;
      this.routerChanged(r.id);
    });
  }

  disassociateFloatingIp(fip: Ref): void {
    this.tx(() => {
      const f = this.fipOf(fip);
      if (f.portId === null) refuse('FloatingIpNotAssociated', 'floatingIp', `floating IP ${f.ip} is not associated`);
      this.routerChanged(f.routerId!);
      f.portId = null; f.fixedIp = null; f.routerId = null;
    });
  }

  /** Give the floating IP back (disassociated first; FloatingIpInUse while it is a NAT gateway's elastic IP). */
  releaseFloatingIp(fip: Ref): void {
    this.tx(() => {
      const f = this.fipOf(fip);
      if (f.natGatewayId !== null) refuse('FloatingIpInUse', 'floatingIp', `floating IP ${f.ip} is the elastic IP of a NAT gateway`);
      if (f.routerId !== null) this.routerChanged(f.routerId);
      releaseIp(this.s.external!.ipam, parseIp(f.ip, 'ip'));
      this.s.floatingIps.delete(f.id);
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
      const inside = this.newPort(sn, null, null, 'network:nat_gateway', id, (f) => `subnet.${f}`);
      // the outside port holds the elastic IP itself: the floating IP record keeps the allocation
      const outside = this.newPortOnAddress(fip, id);
      const g: NatGatewayRecord = {
        id, name, tenant: vpc.tenant, vpcId: vpc.id, subnetId: sn.id, insidePortId: inside.id, outsidePortId: outside.id,
        floatingIpId: fip.id, ownFloatingIp: own,
      };
      fip.natGatewayId = id;
      this.s.natGateways.set(id, g);
      this.natChanged(id);
      return structuredClone(g);
    });
  }

  /** The external port of a NAT gateway, on the floating IP's address (allocated to the floating IP, not to the port). */
  private newPortOnAddress(f: FloatingIpRecord, deviceId: string): PortRecord {
    const p: PortRecord = {
      id: this.uuid(), name: '', tenant: f.tenant, networkId: EXTERNAL_NETWORK_ID, subnetId: null, vni: 0, mac: this.newMac(),
      fixedIps: [f.ip], allowedAddressPairs: [], securityGroups: [], portSecurity: false, deviceOwner: 'network:nat_gateway', deviceId,
    };
    this.s.ports.set(p.id, p);
    return p;
  }

  deleteNatGateway(ref: Ref): void {
    this.tx(() => {
      const g = this.natOf(ref);
      this.dropPort(this.s.ports.get(g.insidePortId)!);
      this.s.ports.delete(g.outsidePortId);
      const f = this.s.floatingIps.get(g.floatingIpId)!;
      f.natGatewayId = null;
      if (g.ownFloatingIp) { releaseIp(this.s.external!.ipam, parseIp(f.ip, 'ip')); this.s.floatingIps.delete(f.id); }
      this.s.natGateways.delete(g.id);
      this.call((dp) => dp.natGatewayDeleted(g.id));
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

  /** A VM: its status, hypervisor, fault, and its ports in full. */
  vm(ref: Ref): VmRecord & { portDetails: PortRecord[] } {
    const vm = this.vmOf(ref);
    return structuredClone({ ...vm, portDetails: vm.ports.map((p) => this.s.ports.get(p)!) });
  }

  /** What the data plane would be told about a router, a VM, the groups (for tests and the integrator). */
  routerInfoOf(ref: Ref): RouterInfo { return this.routerInfo(this.routerOf(ref)); }
  vmBootOf(ref: Ref): VmBoot { return this.vmBoot(this.vmOf(ref)); }
  natGatewayInfoOf(ref: Ref): NatGatewayInfo { return this.natInfo(this.natOf(ref)); }
  securityGroupsForDataplane(): SecurityGroup[] { return this.groupsForDataplane(); }

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
