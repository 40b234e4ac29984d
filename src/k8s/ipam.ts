/**
 * Address allocation (k8s layer, slow path): the node-ipam controller's
 * range allocator, the API server's ClusterIP and NodePort allocators, a
 * LoadBalancer address pool and the host-local pod IPAM a CNI runs per node.
 *
 * What:
 * - `CidrAllocator`: /N blocks (default /24) out of the cluster CIDR, the
 *   lowest free block first, as the range allocator's CidrSet does
 *   (its "next candidate" starts after the last one given; we always take
 *   the lowest free block, so a released block is reused first).
 * - `IpAllocator`: single addresses out of a range. The Service CIDR
 *   (default 10.96.0.0/12) gives its first usable address (10.96.0.1) to the
 *   `kubernetes` Service; other Services get the lowest free address —
 *   the API server picks at random (from the upper band first); we choose the
 *   lowest so a test's ClusterIPs are predictable. The network and broadcast
 *   addresses are never given. A pod CIDR reserves the network address and
 *   the first host (the node's gateway on its bridge), as host-local does.
 * - `PortAllocator`: NodePorts 30000–32767 (lowest free; the API server is
 *   random, again for predictability).
 * - `LoadBalancerPool`: addresses from CIDRs or `a.b.c.d-a.b.c.e` ranges, in
 *   order (MetalLB-style).
 * Errors: `IpamError` with codes IPAM_FULL, IPAM_OUT_OF_RANGE, IPAM_IN_USE,
 * IPAM_BAD_CIDR; messages read as the API server's ("provided IP is already
 * allocated", "provided port is not in the valid range. The range of valid
 * ports is 30000-32767").
 * Neighbours: controllers/control-plane.ts calls these from its admission
 * step and its node controller; cni/ receives pod IPs in the Pod status.
 */
import { SdnemuError } from '../errors.js';

export class IpamError extends SdnemuError {
  readonly what: string;
  constructor(code: 'IPAM_FULL' | 'IPAM_OUT_OF_RANGE' | 'IPAM_IN_USE' | 'IPAM_BAD_CIDR', what: string, message: string) {
    super(code, message);
    this.name = 'IpamError';
    this.what = what;
  }
  override location(): Record<string, string | number> {
    return { what: this.what };
  }
}

/** Dotted quad → uint32, or -1 when 's' is not one. */
export function parseIPv4(s: string): number {
  const p = s.split('.');
  if (p.length !== 4) return -1;
  let v = 0;
  for (const x of p) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(x) || Number(x) > 255) return -1;
    v = v * 256 + Number(x);
  }
  return v;
}

export function formatIPv4(v: number): string {
  return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** 'a.b.c.d/n' → its base (masked) and prefix length; IpamError IPAM_BAD_CIDR otherwise. */
export function parseCidr(s: string): { base: number; bits: number } {
  const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(s);
  const ip = m ? parseIPv4(m[1]!) : -1;
  const bits = m ? Number(m[2]) : -1;
  if (ip < 0 || bits < 0 || bits > 32) throw new IpamError('IPAM_BAD_CIDR', s, `invalid CIDR address: ${s}`);
  const size = 2 ** (32 - bits);
  return { base: ip - (ip % size), bits };
}

/** Lowest-free allocation of integer slots [0, size), with a cursor so a full scan is amortised. */
class SlotSet {
  private readonly used: Uint8Array;
  private count = 0;
  private hint = 0;
  constructor(readonly size: number) {
    this.used = new Uint8Array(size);
  }
  has(i: number): boolean {
    return this.used[i] === 1;
  }
  take(i: number): void {
    if (this.used[i] === 0) this.count++;
    this.used[i] = 1;
  }
  release(i: number): void {
    if (this.used[i] === 1) this.count--;
    this.used[i] = 0;
    if (i < this.hint) this.hint = i;
  }
  lowestFree(): number {
    if (this.count >= this.size) return -1;
    for (let i = this.hint; i < this.size; i++) {
      if (this.used[i] === 0) {
        this.hint = i;
        return i;
      }
    }
    return -1;
  }
  get free(): number {
    return this.size - this.count;
  }
}

/** Blocks of /'blockBits' out of 'cidr' (node podCIDRs out of the cluster CIDR). */
export class CidrAllocator {
  readonly base: number;
  readonly bits: number;
  private readonly slots: SlotSet;
  constructor(readonly cidr: string, readonly blockBits = 24) {
    ({ base: this.base, bits: this.bits } = parseCidr(cidr));
    if (blockBits < this.bits || blockBits > 32) {
      throw new IpamError('IPAM_BAD_CIDR', cidr, `node CIDR mask size /${blockBits} must be longer than the cluster CIDR's /${this.bits}`);
    }
    this.slots = new SlotSet(2 ** (blockBits - this.bits));
  }
  private blockSize(): number {
    return 2 ** (32 - this.blockBits);
  }
  /** The lowest free block, as 'a.b.c.d/n'. */
  allocate(): string {
    const cidr = this.peek();
    this.occupy(cidr);
    return cidr;
  }
  /** The block `allocate` would give, without taking it. */
  peek(): string {
    const i = this.slots.lowestFree();
    if (i < 0) throw new IpamError('IPAM_FULL', this.cidr, `failed to allocate cidr from cluster cidr ${this.cidr}: CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range`);
    return `${formatIPv4(this.base + i * this.blockSize())}/${this.blockBits}`;
  }
  /** Mark block 'cidr' taken (a Node that came with its podCIDR). */
  occupy(cidr: string): void {
    const i = this.index(cidr);
    if (this.slots.has(i)) throw new IpamError('IPAM_IN_USE', cidr, `CIDR ${cidr} is already allocated`);
    this.slots.take(i);
  }
  release(cidr: string): void {
    this.slots.release(this.index(cidr));
  }
  private index(cidr: string): number {
    const { base, bits } = parseCidr(cidr);
    const off = base - this.base;
    if (bits !== this.blockBits || off < 0 || off >= this.slots.size * this.blockSize()) {
      throw new IpamError('IPAM_OUT_OF_RANGE', cidr, `CIDR ${cidr} is not a /${this.blockBits} of ${this.cidr}`);
    }
    return off / this.blockSize();
  }
}

/**
 * Single addresses of 'cidr' (network and broadcast excluded, and the first
 * 'reserved' hosts too — e.g. a pod CIDR's gateway).
 */
export class IpAllocator {
  readonly first: number;
  private readonly slots: SlotSet;
  constructor(readonly cidr: string, reserved = 0) {
    const { base, bits } = parseCidr(cidr);
    const size = 2 ** (32 - bits);
    const hosts = size <= 2 ? size : size - 2;
    this.first = (size <= 2 ? base : base + 1) + reserved;
    this.slots = new SlotSet(Math.max(0, hosts - reserved));
  }
  get free(): number {
    return this.slots.free;
  }
  contains(ip: string): boolean {
    const v = parseIPv4(ip);
    return v >= this.first && v < this.first + this.slots.size;
  }
  allocate(): string {
    const i = this.slots.lowestFree();
    if (i < 0) throw new IpamError('IPAM_FULL', this.cidr, `range is full: no free address in ${this.cidr}`);
    this.slots.take(i);
    return formatIPv4(this.first + i);
  }
  /** Take the given address: IPAM_OUT_OF_RANGE or IPAM_IN_USE when it cannot be given. */
  allocateSpecific(ip: string): string {
    const v = parseIPv4(ip);
    const i = v - this.first;
    if (v < 0 || i < 0 || i >= this.slots.size) {
      throw new IpamError('IPAM_OUT_OF_RANGE', ip, `failed to allocate IP ${ip}: the provided IP (${ip}) is not in the valid range. The range of valid IPs is ${this.cidr}`);
    }
    if (this.slots.has(i)) throw new IpamError('IPAM_IN_USE', ip, `failed to allocate IP ${ip}: provided IP is already allocated`);
    this.slots.take(i);
    return ip;
  }
  release(ip: string): void {
    const i = parseIPv4(ip) - this.first;
    if (i >= 0 && i < this.slots.size) this.slots.release(i);
  }
}

/** Ports in [lo, hi] (NodePorts by default 30000–32767). */
export class PortAllocator {
  private readonly slots: SlotSet;
  constructor(readonly lo = 30000, readonly hi = 32767) {
    this.slots = new SlotSet(hi - lo + 1);
  }
  allocate(): number {
    const i = this.slots.lowestFree();
    if (i < 0) throw new IpamError('IPAM_FULL', `${this.lo}-${this.hi}`, `range is full: no free port in ${this.lo}-${this.hi}`);
    this.slots.take(i);
    return this.lo + i;
  }
  allocateSpecific(port: number): number {
    const i = port - this.lo;
    if (!Number.isInteger(port) || i < 0 || port > this.hi) {
      throw new IpamError('IPAM_OUT_OF_RANGE', String(port), `provided port is not in the valid range. The range of valid ports is ${this.lo}-${this.hi}`);
    }
    if (this.slots.has(i)) throw new IpamError('IPAM_IN_USE', String(port), 'provided port is already allocated');
    this.slots.take(i);
    return port;
  }
  release(port: number): void {
    const i = port - this.lo;
    if (i >= 0 && port <= this.hi) this.slots.release(i);
  }
}

/** LoadBalancer ingress addresses from CIDRs or 'first-last' ranges, in the order given. */
export class LoadBalancerPool {
  private readonly ranges: { lo: number; hi: number }[] = [];
  private readonly used = new Set<number>();
  constructor(readonly spec: readonly string[]) {
    for (const s of spec) {
      const dash = s.indexOf('-');
      if (dash > 0) {
        const lo = parseIPv4(s.slice(0, dash).trim());
        const hi = parseIPv4(s.slice(dash + 1).trim());
        if (lo < 0 || hi < lo) throw new IpamError('IPAM_BAD_CIDR', s, `invalid address range: ${s}`);
        this.ranges.push({ lo, hi });
      } else {
        const { base, bits } = parseCidr(s);
        const size = 2 ** (32 - bits);
        this.ranges.push(size <= 2 ? { lo: base, hi: base + size - 1 } : { lo: base + 1, hi: base + size - 2 });
      }
    }
  }
  contains(ip: string): boolean {
    const v = parseIPv4(ip);
    return this.ranges.some((r) => v >= r.lo && v <= r.hi);
  }
  allocate(): string {
    for (const r of this.ranges) {
      for (let v = r.lo; v <= r.hi; v++) {
        if (!this.used.has(v)) {
          this.used.add(v);
          return formatIPv4(v);
        }
      }
    }
    throw new IpamError('IPAM_FULL', this.spec.join(','), `no available IP in the LoadBalancer pool ${this.spec.join(',') || '(empty)'}`);
  }
  allocateSpecific(ip: string): string {
    const v = parseIPv4(ip);
    if (!this.contains(ip)) throw new IpamError('IPAM_OUT_OF_RANGE', ip, `${ip} is not in the LoadBalancer pool ${this.spec.join(',')}`);
    if (this.used.has(v)) throw new IpamError('IPAM_IN_USE', ip, `${ip} is already allocated`);
    this.used.add(v);
    return ip;
  }
  release(ip: string): void {
    this.used.delete(parseIPv4(ip));
  }
}
