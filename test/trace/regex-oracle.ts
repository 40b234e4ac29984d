/**
 * How long the oracle of test/trace/regex.test.ts — JavaScript's RegExp, a backtracker — and
 * regex.ts take on the test's generated patterns (regex-arbitraries.ts), seed by seed: the
 * slowest case of each, and every case over 20 ms. Not a test (vitest runs *.test.ts only): the
 * measurement behind the generators' nesting bound.
 * Usage: `node --import tsx test/trace/regex-oracle.ts [seeds=200] [runs=3000]` (the test's
 * 3,000 runs per seed).
 */
import fc from 'fast-check';
import { compileRegex, RegexError } from '../../src/trace/regex.js';
import { pattern, text } from './regex-arbitraries.js';

const seeds = Number(process.argv[2] ?? 200), runs = Number(process.argv[3] ?? 3000);
let worstRegExp = 0, worstOurs = 0, cases = 0;
for (let seed = 0; seed < seeds; seed++) {
  for (const [p, t, i] of fc.sample(fc.tuple(pattern, text, fc.boolean()), { seed, numRuns: runs })) {
    let re: RegExp;
    try { re = new RegExp(p, i ? 'i' : ''); } catch { continue; }
    cases++;
    let t0 = performance.now();
    try { compileRegex(p, { ignoreCase: i }).test(t); } catch (e) { if (!(e instanceof RegexError)) throw e; }
    const ours = performance.now() - t0;
    t0 = performance.now();
    re.test(t);
    const oracle = performance.now() - t0;
    if (oracle > 20 || ours > 20) console.log(`seed ${seed}: /${p}/${i ? 'i' : ''} on ${JSON.stringify(t)}: RegExp ${oracle.toFixed(0)} ms, regex.ts ${ours.toFixed(0)} ms`);
    worstRegExp = Math.max(worstRegExp, oracle);
    worstOurs = Math.max(worstOurs, ours);
  }
}
console.log(`${cases} cases: RegExp at worst ${worstRegExp.toFixed(1)} ms, regex.ts at worst ${worstOurs.toFixed(1)} ms`);
