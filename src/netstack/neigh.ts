/**
 * The neighbour table (netstack layer): next hops resolved to MAC
 * addresses, as Linux's neighbour subsystem does with its default sysctls —
 * IPv4 with ARP (arp_tbl), IPv6 with Neighbour Discovery (nd_tbl, RFC 4861:
 * the same NUD states and the same default timers).
 *
 * What: one `Neighbours` per host and family, entries keyed (interface,
 * address): an IPv4 address is a uint32, an IPv6 one its RFC 5952 text (the
 * owner's `solicit` sends an ARP request or a neighbour solicitation):
 *  - a frame for a next hop without an entry makes one INCOMPLETE, waits in
 *    its queue (unres_qlen_bytes: 212992 bytes; older frames are dropped
 *    first, as the kernel does) and a request is broadcast (ARP) or sent to
 *    the solicited-node multicast group (ND); one more
 *    each `retransMs` (1 s) up to `mcastSolicit` (3) requests, then the entry
 *    FAILS: its frames are dropped and each is reported to the owner
 *    (`onUnreachable`: the host answers with ICMP host unreachable,
 *    ipv4_link_failure, or ICMPv6 address unreachable, ip6_link_failure);
 *  - an ARP reply to us (a solicited NA) makes the entry REACHABLE (the queue goes out);
 *    REACHABLE lasts `reachableMs` (base_reachable_time 30 s; the kernel
 *    draws it between 15 and 45 s — here it is the base, fixed, so runs do
 *    not depend on a draw), then STALE;
 *  - a STALE entry is still used; the first use starts DELAY (5 s,
 *    delay_first_probe_time), after which unicast probes go out each second
 *    (ucast_solicit 3) until a reply (REACHABLE) or FAILED;
 *  - an ARP request for one of our addresses (an NS with a source
 *    link-layer option) creates or refreshes the sender's entry as STALE
 *    (neigh_event_ns); a reply or a request for another address (an
 *    unsolicited NA) updates only an existing entry (arp_accept 0);
 *  - an NA with the router flag marks the entry `router` (`ip neigh`
 *    prints it).
 *  Static entries (`add`, nud permanent) never change.
 * Why here and not in the IP path: resolution is asynchronous (virtual
 * time passes), the IP path is not.
 * Output: `ip neigh show` lines as iproute2 prints them.
 * Cost: a Map lookup per frame sent (slow path of a host stack).
 * Neighbours: host.ts (owner for IPv4: sends the ARP frames, delivers the
 * queues), ipv6.ts (owner for IPv6: the NS frames), sim/engine.ts (timers).
 */
import type { Sim } from '../sim/engine.js';
import { ipv4ToString } from '../wire/bytes.js';

/** A neighbour's address: uint32 (IPv4) or RFC 5952 text (IPv6). */
export type NeighAddr = number | string;
const keyOf = <K extends NeighAddr>(a: K): K => (typeof a === 'number' ? ((a >>> 0) as K) : a);

export type NudState = 'INCOMPLETE' | 'REACHABLE' | 'STALE' | 'DELAY' | 'PROBE' | 'FAILED' | 'PERMANENT';

export class NeighEntry<K extends NeighAddr = number> {
  mac: Uint8Array | null = null;
  /** the neighbour said it is a router (NA R flag; IPv6 only) */
  router = false;
  state: NudState = 'INCOMPLETE';
  /** frames waiting for the address, their trace ids (sim/tracer.ts), and their bytes */
  queue: Uint8Array[] = [];
  ids: number[] = [];
  queued = 0;
  probes = 0;
  /** when the state last changed (ns) */
  updated = 0;
  timer: ReturnType<Sim['call']> | null = null;
  constructor(readonly iface: string, readonly addr: K) {}
}

/** What the table needs from its host. */
export interface NeighOwner<K extends NeighAddr = number> {
  /** the host's name (for trace records) */
  readonly name: string;
  /** send a request for 'addr' out of 'iface' (an ARP request, an NS): broadcast/multicast or (with 'to') unicast; 'first' is the frame that waits for it */
  solicit(iface: string, addr: K, to: Uint8Array | null, first: Uint8Array | null): void;
  /** 'frame' can go: its Ethernet destination is 'mac' */
  transmit(iface: string, frame: Uint8Array, mac: Uint8Array): void;
  /** 'frame' could not be delivered: 'addr' did not answer */
  onUnreachable(iface: string, frame: Uint8Array): void;
}

export interface NeighOptions {
  retransMs?: number; mcastSolicit?: number; ucastSolicit?: number; reachableMs?: number; delayProbeMs?: number; queueBytes?: number;
}

export class Neighbours<K extends NeighAddr = number> {
  /** per interface: entries by address */
  private readonly entries = new Map<string, Map<K, NeighEntry<K>>>();
  readonly retransNs: number; readonly mcastSolicit: number; readonly ucastSolicit: number;
  readonly reachableNs: number; readonly delayNs: number; readonly queueBytes: number;

  constructor(private readonly sim: Sim, private readonly owner: NeighOwner<K>, opts: NeighOptions = {}) {
    this.retransNs = (opts.retransMs ?? 1000) * 1e6;
    this.mcastSolicit = opts.mcastSolicit ?? 3;
    this.ucastSolicit = opts.ucastSolicit ?? 3;
    this.reachableNs = (opts.reachableMs ?? 30_000) * 1e6;
    this.delayNs = (opts.delayProbeMs ?? 5000) * 1e6;
    this.queueBytes = opts.queueBytes ?? 212_992;
  }

  get(iface: string, addr: K): NeighEntry<K> | undefined { return this.entries.get(iface)?.get(keyOf(addr)); }

  /** Every entry, for `ip neigh` and tests. */
  all(): NeighEntry<K>[] { return [...this.entries.values()].flatMap((m) => [...m.values()]); }

  /** A static entry (`ip neigh add … lladdr … nud permanent`). */
  add(iface: string, addr: K, mac: Uint8Array): void {
    const e = this.entry(iface, addr);
    this.stop(e);
    e.mac = mac; e.state = 'PERMANENT';
    this.flush(e);
  }

  /** Send 'frame' to next hop 'addr' on 'iface' once its MAC is known. */
  output(iface: string, addr: K, frame: Uint8Array): void {
    let e = this.get(iface, addr);
    if (e === undefined || e.state === 'FAILED') {
      e = this.entry(iface, addr);
      e.state = 'INCOMPLETE'; e.mac = null; e.probes = 0;
      this.enqueue(e, frame);
      this.solicit(e);
      return;
    }
    if (e.state === 'INCOMPLETE') { this.enqueue(e, frame); return; }
    if (e.state === 'STALE') {
      // first use of a stale entry: DELAY, then unicast probes unless it is confirmed meanwhile
      this.setState(e, 'DELAY');
      e.timer = this.sim.call(this.delayNs, () => { e.timer = null; e.probes = 0; this.setState(e, 'PROBE'); this.solicit(e); });
    }
    this.owner.transmit(iface, frame, e.mac!);
  }

  /**
   * An ARP packet from 'mac'/'addr' arrived on 'iface': 'forUs' when it is a
   * request for one of our addresses (creates or refreshes the entry,
   * STALE), 'reply' when it is a reply to us (REACHABLE); otherwise only an
   * existing entry is updated (STALE when its address changed).
   */
  learn(iface: string, addr: K, mac: Uint8Array, how: 'request-for-us' | 'reply' | 'other', router?: boolean): void {
    let e = this.get(iface, addr);
    if (e === undefined) {
      if (how !== 'request-for-us') return;
      e = this.entry(iface, addr);
    }
    if (e.state === 'PERMANENT') return;
    if (router !== undefined) e.router = router;
    const changed = e.mac === null || !sameMac(e.mac, mac);
    e.mac = mac;
    if (how === 'reply') {
      this.stop(e);
      this.setState(e, 'REACHABLE');
      e.timer = this.sim.call(this.reachableNs, () => { e.timer = null; this.setState(e, 'STALE'); });
    } else if (e.state === 'INCOMPLETE' || e.state === 'FAILED' || changed) {
      this.stop(e);
      this.setState(e, 'STALE');
    }
    this.flush(e);
  }

  /** `ip neigh show` lines: `10.0.0.2 dev eth0 lladdr 02:00:00:00:00:02 REACHABLE`, `2001:db8::1 dev eth0 lladdr … router REACHABLE`. */
  show(): string[] {
    return this.all().map((e) => {
      let s = `${typeof e.addr === 'number' ? ipv4ToString(e.addr) : e.addr} dev ${e.iface}`;
      if (e.mac !== null && e.state !== 'FAILED' && e.state !== 'INCOMPLETE') s += ` lladdr ${macText(e.mac)}`;
      if (e.router) s += ' router';
      return `${s} ${e.state}`;
    });
  }

  private entry(iface: string, addr: K): NeighEntry<K> {
    let m = this.entries.get(iface);
    if (m === undefined) { m = new Map(); this.entries.set(iface, m); }
    const k = keyOf(addr);
    let e = m.get(k);
    if (e === undefined) { e = new NeighEntry<K>(iface, k); m.set(k, e); }
    return e;
  }

  private setState(e: NeighEntry<K>, s: NudState): void {
    e.state = s;
    e.updated = this.sim.now;
  }

  private stop(e: NeighEntry<K>): void {
    if (e.timer !== null) { this.sim.cancel(e.timer); e.timer = null; }
  }

  private enqueue(e: NeighEntry<K>, frame: Uint8Array): void {
    const tr = this.sim.tracer;
    this.sim.ledger.park();
    e.queue.push(frame);
    e.ids.push(tr.current);
    e.queued += frame.length;
    while (e.queued > this.queueBytes && e.queue.length > 1) {
      e.queued -= e.queue.shift()!.length;
      const id = e.ids.shift()!;
      tr.resume(id, () => {
        this.sim.ledger.drop('neigh-queue');
        if (tr.on) tr.drop(this.owner.name, e.iface, 'neigh-queue', `unres_qlen_bytes ${this.queueBytes} reached`);
      });
    }
  }

  /** Take 'e''s waiting frames and their trace ids. */
  private takeQueue(e: NeighEntry<K>): [Uint8Array[], number[]] {
    const q: [Uint8Array[], number[]] = [e.queue, e.ids];
    e.queue = []; e.ids = []; e.queued = 0;
    return q;
  }

  /** Send what waited for 'e', now that its MAC is known. */
  private flush(e: NeighEntry<K>): void {
    const mac = e.mac;
    if (mac === null) return;
    const [q, ids] = this.takeQueue(e);
    // each waiting frame leaves as its own packet
    q.forEach((f, i) => this.sim.tracer.resume(ids[i]!, () => this.owner.transmit(e.iface, f, mac)));
  }

  /** One more request (broadcast while INCOMPLETE, unicast in PROBE), or the end of trying. */
  private solicit(e: NeighEntry<K>): void {
    const limit = e.state === 'PROBE' ? this.ucastSolicit : this.mcastSolicit;
    if (e.probes >= limit) {
      this.setState(e, 'FAILED');
      const [q, ids] = this.takeQueue(e);
      e.mac = null;
      const tr = this.sim.tracer;
      q.forEach((f, i) => tr.resume(ids[i]!, () => {
        this.sim.ledger.drop('neigh-failed');
        if (tr.on) tr.drop(this.owner.name, e.iface, 'neigh-failed', `${String(e.addr)} did not answer`, f);
        this.owner.onUnreachable(e.iface, f);
      }));
      return;
    }
    e.probes++;
    this.owner.solicit(e.iface, e.addr, e.state === 'PROBE' ? e.mac : null, e.queue[0] ?? null);
    e.timer = this.sim.call(this.retransNs, () => { e.timer = null; this.solicit(e); });
  }
}

export function sameMac(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 6; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function macText(m: Uint8Array): string {
  return Array.from(m.subarray(0, 6), (x) => x.toString(16).padStart(2, '0')).join(':');
}
