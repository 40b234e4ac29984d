// IPVS in the host's packet path (kube-proxy's ipvs mode): the hooks IPVS sits at, what it does
// to the packets and to conntrack. This kernel has no ip_vs module (ORACLES.md), so the expected
// results are read from net/netfilter/ipvs (ip_vs_core.c's hook priorities, ip_vs_xmit.c's NAT,
// DR and IPIP transmitters, ip_vs_proto_tcp.c's tcp_conn_schedule, ip_vs_leave) and stated here.
import { describe, expect, it } from 'vitest';
import { NfStack } from '../../src/netfilter/stack.js';
import { parseRestore } from '../../src/netfilter/restore.js';
import { parseHost } from '../../src/netfilter/host.js';
import { Ipsets } from '../../src/netfilter/ipset.js';
import { Ipvs } from '../../src/netfilter/ipvs.js';
import { FrameBuilder } from '../../src/wire/builder.js';
import { packetText } from '../../src/cli/iptables-trace.js';
import { be16, be32, parseIpv4 } from '../../src/wire/bytes.js';
import { fold, ipv4PseudoSum, sum16 } from '../../src/wire/checksum.js';

/** Every checksum of an Ethernet/IPv4 frame holds: the header's, and TCP's/UDP's over the pseudo-header. */
function verifyIpv4Frame(f: Uint8Array): boolean {
  const ihl = (f[14]! & 15) * 4, end = 14 + be16(f, 16), proto = f[23]!;
  if (fold(sum16(f, 14, 14 + ihl)) !== 0) return false;
  if (proto !== 6 && proto !== 17) return true;
  const acc = ipv4PseudoSum(be32(f, 26), be32(f, 30), proto, end - 14 - ihl);
  return fold(sum16(f, 14 + ihl, end, acc)) === 0;
}

const HOST = (vsConntrack: 0 | 1): string => `interfaces:
  - { name: eth-ext, addresses: [192.168.50.1/24] }
  - { name: eth-pod, addresses: [10.244.1.1/24] }
  - { name: kube-ipvs0, addresses: [10.96.0.10/32] }
routes:
  - { dst: default, via: 192.168.50.254, dev: eth-ext }
  - { dst: 10.244.2.0/24, via: 192.168.50.12, dev: eth-ext }
sysctls:
  net.ipv4.ip_forward: 1
  net.ipv4.vs.conntrack: ${vsConntrack}
`;
// kube-proxy's ipvs-mode nat table (pkg/proxy/ipvs/proxier.go), trimmed to one ClusterIP
const RULES = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODE-PORT - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
-A KUBE-SERVICES ! -s 10.244.0.0/16 -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ
-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT
-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT
COMMIT
`;
const SETS = `create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536
add KUBE-CLUSTER-IP 10.96.0.10,tcp:80
add KUBE-CLUSTER-IP 10.96.0.10,udp:53
create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536
add KUBE-LOOP-BACK 10.244.1.5,tcp:8080,10.244.1.5
`;
// the server added last is at the head of the kernel's list: rr picks 10.244.1.5 first
const IPVS = (fwd: '-m' | '-g' | '-i'): string => `-A -t 10.96.0.10:80 -s rr
-a -t 10.96.0.10:80 -r 10.244.2.7:8080 ${fwd} -w 1
-a -t 10.96.0.10:80 -r 10.244.1.5:8080 ${fwd} -w 1
-A -u 10.96.0.10:53 -s rr
`;

function node(o: { vsConntrack?: 0 | 1; fwd?: '-m' | '-g' | '-i' } = {}): NfStack {
  const sets = new Ipsets();
  sets.restore(SETS);
  const ipvs = new Ipvs();
  ipvs.restore(IPVS(o.fwd ?? '-m'));
  return new NfStack(parseRestore(RULES), parseHost(HOST(o.vsConntrack ?? 1)), { ipsets: sets, ipvs });
}
const ip = (s: string): number => parseIpv4(s)!;
function tcp(src: string, sport: number, dst: string, dport: number, flags: string, seq = 1000, ack = 0): Uint8Array {
  return new FrameBuilder().eth({ src: '02:50:00:00:00:02', dst: '02:00:00:00:00:01' }).ipv4({ src: ip(src), dst: ip(dst), ttl: 64, ident: 1 })
    .tcp({ srcPort: sport, dstPort: dport, flags, seq, ack, window: 8192 }).build();
}
const steps = (r: ReturnType<NfStack['receive']>): string[] =>
  r.hooks.map((h) => `${h.table}/${h.hook}/${h.verdict}${h.ipvs ? ` ${h.ipvs.action} ${h.ipvs.server ?? '-'} ${h.ipvs.state ?? '-'}` : ''}`);

describe('IPVS NAT (-m) in the host path, kube-proxy ipvs mode', () => {
  it('a client\'s SYN to the ClusterIP: nat PREROUTING marks it, IPVS schedules it after filter INPUT, MASQUERADE in POSTROUTING', () => {
    const st = node();
    const r = st.receive(tcp('192.168.50.7', 40000, '10.96.0.10', 80, 'S'), 'eth-ext', 0);
    expect(r.path).toBe('ipvs');
    expect(steps(r)).toEqual(['nat/PREROUTING/ACCEPT', 'ipvs/INPUT/STOLEN scheduled 10.244.1.5:8080 SYN_RECV', 'nat/POSTROUTING/MASQUERADE']);
    // NAT to the real server, TTL − 1 (decrement_ttl), source from MASQUERADE on the pod interface
    expect(r.out!.iface).toBe('eth-pod');
    expect(packetText(r.out!.frame)).toBe('tcp 10.244.1.1:40000 > 10.244.1.5:8080 flags S seq 1000 ack 0 ttl 63');
    expect(verifyIpv4Frame(r.out!.frame)).toBe(true);
    // ip_vs_update_conntrack: the reply tuple names the real server, then MASQUERADE's node address
    expect(st.ct.dump(0)).toEqual(['tcp      6 120 SYN_SENT src=192.168.50.7 dst=10.96.0.10 sport=40000 dport=80 [UNREPLIED] src=10.244.1.5 dst=10.244.1.1 sport=8080 dport=40000 mark=0 use=1']);
    expect(st.ipvs!.connections(0).map((c) => `${c.state} ${c.source} ${c.virtual} ${c.destination}`)).toEqual(['SYN_RECV 192.168.50.7:40000 10.96.0.10:80 10.244.1.5:8080']);
  });

  it('the server\'s SYN-ACK: conntrack undoes MASQUERADE, IPVS gives the virtual address back after filter FORWARD; the client\'s ACK follows the connection', () => {
    const st = node();
    st.receive(tcp('192.168.50.7', 40000, '10.96.0.10', 80, 'S'), 'eth-ext', 0);
    const back = st.receive(tcp('10.244.1.5', 8080, '10.244.1.1', 40000, 'SA', 5000, 1001), 'eth-pod', 1);
    expect(steps(back)).toEqual(['ipvs/FORWARD/ACCEPT reply 10.244.1.5:8080 SYN_RECV']);
    expect(back.out!.iface).toBe('eth-ext');
    expect(packetText(back.out!.frame)).toBe('tcp 10.96.0.10:80 > 192.168.50.7:40000 flags SA seq 5000 ack 1001 ttl 63');
    expect(verifyIpv4Frame(back.out!.frame)).toBe(true);
    const ack = st.receive(tcp('192.168.50.7', 40000, '10.96.0.10', 80, 'A', 1001, 5001), 'eth-ext', 2);
    expect(steps(ack)).toEqual(['ipvs/INPUT/STOLEN forwarded 10.244.1.5:8080 ESTABLISHED']);
    expect(packetText(ack.out!.frame)).toBe('tcp 10.244.1.1:40000 > 10.244.1.5:8080 flags A seq 1001 ack 5001 ttl 63');
    expect(st.ct.dump(2)[0]).toMatch(/^tcp {6}6 432000 ESTABLISHED src=192\.168\.50\.7 dst=10\.96\.0\.10 .* src=10\.244\.1\.5 dst=10\.244\.1\.1 sport=8080 dport=40000 \[ASSURED\]/);
    expect(st.ipvs!.list()).toContain('  -> 10.244.1.5:8080              Masq    1      1          0');
  });

  it('round robin: the next connection goes to the other server, through the other node', () => {
    const st = node();
    st.receive(tcp('192.168.50.7', 40000, '10.96.0.10', 80, 'S'), 'eth-ext', 0);
    const r = st.receive(tcp('192.168.50.8', 40001, '10.96.0.10', 80, 'S'), 'eth-ext', 1);
    expect(r.out!.iface).toBe('eth-ext');
    expect(packetText(r.out!.frame)).toBe('tcp 192.168.50.1:40001 > 10.244.2.7:8080 flags S seq 1000 ack 0 ttl 63');
  });

  it('a TCP segment that is not a SYN starts no IPVS connection: it is delivered to the host, whose stack resets it', () => {
    const st = node();
    const r = st.receive(tcp('192.168.50.7', 40000, '10.96.0.10', 80, 'A', 1001, 5001), 'eth-ext', 0);
    expect(r.path).toBe('local');
    expect(r.hooks.some((h) => h.table === 'ipvs')).toBe(false);
    expect(packetText(r.reply!.frame)).toBe('tcp 10.96.0.10:80 > 192.168.50.7:40000 flags R seq 5001 ack 0 ttl 64');
    expect(st.ipvs!.connections(0)).toEqual([]);
  });

  it('a service without servers answers ICMP port unreachable from the virtual address (ip_vs_leave), for UDP as for TCP', () => {
    const st = node();
    const q = new FrameBuilder().eth({}).ipv4({ src: ip('192.168.50.7'), dst: ip('10.96.0.10'), ttl: 64, ident: 1 }).udp({ srcPort: 5353, dstPort: 53 }).build();
    const r = st.receive(q, 'eth-ext', 0);
    expect(r.verdict).toBe('REJECT');
    expect(steps(r)).toEqual(['nat/PREROUTING/ACCEPT', 'ipvs/INPUT/DROP no-server - -']);
    expect(packetText(r.reply!.frame)).toBe('icmp 10.96.0.10 > 192.168.50.7 type 3 code 3 ttl 64');
    expect(r.reply!.iface).toBe('eth-ext');
    expect(st.ct.dump(0)).toEqual([]);
  });

  it('with net.ipv4.vs.conntrack 0 the forwarded packet is untracked: no MASQUERADE, no conntrack entry', () => {
    const st = node({ vsConntrack: 0 });
    const r = st.receive(tcp('192.168.50.7', 40000, '10.96.0.10', 80, 'S'), 'eth-ext', 0);
    expect(steps(r)).toEqual(['nat/PREROUTING/ACCEPT', 'ipvs/INPUT/STOLEN scheduled 10.244.1.5:8080 SYN_RECV']);
    expect(r.ctinfo).toBe('UNTRACKED');
    expect(packetText(r.out!.frame)).toBe('tcp 192.168.50.7:40000 > 10.244.1.5:8080 flags S seq 1000 ack 0 ttl 63');
    expect(st.ct.dump(0)).toEqual([]);
  });

  it('a packet the node sends to the ClusterIP: nat OUTPUT marks it, IPVS schedules it at LOCAL_OUT, MASQUERADE', () => {
    const st = node();
    // an unbound socket to a local address takes that address as its source
    const r = st.send(tcp('10.96.0.10', 41000, '10.96.0.10', 80, 'S'), 0);
    expect(steps(r)).toEqual(['nat/OUTPUT/ACCEPT', 'ipvs/OUTPUT/STOLEN scheduled 10.244.1.5:8080 SYN_RECV', 'nat/POSTROUTING/MASQUERADE']);
    expect(packetText(r.out!.frame)).toBe('tcp 10.244.1.1:41000 > 10.244.1.5:8080 flags S seq 1000 ack 0 ttl 63');
  });
});

describe('IPVS direct routing (-g) and IPIP (-i)', () => {
  it('direct routing sends the packet unchanged, to the real server as next hop', () => {
    const st = node({ fwd: '-g' });
    const r = st.receive(tcp('192.168.50.7', 40000, '10.96.0.10', 80, 'S'), 'eth-ext', 0);
    expect(steps(r)).toEqual(['nat/PREROUTING/ACCEPT', 'ipvs/INPUT/STOLEN scheduled 10.244.1.5:8080 SYN_RECV', 'nat/POSTROUTING/MASQUERADE']);
    expect(r.out!.iface).toBe('eth-pod');
    // the destination stays the VIP; kube-proxy's mark still masquerades the source
    expect(packetText(r.out!.frame)).toBe('tcp 10.244.1.1:40000 > 10.96.0.10:80 flags S seq 1000 ack 0 ttl 63');
    // DR does not alter the reply tuple
    expect(st.ct.dump(0)[0]).toContain('[UNREPLIED] src=10.96.0.10 dst=10.244.1.1 sport=80 dport=40000');
  });

  it('IPIP wraps the packet in a header from the route\'s source to the real server; the outer packet is tracked afresh', () => {
    const st = node({ fwd: '-i' });
    const r = st.receive(tcp('192.168.50.7', 40000, '10.96.0.10', 80, 'S'), 'eth-ext', 0);
    expect(r.path).toBe('ipvs');
    expect(r.out!.iface).toBe('eth-pod');
    const f = r.out!.frame;
    expect(packetText(f)).toBe('ip 10.244.1.1 > 10.244.1.5 proto 4 ttl 63');
    expect(verifyIpv4Frame(f)).toBe(true);
    expect(packetText(new Uint8Array([...f.subarray(0, 14), ...f.subarray(34)]))).toBe('tcp 192.168.50.7:40000 > 10.96.0.10:80 flags S seq 1000 ack 0 ttl 63');
    expect(st.ct.dump(0).map((l) => l.split(' ')[0])).toEqual(expect.arrayContaining(['tcp', 'unknown']));
  });
});
