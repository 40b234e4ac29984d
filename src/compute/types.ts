/**
 * The compute layer's vocabulary (compute layer): what its control plane
 * (cloud.ts — Neutron's server and Nova's API and scheduler in one) tells
 * its agents (ovs-agent.ts — neutron-openvswitch-agent on each hypervisor,
 * with l2population; l3-agent.ts — neutron-l3-agent's router namespaces on
 * the network node), in Neutron's own terms.
 *
 * What: plain records, no behaviour: a network's segment (VXLAN, its VNI),
 * a port as the agents see it after binding (Neutron's port dict, reduced),
 * an l2population FDB entry, a router as the L3 agent syncs it, a NAT
 * gateway. Device names are Neutron's: the port id's first 11 characters
 * after a 3-character prefix (`tap`, `qr-`, `qg-`; `devName`), 14 in all —
 * the kernel's IFNAMSIZ less one.
 * Invariants: ids are unique across a cloud; a segment's VNI is unique
 * among live networks (the control plane's allocator); addresses are
 * IPv4 dotted quads, with a prefix length only where a field says CIDR.
 * Neighbours: cloud.ts (makes them), ovs-agent.ts and l3-agent.ts (consume
 * them), devices/security-group.ts (the SecurityGroup shape, reused as is).
 */
import type { Port } from '../sim/link.js';

export type { SecurityGroup, SgRule } from '../devices/security-group.js';

/** A tenant network's segment: network_type vxlan, segmentation_id = the VNI (24 bits). */
export interface Segment {
  networkId: string;
  vni: number;
}

/** What a port is for (Neutron's device_owner). */
export type DeviceOwner =
  | 'compute:nova'
  | 'network:router_interface'
  | 'network:router_gateway'
  | 'network:nat_gateway';

/** A port bound to a host, as the agents receive it. */
export interface PortInfo {
  id: string;
  segment: Segment;
  mac: string;
  /** fixed IPs, dotted quads without prefix length */
  fixedIps: string[];
  allowedAddressPairs: { ip: string; mac?: string }[];
  /** ids of the port's security groups (ignored when portSecurity is false) */
  securityGroups: string[];
  /** false for the router's and NAT gateway's own ports (trusted, unfiltered) */
  portSecurity: boolean;
  deviceOwner: DeviceOwner;
}

/** Neutron's device name for a port: the prefix and the id's first 11 characters. */
export const devName = (prefix: 'tap' | 'qr-' | 'qg-' | 'qn-', id: string): string => prefix + id.slice(0, 11);

/** One l2population FDB entry: a port's MAC and IP on a remote hypervisor (Neutron's PortInfo(mac, ip)). */
export interface FdbEntry {
  mac: string;
  ip: string;
}

/**
 * Plugs a device's interface into a hypervisor's br-int for a port (what
 * os-vif / the L3 agent's interface driver do): returns the bridge port the
 * device's interface is to be linked to. The OVS agent on that host binds
 * the port (local VLAN, security groups, l2population) as it does for a VM.
 */
export interface PortPlugger {
  plug(host: string, port: PortInfo): Port;
  unplug(host: string, portId: string): void;
}

/** A router as the L3 agent syncs it (Neutron's router dict, reduced). */
export interface RouterInfo {
  id: string;
  /** one per attached subnet: the port, its address with the subnet's prefix length (CIDR) */
  interfaces: { port: PortInfo; cidr: string }[];
  /** the external gateway: its port on the external network, address (CIDR), the upstream gateway; SNAT on or off */
  gateway?: { port: PortInfo; cidr: string; nexthop: string; snat: boolean };
  /** extra routes (Neutron's router routes) */
  routes: { destination: string; nexthop: string }[];
  /** floating IPs (1:1 NAT): the public address and the fixed IP it maps to */
  floatingIps: { floatingIp: string; fixedIp: string }[];
}

/** A NAT gateway (AWS's, for a VPC): one port in a subnet of the VPC and an elastic IP on the external network. */
export interface NatGatewayInfo {
  id: string;
  /** its port in the VPC's subnet and that address (CIDR) */
  inside: { port: PortInfo; cidr: string };
  /** its elastic IP on the external network (CIDR) and the upstream gateway */
  outside: { port: PortInfo; cidr: string; nexthop: string };
  /** the VPC's CIDRs it translates for */
  sources: string[];
}

/** A hypervisor as the data plane builds it. */
export interface HypervisorInfo {
  name: string;
  region: string;
  az: string;
  /** its underlay (tunnel endpoint) address, a dotted quad */
  ip: string;
}

/** A VM's network as it boots (config drive's network_data: static addresses). */
export interface VmNic {
  port: PortInfo;
  /** the port's first fixed IP with its subnet's prefix length (CIDR) */
  cidr: string;
  /** the subnet's gateway (the default route's next hop; absent: no default route) */
  gateway?: string;
  /** the subnet's host routes */
  hostRoutes: { destination: string; nexthop: string }[];
}

/** A VM the data plane is to run on a hypervisor. */
export interface VmBoot {
  id: string;
  name: string;
  hypervisor: string;
  nics: VmNic[];
}

/**
 * What the control plane asks of the data plane (dataplane.ts builds
 * hypervisors, VMs and agents on a Topology; tests may record the calls).
 * Every call comes after the control plane checked and committed the change:
 * the data plane does not refuse.
 */
export interface CloudDataplane {
  addHypervisor(h: HypervisorInfo): void;
  /** the hypervisor is gone (deleted, or crashed and then evacuated or recovered): its VMs, ports and tunnels with it */
  removeHypervisor(name: string): void;
  /**
   * optional: the hypervisor crashed — the machine and its VMs stop at once, but their ports stay bound
   * (the peers keep pointing at it) until removeHypervisor; without it the control plane calls
   * removeHypervisor at the crash
   */
  crashHypervisor?(name: string): void;
  /** build → active: the VM's ports bound on its hypervisor, the VM up */
  startVm(vm: VmBoot): void;
  /** active → stopped (or deleted): the VM down, its ports unbound, its flows, FDB entries and conntrack state gone */
  stopVm(id: string): void;
  /** live migration: the VM keeps its MACs and addresses; its ports move to 'to' */
  migrateVm(vm: VmBoot, from: string, to: string): void;
  /** the security groups changed (rules or members): every group, as now */
  securityGroups(groups: import('../devices/security-group.js').SecurityGroup[]): void;
  routerChanged(r: RouterInfo): void;
  routerDeleted(id: string): void;
  natGatewayChanged(n: NatGatewayInfo): void;
  natGatewayDeleted(id: string): void;
}
