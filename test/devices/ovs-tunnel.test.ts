/**
 * OVS tunnel ports through a hypervisor's stack (src/devices/ovs-tunnel.ts, ovs-bridge.ts
 * addTunnelPort, xlate.ts kernelTunnelOutput, datapath receiveTunnel/tnl_find):
 *  - two hypervisors on a routed underlay, an OVS bridge each, VMs on them: ping and UDP across
 *    VXLAN and Geneve ports; the outer headers (UDP 4789/6081, DF, TTL 64, VNI, source port
 *    from the inner flow, source address from the host's route);
 *  - tun_id matching on input, key=flow with set_field:…->tun_id, remote_ip=flow with
 *    set_field:…->tun_dst; a packet from an unknown remote or with a wrong fixed key dropped and
 *    counted; the trace of a tunnelled packet;
 *  - the Topology API and bad input.
 * The differential side (real OVS 3.1 traces, the kernel's vxlan device decapsulating our
 * bytes) is ovs-tunnel-ovs.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { Topology } from '../../src/topology/topology.js';
import type { Host } from '../../src/netstack/host.js';
import { OvsBridgeError, type OvsBridge, type OvsTunnelSpec } from '../../src/devices/ovs-bridge.js';
import { be16, be32, ipv4ToString } from '../../src/wire/bytes.js';
import { InputError } from '../../src/errors.js';
import { buildTopology, loadTopology, TopologyFileError } from '../../src/topology/file.js';

interface Net {
  t: Topology; hv1: Host; hv2: Host; vm1: Host; vm2: Host; br1: OvsBridge; br2: OvsBridge;
  /** frames on hv1's underlay interface */
  wire: Uint8Array[];
}

/**
 * hv1 192.168.1.1/24 — router — 192.168.2.2/24 hv2; vm1 10.0.0.1 on hv1's br-int, vm2 10.0.0.2
 * on hv2's; the tunnels each bridge gets from 'tun(self, peer)', flows 'flows' (NORMAL default).
 */
function twoHypervisors(tun: (self: string, peer: string) => OvsTunnelSpec[], flows?: (n: 1 | 2) => string): Net {
  const t = new Topology({ seed: 7 });
  const r = t.router('r', { ifaces: [{ name: 'eth0', addrs: ['192.168.1.254/24'] }, { name: 'eth1', addrs: ['192.168.2.254/24'] }] });
  const hv1 = t.host('hv1', { ip: '192.168.1.1/24', gw: '192.168.1.254' });
  const hv2 = t.host('hv2', { ip: '192.168.2.2/24', gw: '192.168.2.254' });
  t.link(hv1, [r, 'eth0'], { delay: '100us' });
  t.link(hv2, [r, 'eth1'], { delay: '100us' });
  const br1 = t.ovsBridge('hv1/br-int', { host: hv1, tunnels: tun('192.168.1.1', '192.168.2.2'), ...(flows ? { flows: flows(1) } : { defaultFlows: 'normal' }) });
  const br2 = t.ovsBridge('hv2/br-int', { host: hv2, tunnels: tun('192.168.2.2', '192.168.1.1'), ...(flows ? { flows: flows(2) } : { defaultFlows: 'normal' }) });
  const vm1 = t.host('vm1', { ifaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', addrs: ['10.0.0.1/24'] }] });
  const vm2 = t.host('vm2', { ifaces: [{ name: 'eth0', mac: '02:00:00:00:00:02', addrs: ['10.0.0.2/24'] }] });
  t.link(vm1, br1.addPort('tap1', { ofport: 1 }), { delay: '10us' });
  t.link(vm2, br2.addPort('tap2', { ofport: 1 }), { delay: '10us' });
  const wire: Uint8Array[] = [];
  const cap = t.capture([hv1, 'eth0'], 'out');
  const orig = cap.frames.push.bind(cap.frames);
  cap.frames.push = (...f) => { for (const x of f) wire.push(x.data); return orig(...f); };
  return { t, hv1, hv2, vm1, vm2, br1, br2, wire };
}

const vx = (key: number | string = 100) => (_self: string, peer: string): OvsTunnelSpec[] => [{ name: 'vxlan0', type: 'vxlan', remote: peer, key, ofport: 10 }];

/** The outer UDP datagrams among 'frames' (IPv4/UDP), decoded. */
function outer(frames: Uint8Array[]): { src: string; dst: string; sport: number; dport: number; df: boolean; ttl: number; csum: number; hdr: number; vni: number }[] {
  return frames.filter((f) => be16(f, 12) === 0x0800 && f[23] === 17).map((f) => ({
    src: ipv4ToString(be32(f, 26)), dst: ipv4ToString(be32(f, 30)), sport: be16(f, 34), dport: be16(f, 36),
    df: (f[20]! & 0x40) !== 0, ttl: f[22]!, csum: be16(f, 40), hdr: be32(f, 42), vni: be32(f, 46) >>> 8,
  }));
}

describe('OVS tunnel ports through the hypervisor stack', () => {
  it('pings and carries UDP VM to VM across VXLAN ports (NORMAL), with OVS kernel-datapath outer headers', async () => {
    const n = twoHypervisors(vx());
    expect((await n.t.ping(n.vm1, '10.0.0.2', { count: 3 })).received).toBe(3);
    // UDP both ways
    const srv = n.vm2.sockets.udp(5353);
    srv.onMessage = (d, from) => srv.send(from.addr, from.port, d);
    const cli = n.vm1.sockets.udp(40000);
    const got: string[] = [];
    cli.onMessage = (d, from) => got.push(`${new TextDecoder().decode(d)} from ${ipv4ToString(from.addr)}:${from.port}`);
    cli.send('10.0.0.2', 5353, 'hello');
    n.t.runFor(10e6);
    expect(got).toEqual(['hello from 10.0.0.2:5353']);
    const o = outer(n.wire);
    expect(o.length).toBeGreaterThan(4);
    for (const x of o) {
      expect([x.src, x.dst, x.dport, x.df, x.ttl, x.csum, x.hdr, x.vni]).toEqual(['192.168.1.1', '192.168.2.2', 4789, true, 64, 0, 0x08000000, 100]);
      expect(x.sport).toBeGreaterThanOrEqual(32768);
      expect(x.sport).toBeLessThan(60999);
    }
    // one inner flow, one source port (udp_flow_src_port of the inner flow)
    const udpOut = n.wire.filter((f) => f.length > 50 + 34 && f[50 + 23] === 17).map((f) => be16(f, 34));
    expect(new Set(udpOut).size).toBe(1);
    expect(n.br1.vports.get('vxlan_sys_4789')!.stats.txPackets).toBeGreaterThan(0);
    expect(n.br2.vports.get('vxlan_sys_4789')!.stats.rxPackets).toBeGreaterThan(0);
  });

  it('Geneve ports (6081) carry the VNI the same way', async () => {
    const n = twoHypervisors((_s, peer) => [{ name: 'gnv0', type: 'geneve', remote: peer, key: 5000 }]);
    expect((await n.t.ping(n.vm1, '10.0.0.2', { count: 2 })).received).toBe(2);
    const o = outer(n.wire);
    expect(o.length).toBeGreaterThan(0);
    for (const x of o) expect([x.dport, x.hdr, x.vni, x.df]).toEqual([6081, 0x6558, 5000, true]);
    expect(n.br1.port('gnv0').odp).toBe(6081);
  });

  it('matches in_port=vxlan0,tun_id on input and sets the VNI with set_field (key=flow)', async () => {
    const flows = (_n: 1 | 2): string => [
      'priority=10,in_port=1,actions=set_field:0x2a->tun_id,output:10',
      'priority=10,in_port=10,tun_id=0x2a,actions=output:1',
      'priority=5,in_port=10,actions=drop',
    ].join('\n');
    const n = twoHypervisors(vx('flow'), flows);
    expect((await n.t.ping(n.vm1, '10.0.0.2', { count: 2 })).received).toBe(2);
    expect(new Set(outer(n.wire).map((x) => x.vni))).toEqual(new Set([0x2a]));
    // the megaflows installed on hv2 match the tunnel fields
    const dumped = n.br2.dp.dumpFlows(n.br2.nowMs).join('\n');
    expect(dumped).toContain('tunnel(tun_id=0x2a,src=192.168.1.1,dst=192.168.2.2');
    // a different VNI from the same remote goes to the priority-5 drop flow
    n.br1.replaceFlows('priority=10,in_port=1,actions=set_field:0x2b->tun_id,output:10\npriority=10,in_port=10,actions=output:1');
    expect((await n.t.ping(n.vm1, '10.0.0.2', { count: 1, timeout: 1 })).received).toBe(0);
    expect(n.br2.rules().find((r) => r.spec.priority === 5)!.nPackets).toBeGreaterThan(0);
  });

  it('remote_ip=flow: set_field:…->tun_dst picks the hypervisor', async () => {
    const flows = (k: 1 | 2): string => [
      `priority=10,in_port=1,actions=set_field:${k === 1 ? '192.168.2.2' : '192.168.1.1'}->tun_dst,set_field:0x7->tun_id,output:10`,
      'priority=10,in_port=10,tun_id=0x7,actions=output:1',
    ].join('\n');
    const n = twoHypervisors(() => [{ name: 'vxflow', type: 'vxlan', remote: 'flow', key: 'flow', ofport: 10 }], flows);
    expect((await n.t.ping(n.vm1, '10.0.0.2', { count: 2 })).received).toBe(2);
    expect(new Set(outer(n.wire).map((x) => `${x.dst}/${x.vni}`))).toEqual(new Set(['192.168.2.2/7']));
  });

  it('drops and counts packets no tunnel port takes: unknown remote, wrong fixed key', async () => {
    const n = twoHypervisors(vx());
    // hv2 expects hv1 at another address: nothing from 192.168.1.1 matches
    const n2 = twoHypervisors((self, peer) => [{ name: 'vxlan0', type: 'vxlan', remote: self === '192.168.2.2' ? '192.168.1.99' : peer, key: 100 }]);
    expect((await n2.t.ping(n2.vm1, '10.0.0.2', { count: 2, timeout: 1 })).received).toBe(0);
    expect(n2.br2.dp.stats.tnlPortNotFound).toBeGreaterThan(0);
    expect(n2.br2.drops()['upcall_error']).toBe(n2.br2.dp.stats.tnlPortNotFound);
    // fixed keys that differ: hv1 sends VNI 100, hv2 takes 200 only
    const n3 = twoHypervisors((self, peer) => [{ name: 'vxlan0', type: 'vxlan', remote: peer, key: self === '192.168.2.2' ? 200 : 100 }]);
    expect((await n3.t.ping(n3.vm1, '10.0.0.2', { count: 1, timeout: 1 })).received).toBe(0);
    expect(n3.br2.dp.stats.tnlPortNotFound).toBeGreaterThan(0);
    // the healthy pair sees none
    expect((await n.t.ping(n.vm1, '10.0.0.2', { count: 1 })).received).toBe(1);
    expect(n.br2.dp.stats.tnlPortNotFound).toBe(0);
  });

  it('traces a tunnelled packet with its tunnel fields, and output to a tunnel as set(tunnel(...))', () => {
    const n = twoHypervisors(vx(), () => 'priority=10,in_port=10,tun_id=0x64,actions=output:1\npriority=10,in_port=1,actions=output:10');
    const inTrace = n.br2.trace('in_port=vxlan0,tun_id=0x64,tun_src=192.168.1.1,tun_dst=192.168.2.2,ip,nw_src=10.0.0.1,nw_dst=10.0.0.2');
    expect(inTrace).toContain('Megaflow: recirc_id=0,eth,ip,tun_id=0x64,tun_src=192.168.1.1,tun_dst=192.168.2.2,tun_tos=0,tun_flags=-df-csum-key,in_port=10,nw_frag=no');
    expect(inTrace).toContain('Datapath actions: 1');
    const outTrace = n.br1.trace('in_port=1,udp,nw_src=10.0.0.1,nw_dst=10.0.0.2,nw_ecn=3');
    expect(outTrace).toContain('-> output to kernel tunnel');
    expect(outTrace).toContain('Datapath actions: set(tunnel(tun_id=0x64,dst=192.168.2.2,tos=0x2,ttl=64,tp_dst=4789,flags(df|key))),4789');
  });

  it('refuses bad tunnel specs with the field named', () => {
    const t = new Topology();
    const hv = t.host('hv', { ip: '192.168.1.1/24' });
    const code = (f: () => unknown): string => { try { f(); return 'none'; } catch (e) { return `${(e as InputError).code} ${(e as InputError).path ?? ''}`.trim(); } };
    expect(code(() => t.ovsBridge('a', { host: hv, tunnels: [{ name: 'v', type: 'vxlan', remote: '1.2.3' }] }))).toBe('OVS_BAD_TUNNEL tunnels[0].remote');
    expect(code(() => t.ovsBridge('b', { host: hv, tunnels: [{ name: 'v', type: 'vxlan', remote: '1.2.3.4', key: 'x' }] }))).toBe('OVS_BAD_TUNNEL tunnels[0].key');
    expect(code(() => t.ovsBridge('c', { host: hv, tunnels: [{ name: 'v', type: 'vxlan', remote: '1.2.3.4', dstPort: 0 }] }))).toBe('OVS_BAD_TUNNEL tunnels[0].dstPort');
    expect(code(() => t.ovsBridge('d', { host: hv, tunnels: [{ name: 'v', type: 'gre' as 'vxlan', remote: '1.2.3.4' }] }))).toBe('OVS_BAD_TUNNEL tunnels[0].type');
    expect(() => t.ovsBridge('e', { tunnels: [{ name: 'v', type: 'vxlan', remote: '1.2.3.4' }] })).toThrow(OvsBridgeError);
    const f = t.ovsBridge('f', { host: hv, tunnels: [{ name: 'v1', type: 'vxlan', remote: '1.2.3.4', key: 1 }] });
    expect(() => f.addTunnelPort({ name: 'v2', type: 'vxlan', remote: '1.2.3.4', key: 1 })).toThrow(/same config as port 'v1'/);
    expect(f.addTunnelPort({ name: 'v3', type: 'vxlan', remote: '1.2.3.4', key: 2 }).odp).toBe(4789);
    // the host's UDP 4789 is f's: another bridge on the same host cannot have it
    expect(code(() => t.ovsBridge('g', { host: hv, tunnels: [{ name: 'v', type: 'vxlan', remote: '1.2.3.5' }] }))).toBe('OVS_TUNNEL_PORT_IN_USE');
  });

  it('topology files: tunnel ports on an OVS bridge with a host, bad ones refused with line and field', async () => {
    const base = (tun: string, host = 'hv1'): string => [
      'hosts:', '  - { name: hv1, ip: 192.168.1.1/24 }', '  - { name: hv2, ip: 192.168.1.2/24 }',
      '  - { name: vm1, ip: 10.0.0.1/24 }', '  - { name: vm2, ip: 10.0.0.2/24 }',
      'ovsBridges:', `  - name: br1`, `    host: ${host}`, '    defaultFlows: normal', '    tunnels:', `      - ${tun}`,
      '  - name: br2', '    host: hv2', '    defaultFlows: normal', '    tunnels:', '      - { name: vxlan0, type: vxlan, remote: 192.168.1.1, key: 100 }',
      'links:', '  - { a: hv1, b: hv2 }', '  - { a: vm1, b: "br1:tap1" }', '  - { a: vm2, b: "br2:tap2" }', '',
    ].join('\n');
    const t = buildTopology(loadTopology(base('{ name: vxlan0, type: vxlan, remote: 192.168.1.2, key: 100 }')));
    expect((await t.ping('vm1', '10.0.0.2', { count: 1 })).received).toBe(1);
    const err = (text: string): string => {
      try { buildTopology(loadTopology(text)); return 'none'; } catch (e) { const f = e as TopologyFileError; return `${f.code} ${f.line} ${f.field}`; }
    };
    expect(err(base('{ name: vxlan0, type: gre, remote: 192.168.1.2 }'))).toBe('TOPO_BAD_VALUE 11 ovsBridges[0].tunnels[0].type');
    expect(err(base('{ name: vxlan0, type: vxlan, remote: 192.168.1.2, vni: 1 }'))).toBe('TOPO_UNKNOWN_KEY 11 ovsBridges[0].tunnels[0].vni');
    expect(err(base('{ name: vxlan0, type: vxlan, remote: 192.168.1 }'))).toBe('OVS_BAD_TUNNEL 11 ovsBridges[0].tunnels[0]');
    expect(err(base('{ name: vxlan0, type: vxlan, remote: 192.168.1.2 }', 'hv9'))).toBe('TOPO_NO_NODE 7 ovsBridges[0].host');
  });
});
