/**
 * `dpctl/dump-flows` differential test: sdnemu's megaflows printed by src/datapath/odp-flow.ts
 * against what a live Open vSwitch 3.1 (userspace, dummy datapath) installs for the same packets.
 *
 * Per case: a fresh OvsSandbox with the case's ports (every dummy port records what it sends,
 * txPcap) and flows; the case's frames (built by scapy) are injected with netdev-dummy/receive;
 * `dpctl/dump-flows` is read. sdnemu loads the same flows into a Bridge (loadBridge, as
 * `sdnemu ofproto-trace` does) and sends the same frames through its Datapath (caches,
 * upcalls, conntrack, tnl_pop), whose `dumpFlows()` prints each megaflow with formatDpFlowKey
 * and its actions. Both sides are sets of
 * `MATCH actions:ACTIONS` strings (recirculation ids renumbered in increasing order), compared
 * for equality. A case may declare `differs: REASON` for a disagreement that is known and not
 * the formatter's (then the two sets must really differ, so a stale declaration is noticed).
 * Also here: the OvsSandbox additions (receive, txFrames, dumpDpFlows, parseDpFlow, dpctlShow,
 * revalidatorWait, purgeDpFlows) exercised on the real thing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDpFlowKey, formatDpFlowLine, type DpFlowFormatOptions, type DpTunnelExtras } from '../../src/datapath/odp-flow.js';
import { loadBridge } from '../../src/ofproto/trace.js';
import { Datapath } from '../../src/datapath/datapath.js';
import type { Bridge } from '../../src/ofproto/bridge.js';
import { OvsSandbox, parseDpFlow, renumberDpRecircIds } from '../oracle/ovs.js';
import { describeWith, scapy, tools } from '../oracle/tools.js';
import { tunnelPorts } from './fixtures.js';

interface Packet {
  /** port name the frame arrives on */
  port: string;
  /** scapy expression of the frame */
  frame: string;
}

interface DpCase {
  name: string;
  flows: string;
  /** ports file text (src/ofproto/ports.ts format); default p1..p3 */
  ports?: string;
  of13?: boolean;
  packets: Packet[];
  /** a known disagreement, and why */
  differs?: string;
}

const DEFAULT_PORTS = 'p1 1\np2 2\np3 3\n';
const E = "Ether(src='00:00:00:00:00:01',dst='00:00:00:00:00:02')";
const TCP = `${E}/IP(src='10.0.0.1',dst='10.0.0.2')/TCP(sport=1234,dport=80,flags='S')`;
const UDP = `${E}/IP(src='10.0.0.1',dst='10.1.2.3',tos=0x21)/UDP(sport=1000,dport=53)`;
const VXLAN_FRAME = "Ether(src='aa:55:aa:66:00:00',dst='aa:55:aa:55:00:00')/IP(src='192.168.1.2',dst='192.168.1.1',ttl=64,tos=0x8)"
  + "/UDP(sport=50000,dport=4789)/VXLAN(vni=100)/Ether(src='00:00:00:00:00:01',dst='00:00:00:00:00:02')"
  + "/IP(src='1.1.1.1',dst='20.0.0.5')/ICMP()";

const CASES: DpCase[] = [
  { name: 'l2-forward', flows: 'priority=10,in_port=1,dl_dst=00:00:00:00:00:02,actions=output:2', packets: [{ port: 'p1', frame: TCP }] },
  { name: 'l2-mac-masked', flows: 'priority=10,dl_src=00:00:00:00:00:00/01:00:00:00:00:00,actions=output:2', packets: [{ port: 'p1', frame: TCP }] },
  {
    name: 'ip-prefixes',
    flows: 'priority=10,ip,nw_dst=10.0.0.0/24,actions=output:2\npriority=20,ip,nw_src=10.1.0.0/16,actions=output:3\npriority=5,ip,actions=drop',
    packets: [{ port: 'p1', frame: TCP }, { port: 'p1', frame: `${E}/IP(src='10.9.9.9',dst='192.168.0.1')/UDP()` }],
  },
  {
    name: 'tcp-udp-ports',
    flows: 'priority=10,tcp,tp_dst=80,actions=output:2\npriority=10,udp,tp_dst=0x0/0xffc0,actions=output:3\npriority=10,udp,tp_src=1000,actions=output:2',
    packets: [{ port: 'p1', frame: TCP }, { port: 'p1', frame: UDP }, { port: 'p1', frame: `${E}/IP()/UDP(sport=7,dport=9)` }],
  },
  { name: 'icmp', flows: 'priority=10,icmp,icmp_type=8,icmp_code=0,actions=output:2', packets: [{ port: 'p1', frame: `${E}/IP(src='10.0.0.1',dst='10.0.0.2')/ICMP(type=8)` }] },
  {
    name: 'arp',
    flows: 'priority=10,arp,arp_op=1,arp_tpa=10.0.0.2,actions=output:2\npriority=5,arp,actions=output:3',
    packets: [{ port: 'p1', frame: "Ether(src='00:00:00:00:00:01',dst='ff:ff:ff:ff:ff:ff')/ARP(op=1,hwsrc='00:00:00:00:00:01',psrc='10.0.0.1',pdst='10.0.0.2')" },
      { port: 'p1', frame: "Ether(src='00:00:00:00:00:01',dst='ff:ff:ff:ff:ff:ff')/ARP(op=2,hwsrc='00:00:00:00:00:01',psrc='10.0.0.1',pdst='10.0.0.9')" }],
  },
  {
    name: 'arp-sha',
    flows: 'priority=10,arp,arp_sha=00:00:00:00:00:01,actions=output:2',
    packets: [{ port: 'p1', frame: "Ether(src='00:00:00:00:00:01',dst='ff:ff:ff:ff:ff:ff')/ARP(op=1,hwsrc='00:00:00:00:00:01',psrc='10.0.0.1',pdst='10.0.0.2')" }],
  },
  {
    name: 'ipv6',
    flows: 'priority=10,ipv6,ipv6_dst=2001:db8::2,actions=output:2\npriority=10,udp6,tp_dst=53,actions=mod_nw_ttl:9,output:3',
    packets: [{ port: 'p1', frame: `${E}/IPv6(src='2001:db8::1',dst='2001:db8::2',fl=0x12345)/TCP(dport=22,flags='A')` },
      { port: 'p1', frame: `${E}/IPv6(src='2001:db8::1',dst='2001:db8::3')/UDP(dport=53)` }],
  },
  {
    name: 'icmpv6-nd',
    flows: 'priority=20,icmp6,icmp_type=135,nd_target=2001:db8::2,actions=output:2\npriority=10,icmp6,actions=output:3',
    packets: [{ port: 'p1', frame: "Ether(src='00:00:00:00:00:01',dst='33:33:ff:00:00:02')/IPv6(src='2001:db8::1',dst='ff02::1:ff00:2')/ICMPv6ND_NS(tgt='2001:db8::2')/ICMPv6NDOptSrcLLAddr(lladdr='00:00:00:00:00:01')" },
      { port: 'p1', frame: `${E}/IPv6(src='2001:db8::1',dst='2001:db8::2')/ICMPv6EchoRequest()` }],
  },
  {
    name: 'vlan-pop',
    flows: 'priority=10,dl_vlan=10,actions=strip_vlan,output:2',
    packets: [{ port: 'p1', frame: `${E}/Dot1Q(vlan=10,prio=3)/IP(src='10.0.0.1',dst='10.0.0.2')/UDP(sport=1,dport=2)` }],
  },
  {
    name: 'vlan-push',
    flows: 'priority=10,in_port=1,actions=mod_vlan_vid:20,output:2',
    packets: [{ port: 'p1', frame: TCP }],
  },
  {
    name: 'vlan-unmatched-tci',
    flows: 'priority=10,ip,nw_src=10.0.0.1,actions=output:2',
    packets: [{ port: 'p1', frame: `${E}/Dot1Q(vlan=7,prio=5)/IP(src='10.0.0.1',dst='10.0.0.2')/ICMP()` }],
  },
  { name: 'mod-nw-dst', flows: 'priority=10,udp,tp_dst=53,actions=mod_nw_dst:10.9.9.9,output:2', packets: [{ port: 'p1', frame: UDP }] },
  { name: 'dec-ttl', flows: 'priority=10,ip,nw_dst=10.0.0.0/24,actions=dec_ttl,output:2', packets: [{ port: 'p1', frame: TCP }] },
  { name: 'mod-tos-ecn', flows: 'priority=10,ip,actions=mod_nw_tos:32,mod_dl_src:00:00:00:00:00:99,output:2', packets: [{ port: 'p1', frame: UDP }] },
  { name: 'tcp-flags', flows: 'priority=10,tcp,tcp_flags=+syn-ack,actions=output:2\npriority=5,tcp,actions=output:3', packets: [{ port: 'p1', frame: TCP }] },
  {
    name: 'ct-table',
    flows: 'table=0,priority=10,tcp,actions=ct(table=1)\ntable=1,priority=10,ct_state=+new+trk,tcp,actions=ct(commit),output:2\ntable=1,priority=5,ct_state=+est+trk,actions=output:3',
    packets: [{ port: 'p1', frame: TCP }],
  },
  {
    name: 'ct-zone-mark',
    flows: 'table=0,priority=10,ip,actions=ct(zone=5,table=1)\ntable=1,priority=10,ct_zone=5,ct_mark=0,ct_state=+trk,actions=output:2',
    packets: [{ port: 'p1', frame: UDP }],
  },
  {
    name: 'ct-state-masked-est',
    flows: 'table=0,priority=10,tcp,actions=ct(table=1)\ntable=1,priority=10,ct_state=-est+trk,ct_mark=0x5/0xf,actions=output:2\ntable=1,priority=5,actions=drop',
    packets: [{ port: 'p1', frame: TCP }],
  },
  {
    name: 'ip-fragments',
    flows: 'priority=10,ip,ip_frag=later,actions=output:3\npriority=5,udp,tp_dst=53,actions=output:2',
    packets: [{ port: 'p1', frame: `${E}/IP(src='10.0.0.1',dst='10.0.0.2',flags='MF',frag=0)/UDP(dport=53)/Raw(b'x'*20)` },
      { port: 'p1', frame: `${E}/IP(src='10.0.0.1',dst='10.0.0.2',proto=17,frag=3)/Raw(b'y'*20)` }],
  },
  {
    name: 'llc-802.3',
    flows: 'priority=10,in_port=1,actions=output:2',
    packets: [{ port: 'p1', frame: `Dot3(src='00:00:00:00:00:01',dst='01:80:c2:00:00:00')/LLC(dsap=0x42,ssap=0x42,ctrl=3)/Raw(b'z'*40)` }],
  },
  {
    name: 'ipv6-label-tclass',
    flows: 'priority=10,ipv6,ipv6_label=0x12345,actions=mod_nw_tos:64,output:2',
    packets: [{ port: 'p1', frame: `${E}/IPv6(src='2001:db8::1',dst='2001:db8::2',fl=0x12345,tc=0x3)/UDP(dport=53)` }],
  },
  {
    name: 'mod-tos-ipv4-ecn-set',
    flows: 'priority=10,ip,actions=mod_nw_tos:64,output:2',
    packets: [{ port: 'p1', frame: `${E}/IP(src='10.0.0.1',dst='10.0.0.2',tos=0x3)/UDP(dport=53)` }],
  },
  { name: 'table-miss', flows: 'priority=10,tcp,tp_dst=443,actions=output:2', packets: [{ port: 'p1', frame: UDP }] },
  {
    name: 'vxlan-decap',
    ports: tunnelPorts(),
    flows: 'table=0,priority=10,in_port=2,actions=LOCAL\ntable=0,priority=10,in_port=10,tun_id=0x64,actions=output:1',
    packets: [{ port: 'p2', frame: VXLAN_FRAME }],
  },
];


/**
 * sdnemu's datapath flows for 'frames' on 'br': the frames go through a Datapath (caches,
 * upcalls, conntrack, tnl_pop) and its `dpctl/dump-flows` lines are cut to `MATCH actions:A`.
 */
function sdnemuFlows(br: Bridge, c: DpCase, frames: Uint8Array[]): string[] {
  const dp = new Datapath(br);
  const byName = new Map([...br.ports.values()].map((p) => [p.name, p.odp]));
  c.packets.forEach((p, i) => dp.receive(byName.get(p.port)!, frames[i]!.slice(), i + 1));
  const lines = dp.dumpFlows(c.packets.length + 1).map((l) => { const d = parseDpFlow(l); return `${d.key} actions:${d.actions}`; });
  return renumberDpRecircIds(lines).sort();
}

/** All frames of all cases, built by one scapy run (hex per line). */
function buildFrames(): Map<string, Uint8Array[]> {
  const exprs = CASES.flatMap((c) => c.packets.map((p) => p.frame));
  const code = `for e in [${exprs.join(',\n')}]:\n    print(bytes(e).hex())`;
  const hex = scapy(code).trim().split('\n');
  const m = new Map<string, Uint8Array[]>();
  let i = 0;
  for (const c of CASES) m.set(c.name, c.packets.map(() => Uint8Array.from(Buffer.from(hex[i++]!, 'hex'))));
  return m;
}

async function setUpOvs(c: DpCase): Promise<OvsSandbox> {
  const ovs = await OvsSandbox.start();
  await ovs.bridgeFromPortsFile(c.ports ?? DEFAULT_PORTS, c.flows, { of13: c.of13 ?? false });
  return ovs;
}

describeWith('ovs', 'dpctl/dump-flows: sdnemu megaflows printed like Open vSwitch 3.1', () => {
  let frames = new Map<string, Uint8Array[]>();
  const report: string[] = [];
  beforeAll(() => { if (tools.scapy) frames = buildFrames(); });
  afterAll(() => { if (report.length) console.log(`[dpctl/dump-flows corpus]\n${report.join('\n')}`); });

  it('the corpus has at least 15 cases and scapy to build its frames', () => {
    expect(tools.scapy).toBe(true);
    expect(CASES.length).toBeGreaterThanOrEqual(15);
  });

  for (const c of CASES) {
    it(`${c.name}: the datapath flows agree`, async () => {
      const fr = frames.get(c.name)!;
      const ovs = await setUpOvs(c);
      try {
        for (const f of fr.map((x, i) => ({ x, port: c.packets[i]!.port }))) {
          await ovs.receive(f.port, Buffer.from(f.x).toString('hex'));
        }
        const dumped = (await ovs.dumpDpFlows()).map(parseDpFlow);
        // the upcalled packet itself is not counted: a flow no later frame hit was never used
        for (const d of dumped) expect(d.packets === 0).toBe(d.used === 'never');
        expect(dumped.reduce((n, d) => n + d.packets, 0)).toBeLessThan(fr.length);
        const theirs = renumberDpRecircIds(dumped.map((d) => `${d.key} actions:${d.actions}`)).sort();
        const br = loadBridge({ flows: c.flows, ports: c.ports ?? DEFAULT_PORTS, ...(c.of13 ? { protocols: 'OpenFlow13' as const } : {}) });
        const ours = sdnemuFlows(br, c, fr);
        if (process.env.SDNEMU_DP_DEBUG) console.log(`${c.name}\n  ${theirs.join('\n  ')}`);
        if (c.differs !== undefined) {
          expect(ours, `case declares differs (${c.differs}) but agrees`).not.toEqual(theirs);
          report.push(`  ${c.name}: differs as declared — ${c.differs}\n    ovs:    ${theirs.join('\n            ')}\n    sdnemu: ${ours.join('\n            ')}`);
        } else {
          expect(ours.join('\n')).toEqual(theirs.join('\n'));
        }
      } finally {
        await ovs.stop();
      }
    });
  }
});

describeWith('ovs', 'OvsSandbox: packets through the dummy datapath', () => {
  let ovs: OvsSandbox;
  let frame: Uint8Array;
  const c: DpCase = CASES.find((x) => x.name === 'mod-nw-dst')!;
  beforeAll(async () => {
    frame = Uint8Array.from(Buffer.from(scapy(`sys.stdout.write(bytes(${TCP.replace("dst='10.0.0.2'", "dst='10.1.2.3'")}).hex())`), 'hex'));
    ovs = await setUpOvs({ ...c, flows: 'priority=10,tcp,actions=mod_nw_dst:10.9.9.9,output:2' });
  });
  afterAll(async () => { await ovs?.stop(); });

  it('receive → upcall → one megaflow; later hits count; txFrames has the rewritten frames', async () => {
    const before = await ovs.dpctlShow();
    expect(before.name).toBe('dummy@ovs-dummy');
    expect(before.flows).toBe(0);
    expect(before.ports.map((p) => `${p.odpPort}:${p.name}`)).toEqual(expect.arrayContaining(['1:p1', '2:p2', '100:br0']));
    const hex = Buffer.from(frame).toString('hex');
    await ovs.receive('p1', hex);
    await ovs.receive('p1', `${hex} ${hex}`);
    const sent = await ovs.txFrames('p2', { expect: 3 });
    expect(sent.length).toBe(3);
    // 10.9.9.9 at the IPv4 destination
    expect([...sent[0]!.subarray(30, 34)]).toEqual([10, 9, 9, 9]);
    expect(await ovs.txFrames('p1')).toEqual([]);
    const after = await ovs.dpctlShow();
    expect([after.hit, after.missed, after.lost, after.flows]).toEqual([before.hit + 2, before.missed + 1, 0, 1]);
    const lines = await ovs.dumpDpFlows();
    expect(lines.length).toBe(1);
    const d = parseDpFlow(lines[0]!);
    expect([d.packets, d.bytes, d.flags]).toEqual([2, 2 * frame.length, 'S']);
    expect(typeof d.used).toBe('number');
    // the whole line, as sdnemu's datapath prints it after the same three frames
    const br = loadBridge({ flows: 'priority=10,tcp,actions=mod_nw_dst:10.9.9.9,output:2', ports: DEFAULT_PORTS });
    const dp = new Datapath(br);
    for (let i = 0; i < 3; i++) dp.receive(1, frame.slice(), 1000);
    expect(dp.dumpFlows(1000 + (d.used as number) * 1000)).toEqual(lines);
    const verbose = await ovs.dumpDpFlows({ verbose: true });
    const v = parseDpFlow(verbose[0]!);
    expect(v.ufid).toMatch(/^[0-9a-f]{8}-/);
    expect(v.extra).toBe('dp:ovs');
    expect(v.actions).toBe('set(ipv4(dst=10.9.9.9)),p2');
  });

  it('revalidatorWait keeps a fresh flow; purgeDpFlows empties the datapath', async () => {
    await ovs.revalidatorWait();
    expect((await ovs.dumpDpFlows()).length).toBe(1);
    await ovs.purgeDpFlows();
    expect(await ovs.dumpDpFlows()).toEqual([]);
    expect((await ovs.dpctlShow()).flows).toBe(0);
  });
});

describe('parseDpFlow', () => {
  it('splits plain and -m lines', () => {
    const a = parseDpFlow('recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth_type(0x0800),ipv4(frag=no), packets:2, bytes:84, used:0.313s, flags:S., actions:set(ipv4(dst=10.9.9.9)),2');
    expect(a).toEqual({ ufid: null, key: 'recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth_type(0x0800),ipv4(frag=no)', packets: 2, bytes: 84, used: 0.313, flags: 'S.', extra: '', actions: 'set(ipv4(dst=10.9.9.9)),2' });
    const b = parseDpFlow('ufid:02d86cfd-b36c-48d9-bed8-caa1e80af9b3, skb_priority(0/0),recirc_id(0),in_port(p1), packets:0, bytes:0, used:never, dp:ovs, actions:drop, dp-extra-info:miniflow_bits(4,2)');
    expect(b).toMatchObject({ ufid: '02d86cfd-b36c-48d9-bed8-caa1e80af9b3', key: 'skb_priority(0/0),recirc_id(0),in_port(p1)', used: 'never', flags: null, extra: 'dp:ovs', actions: 'drop' });
    expect(() => parseDpFlow('flow-dump from the main thread:')).toThrow();
  });
});
