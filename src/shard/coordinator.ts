/**
 * The coordinator (shard layer): runs a topology file split across worker
 * threads, in virtual-time lockstep, and gathers one result as if it were
 * one emulator.
 *
 * What: `runSharded({ text, shards, traffic, endNs })` partitions the file
 * (partition.ts), starts one worker per shard (worker.ts; each builds the
 * same file with the same seed and runs its part), and drives rounds:
 * Synchronization — conservative, with lookahead. L is the smallest delay
 * of a cut link (only links of at least `minCutDelayNs` are cut). Each round
 * the coordinator takes T = the earliest next event of any shard or of any
 * frame waiting to be injected, and lets every shard run its events before
 * W = T + L. Every event of the round is at or after T, and a frame it
 * sends across a cut link arrives at least L later, so at or after W: no
 * shard can receive, during a round, a frame dated before where it already
 * is. At the end of the round (a barrier: every shard answers) the frames
 * that crossed are routed to the shard of their peer port and injected at
 * their arrival time in the next round (a shard with no event and no frame
 * before W sits the round out: no message, no wake-up). Frames at the same
 * instant on the same node may run in another order than in one process
 * (their events were queued at another moment); everything else — times,
 * replies, drops, the ledger, the trace records — is the single-process
 * run's (the tests compare them).
 * Why conservative lockstep and not optimistic (Time Warp) or null
 * messages: it needs no rollback of a simulation that has no snapshots, one
 * coordinator sees every cross-shard frame (the ledger's "in transit"), and
 * L is large for the links it is meant for (an underlay hop: 100s of µs).
 * Cost: one barrier (two messages per shard) per window of at most L of
 * virtual time, whatever happens in it; a window with little traffic costs
 * as much synchronization as a busy one, and each round wakes every busy
 * thread twice — on a machine with free cores a round trip is tens of µs,
 * on an oversubscribed one a few ms (bench/shard.bench.ts). Limits: a cut link with a tiny
 * delay makes tiny windows (hence the threshold: the partitioner cuts only
 * slow links); a topology with nothing to cut runs in one window (L = ∞).
 * Failure: a shard whose code throws (the worker answers 'error'), whose
 * thread dies (exit, crash) or that stops answering (`timeoutMs`) ends the
 * run: the coordinator asks the others for their reports, terminates every
 * thread and returns what it gathered with `failure` = { shard, reason }.
 * Traces (`onTrace`): the shards' records, gathered round by round in
 * virtual-time order, a packet's trace id the same in every shard it
 * crosses (shard-runtime.ts `globalId`) — a TraceStore fed with them holds
 * one packet per packet, as for one process.
 * The result: each ping's outcome (by index in the traffic), each UDP
 * flow's counts, the shards' reports and their gathered ledger
 * (shard-runtime.ts `gatherLedgers`), the partition, the rounds run and
 * where the wall-clock time went (start, rounds, their critical path).
 * Not done: per-shard horizons (shard i may run to the others' earliest
 * possible event + L — up to 2L while they are idle) would mean fewer
 * rounds in sparse traffic, at the price of buffering trace records to keep
 * them in time order.
 * `runSingle` runs the same file and traffic in this thread, unsplit —
 * the reference a sharded run is compared with.
 * Workers on TypeScript source (tests under vitest, scripts under tsx): a
 * coordinator loaded from a .ts file starts its worker through a small
 * eval'd bootstrap that registers tsx's loader first (Node 20 does not run
 * `--import tsx` from a worker's execArgv before the worker's entry);
 * compiled, it starts worker.js directly.
 * Neighbours: partition.ts, shard-runtime.ts, worker.ts.
 */
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { loadTopology } from '../topology/file.js';
import { endNode, graphOfTopology, partition, type Partition } from './partition.js';
import { checkTraffic, gatherLedgers, ShardRuntime, type CrossFrame, type PingOutcome, type ShardFault, type ShardReport, type ShardTraffic, type UdpOutcome } from './shard-runtime.js';
import type { FromShard, ShardWorkerData, ToShard } from './worker.js';
import type { TraceEvent } from '../sim/tracer.js';

/** Hand each shard's records of a round to 'sink' in time order (shard order, then emission order, on a tie), seq renumbered from 'seq'; the next seq. */
function forwardRecords(perShard: readonly TraceEvent[][], sink: (ev: TraceEvent) => void, seq: number): number {
  const all = perShard.flat().sort((a, b) => a.t - b.t);
  for (const ev of all) sink({ ...ev, seq: ++seq });
  return seq;
}

export interface ShardedRunOptions {
  /** the topology file's text (YAML) */
  text: string;
  shards: number;
  traffic: ShardTraffic;
  /** run every event before this virtual time (ns) */
  endNs: number;
  /** only links of at least this delay are cut (partition.ts; default 100 µs) */
  minCutDelayNs?: number;
  tagIds?: boolean;
  /** count trace records in each shard */
  trace?: boolean;
  /**
   * Gather the trace records: each shard's, in virtual-time order across shards (each round's
   * records all come before the next round's), trace ids run-wide — a packet keeps its id from
   * shard to shard, as in one process; 'seq' is renumbered in the order given. A TraceStore's
   * `add` fits here.
   */
  onTrace?: (ev: TraceEvent) => void;
  /** faults to inject, by shard (tests) */
  faults?: Record<number, ShardFault>;
  /** a shard that does not answer a message in this long (wall clock: building, a round) has failed (default 10 min) */
  timeoutMs?: number;
}

export interface ShardedRunResult {
  shards: number;
  partition: { members: string[][]; cut: number[]; lookaheadNs: number };
  rounds: number;
  pings: PingOutcome[];
  udp: UdpOutcome[];
  reports: ShardReport[];
  ledger: ReturnType<typeof gatherLedgers>;
  failure: { shard: number; reason: string } | null;
  /**
   * Wall-clock figures (ms): starting the threads and building (until every shard is ready), the
   * rounds, and of the rounds the critical path — the busiest shard's simulation time in each
   * round, summed; rounds − critical is what the synchronization cost (messages, barrier waits).
   */
  wall: { startMs: number; roundsMs: number; criticalMs: number };
}

/** A shard failed: which, and why. */
class ShardFailure extends Error {
  constructor(readonly shard: number, readonly reason: string) { super(`shard ${shard}: ${reason}`); }
}

/** The coordinator's end of one worker: its messages in order, or why it failed. */
class ShardChannel {
  private readonly queue: FromShard[] = [];
  private waiter: { resolve: (m: FromShard) => void; reject: (e: ShardFailure) => void } | null = null;
  private failed: ShardFailure | null = null;
  /** the report sent with an 'error', if any */
  lastReport: ShardReport | null = null;
  done = false;

  constructor(readonly index: number, readonly worker: Worker, private readonly timeoutMs: number) {
    worker.on('message', (m: FromShard) => {
      if (m.type === 'error') { this.lastReport = m.report; this.fail(`threw ${m.message}`); return; }
      if (this.waiter !== null) { const w = this.waiter; this.waiter = null; w.resolve(m); } else this.queue.push(m);
    });
    worker.on('error', (e) => this.fail(`crashed: ${e.message}`));
    worker.on('exit', (code) => { if (!this.done) this.fail(`its thread exited (code ${code})`); });
  }

  get alive(): boolean { return this.failed === null; }

  send(m: ToShard): void { this.worker.postMessage(m); }

  /** The next message (rejects with a ShardFailure when the shard failed or stays silent). */
  next(): Promise<FromShard> {
    const m = this.queue.shift();
    if (m !== undefined) return Promise.resolve(m);
    if (this.failed !== null) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(`no answer in ${this.timeoutMs} ms`), this.timeoutMs);
      this.waiter = { resolve: (x) => { clearTimeout(timer); resolve(x); }, reject: (e) => { clearTimeout(timer); reject(e); } };
    });
  }

  /** The next message of 'type', skipping others. */
  async expect<T extends FromShard['type']>(type: T): Promise<Extract<FromShard, { type: T }>> {
    for (;;) {
      const m = await this.next();
      if (m.type === type) return m as Extract<FromShard, { type: T }>;
    }
  }

  private fail(reason: string): void {
    if (this.failed !== null) return;
    this.failed = new ShardFailure(this.index, reason);
    const w = this.waiter;
    this.waiter = null;
    w?.reject(this.failed);
  }
}

/** Start the worker of shard 'data.shard' (on TypeScript source through tsx's loader). */
function spawn(data: ShardWorkerData): Worker {
  const self = import.meta.url;
  if (!self.endsWith('.ts')) return new Worker(new URL('./worker.js', self), { workerData: data });
  const api = pathToFileURL(createRequire(self).resolve('tsx/esm/api')).href.replace(/\.cjs$/, '.mjs');
  const entry = new URL('./worker.ts', self).href;
  const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(boot, { eval: true, workerData: data });
}

/** The partition of 'text' for 'shards' shards, and for each cut link the shards of its two ends ('traffic', when given, is checked against the file). */
export function partitionFile(text: string, shards: number, minCutDelayNs?: number, traffic?: ShardTraffic): { part: Partition; ends: Map<number, [number, number]> } {
  const loaded = loadTopology(text);
  if (traffic !== undefined) checkTraffic(loaded, traffic);
  const part = partition(graphOfTopology(loaded), { shards, ...(minCutDelayNs !== undefined ? { minCutDelayNs } : {}) });
  const vteps = new Set(loaded.vteps.map((v) => v.name));
  const ends = new Map<number, [number, number]>();
  for (const j of part.cut) {
    const l = loaded.links[j]!;
    ends.set(j, [part.shardOf.get(endNode(l.a, vteps))!, part.shardOf.get(endNode(l.b, vteps))!]);
  }
  return { part, ends };
}

/** The result of reports, in traffic order. */
function resultOf(shards: number, part: Partition, rounds: number, reports: ShardReport[], failure: ShardedRunResult['failure'],
  wall: ShardedRunResult['wall']): ShardedRunResult {
  return {
    wall,
    shards, partition: { members: part.members, cut: part.cut, lookaheadNs: part.lookaheadNs }, rounds,
    pings: reports.flatMap((r) => r.pings).sort((a, b) => a.index - b.index),
    udp: reports.flatMap((r) => r.udp).sort((a, b) => a.index - b.index),
    reports, ledger: gatherLedgers(reports), failure,
  };
}

/** Run 'opts.text' split across 'opts.shards' worker threads (see the header). */
export async function runSharded(opts: ShardedRunOptions): Promise<ShardedRunResult> {
  const { part, ends } = partitionFile(opts.text, opts.shards, opts.minCutDelayNs, opts.traffic);
  const k = opts.shards, L = part.lookaheadNs;
  const channels = Array.from({ length: k }, (_, shard) => new ShardChannel(shard, spawn({
    text: opts.text, shard, shardOf: [...part.shardOf], cut: part.cut, traffic: opts.traffic,
    ...(opts.tagIds !== undefined ? { tagIds: opts.tagIds } : {}), ...(opts.trace !== undefined ? { trace: opts.trace } : {}),
    ...(opts.onTrace !== undefined ? { records: true } : {}), shards: opts.shards,
    ...(opts.faults?.[shard] !== undefined ? { fault: opts.faults[shard] } : {}),
  }), opts.timeoutMs ?? 600_000));
  const next = new Array<number>(k).fill(Infinity);
  const inbox: CrossFrame[][] = Array.from({ length: k }, () => []);
  let rounds = 0, seq = 0;
  const t0 = performance.now();
  const wall = { startMs: 0, roundsMs: 0, criticalMs: 0 };
  try {
    (await Promise.all(channels.map((c) => c.expect('ready')))).forEach((m, i) => { next[i] = m.next; });
    wall.startMs = performance.now() - t0;
    const earliest = new Array<number>(k).fill(Infinity);
    for (;;) {
      let t = Infinity;
      for (let i = 0; i < k; i++) {
        let e = next[i]!;
        for (const f of inbox[i]!) e = Math.min(e, f.t);
        earliest[i] = e;
        t = Math.min(t, e);
      }
      if (t >= opts.endNs) break;
      const w = Math.min(t + L, opts.endNs);
      // a shard with nothing before w sits the round out (its frames wait for a later one)
      const active = channels.filter((_, i) => earliest[i]! < w);
      for (const c of active) {
        // stable: frames at the same time keep their shards' sending order
        const frames = inbox[c.index]!.sort((a, b) => a.t - b.t);
        inbox[c.index] = [];
        c.send({ type: 'round', w, frames });
      }
      const ran = await Promise.all(active.map((c) => c.expect('ran')));
      wall.criticalMs += Math.max(...ran.map((m) => m.busyMs));
      ran.forEach((m, j) => {
        next[active[j]!.index] = m.next;
        for (const f of m.frames) inbox[ends.get(f.link)![f.fromSide === 0 ? 1 : 0]]!.push(f);
      });
      if (opts.onTrace !== undefined) seq = forwardRecords(ran.map((m) => m.records), opts.onTrace, seq);
      rounds++;
    }
    wall.roundsMs = performance.now() - t0 - wall.startMs;
    for (const c of channels) c.send({ type: 'finish' });
    const reports = (await Promise.all(channels.map((c) => c.expect('report')))).map((m) => m.report);
    channels.forEach((c) => { c.done = true; });
    // frames still waiting at the coordinator are in transit: the shards counted them exported, not imported
    return resultOf(k, part, rounds, reports, null, wall);
  } catch (e) {
    if (!(e instanceof ShardFailure)) throw e;
    // the others report what they have, then every thread ends
    const reports: ShardReport[] = [];
    for (const c of channels) {
      if (c.index === e.shard || !c.alive) { if (c.lastReport !== null) reports.push(c.lastReport); continue; }
      c.send({ type: 'finish' });
      try { reports.push((await c.expect('report')).report); } catch { /* it failed too: nothing to gather */ }
    }
    return resultOf(k, part, rounds, reports, { shard: e.shard, reason: e.reason }, wall);
  } finally {
    for (const c of channels) { c.done = true; await c.worker.terminate(); }
  }
}

/** The same file and traffic in this thread, unsplit: the reference for a sharded run. */
export function runSingle(opts: Pick<ShardedRunOptions, 'text' | 'traffic' | 'endNs' | 'tagIds' | 'trace' | 'onTrace'>): ShardedRunResult & { runtime: ShardRuntime } {
  const { part } = partitionFile(opts.text, 1, undefined, opts.traffic);
  const runtime = new ShardRuntime({ text: opts.text, shard: 0, shardOf: part.shardOf, cut: [], traffic: opts.traffic,
    ...(opts.tagIds !== undefined ? { tagIds: opts.tagIds } : {}), ...(opts.trace !== undefined ? { trace: opts.trace } : {}),
    ...(opts.onTrace !== undefined ? { records: true } : {}) });
  const t0 = performance.now();
  runtime.runBefore(opts.endNs);
  const ms = performance.now() - t0;
  if (opts.onTrace !== undefined) forwardRecords([runtime.takeRecords()], opts.onTrace, 0);
  return { ...resultOf(1, part, 1, [runtime.report()], null, { startMs: 0, roundsMs: ms, criticalMs: ms }), runtime };
}
