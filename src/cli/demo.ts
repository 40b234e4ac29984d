/**
 * `sdnemu demo` — what `npm start` runs: the richest example topology
 * (examples/vxlan-overlay.ts: a VXLAN overlay across a routed underlay,
 * Linux bridges and flood-and-learn VTEPs), printing its pings, the VTEPs'
 * forwarding tables and the encapsulated packets as they cross the
 * underlay; then the NAT gateway example (examples/nat-gateway.yaml). The
 * underlay capture is written to a pcap (`-w`, default in the temporary
 * directory) that tcpdump and Wireshark read. The examples are TypeScript
 * and YAML in the repository, loaded through tsx. `loadDemo()` gives the
 * overlay example's parts — its topology builder and its pings — which
 * `sdnemu serve` (serve.ts) runs live under the trace viewer.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Writable } from 'node:stream';
import type { Capture, Topology } from '../topology/topology.js';
import type { Host } from '../netstack/host.js';
import { runFile } from './run.js';

/** The overlay example's module: the whole demo run, and its parts for `sdnemu serve`. */
export interface DemoOverlay {
  default: (o: (s: string) => void) => Promise<{ underlay: Capture }>;
  build: () => { net: Topology; vms: Host[] };
  PINGS: readonly (readonly [number, number])[];
  ipOf: (i: number) => string;
}

/** Load examples/vxlan-overlay.ts (TypeScript, through tsx): the demo's topology builder and pings. */
export async function loadDemo(): Promise<DemoOverlay> {
  const { register } = await import('tsx/esm/api');
  register();
  return (await import(new URL('../../examples/vxlan-overlay.ts', import.meta.url).href)) as DemoOverlay;
}

export async function demo(outPath: string | undefined, out: Writable): Promise<number> {
  const say = (s: string): void => { out.write(`${s}\n`); };
  const examples = fileURLToPath(new URL('../../examples/', import.meta.url));
  const overlay = await loadDemo();
  say('# examples/vxlan-overlay.ts: a VXLAN overlay across a routed underlay');
  say('');
  const { underlay } = await overlay.default(say);
  const path = outPath ?? join(tmpdir(), 'sdnemu-demo.pcap');
  writeFileSync(path, underlay.pcap());
  say(`\nwrote the underlay capture (${underlay.frames.length} frames) to ${path}: tcpdump -nr ${path} reads it`);
  say('\n# examples/nat-gateway.yaml: two subnets behind a NAT gateway with a floating IP\n');
  const prev = process.cwd();
  process.chdir(tmpdir());
  try { await runFile(join(examples, 'nat-gateway.yaml'), out); } finally { process.chdir(prev); }
  return 0;
}
