/**
 * DOM helpers (viewer, browser side): build elements and SVG without a
 * framework.
 * What: `h('tr', { class: 'x', onclick }, ...children)` makes an element;
 * `s('circle', { r: 4 })` an SVG element; strings become text nodes (never
 * HTML: what the server sends is shown as text, so a hostile name cannot
 * inject markup).
 * Neighbours: every other module of the app.
 */

type Attrs = Record<string, string | number | boolean | null | undefined | ((ev: Event) => void)>;
type Child = Node | string | number | null | undefined | false;

function apply(el: Element, attrs: Attrs, children: Child[]): void {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
}

/** An HTML element with 'attrs' (on* keys are listeners) and 'children'. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  apply(el, attrs, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** An SVG element. */
export function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, attrs, children);
  return el;
}

/** The element with id 'id' (the page's skeleton is index.html; a missing one is a build bug). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`index.html has no #${id}`);
  return el as T;
}

/** Virtual nanoseconds as seconds with microseconds, as Wireshark's time column. */
export function seconds(ns: number): string {
  return (ns / 1e9).toFixed(6);
}
