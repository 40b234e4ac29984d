/**
 * The display-filter parser under hostile input (fast-check): random text,
 * token soup, real filters mutated, and shapes built to hurt (deep nesting,
 * long chains, huge sets, catastrophic patterns, long values). Each either
 * compiles to a filter that answers true or false on real and odd packets,
 * or throws FilterError with a column inside the text — never a TypeError
 * or RangeError — and all within a generous time (a safety net against
 * exponential or stack-deep work, not a speed test). Inputs that found bugs
 * are kept below as regression cases.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileFilter, dissectionSubject, FilterError, MAX_FILTER_DEPTH, MAX_FILTER_LENGTH, MAX_FILTER_NODES, type FilterSubject } from '../../src/trace/filter.js';
import { TRACE_FIELDS, TraceStore } from '../../src/trace/store.js';
import { dissect } from '../../src/wire/dissect/index.js';

/** Generous: a compile and a few runs take microseconds to milliseconds; seconds mean exponential or quadratic-in-the-packet work. */
const TIME_BOUND_MS = 2000;

/** Real filters (the tshark-checked list's kind), for mutation. */
const SEEDS = [
  'ip.addr == 10.200.0.1 && tcp.port == 80', 'ip.src == 10.200.0.0/16', 'tcp.port in {80, 443, 8000..8080}', 'eth.src[0:3] == 02:00:00',
  '!(arp || icmp) and not ipv6', 'frame.protocols matches "ip:(udp|icmp)"', 'tcp.flags.str contains "S"', 'ipv6.addr == fe80::/10',
  'vxlan.vni >= 16000000 || geneve.vni != 0', 'udp contains 00:00', 'ip.dst == ip.src', 'eth.src[-1:] == 02', 'node == "r" && drop',
  'drop.reason matches "^neigh"', 'hop.kind contains "nat"', 'trace.id in {1..7}', 'ip.ttl > 0x3f', 'ip.flags.df == True', '',
];

/** A packet to run compiled filters on: an ICMP echo over Ethernet (a real dissection), plus trace metadata. */
function icmpSubject(): FilterSubject {
  const frame = Uint8Array.from(Buffer.from(
    '020000000002020000000001080045000054000040004001000a0a0001020a0002020800f7ff0001000100000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000', 'hex').subarray(0, 98));
  const d = dissectionSubject(frame, dissect(frame, { number: 1, tsSec: 0, tsNsec: 0, origLen: frame.length, linktype: 1 }));
  const meta: Record<string, string[]> = { node: ['a', 'r', 'b'], port: ['eth0'], 'trace.id': ['7'], 'hop.kind': ['tx', 'rx', 'route', 'deliver'], delivered: [''] };
  return { values: (n) => meta[n] ?? d.values(n), protocolBytes: (n) => d.protocolBytes(n) };
}
/** An odd packet: every field present many times, long and strange values. */
const oddSubject: FilterSubject = {
  values: (n) => (n.endsWith('.addr') || n.endsWith('.src') ? ['10.0.0.1', 'fe80::1', 'not an address', ''] : ['a'.repeat(5000), '', '0x', '-1', '\u0000', '1e400', '999999999999999999999']),
  protocolBytes: () => [new Uint8Array(9000).fill(0x61), new Uint8Array(0)],
};
const SUBJECTS = [icmpSubject(), oddSubject];

/** Compile 'text' (with the trace's fields) and run it on the subjects: 'ok' or the FilterError; anything else throws. */
function tryFilter(text: string): 'ok' | FilterError {
  const t0 = performance.now();
  let out: 'ok' | FilterError = 'ok';
  try {
    const f = TraceStore.filter(text);
    for (const s of SUBJECTS) expect(typeof f(s)).toBe('boolean');
  } catch (e) {
    if (!(e instanceof FilterError)) throw e;
    out = e;
    // the fault is inside the text (or just past its end) and the caret draws
    expect(e.column).toBeGreaterThanOrEqual(1);
    expect(e.length).toBeGreaterThanOrEqual(1);
    expect(e.column + e.length - 1).toBeLessThanOrEqual(text.length + 1);
    expect(e.code).toMatch(/^FILTER_[A-Z_]+$/);
    expect(e.caret().split('\n')).toHaveLength(2);
  }
  expect(performance.now() - t0, JSON.stringify(text.slice(0, 200))).toBeLessThan(TIME_BOUND_MS);
  return out;
}

const fieldNames = [...TRACE_FIELDS.keys(), 'ip.src', 'ip.addr', 'tcp.port', 'udp.port', 'eth.src', 'eth.addr', 'vxlan.vni', 'ipv6.addr', 'frame.protocols',
  'tcp.flags.str', 'frame', 'ip', 'tcp', 'icmp', 'frame.len', 'ip.ttl', 'ip.flags.df', 'data'];
const TOKENS = [...fieldNames, '==', '!=', '~=', '===', '>', '<', '>=', '<=', 'eq', 'ne', 'gt', 'contains', 'matches', 'in', '&&', '||', 'and', 'or',
  '!', 'not', '(', ')', '{', '}', '[', ']', ',', '..', ':', '-', '0', '1', '-1', '0x1f', '010', '10.0.0.1', '10.0.0.0/8', 'fe80::1', '::', '02:00:00:00:00:01',
  'aa.bb', 'True', '"x"', '"a\\x41"', '"\\\\d+"', '"(a+)+$"', '"[a-"', '"\\\\1"', '""', '"\\"', '1..2', '1:2', '0:3', '5-9', 'ip.src[0:2]'];

/** Text shaped to hurt a parser or a matcher. */
const hostile: fc.Arbitrary<string> = fc.oneof(
  // nesting around the depth bound
  fc.tuple(fc.integer({ min: 0, max: 3 * MAX_FILTER_DEPTH }), fc.constantFrom('(', '!', 'not ', '!('), fc.constantFrom('ip', 'icmp', 'tcp.port == 80')).map(([n, open, core]) => {
    const closes = open.includes('(') ? ')'.repeat(n) : '';
    return `${open.repeat(n)}${core}${closes}`;
  }),
  // long chains and big sets, around the node bound and the length bound
  fc.tuple(fc.integer({ min: 1, max: 2 * MAX_FILTER_NODES }), fc.constantFrom('&&', '||', ' and ', ' or ')).map(([n, op]) => Array(n).fill('ip').join(op)),
  fc.integer({ min: 1, max: 2 * MAX_FILTER_NODES }).map((n) => `ip.ttl in {${Array.from({ length: n }, (_, i) => String(i % 256)).join(',')}}`),
  fc.integer({ min: 1, max: 2 * MAX_FILTER_NODES }).map((n) => `udp.port in {${Array(n).fill('1..65535').join(' , ')}}`),
  // patterns: catastrophic for a backtracker, over-counted, broken
  fc.tuple(fc.constantFrom('frame', 'node', 'frame.protocols', 'drop.reason', 'ip.src'), fc.constantFrom(
    '(a+)+$', '(a|a)*$b', '(a|aa)*c', '(.*a){20}x', '^(\\\\w+\\\\s?)*$', '((a*)*)*b', '(a{1,1000}){1000}', 'a{999}', '(?=a)', '(a)\\\\1', '[', '(', '*', 'a**',
    '(([\\\\s\\\\S])+)+\\\\u2603', `${'('.repeat(1500)}a${')'.repeat(1500)}`, '\\\\', 'x{2,1}', '(?<n>a)\\\\k<n>', '[z-a]', '(?:a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p){100}')).map(([f, p]) => `${f} matches "${p}"`),
  // long literals and strings
  fc.integer({ min: 0, max: MAX_FILTER_LENGTH + 10 }).map((n) => `node == "${'x'.repeat(n)}"`),
  fc.integer({ min: 0, max: MAX_FILTER_LENGTH }).map((n) => `eth.src == ${'ab:'.repeat(n)}ab`),
  fc.integer({ min: 0, max: MAX_FILTER_LENGTH }).map((n) => `ip.ttl == ${'9'.repeat(n)}`),
  fc.integer({ min: 0, max: MAX_FILTER_LENGTH }).map((n) => `ipv6.addr == ${'1:'.repeat(n)}:1`),
  fc.integer({ min: 0, max: MAX_FILTER_LENGTH }).map((n) => `eth.src[${'1'.repeat(n)}:${'2'.repeat(n)}] == 00`),
);

/** A real filter with a few random edits (insert, delete, replace, duplicate a span). */
const mutated: fc.Arbitrary<string> = fc.tuple(fc.constantFrom(...SEEDS), fc.array(fc.tuple(fc.nat(), fc.nat(), fc.constantFrom('ins', 'del', 'rep', 'dup'), fc.oneof(fc.string({ maxLength: 3 }), fc.constantFrom(...TOKENS))), { maxLength: 6 }))
  .map(([seed, edits]) => edits.reduce((s, [a, b, op, x]) => {
    const i = s.length === 0 ? 0 : a % (s.length + 1), j = Math.min(s.length, i + (b % 8));
    switch (op) {
      case 'ins': return s.slice(0, i) + x + s.slice(i);
      case 'del': return s.slice(0, i) + s.slice(j);
      case 'rep': return s.slice(0, i) + x + s.slice(j);
      default: return s.slice(0, j) + s.slice(i, j) + s.slice(j);
    }
  }, seed));

describe('display filters under hostile input', () => {
  it('random text (any code points): a filter or a FilterError inside the text', () => {
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 60 }), fc.string({ unit: 'binary', maxLength: 60 }), fc.string({ unit: fc.constantFrom(...'(){}[]!&|=~<>".,:-\\ 0aAx'), maxLength: 80 })), (t) => { tryFilter(t); }), { numRuns: 3000 });
  }, 30_000);

  it('token soup: the language\'s own words in random order', () => {
    fc.assert(fc.property(fc.array(fc.constantFrom(...TOKENS), { maxLength: 20 }), fc.constantFrom(' ', ''), (ws, sep) => { tryFilter(ws.join(sep)); }), { numRuns: 3000 });
  }, 30_000);

  it('real filters, mutated', () => {
    let compiled = 0;
    fc.assert(fc.property(mutated, (t) => { if (tryFilter(t) === 'ok') compiled++; }), { numRuns: 3000 });
    // the mutations keep a fair share valid, so running filters is exercised too
    expect(compiled).toBeGreaterThan(300);
  }, 30_000);

  it('shapes built to hurt: deep, long, wide, catastrophic — bounded, and refused past the limits with FILTER_TOO_*', () => {
    fc.assert(fc.property(hostile, (t) => {
      const r = tryFilter(t);
      if (t.length > MAX_FILTER_LENGTH) expect(r instanceof FilterError && r.code).toBe('FILTER_TOO_LONG');
    }), { numRuns: 400 });
  }, 30_000);
});

describe('regression cases (inputs that found bugs)', () => {
  // Each was a RangeError (stack overflow) or a multi-second stall before the limits.
  const nested = (n: number, open: string, close: string, core = 'ip'): string => `${open.repeat(n)}${core}${close.repeat(n)}`;
  const CASES: [string, string, string | null, number | null][] = [
    // [why, filter, code (null: compiles), column]
    ['2 000 nested parentheses (4 002 characters, inside the message bound) overflowed the parser\'s stack: a RangeError, INTERNAL over the wire', nested(2000, '(', ')'), 'FILTER_TOO_COMPLEX', MAX_FILTER_DEPTH + 1],
    ['4 000 negations: deep recursion, refused at the depth bound', nested(4000, '!', ''), 'FILTER_TOO_COMPLEX', MAX_FILTER_DEPTH + 1],
    ['a 20 000-term && chain ran as 20 000 nested closures: a RangeError on the first packet (the CLI has no message bound)', Array(20_000).fill('ip').join('&&'), 'FILTER_TOO_LONG', MAX_FILTER_LENGTH + 1],
    ['a 1 000-term && chain compiles to one flat list and runs', Array(1000).fill('ip').join('&&'), null, null],
    ['a filter with a newline: its caret was drawn on the wrong line', 'ip &&\n  tcp.port == x', 'FILTER_BAD_VALUE', 21],
    ['(a+)+$ on 29 a\'s and a \'!\': 17 s in RegExp', 'frame.protocols matches "(a+)+$"', null, null],
    ['(.*a){20}x: polynomial of degree 20 in RegExp', 'frame matches "(.*a){20}x"', null, null],
    ['a pattern compiling to a huge program', 'node matches "(a{1000}){1000}"', 'FILTER_BAD_VALUE', 14],
    ['a set of 2 000 members', `ip.ttl in {${Array(2000).fill('1').join(',')}}`, 'FILTER_TOO_COMPLEX', 12 + 2 * (MAX_FILTER_NODES - 1)],
    ['parentheses at exactly the depth bound still compile', nested(MAX_FILTER_DEPTH, '(', ')'), null, null],
  ];
  it.each(CASES)('%s', (_why, text, code, column) => {
    const r = tryFilter(text);
    if (code === null) { expect(r).toBe('ok'); return; }
    expect(r).toBeInstanceOf(FilterError);
    expect([(r as FilterError).code, (r as FilterError).column]).toEqual([code, column]);
  });

  it('a catastrophic pattern over a jumbo value answers in one pass', () => {
    const long: FilterSubject = { values: (n) => (n === 'node' ? [`${'a'.repeat(60_000)}!`] : []), protocolBytes: () => [] };
    const t0 = performance.now();
    expect(compileFilter('node matches "^(a|a)*$" || node matches "(a+)+$" || node matches "(.*a){12}x"', { fields: TRACE_FIELDS })(long)).toBe(false);
    expect(performance.now() - t0).toBeLessThan(TIME_BOUND_MS);
  });
});
