/**
 * Interop (issue 12, item 4): a Linux namespace with a kernel vxlan device pings an emulated VM
 * whose node's underlay is a real UDP socket (src/shard/udp-underlay.ts), in real-time mode.
 *
 *     root namespace                                  ns sdnemu-k-<pid>-<n>-vx (NetnsSet)
 *     sdu<id>r 10.199.X.1/30 ──────── veth ────────── sdu<id>n 10.199.X.2/30
 *        │ UDP socket 10.199.X.1:4789                   vx0: vxlan id 42 dstport 4789
 *        │ (UdpUnderlay)                                      local 10.199.X.2 remote 10.199.X.1
 *     ┌──┴─────────────── the emulator (one Sim, real-time clock) ──┐      dev sdu<id>n
 *     │ hv eth0 10.199.X.1/30 ── vxlan42 (Vtep, VNI 42, learning) │      10.42.0.2/24
 *     │   ── br0 ── vm 10.42.0.1/24                               │
 *     └───────────────────────────────────────────────────────────┘
 *
 * The veth and both its addresses are made by the test (X chosen so that no interface of the
 * machine has an address in 10.199.X.0/24): traffic stays on interfaces this test created.
 * `ip netns exec NS ping -c 3 10.42.0.1` must get 3 replies; tcpdump on the namespace's veth
 * records both directions, and tshark (`-d udp.port==4789,vxlan`, checksum validation on)
 * must decode VXLAN with VNI 42 around the echo requests (kernel → emulator) and the echo
 * replies (emulator → kernel), every IPv4, UDP and ICMP checksum good, nothing malformed.
 * TX checksum offload is turned off on both veth ends (as test/oracle/frame-agent.ts does), or
 * tcpdump would record CHECKSUM_PARTIAL pseudo-header sums. The veth's root end is deleted in
 * a finally, the namespace by withNetns.
 * With CI=true a missing ip, tcpdump, tshark, /usr/bin/python3 or root FAILS the suite.
 * The second test does the same with an emulated Kubernetes pod: a Cluster (k8s/cluster.ts) of two
 * Nodes — `worker` at 10.199.X.1, emulated, whose underlay is the socket, and `linux` at
 * 10.199.X.2, which the namespace plays (Antrea-style: a vxlan device with VNI 0, the Global
 * Virtual MAC, an address of the node's podCIDR and a route to the worker's) — and a pod on the
 * worker. The namespace pings the pod: the request enters the worker's br-int from the tunnel and
 * is routed to the pod by its flows; the reply leaves through the peer flow for `linux`'s
 * podCIDR (tun_dst 10.199.X.2) back over the socket.
 * Geneve is not checked against the kernel: the kernel of these machines has no geneve driver
 * (`ip link add … type geneve` answers "Unknown device type"); the emulator's Geneve path over
 * real sockets is tested between two emulated OVS bridges in udp-underlay.test.ts.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { SYSTEM_PYTHON, describeNeeding, tsharkFields, tools } from '../oracle/tools.js';
import { bin, txChecksumOff } from '../oracle/frame-agent.js';
import { withNetns, type NetnsSet } from '../oracle/netns.js';
import { Topology } from '../../src/topology/topology.js';
import { LinuxBridge } from '../../src/devices/linux-bridge.js';
import { Vtep } from '../../src/devices/vtep.js';
import { UdpUnderlay } from '../../src/shard/udp-underlay.js';
import { RealTimeClock } from '../../src/shard/udp-realtime.js';
import { Cluster } from '../../src/k8s/cluster.js';
import { GLOBAL_VIRTUAL_MAC } from '../../src/k8s/cni/pipeline.js';
import { Link } from '../../src/sim/link.js';

const IP = bin('ip'), TCPDUMP = bin('tcpdump');
const ok = (argv: string[]): boolean => spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore', timeout: 10000 }).status === 0;
const missing: string[] = [];
if (!ok([IP, '-V'])) missing.push('ip');
if (!ok([TCPDUMP, '--version'])) missing.push('tcpdump');
if (!tools.tshark) missing.push('tshark');
if (!ok([SYSTEM_PYTHON, '-V'])) missing.push(SYSTEM_PYTHON);
if (process.getuid?.() !== 0) missing.push('root');

const VNI = 42;
/** what crosses the veth: the overlay ARP request and reply, 3 echo requests and 3 replies */
const FRAMES = 8;
const sleep = (t: number): Promise<void> => new Promise((r) => setTimeout(r, t));

/** A /24 of 10.199.0.0/16 that no interface of this machine has an address in. */
function freeSubnet(): number {
  const used = spawnSync(IP, ['-4', '-o', 'addr', 'show'], { encoding: 'utf8' }).stdout ?? '';
  for (let k = 0; k < 250; k++) {
    const x = 1 + ((process.pid + k) % 250);
    if (!used.includes(`10.199.${x}.`)) return x;
  }
  throw new Error('no free 10.199.X.0/24');
}

function run(argv: string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 20000 });
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/**
 * tcpdump (both directions) on 'dev' in 'ns' into 'path', ending by itself after 'count'
 * packets; resolves once the capture file has its header (tcpdump writes it when it listens).
 */
async function startCapture(ns: string, dev: string, path: string, count: number): Promise<ChildProcess> {
  const child = spawn(IP, ['netns', 'exec', ns, TCPDUMP, '-i', dev, '-c', String(count), '-U', '--immediate-mode', '-n', '-s', '0',
    '-w', path, 'udp port 4789'], { stdio: 'ignore' });
  for (let waited = 0; !(existsSync(path) && statSync(path).size >= 24); waited += 10) {
    if (child.exitCode !== null || waited > 5000) throw new Error(`tcpdump on ${dev} did not start (exit ${String(child.exitCode)})`);
    await sleep(10);
  }
  return child;
}

/** Wait up to 'ms' for 'child' to end by itself; then end it. */
async function finish(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    await Promise.race([new Promise<void>((r) => child.once('exit', () => r())), sleep(ms)]);
  }
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** The emulated side: hv with the underlay socket, a learning Vtep, a bridge and the VM. */
function emulated(x: number): { net: Topology; u: UdpUnderlay; clock: RealTimeClock; vtep: Vtep } {
  const net = new Topology({ seed: 12 });
  const hv = net.host('hv', { ip: `10.199.${x}.1/30` });
  const br = net.add(new LinuxBridge(net.sim, 'hv/br0'));
  const vtep = net.add(new Vtep(hv, { vni: VNI, local: `10.199.${x}.1`, remote: `10.199.${x}.2` }));
  net.link(vtep, br, { b: { iface: 'vxlan42' } });
  const vm = net.host('vm', { ip: '10.42.0.1/24' });
  net.link(vm, br, { delay: '20us', b: { iface: 'tap0' } });
  const clock = new RealTimeClock(net.sim);
  const u = net.add(new UdpUnderlay(hv, {
    localIp: `10.199.${x}.1`, bind: { address: `10.199.${x}.1`, port: 4789 }, clock,
    peers: { [`10.199.${x}.2`]: { address: `10.199.${x}.2`, port: 4789 } },
  }));
  net.link(hv, u, { delay: '10us' });
  return { net, u, clock, vtep };
}

/** The emulated cluster: worker (emulated, its underlay on the socket) and linux (the namespace), a pod on the worker. */
function emulatedCluster(x: number): { c: Cluster; u: UdpUnderlay; clock: RealTimeClock; podIp: string; linuxCIDR: string; workerCIDR: string } {
  const c = new Cluster({ seed: 5, underlay: `10.199.${x}.0/30` });
  const node = (name: string, ip: string): string => `apiVersion: v1\nkind: Node\nmetadata: { name: ${name} }\nstatus: { addresses: [{ type: InternalIP, address: ${ip} }] }\n`;
  const results = c.applyYaml([node('worker', `10.199.${x}.1`), node('linux', `10.199.${x}.2`),
    'apiVersion: v1\nkind: Pod\nmetadata: { name: web }\nspec: { nodeName: worker, containers: [{ name: c, image: nginx }] }\n'].join('---\n'));
  expect(results.filter((r) => r.action === 'error')).toEqual([]);
  const worker = c.cni.node('worker');
  const clock = new RealTimeClock(c.net.sim);
  const u = c.net.add(new UdpUnderlay(worker.host, {
    localIp: `10.199.${x}.1`, iface: 'eth0', bind: { address: `10.199.${x}.1`, port: 4789 }, clock,
    peers: { [`10.199.${x}.2`]: { address: `10.199.${x}.2`, port: 4789 } },
  }));
  // the worker's eth0 leaves the emulated underlay segment for the socket
  const uplink = worker.links[0]!, eth0 = uplink.a;
  uplink.detach();
  new Link(c.net.sim, eth0, u.addPort(), { delay: '10us' });
  return { c, u, clock, podIp: c.cni.pod('default', 'web').ip, linuxCIDR: c.cni.node('linux').podCIDR, workerCIDR: worker.podCIDR };
}

/**
 * The Linux side of a run: a veth sd<tag><id>r 10.199.X.1/30 (root namespace) — sd<tag><id>n
 * 10.199.X.2/30 (a new namespace), the namespace's lines 'vx0(dev)' after it (its vxlan device
 * over 'dev'), TX checksum offload off on both ends, tcpdump of 'frames' VXLAN datagrams on the
 * namespace's end into 'pcap' until 'traffic(set, ns)' has run. The veth's root end is deleted
 * after, the namespace by withNetns.
 */
async function acrossVeth(x: number, tag: string, vx0: (dev: string) => string[], pcap: string, frames: number,
  traffic: (set: NetnsSet, ns: string) => Promise<void>): Promise<void> {
  const id = `${process.pid % 100000}`;
  const vr = `sd${tag}${id}r`, vn = `sd${tag}${id}n`;
  let capture: ChildProcess | null = null;
  await withNetns(async (set) => {
    try {
      const ns = await set.add(tag);
      run([IP, 'link', 'add', vr, 'type', 'veth', 'peer', 'name', vn, 'netns', ns]);
      run([IP, 'addr', 'add', `10.199.${x}.1/30`, 'dev', vr]);
      run([IP, 'link', 'set', vr, 'up']);
      await set.ipBatch(ns, ['link set lo up', `addr add 10.199.${x}.2/30 dev ${vn}`, `link set ${vn} up`, ...vx0(vn)]);
      await txChecksumOff(set, ns, [vn]);
      await txChecksumOff(rootSet(), '', [vr]);
      capture = await startCapture(ns, vn, pcap, frames);
      await traffic(set, ns);
      await finish(capture, 2000);
    } finally {
      if (capture !== null) await finish(capture, 0);
      spawnSync(IP, ['link', 'del', vr], { stdio: 'ignore' });
    }
  });
}

/** txChecksumOff for an interface of the root namespace (its runner, without `ip netns exec`). */
function rootSet(): NetnsSet {
  return { exec: async (_ns: string, argv: string[]) => run(argv) } as unknown as NetnsSet;
}

describeNeeding(missing, 'a Linux vxlan device pings an emulated VM over a real UDP underlay', () => {
  it('ping from the namespace gets replies; the veth carries well-formed VXLAN both ways', async () => {
    const x = freeSubnet();
    const dir = mkdtempSync(join(tmpdir(), 'sdnemu-interop-'));
    const pcap = join(dir, 'veth.pcap');
    const { net, u, clock, vtep } = emulated(x);
    try {
      await acrossVeth(x, 'u', (dev) => [
        `link add vx0 type vxlan id ${VNI} dstport 4789 local 10.199.${x}.2 remote 10.199.${x}.1 dev ${dev}`,
        'link set vx0 address 02:4b:00:00:2a:02',
        'addr add 10.42.0.2/24 dev vx0',
        'link set vx0 up',
      ], pcap, FRAMES, async (set, ns) => {
        await u.open();
        clock.start();
        const out = await set.exec(ns, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '10.42.0.1']);
        expect(out).toMatch(/3 packets transmitted, 3 received/);
      });
      clock.stop();
      const rows = tsharkFields(pcap, ['ip.src', 'ip.dst', 'udp.dstport', 'vxlan.vni', 'vxlan.flags', 'icmp.type',
        'ip.checksum.status', 'udp.checksum.status', 'icmp.checksum.status', '_ws.malformed', 'arp.opcode'], { decodeAs: ['udp.port==4789,vxlan'] });
      const icmp = rows.filter((r) => r['icmp.type'] !== '');
      const requests = icmp.filter((r) => r['icmp.type'] === '8'), replies = icmp.filter((r) => r['icmp.type'] === '0');
      expect(requests.length).toBe(3);
      expect(replies.length).toBe(3);
      for (const r of requests) expect(r['ip.src']).toBe(`10.199.${x}.2,10.42.0.2`);
      for (const r of replies) expect(r['ip.src']).toBe(`10.199.${x}.1,10.42.0.1`);
      for (const r of icmp) {
        expect(r['vxlan.vni']).toBe(String(VNI));
        expect(r['vxlan.flags']).toBe('0x0800');
        expect(r['udp.dstport']).toBe('4789');
        expect(r['ip.checksum.status']).toBe('1,1');
        expect(r['udp.checksum.status']).toBe('1');
        expect(r['icmp.checksum.status']).toBe('1');
      }
      for (const r of rows) expect(r['_ws.malformed']).toBe('');
      // the overlay ARP crossed too: the kernel asked for the VM, the emulated VM answered through the socket
      expect(rows.filter((r) => r['arp.opcode'] !== '').map((r) => `${r['ip.src']} ${r['arp.opcode']} ${r['vxlan.vni']}`))
        .toEqual([`10.199.${x}.2 1 ${VNI}`, `10.199.${x}.1 2 ${VNI}`]);
      // the emulator's side: what came in went through the VTEP, nothing was refused, nothing lost
      expect(u.stats.drops.unknown_peer + u.stats.drops.bad_header).toBe(0);
      expect(vtep.stats.rxPackets).toBe(u.stats.rxDatagrams);
      expect(u.stats.txDatagrams).toBeGreaterThanOrEqual(4); // an ARP reply and the 3 echo replies
      expect(net.sim.ledger.check()).toBeNull();
    } finally {
      clock.stop();
      await u.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ping from the namespace reaches an emulated Kubernetes pod across Antrea-style VXLAN (VNI 0) and the reply comes back', async () => {
    const x = freeSubnet();
    const dir = mkdtempSync(join(tmpdir(), 'sdnemu-interop-pod-'));
    const pcap = join(dir, 'veth.pcap');
    const { c, u, clock, podIp, linuxCIDR, workerCIDR } = emulatedCluster(x);
    const nsIp = linuxCIDR.replace(/\.0\/24$/, '.2');
    try {
      await acrossVeth(x, 'p', (dev) => [
        // an Antrea node's tunnel: VNI 0; what crosses it is addressed to the Global Virtual MAC
        `link add vx0 type vxlan id 0 dstport 4789 local 10.199.${x}.2 remote 10.199.${x}.1 dev ${dev}`,
        `link set vx0 address ${GLOBAL_VIRTUAL_MAC}`,
        `addr add ${nsIp}/24 dev vx0`,
        'link set vx0 up',
        `route add ${workerCIDR} dev vx0`,
        `neigh replace ${podIp} lladdr ${GLOBAL_VIRTUAL_MAC} dev vx0 nud permanent`,
      ], pcap, 6, async (set, ns) => {
        await u.open();
        clock.start();
        const out = await set.exec(ns, ['ping', '-c', '3', '-i', '0.2', '-W', '2', podIp]);
        expect(out).toMatch(/3 packets transmitted, 3 received/);
      });
      clock.stop();
      const rows = tsharkFields(pcap, ['ip.src', 'ip.dst', 'udp.dstport', 'vxlan.vni', 'icmp.type',
        'ip.checksum.status', 'udp.checksum.status', 'icmp.checksum.status', '_ws.malformed'], { decodeAs: ['udp.port==4789,vxlan'] });
      const requests = rows.filter((r) => r['icmp.type'] === '8'), replies = rows.filter((r) => r['icmp.type'] === '0');
      expect(requests.map((r) => `${r['ip.src']} > ${r['ip.dst']}`)).toEqual(Array(3).fill(`10.199.${x}.2,${nsIp} > 10.199.${x}.1,${podIp}`));
      expect(replies.map((r) => `${r['ip.src']} > ${r['ip.dst']}`)).toEqual(Array(3).fill(`10.199.${x}.1,${podIp} > 10.199.${x}.2,${nsIp}`));
      for (const r of [...requests, ...replies]) {
        expect(r['vxlan.vni']).toBe('0');
        expect(r['udp.dstport']).toBe('4789');
        expect(r['ip.checksum.status']).toBe('1,1');
        expect(r['udp.checksum.status']).toBe('1');
        expect(r['icmp.checksum.status']).toBe('1');
      }
      for (const r of rows) expect(r['_ws.malformed']).toBe('');
      expect(u.stats.drops.unknown_peer + u.stats.drops.bad_header).toBe(0);
      expect(c.net.sim.ledger.check()).toBeNull();
    } finally {
      clock.stop();
      await u.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
