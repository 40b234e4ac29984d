/**
 * learn() executed: the flow sdnemu's translation says a real packet makes
 * learn() install (XlateResult.learned) against the flow Open vSwitch 3.1
 * really installs when `ofproto/trace` is given the packet as a hex frame (a
 * trace with a packet has side effects in OVS). Compared as `ovs-ofctl
 * --no-stats dump-flows` lines of the learned table, and on the trace's
 * datapath actions. Forms: Neutron's MAC learning (br-tun table 10), OVN's
 * ct learning (delete_learned, immediate eth_type/nw_proto, load to a
 * register bit) and a plain idle-timeout learn.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Bridge } from '../../src/ofproto/bridge.js';
import { formatFlowLine, parseFlowsFile } from '../../src/ofproto/ofctl.js';
import { parseTracePacket, traceCommand } from '../../src/ofproto/trace.js';
import { xlate } from '../../src/ofproto/xlate.js';
import { describeWith, scapy } from '../oracle/tools.js';
import { OvsSandbox, parseTrace } from '../oracle/ovs.js';

interface LearnCase { name: string; flows: string; table: number; inPort: number; frame: string }

const CASES: LearnCase[] = [
  {
    name: 'Neutron br-tun MAC learning',
    flows: 'table=0,priority=1,in_port=2,actions=learn(table=20,hard_timeout=300,priority=1,cookie=0x9f1,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:OXM_OF_IN_PORT[]),output:1',
    table: 20, inPort: 2,
    frame: "Ether(src='fa:16:3e:00:00:07',dst='fa:16:3e:00:00:09')/Dot1Q(vlan=5)/IP(src='10.0.0.7',dst='10.0.0.9')/UDP(sport=5000,dport=53)",
  },
  {
    name: 'OVN-style learn with delete_learned and a register bit',
    flows: 'table=0,priority=100,in_port=1,tcp,actions=learn(table=69,delete_learned,cookie=0xabcd,eth_type=0x800,NXM_OF_IP_SRC[],ip_dst=172.16.0.1,nw_proto=6,NXM_OF_TCP_SRC[]=NXM_OF_TCP_DST[],load:0x1->NXM_NX_REG10[7]),output:2',
    table: 69, inPort: 1,
    frame: "Ether(src='00:00:00:00:00:01',dst='00:00:00:00:00:02')/IP(src='10.0.0.5',dst='172.16.0.1')/TCP(sport=33333,dport=80,flags='S')",
  },
  {
    name: 'plain MAC learning with idle timeout and send_flow_rem',
    flows: 'table=0,priority=5,actions=learn(table=5,priority=7,idle_timeout=60,send_flow_rem,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]),output:3',
    table: 5, inPort: 1,
    frame: "Ether(src='aa:bb:cc:00:00:01',dst='ff:ff:ff:ff:ff:ff')/ARP(psrc='10.0.0.1',pdst='10.0.0.2')",
  },
];

describeWith('ovs', 'learn() executed: sdnemu against Open vSwitch 3.1', () => {
  let sb: OvsSandbox;
  beforeAll(async () => { sb = await OvsSandbox.start(); }, 30_000);
  afterAll(async () => { await sb?.stop(); });

  for (const c of CASES) {
    it(c.name, async () => {
      const hex = scapy(`print(bytes(${c.frame}).hex())`).trim();
      await sb.vsctl('--if-exists', 'del-br', 'br0');
      await sb.addBridge('br0', [1, 2, 3].map((n) => ({ name: `p${n}`, ofport: n })));
      await sb.addFlows('br0', c.flows);
      const ovsTrace = parseTrace(await sb.trace('br0', `in_port=${c.inPort}`, { hex }));
      const ovsLearned = (await sb.ofctl('--no-stats', 'dump-flows', 'br0', `table=${c.table}`))
        .split('\n').filter((l) => l.startsWith(' ')).map((l) => l.trim());

      const br = new Bridge('br0');
      for (const n of [1, 2, 3]) br.addPort({ ofport: n, name: `p${n}`, type: 'dummy', options: {}, odp: n });
      br.addFlows(parseFlowsFile(c.flows));
      const r = xlate(br, parseTracePacket([`in_port=${c.inPort}`, hex]).flow, { packet: true });
      expect(r.learned.map((s) => formatFlowLine(s).trim())).toEqual(ovsLearned);
      expect(r.odpActions.join(',')).toBe(ovsTrace.datapathActions);
      expect(br.tables[c.table]!.size).toBe(0);   // returned, not installed
      const ours = parseTrace(traceCommand({ flows: c.flows, ports: 'p1 1\np2 2\np3 3\n', packet: [`in_port=${c.inPort}`, hex] }));
      expect(ours.steps.flatMap((s) => s.actions)).toEqual(ovsTrace.steps.flatMap((s) => s.actions));
    });
  }
});
