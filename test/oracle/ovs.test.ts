/**
 * The Open vSwitch oracle itself (ovs.ts): a private userspace OVS starts and stops cleanly,
 * and its traces say what BEHAVIOUR.md (Open vSwitch) records. These are the lines issue 3's
 * emulator must reproduce; if OVS ever disagrees with BEHAVIOUR.md, these tests say where.
 * The parser tests at the bottom run on stored text and need no OVS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { describeWith } from './tools.js';
import {
  OvsCommandError, OvsSandbox, normaliseDumpFlowsLine, normaliseRecircIds, parseTrace, sandboxProcesses,
} from './ovs.js';

const BR0_MAC = 'aa:55:aa:55:00:00';
const REMOTE_MAC = 'aa:55:aa:66:00:00';

describeWith('ovs', 'OvsSandbox against Open vSwitch 3.1 (userspace, dummy datapath)', () => {
  let ovs: OvsSandbox;

  beforeAll(async () => {
    ovs = await OvsSandbox.start();
    const t0 = performance.now();
    await ovs.addBridge('br0', [
      { name: 'p1', ofport: 1 },
      { name: 'p2', ofport: 2 },
      { name: 'vx1', ofport: 10, type: 'vxlan', options: { remote_ip: '192.168.1.2', key: 'flow' } },
    ], { hwaddr: BR0_MAC });
    // The underlay, as the issue's `--ports` lines @ip / @route / @neigh configure it.
    await ovs.ip4addr('br0', '192.168.1.1/24');
    await ovs.routeAdd('192.168.1.0/24', 'br0');
    await ovs.neighSet('br0', '192.168.1.2', REMOTE_MAC);
    console.info(`[ovs] sandbox ${ovs.dir}: daemons up in ${ovs.startupMs.toFixed(0)} ms, `
      + `bridge + underlay in ${(performance.now() - t0).toFixed(0)} ms`);
  });

  afterAll(async () => {
    await ovs?.stop();
  });

  /** Replace br0's flows (and groups) with 'text'. */
  async function flows(text: string, protocols?: string): Promise<void> {
    await ovs.delFlows('br0', undefined, protocols ? { protocols } : undefined);
    await ovs.addFlows('br0', text, protocols ? { protocols } : undefined);
  }

  it('numbers datapath ports as BEHAVIOUR.md item 5 says (dpif/show)', async () => {
    const ports = await ovs.dpifShow();
    expect(ports.map((p) => [p.name, p.ofport, p.odpPort])).toEqual([
      ['br0', 65534, 100],
      ['p1', 1, 1],
      ['p2', 2, 2],
      ['vx1', 10, 4789],
    ]);
    expect(ports[3]!.detail).toBe('vxlan: key=flow, remote_ip=192.168.1.2');
  });

  it('dump-flows lines without the volatile fields', async () => {
    await flows(`
# a comment line
table=0,priority=100,ip,nw_dst=10.0.0.0/24,actions=mod_dl_dst:aa:bb:cc:dd:ee:ff,dec_ttl,output:2
table=1,cookie=0x5,priority=7,idle_timeout=30,tcp,tp_dst=80,actions=drop
`);
    expect(await ovs.dumpFlows('br0')).toEqual([
      'cookie=0x0, table=0, priority=100,ip,nw_dst=10.0.0.0/24 actions=mod_dl_dst:aa:bb:cc:dd:ee:ff,dec_ttl,output:2',
      'cookie=0x5, table=1, idle_timeout=30, priority=7,tcp,tp_dst=80 actions=drop',
    ]);
    expect(normaliseDumpFlowsLine(
      ' cookie=0x0, duration=0.012s, table=0, n_packets=3, n_bytes=180, idle_age=0, hard_age=1, priority=10,in_port=2 actions=output:10',
    )).toBe('cookie=0x0, table=0, priority=10,in_port=2 actions=output:10');
  });

  it('ORACLES.md example: rewrite + dec_ttl + output (the nw_proto=0 quirk of item 6)', async () => {
    await flows('table=0,priority=100,ip,nw_dst=10.0.0.0/24,actions=mod_dl_dst:aa:bb:cc:dd:ee:ff,dec_ttl,output:2');
    const t = parseTrace(await ovs.trace('br0', 'in_port=1,ip,nw_src=1.1.1.1,nw_dst=10.0.0.5,nw_ttl=64'));
    expect(t.translations).toHaveLength(1);
    expect(t.tables).toEqual([expect.objectContaining({
      bridge: 'br0', table: 0, depth: 0, match: 'ip,nw_dst=10.0.0.0/24', priority: 100,
      actions: ['mod_dl_dst:aa:bb:cc:dd:ee:ff', 'dec_ttl', 'output:2'],
    })]);
    // set_field un-wildcards the field it writes; dec_ttl un-wildcards nw_ttl (item 4).
    expect(t.megaflow).toBe('recirc_id=0,eth,ip,in_port=1,dl_dst=00:00:00:00:00:00,nw_dst=10.0.0.0/24,nw_proto=0,nw_ttl=64,nw_frag=no');
    // nw_proto=0: no set(ipv4(ttl=63)) although the final flow has nw_ttl=63 (item 6 quirk).
    expect(t.datapathActions).toBe('set(eth(dst=aa:bb:cc:dd:ee:ff)),2');
    expect(t.finalFlow).toContain('nw_ttl=63');

    const u = parseTrace(await ovs.trace('br0', 'in_port=1,udp,nw_src=1.1.1.1,nw_dst=10.0.0.5,nw_ttl=64'));
    expect(u.datapathActions).toBe('set(eth(dst=aa:bb:cc:dd:ee:ff)),set(ipv4(ttl=63)),2');
    expect(u.megaflow).toBe('recirc_id=0,eth,udp,in_port=1,dl_dst=00:00:00:00:00:00,nw_dst=10.0.0.0/24,nw_ttl=64,nw_frag=no');
  });

  it('table miss: recirc_id, eth, in_port, the ethertype and nw_frag stay un-wildcarded (item 2)', async () => {
    await flows('table=0,priority=100,ip,nw_dst=10.0.0.0/24,actions=output:2');
    const t = parseTrace(await ovs.trace('br0', 'in_port=2,ip,nw_src=1.1.1.1,nw_dst=20.0.0.5'));
    expect(t.tables).toEqual([expect.objectContaining({ table: 0, matched: false, rule: 'No match.', actions: ['drop'] })]);
    // The nw_dst prefix tree un-wildcards only the bits that rule out 10.0.0.0/24 (item 3).
    expect(t.megaflow).toBe('recirc_id=0,eth,ip,in_port=2,nw_dst=16.0.0.0/4,nw_frag=no');
    expect(t.datapathActions).toBe('drop');
    expect(t.finalFlow).toBe('unchanged');
  });

  it('resubmit nests a table; the trace parser keeps each action with its table', async () => {
    await flows(`
table=0,priority=90,in_port=2,ip,actions=resubmit(,2),output:1
table=2,priority=5,ip,nw_src=1.1.1.1,actions=mod_nw_tos:32
`);
    const t = parseTrace(await ovs.trace('br0', 'in_port=2,ip,nw_src=1.1.1.1,nw_dst=20.0.0.5'));
    expect(t.tables.map((s) => [s.table, s.depth, s.match, s.actions])).toEqual([
      [0, 0, 'ip,in_port=2', ['resubmit(,2)', 'output:1']],
      [2, 1, 'ip,nw_src=1.1.1.1', ['mod_nw_tos:32']],
    ]);
    // mod_nw_tos un-wildcards only the DSCP bits, printed nw_tos=0 (item 4); nw_proto=0 → no set();
    // and (not in BEHAVIOUR.md) the legacy mod_nw_tos un-wildcards nw_proto: see the next test.
    expect(t.megaflow).toBe('recirc_id=0,eth,ip,in_port=2,nw_src=1.1.1.1,nw_proto=0,nw_tos=0,nw_frag=no');
    expect(t.datapathActions).toBe('1');
  });

  it('not in BEHAVIOUR.md: OF1.0 IPv4 rewrites un-wildcard nw_proto, an OF1.3 set_field does not', async () => {
    // OF1.0 mod_nw_tos / mod_nw_src / dec_ttl (also set_field:…->ip_dscp sent as OF1.0, which
    // ovs-ofctl encodes as mod_nw_tos) put nw_proto into the megaflow, even when nothing changes.
    const cases: [string, string | undefined, string, string, string][] = [
      ['mod_nw_tos:32', undefined, 'udp,nw_tos=0', 'recirc_id=0,eth,udp,in_port=2,nw_tos=0,nw_frag=no', 'set(ipv4(tos=0x20/0xfc)),1'],
      ['mod_nw_tos:32', undefined, 'udp,nw_tos=32', 'recirc_id=0,eth,udp,in_port=2,nw_tos=32,nw_frag=no', '1'],
      ['mod_nw_src:2.2.2.2', undefined, 'ip,nw_src=1.1.1.1', 'recirc_id=0,eth,ip,in_port=2,nw_src=1.1.1.1,nw_proto=0,nw_frag=no', '1'],
      ['dec_ttl', undefined, 'udp,nw_ttl=5', 'recirc_id=0,eth,udp,in_port=2,nw_ttl=5,nw_frag=no', 'set(ipv4(ttl=4)),1'],
      ['set_field:8->ip_dscp', undefined, 'ip,nw_tos=0', 'recirc_id=0,eth,ip,in_port=2,nw_proto=0,nw_tos=0,nw_frag=no', '1'],
      ['set_field:8->ip_dscp', 'OpenFlow13', 'udp,nw_tos=0', 'recirc_id=0,eth,ip,in_port=2,nw_tos=0,nw_frag=no', 'set(ipv4(tos=0x20/0xfc)),1'],
      ['set_field:8->ip_dscp', 'OpenFlow13', 'ip,nw_tos=0', 'recirc_id=0,eth,ip,in_port=2,nw_tos=0,nw_frag=no', '1'],
    ];
    const got: string[][] = [];
    for (const [action, protocols, pkt] of cases) {
      await flows(`in_port=2,ip,actions=${action},output:1`, protocols);
      const t = parseTrace(await ovs.trace('br0', `in_port=2,${pkt}`));
      got.push([action, String(protocols), pkt, t.megaflow, t.datapathActions]);
    }
    expect(got).toEqual(cases.map(([a, p, k, m, d]) => [a, String(p), k, m, d]));
  });

  describe('OpenFlow 1.3 table-miss semantics', () => {
    const OF13 = 'OpenFlow13';

    it('a miss with no table-miss flow drops, but the action set still executes (item 7)', async () => {
      await flows('table=0,priority=100,in_port=1,ip,actions=write_actions(output:2),goto_table:1', OF13);
      const t = parseTrace(await ovs.trace('br0', 'in_port=1,ip,nw_src=1.1.1.1,nw_dst=20.0.0.5'));
      expect(t.tables.map((s) => [s.kind, s.table, s.depth, s.matched, s.actions])).toEqual([
        ['table', 0, 0, true, ['write_actions(output:2)', '-> action set is: output:2', 'goto_table:1']],
        ['table', 1, 1, false, ['drop']],
        ['action-set', -1, 0, false, ['output:2']],
      ]);
      expect(t.megaflow).toBe('recirc_id=0,eth,ip,in_port=1,nw_frag=no');
      expect(t.datapathActions).toBe('2');
      expect(await ovs.dumpFlows('br0', { protocols: OF13 })).toEqual([
        'cookie=0x0, table=0, priority=100,ip,in_port=1 actions=write_actions(output:2),goto_table:1',
      ]);
    });

    it('a table-miss flow sending to the controller gives reason=6 (item 7)', async () => {
      await flows(`
table=0,priority=80,in_port=1,actions=goto_table:3
table=3,priority=0,actions=CONTROLLER:65535
`, OF13);
      const t = parseTrace(await ovs.trace('br0', 'in_port=1,ip,nw_src=1.1.1.2,nw_dst=20.0.0.5'));
      expect(t.tables.map((s) => [s.table, s.match, s.priority])).toEqual([[0, 'in_port=1', 80], [3, '', 0]]);
      expect(t.megaflow).toBe('recirc_id=0,eth,ip,in_port=1,nw_frag=no');
      // recirc_id inside controller() comes from the daemon's running counter: normalise.
      expect(normaliseRecircIds(t.datapathActions)).toBe(
        'userspace(pid=0,controller(reason=6,dont_send=1,continuation=0,recirc_id=1,rule_cookie=0,controller_id=0,max_len=65535))');
    });
  });

  describe('ct(table=1): a recirculation gives a second translation (item 9)', () => {
    const CT_FLOWS = `
table=0,priority=50,tcp,actions=ct(table=1,zone=5)
table=1,priority=10,ct_state=+new+trk,tcp,actions=ct(commit,zone=5),output:2
table=1,priority=10,ct_state=+est+trk,tcp,actions=IN_PORT
`;

    it('default --ct-next is trk|new', async () => {
      await flows(CT_FLOWS);
      const text = await ovs.trace('br0', 'in_port=1,tcp,nw_src=1.1.1.1,nw_dst=20.0.0.5,tp_dst=80');
      const t = parseTrace(text);
      expect(t.translations).toHaveLength(2);
      const [first, second] = t.translations as [typeof t, typeof t];
      const rid = second.recircId;
      expect(rid).toBeGreaterThan(0);
      expect(first.megaflow).toBe('recirc_id=0,eth,tcp,in_port=1,nw_frag=no');
      expect(first.datapathActions).toBe(`ct(zone=5),recirc(0x${rid.toString(16)})`);
      expect(first.tables[0]!.actions).toContain('ct(table=1,zone=5)');
      expect(second.header).toMatch(/^recirc\(0x[0-9a-f]+\) - resume conntrack with default ct_state=trk\|new/);
      expect(second.flow).toMatch(new RegExp(`^recirc_id=0x${rid.toString(16)},ct_state=new\\|trk,ct_zone=5,eth,tcp,in_port=1,`));
      expect(second.notes).toEqual(['thaw', 'Resuming from table 1']);
      expect(second.tables.map((s) => [s.table, s.match])).toEqual([[1, 'ct_state=+new+trk,tcp']]);
      expect(second.megaflow).toBe(`recirc_id=0x${rid.toString(16)},ct_state=+new+trk,eth,tcp,in_port=1,nw_frag=no`);
      expect(second.datapathActions).toBe('ct(commit,zone=5),2');
      // The same lines, independent of how many recirculations this daemon has allocated before.
      const n = parseTrace(normaliseRecircIds(text));
      expect(n.translations.map((x) => [x.megaflow, x.datapathActions])).toEqual([
        ['recirc_id=0,eth,tcp,in_port=1,nw_frag=no', 'ct(zone=5),recirc(0x1)'],
        ['recirc_id=0x1,ct_state=+new+trk,eth,tcp,in_port=1,nw_frag=no', 'ct(commit,zone=5),2'],
      ]);
    });

    it('--ct-next trk,est (comma-separated) reaches the +est rule; the mask shows every bit examined', async () => {
      // (IN_PORT: a plain output:1 to the ingress port would be dropped silently, item 7)
      await flows(CT_FLOWS);
      const t = parseTrace(normaliseRecircIds(
        await ovs.trace('br0', 'in_port=1,tcp,nw_src=1.1.1.1,nw_dst=20.0.0.5,tp_dst=80', { ctNext: 'trk,est' })));
      expect(t.translations.map((x) => [x.megaflow, x.datapathActions])).toEqual([
        ['recirc_id=0,eth,tcp,in_port=1,nw_frag=no', 'ct(zone=5),recirc(0x1)'],
        ['recirc_id=0x1,ct_state=-new+est+trk,eth,tcp,in_port=1,nw_frag=no', '1'],
      ]);
      expect(t.translations[1]!.flow).toContain('ct_state=est|trk');
      // '|' is what the Flow: line prints, but --ct-next refuses it.
      const err = await ovs.trace('br0', 'in_port=1,tcp', { ctNext: 'trk|est' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OvsCommandError);
      expect((err as OvsCommandError).stderr).toContain('unknown connection tracking state flag');
    });
  });

  describe('VXLAN (item 8)', () => {
    it('output to the VXLAN port is tnl_push, then br0 again with in_port=LOCAL', async () => {
      await flows(`
table=0,priority=10,in_port=2,actions=set_field:0x64->tun_id,output:10
table=0,priority=5,in_port=LOCAL,actions=output:1
`);
      const t = parseTrace(await ovs.trace('br0', 'in_port=2,udp,nw_src=1.1.1.1,nw_dst=20.0.0.5'));
      expect(t.tables.map((s) => [s.bridge, s.table, s.match])).toEqual([['br0', 0, 'in_port=2'], ['br0', 0, 'in_port=LOCAL']]);
      expect(t.tables[0]!.actions).toContain('-> tunneling to 192.168.1.2 via br0');
      // output to a tunnel un-wildcards nw_ecn (item 4)
      // nothing consulted nw_proto, so the keyword stays ip for this UDP packet (item 2)
      expect(t.megaflow).toBe('recirc_id=0,eth,ip,in_port=2,nw_ecn=0,nw_frag=no');
      expect(t.datapathActions).toBe(
        `tnl_push(tnl_port(4789),header(size=50,type=4,eth(dst=${REMOTE_MAC},src=${BR0_MAC},dl_type=0x0800),`
        + 'ipv4(src=192.168.1.1,dst=192.168.1.2,proto=17,tos=0,ttl=64,frag=0x4000),udp(src=0,dst=4789,csum=0x0),'
        + 'vxlan(flags=0x8000000,vni=0x64)),out_port(100)),1');
    });

    it('without an underlay output the whole tnl_push disappears', async () => {
      await flows('table=0,priority=10,in_port=2,actions=set_field:0x64->tun_id,output:10');
      const t = parseTrace(await ovs.trace('br0', 'in_port=2,udp,nw_src=1.1.1.1,nw_dst=20.0.0.5'));
      expect(t.tables.map((s) => [s.table, s.matched])).toEqual([[0, true], [0, false]]);
      expect(t.datapathActions).toBe('drop');
    });

    it('decap side: the megaflow prints the tunnel fields (item 1)', async () => {
      await flows('table=0,priority=10,in_port=10,tun_id=0x64,actions=output:1');
      const t = parseTrace(await ovs.trace('br0',
        'in_port=10,tun_id=0x64,tun_src=192.168.1.2,tun_dst=192.168.1.1,ip,nw_src=1.1.1.1,nw_dst=20.0.0.5'));
      expect(t.megaflow).toBe(
        'recirc_id=0,eth,ip,tun_id=0x64,tun_src=192.168.1.2,tun_dst=192.168.1.1,tun_tos=0,tun_flags=-df-csum-key,in_port=10,nw_frag=no');
      expect(t.datapathActions).toBe('1');
    });
  });

  it('traces a hex frame (flow supplies in_port only)', async () => {
    await flows('priority=60,in_port=1,udp,actions=mod_tp_dst:8080,output:2');
    // Ether 00:..:01 → 00:..:02, IPv4 10.0.0.1 → 10.0.0.2 ttl 64, UDP 53 → 1234, "abcdefg\n"
    const hex = '000000000002000000000001080045000023000000004011'
      + '7b8b0a0000010a000002003504d2000f0000616263646566670a';
    const t = parseTrace(await ovs.trace('br0', 'in_port=1', { hex }));
    expect(t.flow).toBe('udp,in_port=1,vlan_tci=0x0000,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,'
      + 'nw_src=10.0.0.1,nw_dst=10.0.0.2,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no,tp_src=53,tp_dst=1234');
    expect(t.megaflow).toBe('recirc_id=0,eth,udp,in_port=1,nw_frag=no,tp_dst=1234');
    expect(t.datapathActions).toBe('set(udp(dst=8080)),2');
  });

  it('groups: select gives hash(sym_l4(0)),recirc (item 10); all skips in_port', async () => {
    await ovs.delGroups('br0');
    await ovs.addGroups('br0', `
group_id=1,type=all,bucket=output:1,bucket=output:2
group_id=2,type=select,bucket=output:1,bucket=output:2
`);
    // dump-groups lists groups in hash order: compare as a set
    expect((await ovs.dumpGroups('br0')).sort()).toEqual([
      'group_id=1,type=all,bucket=bucket_id:0,actions=output:1,bucket=bucket_id:1,actions=output:2',
      'group_id=2,type=select,bucket=bucket_id:0,actions=output:1,bucket=bucket_id:1,actions=output:2',
    ]);
    await flows('priority=70,in_port=1,icmp,actions=group:1\npriority=70,in_port=2,icmp,actions=group:2');
    const all = parseTrace(await ovs.trace('br0', 'in_port=1,icmp,nw_src=1.1.1.1,nw_dst=2.2.2.2'));
    expect(all.datapathActions).toBe('2');
    const sel = parseTrace(normaliseRecircIds(await ovs.trace('br0', 'in_port=2,icmp,nw_src=1.1.1.1,nw_dst=2.2.2.2')));
    expect(sel.datapathActions).toBe('hash(sym_l4(0)),recirc(0x1)');
  });

  it('a bad flow is an OvsCommandError carrying ovs\u2019s own message', async () => {
    const err = await ovs.trace('br0', 'in_port=2,icmp,foo=1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OvsCommandError);
    expect((err as OvsCommandError).stderr).toContain('Bad openflow flow syntax: in_port=2,icmp,foo=1: unknown field foo');
    const bad = await ovs.addFlows('br0', 'priority=1,actions=bogus').catch((e: unknown) => e);
    expect((bad as OvsCommandError).stderr).toContain('unknown action bogus');
  });

  it('parallel sandboxes do not collide, and stop() leaves no process or file behind', async () => {
    const [a, b] = await Promise.all([OvsSandbox.start(), OvsSandbox.start()]);
    try {
      expect(a.dir).not.toBe(b.dir);
      // Same bridge and port names in both: separate databases, sockets and datapaths.
      await Promise.all([a, b].map((s) => s.addBridge('br0', [{ name: 'p1', ofport: 1 }, { name: 'p2', ofport: 2 }])));
      await a.addFlows('br0', 'priority=1,actions=output:2');
      await b.addFlows('br0', 'priority=1,actions=output:1');
      expect(parseTrace(await a.trace('br0', 'in_port=1,ip')).datapathActions).toBe('2');
      expect(parseTrace(await b.trace('br0', 'in_port=2,ip')).datapathActions).toBe('1');
      for (const s of [a, b]) {
        // the two daemons plus the watchdog shell
        const procs = sandboxProcesses(s.dir);
        expect(procs).toEqual(expect.arrayContaining([s.pids.ovsdbServer, s.pids.ovsVswitchd]));
        expect(procs).toHaveLength(3);
      }
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    for (const s of [a, b]) {
      expect(sandboxProcesses(s.dir)).toEqual([]);
      expect(existsSync(s.dir)).toBe(false);
    }
    await a.stop(); // idempotent
    await expect(a.trace('br0', 'in_port=1')).rejects.toThrow(/stopped/);
  });
});

// ---------------------------------------------------------------------------------------------
// Pure text helpers: run everywhere, OVS or not.

describe('parseTrace on stored ofproto/trace text', () => {
  // ovs-appctl ofproto/trace br0 in_port=1,tcp,nw_src=1.1.1.1,nw_dst=20.0.0.5,tp_dst=80 (OVS 3.1.0)
  const CT_TRACE = `Flow: tcp,in_port=1,vlan_tci=0x0000,dl_src=00:00:00:00:00:00,dl_dst=00:00:00:00:00:00,nw_src=1.1.1.1,nw_dst=20.0.0.5,nw_tos=0,nw_ecn=0,nw_ttl=0,nw_frag=no,tp_src=0,tp_dst=80,tcp_flags=0

bridge("br0")
-------------
 0. tcp, priority 50
    ct(table=1,zone=5)
    drop
     -> A clone of the packet is forked to recirculate. The forked pipeline will be resumed at table 1.
     -> Sets the packet to an untracked state, and clears all the conntrack fields.

Final flow: unchanged
Megaflow: recirc_id=0,eth,tcp,in_port=1,nw_dst=16.0.0.0/4,nw_frag=no
Datapath actions: ct(zone=5),recirc(0x3)

===============================================================================
recirc(0x3) - resume conntrack with default ct_state=trk|new (use --ct-next to customize)
===============================================================================

Flow: recirc_id=0x3,ct_state=new|trk,ct_zone=5,eth,tcp,in_port=1,vlan_tci=0x0000,dl_src=00:00:00:00:00:00,dl_dst=00:00:00:00:00:00,nw_src=1.1.1.1,nw_dst=20.0.0.5,nw_tos=0,nw_ecn=0,nw_ttl=0,nw_frag=no,tp_src=0,tp_dst=80,tcp_flags=0

bridge("br0")
-------------
    thaw
        Resuming from table 1
 1. ct_state=+new+trk,tcp, priority 10, cookie 0x2a
    ct(commit,zone=5)
    drop
     -> Sets the packet to an untracked state, and clears all the conntrack fields.
    output:2

Final flow: recirc_id=0x3,eth,tcp,in_port=1,vlan_tci=0x0000,dl_src=00:00:00:00:00:00,dl_dst=00:00:00:00:00:00,nw_src=1.1.1.1,nw_dst=20.0.0.5,nw_tos=0,nw_ecn=0,nw_ttl=0,nw_frag=no,tp_src=0,tp_dst=80,tcp_flags=0
Megaflow: recirc_id=0x3,ct_state=+new+trk,eth,tcp,in_port=1,nw_frag=no
Datapath actions: ct(commit,zone=5),2
`;

  it('splits recirculations into translations, each with its own Megaflow and Datapath actions', () => {
    const t = parseTrace(CT_TRACE);
    expect(t.translations.map((x) => [x.recircId, x.megaflow, x.datapathActions])).toEqual([
      [0, 'recirc_id=0,eth,tcp,in_port=1,nw_dst=16.0.0.0/4,nw_frag=no', 'ct(zone=5),recirc(0x3)'],
      [3, 'recirc_id=0x3,ct_state=+new+trk,eth,tcp,in_port=1,nw_frag=no', 'ct(commit,zone=5),2'],
    ]);
    expect(t.megaflow).toBe(t.translations[0]!.megaflow);
    expect(t.translations[0]!.finalFlow).toBe('unchanged');
    expect(t.translations[1]!.notes).toEqual(['thaw', 'Resuming from table 1']);
    expect(t.translations[1]!.tables).toEqual([{
      bridge: 'br0', kind: 'table', table: 1, depth: 0, rule: 'ct_state=+new+trk,tcp, priority 10, cookie 0x2a',
      matched: true, match: 'ct_state=+new+trk,tcp', priority: 10, cookie: '0x2a',
      actions: ['ct(commit,zone=5)', 'drop', '-> Sets the packet to an untracked state, and clears all the conntrack fields.', 'output:2'],
    }]);
  });

  it('normaliseRecircIds renumbers from 1 in order of appearance, hex and decimal alike', () => {
    const n = parseTrace(normaliseRecircIds(CT_TRACE));
    expect(n.translations.map((x) => x.datapathActions)).toEqual(['ct(zone=5),recirc(0x1)', 'ct(commit,zone=5),2']);
    expect(n.translations[1]!.megaflow.startsWith('recirc_id=0x1,')).toBe(true);
    expect(normaliseRecircIds('recirc_id=0,x,recirc(0x1f),controller(recirc_id=31),recirc(0x7)'))
      .toBe('recirc_id=0,x,recirc(0x1),controller(recirc_id=1),recirc(0x2)');
  });

  it('rejects text that is not a trace', () => {
    expect(() => parseTrace('')).toThrow(/empty/);
    expect(() => parseTrace('Flow: ip\n')).toThrow(/lacks/);
  });
});
