/**
 * OVS tunnel ports on a hypervisor (src/devices/ovs-tunnel.ts, xlate.ts kernelTunnelOutput,
 * datapath tnl_find) against the real thing. Under CI=true a missing tool FAILS the suite.
 *
 *  1. Open vSwitch 3.1 (userspace, dummy datapath, its own sandbox: test/oracle/ovs.ts) with
 *     native tunnelling switched off (`ovs-appctl dpif/set-dp-features br-tun tnl_push_pop
 *     false`: translation then does what it does on the kernel datapath — "output to kernel
 *     tunnel", `set(tunnel(...))`, output to vxlan_sys_4789): the same ports (fixed key,
 *     key=flow, remote_ip=flow, Geneve with local_ip, no key, csum/df_default/ttl/tos=inherit/
 *     dst_port) and flows in both; every `ofproto/trace` text equal, line for line — output to
 *     tunnels (lazy set(tunnel) commit, ECN folding, "Not tunneling to our own address") and
 *     tunnelled input (tun_id matches, the tunnel part of the megaflow).
 *  2. Which OpenFlow port a tunnelled packet maps to (tnl_find): OVS's `ofproto/trace` of the
 *     datapath form `tunnel(tun_id=..,src=..,dst=..,flags(key)),in_port(4789),…` resolves the
 *     port (its Flow: line names it) or fails with "no OpenFlow tunnel port for this packet";
 *     Datapath.tunnelOfport must give the same port, or -1.
 *  3. The encapsulated bytes against scapy (/usr/bin/python3): what hv1 puts on the wire for a
 *     VM's frame through a VXLAN port and a Geneve port (with options:csum=true), rebuilt by
 *     scapy from the same inner frame and the fields OVS's kernel datapath sets (DF, TTL 64,
 *     TOS 0, IPv4 id 0, UDP checksum only with csum) — byte for byte, the UDP source port
 *     taken from ours (the kernel's is a keyed hash).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Topology } from '../../src/topology/topology.js';
import type { OvsBridge, OvsTunnelSpec } from '../../src/devices/ovs-bridge.js';
import { be16, parseIpv4, toHex } from '../../src/wire/bytes.js';
import { FrameBuilder } from '../../src/wire/builder.js';
import { describeWith, scapy, scapyBytes } from '../oracle/tools.js';
import { OvsCommandError, OvsSandbox } from '../oracle/ovs.js';

const TUNNELS: OvsTunnelSpec[] = [
  { name: 'vxlan0', type: 'vxlan', remote: '192.168.2.2', key: 100, ofport: 10 },
  { name: 'vxflow', type: 'vxlan', remote: 'flow', key: 'flow', ofport: 11 },
  { name: 'gnv0', type: 'geneve', remote: '192.168.2.2', key: 'flow', local: '192.168.1.1', ofport: 12 },
  { name: 'vxnokey', type: 'vxlan', remote: '192.168.2.3', ofport: 13 },
  { name: 'vxopts', type: 'vxlan', remote: '192.168.2.4', key: 5, dstPort: 8472, ofport: 14,
    options: { csum: 'true', df_default: 'false', ttl: '9', tos: 'inherit' } },
];

const FLOWS = [
  'priority=10,in_port=1,ip,nw_dst=10.0.0.2,actions=output:10',
  'priority=10,in_port=1,ip,nw_dst=10.0.0.3,actions=set_field:192.168.2.9->tun_dst,set_field:0x7->tun_id,output:11',
  'priority=10,in_port=1,ip,nw_dst=10.0.0.4,actions=set_field:0x9->tun_id,output:12',
  'priority=10,in_port=1,udp,nw_dst=10.0.1.5,actions=output:13',
  'priority=10,in_port=1,udp,nw_dst=10.0.1.6,actions=output:14',
  'priority=10,in_port=1,udp,nw_dst=10.0.1.9,actions=output:10,output:10,set_field:0x5->tun_id,output:11,output:1',
  'priority=10,in_port=1,udp,nw_dst=10.0.1.10,actions=output:10,mod_nw_dst:1.2.3.4,output:14',
  'priority=10,in_port=10,tun_id=0x64,actions=output:1',
  'priority=10,in_port=11,tun_id=0x7,actions=move:NXM_NX_TUN_IPV4_SRC[]->NXM_NX_REG1[],output:1',
  'priority=1,in_port=10,actions=drop',
].join('\n');

const TRACES = [
  'in_port=1,ip,nw_src=10.0.0.1,nw_dst=10.0.0.2',
  'in_port=1,ip,nw_src=10.0.0.1,nw_dst=10.0.0.3',
  'in_port=1,ip,nw_src=10.0.0.1,nw_dst=10.0.0.4',
  'in_port=1,udp,nw_src=10.0.0.1,nw_dst=10.0.1.5,nw_tos=32,nw_ecn=3,nw_ttl=33',
  'in_port=1,udp,nw_src=10.0.0.1,nw_dst=10.0.1.6,nw_tos=32,nw_ecn=1,nw_ttl=33',
  'in_port=1,udp,nw_src=10.0.0.1,nw_dst=10.0.1.9',
  'in_port=1,udp,nw_src=10.0.0.1,nw_dst=10.0.1.10,nw_tos=32',
  'in_port=10,tun_id=0x64,tun_src=192.168.2.2,tun_dst=192.168.1.1,ip,nw_src=10.0.0.2,nw_dst=10.0.0.1',
  'in_port=10,tun_id=0x65,tun_src=192.168.2.2,tun_dst=192.168.1.1,tcp,nw_src=10.0.0.2,nw_dst=10.0.0.1,tp_dst=80',
  'in_port=11,tun_id=0x7,tun_src=192.168.2.9,tun_dst=192.168.1.1,ip,nw_src=10.0.0.9,nw_dst=10.0.0.1',
];

/** [tun_id, outer src, outer dst, datapath port] of tunnelled packets for tnl_find. */
const LOOKUPS: [number, string, string, number][] = [
  [0x64, '192.168.2.2', '192.168.1.1', 4789], // vxlan0 (fixed key)
  [0x65, '192.168.2.2', '192.168.1.1', 4789], // vxflow (key=flow, remote=flow)
  [0, '192.168.2.3', '192.168.1.1', 4789], // vxnokey: no key means key 0
  [5, '192.168.2.3', '192.168.1.1', 4789], // vxflow, not vxnokey
  [5, '192.168.2.4', '192.168.1.1', 8472], // vxopts on its own port
  [9, '192.168.2.2', '192.168.1.1', 6081], // gnv0 (local_ip matches tun_dst)
  [9, '192.168.2.2', '192.168.1.99', 6081], // gnv0's local_ip does not: no port
  [9, '192.168.2.7', '192.168.1.1', 6081], // unknown remote on Geneve: no port
];

function emulated(): { t: Topology; br: OvsBridge } {
  const t = new Topology();
  const hv1 = t.host('hv1', { ip: '192.168.1.1/24' });
  const br = t.ovsBridge('br-tun', { host: hv1, flows: FLOWS });
  br.addPort('p1', { ofport: 1 });
  for (const s of TUNNELS) br.addTunnelPort(s);
  return { t, br };
}

describeWith('ovs', 'OVS tunnel ports: sdnemu against Open vSwitch 3.1 with kernel-style tunnels', () => {
  let sb: OvsSandbox;
  const emu = emulated();

  beforeAll(async () => {
    sb = await OvsSandbox.start();
    // add-br first, then the ports, as OvsBridge adds them (LOCAL takes datapath port 1, p1 2)
    await sb.addBridge('br-tun');
    await sb.addPorts('br-tun', [{ name: 'p1', ofport: 1 }]);
    await sb.addPorts('br-tun', [
      ...TUNNELS.map((s) => ({
        name: s.name, ofport: s.ofport!, type: s.type,
        options: {
          remote_ip: s.remote, ...(s.key !== undefined ? { key: String(s.key) } : {}),
          ...(s.local !== undefined ? { local_ip: s.local } : {}), ...(s.dstPort !== undefined ? { dst_port: String(s.dstPort) } : {}),
          ...s.options,
        },
      })),
    ]);
    await sb.appctl('dpif/set-dp-features', 'br-tun', 'tnl_push_pop', 'false');
    await sb.addFlows('br-tun', FLOWS);
  }, 30_000);

  afterAll(async () => { await sb?.stop(); });

  it('numbers the tunnel ports as OVS does (dpif/show)', async () => {
    const ovs = (await sb.dpifShow()).filter((p) => p.bridge === 'br-tun' && p.ofport !== 65534).map((p) => `${p.name} ${p.ofport}/${p.odpPort}`).sort();
    const ours = emu.br.ports.map((p) => `${p.name} ${p.ofport}/${p.odp}`).sort();
    expect(ours).toEqual(ovs);
  });

  it.each(TRACES)('ofproto/trace %s: the same text', async (flow) => {
    const ovs = await sb.trace('br-tun', flow);
    expect(emu.br.trace(flow).trim()).toBe(ovs.trim());
  });

  it.each(LOOKUPS)('tnl_find: tun_id %i from %s to %s on datapath port %i', async (id, src, dst, odp) => {
    const odpFlow = `tunnel(tun_id=0x${id.toString(16)},src=${src},dst=${dst},ttl=64,flags(key)),in_port(${odp}),`
      + 'eth(src=00:00:00:00:00:01,dst=00:00:00:00:00:02),eth_type(0x0800),ipv4(src=10.0.0.2,dst=10.0.0.1,proto=1,tos=0,ttl=64,frag=no)';
    let ovsPort = -1;
    try {
      const text = await sb.appctl('ofproto/trace', odpFlow);
      ovsPort = Number(/[,:]in_port=(\d+),/.exec(text)![1]);
    } catch (e) {
      expect(e).toBeInstanceOf(OvsCommandError);
      expect((e as OvsCommandError).stdout + (e as OvsCommandError).stderr).toContain('no OpenFlow tunnel port for this packet');
    }
    expect(emu.br.dp.tunnelOfport(odp, 0, id, parseIpv4(src)!, parseIpv4(dst)!)).toBe(ovsPort);
  });
});

describeWith('scapy', 'OVS tunnel ports: encapsulated bytes against scapy', () => {
  /** hv1 with br-int (tap1 ← vm1 frames) and the tunnel 'spec' to 192.168.2.2 (a router at .254 answers ARP). */
  function wire(spec: OvsTunnelSpec, inner: Uint8Array): Uint8Array {
    const t = new Topology({ seed: 3 });
    const hv1 = t.host('hv1', { ifaces: [{ name: 'eth0', mac: '02:00:00:00:01:01', addrs: ['192.168.1.1/24'] }], routes: [{ dst: 'default', via: '192.168.1.254', dev: 'eth0' }] });
    const r = t.router('r', { ifaces: [{ name: 'eth0', mac: '02:00:00:00:01:fe', addrs: ['192.168.1.254/24'] }] });
    t.link(hv1, [r, 'eth0']);
    const br = t.ovsBridge('br-int', { host: hv1, tunnels: [{ ...spec, ofport: 10 }], flows: 'in_port=1,actions=output:10' });
    const tap = br.addPort('tap1', { ofport: 1 });
    const cap = t.capture([hv1, 'eth0'], 'out');
    br.receive(tap, inner.slice());
    t.runFor(10e6);
    const out = cap.frames.map((f) => f.data).filter((f) => be16(f, 12) === 0x0800);
    expect(out).toHaveLength(1);
    return out[0]!;
  }
  const inner = new FrameBuilder().eth({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' })
    .ipv4({ src: '10.0.0.1', dst: '10.0.0.2', ttl: 64, dscp: 0, ecn: 1 }).udp({ srcPort: 40000, dstPort: 53 }).payload('query').build();
  const head = "Ether(dst='02:00:00:00:01:fe',src='02:00:00:00:01:01')/IP(src='192.168.1.1',dst='192.168.2.2',id=0,flags='DF',ttl=64,tos=1)";

  it('VXLAN: flags I, the VNI, UDP checksum 0, DF, TTL 64, the inner ECN in the outer TOS', () => {
    const ours = wire({ name: 'vxlan0', type: 'vxlan', remote: '192.168.2.2', key: 100 }, inner);
    const expected = scapyBytes(`${head}/UDP(sport=${be16(ours, 34)},dport=4789,chksum=0)/VXLAN(flags=0x08,vni=100)/Raw(bytes.fromhex('${toHex(inner)}'))`);
    expect(toHex(ours)).toBe(toHex(expected));
  });

  it('Geneve with options:csum=true: version 0, protocol 0x6558, the VNI, a UDP checksum', () => {
    const ours = wire({ name: 'gnv0', type: 'geneve', remote: '192.168.2.2', key: 5000, options: { csum: 'true' } }, inner);
    const expected = scapy('from scapy.contrib.geneve import GENEVE\n'
      + `sys.stdout.write(bytes(${head}/UDP(sport=${be16(ours, 34)},dport=6081)/GENEVE(vni=5000,proto=0x6558)/Raw(bytes.fromhex('${toHex(inner)}'))).hex())`).trim();
    expect(toHex(ours)).toBe(expected);
  });
});
