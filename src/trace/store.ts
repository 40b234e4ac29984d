/**
 * The trace store (trace layer): the records of the last N packets, grouped
 * by packet, bounded in packets and in bytes, searchable with display
 * filters.
 *
 * What: `TraceStore.attach(sim)` subscribes to the simulator's tracer
 * (sim/tracer.ts) and files each record under its packet's trace id.
 * Storage is a byte ring, not objects: each record is encoded into one
 * preallocated buffer (a header of ids, times and interned node, port and
 * field-name numbers; the text and string fields as UTF-8; the frame's
 * bytes, or a reference to the packet's previous record when a step did
 * not change them — a link's tx then rx), and each packet is a slot in
 * typed arrays (its id, first and last record, record count, bytes,
 * verdict flags). Tracing every packet thus leaves no garbage behind but
 * the tracer's short-lived record objects: a store of a million records
 * costs the garbage collector nothing (bench/trace.bench.ts measured the
 * object store spending ~40% of its time there). The buffer wraps, and
 * doubles (up to `maxBytes`) only when the packets kept fill it: a store
 * bounded by packets stays as small as they are.
 * Bounds: when a new packet would take the store past `maxPackets`, or a
 * record would overwrite a kept packet's first record, the oldest packets
 * go (`evicted` counts them) — memory never grows without bound, whatever
 * the traffic. A packet's later records (a reply, a retransmission under
 * the same id) stay with it while it is kept; a record for a packet
 * already evicted starts it again, as a packet with only its later
 * records (ids are not made in the order packets first show up — a frame
 * that waited for ARP is older than the ARP exchange — so the store cannot
 * tell an evicted id from a new one). A record larger than the whole
 * store is not kept (`tooBig`).
 * Reading: `get(id)`, `all()` and `query()` decode packets into
 * `PacketTrace` objects — a copy of the packet as it is then, its records
 * (`TraceEvent`s, frames as their own bytes) in order, its first and last
 * time, the nodes it crossed, whether and why it was dropped, whether it
 * was delivered. Listeners (`onRecord`, the server's live feed) get the
 * packet decoded with each record; with none, nothing is decoded.
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
 * frame, and is kept with the packet until it changes or goes.
 * Neighbours: sim/tracer.ts (the records), filter.ts, the server (live
 * records and queries).
 */
import type { Sim } from '../sim/engine.js';
import { DROP_REASONS, type TraceDropReason, type TraceEvent, type TraceKind } from '../sim/tracer.js';
import { dissect } from '../wire/dissect/index.js';
import type { FieldType } from './fields.js';
import { compileFilter, dissectionSubject, type Filter, type FilterSubject } from './filter.js';

/** The trace metadata fields filters may use, beside the dissector's. */
export const TRACE_FIELDS: ReadonlyMap<string, FieldType> = new Map<string, FieldType>([
  ['node', 'string'], ['port', 'string'], ['drop', 'none'], ['drop.reason', 'string'], ['delivered', 'none'],
  ['trace.id', 'uint'], ['hop.kind', 'string'],
]);

const KINDS: readonly TraceKind[] = ['tx', 'rx', 'drop', 'route', 'arp', 'encap', 'decap', 'nat', 'ct', 'rule', 'flow', 'fdb', 'ipvs', 'deliver'];
const KIND_CODE = new Map(KINDS.map((k, i) => [k, i]));
const REASONS = Object.keys(DROP_REASONS) as TraceDropReason[];
const REASON_CODE = new Map(REASONS.map((r, i) => [r, i]));

// A record in the ring, 8-byte aligned (the header in native byte order, the rest little-endian):
//   0 u32 length   4 u32 trace id   8 f64 seq   16 f64 t   24 f64 the packet's previous record (-1: none)
//   32 u16 node   34 u16 port (NONE: null)   36 u8 kind   37 u8 reason (NONE8: null)   38 u8 frame: 0 none, 1 here, 2 at a record
//   39 u8 field count   40 u32 text bytes   44 u32 frame bytes (0 for a reference)
//   then the text, the fields (u16 name, u8 type 0 f64 / 1 string with u32 length, the value), and the
//   frame's bytes or (f64) the position of the packet's record that holds them
const HDR = 48;
const NONE = 0xffff, NONE8 = 0xff;
const F_NONE = 0, F_HERE = 1, F_REF = 2;
/** flags of a packet slot */
const P_DROPPED = 1, P_DELIVERED = 2;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** Write 's' as UTF-8 at b[at]; the bytes written (the caller made room: 3 a UTF-16 unit). */
function putText(b: Uint8Array, at: number, s: string): number {
  // ASCII, the common case, without the encoder's call
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return i + utf8.encodeInto(s.slice(i), b.subarray(at + i)).written;
    b[at + i] = c;
  }
  return n;
}

/** One packet as it was when read from the store: its records, in order. */
export class PacketTrace {
  constructor(readonly id: number, readonly events: TraceEvent[], readonly bytes: number, private readonly subjectOf: () => FilterSubject) {}

  get first(): number { return this.events[0]?.t ?? 0; }
  get last(): number { return this.events[this.events.length - 1]?.t ?? 0; }
  get dropped(): TraceEvent | undefined { return this.events.find((e) => e.kind === 'drop'); }
  get delivered(): boolean { return this.events.some((e) => e.kind === 'deliver'); }
  /** the nodes crossed, in order, each once */
  get nodes(): string[] { return [...new Set(this.events.map((e) => e.node))]; }
  /** the packet as filters read it: each distinct version of its bytes, and its path's metadata */
  subject(): FilterSubject { return this.subjectOf(); }
}

export interface TraceStoreOptions {
  /** packets kept (default 100 000) */
  maxPackets?: number;
  /** bytes of records kept: the ring's size (default 256 MiB) */
  maxBytes?: number;
}

export class TraceStore {
  readonly maxPackets: number;
  readonly maxBytes: number;
  /** bytes of records kept (of the packets kept) */
  bytes = 0;
  /** packets evicted to stay within the bounds */
  evicted = 0;
  /** records larger than the whole store, not kept */
  tooBig = 0;
  private listeners: ((p: PacketTrace, ev: TraceEvent) => void)[] = [];

  // the ring: logical positions grow for ever; a record at logical position q lives at q % cap
  private buf: Uint8Array;
  private dv: DataView;
  // the header's words, aligned (records start at multiples of 8): native byte order
  private u16: Uint16Array;
  private u32: Uint32Array;
  private f64: Float64Array;
  private pos = 0;

  // packet slots, a ring in arrival order: [head, head + count) are kept
  private slotCap = 0;
  private head = 0;
  private count = 0;
  private pid = new Float64Array(0);
  private pFirst = new Float64Array(0);
  private pLast = new Float64Array(0);
  /** the record holding the packet's last frame (-1: none yet) */
  private pFrame = new Float64Array(0);
  /** where its bytes are (logical), and their length */
  private pFrameBytes = new Float64Array(0);
  private pFrameLen = new Uint32Array(0);
  private pRecords = new Uint32Array(0);
  private pBytes = new Float64Array(0);
  private pFlags = new Uint8Array(0);
  /** packet id → slot */
  private readonly slots = new Map<number, number>();
  /** the packet of the last record filed, and its slot (-1: none) */
  private lastId = -1;
  private lastSlot = 0;

  // interned strings: nodes and ports, field names
  private readonly names: string[] = [];
  private readonly nameCode = new Map<string, number>();

  /** filter subjects of packets queried, by id, with the record count they were made at */
  private readonly subjects = new Map<number, { records: number; subject: FilterSubject }>();

  constructor(opts: TraceStoreOptions = {}) {
    this.maxPackets = opts.maxPackets ?? 100_000;
    // (records are 8-byte aligned)
    this.maxBytes = Math.floor((opts.maxBytes ?? 256 * 1024 * 1024) / 8) * 8;
    if (!(this.maxPackets >= 1) || !(this.maxBytes >= 64)) throw new RangeError('trace store bounds must be at least one packet and 64 bytes');
    // the buffer doubles up to maxBytes: it starts at maxBytes / 2^k, at most 64 KiB
    let cap = this.maxBytes;
    while (cap > 1 << 16 && cap % 2 === 0) cap /= 2;
    this.buf = new Uint8Array(cap);
    this.dv = new DataView(this.buf.buffer);
    this.u16 = new Uint16Array(this.buf.buffer);
    this.u32 = new Uint32Array(this.buf.buffer);
    this.f64 = new Float64Array(this.buf.buffer);
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

  get size(): number { return this.count; }

  // ---- filing ------------------------------------------------------------------------------------

  add(ev: TraceEvent): void {
    // a packet's records mostly come in a row
    let s = ev.trace === this.lastId ? this.lastSlot : this.slots.get(ev.trace);
    // what the record takes at most (UTF-8: 3 bytes a UTF-16 unit)
    const f = ev.frame;
    let bound = HDR + 3 * ev.text.length + (f === null ? 0 : f.length);
    const fields = ev.fields;
    let nf = 0;
    if (fields !== null) for (const k in fields) { const v = fields[k]!; bound += typeof v === 'number' ? 11 : 7 + 3 * v.length; nf++; }
    bound = (bound + 7) & ~7;
    if (bound > this.maxBytes || nf > 255) { this.tooBig++; return; }
    if (s === undefined) {
      if (this.count >= this.maxPackets) this.evictOldest();
      s = this.newSlot(ev.trace);
    }
    const before = this.evicted;
    const at = this.reserve(bound);
    // making room may have evicted this very packet: it starts again
    if (this.evicted !== before && this.slots.get(ev.trace) !== s) s = this.newSlot(ev.trace);
    this.lastId = ev.trace;
    this.lastSlot = s;
    const len = this.write(at, s, ev, nf);
    this.pos = at + len;
    this.bytes += len;
    this.pBytes[s]! += len;
    this.pLast[s] = at;
    if (this.pRecords[s] === 0) this.pFirst[s] = at;
    this.pRecords[s]!++;
    if (ev.kind === 'drop') this.pFlags[s]! |= P_DROPPED;
    else if (ev.kind === 'deliver') this.pFlags[s]! |= P_DELIVERED;
    if (this.listeners.length > 0) {
      // the record as filed: its frame a copy of its own (the tracer's is the packet's, live)
      const p = this.view(s);
      const filed = p.events[p.events.length - 1]!;
      for (const l of this.listeners) l(p, filed);
    }
  }

  /**
   * A logical position with 'n' contiguous bytes free: the next one, or the buffer's start when
   * 'n' would cross its end. What lies there goes — the oldest packets, whose first records do —
   * unless the buffer can grow instead.
   */
  private reserve(n: number): number {
    for (;;) {
      const cap = this.buf.length;
      let at = this.pos;
      if ((at % cap) + n > cap) at += cap - (at % cap);
      const tail = at + n - cap;
      if (this.count === 0 || this.pFirst[this.head]! >= tail) return at;
      if (cap >= this.maxBytes) {
        while (this.count > 0 && this.pFirst[this.head]! < tail) this.evictOldest();
        return at;
      }
      this.grow();
    }
  }

  /**
   * Double the buffer. A record at logical position q lives at q % cap; with twice the room it
   * lives at q % 2cap — the kept records, from the oldest packet's first on, move there (a record
   * that did not cross the old end does not cross the new one).
   */
  private grow(): void {
    const cap = this.buf.length, next = cap * 2;
    const b = new Uint8Array(next);
    for (let q = this.count === 0 ? this.pos : this.pFirst[this.head]!; q < this.pos;) {
      const o = q % cap, run = Math.min(cap - o, this.pos - q);
      b.set(this.buf.subarray(o, o + run), q % next);
      q += run;
    }
    this.buf = b;
    this.dv = new DataView(b.buffer);
    this.u16 = new Uint16Array(b.buffer);
    this.u32 = new Uint32Array(b.buffer);
    this.f64 = new Float64Array(b.buffer);
  }

  private newSlot(id: number): number {
    if (this.count === this.slotCap) this.growSlots();
    const s = (this.head + this.count) % this.slotCap;
    this.count++;
    this.pid[s] = id; this.pFirst[s] = Number.MAX_VALUE; this.pLast[s] = -1; this.pFrame[s] = -1;
    this.pRecords[s] = 0; this.pBytes[s] = 0; this.pFlags[s] = 0;
    this.slots.set(id, s);
    return s;
  }

  private growSlots(): void {
    const cap = Math.min(Math.max(1024, this.slotCap * 2), this.maxPackets);
    const order = Array.from({ length: this.count }, (_, i) => (this.head + i) % this.slotCap);
    const move = <T extends Float64Array | Uint32Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      order.forEach((s, i) => { b[i] = a[s]!; });
      return b;
    };
    this.pid = move(this.pid, (n) => new Float64Array(n));
    this.pFirst = move(this.pFirst, (n) => new Float64Array(n));
    this.pLast = move(this.pLast, (n) => new Float64Array(n));
    this.pFrame = move(this.pFrame, (n) => new Float64Array(n));
    this.pFrameBytes = move(this.pFrameBytes, (n) => new Float64Array(n));
    this.pFrameLen = move(this.pFrameLen, (n) => new Uint32Array(n));
    this.pRecords = move(this.pRecords, (n) => new Uint32Array(n));
    this.pBytes = move(this.pBytes, (n) => new Float64Array(n));
    this.pFlags = move(this.pFlags, (n) => new Uint8Array(n));
    order.forEach((_, i) => this.slots.set(this.pid[i]!, i));
    this.head = 0;
    this.lastId = -1;
    this.slotCap = cap;
  }

  private evictOldest(): void {
    const s = this.head;
    const id = this.pid[s]!;
    if (id === this.lastId) this.lastId = -1;
    this.slots.delete(id);
    this.subjects.delete(id);
    this.bytes -= this.pBytes[s]!;
    this.head = (this.head + 1) % this.slotCap;
    this.count--;
    this.evicted++;
  }

  private code(name: string): number {
    let c = this.nameCode.get(name);
    if (c === undefined) {
      if (this.names.length >= NONE) throw new RangeError('more than 65 535 distinct node, port and field names');
      c = this.names.length;
      this.names.push(name);
      this.nameCode.set(name, c);
    }
    return c;
  }

  /** Encode 'ev' at logical position 'at' for slot 's'; its length. */
  private write(at: number, s: number, ev: TraceEvent, nf: number): number {
    const cap = this.buf.length, b = this.buf, dv = this.dv, o = at % cap;
    const u32 = this.u32, f64 = this.f64, u16 = this.u16, o4 = o >> 2, o8 = o >> 3;
    u32[o4 + 1] = ev.trace;
    f64[o8 + 1] = ev.seq;
    f64[o8 + 2] = ev.t;
    f64[o8 + 3] = this.pLast[s]!;
    u16[(o >> 1) + 16] = this.code(ev.node);
    u16[(o >> 1) + 17] = ev.port === null ? NONE : this.code(ev.port);
    b[o + 36] = KIND_CODE.get(ev.kind) ?? 0;
    b[o + 37] = ev.reason === null ? NONE8 : REASON_CODE.get(ev.reason) ?? NONE8;
    b[o + 39] = nf;
    let w = o + HDR;
    const tl = putText(b, w, ev.text);
    u32[o4 + 10] = tl;
    w += tl;
    const fields = ev.fields;
    if (fields !== null) {
      for (const k in fields) {
        const v = fields[k]!;
        dv.setUint16(w, this.code(k), true);
        if (typeof v === 'number') { b[w + 2] = 0; dv.setFloat64(w + 3, v, true); w += 11; continue; }
        b[w + 2] = 1;
        const n = putText(b, w + 7, v);
        dv.setUint32(w + 3, n, true);
        w += 7 + n;
      }
    }
    const f = ev.frame;
    if (f === null) b[o + 38] = F_NONE;
    else {
      const prev = this.pFrame[s]!;
      if (prev >= 0 && this.sameFrame(s, f)) {
        b[o + 38] = F_REF;
        u32[o4 + 11] = 0;
        dv.setFloat64(w, prev, true);
        w += 8;
      } else {
        b[o + 38] = F_HERE;
        u32[o4 + 11] = f.length;
        b.set(f, w);
        this.pFrame[s] = at;
        this.pFrameBytes[s] = at + (w - o);
        this.pFrameLen[s] = f.length;
        w += f.length;
      }
    }
    const len = ((w - o) + 7) & ~7;
    u32[o4] = len;
    return len;
  }

  /** Are 'f''s bytes those of slot 's''s last frame? */
  private sameFrame(s: number, f: Uint8Array): boolean {
    const n = f.length;
    if (this.pFrameLen[s] !== n) return false;
    const start = this.pFrameBytes[s]! % this.buf.length, b = this.buf;
    for (let i = 0; i < n; i++) if (b[start + i] !== f[i]) return false;
    return true;
  }

  /** Where the frame bytes of the record at buffer offset 'o' (one that holds them) start. */
  private frameStart(o: number): number {
    const dv = this.dv;
    let w = o + HDR + this.u32[(o >> 2) + 10]!;
    for (let i = this.buf[o + 39]!; i > 0; i--) w += this.buf[w + 2] === 0 ? 11 : 7 + dv.getUint32(w + 3, true);
    return w;
  }

  // ---- reading -----------------------------------------------------------------------------------

  /** Decode the record at logical position 'at'; 'frames' shares the bytes of a frame between the records that hold it. */
  private decode(at: number, frames: Map<number, Uint8Array>): TraceEvent {
    const cap = this.buf.length, b = this.buf, dv = this.dv, o = at % cap;
    const u32 = this.u32, f64 = this.f64, o4 = o >> 2, o8 = o >> 3;
    const port = this.u16[(o >> 1) + 17]!, reason = b[o + 37]!;
    const tl = u32[o4 + 10]!;
    const text = fromUtf8.decode(b.subarray(o + HDR, o + HDR + tl));
    let w = o + HDR + tl;
    let fields: Record<string, string | number> | null = null;
    for (let i = b[o + 39]!; i > 0; i--) {
      const k = this.names[dv.getUint16(w, true)]!;
      fields ??= {};
      if (b[w + 2] === 0) { fields[k] = dv.getFloat64(w + 3, true); w += 11; continue; }
      const n = dv.getUint32(w + 3, true);
      fields[k] = fromUtf8.decode(b.subarray(w + 7, w + 7 + n));
      w += 7 + n;
    }
    let frame: Uint8Array | null = null;
    const fm = b[o + 38];
    if (fm === F_HERE) {
      frame = frames.get(at) ?? b.slice(w, w + u32[o4 + 11]!);
      frames.set(at, frame);
    } else if (fm === F_REF) {
      const ref = dv.getFloat64(w, true);
      frame = frames.get(ref) ?? null;
      if (frame === null) {
        const ro = ref % cap;
        const start = this.frameStart(ro);
        frame = b.slice(start, start + u32[(ro >> 2) + 11]!);
        frames.set(ref, frame);
      }
    }
    return {
      trace: u32[o4 + 1]!, seq: f64[o8 + 1]!, t: f64[o8 + 2]!,
      node: this.names[this.u16[(o >> 1) + 16]!]!, port: port === NONE ? null : this.names[port]!,
      kind: KINDS[b[o + 36]!]!, text, fields, reason: reason === NONE8 ? null : REASONS[reason]!, frame,
    };
  }

  /** Slot 's''s packet, decoded. */
  private view(s: number): PacketTrace {
    const id = this.pid[s]!;
    const events: TraceEvent[] = [];
    const frames = new Map<number, Uint8Array>();
    const ats: number[] = [];
    for (let at = this.pLast[s]!, n = this.pRecords[s]!; n > 0 && at >= 0; n--) {
      ats.push(at);
      at = this.f64[((at % this.buf.length) >> 3) + 3]!;
    }
    // oldest first: a reference points back, so decode in order of position
    for (let i = ats.length - 1; i >= 0; i--) events.push(this.decode(ats[i]!, frames));
    const records = this.pRecords[s]!;
    return new PacketTrace(id, events, this.pBytes[s]!, () => {
      const c = this.subjects.get(id);
      if (c !== undefined && c.records === records) return c.subject;
      const subject = subjectOf(id, events);
      if (this.slots.has(id)) this.subjects.set(id, { records, subject });
      return subject;
    });
  }

  get(id: number): PacketTrace | undefined {
    const s = this.slots.get(id);
    return s === undefined ? undefined : this.view(s);
  }

  /** Every packet kept, oldest first. */
  all(): PacketTrace[] {
    const out: PacketTrace[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.view((this.head + i) % this.slotCap));
    return out;
  }

  /** Compile 'text' with the trace fields (throws FilterError). */
  static filter(text: string): Filter { return compileFilter(text, { fields: TRACE_FIELDS }); }

  /** The packets matching display filter 'text' (or a compiled filter), oldest first, at most 'limit' (the newest). */
  query(filter: string | Filter, limit = Infinity): PacketTrace[] {
    const f = typeof filter === 'string' ? TraceStore.filter(filter) : filter;
    const out: PacketTrace[] = [];
    for (const p of this.all()) if (f(p.subject())) out.push(p);
    return out.length > limit ? out.slice(out.length - limit) : out;
  }
}

/** A packet as filters read it: each distinct version of its bytes, dissected, and its path's metadata. */
function subjectOf(id: number, events: TraceEvent[]): FilterSubject {
  const versions: FilterSubject[] = [];
  const seen = new Set<Uint8Array>();
  const keys = new Set<string>();
  for (const e of events) {
    if (e.frame === null || seen.has(e.frame)) continue;
    seen.add(e.frame);
    const key = Buffer.from(e.frame.buffer, e.frame.byteOffset, e.frame.length).toString('latin1');
    if (keys.has(key)) continue;
    keys.add(key);
    versions.push(dissectionSubject(e.frame, dissect(e.frame)));
  }
  const meta = (name: string): string[] | null => {
    switch (name) {
      case 'node': return [...new Set(events.map((e) => e.node))];
      case 'port': return [...new Set(events.flatMap((e) => (e.port === null ? [] : [`${e.node}:${e.port}`, e.port])))];
      case 'drop': return events.some((e) => e.kind === 'drop') ? [''] : [];
      case 'drop.reason': return events.flatMap((e) => (e.reason === null ? [] : [e.reason]));
      case 'delivered': return events.some((e) => e.kind === 'deliver') ? [''] : [];
      case 'trace.id': return [String(id)];
      case 'hop.kind': return [...new Set(events.map((e) => e.kind))];
      default: return null;
    }
  };
  return {
    values: (name) => meta(name) ?? versions.flatMap((s) => s.values(name)),
    protocolBytes: (name) => versions.flatMap((s) => s.protocolBytes(name)),
  };
}
