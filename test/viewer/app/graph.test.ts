/**
 * The graph layout (src/viewer/app/graph.ts), in Node: deterministic,
 * every node placed once with no two on one spot, routers on top, a
 * device named `host/dev` tied to its host, and port ids mapped to nodes.
 */
import { expect, it } from 'vitest';
import type { TopologySnapshot } from '../../../src/trace/protocol.js';
import { layout, nodeOfPort } from '../../../src/viewer/app/graph.js';

const node = (name: string, kind: TopologySnapshot['nodes'][number]['kind']): TopologySnapshot['nodes'][number] => ({ name, kind, ports: [] });
const link = (a: string, b: string) => ({ a, b, delayNs: 0, bps: 0, mtu: 1500, up: true });

const SNAP: TopologySnapshot = {
  nodes: [node('vm1', 'host'), node('hv1', 'host'), node('hv1/br0', 'bridge'), node('hv1/vxlan100', 'vtep'), node('r', 'router'), node('lonely', 'host')],
  links: [link('vm1:eth0', 'hv1/br0:tapa'), link('hv1/vxlan100:vxlan100', 'hv1/br0:vxlan100'), link('hv1:eth0', 'r:eth1')],
  tunnels: [],
};

it('maps a port id to its node, names with slashes included', () => {
  expect(nodeOfPort('hv1/br0:tapa')).toBe('hv1/br0');
  expect(nodeOfPort('r:eth1')).toBe('r');
});

it('lays out every node once, routers first, deterministically', () => {
  const a = layout(SNAP);
  const b = layout({ nodes: [...SNAP.nodes].reverse(), links: [...SNAP.links].reverse(), tunnels: [] });
  expect(a).toEqual(b);
  expect(a.nodes.map((n) => n.name).sort()).toEqual(SNAP.nodes.map((n) => n.name).sort());
  const spots = new Set(a.nodes.map((n) => `${n.x},${n.y}`));
  expect(spots.size).toBe(a.nodes.length);
  const layerOf = new Map(a.nodes.map((n) => [n.name, n.layer]));
  expect(layerOf.get('r')).toBe(0);
  expect(layerOf.get('hv1')).toBe(1);
  expect(layerOf.get('hv1/vxlan100')).toBe(2); // through its host, not only through the bridge
  expect(layerOf.get('lonely')).toBeGreaterThan(layerOf.get('vm1')!);
  expect(a.edges).toContainEqual({ a: 'hv1', b: 'hv1/vxlan100', up: true, host: true });
  expect(a.edges.filter((e) => !e.host)).toHaveLength(3);
});
