/**
 * A test client for the trace server: a `ws` WebSocket speaking protocol.ts, with every message
 * it received kept in order, requests answered by id, and waits for a message of a given shape.
 */
import WebSocket from 'ws';
import { decodeServer, encode, type ClientMessage, type ServerMessage } from '../../src/trace/protocol.js';

/** A client request without its id (the client numbers them). */
export type Request = ClientMessage extends infer M ? (M extends ClientMessage ? Omit<M, 'id'> : never) : never;

export class TestClient {
  readonly got: ServerMessage[] = [];
  closed: { code: number; reason: string } | null = null;
  private waiters: { pred: (m: ServerMessage) => boolean; resolve: (m: ServerMessage) => void }[] = [];
  private nextId = 1;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const m = decodeServer(new Uint8Array(data.buffer, data.byteOffset, data.length));
      this.got.push(m);
      for (const w of [...this.waiters]) if (w.pred(m)) { this.waiters = this.waiters.filter((x) => x !== w); w.resolve(m); }
    });
    ws.on('close', (code, reason) => { this.closed = { code, reason: reason.toString() }; });
    ws.on('error', () => { /* seen as the close */ });
  }

  /** Connect to the server at 'base' (`http://127.0.0.1:PORT/`), '/ws' plus 'query'; rejects when refused. */
  static connect(base: string, opts: { query?: string; origin?: string } = {}): Promise<TestClient> {
    const url = `${base.replace(/^http/, 'ws')}ws${opts.query ?? ''}`;
    const ws = new WebSocket(url, opts.origin !== undefined ? { origin: opts.origin } : {});
    return new Promise((resolve, reject) => {
      const c = new TestClient(ws);
      ws.once('open', () => resolve(c));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  /** Send 'm' (raw bytes, or a request numbered here); the id used. */
  send(m: Request | Uint8Array): number {
    if (m instanceof Uint8Array) { this.ws.send(m); return 0; }
    const id = this.nextId++;
    this.ws.send(encode({ ...m, id } as ClientMessage));
    return id;
  }

  /** The reply or error to request 'm'. */
  async request(m: Request): Promise<ServerMessage> {
    const id = this.nextId;
    const p = this.wait((x) => (x.t === 'reply' || x.t === 'error') && x.id === id);
    this.send(m);
    return p;
  }

  /** The reply's body to request 'm' (throws on an error message). */
  async ask<T = unknown>(m: Request): Promise<T> {
    const r = await this.request(m);
    if (r.t !== 'reply') throw new Error(`expected a reply to ${m.t}, got ${JSON.stringify(r)}`);
    return r.body as T;
  }

  /** The first message from now on (or already received, with 'past') matching 'pred'. */
  wait(pred: (m: ServerMessage) => boolean, timeoutMs = 5000, past = false): Promise<ServerMessage> {
    if (past) { const m = this.got.find(pred); if (m !== undefined) return Promise.resolve(m); }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.waiters = this.waiters.filter((w) => w.resolve !== done); reject(new Error('timed out waiting for a message')); }, timeoutMs);
      const done = (m: ServerMessage): void => { clearTimeout(timer); resolve(m); };
      this.waiters.push({ pred, resolve: done });
    });
  }

  /** Resolves with the close code once the server closed the connection. */
  whenClosed(timeoutMs = 5000): Promise<number> {
    if (this.closed !== null) return Promise.resolve(this.closed.code);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('not closed')), timeoutMs);
      this.ws.once('close', (code) => { clearTimeout(timer); resolve(code); });
    });
  }

  close(): void { this.ws.terminate(); }
}
