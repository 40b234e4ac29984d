/**
 * Translation unit tests: the lazy commit of header rewrites (odp.ts), the
 * action-set order, the bridge's flow-mod semantics, timeouts and counters,
 * translation results (megaflow, continuations, no side effects), and the
 * trace front end's parsing of PACKET… and its errors. The differential
 * comparison with Open vSwitch is trace-ovs.test.ts.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { commitHeaders } from '../../src/ofproto/odp.js';
import { maskSubfield, readSubfield, writeSubfield } from '../../src/ofproto/actions.js';
import { FIELDS, type FieldDef } from '../../src/flow/fields.js';
import { actionSetToList, xlate, xlateContinuation, CS_TRACKED, CS_ESTABLISHED } from '../../src/ofproto/xlate.js';
import { Bridge } from '../../src/ofproto/bridge.js';
import { parseActions, parseFlowsFile } from '../../src/ofproto/ofctl.js';
import { loadBridge, parseTracePacket, traceCommand, traceEvents, formatFlow } from '../../src/ofproto/trace.js';
import { formatMatch, parseMatch } from '../../src/flow/match.js';
import { FlowSyntaxError } from '../../src/flow/errors.js';
import {
  F_DL_SRC_LO, F_DL_TYPE, F_IN_PORT, F_NW_DST, F_NW_PROTO, F_NW_SRC, F_NW_TOS, F_NW_TTL, F_TP_DST, F_VLAN_TCI,
  FLOW_WORDS, F_CT_STATE, F_RECIRC_ID,
} from '../../src/flow/key.js';

function key(fields: [number, number][]): Uint32Array {
  const k = new Uint32Array(FLOW_WORDS);
  for (const [w, v] of fields) k[w] = v >>> 0;
  return k;
}

function bridgeWith(flows: string, ports = [1, 2, 3, 4]): Bridge {
  const br = new Bridge('br0');
  for (const p of ports) br.addPort({ ofport: p, name: `p${p}`, type: 'dummy', options: {}, odp: p });
  br.addFlows(parseFlowsFile(flows));
  return br;
}

describe('commitHeaders (lazy set() commits)', () => {
  const ip = (): Uint32Array => key([[F_DL_TYPE, 0x0800], [F_NW_PROTO, 6], [F_NW_SRC, 0x0a000001], [F_NW_DST, 0x0a000002], [F_NW_TTL, 64]]);

  it('emits one set per header with only the changed fields, then updates base', () => {
    const base = ip(), flow = ip(), wc = new Uint32Array(FLOW_WORDS).fill(0xffffffff), out: string[] = [];
    flow[F_NW_SRC] = 0x0a000009;
    flow[F_NW_TTL] = 63;
    flow[F_TP_DST] = 8080;
    flow[F_DL_SRC_LO] = 1;
    commitHeaders(flow, base, wc, out, [0x8100, 0x8100]);
    expect(out).toEqual(['set(eth(src=00:00:00:00:00:01))', 'set(ipv4(src=10.0.0.9,ttl=63))', 'set(tcp(dst=8080))']);
    expect(base).toEqual(flow);
    const again: string[] = [];
    commitHeaders(flow, base, wc, again, [0x8100, 0x8100]);
    expect(again).toEqual([]);
  });

  it('prints a partial mask as value/mask (tos=0x20/0xfc)', () => {
    const base = ip(), flow = ip(), wc = new Uint32Array(FLOW_WORDS), out: string[] = [];
    wc[F_NW_TOS] = 0xfc;
    flow[F_NW_TOS] = 0x20;
    commitHeaders(flow, base, wc, out, [0x8100, 0x8100]);
    expect(out).toEqual(['set(ipv4(tos=0x20/0xfc))']);
  });

  it('never sets ipv4 when nw_proto is 0 (the OVS quirk)', () => {
    const base = ip(), flow = ip(), wc = new Uint32Array(FLOW_WORDS).fill(0xffffffff), out: string[] = [];
    base[F_NW_PROTO] = flow[F_NW_PROTO] = 0;
    flow[F_NW_DST] = 1;
    commitHeaders(flow, base, wc, out, [0x8100, 0x8100]);
    expect(out).toEqual([]);
  });

  it('VLAN changes come after the sets: pop then push, TPID shown unless 0x8100', () => {
    const base = ip(), flow = ip(), wc = new Uint32Array(FLOW_WORDS).fill(0xffffffff), out: string[] = [];
    base[F_VLAN_TCI] = 0x1000 | 10;
    flow[F_VLAN_TCI] = 0x1000 | (3 << 13) | 20;
    flow[F_NW_TTL] = 1;
    commitHeaders(flow, base, wc, out, [0x88a8, 0x8100]);
    expect(out).toEqual(['set(ipv4(ttl=1))', 'pop_vlan', 'push_vlan(tpid=0x88a8,vid=20,pcp=3)']);
  });
});

describe('action sets (ofpacts_execute_action_set order)', () => {
  it('orders pop, push, dec_ttl, set/move, then one final action (group beats output)', () => {
    const list = actionSetToList(parseActions('output:2,mod_dl_dst:00:00:00:00:00:01,dec_ttl,group:1,push_vlan:0x8100,pop_vlan,output:3'));
    expect(list.map((a) => a.type)).toEqual(['pop_vlan', 'push_vlan', 'dec_ttl', 'mod_dl_dst', 'group']);
  });
  it('keeps only the last output and runs nothing without a final action', () => {
    expect(actionSetToList(parseActions('output:2,output:3')).map((a) => a.type === 'output' && a.port)).toEqual([3]);
    expect(actionSetToList(parseActions('mod_dl_dst:00:00:00:00:00:01'))).toEqual([]);
  });
});

describe('Bridge: flow mods, timeouts and counters on an injectable clock', () => {
  it('an identical match and priority replaces the rule; delete-flows is loose unless strict', () => {
    const br = bridgeWith('priority=10,ip,actions=output:1\npriority=10,ip,actions=output:2\npriority=5,tcp,actions=output:3');
    expect(br.tables[0]!.size).toBe(2);
    const r = xlate(br, key([[F_IN_PORT, 4], [F_DL_TYPE, 0x0800]]));
    expect(r.odpActions).toEqual(['2']);
    expect(br.deleteFlows(0, parseMatch('tcp'), true, 10)).toHaveLength(0);
    expect(br.deleteFlows(0, parseMatch('ip'))).toHaveLength(2); // tcp lies within ip
  });

  it('expires rules by idle and hard timeout (seconds) on the caller\'s clock', () => {
    const br = new Bridge();
    br.addFlows(parseFlowsFile('idle_timeout=10,priority=1,ip,actions=drop\nhard_timeout=30,priority=2,ip,actions=drop'), 1000);
    const [idle, hard] = [br.tables[0]!.rules().find((x) => x.spec.idleTimeout)!, br.tables[0]!.rules().find((x) => x.spec.hardTimeout)!];
    br.credit(idle, 3, 180, 9000);
    expect(idle.nPackets).toBe(3);
    expect(idle.nBytes).toBe(180);
    expect(br.expire(18999)).toEqual([]);
    expect(br.expire(19000)).toEqual([idle]);
    br.credit(hard, 1, 60, 30000);
    expect(br.expire(31000)).toEqual([hard]);
    expect(br.tables[0]!.size).toBe(0);
  });

  it('dump-flows shows duration, counters and idle age as ovs-ofctl does', () => {
    const br = new Bridge();
    br.addFlows(parseFlowsFile('table=1,priority=10,ip,actions=output:2\ncookie=0x5,idle_timeout=30,priority=20,tcp,actions=drop'), 1000);
    const [r] = br.tables[0]!.rules();
    br.credit(r!, 2, 120, 3500);
    expect(br.dumpFlows(5250)).toEqual([
      ' cookie=0x5, duration=4.250s, table=0, n_packets=2, n_bytes=120, idle_timeout=30, idle_age=1, priority=20,tcp actions=drop',
      ' cookie=0x0, duration=4.250s, table=1, n_packets=0, n_bytes=0, idle_age=4, priority=10,ip actions=output:2',
    ]);
  });

  it('a bad line in a flows file installs nothing', () => {
    const br = bridgeWith('priority=1,actions=output:1');
    expect(() => br.addFlows(parseFlowsFile('priority=2,actions=output:2\npriority=3,actions=frobnicate'))).toThrow(FlowSyntaxError);
    expect(br.tables[0]!.size).toBe(1);
  });
});

describe('xlate', () => {
  it('staged lookup: a UDP packet against tcp,tp_dst=80 does not un-wildcard tp_dst', () => {
    const br = bridgeWith('priority=10,tcp,tp_dst=80,actions=output:2\npriority=1,actions=output:3');
    const r = xlate(br, key([[F_IN_PORT, 1], [F_DL_TYPE, 0x0800], [F_NW_PROTO, 17], [F_TP_DST, 80]]));
    expect(r.odpActions).toEqual(['3']);
    expect(formatMatch(r.megaflow)).toBe('recirc_id=0,eth,udp,in_port=1,nw_frag=no');
  });

  it('ct(table=N) recirculates; the continuation resumes in table N with the datapath\'s ct_state', () => {
    const br = bridgeWith('table=0,priority=10,ip,actions=ct(zone=5,table=1)\ntable=1,priority=10,ct_state=+est+trk,ip,actions=output:2\ntable=1,priority=5,actions=drop');
    const r = xlate(br, key([[F_IN_PORT, 1], [F_DL_TYPE, 0x0800]]));
    expect(r.odpActions).toEqual(['ct(zone=5)', 'recirc(0x1)']);
    expect(r.continuations).toHaveLength(1);
    const c = xlateContinuation(br, r.continuations[0]!, CS_TRACKED | CS_ESTABLISHED);
    expect(c.odpActions).toEqual(['2']);
    expect(c.flow[F_RECIRC_ID]).toBe(1);
    expect(c.flow[F_CT_STATE]).toBe(CS_TRACKED | CS_ESTABLISHED);
    expect(formatMatch(c.megaflow)).toBe('recirc_id=0x1,ct_state=+est+trk,eth,ip,in_port=1,nw_frag=no');
  });

  it('has no side effects: learn() installs nothing, counters do not move', () => {
    const br = bridgeWith('priority=10,ip,actions=learn(table=5,priority=7,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]),output:2');
    const v = br.version;
    const r = xlate(br, key([[F_IN_PORT, 1], [F_DL_TYPE, 0x0800]]));
    expect(r.odpActions).toEqual(['2']);
    expect(br.version).toBe(v);
    expect(br.tables[5]!.size).toBe(0);
    expect(br.tables[0]!.rules()[0]!.nPackets).toBe(0);
    expect(formatMatch(r.megaflow)).toBe('recirc_id=0,eth,ip,in_port=1,dl_src=00:00:00:00:00:00,nw_frag=no');
  });

  it('stops at OVS\'s resubmit limits with an error and no actions', () => {
    const br = bridgeWith('table=0,actions=resubmit(,0)');
    const r = xlate(br, key([[F_IN_PORT, 1]]), { trace: true });
    expect(r.error).toBe('XLATE_RECURSION_TOO_DEEP');
    expect(r.odpActions).toEqual([]);
  });
});

describe('ofproto-trace PACKET… parsing', () => {
  it('takes the forms ofproto/trace takes', () => {
    expect(parseTracePacket(['in_port=1,tcp,nw_src=1.2.3.4,tcp_dst=80']).flow[F_TP_DST]).toBe(80);
    const p = parseTracePacket(['--ct-next', 'trk,est', '--ct-next', 'trk|new', 'in_port=1,ip']);
    expect(p.ctNext).toEqual([CS_TRACKED | CS_ESTABLISHED, CS_TRACKED | 1]);
    expect(parseTracePacket(['in_port=1']).flow[F_IN_PORT]).toBe(1);
    expect(parseTracePacket(['ip']).flow[F_IN_PORT]).toBe(0xffff);
  });

  it('re-extracts a hex frame, keeping the flow string\'s in_port', () => {
    // scapy: bytes(Ether(src='00:00:00:00:00:01',dst='00:00:00:00:00:02')/IP(src='10.0.0.1',dst='10.0.0.2',ttl=9)/UDP(sport=1,dport=53)).hex()
    const hex = '000000000002000000000001080045000026000100000911acb30a0000010a000002000100350012ba6e00000000000000000000';
    const p = parseTracePacket(['in_port=3', hex]);
    expect(formatFlow(p.flow)).toBe('udp,in_port=3,vlan_tci=0x0000,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,nw_src=10.0.0.1,nw_dst=10.0.0.2,nw_tos=0,nw_ecn=0,nw_ttl=9,nw_frag=no,tp_src=1,tp_dst=53');
  });

  it('refuses what ofproto/trace refuses, naming the token', () => {
    const bad: [string[], string][] = [
      [['in_port=1,udp,tp_dst=53'], 'tp_dst'],            // tp_* are TCP's in a trace (BEHAVIOUR.md 13)
      [['in_port=1,tcp_dst=80'], 'tcp_dst'],               // prerequisite not met
      [['in_port=1,ip,nw_src=10.0.0.0/8'], 'nw_src'],      // masks are not exact
      [['in_port=1,ct_state=+trk'], 'ct_state'],
      [['in_port=1,frobnicate=1'], 'frobnicate'],
      [['in_port=1', 'zz'], 'zz'],
      [['--ct-next', 'bogus', 'in_port=1'], 'bogus'],
    ];
    for (const [args, token] of bad) {
      let err: unknown;
      try { parseTracePacket(args); } catch (e) { err = e; }
      expect(err, args.join(' ')).toBeInstanceOf(FlowSyntaxError);
      expect((err as FlowSyntaxError).token).toBe(token);
    }
  });

  it('arbitrary input yields a key or a FlowSyntaxError, nothing else', () => {
    fc.assert(fc.property(fc.array(fc.string(), { minLength: 1, maxLength: 3 }), (args) => {
      try { parseTracePacket(args); } catch (e) { if (!(e instanceof FlowSyntaxError)) throw e; }
    }), { numRuns: 500 });
  });
});

describe('traceCommand', () => {
  it('prints the sections of ofproto/trace', () => {
    const text = traceCommand({
      flows: 'table=0,priority=100,ip,nw_dst=10.0.0.0/24,actions=mod_dl_src:00:00:00:00:00:01,resubmit(,1)\ntable=1,priority=50,ip,actions=dec_ttl,output:2',
      ports: 'p1 1\np2 2\n',
      packet: ['in_port=1,tcp,nw_src=1.1.1.1,nw_dst=10.0.0.5,tcp_dst=80,nw_ttl=64'],
    });
    expect(text).toBe([
      'Flow: tcp,in_port=1,vlan_tci=0x0000,dl_src=00:00:00:00:00:00,dl_dst=00:00:00:00:00:00,nw_src=1.1.1.1,nw_dst=10.0.0.5,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no,tp_src=0,tp_dst=80,tcp_flags=0',
      '',
      'bridge("br0")',
      '-------------',
      ' 0. ip,nw_dst=10.0.0.0/24, priority 100',
      '    mod_dl_src:00:00:00:00:00:01',
      '    resubmit(,1)',
      ' 1. ip, priority 50',
      '    dec_ttl',
      '    output:2',
      '',
      'Final flow: tcp,in_port=1,vlan_tci=0x0000,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:00,nw_src=1.1.1.1,nw_dst=10.0.0.5,nw_tos=0,nw_ecn=0,nw_ttl=63,nw_frag=no,tp_src=0,tp_dst=80,tcp_flags=0',
      'Megaflow: recirc_id=0,eth,tcp,in_port=1,dl_src=00:00:00:00:00:00,nw_dst=10.0.0.0/24,nw_ttl=64,nw_frag=no',
      'Datapath actions: set(eth(src=00:00:00:00:00:01)),set(ipv4(ttl=63)),2',
      '',
    ].join('\n'));
  });
});

describe('traceEvents (the same trace as structured data, for the viewer)', () => {
  it('gives one event per printed node, nested by depth, per translation', () => {
    const br = loadBridge({
      flows: 'table=0,priority=10,ip,actions=ct(table=1,zone=3)\ntable=1,priority=10,ct_state=+trk,ip,actions=output:2',
      ports: 'p1 1\np2 2\n',
    });
    const ev = traceEvents(br, parseTracePacket(['in_port=1,ip,nw_src=10.0.0.1,nw_dst=10.0.0.2']));
    expect(ev.filter((e) => e.kind === 'datapath-actions').map((e) => [e.pass, e.text])).toEqual([[0, 'ct(zone=3),recirc(0x1)'], [1, '2']]);
    expect(ev.find((e) => e.kind === 'table' && e.pass === 0)).toEqual({ pass: 0, kind: 'table', depth: 1, text: ' 0. ip, priority 10' });
    expect(ev.find((e) => e.kind === 'recirc')?.text).toMatch(/^recirc\(0x1\) - resume conntrack with default ct_state=trk\|new/);
    expect(ev.filter((e) => e.kind === 'megaflow').map((e) => e.text)).toEqual([
      'recirc_id=0,eth,ip,in_port=1,nw_frag=no', 'recirc_id=0x1,ct_state=+trk,eth,ip,in_port=1,nw_frag=no']);
  });
});

describe('sub-field access (actions.ts)', () => {
  // reference: one bit at a time, from the storage rules in key.ts (multi-word fields MSW first)
  const bitPos = (f: FieldDef, i: number): number =>
    (f.storage === 'word' ? f.word * 32 + f.shift + i : (f.word + f.nWords - 1 - (i >>> 5)) * 32 + (i & 31));
  const fields = ['reg3', 'metadata', 'ipv6_src', 'eth_dst', 'tcp_dst', 'vlan_pcp', 'tun_id', 'nw_tos', 'ip_dscp'].map((n) => FIELDS.get(n)!);
  it('reads, writes and masks any bit range as the bit-by-bit reference does', () => {
    fc.assert(fc.property(fc.constantFrom(...fields), fc.nat(), fc.nat(), fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
      fc.uint32Array({ minLength: FLOW_WORDS, maxLength: FLOW_WORDS }), (f, a, b, v, key) => {
        const ofs = a % f.bits, nBits = 1 + (b % (f.bits - ofs));
        const r = { field: f, ofs, nBits };
        let want = 0n;
        for (let i = nBits - 1; i >= 0; i--) { const p = bitPos(f, ofs + i); want = (want << 1n) | BigInt((key[p >>> 5]! >>> (p & 31)) & 1); }
        expect(readSubfield(key, 0, r)).toBe(want);
        const k2 = key.slice();
        writeSubfield(k2, 0, r, v);
        expect(readSubfield(k2, 0, r)).toBe(v & ((1n << BigInt(nBits)) - 1n));
        const wc = new Uint32Array(FLOW_WORDS);
        maskSubfield(wc, r);
        let bits = 0;
        for (let w = 0; w < FLOW_WORDS; w++) {
          for (let j = 0; j < 32; j++) {
            if ((wc[w]! >>> j) & 1) bits++;
            if (((key[w]! ^ k2[w]!) >>> j) & 1) expect((wc[w]! >>> j) & 1).toBe(1);   // writes stay inside the sub-field
          }
        }
        expect(bits).toBe(nBits);
      }), { numRuns: 400 });
  });
});
