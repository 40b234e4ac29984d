/**
 * The soak (issue 11): the demo network (`npm start`'s: the VXLAN overlay
 * with a NAT gateway and a floating IP, the Kubernetes cluster, the
 * cloud) carries traffic without pause — UDP streams across the overlay,
 * through DNAT to the floating IP, between cloud VMs across br-tun and out
 * through the router's SNAT, and every client pod requesting the web
 * Service over fresh TCP connections (conntrack, kube-proxy's DNAT, TIME_WAIT
 * churn) — with tracing on, sampled (one packet in `--sample`, into a
 * bounded TraceStore as the viewer's server keeps it), until `--packets`
 * packets have entered the network (the packet ledger's `created`).
 * Every `--every` packets it prints a row: virtual and wall time, RSS and
 * heap after a forced GC, the engine's pending events (timers), the open
 * handles, the trace store's packets, the conntrack entries of every host,
 * the megaflows and exact-match entries of every OVS bridge, and the
 * ledger. At the end: the ledger must balance, and the heap's growth from
 * the first row after warm-up to the last is reported — flat means the
 * run leaks nothing that grows with the packets.
 *   node --expose-gc --import tsx bench/soak.ts [--packets 100000000] [--every 5000000] [--sample 1000]
 * Writes bench/results/soak.json (every row). Not part of `npm test`.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { buildFullDemo, demoRequests } from '../src/k8s/demo.js';
import { FLOATING_IP, ipOf, PINGS } from '../src/topology/demo.js';
import { TraceStore } from '../src/trace/store.js';
import { Host } from '../src/netstack/host.js';
import { OvsBridge } from '../src/devices/ovs-bridge.js';
import type { EventHandler } from '../src/sim/engine.js';
import type { TcpConn } from '../src/netstack/tcp.js';
import { intArg, memory } from './phases.js';

const PACKETS = intArg('packets', 100_000_000, 1);
const EVERY = intArg('every', Math.max(1, Math.min(5_000_000, Math.floor(PACKETS / 20))), 1);
const SAMPLE = intArg('sample', 1000, 1);
const UDP_GAP_NS = 100_000; // each UDP stream: one datagram every 100 µs of virtual time
const TCP_GAP_NS = 20_000_000; // each client pod: a new connection 20 ms after the last closed

const { net, vms, cluster, cloud } = buildFullDemo();
const sim = net.sim;
const store = new TraceStore({ maxPackets: 10_000, maxBytes: 16 << 20 });
store.attach(sim);
sim.tracer.setSample(SAMPLE);

const host = (name: string): Host => net.hostNamed(name);
const payload = new Uint8Array(200);
let udpSent = 0, udpGot = 0, tcpDone = 0, tcpFailed = 0;

/** A UDP stream from 'from' to 'to':9000, one datagram per UDP_GAP_NS, on the engine's clock (no closure per packet). */
class Stream implements EventHandler {
  private readonly sock;
  constructor(from: Host, private readonly to: string) { this.sock = from.sockets.udp(0); }
  onEvent(): void {
    this.sock.send(this.to, 9000, payload);
    udpSent++;
    sim.schedule(UDP_GAP_NS, this);
  }
}

const listen = (h: Host): void => { h.sockets.udp(9000).onMessage = () => { udpGot++; }; };
const streams: [Host, string][] = [];
// the overlay's VM pairs, and the internet to the floating IP (DNAT on nat1, across the tunnel to vm1a)
for (const [a, b] of PINGS) streams.push([vms[a]!, ipOf(b)]);
streams.push([host('internet'), FLOATING_IP]);
// the cloud: VM to VM across br-tun (globex's group lets its members in; acme's web group only
// ICMP and TCP 80), and out through acme-router's SNAT and through globex's NAT gateway
const vmIp = (vm: string): string => cloud.cloud.vm(vm).portDetails[0]!.fixedIps[0]!;
const upstream = host('cloud-internet');
const upstreamIp = cloud.cloud.describe().external!.gateway;
streams.push([host('app1'), vmIp('app2')], [host('web2'), upstreamIp], [host('app2'), upstreamIp]);
for (const h of new Set([...vms, host('app2'), upstream])) listen(h);
streams.forEach(([from, to], i) => sim.schedule(1000 * i, new Stream(from, to)));

// every client pod: GET / from the web Service over a new connection, again and again
const GET = new TextEncoder().encode('GET / HTTP/1.0\r\n\r\n');
for (const r of demoRequests(cluster)) {
  const from = host(r.from);
  const dst = Number(r.to.split('.').reduce((a, x) => a * 256 + Number(x), 0));
  const again: EventHandler = { onEvent: () => open() };
  const open = (): void => {
    const c: TcpConn = from.tcp.connect(dst, r.port);
    c.onConnect = () => c.send(GET);
    c.onData = () => { tcpDone++; c.close(); };
    c.onError = () => { tcpFailed++; };
    c.onClose = () => { sim.schedule(TCP_GAP_NS, again); };
  };
  open();
}

const hosts = [...net.nodes.values()].filter((n): n is Host => n instanceof Host);
const bridges = [...net.nodes.values()].filter((n): n is OvsBridge => n instanceof OvsBridge);
const handles = (): number => (process as unknown as { getActiveResourcesInfo?: () => string[] }).getActiveResourcesInfo?.().length ?? -1;

interface Row {
  packets: number; virtualS: number; wallS: number; rate: number; rssMB: number; heapMB: number; events: number; handles: number;
  traced: number; conntrack: number; megaflows: number; emc: number; delivered: number; dropped: number; inFlight: number; parked: number;
}
const rows: Row[] = [];
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
const OUT = new URL('./results/soak.json', import.meta.url);
const L = sim.ledger;
const t0 = performance.now();
let last = t0, lastPackets = 0;

function row(): Row {
  const now = performance.now();
  const { heapMB, rssMB } = memory();
  const r: Row = {
    packets: L.created, virtualS: +(sim.now / 1e9).toFixed(1), wallS: +((now - t0) / 1e3).toFixed(1),
    rate: Math.round((L.created - lastPackets) / ((now - last) / 1e3)), rssMB, heapMB, events: sim.pending, handles: handles(),
    traced: store.size, conntrack: hosts.reduce((a, h) => a + (h.ipIfBuilt?.ct.size ?? 0), 0),
    megaflows: bridges.reduce((a, b) => a + b.dp.megaflows.size, 0), emc: bridges.reduce((a, b) => a + b.dp.emc.used, 0),
    delivered: L.delivered, dropped: L.dropped, inFlight: L.inFlight, parked: L.parked,
  };
  last = now; lastPackets = L.created;
  return r;
}

const cols = ['packets', 'virtualS', 'wallS', 'rate', 'rssMB', 'heapMB', 'events', 'handles', 'traced', 'conntrack', 'megaflows', 'emc', 'delivered', 'dropped'] as const;
console.log(`soak: the demo network, ${PACKETS.toLocaleString('en')} packets, tracing 1 in ${SAMPLE}; ${streams.length} UDP streams, ${demoRequests(cluster).length} TCP clients`);
console.log(cols.join('\t'));
let next = EVERY;
while (L.created < PACKETS) {
  // run in slices of virtual time; a slice ends between events, where the ledger must balance
  sim.runFor(10_000_000);
  const w = L.check();
  if (w !== null) throw new Error(`at ${sim.now} ns: ${w}`);
  if (L.created >= next) {
    next += EVERY;
    const r = row();
    rows.push(r);
    console.log(cols.map((c) => r[c]).join('\t'));
    writeFileSync(OUT, `${JSON.stringify({ rows }, null, 1)}\n`);
  }
}
const end = rows.at(-1)!;
// warm-up: the first fifth of the run (caches, conntrack, TIME_WAIT reach their steady state)
const warm = rows[Math.min(rows.length - 1, Math.max(1, Math.floor(rows.length / 5)))]!;
const summary = {
  packets: L.created, wallS: end.wallS, packetsPerSec: Math.round(L.created / end.wallS), virtualS: end.virtualS,
  udp: { sent: udpSent, received: udpGot }, tcp: { requests: tcpDone, failed: tcpFailed },
  ledger: L.snapshot(),
  heapMB: { afterWarmup: warm.heapMB, end: end.heapMB, max: Math.max(...rows.slice(rows.indexOf(warm)).map((r) => r.heapMB)) },
  rssMB: { afterWarmup: warm.rssMB, end: end.rssMB, max: Math.max(...rows.map((r) => r.rssMB)) },
  heapGrowthAfterWarmup: +((end.heapMB - warm.heapMB) / warm.heapMB).toFixed(3),
  maxEvents: Math.max(...rows.map((r) => r.events)), maxHandles: Math.max(...rows.map((r) => r.handles)),
  maxConntrack: Math.max(...rows.map((r) => r.conntrack)), maxMegaflows: Math.max(...rows.map((r) => r.megaflows)), maxTraced: Math.max(...rows.map((r) => r.traced)),
};
console.log(`RESULT ${JSON.stringify(summary)}`);
writeFileSync(OUT, `${JSON.stringify({ summary, rows }, null, 1)}\n`);
L.assertBalanced('the soak');
