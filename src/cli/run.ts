/**
 * `sdnemu run SCRIPT.ts|SCRIPT.js|TOPOLOGY.yaml` (cli layer).
 *
 * What: a YAML topology (topology/file.ts) is checked, built and its `run`
 * steps executed (a file of Kubernetes manifests instead builds a cluster:
 * kube.ts; a cloud file — `hypervisors:` — builds a cloud on its data
 * plane: compute/run.ts); what each tool prints is written to 'out', and each
 * `capture` step's pcap is written to its file (relative to the current
 * directory, as `tcpdump -w` would) when the run ends. A TypeScript or
 * JavaScript script is imported (TypeScript through tsx's loader): it builds
 * its own `Topology` and prints what it wants; a default-exported function is
 * called and awaited.
 * Errors: a topology file's `TopologyFileError` names the line; exit status
 * 1 (main.ts prints it), 0 otherwise.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Writable } from 'node:stream';
import { loadTopology, runTopology } from '../topology/file.js';
import { isManifestText, runManifests } from './kube.js';
import { isCloudText, runCloudFile } from '../compute/run.js';
import type { Capture } from '../topology/topology.js';

export async function runFile(path: string, out: Writable): Promise<number> {
  const ext = extname(path).toLowerCase();
  if (ext === '.yaml' || ext === '.yml') {
    const text = readFileSync(path, 'utf8');
    // Kubernetes manifests (apiVersion and kind) build a cluster (kube.ts)
    if (isManifestText(text)) return await runManifests(path, out);
    const write = (s: string): boolean => out.write(s);
    const { captures } = isCloudText(text) ? await runCloudFile(text, write) : await runTopology(loadTopology(text), write);
    writeCaptures(captures, out);
    return 0;
  }
  if (ext === '.ts' || ext === '.mts') {
    const { register } = await import('tsx/esm/api');
    register();
  }
  const mod = (await import(pathToFileURL(resolve(path)).href)) as { default?: unknown };
  if (typeof mod.default === 'function') await (mod.default as () => unknown)();
  return 0;
}

/** Each capture's pcap written to its file (relative to the current directory). */
function writeCaptures(captures: Map<string, Capture>, out: Writable): void {
  for (const [file, c] of captures) {
    writeFileSync(file, c.pcap());
    out.write(`wrote ${c.frames.length} frame${c.frames.length === 1 ? '' : 's'} to ${file}\n`);
  }
}
