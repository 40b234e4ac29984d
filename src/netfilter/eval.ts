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
 *    continues; LOG and TRACE add a trace line and continue.
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
 * Scale: a chain of 16 rules or more is walked through its compiled index
 * (CompiledChain below: rules with an exact destination listed by address, so
 * a packet checks only its service's rule and the rules that match any
 * destination), while `checked` still counts every rule the kernel would
 * have checked.
 * Neighbours: model.ts (the rules), ipset.ts (`-m set`), the caller gives
 * the host facts `addrtype` needs.
 */
import type { AddrType, Chain, CtStateName, Hook, IfaceMatch, Match, PortRange, Rule, Ruleset, TableName, Target } from './model.js';
import { Mulberry32 } from '../rng.js';
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
  ctMark: number;
  physIn: string | null;
  physOut: string | null;
  bridged: boolean;
}

/** What the host tells `-m addrtype` and `-m set` (the evaluator knows no routes). */
export interface NfHost {
  /** the address type the host's routing gives 'addr' (LOCAL for its own addresses, BROADCAST, …) */
  addrType(addr: number, iface: string | null): AddrType;
  /** ipset lookup; absent: any -m set rule fails with an error */
  setMatches?(name: string, flags: ('src' | 'dst')[], pkt: NfPacket): boolean;
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

export class Evaluator {
  readonly rs: Ruleset;
  private readonly host: NfHost;
  private readonly rng: Mulberry32;
  /** per-rule nth counters */
  private readonly nth = new WeakMap<Match, number>();
  private readonly indexes = new WeakMap<Chain, CompiledChain>();

  constructor(rs: Ruleset, host: NfHost, seed = 1) {
    this.rs = rs;
    this.host = host;
    this.rng = new Mulberry32(seed);
  }

  /** Walk 'table' from the built-in chain of 'hook' with 'pkt'; 'pkt.mark' may change (MARK). */
  run(table: TableName, hook: Hook, pkt: NfPacket): RunResult {
    const traversed: TraceRule[] = [];
    const start = this.rs.chain(table, hook);
    if (start === undefined) throw new NetfilterError('NF_NO_CHAIN', `table ${table} has no chain ${hook}`);
    // the return stack: [chain, next rule index]
    const stack: [Chain, number][] = [];
    let chain = start, i = 0;
    /** rules the kernel would have checked (the compiled index skips some it knows cannot match) */
    let checked = 0;
    for (let steps = 0; ; steps++) {
      if (steps > 1_000_000) throw new NetfilterError('NF_LOOP', `rule traversal in ${table} does not end (a jump loop)`);
      const n = chain.rules.length;
      // the next rule that can match: every rule from i on, or the compiled index's next candidate
      const ix = this.compiled(table, chain);
      const next = ix.next(i, pkt.dst);
      if (next >= n) {
        checked += n - i;
        // end of chain: a user chain returns, a built-in chain applies its policy
        if (chain.policy === null) {
          const back = stack.pop();
          if (back === undefined) return this.policy(table, start, pkt, traversed, checked);
          [chain, i] = back;
          continue;
        }
        return this.policy(table, chain, pkt, traversed, checked);
      }
      checked += next - i + 1;
      i = next;
      const rule = chain.rules[i]!;
      const num = i + 1;
      i++;
      const matched = this.matches(rule, pkt);
      const tr: TraceRule = { table, chain: chain.name, num, matched, rule };
      traversed.push(tr);
      if (!matched) continue;
      rule.counters.packets++;
      rule.counters.bytes += pkt.length;
      const t = rule.target;
      if (t === null) continue;
      switch (t.kind) {
        case 'ACCEPT': case 'DROP': return { verdict: { kind: t.kind }, rule, traversed, checked };
        case 'REJECT': return { verdict: { kind: 'REJECT', with: t.with }, rule, traversed, checked };
        case 'DNAT': case 'SNAT': case 'MASQUERADE': case 'REDIRECT': return { verdict: { kind: 'NAT', target: t }, rule, traversed, checked };
        case 'RETURN': {
          const back = stack.pop();
          if (back === undefined) return this.policy(table, start, pkt, traversed, checked);
          [chain, i] = back;
          break;
        }
        case 'jump': case 'goto': {
          const target = ix.jumpTo[i - 1];
          if (target === null || target === undefined) throw new NetfilterError('NF_NO_CHAIN', `rule ${num} of ${table} ${chain.name} jumps to missing chain ${t.chain}`);
          if (t.kind === 'jump') {
            if (stack.length >= MAX_JUMPS) throw new NetfilterError('NF_LOOP', `more than ${MAX_JUMPS} nested jumps in ${table}`);
            stack.push([chain, i]);
          }
          chain = target;
          i = 0;
          break;
        }
        case 'MARK': pkt.mark = ((pkt.mark & ~t.mask) ^ t.value) >>> 0; break;
        case 'LOG': tr.log = `${t.prefix ?? ''}IN=${pkt.inIface ?? ''} OUT=${pkt.outIface ?? ''}`; break;
        case 'TRACE': tr.log = `TRACE: ${table}:${chain.name}:rule:${num}`; break;
      }
    }
  }

  /** The compiled form of 'c' in 'table', rebuilt when its rule list changed. */
  private compiled(table: TableName, c: Chain): CompiledChain {
    let ix = this.indexes.get(c);
    if (ix === undefined || ix.rules !== c.rules || ix.length !== c.rules.length) {
      ix = new CompiledChain(c.rules, (name) => this.rs.chain(table, name) ?? null);
      this.indexes.set(c, ix);
    }
    return ix;
  }

  private policy(table: TableName, chain: Chain, pkt: NfPacket, traversed: TraceRule[], checked: number): RunResult {
    chain.counters.packets++;
    chain.counters.bytes += pkt.length;
    traversed.push({ table, chain: chain.name, num: 0, matched: true, rule: null });
    return { verdict: { kind: chain.policy ?? 'ACCEPT' }, rule: null, traversed, checked };
  }

  /** The generic part and every extension match of 'r'. */
  matches(r: Rule, p: NfPacket): boolean {
    if (r.src !== null && (((p.src & r.src.mask) >>> 0) === ((r.src.addr & r.src.mask) >>> 0)) === r.src.invert) return false;
    if (r.dst !== null && (((p.dst & r.dst.mask) >>> 0) === ((r.dst.addr & r.dst.mask) >>> 0)) === r.dst.invert) return false;
    if (r.proto !== null && r.proto.num !== 0 && (p.proto === r.proto.num) === r.proto.invert) return false;
    if (r.in !== null && !ifaceMatches(r.in, p.inIface)) return false;
    if (r.out !== null && !ifaceMatches(r.out, p.outIface)) return false;
    if (r.fragment !== null && p.fragment === r.fragment.invert) return false;
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
          const hit = (this.rng.nextI32() >>> 1) < Math.round(m.probability * 0x80000000);
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
        return this.host.setMatches(m.name, m.flags, p) !== m.invert;
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

function inRange(r: PortRange, port: number): boolean {
  return port >= r.min && port <= r.max;
}

/** `-i eth0`, `-i eth+` (prefix), with `!`; a packet without that interface never matches a positive test. */
function ifaceMatches(m: IfaceMatch, iface: string | null): boolean {
  const hit = iface !== null && (m.wildcard ? iface.startsWith(m.name) : iface === m.name);
  return hit !== m.invert;
}

/** Chains shorter than this are walked rule by rule (an index would not pay). */
const INDEX_MIN_RULES = 16;

/**
 * A chain compiled for the walk: the chains its jumps and gotos name,
 * resolved (no name lookup per packet), and for a chain of INDEX_MIN_RULES
 * rules or more an index: the rules with an exact destination address
 * (`-d a.b.c.d/32`, not negated — KUBE-SERVICES' one rule per service port)
 * listed by that address, every other rule in a "wild" list, both in rule
 * order. `next(i, dst)` is the first rule at or after i that can match a
 * packet to 'dst': the smaller of the next entry of dst's list and of the
 * wild list (binary search; no allocation). Rules it skips have a different
 * exact destination, so the kernel checks them and they fail on their first
 * test — nothing they contain (an nth counter) runs; the caller counts them
 * as checked. Rebuilt when the chain's rule list changes (the jump targets
 * are resolved then; restore refuses a jump to a missing chain).
 */
class CompiledChain {
  readonly rules: Rule[];
  readonly length: number;
  /** per rule: the chain a jump/goto names (null: not a jump, or the chain is missing) */
  readonly jumpTo: (Chain | null)[];
  private readonly indexed: boolean;
  private readonly byDst = new Map<number, Int32Array>();
  private readonly wild: Int32Array;

  constructor(rules: Rule[], resolve: (name: string) => Chain | null) {
    this.rules = rules;
    this.length = rules.length;
    this.jumpTo = rules.map((r) => (r.target !== null && (r.target.kind === 'jump' || r.target.kind === 'goto') ? resolve(r.target.chain) : null));
    this.indexed = rules.length >= INDEX_MIN_RULES;
    const by = new Map<number, number[]>();
    const wild: number[] = [];
    if (this.indexed) {
      rules.forEach((r, i) => {
        if (r.dst !== null && !r.dst.invert && r.dst.mask === 0xffffffff) {
          const l = by.get(r.dst.addr);
          if (l === undefined) by.set(r.dst.addr, [i]); else l.push(i);
        } else {
          wild.push(i);
        }
      });
    }
    for (const [a, l] of by) this.byDst.set(a, Int32Array.from(l));
    this.wild = Int32Array.from(wild);
  }

  next(i: number, dst: number): number {
    if (!this.indexed) return i;
    const a = firstAtLeast(this.wild, i);
    const l = this.byDst.get(dst >>> 0);
    const b = l === undefined ? this.length : firstAtLeast(l, i);
    return a < b ? a : b;
  }
}

/** The first value ≥ 'i' in the sorted 'list', or a value past every rule. */
function firstAtLeast(list: Int32Array, i: number): number {
  let lo = 0, hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]! < i) lo = mid + 1; else hi = mid;
  }
  return lo < list.length ? list[lo]! : 0x7fffffff;
}
