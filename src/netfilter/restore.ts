/**
 * `iptables-restore` input (netfilter layer, slow path): text → `Ruleset`.
 *
 * What: `parseRestore(text, into?, opts?)` reads `*table` … `COMMIT` blocks
 * with `:CHAIN POLICY [p:b]` lines and `-A/-I/-D/-N/-X/-F/-P` commands, and
 * applies them to a copy of 'into' (or to a fresh `Ruleset`); only when the
 * whole input is valid is the copy committed into 'into'.
 * Why this shape: iptables-restore is how kube-proxy, Docker and users hand
 * rules over, and the emulator must refuse exactly what the kernel tool
 * refuses, naming the line. The behaviour below was observed with iptables
 * 1.8.9 (nf_tables) on Linux 6.x in a network namespace:
 *  - quoting: only double quotes group words; inside them `\x` is x; a quote
 *    ends the word; single quotes are ordinary characters;
 *  - `!` goes before the option (`! -s`, `! --ctstate`); `-s ! x`,
 *    `--ctstate ! X` and `! -m` are refused;
 *  - without --noflush each `*table` block starts from an empty table
 *    (policies back to ACCEPT); with it, `:CHAIN` of an existing user chain
 *    flushes that chain (kube-proxy relies on this) and of a built-in sets
 *    its policy; counters are read only with `counters` (restore -c), and a
 *    user chain's `[p:b]` is ignored (nf_tables keeps none);
 *  - `-p tcp --dport` loads `-m tcp` at that point; port options of several
 *    tcp (udp) matches are merged into the first one that has options, as
 *    nf_tables stores them as one payload match;
 *  - `-m set --match-set NAME FLAGS` as libxt_set (match revision 4)
 *    parses it: a name of at most 31 characters, 1..6 comma-separated flags
 *    each only STARTING with src or dst (`srcx` is src), `--set` for
 *    `--match-set`; --return-nomatch (not invertible), `! --update-counters`
 *    and `! --update-subcounters` (without `!` they change nothing; each may
 *    repeat), one of --packets-eq/lt/gt and one of --bytes-eq/lt/gt (only
 *    -eq invertible) with a u64 in strtoul base-0 syntax, in any order
 *    around --match-set;
 *  - `-m recent` as libxt_recent (revision 1) with libxtables' option
 *    checks in their order and words (`can only be used once`, `cannot be
 *    inverted`, `cannot be used together with`, `also requires`), the name
 *    cut to 199 characters, `--mask` a dotted quad or one number (`24` is
 *    0.0.0.24), then xt_recent's checkentry as EINVAL on the rule's line
 *    (--set/--remove with modifiers, --hitcount over 65535, a name that is
 *    empty, `.`, `..` or has a `/`); `-m nfacct --nfacct-name` (mandatory,
 *    cut to 31) refused with ENOENT on its line when 'opts.nfacct' lacks
 *    the object; `-m ipvs` as libxt_ipvs (this kernel has no xt_ipvs to
 *    check it against);
 *  - canonical values as the kernel stores them: addresses masked, states and
 *    address types in bit order, `--syn` as FIN,SYN,RST,ACK SYN, full port
 *    ranges dropped, statistic probability rounded to 31-bit fixed point,
 *    MARK and CONNMARK set options as XMARK (value, mask), CONNMARK's
 *    --save/--restore-mark with their masks (all ones unless given), comments
 *    cut to 255 characters;
 *  - kernel checks done at load time, on the line the kernel names: NAT
 *    targets only in nat, REJECT only in filter, each only at its hooks (also
 *    through user chains), tcp-reset only with `-p tcp`, addrtype
 *    --limit-iface-in/out hook limits, and loops of jumps reachable from a
 *    built-in chain (ELOOP) — the first line after which the violation exists.
 * Deliberate differences: a failed input changes nothing, even in tables
 * whose COMMIT came before the faulty line (the kernel tool commits per
 * table); hostnames and an unterminated quote are refused; `-m set` cannot
 * check that the ipset exists; the security table, IPv6 and options outside
 * model.ts are refused as unsupported.
 * Shared loads: `restoreShared` is parseRestore for a payload many rulesets
 * load alike (kube-proxy's on every node): it returns what changed, and
 * `replayRestore` loads that on another ruleset by taking the same chain
 * objects — where the result cannot depend on what that ruleset had — with
 * the commit checks; share.ts queues it until the node reads its rules.
 * A restore copies a chain before changing it (`own`), so chains and rules
 * are never changed in place once committed, and can be shared.
 * Errors: only `IptablesRestoreError` (code, line, token), messages in
 * iptables-restore's words.
 * Neighbours: model.ts (the data), save.ts (the printer; `formatRule` gives
 * rule identity for `-D`), eval.ts (reads the result).
 */
import { SdnemuError } from '../errors.js';
import { parseIpv4Dotted } from '../wire/bytes.js';
import {
  BUILTIN_CHAINS, Ruleset, emptyRule, sharedChains, type AddrType, type Chain, type CtStateName, type Hook, type IfaceMatch,
  type Match, type NatTarget, type PortRange, type Rule, type Table, type TableName, type Target,
} from './model.js';
import { NFACCT_NAME_MAX, RECENT_MAX_HITCOUNT, RECENT_NAME_MAX } from './recent.js';
import {
  ADDR_TYPE_ORDER, CT_STATE_ORDER, PROTOCOLS, STATISTIC_ONE, TCP_FLAG_NAMES, copyPresentTables, formatRule, markTablePresent,
  tablePresent,
} from './save.js';

/** A restore input the kernel tool would refuse: 'line' (1-based) and the offending 'token'. */
export class IptablesRestoreError extends SdnemuError {
  readonly line: number;
  readonly token: string;
  constructor(code: string, line: number, token: string, message: string) {
    super(code, `line ${line}: ${message}`);
    this.name = 'IptablesRestoreError';
    this.line = line;
    this.token = token;
  }
  override location(): Record<string, string | number> {
    return { line: this.line, token: this.token };
  }
}

export interface RestoreOptions {
  /** iptables-restore --noflush: add to the tables instead of replacing them */
  noflush?: boolean;
  /** iptables-restore -c: take `[p:b]` counters from the input */
  counters?: boolean;
  /**
   * the namespace's nfacct objects: a `-m nfacct` rule naming one that does
   * not exist is refused as the kernel refuses it (ENOENT on its line);
   * absent: not checked (NfStack checks when it is built)
   */
  nfacct?: { has(name: string): boolean };
}

const TABLES: readonly string[] = ['raw', 'mangle', 'nat', 'filter'];
const STD_TARGETS = new Set(['ACCEPT', 'DROP', 'RETURN', 'REJECT', 'DNAT', 'SNAT', 'MASQUERADE', 'REDIRECT', 'MARK', 'CONNMARK', 'LOG', 'TRACE']);
const KNOWN_MATCHES = new Set(['tcp', 'udp', 'icmp', 'multiport', 'comment', 'mark', 'connmark', 'conntrack', 'state', 'addrtype', 'statistic', 'set', 'physdev',
  'recent', 'nfacct', 'ipvs']);
/** A few /etc/services names (iptables resolves ports with getservbyname). */
const SERVICES: ReadonlyMap<string, number> = new Map([
  ['ftp-data', 20], ['ftp', 21], ['ssh', 22], ['telnet', 23], ['smtp', 25], ['domain', 53], ['bootps', 67], ['bootpc', 68],
  ['tftp', 69], ['http', 80], ['pop3', 110], ['ntp', 123], ['imap2', 143], ['snmp', 161], ['bgp', 179], ['ldap', 389],
  ['https', 443], ['syslog', 514], ['ldaps', 636], ['imaps', 993], ['pop3s', 995], ['mysql', 3306], ['postgresql', 5432],
]);
const PROTO_BY_NAME = new Map<string, number>([...PROTOCOLS].map(([n, s]) => [s, n]));
for (const [s, n] of [['all', 0], ['icmpv6', 58], ['mh', 135], ['ip', 0]] as const) if (!PROTO_BY_NAME.has(s)) PROTO_BY_NAME.set(s, n);

const ICMP_TYPES: ReadonlyMap<string, [number, number | null]> = new Map<string, [number, number | null]>([
  ['any', [255, null]], ['echo-reply', [0, null]], ['pong', [0, null]], ['destination-unreachable', [3, null]],
  ['network-unreachable', [3, 0]], ['host-unreachable', [3, 1]], ['protocol-unreachable', [3, 2]], ['port-unreachable', [3, 3]],
  ['fragmentation-needed', [3, 4]], ['source-route-failed', [3, 5]], ['network-unknown', [3, 6]], ['host-unknown', [3, 7]],
  ['network-prohibited', [3, 9]], ['host-prohibited', [3, 10]], ['TOS-network-unreachable', [3, 11]],
  ['TOS-host-unreachable', [3, 12]], ['communication-prohibited', [3, 13]], ['host-precedence-violation', [3, 14]],
  ['precedence-cutoff', [3, 15]], ['source-quench', [4, null]], ['redirect', [5, null]], ['network-redirect', [5, 0]],
  ['host-redirect', [5, 1]], ['TOS-network-redirect', [5, 2]], ['TOS-host-redirect', [5, 3]], ['echo-request', [8, null]],
  ['ping', [8, null]], ['router-advertisement', [9, null]], ['router-solicitation', [10, null]], ['time-exceeded', [11, null]],
  ['ttl-exceeded', [11, null]], ['ttl-zero-during-transit', [11, 0]], ['ttl-zero-during-reassembly', [11, 1]],
  ['parameter-problem', [12, null]], ['ip-header-bad', [12, 0]], ['required-option-missing', [12, 1]],
  ['timestamp-request', [13, null]], ['timestamp-reply', [14, null]], ['address-mask-request', [17, null]],
  ['address-mask-reply', [18, null]],
]);

const REJECT_TYPES: ReadonlyMap<string, string> = new Map([
  ['icmp-net-unreachable', 'icmp-net-unreachable'], ['net-unreach', 'icmp-net-unreachable'],
  ['icmp-host-unreachable', 'icmp-host-unreachable'], ['host-unreach', 'icmp-host-unreachable'],
  ['icmp-proto-unreachable', 'icmp-proto-unreachable'], ['proto-unreach', 'icmp-proto-unreachable'],
  ['icmp-port-unreachable', 'icmp-port-unreachable'], ['port-unreach', 'icmp-port-unreachable'],
  ['icmp-net-prohibited', 'icmp-net-prohibited'], ['net-prohib', 'icmp-net-prohibited'],
  ['icmp-host-prohibited', 'icmp-host-prohibited'], ['host-prohib', 'icmp-host-prohibited'],
  ['tcp-reset', 'tcp-reset'], ['tcp-rst', 'tcp-reset'],
  ['icmp-admin-prohibited', 'icmp-admin-prohibited'], ['admin-prohib', 'icmp-admin-prohibited'],
]);

const LOG_LEVELS: ReadonlyMap<string, number> = new Map([
  ['emerg', 0], ['panic', 0], ['alert', 1], ['crit', 2], ['err', 3], ['error', 3], ['warning', 4], ['warn', 4],
  ['notice', 5], ['info', 6], ['debug', 7],
]);

/** Hooks at which a hook-limited target may run (the kernel's xt_target.hooks), and its table. */
const TARGET_HOOKS: Readonly<Record<string, { table: TableName; hooks: readonly Hook[] }>> = {
  DNAT: { table: 'nat', hooks: ['PREROUTING', 'OUTPUT'] },
  REDIRECT: { table: 'nat', hooks: ['PREROUTING', 'OUTPUT'] },
  SNAT: { table: 'nat', hooks: ['POSTROUTING', 'INPUT'] },
  MASQUERADE: { table: 'nat', hooks: ['POSTROUTING'] },
  REJECT: { table: 'filter', hooks: ['INPUT', 'FORWARD', 'OUTPUT'] },
};

/** the hooks `-m addrtype --limit-iface-in` / `--limit-iface-out` allow */
const LIMIT_IFACE_IN = { table: null, hooks: ['PREROUTING', 'INPUT', 'FORWARD'] as readonly Hook[] };
const LIMIT_IFACE_OUT = { table: null, hooks: ['OUTPUT', 'FORWARD', 'POSTROUTING'] as readonly Hook[] };

const PORT_PROTOS = new Set([6, 17, 33, 132, 136]);

// ---- tokenizer ---------------------------------------------------------------

/** Split one line as iptables-restore's add_param_to_argv() does; 'line' for errors. */
export function tokenize(text: string, line: number): string[] {
  // most lines (kube-proxy's SEP rules) have neither quotes nor tabs: words between spaces
  if (text.indexOf('"') < 0 && text.indexOf('\t') < 0) return text.split(' ').filter((w) => w !== '');
  const out: string[] = [];
  let cur = '';
  let has = false;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '\\' && i + 1 < text.length) { cur += text[++i]; continue; }
      if (ch === '"') { quoted = false; out.push(cur); cur = ''; has = false; continue; }
      cur += ch;
      continue;
    }
    if (ch === '"') { quoted = true; has = true; continue; }
    if (ch === ' ' || ch === '\t') {
      if (has) { out.push(cur); cur = ''; has = false; }
      continue;
    }
    cur += ch;
    has = true;
  }
  if (quoted) throw new IptablesRestoreError('IPTABLES_BAD_QUOTE', line, '"' + cur, 'unterminated quoted string');
  if (has) out.push(cur);
  return out;
}

// ---- values ------------------------------------------------------------------

function prefixMask(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/** strtoul(s, 0, 0) for a uint32: decimal, 0x hex or 0 octal; null when not a full number. */
function parseU32(s: string): number | null {
  let v: number;
  if (/^0[xX][0-9a-fA-F]+$/.test(s)) v = parseInt(s.slice(2), 16);
  else if (/^0[0-7]+$/.test(s)) v = parseInt(s.slice(1), 8);
  else if (/^(0|[1-9]\d*)$/.test(s)) v = Number(s);
  else return null;
  return v <= 0xffffffff ? v : null;
}

const U64_MAX = (1n << 64n) - 1n;

/**
 * A `-m set` counter value as libxt_set's parse_counter reads it:
 * xtables_strtoul base 0 up to UINT64_MAX — leading blanks and a `+` are
 * taken, a `-` is not, the whole word must be the number (`08`, `0x`, `5 `
 * are refused).
 */
function parseCounter(ctx: Ctx, v: string): bigint {
  const mm = /^[ \t\n\v\f\r]*\+?(?:0[xX]([0-9a-fA-F]+)|0([0-7]*)|([1-9][0-9]*))$/.exec(v);
  const n = mm === null ? -1n : mm[1] !== undefined ? BigInt('0x' + mm[1]) : mm[2] !== undefined ? BigInt('0o' + (mm[2] || '0')) : BigInt(mm[3]!);
  if (n < 0n || n > U64_MAX) fail(ctx, 'IPTABLES_BAD_VALUE', v, `Cannot parse ${v} as a counter value`);
  return n;
}

// ---- the parser ------------------------------------------------------------

interface Ctx {
  rs: Ruleset;
  /** rules added by this parse, in order (the commit checks look for the line that broke the table among them) */
  fresh: Rule[];
  /** chains this parse copied before changing them (`own`) */
  owned: Set<Chain>;
  /** user chains of this table whose rules this parse set from nothing (`:CHAIN`, -F), whatever they held */
  reset: Set<string>;
  /** the tokens of the rule being read */
  tk: TokenCursor;
  /** jumps to chains that did not exist at their line: the kernel tool reports them at COMMIT */
  missing: string[];
  line: number;
  table: TableName;
  counters: boolean;
  nfacct: { has(name: string): boolean } | null;
}

/**
 * The tokens of the rule being read, and a `!` waiting for its option: one cursor per restore
 * (its `next` made once, handed to the option readers), not closures per rule.
 */
class TokenCursor {
  tokens: readonly string[] = [];
  i = 0;
  invert = false;
  private ctx: { line: number } = { line: 0 };
  start(ctx: { line: number }, tokens: readonly string[]): void { this.ctx = ctx; this.tokens = tokens; this.i = 0; this.invert = false; }
  /** the argument of option 'opt' */
  readonly next = (opt: string): string => {
    const v = this.tokens[this.i++];
    if (v === undefined) fail(this.ctx, 'IPTABLES_MISSING_ARGUMENT', opt, `option "${opt}" requires an argument`);
    return v;
  };
  /** whether a `!` came before this option (and it is used up) */
  takeInvert(): boolean { const v = this.invert; this.invert = false; return v; }
  /** refuse a `!` before 'opt' */
  noInvert(opt: string): void { if (this.invert) fail(this.ctx, 'IPTABLES_BAD_INVERT', opt, `unexpected ! flag before ${opt}`); }
}

type NatKind = 'DNAT' | 'SNAT';

function fail(ctx: { line: number }, code: string, token: string, message: string): never {
  throw new IptablesRestoreError(code, ctx.line, token, message);
}

/**
 * Parse iptables-restore 'text' and apply it to 'into' (default: a fresh
 * Ruleset with empty tables). 'opts.noflush' adds to the tables instead of
 * replacing them; 'opts.counters' takes `[p:b]` counters from the text.
 * Returns 'into', changed only when the whole text is valid; throws
 * IptablesRestoreError (line, token) otherwise, leaving 'into' as it was.
 */
export function parseRestore(text: string, into?: Ruleset, opts: RestoreOptions = {}): Ruleset {
  const target = into ?? new Ruleset();
  restore(text, target, opts);
  return target;
}

/** parseRestore's work; returns the user chains whose rules it set from nothing, by table (restoreShared). */
function restore(text: string, target: Ruleset, opts: RestoreOptions): Map<TableName, Set<string>> {
  const rs = cloneRuleset(target);
  const reset = new Map<TableName, Set<string>>();
  const lines = text.split('\n');
  let table: TableName | null = null;
  let lineNo = 0;
  const fresh: Rule[] = [];
  const owned = new Set<Chain>();
  const missing: string[] = [];
  // one context for every line (its line and table updated), not an object per line
  const ctx: Ctx = { rs, fresh, owned, reset: new Set(), missing, line: 0, table: 'filter', counters: !!opts.counters, nfacct: opts.nfacct ?? null, tk: new TokenCursor() };
  for (const raw of lines) {
    lineNo++;
    const l = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const trimmed = l.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    ctx.line = lineNo;
    if (table === null) {
      if (trimmed.startsWith('*')) {
        const name = trimmed.slice(1).trim();
        if (name === 'security') fail(ctx, 'IPTABLES_UNSUPPORTED', name, "table 'security' is not supported by sdnemu");
        if (!TABLES.includes(name)) fail(ctx, 'IPTABLES_BAD_TABLE', name, `iptables-restore: line ${lineNo} table name '${name}' invalid`);
        table = name as TableName;
        if (!opts.noflush) resetTable(rs, table);
        if (!reset.has(table)) reset.set(table, new Set());
        continue;
      }
      fail(ctx, 'IPTABLES_NO_TABLE', tokenize(trimmed, lineNo)[0] ?? trimmed, 'no table specified (expected *table)');
    }
    if (trimmed === 'COMMIT') {
      if (missing.length > 0) fail(ctx, 'IPTABLES_UNKNOWN_TARGET', missing[0]!, `Chain '${missing[0]}' does not exist`);
      validateTable(rs, table, lineNo, fresh);
      table = null;
      continue;
    }
    if (trimmed.startsWith('*')) fail(ctx, 'IPTABLES_BAD_ARGUMENT', trimmed, `Bad argument \`${trimmed}'`);
    ctx.table = table;
    ctx.reset = reset.get(table)!;
    if (trimmed.startsWith(':')) chainLine(ctx, trimmed, !!opts.noflush);
    else commandLine(ctx, tokenize(trimmed, lineNo));
  }
  if (table !== null) fail({ line: lineNo + (text.endsWith('\n') ? 0 : 1) }, 'IPTABLES_NO_COMMIT', 'COMMIT', `iptables-restore: COMMIT expected at line ${lineNo + (text.endsWith('\n') ? 0 : 1)}`);
  // commit: the whole input was valid
  target.tables.clear();
  for (const [k, v] of rs.tables) target.tables.set(k, v);
  copyPresentTables(rs, target);
  return reset;
}

/**
 * A working copy of 'rs' for one restore: new table objects and chain maps
 * holding the same Chain objects, with the same present tables. A chain is
 * copied (`own`) only when the restore changes it, so a small restore on a
 * large ruleset costs what it changes plus one pass over the chain names;
 * rule objects are never changed after their restore and are shared between
 * the versions (a rule kept by the next restore keeps its counters, as the
 * kernel's does).
 */
export function cloneRuleset(rs: Ruleset): Ruleset {
  const copy = new Ruleset();
  copy.tables.clear();
  for (const [name, t] of rs.tables) copy.tables.set(name, { name, chains: new Map(t.chains) });
  copyPresentTables(rs, copy);
  return copy;
}

/** What one restore changed in a ruleset: each table it replaced, before and after, the user chains it set from nothing, and whether iptables-save lists the table. */
export interface RestoreChange {
  tables: { name: TableName; before: Table; after: Table; reset: ReadonlySet<string>; present: boolean }[];
}

/**
 * `parseRestore` of a payload that other rulesets will load alike (kube-proxy's shared sync):
 * the chains it creates or changes are marked shared (model.ts sharedChains), and what it
 * changed is returned for `replayRestore` on the others.
 */
export function restoreShared(text: string, into: Ruleset, opts: RestoreOptions = {}): RestoreChange {
  const before = new Map(into.tables);
  const reset = restore(text, into, opts);
  const tables: RestoreChange['tables'] = [];
  for (const [name, after] of into.tables) {
    const b = before.get(name)!;
    if (b === after) continue;
    for (const [k, c] of after.chains) if (b.chains.get(k) !== c) sharedChains.add(c);
    tables.push({ name, before: b, after, reset: reset.get(name) ?? new Set(), present: tablePresent(into, name) });
  }
  return { tables };
}

/**
 * Load on 'rs' what a restore did to another ruleset ('change', from restoreShared) by taking
 * the chain objects it produced instead of parsing the text again. Valid where the result does
 * not depend on what 'rs' had: a chain the restore set from nothing (kube-proxy declares every
 * chain it writes, `:CHAIN`, which flushes it) is taken whatever 'rs' had; a chain it changed
 * otherwise (appended to, a policy) or deleted without flushing must be, in 'rs', the very
 * object it changed. Chains the restore left alone stay this ruleset's own (Antrea's, with this
 * node's podCIDR; one the first node lacks stays, after the others). Then what the kernel
 * checks at commit: every jump has its chain, no loop, each target at its hooks. Returns false,
 * and changes nothing, otherwise: the caller parses the text (and gets its error, if any).
 * Cost: a pass over the changed tables' chains, and the commit checks.
 */
export function replayRestore(change: RestoreChange, rs: Ruleset): boolean {
  const next: Table[] = [];
  for (const { name, before, after, reset } of change.tables) {
    const cur = rs.tables.get(name)!.chains;
    const chains = new Map<string, Chain>();
    for (const [k, c] of after.chains) {
      const b = before.chains.get(k);
      if (b === c) { const mine = cur.get(k); if (mine !== undefined) chains.set(k, mine); continue; }
      if (!reset.has(k) && (b === undefined || cur.get(k) !== b)) return false;
      chains.set(k, c);
    }
    for (const [k, mine] of cur) {
      if (chains.has(k)) continue;
      const b = before.chains.get(k);
      if (b === undefined) { chains.set(k, mine); continue; }
      // deleted by the restore (-X): empty and unreferenced on the first node; here too if it was flushed first or is the same
      if (!reset.has(k) && mine !== b) return false;
    }
    if (firstViolation(name, chains, new Set(), Infinity, true) !== null) return false;
    next.push({ name, chains });
  }
  change.tables.forEach(({ name, present }, i) => {
    rs.tables.set(name, next[i]!);
    if (present) markTablePresent(rs, name);
  });
  return true;
}

/** Chain 'c' of the working copy, made its own (copied from the committed ruleset) before the restore changes it. */
function own(ctx: Ctx, c: Chain): Chain {
  if (ctx.owned.has(c)) return c;
  const copy: Chain = { name: c.name, policy: c.policy, counters: { ...c.counters }, rules: c.rules.slice() };
  ctx.rs.table(ctx.table).chains.set(c.name, copy);
  ctx.owned.add(copy);
  return copy;
}

function resetTable(rs: Ruleset, t: TableName): void {
  const chains = rs.table(t).chains;
  chains.clear();
  for (const c of BUILTIN_CHAINS[t]) chains.set(c, { name: c, policy: 'ACCEPT', counters: { packets: 0, bytes: 0 }, rules: [] });
  markTablePresent(rs, t, false);
}

function parseCounters(ctx: { line: number }, s: string): { packets: number; bytes: number } {
  const m = /^\[(\d+):(\d+)\]$/.exec(s);
  if (!m) fail(ctx, 'IPTABLES_BAD_COUNTERS', s, `Bad counters \`${s}'`);
  return { packets: Number(m[1]), bytes: Number(m[2]) };
}

function checkChainName(ctx: Ctx, name: string): void {
  if (name.length > 28) fail(ctx, 'IPTABLES_BAD_CHAIN', name, `Invalid chain name \`${name}' (28 chars max)`);
  if (name.startsWith('-') || name.startsWith('!') || name === '') fail(ctx, 'IPTABLES_BAD_CHAIN', name, `Invalid chain name \`${name}'`);
  if (STD_TARGETS.has(name)) fail(ctx, 'IPTABLES_BAD_CHAIN', name, `chain name may not clash with target name`);
}

function chainLine(ctx: Ctx, text: string, noflush: boolean): void {
  const parts = text.slice(1).split(/[ \t]+/);
  const name = parts[0] ?? '';
  const policy = parts[1];
  if (policy === undefined) fail(ctx, 'IPTABLES_BAD_POLICY', name, `iptables-restore: line ${ctx.line} failed: Bad policy name.`);
  const counters = parts[2] !== undefined ? parseCounters(ctx, parts[2]) : { packets: 0, bytes: 0 };
  const chains = ctx.rs.table(ctx.table).chains;
  markTablePresent(ctx.rs, ctx.table);
  const existing = chains.get(name);
  const builtin = (BUILTIN_CHAINS[ctx.table] as readonly string[]).includes(name);
  if (builtin) {
    if (policy === '-') return;
    const c = own(ctx, existing!);
    if (policy !== 'ACCEPT' && policy !== 'DROP') fail(ctx, 'IPTABLES_BAD_POLICY', policy, `iptables-restore: line ${ctx.line} failed: Bad policy name.`);
    c.policy = policy;
    if (ctx.counters) c.counters = counters;
    return;
  }
  checkChainName(ctx, name);
  if (existing) {
    // `:CHAIN` of an existing user chain flushes it (also with --noflush)
    own(ctx, existing).rules = [];
    ctx.reset.add(name);
    return;
  }
  void noflush;
  chains.set(name, { name, policy: null, counters: { packets: 0, bytes: 0 }, rules: [] });
  ctx.reset.add(name);
}

/** Chain 'name' of the working copy, its own ('write': about to be changed). */
function getChain(ctx: Ctx, name: string | undefined, token: string, write = true): Chain {
  const c = name === undefined ? undefined : ctx.rs.table(ctx.table).chains.get(name);
  if (!c) fail(ctx, 'IPTABLES_NO_CHAIN', name ?? token, `iptables-restore: line ${ctx.line} failed: No chain/target/match by that name.`);
  return write ? own(ctx, c) : c;
}

function isReferenced(ctx: Ctx, name: string, except: Set<string>): boolean {
  for (const c of ctx.rs.table(ctx.table).chains.values()) {
    if (except.has(c.name)) continue;
    for (const r of c.rules) if (r.target && (r.target.kind === 'jump' || r.target.kind === 'goto') && r.target.chain === name) return true;
  }
  return false;
}

function commandLine(ctx: Ctx, tokens: string[]): void {
  let i = 0;
  let counters: { packets: number; bytes: number } | null = null;
  if (tokens[0]?.startsWith('[')) { counters = parseCounters(ctx, tokens[0]); i = 1; }
  const cmd = tokens[i] ?? '';
  const chainName = tokens[i + 1];
  const rest = tokens.slice(i + 2);
  const chains = ctx.rs.table(ctx.table).chains;
  markTablePresent(ctx.rs, ctx.table);
  switch (cmd) {
    case '-A': case '--append': {
      const c = getChain(ctx, chainName, cmd);
      for (const r of parseRuleSpec(ctx, c.name, rest)) { if (counters && ctx.counters) r.counters = { ...counters }; c.rules.push(r); ctx.fresh.push(r); }
      return;
    }
    case '-I': case '--insert': {
      const c = getChain(ctx, chainName, cmd);
      let pos = 1;
      if (rest[0] !== undefined && /^\d+$/.test(rest[0])) { pos = Number(rest.shift()); }
      if (pos < 1) fail(ctx, 'IPTABLES_BAD_INDEX', String(pos), 'Invalid rule number');
      if (pos > c.rules.length + 1) fail(ctx, 'IPTABLES_BAD_INDEX', String(pos), `iptables-restore: line ${ctx.line} failed: Index of insertion too big.`);
      const rules = parseRuleSpec(ctx, c.name, rest);
      for (const r of rules) { if (counters && ctx.counters) r.counters = { ...counters }; ctx.fresh.push(r); }
      c.rules.splice(pos - 1, 0, ...rules);
      return;
    }
    case '-D': case '--delete': {
      const c = getChain(ctx, chainName, cmd);
      if (rest.length === 1 && /^\d+$/.test(rest[0]!)) {
        const n = Number(rest[0]);
        if (n < 1 || n > c.rules.length) fail(ctx, 'IPTABLES_NO_RULE', rest[0]!, `iptables-restore: line ${ctx.line} failed: Index of deletion too big.`);
        c.rules.splice(n - 1, 1);
        return;
      }
      for (const r of parseRuleSpec(ctx, c.name, rest)) {
        const want = formatRule(c.name, r);
        const at = c.rules.findIndex((x) => formatRule(c.name, x) === want);
        if (at < 0) fail(ctx, 'IPTABLES_NO_RULE', c.name, `iptables-restore: line ${ctx.line} failed: Bad rule (does a matching rule exist in that chain?).`);
        c.rules.splice(at, 1);
      }
      return;
    }
    case '-N': case '--new-chain': {
      if (chainName === undefined) fail(ctx, 'IPTABLES_BAD_ARGUMENT', cmd, `option "${cmd}" requires an argument`);
      checkChainName(ctx, chainName);
      if (chains.has(chainName)) fail(ctx, 'IPTABLES_CHAIN_EXISTS', chainName, `iptables-restore: line ${ctx.line} failed: Chain already exists.`);
      // (not 'reset': -N fails where the chain exists, so a replay must find the node without it)
      chains.set(chainName, { name: chainName, policy: null, counters: { packets: 0, bytes: 0 }, rules: [] });
      return;
    }
    case '-X': case '--delete-chain': {
      const victims = chainName === undefined ? [...chains.values()].filter((c) => c.policy === null) : [getChain(ctx, chainName, cmd, false)];
      const names = new Set(victims.map((c) => c.name));
      for (const c of victims) {
        if (c.policy !== null) fail(ctx, 'IPTABLES_NO_CHAIN', c.name, `iptables-restore: line ${ctx.line} failed: No chain/target/match by that name.`);
        if (c.rules.length > 0 || isReferenced(ctx, c.name, names)) fail(ctx, 'IPTABLES_CHAIN_BUSY', c.name, `line ${ctx.line}: CHAIN_DEL failed (Device or resource busy): chain ${c.name}`);
      }
      for (const n of names) chains.delete(n);
      return;
    }
    case '-F': case '--flush': {
      if (chainName === undefined) {
        for (const c of [...chains.values()]) { own(ctx, c).rules = []; if (c.policy === null) ctx.reset.add(c.name); }
        return;
      }
      const c = getChain(ctx, chainName, cmd);
      c.rules = [];
      if (c.policy === null) ctx.reset.add(c.name);
      return;
    }
    case '-P': case '--policy': {
      const c = getChain(ctx, chainName, cmd);
      const p = rest[0] ?? '';
      if (c.policy === null || (p !== 'ACCEPT' && p !== 'DROP')) fail(ctx, 'IPTABLES_BAD_POLICY', p, `iptables-restore: line ${ctx.line} failed: Bad policy name.`);
      c.policy = p;
      return;
    }
    default:
      if (cmd.startsWith('-')) fail(ctx, 'IPTABLES_UNSUPPORTED', cmd, `unknown or unsupported command "${cmd}"`);
      fail(ctx, 'IPTABLES_BAD_ARGUMENT', cmd, `Bad argument \`${cmd}'`);
  }
}

// ---- rule specification ------------------------------------------------------

interface Spec {
  rule: Rule;
  srcs: { addr: number; mask: number }[];
  dsts: { addr: number; mask: number }[];
  srcInvert: boolean;
  dstInvert: boolean;
  /** index into rule.matches of the match whose options are being read */
  targetName: string | null;
  nat: { to: NatTarget | null; toToken: string } | null;
  ports: { range: PortRange; token: string } | null;
}

function parseAddrList(ctx: Ctx, s: string): { addr: number; mask: number }[] {
  return s.split(',').map((one) => {
    const slash = one.indexOf('/');
    const ipPart = slash < 0 ? one : one.slice(0, slash);
    const ip = parseIpv4Dotted(ipPart);
    if (ip === null) {
      if (/^[A-Za-z0-9.-]+$/.test(ipPart) && /[A-Za-z]/.test(ipPart)) {
        fail(ctx, 'IPTABLES_HOSTNAME', ipPart, `host/network \`${ipPart}' not found (sdnemu does not resolve hostnames)`);
      }
      fail(ctx, 'IPTABLES_BAD_ADDRESS', ipPart, `host/network \`${ipPart}' not found`);
    }
    let mask = 0xffffffff;
    if (slash >= 0) {
      const m = one.slice(slash + 1);
      if (/^\d+$/.test(m)) {
        const len = Number(m);
        if (len > 32) fail(ctx, 'IPTABLES_BAD_MASK', m, `invalid mask \`${m}' specified`);
        mask = prefixMask(len);
      } else {
        const dotted = parseIpv4Dotted(m);
        if (dotted === null) fail(ctx, 'IPTABLES_BAD_MASK', m, `invalid mask \`${m}' specified`);
        mask = dotted;
      }
    }
    return { addr: (ip & mask) >>> 0, mask };
  });
}

function parseIface(ctx: Ctx, s: string, invert: boolean): IfaceMatch {
  if (s.length > 15) fail(ctx, 'IPTABLES_BAD_IFACE', s, `interface name \`${s}' must be shorter than IFNAMSIZ (15)`);
  const wildcard = s.endsWith('+');
  return { name: wildcard ? s.slice(0, -1) : s, wildcard, invert };
}

function parseProto(ctx: Ctx, s: string): number {
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n > 255) fail(ctx, 'IPTABLES_BAD_PROTO', s, `unknown protocol "${s}" specified`);
    return n;
  }
  const n = PROTO_BY_NAME.get(s.toLowerCase());
  if (n === undefined) fail(ctx, 'IPTABLES_BAD_PROTO', s, `unknown protocol "${s}" specified`);
  return n;
}

function parsePort(ctx: Ctx, s: string): number {
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n <= 65535) return n;
  } else {
    const n = SERVICES.get(s);
    if (n !== undefined) return n;
  }
  fail(ctx, 'IPTABLES_BAD_PORT', s, `invalid port/service \`${s}' specified`);
}

/** `a`, `a:b`, `:b`, `a:` (iptables' port range syntax). */
function parsePortRange(ctx: Ctx, s: string): PortRange {
  const colon = s.indexOf(':');
  if (colon < 0) { const p = parsePort(ctx, s); return { min: p, max: p }; }
  const lo = s.slice(0, colon), hi = s.slice(colon + 1);
  const min = lo === '' ? 0 : parsePort(ctx, lo);
  const max = hi === '' ? 65535 : parsePort(ctx, hi);
  if (min > max) fail(ctx, 'IPTABLES_BAD_PORT', s, 'invalid portrange (min > max)');
  return { min, max };
}

function parseTcpFlags(ctx: Ctx, s: string): number {
  if (s === 'ALL') return 0x3f;
  if (s === 'NONE') return 0;
  let v = 0;
  for (const f of s.split(',')) {
    const e = TCP_FLAG_NAMES.find(([n]) => n === f);
    if (f === 'ALL') { v |= 0x3f; continue; }
    if (f === 'NONE') continue;
    if (!e) fail(ctx, 'IPTABLES_BAD_VALUE', f, `Unknown TCP flag \`${f}'`);
    v |= e[1];
  }
  return v;
}

function parseMarkPair(ctx: Ctx, s: string): { value: number; mask: number | null } {
  const slash = s.indexOf('/');
  const v = parseU32(slash < 0 ? s : s.slice(0, slash));
  const m = slash < 0 ? null : parseU32(s.slice(slash + 1));
  if (v === null || (slash >= 0 && m === null)) fail(ctx, 'IPTABLES_BAD_VALUE', s, `Bad MARK value \`${s}'`);
  return { value: v, mask: m };
}

function parseStates(ctx: Ctx, s: string, kind: 'conntrack' | 'state'): CtStateName[] {
  const got = new Set<string>();
  for (const st of s.split(',')) {
    const ok = (CT_STATE_ORDER as readonly string[]).includes(st) && (kind === 'conntrack' || (st !== 'SNAT' && st !== 'DNAT'));
    if (!ok) fail(ctx, 'IPTABLES_BAD_VALUE', st, kind === 'conntrack' ? `Bad ctstate "${st}"` : `Bad state "${st}"`);
    got.add(st);
  }
  return CT_STATE_ORDER.filter((x) => got.has(x)) as CtStateName[];
}

function parseAddrTypes(ctx: Ctx, s: string): AddrType[] {
  const got = new Set<string>();
  for (const t of s.split(',')) {
    if (!(ADDR_TYPE_ORDER as readonly string[]).includes(t)) fail(ctx, 'IPTABLES_BAD_VALUE', t, `addrtype: bad type "${t}"`);
    got.add(t);
  }
  return ADDR_TYPE_ORDER.filter((x) => got.has(x)) as AddrType[];
}

function parseNatRange(ctx: Ctx, s: string): NatTarget {
  const colon = s.indexOf(':');
  const addrPart = colon < 0 ? s : s.slice(0, colon);
  const portPart = colon < 0 ? null : s.slice(colon + 1);
  let addrMin = 0, addrMax = 0, portMin = 0, portMax = 0;
  if (addrPart !== '') {
    const dash = addrPart.indexOf('-');
    const a = parseIpv4Dotted(dash < 0 ? addrPart : addrPart.slice(0, dash));
    const b = dash < 0 ? a : parseIpv4Dotted(addrPart.slice(dash + 1));
    if (a === null || b === null) fail(ctx, 'IPTABLES_BAD_ADDRESS', addrPart, `Bad IP address "${addrPart}"`);
    addrMin = a; addrMax = b;
  }
  if (portPart !== null) {
    const dash = portPart.indexOf('-');
    const lo = dash < 0 ? portPart : portPart.slice(0, dash);
    const hi = dash < 0 ? portPart : portPart.slice(dash + 1);
    if (!/^\d+$/.test(lo) || Number(lo) > 65535) fail(ctx, 'IPTABLES_BAD_PORT', portPart, `Port \`${lo}' not valid`);
    if (!/^\d+$/.test(hi) || Number(hi) > 65535 || Number(hi) < Number(lo)) fail(ctx, 'IPTABLES_BAD_PORT', portPart, `Port range \`${hi}' funky`);
    portMin = Number(lo); portMax = Number(hi);
    if (portMin === 0) fail(ctx, 'IPTABLES_UNSUPPORTED', portPart, 'a NAT port of 0 is not supported by sdnemu');
  }
  return { addrMin, addrMax, portMin, portMax };
}

function parseToPorts(ctx: Ctx, s: string): PortRange {
  const dash = s.indexOf('-');
  const lo = dash < 0 ? s : s.slice(0, dash);
  const hi = dash < 0 ? s : s.slice(dash + 1);
  if (!/^\d+$/.test(lo) || Number(lo) > 65535 || Number(lo) === 0) fail(ctx, 'IPTABLES_BAD_PORT', s, `Port \`${lo}' not valid`);
  if (!/^\d+$/.test(hi) || Number(hi) > 65535 || Number(hi) < Number(lo)) fail(ctx, 'IPTABLES_BAD_PORT', s, `Port range \`${s}' funky`);
  return { min: Number(lo), max: Number(hi) };
}

const FULL_RANGE = (p: PortRange): boolean => p.min === 0 && p.max === 65535;

/**
 * Parse the rule specification 'tokens' of a command on chain 'chain';
 * returns one rule per (source, destination) pair, as iptables expands
 * `-s a,b`.
 */
function parseRuleSpec(ctx: Ctx, chain: string, tokens: string[]): Rule[] {
  const rule = emptyRule(ctx.line);
  const spec: Spec = { rule, srcs: [], dsts: [], srcInvert: false, dstInvert: false, targetName: null, nat: null, ports: null };
  const tk = ctx.tk;
  tk.start(ctx, tokens);
  const next = tk.next;
  const hookOf = (BUILTIN_CHAINS[ctx.table] as readonly string[]).includes(chain) ? chain as Hook : null;
  while (tk.i < tokens.length) {
    const tok = tokens[tk.i++]!;
    if (tok === '!') {
      if (tk.invert) fail(ctx, 'IPTABLES_BAD_INVERT', tok, "Multiple `!' flags not allowed");
      tk.invert = true;
      continue;
    }
    switch (tok) {
      case '-s': case '--source': case '--src':
        spec.srcInvert = tk.takeInvert(); spec.srcs = parseAddrList(ctx, next(tok)); continue;
      case '-d': case '--destination': case '--dst':
        spec.dstInvert = tk.takeInvert(); spec.dsts = parseAddrList(ctx, next(tok)); continue;
      case '-p': case '--protocol': {
        const inv = tk.takeInvert();
        rule.proto = { num: parseProto(ctx, next(tok)), invert: inv };
        if (rule.proto.num === 0 && !inv) rule.proto = null;
        continue;
      }
      case '-i': case '--in-interface': {
        const inv = tk.takeInvert();
        const v = next(tok);
        if (hookOf === 'OUTPUT' || hookOf === 'POSTROUTING') fail(ctx, 'IPTABLES_BAD_IFACE', tok, `Can't use -i with ${hookOf}`);
        rule.in = parseIface(ctx, v, inv);
        continue;
      }
      case '-o': case '--out-interface': {
        const inv = tk.takeInvert();
        const v = next(tok);
        if (hookOf === 'INPUT' || hookOf === 'PREROUTING') fail(ctx, 'IPTABLES_BAD_IFACE', tok, `Can't use -o with ${hookOf}`);
        rule.out = parseIface(ctx, v, inv);
        continue;
      }
      case '-f': case '--fragment':
        rule.fragment = { invert: tk.takeInvert() }; continue;
      case '-m': case '--match': {
        if (tk.invert) fail(ctx, 'IPTABLES_BAD_INVERT', tok, 'unexpected ! flag before --match');
        const name = next(tok);
        loadMatch(ctx, rule, name);
        continue;
      }
      case '-j': case '--jump': case '-g': case '--goto': {
        tk.noInvert(tok);
        const name = next(tok);
        if (rule.target) fail(ctx, 'IPTABLES_BAD_ARGUMENT', tok, 'multiple -j flags not allowed');
        rule.target = loadTarget(ctx, name, tok === '-g' || tok === '--goto');
        spec.targetName = name;
        continue;
      }
      case '-c': case '--set-counters': {
        const p = next(tok), b = next(tok);
        if (!/^\d+$/.test(p) || !/^\d+$/.test(b)) fail(ctx, 'IPTABLES_BAD_COUNTERS', p, 'Bad counters');
        if (ctx.counters) rule.counters = { packets: Number(p), bytes: Number(b) };
        continue;
      }
    }
    if (!tok.startsWith('-')) fail(ctx, 'IPTABLES_BAD_ARGUMENT', tok, `Bad argument \`${tok}'`);
    if (!tok.startsWith('--')) fail(ctx, 'IPTABLES_UNKNOWN_OPTION', tok, `unknown option "${tok}"`);
    const inv = tk.takeInvert();
    if (targetOption(ctx, spec, tok, inv, next)) continue;
    if (matchOption(ctx, rule, tok, inv, next)) continue;
    fail(ctx, 'IPTABLES_UNKNOWN_OPTION', tok, `unknown option "${tok}"`);
  }
  if (tk.invert) fail(ctx, 'IPTABLES_BAD_INVERT', '!', "unexpected ! flag at the end of the rule");
  finishRule(ctx, chain, spec);
  const srcs = spec.srcs.length > 0 ? spec.srcs : [null];
  const dsts = spec.dsts.length > 0 ? spec.dsts : [null];
  const out: Rule[] = [];
  for (const s of srcs) {
    for (const d of dsts) {
      const r = out.length === 0 ? rule : structuredClone(rule);
      r.src = s && (s.mask !== 0 || spec.srcInvert) ? { addr: s.addr, mask: s.mask, invert: spec.srcInvert } : null;
      r.dst = d && (d.mask !== 0 || spec.dstInvert) ? { addr: d.addr, mask: d.mask, invert: spec.dstInvert } : null;
      out.push(r);
    }
  }
  return out;
}

function protoIs(rule: Rule, num: number): boolean {
  return rule.proto !== null && rule.proto.num === num && !rule.proto.invert;
}

function loadMatch(ctx: Ctx, rule: Rule, name: string): Match {
  if (!KNOWN_MATCHES.has(name)) fail(ctx, 'IPTABLES_UNKNOWN_MATCH', name, `Couldn't load match \`${name}':No such file or directory`);
  let m: Match;
  switch (name) {
    case 'tcp':
    case 'udp':
      m = { kind: name, sport: null, sportInvert: false, dport: null, dportInvert: false, tcpFlags: null };
      break;
    case 'icmp':
      m = { kind: 'icmp', type: -1, code: null, invert: false };
      break;
    case 'multiport':
      m = { kind: 'multiport', which: 'ports', ports: [], invert: false };
      break;
    case 'comment': m = { kind: 'comment', text: '' }; break;
    case 'mark': m = { kind: 'mark', value: -1, mask: 0xffffffff, invert: false }; break;
    case 'connmark': m = { kind: 'connmark', value: -1, mask: 0xffffffff, invert: false }; break;
    case 'conntrack': m = { kind: 'conntrack', states: [], invert: false }; break;
    case 'state': m = { kind: 'state', states: [], invert: false }; break;
    case 'addrtype': m = { kind: 'addrtype', srcType: null, srcInvert: false, dstType: null, dstInvert: false, limitIfaceIn: false, limitIfaceOut: false }; break;
    case 'statistic': m = { kind: 'statistic', mode: 'random', probability: -1, invert: false }; break;
    case 'set':
      m = { kind: 'set', name: '', flags: [], invert: false, returnNomatch: false, updateCounters: true, updateSubcounters: true, packets: null, bytes: null };
      break;
    case 'recent':
      m = { kind: 'recent', op: 'set', invert: false, seconds: 0, reap: false, hitcount: 0, rttl: false, name: 'DEFAULT', mask: 0xffffffff, side: 'src' };
      break;
    case 'nfacct': m = { kind: 'nfacct', name: '' }; break;
    case 'ipvs': m = { kind: 'ipvs', property: null, vproto: null, vaddr: null, vport: null, vdir: null, vmethod: null, vportctl: null }; break;
    default: m = { kind: 'physdev', physdevIn: null, physdevOut: null, isBridged: null, isIn: null, isOut: null }; break;
  }
  rule.matches.push(m);
  (rule as RuleWithPending).pending ??= new Map();
  (rule as RuleWithPending).pending!.set(m, { opts: new Set(), mode: null, every: null, packet: null, everyInvert: false });
  return m;
}

interface Pending { opts: Set<string>; mode: string | null; every: number | null; packet: number | null; everyInvert: boolean }
type RuleWithPending = Rule & { pending?: Map<Match, Pending> };

/** One x6 option: its name, whether `!` may precede it, the options it excludes and needs (libxtables' excl/also). */
interface XtOption { name: string; invert: boolean; excl?: readonly string[]; also?: readonly string[] }

const RECENT_OPS = ['--set', '--rcheck', '--update', '--remove'] as const;
/** libxt_recent's recent_opts_v1, in its order (the order its checks name options in). */
const RECENT_OPTIONS: readonly XtOption[] = [
  ...RECENT_OPS.map((name) => ({ name, invert: true, excl: RECENT_OPS })),
  { name: '--seconds', invert: false }, { name: '--reap', invert: false, also: ['--seconds'] }, { name: '--hitcount', invert: false },
  { name: '--rttl', invert: false, excl: ['--set', '--remove'] }, { name: '--name', invert: false }, { name: '--rsource', invert: false },
  { name: '--rdest', invert: false }, { name: '--mask', invert: false },
];
/** libxt_ipvs's ipvs_mt_opts. */
const IPVS_OPTIONS: readonly XtOption[] = [
  { name: '--ipvs', invert: true }, { name: '--vproto', invert: true }, { name: '--vaddr', invert: true }, { name: '--vport', invert: true },
  { name: '--vdir', invert: false }, { name: '--vmethod', invert: true }, { name: '--vportctl', invert: true },
];

const MATCH_OPTIONS: Readonly<Record<string, readonly string[]>> = {
  tcp: ['--sport', '--source-port', '--dport', '--destination-port', '--tcp-flags', '--syn'],
  udp: ['--sport', '--source-port', '--dport', '--destination-port'],
  icmp: ['--icmp-type'],
  multiport: ['--sports', '--source-ports', '--dports', '--destination-ports', '--ports'],
  comment: ['--comment'],
  mark: ['--mark'],
  connmark: ['--mark'],
  conntrack: ['--ctstate'],
  state: ['--state'],
  addrtype: ['--src-type', '--dst-type', '--limit-iface-in', '--limit-iface-out'],
  statistic: ['--mode', '--probability', '--every', '--packet'],
  set: ['--match-set', '--set', '--return-nomatch', '--update-counters', '--update-subcounters', '--packets-eq', '--packets-lt',
    '--packets-gt', '--bytes-eq', '--bytes-lt', '--bytes-gt'],
  physdev: ['--physdev-in', '--physdev-out', '--physdev-is-in', '--physdev-is-out', '--physdev-is-bridged'],
  recent: RECENT_OPTIONS.map((o) => o.name),
  nfacct: ['--nfacct-name'],
  ipvs: IPVS_OPTIONS.map((o) => o.name),
};

function matchOption(ctx: Ctx, rule: Rule, opt: string, inv: boolean, next: (o: string) => string): boolean {
  const pending = (rule as RuleWithPending).pending;
  let m: Match | undefined;
  for (let k = rule.matches.length - 1; k >= 0; k--) {
    const cand = rule.matches[k]!;
    if (MATCH_OPTIONS[cand.kind]!.includes(opt)) { m = cand; break; }
  }
  if (!m) {
    // implicit protocol match: `-p tcp --dport 80` loads `-m tcp`
    const p = rule.proto && !rule.proto.invert ? rule.proto.num : -1;
    const implicit = p === 6 ? 'tcp' : p === 17 ? 'udp' : p === 1 ? 'icmp' : null;
    if (implicit === null || !MATCH_OPTIONS[implicit]!.includes(opt)) return false;
    m = loadMatch(ctx, rule, implicit);
  }
  const st = (rule as RuleWithPending).pending!.get(m)!;
  void pending;
  const canon = opt === '--source-port' ? '--sport' : opt === '--destination-port' ? '--dport' : opt === '--source-ports' ? '--sports'
    : opt === '--destination-ports' ? '--dports' : opt === '--set' && m.kind === 'set' ? '--match-set' : opt;
  // libxt_comment takes the last --comment; libxt_set checks its own options (below)
  if (st.opts.has(canon) && m.kind !== 'comment' && m.kind !== 'set') fail(ctx, 'IPTABLES_DUPLICATE_OPTION', opt, `${m.kind}: option "${opt}" can only be used once.`);
  st.opts.add(canon);
  const noInv = (): void => { if (inv) fail(ctx, 'IPTABLES_BAD_INVERT', opt, `${m!.kind}: option "${opt}" cannot be inverted.`); };
  switch (m.kind) {
    case 'tcp':
    case 'udp':
      if (canon === '--sport') { m.sport = parsePortRange(ctx, next(opt)); m.sportInvert = inv; if (FULL_RANGE(m.sport) && !inv) m.sport = null; }
      else if (canon === '--dport') { m.dport = parsePortRange(ctx, next(opt)); m.dportInvert = inv; if (FULL_RANGE(m.dport) && !inv) m.dport = null; }
      else if (m.kind === 'tcp' && (canon === '--tcp-flags' || canon === '--syn')) {
        if (st.opts.has('--tcp-flags') && st.opts.has('--syn')) fail(ctx, 'IPTABLES_DUPLICATE_OPTION', opt, 'tcp: --syn and --tcp-flags are exclusive');
        if (canon === '--syn') m.tcpFlags = { mask: 0x17, comp: 0x02, invert: inv };
        else {
          const mask = parseTcpFlags(ctx, next(opt));
          const comp = parseTcpFlags(ctx, next(opt));
          m.tcpFlags = mask === 0 && !inv ? null : { mask, comp, invert: inv };
        }
      }
      return true;
    case 'icmp': {
      const v = next(opt);
      const named = ICMP_TYPES.get(v);
      if (named) { m.type = named[0]; m.code = named[1]; }
      else {
        const mm = /^(\d+)(?:\/(\d+))?$/.exec(v);
        if (!mm || Number(mm[1]) > 255 || (mm[2] !== undefined && Number(mm[2]) > 255)) fail(ctx, 'IPTABLES_BAD_VALUE', v, `Invalid ICMP type \`${v}'`);
        m.type = Number(mm[1]);
        m.code = mm[2] === undefined ? null : Number(mm[2]);
      }
      m.invert = inv;
      return true;
    }
    case 'multiport': {
      if (st.opts.size > 1) fail(ctx, 'IPTABLES_DUPLICATE_OPTION', opt, 'multiport can only have one option');
      const v = next(opt);
      m.which = canon.slice(2) as 'sports' | 'dports' | 'ports';
      m.ports = v.split(',').map((p) => parsePortRange(ctx, p));
      const slots = m.ports.reduce((n, p) => n + (p.min === p.max ? 1 : 2), 0);
      if (slots > 15) fail(ctx, 'IPTABLES_BAD_VALUE', v, 'too many ports specified');
      m.invert = inv;
      return true;
    }
    case 'comment': {
      noInv();
      const v = next(opt);
      m.text = v.length > 255 ? v.slice(0, 255) : v;
      return true;
    }
    case 'mark':
    case 'connmark': {
      const p = parseMarkPair(ctx, next(opt));
      m.value = p.value; m.mask = p.mask ?? 0xffffffff; m.invert = inv;
      return true;
    }
    case 'conntrack':
    case 'state': {
      const v = next(opt);
      if (v === '!') fail(ctx, 'IPTABLES_BAD_VALUE', v, m.kind === 'conntrack' ? 'Bad ctstate "!"' : 'Bad state "!"');
      m.states = parseStates(ctx, v, m.kind);
      m.invert = inv;
      return true;
    }
    case 'addrtype':
      if (canon === '--src-type') { m.srcType = parseAddrTypes(ctx, next(opt)); m.srcInvert = inv; }
      else if (canon === '--dst-type') { m.dstType = parseAddrTypes(ctx, next(opt)); m.dstInvert = inv; }
      else if (canon === '--limit-iface-in') { noInv(); m.limitIfaceIn = true; }
      else { noInv(); m.limitIfaceOut = true; }
      return true;
    case 'statistic': {
      if (canon === '--mode') {
        noInv();
        const v = next(opt);
        if (v !== 'random' && v !== 'nth') fail(ctx, 'IPTABLES_BAD_VALUE', v, `statistic: bad mode "${v}"`);
        st.mode = v;
      } else if (canon === '--probability') {
        const v = next(opt);
        const p = Number(v);
        if (!/^[0-9.eE+-]+$/.test(v) || !Number.isFinite(p) || p < 0 || p > 1) fail(ctx, 'IPTABLES_BAD_VALUE', v, 'statistic: bad value for option "--probability", or out of range (0-1).');
        Object.assign(m, { mode: 'random', probability: Math.round(p * STATISTIC_ONE) / STATISTIC_ONE, invert: inv });
      } else if (canon === '--every') {
        const v = next(opt);
        const n = parseU32(v);
        if (n === null || n === 0) fail(ctx, 'IPTABLES_BAD_VALUE', v, 'statistic: bad value for option "--every", or out of range (1-4294967295).');
        st.every = n; st.everyInvert = inv;
      } else {
        noInv();
        const v = next(opt);
        const n = parseU32(v);
        if (n === null) fail(ctx, 'IPTABLES_BAD_VALUE', v, 'statistic: bad value for option "--packet"');
        st.packet = n;
      }
      return true;
    }
    case 'set': {
      // libxt_set's set_parse_v4 (via set_parse_v3 and v1): checks in its order, messages in its words, its typo included
      if (canon === '--match-set') {
        if (m.name !== '') fail(ctx, 'IPTABLES_DUPLICATE_OPTION', opt, '--match-set can be specified only once');
        const name = next(opt);
        // getopt took the name; libxt_set itself looks for the flags word
        let flags = '-';
        try { flags = next(opt); } catch { /* none: refused just below */ }
        if (flags.startsWith('-') || flags.startsWith('!')) fail(ctx, 'IPTABLES_MISSING_ARGUMENT', opt, '--match-set requires two args.');
        if (name.length > 31) fail(ctx, 'IPTABLES_BAD_VALUE', name, `setname \`${name}' too long, max 31 characters.`);
        // parse_dirs: at most 6 words, each STARTING with src or dst (`srcx` is src)
        const parts = flags.split(',');
        const dirs: ('src' | 'dst')[] = [];
        for (const f of parts.slice(0, 6)) {
          if (f.startsWith('src')) dirs.push('src');
          else if (f.startsWith('dst')) dirs.push('dst');
          else fail(ctx, 'IPTABLES_BAD_VALUE', flags, "You must spefify (the comma separated list of) 'src' or 'dst'.");
        }
        if (parts.length > 6) fail(ctx, 'IPTABLES_BAD_VALUE', flags, "Can't be more src/dst options than 6.");
        m.name = name;
        m.flags = dirs;
        m.invert = inv;
        return true;
      }
      // given more than once: no error (a plain --update-counters does not undo a `!` one)
      if (canon === '--return-nomatch') {
        if (inv) fail(ctx, 'IPTABLES_BAD_INVERT', opt, '--return-nomatch flag cannot be inverted');
        m.returnNomatch = true;
        return true;
      }
      if (canon === '--update-counters') { if (inv) m.updateCounters = false; return true; }
      if (canon === '--update-subcounters') { if (inv) m.updateSubcounters = false; return true; }
      // --packets-eq/lt/gt and --bytes-eq/lt/gt: one of each kind, only -eq inverted (as 'ne')
      const v = next(opt);
      const which = canon.startsWith('--packets-') ? 'packets' : 'bytes';
      const op = canon.slice(canon.length - 2) as 'eq' | 'lt' | 'gt';
      if ((m[which] ?? null) !== null) fail(ctx, 'IPTABLES_DUPLICATE_OPTION', opt, `only one of the --${which}-[eq|lt|gt] is allowed`);
      if (inv && op !== 'eq') fail(ctx, 'IPTABLES_BAD_INVERT', opt, `${opt} option cannot be inverted`);
      m[which] = { op: inv ? 'ne' : op, value: parseCounter(ctx, v) };
      return true;
    }
    case 'recent': noInvUnless(ctx, m.kind, RECENT_OPTIONS, opt, inv); recentOption(ctx, m, opt, inv, next); return true;
    case 'nfacct': noInv(); m.name = next(opt).slice(0, NFACCT_NAME_MAX); return true;
    case 'ipvs': noInvUnless(ctx, m.kind, IPVS_OPTIONS, opt, inv); ipvsOption(ctx, m, opt, inv, next); return true;
    case 'physdev':
      if (canon === '--physdev-in') m.physdevIn = parseIface(ctx, next(opt), inv);
      else if (canon === '--physdev-out') m.physdevOut = parseIface(ctx, next(opt), inv);
      else if (canon === '--physdev-is-in') m.isIn = !inv;
      else if (canon === '--physdev-is-out') m.isOut = !inv;
      else m.isBridged = !inv;
      return true;
  }
}

// ---- -m recent, -m nfacct, -m ipvs: libxtables' option tables -----------------------------

/** xtables_option_parse's refusal of `!` before an option its table does not mark invertible. */
function noInvUnless(ctx: Ctx, ext: string, table: readonly XtOption[], opt: string, inv: boolean): void {
  if (inv && table.find((o) => o.name === opt)?.invert !== true) fail(ctx, 'IPTABLES_BAD_INVERT', opt, `${ext}: option "${opt}" cannot be inverted.`);
}

/** xtables_options_fcheck: for each option given, in table order, the first option it excludes or needs against the others given. */
function xtFcheck(ctx: Ctx, ext: string, table: readonly XtOption[], given: ReadonlySet<string>): void {
  for (const o of table) {
    if (!given.has(o.name)) continue;
    for (const other of table) {
      if (other.name === o.name) continue;
      if (o.excl?.includes(other.name) && given.has(other.name)) {
        fail(ctx, 'IPTABLES_BAD_MATCH', o.name, `${ext}: option "${o.name}" cannot be used together with "${other.name}".`);
      }
      if (o.also?.includes(other.name) && !given.has(other.name)) fail(ctx, 'IPTABLES_BAD_MATCH', o.name, `${ext}: option "${o.name}" also requires "${other.name}".`);
    }
  }
}

/** An x6 XTTYPE_UINT32 value in [min, max] (strtoul base 0), or the extension's refusal. */
function xtUint(ctx: Ctx, ext: string, opt: string, v: string, min: number, max = 0xffffffff): number {
  const n = parseU32(v);
  if (n === null || n < min || n > max) fail(ctx, 'IPTABLES_BAD_VALUE', v, `${ext}: bad value for option "${opt}", or out of range (${min}-${max}).`);
  return n;
}

/** An XTTYPE_HOST address: dotted quad, or one number for the whole address as inet_aton takes it (`24` is 0.0.0.24). */
function xtHost(ctx: Ctx, v: string): number {
  const a = parseIpv4Dotted(v) ?? parseU32(v);
  if (a !== null) return a >>> 0;
  if (/[A-Za-z]/.test(v)) fail(ctx, 'IPTABLES_HOSTNAME', v, `host/network \`${v}' not found (sdnemu does not resolve hostnames)`);
  fail(ctx, 'IPTABLES_BAD_ADDRESS', v, `host/network \`${v}' not found`);
}

function recentOption(ctx: Ctx, m: Extract<Match, { kind: 'recent' }>, opt: string, inv: boolean, next: (o: string) => string): void {
  switch (opt) {
    case '--set': case '--rcheck': case '--update': case '--remove':
      m.op = opt.slice(2) as typeof m.op;
      if (inv) m.invert = true;
      return;
    case '--seconds': m.seconds = xtUint(ctx, 'recent', opt, next(opt), 1); return;
    case '--hitcount': m.hitcount = xtUint(ctx, 'recent', opt, next(opt), 0); return;
    case '--reap': m.reap = true; return;
    case '--rttl': m.rttl = true; return;
    case '--name': m.name = next(opt).slice(0, RECENT_NAME_MAX); return;
    case '--rsource': m.side = 'src'; return;
    case '--rdest': m.side = 'dst'; return;
    default: m.mask = xtHost(ctx, next(opt));
  }
}

/** libxt_recent's final checks, then xt_recent's checkentry (EINVAL on the rule's line). */
function finishRecent(ctx: Ctx, chain: string, m: Extract<Match, { kind: 'recent' }>, given: ReadonlySet<string>): void {
  if (!RECENT_OPS.some((o) => given.has(o))) {
    fail(ctx, 'IPTABLES_BAD_MATCH', 'recent', "recent: you must specify one of `--set', `--rcheck' `--update' or `--remove'");
  }
  xtFcheck(ctx, 'recent', RECENT_OPTIONS, given);
  const setOrRemove = m.op === 'set' || m.op === 'remove';
  const badName = m.name === '' || m.name === '.' || m.name === '..' || m.name.includes('/');
  if ((setOrRemove && (m.seconds !== 0 || m.hitcount !== 0 || m.rttl || m.reap)) || m.hitcount > RECENT_MAX_HITCOUNT || badName) {
    fail(ctx, 'IPTABLES_INVALID', chain, `line ${ctx.line}: RULE_APPEND failed (Invalid argument): rule in chain ${chain}`);
  }
}

const IPVS_METHODS = ['GATE', 'IPIP', 'MASQ'] as const;

function ipvsOption(ctx: Ctx, m: Extract<Match, { kind: 'ipvs' }>, opt: string, inv: boolean, next: (o: string) => string): void {
  switch (opt) {
    case '--ipvs': m.property = !inv; return;
    case '--vproto': m.vproto = { num: parseProto(ctx, next(opt)), invert: inv }; return;
    case '--vaddr': {
      const v = next(opt);
      const slash = v.indexOf('/');
      const addr = xtHost(ctx, slash < 0 ? v : v.slice(0, slash));
      const len = slash < 0 ? 32 : /^\d+$/.test(v.slice(slash + 1)) ? Number(v.slice(slash + 1)) : 33;
      if (len > 32) fail(ctx, 'IPTABLES_BAD_MASK', v, `ipvs: bad value for option "--vaddr" (${v})`);
      m.vaddr = { addr, mask: prefixMask(len), invert: inv };
      return;
    }
    case '--vport': m.vport = { port: parsePort(ctx, next(opt)), invert: inv }; return;
    case '--vportctl': m.vportctl = { port: parsePort(ctx, next(opt)), invert: inv }; return;
    case '--vdir': {
      const v = next(opt);
      const d = v.toUpperCase();
      if (d !== 'ORIGINAL' && d !== 'REPLY') fail(ctx, 'IPTABLES_BAD_VALUE', v, `ipvs: Bad value for "--vdir" option: "${v}"`);
      m.vdir = d;
      return;
    }
    default: {
      const v = next(opt);
      const meth = IPVS_METHODS.find((x) => x === v.toUpperCase());
      if (meth === undefined) fail(ctx, 'IPTABLES_BAD_VALUE', v, `ipvs: Bad value for "--vmethod" option: "${v}"`);
      m.vmethod = { method: meth, invert: inv };
    }
  }
}

function loadTarget(ctx: Ctx, name: string, isGoto: boolean): Target {
  if (isGoto) {
    const c = ctx.rs.table(ctx.table).chains.get(name);
    if (!c) ctx.missing.push(name);
    return { kind: 'goto', chain: name };
  }
  switch (name) {
    case 'ACCEPT': case 'DROP': case 'RETURN': return { kind: name };
    case 'TRACE': return { kind: 'TRACE' };
    case 'REJECT': return { kind: 'REJECT', with: 'icmp-port-unreachable' };
    case 'DNAT': case 'SNAT': return { kind: name, to: null, random: false, randomFully: false, persistent: false };
    case 'MASQUERADE': return { kind: 'MASQUERADE', toPorts: null, random: false, randomFully: false };
    case 'REDIRECT': return { kind: 'REDIRECT', toPorts: null, random: false };
    case 'MARK': return { kind: 'MARK', value: -1, mask: 0, op: 'set-xmark' };
    // mode 'set' with value -1 until an option says which (checked at the rule's end)
    case 'CONNMARK': return { kind: 'CONNMARK', mode: 'set', value: -1, ctmask: 0xffffffff, nfmask: 0xffffffff };
    case 'LOG': return { kind: 'LOG', prefix: null, level: null };
  }
  const c = ctx.rs.table(ctx.table).chains.get(name);
  if (!c) ctx.missing.push(name);
  return { kind: 'jump', chain: name };
}

function targetOption(ctx: Ctx, spec: Spec, opt: string, inv: boolean, next: (o: string) => string): boolean {
  const t = spec.rule.target;
  if (!t) return false;
  const known = (list: string[]): boolean => list.includes(opt);
  const noInv = (): void => { if (inv) fail(ctx, 'IPTABLES_BAD_INVERT', opt, `${spec.targetName}: option "${opt}" cannot be inverted.`); };
  switch (t.kind) {
    case 'REJECT': {
      if (!known(['--reject-with'])) return false;
      noInv();
      const v = next(opt);
      const w = REJECT_TYPES.get(v);
      if (!w) fail(ctx, 'IPTABLES_BAD_VALUE', v, `unknown reject type "${v}"`);
      t.with = w;
      return true;
    }
    case 'DNAT': case 'SNAT': {
      const toOpt = t.kind === 'DNAT' ? '--to-destination' : '--to-source';
      if (!known([toOpt, '--random', '--random-fully', '--persistent'])) return false;
      noInv();
      if (opt === toOpt) {
        if (t.to) fail(ctx, 'IPTABLES_DUPLICATE_OPTION', opt, `${t.kind}: Multiple ${toOpt} not supported`);
        const v = next(opt);
        t.to = parseNatRange(ctx, v);
        spec.nat = { to: t.to, toToken: v };
      } else if (opt === '--random') t.random = true;
      else if (opt === '--random-fully') t.randomFully = true;
      else t.persistent = true;
      return true;
    }
    case 'MASQUERADE': case 'REDIRECT': {
      if (!known(t.kind === 'MASQUERADE' ? ['--to-ports', '--random', '--random-fully'] : ['--to-ports', '--random'])) return false;
      noInv();
      if (opt === '--to-ports') { const v = next(opt); t.toPorts = parseToPorts(ctx, v); spec.ports = { range: t.toPorts, token: v }; }
      else if (opt === '--random') t.random = true;
      else if (t.kind === 'MASQUERADE') t.randomFully = true;
      return true;
    }
    case 'MARK': {
      if (!known(['--set-xmark', '--set-mark', '--and-mark', '--or-mark', '--xor-mark'])) return false;
      noInv();
      if (t.value !== -1) fail(ctx, 'IPTABLES_DUPLICATE_OPTION', opt, 'MARK target: Can\'t specify --set-xmark twice');
      const v = next(opt);
      const p = parseMarkPair(ctx, v);
      const op = opt.slice(2) as 'set-xmark' | 'set-mark' | 'and-mark' | 'or-mark' | 'xor-mark';
      if (p.mask !== null && op !== 'set-xmark' && op !== 'set-mark') fail(ctx, 'IPTABLES_BAD_VALUE', v, `Bad MARK value \`${v}'`);
      t.op = op;
      switch (op) {
        case 'set-xmark': t.value = p.value; t.mask = p.mask ?? 0xffffffff; break;
        case 'set-mark': t.value = p.value; t.mask = ((p.mask ?? 0xffffffff) | p.value) >>> 0; break;
        case 'and-mark': t.value = 0; t.mask = (~p.value) >>> 0; break;
        case 'or-mark': t.value = p.value; t.mask = p.value; break;
        case 'xor-mark': t.value = p.value; t.mask = 0; break;
      }
      return true;
    }
    case 'CONNMARK': {
      // libxt_CONNMARK revision 1: one of --set-xmark/--set-mark/--and-/--or-/--xor-mark, --save-mark, --restore-mark; --nfmask, --ctmask, --mask
      if (!known(['--set-xmark', '--set-mark', '--and-mark', '--or-mark', '--xor-mark', '--save-mark', '--restore-mark', '--nfmask', '--ctmask', '--mask'])) return false;
      noInv();
      const once = (): void => { if (t.value !== -1) fail(ctx, 'IPTABLES_DUPLICATE_OPTION', opt, 'CONNMARK target: Can\'t specify --set-xmark twice'); };
      if (opt === '--save-mark' || opt === '--restore-mark') { once(); t.mode = opt === '--save-mark' ? 'save' : 'restore'; t.value = 0; return true; }
      const v = next(opt);
      const p = parseMarkPair(ctx, v);
      if (opt === '--nfmask' || opt === '--ctmask' || opt === '--mask') {
        if (p.mask !== null) fail(ctx, 'IPTABLES_BAD_VALUE', v, `Bad CONNMARK mask \`${v}'`);
        if (opt !== '--ctmask') t.nfmask = p.value;
        if (opt !== '--nfmask') t.ctmask = p.value;
        return true;
      }
      once();
      if (p.mask !== null && opt !== '--set-xmark' && opt !== '--set-mark') fail(ctx, 'IPTABLES_BAD_VALUE', v, `Bad CONNMARK value \`${v}'`);
      t.mode = 'set';
      switch (opt) {
        case '--set-xmark': t.value = p.value; t.ctmask = p.mask ?? 0xffffffff; break;
        case '--set-mark': t.value = p.value; t.ctmask = ((p.mask ?? 0xffffffff) | p.value) >>> 0; break;
        case '--and-mark': t.value = 0; t.ctmask = (~p.value) >>> 0; break;
        case '--or-mark': t.value = p.value; t.ctmask = p.value; break;
        default: t.value = p.value; t.ctmask = 0; break;
      }
      return true;
    }
    case 'LOG': {
      if (!known(['--log-prefix', '--log-level'])) {
        if (opt.startsWith('--log-')) fail(ctx, 'IPTABLES_UNSUPPORTED', opt, `LOG option "${opt}" is not supported by sdnemu`);
        return false;
      }
      noInv();
      const v = next(opt);
      if (opt === '--log-prefix') {
        if (v.length > 29) fail(ctx, 'IPTABLES_BAD_VALUE', v, 'Maximum prefix length 29 for --log-prefix');
        t.prefix = v;
      } else {
        const n = /^\d$/.test(v) ? Number(v) : LOG_LEVELS.get(v);
        if (n === undefined || n > 7) fail(ctx, 'IPTABLES_BAD_VALUE', v, `log level \`${v}' unknown`);
        t.level = n === 4 ? null : n;
      }
      return true;
    }
    default:
      return false;
  }
}

/** Final checks of one rule, as the extensions' final_check and the kernel's checkentry do. */
function finishRule(ctx: Ctx, chain: string, spec: Spec): void {
  const rule = spec.rule;
  const pending = (rule as RuleWithPending).pending;
  delete (rule as RuleWithPending).pending;
  const einval = (): never => fail(ctx, 'IPTABLES_INVALID', chain, `line ${ctx.line}: RULE_APPEND failed (Invalid argument): rule in chain ${chain}`);
  const merged: Match[] = [];
  for (const m of rule.matches) {
    const st = pending?.get(m);
    switch (m.kind) {
      case 'tcp': case 'udp':
        if (!protoIs(rule, m.kind === 'tcp' ? 6 : 17)) fail(ctx, 'IPTABLES_BAD_MATCH', m.kind, `${m.kind.toUpperCase()} match requires '-p ${m.kind}'`);
        break;
      case 'icmp':
        if (!protoIs(rule, 1)) fail(ctx, 'IPTABLES_BAD_MATCH', 'icmp', "ICMP match requires '-p icmp'");
        if (m.type === -1) m.type = 255;
        break;
      case 'multiport':
        if (!rule.proto || rule.proto.invert || !PORT_PROTOS.has(rule.proto.num)) {
          fail(ctx, 'IPTABLES_BAD_MATCH', 'multiport', "multiport needs `-p tcp', `-p udp', `-p udplite', `-p sctp' or `-p dccp'");
        }
        if (m.ports.length === 0) fail(ctx, 'IPTABLES_BAD_MATCH', 'multiport', 'multiport: no ports specified'); break;
      case 'comment': if (!st?.opts.has('--comment')) fail(ctx, 'IPTABLES_BAD_MATCH', 'comment', 'comment: option "--comment" must be specified'); break;
      case 'mark': case 'connmark': if (m.value === -1) fail(ctx, 'IPTABLES_BAD_MATCH', m.kind, `${m.kind}: option "--mark" must be specified`); break;
      case 'conntrack': if (m.states.length === 0) fail(ctx, 'IPTABLES_BAD_MATCH', 'conntrack', 'conntrack: at least one option is required'); break;
      case 'state': if (m.states.length === 0) fail(ctx, 'IPTABLES_BAD_MATCH', 'state', 'state: option "--state" must be specified'); break;
      case 'addrtype':
        if (!m.srcType && !m.dstType) fail(ctx, 'IPTABLES_BAD_MATCH', 'addrtype', 'addrtype: you must specify --src-type or --dst-type');
        if (m.limitIfaceIn && m.limitIfaceOut) fail(ctx, 'IPTABLES_BAD_MATCH', 'addrtype', "addrtype: you can't specify both --limit-iface-in and --limit-iface-out");
        break;
      case 'set': if (m.name === '') fail(ctx, 'IPTABLES_BAD_MATCH', 'set', 'You must specify `--match-set\' with proper arguments'); break;
      case 'physdev':
        if (!m.physdevIn && !m.physdevOut && m.isIn === null && m.isOut === null && m.isBridged === null) fail(ctx, 'IPTABLES_BAD_MATCH', 'physdev', 'PHYSDEV: no physdev option specified');
        break;
      case 'recent': finishRecent(ctx, chain, m, st!.opts); break;
      case 'nfacct':
        if (!st!.opts.has('--nfacct-name')) fail(ctx, 'IPTABLES_BAD_MATCH', 'nfacct', 'nfacct: option "--nfacct-name" must be specified');
        // xt_nfacct's checkentry: nfnl_acct_find_get finds no object (ENOENT)
        if (ctx.nfacct !== null && !ctx.nfacct.has(m.name)) {
          fail(ctx, 'IPTABLES_NO_NFACCT', m.name, `line ${ctx.line}: RULE_APPEND failed (No such file or directory): rule in chain ${chain}`);
        }
        break;
      case 'ipvs':
        if (st!.opts.size === 0) fail(ctx, 'IPTABLES_BAD_MATCH', 'ipvs', 'IPVS: At least one option is required');
        if (st!.opts.size > (st!.opts.has('--ipvs') ? 1 : 0) && m.property === false) fail(ctx, 'IPTABLES_BAD_MATCH', 'ipvs', '! --ipvs cannot be together with other options');
        break;
      case 'statistic': {
        const s = st!;
        if (s.mode === null) fail(ctx, 'IPTABLES_BAD_MATCH', 'statistic', 'statistic: option "--mode" must be specified');
        if (s.mode === 'random') {
          if (s.every !== null || s.packet !== null) fail(ctx, 'IPTABLES_BAD_MATCH', 'statistic', 'statistic: --every and --packet need --mode nth');
          if (m.mode !== 'random' || m.probability < 0) fail(ctx, 'IPTABLES_BAD_MATCH', 'statistic', 'statistic: --mode random needs --probability');
        } else {
          if (s.opts.has('--probability')) fail(ctx, 'IPTABLES_BAD_MATCH', 'statistic', 'statistic: --probability needs --mode random');
          if (s.every === null) fail(ctx, 'IPTABLES_BAD_MATCH', 'statistic', 'statistic: --mode nth needs --every');
          if (s.packet === null) fail(ctx, 'IPTABLES_BAD_MATCH', 'statistic', 'statistic: option "--every" also requires "--packet".');
          if (s.packet > s.every - 1) fail(ctx, 'IPTABLES_BAD_VALUE', String(s.packet), 'the --packet p must be 0 <= p <= n-1');
          Object.assign(m, { mode: 'nth', every: s.every, packet: s.packet, invert: s.everyInvert });
          delete (m as { probability?: number }).probability;
        }
        break;
      }
      default: break;
    }
    // nf_tables keeps tcp/udp port and flag options as payload matches, printed as one match: merge
    if ((m.kind === 'tcp' || m.kind === 'udp') && (m.sport || m.dport || (m.kind === 'tcp' && m.tcpFlags))) {
      const first = merged.find((x) => x.kind === m.kind && (x.sport || x.dport || x.tcpFlags)) as typeof m | undefined;
      if (first) {
        if (m.sport) { first.sport = m.sport; first.sportInvert = m.sportInvert; }
        if (m.dport) { first.dport = m.dport; first.dportInvert = m.dportInvert; }
        if (m.tcpFlags) first.tcpFlags = m.tcpFlags;
        continue;
      }
    }
    merged.push(m);
  }
  rule.matches = merged;
  const t = rule.target;
  if (t) {
    switch (t.kind) {
      case 'DNAT': case 'SNAT':
        if (!t.to) fail(ctx, 'IPTABLES_BAD_TARGET', t.kind, `${t.kind}: option "--${t.kind === 'DNAT' ? 'to-destination' : 'to-source'}" must be specified`);
        if (t.to.portMin !== 0 && !(rule.proto && !rule.proto.invert && PORT_PROTOS.has(rule.proto.num) && rule.proto.num !== 136)) {
          fail(ctx, 'IPTABLES_BAD_TARGET', spec.nat?.toToken ?? t.kind, 'Need TCP, UDP, SCTP or DCCP with port specification');
        }
        break;
      case 'MASQUERADE': case 'REDIRECT':
        if (t.toPorts && !(rule.proto && !rule.proto.invert && PORT_PROTOS.has(rule.proto.num) && rule.proto.num !== 136)) {
          fail(ctx, 'IPTABLES_BAD_TARGET', spec.ports?.token ?? t.kind, 'Need TCP, UDP, SCTP or DCCP with port specification');
        }
        break;
      case 'MARK':
        if (t.value === -1) fail(ctx, 'IPTABLES_BAD_TARGET', 'MARK', 'MARK target: Parameter --set/and/or/xor-mark is required');
        break;
      case 'CONNMARK':
        if (t.value === -1) fail(ctx, 'IPTABLES_BAD_TARGET', 'CONNMARK', 'CONNMARK target: No operation specified');
        break;
      case 'REJECT':
        if (t.with === 'tcp-reset' && !protoIs(rule, 6)) einval();
        break;
      case 'jump': case 'goto':
        if ((BUILTIN_CHAINS[ctx.table] as readonly string[]).includes(t.chain)) {
          fail(ctx, 'IPTABLES_INVALID', t.chain, `line ${ctx.line}: RULE_APPEND failed (Operation not supported): rule in chain ${chain}`);
        }
        break;
      default: break;
    }
  }
  void ([] as NatKind[]);
}

// ---- commit-time checks: hooks and loops --------------------------------------

interface Violation { line: number; chain: string; kind: 'loop' | 'hook' }

/**
 * Check table 't' as the kernel does at commit: every rule whose target or
 * match is limited to some tables/hooks is reachable only from those hooks,
 * and no loop of jumps is reachable from a built-in chain. On failure, the
 * error names the first line after which the fault exists (the kernel's
 * ELOOP / EINVAL line).
 */
function validateTable(rs: Ruleset, t: TableName, commitLine: number, added: readonly Rule[]): void {
  const chains = rs.table(t).chains;
  if (firstViolation(t, chains, new Set(), Infinity) === null) return;
  // a fault: which line made it (the rules this restore added, as a set)
  const fresh = new Set(added);
  const all: { chain: string; rule: Rule }[] = [];
  for (const c of chains.values()) for (const r of c.rules) if (fresh.has(r)) all.push({ chain: c.name, rule: r });
  const lines = [...new Set(all.map((x) => x.rule.line))].sort((a, b) => a - b);
  let lo = 0, hi = lines.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (firstViolation(t, chains, fresh, lines[mid]!) !== null) hi = mid; else lo = mid + 1;
  }
  const at = lines[lo] ?? commitLine;
  const v = firstViolation(t, chains, fresh, at) ?? { line: at, chain: '', kind: 'hook' as const };
  const culprit = all.find((x) => x.rule.line === at)?.chain ?? v.chain;
  if (v.kind === 'loop') {
    throw new IptablesRestoreError('IPTABLES_LOOP', at, culprit, `line ${at}: RULE_APPEND failed (Too many links): rule in chain ${culprit}`);
  }
  throw new IptablesRestoreError('IPTABLES_INVALID', at, culprit, `line ${at}: RULE_APPEND failed (Invalid argument): rule in chain ${culprit}`);
}

function ruleHookLimit(t: TableName, r: Rule): { table: TableName | null; hooks: readonly Hook[] } | null {
  if (r.target && r.target.kind in TARGET_HOOKS) return TARGET_HOOKS[r.target.kind]!;
  for (const m of r.matches) {
    if (m.kind === 'addrtype' && m.limitIfaceIn) return LIMIT_IFACE_IN;
    if (m.kind === 'addrtype' && m.limitIfaceOut) return LIMIT_IFACE_OUT;
  }
  void t;
  return null;
}

const HOOK_BIT: Readonly<Record<Hook, number>> = { PREROUTING: 1, INPUT: 2, FORWARD: 4, OUTPUT: 8, POSTROUTING: 16 };
const hookMask = (hooks: readonly Hook[]): number => hooks.reduce((m, h) => m | HOOK_BIT[h], 0);
/** the hook masks of the limits ruleHookLimit returns (its objects are the constants above and below) */
const limitMasks = new Map<readonly Hook[], number>();

/**
 * What the commit checks need of one chain when every rule counts: its jump targets in order,
 * whether a rule's target belongs to another table, and the hooks all its rules allow. Cached
 * by chain object (a committed chain is never changed in place: restore copies it first), so
 * checking a table whose chains other nodes share, or that an earlier restore left alone, costs
 * a look-up per chain, not a pass over its rules.
 */
interface ChainDigest { rules: readonly Rule[]; len: number; table: TableName; targets: string[]; tableBad: boolean; allowed: number }
const digests = new WeakMap<Chain, ChainDigest>();
const ALL_HOOKS = 31;

function digestOf(t: TableName, c: Chain): ChainDigest {
  const d = digests.get(c);
  if (d !== undefined && d.rules === c.rules && d.len === c.rules.length && d.table === t) return d;
  const targets: string[] = [];
  let tableBad = false, allowed = ALL_HOOKS;
  for (const r of c.rules) {
    const tg = r.target;
    if (tg?.kind === 'jump' || tg?.kind === 'goto') targets.push(tg.chain);
    const lim = ruleHookLimit(t, r);
    if (lim === null) continue;
    if (lim.table !== null && lim.table !== t) tableBad = true;
    allowed &= limitMask(lim.hooks);
  }
  const out = { rules: c.rules, len: c.rules.length, table: t, targets, tableBad, allowed };
  digests.set(c, out);
  return out;
}

function limitMask(hooks: readonly Hook[]): number {
  let m = limitMasks.get(hooks);
  if (m === undefined) { m = hookMask(hooks); limitMasks.set(hooks, m); }
  return m;
}

/**
 * The first fault among rules with line ≤ 'upto' (rules of line 0 — made in code or kept from
 * before — always count); with 'dangling', a jump to a chain that does not exist is one too.
 * Chains are numbered in map order and hooks are bits, so a check of a large table (kube-proxy's
 * tens of thousands of chains) is a few passes over flat arrays; when every rule counts, a
 * chain's rules are read once per chain object (digestOf).
 */
function firstViolation(t: TableName, chains: Map<string, Chain>, fresh: Set<Rule>, upto: number, dangling = false): Violation | null {
  const list = [...chains.values()];
  const n = list.length;
  const idx = new Map<string, number>();
  for (let i = 0; i < n; i++) idx.set(list[i]!.name, i);
  const all = upto === Infinity;
  const counts = (r: Rule): boolean => all || r.line <= upto || !fresh.has(r);
  // jump edges in rule order, as chain numbers (a jump to a chain that does not exist leads nowhere)
  const start = new Int32Array(n + 1);
  const edges: number[] = [];
  for (let i = 0; i < n; i++) {
    start[i] = edges.length;
    if (all) {
      for (const name of digestOf(t, list[i]!).targets) {
        const j = idx.get(name);
        if (j !== undefined) edges.push(j);
        else if (dangling) return { line: upto, chain: list[i]!.name, kind: 'hook' };
      }
      continue;
    }
    for (const r of list[i]!.rules) {
      const tg = r.target;
      if ((tg?.kind === 'jump' || tg?.kind === 'goto') && counts(r)) {
        const j = idx.get(tg.chain);
        if (j !== undefined) edges.push(j);
      }
    }
  }
  start[n] = edges.length;
  // the hooks reaching each chain, and loop detection by DFS from each built-in chain
  const hooks = new Uint8Array(n);
  const state = new Uint8Array(n);
  const stackC: number[] = [], stackE: number[] = [];
  for (const hook of BUILTIN_CHAINS[t]) {
    const h = idx.get(hook);
    if (h === undefined) continue;
    const bit = HOOK_BIT[hook];
    state.fill(0);
    state[h] = 1;
    hooks[h]! |= bit;
    stackC.push(h); stackE.push(start[h]!);
    while (stackC.length > 0) {
      const top = stackC.length - 1, c = stackC[top]!, e = stackE[top]!;
      if (e >= start[c + 1]!) { state[c] = 2; stackC.pop(); stackE.pop(); continue; }
      stackE[top] = e + 1;
      const nxt = edges[e]!;
      if (state[nxt] === 1) return { line: upto, chain: list[c]!.name, kind: 'loop' };
      if (state[nxt] === 2) continue;
      state[nxt] = 1;
      hooks[nxt]! |= bit;
      stackC.push(nxt); stackE.push(start[nxt]!);
    }
  }
  for (let i = 0; i < n; i++) {
    const c = list[i]!;
    // every rule counts: a chain without a fault needs no look at its rules
    if (all) { const d = digestOf(t, c); if (!d.tableBad && (hooks[i]! & ~d.allowed) === 0) continue; }
    for (const r of c.rules) {
      const lim = ruleHookLimit(t, r);
      if (lim === null || !counts(r)) continue;
      if (lim.table !== null && lim.table !== t) return { line: r.line, chain: c.name, kind: 'hook' };
      if ((hooks[i]! & ~limitMask(lim.hooks)) !== 0) return { line: r.line, chain: c.name, kind: 'hook' };
    }
  }
  return null;
}
