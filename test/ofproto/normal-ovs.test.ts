/**
 * NORMAL and MAC learning against real Open vSwitch 3.1 (userspace, dummy datapath).
 *
 * One bridge, `actions=NORMAL`, six ports added one transaction at a time (the creation order
 * NORMAL floods in) with OVSDB VLAN settings: p5 and p9 trunks of every VLAN, p2 trunking 10 and
 * 20, p7 an access port of VLAN 10, p3 native-untagged in VLAN 20, p4 native-tagged in VLAN 10.
 * The same steps run on sdnemu's Bridge + Datapath. Checked, in order:
 *  1. `ofproto/trace` before anything is learned: the whole text (flood order, VLAN
 *     tagging/popping, megaflows, the drop reasons);
 *  2. a packet sequence injected with `netdev-dummy/receive`, after each one a full revalidator
 *     round on both sides (OVS's `revalidator/wait`, sdnemu's `sweep`: statistics pushed, which
 *     also learns the sources of cached flows; a MAC change then revalidates the megaflows
 *     before the next packet): every port's transmitted frames byte for byte, `fdb/show br0`
 *     and `dpctl/dump-flows`. fdb/show is compared as a set of (port, VLAN, MAC): OVS refreshes
 *     an entry's place in its LRU list when it is a wall-clock second old, so its order (and
 *     the Age column) depends on how fast the machine runs;
 *  3. the same traces after learning, and that tracing leaves `fdb/show` unchanged;
 *  4. a port deleted and added again: its MACs are forgotten and it floods last;
 *  5. a port's VLAN settings changed: its MACs are forgotten, NORMAL uses the new VLAN.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Bridge, OFPP_LOCAL, type BridgePort } from '../../src/ofproto/bridge.js';
import { parseFlowsFile } from '../../src/ofproto/ofctl.js';
import { parseTracePacket, traceText } from '../../src/ofproto/trace.js';
import { Datapath } from '../../src/datapath/datapath.js';
import { FrameBuilder } from '../../src/wire/builder.js';
import { toHex } from '../../src/wire/bytes.js';
import { OvsSandbox, parseDpFlow } from '../oracle/ovs.js';
import { describeWith } from '../oracle/tools.js';

type Vlan = Pick<BridgePort, 'tag' | 'trunks' | 'vlanMode'>;
const PORTS: [number, Vlan][] = [[5, {}], [9, {}], [2, { trunks: [10, 20] }], [7, { tag: 10 }],
  [3, { tag: 20, vlanMode: 'native-untagged' }], [4, { tag: 10, vlanMode: 'native-tagged' }]];

/** ovs-vsctl `set port` arguments for a port's VLAN settings. */
function vsctlVlan(v: Vlan): string[] {
  const a: string[] = [];
  if (v.tag !== undefined) a.push(`tag=${v.tag}`);
  if (v.trunks !== undefined) a.push(`trunks=${v.trunks.join(',')}`);
  if (v.vlanMode !== undefined) a.push(`vlan_mode=${v.vlanMode}`);
  return a;
}

const mac = (n: number): string => `00:00:00:00:00:${n.toString(16).padStart(2, '0')}`;
const [A, B, C, D, E, F, G, H] = [0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 0x10, 0x11].map(mac) as [string, string, string, string, string, string, string, string];
const BCAST = 'ff:ff:ff:ff:ff:ff';

function udp(src: string, dst: string, vid?: number): Uint8Array {
  const b = new FrameBuilder().eth({ src, dst });
  if (vid !== undefined) b.vlan({ vid, pcp: 2 });
  return b.ipv4({ src: '10.0.0.1', dst: '10.0.0.2', ident: 1 }).udp({ srcPort: 1000, dstPort: 2000 }).payload('normal').build();
}
const arpRequest = (src: string): Uint8Array => new FrameBuilder().eth({ src, dst: BCAST })
  .arp({ op: 1, sha: src, spa: '10.0.0.7', tpa: '10.0.0.8' }).build();

/** The packet sequence: [port, frame]. */
const PACKETS: [number, Uint8Array][] = [
  [5, udp(A, BCAST)],          // flooded in VLAN 0
  [9, udp(B, A)],              // A known: to p5
  [5, udp(A, B)],              // B known
  [7, udp(C, BCAST)],          // access VLAN 10: tagged towards the trunks
  [2, udp(D, C, 10)],          // to p7, untagged
  [3, udp(E, BCAST)],          // native-untagged VLAN 20
  [2, udp(D, E, 20)],          // to p3, untagged (its native VLAN)
  [4, udp(H, C)],              // native-tagged p4, untagged → VLAN 10 → p7
  [9, udp(A, B)],              // A moves to p9; B is on p9: dropped
  [9, udp(B, A)],              // the cached flow to p5 is revalidated: A is on the input port now
  [5, udp(F, A)],              // → p9
  [5, arpRequest(G)],          // ARP broadcast
  [7, udp(C, BCAST, 10)],      // a tagged packet on an access port: dropped
  [5, udp('01:00:5e:00:00:01', BCAST)],   // multicast source: flooded, not learned
  [5, udp(A, B)],              // A back on p5
  [5, udp(A, B)],              // a megaflow hit
];

const TRACES = [
  `in_port=5,dl_src=${A},dl_dst=${BCAST}`,
  `in_port=7,dl_src=${C},dl_dst=${BCAST}`,
  `in_port=2,dl_vlan=10,dl_vlan_pcp=3,dl_src=${D},dl_dst=${BCAST}`,
  `in_port=2,dl_vlan=20,dl_src=${D},dl_dst=${BCAST}`,
  `in_port=2,dl_src=${D},dl_dst=${BCAST}`,
  `in_port=3,dl_vlan=10,dl_src=${E},dl_dst=${BCAST}`,
  `in_port=4,dl_src=${H},dl_dst=${C}`,
  `in_port=7,dl_vlan=10,dl_src=${C},dl_dst=${BCAST}`,
  `in_port=9,dl_src=${F},dl_dst=${A}`,
  `in_port=9,dl_src=${F},dl_dst=${B}`,
  `in_port=2,dl_vlan=10,dl_src=${D},dl_dst=${C}`,
  `in_port=2,dl_vlan=20,dl_src=${D},dl_dst=${E}`,
  `in_port=65534,dl_src=${F},dl_dst=${E}`,
  `in_port=5,arp,dl_src=${G},dl_dst=${BCAST},arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_op=1`,
  `in_port=5,arp,dl_src=${G},dl_dst=${BCAST},arp_spa=10.0.0.1,arp_tpa=10.0.0.1,arp_op=1`,
  `in_port=5,ip,dl_src=${G},dl_dst=01:80:c2:00:00:0e`,
  `in_port=5,ip,dl_src=${G},dl_dst=01:00:0c:cc:cc:cd`,
  `in_port=5,dl_src=${G},dl_dst=01:00:0c:cc:cc:c3`,
  `in_port=5,dl_src=${G},dl_dst=00:e0:2b:00:00:04`,
  `in_port=5,dl_src=${G},dl_dst=01:00:5e:00:00:05`,
  `in_port=99,dl_src=${G},dl_dst=${BCAST}`,
];

const flowText = (line: string): string => {
  const d = parseDpFlow(line);
  return `${d.key} packets:${d.packets} bytes:${d.bytes} actions:${d.actions}`;
};
/** fdb/show without the Age column (OVS's is wall-clock seconds). */
const fdbNoAge = (text: string): string => text.trimEnd().split('\n').map((l) => l.replace(/\s+\S+$/, '')).join('\n');
/** fdb/show as a sorted set of entries (no Age), header first. */
const fdbSet = (text: string): string[] => { const [h, ...l] = fdbNoAge(text).split('\n'); return [h!, ...l.sort()]; };
const portName = (p: number): string => (p === OFPP_LOCAL ? 'LOCAL' : String(p));

describeWith('ovs', 'NORMAL and MAC learning: identical to Open vSwitch 3.1', () => {
  let ovs: OvsSandbox;
  const br = new Bridge('br0');
  for (const [n, v] of PORTS) br.addPort({ ofport: n, name: `p${n}`, type: 'dummy', options: {}, odp: n, ...v });
  br.addFlows(parseFlowsFile('actions=NORMAL'));
  const dp = new Datapath(br);
  const sent = new Map<number, string[]>();
  for (const p of br.ports.values()) {
    sent.set(p.odp, []);
    dp.attach(p.odp, (b, s, e) => sent.get(p.odp)!.push(toHex(b, s, e)));
  }
  const ours = (flow: string): string => traceText(br, parseTracePacket([flow])).trimEnd();
  const theirs = async (flow: string): Promise<string> => (await ovs.trace('br0', flow)).trimEnd();

  beforeAll(async () => {
    ovs = await OvsSandbox.start();
    await ovs.addBridge('br0');
    for (const [n, v] of PORTS) {
      await ovs.addPorts('br0', [{ name: `p${n}`, ofport: n, txPcap: true }]);
      const set = vsctlVlan(v);
      if (set.length) await ovs.vsctl('set', 'port', `p${n}`, ...set);
    }
    await ovs.setMaxIdle(600_000);
    await ovs.addFlows('br0', 'actions=NORMAL');
    const dpif = await ovs.dpifShow();
    expect(dpif.map((p) => `${p.name}:${p.ofport}/${p.odpPort}`).sort())
      .toEqual([...br.ports.values()].map((p) => `${p.name}:${p.ofport}/${p.odp}`).sort());
  }, 30_000);
  afterAll(async () => { await ovs?.stop(); });

  it('traces before learning: flood order, VLAN handling, drops and megaflows', async () => {
    for (const t of TRACES) expect(ours(t), t).toEqual(await theirs(t));
  });

  it('packets: every port sends the same frames; fdb/show and the megaflows agree', async () => {
    PACKETS.forEach(([port, frame], i) => { dp.receive(port, frame.slice(), i + 1); dp.sweep(i + 1); });
    dp.revalidate(PACKETS.length + 1);
    for (const [port, frame] of PACKETS) {
      await ovs.receive(`p${port}`, toHex(frame));
      await ovs.revalidatorWait();
    }
    await ovs.revalidatorWait();
    for (const [n] of PORTS) {
      const tx = (await ovs.txFrames(`p${n}`)).map((f) => toHex(f));
      expect(sent.get(n)!.join('\n'), `p${n}`).toEqual(tx.join('\n'));
    }
    expect(fdbSet(br.mac.show(PACKETS.length + 1, portName))).toEqual(fdbSet(await ovs.appctl('fdb/show', 'br0')));
    expect(br.mac.size).toBe(9);   // A B C D(10) D(20) E F G H
    const mine = dp.dumpFlows(PACKETS.length + 1).map(flowText).sort();
    expect(mine.join('\n')).toEqual((await ovs.dumpDpFlows()).map(flowText).sort().join('\n'));
  }, 30_000);

  it('traces after learning agree, and tracing learns nothing', async () => {
    const fdbBefore = fdbNoAge(await ovs.appctl('fdb/show', 'br0'));
    const oursBefore = br.mac.show(0, portName);
    const extra = [`in_port=5,dl_src=${mac(0x77)},dl_dst=${mac(0x78)}`, `in_port=9,dl_src=${mac(0x78)},dl_dst=${mac(0x77)}`];
    for (const t of [...TRACES, ...extra]) expect(ours(t), t).toEqual(await theirs(t));
    expect(fdbNoAge(await ovs.appctl('fdb/show', 'br0'))).toEqual(fdbBefore);
    expect(br.mac.show(0, portName)).toEqual(oursBefore);
  });

  it('a port deleted and added again loses its MACs and floods last', async () => {
    await ovs.vsctl('del-port', 'br0', 'p9');
    await ovs.addPorts('br0', [{ name: 'p9', ofport: 9 }]);
    br.removePort(9);
    br.addPort({ ofport: 9, name: 'p9', type: 'dummy', options: {}, odp: 9 });
    expect(fdbSet(br.mac.show(0, portName))).toEqual(fdbSet(await ovs.appctl('fdb/show', 'br0')));
    for (const t of [`in_port=5,dl_src=${A},dl_dst=${BCAST}`, `in_port=5,dl_src=${F},dl_dst=${B}`]) {
      const mine = ours(t);
      expect(mine, t).toEqual(await theirs(t));
      expect(mine).toMatch(/Datapath actions: .*,9$/);
    }
  });

  it('changing a port\'s VLAN settings forgets its MACs and changes its VLAN', async () => {
    await ovs.vsctl('set', 'port', 'p5', 'tag=20');
    br.setPortVlan(5, { tag: 20 });
    expect(fdbSet(br.mac.show(0, portName))).toEqual(fdbSet(await ovs.appctl('fdb/show', 'br0')));
    for (const t of [`in_port=5,dl_src=${A},dl_dst=${BCAST}`, `in_port=2,dl_vlan=20,dl_src=${D},dl_dst=${E}`, `in_port=9,dl_src=${B},dl_dst=${A}`]) {
      expect(ours(t), t).toEqual(await theirs(t));
    }
  });
});
