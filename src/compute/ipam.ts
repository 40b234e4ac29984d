/**
 * Address and segment allocation (compute layer, control plane): IPv4 CIDR
 * arithmetic, one subnet's IPAM (Neutron's ipam driver) and the VXLAN VNI
 * allocator (ML2's type_vxlan with vni_ranges).
 *
 * What: plain records (no classes: every piece of cloud.ts's state is
 * data) and the functions over them; a function refuses before it changes
 * anything, and cloud.ts journals the changes they make (an address
 * allocated or released, a VNI taken or freed) to undo a refused
 * operation.
 *  - `SubnetIpam`: the subnet's CIDR, its allocation pools, the addresses no
 *    port may take (network, broadcast, gateway) and the allocated ones
 *    (address → owner port id).
 *    Allocation without a requested address takes the LOWEST free address of
 *    the pools, pools in order. Neutron's in-tree driver picks at random
 *    among the first free addresses of a window (to spread concurrent
 *    allocations across API workers); a single-threaded emulator has no such
 *    race, and the lowest address makes a scenario's addresses predictable
 *    (the first VM of 10.0.1.0/24 is 10.0.1.2, as users expect).
 *    A requested address may lie outside the pools (Neutron allows it for
 *    fixed IPs) but must be a host address of the subnet that is neither
 *    reserved nor taken.
 *    No DHCP port is modelled: VMs get their addresses statically (config
 *    drive network_data, types.ts VmNic), so no address is held for
 *    Neutron's DHCP agent.
 *  - `VniAllocator`: the configured range (default 1..16777215, every
 *    24-bit VNI but 0) and the live VNIs; allocation takes the lowest free
 *    VNI (ML2 picks any unallocated row; the lowest is deterministic), a
 *    requested VNI must be in the range and not live; release frees it.
 * Invariants: an allocated address is inside a pool or requested, never
 * reserved, never twice; a VNI is live at most once, always inside the range.
 * Cost: the lowest free address is searched from where the last search
 * of its pool ended (`next`, lowered by a release): O(1) amortised while
 * addresses are only taken, O(n) after a low one is freed; a VNI scans
 * past the live ones: O(n).
 * Neighbours: cloud.ts (owns the records); errors.ts (CloudError codes
 * as Neutron names them: InvalidIpForSubnet, IpAddressAlreadyAllocated,
 * IpAddressGenerationFailure, NoNetworkAvailable …).
 */
import { ipv4ToString, parseIpv4 } from '../wire/bytes.js';
import { refuse } from './errors.js';

/** An IPv4 network: its first address (host bits zero) and prefix length. */
export interface Cidr { net: number; len: number }

export const cidrText = (c: Cidr): string => `${ipv4ToString(c.net)}/${c.len}`;
export const ipText = (a: number): string => ipv4ToString(a);
const maskOf = (len: number): number => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);
/** the last address (broadcast) of 'c' */
export const lastOf = (c: Cidr): number => (c.net | (~maskOf(c.len) >>> 0)) >>> 0;
export const contains = (c: Cidr, a: number): boolean => ((a & maskOf(c.len)) >>> 0) === c.net;
export const overlaps = (a: Cidr, b: Cidr): boolean => contains(a, b.net) || contains(b, a.net);
/** 'inner' lies wholly inside 'outer' */
export const within = (inner: Cidr, outer: Cidr): boolean => inner.len >= outer.len && contains(outer, inner.net);

/** A dotted quad at field 'path' (code InvalidInput unless given). */
export function parseIp(text: unknown, path: string, code = 'InvalidInput'): number {
  const a = typeof text === 'string' ? parseIpv4(text) : null;
  if (a === null) refuse(code, path, `'${String(text)}' is not an IPv4 address`);
  return a >>> 0;
}

/** A CIDR 'a.b.c.d/len' at field 'path'; host bits must be zero (Neutron refuses 10.0.0.5/24 as a subnet). */
export function parseCidr(text: unknown, path: string, code = 'InvalidInput'): Cidr {
  const s = typeof text === 'string' ? text : '';
  const slash = s.indexOf('/');
  const len = /^[0-9]{1,2}$/.test(s.slice(slash + 1)) ? Number(s.slice(slash + 1)) : -1;
  const net = slash > 0 ? parseIpv4(s.slice(0, slash)) : null;
  if (net === null || len < 0 || len > 32) refuse(code, path, `'${String(text)}' is not an IPv4 CIDR (a.b.c.d/len)`);
  if (((net & maskOf(len)) >>> 0) !== net >>> 0) {
    refuse(code, path, `'${s}' has host bits set (the network is ${cidrText({ net: (net & maskOf(len)) >>> 0, len })})`);
  }
  return { net: net >>> 0, len };
}

// ---- one subnet's addresses --------------------------------------------------------------------------

export interface SubnetIpam {
  cidr: Cidr;
  /** inclusive [first, last] ranges, in the order given */
  pools: [number, number][];
  /** addresses no port may take: network, broadcast, gateway */
  reserved: number[];
  /** address → the id of the port (or router, NAT gateway, floating IP) holding it */
  allocated: Map<number, string>;
  /**
   * per pool, where the search for a free address starts: every address of
   * the pool below it is allocated (reserved addresses never lie in a pool)
   */
  next: number[];
}

/**
 * The IPAM of subnet 'cidr' with gateway 'gateway' (null: none) and pools
 * 'pools' (absent: every host address but the gateway, as Neutron's
 * default pools). Checks pools as Neutron does: each inside the subnet
 * (InvalidAllocationPool), start ≤ end, no two overlapping
 * (OverlappingAllocationPools), none holding the gateway
 * (GatewayConflictWithAllocationPools). 'path' names the call's field.
 */
export function newSubnetIpam(cidr: Cidr, gateway: number | null, pools: [number, number][] | undefined, path: string): SubnetIpam {
  const first = cidr.len >= 31 ? cidr.net : cidr.net + 1;
  const last = cidr.len >= 31 ? lastOf(cidr) : lastOf(cidr) - 1;
  const reserved = cidr.len >= 31 ? [] : [cidr.net, lastOf(cidr)];
  if (gateway !== null) reserved.push(gateway);
  let ranges: [number, number][];
  if (pools === undefined) {
    ranges = [];
    // every host address but the gateway: one or two ranges around it
    if (gateway === null || gateway < first || gateway > last) ranges.push([first, last]);
    else {
      if (gateway > first) ranges.push([first, gateway - 1]);
      if (gateway < last) ranges.push([gateway + 1, last]);
    }
  } else {
    ranges = pools;
    ranges.forEach(([s, e], i) => {
      const p = `${path === '' ? '' : `${path}.`}allocationPools[${i}]`;
      if (s > e || s < first || e > last) refuse('InvalidAllocationPool', p, `pool ${ipText(s)}-${ipText(e)} is not a range of host addresses of ${cidrText(cidr)}`);
      if (gateway !== null && gateway >= s && gateway <= e) refuse('GatewayConflictWithAllocationPools', p, `the gateway ${ipText(gateway)} lies in pool ${ipText(s)}-${ipText(e)}`);
      for (let j = 0; j < i; j++) {
        const [s2, e2] = ranges[j]!;
        if (s <= e2 && s2 <= e) refuse('OverlappingAllocationPools', p, `pool ${ipText(s)}-${ipText(e)} overlaps pool ${j} ${ipText(s2)}-${ipText(e2)}`);
      }
    });
  }
  return { cidr, pools: ranges.map(([s, e]) => [s, e]), reserved, allocated: new Map(), next: ranges.map(([s]) => s) };
}

/**
 * Take an address of 'ipam' for 'owner': 'requested' (checked: a host
 * address of the subnet — InvalidIpForSubnet —, not reserved or taken —
 * IpAddressAlreadyAllocated) or the lowest free pool address
 * (IpAddressGenerationFailure when the pools are full). 'path' names the
 * field of the request.
 */
export function allocateIp(ipam: SubnetIpam, owner: string, requested: number | null, path: string): number {
  if (requested !== null) {
    const hostRange = ipam.cidr.len >= 31 || (requested !== ipam.cidr.net && requested !== lastOf(ipam.cidr));
    if (!contains(ipam.cidr, requested) || !hostRange) refuse('InvalidIpForSubnet', path, `${ipText(requested)} is not a host address of subnet ${cidrText(ipam.cidr)}`);
    const holder = ipam.allocated.get(requested);
    if (holder !== undefined) refuse('IpAddressAlreadyAllocated', path, `${ipText(requested)} is already allocated (to ${holder})`);
    if (ipam.reserved.includes(requested)) refuse('IpAddressAlreadyAllocated', path, `${ipText(requested)} is reserved (network, broadcast or gateway)`);
    ipam.allocated.set(requested, owner);
    return requested;
  }
  for (let i = 0; i < ipam.pools.length; i++) {
    const e = ipam.pools[i]![1];
    for (let a = ipam.next[i]!; a <= e; a++) {
      if (!ipam.allocated.has(a) && !ipam.reserved.includes(a)) {
        ipam.allocated.set(a, owner);
        ipam.next[i] = a + 1;
        return a;
      }
    }
    ipam.next[i] = e + 1;
  }
  return refuse('IpAddressGenerationFailure', path, `no more addresses are available in subnet ${cidrText(ipam.cidr)}`);
}

/** Give address 'addr' back to 'ipam' (no-op when it is free). */
export function releaseIp(ipam: SubnetIpam, addr: number): void {
  ipam.allocated.delete(addr);
  ipam.pools.forEach(([s, e], i) => { if (addr >= s && addr <= e && addr < ipam.next[i]!) ipam.next[i] = addr; });
}

// ---- VNIs --------------------------------------------------------------------------------------------

export const VNI_MIN = 1;
export const VNI_MAX = 0xffffff;

export interface VniAllocator { min: number; max: number; live: Set<number> }

/** A VNI allocator over [min, max] (ML2's vni_ranges 'min:max'); checked: 1 ≤ min ≤ max ≤ 16777215. */
export function newVniAllocator(min = VNI_MIN, max = VNI_MAX, path = 'vniRange'): VniAllocator {
  const ok = (v: number): boolean => Number.isInteger(v) && v >= VNI_MIN && v <= VNI_MAX;
  if (!ok(min) || !ok(max) || min > max) refuse('InvalidInput', path, `${min}:${max} is not a VNI range within ${VNI_MIN}:${VNI_MAX}`);
  return { min, max, live: new Set() };
}

/**
 * Take a VNI: 'requested' (in the range — InvalidInput —, not live —
 * VniInUse, ML2's TunnelIdInUse) or the lowest free one (NoNetworkAvailable
 * when the range is exhausted, as ML2 says).
 */
export function allocateVni(v: VniAllocator, requested: number | null, path: string): number {
  if (requested !== null) {
    if (!Number.isInteger(requested) || requested < v.min || requested > v.max) refuse('InvalidInput', path, `VNI ${requested} is outside the range ${v.min}:${v.max}`);
    if (v.live.has(requested)) refuse('VniInUse', path, `VNI ${requested} is used by another network`);
    v.live.add(requested);
    return requested;
  }
  let n = v.min;
  while (n <= v.max && v.live.has(n)) n++;
  if (n > v.max) refuse('NoNetworkAvailable', path, `every VNI of ${v.min}:${v.max} is in use`);
  v.live.add(n);
  return n;
}

export function releaseVni(v: VniAllocator, vni: number): void {
  v.live.delete(vni);
}
