/**
 * Topologies (topology layer): the scripting API that composes hosts,
 * routers and devices with links on one simulator.
 *
 * What: `new Topology({ seed })` owns a `Sim`. `host(name, opts)` adds a
 * Linux-like host (netstack/host.ts) — `ip: '10.0.1.2/24'` and `gw` are the
 * short form of one interface `eth0` and a default route (IPv6 too:
 * `ip: '2001:db8:1::2/64', gw: '2001:db8:1::1'`; dual stack with lists,
 * `ip: ['10.0.1.2/24', '2001:db8:1::2/64'], gw: ['10.0.1.1', '2001:db8:1::1']`,
 * one default route per gateway, each in its family); `router(name,
 * opts)` a host with forwarding on, `natGateway(name, spec)` a router doing
 * SNAT, floating IPs and port forwards; `ovsBridge(name, opts)` an Open
 * vSwitch bridge — with `{ host, tunnels: [{ name, type, remote, key }] }`
 * one on that hypervisor whose VXLAN/Geneve ports go through the host's
 * stack (devices/ovs-bridge.ts). `add(device)` registers any other
 * port owner (a bridge, a VTEP) under its name. `link(a, b, opts)` joins two
 * endpoints with a `Link` (delay, bandwidth, MTU, loss, reordering, queue): an endpoint
 * is a host (its first interface without a link, else a new `ethN`), a
 * `[host, 'eth1']` pair (that interface, made if missing, with
 * `{ addr }` in the options' `a`/`b`), or a port of a device. `capture(…)`
 * taps a port and writes what it saw as pcap (nanosecond timestamps of
 * virtual time), as `tcpdump -i IFACE -w` would.
 * What a node is to its users, beyond its class, and the tunnels of an
 * overlay: `roles` (a host that is a VM, a pod, a Kubernetes node) and
 * `tunnel(a, b, type, vni)` (the two endpoints of a VXLAN or Geneve tunnel,
 * whatever underlay carries it) — the builders that know (the demo's
 * overlay, a cluster) declare them; the trace viewer draws them.
 * Running: `run()`, `runFor(ns)`, `runUntil(t)`; the tools (`host.ping`,
 * `host.traceroute`) run the simulator themselves while a script awaits
 * them. The same seed and script give the same frames, byte for byte.
 * Errors: a duplicate name, an unknown node, an endpoint already linked, a
 * bad address are `InputError`s naming the field.
 * Neighbours: sim/ (clock, links), netstack/ (hosts), devices/, pcap/.
 */
import { Sim } from '../sim/engine.js';

export type NodeRole = 'vm' | 'pod' | 'node';
export interface TunnelDecl { a: string; b: string; type: 'vxlan' | 'geneve'; vni: number }
import { Link, Port, type LinkOptions, type PortOwner } from '../sim/link.js';
import { Host, type HostOptions, type IfaceSpec } from '../netstack/host.js';
import { ping, traceroute, type PingOptions, type PingResult, type TracerouteOptions, type TracerouteResult } from '../netstack/tools.js';
import { PcapWriter } from '../pcap/writer.js';
import { natGatewayHost, type NatGatewaySpec } from '../devices/nat-gateway.js';
import { OvsBridge, type OvsBridgeOptions } from '../devices/ovs-bridge.js';
import { InputError } from '../errors.js';

/** A device that makes ports on demand (a bridge). */
export interface PortFactory extends PortOwner {
  addPort(name: string): Port;
}

/** One end of a link. */
export type Endpoint = Host | Port | [Host, string] | PortFactory;

export interface EndSpec { iface?: string; addr?: string; mac?: string; mtu?: number }

export interface LinkSpec extends LinkOptions {
  /** the first end's interface name, address (CIDR), MAC */
  a?: EndSpec;
  b?: EndSpec;
}

export interface HostSpec extends HostOptions {
  /** short form: interface eth0 with this address (CIDR, IPv4 or IPv6), or these */
  ip?: string | string[];
  /** short form: the default route via this gateway on eth0 (::/0 for an IPv6 one), or one per gateway listed */
  gw?: string | string[];
}

/** What a capture saw. */
export class Capture {
  readonly frames: { t: number; dir: 'in' | 'out'; data: Uint8Array }[] = [];
  private readonly stop: () => void;
  constructor(readonly port: Port, dirs: 'in' | 'out' | 'both') {
    this.stop = port.tap((f, dir, t) => { if (dirs === 'both' || dirs === dir) this.frames.push({ t, dir, data: f.slice() }); });
  }
  /** Stop capturing. */
  close(): void { this.stop(); }
  /** The frames as a pcap file (nanosecond timestamps of virtual time). */
  pcap(): Uint8Array {
    const w = new PcapWriter({ nanosecond: true });
    for (const f of this.frames) w.write({ tsSec: Math.floor(f.t / 1e9), tsNsec: Math.floor(f.t % 1e9), data: f.data });
    return w.take();
  }
}

/** A tunnel's endpoints as one key, in either order. */
const pairKey = (a: string, b: string): string => (a < b ? `${a}\n${b}` : `${b}\n${a}`);

export class Topology {
  readonly sim: Sim;
  readonly nodes = new Map<string, PortOwner>();
  readonly links: Link[] = [];
  /** what a node is to its users: a VM, a pod, a Kubernetes node (hosts otherwise show as hosts or routers) */
  readonly roles = new Map<string, NodeRole>();
  /** the overlay's tunnels, endpoint to endpoint */
  readonly tunnels: TunnelDecl[] = [];
  /** the pairs 'tunnels' holds (either order), for a declaration's duplicate check */
  private readonly tunnelKeys = new Set<string>();
  private readonly devicePorts = new WeakMap<PortFactory, number>();

  constructor(opts: { seed?: number } = {}) {
    this.sim = new Sim({ seed: opts.seed ?? 1 });
  }

  /** A host; `ip`/`gw` are the short form of eth0's address and the default route. */
  host(name: string, spec: HostSpec = {}): Host {
    const { ip, gw, ...opts } = spec;
    const ifaces: IfaceSpec[] = [...(opts.ifaces ?? [])];
    if (ip !== undefined) ifaces.unshift({ name: 'eth0', addrs: typeof ip === 'string' ? [ip] : ip });
    const routes = [...(opts.routes ?? [])];
    for (const g of gw === undefined ? [] : typeof gw === 'string' ? [gw] : gw) routes.push({ dst: 'default', via: g, dev: 'eth0' });
    return this.add(new Host(this.sim, name, { ...opts, ifaces, routes }));
  }

  /** A router: a host with forwarding on. */
  router(name: string, spec: HostSpec = {}): Host {
    return this.host(name, { ...spec, ipForward: spec.ipForward ?? true });
  }

  /** A NAT gateway: a router with SNAT, floating IPs and port forwards (devices/nat-gateway.ts). */
  natGateway(name: string, spec: NatGatewaySpec): Host {
    return this.add(natGatewayHost(this.sim, name, spec));
  }

  /**
   * An Open vSwitch bridge (devices/ovs-bridge.ts): 'opts.host' puts it on
   * that hypervisor, 'opts.tunnels' adds its VXLAN/Geneve ports.
   */
  ovsBridge(name: string, opts: OvsBridgeOptions = {}): OvsBridge {
    if (this.nodes.has(name)) throw new InputError('TOPO_DUPLICATE', name, `a node named '${name}' already exists`);
    return this.add(new OvsBridge(this.sim, name, opts));
  }

  /** Declare a tunnel between nodes 'a' and 'b' (once per pair). */
  tunnel(a: string, b: string, type: 'vxlan' | 'geneve', vni: number): void {
    const key = pairKey(a, b);
    if (this.tunnelKeys.has(key)) return;
    this.tunnelKeys.add(key);
    this.tunnels.push({ a, b, type, vni });
  }

  /** Forget the tunnels of node 'name' (it left). */
  untunnel(name: string): void {
    let w = 0;
    for (const t of this.tunnels) {
      if (t.a === name || t.b === name) this.tunnelKeys.delete(pairKey(t.a, t.b)); else this.tunnels[w++] = t;
    }
    this.tunnels.length = w;
  }

  /** Register a device (anything with ports) under its name. */
  add<T extends PortOwner>(node: T): T {
    if (this.nodes.has(node.name)) throw new InputError('TOPO_DUPLICATE', node.name, `a node named '${node.name}' already exists`);
    this.nodes.set(node.name, node);
    return node;
  }

  /** The node called 'name'. */
  node(name: string): PortOwner {
    const n = this.nodes.get(name);
    if (n === undefined) throw new InputError('TOPO_NO_NODE', name, `no node named '${name}'`);
    return n;
  }

  /** A host by name. */
  hostNamed(name: string): Host {
    const n = this.node(name);
    if (!(n instanceof Host)) throw new InputError('TOPO_NOT_A_HOST', name, `'${name}' is not a host`);
    return n;
  }

  /** Join 'a' and 'b' with a link. */
  link(a: Endpoint, b: Endpoint, spec: LinkSpec = {}): Link {
    const pa = this.port(a, spec.a, 'a'), pb = this.port(b, spec.b, 'b');
    const { a: _a, b: _b, ...opts } = spec;
    const l = new Link(this.sim, pa, pb, opts);
    this.links.push(l);
    return l;
  }

  /** Capture what 'port' (or a host's interface) sends and receives. */
  capture(where: Port | [Host, string], dirs: 'in' | 'out' | 'both' = 'both'): Capture {
    const port = where instanceof Port ? where : where[0].ports.get(where[1]);
    if (port === undefined) throw new InputError('TOPO_NO_IFACE', 'capture', `no interface '${(where as [Host, string])[1]}' on ${(where as [Host, string])[0].name}`);
    return new Capture(port, dirs);
  }

  run(maxEvents = Infinity): number { return this.sim.run(maxEvents); }
  runFor(ns: number): number { return this.sim.runFor(ns); }
  runUntil(t: number): number { return this.sim.runUntil(t); }

  /** `ping` from a host (by name or itself). */
  ping(from: Host | string, dst: string, opts?: PingOptions): Promise<PingResult> {
    return ping(typeof from === 'string' ? this.hostNamed(from) : from, dst, opts);
  }

  /** `traceroute` from a host (by name or itself). */
  traceroute(from: Host | string, dst: string, opts?: TracerouteOptions): Promise<TracerouteResult> {
    return traceroute(typeof from === 'string' ? this.hostNamed(from) : from, dst, opts);
  }

  private port(e: Endpoint, end: EndSpec | undefined, which: string): Port {
    if (e instanceof Port) {
      if (e.link !== null) throw new InputError('TOPO_LINKED', which, `${e.id} is already linked`);
      return e;
    }
    if (Array.isArray(e)) return this.hostPort(e[0], { ...end, iface: e[1] }, which);
    if (e instanceof Host) return this.hostPort(e, end, which);
    // a device's port: the name given, else the device's next `pN`
    const n = this.devicePorts.get(e) ?? 1;
    this.devicePorts.set(e, n + 1);
    return e.addPort(end?.iface ?? `p${n}`);
  }

  private hostPort(h: Host, end: EndSpec | undefined, which: string): Port {
    let name = end?.iface;
    if (name === undefined) {
      name = [...h.ports.values()].find((p) => p.link === null)?.name;
      if (name === undefined) { let n = 0; while (h.ports.has(`eth${n}`)) n++; name = `eth${n}`; }
    }
    let p = h.ports.get(name);
    if (p === undefined) {
      p = h.addIface({ name, ...(end?.mac !== undefined ? { mac: end.mac } : {}), ...(end?.mtu !== undefined ? { mtu: end.mtu } : {}) }, which);
    }
    if (p.link !== null) throw new InputError('TOPO_LINKED', which, `${p.id} is already linked`);
    if (end?.addr !== undefined) h.addAddress(name, end.addr, `${which}.addr`);
    return p;
  }
}
