// ovs-ofctl text against hostile input (issue 11): the flows and groups of the differential corpus
// (test/ofproto/corpus) with characters inserted, deleted or replaced, tokens swapped between lines,
// lines cut, and arbitrary text; fed to the add-flows, add-groups, actions and del-flows parsers.
// Each parses or throws a FlowSyntaxError naming a line and column inside the text — never another
// exception, nor the parser's "internal error" wrapper (which hides a crash). A bridge's add-flows of
// a file with a bad line leaves its flow table as it was (ovs-ofctl refuses the whole file).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { OvsBridge } from '../../src/devices/ovs-bridge.js';
import { FlowSyntaxError } from '../../src/flow/errors.js';
import { parseActions, parseFlowsFile, parseGroupsFile } from '../../src/ofproto/ofctl.js';
import { Sim } from '../../src/sim/engine.js';
import { loadCorpus } from '../ofproto/corpus/cases.js';

/** Runs per property (SDNEMU_FUZZ_RUNS explores more locally). */
const RUNS = Number(process.env.SDNEMU_FUZZ_RUNS ?? 2000);
const CASES = loadCorpus();
const FLOW_LINES = CASES.flatMap((c) => c.flows.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#')).map((l) => [l, c.protocols] as const));
const GROUP_LINES = CASES.flatMap((c) => (c.groups ?? '').split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#')).map((l) => [l, c.protocols] as const));
const SYNTAX = [',', '=', '(', ')', '[', ']', ':', '/', '.', '->', '..', '0x', '-', ' ', '\t', '"', "'", '{', '}', '\\', '#', '\0', 'é', '99999999999999999999', '-1', '0xffffffffffffffffffff'];

/** A line with its text as 1-based lines, to check the place an error names. */
function placeOk(e: FlowSyntaxError, text: string): void {
  const lines = text.split('\n');
  expect(e.line, e.message).toBeGreaterThanOrEqual(1);
  expect(e.line, e.message).toBeLessThanOrEqual(lines.length);
  expect(e.column, e.message).toBeGreaterThanOrEqual(1);
  expect(e.column, e.message).toBeLessThanOrEqual(lines[e.line - 1]!.length + 2);
  expect(e.code).toMatch(/^OFCTL_(UNKNOWN_FIELD|BAD_VALUE|BAD_MASK|MISSING_PREREQ|SYNTAX)$/);
  expect(e.message, 'a crash inside the parser, wrapped').not.toMatch(/internal error/);
  expect(e.message).toMatch(/^line \d+, column \d+: /);
}

/** Run 'parse' on 'text': a result or a FlowSyntaxError placed inside 'text'. */
function check(text: string, parse: (t: string) => unknown): boolean {
  try {
    parse(text);
    return true;
  } catch (e) {
    if (!(e instanceof FlowSyntaxError)) throw e;
    placeOk(e, text);
    return false;
  }
}

/** 'line' with up to five edits: a syntax character or a random string inserted, a span deleted, a character replaced. */
const edits = fc.array(fc.tuple(fc.nat(), fc.constantFrom('insert', 'delete', 'replace'), fc.oneof(fc.constantFrom(...SYNTAX), fc.string({ maxLength: 4 })), fc.nat(6)),
  { minLength: 1, maxLength: 5 });
function editLine(line: string, es: [number, 'insert' | 'delete' | 'replace', string, number][]): string {
  let s = line;
  for (const [at, op, txt, n] of es) {
    const i = at % (s.length + 1);
    if (op === 'insert') s = s.slice(0, i) + txt + s.slice(i);
    else if (op === 'delete') s = s.slice(0, i) + s.slice(i + n + 1);
    else s = s.slice(0, i) + txt + s.slice(i + 1);
  }
  return s;
}

/** The comma-separated tokens of a line (outside parentheses or not: a blunt split is fine for mutation). */
const tokens = (l: string): string[] => l.split(',');

describe('ovs-ofctl flows under hostile input', () => {
  it('corpus flow lines with characters inserted, deleted or replaced: a flow or a FlowSyntaxError at its line and column', () => {
    const seen = { parsed: 0, refused: 0 };
    fc.assert(fc.property(fc.nat(FLOW_LINES.length - 1), edits, fc.nat(3), (k, es, before) => {
      const [line, protocols] = FLOW_LINES[k]!;
      const text = `${'\n'.repeat(before)}${editLine(line, es)}`;
      seen[check(text, (t) => parseFlowsFile(t, { protocols })) ? 'parsed' : 'refused']++;
    }), { numRuns: RUNS * 3 });
    // the mutations reach both sides: some edits still parse, most are refused
    expect(seen.parsed).toBeGreaterThan(RUNS / 20);
    expect(seen.refused).toBeGreaterThan(RUNS);
  });

  it('tokens of one corpus flow spliced into another: a flow or a FlowSyntaxError', () => {
    fc.assert(fc.property(fc.nat(FLOW_LINES.length - 1), fc.nat(FLOW_LINES.length - 1), fc.nat(), fc.nat(), fc.boolean(), (a, b, i, j, replace) => {
      const [la, protocols] = FLOW_LINES[a]!;
      const ta = tokens(la), tb = tokens(FLOW_LINES[b]![0]);
      const at = i % ta.length;
      ta.splice(at, replace ? 1 : 0, tb[j % tb.length]!);
      check(ta.join(','), (t) => parseFlowsFile(t, { protocols }));
    }), { numRuns: RUNS * 2 });
  });

  it('corpus action lists mutated, alone: actions or a FlowSyntaxError', () => {
    const actions = FLOW_LINES.map(([l, p]) => [l.slice(l.indexOf('actions=') + 8), p] as const);
    fc.assert(fc.property(fc.nat(actions.length - 1), edits, (k, es) => {
      const [a, protocols] = actions[k]!;
      check(editLine(a, es), (t) => parseActions(t, { protocols }));
    }), { numRuns: RUNS * 2 });
  });

  it('corpus group lines mutated: a group or a FlowSyntaxError', () => {
    fc.assert(fc.property(fc.nat(GROUP_LINES.length - 1), edits, (k, es) => {
      const [line, protocols] = GROUP_LINES[k]!;
      check(editLine(line, es), (t) => parseGroupsFile(t, { protocols }));
    }), { numRuns: RUNS * 2 });
  });

  it('arbitrary text: only FlowSyntaxError from every parser', () => {
    const text = fc.oneof(fc.string({ maxLength: 80 }), fc.array(fc.constantFrom(...SYNTAX, 'actions', 'output', 'ip', 'reg0', 'learn', 'ct', 'nat', 'table', 'priority', 'bucket', 'group_id', 'type'), { maxLength: 25 }).map((a) => a.join('')));
    fc.assert(fc.property(text, (t) => {
      check(t, (x) => parseFlowsFile(x));
      check(t, (x) => parseGroupsFile(x));
      check(t, (x) => parseActions(x, { protocols: 'OpenFlow13' }));
    }), { numRuns: RUNS * 2 });
  });

  it('del-flows matches mutated: the number deleted or a FlowSyntaxError; a refused one deletes nothing', () => {
    const flows = CASES.find((c) => c.name === 'pipeline-4-tables')!.flows;
    const make = (): OvsBridge => new OvsBridge(new Sim(), 'br0', { defaultFlows: 'none', flows });
    let br = make();
    const matches = FLOW_LINES.map(([l]) => l.slice(0, Math.max(0, l.indexOf('actions=') - 1)));
    fc.assert(fc.property(fc.nat(matches.length - 1), edits, fc.boolean(), (k, es, strict) => {
      const before = br.dumpFlows();
      const text = editLine(matches[k]!, es);
      let deleted = -1;
      if (!check(text, (t) => { deleted = br.delFlows(t, { strict }); })) expect(br.dumpFlows()).toEqual(before);
      if (deleted > 0) br = make();
    }), { numRuns: RUNS });
  });

  it("add-flows of a file with one bad line installs none of it (the bridge's flow table unchanged)", () => {
    for (const c of CASES.filter((x) => x.flows.split('\n').length >= 3)) {
      const br = new OvsBridge(new Sim(), 'br0', { defaultFlows: 'none', protocols: c.protocols, flows: c.flows });
      const before = br.dumpFlows();
      const other = CASES.find((x) => x !== c && x.protocols === c.protocols)!.flows;
      fc.assert(fc.property(fc.nat(100), fc.constantFrom('actions=bogus', 'nw_src=1.2.3.4/99,actions=drop', 'table=300,actions=drop', 'ip,tcp_dst=99999,actions=drop', 'priority=1'), (at, bad) => {
        const lines = other.split('\n');
        lines.splice(at % (lines.length + 1), 0, bad);
        expect(() => br.addFlows(lines.join('\n'))).toThrow(FlowSyntaxError);
        expect(br.dumpFlows()).toEqual(before);
      }), { numRuns: 20 });
    }
  });

  // A safety net against catastrophic backtracking or quadratic parsing, not a speed test.
  it('pathological text (1 MB lines, deep nesting, floods of separators) parses or fails within seconds', () => {
    const long = 'a'.repeat(1 << 20);
    const inputs = [
      `ip,nw_src=${long},actions=drop`,
      `actions=${'clone('.repeat(5000)}drop${')'.repeat(5000)}`,
      `actions=${'('.repeat(100_000)}`,
      `${','.repeat(200_000)}actions=drop`,
      `actions=${'output:1,'.repeat(50_000)}drop`,
      `actions=note:${'00.'.repeat(200_000)}`,
      `ip,${'nw_ttl=1,'.repeat(50_000)}actions=drop`,
      `actions=learn(${'NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],'.repeat(10_000)}output:1)`,
      `actions=load:${'1'.repeat(100_000)}->reg0[]`,
      `actions=set_field:${'0'.repeat(100_000)}1->reg0`,
      `ip,nw_dst=${'[::'.repeat(100_000)},actions=drop`,
      `actions=${'['.repeat(100_000)}`,
      `${'# comment\n'.repeat(100_000)}actions=drop`,
      `${' '.repeat(1 << 20)}actions=drop`,
    ];
    const t0 = performance.now();
    for (const t of inputs) {
      check(t, (x) => parseFlowsFile(x));
      check(`group_id=1,type=all,bucket=${t}`, (x) => parseGroupsFile(x));
    }
    expect(performance.now() - t0).toBeLessThan(20_000);
  });
});
