/**
 * The cloud's data plane on a Topology (compute layer): what the control
 * plane's notifications (types.ts CloudDataplane) become — hypervisors with
 * their OVS agents, VMs as hosts on their taps, routers and NAT gateways as
 * namespaces on a network node, an external network with an upstream
 * router.
 *
 * What: `new CloudNetwork(topology, opts)` builds, on the topology:
 *  - the underlay: OvsFabric's Linux bridge (`opts.underlayName`, default
 *    'underlay'), every hypervisor's eth0 on it (l2pop.ts);
 *  - the network node (`opts.networkNode`, default `network1` at the
 *    underlay's .2): a hypervisor of the fabric (br-int, br-tun, tunnels)
 *    that the scheduler never sees, whose L3 agent (l3-agent.ts) runs the
 *    routers (`qrouter-<id>`) and NAT gateways (`qnat-<id>`) — Neutron's
 *    centralized (legacy) routers; DVR is a follow-up (l3-agent.ts says
 *    what it needs);
 *  - the external network: a Linux bridge (`opts.externalName`, default
 *    'external') — the flat provider network of the control plane's
 *    `external` spec (segment vni 0: no tunnel) — that the routers' qg- and
 *    NAT gateways' outside ports are linked to, and an upstream router
 *    (`opts.upstreamName`, default 'internet') holding the external
 *    gateway address: the rest of the world, to ping and to be pinged from.
 * A VM (`startVm`) is a host named as the VM, role 'vm', with one interface
 * per NIC (`eth0`, `eth1`, …: the port's MAC, its address, MTU 1450 —
 * Neutron's VXLAN MTU over a 1500 underlay, as its DHCP would advertise),
 * the default route via the first NIC's subnet gateway and the subnets'
 * host routes; each interface linked to the port `OvsFabric.plug` binds on
 * the VM's hypervisor. The addresses are configured at boot, as a config
 * drive's static network_data does (no DHCP exchange): a VM is reachable as
 * soon as the call returns, at the same virtual time. `stopVm` (stop or
 * delete) detaches its links (frames on them are lost), unplugs its ports
 * (its flows, FDB entries and conntrack state go: ovs-agent.ts) and removes
 * the host: a stopped VM starts again with fresh state, as after a power-off.
 * Live migration (`migrateVm`): the ports are unplugged from the source
 * and plugged on the target (l2pop moves the FDB entries), the VM's
 * interfaces are re-linked to the new taps — the same Host object, so its
 * ARP cache, sockets and connections survive, as memory copied by the
 * migration — and each interface announces itself with a gratuitous ARP
 * (what QEMU's self-announce and the guest's notify-peers send), so the
 * switches that learnt its MAC learn the new way. All of it happens at one
 * instant of virtual time: the packets lost are exactly those in flight on
 * the old links or on their way to the old hypervisor at the switch-over.
 * `batch(fn)` holds one fabric batch (l2pop.ts) open across the calls
 * 'fn' makes — the control plane's delivery of a batch's notifications can
 * run inside it (a CloudDataplane has no such hook yet: cloud.ts's flush
 * would call it).
 * `crashHypervisor` (the machine dies): its underlay link is cut and its
 * VMs' hosts go (their memory, sockets and connections are lost), but
 * their ports stay bound on it — the peers' flows still send their
 * frames to the dead host, where the underlay loses them ('down' on the
 * underlay's port: `fabric.underlayPort(name).stats`) — until
 * `removeHypervisor` (the evacuation, a recovery or a deletion) unbinds
 * them; the control plane then starts the evacuated VMs elsewhere: fresh
 * guests with the same MACs and addresses, whose first packets (or the
 * peers' next ones) meet empty conntrack tables on the new host.
 * Neighbours: cloud.ts (the control plane calling this), l2pop.ts and
 * ovs-agent.ts (hypervisors, ports), l3-agent.ts (routers, NAT
 * gateways), topology/ (hosts, links), devices/linux-bridge.ts (the
 * external network).
 */
import type { Topology } from '../topology/topology.js';
import { LinuxBridge } from '../devices/linux-bridge.js';
import type { SecurityGroup } from '../devices/security-group.js';
import type { Host } from '../netstack/host.js';
import type { Link, Port } from '../sim/link.js';
import { FrameBuilder } from '../wire/builder.js';
import { OvsFabric } from './l2pop.js';
import type { OvsAgent } from './ovs-agent.js';
import { L3Agent } from './l3-agent.js';
import { devName, type CloudDataplane, type HypervisorInfo, type NatGatewayInfo, type PortInfo, type PortPlugger, type RouterInfo, type VmBoot } from './types.js';
import { ComputeError } from './ovs-agent.js';

export interface CloudNetworkOptions {
  /** the underlay segment's node name (default 'underlay') */
  underlayName?: string;
  /** the underlay's prefix length (default 24) */
  underlayPrefixLen?: number;
  /** the network node: its name and underlay address (default 'network1' at 192.168.0.2) */
  networkNode?: { name: string; ip: string };
  /** the external (provider) network: its CIDR and gateway, as the control plane's `external` */
  external?: { cidr: string; gateway: string };
  /** the external network's node name (default 'external') */
  externalName?: string;
  /** the upstream router's name (default 'internet') */
  upstreamName?: string;
}

interface RunningVm { boot: VmBoot; host: Host; links: Link[] }

export class CloudNetwork implements CloudDataplane {
  readonly fabric: OvsFabric;
  readonly l3: L3Agent;
  readonly networkNode: OvsAgent;
  /** the external network's segment (a Linux bridge), when there is one */
  readonly external: LinuxBridge;
  /** the upstream router on the external network */
  readonly upstream: Host | null;
  private readonly vms = new Map<string, RunningVm>();
  /** VMs lost with a crashed hypervisor whose ports are still bound there (until it is removed), by id */
  private readonly crashed = new Map<string, VmBoot>();
  /** external port id → its port on the external network (qg- and NAT gateway outside ports) */
  private readonly extPorts = new Map<string, Port>();

  constructor(readonly topology: Topology, opts: CloudNetworkOptions = {}) {
    this.fabric = new OvsFabric(topology, { underlayName: opts.underlayName ?? 'underlay', prefixLen: opts.underlayPrefixLen ?? 24 });
    const nn = opts.networkNode ?? { name: 'network1', ip: '192.168.0.2' };
    this.networkNode = this.fabric.addHypervisor({ name: nn.name, region: '', az: '', ip: nn.ip });
    this.external = topology.add(new LinuxBridge(topology.sim, opts.externalName ?? 'external'));
    this.upstream = null;
    if (opts.external !== undefined) {
      const len = opts.external.cidr.split('/')[1];
      this.upstream = topology.router(opts.upstreamName ?? 'internet', { ip: `${opts.external.gateway}/${len}` });
      topology.link(this.upstream, this.external);
    }
    const external: PortPlugger = {
      plug: (_host, port) => {
        const p = this.external.addPort(devName('qg-', port.id));
        this.extPorts.set(port.id, p);
        return p;
      },
      // the port leaves the bridge, so the same Neutron port can be plugged again (a rebuilt NAT gateway)
      unplug: (_host, portId) => {
        const p = this.extPorts.get(portId);
        if (p === undefined) throw new ComputeError('COMPUTE_NO_PORT', portId, `port ${portId} is not plugged into the external network`);
        p.link?.detach();
        this.external.removePort(p.name);
        this.extPorts.delete(portId);
      },
    };
    this.l3 = new L3Agent(topology, { host: nn.name, plugger: this.fabric, external });
  }

  /** The VM's host (while it runs). */
  vmHost(name: string): Host {
    for (const v of this.vms.values()) if (v.boot.name === name) return v.host;
    throw new ComputeError('COMPUTE_NO_VM', name, `no running VM named '${name}'`);
  }

  /**
   * Run 'fn' (many notifications: a control-plane batch's delivery) inside
   * one fabric batch: each hypervisor's br-int compiled once and the
   * groups' members and viewer's tunnels synced once, at its end.
   */
  batch<T>(fn: () => T): T {
    return this.fabric.batch(fn);
  }

  // ---- CloudDataplane ---------------------------------------------------------------------------------

  addHypervisor(h: HypervisorInfo): void {
    this.fabric.addHypervisor(h);
  }

  removeHypervisor(name: string): void {
    for (const [id, v] of this.vms) if (v.boot.hypervisor === name) this.dropVm(id, false);
    for (const [id, boot] of this.crashed) if (boot.hypervisor === name) this.crashed.delete(id);
    this.fabric.removeHypervisor(name);
  }

  crashHypervisor(name: string): void {
    this.fabric.crashHypervisor(name);
    for (const [id, v] of this.vms) {
      if (v.boot.hypervisor !== name) continue;
      this.dropVm(id, false);
      this.crashed.set(id, v.boot);
    }
  }

  startVm(vm: VmBoot): void {
    const ifaces = vm.nics.map((n, i) => ({ name: `eth${i}`, mac: n.port.mac, addrs: [n.cidr], mtu: 1450 }));
    const routes: { dst: string; via?: string; dev: string }[] = [];
    vm.nics.forEach((n, i) => {
      if (n.gateway !== undefined && !routes.some((r) => r.dst === 'default')) routes.push({ dst: 'default', via: n.gateway, dev: `eth${i}` });
      for (const r of n.hostRoutes) routes.push({ dst: r.destination, via: r.nexthop, dev: `eth${i}` });
    });
    const host = this.topology.host(vm.name, { ifaces, routes });
    this.topology.roles.set(vm.name, 'vm');
    const links = this.fabric.batch(() => vm.nics.map((n, i) => this.topology.link([host, `eth${i}`], this.fabric.plug(vm.hypervisor, n.port))));
    this.vms.set(vm.id, { boot: vm, host, links });
  }

  stopVm(id: string): void {
    // a VM of a crashed hypervisor (deleted before any evacuation): only its ports are left, bound there
    const dead = this.crashed.get(id);
    if (dead !== undefined) {
      this.crashed.delete(id);
      this.fabric.batch(() => { for (const n of dead.nics) this.fabric.unplug(dead.hypervisor, n.port.id); });
      return;
    }
    this.dropVm(id, true);
  }

  migrateVm(vm: VmBoot, from: string, to: string): void {
    const v = this.vms.get(vm.id);
    if (v === undefined) throw new ComputeError('COMPUTE_NO_VM', vm.id, `VM ${vm.name} is not running`);
    for (const l of v.links) l.detach();
    v.links = this.fabric.batch(() => vm.nics.map((n, i) => {
      this.fabric.unplug(from, n.port.id);
      return this.topology.link([v.host, `eth${i}`], this.fabric.plug(to, n.port));
    }));
    v.boot = vm;
    vm.nics.forEach((n, i) => this.announce(v.host, `eth${i}`, n.port));
  }

  securityGroups(groups: SecurityGroup[]): void {
    this.fabric.setSecurityGroups(groups);
  }

  routerChanged(r: RouterInfo): void { this.l3.syncRouter(r); }
  routerDeleted(id: string): void { this.l3.deleteRouter(id); }
  natGatewayChanged(n: NatGatewayInfo): void { this.l3.syncNatGateway(n); }
  natGatewayDeleted(id: string): void { this.l3.deleteNatGateway(id); }

  // ---- helpers ----------------------------------------------------------------------------------------

  /** The VM's links detached, its ports unplugged (when its hypervisor still runs), its host gone. */
  private dropVm(id: string, unplug: boolean): void {
    const v = this.vms.get(id);
    if (v === undefined) return;
    for (const l of v.links) l.detach();
    if (unplug) this.fabric.batch(() => { for (const n of v.boot.nics) this.fabric.unplug(v.boot.hypervisor, n.port.id); });
    this.topology.nodes.delete(v.host.name);
    this.topology.roles.delete(v.host.name);
    this.vms.delete(id);
  }

  /** A gratuitous ARP request for the NIC's address from its MAC, broadcast (the announce after a migration). */
  private announce(host: Host, iface: string, port: PortInfo): void {
    const ip = port.fixedIps[0];
    if (ip === undefined) return;
    host.ports.get(iface)!.send(new FrameBuilder().eth({ src: port.mac, dst: 'ff:ff:ff:ff:ff:ff' })
      .arp({ op: 1, sha: port.mac, spa: ip, tha: '00:00:00:00:00:00', tpa: ip }).build());
  }
}
