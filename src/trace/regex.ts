/**
 * Regular expressions for the display filter's `matches` (trace layer), run
 * in time linear in the text: a hostile pattern cannot stall the server.
 *
 * What: `compileRegex(pattern, { ignoreCase })` → `{ test(text), size }`.
 * The syntax is JavaScript's (without the `u` flag), which is what users
 * type into Wireshark's PCRE2 `matches` too: literals, `.`, classes
 * `[a-z\d]` `[^…]`, escapes `\d \w \s \D \W \S \b \B \n \t \xHH \uHHHH`,
 * groups `( )` `(?: )` `(?<name> )`, alternation, `* + ? {n} {n,} {n,m}`
 * (greedy or lazy: the same to a yes/no test), anchors `^ $` (of the whole
 * text). Refused with RegexError (its offset): back-references and
 * lookaround (they need backtracking), a pattern whose program is over
 * MAX_REGEX_PROGRAM instructions (`(a{1000}){1000}`), groups nested over
 * MAX_REGEX_DEPTH deep.
 * Why not RegExp: V8 backtracks, so `(a+)+$` against thirty `a`s and a `!`
 * takes seconds (exponential); a filter runs on the server's one thread,
 * for every client. Here the pattern compiles to a Thompson NFA program and
 * runs as a Pike VM: every thread advances one character at a time, each
 * program counter at most once per character, so a test costs at most
 * (text length + 1) × program size steps, whatever the pattern.
 * Semantics are RegExp's on UTF-16 code units (property-tested against
 * RegExp on patterns of this syntax); `i` folds case as toLowerCase and
 * toUpperCase of one unit do.
 * Neighbours: filter.ts (its only user; it counts `size` against the
 * filter's MAX_FILTER_NODES).
 */
import { SdnemuError } from '../errors.js';

/** The largest compiled program (instructions) of one pattern. */
export const MAX_REGEX_PROGRAM = 1024;
/** The largest count in `{n,m}`. */
const MAX_COUNT = 1000;
/** The deepest nesting of groups (parsing and compiling recurse once per level). */
export const MAX_REGEX_DEPTH = 64;

/** A pattern that does not parse or is not supported; 'offset' is 0-based in the pattern. */
export class RegexError extends SdnemuError {
  readonly offset: number;
  constructor(message: string, offset: number) {
    super('REGEX_SYNTAX', message);
    this.name = 'RegexError';
    this.offset = offset;
  }
  override location(): Record<string, string | number> { return { offset: this.offset }; }
}

export interface Regex {
  /** Does the pattern match somewhere in 'text'? */
  test(text: string): boolean;
  /** instructions in the program (the cost per character, at worst) */
  readonly size: number;
}

// ---- syntax tree -------------------------------------------------------------------------------

/** A set of code units, as a test. */
type CharTest = (c: number) => boolean;
type Assertion = 'bol' | 'eol' | 'wordb' | 'nwordb';
type Node =
  | { k: 'char'; test: CharTest; neg?: boolean } // neg: the units 'test' (folded) does not take
  | { k: 'assert'; a: Assertion }
  | { k: 'cat'; items: Node[] }
  | { k: 'alt'; items: Node[] }
  | { k: 'rep'; node: Node; min: number; max: number }; // max -1: unbounded

const isDigit: CharTest = (c) => c >= 48 && c <= 57;
const isWord: CharTest = (c) => isDigit(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
/** JavaScript's \s: WhiteSpace and LineTerminator. */
const isSpace: CharTest = (c) => (c >= 9 && c <= 13) || c === 32 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a)
  || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
const isLineEnd: CharTest = (c) => c === 10 || c === 13 || c === 0x2028 || c === 0x2029;
const not = (f: CharTest): CharTest => (c) => !f(c);

class RegexParser {
  private i = 0;
  private depth = 0;
  constructor(private readonly src: string) {}

  parse(): Node {
    const n = this.alt();
    if (this.i < this.src.length) throw new RegexError(`Unmatched ')'`, this.i);
    return n;
  }

  private get c(): string | undefined { return this.src[this.i]; }

  private alt(): Node {
    const items = [this.cat()];
    while (this.c === '|') { this.i++; items.push(this.cat()); }
    return items.length === 1 ? items[0]! : { k: 'alt', items };
  }

  private cat(): Node {
    const items: Node[] = [];
    while (this.i < this.src.length && this.c !== '|' && this.c !== ')') {
      const atom = this.atom();
      const at = this.i;
      const q = this.quantifier();
      if (q === null) { items.push(atom); continue; }
      if (atom.k === 'assert') throw new RegexError('Nothing to repeat', at);
      items.push({ k: 'rep', node: atom, min: q.min, max: q.max });
    }
    return { k: 'cat', items };
  }

  /** `* + ? {n} {n,} {n,m}` and a lazy `?` after it; null when none. */
  private quantifier(): { min: number; max: number } | null {
    const at = this.i;
    let q: { min: number; max: number } | null = null;
    if (this.c === '*') { q = { min: 0, max: -1 }; this.i++; }
    else if (this.c === '+') { q = { min: 1, max: -1 }; this.i++; }
    else if (this.c === '?') { q = { min: 0, max: 1 }; this.i++; }
    else if (this.c === '{') {
      const m = /^\{(\d+)(?:(,)(\d*))?\}/.exec(this.src.slice(this.i, this.i + 24));
      if (m === null) return null; // a literal '{', as RegExp reads it without the u flag
      const min = Number(m[1]), max = m[2] === undefined ? min : m[3] === '' ? -1 : Number(m[3]);
      if (min > MAX_COUNT || max > MAX_COUNT) throw new RegexError(`a count over ${MAX_COUNT}`, at);
      if (max !== -1 && max < min) throw new RegexError('numbers out of order in {} quantifier', at);
      q = { min, max };
      this.i += m[0].length;
    }
    if (q === null) return null;
    if (this.c === '?') this.i++;
    const next = this.c;
    if (next === '*' || next === '+' || next === '?' || (next === '{' && /^\{\d+(,\d*)?\}/.test(this.src.slice(this.i, this.i + 24)))) throw new RegexError('Nothing to repeat', this.i);
    return q;
  }

  private atom(): Node {
    const at = this.i;
    const c = this.src[this.i++]!;
    switch (c) {
      case '.': return { k: 'char', test: not(isLineEnd) };
      case '^': return { k: 'assert', a: 'bol' };
      case '$': return { k: 'assert', a: 'eol' };
      case '*': case '+': case '?': throw new RegexError('Nothing to repeat', at);
      case '[': return this.cls();
      case '\\': return this.escape(false);
      case '(': {
        if (++this.depth > MAX_REGEX_DEPTH) throw new RegexError(`groups nested more than ${MAX_REGEX_DEPTH} deep`, at);
        if (this.c === '?') {
          const m = /^\?(:|<[A-Za-z_$][\w$]*>)/.exec(this.src.slice(this.i, this.i + 64));
          if (m === null) throw new RegexError('lookaround is not supported (only (?: ) and (?<name> ) groups)', at);
          this.i += m[0].length;
        }
        const n = this.alt();
        if (this.c !== ')') throw new RegexError('Unterminated group', at);
        this.i++;
        this.depth--;
        return n;
      }
      default: {
        if (c === '{' && /^\d+(,\d*)?\}/.test(this.src.slice(this.i, this.i + 24))) throw new RegexError('Nothing to repeat', at);
        const code = c.charCodeAt(0);
        return { k: 'char', test: (x) => x === code };
      }
    }
  }

  /** After '\\': a class escape (code null), an assertion (outside a class), or one code unit (its code). */
  private escape(inClass: boolean): Node & { code?: number } {
    const at = this.i - 1;
    const e = this.src[this.i++];
    if (e === undefined) throw new RegexError('\\ at end of pattern', at);
    const one = (code: number): Node & { code: number } => ({ k: 'char', test: (x) => x === code, code });
    switch (e) {
      case 'd': return { k: 'char', test: isDigit };
      case 'D': return { k: 'char', test: not(isDigit) };
      case 'w': return { k: 'char', test: isWord };
      case 'W': return { k: 'char', test: not(isWord) };
      case 's': return { k: 'char', test: isSpace };
      case 'S': return { k: 'char', test: not(isSpace) };
      case 'b': return inClass ? one(8) : { k: 'assert', a: 'wordb' };
      case 'B': if (!inClass) return { k: 'assert', a: 'nwordb' }; break;
      case 'n': return one(10);
      case 'r': return one(13);
      case 't': return one(9);
      case 'v': return one(11);
      case 'f': return one(12);
      case 'x': case 'u': {
        const len = e === 'x' ? 2 : 4;
        const hex = this.src.slice(this.i, this.i + len);
        if (hex.length === len && /^[0-9a-fA-F]+$/.test(hex)) { this.i += len; return one(parseInt(hex, 16)); }
        return one(e.charCodeAt(0)); // as RegExp without the u flag: \x alone is 'x'
      }
      case 'c': {
        const l = this.src[this.i];
        if (l !== undefined && /[A-Za-z]/.test(l)) { this.i++; return one(l.charCodeAt(0) % 32); }
        this.i--; // '\c' not followed by a letter is a backslash then 'c'
        return one(92);
      }
      case '0': if (!/[0-9]/.test(this.src[this.i] ?? '')) return one(0); break;
      case 'k': if (!inClass && /^<[A-Za-z_$]/.test(this.src.slice(this.i))) throw new RegexError('back-references are not supported', at); break;
      default: break;
    }
    if (/[0-9]/.test(e)) throw new RegexError(inClass ? 'octal escapes are not supported' : 'back-references are not supported', at);
    return one(e.charCodeAt(0));
  }

  /** After '[': a class, up to its ']' (`[]` matches nothing, `[^]` anything, as in RegExp). */
  private cls(): Node {
    const at = this.i - 1;
    const negate = this.c === '^';
    if (negate) this.i++;
    const parts: CharTest[] = [];
    const item = (): { test: CharTest; code: number | null } => {
      const c = this.src[this.i++]!;
      if (c !== '\\') { const code = c.charCodeAt(0); return { test: (x) => x === code, code }; }
      const n = this.escape(true);
      if (n.k !== 'char') throw new RegexError('bad escape in a class', this.i - 2);
      return { test: n.test, code: n.code ?? null };
    };
    for (;;) {
      if (this.i >= this.src.length) throw new RegexError('Unterminated character class', at);
      if (this.c === ']') { this.i++; break; }
      const lo = item();
      if (this.c === '-' && this.src[this.i + 1] !== undefined && this.src[this.i + 1] !== ']') {
        this.i++;
        const hi = item();
        if (lo.code === null || hi.code === null) {
          // RegExp without the u flag reads `[\d-z]` as \d, '-', 'z'
          parts.push(lo.test, (x) => x === 45, hi.test);
          continue;
        }
        if (lo.code > hi.code) throw new RegexError('Range out of order in character class', at);
        const a = lo.code, b = hi.code;
        parts.push((x) => x >= a && x <= b);
        continue;
      }
      parts.push(lo.test);
    }
    // negated after case folding: `[^a]` takes neither 'a' nor 'A' under i
    return { k: 'char', test: (x) => parts.some((p) => p(x)), neg: negate };
  }
}

// ---- program -----------------------------------------------------------------------------------

type Inst =
  | { op: 'char'; test: CharTest; neg: boolean }
  | { op: 'split'; x: number; y: number }
  | { op: 'jmp'; x: number }
  | { op: 'assert'; a: Assertion }
  | { op: 'match' };

class Compiler {
  readonly prog: Inst[] = [];

  private push(i: Inst): number {
    if (this.prog.length >= MAX_REGEX_PROGRAM) throw new RegexError(`the pattern is too complex (over ${MAX_REGEX_PROGRAM} states)`, 0);
    this.prog.push(i);
    return this.prog.length - 1;
  }

  emit(n: Node): void {
    switch (n.k) {
      case 'char': this.push({ op: 'char', test: n.test, neg: n.neg === true }); return;
      case 'assert': this.push({ op: 'assert', a: n.a }); return;
      case 'cat': for (const x of n.items) this.emit(x); return;
      case 'alt': {
        // split L1, next; L1: a; jmp end; next: split L2, … ; last
        const jumps: number[] = [];
        for (let k = 0; k < n.items.length; k++) {
          if (k === n.items.length - 1) { this.emit(n.items[k]!); break; }
          const split = this.push({ op: 'split', x: 0, y: 0 });
          (this.prog[split] as { x: number }).x = this.prog.length;
          this.emit(n.items[k]!);
          jumps.push(this.push({ op: 'jmp', x: 0 }));
          (this.prog[split] as { y: number }).y = this.prog.length;
        }
        for (const j of jumps) (this.prog[j] as { x: number }).x = this.prog.length;
        return;
      }
      case 'rep': {
        for (let k = 0; k < n.min; k++) this.emit(n.node);
        if (n.max === -1) {
          // L: split body, end; body; jmp L
          const split = this.push({ op: 'split', x: 0, y: 0 });
          (this.prog[split] as { x: number }).x = this.prog.length;
          this.emit(n.node);
          this.push({ op: 'jmp', x: split });
          (this.prog[split] as { y: number }).y = this.prog.length;
          return;
        }
        // up to max-min more, each optional: split body, end; body; …
        const splits: number[] = [];
        for (let k = n.min; k < n.max; k++) {
          const split = this.push({ op: 'split', x: 0, y: 0 });
          splits.push(split);
          (this.prog[split] as { x: number }).x = this.prog.length;
          this.emit(n.node);
        }
        for (const s of splits) (this.prog[s] as { y: number }).y = this.prog.length;
        return;
      }
    }
  }
}

/** Compile 'pattern' (throws RegexError). */
export function compileRegex(pattern: string, opts: { ignoreCase?: boolean } = {}): Regex {
  const tree = new RegexParser(pattern).parse();
  const c = new Compiler();
  c.emit(tree);
  c.prog.push({ op: 'match' });
  const prog = c.prog;
  const fold = opts.ignoreCase === true;
  // the thread lists, made once: a test allocates nothing (runs never nest: nothing in one calls back)
  const sets: [PcSet, PcSet] = [new PcSet(prog.length), new PcSet(prog.length)];
  return { size: prog.length, test: (text) => run(prog, text, fold, sets) };
}

/** A sparse set of program counters, cleared in O(1) (Briggs & Torczon). */
class PcSet {
  readonly dense: Int32Array;
  private readonly sparse: Int32Array;
  n = 0;
  constructor(size: number) { this.dense = new Int32Array(size); this.sparse = new Int32Array(size); }
  has(pc: number): boolean { const k = this.sparse[pc]!; return k < this.n && this.dense[k] === pc; }
  add(pc: number): void { this.sparse[pc] = this.n; this.dense[this.n++] = pc; }
}

function isWordAt(text: string, i: number): boolean { return i >= 0 && i < text.length && isWord(text.charCodeAt(i)); }

function holds(a: Assertion, text: string, i: number): boolean {
  switch (a) {
    case 'bol': return i === 0;
    case 'eol': return i === text.length;
    case 'wordb': return isWordAt(text, i - 1) !== isWordAt(text, i);
    case 'nwordb': return isWordAt(text, i - 1) === isWordAt(text, i);
  }
}

/** The Pike VM: all threads in lock step over 'text'; true at the first thread to reach `match`. */
function run(prog: Inst[], text: string, fold: boolean, sets: [PcSet, PcSet]): boolean {
  let [cur, next] = sets;
  cur.n = 0;
  next.n = 0;
  const stack: number[] = [];
  /** Follow the empty moves from 'pc' at position 'i' into 'set'; true when one reaches `match`. */
  const add = (set: PcSet, pc0: number, i: number): boolean => {
    stack.push(pc0);
    while (stack.length > 0) {
      const pc = stack.pop()!;
      if (set.has(pc)) continue;
      set.add(pc);
      const ins = prog[pc]!;
      switch (ins.op) {
        case 'match': stack.length = 0; return true;
        case 'jmp': stack.push(ins.x); break;
        case 'split': stack.push(ins.y, ins.x); break;
        case 'assert': if (holds(ins.a, text, i)) stack.push(pc + 1); break;
        case 'char': break;
      }
    }
    return false;
  };
  for (let i = 0; ; i++) {
    // a match may start at every position
    if (add(cur, 0, i)) return true;
    if (i === text.length) return false;
    const c = text.charCodeAt(i);
    let lo = c, up = c;
    if (fold) { const s = text[i]!; const l = s.toLowerCase(), u = s.toUpperCase(); if (l.length === 1) lo = l.charCodeAt(0); if (u.length === 1) up = u.charCodeAt(0); }
    next.n = 0;
    for (let k = 0; k < cur.n; k++) {
      const pc = cur.dense[k]!;
      const ins = prog[pc]!;
      if (ins.op !== 'char') continue;
      if ((ins.test(c) || (fold && (ins.test(lo) || ins.test(up)))) !== ins.neg) {
        if (add(next, pc + 1, i + 1)) return true;
      }
    }
    [cur, next] = [next, cur];
    next.n = 0;
  }
}
