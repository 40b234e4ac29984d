/**
 * `sdnemu datapath` end to end, as a user runs it (a child process on the
 * TypeScript sources through tsx): captures in, per-port captures and the
 * OVS-style reports out. The frames it writes are read back by tshark, which
 * must find the VXLAN encapsulation and every checksum good. Agreement of the
 * datapath with Open vSwitch itself is test/datapath/datapath-ovs.test.ts.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FrameBuilder } from '../../src/wire/builder.js';
import { describeWith, tsharkFields, writeTempPcap } from '../oracle/tools.js';
import { scratch, sdnemu } from './run.js';
import { tunnelPorts } from '../datapath/fixtures.js';

const { dir: tmpDir, file } = scratch('sdnemu-dp-');

/** A classic pcap of 'frames' (removed with the temporary directories at the end). */
function pcap(frames: Uint8Array[]): string {
  const t = writeTempPcap(frames);
  afterAll(t.cleanup);
  return t.path;
}

const flows = [
  'table=0,priority=10,in_port=1,ip,ct_state=-trk,actions=ct(table=1,zone=1)',
  'table=1,priority=10,in_port=1,ip,ct_state=+new+trk,actions=ct(commit,zone=1),set_field:0x64->tun_id,output:10',
  'table=1,priority=10,in_port=1,ip,ct_state=+est+trk,actions=set_field:0x64->tun_id,output:10',
  'table=0,priority=10,in_port=LOCAL,actions=output:2',
].join('\n');
const client = (i: number): Uint8Array => new FrameBuilder().eth({ src: '00:00:00:00:00:01', dst: '00:00:00:00:00:02' })
  .ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).tcp({ srcPort: 40000, dstPort: 80, seq: 1000 + i, flags: i === 0 ? 'S' : 'A', ack: i === 0 ? 0 : 1 }).build();

describeWith('tshark', 'sdnemu datapath', () => {
  it('runs captures through the bridge, writes each port\'s capture and prints the datapath state', () => {
    const out = join(tmpDir, 'out');
    const r = sdnemu(['datapath', '--flows', file('flows.txt', flows), '--ports', file('ports.txt', tunnelPorts()),
      '--in', `p1=${pcap([client(0), client(1), client(2)])}`, '-w', out]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('3 packets in, 3 out (p2: 3), written to');
    expect(r.stdout).toContain('lookups: hit:3 missed:3 lost:0');
    expect(r.stdout).toMatch(/ct_state\(\+new\+trk\),recirc_id\(0x1\),in_port\(1\),.*actions:ct\(commit,zone=1\),tnl_push\(tnl_port\(4789\)/);
    expect(r.stdout).toMatch(/tcp,orig=\(src=10\.0\.0\.1,dst=10\.0\.0\.2,sport=40000,dport=80\).*zone=1/);
    expect(r.stdout).toMatch(/n_packets=3, .*in_port=LOCAL actions=output:2/);
    const rows = tsharkFields(join(out, 'p2.pcap'), ['vxlan.vni', 'ip.src', 'ip.checksum.status', 'tcp.checksum.status']);
    expect(rows).toEqual(Array(3).fill({ 'vxlan.vni': '100', 'ip.src': '192.168.1.1,10.0.0.1', 'ip.checksum.status': '1,1', 'tcp.checksum.status': '1' }));
  });

  it('names a port the bridge does not have', () => {
    const r = sdnemu(['datapath', '--flows', file('f2.txt', 'actions=drop'), '--in', `p7=${pcap([client(0)])}`]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/DP_UNKNOWN_PORT: --in: bridge br0 has no port 'p7'/);
  });
});
