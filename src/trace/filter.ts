/**
 * Display filters (trace layer): the Wireshark display-filter language, the
 * part users type most, compiled once and run against each traced packet.
 *
 * What: `compileFilter(text)` parses a filter as Wireshark 4.0's dfilter
 * does and returns a predicate over a `FilterSubject` (a packet's field
 * values, formatted as `tshark -T fields` prints them — see
 * `dissectionSubject` — plus whatever trace metadata the caller adds):
 *  - a field or protocol alone tests presence: `tcp`, `vxlan.vni`, `drop`;
 *  - comparisons `==` `!=` `~=` `===` `>` `<` `>=` `<=` and their words
 *    (eq ne any_ne all_eq gt lt ge le any_eq all_ne), with Wireshark 4.0's
 *    meaning for fields that occur several times (the outer and inner IPv4
 *    of a VXLAN packet): `==` any occurrence equals, `!=` every occurrence
 *    differs (the field present), `~=` some occurrence differs, `===` every
 *    occurrence equals; orderings hold when any occurrence satisfies them;
 *  - `contains` (bytes or a substring, case-sensitive), `matches` (a regular
 *    expression, case-insensitive as Wireshark's PCRE2 default; regex.ts
 *    runs it in linear time, without back-references or lookaround), `in
 *    {a, b, c..d}`; slices `eth.src[0:3]`, `[i-j]`, `[i]`, `[i:]`;
 *  - `&&`/`and` binds tighter than `||`/`or`; `!`/`not`; parentheses;
 *  - values are read by the field's type (fields.ts): numbers in decimal,
 *    0x hex or 0 octal, booleans as 1/0/True/False, IPv4 and IPv6 addresses
 *    with an optional /prefix (`ip.addr == 10.0.0.0/8`), MACs with `:` `-`
 *    `.` or no separators, bytes as hex; a quoted string only for string
 *    fields; another field's name compares field with field.
 * Bad input: `FilterError` with the 1-based column and length of the fault
 * and tshark's wording (`"abc" is not a valid number.`, `Unexpected end of
 * filter expression.`); `caret()` draws it as tshark does. Nothing else is
 * thrown (property-tested, test/trace/filter-fuzz).
 * Hostile filters (a viewer's client may send any): compiling and running
 * are bounded, so a filter cannot blow the stack or take exponential time.
 * At most MAX_FILTER_LENGTH characters (FILTER_TOO_LONG); parentheses and
 * negations nested at most MAX_FILTER_DEPTH deep, and at most
 * MAX_FILTER_NODES tests, `in` members and `matches` states together
 * (FILTER_TOO_COMPLEX, at the token that went over). `&&`/`||` chains are
 * flat lists, so running a filter recurses only as deep as its nesting;
 * a run costs O(nodes × the packet's values), `matches` O(states × text).
 * Checked against tshark -Y on the same packets (test/trace/filter-tshark).
 * Cost: parsing allocates; a compiled filter is closures over parsed
 * values; the subject (a dissection) is the per-packet cost, and a filter
 * reading only metadata never dissects (the caller builds subjects lazily).
 * Neighbours: fields.ts (names and types), wire/dissect (values), the trace
 * store (subjects with metadata).
 */
import { SdnemuError } from '../errors.js';
import type { Dissection } from '../wire/dissect.js';
import { FIELDS, type FieldType } from './fields.js';
import { compileRegex, RegexError, type Regex } from './regex.js';

/** A display filter that does not parse or does not type-check; 'column' is 1-based. */
export class FilterError extends SdnemuError {
  readonly filter: string;
  readonly column: number;
  readonly length: number;
  constructor(code: string, message: string, filter: string, column: number, length: number) {
    super(code, message);
    this.name = 'FilterError';
    this.filter = filter;
    this.column = column;
    this.length = length;
  }
  override location(): Record<string, string | number> {
    return { column: this.column, length: this.length };
  }
  /** The filter with the fault marked, as tshark prints it under its message (control characters as spaces, so a newline in the filter keeps the caret under it). */
  caret(): string {
    // eslint-disable-next-line no-control-regex
    return `    ${this.filter.replace(/[\x00-\x1f\x7f\u2028\u2029]/g, ' ')}\n    ${' '.repeat(this.column - 1)}^${'~'.repeat(Math.max(0, this.length - 1))}`;
  }
}

/** A packet as a filter reads it. */
export interface FilterSubject {
  /** every occurrence of field 'name' in the packet, as tshark -T fields prints it ([] when absent; '' per occurrence of a protocol) */
  values(name: string): readonly string[];
  /** the bytes of every occurrence of protocol 'name' (its header and what it carries) */
  protocolBytes(name: string): readonly Uint8Array[];
}

export type Filter = (s: FilterSubject) => boolean;

/** The longest filter compiled (characters). */
export const MAX_FILTER_LENGTH = 4096;
/** The deepest nesting of parentheses and negations. */
export const MAX_FILTER_DEPTH = 64;
/** The most tests, set members and regular-expression instructions in one filter (each a cost per packet). */
export const MAX_FILTER_NODES = 1024;

export interface FilterOptions {
  /** fields beyond the dissector's (trace metadata: `node`, `drop` …) */
  fields?: ReadonlyMap<string, FieldType>;
}

// ---- lexer -----------------------------------------------------------------------------------

type TokKind = 'word' | 'string' | 'op' | 'end';
interface Tok { kind: TokKind; text: string; value: string; at: number; len: number }

const OPS = ['===', '==', '!=', '~=', '>=', '<=', '&&', '||', '>', '<', '!', '(', ')', '{', '}', '[', ']', ','];
const WORD = /[A-Za-z0-9_.:\/\-]/;

function lex(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') { i++; continue; }
    if (c === '"') {
      const start = i++;
      let v = '';
      for (;;) {
        if (i >= src.length) throw new FilterError('FILTER_SYNTAX', 'The final quote was missing from a quoted string.', src, start + 1, src.length - start);
        const d = src[i]!;
        if (d === '"') { i++; break; }
        if (d !== '\\') { v += d; i++; continue; }
        const e = src[i + 1];
        const esc: Record<string, string> = { '\\': '\\', '"': '"', n: '\n', t: '\t', r: '\r', a: '\x07', b: '\b', f: '\f', v: '\v', '0': '\0' };
        if (e === 'x' && /^[0-9a-fA-F]{2}$/.test(src.slice(i + 2, i + 4))) { v += String.fromCharCode(parseInt(src.slice(i + 2, i + 4), 16)); i += 4; continue; }
        if (e !== undefined && esc[e] !== undefined) { v += esc[e]; i += 2; continue; }
        throw new FilterError('FILTER_SYNTAX', `\\${e ?? ''} is not a valid character escape sequence`, src, i + 1, 2);
      }
      out.push({ kind: 'string', text: src.slice(start, i), value: v, at: start, len: i - start });
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (op !== undefined) { out.push({ kind: 'op', text: op, value: op, at: i, len: op.length }); i += op.length; continue; }
    if (WORD.test(c)) {
      const start = i;
      while (i < src.length && WORD.test(src[i]!)) i++;
      const w = src.slice(start, i);
      out.push({ kind: 'word', text: w, value: w, at: start, len: w.length });
      continue;
    }
    throw new FilterError('FILTER_SYNTAX', `"${c}" was unexpected in this context.`, src, i + 1, 1);
  }
  out.push({ kind: 'end', text: '', value: '', at: src.length, len: 0 });
  return out;
}

// ---- values ----------------------------------------------------------------------------------

/** A comparable value: a number (integers, booleans, times, IPv4), bytes, text, or an address prefix. */
type Val =
  | { k: 'num'; n: number }
  | { k: 'v4'; a: number; len: number }
  | { k: 'v6'; a: bigint; len: number }
  | { k: 'bytes'; b: Uint8Array }
  | { k: 'str'; s: string };

const TYPE_NAME: Record<FieldType, string> = {
  protocol: 'Protocol', none: 'Label', bool: 'Boolean', uint: 'Unsigned integer', int: 'Signed integer', time: 'Time offset',
  ipv4: 'IPv4 address', ipv6: 'IPv6 address', ether: 'Ethernet or other MAC address', bytes: 'Sequence of bytes', string: 'Character string',
};

function parseIpv4Text(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (m === null) return null;
  const p = m.slice(1).map(Number);
  if (p.some((x) => x > 255)) return null;
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

function parseIpv6Text(s: string): bigint | null {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || s.length < 2) return null;
  let head = s, tail = '';
  const dbl = s.indexOf('::');
  if (dbl >= 0) { head = s.slice(0, dbl); tail = s.slice(dbl + 2); if (tail.includes('::')) return null; }
  const words = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    const groups = part.split(':');
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i]!;
      if (i === groups.length - 1 && g.includes('.')) {
        const v4 = parseIpv4Text(g);
        if (v4 === null) return null;
        out.push(v4 >>> 16, v4 & 0xffff);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
        out.push(parseInt(g, 16));
      }
    }
    return out;
  };
  const h = words(head), t = words(tail);
  if (h === null || t === null) return null;
  if (dbl < 0 ? h.length !== 8 : h.length + t.length > 7) return null;
  const all = [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t];
  return all.reduce((acc, w) => (acc << 16n) | BigInt(w), 0n);
}

/** Hex bytes: `aa:bb:cc`, `aa-bb`, `aabb.ccdd`, `aabbcc`; null when not bytes. */
function parseBytesText(s: string): Uint8Array | null {
  if (/^[0-9a-fA-F]{1,2}([:\-.][0-9a-fA-F]{1,2})*$/.test(s) && /[:\-.]/.test(s)) return Uint8Array.from(s.split(/[:\-.]/), (x) => parseInt(x, 16));
  if (/^([0-9a-fA-F]{4}\.)+[0-9a-fA-F]{4}$/.test(s)) return parseBytesText(s.replace(/\./g, ''));
  if (/^([0-9a-fA-F]{2})+$/.test(s)) return Uint8Array.from(s.match(/../g)!, (x) => parseInt(x, 16));
  if (/^[0-9a-fA-F]$/.test(s)) return Uint8Array.of(parseInt(s, 16));
  return null;
}

function parseNumberText(s: string): number | null {
  if (/^-?0[xX][0-9a-fA-F]+$/.test(s)) return s.startsWith('-') ? -parseInt(s.slice(3), 16) : parseInt(s.slice(2), 16);
  if (/^-?0[0-7]+$/.test(s)) return parseInt(s, 8);
  if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
  return null;
}

const utf8 = new TextEncoder();
const latin1 = new TextDecoder('latin1');
const NO_BYTES = new Uint8Array(0);

/** A field value as tshark prints it, read as its type (null when it does not read: never equal to anything). */
function fieldVal(t: FieldType, s: string): Val | null {
  switch (t) {
    case 'uint': case 'int': case 'time': { const n = parseNumberText(s); return n === null ? null : { k: 'num', n }; }
    case 'bool': return { k: 'num', n: s === '1' || s === 'True' ? 1 : 0 };
    case 'ipv4': { const a = parseIpv4Text(s); return a === null ? null : { k: 'v4', a, len: 32 }; }
    case 'ipv6': { const a = parseIpv6Text(s); return a === null ? null : { k: 'v6', a, len: 128 }; }
    case 'ether': case 'bytes': { const b = s === '' ? new Uint8Array(0) : parseBytesText(s); return b === null ? null : { k: 'bytes', b }; }
    default: return { k: 'str', s };
  }
}

/** The bytes of a value, for slices and `contains` (an address's network bytes, a string's UTF-8). */
function valBytes(v: Val): Uint8Array | null {
  switch (v.k) {
    case 'bytes': return v.b;
    case 'str': return utf8.encode(v.s);
    case 'v4': return Uint8Array.of(v.a >>> 24, (v.a >>> 16) & 255, (v.a >>> 8) & 255, v.a & 255);
    case 'v6': return Uint8Array.from({ length: 16 }, (_, i) => Number((v.a >> BigInt(120 - i * 8)) & 255n));
    default: return null;
  }
}

/** Types whose values compare with each other (field against field). */
function family(t: FieldType): string {
  return t === 'uint' || t === 'int' || t === 'bool' || t === 'time' ? 'num' : t === 'ether' || t === 'protocol' ? 'bytes' : t;
}

/** Bytes compared as Wireshark orders byte fields: lexicographically, a prefix first. */
export function cmpBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** Equality as Wireshark's: an address literal with a prefix matches its whole subnet. */
function eq(x: Val, y: Val): boolean {
  if (x.k === 'num' && y.k === 'num') return x.n === y.n;
  if (x.k === 'v4' && y.k === 'v4') { const len = Math.min(x.len, y.len); return len === 0 || ((x.a ^ y.a) >>> (32 - len)) === 0; }
  if (x.k === 'v6' && y.k === 'v6') { const len = Math.min(x.len, y.len); return len === 0 || ((x.a ^ y.a) >> BigInt(128 - len)) === 0n; }
  if (x.k === 'str' && y.k === 'str') return x.s === y.s;
  const a = valBytes(x), b = valBytes(y);
  return a !== null && b !== null && cmpBytes(a, b) === 0;
}

function order(x: Val, y: Val): number {
  if (x.k === 'num' && y.k === 'num') return x.n - y.n;
  if (x.k === 'v4' && y.k === 'v4') return x.a - y.a;
  if (x.k === 'v6' && y.k === 'v6') return x.a < y.a ? -1 : x.a > y.a ? 1 : 0;
  if (x.k === 'str' && y.k === 'str') return x.s < y.s ? -1 : x.s > y.s ? 1 : 0;
  const a = valBytes(x), b = valBytes(y);
  return a === null || b === null ? NaN : cmpBytes(a, b);
}

/** Does 'hay' hold 'needle'? (Node's native search: no quadratic loop of ours over a jumbo frame.) */
function contains(hay: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(hay.buffer, hay.byteOffset, hay.length).indexOf(needle) >= 0;
}

// ---- parser ----------------------------------------------------------------------------------

/** What a test's left (or right) side reads: a field's occurrences as values, possibly sliced. */
interface Entity { name: string; type: FieldType; read: (s: FilterSubject) => Val[]; tok: Tok }
type Rel = 'any_eq' | 'all_ne' | 'any_ne' | 'all_eq' | 'gt' | 'lt' | 'ge' | 'le' | 'contains' | 'matches' | 'in';

const REL_WORDS: Record<string, Rel> = {
  '==': 'any_eq', eq: 'any_eq', any_eq: 'any_eq', '!=': 'all_ne', ne: 'all_ne', all_ne: 'all_ne', '~=': 'any_ne', any_ne: 'any_ne',
  '===': 'all_eq', all_eq: 'all_eq', '>': 'gt', gt: 'gt', '<': 'lt', lt: 'lt', '>=': 'ge', ge: 'ge', '<=': 'le', le: 'le',
  contains: 'contains', matches: 'matches', in: 'in',
};
const KEYWORDS = new Set(['and', 'or', 'not', ...Object.keys(REL_WORDS).filter((w) => /^[a-z_]+$/.test(w))]);

class Parser {
  private i = 0;
  /** nesting depth now, and the nodes (tests, set members, regex instructions) so far: both bounded */
  private depth = 0;
  private nodes = 0;
  constructor(private readonly src: string, private readonly toks: Tok[], private readonly fields: (n: string) => FieldType | undefined) {}

  private get t(): Tok { return this.toks[this.i]!; }
  private err(code: string, msg: string, t: Tok): FilterError { return new FilterError(code, msg, this.src, t.at + 1, Math.max(1, t.len)); }
  private unexpected(t: Tok): FilterError {
    return t.kind === 'end' ? this.err('FILTER_SYNTAX', 'Unexpected end of filter expression.', t) : this.err('FILTER_SYNTAX', `"${t.text}" was unexpected in this context.`, t);
  }
  /** Count 'n' nodes at token 't'; past MAX_FILTER_NODES the filter is refused there. */
  private count(n: number, t: Tok): void {
    this.nodes += n;
    if (this.nodes > MAX_FILTER_NODES) throw this.err('FILTER_TOO_COMPLEX', `The filter has more than ${MAX_FILTER_NODES} tests, set members and pattern states.`, t);
  }
  private isOp(text: string): boolean { return this.t.kind === 'op' && this.t.text === text; }
  private isWord(text: string): boolean { return this.t.kind === 'word' && this.t.text === text; }

  parse(): Filter {
    // an empty filter shows everything
    if (this.t.kind === 'end') return () => true;
    const f = this.or();
    const rest = this.toks[this.i]!;
    if (rest.kind !== 'end') throw this.unexpected(rest);
    return f;
  }

  /**
   * `a || b || …` over and(); `a && b && …` over unary(): left to right, &&
   * binding tighter. A chain is one flat list (not nested closures), so a
   * long one costs no stack when it runs.
   */
  private or(): Filter {
    const fs = this.joined('||', 'or', () => this.and());
    return fs.length === 1 ? fs[0]! : (s) => fs.some((f) => f(s));
  }
  private and(): Filter {
    const fs = this.joined('&&', 'and', () => this.unary());
    return fs.length === 1 ? fs[0]! : (s) => fs.every((f) => f(s));
  }

  private joined(op: string, word: string, next: () => Filter): Filter[] {
    const fs = [next()];
    while (this.isOp(op) || this.isWord(word)) {
      this.i++;
      fs.push(next());
    }
    return fs;
  }

  /** A negation or parentheses (one level deeper each, at most MAX_FILTER_DEPTH), or a test. */
  private unary(): Filter {
    const open = this.t;
    const not = this.isOp('!') || this.isWord('not');
    if (!not && !this.isOp('(')) return this.test();
    if (++this.depth > MAX_FILTER_DEPTH) throw this.err('FILTER_TOO_COMPLEX', `Parentheses and negations are nested more than ${MAX_FILTER_DEPTH} deep.`, open);
    this.i++;
    let f: Filter;
    if (not) {
      const g = this.unary();
      f = (s) => !g(s);
    } else {
      f = this.or();
      if (!this.isOp(')')) throw this.unexpected(this.t);
      this.i++;
    }
    this.depth--;
    return f;
  }

  private test(): Filter {
    const t = this.t;
    if (t.kind !== 'word' || KEYWORDS.has(t.text)) throw this.unexpected(t);
    this.count(1, t);
    const relTok = this.toks[this.i + 1]!;
    const rel = (relTok.kind === 'op' || relTok.kind === 'word') ? REL_WORDS[relTok.text] : undefined;
    if (this.fields(t.text) === undefined) {
      throw rel !== undefined
        ? this.err('FILTER_UNKNOWN_FIELD', `Left side of "${relTok.text}" expression must be a field or function, not ${t.text}.`, t)
        : this.err('FILTER_UNKNOWN_FIELD', `"${t.text}" is neither a field nor a protocol name.`, t);
    }
    const e = this.entity();
    const r = this.t.kind === 'op' || this.t.kind === 'word' ? REL_WORDS[this.t.text] : undefined;
    if (r === undefined) return (s) => e.read(s).length > 0;
    const opTok = this.t;
    this.i++;
    if (r === 'in') return this.inSet(e);
    if (r === 'matches') {
      if (e.type !== 'string' && e.type !== 'protocol') throw this.err('FILTER_TYPE', `${e.name} (type=${TYPE_NAME[e.type]}) cannot participate in matches comparison.`, e.tok);
      const vt = this.t;
      if (vt.kind !== 'string' && vt.kind !== 'word') throw this.unexpected(vt);
      this.i++;
      let re: Regex;
      try {
        re = compileRegex(vt.value, { ignoreCase: true });
      } catch (x) {
        if (x instanceof RegexError) throw this.err('FILTER_BAD_VALUE', `"${vt.value}" is not a valid regular expression: ${x.message}.`, vt);
        throw x;
      }
      // its states are what it costs per character of every value it reads
      this.count(re.size, vt);
      return (s) => e.read(s).some((v) => re.test(v.k === 'str' ? v.s : latin1.decode(valBytes(v) ?? NO_BYTES)));
    }
    if (r === 'contains') {
      if (e.type !== 'string' && e.type !== 'protocol' && e.type !== 'bytes' && e.type !== 'ether') {
        throw this.err('FILTER_TYPE', `${e.name} (type=${TYPE_NAME[e.type]}) cannot participate in contains comparison.`, e.tok);
      }
      const v = this.value(e.name, e.type === 'string' ? 'string' : 'bytes', opTok);
      return (s) => {
        const needles = v.read(s);
        return e.read(s).some((x) => { const hay = valBytes(x); return hay !== null && needles.some((n) => { const b = valBytes(n); return b !== null && contains(hay, b); }); });
      };
    }
    if ((e.type === 'protocol' || e.type === 'none') && r !== 'any_eq' && r !== 'all_ne' && r !== 'any_ne' && r !== 'all_eq') {
      throw this.err('FILTER_TYPE', `${e.name} (type=${TYPE_NAME[e.type]}) cannot participate in '${opTok.text}' comparison.`, e.tok);
    }
    const v = this.value(e.name, e.type, opTok);
    return relation(r, e, v);
  }

  /** A field and an optional slice `[i:j]` `[i-j]` `[i]` `[i:]`. */
  private entity(): Entity {
    const tok = this.t;
    const type = this.fields(tok.text)!;
    const name = tok.text;
    this.i++;
    const base: Entity = {
      name, type, tok,
      read: (s) => {
        if (type === 'protocol') {
          // a protocol is a layer (its bytes), or a part of one the dissector names as a field (tcp.options.mss)
          const layers = s.protocolBytes(name);
          return layers.length > 0 ? layers.map((b) => ({ k: 'bytes', b })) : s.values(name).map(() => ({ k: 'bytes', b: NO_BYTES }));
        }
        const out: Val[] = [];
        for (const x of s.values(name)) { const v = fieldVal(type, x); if (v !== null) out.push(v); }
        return out;
      },
    };
    if (!this.isOp('[')) return base;
    const open = this.t;
    this.i++;
    const spec = this.t;
    if (spec.kind !== 'word') throw this.unexpected(spec);
    this.i++;
    if (!this.isOp(']')) throw this.unexpected(this.t);
    this.i++;
    const m = /^(-?\d+)(?:(:)(\d*)|-(\d+))?$/.exec(spec.text);
    if (m === null) throw this.err('FILTER_SYNTAX', `"${spec.text}" is not a valid range.`, spec);
    if (type === 'uint' || type === 'int' || type === 'bool' || type === 'time' || type === 'none') {
      throw this.err('FILTER_TYPE', `"${name}" is a ${TYPE_NAME[type]} and cannot be sliced into a sequence of bytes.`, open);
    }
    const start = Number(m[1]);
    const end = (len: number): number => {
      const s0 = start < 0 ? len + start : start;
      if (m[2] !== undefined) return m[3] === '' ? len : s0 + Number(m[3]);
      if (m[4] !== undefined) return Number(m[4]) + 1;
      return s0 + 1;
    };
    return {
      name, type: 'bytes', tok,
      read: (s) => {
        const out: Val[] = [];
        for (const v of base.read(s)) {
          const b = valBytes(v);
          if (b === null) continue;
          const s0 = start < 0 ? b.length + start : start, e0 = end(b.length);
          // Wireshark: a slice reaching past the field's end does not exist
          if (s0 < 0 || e0 > b.length || e0 < s0) continue;
          out.push({ k: 'bytes', b: b.subarray(s0, e0) });
        }
        return out;
      },
    };
  }

  /** The right side of a comparison with field 'left' of type 't': a literal, a quoted string, or another field. */
  private value(left: string, t: FieldType, opTok: Tok): { read: (s: FilterSubject) => Val[] } {
    const v = this.t;
    if (v.kind === 'end') throw this.unexpected(v);
    if (v.kind === 'op') throw this.unexpected(v);
    this.i++;
    const ft = v.kind === 'word' ? this.fields(v.text) : undefined;
    if (ft !== undefined && !(t === 'bytes' && parseBytesText(v.text) !== null)) {
      if (family(ft) !== family(t)) throw this.err('FILTER_TYPE', `${left} and ${v.text} are not of compatible types.`, v);
      this.i--;
      const other = this.entity();
      return { read: other.read };
    }
    const lit = this.literal(t, v, opTok);
    const one = [lit];
    return { read: () => one };
  }

  private literal(t: FieldType, v: Tok, opTok: Tok): Val {
    if (v.kind === 'string') {
      if (t === 'string') return { k: 'str', s: v.value };
      if (t === 'bytes') return { k: 'bytes', b: utf8.encode(v.value) };
      throw this.err('FILTER_BAD_VALUE', `${TYPE_NAME[t]} cannot be converted from a string ("${v.value}").`, v);
    }
    const s = v.text;
    switch (t) {
      case 'uint': case 'int': case 'time': {
        const n = parseNumberText(s);
        if (n === null) throw this.err('FILTER_BAD_VALUE', `"${s}" is not a valid number.`, v);
        if (t === 'uint' && n < 0) throw this.err('FILTER_BAD_VALUE', `"${s}" cannot be converted to ${TYPE_NAME[t]}.`, v);
        return { k: 'num', n };
      }
      case 'bool': {
        // True/False, or a number: any non-zero is true
        const n = /^(true|TRUE|True)$/.test(s) ? 1 : /^(false|FALSE|False)$/.test(s) ? 0 : parseNumberText(s);
        if (n === null) throw this.err('FILTER_BAD_VALUE', `"${s}" is not a valid boolean.`, v);
        return { k: 'num', n: n !== 0 ? 1 : 0 };
      }
      case 'ipv4': case 'ipv6': {
        // an address with an optional prefix length
        const [a, l] = s.split('/');
        const bits = t === 'ipv4' ? 32 : 128;
        const addr = t === 'ipv4' ? parseIpv4Text(a ?? '') : parseIpv6Text(a ?? '');
        if (addr === null) throw this.err('FILTER_BAD_VALUE', `"${a}" is not a valid hostname or ${TYPE_NAME[t]}.`, v);
        const len = l === undefined ? bits : /^\d+$/.test(l) ? Number(l) : -1;
        if (len < 0 || len > bits) throw this.err('FILTER_BAD_VALUE', `"${l}" is not a valid prefix length`, v);
        return typeof addr === 'number' ? { k: 'v4', a: addr, len } : { k: 'v6', a: addr, len };
      }
      case 'ether': {
        const b = parseBytesText(s);
        if (b === null) throw this.err('FILTER_BAD_VALUE', `"${s}" is not a valid Ethernet address.`, v);
        if (b.length < 6) throw this.err('FILTER_BAD_VALUE', `"${s}" contains too few bytes to be a valid Ethernet address.`, v);
        if (b.length > 6) throw this.err('FILTER_BAD_VALUE', `"${s}" contains too many bytes to be a valid Ethernet address.`, v);
        return { k: 'bytes', b };
      }
      case 'bytes': {
        const b = parseBytesText(s);
        if (b === null) throw this.err('FILTER_BAD_VALUE', `"${s}" is not a valid byte string.`, v);
        return { k: 'bytes', b };
      }
      case 'string': return { k: 'str', s };
      default: throw this.err('FILTER_TYPE', `${TYPE_NAME[t]} cannot be compared with "${opTok.text}".`, v);
    }
  }

  /** `in { a, b, c..d }`: any occurrence equals a member or lies in a range. */
  private inSet(e: Entity): Filter {
    if (!this.isOp('{')) throw this.unexpected(this.t);
    this.i++;
    const members: ((x: Val) => boolean)[] = [];
    for (;;) {
      const v = this.t;
      if (v.kind !== 'word' && v.kind !== 'string') throw this.unexpected(v);
      this.count(1, v);
      const dots = v.kind === 'word' ? v.text.indexOf('..') : -1;
      if (dots > 0) {
        const lo = this.literal(e.type, { ...v, text: v.text.slice(0, dots), len: dots }, v);
        const hi = this.literal(e.type, { ...v, text: v.text.slice(dots + 2), at: v.at + dots + 2, len: v.len - dots - 2 }, v);
        members.push((x) => order(x, lo) >= 0 && order(x, hi) <= 0);
      } else {
        const lit = this.literal(e.type, v, v);
        members.push((x) => eq(x, lit));
      }
      this.i++;
      if (this.isOp('}')) { this.i++; break; }
      if (!this.isOp(',')) throw this.unexpected(this.t);
      this.i++;
    }
    return (s) => e.read(s).some((x) => members.some((m) => m(x)));
  }
}

function relation(r: Rel, e: Entity, v: { read: (s: FilterSubject) => Val[] }): Filter {
  switch (r) {
    case 'any_eq': return (s) => { const ys = v.read(s); return e.read(s).some((x) => ys.some((y) => eq(x, y))); };
    case 'all_ne': return (s) => { const ys = v.read(s), xs = e.read(s); return xs.length > 0 && xs.every((x) => ys.every((y) => !eq(x, y))); };
    case 'any_ne': return (s) => { const ys = v.read(s); return e.read(s).some((x) => ys.some((y) => !eq(x, y))); };
    case 'all_eq': return (s) => { const ys = v.read(s), xs = e.read(s); return xs.length > 0 && xs.every((x) => ys.some((y) => eq(x, y))); };
    case 'gt': return (s) => { const ys = v.read(s); return e.read(s).some((x) => ys.some((y) => order(x, y) > 0)); };
    case 'lt': return (s) => { const ys = v.read(s); return e.read(s).some((x) => ys.some((y) => order(x, y) < 0)); };
    case 'ge': return (s) => { const ys = v.read(s); return e.read(s).some((x) => ys.some((y) => order(x, y) >= 0)); };
    case 'le': return (s) => { const ys = v.read(s); return e.read(s).some((x) => ys.some((y) => order(x, y) <= 0)); };
    default: throw new Error(`relation ${r} is parsed elsewhere`);
  }
}

/** Compile display filter 'text' (throws FilterError). */
export function compileFilter(text: string, opts: FilterOptions = {}): Filter {
  if (text.length > MAX_FILTER_LENGTH) {
    throw new FilterError('FILTER_TOO_LONG', `The filter is longer than ${MAX_FILTER_LENGTH} characters.`, text, MAX_FILTER_LENGTH + 1, text.length - MAX_FILTER_LENGTH);
  }
  const extra = opts.fields;
  const fields = (n: string): FieldType | undefined => extra?.get(n) ?? FIELDS.get(n);
  return new Parser(text, lex(text), fields).parse();
}

/**
 * A packet's dissection as a filter subject: field values by name (all
 * occurrences, outer first), protocols as their layers — a protocol's bytes
 * run from its header to the end of the frame (of what the frame holds).
 */
export function dissectionSubject(frame: Uint8Array, d: Dissection): FilterSubject {
  const values = new Map<string, string[]>();
  const protos = new Map<string, Uint8Array[]>();
  const add = (k: string, v: string): void => { const a = values.get(k); if (a === undefined) values.set(k, [v]); else a.push(v); };
  add('frame', '');
  protos.set('frame', [frame]);
  for (const l of d.layers) {
    if (l.proto !== 'frame') {
      add(l.proto, '');
      const b = frame.subarray(Math.min(l.offset, frame.length));
      const a = protos.get(l.proto);
      if (a === undefined) protos.set(l.proto, [b]); else a.push(b);
    }
    for (const [k, v] of l.fields) add(k, v);
  }
  return { values: (n) => values.get(n) ?? [], protocolBytes: (n) => protos.get(n) ?? [] };
}
