/**
 * The viewer protocol's decoder under hostile bytes (fast-check), and a live
 * server fed hostile messages. decodeClient either returns a message that
 * survives its own round trip, or throws ProtocolError naming a field —
 * never a TypeError or RangeError — within a generous time; the decoder keeps
 * no state between messages (msgpackr record definitions do not carry over)
 * and no key pollutes a prototype. Over a live server every hostile message
 * gets one `error`, and what was loaded before — the session's store, the
 * other clients' subscriptions, the hostile client's own — is unchanged.
 */
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { checkClient, decodeClient, encode, MAX_MESSAGE_BYTES, ProtocolError, type ClientMessage, type PacketSummary, type ServerMessage } from '../../src/trace/protocol.js';
import { FilterError } from '../../src/trace/filter.js';
import { TraceStore } from '../../src/trace/store.js';
import { serverHarness } from './harness.js';

const TIME_BOUND_MS = 2000;
const plain = new Packr({ useRecords: false });
const packAny = (v: unknown): Uint8Array => { try { return plain.pack(v) as Uint8Array; } catch { return new Uint8Array([0xc0]); } };

/** Valid messages of every type. */
const valid: fc.Arbitrary<ClientMessage> = fc.oneof(
  fc.record({ t: fc.constant('hello' as const), id: fc.nat(), token: fc.option(fc.string({ maxLength: 20 })) }),
  fc.record({ t: fc.constant('subscribe' as const), id: fc.nat(), filter: fc.constantFrom('icmp', 'ip.addr == 10.0.0.1', ''), sample: fc.integer({ min: 1, max: 9 }) }),
  fc.record({ t: fc.constant('unsubscribe' as const), id: fc.nat() }),
  fc.record({ t: fc.constant('packets' as const), id: fc.nat(), filter: fc.constantFrom('arp', 'drop', ''), limit: fc.integer({ min: 1, max: 100 }) }),
  fc.record({ t: fc.constant('trace' as const), id: fc.nat(), packet: fc.integer({ min: 1, max: 1e6 }) }),
  fc.record({ t: fc.constant('fork' as const), id: fc.nat(), packet: fc.integer({ min: 1, max: 1e6 }), seq: fc.integer({ min: 1, max: 1e6 }) }),
  fc.record({ t: fc.constant('topology' as const), id: fc.nat() }),
  fc.record({ t: fc.constant('control' as const), id: fc.nat(), op: fc.constantFrom('pause', 'run', 'step', 'back', 'speed' as const), speed: fc.double({ min: 0.01, max: 1e6, noNaN: true }) }),
  fc.record({ t: fc.constant('inject' as const), id: fc.nat(), kind: fc.constantFrom('ping', 'tcp' as const), from: fc.string({ maxLength: 8 }), to: fc.string({ maxLength: 8 }), port: fc.integer({ min: 1, max: 65535 }), count: fc.integer({ min: 1, max: 100 }), payload: fc.string({ maxLength: 8 }) }),
  fc.record({ t: fc.constant('pcap' as const), id: fc.nat(), packets: fc.array(fc.integer({ min: 1, max: 1e6 }), { maxLength: 5 }) }),
  fc.record({ t: fc.constant('dissect' as const), id: fc.nat(), pcap: fc.uint8Array({ maxLength: 64 }) }),
);

/** A valid message's bytes with a few edits: flip, truncate, insert, overwrite, splice another message in. */
const mutatedBytes: fc.Arbitrary<Uint8Array> = fc.tuple(valid, valid, fc.array(fc.tuple(fc.constantFrom('flip', 'cut', 'ins', 'set', 'splice'), fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }))
  .map(([m, other, edits]) => edits.reduce((b, [op, at, x]) => {
    const i = b.length === 0 ? 0 : at % b.length;
    switch (op) {
      case 'flip': { const c = b.slice(); if (c.length > 0) c[i] = c[i]! ^ (1 << (x % 8)); return c; }
      case 'cut': return b.subarray(0, i);
      case 'ins': return Uint8Array.from([...b.subarray(0, i), x, ...b.subarray(i)]);
      case 'set': { const c = b.slice(); if (c.length > 0) c[i] = x; return c; }
      default: { const o = encode(other); return Uint8Array.from([...b.subarray(0, i), ...o.subarray(at % (o.length + 1))]); }
    }
  }, encode(m)));

/** Maps with a real type and hostile values for every field. */
const hostileMaps: fc.Arbitrary<Uint8Array> = fc.record({
  t: fc.oneof(fc.constantFrom('hello', 'subscribe', 'unsubscribe', 'packets', 'trace', 'fork', 'topology', 'control', 'inject', 'pcap', 'dissect'), fc.anything()),
  id: fc.anything(), token: fc.anything(), filter: fc.anything(), sample: fc.anything(), limit: fc.anything(), packet: fc.anything(), seq: fc.anything(),
  op: fc.anything(), speed: fc.oneof(fc.double(), fc.anything()), kind: fc.anything(), from: fc.anything(), to: fc.anything(), port: fc.anything(),
  count: fc.anything(), payload: fc.anything(), packets: fc.anything(), pcap: fc.anything(),
}, { requiredKeys: ['t'] }).map(packAny);

/** Byte patterns msgpack decoders trip on: huge declared lengths, deep nesting, extensions, reserved bytes. */
const nasty: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.constantFrom(
    'c1', 'c0', 'dd ffffffff', 'dd 0fffffff c0', 'df ffffffff', 'db ffffffff 41', 'c6 ffffffff', 'c9 ffffffff 01', 'd4 72 00', 'd4 ff 00', 'd6 ff 00000001',
    'c7 0c ff 000000000000000000000001', 'd5 00 0000', 'cf ffffffffffffffff', 'd3 8000000000000000', 'cb 7ff8000000000000', '81 a1 74 cb 7ff0000000000000',
    '82 a1 74 a5 74726163 65 a6 7061636b6574 cb 7ff8000000000000', '81 a9 5f5f70726f746f5f5f 81 a1 74 a8 746f706f6c6f6779',
  ).map((h) => Uint8Array.from(Buffer.from(h.replace(/ /g, ''), 'hex'))),
  fc.tuple(fc.integer({ min: 1, max: 200_000 }), fc.constantFrom(0x91, 0x81, 0xdc)).map(([n, b]) => new Uint8Array(n).fill(b)),
  fc.integer({ min: 1, max: 100_000 }).map((n) => Uint8Array.from([...Array<number>(n).fill(0x91), 0x81, 0xa1, 0x74, 0xa1, 0x78])),
);

/** Decode 'b': the message (which must survive its round trip) or the ProtocolError; anything else throws. */
function tryDecode(b: Uint8Array): ClientMessage | ProtocolError {
  const t0 = performance.now();
  let out: ClientMessage | ProtocolError;
  try {
    out = decodeClient(b);
    expect(decodeClient(encode(out))).toEqual(out);
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
    expect(e.code).toMatch(/^PROTO_[A-Z_]+$/);
    expect(typeof e.field).toBe('string');
    expect(e.toJSON()).toMatchObject({ code: e.code, field: e.field });
    out = e;
  }
  expect(performance.now() - t0).toBeLessThan(TIME_BOUND_MS);
  return out;
}

describe('decodeClient under hostile bytes', () => {
  it('random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => { tryDecode(b); }), { numRuns: 5000 });
  }, 30_000);

  it('valid messages, mutated', () => {
    let decoded = 0;
    fc.assert(fc.property(mutatedBytes, (b) => { if (!(tryDecode(b) instanceof ProtocolError)) decoded++; }), { numRuns: 5000 });
    expect(decoded).toBeGreaterThan(100);
  }, 30_000);

  it('maps of a real type with arbitrary values, and arbitrary values', () => {
    fc.assert(fc.property(fc.oneof(hostileMaps, fc.anything({ maxDepth: 4 }).map(packAny)), (b) => { tryDecode(b); }), { numRuns: 3000 });
  }, 30_000);

  it('huge declared lengths, deep nesting, extensions, NaN and reserved bytes', () => {
    fc.assert(fc.property(nasty, (b) => { tryDecode(b); }), { numRuns: 300 });
  }, 30_000);

  it('valid messages decode to themselves', () => {
    fc.assert(fc.property(valid, (m) => { expect(decodeClient(encode(m))).toEqual(m); }), { numRuns: 1000 });
    // regression (found here): a hello with token nil — which the type allows — was refused (PROTO_BAD_FIELD hello.token)
    expect(decodeClient(encode({ t: 'hello', id: 0, token: null }))).toEqual({ t: 'hello', id: 0, token: null });
  });

  it('no key pollutes a prototype', () => {
    for (const json of ['{"__proto__": {"polluted": 1}, "t": "topology"}', '{"constructor": {"prototype": {"polluted": 1}}, "t": "topology"}', '{"t": "hello", "__proto__": {"token": "x"}}']) {
      tryDecode(plain.pack(JSON.parse(json)) as Uint8Array);
    }
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    // a token inherited from a __proto__ key is no token
    const hello = tryDecode(plain.pack(JSON.parse('{"t": "hello", "__proto__": {"token": "x"}}')) as Uint8Array);
    expect(hello instanceof ProtocolError || (hello.t === 'hello' && hello.token === null)).toBe(true);
  });

  it('keeps no state between messages: a record definition in one does not shape the next', () => {
    const records = new Packr({ useRecords: true, sequential: true });
    const defined = records.pack({ t: 'topology', id: 6 }) as Uint8Array;
    // a definition (ext 0x72) and the record in one message decodes as the map it stands for
    expect(decodeClient(defined)).toEqual({ t: 'topology', id: 6 });
    // the bare record (its id, 0x40, without the definition) means nothing in the next message
    const bare = Uint8Array.from([0x40, ...plain.pack('topology') as Uint8Array, 0x07]);
    expect(tryDecode(bare)).toBeInstanceOf(ProtocolError);
    expect(() => checkClient(undefined)).toThrow(ProtocolError);
  });

  it('sizes: over MAX_MESSAGE_BYTES is refused before decoding', () => {
    const e = tryDecode(new Uint8Array(MAX_MESSAGE_BYTES + 1));
    expect(e).toMatchObject({ code: 'PROTO_TOO_BIG' });
  });
});

describe('a live server fed hostile messages', () => {
  const { serverOn, client } = serverHarness();

  it('answers each with one error; the store, other clients\' subscriptions and the sender\'s own are unchanged', async () => {
    const { url, session } = await serverOn(undefined, { maxMessagesPerSec: 1e6, maxQueriesPerSec: 1e6 });
    session.inject({ kind: 'ping', from: 'a', to: 'b', port: 80, count: 2, payload: '' });
    session.setSpeed(1000);
    session.advance(1000);
    const watcher = await client(url), hostile = await client(url);
    await watcher.ask({ t: 'subscribe', filter: 'icmp.type == 8', sample: 1 });
    await hostile.ask({ t: 'subscribe', filter: 'icmp.type == 0', sample: 1 });
    const before = await watcher.ask<PacketSummary[]>({ t: 'packets', filter: '', limit: 100_000 });
    const stored = session.store.all().map((p) => [p.id, p.events.length]);

    /** A hostile message: bytes that do not decode, or a well-formed query that must fail (a bad filter, an unknown packet). */
    const badFilter = fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom(`${'('.repeat(100)}ip${')'.repeat(100)}`, 'frame matches "(a+)+\\\\1"', `ip.ttl in {${Array(1100).fill(1).join(',')}}`))
      .filter((f) => { try { TraceStore.filter(f); return false; } catch (e) { return e instanceof FilterError; } });
    const message = fc.oneof(
      fc.oneof(fc.uint8Array({ maxLength: 200 }), mutatedBytes, hostileMaps, nasty).filter((b) => b.length <= 4096 && tryDecode(b) instanceof ProtocolError),
      fc.tuple(fc.constantFrom('subscribe', 'packets' as const), badFilter).map(([t, filter]) => encode({ t, id: 900, filter, sample: 1, limit: 10 } as ClientMessage)),
      fc.integer({ min: 100_000, max: 2 ** 40 }).map((packet) => encode({ t: 'trace', id: 901, packet })),
      fc.integer({ min: 1, max: 2 ** 40 }).map((seq) => encode({ t: 'fork', id: 902, packet: 999_999, seq })),
    );
    let sent = 0;
    await fc.assert(fc.asyncProperty(message, async (b) => {
      const n = hostile.got.filter((m) => m.t === 'error').length;
      const answer = hostile.wait((m) => m.t === 'error' || m.t === 'reply');
      hostile.send(b);
      sent++;
      const m = await answer;
      expect(m.t).toBe('error');
      if (m.t === 'error') expect(m.code).not.toBe('INTERNAL');
      expect(hostile.got.filter((x) => x.t === 'error').length).toBe(n + 1);
    }), { numRuns: 300 });
    expect(sent).toBe(300);
    expect(hostile.closed).toBe(null);

    // the store as it was
    expect(session.store.all().map((p) => [p.id, p.events.length])).toEqual(stored);
    expect(await watcher.ask({ t: 'packets', filter: '', limit: 100_000 })).toEqual(before);
    // both subscriptions as they were: new traffic reaches each with its own filter
    const infos = (got: ServerMessage[], from: number): string[] => [...new Set(got.slice(from).flatMap((m) => (m.t === 'record' ? [m.summary.info.replace(/, id.*/, '')] : [])))];
    const w0 = watcher.got.length, h0 = hostile.got.length;
    session.inject({ kind: 'ping', from: 'b', to: 'a', port: 80, count: 1, payload: '' });
    session.advance(1000);
    await watcher.ask({ t: 'topology' });
    await hostile.ask({ t: 'topology' });
    expect(infos(watcher.got, w0)).toEqual(['10.0.2.2 > 10.0.1.2: ICMP echo request']);
    expect(infos(hostile.got, h0)).toEqual(['10.0.1.2 > 10.0.2.2: ICMP echo reply']);
  }, 120_000);
});
