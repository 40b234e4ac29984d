/**
 * The full demo (k8s layer): what `npm start` (`sdnemu serve`) runs under
 * the trace viewer — the overlay and NAT gateway of topology/demo.ts, and
 * beside them the Kubernetes cluster of examples/k8s/cluster.yaml and the
 * cloud of examples/cloud.yaml.
 *
 * What: `buildFullDemo()` builds topology/demo.ts's `buildDemo()` network
 * (two hypervisors, a VXLAN overlay, a NAT gateway with a floating IP) and
 * a `Cluster` on the same Topology and clock: a control-plane node and two
 * workers on their own node network, a web Deployment behind a ClusterIP
 * and a NodePort Service, two client pods, a NetworkPolicy (kube-proxy in
 * iptables mode, an Antrea-style OVS pipeline, VXLAN between the nodes).
 * The cloud (compute/run.ts buildCloudFile): two tenants on three
 * hypervisors with Neutron's br-int/br-tun, a router with a floating IP
 * and a NAT gateway on a network node, on its own underlay and external
 * network (`cloud-underlay`, `cloud-external`, upstream `cloud-internet`);
 * `demoCloudTraffic(cloud)` is what the demo sends through it: each tenant's
 * VM to its other VM across the tunnel (the same addresses, two VNIs), a VM
 * out through SNAT, and the internet to the floating IP.
 * `demoRequests(cluster)` is the pod-to-Service traffic the demo sends:
 * each client pod to the web Service's ClusterIP — DNATed by kube-proxy's
 * rules on the client's node, and, to a backend on the other worker,
 * across the tunnel.
 * Why files: the manifests are examples/k8s/cluster.yaml itself and the
 * cloud examples/cloud.yaml (read from the package), so the demo and the
 * examples cannot drift apart.
 * Neighbours: topology/demo.ts, cluster.ts, cli/serve.ts, the viewer's
 * browser test.
 */
import { readFileSync } from 'node:fs';
import type { Topology } from '../topology/topology.js';
import type { Host } from '../netstack/host.js';
import { buildDemo } from '../topology/demo.js';
import { Cluster } from './cluster.js';
import { buildCloudFile, type BuiltCloud } from '../compute/run.js';

/** examples/k8s/cluster.yaml, the demo's manifests. */
export const DEMO_MANIFESTS = new URL('../../examples/k8s/cluster.yaml', import.meta.url);

/** examples/cloud.yaml, the demo's cloud. */
export const DEMO_CLOUD = new URL('../../examples/cloud.yaml', import.meta.url);

/** The overlay demo, the example cluster and the example cloud on one topology. */
export function buildFullDemo(): { net: Topology; vms: Host[]; cluster: Cluster; cloud: BuiltCloud } {
  const { net, vms } = buildDemo();
  const cluster = new Cluster({ topology: net, seed: 7 });
  cluster.applyYaml(readFileSync(DEMO_MANIFESTS, 'utf8'), 'examples/k8s/cluster.yaml');
  const cloud = buildCloudFile(readFileSync(DEMO_CLOUD, 'utf8'), {
    topology: net, network: { underlayName: 'cloud-underlay', externalName: 'cloud-external', upstreamName: 'cloud-internet' },
  });
  return { net, vms, cluster, cloud };
}

/** The demo's cloud traffic: [from host, to address] pings (module comment). */
export function demoCloudTraffic(b: BuiltCloud): { from: string; to: string }[] {
  const ip = (vm: string): string => b.cloud.vm(vm).portDetails[0]!.fixedIps[0]!;
  const fip = b.cloud.floatingIps()[0]!.ip;
  return [
    { from: 'web1', to: ip('web2') }, { from: 'app1', to: ip('app2') },
    { from: 'web2', to: b.cloud.describe().external!.gateway }, { from: 'cloud-internet', to: fip },
  ];
}

/** The demo's pod-to-Service requests: [client pod host name, the web Service's ClusterIP, port]. */
export function demoRequests(cluster: Cluster): { from: string; to: string; port: number }[] {
  const ip = cluster.serviceIP('default', 'web');
  return cluster.podsWith({ app: 'client' }).map((p) => ({ from: `default/${p.metadata.name}`, to: ip, port: 80 }));
}
