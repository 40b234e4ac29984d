/**
 * Open vSwitch bridge (devices layer): an OpenFlow bridge and its userspace
 * datapath as a device on the discrete-event engine — what `ovs-vsctl
 * add-br` plus `ovs-ofctl` give you on a hypervisor, without a controller.
 *
 * What: `OvsBridge` is a `PortOwner` and a topology `PortFactory`.
 *  - `addPort(name?, { ofport? })` makes a sim `Port` (an `OvsPort`) and the
 *    bridge port behind it, numbered as ovs-vswitchd numbers a `type=dummy`
 *    interface on a `datapath_type=dummy` bridge (the repo's OVS tests):
 *      OpenFlow port: the `ofport_request` when given and free, else
 *      ofproto.c's alloc_ofp_port(): the next number after the last one it
 *      handed out (round robin in 1..32767, skipping numbers in use — a
 *      deleted number is not reused at once), so ports get 1, 2, 3… and a
 *      request for 10 does not move the counter;
 *      datapath (ODP) port: the dummy datapath's choose_port() (ports.ts
 *      chooseOdpPort): the digits of the name (`p7` → 7, `tapab12` → 12;
 *      +100 for names starting with `br`), else the lowest free number
 *      (also when the digits exceed 16 bits, `tap12345678-9a`: the dummy
 *      datapath would take them; ports here are numbered in 16 bits) —
 *      ports are added one at a time, in call order. The bridge's own LOCAL
 *      port is added first, so `br0` → 100 but `br-int` → 1 (and then
 *      `p1` → 2). Observed on OVS 3.1: add-br br-int, add-port p1, tapab12,
 *      p3 (ofport_request=10), vm, p2 gives ofports 1, 2, 10, 3, 4 and
 *      datapath ports LOCAL 1, 2, 12, 3, 4, 5. Bridges run by one
 *      ovs-vswitchd share one datapath, hence one numbering: pass the same
 *      `DpifNumbers` to bridges that should (br-int and br-tun of one
 *      hypervisor); by default each bridge is its own vswitchd.
 *    The default name is `p<ofport>` (so `p3` is OpenFlow port 3).
 *  - A frame arriving on a port goes through the `Datapath` (exact-match
 *    and megaflow caches, upcalls into ofproto/xlate.ts, conntrack for ct())
 *    at the simulator's time, in ms for the datapath clock; every output
 *    leaves at once by the port the datapath names (no processing delay is
 *    modelled; links add theirs).
 *  - The flow API is ovs-ofctl's, controller-less: `addFlows(text)`
 *    (add-flows syntax; `addFlowSpecs(specs)` the same flows already
 *    parsed), `delFlows(match?, { strict })` (del-flows),
 *    `replaceFlows(text)`, `addGroups`, `dumpFlows()` (dump-flows with the
 *    counters), `dumpPorts()` (dump-ports), `trace(flow | frame)`
 *    (ofproto/trace text through ofproto/trace.ts, no side effects). A flow
 *    change bumps the bridge's version, so the datapath revalidates its
 *    cached megaflows before the next packet: changes take effect at once.
 *  - Default flows (when `flows` is not given): OVS's standalone default is
 *    `priority=0,actions=NORMAL` (`defaultFlows: 'normal'`, xlate.ts's NORMAL
 *    with its MAC table, ofproto/mac-learning.ts); the default here is a
 *    learning switch built from learn() (learningFlows()), whose learnt MACs
 *    show as flows in dump-flows:
 *        table=0 priority=0  resubmit(,1),resubmit(,2)
 *        table=1             sources seen: in_port,VLAN,dl_src → reg0[0]=1
 *                            (learnt, hard_timeout = ageing), else nothing
 *        table=2 priority=1  reg0[0]=1 (known source) → resubmit(,3)
 *                priority=0  learn(table=3: VLAN,dl_dst=this dl_src →
 *                            output:this in_port, idle_timeout = ageing),
 *                            learn(table=1: this source), resubmit(,3)
 *        table=3             the MAC table (learnt), priority 0 FLOOD
 *    A source is learnt on its first upcall only. Learning changes the
 *    flow tables, and every change makes the datapath revalidate all its
 *    megaflows, so learning on every upcall (the one-table OVS tutorial
 *    pattern) costs O(megaflows) per new flow: 40 hosts sending to each
 *    other took 98 s that way, 0.6 s this way. Learnt flows are visible in
 *    dumpFlows() and age out after `macAgeingS` (OVS's mac-aging-time
 *    default, 300 s): a MAC table entry when nothing was sent *to* it for
 *    that long, a source entry unconditionally, so an active source is
 *    relearnt (and its MAC table entry refreshed) at its next upcall. Unlike
 *    NORMAL, whose revalidator refreshes MAC entries from cached flows, a
 *    station whose flows all stay cached is not relearnt; traffic to it is
 *    flooded (still delivered) once its entry aged out. A station moving to
 *    another port is relearnt on its first packet there.
 *    The same flows in ovs-vswitchd 3.1 send the same frames and learn the
 *    same flows, a station move included (test/devices/ovs-bridge.test.ts).
 *    `defaultFlows: 'normal'` installs the literal NORMAL flow,
 *    'none' leaves the tables empty (every packet is dropped, as
 *    fail-mode=secure).
 * Counters: each `OvsPort.stats` (rx/tx packets and bytes, the sim port's)
 * is what `dump-ports` prints; flow counters are the bridge rules' own,
 * pushed from the datapath flows at each revalidator sweep (every 500 ms of
 * packet time, run when packets arrive) and whenever dumpFlows()/rules()
 * runs (which then is that sweep: idle megaflows and expired rules and
 * conntrack entries go too, as they would at a sweep at that time).
 * Invariants: a port's OpenFlow and datapath numbers never change; every
 * frame received is either output or counted by the datapath as dropped
 * (Datapath.stats, drops()).
 * Cost per packet: the datapath's (no allocation on cache hits); an output
 * is handed to the link, which copies it. An output that does not span the
 * whole buffer (after clone()/push_vlan the datapath works in its own
 * scratch) is first copied into this bridge's scratch (allocated by the
 * first such output) and sent through a view cached per length, so no
 * object is allocated for it either.
 * Tunnel ports (`host` given: the bridge runs on that hypervisor's kernel
 * datapath): `addTunnelPort({ name, type: 'vxlan' | 'geneve', remote,
 * key, local, dstPort, options })` — Interface options remote_ip (IPv4 or
 * `flow`), key (or `flow`), local_ip, dst_port, csum, df_default, tos, ttl,
 * checked as ports.ts checks a ports file — numbered as OVS numbers them
 * (OpenFlow as addPort; datapath: the shared `vxlan_sys_<dst_port>` /
 * `genev_sys_<dst_port>` port, 4789 / 6081). The bridge's translation then
 * emits `set(tunnel(...))` + output (native tunnelling off, as on the kernel
 * datapath: Bridge.tunnelDatapath 'kernel'), and ovs-tunnel.ts's vport
 * encapsulates through the host's IP stack and hands what the host's UDP
 * port receives back with its tunnel metadata. Two tunnel ports with the
 * same type, remote, key, local_ip and port are refused, as OVS refuses
 * them; one UDP port of a host serves one bridge (a Vtep or a second
 * bridge on it gets OVS_TUNNEL_PORT_IN_USE).
 * `delPort(name)` is `ovs-vsctl del-port` (its doc comment: the flows
 * naming the port stay, the datapath port and the sim link go).
 * Not modelled: GRE and patch ports, internal ports (LOCAL exists but
 * reaches no stack), OVSDB port VLAN settings through this device
 * (the bridge has them: ofproto/bridge.ts setPortVlan), a controller.
 * Neighbours: ofproto/bridge.ts (tables, ports), ofproto/ofctl.ts (text),
 * ofproto/trace.ts (trace text), ofproto/ports.ts (datapath numbering),
 * datapath/datapath.ts (forwarding), sim/link.ts (ports), topology/
 * (links a bridge with `net.link(host, bridge)`), security-group.ts
 * (compiles the flows a bridge loads for Neutron-style security groups).
 */
import type { Sim } from '../sim/engine.js';
import { Port, type PortOwner } from '../sim/link.js';
import { Bridge, OFPP_LOCAL, type Rule } from '../ofproto/bridge.js';
import type { FlowSpec } from '../ofproto/actions.js';
import { formatFlowLine, parseFlowsFile, parseGroupsFile, type OfProtocol } from '../ofproto/ofctl.js';
import { chooseOdpPort, OFPORT_MAX } from '../ofproto/ports.js';
import { parseTracePacket, traceText } from '../ofproto/trace.js';
import { Datapath, type DatapathOptions } from '../datapath/datapath.js';
import type { DpFlow } from '../datapath/cache.js';
import { MatchBuilder, tokenize } from '../flow/match.js';
import { FlowSyntaxError } from '../flow/errors.js';
import { SdnemuError } from '../errors.js';
import { toHex } from '../wire/bytes.js';
import type { Host } from '../netstack/host.js';
import type { Pkt } from '../datapath/execute.js';
import { dpifPortName, missingOption, optionProblem } from '../ofproto/ports.js';
import { settlePass, TunnelVport, type TunnelVportType } from './ovs-tunnel.js';
import { InputError } from '../errors.js';

/** A bridge or port configuration error ('bridge' names the bridge). */
export class OvsBridgeError extends SdnemuError {
  readonly bridge: string;
  constructor(code: 'OVS_DUPLICATE_PORT' | 'OVS_BAD_OFPORT' | 'OVS_NO_PORT' | 'OVS_LOCAL_PORT' | 'OVS_NO_ODP_PORT' | 'OVS_NO_HOST' | 'OVS_TUNNEL_PORT_IN_USE',
    bridge: string, message: string) {
    super(code, `${bridge}: ${message}`);
    this.name = 'OvsBridgeError';
    this.bridge = bridge;
  }
  override location(): Record<string, string | number> {
    return { bridge: this.bridge };
  }
}

/**
 * The port numbers one ovs-vswitchd's dummy datapath has handed out. Share
 * one between bridges that run in the same vswitchd.
 */
export class DpifNumbers {
  /** datapath port numbers in use (0 is the datapath's own, `ovs-dummy`) */
  readonly used = new Set<number>([0]);
}

/** A tunnel port's numbers: OpenFlow port and (shared) datapath port. */
export interface BridgePortRef { name: string; ofport: number; odp: number }

/** A bridge port on the simulator: the sim `Port` plus its OpenFlow and datapath numbers. */
export class OvsPort extends Port {
  readonly ofport: number;
  readonly odp: number;
  constructor(owner: OvsBridge, name: string, ofport: number, odp: number) {
    super(owner, name);
    this.ofport = ofport;
    this.odp = odp;
  }
}

export interface OvsBridgeOptions {
  /** flows to install at creation (ovs-ofctl add-flows text); when absent, `defaultFlows` */
  flows?: string;
  /** what to install when 'flows' is absent: 'learning' (default, see the module comment), 'normal', 'none' */
  defaultFlows?: 'learning' | 'normal' | 'none';
  /** idle timeout of the learnt MAC flows, seconds (OVS mac-aging-time: 300) */
  macAgeingS?: number;
  /** the OpenFlow version ovs-ofctl speaks to this bridge (-O); OpenFlow10 by default */
  protocols?: OfProtocol;
  /** the vswitchd whose datapath numbers the ports (default: a fresh one) */
  dpif?: DpifNumbers;
  /** datapath knobs (EMC, flow limit, max idle, revalidation period); the seed is the simulator's */
  datapath?: Omit<DatapathOptions, 'seed'>;
  /** the hypervisor the bridge runs on: its tunnel ports send and receive through this host's stack */
  host?: Host;
  /** tunnel ports to add at creation (needs 'host'), in order */
  tunnels?: OvsTunnelSpec[];
}

/** A VXLAN or Geneve tunnel port (`ovs-vsctl add-port BR NAME -- set Interface NAME type=… options:…`). */
export interface OvsTunnelSpec {
  name: string;
  type: TunnelVportType;
  /** options:remote_ip: the far end's IPv4 address, or 'flow' (set_field:…->tun_dst) */
  remote: string;
  /** options:key: the VNI, or 'flow' (tun_id from the flow); absent: VNI 0 */
  key?: number | string;
  /** options:local_ip: the outer source (and the only destination accepted), or 'flow' */
  local?: string;
  /** options:dst_port (default 4789 for VXLAN, 6081 for Geneve) */
  dstPort?: number;
  /** ofport_request */
  ofport?: number;
  /** further Interface options: csum, df_default, tos, ttl */
  options?: Record<string, string>;
}

/**
 * The learning-switch flows installed by default (module comment): table 1
 * remembers the (port, VLAN, source MAC) seen, table 2 learns a source not
 * remembered, table 3 is the MAC table, 'macAgeingS' the ageing time.
 */
export function learningFlows(macAgeingS = 300): string {
  return [
    'table=0,priority=0,actions=resubmit(,1),resubmit(,2)',
    'table=1,priority=0,actions=drop',
    'table=2,priority=1,reg0=0x1/0x1,actions=resubmit(,3)',
    `table=2,priority=0,actions=learn(table=3,idle_timeout=${macAgeingS},priority=1,NXM_OF_VLAN_TCI[0..11],`
      + 'NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]),'
      + `learn(table=1,hard_timeout=${macAgeingS},priority=1,NXM_OF_IN_PORT[],NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_SRC[],`
      + 'load:0x1->NXM_NX_REG0[0]),resubmit(,3)',
    'table=3,priority=0,actions=FLOOD',
  ].join('\n');
}

/** Largest frame the bridge copies into its own scratch (the datapath's Pkt holds 65535 + 64). */
const SCRATCH_BYTES = 65535 + 64;
/** OVS assigns automatic OpenFlow numbers below this (the upper half is for controllers). */
const AUTO_OFPORT_LIMIT = 32768;

export class OvsBridge implements PortOwner {
  readonly name: string;
  readonly sim: Sim;
  /** the OpenFlow side: tables, groups, ports */
  readonly br: Bridge;
  /** the forwarding side: caches, conntrack, counters */
  readonly dp: Datapath;
  readonly dpif: DpifNumbers;
  private readonly byName = new Map<string, OvsPort>();
  private readonly byOfport = new Map<number, OvsPort>();
  /** ofproto->alloc_port_no: the last automatically assigned OpenFlow number */
  private allocPortNo = 0;
  /** the copy output() sends from, made on the first output that needs it */
  private scratch: Uint8Array | null = null;
  /** scratch.subarray(0, n), made once per length n */
  private readonly views: (Uint8Array | undefined)[] = [];
  /** the hypervisor whose stack carries the tunnel ports (null: no tunnel ports) */
  readonly host: Host | null;
  /** the datapath tunnel ports, by datapath port name (vxlan_sys_4789) */
  readonly vports = new Map<string, TunnelVport>();

  /**
   * Bridge 'name' on 'sim' with its LOCAL port, then the initial flows
   * ('opts.flows', else the default flows). Throws FlowSyntaxError for bad flows.
   */
  constructor(sim: Sim, name: string, opts: OvsBridgeOptions = {}) {
    this.sim = sim;
    this.name = name;
    this.dpif = opts.dpif ?? new DpifNumbers();
    this.br = new Bridge(name);
    this.br.protocols = opts.protocols ?? 'OpenFlow10';
    const local = this.br.ports.get(OFPP_LOCAL)!;
    local.odp = this.allocOdp(name);
    this.dp = new Datapath(this.br, { ...opts.datapath, seed: sim.seed });
    this.dp.onDecision = (tier, f) => { if (this.sim.tracer.on) this.traceDecision(tier, f); };
    this.host = opts.host ?? null;
    if (this.host !== null) this.br.tunnelDatapath = 'kernel';
    const flows = opts.flows ?? (opts.defaultFlows === 'none' ? ''
      : opts.defaultFlows === 'normal' ? 'priority=0,actions=NORMAL' : learningFlows(opts.macAgeingS ?? 300));
    if (flows.trim() !== '') this.addFlows(flows);
    opts.tunnels?.forEach((t, i) => this.addTunnelPort(t, `tunnels[${i}]`));
  }

  /** The datapath clock: the simulator's time in ms. */
  get nowMs(): number { return this.sim.now / 1e6; }

  // ---- ports ------------------------------------------------------------------------------------

  /**
   * `ovs-vsctl add-port BR NAME [-- set Interface NAME ofport_request=N]`:
   * a new port named 'name' (default `p<ofport>`), OpenFlow number
   * 'opts.ofport' when free (else automatic, as OVS falls back), datapath
   * number by the dummy datapath's rule. Returns the sim port to link.
   * Throws OvsBridgeError for a duplicate name or an ofport outside 1..65279.
   */
  addPort(name?: string, opts: { ofport?: number } = {}): OvsPort {
    const req = opts.ofport;
    if (req !== undefined && !(Number.isInteger(req) && req >= 1 && req <= OFPORT_MAX)) {
      throw new OvsBridgeError('OVS_BAD_OFPORT', this.name, `ofport_request ${req} is not 1..${OFPORT_MAX}`);
    }
    const p = this.newPort(name, req, -1, 'dummy', {});
    this.dp.attach(p.odp, (buf, start, end) => this.output(p, buf, start, end));
    return p;
  }

  /**
   * The OpenFlow port 'name' (default `p<ofport>`) with 'req' or the next
   * automatic number, on datapath port 'odp' (-1: allocated by the name).
   */
  private newPort(name: string | undefined, req: number | undefined, odp: number, type: string, options: Record<string, string>): OvsPort {
    const auto = req === undefined || this.byOfport.has(req);
    const ofport = auto ? this.nextOfport() : req;
    const pname = name ?? `p${ofport}`;
    if (this.byName.has(pname) || pname === this.name) {
      throw new OvsBridgeError('OVS_DUPLICATE_PORT', this.name, `a port named ${pname} already exists`);
    }
    const n = odp >= 0 ? odp : this.allocOdp(pname);
    if (auto) this.allocPortNo = ofport;
    const p = new OvsPort(this, pname, ofport, n);
    this.byName.set(pname, p);
    this.byOfport.set(ofport, p);
    this.br.addPort({ ofport, name: pname, type, options, odp: n });
    return p;
  }

  /**
   * A VXLAN or Geneve tunnel port (see the module comment); 'field' names
   * the spec in errors. Throws InputError naming the field for a bad option,
   * OvsBridgeError for a bridge without a host, a duplicate name or tunnel
   * configuration, or a UDP port the host has given to something else.
   */
  addTunnelPort(spec: OvsTunnelSpec, field = 'tunnel'): BridgePortRef {
    const host = this.host;
    if (host === null) throw new OvsBridgeError('OVS_NO_HOST', this.name, `tunnel port ${spec.name}: the bridge has no host (pass { host })`);
    if (spec.type !== 'vxlan' && spec.type !== 'geneve') {
      throw new InputError('OVS_BAD_TUNNEL', `${field}.type`, `'${String(spec.type)}' is not vxlan or geneve`);
    }
    const options: Record<string, string> = { remote_ip: String(spec.remote) };
    const put = (key: string, v: string | number | undefined, f: string): void => {
      if (v === undefined) return;
      const bad = optionProblem(spec.type, key, String(v));
      if (bad !== null) throw new InputError('OVS_BAD_TUNNEL', f, bad.detail);
      options[key] = String(v);
    };
    put('remote_ip', spec.remote, `${field}.remote`);
    put('key', spec.key, `${field}.key`);
    put('local_ip', spec.local, `${field}.local`);
    put('dst_port', spec.dstPort, `${field}.dstPort`);
    for (const [k, v] of Object.entries(spec.options ?? {})) put(k, v, `${field}.options.${k}`);
    const missing = missingOption(spec.type, options);
    if (missing !== null) throw new InputError('OVS_BAD_TUNNEL', `${field}.remote`, missing.detail);
    if (options['local_ip'] === 'flow' && options['remote_ip'] !== 'flow') {
      throw new InputError('OVS_BAD_TUNNEL', `${field}.local`, `${spec.type} type requires 'remote_ip=flow' with 'local_ip=flow'`);
    }
    const dpif = dpifPortName({ name: spec.name, ofport: 0, type: spec.type, options, line: 0 })!;
    const same = (o: Record<string, string>): boolean => ['remote_ip', 'key', 'in_key', 'local_ip', 'dst_port'].every((k) => o[k] === options[k]);
    for (const p of this.br.ports.values()) {
      if (p.type === spec.type && same(p.options)) {
        throw new OvsBridgeError('OVS_DUPLICATE_PORT', this.name, `${spec.name}: attempting to add tunnel port with same config as port '${p.name}'`);
      }
    }
    let vport = this.vports.get(dpif);
    if (vport === undefined) {
      const odp = this.allocOdp(dpif);
      try {
        vport = new TunnelVport(host, spec.type, Number(options['dst_port'] ?? (spec.type === 'vxlan' ? 4789 : 6081)), odp, this.dp, () => this.nowMs);
      } catch (e) {
        this.dpif.used.delete(odp);
        throw new OvsBridgeError('OVS_TUNNEL_PORT_IN_USE', this.name, `${spec.name}: ${e instanceof Error ? e.message : String(e)}`);
      }
      this.vports.set(dpif, vport);
      const v = vport;
      this.dp.attach(odp, (buf, start, end, pkt: Pkt) => v.output(buf, start, end, pkt));
    }
    const p = this.newPort(spec.name, spec.ofport, vport.odp, spec.type, options);
    return { name: p.name, ofport: p.ofport, odp: p.odp };
  }

  /**
   * `ovs-vsctl del-port BR NAME`: the port goes from the bridge. Its OpenFlow
   * number is free again (the automatic numbering moves on from the last one
   * it gave, so it is not reused at once); flows that name it stay, as OVS
   * keeps them: an `in_port=` flow matches nothing any more, an `output:` to
   * it outputs nothing (ofproto/trace: "Nonexistent output port"); the
   * bridge's version moves, so cached megaflows are revalidated before the
   * next packet; NORMAL forgets the MACs learnt on it. Its datapath port goes
   * too (its number free again) — for a tunnel port, the shared
   * `vxlan_sys_<port>` vport only with the bridge's last tunnel port on it,
   * releasing the host's UDP port; packets from that remote then find no
   * tunnel port (tnlPortNotFound). The sim link on the port is detached,
   * frames in flight on it lost ('down'). Throws OvsBridgeError OVS_NO_PORT
   * for a port the bridge does not have, OVS_LOCAL_PORT for the bridge's own.
   */
  delPort(name: string): void {
    if (name === this.name) {
      throw new OvsBridgeError('OVS_LOCAL_PORT', this.name, `cannot delete port ${name} because it is the local port for bridge ${name} (deleting this port requires deleting the entire bridge)`);
    }
    const p = this.byName.get(name);
    if (p === undefined) throw new OvsBridgeError('OVS_NO_PORT', this.name, `no port named ${name}`);
    this.byName.delete(name);
    this.byOfport.delete(p.ofport);
    p.link?.detach();
    this.br.removePort(p.ofport);
    for (const q of this.br.ports.values()) if (q.odp === p.odp) return; // a shared tunnel vport still in use
    this.dp.attach(p.odp, null);
    this.dpif.used.delete(p.odp);
    for (const [dpName, v] of this.vports) {
      if (v.odp !== p.odp) continue;
      v.close();
      this.vports.delete(dpName);
    }
  }

  /** alloc_ofp_port(): the next free number after the last automatic one, wrapping below 32768 (not yet taken). */
  private nextOfport(): number {
    let n = this.allocPortNo;
    for (let tries = 1; tries < AUTO_OFPORT_LIMIT; tries++) {
      if (++n >= AUTO_OFPORT_LIMIT) n = 1;
      if (!this.byOfport.has(n)) return n;
    }
    throw new OvsBridgeError('OVS_BAD_OFPORT', this.name, 'no free OpenFlow port number');
  }

  private allocOdp(name: string): number {
    let n = chooseOdpPort(name, this.dpif.used);
    // a name whose digits exceed 16 bits (Neutron's tap<uuid…>): the dummy datapath would take that number;
    // this datapath numbers its ports in 16 bits, so it takes the lowest free one, as the kernel's always does
    if (n !== 0xffffffff && n > 0xffff) n = chooseOdpPort('', this.dpif.used);
    if (n === 0xffffffff || n > 0xffff) throw new OvsBridgeError('OVS_NO_ODP_PORT', this.name, 'the datapath has no free port number');
    this.dpif.used.add(n);
    return n;
  }

  /** The port called 'name', or with OpenFlow number 'name'. Throws OvsBridgeError when absent. */
  port(name: string | number): OvsPort {
    const p = typeof name === 'number' ? this.byOfport.get(name) : this.byName.get(name);
    if (p === undefined) throw new OvsBridgeError('OVS_NO_PORT', this.name, `no port ${name}`);
    return p;
  }

  /** The ports in the order they were added. */
  get ports(): OvsPort[] { return [...this.byName.values()]; }

  // ---- forwarding -------------------------------------------------------------------------------

  /** A frame arrived on 'port': through the datapath at the simulator's time. */
  receive(port: Port, frame: Uint8Array): void {
    if (!(port instanceof OvsPort) || port.owner !== this) { this.sim.ledger.drop('unconnected'); return; }
    if (this.beforeReceive !== null) this.beforeReceive();
    this.inPort = port.name;
    // a trace fork's forced select-group bucket for the packet in hand (sim/tracer.ts)
    const tr = this.sim.tracer;
    const k = tr.forcing ? tr.forced(this.name) : -1;
    if (k >= 0) { this.dp.force = k; this.dp.forceUsed = false; }
    this.dp.receive(port.odp, frame, this.sim.now / 1e6);
    settlePass(this.sim.ledger, this.dp);
    if (k >= 0) { if (this.dp.forceUsed) tr.forceUsed(); this.dp.force = -1; }
    this.inPort = null;
  }

  /**
   * Called before a frame from a port (not a tunnel's) enters the datapath, while set: an
   * owner that installs flows on demand (k8s/cni/network.ts's lazy peers) hooks here.
   */
  beforeReceive: (() => void) | null = null;

  /** The port of the packet in the datapath (for trace records; null for a tunnel's). */
  private inPort: string | null = null;

  /**
   * What a rule means to its pipeline's author, for trace records: a rule's ovs-ofctl line → its
   * table's name and, say, the NetworkPolicy that allows or the isolation that denies (the CNI's
   * explainFlow), or null. Records carry the explanations of the rules a packet matched as `why`,
   * and a flow-drop names the last one.
   */
  explainRule: ((line: string) => string | null) | null = null;

  /**
   * A packet trace record (sim/tracer.ts) of the datapath's decision: which cache tier decided
   * (exact-match hit, megaflow hit, or an upcall through the OpenFlow tables) with the rules it
   * matched — at a cache hit, the rules its flow was made from — and the megaflow as `dpctl/dump-flows` prints it; a flow without actions drops.
   */
  private traceDecision(tier: 'emc' | 'megaflow' | 'upcall', f: DpFlow | null): void {
    const tr = this.sim.tracer;
    if (f === null) { tr.emit(this.name, this.inPort, 'drop', 'flow-drop: the upcall failed', { reason: 'flow-drop' }); return; }
    const line = this.dp.flowLine(f, this.nowMs);
    // the OpenFlow rules the upcall walked through; for a cache hit, those the flow was made from
    const rules = f.rules.map((r) => formatFlowLine(r.spec, undefined, { protocols: this.br.protocols }));
    // a select group's choice: a load-balancing decision the viewer can fork
    const explain = this.explainRule;
    const why = explain === null ? [] : rules.map((l) => explain(l)).filter((x): x is string => x !== null);
    const b = f.balance;
    const lb: Record<string, string | number> = b === null ? {} : { lb: 'select', group: b.group, choices: b.buckets.join(' '), chosen: b.chosen };
    tr.emit(this.name, this.inPort, 'flow', `${tier === 'emc' ? 'exact-match cache hit' : tier === 'megaflow' ? 'megaflow cache hit' : 'upcall'}: ${line}`,
      { fields: { tier, megaflow: line, actions: f.actionsText, ...(rules.length > 0 ? { rules: rules.join('\n') } : {}), ...(why.length > 0 ? { why: why.join('\n') } : {}), ...lb } });
    if (f.actionsText === 'drop') tr.emit(this.name, this.inPort, 'drop', `flow-drop: ${why.at(-1) ?? 'the datapath flow drops it'}`, { reason: 'flow-drop' });
  }

  /** The datapath's sink for port 'p': the bytes [start, end) of 'buf' leave now (the link copies them). */
  private output(p: OvsPort, buf: Uint8Array, start: number, end: number): void {
    if (start === 0 && end === buf.length) { p.send(buf); return; }
    const n = end - start;
    if (n > SCRATCH_BYTES) { p.send(buf.slice(start, end)); return; }
    const s = this.scratch ??= new Uint8Array(SCRATCH_BYTES);
    for (let i = 0; i < n; i++) s[i] = buf[start + i]!;
    let v = this.views[n];
    if (v === undefined) { v = s.subarray(0, n); this.views[n] = v; }
    p.send(v);
  }

  // ---- flows ------------------------------------------------------------------------------------

  /** `ovs-ofctl add-flows BR -` with 'text' (all or nothing). Throws FlowSyntaxError naming the line. */
  addFlows(text: string): void {
    this.br.addFlows(parseFlowsFile(text, { protocols: this.br.protocols }), this.nowMs);
  }

  /**
   * Install flows already parsed (what addFlows does after its parse: all or nothing), e.g. a
   * FlowTemplate's (ofproto/template.ts). Parsed for this bridge's protocols, they print and act
   * as the same text given to addFlows would; the specs are kept, not copied (never change them).
   */
  addFlowSpecs(specs: FlowSpec[]): void {
    this.br.addFlows(specs, this.nowMs);
  }

  /** `ovs-ofctl add-groups BR -` with 'text'. */
  addGroups(text: string): void {
    this.br.addGroups(parseGroupsFile(text, { protocols: this.br.protocols }));
  }

  /**
   * `ovs-ofctl [--strict] del-flows BR [MATCH]`: MATCH is `table=N`, match
   * fields and (with 'strict') `priority=P`; empty deletes every flow.
   * Returns the number of flows removed. Throws FlowSyntaxError.
   */
  delFlows(match = '', opts: { strict?: boolean } = {}): number {
    let table: number | null = null;
    let priority = 32768;
    const b = new MatchBuilder(1);
    let any = false;
    let conjId: number | undefined;
    for (const [key, value, col] of tokenize(match)) {
      if (key === 'conj_id') {
        // a rule's conjunction id: matched as a field, as ovs-ofctl matches NXM_NX_CONJ_ID
        if (!/^(0x[0-9a-fA-F]{1,8}|[0-9]{1,10})$/.test(value) || Number(value) > 0xffffffff) throw new FlowSyntaxError('OFCTL_BAD_VALUE', `${value}: invalid conj_id`, col + 8, value);
        conjId = Number(value);
        any = true;
        continue;
      }
      if (key === 'table') {
        const t = /^[0-9]+$/.test(value) ? Number(value) : -1;
        if (t < 0 || t > 254) throw new FlowSyntaxError('OFCTL_BAD_VALUE', `unknown table "${value}"`, col + 6, value);
        table = t;
        continue;
      }
      if (key === 'priority') {
        const pr = /^[0-9]+$/.test(value) ? Number(value) : -1;
        if (pr < 0 || pr > 65535) throw new FlowSyntaxError('OFCTL_BAD_VALUE', `${value}: invalid priority`, col + 9, value);
        priority = pr;
        continue;
      }
      if (!b.add(key, value, col)) throw new FlowSyntaxError('OFCTL_UNKNOWN_FIELD', `unknown keyword ${key}`, col, key);
      any = true;
    }
    const m = b.finish({ line: 1 });
    const strict = opts.strict ?? false;
    return this.br.deleteFlows(table, any || strict ? m : null, strict, priority, conjId).length;
  }

  /** `ovs-ofctl replace-flows BR -` in effect: every flow deleted, then 'text' added (one revalidation). */
  replaceFlows(text: string): void {
    const specs = parseFlowsFile(text, { protocols: this.br.protocols });
    this.br.deleteFlows(null, null);
    this.br.addFlows(specs, this.nowMs);
  }

  /** Push the datapath's flow statistics into the rules (the revalidator's sweep, now). */
  private pushStats(): void {
    this.dp.sweep(this.nowMs);
  }

  /** `ovs-ofctl dump-flows BR` (by table, then descending priority; 'table' limits it). */
  dumpFlows(opts: { table?: number } = {}): string[] {
    this.pushStats();
    return this.br.dumpFlows(this.nowMs, opts);
  }

  /** Every installed rule (with its counters after a push). */
  rules(): Rule[] {
    this.pushStats();
    return this.br.allRules();
  }

  /**
   * `ovs-ofctl dump-ports BR` (OpenFlow 1.0 text; the dummy netdev reports
   * no drop/error counters, printed `?` as OVS does). Ports in OpenFlow
   * number order, LOCAL first (OVS's own order is a hash order).
   */
  dumpPorts(): string {
    const lines = [`OFPST_PORT reply (xid=0x2): ${this.byOfport.size + 1} ports`];
    const row = (label: string, rxp: number, rxb: number, txp: number, txb: number): void => {
      lines.push(`  port ${label}: rx pkts=${rxp}, bytes=${rxb}, drop=?, errs=?, frame=?, over=?, crc=?`);
      lines.push(`           tx pkts=${txp}, bytes=${txb}, drop=?, errs=?, coll=?`);
    };
    row('LOCAL', 0, 0, 0, 0);
    for (const p of [...this.byOfport.values()].sort((a, b) => a.ofport - b.ofport)) {
      const s = p.stats;
      row(String(p.ofport).padStart(2), s.rxPackets, s.rxBytes, s.txPackets, s.txBytes);
    }
    return `${lines.join('\n')}\n`;
  }

  /**
   * `ovs-appctl ofproto/trace BR FLOW` or `… in_port=N HEX`: 'what' is a
   * flow string in ofproto/trace syntax (`in_port` may name a port) or a
   * frame, which then needs 'opts.inPort'. 'opts.ctNext' gives the
   * `--ct-next` states of successive conntrack recirculations
   * (comma-separated flags, as OVS: 'trk,est'). Side-effect free: nothing
   * is learnt, nothing counted. Throws FlowSyntaxError / OvsBridgeError.
   */
  trace(what: string | Uint8Array, opts: { inPort?: string | number; ctNext?: string[] } = {}): string {
    const args: string[] = [];
    for (const c of opts.ctNext ?? []) args.push('--ct-next', c);
    if (typeof what === 'string') {
      args.push(what.replace(/(^|,)in_port=([^,]+)/, (_m, pre: string, v: string) =>
        `${pre}in_port=${/^[0-9]+$/.test(v) || v === 'LOCAL' ? v : this.port(v).ofport}`));
    } else {
      if (opts.inPort === undefined) throw new OvsBridgeError('OVS_NO_PORT', this.name, 'tracing a frame needs inPort');
      const of = this.port(opts.inPort).ofport;
      args.push(`in_port=${of}`, toHex(what));
    }
    return traceText(this.br, parseTracePacket(args));
  }

  /** Datapath drop counters by reason (non-zero only). */
  drops(): Record<string, number> {
    return this.dp.drops();
  }
}
