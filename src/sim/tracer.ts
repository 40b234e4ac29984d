/**
 * Packet tracing hooks (sim layer): the per-packet trace id and the typed
 * record every device emits for a hop or a decision.
 *
 * What: each `Sim` has one `Tracer`. While nobody subscribes, `on` is false
 * and emitters skip building records entirely (undici's
 * `channel.hasSubscribers` guard): tracing off costs one boolean test per
 * hook. `on` is per packet: with `setSample(n)` only one packet in n (by
 * id) is traced, the others carry their ids and build nothing. While on:
 *  - a packet gets a trace id when a host's socket sends it, when a node
 *    makes it on its own (an ARP request, an echo reply, an ICMP error:
 *    `aside`), or when it leaves a port with no id in hand (a timer's or a
 *    script's frame);
 *  - a frame that waits (for its next hop's MAC) keeps its id and is sent
 *    under it (`resume`);
 *  - `tagIds(true)` gives every packet an id even while nobody subscribes
 *    (`tagging`), so the packet ledger (ledger.ts) can name a lost one;
 *    `aside` and `resume` also switch the ledger's packet in hand;
 *  - the id of the packet being processed is `current`: links carry it
 *    with each frame in flight and set it around the receiver's `receive`,
 *    so whatever the receiver sends in that call — the frame forwarded,
 *    NATed, encapsulated or decapsulated — keeps the id: a trace survives
 *    NAT and tunnels;
 *  - `emit` stamps a record with the id, the virtual time, the node and
 *    port, a sequence number, and hands it to the subscribers.
 * Forks (ovn-trace's, at a load-balancing decision): a 'rule' or 'ipvs'
 * record whose fields carry `lb`, `choices` (space-separated) and
 * `chosen` (an index) is a choice among backends. To see what another
 * would have done, a replay of the same simulation calls `force(trace,
 * node, k)` first: when that packet next reaches a decision at that node,
 * the node asks `forced(node)`, makes choice k instead of its own, and
 * says `forceUsed()` — one fork per replay; everything else runs as it did.
 * Records (`TraceEvent`): `kind` says what happened (tx, rx, drop, route,
 * arp, encap, decap, nat, ct, rule, flow, fdb — a Linux bridge's
 * forwarding decision —, ipvs, deliver); `text` is the line
 * the tool users know would print (an ofproto/trace line, an iptables rule,
 * `ARP, Request who-has …`); `fields` the structured facts (vni, table,
 * verdict …); `frame` the packet's bytes after the step — the packet's
 * own, valid while the sink runs (the packet goes on and may change them
 * in place): a sink that keeps a record copies its frame, as the store
 * does, and making a record copies nothing; a drop
 * carries one of `DROP_REASONS`, a fixed, documented list (as Hubble's drop
 * reasons are) so viewers and filters can rely on the names.
 * Neighbours: engine.ts (the clock, owns the tracer), link.ts (tx, rx, link
 * drops, carrying ids), devices and netstack (their decisions), trace/ (the
 * store, filters, the server).
 */

import type { Ledger } from './ledger.js';

/** Why a packet was dropped: the name, and what it means. */
export const DROP_REASONS = {
  'link-mtu': 'larger than the link MTU',
  'link-loss': 'lost on the link (its loss rate)',
  'link-queue': "the link's queue was full (drop-tail)",
  'link-down': 'the link was cut',
  unconnected: 'sent on a port with no link',
  'not-for-us': "for another host's MAC address",
  'bad-header': 'a malformed header or a wrong header checksum',
  'bad-checksum': 'a wrong UDP/TCP checksum',
  'unknown-proto': 'a protocol the node does not handle',
  'no-route': 'no route to the destination',
  'ttl-exceeded': 'the TTL (hop limit) ran out',
  'frag-needed': "DF set and larger than the next hop's MTU",
  'neigh-failed': 'the next hop never answered ARP / neighbour solicitation',
  policy: 'an iptables rule dropped or rejected it',
  'ct-invalid': 'conntrack found it invalid',
  'no-socket': 'no socket took it (the stack answered)',
  'flow-drop': 'the OpenFlow pipeline dropped it (no match, or a drop action)',
  'no-tunnel-port': 'no tunnel port takes its key and remote',
  'unknown-vni': 'no VXLAN device for its VNI',
  'arp-suppressed': 'ARP/ND suppression: the VTEP took the request (answered from its table, or not at all)',
  vlan: "VLAN filtering: the port is not a member of the packet's VLAN",
  'stp-state': 'the bridge port is not forwarding (disabled, blocking, listening or learning)',
  'ipvs-no-server': 'an IPVS service with no real server',
  'no-fdb': 'no forwarding entry and flooding is off',
  'forwarding-off': 'not for this host, and it does not forward',
  'neigh-queue': 'too many frames waiting for the same next hop',
  'reasm-timeout': 'its datagram was not reassembled in time (ipfrag_time)',
  'reasm-bad': 'a fragment overlapping another or malformed: its whole datagram is dropped (RFC 5722)',
  'ct-full': 'the conntrack table was full (nf_conntrack_max) and nothing could be evicted',
  'unknown-peer': 'a tunnel datagram from a real socket that is not a known peer',
} as const;

export type TraceDropReason = keyof typeof DROP_REASONS;

export type TraceKind = 'tx' | 'rx' | 'drop' | 'route' | 'arp' | 'encap' | 'decap' | 'nat' | 'ct' | 'rule' | 'flow' | 'fdb' | 'ipvs' | 'deliver';

export interface TraceEvent {
  /** the packet's trace id (1, 2 …; never 0) */
  trace: number;
  /** order of emission in this simulation */
  seq: number;
  /** virtual time, ns */
  t: number;
  /** the host or device */
  node: string;
  /** its port or interface, when the step has one */
  port: string | null;
  kind: TraceKind;
  /** one line, as the tool users know prints it */
  text: string;
  /** structured facts of the step (vni, table, verdict …) */
  fields: Record<string, string | number> | null;
  /** drops: why */
  reason: TraceDropReason | null;
  /** the packet's bytes after this step: valid during the sink's call only (a sink that keeps them copies them) */
  frame: Uint8Array | null;
}

export type TraceSink = (ev: TraceEvent) => void;

export class Tracer {
  /**
   * Trace the packet in hand: someone subscribes, and the packet is sampled (or none is in hand
   * yet). Emitters test it before building a record.
   */
  on = false;
  /** someone subscribes */
  private subscribed = false;
  /** every packet gets an id (someone subscribes, or `tagIds` asked: the ledger names lost packets) */
  tagging = false;
  private tagAll = false;
  /** trace one packet in 'sample' (by id) */
  private sample = 1;
  private cur = 0;
  private nextId = 1;
  private seq = 0;
  private sinks: TraceSink[] = [];
  /** a forced load-balancing choice is pending (a fork's replay): nodes test this before asking `forced` */
  forcing = false;
  private forceTrace = 0;
  private forceNode = '';
  private forceChoice = -1;

  constructor(private readonly clock: { readonly now: number }, private readonly ledger: Ledger) {}

  /** The trace id of the packet being processed; 0 when none. */
  get current(): number { return this.cur; }
  set current(id: number) {
    this.cur = id;
    this.on = this.subscribed && (id === 0 || this.sample === 1 || id % this.sample === 0);
  }

  /** Give every packet a trace id even while nobody traces (so the ledger names a lost one). */
  tagIds(on: boolean): void {
    this.tagAll = on;
    this.tagging = this.subscribed || on;
  }

  /** Receive every record from now on; returns the unsubscribe function. */
  subscribe(fn: TraceSink): () => void {
    this.sinks = [...this.sinks, fn];
    this.subscribed = true;
    this.tagging = true;
    this.current = this.cur;
    return () => {
      this.sinks = this.sinks.filter((s) => s !== fn);
      this.subscribed = this.sinks.length > 0;
      this.tagging = this.subscribed || this.tagAll;
      this.current = this.cur;
    };
  }

  /**
   * Trace one packet in 'n' from now on (1: every packet): the others get ids and carry them,
   * but no record is built for them — what makes tracing a busy network cheap.
   */
  setSample(n: number): void {
    if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`sample must be a positive integer, not ${n}`);
    this.sample = n;
    this.current = this.cur;
  }

  /** A new packet: a fresh id, made current. */
  begin(): number {
    this.current = this.nextId++;
    return this.cur;
  }

  /**
   * Run 'fn' as a new packet's (an ARP request, a reply, a socket's send), then go back to the
   * packet in hand: in the ledger, 'fn' has no packet in hand, so what it sends is created.
   */
  aside<T>(fn: () => T): T {
    const L = this.ledger, hand = L.swap(0);
    if (!this.tagging) {
      try { return fn(); } finally { L.restore(hand, 0); }
    }
    const prev = this.cur, id = this.nextId++;
    this.current = id;
    try { return fn(); } finally { this.current = prev; L.restore(hand, id); }
  }

  /**
   * Run 'fn' for parked packet 'id' (a frame that waited in a queue), then go back to the packet
   * in hand: in the ledger the parked packet is in hand, and 'fn' must spend it (send or drop it).
   */
  resume(id: number, fn: () => void): void {
    const L = this.ledger;
    L.parked--;
    const hand = L.swap(1), prev = this.cur;
    this.current = id;
    try { fn(); } finally { this.current = prev; L.restore(hand, id); }
  }

  /** A drop record for the packet in hand, `reason: text` (callers building 'text' test `on` first). */
  drop(node: string, port: string | null, reason: TraceDropReason, text: string, frame?: Uint8Array): void {
    if (this.on) this.emit(node, port, 'drop', `${reason}: ${text}`, frame === undefined ? { reason } : { reason, frame });
  }

  /** Make packet 'trace' take choice 'k' at its next load-balancing decision at 'node' (a fork's replay). */
  force(trace: number, node: string, k: number): void {
    this.forcing = true;
    this.forceTrace = trace;
    this.forceNode = node;
    this.forceChoice = k;
  }

  /** The choice forced on the packet in hand at 'node', or -1 (call `forceUsed` once it made it). */
  forced(node: string): number {
    return this.cur === this.forceTrace && node === this.forceNode ? this.forceChoice : -1;
  }

  /** The forced choice was made: nothing is forced any more. */
  forceUsed(): void {
    this.forcing = false;
  }

  /** The current id, or a new one when there is none. */
  id(): number {
    return this.cur !== 0 ? this.cur : this.begin();
  }

  /** Emit a record for the current packet (call only when `on`). */
  emit(node: string, port: string | null, kind: TraceKind, text: string,
    extra: { fields?: Record<string, string | number>; reason?: TraceDropReason; frame?: Uint8Array } = {}): void {
    const trace = this.id();
    // a packet begun here may be one the sampling skips
    if (!this.on) return;
    const ev: TraceEvent = {
      trace, seq: ++this.seq, t: this.clock.now, node, port, kind, text,
      fields: extra.fields ?? null, reason: extra.reason ?? null, frame: extra.frame ?? null,
    };
    for (const s of this.sinks) s(ev);
  }
}
