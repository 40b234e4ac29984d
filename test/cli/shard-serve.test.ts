/**
 * `sdnemu shard FILE --shards N --serve`: the trace records gathered from every shard served to
 * the viewer as one emulator's — the topology, the packet list and filters, a packet's records
 * across both shards under one id — read-only (the clock's controls refused, TRACE_RECORDED).
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { shardLocal } from '../../src/cli/shard.js';
import { TestClient } from '../trace/client.js';
import type { ClockState, PacketSummary, TopologySnapshot } from '../../src/trace/protocol.js';
import type { TraceEvent } from '../../src/sim/tracer.js';

describe('sdnemu shard --serve', () => {
  it('serves a 2-shard run\'s gathered records to the viewer: one packet, one id, its path across both shards', async () => {
    let text = '';
    const out = new Writable({ write(c, _e, cb) { text += String(c); cb(); } });
    let release!: () => void;
    const stop = new Promise<void>((r) => { release = r; });
    const done = shardLocal({ file: 'examples/vxlan-overlay.yaml', shards: 2, endNs: 5e9, pings: [], udp: [], serve: { port: 0, stop } }, out);
    let url: string | undefined;
    for (let i = 0; i < 600 && url === undefined; i++) {
      await new Promise((r) => setTimeout(r, 100));
      url = /sdnemu trace viewer: (http:\/\/127\.0\.0\.1:\d+\/) \((\d+) packets recorded from 2 shards\)/.exec(text)?.[1];
    }
    expect(url, text).toBeDefined();
    const shards = [...text.matchAll(/^shard (\d): \d+ nodes: (.*)$/gm)].map((m) => m[2]!.split(' '));
    const c = await TestClient.connect(url!);
    try {
      const topo = await c.ask<TopologySnapshot>({ t: 'topology' });
      expect(topo.nodes.map((n) => n.name)).toEqual(expect.arrayContaining(['underlay-r', 'hv1', 'hv2', 'vm1a', 'vm2b']));
      // an echo request that crossed the overlay: its records run through nodes of both shards, under one id
      const pings = await c.ask<PacketSummary[]>({ t: 'packets', filter: 'vxlan.vni == 100 && icmp.type == 8', limit: 10 });
      expect(pings.length).toBeGreaterThan(0);
      const { records } = await c.ask<{ records: TraceEvent[] }>({ t: 'trace', packet: pings[0]!.packet });
      const nodes = new Set(records.map((r) => r.node));
      for (const members of shards) expect(members.some((m) => nodes.has(m)), members.join(' ')).toBe(true);
      expect(records.some((r) => r.kind === 'deliver')).toBe(true);
      expect(new Set(records.map((r) => r.trace))).toEqual(new Set([pings[0]!.packet]));
      // the clock stands at the run's end; what would move it is refused
      const st = await c.ask<ClockState>({ t: 'control', op: 'pause', speed: 1 });
      expect(st).toMatchObject({ now: 5e9, running: false });
      const refused = await c.request({ t: 'control', op: 'run', speed: 1 });
      expect(refused).toMatchObject({ t: 'error', code: 'TRACE_RECORDED' });
      const inject = await c.request({ t: 'inject', kind: 'ping', from: 'vm1a', to: 'vm2a' } as never);
      expect(inject).toMatchObject({ t: 'error', code: 'TRACE_RECORDED' });
    } finally {
      c.close();
      release();
    }
    expect(await done).toBe(0);
  }, 120_000);
});
