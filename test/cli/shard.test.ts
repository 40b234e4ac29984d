/**
 * `sdnemu shard` local mode, in-process: examples/vxlan-overlay.yaml on 2 worker threads (its
 * two ping steps as traffic, or --ping), examples/k8s/cluster.yaml (a cluster's manifests), and
 * the usage errors of bad arguments.
 */
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { parsePingOption, parseUdpOption, parseUntil, shardLocal } from '../../src/cli/shard.js';

function sink(): { out: Writable; text: () => string } {
  const chunks: string[] = [];
  return { out: new Writable({ write(c, _e, cb) { chunks.push(String(c)); cb(); } }), text: () => chunks.join('') };
}

/** main(argv) with stdout and stderr captured. */
async function cli(argv: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '', stderr = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((c) => { stdout += String(c); return true; });
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((c) => { stderr += String(c); return true; });
  try { return { status: await main(argv), stdout, stderr }; } finally { o.mockRestore(); e.mockRestore(); }
}

afterEach(() => { vi.restoreAllMocks(); });

describe('sdnemu shard (local mode)', () => {
  it('runs the overlay on 2 shards: the file\'s pings are answered, the ledger balances', async () => {
    const s = sink();
    const code = await shardLocal({ file: 'examples/vxlan-overlay.yaml', shards: 2, endNs: 5e9, pings: [], udp: [] }, s.out);
    const out = s.text();
    expect(code).toBe(0);
    expect(out).toMatch(/^shard 0: \d+ nodes: .*\bhv1\b.*\bvm1a\b/m);
    expect(out).toMatch(/^shard 1: \d+ nodes: .*\bhv2\b.*\bvm2a\b/m);
    expect(out).toContain('lookahead 200 µs');
    expect(out).toContain('--- 10.10.0.3 ping statistics (from vm1a) ---\n2 packets transmitted, 2 received, 0% packet loss');
    expect(out).toContain('--- 10.10.0.2 ping statistics (from vm2b) ---\n2 packets transmitted, 2 received, 0% packet loss');
    expect(out).toMatch(/^rounds: [1-9]\d* /m);
    expect(out).toMatch(/^ledger: .*in transit 0, leaks 0: balanced$/m);
    expect(out).toMatch(/^wall: \d+ ms/m);
  }, 60_000);

  it('takes --ping and --udp through main', async () => {
    const r = await cli(['shard', 'examples/vxlan-overlay.yaml', '--shards', '2', '--until', '2s', '--ping', 'vm2a:10.10.0.1:1', '--udp', 'vm1b:10.10.0.4:100:0.1']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('--- 10.10.0.1 ping statistics (from vm2a) ---\n1 packets transmitted, 1 received, 0% packet loss');
    expect(r.stdout).toMatch(/^udp vm1b -> 10\.10\.0\.4 at 100 pps for 0\.1s: 10 sent, 0 refused, 0 received back$/m);
    expect(r.stdout).not.toContain('(from vm1a)');
    expect(r.stdout).toMatch(/: balanced$/m);
  }, 60_000);

  it.each([
    [['shard'], 'shard needs exactly one FILE.yaml'],
    [['shard', 'examples/vxlan-overlay.yaml'], 'shard needs --shards N'],
    [['shard', 'examples/vxlan-overlay.yaml', '--shards', '0'], '--shards 0: expected'],
    [['shard', 'examples/vxlan-overlay.yaml', '--shards', '2', '--ping', 'vm1a'], "--ping: 'vm1a': expected FROM:TO[:COUNT]"],
    [['shard', 'examples/vxlan-overlay.yaml', '--shards', '2', '--udp', 'vm1a:10.10.0.3:0:1'], '--udp: '],
    [['shard', 'examples/vxlan-overlay.yaml', '--shards', '2', '--until', 'soon'], "--until: 'soon'"],
    [['shard', 'examples/vxlan-overlay.yaml', '--shards', '2', '--bogus'], "unrecognized option '--bogus'"],
    [['shard', 'examples/vxlan-overlay.yaml', '--shards', '2', '--cluster-cidr', '10.0.0.0/8'], "--cluster-cidr: examples/vxlan-overlay.yaml is a topology file"],
  ])('%j is a usage error (exit 2)', async (argv, msg) => {
    const r = await cli(argv);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(msg);
  });

  it('runs a cluster\'s manifests: a node pings another\'s gateway across the tunnel, the partition is cut short', async () => {
    const r = await cli(['shard', 'examples/k8s/cluster.yaml', '--shards', '2', '--until', '3s', '--ping', 'worker-1:10.244.2.1:2', '--underlay', '192.168.0.0/16']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^shard 0: \d+ nodes: /m);
    expect(r.stdout).toMatch(/^cut links: \d+ \(links\[\d\]/m);
    expect(r.stdout).toMatch(/lookahead 50 µs$/m);
    expect(r.stdout).toContain('--- 10.244.2.1 ping statistics (from worker-1) ---\n2 packets transmitted, 2 received, 0% packet loss');
    expect(r.stdout).toMatch(/: balanced$/m);
  }, 60_000);

  it('manifests bring no traffic of their own: --ping or --udp is asked for', async () => {
    const r = await cli(['shard', 'examples/k8s/cluster.yaml', '--shards', '2']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('give --ping or --udp');
  });

  it('names a host the file does not have (exit 1)', async () => {
    const r = await cli(['shard', 'examples/vxlan-overlay.yaml', '--shards', '2', '--ping', 'nobody:10.10.0.3']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("traffic.pings[0].from: no host named 'nobody'");
  });

  it('names the shard that failed (exit 1) and still prints what the others reported', async () => {
    const s = sink(), e = sink();
    const code = await shardLocal({ file: 'examples/vxlan-overlay.yaml', shards: 2, endNs: 5e9, pings: [], udp: [], faults: { 1: { atNs: 5e8, kind: 'throw' } }, err: e.out }, s.out);
    expect(code).toBe(1);
    expect(e.text()).toMatch(/^sdnemu: shard 1 failed: threw .*injected fault/);
    expect(s.text()).toContain('(from vm1a) ---');
  }, 60_000);

  it('parses the traffic options', () => {
    expect(parsePingOption('a:10.0.0.1')).toEqual({ from: 'a', to: '10.0.0.1', count: 1 });
    expect(parsePingOption('a:b:3')).toEqual({ from: 'a', to: 'b', count: 3 });
    expect(parseUdpOption('a:b:50:2')).toEqual({ from: 'a', to: 'b', pps: 50, durationSec: 2 });
    expect(parseUdpOption('default/p:10.96.0.10:50:2:53')).toEqual({ from: 'default/p', to: '10.96.0.10', pps: 50, durationSec: 2, dport: 53 });
    for (const bad of ['a:b:50:2:0', 'a:b:50:2:65536', 'a:b:50:2:53:1', 'a:b:50']) expect(() => parseUdpOption(bad), bad).toThrow(expect.objectContaining({ code: 'CLI_BAD_VALUE' }));
    expect(parseUntil('500ms')).toBe(5e8);
    expect(() => parsePingOption('a:b:0')).toThrow(expect.objectContaining({ code: 'CLI_BAD_VALUE' }));
  });
});
