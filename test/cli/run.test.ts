/**
 * `sdnemu run` end to end: a topology file and a TypeScript script, the captures they write, and
 * a bad file refused with its line.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { scratch, sdnemu } from './run.js';
import { readPcap } from '../../src/pcap/reader.js';

const { dir, file } = scratch('sdnemu-run-');

describe('sdnemu run', () => {
  it('runs a topology file: the tools\' output, and the capture written where the file says', () => {
    const topo = file('t.yaml', `hosts:\n  - { name: a, ip: 10.0.0.1/24 }\n  - { name: b, ip: 10.0.0.2/24 }\nlinks:\n  - { a: a, b: b, delay: 2ms }\n`
      + `run:\n  - capture: { at: b:eth0, file: ${join(dir, 'b.pcap')} }\n  - ping: { from: a, to: 10.0.0.2, count: 1 }\n`);
    const r = sdnemu(['run', topo]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=8.00 ms');
    expect(r.stdout).toContain(`wrote 4 frames to ${join(dir, 'b.pcap')}`);
    const recs = [...readPcap(readFileSync(join(dir, 'b.pcap')))];
    expect(recs.length).toBe(4);
    // virtual time in the capture: the ARP request arrives after one 2 ms link delay
    expect([recs[0]!.tsSec, recs[0]!.tsNsec]).toEqual([0, 2_000_000]);
  });

  it('runs the OVS overlay example: VMs on two hypervisors\' OVS bridges ping across VXLAN and Geneve ports through the underlay', () => {
    const text = readFileSync('examples/ovs-vxlan-overlay.yaml', 'utf8').replace('file: ovs-vxlan-underlay.pcap', `file: ${join(dir, 'ovs-underlay.pcap')}`);
    const r = sdnemu(['run', file('ovs-vxlan-overlay.yaml', text)]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('2 packets transmitted, 2 received, 0% packet loss');
    expect(r.stdout.match(/2 received, 0% packet loss/g)).toHaveLength(2);
    // the underlay between the router and hv2: VXLAN (VNI 100) and Geneve (VNI 0x1f5) datagrams between the hypervisors
    const seen = new Set<string>();
    for (const rec of readPcap(readFileSync(join(dir, 'ovs-underlay.pcap')))) {
      const f = rec.data;
      if (f[12] !== 0x08 || f[13] !== 0x00 || f[23] !== 17) continue;
      const dport = (f[36]! << 8) | f[37]!, vni = (f[46]! << 16) | (f[47]! << 8) | f[48]!;
      seen.add(`${f.slice(26, 30).join('.')}>${f.slice(30, 34).join('.')} ${dport} ${vni}`);
    }
    // plus NORMAL's floods into the Geneve port (key=flow: the packet's tun_id — 0 for vm1's ARP
    // broadcast on hv1, 100 for vm2's arriving from vxlan0 on hv2), which the far side drops
    expect([...seen].sort()).toEqual([
      '192.168.1.2>192.168.2.2 4789 100', '192.168.1.2>192.168.2.2 6081 0', '192.168.1.2>192.168.2.2 6081 501',
      '192.168.2.2>192.168.1.2 4789 100', '192.168.2.2>192.168.1.2 6081 100', '192.168.2.2>192.168.1.2 6081 501',
    ]);
  });

  it('runs a TypeScript script that builds its own topology', () => {
    const r = sdnemu(['run', 'examples/routed-chain.ts']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(' 3  10.0.2.2  8.004 ms');
    expect(r.stdout).toContain('From 10.0.12.2 icmp_seq=1 Frag needed and DF set (mtu = 1400)');
  });

  it('runs the security-groups example: one port allowed, another blocked, a remote group, the trace naming Neutron\'s tables', () => {
    const r = sdnemu(['run', 'examples/security-groups.ts']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/client -> web:80 +HTTP\/1\.0 200 OK {2}hello/);
    expect(r.stdout).toMatch(/client -> web:22 +ETIMEDOUT/);
    expect(r.stdout).toMatch(/web +-> db:5432 +postgres ready/);
    expect(r.stdout).toMatch(/client -> db:5432 +ETIMEDOUT/);
    expect(r.stdout).toContain('71. ip,reg5=0x3,in_port=3,dl_src=fa:16:3e:00:00:03,nw_src=10.0.0.3, priority 65');
  });

  it('the demo (npm start) runs the VXLAN overlay example and the NAT gateway example and writes the underlay capture', () => {
    const pcap = join(dir, 'demo.pcap');
    const r = sdnemu(['demo', '-w', pcap]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('64 bytes from 10.10.0.3: icmp_seq=1 ttl=64');
    expect(r.stdout).toMatch(/00:00:00:00:00:00 dst 192\.168\.2\.2 self permanent/);
    expect(r.stdout).toMatch(/192\.168\.1\.2\.\d+ > 192\.168\.2\.2\.4789: VXLAN, flags \[I\] \(0x08\), vni 100/);
    expect(r.stdout).toContain('64 bytes from 203.0.113.50: icmp_seq=1 ttl=63');
    expect([...readPcap(readFileSync(pcap))].length).toBeGreaterThan(10);
  });

  it('runs the cloud example: two tenants with one CIDR apart by VNI, SNAT, a NAT gateway, a floating IP from the internet', () => {
    const text = readFileSync('examples/cloud.yaml', 'utf8').replace('file: cloud-underlay.pcap', `file: ${join(dir, 'cloud-underlay.pcap')}`);
    const r = sdnemu(['run', file('cloud.yaml', text)]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.match(/2 packets transmitted, 2 received, 0% packet loss/g)).toHaveLength(4);
    expect(r.stdout).toContain('$ internet: tcp 203.0.113.3:80  "hello from web1"');
    // the bridges inspected as ovs-ofctl and ofproto/trace show them: br-tun's VNI → local VLAN table, its ARP responder
    expect(r.stdout).toContain('$ ovs-ofctl dump-flows compute1/br-tun table=4\n');
    expect(r.stdout).toMatch(/table=4, n_packets=\d+, n_bytes=\d+, idle_age=\d+, priority=1,tun_id=0x1 actions=mod_vlan_vid:\d+,resubmit\(,10\)/);
    expect(r.stdout).toMatch(/21\. arp,dl_vlan=1,arp_tpa=10\.0\.1\.3, priority 1\n {4}load:0x2->NXM_OF_ARP_OP\[\]/);
    expect(r.stdout).toMatch(/Datapath actions: set\(eth\(src=fa:16:3e:[0-9a-f:]+,dst=fa:16:3e:00:00:01\)\),set\(arp\(sip=10\.0\.1\.3,tip=10\.0\.1\.2,op=2/);
    // on compute1's underlay: web1's echoes to web2 (compute2) in acme's VNI, app1's to app2 (compute3) in globex's
    const seen = new Set<string>();
    for (const rec of readPcap(readFileSync(join(dir, 'cloud-underlay.pcap')))) {
      const f = rec.data;
      if (f[12] !== 0x08 || f[13] !== 0x00 || f[23] !== 17 || ((f[36]! << 8) | f[37]!) !== 4789) continue;
      const vni = (f[46]! << 16) | (f[47]! << 8) | f[48]!, outerDst = f.slice(30, 34).join('.'), innerDst = f.slice(50 + 30, 50 + 34).join('.');
      seen.add(`${vni} ${outerDst} ${innerDst}`);
    }
    expect(seen).toContain('1 192.168.0.12 10.0.1.3');
    expect(seen).toContain('2 192.168.0.13 10.0.1.3');
  });

  it('refuses a step naming a bridge that is not there, with its line', () => {
    const topo = file('nobridge.yaml', `hosts:\n  - { name: a, ip: 10.0.0.1/24 }\nrun:\n  - dumpFlows: { bridge: br9 }\n`);
    const r = sdnemu(['run', topo]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("sdnemu: TOPO_NO_NODE: line 4: run[0].dumpFlows.bridge: no OVS bridge named 'br9'\n");
  });

  it('refuses a bad cloud file with its line and field, exit status 1', () => {
    const bad = file('bad-cloud.yaml', `hypervisors:\n  - { name: hv1, region: r1, az: az1, vcpus: 4, ramMb: 4096, ip: 192.168.0.11 }\n`
      + `vpcs:\n  - name: a\n    cidr: 10.0.0.0/16\n    tenant: t\n    subnets: [{ name: s1, cidr: 10.0.1.0/24 }, { name: s2, cidr: 10.0.1.128/25 }]\n`);
    const r = sdnemu(['run', bad]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("sdnemu: OverlappingSubnet: line 7: vpcs[0].subnets[1].cidr: 10.0.1.128/25 overlaps subnet 's1' 10.0.1.0/24\n");
  });

  it('refuses a bad topology file with its line, exit status 1', () => {
    const r = sdnemu(['run', file('bad.yaml', 'hosts:\n  - { name: a, ip: 10.0.0.1/24 }\nlinks:\n  - { a: a, b: nowhere }\n')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/line 4: links\[0\]\.b: no host, router, gateway or bridge named 'nowhere'/);
    expect(existsSync(join(dir, 'nothing.pcap'))).toBe(false);
  });
});
