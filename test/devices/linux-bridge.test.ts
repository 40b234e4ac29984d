// The Linux bridge model: learning, ageing on the virtual clock, flooding and its flags, static
// and sticky entries, station moves, hairpin, link-local groups, port states, the bridge device
// as an endpoint, VLAN filtering (ingress, egress bytes, per-VLAN FDB), fdb/vlan show text,
// counters with one drop reason per frame not forwarded, and a property test against a
// map-based learning switch.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Sim, sec } from '../../src/sim/engine.js';
import { Link, Port, type PortOwner } from '../../src/sim/link.js';
import { BR_DROP_REASONS, BridgeError, BridgeFdb, LinuxBridge, type BridgePort, type LinuxBridgeOptions } from '../../src/devices/linux-bridge.js';

/** A host that records every frame it receives (hex). */
class Host implements PortOwner {
  readonly sink = true;
  readonly got: string[] = [];
  readonly port: Port;
  constructor(readonly name: string) { this.port = new Port(this, 'eth0'); }
  receive(_p: Port, f: Uint8Array): void { this.got.push(Buffer.from(f).toString('hex')); }
  take(): string[] { return this.got.splice(0); }
}

const BR_MAC = '02:42:00:00:00:01';
const A = '02:aa:00:00:00:0a', B = '02:aa:00:00:00:0b', C = '02:aa:00:00:00:0c', D = '02:aa:00:00:00:0d';
const BCAST = 'ff:ff:ff:ff:ff:ff';

/** An Ethernet frame (EtherType 0x88b5 unless given), 60 bytes untagged, payload byte 'id'. */
function eth(dst: string, src: string, id: number, opts: { tci?: number; tpid?: number; type?: number } = {}): Uint8Array {
  const m = (s: string): number[] => s.split(':').map((x) => parseInt(x, 16));
  const head = [...m(dst), ...m(src)];
  if (opts.tci !== undefined) head.push((opts.tpid ?? 0x8100) >>> 8, (opts.tpid ?? 0x8100) & 0xff, opts.tci >>> 8, opts.tci & 0xff);
  const type = opts.type ?? 0x88b5;
  head.push(type >>> 8, type & 0xff);
  const f = new Uint8Array(Math.max(60, head.length + 46)).fill(id);
  f.set(head, 0);
  return f;
}
const hex = (f: Uint8Array): string => Buffer.from(f).toString('hex');

interface Net { sim: Sim; br: LinuxBridge; h: Host[]; p: BridgePort[] }

/** A bridge with 'n' ports v0..v(n-1), each linked (no delay) to host h<i>. */
function net(n: number, opts: LinuxBridgeOptions = {}): Net {
  const sim = new Sim();
  const br = new LinuxBridge(sim, 'br0', { mac: BR_MAC, ...opts });
  const h: Host[] = [], p: BridgePort[] = [];
  for (let i = 0; i < n; i++) {
    h.push(new Host(`h${i}`));
    p.push(br.addPort(`v${i}`));
    new Link(sim, p[i]!, h[i]!.port);
  }
  return { sim, br, h, p };
}

/** Send 'f' from host 'i', run the sim, and return what every host got (hex lists). */
function send(x: Net, i: number, f: Uint8Array): string[][] {
  x.h[i]!.port.send(f);
  x.sim.run();
  return x.h.map((h) => h.take());
}

/** Which hosts got exactly 'f' (and nothing else). */
function receivers(got: string[][], f: Uint8Array | string): number[] {
  const want = typeof f === 'string' ? f : hex(f);
  const out: number[] = [];
  got.forEach((g, i) => {
    if (g.length > 0) {
      expect(g).toEqual([want]);
      out.push(i);
    }
  });
  return out;
}

/** Every received frame is forwarded or dropped with one reason. */
function ledger(br: LinuxBridge): void {
  for (const p of br.portList) {
    const c = p.counters;
    expect(c.rxPackets).toBe(c.forwarded + c.drops.reduce((a, b) => a + b, 0));
  }
}

describe('LinuxBridge: learning and forwarding', () => {
  it('floods a broadcast, learns the source, then forwards unicast to the learned port only', () => {
    const x = net(3);
    const f1 = eth(BCAST, A, 1);
    expect(receivers(send(x, 0, f1), f1)).toEqual([1, 2]);
    const f2 = eth(A, B, 2);
    expect(receivers(send(x, 1, f2), f2)).toEqual([0]);
    const f3 = eth(B, A, 3);
    expect(receivers(send(x, 0, f3), f3)).toEqual([1]);
    expect(x.br.fdbShow()).toBe([
      '02:42:00:00:00:01 dev br0 vlan 1 master br0 permanent',
      '02:42:00:00:00:01 dev br0 master br0 permanent',
      '02:aa:00:00:00:0a dev v0 master br0 ',
      '02:aa:00:00:00:0b dev v1 master br0 ',
      '',
    ].join('\n'));
    expect(x.p[0]!.counters.forwarded).toBe(2);
    expect(x.p[1]!.counters.txPackets).toBe(2);
    ledger(x.br);
  });

  it('floods unknown unicast and multicast to every other port, and counts a flood with no target', () => {
    const x = net(4);
    const f = eth(D, A, 1);
    expect(receivers(send(x, 0, f), f)).toEqual([1, 2, 3]);
    const m = eth('01:00:5e:01:02:03', B, 2);
    expect(receivers(send(x, 1, m), m)).toEqual([0, 2, 3]);
    // a two-port bridge with the other port's flood off: unknown unicast reaches nobody
    const y = net(2);
    y.br.setPort('v1', { flood: false });
    expect(receivers(send(y, 0, eth(D, A, 3)), '')).toEqual([]);
    expect(y.p[0]!.counters.dropsByReason()).toEqual({ no_target: 1 });
    ledger(x.br); ledger(y.br);
  });

  it('drops a frame whose destination was learned on its ingress port; hairpin sends it back', () => {
    const x = net(3);
    send(x, 0, eth(BCAST, A, 1));
    const f = eth(A, C, 2); // C sits behind the same port as A (a hub, a VM on the same vNIC)
    expect(receivers(send(x, 0, f), f)).toEqual([]);
    expect(x.p[0]!.counters.dropsByReason()).toEqual({ same_port: 1 });
    x.br.setPort('v0', { hairpin: true });
    expect(receivers(send(x, 0, f), f)).toEqual([0]);
    // with hairpin a flood includes the ingress port too
    const u = eth(D, A, 3);
    expect(receivers(send(x, 0, u), u)).toEqual([0, 1, 2]);
    ledger(x.br);
  });

  it('moves a station that appears on another port', () => {
    const x = net(3);
    send(x, 0, eth(BCAST, A, 1));
    send(x, 2, eth(B, A, 2)); // A now talks from v2
    expect(x.br.moves).toBe(1);
    const f = eth(A, B, 3);
    expect(receivers(send(x, 1, f), f)).toEqual([2]);
    // show order is per device (ports in creation order), so B on v1 comes before A on v2
    expect(x.br.fdbEntries().filter((e) => e.state === 'dynamic').map((e) => `${e.mac} ${e.dev}`)).toEqual([
      `${B} v1`, `${A} v2`,
    ]);
  });

  it('ignores invalid sources and runts; a frame from the bridge MAC is forwarded but not learned', () => {
    const x = net(2);
    send(x, 0, eth(BCAST, '01:00:5e:00:00:01', 1));
    send(x, 0, eth(BCAST, '00:00:00:00:00:00', 2));
    x.h[0]!.port.send(new Uint8Array(13));
    x.sim.run();
    expect(x.p[0]!.counters.dropsByReason()).toEqual({ invalid_src: 2, too_short: 1 });
    const spoof = eth(D, BR_MAC, 3);
    expect(receivers(send(x, 0, spoof), spoof)).toEqual([1]);
    expect(x.br.fdbEntries().filter((e) => e.mac === BR_MAC).map((e) => e.dev)).toEqual(['br0', 'br0']);
    ledger(x.br);
  });
});

describe('LinuxBridge: ageing on the virtual clock', () => {
  it('forgets a station ageing_time after it was last seen (300 s by default), refreshed by its frames', () => {
    const x = net(3);
    send(x, 0, eth(BCAST, A, 1));
    x.sim.runUntil(sec(299.999));
    const f = eth(A, B, 2);
    expect(receivers(send(x, 1, f), f)).toEqual([0]);
    x.sim.runUntil(sec(100 + 200)); // exactly updated + 300 s: expired (time_before_eq)
    expect(receivers(send(x, 1, f), f)).toEqual([0, 2]);
    // refresh: seen at 300 s, still known at 599 s, gone at 601 s
    send(x, 0, eth(B, A, 3));
    x.sim.runUntil(sec(599));
    expect(receivers(send(x, 1, f), f)).toEqual([0]);
    x.sim.runUntil(sec(601));
    expect(receivers(send(x, 1, f), f)).toEqual([0, 2]);
    expect(x.br.fdbEntries().filter((e) => e.state === 'dynamic').map((e) => e.mac)).toEqual([B]);
  });

  it('takes ageing_time as text; 0 means never learn (always flood)', () => {
    const x = net(3, { ageingTime: '10s' });
    expect(x.br.ageingTime).toBe(sec(10));
    send(x, 0, eth(BCAST, A, 1));
    x.sim.runUntil(sec(9));
    expect(receivers(send(x, 1, eth(A, B, 2)), eth(A, B, 2))).toEqual([0]);
    x.sim.runUntil(sec(20));
    expect(x.br.fdbEntries().filter((e) => e.state === 'dynamic').length).toBe(0);
    x.br.ageingTime = 0;
    send(x, 0, eth(BCAST, A, 3));
    expect(receivers(send(x, 1, eth(A, B, 4)), eth(A, B, 4))).toEqual([0, 2]);
    expect(x.br.fdbEntries().filter((e) => e.state === 'dynamic')).toEqual([]);
    expect(() => { x.br.ageingTime = -1; }).toThrow(BridgeError);
  });

  it('schedules no events: sim.run() ends without moving the clock to an ageing deadline', () => {
    const x = net(2);
    send(x, 0, eth(BCAST, A, 1));
    expect(x.sim.pending).toBe(0);
    expect(x.sim.now).toBe(0);
  });

  it('sweeps expired entries before growing the table', () => {
    const x = net(2, { ageingTime: '1s' });
    const macOf = (i: number): string => `02:cc:00:00:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
    for (let i = 0; i < 200; i++) send(x, 0, eth(BCAST, macOf(i), 1));
    const cap = x.br.fdb.keyHi.length;
    x.sim.runUntil(sec(5));
    for (let i = 200; i < 400; i++) send(x, 0, eth(BCAST, macOf(i), 1));
    expect(x.br.fdb.keyHi.length).toBe(cap);
    expect(x.br.fdbEntries().filter((e) => e.state === 'dynamic').length).toBe(200);
  });
});

describe('LinuxBridge: static, permanent and sticky entries', () => {
  it('a static entry forwards and never ages, but moves when its MAC is learned elsewhere; sticky does not move', () => {
    const x = net(3);
    x.br.fdbAdd(A, { dev: 'v2', state: 'static' });
    x.br.fdbAdd(C, { dev: 'v2', state: 'static', sticky: true });
    x.sim.runUntil(sec(1000));
    const f = eth(A, B, 1);
    expect(receivers(send(x, 1, f), f)).toEqual([2]);
    send(x, 0, eth(BCAST, A, 2)); // br_fdb_update moves it: only sticky and local entries stay
    send(x, 0, eth(BCAST, C, 3));
    expect(receivers(send(x, 1, f), f)).toEqual([0]);
    const g = eth(C, B, 4);
    expect(receivers(send(x, 1, g), g)).toEqual([2]);
    // without a vlan, fdb add also adds the entry in each VLAN of the port (VLAN 1 here); the
    // frames are in VID 0 (no filtering), so only the VID 0 entry of A moved
    expect(x.br.fdbShow().split('\n').filter((l) => l.includes(':aa:'))).toEqual([
      '02:aa:00:00:00:0a dev v0 master br0 static',
      '02:aa:00:00:00:0b dev v1 master br0 ',
      '02:aa:00:00:00:0c dev v2 vlan 1 sticky master br0 static',
      '02:aa:00:00:00:0c dev v2 sticky master br0 static',
      '02:aa:00:00:00:0a dev v2 vlan 1 master br0 static',
    ]);
  });

  it('the default state is permanent: the address becomes the bridge\'s own (local) and is not forwarded', () => {
    const x = net(3);
    const seen: string[] = [];
    x.br.local = { name: 'stack', sink: true, receive: (_p, fr) => seen.push(hex(fr)) };
    x.br.fdbAdd(D, { dev: 'v2' });
    const f = eth(D, A, 1);
    expect(receivers(send(x, 0, f), f)).toEqual([]);
    expect(seen).toEqual([hex(f)]);
    expect(x.p[0]!.counters.dropsByReason()).toEqual({ local: 1 });
    expect(x.br.fdbShow()).toContain('02:aa:00:00:00:0d dev v2 master br0 permanent\n');
    expect(x.br.fdbShow()).toContain('02:aa:00:00:00:0d dev v2 vlan 1 master br0 permanent\n');
  });

  it('refuses what the kernel refuses', () => {
    const x = net(2);
    x.br.fdbAdd(A, { dev: 'v0', state: 'static', vlan: 1 });
    const code = (fn: () => void): string => { try { fn(); return 'ok'; } catch (e) { return (e as BridgeError).code; } };
    expect(code(() => x.br.fdbAdd(A, { dev: 'v0', state: 'static', vlan: 1 }))).toBe('BRIDGE_FDB_EXISTS');
    expect(code(() => x.br.fdbAdd(A, { dev: 'v1', state: 'static', vlan: 1, mode: 'replace' }))).toBe('ok');
    expect(x.br.fdbEntries().find((e) => e.mac === A)!.dev).toBe('v1');
    expect(code(() => x.br.fdbAdd(B, { dev: 'v0', sticky: true }))).toBe('BRIDGE_BAD_FDB');
    expect(code(() => x.br.fdbAdd(B, { dev: 'br0', state: 'static' }))).toBe('BRIDGE_BAD_FDB');
    expect(code(() => x.br.fdbAdd(B, { dev: 'v0', vlan: 10 }))).toBe('BRIDGE_BAD_FDB');
    expect(code(() => x.br.fdbAdd('00:00:00:00:00:00', { dev: 'v0' }))).toBe('BRIDGE_BAD_MAC');
    expect(code(() => x.br.fdbAdd(B, { dev: 'v9' }))).toBe('BRIDGE_NO_PORT');
    x.br.setPort('v0', { state: 'disabled' });
    expect(code(() => x.br.fdbAdd(B, { dev: 'v0', state: 'dynamic' }))).toBe('BRIDGE_FDB_EPERM');
    expect(code(() => x.br.fdbAdd(B, { dev: 'v0', state: 'static' }))).toBe('ok');
    expect(code(() => x.br.fdbDel(B, { dev: 'v1' }))).toBe('BRIDGE_FDB_NOENT');
    expect(code(() => x.br.fdbDel(B, { dev: 'v0' }))).toBe('ok');
    expect(x.br.fdbEntries().some((e) => e.mac === B)).toBe(false);
  });

  it('fdbFlush removes dynamic entries only', () => {
    const x = net(2);
    send(x, 0, eth(BCAST, A, 1));
    x.br.fdbAdd(B, { dev: 'v1', state: 'static' });
    x.br.fdbFlush();
    expect(x.br.fdbEntries().map((e) => `${e.mac} ${e.state}`)).toEqual([
      `${BR_MAC} permanent`, `${BR_MAC} permanent`, `${B} static`, `${B} static`,
    ]);
  });
});

describe('LinuxBridge: port flags and states', () => {
  it('flood, mcast_flood and bcast_flood gate floods per kind; learning off learns nothing', () => {
    const x = net(4);
    x.br.setPort('v1', { flood: false });
    x.br.setPort('v2', { mcastFlood: false });
    x.br.setPort('v3', { bcastFlood: false, learning: false });
    const u = eth(D, A, 1), m = eth('33:33:00:00:00:01', A, 2), b = eth(BCAST, A, 3);
    expect(receivers(send(x, 0, u), u)).toEqual([2, 3]);
    expect(receivers(send(x, 0, m), m)).toEqual([1, 3]);
    expect(receivers(send(x, 0, b), b)).toEqual([1, 2]);
    // known unicast ignores the flood flag
    send(x, 1, eth(BCAST, B, 4));
    const k = eth(B, A, 5);
    expect(receivers(send(x, 0, k), k)).toEqual([1]);
    send(x, 3, eth(BCAST, C, 6));
    expect(x.br.fdbEntries().some((e) => e.mac === C)).toBe(false);
  });

  it('a learning port learns but forwards nothing; disabled and blocking ports drop', () => {
    const x = net(3);
    x.br.setPort('v0', { state: 'learning' });
    expect(receivers(send(x, 0, eth(BCAST, A, 1)), '')).toEqual([]);
    expect(x.br.fdbEntries().some((e) => e.mac === A && e.dev === 'v0')).toBe(true);
    // nothing leaves through a non-forwarding port either
    const f = eth(A, B, 2);
    expect(receivers(send(x, 1, f), f)).toEqual([]);
    expect(x.p[1]!.counters.dropsByReason()).toEqual({ egress_filtered: 1 });
    x.br.setPort('v2', { state: 'blocking' });
    x.br.setPort('v1', { state: 'disabled' });
    send(x, 1, eth(BCAST, C, 3));
    send(x, 2, eth(BCAST, C, 3));
    expect(x.p[1]!.counters.drops[BR_DROP_REASONS.indexOf('port_state')]).toBe(1);
    expect(x.p[2]!.counters.dropsByReason()).toEqual({ port_state: 1 });
    expect(x.p[0]!.counters.dropsByReason()).toEqual({ learning_state: 1 });
    expect(x.p[0]!.state).toBe('learning');
    ledger(x.br);
  });

  it('adds and removes ports at run time; a removed port takes its entries with it', () => {
    const x = net(3);
    send(x, 2, eth(BCAST, C, 1));
    x.br.fdbAdd(D, { dev: 'v2', state: 'static' });
    x.h[2]!.port.send(eth(BCAST, C, 9)); // in flight when the port goes
    x.br.removePort('v2');
    x.sim.run();
    expect(x.p[2]!.counters.dropsByReason()).toEqual({ port_removed: 1 });
    expect(x.br.fdbEntries().filter((e) => e.mac === C || e.mac === D)).toEqual([]);
    const f = eth(C, A, 2);
    expect(receivers(send(x, 0, f), f)).toEqual([1]);
    const h3 = new Host('h3');
    const p3 = x.br.addPort('v3');
    new Link(x.sim, p3, h3.port);
    x.h.push(h3);
    expect(receivers(send(x, 0, f), f)).toEqual([1, 3]);
    expect(x.br.portList.map((p) => p.name)).toEqual(['v0', 'v1', 'v3']);
    expect(() => x.br.addPort('v0')).toThrow(/exists/);
  });
});

describe('LinuxBridge: link-local groups 01:80:c2:00:00:0X', () => {
  it('floods STP BPDUs (STP off), drops pause frames unlearned, keeps LLDP but learns its source', () => {
    const x = net(3);
    const stp = eth('01:80:c2:00:00:00', A, 1);
    expect(receivers(send(x, 0, stp), stp)).toEqual([1, 2]);
    expect(receivers(send(x, 1, eth('01:80:c2:00:00:01', B, 2)), '')).toEqual([]);
    const lldp = eth('01:80:c2:00:00:0e', C, 3, { type: 0x88cc });
    expect(receivers(send(x, 2, lldp), lldp)).toEqual([]);
    expect(x.br.fdbEntries().filter((e) => e.state === 'dynamic').map((e) => `${e.mac} ${e.dev}`)).toEqual([`${A} v0`, `${C} v2`]);
    expect(x.p[1]!.counters.dropsByReason()).toEqual({ pause: 1 });
    expect(x.p[2]!.counters.dropsByReason()).toEqual({ link_local: 1 });
  });

  it('forwards a group whose bit is set in group_fwd_mask; bits 0-2 cannot be set', () => {
    const x = net(3, { groupFwdMask: 1 << 0xe });
    const lldp = eth('01:80:c2:00:00:0e', C, 3, { type: 0x88cc });
    expect(receivers(send(x, 2, lldp), lldp)).toEqual([0, 1]);
    const eapol = eth('01:80:c2:00:00:03', C, 4, { type: 0x888e });
    expect(receivers(send(x, 2, eapol), eapol)).toEqual([]);
    expect(() => { x.br.groupFwdMask = 0x4; }).toThrow(BridgeError);
  });
});

describe('LinuxBridge: the bridge device as an endpoint', () => {
  it('hands up frames for its MAC (not forwarded), broadcasts (also flooded), not unknown unicast unless promisc', () => {
    const x = net(2);
    const seen: string[] = [];
    const stack: PortOwner = { name: 'br0-stack', sink: true, receive: (p, fr) => { expect(p).toBe(x.br.localPort); seen.push(hex(fr)); } };
    x.br.local = stack;
    expect(x.br.local).toBe(stack);
    const toBr = eth(BR_MAC, A, 1);
    expect(receivers(send(x, 0, toBr), toBr)).toEqual([]);
    const b = eth(BCAST, A, 2);
    expect(receivers(send(x, 0, b), b)).toEqual([1]);
    const u = eth(D, A, 3);
    expect(receivers(send(x, 0, u), u)).toEqual([1]);
    expect(seen).toEqual([hex(toBr), hex(b)]);
    x.br.promisc = true;
    send(x, 0, u);
    expect(seen.at(-1)).toBe(hex(u));
    ledger(x.br);
  });

  it('a frame for a port\'s own MAC is the bridge\'s too', () => {
    const sim = new Sim();
    const br = new LinuxBridge(sim, 'br0', { mac: BR_MAC });
    const p0 = br.addPort('v0', { mac: '02:42:00:00:00:10' });
    const h0 = new Host('h0');
    new Link(sim, p0, h0.port);
    const seen: string[] = [];
    br.local = { name: 's', sink: true, receive: (_p, fr) => seen.push(hex(fr)) };
    h0.port.send(eth('02:42:00:00:00:10', A, 1));
    sim.run();
    expect(seen.length).toBe(1);
    expect(br.fdbShow()).toBe([
      '02:42:00:00:00:01 dev br0 vlan 1 master br0 permanent',
      '02:42:00:00:00:01 dev br0 master br0 permanent',
      '02:aa:00:00:00:0a dev v0 master br0 ',
      '02:42:00:00:00:10 dev v0 vlan 1 master br0 permanent',
      '02:42:00:00:00:10 dev v0 master br0 permanent',
      '',
    ].join('\n'));
  });

  it('sends from br0: floods broadcast past bcast_flood off, unicast to the learned port, learns nothing', () => {
    const x = net(3);
    x.br.local = { name: 'stack', sink: true, receive: () => undefined };
    const lp = x.br.localPort!;
    const taps: string[] = [];
    lp.tap((_f, dir) => taps.push(dir));
    x.br.setPort('v1', { bcastFlood: false, flood: false });
    const b = eth(BCAST, BR_MAC, 1);
    expect(lp.send(b)).toBe(true);
    x.sim.run();
    expect(x.h.map((h) => h.take().length)).toEqual([1, 1, 1]);
    send(x, 2, eth(BCAST, C, 2));
    const u = eth(C, BR_MAC, 3);
    lp.send(u);
    x.sim.run();
    expect(receivers(x.h.map((h) => h.take()), u)).toEqual([2]);
    const unknown = eth(D, BR_MAC, 4);
    lp.send(unknown);
    x.sim.run();
    expect(receivers(x.h.map((h) => h.take()), unknown)).toEqual([0, 2]);
    expect(lp.send(eth(BR_MAC, BR_MAC, 5))).toBe(false);
    expect(x.br.devCounters.dropsByReason()).toEqual({ local: 1 });
    expect(x.br.fdbEntries().filter((e) => e.state === 'dynamic').map((e) => e.mac)).toEqual([C]);
    expect(taps).toEqual(['out', 'in', 'out', 'out', 'out']); // 'in': C's broadcast handed up
  });
});

describe('LinuxBridge: VLAN filtering', () => {
  /** v0 access VLAN 10, v1 trunk tagged 10 and 20 (and untagged 1), v2 access 20 only, v3 default (1). */
  function vnet(): Net {
    const x = net(4, { vlanFiltering: true });
    x.br.vlanAdd('v0', 10, { pvid: true, untagged: true });
    x.br.vlanAdd('v1', 10, { vidEnd: 20 });
    x.br.vlanDel('v1', 11, 19);
    x.br.vlanDel('v2', 1);
    x.br.vlanAdd('v2', 20, { pvid: true, untagged: true });
    return x;
  }

  it('bridge vlan show prints the memberships', () => {
    expect(vnet().br.vlanShow()).toBe([
      'port              vlan-id  ',
      'br0               1 PVID Egress Untagged',
      'v0                1 Egress Untagged',
      '                  10 PVID Egress Untagged',
      'v1                1 PVID Egress Untagged',
      '                  10',
      '                  20',
      'v2                20 PVID Egress Untagged',
      'v3                1 PVID Egress Untagged',
      '',
    ].join('\n'));
  });

  it('untagged ingress takes the pvid; egress is tagged or untagged per membership', () => {
    const x = vnet();
    const f = eth(BCAST, A, 1);
    const got = send(x, 0, f);
    expect(got[1]).toEqual([hex(eth(BCAST, A, 1, { tci: 10 }))]);
    expect([got[0], got[2], got[3]]).toEqual([[], [], []]);
    // tagged 10 from the trunk to A: leaves v0 untagged
    const g = eth(A, B, 2, { tci: 10 });
    expect(send(x, 1, g)).toEqual([[hex(eth(A, B, 2))], [], [], []]);
    // tagged 20 broadcast from the trunk: v2 untagged
    expect(send(x, 1, eth(BCAST, B, 3, { tci: 20 }))).toEqual([[], [], [hex(eth(BCAST, B, 3))], []]);
    // untagged from v3 (VLAN 1): v0 and v1 are members of 1 untagged
    const h = eth(BCAST, D, 4);
    expect(receivers(send(x, 3, h), h)).toEqual([0, 1]);
  });

  it('drops a VID the port does not carry, and untagged frames on a port without pvid', () => {
    const x = vnet();
    expect(send(x, 1, eth(BCAST, B, 1, { tci: 30 })).flat()).toEqual([]);
    expect(send(x, 2, eth(BCAST, C, 2, { tci: 10 })).flat()).toEqual([]);
    x.br.vlanAdd('v2', 20); // re-added without pvid: the pvid is gone (kernel semantics)
    expect(send(x, 2, eth(BCAST, C, 3)).flat()).toEqual([]);
    expect(x.p[1]!.counters.dropsByReason()).toEqual({ vlan_ingress: 1 });
    expect(x.p[2]!.counters.dropsByReason()).toEqual({ vlan_ingress: 2 });
    expect(x.br.fdbEntries().some((e) => e.mac === B || e.mac === C)).toBe(false);
  });

  it('a priority-tagged frame takes the pvid and keeps its PCP', () => {
    const x = vnet();
    send(x, 1, eth(BCAST, B, 1, { tci: 10 }));
    const f = eth(B, A, 2, { tci: (5 << 13) | 0 });
    expect(send(x, 0, f)).toEqual([[], [hex(eth(B, A, 2, { tci: (5 << 13) | 10 }))], [], []]);
    // a tagged frame leaving tagged keeps PCP and DEI
    const g = eth(BCAST, B, 3, { tci: (3 << 13) | (1 << 12) | 20 });
    expect(send(x, 1, g)[2]).toEqual([hex(eth(BCAST, B, 3))]);
  });

  it('learns per VLAN: one MAC in two VLANs on two ports', () => {
    const x = vnet();
    send(x, 0, eth(BCAST, A, 1)); // A in 10 on v0
    send(x, 2, eth(BCAST, A, 2)); // A in 20 on v2
    const to10 = eth(A, B, 3, { tci: 10 }), to20 = eth(A, B, 4, { tci: 20 });
    expect(send(x, 1, to10)).toEqual([[hex(eth(A, B, 3))], [], [], []]);
    expect(send(x, 1, to20)).toEqual([[], [], [hex(eth(A, B, 4))], []]);
    expect(x.br.fdbShow().split('\n').filter((l) => l.startsWith('02:aa'))).toEqual([
      '02:aa:00:00:00:0a dev v0 vlan 10 master br0 ',
      '02:aa:00:00:00:0b dev v1 vlan 20 master br0 ',
      '02:aa:00:00:00:0b dev v1 vlan 10 master br0 ',
      '02:aa:00:00:00:0a dev v2 vlan 20 master br0 ',
    ]);
  });

  it('a known destination on a port outside the VID is not reached (egress filtered)', () => {
    const x = vnet();
    x.br.fdbAdd(C, { dev: 'v2', state: 'static', vlan: 20 });
    x.br.fdbAdd(C, { dev: 'v3', state: 'static', vlan: 1 });
    x.br.vlanDel('v3', 1);
    const f = eth(C, D, 1);
    send(x, 1, f);
    expect(x.p[1]!.counters.dropsByReason()).toEqual({ egress_filtered: 1 });
  });

  it('802.1ad frames are untagged for an 802.1Q bridge: they get the pvid tag outside', () => {
    const x = vnet();
    const q = eth(BCAST, A, 1, { tpid: 0x88a8, tci: 99 });
    const got = send(x, 0, q);
    const out = new Uint8Array(q.length + 4);
    out.set(q.subarray(0, 12)); out.set([0x81, 0x00, 0x00, 10], 12); out.set(q.subarray(12), 16);
    expect(got[1]).toEqual([hex(out)]);
  });

  it('with filtering off tags pass untouched and everything is VID 0', () => {
    const x = net(3);
    const f = eth(BCAST, A, 1, { tci: 123 });
    expect(receivers(send(x, 0, f), f)).toEqual([1, 2]);
    expect(x.br.fdbEntries().find((e) => e.mac === A)!.vlan).toBe(0);
  });

  it('br0 receives only in its own VLANs, untagged per its membership', () => {
    const x = vnet();
    const seen: string[] = [];
    x.br.local = { name: 's', sink: true, receive: (_p, fr) => seen.push(hex(fr)) };
    send(x, 0, eth(BCAST, A, 1)); // VLAN 10: br0 is not a member
    send(x, 3, eth(BCAST, D, 2)); // VLAN 1: untagged
    expect(seen).toEqual([hex(eth(BCAST, D, 2))]);
    x.br.vlanAdd('br0', 10);
    send(x, 0, eth(BCAST, A, 3));
    expect(seen.at(-1)).toBe(hex(eth(BCAST, A, 3, { tci: 10 })));
    // to br0's MAC in VLAN 10: a local entry exists now (vlan 10), so it is not flooded
    const u = eth(BR_MAC, A, 4);
    expect(send(x, 0, u).flat()).toEqual([]);
    expect(seen.at(-1)).toBe(hex(eth(BR_MAC, A, 4, { tci: 10 })));
    x.br.vlanDel('br0', 10);
    expect(send(x, 0, u)[1]).toEqual([hex(eth(BR_MAC, A, 4, { tci: 10 }))]); // unknown now: flooded
  });

  it('br0 sends in its pvid or a tagged VLAN it carries', () => {
    const x = vnet();
    x.br.local = { name: 's', sink: true, receive: () => undefined };
    const lp = x.br.localPort!;
    lp.send(eth(BCAST, BR_MAC, 1));
    x.sim.run();
    expect(x.h.map((h) => h.take())).toEqual([[hex(eth(BCAST, BR_MAC, 1))], [hex(eth(BCAST, BR_MAC, 1))], [], [hex(eth(BCAST, BR_MAC, 1))]]);
    expect(lp.send(eth(BCAST, BR_MAC, 2, { tci: 20 }))).toBe(false);
    expect(x.br.devCounters.dropsByReason()).toEqual({ vlan_ingress: 1 });
    x.br.vlanAdd('br0', 20);
    lp.send(eth(BCAST, BR_MAC, 3, { tci: 20 }));
    x.sim.run();
    expect(x.h.map((h) => h.take())).toEqual([[], [hex(eth(BCAST, BR_MAC, 3, { tci: 20 }))], [hex(eth(BCAST, BR_MAC, 3))], []]);
  });

  it('refuses bad VLAN ids and ranges', () => {
    const x = vnet();
    expect(() => x.br.vlanAdd('v0', 0)).toThrow(BridgeError);
    expect(() => x.br.vlanAdd('v0', 4095)).toThrow(BridgeError);
    expect(() => x.br.vlanAdd('v0', 5, { vidEnd: 7, pvid: true })).toThrow(BridgeError);
    expect(() => x.br.vlanDel('v0', 99)).toThrow(/not in VLAN 99/);
  });
});

describe('BridgeFdb', () => {
  it('agrees with a Map under random inserts and removals, through growth and probe-chain repairs', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 300 })), { maxLength: 600 }), (ops) => {
      const t = new BridgeFdb(16);
      const model = new Map<number, number>();
      for (const [ins, k] of ops) {
        const hi = k & 3, lo = (k * 0x9e3779b1) | 0;
        const id = t.find(hi, lo);
        expect(id >= 0).toBe(model.has(k));
        if (ins && id < 0) model.set(k, t.insert(hi, lo, k, 0, 0));
        else if (!ins && id >= 0) { t.remove(id); model.delete(k); }
      }
      expect(t.size).toBe(model.size);
      for (const [k, id] of model) {
        expect(t.find(k & 3, (k * 0x9e3779b1) | 0)).toBe(id);
        expect(t.port[id]).toBe(k);
      }
    }));
  });
});

describe('LinuxBridge against a map-based learning switch (property)', () => {
  it('every frame reaches exactly the ports the reference model says', () => {
    const macs = [A, B, C, D, '02:aa:00:00:00:0e', '02:aa:00:00:00:0f'];
    const dsts = [...macs, BCAST, '01:00:5e:00:00:fb', '02:bb:00:00:00:01'];
    fc.assert(fc.property(fc.integer({ min: 2, max: 6 }), fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat()), { minLength: 1, maxLength: 60 }), (n, sends) => {
      const x = net(n);
      const where = new Map<string, number>();
      sends.forEach(([a, b, c], k) => {
        const port = a % n, src = macs[b % macs.length]!, dst = dsts[c % dsts.length]!;
        const f = eth(dst, src, k & 0xff);
        where.set(src, port); // the kernel learns before it decides
        let want: number[];
        const known = where.get(dst);
        if ((parseInt(dst.slice(0, 2), 16) & 1) === 1 || known === undefined) want = [...Array(n).keys()].filter((i) => i !== port);
        else want = known === port ? [] : [known];
        expect(receivers(send(x, port, f), f)).toEqual(want);
      });
      ledger(x.br);
    }), { numRuns: 150 });
  });
});
