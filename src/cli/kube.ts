/**
 * The Kubernetes commands (cli layer): `sdnemu kube-proxy` and `sdnemu run`
 * of a manifest file.
 *
 * What:
 *  - `kubeProxy({ mode, files, … })`: Services and EndpointSlices (and a
 *    Node, for the hostname, its InternalIP and labels) from ordinary
 *    manifests → what kube-proxy would program on that node. iptables mode
 *    prints the `iptables-restore` payload of each sync exactly as
 *    kube-proxy writes it: one sync per FILE, in order — the first in
 *    full, each later one partial, rewriting only what its file changed
 *    (an object of the same kind, namespace and name replaces the earlier
 *    one). ipvs mode prints, per sync, `ipvsadm -Ln`, the ipsets as
 *    `ipset save` prints them, the kube-ipvs0 addresses and the iptables
 *    payload. A `#` line names each sync (iptables-restore skips it).
 *  - `runManifests(path, out)`: a file of Kubernetes manifests (`sdnemu run
 *    examples/k8s/cluster.yaml`) builds a Cluster (k8s/cluster.ts) — its
 *    `kind: Node` documents are the nodes (a single `node-1` when there are
 *    none) — applies the rest as `kubectl apply -f` does and prints what it
 *    printed, then `kubectl get` of nodes, pods (-o wide) and services, and
 *    sends the requests a user checks a cluster with (Cluster.serviceChecks:
 *    from up to three pods a Service does not select, one to each of its TCP
 *    ports on its ClusterIP), then, for each NodePort, one from a machine on
 *    the node network to every node. Each result a line: who answered, or
 *    the error. At the end the packet ledger must balance (a LedgerError
 *    names a packet lost without a reason).
 * Errors: a manifest that does not load is its ManifestError (file, line,
 * field path); exit status 1.
 * Neighbours: k8s/ (Cluster, kube-proxy, manifests), main.ts, run.ts.
 */
import { readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import type { KubeObject, Node } from '../k8s/api.js';
import { loadManifests } from '../k8s/manifest.js';
import { clusterOf, type Cluster } from '../k8s/cluster.js';
import { kubectlGet } from '../k8s/controllers/kubectl.js';
import { IptablesProxier, IpvsProxier, type KubeProxyConfig } from '../k8s/kube-proxy/index.js';
import { tcpRequest } from '../netstack/tools.js';

export interface KubeProxyCommand {
  mode: 'iptables' | 'ipvs';
  /** the manifest files, one sync each */
  files: string[];
  /** the node kube-proxy runs on (default: the first Node of the files, else 'node-1') */
  hostname?: string;
  /** the cluster CIDR: the local-traffic detector (default: none, as kube-proxy without --cluster-cidr) */
  clusterCIDR?: string;
  masqueradeAll?: boolean;
  randomFully?: boolean;
  nodePortAddresses?: string[];
}

export function kubeProxy(cmd: KubeProxyCommand, out: Writable): number {
  const loaded = cmd.files.map((f) => {
    const m = loadManifests(readFileSync(f === '-' ? 0 : f, 'utf8'), { file: f });
    for (const w of m.warnings) process.stderr.write(`Warning: ${w.message}\n`);
    return m.objects;
  });
  const nodes = loaded.flat().filter((o): o is Node => o.kind === 'Node');
  const hostname = cmd.hostname ?? nodes[0]?.metadata.name ?? 'node-1';
  const node = nodes.find((n) => n.metadata.name === hostname);
  const nodeIP = node?.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
  const config: KubeProxyConfig = {
    hostname,
    ...(nodeIP !== undefined ? { nodeIPs: [nodeIP] } : {}),
    ...(node?.metadata.labels !== undefined ? { nodeLabels: node.metadata.labels } : {}),
    ...(cmd.clusterCIDR !== undefined ? { localDetector: { mode: 'cluster-cidr', clusterCIDR: cmd.clusterCIDR } } : {}),
    ...(cmd.masqueradeAll === true ? { masqueradeAll: true } : {}),
    ...(cmd.randomFully === true ? { randomFully: true } : {}),
    ...(cmd.nodePortAddresses !== undefined ? { nodePortAddresses: cmd.nodePortAddresses } : {}),
  };
  const p = cmd.mode === 'ipvs' ? new IpvsProxier(config) : new IptablesProxier(config);
  const seen = new Map<string, KubeObject>();
  loaded.forEach((objects, i) => {
    for (const o of objects) {
      if (o.kind !== 'Service' && o.kind !== 'EndpointSlice') continue;
      const key = `${o.kind}/${o.metadata.namespace ?? 'default'}/${o.metadata.name}`;
      const had = seen.has(key);
      seen.set(key, o);
      if (o.kind === 'Service') { if (had) p.updateService(o); else p.addService(o); } else if (had) p.updateEndpointSlice(o); else p.addEndpointSlice(o);
    }
    const file = cmd.files[i]!;
    if (p instanceof IpvsProxier) {
      const r = p.sync(i * 1000);
      out.write(`# sync ${i + 1} (${file}): ipvsadm -Ln\n${p.ipvs.list()}`);
      out.write(`# ipset save\n${p.ipsets.save()}`);
      out.write(`# kube-ipvs0 addresses\n${r.addresses.map((a) => `${a}/32\n`).join('')}`);
      out.write(`# iptables-restore\n${r.iptables}`);
      return;
    }
    const r = p.sync(i * 1000);
    out.write(`# sync ${i + 1} (${file}): ${r.full ? 'full' : 'partial'}\n${r.payload}`);
  });
  return 0;
}

export async function runManifests(path: string, out: Writable): Promise<number> {
  const loaded = loadManifests(readFileSync(path, 'utf8'), { file: path });
  for (const w of loaded.warnings) out.write(`Warning: ${w.message}\n`);
  const { cluster, results } = clusterOf(loaded);
  for (const r of results) out.write(`${r.action === 'error' ? `Error from server: ${r.error?.message ?? r.message}` : r.message}\n`);
  const cp = cluster.cp;
  const get = (cmd: string, table: string): void => { out.write(`\n$ ${cmd}\n${table}${table.endsWith('\n') ? '' : '\n'}`); };
  get('kubectl get nodes', kubectlGet(cp, 'Node'));
  get('kubectl get pods -o wide', kubectlGet(cp, 'Pod', { wide: true }));
  get('kubectl get services', kubectlGet(cp, 'Service'));
  out.write('\n');
  const text = (b: Uint8Array): string => new TextDecoder().decode(b);
  const answer = (r: Awaited<ReturnType<typeof tcpRequest>>): string => {
    if (r.error !== null) return r.error === 'ETIMEDOUT' ? 'timed out (no answer: dropped on the way — a NetworkPolicy?)' : r.error;
    const body = text(r.response);
    return `${body.split('\r\n')[0]} from ${body.trim().split('\n').at(-1)} (${r.totalMs.toFixed(2)} ms)`;
  };
  let outside: ReturnType<Cluster['cni']['addExternalHost']> | null = null;
  const checks = cluster.serviceChecks();
  for (const c of checks.filter((x) => x.from !== '')) {
    const r = await tcpRequest(cluster.net.hostNamed(c.from), c.to, c.port, 'GET / HTTP/1.0\r\n\r\n', { timeoutSec: 3 });
    out.write(`${c.from} → ${c.service} ${c.to}:${c.port}: ${answer(r)}\n`);
  }
  // NodePorts, once per Service port, from a machine on the node network to every node
  const nodePorts = [...new Map(checks.filter((c) => c.nodePort !== null).map((c) => [`${c.service}:${c.nodePort}`, c])).values()];
  for (const c of nodePorts) {
    outside ??= cluster.cni.addExternalHost('outside', cluster.spareAddress());
    for (const n of cluster.cni.nodes()) {
      const r = await tcpRequest(outside, n.ip, c.nodePort!, 'GET / HTTP/1.0\r\n\r\n', { timeoutSec: 3 });
      out.write(`outside → ${n.name} ${n.ip}:${c.nodePort} (${c.service}): ${answer(r)}\n`);
    }
  }
  // every packet the run sent is accounted for (sim/ledger.ts), or the run fails naming it
  cluster.net.sim.ledger.assertBalanced('the cluster run');
  return 0;
}

/** Is this YAML text Kubernetes manifests (documents with apiVersion and kind) rather than an sdnemu topology? */
export function isManifestText(text: string): boolean {
  return /^apiVersion:\s*\S+/m.test(text) && /^kind:\s*\S+/m.test(text);
}
