/**
 * A NAT gateway with floating IPs (devices layer), the way Neutron's L3
 * agent builds one: a Linux router whose addresses and iptables nat rules
 * do the work.
 *
 * What: `natGatewayHost(sim, name, spec)` makes a `Host` with forwarding on:
 *  - `outside`: the interface towards the provider network, its address and
 *    the upstream gateway (the default route);
 *  - `inside`: one interface per private subnet;
 *  - SNAT for the private subnets (or the CIDRs `sources` lists) leaving by `outside`, to `pool` (a range
 *    of provider addresses; nf_nat picks one per source/destination pair)
 *    or, by default, the outside address;
 *  - floating IPs (1:1 NAT): DNAT of the public address to the private one
 *    in PREROUTING and OUTPUT, SNAT of the private one to the public one
 *    leaving by `outside`, before the pool rule;
 *  - port forwards: DNAT of (outside address, protocol, port) to a private
 *    address and port.
 * The public addresses (pool and floating IPs) are added to the outside
 * interface as /32s, as the L3 agent does on its qg- port, so the gateway
 * answers ARP for them. `natGatewayRules(spec)` is the iptables-restore
 * text on its own (the kernel tests load the same text into a namespace).
 * Errors: an address or range that does not parse, a floating IP or port
 * forward target outside every inside subnet: `InputError` naming the field.
 * Neighbours: netstack/host.ts (the router), netfilter/ (the rules),
 * topology/ (builds it).
 */
import type { Sim } from '../sim/engine.js';
import { Host, type RouteSpec } from '../netstack/host.js';
import { ipv4ToString, parseIpv4 } from '../wire/bytes.js';
import { InputError } from '../errors.js';

export interface NatGatewaySpec {
  outside: { iface?: string; addr: string; gw?: string };
  inside: { iface?: string; addr: string }[];
  /** SNAT pool on the provider network: 'a.b.c.d' or 'a.b.c.d-a.b.c.e'; default the outside address */
  pool?: string;
  floatingIps?: { ip: string; to: string }[];
  /** the private CIDRs SNATed to the pool (default: the inside subnets); an AWS NAT gateway's VPC CIDRs */
  sources?: string[];
  portForwards?: { proto: 'tcp' | 'udp'; port: number; to: string }[];
  routes?: RouteSpec[];
}

function addr(s: string, field: string): number {
  const a = parseIpv4(s);
  if (a === null) throw new InputError('NAT_BAD_ADDRESS', field, `'${s}' is not an IPv4 address`);
  return a;
}
function cidrOf(s: string, field: string): { addr: number; len: number } {
  const [a, l] = s.split('/');
  const len = Number(l);
  if (l === undefined || !Number.isInteger(len) || len < 0 || len > 32) throw new InputError('NAT_BAD_ADDRESS', field, `'${s}' is not an address with a prefix length`);
  return { addr: addr(a!, field), len };
}
const net = (c: { addr: number; len: number }): string => `${ipv4ToString(c.len === 0 ? 0 : (c.addr & (0xffffffff << (32 - c.len))) >>> 0)}/${c.len}`;
const inside = (a: number, c: { addr: number; len: number }): boolean => c.len === 0 || ((a ^ c.addr) >>> (32 - c.len)) === 0;

/** The pool's addresses: [first, last]. */
function poolRange(spec: NatGatewaySpec): [number, number] {
  if (spec.pool === undefined) { const o = cidrOf(spec.outside.addr, 'outside.addr').addr; return [o, o]; }
  const [a, b] = spec.pool.split('-');
  const lo = addr(a!, 'pool'), hi = b === undefined ? lo : addr(b, 'pool');
  if (hi < lo) throw new InputError('NAT_BAD_POOL', 'pool', `'${spec.pool}' ends before it starts`);
  return [lo, hi];
}

/** The gateway's iptables-restore text. */
export function natGatewayRules(spec: NatGatewaySpec): string {
  const out = spec.outside.iface ?? 'eth0';
  const outsideAddr = cidrOf(spec.outside.addr, 'outside.addr');
  const subnets = spec.inside.map((s, i) => cidrOf(s.addr, `inside[${i}].addr`));
  const privateTarget = (to: string, field: string): string => {
    const ip = to.split(':')[0]!;
    if (!subnets.some((c) => inside(addr(ip, field), c))) throw new InputError('NAT_OUTSIDE_SUBNETS', field, `${to} is in none of the inside subnets`);
    return to;
  };
  const lines = ['*nat', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]'];
  (spec.floatingIps ?? []).forEach((f, i) => {
    addr(f.ip, `floatingIps[${i}].ip`);
    const to = privateTarget(f.to, `floatingIps[${i}].to`);
    lines.push(`-A PREROUTING -d ${f.ip}/32 -j DNAT --to-destination ${to}`, `-A OUTPUT -d ${f.ip}/32 -j DNAT --to-destination ${to}`);
  });
  (spec.portForwards ?? []).forEach((p, i) => {
    const to = privateTarget(p.to, `portForwards[${i}].to`);
    lines.push(`-A PREROUTING -d ${ipv4ToString(outsideAddr.addr)}/32 -p ${p.proto} -m ${p.proto} --dport ${p.port} -j DNAT --to-destination ${to}`);
  });
  for (const f of spec.floatingIps ?? []) lines.push(`-A POSTROUTING -s ${f.to}/32 -o ${out} -j SNAT --to-source ${f.ip}`);
  const [lo, hi] = poolRange(spec);
  const pool = lo === hi ? ipv4ToString(lo) : `${ipv4ToString(lo)}-${ipv4ToString(hi)}`;
  const sources = spec.sources === undefined ? subnets : spec.sources.map((s, i) => cidrOf(s, `sources[${i}]`));
  for (const c of sources) lines.push(`-A POSTROUTING -s ${net(c)} -o ${out} -j SNAT --to-source ${pool}`);
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/** The addresses the outside interface carries: its own, then the pool and the floating IPs as /32s. */
export function natGatewayOutsideAddrs(spec: NatGatewaySpec): string[] {
  const own = cidrOf(spec.outside.addr, 'outside.addr');
  const extra = new Set<number>();
  const [lo, hi] = poolRange(spec);
  if (hi - lo > 4096) throw new InputError('NAT_BAD_POOL', 'pool', 'a pool of more than 4096 addresses');
  for (let a = lo; a <= hi; a++) if (a !== own.addr) extra.add(a);
  (spec.floatingIps ?? []).forEach((f, i) => extra.add(addr(f.ip, `floatingIps[${i}].ip`)));
  return [spec.outside.addr, ...[...extra].map((a) => `${ipv4ToString(a)}/32`)];
}

/** The gateway as a router host on 'sim'. */
export function natGatewayHost(sim: Sim, name: string, spec: NatGatewaySpec): Host {
  const out = spec.outside.iface ?? 'eth0';
  const routes: RouteSpec[] = [...(spec.routes ?? [])];
  if (spec.outside.gw !== undefined) routes.push({ dst: 'default', via: spec.outside.gw, dev: out });
  return new Host(sim, name, {
    ipForward: true,
    ifaces: [{ name: out, addrs: natGatewayOutsideAddrs(spec) },
      ...spec.inside.map((s, i) => ({ name: s.iface ?? `eth${i + 1}`, addrs: [s.addr] }))],
    routes,
    rules: natGatewayRules(spec),
  });
}
