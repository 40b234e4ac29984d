/**
 * What the trace server's tests share: a session on a small topology and its
 * server on 127.0.0.1 and an ephemeral port, clients, raw HTTP on the port —
 * all closed after each test.
 */
import { connect } from 'node:net';
import { afterEach } from 'vitest';
import type { Topology } from '../../src/topology/topology.js';
import { Session } from '../../src/trace/session.js';
import { TraceServer, type TraceServerOptions } from '../../src/trace/server.js';
import { TestClient } from './client.js';
import { routed } from './topologies.js';

export const ASSETS = new Map([
  ['/index.html', { type: 'text/html; charset=utf-8', body: new TextEncoder().encode('<!doctype html><title>v</title>') }],
  ['/app.js', { type: 'text/javascript', body: new TextEncoder().encode('console.log(1)') }],
]);

export interface Served { session: Session; server: TraceServer; url: string }

/** Servers and clients for one test file: made by `serverOn` and `client`, closed after each test. */
export function serverHarness(): {
  serverOn: (build?: () => Topology, opts?: Partial<TraceServerOptions>) => Promise<Served>;
  client: (url: string, opts?: { query?: string; origin?: string }) => Promise<TestClient>;
  keep: (o: { close(): unknown }) => void;
} {
  const open: { close(): unknown }[] = [];
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
  });
  return {
    /** A session on 'build' (paused; routed() by default) and its server on 127.0.0.1. */
    async serverOn(build = routed, opts = {}) {
      const session = new Session(build);
      open.push(session);
      const server = new TraceServer({ session, assets: ASSETS, host: '127.0.0.1', port: 0, onError: (e) => { console.error('server error', e); }, ...opts });
      await server.start();
      open.push(server);
      return { session, server, url: server.address() };
    },
    async client(url, opts = {}) {
      const c = await TestClient.connect(url, opts);
      open.push(c);
      return c;
    },
    keep(o) { open.push(o); },
  };
}

/** Send 'text' as is to 127.0.0.1:'port' and half-close; everything the server answered, as latin1. */
export function rawHttp(port: number, text: string | Uint8Array): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const sock = connect(port, '127.0.0.1', () => sock.end(text));
    sock.on('data', (d) => { got += d.toString('latin1'); });
    sock.on('close', () => resolve(got));
    sock.on('error', () => resolve(got));
  });
}

/** Stop reading on 'c''s socket: what the server sends piles up in the kernel, then in the server. */
export const stopReading = (c: TestClient): void => { (c.ws as unknown as { _socket: import('node:net').Socket })._socket.pause(); };
export const resumeReading = (c: TestClient): void => { (c.ws as unknown as { _socket: import('node:net').Socket })._socket.resume(); };
