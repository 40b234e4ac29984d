/**
 * Flow templates (ofproto layer, slow path): the same add-flows lines for
 * many objects that differ only in a few values — a CNI's flows per pod —
 * parsed once, then copied with each object's values written in.
 *
 * What: `compileFlowTemplate(gen, holes, opts)` takes 'gen', which writes
 * the add-flows text for given hole values (each hole a port number, an
 * Ethernet address or an IPv4 address, passed to 'gen' as the text a user
 * would write: `7`, `0a:58:…`, `10.0.0.5`), and returns a `FlowTemplate`
 * whose `instantiate(values)` gives the FlowSpecs `parseFlowsFile(gen(…))`
 * would give for those values, without formatting or parsing text: the
 * match words are copied and the holes' words rewritten; an action holding
 * a hole is copied with its value replaced; everything else (flags, the
 * unchanged actions and action lists) is shared with the template, as the
 * parse cache (ofctl.ts) shares whole specs between bridges — nothing
 * changes a FlowSpec once parsed.
 * How the holes are found: 'gen' is parsed with two sets of sample values
 * (A and B: every hole a different, unusual value); a match word or an
 * action field that differs between the two is explained as one hole's
 * value (a port in the low or high 16 bits of a word, an IPv4 address as a
 * word, an Ethernet address as the high 16 and low 32 bits of two words; in
 * an action, a top-level number or bigint field equal to the hole's value).
 * Then the template instantiates B's values and checks the result is
 * exactly parse(B) (match words, actions structurally, every other field).
 * Anything it cannot explain, or a failed check, throws TemplateError: the
 * caller goes on with text (the line shapes this handles are pipeline.ts's;
 * a value that changes a flow's shape — a port name, a mask — is not a
 * hole). The result is identical to the parse for any hole values only if
 * each hole's value is written into the flow verbatim (no arithmetic on it
 * in 'gen'): the caller's contract, which the B check samples.
 * Cost: compile parses 'gen' twice; instantiate is a copy of each spec with
 * changed match words (one new Match: its value words in a buffer shared
 * with other copies, its mask the template's own array — Match.cloneShared;
 * what instantiate gives is meant to be installed, and lives as long as the
 * flows) and changed actions.
 * Neighbours: ofctl.ts (parseFlowsFile), actions.ts (FlowSpec),
 * flow/match.ts (Match), k8s/cni/network.ts (pod flows).
 */
import { type Action, type FlowSpec } from './actions.js';
import { parseFlowsFile, type FlowParseOptions } from './ofctl.js';
import { Match } from '../flow/match.js';
import { FLOW_WORDS } from '../flow/key.js';
import { SdnemuError } from '../errors.js';

/** What a hole holds: an OpenFlow port number (16 bits), an Ethernet address (48 bits), an IPv4 address. */
export type HoleKind = 'port' | 'mac' | 'ipv4';

/** A hole's value: a port number, an Ethernet address as a number (< 2^48), an IPv4 address as a number (< 2^32). */
export type HoleValues<K extends string> = Record<K, number>;

/** The template could not be built: 'gen' uses a hole in a way instantiate cannot reproduce. */
export class TemplateError extends SdnemuError {
  constructor(detail: string) {
    super('OFCTL_TEMPLATE', `flow template: ${detail}`);
  }
}

/** One rewrite of a match word: bits of a hole's value placed into word 'w'. */
interface WordHole { w: number; hole: number; part: 'port16lo' | 'port16hi' | 'ipv4' | 'machi' | 'maclo' }
/** One rewrite of an action: field 'key' of action 'i' is the hole's value (as a number or a bigint). */
interface ActionHole { i: number; key: string; hole: number; big: boolean }
interface SpecPlan { words: WordHole[]; actions: ActionHole[] }

/** A hole's value as 'gen' gets it: `7`, `0a:58:0a:f4:00:01`, `10.0.0.5`. */
export const holeText = (kind: HoleKind, v: number): string => {
  if (kind === 'port') return String(v);
  if (kind === 'ipv4') return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  const hex = v.toString(16).padStart(12, '0');
  return hex.replace(/(..)(?!$)/g, '$1:');
};

/** Sample values: unusual, different per hole and per sample (0 or 1), so a word names its hole. */
function sample(kind: HoleKind, hole: number, which: 0 | 1): number {
  const k = hole * 2 + which;
  if (kind === 'port') return 0x3a5 + k * 0x111;                  // 933, 1206, …: below 0xff00
  if (kind === 'ipv4') return (0xc6337100 + k * 0x10203 + 7) >>> 0; // 198.51.113.7, …
  return 0x0a5e00c0ffee + k * 0x010101010101;                      // locally administered, unicast
}

function wordPart(part: WordHole['part'], v: number): number {
  switch (part) {
    case 'port16lo': return v & 0xffff;
    case 'port16hi': return (v & 0xffff) << 16 >>> 0;
    case 'ipv4': return v >>> 0;
    case 'machi': return Math.floor(v / 2 ** 32) & 0xffff;
    case 'maclo': return v % 2 ** 32 >>> 0;
  }
}

const PART_MASK: Record<WordHole['part'], number> = { port16lo: 0xffff, port16hi: 0xffff0000, ipv4: 0xffffffff, machi: 0xffff, maclo: 0xffffffff };

/** Structural equality of parsed action values (objects, arrays, typed arrays, bigints; registry objects by identity). */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b)) return false;
    const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength), y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    return x.length === y.length && x.every((v, i) => v === y[i]);
  }
  const ka = Object.keys(a), kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

function sameSpec(a: FlowSpec, b: FlowSpec): boolean {
  return a.table === b.table && a.priority === b.priority && a.cookie === b.cookie && a.idleTimeout === b.idleTimeout
    && a.hardTimeout === b.hardTimeout && a.importance === b.importance && a.conjId === b.conjId && a.line === b.line
    && same(a.flags, b.flags) && a.match.equals(b.match) && same(a.actions, b.actions);
}

/** Add-flows lines parsed once, instantiated per object (module comment). */
export class FlowTemplate<K extends string> {
  private constructor(
    private readonly holes: readonly K[],
    private readonly specs: readonly FlowSpec[],
    private readonly plans: readonly SpecPlan[],
  ) {}

  /**
   * Parse 'gen' with sample values and find its holes (module comment). Throws TemplateError
   * when a hole cannot be placed or the check fails; 'gen''s own FlowSyntaxError as it is.
   */
  static compile<K extends string>(gen: (text: Record<K, string>) => string, holes: Record<K, HoleKind>, opts: FlowParseOptions = {}): FlowTemplate<K> {
    const names = Object.keys(holes) as K[];
    const values = (which: 0 | 1): HoleValues<K> => Object.fromEntries(names.map((n, i) => [n, sample(holes[n], i, which)])) as HoleValues<K>;
    const texts = (v: HoleValues<K>): Record<K, string> => Object.fromEntries(names.map((n) => [n, holeText(holes[n], v[n])])) as Record<K, string>;
    const va = values(0), vb = values(1);
    const a = parseFlowsFile(gen(texts(va)), opts), b = parseFlowsFile(gen(texts(vb)), opts);
    if (a.length !== b.length) throw new TemplateError('the samples give different numbers of flows');
    const plans = a.map((sa, s) => planSpec(sa, b[s]!, names.map((n) => [holes[n], va[n], vb[n]] as const), s));
    const t = new FlowTemplate(names, a, plans);
    const check = t.instantiate(vb);
    check.forEach((c, s) => {
      if (!sameSpec(c, b[s]!)) throw new TemplateError(`flow ${s + 1} instantiated with the second sample is not its parse`);
    });
    return t;
  }

  /** The flows for 'values' (each hole's value as a number: module comment). */
  instantiate(values: HoleValues<K>): FlowSpec[] {
    const out: FlowSpec[] = new Array(this.specs.length);
    for (let s = 0; s < this.specs.length; s++) {
      const spec = this.specs[s]!, plan = this.plans[s]!;
      // a flow without holes is the template's own (shared, as the parse cache shares a line's)
      if (plan.words.length === 0 && plan.actions.length === 0) { out[s] = spec; continue; }
      let match = spec.match;
      if (plan.words.length > 0) {
        match = match.cloneShared();
        for (const h of plan.words) {
          const m = PART_MASK[h.part];
          match.value[h.w] = ((match.value[h.w]! & ~m) | wordPart(h.part, values[this.holes[h.hole]!])) >>> 0;
        }
      }
      let actions = spec.actions;
      if (plan.actions.length > 0) {
        actions = actions.slice();
        for (const h of plan.actions) {
          const v = values[this.holes[h.hole]!];
          actions[h.i] = { ...actions[h.i]!, [h.key]: h.big ? BigInt(v) : v } as Action;
        }
      }
      out[s] = { ...spec, match, actions };
    }
    return out;
  }
}

/** Where the holes are in one flow: what differs between its parses with samples A and B. */
function planSpec(a: FlowSpec, b: FlowSpec, holes: readonly (readonly [HoleKind, number, number])[], s: number): SpecPlan {
  const where = `flow ${s + 1}`;
  const words: WordHole[] = [];
  for (let w = 0; w < FLOW_WORDS; w++) {
    if (a.match.mask[w] !== b.match.mask[w]) throw new TemplateError(`${where}: a hole changes the match's mask (word ${w})`);
    const x = a.match.value[w]!, y = b.match.value[w]!;
    if (x === y) continue;
    const found = explainWord(x, y, a.match.mask[w]!, holes, w, a.match, b.match);
    if (found === null) throw new TemplateError(`${where}: match word ${w} is no hole's value`);
    words.push(found);
  }
  if (a.actions.length !== b.actions.length) throw new TemplateError(`${where}: a hole changes the number of actions`);
  const actions: ActionHole[] = [];
  a.actions.forEach((x, i) => {
    const y = b.actions[i]!;
    if (same(x, y)) return;
    const ox = x as unknown as Record<string, unknown>, oy = y as unknown as Record<string, unknown>;
    for (const key of Object.keys(ox)) {
      if (same(ox[key], oy[key])) continue;
      const big = typeof ox[key] === 'bigint';
      const h = holes.findIndex(([, va, vb]) => (big ? ox[key] === BigInt(va) && oy[key] === BigInt(vb) : ox[key] === va && oy[key] === vb));
      if (h < 0) throw new TemplateError(`${where}: action ${i + 1}'s ${key} is no hole's value`);
      actions.push({ i, key, hole: h, big });
    }
  });
  return { words, actions };
}

function explainWord(
  x: number, y: number, mask: number, holes: readonly (readonly [HoleKind, number, number])[], w: number, ma: Match, mb: Match,
): WordHole | null {
  const fits = (part: WordHole['part'], va: number, vb: number): boolean =>
    (mask & PART_MASK[part]) >>> 0 === PART_MASK[part]
    && ((x & ~PART_MASK[part]) >>> 0) === ((y & ~PART_MASK[part]) >>> 0)
    && ((x & PART_MASK[part]) >>> 0) === wordPart(part, va) && ((y & PART_MASK[part]) >>> 0) === wordPart(part, vb);
  for (let h = 0; h < holes.length; h++) {
    const [kind, va, vb] = holes[h]!;
    const parts: WordHole['part'][] = kind === 'port' ? ['port16lo', 'port16hi'] : kind === 'ipv4' ? ['ipv4'] : [];
    if (kind === 'mac') {
      // the two words of an Ethernet address: high 16 bits here and the low 32 in the next, or the reverse
      if (fits('machi', va, vb) && w + 1 < FLOW_WORDS && ma.value[w + 1] === wordPart('maclo', va) && mb.value[w + 1] === wordPart('maclo', vb)) {
        return { w, hole: h, part: 'machi' };
      }
      if (fits('maclo', va, vb) && w > 0 && ma.value[w - 1] === wordPart('machi', va) && mb.value[w - 1] === wordPart('machi', vb)) {
        return { w, hole: h, part: 'maclo' };
      }
    }
    for (const part of parts) if (fits(part, va, vb)) return { w, hole: h, part };
  }
  return null;
}
