/**
 * NORMAL (xlate.ts normalAction) and the MAC learning table (mac-learning.ts)
 * without Open vSwitch: flood order, learning only from the datapath's
 * upcalls (never from a trace), forwarding to learned ports, megaflow masks,
 * revalidation when a MAC moves, port VLAN modes, idle expiry and fdb/show.
 * The same behaviours are compared with OVS 3.1 in normal-ovs.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { Bridge, portVlan, type BridgePort } from '../../src/ofproto/bridge.js';
import { MacLearning, macToString } from '../../src/ofproto/mac-learning.js';
import { parseFlowsFile } from '../../src/ofproto/ofctl.js';
import { parseTracePacket, traceText } from '../../src/ofproto/trace.js';
import { Datapath } from '../../src/datapath/datapath.js';
import { FrameBuilder } from '../../src/wire/builder.js';
import { toHex } from '../../src/wire/bytes.js';

type Vlan = Pick<BridgePort, 'tag' | 'trunks' | 'vlanMode'>;

/** br0 with dummy ports named p<N> (odp N), added in the order given, and 'flows'. */
function bridge(ports: [number, Vlan?][], flows = 'actions=NORMAL'): Bridge {
  const br = new Bridge('br0');
  for (const [n, v] of ports) br.addPort({ ofport: n, name: `p${n}`, type: 'dummy', options: {}, odp: n, ...v });
  br.addFlows(parseFlowsFile(flows));
  return br;
}

function trace(br: Bridge, flow: string): { text: string; megaflow: string; actions: string } {
  const text = traceText(br, parseTracePacket([flow]));
  const line = (p: string): string => text.split('\n').find((l) => l.startsWith(p))!.slice(p.length);
  return { text, megaflow: line('Megaflow: '), actions: line('Datapath actions: ') };
}

const A = '00:00:00:00:00:0a', B = '00:00:00:00:00:0b', BCAST = 'ff:ff:ff:ff:ff:ff';
function udp(src: string, dst: string, vid?: number): Uint8Array {
  const b = new FrameBuilder().eth({ src, dst });
  if (vid !== undefined) b.vlan({ vid, pcp: 0 });
  return b.ipv4({ src: '10.0.0.1', dst: '10.0.0.2', ident: 1 }).udp({ srcPort: 1000, dstPort: 2000 }).payload('hi').build();
}

/** A datapath on 'br' recording what each port sends (hex). */
function datapath(br: Bridge): { dp: Datapath; sent: Map<number, string[]> } {
  const dp = new Datapath(br);
  const sent = new Map<number, string[]>();
  for (const p of br.ports.values()) {
    sent.set(p.odp, []);
    dp.attach(p.odp, (buf, s, e) => sent.get(p.odp)!.push(toHex(buf, s, e)));
  }
  return { dp, sent };
}

const clear = (sent: Map<number, string[]>): void => { for (const l of sent.values()) l.length = 0; };
const receivers = (sent: Map<number, string[]>): number[] => [...sent.entries()].filter(([, l]) => l.length > 0).map(([p]) => p);

describe('NORMAL flooding', () => {
  it('floods in port creation order, the bridge port first (not OpenFlow order)', () => {
    const br = bridge([[5], [9], [2], [7]]);
    expect(trace(br, `in_port=5,dl_dst=${BCAST}`).actions).toBe('100,9,2,7');
    expect(trace(br, `in_port=65534,dl_dst=${BCAST}`).actions).toBe('5,9,2,7');
  });

  it('a re-added port moves to the end; a removed one is gone', () => {
    const br = bridge([[5], [9], [2], [7]]);
    br.removePort(9);
    expect(trace(br, `in_port=5,dl_dst=${BCAST}`).actions).toBe('100,2,7');
    br.addPort({ ofport: 9, name: 'p9', type: 'dummy', options: {}, odp: 9 });
    expect(trace(br, `in_port=5,dl_dst=${BCAST}`).actions).toBe('100,2,7,9');
  });

  it('un-wildcards dl_src, dl_dst and in_port; ARP broadcasts also arp_op, and for requests arp_spa/arp_tpa', () => {
    const br = bridge([[1], [2]]);
    expect(trace(br, `in_port=1,dl_src=${A},dl_dst=${BCAST}`).megaflow)
      .toBe(`recirc_id=0,eth,in_port=1,dl_src=${A},dl_dst=${BCAST},dl_type=0x0000`);
    expect(trace(br, `in_port=1,arp,dl_src=${A},dl_dst=${BCAST},arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_op=1`).megaflow)
      .toBe(`recirc_id=0,eth,arp,in_port=1,dl_src=${A},dl_dst=${BCAST},arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_op=1`);
    expect(trace(br, `in_port=1,arp,dl_src=${A},dl_dst=${BCAST},arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_op=2`).megaflow)
      .toBe(`recirc_id=0,eth,arp,in_port=1,dl_src=${A},dl_dst=${BCAST},arp_op=2`);
    // a unicast ARP: only dl_dst is read by the gratuitous-ARP check
    expect(trace(br, `in_port=1,arp,dl_src=${A},dl_dst=${B},arp_spa=10.0.0.1,arp_tpa=10.0.0.2,arp_op=1`).megaflow)
      .toBe(`recirc_id=0,eth,arp,in_port=1,dl_src=${A},dl_dst=${B}`);
  });

  it('drops reserved destinations and packets from unknown ports, saying why', () => {
    const br = bridge([[1], [2]]);
    const r = trace(br, `in_port=1,dl_src=${A},dl_dst=01:80:c2:00:00:00`);
    expect(r.actions).toBe('drop');
    expect(r.text).toContain('-> packet has reserved destination MAC, dropping');
    const u = trace(br, `in_port=99,dl_src=${A},dl_dst=${BCAST}`);
    expect(u.actions).toBe('drop');
    expect(u.text).toContain('>>>> received packet on unknown port 99 <<<<');
    expect(u.text).toContain('>> no input bundle, dropping');
  });
});

describe('MAC learning through the datapath', () => {
  it('learns from upcalls, forwards known unicast to the learned port, and a trace learns nothing', () => {
    const br = bridge([[1], [2], [3]]);
    trace(br, `in_port=1,dl_src=${A},dl_dst=${BCAST}`);
    expect(br.mac.size).toBe(0);
    const { dp, sent } = datapath(br);
    dp.receive(1, udp(A, B), 1);            // B unknown: flooded
    expect(receivers(sent)).toEqual([100, 2, 3]);
    expect(br.mac.lookup(0x0a, 0)).toBe(1);
    clear(sent);
    dp.receive(2, udp(B, A), 2);            // A known: to port 1 only
    expect(receivers(sent)).toEqual([1]);
    clear(sent);
    dp.receive(1, udp(A, B), 3);            // the flooding megaflow was revalidated: now to 2 only
    expect(receivers(sent)).toEqual([2]);
    const flows = dp.dumpFlows(4);
    expect(flows.some((l) => l.includes('in_port(1)') && l.endsWith('actions:2'))).toBe(true);
    expect(trace(br, `in_port=3,dl_src=00:00:00:00:00:0c,dl_dst=${A}`).text).toContain('-> forwarding to learned port');
    const before = br.mac.show(4, String);
    trace(br, `in_port=3,dl_src=00:00:00:00:00:0c,dl_dst=${A}`);
    expect(br.mac.show(4, String)).toBe(before);
  });

  it('a MAC that moves revalidates the megaflows that used it', () => {
    const br = bridge([[1], [2], [3]]);
    const { dp, sent } = datapath(br);
    dp.receive(1, udp(A, BCAST), 1);
    dp.receive(2, udp(B, A), 2);            // → 1, cached
    dp.receive(3, udp(A, BCAST), 3);        // A moves to port 3
    expect(br.mac.lookup(0x0a, 0)).toBe(3);
    clear(sent);
    dp.receive(2, udp(B, A), 4);            // the cached flow now outputs to 3
    expect(receivers(sent)).toEqual([3]);
    expect(dp.stats.missed).toBe(3);
  });

  it('a destination equal to the source is taken as learned on the input port (dropped), as OVS learns first', () => {
    const br = bridge([[1], [2]]);
    const { dp, sent } = datapath(br);
    dp.receive(1, udp(A, A), 1);
    expect(receivers(sent)).toEqual([]);
    expect(dp.drops()).toEqual({ of_pipeline: 1 });
  });

  it('multicast sources are not learned; idle entries expire; fdb/show prints LRU first', () => {
    const br = bridge([[1], [2]]);
    br.mac.idleTimeS = 10;
    const { dp } = datapath(br);
    dp.receive(1, udp('01:00:5e:00:00:01', BCAST), 1);
    expect(br.mac.size).toBe(0);
    dp.receive(2, udp(B, BCAST), 1000);
    dp.receive(1, udp(A, BCAST), 2000);
    expect(br.mac.show(5500, (p) => (p === 0xfffe ? 'LOCAL' : String(p)))).toBe([
      ' port  VLAN  MAC                Age',
      `    2     0  ${B}    4`,
      `    1     0  ${A}    3`, ''].join('\n'));
    dp.sweep(11_500);
    expect(br.mac.list().map((e) => macToString(e.mac))).toEqual([A]);
    dp.sweep(12_000);
    expect(br.mac.size).toBe(0);
  });

  it('statistics pushed for a cached flow keep its source learned', () => {
    const br = bridge([[1], [2]]);
    br.mac.idleTimeS = 10;
    const { dp } = datapath(br);
    dp.receive(1, udp(A, BCAST), 0);
    for (let t = 1000; t <= 20_000; t += 1000) dp.receive(1, udp(A, BCAST), t);
    expect(br.mac.lookup(0x0a, 0)).toBe(1);
  });

  it('a MAC moving back through a cached flow is learned when its statistics are pushed', () => {
    const br = bridge([[1], [2], [3]]);
    const { dp, sent } = datapath(br);
    dp.receive(1, udp(A, B), 1);            // A@1
    dp.receive(2, udp(B, A), 2);            // B@2
    dp.receive(3, udp(A, B), 3);            // A moves to 3
    dp.receive(1, udp(A, B), 4);            // a hit of the first flow (revalidated: → 2); no upcall
    expect(br.mac.lookup(0x0a, 0)).toBe(3);
    dp.sweep(5);                            // statistics pushed: A learned on 1 again
    expect(br.mac.lookup(0x0a, 0)).toBe(1);
    clear(sent);
    dp.receive(2, udp(B, A), 6);
    expect(receivers(sent)).toEqual([1]);
  });

  it('an entry seen again on its port is refreshed only once it is a second old (whole seconds)', () => {
    const ml = new MacLearning();
    ml.update(1, 0, 1, 0); ml.update(2, 0, 1, 0);
    ml.update(1, 0, 1, 999);
    expect(ml.list().map((e) => e.mac)).toEqual([1, 2]);
    expect(ml.update(1, 0, 1, 1000)).toBe(false);
    expect(ml.list().map((e) => [e.mac, e.usedMs])).toEqual([[2, 0], [1, 1000]]);
  });

  it('port changes revalidate: a flooding megaflow reaches a port added later; VLAN changes forget the port\'s MACs', () => {
    const br = bridge([[1], [2]]);
    const { dp, sent } = datapath(br);
    dp.receive(1, udp(A, BCAST), 1);
    br.addPort({ ofport: 3, name: 'p3', type: 'dummy', options: {}, odp: 3 });
    sent.set(3, []);
    dp.attach(3, (buf, s, e) => sent.get(3)!.push(toHex(buf, s, e)));
    clear(sent);
    dp.receive(1, udp(A, BCAST), 2);
    expect(receivers(sent)).toEqual([100, 2, 3]);
    expect(br.setPortVlan(1, { tag: 5 })).toBe(true);
    expect(br.mac.size).toBe(0);
    clear(sent);
    dp.receive(1, udp(A, BCAST), 3);        // now VLAN 5: tagged to the trunks
    expect(receivers(sent)).toEqual([100, 2, 3]);
    expect(sent.get(2)![0]).toBe(toHex(udp(A, BCAST, 5)));
  });

  it('a full table evicts the oldest entry of the port with the most entries', () => {
    const ml = new MacLearning();
    ml.maxEntries = 3;
    ml.update(1, 0, 1, 0); ml.update(2, 0, 2, 0); ml.update(3, 0, 2, 0);
    const v = ml.version;
    ml.update(4, 0, 1, 0);
    expect(ml.list().map((e) => e.mac)).toEqual([1, 3, 4]);
    expect(ml.version).toBeGreaterThan(v);
    expect(ml.update(4, 0, 1, 1)).toBe(false);   // same port: no change, not made more recent
    expect(ml.lookup(0xffffffffffff, 0)).toBe(-1);
  });
});

describe('NORMAL and port VLAN settings', () => {
  // p1 trunk (all), p2 trunks 10,20, p3 access 10, p4 native-untagged 20, p5 native-tagged 10
  const ports: [number, Vlan?][] = [[1], [2, { trunks: [10, 20] }], [3, { tag: 10 }], [4, { tag: 20, vlanMode: 'native-untagged' }],
    [5, { tag: 10, vlanMode: 'native-tagged' }]];

  it('portVlan: modes, implicit VLANs and trunks', () => {
    expect(portVlan({ ofport: 1, name: 'a', type: '', options: {}, odp: 1 })).toEqual({ mode: 'trunk', vlan: -1, trunks: null });
    expect(portVlan({ ofport: 1, name: 'a', type: '', options: {}, odp: 1, tag: 7, trunks: [1, 2] })).toEqual({ mode: 'access', vlan: 7, trunks: null });
    const n = portVlan({ ofport: 1, name: 'a', type: '', options: {}, odp: 1, tag: 7, trunks: [0, 3], vlanMode: 'native-untagged' });
    expect([...n.trunks!].sort((a, b) => a - b)).toEqual([3, 7]);
  });

  it('an untagged packet on an access port is flooded in its VLAN, tagged towards trunks', () => {
    const br = bridge(ports);
    const r = trace(br, `in_port=3,dl_src=${A},dl_dst=${BCAST}`);
    // p4's native VLAN is 20, but with no trunks listed it trunks every VLAN but 0
    expect(r.actions).toBe('push_vlan(vid=10,pcp=0),100,1,2,4,5');
  });

  it('a tagged packet from a trunk: popped for the access port, kept for trunks', () => {
    const br = bridge(ports);
    const r = trace(br, `in_port=1,dl_vlan=10,dl_src=${A},dl_dst=${BCAST}`);
    expect(r.actions).toBe('100,2,pop_vlan,3,push_vlan(vid=10,pcp=0),4,5');
    expect(r.megaflow).toBe(`recirc_id=0,eth,in_port=1,dl_vlan=10,dl_vlan_pcp=0,dl_src=${A},dl_dst=${BCAST},dl_type=0x0000`);
    // VLAN 20 leaves untagged through the native-untagged port 4
    expect(trace(br, `in_port=1,dl_vlan=20,dl_src=${A},dl_dst=${BCAST}`).actions).toBe('100,2,pop_vlan,4,push_vlan(vid=20,pcp=0),5');
    // no pop: only the VID and CFI bits are matched
    const t30 = trace(br, `in_port=1,dl_vlan=30,dl_vlan_pcp=5,dl_src=${A},dl_dst=${BCAST}`);
    expect(t30.actions).toBe('100,4,5');
    expect(t30.megaflow).toBe(`recirc_id=0,eth,in_port=1,dl_vlan=30,dl_src=${A},dl_dst=${BCAST},dl_type=0x0000`);
  });

  it('drops VIDs the input port does not carry', () => {
    const br = bridge(ports);
    const a = trace(br, `in_port=3,dl_vlan=10,dl_src=${A},dl_dst=${BCAST}`);
    expect(a.text).toContain('>>>> dropping VLAN 10 tagged packet received on port p3 configured as VLAN 10 access port <<<<');
    expect(a.text).toContain('>> disallowed VLAN VID for this input port, dropping');
    expect(a.actions).toBe('drop');
    expect(trace(br, `in_port=2,dl_vlan=30,dl_src=${A},dl_dst=${BCAST}`).text)
      .toContain('>>>> dropping VLAN 30 packet received on port p2 not configured for trunking VLAN 30 <<<<');
    expect(trace(br, `in_port=2,dl_src=${A},dl_dst=${BCAST}`).actions).toBe('drop');
  });

  it('learns per VLAN: the same MAC in two VLANs are two entries', () => {
    const br = bridge(ports);
    const { dp, sent } = datapath(br);
    dp.receive(3, udp(A, BCAST), 1);          // A in VLAN 10 on p3
    dp.receive(4, udp(A, BCAST), 2);          // A in VLAN 20 on p4
    expect(br.mac.lookup(0x0a, 10)).toBe(3);
    expect(br.mac.lookup(0x0a, 20)).toBe(4);
    clear(sent);
    dp.receive(1, udp(B, A, 20), 3);          // tagged 20 from the trunk → untagged out of p4
    expect(receivers(sent)).toEqual([4]);
    expect(sent.get(4)![0]).toBe(toHex(udp(B, A)));
  });
});
