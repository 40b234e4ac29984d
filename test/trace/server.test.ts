/**
 * The trace server end to end with a `ws` client, on 127.0.0.1 and an ephemeral port: the viewer's
 * files, subscriptions and live records of injected traffic, queries, the clock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Topology } from '../../src/topology/topology.js';
import { Session } from '../../src/trace/session.js';
import { TraceServer, type TraceServerOptions } from '../../src/trace/server.js';
import type { ClockState, PacketSummary, ServerMessage, TopologySnapshot, WireRecord } from '../../src/trace/protocol.js';
import { TestClient } from './client.js';
import { routed } from './topologies.js';

const ASSETS = new Map([
  ['/index.html', { type: 'text/html; charset=utf-8', body: new TextEncoder().encode('<!doctype html><title>v</title>') }],
  ['/app.js', { type: 'text/javascript', body: new TextEncoder().encode('console.log(1)') }],
]);

const open: { close(): unknown }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

/** A session on routed() (paused) and its server, closed after the test. */
async function serverOn(build: () => Topology = routed, opts: Partial<TraceServerOptions> = {}): Promise<{ session: Session; server: TraceServer; url: string }> {
  const session = new Session(build);
  open.push(session);
  const server = new TraceServer({ session, assets: ASSETS, host: '127.0.0.1', port: 0, onError: (e) => { console.error('server error', e); }, ...opts });
  await server.start();
  open.push(server);
  return { session, server, url: server.address() };
}

async function client(url: string, opts: { query?: string; origin?: string } = {}): Promise<TestClient> {
  const c = await TestClient.connect(url, opts);
  open.push(c);
  return c;
}

const isRecord = (m: ServerMessage): m is Extract<ServerMessage, { t: 'record' }> => m.t === 'record';

describe('the viewer\'s files', () => {
  it('serves the assets with a strict CSP, / as /index.html, HEAD; 404 and 405 otherwise', async () => {
    const { url } = await serverOn();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const r = await fetch(url);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(r.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(await r.text()).toBe('<!doctype html><title>v</title>');
    const js = await fetch(`${url}app.js?v=1`);
    expect([js.status, js.headers.get('content-type')]).toEqual([200, 'text/javascript']);
    const head = await fetch(`${url}index.html`, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length'), await head.text()]).toEqual([200, '31', '']);
    expect((await fetch(`${url}nothing.html`)).status).toBe(404);
    expect((await fetch(`${url}../etc/passwd`)).status).toBe(404);
    const post = await fetch(url, { method: 'POST', body: 'x' });
    expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
  });
});

describe('live records and queries', () => {
  it('a subscription gets the records of injected pings that match its filter, with their summaries', async () => {
    const { url } = await serverOn();
    const c = await client(url);
    expect((await c.wait((m) => m.t === 'state', 5000, true)).t).toBe('state');
    expect(await c.ask({ t: 'subscribe', filter: 'icmp', sample: 1 })).toEqual({ ok: true });
    await c.ask({ t: 'inject', kind: 'ping', from: 'a', to: 'b', port: 80, count: 2, payload: '' });
    await c.ask({ t: 'control', op: 'speed', speed: 1000 });
    await c.ask({ t: 'control', op: 'run', speed: 1 });
    // the second reply: echo requests and replies, 2 each
    await c.wait((m) => isRecord(m) && m.summary.info.includes('echo reply') && m.summary.info.includes('seq 2') && m.record.kind === 'deliver', 10_000);
    const recs = c.got.filter(isRecord);
    expect(recs.every((m) => m.summary.protocol === 'ICMP')).toBe(true);
    const packets = new Map(recs.map((m) => [m.summary.packet, m.summary]));
    expect([...packets.values()].map((s) => `${s.src} > ${s.dst}`)).toEqual(['10.0.1.2 > 10.0.2.2', '10.0.2.2 > 10.0.1.2', '10.0.1.2 > 10.0.2.2', '10.0.2.2 > 10.0.1.2']);
    const last = recs.at(-1)!;
    expect(last.summary.path).toEqual(['b', 'r', 'a']);
    expect(last.summary.verdict).toBe('delivered');
    expect(last.record.frame).toBeInstanceOf(Uint8Array);
  });

  it('answers packets, trace and topology', async () => {
    const { url, session } = await serverOn();
    session.inject({ kind: 'ping', from: 'a', to: '10.0.2.2', port: 80, count: 1, payload: '' });
    session.setSpeed(1000);
    session.advance(1000);
    const c = await client(url);
    const all = await c.ask<PacketSummary[]>({ t: 'packets', filter: '', limit: 1000 });
    // in the order packets first showed up: the echo request waited for ARP
    expect(all.map((p) => p.protocol)).toEqual(['ARP', 'ARP', 'ICMP', 'ARP', 'ARP', 'ICMP', 'ARP', 'ARP', 'ARP', 'ARP']);
    expect(all[2]).toMatchObject({ src: '10.0.1.2', dst: '10.0.2.2', info: '10.0.1.2 > 10.0.2.2: ICMP echo request, id 1, seq 1, length 64', length: 98, path: ['a', 'r', 'b'], verdict: 'delivered', reason: null });
    const arp = await c.ask<PacketSummary[]>({ t: 'packets', filter: 'arp && node == "b"', limit: 10 });
    expect(arp.map((p) => p.info)).toEqual(['Request who-has 10.0.2.2 tell 10.0.2.1, length 28', 'Reply 10.0.2.2 is-at 02:00:00:00:00:02, length 28',
      'Request who-has 10.0.2.1 tell 10.0.2.2, length 28', 'Reply 10.0.2.1 is-at 02:00:00:00:00:04, length 28']);
    expect((await c.ask<PacketSummary[]>({ t: 'packets', filter: '', limit: 2 })).map((p) => p.packet)).toEqual(all.slice(-2).map((p) => p.packet));
    const tr = await c.ask<{ summary: PacketSummary; records: WireRecord[] }>({ t: 'trace', packet: all[2]!.packet });
    expect(tr.summary).toEqual(all[2]);
    expect(tr.records.map((r) => `${r.node} ${r.kind}`)).toContain('r route');
    expect(tr.records.at(-1)!.kind).toBe('deliver');
    const missing = await c.request({ t: 'trace', packet: 999_999 });
    expect(missing).toMatchObject({ t: 'error', code: 'TRACE_NO_PACKET', where: { path: 'trace.packet' } });
    const topo = await c.ask<TopologySnapshot>({ t: 'topology' });
    expect(topo.nodes.map((n) => `${n.name}:${n.kind}`)).toEqual(['a:host', 'b:host', 'r:router']);
    const r = topo.nodes.find((n) => n.name === 'r')!;
    expect(r.ports.map((p) => `${p.name} ${p.addrs.filter((x) => !x.startsWith('fe80')).join(',')}`)).toEqual(['eth1 10.0.1.1/24', 'eth2 10.0.2.1/24']);
    expect(r.ports[0]!.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    expect(topo.links).toEqual([
      { a: 'a:eth0', b: 'r:eth1', delayNs: 10_000, bps: 1e9, mtu: 1500, up: true },
      { a: 'b:eth0', b: 'r:eth2', delayNs: 10_000, bps: 0, mtu: 1500, up: true },
    ]);
  });
});

describe('the clock', () => {
  it('pause, step, back and run; state pushed to every client', async () => {
    const { url } = await serverOn();
    const c = await client(url), other = await client(url);
    await c.ask({ t: 'inject', kind: 'ping', from: 'a', to: 'b', port: 80, count: 1, payload: '' });
    let s = await c.ask<ClockState>({ t: 'control', op: 'step', speed: 1 });
    expect([s.events, s.running]).toEqual([1, false]);
    await other.wait((m) => m.t === 'state' && m.state.events === 1, 5000, true);
    s = await c.ask<ClockState>({ t: 'control', op: 'run', speed: 1 });
    expect(s.running).toBe(true);
    s = await c.ask<ClockState>({ t: 'control', op: 'pause', speed: 1 });
    expect(s.running).toBe(false);
  });
});
