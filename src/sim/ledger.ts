/**
 * The packet ledger (sim layer): every packet that enters the emulated
 * network is, at any moment, exactly one of delivered, dropped with a
 * reason, merged (a fragment into its datagram), in flight on a link, or
 * parked (waiting for its next hop's MAC, for the rest of its datagram) —
 * and `check()` says so, or names the packet that was lost without a word.
 *
 * What: the ledger counts tokens, one per copy of a packet.
 *  - The packet in hand: while a port's owner runs `receive` for a frame a
 *    link brought (or a device handed it directly), the ledger holds one
 *    token `hand`. Whatever the owner does with the packet spends it: sends
 *    it on (the frame forwarded, NATed, encapsulated: the same token goes on
 *    the next link), delivers it (`deliver`: a socket took it, the stack
 *    answered it), drops it (`drop(reason)`, the trace's drop reasons), parks
 *    it (`park`: a queue holds it; it comes back with tracer.ts's `resume`),
 *    and parked ones leave for good with `settle` (fragments merged into
 *    the datagram in hand, or dropped when it times out). A socket that may
 *    have sent the packet on itself (a tunnel's) says `deliverHeld`.
 *  - `swap`/`restore` bracket a call that holds a packet (a link's arrival,
 *    a direct hand-over, a resumed one) or none (`aside`).
 *  - Any of those done with no token in hand makes one first (`created`): a
 *    flood's second copy, a script's frame, an ARP request, an ICMP error,
 *    a socket's segment — a new packet entering the network. New packets
 *    made while another is in hand are made `aside` (tracer.ts), with the
 *    hand set to none around them, so they never spend the one in hand.
 *  - `receive` returning with the token unspent is a packet lost without a
 *    word: counted in `leaks`, its trace id kept (the first 32).
 * The balance, at any moment between events:
 *   created = delivered + dropped + merged + inFlight + parked,
 * with no leak; `check()` returns what is wrong, `assertBalanced()` throws
 * a LedgerError naming the trace ids. Trace ids are given to every packet
 * only while someone traces or `tagIds` (tracer.ts) asks for them: tests do,
 * so a leak names its packet; without ids a leak still counts.
 * Cost: a few integer updates per packet per hop, no allocation; the drop
 * reasons are a fixed table of counters.
 * Neighbours: link.ts (sends, arrivals, link drops, frames in flight),
 * tracer.ts (aside/resume switch the packet in hand; DROP_REASONS), engine.ts
 * (owns it; no packet is in hand between events), netstack and devices (their
 * deliveries, drops and queues).
 */
import { SdnemuError } from '../errors.js';
import { DROP_REASONS, type TraceDropReason } from './tracer.js';

/** A packet was lost without a word, or the counts do not add up. */
export class LedgerError extends SdnemuError {
  constructor(message: string, readonly traceIds: number[]) { super('LEDGER_IMBALANCE', message); }
}

const REASONS = Object.keys(DROP_REASONS) as TraceDropReason[];
const REASON_INDEX = new Map(REASONS.map((r, i) => [r, i]));
const MAX_IDS = 32;

export class Ledger {
  /** tokens of the packet in hand not yet spent (0 or 1; more only if a device forgot one) */
  hand = 0;
  created = 0;
  delivered = 0;
  dropped = 0;
  merged = 0;
  /** on links, between send and arrival */
  inFlight = 0;
  /** held in queues (ARP, reassembly) */
  parked = 0;
  /** receives that returned with the packet unspent */
  leaks = 0;
  /** their trace ids (the first 32; 0 when ids were not given) */
  readonly leakIds: number[] = [];
  private readonly dropsBy = new Float64Array(REASONS.length);

  /** Spend the packet in hand (or make a new one): it goes somewhere. */
  take(): void {
    if (this.hand > 0) this.hand--;
    else this.created++;
  }

  /** The packet was delivered: a socket took it, or the stack answered it. */
  deliver(): void { this.take(); this.delivered++; }

  /**
   * The packet in hand, if it is still in hand, was delivered: for a socket that may have sent it
   * on itself (a tunnel's, which decapsulates and forwards the inner frame under the same token).
   */
  deliverHeld(): void { if (this.hand > 0) this.deliver(); }

  /**
   * The packet in hand, if there is one, was dropped for 'reason': for a send refused before it
   * entered the network — a socket's own send made aside has none in hand (it never entered),
   * a packet forwarded into it (a tunnel's encapsulation) does.
   */
  dropHeld(reason: TraceDropReason): void { if (this.hand > 0) this.drop(reason); }

  /** The packet was dropped, for 'reason'. */
  drop(reason: TraceDropReason): void {
    this.take();
    this.dropped++;
    this.dropsBy[REASON_INDEX.get(reason)!]! += 1;
  }

  /** The packet waits in a queue; it comes back with `resume`. */
  park(): void { this.take(); this.parked++; }

  /**
   * 'n' parked packets leave their queue for good: merged into the packet in hand (a datagram
   * reassembled; 'reason' null) or dropped for 'reason' (a reassembly timed out or was refused).
   */
  settle(n: number, reason: TraceDropReason | null): void {
    this.parked -= n;
    if (reason === null) { this.merged += n; return; }
    this.dropped += n;
    this.dropsBy[REASON_INDEX.get(reason)!]! += n;
  }

  /** A link carries the packet (after `take`). */
  board(): void { this.take(); this.inFlight++; }

  /**
   * A packet comes into hand (n = 1: a frame a link brought, one handed over directly, a parked
   * one resumed) or none is (n = 0: new packets are made aside); returns the hand before, for `restore`.
   */
  swap(n: number): number {
    const before = this.hand;
    this.hand = n;
    return before;
  }

  /** The call that began with `swap` is over: a packet still in hand was lost ('traceId' names it). */
  restore(before: number, traceId: number): void {
    if (this.hand > 0) {
      this.leaks += this.hand;
      if (this.leakIds.length < MAX_IDS) this.leakIds.push(traceId);
    }
    this.hand = before;
  }

  /** Drops by reason (only the reasons seen). */
  drops(): Partial<Record<TraceDropReason, number>> {
    const out: Partial<Record<TraceDropReason, number>> = {};
    REASONS.forEach((r, i) => { if (this.dropsBy[i]! > 0) out[r] = this.dropsBy[i]!; });
    return out;
  }

  /** Every counter, as a plain record (for reports and the viewer). */
  snapshot(): { created: number; delivered: number; dropped: number; merged: number; inFlight: number; parked: number; leaks: number; drops: Partial<Record<TraceDropReason, number>> } {
    return {
      created: this.created, delivered: this.delivered, dropped: this.dropped, merged: this.merged,
      inFlight: this.inFlight, parked: this.parked, leaks: this.leaks, drops: this.drops(),
    };
  }

  /** What is wrong with the balance, or null when every packet is accounted for. */
  check(): string | null {
    const accounted = this.delivered + this.dropped + this.merged + this.inFlight + this.parked;
    const wrong: string[] = [];
    if (this.leaks > 0) wrong.push(`${this.leaks} packet(s) lost without a reason (trace ids ${this.leakIds.join(', ')})`);
    if (accounted + this.leaks !== this.created) {
      wrong.push(`created ${this.created} ≠ delivered ${this.delivered} + dropped ${this.dropped} + merged ${this.merged} + in flight ${this.inFlight} + parked ${this.parked}${this.leaks > 0 ? ` + leaked ${this.leaks}` : ''}`);
    }
    if (this.hand !== 0) wrong.push(`a packet is still in hand (${this.hand}) between events`);
    return wrong.length === 0 ? null : wrong.join('; ');
  }

  /** Throw a LedgerError unless every packet is accounted for. */
  assertBalanced(where = 'the simulation'): void {
    const w = this.check();
    if (w !== null) throw new LedgerError(`packet ledger of ${where}: ${w}`, [...this.leakIds]);
  }
}
