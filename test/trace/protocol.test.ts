import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { checkClient, decodeClient, encode, MAX_MESSAGE_BYTES, ProtocolError, type ClientMessage } from '../../src/trace/protocol.js';

describe('the viewer protocol', () => {
  it('round-trips every client message', () => {
    const msgs: ClientMessage[] = [
      { t: 'hello', id: 1, token: 'abc' }, { t: 'subscribe', id: 2, filter: 'icmp', sample: 3 }, { t: 'unsubscribe', id: 3 },
      { t: 'packets', id: 4, filter: 'drop', limit: 10 }, { t: 'trace', id: 5, packet: 7 }, { t: 'topology', id: 6 },
      { t: 'control', id: 7, op: 'speed', speed: 0.5 }, { t: 'inject', id: 8, kind: 'tcp', from: 'a', to: '10.0.0.2', port: 80, count: 1, payload: 'x' },
      { t: 'pcap', id: 9, packets: [1, 2] }, { t: 'dissect', id: 10, pcap: new Uint8Array([1, 2, 3]) },
      { t: 'fork', id: 11, packet: 3, seq: 40 },
    ];
    for (const m of msgs) expect(decodeClient(encode(m))).toEqual(m);
  });

  it('names the field at fault', () => {
    const bad: [unknown, string, string][] = [
      [{ t: 'subscribe', filter: 3 }, 'PROTO_BAD_FIELD', 'subscribe.filter'],
      [{ t: 'control', op: 'explode' }, 'PROTO_BAD_FIELD', 'control.op'],
      [{ t: 'control', op: 'speed', speed: -1 }, 'PROTO_BAD_FIELD', 'control.speed'],
      [{ t: 'trace', packet: 1.5 }, 'PROTO_BAD_FIELD', 'trace.packet'],
      [{ t: 'fork', packet: 1 }, 'PROTO_BAD_FIELD', 'fork.seq'],
      [{ t: 'pcap', packets: ['x'] }, 'PROTO_BAD_FIELD', 'pcap.packets'],
      [{ t: 'nope' }, 'PROTO_UNKNOWN', 't'],
      [[1, 2], 'PROTO_BAD_MESSAGE', ''],
      [{ t: 'subscribe', filter: 'x'.repeat(5000) }, 'PROTO_TOO_LONG', 'subscribe.filter'],
    ];
    for (const [v, code, field] of bad) {
      let err: unknown;
      try { checkClient(v); } catch (e) { err = e; }
      expect(err, JSON.stringify(v).slice(0, 80)).toBeInstanceOf(ProtocolError);
      expect([(err as ProtocolError).code, (err as ProtocolError).field]).toEqual([code, field]);
    }
    expect(() => decodeClient(new Uint8Array(MAX_MESSAGE_BYTES + 1))).toThrow(/over the/);
  });

  it('throws only ProtocolError on hostile bytes and hostile maps', () => {
    const packr = new Packr({ useRecords: false });
    const hostile = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.anything({ maxDepth: 3 }).map((v) => { try { return packr.pack(v) as Uint8Array; } catch { return new Uint8Array([0xc0]); } }),
      fc.record({ t: fc.constantFrom('hello', 'subscribe', 'packets', 'trace', 'fork', 'control', 'inject', 'pcap', 'dissect'), id: fc.anything(), filter: fc.anything(),
        op: fc.anything(), packet: fc.anything(), seq: fc.anything(), packets: fc.anything(), kind: fc.anything(), from: fc.anything(), to: fc.anything() }, { requiredKeys: ['t'] })
        .map((v) => packr.pack(v) as Uint8Array),
    );
    fc.assert(fc.property(hostile, (b) => {
      try { decodeClient(b); } catch (e) { if (!(e instanceof ProtocolError)) throw e; }
    }), { numRuns: 3000 });
  });
});
