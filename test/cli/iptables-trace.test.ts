/**
 * `sdnemu iptables-trace` end to end (a child process on the sources through tsx): rules and a
 * host file in, JSON per packet out, errors naming the line or field. The host path's agreement
 * with the kernel is test/netfilter/stack-kernel.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { scratch, sdnemu } from './run.js';

const { file } = scratch('sdnemu-ipt-');

const RULES = file('rules', `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
-A PREROUTING -j KUBE-SERVICES
-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.1.5:8080
-A POSTROUTING -o eth-ext -j MASQUERADE
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A FORWARD -p udp -m udp --dport 53 -j REJECT --reject-with icmp-port-unreachable
COMMIT
`);
const HOST = file('host.yaml', `interfaces:
  - { name: eth-ext, addresses: [192.168.50.1/24] }
  - { name: eth-pod, addresses: [10.244.1.1/24] }
routes:
  - { dst: default, via: 192.168.50.254, dev: eth-ext }
sysctls:
  net.ipv4.ip_forward: 1
`);

describe('sdnemu iptables-trace', () => {
  it('DNAT, the reply un-NATed, a REJECT answer, with the matched rules and conntrack', () => {
    const r = sdnemu(['iptables-trace', '--rules', RULES, '--host', HOST,
      '--packet', 'tcp 192.168.50.7:40000 > 10.96.0.10:80 in eth-ext',
      '--packet', 'tcp 10.244.1.5:8080 > 192.168.50.7:40000 in eth-pod flags SA seq 5 ack 1001',
      '--packet', 'udp 10.244.1.5:5000 > 8.8.8.8:53 in eth-pod']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { verdict: string; path: string; hooks: { table: string; hook: string; matched: string[] }[];
      out: { iface: string; packet: string } | null; reply: { iface: string; packet: string } | null; conntrack: string[] }[];
    expect(out[0]!.out).toEqual({ iface: 'eth-pod', packet: 'tcp 192.168.50.7:40000 > 10.244.1.5:8080 flags S seq 1000 ack 0 ttl 63' });
    expect(out[0]!.hooks.find((h) => h.table === 'nat' && h.hook === 'PREROUTING')!.matched).toEqual([
      '-A PREROUTING -j KUBE-SERVICES', '-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.1.5:8080']);
    expect(out[0]!.conntrack).toEqual(['tcp      6 120 SYN_SENT src=192.168.50.7 dst=10.96.0.10 sport=40000 dport=80 [UNREPLIED] src=10.244.1.5 dst=192.168.50.7 sport=8080 dport=40000 mark=0 use=1']);
    expect(out[1]!.out!.packet).toBe('tcp 10.96.0.10:80 > 192.168.50.7:40000 flags SA seq 5 ack 1001 ttl 63');
    expect(out[2]!.verdict).toBe('REJECT');
    expect(out[2]!.reply).toEqual({ iface: 'eth-pod', packet: 'icmp 10.244.1.1 > 10.244.1.5 type 3 code 3 ttl 64' });
  });

  it('-m set rules read the sets of --ipsets; a rule naming a missing set is refused', () => {
    const rules = file('setrules', '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n'
      + '-A FORWARD -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT\n-A FORWARD -j DROP\nCOMMIT\n');
    const sets = file('sets', 'create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\nadd KUBE-CLUSTER-IP 10.244.1.5,tcp:8080\n');
    const r = sdnemu(['iptables-trace', '--rules', rules, '--host', HOST, '--ipsets', sets,
      '--packet', 'tcp 192.168.50.7:1 > 10.244.1.5:8080 in eth-ext', '--packet', 'tcp 192.168.50.7:1 > 10.244.1.5:8081 in eth-ext']);
    expect(r.stderr).toBe('');
    expect((JSON.parse(r.stdout) as { verdict: string }[]).map((x) => x.verdict)).toEqual(['ACCEPT', 'DROP']);
    const missing = sdnemu(['iptables-trace', '--rules', rules, '--host', HOST, '--packet', 'tcp 192.168.50.7:1 > 10.244.1.5:8080 in eth-ext']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/Set KUBE-CLUSTER-IP doesn't exist/);
  });

  it('--ipvs: a virtual service in the packet path, its step among the hooks and the IPVS connection table; a bad ipvsadm line names its line', () => {
    const rules = file('vsrules', '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n');
    const host = file('vshost.yaml', 'interfaces:\n  - { name: eth-ext, addresses: [192.168.50.1/24] }\n  - { name: eth-pod, addresses: [10.244.1.1/24] }\n'
      + '  - { name: kube-ipvs0, addresses: [10.96.0.10/32] }\nsysctls:\n  net.ipv4.ip_forward: 1\n  net.ipv4.vs.conntrack: 1\n');
    const vs = file('ipvs', '-A -t 10.96.0.10:80 -s rr\n-a -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 1\n');
    const r = sdnemu(['iptables-trace', '--rules', rules, '--host', host, '--ipvs', vs, '--packet', 'tcp 192.168.50.7:40000 > 10.96.0.10:80 in eth-ext']);
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { path: string; hooks: Record<string, unknown>[]; out: { iface: string; packet: string }; conntrack: string[]; ipvs: Record<string, unknown>[] }[];
    expect(out[0]!.path).toBe('ipvs');
    expect(out[0]!.hooks).toContainEqual({ hook: 'INPUT', table: 'ipvs', verdict: 'STOLEN', action: 'scheduled', service: 'TCP  10.96.0.10:80 rr',
      server: '10.244.1.5:8080', fwd: 'masq', state: 'SYN_RECV', candidates: ['10.244.1.5:8080'] });
    expect(out[0]!.out).toEqual({ iface: 'eth-pod', packet: 'tcp 192.168.50.7:40000 > 10.244.1.5:8080 flags S seq 1000 ack 0 ttl 63' });
    expect(out[0]!.conntrack[0]).toContain('[UNREPLIED] src=10.244.1.5 dst=192.168.50.7 sport=8080 dport=40000');
    expect(out[0]!.ipvs).toEqual([expect.objectContaining({ state: 'SYN_RECV', source: '192.168.50.7:40000', virtual: '10.96.0.10:80', destination: '10.244.1.5:8080' })]);
    const bad = sdnemu(['iptables-trace', '--rules', rules, '--ipvs', file('badvs', '-A -t 10.96.0.10:80 -s rr\n-a -t 10.96.0.10:80 -r nowhere -m\n'),
      '--packet', 'tcp 1.1.1.1:1 > 2.2.2.2:2 in eth0']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/line 2/);
  });

  it('errors name the line and token, the field, or the packet token', () => {
    const bad = sdnemu(['iptables-trace', '--rules', file('bad', '*filter\n-A INPUT -m frob -j ACCEPT\nCOMMIT\n'), '--packet', 'tcp 1.1.1.1:1 > 2.2.2.2:2 in eth0']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/line 2/);
    const host = sdnemu(['iptables-trace', '--rules', RULES, '--host', file('h2', 'interfaces:\n  - { name: a, addresses: [300.1.1.1/24] }\n'), '--packet', 'tcp 1.1.1.1:1 > 2.2.2.2:2 in a']);
    expect(host.stderr).toMatch(/interfaces\[0\]\.addresses\[0\]/);
    const pkt = sdnemu(['iptables-trace', '--rules', RULES, '--packet', 'tcp 1.1.1.1 > 2.2.2.2:2 in eth0']);
    expect(pkt.stderr).toMatch(/needs a port/);
  });
});
