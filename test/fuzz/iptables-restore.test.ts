// iptables-restore text against hostile input (issue 11): the rule sets of test/netfilter/corpus.ts
// with lines dropped, doubled or cut, words dropped, swapped between rules or replaced by others,
// characters inserted, and arbitrary text, restored with and without --noflush onto rule sets
// already loaded. Each restores or throws an IptablesRestoreError naming a line of the text — never
// another exception — and a refused restore leaves the loaded rule set exactly as it was (the
// kernel's commit is atomic).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IptablesRestoreError, parseRestore } from '../../src/netfilter/restore.js';
import { formatSave } from '../../src/netfilter/save.js';
import type { Ruleset } from '../../src/netfilter/model.js';
import { BAD, CORPUS } from '../netfilter/corpus.js';
import { editLines, lineEdits } from '../yaml-mutations.js';

const RUNS = Number(process.env.SDNEMU_FUZZ_RUNS ?? 1500);
const GOOD = Object.values(CORPUS);
const LINES = GOOD.map((t) => t.replace(/\n$/, '').split('\n'));
const WORDS = [...new Set(GOOD.flatMap((t) => t.split(/\s+/)).filter((w) => w !== ''))];
const ODD = ['!', '"', '""', '\\', '-', '--', '-A', '-j', '-m', '-p', '0', '-1', '4294967296', '0x', '1.2.3.4/33', '1.2.3.4:99999', '::1',
  'a'.repeat(300), '[0:0]', '[', ':', '*filter', 'COMMIT', '\t', '#', ',', ',,', '0:0', '65536', '/', 'é', '\0'];

/** Every table, chain (policy, counters) and rule (its identity text and counters) of 'rs': what a failed restore must not change. */
function snapshot(rs: Ruleset): unknown {
  return [formatSave(rs, { counters: true }), [...rs.tables].map(([n, t]) => [n, [...t.chains].map(([c, ch]) => [c, ch.policy, { ...ch.counters }, ch.rules.length])])];
}

/** Restore 'text' onto 'into': done, or refused with an IptablesRestoreError on a line of the text and 'into' unchanged. */
function check(text: string, into: Ruleset, noflush: boolean): boolean {
  const before = snapshot(into);
  try {
    parseRestore(text, into, { noflush, counters: noflush });
    return true;
  } catch (e) {
    if (!(e instanceof IptablesRestoreError)) throw e;
    expect(e.line, e.message).toBeGreaterThanOrEqual(1);
    expect(e.line, e.message).toBeLessThanOrEqual(text.split('\n').length + 1);
    expect(e.message).toMatch(/^line \d+: /);
    expect(e.code).toMatch(/^IPTABLES_/);
    expect(snapshot(into)).toEqual(before);
    return false;
  }
}

type WordEdit = [number, number, 'drop' | 'swap' | 'odd' | 'bang' | 'chars', number, string];
const wordEdits = fc.array(fc.tuple(fc.nat(), fc.nat(), fc.constantFrom('drop' as const, 'swap' as const, 'odd' as const, 'bang' as const, 'chars' as const),
  fc.nat(), fc.string({ maxLength: 3 })), { minLength: 1, maxLength: 4 });

/** 'lines' with words of some lines dropped, replaced by a corpus word or an odd one, preceded by `!`, or with characters inserted. */
function editWords(lines: readonly string[], es: readonly WordEdit[]): string {
  const out = [...lines];
  for (const [li, wi, op, k, s] of es) {
    const at = li % out.length;
    const words = out[at]!.split(' ');
    const w = wi % words.length;
    if (op === 'drop') words.splice(w, 1);
    else if (op === 'swap') words[w] = WORDS[k % WORDS.length]!;
    else if (op === 'odd') words[w] = ODD[k % ODD.length]!;
    else if (op === 'bang') words.splice(w, 0, '!');
    else words[w] = words[w]!.slice(0, k % (words[w]!.length + 1)) + s + words[w]!.slice(k % (words[w]!.length + 1));
    out[at] = words.join(' ');
  }
  return out.join('\n') + '\n';
}

/** A rule set loaded from corpus entry 'k' (the state a restore must leave alone when it fails). */
const loaded = (k: number): Ruleset => parseRestore(GOOD[k % GOOD.length]!);

describe('iptables-restore under hostile input', () => {
  it('corpus rule sets with words dropped, swapped, replaced or inverted: restored, or refused on a line with nothing changed', () => {
    const seen = { restored: 0, refused: 0 };
    fc.assert(fc.property(fc.nat(GOOD.length - 1), wordEdits, fc.nat(), fc.boolean(), (k, es, base, noflush) => {
      seen[check(editWords(LINES[k]!, es), loaded(base), noflush) ? 'restored' : 'refused']++;
    }), { numRuns: RUNS * 2 });
    expect(seen.restored).toBeGreaterThan(RUNS / 20);
    expect(seen.refused).toBeGreaterThan(RUNS / 2);
  });

  it('corpus rule sets with lines dropped, doubled or cut: restored, or refused with nothing changed', () => {
    fc.assert(fc.property(fc.nat(GOOD.length - 1), lineEdits, fc.nat(), fc.boolean(), (k, es, base, noflush) => {
      check(editLines(LINES[k]!, es) + '\n', loaded(base), noflush);
    }), { numRuns: RUNS });
  });

  it('a valid rule set followed by a refused one, in one input: nothing of either is committed', () => {
    const bad = Object.values(BAD);
    // without --noflush each table block starts empty, so a BAD entry is refused whatever came before
    fc.assert(fc.property(fc.nat(GOOD.length - 1), fc.nat(bad.length - 1), fc.nat(), (k, b, base) => {
      expect(check(GOOD[k]! + bad[b]!, loaded(base), false)).toBe(false);
    }), { numRuns: RUNS / 2 });
  });

  it('arbitrary text and word salad: only IptablesRestoreError', () => {
    const salad = fc.array(fc.oneof(fc.constantFrom(...WORDS), fc.constantFrom(...ODD, '\n')), { maxLength: 40 }).map((a) => `*filter\n${a.join(' ')}\nCOMMIT\n`);
    fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 200 }), salad), fc.nat(), (t, base) => { check(t, loaded(base), true); }), { numRuns: RUNS * 2 });
  });

  // A safety net against catastrophic backtracking or quadratic parsing, not a speed test.
  it('pathological text (1 MB words, floods of separators, many chains and quotes) restores or fails within seconds', () => {
    const long = 'x'.repeat(1 << 20);
    const chains = Array.from({ length: 3000 }, (_, i) => `:C${i} - [0:0]`);
    const inputs = [
      `*filter\n-A INPUT -m comment --comment "${long}" -j ACCEPT\nCOMMIT\n`,
      `*filter\n-A INPUT -s ${'1.'.repeat(200_000)}1 -j ACCEPT\nCOMMIT\n`,
      `*filter\n-A INPUT ${' '.repeat(1 << 20)}-j ACCEPT\nCOMMIT\n`,
      `*filter\n-A INPUT -m comment --comment "${'\\"'.repeat(200_000)}\nCOMMIT\n`,
      `*filter\n-A INPUT -p tcp -m multiport --dports ${'1,'.repeat(100_000)}2 -j ACCEPT\nCOMMIT\n`,
      `*filter\n-A INPUT -m set --match-set s ${'src,'.repeat(100_000)}dst -j ACCEPT\nCOMMIT\n`,
      `*filter\n-A INPUT -m set --match-set s src --packets-eq ${'0'.repeat(100_000)}9 -j ACCEPT\nCOMMIT\n`,
      `*mangle\n-A PREROUTING -j MARK --set-xmark ${'0x'.repeat(100_000)}\nCOMMIT\n`,
      `*filter\n${chains.join('\n')}\n${chains.map((_, i) => `-A C${i} -j C${i + 1}`).slice(0, -1).join('\n')}\n-A INPUT -j C0\nCOMMIT\n`,
      `${'*filter\nCOMMIT\n'.repeat(20_000)}`,
      `*filter\n${'# comment\n'.repeat(100_000)}COMMIT\n`,
      `*filter\n${'-A INPUT -j ACCEPT\n'.repeat(20_000)}COMMIT\n`,
      `*filter\n-A INPUT ${'! '.repeat(100_000)}-s 1.2.3.4 -j ACCEPT\nCOMMIT\n`,
    ];
    const t0 = performance.now();
    for (const t of inputs) check(t, loaded(0), true);
    expect(performance.now() - t0).toBeLessThan(20_000);
  });
});
