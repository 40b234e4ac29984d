/**
 * A recorded run under the trace viewer (trace layer): trace records
 * gathered elsewhere — a sharded run's, in virtual-time order with one id
 * per packet across shards (shard/coordinator.ts `onTrace`) — served as the
 * viewer serves a live session, read-only.
 *
 * What: `new RecordedRun(store, topology, { now, events })` is a
 * TraceSource (session.ts) over a filled TraceStore and a topology
 * snapshot (session.ts `topologySnapshot` of the network the records came
 * from): the packet list, a packet's records, filters, live subscriptions
 * (nothing new arrives), pcap export and the topology work as for a live
 * session; the clock stands at the run's end, paused. What needs a running
 * simulation — run, step, back, speed, inject, fork — is refused with an
 * InputError TRACE_RECORDED naming the request, which the server answers
 * as an error; pause is a no-op (it is paused).
 * Neighbours: session.ts (TraceSource, the snapshot and summary),
 * server.ts, cli/shard.ts (`sdnemu shard --serve`).
 */
import { InputError } from '../errors.js';
import type { TraceEvent } from '../sim/tracer.js';
import { packetSummary, type ForkReply, type TraceSource } from './session.js';
import type { PacketTrace, TraceStore } from './store.js';
import type { ClockState, PacketSummary, TopologySnapshot } from './protocol.js';

export class RecordedRun implements TraceSource {
  constructor(readonly store: TraceStore, private readonly snapshot: TopologySnapshot, private readonly clock: { now: number; events: number }) {}

  onRecord(_fn: (p: PacketTrace, ev: TraceEvent) => void): () => void { return () => {}; }
  onState(_fn: (s: ClockState) => void): () => void { return () => {}; }
  state(): ClockState { return { now: this.clock.now, running: false, speed: 1, events: this.clock.events }; }
  pause(): ClockState { return this.state(); }
  run(): ClockState { return this.refuse('control.run'); }
  setSpeed(_x: number): ClockState { return this.refuse('control.speed'); }
  step(): ClockState { return this.refuse('control.step'); }
  back(): ClockState { return this.refuse('control.back'); }
  inject(): ClockState { return this.refuse('inject'); }
  fork(): ForkReply { return this.refuse('fork'); }
  topology(): TopologySnapshot { return this.snapshot; }
  summary(p: PacketTrace): PacketSummary { return packetSummary(p); }

  private refuse(field: string): never {
    throw new InputError('TRACE_RECORDED', field, 'this is a recorded run (its records were gathered from shards): its clock does not move; list, filter, trace and export its packets');
  }
}
