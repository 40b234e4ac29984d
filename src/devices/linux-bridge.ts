/**
 * Linux bridge (devices layer): the kernel's net/bridge as a device on the
 * discrete-event engine — MAC learning, ageing, flooding, static entries,
 * VLAN filtering, and the bridge device itself as an endpoint.
 *
 * What: `LinuxBridge` is a `PortOwner`. `addPort(name)` returns a
 * `BridgePort` (a sim `Port`, to be joined to a host or another device with a
 * `Link`); every frame arriving on a port runs the kernel's receive path
 * (br_input.c br_handle_frame → br_handle_frame_finish) and leaves through
 * br_forward.c's br_forward / br_flood. What each step does, as the kernel
 * does it (Linux 6.x sources, read for this module):
 *  - Source MAC multicast or zero: dropped before anything ('invalid_src').
 *  - Link-local destinations 01:80:c2:00:00:0X: X=0 (STP BPDU) is forwarded
 *    like any multicast, because STP is off; X=1 (pause) is dropped; every
 *    other X is forwarded only when bit X of `groupFwdMask` is set (default
 *    0; bits 0-2 cannot be set), otherwise the source is learned and the
 *    frame goes to the port device's own stack — not bridged, not to br0
 *    ('link_local').
 *  - Port state (`bridge link set dev X state N`): only learning and
 *    forwarding ports take frames; a learning port learns and drops. There
 *    is NO STP: ports are forwarding from the moment they are added, as the
 *    kernel's are with stp_state 0 (the default), and BPDUs are flooded.
 *  - VLAN filtering (`vlanFiltering`, `ip link … type bridge vlan_filtering
 *    1`): a frame with an 802.1Q tag (TPID 0x8100 at offset 12) must carry a
 *    VID the port is a member of; an untagged or priority-tagged (VID 0)
 *    frame takes the port's pvid (none: dropped; a priority tag keeps its
 *    PCP). 802.1ad (0x88a8) frames count as untagged, as with the kernel's
 *    default vlan_protocol 802.1Q. On egress the port must be a member of the
 *    VID; it leaves untagged when the membership says `untagged`, otherwise
 *    tagged with 0x8100 and the ingress TCI (the pvid for untagged ingress).
 *    Membership exists even with filtering off (each new port gets vlan 1
 *    pvid untagged, `defaultPvid`), as in a kernel built with
 *    CONFIG_BRIDGE_VLAN_FILTERING; with filtering off tags are carried
 *    through untouched and every frame is in VID 0.
 *  - Learning (`learning` per port, on by default): the source MAC and VID
 *    are learned on the ingress port before the forwarding decision; a known
 *    station seen on another port moves there (static entries too — the
 *    kernel protects only `sticky` and local ones); `ageingTime` 0 turns
 *    learning off ("some users want to always flood").
 *  - Forwarding: broadcast → flood (`bcast_flood`), other multicast → flood
 *    (`mcast_flood`; no IGMP/MLD snooping: the kernel floods too while no
 *    querier exists, its default), unicast with an FDB entry → that port,
 *    unknown unicast → flood (`flood`). A frame is never sent back out of
 *    its ingress port unless that port is `hairpin`, so a destination known
 *    on the ingress port is dropped ('same_port'); target ports must be
 *    forwarding and carry the VID. Floods visit ports newest first, the
 *    kernel's port_list order.
 *  - Local delivery: the bridge device (br0) owns the bridge MAC and each
 *    port's MAC (local, permanent FDB entries, per VID of its VLANs). A
 *    frame for one of them is handed to `local` and not forwarded; a
 *    broadcast or multicast is flooded AND handed up; unknown unicast is not
 *    handed up unless `promisc` (tcpdump on br0). With filtering, br0 must be
 *    a member of the VID (`vlanAdd('br0', vid, { self })`) and untags per its
 *    own membership. `local` (a PortOwner: a host stack sitting on br0)
 *    receives on `localPort`, and sends through it: br_dev_xmit semantics,
 *    nothing learned, flood flags for broadcast/multicast ignored.
 * `fdbShow()` / `vlanShow()` print `bridge fdb show br BR` (the bridge's own
 * entries; the ports' `self` multicast lists are not modelled) and `bridge
 * vlan show` as iproute2 6.1 does. Every frame received ends in exactly one
 * of: forwarded (sent on at least one port) or counted in `drops` of its
 * ingress port under one reason ('local' = consumed by br0), so
 * `rxPackets = forwarded + Σ drops`.
 * Differences from the kernel, on purpose: no STP/MST, no IGMP/MLD
 * snooping, no neighbour suppression, port isolation, locked ports or VLAN
 * tunnels; the bridge MAC is fixed (given, or derived from the name) where
 * the kernel starts random and follows the lowest port MAC; ageing is exact
 * on the virtual clock (an entry dies at updated + ageingTime; the kernel's
 * gc work may take up to 10 ms more) and is applied lazily — an expired entry
 * is ignored and removed when met, and all expired entries are swept before
 * the table grows and before it is shown — so the bridge schedules no
 * events and `sim.run()` does not jump the clock by ageing timers.
 * Invariants: the FDB holds one entry per (MAC, VID); a local entry never
 * moves or ages; a frame is counted once (forwarded or one drop reason);
 * the bridge never keeps a frame it was given beyond `receive`.
 * Cost per frame (fast path): two FDB probes (learn the source, look up the
 * destination) in an open-addressed Int32Array table keyed on (VID<<16 |
 * MAC high 16 bits, MAC low 32 bits), entries struct-of-arrays; a flood is
 * one pass over the ports. No allocation per forwarded frame besides the
 * link's copy: VLAN egress variants are built in two reusable scratch
 * buffers (views cached per length); a frame handed to `local` is a copy
 * when its bytes changed. Configuration and show are slow path (Maps,
 * strings).
 * Checked: test/devices/linux-bridge-kernel.test.ts injects the same frames
 * into a kernel bridge in network namespaces and compares what every port
 * sends and `bridge fdb show` (Linux 6.18 here, which lacks
 * CONFIG_BRIDGE_VLAN_FILTERING: its VLAN scenario waits for a kernel that
 * has it); the VLAN semantics and `bridge vlan show` follow br_vlan.c and
 * iproute2 6.1's bridge/vlan.c as read.
 * Neighbours: sim/link.ts (Port, Link), sim/engine.ts (the clock),
 * wire/bytes.ts; topology/ builds bridges; a host stack sits on `local`.
 */
import { SdnemuError } from '../errors.js';
import type { Sim } from '../sim/engine.js';
import { Port, type PortOwner, type Tap } from '../sim/link.js';
import { parseDuration } from '../sim/units.js';
import type { TraceDropReason } from '../sim/tracer.js';
import { macToString, parseMac } from '../wire/bytes.js';

// ---------------------------------------------------------------------------
// Errors

/** A refused bridge command; 'code' names the kernel's refusal (BRIDGE_FDB_EXISTS is EEXIST…). */
export class BridgeError extends SdnemuError {
  readonly bridge: string;
  constructor(code: string, bridge: string, message: string) {
    super(code, `${bridge}: ${message}`);
    this.name = 'BridgeError';
    this.bridge = bridge;
  }
  override location(): Record<string, string | number> {
    return { bridge: this.bridge };
  }
}

// ---------------------------------------------------------------------------
// Constants

/** Why a received frame was not forwarded (index into BridgePortCounters.drops). */
export const BR_DROP_REASONS = [
  'too_short',      // shorter than an Ethernet header
  'invalid_src',    // source MAC multicast or zero (is_valid_ether_addr)
  'pause',          // 01:80:c2:00:00:01
  'link_local',     // 01:80:c2:00:00:0X not in group_fwd_mask: to the port device's own stack
  'port_state',     // port disabled, listening or blocking
  'vlan_ingress',   // VID not allowed on the ingress port, or untagged without pvid
  'learning_state', // port in learning state: learned, not forwarded
  'local',          // for br0 (its MAC or a port's): consumed by the bridge device
  'same_port',      // destination known on the ingress port (no hairpin)
  'egress_filtered', // destination port not forwarding or not a member of the VID
  'no_target',      // flood found no port
  'port_removed',   // arrived on a port no longer in the bridge
] as const;
export type BridgeDropReason = (typeof BR_DROP_REASONS)[number];
/** Each reason as the packet ledger's and the trace's (sim/tracer.ts DROP_REASONS); 'local' is no drop on receive (the frame goes up to br0). */
const LEDGER_REASON: TraceDropReason[] = ['bad-header', 'bad-header', 'not-for-us', 'not-for-us', 'stp-state', 'vlan', 'stp-state',
  'not-for-us', 'no-fdb', 'vlan', 'no-fdb', 'unconnected'];
const D_TOO_SHORT = 0, D_INVALID_SRC = 1, D_PAUSE = 2, D_LINK_LOCAL = 3, D_PORT_STATE = 4, D_VLAN_INGRESS = 5,
  D_LEARNING_STATE = 6, D_LOCAL = 7, D_SAME_PORT = 8, D_EGRESS_FILTERED = 9, D_NO_TARGET = 10, D_PORT_REMOVED = 11;

/** Port states, numbered as the kernel's BR_STATE_* (`bridge link set dev X state N`). */
export const BR_PORT_STATES = ['disabled', 'listening', 'learning', 'forwarding', 'blocking'] as const;
export type BridgePortState = (typeof BR_PORT_STATES)[number];
const S_LEARNING = 2, S_FORWARDING = 3;

/** FDB entry flags (BR_FDB_*). */
const F_LIVE = 0x80, F_LOCAL = 0x01, F_STATIC = 0x02, F_USER = 0x04, F_STICKY = 0x08;
/** VLAN membership bits per VID. */
const V_MEMBER = 1, V_UNTAGGED = 2;
/** FDB port index of the bridge device itself (the kernel's fdb->dst == NULL). */
const PORT_BRIDGE = -1;
/** Kinds of flood (br_pkt_type). */
const PKT_UNICAST = 0, PKT_MULTICAST = 1, PKT_BROADCAST = 2;
const ETH_HLEN = 14;
const DEFAULT_AGEING_NS = 300e9;
/** Bits of group_fwd_mask the kernel refuses (BR_GROUPFWD_RESTRICTED). */
const GROUPFWD_RESTRICTED = 0x0007;

// ---------------------------------------------------------------------------
// The FDB hash table

/**
 * The forwarding database's table: (key hi, key lo) → entry, open addressing
 * with linear probing and backward-shift deletion over an Int32Array of entry
 * ids + 1, entries struct-of-arrays. Keys are the bridge's (VID << 16 | MAC
 * bytes 0-1, MAC bytes 2-5 as int32). Lookups allocate nothing.
 */
export class BridgeFdb {
  /** live entries */
  size = 0;
  keyHi: Int32Array;
  keyLo: Int32Array;
  /** port index, PORT_BRIDGE (-1) for the bridge device */
  port: Int32Array;
  flags: Uint8Array;
  /** virtual time of the last learn or add, ns */
  updated: Float64Array;
  /** creation order (show prints newest first) */
  seq: Float64Array;
  private hash: Int32Array;
  private slots: Int32Array;
  private mask: number;
  private cap: number;
  /** ids below this have been handed out */
  private hwm = 0;
  private free: number[] = [];
  private nextSeq = 0;

  constructor(capacity = 64) {
    let cap = 16;
    while (cap < capacity) cap *= 2;
    this.cap = cap;
    this.keyHi = new Int32Array(cap);
    this.keyLo = new Int32Array(cap);
    this.port = new Int32Array(cap);
    this.flags = new Uint8Array(cap);
    this.updated = new Float64Array(cap);
    this.seq = new Float64Array(cap);
    this.hash = new Int32Array(cap);
    this.slots = new Int32Array(cap * 2);
    this.mask = cap * 2 - 1;
  }

  /** Entry ids ever used (live ones have F_LIVE in flags). */
  get highWater(): number { return this.hwm; }

  /** True when the next insert must grow the arrays. */
  get full(): boolean { return this.free.length === 0 && this.hwm === this.cap; }

  /** The entry id for ('hi', 'lo'), or -1. */
  find(hi: number, lo: number): number {
    const slots = this.slots, mask = this.mask;
    let i = hashKey(hi, lo) & mask;
    for (;;) {
      const e = slots[i]!;
      if (e === 0) return -1;
      const id = e - 1;
      if (this.keyLo[id] === lo && this.keyHi[id] === hi) return id;
      i = (i + 1) & mask;
    }
  }

  /** Add an entry for a key not in the table; returns its id. */
  insert(hi: number, lo: number, port: number, flags: number, now: number): number {
    if (this.full) this.grow();
    const id = this.free.length > 0 ? this.free.pop()! : this.hwm++;
    const h = hashKey(hi, lo);
    this.keyHi[id] = hi;
    this.keyLo[id] = lo;
    this.port[id] = port;
    this.flags[id] = flags | F_LIVE;
    this.updated[id] = now;
    this.seq[id] = this.nextSeq++;
    this.hash[id] = h;
    this.place(id, h);
    this.size++;
    return id;
  }

  /** Remove entry 'id'. */
  remove(id: number): void {
    const slots = this.slots, mask = this.mask;
    let i = this.hash[id]! & mask;
    while (slots[i] !== id + 1) i = (i + 1) & mask;
    // backward-shift deletion: pull later members of the probe run into the hole
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const e = slots[j]!;
      if (e === 0) break;
      const k = this.hash[e - 1]! & mask;
      const stays = i <= j ? i < k && k <= j : i < k || k <= j;
      if (stays) continue;
      slots[i] = e;
      i = j;
    }
    slots[i] = 0;
    this.flags[id] = 0;
    this.free.push(id);
    this.size--;
  }

  private place(id: number, h: number): void {
    const slots = this.slots, mask = this.mask;
    let i = h & mask;
    while (slots[i] !== 0) i = (i + 1) & mask;
    slots[i] = id + 1;
  }

  private grow(): void {
    const cap = this.cap * 2;
    const widenI = (a: Int32Array): Int32Array => { const b = new Int32Array(cap); b.set(a); return b; };
    const widenF = (a: Float64Array): Float64Array => { const b = new Float64Array(cap); b.set(a); return b; };
    this.keyHi = widenI(this.keyHi);
    this.keyLo = widenI(this.keyLo);
    this.port = widenI(this.port);
    this.hash = widenI(this.hash);
    const fl = new Uint8Array(cap); fl.set(this.flags); this.flags = fl;
    this.updated = widenF(this.updated);
    this.seq = widenF(this.seq);
    this.cap = cap;
    this.slots = new Int32Array(cap * 2);
    this.mask = cap * 2 - 1;
    for (let id = 0; id < this.hwm; id++) if ((this.flags[id]! & F_LIVE) !== 0) this.place(id, this.hash[id]!);
  }
}

/** 32-bit mix of a two-word key (murmur3's block step on each word, then its finalizer). */
function hashKey(hi: number, lo: number): number {
  let h = Math.imul(lo, 0xcc9e2d51);
  h = (h << 15) | (h >>> 17);
  h = Math.imul(h, 0x1b873593) ^ hi;
  h = (h << 13) | (h >>> 19);
  h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

// ---------------------------------------------------------------------------
// Ports

/** VLAN membership of a port or of the bridge device: per-VID bits and the pvid. */
class VlanGroup {
  readonly flags = new Uint8Array(4096);
  pvid = 0;
  count = 0;
}

/** A bridge port's counters, from the bridge's point of view. */
export class BridgePortCounters {
  rxPackets = 0;
  rxBytes = 0;
  txPackets = 0;
  txBytes = 0;
  /** received frames sent on at least one port */
  forwarded = 0;
  /** received frames not forwarded, by reason (BR_DROP_REASONS order) */
  readonly drops = new Uint32Array(BR_DROP_REASONS.length);

  /** The non-zero drop counters by name. */
  dropsByReason(): Partial<Record<BridgeDropReason, number>> {
    const out: Partial<Record<BridgeDropReason, number>> = {};
    BR_DROP_REASONS.forEach((r, i) => { if (this.drops[i]! > 0) out[r] = this.drops[i]!; });
    return out;
  }
}

/** Per-port switches, as `bridge link set dev X …` names them. */
export interface BridgePortFlags {
  learning?: boolean;
  flood?: boolean;
  mcastFlood?: boolean;
  bcastFlood?: boolean;
  hairpin?: boolean;
  state?: BridgePortState;
}

export interface BridgePortOptions extends BridgePortFlags {
  /** The port device's own MAC (the veth end's address): gets a local FDB entry like br0's. */
  mac?: string;
}

/** A port of a LinuxBridge: a sim Port plus its bridge state. */
export class BridgePort extends Port {
  readonly bridge: LinuxBridge;
  /** slot in the bridge's port table (the FDB refers to ports by it) */
  index: number;
  /** false once removed from the bridge */
  attached = true;
  learning = true;
  flood = true;
  mcastFlood = true;
  bcastFlood = true;
  hairpin = false;
  /** BR_STATE_* number */
  stateCode = S_FORWARDING;
  /** MAC as (hi16, lo32), or hi -1 when the port has none */
  macHi = -1;
  macLo = 0;
  readonly vlans = new VlanGroup();
  readonly counters = new BridgePortCounters();

  constructor(bridge: LinuxBridge, name: string, index: number) {
    super(bridge, name);
    this.bridge = bridge;
    this.index = index;
  }

  get state(): BridgePortState { return BR_PORT_STATES[this.stateCode]!; }
}

/**
 * The bridge device (br0) as a port for a host stack: frames the bridge hands up arrive through
 * `deliver` (taps see them as 'in'); what the stack sends goes through br_dev_xmit (taps see it
 * as 'out'), never onto a link of its own.
 */
export class BridgeLocalPort extends Port {
  readonly bridge: LinuxBridge;
  /** the taps again, for 'out' (Port keeps its list private and calls it from send and deliver) */
  private outTaps: Tap[] = [];

  constructor(owner: PortOwner, bridge: LinuxBridge) {
    super(owner, bridge.name);
    this.bridge = bridge;
  }

  protected override sim(): Sim { return this.bridge.sim; }

  /** Transmit 'frame' from br0 into the bridge: true when it left on some port. */
  override send(frame: Uint8Array): boolean {
    this.stats.txPackets++;
    this.stats.txBytes += frame.length;
    for (const t of this.outTaps) t(frame, 'out', this.bridge.sim.now);
    return this.bridge.xmit(frame);
  }

  override tap(fn: Tap): () => void {
    const offIn = super.tap(fn);
    this.outTaps = [...this.outTaps, fn];
    return () => { offIn(); this.outTaps = this.outTaps.filter((t) => t !== fn); };
  }
}

// ---------------------------------------------------------------------------
// The bridge

export interface LinuxBridgeOptions {
  /** The bridge device's MAC; default a locally administered address derived from the name. */
  mac?: string;
  /** `vlan_filtering` (default false). */
  vlanFiltering?: boolean;
  /** `ageing_time`: ns, or text such as '300s' (default 300 s; 0 turns learning off). */
  ageingTime?: number | string;
  /** `group_fwd_mask` (default 0; bits 0-2 refused). */
  groupFwdMask?: number;
  /** `vlan_default_pvid` for br0 and new ports (default 1; 0 = none). */
  defaultPvid?: number;
  /** Hand every frame up to br0, unknown unicast included (IFF_PROMISC). */
  promisc?: boolean;
}

/** One FDB entry, for inspection. */
export interface BridgeFdbEntry {
  mac: string;
  vlan: number;
  /** port name, or the bridge's name for entries of br0 */
  dev: string;
  state: 'permanent' | 'static' | 'dynamic';
  sticky: boolean;
  /** virtual time of the last learn/add, ns */
  updatedNs: number;
}

export interface FdbAddOptions {
  /** port name, or the bridge's own name */
  dev: string;
  vlan?: number;
  /** iproute2's keywords: permanent (= local, the default), static, dynamic */
  state?: 'permanent' | 'local' | 'static' | 'dynamic';
  sticky?: boolean;
  /** `bridge fdb add` (fails if present), `replace` or `append` (update) */
  mode?: 'add' | 'replace' | 'append';
}

export interface VlanAddOptions {
  /** last VID of a range `vid N-M` */
  vidEnd?: number;
  pvid?: boolean;
  untagged?: boolean;
}

export class LinuxBridge implements PortOwner {
  readonly name: string;
  readonly sim: Sim;
  vlanFiltering: boolean;
  promisc: boolean;
  /** called for every received or locally sent frame that is not forwarded */
  onDrop: ((port: Port, frame: Uint8Array, reason: BridgeDropReason) => void) | null = null;
  /** counters of br0 itself (frames sent by `local`) */
  readonly devCounters = new BridgePortCounters();
  readonly fdb = new BridgeFdb();
  /** stations that moved to another port */
  moves = 0;
  private ageingNs: number;
  private groupFwd: number;
  private readonly defaultPvid: number;
  private readonly macHi: number;
  private readonly macLo: number;
  /** ports in the order they were added */
  private ports: BridgePort[] = [];
  /** ports by index (FDB port numbers); null for a free slot */
  private byIndex: (BridgePort | null)[] = [];
  /** the ports by name, and the free indexes of byIndex in ascending order (a port takes the lowest): no walk per port added */
  private readonly byName = new Map<string, BridgePort>();
  private readonly freeIndexes: number[] = [];
  private readonly selfVlans = new VlanGroup();
  private localOwner: PortOwner | null = null;
  private localPortObj: BridgeLocalPort | null = null;
  // per-frame state (the receive path is not re-entered before local delivery, its last step)
  private curFrame: Uint8Array = new Uint8Array(0);
  private curTagged = false;
  private curTci = 0;
  private curVid = 0;
  private curUntagged: Uint8Array | null = null;
  private curTaggedOut: Uint8Array | null = null;
  private scratchU = new Uint8Array(2048);
  private scratchT = new Uint8Array(2048);
  private viewsU: (Uint8Array | undefined)[] = [];
  private viewsT: (Uint8Array | undefined)[] = [];

  constructor(sim: Sim, name: string, opts: LinuxBridgeOptions = {}) {
    this.sim = sim;
    this.name = name;
    const mac = opts.mac ?? defaultMac(name);
    const b = parseMac(mac);
    if (b === null || (b[0]! & 1) !== 0 || b.every((x) => x === 0)) throw new BridgeError('BRIDGE_BAD_MAC', name, `'${mac}' is not a unicast MAC address`);
    this.macHi = (b[0]! << 8) | b[1]!;
    this.macLo = (b[2]! << 24) | (b[3]! << 16) | (b[4]! << 8) | b[5]!;
    this.vlanFiltering = opts.vlanFiltering ?? false;
    this.promisc = opts.promisc ?? false;
    this.ageingNs = 0;
    this.ageingTime = opts.ageingTime ?? DEFAULT_AGEING_NS;
    this.groupFwd = 0;
    this.groupFwdMask = opts.groupFwdMask ?? 0;
    const pvid = opts.defaultPvid ?? 1;
    if (!Number.isInteger(pvid) || pvid < 0 || pvid > 4094) throw new BridgeError('BRIDGE_BAD_VLAN', name, `default pvid ${pvid} is not 0..4094`);
    this.defaultPvid = pvid;
    // br_dev_newlink: the bridge's own address, VID 0; NETDEV_REGISTER: br0 in the default pvid
    this.fdb.insert(this.macHi, this.macLo, PORT_BRIDGE, F_LOCAL | F_STATIC, 0);
    if (pvid !== 0) this.vlanSet(null, pvid, true, true);
  }

  /** The bridge device's MAC. */
  get mac(): string { return macText(this.macHi, this.macLo); }

  /** `ageing_time` in ns. */
  get ageingTime(): number { return this.ageingNs; }
  set ageingTime(v: number | string) {
    const ns = typeof v === 'string' ? parseDuration(v, 'ageing_time') : v;
    if (!(ns >= 0)) throw new BridgeError('BRIDGE_BAD_AGEING', this.name, `ageing time ${String(v)} is not >= 0`);
    this.ageingNs = ns;
  }

  /** `group_fwd_mask`. */
  get groupFwdMask(): number { return this.groupFwd; }
  set groupFwdMask(m: number) {
    if (!Number.isInteger(m) || m < 0 || m > 0xffff || (m & GROUPFWD_RESTRICTED) !== 0) {
      throw new BridgeError('BRIDGE_BAD_GROUP_FWD_MASK', this.name, `group_fwd_mask ${m} is not a 16-bit mask without bits 0-2`);
    }
    this.groupFwd = m;
  }

  /** The host stack on br0, or null. */
  get local(): PortOwner | null { return this.localOwner; }
  set local(owner: PortOwner | null) {
    this.localOwner = owner;
    this.localPortObj = owner === null ? null : new BridgeLocalPort(owner, this);
  }

  /** The port `local` receives on and sends from (null without `local`). */
  get localPort(): BridgeLocalPort | null { return this.localPortObj; }

  /** Ports in the order they were added. */
  get portList(): readonly BridgePort[] { return this.ports; }

  /** The port named 'name'; throws BRIDGE_NO_PORT. */
  port(name: string): BridgePort {
    const p = this.byName.get(name);
    if (p === undefined) throw new BridgeError('BRIDGE_NO_PORT', this.name, `no port '${name}'`);
    return p;
  }

  // -------------------------------------------------------------------------
  // Configuration (slow path)

  /**
   * Add port 'name' (`ip link set NAME master BR`): forwarding at once (no STP), learning and
   * flooding on, member of the default pvid untagged; 'opts.mac' gives it a local FDB entry.
   */
  addPort(name: string, opts: BridgePortOptions = {}): BridgePort {
    if (name === this.name || this.byName.has(name)) throw new BridgeError('BRIDGE_PORT_EXISTS', this.name, `port '${name}' exists`);
    let index = this.freeIndexes.shift();
    if (index === undefined) { index = this.byIndex.length; this.byIndex.push(null); }
    const p = new BridgePort(this, name, index);
    if (opts.mac !== undefined) {
      const b = parseMac(opts.mac);
      if (b === null || (b[0]! & 1) !== 0 || b.every((x) => x === 0)) throw new BridgeError('BRIDGE_BAD_MAC', this.name, `'${opts.mac}' is not a unicast MAC address`);
      p.macHi = (b[0]! << 8) | b[1]!;
      p.macLo = (b[2]! << 24) | (b[3]! << 16) | (b[4]! << 8) | b[5]!;
    }
    this.byIndex[index] = p;
    this.ports.push(p);
    this.byName.set(name, p);
    if (p.macHi >= 0) this.addLocal(p, p.macHi, p.macLo, 0);
    if (this.defaultPvid !== 0) this.vlanSet(p, this.defaultPvid, true, true);
    this.setPort(name, opts);
    return p;
  }

  /** Remove port 'name' (`ip link set NAME nomaster`): its FDB entries go, static ones too. */
  removePort(name: string): void {
    const p = this.port(name);
    this.deleteByPort(p.index, -1, true);
    p.attached = false;
    p.stateCode = 0;
    this.byIndex[p.index] = null;
    this.ports = this.ports.filter((q) => q !== p);
    this.byName.delete(name);
    let at = 0;
    while (at < this.freeIndexes.length && this.freeIndexes[at]! < p.index) at++;
    this.freeIndexes.splice(at, 0, p.index);
  }

  /** `bridge link set dev NAME learning on|off flood … hairpin … state …`. */
  setPort(name: string, flags: BridgePortFlags): void {
    const p = this.port(name);
    if (flags.learning !== undefined) p.learning = flags.learning;
    if (flags.flood !== undefined) p.flood = flags.flood;
    if (flags.mcastFlood !== undefined) p.mcastFlood = flags.mcastFlood;
    if (flags.bcastFlood !== undefined) p.bcastFlood = flags.bcastFlood;
    if (flags.hairpin !== undefined) p.hairpin = flags.hairpin;
    if (flags.state !== undefined) {
      const s = BR_PORT_STATES.indexOf(flags.state);
      if (s < 0) throw new BridgeError('BRIDGE_BAD_STATE', this.name, `'${String(flags.state)}' is not a port state`);
      p.stateCode = s;
    }
  }

  /**
   * `bridge vlan add dev DEV vid VID[-END] [pvid] [untagged] [self]`: DEV is a port, or the
   * bridge's own name for br0's membership (`self`). An existing VID takes the new pvid and
   * untagged flags (so re-adding the pvid VID without `pvid` clears the pvid, as the kernel does).
   */
  vlanAdd(dev: string, vid: number, opts: VlanAddOptions = {}): void {
    const p = dev === this.name ? null : this.port(dev);
    const end = opts.vidEnd ?? vid;
    this.checkVid(vid);
    this.checkVid(end);
    if (end < vid || (opts.pvid === true && end !== vid)) throw new BridgeError('BRIDGE_BAD_VLAN', this.name, `bad VLAN range ${vid}-${end}`);
    for (let v = vid; v <= end; v++) this.vlanSet(p, v, opts.pvid === true, opts.untagged === true);
  }

  /** `bridge vlan del dev DEV vid VID[-END]`: the port's dynamic entries in that VID go too. */
  vlanDel(dev: string, vid: number, vidEnd = vid): void {
    const p = dev === this.name ? null : this.port(dev);
    this.checkVid(vid);
    this.checkVid(vidEnd);
    const g = p === null ? this.selfVlans : p.vlans;
    for (let v = vid; v <= vidEnd; v++) {
      if ((g.flags[v]! & V_MEMBER) === 0) {
        if (vid === vidEnd) throw new BridgeError('BRIDGE_NO_VLAN', this.name, `${dev} is not in VLAN ${v}`);
        continue;
      }
      const idx = p === null ? PORT_BRIDGE : p.index;
      const hi = p === null ? this.macHi : p.macHi, lo = p === null ? this.macLo : p.macLo;
      if (hi >= 0) this.deleteLocal(idx, hi, lo, v);
      this.deleteByPort(idx, v, false);
      g.flags[v] = 0;
      g.count--;
      if (g.pvid === v) g.pvid = 0;
    }
  }

  /** VLANs of a port or of br0 ('dev' = the bridge's name): [vid, pvid, untagged] in VID order. */
  vlans(dev: string): { vid: number; pvid: boolean; untagged: boolean }[] {
    const g = dev === this.name ? this.selfVlans : this.port(dev).vlans;
    const out: { vid: number; pvid: boolean; untagged: boolean }[] = [];
    for (let v = 1; v < 4095; v++) {
      const f = g.flags[v]!;
      if ((f & V_MEMBER) !== 0) out.push({ vid: v, pvid: g.pvid === v, untagged: (f & V_UNTAGGED) !== 0 });
    }
    return out;
  }

  /**
   * `bridge fdb add|replace|append MAC dev DEV [vlan VID] [permanent|static|dynamic] [sticky]
   * master`, with the kernel's checks (br_fdb_add, fdb_add_entry): without a VLAN the entry is
   * added for VID 0 and for every VLAN of DEV; entries on br0 must be permanent; a dynamic
   * entry needs a learning or forwarding port; sticky cannot be permanent; 'add' refuses an
   * existing entry (BRIDGE_FDB_EXISTS, EEXIST).
   */
  fdbAdd(mac: string, opts: FdbAddOptions): void {
    const b = parseMac(mac);
    if (b === null || b.every((x) => x === 0)) throw new BridgeError('BRIDGE_BAD_MAC', this.name, `'${mac}' is not a MAC address`);
    const hi = (b[0]! << 8) | b[1]!, lo = (b[2]! << 24) | (b[3]! << 16) | (b[4]! << 8) | b[5]!;
    const p = opts.dev === this.name ? null : this.port(opts.dev);
    const g = p === null ? this.selfVlans : p.vlans;
    const state = opts.state ?? 'permanent';
    const sticky = opts.sticky ?? false;
    const mode = opts.mode ?? 'add';
    const local = state === 'permanent' || state === 'local';
    if (p === null && !local) throw new BridgeError('BRIDGE_BAD_FDB', this.name, 'an entry on the bridge device must be permanent');
    if (sticky && local) throw new BridgeError('BRIDGE_BAD_FDB', this.name, 'a permanent entry cannot be sticky');
    if (p !== null && state === 'dynamic' && p.stateCode !== S_LEARNING && p.stateCode !== S_FORWARDING) {
      throw new BridgeError('BRIDGE_FDB_EPERM', this.name, `port ${p.name} cannot learn in state ${p.state}`);
    }
    const vids: number[] = [];
    if (opts.vlan !== undefined && opts.vlan !== 0) {
      this.checkVid(opts.vlan);
      if ((g.flags[opts.vlan]! & V_MEMBER) === 0) throw new BridgeError('BRIDGE_BAD_FDB', this.name, `VLAN ${opts.vlan} not configured on ${opts.dev}`);
      vids.push(opts.vlan);
    } else {
      vids.push(0);
      for (let v = 1; v < 4095; v++) if ((g.flags[v]! & V_MEMBER) !== 0) vids.push(v);
    }
    const fl = (local ? F_LOCAL | F_STATIC : state === 'static' ? F_STATIC : 0) | F_USER | (sticky ? F_STICKY : 0);
    const now = this.sim.now;
    const idx = p === null ? PORT_BRIDGE : p.index;
    for (const v of vids) {
      const key = (v << 16) | hi;
      let id = this.fdb.find(key, lo);
      if (id >= 0 && this.expired(id, now)) { this.fdb.remove(id); id = -1; }
      if (id < 0) {
        this.makeRoom(now);
        this.fdb.insert(key, lo, idx, fl, now);
        continue;
      }
      if (mode === 'add') throw new BridgeError('BRIDGE_FDB_EXISTS', this.name, `${macText(hi, lo)} vlan ${v} exists`);
      const old = this.fdb.flags[id]!;
      const changed = this.fdb.port[id] !== idx || (old & (F_LOCAL | F_STATIC | F_STICKY)) !== (fl & (F_LOCAL | F_STATIC | F_STICKY));
      this.fdb.port[id] = idx;
      this.fdb.flags[id] = fl | F_LIVE;
      if (changed) this.fdb.updated[id] = now;
    }
  }

  /** `bridge fdb del MAC dev DEV [vlan VID] master`; without a VLAN, VID 0 and every VLAN of DEV. */
  fdbDel(mac: string, opts: { dev: string; vlan?: number }): void {
    const b = parseMac(mac);
    if (b === null) throw new BridgeError('BRIDGE_BAD_MAC', this.name, `'${mac}' is not a MAC address`);
    const hi = (b[0]! << 8) | b[1]!, lo = (b[2]! << 24) | (b[3]! << 16) | (b[4]! << 8) | b[5]!;
    const p = opts.dev === this.name ? null : this.port(opts.dev);
    const g = p === null ? this.selfVlans : p.vlans;
    const idx = p === null ? PORT_BRIDGE : p.index;
    const vids: number[] = [];
    if (opts.vlan !== undefined && opts.vlan !== 0) vids.push(opts.vlan);
    else { vids.push(0); for (let v = 1; v < 4095; v++) if ((g.flags[v]! & V_MEMBER) !== 0) vids.push(v); }
    let deleted = 0;
    for (const v of vids) {
      const id = this.fdb.find((v << 16) | hi, lo);
      if (id >= 0 && this.fdb.port[id] === idx) { this.fdb.remove(id); deleted++; }
    }
    if (deleted === 0) throw new BridgeError('BRIDGE_FDB_NOENT', this.name, `no entry ${macText(hi, lo)} on ${opts.dev}`);
  }

  /** `bridge fdb flush dev BR`: every dynamic (learned or user-added dynamic) entry goes. */
  fdbFlush(): void {
    const f = this.fdb;
    for (let id = 0; id < f.highWater; id++) {
      const fl = f.flags[id]!;
      if ((fl & F_LIVE) !== 0 && (fl & F_STATIC) === 0) f.remove(id);
    }
  }

  /** The FDB's live entries (expired ones swept first), in `fdbShow` order. */
  fdbEntries(): BridgeFdbEntry[] {
    this.sweep(this.sim.now);
    const f = this.fdb;
    const rank = new Map<number, number>([[PORT_BRIDGE, -1]]);
    this.ports.forEach((p, i) => rank.set(p.index, i));
    const ids: number[] = [];
    for (let id = 0; id < f.highWater; id++) if ((f.flags[id]! & F_LIVE) !== 0) ids.push(id);
    ids.sort((a, b) => rank.get(f.port[a]!)! - rank.get(f.port[b]!)! || f.seq[b]! - f.seq[a]!);
    return ids.map((id) => {
      const fl = f.flags[id]!, port = f.port[id]!;
      return {
        mac: macText(f.keyHi[id]! & 0xffff, f.keyLo[id]!),
        vlan: f.keyHi[id]! >>> 16,
        dev: port === PORT_BRIDGE ? this.name : this.byIndex[port]!.name,
        state: (fl & F_LOCAL) !== 0 ? 'permanent' : (fl & F_STATIC) !== 0 ? 'static' : 'dynamic',
        sticky: (fl & F_STICKY) !== 0,
        updatedNs: f.updated[id]!,
      };
    });
  }

  /**
   * `bridge fdb show br BR` as iproute2 6.1 prints the bridge's entries: devices in creation
   * order (br0 first), each device's entries newest first, e.g.
   * `02:aa:00:00:00:01 dev v1 master br0 ` (dynamic: empty state, trailing space),
   * `… dev v1 vlan 10 master br0 static`, `… dev br0 master br0 permanent`. One line each,
   * '\n'-terminated.
   */
  fdbShow(): string {
    let s = '';
    for (const e of this.fdbEntries()) {
      s += `${e.mac} dev ${e.dev} ${e.vlan !== 0 ? `vlan ${e.vlan} ` : ''}${e.sticky ? 'sticky ' : ''}master ${this.name} ${e.state === 'dynamic' ? '' : e.state}\n`;
    }
    return s;
  }

  /**
   * `bridge vlan show` as iproute2 6.1 prints it: the header `port              vlan-id  `,
   * then br0 and the ports in creation order, one VID a line (`%-16s  ` name or blanks, the
   * VID, ` PVID`, ` Egress Untagged`); devices without VLANs are left out.
   */
  vlanShow(): string {
    let s = `${'port'.padEnd(16)}  ${'vlan-id'.padEnd(9)}\n`;
    const dev = (name: string, list: { vid: number; pvid: boolean; untagged: boolean }[]): void => {
      list.forEach((v, i) => {
        s += `${(i === 0 ? name : '').padEnd(16)}  ${v.vid}${v.pvid ? ' PVID' : ''}${v.untagged ? ' Egress Untagged' : ''}\n`;
      });
    };
    dev(this.name, this.vlans(this.name));
    for (const p of this.ports) dev(p.name, this.vlans(p.name));
    return s;
  }

  /** Counters of port 'name' (or of br0's own transmissions for the bridge's name). */
  counters(name: string): BridgePortCounters {
    return name === this.name ? this.devCounters : this.port(name).counters;
  }

  // -------------------------------------------------------------------------
  // The receive path (fast path)

  /** A frame arrived on one of this bridge's ports (br_handle_frame). */
  receive(port: Port, frame: Uint8Array): void {
    const p = port as BridgePort;
    const c = p.counters;
    c.rxPackets++;
    c.rxBytes += frame.length;
    if (!p.attached || p.bridge !== this) { this.dropRx(p, frame, D_PORT_REMOVED); return; }
    if (frame.length < ETH_HLEN) { this.dropRx(p, frame, D_TOO_SHORT); return; }
    const sHi = (frame[6]! << 8) | frame[7]!;
    const sLo = (frame[8]! << 24) | (frame[9]! << 16) | (frame[10]! << 8) | frame[11]!;
    if ((frame[6]! & 1) !== 0 || (sHi === 0 && sLo === 0)) { this.dropRx(p, frame, D_INVALID_SRC); return; }
    const dHi = (frame[0]! << 8) | frame[1]!;
    const dLo = (frame[2]! << 24) | (frame[3]! << 16) | (frame[4]! << 8) | frame[5]!;
    const now = this.sim.now;

    // is_link_local_ether_addr: 01:80:c2:00:00:0X
    if (dHi === 0x0180 && (dLo & ~0xf) === (0xc2000000 | 0)) {
      const x = dLo & 0xf;
      if (x === 1) { this.dropRx(p, frame, D_PAUSE); return; }
      // X=0 (STP BPDU) is forwarded: STP is off; others only when group_fwd_mask says so
      if (x !== 0 && ((this.groupFwd >>> x) & 1) === 0) {
        this.learnLinkLocal(p, frame, sHi, sLo, now);
        this.dropRx(p, frame, D_LINK_LOCAL);
        return;
      }
    }
    const state = p.stateCode;
    if (state !== S_FORWARDING && state !== S_LEARNING) { this.dropRx(p, frame, D_PORT_STATE); return; }

    // br_allowed_ingress
    if (!this.ingressVlan(p.vlans, frame)) { this.dropRx(p, frame, D_VLAN_INGRESS); return; }
    const vid = this.curVid;

    if (p.learning && this.ageingNs > 0) this.learn(p, sHi, sLo, vid, now);
    if (state === S_LEARNING) { this.dropRx(p, frame, D_LEARNING_STATE); return; }

    let localRcv = this.promisc;
    let sent: number;
    const tr = this.sim.tracer;
    if ((frame[0]! & 1) !== 0) {
      // broadcast or multicast: flooded and handed up (no snooping: the kernel's no-querier case)
      localRcv = true;
      const bcast = dHi === 0xffff && dLo === -1;
      if (tr.on) this.traceFdb(p, frame, vid, bcast ? 'flood: broadcast' : 'flood: multicast', null);
      sent = this.flood(p, bcast ? PKT_BROADCAST : PKT_MULTICAST);
    } else {
      let id = this.fdb.find((vid << 16) | dHi, dLo);
      if (id >= 0 && this.expired(id, now)) { this.fdb.remove(id); id = -1; }
      if (tr.on) this.traceFdb(p, frame, vid, id < 0 ? 'flood: unknown unicast' : 'forward', id < 0 ? null : this.fdb.port[id]!);
      if (id >= 0) {
        const to = this.fdb.port[id]!;
        if ((this.fdb.flags[id]! & F_LOCAL) !== 0) {
          // for br0 (its MAC or a port's): up the stack only
          this.dropRx(p, frame, D_LOCAL);
          this.passUp();
          return;
        }
        const q = to === PORT_BRIDGE ? null : this.byIndex[to]!;
        sent = q === null ? 0 : this.deliver(q, p);
        if (sent === 0) {
          this.dropRx(p, frame, q === p && !p.hairpin ? D_SAME_PORT : D_EGRESS_FILTERED);
          if (localRcv) this.passUp();
          return;
        }
      } else {
        sent = this.flood(p, PKT_UNICAST);
      }
    }
    if (sent > 0) c.forwarded++;
    else this.dropRx(p, frame, localRcv ? D_LOCAL : D_NO_TARGET);
    // last: the frame may be handed over to br0's stack as is
    if (localRcv) this.passUp();
  }

  /**
   * br_dev_xmit: a frame sent by the stack on br0. VLAN ingress uses br0's own membership;
   * nothing is learned; broadcast and multicast ignore the ports' flood flags; a unicast
   * destination owned by br0 itself is dropped. Returns true when sent on some port.
   */
  xmit(frame: Uint8Array): boolean {
    const c = this.devCounters;
    c.rxPackets++;
    c.rxBytes += frame.length;
    const lp = this.localPortObj;
    if (frame.length < ETH_HLEN) { this.dropDev(lp, frame, D_TOO_SHORT); return false; }
    if (!this.ingressVlan(this.selfVlans, frame)) { this.dropDev(lp, frame, D_VLAN_INGRESS); return false; }
    const vid = this.curVid;
    const dHi = (frame[0]! << 8) | frame[1]!;
    const dLo = (frame[2]! << 24) | (frame[3]! << 16) | (frame[4]! << 8) | frame[5]!;
    let sent: number;
    if ((frame[0]! & 1) !== 0) {
      sent = this.flood(null, dHi === 0xffff && dLo === -1 ? PKT_BROADCAST : PKT_MULTICAST);
    } else {
      const now = this.sim.now;
      let id = this.fdb.find((vid << 16) | dHi, dLo);
      if (id >= 0 && this.expired(id, now)) { this.fdb.remove(id); id = -1; }
      if (id >= 0) {
        const to = this.fdb.port[id]!;
        sent = to === PORT_BRIDGE ? 0 : this.deliver(this.byIndex[to]!, null);
        if (sent === 0) { this.dropDev(lp, frame, to === PORT_BRIDGE ? D_LOCAL : D_EGRESS_FILTERED); return false; }
      } else {
        sent = this.flood(null, PKT_UNICAST);
      }
    }
    if (sent === 0) { this.dropDev(lp, frame, D_NO_TARGET); return false; }
    c.forwarded++;
    return true;
  }

  /**
   * Classify 'frame' for VLAN group 'g' (br_allowed_ingress): sets the per-frame state (frame,
   * tagged, TCI, VID; the egress variants unbuilt). False when filtering refuses it.
   */
  private ingressVlan(g: VlanGroup, frame: Uint8Array): boolean {
    this.curFrame = frame;
    this.curUntagged = null;
    this.curTaggedOut = null;
    const tagged = frame.length >= ETH_HLEN + 4 && frame[12] === 0x81 && frame[13] === 0x00;
    this.curTagged = tagged;
    if (!this.vlanFiltering) {
      this.curVid = 0;
      this.curTci = 0;
      return true;
    }
    let tci = tagged ? (frame[14]! << 8) | frame[15]! : 0;
    let vid = tci & 0xfff;
    if (vid === 0) {
      // untagged or priority-tagged: the pvid (a priority tag keeps its PCP and DEI)
      if (g.pvid === 0) return false;
      vid = g.pvid;
      tci = (tci & 0xf000) | vid;
    } else if ((g.flags[vid]! & V_MEMBER) === 0) {
      return false;
    }
    this.curVid = vid;
    this.curTci = tci;
    return true;
  }

  /** br_fdb_update: learn or refresh (MAC, VID) on port 'p'; a local entry never moves. */
  private learn(p: BridgePort, hi: number, lo: number, vid: number, now: number): void {
    const f = this.fdb;
    const key = (vid << 16) | hi;
    const id = f.find(key, lo);
    if (id >= 0) {
      const fl = f.flags[id]!;
      if ((fl & F_LOCAL) !== 0) return; // "received packet on X with own address as source address"
      if (!this.expired(id, now)) {
        f.updated[id] = now;
        if (f.port[id] !== p.index && (fl & F_STICKY) === 0) { f.port[id] = p.index; this.moves++; }
        return;
      }
      f.remove(id); // the kernel's gc would have removed it: a fresh entry, newest in show order
    }
    this.makeRoom(now);
    f.insert(key, lo, p.index, 0, now);
  }

  /** __br_handle_local_finish: a link-local frame's source is learned (br_should_learn). */
  private learnLinkLocal(p: BridgePort, frame: Uint8Array, sHi: number, sLo: number, now: number): void {
    if (!p.learning || this.ageingNs <= 0 || (p.stateCode !== S_LEARNING && p.stateCode !== S_FORWARDING)) return;
    let vid = 0;
    if (this.vlanFiltering) {
      const g = p.vlans;
      if (g.count === 0) return;
      const tagged = frame.length >= ETH_HLEN + 4 && frame[12] === 0x81 && frame[13] === 0x00;
      vid = tagged ? ((frame[14]! << 8) | frame[15]!) & 0xfff : 0;
      if (vid === 0) { vid = g.pvid; if (vid === 0) return; } else if ((g.flags[vid]! & V_MEMBER) === 0) return;
    }
    this.learn(p, sHi, sLo, vid, now);
  }

  /** A dynamic entry older than ageing_time (has_expired). */
  private expired(id: number, now: number): boolean {
    return (this.fdb.flags[id]! & F_STATIC) === 0 && this.fdb.updated[id]! + this.ageingNs <= now;
  }

  /**
   * br_flood: send the current frame on every eligible port, newest port first; 'from' is the
   * ingress port (null: sent by br0, whose broadcast/multicast ignore bcast_flood/mcast_flood).
   */
  private flood(from: BridgePort | null, kind: number): number {
    const ports = this.ports;
    let sent = 0;
    for (let i = ports.length - 1; i >= 0; i--) {
      const q = ports[i]!;
      if (kind === PKT_UNICAST ? !q.flood : kind === PKT_MULTICAST ? !q.mcastFlood && from !== null : !q.bcastFlood && from !== null) continue;
      sent += this.deliver(q, from);
    }
    return sent;
  }

  /** should_deliver + __br_forward: send the current frame on 'q' if allowed; 1 if sent. */
  private deliver(q: BridgePort, from: BridgePort | null): number {
    if ((q === from && !q.hairpin) || q.stateCode !== S_FORWARDING) return 0;
    let out = this.curFrame;
    if (this.vlanFiltering) {
      const vf = q.vlans.flags[this.curVid]!;
      if ((vf & V_MEMBER) === 0) return 0;
      out = (vf & V_UNTAGGED) !== 0 ? this.untaggedOut() : this.taggedOut();
    }
    q.counters.txPackets++;
    q.counters.txBytes += out.length;
    q.send(out);
    return 1;
  }

  /**
   * br_pass_frame_up: hand the current frame to br0's stack. With filtering (and not promisc)
   * br0 must be a member of the VID; it untags per its own membership. Called last: the
   * caller is done with the frame, so an unchanged frame is handed over without a copy.
   */
  private passUp(): void {
    const lp = this.localPortObj;
    let out = this.curFrame;
    if (this.vlanFiltering) {
      const vf = this.selfVlans.flags[this.curVid]!;
      if ((vf & V_MEMBER) === 0) {
        if (!this.promisc) { this.sim.ledger.drop('vlan'); return; }
      } else {
        out = (vf & V_UNTAGGED) !== 0 ? this.untaggedOut() : this.taggedOut();
      }
    }
    if (lp === null) { this.sim.ledger.drop('not-for-us'); return; }
    lp.deliver(out === this.curFrame ? out : out.slice(), this.sim.now);
  }

  /** The current frame without its 802.1Q tag (itself when it has none). */
  private untaggedOut(): Uint8Array {
    if (!this.curTagged) return this.curFrame;
    let u = this.curUntagged;
    if (u === null) {
      const f = this.curFrame, n = f.length - 4;
      if (this.scratchU.length < f.length) { this.scratchU = new Uint8Array(f.length * 2); this.viewsU = []; }
      const s = this.scratchU;
      s.set(f, 0);
      s.copyWithin(12, 16, f.length);
      u = this.viewsU[n] ?? (this.viewsU[n] = s.subarray(0, n));
      this.curUntagged = u;
    }
    return u;
  }

  /** The current frame with an 802.1Q tag carrying the current TCI (itself when it has that tag). */
  private taggedOut(): Uint8Array {
    const f = this.curFrame;
    if (this.curTagged && ((f[14]! << 8) | f[15]!) === this.curTci) return f;
    let t = this.curTaggedOut;
    if (t === null) {
      const s0 = this.curTagged ? f.length : f.length + 4;
      if (this.scratchT.length < s0 + 4) { this.scratchT = new Uint8Array(s0 * 2 + 8); this.viewsT = []; }
      const s = this.scratchT;
      if (this.curTagged) {
        s.set(f, 0); // a priority tag: the same frame, the VID filled in
      } else {
        s.set(f, 4);
        s.copyWithin(0, 4, 16);
        s[12] = 0x81;
        s[13] = 0x00;
      }
      s[14] = this.curTci >>> 8;
      s[15] = this.curTci & 0xff;
      t = this.viewsT[s0] ?? (this.viewsT[s0] = s.subarray(0, s0));
      this.curTaggedOut = t;
    }
    return t;
  }

  private dropRx(p: BridgePort, frame: Uint8Array, reason: number): void {
    p.counters.drops[reason]!++;
    if (reason !== D_LOCAL) this.sim.ledger.drop(LEDGER_REASON[reason]!);
    if (this.onDrop !== null) this.onDrop(p, frame, BR_DROP_REASONS[reason]!);
    const tr = this.sim.tracer;
    // what traces call a drop: VLAN filtering, and a frame with nowhere to go (not a frame for br0 itself)
    const why = reason === D_VLAN_INGRESS || reason === D_EGRESS_FILTERED ? 'vlan' : reason === D_NO_TARGET || reason === D_SAME_PORT ? 'no-fdb' : null;
    if (why !== null) tr.drop(this.name, p.name, why, BR_DROP_REASONS[reason]!);
  }

  /**
   * A trace record (sim/tracer.ts) of the forwarding decision for the frame in hand: flooded (and
   * why), or forwarded to the port its destination MAC was learnt on ('to', an FDB port index).
   */
  private traceFdb(p: BridgePort, frame: Uint8Array, vid: number, what: string, to: number | null): void {
    // as `bridge fdb` prints an entry: the VLAN only when filtering gives one
    const dst = `${macToString(frame, 0)}${vid !== 0 ? ` vlan ${vid}` : ''}`;
    const port = to === null ? null : to === PORT_BRIDGE ? this.name : this.byIndex[to]?.name ?? '?';
    this.sim.tracer.emit(this.name, p.name, 'fdb', port === null ? `${what} ${dst}` : `${what}: ${dst} is on ${port}`,
      { fields: { action: port === null ? 'flood' : 'forward', dst: macToString(frame, 0), vlan: vid, ...(port !== null ? { port } : {}) } });
  }

  private dropDev(lp: BridgeLocalPort | null, frame: Uint8Array, reason: number): void {
    this.devCounters.drops[reason]!++;
    this.sim.ledger.drop(LEDGER_REASON[reason]!);
    if (this.onDrop !== null && lp !== null) this.onDrop(lp, frame, BR_DROP_REASONS[reason]!);
  }

  // -------------------------------------------------------------------------
  // FDB maintenance (slow path)

  /** Before the table grows: sweep expired entries (the kernel's gc would have). */
  private makeRoom(now: number): void {
    if (this.fdb.full) this.sweep(now);
  }

  /** Remove every expired dynamic entry. */
  private sweep(now: number): void {
    const f = this.fdb;
    for (let id = 0; id < f.highWater; id++) if ((f.flags[id]! & F_LIVE) !== 0 && this.expired(id, now)) f.remove(id);
  }

  /** fdb_add_local: a local entry for (hi, lo, vid) owned by port index 'idx'; an existing non-local entry is replaced. */
  private addLocal(p: BridgePort | null, hi: number, lo: number, vid: number): void {
    const f = this.fdb, key = (vid << 16) | hi;
    const id = f.find(key, lo);
    if (id >= 0) {
      if ((f.flags[id]! & F_LOCAL) !== 0) return; // several devices may share an address: the first keeps it
      f.remove(id);
    }
    this.makeRoom(this.sim.now);
    f.insert(key, lo, p === null ? PORT_BRIDGE : p.index, F_LOCAL | F_STATIC, this.sim.now);
  }

  /** br_fdb_find_delete_local: drop the local entry (hi, lo, vid) of port index 'idx'. */
  private deleteLocal(idx: number, hi: number, lo: number, vid: number): void {
    const id = this.fdb.find((vid << 16) | hi, lo);
    if (id >= 0 && (this.fdb.flags[id]! & F_LOCAL) !== 0 && (this.fdb.flags[id]! & F_USER) === 0 && this.fdb.port[id] === idx) {
      this.fdb.remove(id);
    }
  }

  /**
   * br_fdb_delete_by_port: entries of port index 'idx' ('vid' -1: any VID); 'all' also removes
   * static and local ones (port removal). A local entry whose address another port (in that
   * VID) also has moves to that port, as fdb_delete_local does.
   */
  private deleteByPort(idx: number, vid: number, all: boolean): void {
    const f = this.fdb;
    for (let id = 0; id < f.highWater; id++) {
      const fl = f.flags[id]!;
      if ((fl & F_LIVE) === 0 || f.port[id] !== idx) continue;
      const v = f.keyHi[id]! >>> 16;
      if (!all && ((fl & F_STATIC) !== 0 || (vid >= 0 && v !== vid))) continue;
      if ((fl & F_LOCAL) !== 0) {
        const hi = f.keyHi[id]! & 0xffff, lo = f.keyLo[id]!;
        const other = this.ports.find((q) => q.index !== idx && q.macHi === hi && q.macLo === lo && (v === 0 || (q.vlans.flags[v]! & V_MEMBER) !== 0));
        if (other !== undefined) { f.port[id] = other.index; f.flags[id] = fl & ~F_USER; continue; }
        if (idx !== PORT_BRIDGE && hi === this.macHi && lo === this.macLo && (v === 0 || (this.selfVlans.flags[v]! & V_MEMBER) !== 0)) {
          f.port[id] = PORT_BRIDGE; f.flags[id] = fl & ~F_USER; continue;
        }
      }
      f.remove(id);
    }
  }

  /** Add VID 'vid' to a port (or br0 for null) with the given flags (nbp_vlan_add / br_vlan_add). */
  private vlanSet(p: BridgePort | null, vid: number, pvid: boolean, untagged: boolean): void {
    const g = p === null ? this.selfVlans : p.vlans;
    if ((g.flags[vid]! & V_MEMBER) === 0) {
      g.count++;
      const hi = p === null ? this.macHi : p.macHi, lo = p === null ? this.macLo : p.macLo;
      if (hi >= 0) this.addLocal(p, hi, lo, vid);
    }
    g.flags[vid] = V_MEMBER | (untagged ? V_UNTAGGED : 0);
    if (pvid) g.pvid = vid;
    else if (g.pvid === vid) g.pvid = 0;
  }

  private checkVid(vid: number): void {
    if (!Number.isInteger(vid) || vid < 1 || vid > 4094) throw new BridgeError('BRIDGE_BAD_VLAN', this.name, `VLAN id ${vid} is not 1..4094`);
  }
}

/** `aa:bb:…` of a MAC held as (hi16, lo32). */
function macText(hi: number, lo: number): string {
  const b = new Uint8Array([hi >>> 8, hi & 0xff, lo >>> 24, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff]);
  return macToString(b, 0);
}

/** A locally administered MAC derived from the bridge's name: 02:b7 + 4 bytes of an FNV-1a hash. */
function defaultMac(name: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return macText(0x02b7, h | 0);
}
