/**
 * iptables-restore parser: table-driven options and errors (code, line,
 * token), fast-check properties, and a kube-proxy-style rule set.
 * The kernel comparison lives in save-kernel.test.ts (same corpus style).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IptablesRestoreError, parseRestore } from '../../src/netfilter/restore.js';
import { formatSave, formatRule } from '../../src/netfilter/save.js';
import { Ruleset, type Rule } from '../../src/netfilter/model.js';
import { BAD, CORPUS } from './corpus.js';

const one = (rule: string, table = 'filter', chain = 'INPUT'): Rule => {
  const rs = parseRestore(`*${table}\n-A ${chain} ${rule}\nCOMMIT\n`);
  const r = rs.chain(table as 'filter', chain)!.rules[0];
  expect(r).toBeDefined();
  return r!;
};

describe('rule options', () => {
  const cases: [string, string, string?, string?][] = [
    ['! -s 10.1.2.3/8 -d 1.2.3.4', '-A INPUT ! -s 10.0.0.0/8 -d 1.2.3.4/32'],
    ['-s 10.1.2.3/255.0.255.0', '-A INPUT -s 10.0.2.0/255.0.255.0'],
    ['-p 6 --dport 80', '-A INPUT -p tcp -m tcp --dport 80'],
    ['-p tcp --syn', '-A INPUT -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN'],
    ['-p icmp --icmp-type echo-request', '-A INPUT -p icmp -m icmp --icmp-type 8'],
    ['-p udp -m multiport --dports 53,100:200', '-A INPUT -p udp -m multiport --dports 53,100:200'],
    ['-m conntrack ! --ctstate ESTABLISHED,NEW', '-A INPUT -m conntrack ! --ctstate NEW,ESTABLISHED'],
    ['-m comment --comment "default/kubernetes:https cluster IP"', '-A INPUT -m comment --comment "default/kubernetes:https cluster IP"'],
    ['-m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT', '-A INPUT -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT'],
    ['-m set ! --match-set S src', '-A INPUT -m set ! --match-set S src'],
    ['-m statistic --mode random --probability 0.5', '-A INPUT -m statistic --mode random --probability 0.50000000000'],
    ['-j MARK --set-mark 0x10/0x0f', '-A PREROUTING -j MARK --set-xmark 0x10/0x1f', 'mangle', 'PREROUTING'],
    ['-p tcp -j DNAT --to-destination 10.0.0.1-10.0.0.2:80-81 --random', '-A PREROUTING -p tcp -j DNAT --to-destination 10.0.0.1-10.0.0.2:80-81 --random', 'nat', 'PREROUTING'],
    ['-j REJECT --reject-with host-unreach', '-A INPUT -j REJECT --reject-with icmp-host-unreachable'],
    ['-j LOG --log-prefix "x y" --log-level debug', '-A INPUT -j LOG --log-prefix "x y" --log-level 7'],
    ['-m physdev --physdev-in br+ --physdev-is-bridged', '-A FORWARD -m physdev --physdev-in br+ --physdev-is-bridged', 'filter', 'FORWARD'],
  ];
  for (const [input, want, table, chain] of cases) {
    it(input, () => {
      const r = one(input, table, chain);
      expect(formatRule(chain ?? 'INPUT', r)).toBe(want);
    });
  }
  it('stores MARK as XMARK and addresses masked', () => {
    const r = one('-s 10.1.2.3/24 -j MARK --or-mark 0x4000', 'mangle', 'OUTPUT');
    expect(r.src).toEqual({ addr: 0x0a010200, mask: 0xffffff00, invert: false });
    expect(r.target).toEqual({ kind: 'MARK', value: 0x4000, mask: 0x4000, op: 'or-mark' });
  });
  it('stores statistic probability as the kernel fixed point', () => {
    const m = one('-m statistic --mode random --probability 0.3333333333').matches[0];
    expect(m).toMatchObject({ kind: 'statistic', mode: 'random' });
    expect((m as { probability: number }).probability * 0x80000000).toBe(715827883);
  });
});

describe('errors', () => {
  for (const [name, text] of Object.entries(BAD)) {
    it(name, () => {
      let err: unknown;
      try { parseRestore(text); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(IptablesRestoreError);
      const e = err as IptablesRestoreError;
      expect(e.line).toBeGreaterThan(0);
      expect(e.code).toMatch(/^IPTABLES_/);
      expect(e.token.length).toBeGreaterThan(0);
    });
  }
  const named: [string, string, number, string][] = [
    ['*filter\n-A INPUT -m foo -j ACCEPT\nCOMMIT\n', 'IPTABLES_UNKNOWN_MATCH', 2, 'foo'],
    ['*filter\n:A - [0:0]\n-A INPUT -j FOO\nCOMMIT\n', 'IPTABLES_UNKNOWN_TARGET', 4, 'FOO'],
    ['*filter\n-A NOCHAIN -j ACCEPT\nCOMMIT\n', 'IPTABLES_NO_CHAIN', 2, 'NOCHAIN'],
    ['*filter\n-A INPUT -j ACCEPT\n', 'IPTABLES_NO_COMMIT', 3, 'COMMIT'],
    ['*filter\n:A - [0:0]\n:B - [0:0]\n-A INPUT -j A\n-A A -j B\n-A B -j A\nCOMMIT\n', 'IPTABLES_LOOP', 6, 'B'],
    ['*filter\n-A INPUT -s foo.example\nCOMMIT\n', 'IPTABLES_HOSTNAME', 2, 'foo.example'],
    ['*filter\n-A INPUT -m comment --comment "open\nCOMMIT\n', 'IPTABLES_BAD_QUOTE', 2, '"open'],
  ];
  for (const [text, code, line, token] of named) {
    it(`${code} names line ${line} and '${token}'`, () => {
      expect(() => parseRestore(text)).toThrow(expect.objectContaining({ code, line, token }));
    });
  }
});

describe('kube-proxy style ruleset', () => {
  it('parses into the chains BEHAVIOUR.md describes', () => {
    const rs = parseRestore(CORPUS['kube-proxy nat']!);
    const nat = rs.table('nat').chains;
    for (const c of ['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ', 'KUBE-SVC-XPGD46QRK7WJZT7O', 'KUBE-SEP-SXIVWICOYRO3J4NJ']) {
      expect(nat.get(c)?.policy).toBeNull();
    }
    const svc = nat.get('KUBE-SVC-XPGD46QRK7WJZT7O')!.rules;
    expect(svc[1]!.target).toEqual({ kind: 'jump', chain: 'KUBE-SEP-SXIVWICOYRO3J4NJ' });
    expect(svc[1]!.matches[1]).toMatchObject({ kind: 'statistic', mode: 'random', probability: 0.5 });
    const sep = nat.get('KUBE-SEP-SXIVWICOYRO3J4NJ')!.rules[1]!;
    expect(sep.target).toEqual({ kind: 'DNAT', to: { addrMin: 0x0ab40001, addrMax: 0x0ab40001, portMin: 80, portMax: 80 }, random: false, randomFully: false, persistent: false });
    const last = nat.get('KUBE-SERVICES')!.rules.at(-1)!;
    expect(last.matches[1]).toMatchObject({ kind: 'addrtype', dstType: ['LOCAL'] });
  });
  it('--noflush :CHAIN flushes an existing chain', () => {
    const rs = parseRestore('*nat\n:KUBE-SVC-A - [0:0]\n-A KUBE-SVC-A -j RETURN\nCOMMIT\n');
    parseRestore('*nat\n:KUBE-SVC-A - [0:0]\nCOMMIT\n', rs, { noflush: true });
    expect(rs.chain('nat', 'KUBE-SVC-A')!.rules).toEqual([]);
  });
});

// ---- properties -----------------------------------------------------------------

const fragments = [
  '-s 10.0.0.0/8', '! -d 192.168.0.1', '-p tcp --dport 80', '-p udp ! --sport 1:1024', '-i eth+', '-m mark --mark 0x1/0x3',
  '-m conntrack --ctstate NEW', '-m comment --comment "a b"', '-p tcp -m multiport --dports 1,2:3', '-m addrtype --dst-type LOCAL',
  '-m statistic --mode nth --every 3 --packet 1', '-m statistic --mode random --probability 0.25', '-p icmp --icmp-type 3/1', '-f',
  '-m physdev --physdev-is-bridged', '-m set --match-set X dst',
];
const targets = ['-j ACCEPT', '-j DROP', '-j RETURN', '-j MARK --set-xmark 0x4000/0x4000', '-j LOG --log-prefix p', '-j TRACE', '', '-j U1', '-g U2'];

const rulesetText = fc.array(fc.tuple(fc.constantFrom('INPUT', 'FORWARD', 'U1', 'U2'), fc.subarray(fragments, { maxLength: 3 }), fc.constantFrom(...targets)), { maxLength: 12 })
  .map((rules) => ['*mangle', ':U1 - [0:0]', ':U2 - [0:0]',
    ...rules.filter(([c, , t]) => !(c === 'U1' && t.includes('U1')) && !(c === 'U2' && t.includes('U2')) && !(c === 'U2' && t.includes('U1')))
      .map(([c, f, t]) => {
        // one protocol per rule
        const seen = f.filter((x, i) => !(x.includes('-p ') && f.slice(0, i).some((y) => y.includes('-p '))));
        return `-A ${c} ${seen.join(' ')} ${t}`.replace(/\s+$/, '');
      }), 'COMMIT'].join('\n') + '\n');

const strip = (rs: Ruleset): unknown => JSON.parse(JSON.stringify([...rs.tables.values()].map((t) => [t.name, [...t.chains.values()]]),
  (k, v) => (k === 'line' ? 0 : k === 'op' ? 'set-xmark' : v)));

describe('properties', () => {
  it('parse(formatSave(x)) equals x', () => {
    fc.assert(fc.property(rulesetText, (text) => {
      const x = parseRestore(text);
      const saved = formatSave(x);
      const y = parseRestore(saved);
      expect(strip(y)).toEqual(strip(x));
      expect(formatSave(y)).toBe(saved);
    }), { numRuns: 150 });
  });
  it('arbitrary text throws only IptablesRestoreError', () => {
    const tok = fc.constantFrom('*filter', '*nat', 'COMMIT', ':INPUT', ':X', '-', 'ACCEPT', '-A', '-I', '-D', '-N', '-X', '-F', 'INPUT', 'X', '!', '-s', '-p',
      'tcp', '--dport', '80', '-m', 'mark', '--mark', '0x1', '-j', 'DNAT', '--to-destination', '1.2.3.4:5', '"', '[0:0]', '\n', '-g', 'statistic', '--mode', 'nth');
    fc.assert(fc.property(fc.oneof(fc.string(), fc.array(tok, { maxLength: 30 }).map((a) => a.join(' '))), (text) => {
      try { parseRestore(text); } catch (e) { expect(e).toBeInstanceOf(IptablesRestoreError); }
    }), { numRuns: 500 });
  });
  it('a failed restore leaves into unchanged', () => {
    fc.assert(fc.property(rulesetText, fc.constantFrom(...Object.values(BAD)), (good, bad) => {
      const into = parseRestore(good);
      const before = formatSave(into, { counters: true });
      expect(() => parseRestore(good.replace('COMMIT\n', '') + 'COMMIT\n' + bad, into, { noflush: true })).toThrow(IptablesRestoreError);
      expect(formatSave(into, { counters: true })).toBe(before);
    }), { numRuns: 60 });
  });
});
