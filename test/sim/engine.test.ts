// The discrete-event engine: order by (time, scheduling order), cancel, runUntil, determinism.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Sim, ms, us } from '../../src/sim/engine.js';

describe('Sim', () => {
  it('runs events by time, and same-time events in the order they were scheduled', () => {
    const sim = new Sim();
    const seen: string[] = [];
    sim.call(ms(2), () => seen.push(`b@${sim.now}`));
    sim.call(ms(1), () => seen.push(`a@${sim.now}`));
    sim.call(ms(2), () => seen.push(`c@${sim.now}`));
    sim.call(0, () => { seen.push(`now@${sim.now}`); sim.call(ms(1), () => seen.push(`a2@${sim.now}`)); });
    expect(sim.run()).toBe(5);
    expect(seen).toEqual(['now@0', 'a@1000000', 'a2@1000000', 'b@2000000', 'c@2000000']);
    expect(sim.eventsRun).toBe(5);
  });

  it('cancel removes a queued event once; runUntil stops at t and moves the clock to it; step runs one', () => {
    const sim = new Sim();
    const seen: number[] = [];
    const e = sim.call(us(5), () => seen.push(5));
    sim.call(us(10), () => seen.push(10));
    sim.call(us(20), () => seen.push(20));
    expect(sim.cancel(e)).toBe(true);
    expect(sim.cancel(e)).toBe(false);
    expect(sim.runUntil(us(15))).toBe(1);
    expect(sim.now).toBe(us(15));
    expect(seen).toEqual([10]);
    expect(sim.nextTime).toBe(us(20));
    expect(sim.step()).toBe(true);
    expect(sim.step()).toBe(false);
    expect(seen).toEqual([10, 20]);
    // an event for the past runs now; time never goes back
    sim.at(0, { onEvent: () => seen.push(sim.now) });
    sim.run();
    expect(seen.at(-1)).toBe(us(20));
  });

  it('equals a sorted list model for any schedule with cancellations (property)', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.boolean()), { maxLength: 200 }), (ops) => {
      const sim = new Sim();
      const got: number[] = [];
      const ids = ops.map(([t], i) => sim.call(t, () => got.push(i)));
      ops.forEach(([, cancel], i) => { if (cancel) sim.cancel(ids[i]!); });
      sim.run();
      const want = ops.map(([t, c], i) => ({ t, c, i })).filter((x) => !x.c).sort((x, y) => x.t - y.t || x.i - y.i).map((x) => x.i);
      expect(got).toEqual(want);
    }));
  });

  it('the same seed draws the same numbers', () => {
    const a = new Sim({ seed: 42 }), b = new Sim({ seed: 42 }), c = new Sim({ seed: 43 });
    const draw = (s: Sim): number[] => Array.from({ length: 5 }, () => s.rng.nextFloat());
    const x = draw(a);
    expect(draw(b)).toEqual(x);
    expect(draw(c)).not.toEqual(x);
    expect(x.every((v) => v >= 0 && v < 1)).toBe(true);
  });
});
