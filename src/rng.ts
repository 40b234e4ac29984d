/**
 * The seeded random number generator (a leaf module at the root, under every
 * layer: the datapath and the simulator both draw from it) — every random choice in
 * sdnemu comes from one of these, so a run, a test failure or a benchmark's
 * input replays exactly from its seed (DESIGN.md: "Randomness comes from the
 * seeded RNG that the sim owns").
 *
 * What: `mulberry32(seed)` returns a function yielding uniformly distributed
 * uint32s (Tommy Ettinger's mulberry32: one 32-bit state, period 2^32;
 * plenty for traffic and test inputs, not cryptographic).
 * Cost: a few integer multiplies per value; allocates nothing after creation.
 * Neighbours: the simulator (sim/engine.ts owns one; links draw loss from it), tests and benchmarks.
 */

/**
 * The generator as an object whose `nextI32()` gives the same bits as a
 * signed int32: a per-packet caller (the datapath's EMC insertion draw)
 * uses it because V8 boxes a uint32 above 2^31 returned from a call it did
 * not inline, and never an int32.
 */
export class Mulberry32 {
  private a: number;
  constructor(seed: number) { this.a = seed | 0; }
  nextI32(): number {
    const a = (this.a = (this.a + 0x6d2b79f5) | 0);
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return t ^ (t >>> 14);
  }
  /** A float in [0, 1) from the next draw (32 bits of it). */
  nextFloat(): number {
    return (this.nextI32() >>> 0) / 4294967296;
  }
}

/** A uint32 generator seeded with 'seed' (any integer). */
export function mulberry32(seed: number): () => number {
  const g = new Mulberry32(seed);
  return () => g.nextI32() >>> 0;
}
