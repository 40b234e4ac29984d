// Links: delay, serialization, MTU, loss, drop-tail queue, cut and restore, taps, and the frame ledger.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Sim, ms, us } from '../../src/sim/engine.js';
import { Link, Port, parseReorder, type PortOwner } from '../../src/sim/link.js';
import { parseBytes, parseDuration, parseRate, formatDuration } from '../../src/sim/units.js';

class Sink implements PortOwner {
  readonly got: { t: number; len: number; first: number }[] = [];
  constructor(readonly name: string, readonly sim: Sim) {}
  receive(_p: Port, f: Uint8Array): void { this.sim.ledger.deliver(); this.got.push({ t: this.sim.now, len: f.length, first: f[14]! }); }
}
function pair(opts: ConstructorParameters<typeof Link>[3] = {}, seed = 1): { sim: Sim; a: Port; b: Port; link: Link; rx: Sink } {
  const sim = new Sim({ seed });
  const tx = new Sink('h1', sim), rx = new Sink('h2', sim);
  const a = new Port(tx, 'eth0'), b = new Port(rx, 'eth0');
  return { sim, a, b, link: new Link(sim, a, b, opts), rx };
}
const frame = (len: number, tag = 0): Uint8Array => { const f = new Uint8Array(len); f[12] = 0x08; f[14] = tag; return f; };

describe('Link', () => {
  it('delivers after the propagation delay, copies the frame, counts both ends', () => {
    const { sim, a, b, rx } = pair({ delay: '1ms' });
    const f = frame(100, 7);
    a.send(f);
    f[14] = 99; // the sender reuses its buffer
    sim.run();
    expect(rx.got).toEqual([{ t: ms(1), len: 100, first: 7 }]);
    expect([a.stats.txPackets, a.stats.txBytes, b.stats.rxPackets, b.stats.rxBytes]).toEqual([1, 100, 1, 100]);
  });

  it('serializes back to back at the bandwidth: 1 Gbps, 1000-byte frames every 8.192 us, then the delay', () => {
    const { sim, a, rx } = pair({ bandwidth: '1Gbps', delay: '10us' });
    for (let i = 0; i < 3; i++) a.send(frame(1000, i));
    sim.run();
    expect(rx.got.map((g) => g.t)).toEqual([1, 2, 3].map((k) => k * 8192 + us(10)));
    expect(rx.got.map((g) => g.first)).toEqual([0, 1, 2]);
  });

  it('a 10 Gbps link carries 14.88 M minimum-size frames a second', () => {
    const { sim, a, rx } = pair({ bandwidth: '10Gbps' });
    for (let i = 0; i < 1000; i++) a.send(frame(60));
    sim.run();
    expect(1000 / (rx.got.at(-1)!.t / 1e9) / 1e6).toBeCloseTo(14.88, 2);
  });

  it('drops a frame over the MTU (one 802.1Q tag is not payload)', () => {
    const { sim, a, rx } = pair({ mtu: 1500 });
    expect(a.send(frame(1514))).toBe(true);
    expect(a.send(frame(1515))).toBe(false);
    const tagged = frame(1518); tagged[12] = 0x81; tagged[13] = 0x00;
    expect(a.send(tagged)).toBe(true);
    sim.run();
    expect(rx.got.length).toBe(2);
    expect(a.stats.drops.mtu).toBe(1);
  });

  it('loses frames with the given probability, the same ones for the same seed', () => {
    const run = (seed: number): number[] => {
      const { sim, a, rx } = pair({ loss: 0.25 }, seed);
      for (let i = 0; i < 2000; i++) a.send(frame(64, i & 0xff));
      sim.run();
      return rx.got.map((g) => g.first);
    };
    const x = run(5);
    expect(x.length).toBeGreaterThan(1400);
    expect(x.length).toBeLessThan(1600);
    expect(run(5)).toEqual(x);
    expect(run(6)).not.toEqual(x);
  });

  it('drop-tail: a frame that does not fit beside what waits to be serialized is dropped', () => {
    const { sim, a, rx } = pair({ bandwidth: '1Mbps', queue: '4KB' });
    // 1000-byte frames take 1024 bytes of wire time each: the backlog a frame finds is 0, 1024,
    // 2048, 3072 … bytes, so the fourth (3072 + 1000 > 4000) and later ones are dropped
    const sent = Array.from({ length: 6 }, () => a.send(frame(1000)));
    expect(sent).toEqual([true, true, true, false, false, false]);
    sim.run();
    expect(rx.got.length).toBe(3);
    expect(a.stats.drops.queue).toBe(3);
  });

  it('a cut loses the frames in flight and drops what is sent while cut; restore carries traffic again', () => {
    const { sim, a, link, rx } = pair({ delay: '1ms' });
    a.send(frame(64, 1));
    link.cut(us(500));
    sim.call(us(600), () => a.send(frame(64, 2)));
    link.restore(ms(2));
    sim.call(ms(3), () => a.send(frame(64, 3)));
    sim.run();
    expect(rx.got.map((g) => g.first)).toEqual([3]);
    expect(a.stats.drops.down).toBe(2);
  });

  it('detach loses what is in flight and frees both ports to be linked again', () => {
    const { sim, a, b, link, rx } = pair({ delay: '1ms' });
    a.send(frame(64, 1));
    sim.runUntil(us(500));
    link.detach();
    expect([a.link, b.link]).toEqual([null, null]);
    expect(a.send(frame(64, 2))).toBe(false);
    expect(a.stats.drops.unconnected).toBe(1);
    const other = new Sink('h3', sim), c = new Port(other, 'eth0');
    new Link(sim, a, c, { delay: '1ms' });
    a.send(frame(64, 3));
    sim.run();
    expect(rx.got).toEqual([]);
    expect(other.got.map((g) => g.first)).toEqual([3]);
    expect(a.stats.drops.down).toBe(1);
  });

  it('taps see every frame sent and received, with the time', () => {
    const { sim, a, b } = pair({ delay: '5us' });
    const seen: string[] = [];
    a.tap((f, dir, t) => seen.push(`a ${dir} ${f.length} ${t}`));
    const off = b.tap((f, dir, t) => seen.push(`b ${dir} ${f.length} ${t}`));
    a.send(frame(70));
    sim.run();
    off();
    a.send(frame(80));
    sim.run();
    expect(seen).toEqual(['a out 70 0', 'b in 70 5000', 'a out 80 5000']);
  });

  it('every frame is delivered, dropped with one reason, or in flight (property)', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 60, max: 1600 }), fc.integer({ min: 0, max: 20 })), { maxLength: 100 }),
      fc.double({ min: 0, max: 0.5, noNaN: true }), fc.integer({ min: 0, max: 20 }), (sends, loss, cutAt) => {
        const { sim, a, b, link } = pair({ bandwidth: '100Mbps', delay: '3us', loss, queue: 8000 });
        let t = 0;
        for (const [len, gap] of sends) { t += us(gap); sim.at(t, { onEvent: () => a.send(frame(len)) }); }
        link.cut(us(cutAt));
        link.restore(us(cutAt + 5));
        sim.runUntil(us(cutAt) + us(3));
        const d = a.stats.drops;
        const accounted = (): number => b.stats.rxPackets + d.mtu + d.loss + d.queue + d.down + link.inFlight(0);
        sim.run();
        expect(accounted()).toBe(a.stats.txPackets);
      }));
  });

  it('the ledger holds at every event with reordering, loss and a cut (property)', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 60, max: 1600 }), fc.integer({ min: 0, max: 20 })), { maxLength: 80 }),
      fc.double({ min: 0, max: 0.3, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 40 }), (sends, loss, rate, cutAt) => {
        const { sim, a, b, link } = pair({ bandwidth: '100Mbps', delay: '3us', loss, queue: 8000, reorder: { rate, delay: '20us' } });
        let t = 0;
        for (const [len, gap] of sends) { t += us(gap); sim.at(t, { onEvent: () => { a.send(frame(len)); b.send(frame(len)); } }); }
        link.cut(us(cutAt));
        link.restore(us(cutAt + 5));
        const ok = (from: Port, to: Port, side: 0 | 1): boolean => {
          const d = from.stats.drops;
          return to.stats.rxPackets + d.mtu + d.loss + d.queue + d.down + link.inFlight(side) === from.stats.txPackets;
        };
        while (sim.step()) if (!ok(a, b, 0) || !ok(b, a, 1)) return false;
        return link.inFlight(0) === 0 && link.inFlight(1) === 0;
      }));
  });

  it('reorders: a held-back frame arrives after the frames sent behind it; FIFO otherwise', () => {
    const { sim, a, link, rx } = pair({ delay: '1ms', reorder: '30% 2500us' }, 3);
    for (let i = 0; i < 40; i++) sim.at(us(100 * i), { onEvent: () => a.send(frame(100, i)) });
    sim.run();
    const order = rx.got.map((g) => g.first);
    expect([...order].sort((x, y) => x - y)).toEqual([...Array(40).keys()]);
    const held = link.heldBack(0);
    expect(held).toBeGreaterThan(5);
    expect(held).toBeLessThan(20);
    // a frame i held back arrives at 100i us + 1 ms + 2.5 ms: 25 frames sent after it overtake it
    let late = 0;
    for (const g of rx.got) {
      const extra = g.t - (us(100 * g.first) + ms(1));
      expect([0, us(2500)]).toContain(extra);
      if (extra > 0) late++;
    }
    expect(late).toBe(held);
    // the held-back frames keep their own order, and so do the others
    const lateOnes = rx.got.filter((g) => g.t - us(100 * g.first) > ms(1)).map((g) => g.first);
    expect(lateOnes).toEqual([...lateOnes].sort((x, y) => x - y));
    expect(order).not.toEqual([...order].sort((x, y) => x - y));
  });

  it('the same seed reorders the same frames; a link without loss or reordering draws nothing', () => {
    const run = (seed: number): number[] => {
      const { sim, a, rx } = pair({ reorder: { rate: 0.5, delay: 1000 } }, seed);
      for (let i = 0; i < 30; i++) sim.at(i * 100, { onEvent: () => a.send(frame(64, i)) });
      sim.run();
      return rx.got.map((g) => g.first);
    };
    expect(run(5)).toEqual(run(5));
    expect(run(5)).not.toEqual(run(6));
    const { sim, a } = pair({ delay: '1ms', reorder: { rate: 0, delay: '5ms' } }, 9);
    for (let i = 0; i < 10; i++) a.send(frame(64));
    sim.run();
    expect(sim.rng.nextFloat()).toBe(new Sim({ seed: 9 }).rng.nextFloat());
  });

  it('a cut with thousands of frames in flight loses every one of them (none slips through when the queue compacts)', () => {
    const { sim, a, b, link, rx } = pair({ delay: '1ms' });
    for (let i = 0; i < 5000; i++) sim.at(i, { onEvent: () => a.send(frame(64)) });
    sim.runUntil(us(500));
    // 1500 already arrived? none: the delay is 1 ms; all 5000 are in flight
    expect(link.inFlight(0)).toBe(5000);
    sim.runUntil(ms(1) + 1024);
    expect(rx.got.length).toBe(1025);
    link.cut();
    sim.run();
    expect(rx.got.length).toBe(1025);
    expect(a.stats.drops.down).toBe(5000 - 1025);
    expect(b.stats.rxPackets + a.stats.drops.down).toBe(a.stats.txPackets);
  });

  it('netem-like reorder text, and what it refuses (LINK_BAD_REORDER naming the field)', () => {
    expect(parseReorder('25% 5ms')).toEqual({ rate: 0.25, delayNs: 5e6 });
    expect(parseReorder('5ms 25%')).toEqual({ rate: 0.25, delayNs: 5e6 });
    expect(parseReorder(' 0.5   250us ')).toEqual({ rate: 0.5, delayNs: 250e3 });
    expect(parseReorder('100% 1s')).toEqual({ rate: 1, delayNs: 1e9 });
    for (const bad of ['', '25%', '5ms', '25% 5ms 1ms', '150% 5ms', 'often 5ms', '25% soon', '-1% 5ms']) {
      expect(() => parseReorder(bad, 'links[2].reorder'), bad).toThrow(expect.objectContaining({ code: 'LINK_BAD_REORDER', path: 'links[2].reorder' }) as Error);
    }
    // property: a percentage and a duration in either order read back; any other text is an InputError
    fc.assert(fc.property(fc.integer({ min: 0, max: 10000 }), fc.integer({ min: 0, max: 100000 }), fc.boolean(), (bp, us_, swap) => {
      const pct = `${bp / 100}%`, d = `${us_}us`;
      const r = parseReorder(swap ? `${d} ${pct}` : `${pct} ${d}`);
      return Math.abs(r.rate - bp / 10000) < 1e-12 && r.delayNs === us_ * 1000;
    }));
    fc.assert(fc.property(fc.string(), (t) => {
      try { parseReorder(t); return true; } catch (e) { return (e as { code?: string }).code === 'LINK_BAD_REORDER' || (e as { code?: string }).code === 'BAD_QUANTITY'; }
    }));
    const p = (): Port => new Port({ name: 'y', receive: () => {} }, 'p');
    expect(() => new Link(new Sim(), p(), p(), { reorder: { rate: 1.5, delay: 10 } })).toThrow(/bad options/);
    expect(() => new Link(new Sim(), p(), p(), { reorder: { rate: 0.5, delay: -1 } })).toThrow(/bad options/);
  });

  it('refuses to link a port twice, and bad options', () => {
    const { sim, a } = pair();
    expect(() => new Link(sim, a, new Port({ name: 'x', receive: () => {} }, 'p'))).toThrow(/already linked/);
    const p = (): Port => new Port({ name: 'y', receive: () => {} }, 'p');
    expect(() => new Link(sim, p(), p(), { loss: 2 })).toThrow(/bad options/);
    expect(() => new Link(sim, p(), p(), { delay: 'soon' })).toThrow(/'soon' is not a duration/);
  });
});

describe('units', () => {
  it('reads durations, rates and sizes as users write them', () => {
    expect([parseDuration('1ms'), parseDuration('250us'), parseDuration('2s'), parseDuration('7')]).toEqual([1e6, 250e3, 2e9, 7]);
    expect([parseRate('10Gbps'), parseRate('1.5kbps'), parseRate('100 Mbps')]).toEqual([1e10, 1500, 1e8]);
    expect([parseBytes('256KB'), parseBytes('1MiB'), parseBytes('1500B')]).toEqual([256000, 1048576, 1500]);
    expect(() => parseRate('fast', 'links[0].bandwidth')).toThrow(/links\[0\]\.bandwidth: 'fast' is not a rate/);
    expect([formatDuration(1.5e6), formatDuration(250e3), formatDuration(12)]).toEqual(['1.5ms', '250us', '12ns']);
  });
});
