/**
 * The datapath (datapath layer, fast path) — sdnemu's dpif-netdev with the
 * upcall handler and revalidator of ofproto-dpif-upcall.c.
 *
 * What: `Datapath` owns numbered ports (the bridge's ODP port numbers) and
 * forwards frames given to `receive()`/`receiveBatch()`:
 *   flow key extraction (flow/key.ts, tunnel and conntrack metadata from the
 *   packet's metadata) → exact-match cache → megaflow cache (cache.ts) → on a
 *   miss an upcall: translation through the bridge (ofproto/xlate.ts) whose
 *   datapath actions are compiled (odp-actions.ts) and installed with its
 *   megaflow → the actions run on the bytes (execute.ts): set fields, VLAN,
 *   output, ct (conntrack/), recirculation, tunnel push and pop, clone.
 * Outputs are handed synchronously to the port's sink with the bytes as they
 * are at that moment; a sink that keeps them must copy.
 * Kernel-style tunnel ports (Bridge.tunnelDatapath 'kernel'): the port's
 * owner encapsulates — an output after `set(tunnel(...))` hands the sink
 * the packet with its egress tunnel metadata (Pkt.outTun*) — and gives
 * decapsulated frames to `receiveTunnel()` with their tunnel metadata;
 * tnl_find() (`tunnelOfport`) picks the OpenFlow port from tun_id, outer
 * source and destination, for these and for native tnl_pop alike.
 *
 * Revalidation (ofproto-dpif-upcall.c's revalidator, made synchronous so no
 * stale decision survives): before a batch, if the bridge's version moved
 * (flows, groups added, changed or deleted), every cached megaflow is
 * translated again from the key of the upcall that made it; one whose mask
 * changed is deleted, one whose actions changed gets the new actions. Every
 * `revalidateMs` of packet time (OVS: 500 ms) a sweep credits the OpenFlow
 * rules with the megaflows' statistics, deletes megaflows idle for
 * `maxIdleMs` (OVS: 10 s), and re-ranks the megaflow subtables by hits.
 * MAC learning (NORMAL): an upcall's translation reports the source MACs
 * NORMAL saw (XlateResult.macLearn) and the upcall writes them into the
 * bridge's table (Bridge.mac) — only real packets learn, never a trace or a
 * revalidation. A change of that table (its `version`: an entry added,
 * moved or expired) makes the next batch revalidate every megaflow, as
 * ofproto-dpif's REV_MAC_LEARNING does; a flow's sources are learned again
 * whenever its statistics are pushed (the xlate cache's XC_NORMAL: a MAC
 * moving back through a cached flow is learned there, a busy entry is
 * refreshed), and the sweep expires idle entries (mac_learning_run).
 * The megaflow cache is bounded by `flowLimit` (other_config:flow-limit,
 * default 200000) as ofproto-dpif-upcall.c bounds it: an upcall while the
 * cache holds flowLimit megaflows still translates and executes the packet
 * (and learns), but installs nothing (should_install_flow; counted in
 * `stats.flowLimitHit`, OVS's upcall_flow_limit_hit), so that flow's every
 * packet takes the slow path until the revalidator frees room: its sweep
 * deletes megaflows idle for maxIdleMs — 100 ms while the cache holds more
 * than flowLimit (a limit lowered at run time), and every megaflow when it
 * holds more than twice the limit (kill_them_all). OVS's dynamic limit
 * (shrunk when a revalidator round takes long in wall-clock time) is not
 * modelled: revalidation here takes no virtual time. The exact-match cache
 * has its fixed size (emcEntries, 8192) and replaces entries.
 *
 * What is installed is what dpif-netdev installs: the megaflow's mask with
 * the VLAN-presence bit always matched (and an unread tag's VID), nd()
 * dropped unless ICMPv6 type and code are exact (datapathMask), and a flow
 * whose actions need userspace (set(arp), set(icmp): SLOW_ACTION) shown as
 * `userspace(pid=0,slow_path(action))` while its actions still run here.
 * The clock is the caller's `now` (ms): packet time, never the wall clock.
 *
 * Per packet it allocates nothing: one reusable `Pkt` per recirculation or
 * clone depth, one scratch key, a flow's actions packed in one typed array
 * (DpProgram), numeric counters. Memory of an idle datapath: the port map
 * is sized to the largest datapath port number present (a Uint16Array of
 * slots, then one sink and OpenFlow number per port), not to 65536 ports;
 * the exact-match cache and the deeper Pkts with their frame-sized buffers
 * are made on first use. Upcalls, installation and revalidation are
 * the slow path and allocate freely.
 * Every packet given to the datapath ends as exactly one of: delivered (at
 * least one output), dropped (with one of DROP_REASONS; the first reason
 * counts), or consumed by the controller — `stats.rx` equals their sum.
 * Select groups: `hash(sym_l4(0))`/`hash(l4(0))` put the packet's dp_hash in
 * the key of the recirculated pass, whose translation picks the bucket
 * (xlate.ts dpHashMap) and whose megaflow matches dp_hash under the group's
 * slot mask. Not modelled: the SMC, and PMD threads (one thread runs all).
 * Neighbours: ofproto/ (translation), conntrack/ (ct), odp-flow.ts (dump
 * format), hash.ts (RSS hash, tunnel source port), cache.ts, execute.ts.
 */
import {
  F_ARP_SHA_HI, F_ARP_SHA_LO, F_ARP_THA_HI, F_ARP_THA_LO, F_CT_MARK, F_CT_STATE, F_CT_ZONE, F_DL_TYPE, F_DP_HASH, F_ND_TARGET, F_NW_FRAG,
  F_NW_PROTO, F_RECIRC_ID, F_TCP_FLAGS, F_TP_DST, F_TP_SRC, F_TUN_DST, F_TUN_FLAGS, F_TUN_ID_HI, F_TUN_ID_LO, F_TUN_SRC, F_VLAN_TCI,
  FLOW_WORDS, flowFromFrame, lastL3Offset, lastL4Offset,
} from '../flow/key.js';
import type { Bridge } from '../ofproto/bridge.js';
import { parseIpv4 } from '../wire/bytes.js';
import { type Continuation, type XlateResult, xlate, xlateContinuation } from '../ofproto/xlate.js';
import { SLOW_ACTION } from '../ofproto/odp.js';
import type { MacLearn } from '../ofproto/mac-learning.js';
import { Conntrack } from '../conntrack/conntrack.js';
import { DpFlow, Emc, MegaflowCache } from './cache.js';
import {
  A_CLONE, A_CT, A_CT_CLEAR, A_HASH, A_OUTPUT, A_POP_VLAN, A_PUSH_VLAN, A_RECIRC, A_SET_ARP, A_SET_ETH, A_SET_ICMP,
  A_SET_IPV4, A_SET_IPV6, A_SET_L4, A_SET_TUNNEL, A_TNL_POP, A_TNL_PUSH, A_USERSPACE, AV, AW, type DpProgram, TNL_TYPE_GENEVE, TNL_TYPE_VXLAN, compileActions,
} from './odp-actions.js';
import { Pkt, popVlan, pushVlan, setArp, setEth, setIcmp, setIpv4, setIpv6, setL4, setTunnel, tnlPop, tnlPush } from './execute.js';
import { dpHashL4, rssHashOfPacketI32, rssHashRecircI32, symmetricL4Hash } from '../flow/hash.js';
import { formatDpFlowLine } from './odp-flow.js';
import { Mulberry32 } from '../rng.js';

/** Why a packet was dropped, as OVS's drop counters name them (`ovs-appctl coverage/show`). */
export const DROP_REASONS = [
  'of_pipeline',          // the pipeline gave the packet no output (drop_action_of_pipeline)
  'rx_invalid_packet',    // shorter than an Ethernet header (datapath_drop_rx_invalid_packet)
  'tunnel_pop_error',     // tnl_pop on a packet that is not a valid VXLAN/Geneve packet
  'tunnel_push_error',    // no headroom for the outer header
  'recirc_error',         // recirculation id unknown to the upcall handler
  'recursion_too_deep',   // more than MAX_RECIRC_DEPTH recirculations
  'invalid_port',         // output to a port the datapath does not have
  'upcall_error',         // translation failed (XLATE_* error) or the packet has no bridge port
] as const;
export type DropReason = typeof DROP_REASONS[number];
const D_OF_PIPELINE = 0, D_RX_INVALID = 1, D_TNL_POP = 2, D_TNL_PUSH = 3, D_RECIRC = 4, D_RECURSION = 5, D_INVALID_PORT = 6,
  D_UPCALL = 7;

// module-local copies of the key indices process() writes per packet (V8 folds a module's own
// consts; an imported binding is loaded on every use — see flow/key.ts)
const K_RECIRC_ID = F_RECIRC_ID, K_CT_STATE = F_CT_STATE, K_CT_ZONE = F_CT_ZONE, K_CT_MARK = F_CT_MARK, K_DP_HASH = F_DP_HASH, K_TUN_ID_HI = F_TUN_ID_HI,
  K_TUN_ID_LO = F_TUN_ID_LO, K_TUN_SRC = F_TUN_SRC, K_TUN_DST = F_TUN_DST, K_TUN_FLAGS = F_TUN_FLAGS, K_DL_TYPE = F_DL_TYPE,
  K_NW_PROTO = F_NW_PROTO, K_NW_FRAG = F_NW_FRAG, K_TCP_FLAGS = F_TCP_FLAGS;

/** OVS's MAX_RECIRC_DEPTH */
const MAX_RECIRC_DEPTH = 6;
/** clone()/recirculation nesting the per-depth Pkt pool covers */
const MAX_DEPTH = 16;

/**
 * What a port does with a frame the datapath sends: [start, end) of 'buf',
 * valid only during the call; 'pkt' is the packet whose metadata (the
 * egress tunnel of a set(tunnel(...)): Pkt.outTun*) a tunnel port reads.
 */
export type PortSink = (buf: Uint8Array, start: number, end: number, pkt: Pkt) => void;

/**
 * The tunnel metadata of a packet a kernel-style tunnel port received
 * (what the vport's ip_tunnel_info carries into the flow key): reused by
 * the caller for every packet.
 */
export class TunnelMeta {
  idHi = 0;
  idLo = 0;
  /** outer IPv4 source and destination */
  src = 0;
  dst = 0;
  /** FLOW_TNL_F_* (key, csum) */
  flags = 0;
  tos = 0;
  ttl = 0;
  tpSrc = 0;
  tpDst = 0;
}

/** One tunnel port as tnl_find() sees it: -1 in remote/local means `flow` or absent (see ofportOf). */
interface TunnelPortCfg {
  odp: number; ofport: number; type: number;
  /** remote_ip, -1 for remote_ip=flow */
  remote: number;
  /** local_ip: -1 absent (any), -2 local_ip=flow, else the address */
  local: number;
  /** in_key=flow (or key=flow) */
  keyFlow: boolean;
  /** the fixed in_key (0 when absent), 64 bits as two words */
  keyHi: number; keyLo: number;
  /** tnl_find's search order: fixed key, then fixed remote, then local configured/any/flow */
  rank: number;
}

export interface DatapathOptions {
  conntrack?: Conntrack;
  /** OVS other_config:emc-insert-inv-prob (default 100: insert one megaflow hit in 100 into the EMC; 0 disables the EMC) */
  emcInsertInvProb?: number;
  emcEntries?: number;
  /** other_config:flow-limit */
  flowLimit?: number;
  /** other_config:max-idle (ms) */
  maxIdleMs?: number;
  revalidateMs?: number;
  /** seed of the EMC insertion draws */
  seed?: number;
}

/** Counters as `dpctl/show` and `dpif-netdev/pmd-stats-show` report them. */
export class DatapathStats {
  rx = 0;
  emcHits = 0;
  megaflowHits = 0;
  /** subtables probed by megaflow hits (masks hit) */
  maskProbes = 0;
  /** misses handled by an upcall that installed or executed */
  missed = 0;
  /** upcalls that failed */
  lost = 0;
  recirculations = 0;
  passes = 0;
  delivered = 0;
  toController = 0;
  txPackets = 0;
  /** upcalls that installed no megaflow because the cache held flowLimit flows (upcall_flow_limit_hit) */
  flowLimitHit = 0;
  /** ct(commit) refused by a zone limit or the table maximum (the packet is not dropped for it) */
  ctRefused = 0;
  /** tunnelled packets no tunnel port takes (OVS's "receive tunnel port not found"; dropped as upcall_error) */
  tnlPortNotFound = 0;
  readonly dropped = new Float64Array(DROP_REASONS.length);

  get droppedTotal(): number { let n = 0; for (const d of this.dropped) n += d; return n; }
}

export interface PacketIn {
  port: number;
  reason: number;
  frame: Uint8Array;
}

export class Datapath {
  readonly br: Bridge;
  readonly ct: Conntrack;
  readonly stats = new DatapathStats();
  readonly emc: Emc;
  readonly megaflows = new MegaflowCache();
  emcInsertInvProb: number;
  flowLimit: number;
  maxIdleMs: number;
  readonly revalidateMs: number;
  /** called for each controller action with a copy of the packet */
  onPacketIn: ((p: PacketIn) => void) | null = null;
  /** called for each drop (slow path: tracing) */
  onDrop: ((reason: DropReason, p: Pkt) => void) | null = null;
  /** the most recent packets sent to the controller (bounded) */
  readonly packetIns: PacketIn[] = [];

  /** what attach() was given, by datapath port number */
  private readonly sinks = new Map<number, PortSink | null>();
  /**
   * The per-packet port map, rebuilt by syncPorts: slotOfOdp[odp] is 0 for a port the datapath
   * does not have, else a slot (1…) into sinkOf and ofportOf (-1: a tunnel port, see ofportOf).
   * Sized to the largest port number present (a power of two), not to 65536 ports.
   */
  private slotOfOdp = new Uint16Array(1);
  private sinkOf: (PortSink | null)[] = [null];
  private ofportOfSlot = new Int32Array(1);
  private tunnelPorts: TunnelPortCfg[] = [];
  private portsSeen = -1;
  private version: number;
  private macVersion: number;
  /** the sources each megaflow's upcall learned: learned again when its statistics are pushed */
  private readonly macLearns = new WeakMap<DpFlow, MacLearn[]>();
  private lastSweep = 0;
  private nextFlowId = 1;
  private readonly recircs = new Map<number, Continuation>();
  private readonly key = new Uint32Array(FLOW_WORDS);
  private readonly pool: Pkt[] = [];
  private readonly rand: Mulberry32;
  /** fate of the packet being processed: outputs, controller deliveries, first drop reason (-1 none) */
  private fateOut = 0;
  private fateCtl = 0;
  private fateDrop = -1;

  /**
   * Told which cache tier decided each packet — the exact-match cache, a megaflow, or an upcall
   * (with the megaflow it installed; null when translation failed) — for packet traces. Null (the
   * default) costs one test per packet.
   */
  onDecision: ((tier: 'emc' | 'megaflow' | 'upcall', flow: DpFlow | null) => void) | null = null;
  /**
   * A trace fork (sim/tracer.ts): the packets received from now on skip the caches and the first
   * select group translated takes bucket 'force' (that flow is not installed: it is not what the
   * pipeline would have cached); then 'force' is -1 again and 'forceUsed' true.
   */
  force = -1;
  forceUsed = false;

  constructor(br: Bridge, opts: DatapathOptions = {}) {
    this.br = br;
    this.ct = opts.conntrack ?? new Conntrack();
    this.emcInsertInvProb = opts.emcInsertInvProb ?? 100;
    this.emc = new Emc(opts.emcEntries);
    this.flowLimit = opts.flowLimit ?? 200000;
    this.maxIdleMs = opts.maxIdleMs ?? 10000;
    this.revalidateMs = opts.revalidateMs ?? 500;
    this.rand = new Mulberry32(opts.seed ?? 1);
    this.version = br.version;
    this.macVersion = br.mac.version;
    // the packet of depth 0 now, a deeper one (a clone, a recirculation) when first needed:
    // each holds a frame-sized scratch buffer, and most bridges never go deep
    this.pool.push(new Pkt(0));
    this.syncPorts();
  }

  // ---- ports ----------------------------------------------------------------------------------------

  /** Map datapath port numbers to the bridge's OpenFlow ports (again when the bridge's ports changed). */
  private syncPorts(): void {
    this.tunnelPorts = [];
    let max = 0;
    for (const p of this.br.ports.values()) if (p.odp > max) max = p.odp;
    let cap = 1;
    while (cap <= max) cap *= 2;
    if (this.slotOfOdp.length === cap) this.slotOfOdp.fill(0); else this.slotOfOdp = new Uint16Array(cap);
    const sinkOf: (PortSink | null)[] = [null];
    const ofportOf: number[] = [-1];
    for (const p of this.br.ports.values()) {
      let slot = this.slotOfOdp[p.odp]!;
      if (slot === 0) {
        slot = this.slotOfOdp[p.odp] = sinkOf.length;
        sinkOf.push(this.sinks.get(p.odp) ?? null);
        ofportOf.push(-1);
      }
      if (p.type === 'vxlan' || p.type === 'geneve') {
        // netdev-vport's tunnel config: in_key (or key) absent means key 0, not any key
        const r = p.options['remote_ip'], l = p.options['local_ip'], k = p.options['in_key'] ?? p.options['key'];
        const keyFlow = k === 'flow';
        const key = k === undefined || keyFlow ? 0n : BigInt(k);
        const remote = r === undefined || r === 'flow' ? -1 : parseIpv4(r) ?? -1;
        const local = l === undefined ? -1 : l === 'flow' ? -2 : parseIpv4(l) ?? -1;
        this.tunnelPorts.push({
          odp: p.odp, ofport: p.ofport, type: p.type === 'geneve' ? TNL_TYPE_GENEVE : TNL_TYPE_VXLAN, remote, local, keyFlow,
          keyHi: Number(key >> 32n), keyLo: Number(key & 0xffffffffn),
          rank: (keyFlow ? 6 : 0) + (remote < 0 ? 3 : 0) + (local === -1 ? 1 : local === -2 ? 2 : 0),
        });
      } else {
        ofportOf[slot] = p.ofport;
      }
    }
    this.sinkOf = sinkOf;
    this.ofportOfSlot = Int32Array.from(ofportOf);
    this.portsSeen = this.br.portsVersion;
  }

  /** Send what the datapath outputs on datapath port 'odp' to 'sink' (null: discard). */
  attach(odp: number, sink: PortSink | null): void {
    this.sinks.set(odp, sink);
    const slot = odp < this.slotOfOdp.length ? this.slotOfOdp[odp]! : 0;
    if (slot > 0) this.sinkOf[slot] = sink;
  }

  /**
   * The OpenFlow port of a packet on datapath port 'p.inPort': a tunnel's
   * datapath port is shared (vxlan_sys_4789), so the packet's tunnel
   * metadata picks the bridge port (tnl_port_receive: remote_ip and key
   * equal or `flow`).
   */
  private ofportOf(p: Pkt): number {
    const of = this.ofportOfSlot[this.slotOfOdp[p.inPort]!]!;
    if (of >= 0 || p.tunDst === 0) return of;
    const t = this.tunnelOfport(p.inPort, p.tunIdHi, p.tunIdLo, p.tunSrc, p.tunDst);
    if (t < 0) this.stats.tnlPortNotFound++;
    return t;
  }

  /**
   * tnl_find() (ofproto/tunnel.c): the OpenFlow port of a packet that came
   * out of tunnel datapath port 'odp' with tun_id 'idHi':'idLo' from outer
   * source 'src' to outer destination 'dst', or -1. A port matches when its
   * key is `flow` or equals the tun_id (a port without a key takes tun_id 0
   * only), its remote_ip is `flow` or equals 'src', and its local_ip is
   * absent, `flow`, or equals 'dst'; of several, the first in tnl_find's
   * order: fixed key before key=flow, then fixed remote before
   * remote_ip=flow, then a configured local_ip before none before `flow`.
   * Allocates nothing.
   */
  tunnelOfport(odp: number, idHi: number, idLo: number, src: number, dst: number): number {
    if (this.br.portsVersion !== this.portsSeen) this.syncPorts();
    let best = -1, bestRank = 99;
    const tp = this.tunnelPorts;
    for (let i = 0; i < tp.length; i++) {
      const t = tp[i]!;
      if (t.odp !== odp || t.rank >= bestRank) continue;
      if (!t.keyFlow && (t.keyHi !== (idHi >>> 0) || t.keyLo !== (idLo >>> 0))) continue;
      if (t.remote >= 0 && t.remote !== (src >>> 0)) continue;
      if (t.local >= 0 && t.local !== (dst >>> 0)) continue;
      best = t.ofport;
      bestRank = t.rank;
    }
    return best;
  }

  // ---- receive ----------------------------------------------------------------------------------------

  /**
   * Receive the frame 'buf' [start, end) on datapath port 'port' at 'now'
   * (ms of the caller's clock). The datapath may rewrite the bytes in place.
   */
  receive(port: number, buf: Uint8Array, now: number, start = 0, end = buf.length): void {
    this.beforeBatch(now);
    this.receiveOne(port, buf, start, end, now, null);
  }

  /**
   * Receive the inner frame 'buf' [start, end) a kernel-style tunnel port
   * (datapath port 'port', e.g. vxlan_sys_4789) decapsulated, with the
   * outer headers' metadata 'tun' (tun_id, tun_src, tun_dst, tun_flags,
   * tos, ttl, UDP ports) in the flow key; tnl_find() then picks the
   * OpenFlow port (a packet no port takes is dropped as upcall_error and
   * counted in stats.tnlPortNotFound).
   */
  receiveTunnel(port: number, buf: Uint8Array, tun: TunnelMeta, now: number, start = 0, end = buf.length): void {
    this.beforeBatch(now);
    this.receiveOne(port, buf, start, end, now, tun);
  }

  /**
   * Receive 'n' frames: frame i is bufs[i] [starts[i], ends[i]) on port
   * ports[i]. Revalidation and the periodic sweep run once per batch.
   */
  receiveBatch(n: number, ports: Int32Array, bufs: Uint8Array[], starts: Int32Array, ends: Int32Array, now: number): void {
    this.beforeBatch(now);
    for (let i = 0; i < n; i++) this.receiveOne(ports[i]!, bufs[i]!, starts[i]!, ends[i]!, now, null);
  }

  private beforeBatch(now: number): void {
    if (this.br.portsVersion !== this.portsSeen) this.syncPorts();
    if (this.br.version !== this.version || this.br.mac.version !== this.macVersion) this.revalidate(now);
    if (now - this.lastSweep >= this.revalidateMs) this.sweep(now);
  }

  private receiveOne(port: number, buf: Uint8Array, start: number, end: number, now: number, tun: TunnelMeta | null): void {
    const st = this.stats;
    st.rx++;
    const p = this.pool[0]!;
    p.reset(buf, start, end, port);
    if (tun !== null) {
      p.tunIdHi = tun.idHi; p.tunIdLo = tun.idLo; p.tunSrc = tun.src; p.tunDst = tun.dst; p.tunFlags = tun.flags;
      p.tunTos = tun.tos; p.tunTtl = tun.ttl; p.tunTpSrc = tun.tpSrc; p.tunTpDst = tun.tpDst;
    }
    this.fateOut = 0; this.fateCtl = 0; this.fateDrop = -1;
    if (!(this.slotOfOdp[port]! > 0)) this.drop(p, D_INVALID_PORT);
    else this.process(p, now);
    if (this.fateOut > 0) st.delivered++;
    else if (this.fateDrop >= 0) st.dropped[this.fateDrop] = st.dropped[this.fateDrop]! + 1;
    else if (this.fateCtl > 0) st.toController++;
    else st.dropped[D_OF_PIPELINE] = st.dropped[D_OF_PIPELINE]! + 1;
  }

  /** What became of the last packet received: it left by some port, went to the controller only, or was dropped (why). */
  get lastFate(): 'output' | 'controller' | DropReason {
    if (this.fateOut > 0) return 'output';
    if (this.fateDrop >= 0) return DROP_REASONS[this.fateDrop]!;
    return this.fateCtl > 0 ? 'controller' : 'of_pipeline';
  }

  private drop(p: Pkt, reason: number): void {
    if (this.fateDrop < 0) this.fateDrop = reason;
    if (this.onDrop !== null) this.onDrop(DROP_REASONS[reason]!, p);
  }

  /** One datapath pass of 'p': key, caches, upcall, actions. */
  private process(p: Pkt, now: number): void {
    const st = this.stats;
    st.passes++;
    if (p.end - p.start < 14) { this.drop(p, D_RX_INVALID); return; }
    const key = this.key;
    const ofport = this.ofportOf(p);
    if (ofport < 0) { this.drop(p, D_UPCALL); return; }
    flowFromFrame(p.buf, p.start, p.end, ofport, key, 0, false, true);
    key[K_RECIRC_ID] = p.recircId;
    key[K_CT_STATE] = p.ctState;
    key[K_CT_ZONE] = p.ctZone;
    key[K_CT_MARK] = p.ctMark;
    key[K_DP_HASH] = p.dpHash;
    key[K_TUN_ID_HI] = p.tunIdHi;
    key[K_TUN_ID_LO] = p.tunIdLo;
    key[K_TUN_SRC] = p.tunSrc;
    key[K_TUN_DST] = p.tunDst;
    key[K_TUN_FLAGS] = p.tunDst !== 0 ? p.tunFlags : 0;
    const l3 = lastL3Offset(), l4 = lastL4Offset();
    p.l3 = l3 === 0xffff ? -1 : l3;   // NO_OFFSET
    p.l4 = l4 === 0xffff ? -1 : l4;
    p.dlType = key[K_DL_TYPE]!;
    p.proto = key[K_NW_PROTO]!;
    p.laterFrag = (key[K_NW_FRAG]! & 2) !== 0;   // NW_FRAG_LATER
    if (p.depth === 0 || p.tunDst !== 0 && p.recircId === 0) {
      // the RSS hash OVS keeps with the packet: computed at receive, again after tnl_pop (a new
      // inner frame), not after recirculation; an IPv6 header's own next-header byte when
      // extension headers follow (what dpif-netdev's 5-tuple hash reads)
      const nxt = p.dlType === 0x86dd && p.l3 >= 0 ? p.buf[p.l3 + 6]! : -1;
      p.rssHash = rssHashOfPacketI32(key, 0, nxt === p.proto ? -1 : nxt);
    }
    const h = p.depth === 0 ? p.rssHash : rssHashRecircI32(p.rssHash, p.depth);

    const seen = this.onDecision;
    if (this.force >= 0) {
      const forced = this.upcall(p, now);
      if (seen !== null) seen('upcall', forced);
      if (forced !== null) this.execute(p, forced.actions, now);
      return;
    }
    let f: DpFlow | null = this.emcInsertInvProb > 0 ? this.emc.lookup(key, 0, h) : null;
    if (f !== null) {
      st.emcHits++;
      if (seen !== null) seen('emc', f);
    } else {
      f = this.megaflows.lookup(key, 0);
      if (f !== null) {
        st.megaflowHits++;
        st.maskProbes += this.megaflows.probes;
        if (seen !== null) seen('megaflow', f);
        const inv = this.emcInsertInvProb;
        if (inv === 1 || (inv > 1 && (this.rand.nextI32() >>> 1) % inv === 0)) this.emc.insert(key, 0, h, f);
      } else {
        f = this.upcall(p, now);
        if (seen !== null) seen('upcall', f);
        if (f !== null) this.execute(p, f.actions, now);
        return;
      }
    }
    // the datapath flow counts cache hits only; the upcalled packet is credited to the rules
    // directly (as OVS: `dpctl/dump-flows` never counts the packet that made the flow)
    f.packets++;
    f.bytes += p.end - p.start;
    f.used = now;
    f.tcpFlags |= key[K_TCP_FLAGS]!;
    this.execute(p, f.actions, now);
  }

  // ---- upcall -----------------------------------------------------------------------------------------

  /** Translate the packet whose key is in this.key, install the megaflow, return it (null: dropped). */
  private upcall(p: Pkt, now: number): DpFlow | null {
    const st = this.stats;
    const key = this.key.slice();
    let c: Continuation | undefined;
    if (key[F_RECIRC_ID] !== 0) {
      c = this.recircs.get(key[F_RECIRC_ID]!);
      if (c === undefined) { st.lost++; this.drop(p, D_RECIRC); return null; }
    }
    const opts = { packet: true, learnMacs: true, ...(this.force >= 0 ? { forceBucket: this.force } : {}) };
    const r = c === undefined ? xlate(this.br, key, opts) : xlateContinuation(this.br, c, key[F_CT_STATE]!, opts, key);
    // a fork's forced choice made: its flow is this packet's alone, not cached
    const forced = this.force >= 0 && r.balance !== null;
    if (forced) { this.force = -1; this.forceUsed = true; }
    if (r.error !== null) { st.lost++; this.drop(p, D_UPCALL); return null; }
    st.missed++;
    for (const k of r.continuations) this.recircs.set(k.recircId, k);
    const mask = datapathMask(r.megaflow.mask, key);
    const f = new DpFlow(this.nextFlowId++, key.map((v, w) => (v & mask[w]!) >>> 0), mask, key, compileActions(r.odpActions),
      actionsText(r), r.rules, r.learned, now);
    f.slow = r.slow !== 0;
    f.tunTos = p.tunTos;
    f.tunTtl = p.tunTtl;
    f.tunGeneve = p.tunDst !== 0 && this.tunnelType(p.inPort) === TNL_TYPE_GENEVE;
    f.balance = r.balance;
    for (const rule of r.rules) this.br.credit(rule, 1, p.end - p.start, now);
    if (forced) return f;
    // should_install_flow: at the limit the packet is handled (below) but nothing is cached
    if (this.megaflows.size >= this.flowLimit) st.flowLimitHit++;
    else this.megaflows.insert(f);
    if (r.learned.length) this.br.addFlows(r.learned, now);
    if (r.macLearn.length) {
      this.macLearns.set(f, r.macLearn);
      for (const l of r.macLearn) this.br.mac.update(l.mac, l.vlan, l.port, now);
    }
    return f;
  }

  private deleteFlow(f: DpFlow): void {
    f.dead = true;
    this.megaflows.remove(f);
  }

  // ---- revalidation -------------------------------------------------------------------------------------

  /**
   * Translate every megaflow again from its upcall key against the bridge as
   * it is now: keep it when mask and actions are unchanged, take the new
   * actions when only they changed, delete it when the mask changed.
   */
  revalidate(now: number): void {
    this.version = this.br.version;
    this.macVersion = this.br.mac.version;
    for (const f of [...this.megaflows.flows()]) {
      this.pushStats(f, now);
      const k = f.upcallKey;
      let c: Continuation | undefined;
      if (k[F_RECIRC_ID] !== 0) c = this.recircs.get(k[F_RECIRC_ID]!);
      const r = c === undefined
        ? (k[F_RECIRC_ID] !== 0 ? null : xlate(this.br, k, { packet: true }))
        : xlateContinuation(this.br, c, k[F_CT_STATE]!, { packet: true }, k);
      if (r === null || r.error !== null) { this.deleteFlow(f); continue; }
      const mask = datapathMask(r.megaflow.mask, k);
      let same = true;
      for (let w = 0; w < FLOW_WORDS; w++) if (mask[w] !== f.mask[w]) { same = false; break; }
      if (!same) { this.deleteFlow(f); continue; }
      for (const x of r.continuations) this.recircs.set(x.recircId, x);
      const text = actionsText(r);
      if (text !== f.actionsText || (r.slow !== 0) !== f.slow) {
        f.actions = compileActions(r.odpActions);
        f.actionsText = text;
        f.slow = r.slow !== 0;
      }
      f.rules = r.rules;
      f.pushedPackets = f.packets;
      f.pushedBytes = f.bytes;
    }
  }

  /** Credit 'f's OpenFlow rules with the packets and bytes since the last push. */
  private pushStats(f: DpFlow, now: number): void {
    const dp = f.packets - f.pushedPackets, db = f.bytes - f.pushedBytes;
    if (dp === 0) return;
    for (const r of f.rules) this.br.credit(r, dp, db, f.used < 0 ? now : f.used);
    const learns = this.macLearns.get(f);
    if (learns !== undefined) for (const l of learns) this.br.mac.update(l.mac, l.vlan, l.port, now);
    f.pushedPackets = f.packets;
    f.pushedBytes = f.bytes;
  }

  /**
   * The revalidator's periodic pass at 'now': push statistics, delete
   * megaflows idle for maxIdleMs (100 ms when over the flow limit; all of
   * them when over twice the limit), expire OpenFlow and conntrack
   * timeouts, re-rank the subtables.
   */
  sweep(now: number): void {
    this.lastSweep = now;
    const n = this.megaflows.size;
    const killAll = n > 2 * this.flowLimit;
    const maxIdle = n > this.flowLimit ? 100 : this.maxIdleMs;
    for (const f of [...this.megaflows.flows()]) {
      this.pushStats(f, now);
      const last = f.used < 0 ? f.created : f.used;
      if (killAll || now - last >= maxIdle) this.deleteFlow(f);
    }
    this.br.expire(now);
    this.br.mac.expire(now);
    this.ct.expire(now);
    this.megaflows.rank();
  }

  /** `ovs-appctl dpctl/del-flows`: empty both caches. */
  flushFlows(): void {
    for (const f of [...this.megaflows.flows()]) this.deleteFlow(f);
    this.emc.clear();
  }

  // ---- actions ----------------------------------------------------------------------------------------

  private execute(p: Pkt, prog: DpProgram, now: number): void {
    const n = prog.n, c = prog.code;
    if (n === 0) { this.drop(p, D_OF_PIPELINE); return; }
    for (let i = 0; i < n; i++) {
      const o = i * AW;
      const port = c[o + 1]!;
      switch (c[o]) {
        case A_OUTPUT: {
          const slot = this.slotOfOdp[port]!;
          if (!(slot > 0)) { this.drop(p, D_INVALID_PORT); break; }
          const s = this.sinkOf[slot];
          this.stats.txPackets++;
          this.fateOut++;
          if (s !== null && s !== undefined) s(p.buf, p.start, p.end, p);
          break;
        }
        case A_SET_ETH: setEth(p, c, o); break;
        case A_SET_IPV4: setIpv4(p, c, o); break;
        case A_SET_IPV6: setIpv6(p, c, o); break;
        case A_SET_L4: setL4(p, c, o); break;
        case A_SET_ICMP: setIcmp(p, c, o); break;
        case A_SET_ARP: setArp(p, c, o); break;
        case A_PUSH_VLAN: if (!pushVlan(p, c, o)) { this.drop(p, D_TNL_PUSH); return; } break;
        case A_POP_VLAN: popVlan(p); break;
        case A_CT: {
          if (p.l3 < 0 || (p.dlType !== 0x0800 && p.dlType !== 0x86dd)) {
            // not IP: conntrack leaves it untracked (OVS: ct_state stays 0)
            p.ctState = 0;
            break;
          }
          const r = p.ct;
          p.ctDirty = true;
          this.ct.execute(p.buf, p.l3, p.end, p.dlType, prog.cts[i]!, now, r);
          // a refused commit (zone limit, table full) is counted; as in OVS the packet goes on
          // untracked-by-the-table (+trk+new), so the pipeline decides what happens to it
          if (r.refused) this.stats.ctRefused++;
          p.ctState = r.state; p.ctZone = r.zone; p.ctMark = r.mark;
          break;
        }
        case A_CT_CLEAR: p.ctState = 0; p.ctZone = 0; p.ctMark = 0; p.ct.clear(); p.ctDirty = false; break;
        case A_HASH:
          // odp-execute's OVS_ACTION_ATTR_HASH, on the key of this pass
          p.dpHash = c[o + AV] === 1 ? symmetricL4Hash(this.key, 0, port) | 0 : dpHashL4(p.rssHash >>> 0, port) | 0;
          break;
        case A_RECIRC:
        case A_TNL_POP: {
          const last = i === n - 1;
          const q = last ? p : this.cloneOf(p);
          if (q === null) { this.drop(p, D_RECURSION); return; }
          if (c[o] === A_TNL_POP) {
            const type = this.tunnelType(port);
            if (type === 0 || !tnlPop(q, type)) { this.drop(q, D_TNL_POP); if (last) return; break; }
            q.inPort = port;
          } else {
            q.recircId = port;
          }
          if (q.depth >= MAX_RECIRC_DEPTH) { this.drop(q, D_RECURSION); if (last) return; break; }
          q.depth++;
          this.stats.recirculations++;
          this.process(q, now);
          if (last) return;
          break;
        }
        case A_CLONE: {
          const q = this.cloneOf(p);
          if (q === null) { this.drop(p, D_RECURSION); break; }
          this.execute(q, prog.subs[i]!, now);
          break;
        }
        case A_USERSPACE: {
          this.fateCtl++;
          const pin: PacketIn = { port: p.inPort, reason: port, frame: p.buf.slice(p.start, p.end) };
          if (this.packetIns.length >= 1024) this.packetIns.shift();
          this.packetIns.push(pin);
          if (this.onPacketIn !== null) this.onPacketIn(pin);
          break;
        }
        case A_TNL_PUSH: if (!tnlPush(p, prog.hdrs[i]!)) { this.drop(p, D_TNL_PUSH); return; } break;
        case A_SET_TUNNEL: setTunnel(p, c, o); break;
      }
    }
  }

  /** A copy of 'p' in the pool slot one deeper (made on first use), or null when the pool is exhausted. */
  private cloneOf(p: Pkt): Pkt | null {
    const d = p.slot + 1;
    if (d >= MAX_DEPTH) return null;
    let q = this.pool[d];
    if (q === undefined) { q = new Pkt(d); this.pool.push(q); }
    q.copyFrom(p);
    return q;
  }

  private tunnelType(odp: number): number {
    const tp = this.tunnelPorts;
    for (let i = 0; i < tp.length; i++) if (tp[i]!.odp === odp) return tp[i]!.type;
    return 0;
  }

  // ---- reporting --------------------------------------------------------------------------------------

  /** `ovs-appctl dpctl/dump-flows` lines at 'now'. */
  dumpFlows(now: number): string[] {
    return [...this.megaflows.flows()].sort((a, b) => a.id - b.id).map((f) => this.flowLine(f, now));
  }

  /** Megaflow 'f' as `ovs-appctl dpctl/dump-flows` prints it. */
  flowLine(f: DpFlow, now: number): string {
    const odp = (of: number): number => this.br.ports.get(of)?.odp ?? of;
    // OVS prints the key of the packet that made the flow, under the mask (`dst=10.0.0.5/255.255.255.0`)
    return formatDpFlowLine(f.upcallKey, f.mask,
      { packets: f.packets, bytes: f.bytes, usedMs: f.used < 0 ? null : f.used, nowMs: now, tcpFlags: f.tcpFlags }, f.actionsText,
      { odpPort: odp, ...(f.upcallKey[F_TUN_DST] !== 0 ? { tunnel: { tos: f.tunTos, ttl: f.tunTtl, geneve: f.tunGeneve } } : {}) });
  }

  /** `ovs-appctl dpctl/show` for this datapath. */
  show(): string {
    const s = this.stats;
    const hits = s.emcHits + s.megaflowHits;
    const lines = [
      `dummy@ovs-dummy:`,
      `  lookups: hit:${hits} missed:${s.missed} lost:${s.lost}`,
      `  flows: ${this.megaflows.size}`,
      `  masks: hit:${s.maskProbes} total:${this.megaflows.masks} hit/pkt:${hits === 0 ? '0.00' : (s.maskProbes / hits).toFixed(2)}`,
    ];
    const ports = [...this.br.ports.values()].sort((a, b) => a.odp - b.odp);
    const seen = new Set<number>();
    for (const p of ports) {
      if (seen.has(p.odp)) continue;
      seen.add(p.odp);
      const name = p.type === 'vxlan' ? 'vxlan_sys_4789' : p.type === 'geneve' ? 'genev_sys_6081' : p.name;
      const type = p.type === 'internal' ? 'dummy-internal' : p.type === 'vxlan' || p.type === 'geneve' ? p.type : 'dummy';
      lines.push(`  port ${p.odp}: ${name} (${type})`);
    }
    return lines.join('\n');
  }

  /** `ovs-appctl dpif-netdev/pmd-stats-show` for the (one) thread. */
  pmdStats(): string {
    const s = this.stats;
    const f2 = (x: number): string => x.toFixed(2);
    return [
      'pmd thread numa_id 0 core_id 0:',
      `  packets received: ${s.rx}`,
      `  packet recirculations: ${s.recirculations}`,
      `  avg. datapath passes per packet: ${f2(s.rx === 0 ? 0 : s.passes / s.rx)}`,
      `  emc hits: ${s.emcHits}`,
      `  smc hits: 0`,
      `  megaflow hits: ${s.megaflowHits}`,
      `  avg. subtable lookups per megaflow hit: ${f2(s.megaflowHits === 0 ? 0 : s.maskProbes / s.megaflowHits)}`,
      `  miss with success upcall: ${s.missed}`,
      `  miss with failed upcall: ${s.lost}`,
    ].join('\n');
  }

  /** Drop counters by reason (non-zero only). */
  drops(): Record<string, number> {
    const out: Record<string, number> = {};
    DROP_REASONS.forEach((r, i) => { if (this.stats.dropped[i]! > 0) out[r] = this.stats.dropped[i]!; });
    return out;
  }
}

/**
 * The mask a datapath flow really gets for translation's megaflow mask 'wc'
 * and the upcall key 'key': a netlink flow key cannot leave the presence of
 * a VLAN tag open (the outer eth_type is exact), so the CFI bit is always
 * matched, and for a tagged packet whose TCI translation never read, the
 * VID too (dpif-netdev's upcall handler, observed on OVS 3.1).
 */
function datapathMask(wc: Uint32Array, key: Uint32Array): Uint32Array {
  const m = wc.slice();
  if ((key[F_VLAN_TCI]! & 0x1000) !== 0 && m[F_VLAN_TCI] === 0) m[F_VLAN_TCI] = 0x1fff;
  else m[F_VLAN_TCI] = (m[F_VLAN_TCI]! | 0x1000) >>> 0;
  // odp_flow_key_from_flow__ puts the nd() attribute into a mask only when ICMPv6 type AND
  // code are exact: otherwise the datapath flow leaves target, sll and tll open (an OVS quirk:
  // the datapath flow is then wider than translation's megaflow)
  if (key[F_DL_TYPE] === 0x86dd && key[F_NW_PROTO] === 58 && (key[F_TP_SRC] === 135 || key[F_TP_SRC] === 136)
    && !((m[F_TP_SRC]! & 0xff) === 0xff && (m[F_TP_DST]! & 0xff) === 0xff)) {
    for (let i = 0; i < 4; i++) m[F_ND_TARGET + i] = 0;
    m[F_ARP_SHA_HI] = 0; m[F_ARP_SHA_LO] = 0; m[F_ARP_THA_HI] = 0; m[F_ARP_THA_LO] = 0;
  }
  return m;
}

/** What `dpctl/dump-flows` shows as a flow's actions: a slow-pathed flow's are a userspace upcall. */
function actionsText(r: XlateResult): string {
  if ((r.slow & SLOW_ACTION) !== 0) return 'userspace(pid=0,slow_path(action))';
  return r.odpActions.length ? r.odpActions.join(',') : 'drop';
}
