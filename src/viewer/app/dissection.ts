/**
 * The dissection tree and the hex pane (viewer, browser side): Wireshark's
 * middle and bottom panes for one frame.
 *
 * What: `show(frame)` dissects the frame in the browser (wire/dissect, the
 * same code as `sdnemu pcap decode`) and draws one collapsible node per
 * layer (`ip`, `udp`, `vxlan` …, with its offset and header length) whose
 * children are its fields, Wireshark names and tshark-formatted values;
 * beside it the frame's bytes, 16 a row, hex and ASCII. Clicking a field
 * highlights its bytes (the layer's `ranges`, wire/dissect/ranges.ts) in
 * both columns and scrolls them into view; clicking a layer highlights
 * its header. A dissection error is shown under the tree with its offset.
 * Neighbours: main.ts (the frame of the selected hop, or of an opened
 * pcap), wire/dissect.
 */
import type { Dissection } from '../../wire/dissect.js';
import { dissect } from '../../wire/dissect/index.js';
import { h } from './dom.js';

export class DissectionView {
  private bytes: HTMLSpanElement[] = [];
  private chars: HTMLSpanElement[] = [];
  private current: HTMLElement | null = null;

  constructor(private readonly tree: HTMLElement, private readonly hex: HTMLElement) {}

  clear(text = ''): void {
    this.bytes = [];
    this.chars = [];
    this.tree.replaceChildren(h('p', { class: 'empty' }, text));
    this.hex.replaceChildren();
  }

  /** Show 'frame' ('title' above the tree); 'd' a dissection already made, else made here. */
  show(frame: Uint8Array, title: string, d: Dissection = dissect(frame)): void {
    this.renderHex(frame);
    const layers = d.layers.map((l) => {
      const fields = l.fields.map(([k, v], i) => {
        const r = l.ranges?.[i] ?? null;
        const el = h('div', { class: `field${r === null ? ' norange' : ''}`, 'data-field': k, title: r === null ? 'no fixed place in the frame' : `bytes ${r[0]}–${r[0] + r[1] - 1}` },
          h('span', { class: 'fname' }, k), ': ', h('span', { class: 'fval' }, v));
        el.addEventListener('click', (ev) => { ev.stopPropagation(); this.pick(el, r); });
        return el;
      });
      const head = h('summary', {}, h('b', {}, l.proto), ` (offset ${l.offset}, ${l.length} bytes)`);
      const det = h('details', { class: 'layer', open: true, 'data-proto': l.proto }, head, ...fields);
      head.addEventListener('click', () => this.pick(head, l.proto === 'frame' ? [0, frame.length] : [l.offset, l.length]));
      return det;
    });
    const err = d.error === null ? null : h('p', { class: 'derror' }, `${d.error.code} at byte ${d.error.offset} (${d.error.field}): ${d.error.message}`);
    this.tree.replaceChildren(h('div', { class: 'dtitle' }, title), ...layers, err ?? '');
    this.tree.scrollTop = 0;
    this.hex.scrollTop = 0;
  }

  private pick(el: HTMLElement, r: [number, number] | null): void {
    this.current?.classList.remove('picked');
    this.current = el;
    el.classList.add('picked');
    for (const b of this.bytes) b.classList.remove('hl');
    for (const c of this.chars) c.classList.remove('hl');
    if (r === null) return;
    for (let i = r[0]; i < r[0] + r[1]; i++) {
      this.bytes[i]?.classList.add('hl');
      this.chars[i]?.classList.add('hl');
    }
    this.bytes[r[0]]?.scrollIntoView({ block: 'nearest' });
  }

  private renderHex(frame: Uint8Array): void {
    this.bytes = [];
    this.chars = [];
    const rows: HTMLElement[] = [];
    for (let o = 0; o < frame.length; o += 16) {
      const hx: HTMLSpanElement[] = [], asc: HTMLSpanElement[] = [];
      for (let i = o; i < Math.min(o + 16, frame.length); i++) {
        const b = frame[i]!;
        const bs = h('span', { class: 'b', 'data-i': i }, b.toString(16).padStart(2, '0'));
        const cs = h('span', { class: 'c' }, b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.');
        this.bytes.push(bs);
        this.chars.push(cs);
        hx.push(bs);
        asc.push(cs);
      }
      rows.push(h('div', { class: 'hrow' }, h('span', { class: 'off' }, o.toString(16).padStart(4, '0')), h('span', { class: 'hx' }, ...hx), h('span', { class: 'asc' }, ...asc)));
    }
    this.hex.replaceChildren(...rows);
  }
}
