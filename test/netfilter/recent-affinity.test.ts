/**
 * kube-proxy's sessionAffinity: ClientIP through sdnemu's netfilter: the payload the iptables
 * proxier (src/k8s/kube-proxy) writes, with `-m recent` in its SVC and SEP chains and `-m nfacct`
 * counters (nfacct: true, as kube-proxy writes when it could create them), loads through
 * parseRestore; in NfStack a client's new connections to the ClusterIP stay on the endpoint its
 * first one was sent to, while other clients spread over the endpoints; after the affinity
 * timeout the client is balanced afresh. The nfacct counters kube-proxy names count the localhost
 * NodePort connection and the INVALID packet KUBE-FORWARD drops.
 */
import { describe, expect, it } from 'vitest';
import { IptablesProxier, endpointChain } from '../../src/k8s/kube-proxy/index.js';
import { parseRestore } from '../../src/netfilter/restore.js';
import { formatSave } from '../../src/netfilter/save.js';
import { Ruleset } from '../../src/netfilter/model.js';
import { NfStack, type HostConfig } from '../../src/netfilter/stack.js';
import { NfAcct } from '../../src/netfilter/recent.js';
import { FrameBuilder } from '../../src/wire/builder.js';
import { be16, be32, ipv4ToString, parseIpv4 } from '../../src/wire/bytes.js';
import { slice, svc } from '../k8s/kube-proxy-helpers.js';

/** The node: eth0 192.168.0.2/24 (default via .1), cni0 10.0.0.1/16, endpoints behind 192.168.0.3, forwarding on. */
const NODE: HostConfig = {
  ifaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', addrs: [{ addr: parseIpv4('192.168.0.2')!, prefixLen: 24 }] },
    { name: 'cni0', mac: '02:00:00:00:00:02', addrs: [{ addr: parseIpv4('10.0.0.1')!, prefixLen: 16 }] }],
  routes: [{ net: 0, prefixLen: 0, via: parseIpv4('192.168.0.1')!, dev: 'eth0', src: null },
    { net: parseIpv4('10.180.0.0')!, prefixLen: 16, via: parseIpv4('192.168.0.3')!, dev: 'eth0', src: null }],
  ipForward: true, routeLocalnet: false, tcpLoose: true,
};
const ENDPOINTS = ['10.180.0.1', '10.180.0.2', '10.180.0.3'];

function syn(src: string, sport: number, dst = '172.30.0.41', dport = 80, flags = 0x02): Uint8Array {
  return new FrameBuilder().eth({ src: '02:50:00:00:00:02', dst: '02:00:00:00:00:01' }).ipv4({ src, dst, ttl: 64, ident: 1 })
    .tcp({ srcPort: sport, dstPort: dport, flags, seq: 1000, ack: 0, window: 8192 }).build();
}

function node(seed: number, host: HostConfig = NODE): { stack: NfStack; rs: Ruleset; payload: string; acct: NfAcct } {
  const p = new IptablesProxier({ hostname: 'test-node', nodeIPs: ['192.168.0.2'], masqueradeMark: '0x4000', nfacct: true });
  p.addService(svc('ns1', 'svc1', (s) => {
    s.spec.clusterIP = '172.30.0.41';
    s.spec.type = 'NodePort';
    s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 30080 }];
    s.spec.sessionAffinity = 'ClientIP';
    s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 10800 } };
  }));
  p.addEndpointSlice(slice('ns1', 'svc1', 1, (e) => {
    e.endpoints = ENDPOINTS.map((a) => ({ addresses: [a] }));
    e.ports = [{ name: 'p80', port: 8080, protocol: 'TCP' }];
  }));
  const r = p.sync(0);
  // the counters kube-proxy creates before it writes rules naming them
  const acct = new NfAcct();
  acct.add('ct_state_invalid_dropped_pkts');
  acct.add('localhost_nps_accepted_pkts');
  const rs = new Ruleset();
  parseRestore(r.ensure!, rs, { noflush: true, counters: true, nfacct: acct });
  parseRestore(r.payload, rs, { noflush: true, counters: true, nfacct: acct });
  return { stack: new NfStack(rs, host, { seed, nfacct: acct }), rs, payload: r.payload, acct };
}

/** The endpoint a client's SYN was DNATed to. */
function endpointOf(stack: NfStack, src: string, sport: number, now: number): string {
  const r = stack.receive(syn(src, sport), 'cni0', now);
  expect(r.verdict).toBe('ACCEPT');
  const f = r.out!.frame;
  return `${ipv4ToString(be32(f, 30))}:${be16(f, 36)}`;
}

describe('kube-proxy ClientIP affinity in NfStack', () => {
  it('the payload has -m recent and -m nfacct rules, and they load (nfacct objects given)', () => {
    const { payload, rs } = node(1);
    expect(payload).toMatch(/-m recent --name KUBE-SEP-\w+ --rcheck --seconds 10800 --reap -j KUBE-SEP-/);
    expect(payload).toMatch(/-m recent --name KUBE-SEP-\w+ --set -m tcp -p tcp -j DNAT/);
    expect(payload).toContain('-m nfacct --nfacct-name localhost_nps_accepted_pkts');
    // iptables-save spells the options in its own order
    expect(formatSave(rs)).toMatch(/-m recent --set --name KUBE-SEP-\w+ --mask 255\.255\.255\.255 --rsource -m tcp -j DNAT/);
    // without the objects the kernel refuses the rules naming them
    expect(() => parseRestore(payload, new Ruleset(), { noflush: true, nfacct: new NfAcct() })).toThrow(/No such file or directory/);
  });

  it('two connections of one client land on the same endpoint; other clients are spread', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const { stack } = node(seed);
      const first = endpointOf(stack, '10.0.0.5', 40000, 1000);
      expect(endpointOf(stack, '10.0.0.5', 40001, 2000)).toBe(first);
      expect(endpointOf(stack, '10.0.0.5', 40002, 3_000_000)).toBe(first);
      const others = new Set<string>();
      for (let i = 6; i < 30; i++) others.add(endpointOf(stack, `10.0.0.${i}`, 41000, 4000 + i));
      expect(others.size).toBeGreaterThan(1);
      // each client keeps its own endpoint
      for (let i = 6; i < 30; i++) expect(ENDPOINTS.map((e) => `${e}:8080`)).toContain(endpointOf(stack, `10.0.0.${i}`, 42000, 5000 + i));
    }
  });

  it('the SVC chain takes the affinity jump first, and the trace says why; the list holds the client', () => {
    const { stack } = node(7);
    const first = endpointOf(stack, '10.0.0.5', 40000, 1000);
    const sep = endpointChain('ns1/svc1:p80', 'tcp', first);
    const r = stack.receive(syn('10.0.0.5', 40001), 'cni0', 2000);
    const nat = r.hooks.find((h) => h.table === 'nat' && h.hook === 'PREROUTING')!;
    const hit = nat.traversed.find((t) => t.matched && t.chain.startsWith('KUBE-SVC-'))!;
    expect(hit.rule!.target).toEqual({ kind: 'jump', chain: sep });
    expect(hit.notes).toEqual([`recent --rcheck ${sep} src 10.0.0.5: match`]);
    expect(stack.recent.procText(sep)).toBe('src=10.0.0.5 ttl: 64 last_seen: 2000 oldest_pkt: 2 1000, 2000\n');
  });

  it('after timeoutSeconds without a new connection the client is balanced afresh (and the stale entry reaped)', () => {
    const { stack } = node(3);
    const first = endpointOf(stack, '10.0.0.5', 40000, 0);
    const sep = endpointChain('ns1/svc1:p80', 'tcp', first);
    const later: string[] = [];
    for (let k = 1; k <= 12; k++) {
      // each connection comes more than 10800 s after the one before
      later.push(endpointOf(stack, '10.0.0.5', 40000 + k, k * 10_801_000));
    }
    expect(new Set(later).size).toBeGreaterThan(1);
    // the --rcheck --reap rules met on the way removed the stale entries: only the last endpoint's list holds the client
    const holding = [...stack.recent.lists.values()].filter((l) => l.entries.size > 0).map((l) => l.name);
    expect(holding).toEqual([endpointChain('ns1/svc1:p80', 'tcp', later[later.length - 1]!)]);
    expect(stack.recent.lists.has(sep)).toBe(true);
  });
});

describe('kube-proxy nfacct counters in NfStack', () => {
  it('a localhost NodePort connection counts into localhost_nps_accepted_pkts; an INVALID forwarded packet into ct_state_invalid_dropped_pkts', () => {
    // kube-proxy turns route_localnet on when localhost NodePorts are served
    const { stack, acct } = node(1, { ...NODE, routeLocalnet: true });
    const lo = stack.send(syn('127.0.0.1', 40000, '127.0.0.1', 30080), 0);
    expect(lo.verdict).toBe('ACCEPT');
    expect(acct.get('localhost_nps_accepted_pkts')).toEqual({ packets: 1, bytes: 40 });
    // a lone RST has no connection: INVALID, dropped by KUBE-FORWARD (BEHAVIOUR.md Linux §8)
    const rst = stack.receive(syn('10.0.0.5', 40001, '10.180.0.1', 8080, 0x04), 'cni0', 1000);
    expect(rst.verdict).toBe('DROP');
    expect(acct.get('ct_state_invalid_dropped_pkts')).toEqual({ packets: 1, bytes: 40 });
    expect(acct.list()).toBe('{ pkts = 00000000000000000001, bytes = 00000000000000000040 } = ct_state_invalid_dropped_pkts;\n'
      + '{ pkts = 00000000000000000001, bytes = 00000000000000000040 } = localhost_nps_accepted_pkts;\n');
  });
});
