/**
 * The viewer's session without a server: the clock (run in step with a hand-driven wall clock,
 * step, back by replay), injection that never drives the simulator, the topology snapshot and
 * packet summaries.
 */
import { describe, expect, it } from 'vitest';
import { Session, type InjectResult } from '../../src/trace/session.js';
import type { PacketTrace } from '../../src/trace/store.js';
import { routed } from './topologies.js';
import { constantRate } from '../../src/netstack/tools.js';

/** Everything the store holds, as comparable text: per packet, its records (frames as hex). */
function dump(s: Session): string[] {
  return s.store.all().map((p: PacketTrace) => `${p.id}: ${p.events.map((e) => `${e.seq}@${e.t} ${e.node}:${e.port} ${e.kind} ${e.text} ${e.frame === null ? '' : Buffer.from(e.frame).toString('hex')}`).join(' | ')}`);
}

const ping = { kind: 'ping', from: 'a', to: 'b', port: 80, count: 2, payload: '' } as const;

describe('the session clock', () => {
  it('runs virtual time in step with the wall clock times the speed, in bounded chunks', () => {
    let wall = 0;
    const s = new Session(routed, { wallClock: () => wall, maxEventsPerTick: 5 });
    s.inject(ping);
    expect(s.state()).toEqual({ now: 0, running: false, speed: 1, events: 0 });
    // nothing moves until the clock does: the injection only scheduled the first request
    expect(s.store.size).toBe(0);
    s.setSpeed(0.001);
    expect(s.advance(10)).toBe(1); // 10 ms of wall time at 1/1000: 10 µs of virtual time, the first send and no more
    expect(s.state().now).toBe(10_000);
    wall = 10;
    // a chunk runs at most maxEventsPerTick events; virtual time slips behind rather than blocking
    s.setSpeed(1000);
    expect(s.advance(1)).toBe(5);
    const slipped = s.state().now;
    expect(slipped).toBeLessThan(1e9);
    let n = 0;
    while (s.advance(1) === 5) n++;
    expect(n).toBeGreaterThanOrEqual(1);
    expect(s.state().now).toBeGreaterThan(1e9);
    expect(s.store.query('icmp.type == 0').length).toBe(2);
    s.close();
  });

  it('a chunk also stops when its wall-time budget is spent', () => {
    let wall = 0;
    const s = new Session(() => {
      const t = routed();
      constantRate(t.hostNamed('a'), '10.0.2.2', { pps: 100_000, durationSec: 1 });
      return t;
    }, { wallClock: () => (wall += 100), budgetMs: 15 });
    // every look at the clock is 100 ms later: the first look, after 256 events, ends the chunk
    expect(s.advance(1000)).toBe(256);
    expect(s.state().now).toBeLessThan(1e9);
  });

  it('run and pause from a timer, and tell listeners', async () => {
    let wall = 0;
    const s = new Session(routed, { wallClock: () => wall, tickMs: 5 });
    const seen: boolean[] = [];
    s.onState((st) => seen.push(st.running));
    s.inject(ping);
    s.run();
    wall = 2000;
    await new Promise((r) => setTimeout(r, 50));
    expect(s.state().running).toBe(true);
    // at most a second of wall time per tick: a stalled process does not leap
    expect(s.state().now).toBe(1e9);
    expect(s.store.query('icmp.type == 0').length).toBe(1);
    s.pause();
    expect(seen[0]).toBe(true);
    expect(seen.at(-1)).toBe(false);
    s.close();
  });

  it('an exception from the model pauses the clock and is reported; the session goes on', async () => {
    const errors: unknown[] = [];
    const s = new Session(() => {
      const t = routed();
      t.sim.call(5e6, () => { throw new Error('model bug'); });
      return t;
    }, { tickMs: 1, onError: (e) => errors.push(e) });
    s.setSpeed(1000);
    s.run();
    for (let i = 0; i < 100 && s.state().running; i++) await new Promise((r) => setTimeout(r, 5));
    expect(s.state()).toMatchObject({ running: false, events: 1 });
    expect((errors[0] as Error).message).toBe('model bug');
    s.inject(ping);
    s.step();
    expect(s.state().events).toBe(2);
    s.close();
  });

  it('back replays from the seed: two backs then two steps give back the same state and the same records', () => {
    const s = new Session(routed);
    s.inject(ping);
    for (let i = 0; i < 12; i++) s.step();
    const at12 = { state: s.state(), dump: dump(s) };
    s.back();
    s.back();
    expect(s.state().events).toBe(10);
    const at10 = dump(s);
    expect(at10.join('\n').length).toBeLessThan(at12.dump.join('\n').length);
    s.step();
    s.step();
    expect(s.state()).toEqual(at12.state);
    expect(dump(s)).toEqual(at12.dump);
    // and back to the beginning: before anything ran the injection is still there, at event 0
    while (s.state().events > 0) s.back();
    expect(s.store.size).toBe(0);
    for (let i = 0; i < 12; i++) s.step();
    expect(dump(s)).toEqual(at12.dump);
  });

  it('an injection after a back starts a new history; injections made while running replay at their instant', () => {
    const s = new Session(routed);
    s.setSpeed(1000);
    s.advance(0.5); // half a second of virtual time, nothing to run
    const t0 = s.state().now;
    s.inject(ping);
    s.advance(0.01);
    for (let i = 0; i < 3; i++) s.step();
    const before = dump(s), events = s.state().events;
    s.back();
    s.step();
    expect(dump(s)).toEqual(before);
    // the first record is at the instant of the injection, after a replay too
    expect(s.store.all()[0]!.first).toBe(t0);
    for (let i = 0; i < 5; i++) s.back();
    s.inject({ ...ping, count: 1, from: 'b', to: 'a' });
    while (s.state().events < events + 10) s.step();
    expect(s.store.query('ip.src == 10.0.2.2 && icmp.type == 8').length).toBe(1);
  });

  it('injects TCP requests (with an echo server on the target) and pings without driving the simulator', () => {
    const s = new Session(routed);
    const results: InjectResult[] = [];
    s.start({ kind: 'tcp', from: 'a', to: 'b', port: 8080, count: 1, payload: 'hello' }, (r) => results.push(r));
    s.start({ kind: 'ping', from: 'b', to: '10.0.1.2', port: 80, count: 1, payload: '' }, (r) => results.push(r));
    expect(results).toEqual([]);
    s.setSpeed(1000);
    s.advance(100);
    expect(results.map((r) => r.kind).sort()).toEqual(['ping', 'tcp']);
    const tcp = results.find((r) => r.kind === 'tcp')!;
    expect(tcp.kind === 'tcp' && [new TextDecoder().decode(tcp.result.response), tcp.result.error]).toEqual(['hello', null]);
    const syn = s.store.query('tcp.flags.syn == 1 && tcp.flags.ack == 0');
    expect(s.summary(syn[0]!)).toMatchObject({ protocol: 'TCP', src: '10.0.1.2', dst: '10.0.2.2', path: ['a', 'r', 'b'], verdict: 'delivered' });
    expect(s.summary(syn[0]!).info).toMatch(/^10\.0\.1\.2\.\d+ > 10\.0\.2\.2\.8080: Flags \[S\]/);
  });

  it('refuses an unknown host or address before sending anything, and logs nothing', () => {
    const s = new Session(routed);
    expect(() => s.inject({ ...ping, from: 'nobody' })).toThrow(expect.objectContaining({ code: 'TOPO_NO_NODE' }));
    expect(() => s.inject({ ...ping, to: 'not-an-address' })).toThrow(expect.objectContaining({ code: 'TOOL_BAD_ADDRESS' }));
    expect(() => s.inject({ ...ping, to: 'r' })).not.toThrow();
    expect(() => s.setSpeed(0)).toThrow(expect.objectContaining({ code: 'SESSION_BAD_SPEED' }));
  });

  it('summarises a dropped packet with its reason', () => {
    const s = new Session(() => {
      const t = routed();
      t.links[1]!.cut();
      return t;
    });
    s.inject({ ...ping, count: 1 });
    s.setSpeed(1000);
    s.advance(100);
    const dropped = s.store.all().map((p) => s.summary(p)).filter((p) => p.verdict === 'dropped');
    expect(dropped.length).toBeGreaterThan(0);
    expect(dropped.map((p) => p.reason)).toContain('link-down');
  });
});
