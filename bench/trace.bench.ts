/**
 * Trace benchmark (issue 7, item 6): what tracing every packet costs.
 * Cases (the topology bench's routed case: constant-rate UDP from a host across a router to
 * another host, 64-byte frames; each case in a process of its own):
 *  - tracing off (the tracer's `on` guard only);
 *  - every packet traced into a TraceStore (default bounds: 100k packets, 256 MiB): packets/s,
 *    and records/s from the records per packet; and into a store of 1000 packets (what a viewer
 *    keeps live; the store encodes records into a byte ring, so keeping them costs no GC);
 *  - every packet traced to a subscriber that only counts (the records' own cost, no store);
 *  - one packet in 100 traced into a TraceStore of 1000 packets (Tracer.setSample);
 *  - memory: 1 million packets traced into a store with the default bounds — the heap after,
 *    the packets kept and evicted (the store stays within its bounds however long it runs).
 */
import { Topology } from '../src/topology/topology.js';
import { TraceStore } from '../src/trace/store.js';
import { caseMain, runIsolated, type BenchCase, type BenchResult } from './harness.js';
import { routedCase } from './topology.bench.js';

function traced(name: string, attach: (t: Topology) => () => number): BenchCase {
  let records: () => number = () => 0;
  const c = routedCase(name, (t) => { records = attach(t); });
  let packets = 0;
  const fn = c.fn;
  return { ...c, fn: () => { packets += c.batch; return fn(); }, extra: () => ({ recordsPerPacket: Math.round((records() / Math.max(packets, 1)) * 10) / 10 }) };
}

/** Count the records, and file them in a TraceStore of 'maxPackets' (default bounds when undefined; 0: no store), one packet in 'sample' traced. */
function storeOf(maxPackets?: number, sample = 1): (t: Topology) => () => number {
  return (t) => {
    if (maxPackets !== 0) new TraceStore(maxPackets === undefined ? {} : { maxPackets }).attach(t.sim);
    t.sim.tracer.setSample(sample);
    let n = 0;
    t.sim.tracer.subscribe(() => { n++; });
    return () => n;
  };
}

const BUILDERS: (() => BenchCase[])[] = [
  () => [routedCase('UDP across a router, tracing off')],
  () => [traced('UDP across a router, every packet traced into a TraceStore', storeOf())],
  () => [traced('UDP across a router, every packet traced into a TraceStore of 1000 packets', storeOf(1000))],
  () => [traced('UDP across a router, every packet traced to a counting subscriber', storeOf(0))],
  () => [traced('UDP across a router, one packet in 100 traced into a TraceStore of 1000 packets', storeOf(1000, 100))],
];

/** 1M packets traced into a store with the default bounds: heap after, packets kept, evicted. */
function memoryTraced(packets = 1_000_000): Record<string, number> {
  globalThis.gc?.();
  const before = process.memoryUsage();
  let store: TraceStore | null = null;
  const c = routedCase('memory', (t) => { store = new TraceStore(); store.attach(t.sim); });
  const t0 = performance.now();
  let got = 0;
  while (got < packets) got = c.fn();
  const secs = (performance.now() - t0) / 1000;
  globalThis.gc?.();
  const after = process.memoryUsage();
  const s = store as unknown as TraceStore;
  return { packets: got, seconds: Math.round(secs * 10) / 10, heapMB: Math.round((after.heapUsed - before.heapUsed) / 2 ** 20),
    arrayBuffersMB: Math.round((after.arrayBuffers - before.arrayBuffers) / 2 ** 20), kept: s.size, evicted: s.evicted, storeMB: Math.round(s.bytes / 2 ** 20) };
}

export async function run(): Promise<BenchResult[]> {
  const out = runIsolated('trace', import.meta.url, BUILDERS.length);
  const mem = memoryTraced();
  console.log(`trace › memory, 1M packets traced (default bounds): heap +${mem.heapMB} MB, array buffers +${mem.arrayBuffersMB} MB, ${mem.kept} packets kept, ${mem.evicted} evicted, store ${mem.storeMB} MB, ${mem.seconds} s`);
  out.push({ suite: 'trace', name: 'memory, 1M packets traced (default bounds)', perSec: 0, rme: 0, samples: 1, batch: 1, extra: mem });
  return out;
}

if (import.meta.url === `file://${process.argv[1]}` && !caseMain('trace', BUILDERS)) await run();
