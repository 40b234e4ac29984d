/**
 * The topology graph (viewer, browser side): nodes and links in SVG, with
 * a selected packet's path lit.
 *
 * What: `layout(snapshot)` places the nodes in layers and `TopologyGraph`
 * draws them: a shape per kind (router: square, Kubernetes node: square
 * with a bar, host: circle, VM: circle with a ring, pod: small circle,
 * Linux bridge: rounded bar, OVS bridge: hexagon, VTEP: diamond), a line
 * per link (dashed when down), a dotted line from a device named `hv1/br0`
 * to the host `hv1` it lives on (a VTEP or an OVS tunnel rides its host's
 * stack; without that edge the overlay would float free of the underlay),
 * and an arc per tunnel between its endpoints (dashed, titled with its
 * type and VNI) — the overlay's logical link, over the underlay's.
 * Layout (deterministic: the same snapshot draws the same picture): a
 * breadth-first walk from the routers and Kubernetes nodes (or, with
 * none, from the busiest node) gives each node a layer (tunnels do not
 * count: they would pull the overlay out of its place); other components follow, each from its
 * first name. Each layer is centred and ordered by the mean position of
 * its neighbours — those above, then (sweeping back up) those below, then
 * both (barycentre sweeps, as Sugiyama's method orders layers to cut
 * crossings) — names breaking ties.
 * Highlight: `highlight(path, drop, hop)` lights the nodes a packet crossed
 * and every link or host edge between consecutive nodes of its path (or,
 * when two consecutive nodes share none, the two edges through the one node
 * between them: a VTEP's records name its host, not the VTEP), a tunnel
 * both of whose endpoints it crossed, marks the node that dropped it, and
 * rings the node of the selected hop.
 * Neighbours: main.ts (snapshot in, selections in), trace/protocol.ts.
 */
import type { TopologySnapshot } from '../../trace/protocol.js';
import { s } from './dom.js';

type Kind = TopologySnapshot['nodes'][number]['kind'];

export interface Placed { name: string; kind: Kind; x: number; y: number; layer: number; addrs: string[] }
export interface Edge { a: string; b: string; up: boolean; host: boolean }

const DX = 130, DY = 92, TOP = 36;

/** The node a port id ('hv1/br0:tapa') belongs to. */
export function nodeOfPort(id: string): string {
  const i = id.lastIndexOf(':');
  return i < 0 ? id : id.slice(0, i);
}

/** Node positions and edges for 'snap' (see the module comment). */
export function layout(snap: TopologySnapshot): { nodes: Placed[]; edges: Edge[]; width: number; height: number } {
  const names = new Set(snap.nodes.map((n) => n.name));
  const edges: Edge[] = [];
  for (const l of snap.links) {
    const a = nodeOfPort(l.a), b = nodeOfPort(l.b);
    if (names.has(a) && names.has(b)) edges.push({ a, b, up: l.up, host: false });
  }
  for (const n of snap.nodes) {
    const owner = n.name.includes('/') ? n.name.slice(0, n.name.indexOf('/')) : '';
    if (owner !== '' && names.has(owner)) edges.push({ a: owner, b: n.name, up: true, host: true });
  }
  edges.sort((x, y) => (x.a < y.a ? -1 : x.a > y.a ? 1 : x.b < y.b ? -1 : x.b > y.b ? 1 : 0));
  const adj = new Map<string, string[]>([...names].map((n) => [n, []]));
  for (const e of edges) { adj.get(e.a)!.push(e.b); adj.get(e.b)!.push(e.a); }
  const byName = [...names].sort();
  const routers = snap.nodes.filter((n) => n.kind === 'router' || n.kind === 'node').map((n) => n.name).sort();
  const busiest = [...byName].sort((x, y) => adj.get(y)!.length - adj.get(x)!.length)[0];
  const layerOf = new Map<string, number>();
  const walk = (roots: string[], base: number): number => {
    let frontier = roots.filter((r) => !layerOf.has(r));
    for (const r of frontier) layerOf.set(r, base);
    let depth = base;
    while (frontier.length > 0) {
      const next: string[] = [];
      for (const n of frontier) for (const m of [...adj.get(n)!].sort()) if (!layerOf.has(m)) { layerOf.set(m, depth + 1); next.push(m); }
      if (next.length > 0) depth++;
      frontier = next;
    }
    return depth;
  };
  let bottom = walk(routers.length > 0 ? routers : busiest === undefined ? [] : [busiest], 0);
  for (const n of byName) if (!layerOf.has(n)) bottom = walk([n], bottom + 1);
  const layers: string[][] = [];
  for (const n of byName) (layers[layerOf.get(n)!] ??= []).push(n);
  const widest = Math.max(1, ...layers.map((l) => l?.length ?? 0));
  // x in slots, each layer centred; barycentre sweeps down, up and down again
  const xOf = new Map<string, number>();
  const order = (layer: string[], from: (m: string) => boolean): void => {
    const bary = (n: string): number => {
      const xs = adj.get(n)!.filter((m) => xOf.has(m) && from(m)).map((m) => xOf.get(m)!);
      return xs.length === 0 ? xOf.get(n) ?? Infinity : xs.reduce((a, b) => a + b, 0) / xs.length;
    };
    const keyed = layer.map((n) => [bary(n), n] as const).sort((p, q) => (p[0] - q[0]) || (p[1] < q[1] ? -1 : 1));
    keyed.forEach(([, n], i) => xOf.set(n, (widest - layer.length) / 2 + i));
  };
  const live = layers.filter((l): l is string[] => l !== undefined);
  for (const l of live) order(l, (m) => layerOf.get(m)! < layerOf.get(l[0]!)!);
  for (const l of [...live].reverse()) order(l, (m) => layerOf.get(m)! > layerOf.get(l[0]!)!);
  for (const l of live) order(l, (m) => layerOf.get(m)! !== layerOf.get(l[0]!)!);
  const width = widest * DX + DX;
  const kinds = new Map(snap.nodes.map((n) => [n.name, n] as const));
  const nodes: Placed[] = byName.map((name) => {
    const layer = layerOf.get(name)!;
    const n = kinds.get(name)!;
    return {
      name, kind: n.kind, layer, y: TOP + layer * DY, x: DX + xOf.get(name)! * DX,
      addrs: n.ports.flatMap((p) => (Array.isArray(p?.addrs) ? p.addrs : [])),
    };
  });
  return { nodes, edges, width, height: TOP + layers.length * DY };
}

function shape(kind: Kind): SVGElement {
  switch (kind) {
    case 'router': return s('rect', { x: -13, y: -13, width: 26, height: 26, rx: 3 });
    case 'node': return s('g', {}, s('rect', { x: -15, y: -13, width: 30, height: 26, rx: 2 }), s('rect', { x: -15, y: -13, width: 30, height: 6, class: 'bar' }));
    case 'vm': return s('g', {}, s('circle', { r: 13 }), s('circle', { r: 8, class: 'ring' }));
    case 'pod': return s('circle', { r: 9 });
    case 'bridge': return s('rect', { x: -20, y: -8, width: 40, height: 16, rx: 8 });
    case 'ovs': return s('polygon', { points: '-16,0 -8,-13 8,-13 16,0 8,13 -8,13' });
    case 'vtep': return s('polygon', { points: '0,-15 15,0 0,15 -15,0' });
    case 'host': return s('circle', { r: 13 });
    default: return s('circle', { r: 9 });
  }
}

export class TopologyGraph {
  private readonly nodeEls = new Map<string, SVGGElement>();
  private edgeEls: { e: Edge; el: SVGLineElement }[] = [];
  private tunnelEls: { a: string; b: string; el: SVGElement }[] = [];

  constructor(private readonly svg: SVGSVGElement) {}

  render(snap: TopologySnapshot): void {
    const { nodes, edges, width, height } = layout(snap);
    this.svg.replaceChildren();
    this.nodeEls.clear();
    this.svg.setAttribute('viewBox', `0 0 ${width} ${Math.max(height, 60)}`);
    const at = new Map(nodes.map((n) => [n.name, n] as const));
    this.edgeEls = edges.map((e) => {
      const a = at.get(e.a)!, b = at.get(e.b)!;
      const el = s('line', { x1: a.x, y1: a.y, x2: b.x, y2: b.y, class: `edge${e.up ? '' : ' down'}${e.host ? ' host-edge' : ''}`, 'data-a': e.a, 'data-b': e.b });
      this.svg.append(el);
      return { e, el };
    });
    // tunnels: an arc bowed to one side, so it does not hide the underlay's straight lines
    this.tunnelEls = (snap.tunnels ?? []).filter((t) => at.has(t.a) && at.has(t.b)).map((t) => {
      const a = at.get(t.a)!, b = at.get(t.b)!;
      const mx = (a.x + b.x) / 2, my = (a.y + b.y) / 2 - Math.max(24, Math.abs(a.x - b.x) / 6);
      const el = s('path', { d: `M${a.x},${a.y} Q${mx},${my} ${b.x},${b.y}`, class: 'tunnel', 'data-a': t.a, 'data-b': t.b },
        s('title', {}, `${t.type} tunnel, VNI ${t.vni}: ${t.a} ⇄ ${t.b}`));
      this.svg.append(el);
      return { a: t.a, b: t.b, el };
    });
    for (const n of nodes) {
      const title = s('title', {}, [n.name, ...n.addrs].join('\n'));
      const g = s('g', { class: `node kind-${n.kind}`, transform: `translate(${n.x},${n.y})`, 'data-node': n.name },
        title, shape(n.kind), s('text', { y: 28, 'text-anchor': 'middle' }, n.name));
      this.svg.append(g);
      this.nodeEls.set(n.name, g);
    }
  }

  /** Light 'path' (nodes in order); 'drop' the node that dropped it; 'hop' the node of the selected hop. */
  highlight(path: string[], drop: string | null, hop: string | null): void {
    const on = new Set(path);
    const edgeKey = (a: string, b: string): string => (a < b ? `${a}\n${b}` : `${b}\n${a}`);
    const present = new Set(this.edgeEls.map(({ e }) => edgeKey(e.a, e.b)));
    const lit = new Set<string>();
    for (let i = 1; i < path.length; i++) {
      const a = path[i - 1]!, b = path[i]!;
      if (present.has(edgeKey(a, b))) { lit.add(edgeKey(a, b)); continue; }
      // records name a VTEP's host, not the VTEP: go through the one node between them
      for (const m of this.nodeEls.keys()) {
        if (present.has(edgeKey(a, m)) && present.has(edgeKey(m, b))) { lit.add(edgeKey(a, m)); lit.add(edgeKey(m, b)); on.add(m); break; }
      }
    }
    for (const { e, el } of this.edgeEls) el.classList.toggle('on', lit.has(edgeKey(e.a, e.b)));
    for (const t of this.tunnelEls) t.el.classList.toggle('on', on.has(t.a) && on.has(t.b));
    for (const [name, g] of this.nodeEls) {
      g.classList.toggle('on', on.has(name));
      g.classList.toggle('dropped', name === drop);
      g.classList.toggle('hop', name === hop);
    }
  }
}
