/**
 * ovs-ofctl text for flows, actions and groups (src/ofproto/ofctl.ts).
 *
 * Tables: one line per action form (as written and as stored for OpenFlow 1.0
 * and 1.3), one per refusal with code, line, column and token; fast-check
 * properties (print→parse round trips, arbitrary text throws only
 * FlowSyntaxError); and the differential suite: a real Open vSwitch 3.1
 * (OvsSandbox) gets the flow and group corpora through `ovs-ofctl add-flows` /
 * `add-groups` and its `dump-flows --no-stats` / `dump-groups` output must equal
 * formatFlowLine(parseFlowLine(line)) / formatGroupLine(parseGroupLine(line))
 * byte for byte, for OpenFlow 1.0 and 1.3; lines ovs-ofctl refuses must be
 * refused here, with ovs-ofctl's own message where it prints one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FlowSyntaxError } from '../../src/flow/errors.js';
import { FIELDS } from '../../src/flow/fields.js';
import { parseMatch } from '../../src/flow/match.js';
import { type Action, OFPP_CONTROLLER, OFPP_IN_PORT } from '../../src/ofproto/actions.js';
import {
  actionsAsStored, CT_LABEL_FIELD, formatActions, formatFieldValue, formatFlowLine, formatGroupLine, formatSubfield, type OfProtocol, parseActions,
  parseFlowLine, parseFlowsFile, parseGroupLine, parseGroupsFile,
} from '../../src/ofproto/ofctl.js';
import { OvsCommandError, OvsSandbox } from '../oracle/ovs.js';
import { describeWith } from '../oracle/tools.js';

const f = (name: string) => FIELDS.get(name)!;
const fmt = (text: string): string => formatActions(parseActions(text));
/** The actions of 'line' as `ovs-ofctl -O P dump-flows` prints them after an add in P. */
const dump = (line: string, protocols: OfProtocol = 'OpenFlow10'): string => formatFlowLine(parseFlowLine(line, 1, { protocols })!, undefined, { protocols });

function refusal(fn: () => unknown): FlowSyntaxError {
  try {
    fn();
  } catch (e) {
    if (e instanceof FlowSyntaxError) return e;
    throw e;
  }
  throw new Error('accepted');
}

// ---- actions, one form per line -----------------------------------------------------------------

/** [actions text, formatActions(parseActions(text)): printed as written, no protocol conversion] */
const AS_WRITTEN: [string, string][] = [
  ['', 'drop'],
  ['drop', 'drop'],
  ['output:2', 'output:2'],
  ['2,3', 'output:2,output:3'],
  ['OUTPUT:2', 'output:2'],
  ['IN_PORT,in_port,LOCAL,local,NORMAL,FLOOD,ALL,TABLE', 'IN_PORT,IN_PORT,LOCAL,LOCAL,NORMAL,FLOOD,ALL,TABLE'],
  ['output:65534,output:4294967294', 'LOCAL,LOCAL'],
  ['output:reg0[]', 'output:NXM_NX_REG0[]'],
  ['output:NXM_NX_REG3[0..15]', 'output:NXM_NX_REG3[0..15]'],
  ['output_reg:reg1[16..31]', 'output:NXM_NX_REG1[16..31]'],
  ['output(port=1,max_len=100)', 'output(port=1,max_len=100)'],
  ['output(max_len=64,port=LOCAL)', 'output(port=LOCAL,max_len=64)'],
  ['controller', 'CONTROLLER:65535'],
  ['CONTROLLER:128', 'CONTROLLER:128'],
  ['output:CONTROLLER', 'CONTROLLER:65535'],
  ['controller(max_len=99)', 'CONTROLLER:99'],
  ['controller(reason=no_match,max_len=200,id=3,userdata=01.02.ab,pause)', 'controller(reason=no_match,max_len=200,id=3,userdata=01.02.ab,pause)'],
  ['controller(userdata=0102.ab,reason=invalid_ttl)', 'controller(reason=invalid_ttl,userdata=01.02.ab)'],
  ['controller(id=5)', 'controller(id=5)'],
  ['resubmit:3', 'resubmit:3'],
  ['resubmit(1,2)', 'resubmit(1,2)'],
  ['resubmit(,4)', 'resubmit(,4)'],
  ['resubmit(IN_PORT,5)', 'resubmit(,5)'],
  ['resubmit(LOCAL)', 'resubmit:LOCAL'],
  ['resubmit(2,255)', 'resubmit:2'],
  ['resubmit(,7,ct)', 'resubmit(,7,ct)'],
  ['resubmit(3,,ct)', 'resubmit:3'],
  ['goto_table:5', 'goto_table:5'],
  ['write_metadata:0x10/0xf0', 'write_metadata:0x10/0xf0'],
  ['write_metadata:0', 'write_metadata:0'],
  ['set_field:10.0.0.1->ip_dst', 'set_field:10.0.0.1->ip_dst'],
  ['set_field:10.0.0.1->nw_dst', 'set_field:10.0.0.1->ip_dst'],
  ['set_field:8080->tp_dst', 'set_field:8080->tcp_dst'],
  ['set_field:0x5/0xff->reg3', 'set_field:0x5/0xff->reg3'],
  ['set_field:5->reg3', 'set_field:0x5->reg3'],
  ['set_field:aa:bb:cc:dd:ee:ff->dl_dst', 'set_field:aa:bb:cc:dd:ee:ff->eth_dst'],
  ['set_field:1.2.3.0/24->ip_src', 'set_field:1.2.3.0/24->ip_src'],
  ['set_field:2001:db8::1->ipv6_dst', 'set_field:2001:db8::1->ipv6_dst'],
  ['set_field:LOCAL->in_port', 'set_field:LOCAL->in_port'],
  ['set_field:12->nw_tos', 'set_field:12->nw_tos'],
  ['set_field:4101->vlan_vid', 'set_field:4101->vlan_vid'],
  ['set_field:1->tun_flags', 'set_field:oam->tun_flags'],
  ['load:0x1->NXM_NX_REG0[]', 'load:0x1->NXM_NX_REG0[]'],
  ['load:1->reg0[]', 'load:0x1->NXM_NX_REG0[]'],
  ['load:0->NXM_OF_ETH_DST[0]', 'load:0->NXM_OF_ETH_DST[0]'],
  ['load:0xff->NXM_NX_REG1[8..15]', 'load:0xff->NXM_NX_REG1[8..15]'],
  ['load:0x1->OXM_OF_METADATA[0..3]', 'load:0x1->OXM_OF_METADATA[0..3]'],
  ['load:5->NXM_NX_REG0_W[]', 'load:0x5->NXM_NX_REG0[]'],
  ['load:0x20010db8000000000000000000000001->NXM_NX_IPV6_SRC[]',
    'load:0x1->NXM_NX_IPV6_SRC[0..63],load:0x20010db800000000->NXM_NX_IPV6_SRC[64..127]'],
  ['move:reg0[]->reg1[]', 'move:NXM_NX_REG0[]->NXM_NX_REG1[]'],
  ['move:NXM_OF_ETH_SRC[0..15]->OXM_OF_METADATA[16..31]', 'move:NXM_OF_ETH_SRC[0..15]->OXM_OF_METADATA[16..31]'],
  ['move:in_port->reg3[0..15]', 'move:NXM_OF_IN_PORT[]->NXM_NX_REG3[0..15]'],
  ['move:ip_dscp->reg0[0..5],move:vlan_vid->reg1[0..12]', 'move:OXM_OF_IP_DSCP[]->NXM_NX_REG0[0..5],move:OXM_OF_VLAN_VID[]->NXM_NX_REG1[0..12]'],
  ['mod_dl_src:00:11:22:33:44:55,mod_dl_dst:6:7:8:9:a:b', 'mod_dl_src:00:11:22:33:44:55,mod_dl_dst:06:07:08:09:0a:0b'],
  ['mod_nw_src:192.168.0.1,mod_nw_dst:10.1.2.3', 'mod_nw_src:192.168.0.1,mod_nw_dst:10.1.2.3'],
  ['mod_nw_tos:8,mod_nw_ecn:2,mod_nw_ttl:64,set_nw_ttl:3', 'mod_nw_tos:8,mod_nw_ecn:2,mod_nw_ttl:64,mod_nw_ttl:3'],
  ['mod_tp_src:1,mod_tp_dst:0x50', 'mod_tp_src:1,mod_tp_dst:80'],
  ['dec_ttl', 'dec_ttl'],
  ['dec_ttl(1,2)', 'dec_ttl(1,2)'],
  ['dec_ttl(0)', 'dec_ttl(0)'],
  ['push_vlan:0x8100,push_vlan:0x88a8', 'push_vlan:0x8100,push_vlan:0x88a8'],
  ['pop_vlan,strip_vlan', 'pop_vlan,strip_vlan'],
  ['mod_vlan_vid:10,mod_vlan_pcp:3', 'mod_vlan_vid:10,mod_vlan_pcp:3'],
  ['group:7', 'group:7'],
  ['ct', 'ct()'],
  ['ct(commit,zone=5)', 'ct(commit,zone=5)'],
  ['ct(zone=0,commit)', 'ct(commit)'],
  ['ct(table=10,commit,force,zone=NXM_NX_REG13[0..15],alg=ftp)', 'ct(commit,force,table=10,zone=NXM_NX_REG13[0..15],alg=ftp)'],
  ['ct(nat)', 'ct(nat)'],
  ['ct(commit,nat(src=10.0.0.1))', 'ct(commit,nat(src=10.0.0.1))'],
  ['ct(commit,nat(dst=10.0.0.1-10.0.0.9:80-90,random))', 'ct(commit,nat(dst=10.0.0.1-10.0.0.9:80-90,random))'],
  ['ct(commit,nat(src=10.0.0.1-10.0.0.1:5-5,persistent,hash))', 'ct(commit,nat(src=10.0.0.1:5,persistent,hash))'],
  ['ct(commit,nat(src=10.0.0.1:0))', 'ct(commit,nat(src=10.0.0.1))'],
  ['ct(commit,nat(src,persistent))', 'ct(commit,nat(src))'],
  ['ct(commit,nat(dst=10.1.0.5:8080),exec(set_field:1->ct_mark,load:0x1->NXM_NX_CT_LABEL[0]))',
    'ct(commit,nat(dst=10.1.0.5:8080),exec(set_field:0x1->ct_mark,load:0x1->NXM_NX_CT_LABEL[0]))'],
  ['ct(commit,exec(set_field:0x1/0x1->ct_label,move:NXM_NX_REG1[]->NXM_NX_CT_MARK[]))',
    'ct(commit,exec(set_field:0x1/0x1->ct_label,move:NXM_NX_REG1[]->NXM_NX_CT_MARK[]))'],
  ['ct_clear', 'ct_clear'],
  ['conjunction(10,1/2),conjunction(0x20, 2 / 3),note:01', 'conjunction(10,1/2),conjunction(32,2/3),note:01'],
  ['learn()', 'learn(table=1)'],
  ['learn(table=20,hard_timeout=300,priority=1,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:NXM_OF_IN_PORT[])',
    'learn(table=20,hard_timeout=300,priority=1,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:NXM_OF_IN_PORT[])'],
  ['learn(limit=5,cookie=0x9,delete_learned,send_flow_rem,priority=7,fin_hard_timeout=6,fin_idle_timeout=5,hard_timeout=60,idle_timeout=30,table=10)',
    'learn(table=10,idle_timeout=30,hard_timeout=60,fin_idle_timeout=5,fin_hard_timeout=6,priority=7,send_flow_rem,delete_learned,cookie=0x9,limit=5)'],
  ['learn(eth_type=0x800,dl_src=00:01:02:03:04:05,in_port=LOCAL,ip_dst=1.2.3.4,reg1[0..3]=0xa,NXM_NX_REG2[0..3]=NXM_NX_REG2[0..3],NXM_NX_REG2[4..7]=NXM_NX_REG3[0..3])',
    'learn(table=1,eth_type=0x800,eth_src=00:01:02:03:04:05,in_port=LOCAL,ip_dst=1.2.3.4,NXM_NX_REG1[0..3]=0xa,NXM_NX_REG2[0..3],NXM_NX_REG2[4..7]=NXM_NX_REG3[0..3])'],
  ['note:', 'note:'],
  ['note:0102.03', 'note:01.02.03'],
  ['clone(mod_dl_src:00:00:00:00:00:01,output:1),clone()', 'clone(mod_dl_src:00:00:00:00:00:01,output:1),clone(drop)'],
  ['clone(ct_clear,clone(output:1))', 'clone(ct_clear,clone(output:1))'],
  ['write_actions(output:1),goto_table:2', 'write_actions(output:1),goto_table:2'],
  ['clear_actions,write_metadata:0x1,goto_table:3', 'clear_actions,write_metadata:0x1,goto_table:3'],
  ['set_tunnel:5,set_tunnel64:0x6,set_tunnel:0x100000000,set_tunnel:0', 'set_tunnel:0x5,set_tunnel64:0x6,set_tunnel64:0x100000000,set_tunnel:0'],
  ['exit,exit(foo)', 'exit,exit'],
];

describe('parseActions / formatActions: one form per line', () => {
  it.each(AS_WRITTEN)('%s → %s', (text, printed) => {
    expect(fmt(text)).toBe(printed);
    expect(fmt(printed)).toBe(printed);
  });

  it('load keeps the sub-field and its value; set_field the whole field, value masked', () => {
    expect(parseActions('load:0xff->NXM_NX_REG1[8..15]')).toEqual([
      { type: 'set_field', dst: { field: f('reg1'), ofs: 8, nBits: 8 }, value: 0xffn, mask: 0xffn, raw: 'load' },
    ]);
    expect(parseActions('set_field:0x5/0xff00->reg3')).toEqual([
      { type: 'set_field', dst: { field: f('reg3'), ofs: 0, nBits: 32 }, value: 0n, mask: 0xff00n, raw: 'set_field' },
    ]);
    expect(parseActions('set_field:12->nw_tos')[0]).toMatchObject({ value: 12n, mask: 0xffn });
    // aliases resolve to OVS's canonical field, as set_field prints it
    expect(parseActions('set_field:1->tp_src')[0]).toMatchObject({ dst: { field: f('tcp_src') } });
  });

  it('controller forms without options are outputs to CONTROLLER, as OVS parses them', () => {
    expect(parseActions('controller:7,controller(max_len=9)')).toEqual([
      { type: 'output', port: OFPP_CONTROLLER, maxLen: 7 },
      { type: 'output', port: OFPP_CONTROLLER, maxLen: 9 },
    ]);
    expect(parseActions('controller(id=2)')).toEqual([
      { type: 'controller', reason: 'action', maxLen: 0xffff, controllerId: 2, userdata: null, pause: false },
    ]);
  });

  it('records for resubmit, conjunction, dec_ttl, nat and learn', () => {
    expect(parseActions('resubmit(,3)')).toEqual([{ type: 'resubmit', port: OFPP_IN_PORT, table: 3, ct: false }]);
    expect(parseActions('conjunction(7,2/3)')).toEqual([{ type: 'conjunction', id: 7, clause: 2, nClauses: 3 }]);
    expect(parseActions('dec_ttl,dec_ttl(4,5)')).toEqual([
      { type: 'dec_ttl', ids: [0], explicitIds: false }, { type: 'dec_ttl', ids: [4, 5], explicitIds: true },
    ]);
    const [ct] = parseActions('ct(commit,zone=reg6[0..15],nat(dst=10.0.0.1-10.0.0.9:80-90,random))');
    expect(ct).toEqual({
      type: 'ct', commit: true, force: false, zone: 0, zoneSrc: { field: f('reg6'), ofs: 0, nBits: 16 }, table: null, alg: null,
      nat: { kind: 'dst', addrMin: 0x0a000001, addrMax: 0x0a000009, portMin: 80, portMax: 90, persistent: false, hash: false, random: true },
      exec: [],
    });
    const [l] = parseActions('learn(table=3,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],eth_type=0x800,load:5->reg0[0..3],output:NXM_OF_IN_PORT[])');
    expect(l).toMatchObject({ type: 'learn', table: 3, priority: 32768 });
    expect((l as Extract<Action, { type: 'learn' }>).specs).toEqual([
      { kind: 'match', dst: { field: f('eth_dst'), ofs: 0, nBits: 48 }, src: { field: f('eth_src'), ofs: 0, nBits: 48 }, value: null },
      { kind: 'match', dst: { field: f('eth_type'), ofs: 0, nBits: 16 }, src: null, value: 0x800n },
      { kind: 'load', dst: { field: f('reg0'), ofs: 0, nBits: 4 }, src: null, value: 5n },
      { kind: 'output', src: { field: f('in_port'), ofs: 0, nBits: 16 } },
    ]);
  });

  it('formatSubfield and formatFieldValue print as OVS does', () => {
    expect(formatSubfield({ field: f('reg0'), ofs: 0, nBits: 32 })).toBe('NXM_NX_REG0[]');
    expect(formatSubfield({ field: f('metadata'), ofs: 3, nBits: 1 })).toBe('OXM_OF_METADATA[3]');
    expect(formatSubfield({ field: f('tp_dst'), ofs: 0, nBits: 8 })).toBe('NXM_OF_TCP_DST[0..7]');
    expect(formatSubfield({ field: f('dl_vlan'), ofs: 0, nBits: 12 })).toBe('dl_vlan[]');
    expect(formatFieldValue(f('nw_dst'), 0x0a000001n)).toBe('10.0.0.1');
    expect(formatFieldValue(f('nw_dst'), 0x0a000000n, 0xffffff00n)).toBe('10.0.0.0/24');
    expect(formatFieldValue(f('eth_src'), 0x5n)).toBe('00:00:00:00:00:05');
    expect(formatFieldValue(f('in_port'), 0xfffen)).toBe('LOCAL');
    expect(formatFieldValue(f('reg0'), 0n)).toBe('0');
    expect(formatFieldValue(f('reg0'), 5n, 0xffn)).toBe('0x5/0xff');
    expect(formatFieldValue(f('tcp_dst'), 80n)).toBe('80');
    expect(formatFieldValue(f('ipv6_src'), 1n)).toBe('::1');
  });

  it('ct_label exists only as a ct(exec(...)) destination', () => {
    const [ct] = parseActions('ct(commit,exec(load:0x1->NXM_NX_CT_LABEL[64..95]))');
    expect((ct as Extract<Action, { type: 'ct' }>).exec[0]).toMatchObject({ dst: { field: CT_LABEL_FIELD, ofs: 64, nBits: 32 } });
    expect(refusal(() => parseActions('move:NXM_NX_CT_LABEL[0..31]->reg0[]')).code).toBe('OFCTL_UNKNOWN_FIELD');
    expect(refusal(() => parseActions('load:1->NXM_NX_CT_LABEL[0]')).detail).toBe('cannot set CT fields outside of ct action');
  });
});

/** [flow line, OpenFlow10 dump, OpenFlow13 dump]: actionsAsStored for each version (checked against OVS below). */
const STORED: [string, string, string][] = [
  ['ip,actions=set_field:10.0.0.1->ip_dst', ' ip actions=mod_nw_dst:10.0.0.1', ' reset_counts ip actions=set_field:10.0.0.1->ip_dst'],
  ['actions=set_field:5->reg0', ' actions=load:0x5->NXM_NX_REG0[]', ' reset_counts actions=load:0x5->NXM_NX_REG0[]'],
  ['actions=pop_vlan', ' actions=strip_vlan', ' reset_counts actions=pop_vlan'],
  ['actions=goto_table:3', ' actions=resubmit(,3)', ' reset_counts actions=resubmit(,3)'],
  ['actions=mod_vlan_vid:5', ' actions=mod_vlan_vid:5', ' reset_counts actions=push_vlan:0x8100,set_field:4101->vlan_vid'],
  ['dl_vlan=3,actions=mod_vlan_pcp:2', ' dl_vlan=3 actions=mod_vlan_pcp:2', ' reset_counts dl_vlan=3 actions=set_field:2->vlan_pcp'],
  ['ip,actions=mod_nw_tos:8,mod_nw_ecn:1,mod_nw_ttl:9', ' ip actions=mod_nw_tos:8,load:0x1->NXM_NX_IP_ECN[],load:0x9->NXM_NX_IP_TTL[]',
    ' reset_counts ip actions=set_field:2->ip_dscp,load:0x1->NXM_NX_IP_ECN[],load:0x9->NXM_NX_IP_TTL[]'],
  ['udp,actions=mod_tp_dst:53', ' udp actions=mod_tp_dst:53', ' reset_counts udp actions=set_field:53->udp_dst'],
  ['actions=set_tunnel:5,set_tunnel:0x100000000', ' actions=set_tunnel:0x5,set_tunnel64:0x100000000',
    ' reset_counts actions=set_field:0x5->tun_id,set_field:0x100000000->tun_id'],
  ['ip,actions=ct(commit,exec(set_field:1->ct_mark))', ' ip actions=ct(commit,exec(load:0x1->NXM_NX_CT_MARK[]))',
    ' reset_counts ip actions=ct(commit,exec(load:0x1->NXM_NX_CT_MARK[]))'],
  ['actions=set_field:0x5/0xf0f->reg2', ' actions=load:0x5->NXM_NX_REG2[0..3],load:0->NXM_NX_REG2[8..11]',
    ' reset_counts actions=load:0x5->NXM_NX_REG2[0..3],load:0->NXM_NX_REG2[8..11]'],
];

describe('actionsAsStored: the wire round trip of ovs-ofctl and ovs-vswitchd', () => {
  it.each(STORED)('%s', (line, of10, of13) => {
    const spec = parseFlowLine(line)!;
    expect(formatFlowLine(spec)).toBe(of10);
    expect(formatFlowLine(spec, undefined, { protocols: 'OpenFlow13' })).toBe(of13);
  });

  it('an OpenFlow 1.3 add keeps set_field, goto_table, write_actions and push_vlan', () => {
    expect(dump('ip,actions=set_field:10.0.0.1->ip_dst,push_vlan:0x8100,set_field:4101->vlan_vid,write_actions(output:1),goto_table:2', 'OpenFlow13'))
      .toBe(' ip actions=set_field:10.0.0.1->ip_dst,push_vlan:0x8100,set_field:4101->vlan_vid,write_actions(output:1),goto_table:2');
    expect(parseFlowLine('actions=drop', 1, { protocols: 'OpenFlow13' })!.flags).toEqual([]);
    expect(parseFlowLine('actions=drop')!.flags).toEqual(['reset_counts']);
  });

  it('is idempotent', () => {
    const m = parseMatch('ip');
    for (const p of ['OpenFlow10', 'OpenFlow13'] as const) {
      const once = actionsAsStored(parseActions('mod_vlan_vid:5,mod_nw_dst:1.2.3.4,set_field:3->ip_dscp,pop_vlan,load:0x20010db8000000000000000000000001->NXM_NX_IPV6_SRC[]'), p, m);
      expect(actionsAsStored(once, p, m)).toEqual(once);
    }
  });
});

// ---- refusals -----------------------------------------------------------------------------------

/** [flow line, code, column, token, detail (ovs-ofctl's message where it prints one)] */
const REFUSED: [string, string, number, string, string][] = [
  ['actions=foo', 'OFCTL_SYNTAX', 9, 'foo', 'unknown action foo'],
  ['ip,actions=output:2,bogus(1)', 'OFCTL_SYNTAX', 21, 'bogus', 'unknown action bogus'],
  ['actions=output:foo', 'OFCTL_BAD_VALUE', 16, 'foo', 'foo: output to unknown port'],
  ['actions=output:70000', 'OFCTL_BAD_VALUE', 16, '70000', '70000: output to unknown port'],
  ['actions=output:65280', 'OFCTL_BAD_VALUE', 9, 'output:65280', 'actions are invalid with specified match (OFPBAC_BAD_OUT_PORT)'],
  ['actions=output(port=1,max_len=10)', 'OFCTL_BAD_VALUE', 31, '10', 'max_len 10 is less than the minimum value 14'],
  ['actions=load:1->reg0[0..40]', 'OFCTL_BAD_VALUE', 17, 'reg0[0..40]', 'reg0[0..40]: ending bit 40 is not valid because field is only 32 bits wide'],
  ['actions=load:1->reg0[5..2]', 'OFCTL_BAD_VALUE', 17, 'reg0[5..2]', 'reg0[5..2]: starting bit 5 is after ending bit 2'],
  ['actions=load:0x100->reg0[0..7]', 'OFCTL_BAD_VALUE', 14, '0x100', '0x100->reg0[0..7]: value 0x100 does not fit into 8 bits'],
  ['actions=load:abc->reg0[]', 'OFCTL_BAD_VALUE', 14, 'abc', 'abc->reg0[]: cannot parse integer value'],
  ['actions=load:1->foo[]', 'OFCTL_UNKNOWN_FIELD', 17, 'foo[]', "foo[]: unknown field `foo'"],
  ['actions=load:1', 'OFCTL_SYNTAX', 14, '1', "1: missing `->'"],
  ['actions=move:reg0[0..3]->reg1[0..4]', 'OFCTL_BAD_VALUE', 14, 'reg0[0..3]->reg1[0..4]', 'reg0[0..3]->reg1[0..4]: source field is 4 bits wide but destination is 5 bits wide'],
  ['actions=move:reg0[]', 'OFCTL_SYNTAX', 14, 'reg0[]', "reg0[]: missing `->' following source"],
  ['actions=move:reg0[]->NXM_OF_IP_SRC[]', 'OFCTL_MISSING_PREREQ', 9, 'move:reg0[]->NXM_OF_IP_SRC[]', 'actions are invalid with specified match (OFPBAC_MATCH_INCONSISTENT)'],
  ['actions=set_field:1.2.3.4->ip_dst', 'OFCTL_MISSING_PREREQ', 9, 'set_field:1.2.3.4->ip_dst', 'actions are invalid with specified match (OFPBAC_MATCH_INCONSISTENT)'],
  ['arp,actions=set_field:1.2.3.4->ip_dst', 'OFCTL_MISSING_PREREQ', 13, 'set_field:1.2.3.4->ip_dst', 'actions are invalid with specified match (OFPBAC_MATCH_INCONSISTENT)'],
  ['actions=set_field:1->foo', 'OFCTL_UNKNOWN_FIELD', 22, 'foo', 'foo is not a valid OXM field name'],
  ['actions=set_field:1->nw_proto', 'OFCTL_BAD_VALUE', 22, 'nw_proto', 'nw_proto is read-only'],
  ['ip,actions=set_field:300->nw_ttl', 'OFCTL_BAD_VALUE', 22, '300', '300: value too large for 1-byte field nw_ttl'],
  ['actions=set_field:abc->reg0', 'OFCTL_BAD_VALUE', 19, 'abc', 'abc: bad syntax for reg0 value'],
  ['actions=set_field:1->ct_mark', 'OFCTL_BAD_VALUE', 9, 'set_field:1->ct_mark', 'cannot set CT fields outside of ct action'],
  ['actions=mod_nw_tos:3', 'OFCTL_BAD_VALUE', 20, '3', '3: not a valid TOS'],
  ['actions=mod_nw_ttl:256', 'OFCTL_BAD_VALUE', 20, '256', 'invalid TTL "256"'],
  ['actions=mod_vlan_vid:5000', 'OFCTL_BAD_VALUE', 22, '5000', '5000: not a valid VLAN VID'],
  ['actions=mod_dl_src:zz', 'OFCTL_BAD_VALUE', 20, 'zz', 'invalid mac address zz'],
  ['actions=mod_nw_dst:1.2.3', 'OFCTL_BAD_VALUE', 20, '1.2.3', '1.2.3: could not convert to IP address'],
  ['actions=resubmit:IN_PORT', 'OFCTL_BAD_VALUE', 18, 'IN_PORT', 'at least one "in_port" or "table" must be specified on resubmit'],
  ['actions=resubmit(,300)', 'OFCTL_BAD_VALUE', 19, '300', '300: resubmit to unknown table'],
  ['actions=resubmit(1,2,foo)', 'OFCTL_BAD_VALUE', 22, 'foo', 'foo: unknown parameter'],
  ['actions=resubmit(,1,ct)', 'OFCTL_MISSING_PREREQ', 9, 'resubmit(,1,ct)', 'actions are invalid with specified match (OFPBAC_MATCH_INCONSISTENT)'],
  ['table=1,actions=goto_table:1', 'OFCTL_BAD_VALUE', 17, 'goto_table:1', 'actions are invalid with specified match (OFPBIC_BAD_TABLE_ID)'],
  ['actions=goto_table:1,output:2', 'OFCTL_SYNTAX', 22, 'output:2', 'invalid instruction ordering: apply_actions must appear before goto_table, for OpenFlow 1.1+ compatibility'],
  ['actions=write_metadata:0,write_metadata:1', 'OFCTL_SYNTAX', 26, 'write_metadata:1', 'duplicate write_metadata instruction not allowed, for OpenFlow 1.1+ compatibility'],
  ['actions=clone(goto_table:1)', 'OFCTL_SYNTAX', 15, 'goto_table:1', 'goto_table instruction not allowed here'],
  ['actions=drop,output:1', 'OFCTL_SYNTAX', 9, 'drop', '"drop" must not be accompanied by any other action or instruction'],
  ['actions=apply_actions(output:1)', 'OFCTL_SYNTAX', 9, 'apply_actions(output:1)', 'apply_actions is the default instruction'],
  ['actions=conjunction(1,3/2)', 'OFCTL_BAD_VALUE', 21, '1,3/2', 'clause index must be less than or equal to number of clauses'],
  ['actions=conjunction(1,1/1)', 'OFCTL_BAD_VALUE', 21, '1,1/1', 'conjunction must have at least 2 clauses'],
  ['actions=conjunction(1)', 'OFCTL_SYNTAX', 21, '1', '"conjunction" syntax is "conjunction(id,i/n)"'],
  ['actions=conjunction(1,1/2),output:1', 'OFCTL_SYNTAX', 28, 'output:1', '"conjunction" actions may be used along with "note" but not any other kind of action (such as the "output" action used here)'],
  ['actions=note:zz', 'OFCTL_BAD_VALUE', 14, 'zz', "bad hex digit in `note' argument"],
  ['actions=note:01:02', 'OFCTL_BAD_VALUE', 14, '01:02', "bad hex digit in `note' argument"],
  ['actions=dec_ttl(,)', 'OFCTL_BAD_VALUE', 17, ',', 'dec_ttl_cnt_ids: expected at least one controller id.'],
  ['actions=controller(reason=foo)', 'OFCTL_BAD_VALUE', 27, 'foo', 'unknown reason "foo"'],
  ['actions=controller(foo=1)', 'OFCTL_SYNTAX', 20, 'foo', 'unknown key "foo" parsing controller action'],
  ['actions=controller(userdata=zz)', 'OFCTL_BAD_VALUE', 29, 'zz', "bad hex digit in `controller' action `userdata'"],
  ['actions=group:abc', 'OFCTL_BAD_VALUE', 15, 'abc', 'invalid numeric format abc'],
  ['actions=push_vlan:0x800', 'OFCTL_BAD_VALUE', 19, '0x800', '0x800: not a valid VLAN ethertype'],
  ['actions=ct(commit)', 'OFCTL_MISSING_PREREQ', 9, 'ct(commit)', 'actions are invalid with specified match (OFPBAC_MATCH_INCONSISTENT)'],
  ['ip,actions=ct(foo)', 'OFCTL_SYNTAX', 15, 'foo', 'invalid argument to "ct" action: `foo\''],
  ['ip,actions=ct(zone=foo)', 'OFCTL_UNKNOWN_FIELD', 20, 'foo', "foo: unknown field `foo'"],
  ['ip,actions=ct(table=255)', 'OFCTL_BAD_VALUE', 21, '255', 'invalid table 0xff'],
  ['ip,actions=ct(force)', 'OFCTL_BAD_VALUE', 12, 'ct(force)', '"force" flag requires "commit" flag.'],
  ['ip,actions=ct(alg=http)', 'OFCTL_BAD_VALUE', 19, 'http', 'invalid conntrack helper "http"'],
  ['ip,actions=ct(commit,alg=ftp)', 'OFCTL_MISSING_PREREQ', 12, 'ct(commit,alg=ftp)', 'actions are invalid with specified match (OFPBAC_MATCH_INCONSISTENT)'],
  ['ip,actions=ct(commit,nat(src=1.2.3.4-1.2.3.1))', 'OFCTL_BAD_VALUE', 30, '1.2.3.4-1.2.3.1', 'invalid nat range "1.2.3.4-1.2.3.1"'],
  ['ip,actions=ct(commit,nat(src=1.2.3.4x))', 'OFCTL_BAD_VALUE', 30, '1.2.3.4x', 'garbage (x) after nat range "1.2.3.4x" (pos: 7)'],
  ['ip,actions=ct(commit,nat(src=1.2.3.4,dst=1.2.3.4))', 'OFCTL_BAD_VALUE', 38, 'dst', 'May only specify one of "src" or "dst".'],
  ['ip,actions=ct(commit,nat(persistent))', 'OFCTL_BAD_VALUE', 26, 'persistent', 'Flags allowed only with "src" or "dst".'],
  ['ip,actions=ct(commit,nat(src=1.2.3.4,hash,random))', 'OFCTL_BAD_VALUE', 26, 'src=1.2.3.4,hash,random', 'Both "hash" and "random" are not allowed.'],
  ['ipv6,actions=ct(commit,nat(src=1.2.3.4))', 'OFCTL_MISSING_PREREQ', 14, 'ct(commit,nat(src=1.2.3.4))', 'actions are invalid with specified match (OFPBAC_MATCH_INCONSISTENT)'],
  ['ip,actions=ct(exec(output:1))', 'OFCTL_SYNTAX', 20, 'output:1', "ct action doesn't support nested action output"],
  ['ip,actions=ct(commit,exec(set_field:1->reg0))', 'OFCTL_BAD_VALUE', 27, 'set_field:1->reg0', "ct action doesn't support nested modification of reg0"],
  ['actions=nat', 'OFCTL_SYNTAX', 9, 'nat', 'Cannot have NAT action outside of "ct" action'],
  ['actions=learn(table=255)', 'OFCTL_BAD_VALUE', 21, '255', "table=255: table id 255 not valid for `learn' action"],
  ['actions=learn(foo=bar)', 'OFCTL_SYNTAX', 15, 'foo', 'foo=bar: unknown keyword foo'],
  ['actions=learn(NXM_OF_IP_DST[])', 'OFCTL_MISSING_PREREQ', 9, 'learn(NXM_OF_IP_DST[])', 'actions are invalid with specified match (OFPBAC_MATCH_INCONSISTENT)'],
  ['actions=learn(NXM_OF_ETH_DST[]=NXM_OF_IP_SRC[])', 'OFCTL_BAD_VALUE', 32, 'NXM_OF_IP_SRC[]', 'NXM_OF_ETH_DST[]=NXM_OF_IP_SRC[]: bit widths of NXM_OF_ETH_DST[] (32) and NXM_OF_IP_SRC[] (48) differ'],
  ['actions=learn(NXM_OF_ETH_DST[]=zz)', 'OFCTL_BAD_VALUE', 32, 'zz', "NXM_OF_ETH_DST[]=zz: NXM_OF_ETH_DST[] value zz cannot be parsed as a subfield (zz: unknown field `zz') or an immediate value (zz: invalid Ethernet address)"],
  ['actions=learn(NXM_NX_REG0[0..3]=0x1f)', 'OFCTL_BAD_VALUE', 33, '0x1f', "NXM_NX_REG0[0..3]=0x1f: NXM_NX_REG0[0..3] value 0x1f cannot be parsed as a subfield (0x1f: unknown field `0x1f') or an immediate value (NXM_NX_REG0[0..3]=0x1f: value 0x1f does not fit into 4 bits)"],
  ['actions=learn(load:1)', 'OFCTL_SYNTAX', 20, '1', "load: missing `->' in `1'"],
  ['actions=learn(load:->reg0[])', 'OFCTL_SYNTAX', 20, '->reg0[]', "load: missing source before `->' in `->reg0[]'"],
  ['priority=70000,actions=drop', 'OFCTL_BAD_VALUE', 10, '70000', 'invalid priority "70000"'],
  ['foo=1,actions=drop', 'OFCTL_UNKNOWN_FIELD', 1, 'foo', 'unknown keyword foo'],
  ['cookie=0x1/0xff,actions=drop', 'OFCTL_SYNTAX', 8, '0x1/0xff', 'flow additions cannot use a cookie mask'],
  ['table=300,actions=drop', 'OFCTL_BAD_VALUE', 7, '300', 'unknown table "300"'],
  ['ip,nw_src=1.2.3', 'OFCTL_SYNTAX', 16, 'ip,nw_src=1.2.3', 'must specify an action'],
  ['tcp,tp_dst=80)', 'OFCTL_SYNTAX', 15, 'tcp,tp_dst=80)', 'must specify an action'],
  ['tcp,tp_dst=80),actions=drop', 'OFCTL_BAD_VALUE', 12, '80)', '80): bad syntax for tcp_dst value'],
  ['reg0[0..3]=0x1f,actions=drop', 'OFCTL_BAD_VALUE', 12, '0x1f', 'reg0[0..3]: value 0x1f does not fit into 4 bits'],
  ['actions=push_vlan:0x8100', 'OFCTL_SYNTAX', 9, 'push_vlan:0x8100', 'none of the usable flow formats (OXM,OpenFlow11) is among the allowed flow formats (OpenFlow10,NXM)'],
  ['reset_counts,actions=drop', 'OFCTL_SYNTAX', 1, 'reset_counts', 'none of the usable flow formats (OXM) is among the allowed flow formats (OpenFlow10,NXM)'],
];

/** Refused under OpenFlow13 only: [flow line, code, column, token, detail] */
const REFUSED_OF13: [string, string, number, string, string][] = [
  ['actions=mod_nw_dst:1.2.3.4', 'OFCTL_SYNTAX', 9, 'mod_nw_dst:1.2.3.4', 'none of the usable flow formats (OpenFlow10,NXM) is among the allowed flow formats (OXM-OpenFlow13)'],
  ['actions=dec_ttl', 'OFCTL_SYNTAX', 9, 'dec_ttl', 'none of the usable flow formats (OpenFlow10,NXM) is among the allowed flow formats (OXM-OpenFlow13)'],
  ['actions=strip_vlan', 'OFCTL_SYNTAX', 9, 'strip_vlan', 'none of the usable flow formats (OpenFlow10,NXM) is among the allowed flow formats (OXM-OpenFlow13)'],
  ['actions=push_vlan:0x8100,set_field:5->vlan_vid', 'OFCTL_BAD_VALUE', 26, 'set_field:5->vlan_vid', 'set_field:5->vlan_vid: OpenFlow 1.3 needs the present bit (0x1000) in a vlan_vid value (ovs-vswitchd refuses it)'],
];

/**
 * sdnemu-only refusals of lines Open vSwitch takes (and then drops, mangles or
 * cannot execute in sdnemu; see the module comment): [line, protocol, code].
 */
const STRICTER: [string, OfProtocol, string][] = [
  ['actions=write_actions(output:1)', 'OpenFlow10', 'OFCTL_SYNTAX'],
  ['actions=clear_actions', 'OpenFlow10', 'OFCTL_SYNTAX'],
  ['ip,actions=set_field:10.0.0.1/255.255.0.0->ip_dst', 'OpenFlow10', 'OFCTL_BAD_MASK'],
  ['actions=set_field:0/0->reg0', 'OpenFlow10', 'OFCTL_BAD_MASK'],
  ['actions=set_field:5->dl_vlan', 'OpenFlow10', 'OFCTL_BAD_VALUE'],
  ['ip,actions=ct(commit,nat(src=0.0.0.0))', 'OpenFlow10', 'OFCTL_BAD_VALUE'],
  ['ip,actions=ct(commit,nat(src=1.2.3.4),nat(dst=1.2.3.5))', 'OpenFlow10', 'OFCTL_SYNTAX'],
  ['ip,actions=ct(commit,exec(set_field:1->ct_mark),nat)', 'OpenFlow10', 'OFCTL_SYNTAX'],
  ['actions=load:1x->reg0[]', 'OpenFlow10', 'OFCTL_BAD_VALUE'],
  ['actions=enqueue:1:2', 'OpenFlow10', 'OFCTL_SYNTAX'],
  ['actions=multipath(eth_src,50,modulo_n,1,0,NXM_NX_REG0[])', 'OpenFlow10', 'OFCTL_SYNTAX'],
];

describe('refusals: code, line, column, token and ovs-ofctl\'s message', () => {
  it.each(REFUSED)('%s', (line, code, column, token, detail) => {
    const e = refusal(() => parseFlowLine(line, 7));
    expect({ code: e.code, line: e.line, column: e.column, token: e.token, detail: e.detail }).toEqual({ code, line: 7, column, token, detail });
    // the column points at the token
    if (detail !== 'must specify an action') expect(line.slice(column - 1, column - 1 + token.length)).toBe(token);
  });

  it.each(REFUSED_OF13)('OpenFlow13: %s', (line, code, column, token, detail) => {
    const e = refusal(() => parseFlowLine(line, 1, { protocols: 'OpenFlow13' }));
    expect({ code: e.code, column: e.column, token: e.token, detail: e.detail }).toEqual({ code, column, token, detail });
  });

  it.each(STRICTER)('sdnemu refuses %s (%s)', (line, protocols, code) => {
    expect(refusal(() => parseFlowLine(line, 1, { protocols })).code).toBe(code);
  });

  it('values ovs-ofctl would wrap are refused', () => {
    expect(refusal(() => parseActions('group:4294967296'))).toMatchObject({ code: 'OFCTL_BAD_VALUE', detail: 'invalid numeric format 4294967296' });
    expect(refusal(() => parseActions('mod_dl_src:00:00:00:00:00:01x')).code).toBe('OFCTL_BAD_VALUE');
    expect(refusal(() => parseActions('conjunction(1,1/300)')).code).toBe('OFCTL_SYNTAX');
  });

  it('parseActions places errors with the given line and column', () => {
    const e = refusal(() => parseActions('output:1,clone(foo)', { line: 3, column: 20 }));
    expect(e).toMatchObject({ line: 3, column: 35, token: 'foo', detail: 'unknown action foo' });
    expect(e.message).toBe('line 3, column 35: unknown action foo');
  });

  it('parseActions checks against a match only when given one', () => {
    expect(parseActions('set_field:1.2.3.4->ip_dst')).toHaveLength(1);
    expect(refusal(() => parseActions('set_field:1.2.3.4->ip_dst', { match: parseMatch('arp') })).code).toBe('OFCTL_MISSING_PREREQ');
    expect(parseActions('set_field:1.2.3.4->ip_dst', { match: parseMatch('ip'), protocols: 'OpenFlow10' }))
      .toEqual([{ type: 'mod_nw_dst', ip: 0x01020304 }]);
  });
});

// ---- flow lines and files -----------------------------------------------------------------------

describe('parseFlowLine / formatFlowLine', () => {
  it('reads table, priority, cookie, timeouts, importance and flags', () => {
    const s = parseFlowLine('table=3, priority=5 send_flow_rem,check_overlap,importance=7,hard_timeout=20,idle_timeout=10,cookie=0x1234,ip,nw_dst=10.0.0.1,actions=output:2', 4)!;
    expect(s).toMatchObject({ table: 3, priority: 5, cookie: 0x1234n, idleTimeout: 10, hardTimeout: 20, importance: 7, line: 4 });
    expect(s.flags).toEqual(['send_flow_rem', 'check_overlap', 'reset_counts']);
    expect(formatFlowLine(s)).toBe(' cookie=0x1234, table=3, idle_timeout=10, hard_timeout=20, priority=5,ip,nw_dst=10.0.0.1 actions=output:2');
    expect(formatFlowLine(s, undefined, { protocols: 'OpenFlow13' }))
      .toBe(' cookie=0x1234, table=3, idle_timeout=10, hard_timeout=20, send_flow_rem check_overlap reset_counts priority=5,ip,nw_dst=10.0.0.1 actions=output:2');
  });

  it('prints statistics as dump-flows does', () => {
    const s = parseFlowLine('priority=100,ip,nw_dst=10.0.0.1,idle_timeout=10,actions=output:2')!;
    expect(formatFlowLine(s, { durationSec: 1.234, nPackets: 3, nBytes: 294 }))
      .toBe(' cookie=0x0, duration=1.234s, table=0, n_packets=3, n_bytes=294, idle_timeout=10, priority=100,ip,nw_dst=10.0.0.1 actions=output:2');
    expect(formatFlowLine(s, { durationSec: 5, nPackets: 0, nBytes: 0, idleAge: 2, hardAge: 5 }))
      .toBe(' cookie=0x0, duration=5s, table=0, n_packets=0, n_bytes=0, idle_timeout=10, idle_age=2, priority=100,ip,nw_dst=10.0.0.1 actions=output:2');
    expect(formatFlowLine(parseFlowLine('actions=drop')!, { durationSec: 0.0000015, nPackets: 0, nBytes: 0, hardAge: 1 }))
      .toBe(' cookie=0x0, duration=0.0000015s, table=0, n_packets=0, n_bytes=0, hard_age=1, actions=drop');
  });

  it('omits priority=32768, table=0 and cookie=0 without statistics', () => {
    expect(dump('table=0,priority=32768,cookie=0,actions=drop')).toBe(' actions=drop');
    expect(dump('priority=7,actions=drop')).toBe(' priority=7 actions=drop');
    expect(dump('ip,actions=drop')).toBe(' ip actions=drop');
  });

  it('ignores dump-flows statistics so a dump line can be fed back', () => {
    const back = parseFlowLine(' cookie=0x5, duration=1.5s, table=2, n_packets=1, n_bytes=60, idle_age=1, priority=5,ip actions=output:1')!;
    expect(formatFlowLine(back)).toBe(' cookie=0x5, table=2, priority=5,ip actions=output:1');
  });

  it('matches sub-fields (field[a..b]=value) by merging into the field', () => {
    expect(dump('reg0[0..3]=5,reg0[8]=1,metadata[0..7]=0x8,actions=drop')).toBe(' reg0=0x105/0x10f,metadata=0x8/0xff actions=drop');
  });

  it("with prereqs 'ovs', drops match fields as ovs-ofctl does", () => {
    expect(refusal(() => parseFlowLine('tp_dst=80,actions=drop')).code).toBe('OFCTL_MISSING_PREREQ');
    expect(dump('ip,actions=drop')).toBe(' ip actions=drop');
    expect(formatFlowLine(parseFlowLine('tp_dst=80,actions=drop', 1, { prereqs: 'ovs' })!)).toBe(' actions=drop');
  });

  it('returns null for blank lines', () => {
    expect(parseFlowLine('')).toBeNull();
    expect(parseFlowLine(' \t ')).toBeNull();
  });
});

describe('parseFlowsFile', () => {
  it('skips comments and blank lines, accepts the add command word, and numbers lines from 1', () => {
    const specs = parseFlowsFile('# comment\n\ntable=1,actions=drop # trailing\nadd priority=5,actions=output:1\r\n   \n a ip,actions=drop\n');
    expect(specs.map((s) => [s.line, formatFlowLine(s)])).toEqual([
      [3, ' table=1, actions=drop'], [4, ' priority=5 actions=output:1'], [6, ' ip actions=drop'],
    ]);
  });

  it('errors name the file line', () => {
    const e = refusal(() => parseFlowsFile('actions=drop\n\n# x\nip,actions=output:foo\n'));
    expect(e).toMatchObject({ line: 4, column: 19, token: 'foo', code: 'OFCTL_BAD_VALUE' });
    expect(refusal(() => parseFlowsFile('delete ip\n')).code).toBe('OFCTL_SYNTAX');
  });
});

// ---- groups -------------------------------------------------------------------------------------

describe('groups', () => {
  it('parses buckets with options and bare actions', () => {
    const g = parseGroupLine('group_id=1,type=select,selection_method=hash,fields(ip_dst,eth_src),bucket=weight:100,watch_port:2,actions=output:2,bucket=output:1,mod_dl_src:00:00:00:00:00:01', 5)!;
    expect(g).toMatchObject({ groupId: 1, type: 'select', selectionMethod: 'hash', fields: ['eth_src', 'ip_dst'], line: 5 });
    expect(g.buckets.map((b) => [b.bucketId, b.weight, b.watchPort])).toEqual([[-1, 100, 2], [-1, 1, 0xffff]]);
    expect(formatGroupLine(g)).toBe('group_id=1,type=select,selection_method=hash,fields(eth_src,ip_dst),bucket=bucket_id:0,weight:100,watch_port:2,actions=output:2,bucket=bucket_id:1,actions=output:1,mod_dl_src:00:00:00:00:00:01');
    expect(formatGroupLine(g, { protocols: 'OpenFlow13' })).toBe('group_id=1,type=select,bucket=weight:100,watch_port:2,actions=output:2,bucket=actions=output:1,set_field:00:00:00:00:00:01->eth_src');
  });

  it('numbers buckets without bucket_id as ovs-ofctl does', () => {
    expect(formatGroupLine(parseGroupLine('group_id=7,type=select,bucket=bucket_id:5,output:1,bucket=output:2,bucket=bucket_id:0,output:1')!))
      .toBe('group_id=7,type=select,bucket=bucket_id:5,actions=output:1,bucket=bucket_id:1,actions=output:2,bucket=bucket_id:0,actions=output:1');
  });

  it.each([
    ['type=all,bucket=output:1', 'must specify a group_id'],
    ['group_id=1,bucket=output:1', 'must specify a type'],
    ['group_id=1,type=foo', 'invalid group type foo'],
    ['group_id=6,type=indirect,bucket=output:1,bucket=output:2', 'Indirect groups can have at most one bucket.'],
    ['group_id=8,type=all,bucket=weight:5,output:1', 'Only select groups can have bucket weights.'],
    ['group_id=9,type=ff,bucket=output:1', 'fast failover bucket requires watch_port or watch_group'],
    ['group_id=9,type=ff,bucket=watch_port:LOCAL,output:1', 'LOCAL: invalid watch_port'],
    ['group_id=1,type=all,bucket=weight:1', 'bucket must specify actions'],
    ['group_id=1,type=all,fields(ip_src)', 'fields may only be specified with "selection_method=hash"'],
    ['group_id=1,type=all,bucket=output:foo', 'foo: output to unknown port'],
    ['group_id=1,type=all,bucket=output:1,foo=2', 'unknown action foo'],
    ['group_id=1,type=all,bucket=drop,output:1', '"drop" must not be accompanied by any other action or instruction'],
    ['group_id=1,type=all,bucket=output:65280', 'actions are invalid with specified match (OFPBAC_BAD_OUT_PORT)'],
    ['group_id=1,type=select,selection_method=hash,fields(ip_src,ip_src)', 'ip_src: duplicate field'],
  ])('refuses %s', (line, detail) => {
    const e = refusal(() => parseGroupLine(line, 2));
    expect(e.detail).toBe(detail);
    expect(e.line).toBe(2);
    expect(e.column).toBeGreaterThan(0);
  });

  it('reads add-groups files', () => {
    const gs = parseGroupsFile('# groups\ngroup_id=1,type=all,bucket=output:1\n\nadd group_id=2,type=indirect,bucket=output:2 # x\n');
    expect(gs.map((g) => [g.line, g.groupId, formatGroupLine(g)])).toEqual([
      [2, 1, 'group_id=1,type=all,bucket=bucket_id:0,actions=output:1'], [4, 2, 'group_id=2,type=indirect,bucket=bucket_id:0,actions=output:2'],
    ]);
    expect(refusal(() => parseGroupsFile('group_id=1,type=all\ngroup_id=2,type=bad\n')).line).toBe(2);
  });
});

// ---- properties ---------------------------------------------------------------------------------

const u = (max: number): fc.Arbitrary<number> => fc.nat(max);
const hex = (max: number): fc.Arbitrary<string> => fc.nat(max).map((n) => `0x${n.toString(16)}`);
const ipv4 = fc.tuple(u(255), u(255), u(255), fc.integer({ min: 1, max: 255 })).map((a) => a.join('.'));
const mac = fc.array(u(255), { minLength: 6, maxLength: 6 }).map((a) => a.map((x) => x.toString(16).padStart(2, '0')).join(':'));
const reg = u(15).map((r) => `reg${r}`);
const subfield = fc.tuple(fc.constantFrom('reg', 'NXM_NX_REG'), u(15), u(31), u(31)).map(([n, r, a, b]) => `${n}${r}[${Math.min(a, b)}..${Math.max(a, b)}]`);
const port = fc.oneof(fc.integer({ min: 0, max: 0xfeff }).map(String), fc.constantFrom('LOCAL', 'IN_PORT', 'NORMAL', 'FLOOD', 'ALL'));
/** action texts valid under an `ip` match in both OpenFlow 1.0 and 1.3 */
const commonAction: fc.Arbitrary<string> = fc.oneof(
  port.map((p) => `output:${p}`),
  subfield.map((s) => `output:${s}`),
  fc.tuple(fc.integer({ min: 0, max: 0xfeff }), fc.integer({ min: 14, max: 65535 })).map(([p, l]) => `output(port=${p},max_len=${l})`),
  u(65535).map((m) => `controller:${m}`),
  fc.tuple(fc.constantFrom('no_match', 'invalid_ttl', 'action'), u(65535), u(65535), fc.boolean()).map(([r, m, i, p]) => `controller(reason=${r},max_len=${m},id=${i}${p ? ',pause' : ''})`),
  fc.tuple(fc.oneof(fc.constant(''), port), fc.oneof(fc.constant(''), u(254).map(String)))
    .filter(([p, t]) => (p !== '' && p !== 'IN_PORT') || t !== '').map(([p, t]) => `resubmit(${p},${t})`),
  fc.tuple(reg, hex(0xffffffff)).map(([r, v]) => `set_field:${v}->${r}`),
  fc.tuple(reg, hex(0xffffffff), hex(0xffffffff)).filter(([, , m]) => m !== '0x0').map(([r, v, m]) => `set_field:${v}/${m}->${r}`),
  fc.tuple(ipv4, fc.constantFrom('ip_src', 'ip_dst', 'tun_src')).map(([a, fl]) => `set_field:${a}->${fl}`),
  fc.tuple(mac, fc.constantFrom('eth_src', 'eth_dst')).map(([m, fl]) => `set_field:${m}->${fl}`),
  fc.tuple(subfield).map(([s]) => `load:0x1->${s}`),
  fc.tuple(u(1), u(15), u(31)).map(([v, r, b]) => `load:${v}->NXM_NX_REG${r}[${b}]`),
  fc.tuple(u(15), u(15)).map(([a, b]) => `move:NXM_NX_REG${a}[]->reg${b}[]`),
  fc.tuple(mac, fc.constantFrom('mod_dl_src', 'mod_dl_dst')).map(([m, n]) => `${n}:${m}`),
  fc.tuple(ipv4, fc.constantFrom('mod_nw_src', 'mod_nw_dst')).map(([a, n]) => `${n}:${a}`),
  u(63).map((d) => `mod_nw_tos:${d * 4}`),
  u(3).map((e) => `mod_nw_ecn:${e}`),
  fc.constant('dec_ttl'),
  fc.array(u(65535), { minLength: 1, maxLength: 3 }).map((ids) => `dec_ttl(${ids.join(',')})`),
  u(4095).map((v) => `mod_vlan_vid:${v}`),
  u(7).map((p) => `mod_vlan_pcp:${p}`),
  u(0xffffff00).map((g) => `group:${g}`),
  fc.constant('ct_clear'),
  fc.tuple(fc.boolean(), u(65535), fc.option(u(254))).map(([c, z, t]) => `ct(${c ? 'commit,' : ''}zone=${z}${t !== null ? `,table=${t}` : ''})`),
  fc.tuple(fc.constantFrom('src', 'dst'), ipv4, fc.option(fc.integer({ min: 1, max: 65535 })), fc.constantFrom('', ',persistent', ',hash', ',random'))
    .map(([k, a, pt, fl]) => `ct(commit,nat(${k}=${a}${pt !== null ? `:${pt}` : ''}${fl}))`),
  fc.tuple(hex(0xffffffff), u(31)).map(([v, b]) => `ct(commit,exec(set_field:${v}->ct_mark,load:1->NXM_NX_CT_LABEL[${b}]))`),
  fc.array(u(255), { maxLength: 8 }).map((b) => `note:${b.map((x) => x.toString(16).padStart(2, '0')).join('.')}`),
  fc.tuple(u(254), u(65535), fc.boolean()).map(([t, p, d]) => `learn(table=${t},priority=${p}${d ? ',delete_learned' : ''},NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:NXM_NX_REG0[]->NXM_NX_REG1[],output:NXM_OF_IN_PORT[])`),
  fc.tuple(hex(0xffffffffff)).map(([v]) => `set_tunnel:${v}`),
  fc.constant('exit'),
);
const nested: fc.Arbitrary<string> = fc.array(commonAction, { minLength: 1, maxLength: 3 }).map((a) => `clone(${a.join(',')})`);
/** Apply-actions first, then (OpenFlow 1.1+) instructions in their order, then goto_table: what ofpacts_verify accepts. */
function actionList(of13: boolean): fc.Arbitrary<string> {
  const apply = fc.array(fc.oneof(commonAction, nested, ...(of13 ? [fc.constant('push_vlan:0x8100')] : [])), { maxLength: 5 });
  const inst = of13
    ? fc.tuple(fc.boolean(), fc.option(fc.array(commonAction, { maxLength: 2 }).map((a) => `write_actions(${a.join(',')})`)))
      .map(([c, w]) => [...(c ? ['clear_actions'] : []), ...(w !== null ? [w] : [])])
    : fc.constant([] as string[]);
  const meta = fc.option(fc.tuple(hex(0xffff), hex(0xffff)).map(([v, m]) => `write_metadata:${v}/${m}`));
  const go = fc.option(fc.integer({ min: 1, max: 254 }).map((t) => `goto_table:${t}`));
  // OpenFlow 1.0 sends goto_table as a resubmit, which ovs-vswitchd refuses after write_metadata
  return fc.tuple(apply, inst, meta, go)
    .filter(([a, , m, g]) => (of13 || m === null || g === null) && a.filter((x) => x === 'push_vlan:0x8100').length <= 1)
    .map(([a, i, m, g]) => [...a, ...i, ...(m !== null ? [m] : []), ...(g !== null ? [g] : [])].join(','));
}

describe('properties', () => {
  it('as written: parse(format(parse(text))) == parse(text)', () => {
    fc.assert(fc.property(actionList(true), (text) => {
      const a = parseActions(text);
      const printed = formatActions(a);
      expect(parseActions(printed), `${text}\n→ ${printed}`).toEqual(a);
    }), { numRuns: 800 });
  });

  it('flows: parse(dump(parse(line))) == parse(line) under OpenFlow10 and OpenFlow13', () => {
    for (const [protocols, of13] of [['OpenFlow10', false], ['OpenFlow13', true]] as const) {
      fc.assert(fc.property(fc.constantFrom('ip', 'tcp', 'udp,nw_src=10.0.0.0/8', 'ip,dl_vlan=5'), actionList(of13), u(65535), (m, acts, prio) => {
        const line = `table=0,priority=${prio},${m},actions=${acts}`;
        const a = parseFlowLine(line, 1, { protocols })!;
        const printed = formatFlowLine(a, undefined, { protocols });
        const b = parseFlowLine(printed, 1, { protocols })!;
        expect(b.actions, `${line}\n→ ${printed}`).toEqual(a.actions);
        expect(b.match.equals(a.match)).toBe(true);
        expect([b.priority, b.table, b.flags]).toEqual([a.priority, a.table, a.flags]);
        expect(formatFlowLine(b, undefined, { protocols })).toBe(printed);
      }), { numRuns: 400 });
    }
  });

  it('arbitrary text throws only FlowSyntaxError (never an internal error)', () => {
    const alphabet = fc.constantFrom(...'actions=output:,()[]->reg0.1x/learn ct nat exec clone set_field load move NXM_NX_REG1 bucket= group_id type=select'.split(''));
    const words = fc.constantFrom('actions=', 'output:', 'ct(', 'nat(', 'exec(', 'learn(', 'clone(', 'set_field:', 'load:', 'move:', '->', 'reg0[', '..', ']',
      ')', ',', 'NXM_OF_ETH_SRC[]', 'ip,', 'tcp,', 'bucket=', 'group_id=1,', 'type=ff,', 'watch_port:', '0x', '1', '65535', 'LOCAL', 'conjunction(', '/',
      'resubmit(', 'controller(', 'userdata=', 'dec_ttl(', 'goto_table:', 'write_actions(', '=', ':', 'fields(', 'selection_method=hash,', 'zone=', 'table=');
    const junk = fc.oneof(fc.string(), fc.string({ unit: alphabet, maxLength: 60 }), fc.array(words, { maxLength: 14 }).map((w) => w.join('')));
    fc.assert(fc.property(junk, (s) => {
      for (const fn of [() => parseActions(s), () => parseActions(s, { match: parseMatch('ip'), protocols: 'OpenFlow13' }),
        () => parseFlowLine(s), () => parseFlowLine(`ip,actions=${s}`, 1, { protocols: 'OpenFlow13' }), () => parseGroupLine(s),
        () => parseGroupLine(`group_id=1,type=select,bucket=${s}`), () => parseFlowsFile(s)]) {
        try {
          const r = fn();
          if (r !== null && !Array.isArray(r) && 'actions' in r) formatFlowLine(r);
        } catch (e) {
          expect(e).toBeInstanceOf(FlowSyntaxError);
          expect((e as FlowSyntaxError).detail).not.toMatch(/^internal error/);
          expect((e as FlowSyntaxError).column).toBeGreaterThan(0);
        }
      }
    }), { numRuns: 3000 });
  });
});

// ---- differential: a real Open vSwitch 3.1 ------------------------------------------------------

/** Flow lines added with OpenFlow10 (ovs-ofctl's default) and dumped with OpenFlow10 and OpenFlow13. */
const FLOWS_OF10: string[] = [
  // outputs
  'priority=100,in_port=1,actions=output:2',
  'priority=100,in_port=2,actions=1,3,LOCAL',
  'priority=90,in_port=1,dl_vlan=10,actions=IN_PORT,in_port,NORMAL',
  'table=1,priority=5,actions=FLOOD,ALL',
  'table=1,priority=6,ip,actions=output:CONTROLLER',
  'table=1,priority=7,ip,nw_src=10.0.0.1,actions=controller,controller:100',
  'table=1,priority=8,arp,actions=controller(reason=no_match,max_len=200,id=3,userdata=01.02.ab,pause)',
  'table=1,priority=9,arp,arp_op=1,actions=controller(reason=invalid_ttl),controller(id=5),controller(max_len=128)',
  'table=1,priority=10,reg0=5,actions=output:reg0[0..15]',
  'table=1,priority=11,reg1=1,actions=output:NXM_NX_REG1[0..15],output(port=1,max_len=100)',
  'table=1,priority=12,reg1=2,actions=output(port=LOCAL,max_len=14),output:65534,output:0',
  'table=1,priority=13,reg1=3,actions=output_reg:NXM_NX_REG2[16..31],TABLE',
  // drop, resubmit, goto_table, write_metadata
  'table=2,priority=100,actions=drop',
  'table=2,priority=99,ip,actions=',
  'table=2,priority=50,tcp,tp_dst=80,actions=resubmit:3,resubmit(1,2),resubmit(,4)',
  'table=2,priority=51,udp,actions=resubmit(IN_PORT,5),resubmit(LOCAL),resubmit(2,255)',
  'table=3,ct_state=+trk+est,ip,actions=resubmit(,4,ct)',
  'table=3,priority=9,ct_state=+trk+new,ip,actions=resubmit(3,,ct),resubmit(2,6,ct)',
  'table=3,priority=10,ip,actions=goto_table:4',
  'table=3,priority=11,ipv6,actions=output:1,write_metadata:0x10/0xf0',
  'table=3,priority=12,arp,actions=write_metadata:0',
  // set_field
  'table=4,priority=1,ip,actions=set_field:10.0.0.1->ip_dst,set_field:10.0.0.2->nw_src',
  'table=4,priority=2,actions=set_field:00:00:00:00:00:01->eth_src,set_field:aa:bb:cc:dd:ee:ff->dl_dst',
  'table=4,priority=3,tcp,actions=set_field:8080->tcp_dst,set_field:1024->tp_src',
  'table=4,priority=4,udp,actions=set_field:53->udp_dst,set_field:5353->udp_src',
  'table=4,priority=5,sctp,actions=set_field:9->sctp_dst,set_field:10->sctp_src',
  'table=4,priority=6,ip,actions=set_field:3->ip_dscp,set_field:1->nw_ecn,set_field:9->nw_ttl,set_field:64->nw_tos',
  'table=4,priority=7,actions=set_field:0x5->reg0,set_field:0x5/0xff->reg1,set_field:0x5/0xf0f->reg2',
  'table=4,priority=8,actions=set_field:0x8->metadata,set_field:0x64->tun_id,set_field:1.2.3.4->tun_src,set_field:5.6.7.8->tun_dst',
  'table=4,priority=9,ipv6,actions=set_field:2001:db8::1->ipv6_src,set_field:0x12345->ipv6_label,set_field:::2->ipv6_dst',
  'table=4,priority=10,arp,actions=set_field:2->arp_op,set_field:1.2.3.4->arp_spa,set_field:00:00:00:00:00:05->arp_sha,set_field:9.9.9.9->arp_tpa',
  'table=4,priority=11,icmp,actions=set_field:3->icmp_type,set_field:1->icmp_code',
  'table=4,priority=12,dl_vlan=3,actions=set_field:0x1005->vlan_tci',
  'table=4,priority=13,dl_vlan=4,actions=set_field:5->vlan_pcp,set_field:4102->vlan_vid',
  'table=4,priority=14,actions=set_field:5->in_port,set_field:1->tun_flags,set_field:0x10/0xf0->metadata',
  'table=4,priority=15,icmp6,actions=set_field:135->icmpv6_type,set_field:0->icmpv6_code',
  'table=4,priority=16,dl_vlan=5,actions=set_field:0x0000->vlan_tci',
  // load and move
  'table=5,priority=1,actions=load:0x1->NXM_NX_REG0[],load:0xff->NXM_NX_REG1[8..15],load:0x1->NXM_NX_REG2[31]',
  'table=5,priority=2,actions=load:0->NXM_OF_ETH_DST[0],load:0x1->OXM_OF_METADATA[0..3],load:5->NXM_OF_IN_PORT[]',
  'table=5,priority=3,ip,actions=load:0xa000001->NXM_OF_IP_DST[],load:0x20->NXM_OF_IP_TOS[]',
  'table=5,priority=4,actions=load:0x1->reg3[0..3],load:0x2->tun_id[0..7],load:7->NXM_NX_REG4_W[0..2]',
  'table=5,priority=5,ipv6,actions=load:0x20010db8000000000000000000000001->NXM_NX_IPV6_SRC[]',
  'table=5,priority=6,actions=move:reg0[]->reg1[],move:NXM_OF_ETH_SRC[0..15]->OXM_OF_METADATA[16..31]',
  'table=5,priority=7,actions=move:NXM_NX_TUN_ID[0..31]->NXM_NX_REG0[],move:in_port->reg3[0..15]',
  'table=5,priority=8,ip,actions=move:NXM_OF_IP_SRC[]->NXM_OF_IP_DST[],move:NXM_NX_REG0[0..7]->NXM_NX_REG1[8..15]',
  'table=5,priority=9,tcp,actions=move:NXM_OF_TCP_SRC[]->NXM_OF_TCP_DST[],move:OXM_OF_IPV4_SRC[]->NXM_NX_REG5[]',
  // OpenFlow 1.0 rewrites
  'table=6,priority=1,actions=mod_dl_src:00:11:22:33:44:55,mod_dl_dst:66:77:88:99:aa:bb',
  'table=6,priority=2,ip,actions=mod_nw_src:192.168.0.1,mod_nw_dst:10.1.2.3',
  'table=6,priority=3,ip,actions=mod_nw_tos:8,mod_nw_ecn:2,mod_nw_ttl:64',
  'table=6,priority=4,tcp,actions=mod_tp_src:1,mod_tp_dst:2',
  'table=6,priority=5,actions=mod_nw_dst:1.2.3.4',
  'table=6,priority=6,ip,actions=dec_ttl,dec_ttl(1,2),dec_ttl(0)',
  'table=6,priority=7,ipv6,actions=dec_ttl(7),set_nw_ttl:9',
  // VLANs
  'table=7,priority=1,actions=mod_vlan_vid:10,mod_vlan_pcp:3',
  'table=7,priority=2,dl_vlan=10,actions=strip_vlan',
  'table=7,priority=3,dl_vlan=11,actions=pop_vlan',
  'table=7,priority=4,vlan_tci=0x1000/0x1000,actions=mod_vlan_vid:20',
  // groups
  'table=8,priority=1,actions=group:1',
  'table=8,priority=2,actions=group:2,group:3',
  // ct and nat
  'table=9,priority=1,ip,actions=ct(table=10)',
  'table=9,priority=2,ip,actions=ct(commit,zone=5)',
  'table=9,priority=3,tcp,actions=ct(commit,force,zone=7,table=10,alg=ftp)',
  'table=9,priority=4,udp,actions=ct(commit,alg=tftp)',
  'table=9,priority=5,ip,actions=ct(nat),ct(commit,nat(src=10.0.0.1))',
  'table=9,priority=6,ip,actions=ct(commit,nat(dst=10.0.0.1-10.0.0.9:80-90,random))',
  'table=9,priority=7,ip,actions=ct(commit,nat(src=10.0.0.1:5,persistent,hash))',
  'table=9,priority=8,ip,actions=ct(commit,nat(src=10.0.0.1:1000-2000),exec(set_field:0x1->ct_mark))',
  'table=9,priority=9,ip,actions=ct(commit,zone=NXM_NX_REG13[0..15],exec(load:0x1->NXM_NX_CT_LABEL[0],set_field:0x2/0x2->ct_mark))',
  'table=9,priority=10,ipv6,actions=ct(commit,zone=reg6[0..15],table=11,exec(move:NXM_NX_REG1[]->NXM_NX_CT_MARK[]))',
  'table=9,priority=11,ip,actions=ct(commit,exec(load:0xdeadbeef->NXM_NX_CT_LABEL[0..31],load:0x1->NXM_NX_CT_LABEL[64..95]))',
  'table=9,priority=12,ip,actions=ct_clear,ct(commit,nat(dst=10.1.0.5:8080))',
  'table=9,priority=13,ip,actions=ct(commit,nat(src=10.0.0.1,persistent))',
  'table=9,priority=14,ip,actions=ct(commit,exec(set_field:0x1/0x1->ct_label))',
  'table=9,priority=15,ip,actions=ct(commit,nat(src,persistent)),ct(commit,nat(dst=10.0.0.1:0))',
  // conjunction, note
  'table=10,priority=1,actions=conjunction(10,1/2)',
  'table=10,priority=2,ip,actions=conjunction(10,2/2),conjunction(0x20,1/3),note:01.02',
  // learn (Neutron and OVN shapes)
  'table=11,priority=1,actions=learn(table=20,hard_timeout=300,priority=1,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],load:0->NXM_OF_VLAN_TCI[],load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[],output:NXM_OF_IN_PORT[]),output:1',
  'table=11,priority=2,actions=learn(table=10,idle_timeout=30,hard_timeout=60,fin_idle_timeout=5,fin_hard_timeout=6,priority=7,cookie=0x9,send_flow_rem,delete_learned,limit=5,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[])',
  'table=11,priority=3,ip,actions=learn(table=2,priority=0,eth_type=0x800,NXM_OF_IP_SRC[],ip_dst=1.2.3.4,nw_proto=6,tcp_dst=80,load:0x5->NXM_NX_REG0[0..15],reg1[0..3]=0xa,in_port=LOCAL,dl_src=00:01:02:03:04:05,eth_dst=01:00:00:00:00:00,NXM_NX_REG2[4..7]=NXM_NX_REG3[0..3],output:reg1[0..15],load:NXM_NX_REG2[0..7]->NXM_NX_REG4[8..15])',
  'table=11,priority=4,actions=learn()',
  'table=11,priority=5,tcp,actions=learn(table=30,idle_timeout=60,eth_type=0x800,nw_proto=6,NXM_OF_IP_SRC[]=NXM_OF_IP_DST[],NXM_OF_IP_DST[]=NXM_OF_IP_SRC[],NXM_OF_TCP_SRC[]=NXM_OF_TCP_DST[],NXM_OF_TCP_DST[]=NXM_OF_TCP_SRC[],load:0x1->NXM_NX_REG7[])',
  'table=11,priority=6,actions=learn(table=12,eth_type=0x86dd,NXM_NX_REG0[0..3]=0x5,load:0x20010db8000000000000000000000001->NXM_NX_IPV6_SRC[])',
  // OVN-style pipeline lines
  'table=12,priority=100,reg14=0x1,metadata=0x1,dl_src=00:00:00:00:00:01,actions=load:0x1->NXM_NX_REG10[5],resubmit(,13)',
  'table=12,priority=50,metadata=0x1,actions=set_field:0x2->reg15,resubmit(,37)',
  'table=12,priority=40,ip,reg0=0x1/0x1,metadata=0x1,actions=ct(commit,zone=NXM_NX_REG13[0..15],exec(load:0->NXM_NX_CT_LABEL[0])),resubmit(,42)',
  'table=12,priority=30,ct_state=+trk+est,ip,metadata=0x3,actions=ct(commit,table=11,zone=NXM_NX_REG11[0..15],nat)',
  'table=12,priority=20,reg15=0x8000,metadata=0x1,actions=load:0x1->NXM_NX_REG15[],resubmit(,39),load:0x2->NXM_NX_REG15[],resubmit(,39),load:0x8000->NXM_NX_REG15[]',
  'table=12,priority=10,ip,metadata=0x2,nw_dst=10.0.0.1,actions=controller(userdata=00.00.00.0e.00.00.00.00,pause)',
  // Neutron OVS-agent lines
  'table=13,priority=3,in_port=1,dl_vlan=100,actions=mod_vlan_vid:1,resubmit(,60)',
  'table=13,priority=2,dl_vlan=1,dl_dst=fa:16:3e:00:00:01,actions=strip_vlan,load:0x64->NXM_NX_TUN_ID[],output:2',
  'table=13,priority=1,tun_id=0x64,actions=mod_vlan_vid:1,resubmit(,10)',
  'table=13,priority=70,ct_state=+est-rel-rpl,tcp,reg5=0x3,tp_dst=22,actions=conjunction(5,1/2)',
  'table=13,priority=90,ct_state=+new-est,ip,reg5=0x3,actions=ct(commit,zone=NXM_NX_REG6[0..15]),resubmit(,91)',
  // clone, note, exit, tunnels
  'table=14,priority=0,actions=clone(mod_dl_src:00:00:00:00:00:01,output:1),ct_clear,exit',
  'table=14,priority=1,actions=clone(),clone(resubmit(,14)),clone(clone(output:2))',
  'table=14,priority=2,actions=note:,note:0102030405060708,exit',
  'table=14,priority=3,actions=set_tunnel:0x5,set_tunnel64:0x6,set_tunnel:0x100000000',
  'table=14,priority=4,tun_id=0x64,actions=set_tunnel:0',
  // flow options
  'table=15,priority=1,tcp,nw_src=10.0.0.0/24,tp_dst=0x1000/0xf000,actions=output:2',
  'table=15,priority=2,send_flow_rem,check_overlap,idle_timeout=10,hard_timeout=20,importance=7,ip,actions=output:1',
  'table=15,priority=32768,ipv6,actions=drop',
  'table=15,ip,nw_dst=10.0.0.1,cookie=0xabcdef,actions=output:2',
  'cookie=0x1,priority=3 ip actions=output:2',
  'table=16,priority=1,reg0[0..3]=5,reg0[8]=1,actions=drop',
  'table=16,priority=2,reg1[4]=1,metadata[0..7]=0x8,actions=drop',
  'table=16,priority=3,action=output:1',
];

/** Flow lines needing OpenFlow 1.1+: added and dumped with OpenFlow13. */
const FLOWS_OF13: string[] = [
  'table=0,priority=10,actions=goto_table:1',
  'table=0,priority=11,ip,actions=write_actions(output:1),goto_table:2',
  'table=0,priority=12,actions=clear_actions,write_metadata:0x1/0xff,goto_table:3',
  'table=0,priority=13,actions=push_vlan:0x8100,set_field:4101->vlan_vid,output:2',
  'table=0,priority=14,actions=push_vlan:0x88a8,mod_vlan_vid:5',
  'table=0,priority=15,dl_vlan=5,actions=pop_vlan,output:1',
  'table=0,priority=16,ip,actions=mod_nw_dst:10.0.0.1,mod_dl_src:00:00:00:00:00:09,mod_nw_tos:8,mod_nw_ecn:1,mod_nw_ttl:9',
  'table=0,priority=17,udp,actions=mod_tp_src:5,mod_tp_dst:6',
  'table=0,priority=18,actions=set_tunnel:0x5,set_tunnel64:0x6',
  'table=0,priority=19,actions=set_field:0x5->reg0,set_field:0x5/0xff->reg1,load:0x3->NXM_NX_REG2[0..7]',
  'table=0,priority=20,ip,actions=set_field:10.0.0.1->ip_dst,set_field:0x8->metadata,set_field:12->nw_tos',
  'table=0,priority=21,ip,actions=ct(commit,exec(set_field:0x1->ct_mark))',
  'table=0,priority=22,ipv6,actions=dec_ttl,set_field:2001:db8::1->ipv6_src',
  'table=0,priority=23,actions=mod_vlan_vid:7,mod_vlan_pcp:2',
  'table=0,priority=24,actions=write_actions(mod_dl_dst:00:00:00:00:00:01,output:2)',
  'table=0,priority=25,sctp,actions=mod_tp_dst:7,set_field:1->tun_flags',
  'table=0,priority=26,reset_counts,no_packet_counts,no_byte_counts,actions=drop',
  'table=1,priority=1,ip,actions=clone(mod_dl_src:00:00:00:00:00:01,output:1),write_actions(group:2)',
  'table=1,priority=2,dl_vlan=9,actions=set_field:0x3009->vlan_tci,set_field:2->vlan_pcp',
  'table=1,priority=3,ipv6,actions=write_metadata:0x10/0xf0,goto_table:5',
];

/** Group lines, added with OpenFlow10 (groups 1–3 are the flows' targets). */
const GROUPS: string[] = [
  'group_id=1,type=select,bucket=weight:100,actions=output:2,bucket=output:1',
  'group_id=2,type=all,bucket=output:1,bucket=output:2',
  'group_id=3,type=ff,bucket=watch_port:1,output:1,bucket=watch_port:2,output:2',
  'group_id=4,type=select,selection_method=hash,fields(ip_src,ip_dst),bucket=output:1',
  'group_id=5,type=indirect,bucket=bucket_id:7,actions=output:1',
  'group_id=6,type=select,selection_method=dp_hash,bucket=output:1,bucket=output:2',
  'group_id=7,type=select,selection_method=hash,fields=ip_src,bucket=output:1',
  'group_id=8,type=select,bucket=bucket_id:5,output:1,bucket=output:2,bucket=bucket_id:0,output:1',
  'group_id=9,type=ff,bucket=watch_group:3,output:1',
  'group_id=10,type=select,bucket=weight:0,actions=output:1,set_field:5->reg0',
  'group_id=11,type=all,bucket=actions=drop',
  'group_id=12,type=all',
  'group_id=13,type=select,fields(nw_dst=255.255.255.0,eth_dst,tcp_src),selection_method=hash,bucket=output:1',
  'group_id=14,type=all,bucket=mod_vlan_vid:5,output:1,bucket=strip_vlan,output:2',
  'group_id=15,type=all,bucket=set_field:1.2.3.4->ip_dst,output:1,bucket=ct(commit),output:2',
  'group_id=16,type=select,bucket=weight:50,mod_dl_dst:00:00:00:00:00:02,resubmit(,3),bucket=weight:7,actions=dec_ttl,output:LOCAL',
  'group_id=17,type=ff,bucket=watch_port:2,watch_group:9,actions=output:2',
  'group_id=18,type=fast_failover,bucket=watch_port:CONTROLLER,actions=output:1',
];

/** Lines ovs-ofctl (or ovs-vswitchd) refuses: [line, protocol]; sdnemu must refuse them too. */
const OVS_REFUSES: [string, OfProtocol][] = [
  ...REFUSED.map(([l]) => [l, 'OpenFlow10'] as [string, OfProtocol]),
  ...REFUSED_OF13.map(([l]) => [l, 'OpenFlow13'] as [string, OfProtocol]),
  ['ip,actions=ct(nat(src=1.2.3.4))', 'OpenFlow10'],
  ['ip,actions=ct(commit,zone=reg0[0..7])', 'OpenFlow10'],
  ['ip,actions=ct(commit,nat(src=10.0.0.1:0-5))', 'OpenFlow10'],
  ['actions=load:1->NXM_OF_ETH_TYPE[]', 'OpenFlow10'],
  ['actions=output:NONE', 'OpenFlow10'],
  ['ip,actions=ct(exec(set_field:1->ct_mark))', 'OpenFlow10'],
  ['ipv6,actions=write_metadata:0x10/0xf0,goto_table:5', 'OpenFlow10'],
];

/** Group lines ovs-ofctl refuses. */
const OVS_REFUSES_GROUPS: string[] = [
  'type=all,bucket=output:1',
  'group_id=1,bucket=output:1',
  'group_id=1,type=foo',
  'group_id=6,type=indirect,bucket=output:1,bucket=output:2',
  'group_id=8,type=all,bucket=weight:5,output:1',
  'group_id=9,type=ff,bucket=output:1',
  'group_id=9,type=ff,bucket=watch_port:LOCAL,output:1',
  'group_id=1,type=all,bucket=output:65280',
];

/** ovs-ofctl's message for a refused add: the last line, without "ovs-ofctl: -:1: "; '' when it printed none. */
function ovsMessage(e: unknown): string {
  if (!(e instanceof OvsCommandError)) throw e;
  const last = e.stderr.trim().split('\n').pop() ?? '';
  const m = /^ovs-ofctl: -:\d+: (.*)$/.exec(last) ?? /^ovs-ofctl: (none of the usable .*)$/.exec(last);
  return m !== null ? m[1]! : '';
}

const sorted = (a: string[]): string[] => [...a].sort();

describeWith('ovs', 'differential: ovs-ofctl add-flows/add-groups vs dump-flows/dump-groups (Open vSwitch 3.1)', () => {
  let ovs: OvsSandbox;

  beforeAll(async () => {
    ovs = await OvsSandbox.start();
    await ovs.addBridge('br0', [{ name: 'p1', ofport: 1 }, { name: 'p2', ofport: 2 }], { protocols: ['OpenFlow10', 'OpenFlow13'] });
    await ovs.addGroups('br0', GROUPS.join('\n'));
  });

  afterAll(async () => {
    await ovs?.stop();
  });

  async function dumpNoStats(protocols: OfProtocol): Promise<string[]> {
    const out = await ovs.ofctl('-O', protocols, '--no-stats', 'dump-flows', 'br0');
    return out.split('\n').filter((l) => l.startsWith(' '));
  }

  it(`${FLOWS_OF10.length} flow lines (OpenFlow10 add) dump exactly as formatFlowLine prints them, in OpenFlow10 and OpenFlow13`, async () => {
    const specs = FLOWS_OF10.map((l) => parseFlowLine(l)!);
    await ovs.delFlows('br0');
    await ovs.addFlows('br0', FLOWS_OF10.join('\n'));
    for (const p of ['OpenFlow10', 'OpenFlow13'] as const) {
      const theirs = await dumpNoStats(p);
      const ours = specs.map((s) => formatFlowLine(s, undefined, { protocols: p }));
      expect(theirs.length, 'every corpus line is its own flow').toBe(FLOWS_OF10.length);
      const missing = ours.filter((l) => !theirs.includes(l)), extra = theirs.filter((l) => !ours.includes(l));
      expect({ p, missing, extra }).toEqual({ p, missing: [], extra: [] });
      expect(sorted(theirs)).toEqual(sorted(ours));
    }
  });

  it('with statistics: the fixed fields come in dump-flows order', async () => {
    const out = (await ovs.ofctl('dump-flows', 'br0', 'table=15')).split('\n').filter((l) => l.startsWith(' '));
    const ours = FLOWS_OF10.map((l) => parseFlowLine(l)!).filter((s) => s.table === 15)
      .map((s) => formatFlowLine(s, { durationSec: 0.5, nPackets: 0, nBytes: 0, idleAge: 0 }));
    const strip = (l: string): string => l.replace(/duration=[^,]*, /, '').replace(/idle_age=\d+, /, '');
    expect(sorted(out.map(strip))).toEqual(sorted(ours.map(strip)));
  });

  it(`${FLOWS_OF13.length} OpenFlow 1.1+ flow lines (OpenFlow13 add) dump exactly as formatFlowLine prints them`, async () => {
    const specs = FLOWS_OF13.map((l) => parseFlowLine(l, 1, { protocols: 'OpenFlow13' })!);
    await ovs.delFlows('br0');
    await ovs.addFlows('br0', FLOWS_OF13.join('\n'), { protocols: 'OpenFlow13' });
    const theirs = await dumpNoStats('OpenFlow13');
    const ours = specs.map((s) => formatFlowLine(s, undefined, { protocols: 'OpenFlow13' }));
    expect({ missing: ours.filter((l) => !theirs.includes(l)), extra: theirs.filter((l) => !ours.includes(l)) }).toEqual({ missing: [], extra: [] });
    expect(sorted(theirs)).toEqual(sorted(ours));
  });

  it(`${GROUPS.length} group lines dump exactly as formatGroupLine prints them, in OpenFlow10 and OpenFlow13`, async () => {
    const specs = GROUPS.map((l) => parseGroupLine(l)!);
    for (const p of ['OpenFlow10', 'OpenFlow13'] as const) {
      const theirs = await ovs.dumpGroups('br0', { protocols: p });
      const ours = specs.map((g) => formatGroupLine(g, { protocols: p }));
      expect({ p, missing: ours.filter((l) => !theirs.includes(l)), extra: theirs.filter((l) => !ours.includes(l)) }).toEqual({ p, missing: [], extra: [] });
      expect(sorted(theirs)).toEqual(sorted(ours));
    }
  });

  it(`${OVS_REFUSES.length} flow lines Open vSwitch refuses are refused, with ovs-ofctl's message where it prints one`, async () => {
    const bad: string[] = [];
    for (const [line, protocols] of OVS_REFUSES) {
      let msg: string | null = null;
      try {
        await ovs.addFlows('br0', line, { protocols });
      } catch (e) {
        msg = ovsMessage(e);
      }
      let ours: string;
      try {
        parseFlowLine(line, 1, { protocols });
        ours = 'accepted';
      } catch (e) {
        ours = e instanceof FlowSyntaxError ? e.detail : `non-FlowSyntaxError ${String(e)}`;
      }
      if (msg === null) bad.push(`${line} (${protocols}): Open vSwitch accepted it`);
      else if (ours === 'accepted' || (msg !== '' && ours !== msg)) bad.push(`${line} (${protocols})\n  ovs:  ${msg || '(switch error)'}\n  ours: ${ours}`);
    }
    expect(bad, bad.join('\n')).toEqual([]);
  });

  it(`${STRICTER.length} lines Open vSwitch accepts are the documented sdnemu refusals`, async () => {
    const refused: string[] = [];
    for (const [line, protocols] of STRICTER) {
      try {
        await ovs.addFlows('br0', line, { protocols });
      } catch (e) {
        refused.push(`${line}: ${ovsMessage(e)}`);
      }
    }
    expect(refused).toEqual([]);
  });

  it(`${OVS_REFUSES_GROUPS.length} group lines ovs-ofctl refuses are refused with its message`, async () => {
    const bad: string[] = [];
    for (const line of OVS_REFUSES_GROUPS) {
      let msg: string | null = null;
      try {
        await ovs.addGroups('br0', line);
      } catch (e) {
        msg = ovsMessage(e);
      }
      let ours = 'accepted';
      try { parseGroupLine(line); } catch (e) { ours = e instanceof FlowSyntaxError ? e.detail : String(e); }
      if (msg === null || ours === 'accepted' || (msg !== '' && msg !== ours)) bad.push(`${line}\n  ovs:  ${msg}\n  ours: ${ours}`);
    }
    expect(bad, bad.join('\n')).toEqual([]);
  });
});
