/**
 * Chain traversal (netfilter layer): one packet through one table's chain,
 * as the kernel's ipt_do_table walks it.
 *
 * What: `Evaluator.run(table, hook, pkt, trace)` starts at the built-in
 * chain of 'hook' and checks each rule in order: the generic part (`-s`,
 * `-d`, `-p`, `-i`, `-o`, `-f`, each with `!`), then every extension match
 * in order; on a full match it counts the packet and bytes on the rule and
 * runs the target:
 *  - ACCEPT / DROP / REJECT end the traversal with that verdict (REJECT's
 *    reply packet is built by the caller, which knows the routes);
 *  - RETURN pops back to the calling chain (from a built-in chain: the
 *    policy); a jump pushes the next rule of this chain as the return point,
 *    a goto does not (a RETURN from a goto'd chain returns to the chain that
 *    jumped into the caller), as xt_do_table's jumpstack does;
 *  - DNAT / SNAT / MASQUERADE / REDIRECT end the traversal with the NAT
 *    decision (ACCEPT plus the binding) for the caller to apply through
 *    conntrack — the nat table only sees a connection's first packet;
 *  - MARK changes the packet's mark (XMARK: (mark & ~mask) ^ value) and
 *    continues; CONNMARK sets, saves to or restores from the connection's
 *    mark (`ctMark`, which the caller writes back) and continues; LOG and
 *    TRACE add a trace line and continue.
 * Falling off the end of a built-in chain applies its policy (with its
 * counters); of a user chain, returns.
 * `-m statistic --mode nth` keeps one counter per rule, counting only
 * packets that reach the match (BEHAVIOUR.md Linux §1); `--mode random`
 * draws from the evaluator's seeded RNG, so a run replays exactly.
 * The trace lists every rule traversed (table, chain, rule number as
 * `iptables -L --line-numbers` counts them, whether it matched), the count
 * users compare between iptables and ipvs.
 * Loops: restore refuses jump loops; the evaluator still bounds the jump
 * stack (the kernel's 1024 jumps) and reports an error instead of hanging.
 * Scale: the walk runs over the table compiled into typed arrays
 * (compile.ts: one cache line per rule, the common matches inline, long
 * chains indexed by exact destination, so a packet checks only its
 * service's rule and the rules that match any destination), while `checked`
 * still counts every rule the kernel would have checked. `walk` is the
 * allocation-free form (the trace kept as slot numbers, counters in the
 * compiled table); `run` adds the TraceRule list and flushes the counters.
 * Stateful matches ask the host (NfHost): `-m set` its ipsets, `-m recent`
 * its recent lists (on its clock; each check adds a note to the rule's
 * trace entry), `-m nfacct` its counters, `-m ipvs` its IPVS connection.
 * Deferred loads: `defer(load)` queues a restore to run at the first read
 * of the rules (`rs`), so a payload that thousands of nodes load alike
 * costs only on the nodes whose packets meet it (KubeProxyFleet, the CNI).
 * Neighbours: model.ts (the rules), compile.ts (their compiled form), ipset.ts (`-m set`), recent.ts
 * (`-m recent`, nfacct), the caller gives the host facts `addrtype` needs.
 */
import type { AddrType, Counters, CtStateName, Hook, IfaceMatch, IpvsMatch, Match, PortRange, RecentMatch, Rule, Ruleset, TableName, Target } from './model.js';
import {
  C_END, C_POLICY, C_START, CHAIN_WORDS, CompiledTable, F_DPORT, F_DPORT_INV, F_DST, F_DST_INV, F_L4, F_MARK, F_MARK_INV, F_PROTO,
  F_PROTO_INV, F_SLOW_EXT, F_SLOW_GENERIC, F_SPORT, F_SPORT_INV, F_SRC, F_SRC_INV, F_STAT, F_STAT_INV, F_TCPFLAGS, F_TCPFLAGS_INV,
  F_X_MATCH, NO_CHAIN, T_ACCEPT, T_CONNMARK, T_DROP, T_GOTO, T_JUMP, T_LOG, T_MARK, T_NAT, T_NONE, T_REJECT, T_RETURN, T_TRACE, W_ARG, W_DPORT,
  W_DST, W_DST_MASK, W_FLAGS, W_PROTO, W_SRC, W_SRC_MASK, WORDS, X_ARG2, X_MARK, X_MARK_MASK, X_SPORT, X_STAT, X_TCPFLAGS,
} from './compile.js';
import { Mulberry32 } from '../rng.js';
import { ipv4ToString } from '../wire/bytes.js';
import { SdnemuError } from '../errors.js';

/** The packet as the rules see it (decoded once by the caller). */
export interface NfPacket {
  src: number;
  dst: number;
  /** IP protocol number */
  proto: number;
  /** TCP/UDP ports; ICMP: sport = type, dport = code */
  sport: number;
  dport: number;
  /** TCP flags byte (FIN 1, SYN 2, RST 4, PSH 8, ACK 16, URG 32) */
  tcpFlags: number;
  /** a later fragment (-f matches it) */
  fragment: boolean;
  /** IP total length (what counters count) */
  length: number;
  inIface: string | null;
  outIface: string | null;
  /** skb mark */
  mark: number;
  /** connection state as -m conntrack --ctstate names it, plus SNAT/DNAT when the connection is NATed */
  ctStates: ReadonlySet<CtStateName>;
  /** the connection's mark (`-m connmark`); CONNMARK changes it, the caller stores it on the connection */
  ctMark: number;
  physIn: string | null;
  physOut: string | null;
  bridged: boolean;
}

/** What the host tells `-m addrtype` and `-m set` (the evaluator knows no routes). */
export interface NfHost {
  /** the address type the host's routing gives 'addr' (LOCAL for its own addresses, BROADCAST, …) */
  addrType(addr: number, iface: string | null): AddrType;
  /**
   * ipset lookup of `-m set --match-set 'name' 'flags'` with the match's
   * other options in 'm' (--return-nomatch, counter update and conditions;
   * the test may count on the set's members), before `!`; absent: any
   * -m set rule fails with an error
   */
  setMatches?(name: string, flags: ('src' | 'dst')[], pkt: NfPacket, m: Extract<Match, { kind: 'set' }>): boolean;
  /**
   * xt_recent's answer to `-m recent` 'm' for 'pkt' (its `!` already
   * applied, as recent_mt returns it), changing the namespace's list; absent:
   * any -m recent rule fails with an error
   */
  recent?(m: RecentMatch, pkt: NfPacket): boolean;
  /** `-m nfacct`: count 'pkt' into the object 'name'; the match's answer (true: no quota) */
  nfacct?(name: string, pkt: NfPacket): boolean;
  /** `-m ipvs`: does 'pkt' belong to an IPVS connection as 'm' asks (xt_ipvs's ipvs_mt) */
  ipvs?(m: IpvsMatch, pkt: NfPacket): boolean;
}

export interface TraceRule {
  table: TableName;
  chain: string;
  /** 1-based position in the chain (`--line-numbers`); 0 for the policy */
  num: number;
  matched: boolean;
  rule: Rule | null;
  /** LOG/TRACE text, when the rule logged */
  log?: string;
  /** what stateful matches did while the rule was checked (`recent --rcheck KUBE-SEP-X src 10.0.0.1: hit`) */
  notes?: string[];
}

export type Verdict =
  | { kind: 'ACCEPT' | 'DROP' }
  | { kind: 'REJECT'; with: string }
  | { kind: 'NAT'; target: Extract<Target, { kind: 'DNAT' | 'SNAT' | 'MASQUERADE' | 'REDIRECT' }> };

export interface RunResult {
  verdict: Verdict;
  /** the rule whose target decided (null: a policy) */
  rule: Rule | null;
  /** the rules evaluated, in order (with the compiled index, only those that could match) */
  traversed: TraceRule[];
  /** how many rules the kernel would have checked: what users compare between iptables and ipvs */
  checked: number;
}

export class NetfilterError extends SdnemuError {
  constructor(code: string, message: string) { super(code, message); this.name = 'NetfilterError'; }
}

/** The kernel's jump stack depth (xt_jumpstack). */
const MAX_JUMPS = 1024;

/** The verdict codes `walk` returns (compile.ts's target codes). */
export const WALK_ACCEPT = T_ACCEPT, WALK_DROP = T_DROP, WALK_REJECT = T_REJECT, WALK_NAT = T_NAT;

export class Evaluator {
  private readonly ruleset: Ruleset;
  /** restores waiting for the first reader of the rules (`defer`), in order */
  private pending: (() => void)[] | null = null;
  /** errors of deferred restores: none when their text was loaded on a node in the same state first (`defer`) */
  readonly deferredErrors: Error[] = [];
  private readonly host: NfHost;
  private readonly rng: Mulberry32;
  /** per-rule nth counters */
  private readonly nth = new WeakMap<Match, number>();
  /** this evaluator's counters of rules in shared chains (model.ts sharedChains) */
  private readonly ownCounters = new WeakMap<Rule, Counters>();
  private readonly tables = new Map<TableName, CompiledTable>();
  /** the last walk: its table, the deciding slot (-1: a policy), the kernel's rule count */
  private ct: CompiledTable | null = null;
  private lastSlot = -1;
  /** rules the kernel would have checked in the last walk */
  lastChecked = 0;
  /** the last walk's trace: slot * 2 + matched per rule evaluated, -(chain + 1) for a policy */
  private tr = new Int32Array(64);
  private trN = 0;
  /** LOG/TRACE lines of the last walk, by trace position (null: none) */
  private logs: { at: number; text: string }[] | null = null;
  /** notes of stateful matches in the last walk, by trace position (null: none) */
  private notes: { at: number; text: string }[] | null = null;
  private readonly stackC = new Int32Array(MAX_JUMPS);
  private readonly stackI = new Int32Array(MAX_JUMPS);
  /**
   * A forced load-balancing choice (a trace fork, `forceRandom`): -1 none; else the
   * `statistic --mode random` matches this packet meets answer no until the one of this index.
   */
  private forced = -1;
  private forcedSeen = 0;

  constructor(rs: Ruleset, host: NfHost, seed = 1) {
    this.ruleset = rs;
    this.host = host;
    this.rng = new Mulberry32(seed);
  }

  /** The rules (after any deferred restores: they run at the first read). */
  get rs(): Ruleset {
    if (this.pending !== null) this.settle();
    return this.ruleset;
  }

  /**
   * Run 'load' (a restore into these rules) before anything next reads them — a packet's walk,
   * an iptables-save, another restore — instead of now. For a payload that many nodes load
   * alike (kube-proxy's, KubeProxyFleet): the first node loads it at once, which checks it;
   * the others pay only when one of their packets meets the rules. A deferred load that fails
   * anyway (the node's rules were not in the first one's state) is kept in `deferredErrors`;
   * the rules stay as they were, as after any failed restore.
   */
  defer(load: () => void): void {
    (this.pending ??= []).push(load);
  }

  /** Restores waiting for the first reader. */
  get deferred(): number { return this.pending?.length ?? 0; }

  private settle(): void {
    const loads = this.pending!;
    this.pending = null;
    for (const load of loads) {
      try { load(); } catch (e) { this.deferredErrors.push(e as Error); }
    }
  }

  /** Walk 'table' from the built-in chain of 'hook' with 'pkt' ('pkt.mark' may change: MARK); the verdict, the rules traversed. */
  run(table: TableName, hook: Hook, pkt: NfPacket): RunResult {
    const code = this.walk(table, hook, pkt);
    const ct = this.ct!;
    const traversed: TraceRule[] = [];
    for (let k = 0; k < this.trN; k++) {
      const e = this.tr[k]!;
      if (e < 0) {
        traversed.push({ table, chain: ct.chains[-e - 1]!.name, num: 0, matched: true, rule: null });
        continue;
      }
      const s = e >> 1, c = ct.chainOf[s]!;
      traversed.push({ table, chain: ct.chains[c]!.name, num: s - ct.cw[c * CHAIN_WORDS + C_START]! + 1, matched: (e & 1) === 1, rule: ct.rules[s]! });
    }
    if (this.logs !== null) for (const l of this.logs) traversed[l.at]!.log = l.text;
    if (this.notes !== null) for (const n of this.notes) (traversed[n.at]!.notes ??= []).push(n.text);
    ct.flush(this.ownCounters);
    const rule = this.lastSlot < 0 ? null : ct.rules[this.lastSlot]!;
    const t = rule?.target;
    let verdict: Verdict;
    if (code === T_REJECT && t?.kind === 'REJECT') verdict = { kind: 'REJECT', with: t.with };
    else if (code === T_NAT && (t?.kind === 'DNAT' || t?.kind === 'SNAT' || t?.kind === 'MASQUERADE' || t?.kind === 'REDIRECT')) verdict = { kind: 'NAT', target: t };
    else verdict = { kind: code === T_DROP ? 'DROP' : 'ACCEPT' };
    return { verdict, rule, traversed, checked: this.lastChecked };
  }

  /**
   * The walk itself, as ipt_do_table: returns WALK_ACCEPT, WALK_DROP,
   * WALK_REJECT or WALK_NAT; `lastChecked` is the kernel's rule count. The
   * trace stays in the evaluator (typed, no allocation) until `run` turns it
   * into TraceRules; rule counters stay in the compiled table until
   * `flushCounters` (run flushes).
   */
  walk(table: TableName, hook: Hook, p: NfPacket): number {
    const ct = this.compiled(table);
    const start = ct.chainId.get(hook);
    if (start === undefined) throw new NetfilterError('NF_NO_CHAIN', `table ${table} has no chain ${hook}`);
    this.ct = ct;
    this.trN = 0;
    this.logs = null;
    this.notes = null;
    const w = ct.w, cw = ct.cw;
    let c = start, i = 0, depth = 0, checked = 0;
    for (let steps = 0; ; steps++) {
      if (steps > 1_000_000) throw new NetfilterError('NF_LOOP', `rule traversal in ${table} does not end (a jump loop)`);
      const base = cw[c * CHAIN_WORDS + C_START]!, n = cw[c * CHAIN_WORDS + C_END]! - base;
      // the next rule that can match: every rule from i on, or the index's next candidate
      const next = ct.next(c, i, p.dst);
      if (next >= n) {
        checked += n - i;
        // end of chain: a user chain returns, a built-in chain applies its policy
        const user = cw[c * CHAIN_WORDS + C_POLICY] === 0;
        if (user && depth > 0) {
          depth--;
          c = this.stackC[depth]!; i = this.stackI[depth]!;
          continue;
        }
        return this.policy(ct, user ? start : c, p, checked);
      }
      checked += next - i + 1;
      i = next;
      const s = base + i;
      i++;
      const matched = this.test(ct, s, p);
      this.trace(s * 2 + (matched ? 1 : 0));
      if (!matched) continue;
      ct.count(s, p.length);
      const o = s * WORDS;
      const code = w[o + W_PROTO]! >>> 16;
      switch (code) {
        case T_NONE: break;
        case T_ACCEPT: case T_DROP: case T_REJECT: case T_NAT:
          this.lastSlot = s;
          this.lastChecked = checked;
          return code;
        case T_RETURN:
          if (depth === 0) return this.policy(ct, start, p, checked);
          depth--;
          c = this.stackC[depth]!; i = this.stackI[depth]!;
          break;
        case T_JUMP: case T_GOTO: {
          const to = w[o + W_ARG]!;
          if (to === NO_CHAIN) {
            const r = ct.rules[s]!;
            throw new NetfilterError('NF_NO_CHAIN', `rule ${s - base + 1} of ${table} ${ct.chains[c]!.name} jumps to missing chain ${r.target?.kind === 'jump' || r.target?.kind === 'goto' ? r.target.chain : '?'}`);
          }
          if (code === T_JUMP) {
            if (depth >= MAX_JUMPS) throw new NetfilterError('NF_LOOP', `more than ${MAX_JUMPS} nested jumps in ${table}`);
            this.stackC[depth] = c; this.stackI[depth] = i;
            depth++;
          }
          c = to;
          i = 0;
          break;
        }
        case T_MARK: p.mark = ((p.mark & ~ct.x[o + X_ARG2]!) ^ w[o + W_ARG]!) >>> 0; break;
        case T_LOG: {
          const t = ct.rules[s]!.target as Extract<Target, { kind: 'LOG' }>;
          (this.logs ??= []).push({ at: this.trN - 1, text: `${t.prefix ?? ''}IN=${p.inIface ?? ''} OUT=${p.outIface ?? ''}` });
          break;
        }
        case T_CONNMARK: {
          // xt_CONNMARK: only a packet with a connection (the stack writes ctMark back to it)
          if (p.ctStates.has('UNTRACKED') || p.ctStates.has('INVALID')) break;
          const t = ct.rules[s]!.target as Extract<Target, { kind: 'CONNMARK' }>;
          if (t.mode === 'set') p.ctMark = ((p.ctMark & ~t.ctmask) ^ t.value) >>> 0;
          else if (t.mode === 'save') p.ctMark = ((p.ctMark & ~t.ctmask) ^ (p.mark & t.nfmask)) >>> 0;
          else p.mark = ((p.mark & ~t.nfmask) ^ (p.ctMark & t.ctmask)) >>> 0;
          break;
        }
        case T_TRACE: (this.logs ??= []).push({ at: this.trN - 1, text: `TRACE: ${table}:${ct.chains[c]!.name}:rule:${s - base + 1}` }); break;
      }
    }
  }

  /** The compiled form of 'table', rebuilt when the table object was replaced (parseRestore) or after `invalidate`. */
  private compiled(table: TableName): CompiledTable {
    const t = this.rs.table(table);
    let ct = this.tables.get(table);
    if (ct === undefined || ct.table !== t) {
      ct?.flush(this.ownCounters);
      ct = CompiledTable.of(t);
      this.tables.set(table, ct);
    }
    return ct;
  }

  /** After changing rules in place (not through parseRestore): recompile before the next walk. */
  invalidate(): void {
    this.flushCounters();
    this.tables.clear();
  }

  /** Rule 'r''s counters on this node (a rule of a shared chain has its own here). */
  countersOf(r: Rule): Counters {
    this.flushCounters();
    return this.ownCounters.get(r) ?? r.counters;
  }

  /** Add the rule counters of every walk since the last flush to the rule objects. */
  flushCounters(): void {
    for (const ct of this.tables.values()) ct.flush(this.ownCounters);
  }

  private trace(e: number): void {
    if (this.trN === this.tr.length) {
      const bigger = new Int32Array(this.tr.length * 2);
      bigger.set(this.tr);
      this.tr = bigger;
    }
    this.tr[this.trN++] = e;
  }

  private policy(ct: CompiledTable, c: number, pkt: NfPacket, checked: number): number {
    const chain = ct.chains[c]!;
    chain.counters.packets++;
    chain.counters.bytes += pkt.length;
    this.trace(-(c + 1));
    this.lastSlot = -1;
    this.lastChecked = checked;
    return chain.policy === 'DROP' ? T_DROP : T_ACCEPT;
  }

  /** Does the rule in 'slot' match 'p': the inline words first, the rest through the rule object, in the kernel's order. */
  private test(ct: CompiledTable, slot: number, p: NfPacket): boolean {
    const w = ct.w, o = slot * WORDS, f = w[o + W_FLAGS]!;
    if ((f & F_SRC) !== 0 && ((p.src & w[o + W_SRC_MASK]!) === w[o + W_SRC]) === ((f & F_SRC_INV) !== 0)) return false;
    if ((f & F_DST) !== 0 && ((p.dst & w[o + W_DST_MASK]!) === w[o + W_DST]) === ((f & F_DST_INV) !== 0)) return false;
    const pw = w[o + W_PROTO]!;
    if ((f & F_PROTO) !== 0 && (p.proto === (pw & 0xff)) === ((f & F_PROTO_INV) !== 0)) return false;
    if ((f & (F_SLOW_GENERIC | F_SLOW_EXT)) !== 0) {
      const r = ct.rules[slot]!;
      if ((f & F_SLOW_GENERIC) !== 0 && !genericRest(r, p)) return false;
      if ((f & F_SLOW_EXT) !== 0) {
        for (const m of r.matches) if (!this.match(m, p)) return false;
        return true;
      }
    }
    if ((f & F_L4) !== 0) {
      // a later fragment has no ports: the kernel's tcp/udp matches never match it
      if (p.fragment || p.proto !== ((pw >>> 8) & 0xff)) return false;
      if ((f & F_DPORT) !== 0) {
        const r = w[o + W_DPORT]!;
        if ((p.dport >= (r & 0xffff) && p.dport <= r >>> 16) === ((f & F_DPORT_INV) !== 0)) return false;
      }
    }
    if ((f & F_X_MATCH) === 0) return true;
    // the tests kept in the extra row
    const x = ct.x;
    if ((f & F_SPORT) !== 0) {
      const r = x[o + X_SPORT]!;
      if ((p.sport >= (r & 0xffff) && p.sport <= r >>> 16) === ((f & F_SPORT_INV) !== 0)) return false;
    }
    if ((f & F_TCPFLAGS) !== 0) {
      const t = x[o + X_TCPFLAGS]!;
      if (((p.tcpFlags & t & 0xff) === (t >>> 8)) === ((f & F_TCPFLAGS_INV) !== 0)) return false;
    }
    if ((f & F_MARK) !== 0 && ((p.mark & x[o + X_MARK_MASK]!) === x[o + X_MARK]) === ((f & F_MARK_INV) !== 0)) return false;
    // xt_statistic random, last: (draw & 0x7fffffff) < threshold, stored as threshold - 1
    if ((f & F_STAT) !== 0 && (this.forced >= 0 ? this.forcedDraw() : (this.rng.nextI32() >>> 1) <= x[o + X_STAT]!) === ((f & F_STAT_INV) !== 0)) return false;
    return true;
  }

  /**
   * Force the next random draws (a trace fork: what would the k-th of a
   * kube-proxy Service's endpoints have done): the `statistic --mode random`
   * matches met from now on say no, except the one of index 'k' (0-based),
   * which says yes; -1 goes back to random draws. A chain of n−1 random
   * rules and a last unconditional one thus takes its k-th target, k = n−1
   * the last. The draws are not taken from the generator.
   */
  forceRandom(k: number): void {
    this.forced = k;
    this.forcedSeen = 0;
  }

  /** Did the forced choice meet a random rule? */
  forcedUsed(): boolean {
    return this.forced >= 0 && this.forcedSeen > 0;
  }

  private forcedDraw(): boolean {
    return this.forcedSeen++ === this.forced;
  }

  /**
   * A load-balancing decision in 'chain' of 'table' around rule 'rule': the
   * run of `statistic --mode random` rules it belongs to and the rule after
   * them — kube-proxy's KUBE-SVC- chain — as its choices (each rule's jump
   * target, or its number), and which one the packet took: the first of
   * them among the rules it 'matched' (-1: none). Null when 'rule' is not
   * such a rule.
   */
  balance(table: TableName, chain: string, rule: Rule, matched: readonly Rule[]): { choices: string[]; chosen: number } | null {
    const rules = this.rs.table(table).chains.get(chain)?.rules;
    const at = rules?.indexOf(rule) ?? -1;
    if (rules === undefined || at < 0) return null;
    const random = (r: Rule): boolean => r.matches.some((m) => m.kind === 'statistic' && m.mode === 'random' && !m.invert);
    let first = at;
    while (first > 0 && random(rules[first - 1]!)) first--;
    let last = at;
    while (last < rules.length - 1 && random(rules[last]!)) last++;
    if (!random(rules[first]!)) return null;
    const group = rules.slice(first, last + 1);
    const name = (r: Rule): string => (r.target?.kind === 'jump' || r.target?.kind === 'goto' ? r.target.chain : `rule ${rules.indexOf(r) + 1}`);
    return { choices: group.map(name), chosen: group.findIndex((r) => matched.includes(r)) };
  }

  /** The generic part and every extension match of 'r'. */
  matches(r: Rule, p: NfPacket): boolean {
    if (r.src !== null && (((p.src & r.src.mask) >>> 0) === ((r.src.addr & r.src.mask) >>> 0)) === r.src.invert) return false;
    if (r.dst !== null && (((p.dst & r.dst.mask) >>> 0) === ((r.dst.addr & r.dst.mask) >>> 0)) === r.dst.invert) return false;
    if (r.proto !== null && r.proto.num !== 0 && (p.proto === r.proto.num) === r.proto.invert) return false;
    if (!genericRest(r, p)) return false;
    for (const m of r.matches) if (!this.match(m, p)) return false;
    return true;
  }

  private match(m: Match, p: NfPacket): boolean {
    switch (m.kind) {
      case 'tcp': case 'udp': {
        // a later fragment has no ports: the kernel's tcp/udp matches never match it
        if (p.fragment || p.proto !== (m.kind === 'tcp' ? 6 : 17)) return false;
        if (m.sport !== null && inRange(m.sport, p.sport) === m.sportInvert) return false;
        if (m.dport !== null && inRange(m.dport, p.dport) === m.dportInvert) return false;
        if (m.tcpFlags !== null && ((p.tcpFlags & m.tcpFlags.mask) === m.tcpFlags.comp) === m.tcpFlags.invert) return false;
        return true;
      }
      case 'icmp': {
        if (p.fragment || p.proto !== 1) return false;
        // type 255 is "any"
        const hit = m.type === 255 || (p.sport === m.type && (m.code === null || p.dport === m.code));
        return hit !== m.invert;
      }
      case 'multiport': {
        if (p.fragment || (p.proto !== 6 && p.proto !== 17 && p.proto !== 132 && p.proto !== 33 && p.proto !== 136)) return false;
        let hit = false;
        for (const r of m.ports) {
          if ((m.which !== 'dports' && inRange(r, p.sport)) || (m.which !== 'sports' && inRange(r, p.dport))) { hit = true; break; }
        }
        return hit !== m.invert;
      }
      case 'comment': return true;
      case 'mark': return (((p.mark & m.mask) >>> 0) === (m.value >>> 0)) !== m.invert;
      case 'connmark': return (((p.ctMark & m.mask) >>> 0) === (m.value >>> 0)) !== m.invert;
      case 'conntrack': case 'state': {
        let hit = false;
        for (const s of m.states) if (p.ctStates.has(s)) { hit = true; break; }
        return hit !== m.invert;
      }
      case 'addrtype': {
        if (m.srcType !== null && m.srcType.includes(this.host.addrType(p.src, m.limitIfaceIn ? p.inIface : m.limitIfaceOut ? p.outIface : null)) === m.srcInvert) return false;
        if (m.dstType !== null && m.dstType.includes(this.host.addrType(p.dst, m.limitIfaceIn ? p.inIface : m.limitIfaceOut ? p.outIface : null)) === m.dstInvert) return false;
        return true;
      }
      case 'statistic': {
        if (m.mode === 'random') {
          // xt_statistic: (get_random_u32() & 0x7fffffff) < lround(probability * 2^31), as iptables stores it
          const hit = this.forced >= 0 ? this.forcedDraw() : (this.rng.nextI32() >>> 1) < Math.round(m.probability * 0x80000000);
          return hit !== m.invert;
        }
        // nth as xt_statistic: iptables stores every-1 and starts the counter at (every-1)-packet;
        // each packet reaching the match advances it, wrapping after every-1, and matches on 0
        // (so --every 2 --packet 0 takes the 1st, 3rd, … packet that gets here)
        const last = m.every - 1;
        const c = this.nth.get(m) ?? last - m.packet;
        const n = c === last ? 0 : c + 1;
        this.nth.set(m, n);
        return (n === 0) !== m.invert;
      }
      case 'set': {
        if (this.host.setMatches === undefined) throw new NetfilterError('NF_NO_SET', `-m set --match-set ${m.name}: no ipsets are loaded`);
        return this.host.setMatches(m.name, m.flags, p, m) !== m.invert;
      }
      case 'recent': {
        if (this.host.recent === undefined) throw new NetfilterError('NF_NO_RECENT', `-m recent --name ${m.name}: this host keeps no recent lists`);
        const hit = this.host.recent(m, p);
        // the walk's next trace entry is this rule's
        (this.notes ??= []).push({ at: this.trN, text: `recent ${m.invert ? '! ' : ''}--${m.op} ${m.name} ${m.side} ${ipv4ToString(m.side === 'src' ? p.src : p.dst)}: ${hit ? 'match' : 'no match'}` });
        return hit;
      }
      case 'nfacct': {
        if (this.host.nfacct === undefined) throw new NetfilterError('NF_NO_NFACCT', `-m nfacct --nfacct-name ${m.name}: this host has no nfacct objects`);
        return this.host.nfacct(m.name, p);
      }
      case 'ipvs': {
        if (this.host.ipvs === undefined) throw new NetfilterError('NF_NO_IPVS', '-m ipvs: this host has no IPVS');
        return this.host.ipvs(m, p);
      }
      case 'physdev': {
        if (m.isBridged !== null && p.bridged !== m.isBridged) return false;
        if (m.physdevIn !== null && !ifaceMatches(m.physdevIn, p.physIn)) return false;
        if (m.physdevOut !== null && !ifaceMatches(m.physdevOut, p.physOut)) return false;
        if (m.isIn !== null && (p.physIn !== null) !== m.isIn) return false;
        if (m.isOut !== null && (p.physOut !== null) !== m.isOut) return false;
        return true;
      }
    }
  }
}

/** The generic tests after -s/-d/-p: `-i`, `-o`, `-f`. */
function genericRest(r: Rule, p: NfPacket): boolean {
  if (r.in !== null && !ifaceMatches(r.in, p.inIface)) return false;
  if (r.out !== null && !ifaceMatches(r.out, p.outIface)) return false;
  return r.fragment === null || p.fragment !== r.fragment.invert;
}

function inRange(r: PortRange, port: number): boolean {
  return port >= r.min && port <= r.max;
}

/** `-i eth0`, `-i eth+` (prefix), with `!`; a packet without that interface never matches a positive test. */
function ifaceMatches(m: IfaceMatch, iface: string | null): boolean {
  const hit = iface !== null && (m.wildcard ? iface.startsWith(m.name) : iface === m.name);
  return hit !== m.invert;
}
