/**
 * A cloud file with its data plane and its `run` steps (compute layer):
 * what `sdnemu run cloud.yaml` and `sdnemu serve cloud.yaml` build.
 *
 * What: `isCloudText(text)` tells a cloud file (file.ts: `hypervisors:` at
 * the top) from a topology file. `buildCloudFile(text, opts)` checks the
 * whole file (the cloud, then its `run` steps against the hosts the cloud
 * made), then builds it on a Topology (given, or a new one with the file's
 * seed): a CloudNetwork (dataplane.ts) with the file's external network,
 * the Cloud (file.ts loadCloud) driving it. The steps are those of a
 * topology file (topology/file.ts: ping, traceroute, tcp, serve, capture,
 * wait, dumpFlows, trace) and name VMs, hypervisors, `network1`'s
 * namespaces and `internet` (the upstream router) as hosts, and the
 * hypervisors' bridges as `compute1/br-int`, `compute1/br-tun`; `runCloudFile` runs them, printing what
 * each tool prints.
 * Errors: the cloud's CloudFileError, the steps' TopologyFileError — each
 * names the line — before any packet is sent.
 * Neighbours: file.ts, dataplane.ts, topology/file.ts, cli/run.ts and
 * cli/serve.ts.
 */
import { parse } from 'yaml';
import { Topology, type Capture } from '../topology/topology.js';
import { Host } from '../netstack/host.js';
import { OvsBridge } from '../devices/ovs-bridge.js';
import { loadSteps, runSteps, type RunStep } from '../topology/file.js';
import { loadCloud } from './file.js';
import type { Cloud } from './cloud.js';
import { CloudNetwork, type CloudNetworkOptions } from './dataplane.js';

/** Is 'text' a cloud file (a mapping with `hypervisors`)? */
export function isCloudText(text: string): boolean {
  try {
    const js = parse(text) as unknown;
    return js !== null && typeof js === 'object' && !Array.isArray(js) && 'hypervisors' in js;
  } catch {
    return false;
  }
}

export interface BuiltCloud { topology: Topology; cloud: Cloud; net: CloudNetwork; steps: RunStep[] }

/** Check and build the cloud file 'text' (module comment); 'opts.network' names the data plane's own nodes. */
export function buildCloudFile(text: string, opts: { topology?: Topology; network?: CloudNetworkOptions } = {}): BuiltCloud {
  const dry = loadCloud(text);
  const seed = (parse(text) as { seed?: unknown }).seed;
  const topology = opts.topology ?? new Topology({ seed: typeof seed === 'number' ? seed : 1 });
  const external = dry.describe().external;
  const net = new CloudNetwork(topology, { ...opts.network, ...(external !== null ? { external } : {}) });
  const cloud = loadCloud(text, { dataplane: net });
  const steps = loadSteps(text, (n) => topology.nodes.get(n) instanceof Host, 0, (n) => topology.nodes.get(n) instanceof OvsBridge);
  return { topology, cloud, net, steps };
}

/** Build the cloud file 'text' and run its steps, writing what the tools print; the captures, by file name. */
export async function runCloudFile(text: string, write: (s: string) => void): Promise<BuiltCloud & { captures: Map<string, Capture> }> {
  const b = buildCloudFile(text);
  return { ...b, captures: await runSteps(b.topology, b.steps, write) };
}
