/**
 * The hop-by-hop timeline of one packet (viewer, browser side).
 *
 * What: one line per trace record, in order — time since the packet's
 * first record (µs), node, port, kind, the record's text — each expanding
 * (a <details>) to what that step did:
 *  - flow: the cache tier that decided (exact-match hit, megaflow hit, or
 *    upcall), the megaflow as `dpctl/dump-flows` prints it, its actions,
 *    and the OpenFlow rules it matched (for a cache hit, those its flow
 *    was made from);
 *  - rule: the iptables table, hook, verdict and rules matched; ct: the
 *    connection's state; nat: what NAT did (DNAT, SNAT), the addresses and
 *    ports before and after;
 *  - encap/decap: the VNI and the outer addresses; route: the device and
 *    next hop; ipvs: the service and the real server;
 *  - drop: the reason's name and its description from DROP_REASONS;
 *  - any record with a frame: its length, and the fields that changed
 *    since the previous frame (addresses, ports, TTL, VNI);
 *  - a load-balancing decision (a record with `lb`: a kube-proxy
 *    probability rule, an IPVS scheduler, an OpenFlow select group): its
 *    choices, the one taken, and
 *    a button asking what every other backend would have done (`onFork`,
 *    the server's fork: ovn-trace's) — each fork then lists its choice,
 *    its verdict and the hops the packet made in that world.
 * Clicking a line selects that hop: `onHop(i)` shows its frame (or the
 * last frame before it) in the dissection and hex panes.
 * Neighbours: main.ts, sim/tracer.ts (records, DROP_REASONS),
 * wire/dissect (field values for the before/after).
 */
import { DROP_REASONS, type TraceEvent } from '../../sim/tracer.js';
import { dissect } from '../../wire/dissect/index.js';
import { fieldValues } from '../../wire/dissect.js';
import { h } from './dom.js';

/** Fields compared between consecutive frames to show what a hop changed. */
const WATCHED = ['eth.src', 'eth.dst', 'ip.src', 'ip.dst', 'ip.ttl', 'udp.srcport', 'udp.dstport', 'tcp.srcport', 'tcp.dstport', 'vxlan.vni', 'icmp.ident'];

/** For each record, the frame a viewer shows after it: its own, or the last one before it. */
export function framesAfter(records: TraceEvent[]): (Uint8Array | null)[] {
  let last: Uint8Array | null = null;
  return records.map((r) => (last = r.frame ?? last));
}

function watched(frame: Uint8Array | null): Map<string, string> {
  const m = new Map<string, string>();
  if (frame === null) return m;
  const d = dissect(frame);
  for (const f of WATCHED) {
    const v = fieldValues(d, f);
    if (v.length > 0) m.set(f, v.join(','));
  }
  return m;
}

/** 'name: before → after' for every watched field that differs between two frames. */
function changes(before: Map<string, string>, after: Map<string, string>): string[] {
  const out: string[] = [];
  for (const f of WATCHED) {
    const a = before.get(f), b = after.get(f);
    if (a !== b && !(a === undefined && b === undefined)) out.push(`${f}: ${a ?? '—'} → ${b ?? '—'}`);
  }
  return out;
}

function kv(rows: [string, string | number | undefined][]): HTMLElement {
  return h('dl', {}, ...rows.filter(([, v]) => v !== undefined && v !== '').flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))]));
}

/** What a fork request answers, as the timeline shows it. */
export interface ForkView { choices: string[]; chosen: number; forks: ({ choice: string; summary: { verdict: string; reason: string | null } | null; records: TraceEvent[] } | null)[] }

/** The forks of a decision: per other choice, its verdict and its hops after the decision's node. */
function forkList(r: TraceEvent, v: ForkView): HTMLElement {
  return h('ol', { class: 'forks' }, ...v.forks.map((f, k) => {
    if (f === null) return h('li', { class: 'fork taken', 'data-choice': v.choices[k] ?? '' }, h('b', {}, v.choices[k] ?? ''), ' — the choice this packet made');
    const verdict = f.summary === null ? 'not traced' : f.summary.reason !== null ? `${f.summary.verdict} (${f.summary.reason})` : f.summary.verdict;
    const after = f.records.filter((e) => e.seq >= r.seq || e.t > r.t);
    return h('li', { class: `fork v-${f.summary?.verdict ?? 'none'}`, 'data-choice': f.choice }, h('b', {}, f.choice), ` — ${verdict}`,
      h('ul', { class: 'fork-hops' }, ...after.map((e) => h('li', {}, h('span', { class: 'node' }, e.node), ' ', h('span', { class: `kind k-${e.kind}` }, e.kind), ' ', e.text))));
  }));
}

/** A load-balancing decision's choices, the one taken, and the button that forks the others. */
function balance(r: TraceEvent, f: Record<string, string | number>, onFork: ((r: TraceEvent) => Promise<ForkView | null>) | null): HTMLElement[] {
  const choices = String(f['choices']).split(' ');
  const what = f['lb'] === 'ipvs' ? 'IPVS scheduler' : f['lb'] === 'select' ? `OpenFlow select group ${String(f['group'] ?? '')}`
    : `kube-proxy probability rules (${String(f['chain'] ?? '')})`;
  const parts: HTMLElement[] = [kv([['load balancing', what], ['choices', choices.join(', ')], ['taken', choices[Number(f['chosen'])] ?? 'none']])];
  if (onFork === null) return parts;
  const out = h('div', { class: 'fork-out' });
  const b = h('button', { class: 'fork-btn', type: 'button' }, 'What would the other backends have done?');
  b.addEventListener('click', () => {
    b.setAttribute('disabled', '');
    out.replaceChildren(h('p', { class: 'empty' }, 'replaying each other choice…'));
    void onFork(r).then((v) => {
      b.removeAttribute('disabled');
      out.replaceChildren(v === null ? h('p', { class: 'empty' }, 'the server could not fork this decision') : forkList(r, v));
    });
  });
  return [...parts, b, out];
}

function details(r: TraceEvent, kind: string, changed: string[], frame: Uint8Array | null, onFork: ((r: TraceEvent) => Promise<ForkView | null>) | null): HTMLElement {
  const f = r.fields ?? {};
  const parts: HTMLElement[] = [];
  switch (r.kind) {
    case 'flow': {
      const tier = f['tier'];
      const tierText = tier === 'emc' ? 'exact-match cache hit' : tier === 'megaflow' ? 'megaflow cache hit' : tier === 'upcall' ? 'upcall through the OpenFlow pipeline' : String(tier ?? '');
      parts.push(kv([['cache tier', tierText], ['megaflow', f['megaflow']], ['actions', f['actions']]]));
      if (typeof f['rules'] === 'string') {
        parts.push(h('div', { class: 'sub' }, tier === 'upcall' ? 'OpenFlow rules matched, table by table' : 'OpenFlow rules this flow was made from (at its upcall)'), h('pre', {}, f['rules']));
      }
      if (typeof f['why'] === 'string') parts.push(h('div', { class: 'sub' }, 'What they mean (tables, NetworkPolicies)'), h('pre', { class: 'why' }, f['why']));
      break;
    }
    case 'rule': case 'ipvs':
      parts.push(kv([['table', f['table']], ['hook', f['hook']], ['verdict', f['verdict']], ['rules checked', f['checked']], ['service', f['service']], ['real server', f['server']]]));
      break;
    case 'encap': case 'decap':
      parts.push(kv([['VNI', f['vni']], ['outer source', f['src']], ['outer destination', f['dst']], ['UDP ports', f['sport'] !== undefined ? `${f['sport']} > ${f['dport']}` : undefined]]));
      break;
    case 'route':
      parts.push(kv([['device', f['dev']], ['next hop', f['via']]]));
      break;
    case 'drop':
      if (r.reason !== null) parts.push(h('div', { class: 'reason' }, h('b', {}, r.reason), ': ', DROP_REASONS[r.reason] ?? 'unknown reason'));
      break;
    default:
      if (r.fields !== null) parts.push(kv(Object.entries(r.fields)));
  }
  if (typeof f['lb'] === 'string' && typeof f['choices'] === 'string') parts.push(...balance(r, f, onFork));
  if (kind === 'nat' && changed.length > 0) parts.push(h('div', { class: 'sub' }, 'NAT: before → after'));
  if (changed.length > 0) parts.push(h('ul', { class: 'changes' }, ...changed.map((c) => h('li', {}, c))));
  if (frame !== null) parts.push(h('div', { class: 'sub' }, `packet after this hop: ${frame.length} bytes (select the hop to dissect it)`));
  return h('div', { class: 'hop-body' }, h('pre', { class: 'text' }, r.text), ...parts);
}

export class Timeline {
  private records: TraceEvent[] = [];
  private items: HTMLDetailsElement[] = [];
  selected = -1;

  constructor(private readonly root: HTMLElement, private readonly onHop: (i: number) => void,
    private readonly onFork: ((r: TraceEvent) => Promise<ForkView | null>) | null = null) {}

  get hops(): readonly TraceEvent[] { return this.records; }

  clear(text = 'Select a packet to see its hops.'): void {
    this.records = [];
    this.items = [];
    this.selected = -1;
    this.root.replaceChildren(h('p', { class: 'empty' }, text));
  }

  show(records: TraceEvent[]): void {
    const keep = this.selected;
    this.records = [...records].sort((a, b) => a.seq - b.seq);
    const t0 = this.records[0]?.t ?? 0;
    const frames = framesAfter(this.records);
    const seen = this.records.map((r) => (r.frame === null ? null : watched(r.frame)));
    let prev = new Map<string, string>();
    this.items = this.records.map((r, i) => {
      const now = seen[i] ?? prev;
      const kind = r.kind;
      const changed = r.frame === null || i === 0 ? [] : changes(prev, now);
      prev = now;
      const line = h('summary', {},
        h('span', { class: 't' }, `+${((r.t - t0) / 1000).toFixed(3)} µs`), h('span', { class: 'node' }, r.node),
        h('span', { class: 'port' }, r.port ?? ''), h('span', { class: `kind k-${kind}` }, kind), h('span', { class: 'htext' }, r.text));
      const d = h('details', { class: `hop k-${kind}`, 'data-kind': kind, 'data-hop': i }, line);
      d.append(details(r, kind, changed, frames[i]!, this.onFork));
      line.addEventListener('click', () => this.select(i));
      return d;
    });
    this.root.replaceChildren(...this.items);
    if (keep >= 0 && keep < this.items.length) this.mark(keep);
  }

  select(i: number): void {
    this.mark(i);
    this.onHop(i);
  }

  private mark(i: number): void {
    this.items[this.selected]?.classList.remove('selected');
    this.selected = i;
    this.items[i]?.classList.add('selected');
  }
}
