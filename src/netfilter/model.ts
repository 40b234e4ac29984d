/**
 * The iptables rule model (netfilter layer, slow path): tables, chains,
 * rules, matches and targets as plain data.
 *
 * What: a `Ruleset` holds the four tables (raw, mangle, nat, filter), each a
 * map of chains in declaration order; a `Chain` has its rules, and for a
 * built-in chain its policy and counters; a `Rule` has the generic part of
 * an iptables rule (`-s/-d/-i/-o/-p/-f` with their `!`), its extension
 * matches in the order they were given, its target and its counters.
 * Why plain data: three consumers read it — restore.ts builds it from
 * `iptables-restore` text, save.ts prints it as `iptables-save` does, and the
 * evaluator (eval.ts) walks or compiles it — and none of them should own
 * the others' concerns.
 * Invariants: addresses are IPv4 numbers with a mask (not only a prefix:
 * iptables accepts `10.0.0.0/255.0.255.0`); ports are inclusive ranges;
 * MARK (and CONNMARK's set) targets are stored as the kernel's (value, mask)
 * XMARK pair, whatever option wrote them (`--set-mark`, `--or-mark` … as
 * iptables does);
 * `line` is the 1-based line of the rule in the restore input (0 when made
 * in code). The stateful matches (`-m recent`, `-m nfacct`, `-m ipvs`) are
 * plain data here too; their state (recent lists, nfacct objects, IPVS
 * connections) belongs to the host that evaluates them (recent.ts, ipvs.ts).
 * Neighbours: restore.ts, save.ts, eval.ts; recent.ts; conntrack/ for ct state names.
 */

export type TableName = 'raw' | 'mangle' | 'nat' | 'filter';
export const TABLE_NAMES: readonly TableName[] = ['raw', 'mangle', 'nat', 'filter'];

/** The netfilter hooks. */
export type Hook = 'PREROUTING' | 'INPUT' | 'FORWARD' | 'OUTPUT' | 'POSTROUTING';

/** Built-in chains per table, in the order iptables-save lists them. */
export const BUILTIN_CHAINS: Readonly<Record<TableName, readonly Hook[]>> = {
  raw: ['PREROUTING', 'OUTPUT'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
};

export interface Counters { packets: number; bytes: number }

/** `-s`/`-d`: address under mask, optionally negated. */
export interface AddrMatch { addr: number; mask: number; invert: boolean }
/** `-i`/`-o`: an interface name, `eth+` a prefix. */
export interface IfaceMatch { name: string; wildcard: boolean; invert: boolean }
/** An inclusive port range (a single port has min === max). */
export interface PortRange { min: number; max: number }

export type Match =
  | { kind: 'tcp' | 'udp'; sport: PortRange | null; sportInvert: boolean; dport: PortRange | null; dportInvert: boolean;
      /** tcp only: --tcp-flags MASK COMP (--syn is SYN,RST,ACK,FIN SYN) */
      tcpFlags: { mask: number; comp: number; invert: boolean } | null }
  | { kind: 'icmp'; type: number; code: number | null; invert: boolean }
  | { kind: 'multiport'; which: 'sports' | 'dports' | 'ports'; ports: PortRange[]; invert: boolean }
  | { kind: 'comment'; text: string }
  | { kind: 'mark'; value: number; mask: number; invert: boolean }
  | { kind: 'connmark'; value: number; mask: number; invert: boolean }
  /** -m conntrack --ctstate (and -m state --state, kept apart for printing) */
  | { kind: 'conntrack' | 'state'; states: CtStateName[]; invert: boolean }
  | { kind: 'addrtype'; srcType: AddrType[] | null; srcInvert: boolean; dstType: AddrType[] | null; dstInvert: boolean;
      limitIfaceIn: boolean; limitIfaceOut: boolean }
  | { kind: 'statistic'; mode: 'random'; probability: number; invert: boolean }
  | { kind: 'statistic'; mode: 'nth'; every: number; packet: number; invert: boolean }
  /**
   * -m set (xt_set match revision 4): `[!] --match-set name flags` and its
   * options. The options after --match-set may be left out when a rule is
   * built in code (absent = not given); restore.ts always fills them.
   */
  | { kind: 'set'; name: string; flags: ('src' | 'dst')[]; invert: boolean;
      /** --return-nomatch (IPSET_FLAG_RETURN_NOMATCH) */
      returnNomatch?: boolean;
      /** false: `! --update-counters` (IPSET_FLAG_SKIP_COUNTER_UPDATE) */
      updateCounters?: boolean;
      /** false: `! --update-subcounters` (IPSET_FLAG_SKIP_SUBCOUNTER_UPDATE, list:set members only) */
      updateSubcounters?: boolean;
      /** --packets-eq/lt/gt N, `! --packets-eq N` as 'ne'; null: none */
      packets?: SetCounterMatch | null;
      /** --bytes-eq/lt/gt N, `! --bytes-eq N` as 'ne'; null: none */
      bytes?: SetCounterMatch | null }
  | { kind: 'physdev'; physdevIn: IfaceMatch | null; physdevOut: IfaceMatch | null; isBridged: boolean | null; isIn: boolean | null; isOut: boolean | null }
  | RecentMatch
  /** -m nfacct --nfacct-name NAME: counts into the named nfacct object, always matches (no quota) */
  | { kind: 'nfacct'; name: string }
  | IpvsMatch;

/**
 * -m recent (xt_recent revision 1) as the kernel stores it: one operation,
 * its modifiers (0 = not given), the list name (at most 199 characters),
 * the address mask and the side (`--rsource`, the default, or `--rdest`).
 */
export interface RecentMatch {
  kind: 'recent';
  op: 'set' | 'rcheck' | 'update' | 'remove';
  /** `! --set` … : the result is inverted */
  invert: boolean;
  /** --seconds N (0: none) */
  seconds: number;
  reap: boolean;
  /** --hitcount N (0: none) */
  hitcount: number;
  rttl: boolean;
  name: string;
  mask: number;
  side: 'src' | 'dst';
}

/**
 * -m ipvs (xt_ipvs): null = option not given. `property` is `--ipvs` (true)
 * or `! --ipvs` (false); any other option implies `--ipvs` (the packet must
 * belong to an IPVS connection).
 */
export interface IpvsMatch {
  kind: 'ipvs';
  property: boolean | null;
  vproto: { num: number; invert: boolean } | null;
  /** the address as given (not masked) and its mask */
  vaddr: { addr: number; mask: number; invert: boolean } | null;
  vport: { port: number; invert: boolean } | null;
  vdir: 'ORIGINAL' | 'REPLY' | null;
  vmethod: { method: 'GATE' | 'IPIP' | 'MASQ'; invert: boolean } | null;
  vportctl: { port: number; invert: boolean } | null;
}

/** A `-m set` counter condition as the kernel stores it (ip_set_counter_match: op, u64 value). */
export interface SetCounterMatch { op: 'eq' | 'ne' | 'lt' | 'gt'; value: bigint }

export type CtStateName = 'INVALID' | 'NEW' | 'ESTABLISHED' | 'RELATED' | 'UNTRACKED' | 'SNAT' | 'DNAT';
export type AddrType = 'UNSPEC' | 'UNICAST' | 'LOCAL' | 'BROADCAST' | 'ANYCAST' | 'MULTICAST' | 'BLACKHOLE' | 'UNREACHABLE'
  | 'PROHIBIT' | 'THROW' | 'NAT' | 'XRESOLVE';

/** A NAT range as `--to-destination 10.0.0.1-10.0.0.3:80-90` gives it (ports 0 = unchanged). */
export interface NatTarget { addrMin: number; addrMax: number; portMin: number; portMax: number }

export type Target =
  | { kind: 'ACCEPT' | 'DROP' | 'RETURN' }
  | { kind: 'jump' | 'goto'; chain: string }
  | { kind: 'REJECT'; with: string }
  | { kind: 'DNAT' | 'SNAT'; to: NatTarget | null; random: boolean; randomFully: boolean; persistent: boolean }
  | { kind: 'MASQUERADE'; toPorts: PortRange | null; random: boolean; randomFully: boolean }
  | { kind: 'REDIRECT'; toPorts: PortRange | null; random: boolean }
  /** the kernel's XMARK: mark = (mark & ~mask) ^ value */
  | { kind: 'MARK'; value: number; mask: number; op: 'set-xmark' | 'set-mark' | 'or-mark' | 'and-mark' | 'xor-mark' }
  /**
   * xt_CONNMARK (revision 1, no shifts): 'set' ctmark = (ctmark & ~ctmask) ^ value; 'save' ctmark =
   * (ctmark & ~ctmask) ^ (mark & nfmask); 'restore' mark = (mark & ~nfmask) ^ (ctmark & ctmask).
   * Nothing without a connection.
   */
  | { kind: 'CONNMARK'; mode: 'set' | 'save' | 'restore'; value: number; ctmask: number; nfmask: number }
  | { kind: 'LOG'; prefix: string | null; level: number | null }
  | { kind: 'TRACE' };

export interface Rule {
  src: AddrMatch | null;
  dst: AddrMatch | null;
  /** protocol number (0 = all), negated */
  proto: { num: number; invert: boolean } | null;
  in: IfaceMatch | null;
  out: IfaceMatch | null;
  /** -f / ! -f */
  fragment: { invert: boolean } | null;
  matches: Match[];
  /** null: no target (the rule only counts) */
  target: Target | null;
  counters: Counters;
  line: number;
}

export interface Chain {
  name: string;
  /** ACCEPT/DROP for a built-in chain, null for a user chain */
  policy: 'ACCEPT' | 'DROP' | null;
  /** the built-in chain's own counters (`:INPUT ACCEPT [p:b]`) */
  counters: Counters;
  rules: Rule[];
}

export interface Table {
  name: TableName;
  /** chains in declaration order: built-ins first, as iptables-save prints them */
  chains: Map<string, Chain>;
}

/**
 * Chains whose Chain and Rule objects more than one ruleset holds: a restore
 * loaded once and replayed on other nodes (restore.ts `restoreShared`,
 * `replayRestore`). Nothing changes them in place (a restore copies a chain
 * before changing it), and their rule counters are kept per evaluator, not
 * on the shared rule objects (eval.ts `countersOf`).
 */
export const sharedChains = new WeakSet<Chain>();

/** A new, empty rule (the restore parser and tests fill it). */
export function emptyRule(line = 0): Rule {
  return { src: null, dst: null, proto: null, in: null, out: null, fragment: null, matches: [], target: null, counters: { packets: 0, bytes: 0 }, line };
}

/** The four tables with their built-in chains (policy ACCEPT, no rules). */
export class Ruleset {
  readonly tables = new Map<TableName, Table>();

  constructor() {
    for (const t of TABLE_NAMES) {
      const chains = new Map<string, Chain>();
      for (const c of BUILTIN_CHAINS[t]) chains.set(c, { name: c, policy: 'ACCEPT', counters: { packets: 0, bytes: 0 }, rules: [] });
      this.tables.set(t, { name: t, chains });
    }
  }

  table(t: TableName): Table { return this.tables.get(t)!; }

  chain(t: TableName, name: string): Chain | undefined { return this.tables.get(t)!.chains.get(name); }
}
