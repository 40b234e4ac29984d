/**
 * The trace server's security, one test (or more) per point of its design
 * note: loopback by default, a token when exposed, the Origin check, the
 * static files served from the assets map only, and the limits — message
 * size, clients, queries, one subscription per client, filter complexity,
 * a slow client's buffer. Servers on 127.0.0.1 and port 0 only.
 */
import { describe, expect, it } from 'vitest';
import { Session } from '../../src/trace/session.js';
import { checkToken, isLoopback, MAX_CLIENTS, MAX_DISSECT_BYTES_PER_SEC, MAX_PENDING, MAX_QUERIES_PER_SEC, SUBSCRIPTIONS_PER_CLIENT, TraceServer } from '../../src/trace/server.js';
import { encode, MAX_MESSAGE_BYTES, type PacketSummary, type ServerMessage, type TopologySnapshot } from '../../src/trace/protocol.js';
import { MAX_FILTER_DEPTH, MAX_FILTER_LENGTH, MAX_FILTER_NODES } from '../../src/trace/filter.js';
import { writePcap } from '../../src/pcap/writer.js';
import { TestClient } from './client.js';
import { ASSETS, rawHttp, resumeReading, serverHarness, stopReading } from './harness.js';
import { routed } from './topologies.js';

const { serverOn, client, keep } = serverHarness();

const isRecord = (m: ServerMessage): m is Extract<ServerMessage, { t: 'record' }> => m.t === 'record';
const portOf = (url: string): number => Number(new URL(url).port);

describe('where the server listens', () => {
  it('binds 127.0.0.1 when no host is given', async () => {
    const session = new Session(routed);
    keep(session);
    const server = new TraceServer({ session, assets: ASSETS });
    keep(server);
    await server.start();
    expect(server.address()).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  });

  it('refuses to be built for a non-loopback address without a token (the server is never started)', () => {
    const session = new Session(routed);
    keep(session);
    for (const host of ['0.0.0.0', '::', '', '192.0.2.1', '::ffff:127.0.0.1', '127.0.0.1.nip.io', '0', 'example.com']) {
      expect(isLoopback(host), host).toBe(false);
      expect(() => new TraceServer({ session, assets: ASSETS, host }), host).toThrow(expect.objectContaining({ code: 'SERVE_NEEDS_TOKEN' }));
      expect(() => checkToken(host, ''), host).toThrow(expect.objectContaining({ code: 'SERVE_NEEDS_TOKEN', path: 'token' }));
      expect(() => checkToken(host, 't0ken')).not.toThrow();
    }
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1']) expect(isLoopback(host), host).toBe(true);
  });
});

describe('the token', () => {
  it('a wrong token in hello closes the connection (1008); so does any other request first, or silence', async () => {
    const { url } = await serverOn(routed, { token: 'correct horse', helloTimeoutMs: 300 });
    const wrong = await client(url);
    expect(await wrong.request({ t: 'hello', token: 'correct hors' })).toMatchObject({ t: 'error', code: 'AUTH_BAD_TOKEN', where: { field: 'hello.token' } });
    expect(await wrong.whenClosed()).toBe(1008);
    const empty = await client(url);
    expect(await empty.request({ t: 'hello', token: null })).toMatchObject({ t: 'error', code: 'AUTH_BAD_TOKEN' });
    expect(await empty.whenClosed()).toBe(1008);
    const garbage = await client(url);
    garbage.send(new Uint8Array([0xc1]));
    expect(await garbage.wait((m) => m.t === 'error', 5000, true)).toMatchObject({ id: null, code: expect.stringMatching(/^PROTO_/) });
    expect(await garbage.whenClosed()).toBe(1008);
    const eager = await client(url);
    expect(await eager.request({ t: 'packets', filter: '', limit: 10 })).toMatchObject({ t: 'error', code: 'AUTH_REQUIRED' });
    expect(await eager.whenClosed()).toBe(1008);
    // nothing was sent to them but the errors: no state, no records
    for (const c of [wrong, empty, garbage, eager]) expect(c.got.map((m) => m.t)).toEqual(['error']);
    const silent = await client(url);
    expect(await silent.whenClosed()).toBe(1008);
    await expect(TestClient.connect(url, { query: '?token=correct%20hors' })).rejects.toThrow('HTTP 401');
    const good = await client(url, { query: '?token=correct%20horse' });
    expect((await good.ask<TopologySnapshot>({ t: 'topology' })).nodes.length).toBe(3);
  });
});

describe('the Origin check', () => {
  it('an upgrade from a page of another origin is refused with 403', async () => {
    const { url } = await serverOn();
    const port = portOf(url);
    for (const origin of ['http://evil.example', `http://evil.example:${port}`, `https://127.0.0.1:${port}`, `http://127.0.0.1:${port + 1}`,
      'null', `http://127.0.0.1.evil.example:${port}`, `http://[::1]:${port}`.replace('::1', '::2'), 'file://']) {
      await expect(TestClient.connect(url, { origin }), origin).rejects.toThrow('HTTP 403');
    }
    const ok = await client(url, { origin: `http://127.0.0.1:${port}` });
    expect((await ok.ask<TopologySnapshot>({ t: 'topology' })).nodes.length).toBe(3);
  });
});

describe('the static files', () => {
  /** The status line of a raw GET of 'target'. */
  async function status(port: number, target: string, extra = ''): Promise<string> {
    const got = await rawHttp(port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n${extra}\r\n`);
    return got.split('\r\n')[0]!;
  }

  it('serves only the assets map: traversal in every spelling is a 404 (or 400), never a file from disk', async () => {
    const { url } = await serverOn();
    const port = portOf(url);
    expect(await status(port, '/index.html')).toBe('HTTP/1.1 200 OK');
    // files that do exist on disk, relative to the working directory and the root
    const targets = [
      '/../package.json', '/package.json', '/src/trace/server.ts', '/../../../../../../etc/passwd', '/..%2f..%2fetc%2fpasswd',
      '/%2e%2e/%2e%2e/etc/passwd', '/%2E%2E%2Fpackage.json', '/%252e%252e%252fpackage.json', '/..\\..\\package.json', '/%5c..%5cpackage.json',
      '\\..\\package.json', '/./index.html/../../package.json', '//etc/passwd', '/index.html/', '/index.html%00', '/index.html%00.js',
      'http://127.0.0.1/../package.json', `http://127.0.0.1:${port}/etc/passwd`, 'file:///etc/passwd', '/etc/passwd?/index.html',
      '/%c0%ae%c0%ae/package.json', '/.%2e/package.json', '/index.html;/../package.json', `/${'a/'.repeat(4000)}`, `/${'../'.repeat(3000)}etc/passwd`,
      '*', '/ws/../package.json',
    ];
    for (const t of targets) expect(await status(port, t), t).toMatch(/^HTTP\/1\.1 (404|400|431)/);
    // a null byte or raw control bytes in the path: the parser's 400
    expect(await status(port, '/index.html\x00')).toMatch(/^HTTP\/1\.1 400/);
    expect(await status(port, '/..\x01/package.json')).toMatch(/^HTTP\/1\.1 400/);
    // a request far over Node's header limit: refused before any handler
    expect(await status(port, `/${'x'.repeat(100_000)}`)).toMatch(/^HTTP\/1\.1 (400|414|431)/);
    // and the server goes on
    expect((await fetch(url)).status).toBe(200);
  });

  it('no response body is ever anything but an asset', async () => {
    const { url } = await serverOn();
    const port = portOf(url);
    const bodies = new Set([...ASSETS.values()].map((a) => new TextDecoder().decode(a.body)));
    for (const t of ['/', '/index.html', '/app.js', '/app.js?../../package.json', '/../app.js', '/APP.JS']) {
      // (HTTP/1.0: the body as is, not chunked)
      const got = await rawHttp(port, `GET ${t} HTTP/1.0\r\nHost: x\r\n\r\n`);
      const body = got.slice(got.indexOf('\r\n\r\n') + 4);
      expect(got.startsWith('HTTP/1.1 200') ? bodies.has(body) : body === 'not found\n', t).toBe(true);
    }
  });
});

describe('limits', () => {
  it('a message over MAX_MESSAGE_BYTES closes that connection (1009); other clients go on', async () => {
    const { url } = await serverOn();
    const big = await client(url), other = await client(url);
    big.send(new Uint8Array(MAX_MESSAGE_BYTES + 1));
    expect(await big.whenClosed()).toBe(1009);
    expect((await other.ask<TopologySnapshot>({ t: 'topology' })).nodes.length).toBe(3);
    // just under the limit is a message like any other: a pcap that is not one
    const c = await client(url);
    expect(await c.request({ t: 'dissect', pcap: new Uint8Array(MAX_MESSAGE_BYTES - 64) })).toMatchObject({ t: 'error', code: 'PCAP_BAD_MAGIC' });
  });

  it(`clients at once: past maxClients (default ${MAX_CLIENTS}) the next is told SERVE_TOO_MANY_CLIENTS and closed (1013); a slot freed is taken again`, async () => {
    const { url, server } = await serverOn(routed, { maxClients: 3 });
    const three = [await client(url), await client(url), await client(url)];
    const fourth = await client(url);
    expect(await fourth.wait((m) => m.t === 'error', 5000, true)).toMatchObject({ id: null, code: 'SERVE_TOO_MANY_CLIENTS', where: { limit: 3 } });
    expect(await fourth.whenClosed()).toBe(1013);
    expect(server.clientStats().length).toBe(3);
    for (const c of three) expect((await c.ask<TopologySnapshot>({ t: 'topology' })).nodes.length).toBe(3);
    three[0]!.close();
    await three[0]!.whenClosed();
    await new Promise((r) => setTimeout(r, 50));
    const again = await client(url);
    expect((await again.ask<TopologySnapshot>({ t: 'topology' })).nodes.length).toBe(3);
  });

  it(`clients yet to say hello: past maxPending (default ${MAX_PENDING}) SERVE_TOO_MANY_PENDING; one with ?token= still gets in`, async () => {
    const { url } = await serverOn(routed, { token: 'tok', maxPending: 2, maxClients: 10 });
    const strangers = [await client(url), await client(url)];
    const third = await client(url);
    expect(await third.wait((m) => m.t === 'error', 5000, true)).toMatchObject({ code: 'SERVE_TOO_MANY_PENDING', where: { limit: 2 } });
    expect(await third.whenClosed()).toBe(1013);
    const known = await client(url, { query: '?token=tok' });
    expect((await known.ask<TopologySnapshot>({ t: 'topology' })).nodes.length).toBe(3);
    // a stranger that says hello frees its pending slot
    await strangers[0]!.ask({ t: 'hello', token: 'tok' });
    const fourth = await client(url);
    expect(await fourth.ask({ t: 'hello', token: 'tok' })).toMatchObject({ ok: true });
  });

  it(`queries: past maxQueriesPerSec (default ${MAX_QUERIES_PER_SEC}) a query is answered SERVE_QUERY_RATE; other requests go on`, async () => {
    const { url } = await serverOn(routed, { maxQueriesPerSec: 5 });
    const c = await client(url);
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => c.request(i % 2 === 0 ? { t: 'packets', filter: 'icmp', limit: 10 } : { t: 'subscribe', filter: 'icmp', sample: 1 })));
    expect(answers.map((m) => m.t === 'error' ? m.code : m.t)).toEqual(['reply', 'reply', 'reply', 'reply', 'reply', 'SERVE_QUERY_RATE', 'SERVE_QUERY_RATE', 'SERVE_QUERY_RATE']);
    expect(answers[5]).toMatchObject({ where: { limit: 5 } });
    expect((await c.ask<TopologySnapshot>({ t: 'topology' })).nodes.length).toBe(3);
    expect(c.closed).toBe(null);
  });

  it(`captures to dissect: past maxDissectBytesPerSec (default ${MAX_DISSECT_BYTES_PER_SEC} bytes) an upload is answered SERVE_DISSECT_RATE`, async () => {
    const { url } = await serverOn(routed, { maxDissectBytesPerSec: 1000 });
    const c = await client(url);
    const file = writePcap([{ tsSec: 0, tsNsec: 0, data: new Uint8Array(500) }]);
    const answers = await Promise.all([c.request({ t: 'dissect', pcap: file }), c.request({ t: 'dissect', pcap: file })]);
    expect(answers.map((m) => m.t === 'error' ? m.code : m.t)).toEqual(['reply', 'SERVE_DISSECT_RATE']);
    expect(answers[1]).toMatchObject({ where: { limit: 1000 } });
    expect((await c.ask<TopologySnapshot>({ t: 'topology' })).nodes.length).toBe(3);
  });

  it(`${SUBSCRIPTIONS_PER_CLIENT} subscription per client: a subscribe replaces the last (records of the new filter only)`, async () => {
    const { url, session } = await serverOn();
    const c = await client(url);
    await c.ask({ t: 'subscribe', filter: 'arp', sample: 1 });
    await c.ask({ t: 'subscribe', filter: 'icmp.type == 0', sample: 1 });
    session.inject({ kind: 'ping', from: 'a', to: 'b', port: 80, count: 2, payload: '' });
    session.setSpeed(1000);
    session.advance(100);
    await c.ask({ t: 'topology' });
    const infos = new Set(c.got.filter(isRecord).map((m) => m.summary.info.replace(/, length.*/, '')));
    expect([...infos]).toEqual(['10.0.2.2 > 10.0.1.2: ICMP echo reply, id 1, seq 1', '10.0.2.2 > 10.0.1.2: ICMP echo reply, id 1, seq 2']);
  });

  it('display filters: too deep, too many nodes or too long is a typed error naming the column; a catastrophic pattern answers at once', async () => {
    const { url, session } = await serverOn();
    session.inject({ kind: 'ping', from: 'a', to: 'b', port: 80, count: 1, payload: '' });
    session.setSpeed(1000);
    session.advance(100);
    const c = await client(url), other = await client(url);
    await other.ask({ t: 'subscribe', filter: 'icmp', sample: 1 });
    const deep = `${'('.repeat(MAX_FILTER_DEPTH + 1)}icmp${')'.repeat(MAX_FILTER_DEPTH + 1)}`;
    expect(await c.request({ t: 'subscribe', filter: deep, sample: 1 })).toMatchObject({ t: 'error', code: 'FILTER_TOO_COMPLEX', where: { column: MAX_FILTER_DEPTH + 1, length: 1 } });
    const nots = `${'!'.repeat(MAX_FILTER_DEPTH + 1)}icmp`;
    expect(await c.request({ t: 'packets', filter: nots, limit: 10 })).toMatchObject({ t: 'error', code: 'FILTER_TOO_COMPLEX', where: { column: MAX_FILTER_DEPTH + 1 } });
    const wide = `ip.ttl in {${Array(MAX_FILTER_NODES + 1).fill('1').join(',')}}`;
    expect(await c.request({ t: 'packets', filter: wide, limit: 10 })).toMatchObject({ t: 'error', code: 'FILTER_TOO_COMPLEX', where: { column: 12 + 2 * (MAX_FILTER_NODES - 1) } });
    // a pattern's states count: a{1000} is 1001 of them, with the first test 1002; the second pattern goes over, at its column
    const states = 'node matches "a{1000}" || node matches "b{30}"';
    expect(await c.request({ t: 'packets', filter: states, limit: 10 })).toMatchObject({ t: 'error', code: 'FILTER_TOO_COMPLEX', where: { column: states.lastIndexOf('"b') + 1 } });
    // over the message's string bound (which is the filter's length bound)
    expect(await c.request({ t: 'packets', filter: `${'ip && '.repeat(MAX_FILTER_LENGTH / 6 + 1)}ip`, limit: 10 })).toMatchObject({ t: 'error', code: 'PROTO_TOO_LONG', where: { field: 'packets.filter' } });
    // exponential for a backtracking RegExp over any frame (98 bytes here); a linear pass here
    const evil = await c.ask<PacketSummary[]>({ t: 'packets', filter: String.raw`frame matches "(([\\s\\S])+)+\\u2603" || node matches "^(a|a)*$b"`, limit: 10 });
    expect(evil).toEqual([]);
    expect((await c.ask<PacketSummary[]>({ t: 'packets', filter: String.raw`frame matches "^(([\\s\\S])+)+$" && icmp`, limit: 10 })).length).toBe(2);
    // the other client's subscription is untouched, and the connection goes on
    session.inject({ kind: 'ping', from: 'a', to: 'b', port: 80, count: 1, payload: '' });
    session.advance(100);
    await other.ask({ t: 'topology' });
    expect(other.got.filter(isRecord).every((m) => m.summary.protocol === 'ICMP')).toBe(true);
    expect(other.got.filter(isRecord).length).toBeGreaterThan(0);
    expect(c.closed).toBe(null);
  });

  it('a client that asks but does not read is closed (1013) once its backlog passes closeBuffered; its backlog stays bounded', async () => {
    const closeBuffered = 256 << 10;
    const { url, server } = await serverOn(routed, { closeBuffered, maxQueriesPerSec: 10_000, maxDissectBytesPerSec: 1 << 30 });
    const slow = await client(url), reader = await client(url);
    // a capture whose dissection is a large answer (~100 KiB)
    const frame = new Uint8Array(60);
    frame.set([0x08, 0x06], 12);
    const file = writePcap(Array.from({ length: 300 }, (_, i) => ({ tsSec: i, tsNsec: 0, data: frame })));
    const answer = (await reader.ask<unknown>({ t: 'dissect', pcap: file }));
    const size = encode({ t: 'reply', id: 1, body: answer }).length;
    expect(size).toBeGreaterThan(50 << 10);
    stopReading(slow);
    let most = 0;
    for (let i = 0; i < 400 && server.clientStats().length === 2; i++) {
      slow.send({ t: 'dissect', pcap: file });
      await new Promise((r) => setTimeout(r, 5));
      for (const s of server.clientStats()) most = Math.max(most, s.buffered);
    }
    // dropped: the server forgot it, with at most closeBuffered plus one answer held for it
    expect(server.clientStats().length).toBe(1);
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(closeBuffered + size + 64);
    resumeReading(slow);
    expect([1013, 1006]).toContain(await slow.whenClosed(10_000));
    expect((await reader.ask<TopologySnapshot>({ t: 'topology' })).nodes.length).toBe(3);
  });
});
