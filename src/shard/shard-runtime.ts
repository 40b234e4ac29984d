/**
 * One shard's simulation (shard layer): its part of a topology, the remote
 * ends of the links the partition cut, the traffic its hosts start, and the
 * window-by-window run the coordinator drives.
 *
 * What: `new ShardRuntime({ text, format?, cluster?, shard, shardOf, cut,
 * traffic })` builds the WHOLE source — a topology file, or a cluster from
 * its manifests (source.ts) — as the single-process run does (so every node
 * is made in the same order, with the same MACs, interface names, addresses
 * and seed), then
 * turns each cut link into two remote ends: the link is detached and the
 * end whose node this shard runs is linked to a stub (`RemoteEnd`, a sink
 * port owner) by a link with the real one's bandwidth, MTU, loss, queue and
 * reordering but no delay; the stub receives each frame when it has been
 * serialized and hands it out (`take()`) with its arrival time, now + the
 * real delay — what the real link would have done. The nodes of the other
 * shards stay built but idle: no link of theirs reaches this shard's nodes
 * and no traffic is started on them.
 * A frame from another shard is injected (`inject`) at its arrival time:
 * an event then hands it to the peer port (`Port.deliver`), as if the link
 * had brought it.
 * The packet ledger (sim/ledger.ts) across shards: a frame that leaves
 * this shard is delivered here (the stub is a sink) and counted in
 * `exported`; one that enters is a new packet here (created) and counted in
 * `imported`. Gathered (`gatherLedgers`), the shards' ledgers are one:
 *   created = Σcreated − Σimported, delivered = Σdelivered − Σexported,
 *   in transit (between shards, at the coordinator) = Σexported − Σimported,
 * and created = delivered + dropped + merged + in flight + parked + in transit.
 * Running: `runBefore(w)` runs every event strictly before w (an arrival
 * from another shard may come at w itself, and must run in time order with
 * the events at w); `nextTime` is the next event's time.
 * Traffic (`ShardTraffic`): pings and constant-rate UDP flows, each started
 * by the shard that runs its source host (a pod: the shard of its node), at
 * `atNs`; their results are
 * collected by index, so a single-process run of the same traffic (one
 * shard, nothing cut) gives comparable outcomes.
 * Faults (tests): `fault` makes the shard throw, or its thread exit, at a
 * virtual time — how the coordinator's failure path is tested.
 * Random draws: each shard draws from its own simulator's RNG (the file's
 * seed), so a sharded run repeats exactly, run after run; it equals the
 * single-process run as long as no draws of different shards would have
 * interleaved in one RNG — link loss and reordering, ephemeral ports, TCP
 * initial sequence numbers on nodes of more than one shard give other
 * (equally valid) outcomes than one process does.
 * Limits: a cut link cannot be cut or restored at run time (a `cut` step);
 * the file's `run` steps are not run (the traffic is given apart); every
 * shard holds every node (memory O(whole topology) per shard, and each
 * builds it: a 5,000-node cluster's build is paid once a shard, in
 * parallel) — of a cluster, only its own nodes' pods on the data plane,
 * the others' in the API (source.ts); a cluster's control plane runs in every shard alike (its
 * controllers are not split) and its API does not change during the run
 * (no node crash, no scaling); with trace
 * records on, the id of every frame that came from another shard is
 * remembered for the rest of the run (a map entry per imported frame).
 * Neighbours: partition.ts (who runs what), source.ts (building), worker.ts
 * (the thread around it), coordinator.ts (the rounds).
 */
import type { Topology } from '../topology/topology.js';
import { Link, Port, type PortOwner } from '../sim/link.js';
import type { Sim } from '../sim/engine.js';
import { startPing, constantRate, type PingRun, type TrafficRun } from '../netstack/tools.js';
import type { TraceDropReason, TraceEvent } from '../sim/tracer.js';
import { buildSource, type BuiltSource, type ShardSource } from './source.js';
import { SdnemuError } from '../errors.js';

/** Traffic naming a source that is not a host of the file. */
export class ShardTrafficError extends SdnemuError {
  constructor(readonly field: string, message: string) { super('SHARD_BAD_TRAFFIC', `${field}: ${message}`); this.name = 'ShardTrafficError'; }
  override location(): Record<string, string | number> { return { field: this.field }; }
}

/** Throw a ShardTrafficError unless every ping and flow starts at a host (or router) that 'has'. */
export function checkTraffic(has: (host: string) => boolean, t: ShardTraffic): void {
  for (const [kind, list] of [['pings', t.pings ?? []], ['udp', t.udp ?? []]] as const) {
    list.forEach((x, i) => { if (!has(x.from)) throw new ShardTrafficError(`traffic.${kind}[${i}].from`, `no host named '${x.from}'`); });
  }
}

export interface ShardPing { from: string; to: string; count?: number; interval?: number; size?: number; atNs?: number }
export interface ShardUdp { from: string; to: string; pps: number; durationSec: number; size?: number; dport?: number; atNs?: number }
export interface ShardTraffic { pings?: ShardPing[]; udp?: ShardUdp[] }

/** A ping's outcome, comparable between runs. */
export interface PingOutcome { index: number; transmitted: number; received: number; rttsNs: number[]; errors: string[] }
/** A UDP flow's outcome: datagrams sent, refused by the sender's stack, and answers received (a Service's echo). */
export interface UdpOutcome { index: number; sent: number; refused: number; received: number }

/** A frame crossing between shards: the cut link (index in the file's links), the end it left from, its arrival time. */
export interface CrossFrame { link: number; fromSide: 0 | 1; t: number; bytes: Uint8Array; trace: number }

export type LedgerSnapshot = ReturnType<Sim['ledger']['snapshot']>;

/** What a shard reports when it ends (or when the run ends early). */
export interface ShardReport {
  shard: number;
  nodes: number;
  ledger: LedgerSnapshot;
  exported: number;
  imported: number;
  eventsRun: number;
  /** trace records emitted (when tracing) */
  traceRecords: number;
  pings: PingOutcome[];
  udp: UdpOutcome[];
  now: number;
}

export interface ShardFault { atNs: number; kind: 'throw' | 'exit' }

export interface ShardRuntimeOptions extends ShardSource {
  shard: number;
  /** graph node → shard (every node of the source's graph: source.ts) */
  shardOf: ReadonlyMap<string, number>;
  /** the indexes of the cut links in the graph's links */
  cut: readonly number[];
  traffic: ShardTraffic;
  /** every packet gets a trace id (the ledger names a lost one) */
  tagIds?: boolean;
  /** count trace records (tracing on) */
  trace?: boolean;
  /** keep the trace records (`takeRecords`), their ids made unique across shards */
  records?: boolean;
  /** how many shards the run has (trace ids: default 1) */
  shards?: number;
  fault?: ShardFault;
}

/** The stub at a remote end: a sink that keeps what it receives for the coordinator. */
class RemoteEnd implements PortOwner {
  readonly sink = true;
  readonly name: string;
  readonly port: Port;
  constructor(readonly sim: Sim, readonly link: number, readonly fromSide: 0 | 1, readonly delayNs: number, private readonly out: CrossFrame[],
    private readonly globalId: (local: number) => number) {
    this.name = `shard-remote/${link}`;
    this.port = new Port(this, 'remote');
  }
  receive(_port: Port, frame: Uint8Array): void {
    this.out.push({ link: this.link, fromSide: this.fromSide, t: this.sim.now + this.delayNs, bytes: frame.slice(), trace: this.globalId(this.sim.tracer.current) });
  }
}

export class ShardRuntime {
  readonly topology: Topology;
  readonly sim: Sim;
  readonly built: BuiltSource;
  exported = 0;
  imported = 0;
  traceRecords = 0;
  private readonly out: CrossFrame[] = [];
  /** per cut link: its two original ports (a, b) */
  private readonly ends = new Map<number, [Port, Port]>();
  private readonly pings: { index: number; run: PingRun }[] = [];
  private readonly udp: { index: number; run: TrafficRun }[] = [];
  private readonly injector = { onEvent: (f: unknown): void => this.arrive(f as CrossFrame) };
  private records: TraceEvent[] = [];
  /** local trace id → the run-wide id of the packet it continues (a frame that came from another shard) */
  private readonly alias = new Map<number, number>();

  constructor(readonly opts: ShardRuntimeOptions) {
    this.built = buildSource(opts, (node) => opts.shardOf.get(node) === opts.shard);
    checkTraffic((h) => this.built.ownerOf(h) !== undefined, opts.traffic);
    this.topology = this.built.topology;
    this.sim = this.topology.sim;
    if (opts.tagIds === true) this.sim.tracer.tagIds(true);
    if (opts.trace === true || opts.records === true) this.sim.tracer.subscribe((ev) => this.record(ev));
    for (const j of opts.cut) {
      const l = this.built.link(j);
      if (l === null) throw new Error(`graph link ${j} is a tie, not a link: it cannot be cut`);
      const a = l.a, b = l.b;
      const g = this.built.graph.links[j]!, sideA = opts.shardOf.get(g.a), sideB = opts.shardOf.get(g.b);
      this.ends.set(j, [a, b]);
      l.detach();
      for (const [side, port, owner] of [[0, a, sideA], [1, b, sideB]] as const) {
        if (owner !== opts.shard) continue;
        const stub = new RemoteEnd(this.sim, j, side, l.delayNs, this.out, (id) => this.globalId(id));
        new Link(this.sim, port, stub.port, { delay: 0, bandwidth: l.bps, mtu: l.mtu, loss: l.loss, queue: l.queueBytes, reorder: { rate: l.reorderRate, delay: l.reorderDelayNs } });
      }
    }
    this.startTraffic(opts.traffic);
    if (opts.fault !== undefined) this.armFault(opts.fault);
  }

  /** The time of the next event (Infinity when none). */
  get nextTime(): number { return this.sim.nextTime; }

  /** Frames from another shard: each is handed to its peer port at its arrival time. */
  inject(frames: readonly CrossFrame[]): void {
    for (const f of frames) this.sim.at(f.t, this.injector, f);
  }

  /** Run every event before 'w'; the events run. */
  runBefore(w: number): number {
    const sim = this.sim;
    let n = 0;
    while (sim.nextTime < w) { sim.step(); n++; }
    return n;
  }

  /** Packets delivered in this shard so far (to a socket, a stack, an endpoint), not counting the frames handed to other shards. */
  get delivered(): number { return this.sim.ledger.delivered - this.exported - this.out.length; }

  /** The frames that left this shard since the last call. */
  take(): CrossFrame[] {
    const f = this.out.splice(0);
    this.exported += f.length;
    return f;
  }

  /** What this shard did (pings finished: their sockets close). */
  report(): ShardReport {
    return {
      shard: this.opts.shard,
      nodes: [...this.opts.shardOf.values()].filter((s) => s === this.opts.shard).length,
      ledger: this.sim.ledger.snapshot(),
      exported: this.exported + this.out.length, imported: this.imported,
      eventsRun: this.sim.eventsRun, traceRecords: this.traceRecords,
      pings: this.pings.map(({ index, run }) => {
        const r = run.finish();
        return { index, transmitted: r.transmitted, received: r.received, rttsNs: r.replies.map((x) => Math.round(x.rttMs * 1e6)), errors: r.errors };
      }),
      udp: this.udp.map(({ index, run }) => ({ index, sent: run.sent, refused: run.refused, received: run.received })),
      now: this.sim.now,
    };
  }

  /**
   * The run-wide trace id of local id 'local' (0: none): the packet's id in the shard it came
   * from, for a frame another shard sent; else unique by shard, (local − 1) × shards + shard + 1
   * (one shard: the id itself).
   */
  globalId(local: number): number {
    if (local === 0) return 0;
    return this.alias.get(local) ?? (local - 1) * (this.opts.shards ?? 1) + this.opts.shard + 1;
  }

  /** The trace records kept since the last call (`records`), in the order they were emitted. */
  takeRecords(): TraceEvent[] {
    const r = this.records;
    this.records = [];
    return r;
  }

  /** A trace record: counted, and kept (its frame copied, its id run-wide) with `records`; the stubs' own are not the network's. */
  private record(ev: TraceEvent): void {
    if (ev.node.startsWith('shard-remote/')) return;
    this.traceRecords++;
    if (this.opts.records === true) this.records.push({ ...ev, trace: this.globalId(ev.trace), frame: ev.frame?.slice() ?? null });
  }

  private arrive(f: CrossFrame): void {
    const [a, b] = this.ends.get(f.link)!;
    const port = f.fromSide === 0 ? b : a;
    this.imported++;
    const tr = this.sim.tracer;
    if (tr.tagging) {
      const id = tr.begin();
      if (this.opts.records === true && f.trace !== 0) this.alias.set(id, f.trace);
    }
    port.deliver(f.bytes, this.sim.now);
  }

  private local(host: string): boolean { return this.opts.shardOf.get(this.built.ownerOf(host)!) === this.opts.shard; }

  private startTraffic(t: ShardTraffic): void {
    const sim = this.sim;
    (t.pings ?? []).forEach((p, index) => {
      if (!this.local(p.from)) return;
      const host = this.built.host(p.from);
      sim.at(p.atNs ?? 0, { onEvent: () => {
        this.pings.push({ index, run: startPing(host, p.to, { count: p.count ?? 1, ...(p.interval !== undefined ? { interval: p.interval } : {}), ...(p.size !== undefined ? { size: p.size } : {}) }) });
      } });
    });
    (t.udp ?? []).forEach((u, index) => {
      if (!this.local(u.from)) return;
      const host = this.built.host(u.from);
      sim.at(u.atNs ?? 0, { onEvent: () => {
        this.udp.push({ index, run: constantRate(host, u.to, { pps: u.pps, durationSec: u.durationSec, ...(u.size !== undefined ? { size: u.size } : {}), ...(u.dport !== undefined ? { dport: u.dport } : {}) }) });
      } });
    });
  }

  private armFault(f: ShardFault): void {
    this.sim.at(f.atNs, { onEvent: () => {
      if (f.kind === 'exit') process.exit(70);
      throw new Error(`shard ${this.opts.shard}: injected fault at ${f.atNs} ns`);
    } });
  }
}

/** The shards' reports as one ledger (see the header); 'inTransit' frames are between shards. */
export function gatherLedgers(reports: readonly ShardReport[]): LedgerSnapshot & { inTransit: number; balanced: boolean } {
  const g = { created: 0, delivered: 0, dropped: 0, merged: 0, inFlight: 0, parked: 0, leaks: 0, drops: {} as Partial<Record<TraceDropReason, number>>, inTransit: 0, balanced: false };
  for (const r of reports) {
    const L = r.ledger;
    g.created += L.created - r.imported;
    g.delivered += L.delivered - r.exported;
    g.dropped += L.dropped; g.merged += L.merged; g.inFlight += L.inFlight; g.parked += L.parked; g.leaks += L.leaks;
    g.inTransit += r.exported - r.imported;
    for (const [k, v] of Object.entries(L.drops) as [TraceDropReason, number][]) g.drops[k] = (g.drops[k] ?? 0) + v;
  }
  g.balanced = g.leaks === 0 && g.created === g.delivered + g.dropped + g.merged + g.inFlight + g.parked + g.inTransit;
  return g;
}
