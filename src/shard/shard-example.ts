/**
 * Sharding examples (shard layer): a topology file and a Kubernetes
 * cluster's manifests, grown to any size.
 *
 * The topology file: N
 * hypervisors behind one underlay router, each with a Linux bridge, a
 * flood-and-learn VXLAN VTEP (VNI 100, every other hypervisor a remote) and
 * M VMs on one overlay subnet — examples/vxlan-overlay.yaml, grown.
 *
 * What: `overlayFile(hypervisors, vmsPerHv)` returns the YAML; hypervisor i
 * (1-based) is `hv<i>` at 192.168.<i>.2/24 behind underlay-r's eth<i>
 * (200 µs, 10 Gbps: the links a partition may cut), its VMs `vm<i>-<j>` at
 * 10.10.<i>.<j>/16 (20 µs to the bridge). `vmIp(i, j)` is a VM's address.
 * The cluster: `clusterManifests({ nodes, services, replicas, clients })`
 * returns Kubernetes YAML — `node-<i>` Nodes (0-based), for each Service
 * `svc<s>` a Deployment `app<s>` of 'replicas' pods whose container echoes
 * UDP on 5353, and a ClusterIP Service (UDP 53 → 5353) at `serviceIP(s)`
 * (10.96.<s / 200>.<s % 200 + 10>, given in the manifest, so traffic can
 * name it before the cluster is built); and `client-<c>` Pods bound to
 * `node-<c>` (spec.nodeName: the scheduler leaves them there), the sources
 * of pod-to-Service traffic (`default/client-<c>`). `clusterTraffic(...)`
 * is that traffic: client c sends to svc (c·7919 mod services), as
 * bench/k8s.bench.ts picks them, at 'pps' for 'seconds'.
 * Used by the shard tests, bench/shard.bench.ts and bench/shard-k8s.bench.ts.
 * Neighbours: topology/file.ts and k8s/manifest.ts (the formats), coordinator.ts.
 */

/** The overlay address of VM 'j' on hypervisor 'i'. */
export function vmIp(i: number, j: number): string { return `10.10.${i}.${j}`; }

/** The topology file text (see the header). */
export function overlayFile(hypervisors: number, vmsPerHv: number, seed = 42): string {
  const hv = Array.from({ length: hypervisors }, (_, k) => k + 1);
  const vms = (i: number): number[] => Array.from({ length: vmsPerHv }, (_, k) => k + 1);
  const lines = [`seed: ${seed}`, 'hosts:'];
  for (const i of hv) {
    lines.push(`  - { name: hv${i}, ip: 192.168.${i}.2/24, gw: 192.168.${i}.1 }`);
    for (const j of vms(i)) lines.push(`  - { name: vm${i}-${j}, ip: ${vmIp(i, j)}/16 }`);
  }
  lines.push('routers:', '  - name: underlay-r', '    interfaces:');
  for (const i of hv) lines.push(`      - { name: eth${i}, addresses: [192.168.${i}.1/24] }`);
  lines.push('bridges:');
  for (const i of hv) lines.push(`  - { name: br-hv${i} }`);
  lines.push('vteps:');
  for (const i of hv) lines.push(`  - { host: hv${i}, vni: 100, local: 192.168.${i}.2, remotes: [${hv.filter((x) => x !== i).map((x) => `192.168.${x}.2`).join(', ')}] }`);
  lines.push('links:');
  for (const i of hv) lines.push(`  - { a: hv${i}, b: underlay-r:eth${i}, delay: 200us, bandwidth: 10Gbps }`);
  for (const i of hv) {
    lines.push(`  - { a: hv${i}/vxlan100, b: br-hv${i}:vxlan100 }`);
    for (const j of vms(i)) lines.push(`  - { a: vm${i}-${j}, b: br-hv${i}:tap${j}, delay: 20us }`);
  }
  return `${lines.join('\n')}\n`;
}

/** The ClusterIP of Service 's' of `clusterManifests`. */
export function serviceIP(s: number): string { return `10.96.${Math.floor(s / 200)}.${(s % 200) + 10}`; }

export interface ClusterExample { nodes: number; services: number; replicas: number; clients: number }

/** The cluster's manifests (see the header). */
export function clusterManifests(c: ClusterExample): string {
  const docs: string[] = [];
  for (let i = 0; i < c.nodes; i++) docs.push(`apiVersion: v1\nkind: Node\nmetadata: { name: node-${i} }\n`);
  const container = '      containers: [{ name: echo, image: echo, ports: [{ containerPort: 5353, protocol: UDP }] }]\n';
  for (let s = 0; s < c.services; s++) {
    docs.push(`apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: app${s} }\nspec:\n  replicas: ${c.replicas}\n  selector: { matchLabels: { app: app${s} } }\n`
      + `  template:\n    metadata: { labels: { app: app${s} } }\n    spec:\n${container}`);
    docs.push(`apiVersion: v1\nkind: Service\nmetadata: { name: svc${s} }\nspec:\n  clusterIP: ${serviceIP(s)}\n  selector: { app: app${s} }\n`
      + '  ports: [{ port: 53, targetPort: 5353, protocol: UDP }]\n');
  }
  for (let k = 0; k < c.clients; k++) {
    docs.push(`apiVersion: v1\nkind: Pod\nmetadata: { name: client-${k}, labels: { role: client } }\nspec:\n  nodeName: node-${k % c.nodes}\n  containers: [{ name: c, image: busybox }]\n`);
  }
  return docs.join('---\n');
}

/** The pod-to-Service traffic of 'c' (see the header). */
export function clusterTraffic(c: ClusterExample, pps: number, seconds: number): { from: string; to: string; pps: number; durationSec: number; dport: number }[] {
  return Array.from({ length: c.clients }, (_, k) => ({ from: `default/client-${k}`, to: serviceIP((k * 7919) % c.services), pps, durationSec: seconds, dport: 53 }));
}
