/**
 * The full demo (k8s layer): what `npm start` (`sdnemu serve`) runs under
 * the trace viewer — the overlay and NAT gateway of topology/demo.ts, and
 * beside them the Kubernetes cluster of examples/k8s/cluster.yaml.
 *
 * What: `buildFullDemo()` builds topology/demo.ts's `buildDemo()` network
 * (two hypervisors, a VXLAN overlay, a NAT gateway with a floating IP) and
 * a `Cluster` on the same Topology and clock: a control-plane node and two
 * workers on their own node network, a web Deployment behind a ClusterIP
 * and a NodePort Service, two client pods, a NetworkPolicy (kube-proxy in
 * iptables mode, an Antrea-style OVS pipeline, VXLAN between the nodes).
 * `demoRequests(cluster)` is the pod-to-Service traffic the demo sends:
 * each client pod to the web Service's ClusterIP — DNATed by kube-proxy's
 * rules on the client's node, and, to a backend on the other worker,
 * across the tunnel.
 * Why a file: the manifests are examples/k8s/cluster.yaml itself (read
 * from the package), so the demo and the example cannot drift apart.
 * Neighbours: topology/demo.ts, cluster.ts, cli/serve.ts, the viewer's
 * browser test.
 */
import { readFileSync } from 'node:fs';
import type { Topology } from '../topology/topology.js';
import type { Host } from '../netstack/host.js';
import { buildDemo } from '../topology/demo.js';
import { Cluster } from './cluster.js';

/** examples/k8s/cluster.yaml, the demo's manifests. */
export const DEMO_MANIFESTS = new URL('../../examples/k8s/cluster.yaml', import.meta.url);

/** The overlay demo and the example cluster on one topology. */
export function buildFullDemo(): { net: Topology; vms: Host[]; cluster: Cluster } {
  const { net, vms } = buildDemo();
  const cluster = new Cluster({ topology: net, seed: 7 });
  cluster.applyYaml(readFileSync(DEMO_MANIFESTS, 'utf8'), 'examples/k8s/cluster.yaml');
  return { net, vms, cluster };
}

/** The demo's pod-to-Service requests: [client pod host name, the web Service's ClusterIP, port]. */
export function demoRequests(cluster: Cluster): { from: string; to: string; port: number }[] {
  const ip = cluster.serviceIP('default', 'web');
  return cluster.podsWith({ app: 'client' }).map((p) => ({ from: `default/${p.metadata.name}`, to: ip, port: 80 }));
}
