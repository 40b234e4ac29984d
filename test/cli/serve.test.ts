/**
 * `sdnemu serve` end to end: a child process on 127.0.0.1 and an ephemeral port prints the
 * viewer's URL, serves index.html and the WebSocket, and stops cleanly when sent SIGTERM (by its
 * pid). The default demo (what `npm start` runs) and a topology file with its run steps.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { scratch } from './run.js';
import { TestClient } from '../trace/client.js';
import type { PacketSummary, TopologySnapshot } from '../../src/trace/protocol.js';

const { file } = scratch('sdnemu-serve-');
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
});

/** Start `sdnemu ARGS…` (one node process, TypeScript through tsx's loader); resolves with the URL it prints and all it printed. */
function serve(args: string[]): Promise<{ child: ChildProcess; url: string; out: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '', err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL printed: ${out}${err}`)), 60_000);
    const look = (): void => {
      const m = /sdnemu trace viewer: (http:\/\/127\.0\.0\.1:\d+\/)\n/.exec(out);
      if (m !== null) { clearTimeout(timer); resolve({ child, url: m[1]!, out: () => out }); }
    };
    child.stdout!.on('data', look);
    child.on('exit', (code) => reject(new Error(`exited ${code}: ${out}${err}`)));
  });
}

/** SIGTERM by pid; resolves with the exit code. */
function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.on('exit', (code) => resolve(code));
    process.kill(child.pid!, 'SIGTERM');
  });
}

describe('sdnemu serve', () => {
  it('without a file: prints the demo and the URL, serves the viewer and the demo\'s overlay live, stops on SIGTERM', async () => {
    const { child, url, out } = await serve(['--port', '0']);
    expect(out()).toContain('# examples/vxlan-overlay.ts: a VXLAN overlay across a routed underlay');
    expect(out()).toContain('2 packets transmitted, 2 received, 0% packet loss');
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(await page.text()).toContain('<title>sdnemu trace viewer</title>');
    const c = await TestClient.connect(url);
    const topo = await c.ask<TopologySnapshot>({ t: 'topology' });
    expect(topo.nodes.map((n) => n.name)).toEqual(expect.arrayContaining(['underlay-r', 'hv1', 'hv2', 'vm1a', 'vm2b', 'hv1/br0', 'hv1/vxlan100']));
    expect(topo.nodes.find((n) => n.name === 'hv1/vxlan100')!.kind).toBe('vtep');
    // the clock runs: the demo's first ping crosses the overlay within a second or two
    let vxlan: PacketSummary[] = [];
    for (let i = 0; i < 50 && vxlan.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      vxlan = await c.ask<PacketSummary[]>({ t: 'packets', filter: 'vxlan.vni == 100 && icmp', limit: 10 });
    }
    expect(vxlan.length).toBeGreaterThan(0);
    expect(vxlan[0]!.path).toContain('underlay-r');
    // the pings come round again (6 echo requests a round, a round every ~9 s of virtual time)
    await c.ask({ t: 'control', op: 'speed', speed: 50 });
    let requests: PacketSummary[] = [];
    for (let i = 0; i < 50 && requests.length <= 12; i++) {
      await new Promise((r) => setTimeout(r, 100));
      requests = await c.ask<PacketSummary[]>({ t: 'packets', filter: 'icmp.type == 8', limit: 100 });
    }
    expect(requests.length).toBeGreaterThan(12);
    // the cloud of examples/cloud.yaml beside them: its hypervisors, bridges and VMs, and globex's echoes in VNI 2
    const nodes = (await c.ask<TopologySnapshot>({ t: 'topology' })).nodes;
    expect(nodes.map((n) => n.name)).toEqual(expect.arrayContaining(['compute1', 'compute1/br-int', 'compute1/br-tun', 'network1', 'web1', 'app2', 'cloud-internet']));
    expect(nodes.find((n) => n.name === 'web1')!.kind).toBe('vm');
    let cloud: PacketSummary[] = [];
    for (let i = 0; i < 50 && cloud.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      cloud = await c.ask<PacketSummary[]>({ t: 'packets', filter: 'vxlan.vni == 2 && icmp.type == 8', limit: 10 });
    }
    expect(cloud.length).toBeGreaterThan(0);
    expect(cloud[0]!.path).toEqual(expect.arrayContaining(['app1', 'compute1/br-int', 'compute1/br-tun', 'cloud-underlay']));
    c.close();
    expect(await stop(child)).toBe(0);
  });

  it('a cloud file: the cloud built, its run steps live', async () => {
    const { child, out } = await serve(['examples/cloud.yaml', '--port', '0']);
    for (let i = 0; i < 100 && !out().includes('hello from web1'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(out()).toContain('$ internet: tcp 203.0.113.3:80  "hello from web1"');
    expect(out().match(/2 packets transmitted, 2 received, 0% packet loss/g)).toHaveLength(4);
    expect(await stop(child)).toBe(0);
  });

  it('a topology file: its run steps become live traffic, printed as they finish', async () => {
    const topo = file('t.yaml', 'hosts:\n  - { name: a, ip: 10.0.0.1/24 }\n  - { name: b, ip: 10.0.0.2/24 }\nlinks:\n  - { a: a, b: b, delay: 2ms }\n'
      + 'run:\n  - serve: { host: b, port: 7, reply: pong }\n  - ping: { from: a, to: 10.0.0.2, count: 1 }\n  - tcp: { from: a, to: 10.0.0.2, port: 7, data: ping }\n');
    const { child, url, out } = await serve([topo, '--port', '0', '--host', '127.0.0.1']);
    for (let i = 0; i < 100 && !out().includes('"pong"'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(out()).toContain('64 bytes from 10.0.0.2: icmp_seq=1 ttl=64 time=8.00 ms');
    expect(out()).toContain('$ a: tcp 10.0.0.2:7  "pong"');
    expect((await fetch(`${url}nothing`)).status).toBe(404);
    expect(await stop(child)).toBe(0);
  });

  it('a script that exports build(): its topology, nothing sent until the viewer asks', async () => {
    const { child, url } = await serve(['examples/vxlan-overlay.ts', '--port', '0']);
    const c = await TestClient.connect(url);
    expect((await c.ask<TopologySnapshot>({ t: 'topology' })).nodes.map((n) => n.name)).toContain('vm2b');
    expect(await c.ask({ t: 'packets', filter: '', limit: 10 })).toEqual([]);
    c.close();
    expect(await stop(child)).toBe(0);
  });

  it('a file of Kubernetes manifests: the cluster, its pods drawn as pods, their requests to the Services live', async () => {
    const { child, url } = await serve(['examples/k8s/cluster.yaml', '--port', '0']);
    const c = await TestClient.connect(url);
    const topo = await c.ask<TopologySnapshot>({ t: 'topology' });
    expect(topo.nodes.filter((n) => n.kind === 'node').map((n) => n.name)).toEqual(['control-plane', 'worker-1', 'worker-2']);
    expect(topo.nodes.filter((n) => n.kind === 'pod')).toHaveLength(5);
    expect(topo.tunnels).toHaveLength(3);
    // the clock runs: client pods' SYNs to the web Service's ClusterIP show up, DNATed and delivered
    let syns: PacketSummary[] = [];
    for (let i = 0; i < 100 && syns.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      syns = await c.ask<PacketSummary[]>({ t: 'packets', filter: 'tcp.flags.syn == 1 && tcp.flags.ack == 0 && hop.kind == "nat" && delivered', limit: 10 });
    }
    expect(syns.length).toBeGreaterThan(0);
    expect(syns[0]!.dst).toMatch(/^10\.96\./);
    c.close();
    expect(await stop(child)).toBe(0);
  });

  /** `sdnemu serve ARGS…` that fails before serving: its exit code and standard error. */
  function refused(args: string[]): Promise<{ code: unknown; err: string }> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let err = '';
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    return new Promise((resolve) => child.on('exit', (code) => resolve({ code, err })));
  }

  it('refuses a non-loopback address without a token before listening, a script without build(), a bad port', async () => {
    expect(await refused(['--host', '0.0.0.0', 'nothing.yaml'])).toEqual({ code: 1, err: expect.stringContaining('SERVE_NEEDS_TOKEN') });
    expect(await refused(['examples/routed-chain.ts'])).toEqual({ code: 1, err: expect.stringContaining('SERVE_NO_BUILD') });
    expect(await refused(['--port', 'http'])).toEqual({ code: 2, err: expect.stringContaining('--port http: expected a port number') });
  });
});
