/**
 * `sdnemu ofproto-trace` end to end, as a user runs it (a child process on
 * the TypeScript sources through tsx): files in, ofproto/trace text out, and
 * errors that name the file's line, column and token. Agreement with Open
 * vSwitch itself is test/ofproto/trace-ovs.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { scratch, sdnemu } from './run.js';

const { file } = scratch('sdnemu-trace-');



describe('sdnemu ofproto-trace', () => {
  const flows = file('flows.txt', [
    '# a conntrack pipeline, as Neutron writes it',
    'table=0,priority=100,ip,in_port=1,actions=ct(table=1,zone=5)',
    'table=1,priority=100,ct_state=+new+trk,ip,actions=ct(commit,zone=5),output:2',
    'table=1,priority=100,ct_state=+est+trk,ip,actions=output:2',
    'table=1,priority=0,actions=drop',
  ].join('\n'));
  const ports = file('ports.txt', 'p1 1\np2 2\n');

  it('prints the sections of ovs-appctl ofproto/trace and follows --ct-next', () => {
    const r = sdnemu(['ofproto-trace', '--flows', flows, '--ports', ports, '--ct-next', 'trk,est', 'in_port=1,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tcp_dst=80']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Datapath actions: ct(zone=5),recirc(0x1)\n');
    expect(r.stdout).toContain('recirc(0x1) - resume conntrack with ct_state=est|trk\n');
    expect(r.stdout).toContain('Megaflow: recirc_id=0x1,ct_state=-new+est+trk,eth,ip,in_port=1,nw_frag=no\n');
    expect(r.stdout.trimEnd().endsWith('Datapath actions: 2')).toBe(true);
  });

  it('a bad flow line is reported with its line, column and token, like ovs-ofctl', () => {
    const bad = file('bad.txt', 'priority=1,actions=drop\n\ntable=0,priority=5,ip,tp_dst=80,actions=output:2\n');
    const r = sdnemu(['ofproto-trace', '--flows', bad, 'in_port=1']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^sdnemu: OFCTL_MISSING_PREREQ: line 3, column 23: tp_dst=80: field tp_dst requires/);
    const unknown = sdnemu(['ofproto-trace', '--flows', file('bad2.txt', 'actions=frobnicate:1\n'), 'in_port=1']);
    expect(unknown.stderr).toContain('unknown action frobnicate');
  });

  it('a bad PACKET and a bad ports file say where', () => {
    const r = sdnemu(['ofproto-trace', '--flows', flows, 'in_port=1,udp,tp_dst=53']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('prerequisites not met for setting tp_dst');
    const p = sdnemu(['ofproto-trace', '--flows', flows, '--ports', file('p.txt', 'p1 1\np1 2\n'), 'in_port=1']);
    expect(p.status).toBe(1);
    expect(p.stderr).toMatch(/PORTS_DUPLICATE: ports file line 2/);
  });

  it('usage errors exit 2', () => {
    expect(sdnemu(['ofproto-trace', 'in_port=1']).status).toBe(2);
    expect(sdnemu(['ofproto-trace', '--flows', flows]).status).toBe(2);
    expect(sdnemu(['ofproto-trace', '--flows', flows, '-O', 'OpenFlow15', 'in_port=1']).status).toBe(2);
  });
});
