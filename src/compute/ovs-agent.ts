/**
 * neutron-openvswitch-agent on one hypervisor (compute layer, slow path):
 * the per-host L2 data plane of an OpenStack cloud wired as Neutron's ML2/OVS
 * mechanism driver wires it, with l2population and arp_responder on.
 *
 * What: `OvsAgent` builds, on a Topology,
 *  - a Host `<name>` whose eth0 holds the hypervisor's underlay (tunnel
 *    endpoint) address — the link to the underlay segment is the fabric's
 *    (l2pop.ts);
 *  - `<name>/br-int` and `<name>/br-tun`, two OvsBridges of one vswitchd (one
 *    DpifNumbers); br-tun runs on the host, so its VXLAN ports encapsulate
 *    through the host's stack;
 *  - the patch pair patch-tun (br-int) ↔ patch-int (br-tun). The OvsBridge
 *    device has no patch ports, so each is an ordinary port joined to the
 *    other by a zero-delay Link. Real OVS translates a packet through both
 *    bridges in one upcall (patch ports are a translation detail, one
 *    datapath flow covers br-int and br-tun); here each bridge has its own
 *    datapath pass, its own megaflow, its own `ofproto/trace` — a trace on
 *    br-int ends at `output:patch-tun`, and br-tun's trace starts at
 *    `in_port=patch-int` with the VLAN tag NORMAL pushed.
 * Local VLANs (LocalVlanManager): a network gets the lowest free tag 1..4094
 * on this host with its first bound port and gives it back with its last one
 * (ovs_neutron_agent's provision_local_vlan / reclaim_local_vlan).
 * br-int: Neutron's default tables and its OVS firewall driver's flows
 * (devices/security-group.ts, tables 0/58/59/60/71/72/73/81/82/91–94),
 * kept compiled by a FirewallState — a bind compiles that port's flows, a
 * group change the ports and networks it touches, always equal to a full
 * compile of the bound ports in bind order — and applied as a difference:
 * flows gone are deleted (strict, found by their identity), new or changed
 * ones added, the rest left alone with their counters (nothing on br-int
 * is learnt into the flow table; NORMAL's MAC table is not touched).
 * `hold()`/`release()` (the fabric's batch) defer the update to the last
 * release: the bridge changes once for many binds (and br-tun's flood flow
 * of a network once for the many remotes a first bind learns). A bound port is an access port with tag = its
 * network's local VLAN; patch-tun is a trunk. A port that was unbound stays on the bridge (the agent deletes
 * no VM port: os-vif does) as Neutron's port_dead leaves it: tag 4095 (DEAD_VLAN_TAG) and
 * `table=0,priority=2,in_port=P,actions=drop`; binding the same port id again
 * reuses it. For a tunnel network br-int holds nothing else: br-tun tags what
 * it hands over, and table 60's dl_vlan=LV,dl_dst=MAC flows take it in.
 * br-tun: neutron/…/openflow/native/br_tun.py's tables (written with
 * resubmit(,N) where os-ken writes goto_table, OpenFlow 1.0 text):
 *   0  in_port=patch-int → 2; in_port=vxlan-… → 4 (priority 1); else drop
 *   2  PATCH_LV_TO_TUN  arp,dl_dst=ff:ff:ff:ff:ff:ff → 21 (priority 1);
 *                       unicast → 20, multicast → 22 (priority 0, masked dl_dst)
 *   3, 4, 6             GRE/VXLAN/Geneve TUN_TO_LV: drop; per network
 *                       `table=4,priority=1,tun_id=VNI → mod_vlan_vid:LV,→ 10`
 *   10 LEARN_FROM_TUN   learn(table=20, VLAN + dl_dst = this dl_src →
 *                       strip the VLAN, this tun_id, out this port;
 *                       hard_timeout 300), output:patch-int
 *   20 UCAST_TO_TUN     l2pop `priority=2,dl_vlan=LV,dl_dst=MAC →
 *                       strip_vlan,set_tunnel:VNI,output:vxlan-…`; learnt
 *                       entries at priority 1; else → 22
 *   21 ARP_RESPONDER    l2pop `arp,dl_vlan=LV,arp_tpa=IP →` the request
 *                       turned into the reply in place (op 2, THA/TPA from
 *                       SHA/SPA, SHA/SPA the answer, eth_dst from eth_src,
 *                       eth_src the MAC) and sent back IN_PORT; else → 22
 *   22 FLOOD_TO_TUN     `priority=1,dl_vlan=LV → strip_vlan,set_tunnel:VNI,
 *                       output:` every tunnel with a flooding entry; else drop
 * Tunnel ports are Neutron's: `vxlan-<8 hex digits of the remote IPv4>`,
 * remote_ip, local_ip = this host's, key=flow (in_key/out_key=flow), made on
 * the first FDB entry naming the remote. When no network needs one any more,
 * the port is deleted and its in_port flows go (cleanup_tunnel_port); a
 * remote coming back gets a new port (the next OpenFlow number).
 * FDB (fdbAdd/fdbRemove, called by the l2pop driver): as the agent's
 * fdb_add_tun/fdb_remove_tun: the flooding entry adds or removes the tunnel
 * in table 22; a (MAC, IP) entry adds or removes the unicast flow (table 20)
 * and the ARP responder entry (table 21). Entries for networks without a
 * local port are ignored, as the agent ignores them. A MAC announced by a
 * second remote belongs to that one from then on (its flows are replaced in
 * place), and the first remote's later fdb_remove leaves them alone — a live
 * migration's two messages may come in either order. Removing a unicast entry
 * deletes every table-20 flow for (VLAN, MAC), the learnt one too; Neutron's
 * delete (vlan_vid=VLAN|present, eth_dst) leaves learnt flows — their
 * `vlan_tci=VLAN/0x0fff` is wider than its match — to their 300 s hard
 * timeout, so a real br-tun may keep sending to the old host a while (until
 * then an l2pop entry, priority 2, wins over a learnt one). Reclaiming a
 * local VLAN likewise takes its learnt flows with it.
 * unbindPort: the port's filter flows, its local VLAN (if it was the last
 * port of its network: table 4/20/21/22 flows of that VLAN, tunnel ports
 * no network needs any more),
 * the MACs NORMAL learnt on it (the VLAN change flushes them), and the
 * conntrack entries of its addresses in its zone (Neutron's firewall deletes
 * them through conntrack-tools); the l2pop driver tells the other agents.
 * Errors: ComputeError (code, `where`: the field) for a bad port record
 * (id, MAC, fixed IPs, VNI — checked before anything changes), a port bound
 * twice or not bound, no local VLAN left.
 * Checked against Open vSwitch 3.1 by test/compute/ovs-agent-ovs.test.ts:
 * the same ports and datapath numbers, the same flows as dump-flows prints
 * them, br-tun traces equal line for line, br-int's datapath actions, the
 * flow learn() makes, the deletes.
 * Not modelled: DVR (tables 1, 9), GRE/Geneve networks, VLAN/flat provider
 * networks (int-br-*), the agent's RPC loop and its resync, the cookie of
 * each flow, QoS tables.
 * Cost: configuration time only: a bind compiles and installs that port's
 * flows (~60 with a two-rule group; plus its networks' remote-group
 * address flows when its groups are remote groups of rules there) — not
 * linear in the ports already bound; a security-group change recompiles
 * the ports in the changed groups; an FDB change touches one to a few
 * flows of br-tun. Measured (bench/compute.bench.ts, `node
 * --max-old-space-size=8000 --expose-gc --import tsx bench/compute.bench.ts
 * --hypervisors 10 --vpcs 30 --vms 300`): 300 VMs 9.5 s with the full
 * recompile per bind, 0.6 s now; 200 hypervisors / 10,000 VMs: the VMs
 * phase 14–16 s (19 s CPU with GC's helper threads; 40% of it
 * OvsBridge.addFlows parsing and inserting the flows, 25% GC, 5% the
 * firewall's compile), 1.2 GB heap; FirewallState is ~20 MB per 1,000
 * ports.
 * Neighbours: l2pop.ts (the fabric: underlay, every agent, the l2population
 * driver), devices/ovs-bridge.ts (the bridges), devices/security-group.ts
 * (br-int's firewall flows), conntrack/ (the zone clean-up), types.ts (the
 * records the control plane hands over).
 */
import { Conntrack } from '../conntrack/conntrack.js';
import { K_DST, K_META, K_SRC, KEY_WORDS, keyZone } from '../conntrack/tuple.js';
import { DpifNumbers, type OvsBridge, type OvsPort } from '../devices/ovs-bridge.js';
import { parseFlowsFile } from '../ofproto/ofctl.js';
import { FirewallState, TABLE_NAMES, type FlowChange, type SecurityGroup } from '../devices/security-group.js';
import { SdnemuError } from '../errors.js';
import type { Host } from '../netstack/host.js';
import type { Topology } from '../topology/topology.js';
import { parseIpv4, parseMac } from '../wire/bytes.js';
import { devName, type DeviceOwner, type FdbEntry, type PortInfo, type Segment } from './types.js';

// ---- Neutron's constants (neutron ovs agent common/constants.py) ---------------------------------

export const PATCH_LV_TO_TUN = 2;
export const GRE_TUN_TO_LV = 3;
export const VXLAN_TUN_TO_LV = 4;
export const GENEVE_TUN_TO_LV = 6;
export const LEARN_FROM_TUN = 10;
export const UCAST_TO_TUN = 20;
export const ARP_RESPONDER = 21;
export const FLOOD_TO_TUN = 22;
/** br-tun's table names, for reading traces */
export const TUN_TABLE_NAMES: Readonly<Record<number, string>> = {
  0: 'LOCAL_SWITCHING', [PATCH_LV_TO_TUN]: 'PATCH_LV_TO_TUN', [GRE_TUN_TO_LV]: 'GRE_TUN_TO_LV', [VXLAN_TUN_TO_LV]: 'VXLAN_TUN_TO_LV',
  [GENEVE_TUN_TO_LV]: 'GENEVE_TUN_TO_LV', [LEARN_FROM_TUN]: 'LEARN_FROM_TUN', [UCAST_TO_TUN]: 'UCAST_TO_TUN',
  [ARP_RESPONDER]: 'ARP_RESPONDER', [FLOOD_TO_TUN]: 'FLOOD_TO_TUN',
};
export const DEAD_VLAN_TAG = 4095;
const MIN_VLAN_TAG = 1, MAX_VLAN_TAG = 4094;
/** learnt UCAST_TO_TUN entries' hard_timeout (br_tun.py) */
const LEARN_HARD_TIMEOUT_S = 300;
export const PATCH_TUN = 'patch-tun';
export const PATCH_INT = 'patch-int';

/** A data-plane configuration error of the compute layer ('where' names the input). */
export class ComputeError extends SdnemuError {
  readonly where: string;
  constructor(code: string, where: string, message: string) {
    super(code, message);
    this.name = 'ComputeError';
    this.where = where;
  }
  override location(): Record<string, string | number> {
    return { where: this.where };
  }
}

/** Neutron's tunnel port name: the network type and the remote IPv4 address as 8 hex digits (get_tunnel_name). */
export function tunnelPortName(remoteIp: string, type = 'vxlan'): string {
  const a = parseIpv4(remoteIp);
  if (a === null) throw new ComputeError('COMPUTE_BAD_ADDRESS', 'remoteIp', `'${remoteIp}' is not an IPv4 address`);
  return `${type}-${(a >>> 0).toString(16).padStart(8, '0')}`;
}

/** The device name os-vif / the L3 agent give a port of this owner. */
export function portDevName(owner: DeviceOwner, id: string): string {
  switch (owner) {
    case 'compute:nova': return devName('tap', id);
    case 'network:router_interface': return devName('qr-', id);
    case 'network:router_gateway': return devName('qg-', id);
    case 'network:nat_gateway': return devName('qn-', id);
  }
}

/** A MAC as a number literal for load: (0xfa163e000001). */
const macHex = (mac: string): string => `0x${mac.toLowerCase().replace(/:/g, '').replace(/^0+(?=.)/, '')}`;
const ipHex = (ip: string): string => `0x${(parseIpv4(ip)! >>> 0).toString(16)}`;
const vniHex = (vni: number): string => `0x${vni.toString(16)}`;
/**
 * VLAN 'v' whatever the CFI bit: a non-strict delete with `dl_vlan=v`
 * (0x1000|v/0x1fff) spares the learnt flows, whose `vlan_tci=v/0x0fff` is
 * wider; this covers both.
 */
const anyCfi = (v: number): string => `vlan_tci=0x${v.toString(16).padStart(4, '0')}/0x0fff`;

/**
 * Local VLAN tags of one host (ovs_neutron_agent's LocalVlanManager with
 * its available_local_vlans): a network's tag from its first port to its
 * last; the lowest free tag first.
 */
export class LocalVlanManager {
  private readonly byNet = new Map<string, number>();
  private readonly used = new Set<number>();

  /** The tag of 'networkId', allocating one if it has none. Throws ComputeError when all 4094 are taken. */
  allocate(networkId: string): number {
    const had = this.byNet.get(networkId);
    if (had !== undefined) return had;
    for (let v = MIN_VLAN_TAG; v <= MAX_VLAN_TAG; v++) {
      if (this.used.has(v)) continue;
      this.used.add(v);
      this.byNet.set(networkId, v);
      return v;
    }
    throw new ComputeError('COMPUTE_NO_LOCAL_VLAN', networkId, 'no local VLAN left on this host (1..4094 in use)');
  }

  /** The tag of 'networkId', or -1. */
  get(networkId: string): number { return this.byNet.get(networkId) ?? -1; }

  /** Give 'networkId''s tag back. */
  release(networkId: string): void {
    const v = this.byNet.get(networkId);
    if (v === undefined) return;
    this.byNet.delete(networkId);
    this.used.delete(v);
  }

  /** network id → tag, in allocation order. */
  entries(): [string, number][] { return [...this.byNet]; }
}

/**
 * Conntrack with conntrack-tools' `conntrack -D -w ZONE -s/-d IP` (what
 * Neutron's firewall runs for a deleted port): br-int's datapath gets one.
 */
export class AgentConntrack extends Conntrack {
  /** Delete the entries of 'zone' whose original or reply tuple has 'ip' (IPv4) as source or destination; returns how many. */
  deleteAddress(zone: number, ip: number): number {
    const KW2 = KEY_WORDS * 2;
    let n = 0;
    for (let c = 0; c < this.used; c++) {
      if (this.live[c] !== 1) continue;
      const o = c * KW2;
      if (keyZone(this.keys[o + K_META]!) !== zone) continue;
      const k = this.keys;
      const v4 = ((k[o + K_META]! >>> 16) & 1) === 0;
      if (!v4) continue;
      if (k[o + K_SRC] === ip || k[o + K_DST] === ip || k[o + KEY_WORDS + K_SRC] === ip || k[o + KEY_WORDS + K_DST] === ip) {
        this.removeConn(c);
        n++;
      }
    }
    return n;
  }
}

/** The drop flow of a dead port, up to its actions (port_dead). */
const deadKey = (ofport: number): string => `table=0,priority=2,in_port=${ofport}`;

/** A rule's table in words for trace records: `VXLAN_TUN_TO_LV (table 4)`. */
function explainTable(line: string, names: Readonly<Record<number, string>>): string | null {
  const t = /(?:^|[\s,])table=(\d+)/.exec(line);
  const n = t === null ? 0 : Number(t[1]);
  const name = names[n];
  return name === undefined ? null : `${name} (table ${n})`;
}

/** A port record as the agent needs it; throws ComputeError naming the field. */
function checkPort(p: PortInfo): void {
  const bad = (field: string, msg: string): never => { throw new ComputeError('COMPUTE_BAD_PORT', `port.${field}`, `port ${p.id}: ${msg}`); };
  if (typeof p.id !== 'string' || p.id === '') bad('id', 'a port needs an id');
  if (!Number.isInteger(p.segment.vni) || p.segment.vni < 0 || p.segment.vni > 0xffffff) bad('segment.vni', `${p.segment.vni} is not a VNI 0..16777215`);
  if (parseMac(p.mac) === null) bad('mac', `'${p.mac}' is not a MAC address`);
  p.fixedIps.forEach((ip, i) => { if (parseIpv4(ip) === null) bad(`fixedIps[${i}]`, `'${ip}' is not an IPv4 address`); });
}

/** A network present on this host: its tag, ports, and what l2pop told about it. */
interface LocalNet {
  segment: Segment;
  vlan: number;
  ports: Set<string>;
  /** remote IPs with a flooding entry (lvm.tun_ofports) */
  flood: Set<string>;
  /** remote IP → MAC → the IPs of the unicast entries */
  ucast: Map<string, Map<string, Set<string>>>;
}

/** A bound port on this host. */
interface Bound { info: PortInfo; ovs: OvsPort; vlan: number }

export interface OvsAgentOptions {
  /** the hypervisor's name: its Host, and the prefix of its bridges */
  name: string;
  /** its underlay (tunnel endpoint) address */
  ip: string;
  /** the underlay's prefix length (default 24) */
  prefixLen?: number;
  /** eth0's MAC (default: one the simulator hands out) */
  mac?: string;
}

export class OvsAgent {
  readonly name: string;
  readonly localIp: string;
  readonly host: Host;
  readonly brInt: OvsBridge;
  readonly brTun: OvsBridge;
  readonly conntrack = new AgentConntrack();
  readonly vlans = new LocalVlanManager();
  private readonly nets = new Map<string, LocalNet>();
  private readonly bound = new Map<string, Bound>();
  /** br-int ports of unbound port ids (dead: tag 4095), reusable */
  private readonly dead = new Map<string, OvsPort>();
  /** remote IP → tunnel port on br-tun (with its table-0 flow), while some network needs it */
  private readonly tunnels = new Map<string, { name: string; ofport: number }>();
  /** bumped whenever a tunnel port is made or deleted */
  private tunnelChanges = 0;
  private readonly patchInt: number;
  /** br-int's firewall, kept compiled (devices/security-group.ts) */
  private readonly fw = new FirewallState();
  /** dead ports (ofports) whose drop flow is on br-int; ofport → wanted or not, since the last sync */
  private readonly deadInstalled = new Set<number>();
  private readonly deadPending = new Map<number, boolean>();
  /** hold() depth: br-int is synced (and the held flood flows added) when it returns to 0 */
  private held = 0;
  /** per network, its FLOOD_TO_TUN flow as it is to be, while held */
  private readonly floodPending = new Map<LocalNet, string>();

  /** The hypervisor 'opts.name' on 'topology' (host, br-int, br-tun, patch ports, br-tun's default flows). */
  constructor(readonly topology: Topology, opts: OvsAgentOptions) {
    if (parseIpv4(opts.ip) === null) throw new ComputeError('COMPUTE_BAD_ADDRESS', 'ip', `'${opts.ip}' is not an IPv4 address`);
    this.name = opts.name;
    this.localIp = opts.ip;
    this.host = topology.host(opts.name, { ifaces: [{ name: 'eth0', addrs: [`${opts.ip}/${opts.prefixLen ?? 24}`], ...(opts.mac !== undefined ? { mac: opts.mac } : {}) }] });
    const dpif = new DpifNumbers();
    this.brInt = topology.ovsBridge(`${opts.name}/br-int`, { defaultFlows: 'none', dpif, datapath: { conntrack: this.conntrack } });
    this.brTun = topology.ovsBridge(`${opts.name}/br-tun`, { defaultFlows: 'none', dpif, host: this.host });
    const patchTun = this.brInt.addPort(PATCH_TUN);
    const patchInt = this.brTun.addPort(PATCH_INT);
    this.patchInt = patchInt.ofport;
    topology.link(patchTun, patchInt, { delay: 0 });
    // trace records name each matched rule's table as Neutron's constants do
    this.brInt.explainRule = (line) => explainTable(line, TABLE_NAMES);
    this.brTun.explainRule = (line) => explainTable(line, TUN_TABLE_NAMES);
    this.brTun.addFlows(this.tunDefaultFlows());
    this.syncBrInt();
  }

  /** OVSTunnelBridge.setup_default_table (arp_responder on, no DVR). */
  private tunDefaultFlows(): string {
    return [
      `table=0,priority=1,in_port=${this.patchInt},actions=resubmit(,${PATCH_LV_TO_TUN})`,
      'table=0,priority=0,actions=drop',
      `table=${PATCH_LV_TO_TUN},priority=1,arp,dl_dst=ff:ff:ff:ff:ff:ff,actions=resubmit(,${ARP_RESPONDER})`,
      `table=${PATCH_LV_TO_TUN},priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,${UCAST_TO_TUN})`,
      `table=${PATCH_LV_TO_TUN},priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,${FLOOD_TO_TUN})`,
      `table=${GRE_TUN_TO_LV},priority=0,actions=drop`,
      `table=${VXLAN_TUN_TO_LV},priority=0,actions=drop`,
      `table=${GENEVE_TUN_TO_LV},priority=0,actions=drop`,
      `table=${LEARN_FROM_TUN},priority=1,actions=learn(table=${UCAST_TO_TUN},hard_timeout=${LEARN_HARD_TIMEOUT_S},priority=1,`
        + 'NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],'
        + `load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:NXM_OF_IN_PORT[]),output:${this.patchInt}`,
      `table=${UCAST_TO_TUN},priority=0,actions=resubmit(,${FLOOD_TO_TUN})`,
      `table=${ARP_RESPONDER},priority=0,actions=resubmit(,${FLOOD_TO_TUN})`,
      `table=${FLOOD_TO_TUN},priority=0,actions=drop`,
    ].join('\n');
  }

  // ---- ports ----------------------------------------------------------------------------------------

  /**
   * Bind 'port' on this host: its br-int port (named by its device owner,
   * made or reused), its network's local VLAN (allocated and provisioned on
   * br-tun with the first port), its filter flows. Returns the br-int port
   * the device's interface is to be linked to. Throws ComputeError when the
   * port is already bound here or a field is bad (MAC, fixed IPs, VNI), before
   * anything changes.
   */
  bindPort(port: PortInfo): OvsPort {
    checkPort(port);
    if (this.bound.has(port.id)) throw new ComputeError('COMPUTE_PORT_BOUND', port.id, `port ${port.id} is already bound on ${this.name}`);
    let net = this.nets.get(port.segment.networkId);
    if (net === undefined) {
      const vlan = this.vlans.allocate(port.segment.networkId);
      net = { segment: port.segment, vlan, ports: new Set(), flood: new Set(), ucast: new Map() };
      this.nets.set(port.segment.networkId, net);
      this.brTun.addFlows(`table=${VXLAN_TUN_TO_LV},priority=1,tun_id=${vniHex(port.segment.vni)},actions=mod_vlan_vid:${vlan},resubmit(,${LEARN_FROM_TUN})`);
    }
    net.ports.add(port.id);
    const name = portDevName(port.deviceOwner, port.id);
    let ovs = this.dead.get(port.id);
    if (ovs === undefined) ovs = this.brInt.addPort(name); else { this.dead.delete(port.id); this.deadPending.set(ovs.ofport, false); }
    this.brInt.br.setPortVlan(ovs.ofport, { tag: net.vlan });
    this.bound.set(port.id, { info: port, ovs, vlan: net.vlan });
    this.fw.addPort({
      id: port.id, ofport: ovs.ofport, mac: port.mac, fixedIps: port.fixedIps, securityGroups: port.securityGroups,
      network: net.vlan, allowedAddressPairs: port.allowedAddressPairs, portSecurity: port.portSecurity,
    });
    this.syncBrInt();
    return ovs;
  }

  /**
   * Unbind port 'id' (see the module comment for what goes with it). The
   * caller (the l2pop driver) tells the other agents. Throws ComputeError
   * for a port not bound here.
   */
  unbindPort(id: string): void {
    const b = this.bound.get(id);
    if (b === undefined) throw new ComputeError('COMPUTE_NO_PORT', id, `port ${id} is not bound on ${this.name}`);
    this.bound.delete(id);
    this.dead.set(id, b.ovs);
    // port_dead: the dead VLAN (flushes the MACs NORMAL learnt on it) and a drop flow (syncBrInt)
    this.brInt.br.setPortVlan(b.ovs.ofport, { tag: DEAD_VLAN_TAG });
    this.fw.removePort(b.ovs.ofport);
    this.deadPending.set(b.ovs.ofport, true);
    this.syncBrInt();
    for (const ip of [...b.info.fixedIps, ...b.info.allowedAddressPairs.map((p) => p.ip)]) {
      const a = parseIpv4(ip);
      if (a !== null) this.conntrack.deleteAddress(b.vlan, a >>> 0);
    }
    const net = this.nets.get(b.info.segment.networkId)!;
    net.ports.delete(id);
    if (net.ports.size === 0) this.reclaim(net);
  }

  /** reclaim_local_vlan for a tunnel network: its br-tun flows, tunnel ports no longer needed, the tag. */
  private reclaim(net: LocalNet): void {
    const v = net.vlan;
    this.brTun.delFlows(`table=${VXLAN_TUN_TO_LV},tun_id=${vniHex(net.segment.vni)}`);
    this.brTun.delFlows(`table=${FLOOD_TO_TUN},dl_vlan=${v}`);
    this.brTun.delFlows(`table=${UCAST_TO_TUN},${anyCfi(v)}`);
    this.brTun.delFlows(`table=${ARP_RESPONDER},dl_vlan=${v},arp`);
    this.floodPending.delete(net);
    this.nets.delete(net.segment.networkId);
    this.vlans.release(net.segment.networkId);
    for (const ip of this.tunnels.keys()) this.cleanupTunnel(ip);
  }

  /** The ports bound here. */
  boundPorts(): PortInfo[] { return [...this.bound.values()].map((b) => b.info); }

  /** Whether a port of network 'networkId' is bound here. */
  hostsNetwork(networkId: string): boolean { return this.nets.has(networkId); }

  /** The number of ports of 'networkId' bound here. */
  networkPorts(networkId: string): number { return this.nets.get(networkId)?.ports.size ?? 0; }

  /** The br-int port of bound port 'id'. Throws ComputeError. */
  port(id: string): OvsPort {
    const b = this.bound.get(id);
    if (b === undefined) throw new ComputeError('COMPUTE_NO_PORT', id, `port ${id} is not bound on ${this.name}`);
    return b.ovs;
  }

  // ---- security groups ----------------------------------------------------------------------------

  /**
   * The security groups (with the members of ports on other hosts): what
   * changed recompiled (a group is unchanged while it is the same object).
   * A port's groups not among them are left out until they come.
   */
  setSecurityGroups(groups: SecurityGroup[]): void {
    this.fw.setGroups(groups);
    this.syncBrInt();
  }

  /** Some groups as now (member updates; each id a group's already): what changed recompiled. */
  updateSecurityGroups(groups: SecurityGroup[]): void {
    this.fw.updateGroups(groups);
    this.syncBrInt();
  }

  /**
   * Hold br-int's updates (binds, unbinds, group changes collect) until the
   * matching release(): the fabric's batch() holds an agent while it binds
   * many ports there, so each unit is compiled once.
   */
  hold(): void { this.held++; }

  /** The end of a hold(): br-int brought up to date when no hold is left. */
  release(): void {
    if (this.held > 0 && --this.held === 0) { this.syncBrInt(); this.flushFlood(); }
  }

  /**
   * br-int's flows brought up to date, touching only what differs from
   * what it holds (as the agent does: unchanged flows keep their counters):
   * Neutron's defaults and the firewall (FirewallState: the flows that
   * changed), the dead ports' drops. Flows gone are deleted (strict), new
   * or changed ones added (add-flow replaces a changed one in place); when
   * more go than stay, the whole table is replaced.
   */
  private syncBrInt(): void {
    if (this.held > 0) return;
    const changes: FlowChange[] = this.fw.flush();
    for (const [ofport, want] of this.deadPending) {
      if (want === this.deadInstalled.has(ofport)) continue;
      if (want) this.deadInstalled.add(ofport); else this.deadInstalled.delete(ofport);
      const key = deadKey(ofport);
      changes.push({ key, line: want ? `${key},actions=drop` : null });
    }
    this.deadPending.clear();
    if (changes.length === 0) return;
    const gone = changes.filter((c) => c.line === null);
    if (gone.length > this.fw.size + this.deadInstalled.size) {
      const lines = this.fw.lines();
      for (const p of this.deadInstalled) lines.push(`${deadKey(p)},actions=drop`);
      this.brInt.replaceFlows(lines.join('\n'));
      return;
    }
    if (gone.length > 0) this.deleteStrict(gone.map((c) => c.key));
    const added = changes.filter((c) => c.line !== null).map((c) => c.line);
    if (added.length > 0) this.brInt.addFlows(added.join('\n'));
  }

  /**
   * `del-flows --strict` of each of 'keys' (table, priority, match — a
   * `conj_id` too, which OvsBridge.delFlows does not parse), each found by
   * its identity rather than by a scan of its table.
   */
  private deleteStrict(keys: string[]): void {
    const br = this.brInt.br;
    let n = 0;
    for (const s of parseFlowsFile(keys.map((k) => `${k},actions=drop`).join('\n'), { protocols: br.protocols })) {
      const t = br.tables[s.table]!;
      const r = t.findStrict(s.match, s.priority, s.conjId);
      if (r !== null && t.remove(r)) n++;
    }
    if (n > 0) br.version++;
  }

  // ---- l2population ---------------------------------------------------------------------------------

  /**
   * fdb_add from the l2pop driver: on 'segment', the hypervisor 'remoteIp'
   * holds the ports 'entries' and (when 'flooding') wants the network's
   * broadcasts. Ignored for this host's own address and for a network with
   * no port here.
   */
  fdbAdd(segment: Segment, remoteIp: string, entries: FdbEntry[], flooding: boolean): void {
    const net = this.nets.get(segment.networkId);
    if (net === undefined || remoteIp === this.localIp) return;
    const ofport = this.tunnelPort(remoteIp);
    if (flooding && !net.flood.has(remoteIp)) {
      net.flood.add(remoteIp);
      this.installFlood(net);
    }
    let macs = net.ucast.get(remoteIp);
    if (macs === undefined) net.ucast.set(remoteIp, macs = new Map());
    const lines: string[] = [];
    for (const e of entries) {
      // a MAC that moved (live migration): the entry now belongs to this remote only
      for (const [ip, other] of net.ucast) {
        const old = ip === remoteIp ? undefined : other.get(e.mac);
        if (old === undefined) continue;
        other.delete(e.mac);
        // its ARP entries go (the ones announced again are added back below)
        for (const a of old) this.brTun.delFlows(`table=${ARP_RESPONDER},dl_vlan=${net.vlan},arp,arp_tpa=${a}`);
      }
      let ips = macs.get(e.mac);
      if (ips === undefined) macs.set(e.mac, ips = new Set());
      ips.add(e.ip);
      lines.push(`table=${ARP_RESPONDER},priority=1,arp,dl_vlan=${net.vlan},arp_tpa=${e.ip},actions=`
        + 'load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],'
        + `load:${macHex(e.mac)}->NXM_NX_ARP_SHA[],load:${ipHex(e.ip)}->NXM_OF_ARP_SPA[],`
        + `move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],mod_dl_src:${e.mac},IN_PORT`);
      lines.push(`table=${UCAST_TO_TUN},priority=2,dl_vlan=${net.vlan},dl_dst=${e.mac},`
        + `actions=strip_vlan,set_tunnel:${vniHex(segment.vni)},output:${ofport}`);
    }
    if (lines.length > 0) this.brTun.addFlows(lines.join('\n'));
    this.forgetIdle(net);
  }

  /**
   * fdb_remove from the l2pop driver: the entries (and with 'flooding' the
   * flooding entry) of 'remoteIp' on 'segment' are gone; a tunnel no network
   * needs any more loses its flows.
   */
  fdbRemove(segment: Segment, remoteIp: string, entries: FdbEntry[], flooding: boolean): void {
    const net = this.nets.get(segment.networkId);
    if (net === undefined || remoteIp === this.localIp) return;
    if (flooding && net.flood.delete(remoteIp)) {
      if (net.flood.size > 0) this.installFlood(net);
      else { this.floodPending.delete(net); this.brTun.delFlows(`table=${FLOOD_TO_TUN},dl_vlan=${net.vlan}`); }
    }
    const macs = net.ucast.get(remoteIp);
    for (const e of entries) {
      // an entry another remote took over since (a migration's fdb_add came first) stays
      const ips = macs?.get(e.mac);
      if (ips === undefined || !ips.delete(e.ip)) continue;
      this.brTun.delFlows(`table=${ARP_RESPONDER},dl_vlan=${net.vlan},arp,arp_tpa=${e.ip}`);
      if (ips.size > 0) continue;
      macs!.delete(e.mac);
      this.brTun.delFlows(`table=${UCAST_TO_TUN},${anyCfi(net.vlan)},dl_dst=${e.mac}`);
    }
    this.forgetIdle(net);
    this.cleanupTunnel(remoteIp);
  }

  /** Drop the remotes of 'net' left without entries (a MAC moved away), and their tunnel ports if no network needs them. */
  private forgetIdle(net: LocalNet): void {
    for (const [ip, m] of net.ucast) {
      if (m.size > 0) continue;
      net.ucast.delete(ip);
      this.cleanupTunnel(ip);
    }
  }

  /** The remote IPs this host has a tunnel port to. */
  tunnelRemotes(): string[] { return [...this.tunnels.keys()]; }

  /** A number that moves whenever a tunnel port is made or deleted (the fabric redeclares the viewer's tunnels then). */
  get tunnelVersion(): number { return this.tunnelChanges; }

  /** Whether this host has a tunnel port to 'remoteIp'. */
  hasLiveTunnel(remoteIp: string): boolean { return this.tunnels.has(remoteIp); }

  /** The VNI of the first port bound here (in bind order) whose network 'other' hosts too; 0 when none. */
  firstSharedVni(other: OvsAgent): number {
    for (const b of this.bound.values()) if (other.hostsNetwork(b.info.segment.networkId)) return b.info.segment.vni;
    return 0;
  }

  /** install_flood_to_tun: one flow per VLAN listing the flooding tunnels. */
  private installFlood(net: LocalNet): void {
    const outs = [...net.flood].map((ip) => `output:${this.tunnelPort(ip)}`).join(',');
    const line = `table=${FLOOD_TO_TUN},priority=1,dl_vlan=${net.vlan},actions=strip_vlan,set_tunnel:${vniHex(net.segment.vni)},${outs}`;
    // held (a batch of binds here): the last version goes in at release(), not each remote's
    if (this.held > 0) this.floodPending.set(net, line); else this.brTun.addFlows(line);
  }

  /** The flood flows held back, those of networks still here with flooding entries. */
  private flushFlood(): void {
    const lines: string[] = [];
    for (const [net, line] of this.floodPending) if (this.nets.get(net.segment.networkId) === net && net.flood.size > 0) lines.push(line);
    this.floodPending.clear();
    if (lines.length > 0) this.brTun.addFlows(lines.join('\n'));
  }

  /** The tunnel port to 'remoteIp' (setup_tunnel_port: made when missing, with its table-0 flow). */
  private tunnelPort(remoteIp: string): number {
    let t = this.tunnels.get(remoteIp);
    if (t === undefined) {
      const name = tunnelPortName(remoteIp);
      const ref = this.brTun.addTunnelPort({ name, type: 'vxlan', remote: remoteIp, local: this.localIp, key: 'flow' });
      t = { name, ofport: ref.ofport };
      this.tunnels.set(remoteIp, t);
      this.brTun.addFlows(`table=0,priority=1,in_port=${t.ofport},actions=resubmit(,${VXLAN_TUN_TO_LV})`);
      this.tunnelChanges++;
    }
    return t.ofport;
  }

  /**
   * cleanup_tunnel_port: no network floods to or has entries behind 'remoteIp': the tunnel port
   * is deleted (br.delete_port), then its in_port flows (br.cleanup_tunnel_port).
   */
  private cleanupTunnel(remoteIp: string): void {
    const t = this.tunnels.get(remoteIp);
    if (t === undefined) return;
    for (const net of this.nets.values()) if (net.flood.has(remoteIp) || net.ucast.has(remoteIp)) return;
    this.brTun.delPort(t.name);
    this.brTun.delFlows(`in_port=${t.ofport}`);
    this.tunnels.delete(remoteIp);
    this.tunnelChanges++;
  }

  // ---- inspection -----------------------------------------------------------------------------------

  /** `ovs-ofctl dump-flows` of br-int or br-tun. */
  dumpFlows(bridge: 'br-int' | 'br-tun', opts: { table?: number } = {}): string[] {
    return (bridge === 'br-int' ? this.brInt : this.brTun).dumpFlows(opts);
  }

  /** `ovs-appctl ofproto/trace` on br-int or br-tun (OvsBridge.trace). */
  trace(bridge: 'br-int' | 'br-tun', what: string | Uint8Array, opts: { inPort?: string | number; ctNext?: string[] } = {}): string {
    return (bridge === 'br-int' ? this.brInt : this.brTun).trace(what, opts);
  }
}
