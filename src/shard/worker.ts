/**
 * A shard's thread (shard layer): the worker_threads entry that builds one
 * ShardRuntime and answers the coordinator's messages.
 *
 * What: started by coordinator.ts with `workerData` = `ShardWorkerData`
 * (the topology file's text, this shard's index, the partition as pairs,
 * the cut links, the traffic). The conversation, one message each way per
 * round:
 *   worker → { type: 'ready', next }                    once built
 *   coord  → { type: 'round', w, frames }  worker → { type: 'ran', next, frames, events, records, busyMs }
 *   coord  → { type: 'finish' }            worker → { type: 'report', report }
 * 'frames' in a round are the frames other shards sent here (each injected
 * at its arrival time); in the answer, the frames this shard sent out and,
 * when the coordinator gathers traces, the round's trace records.
 * Anything that throws — building, a round — is answered with
 * { type: 'error', message, report } (the report as far as it can be
 * made: the ledger, the counts) and the thread stays up until the
 * coordinator terminates it; a thread that dies outright (process.exit, an
 * out-of-memory) is seen by the coordinator's 'exit' handler.
 * Neighbours: shard-runtime.ts (the simulation), coordinator.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { TraceEvent } from '../sim/tracer.js';
import { ShardRuntime, type CrossFrame, type ShardFault, type ShardReport, type ShardTraffic } from './shard-runtime.js';

export interface ShardWorkerData {
  text: string;
  shard: number;
  shardOf: [string, number][];
  cut: number[];
  traffic: ShardTraffic;
  tagIds?: boolean;
  trace?: boolean;
  records?: boolean;
  shards: number;
  fault?: ShardFault;
}

export type ToShard = { type: 'round'; w: number; frames: CrossFrame[] } | { type: 'finish' };
export type FromShard =
  | { type: 'ready'; next: number }
  | { type: 'ran'; next: number; frames: CrossFrame[]; events: number; records: TraceEvent[]; busyMs: number }
  | { type: 'report'; report: ShardReport }
  | { type: 'error'; message: string; report: ShardReport | null };

const port = parentPort!;
const data = workerData as ShardWorkerData;
let rt: ShardRuntime | null = null;
const post = (m: FromShard): void => port.postMessage(m);

function fail(e: unknown): void {
  let report: ShardReport | null = null;
  try { report = rt?.report() ?? null; } catch { report = null; }
  post({ type: 'error', message: e instanceof Error ? `${e.name}: ${e.message}` : String(e), report });
}

try {
  rt = new ShardRuntime({ text: data.text, shard: data.shard, shardOf: new Map(data.shardOf), cut: data.cut, traffic: data.traffic,
    ...(data.tagIds !== undefined ? { tagIds: data.tagIds } : {}), ...(data.trace !== undefined ? { trace: data.trace } : {}),
    ...(data.records !== undefined ? { records: data.records } : {}), shards: data.shards,
    ...(data.fault !== undefined ? { fault: data.fault } : {}) });
  post({ type: 'ready', next: rt.nextTime });
} catch (e) { fail(e); }

port.on('message', (m: ToShard) => {
  if (rt === null) return;
  try {
    if (m.type === 'round') {
      const t0 = performance.now();
      rt.inject(m.frames);
      const events = rt.runBefore(m.w);
      post({ type: 'ran', next: rt.nextTime, frames: rt.take(), events, records: rt.takeRecords(), busyMs: performance.now() - t0 });
    } else {
      post({ type: 'report', report: rt.report() });
    }
  } catch (e) { fail(e); }
});
