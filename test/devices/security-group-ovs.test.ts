/**
 * Security groups (src/devices/security-group.ts) on a real Open vSwitch 3.1 (userspace, dummy
 * datapath) against sdnemu's OvsBridge (src/devices/ovs-bridge.ts) loaded with the same text.
 *
 * The bridge is built the same way on both sides, one port at a time as the Neutron agent's
 * `ovs-vsctl add-port br-int tapX` does (no ofport_request): `ovs-vsctl add-br br-int`, then
 * tap1, tap2, tap3 (VMs with port security) and qr1 (a trusted router port). First checked: the
 * numbering OVS gives them (OpenFlow and datapath numbers, `dpif/show`) is OvsBridge's.
 * Then `SecurityGroups.compile()`'s text is added with `ovs-ofctl add-flows` (OVS must accept
 * every line) and, per packet of a list (allowed, denied, established reply, related-less
 * invalid, spoofed ARP and IP, remote-group members and non-members, DHCP, a trusted port),
 * `ovs-appctl ofproto/trace` is compared with OvsBridge.trace(), recirculation ids renumbered:
 *  - the number of translations (ct recirculations);
 *  - `Datapath actions:` of every translation, exactly, and the verdict (output or dropped),
 *    which must also be the one the case expects;
 *  - the table walk (tables and matched priorities).
 * Megaflows are tallied and printed, not required to agree.
 * Second part, packets instead of traces (explicitly_egress_direct on, so unicast never depends
 * on NORMAL's MAC learning, which sdnemu's xlate does not do): the same frames are injected with
 * `netdev-dummy/receive` and into the OvsBridge, one at a time; what each port sends (tx_pcap)
 * must be the same frames. Real conntrack decides the second packet of each exchange.
 * FAILS (does not skip) under CI=true when OVS is missing (describeWith).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Sim } from '../../src/sim/engine.js';
import { Port, type PortOwner } from '../../src/sim/link.js';
import { Link } from '../../src/sim/link.js';
import { OvsBridge } from '../../src/devices/ovs-bridge.js';
import { SecurityGroups, type SecurityGroup, type SgCompileOptions, type SgPort } from '../../src/devices/security-group.js';
import { FrameBuilder } from '../../src/wire/builder.js';
import { toHex } from '../../src/wire/bytes.js';
import { describeWith } from '../oracle/tools.js';
import { OvsSandbox, normaliseRecircIds, parseTrace, type ParsedTrace, type TraceTranslation } from '../oracle/ovs.js';

const BR = 'br-int';
const MAC = ['fa:16:3e:00:00:01', 'fa:16:3e:00:00:02', 'fa:16:3e:00:00:03', 'fa:16:3e:00:00:fe'] as const;
const IP = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.254'] as const;
const NAMES = ['tap1', 'tap2', 'tap3', 'qr1'] as const;

const GROUPS: SecurityGroup[] = [
  SecurityGroups.newGroup('client'),
  SecurityGroups.newGroup('web', [
    { direction: 'ingress', protocol: 'udp', portRangeMin: 5000, portRangeMax: 5000 },
    { direction: 'ingress', protocol: 'tcp', portRangeMin: 80, portRangeMax: 81 },
    { direction: 'ingress', protocol: 'icmp', remoteIpPrefix: '10.0.0.0/24' },
    { direction: 'ingress', protocol: 'udp', portRangeMin: 5432, portRangeMax: 5432, remoteGroupId: 'client' },
    { direction: 'ingress', protocol: 'tcp', portRangeMin: 1000, portRangeMax: 1999, remoteGroupId: 'client' },
    { direction: 'ingress', protocol: 'tcp', portRangeMin: 1500, portRangeMax: 2500, remoteGroupId: 'web' },
  ]),
];

/** The SG ports for the bridge's ports (tap1 client, tap2 and tap3 web, qr1 trusted). */
function sgPorts(br: OvsBridge): SgPort[] {
  return NAMES.map((n, i) => ({
    id: n, ofport: br.port(n).ofport, mac: MAC[i]!, fixedIps: [IP[i]!], network: 1,
    securityGroups: i === 0 ? ['client'] : i < 3 ? ['web'] : [], portSecurity: n !== 'qr1',
  }));
}

/** Frames sent by each port of an OvsBridge (not linked: the ports' taps record them). */
class Recorder implements PortOwner {
  readonly sink = true;
  readonly name = 'rec';
  receive(_p: Port, _f: Uint8Array): void { /* never linked to */ }
}

function emuBridge(opts: SgCompileOptions): { sim: Sim; br: OvsBridge; text: string; sent: Map<string, Uint8Array[]> } {
  const sim = new Sim({ seed: 1 });
  const br = new OvsBridge(sim, BR, { defaultFlows: 'none' });
  const sent = new Map<string, Uint8Array[]>();
  for (const n of NAMES) {
    const p = br.addPort(n);
    const list: Uint8Array[] = [];
    sent.set(n, list);
    p.tap((f, dir) => { if (dir === 'out') list.push(f.slice()); });
    // a link to nowhere so the port's sends are accepted (the peer records nothing)
    new Link(sim, p, new Port(new Recorder(), n));
  }
  const text = SecurityGroups.compile(sgPorts(br), GROUPS, opts);
  br.addFlows(text);
  return { sim, br, text, sent };
}

async function ovsBridge(sb: OvsSandbox, text: string, txPcap: boolean): Promise<void> {
  await sb.vsctl('add-br', BR, '--', 'set', 'bridge', BR, 'datapath_type=dummy', 'fail-mode=secure');
  for (const n of NAMES) {
    await sb.vsctl('add-port', BR, n, '--', 'set', 'Interface', n, 'type=dummy',
      ...(txPcap ? [`options:tx_pcap=${sb.txPcapPath(n)}`] : []));
  }
  await sb.setMaxIdle(600_000);
  await sb.addFlows(BR, text);
}

// ---- the trace cases ----------------------------------------------------------------------------------

const eth = (i: number, j: number): string => `dl_src=${MAC[i]},dl_dst=${MAC[j]}`;
const ip = (i: number, j: number): string => `nw_src=${IP[i]},nw_dst=${IP[j]}`;

interface TraceCase {
  name: string;
  flow: string;
  ctNext?: string[];
  /** the verdict the security groups must give: a packet output somewhere, or dropped */
  expect: 'output' | 'drop';
}

const TRACES: TraceCase[] = [
  { name: 'ARP request from tap1 with its own address (flooded by NORMAL)', expect: 'output',
    flow: `in_port=1,arp,dl_src=${MAC[0]},dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=${IP[0]},arp_tpa=${IP[1]},arp_op=1,arp_sha=${MAC[0]}` },
  { name: 'ARP from tap1 claiming another address (anti-spoofing)', expect: 'drop',
    flow: `in_port=1,arp,dl_src=${MAC[0]},dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=10.0.0.99,arp_tpa=${IP[1]},arp_op=1,arp_sha=${MAC[0]}` },
  { name: 'ARP from tap1 with another MAC (anti-spoofing)', expect: 'drop',
    flow: `in_port=1,arp,dl_src=fa:16:3e:99:99:99,dl_dst=ff:ff:ff:ff:ff:ff,arp_spa=${IP[0]},arp_tpa=${IP[1]},arp_op=1` },
  { name: 'ping tap1 → tap2, new: allowed by web\'s ICMP rule', expect: 'output',
    flow: `in_port=1,icmp,${eth(0, 1)},${ip(0, 1)},icmp_type=8,icmp_code=0` },
  { name: 'ping tap2 → tap1, new: client has no ingress rule', expect: 'drop',
    flow: `in_port=2,icmp,${eth(1, 0)},${ip(1, 0)},icmp_type=8,icmp_code=0` },
  { name: 'ping reply tap1 → tap2, established reply', expect: 'output', ctNext: ['trk,est,rpl'],
    flow: `in_port=1,icmp,${eth(0, 1)},${ip(0, 1)},icmp_type=0,icmp_code=0` },
  { name: 'UDP tap1 → tap2:5000, new: allowed', expect: 'output',
    flow: `in_port=1,udp,${eth(0, 1)},${ip(0, 1)},udp_src=40000,udp_dst=5000` },
  { name: 'UDP tap1 → tap2:5001, new: no rule', expect: 'drop',
    flow: `in_port=1,udp,${eth(0, 1)},${ip(0, 1)},udp_src=40000,udp_dst=5001` },
  { name: 'UDP reply tap2:5000 → tap1, established reply', expect: 'output', ctNext: ['trk,est,rpl'],
    flow: `in_port=2,udp,${eth(1, 0)},${ip(1, 0)},udp_src=5000,udp_dst=40000` },
  { name: 'UDP tap1 → tap2:5000, established (not a reply)', expect: 'output', ctNext: ['trk,est'],
    flow: `in_port=1,udp,${eth(0, 1)},${ip(0, 1)},udp_src=40000,udp_dst=5000` },
  { name: 'UDP tap1 → tap2:5432 from a member of the remote group client (conjunction)', expect: 'output',
    flow: `in_port=1,udp,${eth(0, 1)},${ip(0, 1)},udp_src=40000,udp_dst=5432` },
  { name: 'UDP tap3 → tap2:5432 from a non-member', expect: 'drop',
    flow: `in_port=3,udp,${eth(2, 1)},${ip(2, 1)},udp_src=40000,udp_dst=5432` },
  { name: 'TCP SYN tap1 → tap2:81 (range 80-81)', expect: 'output',
    flow: `in_port=1,tcp,${eth(0, 1)},${ip(0, 1)},tp_src=40000,tp_dst=81,tcp_flags=syn` },
  { name: 'TCP SYN tap1 → tap2:22', expect: 'drop',
    flow: `in_port=1,tcp,${eth(0, 1)},${ip(0, 1)},tp_src=40000,tp_dst=22,tcp_flags=syn` },
  { name: 'TCP tap1 → tap2:1700 (client range 1000-1999, merged with web 1500-2500)', expect: 'output',
    flow: `in_port=1,tcp,${eth(0, 1)},${ip(0, 1)},tp_src=40000,tp_dst=1700` },
  { name: 'TCP tap3 → tap2:1700 (web member, web range)', expect: 'output',
    flow: `in_port=3,tcp,${eth(2, 1)},${ip(2, 1)},tp_src=40000,tp_dst=1700` },
  { name: 'TCP tap3 → tap2:1200 (web member, client-only range)', expect: 'drop',
    flow: `in_port=3,tcp,${eth(2, 1)},${ip(2, 1)},tp_src=40000,tp_dst=1200` },
  { name: 'TCP tap1 → tap2:2200 (client member, web-only range)', expect: 'drop',
    flow: `in_port=1,tcp,${eth(0, 1)},${ip(0, 1)},tp_src=40000,tp_dst=2200` },
  { name: 'invalid (ct +inv) UDP tap1 → tap2:5000', expect: 'drop', ctNext: ['trk,inv'],
    flow: `in_port=1,udp,${eth(0, 1)},${ip(0, 1)},udp_src=40000,udp_dst=5000` },
  { name: 'IP from tap1 with a spoofed source address', expect: 'drop',
    flow: `in_port=1,udp,${eth(0, 1)},nw_src=10.0.0.99,nw_dst=${IP[1]},udp_src=40000,udp_dst=5000` },
  { name: 'IP from tap1 with a spoofed MAC', expect: 'drop',
    flow: `in_port=1,udp,dl_src=fa:16:3e:99:99:99,dl_dst=${MAC[1]},${ip(0, 1)},udp_src=40000,udp_dst=5000` },
  { name: 'DHCP discover from tap1 (0.0.0.0 → broadcast, no conntrack)', expect: 'output',
    flow: `in_port=1,udp,dl_src=${MAC[0]},dl_dst=ff:ff:ff:ff:ff:ff,nw_src=0.0.0.0,nw_dst=255.255.255.255,udp_src=68,udp_dst=67` },
  { name: 'DHCP offer from tap2 (a DHCP server on a VM is banned)', expect: 'drop',
    flow: `in_port=2,udp,${eth(1, 0)},${ip(1, 0)},udp_src=67,udp_dst=68` },
  { name: 'trusted router port qr1 → tap2:5000 (ingress rules of tap2 apply)', expect: 'output',
    flow: `in_port=4,udp,${eth(3, 1)},${ip(3, 1)},udp_src=40000,udp_dst=5000` },
  { name: 'trusted router port qr1 → tap2:5001', expect: 'drop',
    flow: `in_port=4,udp,${eth(3, 1)},${ip(3, 1)},udp_src=40000,udp_dst=5001` },
  { name: 'tap1 → the router qr1 (egress allowed, committed, NORMAL)', expect: 'output',
    flow: `in_port=1,icmp,${eth(0, 3)},${ip(0, 3)},icmp_type=8,icmp_code=0` },
];

/** The walk compared loosely: table numbers and matched priorities. */
function walk(t: TraceTranslation): string[] {
  return t.steps.map((s) => (s.kind === 'action-set' ? 'set' : `${s.table}:${s.matched ? s.priority : 'miss'}`));
}

/** output when the last translation's datapath actions send the packet to a port (a bare number in the list). */
function verdict(t: ParsedTrace): 'output' | 'drop' {
  const last = t.translations[t.translations.length - 1]!.datapathActions;
  return last.split(/,(?![^(]*\))/).some((a) => /^\d+$/.test(a)) ? 'output' : 'drop';
}

const tally = { traces: 0, translations: 0, datapath: 0, floodOrder: [] as string[], walk: 0, megaflow: 0, megaflowDiffs: [] as string[] };

/** The actions with the outputs of a trailing run of plain port numbers sorted (a flood, in any order). */
function floodAsSet(actions: string): string {
  const parts = actions.split(/,(?![^(]*\))/);
  let i = parts.length;
  while (i > 0 && /^\d+$/.test(parts[i - 1]!)) i--;
  return [...parts.slice(0, i), ...parts.slice(i).sort((a, b) => Number(a) - Number(b))].join(',');
}

/** True when translation 't' ends in an `actions=NORMAL` flow (table 94 or 60, priority 1). */
function endsInNormal(t: TraceTranslation): boolean {
  const s = t.steps[t.steps.length - 1];
  return s !== undefined && s.matched && (s.table === 94 || s.table === 60) && s.priority === 1;
}

describeWith('ovs', 'security groups: sdnemu against Open vSwitch 3.1', () => {
  let sb: OvsSandbox;
  let emu: ReturnType<typeof emuBridge>;

  beforeAll(async () => {
    sb = await OvsSandbox.start();
    emu = emuBridge({});
    await ovsBridge(sb, emu.text, false);
  }, 30_000);

  afterAll(async () => {
    await sb?.stop();
    console.log([
      `[security groups vs OVS] ${tally.traces} traces, ${tally.translations} translations`,
      `  Datapath actions agree: ${tally.datapath}/${tally.translations}`
        + ` (+${tally.floodOrder.length} NORMAL floods to the same ports in another order)`,
      ...tally.floodOrder.map((d) => `    ${d}`),
      `  table walk agrees:      ${tally.walk}/${tally.translations}`,
      `  Megaflow agrees:        ${tally.megaflow}/${tally.translations}`,
      ...tally.megaflowDiffs.map((d) => `    ${d}`),
    ].join('\n'));
  });

  it('numbers the ports as OVS does (OpenFlow and datapath numbers, LOCAL included)', async () => {
    const ovs = (await sb.dpifShow()).filter((p) => p.bridge === BR)
      .map((p) => `${p.name} ${p.ofport}/${p.odpPort}`).sort();
    const mine = [`${BR} 65534/${emu.br.br.ports.get(65534)!.odp}`, ...emu.br.ports.map((p) => `${p.name} ${p.ofport}/${p.odp}`)].sort();
    expect(mine).toEqual(ovs);
  });

  it('OVS accepts every compiled flow and holds as many as sdnemu', async () => {
    const lines = emu.text.trim().split('\n');
    const dumped = await sb.dumpFlows(BR);
    expect(dumped.length).toBe(lines.length);
    expect(emu.br.br.allRules().length).toBe(lines.length);
  });

  it('OVS accepts the flows of every kind of rule and port (IPv6, ICMP type/code, prefixes, address pairs, ethertypes)', async () => {
    const text = SecurityGroups.compile([
      { ofport: 1, mac: 'fa:16:3e:00:01:01', fixedIps: ['10.1.0.1', '2001:db8::1'], securityGroups: ['all'], network: 2,
        allowedAddressPairs: [{ ip: '10.1.0.0/28' }, { ip: '10.1.0.200', mac: 'fa:16:3e:00:01:99' }, { ip: '2001:db8::100' }] },
      { ofport: 2, mac: 'fa:16:3e:00:01:02', fixedIps: ['10.1.0.2'], securityGroups: ['all', 'peers'], network: 2 },
      { ofport: 3, mac: 'fa:16:3e:00:01:03', fixedIps: [], securityGroups: [], network: 3, portSecurity: false },
    ], [
      SecurityGroups.newGroup('all', [
        { direction: 'ingress', ethertype: 'IPv6', protocol: 'icmp', portRangeMin: 128, portRangeMax: 0 },
        { direction: 'ingress', ethertype: 'IPv6', protocol: 'tcp', portRangeMin: 22, portRangeMax: 22, remoteIpPrefix: '2001:db8::/32' },
        { direction: 'egress', protocol: 'udp', portRangeMin: 1, portRangeMax: 1023, remoteIpPrefix: '192.168.0.0/16' },
        { direction: 'ingress', protocol: 'icmp', portRangeMin: 3 },
        { direction: 'ingress', protocol: 'sctp', portRangeMin: 9000, portRangeMax: 9100 },
        { direction: 'ingress', protocol: 112 },
        { direction: 'egress', ethertype: 'IPv6', protocol: 'udp', remoteGroupId: 'peers' },
        { direction: 'ingress', ethertype: 'IPv6', remoteGroupId: 'all' },
      ]),
      { id: 'peers', rules: [{ direction: 'ingress', protocol: 'icmp', portRangeMin: 8, portRangeMax: 0, remoteGroupId: 'all' }], members: ['10.9.0.0/24', '2001:db8:9::5'] },
    ], { explicitlyEgressDirect: true, permittedEthertypes: [0x88cc] });
    await sb.vsctl('add-br', 'br-x', '--', 'set', 'bridge', 'br-x', 'datapath_type=dummy', 'fail-mode=secure');
    await sb.addFlows('br-x', text);
    expect((await sb.dumpFlows('br-x')).length).toBe(text.trim().split('\n').length);
    const mine = new OvsBridge(new Sim(), 'br-x', { flows: text });
    expect(mine.br.allRules().length).toBe(text.trim().split('\n').length);
  });

  it.each(TRACES.map((c): [string, TraceCase] => [c.name, c]))('%s', async (_n, c) => {
    const ovsText = await sb.trace(BR, c.flow, c.ctNext !== undefined ? { ctNext: c.ctNext } : {});
    const o = parseTrace(normaliseRecircIds(ovsText));
    const e = parseTrace(normaliseRecircIds(emu.br.trace(c.flow, c.ctNext !== undefined ? { ctNext: c.ctNext } : {})));
    tally.traces++;
    tally.translations += o.translations.length;
    expect(e.translations.length).toBe(o.translations.length);
    o.translations.forEach((ot, j) => {
      const et = e.translations[j]!;
      if (et.datapathActions === ot.datapathActions) tally.datapath++;
      else if (endsInNormal(ot)) tally.floodOrder.push(`${c.name}: ovs ${ot.datapathActions}, sdnemu ${et.datapathActions}`);
      if (JSON.stringify(walk(et)) === JSON.stringify(walk(ot))) tally.walk++;
      if (et.megaflow === ot.megaflow) tally.megaflow++;
      else tally.megaflowDiffs.push(`${c.name} #${j + 1}\n      ovs:    ${ot.megaflow}\n      sdnemu: ${et.megaflow}`);
      // NORMAL floods in a different order (OVS: port creation order, LOCAL first; sdnemu's xlate: OpenFlow
      // port order): the same set of ports is required there, the exact list everywhere else
      const norm = (t: TraceTranslation, a: string): string => (endsInNormal(t) ? floodAsSet(a) : a);
      expect({ pass: j + 1, actions: norm(et, et.datapathActions), walk: walk(et) })
        .toEqual({ pass: j + 1, actions: norm(ot, ot.datapathActions), walk: walk(ot) });
    });
    expect(verdict(o)).toBe(c.expect);
    expect(verdict(e)).toBe(c.expect);
  });
});

// ---- packets --------------------------------------------------------------------------------------------

const fb = (i: number, j: number): FrameBuilder => new FrameBuilder().eth({ src: MAC[i], dst: MAC[j] });
function udpFrame(i: number, j: number, sport: number, dport: number, o: { src?: string } = {}): Uint8Array {
  return fb(i, j).ipv4({ src: o.src ?? IP[i], dst: IP[j], ident: 1 }).udp({ srcPort: sport, dstPort: dport }).payload('sdnemu').build();
}
function icmpFrame(i: number, j: number, type: number, seq: number): Uint8Array {
  return fb(i, j).ipv4({ src: IP[i], dst: IP[j], ident: 2 }).icmp({ type, code: 0, ident: 77, seq }).payload('abcdefgh').build();
}
function arpFrame(i: number, j: number, op: number, spa: string = IP[i]!): Uint8Array {
  const dst = op === 1 ? 'ff:ff:ff:ff:ff:ff' : MAC[j]!;
  return new FrameBuilder().eth({ src: MAC[i], dst }).arp({ op, sha: MAC[i], spa, tha: op === 1 ? '00:00:00:00:00:00' : MAC[j], tpa: IP[j] }).build();
}

/** [ingress port index, frame]: each exchange's second packet is decided by conntrack. */
const PACKETS: [number, Uint8Array][] = [
  [0, arpFrame(0, 1, 1)],                      // ARP request: flooded
  [1, arpFrame(1, 0, 2)],                      // ARP reply: direct (explicitly_egress_direct)
  [0, arpFrame(0, 1, 1, '10.0.0.99')],         // spoofed ARP: dropped
  [0, udpFrame(0, 1, 40000, 5000)],            // allowed → tap2
  [1, udpFrame(1, 0, 5000, 40000)],            // its reply → tap1 (established)
  [0, udpFrame(0, 1, 40000, 5001)],            // no rule: dropped
  [1, udpFrame(1, 0, 5001, 40000)],            // a "reply" nobody asked for: client has no ingress: dropped
  [1, icmpFrame(1, 0, 8, 1)],                  // ping to the client: dropped
  [0, icmpFrame(0, 1, 8, 1)],                  // ping to web: allowed
  [1, icmpFrame(1, 0, 0, 1)],                  // echo reply: established
  [0, udpFrame(0, 1, 40001, 5432)],            // remote group member → allowed
  [2, udpFrame(2, 1, 40001, 5432)],            // non-member → dropped
  [0, udpFrame(0, 1, 40002, 5000, { src: '10.0.0.99' })], // spoofed source: dropped
  [3, udpFrame(3, 1, 40003, 5000)],            // trusted router port → tap2 ingress rules: allowed
  [1, udpFrame(1, 3, 5000, 40003)],            // reply to the router: established
];

describeWith('ovs', 'security groups: the same frames through OVS and sdnemu (explicitly_egress_direct)', () => {
  it('every port sends the same frames', async () => {
    const sb = await OvsSandbox.start();
    try {
      const emu = emuBridge({ explicitlyEgressDirect: true });
      await ovsBridge(sb, emu.text, true);
      for (const [i, frame] of PACKETS) {
        await sb.receive(NAMES[i]!, toHex(frame));
        emu.br.receive(emu.br.port(NAMES[i]!), frame.slice());
        emu.sim.runFor(1e6);
      }
      for (const n of NAMES) {
        const ovsOut = (await sb.txFrames(n, { expect: emu.sent.get(n)!.length })).map((f) => toHex(f));
        const mine = emu.sent.get(n)!.map((f) => toHex(f));
        expect({ port: n, frames: mine }).toEqual({ port: n, frames: ovsOut });
      }
      // and the verdicts the security groups promise, on sdnemu's side
      const count = (n: string): number => emu.sent.get(n)!.length;
      expect(count('tap1')).toBe(3);   // ARP reply, UDP reply, echo reply (not the 5001 "reply", not the ping)
      expect(count('tap2')).toBe(5);   // ARP request, UDP 5000, ping, 5432 from tap1, 5000 from qr1
      expect(count('tap3')).toBe(1);   // the flooded ARP request only
      expect(count('qr1')).toBe(2);    // the flooded ARP request, the reply to the router
    } finally {
      await sb.stop();
    }
  }, 30_000);
});
