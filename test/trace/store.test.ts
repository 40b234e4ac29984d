import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Sim } from '../../src/sim/engine.js';
import { Link, Port, type PortOwner } from '../../src/sim/link.js';
import type { TraceEvent } from '../../src/sim/tracer.js';
import { TraceStore } from '../../src/trace/store.js';
import { FilterError } from '../../src/trace/filter.js';

describe('packet traces', () => {
  it('costs nothing until someone subscribes, then follows a frame across hops with one id', () => {
    const sim = new Sim();
    // a relay: what arrives on one port leaves by the other, rewritten (as a router or a NAT would)
    class Relay implements PortOwner {
      readonly a: Port; readonly b: Port;
      constructor(readonly name: string) { this.a = new Port(this, 'a'); this.b = new Port(this, 'b'); }
      receive(port: Port, frame: Uint8Array): void { frame[0] = frame[0]! + 1; (port === this.a ? this.b : this.a).send(frame); }
    }
    const end = { name: 'end', got: [] as Uint8Array[], receive(_p: Port, f: Uint8Array): void { this.got.push(f); } };
    const src = { name: 'src', receive(): void { /* nothing comes back */ } };
    const s = new Port(src, 'eth0'), r1 = new Relay('r1'), r2 = new Relay('r2'), e = new Port(end, 'eth0');
    new Link(sim, s, r1.a, { delay: 10 }); new Link(sim, r1.b, r2.a, { delay: 10 }); new Link(sim, r2.b, e, { delay: 10, loss: 0 });
    expect(sim.tracer.on).toBe(false);
    s.send(new Uint8Array(60));
    sim.run();
    expect(sim.tracer.current).toBe(0);

    const store = new TraceStore();
    const detach = store.attach(sim);
    expect(sim.tracer.on).toBe(true);
    for (let i = 0; i < 2; i++) { sim.call(i * 100, () => s.send(new Uint8Array(60))); }
    sim.run();
    expect(store.size).toBe(2);
    const [p1, p2] = store.all();
    expect(p1!.events.map((x) => `${x.kind} ${x.node}:${x.port} ${x.frame![0]}`)).toEqual([
      'tx src:eth0 0', 'rx r1:a 0', 'tx r1:b 1', 'rx r2:a 1', 'tx r2:b 2', 'rx end:eth0 2']);
    expect(p1!.events.map((x) => x.t)).toEqual([30, 40, 40, 50, 50, 60]);
    expect(p2!.id).not.toBe(p1!.id);
    expect(p2!.nodes).toEqual(['src', 'r1', 'r2', 'end']);
    detach();
    expect(sim.tracer.on).toBe(false);
  });

  it('files link drops with their reason', () => {
    const sim = new Sim();
    const sink = { name: 'b', receive(): void {} };
    const a = new Port({ name: 'a', receive(): void {} }, 'eth0'), b = new Port(sink, 'eth0');
    const l = new Link(sim, a, b, { mtu: 100, delay: 5 });
    const store = new TraceStore();
    store.attach(sim);
    a.send(new Uint8Array(200));
    a.send(new Uint8Array(60));
    l.cut(2);
    sim.run();
    expect(store.query('drop').map((p) => p.dropped!.reason)).toEqual(['link-mtu', 'link-down']);
    expect(store.query('drop.reason == "link-mtu" && node == a').length).toBe(1);
    expect(store.query('!drop').length).toBe(0);
  });

  it('files drops with their reason, and filters find them', () => {
    const sim = new Sim();
    const store = new TraceStore();
    store.attach(sim);
    const seen: TraceEvent[] = [];
    sim.tracer.subscribe((e) => seen.push(e));
    sim.tracer.emit('x', 'p', 'drop', 'x:p: the link was cut', { reason: 'link-down' });
    expect(store.query('drop && drop.reason == "link-down" && node == x').length).toBe(1);
    expect(store.query('!drop').length).toBe(0);
    expect(seen[0]!.reason).toBe('link-down');
  });

  it('refuses a bad filter with its column', () => {
    const store = new TraceStore();
    expect(() => store.query('node == ')).toThrow(FilterError);
    try { store.query('drop.reasn == x'); } catch (e) { expect((e as FilterError).column).toBe(1); }
  });

  it('stays within its packet and byte bounds whatever arrives', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 20 }), fc.integer({ min: 200, max: 5000 }),
      fc.array(fc.record({ id: fc.integer({ min: 1, max: 60 }), len: fc.integer({ min: 0, max: 1500 }) }), { maxLength: 200 }),
      (maxPackets, maxBytes, evs) => {
        const store = new TraceStore({ maxPackets, maxBytes });
        let seq = 0;
        for (const e of evs) {
          store.add({ trace: e.id, seq: ++seq, t: seq, node: 'n', port: null, kind: 'tx', text: '', fields: null, reason: null, frame: new Uint8Array(e.len) });
          expect(store.size).toBeLessThanOrEqual(maxPackets);
          expect(store.bytes).toBeLessThanOrEqual(maxBytes);
          expect(store.bytes).toBe(store.all().reduce((n, p) => n + p.bytes, 0));
        }
        const ids = store.all().map((p) => p.id);
        expect([...ids].sort((a, b) => a - b)).toEqual(ids);
      }), { numRuns: 300 });
  });
});
