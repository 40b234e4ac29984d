import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileFilter, FilterError, type FilterSubject } from '../../src/trace/filter.js';
import { FIELDS } from '../../src/trace/fields.js';
import { describeWith } from '../oracle/tools.js';

/** A subject from literal field values (and protocols as empty layers). */
function subject(values: Record<string, string[]>, extra: Record<string, Uint8Array[]> = {}): FilterSubject {
  return { values: (n) => values[n] ?? [], protocolBytes: (n) => extra[n] ?? [] };
}

const META = new Map([['node', 'string'], ['drop', 'none'], ['drop.reason', 'string'], ['trace.id', 'uint']] as const);

describe('display filters', () => {
  const vxlanPkt = subject({
    ip: ['', ''], 'ip.src': ['192.168.100.1', '10.200.0.1'], 'ip.dst': ['192.168.100.2', '10.200.0.2'],
    'ip.addr': ['192.168.100.1', '192.168.100.2', '10.200.0.1', '10.200.0.2'], vxlan: [''], 'vxlan.vni': ['5001'], udp: [''], 'udp.port': ['59519', '4789'],
    tcp: [''], 'tcp.port': ['57592', '80'], 'eth.src': ['02:00:00:00:01:01', '02:00:00:00:02:01'],
  });

  it('reads the filters users type most', () => {
    const yes = ['ip.addr == 10.200.0.1 && tcp.port == 80', 'vxlan.vni == 5001', 'ip.src == 10.200.0.0/16', 'tcp.port in {80, 443}',
      'udp.port in {4000..5000}', 'ip.src != 172.16.0.1', 'ip.src ~= 10.200.0.1', 'eth.src[0:3] == 02:00:00', 'vxlan', '!arp',
      'ip.src == 10.200.0.1 or ip.src == 1.1.1.1', 'not (tcp.port == 22)', ''];
    const no = ['ip.src != 10.200.0.1', 'ip.src === 10.200.0.1', 'vxlan.vni == 5002', 'arp', 'tcp.port > 60000', 'ip.dst == 10.0.0.0/24'];
    for (const f of yes) expect(compileFilter(f)(vxlanPkt), f).toBe(true);
    for (const f of no) expect(compileFilter(f)(vxlanPkt), f).toBe(false);
  });

  it('takes trace metadata fields the trace layer adds', () => {
    const dropped = subject({ node: ['worker-2'], drop: [''], 'drop.reason': ['ttl-exceeded'], 'trace.id': ['7'] });
    const ok = subject({ node: ['worker-1'], 'trace.id': ['8'] });
    const f = (s: string): ((x: FilterSubject) => boolean) => compileFilter(s, { fields: META });
    expect(f('drop')(dropped)).toBe(true);
    expect(f('drop')(ok)).toBe(false);
    expect(f('node == "worker-2"')(dropped)).toBe(true);
    expect(f('node == worker-1 && !drop')(ok)).toBe(true);
    expect(f('drop.reason contains "ttl"')(dropped)).toBe(true);
    expect(f('trace.id in {1..7}')(dropped)).toBe(true);
    expect(() => compileFilter('node == "x"')).toThrow(FilterError);
  });

  it('names the column of a fault, as tshark draws it', () => {
    const cases: [string, string, number, string][] = [
      ['ip.src == 10.0.0.300', 'FILTER_BAD_VALUE', 11, '"10.0.0.300" is not a valid hostname or IPv4 address.'],
      ['tcp.port == abc && ip', 'FILTER_BAD_VALUE', 13, '"abc" is not a valid number.'],
      ['ip.scr == 1', 'FILTER_UNKNOWN_FIELD', 1, 'Left side of "==" expression must be a field or function, not ip.scr.'],
      ['ip &&', 'FILTER_SYNTAX', 6, 'Unexpected end of filter expression.'],
      ['ip.src matches "x"', 'FILTER_TYPE', 1, 'ip.src (type=IPv4 address) cannot participate in matches comparison.'],
      ['udp.port in {1 2}', 'FILTER_SYNTAX', 16, '"2" was unexpected in this context.'],
      ['ip.src == "a', 'FILTER_SYNTAX', 11, 'The final quote was missing from a quoted string.'],
      ['ip # 1', 'FILTER_SYNTAX', 4, '"#" was unexpected in this context.'],
    ];
    for (const [text, code, column, message] of cases) {
      let err: unknown;
      try { compileFilter(text); } catch (e) { err = e; }
      expect(err, text).toBeInstanceOf(FilterError);
      const fe = err as FilterError;
      expect([fe.code, fe.column, fe.message], text).toEqual([code, column, message]);
      expect(fe.toJSON()).toMatchObject({ code, column });
    }
    const e = (() => { try { compileFilter('ip.src == 10.0.0.300'); } catch (x) { return x as FilterError; } return null; })()!;
    expect(e.caret()).toBe('    ip.src == 10.0.0.300\n              ^~~~~~~~~~');
  });

  it('throws nothing but FilterError on arbitrary text, and compiled filters never throw', () => {
    const words = ['ip.src', 'tcp.port', 'eth.src', 'vxlan.vni', 'ipv6.addr', '==', '!=', '&&', '||', '!', '(', ')', '{', '}', ',', '..', '[', ']', ':',
      '10.0.0.1', '0x10', '"s"', 'in', 'contains', 'matches', 'and', 'not', '02:00:00:00:00:01', 'fe80::1/64', '1-2', '0:3', '-1'];
    const text = fc.oneof(fc.string({ maxLength: 40 }), fc.array(fc.constantFrom(...words), { maxLength: 12 }).map((w) => w.join(' ')));
    fc.assert(fc.property(text, (t) => {
      let f: ((s: FilterSubject) => boolean) | null = null;
      try { f = compileFilter(t); } catch (e) { if (!(e instanceof FilterError)) throw e; return; }
      expect(typeof f(vxlanPkt)).toBe('boolean');
    }), { numRuns: 2000 });
  });
});

describe('the field registry', () => {
  it('holds every field name the dissectors emit', () => {
    const missing: string[] = [];
    for (const f of readdirSync('src/wire/dissect')) {
      for (const m of readFileSync(`src/wire/dissect/${f}`, 'utf8').matchAll(/addField\([a-z]+, '([a-z0-9_.]+)',/g)) {
        if (!FIELDS.has(m[1]!)) missing.push(`${f}: ${m[1]}`);
      }
    }
    expect(missing).toEqual([]);
    expect(FIELDS.size).toBeGreaterThan(300);
  });
});

describeWith('tshark', 'the field registry against tshark -G fields', () => {
  it('names Wireshark fields with Wireshark types', () => {
    const g = new Map<string, string>();
    for (const line of execFileSync('tshark', ['-G', 'fields'], { encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')) {
      const c = line.split('\t');
      if (c[0] === 'F') g.set(c[2]!, c[3]!);
      else if (c[0] === 'P') g.set(c[2]!, 'FT_PROTOCOL');
    }
    const TYPE: Record<string, string> = {
      FT_PROTOCOL: 'protocol', FT_NONE: 'none', FT_BOOLEAN: 'bool', FT_UINT8: 'uint', FT_UINT16: 'uint', FT_UINT24: 'uint', FT_UINT32: 'uint',
      FT_UINT64: 'uint', FT_INT32: 'int', FT_RELATIVE_TIME: 'time', FT_IPv4: 'ipv4', FT_IPv6: 'ipv6', FT_ETHER: 'ether', FT_BYTES: 'bytes', FT_STRING: 'string',
    };
    const wrong: string[] = [];
    // frame.linktype is sdnemu's own (an unsupported link type); Wireshark has no such field
    for (const [name, t] of FIELDS) if (name !== 'frame.linktype' && TYPE[g.get(name) ?? ''] !== t) wrong.push(`${name}: ours ${t}, tshark ${g.get(name) ?? 'none'}`);
    expect(wrong).toEqual([]);
  });
});
