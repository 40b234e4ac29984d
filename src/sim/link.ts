/**
 * Ports and links (sim layer): how frames move between devices on the
 * virtual clock.
 *
 * What: a `Port` is a device's attachment point (a host's eth0, a bridge's
 * port 3); its owner's `receive(port, frame)` is called when a frame
 * arrives. A `Link` joins two ports, full duplex, and per direction models:
 *  - MTU: a frame whose L3 payload (after the Ethernet header and one
 *    802.1Q tag) exceeds the link's MTU is dropped and counted ('mtu') — the
 *    sending stack fragments or refuses before that, as a NIC would;
 *  - loss: each frame is lost with the given probability, drawn from the
 *    engine's seeded RNG (only when the rate is above 0, so a loss-free run
 *    draws nothing);
 *  - bandwidth: serialization takes (frame + 24 bytes of FCS, preamble and
 *    inter-frame gap, at least 84) × 8 / bps, frames serialize one after
 *    another (so a 10 Gbps link carries 14.88 M minimum-size frames/s);
 *    0 means infinitely fast;
 *  - a drop-tail queue: a frame that does not fit in `queueBytes` beside
 *    the bytes of wire time still ahead of it (the rest of the frame on the
 *    wire included) is dropped ('queue');
 *  - propagation delay, added after serialization;
 *  - reordering (`reorder: { rate, delay }`, or netem-like text '25% 5ms'):
 *    each frame is held back an extra `delay` with probability `rate`
 *    (drawn from the engine's RNG after the loss draw, only when the rate
 *    is above 0), so frames sent after it overtake it (netem's `delay D
 *    reorder P%` does the mirror image: P % go at once, ahead of the rest
 *    delayed by D; either way the receiver sees frames out of order); the
 *    serializer is not held (the frames behind keep their times);
 *    `heldBack(side)` counts them;
 *  - cut and restore (now or at a time): while cut, frames sent are dropped
 *    and frames in flight are lost ('down');
 *  - detach: the link is cut for good and its ports freed, to be linked
 *    again elsewhere (a VM's NIC moving to another hypervisor's tap).
 * Delivery order within a lane is FIFO (serialization end + a constant delay
 * never reorders): each direction has two lanes, the ordinary one and the
 * held-back one (its frames all get the same extra delay, so it is FIFO
 * too); frames in flight wait in their lane's queue and the arrival event
 * carries nothing: no closure per frame. The frame is copied
 * when sent — the sender may reuse its buffer, the receiver may rewrite it —
 * into a shared 1 MiB slab (a view per frame; a slab is freed when no frame
 * in it is referenced any more), so a copy is a view and a memcpy.
 * Every port has taps (`tap(fn)`), called with each frame it sends or
 * receives and the time: capture (pcap) hangs there. Packet tracing
 * (tracer.ts): each frame in flight carries the trace id it was sent
 * under, made current around the receiver's `receive`; ports record tx and
 * rx, links their drops, when someone traces. The packet ledger (ledger.ts):
 * a frame sent boards the link (or is dropped with its reason), and its
 * arrival puts it in the receiver's hand for `receive` to spend; `deliver`
 * hands a frame over directly the same way.
 * Invariants: a frame is counted exactly once per direction: delivered, or
 * dropped with one reason (mtu, loss, queue, down), or still in flight
 * (`inFlight(side)`, both lanes, frames already lost to a cut included until
 * their arrival time counts them 'down'): for two ports that kept one link
 * all along, a's txPackets = b's rxPackets + a's drops + inFlight(0).
 * Cost: one heap event and one copy (a view into a slab) per frame per link;
 * loss and reordering one RNG draw each per frame when on, none when off.
 * Neighbours: engine.ts (the clock), tracer.ts (trace ids, records), units.ts (option text), devices and
 * netstack own the ports.
 */
import { be16 } from '../wire/bytes.js';
import type { EventHandler, Sim } from './engine.js';
import { DROP_REASONS, type TraceDropReason } from './tracer.js';
import { parseBytes, parseDuration, parseRate } from './units.js';
import { InputError } from '../errors.js';
import type { Ledger } from './ledger.js';

/** Whatever owns ports: a host, a bridge, a router. */
export interface PortOwner {
  readonly name: string;
  /** its simulation, when it has one (the ledger of frames sent on an unlinked port) */
  readonly sim?: Sim;
  /** it takes every frame it receives (a capture point, a test's recorder): the packet ledger counts them delivered */
  readonly sink?: boolean;
  /** A frame arrived on 'port' (the frame is the receiver's to keep or rewrite). */
  receive(port: Port, frame: Uint8Array): void;
}

export type TapDirection = 'in' | 'out';
export type Tap = (frame: Uint8Array, dir: TapDirection, timeNs: number) => void;

export type DropReason = 'mtu' | 'loss' | 'queue' | 'down' | 'unconnected';

export class PortStats {
  rxPackets = 0; rxBytes = 0; txPackets = 0; txBytes = 0;
  /** frames this port sent that never arrived, by reason */
  drops: Record<DropReason, number> = { mtu: 0, loss: 0, queue: 0, down: 0, unconnected: 0 };
}

export class Port {
  readonly owner: PortOwner;
  readonly name: string;
  link: Link | null = null;
  /** which end of the link (0: a, 1: b) */
  side = 0;
  readonly stats = new PortStats();
  private taps: Tap[] = [];

  constructor(owner: PortOwner, name: string) {
    this.owner = owner;
    this.name = name;
  }

  /** `owner:name`, as traces print it */
  get id(): string { return `${this.owner.name}:${this.name}`; }

  /** The MTU of the link (1500 when unconnected). */
  get mtu(): number { return this.link?.mtu ?? 1500; }

  /** The port at the other end, or null. */
  get peer(): Port | null {
    const l = this.link;
    return l === null ? null : this.side === 0 ? l.b : l.a;
  }

  /** Send 'frame' (copied) onto the link; false when it was dropped at once. */
  send(frame: Uint8Array): boolean {
    this.stats.txPackets++;
    this.stats.txBytes += frame.length;
    for (const t of this.taps) t(frame, 'out', this.link?.sim.now ?? 0);
    if (this.link === null) {
      this.stats.drops.unconnected++;
      this.sim()?.ledger.drop('unconnected');
      return false;
    }
    const tr = this.link.sim.tracer;
    if (!tr.tagging) return this.link.transmit(this.side, frame);
    // a frame sent with no packet in hand (a timer's, a script's) is a new packet, for this send only
    const fresh = tr.current === 0;
    if (fresh) tr.begin();
    if (tr.on) tr.emit(this.owner.name, this.name, 'tx', `${this.id} sent ${frame.length} bytes`, { frame });
    const sent = this.link.transmit(this.side, frame);
    if (fresh) tr.current = 0;
    return sent;
  }

  /** Call 'fn' with every frame this port sends or receives; returns the function that removes it. */
  tap(fn: Tap): () => void {
    this.taps = [...this.taps, fn];
    return () => { this.taps = this.taps.filter((t) => t !== fn); };
  }

  /**
   * Hand 'frame' to this port's owner directly, as if it arrived (a bridge passing a frame up to
   * its own stack, a script's frame): the packet in hand goes on, or a new one enters the network.
   */
  deliver(frame: Uint8Array, now: number): void {
    const sim = this.sim();
    if (sim === undefined) { this.arrive(frame, now, null); return; }
    const L = sim.ledger;
    L.take();
    const hand = L.swap(1);
    try { this.arrive(frame, now, L); } finally { L.restore(hand, sim.tracer.current); }
  }

  /** The simulation this port lives in: its link's, else its owner's. */
  protected sim(): Sim | undefined { return this.link?.sim ?? this.owner.sim; }

  /** A frame arrived ('L', the ledger, holds it in hand: a sink owner takes it). */
  arrive(frame: Uint8Array, now: number, L: Ledger | null): void {
    this.stats.rxPackets++;
    this.stats.rxBytes += frame.length;
    for (const t of this.taps) t(frame, 'in', now);
    const tr = this.link?.sim.tracer;
    if (tr?.on === true) tr.emit(this.owner.name, this.name, 'rx', `${this.id} received ${frame.length} bytes`, { frame });
    this.owner.receive(this, frame);
    if (L !== null && this.owner.sink === true) L.deliverHeld();
  }
}

export interface LinkOptions {
  /** propagation delay: ns, or text such as '1ms', '250us' (default 0) */
  delay?: number | string;
  /** bits per second, or text such as '10Gbps', '100Mbps' (default 0: no serialization delay) */
  bandwidth?: number | string;
  /** L3 MTU (default 1500) */
  mtu?: number;
  /** probability that a frame is lost, 0 to 1 (default 0) */
  loss?: number;
  /** drop-tail queue limit: bytes, or text such as '256KB' (default: unlimited) */
  queue?: number | string;
  /** reordering: hold a frame back by 'delay' with probability 'rate', or netem-like text '25% 5ms' (default: none) */
  reorder?: ReorderOptions | string;
}

/** The reordering model: each frame is held back an extra 'delay' (ns or text) with probability 'rate' (0 to 1). */
export interface ReorderOptions {
  rate: number;
  delay: number | string;
}

/**
 * Netem-like reorder text: a probability ('25%' or '0.25') and the extra
 * delay of a held-back frame ('5ms'), in either order ('5ms 25%').
 * Throws InputError (LINK_BAD_REORDER) naming 'field'.
 */
export function parseReorder(text: string, field = 'reorder'): { rate: number; delayNs: number } {
  const words = text.trim().split(/\s+/);
  let rate: number | undefined, delayNs: number | undefined;
  for (const w of words) {
    const pct = /^([0-9]+(?:\.[0-9]+)?)%$/.exec(w);
    if (pct !== null && rate === undefined) rate = Number(pct[1]) / 100;
    else if (/^(0|1)(\.[0-9]+)?$/.test(w) && rate === undefined) rate = Number(w);
    else if (delayNs === undefined && /^[0-9]/.test(w)) delayNs = parseDuration(w, field);
    else throw new InputError('LINK_BAD_REORDER', field, `'${text}': expected a probability (25%) and a delay (5ms)`);
  }
  if (rate === undefined || delayNs === undefined) throw new InputError('LINK_BAD_REORDER', field, `'${text}': expected a probability (25%) and a delay (5ms)`);
  if (!(rate >= 0 && rate <= 1)) throw new InputError('LINK_BAD_REORDER', field, `'${text}': the probability is not between 0% and 100%`);
  return { rate, delayNs };
}

/** The reorder option as numbers. */
function reorderOf(r: ReorderOptions | string | undefined, field: string): { rate: number; delayNs: number } {
  if (r === undefined) return { rate: 0, delayNs: 0 };
  if (typeof r === 'string') return parseReorder(r, field);
  return { rate: r.rate, delayNs: typeof r.delay === 'string' ? parseDuration(r.delay, `${field}.delay`) : r.delay };
}

/**
 * A lane of one direction: frames in flight that arrive in the order they
 * were sent (the ordinary frames, or the held-back ones), the trace id each
 * carries (tracer.ts; 0 untraced); the lane is the event handler of their
 * arrivals, so an arrival event carries nothing.
 */
class Lane implements EventHandler {
  /** frames in flight, oldest first, from 'head' on */
  private q: (Uint8Array | undefined)[] = [];
  private ids: number[] = [];
  private head = 0;
  /** frames at positions below this were lost when the link was cut */
  private lostBefore = 0;
  constructor(private readonly link: Link, private readonly from: Port, private readonly to: () => Port) {}

  get inFlight(): number { return this.q.length - this.head; }

  enqueue(frame: Uint8Array, arrival: number): void {
    this.link.sim.ledger.board();
    this.q.push(frame);
    this.ids.push(this.link.sim.tracer.current);
    this.link.sim.at(arrival, this);
  }

  /** Everything in flight is lost (the link was cut). */
  loseAll(): void { this.lostBefore = this.q.length; }

  onEvent(): void {
    const i = this.head++;
    const frame = this.q[i]!;
    const sim = this.link.sim, tr = sim.tracer, L = sim.ledger;
    this.q[i] = undefined;
    // the receiver works on this frame's packet: what it sends keeps the trace id
    const id = tr.current = this.ids[i]!;
    const lost = i < this.lostBefore;
    if (this.head > 1024 && this.head * 2 > this.q.length) {
      this.q = this.q.slice(this.head);
      this.ids = this.ids.slice(this.head);
      this.lostBefore = Math.max(0, this.lostBefore - this.head);
      this.head = 0;
    }
    L.inFlight--;
    const hand = L.swap(1);
    try {
      if (lost) { this.from.stats.drops.down++; this.link.dropped(this.from, frame, 'down'); }
      else this.to().arrive(frame, sim.now, L);
    } finally { L.restore(hand, id); }
  }
}

/** One direction of a link: its serializer, its two lanes (ordinary, held back), its counters. */
class Direction {
  busyUntil = 0;
  /** frames held back for reordering (the reorder model's draws that hit) */
  heldBack = 0;
  readonly lanes: [Lane, Lane];
  constructor(link: Link, from: Port, to: () => Port) {
    this.lanes = [new Lane(link, from, to), new Lane(link, from, to)];
  }

  get inFlight(): number { return this.lanes[0].inFlight + this.lanes[1].inFlight; }

  loseAll(): void { this.lanes[0].loseAll(); this.lanes[1].loseAll(); this.busyUntil = 0; }
}

/** Frames in flight are carved from shared slabs: a view per frame, not a buffer (V8 allocates typed arrays over 64 bytes outside its heap, ~1 µs each). */
const SLAB_BYTES = 1 << 20;
let slab = new ArrayBuffer(SLAB_BYTES);
let slabAt = 0;

/**
 * A new zeroed frame buffer of 'n' bytes carved from the current slab (a new slab when it is full;
 * slabs are never reused, so the bytes are zero; the old one goes when its last frame does). For
 * devices that build a frame per packet (an encapsulation) as well as for the links' copies.
 */
export function allocFrame(n: number): Uint8Array {
  if (slabAt + n > slab.byteLength) {
    slab = new ArrayBuffer(Math.max(SLAB_BYTES, n));
    slabAt = 0;
  }
  const c = new Uint8Array(slab, slabAt, n);
  slabAt += (n + 7) & ~7;
  return c;
}

/** A copy of 'frame' in the current slab. */
function copyFrame(frame: Uint8Array): Uint8Array {
  const c = allocFrame(frame.length);
  c.set(frame);
  return c;
}

/** A link's drop reasons as trace drop reasons (tracer.ts DROP_REASONS). */
const TRACE_REASON: Record<DropReason, TraceDropReason> = { mtu: 'link-mtu', loss: 'link-loss', queue: 'link-queue', down: 'link-down', unconnected: 'unconnected' };

export class Link {
  readonly sim: Sim;
  readonly a: Port;
  readonly b: Port;
  readonly delayNs: number;
  readonly bps: number;
  readonly mtu: number;
  readonly loss: number;
  readonly queueBytes: number;
  /** probability that a frame is held back (reordering), and by how long (ns) */
  readonly reorderRate: number;
  readonly reorderDelayNs: number;
  up = true;
  /** called for every frame the link drops */
  onDrop: ((from: Port, frame: Uint8Array, reason: DropReason) => void) | null = null;
  private readonly dirs: [Direction, Direction];

  constructor(sim: Sim, a: Port, b: Port, opts: LinkOptions = {}) {
    if (a.link !== null) throw new Error(`port ${a.id} is already linked`);
    if (b.link !== null) throw new Error(`port ${b.id} is already linked`);
    this.sim = sim;
    this.a = a; this.b = b;
    this.delayNs = typeof opts.delay === 'string' ? parseDuration(opts.delay) : opts.delay ?? 0;
    this.bps = typeof opts.bandwidth === 'string' ? parseRate(opts.bandwidth) : opts.bandwidth ?? 0;
    this.mtu = opts.mtu ?? 1500;
    this.loss = opts.loss ?? 0;
    this.queueBytes = typeof opts.queue === 'string' ? parseBytes(opts.queue) : opts.queue ?? Infinity;
    const ro = reorderOf(opts.reorder, 'reorder');
    this.reorderRate = ro.rate;
    this.reorderDelayNs = ro.delayNs;
    if (!(this.delayNs >= 0) || !(this.bps >= 0) || !(this.mtu >= 68) || !(this.loss >= 0 && this.loss <= 1) || !(this.queueBytes >= 0)
      || !(this.reorderRate >= 0 && this.reorderRate <= 1) || !(this.reorderDelayNs >= 0 && Number.isFinite(this.reorderDelayNs))) {
      throw new RangeError(`link ${a.id} - ${b.id}: bad options ${JSON.stringify(opts)}`);
    }
    a.link = this; a.side = 0;
    b.link = this; b.side = 1;
    this.dirs = [new Direction(this, a, () => this.b), new Direction(this, b, () => this.a)];
  }

  /** Frames on their way from end 'side' (0: a → b), those a cut already doomed included. */
  inFlight(side: 0 | 1): number { return this.dirs[side].inFlight; }

  /** Frames sent from end 'side' that the reorder model held back. */
  heldBack(side: 0 | 1): number { return this.dirs[side].heldBack; }

  /** Send 'frame' from end 'side'; false when dropped at once. */
  transmit(side: number, frame: Uint8Array): boolean {
    const from = side === 0 ? this.a : this.b;
    if (!this.up) return this.drop(from, frame, 'down');
    // the L3 payload: after the Ethernet header and one 802.1Q tag
    const hdr = frame.length >= 16 && (be16(frame, 12) === 0x8100 || be16(frame, 12) === 0x88a8) ? 18 : 14;
    if (frame.length - hdr > this.mtu) return this.drop(from, frame, 'mtu');
    if (this.loss > 0 && this.sim.rng.nextFloat() < this.loss) return this.drop(from, frame, 'loss');
    const d = this.dirs[side === 0 ? 0 : 1];
    const now = this.sim.now;
    let start = now, end = now;
    if (this.bps > 0) {
      start = d.busyUntil > now ? d.busyUntil : now;
      if (this.queueBytes !== Infinity && ((start - now) * this.bps) / 8e9 + frame.length > this.queueBytes) return this.drop(from, frame, 'queue');
      end = start + (Math.max(frame.length + 24, 84) * 8e9) / this.bps;
      d.busyUntil = end;
    }
    if (this.reorderRate > 0 && this.sim.rng.nextFloat() < this.reorderRate) {
      d.heldBack++;
      d.lanes[1].enqueue(copyFrame(frame), end + this.delayNs + this.reorderDelayNs);
    } else {
      d.lanes[0].enqueue(copyFrame(frame), end + this.delayNs);
    }
    return true;
  }

  /** Cut the link now, or at time 'at': frames in flight are lost, frames sent while cut are dropped. */
  cut(at?: number): void {
    if (at !== undefined && at > this.sim.now) { this.sim.at(at, { onEvent: () => this.cut() }); return; }
    this.up = false;
    for (const d of this.dirs) d.loseAll();
  }

  /**
   * Cut the link for good and free both ports (each may be linked again):
   * what is in flight is lost ('down'), as a cut.
   */
  detach(): void {
    this.cut();
    this.a.link = null;
    this.b.link = null;
  }

  /** Restore a cut link now, or at time 'at'. */
  restore(at?: number): void {
    if (at !== undefined && at > this.sim.now) { this.sim.at(at, { onEvent: () => this.restore() }); return; }
    this.up = true;
  }

  /** Count a frame lost on its way (a cut with it in flight). */
  dropped(from: Port, frame: Uint8Array, reason: DropReason): void {
    this.sim.ledger.drop(TRACE_REASON[reason]);
    this.onDrop?.(from, frame, reason);
    const tr = this.sim.tracer;
    if (tr.on) tr.emit(from.owner.name, from.name, 'drop', `${from.id}: ${DROP_REASONS[TRACE_REASON[reason]]}`, { reason: TRACE_REASON[reason] });
  }

  private drop(from: Port, frame: Uint8Array, reason: DropReason): false {
    from.stats.drops[reason]++;
    this.dropped(from, frame, reason);
    return false;
  }
}
