/**
 * The overlay fabric of a cloud (compute layer, slow path): the underlay
 * segment, every hypervisor's neutron-openvswitch-agent (ovs-agent.ts), and
 * Neutron's l2population mechanism driver that tells the agents where each
 * port lives.
 *
 * What: `OvsFabric` owns a LinuxBridge `underlay` on the Topology;
 * `addHypervisor({ name, ip, … })` builds that host's agent and links its
 * eth0 to the underlay. It is the control plane's `PortPlugger`:
 * `plug(host, port)` binds the port on that host's agent and then does what
 * the l2pop driver does when a port goes ACTIVE (update_port_up):
 *  - to the host, when this is its first port of the network, every other
 *    hypervisor's entries for that network: the flooding entry and each
 *    port's (MAC, IP) — `_create_agent_fdb`;
 *  - to every other host with a port of the network, the new port's
 *    (MAC, IP) per fixed IP, plus the host's flooding entry when it is the
 *    host's first port of the network.
 * `unplug(host, portId)` unbinds it and sends fdb_remove for its entries
 * (and the flooding entry when it was the host's last port of the network);
 * a tunnel that no network needs any more loses its flows. The entries are
 * the fixed IPs only, as the driver sends them (allowed address pairs get
 * no ARP responder entry).
 * Security groups: `setSecurityGroups(groups)` recompiles every agent; each
 * agent gets the groups with `members` = the addresses (fixed IPs and
 * allowed-address-pair IPs) of the group's ports bound on other hosts, so a
 * remote-group rule matches VMs wherever they run. Plugging or unplugging a
 * port resyncs the members.
 * `batch(fn)` holds the member and tunnel syncs back until 'fn' returns
 * (bulk creation: 200 VMs with a self-referencing default group on 20
 * hypervisors took ~16 s port by port here, most of it recompiling every
 * br-int after each port, ~3 s in one batch). Inside a batch a port is
 * bound with the members as they were before it (Neutron's agents also see
 * member updates after the port).
 * Viewer: each hypervisor host has the role 'node'; a VXLAN tunnel is
 * declared between `<a>/br-tun` and `<b>/br-tun` while either agent has a
 * live tunnel port to the other, labelled with the VNI of a network both
 * host (the tunnel ports carry every VNI: key=flow); recomputed after each
 * plug and unplug.
 * removeHypervisor(name): its ports are unplugged (their FDB entries leave
 * the peers), its underlay link is cut and its tunnels forgotten; the host
 * and bridges stay on the topology, dead (a Topology cannot remove nodes).
 * Errors: ComputeError (code, `where`) for a duplicate hypervisor name or
 * address, an unknown hypervisor, a port bound twice or not bound here, a
 * bad port record (ovs-agent.ts checks it before anything changes).
 * Neighbours: ovs-agent.ts (one per hypervisor), devices/linux-bridge.ts
 * (the underlay), types.ts (PortPlugger, PortInfo, HypervisorInfo), the
 * control plane (cloud.ts) that calls it and dataplane.ts that links VMs to
 * the ports plug() returns.
 */
import { LinuxBridge } from '../devices/linux-bridge.js';
import type { OvsPort } from '../devices/ovs-bridge.js';
import type { SecurityGroup } from '../devices/security-group.js';
import type { Link } from '../sim/link.js';
import type { Topology } from '../topology/topology.js';
import { ComputeError, OvsAgent } from './ovs-agent.js';
import type { FdbEntry, HypervisorInfo, PortInfo, PortPlugger, Segment } from './types.js';

export interface OvsFabricOptions {
  /** the underlay's prefix length (default 24) */
  prefixLen?: number;
  /** delay of each hypervisor's underlay link (default '50us') */
  underlayDelay?: string | number;
  /** L3 MTU of the underlay links (default 1500: VMs need Neutron's VXLAN MTU, 1450) */
  underlayMtu?: number;
  /** the underlay segment's node name (default 'underlay') */
  underlayName?: string;
}

interface Hv { info: HypervisorInfo; agent: OvsAgent; link: Link }

/** A port's l2pop entries: one per fixed IPv4 address. */
const fdbEntries = (p: PortInfo): FdbEntry[] => p.fixedIps.map((ip) => ({ mac: p.mac, ip }));

export class OvsFabric implements PortPlugger {
  readonly underlay: LinuxBridge;
  private readonly hvs = new Map<string, Hv>();
  /** bound port id → the hypervisor it is bound on */
  private readonly placement = new Map<string, string>();
  private groups: SecurityGroup[] = [];
  /** per hypervisor, the groups (with members) it last compiled, as JSON: unchanged ones are not recompiled */
  private readonly compiled = new Map<string, string>();
  /** batch() depth; the security-group and tunnel syncs a batch holds back */
  private deferred = 0;
  private pending = false;
  /** the agents a batch holds (OvsAgent.hold), released at its end */
  private readonly held = new Set<OvsAgent>();
  private readonly prefixLen: number;
  private readonly delay: string | number;
  private readonly mtu: number;

  constructor(readonly topology: Topology, opts: OvsFabricOptions = {}) {
    this.prefixLen = opts.prefixLen ?? 24;
    this.delay = opts.underlayDelay ?? '50us';
    this.mtu = opts.underlayMtu ?? 1500;
    this.underlay = topology.add(new LinuxBridge(topology.sim, opts.underlayName ?? 'underlay'));
  }

  // ---- hypervisors ----------------------------------------------------------------------------------

  /** A hypervisor and its agent, linked to the underlay. Throws ComputeError for a duplicate name or address. */
  addHypervisor(h: HypervisorInfo): OvsAgent {
    if (this.hvs.has(h.name)) throw new ComputeError('COMPUTE_DUPLICATE_HYPERVISOR', 'name', `a hypervisor named '${h.name}' already exists`);
    for (const o of this.hvs.values()) {
      if (o.info.ip === h.ip) throw new ComputeError('COMPUTE_DUPLICATE_ADDRESS', 'ip', `${h.ip} is hypervisor ${o.info.name}'s address`);
    }
    const agent = new OvsAgent(this.topology, { name: h.name, ip: h.ip, prefixLen: this.prefixLen });
    const link = this.topology.link([agent.host, 'eth0'], this.underlay, { delay: this.delay, mtu: this.mtu, b: { iface: `${h.name}-eth0` } });
    this.hvs.set(h.name, { info: h, agent, link });
    this.topology.roles.set(h.name, 'node');
    this.changed();
    return agent;
  }

  /** The hypervisor is gone: its ports unplugged, its underlay link cut, its tunnels forgotten. Throws ComputeError. */
  removeHypervisor(name: string): void {
    const hv = this.hv(name);
    for (const p of hv.agent.boundPorts()) this.unplug(name, p.id);
    hv.link.cut();
    this.hvs.delete(name);
    this.compiled.delete(name);
    this.topology.untunnel(`${name}/br-tun`);
  }

  /** The agent of hypervisor 'name'. Throws ComputeError. */
  agent(name: string): OvsAgent { return this.hv(name).agent; }

  /** The hypervisors' names. */
  hypervisors(): string[] { return [...this.hvs.keys()]; }

  private hv(name: string): Hv {
    const hv = this.hvs.get(name);
    if (hv === undefined) throw new ComputeError('COMPUTE_NO_HYPERVISOR', name, `no hypervisor named '${name}'`);
    return hv;
  }

  // ---- ports (PortPlugger, l2population) -----------------------------------------------------------

  /** Bind 'port' on hypervisor 'host' and tell the agents (module comment). Returns the br-int port to link the device to. */
  plug(host: string, port: PortInfo): OvsPort {
    const hv = this.hv(host);
    const where = this.placement.get(port.id);
    if (where !== undefined) throw new ComputeError('COMPUTE_PORT_BOUND', port.id, `port ${port.id} is already bound on ${where}`);
    this.hold(hv.agent);
    const ovs = hv.agent.bindPort(port);
    this.placement.set(port.id, host);
    const seg = port.segment;
    const first = hv.agent.networkPorts(seg.networkId) === 1;
    if (first) {
      for (const o of this.hvs.values()) {
        if (o === hv || !o.agent.hostsNetwork(seg.networkId)) continue;
        hv.agent.fdbAdd(seg, o.info.ip, this.networkEntries(o, seg), true);
      }
    }
    const mine = fdbEntries(port);
    for (const o of this.others(hv, seg)) o.agent.fdbAdd(seg, hv.info.ip, mine, first);
    this.changed();
    return ovs;
  }

  /** Unbind port 'portId' from 'host' and tell the agents. Throws ComputeError when it is not bound there. */
  unplug(host: string, portId: string): void {
    const hv = this.hv(host);
    const port = hv.agent.boundPorts().find((p) => p.id === portId);
    if (port === undefined) throw new ComputeError('COMPUTE_NO_PORT', portId, `port ${portId} is not bound on ${host}`);
    this.hold(hv.agent);
    hv.agent.unbindPort(portId);
    this.placement.delete(portId);
    const seg = port.segment;
    const last = !hv.agent.hostsNetwork(seg.networkId);
    for (const o of this.others(hv, seg)) o.agent.fdbRemove(seg, hv.info.ip, fdbEntries(port), last);
    this.changed();
  }

  /**
   * Run 'fn' (many plugs and unplugs, a whole VM's ports) with the
   * security-group members and the viewer's tunnels synced once, at the end
   * of the outermost batch, instead of after each port. Returns what 'fn' does.
   */
  batch<T>(fn: () => T): T {
    this.deferred++;
    try {
      return fn();
    } finally {
      if (--this.deferred === 0) {
        try {
          if (this.pending) { this.pending = false; this.changed(); }
        } finally {
          const held = [...this.held];
          this.held.clear();
          for (const a of held) a.release();
        }
      }
    }
  }

  /** Inside a batch, 'agent' compiles br-int once, at the batch's end. */
  private hold(agent: OvsAgent): void {
    if (this.deferred === 0 || this.held.has(agent)) return;
    agent.hold();
    this.held.add(agent);
  }

  /** Ports moved: members and tunnels synced now, or at the batch's end. */
  private changed(): void {
    if (this.deferred > 0) { this.pending = true; return; }
    this.declareTunnels();
    this.syncGroups();
  }

  /** The other hypervisors with a port of 'seg''s network. */
  private others(hv: Hv, seg: Segment): Hv[] {
    return [...this.hvs.values()].filter((o) => o !== hv && o.agent.hostsNetwork(seg.networkId));
  }

  /** The l2pop entries of the ports of 'seg''s network bound on 'hv'. */
  private networkEntries(hv: Hv, seg: Segment): FdbEntry[] {
    return hv.agent.boundPorts().filter((p) => p.segment.networkId === seg.networkId).flatMap(fdbEntries);
  }

  // ---- security groups -------------------------------------------------------------------------------

  /** Every group, as now: every agent recompiled with the members bound elsewhere. */
  setSecurityGroups(groups: SecurityGroup[]): void {
    this.groups = groups;
    this.changed();
  }

  private syncGroups(): void {
    for (const [name, hv] of this.hvs) {
      const groups = this.groupsFor(name);
      const key = JSON.stringify(groups);
      if (this.compiled.get(name) === key) continue;
      this.compiled.set(name, key);
      hv.agent.setSecurityGroups(groups);
    }
  }

  /** The groups as hypervisor 'name' compiles them: members = the addresses of the groups' ports bound on other hosts. */
  private groupsFor(name: string): SecurityGroup[] {
    const remote = new Map<string, string[]>();
    for (const [hvName, hv] of this.hvs) {
      if (hvName === name) continue;
      for (const p of hv.agent.boundPorts()) {
        if (!p.portSecurity) continue;
        for (const g of p.securityGroups) {
          let l = remote.get(g);
          if (l === undefined) remote.set(g, l = []);
          l.push(...p.fixedIps, ...p.allowedAddressPairs.map((a) => a.ip));
        }
      }
    }
    return this.groups.map((g) => {
      const extra = remote.get(g.id) ?? [];
      return extra.length === 0 ? g : { ...g, members: [...(g.members ?? []), ...extra] };
    });
  }

  // ---- viewer -----------------------------------------------------------------------------------------

  /** Re-declare the tunnels between br-tuns: a pair while either side has a live tunnel port to the other. */
  private declareTunnels(): void {
    const list = [...this.hvs.values()];
    for (const hv of list) this.topology.untunnel(`${hv.info.name}/br-tun`);
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        const a = list[i]!, b = list[j]!;
        const ab = a.agent.tunnelRemotes().includes(b.info.ip), ba = b.agent.tunnelRemotes().includes(a.info.ip);
        if (!ab && !ba) continue;
        const vni = this.sharedVni(a, b);
        this.topology.tunnel(`${a.info.name}/br-tun`, `${b.info.name}/br-tun`, 'vxlan', vni);
      }
    }
  }

  /** The VNI of the first network both hypervisors host (0 when none now). */
  private sharedVni(a: Hv, b: Hv): number {
    for (const p of a.agent.boundPorts()) if (b.agent.hostsNetwork(p.segment.networkId)) return p.segment.vni;
    return 0;
  }
}
