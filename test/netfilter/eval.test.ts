// Chain traversal: the kernel's rule order, jumps, gotos, RETURN, policies, counters, and each
// match on its own. Rules are built in code here (restore.test.ts covers the text); the kernel
// comparisons of whole hook pipelines come with the conntrack integration.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Evaluator, WALK_ACCEPT, WALK_DROP, type NfHost, type NfPacket } from '../../src/netfilter/eval.js';
import { parseRestore } from '../../src/netfilter/restore.js';
import { CompiledTable } from '../../src/netfilter/compile.js';
import { kubeProxyNat } from '../../bench/netfilter.bench.js';
import { emptyRule, Ruleset, type Match, type Rule, type Target } from '../../src/netfilter/model.js';
import { parseIpv4 } from '../../src/wire/bytes.js';
import { Ipsets } from '../../src/netfilter/ipset.js';

const ip = (s: string): number => parseIpv4(s)!;

function pkt(o: Partial<NfPacket> = {}): NfPacket {
  return {
    src: ip('10.0.0.1'), dst: ip('10.96.0.10'), proto: 6, sport: 40000, dport: 80, tcpFlags: 2, fragment: false, length: 60,
    inIface: 'eth0', outIface: null, mark: 0, ctStates: new Set(['NEW']), ctMark: 0, physIn: null, physOut: null, bridged: false, ...o,
  };
}

function rule(target: Target | null, o: Partial<Rule> & { m?: Match[] } = {}): Rule {
  const r = emptyRule();
  Object.assign(r, o);
  r.matches = o.m ?? [];
  r.target = target;
  return r;
}

const host: NfHost = { addrType: (a) => (a === ip('192.168.50.1') || a === ip('10.244.1.1') ? 'LOCAL' : 'UNICAST') };

function ruleset(build: (rs: Ruleset) => void): Ruleset {
  const rs = new Ruleset();
  build(rs);
  return rs;
}
function userChain(rs: Ruleset, table: 'nat' | 'filter', name: string, rules: Rule[]): void {
  rs.table(table).chains.set(name, { name, policy: null, counters: { packets: 0, bytes: 0 }, rules });
}
const tcp = (dport: [number, number] | null, sport: [number, number] | null = null): Match =>
  ({ kind: 'tcp', sport: sport && { min: sport[0], max: sport[1] }, sportInvert: false, dport: dport && { min: dport[0], max: dport[1] }, dportInvert: false, tcpFlags: null });

describe('traversal', () => {
  it('jump, RETURN to the rule after the jump, goto returning past its caller, policy at the end', () => {
    const rs = ruleset((r) => {
      userChain(r, 'filter', 'A', [rule({ kind: 'goto', chain: 'B' }, { m: [tcp([80, 80])] }), rule({ kind: 'DROP' })]);
      userChain(r, 'filter', 'B', [rule({ kind: 'RETURN' })]);
      r.chain('filter', 'FORWARD')!.rules.push(rule({ kind: 'jump', chain: 'A' }), rule({ kind: 'MARK', value: 0x4000, mask: 0x4000, op: 'set-xmark' }));
      r.chain('filter', 'FORWARD')!.policy = 'DROP';
    });
    const ev = new Evaluator(rs, host);
    const p = pkt();
    const res = ev.run('filter', 'FORWARD', p);
    // FORWARD 1 (jump A) → A 1 (goto B) → B 1 RETURN → back to FORWARD 2 (not A 2) → MARK → policy DROP
    expect(res.traversed.map((t) => `${t.chain}:${t.num}`)).toEqual(['FORWARD:1', 'A:1', 'B:1', 'FORWARD:2', 'FORWARD:0']);
    expect(res.verdict).toEqual({ kind: 'DROP' });
    expect(p.mark).toBe(0x4000);
    expect(rs.chain('filter', 'FORWARD')!.counters).toEqual({ packets: 1, bytes: 60 });
    expect(rs.chain('filter', 'A')!.rules[0]!.counters).toEqual({ packets: 1, bytes: 60 });
    expect(rs.chain('filter', 'A')!.rules[1]!.counters.packets).toBe(0);
  });

  it('a user chain that falls off its end returns; RETURN from a built-in chain is its policy', () => {
    const rs = ruleset((r) => {
      userChain(r, 'filter', 'EMPTY', []);
      r.chain('filter', 'INPUT')!.rules.push(rule({ kind: 'jump', chain: 'EMPTY' }), rule({ kind: 'RETURN' }), rule({ kind: 'DROP' }));
    });
    const res = new Evaluator(rs, host).run('filter', 'INPUT', pkt());
    expect(res.verdict).toEqual({ kind: 'ACCEPT' });
    expect(res.traversed.map((t) => `${t.chain}:${t.num}`)).toEqual(['INPUT:1', 'INPUT:2', 'INPUT:0']);
  });

  it('NAT targets end the walk with the binding; REJECT carries its type', () => {
    const dnat: Target = { kind: 'DNAT', to: { addrMin: ip('10.244.1.5'), addrMax: ip('10.244.1.5'), portMin: 8080, portMax: 8080 }, random: false, randomFully: false, persistent: false };
    const rs = ruleset((r) => {
      r.chain('nat', 'PREROUTING')!.rules.push(rule(dnat, { dst: { addr: ip('10.96.0.10'), mask: 0xffffffff, invert: false } }));
      r.chain('filter', 'FORWARD')!.rules.push(rule({ kind: 'REJECT', with: 'icmp-port-unreachable' }, { proto: { num: 17, invert: false } }));
    });
    const ev = new Evaluator(rs, host);
    expect(ev.run('nat', 'PREROUTING', pkt()).verdict).toEqual({ kind: 'NAT', target: dnat });
    expect(ev.run('nat', 'PREROUTING', pkt({ dst: ip('10.96.0.11') })).verdict).toEqual({ kind: 'ACCEPT' });
    expect(ev.run('filter', 'FORWARD', pkt({ proto: 17 })).verdict).toEqual({ kind: 'REJECT', with: 'icmp-port-unreachable' });
  });
});

describe('matches', () => {
  const one = (r: Rule, p: NfPacket, h: NfHost = host): boolean => new Evaluator(new Ruleset(), h).matches(r, p);

  it('addresses under masks and negation; interfaces with + and !; protocol; fragments', () => {
    expect(one(rule(null, { src: { addr: ip('10.0.0.0'), mask: ip('255.0.255.0'), invert: false } }), pkt({ src: ip('10.9.0.77') }))).toBe(true);
    expect(one(rule(null, { src: { addr: ip('10.0.0.0'), mask: ip('255.0.255.0'), invert: false } }), pkt({ src: ip('10.9.1.77') }))).toBe(false);
    expect(one(rule(null, { dst: { addr: ip('127.0.0.0'), mask: ip('255.0.0.0'), invert: true } }), pkt({ dst: ip('127.0.0.1') }))).toBe(false);
    expect(one(rule(null, { in: { name: 'eth', wildcard: true, invert: false } }), pkt({ inIface: 'eth7' }))).toBe(true);
    expect(one(rule(null, { in: { name: 'eth', wildcard: true, invert: true } }), pkt({ inIface: 'eth7' }))).toBe(false);
    expect(one(rule(null, { out: { name: 'eth0', wildcard: false, invert: false } }), pkt({ outIface: null }))).toBe(false);
    expect(one(rule(null, { out: { name: 'eth0', wildcard: false, invert: true } }), pkt({ outIface: null }))).toBe(true);
    expect(one(rule(null, { proto: { num: 6, invert: true } }), pkt())).toBe(false);
    expect(one(rule(null, { fragment: { invert: false } }), pkt({ fragment: true }))).toBe(true);
    // a later fragment has no ports: tcp --dport never matches it
    expect(one(rule(null, { m: [tcp([80, 80])] }), pkt({ fragment: true }))).toBe(false);
  });

  it('tcp/udp ports and ranges with !, tcp flags, multiport, icmp', () => {
    expect(one(rule(null, { m: [tcp([30000, 32767])] }), pkt({ dport: 30080 }))).toBe(true);
    expect(one(rule(null, { m: [{ ...tcp([80, 80]), dportInvert: true } as Match] }), pkt())).toBe(false);
    const syn: Match = { ...tcp(null), tcpFlags: { mask: 0x17, comp: 0x02, invert: false } } as Match;
    expect(one(rule(null, { m: [syn] }), pkt({ tcpFlags: 0x02 }))).toBe(true);
    expect(one(rule(null, { m: [syn] }), pkt({ tcpFlags: 0x12 }))).toBe(false);
    const mp: Match = { kind: 'multiport', which: 'dports', ports: [{ min: 22, max: 22 }, { min: 8000, max: 8080 }], invert: false };
    expect(one(rule(null, { m: [mp] }), pkt({ dport: 8042 }))).toBe(true);
    expect(one(rule(null, { m: [mp] }), pkt({ dport: 443 }))).toBe(false);
    expect(one(rule(null, { m: [{ kind: 'multiport', which: 'ports', ports: [{ min: 40000, max: 40000 }], invert: false }] }), pkt())).toBe(true);
    const echo: Match = { kind: 'icmp', type: 8, code: null, invert: false };
    expect(one(rule(null, { m: [echo] }), pkt({ proto: 1, sport: 8, dport: 0 }))).toBe(true);
    expect(one(rule(null, { m: [echo] }), pkt({ proto: 1, sport: 0, dport: 0 }))).toBe(false);
  });

  it('mark, conntrack states, addrtype LOCAL, comment', () => {
    expect(one(rule(null, { m: [{ kind: 'mark', value: 0x4000, mask: 0x4000, invert: false }] }), pkt({ mark: 0xc000 }))).toBe(true);
    expect(one(rule(null, { m: [{ kind: 'mark', value: 0x4000, mask: 0x4000, invert: true }] }), pkt({ mark: 0xc000 }))).toBe(false);
    expect(one(rule(null, { m: [{ kind: 'conntrack', states: ['RELATED', 'ESTABLISHED'], invert: false }] }), pkt({ ctStates: new Set(['ESTABLISHED']) }))).toBe(true);
    expect(one(rule(null, { m: [{ kind: 'conntrack', states: ['INVALID'], invert: true }] }), pkt({ ctStates: new Set(['INVALID']) }))).toBe(false);
    const local: Match = { kind: 'addrtype', srcType: null, srcInvert: false, dstType: ['LOCAL'], dstInvert: false, limitIfaceIn: false, limitIfaceOut: false };
    expect(one(rule(null, { m: [local] }), pkt({ dst: ip('192.168.50.1') }))).toBe(true);
    expect(one(rule(null, { m: [local] }), pkt({ dst: ip('192.168.50.2') }))).toBe(false);
    expect(one(rule(null, { m: [{ kind: 'comment', text: 'default/kubernetes:https' }] }), pkt())).toBe(true);
  });

  it('statistic nth: --every 3 --packet 0 then --every 2 --packet 0 then fall-through is a perfect round robin', () => {
    // kube-proxy's chain for three endpoints (BEHAVIOUR.md Linux §1: A,B,C,A,B,C)
    const rs = ruleset((r) => {
      const sep = (n: string): Target => ({ kind: 'jump', chain: n });
      for (const n of ['A', 'B', 'C']) userChain(r, 'nat', n, [rule({ kind: 'ACCEPT' })]);
      r.chain('nat', 'PREROUTING')!.rules.push(
        rule(sep('A'), { m: [{ kind: 'statistic', mode: 'nth', every: 3, packet: 0, invert: false }] }),
        rule(sep('B'), { m: [{ kind: 'statistic', mode: 'nth', every: 2, packet: 0, invert: false }] }),
        rule(sep('C')),
      );
    });
    const ev = new Evaluator(rs, host);
    const picks = Array.from({ length: 6 }, () => ev.run('nat', 'PREROUTING', pkt()).traversed.at(-1)!.chain);
    expect(picks).toEqual(['A', 'B', 'C', 'A', 'B', 'C']);
  });

  it('statistic nth with --packet 1 takes the second packet; random is seeded and close to its probability', () => {
    const ev = new Evaluator(new Ruleset(), host, 7);
    const nth = rule(null, { m: [{ kind: 'statistic', mode: 'nth', every: 3, packet: 1, invert: false }] });
    expect(Array.from({ length: 6 }, () => ev.matches(nth, pkt()))).toEqual([false, true, false, false, true, false]);
    const rnd = rule(null, { m: [{ kind: 'statistic', mode: 'random', probability: 0.25, invert: false }] });
    const hits = Array.from({ length: 4000 }, () => ev.matches(rnd, pkt())).filter(Boolean).length;
    expect(hits).toBeGreaterThan(900);
    expect(hits).toBeLessThan(1100);
    const again = new Evaluator(new Ruleset(), host, 7);
    Array.from({ length: 6 }, () => again.matches(nth, pkt()));
    expect(Array.from({ length: 4000 }, () => again.matches(rnd, pkt())).filter(Boolean).length).toBe(hits);
  });

  it('set matches go to the host; without ipsets they are an error, not a silent miss', () => {
    const r = rule(null, { m: [{ kind: 'set', name: 'KUBE-CLUSTER-IP', flags: ['dst', 'dst'], invert: false }] });
    expect(() => one(r, pkt())).toThrow(/no ipsets are loaded/);
    expect(one(r, pkt(), { ...host, setMatches: (name, flags, p) => name === 'KUBE-CLUSTER-IP' && flags[0] === 'dst' && p.dport === 80 })).toBe(true);
  });
});

describe('the compiled index of long chains', () => {
  // a reference walker: every rule in order, no index (flat chain, no jumps)
  function linear(rules: Rule[], p: NfPacket, h: NfHost): { verdict: string; checked: number } {
    const ev = new Evaluator(new Ruleset(), h);
    for (let i = 0; i < rules.length; i++) {
      if (!ev.matches(rules[i]!, p)) continue;
      const t = rules[i]!.target;
      if (t !== null && (t.kind === 'ACCEPT' || t.kind === 'DROP')) return { verdict: t.kind, checked: i + 1 };
    }
    return { verdict: 'ACCEPT', checked: rules.length };
  }
  const addrs = ['10.96.0.1', '10.96.0.2', '10.96.0.3', '10.96.0.4'].map(ip);
  const arbRule = fc.record({
    dst: fc.oneof(fc.constant(null), fc.constantFrom(...addrs), fc.constant(-1)),
    port: fc.option(fc.constantFrom(80, 443)),
    target: fc.constantFrom<Target | null>({ kind: 'ACCEPT' }, { kind: 'DROP' }, null),
  }).map(({ dst, port, target }) => rule(target, {
    dst: dst === null ? null : dst === -1 ? { addr: ip('10.96.0.0'), mask: 0xffffff00, invert: false } : { addr: dst, mask: 0xffffffff, invert: false },
    ...(port !== null ? { m: [tcp([port, port])] } : {}),
  }));

  it('gives the verdict and the kernel rule count of a rule-by-rule walk (property)', () => {
    fc.assert(fc.property(fc.array(arbRule, { minLength: 16, maxLength: 60 }), fc.constantFrom(...addrs, ip('10.96.0.99')), fc.constantFrom(80, 443, 22),
      (rules, dst, dport) => {
        const rs = ruleset((r) => { r.chain('filter', 'FORWARD')!.rules.push(...rules); });
        const p = pkt({ dst, dport });
        const res = new Evaluator(rs, host).run('filter', 'FORWARD', p);
        const want = linear(rules, p, host);
        expect([res.verdict.kind, res.checked]).toEqual([want.verdict, want.checked]);
      }), { numRuns: 300 });
  });

  it('10k service rules: a packet evaluates its own rule, the count says what the kernel checked', () => {
    const rs = ruleset((r) => {
      const c = r.chain('nat', 'PREROUTING')!;
      for (let s = 0; s < 10_000; s++) {
        c.rules.push(rule({ kind: 'ACCEPT' }, { dst: { addr: (ip('10.96.0.0') + s) >>> 0, mask: 0xffffffff, invert: false }, m: [tcp([80, 80])] }));
      }
    });
    const res = new Evaluator(rs, host).run('nat', 'PREROUTING', pkt({ dst: (ip('10.96.0.0') + 7_321) >>> 0 }));
    expect(res.checked).toBe(7_322);
    expect(res.traversed.length).toBe(1);
  });
});

describe('the compiled table (typed rows) against the rule objects', () => {
  // a reference walker over a flat chain: every rule through Evaluator.matches (the object path), MARK applied,
  // the first ACCEPT/DROP ends it; the same seed, so random draws line up with the compiled walk's
  function reference(rules: Rule[], p: NfPacket, seed: number): { verdict: string; matched: number[]; mark: number } {
    const ev = new Evaluator(new Ruleset(), host, seed);
    const matched: number[] = [];
    for (let i = 0; i < rules.length; i++) {
      if (!ev.matches(rules[i]!, p)) continue;
      matched.push(i + 1);
      const t = rules[i]!.target;
      if (t?.kind === 'MARK') p.mark = ((p.mark & ~t.mask) ^ t.value) >>> 0;
      if (t !== null && (t.kind === 'ACCEPT' || t.kind === 'DROP')) return { verdict: t.kind, matched, mark: p.mark };
    }
    return { verdict: 'ACCEPT', matched, mark: p.mark };
  }
  const range = fc.tuple(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 })).map(([a, b]) => ({ min: Math.min(a, b), max: Math.max(a, b) }));
  const arbMatch: fc.Arbitrary<Match> = fc.oneof(
    fc.record({ kind: fc.constantFrom<'tcp' | 'udp'>('tcp', 'udp'), sport: fc.option(range), sportInvert: fc.boolean(), dport: fc.option(range), dportInvert: fc.boolean(),
      tcpFlags: fc.option(fc.record({ mask: fc.integer({ min: 0, max: 0x3f }), comp: fc.integer({ min: 0, max: 0x3f }), invert: fc.boolean() })) }),
    fc.record({ kind: fc.constant<'mark'>('mark'), value: fc.constantFrom(0, 0x4000, 0x80000000), mask: fc.constantFrom(0x4000, 0xffffffff, 0x80004000), invert: fc.boolean() }),
    fc.record({ kind: fc.constant<'statistic'>('statistic'), mode: fc.constant<'random'>('random'), probability: fc.constantFrom(0, 0.25, 0.5, 1), invert: fc.boolean() }),
    fc.record({ kind: fc.constant<'comment'>('comment'), text: fc.constant('c') }),
    fc.record({ kind: fc.constant<'multiport'>('multiport'), which: fc.constantFrom<'sports' | 'dports' | 'ports'>('sports', 'dports', 'ports'), ports: fc.array(range, { minLength: 1, maxLength: 3 }), invert: fc.boolean() }),
  );
  const addr = fc.option(fc.record({ addr: fc.constantFrom(ip('10.0.0.1'), ip('10.96.0.10'), ip('10.0.0.0'), ip('200.0.0.1')), mask: fc.constantFrom(0xffffffff, 0xff000000, 0), invert: fc.boolean() }));
  const arbRule = fc.record({
    src: addr, dst: addr,
    proto: fc.option(fc.record({ num: fc.constantFrom(6, 17, 1), invert: fc.boolean() })),
    in: fc.option(fc.record({ name: fc.constantFrom('eth', 'eth0'), wildcard: fc.boolean(), invert: fc.boolean() })),
    m: fc.array(arbMatch, { maxLength: 3 }),
    target: fc.constantFrom<Target | null>(null, { kind: 'ACCEPT' }, { kind: 'DROP' }, { kind: 'MARK', value: 0x4000, mask: 0x4000, op: 'set-xmark' },
      { kind: 'MARK', value: 0x80000000, mask: 0xffffffff, op: 'set-xmark' }),
  }).map(({ target, ...o }) => rule(target, o));
  const arbPkt = fc.record({
    src: fc.constantFrom(ip('10.0.0.1'), ip('10.96.0.10'), ip('200.0.0.1')), dst: fc.constantFrom(ip('10.0.0.1'), ip('10.96.0.10')),
    proto: fc.constantFrom(6, 17, 1), sport: fc.integer({ min: 0, max: 65535 }), dport: fc.constantFrom(0, 80, 443, 65535),
    tcpFlags: fc.integer({ min: 0, max: 0x3f }), fragment: fc.boolean(), mark: fc.constantFrom(0, 0x4000, 0x80000000),
  });

  it('gives the verdict, the matched rules, the mark and the counters of the object path (property)', () => {
    fc.assert(fc.property(fc.array(arbRule, { maxLength: 40 }), arbPkt, fc.integer({ min: 1, max: 1000 }), (rules, po, seed) => {
      const rs = ruleset((r) => { r.chain('filter', 'FORWARD')!.rules.push(...rules); });
      const p = pkt(po), q = pkt(po);
      const res = new Evaluator(rs, host, seed).run('filter', 'FORWARD', p);
      const want = reference(rules.map((r) => structuredClone(r)), q, seed);
      expect(res.verdict.kind).toBe(want.verdict);
      expect(res.traversed.filter((t) => t.matched && t.num > 0).map((t) => t.num)).toEqual(want.matched);
      expect(p.mark).toBe(want.mark);
      expect(rules.map((r, i) => r.counters.packets === (want.matched.includes(i + 1) ? 1 : 0))).not.toContain(false);
    }), { numRuns: 500 });
  });

  it('walk keeps the trace and counters until run or flushCounters', () => {
    const rs = ruleset((r) => { r.chain('filter', 'FORWARD')!.rules.push(rule(null), rule({ kind: 'DROP' }, { m: [tcp([80, 80])] })); });
    const ev = new Evaluator(rs, host);
    expect(ev.walk('filter', 'FORWARD', pkt())).toBe(WALK_DROP);
    expect(ev.lastChecked).toBe(2);
    expect(rs.chain('filter', 'FORWARD')!.rules[1]!.counters.packets).toBe(0);
    ev.flushCounters();
    expect(rs.chain('filter', 'FORWARD')!.rules.map((r) => r.counters)).toEqual([{ packets: 1, bytes: 60 }, { packets: 1, bytes: 60 }]);
    // an in-place change is seen after invalidate()
    rs.chain('filter', 'FORWARD')!.rules.splice(1, 1);
    ev.invalidate();
    expect(ev.walk('filter', 'FORWARD', pkt())).toBe(WALK_ACCEPT);
  });

  it('lays chains out in walk order: a service chain\'s endpoints follow it, in consecutive slots', () => {
    const ct = CompiledTable.of(parseRestore(kubeProxyNat(2)).table('nat'));
    const short = (n: string): string => n.replace(/-[A-Z0-9]{16}$/, '');
    expect(ct.chains.map((c) => short(c.name))).toEqual(['PREROUTING', 'KUBE-SERVICES', 'KUBE-SVC', 'KUBE-MARK-MASQ', 'KUBE-SEP', 'KUBE-SEP',
      'KUBE-SVC', 'KUBE-SEP', 'KUBE-SEP', 'KUBE-NODEPORTS', 'INPUT', 'OUTPUT', 'POSTROUTING', 'KUBE-POSTROUTING']);
    // slots follow the chain order
    expect(Array.from(ct.chainOf)).toEqual([...Array.from(ct.chainOf)].sort((x, y) => x - y));
  });
});

describe('-m set options (xt_set revision 4)', () => {
  // The expectations follow Linux 6.18 as ipset-kernel.test.ts observes it live (the "counters" case).
  const setsText = 'create N hash:net counters\nadd N 10.0.0.0/8\nadd N 10.1.0.0/16 nomatch\ncreate B bitmap:port range 1-100 counters\nadd B 53\nadd B 54\n';
  const withSets = (sets: Ipsets): NfHost => ({ ...host, setMatches: (name, flags, p, m) => sets.matches(name, flags, p, m) });
  const one = (r: Rule, p: NfPacket, h: NfHost): boolean => new Evaluator(new Ruleset(), h).matches(r, p);
  const udp = (dst: string, dport: number, length: number): NfPacket => pkt({ proto: 17, dst: ip(dst), dport, length, outIface: 'eth0', inIface: null });

  it('the whole match reaches the host, and `!` is applied to its answer', () => {
    const seen: unknown[] = [];
    const h: NfHost = { ...host, setMatches: (_n, _f, _p, m) => { seen.push(m); return m.returnNomatch === true; } };
    const rs = parseRestore('*filter\n-A OUTPUT -m set ! --match-set S dst --return-nomatch ! --update-counters ! --bytes-eq 7\n-A OUTPUT -m set --match-set S dst\nCOMMIT\n');
    const [r1, r2] = rs.chain('filter', 'OUTPUT')!.rules;
    expect(one(r1!, pkt(), h)).toBe(false);
    expect(one(r2!, pkt(), h)).toBe(false);
    expect(seen).toEqual([
      { kind: 'set', name: 'S', flags: ['dst'], invert: true, returnNomatch: true, updateCounters: false, updateSubcounters: true, packets: null, bytes: { op: 'ne', value: 7n } },
      { kind: 'set', name: 'S', flags: ['dst'], invert: false, returnNomatch: false, updateCounters: true, updateSubcounters: true, packets: null, bytes: null },
    ]);
  });

  it('--return-nomatch: a nomatch member matches, a member does not', () => {
    const sets = new Ipsets();
    sets.restore(setsText);
    const rs = parseRestore('*filter\n-A OUTPUT -m set --match-set N dst --return-nomatch\nCOMMIT\n');
    const r = rs.chain('filter', 'OUTPUT')!.rules[0]!;
    expect([udp('10.1.0.1', 53, 60), udp('10.2.0.1', 53, 60), udp('11.0.0.1', 53, 60)].map((p) => one(r, p, withSets(sets)))).toEqual([true, false, false]);
  });

  it('matches run in rule order: a set before a failing match counts, a set after one is never looked at', () => {
    const sets = new Ipsets();
    sets.restore(setsText);
    const rs = parseRestore([
      '*filter',
      '-A OUTPUT -p udp -m set --match-set B dst -m udp --dport 54',
      '-A OUTPUT -p udp -m udp --dport 54 -m set --match-set N dst --packets-gt 1',
      '-A OUTPUT -m set --match-set N dst ! --update-counters --packets-eq 1',
      'COMMIT', '',
    ].join('\n'));
    const ev = new Evaluator(rs, withSets(sets));
    for (const [dport, length] of [[53, 60], [54, 70], [54, 80]] as const) ev.run('filter', 'OUTPUT', udp('10.0.0.1', dport, length));
    expect(rs.chain('filter', 'OUTPUT')!.rules.map((r) => r.counters)).toEqual([{ packets: 2, bytes: 150 }, { packets: 1, bytes: 80 }, { packets: 1, bytes: 70 }]);
    expect(sets.save().split('\n').filter((l) => l.startsWith('add ')).sort()).toEqual([
      'add B 53 packets 1 bytes 60', 'add B 54 packets 2 bytes 150', 'add N 10.0.0.0/8 packets 2 bytes 150', 'add N 10.1.0.0/16 nomatch packets 0 bytes 0',
    ]);
  });
});
