/**
 * The trace server end to end with a `ws` client, on 127.0.0.1 and an ephemeral port: the viewer's
 * files, subscriptions and live records of injected traffic, queries, the clock.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Topology } from '../../src/topology/topology.js';
import { Session } from '../../src/trace/session.js';
import { originAllowed, TraceServer } from '../../src/trace/server.js';
import { encode, MAX_DISSECT_PACKETS, type ClientMessage, type DissectReply, type ClockState, type PacketSummary, type ServerMessage, type TopologySnapshot, type WireRecord } from '../../src/trace/protocol.js';
import { readPcap } from '../../src/pcap/reader.js';
import { writePcap, writePcapng } from '../../src/pcap/writer.js';
import { TestClient } from './client.js';
import { ASSETS, rawHttp, resumeReading, serverHarness, stopReading } from './harness.js';
import { routed } from './topologies.js';
import { constantRate } from '../../src/netstack/tools.js';

const { serverOn, client, keep } = serverHarness();

/** A server whose session already ran 'count' pings from a to 'to' (to the end: 1000 s of virtual time). */
async function pinged(count: number, to = 'b'): Promise<{ session: Session; url: string; c: TestClient }> {
  const { url, session } = await serverOn();
  session.inject({ kind: 'ping', from: 'a', to, port: 80, count, payload: '' });
  session.setSpeed(1000);
  session.advance(1000);
  return { session, url, c: await client(url) };
}

/** A client subscribed with 'filter' and 'sample' to a session on 'build' that then ran 'count' pings from a to b: the records it got. */
async function subscribedPings(build: () => Topology, filter: string, sample: number, count: number): Promise<{ c: TestClient; session: Session; recs: Extract<ServerMessage, { t: 'record' }>[] }> {
  const { url, session } = await serverOn(build);
  const c = await client(url);
  await c.ask({ t: 'subscribe', filter, sample });
  session.inject({ kind: 'ping', from: 'a', to: 'b', port: 80, count, payload: '' });
  session.setSpeed(1000);
  session.advance(100);
  await c.ask({ t: 'topology' }); // every record sent before this reply has arrived
  return { c, session, recs: c.got.filter(isRecord) };
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
    const { c } = await pinged(1, '10.0.2.2');
    const all = await c.ask<PacketSummary[]>({ t: 'packets', filter: '', limit: 1000 });
    // in the order packets first showed up: the echo request (routed at a, then waiting for ARP) first
    expect(all.map((p) => p.protocol)).toEqual(['ICMP', 'ARP', 'ARP', 'ARP', 'ARP', 'ICMP', 'ARP', 'ARP', 'ARP', 'ARP']);
    expect(all[0]).toMatchObject({ src: '10.0.1.2', dst: '10.0.2.2', info: '10.0.1.2 > 10.0.2.2: ICMP echo request, id 1, seq 1, length 64', length: 98, path: ['a', 'r', 'b'], verdict: 'delivered', reason: null });
    const arp = await c.ask<PacketSummary[]>({ t: 'packets', filter: 'arp && node == "b"', limit: 10 });
    expect(arp.map((p) => p.info)).toEqual(['Request who-has 10.0.2.2 tell 10.0.2.1, length 28', 'Reply 10.0.2.2 is-at 02:00:00:00:00:02, length 28',
      'Request who-has 10.0.2.1 tell 10.0.2.2, length 28', 'Reply 10.0.2.1 is-at 02:00:00:00:00:04, length 28']);
    expect((await c.ask<PacketSummary[]>({ t: 'packets', filter: '', limit: 2 })).map((p) => p.packet)).toEqual(all.slice(-2).map((p) => p.packet));
    const tr = await c.ask<{ summary: PacketSummary; records: WireRecord[] }>({ t: 'trace', packet: all[0]!.packet });
    expect(tr.summary).toEqual(all[0]);
    expect(tr.records.map((r) => `${r.node} ${r.kind}`)).toContain('r route');
    expect(tr.records.at(-1)!.kind).toBe('deliver');
    const missing = await c.request({ t: 'trace', packet: 999_999 });
    expect(missing).toMatchObject({ t: 'error', code: 'TRACE_NO_PACKET', where: { path: 'trace.packet' } });
    // a fork needs a load-balancing decision: a route is none
    const notChoice = await c.request({ t: 'fork', packet: all[0]!.packet, seq: tr.records.find((x) => x.kind === 'route')!.seq });
    expect(notChoice).toMatchObject({ t: 'error', code: 'TRACE_NOT_A_CHOICE', where: { path: 'fork.seq' } });
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

describe('control over the wire', () => {
  it('back twice, then step twice, returns to the same state and the same packets (determinism)', async () => {
    const { url } = await serverOn();
    const c = await client(url);
    await c.ask({ t: 'inject', kind: 'ping', from: 'a', to: 'b', port: 80, count: 1, payload: '' });
    for (let i = 0; i < 9; i++) await c.ask({ t: 'control', op: 'step', speed: 1 });
    const at9 = await c.ask<ClockState>({ t: 'control', op: 'step', speed: 1 });
    const packets9 = await c.ask<PacketSummary[]>({ t: 'packets', filter: '', limit: 1000 });
    const trace9 = await c.ask({ t: 'trace', packet: packets9.at(-1)!.packet });
    await c.ask({ t: 'control', op: 'back', speed: 1 });
    const at8 = await c.ask<ClockState>({ t: 'control', op: 'back', speed: 1 });
    expect(at8.events).toBe(at9.events - 2);
    await c.ask({ t: 'control', op: 'step', speed: 1 });
    expect(await c.ask({ t: 'control', op: 'step', speed: 1 })).toEqual(at9);
    expect(await c.ask({ t: 'packets', filter: '', limit: 1000 })).toEqual(packets9);
    expect(await c.ask({ t: 'trace', packet: packets9.at(-1)!.packet })).toEqual(trace9);
  });

  it('injects a TCP request: the handshake, the data and its echo arrive as records', async () => {
    const { url } = await serverOn();
    const c = await client(url);
    await c.ask({ t: 'subscribe', filter: 'tcp.port == 8080 && tcp.len > 0', sample: 1 });
    await c.ask({ t: 'inject', kind: 'tcp', from: 'a', to: 'b', port: 8080, count: 1, payload: 'GET / HTTP/1.0\r\n\r\n' });
    await c.ask({ t: 'control', op: 'speed', speed: 100 });
    await c.ask({ t: 'control', op: 'run', speed: 1 });
    await c.wait((m) => isRecord(m) && m.summary.src === '10.0.2.2' && m.record.kind === 'deliver', 10_000);
    const packets = [...new Set(c.got.filter(isRecord).map((m) => `${m.summary.src} > ${m.summary.dst} ${m.summary.length}`))];
    // the request (18 bytes of data) and its echo
    expect(packets).toEqual(['10.0.1.2 > 10.0.2.2 72', '10.0.2.2 > 10.0.1.2 72']);
  });

  it('a packet that comes to match later (drop) arrives whole: its earlier records, then the drop', async () => {
    const { recs } = await subscribedPings(() => {
      const t = routed();
      t.links[1]!.cut();
      return t;
    }, 'drop && icmp', 1, 1);
    // the echo request waited for ARP on the cut link and gave up (r's host unreachable is a packet of its own)
    expect(recs.map((m) => `${m.record.node} ${m.record.kind}`)).toEqual(['a route', 'a tx', 'r rx', 'r route', 'r drop']);
    expect(recs.map((m) => m.record.seq)).toEqual([...recs.map((m) => m.record.seq)].sort((x, y) => x - y));
    expect(recs.at(-1)!.summary).toMatchObject({ verdict: 'dropped', reason: 'neigh-failed', path: ['a', 'r'] });
  });

  it('sampling: every n-th matching packet; unsubscribe stops the records', async () => {
    const { c, session, recs } = await subscribedPings(routed, 'icmp', 2, 4);
    const got = [...new Set(recs.map((m) => m.summary.info.replace(/, length.*/, '')))];
    expect(got).toEqual(['10.0.1.2 > 10.0.2.2: ICMP echo request, id 1, seq 1', '10.0.1.2 > 10.0.2.2: ICMP echo request, id 1, seq 2',
      '10.0.1.2 > 10.0.2.2: ICMP echo request, id 1, seq 3', '10.0.1.2 > 10.0.2.2: ICMP echo request, id 1, seq 4']);
    await c.ask({ t: 'unsubscribe' });
    const n = c.got.length;
    session.inject({ kind: 'ping', from: 'a', to: 'b', port: 80, count: 1, payload: '' });
    session.advance(10);
    await c.ask({ t: 'topology' });
    expect(c.got.length).toBe(n + 1);
  });
});

describe('pcap export and upload', () => {
  it('exports the packets\' first frames as a pcap; uploading it gives them back dissected', async () => {
    const { session, c } = await pinged(2);
    const icmp = await c.ask<PacketSummary[]>({ t: 'packets', filter: 'icmp', limit: 100 });
    expect(icmp.length).toBe(4);
    const file = await c.ask<Uint8Array>({ t: 'pcap', packets: [...icmp.map((p) => p.packet), 424242] });
    const recs = [...readPcap(file)];
    expect(recs.map((r) => r.data.length)).toEqual([98, 98, 98, 98]);
    for (const [i, r] of recs.entries()) {
      const first = session.store.get(icmp[i]!.packet)!.events.find((e) => e.frame !== null)!;
      expect(Buffer.from(r.data).equals(Buffer.from(first.frame!))).toBe(true);
      expect(r.tsSec * 1e9 + r.tsNsec).toBe(first.t);
    }
    const up = await c.ask<{ packets: { number: number; line: string; dissection: { layers: { proto: string }[] } }[] }>({ t: 'dissect', pcap: file });
    expect(up.packets.map((p) => p.dissection.layers.map((l) => l.proto).join(','))).toEqual(Array(4).fill('frame,eth,ip,icmp,data'));
    expect(up.packets[1]!.line).toContain('10.0.2.2 > 10.0.1.2: ICMP echo reply, id 1, seq 1, length 64');
    // the same frames as pcapng
    const ng = writePcapng(recs.map((r) => ({ tsSec: r.tsSec, tsNsec: r.tsNsec, data: r.data })), { interfaces: [{ name: 'sdnemu' }] });
    const upNg = await c.ask<DissectReply>({ t: 'dissect', pcap: ng });
    expect(upNg.packets.map((p) => p.line)).toEqual(up.packets.map((p) => p.line));
  });

  it('an upload of many packets is answered with the first MAX_DISSECT_PACKETS, marked truncated', async () => {
    const { url } = await serverOn();
    const c = await client(url);
    const frame = new Uint8Array(60);
    frame.set([0x08, 0x06], 12);
    const file = writePcap(Array.from({ length: MAX_DISSECT_PACKETS + 5 }, (_, i) => ({ tsSec: i, tsNsec: 0, data: frame })));
    const up = await c.ask<DissectReply>({ t: 'dissect', pcap: file });
    expect([up.packets.length, up.truncated, up.packets.at(-1)!.number]).toEqual([MAX_DISSECT_PACKETS, true, MAX_DISSECT_PACKETS]);
  });

  it('a corrupt pcap is an error with its file offset; the connection goes on', async () => {
    const { session, c } = await pinged(1);
    const file = await c.ask<Uint8Array>({ t: 'pcap', packets: session.store.all().map((p) => p.id) });
    const cut = await c.request({ t: 'dissect', pcap: file.slice(0, file.length - 10) });
    expect(cut).toMatchObject({ t: 'error', code: 'PCAP_TRUNCATED' });
    expect(cut.t === 'error' && typeof cut.where['offset']).toBe('number');
    const magic = await c.request({ t: 'dissect', pcap: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24]) });
    expect(magic).toMatchObject({ t: 'error', code: 'PCAP_BAD_MAGIC', where: { offset: 0 } });
    expect((await c.ask<TopologySnapshot>({ t: 'topology' })).nodes.length).toBe(3);
  });
});

describe('hostile clients', () => {
  it('garbage, text, an unknown type, a bad field or filter: an error each (with where), and the connection goes on', async () => {
    const { url } = await serverOn();
    const c = await client(url);
    c.send(new Uint8Array([0xc1, 0xff, 0x00, 0x13]));
    expect(await c.wait((m) => m.t === 'error')).toMatchObject({ id: null, code: 'PROTO_DECODE' });
    c.ws.send('{"t":"topology","id":1}');
    expect(await c.wait((m) => m.t === 'error' && m.code === 'PROTO_TEXT')).toMatchObject({ id: null });
    c.send(encode({ t: 'frobnicate', id: 77 } as unknown as ClientMessage));
    expect(await c.wait((m) => m.t === 'error' && m.id === 77)).toMatchObject({ code: 'PROTO_UNKNOWN', where: { field: 't' } });
    c.send(encode({ t: 'trace', id: 78, packet: 'one' } as unknown as ClientMessage));
    expect(await c.wait((m) => m.t === 'error' && m.id === 78)).toMatchObject({ code: 'PROTO_BAD_FIELD', where: { field: 'trace.packet' } });
    const bad = await c.request({ t: 'subscribe', filter: 'ip.addr == 10.0.0.1 && tcp.port == ', sample: 1 });
    expect(bad).toMatchObject({ t: 'error', where: { column: 36 } });
    expect(bad.t === 'error' && bad.code.startsWith('FILTER_')).toBe(true);
    const bad2 = await c.request({ t: 'packets', filter: 'ip.addr == "x"', limit: 10 });
    expect(bad2).toMatchObject({ t: 'error', where: { column: 12 } });
    const inj = await c.request({ t: 'inject', kind: 'ping', from: 'nobody', to: 'b', port: 80, count: 1, payload: '' });
    expect(inj).toMatchObject({ t: 'error', code: 'TOPO_NO_NODE' });
    expect((await c.ask<TopologySnapshot>({ t: 'topology' })).nodes.length).toBe(3);
    expect(c.closed).toBe(null);
  });

  it('any well-formed request with arbitrary values gets a reply or a typed error, never silence or a crash', async () => {
    const { url } = await serverOn(routed, { maxMessagesPerSec: 100_000 });
    const c = await client(url);
    const text = fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('a', 'b', 'r', '10.0.2.2', 'icmp', 'drop', 'ip.addr == 10.0.0.1', '::1', ''));
    const request = fc.oneof(
      fc.record({ t: fc.constant('subscribe' as const), filter: text, sample: fc.integer({ min: 1, max: 5 }) }),
      fc.record({ t: fc.constant('packets' as const), filter: text, limit: fc.integer({ min: 1, max: 50 }) }),
      fc.record({ t: fc.constant('trace' as const), packet: fc.integer({ min: 1, max: 50 }) }),
      fc.record({ t: fc.constant('fork' as const), packet: fc.integer({ min: 1, max: 50 }), seq: fc.integer({ min: 1, max: 500 }) }),
      fc.record({ t: fc.constant('control' as const), op: fc.constantFrom('pause', 'step', 'back', 'speed' as const), speed: fc.double({ min: 0.001, max: 1e6, noNaN: true }) }),
      fc.record({ t: fc.constant('inject' as const), kind: fc.constantFrom('ping', 'tcp' as const), from: text, to: text, port: fc.integer({ min: 1, max: 65535 }), count: fc.integer({ min: 1, max: 3 }), payload: text }),
      fc.record({ t: fc.constant('pcap' as const), packets: fc.array(fc.integer({ min: 1, max: 100 }), { maxLength: 5 }) }),
      fc.record({ t: fc.constant('dissect' as const), pcap: fc.uint8Array({ maxLength: 200 }) }),
      fc.record({ t: fc.constant('unsubscribe' as const) }),
      fc.record({ t: fc.constant('topology' as const) }),
    );
    await fc.assert(fc.asyncProperty(request, async (m) => {
      const r = await c.request(m as Parameters<TestClient['request']>[0]);
      if (r.t === 'error') expect(r.code).toMatch(/^[A-Z]+_[A-Z_]+$/);
      else expect(r.t).toBe('reply');
    }), { numRuns: 300 });
    expect(c.closed).toBe(null);
    expect(c.got.filter((m) => m.t === 'reply').length).toBeGreaterThan(100);
    expect(c.got.some((m) => m.t === 'error' && m.code === 'INTERNAL')).toBe(false);
  });

  it('a flood: messages over the rate are dropped and counted; the server and other clients go on', async () => {
    const { url } = await serverOn(routed, { maxMessagesPerSec: 200 });
    const flood = await client(url), other = await client(url);
    for (let i = 0; i < 1000; i++) flood.send({ t: 'topology' });
    const rate = await flood.wait((m) => m.t === 'error' && m.code === 'PROTO_RATE', 5000);
    expect(rate).toMatchObject({ where: { dropped: 800 } });
    expect(flood.got.filter((m) => m.t === 'reply').length).toBe(200);
    expect((await other.ask<TopologySnapshot>({ t: 'topology' })).nodes.length).toBe(3);
    expect((await flood.ask<TopologySnapshot>({ t: 'topology' })).nodes.length).toBe(3);
  });

  it('refuses a WebSocket from another Origin (403); takes its own, with or without the port\'s host name', async () => {
    const { url } = await serverOn();
    const port = new URL(url).port;
    await expect(TestClient.connect(url, { origin: 'http://evil.example' })).rejects.toThrow('HTTP 403');
    await expect(TestClient.connect(url, { origin: `http://evil.example:${port}` })).rejects.toThrow('HTTP 403');
    await expect(TestClient.connect(url, { origin: 'http://127.0.0.1:1' })).rejects.toThrow('HTTP 403');
    for (const origin of [`http://127.0.0.1:${port}`, `http://localhost:${port}`]) {
      const c = await client(url, { origin });
      expect((await c.ask<TopologySnapshot>({ t: 'topology' })).nodes.length).toBe(3);
    }
    const allowed = await serverOn(routed, { origins: ['http://viewer.example'] });
    const c = await client(allowed.url, { origin: 'http://viewer.example' });
    expect((await c.ask<TopologySnapshot>({ t: 'topology' })).nodes.length).toBe(3);
    await expect(TestClient.connect(url, { query: '/other' })).rejects.toThrow('HTTP 404');
  });

  it('what counts as the server\'s own Origin, per bind address', () => {
    const at = (origin: string, bindHost: string, hostHeader?: string, allow: string[] = []): boolean => originAllowed({ origin, bindHost, port: 8080, hostHeader, allow });
    expect(at('http://127.0.0.1:8080', '127.0.0.1')).toBe(true);
    expect(at('http://localhost:8080', '127.0.0.1')).toBe(true);
    expect(at('http://[::1]:8080', '::1')).toBe(true);
    // DNS rebinding: the Host header agrees with the Origin, and still no
    expect(at('http://evil.example:8080', '127.0.0.1', 'evil.example:8080')).toBe(false);
    expect(at('https://127.0.0.1:8080', '127.0.0.1')).toBe(false);
    expect(at('http://127.0.0.1:8081', '127.0.0.1')).toBe(false);
    expect(at('http://viewer.example', '127.0.0.1', undefined, ['http://viewer.example'])).toBe(true);
    // bound elsewhere (a token is required there): the name the browser used for the server
    expect(at('http://lab-host:8080', '0.0.0.0', 'lab-host:8080')).toBe(true);
    expect(at('http://other:8080', '0.0.0.0', 'lab-host:8080')).toBe(false);
    expect(at('http://lab-host:8080', '0.0.0.0')).toBe(false);
  });

  it('with a token: nothing before a hello with it (1008); ?token= on the URL; a wrong one refused', async () => {
    const { url } = await serverOn(routed, { token: 's3cret' });
    const none = await client(url);
    expect(await none.request({ t: 'topology' })).toMatchObject({ t: 'error', code: 'AUTH_REQUIRED' });
    expect(await none.whenClosed()).toBe(1008);
    const wrong = await client(url);
    expect(await wrong.request({ t: 'hello', token: 's3creT' })).toMatchObject({ t: 'error', code: 'AUTH_BAD_TOKEN' });
    expect(await wrong.whenClosed()).toBe(1008);
    const good = await client(url);
    // no state pushed before the hello, and no records
    expect(good.got).toEqual([]);
    expect(await good.ask({ t: 'hello', token: 's3cret' })).toMatchObject({ ok: true, state: { events: 0 } });
    expect((await good.ask<TopologySnapshot>({ t: 'topology' })).nodes.length).toBe(3);
    const viaUrl = await client(url, { query: '?token=s3cret' });
    expect((await viaUrl.ask<TopologySnapshot>({ t: 'topology' })).nodes.length).toBe(3);
    await expect(TestClient.connect(url, { query: '?token=nope' })).rejects.toThrow('HTTP 401');
    const silent = await serverOn(routed, { token: 't', helloTimeoutMs: 100 });
    const late = await client(silent.url);
    expect(await late.whenClosed()).toBe(1008);
  });

  it('raw garbage and odd upgrade requests on the port: refused, and the server goes on', async () => {
    const { url } = await serverOn();
    const port = Number(new URL(url).port);
    const raw = (text: string): Promise<string> => rawHttp(port, text);
    expect(await raw('\x00\x01\x02 not http at all\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
    const upgrade = (target: string, extra = ''): string => `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
      + `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`;
    expect(await raw(upgrade('http://[oops/ws'))).toMatch(/^HTTP\/1\.1 (400|404)/);
    expect(await raw(upgrade('/ws', 'Sec-WebSocket-Version: 99\r\n'))).toMatch(/^HTTP\/1\.1 400/);
    expect(await raw(upgrade('/ws', 'Origin: null\r\n'))).toMatch(/^HTTP\/1\.1 403/);
    expect((await fetch(url)).status).toBe(200);
    const c = await client(url);
    expect((await c.ask<TopologySnapshot>({ t: 'topology' })).nodes.length).toBe(3);
  });

  it('refuses to start on a non-loopback address without a token', () => {
    const session = new Session(routed);
    keep(session);
    expect(() => new TraceServer({ session, assets: ASSETS, host: '0.0.0.0', port: 0 })).toThrow(expect.objectContaining({ code: 'SERVE_NEEDS_TOKEN' }));
    expect(() => new TraceServer({ session, assets: ASSETS, host: '192.0.2.1', port: 0, token: '' })).toThrow(expect.objectContaining({ code: 'SERVE_NEEDS_TOKEN' }));
  });

  it('an exception in a handler is an INTERNAL error, and the server goes on', async () => {
    const errors: unknown[] = [];
    const { url, session } = await serverOn(routed, { onError: (e) => errors.push(e) });
    const c = await client(url);
    const real = session.topology.bind(session);
    session.topology = () => { throw new Error('boom'); };
    expect(await c.request({ t: 'topology' })).toMatchObject({ t: 'error', code: 'INTERNAL', message: 'boom' });
    expect(errors.length).toBe(1);
    session.topology = real;
    expect((await c.ask<TopologySnapshot>({ t: 'topology' })).nodes.length).toBe(3);
  });
});

describe('slow clients', () => {
  /** 20 000 UDP datagrams a second from a to b for 'sec' seconds of virtual time, run 10 ms at a time; the largest backlog seen per client. */
  async function traffic(session: Session, server: TraceServer, sec: number): Promise<number[]> {
    constantRate(session.network.hostNamed('a'), '10.0.2.2', { pps: 20_000, durationSec: sec });
    const most: number[] = [];
    for (let i = 0; i < sec * 100; i++) {
      session.advance(10);
      await new Promise((r) => setImmediate(r));
      server.clientStats().forEach((s, j) => { most[j] = Math.max(most[j] ?? 0, s.buffered); });
    }
    return most;
  }

  it('records are skipped and counted while it does not read, its backlog stays bounded, and it hears `lagging` when it reads again', async () => {
    const { url, session, server } = await serverOn(routed, { maxBuffered: 64 << 10, closeBuffered: 4 << 20, maxLagMs: 600_000 });
    const slow = await client(url);
    await slow.ask({ t: 'subscribe', filter: '', sample: 1 });
    stopReading(slow);
    const most = await traffic(session, server, 1);
    const stats = server.clientStats()[0]!;
    expect(stats.skipped).toBeGreaterThan(10_000);
    // the backlog: the bound plus the one record that crossed it
    expect(most[0]).toBeGreaterThan(64 << 10);
    expect(most[0]).toBeLessThan((64 << 10) + 4096);
    resumeReading(slow);
    const lag = await slow.wait((m) => m.t === 'lagging', 10_000, true);
    expect(lag).toEqual({ t: 'lagging', skipped: stats.skipped });
    expect(slow.closed).toBe(null);
    // and it is fed again
    const n = slow.got.length;
    await traffic(session, server, 0.05);
    await slow.ask({ t: 'topology' });
    expect(slow.got.slice(n).filter(isRecord).length).toBeGreaterThan(100);
  });

  it('one that stays behind is closed (1013) and forgotten; a client that reads gets its records meanwhile', async () => {
    const { url, session, server } = await serverOn(routed, { maxBuffered: 64 << 10, maxLagMs: 200 });
    const slow = await client(url), reader = await client(url);
    await slow.ask({ t: 'subscribe', filter: '', sample: 1 });
    await reader.ask({ t: 'subscribe', filter: 'udp', sample: 100 });
    stopReading(slow);
    await traffic(session, server, 1);
    await new Promise((r) => setTimeout(r, 600));
    expect(server.clientStats().length).toBe(1);
    resumeReading(slow);
    // 1013 when the close frame got through its backlog in time, else the server had cut the connection (1006)
    expect([1013, 1006]).toContain(await slow.whenClosed());
    expect(reader.closed).toBe(null);
    expect(reader.got.filter(isRecord).length).toBeGreaterThan(100);
    expect((await reader.ask<TopologySnapshot>({ t: 'topology' })).nodes.length).toBe(3);
  });
});
