/**
 * The kernel oracle (netns.ts) on scenarios whose outcome BEHAVIOUR.md's Linux section states:
 * each test runs a real router namespace and checks the frames it transmitted and its
 * conntrack table. These are the kernel halves of issue 5's differential tests; they also pin
 * the harness itself (attribution of frames to packets, checksums, cleanup).
 * Frames are decoded here with a few lines of offsets and a local RFC 1071 checksum, so the
 * oracle's checks do not lean on the emulator's own wire code.
 */
import { afterAll, expect, test } from 'vitest';
import { InputError } from '../../src/errors.js';
import {
  describeWithKernel, runKernelScenario, leftoverNamespaces, normaliseConntrack, peerMac, routerMac,
  KernelCommandError, type HostConfig, type KernelResult,
} from './netns.js';

// ---------------------------------------------------------------------------------------------
// Frame decoding for the assertions

interface L4 { sport: number; dport: number }
interface Decoded {
  ethDst: string; ethSrc: string; ethType: number;
  tos: number; id: number; ttl: number; proto: number; src: string; dst: string; ipCsumOk: boolean;
  /** TCP/UDP ports, TCP seq/ack/flags, ICMP type/code; l4CsumOk covers TCP, UDP and ICMP. */
  sport: number; dport: number; seq: number; ack: number; flags: number; icmpType: number; icmpCode: number;
  l4CsumOk: boolean; payload: string;
  /** ICMP redirect (type 5): the gateway address; '' otherwise. */
  gateway: string;
  /** For ICMP errors: the quoted IPv4 header and the first 8 bytes after it. */
  quoted: { ttl: number; proto: number; src: string; dst: string } & L4 | null;
}

const mac = (b: Uint8Array, o: number): string => [...b.subarray(o, o + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
const ip = (b: Uint8Array, o: number): string => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
const u16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
const u32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

/** RFC 1071 one's-complement sum of b[off, end) plus 'acc', folded, not inverted. */
function onesSum(b: Uint8Array, off: number, end: number, acc = 0): number {
  let s = acc;
  for (let i = off; i + 1 < end; i += 2) s += u16(b, i);
  if ((end - off) & 1) s += b[end - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

function decode(f: Uint8Array): Decoded {
  const ihl = (f[14]! & 15) * 4;
  const l3 = 14, l4 = 14 + ihl;
  const totLen = u16(f, l3 + 2);
  const end = l3 + totLen;
  const proto = f[l3 + 9]!;
  const d: Decoded = {
    ethDst: mac(f, 0), ethSrc: mac(f, 6), ethType: u16(f, 12),
    tos: f[l3 + 1]!, id: u16(f, l3 + 4), ttl: f[l3 + 8]!, proto, src: ip(f, l3 + 12), dst: ip(f, l3 + 16),
    ipCsumOk: onesSum(f, l3, l4) === 0xffff,
    sport: -1, dport: -1, seq: -1, ack: -1, flags: -1, icmpType: -1, icmpCode: -1, l4CsumOk: false, payload: '', gateway: '', quoted: null,
  };
  const pseudo = onesSum(f, l3 + 12, l3 + 20, proto + (end - l4));
  if (proto === 6) {
    d.sport = u16(f, l4); d.dport = u16(f, l4 + 2); d.seq = u32(f, l4 + 4); d.ack = u32(f, l4 + 8);
    d.flags = f[l4 + 13]!;
    d.l4CsumOk = onesSum(f, l4, end, pseudo) === 0xffff;
    d.payload = Buffer.from(f.subarray(l4 + (f[l4 + 12]! >> 4) * 4, end)).toString('latin1');
  } else if (proto === 17) {
    d.sport = u16(f, l4); d.dport = u16(f, l4 + 2);
    d.l4CsumOk = onesSum(f, l4, end, pseudo) === 0xffff;
    d.payload = Buffer.from(f.subarray(l4 + 8, end)).toString('latin1');
  } else if (proto === 1) {
    d.icmpType = f[l4]!; d.icmpCode = f[l4 + 1]!;
    d.l4CsumOk = onesSum(f, l4, end) === 0xffff;
    if (d.icmpType === 5) d.gateway = ip(f, l4 + 4);
    if (d.icmpType === 3 || d.icmpType === 5 || d.icmpType === 11) {
      const q = l4 + 8, qihl = (f[q]! & 15) * 4;
      d.quoted = { ttl: f[q + 8]!, proto: f[q + 9]!, src: ip(f, q + 12), dst: ip(f, q + 16), sport: u16(f, q + qihl), dport: u16(f, q + qihl + 2) };
    }
  }
  return d;
}

const TCP_SYN = 0x02, TCP_RST = 0x04, TCP_ACK = 0x10;

/** The only frame 'r' transmitted, decoded, with the interface it left on. */
function only(r: KernelResult | undefined): Decoded & { iface: string } {
  expect(r).toBeDefined();
  expect(r!.out.map((o) => o.iface)).toHaveLength(1);
  const o = r!.out[0]!;
  return { ...decode(o.frame), iface: o.iface };
}

// ---------------------------------------------------------------------------------------------
// A kube-proxy-like node: pods behind eth-pod, the outside behind eth-ext

const POD_IF = 0, EXT_IF = 1;
function node(extra: Partial<HostConfig> = {}): HostConfig {
  return {
    ifaces: [
      { name: 'eth-pod', addrs: ['10.244.1.1/24'] },
      { name: 'eth-ext', addrs: ['192.168.50.1/24'] },
    ],
    routes: [{ dst: 'default', via: '192.168.50.254', dev: 'eth-ext' }],
    sysctls: { ip_forward: 1 },
    ...extra,
  };
}

const EMPTY_FILTER = '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n';

/** iptables-restore text with a nat table holding 'nat' rules and a filter table holding 'filter' rules. */
function ruleset(nat: string[], filter: string[], natChains: string[] = []): string {
  return [
    '*nat', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]',
    ...natChains.map((c) => `:${c} - [0:0]`), ...nat, 'COMMIT',
    '*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ...filter, 'COMMIT', '',
  ].join('\n');
}

describeWithKernel('kernel oracle: router namespace (netns.ts)', () => {
  afterAll(() => {
    // every namespace the harness made is gone, also after the failing scenario below
    expect(leftoverNamespaces()).toEqual([]);
  });

  test('plain forwarding: TTL-1, next-hop MACs, checksums valid, no conntrack without a rule needing it', async () => {
    const host = node();
    const pkt = { proto: 'udp' as const, src: '10.244.1.5', sport: 1234, dst: '8.8.8.8', dport: 53, payload: 'hello', in: 'eth-pod' };
    const [r] = await runKernelScenario(host, EMPTY_FILTER, [pkt]);
    const o = only(r);
    const sent = decode(r!.sent);
    expect(sent).toMatchObject({ ttl: 64, src: '10.244.1.5', dst: '8.8.8.8', ipCsumOk: true, l4CsumOk: true });
    expect(o).toMatchObject({
      iface: 'eth-ext', ethSrc: routerMac(host, EXT_IF), ethDst: peerMac(EXT_IF), ethType: 0x0800,
      ttl: 63, src: '10.244.1.5', dst: '8.8.8.8', sport: 1234, dport: 53, payload: 'hello', ipCsumOk: true, l4CsumOk: true,
    });
    expect(o.id).toBe(sent.id);
    expect(r!.conntrack).toEqual([]); // BEHAVIOUR 9: filter-only rule set, no -m conntrack

    // ip_forward left at the fresh-namespace default (0): nothing leaves
    const [r0] = await runKernelScenario({ ...host, sysctls: {} }, EMPTY_FILTER, [pkt]);
    expect(r0!.out).toEqual([]);
  });

  test('kube-proxy DNAT: destination rewritten, conntrack entry, retransmitted SYN sticks to it', async () => {
    const host = node();
    const rules = ruleset([
      '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      '-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O',
      '-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.244.1.5:8080" -j KUBE-SEP-SXIVWICOYRO3J4NJ',
      '-A KUBE-SEP-SXIVWICOYRO3J4NJ -p tcp -m comment --comment ns1/svc1:p80 -m tcp -j DNAT --to-destination 10.244.1.5:8080',
    ], [], ['KUBE-SERVICES', 'KUBE-SVC-XPGD46QRK7WJZT7O', 'KUBE-SEP-SXIVWICOYRO3J4NJ']);
    const syn = { proto: 'tcp' as const, src: '192.168.50.7', sport: 40000, dst: '10.96.0.10', dport: 80, seq: 1000, in: 'eth-ext' };
    const rs = await runKernelScenario(host, rules, [syn, syn]);
    const entry = 'tcp 6 SYN_SENT src=192.168.50.7 dst=10.96.0.10 sport=40000 dport=80 [UNREPLIED] '
      + 'src=10.244.1.5 dst=192.168.50.7 sport=8080 dport=40000 mark=0 use=1';
    for (const r of rs) {
      const o = only(r);
      expect(o).toMatchObject({
        iface: 'eth-pod', ethSrc: routerMac(host, POD_IF), ethDst: peerMac(POD_IF),
        src: '192.168.50.7', dst: '10.244.1.5', sport: 40000, dport: 8080, ttl: 63, flags: TCP_SYN, seq: 1000,
        ipCsumOk: true, l4CsumOk: true,
      });
      expect(r.conntrack).toEqual([entry]);
    }
  });

  test('MASQUERADE: primary address of the egress interface in the next hop\'s subnet, not the route src', async () => {
    const host = node({
      ifaces: [
        { name: 'eth-pod', addrs: ['10.244.1.1/24'] },
        { name: 'eth-ext', addrs: ['192.168.50.1/24', '192.168.50.2/24', '172.16.0.1/24'] },
      ],
      routes: [{ dst: 'default', via: '192.168.50.254', dev: 'eth-ext', src: '192.168.50.2' }],
    });
    const rules = ruleset(['-A POSTROUTING -s 10.244.0.0/16 -o eth-ext -j MASQUERADE'], []);
    const rs = await runKernelScenario(host, rules, [
      { proto: 'udp', src: '10.244.1.5', sport: 5000, dst: '1.1.1.1', dport: 53, in: 'eth-pod' },
      { proto: 'udp', src: '10.244.1.5', sport: 5001, dst: '172.16.0.10', dport: 53, in: 'eth-pod' },
    ]);
    const a = only(rs[0]), b = only(rs[1]);
    expect(a).toMatchObject({ iface: 'eth-ext', src: '192.168.50.1', sport: 5000, dst: '1.1.1.1', dport: 53, ttl: 63, l4CsumOk: true });
    expect(b).toMatchObject({ iface: 'eth-ext', src: '172.16.0.1', sport: 5001, dst: '172.16.0.10', dport: 53, ttl: 63, l4CsumOk: true });
    expect(rs[1]!.conntrack).toEqual([
      'udp 17 src=10.244.1.5 dst=1.1.1.1 sport=5000 dport=53 [UNREPLIED] src=1.1.1.1 dst=192.168.50.1 sport=53 dport=5000 mark=0 use=1',
      'udp 17 src=10.244.1.5 dst=172.16.0.10 sport=5001 dport=53 [UNREPLIED] src=172.16.0.10 dst=172.16.0.1 sport=53 dport=5001 mark=0 use=1',
    ]);
  });

  test('REJECT icmp-port-unreachable: sent back from the router address on the route to the sender', async () => {
    const host = node();
    const rules = ruleset([], ['-A FORWARD -d 10.96.0.11/32 -p udp -m udp --dport 53 -j REJECT --reject-with icmp-port-unreachable']);
    const rs = await runKernelScenario(host, rules, [
      { proto: 'udp', src: '10.244.1.5', sport: 3333, dst: '10.96.0.11', dport: 53, in: 'eth-pod' },
      { proto: 'udp', src: '192.168.50.7', sport: 4444, dst: '10.96.0.11', dport: 53, in: 'eth-ext' },
      { proto: 'udp', src: '10.9.9.9', sport: 5555, dst: '10.96.0.11', dport: 53, in: 'eth-pod' },
    ]);
    const a = only(rs[0]), c = only(rs[2]);
    expect(a).toMatchObject({ iface: 'eth-pod', src: '10.244.1.1', dst: '10.244.1.5', ttl: 64, icmpType: 3, icmpCode: 3, ipCsumOk: true, l4CsumOk: true });
    // the outsider's packet would leave by the interface it came in on (default route): the
    // kernel first sends an ICMP host redirect to the gateway (ip_forward, before the FORWARD
    // hook: not in BEHAVIOUR.md), then REJECT's error from eth-ext's address
    const [redirect, b] = rs[1]!.out.map((o) => ({ ...decode(o.frame), iface: o.iface }));
    expect(rs[1]!.out).toHaveLength(2);
    expect(redirect).toMatchObject({ iface: 'eth-ext', src: '192.168.50.1', dst: '192.168.50.7', icmpType: 5, icmpCode: 1, gateway: '192.168.50.254', l4CsumOk: true });
    expect(b).toMatchObject({ iface: 'eth-ext', src: '192.168.50.1', dst: '192.168.50.7', ttl: 64, icmpType: 3, icmpCode: 3, l4CsumOk: true });
    // a spoofed source: the error follows the default route, from eth-ext's address
    expect(c).toMatchObject({ iface: 'eth-ext', src: '192.168.50.1', dst: '10.9.9.9', icmpType: 3, icmpCode: 3, ethDst: peerMac(EXT_IF) });
    // the quoted header is the client's packet (addresses and ports); observed: its TTL is
    // already decremented (63) and its checksum updated, since FORWARD runs after ip_forward's TTL-1
    expect(a.quoted).toEqual({ ttl: 63, proto: 17, src: '10.244.1.5', dst: '10.96.0.11', sport: 3333, dport: 53 });
    expect(b!.quoted).toEqual({ ttl: 63, proto: 17, src: '192.168.50.7', dst: '10.96.0.11', sport: 4444, dport: 53 });
    expect(redirect!.quoted).toEqual(b!.quoted);
    // with redirects off (an option of the harness) only the error remains
    const [nr] = await runKernelScenario(host, rules, [
      { proto: 'udp', src: '192.168.50.7', sport: 4444, dst: '10.96.0.11', dport: 53, in: 'eth-ext' },
    ], { sendRedirects: false });
    expect(only(nr)).toMatchObject({ iface: 'eth-ext', icmpType: 3, icmpCode: 3 });
    for (const r of rs) expect(r.conntrack).toEqual([]);
  });

  test('REJECT tcp-reset: RST from the original destination; RA/ack=seq+1 for a SYN, R/seq=ack for data', async () => {
    const host = node();
    const rules = ruleset([], ['-A FORWARD -d 10.96.0.12/32 -p tcp -m tcp --dport 80 -j REJECT --reject-with tcp-reset']);
    const rs = await runKernelScenario(host, rules, [
      { proto: 'tcp', src: '10.244.1.5', sport: 40001, dst: '10.96.0.12', dport: 80, tcpFlags: 'S', seq: 1000, in: 'eth-pod' },
      { proto: 'tcp', src: '10.244.1.5', sport: 40002, dst: '10.96.0.12', dport: 80, tcpFlags: 'PA', seq: 5000, ack: 7777, payload: 'hello', in: 'eth-pod' },
    ]);
    const syn = only(rs[0]), data = only(rs[1]);
    expect(syn).toMatchObject({
      iface: 'eth-pod', src: '10.96.0.12', sport: 80, dst: '10.244.1.5', dport: 40001,
      flags: TCP_RST | TCP_ACK, seq: 0, ack: 1001, ipCsumOk: true, l4CsumOk: true, ethDst: peerMac(POD_IF),
    });
    expect(data).toMatchObject({
      iface: 'eth-pod', src: '10.96.0.12', sport: 80, dst: '10.244.1.5', dport: 40002,
      flags: TCP_RST, seq: 7777, ack: 0, l4CsumOk: true,
    });
  });

  test('statistic nth --every 2 --packet 0: new connections alternate A, B, A; conntrack keeps each choice', async () => {
    const host = node();
    const rules = ruleset([
      '-A PREROUTING -d 10.96.0.20/32 -p tcp -m tcp --dport 80 -j SVC',
      '-A SVC -m statistic --mode nth --every 2 --packet 0 -j SEP-A',
      '-A SVC -j SEP-B',
      '-A SEP-A -p tcp -j DNAT --to-destination 10.244.1.10:8080',
      '-A SEP-B -p tcp -j DNAT --to-destination 10.244.1.11:8080',
    ], [], ['SVC', 'SEP-A', 'SEP-B']);
    const syn = (sport: number): { proto: 'tcp'; src: string; sport: number; dst: string; dport: number; in: string } =>
      ({ proto: 'tcp', src: '192.168.50.7', sport, dst: '10.96.0.20', dport: 80, in: 'eth-ext' });
    // 4th packet: a retransmitted SYN of the first connection (does not reach the nat table)
    const rs = await runKernelScenario(host, rules, [syn(41000), syn(41001), syn(41002), syn(41000), syn(41003)]);
    expect(rs.map((r) => only(r).dst)).toEqual(['10.244.1.10', '10.244.1.11', '10.244.1.10', '10.244.1.10', '10.244.1.11']);
    expect(rs.map((r) => only(r).dport)).toEqual([8080, 8080, 8080, 8080, 8080]);
    expect(rs[4]!.conntrack.map((l) => /sport=(\d+) dport=80 \[UNREPLIED\] src=([\d.]+)/.exec(l)?.slice(1).join(' '))).toEqual([
      '41000 10.244.1.10', '41001 10.244.1.11', '41002 10.244.1.10', '41003 10.244.1.11',
    ]);
  });

  test('DROP leaves no conntrack entry; an accepted packet of the same rule set does', async () => {
    const host = node();
    const rules = ruleset(
      ['-A PREROUTING -d 10.96.0.30/32 -p udp -m udp --dport 53 -j DNAT --to-destination 10.244.1.5:5353'],
      ['-A FORWARD -s 192.168.50.66/32 -j DROP'],
    );
    const rs = await runKernelScenario(host, rules, [
      { proto: 'udp', src: '192.168.50.66', sport: 6000, dst: '10.96.0.30', dport: 53, in: 'eth-ext' },
      { proto: 'udp', src: '192.168.50.7', sport: 6000, dst: '10.96.0.30', dport: 53, in: 'eth-ext' },
    ]);
    expect(rs[0]!.out).toEqual([]);
    expect(rs[0]!.conntrack).toEqual([]);
    expect(only(rs[1])).toMatchObject({ iface: 'eth-pod', dst: '10.244.1.5', dport: 5353, l4CsumOk: true });
    expect(rs[1]!.conntrack).toEqual([
      'udp 17 src=192.168.50.7 dst=10.96.0.30 sport=6000 dport=53 [UNREPLIED] src=10.244.1.5 dst=192.168.50.7 sport=5353 dport=6000 mark=0 use=1',
    ]);
  });

  test('an address nobody named is resolved on the fly (ARP seen in the capture, never reported)', async () => {
    const host = node();
    const rules = ruleset(['-A PREROUTING -d 10.96.0.40/32 -p udp -j DNAT --to-destination 10.244.1.100-10.244.1.200'], []);
    const [r] = await runKernelScenario(host, rules, [
      { proto: 'udp', src: '192.168.50.7', sport: 7000, dst: '10.96.0.40', dport: 53, in: 'eth-ext' },
    ]);
    const o = only(r);
    expect(o.iface).toBe('eth-pod');
    const last = Number(o.dst.split('.')[3]);
    // the range's ends are written in the rules (static neighbours); the kernel's choice for
    // this tuple is inside, so the frame only left because the ARP request was answered
    expect(o.dst.startsWith('10.244.1.') && last > 100 && last < 200).toBe(true);
    expect(o.ethDst).toBe(peerMac(POD_IF));
  });

  test('a rule set iptables-restore refuses: KernelCommandError with its message, namespaces removed', async () => {
    const err = await runKernelScenario(node(), '*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -j NO-SUCH-CHAIN\nCOMMIT\n', [])
      .then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(KernelCommandError);
    expect((err as KernelCommandError).code).toBe('KERNEL_COMMAND_FAILED');
    // nf_tables iptables-restore reports the COMMIT line (4), not the -A line (3)
    expect((err as KernelCommandError).stderr).toMatch(/Error occurred at line: 4/);
    expect(leftoverNamespaces()).toEqual([]);
  });
});

// No tools needed below.

test('a malformed scenario is an InputError naming the field, before anything is created', async () => {
  const err = await runKernelScenario(node(), EMPTY_FILTER, [
    { proto: 'udp', src: '10.244.1.5', sport: 1, dst: '8.8.8.8', dport: 53, in: 'eth-nope' },
  ]).then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(InputError);
  expect(err).toMatchObject({ code: 'KERNEL_BAD_SCENARIO', path: 'packets[0].in' });
  const noPort = await runKernelScenario(node(), EMPTY_FILTER, [{ proto: 'tcp', src: '10.244.1.5', dst: '8.8.8.8', in: 'eth-pod' }])
    .then(() => null, (e: unknown) => e);
  expect(noPort).toMatchObject({ code: 'KERNEL_BAD_SCENARIO', path: 'packets[0].sport' });
});

test('normaliseConntrack drops the timeout, collapses spaces and sorts', () => {
  const text = [
    'udp      17 29 src=10.0.0.2 dst=10.0.0.3 sport=1 dport=2 [UNREPLIED] src=10.0.0.3 dst=10.0.0.2 sport=2 dport=1 mark=0 use=1',
    'tcp      6 119 SYN_SENT src=10.0.0.2 dst=10.0.0.3 sport=1 dport=2 [UNREPLIED] src=10.0.0.3 dst=10.0.0.2 sport=2 dport=1 mark=0 use=1',
    '',
  ].join('\n');
  expect(normaliseConntrack(text)).toEqual([
    'tcp 6 SYN_SENT src=10.0.0.2 dst=10.0.0.3 sport=1 dport=2 [UNREPLIED] src=10.0.0.3 dst=10.0.0.2 sport=2 dport=1 mark=0 use=1',
    'udp 17 src=10.0.0.2 dst=10.0.0.3 sport=1 dport=2 [UNREPLIED] src=10.0.0.3 dst=10.0.0.2 sport=2 dport=1 mark=0 use=1',
  ]);
});
