/**
 * Differential test: src/devices/linux-bridge.ts against the Linux kernel's bridge.
 *
 * Each scenario builds, in fresh network namespaces (NetnsSet of test/oracle/netns.ts: names
 * `sdnemu-k-<pid>-<n>-…`, IPv6 disabled before any link exists, all deleted in a finally):
 *
 *     ns …-br                                           ns …-p<i> (one per port)
 *     br0 (address 02:42:00:00:00:01, type bridge       `wire` (02:50:00:00:0i:02, no address)
 *          vlan_filtering 0|1 [ageing_time N])          ◄── a Python agent: AF_PACKET socket
 *       └ v<i> (02:42:00:00:0i:01) ── veth ──────────        that injects and captures
 *
 * and the same bridge in the emulator (LinuxBridge 'br0' with the same MACs; ports v<i> linked
 * to recording hosts). The same Ethernet frames are injected in the same order, one at a time,
 * from the peers; for each frame we compare which peers received which bytes (VLAN tags
 * included), and at marked points `bridge fdb show br br0` and `bridge vlan show`.
 *
 * Injection and capture: one /usr/bin/python3 agent per peer namespace (`ip netns exec`), one
 * AF_PACKET socket on `wire`: `S <hex>` sends a frame, `D` returns every frame received since
 * the last `D`. The kernel moves a received 802.1Q/802.1ad tag out of the packet into the
 * skb's hardware-accelerated tag, so the agent puts it back from PACKET_AUXDATA (tp_vlan_tci,
 * tp_vlan_tpid), as libpcap does for tcpdump — checked: the same bytes as tcpdump -w records.
 * Frames the agent sent itself (PACKET_OUTGOING) are left out. After each injection the
 * harness waits SETTLE_MS (40 ms) and drains every agent (the bridge forwards within the softirq of
 * the send; the wait is margin for a loaded 2-core box). One agent per peer instead of one
 * Python process per frame (as netns.ts does) keeps a frame at ~30 ms instead of ~100 ms.
 *
 * Normalised, and why:
 *  - Received frames whose source MAC is not one the scenario injected are ignored: the
 *    kernel's br0 sends IGMPv3 reports for the group multicast snooping joins (224.0.0.106)
 *    on its own schedule (igmp_link_local_mcast_reports is also set to 0 to cut them down).
 *  - `bridge fdb show br br0`: only the bridge's entries (`master br0`) are compared; the
 *    `self` lines are the devices' own multicast address lists (33:33:…, 01:00:5e:…), which
 *    depend on IPv6/IGMP state, not on the bridge. Lines are compared in order (devices by
 *    ifindex = creation order, each device's entries newest first).
 *  - A kernel built without CONFIG_BRIDGE_VLAN_FILTERING (this machine's 6.18: no 8021q, and
 *    `vlan_filtering 1` answers EOPNOTSUPP) keeps no VLAN groups: no `vlan 1` local entries
 *    and an empty `bridge vlan show`. The emulator models a kernel with VLAN filtering built
 *    in, so against such a kernel its `vlan N` fdb lines are left out of the comparison and
 *    the VLAN scenario is skipped with a warning (it is not a missing tool that CI could
 *    install).
 * Timing: ageing is compared with ageing_time 1 s and a 1.6 s pause (the emulator advances
 * its clock by the same 1.6 s); the frames around it take well under the margins.
 * With CI=true a missing `ip`, `bridge`, root or /usr/bin/python3 FAILS the suite.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SYSTEM_PYTHON, describeNeeding } from '../oracle/tools.js';
import { FrameAgent } from '../oracle/frame-agent.js';
import { withNetns, type NetnsSet } from '../oracle/netns.js';
import { Sim } from '../../src/sim/engine.js';
import { Link, Port, type PortOwner } from '../../src/sim/link.js';
import { LinuxBridge } from '../../src/devices/linux-bridge.js';

/** 'cmd' resolved against PATH and the sbin directories (ip and bridge live in /usr/sbin). */
function bin(cmd: string): string {
  for (const d of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    if (d && existsSync(join(d, cmd))) return join(d, cmd);
  }
  return cmd;
}
const IP = bin('ip'), BRIDGE = bin('bridge');
const ok = (argv: string[]): boolean => spawnSync(argv[0]!, argv.slice(1), { stdio: 'ignore', timeout: 10000 }).status === 0;

const missing: string[] = [];
if (!ok([IP, '-V'])) missing.push('ip');
if (!ok([BRIDGE, '-V'])) missing.push('bridge');
if (process.getuid?.() !== 0) missing.push('root');
if (!existsSync(SYSTEM_PYTHON)) missing.push(SYSTEM_PYTHON);

/** describe() that runs when every tool is there; with CI=true a missing one fails the suite. */
function describeBridgeKernel(name: string, fn: () => void): void {
  describeNeeding(missing, name, fn);
}

/** Whether this kernel's bridge can filter VLANs (CONFIG_BRIDGE_VLAN_FILTERING). */
function probeVlanFiltering(): boolean {
  if (missing.length > 0) return false;
  const ns = `sdnemu-lbprobe-${process.pid}`;
  if (!ok([IP, 'netns', 'add', ns])) return false;
  try {
    return ok([IP, '-n', ns, 'link', 'add', 'br0', 'type', 'bridge', 'vlan_filtering', '1']);
  } finally {
    spawnSync(IP, ['netns', 'del', ns], { stdio: 'ignore' });
  }
}
const KERNEL_VLAN = probeVlanFiltering();

const SETTLE_MS = 40;
const BR_MAC = '02:42:00:00:00:01';
const portMac = (i: number): string => `02:42:00:00:0${i}:01`;
const peerMac = (i: number): string => `02:50:00:00:0${i}:02`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// The agent

// ---------------------------------------------------------------------------------------------
// Scenarios

/** A configuration change: argv lists run in the bridge namespace, and the emulator's equivalent. */
interface Config { kernel: string[][]; emu: (br: LinuxBridge) => void }

type Step =
  | { send: number; frame: Uint8Array; note: string }
  | { config: Config }
  | { wait: number }
  | { show: string };

interface Scenario {
  name: string;
  ports: number;
  vlanFiltering: boolean;
  /** ageing_time in centiseconds, as `ip link` takes it */
  ageingCs?: number;
  steps: Step[];
}

interface Outcome {
  /** per injected frame: its note and, per port, the frames that peer received (hex) */
  frames: { note: string; got: string[][] }[];
  /** per show step: its label, the fdb lines, the vlan show text */
  shows: { label: string; fdb: string[]; vlan: string }[];
}

/** Only the bridge's own entries: `self` lines are the devices' multicast lists. */
function masterLines(text: string): string[] {
  return text.split('\n').filter((l) => l.length > 0 && !/ self( |$)/.test(l) && / master br0( |$)/.test(l));
}

function cmd(args: string): string[] { return args.split(' '); }

async function runKernel(sc: Scenario): Promise<Outcome> {
  const stations = sourceSet(sc);
  return withNetns(async (set: NetnsSet) => {
    const brNs = await set.add('br');
    await set.exec(brNs, ['sysctl', '-qw', 'net.ipv4.igmp_link_local_mcast_reports=0']);
    const peers: string[] = [];
    for (let i = 0; i < sc.ports; i++) peers.push(await set.add(`p${i}`));
    // not `vlan_filtering 0`: a kernel without CONFIG_BRIDGE_VLAN_FILTERING refuses the attribute
    const opts = sc.vlanFiltering ? ['vlan_filtering 1'] : [];
    if (sc.ageingCs !== undefined) opts.push(`ageing_time ${sc.ageingCs}`);
    const lines = [`link add br0 address ${BR_MAC} type bridge ${opts.join(' ')}`];
    for (let i = 0; i < sc.ports; i++) {
      lines.push(`link add v${i} address ${portMac(i)} type veth peer name wire netns ${peers[i]} address ${peerMac(i)}`);
      lines.push(`link set v${i} master br0`, `link set v${i} up`);
    }
    lines.push('link set br0 up');
    await set.ipBatch(brNs, lines);
    for (const p of peers) await set.ipBatch(p, ['link set wire up']);
    // ports forward once their carrier is up (no STP)
    for (let k = 0; ; k++) {
      const st = await set.exec(brNs, [BRIDGE, 'link', 'show']);
      if ((st.match(/state forwarding/g) ?? []).length === sc.ports) break;
      if (k > 100) throw new Error(`ports not forwarding: ${st}`);
      await sleep(20);
    }
    const live = new Set<ChildProcess>();
    try {
      const agents: FrameAgent[] = [];
      for (const p of peers) agents.push(await FrameAgent.start(p, 'wire', (c) => live.add(c)));
      const out: Outcome = { frames: [], shows: [] };
      for (const step of sc.steps) {
        if ('send' in step) {
          await agents[step.send]!.send(step.frame);
          await sleep(SETTLE_MS);
          const got: string[][] = [];
          for (const a of agents) got.push((await a.drain()).map((f) => Buffer.from(f).toString('hex')).filter((h) => stations.has(h.slice(12, 24))));
          out.frames.push({ note: step.note, got });
        } else if ('config' in step) {
          for (const argv of step.config.kernel) await set.exec(brNs, [argv[0] === 'bridge' ? BRIDGE : argv[0] === 'ip' ? IP : argv[0]!, ...argv.slice(1)]);
        } else if ('wait' in step) {
          await sleep(step.wait);
        } else {
          const fdb = masterLines(await set.exec(brNs, [BRIDGE, 'fdb', 'show', 'br', 'br0']));
          const vlan = await set.exec(brNs, [BRIDGE, 'vlan', 'show']);
          out.shows.push({ label: step.show, fdb, vlan });
        }
      }
      return out;
    } finally {
      // the agents go before their namespaces (withNetns deletes those afterwards)
      for (const c of live) { c.stdin?.end(); c.kill('SIGKILL'); }
    }
  });
}

class Recorder implements PortOwner {
  readonly sink = true;
  got: string[] = [];
  readonly port: Port;
  constructor(readonly name: string) { this.port = new Port(this, 'wire'); }
  receive(_p: Port, f: Uint8Array): void { this.got.push(Buffer.from(f).toString('hex')); }
}

function runEmulator(sc: Scenario): Outcome {
  const sim = new Sim();
  const br = new LinuxBridge(sim, 'br0', {
    mac: BR_MAC, vlanFiltering: sc.vlanFiltering, ...(sc.ageingCs !== undefined ? { ageingTime: sc.ageingCs * 1e7 } : {}),
  });
  const peers: Recorder[] = [];
  for (let i = 0; i < sc.ports; i++) {
    const r = new Recorder(`p${i}`);
    new Link(sim, br.addPort(`v${i}`, { mac: portMac(i) }), r.port);
    peers.push(r);
  }
  const out: Outcome = { frames: [], shows: [] };
  for (const step of sc.steps) {
    if ('send' in step) {
      peers[step.send]!.port.send(step.frame);
      sim.run();
      out.frames.push({ note: step.note, got: peers.map((p) => p.got.splice(0)) });
    } else if ('config' in step) {
      step.config.emu(br);
    } else if ('wait' in step) {
      sim.runFor(step.wait * 1e6);
    } else {
      let fdb = masterLines(br.fdbShow());
      // a kernel without CONFIG_BRIDGE_VLAN_FILTERING has no VLAN groups, hence no `vlan N` entries
      if (!KERNEL_VLAN) fdb = fdb.filter((l) => !/ vlan \d+ /.test(l));
      out.shows.push({ label: step.show, fdb, vlan: br.vlanShow() });
    }
  }
  return out;
}

/** Source MACs (hex, 12 digits) of every frame the scenario injects. */
function sourceSet(sc: Scenario): Set<string> {
  const s = new Set<string>();
  for (const st of sc.steps) if ('send' in st) s.add(Buffer.from(st.frame.subarray(6, 12)).toString('hex'));
  return s;
}

// ---------------------------------------------------------------------------------------------
// Frames

const A = '02:aa:00:00:00:0a', B = '02:aa:00:00:00:0b', C = '02:aa:00:00:00:0c', D = '02:aa:00:00:00:0d';
const E = '02:aa:00:00:00:0e', F = '02:aa:00:00:00:0f', G = '02:aa:00:00:00:10', H = '02:aa:00:00:00:11';
const I = '02:aa:00:00:00:12', J = '02:aa:00:00:00:13', K = '02:aa:00:00:00:14', L = '02:aa:00:00:00:15';
const M = '02:aa:00:00:00:16';
const BCAST = 'ff:ff:ff:ff:ff:ff';
let frameId = 0;

/** An Ethernet frame: EtherType 0x88b5 (local experimental) unless given, 60 bytes before any tag. */
function eth(dst: string, src: string, opts: { tci?: number; tpid?: number; type?: number } = {}): Uint8Array {
  const m = (s: string): number[] => s.split(':').map((x) => parseInt(x, 16));
  const head = [...m(dst), ...m(src)];
  if (opts.tci !== undefined) head.push((opts.tpid ?? 0x8100) >> 8, (opts.tpid ?? 0x8100) & 0xff, opts.tci >> 8, opts.tci & 0xff);
  const type = opts.type ?? 0x88b5;
  head.push(type >> 8, type & 0xff);
  const f = new Uint8Array(head.length + 46).fill(++frameId & 0xff);
  f.set(head, 0);
  return f;
}

const send = (port: number, frame: Uint8Array, note: string): Step => ({ send: port, frame, note });
const bridgeCmd = (args: string): string[] => ['bridge', ...cmd(args)];

const LEARNING: Scenario = {
  name: 'learning, flooding, a station move, link-local groups, frames for br0, tags carried through',
  ports: 4,
  vlanFiltering: false,
  steps: [
    send(0, eth(BCAST, A), 'broadcast from A floods'),
    send(1, eth(A, B), 'B to A: learned, only p0'),
    send(0, eth(B, A), 'A to B: only p1'),
    send(2, eth(D, C), 'unknown unicast floods'),
    { show: 'after learning' },
    send(3, eth(B, A), 'A moves to p3'),
    send(1, eth(A, B), 'B to A follows the move: only p3'),
    send(2, eth('01:00:5e:01:02:03', C), 'IPv4 multicast floods'),
    send(3, eth('01:80:c2:00:00:0e', E, { type: 0x88cc }), 'LLDP: not forwarded, E learned'),
    send(1, eth('01:80:c2:00:00:00', B, { type: 0x0027 }), 'STP group address: forwarded (STP off)'),
    send(0, eth('01:80:c2:00:00:01', F, { type: 0x8808 }), 'pause: dropped, F not learned'),
    send(2, eth('01:80:c2:00:00:02', G, { type: 0x8809 }), 'slow protocols: not forwarded, G learned'),
    send(3, eth(A, H), 'destination on the ingress port: dropped'),
    send(0, eth(BR_MAC, I), 'to br0: not forwarded'),
    send(1, eth(portMac(2), B), "to v2's own MAC: not forwarded"),
    send(0, eth(BCAST, '03:00:00:00:00:01'), 'multicast source: dropped'),
    send(0, eth(B, J, { tci: 100 }), '802.1Q tag carried to B untouched'),
    send(1, eth(BCAST, B, { tpid: 0x88a8, tci: 7 }), '802.1ad tag flooded untouched'),
    { show: 'end' },
  ],
};

const FLAGS: Scenario = {
  name: 'flood flags, static and sticky entries, learning off, hairpin, a permanent entry, port removal',
  ports: 4,
  vlanFiltering: false,
  steps: [
    {
      config: {
        kernel: [bridgeCmd('link set dev v1 flood off'), bridgeCmd('link set dev v2 mcast_flood off'), bridgeCmd('link set dev v3 bcast_flood off')],
        emu: (br) => { br.setPort('v1', { flood: false }); br.setPort('v2', { mcastFlood: false }); br.setPort('v3', { bcastFlood: false }); },
      },
    },
    send(0, eth(BCAST, A), 'broadcast: not to v3 (bcast_flood off)'),
    send(0, eth(D, A), 'unknown unicast: not to v1 (flood off)'),
    send(0, eth('01:00:5e:00:00:fb', A), 'multicast: not to v2 (mcast_flood off)'),
    {
      config: {
        kernel: [bridgeCmd(`fdb add ${B} dev v1 master static`), bridgeCmd(`fdb add ${C} dev v2 master static sticky`)],
        emu: (br) => { br.fdbAdd(B, { dev: 'v1', state: 'static' }); br.fdbAdd(C, { dev: 'v2', state: 'static', sticky: true }); },
      },
    },
    { show: 'static entries' },
    send(0, eth(B, A), 'to static B: v1'),
    send(2, eth(BCAST, B), 'B seen on v2: does a static entry move?'),
    send(0, eth(B, A), 'to B after it was seen on v2'),
    send(3, eth(A, C), 'sticky C seen on v3'),
    send(0, eth(C, A), 'to sticky C'),
    { show: 'after moves' },
    { config: { kernel: [bridgeCmd('link set dev v3 learning off')], emu: (br) => br.setPort('v3', { learning: false }) } },
    send(3, eth(BCAST, K), 'from v3 with learning off'),
    send(0, eth(K, A), 'to K: unknown, flooded'),
    { config: { kernel: [bridgeCmd('link set dev v0 hairpin on')], emu: (br) => br.setPort('v0', { hairpin: true }) } },
    send(0, eth(A, L), 'hairpin: back out of v0 to A'),
    send(0, eth(J, L), 'hairpin: a flood includes v0'),
    { config: { kernel: [bridgeCmd(`fdb add ${M} dev v3 master`)], emu: (br) => br.fdbAdd(M, { dev: 'v3' }) } },
    send(0, eth(M, A), 'to a permanent (local) entry: not forwarded'),
    { show: 'before removal' },
    { config: { kernel: [['ip', 'link', 'set', 'v2', 'nomaster']], emu: (br) => br.removePort('v2') } },
    send(0, eth(C, A), 'C went with v2: flooded'),
    { show: 'after removal' },
  ],
};

const AGEING: Scenario = {
  name: 'ageing (ageing_time 1 s)',
  ports: 4,
  vlanFiltering: false,
  ageingCs: 100,
  steps: [
    send(0, eth(BCAST, A), 'A learned'),
    send(1, eth(A, B), 'B to A: only p0'),
    { show: 'learned' },
    { wait: 1600 },
    send(1, eth(A, B), 'A aged out: flooded'),
    { show: 'aged' },
  ],
};

const VLAN: Scenario = {
  name: 'VLAN filtering: pvid, untagged and tagged egress, a disallowed VID, per-VLAN FDB',
  ports: 4,
  vlanFiltering: true,
  steps: [
    {
      config: {
        kernel: [
          bridgeCmd('vlan add dev v0 vid 10 pvid untagged'),
          bridgeCmd('vlan add dev v1 vid 10'), bridgeCmd('vlan add dev v1 vid 20'),
          bridgeCmd('vlan del dev v2 vid 1'), bridgeCmd('vlan add dev v2 vid 20 pvid untagged'),
        ],
        emu: (br) => {
          br.vlanAdd('v0', 10, { pvid: true, untagged: true });
          br.vlanAdd('v1', 10); br.vlanAdd('v1', 20);
          br.vlanDel('v2', 1); br.vlanAdd('v2', 20, { pvid: true, untagged: true });
        },
      },
    },
    { show: 'memberships' },
    send(0, eth(BCAST, A), 'untagged on the VLAN 10 access port: tagged 10 on the trunk only'),
    send(1, eth(A, B, { tci: 10 }), 'tagged 10 from the trunk to A: untagged on v0'),
    send(1, eth(BCAST, B, { tci: 20 }), 'tagged 20 broadcast: untagged on v2'),
    send(2, eth(B, C), 'untagged on the VLAN 20 access port to B: tagged 20 on the trunk'),
    send(1, eth(BCAST, B, { tci: 30 }), 'VID 30 not on the trunk: dropped'),
    send(2, eth(BCAST, C, { tci: 10 }), 'VID 10 not on v2: dropped'),
    send(3, eth(BCAST, D), 'VLAN 1 from v3: untagged to v0 and v1'),
    send(0, eth(B, A, { tci: 5 << 13 }), 'priority tag on v0: VID 10 with PCP 5 on the trunk'),
    send(1, eth(BR_MAC, B, { tci: 10 }), 'to br0 in VLAN 10 (br0 not a member): unknown, flooded'),
    { show: 'end' },
  ],
};

// ---------------------------------------------------------------------------------------------
// The comparison

function compare(kernel: Outcome, emu: Outcome, checkVlanShow: boolean): void {
  expect(emu.frames.map((f) => f.note)).toEqual(kernel.frames.map((f) => f.note));
  for (let k = 0; k < kernel.frames.length; k++) {
    const kf = kernel.frames[k]!, ef = emu.frames[k]!;
    expect({ frame: ef.note, got: ef.got }).toEqual({ frame: kf.note, got: kf.got });
  }
  for (let k = 0; k < kernel.shows.length; k++) {
    const ks = kernel.shows[k]!, es = emu.shows[k]!;
    expect({ show: es.label, fdb: es.fdb }).toEqual({ show: ks.label, fdb: ks.fdb });
    if (checkVlanShow) expect({ show: es.label, vlan: es.vlan }).toEqual({ show: ks.label, vlan: ks.vlan });
  }
}

describeBridgeKernel('LinuxBridge against the kernel bridge', () => {
  for (const sc of [LEARNING, FLAGS, AGEING]) {
    it(sc.name, async () => {
      const kernel = await runKernel(sc);
      compare(kernel, runEmulator(sc), KERNEL_VLAN);
      // the scenario exercised something: at least one frame reached a peer
      expect(kernel.frames.some((f) => f.got.some((g) => g.length > 0))).toBe(true);
    });
  }

  it.skipIf(!KERNEL_VLAN)(VLAN.name, async () => {
    compare(await runKernel(VLAN), runEmulator(VLAN), true);
  });
  if (!KERNEL_VLAN && missing.length === 0) {
    console.warn('[sdnemu tests] linux-bridge-kernel: this kernel has no CONFIG_BRIDGE_VLAN_FILTERING (vlan_filtering 1 refused); the VLAN scenario is skipped');
  }
});
