/**
 * A viewer session (trace layer): one running simulation, its clock under
 * the viewer's control, the traffic the viewer injects, and the trace
 * store the viewer reads.
 *
 * What: `new Session(build, opts)` calls `build()` for a `Topology`,
 * attaches a `TraceStore` to its simulator and runs `opts.setup` (traffic
 * that belongs to the scenario: the demo's pings, a topology file's steps),
 * which schedules packets without driving the simulator. Then the clock:
 *  - `run()` advances virtual time in step with wall time × `speed`, from a
 *    timer every `tickMs`, running at most `maxEventsPerTick` events and
 *    `budgetMs` of wall time per tick: the Node event loop keeps serving
 *    between ticks, and when the simulation cannot keep up virtual time
 *    slips behind rather than blocking;
 *  - `pause()`, `step()` (one event, pausing first), `setSpeed(x)`;
 *  - `back()` (Packet Tracer's Back): rebuild from `build()` — same seed,
 *    so the same simulation — with a fresh store, and replay to the event
 *    before the current one, re-applying every injected command at the
 *    point it was injected.
 * Injection: `inject(cmd)` starts a ping or a TCP request (netstack/tools.ts
 * `startPing`/`startTcpRequest`: scheduled on the simulator, never driving
 * it) at the current instant and logs it with the number of events run
 * and the virtual time, which is all a replay needs. A TCP request to a
 * host by name first gets an echo server on that port unless one is there.
 * The log is a timeline: after a `back`, stepping forward re-applies the
 * logged commands as their point comes again; a new injection discards the
 * commands beyond the current point (a new branch of history).
 * Invariants: the same build, setup and log give the same events, the same
 * trace ids and the same records (the engine is deterministic); records
 * made during a replay fill the new store but are not fed to `onRecord`
 * listeners (the viewer sees the new state, not a flood of old packets).
 * Wall time is read only through `opts.wallClock` (default
 * `performance.now`), so tests can drive the clock by hand.
 * Forks (`fork(packet, seq)`, ovn-trace's): at a load-balancing decision
 * (a record with `lb`, sim/tracer.ts) what would each other backend have
 * done? For each other choice, the same simulation is built again with
 * that choice forced on that packet at that node (Tracer.force), replayed
 * to the current event with the same injections, then run on for up to
 * FORK_HORIZON_NS of virtual time (and FORK_MAX_EVENTS events) for the
 * packet to finish; the packet's records in that world are the fork. The
 * live topology, store and listeners are untouched.
 * Cost: a back replays every event from zero (the simulator has no
 * snapshots): O(events so far); a fork, that once per other choice. A
 * tick costs its events.
 * Neighbours: topology/ (what runs), netstack/tools.ts (the traffic),
 * store.ts (the records), server.ts (the one caller: it serves a
 * TraceSource, which a Session is and recorded.ts's RecordedRun too; both
 * draw with `topologySnapshot` and list with `packetSummary`), protocol.ts (the
 * shapes of ClockState, TopologySnapshot, PacketSummary).
 */
import { Topology } from '../topology/topology.js';
import { Host } from '../netstack/host.js';
import { startPing, startTcpRequest, tcpServer, type PingResult, type TcpRequestResult } from '../netstack/tools.js';
import { LinuxBridge } from '../devices/linux-bridge.js';
import { OvsBridge } from '../devices/ovs-bridge.js';
import { Vtep } from '../devices/vtep.js';
import type { Port } from '../sim/link.js';
import type { TraceEvent } from '../sim/tracer.js';
import { InputError } from '../errors.js';
import { ipv4ToString, ipv6ToString } from '../wire/bytes.js';
import { dissect } from '../wire/dissect/index.js';
import { fieldValues } from '../wire/dissect.js';
import { summarize } from '../wire/summary.js';
import { TraceStore, type PacketTrace, type TraceStoreOptions } from './store.js';
import type { ClientMessage, ClockState, PacketSummary, TopologySnapshot } from './protocol.js';

/** What `inject` takes: the protocol's inject message without its envelope. */
export type InjectCommand = Omit<Extract<ClientMessage, { t: 'inject' }>, 't' | 'id'>;

/** What a finished injection reports (to `start`'s callback). */
export type InjectResult = { kind: 'ping'; result: PingResult } | { kind: 'tcp'; result: TcpRequestResult };

export interface SessionOptions {
  /** scenario traffic, run after every build (not logged: it is part of the build) */
  setup?: (s: Session) => void;
  /** virtual seconds per wall second while running (default 1) */
  speed?: number;
  store?: TraceStoreOptions;
  /** wall-clock milliseconds (default performance.now) */
  wallClock?: () => number;
  /** the run timer's period, ms (default 20) */
  tickMs?: number;
  /** the most events one tick runs (default 20 000) */
  maxEventsPerTick?: number;
  /** the most wall time one tick takes, ms (default 15) */
  budgetMs?: number;
  /** called with an exception an event threw while the clock ran (the clock pauses) */
  onError?: (e: unknown) => void;
}

/** How long (virtual ns) and how many events a fork runs past the current event for its packet to finish. */
export const FORK_HORIZON_NS = 1e9;
export const FORK_MAX_EVENTS = 200_000;

/** One other choice at a load-balancing decision, and what the packet did after it. */
export interface Fork {
  choice: string;
  /** the packet in the world where that choice was made; null when it left the store there */
  summary: PacketSummary | null;
  records: TraceEvent[];
}

/** What `fork` answers: the decision's choices, the one taken, and every other one's fork. */
export interface ForkReply {
  packet: number;
  seq: number;
  node: string;
  lb: string;
  choices: string[];
  chosen: number;
  /** by choice index; null for the one taken */
  forks: (Fork | null)[];
}

/** An injection, where it happened. */
interface Logged { cmd: InjectCommand; events: number; now: number }

/**
 * What the trace server serves (server.ts): a live Session, or a recorded run (recorded.ts: a
 * sharded run's gathered records, whose clock does not move).
 */
export interface TraceSource {
  readonly store: TraceStore;
  onRecord(fn: (p: PacketTrace, ev: TraceEvent) => void): () => void;
  onState(fn: (s: ClockState) => void): () => void;
  state(): ClockState;
  pause(): ClockState;
  run(): ClockState;
  setSpeed(x: number): ClockState;
  step(): ClockState;
  back(): ClockState;
  fork(packet: number, seq: number): ForkReply;
  inject(cmd: InjectCommand): ClockState;
  topology(): TopologySnapshot;
  summary(p: PacketTrace): PacketSummary;
}

export class Session implements TraceSource {
  private topo!: Topology;
  private traces!: TraceStore;
  private readonly build: () => Topology;
  private readonly setup: ((s: Session) => void) | undefined;
  private readonly storeOpts: TraceStoreOptions;
  private readonly wallClock: () => number;
  private readonly tickMs: number;
  private readonly maxEventsPerTick: number;
  private readonly budgetMs: number;
  private readonly onError: (e: unknown) => void;
  private log: Logged[] = [];
  /** log entries applied in the current build */
  private applied = 0;
  private servers = new Set<string>();
  private replaying = false;
  private running = false;
  private speed: number;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private lastWall = 0;
  /** when listeners last heard the state (wall ms): while running, at most every 200 ms */
  private lastStateWall = 0;
  private recordListeners: ((p: PacketTrace, ev: TraceEvent) => void)[] = [];
  private stateListeners: ((s: ClockState) => void)[] = [];
  private detachStore: (() => void) | null = null;

  constructor(build: () => Topology, opts: SessionOptions = {}) {
    this.build = build;
    this.setup = opts.setup;
    this.storeOpts = opts.store ?? {};
    this.wallClock = opts.wallClock ?? (() => performance.now());
    this.tickMs = opts.tickMs ?? 20;
    this.maxEventsPerTick = opts.maxEventsPerTick ?? 20_000;
    this.budgetMs = opts.budgetMs ?? 15;
    this.onError = opts.onError ?? (() => {});
    this.speed = opts.speed ?? 1;
    this.rebuild();
  }

  /** The Topology running now (a new one after each `back`). */
  get network(): Topology { return this.topo; }
  /** The trace store of the current build. */
  get store(): TraceStore { return this.traces; }

  /** Call 'fn' with each record filed (not during a replay); returns the remover. */
  onRecord(fn: (p: PacketTrace, ev: TraceEvent) => void): () => void {
    this.recordListeners = [...this.recordListeners, fn];
    return () => { this.recordListeners = this.recordListeners.filter((l) => l !== fn); };
  }

  /** Call 'fn' whenever the clock's state changes (controls; at most every 200 ms while running); returns the remover. */
  onState(fn: (s: ClockState) => void): () => void {
    this.stateListeners = [...this.stateListeners, fn];
    return () => { this.stateListeners = this.stateListeners.filter((l) => l !== fn); };
  }

  state(): ClockState {
    return { now: this.topo.sim.now, running: this.running, speed: this.speed, events: this.topo.sim.eventsRun };
  }

  // ---- the clock ---------------------------------------------------------------------------------

  pause(): ClockState {
    this.running = false;
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
    return this.changed();
  }

  run(): ClockState {
    if (!this.running) {
      this.running = true;
      this.lastWall = this.wallClock();
      this.schedule();
    }
    return this.changed();
  }

  setSpeed(x: number): ClockState {
    if (!(x > 0 && x <= 1e9)) throw new InputError('SESSION_BAD_SPEED', 'speed', `speed ${x} is not in (0, 1e9]`);
    this.speed = x;
    return this.changed();
  }

  /** Run one event (pausing first); the state after it. */
  step(): ClockState {
    if (this.running) this.pause();
    this.stepOne();
    return this.changed();
  }

  /** Go back one event: rebuild and replay to the event before the current one. */
  back(): ClockState {
    if (this.running) this.pause();
    const target = this.topo.sim.eventsRun - 1;
    if (target >= 0) this.rebuild(target);
    return this.changed();
  }

  /** Stop the clock for good (the server closes). */
  close(): void {
    this.pause();
    this.detachStore?.();
  }

  /** Advance the clock by 'wallMs' of wall time at the current speed (what a tick does). */
  advance(wallMs: number): number {
    const sim = this.topo.sim;
    const target = sim.now + wallMs * 1e6 * this.speed;
    const started = this.wallClock();
    let n = 0;
    for (;;) {
      const due = this.log[this.applied];
      if (due !== undefined && due.events === sim.eventsRun) {
        if (due.now > target) return n; // its time has not come yet
        this.applyDue();
        continue;
      }
      if (sim.nextTime > target) break;
      // out of budget (events or wall time): the clock slips behind the wall clock rather than block
      if (n >= this.maxEventsPerTick || (n > 0 && (n & 255) === 0 && this.wallClock() - started > this.budgetMs)) return n;
      sim.step();
      n++;
    }
    // caught up: the clock reaches the target
    if (target > sim.now) sim.now = target;
    return n;
  }

  private schedule(): void {
    this.timer = setTimeout(() => this.tick(), this.tickMs);
    this.timer.unref?.();
  }

  private tick(): void {
    this.timer = null;
    if (!this.running) return;
    const now = this.wallClock();
    const elapsed = Math.min(now - this.lastWall, 1000);
    this.lastWall = now;
    try {
      this.advance(elapsed);
    } catch (e) {
      // a model's exception: stop the clock (running on would throw again), say so, keep serving
      this.onError(e);
      this.pause();
      return;
    }
    if (now - this.lastStateWall >= 200) this.changed();
    this.schedule();
  }

  private changed(): ClockState {
    this.lastStateWall = this.wallClock();
    const s = this.state();
    for (const l of this.stateListeners) l(s);
    return s;
  }

  /** Apply logged commands whose point is now, then run one event. */
  private stepOne(): boolean {
    this.applyDue();
    return this.topo.sim.step();
  }

  private applyDue(): void {
    const sim = this.topo.sim;
    for (let e = this.log[this.applied]; e !== undefined && e.events === sim.eventsRun; e = this.log[this.applied]) {
      if (sim.now < e.now) sim.runUntil(e.now);
      this.start(e.cmd);
      this.applied++;
    }
  }

  private rebuild(target = 0, prepare?: (t: Topology) => void): void {
    this.detachStore?.();
    this.topo = this.build();
    prepare?.(this.topo);
    this.traces = new TraceStore(this.storeOpts);
    this.detachStore = this.traces.attach(this.topo.sim);
    this.traces.onRecord((p, ev) => { if (!this.replaying) for (const l of this.recordListeners) l(p, ev); });
    this.applied = 0;
    this.servers = new Set();
    this.replaying = true;
    try {
      this.setup?.(this);
      while (this.topo.sim.eventsRun < target && this.stepOne());
      this.applyDue();
    } finally { this.replaying = false; }
  }

  // ---- forks -------------------------------------------------------------------------------------

  /**
   * What each other backend would have done at load-balancing decision 'seq'
   * of packet 'packet' (see the header). Throws InputError when the packet
   * is not in the store or that record is not a load-balancing decision.
   */
  fork(packet: number, seq: number): ForkReply {
    const p = this.traces.get(packet);
    if (p === undefined) throw new InputError('TRACE_NO_PACKET', 'fork.packet', `packet ${packet} is not in the store (never seen, or evicted)`);
    const ev = p.events.find((e) => e.seq === seq);
    if (ev === undefined) throw new InputError('TRACE_NO_RECORD', 'fork.seq', `packet ${packet} has no record ${seq}`);
    const f = ev.fields;
    if (f === null || typeof f['lb'] !== 'string' || typeof f['choices'] !== 'string') {
      throw new InputError('TRACE_NOT_A_CHOICE', 'fork.seq', `record ${seq} of packet ${packet} is not a load-balancing decision`);
    }
    const choices = f['choices'].split(' ').filter((c) => c !== '');
    const chosen = typeof f['chosen'] === 'number' ? f['chosen'] : -1;
    if (this.running) this.pause();
    const target = this.topo.sim.eventsRun;
    const forks = choices.map((choice, k) => (k === chosen ? null : { choice, ...this.alternate(packet, ev.node, k, target) }));
    return { packet, seq, node: ev.node, lb: f['lb'], choices, chosen, forks };
  }

  /** The world where 'packet' takes choice 'k' at 'node': its records there (the live world is restored after). */
  private alternate(packet: number, node: string, k: number, target: number): Omit<Fork, 'choice'> {
    const live = { topo: this.topo, traces: this.traces, detach: this.detachStore, applied: this.applied, servers: this.servers };
    // the live store stays attached to the live simulator
    this.detachStore = null;
    try {
      this.rebuild(target, (t) => t.sim.tracer.force(packet, node, k));
      const sim = this.topo.sim, until = sim.now + FORK_HORIZON_NS;
      this.replaying = true;
      for (let n = 0; n < FORK_MAX_EVENTS && sim.nextTime <= until && this.stepOne(); n++);
      const p = this.traces.get(packet);
      return { summary: p === undefined ? null : this.summary(p), records: p?.events ?? [] };
    } finally {
      this.replaying = false;
      // (rebuild set it: the fork's store)
      (this.detachStore as (() => void) | null)?.();
      ({ topo: this.topo, traces: this.traces, detach: this.detachStore, applied: this.applied, servers: this.servers } = live);
    }
  }

  // ---- traffic -----------------------------------------------------------------------------------

  /**
   * Inject 'cmd' at the current instant and log it for replays; throws
   * InputError (an unknown host, a bad address) before anything is sent.
   */
  inject(cmd: InjectCommand): ClockState {
    const sim = this.topo.sim;
    this.start(cmd);
    // a new branch of history: what was logged beyond this point is gone
    this.log = this.log.slice(0, this.applied);
    this.log.push({ cmd, events: sim.eventsRun, now: sim.now });
    this.applied = this.log.length;
    return this.state();
  }

  /** Start 'cmd' now without logging it (for `setup`, which runs on every build); 'onDone' gets its result. */
  start(cmd: InjectCommand, onDone?: (r: InjectResult) => void): void {
    const from = this.topo.hostNamed(cmd.from);
    const to = this.address(cmd.to);
    if (cmd.kind === 'ping') {
      startPing(from, to, { count: cmd.count }, onDone && ((result) => onDone({ kind: 'ping', result })));
      return;
    }
    const server = this.topo.nodes.get(cmd.to);
    if (server instanceof Host && !this.servers.has(`${cmd.to}:${cmd.port}`)) {
      this.servers.add(`${cmd.to}:${cmd.port}`);
      try { tcpServer(server, cmd.port); } catch { /* something listens there already */ }
    }
    startTcpRequest(from, to, cmd.port, cmd.payload, {}, onDone && ((result) => onDone({ kind: 'tcp', result })));
  }

  /** A host's name → its first IPv4 address; anything else is taken as an address. */
  private address(to: string): string {
    const n = this.topo.nodes.get(to);
    if (n === undefined) return to;
    if (!(n instanceof Host) || n.address === 0) throw new InputError('SESSION_NO_ADDRESS', 'to', `'${to}' has no IPv4 address to send to`);
    return ipv4ToString(n.address);
  }

  // ---- what the viewer shows -----------------------------------------------------------------------

  /** The nodes (kind, ports, addresses, MACs), links and tunnels of the topology. */
  topology(): TopologySnapshot { return topologySnapshot(this.topo); }

  /** One packet as the packet list shows it (`packetSummary`). */
  summary(p: PacketTrace): PacketSummary { return packetSummary(p); }
}

/** The nodes (kind, ports, addresses, MACs), links and tunnels of 'topo' (what the viewer draws). */
export function topologySnapshot(topo: Topology): TopologySnapshot {
  const ports = new Map<string, Port[]>();
  const addPort = (p: Port): void => {
    const list = ports.get(p.owner.name) ?? [];
    if (!list.includes(p)) list.push(p);
    ports.set(p.owner.name, list);
  };
  for (const n of topo.nodes.values()) if (n instanceof Host) for (const p of n.ports.values()) addPort(p);
  for (const l of topo.links) { addPort(l.a); addPort(l.b); }
  const nodes: TopologySnapshot['nodes'] = [];
  for (const [name, n] of topo.nodes) {
    const kind = topo.roles.get(name) ?? (n instanceof Host ? (n.config.ipForward === true ? 'router' : 'host')
      : n instanceof LinuxBridge ? 'bridge' : n instanceof OvsBridge ? 'ovs' : n instanceof Vtep ? 'vtep' : 'other');
    nodes.push({
      name, kind, ports: (ports.get(name) ?? []).map((p) => n instanceof Host ? hostPort(n, p.name) : { name: p.name, addrs: [], mac: null }),
    });
  }
  const links = topo.links.map((l) => ({ a: l.a.id, b: l.b.id, delayNs: l.delayNs, bps: l.bps, mtu: l.mtu, up: l.up }));
  const tunnels = topo.tunnels.filter((t) => topo.nodes.has(t.a) && topo.nodes.has(t.b)).map((t) => ({ ...t }));
  return { nodes, links, tunnels };
}

/**
 * One packet as the packet list shows it: columns from its first frame
 * (the innermost addresses; info as tcpdump prints it after the link
 * layer), its path, and its verdict — dropped (with the first drop's
 * reason) if it was dropped anywhere but as a flooded copy at a host it
 * was not for, else delivered if a socket or a stack took it, else in
 * flight (or consumed without a `deliver` record, as ARP is).
 */
export function packetSummary(p: PacketTrace): PacketSummary {
  const first = p.events.find((e) => e.frame !== null)?.frame ?? null;
  // dropped wins over delivered (a packet dropped on its way, whose ICMP error came back under its id),
  // except for the copies of a delivered flood that reached other hosts ('not-for-us')
  const delivered = p.delivered;
  const drop = p.events.find((e) => e.kind === 'drop' && !(delivered && e.reason === 'not-for-us'));
  const verdict = drop !== undefined ? 'dropped' : delivered ? 'delivered' : 'in-flight';
  const base = { packet: p.id, first: p.first, last: p.last, path: p.nodes, verdict, reason: drop?.reason ?? null } as const;
  if (first === null) return { ...base, src: '', dst: '', protocol: '', info: p.events[0]?.text ?? '', length: 0 };
  return { ...base, ...columns(first), length: first.length };
}

/** A host's interface as the topology snapshot lists it: IPv4 and IPv6 addresses with their prefixes, the MAC. */
function hostPort(h: Host, name: string): TopologySnapshot['nodes'][number]['ports'][number] {
  const mac = h.mac(name);
  const cfg = h.config.ifaces.find((i) => i.name === name);
  const addrs = (cfg?.addrs ?? []).map((a) => `${ipv4ToString(a.addr)}/${a.prefixLen}`);
  for (const a of h.fib.device(name)?.addrs6 ?? []) {
    const b = new Uint8Array(16);
    const v = new DataView(b.buffer);
    a.words.forEach((w, i) => v.setUint32(i * 4, w));
    addrs.push(`${ipv6ToString(b, 0)}/${a.len}`);
  }
  return { name, addrs, mac: mac === undefined ? null : Array.from(mac, (x) => x.toString(16).padStart(2, '0')).join(':') };
}

/** Wireshark's protocol column names for the dissector's layers. */
const PROTOCOL: Record<string, string> = {
  eth: 'Ethernet', vlan: '802.1Q', arp: 'ARP', ip: 'IPv4', ipv6: 'IPv6', icmp: 'ICMP', icmpv6: 'ICMPv6',
  tcp: 'TCP', udp: 'UDP', vxlan: 'VXLAN', geneve: 'Geneve',
};

/** Source, destination, protocol and info columns of an Ethernet frame. */
function columns(frame: Uint8Array): { src: string; dst: string; protocol: string; info: string } {
  const d = dissect(frame);
  // the innermost addresses, as Wireshark's columns show a tunnelled packet
  const last = (name: string): string | undefined => fieldValues(d, name).at(-1);
  const src = last('ip.src') ?? last('ipv6.src') ?? last('arp.src.proto_ipv4') ?? last('eth.src') ?? '';
  const dst = last('ip.dst') ?? last('ipv6.dst') ?? last('arp.dst.proto_ipv4') ?? last('eth.dst') ?? '';
  const top = [...d.layers].reverse().find((l) => l.proto !== 'data' && l.proto !== 'frame')?.proto ?? 'frame';
  const line = summarize(d, frame, 0, 0);
  const at = line.search(/, length \d+: /);
  const info = at < 0 ? line.slice(16) : line.slice(line.indexOf(': ', at) + 2);
  return { src, dst, protocol: PROTOCOL[top] ?? top.toUpperCase(), info };
}
