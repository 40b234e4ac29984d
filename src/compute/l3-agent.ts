/**
 * neutron-l3-agent on a network node, legacy (centralized, non-DVR) routers
 * (compute layer, slow path).
 *
 * What: `L3Agent.syncRouter(info)` makes or updates the namespace
 * `qrouter-<id>` — a `Host` with forwarding on — the way the agent's
 * RouterInfo.process() leaves it:
 *  - one `qr-<port id[:11]>` interface per router interface: the port's
 *    MAC, its address with the subnet's prefix length, linked to the port
 *    the `plugger` (br-int of this node) hands out for that port;
 *  - the `qg-…` gateway interface, linked to the `external` plugger's
 *    port, with its address, each floating IP as a /32 (as the agent's
 *    add_floating_ip does, so the router answers ARP for it), the default
 *    route via the external subnet's gateway, then the extra routes, each
 *    on the interface whose subnet holds its nexthop;
 *  - the iptables rules of router_info.py / iptables_manager.py, loaded as
 *    one full iptables-restore (`legacyRouterRules`; every table replaced,
 *    which leaves the state the agent's `iptables-restore -n` diffs reach
 *    on a namespace only the agent writes). Per table, in the agent's
 *    order (Python sorts its wrapped chain names; rules in the order the
 *    agent adds them, `top` rules first):
 *      filter: FORWARD/OUTPUT → neutron-filter-top → neutron-l3-agent-local;
 *        INPUT/OUTPUT/FORWARD → neutron-l3-agent-*; FORWARD → scope, and
 *        per qr- (and qg- when SNAT is off) `-o DEV -m mark ! --mark
 *        0x4000000/0xffff0000 -j DROP` (the default address scope's mark:
 *        id 1024 << 16);
 *      mangle: the five hooks → neutron-l3-agent-*; PREROUTING → mark,
 *        scope, the CONNMARK restore of the scope bits (0xffff0000) for a
 *        connection that has them, floatingip; float-snat and (SNAT on) the
 *        wrapped POSTROUTING `-o qg-…` save those bits to the connection;
 *        mark: `-i qg-… -j MARK --set-xmark 0x2/0xffff`
 *        (external_ingress_mark / ROUTER_MARK_MASK); scope: per device
 *        `-i DEV -j MARK --set-xmark 0x4000000/0xffff0000`;
 *      nat: PREROUTING/OUTPUT/POSTROUTING → neutron-l3-agent-*; POSTROUTING
 *        → neutron-postrouting-bottom → (comment "Perform source NAT on
 *        outgoing traffic.") snat; snat → float-snat first, then `-o qg-…
 *        -j SNAT --to-source GW --random-fully` (SNAT on only), then `-m
 *        mark ! --mark 0x2/0xffff -m conntrack --ctstate DNAT -j SNAT
 *        --to-source GW --random-fully` (hairpin to a floating IP); the
 *        wrapped POSTROUTING `! -o qg-… -m conntrack ! --ctstate DNAT -j
 *        ACCEPT` (east-west traffic is not NATed; neutron dropped the
 *        `! -i qg-…` of older releases in 2019, commit dfa37b2); per
 *        floating IP `-d FIP/32 -j DNAT --to-destination FIXED` in
 *        PREROUTING and OUTPUT and `-s FIXED/32 -j SNAT --to-source FIP
 *        --random-fully` in float-snat (no `-o`: a VM reaching another's
 *        floating IP leaves from its own);
 *      raw: PREROUTING/OUTPUT → neutron-l3-agent-*.
 *    Only the one default address scope exists here (no address scopes in
 *    RouterInfo): every device carries its mark, so no floating IP gets
 *    the floatingip/FORWARD rules of a scope crossing. With
 *    `metadata` (enable_metadata_proxy, default on) also the metadata
 *    rules: mangle PREROUTING marks 0x1/0xffff a request to
 *    169.254.169.254:80 from a qr- device, nat PREROUTING REDIRECTs it to
 *    9697, filter INPUT accepts the marked and drops other packets to
 *    9697 (the filter scope's metadata DROP is gone, as the agent's own
 *    empty_chain('scope') leaves it); the metadata driver adds them after
 *    the router's first process(), so the REDIRECT follows the floating
 *    IP DNATs (the agent re-adds those on a change, after it: the two
 *    never match the same packet). No proxy listens: a request is refused.
 *  A re-sync changes only what changed: interfaces plugged or unplugged
 *  (`ip link del`, the plugger's unplug), addresses, routes; the rules are
 *  restored only when their text changed. A floating IP that goes loses
 *  its /32 and the conntrack entries of its mapping, as the agent's
 *  delete_addr_and_conntrack_state runs `conntrack -D -d FIP` and
 *  `conntrack -D -q FIP` — nothing else. A floating IP moved to another
 *  fixed IP keeps its entries (move_floating_ip does nothing to them).
 * `syncNatGateway(info)`: an AWS-style NAT gateway in `qnat-<id>`: a `qn-`
 * interface in the VPC subnet, a `qg-` one with the elastic IP, the
 * default route upstream, routes back to the VPC CIDRs outside its own
 * subnet via that subnet's gateway (`insideGateway`, default its first
 * address, Neutron's default gateway_ip; none when the NAT gateway holds
 * that address itself — a subnet without a router), and the SNAT of `sources` to the
 * elastic IP leaving by qg- (devices/nat-gateway.ts `natGatewayRules`). A
 * change of port or address rebuilds it; a change of sources or routes
 * updates it in place.
 * Hooking up: `plugger.plug(host, port)` returns an unlinked `Port` on
 * br-int of node 'host' for that port (the OVS agent binds it as a VM's:
 * local VLAN of its network, no security groups since portSecurity is
 * false), `external.plug` one on the external network (br-ex / the
 * provider bridge); the agent links its qr-/qg-/qn- interface to it
 * (`opts.link`) and calls `unplug(host, portId)` when the interface goes.
 * The control plane calls syncRouter/syncNatGateway on routerChanged /
 * natGatewayChanged and deleteRouter/deleteNatGateway on the deletes.
 * Checked against the kernel: test/compute/l3-agent-kernel.test.ts runs
 * the same namespaces (addresses, routes, this rules text) in `ip netns`
 * and compares NAT, conntrack and iptables-save.
 * Cost: slow path — a sync is a diff of a few interfaces and one restore;
 * packets cost what any Host costs.
 * Errors: inconsistent input is an `L3AgentError` naming the field
 * (`interfaces[1].cidr`, `floatingIps[0].floatingIp`) before anything
 * changes: an address that does not parse, an interface CIDR whose
 * address is not one of its port's fixed IPs, overlapping router subnets,
 * two interfaces with one device name, a floating IP inside one of the
 * router's subnets or equal to its gateway address, a floating IP's fixed
 * IP in none of them, floating IPs without a gateway, a nexthop on no
 * subnet of the router, a namespace name another node already holds.
 * Not done — DVR (follow-up): distributed routers need, per compute node,
 * a `qrouter-` namespace with the same qr- ports (same MACs rewritten to
 * the host's DVR MAC by br-int/br-tun flows), the `fip-<ext net>`
 * namespace with its `fg-` port and the rfp-/fpr- veth pair, policy
 * routing (`ip rule` tables per floating IP — route.ts has no policy
 * rules yet), and a `snat-<id>` namespace with `sg-` ports on the network
 * node for SNAT; the floating IP rules then live on the compute node.
 * Also not done: HA routers (keepalived), IPv6, gratuitous ARPs after
 * adding a floating IP (send_ip_addr_adv_notif), port forwardings,
 * conntrack helpers, QoS.
 * Neighbours: types.ts (RouterInfo, NatGatewayInfo, PortPlugger),
 * netstack/host.ts (the namespace), netfilter/ (restore, save),
 * conntrack/linux.ts (`deleteWhere`), devices/nat-gateway.ts, topology/.
 */
import { InputError } from '../errors.js';
import { Host, type RouteSpec } from '../netstack/host.js';
import { parseRestore } from '../netfilter/restore.js';
import { formatSave } from '../netfilter/save.js';
import type { Topology } from '../topology/topology.js';
import type { LinkOptions } from '../sim/link.js';
import { natGatewayRules } from '../devices/nat-gateway.js';
import { ipv4ToString, parseIpv4 } from '../wire/bytes.js';
import { devName, type NatGatewayInfo, type PortInfo, type PortPlugger, type RouterInfo } from './types.js';

/** Inconsistent router or NAT gateway input; 'field' is the path in the record given (`interfaces[0].cidr`). */
export class L3AgentError extends InputError {
  constructor(code: string, field: string, message: string) {
    super(code, field, message);
    this.name = 'L3AgentError';
  }
  /** the field path of the refused input (InputError's 'path') */
  get field(): string { return this.path; }
}

export interface L3AgentOptions {
  /** the network node's name (what the pluggers are told) */
  host: string;
  /** br-int of that node: plugs the qr- (and qn-) ports */
  plugger: PortPlugger;
  /** the external network: plugs the qg- ports */
  external: PortPlugger;
  /** the links between a namespace and the pluggers' ports (default: the topology's default link) */
  link?: LinkOptions;
  /** enable_metadata_proxy (default true): the metadata driver's rules (no proxy listens: a request is refused) */
  metadata?: boolean;
}

/** A NAT gateway as syncNatGateway takes it: NatGatewayInfo plus where the VPC's other subnets are (local extension). */
export interface NatGatewaySync extends NatGatewayInfo {
  /** the inside subnet's gateway, the next hop back to `sources` outside that subnet (default: its first address) */
  insideGateway?: string;
}

/** iptables_manager's wrap name: the binary name, at most 16 characters. */
const WRAP = 'neutron-l3-agent';
/** the agent's external_ingress_mark and neutron-lib's ROUTER_MARK_MASK */
const EXT_MARK = '0x2/0xffff';
/** the default address scope's mark (ADDRESS_SCOPE_MARK_ID_MIN 1024 << 16) and ADDRESS_SCOPE_MARK_MASK */
const SCOPE_MARK = '0x4000000/0xffff0000';
/** the metadata proxy's port and metadata_access_mark (with ROUTER_MARK_MASK) */
const MD_PORT = 9697, MD_MARK = '0x1/0xffff';
/** ic.SNAT_OUT */
const SNAT_OUT = 'Perform source NAT on outgoing traffic.';

interface Cidr { addr: number; len: number }
const maskOf = (len: number): number => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);
const inside = (a: number, c: Cidr): boolean => ((a ^ c.addr) & maskOf(c.len)) === 0;
const overlap = (a: Cidr, b: Cidr): boolean => inside(a.addr, { addr: b.addr, len: Math.min(a.len, b.len) });
const netText = (c: Cidr): string => `${ipv4ToString((c.addr & maskOf(c.len)) >>> 0)}/${c.len}`;

function ip(s: unknown, field: string): number {
  const a = typeof s === 'string' ? parseIpv4(s) : null;
  if (a === null) throw new L3AgentError('L3_BAD_ADDRESS', field, `'${String(s)}' is not an IPv4 address`);
  return a;
}
function cidr(s: unknown, field: string): Cidr {
  const [a, l] = typeof s === 'string' ? s.split('/') : [];
  const len = Number(l);
  if (l === undefined || !/^\d+$/.test(l) || len > 32) throw new L3AgentError('L3_BAD_CIDR', field, `'${String(s)}' is not an IPv4 address with a prefix length`);
  return { addr: ip(a, field), len };
}
function checkMac(p: PortInfo, field: string): void {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(p.mac)) throw new L3AgentError('L3_BAD_MAC', `${field}.mac`, `'${p.mac}' is not a MAC address`);
}
/** The port's address: 'c' must be one of its fixed IPs. */
function checkFixed(p: PortInfo, c: Cidr, field: string): void {
  if (!p.fixedIps.includes(ipv4ToString(c.addr))) {
    throw new L3AgentError('L3_FIXED_IP_MISMATCH', field, `${ipv4ToString(c.addr)}/${c.len} is not an address of port ${p.id} (fixed IPs: ${p.fixedIps.join(', ') || 'none'})`);
  }
}

/** One interface of a namespace as it is to be: its device, port, MAC and addresses (primary first). */
export interface NsIface { dev: string; port: PortInfo; mac: string; addrs: string[]; external: boolean }

/** What a router's namespace is to hold: interfaces and routes (dev, via) in the order they are added. */
export interface RouterLayout { ifaces: NsIface[]; routes: RouteSpec[] }

/**
 * Check 'info' as the L3 agent's server side would have (module comment, Errors) and return the
 * namespace's layout. Throws L3AgentError naming the field.
 */
export function routerLayout(info: RouterInfo): RouterLayout {
  if (typeof info.id !== 'string' || info.id === '') throw new L3AgentError('L3_BAD_ID', 'id', 'a router needs an id');
  const subnets: { c: Cidr; dev: string }[] = [];
  const ifaces: NsIface[] = [];
  const devs = new Set<string>();
  info.interfaces.forEach((itf, i) => {
    const f = `interfaces[${i}]`;
    const c = cidr(itf.cidr, `${f}.cidr`);
    checkMac(itf.port, `${f}.port`);
    checkFixed(itf.port, c, `${f}.cidr`);
    const dev = devName('qr-', itf.port.id);
    if (devs.has(dev)) throw new L3AgentError('L3_DUPLICATE_DEVICE', `${f}.port.id`, `device ${dev} is already another interface's (port ids share their first 11 characters)`);
    devs.add(dev);
    const other = subnets.find((s) => overlap(s.c, c));
    if (other !== undefined) throw new L3AgentError('L3_OVERLAPPING_SUBNET', `${f}.cidr`, `${netText(c)} overlaps ${netText(other.c)} of ${other.dev}`);
    subnets.push({ c, dev });
    ifaces.push({ dev, port: itf.port, mac: itf.port.mac, addrs: [itf.cidr], external: false });
  });
  const routes: RouteSpec[] = [];
  const g = info.gateway;
  let gw: { c: Cidr; dev: string } | null = null;
  if (g !== undefined) {
    const c = cidr(g.cidr, 'gateway.cidr');
    checkMac(g.port, 'gateway.port');
    checkFixed(g.port, c, 'gateway.cidr');
    const other = subnets.find((s) => overlap(s.c, c));
    if (other !== undefined) throw new L3AgentError('L3_OVERLAPPING_SUBNET', 'gateway.cidr', `${netText(c)} overlaps ${netText(other.c)} of ${other.dev}`);
    const hop = ip(g.nexthop, 'gateway.nexthop');
    if (!inside(hop, c) || hop === c.addr) throw new L3AgentError('L3_BAD_NEXTHOP', 'gateway.nexthop', `${g.nexthop} is not another address of ${netText(c)}`);
    gw = { c, dev: devName('qg-', g.port.id) };
    const fipAddrs: string[] = [];
    const seen = new Map<number, number>();
    const fixedSeen = new Map<number, number>();
    info.floatingIps.forEach((fip, i) => {
      const f = `floatingIps[${i}]`;
      const a = ip(fip.floatingIp, `${f}.floatingIp`);
      const own = subnets.find((s) => inside(a, s.c));
      if (own !== undefined) throw new L3AgentError('L3_FIP_IN_SUBNET', `${f}.floatingIp`, `${fip.floatingIp} lies in the router's subnet ${netText(own.c)}`);
      if (a === c.addr) throw new L3AgentError('L3_FIP_IS_GATEWAY', `${f}.floatingIp`, `${fip.floatingIp} is the router's gateway address`);
      if (seen.has(a)) throw new L3AgentError('L3_DUPLICATE_FIP', `${f}.floatingIp`, `${fip.floatingIp} is already floatingIps[${seen.get(a)}]`);
      seen.set(a, i);
      const fixed = ip(fip.fixedIp, `${f}.fixedIp`);
      if (!subnets.some((s) => inside(fixed, s.c))) throw new L3AgentError('L3_FIXED_IP_UNROUTED', `${f}.fixedIp`, `${fip.fixedIp} is in none of the router's subnets`);
      if (fixedSeen.has(fixed)) throw new L3AgentError('L3_DUPLICATE_FIXED_IP', `${f}.fixedIp`, `${fip.fixedIp} already has floatingIps[${fixedSeen.get(fixed)}]`);
      fixedSeen.set(fixed, i);
      fipAddrs.push(`${fip.floatingIp}/32`);
    });
    ifaces.push({ dev: gw.dev, port: g.port, mac: g.port.mac, addrs: [g.cidr, ...fipAddrs], external: true });
    routes.push({ dst: 'default', via: g.nexthop, dev: gw.dev });
  } else if (info.floatingIps.length > 0) {
    throw new L3AgentError('L3_FIP_WITHOUT_GATEWAY', 'floatingIps', 'floating IPs need the router to have an external gateway');
  }
  const all = gw === null ? subnets : [...subnets, gw];
  info.routes.forEach((r, i) => {
    const f = `routes[${i}]`;
    const d = cidr(r.destination, `${f}.destination`);
    if ((d.addr & maskOf(d.len)) >>> 0 !== d.addr) throw new L3AgentError('L3_BAD_CIDR', `${f}.destination`, `${r.destination} has host bits set`);
    const hop = ip(r.nexthop, `${f}.nexthop`);
    const on = all.find((s) => inside(hop, s.c));
    if (on === undefined) throw new L3AgentError('L3_BAD_NEXTHOP', `${f}.nexthop`, `${r.nexthop} is on none of the router's subnets`);
    routes.push({ dst: d.len === 0 ? 'default' : r.destination, via: r.nexthop, dev: on.dev });
  });
  return { ifaces, routes };
}

/** One table's restore block: built-in chains, the agent's chains (wrapped ones sorted, then unwrapped), rules. */
function block(table: string, builtins: string[], wrapped: string[], unwrapped: string[], rules: string[]): string[] {
  return [`*${table}`, ...builtins.map((c) => `:${c} ACCEPT [0:0]`),
    ...[...wrapped].sort().map((c) => `:${WRAP}-${c} - [0:0]`), ...[...unwrapped].sort().map((c) => `:${c} - [0:0]`),
    ...rules, 'COMMIT'];
}

/** `-A BUILTIN -j neutron-l3-agent-BUILTIN` for each of 'chains' (_configure_builtin_chains). */
const wrapJumps = (chains: string[]): string[] => chains.map((c) => `-A ${c} -j ${WRAP}-${c}`);

/**
 * The iptables-restore text neutron-l3-agent leaves in a legacy router's namespace for 'info'
 * (module comment). Throws L3AgentError for inconsistent input.
 */
export function legacyRouterRules(info: RouterInfo, opts: { metadata?: boolean } = {}): string {
  routerLayout(info);
  const md = opts.metadata ?? true;
  const qr = info.interfaces.map((i) => devName('qr-', i.port.id));
  const g = info.gateway;
  const qg = g === undefined ? null : devName('qg-', g.port.id);
  const gwIp = g === undefined ? '' : g.cidr.split('/')[0]!;
  const w = (c: string): string => `${WRAP}-${c}`;

  // filter: neutron-filter-top (top rules first), the wrapped built-ins, address scope drops
  const scopeDrop = [...qr, ...(qg !== null && !g!.snat ? [qg] : [])].map((d) => `-A ${w('scope')} -o ${d} -m mark ! --mark ${SCOPE_MARK} -j DROP`);
  const filter = block('filter', ['INPUT', 'FORWARD', 'OUTPUT'], ['FORWARD', 'INPUT', 'OUTPUT', 'local', 'scope'], ['neutron-filter-top'], [
    '-A FORWARD -j neutron-filter-top', '-A OUTPUT -j neutron-filter-top',
    `-A neutron-filter-top -j ${w('local')}`,
    ...wrapJumps(['INPUT', 'OUTPUT', 'FORWARD']),
    `-A ${w('FORWARD')} -j ${w('scope')}`,
    ...scopeDrop,
    // the metadata driver's (after the router's first process)
    ...(md ? [`-A ${w('INPUT')} -m mark --mark ${MD_MARK} -j ACCEPT`, `-A ${w('INPUT')} -p tcp -m tcp --dport ${MD_PORT} -j DROP`] : []),
  ]);

  // mangle: the ingress mark on qg-, address scope marks per device
  const mangle = block('mangle', ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
    ['FORWARD', 'INPUT', 'OUTPUT', 'POSTROUTING', 'PREROUTING', 'float-snat', 'floatingip', 'mark', 'scope'], [], [
      ...wrapJumps(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']),
      `-A ${w('PREROUTING')} -j ${w('mark')}`, `-A ${w('PREROUTING')} -j ${w('scope')}`,
      `-A ${w('PREROUTING')} -m connmark ! --mark 0x0/0xffff0000 -j CONNMARK --restore-mark --nfmask 0xffff0000 --ctmask 0xffff0000`,
      `-A ${w('PREROUTING')} -j ${w('floatingip')}`,
      // initialize_metadata_iptables: requests for the metadata address from a qr- device
      ...(md ? [`-A ${w('PREROUTING')} -d 169.254.169.254/32 -i qr-+ -p tcp -m tcp --dport 80 -j MARK --set-xmark ${MD_MARK}`] : []),
      `-A ${w('float-snat')} -m connmark --mark 0x0/0xffff0000 -j CONNMARK --save-mark --nfmask 0xffff0000 --ctmask 0xffff0000`,
      // process_external_port_address_scope_routing (SNAT on): the scope mark of a connection leaving by qg-
      ...(qg !== null && g!.snat ? [`-A ${w('POSTROUTING')} -o ${qg} -m connmark --mark 0x0/0xffff0000 -j CONNMARK --save-mark --nfmask 0xffff0000 --ctmask 0xffff0000`] : []),
      ...(qg !== null ? [`-A ${w('mark')} -i ${qg} -j MARK --set-xmark ${EXT_MARK}`] : []),
      ...[...qr, ...(qg !== null ? [qg] : [])].map((d) => `-A ${w('scope')} -i ${d} -j MARK --set-xmark ${SCOPE_MARK}`),
    ]);

  // nat: postrouting-bottom → snat → float-snat; the gateway's SNAT; floating IPs
  const nat: string[] = [
    ...wrapJumps(['PREROUTING', 'OUTPUT', 'POSTROUTING']),
    '-A POSTROUTING -j neutron-postrouting-bottom',
    `-A neutron-postrouting-bottom -m comment --comment "${SNAT_OUT}" -j ${w('snat')}`,
    `-A ${w('snat')} -j ${w('float-snat')}`,
  ];
  if (qg !== null) {
    if (g!.snat) nat.push(`-A ${w('snat')} -o ${qg} -j SNAT --to-source ${gwIp} --random-fully`);
    nat.push(`-A ${w('POSTROUTING')} ! -o ${qg} -m conntrack ! --ctstate DNAT -j ACCEPT`,
      `-A ${w('snat')} -m mark ! --mark ${EXT_MARK} -m conntrack --ctstate DNAT -j SNAT --to-source ${gwIp} --random-fully`);
  }
  for (const f of info.floatingIps) {
    nat.push(`-A ${w('PREROUTING')} -d ${f.floatingIp}/32 -j DNAT --to-destination ${f.fixedIp}`,
      `-A ${w('OUTPUT')} -d ${f.floatingIp}/32 -j DNAT --to-destination ${f.fixedIp}`,
      `-A ${w('float-snat')} -s ${f.fixedIp}/32 -j SNAT --to-source ${f.floatingIp} --random-fully`);
  }
  if (md) nat.push(`-A ${w('PREROUTING')} -d 169.254.169.254/32 -i qr-+ -p tcp -m tcp --dport 80 -j REDIRECT --to-ports ${MD_PORT}`);
  const natBlock = block('nat', ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'], ['OUTPUT', 'POSTROUTING', 'PREROUTING', 'float-snat', 'snat'],
    ['neutron-postrouting-bottom'], nat);

  const raw = block('raw', ['PREROUTING', 'OUTPUT'], ['OUTPUT', 'PREROUTING'], [], wrapJumps(['PREROUTING', 'OUTPUT']));
  // iptables_manager applies the tables in sorted order
  return [...filter, ...mangle, ...natBlock, ...raw, ''].join('\n');
}

/** A NAT gateway's layout and rules, checked. */
export function natGatewayLayout(info: NatGatewaySync): { ifaces: NsIface[]; routes: RouteSpec[]; rules: string } {
  if (typeof info.id !== 'string' || info.id === '') throw new L3AgentError('L3_BAD_ID', 'id', 'a NAT gateway needs an id');
  const inC = cidr(info.inside.cidr, 'inside.cidr');
  checkMac(info.inside.port, 'inside.port');
  checkFixed(info.inside.port, inC, 'inside.cidr');
  const outC = cidr(info.outside.cidr, 'outside.cidr');
  checkMac(info.outside.port, 'outside.port');
  checkFixed(info.outside.port, outC, 'outside.cidr');
  if (overlap(inC, outC)) throw new L3AgentError('L3_OVERLAPPING_SUBNET', 'outside.cidr', `${netText(outC)} overlaps the inside subnet ${netText(inC)}`);
  const hop = ip(info.outside.nexthop, 'outside.nexthop');
  if (!inside(hop, outC) || hop === outC.addr) throw new L3AgentError('L3_BAD_NEXTHOP', 'outside.nexthop', `${info.outside.nexthop} is not another address of ${netText(outC)}`);
  const back = info.insideGateway === undefined ? ((inC.addr & maskOf(inC.len)) + 1) >>> 0 : ip(info.insideGateway, 'insideGateway');
  // the gateway is the subnet's gateway itself (no router there): the rest of the VPC is not routed back
  const routedBack = info.insideGateway !== undefined || back !== inC.addr;
  if (routedBack && (!inside(back, inC) || back === inC.addr)) throw new L3AgentError('L3_BAD_NEXTHOP', 'insideGateway', `${ipv4ToString(back)} is not another address of ${netText(inC)}`);
  const qn = devName('qn-', info.inside.port.id), qg = devName('qg-', info.outside.port.id);
  const routes: RouteSpec[] = [{ dst: 'default', via: info.outside.nexthop, dev: qg }];
  const sources = info.sources.map((s, i) => {
    const c = cidr(s, `sources[${i}]`);
    if (overlap(c, outC)) throw new L3AgentError('L3_OVERLAPPING_SUBNET', `sources[${i}]`, `${s} overlaps the outside subnet ${netText(outC)}`);
    // a VPC CIDR beyond the gateway's own subnet is reached through that subnet's gateway
    if (routedBack && !(c.len >= inC.len && inside(c.addr, inC))) routes.push({ dst: netText(c), via: ipv4ToString(back), dev: qn });
    return netText(c);
  });
  const rules = natGatewayRules({ outside: { iface: qg, addr: info.outside.cidr }, inside: [{ iface: qn, addr: info.inside.cidr }], sources });
  return {
    ifaces: [{ dev: qn, port: info.inside.port, mac: info.inside.port.mac, addrs: [info.inside.cidr], external: false },
      { dev: qg, port: info.outside.port, mac: info.outside.port.mac, addrs: [info.outside.cidr], external: true }],
    routes, rules,
  };
}

/** What the agent last applied to a namespace. */
interface NsState {
  host: Host;
  kind: 'router' | 'nat';
  /** by port id */
  ifaces: Map<string, NsIface>;
  routes: RouteSpec[];
  rules: string;
  /** floating IP → fixed IP (routers) */
  fips: Map<string, string>;
  /** the NAT gateway's record as applied (to tell a rebuild from an update) */
  natKey: string;
}

const routeKey = (r: RouteSpec): string => `${r.dst} via ${r.via ?? ''} dev ${r.dev}`;

/** Does 'h' hold route 'r' (as addRoute took it)? */
function hostHas(h: Host, r: RouteSpec): boolean {
  const d = r.dst === 'default' ? { addr: 0, len: 0 } : cidr(r.dst, 'route');
  const via = r.via === undefined ? null : parseIpv4(r.via);
  return h.config.routes.some((x) => x.net === d.addr && x.prefixLen === d.len && x.dev === r.dev && x.via === via);
}

export class L3Agent {
  private readonly routers = new Map<string, NsState>();
  private readonly nats = new Map<string, NsState>();

  constructor(readonly topology: Topology, private readonly opts: L3AgentOptions) {}

  /** The ids of the routers this agent hosts. */
  get routerIds(): string[] { return [...this.routers.keys()]; }

  /**
   * Make or update router 'info.id''s namespace `qrouter-<id>` (module comment). Throws
   * L3AgentError, changing nothing, for inconsistent input.
   */
  syncRouter(info: RouterInfo): Host {
    const layout = routerLayout(info);
    const rules = legacyRouterRules(info, { metadata: this.opts.metadata ?? true });
    let st = this.routers.get(info.id);
    if (st === undefined) {
      st = this.create(`qrouter-${info.id}`, 'router', 'id', rules);
      this.routers.set(info.id, st);
    }
    const fips = new Map(info.floatingIps.map((f) => [f.floatingIp, f.fixedIp]));
    // the floating IPs that go: their /32 and their connections, after the rules stop mapping them
    const gone = [...st.fips.keys()].filter((f) => !fips.has(f));
    this.apply(st, layout.ifaces, layout.routes, rules);
    for (const f of gone) {
      const a = parseIpv4(f)!;
      st.host.ip.ct.deleteWhere({ origDst: a });
      st.host.ip.ct.deleteWhere({ replyDst: a });
    }
    st.fips = fips;
    return st.host;
  }

  /** Remove router 'id': its ports unplugged, its namespace gone. Throws L3AgentError for an unknown id. */
  deleteRouter(id: string): void {
    this.destroy(this.routers, id, 'router');
  }

  /**
   * Make or update NAT gateway 'info.id''s namespace `qnat-<id>` (module comment). Throws
   * L3AgentError, changing nothing, for inconsistent input.
   */
  syncNatGateway(info: NatGatewaySync): Host {
    const layout = natGatewayLayout(info);
    const key = JSON.stringify([info.inside, info.outside]);
    let st = this.nats.get(info.id);
    if (st !== undefined && st.natKey !== key) { this.destroy(this.nats, info.id, 'NAT gateway'); st = undefined; }
    if (st === undefined) {
      st = this.create(`qnat-${info.id}`, 'nat', 'id', layout.rules);
      st.natKey = key;
      this.nats.set(info.id, st);
    }
    this.apply(st, layout.ifaces, layout.routes, layout.rules);
    return st.host;
  }

  /** Remove NAT gateway 'id'. Throws L3AgentError for an unknown id. */
  deleteNatGateway(id: string): void {
    this.destroy(this.nats, id, 'NAT gateway');
  }

  /** `ip netns exec qrouter-<id> iptables-save` (a router's, else a NAT gateway's). */
  iptablesSave(id: string): string {
    return formatSave(this.namespace(id).ip.ev.rs);
  }

  /** The namespace of router (or NAT gateway) 'id'. Throws L3AgentError when there is none. */
  namespace(id: string): Host {
    const st = this.routers.get(id) ?? this.nats.get(id);
    if (st === undefined) throw new L3AgentError('L3_UNKNOWN', 'id', `no router or NAT gateway '${id}' on ${this.opts.host}`);
    return st.host;
  }

  // ---- the namespace ---------------------------------------------------------------------------

  private create(name: string, kind: NsState['kind'], field: string, rules: string): NsState {
    if (this.topology.nodes.has(name)) throw new L3AgentError('L3_DUPLICATE_NAMESPACE', field, `a node named '${name}' already exists`);
    // built with the rules given: netfilter/ fixes its hooks and conntrack when a namespace is made
    // (the agent's rules always hold CONNMARK and connmark rules, so conntrack runs from the start, as in the kernel)
    const host = this.topology.add(new Host(this.topology.sim, name, { ipForward: true, rules: rules }));
    return { host, kind, ifaces: new Map(), routes: [], rules, fips: new Map(), natKey: '' };
  }

  /** Bring namespace 'st' to 'ifaces', 'routes' and 'rules', changing only what differs. */
  private apply(st: NsState, ifaces: NsIface[], routes: RouteSpec[], rules: string): void {
    const h = st.host;
    const want = new Map(ifaces.map((i) => [i.port.id, i]));
    // routes first out (they may go through an interface that goes)
    const keep = new Set(routes.map(routeKey));
    for (const r of st.routes) if (!keep.has(routeKey(r)) && hostHas(h, r)) h.removeRoute(r);
    for (const [id, old] of st.ifaces) {
      const now = want.get(id);
      if (now !== undefined && now.dev === old.dev && now.mac === old.mac && now.addrs[0] === old.addrs[0]) continue;
      h.removeIface(old.dev);
      (old.external ? this.opts.external : this.opts.plugger).unplug(this.opts.host, id);
      st.ifaces.delete(id);
    }
    for (const i of ifaces) {
      const old = st.ifaces.get(i.port.id);
      if (old === undefined) {
        const peer = (i.external ? this.opts.external : this.opts.plugger).plug(this.opts.host, i.port);
        h.addIface({ name: i.dev, mac: i.mac, addrs: i.addrs });
        this.topology.link([h, i.dev], peer, this.opts.link ?? {});
      } else {
        // the same port and primary address: the /32s (floating IPs) added and removed
        for (const a of old.addrs) if (!i.addrs.includes(a)) h.removeAddress(i.dev, a);
        for (const a of i.addrs) if (!old.addrs.includes(a)) h.addAddress(i.dev, a);
      }
      st.ifaces.set(i.port.id, i);
    }
    for (const r of routes) if (!hostHas(h, r)) h.addRoute(r);
    st.routes = routes;
    if (rules !== st.rules) {
      parseRestore(rules, h.ip.ev.rs);
      st.rules = rules;
    }
  }

  private destroy(map: Map<string, NsState>, id: string, what: string): void {
    const st = map.get(id);
    if (st === undefined) throw new L3AgentError('L3_UNKNOWN', 'id', `no ${what} '${id}' on ${this.opts.host}`);
    for (const [portId, i] of st.ifaces) {
      st.host.removeIface(i.dev);
      (i.external ? this.opts.external : this.opts.plugger).unplug(this.opts.host, portId);
    }
    this.topology.nodes.delete(st.host.name);
    map.delete(id);
  }
}
