/**
 * A sharding example (shard layer): the text of a topology file with N
 * hypervisors behind one underlay router, each with a Linux bridge, a
 * flood-and-learn VXLAN VTEP (VNI 100, every other hypervisor a remote) and
 * M VMs on one overlay subnet — examples/vxlan-overlay.yaml, grown.
 *
 * What: `overlayFile(hypervisors, vmsPerHv)` returns the YAML; hypervisor i
 * (1-based) is `hv<i>` at 192.168.<i>.2/24 behind underlay-r's eth<i>
 * (200 µs, 10 Gbps: the links a partition may cut), its VMs `vm<i>-<j>` at
 * 10.10.<i>.<j>/16 (20 µs to the bridge). `vmIp(i, j)` is a VM's address.
 * Used by the shard tests and bench/shard.bench.ts.
 * Neighbours: topology/file.ts (the format), coordinator.ts.
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
