/**
 * `sdnemu shard --map` (deploy mode): two OS processes on 127.0.0.1, one shard each of a small
 * overlay (shard-example.ts overlayFile(2, 1)), exchange real VXLAN: a ping from a VM on shard 0
 * to a VM on shard 1 is answered; the ready files appear; both stop cleanly on SIGTERM. And the
 * refusals: a manifests source, a partition one socket per shard cannot serve, bad options.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { overlayFile } from '../../src/shard/shard-example.js';
import { scratch } from './run.js';

const tmp = scratch('sdnemu-shard-deploy-');
const started: ChildProcess[] = [];
afterAll(() => { for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL'); });

function mapText(source: string, shards: number, format = 'topology'): string {
  return `apiVersion: sdnemu.dev/v1\nkind: ShardMap\nsource: { file: ${source}, format: ${format} }\nshards: ${shards}\npartition: auto\nunderlay: { encap: vxlan, port: 4789, vnis: [100] }\n`;
}

/** A UDP port free on 127.0.0.1 now. */
async function freePort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const p = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

interface Proc { child: ChildProcess; out: () => string; err: () => string; exit: Promise<{ code: number | null; signal: string | null }> }

function shardProcess(args: string[]): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'shard', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let out = '', err = '';
  child.stdout!.on('data', (c) => { out += String(c); });
  child.stderr!.on('data', (c) => { err += String(c); });
  const exit = new Promise<{ code: number | null; signal: string | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  return { child, out: () => out, err: () => err, exit };
}

/** Poll (wall clock, at most 'ms') until 'cond' holds. */
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  for (const t0 = Date.now(); Date.now() - t0 < ms; await new Promise((r) => setTimeout(r, 50))) if (cond()) return true;
  return cond();
}

describe('sdnemu shard --map (deploy mode)', () => {
  it('two processes: a ping across shards gets its replies; ready files; clean exit on SIGTERM', async () => {
    const topo = tmp.file('overlay.yaml', overlayFile(2, 1));
    const map = tmp.file('map.yaml', mapText(topo, 2));
    const [p0, p1] = [await freePort(), await freePort()];
    const r0 = join(tmp.dir, 'ready-0'), r1 = join(tmp.dir, 'ready-1');
    const s1 = shardProcess(['--map', map, '--index', '1', '--bind', `127.0.0.1:${p1}`, '--peer', `0=127.0.0.1:${p0}`, '--ready-file', r1]);
    expect(await until(() => existsSync(r1), 30_000)).toBe(true);
    const s0 = shardProcess(['--map', map, '--index', '0', '--bind', `127.0.0.1:${p0}`, '--peer', `1=127.0.0.1:${p1}`, '--ready-file', r0, '--ping', 'vm1-1:10.10.2.1:2']);
    expect(await until(() => existsSync(r0), 30_000)).toBe(true);
    // two echo requests, one a second from virtual (= wall) time 0; the replies take milliseconds
    await new Promise((r) => setTimeout(r, 2500));
    s0.child.kill('SIGTERM');
    s1.child.kill('SIGTERM');
    const [e0, e1] = [await s0.exit, await s1.exit];
    expect(e0).toEqual({ code: 0, signal: null });
    expect(e1).toEqual({ code: 0, signal: null });
    expect(s0.out()).toContain('--- 10.10.2.1 ping statistics (from vm1-1) ---\n2 packets transmitted, 2 received, 0% packet loss');
    expect(s0.out()).toMatch(/^shard 1: \d+ nodes: hv2 vm2-1/m);
    expect(s0.out()).toMatch(/^underlay underlay-r\/underlay: [1-9]\d* datagrams sent, [1-9]\d* received/m);
    expect(s1.out()).toMatch(/^underlay hv2\/underlay: [1-9]\d* datagrams sent, [1-9]\d* received/m);
    for (const s of [s0, s1]) expect(s.out()).toMatch(/^ledger: .* leaks 0: balanced$/m);
    expect(s0.err()).toContain(`bound to 127.0.0.1:${p0}`);
    expect(s1.err()).toContain(`peers {"192.168.1.2":"127.0.0.1:${p0}"}`);
  }, 90_000);
});

/** main(argv) with stdout and stderr captured. */
async function cli(argv: string[]): Promise<{ status: number; stderr: string }> {
  let stderr = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((c) => { stderr += String(c); return true; });
  try { return { status: await main(argv), stderr }; } finally { o.mockRestore(); e.mockRestore(); }
}

describe('sdnemu shard --map: refusals', () => {
  it('a manifests source: says which formats run now (exit 1)', async () => {
    const map = tmp.file('kube-map.yaml', mapText(join(process.cwd(), 'examples/k8s/cluster.yaml'), 2, 'manifests'));
    const r = await cli(['shard', '--map', map, '--index', '0']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('SHARD_UNSUPPORTED_SOURCE: source.format: manifests: sdnemu shard runs topology files only for now');
  });

  it('a shard with several VTEPs or cut links: the demultiplexing limit, named (exit 1)', async () => {
    const topo = tmp.file('overlay4.yaml', overlayFile(4, 1));
    const map = tmp.file('map4.yaml', mapText(topo, 2));
    const r = await cli(['shard', '--map', map, '--index', '0']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/SHARD_DEMUX_UNSUPPORTED: shard \d has \d (cut links|VTEP addresses)/);
  });

  it.each([
    [['shard', '--map', 'm.yaml'], 'shard --map needs --index K'],
    [['shard', '--map', 'm.yaml', '--index', '0', 'extra.yaml'], "unexpected argument 'extra.yaml'"],
    [['shard', '--map', 'm.yaml', '--index', '0', '--shards', '2'], 'takes neither --shards nor --until'],
    [['shard', 'x.yaml', '--shards', '2', '--index', '1'], 'go with --map'],
    [['shard', '--map', 'm.yaml', '--index', '0', '--peer', '1=nowhere'], '--peer 1=nowhere: expected SHARD=HOST:PORT'],
    [['shard', '--map', 'm.yaml', '--index', '0', '--bind', 'localhost:1'], '--bind localhost:1: expected IPV4:PORT'],
  ])('%j is a usage error (exit 2)', async (argv, msg) => {
    const r = await cli(argv);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(msg);
  });

  it('an index the map does not have (exit 2)', async () => {
    const topo = tmp.file('overlay2.yaml', overlayFile(2, 1));
    const map = tmp.file('map2.yaml', mapText(topo, 2));
    const r = await cli(['shard', '--map', map, '--index', '2']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--index 2: the map has shards 0..1');
  });
});
