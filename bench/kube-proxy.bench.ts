/**
 * kube-proxy benchmark (issue 8, item 7, the per-node part): one node's
 * kube-proxy for a cluster at Kubernetes' published limits — 10,000
 * Services of one TCP port each and 150,000 endpoints (15 per Service,
 * spread over 5,000 nodes, so a handful are local to this node).
 * Cases (each in a child process of its own, as harness.ts runIsolated):
 *  - iptables mode, first sync: the change tracker takes in every object
 *    and the full payload is written (large-cluster mode: no per-endpoint
 *    comments);
 *  - iptables mode, a forced full sync of the same state (what kube-proxy's
 *    hourly full resync costs);
 *  - iptables mode, the first sync's payload loaded into a node's netfilter
 *    (`iptables-restore --noflush` into empty tables: what applying it costs);
 *  - iptables mode, a partial sync after one endpoint of one Service changed
 *    (the common case: the filter table and KUBE-SERVICES/KUBE-NODEPORTS are
 *    written again, the SVC/SEP chains only for that Service);
 *  - ipvs mode, first sync (10,000 virtual servers, 150,000 real servers,
 *    the ipsets) and a sync after one endpoint change;
 *  - iptables mode, the first sync's payload on another node of the
 *    cluster: replayed from the first node's load (restoreShared /
 *    replayRestore: the chains taken, the commit checks run), as the CNI
 *    does for the nodes a KubeProxyFleet sync is shared by;
 *  - iptables mode, a one-rule restore on the loaded tables (insert and
 *    delete: the working copy and the commit checks over 160k chains).
 *  - the services sweep for bench/plot.ts: iptables and ipvs first syncs
 *    at 100 and 1,000 Services (15 endpoints each; the 10,000 figures are
 *    the cases above); every result's extra has `services`.
 * A sync takes from milliseconds to seconds, too long for benchmark.js's
 * sampling; each case times whole syncs with performance.now() for at least
 * 3 s (at least 5 runs; first syncs build a fresh proxier per run, outside
 * the timing) and reports syncs/s with the rme of the mean, plus the mean
 * and median in ms, the payload size and its line counts.
 */
import { performance } from 'node:perf_hooks';
import { IptablesProxier, IpvsProxier } from '../src/k8s/kube-proxy/index.js';
import type { EndpointSlice, Service } from '../src/k8s/api.js';
import { rateStats, type BenchResult } from './harness.js';
import { Ruleset } from '../src/netfilter/model.js';
import { parseRestore, replayRestore, restoreShared } from '../src/netfilter/restore.js';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SERVICES = 10_000;
const PER_SERVICE = 15;
const NODES = 5000;
const CONFIG = { hostname: 'node-0', nodeIPs: ['192.168.0.2'], localDetector: { mode: 'cluster-cidr', clusterCIDR: '10.0.0.0/8' } as const, nfacct: false };

const ipOf = (i: number): string => `10.${16 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;

function service(s: number): Service {
  return {
    apiVersion: 'v1', kind: 'Service', metadata: { name: `svc${s}`, namespace: `ns${s % 100}` },
    spec: { clusterIP: `172.${16 + (s >> 16)}.${(s >> 8) & 255}.${s & 255}`, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
  };
}
function slice(s: number, shift = 0): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: `svc${s}-abcde`, namespace: `ns${s % 100}`, labels: { 'kubernetes.io/service-name': `svc${s}` } },
    addressType: 'IPv4', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: Array.from({ length: PER_SERVICE }, (_, e) => {
      const i = s * PER_SERVICE + e;
      return { addresses: [ipOf(e === 0 && shift !== 0 ? i + 2_000_000 * shift : i)], nodeName: `node-${i % NODES}` };
    }),
  };
}

interface Loadable {
  addService(s: Service): void; addEndpointSlice(e: EndpointSlice): void; updateEndpointSlice(e: EndpointSlice): void;
}
function load<T extends Loadable>(p: T, n = SERVICES): T {
  for (let s = 0; s < n; s++) p.addService(service(s));
  for (let s = 0; s < n; s++) p.addEndpointSlice(slice(s));
  return p;
}

/** Time 'run' (with an untimed 'prepare' before each) for ≥ 3 s and ≥ 5 runs. */
function measure(name: string, prepare: () => void, run: () => Record<string, number | string>, services = SERVICES): BenchResult {
  const ms: number[] = [];
  let extra: Record<string, number | string> = {};
  const t0 = performance.now();
  while (ms.length < 5 || performance.now() - t0 < 3000) {
    prepare();
    const a = performance.now();
    extra = run();
    ms.push(performance.now() - a);
    if (ms.length >= 200) break;
  }
  const mean = ms.reduce((x, y) => x + y, 0) / ms.length;
  const sd = Math.sqrt(ms.reduce((x, y) => x + (y - mean) ** 2, 0) / Math.max(ms.length - 1, 1));
  const sorted = [...ms].sort((x, y) => x - y);
  // 95% margin of error of the mean, relative (as benchmark.js's rme, with the normal quantile)
  const rme = (1.96 * sd / Math.sqrt(ms.length) / mean) * 100;
  return {
    suite: 'kube-proxy', name, perSec: 1000 / mean, ...rateStats(ms, 1, 1000), rme, samples: ms.length, batch: 1,
    extra: { services, meanMs: Math.round(mean * 10) / 10, p50Ms: Math.round(sorted[sorted.length >> 1]! * 10) / 10, ...extra },
  };
}

const lines = (t: string, prefix: string): number => { let n = 0; for (const l of t.split('\n')) if (l.startsWith(prefix)) n++; return n; };
const payloadFigures = (t: string): Record<string, number> => ({ payloadMB: Math.round(t.length / 1e5) / 10, rules: lines(t, '-A '), chains: lines(t, ':') });

const CASES: (() => BenchResult)[] = [
  () => {
    let p = new IptablesProxier(CONFIG);
    return measure('iptables: first (full) sync, 10k services / 150k endpoints', () => { p = load(new IptablesProxier(CONFIG)); }, () => {
      const r = p.sync(0);
      return { ...payloadFigures(r.payload), largeClusterMode: String(p.largeClusterMode) };
    });
  },
  () => {
    const p = load(new IptablesProxier(CONFIG));
    p.sync(0);
    return measure('iptables: forced full resync, 10k services / 150k endpoints', () => { p.forceFullSync(); }, () => payloadFigures(p.sync(1000).payload));
  },
  () => {
    const p = load(new IptablesProxier(CONFIG));
    p.sync(0);
    let n = 0;
    return measure('iptables: partial sync after one endpoint change, 10k services / 150k endpoints', () => undefined, () => {
      n++;
      p.updateEndpointSlice(slice(n % SERVICES, 1 + (n & 1)));
      return payloadFigures(p.sync(1000 + n).payload);
    });
  },
  () => {
    // what a node does with the first sync: iptables-restore --noflush into its (empty) tables
    const r = load(new IptablesProxier(CONFIG)).sync(0);
    const rs = { v: new Ruleset() };
    return measure('iptables: the first sync loaded into a node\'s netfilter (iptables-restore), 10k services / 150k endpoints', () => { rs.v = new Ruleset(); }, () => {
      parseRestore(r.ensure!, rs.v, { noflush: true, counters: true });
      parseRestore(r.payload, rs.v, { noflush: true, counters: true });
      return payloadFigures(r.payload);
    });
  },
  () => {
    let p = new IpvsProxier(CONFIG);
    return measure('ipvs: first sync, 10k services / 150k endpoints', () => { p = load(new IpvsProxier(CONFIG)); }, () => {
      const r = p.sync(0);
      return { virtualServers: p.ipvs.services.length, ...payloadFigures(r.iptables), ipsetLines: r.ipsets.split('\n').length - 1 };
    });
  },
  () => {
    const p = load(new IpvsProxier(CONFIG));
    p.sync(0);
    let n = 0;
    return measure('ipvs: sync after one endpoint change, 10k services / 150k endpoints', () => undefined, () => {
      n++;
      p.updateEndpointSlice(slice(n % SERVICES, 1 + (n & 1)));
      const r = p.sync(1000 + n);
      return { ipsetLines: r.ipsets === '' ? 0 : r.ipsets.split('\n').length - 1 };
    });
  },
  () => {
    // another node of the cluster: the first sync, loaded on one node, replayed on this one (the CNI's applyIptablesShared)
    const r = load(new IptablesProxier(CONFIG)).sync(0);
    const first = new Ruleset();
    parseRestore(r.ensure!, first, { noflush: true });
    const change = restoreShared(r.payload, first, { noflush: true });
    const rs = { v: new Ruleset() };
    return measure('iptables: the first sync replayed on another node (restoreShared / replayRestore), 10k services / 150k endpoints', () => {
      rs.v = new Ruleset();
      parseRestore(r.ensure!, rs.v, { noflush: true });
    }, () => {
      if (!replayRestore(change, rs.v)) throw new Error('the replay was refused');
      return payloadFigures(r.payload);
    });
  },
  () => {
    // a small restore on the loaded tables (kube-proxy's jump rules, or a user's rule): what it costs beside the 160k chains
    const r = load(new IptablesProxier(CONFIG)).sync(0);
    const rs = new Ruleset();
    parseRestore(r.ensure!, rs, { noflush: true });
    parseRestore(r.payload, rs, { noflush: true });
    return measure('iptables: a one-rule restore on the loaded tables, 10k services / 150k endpoints', () => undefined, () => {
      parseRestore('*nat\n-I PREROUTING 1 -s 10.0.0.1/32 -j KUBE-MARK-MASQ\n-D PREROUTING 1\nCOMMIT\n', rs, { noflush: true });
      return {};
    });
  },
  ...[100, 1000].flatMap((n) => [
    () => {
      let p = new IptablesProxier(CONFIG);
      return measure(`iptables: first (full) sync, ${n} services / ${n * PER_SERVICE} endpoints`, () => { p = load(new IptablesProxier(CONFIG), n); },
        () => payloadFigures(p.sync(0).payload), n);
    },
    () => {
      let p = new IpvsProxier(CONFIG);
      return measure(`ipvs: first sync, ${n} services / ${n * PER_SERVICE} endpoints`, () => { p = load(new IpvsProxier(CONFIG), n); },
        () => { p.sync(0); return { virtualServers: p.ipvs.services.length }; }, n);
    },
  ]),
];

const TAG = 'RESULT ';

/** Each case in a child process of its own, so one case's heap and JIT feedback do not carry into the next. */
export async function run(): Promise<BenchResult[]> {
  const out: BenchResult[] = [];
  for (let i = 0; i < CASES.length; i++) {
    const r = spawnSync(process.execPath, [...process.execArgv, '--max-old-space-size=6144', fileURLToPath(import.meta.url), '--case', String(i)],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status !== 0) throw new Error(`kube-proxy bench case ${i} failed (status ${r.status})`);
    const json = r.stdout.split('\n').find((l) => l.startsWith(TAG));
    if (json === undefined) throw new Error(`kube-proxy bench case ${i} printed no result`);
    const x = JSON.parse(json.slice(TAG.length)) as BenchResult;
    console.log(`kube-proxy › ${x.name}: ${x.extra?.['meanMs']} ms per sync ±${x.rme.toFixed(2)}% (${x.samples} runs) ${JSON.stringify(x.extra)}`);
    out.push(x);
  }
  return out;
}

const at = process.argv.indexOf('--case');
if (at >= 0) process.stdout.write(`${TAG}${JSON.stringify(CASES[Number(process.argv[at + 1])]!())}\n`);
else if (import.meta.url === `file://${process.argv[1]}`) await run();
