/**
 * Stateful security groups (devices layer, slow path): Neutron security
 * groups compiled into OpenFlow flows with ct(), as Neutron's openvswitch
 * firewall driver installs them on br-int — so that `ofproto/trace` of an
 * sdnemu bridge (or of a real OVS loaded with the same text) reads like a
 * Neutron compute node.
 *
 * What: `SecurityGroups.compile(ports, groups, opts)` returns ovs-ofctl
 * add-flows text for a whole br-int; an `OvsBridge` (ovs-bridge.ts) loads
 * it with replaceFlows() (a recompile after any change is a full resync),
 * or with addFlows() on a bridge made with `defaultFlows: 'none'` (the
 * base flows use table 0, as the bridge's default learning flows do).
 * Groups hold rules in Neutron's API terms (direction,
 * ethertype, protocol, port_range_min/max — ICMP type/code for ICMP —,
 * remote_ip_prefix or remote_group_id); ports hold what the agent knows of a
 * VIF (ofport, MAC, fixed IPs, allowed address pairs, its groups, its
 * network's local VLAN tag, port security on or off).
 * The flows are the driver's (neutron/agent/linux/openvswitch_firewall/
 * firewall.py and rules.py, read for this module; the code here is ours),
 * in the order the driver adds them, with its tables and registers:
 *   table  0 LOCAL_SWITCHING   priority 0 → 58 → 59 → 60 (br-int defaults,
 *                              written as resubmit(,N) where os-ken writes
 *                              goto_table:N; `baseFlows: false` leaves them
 *                              out), 23 CANARY and 24 ARP_SPOOF drop, 62
 *                              NORMAL
 *   table 60 TRANSIENT         in_port=VM → reg5=ofport, reg6=net, → 71;
 *                              dl_vlan=net,dl_dst=VM MAC (from a patch port)
 *                              → reg5, reg6, strip_vlan, → 81; priority 1
 *                              NORMAL (priority 2 → 94 with
 *                              explicitly_egress_direct)
 *   table 71 BASE_EGRESS       anti-spoofing: ARP only with the port's
 *                              (MAC, IP) pairs, RARP with its MAC, IPv4/IPv6
 *                              only from its pairs → ct(table=72,
 *                              zone=reg6); DHCP client requests → 73 (no
 *                              ct), a DHCP server on the VM and RAs → 93;
 *                              ICMPv6 RS/NS/MLD (and NA for its targets) →
 *                              94; anything else ct_clear → 93; +trk
 *                              packets are ct_clear'ed and looked up again
 *   table 72 RULES_EGRESS      +inv and ct_mark=1 → 93; replies and related
 *                              (+est-rel+rpl, -new-est+rel-inv, ct_mark 0,
 *                              ct_zone=net) → 94; the group's egress rules
 *                              (+est-rel-rpl and +new-est) → 73; -est → 93;
 *                              +est that no rule allows anymore: commit
 *                              with ct_mark=1 (and drop)
 *   table 73 ACCEPT_OR_INGRESS dl_dst = a filtered port of the same
 *                              network → reg5=that port, → 81 (traffic
 *                              between VMs of one bridge meets the
 *                              destination's ingress rules); else a new
 *                              connection is committed (zone=reg6) → 91;
 *                              the rest → 94
 *   table 81 BASE_INGRESS      ARP, ICMPv6 NS/NA/MLD query/RA and DHCP
 *                              offers → output; untracked IP →
 *                              ct(table=82,zone=reg6); tracked → 82
 *   table 82 RULES_INGRESS     as 72, but the accepted packets are output
 *                              to the port (new ones after ct(commit), then
 *                              → 92)
 *   tables 91/92 ACCEPTED_EGRESS/INGRESS_TRAFFIC (91 → 94, 92 drop),
 *   93 DROPPED_TRAFFIC (drop), 94 ACCEPTED_EGRESS_TRAFFIC_NORMAL (NORMAL;
 *   with explicitly_egress_direct also dl_dst=port MAC → output:port).
 * Registers: reg5 = the port's ofport (REG_PORT), reg6 = its network's
 * local VLAN tag (REG_NET, also the conntrack zone — one zone per network),
 * reg7 = the conjunction id that accepted a packet (REG_REMOTE_GROUP).
 * Rule priorities: 70 + flow_priority_offset(rule): +4 unless the flow is
 * a conjunction, then +0 for any protocol, +1 ICMP without type, +2 ICMP
 * with type, +3 otherwise. Port ranges become value/mask matches
 * (port_rule_masking, e.g. 1000-1999 → 0x03e8/0xfff8, …).
 * Remote groups are conjunctive matches, as the driver does: per network
 * one `nw_src=MEMBER/32,reg6=NET actions=conjunction(ID,1/2)` flow per
 * member address (ingress; nw_dst for egress), per port the rule's
 * protocol/port flows with `conjunction(ID,2/2)`, and `conj_id=ID` flows
 * that accept (and load ID into reg7). IDs come from ConjIdMap: a block of
 * 8 per (group, remote group, direction, ethertype) in first-use order,
 * the first block at 16 on a fresh bridge; ID + 2·offset for the rule's
 * priority offset, +1 for the +new-est twin. A group's members are the
 * fixed IPs and allowed-address-pair IPs of the given ports in it, plus the
 * group's `members` (ports elsewhere). Port ranges of rules sharing
 * (direction, ethertype, protocol) are merged into disjoint ranges
 * (merge_port_ranges); other rules by identical ranges (merge_common_rules).
 * Defaults as Neutron's: no rule → nothing allowed in or out (but ARP, DHCP
 * and ND as above); `SecurityGroups.newGroup(id)` is what Neutron creates
 * (egress to anywhere, IPv4 and IPv6; no ingress), `defaultGroup()` also
 * allows ingress from its own members.
 * Not modelled: Neutron's `permitted_ethertypes` default is empty (an
 * option here), hardware offload variants, the tunnel/VLAN direct-output
 * flows that need a patch port (priority 10 of table 94), flat/VLAN
 * provider-network physical direct flows, address groups, stateless
 * security groups, the ct cleanup the agent does by conntrack-tools.
 * Invariants: the text is a function of the inputs only (same input, same
 * text, byte for byte); no two lines share table, priority and match (a
 * later add replaces an earlier one in place, as add-flow would); every
 * line is accepted by ovs-ofctl 3.1 and by sdnemu's parser.
 * `FirewallState` keeps a bridge's firewall compiled as ports come and go
 * and groups change (the OVS agent's br-int, compute/ovs-agent.ts): always
 * the flows compileDetailed would give, a flush returning only the flows
 * that changed (its class comment says how).
 * Cost: slow path, run at configuration time — a full compile is linear
 * in ports × rules, plus members × networks for remote groups; a
 * FirewallState change recompiles only the ports and networks it touches
 * (a port: its ~60 flows; test/devices/security-group-incremental.test.ts
 * checks it against full compiles). Addresses in the common dotted form
 * are parsed without ip-address's parser (it was 8% of a cloud build).
 * Neighbours: ovs-bridge.ts loads the text; ofproto/ parses, classifies
 * (conjunctions in bridge.ts FlowTable) and translates it; conntrack/ runs
 * the ct() actions; test/devices/security-group-ovs.test.ts loads the same
 * text into a real Open vSwitch and compares traces.
 */
import { InputError } from '../errors.js';
import { ipv4ToString, ipv6ToString, parseIpv4, parseIpv6, parseMac } from '../wire/bytes.js';

// ---- Neutron's constants (neutron_lib ovs_constants, agent constants) ------------------------------------

export const LOCAL_SWITCHING = 0;
export const CANARY_TABLE = 23;
export const ARP_SPOOF_TABLE = 24;
export const LOCAL_EGRESS_TABLE = 30;
export const LOCAL_IP_TABLE = 31;
export const PACKET_RATE_LIMIT = 58;
export const BANDWIDTH_RATE_LIMIT = 59;
export const TRANSIENT_TABLE = 60;
export const TRANSIENT_EGRESS_TABLE = 62;
export const BASE_EGRESS_TABLE = 71;
export const RULES_EGRESS_TABLE = 72;
export const ACCEPT_OR_INGRESS_TABLE = 73;
export const BASE_INGRESS_TABLE = 81;
export const RULES_INGRESS_TABLE = 82;
export const ACCEPTED_EGRESS_TRAFFIC_TABLE = 91;
export const ACCEPTED_INGRESS_TRAFFIC_TABLE = 92;
export const DROPPED_TRAFFIC_TABLE = 93;
export const ACCEPTED_EGRESS_TRAFFIC_NORMAL_TABLE = 94;
/** The firewall's own tables, whose unmatched packets are dropped. */
export const OVS_FIREWALL_TABLES = [BASE_EGRESS_TABLE, RULES_EGRESS_TABLE, ACCEPT_OR_INGRESS_TABLE, BASE_INGRESS_TABLE, RULES_INGRESS_TABLE] as const;
/** Table names as Neutron's constants spell them (for reading traces). */
export const TABLE_NAMES: Readonly<Record<number, string>> = {
  [LOCAL_SWITCHING]: 'LOCAL_SWITCHING', [CANARY_TABLE]: 'CANARY_TABLE', [ARP_SPOOF_TABLE]: 'ARP_SPOOF_TABLE',
  [LOCAL_EGRESS_TABLE]: 'LOCAL_EGRESS_TABLE', [LOCAL_IP_TABLE]: 'LOCAL_IP_TABLE', [PACKET_RATE_LIMIT]: 'PACKET_RATE_LIMIT',
  [BANDWIDTH_RATE_LIMIT]: 'BANDWIDTH_RATE_LIMIT', [TRANSIENT_TABLE]: 'TRANSIENT_TABLE', [TRANSIENT_EGRESS_TABLE]: 'TRANSIENT_EGRESS_TABLE',
  [BASE_EGRESS_TABLE]: 'BASE_EGRESS_TABLE', [RULES_EGRESS_TABLE]: 'RULES_EGRESS_TABLE', [ACCEPT_OR_INGRESS_TABLE]: 'ACCEPT_OR_INGRESS_TABLE',
  [BASE_INGRESS_TABLE]: 'BASE_INGRESS_TABLE', [RULES_INGRESS_TABLE]: 'RULES_INGRESS_TABLE',
  [ACCEPTED_EGRESS_TRAFFIC_TABLE]: 'ACCEPTED_EGRESS_TRAFFIC_TABLE', [ACCEPTED_INGRESS_TRAFFIC_TABLE]: 'ACCEPTED_INGRESS_TRAFFIC_TABLE',
  [DROPPED_TRAFFIC_TABLE]: 'DROPPED_TRAFFIC_TABLE', [ACCEPTED_EGRESS_TRAFFIC_NORMAL_TABLE]: 'ACCEPTED_EGRESS_TRAFFIC_NORMAL_TABLE',
};
export const REG_PORT = 5, REG_NET = 6, REG_REMOTE_GROUP = 7;
const DEAD_VLAN_TAG = 4095;

const CT_STATE_NOT_TRACKED = '-trk';
const CT_STATE_TRACKED = '+trk';
const CT_STATE_NEW_NOT_ESTABLISHED = '+new-est';
const CT_STATE_NOT_ESTABLISHED = '-est';
const CT_STATE_ESTABLISHED = '+est';
const CT_STATE_ESTABLISHED_NOT_REPLY = '+est-rel-rpl';
const CT_STATE_ESTABLISHED_REPLY = '+est-rel+rpl';
const CT_STATE_RELATED = '-new-est+rel-inv';
const CT_STATE_INVALID = '+trk+inv';
const CT_MARK_NORMAL = '0x0';
const CT_MARK_INVALID = '0x1';
/** rules.CT_STATES: the twin states every accepting flow is written for */
const CT_STATES = [CT_STATE_ESTABLISHED_NOT_REPLY, CT_STATE_NEW_NOT_ESTABLISHED] as const;

const ETHERTYPE_ARP = 0x0806, ETHERTYPE_RARP = 0x8035, ETHERTYPE_IP = 0x0800, ETHERTYPE_IPV6 = 0x86dd;
const PROTO_TCP = 6, PROTO_UDP = 17, PROTO_SCTP = 132, PROTO_ICMP = 1, PROTO_IPV6_ICMP = 58;
const ICMPV6_TYPE_MLD_QUERY = 130, ICMPV6_TYPE_RS = 133, ICMPV6_TYPE_RA = 134, ICMPV6_TYPE_NS = 135, ICMPV6_TYPE_NA = 136;
const ICMPV6_ALLOWED_INGRESS_TYPES = [ICMPV6_TYPE_MLD_QUERY, ICMPV6_TYPE_NS, ICMPV6_TYPE_NA];
const ICMPV6_ALLOWED_EGRESS_TYPES = [ICMPV6_TYPE_MLD_QUERY, ICMPV6_TYPE_RS, ICMPV6_TYPE_NS];
const ICMPV6_RESTRICTED_EGRESS_TYPES = [ICMPV6_TYPE_NA];
/** neutron_lib IP_PROTOCOL_MAP */
const IP_PROTOCOL_MAP: Readonly<Record<string, number>> = {
  ah: 51, dccp: 33, egp: 8, esp: 50, gre: 47, hopopt: 0, icmp: 1, icmpv6: 58, igmp: 2, ip: 4, ipip: 4,
  'ipv6-encap': 41, 'ipv6-frag': 44, 'ipv6-icmp': 58, 'ipv6-nonxt': 59, 'ipv6-opts': 60, 'ipv6-route': 43,
  ospf: 89, pgm: 113, rsvp: 46, sctp: 132, tcp: 6, udp: 17, udplite: 136, vrrp: 112,
};
/** protocols whose rules take port ranges, with the match-field prefix */
const PORT_PROTOCOLS: ReadonlyMap<number, string> = new Map([[PROTO_SCTP, 'sctp'], [PROTO_TCP, 'tcp'], [PROTO_UDP, 'udp']]);
const CONJ_ID_BLOCK_SIZE = 8;
const MAX_CONJ_ID = 2 ** 32 - 8;

// ---- input ----------------------------------------------------------------------------------------------

export type SgDirection = 'ingress' | 'egress';
export type SgEthertype = 'IPv4' | 'IPv6';

/** A security group rule, in the terms of Neutron's API. */
export interface SgRule {
  direction: SgDirection;
  /** default 'IPv4' */
  ethertype?: SgEthertype;
  /** a name ('tcp', 'udp', 'icmp', 'ipv6-icmp', …), a number, or null/undefined/'any' for every protocol */
  protocol?: string | number | null;
  /** TCP/UDP/SCTP: first destination port; ICMP: the type */
  portRangeMin?: number | null;
  /** TCP/UDP/SCTP: last destination port; ICMP: the code */
  portRangeMax?: number | null;
  /** the peer's addresses (source for ingress, destination for egress); excludes remoteGroupId */
  remoteIpPrefix?: string | null;
  /** the peer is any member of this group */
  remoteGroupId?: string | null;
}

export interface SecurityGroup {
  id: string;
  rules: SgRule[];
  /** member addresses of ports not in the compiled port list (VMs on other hosts) */
  members?: string[];
}

/** A port (VIF) as the OVS agent knows it. */
export interface SgPort {
  /** Neutron's port id or device name (only for messages); default `port<ofport>` */
  id?: string;
  ofport: number;
  mac: string;
  /** fixed IPs, IPv4 and/or IPv6, without prefix length */
  fixedIps: string[];
  /** ids of the port's groups (ignored when port security is off) */
  securityGroups: string[];
  /** the network's local VLAN tag on this bridge (1..4094): reg6 and the conntrack zone */
  network: number;
  /** allowed address pairs: an address or CIDR, with a MAC (default the port's) */
  allowedAddressPairs?: { ip: string; mac?: string }[];
  /** false: a trusted port (router, DHCP): no filtering, traffic goes straight to ingress or NORMAL */
  portSecurity?: boolean;
}

export interface SgCompileOptions {
  /** [AGENT] explicitly_egress_direct (default false): accepted egress to a local MAC is output directly, not by NORMAL */
  explicitlyEgressDirect?: boolean;
  /** include br-int's default tables (0 → 58 → 59 → 60 …) so the bridge needs nothing else (default true) */
  baseFlows?: boolean;
  /** [SECURITYGROUP] permitted_ethertypes, as numbers (default none) */
  permittedEthertypes?: number[];
}

/** One conjunction id handed out (for inspection and tests). */
export interface ConjIdEntry {
  sgId: string;
  remoteGroupId: string;
  direction: SgDirection;
  ethertype: SgEthertype;
  /** the block's base id (a multiple of 8) */
  id: number;
}

export interface SgCompileResult {
  /** add-flows lines, in the order the driver adds them (a later flow with an earlier one's match replaced it in place) */
  flows: string[];
  conjIds: ConjIdEntry[];
}

// ---- normalised model -------------------------------------------------------------------------------------

interface NRule {
  direction: SgDirection;
  ethertype: SgEthertype;
  protocol: number | null;
  portMin: number | null;
  portMax: number | null;
  /** source_ip_prefix (ingress remote prefix), canonical CIDR, null for none/any */
  srcPrefix: string | null;
  /** dest_ip_prefix (egress remote prefix) */
  dstPrefix: string | null;
  remoteGroupId: string | null;
}

interface NGroup {
  id: string;
  raw: NRule[];
  remote: NRule[];
  extraMembers: string[];
  /** the rules as text: two groups with equal text compile alike */
  rulesText: string;
}

interface NPort {
  id: string;
  ofport: number;
  mac: string;
  lla: string;
  v4: string[];
  v6: string[];
  pairsV4: [string, string][];
  pairsV6: [string, string][];
  groups: string[];
  tag: number;
  secured: boolean;
}

type Val = string | number;

/** One flow: table, priority, match items in order, actions. */
interface Flow { table: number; priority: number; match: [string, Val][]; actions: string }

const hex16 = (n: number): string => `0x${n.toString(16).padStart(4, '0')}`;

/** The text of a flow up to its actions: `table=T,priority=P,MATCH` — its identity (add-flow's, strict del-flows'). */
function flowKey(f: Flow): string {
  const parts = [`table=${f.table}`, `priority=${f.priority}`];
  for (const [k, v] of f.match) parts.push(`${k}=${v}`);
  return parts.join(',');   // one flat string (kept by FirewallState), not a chain of concatenations
}

/**
 * add-flow semantics on text: a flow with the same table, priority and
 * match replaces the earlier one in place. The key is the text before
 * `,actions=` (every flow of one table, priority and match is written with
 * its fields in one order, so the text is the identity).
 */
class FlowList {
  /** key → actions */
  readonly byKey = new Map<string, string>();
  add(f: Flow): void {
    this.byKey.set(flowKey(f), f.actions);
  }
  lines(): string[] { return [...this.byKey].map(([k, a]) => `${k},actions=${a}`); }
}

// ---- validation ----------------------------------------------------------------------------------------

function bad(code: string, path: string, message: string): never {
  throw new InputError(code, path, message);
}

function canonicalMac(s: string, path: string): string {
  const b = parseMac(s);
  if (b === null) bad('SG_BAD_MAC', path, `'${s}' is not a MAC address`);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

const DOTTED_QUAD = /^(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})$/;

/**
 * The common case of parseIpv4 without its parser: four octets without
 * leading zeros (each form ip-address accepts too, with the same value);
 * null for anything else, which parseIpv4 then judges.
 */
function dottedQuad(s: string): number | null {
  const m = DOTTED_QUAD.exec(s);
  if (m === null) return null;
  const a = Number(m[1]), b = Number(m[2]), c = Number(m[3]), d = Number(m[4]);
  if (a > 255 || b > 255 || c > 255 || d > 255) return null;
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

/** An address or CIDR as str(netaddr.IPNetwork(x).cidr): host bits cleared, '/len' always. */
function canonicalCidr(s: string, path: string): { cidr: string; v6: boolean; len: number } {
  const slash = s.indexOf('/');
  const addr = slash < 0 ? s : s.slice(0, slash);
  const lenText = slash < 0 ? null : s.slice(slash + 1);
  const v4 = dottedQuad(addr) ?? parseIpv4(addr);
  if (v4 !== null) {
    const len = lenText === null ? 32 : /^[0-9]{1,2}$/.test(lenText) ? Number(lenText) : -1;
    if (len < 0 || len > 32) bad('SG_BAD_ADDRESS', path, `'${s}' is not an IPv4 address or CIDR`);
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    return { cidr: `${ipv4ToString((v4 & mask) >>> 0)}/${len}`, v6: false, len };
  }
  const v6 = parseIpv6(addr);
  if (v6 !== null) {
    const len = lenText === null ? 128 : /^[0-9]{1,3}$/.test(lenText) ? Number(lenText) : -1;
    if (len < 0 || len > 128) bad('SG_BAD_ADDRESS', path, `'${s}' is not an IPv6 address or CIDR`);
    const b = v6.slice();
    for (let i = 0; i < 16; i++) {
      const keep = Math.max(0, Math.min(8, len - i * 8));
      b[i] = b[i]! & ((0xff00 >> keep) & 0xff);
    }
    return { cidr: `${ipv6ToString(b, 0)}/${len}`, v6: true, len };
  }
  return bad('SG_BAD_ADDRESS', path, `'${s}' is not an IP address or CIDR`);
}

/** A host address (no prefix), canonical text; v6 or not. */
function hostAddress(s: string, path: string): { addr: string; v6: boolean } {
  if (s.includes('/')) bad('SG_BAD_ADDRESS', path, `'${s}' must be an address, not a CIDR`);
  const c = canonicalCidr(s, path);
  return { addr: c.cidr.slice(0, c.cidr.indexOf('/')), v6: c.v6 };
}

/** fe80::/64 + the modified EUI-64 of 'mac' (netutils.get_ipv6_addr_by_EUI64). */
export function linkLocalAddress(mac: string): string {
  const b = parseMac(mac);
  if (b === null) bad('SG_BAD_MAC', 'mac', `'${mac}' is not a MAC address`);
  const a = new Uint8Array(16);
  a[0] = 0xfe; a[1] = 0x80;
  a[8] = b[0]! ^ 0x02; a[9] = b[1]!; a[10] = b[2]!; a[11] = 0xff; a[12] = 0xfe; a[13] = b[3]!; a[14] = b[4]!; a[15] = b[5]!;
  return ipv6ToString(a, 0);
}

/** The ids of the groups a rule may name as its remote group. */
interface GroupIds { has(id: string): boolean }

function normaliseRule(r: SgRule, groupIds: GroupIds, path: string): NRule {
  if (r === null || typeof r !== 'object' || Array.isArray(r)) bad('SG_BAD_RULE', path, `${JSON.stringify(r)} is not a rule (a mapping with direction …)`);
  if (r.direction !== 'ingress' && r.direction !== 'egress') bad('SG_BAD_DIRECTION', `${path}.direction`, `'${String(r.direction)}' is not ingress or egress`);
  const ethertype = r.ethertype ?? 'IPv4';
  if (ethertype !== 'IPv4' && ethertype !== 'IPv6') bad('SG_BAD_ETHERTYPE', `${path}.ethertype`, `'${String(ethertype)}' is not IPv4 or IPv6`);
  // SecurityGroup.update_rules: digits → number, IPv6 + icmp → 58, names by IP_PROTOCOL_MAP
  let protocol: number | null = null;
  const p = r.protocol;
  if (typeof p === 'number') {
    if (!Number.isInteger(p) || p < 0 || p > 255) bad('SG_BAD_PROTOCOL', `${path}.protocol`, `${p} is not an IP protocol number`);
    protocol = p;
  } else if (typeof p === 'string' && p !== 'any' && p !== '') {
    const lower = p.toLowerCase();
    if (/^[0-9]+$/.test(p)) protocol = Number(p);
    else if (ethertype === 'IPv6' && lower === 'icmp') protocol = PROTO_IPV6_ICMP;
    else if (Object.hasOwn(IP_PROTOCOL_MAP, lower)) protocol = IP_PROTOCOL_MAP[lower]!;
    else bad('SG_BAD_PROTOCOL', `${path}.protocol`, `'${p}' is not a protocol name or number`);
    if (protocol > 255) bad('SG_BAD_PROTOCOL', `${path}.protocol`, `${p} is not an IP protocol number`);
  }
  if (ethertype === 'IPv4' && protocol === PROTO_IPV6_ICMP) bad('SG_BAD_PROTOCOL', `${path}.protocol`, 'ipv6-icmp needs ethertype IPv6');
  if (ethertype === 'IPv6' && protocol === PROTO_ICMP) protocol = PROTO_IPV6_ICMP;
  const portMin = r.portRangeMin ?? null, portMax = r.portRangeMax ?? null;
  if (protocol === PROTO_ICMP || protocol === PROTO_IPV6_ICMP) {
    if (portMin === null && portMax !== null) bad('SG_BAD_PORT_RANGE', `${path}.portRangeMax`, 'an ICMP code needs an ICMP type (portRangeMin)');
    for (const [v, f] of [[portMin, 'portRangeMin'], [portMax, 'portRangeMax']] as const) {
      if (v !== null && !(Number.isInteger(v) && v >= 0 && v <= 255)) bad('SG_BAD_PORT_RANGE', `${path}.${f}`, `ICMP type/code ${v} is not 0..255`);
    }
  } else if (portMin !== null || portMax !== null) {
    if (protocol === null || !PORT_PROTOCOLS.has(protocol)) bad('SG_BAD_PORT_RANGE', `${path}.portRangeMin`, 'port ranges need protocol tcp, udp or sctp');
    if (portMin === null || portMax === null) bad('SG_BAD_PORT_RANGE', `${path}.portRangeMin`, 'a port range needs portRangeMin and portRangeMax');
    if (!(Number.isInteger(portMin) && Number.isInteger(portMax) && portMin >= 1 && portMax <= 65535 && portMin <= portMax)) {
      bad('SG_BAD_PORT_RANGE', `${path}.portRangeMin`, `${portMin}-${portMax} is not a port range within 1..65535`);
    }
  }
  const remoteGroupId = r.remoteGroupId ?? null;
  const prefixText = r.remoteIpPrefix ?? null;
  if (remoteGroupId !== null && prefixText !== null) bad('SG_REMOTE_CONFLICT', `${path}.remoteGroupId`, 'give remoteIpPrefix or remoteGroupId, not both');
  if (remoteGroupId !== null && !groupIds.has(remoteGroupId)) bad('SG_UNKNOWN_GROUP', `${path}.remoteGroupId`, `no security group '${remoteGroupId}'`);
  let prefix: string | null = null;
  if (prefixText !== null) {
    const c = canonicalCidr(prefixText, `${path}.remoteIpPrefix`);
    if (c.v6 !== (ethertype === 'IPv6')) bad('SG_BAD_ADDRESS', `${path}.remoteIpPrefix`, `${prefixText} does not match ethertype ${ethertype}`);
    // rules.is_valid_prefix: the any-prefix matches everything, so no field
    if (c.len !== 0) prefix = c.cidr;
  }
  return {
    direction: r.direction, ethertype, protocol, portMin, portMax,
    srcPrefix: r.direction === 'ingress' ? prefix : null, dstPrefix: r.direction === 'egress' ? prefix : null,
    remoteGroupId,
  };
}

// ---- rules.py ------------------------------------------------------------------------------------------

/** neutron.common.utils port_rule_masking: a port range as value/mask strings. */
export function portRuleMasking(portMin: number, portMax: number): string[] {
  const hexFormat = (port: number, mask = 0): string => (mask > 0 ? `${hex16(port)}/${hex16(0xffff & ~mask)}` : hex16(port));
  if (portMax < portMin) throw new RangeError("'port_max' is smaller than 'port_min'");
  const bitdiff = portMin ^ portMax;
  if (bitdiff === 0) return [hexFormat(portMin)];
  let topBit = 1;
  while (topBit <= bitdiff) topBit <<= 1;
  if ((portMin & (topBit - 1)) === 0 && (portMax & (topBit - 1)) === topBit - 1) return [hexFormat(portMin, topBit - 1)];
  topBit >>= 1;
  const rules: string[] = [];
  // _gen_rules_port_min
  {
    let tb = topBit, mask = tb - 1;
    for (;;) {
      if ((portMin & mask) === 0) { rules.push(hexFormat(portMin, mask)); break; }
      tb >>= 1; mask >>= 1;
      if ((portMin & tb) === 0) rules.push(hexFormat((portMin & ~mask) | tb, mask));
    }
  }
  // _gen_rules_port_max
  {
    let tb = topBit, mask = tb - 1;
    for (;;) {
      if ((portMax & mask) === mask) { rules.push(hexFormat(portMax & ~mask, mask)); break; }
      tb >>= 1; mask >>= 1;
      if ((portMax & tb) === tb) rules.push(hexFormat(portMax & ~mask & ~tb, mask));
    }
  }
  return rules;
}

/** rules.flow_priority_offset */
function flowPriorityOffset(r: NRule, conjunction = false): number {
  const conjOffset = r.remoteGroupId !== null || conjunction ? 0 : 4;
  if (r.protocol === null) return conjOffset;
  if (r.protocol === PROTO_ICMP || r.protocol === PROTO_IPV6_ICMP) {
    if (r.portMin === null) return conjOffset + 1;
    if (r.portMax === null) return conjOffset + 2;
  }
  return conjOffset + 3;
}

const ethertypeDlType = (e: SgEthertype): number => (e === 'IPv4' ? ETHERTYPE_IP : ETHERTYPE_IPV6);
const ipField = (e: SgEthertype, dir: SgDirection): string => (e === 'IPv4' ? (dir === 'egress' ? 'nw_dst' : 'nw_src') : (dir === 'egress' ? 'ipv6_dst' : 'ipv6_src'));

/** rules.populate_flow_common: the table and the accepting action of a direction. */
function directionTarget(dir: SgDirection, port: NPort): { table: number; actions: string } {
  return dir === 'ingress'
    ? { table: RULES_INGRESS_TABLE, actions: `output:${port.ofport}` }
    : { table: RULES_EGRESS_TABLE, actions: `resubmit(,${ACCEPT_OR_INGRESS_TABLE})` };
}

/** rules.create_flows_from_rule_and_port (with create_protocol_flows and its helpers). */
function flowsFromRule(r: NRule, port: NPort, conjunction = false): Flow[] {
  const { table, actions } = directionTarget(r.direction, port);
  const match: [string, Val][] = [['dl_type', hex16(ethertypeDlType(r.ethertype))]];
  if (r.protocol !== null) match.push(['nw_proto', r.protocol]);
  match.push([`reg${REG_PORT}`, port.ofport]);
  if (r.dstPrefix !== null) match.push([ipField(r.ethertype, 'egress'), r.dstPrefix]);
  if (r.srcPrefix !== null) match.push([ipField(r.ethertype, 'ingress'), r.srcPrefix]);
  const base: Flow = { table, priority: 70 + flowPriorityOffset(r, conjunction), match, actions };
  if (r.protocol === PROTO_ICMP || r.protocol === PROTO_IPV6_ICMP) {
    if (r.portMin === null) return [base];
    const m: [string, Val][] = [...match, ['icmp_type', r.portMin]];
    if (r.portMax !== null) m.push(['icmp_code', r.portMax]);
    return [{ ...base, match: m }];
  }
  const proto = r.protocol === null ? undefined : PORT_PROTOCOLS.get(r.protocol);
  if (proto === undefined || r.portMin === null || r.portMax === null) return [base];
  return portRuleMasking(r.portMin, r.portMax).map((v) => ({ ...base, match: [...match, [`${proto}_dst`, v] as [string, Val]] }));
}

/** rules.create_accept_flows: the +est-rel-rpl flow as is, the +new-est one committing (ingress). */
function acceptFlows(f: Flow): Flow[] {
  const est: Flow = { ...f, match: [['ct_state', CT_STATES[0]], ...f.match] };
  let actions = f.actions;
  if (f.table === RULES_INGRESS_TABLE) {
    actions = `ct(commit,zone=NXM_NX_REG${REG_NET}[0..15]),${f.actions},resubmit(,${ACCEPTED_INGRESS_TRAFFIC_TABLE})`;
  }
  const nw: Flow = { ...f, match: [['ct_state', CT_STATES[1]], ...f.match], actions };
  return [est, nw];
}

/** rules.substitute_conjunction_actions */
function substituteConjunctionActions(flows: Flow[], dimension: number, conjIds: number[]): Flow[] {
  const out: Flow[] = [];
  for (const f of flows) {
    for (let i = 0; i < 2; i++) {
      out.push({
        ...f, match: [['ct_state', CT_STATES[i]!], ...f.match],
        actions: conjIds.map((s) => `conjunction(${s + i},${dimension}/2)`).join(','),
      });
    }
  }
  return out;
}

/** rules.create_conj_flows: the accepting conj_id flows of one conjunction id. */
function conjFlows(port: NPort, conjId: number, dir: SgDirection, ethertype: SgEthertype): Flow[] {
  const { table, actions } = directionTarget(dir, port);
  const priority = 70 + Math.floor((conjId % 8) / 2);
  const match: [string, Val][] = [['dl_type', hex16(ethertypeDlType(ethertype))], [`reg${REG_PORT}`, port.ofport]];
  const [est, nw] = acceptFlows({ table, priority, match, actions }) as [Flow, Flow];
  return [
    { ...est, match: [['conj_id', conjId], ...est.match], actions: `set_field:${conjId}->reg${REG_REMOTE_GROUP},${est.actions}` },
    { ...nw, match: [['conj_id', conjId + 1], ...nw.match], actions: `set_field:${conjId + 1}->reg${REG_REMOTE_GROUP},${nw.actions}` },
  ];
}

/** rules.merge_common_rules: rules equal but for their port range, grouped by range. */
function mergeCommonRules(list: [NRule, number][]): [NRule, number[]][] {
  const byRange = new Map<string, [NRule, number[]]>();
  for (const [r, id] of list) {
    const key = `${r.portMin}/${r.portMax}`;
    const e = byRange.get(key);
    if (e === undefined) byRange.set(key, [r, [id]]);
    else e[1].push(id);
  }
  return [...byRange.values()];
}

/** rules.merge_port_ranges: overlapping port ranges split into disjoint ones, each with its conjunction ids. */
function mergePortRanges(list: [NRule, number][]): [NRule, number[]][] {
  if (list.length === 1) return [[list[0]![0], [list[0]![1]]]];
  const items: [number, 'min' | 'max', number][] = [];
  for (const [r, id] of list) {
    items.push([r.portMin ?? 1, 'min', id], [r.portMax ?? 65535, 'max', id]);
  }
  items.sort((a, b) => (a[0] * 2 + (a[1] === 'min' ? 0 : 1)) - (b[0] * 2 + (b[1] === 'min' ? 0 : 1)));
  const tmpl = list[0]![0];
  const result: [NRule, number[]][] = [];
  const cur = new Map<number, number>();
  let curMin = 0;
  for (const [port, m, id] of items) {
    if (m === 'min') {
      const c = cur.get(id);
      if (c !== undefined) { cur.set(id, c + 1); continue; }
      if (cur.size > 0 && curMin !== port) result.push([{ ...tmpl, portMin: curMin, portMax: port - 1 }, [...cur.keys()]]);
      curMin = port;
      cur.set(id, 1);
    } else {
      const c = cur.get(id)!;
      if (c > 1) { cur.set(id, c - 1); continue; }
      if (curMin <= port) {
        result.push([{ ...tmpl, portMin: curMin, portMax: port }, [...cur.keys()]]);
        curMin = port + 1;
      }
      cur.delete(id);
    }
  }
  if (result.length === 1 && result[0]![0].portMin === 1 && result[0]![0].portMax === 65535) {
    result[0] = [{ ...result[0]![0], portMin: null, portMax: null }, result[0]![1]];
  }
  return result;
}

// ---- the compiler ----------------------------------------------------------------------------------------

/** ConjIdMap: base ids in blocks of 8, first use first; a fresh bridge's first block is 16. */
class ConjIdMap {
  private maxId = CONJ_ID_BLOCK_SIZE;   // _init_max_id() on a bridge without conj_id flows
  readonly entries: ConjIdEntry[] = [];
  private readonly byKey = new Map<string, number>();
  /** The id of the key, or undefined when it has none yet. */
  peek(sgId: string, remote: string, direction: SgDirection, ethertype: SgEthertype): number | undefined {
    return this.byKey.get(JSON.stringify([sgId, remote, direction, ethertype]));
  }
  /** Whether 'id' lies in a block handed out. */
  has(id: number): boolean {
    return this.entries.some((e) => id - (id % CONJ_ID_BLOCK_SIZE) === e.id);
  }
  get(sgId: string, remote: string, direction: SgDirection, ethertype: SgEthertype): number {
    const key = JSON.stringify([sgId, remote, direction, ethertype]);
    let id = this.byKey.get(key);
    if (id === undefined) {
      this.maxId += CONJ_ID_BLOCK_SIZE;
      if (this.maxId >= MAX_CONJ_ID) this.maxId = 0;
      id = this.maxId;
      this.byKey.set(key, id);
      this.entries.push({ sgId, remoteGroupId: remote, direction, ethertype, id });
    }
    return id;
  }
}

/** One remote-group conjunction a port takes part in: its network, the rule's direction and ethertype, the remote group, the id. */
type ConjNote = [tag: number, k: string, remote: string, id: number];

/** tag → "direction|ethertype" → remote group → conjunction ids (ConjIPFlowManager.conj_ids) */
type NetConj = Map<string, Map<string, Set<number>>>;

function addConj(netConj: Map<number, NetConj>, tag: number, k: string, remote: string, id: number): void {
  let net = netConj.get(tag);
  if (net === undefined) { net = new Map(); netConj.set(tag, net); }
  let byRemote = net.get(k);
  if (byRemote === undefined) { byRemote = new Map(); net.set(k, byRemote); }
  let ids = byRemote.get(remote);
  if (ids === undefined) { ids = new Set(); byRemote.set(remote, ids); }
  ids.add(id);
}

class Compiler {
  /** where the flows go: one list for a whole compile, one per unit for FirewallState */
  out = new FlowList();
  conj = new ConjIdMap();
  /** the conjunctions of the port being compiled (FirewallState) */
  notes: ConjNote[] | null = null;
  readonly netConj = new Map<number, NetConj>();
  /** the ports whose addresses make group 'gid''s members (default: the given ports in it) */
  memberPorts: (gid: string) => Iterable<NPort>;
  private readonly eed: boolean;
  private readonly ethertypes: number[];

  constructor(private readonly ports: NPort[], public groups: Map<string, NGroup>, opts: SgCompileOptions) {
    this.eed = opts.explicitlyEgressDirect ?? false;
    this.ethertypes = opts.permittedEthertypes ?? [];
    this.memberPorts = (gid) => this.ports.filter((p) => p.groups.includes(gid));
  }

  /** One port's flows (prepare_port_filter), into 'out'. */
  portUnit(p: NPort): void {
    if (!p.secured) { this.unfiltered(p); return; }
    this.initializePortFlows(p);
    this.addFlowsFromRules(p);
  }

  private add(table: number, priority: number, match: [string, Val][], actions: string): void {
    this.out.add({ table, priority, match, actions });
  }

  /** OVSIntegrationBridge.setup_default_table (without DHCP/DNS offload or DVR). */
  baseFlows(): void {
    this.add(LOCAL_SWITCHING, 65535, [['dl_vlan', DEAD_VLAN_TAG]], 'drop');
    this.add(LOCAL_SWITCHING, 0, [], `resubmit(,${PACKET_RATE_LIMIT})`);
    this.add(CANARY_TABLE, 0, [], 'drop');
    this.add(PACKET_RATE_LIMIT, 0, [], `resubmit(,${BANDWIDTH_RATE_LIMIT})`);
    this.add(BANDWIDTH_RATE_LIMIT, 0, [], `resubmit(,${TRANSIENT_TABLE})`);
    this.add(TRANSIENT_TABLE, 1, [], 'NORMAL');
    this.add(ARP_SPOOF_TABLE, 0, [], 'drop');
    this.add(TRANSIENT_EGRESS_TABLE, 3, [], 'NORMAL');
    this.add(LOCAL_EGRESS_TABLE, 0, [], `resubmit(,${PACKET_RATE_LIMIT})`);
    this.add(LOCAL_IP_TABLE, 0, [], `resubmit(,${PACKET_RATE_LIMIT})`);
  }

  /** _initialize_firewall: unmatched drops, common flows, third-party tables. */
  firewallFlows(): void {
    for (const t of OVS_FIREWALL_TABLES) this.add(t, 0, [], 'drop');
    this.add(BASE_EGRESS_TABLE, 110, [['ct_state', CT_STATE_TRACKED]], `ct_clear,resubmit(,${BASE_EGRESS_TABLE})`);
    if (this.eed) this.add(TRANSIENT_TABLE, 2, [], `resubmit(,${ACCEPTED_EGRESS_TRAFFIC_NORMAL_TABLE})`);
    this.add(ACCEPTED_EGRESS_TRAFFIC_NORMAL_TABLE, 1, [], 'NORMAL');
    this.add(ACCEPTED_EGRESS_TRAFFIC_TABLE, 1, [], `resubmit(,${ACCEPTED_EGRESS_TRAFFIC_NORMAL_TABLE})`);
    for (const t of [ACCEPTED_INGRESS_TRAFFIC_TABLE, DROPPED_TRAFFIC_TABLE]) this.add(t, 0, [], 'drop');
  }

  /** prepare_port_filter for every port, then the remote-group address flows per network. */
  portFlows(): void {
    for (const p of this.ports) this.portUnit(p);
    for (const [tag, byK] of this.netConj) this.addressFlows(tag, byK);
  }

  private regsAndGo(p: NPort, table: number): string {
    return `set_field:${p.ofport}->reg${REG_PORT},set_field:${p.tag}->reg${REG_NET},resubmit(,${table})`;
  }

  private allowedMacs(p: NPort): string[] {
    const macs = [p.mac];
    for (const [m] of [...p.pairsV4, ...p.pairsV6]) if (!macs.includes(m)) macs.push(m);
    return macs;
  }

  /** _initialize_egress_no_port_security: a trusted port goes straight to ACCEPT_OR_INGRESS. */
  private unfiltered(p: NPort): void {
    this.add(TRANSIENT_TABLE, 100, [['in_port', p.ofport]], this.regsAndGo(p, ACCEPT_OR_INGRESS_TABLE));
    this.add(ACCEPT_OR_INGRESS_TABLE, 80, [[`reg${REG_PORT}`, p.ofport]], `resubmit(,${ACCEPTED_EGRESS_TRAFFIC_NORMAL_TABLE})`);
    this.egressDirect(p);
  }

  /** initialize_port_flows */
  private initializePortFlows(p: NPort): void {
    this.add(TRANSIENT_TABLE, 100, [['in_port', p.ofport]], this.regsAndGo(p, BASE_EGRESS_TABLE));
    for (const mac of this.allowedMacs(p)) {
      this.add(TRANSIENT_TABLE, 90, [['dl_vlan', p.tag], ['dl_dst', mac]],
        `set_field:${p.ofport}->reg${REG_PORT},set_field:${p.tag}->reg${REG_NET},strip_vlan,resubmit(,${BASE_INGRESS_TABLE})`);
    }
    this.initializeEgress(p);
    this.initializeIngress(p);
  }

  private egressV4Pairs(p: NPort): [string, string][] {
    const out = [...p.pairsV4];
    for (const ip of p.v4) if (!out.some(([m, a]) => m === p.mac && a === ip)) out.push([p.mac, ip]);
    return out;
  }

  private egressV6Pairs(p: NPort): [string, string][] {
    const out: [string, string][] = [...p.pairsV6];
    if (!out.some(([m, a]) => m === p.mac && a === p.lla)) out.push([p.mac, p.lla]);
    for (const ip of p.v6) if (!out.some(([m, a]) => m === p.mac && a === ip)) out.push([p.mac, ip]);
    return out;
  }

  /** _initialize_egress (with _initialize_egress_ipv6_icmp) */
  private initializeEgress(p: NPort): void {
    const reg5: [string, Val] = [`reg${REG_PORT}`, p.ofport];
    const inPort: [string, Val] = ['in_port', p.ofport];
    const v4 = this.egressV4Pairs(p);
    for (const [mac, ip] of v4) {
      this.add(BASE_EGRESS_TABLE, 95, [inPort, reg5, ['dl_src', mac], ['dl_type', hex16(ETHERTYPE_ARP)], ['arp_spa', ip]],
        `resubmit(,${ACCEPTED_EGRESS_TRAFFIC_NORMAL_TABLE})`);
      this.add(BASE_EGRESS_TABLE, 95, [reg5, ['dl_type', hex16(ETHERTYPE_RARP)], inPort, ['dl_src', mac]],
        `resubmit(,${ACCEPTED_EGRESS_TRAFFIC_NORMAL_TABLE})`);
      this.add(BASE_EGRESS_TABLE, 65, [reg5, ['dl_type', hex16(ETHERTYPE_IP)], inPort, ['dl_src', mac], ['nw_src', ip]],
        `ct(table=${RULES_EGRESS_TABLE},zone=NXM_NX_REG${REG_NET}[0..15])`);
    }
    const v6 = this.egressV6Pairs(p);
    for (const [mac, ip] of v6) {
      for (const t of ICMPV6_ALLOWED_EGRESS_TYPES) {
        this.add(BASE_EGRESS_TABLE, 95, [inPort, reg5, ['dl_type', hex16(ETHERTYPE_IPV6)], ['nw_proto', PROTO_IPV6_ICMP], ['icmp_type', t],
          ['dl_src', mac], ['ipv6_src', ip]], `resubmit(,${ACCEPTED_EGRESS_TRAFFIC_NORMAL_TABLE})`);
      }
      for (const t of ICMPV6_RESTRICTED_EGRESS_TYPES) {
        this.add(BASE_EGRESS_TABLE, 95, [inPort, reg5, ['dl_type', hex16(ETHERTYPE_IPV6)], ['nw_proto', PROTO_IPV6_ICMP], ['icmp_type', t],
          ['nd_target', ip]], `resubmit(,${ACCEPTED_EGRESS_TRAFFIC_NORMAL_TABLE})`);
      }
    }
    for (const [mac, ip] of v6) {
      this.add(BASE_EGRESS_TABLE, 65, [reg5, inPort, ['dl_type', hex16(ETHERTYPE_IPV6)], ['dl_src', mac], ['ipv6_src', ip]],
        `ct(table=${RULES_EGRESS_TABLE},zone=NXM_NX_REG${REG_NET}[0..15])`);
    }
    // DHCP discovery and requests (also from 0.0.0.0 before the VM has its address)
    const dhcp: [number, number, number, [string, Val][][]][] = [
      [ETHERTYPE_IP, 68, 67, [...v4, [p.mac, '0.0.0.0'] as [string, string]].map(([m, ip]) => [['dl_src', m], ['nw_src', ip]])],
      [ETHERTYPE_IPV6, 546, 547, v6.map(([m, ip]) => [['dl_src', m], ['ipv6_src', ip]])],
    ];
    for (const [dlType, sport, dport, filters] of dhcp) {
      for (const f of filters) {
        this.add(BASE_EGRESS_TABLE, 80, [reg5, inPort, ['dl_type', hex16(dlType)], ...f, ['nw_proto', PROTO_UDP], ['tp_src', sport], ['tp_dst', dport]],
          `resubmit(,${ACCEPT_OR_INGRESS_TABLE})`);
      }
    }
    // no DHCP server on an instance
    for (const [dlType, sport, dport] of [[ETHERTYPE_IP, 67, 68], [ETHERTYPE_IPV6, 547, 546]] as const) {
      this.add(BASE_EGRESS_TABLE, 70, [inPort, reg5, ['dl_type', hex16(dlType)], ['nw_proto', PROTO_UDP], ['tp_src', sport], ['tp_dst', dport]],
        `resubmit(,${DROPPED_TRAFFIC_TABLE})`);
    }
    // no router advertisements from an instance
    this.add(BASE_EGRESS_TABLE, 70, [inPort, reg5, ['dl_type', hex16(ETHERTYPE_IPV6)], ['nw_proto', PROTO_IPV6_ICMP], ['icmp_type', ICMPV6_TYPE_RA]],
      `resubmit(,${DROPPED_TRAFFIC_TABLE})`);
    for (const et of this.ethertypes) {
      this.add(BASE_EGRESS_TABLE, 95, [['dl_type', hex16(et)], reg5], `resubmit(,${ACCEPTED_EGRESS_TRAFFIC_NORMAL_TABLE})`);
    }
    // everything else leaving the port is dropped
    this.add(BASE_EGRESS_TABLE, 10, [inPort, reg5], `ct_clear,resubmit(,${DROPPED_TRAFFIC_TABLE})`);
    // ACCEPT_OR_INGRESS: to a filtered port of this network → its ingress; new egress connections committed
    for (const mac of this.allowedMacs(p)) {
      this.add(ACCEPT_OR_INGRESS_TABLE, 100, [['dl_dst', mac], [`reg${REG_NET}`, p.tag]],
        `set_field:${p.ofport}->reg${REG_PORT},resubmit(,${BASE_INGRESS_TABLE})`);
    }
    for (const et of [ETHERTYPE_IP, ETHERTYPE_IPV6]) {
      this.add(ACCEPT_OR_INGRESS_TABLE, 90, [['dl_type', hex16(et)], reg5, ['ct_state', CT_STATE_NEW_NOT_ESTABLISHED]],
        `ct(commit,zone=NXM_NX_REG${REG_NET}[0..15]),resubmit(,${ACCEPTED_EGRESS_TRAFFIC_TABLE})`);
    }
    this.add(ACCEPT_OR_INGRESS_TABLE, 80, [reg5], `resubmit(,${ACCEPTED_EGRESS_TRAFFIC_NORMAL_TABLE})`);
    this.egressDirect(p);
  }

  /** install_accepted_egress_direct_flow (only with explicitly_egress_direct; no patch-port flow). */
  private egressDirect(p: NPort): void {
    if (!this.eed) return;
    this.add(ACCEPTED_EGRESS_TRAFFIC_NORMAL_TABLE, 12, [['dl_dst', p.mac], [`reg${REG_NET}`, p.tag]], `output:${p.ofport}`);
    this.add(ACCEPTED_EGRESS_TRAFFIC_NORMAL_TABLE, 12, [['dl_dst', p.mac], ['dl_vlan', p.tag]], `strip_vlan,output:${p.ofport}`);
  }

  /** _initialize_ingress (with _initialize_ingress_ipv6_icmp) */
  private initializeIngress(p: NPort): void {
    const reg5: [string, Val] = [`reg${REG_PORT}`, p.ofport];
    const out = `output:${p.ofport}`;
    this.add(BASE_INGRESS_TABLE, 100, [['dl_type', hex16(ETHERTYPE_ARP)], reg5], out);
    for (const et of this.ethertypes) this.add(BASE_INGRESS_TABLE, 100, [['dl_type', hex16(et)], reg5], out);
    for (const t of [...ICMPV6_ALLOWED_INGRESS_TYPES, ICMPV6_TYPE_RA]) {
      this.add(BASE_INGRESS_TABLE, 100, [reg5, ['dl_type', hex16(ETHERTYPE_IPV6)], ['nw_proto', PROTO_IPV6_ICMP], ['icmp_type', t]], out);
    }
    for (const [dlType, sport, dport] of [[ETHERTYPE_IP, 67, 68], [ETHERTYPE_IPV6, 547, 546]] as const) {
      this.add(BASE_INGRESS_TABLE, 95, [reg5, ['dl_type', hex16(dlType)], ['nw_proto', PROTO_UDP], ['tp_src', sport], ['tp_dst', dport]], out);
    }
    for (const et of [ETHERTYPE_IP, ETHERTYPE_IPV6]) {
      this.add(BASE_INGRESS_TABLE, 90, [reg5, ['dl_type', hex16(et)], ['ct_state', CT_STATE_NOT_TRACKED]],
        `ct(table=${RULES_INGRESS_TABLE},zone=NXM_NX_REG${REG_NET}[0..15])`);
    }
    this.add(BASE_INGRESS_TABLE, 80, [['ct_state', CT_STATE_TRACKED], reg5], `resubmit(,${RULES_INGRESS_TABLE})`);
  }

  /** _initialize_tracked_ingress / _initialize_tracked_egress */
  private tracked(p: NPort, table: number, accept: string): void {
    const reg5: [string, Val] = [`reg${REG_PORT}`, p.ofport];
    this.add(table, 50, [['ct_state', CT_STATE_INVALID]], `resubmit(,${DROPPED_TRAFFIC_TABLE})`);
    this.add(table, 50, [reg5, ['ct_mark', CT_MARK_INVALID]], `resubmit(,${DROPPED_TRAFFIC_TABLE})`);
    for (const st of [CT_STATE_ESTABLISHED_REPLY, CT_STATE_RELATED]) {
      this.add(table, 50, [['ct_state', st], ['ct_mark', CT_MARK_NORMAL], reg5, ['ct_zone', p.tag]], accept);
    }
    this.add(table, 40, [reg5, ['ct_state', CT_STATE_NOT_ESTABLISHED]], `resubmit(,${DROPPED_TRAFFIC_TABLE})`);
    for (const et of [ETHERTYPE_IP, ETHERTYPE_IPV6]) {
      this.add(table, 40, [['dl_type', hex16(et)], reg5, ['ct_state', CT_STATE_ESTABLISHED]],
        `ct(commit,zone=NXM_NX_REG${REG_NET}[0..15],exec(set_field:${CT_MARK_INVALID}->ct_mark))`);
    }
  }

  /** add_flows_from_rules */
  private addFlowsFromRules(p: NPort): void {
    this.tracked(p, RULES_INGRESS_TABLE, `output:${p.ofport}`);
    this.tracked(p, RULES_EGRESS_TABLE, `resubmit(,${ACCEPTED_EGRESS_TRAFFIC_NORMAL_TABLE})`);
    for (const gid of p.groups) {
      for (const r of this.groups.get(gid)!.raw) {
        for (const f of flowsFromRule(r, p)) for (const a of acceptFlows(f)) this.out.add(a);
      }
    }
    this.nonIpConjFlows(p);
  }

  /** _add_non_ip_conj_flows: the port's side (2/2) of remote-group conjunctions and their accept flows. */
  private nonIpConjFlows(p: NPort): void {
    const byKey = new Map<string, { dir: SgDirection; eth: SgEthertype; proto: number | null; list: [NRule, number][] }>();
    for (const gid of p.groups) {
      for (const r of this.groups.get(gid)!.remote) {
        const remote = r.remoteGroupId!;
        const id = this.conj.get(gid, remote, r.direction, r.ethertype) + flowPriorityOffset(r) * 2;
        this.noteConj(p.tag, r.direction, r.ethertype, remote, id);
        const stripped: NRule = { ...r, remoteGroupId: null };
        const key = `${r.direction}|${r.ethertype}|${r.protocol}`;
        let e = byKey.get(key);
        if (e === undefined) { e = { dir: r.direction, eth: r.ethertype, proto: r.protocol, list: [] }; byKey.set(key, e); }
        e.list.push([stripped, id]);
      }
    }
    for (const e of byKey.values()) {
      const all = [...new Set(e.list.map(([, id]) => id))].sort((a, b) => a - b);
      const merged = e.proto !== null && PORT_PROTOCOLS.has(e.proto) ? mergePortRanges(e.list) : mergeCommonRules(e.list);
      for (const [r, ids] of merged) {
        for (const f of substituteConjunctionActions(flowsFromRule(r, p, true), 2, ids)) this.out.add(f);
      }
      for (const id of all) for (const f of conjFlows(p, id, e.dir, e.eth)) this.out.add(f);
    }
  }

  private noteConj(tag: number, dir: SgDirection, eth: SgEthertype, remote: string, id: number): void {
    const k = `${dir}|${eth}`;
    if (this.notes !== null) { this.notes.push([tag, k, remote, id]); return; }
    addConj(this.netConj, tag, k, remote, id);
  }


  /**
   * The members of group 'gid' for 'eth' as (CIDR, MAC) pairs: the fixed IPs
   * and address pairs of its ports (with their MACs), then its extra members
   * (no MAC).
   */
  private members(gid: string, eth: SgEthertype): [string, string | null][] {
    const out: [string, string | null][] = [];
    const full = eth === 'IPv4' ? 32 : 128;
    const seen = new Set<string>();
    const push = (a: string, mac: string | null): void => {
      const k = `${a} ${mac}`;
      if (!seen.has(k)) { seen.add(k); out.push([a, mac]); }
    };
    for (const p of this.memberPorts(gid)) {
      if (!p.secured) continue;
      for (const ip of eth === 'IPv4' ? p.v4 : p.v6) push(`${ip}/${full}`, p.mac);
      for (const [m, ip] of eth === 'IPv4' ? p.pairsV4 : p.pairsV6) push(ip.includes('/') ? ip : `${ip}/${full}`, m);
    }
    for (const a of this.groups.get(gid)!.extraMembers) {
      const c = canonicalCidr(a, `groups.${gid}.members`);
      if (c.v6 === (eth === 'IPv6')) push(c.cidr, null);
    }
    return out;
  }

  /**
   * ConjIPFlowManager.update_flows_for_vlan: the address side (1/2) of the
   * conjunctions of network 'tag' — one flow pair per member address and
   * priority offset, carrying every conjunction id that address takes part
   * in (ids of one CIDR are merged, as _update_flows_for_vlan_subr does).
   */
  addressFlows(tag: number, byK: NetConj): void {
    for (const [k, byRemote] of byK) {
      const [dir, eth] = k.split('|') as [SgDirection, SgEthertype];
      const members: [string, string | null][] = [];
      const seen = new Set<string>();
      const ipToConj = new Map<string, Set<number>>();
      for (const [remote, ids] of byRemote) {
        for (const [addr, mac] of this.members(remote, eth)) {
          const mk = `${addr} ${mac}`;
          if (!seen.has(mk)) { seen.add(mk); members.push([addr, mac]); }
          let s = ipToConj.get(addr);
          if (s === undefined) { s = new Set(); ipToConj.set(addr, s); }
          for (const id of ids) s.add(id);
        }
      }
      const table = dir === 'egress' ? RULES_EGRESS_TABLE : RULES_INGRESS_TABLE;
      for (const [addr, mac] of members) {
        const byOffset: number[][] = [[], [], [], []];
        for (const id of [...ipToConj.get(addr)!].sort((a, b) => a - b)) byOffset[Math.floor((id % 8) / 2)]!.push(id);
        const match: [string, Val][] = [['dl_type', hex16(ethertypeDlType(eth))], [`reg${REG_NET}`, tag], [ipField(eth, dir), addr]];
        // create_flows_for_ip_address_and_mac: an any-address member is pinned to its MAC
        if (addr.endsWith('/0') && mac !== null) match.push(['dl_src', mac]);
        byOffset.forEach((list, offset) => {
          if (list.length === 0) return;
          for (const f of substituteConjunctionActions([{ table, priority: 70 + offset, match, actions: '' }], 1, list)) this.out.add(f);
        });
      }
    }
  }
}

/** One flow key's contributors: the actions in force (the latest unit's, as a full compile's later add wins) and the others'. */
interface Entry { act: string; order: number; more: Map<number, string> | null }

/** One bound port of a FirewallState. */
interface FwPort {
  np: NPort;
  order: number;
  /** the keys of its flows as last compiled */
  unit: string[];
  /** its remote-group conjunctions as last compiled */
  notes: ConjNote[];
}

/** One flow that changed since the last flush: its key and its line now (null: gone). */
export interface FlowChange { key: string; line: string | null }

/** The address flows' units sort after every port (a full compile adds them last). */
const ADDRESS_ORDER = Number.MAX_SAFE_INTEGER - 8192;

/**
 * A br-int's firewall kept compiled as ports come and go and groups change
 * (what the OVS agent holds): the same flows, key for key and line for
 * line, as `SecurityGroups.compileDetailed` of its ports (in the order they
 * were added) and groups would give now, but each change recompiles only
 * what it touches. The flows are units: the base and firewall flows, one
 * unit per port (prepare_port_filter), one per network for the
 * remote-group address flows; a key several units write (`ct_state=+trk+inv`
 * of tables 72/82, a MAC two ports share) holds the line of the unit a full
 * compile would write last. Conjunction ids are a full compile's (first use
 * in port order): a change that would renumber them (a port that used an id
 * first leaves, a group's remote-group rules change) reassigns them and
 * recompiles the units whose ids moved. A port's groups that are not (yet)
 * among the groups are left out, as the agent does while the control plane
 * catches up. Changes collect until `flush()`, which recompiles what they
 * touched and returns the flows that differ from the previous flush.
 * Cost: a port added: its own flows (plus its networks' address flows when
 * its groups are remote groups of rules there); a flush: linear in the
 * units recompiled, not in the bridge's flows.
 */
export class FirewallState {
  private readonly entries = new Map<string, Entry>();
  private readonly ports = new Map<number, FwPort>();
  private groups = new Map<string, NGroup>();
  private raw = new Map<string, SecurityGroup>();
  private readonly c: Compiler;
  /** group id → the ports in it (port security or not) */
  private readonly byGroup = new Map<string, Set<FwPort>>();
  /** network tag → its ports */
  private readonly byTag = new Map<number, Set<FwPort>>();
  /** remote group → network tag → how many notes of that network name it */
  private readonly refTags = new Map<string, Map<number, number>>();
  /** network tag → its address flows as last compiled */
  private readonly addrUnits = new Map<number, string[]>();
  private readonly dirtyPorts = new Set<FwPort>();
  private readonly dirtyTags = new Set<number>();
  private conjDirty = false;
  /** key → its actions at the previous flush (for the keys touched since) */
  private readonly touched = new Map<string, string | null>();
  private seq = 1;

  constructor(opts: SgCompileOptions = {}) {
    this.c = new Compiler([], this.groups, opts);
    this.c.memberPorts = (gid) => [...(this.byGroup.get(gid) ?? [])].map((p) => p.np);
    if (opts.baseFlows ?? true) this.c.baseFlows();
    this.c.firewallFlows();
    this.setUnit(0, [], this.c.out.byKey);
  }

  /** The number of flows. */
  get size(): number { return this.entries.size; }

  /** Every flow's line. */
  lines(): string[] { return [...this.entries].map(([k, e]) => `${k},actions=${e.act}`); }

  /**
   * The groups, as now (every one; InputError naming `groups[i]…` before
   * anything changes). A group is compared with the one of its id before:
   * the same object is unchanged.
   */
  setGroups(groups: SecurityGroup[]): void {
    const ids = groupIds(groups);
    const ng = new Map<string, NGroup>();
    const raw = new Map<string, SecurityGroup>();
    // an unchanged group may name a remote group that is gone: every rule is checked again then
    const gone = [...this.raw.keys()].some((id) => !ids.has(id));
    groups.forEach((g, i) => {
      ng.set(g.id, !gone && this.raw.get(g.id) === g ? this.groups.get(g.id)! : normaliseGroup(g, ids, `groups[${i}]`, true));
      raw.set(g.id, g);
    });
    for (const id of new Set([...this.raw.keys(), ...ids])) this.changed(id, this.groups.get(id), ng.get(id));
    this.groups = ng;
    this.raw = raw;
    this.c.groups = ng;
  }

  /**
   * Some of the groups, as now (the others as they were): each one's id
   * must be a group's already (InputError naming `groups[i]…` before
   * anything changes). The fabric's member updates.
   */
  updateGroups(groups: SecurityGroup[]): void {
    const ids = this.raw;
    const ng = groups.map((g, i) => {
      if (!ids.has(g.id)) bad('SG_UNKNOWN_GROUP', `groups[${i}].id`, `no security group '${g.id}' to update`);
      return this.raw.get(g.id) === g ? this.groups.get(g.id)! : normaliseGroup(g, ids, `groups[${i}]`, true);
    });
    groups.forEach((g, i) => {
      this.changed(g.id, this.groups.get(g.id), ng[i]!);
      this.groups.set(g.id, ng[i]!);
      this.raw.set(g.id, g);
    });
  }

  /** Group 'id' goes from 'a' to 'b' (undefined: none): the units that depend on what differs marked. */
  private changed(id: string, a: NGroup | undefined, b: NGroup | undefined): void {
    if (a === b) return;
    const rulesSame = a !== undefined && b !== undefined && a.rulesText === b.rulesText;
    if (!rulesSame) {
      for (const p of this.byGroup.get(id) ?? []) this.dirtyPorts.add(p);
      if ((a?.remote.length ?? 0) > 0 || (b?.remote.length ?? 0) > 0) this.conjDirty = true;
    }
    const membersSame = a !== undefined && b !== undefined && a.extraMembers.join(' ') === b.extraMembers.join(' ');
    if (!membersSame) this.membersChanged(id);
  }

  /** Add port 'p' (after every port there): InputError naming `port…` before anything changes. */
  addPort(p: SgPort): void {
    if (this.ports.has(p.ofport)) bad('SG_DUPLICATE_PORT', 'port.ofport', `ofport ${p.ofport} is already a port`);
    const np = normalisePort(p, 'port', null);
    const fp: FwPort = { np, order: this.seq++, unit: [], notes: [] };
    this.ports.set(p.ofport, fp);
    for (const g of np.groups) addTo(this.byGroup, g, fp);
    addTo(this.byTag, np.tag, fp);
    this.dirtyPorts.add(fp);
    if (np.secured) for (const g of np.groups) this.membersChanged(g);
  }

  /** Remove the port on 'ofport' (nothing when there is none). */
  removePort(ofport: number): void {
    const fp = this.ports.get(ofport);
    if (fp === undefined) return;
    this.ports.delete(ofport);
    for (const g of fp.np.groups) this.byGroup.get(g)?.delete(fp);
    this.byTag.get(fp.np.tag)?.delete(fp);
    this.dirtyPorts.delete(fp);
    this.setUnit(fp.order, fp.unit, new Map());
    fp.unit = [];
    this.setNotes(fp, []);
    if (fp.np.secured) for (const g of fp.np.groups) this.membersChanged(g);
    if (this.usesConj(fp)) this.conjDirty = true;
  }

  /** Recompile what changed; the flows that differ from the previous flush. */
  flush(): FlowChange[] {
    if (this.conjDirty) this.renumber();
    for (const fp of [...this.dirtyPorts].sort((a, b) => a.order - b.order)) {
      this.c.out = new FlowList();
      this.c.notes = [];
      this.c.portUnit({ ...fp.np, groups: fp.np.groups.filter((g) => this.groups.has(g)) });
      this.setUnit(fp.order, fp.unit, this.c.out.byKey);
      fp.unit = [...this.c.out.byKey.keys()];
      this.setNotes(fp, this.c.notes);
    }
    this.c.notes = null;
    this.dirtyPorts.clear();
    for (const tag of this.dirtyTags) this.addressUnit(tag);
    this.dirtyTags.clear();
    const out: FlowChange[] = [];
    for (const [key, was] of this.touched) {
      const now = this.entries.get(key)?.act ?? null;
      if (now !== was) out.push({ key, line: now === null ? null : `${key},actions=${now}` });
    }
    this.touched.clear();
    return out;
  }

  /** Whether the port takes part in remote-group conjunctions (under the groups now). */
  private usesConj(fp: FwPort): boolean {
    return fp.np.secured && fp.np.groups.some((g) => (this.groups.get(g)?.remote.length ?? 0) > 0);
  }

  /** Conjunction ids as a full compile hands them out now; the ports whose ids moved are recompiled. */
  private renumber(): void {
    this.conjDirty = false;
    const old = this.c.conj;
    const next = new ConjIdMap();
    for (const fp of [...this.ports.values()].sort((a, b) => a.order - b.order)) {
      if (!fp.np.secured) continue;
      let moved = false;
      for (const gid of fp.np.groups) {
        for (const r of this.groups.get(gid)?.remote ?? []) {
          const id = next.get(gid, r.remoteGroupId!, r.direction, r.ethertype);
          if (old.peek(gid, r.remoteGroupId!, r.direction, r.ethertype) !== id) moved = true;
        }
      }
      if (moved || fp.notes.some(([, , , id]) => !next.has(id))) this.dirtyPorts.add(fp);
    }
    this.c.conj = next;
  }

  /** Group 'gid''s members changed: the address flows of the networks where it is a remote group. */
  private membersChanged(gid: string): void {
    for (const tag of this.refTags.get(gid)?.keys() ?? []) this.dirtyTags.add(tag);
  }

  /** A port's conjunction notes replaced: its network's address flows when they differ. */
  private setNotes(fp: FwPort, notes: ConjNote[]): void {
    const key = (n: ConjNote): string => n.join('|');
    if (notes.length === fp.notes.length && notes.every((n, i) => key(n) === key(fp.notes[i]!))) return;
    for (const [tag, , remote] of fp.notes) bump(this.refTags, remote, tag, -1);
    for (const [tag, , remote] of notes) bump(this.refTags, remote, tag, 1);
    for (const [tag] of [...fp.notes, ...notes]) this.dirtyTags.add(tag);
    fp.notes = notes;
  }

  /** ConjIPFlowManager.update_flows_for_vlan for network 'tag', from its ports' notes. */
  private addressUnit(tag: number): void {
    const netConj = new Map<number, NetConj>();
    for (const fp of this.byTag.get(tag) ?? []) for (const [t, k, remote, id] of fp.notes) addConj(netConj, t, k, remote, id);
    this.c.out = new FlowList();
    const byK = netConj.get(tag);
    if (byK !== undefined) this.c.addressFlows(tag, byK);
    this.setUnit(ADDRESS_ORDER + tag, this.addrUnits.get(tag) ?? [], this.c.out.byKey);
    if (this.c.out.byKey.size > 0) this.addrUnits.set(tag, [...this.c.out.byKey.keys()]); else this.addrUnits.delete(tag);
  }

  /** Unit 'order''s flows go from the keys 'before' to 'after' (key → actions). */
  private setUnit(order: number, before: string[], after: Map<string, string>): void {
    for (const key of before) if (!after.has(key)) this.drop(key, order);
    for (const [key, act] of after) if (this.contribution(key, order) !== act) this.put(key, order, act);
  }

  /** What unit 'order' wrote for 'key' (undefined: nothing). */
  private contribution(key: string, order: number): string | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    return e.order === order ? e.act : e.more?.get(order);
  }

  private touch(key: string, e: Entry | undefined): void {
    if (!this.touched.has(key)) this.touched.set(key, e?.act ?? null);
  }

  private put(key: string, order: number, act: string): void {
    const e = this.entries.get(key);
    this.touch(key, e);
    if (e === undefined) { this.entries.set(key, { act, order, more: null }); return; }
    if (e.order === order) { e.act = act; return; }
    if (order > e.order) {
      (e.more ??= new Map()).set(e.order, e.act);
      e.order = order;
      e.act = act;
    } else {
      (e.more ??= new Map()).set(order, act);
    }
  }

  private drop(key: string, order: number): void {
    const e = this.entries.get(key);
    if (e === undefined) return;
    this.touch(key, e);
    if (e.order !== order) { e.more?.delete(order); return; }
    if (e.more === null || e.more.size === 0) { this.entries.delete(key); return; }
    let best = -1;
    for (const o of e.more.keys()) if (o > best) best = o;
    e.order = best;
    e.act = e.more.get(best)!;
    e.more.delete(best);
  }
}

function addTo<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  let s = m.get(k);
  if (s === undefined) m.set(k, s = new Set());
  s.add(v);
}

function bump(m: Map<string, Map<number, number>>, a: string, b: number, by: number): void {
  let inner = m.get(a);
  if (inner === undefined) m.set(a, inner = new Map());
  const n = (inner.get(b) ?? 0) + by;
  if (n > 0) inner.set(b, n); else inner.delete(b);
  if (inner.size === 0) m.delete(a);
}

/** The groups' ids, checked (InputError naming `groups[i].id`). */
function groupIds(groups: SecurityGroup[]): Set<string> {
  const ids = new Set<string>();
  groups.forEach((g, i) => {
    if (typeof g.id !== 'string' || g.id === '') bad('SG_BAD_GROUP', `groups[${i}].id`, 'a group needs an id');
    if (ids.has(g.id)) bad('SG_DUPLICATE_GROUP', `groups[${i}].id`, `security group '${g.id}' is defined twice`);
    ids.add(g.id);
  });
  return ids;
}

/** The groups validated and normalised (InputError naming `groups[i]…`). */
function normaliseGroups(groups: SecurityGroup[]): Map<string, NGroup> {
  const ids = groupIds(groups);
  const ng = new Map<string, NGroup>();
  groups.forEach((g, i) => ng.set(g.id, normaliseGroup(g, ids, `groups[${i}]`)));
  return ng;
}

/** Each group object's normalised form (read only, shared by every FirewallState given the same object). */
const normalised = new WeakMap<SecurityGroup, NGroup>();

/** Group 'g' validated and normalised; with 'cache' (FirewallState: the same object is unchanged) shared. */
function normaliseGroup(g: SecurityGroup, ids: GroupIds, path: string, cache = false): NGroup {
  const had = cache ? normalised.get(g) : undefined;
  // valid before: still valid while its remote groups are there (else normalised again, to throw)
  if (had !== undefined && had.remote.every((r) => ids.has(r.remoteGroupId!))) return had;
  const rules = g.rules.map((r, j) => normaliseRule(r, ids, `${path}.rules[${j}]`));
  const extra = (g.members ?? []).map((m, j) => { canonicalCidr(m, `${path}.members[${j}]`); return m; });
  const raw = rules.filter((r) => r.remoteGroupId === null), remote = rules.filter((r) => r.remoteGroupId !== null);
  const n: NGroup = { id: g.id, raw, remote, extraMembers: extra, rulesText: JSON.stringify([raw, remote]) };
  if (cache) normalised.set(g, n);
  return n;
}

/**
 * A port validated and normalised (InputError naming `path`…); with 'ng',
 * its groups must be among them (when its port security is on);
 * 'checkOfport' runs once the ofport is known to be in range.
 */
function normalisePort(p: SgPort, path: string, ng: Map<string, NGroup> | null, checkOfport = (): void => {}): NPort {
  if (!(Number.isInteger(p.ofport) && p.ofport >= 1 && p.ofport <= 0xfeff)) bad('SG_BAD_OFPORT', `${path}.ofport`, `${p.ofport} is not an OpenFlow port 1..65279`);
  checkOfport();
  if (!(Number.isInteger(p.network) && p.network >= 1 && p.network <= 4094)) bad('SG_BAD_NETWORK', `${path}.network`, `${p.network} is not a local VLAN tag 1..4094`);
  const mac = canonicalMac(p.mac, `${path}.mac`);
  const v4: string[] = [], v6: string[] = [];
  p.fixedIps.forEach((ip, j) => { const a = hostAddress(ip, `${path}.fixedIps[${j}]`); (a.v6 ? v6 : v4).push(a.addr); });
  const pairsV4: [string, string][] = [], pairsV6: [string, string][] = [];
  (p.allowedAddressPairs ?? []).forEach((a, j) => {
    const c = canonicalCidr(a.ip, `${path}.allowedAddressPairs[${j}].ip`);
    const m = a.mac === undefined ? mac : canonicalMac(a.mac, `${path}.allowedAddressPairs[${j}].mac`);
    const addr = c.len === (c.v6 ? 128 : 32) ? c.cidr.slice(0, c.cidr.indexOf('/')) : c.cidr;
    (c.v6 ? pairsV6 : pairsV4).push([m, addr]);
  });
  const secured = p.portSecurity ?? true;
  if (secured && ng !== null) {
    p.securityGroups.forEach((g, j) => { if (!ng.has(g)) bad('SG_UNKNOWN_GROUP', `${path}.securityGroups[${j}]`, `no security group '${g}'`); });
  }
  return {
    id: p.id ?? `port${p.ofport}`, ofport: p.ofport, mac, lla: linkLocalAddress(mac), v4, v6, pairsV4, pairsV6,
    groups: [...p.securityGroups], tag: p.network, secured,
  };
}

export class SecurityGroups {
  /**
   * Compile 'groups' applied to 'ports' into ovs-ofctl add-flows text (one
   * flow a line), as Neutron's openvswitch firewall driver installs them on
   * a fresh br-int. Throws InputError (code SG_*, path of the bad field).
   */
  static compile(ports: SgPort[], groups: SecurityGroup[], opts: SgCompileOptions = {}): string {
    return `${SecurityGroups.compileDetailed(ports, groups, opts).flows.join('\n')}\n`;
  }

  /** compile(), with the flows as a list and the conjunction ids handed out. */
  static compileDetailed(ports: SgPort[], groups: SecurityGroup[], opts: SgCompileOptions = {}): SgCompileResult {
    const ng = normaliseGroups(groups);
    const seen = new Map<number, number>();
    const np = ports.map((p, i): NPort => {
      const n = normalisePort(p, `ports[${i}]`, ng, () => {
        if (seen.has(p.ofport)) bad('SG_DUPLICATE_PORT', `ports[${i}].ofport`, `ofport ${p.ofport} is also ports[${seen.get(p.ofport)}]`);
      });
      seen.set(p.ofport, i);
      return n;
    });
    const c = new Compiler(np, ng, opts);
    if (opts.baseFlows ?? true) c.baseFlows();
    c.firewallFlows();
    c.portFlows();
    return { flows: c.out.lines(), conjIds: c.conj.entries };
  }

  /** A group as Neutron creates it: egress to anywhere (IPv4 and IPv6), nothing in; 'rules' added after. */
  static newGroup(id: string, rules: SgRule[] = []): SecurityGroup {
    return { id, rules: [{ direction: 'egress', ethertype: 'IPv4' }, { direction: 'egress', ethertype: 'IPv6' }, ...rules] };
  }

  /** A project's `default` group: egress anywhere, ingress from the group's own members. */
  static defaultGroup(id = 'default'): SecurityGroup {
    return SecurityGroups.newGroup(id, [
      { direction: 'ingress', ethertype: 'IPv4', remoteGroupId: id },
      { direction: 'ingress', ethertype: 'IPv6', remoteGroupId: id },
    ]);
  }
}
