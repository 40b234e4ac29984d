/**
 * regex.ts, the linear-time matcher behind `matches`: it agrees with RegExp on
 * patterns of its syntax (differential, fast-check), refuses what needs
 * backtracking with a RegexError naming the offset, and stays linear on the
 * patterns that make RegExp exponential.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileRegex, MAX_REGEX_DEPTH, MAX_REGEX_PROGRAM, RegexError } from '../../src/trace/regex.js';
import { pattern, text } from './regex-arbitraries.js';


describe('linear-time regular expressions', () => {
  it('agree with RegExp (case-sensitive and case-insensitive) on patterns of the syntax', () => {
    fc.assert(fc.property(pattern, text, fc.boolean(), (p, t, i) => {
      let re: RegExp;
      try { re = new RegExp(p, i ? 'i' : ''); } catch { return; }
      // (the generator can nest counts past the program bound)
      try { compileRegex(p); } catch (e) { if (e instanceof RegexError && /too complex/.test(e.message)) return; throw e; }
      expect(compileRegex(p, { ignoreCase: i }).test(t), `/${p}/${i ? 'i' : ''} on ${JSON.stringify(t)}`).toBe(re.test(t));
    }), { numRuns: 3000 });
  }, 60_000);

  it('reads the patterns users write', () => {
    const cases: [string, string, boolean][] = [
      ['^GET', 'GET / HTTP/1.1', true], ['\\.example\\.com$', 'www.example.com', true], ['ip:(udp|icmp)', 'eth:ethertype:ip:udp:vxlan', true],
      ['[0-9]{3}', 'ab12c', false], ['\\d{3}', 'x404y', true], ['vxlan', 'ETH:VXLAN', false], ['(?<word>\\w+)=\\d+', 'key=42', true],
      ['a.c', 'a\nc', false], ['\\x41\\u0042', 'AB', true], ['colou?r', 'color', true], ['[\\]]', ']', true], ['[a\\-z]', '-', true],
    ];
    for (const [p, t, want] of cases) expect(compileRegex(p).test(t), `/${p}/ on ${t}`).toBe(want);
    expect(compileRegex('vxlan', { ignoreCase: true }).test('ETH:VXLAN')).toBe(true);
  });

  it('refuses back-references, lookaround and bad syntax with the offset', () => {
    const cases: [string, number, RegExp][] = [
      ['(a)\\1', 3, /back-references/], ['(?=a)', 0, /lookaround/], ['x(?<!a)', 1, /lookaround/], ['(?<n>a)\\k<n>', 7, /back-references/],
      ['a**', 2, /Nothing to repeat/], ['*a', 0, /Nothing to repeat/], ['(a', 0, /Unterminated group/], ['a)', 1, /Unmatched/],
      ['[z-a]', 0, /out of order/], ['[ab', 0, /Unterminated/], ['a{3,2}', 1, /out of order/], ['\\', 0, /end of pattern/], ['^*', 1, /Nothing to repeat/],
      ['a{5000}', 1, /count over/],
    ];
    for (const [p, offset, msg] of cases) {
      let err: unknown;
      try { compileRegex(p); } catch (e) { err = e; }
      expect(err, p).toBeInstanceOf(RegexError);
      expect((err as RegexError).offset, p).toBe(offset);
      expect((err as RegexError).message, p).toMatch(msg);
    }
  });

  it('bounds the program (MAX_REGEX_PROGRAM states) and the nesting of groups (MAX_REGEX_DEPTH)', () => {
    expect(compileRegex('a{1000}').size).toBeLessThanOrEqual(MAX_REGEX_PROGRAM);
    expect(() => compileRegex('(a{1000}){1000}')).toThrow(/too complex/);
    expect(() => compileRegex('(((a{10}){10}){10}){10}')).toThrow(RegexError);
    expect(compileRegex(`${'('.repeat(MAX_REGEX_DEPTH)}a${')*'.repeat(MAX_REGEX_DEPTH)}`).test('aaa')).toBe(true);
    expect(() => compileRegex(`${'(?:'.repeat(2000)}a${')'.repeat(2000)}`)).toThrow(expect.objectContaining({ offset: 3 * MAX_REGEX_DEPTH, message: expect.stringMatching(/nested/) }));
  });

  it('patterns exponential for a backtracker run in one pass over the text', () => {
    // (RegExp takes seconds on the first of these with 30 characters; here 100 000 are one pass)
    const long = `${'a'.repeat(100_000)}!`;
    for (const p of ['(a+)+$', '^(a|a)*$', '(a|aa)*b', '(.*a){12}x', '^(\\w+\\s?)*$']) {
      const re = compileRegex(p);
      expect(re.test(long), p).toBe(false);
    }
  });
});
