// What bridges share (ofproto/bridge.ts EMPTY_TABLES, ofctl.ts's parsed lines): one bridge's
// flows never show in another's, and a line parsed again keeps its own line number.
import { describe, expect, it } from 'vitest';
import { Bridge } from '../../src/ofproto/bridge.js';
import { FlowSyntaxError } from '../../src/flow/errors.js';
import { parseFlowsFile } from '../../src/ofproto/ofctl.js';

describe('bridges sharing empty tables and parsed flows', () => {
  it('a flow added to one bridge is in its table only', () => {
    const a = new Bridge('a'), b = new Bridge('b');
    expect(a.tables[3]).toBe(b.tables[3]);
    a.addFlows(parseFlowsFile('table=3,priority=5,ip,actions=drop'));
    expect(a.tables[3]!.size).toBe(1);
    expect(b.tables[3]!.size).toBe(0);
    expect(b.dumpFlows(0)).toEqual([]);
    expect(a.dumpFlows(0)).toHaveLength(1);
    expect(new Bridge('c').tables[3]!.size).toBe(0);
    expect(() => b.tables[3]!.insert(a.tables[3]!.rules()[0]!)).toThrow(/shared empty table/);
    expect(a.deleteFlows(3, null)).toHaveLength(1);
    expect(a.tables[3]!.size).toBe(0);
  });

  it('the same line parsed again: an equal spec with its own line number, shared by bridges', () => {
    const text = 'priority=7,in_port=1,actions=output:2\ntable=1,actions=drop\npriority=7,in_port=1,actions=output:2';
    const [x, y, z] = parseFlowsFile(text);
    expect([x!.line, y!.line, z!.line]).toEqual([1, 2, 3]);
    expect(z!.match).toBe(x!.match);
    expect({ ...z!, line: 1 }).toEqual(x);
    const again = parseFlowsFile('priority=7,in_port=1,actions=output:2')[0]!;
    expect(again).toEqual(x);
    // the options are part of what is kept: OpenFlow 1.3 stores this flow differently
    const of13 = parseFlowsFile('priority=7,in_port=1,actions=output:2', { protocols: 'OpenFlow13' })[0]!;
    expect(of13.flags).not.toEqual(x!.flags);
    const a = new Bridge('a'), b = new Bridge('b');
    a.addFlows([x!]); b.addFlows([again]);
    expect(a.dumpFlows(0)).toEqual(b.dumpFlows(0));
  });

  it('a bad line fails each time, at its own line', () => {
    expect(() => parseFlowsFile('actions=nope')).toThrow(FlowSyntaxError);
    try { parseFlowsFile('table=1,actions=drop\nactions=nope'); expect.unreachable(); } catch (e) {
      expect(e).toBeInstanceOf(FlowSyntaxError);
      expect((e as FlowSyntaxError).line).toBe(2);
    }
  });
});
