/**
 * Imports point down the stack only (DESIGN.md "Layers"): a module may import
 * from its own folder and from folders below it, never above. Cheap, and it
 * keeps the map honest.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { expect, it } from 'vitest';

// conntrack sits below datapath: the datapath's ct() and netfilter both call it, it calls neither;
// sim sits below netstack (DESIGN.md lists it above): a host keeps its timers (ARP, TCP) on the
// simulator's clock and its interfaces are the simulator's ports; sim itself needs only wire;
// shard (issue 12: a topology across worker threads and real VXLAN sockets) sits above the
// networks it splits (topology, compute, k8s) and below the trace server that gathers its traces
const ORDER = ['wire', 'pcap', 'flow', 'ofproto', 'conntrack', 'datapath', 'netfilter', 'sim', 'netstack', 'devices',
  'topology', 'compute', 'k8s', 'shard', 'trace', 'viewer', 'cli'];

function rank(file: string): number {
  const top = relative('src', file).split(sep)[0]!;
  if (top.endsWith('.ts')) return -1; // src/errors.ts and other leaf modules at the root
  const r = ORDER.indexOf(top);
  if (r < 0) throw new Error(`src/${top} is not a layer in DESIGN.md; add it to ORDER in test/layers.test.ts`);
  return r;
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

it('no module imports from a layer above its own', () => {
  const bad: string[] = [];
  for (const f of files('src')) {
    const src = readFileSync(f, 'utf8');
    for (const m of src.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]/g)) {
      const target = join(f, '..', m[1]!).replace(/\.js$/, '.ts');
      if (rank(target) > rank(f)) bad.push(`${f} imports ${m[1]} (${ORDER[rank(target)]} is above ${ORDER[rank(f)] ?? 'the root'})`);
    }
  }
  expect(bad).toEqual([]);
});
