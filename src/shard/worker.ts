/**
 * A shard's thread (shard layer): the worker_threads entry that builds one
 * ShardRuntime and answers the coordinator's messages.
 *
 * What: started by coordinator.ts with `workerData` = `ShardWorkerData`
 * (the source, this shard's index, the partition as pairs, the cut links,
 * the traffic, and the round channel: a MessagePort and a shared signal).
 * The conversation, one message each way per round:
 *   worker → { type: 'ready', next }                    once built (parentPort)
 *   coord  → { type: 'round', w, frames }  worker → { type: 'ran', next, frames, events, records, busyMs, delivered }
 *   coord  → { type: 'finish' }            worker → { type: 'report', report }
 * The rounds go through the round channel without the event loop: the
 * worker blocks in Atomics.wait on the signal's slot 0 (the coordinator's
 * count of messages sent) and takes the message with receiveMessageOnPort;
 * it answers on the port and bumps slot 1, which the coordinator waits on
 * the same way — a round trip is two futex wake-ups, not two event-loop
 * turns on each side (coordinator.ts "Cost" has the figures).
 * 'frames' in a round are the frames other shards sent here (each injected
 * at its arrival time; packed in one transferred buffer, frame-batch.ts);
 * in the answer, the frames this shard sent out (packed the same way) and,
 * when the coordinator gathers traces, the round's trace records; and the
 * packets delivered in this shard so far (ShardRuntime.delivered).
 * Anything that throws — building (on parentPort), a round (on the round
 * channel) — is answered with { type: 'error', message, report } (the
 * report as far as it can be made: the ledger, the counts), and the worker
 * takes no more rounds; the coordinator terminates it. A thread that dies
 * outright (process.exit, an out-of-memory) is seen by the coordinator's
 * 'exit' handler.
 * Neighbours: shard-runtime.ts (the simulation), coordinator.ts.
 */
import { parentPort, receiveMessageOnPort, workerData, type MessagePort } from 'node:worker_threads';
import type { TraceEvent } from '../sim/tracer.js';
import type { ShardSource } from './source.js';
import { ShardRuntime, type ShardFault, type ShardReport, type ShardTraffic } from './shard-runtime.js';
import { packFrames, unpackFrames } from './frame-batch.js';

export interface ShardWorkerData extends ShardSource {
  shard: number;
  shardOf: [string, number][];
  cut: number[];
  traffic: ShardTraffic;
  tagIds?: boolean;
  trace?: boolean;
  records?: boolean;
  shards: number;
  fault?: ShardFault;
  /** the round channel: messages both ways */
  port: MessagePort;
  /** Int32Array(2) over it: [0] messages the coordinator sent, [1] answers this worker sent */
  signal: SharedArrayBuffer;
}

/** A round's frames travel packed (frame-batch.ts), the buffer transferred. */
export type ToShard = { type: 'round'; w: number; frames: ArrayBuffer } | { type: 'finish' };
export type FromShard =
  | { type: 'ready'; next: number }
  | { type: 'ran'; next: number; frames: ArrayBuffer; events: number; records: TraceEvent[]; busyMs: number; delivered: number }
  | { type: 'report'; report: ShardReport }
  | { type: 'error'; message: string; report: ShardReport | null };

const data = workerData as ShardWorkerData;
const signal = new Int32Array(data.signal);
let rt: ShardRuntime | null = null;

function failure(e: unknown): FromShard {
  let report: ShardReport | null = null;
  try { report = rt?.report() ?? null; } catch { report = null; }
  return { type: 'error', message: e instanceof Error ? `${e.name}: ${e.message}` : String(e), report };
}

/** An answer on the round channel: the message (its 'transfer' moved, not copied), then the signal. */
function answer(m: FromShard, transfer: ArrayBuffer[] = []): void {
  data.port.postMessage(m, transfer);
  Atomics.add(signal, 1, 1);
  Atomics.notify(signal, 1);
}

/** The coordinator's next message on the round channel (blocks this thread until there is one). */
function nextMessage(seen: number): ToShard {
  Atomics.wait(signal, 0, seen);
  // the message is queued before the signal is bumped; the loop only guards a reordering
  for (;;) {
    const m = receiveMessageOnPort(data.port);
    if (m !== undefined) return m.message as ToShard;
  }
}

try {
  rt = new ShardRuntime({ text: data.text, ...(data.format !== undefined ? { format: data.format } : {}), ...(data.cluster !== undefined ? { cluster: data.cluster } : {}), shard: data.shard,
    shardOf: new Map(data.shardOf), cut: data.cut, traffic: data.traffic,
    ...(data.tagIds !== undefined ? { tagIds: data.tagIds } : {}), ...(data.trace !== undefined ? { trace: data.trace } : {}),
    ...(data.records !== undefined ? { records: data.records } : {}), shards: data.shards,
    ...(data.fault !== undefined ? { fault: data.fault } : {}) });
} catch (e) {
  parentPort!.postMessage(failure(e));
  rt = null;
}

if (rt !== null) {
  parentPort!.postMessage({ type: 'ready', next: rt.nextTime } satisfies FromShard);
  for (let seen = 0; ; seen++) {
    const m = nextMessage(seen);
    try {
      if (m.type === 'finish') { answer({ type: 'report', report: rt.report() }); break; }
      const t0 = performance.now();
      rt.inject(unpackFrames(m.frames));
      const events = rt.runBefore(m.w);
      const frames = packFrames(rt.take());
      answer({ type: 'ran', next: rt.nextTime, frames, events, records: rt.takeRecords(), busyMs: performance.now() - t0, delivered: rt.delivered }, [frames]);
    } catch (e) {
      answer(failure(e));
      break;
    }
  }
  data.port.close();
}
