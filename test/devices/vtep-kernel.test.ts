/**
 * Interop (issue 6): src/devices/vtep.ts against the Linux kernel's vxlan driver, frames
 * exchanged both ways.
 *
 * Namespaces (NetnsSet of test/oracle/netns.ts: `sdnemu-k-<pid>-<n>-…`, IPv6 off before any
 * link exists, all deleted in a finally):
 *
 *     ns …-wire                    ns …-hv (the kernel hypervisor)                 ns …-vm
 *     `wire` 02:4b:00:00:00:01 ── veth ── `und` 192.168.0.2/24 02:4b:00:00:00:02
 *     (no address: an AF_PACKET         vxlan100 id 100 local 192.168.0.2 dstport 4789
 *      agent injects what the           nolearning [proxy], 02:4b:00:00:01:00,
 *      emulated hv1 sends and           fdb 00:00:00:00:00:00 dst 192.168.0.1
 *      hands back what the kernel       br0 (mcast_snooping 0) ─ vxlan100
 *      sends)                               └──────────────── tap ── veth ── `eth0` 10.0.0.2/24
 *                                                                          02:4b:00:00:02:02
 *                                                                          (an agent, tcpdump)
 *
 * The emulated side is one `Sim`: hv1 (eth0 192.168.0.1/24, MAC 02:4b:00:00:00:01, its link
 * ends in a relay standing for `wire`), a Vtep (VNI 100, local 192.168.0.1, remote
 * 192.168.0.2, learning) and vm1 (10.0.0.1/24, 02:4b:00:00:01:01) on the Vtep's port. In
 * rounds, the simulator runs 1 ms of virtual time, what hv1 sent is injected on `wire`, the
 * kernel gets SETTLE_MS of real time, what `wire` received is delivered to hv1. Nothing is
 * static: the underlay ARP goes across too (the kernel answers hv1's ARP for 192.168.0.2 and
 * learns 192.168.0.1 from it).
 *
 *  1. vm1's echo request (vm1 ARPs first, so both an ARP request and the echo request cross):
 *     (a) tcpdump in the VM namespace sees exactly the inner frames the emulated VTEP
 *         encapsulated, and the kernel VM answers; (b) the kernel's encapsulated ARP and echo
 *         replies, as captured on `wire`, are decapsulated by the emulated VTEP and reach vm1
 *         byte for byte; vm1's ping socket reports the reply. Outer headers compared field by
 *         field (version, TOS, DF, TTL, protocol, lengths, UDP destination port, checksums
 *         valid, VXLAN header) — except what cannot agree: the UDP source port (the kernel
 *         hashes the inner flow with a key drawn at boot; both are checked to lie in
 *         32768–60998) and the IPv4 id (the kernel's per-destination hashed counter). The
 *         kernel's `ip -s link` counters equal the emulator's the other way round (bytes
 *         count the inner packet from its network header).
 *  2. `bridge fdb show dev vxlan100` after the same add/append/replace/del commands on both.
 *  3. ARP suppression (vxlan100 re-created with `proxy`, `ip neigh add 10.0.0.77 … dev
 *     vxlan100`): the same ARP frames injected from the VM side and into an emulated Vtep with
 *     `arpSuppress`: the same answer, byte for byte, for a known target; nothing for an unknown
 *     one or for an ARP reply — neither answered nor tunnelled.
 *  4. Path MTU with the vxlan device's MTU 1500 over a 1500 underlay: 1500- and 1451-byte DF
 *     packets are answered with the same ICMP fragmentation needed (mtu 1450) byte for byte;
 *     a 1450-byte one is tunnelled in one 1500-byte packet and a 1500-byte non-DF one in two
 *     outer fragments, equal to the emulator's except the id, the UDP source port and the
 *     checksums that cover them; the kernel's two fragments, delivered to the emulated hv1,
 *     are reassembled, decapsulated and reach vm1 byte for byte.
 *  5. The receive path (vxlan100 re-created with learning): the same datagrams, from `wire`
 *     and into an emulated learning Vtep, reach the VM or not alike — learned, moved to a
 *     new outer source, dropped for an unknown VNI, a clear I flag, a reserved bit, a
 *     multicast or the device's own inner source MAC, an IPv4 frame too short for its
 *     header, a source pinned by a static entry elsewhere; nothing goes back (no ICMP);
 *     `bridge fdb show` and the rx packet/byte/error counters agree.
 *  6. The bridge in front of a vxlan device made with `dev und` (MTU 1450), br_netfilter on
 *     (this kernel has it built in, bridge-nf-call-iptables=1): the same frames from the VM
 *     side leave the kernel and the emulator alike — an IPv4 1450 DF packet in one piece,
 *     1454 DF nowhere (no ICMP), 1500 without DF as two inner fragments each tunnelled, a
 *     1468-byte ARP frame tunnelled and its outer packet fragmented, 1469 bytes dropped.
 *
 * Agents: one /usr/bin/python3 per namespace with an AF_PACKET socket (`S hex` sends, `D`
 * returns what arrived since the last `D`, the agent's own sends left out); tcpdump
 * (`-Q in -U --immediate-mode`) in the VM namespace for 1(a). The kernel's `und` has TX
 * checksum offload turned off (ETHTOOL_STXCSUM by ioctl; ethtool(8) is not installed), or
 * the captured outer UDP checksum would be the pseudo-header sum of CHECKSUM_PARTIAL.
 * With CI=true a missing ip, bridge, tcpdump, /usr/bin/python3 or root FAILS the suite.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SYSTEM_PYTHON, describeNeeding } from '../oracle/tools.js';
import { FrameAgent, txChecksumOff } from '../oracle/frame-agent.js';
import { withNetns, type NetnsSet } from '../oracle/netns.js';
import { Sim, ms } from '../../src/sim/engine.js';
import { Link, Port, type PortOwner } from '../../src/sim/link.js';
import { Host } from '../../src/netstack/host.js';
import { Vtep } from '../../src/devices/vtep.js';
import { FrameBuilder } from '../../src/wire/builder.js';
import { be16, be32, parseIpv4 } from '../../src/wire/bytes.js';
import { fold, ipv4PseudoSum, sum16 } from '../../src/wire/checksum.js';
import { readPcap } from '../../src/pcap/reader.js';

function bin(cmd: string): string {
  for (const d of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    if (d && existsSync(join(d, cmd))) return join(d, cmd);
  }
  return cmd;
}
const IP = bin('ip'), BRIDGE = bin('bridge'), TCPDUMP = bin('tcpdump');
const ok = (argv: string[]): boolean => spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore', timeout: 10000 }).status === 0;

const missing: string[] = [];
if (!ok([IP, '-V'])) missing.push('ip');
if (!ok([BRIDGE, '-V'])) missing.push('bridge');
if (!ok([TCPDUMP, '--version'])) missing.push('tcpdump');
if (!existsSync(SYSTEM_PYTHON)) missing.push(SYSTEM_PYTHON);
if (process.getuid?.() !== 0) missing.push('root');

function describeVxlanKernel(name: string, fn: () => void): void {
  describeNeeding(missing, name, fn);
}

const SETTLE_MS = 40;
const WIRE_MAC = '02:4b:00:00:00:01';
const UND_MAC = '02:4b:00:00:00:02';
const VX_MAC = '02:4b:00:00:01:00';
const BR_MAC = '02:4b:00:00:0b:00';
const VM1_MAC = '02:4b:00:00:01:01';
const VM_MAC = '02:4b:00:00:02:02';
const sleep = (t: number): Promise<void> => new Promise((r) => setTimeout(r, t));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
/** The `code` of what 'fn' throws ('' when it does not). */
function codeOf(fn: () => void): string {
  try { fn(); } catch (e) { return (e as { code?: string }).code ?? String(e); }
  return '';
}

// ---------------------------------------------------------------------------------------------
// Agents and capture

/** tcpdump -Q in on 'dev' in 'ns' into 'path'; resolves once it listens. */
async function startTcpdump(ns: string, dev: string, path: string, live: ChildProcess[]): Promise<ChildProcess> {
  const child = spawn(IP, ['netns', 'exec', ns, TCPDUMP, '-i', dev, '-Q', 'in', '-U', '--immediate-mode', '-n', '-s', '0', '-w', path],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  live.push(child);
  await new Promise<void>((resolve, reject) => {
    let err = '';
    const t = setTimeout(() => reject(new Error(`tcpdump not listening after 5 s: ${err}`)), 5000);
    child.stderr!.on('data', (b: Buffer) => {
      err += b.toString();
      if (err.includes('listening on')) { clearTimeout(t); resolve(); }
    });
    child.on('exit', (c) => { clearTimeout(t); reject(new Error(`tcpdump exited ${String(c)}: ${err}`)); });
  });
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  await Promise.race([gone, sleep(2000)]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

// ---------------------------------------------------------------------------------------------
// Frames

/** A port owner that keeps what it receives (a relay to the kernel, a VM's stand-in). */
class Recorder implements PortOwner {
  readonly sink = true;
  readonly port: Port;
  readonly got: Uint8Array[] = [];
  constructor(readonly name: string) { this.port = new Port(this, 'p'); }
  receive(_p: Port, f: Uint8Array): void { this.got.push(f.slice()); }
}

const isVxlan = (f: Uint8Array): boolean => f.length >= 50 && be16(f, 12) === 0x0800 && f[23] === 17
  && (be16(f, 20) & 0x1fff) === 0 && be16(f, 36) === 4789;
const inner = (f: Uint8Array): Uint8Array => f.subarray(50);
const ipChecksumOk = (f: Uint8Array): boolean => fold(sum16(f, 14, 14 + (f[14]! & 15) * 4)) === 0;
function udpChecksumOk(f: Uint8Array): boolean {
  const len = be16(f, 38);
  return fold(sum16(f, 34, 34 + len, ipv4PseudoSum(be32(f, 26), be32(f, 30), 17, len))) === 0;
}
/** 'f' with the fields that cannot agree zeroed: IPv4 id and header checksum, and (first fragment) UDP source port and checksum. */
function masked(f: Uint8Array): string {
  const g = f.slice();
  g[18] = g[19] = g[24] = g[25] = 0;
  if ((be16(f, 20) & 0x1fff) === 0) g[34] = g[35] = g[40] = g[41] = 0;
  return hex(g);
}

function arp(op: number, tpa: string, dst = 'ff:ff:ff:ff:ff:ff', tha = '00:00:00:00:00:00'): Uint8Array {
  return new FrameBuilder().eth({ src: VM_MAC, dst }).arp({ op, sha: VM_MAC, spa: '10.0.0.2', tha, tpa }).build();
}
function bigEcho(ipLen: number, df: boolean, seq: number): Uint8Array {
  return new FrameBuilder().eth({ src: VM_MAC, dst: VM1_MAC }).ipv4({ src: '10.0.0.2', dst: '10.0.0.1', ttl: 61, ident: 100 + seq, df })
    .icmp({ type: 8, code: 0, ident: 5, seq }).payload(new Uint8Array(ipLen - 28).fill(0x41 + seq)).build();
}

// ---------------------------------------------------------------------------------------------

describeVxlanKernel('VTEP against the Linux vxlan driver', () => {
  it('exchanges frames with a kernel VTEP both ways, and agrees on fdb text, ARP suppression and path MTU', async () => {
    const live: ChildProcess[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'sdnemu-vx-'));
    try {
      await withNetns(async (set: NetnsSet) => {
        const hv = await set.add('hv'), wireNs = await set.add('wire'), vmNs = await set.add('vm');
        const mkVxlan = (proxy: boolean): string[] => [
          `link add vxlan100 address ${VX_MAC} type vxlan id 100 local 192.168.0.2 dstport 4789 nolearning${proxy ? ' proxy' : ''}`,
          'link set vxlan100 master br0', 'link set vxlan100 up',
        ];
        await set.ipBatch(hv, [
          'link set lo up',
          `link add und address ${UND_MAC} type veth peer name wire netns ${wireNs} address ${WIRE_MAC}`,
          `link add tap type veth peer name eth0 netns ${vmNs} address ${VM_MAC}`,
          'addr add 192.168.0.2/24 dev und', 'link set und up',
          `link add br0 address ${BR_MAC} type bridge mcast_snooping 0`, 'link set br0 up',
          'link set tap master br0', 'link set tap up',
          ...mkVxlan(false),
        ]);
        await txChecksumOff(set, hv, ['und']);
        await set.exec(hv, [BRIDGE, 'fdb', 'append', '00:00:00:00:00:00', 'dev', 'vxlan100', 'dst', '192.168.0.1']);
        await set.ipBatch(wireNs, ['link set wire up']);
        await set.ipBatch(vmNs, ['link set lo up', 'addr add 10.0.0.2/24 dev eth0', 'link set eth0 up']);
        const details = await set.exec(hv, [IP, '-d', 'link', 'show', 'vxlan100']);
        expect(details).toContain('mtu 1500');
        expect(details).toMatch(/ udpcsum /);
        const wire = await FrameAgent.start(wireNs, 'wire', (c) => live.push(c));
        const vmAgent = await FrameAgent.start(vmNs, 'eth0', (c) => live.push(c));
        const vmPcap = join(dir, 'vm.pcap');
        const dump = await startTcpdump(vmNs, 'eth0', vmPcap, live);

        // ---- the emulated side
        const sim = new Sim({ seed: 11 });
        const hv1 = new Host(sim, 'hv1', { ifaces: [{ name: 'eth0', mac: WIRE_MAC, addrs: ['192.168.0.1/24'] }] });
        const relay = new Recorder('relay');
        new Link(sim, relay.port, hv1.ports.get('eth0')!);
        const vtep = new Vtep(hv1, { vni: 100, local: '192.168.0.1', remotes: ['192.168.0.2'] });
        const vm1 = new Host(sim, 'vm1', { ifaces: [{ name: 'eth0', mac: VM1_MAC, addrs: ['10.0.0.1/24'] }] });
        new Link(sim, vm1.ports.get('eth0')!, vtep.port);
        const vm1In: Uint8Array[] = [];
        vm1.ports.get('eth0')!.tap((f, d) => { if (d === 'in') vm1In.push(f.slice()); });

        const emuSent: Uint8Array[] = [], kernSent: Uint8Array[] = [];
        /** Exchange frames until 'done' or 40 rounds. */
        const exchange = async (done: () => boolean): Promise<void> => {
          for (let round = 0; round < 40 && !done(); round++) {
            sim.runFor(ms(1));
            for (const f of relay.got.splice(0)) { emuSent.push(f); await wire.send(f); }
            await sleep(SETTLE_MS);
            for (const f of await wire.drain()) { kernSent.push(f); relay.port.send(f); }
          }
          sim.runFor(ms(1));
        };

        // ---- 1. a ping from vm1 to the kernel's VM
        const sock = vm1.sockets.icmp();
        let reply: { seq: number; frame: Uint8Array } | null = null;
        sock.onReply = (seq, frame) => { reply = { seq, frame: frame.slice() }; };
        const payload = new Uint8Array(56).map((_, i) => i);
        expect(sock.echo('10.0.0.2', 1, payload)).toBe('sent');
        await exchange(() => reply !== null);
        expect(reply).not.toBeNull();
        expect(reply!.seq).toBe(1);

        // the underlay ARP crossed too: hv1 resolved the kernel's und
        expect(hv1.neigh.show()).toEqual([`192.168.0.2 dev eth0 lladdr ${UND_MAC} REACHABLE`]);
        const emuVx = emuSent.filter(isVxlan), kernVx = kernSent.filter(isVxlan);
        expect(emuVx.length).toBe(2); // vm1's ARP request, then its echo request
        expect(kernVx.length).toBe(2); // the VM's ARP reply, then its echo reply
        // (a) the VM namespace saw exactly the inner frames the emulated VTEP encapsulated
        await sleep(SETTLE_MS);
        await stop(dump);
        const seenByVm = [...readPcap(readFileSync(vmPcap))].map((r) => hex(r.data));
        expect(seenByVm).toEqual(emuVx.map((f) => hex(inner(f))));
        // (b) what the kernel encapsulated reached vm1 byte for byte, and the ping got its reply
        expect(vm1In.map(hex)).toEqual(kernVx.map((f) => hex(inner(f))));
        expect(hex(reply!.frame)).toBe(hex(inner(kernVx[1]!)));
        expect(reply!.frame[34]).toBe(0); // an echo reply
        // outer headers, field by field: the emulator's echo request and the kernel's echo reply
        const e = emuVx[1]!, k = kernVx[1]!;
        for (const [f, src, dst, eSrc, eDst] of [[e, '192.168.0.1', '192.168.0.2', WIRE_MAC, UND_MAC], [k, '192.168.0.2', '192.168.0.1', UND_MAC, WIRE_MAC]] as const) {
          expect(hex(f.subarray(0, 6))).toBe(eDst.replaceAll(':', ''));
          expect(hex(f.subarray(6, 12))).toBe(eSrc.replaceAll(':', ''));
          expect(be16(f, 12)).toBe(0x0800);
          expect(f[14]).toBe(0x45);                          // version 4, no options
          expect(f[15]).toBe(0);                             // TOS 0 (inner ECN 0)
          expect(be16(f, 16)).toBe(f.length - 14);           // total length
          expect(be16(f, 20)).toBe(0);                       // DF clear, not a fragment
          expect(f[22]).toBe(64);                            // TTL 64
          expect(f[23]).toBe(17);
          expect(ipChecksumOk(f)).toBe(true);
          expect([be32(f, 26), be32(f, 30)]).toEqual([parseIpv4(src), parseIpv4(dst)]);
          expect(be16(f, 34)).toBeGreaterThanOrEqual(32768); // the source port: in ip_local_port_range
          expect(be16(f, 34)).toBeLessThan(60999);
          expect(be16(f, 36)).toBe(4789);
          expect(be16(f, 38)).toBe(f.length - 34);           // UDP length
          expect(be16(f, 40)).not.toBe(0);                   // udpcsum: a checksum, and a valid one
          expect(udpChecksumOk(f)).toBe(true);
          expect(hex(f.subarray(42, 50))).toBe('0800000000006400');
        }
        // the counters, each side's TX the other's RX (bytes: the inner packet without Ethernet)
        const kstats = (JSON.parse(await set.exec(hv, [IP, '-s', '-j', 'link', 'show', 'vxlan100'])) as {
          stats64: { rx: { bytes: number; packets: number }; tx: { bytes: number; packets: number } } }[])[0]!.stats64;
        expect({ rx: [kstats.rx.packets, kstats.rx.bytes], tx: [kstats.tx.packets, kstats.tx.bytes] })
          .toEqual({ rx: [vtep.stats.txPackets, vtep.stats.txBytes], tx: [vtep.stats.rxPackets, vtep.stats.rxBytes] });
        expect(vtep.stats.txBytes).toBe(28 + 84);
        // the emulated VTEP learned the kernel VM's MAC at the kernel VTEP
        expect(vtep.fdbShow()).toBe(`${VM_MAC} dst 192.168.0.2 self \n00:00:00:00:00:00 dst 192.168.0.2 self permanent\n`);

        // ---- 2. bridge fdb show after the same commands
        const sim2 = new Sim({ seed: 2 });
        const hv2 = new Host(sim2, 'hv2', { ifaces: [{ name: 'eth0', mac: UND_MAC, addrs: ['192.168.0.2/24'] }] });
        const twin = new Vtep(hv2, { vni: 100, local: '192.168.0.2', learning: false, remotes: ['192.168.0.1'], mac: VX_MAC });
        const cmds: [string[], (v: Vtep) => void][] = [
          [['add', '02:4b:00:00:0f:05', 'dev', 'vxlan100', 'dst', '192.168.0.11', 'dynamic'], (v) => v.fdbAdd('02:4b:00:00:0f:05', '192.168.0.11', { state: 'dynamic' })],
          [['add', '02:4b:00:00:0f:06', 'dev', 'vxlan100', 'dst', '192.168.0.11', 'static'], (v) => v.fdbAdd('02:4b:00:00:0f:06', '192.168.0.11', { state: 'static' })],
          [['add', '02:4b:00:00:0f:07', 'dev', 'vxlan100', 'dst', '192.168.0.11', 'port', '4790', 'vni', '200'], (v) => v.fdbAdd('02:4b:00:00:0f:07', '192.168.0.11', { port: 4790, vni: 200 })],
          [['append', '00:00:00:00:00:00', 'dev', 'vxlan100', 'dst', '192.168.0.10'], (v) => v.fdbAppend('00:00:00:00:00:00', '192.168.0.10')],
          [['append', '02:4b:00:00:0f:05', 'dev', 'vxlan100', 'dst', '192.168.0.12'], (v) => v.fdbAppend('02:4b:00:00:0f:05', '192.168.0.12')],
          [['replace', '02:4b:00:00:0f:06', 'dev', 'vxlan100', 'dst', '192.168.0.13'], (v) => v.fdbReplace('02:4b:00:00:0f:06', '192.168.0.13')],
          [['append', '01:00:5e:00:00:fb', 'dev', 'vxlan100', 'dst', '192.168.0.14'], (v) => v.fdbAppend('01:00:5e:00:00:fb', '192.168.0.14')],
          [['append', '01:00:5e:00:00:fb', 'dev', 'vxlan100', 'dst', '192.168.0.15'], (v) => v.fdbAppend('01:00:5e:00:00:fb', '192.168.0.15')],
          [['del', '02:4b:00:00:0f:07', 'dev', 'vxlan100'], (v) => v.fdbDel('02:4b:00:00:0f:07')],
          [['del', '00:00:00:00:00:00', 'dev', 'vxlan100', 'dst', '192.168.0.10'], (v) => v.fdbDel('00:00:00:00:00:00', '192.168.0.10')],
        ];
        for (const [argv, emu] of cmds) {
          await set.exec(hv, [BRIDGE, 'fdb', ...argv]);
          emu(twin);
        }
        // adding an entry that exists: refused by both
        await expect(set.exec(hv, [BRIDGE, 'fdb', 'add', '02:4b:00:00:0f:06', 'dev', 'vxlan100', 'dst', '192.168.0.16'])).rejects.toThrow(/File exists/);
        expect(codeOf(() => twin.fdbAdd('02:4b:00:00:0f:06', '192.168.0.16'))).toBe('VTEP_EXISTS');
        const kernelFdb = (await set.exec(hv, [BRIDGE, 'fdb', 'show', 'dev', 'vxlan100'])).split('\n').filter((l) => l.includes(' self')).map((l) => `${l}\n`).join('');
        expect(twin.fdbShow()).toBe(kernelFdb);

        // ---- 3. ARP suppression
        await set.ipBatch(hv, ['link del vxlan100', ...mkVxlan(true), 'neigh add 10.0.0.77 lladdr 02:4b:00:00:07:07 dev vxlan100 nud permanent']);
        await set.exec(hv, [BRIDGE, 'fdb', 'append', '00:00:00:00:00:00', 'dev', 'vxlan100', 'dst', '192.168.0.1']);
        const sim3 = new Sim({ seed: 3 });
        const hv3 = new Host(sim3, 'hv3', { ifaces: [{ name: 'eth0', mac: UND_MAC, addrs: ['192.168.0.2/24'] }] });
        hv3.neigh.add('eth0', parseIpv4('192.168.0.1')!, Uint8Array.from([2, 0x4b, 0, 0, 0, 1]));
        const under3 = new Recorder('under3');
        new Link(sim3, under3.port, hv3.ports.get('eth0')!);
        const proxy = new Vtep(hv3, { vni: 100, local: '192.168.0.2', learning: false, arpSuppress: true, remotes: ['192.168.0.1'], mac: VX_MAC });
        proxy.addNeigh('10.0.0.77', '02:4b:00:00:07:07');
        const vmStandIn = new Recorder('vm');
        new Link(sim3, vmStandIn.port, proxy.port);
        await wire.drain(); await vmAgent.drain();
        /**
         * One frame from the VM side into the kernel and into the emulated 'emu': what came back to the VM
         * and what went to the underlay (IPv4 only, the fields that cannot agree masked), per side.
         */
        const fromVmInto = (emu: { sim: Sim; vm: Recorder; under: Recorder }) =>
          async (f: Uint8Array): Promise<{ kVm: string[]; kWire: string[]; eVm: string[]; eWire: string[] }> => {
            await vmAgent.send(f);
            await sleep(SETTLE_MS);
            const kVm = (await vmAgent.drain()).map(hex), kWireAll = await wire.drain();
            emu.vm.port.send(f);
            emu.sim.runFor(ms(1));
            const ip4 = (g: Uint8Array): boolean => be16(g, 12) === 0x0800;
            return { kVm, kWire: kWireAll.filter(ip4).map(masked), eVm: emu.vm.got.splice(0).map(hex), eWire: emu.under.got.splice(0).filter(ip4).map(masked) };
          };
        const fromVm = fromVmInto({ sim: sim3, vm: vmStandIn, under: under3 });
        const known = await fromVm(arp(1, '10.0.0.77'));
        expect(known.kVm).toEqual([hex(new FrameBuilder().eth({ src: '02:4b:00:00:07:07', dst: VM_MAC })
          .arp({ op: 2, sha: '02:4b:00:00:07:07', spa: '10.0.0.77', tha: VM_MAC, tpa: '10.0.0.2' }).build())]);
        expect(known.eVm).toEqual(known.kVm);
        expect([known.kWire, known.eWire]).toEqual([[], []]);
        const unknown = await fromVm(arp(1, '10.0.0.78'));
        expect(unknown).toEqual({ kVm: [], kWire: [], eVm: [], eWire: [] });
        const aReply = await fromVm(arp(2, '10.0.0.1', VM1_MAC, VM1_MAC));
        expect(aReply).toEqual({ kVm: [], kWire: [], eVm: [], eWire: [] });
        expect(proxy.stats.arpReplies).toBe(1);
        expect(proxy.stats.drops.arp_consumed).toBe(2);

        // ---- 4. path MTU: device MTU 1500 over a 1500 underlay
        const tooBig = await fromVm(bigEcho(1500, true, 1));
        expect(tooBig.kVm.length).toBe(1);
        expect(tooBig.eVm).toEqual(tooBig.kVm);
        const icmp = Uint8Array.from(Buffer.from(tooBig.kVm[0]!, 'hex'));
        expect([icmp.length, icmp[34], icmp[35], be16(icmp, 40), icmp[22], be16(icmp, 18)]).toEqual([590, 3, 4, 1450, 61, 0]);
        expect([tooBig.kWire, tooBig.eWire]).toEqual([[], []]);
        const justOver = await fromVm(bigEcho(1451, true, 2));
        expect(justOver.kVm.length).toBe(1);
        expect(justOver.eVm).toEqual(justOver.kVm);
        const fits = await fromVm(bigEcho(1450, true, 3));
        expect(fits.kVm).toEqual([]);
        expect(fits.kWire.length).toBe(1);
        expect(fits.eWire).toEqual(fits.kWire);
        const big = bigEcho(1500, false, 4);
        await wire.drain();
        await vmAgent.send(big);
        await sleep(SETTLE_MS);
        const kFrags = (await wire.drain()).filter((f) => be16(f, 12) === 0x0800 && f[23] === 17);
        vmStandIn.port.send(big);
        sim3.runFor(ms(1));
        const eFrags = under3.got.splice(0);
        expect(kFrags.map((f) => [f.length, be16(f, 20)])).toEqual([[1514, 0x2000], [84, 1480 / 8]]);
        expect(eFrags.map(masked)).toEqual(kFrags.map(masked));
        // the kernel's fragments, into the emulated hv1: reassembled, decapsulated, delivered
        vm1In.length = 0;
        for (const f of kFrags) relay.port.send(f);
        sim.runFor(ms(1));
        expect(vm1In.map(hex)).toEqual([hex(big)]);

        // ---- 6. the bridge in front of a vxlan device with `dev` (MTU 1450), br_netfilter on
        await set.ipBatch(hv, ['link del vxlan100', ...mkVxlan(false).map((l) => l.replace(' nolearning', ' nolearning dev und'))]);
        await set.exec(hv, [BRIDGE, 'fdb', 'append', '00:00:00:00:00:00', 'dev', 'vxlan100', 'dst', '192.168.0.1']);
        expect(await set.exec(hv, [IP, 'link', 'show', 'vxlan100'])).toContain('mtu 1450');
        expect((await set.exec(hv, ['sysctl', '-n', 'net.bridge.bridge-nf-call-iptables'])).trim()).toBe('1');
        const sim6 = new Sim({ seed: 6 });
        const hv6 = new Host(sim6, 'hv6', { ifaces: [{ name: 'eth0', mac: UND_MAC, addrs: ['192.168.0.2/24'] }] });
        hv6.neigh.add('eth0', parseIpv4('192.168.0.1')!, Uint8Array.from([2, 0x4b, 0, 0, 0, 1]));
        const emu6 = { sim: sim6, vm: new Recorder('vm6'), under: new Recorder('under6') };
        new Link(sim6, emu6.under.port, hv6.ports.get('eth0')!);
        const narrow = new Vtep(hv6, { vni: 100, local: '192.168.0.2', learning: false, remotes: ['192.168.0.1'], mac: VX_MAC, dev: 'eth0' });
        expect(narrow.mtu).toBe(1450);
        new Link(sim6, emu6.vm.port, narrow.port);
        await wire.drain(); await vmAgent.drain();
        const via6 = fromVmInto(emu6);
        const padArp = (len: number): Uint8Array => new FrameBuilder().eth({ src: VM_MAC, dst: VM1_MAC })
          .arp({ op: 1, sha: VM_MAC, spa: '10.0.0.2', tpa: '10.0.0.1' }).pad(len).build();
        const cases: [string, Uint8Array, number][] = [
          ['IPv4 1450 DF: fits', bigEcho(1450, true, 5), 1],
          ['IPv4 1454 DF: dropped by the bridge, no ICMP', bigEcho(1454, true, 6), 0],
          ['IPv4 1500: fragmented by the bridge, each piece tunnelled', bigEcho(1500, false, 7), 2],
          ['a 1468-byte ARP frame: MTU + 18 passes, the outer packet is fragmented', padArp(1468), 2],
          ['a 1469-byte ARP frame: dropped', padArp(1469), 0],
        ];
        for (const [what, f, n] of cases) {
          const r = await via6(f);
          expect({ what, kVm: r.kVm, n: r.kWire.length }).toEqual({ what, kVm: [], n });
          expect({ what, e: r.eWire, eVm: r.eVm }).toEqual({ what, e: r.kWire, eVm: [] });
        }
        expect(narrow.stats.drops.too_big).toBe(2);

        // ---- 5. the receive path: learning, moves, static entries, bad headers, bad inner frames
        await set.ipBatch(hv, ['link del vxlan100', ...mkVxlan(false).map((l) => l.replace(' nolearning', ''))]);
        await set.exec(hv, [BRIDGE, 'fdb', 'append', '00:00:00:00:00:00', 'dev', 'vxlan100', 'dst', '192.168.0.1']);
        const sim4 = new Sim({ seed: 4 });
        const hv4 = new Host(sim4, 'hv4', { ifaces: [{ name: 'eth0', mac: UND_MAC, addrs: ['192.168.0.2/24'] }] });
        const under4 = new Recorder('under4');
        new Link(sim4, under4.port, hv4.ports.get('eth0')!);
        const learner = new Vtep(hv4, { vni: 100, local: '192.168.0.2', remotes: ['192.168.0.1'], mac: VX_MAC });
        const vm4 = new Recorder('vm4');
        new Link(sim4, vm4.port, learner.port);
        await wire.drain(); await vmAgent.drain();
        const vx = (o: { from?: string; vni?: number; flags?: number; reserved8?: number; src?: string; inner?: Uint8Array }): Uint8Array =>
          new FrameBuilder().eth({ src: WIRE_MAC, dst: UND_MAC }).ipv4({ src: o.from ?? '192.168.0.1', dst: '192.168.0.2', ttl: 64, ident: 1 })
            .udp({ srcPort: 40000, dstPort: 4789 }).vxlan({ vni: o.vni ?? 100, flags: o.flags ?? 0x08, reserved8: o.reserved8 ?? 0 })
            .eth({ src: o.src ?? '02:4b:00:00:0a:01', dst: VM_MAC, type: 0x88b5 }).payload(o.inner ?? 'sdnemu').build();
        /** One datagram into both; the frames that reached the VM on each side, and whether anything went back out. */
        const toVtep = async (f: Uint8Array): Promise<{ k: string[]; e: string[]; kBack: number; eBack: number }> => {
          await wire.send(f);
          await sleep(SETTLE_MS);
          const k = (await vmAgent.drain()).map(hex), kBack = (await wire.drain()).length;
          under4.port.send(f);
          sim4.runFor(ms(1));
          return { k, e: vm4.got.splice(0).map(hex), kBack, eBack: under4.got.splice(0).length };
        };
        const delivered = (f: Uint8Array): string[] => [hex(inner(f))];
        const steps: [string, Uint8Array, boolean][] = [
          ['learned at .1', vx({}), true],
          ['moves to .5', vx({ from: '192.168.0.5' }), true],
          ['unknown VNI', vx({ vni: 999 }), false],
          ['I flag clear', vx({ flags: 0 }), false],
          ['a reserved bit', vx({ reserved8: 1 }), false],
          ['multicast source MAC', vx({ src: '01:00:5e:00:00:01' }), false],
          ['the device\'s own MAC as source', vx({ src: VX_MAC }), false],
          ['an IPv4 frame too short for its header', new FrameBuilder().eth({ src: WIRE_MAC, dst: UND_MAC }).ipv4({ src: '192.168.0.1', dst: '192.168.0.2', ident: 1 })
            .udp({ srcPort: 40000, dstPort: 4789 }).vxlan({ vni: 100 }).eth({ src: '02:4b:00:00:0a:03', dst: VM_MAC, type: 0x0800 }).payload('short').build(), false],
        ];
        for (const [what, f, reaches] of steps) {
          const r = await toVtep(f);
          expect({ what, ...r }).toEqual({ what, k: reaches ? delivered(f) : [], e: reaches ? delivered(f) : [], kBack: 0, eBack: 0 });
        }
        // a static entry does not move: the frame from elsewhere is dropped
        await set.exec(hv, [BRIDGE, 'fdb', 'add', '02:4b:00:00:0a:02', 'dev', 'vxlan100', 'dst', '192.168.0.1', 'static']);
        learner.fdbAdd('02:4b:00:00:0a:02', '192.168.0.1', { state: 'static' });
        const pinned = await toVtep(vx({ from: '192.168.0.5', src: '02:4b:00:00:0a:02' }));
        expect(pinned).toEqual({ k: [], e: [], kBack: 0, eBack: 0 });
        const kernelFdb5 = (await set.exec(hv, [BRIDGE, 'fdb', 'show', 'dev', 'vxlan100'])).split('\n').filter((l) => l.includes(' self')).map((l) => `${l}\n`).join('');
        expect(learner.fdbShow()).toBe(kernelFdb5);
        expect(kernelFdb5).toContain('02:4b:00:00:0a:01 dst 192.168.0.5 self \n');
        const k5 = (JSON.parse(await set.exec(hv, [IP, '-s', '-s', '-j', 'link', 'show', 'vxlan100'])) as {
          stats64: { rx: Record<string, number> } }[])[0]!.stats64.rx;
        const st = learner.stats;
        expect([k5.packets, k5.bytes, k5.errors, k5.frame_errors, k5.length_errors])
          .toEqual([st.rxPackets, st.rxBytes, st.rxErrors, st.rxFrameErrors, st.rxLengthErrors]);
        expect([st.rxPackets, st.rxFrameErrors, st.rxLengthErrors]).toEqual([2, 1, 1]);
        expect(learner.socketDrops).toEqual({ too_short: 0, invalid_flags: 1, vni_not_found: 1 });
      });
    } finally {
      for (const c of live) await stop(c);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
