/**
 * Netfilter benchmark (issue 5, item 7): kube-proxy rule sets of 100, 1k and
 * 10k services (each: a KUBE-SERVICES rule, a KUBE-SVC chain with the
 * masquerade-mark rule and two endpoints picked by `statistic random`, two
 * KUBE-SEP chains with DNAT — kube-proxy's iptables mode) and the same
 * services in IPVS (rr, two real servers each).
 * Cases, per size:
 *  - first packets of new connections through the nat table's PREROUTING
 *    (the walk the kernel does once per connection), to random services:
 *    `Evaluator.walk`, the trace kept as slot numbers (run() would build
 *    its TraceRule objects); and 10k services with traffic to 100 of them,
 *    which separates the cost of the rule count (none: the walk checks
 *    the same ~6 rules) from the cache misses of a working set spread over
 *    10k services;
 *  - IPVS: the service lookup and the scheduler for a new connection;
 * and once: an established connection's packet through the whole host path
 * (conntrack lookup, NAT from the binding, routing, TTL).
 * Reported beside each rate: the load time of the rule set from its
 * iptables-restore text, and the rules the kernel would check per packet.
 */
import { parseRestore } from '../src/netfilter/restore.js';
import { Evaluator, type NfPacket } from '../src/netfilter/eval.js';
import { NfStack } from '../src/netfilter/stack.js';
import { Ipvs } from '../src/netfilter/ipvs.js';
import { FrameBuilder } from '../src/wire/builder.js';
import { caseMain, runIsolated, type BenchCase, type BenchResult } from './harness.js';
import { mulberry32 as rng } from '../src/rng.js';

const BATCH = 32;
const vip = (s: number): number => (0x0a600000 + s) >>> 0;                       // 10.96.x.y
const ep = (s: number, e: number): string => `10.${244 + (e & 1)}.${(s >> 8) & 0xff}.${s & 0xff}`;
const ipText = (a: number): string => `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;

/** kube-proxy's nat table for 'n' services of two endpoints each, as iptables-restore text. */
export function kubeProxyNat(n: number): string {
  const chains: string[] = [':KUBE-SERVICES - [0:0]', ':KUBE-MARK-MASQ - [0:0]', ':KUBE-POSTROUTING - [0:0]'];
  const rules: string[] = [
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    '-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000',
    '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN',
    '-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0',
    '-A KUBE-POSTROUTING -j MASQUERADE',
  ];
  for (let s = 0; s < n; s++) {
    const svc = `KUBE-SVC-${s.toString(36).toUpperCase().padStart(16, 'A')}`;
    const seps = [0, 1].map((e) => `KUBE-SEP-${(s * 2 + e).toString(36).toUpperCase().padStart(16, 'B')}`);
    chains.push(`:${svc} - [0:0]`, ...seps.map((c) => `:${c} - [0:0]`));
    rules.push(`-A KUBE-SERVICES -d ${ipText(vip(s))}/32 -p tcp -m comment --comment "ns/svc${s}:http cluster IP" -m tcp --dport 80 -j ${svc}`);
    rules.push(`-A ${svc} ! -s 10.244.0.0/16 -d ${ipText(vip(s))}/32 -p tcp -m tcp --dport 80 -j KUBE-MARK-MASQ`);
    rules.push(`-A ${svc} -m statistic --mode random --probability 0.50000000000 -j ${seps[0]}`, `-A ${svc} -j ${seps[1]}`);
    seps.forEach((c, e) => rules.push(`-A ${c} -s ${ep(s, e)}/32 -j KUBE-MARK-MASQ`, `-A ${c} -p tcp -m tcp -j DNAT --to-destination ${ep(s, e)}:8080`));
  }
  rules.push('-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS');
  chains.push(':KUBE-NODEPORTS - [0:0]');
  return ['*nat', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]', ...chains, ...rules, 'COMMIT', ''].join('\n');
}

function pkt(dst: number, sport: number): NfPacket {
  return {
    src: 0xc0a83207, dst, proto: 6, sport, dport: 80, tcpFlags: 2, fragment: false, length: 60, inIface: 'eth-ext', outIface: null,
    mark: 0, ctStates: new Set(['NEW']), ctMark: 0, physIn: null, physOut: null, bridged: false,
  };
}

/** 'n' services' rules; packets to 'active' of them (all by default: the cache-cold case). */
function iptablesCase(n: number, active = n): BenchCase {
  const text = kubeProxyNat(n);
  const t0 = performance.now();
  const rs = parseRestore(text);
  const loadMs = performance.now() - t0;
  const ev = new Evaluator(rs, { addrType: (a) => (a === 0xc0a83201 ? 'LOCAL' : 'UNICAST') });
  const R = rng(n);
  const pkts = Array.from({ length: 4096 }, () => pkt(vip(R() % active), 1024 + (R() % 60000)));
  let at = 0, checked = 0, runs = 0;
  return {
    name: `iptables nat PREROUTING, first packets, ${n} services${active < n ? `, traffic to ${active} of them` : ''}`, batch: BATCH,
    fn: () => {
      let acc = 0;
      for (let i = 0; i < BATCH; i++) {
        const p = pkts[at]!;
        at = (at + 1) & 4095;
        p.mark = 0;
        acc += ev.walk('nat', 'PREROUTING', p);
        checked += ev.lastChecked;
        runs++;
      }
      return acc;
    },
    extra: () => ({ loadMs: Math.round(loadMs), rules: text.split('\n').filter((l) => l.startsWith('-A')).length, kernelRulesCheckedPerPacket: Math.round(checked / Math.max(runs, 1)) }),
  };
}

function ipvsCase(n: number): BenchCase {
  const ipvs = new Ipvs();
  const t0 = performance.now();
  for (let s = 0; s < n; s++) {
    const svc = ipvs.addService({ kind: 'tcp', addr: vip(s), port: 80, scheduler: 'rr' });
    for (let e = 0; e < 2; e++) {
      const [a, b, c, d] = ep(s, e).split('.').map(Number) as [number, number, number, number];
      ipvs.addDest(svc, { addr: ((a << 24) | (b << 16) | (c << 8) | d) >>> 0, port: 8080, weight: 1, fwd: 'masq' });
    }
  }
  const loadMs = performance.now() - t0;
  const R = rng(n + 1);
  const pkts = Array.from({ length: 4096 }, () => ({ proto: 6, src: 0xc0a83207, sport: 1024 + (R() % 60000), dst: vip(R() % n), dport: 80, fwmark: 0, tcpFlags: 2 }));
  let at = 0, now = 0;
  return {
    name: `ipvs new connections (lookup + rr), ${n} services`, batch: BATCH,
    fn: () => {
      let acc = 0;
      for (let i = 0; i < BATCH; i++) {
        const p = pkts[at]!;
        at = (at + 1) & 4095;
        // each connection is new: a fresh source port per round
        p.sport = 1024 + ((p.sport + 4096) % 60000);
        const svc = ipvs.lookupService(p);
        if (svc !== null && ipvs.schedule(svc, p, now) !== null) acc++;
      }
      now += 1;
      if ((now & 1023) === 0) ipvs.expire(now + 3_600_000);
      return acc;
    },
    extra: () => ({ loadMs: Math.round(loadMs) }),
  };
}

function establishedCase(): BenchCase {
  const rs = parseRestore(kubeProxyNat(1000));
  const stack = new NfStack(rs, {
    ifaces: [{ name: 'eth-ext', mac: '02:00:00:00:00:01', addrs: [{ addr: 0xc0a83201, prefixLen: 24 }] },
      { name: 'eth-pod', mac: '02:00:00:00:00:02', addrs: [{ addr: 0x0af40001, prefixLen: 16 }, { addr: 0x0af50001, prefixLen: 16 }] }],
    routes: [{ net: 0, prefixLen: 0, via: 0xc0a832fe, dev: 'eth-ext', src: null }], ipForward: true, routeLocalnet: false, tcpLoose: true,
  });
  const mk = (flags: string, seq: number): Uint8Array => new FrameBuilder().eth({ src: '02:50:00:00:00:02', dst: '02:00:00:00:00:01' })
    .ipv4({ src: '192.168.50.7', dst: ipText(vip(7)), ttl: 64, ident: 1 }).tcp({ srcPort: 40000, dstPort: 80, flags, seq, ack: flags === 'S' ? 0 : 1, window: 8192 }).build();
  stack.receive(mk('S', 1000), 'eth-ext', 0);
  const pristine = mk('A', 1001);
  const f = pristine.slice();
  return {
    name: 'established connection through the host path (conntrack + NAT), 1k services', batch: BATCH,
    fn: () => {
      let acc = 0;
      for (let i = 0; i < BATCH; i++) {
        f.set(pristine);
        acc += stack.receive(f, 'eth-ext', 1).out === null ? 0 : 1;
      }
      return acc;
    },
  };
}

const BUILDERS: (() => BenchCase[])[] = [
  () => [iptablesCase(100)], () => [iptablesCase(1000)], () => [iptablesCase(10_000)], () => [iptablesCase(10_000, 100)],
  () => [ipvsCase(100)], () => [ipvsCase(1000)], () => [ipvsCase(10_000)], () => [establishedCase()],
];

/** Each case in a child process of its own (harness.ts runIsolated): the rule sets of one case do not share a heap or JIT feedback with the next. */
export async function run(): Promise<BenchResult[]> {
  return runIsolated('netfilter', import.meta.url, BUILDERS.length);
}

if (import.meta.url === `file://${process.argv[1]}` && !caseMain('netfilter', BUILDERS)) await run();
