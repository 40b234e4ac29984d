/**
 * The trace viewer (viewer, browser side): the page's controller.
 *
 * What: connects to the trace server (conn.ts) at `/ws` beside the page
 * (or `?ws=URL`; `?token=` when the server asks for one), then:
 *  - on each (re)connection: the topology snapshot → the graph; a
 *    `subscribe` with the display filter and a `packets` query → the
 *    packet list; the selected packet's trace again;
 *  - live `record`s update the list; one for the selected packet re-reads
 *    its trace (at most every 150 ms); `state` updates the clock line, and
 *    when its event count went down (a Back, replayed from the seed: no
 *    records come for it) the list and the selected trace are read again;
 *  - selecting a packet asks for its `trace`: the timeline, the path on
 *    the graph, and the first hop with bytes in the dissection/hex panes;
 *  - the filter box: a filter the server refuses shows its message and a
 *    caret under the column the server's error gives (`where.column`,
 *    1-based, `where.length` long), as tshark draws it;
 *  - the controls: back / step / pause / run / speed → `control`; inject
 *    a ping or a TCP request between two hosts → `inject`; export the
 *    selected packet, or every packet the list shows, as pcap → `pcap`
 *    (a download); open a pcap file → `dissect` (the server's dissection
 *    and summary line per packet, or its error) → an offline list whose
 *    frames — read here too, as the reply carries no bytes — the
 *    dissection and hex panes show.
 * Robustness: every server call is awaited inside `attempt`, which shows a
 * failure in the banner instead of throwing; window `error` and
 * `unhandledrejection` go to the banner too. The connection's own banner
 * (closed, unreadable message) clears when it reconnects.
 * Neighbours: conn.ts, graph.ts, packets.ts, timeline.ts, dissection.ts;
 * trace/protocol.ts (the messages).
 */
import type { ClockState, ServerMessage, TopologySnapshot } from '../../trace/protocol.js';
import type { TraceEvent } from '../../sim/tracer.js';
import type { Dissection } from '../../wire/dissect.js';
import { dissect } from '../../wire/dissect/index.js';
import { readPcap } from '../../pcap/reader.js';
import { Connection, ServerError } from './conn.js';
import * as replies from './replies.js';
import { DissectionView } from './dissection.js';
import { byId, h, seconds } from './dom.js';
import { TopologyGraph } from './graph.js';
import { PacketList } from './packets.js';
import { Timeline, framesAfter } from './timeline.js';

const params = new URLSearchParams(location.search);
const wsUrl = params.get('ws') ?? `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;

const banner = byId('banner');
const connBanner = { text: null as string | null };
let noteTimer: ReturnType<typeof setTimeout> | null = null;
/**
 * Show 'text' in the banner: a connection problem ('conn') stays until the
 * connection says otherwise; a note (a refused request) goes after 10 s,
 * leaving a connection problem if there is one.
 */
function showBanner(text: string | null, kind: 'conn' | 'note' = 'note'): void {
  if (kind === 'conn') connBanner.text = text;
  const t = kind === 'conn' ? text : text ?? connBanner.text;
  banner.hidden = t === null;
  banner.textContent = t ?? '';
  if (text !== null) console.warn(`[sdnemu viewer] ${text}`); // a trace of connection trouble, for the console and tests
  banner.className = t === connBanner.text && t !== null ? 'conn' : 'note';
  if (noteTimer !== null) { clearTimeout(noteTimer); noteTimer = null; }
  if (kind === 'note' && text !== null) noteTimer = setTimeout(() => showBanner(null), 10_000);
}

/** Run a server call; a failure goes to the banner (or to 'onError'), never uncaught. */
async function attempt<T>(what: string, fn: () => Promise<T>, onError?: (e: ServerError) => void): Promise<T | undefined> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ServerError && onError !== undefined) onError(e);
    else showBanner(`${what}: ${(e as Error).message}`);
    return undefined;
  }
}

window.addEventListener('error', (ev) => showBanner(`viewer error: ${ev.message}`));
window.addEventListener('unhandledrejection', (ev) => { ev.preventDefault(); showBanner(`viewer error: ${String((ev.reason as Error)?.message ?? ev.reason)}`); });

const graph = new TopologyGraph(byId('graph') as unknown as SVGSVGElement);
const view = new DissectionView(byId('tree'), byId('hex'));
let filter = '';

const timeline = new Timeline(byId('timeline'), (i) => showHop(i),
  async (r) => replies.fork(await attempt('fork', () => conn.request({ t: 'fork', packet: r.trace, seq: r.seq }))));
const list = new PacketList(byId('packets') as HTMLTableSectionElement, byId('listwrap'), (id) => { void selectPacket(id); });

const conn = new Connection(wsUrl, params.get('token'), {
  onOpen: () => { void reload(); },
  onPush: (m) => push(m),
  onStatus: (problem) => showBanner(problem, 'conn'),
});

// ---- live data ---------------------------------------------------------------------------------

async function reload(): Promise<void> {
  const topo = replies.snapshot(await attempt('topology', () => conn.request({ t: 'topology' })));
  if (topo !== null) { graph.render(topo); fillHosts(topo); }
  await applyFilter(filter);
  if (list.selected !== null) await selectPacket(list.selected);
}

function push(m: ServerMessage): void {
  switch (m.t) {
    case 'record': {
      const sum = replies.summaries([m.summary])[0];
      if (sum !== undefined) list.upsert(sum);
      if (m.record.trace === list.selected) refreshSoon();
      break;
    }
    case 'state': { const c = replies.clock(m.state); if (c !== null) showClock(c); break; }
    case 'lagging': showBanner(`this viewer fell behind: the server skipped ${m.skipped} records`); break;
    case 'error': showBanner(`server: ${m.message}`); break;
    case 'reply': break;
  }
}

let refreshTimer: ReturnType<typeof setTimeout> | null = null;
function refreshSoon(): void {
  if (refreshTimer !== null) return;
  refreshTimer = setTimeout(() => { refreshTimer = null; if (list.selected !== null) void selectPacket(list.selected, true); }, 150);
}

// ---- selection ---------------------------------------------------------------------------------

async function selectPacket(id: number, keepHop = false): Promise<void> {
  const gone = (e: ServerError): void => {
    // after Back (a replay) or an eviction the packet may not be there: say so where it was shown
    if (e.code !== 'TRACE_NO_PACKET') { showBanner(`trace of packet ${id}: ${e.message}`); return; }
    timeline.clear(e.message);
    view.clear('');
    graph.highlight([], null, null);
  };
  const body = await attempt(`trace of packet ${id}`, () => conn.request({ t: 'trace', packet: id }), gone);
  if (body === undefined || list.selected !== id) return;
  timeline.show(replies.records(body));
  if (keepHop && timeline.selected >= 0) { showHop(timeline.selected); return; }
  const first = timeline.hops.findIndex((r) => r.frame !== null);
  if (first >= 0) timeline.select(first);
  else { view.clear('no bytes recorded for this packet'); lightPath(null); }
}

function lightPath(hop: TraceEvent | null): void {
  const hops = timeline.hops;
  const path: string[] = [];
  for (const r of hops) if (path.at(-1) !== r.node) path.push(r.node);
  const drop = hops.find((r) => r.kind === 'drop')?.node ?? null;
  graph.highlight(path, drop, hop?.node ?? null);
}

function showHop(i: number): void {
  const r = timeline.hops[i];
  if (r === undefined) return;
  lightPath(r);
  const frame = framesAfter([...timeline.hops])[i] ?? null;
  if (frame === null) { view.clear('no bytes recorded yet at this hop'); return; }
  view.show(frame, `packet ${r.trace} after hop ${i + 1}: ${r.node}${r.port === null ? '' : ` ${r.port}`} ${r.kind} (${frame.length} bytes)`);
}

// ---- the filter --------------------------------------------------------------------------------

const filterInput = byId<HTMLInputElement>('filter');
const filterError = byId('filter-error');

async function applyFilter(text: string): Promise<void> {
  let refused: ServerError | null = null;
  const onError = (e: ServerError): void => { refused = e; };
  const sub = await attempt('subscribe', () => conn.request({ t: 'subscribe', filter: text, sample: 1 }), onError);
  if (refused === null) {
    const body = await attempt('packets', () => conn.request({ t: 'packets', filter: text, limit: 5000 }), onError);
    if (refused === null && sub !== undefined && body !== undefined) {
      filter = text;
      filterError.hidden = true;
      filterInput.classList.remove('bad');
      filterInput.classList.toggle('good', text !== '');
      list.load(replies.summaries(body));
      return;
    }
  }
  if (refused !== null) showFilterError(text, refused);
}

function showFilterError(text: string, e: ServerError): void {
  const col = Number(e.where['column'] ?? 0);
  const len = Math.max(1, Number(e.where['length'] ?? 1));
  filterInput.classList.add('bad');
  filterInput.classList.remove('good');
  filterError.hidden = false;
  const caret = col >= 1 ? `${' '.repeat(col - 1)}^${'~'.repeat(len - 1)}` : '';
  filterError.replaceChildren(h('div', { class: 'msg' }, e.message), h('pre', { class: 'caret', 'data-column': col }, `${text}\n${caret}`));
}

byId<HTMLFormElement>('filter-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  void applyFilter(filterInput.value.trim());
});

// ---- the clock ---------------------------------------------------------------------------------

const clock = byId('clock');
let lastEvents = -1;
/** Show the clock; when its event count went down (a Back, from any viewer) the store was rebuilt: list the packets again. */
function showClock(s: ClockState): void {
  const wentBack = s.events < lastEvents;
  lastEvents = s.events;
  if (wentBack) void applyFilter(filter).then(() => (list.selected !== null ? selectPacket(list.selected, true) : undefined));
  clock.textContent = `t = ${seconds(s.now)} s · ${s.events} events · ${s.running ? `running ×${s.speed}` : 'paused'}`;
  clock.dataset['events'] = String(s.events);
  clock.dataset['running'] = String(s.running);
  byId('run').hidden = s.running;
  byId('pause').hidden = !s.running;
}

async function control(op: 'pause' | 'run' | 'step' | 'back' | 'speed'): Promise<void> {
  const speed = Number(byId<HTMLSelectElement>('speed').value);
  const s = replies.clock(await attempt(op, () => conn.request({ t: 'control', op, speed })));
  if (s !== null) showClock(s);
}

for (const op of ['back', 'step', 'pause', 'run'] as const) byId(op).addEventListener('click', () => { void control(op); });
byId('speed').addEventListener('change', () => { void control('speed'); });

// ---- injecting traffic -------------------------------------------------------------------------

function fillHosts(topo: TopologySnapshot): void {
  // anything with a network stack (hosts, routers, VMs, pods, Kubernetes nodes); when the snapshot knows no kinds
  // (all 'other'), every node not named like a device ('hv1/br0')
  const stacks = new Set(['host', 'router', 'vm', 'pod', 'node']);
  let hosts = topo.nodes.filter((n) => stacks.has(n.kind)).map((n) => n.name);
  if (hosts.length === 0) hosts = topo.nodes.filter((n) => n.kind === 'other' && !n.name.includes('/')).map((n) => n.name);
  for (const id of ['inj-from', 'inj-to']) {
    const sel = byId<HTMLSelectElement>(id);
    const was = sel.value;
    sel.replaceChildren(...hosts.map((n) => h('option', { value: n }, n)));
    if (hosts.includes(was)) sel.value = was;
  }
  const to = byId<HTMLSelectElement>('inj-to');
  if (to.selectedIndex === 0 && hosts.length > 1) to.selectedIndex = 1;
}

byId<HTMLFormElement>('inject').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const kind = byId<HTMLSelectElement>('inj-kind').value === 'tcp' ? 'tcp' : 'ping';
  const from = byId<HTMLSelectElement>('inj-from').value, to = byId<HTMLSelectElement>('inj-to').value;
  const port = Number(byId<HTMLInputElement>('inj-port').value) || 80;
  const note = byId('inj-note');
  void attempt('inject', async () => {
    const s = replies.clock(await conn.request({ t: 'inject', kind, from, to, port, count: 1, payload: 'GET / HTTP/1.0\r\n\r\n' }));
    if (s !== null) showClock(s);
    note.textContent = `${kind} ${from} → ${to} sent`;
  }, (e) => { note.textContent = e.message; });
});

// ---- pcap out and in ---------------------------------------------------------------------------

function download(bytes: Uint8Array, name: string): void {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/vnd.tcpdump.pcap' }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function exportPcap(ids: number[], name: string): Promise<void> {
  if (ids.length === 0) { showBanner('no packets to export'); return; }
  const body = await attempt('pcap export', () => conn.request({ t: 'pcap', packets: ids.slice(-10_000) }));
  const bytes = replies.pcapBytes(body);
  if (bytes !== null) download(bytes, name);
}

byId('export-sel').addEventListener('click', () => { void exportPcap(list.selected === null ? [] : [list.selected], `sdnemu-packet-${list.selected}.pcap`); });
byId('export-all').addEventListener('click', () => { void exportPcap(list.ids(), 'sdnemu-packets.pcap'); });

/** An offline packet: its bytes (read here), and the server's dissection and one-line summary. */
interface Offline { frame: Uint8Array | null; linktype: number; dissection: Dissection; summary: string }

/** The packets of an opened file: the server's dissections beside the frames read here (the reply carries no bytes; the hex pane needs them). */
function offlineOf(reply: ReturnType<typeof replies.dissected>, file: Uint8Array): Offline[] {
  let frames: { data: Uint8Array; linktype: number }[] = [];
  try { frames = [...readPcap(file)]; } catch { /* the server said what is wrong with it */ }
  return reply.packets.map((p, i): Offline => ({
    frame: frames[i]?.data ?? null, linktype: frames[i]?.linktype ?? 1, dissection: p.dissection, summary: typeof p.line === 'string' ? p.line : '',
  }));
}

const offline = byId('offline');
byId<HTMLInputElement>('open-pcap').addEventListener('change', (ev) => {
  const input = ev.target as HTMLInputElement;
  const file = input.files?.[0];
  input.value = '';
  if (file === undefined) return;
  void attempt(`opening ${file.name}`, async () => {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const body = await conn.request({ t: 'dissect', pcap: bytes });
    const reply = replies.dissected(body);
    showOffline(file.name, offlineOf(reply, bytes), reply.truncated);
  });
});

function showOffline(name: string, pkts: Offline[], truncated: boolean): void {
  const rows = pkts.map((p, i) => {
    const protos = p.dissection.layers.map((l) => l.proto).filter((x) => x !== 'frame').join(':');
    const tr = h('tr', { 'data-offline': i + 1 }, h('td', { class: 'num' }, i + 1), h('td', { class: 'num' }, p.frame?.length ?? p.dissection.frameLen), h('td', {}, protos), h('td', { class: 'info' }, p.summary));
    tr.addEventListener('click', () => {
      offline.querySelector('tr.selected')?.classList.remove('selected');
      tr.classList.add('selected');
      // the server's tree when it has byte ranges, else the same dissection made here
      if (p.frame === null) { view.clear(`${name} #${i + 1}: not read here`); return; }
      const d = p.dissection.layers[0]?.ranges !== undefined ? p.dissection : dissect(p.frame, { linktype: p.linktype });
      view.show(p.frame, `${name} #${i + 1} (${p.frame.length} bytes)`, d);
    });
    return tr;
  });
  offline.hidden = false;
  offline.replaceChildren(
    h('div', { class: 'offline-head' }, h('b', {}, `${name}: ${pkts.length} packets (offline${truncated ? '; the server dissected only these' : ''})`), ' ', h('button', { type: 'button', onclick: () => { offline.hidden = true; } }, 'back to live')),
    h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'No.'), h('th', {}, 'Length'), h('th', {}, 'Protocols'), h('th', {}, 'Info'))), h('tbody', {}, ...rows)));
}

// ---- start ---------------------------------------------------------------------------------------

timeline.clear();
view.clear('Select a packet, then a hop.');
conn.connect();
