/**
 * The trace server (trace layer): the viewer's files over HTTP and the
 * viewer's protocol (protocol.ts) over a WebSocket at `/ws`, for one
 * `Session`.
 *
 * What: `new TraceServer({ session, assets, host, port, token })` — the
 * session a live Session or a recorded run (recorded.ts), `TraceSource` —
 * `await start()`, `address()` → `http://127.0.0.1:PORT/`, `await close()`.
 *  - HTTP: GET and HEAD of the assets map only ('/' is '/index.html'; 405
 *    for other methods, 404 for other paths), each with a strict
 *    Content-Security-Policy (`default-src 'self'`: nothing loads from
 *    anywhere else, no CDN) and `nosniff`.
 *  - WebSocket `/ws`: every request gets a `reply` or an `error` with its
 *    id; `record` messages for the client's subscription (a display filter,
 *    every n-th matching packet: when a packet comes to match — at once, or
 *    later, as `drop` does when it is dropped — its records so far, then
 *    each new one, all with the packet's summary as it is then); `state`
 *    messages to every client when the clock changes; `lagging` when
 *    records were skipped for a slow client.
 * Security (each point tested in test/trace/server-security):
 *  - binds 127.0.0.1 unless told otherwise; bound to anything but loopback
 *    it refuses to start without a token (SERVE_NEEDS_TOKEN), and a client
 *    must present it (`?token=` on the WebSocket URL — a wrong one is 401 —
 *    or a `hello` first) before anything else: a wrong token, or another
 *    request first, closes the connection (1008); none within
 *    `helloTimeoutMs` too.
 *  - an upgrade whose Origin is not the server's own address (or in
 *    `origins`) is refused with 403 — so a page elsewhere, or a DNS-rebound
 *    name, cannot drive a local simulation (`originAllowed` says what "own"
 *    means per bind address). No Origin is no browser, and is let through:
 *    exposed, the token is what keeps other programs out.
 *  - HTTP serves the assets map and nothing else: the path is a key of the
 *    map, never joined to a directory, so `..`, encodings of it, absolute
 *    URLs and the like are 404 (malformed requests 400, from Node's parser).
 *  - limits: a message is at most MAX_MESSAGE_BYTES (ws's `maxPayload`: a
 *    larger one closes that connection with 1009), its strings and arrays
 *    as protocol.ts bounds them, its display filter as filter.ts bounds it
 *    (length, nesting, nodes; `matches` in linear time); at most
 *    `maxMessagesPerSec` messages and MAX_QUERIES_PER_SEC queries
 *    (subscribe, packets, dissect: the requests that compile a filter, scan
 *    the store or dissect a capture) a second per client (SERVE_QUERY_RATE),
 *    and MAX_DISSECT_BYTES_PER_SEC of captures to dissect (SERVE_DISSECT_RATE);
 *    SUBSCRIPTIONS_PER_CLIENT (one: a `subscribe` replaces the last);
 *    MAX_CLIENTS connections at once, at most MAX_PENDING of them not yet
 *    authenticated — one more is accepted only to be told
 *    SERVE_TOO_MANY_CLIENTS / SERVE_TOO_MANY_PENDING (`where.limit`) and
 *    closed with 1013 (try again later).
 * Bad input: a message that does not decode, an unknown `t`, a bad filter
 * (FilterError's column), a corrupt pcap (PcapError's offset), an unknown
 * host to inject from: an `error` with `code`, `message` and `where` (the
 * error's location), and the connection and every other client go on. An
 * exception in a handler becomes an `error` (INTERNAL); it never reaches
 * the event loop. A client sending more than `maxMessagesPerSec` gets its
 * excess dropped, with one `error` (PROTO_RATE) per second saying how many.
 * Slow clients: live records are skipped (and counted) for a client whose
 * `bufferedAmount` is above `maxBuffered`, and clock states held back (the
 * last one is sent later); once it drains it gets `lagging {skipped}`; one
 * still behind after `maxLagMs` is closed with 1013. Replies are always
 * sent, unless the client's buffer is past `closeBuffered` (it stopped
 * reading, or asks faster than it reads): then it is closed with 1013 and
 * dropped. A `dissect` answer holds at most MAX_DISSECT_PACKETS packets.
 * So memory per client is bounded by `closeBuffered` plus one message,
 * whatever the traffic, and the server's by MAX_CLIENTS times that.
 * Cost: per record, one summary (a dissection, made once and shared) and,
 * per subscribed client, its filter over the packet (cached per packet
 * once it matched).
 * Wall time: the rate window and the lag bound read `Date.now()` — the
 * server is the one piece of trace/ that lives in wall time (as the
 * session's clock does through its injected `wallClock`).
 * Neighbours: protocol.ts (the messages), session.ts (the simulation),
 * store.ts and filter.ts (queries), pcap/ (export, upload), wire/dissect
 * (upload), viewer/ (the files, via cli/).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { timingSafeEqual } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import { unpack } from 'msgpackr';
import { InputError, SdnemuError } from '../errors.js';
import { readPcap } from '../pcap/reader.js';
import { PcapWriter } from '../pcap/writer.js';
import type { TraceEvent } from '../sim/tracer.js';
import { dissect } from '../wire/dissect/index.js';
import { summarize } from '../wire/summary.js';
import {
  decodeClient, encode, MAX_DISSECT_PACKETS, MAX_MESSAGE_BYTES, ProtocolError,
  type ClientMessage, type ClockState, type DissectedPacket, type DissectReply, type PacketSummary, type ReplyBodies, type ServerMessage,
} from './protocol.js';
import type { TraceSource } from './session.js';
import { TraceStore, type PacketTrace } from './store.js';
import type { Filter } from './filter.js';

export interface Asset { type: string; body: Uint8Array }

export interface TraceServerOptions {
  /** a live Session, or a recorded run (recorded.ts) */
  session: TraceSource;
  /** the viewer's files by URL path ('/index.html' …) */
  assets: ReadonlyMap<string, Asset>;
  /** the address to bind (default 127.0.0.1) */
  host?: string;
  /** the port (default 0: an ephemeral one) */
  port?: number;
  /** the token clients must present; required when 'host' is not loopback */
  token?: string;
  /** Origins allowed beside the server's own (`http://host:port`) */
  origins?: readonly string[];
  /** live records are skipped for a client with more than this many bytes unsent (default 1 MiB) */
  maxBuffered?: number;
  /** a client with more than this many bytes unsent when a reply is due is closed (default 64 MiB) */
  closeBuffered?: number;
  /** a client that keeps missing records for this long is closed with 1013, ms (default 30 000) */
  maxLagMs?: number;
  /** messages a client may send per second (default 1000) */
  maxMessagesPerSec?: number;
  /** a client that has not authenticated by then is closed, ms (default 10 000) */
  helloTimeoutMs?: number;
  /** clients connected at once, authenticated or not (default MAX_CLIENTS) */
  maxClients?: number;
  /** clients connected at once that have not yet said hello with the token (default MAX_PENDING) */
  maxPending?: number;
  /** filter-compiling or store-scanning requests (subscribe, packets, dissect) a client may send per second (default MAX_QUERIES_PER_SEC) */
  maxQueriesPerSec?: number;
  /** bytes of captures a client may send to `dissect` per second (default MAX_DISSECT_BYTES_PER_SEC) */
  maxDissectBytesPerSec?: number;
  /** called with an unexpected exception from a handler (default: ignored; it became an `error` message) */
  onError?: (e: unknown) => void;
}

/** One connected client. */
class Client {
  authed: boolean;
  filter: Filter | null = null;
  subscribed = false;
  sample = 1;
  /** matching packets seen since subscribing (for sampling) */
  matched = 0;
  /** packets decided for this subscription: true = sent, false = sampled out */
  readonly decided = new Map<number, boolean>();
  /** live records skipped since the last `lagging`, and since when (wall ms) */
  skipped = 0;
  laggingSince = 0;
  /** a clock state held back while the client lagged (states supersede each other: only the last is sent) */
  stateDue: ClockState | null = null;
  /** messages in the current one-second window, and those dropped */
  windowStart = 0;
  windowCount = 0;
  windowDropped = 0;
  /** queries (subscribe, packets, dissect) in the current window, and the bytes sent to dissect */
  windowQueries = 0;
  windowDissectBytes = 0;
  closing = false;
  helloTimer: ReturnType<typeof setTimeout> | null = null;
  constructor(readonly ws: WebSocket, authed: boolean) { this.authed = authed; }
}

/** Packets a client's decisions remember (the newest), for the filter cache. */
const DECIDED_MAX = 4096;
/** Clients connected at once (each may hold `closeBuffered` bytes): the next is told SERVE_TOO_MANY_CLIENTS and closed (1013). */
export const MAX_CLIENTS = 32;
/** Connected clients still to say hello with the token: the next is told SERVE_TOO_MANY_PENDING and closed (1013), so strangers cannot take every slot. */
export const MAX_PENDING = 8;
/** Queries a client may make per second: each compiles a filter, scans the store or dissects a capture; the excess is answered SERVE_QUERY_RATE. */
export const MAX_QUERIES_PER_SEC = 50;
/**
 * Bytes of captures a client may have dissected per second: one upload of
 * the largest message. Dissecting is the dearest request (a 4 MiB capture
 * of small frames: 1 to 2.5 s of the event loop and a 17 MB answer), so
 * the query count alone does not bound it.
 */
export const MAX_DISSECT_BYTES_PER_SEC = MAX_MESSAGE_BYTES;
/** Subscriptions a client holds: one (a `subscribe` replaces the last), so the server's filters per record are at most its clients. */
export const SUBSCRIPTIONS_PER_CLIENT = 1;
/** The requests that count as queries. */
const QUERIES: ReadonlySet<ClientMessage['t']> = new Set(['subscribe', 'packets', 'dissect']);

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * May a page of 'origin' open the WebSocket? Yes when it is in 'allow'.
 * Bound to loopback: only a page of this server itself — 127.0.0.1,
 * localhost or [::1] with the server's 'port' — not whatever the Host header
 * says, so a DNS-rebound name (evil.example resolving to 127.0.0.1) is
 * refused. Bound elsewhere: the host:port the browser addressed the server
 * by (its Host header), as the machine's names are not known here; the token
 * the server then requires is what keeps other pages out.
 */
export function originAllowed(o: { origin: string; bindHost: string; port: number; hostHeader: string | undefined; allow: readonly string[] }): boolean {
  if (o.allow.includes(o.origin)) return true;
  if (isLoopback(o.bindHost)) return ['127.0.0.1', 'localhost', '[::1]'].some((h) => o.origin === `http://${h}:${o.port}`);
  return o.hostHeader !== undefined && o.origin === `http://${o.hostHeader}`;
}

/** Throw SERVE_NEEDS_TOKEN when serving on 'host' needs a token and 'token' is none. */
export function checkToken(host: string, token: string | undefined): void {
  if (!isLoopback(host) && (token ?? '') === '') throw new InputError('SERVE_NEEDS_TOKEN', 'token', `serving on ${host} (not loopback) needs a token (--token)`);
}

export class TraceServer {
  private readonly session: TraceSource;
  private readonly assets: ReadonlyMap<string, Asset>;
  private readonly host: string;
  private readonly port: number;
  private readonly token: string | null;
  private readonly origins: readonly string[];
  private readonly maxBuffered: number;
  private readonly closeBuffered: number;
  private readonly maxMessagesPerSec: number;
  private readonly maxLagMs: number;
  private readonly helloTimeoutMs: number;
  private readonly maxClients: number;
  private readonly maxPending: number;
  private readonly maxQueriesPerSec: number;
  private readonly maxDissectBytesPerSec: number;
  private readonly onError: (e: unknown) => void;
  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly clients = new Set<Client>();
  /** connections refused over a limit, until their close completes */
  private readonly refused = new Set<WebSocket>();
  private readonly unlisten: (() => void)[] = [];
  private drainTimer: ReturnType<typeof setInterval> | null = null;

  constructor(opts: TraceServerOptions) {
    this.session = opts.session;
    this.assets = opts.assets;
    this.host = opts.host ?? '127.0.0.1';
    this.port = opts.port ?? 0;
    checkToken(this.host, opts.token);
    this.token = opts.token === undefined || opts.token === '' ? null : opts.token;
    this.origins = opts.origins ?? [];
    this.maxBuffered = opts.maxBuffered ?? 1 << 20;
    this.closeBuffered = opts.closeBuffered ?? 64 << 20;
    this.maxMessagesPerSec = opts.maxMessagesPerSec ?? 1000;
    this.maxLagMs = opts.maxLagMs ?? 30_000;
    this.helloTimeoutMs = opts.helloTimeoutMs ?? 10_000;
    this.maxClients = opts.maxClients ?? MAX_CLIENTS;
    this.maxPending = opts.maxPending ?? MAX_PENDING;
    this.maxQueriesPerSec = opts.maxQueriesPerSec ?? MAX_QUERIES_PER_SEC;
    this.maxDissectBytesPerSec = opts.maxDissectBytesPerSec ?? MAX_DISSECT_BYTES_PER_SEC;
    this.onError = opts.onError ?? (() => {});
    // nothing a request does may throw into the event loop: that would end the server for every client
    this.http = createServer((req, res) => {
      try { this.serveHttp(req, res); } catch (e) { this.onError(e); res.destroy(); }
    });
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false });
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      try { this.upgrade(req, socket, head); } catch (e) { this.onError(e); socket.destroy(); }
    });
  }

  /** Listen; resolves once bound. */
  async start(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.port, this.host, () => { this.http.off('error', reject); resolve(); });
    });
    this.unlisten.push(this.session.onRecord((p, ev) => this.live(p, ev)));
    this.unlisten.push(this.session.onState((state) => this.broadcastState(state)));
    this.drainTimer = setInterval(() => { for (const c of this.clients) { this.checkLag(c); this.checkRate(c); } }, 250);
    this.drainTimer.unref();
    return this;
  }

  /** The viewer's URL: `http://127.0.0.1:PORT/`. */
  address(): string {
    const a = this.http.address() as AddressInfo | null;
    if (a === null) throw new SdnemuError('SERVE_NOT_STARTED', 'the trace server is not listening');
    return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/`;
  }

  /** Close every client (1001) and stop listening. */
  async close(): Promise<void> {
    for (const u of this.unlisten.splice(0)) u();
    if (this.drainTimer !== null) clearInterval(this.drainTimer);
    for (const c of this.clients) { c.ws.close(1001, 'server closing'); c.ws.terminate(); }
    this.clients.clear();
    for (const ws of this.refused) ws.terminate();
    this.refused.clear();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await new Promise<void>((resolve) => { this.http.close(() => resolve()); this.http.closeAllConnections(); });
  }

  /** Clients connected now, with the bytes each has not yet sent (for tests and monitoring). */
  clientStats(): { authed: boolean; buffered: number; skipped: number }[] {
    return [...this.clients].map((c) => ({ authed: c.authed, buffered: c.ws.bufferedAmount, skipped: c.skipped }));
  }

  // ---- HTTP --------------------------------------------------------------------------------------

  private serveHttp(req: IncomingMessage, res: ServerResponse): void {
    const headers: Record<string, string> = {
      'Content-Security-Policy': "default-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'",
      'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer', 'Cache-Control': 'no-store',
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...headers, Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    const path = (req.url ?? '/').split('?')[0]!;
    const asset = this.assets.get(path === '/' ? '/index.html' : path);
    if (asset === undefined) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': asset.type, 'Content-Length': String(asset.body.length) });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  }

  // ---- WebSocket: connections ----------------------------------------------------------------------

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const refuse = (status: number, text: string): void => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    socket.on('error', () => socket.destroy());
    let url: URL;
    try { url = new URL(req.url ?? '/', 'http://x'); } catch { refuse(400, 'Bad Request'); return; }
    if (url.pathname !== '/ws') { refuse(404, 'Not Found'); return; }
    const origin = req.headers.origin;
    if (origin !== undefined && !this.originAllowed(origin, req)) { refuse(403, 'Forbidden'); return; }
    const given = url.searchParams.get('token');
    if (given !== null && !this.tokenOk(given)) { refuse(401, 'Unauthorized'); return; }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.connected(ws, this.token === null || given !== null));
  }

  private originAllowed(origin: string, req: IncomingMessage): boolean {
    const a = this.http.address() as AddressInfo | null;
    return a !== null && originAllowed({ origin, bindHost: this.host, port: a.port, hostHeader: req.headers.host, allow: this.origins });
  }

  private tokenOk(given: string): boolean {
    if (this.token === null) return true;
    const a = Buffer.from(given), b = Buffer.from(this.token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private connected(ws: WebSocket, authed: boolean): void {
    const pending = authed ? 0 : [...this.clients].filter((x) => !x.authed).length;
    if (this.clients.size >= this.maxClients) { this.refuse(ws, 'SERVE_TOO_MANY_CLIENTS', `${this.maxClients} clients are connected already`, this.maxClients); return; }
    if (!authed && pending >= this.maxPending) { this.refuse(ws, 'SERVE_TOO_MANY_PENDING', `${this.maxPending} clients are waiting to say hello already`, this.maxPending); return; }
    const c = new Client(ws, authed);
    this.clients.add(c);
    if (!authed) {
      c.helloTimer = setTimeout(() => this.drop(c, 1008, 'no hello with the token'), this.helloTimeoutMs);
      c.helloTimer.unref();
    }
    ws.on('message', (data, isBinary) => {
      try { this.message(c, data as Buffer, isBinary); } catch (e) { this.onError(e); }
    });
    ws.on('error', () => { /* ws closes the connection itself (an oversized frame: 1009) */ });
    ws.on('close', () => {
      this.clients.delete(c);
      if (c.helloTimer !== null) clearTimeout(c.helloTimer);
    });
    if (authed) this.send(c, { t: 'state', state: this.session.state() });
  }

  /** Tell a connection over a limit why (an `error` with 'code' and the limit), and close it (1013: try again later). */
  private refuse(ws: WebSocket, code: string, message: string, limit: number): void {
    this.refused.add(ws);
    ws.on('error', () => {});
    ws.on('close', () => this.refused.delete(ws));
    ws.send(encode({ t: 'error', id: null, code, message, where: { limit } }), { binary: true });
    ws.close(1013, code);
    setTimeout(() => ws.terminate(), 1000).unref();
  }

  /** Close 'c' with 'code' and forget it; a client that does not read its close frame is cut off. */
  private drop(c: Client, code: number, reason: string): void {
    if (c.closing) return;
    c.closing = true;
    this.clients.delete(c);
    c.ws.close(code, reason);
    setTimeout(() => c.ws.terminate(), 1000).unref();
  }

  private send(c: Client, m: ServerMessage): void {
    if (c.closing) return;
    if (c.ws.bufferedAmount > this.closeBuffered) { this.drop(c, 1013, 'too slow: stopped reading'); return; }
    c.ws.send(encode(m), { binary: true });
  }

  /** The clock's state to every client; a lagging client gets it when it has drained. */
  private broadcastState(state: ClockState): void {
    let bytes: Uint8Array | null = null;
    for (const c of this.clients) {
      if (!c.authed || c.closing) continue;
      if (c.ws.bufferedAmount > this.maxBuffered) { c.stateDue = state; continue; }
      c.stateDue = null;
      c.ws.send(bytes ??= encode({ t: 'state', state }), { binary: true });
    }
  }

  // ---- WebSocket: requests -------------------------------------------------------------------------

  private message(c: Client, data: Buffer, isBinary: boolean): void {
    if (c.closing) return;
    this.checkRate(c);
    if (++c.windowCount > this.maxMessagesPerSec) { c.windowDropped++; return; }
    let m: ClientMessage;
    try {
      if (!isBinary) throw new ProtocolError('PROTO_TEXT', '', 'expected a binary (msgpack) message, got text');
      m = decodeClient(new Uint8Array(data.buffer, data.byteOffset, data.length));
    } catch (e) {
      this.fail(c, requestId(data), e);
      // before the token, nothing but a well-formed hello is heard
      if (!c.authed) this.drop(c, 1008, 'token required');
      return;
    }
    if (!c.authed && m.t !== 'hello') {
      this.send(c, { t: 'error', id: m.id, code: 'AUTH_REQUIRED', message: 'send hello with the token first', where: {} });
      this.drop(c, 1008, 'token required');
      return;
    }
    if (QUERIES.has(m.t) && ++c.windowQueries > this.maxQueriesPerSec) {
      this.send(c, { t: 'error', id: m.id, code: 'SERVE_QUERY_RATE', message: `more than ${this.maxQueriesPerSec} queries (subscribe, packets, dissect) a second`, where: { limit: this.maxQueriesPerSec } });
      return;
    }
    if (m.t === 'dissect' && (c.windowDissectBytes += m.pcap.length) > this.maxDissectBytesPerSec) {
      this.send(c, { t: 'error', id: m.id, code: 'SERVE_DISSECT_RATE', message: `more than ${this.maxDissectBytesPerSec} bytes of captures to dissect a second`, where: { limit: this.maxDissectBytesPerSec } });
      return;
    }
    try {
      const body = this.handle(c, m);
      if (body !== undefined) this.send(c, { t: 'reply', id: m.id, body });
    } catch (e) {
      this.fail(c, m.id, e);
    }
  }

  private fail(c: Client, id: number | null, e: unknown): void {
    if (e instanceof SdnemuError) {
      this.send(c, { t: 'error', id, code: e.code, message: e.message, where: e.location() });
      return;
    }
    this.onError(e);
    this.send(c, { t: 'error', id, code: 'INTERNAL', message: e instanceof Error ? e.message : String(e), where: {} });
  }

  /** The reply's body for request 'm' (undefined: no reply). */
  private handle(c: Client, m: ClientMessage): ReplyBodies[keyof ReplyBodies] | undefined {
    const s = this.session;
    switch (m.t) {
      case 'hello': {
        if (!c.authed) {
          if (m.token === null || !this.tokenOk(m.token)) {
            this.send(c, { t: 'error', id: m.id, code: 'AUTH_BAD_TOKEN', message: 'wrong or missing token', where: { field: 'hello.token' } });
            this.drop(c, 1008, 'bad token');
            return undefined;
          }
          c.authed = true;
          if (c.helloTimer !== null) { clearTimeout(c.helloTimer); c.helloTimer = null; }
        }
        return { ok: true, state: s.state() };
      }
      case 'subscribe': {
        c.filter = m.filter.trim() === '' ? null : TraceStore.filter(m.filter);
        c.subscribed = true;
        c.sample = m.sample;
        c.matched = 0;
        c.decided.clear();
        return { ok: true };
      }
      case 'unsubscribe':
        c.subscribed = false;
        c.filter = null;
        c.decided.clear();
        return { ok: true };
      case 'packets': {
        const ps = m.filter.trim() === '' ? s.store.all().slice(-m.limit) : s.store.query(m.filter, m.limit);
        return ps.map((p) => s.summary(p));
      }
      case 'trace': {
        const p = s.store.get(m.packet);
        if (p === undefined) throw new InputError('TRACE_NO_PACKET', 'trace.packet', `packet ${m.packet} is not in the store (never seen, or evicted)`);
        return { summary: s.summary(p), records: p.events };
      }
      case 'fork': return s.fork(m.packet, m.seq);
      case 'topology': return s.topology();
      case 'control':
        switch (m.op) {
          case 'pause': return s.pause();
          case 'run': return s.run();
          case 'step': return s.step();
          case 'back': return s.back();
          case 'speed': return s.setSpeed(m.speed);
        }
        return undefined;
      case 'inject': {
        const { t: _t, id: _id, ...cmd } = m;
        return s.inject(cmd);
      }
      case 'pcap': return this.pcap(m.packets);
      case 'dissect': return dissectUpload(m.pcap);
    }
  }

  /** A pcap (ns timestamps of virtual time) of each packet's first frame, in the order asked; unknown ids are skipped. */
  private pcap(ids: number[]): Uint8Array {
    const w = new PcapWriter({ nanosecond: true });
    for (const id of ids) {
      const e = this.session.store.get(id)?.events.find((x) => x.frame !== null);
      if (e === undefined) continue;
      w.write({ tsSec: Math.floor(e.t / 1e9), tsNsec: Math.floor(e.t % 1e9), data: e.frame! });
    }
    return w.take();
  }

  // ---- live records --------------------------------------------------------------------------------

  private live(p: PacketTrace, ev: TraceEvent): void {
    let summary: PacketSummary | null = null;
    for (const c of this.clients) {
      if (!c.authed || !c.subscribed || c.closing) continue;
      try {
        const w = this.wants(c, p);
        if (w === 'no') continue;
        // a packet that has just come to match: its earlier records first, so the client has all of it
        const records = w === 'first' ? p.events : [ev];
        if (c.ws.bufferedAmount > this.maxBuffered) {
          if (c.skipped === 0) c.laggingSince = Date.now();
          c.skipped += records.length;
          continue;
        }
        this.checkLag(c);
        summary ??= this.session.summary(p);
        for (const record of records) this.send(c, { t: 'record', summary, record });
      } catch (e) {
        this.onError(e);
      }
    }
  }

  /**
   * Does 'c' get packet 'p''s records: 'first' when the packet has just come
   * to match (and is sampled in), 'more' when it matched before, else 'no'.
   * Decided once the packet matches (sampling counts matching packets); a
   * packet that does not match yet is looked at again with its next record
   * (`drop` matches only once the drop happened).
   */
  private wants(c: Client, p: PacketTrace): 'first' | 'more' | 'no' {
    const d = c.decided.get(p.id);
    if (d !== undefined) return d ? 'more' : 'no';
    if (c.filter !== null && !c.filter(p.subject())) return 'no';
    const take = c.matched++ % c.sample === 0;
    c.decided.set(p.id, take);
    if (c.decided.size > DECIDED_MAX) c.decided.delete(c.decided.keys().next().value!);
    return take ? 'first' : 'no';
  }

  /** Tell a drained client how many records it missed (and the clock's state it missed); close one that stayed behind too long. */
  private checkLag(c: Client): void {
    if (c.closing) return;
    if (c.stateDue !== null && c.ws.bufferedAmount <= this.maxBuffered) {
      const state = c.stateDue;
      c.stateDue = null;
      this.send(c, { t: 'state', state });
    }
    if (c.skipped === 0) return;
    if (c.ws.bufferedAmount <= this.maxBuffered) {
      const skipped = c.skipped;
      c.skipped = 0;
      this.send(c, { t: 'lagging', skipped });
    } else if (Date.now() - c.laggingSince > this.maxLagMs) {
      this.drop(c, 1013, `too slow: missed ${c.skipped} records`);
    }
  }

  /** Start a new one-second window when the last one ended, telling the client what it lost in it. */
  private checkRate(c: Client): void {
    const now = Date.now();
    if (now - c.windowStart < 1000) return;
    if (c.windowDropped > 0) {
      this.send(c, { t: 'error', id: null, code: 'PROTO_RATE', message: `${c.windowDropped} messages over ${this.maxMessagesPerSec} a second were dropped`, where: { dropped: c.windowDropped } });
    }
    c.windowStart = now; c.windowCount = 0; c.windowDropped = 0; c.windowQueries = 0; c.windowDissectBytes = 0;
  }
}

/** The id of a request that did not check out, when it has one (so the error answers it). */
function requestId(data: Buffer): number | null {
  try {
    const v: unknown = unpack(data);
    const id = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)['id'] : undefined;
    return typeof id === 'number' && Number.isInteger(id) && id >= 0 && id < 2 ** 31 ? id : null;
  } catch {
    return null;
  }
}

/** A pcap/pcapng upload, dissected: its first MAX_DISSECT_PACKETS packets (throws the PcapError of a corrupt file). */
export function dissectUpload(bytes: Uint8Array): DissectReply {
  const packets: DissectedPacket[] = [];
  let n = 0;
  for (const r of readPcap(bytes)) {
    if (++n > MAX_DISSECT_PACKETS) return { packets, truncated: true };
    const opts = { number: n, tsSec: r.tsSec, tsNsec: r.tsNsec, origLen: r.origLen, linktype: r.linktype };
    const d = dissect(r.data, opts);
    packets.push({ number: n, tsSec: r.tsSec, tsNsec: r.tsNsec, length: r.origLen, line: summarize(d, r.data, r.tsSec, r.tsNsec, r.origLen, r.linktype), dissection: d });
  }
  return { packets, truncated: false };
}
