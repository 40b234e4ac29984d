/**
 * What the viewer accepts from the server (src/viewer/app/conn.ts
 * checkServer): the five message shapes, and null — the banner and a
 * reconnect — for anything else; and how it reconnects (Connection, on a
 * fake WebSocket and fake timers): backing off while the server is full.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { checkServer, Connection } from '../../../src/viewer/app/conn.js';
import { encode } from '../../../src/trace/protocol.js';

it('accepts the server messages', () => {
  expect(checkServer({ t: 'reply', id: 3, body: [] })).not.toBeNull();
  expect(checkServer({ t: 'error', id: null, code: 'X', message: 'm', where: {} })).not.toBeNull();
  expect(checkServer({ t: 'record', summary: { packet: 1 }, record: { trace: 1 } })).not.toBeNull();
  expect(checkServer({ t: 'state', state: { now: 0 } })).not.toBeNull();
  expect(checkServer({ t: 'lagging', skipped: 2 })).not.toBeNull();
});

it('refuses what has no known shape', () => {
  for (const v of [null, 7, 'reply', [], {}, { t: 'nope' }, { t: 'reply' }, { t: 'error', id: 1 }, { t: 'record', summary: {} }, { t: 'record', summary: {}, record: {} }, { t: 'state' }]) {
    expect(checkServer(v), JSON.stringify(v)).toBeNull();
  }
});

// ---- reconnecting: a fake WebSocket on fake timers (no real time passes)

interface FakeServer {
  /** what the server does with each new socket, after it opened */
  onConnect: (ws: FakeSocket) => void;
  sockets: FakeSocket[];
  /** the fake clock at each socket's creation */
  times: number[];
}

class FakeSocket {
  static readonly CONNECTING = 0; static readonly OPEN = 1; static readonly CLOSING = 2; static readonly CLOSED = 3;
  static server: FakeServer;
  readyState = FakeSocket.CONNECTING;
  binaryType = 'blob';
  onopen: (() => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number }) => void) | null = null;
  onerror: (() => void) | null = null;
  readonly sent: unknown[] = [];
  constructor(readonly url: string) {
    FakeSocket.server.sockets.push(this);
    FakeSocket.server.times.push(Date.now());
    queueMicrotask(() => {
      this.readyState = FakeSocket.OPEN;
      this.onopen?.();
      FakeSocket.server.onConnect(this);
    });
  }
  send(b: Uint8Array): void { this.sent.push(b); }
  close(): void { this.serverClose(1000); }
  /** the server's side: a message */
  push(m: unknown): void {
    const b = encode(m as never) as Uint8Array;
    this.onmessage?.({ data: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) });
  }
  /** the server's side: close with 'code' */
  serverClose(code: number): void {
    if (this.readyState === FakeSocket.CLOSED) return;
    this.readyState = FakeSocket.CLOSED;
    this.onclose?.({ code });
  }
}

describe('Connection reconnects with backoff', () => {
  let server: FakeServer;
  let status: (string | null)[];
  beforeEach(() => {
    vi.useFakeTimers();
    server = { onConnect: () => undefined, sockets: [], times: [] };
    FakeSocket.server = server;
    vi.stubGlobal('WebSocket', FakeSocket);
    status = [];
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });
  const connection = (): Connection => {
    const c = new Connection('ws://127.0.0.1:1/ws', null, { onOpen: () => undefined, onPush: () => undefined, onStatus: (p) => { status.push(p); } });
    c.connect();
    return c;
  };
  /** The waits (ms) between connection attempts while the fake clock runs 'ms'. */
  const delays = async (ms: number): Promise<number[]> => {
    await vi.advanceTimersByTimeAsync(ms);
    return server.times.slice(1).map((t, i) => t - server.times[i]!);
  };

  it('a full server (SERVE_TOO_MANY_CLIENTS, then 1013 at once): the delay keeps doubling to 30 s, not 250 ms for ever', async () => {
    server.onConnect = (ws) => {
      ws.push({ t: 'error', id: null, code: 'SERVE_TOO_MANY_CLIENTS', message: '8 clients are connected already', where: { limit: 8 } });
      ws.serverClose(1013);
    };
    const c = connection();
    const d = await delays(120_000);
    expect(d.slice(0, 9)).toEqual([250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    // 2 minutes: 10 attempts, where resetting on open made 480
    expect(server.sockets.length).toBeLessThanOrEqual(11);
    expect(status.at(-1)).toMatch(/busy.*reconnecting in 30 s/);
    c.close();
  });

  it('a bare close with 1013 backs off the same way', async () => {
    server.onConnect = (ws) => ws.serverClose(1013);
    const c = connection();
    expect((await delays(70_000)).slice(0, 8)).toEqual([250, 500, 1000, 2000, 4000, 8000, 16000, 30000]);
    c.close();
  });

  it('a connection that opens but is never served does not reset the backoff (capped at 4 s after an ordinary close)', async () => {
    server.onConnect = (ws) => ws.serverClose(1006);
    const c = connection();
    expect((await delays(30_000)).slice(0, 7)).toEqual([250, 500, 1000, 2000, 4000, 4000, 4000]);
    c.close();
  });

  it('a healthy connection (the server sent its state) resets the backoff: its loss retries after 250 ms', async () => {
    let refuse = 3;
    server.onConnect = (ws) => {
      if (refuse-- > 0) { ws.serverClose(1013); return; }
      ws.push({ t: 'state', state: { now: 0 } });
    };
    const c = connection();
    expect(await delays(5_000)).toEqual([250, 500, 1000]);
    expect(server.sockets).toHaveLength(4);
    expect(status.at(-1)).toBeNull();
    // served: now the link breaks
    server.sockets.at(-1)!.serverClose(1006);
    expect(c.lastRetryMs).toBe(250);
    expect(status.at(-1)).toMatch(/closed; reconnecting in 250 ms/);
    await vi.advanceTimersByTimeAsync(300);
    expect(server.sockets).toHaveLength(5);
    c.close();
  });

  it('close() stops reconnecting', async () => {
    server.onConnect = (ws) => ws.serverClose(1013);
    const c = connection();
    await vi.advanceTimersByTimeAsync(10);
    c.close();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(server.sockets.length).toBeLessThanOrEqual(2);
  });
});
