/**
 * Reply bodies, checked (viewer, browser side).
 * What: the server's side of the contract is trace/protocol.ts
 * `ReplyBodies`; these functions take a `reply` body (unknown: it came off
 * the wire) and give the part the viewer uses, typed, keeping only the
 * entries that have the shape — so a broken or hostile server yields an
 * empty list or null, never an exception deep in the page.
 * Neighbours: main.ts (every request's answer goes through here),
 * trace/protocol.ts (the shapes).
 */
import type { ClockState, DissectedPacket, PacketSummary, ReplyBodies, TopologySnapshot, WireRecord } from '../../trace/protocol.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);

/** `packets`: the summaries. */
export function summaries(body: unknown): ReplyBodies['packets'] {
  return Array.isArray(body) ? body.filter((p): p is PacketSummary => isObj(p) && typeof p['packet'] === 'number' && Array.isArray(p['path'])) : [];
}

/** `trace`: the packet's records, in order of emission. */
export function records(body: unknown): WireRecord[] {
  const list = isObj(body) ? body['records'] : null;
  if (!Array.isArray(list)) return [];
  return list.filter((r): r is WireRecord => isObj(r) && typeof r['seq'] === 'number' && typeof r['t'] === 'number' && typeof r['node'] === 'string' && typeof r['kind'] === 'string')
    .sort((a, b) => a.seq - b.seq);
}

/** `fork`: the decision's choices and each other choice's records, or null. */
export function fork(body: unknown): { choices: string[]; chosen: number; forks: ({ choice: string; summary: PacketSummary | null; records: WireRecord[] } | null)[] } | null {
  if (!isObj(body) || !Array.isArray(body['choices']) || !Array.isArray(body['forks']) || typeof body['chosen'] !== 'number') return null;
  const choices = body['choices'].map(String);
  const forks = body['forks'].map((f) => (isObj(f) && typeof f['choice'] === 'string'
    ? { choice: f['choice'], summary: isObj(f['summary']) ? f['summary'] as unknown as PacketSummary : null, records: records(f) }
    : null));
  return { choices, chosen: body['chosen'], forks };
}

/** `topology`: the snapshot, or null. */
export function snapshot(body: unknown): TopologySnapshot | null {
  if (!isObj(body) || !Array.isArray(body['nodes']) || !Array.isArray(body['links'])) return null;
  const nodes = body['nodes'].filter((n): n is TopologySnapshot['nodes'][number] => isObj(n) && typeof n['name'] === 'string' && Array.isArray(n['ports']));
  const links = body['links'].filter((l): l is TopologySnapshot['links'][number] => isObj(l) && typeof l['a'] === 'string' && typeof l['b'] === 'string');
  const tunnels = (Array.isArray(body['tunnels']) ? body['tunnels'] : [])
    .filter((t): t is TopologySnapshot['tunnels'][number] => isObj(t) && typeof t['a'] === 'string' && typeof t['b'] === 'string');
  return { nodes, links, tunnels };
}

/** `control`, `inject` (and a `state` message's state): the clock, or null. */
export function clock(body: unknown): ClockState | null {
  return isObj(body) && typeof body['now'] === 'number' && typeof body['events'] === 'number' && typeof body['running'] === 'boolean' ? body as unknown as ClockState : null;
}

/** `pcap`: the file's bytes, or null. */
export function pcapBytes(body: unknown): Uint8Array | null {
  return body instanceof Uint8Array ? body : null;
}

/** `dissect`: the packets dissected, and whether the server stopped short. */
export function dissected(body: unknown): { packets: DissectedPacket[]; truncated: boolean } {
  if (!isObj(body) || !Array.isArray(body['packets'])) return { packets: [], truncated: false };
  const packets = body['packets'].filter((p): p is DissectedPacket => isObj(p) && isObj(p['dissection']) && Array.isArray((p['dissection'] as Obj)['layers']));
  return { packets, truncated: body['truncated'] === true };
}
