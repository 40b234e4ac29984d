/**
 * Real-time mode for a shard (shard layer): the simulator's virtual clock
 * paced to the wall clock while real peers (a Linux host, another process)
 * exchange datagrams with it through a `UdpUnderlay` (udp-underlay.ts).
 *
 * What: `new RealTimeClock(sim, opts)`; `start()` anchors virtual time
 * `sim.now` to the wall time of that moment, and from then on virtual time
 * tracks wall time one for one: an interval timer every `tickMs` runs every event due
 * up to "anchor + wall time elapsed" (`catchUp()`), then sets the clock to
 * that instant. The underlay calls `catchUp()` itself before it injects a
 * datagram, so a datagram enters the network at the virtual instant that
 * matches its arrival as closely as the event loop allows. `stop()` ends the
 * pacing (the simulator keeps its time and its events).
 * Why real time and not a conservative synchronization: a real host has no
 * notion of our virtual time and gives no lookahead (no promise about the
 * earliest time of its next datagram), so the only consistent clock to share
 * with it is the wall clock. Shards that are all emulators (worker threads)
 * can do better with lookahead (the coordinator's business, not this file's).
 * Limits, as they are:
 *  - No lookahead guarantee across real hosts: a datagram is stamped with the
 *    virtual time at which the event loop got to it, not with its send time
 *    at the peer; the one-way delay of the real path is wall time that passes
 *    (it is not a modelled link delay).
 *  - Jitter: the Node event loop (timers at ≥ 1 ms, garbage collection, the
 *    model's own work) delays ticks and datagram callbacks; a frame the model
 *    sends is handed to the socket when its event runs, up to one tick late.
 *  - Overload: each tick runs at most `maxEventsPerTick` events. When the
 *    model falls behind the wall clock by more than `maxLagMs`, the anchor is
 *    moved (the clock *slips*: virtual time no longer equals wall time since
 *    start, `slips` and `slippedMs` say by how much) rather than running ever
 *    longer bursts that starve the sockets.
 *  - Determinism is lost by nature: what happens depends on real arrival
 *    times. The seeded RNG still drives every model decision.
 * Wall time is read only through `opts.wallClock` (default `performance.now`,
 * milliseconds), as trace/session.ts does, so a test can drive it by hand.
 * Cost: one timer per tick; the events it runs.
 * Neighbours: sim/engine.ts (runUntil, nextTime), udp-underlay.ts (calls
 * `catchUp` before injecting), trace/session.ts (the viewer's pacing, which
 * this mirrors: that one slips by design, speeds up and pauses; this one
 * keeps virtual time equal to wall time unless overloaded).
 */
import type { Sim } from '../sim/engine.js';
import { InputError } from '../errors.js';

export interface RealTimeOptions {
  /** wall milliseconds between ticks (default 1) */
  tickMs?: number;
  /** events one tick or catch-up runs at most (default 100000) */
  maxEventsPerTick?: number;
  /** how far virtual time may fall behind wall time before the clock slips, ms (default 200) */
  maxLagMs?: number;
  /** wall-clock milliseconds (default performance.now) */
  wallClock?: () => number;
  /** a model's exception in a tick: the clock stops and this hears it (default: kept in `error`) */
  onError?: (e: unknown) => void;
}

export class RealTimeClock {
  private readonly tickMs: number;
  private readonly maxEvents: number;
  private readonly maxLagNs: number;
  private readonly wallClock: () => number;
  private readonly onError: (e: unknown) => void;
  private timer: ReturnType<typeof setInterval> | null = null;
  private wall0 = 0;
  private sim0 = 0;
  private inCatchUp = false;
  /** pacing is on */
  running = false;
  /** times the clock slipped (fell more than maxLagMs behind) and the virtual time given up, ms */
  slips = 0;
  slippedMs = 0;
  /** ticks run */
  ticks = 0;
  /** the exception that stopped the clock, or null */
  error: unknown = null;

  constructor(readonly sim: Sim, opts: RealTimeOptions = {}) {
    this.tickMs = positive(opts.tickMs ?? 1, 'tickMs');
    this.maxEvents = positive(opts.maxEventsPerTick ?? 100_000, 'maxEventsPerTick');
    this.maxLagNs = positive(opts.maxLagMs ?? 200, 'maxLagMs') * 1e6;
    this.wallClock = opts.wallClock ?? (() => performance.now());
    this.onError = opts.onError ?? ((e) => { this.error = e; });
  }

  /** Start pacing: virtual time 'sim.now' is the wall time of this call. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.error = null;
    this.wall0 = this.wallClock();
    this.sim0 = this.sim.now;
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.timer.unref?.();
  }

  /** Stop pacing (the simulator keeps its time and events). */
  stop(): void {
    this.running = false;
    if (this.timer !== null) { clearInterval(this.timer); this.timer = null; }
  }

  /** The virtual time that matches the wall clock now, ns. */
  target(): number {
    return this.sim0 + (this.wallClock() - this.wall0) * 1e6;
  }

  /** How far virtual time is behind the wall clock, ns (0 when not running). */
  get lagNs(): number {
    return this.running ? Math.max(0, this.target() - this.sim.now) : 0;
  }

  /**
   * Run the events due up to the wall clock's instant (at most maxEventsPerTick), then set the
   * clock to it; the number of events run. A no-op when not running, and when called from
   * inside an event (a datagram that arrives while the model runs cannot happen in Node, but a
   * re-entrant call must not run events inside an event).
   */
  catchUp(): number {
    if (!this.running || this.inCatchUp) return 0;
    this.inCatchUp = true;
    try {
      const sim = this.sim, t = this.target();
      let n = 0;
      while (n < this.maxEvents && sim.nextTime <= t) { sim.step(); n++; }
      if (sim.nextTime > t) {
        if (t > sim.now) sim.now = t;
      } else if (t - sim.now > this.maxLagNs) {
        // overloaded: move the anchor so virtual time now is "on time" again, and say so
        this.slips++;
        this.slippedMs += (t - sim.now) / 1e6;
        this.wall0 = this.wallClock();
        this.sim0 = sim.now;
      }
      return n;
    } finally {
      this.inCatchUp = false;
    }
  }

  /** One tick of the interval timer: catch up; a model's exception stops the clock. */
  private tick(): void {
    this.ticks++;
    try {
      this.catchUp();
    } catch (e) {
      this.stop();
      this.onError(e);
    }
  }
}

function positive(v: number, field: string): number {
  if (!(Number.isFinite(v) && v > 0)) throw new InputError('REALTIME_BAD_OPTION', field, `${field} must be a positive number, not ${v}`);
  return v;
}
