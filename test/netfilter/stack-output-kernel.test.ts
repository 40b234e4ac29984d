/**
 * The host's OWN packets (src/netfilter/stack.ts `NfStack.send`, the OUTPUT path) against the
 * Linux kernel. Each scenario's rules run in a router namespace (test/oracle/netns.ts), where a
 * packet marked `from: 'local'` is written whole to a raw socket of the router (IP_HDRINCL:
 * raw → conntrack → mangle → nat → filter OUTPUT, the re-route after a DNAT, POSTROUTING), and
 * in NfStack, fed the same IPv4 bytes. Packets injected by a peer (answers to the host's own
 * connections) share the scenario and its one conntrack table. Compared per packet:
 *  - the source an unbound socket gets: the kernel's (`src: '0.0.0.0'`, chosen by the router's
 *    routing table) against `NfStack.sourceFor`;
 *  - whether the packet was taken: sendto() succeeded ⇔ the emulator's verdict is ACCEPT (a DROP
 *    or REJECT in OUTPUT, or a failed re-route, fails sendto());
 *  - what leaves each interface, the IP packet byte for byte; a packet the router built (ICMP
 *    error, TCP reset) with its IPv4 id and header checksum masked, as the kernel's id is not
 *    predictable. With `captureLo`, what loops back through the router's `lo` too (REJECT's
 *    answer to a local packet); otherwise the emulator's frames on 'lo' are not on any wire;
 *  - the conntrack table (`conntrack -L` without timeouts).
 * Neighbours: stack-kernel.test.ts (arriving packets, the same comparison), stack-output.test.ts
 * (the OUTPUT facts asserted directly).
 */
import { describe, expect, it } from 'vitest';
import { NfStack, type StackResult } from '../../src/netfilter/stack.js';
import { FILTER_HEAD, isRouterMade, masked, NAT_HEAD, stackHost } from './kernel-compare.js';
import { parseRestore } from '../../src/netfilter/restore.js';
import { be32, ipv4ToString, parseIpv4, toHex } from '../../src/wire/bytes.js';
import {
  describeWithKernel, normaliseConntrack, runKernelScenario,
  type HostConfig, type KernelPacket, type KernelResult, type LocalKernelPacket, type ScenarioPacket,
} from '../oracle/netns.js';

interface Scenario {
  name: string; host: HostConfig; rules: string; packets: ScenarioPacket[]; captureLo?: boolean;
  /**
   * What the kernel did with each packet, as `kernelSummary` writes it: the interfaces frames
   * left by, then sendto()'s errno; '-' for nothing. It pins each scenario to what its name
   * claims, so emulator and kernel cannot agree on something else.
   */
  kernel: string[];
}

const ROUTER: HostConfig = {
  ifaces: [{ name: 'eth-ext', addrs: ['192.168.50.1/24'] }, { name: 'eth-pod', addrs: ['10.244.1.1/24'] }],
  routes: [{ dst: 'default', via: '192.168.50.254', dev: 'eth-ext' }],
  sysctls: { ip_forward: 1 },
};

/** A SYN the router sends; src '0.0.0.0' is an unbound socket's (the route chooses). */
const localSyn = (src: string, sport: number, dst: string, dport: number, seq = 1000): LocalKernelPacket =>
  ({ from: 'local', proto: 'tcp', src, sport, dst, dport, tcpFlags: 'S', seq });
/**
 * Drops the TCP resets the router sends from port 41000 before conntrack sees them (raw OUTPUT):
 * it plays a userspace TCP, so the stack's RST to the SYN-ACK (no socket listens) does not close
 * the connection.
 */
const RAW_NO_RST = '*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -p tcp -m tcp --sport 41000 --tcp-flags RST RST -j DROP\nCOMMIT\n';
const KUBE_MASQ = `-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
`;
/** kube-proxy's localhost NodePort: addrtype LOCAL → KUBE-NODEPORTS, a 127/8 source is masqueraded. */
const NODEPORT_RULES = `${NAT_HEAD}:KUBE-SERVICES - [0:0]\n:KUBE-NODEPORTS - [0:0]\n:KUBE-EXT-A - [0:0]\n:KUBE-SVC-A - [0:0]\n:KUBE-SEP-1 - [0:0]
:KUBE-MARK-MASQ - [0:0]\n:KUBE-POSTROUTING - [0:0]
-A PREROUTING -j KUBE-SERVICES
-A OUTPUT -j KUBE-SERVICES
${KUBE_MASQ}-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-NODEPORTS -p tcp -m tcp --dport 30080 -j KUBE-EXT-A
-A KUBE-EXT-A -s 127.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-EXT-A -j KUBE-SVC-A
-A KUBE-SVC-A -j KUBE-SEP-1
-A KUBE-SEP-1 -p tcp -m tcp -j DNAT --to-destination 10.244.1.6:8080
COMMIT\n`;
const NODEPORT_PACKETS: ScenarioPacket[] = [localSyn('127.0.0.1', 42000, '127.0.0.1', 30080), localSyn('0.0.0.0', 42001, '192.168.50.1', 30080)];

const SCENARIOS: Scenario[] = [
  {
    name: 'kube-proxy ClusterIP from the node: nat OUTPUT DNAT by nth, masquerade mark, MASQUERADE; the pods\' answers un-NATed on the way in, the stack\'s RST and ICMP error NATed on the way out',
    host: ROUTER,
    rules: `${RAW_NO_RST}${NAT_HEAD}:KUBE-SERVICES - [0:0]\n:KUBE-SVC-A - [0:0]\n:KUBE-SVC-DNS - [0:0]\n:KUBE-SEP-1 - [0:0]\n:KUBE-SEP-2 - [0:0]\n:KUBE-SEP-3 - [0:0]
:KUBE-MARK-MASQ - [0:0]\n:KUBE-POSTROUTING - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
${KUBE_MASQ}-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "default/web cluster IP" -m tcp --dport 80 -j KUBE-SVC-A
-A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/dns cluster IP" -m udp --dport 53 -j KUBE-SVC-DNS
-A KUBE-SVC-A ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j KUBE-MARK-MASQ
-A KUBE-SVC-A -m statistic --mode nth --every 2 --packet 0 -j KUBE-SEP-1
-A KUBE-SVC-A -j KUBE-SEP-2
-A KUBE-SVC-DNS ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p udp -m udp --dport 53 -j KUBE-MARK-MASQ
-A KUBE-SVC-DNS -j KUBE-SEP-3
-A KUBE-SEP-1 -p tcp -m tcp -j DNAT --to-destination 10.244.1.5:8080
-A KUBE-SEP-2 -p tcp -m tcp -j DNAT --to-destination 10.244.1.6:8080
-A KUBE-SEP-3 -p udp -m udp -j DNAT --to-destination 10.244.1.7:53
COMMIT\n`,
    packets: [
      localSyn('0.0.0.0', 41000, '10.96.0.10', 80), localSyn('0.0.0.0', 41001, '10.96.0.10', 80),
      { proto: 'tcp', src: '10.244.1.5', sport: 8080, dst: '10.244.1.1', dport: 41000, tcpFlags: 'SA', seq: 5000, ack: 1001, in: 'eth-pod' },
      { from: 'local', proto: 'tcp', src: '192.168.50.1', sport: 41000, dst: '10.96.0.10', dport: 80, tcpFlags: 'A', seq: 1001, ack: 5001 },
      // no socket on 41001: the stack resets, conntrack un-NATs the RST, the entry stays CLOSE
      { proto: 'tcp', src: '10.244.1.6', sport: 8080, dst: '10.244.1.1', dport: 41001, tcpFlags: 'SA', seq: 7000, ack: 1001, in: 'eth-pod' },
      { from: 'local', proto: 'udp', src: '0.0.0.0', sport: 5000, dst: '10.96.0.10', dport: 53, payload: 'query' },
      { proto: 'udp', src: '10.244.1.7', sport: 53, dst: '10.244.1.1', dport: 5000, payload: 'answer', in: 'eth-pod' },
      { from: 'local', proto: 'udp', src: '0.0.0.0', sport: 5001, dst: '10.96.0.10', dport: 80, payload: 'not a service port' },
    ],
    kernel: ['eth-pod', 'eth-pod', '-', 'eth-pod', 'eth-pod', 'eth-pod', 'eth-pod', 'eth-ext'],
  },
  {
    name: 'localhost NodePort with route_localnet=1: DNAT + MASQUERADE to the pod',
    host: { ...ROUTER, sysctls: { ip_forward: 1, route_localnet: 1 } },
    rules: NODEPORT_RULES,
    packets: NODEPORT_PACKETS,
    kernel: ['eth-pod', 'eth-pod'],
  },
  {
    name: 'localhost NodePort with route_localnet=0: the 127/8 source dies at the re-route (sendto fails, no entry); the node IP works',
    host: ROUTER,
    rules: NODEPORT_RULES,
    packets: NODEPORT_PACKETS,
    kernel: ['EINVAL', 'eth-pod'],
  },
  {
    name: 'filter OUTPUT and mangle POSTROUTING DROP of local packets: sendto() fails, nothing leaves or loops back, no entry',
    host: ROUTER,
    captureLo: true,
    rules: `${NAT_HEAD}-A POSTROUTING -s 10.244.0.0/16 -o eth-ext -j MASQUERADE\nCOMMIT
*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]
-A POSTROUTING -o eth-ext -p udp -m udp --dport 123 -j DROP\nCOMMIT
${FILTER_HEAD}-A OUTPUT -p tcp -m tcp --dport 23 -j DROP
-A OUTPUT -o eth-pod -p udp -j DROP\nCOMMIT\n`,
    packets: [
      localSyn('10.244.1.1', 41002, '10.244.1.5', 23),
      { from: 'local', proto: 'udp', src: '0.0.0.0', sport: 5300, dst: '10.244.1.53', dport: 53, payload: 'q' },
      { from: 'local', proto: 'udp', src: '0.0.0.0', sport: 5301, dst: '8.8.8.8', dport: 53, payload: 'q' },
      { from: 'local', proto: 'udp', src: '0.0.0.0', sport: 5302, dst: '8.8.4.4', dport: 123, payload: 'ntp' },
      { from: 'local', proto: 'icmp', src: '0.0.0.0', dst: '10.244.1.5', icmpType: 8, icmpId: 9 },
    ],
    kernel: ['EPERM', 'EPERM', 'eth-ext', 'EPERM', 'eth-pod'],
  },
  {
    name: 'SNAT of local packets in POSTROUTING (port in range kept, ICMP id); the answers are un-NATed and delivered',
    host: { ...ROUTER, ifaces: [{ name: 'eth-ext', addrs: ['192.168.50.1/24', '192.168.50.9/24'] }, { name: 'eth-pod', addrs: ['10.244.1.1/24'] }] },
    rules: `${NAT_HEAD}-A POSTROUTING -o eth-ext -p udp -j SNAT --to-source 192.168.50.9:20000-20010
-A POSTROUTING -o eth-ext -p icmp -j SNAT --to-source 192.168.50.9\nCOMMIT\n`,
    packets: [
      { from: 'local', proto: 'udp', src: '0.0.0.0', sport: 20005, dst: '1.1.1.1', dport: 53, payload: 'q' },
      { from: 'local', proto: 'icmp', src: '0.0.0.0', dst: '1.1.1.1', icmpType: 8, icmpId: 7 },
      { proto: 'icmp', src: '1.1.1.1', dst: '192.168.50.9', icmpType: 0, icmpId: 7, in: 'eth-ext' },
      { proto: 'udp', src: '1.1.1.1', sport: 53, dst: '192.168.50.9', dport: 20005, payload: 'a', in: 'eth-ext' },
    ],
    kernel: ['eth-ext', 'eth-ext', '-', 'eth-ext'],
  },
  {
    name: 'DNAT re-routes to another interface keeping the source chosen for the original destination; MASQUERADE ignores the route\'s src',
    host: {
      ifaces: [{ name: 'eth-ext', addrs: ['192.168.50.1/24', '192.168.50.2/24'] }, { name: 'eth-pod', addrs: ['10.244.1.1/24'] }],
      routes: [{ dst: 'default', via: '192.168.50.254', dev: 'eth-ext' }, { dst: '172.16.0.0/24', dev: 'eth-ext', src: '192.168.50.2' }],
      sysctls: { ip_forward: 1 },
    },
    rules: `${NAT_HEAD}-A OUTPUT -d 172.16.0.10/32 -p tcp -m tcp --dport 443 -j DNAT --to-destination 10.244.1.5:8443
-A OUTPUT -d 192.168.50.80/32 -p udp -m udp --dport 53 -j DNAT --to-destination 10.244.1.53
-A POSTROUTING -d 172.16.0.0/24 -o eth-ext -j MASQUERADE\nCOMMIT\n`,
    packets: [
      localSyn('0.0.0.0', 44000, '172.16.0.10', 443),
      { from: 'local', proto: 'udp', src: '0.0.0.0', sport: 5300, dst: '192.168.50.80', dport: 53, payload: 'q' },
      localSyn('0.0.0.0', 44001, '172.16.0.20', 443),
    ],
    kernel: ['eth-pod', 'eth-pod', 'eth-ext'],
  },
  {
    name: 'ctstate on a connection the node started: the peer\'s SYN-ACK makes the second packet ESTABLISHED; a stray ACK is NEW and refused',
    host: ROUTER,
    rules: `${RAW_NO_RST}${FILTER_HEAD}-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -j DROP
-A OUTPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT
-A OUTPUT -p tcp -m tcp --syn -m conntrack --ctstate NEW -j ACCEPT
-A OUTPUT -j DROP\nCOMMIT\n`,
    packets: [
      localSyn('192.168.50.1', 41000, '192.168.50.7', 80),
      { proto: 'tcp', src: '192.168.50.7', sport: 80, dst: '192.168.50.1', dport: 41000, tcpFlags: 'SA', seq: 5000, ack: 1001, in: 'eth-ext' },
      { from: 'local', proto: 'tcp', src: '192.168.50.1', sport: 41000, dst: '192.168.50.7', dport: 80, tcpFlags: 'A', seq: 1001, ack: 5001 },
      { from: 'local', proto: 'tcp', src: '192.168.50.1', sport: 41000, dst: '192.168.50.7', dport: 80, tcpFlags: 'PA', seq: 1001, ack: 5001, payload: 'GET /' },
      { from: 'local', proto: 'tcp', src: '192.168.50.1', sport: 41001, dst: '192.168.50.7', dport: 80, tcpFlags: 'A', seq: 1, ack: 1 },
      { proto: 'tcp', src: '192.168.50.7', sport: 50000, dst: '192.168.50.1', dport: 22, tcpFlags: 'S', seq: 7, in: 'eth-ext' },
    ],
    kernel: ['eth-ext', '-', 'eth-ext', 'eth-ext', 'EPERM', '-'],
  },
  {
    name: 'REJECT of the node\'s own packets: sendto() fails and the answer loops back through lo, from the node\'s own address (RST from the peer\'s)',
    host: ROUTER,
    captureLo: true,
    rules: `${FILTER_HEAD}-A OUTPUT -p udp -m udp --dport 53 -j REJECT --reject-with icmp-port-unreachable
-A OUTPUT -p tcp -m tcp --dport 22 -j REJECT --reject-with tcp-reset
-A OUTPUT -p icmp -m icmp --icmp-type 8 -j REJECT --reject-with icmp-host-prohibited\nCOMMIT\n`,
    packets: [
      { from: 'local', proto: 'udp', src: '192.168.50.1', sport: 5000, dst: '8.8.8.8', dport: 53, payload: 'q' },
      localSyn('192.168.50.1', 41001, '8.8.8.8', 22),
      { from: 'local', proto: 'icmp', src: '10.244.1.1', dst: '10.244.1.5', icmpType: 8, icmpId: 3 },
    ],
    kernel: ['lo EPERM', 'lo EPERM', 'lo EPERM'],
  },
  {
    name: 'REJECT\'s answer is itself a packet of the node: an OUTPUT rule rejecting ICMP swallows it (no error answers an error)',
    host: ROUTER,
    captureLo: true,
    rules: `${FILTER_HEAD}-A OUTPUT -p udp -m udp --dport 53 -j REJECT --reject-with icmp-port-unreachable
-A OUTPUT -p icmp -j REJECT --reject-with icmp-host-prohibited\nCOMMIT\n`,
    packets: [{ from: 'local', proto: 'udp', src: '192.168.50.1', sport: 5000, dst: '8.8.8.8', dport: 53, payload: 'q' }],
    kernel: ['EPERM'],
  },
  {
    name: 'filter OUTPUT\'s -o is the interface of the route before nat OUTPUT\'s DNAT',
    host: ROUTER,
    rules: `${NAT_HEAD}-A OUTPUT -d 10.96.0.53/32 -p udp -m udp --dport 53 -j DNAT --to-destination 10.244.1.53
-A OUTPUT -d 10.96.0.54/32 -p udp -m udp --dport 53 -j DNAT --to-destination 10.244.1.54\nCOMMIT
${FILTER_HEAD}-A OUTPUT -o eth-pod -p udp -j DROP
-A OUTPUT -o eth-ext -d 10.244.1.54/32 -j DROP\nCOMMIT\n`,
    packets: [
      { from: 'local', proto: 'udp', src: '192.168.50.1', sport: 5300, dst: '10.96.0.53', dport: 53, payload: 'q' },
      { from: 'local', proto: 'udp', src: '192.168.50.1', sport: 5301, dst: '10.96.0.54', dport: 53, payload: 'q' },
    ],
    kernel: ['eth-pod', 'EPERM'],
  },
  {
    name: 'a packet for the node\'s own address crosses lo and the stack answers it (RST, port unreachable), the answer un-NATed',
    host: ROUTER,
    captureLo: true,
    rules: `${NAT_HEAD}-A OUTPUT -d 10.96.0.11/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 192.168.50.1:9090\nCOMMIT\n`,
    packets: [
      localSyn('0.0.0.0', 44002, '10.96.0.11', 80),
      { from: 'local', proto: 'udp', src: '192.168.50.1', sport: 44003, dst: '192.168.50.1', dport: 53, payload: 'q' },
    ],
    kernel: ['lo lo', 'lo lo'],
  },
  {
    name: 'a nat table without NAT targets does not turn conntrack on: its chains are never walked, no entries',
    host: ROUTER,
    rules: `${NAT_HEAD}:KUBE-MARK-MASQ - [0:0]\n-A OUTPUT -p udp -j KUBE-MARK-MASQ\n-A PREROUTING -p udp -j KUBE-MARK-MASQ
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\nCOMMIT\n`,
    packets: [
      { from: 'local', proto: 'udp', src: '192.168.50.1', sport: 5301, dst: '8.8.8.8', dport: 53, payload: 'q' },
      { proto: 'udp', src: '10.244.1.5', sport: 5302, dst: '8.8.8.8', dport: 53, payload: 'q', in: 'eth-pod' },
    ],
    kernel: ['eth-ext', 'eth-ext'],
  },
];

describeWithKernel('netfilter OUTPUT path: the host\'s own packets, sdnemu against the Linux kernel', () => {
  for (const sc of SCENARIOS) {
    it(sc.name, async () => {
      const kernel = await runKernelScenario(sc.host, sc.rules, sc.packets, { sendRedirects: false, captureLo: sc.captureLo ?? false });
      expect(kernel.map(kernelSummary), 'what the kernel did').toEqual(sc.kernel);
      const stack = new NfStack(parseRestore(sc.rules), stackHost(sc.host));
      kernel.forEach((k, i) => {
        const p = sc.packets[i]!;
        const now = i * 1000;
        let r: StackResult;
        if (p.from === 'local') {
          const dst = parseIpv4(p.dst)!;
          if (p.src === '0.0.0.0') {
            expect.soft(ipv4ToString(stack.sourceFor(dst)), `packet ${i}: an unbound socket's source`).toBe(ipv4ToString(be32(k.sent, 26)));
          }
          r = stack.send(k.sent.slice(), now);
          expect.soft(r.verdict === 'ACCEPT', `packet ${i}: taken (kernel sendto: ${k.sendErrno ?? 'ok'})`).toBe(k.sendErrno === null);
        } else {
          r = stack.receive(k.sent.slice(), (p as KernelPacket).in, now);
        }
        const ours: string[] = [];
        if (r.reply !== null) ours.push(`${r.reply.iface} ${masked(r.reply.frame)}`);
        if (r.out !== null) ours.push(`${r.out.iface} ${toHex(r.out.frame.subarray(14))}`);
        const theirs = k.out.map((f) => `${f.iface} ${isRouterMade(f.frame, k.sent) ? masked(f.frame) : toHex(f.frame.subarray(14))}`);
        const onWire = (s: string): boolean => sc.captureLo === true || !s.startsWith('lo ');
        expect.soft(ours.filter(onWire).sort(), `packet ${i}: what leaves`).toEqual(theirs.sort());
        expect.soft(normaliseConntrack(stack.ct.dump(now).join('\n')), `packet ${i}: conntrack`).toEqual(k.conntrack);
      });
    });
  }
});

/** 'eth-pod', 'eth-pod lo', 'EPERM', 'lo EPERM', or '-' when nothing left and sendto() succeeded. */
function kernelSummary(k: KernelResult): string {
  return [...k.out.map((f) => f.iface), ...(k.sendErrno === null ? [] : [k.sendErrno])].join(' ') || '-';
}

describe('scenario set', () => {
  it('covers the OUTPUT cases: ClusterIP from the node, localhost NodePort both ways, DROP, SNAT, re-route, ctstate, REJECT, loopback, no conntrack', () => {
    expect(SCENARIOS.length).toBeGreaterThanOrEqual(11);
    expect(SCENARIOS.every((s) => s.packets.some((p) => p.from === 'local'))).toBe(true);
  });
});
