/**
 * The packet list (viewer, browser side): Wireshark's top pane, live.
 *
 * What: one row per packet (No. = its trace id, time of its first record
 * in virtual seconds, source, destination, protocol, length, info), the
 * row's class its verdict (delivered, dropped — the reason in the row's
 * tooltip — or in flight). `load(list)` replaces the rows (a `packets`
 * reply, after a new filter or a reconnect); `upsert(summary)` adds or
 * updates one row as `record` messages arrive. Rows are in the order
 * packets first showed up, as the server lists them (ids are not made in
 * that order: a frame that waited for ARP is older than the ARP). At most MAX_ROWS rows are kept: the oldest go first, as the
 * server's store drops its oldest packets. The list follows new rows while
 * scrolled to the bottom, and stays put otherwise.
 * Selection: a click selects a row and calls `onSelect(id)`; ↑/↓ move it.
 * Neighbours: main.ts, trace/protocol.ts (PacketSummary).
 */
import type { PacketSummary } from '../../trace/protocol.js';
import { DROP_REASONS } from '../../sim/tracer.js';
import { h, seconds } from './dom.js';

const MAX_ROWS = 5000;

export class PacketList {
  private readonly rows = new Map<number, { tr: HTMLTableRowElement; sum: PacketSummary }>();
  selected: number | null = null;

  constructor(private readonly body: HTMLTableSectionElement, private readonly scroller: HTMLElement, private readonly onSelect: (id: number) => void) {
    scroller.tabIndex = 0;
    scroller.addEventListener('keydown', (ev) => {
      if (ev.key !== 'ArrowDown' && ev.key !== 'ArrowUp') return;
      ev.preventDefault();
      const ids = [...this.rows.keys()];
      const i = this.selected === null ? -1 : ids.indexOf(this.selected);
      const next = ids[ev.key === 'ArrowDown' ? Math.min(ids.length - 1, i + 1) : Math.max(0, i - 1)];
      if (next !== undefined) this.select(next);
    });
  }

  /** The summary shown for packet 'id'. */
  get(id: number): PacketSummary | undefined { return this.rows.get(id)?.sum; }

  /** Every packet id shown, in order. */
  ids(): number[] { return [...this.rows.keys()]; }

  load(list: PacketSummary[]): void {
    this.rows.clear();
    this.body.replaceChildren();
    for (const p of list) this.upsert(p, false);
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  upsert(p: PacketSummary, follow = true): void {
    const old = this.rows.get(p.packet);
    const tr = this.row(p);
    const atBottom = this.scroller.scrollTop + this.scroller.clientHeight >= this.scroller.scrollHeight - 4;
    if (old !== undefined) old.tr.replaceWith(tr);
    else this.body.append(tr);
    this.rows.set(p.packet, { tr, sum: p });
    while (this.rows.size > MAX_ROWS) {
      const [id, r] = this.rows.entries().next().value!;
      r.tr.remove();
      this.rows.delete(id);
    }
    if (follow && old === undefined && atBottom) this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  select(id: number | null): void {
    if (this.selected !== null) this.rows.get(this.selected)?.tr.classList.remove('selected');
    this.selected = id;
    if (id === null) return;
    const r = this.rows.get(id);
    r?.tr.classList.add('selected');
    r?.tr.scrollIntoView({ block: 'nearest' });
    this.onSelect(id);
  }

  private row(p: PacketSummary): HTMLTableRowElement {
    const why = p.reason === null ? p.verdict : `dropped: ${p.reason} — ${DROP_REASONS[p.reason] ?? ''}`;
    const tr = h('tr', { class: `v-${p.verdict}${p.packet === this.selected ? ' selected' : ''}`, title: `${why}\npath: ${p.path.join(' → ')}`, 'data-packet': p.packet },
      h('td', { class: 'num' }, p.packet), h('td', { class: 'num' }, seconds(p.first)), h('td', {}, p.src), h('td', {}, p.dst),
      h('td', {}, p.protocol), h('td', { class: 'num' }, p.length), h('td', { class: 'info' }, p.info));
    tr.addEventListener('click', () => this.select(p.packet));
    return tr;
  }
}
