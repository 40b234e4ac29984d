// FlowTable's strict index (ofproto/bridge.ts): rules are found by a hash of priority, conj_id and
// match, and told apart by comparing those — two different rules of one hash both stay.
import { describe, expect, it } from 'vitest';
import { Bridge, strictHash } from '../../src/ofproto/bridge.js';
import { parseFlowsFile } from '../../src/ofproto/ofctl.js';
import { FIELDS } from '../../src/flow/fields.js';
import { Match } from '../../src/flow/match.js';

/** Two flow lines (reg1 and reg2 differ) whose rules hash alike: found by a search over random values. */
function collidingLines(): [string, string] {
  const w1 = FIELDS.get('reg1')!.word, w2 = FIELDS.get('reg2')!.word;
  const m = new Match();
  m.mask[w1] = 0xffffffff; m.mask[w2] = 0xffffffff;
  const seen = new Map<number, [number, number]>();
  let x = 12345;
  const rnd = (): number => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) >>> 0; };
  const line = ([a, b]: [number, number]): string => `table=2,priority=9,reg1=${a},reg2=${b},actions=drop`;
  for (let i = 0; i < 2_000_000; i++) {
    const v: [number, number] = [rnd(), rnd()];
    m.value[w1] = v[0]; m.value[w2] = v[1];
    const h = strictHash(m, 9, undefined);
    const other = seen.get(h);
    if (other !== undefined && (other[0] !== v[0] || other[1] !== v[1])) return [line(other), line(v)];
    seen.set(h, v);
  }
  throw new Error('no collision found');
}

describe('flow table strict index', () => {
  it('keeps, finds, replaces and removes rules whose hashes collide', () => {
    const [a, b] = collidingLines();
    const br = new Bridge('br');
    br.addFlows(parseFlowsFile(`${a}\n${b}`));
    const t = br.tables[2]!;
    expect(t.size).toBe(2);
    const sa = parseFlowsFile(a)[0]!, sb = parseFlowsFile(b)[0]!;
    const ra = t.findStrict(sa.match, 9)!, rb = t.findStrict(sb.match, 9)!;
    expect(ra.spec.match.equals(sa.match)).toBe(true);
    expect(rb.spec.match.equals(sb.match)).toBe(true);
    expect(ra).not.toBe(rb);
    expect(t.findStrict(sa.match, 8)).toBeNull();
    // the same match again replaces its rule only
    br.addFlows(parseFlowsFile(a.replace('actions=drop', 'actions=output:3')));
    expect(t.size).toBe(2);
    expect(t.findStrict(sa.match, 9)!.spec.actions[0]!.type).toBe('output');
    expect(t.findStrict(sb.match, 9)).toBe(rb);
    // strict delete of one leaves the other
    expect(br.deleteFlows(2, sb.match, true, 9)).toEqual([rb]);
    expect(t.size).toBe(1);
    expect(t.findStrict(sb.match, 9)).toBeNull();
    expect(t.findStrict(sa.match, 9)).not.toBeNull();
    expect(t.remove(rb)).toBe(false);
  });
});
