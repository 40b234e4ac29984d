/**
 * `sdnemu shard --map FILE --index K` (cli layer): one shard of a shard map
 * (shard/map.ts), as a process of its own — a pod of deploy/k8s's
 * StatefulSet, or a process on this machine — exchanging real VXLAN (or
 * Geneve) datagrams with the other shards, in real time.
 *
 * What: `shardDeploy(opts, out, stopped)`
 *  1. reads the map and its `source.file`. Only topology files run now: a
 *     source whose format (given, or detected as `sdnemu run` does) is
 *     `manifests` or `cloud` is refused (SHARD_UNSUPPORTED_SOURCE);
 *  2. partitions it: the map's explicit lists (held against the file's nodes
 *     by `checkNodes`) or `auto` (partition.ts, as the local mode does), and
 *     names the cut links (their two end nodes on different shards);
 *  3. builds the WHOLE file as shard-runtime.ts does (same seed, names and
 *     MACs as one process), with the traffic (--ping/--udp) whose source
 *     host is on shard K;
 *  4. detaches every cut link and, on K's side of it, links a `UdpUnderlay`
 *     (udp-underlay.ts) to the interface the link held, with the real
 *     link's bandwidth and MTU but no delay (the real network's is wall time);
 *  5. binds its socket (`--bind ADDR:PORT`, default 0.0.0.0:underlay.port),
 *     resolves the peers (every other shard's VTEP addresses → that shard's
 *     `renderPeers` DNS name and the map's port, or `--peer J=HOST:PORT`),
 *     retrying each second until they resolve, then creates the ready file
 *     (`--ready-file`, default $SDNEMU_READY_FILE) and runs the simulator on
 *     a RealTimeClock (udp-realtime.ts);
 *  6. when 'stoppedBy' resolves (default: on SIGTERM or SIGINT), stops the clock,
 *     closes the socket and prints the report: the partition, each ping's
 *     summary, UDP counts, the underlay's counters and this shard's ledger.
 * Demultiplexing — kept simple, one socket per shard, on the map's one port:
 * a VXLAN datagram does not carry its outer destination IP, so every
 * datagram a shard's socket receives is given ONE underlay destination, and
 * a source address:port names ONE peer underlay IP. Hence the limits
 * checked before anything runs (SHARD_DEMUX_UNSUPPORTED): a shard has at
 * most one cut end, and at most one VTEP (its address is what datagrams
 * arriving on that end are addressed to) — a hypervisor (with its VTEP) cut
 * from the underlay router, or the router's side with one hypervisor behind
 * it. More would need the destination carried (a port per VTEP in the map).
 * A cut end whose node is not a host or router (a bridge) is refused too.
 * Not done: the trace viewer (`viewer.shard` only prints that it is not
 * served), manifests and cloud sources, OVS tunnel ports as VTEPs (only the
 * file's `vteps`), a peer whose name never resolves (retried until stopped).
 * Neighbours: main.ts (dispatch, signals), shard/map.ts, shard/partition.ts,
 * shard/shard-runtime.ts, shard/udp-underlay.ts, shard/udp-realtime.ts,
 * cli/shard.ts (the summaries), deploy/README.md (the contract).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import type { Writable } from 'node:stream';
import { SdnemuError } from '../errors.js';
import { loadTopology } from '../topology/file.js';
import { isManifestText } from './kube.js';
import { isCloudText } from '../compute/run.js';
import { checkNodes, parseShardMap, renderPeers, type ShardMap } from '../shard/map.js';
import { endNode, graphOfTopology, partition } from '../shard/partition.js';
import { ShardRuntime, type ShardPing, type ShardUdp } from '../shard/shard-runtime.js';
import { UdpUnderlay, type UdpPeerAddress } from '../shard/udp-underlay.js';
import { RealTimeClock } from '../shard/udp-realtime.js';
import { Link } from '../sim/link.js';
import { Host } from '../netstack/host.js';
import { ledgerText, partitionText, pingSummary } from './shard.js';
import { signalled } from './args.js';

/** A shard that cannot run as asked: the code names why. */
export class ShardDeployError extends SdnemuError {
  constructor(code: string, message: string) { super(code, message); this.name = 'ShardDeployError'; }
}

export interface ShardDeployOptions {
  map: string;
  index: number;
  namespace: string;
  /** the socket's address and port (default 0.0.0.0 and the map's underlay.port) */
  bind?: UdpPeerAddress;
  /** shard index → where it really listens, instead of its DNS name and the map's port */
  peers?: Map<number, UdpPeerAddress>;
  pings?: ShardPing[];
  udp?: ShardUdp[];
  readyFile?: string;
}

/** `J=HOST:PORT` (a --peer option). */
export function parsePeerOption(text: string): [number, UdpPeerAddress] {
  const m = /^(\d{1,4})=([^:\s]+):(\d{1,5})$/.exec(text);
  if (m === null || Number(m[3]) < 1 || Number(m[3]) > 65535) throw new ShardDeployError('CLI_BAD_VALUE', `--peer ${text}: expected SHARD=HOST:PORT`);
  return [Number(m[1]), { address: m[2]!, port: Number(m[3]) }];
}

/** `ADDR:PORT` (the --bind option). */
export function parseBindOption(text: string): UdpPeerAddress {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(text);
  if (m === null || Number(m[2]) > 65535) throw new ShardDeployError('CLI_BAD_VALUE', `--bind ${text}: expected IPV4:PORT`);
  return { address: m[1]!, port: Number(m[2]) };
}

/** One cut link as shard K sees it. */
interface CutEnd { link: number; node: string; side: 0 | 1 }

/** What shard 'index' of 'map' runs: who is where, its cut ends, each shard's VTEP addresses. */
export function planShard(map: ShardMap, text: string, index: number): { shardOf: Map<string, number>; members: string[][]; ends: CutEnd[]; cut: number[]; vtepIps: string[][]; lookaheadNs: number } {
  const loaded = loadTopology(text);
  const graph = graphOfTopology(loaded);
  checkNodes(map, graph.nodes);
  let shardOf: Map<string, number>;
  if (map.partition === 'auto') shardOf = partition(graph, { shards: map.shards }).shardOf;
  else {
    shardOf = new Map();
    map.partition.forEach((list, k) => list.forEach((n) => shardOf.set(n, k)));
  }
  const members: string[][] = Array.from({ length: map.shards }, () => []);
  for (const n of graph.nodes) members[shardOf.get(n)!]!.push(n);
  // the VTEP/OVS-to-host ties (after the file's links) cannot be cut: they are one node's stack
  graph.links.slice(loaded.links.length).forEach((l) => {
    if (shardOf.get(l.a) !== shardOf.get(l.b)) throw new ShardDeployError('SHARD_SPLIT_NODE', `partition: ${l.a} and ${l.b} run in one node's stack and must be on one shard`);
  });
  const vteps = new Set(loaded.vteps.map((v) => v.name));
  const ends: CutEnd[] = [], cut: number[] = [];
  let lookaheadNs = Infinity;
  loaded.links.forEach((l, j) => {
    const a = endNode(l.a, vteps), b = endNode(l.b, vteps);
    if (shardOf.get(a) === shardOf.get(b)) return;
    cut.push(j);
    lookaheadNs = Math.min(lookaheadNs, graph.links[j]!.delayNs);
    if (shardOf.get(a) === index) ends.push({ link: j, node: a, side: 0 });
    if (shardOf.get(b) === index) ends.push({ link: j, node: b, side: 1 });
  });
  const vtepIps: string[][] = Array.from({ length: map.shards }, () => []);
  for (const v of loaded.vteps) {
    const ip = v.local ?? null;
    if (ip === null) throw new ShardDeployError('SHARD_VTEP_NO_LOCAL', `${v.field}: VTEP ${v.name} has no local address; a shard's peers are found by it`);
    const list = vtepIps[shardOf.get(v.host)!]!;
    if (!list.includes(ip)) list.push(ip);
  }
  if (ends.length > 1) {
    throw new ShardDeployError('SHARD_DEMUX_UNSUPPORTED', `shard ${index} has ${ends.length} cut links (${ends.map((e) => `links[${e.link}] at ${e.node}`).join(', ')}); one socket per shard serves one: partition so that each shard has at most one`);
  }
  vtepIps.forEach((ips, k) => {
    if (ips.length > 1) throw new ShardDeployError('SHARD_DEMUX_UNSUPPORTED', `shard ${k} has ${ips.length} VTEP addresses (${ips.join(', ')}); one socket per shard carries one: partition so that each shard has at most one`);
  });
  return { shardOf, members, ends, cut, vtepIps, lookaheadNs };
}

/** The format of a map's source: given, else detected as `sdnemu run` does. */
function formatOf(map: ShardMap, text: string): string {
  return map.source.format ?? (isManifestText(text) ? 'manifests' : isCloudText(text) ? 'cloud' : 'topology');
}

/** Resolve 'host' to an IPv4 address, retrying each second until it does or 'stopped' says so (null). */
async function resolve4(host: string, stopped: { now: boolean }, err: Writable): Promise<string | null> {
  for (let tries = 0; !stopped.now; tries++) {
    try { return (await lookup(host, { family: 4 })).address; } catch (e) {
      if (tries === 0) err.write(`sdnemu: shard: ${host} does not resolve yet (${(e as Error).message}); retrying\n`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  return null;
}

/** Deploy mode (see the header): the exit status once 'stopped' resolves. */
export async function shardDeploy(opts: ShardDeployOptions, out: Writable, stoppedBy?: Promise<void>, err: Writable = process.stderr): Promise<number> {
  const map = parseShardMap(readFileSync(opts.map, 'utf8'));
  if (!Number.isInteger(opts.index) || opts.index < 0 || opts.index >= map.shards) throw new ShardDeployError('CLI_BAD_VALUE', `--index ${opts.index}: the map has shards 0..${map.shards - 1}`);
  const addresses = renderPeers(map, opts.namespace);
  const text = readFileSync(map.source.file, 'utf8');
  const format = formatOf(map, text);
  if (format !== 'topology') {
    throw new ShardDeployError('SHARD_UNSUPPORTED_SOURCE', `source.format: ${format}: sdnemu shard runs topology files only for now (hosts, routers, links, vteps); ${format} sources are not supported yet`);
  }
  const plan = planShard(map, text, opts.index);
  const rt = new ShardRuntime({ text, shard: opts.index, shardOf: plan.shardOf, cut: [], shards: map.shards,
    traffic: { pings: opts.pings ?? [], udp: opts.udp ?? [] } });
  const clock = new RealTimeClock(rt.sim, { onError: (e) => { err.write(`sdnemu: shard ${opts.index}: the model threw: ${e instanceof Error ? e.message : String(e)}\n`); } });
  const bind = opts.bind ?? { address: '0.0.0.0', port: map.underlay.port };
  const underlays: UdpUnderlay[] = [];
  // every cut link is detached (the other shards' nodes stay built and idle); K's ends get a real socket
  const held = new Map(plan.ends.map((e) => [e.link, e.side === 0 ? rt.topology.links[e.link]!.a : rt.topology.links[e.link]!.b]));
  for (const j of plan.cut) rt.topology.links[j]!.detach();
  for (const e of plan.ends) {
    const l = rt.topology.links[e.link]!, port = held.get(e.link)!;
    const node = rt.topology.node(e.node);
    if (!(node instanceof Host)) throw new ShardDeployError('SHARD_CUT_NOT_A_HOST', `links[${e.link}]: the cut end at ${e.node} is not a host or router; only those can hold a real underlay`);
    const localIp = plan.vtepIps[opts.index]![0];
    if (localIp === undefined) throw new ShardDeployError('SHARD_DEMUX_UNSUPPORTED', `shard ${opts.index} has a cut link (links[${e.link}]) but no VTEP: nothing on it sends or receives the tunnel`);
    const decl = rt.built.loaded!.hosts.find((h) => h.name === e.node);
    const gateway = decl?.routes.find((r) => r.dev === port.name && typeof r.via === 'string' && /^\d+\.\d+\.\d+\.\d+$/.test(r.via))?.via;
    const u = new UdpUnderlay(node, { name: `${e.node}/underlay`, localIp, iface: port.name, bind, proto: map.underlay.encap, clock,
      ...(gateway !== undefined ? { gateway } : {}) });
    new Link(rt.sim, port, u.addPort(), { delay: 0, bandwidth: l.bps, mtu: l.mtu, loss: l.loss, queue: l.queueBytes });
    underlays.push(u);
  }
  // signals are listened to only once the shard is built (a refused map leaves no listener behind)
  const stopped = stoppedBy ?? signalled();
  const stop = { now: false };
  void stopped.then(() => { stop.now = true; });
  try {
    for (const u of underlays) {
      const at = await u.open();
      err.write(`sdnemu: shard ${opts.index}: underlay ${u.name} bound to ${at.address}:${at.port}\n`);
      for (let k = 0; k < map.shards; k++) {
        if (k === opts.index || plan.vtepIps[k]!.length === 0) continue;
        const to = opts.peers?.get(k) ?? { address: addresses[k]!.host, port: addresses[k]!.port };
        const address = await resolve4(to.address, stop, err);
        if (address === null) break;
        for (const ip of plan.vtepIps[k]!) u.addPeer(ip, { address, port: to.port }, `shard ${k}`);
      }
    }
    if (!stop.now) {
      clock.start();
      const ready = opts.readyFile ?? process.env.SDNEMU_READY_FILE;
      if (ready !== undefined && ready !== '') writeFileSync(ready, `${new Date().toISOString()}\n`);
      if (map.viewer !== null && map.viewer.shard === opts.index) err.write(`sdnemu: shard ${opts.index}: the trace viewer (port ${map.viewer.port}) is not served by sdnemu shard yet\n`);
      err.write(`sdnemu: shard ${opts.index}: running (${plan.members[opts.index]!.length} nodes, peers ${underlays.map((u) => JSON.stringify(u.peers())).join(' ')})\n`);
      await stopped;
    }
  } finally {
    clock.stop();
    for (const u of underlays) await u.close();
  }
  const report = rt.report();
  out.write(partitionText({ members: plan.members, cut: plan.cut, lookaheadNs: plan.lookaheadNs }));
  (opts.pings ?? []).forEach((p, i) => { if (plan.shardOf.get(p.from) === opts.index) out.write(pingSummary(p, report.pings.find((o) => o.index === i))); });
  (opts.udp ?? []).forEach((u, i) => {
    const o = report.udp.find((x) => x.index === i);
    if (o !== undefined) out.write(`udp ${u.from} -> ${u.to} at ${u.pps} pps for ${u.durationSec}s: ${o.sent} sent, ${o.refused} refused\n`);
  });
  for (const u of underlays) {
    const s = u.stats;
    const drops = Object.entries(s.drops).filter(([, v]) => v > 0).map(([k, v]) => `${k}=${v}`).join(' ');
    out.write(`underlay ${u.name}: ${s.txDatagrams} datagrams sent, ${s.rxDatagrams} received, ${s.arpReplies} ARP replies${drops ? `, drops ${drops}` : ''}\n`);
  }
  const L = report.ledger;
  const balanced = L.leaks === 0 && L.created === L.delivered + L.dropped + L.merged + L.inFlight + L.parked;
  out.write(ledgerText({ ...L, inTransit: 0, balanced }));
  out.write(`virtual time ${(report.now / 1e6).toFixed(1)} ms, clock slips ${clock.slips}\n`);
  return 0;
}
