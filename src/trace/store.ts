/**
 * The trace store (trace layer): the records of the last N packets, grouped
 * by packet, bounded in packets and in bytes, searchable with display
 * filters.
 *
 * What: `TraceStore.attach(sim)` subscribes to the simulator's tracer
 * (sim/tracer.ts) and files each record under its packet's trace id. A
 * packet is a `PacketTrace`: its records in order, its first and last time,
 * the nodes it crossed, whether and why it was dropped, whether it was
 * delivered. The store is a ring in arrival order of packets: when a new
 * packet would take it past `maxPackets`, or any record past `maxBytes`
 * (the frames' bytes — a frame unchanged since the packet's last record
 * counted once — plus a fixed 320 per record), the oldest packets go
 * (`evicted` counts them) — memory never grows without bound, whatever
 * the traffic. A packet's later records (a reply, a retransmission under
 * the same id) stay with it while it is kept; a record for a packet
 * already evicted starts it again, as a packet with only its later
 * records (ids are not made in the order packets first show up — a frame
 * that waited for ARP is older than the ARP exchange — so the store cannot
 * tell an evicted id from a new one).
 * Filters: `query(filter)` compiles a display filter (filter.ts) with the
 * trace metadata fields below and returns the matching packets, newest
 * last. A packet matches when some version of its bytes along its path
 * does (before and after NAT, with and without its tunnel header) — so
 * `ip.addr == 10.96.0.10` finds a Service's packets after DNAT too — and
 * metadata fields read the whole path:
 *   node, port      every node / port the packet crossed
 *   drop            present when it was dropped; drop.reason its reason
 *   delivered       present when a socket (or a stack's answer) took it
 *   trace.id        the packet's id
 *   hop.kind        the kinds of record it has (tx, rx, nat, encap …)
 * Dissection happens when a filter needs packet fields, once per distinct
 * frame, and is kept with the packet.
 * Neighbours: sim/tracer.ts (the records), filter.ts, the server (live
 * records and queries).
 */
import type { Sim } from '../sim/engine.js';
import type { TraceEvent } from '../sim/tracer.js';
import { dissect } from '../wire/dissect/index.js';
import type { FieldType } from './fields.js';
import { cmpBytes, compileFilter, dissectionSubject, type Filter, type FilterSubject } from './filter.js';

/** The trace metadata fields filters may use, beside the dissector's. */
export const TRACE_FIELDS: ReadonlyMap<string, FieldType> = new Map<string, FieldType>([
  ['node', 'string'], ['port', 'string'], ['drop', 'none'], ['drop.reason', 'string'], ['delivered', 'none'],
  ['trace.id', 'uint'], ['hop.kind', 'string'],
]);

/**
 * Bytes a record costs beside its frame — the object, its strings and fields, measured with
 * bench/trace.bench.ts's memory case — for the byte bound.
 */
const RECORD_OVERHEAD = 320;

export class PacketTrace {
  readonly id: number;
  readonly events: TraceEvent[] = [];
  bytes = 0;
  private subjects: FilterSubject[] | null = null;

  constructor(id: number) { this.id = id; }

  get first(): number { return this.events[0]?.t ?? 0; }
  get last(): number { return this.events[this.events.length - 1]?.t ?? 0; }
  get dropped(): TraceEvent | undefined { return this.events.find((e) => e.kind === 'drop'); }
  get delivered(): boolean { return this.events.some((e) => e.kind === 'deliver'); }
  /** the nodes crossed, in order, each once */
  get nodes(): string[] { return [...new Set(this.events.map((e) => e.node))]; }

  add(ev: TraceEvent): number {
    // a frame as it was at the packet's last record (a link does not change it: tx, then rx) is kept once
    const f = ev.frame;
    let b = RECORD_OVERHEAD;
    if (f !== null) {
      const last = this.lastFrame;
      if (last !== null && cmpBytes(last, f) === 0) ev.frame = last;
      else { this.lastFrame = f; b += f.length; }
    }
    this.events.push(ev);
    this.subjects = null;
    this.bytes += b;
    return b;
  }

  private lastFrame: Uint8Array | null = null;

  /** The packet as filters read it: each distinct version of its bytes, and its path's metadata. */
  subject(): FilterSubject {
    if (this.subjects === null) {
      const seen = new Set<string>();
      this.subjects = [];
      for (const e of this.events) {
        if (e.frame === null) continue;
        const key = Buffer.from(e.frame.buffer, e.frame.byteOffset, e.frame.length).toString('latin1');
        if (seen.has(key)) continue;
        seen.add(key);
        this.subjects.push(dissectionSubject(e.frame, dissect(e.frame)));
      }
    }
    const versions = this.subjects;
    const meta = (name: string): string[] | null => {
      switch (name) {
        case 'node': return this.nodes;
        case 'port': return [...new Set(this.events.flatMap((e) => (e.port === null ? [] : [`${e.node}:${e.port}`, e.port])))];
        case 'drop': return this.dropped === undefined ? [] : [''];
        case 'drop.reason': return this.events.flatMap((e) => (e.reason === null ? [] : [e.reason]));
        case 'delivered': return this.delivered ? [''] : [];
        case 'trace.id': return [String(this.id)];
        case 'hop.kind': return [...new Set(this.events.map((e) => e.kind))];
        default: return null;
      }
    };
    return {
      values: (name) => meta(name) ?? versions.flatMap((s) => s.values(name)),
      protocolBytes: (name) => versions.flatMap((s) => s.protocolBytes(name)),
    };
  }
}

export interface TraceStoreOptions {
  /** packets kept (default 100 000) */
  maxPackets?: number;
  /** bytes kept: frames plus a fixed overhead per record (default 256 MiB) */
  maxBytes?: number;
}

export class TraceStore {
  readonly maxPackets: number;
  readonly maxBytes: number;
  /** packets by id, oldest first (a Map keeps insertion order) */
  private readonly packets = new Map<number, PacketTrace>();
  /** the same packets in age order, from 'head' on (eviction's queue) */
  private order: (PacketTrace | undefined)[] = [];
  private head = 0;
  bytes = 0;
  /** packets evicted to stay within the bounds */
  evicted = 0;
  private listeners: ((p: PacketTrace, ev: TraceEvent) => void)[] = [];

  constructor(opts: TraceStoreOptions = {}) {
    this.maxPackets = opts.maxPackets ?? 100_000;
    this.maxBytes = opts.maxBytes ?? 256 * 1024 * 1024;
    if (!(this.maxPackets >= 1) || !(this.maxBytes >= RECORD_OVERHEAD)) throw new RangeError('trace store bounds must be at least one packet and one record');
  }

  /** File every record 'sim' traces from now on; returns the detach function. */
  attach(sim: Sim): () => void {
    return sim.tracer.subscribe((ev) => this.add(ev));
  }

  /** Called with each record filed (and its packet): the server's live feed. */
  onRecord(fn: (p: PacketTrace, ev: TraceEvent) => void): () => void {
    this.listeners = [...this.listeners, fn];
    return () => { this.listeners = this.listeners.filter((l) => l !== fn); };
  }

  get size(): number { return this.packets.size; }

  add(ev: TraceEvent): void {
    let p = this.packets.get(ev.trace);
    if (p === undefined) {
      p = new PacketTrace(ev.trace);
      this.packets.set(ev.trace, p);
      this.order.push(p);
    }
    this.bytes += p.add(ev);
    this.evict(p);
    if (this.packets.has(ev.trace)) for (const l of this.listeners) l(p, ev);
  }

  /**
   * Drop the oldest packets until the bounds hold ('keep', the packet just added to, goes last).
   * The age order is a queue of its own: iterating a Map from its start after many deletions
   * walks their holes (V8's OrderedHashMap), which made eviction the store's main cost.
   */
  private evict(keep: PacketTrace): void {
    while (this.packets.size > this.maxPackets || this.bytes > this.maxBytes) {
      let victim: PacketTrace | undefined;
      while (victim === undefined) {
        const p = this.order[this.head]!;
        if (p === keep && this.packets.size > 1) { this.order[this.head] = undefined; this.head++; this.order.push(p); continue; }
        this.order[this.head++] = undefined;
        victim = p;
      }
      if (this.head > 1024 && this.head * 2 > this.order.length) { this.order = this.order.slice(this.head); this.head = 0; }
      this.packets.delete(victim.id);
      this.bytes -= victim.bytes;
      this.evicted++;
    }
  }

  get(id: number): PacketTrace | undefined { return this.packets.get(id); }

  /** Every packet kept, oldest first. */
  all(): PacketTrace[] { return [...this.packets.values()]; }

  /** Compile 'text' with the trace fields (throws FilterError). */
  static filter(text: string): Filter { return compileFilter(text, { fields: TRACE_FIELDS }); }

  /** The packets matching display filter 'text' (or a compiled filter), oldest first, at most 'limit' (the newest). */
  query(filter: string | Filter, limit = Infinity): PacketTrace[] {
    const f = typeof filter === 'string' ? TraceStore.filter(filter) : filter;
    const out: PacketTrace[] = [];
    for (const p of this.packets.values()) if (f(p.subject())) out.push(p);
    return out.length > limit ? out.slice(out.length - limit) : out;
  }
}
