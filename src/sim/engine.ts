/**
 * The discrete-event engine (sim layer): a virtual clock in nanoseconds, an
 * event heap, a seeded RNG.
 *
 * What: `Sim` keeps events ordered by (time, sequence number): two events at
 * the same instant run in the order they were scheduled, so a run depends
 * only on the seed and the inputs, never on the host machine. `schedule`
 * (after a delay) and `at` (an absolute time) queue an event; `step()` runs
 * the next one, `run()` until none is left (or a bound), `runUntil(t)`
 * every event up to and including t and then sets the clock to t. Time only
 * moves forward: an event scheduled in the past runs at `now`.
 * An event is a `handler.onEvent(arg)` call, the handler an object (a link
 * direction, a timer owner) and `arg` whatever it needs — so the per-packet
 * path passes existing objects instead of allocating closures; `call(delay,
 * fn)` is the convenience for everything else. Event records are recycled
 * through a free list.
 * Why nanoseconds as a float64: integers are exact up to 2^53 ns (104
 * days of virtual time), ample for any scenario, and cheaper than bigint.
 * Invariants: `now` never decreases; a cancelled event never runs; the RNG
 * is the engine's own (Mulberry32 from the seed), so every draw a model
 * makes through it (link loss, random ports) replays exactly.
 * Cost: schedule and step are O(log n) on a binary heap of event records;
 * no allocation once the free list is warm.
 * Neighbours: link.ts (ports and links run on it), tracer.ts (its packet
 * tracing hooks), ledger.ts (its packet ledger), everything above.
 */
import { Mulberry32 } from '../rng.js';
import { Ledger } from './ledger.js';
import { Tracer } from './tracer.js';

/** What an event calls. */
export interface EventHandler {
  onEvent(arg: unknown): void;
}

/** A queued event, recycled after it ran or was cancelled. */
class SimEvent {
  t = 0;
  seq = 0;
  handler: EventHandler | null = null;
  arg: unknown = null;
  /** heap position, -1 when not queued */
  pos = -1;
}

/** A scheduled event: `cancel` it before it runs. */
export type EventId = SimEvent;

/** Calls a plain function (for `call`). */
const FN_HANDLER: EventHandler = { onEvent: (arg) => (arg as () => void)() };

/** Time units as nanoseconds: `ms(1.5)`, `us(10)`, `s(2)`. */
export const ns = (x: number): number => x;
export const us = (x: number): number => x * 1e3;
export const ms = (x: number): number => x * 1e6;
export const sec = (x: number): number => x * 1e9;

export class Sim {
  /** virtual time, ns */
  now = 0;
  readonly seed: number;
  readonly rng: Mulberry32;
  /** the packet ledger (ledger.ts): where every packet is */
  readonly ledger = new Ledger();
  /** packet tracing (tracer.ts): off until someone subscribes */
  readonly tracer: Tracer = new Tracer(this, this.ledger);
  /** events run so far */
  eventsRun = 0;
  private readonly heap: SimEvent[] = [];
  private readonly free: SimEvent[] = [];
  private seq = 0;

  /** Called with every new simulation (the test suite's ledger check registers here). */
  static onCreate: ((sim: Sim) => void) | null = null;

  constructor(opts: { seed?: number } = {}) {
    this.seed = opts.seed ?? 1;
    this.rng = new Mulberry32(this.seed);
    Sim.onCreate?.(this);
  }

  /** Events queued and not yet run. */
  get pending(): number { return this.heap.length; }

  /** The time of the next event, or Infinity. */
  get nextTime(): number { return this.heap.length === 0 ? Infinity : this.heap[0]!.t; }

  /** Queue 'handler.onEvent(arg)' 'delayNs' from now (a negative delay means now). */
  schedule(delayNs: number, handler: EventHandler, arg: unknown = null): EventId {
    return this.at(this.now + (delayNs > 0 ? delayNs : 0), handler, arg);
  }

  /** Queue 'handler.onEvent(arg)' at time 't' (not before now). */
  at(t: number, handler: EventHandler, arg: unknown = null): EventId {
    const e = this.free.pop() ?? new SimEvent();
    e.t = t > this.now ? t : this.now;
    e.seq = this.seq++;
    e.handler = handler;
    e.arg = arg;
    this.push(e);
    return e;
  }

  /** Queue 'fn' 'delayNs' from now. */
  call(delayNs: number, fn: () => void): EventId {
    return this.schedule(delayNs, FN_HANDLER, fn);
  }

  /** Remove a queued event; false when it already ran or was cancelled. */
  cancel(e: EventId): boolean {
    if (e.pos < 0) return false;
    this.removeAt(e.pos);
    this.recycle(e);
    return true;
  }

  /** Run the next event; false when there is none. */
  step(): boolean {
    if (this.heap.length === 0) return false;
    const e = this.heap[0]!;
    this.removeAt(0);
    this.now = e.t;
    const h = e.handler!, a = e.arg;
    this.recycle(e);
    this.eventsRun++;
    // an event starts and ends with no packet in hand (a link's arrival sets its frame's trace id),
    // and so does what a script does between events
    const tr = this.tracer;
    tr.current = 0;
    h.onEvent(a);
    tr.current = 0;
    return true;
  }

  /** Run events until none is left or 'maxEvents' ran; the number run. */
  run(maxEvents = Infinity): number {
    let n = 0;
    while (n < maxEvents && this.step()) n++;
    return n;
  }

  /** Run every event at or before 't', then set the clock to 't' (if later). */
  runUntil(t: number): number {
    let n = 0;
    while (this.heap.length > 0 && this.heap[0]!.t <= t) { this.step(); n++; }
    if (t > this.now) this.now = t;
    return n;
  }

  /** Run for 'dt' ns of virtual time from now. */
  runFor(dt: number): number {
    return this.runUntil(this.now + dt);
  }

  private recycle(e: SimEvent): void {
    e.handler = null;
    e.arg = null;
    e.pos = -1;
    this.free.push(e);
  }

  private less(a: SimEvent, b: SimEvent): boolean {
    return a.t < b.t || (a.t === b.t && a.seq < b.seq);
  }

  private push(e: SimEvent): void {
    const h = this.heap;
    h.push(e);
    e.pos = h.length - 1;
    this.up(e.pos);
  }

  private removeAt(i: number): void {
    const h = this.heap;
    const e = h[i]!;
    e.pos = -1;
    const last = h.pop()!;
    if (last === e) return;
    h[i] = last;
    last.pos = i;
    this.down(i);
    this.up(last.pos);
  }

  private up(i: number): void {
    const h = this.heap;
    const e = h[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pe = h[p]!;
      if (!this.less(e, pe)) break;
      h[i] = pe; pe.pos = i;
      i = p;
    }
    h[i] = e; e.pos = i;
  }

  private down(i: number): void {
    const h = this.heap, n = h.length;
    const e = h[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && this.less(h[r]!, h[l]!) ? r : l;
      const ce = h[c]!;
      if (!this.less(ce, e)) break;
      h[i] = ce; ce.pos = i;
      i = c;
    }
    h[i] = e; e.pos = i;
  }
}
