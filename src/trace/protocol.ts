/**
 * The trace viewer's wire protocol (trace layer): what a browser and the
 * trace server say to each other over a WebSocket, msgpackr-encoded, one
 * message per binary frame.
 *
 * What: `ClientMessage` (browser → server) and `ServerMessage` (server →
 * browser), each a plain object discriminated by `t`. A request carries a
 * client-chosen `id`; its answer is a `reply` with the same id, or an
 * `error` with it. Live records (`subscribe`) arrive as `record` messages,
 * unasked; the clock's state as `state` messages.
 *   hello       {token?}             the token when the server asks for one
 *   subscribe   {filter, sample?}     live records of packets matching a
 *                                     display filter (every n-th packet with
 *                                     sample n); replaces the last subscription
 *   unsubscribe {}
 *   packets     {filter?, limit?}     the stored packets that match, newest
 *                                     last, as summaries
 *   trace       {packet}              one packet's whole trace
 *   fork        {packet, seq}         at that record's load-balancing decision,
 *                                     what each other backend would have done
 *                                     (session.ts's forks, replayed)
 *   topology    {}                    nodes, their ports and addresses, links,
 *                                     the overlay's tunnels
 *   control     {op, speed?}          pause | run | step | back | speed
 *                                     (back: replay from the seed to the
 *                                     previous event, as Packet Tracer's Back)
 *   inject      {kind, from, to, …}   ping, or a TCP request, between two hosts
 *   pcap        {packets}             the packets' frames (as first sent) as a
 *                                     pcap file
 *   dissect     {pcap}                a pcap file's packets, dissected
 * Replies: `ReplyBodies` gives each request's reply body.
 * Live records: once a packet matches a subscription, its records so far
 * and then each new one, each with the packet's summary as it is then.
 * After a `back` the server's store is rebuilt by the replay (the same
 * packets keep the same ids, the later ones are gone) and no records are
 * sent for it: a `state` whose `events` went down means "ask `packets`
 * again".
 * Bad input: `decodeClient` turns bytes into a `ClientMessage` or throws
 * `ProtocolError` naming the field at fault (`subscribe.filter: expected a
 * string`); it never throws anything else (property-tested with hostile
 * bytes, test/trace/protocol-fuzz), and keeps no state between messages.
 * Sizes are bounded by the server (MAX_MESSAGE_BYTES), strings and arrays
 * here, a display filter's shape by filter.ts.
 * Neighbours: server.ts (speaks it), store.ts and sim/tracer.ts (what
 * records and packets are), viewer/ (the other end).
 */
import { Packr, Unpackr } from 'msgpackr';
import { SdnemuError } from '../errors.js';
import type { TraceDropReason, TraceEvent } from '../sim/tracer.js';
import type { Dissection } from '../wire/dissect.js';
import type { ForkReply } from './session.js';

/** The largest message a client may send (a pcap to dissect included). */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;
const MAX_TEXT = 4096;
const MAX_IDS = 10_000;

/** A message that does not decode or does not have the shape of any ClientMessage. */
export class ProtocolError extends SdnemuError {
  readonly field: string;
  constructor(code: string, field: string, message: string) {
    super(code, field === '' ? message : `${field}: ${message}`);
    this.name = 'ProtocolError';
    this.field = field;
  }
  override location(): Record<string, string | number> {
    return { field: this.field };
  }
}

export type ControlOp = 'pause' | 'run' | 'step' | 'back' | 'speed';

export type ClientMessage =
  | { t: 'hello'; id: number; token: string | null }
  | { t: 'subscribe'; id: number; filter: string; sample: number }
  | { t: 'unsubscribe'; id: number }
  | { t: 'packets'; id: number; filter: string; limit: number }
  | { t: 'trace'; id: number; packet: number }
  | { t: 'fork'; id: number; packet: number; seq: number }
  | { t: 'topology'; id: number }
  | { t: 'control'; id: number; op: ControlOp; speed: number }
  | { t: 'inject'; id: number; kind: 'ping' | 'tcp'; from: string; to: string; port: number; count: number; payload: string }
  | { t: 'pcap'; id: number; packets: number[] }
  | { t: 'dissect'; id: number; pcap: Uint8Array };

/** A packet as the packet list shows it. */
export interface PacketSummary {
  packet: number;
  /** first and last record times, ns */
  first: number;
  last: number;
  /** Wireshark-style columns of the packet as first sent */
  src: string;
  dst: string;
  protocol: string;
  info: string;
  length: number;
  /** nodes crossed in order */
  path: string[];
  verdict: 'delivered' | 'dropped' | 'in-flight';
  reason: TraceDropReason | null;
}

/** One record as the viewer gets it: a TraceEvent as the tracer made it (the frame as bytes). */
export type WireRecord = TraceEvent;

export interface TopologySnapshot {
  /** a host is a 'vm', 'pod' or Kubernetes 'node' when its builder says so (Topology.roles) */
  nodes: { name: string; kind: 'host' | 'router' | 'bridge' | 'ovs' | 'vtep' | 'vm' | 'pod' | 'node' | 'other'; ports: { name: string; addrs: string[]; mac: string | null }[] }[];
  links: { a: string; b: string; delayNs: number; bps: number; mtu: number; up: boolean }[];
  /** the overlay's tunnels between nodes (Topology.tunnel) */
  tunnels: { a: string; b: string; type: string; vni: number }[];
}

export interface ClockState { now: number; running: boolean; speed: number; events: number }

export type ServerMessage =
  | { t: 'reply'; id: number; body: unknown }
  | { t: 'error'; id: number | null; code: string; message: string; where: Record<string, string | number> }
  | { t: 'record'; summary: PacketSummary; record: WireRecord }
  | { t: 'lagging'; skipped: number }
  | { t: 'state'; state: ClockState };

/** A `trace` request's answer: the packet's summary and every record of it, in order. */
export interface PacketTraceReply { summary: PacketSummary; records: WireRecord[] }

/** One packet of an uploaded capture, dissected (frame number from 1, capture time, length on the wire, its tcpdump-style line). */
export interface DissectedPacket { number: number; tsSec: number; tsNsec: number; length: number; line: string; dissection: Dissection }

/** A `dissect` request's answer: the first MAX_DISSECT_PACKETS packets ('truncated' when there were more). */
export interface DissectReply { packets: DissectedPacket[]; truncated: boolean }

/** The most packets a `dissect` answer holds (a 4 MiB capture of tiny frames would otherwise answer with hundreds of MB). */
export const MAX_DISSECT_PACKETS = 10_000;

/**
 * What each request's `reply` carries as its `body` (the envelope stays
 * `body: unknown`; this is the server's side of the contract, added with
 * the server — compatible with every message above).
 */
export interface ReplyBodies {
  hello: { ok: true; state: ClockState };
  subscribe: { ok: true };
  unsubscribe: { ok: true };
  packets: PacketSummary[];
  trace: PacketTraceReply;
  /** what every other backend of a load-balancing decision would have done (session.ts's forks) */
  fork: ForkReply;
  topology: TopologySnapshot;
  control: ClockState;
  inject: ClockState;
  /** a pcap file (nanosecond timestamps of virtual time) of the packets' first frames; unknown ids are left out */
  pcap: Uint8Array;
  dissect: DissectReply;
}

const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, moreTypes: false, mapsAsObjects: true });

export function encode(m: ServerMessage | ClientMessage): Uint8Array {
  return packr.pack(m);
}

/** Decode a server message (the viewer's side; trusted). */
export function decodeServer(bytes: Uint8Array): ServerMessage {
  return unpackr.unpack(bytes) as ServerMessage;
}

// ---- the client's messages, checked ----------------------------------------------------------------

type Obj = Record<string, unknown>;

function str(o: Obj, k: string, where: string, dflt?: string): string {
  const v = o[k];
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== 'string') throw new ProtocolError('PROTO_BAD_FIELD', `${where}.${k}`, 'expected a string');
  if (v.length > MAX_TEXT) throw new ProtocolError('PROTO_TOO_LONG', `${where}.${k}`, `longer than ${MAX_TEXT} characters`);
  return v;
}

function int(o: Obj, k: string, where: string, min: number, max: number, dflt?: number): number {
  const v = o[k];
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new ProtocolError('PROTO_BAD_FIELD', `${where}.${k}`, `expected an integer in ${min}..${max}`);
  return v;
}

function oneOf<T extends string>(o: Obj, k: string, where: string, allowed: readonly T[]): T {
  const v = o[k];
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) throw new ProtocolError('PROTO_BAD_FIELD', `${where}.${k}`, `expected one of ${allowed.join(', ')}`);
  return v as T;
}

/** Bytes from a client → a checked ClientMessage (throws ProtocolError, nothing else). */
export function decodeClient(bytes: Uint8Array): ClientMessage {
  if (bytes.length > MAX_MESSAGE_BYTES) throw new ProtocolError('PROTO_TOO_BIG', '', `message of ${bytes.length} bytes is over the ${MAX_MESSAGE_BYTES}-byte limit`);
  let v: unknown;
  try { v = unpackr.unpack(bytes); } catch (e) { throw new ProtocolError('PROTO_DECODE', '', `not a msgpack message (${(e as Error).message})`); }
  return checkClient(v);
}

/** A decoded value → a checked ClientMessage. */
export function checkClient(v: unknown): ClientMessage {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) throw new ProtocolError('PROTO_BAD_MESSAGE', '', 'expected a map');
  const o = v as Obj;
  if (typeof o['t'] !== 'string') throw new ProtocolError('PROTO_BAD_MESSAGE', 't', 'expected the message type');
  const t = o['t'];
  const id = int(o, 'id', t, 0, 2 ** 31 - 1, 0);
  switch (t) {
    case 'hello': return { t, id, token: o['token'] === undefined || o['token'] === null ? null : str(o, 'token', t) };
    case 'subscribe': return { t, id, filter: str(o, 'filter', t, ''), sample: int(o, 'sample', t, 1, 1_000_000, 1) };
    case 'unsubscribe': return { t, id };
    case 'packets': return { t, id, filter: str(o, 'filter', t, ''), limit: int(o, 'limit', t, 1, 100_000, 1000) };
    case 'trace': return { t, id, packet: int(o, 'packet', t, 1, Number.MAX_SAFE_INTEGER) };
    case 'fork': return { t, id, packet: int(o, 'packet', t, 1, Number.MAX_SAFE_INTEGER), seq: int(o, 'seq', t, 1, Number.MAX_SAFE_INTEGER) };
    case 'topology': return { t, id };
    case 'control': {
      const op = oneOf(o, 'op', t, ['pause', 'run', 'step', 'back', 'speed'] as const);
      const speed = o['speed'] === undefined ? 1 : o['speed'];
      if (typeof speed !== 'number' || !(speed > 0 && speed <= 1e9)) throw new ProtocolError('PROTO_BAD_FIELD', `${t}.speed`, 'expected a number in (0, 1e9]');
      return { t, id, op, speed };
    }
    case 'inject': return {
      t, id, kind: oneOf(o, 'kind', t, ['ping', 'tcp'] as const), from: str(o, 'from', t), to: str(o, 'to', t),
      port: int(o, 'port', t, 1, 65535, 80), count: int(o, 'count', t, 1, 100, 1), payload: str(o, 'payload', t, 'GET / HTTP/1.0\r\n\r\n'),
    };
    case 'pcap': {
      const p = o['packets'];
      if (!Array.isArray(p) || p.length > MAX_IDS || !p.every((x) => typeof x === 'number' && Number.isInteger(x) && x > 0)) {
        throw new ProtocolError('PROTO_BAD_FIELD', `${t}.packets`, `expected up to ${MAX_IDS} packet ids`);
      }
      return { t, id, packets: p as number[] };
    }
    case 'dissect': {
      const b = o['pcap'];
      if (!(b instanceof Uint8Array)) throw new ProtocolError('PROTO_BAD_FIELD', `${t}.pcap`, 'expected bytes (a pcap or pcapng file)');
      // msgpackr hands out Buffers in Node: a plain view, as in the browser
      return { t, id, pcap: new Uint8Array(b.buffer, b.byteOffset, b.length) };
    }
    default: throw new ProtocolError('PROTO_UNKNOWN', 't', `unknown message type '${t.slice(0, 64)}'`);
  }
}
