/**
 * `sdnemu shard` (cli layer): a topology file, or a cluster's manifests,
 * split into shards.
 *
 * What — local mode, `shardLocal`: `sdnemu shard FILE --shards N [--until T]
 * [--ping FROM:TO[:COUNT]]... [--udp FROM:TO:PPS:SECONDS[:PORT]]...
 * [--cluster-cidr CIDR] [--underlay CIDR]` runs the
 * file on N worker threads in virtual-time lockstep (shard/coordinator.ts
 * `runSharded`) and prints, in this order: the partition (each shard's
 * nodes — the first 16 of a long list — the cut links, the lookahead), each
 * ping's summary as ping(8) prints it, each UDP flow's counts (sent, refused,
 * received back: an echo's answers), the rounds, the gathered packet ledger
 * and the wall-clock figures. A file of Kubernetes manifests (detected as
 * `sdnemu run` does) is a cluster (shard/source.ts: its nodes split with
 * their pods, lazy peer flows; --cluster-cidr and --underlay its pod and
 * node networks, as `new Cluster` takes them); a pod is named
 * NAMESPACE/NAME. Traffic is
 * the --ping/--udp options, or, when none is given, a topology file's `ping`
 * run steps (all started at time 0, not one after the other as `sdnemu run`
 * does; the file's other steps are not run; manifests have none: an error).
 * `--until` is the virtual time the run stops at (default 5s).
 * `--serve [--port N]`: the shards also send their trace records, gathered
 * into a TraceStore in virtual-time order (one id per packet across shards),
 * and after the summary the trace viewer serves them read-only on
 * 127.0.0.1 (trace/recorded.ts; the network built here once more for the
 * viewer's drawing) until SIGINT or SIGTERM.
 * Exit status: 0; 1 when a shard failed (the message names it and why, and
 * what the others reported is still printed); usage errors 2 (main.ts).
 * Deploy mode (`--map FILE --index K`, one shard per process, real time):
 * shard-deploy.ts, which prints its report with this file's summaries.
 * Neighbours: main.ts (dispatch), shard-deploy.ts, shard/coordinator.ts, shard/shard-runtime.ts
 * (ShardTraffic, the outcomes).
 */
import { readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { InputError } from '../errors.js';
import { parseDuration } from '../sim/units.js';
import { loadTopology } from '../topology/file.js';
import { runSharded, type ShardedRunResult } from '../shard/coordinator.js';
import type { PingOutcome, ShardFault, ShardPing, ShardTraffic, ShardUdp } from '../shard/shard-runtime.js';
import { buildSource, type ShardFormat, type ShardSource } from '../shard/source.js';
import type { TraceEvent } from '../sim/tracer.js';
import { TraceStore } from '../trace/store.js';
import { RecordedRun } from '../trace/recorded.js';
import { topologySnapshot } from '../trace/session.js';
import { TraceServer } from '../trace/server.js';
import { loadViewerAssets } from '../viewer/assets.js';
import { signalled } from './args.js';
import { isManifestText } from './kube.js';

export interface ShardLocalOptions {
  file: string;
  shards: number;
  /** virtual time to stop at, ns */
  endNs: number;
  pings: ShardPing[];
  udp: ShardUdp[];
  /** a cluster's pod and node networks (manifests only) */
  cluster?: { clusterCIDR?: string; underlay?: string };
  /** faults to inject, by shard (tests of the failure path) */
  faults?: Record<number, ShardFault>;
  /** where the failure line goes (default process.stderr) */
  err?: Writable;
  /** after the run, serve its gathered trace records to the viewer on 127.0.0.1:port (0: any free port) until 'stop' */
  serve?: { port: number; stop?: Promise<void> };
}

/** `--ping FROM:TO[:COUNT]` as a ShardPing (InputError naming the option). */
export function parsePingOption(text: string): ShardPing {
  const parts = text.split(':');
  const count = parts[2] === undefined ? 1 : Number(parts[2]);
  if (parts.length < 2 || parts.length > 3 || parts[0] === '' || parts[1] === '' || !Number.isInteger(count) || count < 1) {
    throw new InputError('CLI_BAD_VALUE', '--ping', `'${text}': expected FROM:TO[:COUNT] (a host name, an address, a count ≥ 1)`);
  }
  return { from: parts[0]!, to: parts[1]!, count };
}

/** `--udp FROM:TO:PPS:SECONDS[:PORT]` as a ShardUdp (InputError naming the option; PORT default 9, discard). */
export function parseUdpOption(text: string): ShardUdp {
  const parts = text.split(':');
  const pps = Number(parts[2]), secs = Number(parts[3]), dport = parts[4] === undefined ? undefined : Number(parts[4]);
  if (parts.length < 4 || parts.length > 5 || parts[0] === '' || parts[1] === '' || !(pps > 0) || !Number.isFinite(pps) || !(secs > 0) || !Number.isFinite(secs)
    || (dport !== undefined && !(Number.isInteger(dport) && dport >= 1 && dport <= 65535))) {
    throw new InputError('CLI_BAD_VALUE', '--udp', `'${text}': expected FROM:TO:PPS:SECONDS[:PORT] (PPS and SECONDS > 0, PORT 1-65535)`);
  }
  return { from: parts[0]!, to: parts[1]!, pps, durationSec: secs, ...(dport !== undefined ? { dport } : {}) };
}

/** `--until T` in ns (InputError naming the option). */
export function parseUntil(text: string): number {
  try {
    const ns = parseDuration(text, '--until');
    if (ns > 0) return ns;
  } catch { /* reported below */ }
  throw new InputError('CLI_BAD_VALUE', '--until', `'${text}': expected a duration > 0 such as 2s or 500ms`);
}

/** The traffic of the options, else a topology file's ping steps (manifests have none: InputError). */
export function trafficOf(text: string, format: ShardFormat, pings: ShardPing[], udp: ShardUdp[]): ShardTraffic {
  if (pings.length > 0 || udp.length > 0) return { pings, udp };
  if (format === 'manifests') {
    throw new InputError('CLI_MISSING', '--udp', 'a cluster\'s manifests say no traffic: give --ping or --udp (e.g. --udp default/POD:CLUSTER_IP:1000:1:53)');
  }
  const steps = loadTopology(text).steps;
  return {
    pings: steps.flatMap((s) => (s.kind === 'ping'
      ? [{ from: s.from, to: s.to, count: s.count, ...(s.interval !== undefined ? { interval: s.interval } : {}), ...(s.size !== undefined ? { size: s.size } : {}) }]
      : [])),
  };
}

/** A ping's summary as ping(8) ends: statistics, then rtt min/avg/max. */
export function pingSummary(p: ShardPing, o: PingOutcome | undefined): string {
  const lines = [`--- ${p.to} ping statistics (from ${p.from}) ---`];
  if (o === undefined) return `${lines[0]}\nnot started (its shard did not report)\n`;
  const loss = o.transmitted === 0 ? 0 : Math.round((100 * (o.transmitted - o.received)) / o.transmitted);
  lines.push(`${o.transmitted} packets transmitted, ${o.received} received, ${loss}% packet loss`);
  if (o.rttsNs.length > 0) {
    const ms = o.rttsNs.map((x) => x / 1e6);
    const avg = ms.reduce((a, b) => a + b, 0) / ms.length;
    lines.push(`rtt min/avg/max = ${Math.min(...ms).toFixed(3)}/${avg.toFixed(3)}/${Math.max(...ms).toFixed(3)} ms`);
  }
  for (const e of o.errors) lines.push(e);
  return `${lines.join('\n')}\n`;
}

/** At most 'n' of 'xs', space-separated, then how many more. */
function some(xs: readonly string[], n = 16): string {
  return xs.length <= n ? xs.join(' ') : `${xs.slice(0, n).join(' ')} … (${xs.length - n} more)`;
}

/** The partition as text: each shard's nodes, the cut links, the lookahead (long lists cut short). */
export function partitionText(part: ShardedRunResult['partition']): string {
  const look = Number.isFinite(part.lookaheadNs) ? `${part.lookaheadNs / 1000} µs` : 'none (nothing cut)';
  const lines = part.members.map((m, k) => `shard ${k}: ${m.length} node${m.length === 1 ? '' : 's'}: ${some(m)}`);
  lines.push(`cut links: ${part.cut.length} (${some(part.cut.map((j) => `links[${j}]`))}), lookahead ${look}`);
  return `${lines.join('\n')}\n`;
}

/** The gathered ledger as one line. */
export function ledgerText(l: ShardedRunResult['ledger']): string {
  const drops = Object.entries(l.drops).map(([k, v]) => `${k}=${v}`).join(' ');
  return `ledger: created ${l.created}, delivered ${l.delivered}, dropped ${l.dropped}${drops ? ` (${drops})` : ''}, merged ${l.merged}, ` +
    `in flight ${l.inFlight}, parked ${l.parked}, in transit ${l.inTransit}, leaks ${l.leaks}: ${l.balanced ? 'balanced' : 'NOT BALANCED'}\n`;
}

/** Local mode (see the header): the exit status. */
export async function shardLocal(opts: ShardLocalOptions, out: Writable): Promise<number> {
  const text = readFileSync(opts.file, 'utf8');
  const format: ShardFormat = isManifestText(text) ? 'manifests' : 'topology';
  const given = Object.keys(opts.cluster ?? {});
  if (format === 'topology' && given.length > 0) {
    throw new InputError('CLI_BAD_VALUE', `--${given[0] === 'clusterCIDR' ? 'cluster-cidr' : 'underlay'}`, `${opts.file} is a topology file: the option is a cluster's (Kubernetes manifests)`);
  }
  const traffic = trafficOf(text, format, opts.pings, opts.udp);
  const source: ShardSource = { text, format, ...(format === 'manifests' ? { cluster: { lazyPeers: true, ...opts.cluster } } : {}) };
  const store = opts.serve !== undefined ? new TraceStore() : null;
  const t0 = performance.now();
  const r = await runSharded({ ...source, shards: opts.shards, traffic, endNs: opts.endNs, ...(opts.faults !== undefined ? { faults: opts.faults } : {}),
    ...(store !== null ? { onTrace: (ev: TraceEvent) => store.add(ev) } : {}) });
  const wallMs = performance.now() - t0;
  out.write(partitionText(r.partition));
  (traffic.pings ?? []).forEach((p, i) => out.write(pingSummary(p, r.pings.find((o) => o.index === i))));
  (traffic.udp ?? []).forEach((u, i) => {
    const o = r.udp.find((x) => x.index === i);
    out.write(`udp ${u.from} -> ${u.to} at ${u.pps} pps for ${u.durationSec}s: ${o === undefined ? 'not started' : `${o.sent} sent, ${o.refused} refused, ${o.received} received back`}\n`);
  });
  out.write(`rounds: ${r.rounds} to ${opts.endNs / 1e6} ms of virtual time\n`);
  out.write(ledgerText(r.ledger));
  out.write(`wall: ${wallMs.toFixed(0)} ms (start ${r.wall.startMs.toFixed(0)} ms, rounds ${r.wall.roundsMs.toFixed(0)} ms, critical path ${r.wall.criticalMs.toFixed(0)} ms)\n`);
  if (r.failure !== null) {
    (opts.err ?? process.stderr).write(`sdnemu: shard ${r.failure.shard} failed: ${r.failure.reason}\n`);
    return 1;
  }
  if (opts.serve !== undefined && store !== null) {
    // the viewer draws the network the records came from: built here once more, for its snapshot
    const run = new RecordedRun(store, topologySnapshot(buildSource(source).topology), { now: opts.endNs, events: r.reports.reduce((a, x) => a + x.eventsRun, 0) });
    const server = new TraceServer({ session: run, assets: await loadViewerAssets(), host: '127.0.0.1', port: opts.serve.port,
      onError: (e) => { (opts.err ?? process.stderr).write(`sdnemu: trace server: ${e instanceof Error ? e.message : String(e)}\n`); } });
    await server.start();
    out.write(`sdnemu trace viewer: ${server.address()} (${store.size} packets recorded from ${opts.shards} shards)\n`);
    await (opts.serve.stop ?? signalled());
    await server.close();
  }
  return 0;
}
