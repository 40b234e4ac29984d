/**
 * The generators of test/trace/regex.test.ts: patterns of regex.ts's syntax and texts to match,
 * shared with regex-oracle.ts (which times the oracle, RegExp, on them).
 */
import fc from 'fast-check';

/**
 * Patterns of the supported syntax over a small alphabet (so matches are common),
 * nested at most three groups deep: the oracle is a backtracker, and deeper
 * nesting of quantified groups makes RegExp itself take minutes on 12 characters
 * (a CI run timed out on one). How long RegExp takes on them: regex-oracle.ts.
 */
export const pattern: fc.Arbitrary<string> = fc.letrec<{ alt: string; cat: string; atom: string; quant: string }>((tie) => ({
  alt: fc.oneof({ depthSize: 'small', withCrossShrink: true, maxDepth: 3, depthIdentifier: 'regex' }, tie('cat'), fc.tuple(tie('cat'), tie('cat')).map(([a, b]) => `${a}|${b}`)),
  cat: fc.array(tie('quant'), { maxLength: 4 }).map((xs) => xs.join('')),
  quant: fc.tuple(tie('atom'), fc.constantFrom('', '', '*', '+', '?', '{2}', '{1,}', '{0,2}', '*?', '+?', '??')).map(([a, q]) => (/^[\^$]$|^\\[bB]$/.test(a) ? a : a + q)),
  atom: fc.oneof({ depthSize: 'small', maxDepth: 3, depthIdentifier: 'regex' },
    fc.constantFrom('a', 'b', 'A', '.', '\\d', '\\w', '\\s', '\\W', '[ab]', '[^a]', '[a-c]', '[\\d_]', '^', '$', '\\b', '\\B', '\\.', '-', 'x', '[]', '[^]', '\\x41', '{', '}', ']'),
    tie('alt').map((a) => `(${a})`), tie('alt').map((a) => `(?:${a})`)),
})).alt;
export const text = fc.array(fc.constantFrom('a', 'b', 'A', 'B', 'c', '1', '_', ' ', '\n', '.', '-', 'x', '{', '}', ']'), { maxLength: 12 }).map((xs) => xs.join(''));
