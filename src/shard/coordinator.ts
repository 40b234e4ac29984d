/**
 * The coordinator (shard layer): runs a topology file, or a Kubernetes
 * cluster's manifests, split across worker threads, in virtual-time
 * lockstep, and gathers one result as if it were one emulator.
 *
 * What: `runSharded({ text, format?, cluster?, shards, traffic, endNs })`
 * partitions the source (source.ts: a file's graph, or a cluster's nodes
 * and underlay; partition.ts), starts one worker per shard (worker.ts; each
 * builds the same source with the same seed and runs its part), and drives
 * rounds:
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
 * as much synchronization as a busy one. The rounds' messages go through a
 * round channel per worker (worker.ts: a MessagePort read with
 * receiveMessageOnPort, and a shared signal both sides block on with
 * Atomics.wait — the coordinator in 20 ms slices, letting its event loop
 * see a thread that died), not through 'message' events: each round wakes
 * every busy thread and this one, a futex wake-up each, and no event-loop
 * turn; and a round's frames travel packed in one transferred buffer
 * (frame-batch.ts), not cloned object by object. Measured on the 2-core VM
 * (bench/shard.bench.ts 2 1 20000 400, two shards, 2,005 rounds of almost
 * no work): 0.27 ms a round with 'message' events, 0.23 ms with the round
 * channel — the rest is the wake-ups themselves (a cross-core wake-up on a
 * VM costs tens of µs); with ~250 frames a round (8 4 20000 400) the
 * synchronization fell from 0.76 to 0.33 ms a round with the packing.
 * Limits: a cut link with a tiny
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
 * Progress (`onRound`): after each round, its window's end, the rounds,
 * the wall time and critical path so far, and the packets delivered in all
 * shards — a benchmark's steady state; `maxWindowNs` caps the window (a run
 * with nothing cut is otherwise one window).
 * The result: each ping's outcome (by index in the traffic), each UDP
 * flow's counts, the shards' reports and their gathered ledger
 * (shard-runtime.ts `gatherLedgers`), the partition, the rounds run and
 * where the wall-clock time went (start, rounds, their critical path).
 * Not done: per-shard horizons (shard i may run to the others' earliest
 * possible event + L — up to 2L while they are idle) would mean fewer
 * rounds in sparse traffic, at the price of buffering trace records to keep
 * them in time order.
 * `runSingle` runs the same source and traffic in this thread, unsplit —
 * the reference a sharded run is compared with.
 * Workers on TypeScript source (tests under vitest, scripts under tsx): a
 * coordinator loaded from a .ts file starts its worker through a small
 * eval'd bootstrap that registers tsx's loader first (Node 20 does not run
 * `--import tsx` from a worker's execArgv before the worker's entry);
 * compiled, it starts worker.js directly.
 * Neighbours: partition.ts, source.ts, shard-runtime.ts, worker.ts.
 */
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { partition, type Partition } from './partition.js';
import { graphOfSource, type ShardSource } from './source.js';
import { checkTraffic, gatherLedgers, ShardRuntime, type CrossFrame, type PingOutcome, type ShardFault, type ShardReport, type ShardTraffic, type UdpOutcome } from './shard-runtime.js';
import type { FromShard, ShardWorkerData, ToShard } from './worker.js';
import { packFrames, unpackFrames } from './frame-batch.js';
import type { TraceEvent } from '../sim/tracer.js';

/** Hand each shard's records of a round to 'sink' in time order (shard order, then emission order, on a tie), seq renumbered from 'seq'; the next seq. */
function forwardRecords(perShard: readonly TraceEvent[][], sink: (ev: TraceEvent) => void, seq: number): number {
  const all = perShard.flat().sort((a, b) => a.t - b.t);
  for (const ev of all) sink({ ...ev, seq: ++seq });
  return seq;
}

/** The source of 'o' alone (what crosses to a worker). */
function sourceOf(o: ShardSource): ShardSource {
  return { text: o.text, ...(o.format !== undefined ? { format: o.format } : {}), ...(o.cluster !== undefined ? { cluster: o.cluster } : {}) };
}

/** What to run: a topology file, or a cluster's manifests (source.ts), split how and for how long. */
export interface ShardedRunOptions extends ShardSource {
  shards: number;
  traffic: ShardTraffic;
  /** run every event before this virtual time (ns) */
  endNs: number;
  /** only links of at least this delay are cut (partition.ts; default: the source's — 100 µs for a file, the underlay's delay for a cluster) */
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
  /**
   * Called after each round: its window's end (virtual ns), the rounds run, the wall-clock time
   * of the rounds so far and of their critical path (ms), and the packets delivered so far in all
   * shards — what a benchmark reads its steady state from (after a warm-up).
   */
  onRound?: (p: RoundProgress) => void;
  /** no window longer than this (ns; default: the lookahead — unbounded when nothing is cut): progress points for `onRound` in a run of one shard */
  maxWindowNs?: number;
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
   * round, summed; rounds − critical is what the synchronization cost (messages, barrier waits);
   * and each shard's own simulation time, summed over the rounds (how even the split is).
   */
  wall: { startMs: number; roundsMs: number; criticalMs: number; busyMs: number[] };
}

export interface RoundProgress { w: number; rounds: number; roundsMs: number; criticalMs: number; busyMs: readonly number[]; delivered: number }

/** A shard failed: which, and why. */
class ShardFailure extends Error {
  constructor(readonly shard: number, readonly reason: string) { super(`shard ${shard}: ${reason}`); }
}

/**
 * The coordinator's end of one worker: 'ready' (or a build error) on the worker's own port, then
 * the rounds on the round channel (worker.ts: a MessagePort and a shared signal, waited on with
 * Atomics.wait, not the event loop); or why it failed.
 */
class ShardChannel {
  private ready: { resolve: (m: Extract<FromShard, { type: 'ready' }>) => void; reject: (e: ShardFailure) => void } | null = null;
  private readyMessage: Extract<FromShard, { type: 'ready' }> | null = null;
  private failed: ShardFailure | null = null;
  private readonly signal: Int32Array;
  private readonly port: MessagePort;
  /** answers taken from the round channel */
  private answers = 0;
  /** the report sent with an 'error', if any */
  lastReport: ShardReport | null = null;
  done = false;
  readonly worker: Worker;

  constructor(readonly index: number, data: Omit<ShardWorkerData, 'port' | 'signal'>, private readonly timeoutMs: number) {
    const { port1, port2 } = new MessageChannel();
    const signal = new SharedArrayBuffer(8);
    this.signal = new Int32Array(signal);
    this.port = port1;
    this.worker = spawn({ ...data, port: port2, signal }, [port2]);
    this.worker.on('message', (m: FromShard) => {
      if (m.type === 'error') { this.lastReport = m.report; this.fail(`threw ${m.message}`); return; }
      if (m.type === 'ready') { this.readyMessage = m; this.ready?.resolve(m); }
    });
    this.worker.on('error', (e) => this.fail(`crashed: ${e.message}`));
    this.worker.on('exit', (code) => { if (!this.done) this.fail(`its thread exited (code ${code})`); });
  }

  get alive(): boolean { return this.failed === null; }

  /** The shard built: its 'ready' (rejects with a ShardFailure when it failed or stays silent). */
  whenReady(): Promise<Extract<FromShard, { type: 'ready' }>> {
    if (this.readyMessage !== null) return Promise.resolve(this.readyMessage);
    if (this.failed !== null) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(`no answer in ${this.timeoutMs} ms`), this.timeoutMs);
      this.ready = { resolve: (x) => { clearTimeout(timer); resolve(x); }, reject: (e) => { clearTimeout(timer); reject(e); } };
    });
  }

  /** Send 'm' on the round channel ('transfer' moved, not copied) and wake the worker. */
  send(m: ToShard, transfer: ArrayBuffer[] = []): void {
    this.port.postMessage(m, transfer);
    Atomics.add(this.signal, 0, 1);
    Atomics.notify(this.signal, 0);
  }

  /**
   * The worker's next answer of 'type' on the round channel (others skipped): this thread blocks
   * on the signal (in slices of 20 ms, between which the event loop runs: a thread that exited
   * is seen there) until it comes; a ShardFailure when the worker answered an error, failed, or
   * stays silent.
   */
  async answer<T extends FromShard['type']>(type: T): Promise<Extract<FromShard, { type: T }>> {
    const deadline = performance.now() + this.timeoutMs;
    for (;;) {
      if (this.failed !== null) throw this.failed;
      if (Atomics.load(this.signal, 1) > this.answers) {
        const got = receiveMessageOnPort(this.port);
        if (got !== undefined) {
          this.answers++;
          const m = got.message as FromShard;
          if (m.type === 'error') { this.lastReport = m.report; this.fail(`threw ${m.message}`); continue; }
          // (a round's answer left unread when another shard failed comes before the report)
          if (m.type === type) return m as Extract<FromShard, { type: T }>;
          continue;
        }
      }
      if (Atomics.wait(this.signal, 1, this.answers, 20) === 'timed-out') {
        await new Promise((r) => setImmediate(r));
        if (performance.now() > deadline) this.fail(`no answer in ${this.timeoutMs} ms`);
      }
    }
  }

  close(): void { this.port.close(); }

  private fail(reason: string): void {
    if (this.failed !== null) return;
    this.failed = new ShardFailure(this.index, reason);
    const r = this.ready;
    this.ready = null;
    r?.reject(this.failed);
  }
}

/** Start the worker of shard 'data.shard' (on TypeScript source through tsx's loader), handing it 'transfer'. */
function spawn(data: ShardWorkerData, transfer: MessagePort[]): Worker {
  const self = import.meta.url;
  if (!self.endsWith('.ts')) return new Worker(new URL('./worker.js', self), { workerData: data, transferList: transfer });
  const api = pathToFileURL(createRequire(self).resolve('tsx/esm/api')).href.replace(/\.cjs$/, '.mjs');
  const entry = new URL('./worker.ts', self).href;
  const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`;
  return new Worker(boot, { eval: true, workerData: data, transferList: transfer });
}

/**
 * The partition of 'src' for 'shards' shards (only links of at least 'minCutDelayNs' cut: default
 * the source's, source.ts), and for each cut link the shards of its two ends; 'traffic', when
 * given, is checked against the source's hosts when they are known before building.
 */
export function partitionSource(src: ShardSource, shards: number, minCutDelayNs?: number, traffic?: ShardTraffic): { part: Partition; ends: Map<number, [number, number]> } {
  const { graph, minCutDelayNs: threshold, hosts } = graphOfSource(src);
  if (traffic !== undefined && hosts !== null) checkTraffic((h) => hosts.has(h), traffic);
  const part = partition(graph, { shards, minCutDelayNs: minCutDelayNs ?? threshold });
  const ends = new Map<number, [number, number]>();
  for (const j of part.cut) {
    const l = graph.links[j]!;
    ends.set(j, [part.shardOf.get(l.a)!, part.shardOf.get(l.b)!]);
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
  const { part, ends } = partitionSource(opts, opts.shards, opts.minCutDelayNs, opts.traffic);
  const k = opts.shards, L = Math.min(part.lookaheadNs, opts.maxWindowNs ?? Infinity);
  const channels = Array.from({ length: k }, (_, shard) => new ShardChannel(shard, {
    ...sourceOf(opts), shard, shardOf: [...part.shardOf], cut: part.cut, traffic: opts.traffic,
    ...(opts.tagIds !== undefined ? { tagIds: opts.tagIds } : {}), ...(opts.trace !== undefined ? { trace: opts.trace } : {}),
    ...(opts.onTrace !== undefined ? { records: true } : {}), shards: opts.shards,
    ...(opts.faults?.[shard] !== undefined ? { fault: opts.faults[shard] } : {}),
  }, opts.timeoutMs ?? 600_000));
  const next = new Array<number>(k).fill(Infinity);
  const inbox: CrossFrame[][] = Array.from({ length: k }, () => []);
  /** each shard's delivered count at its last round */
  const delivered = new Array<number>(k).fill(0);
  let rounds = 0, seq = 0;
  const t0 = performance.now();
  const wall = { startMs: 0, roundsMs: 0, criticalMs: 0, busyMs: new Array<number>(k).fill(0) };
  try {
    (await Promise.all(channels.map((c) => c.whenReady()))).forEach((m, i) => { next[i] = m.next; });
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
        const frames = packFrames(inbox[c.index]!.sort((a, b) => a.t - b.t));
        inbox[c.index] = [];
        c.send({ type: 'round', w, frames }, [frames]);
      }
      const ran: Extract<FromShard, { type: 'ran' }>[] = [];
      for (const c of active) ran.push(await c.answer('ran'));
      wall.criticalMs += Math.max(...ran.map((m) => m.busyMs));
      ran.forEach((m, j) => { wall.busyMs[active[j]!.index]! += m.busyMs; });
      ran.forEach((m, j) => {
        next[active[j]!.index] = m.next;
        for (const f of unpackFrames(m.frames)) inbox[ends.get(f.link)![f.fromSide === 0 ? 1 : 0]]!.push(f);
      });
      if (opts.onTrace !== undefined) seq = forwardRecords(ran.map((m) => m.records), opts.onTrace, seq);
      rounds++;
      if (opts.onRound !== undefined) {
        ran.forEach((m, j) => { delivered[active[j]!.index] = m.delivered; });
        opts.onRound({ w, rounds, roundsMs: performance.now() - t0 - wall.startMs, criticalMs: wall.criticalMs, busyMs: [...wall.busyMs], delivered: delivered.reduce((a, b) => a + b, 0) });
      }
    }
    wall.roundsMs = performance.now() - t0 - wall.startMs;
    for (const c of channels) c.send({ type: 'finish' });
    const reports: ShardReport[] = [];
    for (const c of channels) reports.push((await c.answer('report')).report);
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
      try { reports.push((await c.answer('report')).report); } catch { /* it failed too: nothing to gather */ }
    }
    return resultOf(k, part, rounds, reports, { shard: e.shard, reason: e.reason }, wall);
  } finally {
    for (const c of channels) { c.done = true; await c.worker.terminate(); c.close(); }
  }
}

/** The same file and traffic in this thread, unsplit: the reference for a sharded run. */
export function runSingle(opts: Pick<ShardedRunOptions, 'text' | 'format' | 'cluster' | 'traffic' | 'endNs' | 'tagIds' | 'trace' | 'onTrace'>): ShardedRunResult & { runtime: ShardRuntime } {
  const { part } = partitionSource(opts, 1, undefined, opts.traffic);
  const runtime = new ShardRuntime({ ...sourceOf(opts), shard: 0, shardOf: part.shardOf, cut: [], traffic: opts.traffic,
    ...(opts.tagIds !== undefined ? { tagIds: opts.tagIds } : {}), ...(opts.trace !== undefined ? { trace: opts.trace } : {}),
    ...(opts.onTrace !== undefined ? { records: true } : {}) });
  const t0 = performance.now();
  runtime.runBefore(opts.endNs);
  const ms = performance.now() - t0;
  if (opts.onTrace !== undefined) forwardRecords([runtime.takeRecords()], opts.onTrace, 0);
  return { ...resultOf(1, part, 1, [runtime.report()], null, { startMs: 0, roundsMs: ms, criticalMs: ms, busyMs: [ms] }), runtime };
}
