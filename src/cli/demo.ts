/**
 * `sdnemu demo` — the demo printed and done: the VXLAN overlay
 * (topology/demo.ts, as examples/vxlan-overlay.ts runs it: a VXLAN overlay
 * across a routed underlay, Linux bridges and flood-and-learn VTEPs),
 * printing its pings, the VTEPs' forwarding tables and the encapsulated
 * packets as they cross the underlay; then the NAT gateway example
 * (examples/nat-gateway.yaml). The underlay capture is written to a pcap
 * (`-w`, default in the temporary directory) that tcpdump and Wireshark
 * read. `npm start` (`sdnemu serve`, serve.ts) prints the same overlay and
 * then runs the demo network (topology/demo.ts `buildDemo`) live under the
 * trace viewer.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Writable } from 'node:stream';
import { runOverlay } from '../topology/demo.js';
import { runFile } from './run.js';

export async function demo(outPath: string | undefined, out: Writable): Promise<number> {
  const say = (s: string): void => { out.write(`${s}\n`); };
  const examples = fileURLToPath(new URL('../../examples/', import.meta.url));
  say('# examples/vxlan-overlay.ts: a VXLAN overlay across a routed underlay');
  say('');
  const { underlay } = await runOverlay(say);
  const path = outPath ?? join(tmpdir(), 'sdnemu-demo.pcap');
  writeFileSync(path, underlay.pcap());
  say(`\nwrote the underlay capture (${underlay.frames.length} frames) to ${path}: tcpdump -nr ${path} reads it`);
  say('\n# examples/nat-gateway.yaml: two subnets behind a NAT gateway with a floating IP\n');
  const prev = process.cwd();
  process.chdir(tmpdir());
  try { await runFile(join(examples, 'nat-gateway.yaml'), out); } finally { process.chdir(prev); }
  return 0;
}
