/**
 * The connection to the trace server (viewer, browser side).
 *
 * What: one WebSocket speaking trace/protocol.ts (msgpackr, one message per
 * binary frame). `request(msg)` gives the message an id and resolves with
 * the `reply` body of that id, or rejects with a `ServerError` (the server's
 * `error` message: code, message, where — a filter's column); unasked
 * messages (`record`, `state`, `lagging`, errors with no id) go to
 * `onPush`.
 * Robustness: a message that does not decode or has no known shape is a
 * broken server or a broken link: the banner says so and the socket is
 * closed; a closed socket rejects every pending request, shows the banner
 * and reconnects with backoff: 0.25 s doubling to 4 s, or to 30 s while the
 * server turns the viewer away (it closed with 1013 "try again later", or
 * said SERVE_TOO_MANY_CLIENTS / SERVE_TOO_MANY_PENDING). The backoff goes
 * back to 0.25 s only once a connection proved healthy — the server sent a
 * reply, a state or a record on it — not when a socket merely opens: a full
 * server accepts the socket and closes it at once, and resetting on open
 * would retry it every 0.25 s for ever. `onOpen` runs again after each
 * reconnect so the app re-subscribes and reloads. Nothing here throws into
 * the event loop.
 * Neighbours: trace/protocol.ts (the shapes; encode and decode), main.ts
 * (the one user).
 */
import { decodeServer, encode, type ClientMessage, type ServerMessage } from '../../trace/protocol.js';

/** A request the server refused: its error message. */
export class ServerError extends Error {
  constructor(readonly code: string, message: string, readonly where: Record<string, string | number>) {
    super(message);
    this.name = 'ServerError';
  }
}

type Request = ClientMessage extends infer M ? M extends { id: number } ? Omit<M, 'id'> : never : never;

export interface ConnectionHandlers {
  onOpen: () => void;
  onPush: (m: ServerMessage) => void;
  /** null: connected; a text: what went wrong (the banner) */
  onStatus: (problem: string | null) => void;
}

const KINDS = new Set(['reply', 'error', 'record', 'lagging', 'state']);

/** A decoded value → a ServerMessage, or null when it has no known shape. */
export function checkServer(v: unknown): ServerMessage | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  if (typeof o['t'] !== 'string' || !KINDS.has(o['t'])) return null;
  const obj = (x: unknown): boolean => typeof x === 'object' && x !== null;
  switch (o['t']) {
    case 'reply': return typeof o['id'] === 'number' ? (o as unknown as ServerMessage) : null;
    case 'error': return typeof o['message'] === 'string' ? (o as unknown as ServerMessage) : null;
    case 'record': return obj(o['summary']) && obj(o['record']) && typeof (o['record'] as { trace?: unknown }).trace === 'number' ? (o as unknown as ServerMessage) : null;
    case 'state': return obj(o['state']) ? (o as unknown as ServerMessage) : null;
    default: return o as unknown as ServerMessage;
  }
}

/** The first reconnect delay, and its caps: after an ordinary loss, and while the server turns us away. */
export const BACKOFF_MIN_MS = 250, BACKOFF_MAX_MS = 4000, BACKOFF_BUSY_MAX_MS = 30_000;
/** WebSocket close code 1013, "try again later": the trace server is over a limit. */
const CLOSE_TRY_AGAIN_LATER = 1013;
const BUSY_CODES = new Set(['SERVE_TOO_MANY_CLIENTS', 'SERVE_TOO_MANY_PENDING']);

export class Connection {
  private ws: WebSocket | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (body: unknown) => void; reject: (e: Error) => void }>();
  private backoffMs = BACKOFF_MIN_MS;
  private closedByUs = false;
  /** the server turned the current connection away (1013, SERVE_TOO_MANY_*) */
  private busy = false;
  /** the delay before the reconnect scheduled last, ms (0: none yet) */
  lastRetryMs = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly url: string, private readonly token: string | null, private readonly on: ConnectionHandlers) {}

  connect(): void {
    this.closedByUs = false;
    this.retryTimer = null;
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this.lost(`cannot connect to ${this.url}: ${(e as Error).message}`);
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.busy = false;
    ws.onopen = () => {
      // not yet healthy: a full server accepts the socket only to close it (the backoff stays)
      this.on.onStatus(null);
      if (this.token !== null) void this.request({ t: 'hello', token: this.token }).catch(() => undefined);
      this.safely(() => this.on.onOpen());
    };
    ws.onmessage = (ev: MessageEvent) => this.receive(ev.data);
    ws.onclose = (ev: CloseEvent) => {
      if (this.ws !== ws) return;
      if (ev?.code === CLOSE_TRY_AGAIN_LATER) this.busy = true;
      this.lost(this.busy ? 'the trace server is busy (too many viewers)' : 'the connection to the trace server closed');
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  /** Stop for good (no reconnect). */
  close(): void {
    this.closedByUs = true;
    if (this.retryTimer !== null) { clearTimeout(this.retryTimer); this.retryTimer = null; }
    this.ws?.close();
  }

  /** Send 'msg' with a fresh id; resolves with the reply's body. */
  request(msg: Request): Promise<unknown> {
    const ws = this.ws;
    if (ws === null || ws.readyState !== WebSocket.OPEN) return Promise.reject(new ServerError('VIEWER_OFFLINE', 'not connected to the trace server', {}));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        ws.send(encode({ ...msg, id } as ClientMessage) as Uint8Array<ArrayBuffer>);
      } catch (e) {
        this.pending.delete(id);
        reject(new ServerError('VIEWER_SEND', (e as Error).message, {}));
      }
    });
  }

  private receive(data: unknown): void {
    let m: ServerMessage | null = null;
    try {
      if (data instanceof ArrayBuffer) m = checkServer(decodeServer(new Uint8Array(data)));
    } catch { m = null; }
    if (m === null) {
      this.on.onStatus('the trace server sent a message this viewer cannot read; reconnecting');
      this.ws?.close();
      return;
    }
    if (m.t === 'reply' || m.t === 'state' || m.t === 'record') this.backoffMs = BACKOFF_MIN_MS; // healthy: served
    else if (m.t === 'error' && m.id === null && BUSY_CODES.has(m.code)) this.busy = true;
    if (m.t === 'reply' || (m.t === 'error' && m.id !== null && this.pending.has(m.id))) {
      const p = this.pending.get(m.id!);
      if (p === undefined) return;
      this.pending.delete(m.id!);
      if (m.t === 'reply') p.resolve(m.body);
      else p.reject(new ServerError(m.code, m.message, m.where ?? {}));
      return;
    }
    const push = m;
    this.safely(() => this.on.onPush(push));
  }

  private lost(why: string): void {
    this.ws = null;
    for (const p of this.pending.values()) p.reject(new ServerError('VIEWER_OFFLINE', why, {}));
    this.pending.clear();
    if (this.closedByUs) return;
    const wait = this.backoffMs;
    this.lastRetryMs = wait;
    this.backoffMs = Math.min(wait * 2, this.busy ? BACKOFF_BUSY_MAX_MS : Math.max(BACKOFF_MAX_MS, wait));
    this.on.onStatus(`${why}; reconnecting in ${wait < 1000 ? `${wait} ms` : `${wait / 1000} s`}…`);
    this.retryTimer = setTimeout(() => this.connect(), wait);
  }

  /** Run a handler; an exception in it is shown, never thrown into the socket's event loop. */
  private safely(fn: () => void): void {
    try { fn(); } catch (e) { console.error(e); this.on.onStatus(`viewer error: ${(e as Error).message}`); }
  }
}
