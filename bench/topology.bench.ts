/**
 * Topology benchmark (issue 6, item 7): the simulator end to end.
 * Cases:
 *  - events/s of the engine alone (a timer chain);
 *  - packets/s host to host across one router (constant-rate UDP, 64-byte frames, 10 Gbps links):
 *    each packet is a UDP send, the host's OUTPUT path, ARP-resolved output, a link, the router's
 *    forwarding path, a link, the receiver's input and socket;
 *  - the same through a Linux bridge with 100 hosts, 50 pairs sending at once;
 *  - VM to VM across a VXLAN overlay: 100 VMs on 10 hypervisors (bridge + VTEP each) behind one
 *    underlay router, 50 pairs on different hypervisors — bridge, encapsulation, the hypervisor's
 *    IP path, the router, decapsulation, bridge, the VM's stack;
 *  - memory per host: heap growth plus typed-array backing stores (`arrayBuffers`) for 1000 hosts with one interface each.
 * Rates are wall-clock packets (or events) per second of this process; virtual time runs as
 * fast as the CPU allows.
 */
import { Sim } from '../src/sim/engine.js';
import { Topology } from '../src/topology/topology.js';
import { LinuxBridge } from '../src/devices/linux-bridge.js';
import { Vtep } from '../src/devices/vtep.js';
import { constantRate } from '../src/netstack/tools.js';
import { caseMain, runIsolated, type BenchCase, type BenchResult } from './harness.js';

function engineCase(): BenchCase {
  const sim = new Sim();
  let n = 0;
  const h = { onEvent: (): void => { n++; sim.schedule(10, h); } };
  sim.schedule(0, h);
  return { name: 'engine events (a timer chain)', batch: 1000, fn: () => { sim.run(1000); return n; } };
}

/** The routed case; 'setup' may attach to the topology first (bench/trace.bench.ts traces it). */
export function routedCase(name = 'UDP host to host across a router, 64-byte frames', setup: (t: Topology) => void = () => {}): BenchCase {
  const t = new Topology({ seed: 1 });
  setup(t);
  const a = t.host('a', { ip: '10.0.1.2/24', gw: '10.0.1.1' }), b = t.host('b', { ip: '10.0.2.2/24', gw: '10.0.2.1' });
  const r = t.router('r');
  t.link(a, r, { bandwidth: '10Gbps', delay: '10us', b: { iface: 'eth1', addr: '10.0.1.1/24' } });
  t.link(b, r, { bandwidth: '10Gbps', delay: '10us', b: { iface: 'eth2', addr: '10.0.2.1/24' } });
  let got = 0;
  b.sockets.udp(9).onMessage = () => { got++; };
  constantRate(a, '10.0.2.2', { pps: 1e6, durationSec: 1e6 });
  t.runFor(1e6); // ARP settles
  return { name, batch: 1000, fn: () => { const g = got; while (got - g < 1000) t.sim.step(); return got; } };
}

function bridgedCase(): BenchCase {
  const t = new Topology({ seed: 1 });
  const br = t.add(new LinuxBridge(t.sim, 'br0'));
  const hosts = Array.from({ length: 100 }, (_, i) => t.host(`h${i}`, { ip: `10.0.${i >> 8}.${(i & 255) + 1}/16` }));
  for (const h of hosts) t.link(h, br, { bandwidth: '10Gbps', delay: '5us' });
  let got = 0;
  for (let i = 0; i < 50; i++) {
    hosts[i + 50]!.sockets.udp(9).onMessage = () => { got++; };
    constantRate(hosts[i]!, `10.0.${(i + 50) >> 8}.${((i + 50) & 255) + 1}`, { pps: 2e4, durationSec: 1e6 });
  }
  t.runFor(5e6);
  return { name: 'UDP across a Linux bridge, 100 hosts, 50 pairs', batch: 1000, fn: () => { const g = got; while (got - g < 1000) t.sim.step(); return got; } };
}

/** 100 VMs on 10 hypervisors (a Linux bridge and a VTEP each) across a routed underlay; 50 pairs across hypervisors. */
function overlayCase(): BenchCase {
  const t = new Topology({ seed: 1 });
  const r = t.router('r');
  const vms: ReturnType<Topology['host']>[] = [];
  for (let i = 0; i < 10; i++) {
    const hv = t.host(`hv${i}`, { ip: `192.168.${i}.2/24`, gw: `192.168.${i}.1` });
    t.link(hv, r, { bandwidth: '100Gbps', delay: '20us', b: { iface: `eth${i}`, addr: `192.168.${i}.1/24` } });
    const br = t.add(new LinuxBridge(t.sim, `hv${i}/br0`));
    const remotes = Array.from({ length: 10 }, (_, j) => `192.168.${j}.2`).filter((_, j) => j !== i);
    t.link(t.add(new Vtep(hv, { vni: 100, local: `192.168.${i}.2`, remotes })), br, { b: { iface: 'vxlan100' } });
    for (let k = 0; k < 10; k++) {
      const n = i * 10 + k;
      const vm = t.host(`vm${n}`, { ip: `10.10.0.${n + 1}/24` });
      t.link(vm, br, { bandwidth: '10Gbps', delay: '5us', b: { iface: `tap${k}` } });
      vms.push(vm);
    }
  }
  let got = 0;
  for (let n = 0; n < 50; n++) {
    vms[(n + 50) % 100]!.sockets.udp(9).onMessage = () => { got++; };
    constantRate(vms[n]!, `10.10.0.${((n + 50) % 100) + 1}`, { pps: 2e4, durationSec: 1e6 });
  }
  t.runFor(20e6); // ARP and flood-and-learn settle
  return { name: 'UDP VM to VM across a VXLAN overlay, 100 VMs on 10 hypervisors, 50 pairs', batch: 1000,
    fn: () => { const g = got; while (got - g < 1000) t.sim.step(); return got; },
    extra: () => ({ eventsPerPacket: Math.round(t.sim.eventsRun / Math.max(got, 1) * 10) / 10 }) };
}

function memoryPerHost(): Record<string, number> {
  globalThis.gc?.();
  const before = process.memoryUsage();
  const t = new Topology({ seed: 1 });
  const br = t.add(new LinuxBridge(t.sim, 'br0'));
  for (let i = 0; i < 1000; i++) t.link(t.host(`h${i}`, { ip: `10.1.${(i + 1) >> 8}.${(i + 1) & 255}/16` }), br);
  globalThis.gc?.();
  const after = process.memoryUsage();
  const heap = after.heapUsed - before.heapUsed;
  const buffers = after.arrayBuffers - before.arrayBuffers;
  return { bytesPerHost: Math.round((heap + buffers) / 1000), heapPerHost: Math.round(heap / 1000), arrayBuffersPerHost: Math.round(buffers / 1000),
    gcExposed: globalThis.gc === undefined ? 0 : 1, hosts: t.nodes.size };
}

const BUILDERS: (() => BenchCase[])[] = [() => [engineCase()], () => [routedCase()], () => [bridgedCase()], () => [overlayCase()]];

/** Each case in a child process of its own (harness.ts runIsolated), then the memory figure here. */
export async function run(): Promise<BenchResult[]> {
  const out = runIsolated('topology', import.meta.url, BUILDERS.length);
  const mem = memoryPerHost();
  console.log(`topology › memory per host (1000 hosts on a bridge): ${mem.bytesPerHost} bytes (heap ${mem.heapPerHost}, array buffers ${mem.arrayBuffersPerHost})`);
  out.push({ suite: 'topology', name: 'memory per host (1000 hosts on a bridge)', perSec: 0, rme: 0, samples: 1, batch: 1, extra: mem });
  return out;
}

if (import.meta.url === `file://${process.argv[1]}` && !caseMain('topology', BUILDERS)) await run();
