/**
 * Datapath benchmark (issue 4, item 5): packets/s through `Datapath.receiveBatch`
 * on real frames, with the cache figures beside each rate (EMC and megaflow
 * hit rates, upcalls, masks, subtable probes per megaflow hit).
 *
 * Cases (batches of 32 frames; a "64-byte frame" is 60 bytes on the wire plus
 * the FCS the emulator does not carry):
 *  - EMC forwarding: 1024 UDP flows, one `in_port=1,actions=output:2` rule,
 *    EMC insertion on every hit (emc-insert-inv-prob=1).
 *  - megaflow hits with 1, 10 and 50 masks, EMC off: one rule per input port,
 *    each on a different set of header fields, so each port's traffic makes a
 *    megaflow of its own mask.
 *  - the upcall path at 10k flows (10k /32 routes, every packet a new
 *    megaflow; the cache is emptied each time all 10k are installed, its cost
 *    included) against the cached path on the same pipeline and packets.
 *  - VXLAN encapsulation (tnl_push, then the underlay output) and
 *    decapsulation (tnl_pop, recirculation, inner output).
 *  - ct with SNAT: established TCP flows through ct(nat) → recirc →
 *    ct(commit,nat(src=…)); each frame is copied back to its original bytes
 *    first (NAT rewrites it), and that copy is part of the measured cost.
 *  - a production-scale pipeline: 100k rules across 40 tables (the size
 *    reported for NSX hypervisors), 4096 flows with a skewed popularity (80 %
 *    of packets to 20 % of flows), default EMC insertion (1 in 100).
 * Frames keep 64 bytes of headroom so pushes never copy, and are re-used
 * between iterations (forwarding and tunnels leave the original bytes alone).
 */
import { Datapath } from '../src/datapath/datapath.js';
import { loadBridge } from '../src/ofproto/trace.js';
import { FrameBuilder } from '../src/wire/builder.js';
import { caseMain, runIsolated, runSuite, type BenchCase, type BenchResult } from './harness.js';
import { mulberry32 as rng } from '../src/rng.js';
import { tunnelPorts } from '../test/datapath/fixtures.js';

const BATCH = 32;
const HEADROOM = 64;

/**
 * Frames laid out for receiveBatch as a NIC's packet pool holds them: 2 KiB
 * slots of one buffer, each frame HEADROOM bytes into its slot; every entry
 * of 'bufs' is that one buffer (the datapath keys frames by offset).
 */
class Frames {
  private readonly pool: Uint8Array;
  readonly bufs: Uint8Array[] = [];
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  readonly ports: number[] = [];
  constructor(capacity: number) {
    this.pool = new Uint8Array(capacity * 2048);
  }
  add(frame: Uint8Array, port: number): void {
    const at = this.bufs.length * 2048 + HEADROOM;
    if (at + frame.length > this.pool.length) throw new RangeError('Frames: pool full');
    this.pool.set(frame, at);
    this.bufs.push(this.pool); this.starts.push(at); this.ends.push(at + frame.length); this.ports.push(port);
  }
  /** Another view of frame 'i' (a reordering shares the slots). */
  addRef(from: Frames, i: number): void {
    this.bufs.push(from.bufs[i]!); this.starts.push(from.starts[i]!); this.ends.push(from.ends[i]!); this.ports.push(from.ports[i]!);
  }
  /** A copy of frame 'i' as it is now. */
  copyOf(i: number): Uint8Array { return this.bufs[i]!.slice(this.starts[i], this.ends[i]); }
  /** Put 'bytes' back as frame 'i'. */
  restore(i: number, bytes: Uint8Array): void { this.bufs[i]!.set(bytes, this.starts[i]); }
  get length(): number { return this.bufs.length; }
}

/** A reusable batch view over 'f', cycling through it. */
function batcher(f: Frames) {
  const ports = new Int32Array(BATCH), starts = new Int32Array(BATCH), ends = new Int32Array(BATCH);
  const bufs: Uint8Array[] = new Array<Uint8Array>(BATCH);
  let at = 0;
  return (dp: Datapath, now: number): void => {
    for (let i = 0; i < BATCH; i++) {
      bufs[i] = f.bufs[at]!; starts[i] = f.starts[at]!; ends[i] = f.ends[at]!; ports[i] = f.ports[at]!;
      at = at + 1 === f.length ? 0 : at + 1;
    }
    dp.receiveBatch(BATCH, ports, bufs, starts, ends, now);
  };
}

function udp64(src: string, dst: string, sport: number, dport: number, ident = 1): Uint8Array {
  return new FrameBuilder().eth({ src: '00:00:00:00:00:01', dst: '00:00:00:00:00:02' })
    .ipv4({ src, dst, ident }).udp({ srcPort: sport, dstPort: dport }).payload(new Uint8Array(18)).build();
}
const ip = (n: number, base = 10): string => `${base}.${(n >> 16) & 0xff}.${(n >> 8) & 0xff}.${n & 0xff}`;

/** Cache figures of 'dp' since the counters were last reset. */
function figures(dp: Datapath): Record<string, number | string> {
  const s = dp.stats;
  const pct = (x: number): number => Math.round((1000 * x) / Math.max(s.passes, 1)) / 10;
  const hits = s.megaflowHits;
  return {
    emcHitPct: pct(s.emcHits), megaflowHitPct: pct(s.megaflowHits), upcallPct: pct(s.missed),
    masks: dp.megaflows.masks, flows: dp.megaflows.size,
    probesPerMegaflowHit: Math.round((100 * s.maskProbes) / Math.max(hits, 1)) / 100,
    passesPerPacket: Math.round((100 * s.passes) / Math.max(s.rx, 1)) / 100,
  };
}

/** Run 'n' warm-up batches, then reset the counters, so figures describe the measured steady state. */
function warm(dp: Datapath, next: (dp: Datapath, now: number) => void, n: number): void {
  for (let i = 0; i < n; i++) next(dp, 1);
  resetStats(dp);
}
function resetStats(dp: Datapath): void {
  const s = dp.stats;
  s.rx = 0; s.emcHits = 0; s.megaflowHits = 0; s.maskProbes = 0; s.missed = 0; s.lost = 0; s.passes = 0;
  s.recirculations = 0; s.delivered = 0; s.txPackets = 0; s.dropped.fill(0);
}

function datapath(flows: string, ports: string, emcInvProb: number, opts: { maxIdleMs?: number } = {}): Datapath {
  const br = loadBridge({ flows, ports });
  // a benchmark clock that never advances past the idle timeout
  const dp = new Datapath(br, { emcInsertInvProb: emcInvProb, maxIdleMs: opts.maxIdleMs ?? 1e12 });
  for (const p of br.ports.values()) dp.attach(p.odp, () => { /* the wire */ });
  return dp;
}

export function emcCase(): BenchCase {
  const f = new Frames(1024);
  for (let i = 0; i < 1024; i++) f.add(udp64(ip(i), '10.200.0.1', 1000 + i, 53), 1);
  const dp = datapath('in_port=1,actions=output:2', 'p1 1\np2 2\n', 1);
  const next = batcher(f);
  warm(dp, next, 64);
  return { name: 'EMC forwarding, 1024 flows, 64-byte frames', batch: BATCH, fn: () => { next(dp, 1); return dp.stats.rx; }, extra: () => figures(dp) };
}

/** The header-field combinations that give each port's megaflow its own mask. */
const FIELD_SETS: string[][] = (() => {
  const fields = ['nw_src=10.0.0.1', 'nw_dst=10.200.0.1', 'tp_src=1000', 'tp_dst=53', 'dl_src=00:00:00:00:00:01', 'dl_dst=00:00:00:00:00:02', 'nw_tos=0', 'nw_ttl=64'];
  const out: string[][] = [];
  for (let m = 1; m < 1 << fields.length && out.length < 64; m++) out.push(fields.filter((_, i) => (m & (1 << i)) !== 0));
  return out;
})();

export function megaflowCase(masks: number): BenchCase {
  const rules: string[] = [];
  let ports = 'p100 100\n';
  const f = new Frames(masks * 16);
  for (let i = 0; i < masks; i++) {
    rules.push(`in_port=${i + 1},udp,${FIELD_SETS[i]!.join(',')},actions=output:100`);
    ports += `p${i + 1} ${i + 1}\n`;
    // 16 frames per port; they differ only in fields no rule reads (the IP id)
    for (let k = 0; k < 16; k++) f.add(udp64('10.0.0.1', '10.200.0.1', 1000, 53, k), i + 1);
  }
  const dp = datapath(rules.join('\n'), ports, 0);
  const next = batcher(f);
  warm(dp, next, 64);
  return { name: `megaflow hits, ${masks} mask${masks > 1 ? 's' : ''}, EMC off`, batch: BATCH, fn: () => { next(dp, 1); return dp.stats.rx; }, extra: () => figures(dp) };
}

function routes10k(): { flows: string; frames: Frames } {
  const rules: string[] = [];
  const f = new Frames(10_000);
  for (let i = 0; i < 10_000; i++) {
    rules.push(`priority=32,ip,nw_dst=${ip(i, 172)},actions=mod_dl_dst:02:00:00:00:00:02,dec_ttl,output:2`);
    f.add(udp64('10.0.0.1', ip(i, 172), 1000, 53), 1);
  }
  return { flows: rules.join('\n'), frames: f };
}

export function upcallCases(): BenchCase[] {
  const { flows, frames } = routes10k();
  // upcall: every packet misses; when all 10k megaflows are in, empty the cache (cost included)
  const up = datapath(flows, 'p1 1\np2 2\n', 0);
  const nextUp = batcher(frames);
  let sent = 0;
  // dec_ttl rewrites the frame: keep one pristine copy per frame
  const pristine = frames.bufs.map((_, i) => frames.copyOf(i));
  const restore = (from: number): void => { for (let i = 0; i < BATCH; i++) { const j = (from + i) % frames.length; frames.restore(j, pristine[j]!); } };
  const cached = datapath(flows, 'p1 1\np2 2\n', 100);
  const nextCached = batcher(frames);
  let cachedAt = 0;
  warm(cached, (dp, now) => { restore(cachedAt); nextCached(dp, now); cachedAt = (cachedAt + BATCH) % frames.length; }, 2 * frames.length / BATCH);
  return [
    {
      name: 'upcall path, 10k flows (every packet a new megaflow)', batch: BATCH,
      fn: () => {
        if (sent >= frames.length) { up.flushFlows(); sent = 0; }
        restore(sent);
        nextUp(up, 1);
        sent += BATCH;
        return up.stats.rx;
      },
      extra: () => figures(up),
    },
    {
      name: 'cached path, same 10k flows and packets', batch: BATCH,
      fn: () => { restore(cachedAt); nextCached(cached, 1); cachedAt = (cachedAt + BATCH) % frames.length; return cached.stats.rx; },
      extra: () => figures(cached),
    },
  ];
}


function vxlanCases(): BenchCase[] {
  const push = datapath('in_port=1,actions=set_field:0x64->tun_id,output:10\nin_port=LOCAL,actions=output:2', tunnelPorts(), 100);
  const inner = new Frames(1024);
  for (let i = 0; i < 1024; i++) inner.add(udp64(ip(i), '10.200.0.1', 1000 + i, 53), 1);
  const nextPush = batcher(inner);
  warm(push, nextPush, 64);
  const pop = datapath('in_port=2,actions=LOCAL\nin_port=10,tun_id=0x64,actions=output:1', tunnelPorts(), 100);
  const outer = new Frames(1024);
  for (let i = 0; i < 1024; i++) {
    const fr = new FrameBuilder().eth({ src: 'aa:55:aa:66:00:00', dst: 'aa:55:aa:55:00:00' })
      .ipv4({ src: '192.168.1.2', dst: '192.168.1.1', df: true, ident: 0 }).udp({ srcPort: 32768 + i, dstPort: 4789, checksum: 0 })
      .vxlan({ vni: 100 }).payload(udp64(ip(i), '10.200.0.1', 1000 + i, 53)).build();
    outer.add(fr, 2);
  }
  const nextPop = batcher(outer);
  warm(pop, nextPop, 64);
  return [
    { name: 'VXLAN encapsulation (tnl_push + output), 1024 flows', batch: BATCH, fn: () => { nextPush(push, 1); return push.stats.rx; }, extra: () => figures(push) },
    { name: 'VXLAN decapsulation (tnl_pop + recirc + output), 1024 flows', batch: BATCH, fn: () => { nextPop(pop, 1); return pop.stats.rx; }, extra: () => figures(pop) },
  ];
}

function ctCase(): BenchCase {
  const flows = [
    'table=0,priority=10,ip,ct_state=-trk,actions=ct(table=1,zone=1,nat)',
    'table=1,priority=10,in_port=1,ip,ct_state=+new+trk,actions=ct(commit,zone=1,nat(src=192.168.100.1)),output:2',
    'table=1,priority=10,in_port=1,ip,ct_state=+est+trk,actions=output:2',
    'table=1,priority=1,actions=drop',
  ].join('\n');
  const dp = datapath(flows, 'p1 1\np2 2\n', 100);
  const f = new Frames(1024);
  const tcp = (i: number, flags: string, seq: number): Uint8Array => new FrameBuilder().eth({ src: '00:00:00:00:00:01', dst: '00:00:00:00:00:02' })
    .ipv4({ src: ip(i), dst: '8.8.8.8', ident: 1 }).tcp({ srcPort: 20000 + i, dstPort: 80, seq, ack: flags === 'S' ? 0 : 1, flags, window: 65535 }).build();
  // open 1024 connections (SYN), then measure ACKs of established connections
  for (let i = 0; i < 1024; i++) dp.receive(1, tcp(i, 'S', 1000), 1);
  for (let i = 0; i < 1024; i++) f.add(tcp(i, 'A', 1001), 1);
  const pristine = f.bufs.map((_, i) => f.copyOf(i));
  let at = 0;
  const next = batcher(f);
  const step = (d: Datapath, now: number): void => {
    for (let i = 0; i < BATCH; i++) f.restore((at + i) % f.length, pristine[(at + i) % f.length]!);
    next(d, now);
    at = (at + BATCH) % f.length;
  };
  warm(dp, step, 64);
  return { name: 'ct + SNAT, 1024 established TCP flows (2 passes each)', batch: BATCH, fn: () => { step(dp, 1); return dp.stats.rx; },
    extra: () => ({ ...figures(dp), conntrackEntries: dp.ct.size }) };
}

/** 100k rules over 40 tables: every table matches one kind of field; a default resubmit lets all packets walk all tables. */
function productionFlows(): string {
  const lines: string[] = [];
  const R = rng(42);
  for (let t = 0; t < 40; t++) {
    const next = t === 39 ? 'output:2' : `resubmit(,${t + 1})`;
    for (let i = 0; i < 2500; i++) {
      switch (t % 5) {
        case 0: lines.push(`table=${t},priority=100,ip,nw_dst=10.${i >> 8}.${i & 0xff}.0/24,actions=${next}`); break;
        case 1: lines.push(`table=${t},priority=100,tcp,tp_dst=${(R() % 60000) + 1},actions=${next}`); break;
        case 2: lines.push(`table=${t},priority=100,ip,nw_src=172.${16 + (i >> 8)}.${i & 0xff}.${R() & 0xff},actions=${next}`); break;
        case 3: lines.push(`table=${t},priority=100,udp,tp_src=${(R() % 60000) + 1},actions=${next}`); break;
        case 4: lines.push(`table=${t},priority=100,dl_dst=02:00:00:${(t >> 2).toString(16).padStart(2, '0')}:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')},actions=${next}`); break;
      }
    }
    lines.push(`table=${t},priority=0,actions=${next}`);
  }
  return lines.join('\n');
}

function productionCase(): BenchCase {
  const dp = datapath(productionFlows(), 'p1 1\np2 2\n', 100);
  const R = rng(7);
  const flows = new Frames(4096);
  for (let i = 0; i < 4096; i++) {
    const tcpFlow = R() % 2 === 0;
    const b = new FrameBuilder().eth({ src: '00:00:00:00:00:01', dst: `02:00:00:00:${(R() % 10).toString(16).padStart(2, '0')}:${(R() & 0xff).toString(16).padStart(2, '0')}` })
      .ipv4({ src: `172.${16 + (R() % 10)}.${R() & 0xff}.${R() & 0xff}`, dst: `10.${R() % 10}.${R() & 0xff}.${R() & 0xff}`, ident: 1 });
    const fr = (tcpFlow ? b.tcp({ srcPort: 1024 + (R() % 60000), dstPort: 1 + (R() % 60000), flags: 'A', seq: 1, ack: 1 }) : b.udp({ srcPort: 1 + (R() % 60000), dstPort: 53 }))
      .payload(new Uint8Array(6)).build();
    flows.add(fr, 1);
  }
  // skewed popularity: 80 % of packets go to the first 20 % of the flows
  const order = new Frames(0);
  for (let k = 0; k < 16384; k++) {
    const hot = R() % 10 < 8;
    const i = hot ? R() % 819 : 819 + (R() % (4096 - 819));
    order.addRef(flows, i);
  }
  const next = batcher(order);
  warm(dp, next, 1024);
  return { name: 'production pipeline: 100k rules, 40 tables, 4096 flows (80/20), EMC 1/100', batch: BATCH, fn: () => { next(dp, 1); return dp.stats.rx; }, extra: () => figures(dp) };
}

/** The case builders, in report order; each builds its own datapath, frames and tables. */
const BUILDERS: (() => BenchCase[])[] = [
  () => [emcCase()], () => [megaflowCase(1)], () => [megaflowCase(10)], () => [megaflowCase(50)],
  upcallCases, vxlanCases, () => [ctCase()], () => [productionCase()],
];

/** Each builder in a child process of its own (harness.ts runIsolated). */
export async function run(): Promise<BenchResult[]> {
  return runIsolated('datapath', import.meta.url, BUILDERS.length);
}

if (import.meta.url === `file://${process.argv[1]}` && !caseMain('datapath', BUILDERS)) await run();
