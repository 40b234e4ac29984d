/**
 * `iptables-save` text (netfilter layer, slow path): a `Ruleset` printed
 * exactly as iptables 1.8.9 with the nf_tables backend prints it.
 *
 * What: `formatSave()` gives the whole dump; `formatRule()` one `-A` line
 * (restore.ts uses it to find the rule a `-D CHAIN rulespec` names);
 * `protoName()`/`tablePresent()` are shared with restore.ts.
 * Why a printer of its own: users diff our dump against the kernel's, and
 * kube-proxy-style tests compare text; so every spelling below was taken
 * from the real tool (test/netfilter/save-kernel.test.ts restores the same
 * text in a network namespace and compares the two dumps line by line).
 * What the kernel tool does, and we copy:
 *  - tables in the backend's fixed order mangle, raw, filter, nat (security
 *    is not modelled), and only tables that exist: a table exists once a
 *    restore block declared a chain or added a rule in it (restore.ts marks
 *    it with `markTablePresent`), or when it holds anything but defaults;
 *  - built-in chains in hook order, then user chains sorted by name; chain
 *    counters always, rule counters (`[p:b] -A …`) only with `counters`;
 *  - rule text in the order `-s -d -i -o -p -f`, matches in rule order,
 *    target; addresses as `a.b.c.d/len` or `/a.b.c.d` for a non-prefix mask;
 *    protocol names from /etc/protocols (Debian netbase); tcp/udp options
 *    as `--sport --dport --tcp-flags`; marks in hex with the mask omitted
 *    when all ones; MARK always as `--set-xmark v/m`; CONNMARK as
 *    `--set-xmark v/m` or `--save-mark`/`--restore-mark --nfmask m --ctmask m`
 *    (libxt_CONNMARK revision 1, checked against the kernel); statistic probability
 *    as the kernel's 31-bit fixed point printed `%.11f`; strings through
 *    xtables_save_string's quoting (bare when only [A-Za-z0-9_-], else
 *    double-quoted with `"`, `'` and `\` backslash-escaped); `-m set`
 *    options after the flags as `--return-nomatch ! --update-counters
 *    ! --update-subcounters --packets-… --bytes-…`, counters in decimal;
 *    `-m recent` as `--OP [--seconds N] [--reap] [--hitcount N] [--rttl]
 *    --name NAME --mask M --rsource|--rdest` (numbers as %d, the name bare
 *    even with blanks); `-m nfacct --nfacct-name  NAME` (two blanks);
 *    `-m ipvs` as libxt_ipvs saves it (--vproto as a number).
 * Invariant: pure function of the ruleset and options; never reads a clock
 * (the date line is a parameter).
 * Neighbours: model.ts (the data), restore.ts (the reverse direction).
 */
import { ipv4ToString } from '../wire/bytes.js';
import { BUILTIN_CHAINS, type Chain, type Counters, type Match, type Rule, type Ruleset, type TableName, type Target, type AddrMatch, type IfaceMatch, type PortRange, type SetCounterMatch, type IpvsMatch } from './model.js';

/** Tables in the order iptables-save (nf_tables) walks them. */
export const SAVE_TABLE_ORDER: readonly TableName[] = ['mangle', 'raw', 'filter', 'nat'];

/** Protocol numbers to names, as getprotobynumber() answers on Debian 12 (netbase /etc/protocols). */
export const PROTOCOLS: ReadonlyMap<number, string> = new Map<number, string>([
  [1, 'icmp'], [2, 'igmp'], [3, 'ggp'], [4, 'ipencap'], [5, 'st'], [6, 'tcp'], [8, 'egp'], [9, 'igp'], [12, 'pup'],
  [17, 'udp'], [20, 'hmp'], [22, 'xns-idp'], [27, 'rdp'], [29, 'iso-tp4'], [33, 'dccp'], [36, 'xtp'], [37, 'ddp'],
  [38, 'idpr-cmtp'], [41, 'ipv6'], [43, 'ipv6-route'], [44, 'ipv6-frag'], [45, 'idrp'], [46, 'rsvp'], [47, 'gre'],
  [50, 'esp'], [51, 'ah'], [57, 'skip'], [58, 'ipv6-icmp'], [59, 'ipv6-nonxt'], [60, 'ipv6-opts'], [73, 'rspf'],
  [81, 'vmtp'], [88, 'eigrp'], [89, 'ospf'], [93, 'ax.25'], [94, 'ipip'], [97, 'etherip'], [98, 'encap'], [103, 'pim'],
  [108, 'ipcomp'], [112, 'vrrp'], [115, 'l2tp'], [124, 'isis'], [132, 'sctp'], [133, 'fc'], [135, 'mobility-header'],
  [136, 'udplite'], [137, 'mpls-in-ip'], [138, 'manet'], [139, 'hip'], [140, 'shim6'], [141, 'wesp'], [142, 'rohc'],
  [143, 'ethernet'],
]);

/** The name iptables-save prints for protocol 'num' (the number itself when it has none). */
export function protoName(num: number): string {
  return PROTOCOLS.get(num) ?? String(num);
}

/** TCP flag bits in the order iptables prints them. */
export const TCP_FLAG_NAMES: readonly (readonly [string, number])[] = [
  ['FIN', 0x01], ['SYN', 0x02], ['RST', 0x04], ['PSH', 0x08], ['ACK', 0x10], ['URG', 0x20],
];

/** Conntrack states in the kernel's bit order (the order `--ctstate`/`--state` are printed in). */
export const CT_STATE_ORDER = ['INVALID', 'NEW', 'RELATED', 'ESTABLISHED', 'UNTRACKED', 'SNAT', 'DNAT'] as const;
/** Address types in the kernel's bit order. */
export const ADDR_TYPE_ORDER = ['UNSPEC', 'UNICAST', 'LOCAL', 'BROADCAST', 'ANYCAST', 'MULTICAST', 'BLACKHOLE',
  'UNREACHABLE', 'PROHIBIT', 'THROW', 'NAT', 'XRESOLVE'] as const;

/** The statistic match's fixed point: probability p is stored as round(p * 2^31). */
export const STATISTIC_ONE = 0x80000000;

// ---- tables that exist ---------------------------------------------------

const presentTables = new WeakMap<Ruleset, Set<TableName>>();

/**
 * Record that table 't' of 'rs' exists (a restore block declared a chain or
 * added a rule in it) or, with 'present' false, that it was flushed away.
 */
export function markTablePresent(rs: Ruleset, t: TableName, present = true): void {
  let s = presentTables.get(rs);
  if (!s) { s = new Set(); presentTables.set(rs, s); }
  if (present) s.add(t); else s.delete(t);
}

/** Whether iptables-save would list table 't' of 'rs': marked present, or not in its initial state. */
export function tablePresent(rs: Ruleset, t: TableName): boolean {
  if (presentTables.get(rs)?.has(t)) return true;
  const table = rs.table(t);
  for (const c of table.chains.values()) {
    if (c.policy === null || c.policy !== 'ACCEPT' || c.rules.length > 0 || c.counters.packets !== 0 || c.counters.bytes !== 0) return true;
  }
  return false;
}

/** The tables 'src' marks present, copied onto 'dst' (restore.ts commits a parsed copy this way). */
export function copyPresentTables(src: Ruleset, dst: Ruleset): void {
  const s = presentTables.get(src);
  presentTables.set(dst, new Set(s ?? []));
}

// ---- the dump --------------------------------------------------------------

export interface SaveOptions {
  /** print rule counters as `[p:b] -A …` (iptables-save -c) */
  counters?: boolean;
  /** print only these tables (iptables-save -t), even when they do not exist yet */
  tables?: TableName[];
  /** the date in the `# Generated by`/`# Completed on` lines; a Date is printed as ctime(3) in UTC */
  date?: Date | string;
  /** a rule's counters on this node (Evaluator.countersOf: a shared chain's rules count per node); default the rule's own */
  countersOf?: (r: Rule) => Counters;
}

/**
 * The `iptables-save` text of 'rs'. 'opts.counters' adds rule counters,
 * 'opts.tables' restricts (and forces) the tables printed, 'opts.date' is the
 * date of the comment lines (default: the epoch, so output is reproducible).
 */
export function formatSave(rs: Ruleset, opts: SaveOptions = {}): string {
  const date = typeof opts.date === 'string' ? opts.date : ctime(opts.date ?? new Date(0));
  const out: string[] = [];
  for (const t of SAVE_TABLE_ORDER) {
    if (opts.tables ? !opts.tables.includes(t) : !tablePresent(rs, t)) continue;
    out.push(`# Generated by iptables-save v1.8.9 (nf_tables) on ${date}`, `*${t}`);
    const chains = orderedChains(rs, t);
    for (const c of chains) out.push(`:${c.name} ${c.policy ?? '-'} [${c.counters.packets}:${c.counters.bytes}]`);
    for (const c of chains) {
      for (const r of c.rules) {
        const n = opts.counters ? (opts.countersOf?.(r) ?? r.counters) : null;
        out.push((n !== null ? `[${n.packets}:${n.bytes}] ` : '') + formatRule(c.name, r));
      }
    }
    out.push('COMMIT', `# Completed on ${date}`);
  }
  return out.length === 0 ? '' : out.join('\n') + '\n';
}

/** Chains of table 't' as iptables-save orders them: built-ins in hook order, then user chains by name. */
export function orderedChains(rs: Ruleset, t: TableName): Chain[] {
  const table = rs.table(t);
  const builtin: Chain[] = [];
  for (const name of BUILTIN_CHAINS[t]) { const c = table.chains.get(name); if (c) builtin.push(c); }
  const user = [...table.chains.values()].filter((c) => c.policy === null).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return builtin.concat(user);
}

/** asctime(3) of 'd' in UTC, as iptables-save prints it ("Sun Nov 22 09:42:04 2026"). */
export function ctime(d: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p2 = (n: number): string => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]} ${months[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ` +
    `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

/** One rule of chain 'chain' as iptables-save prints it, without counters: `-A CHAIN …`. */
export function formatRule(chain: string, r: Rule): string {
  let s = `-A ${chain}`;
  if (r.src) s += addr('-s', r.src);
  if (r.dst) s += addr('-d', r.dst);
  if (r.in) s += iface('-i', r.in);
  if (r.out) s += iface('-o', r.out);
  if (r.proto && !(r.proto.num === 0 && !r.proto.invert)) s += `${r.proto.invert ? ' !' : ''} -p ${protoName(r.proto.num)}`;
  if (r.fragment) s += `${r.fragment.invert ? ' !' : ''} -f`;
  for (const m of r.matches) s += formatMatch(m);
  if (r.target) s += formatTarget(r.target);
  return s;
}


/** The prefix length of 'mask', or -1 when it is not contiguous. */
export function maskLen(mask: number): number {
  const m = mask >>> 0;
  let len = 0;
  while (len < 32 && ((m >>> (31 - len)) & 1) === 1) len++;
  const rebuilt = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return rebuilt === m ? len : -1;
}

function addr(opt: string, a: AddrMatch): string {
  if (a.mask === 0 && !a.invert) return '';
  const len = maskLen(a.mask);
  return `${a.invert ? ' !' : ''} ${opt} ${ipv4ToString(a.addr)}/${len >= 0 ? len : ipv4ToString(a.mask)}`;
}

function ifaceName(i: IfaceMatch): string {
  return i.name + (i.wildcard ? '+' : '');
}

function iface(opt: string, i: IfaceMatch): string {
  return `${i.invert ? ' !' : ''} ${opt} ${ifaceName(i)}`;
}

function range(p: PortRange, sep: string): string {
  return p.min === p.max ? String(p.min) : `${p.min}${sep}${p.max}`;
}

function hex(n: number): string {
  return '0x' + (n >>> 0).toString(16);
}

function tcpFlags(bits: number): string {
  if (bits === 0) return 'NONE';
  return TCP_FLAG_NAMES.filter(([, b]) => (bits & b) !== 0).map(([n]) => n).join(',');
}

/** xtables_save_string(): bare when only [A-Za-z0-9_-], else double-quoted with `"`, `'`, `\` escaped. */
export function saveString(v: string): string {
  if (/^[A-Za-z0-9_-]+$/.test(v)) return v;
  return '"' + v.replace(/["'\\]/g, (c) => '\\' + c) + '"';
}

/** The kernel's statistic probability 'p' printed `%.11f` of its 31-bit fixed point (ties to even, as glibc). */
export function formatProbability(p: number): string {
  const k = BigInt(Math.round(p * STATISTIC_ONE));
  const scale = 10n ** 11n;
  const num = k * scale;
  const den = BigInt(STATISTIC_ONE);
  let q = num / den;
  const rem = num % den;
  if (rem * 2n > den || (rem * 2n === den && q % 2n === 1n)) q += 1n;
  const whole = q / scale;
  const frac = (q % scale).toString().padStart(11, '0');
  return `${whole}.${frac}`;
}

/** A `-m set` counter condition: `--packets-lt 5`, `! --bytes-eq 7` ('ne'). */
function setCounter(what: 'packets' | 'bytes', c: SetCounterMatch): string {
  return c.op === 'ne' ? ` ! --${what}-eq ${c.value}` : ` --${what}-${c.op} ${c.value}`;
}

function inv(b: boolean): string {
  return b ? ' !' : '';
}

/** One extension match as iptables-save prints it (with its leading space). */
export function formatMatch(m: Match): string {
  switch (m.kind) {
    case 'tcp':
    case 'udp': {
      let s = ` -m ${m.kind}`;
      if (m.sport) s += `${inv(m.sportInvert)} --sport ${range(m.sport, ':')}`;
      if (m.dport) s += `${inv(m.dportInvert)} --dport ${range(m.dport, ':')}`;
      if (m.kind === 'tcp' && m.tcpFlags) s += `${inv(m.tcpFlags.invert)} --tcp-flags ${tcpFlags(m.tcpFlags.mask)} ${tcpFlags(m.tcpFlags.comp)}`;
      return s;
    }
    case 'icmp': {
      const t = m.type === 255 && m.code === null ? 'any' : m.code === null ? String(m.type) : `${m.type}/${m.code}`;
      return ` -m icmp${inv(m.invert)} --icmp-type ${t}`;
    }
    case 'multiport':
      return ` -m multiport${inv(m.invert)} --${m.which} ${m.ports.map((p) => range(p, ':')).join(',')}`;
    case 'comment':
      return ` -m comment --comment ${saveString(m.text)}`;
    case 'mark':
    case 'connmark':
      return ` -m ${m.kind}${inv(m.invert)} --mark ${hex(m.value)}${(m.mask >>> 0) === 0xffffffff ? '' : '/' + hex(m.mask)}`;
    case 'conntrack':
      return ` -m conntrack${inv(m.invert)} --ctstate ${m.states.join(',')}`;
    case 'state':
      return ` -m state${inv(m.invert)} --state ${m.states.join(',')}`;
    case 'addrtype': {
      let s = ' -m addrtype';
      if (m.srcType) s += `${inv(m.srcInvert)} --src-type ${m.srcType.join(',')}`;
      if (m.dstType) s += `${inv(m.dstInvert)} --dst-type ${m.dstType.join(',')}`;
      if (m.limitIfaceIn) s += ' --limit-iface-in';
      if (m.limitIfaceOut) s += ' --limit-iface-out';
      return s;
    }
    case 'statistic':
      if (m.mode === 'random') return ` -m statistic --mode random${inv(m.invert)} --probability ${formatProbability(m.probability)}`;
      return ` -m statistic --mode nth${inv(m.invert)} --every ${m.every} --packet ${m.packet}`;
    case 'set': {
      // libxt_set's set_print_v3_matchinfo: the options in this fixed order, whatever order they were given in
      let s = ` -m set${inv(m.invert)} --match-set ${m.name} ${m.flags.join(',')}`;
      if (m.returnNomatch === true) s += ' --return-nomatch';
      if (m.updateCounters === false) s += ' ! --update-counters';
      if (m.updateSubcounters === false) s += ' ! --update-subcounters';
      if (m.packets) s += setCounter('packets', m.packets);
      if (m.bytes) s += setCounter('bytes', m.bytes);
      return s;
    }
    case 'physdev': {
      let s = ' -m physdev';
      if (m.isIn !== null) s += `${inv(!m.isIn)} --physdev-is-in`;
      if (m.physdevIn) s += `${inv(m.physdevIn.invert)} --physdev-in ${ifaceName(m.physdevIn)}`;
      if (m.isOut !== null) s += `${inv(!m.isOut)} --physdev-is-out`;
      if (m.physdevOut) s += `${inv(m.physdevOut.invert)} --physdev-out ${ifaceName(m.physdevOut)}`;
      if (m.isBridged !== null) s += `${inv(!m.isBridged)} --physdev-is-bridged`;
      return s;
    }
    case 'recent': {
      // libxt_recent's recent_save: seconds and hitcount as %d, the name bare (even with blanks), mask and side always
      const i32 = (n: number): number => n | 0;
      let s = ` -m recent${inv(m.invert)} --${m.op}`;
      if (m.seconds !== 0) s += ` --seconds ${i32(m.seconds)}`;
      if (m.reap) s += ' --reap';
      if (m.hitcount !== 0) s += ` --hitcount ${i32(m.hitcount)}`;
      if (m.rttl) s += ' --rttl';
      return `${s} --name ${m.name} --mask ${ipv4ToString(m.mask)} ${m.side === 'src' ? '--rsource' : '--rdest'}`;
    }
    case 'nfacct':
      // libxt_nfacct prints the option and a blank, then xtables_save_string its own leading blank
      return ` -m nfacct --nfacct-name  ${saveString(m.name)}`;
    case 'ipvs': return formatIpvs(m);
  }
}

/** libxt_ipvs's ipvs_mt_dump with the `--` prefix: `--ipvs` alone, else the other options in its order (--vproto as a number, /32 left out). */
function formatIpvs(m: IpvsMatch): string {
  let s = ' -m ipvs';
  const only = m.vproto === null && m.vaddr === null && m.vport === null && m.vdir === null && m.vmethod === null && m.vportctl === null;
  if (only) return `${s}${inv(m.property === false)} --ipvs`;
  if (m.vproto) s += `${inv(m.vproto.invert)} --vproto ${m.vproto.num}`;
  if (m.vaddr) {
    const len = maskLen(m.vaddr.mask);
    s += `${inv(m.vaddr.invert)} --vaddr ${ipv4ToString(m.vaddr.addr)}${len === 32 ? '' : len >= 0 ? `/${len}` : `/${ipv4ToString(m.vaddr.mask)}`}`;
  }
  if (m.vport) s += `${inv(m.vport.invert)} --vport ${m.vport.port}`;
  if (m.vdir) s += ` --vdir ${m.vdir}`;
  if (m.vmethod) s += `${inv(m.vmethod.invert)} --vmethod ${m.vmethod.method}`;
  if (m.vportctl) s += `${inv(m.vportctl.invert)} --vportctl ${m.vportctl.port}`;
  return s;
}

function natRange(t: { addrMin: number; addrMax: number; portMin: number; portMax: number }): string {
  let s = '';
  if (t.addrMin !== 0 || t.addrMax !== 0) s += ipv4ToString(t.addrMin) + (t.addrMax !== t.addrMin ? '-' + ipv4ToString(t.addrMax) : '');
  if (t.portMin !== 0) s += `:${t.portMin}` + (t.portMax !== t.portMin ? `-${t.portMax}` : '');
  return s;
}

/** The target as iptables-save prints it (with its leading space). */
export function formatTarget(t: Target): string {
  switch (t.kind) {
    case 'ACCEPT':
    case 'DROP':
    case 'RETURN':
    case 'TRACE':
      return ` -j ${t.kind}`;
    case 'jump':
      return ` -j ${t.chain}`;
    case 'goto':
      return ` -g ${t.chain}`;
    case 'REJECT':
      return ` -j REJECT --reject-with ${t.with}`;
    case 'DNAT':
    case 'SNAT': {
      let s = ` -j ${t.kind}`;
      if (t.to) s += ` --${t.kind === 'DNAT' ? 'to-destination' : 'to-source'} ${natRange(t.to)}`;
      if (t.random) s += ' --random';
      if (t.randomFully) s += ' --random-fully';
      if (t.persistent) s += ' --persistent';
      return s;
    }
    case 'MASQUERADE':
    case 'REDIRECT': {
      let s = ` -j ${t.kind}`;
      if (t.toPorts) s += ` --to-ports ${range(t.toPorts, '-')}`;
      if (t.random) s += ' --random';
      if (t.kind === 'MASQUERADE' && t.randomFully) s += ' --random-fully';
      return s;
    }
    case 'MARK':
      return ` -j MARK --set-xmark ${hex(t.value)}/${hex(t.mask)}`;
    case 'CONNMARK':
      // libxt_CONNMARK's connmark_tg_save (revision 1)
      return t.mode === 'set' ? ` -j CONNMARK --set-xmark ${hex(t.value)}/${hex(t.ctmask)}`
        : ` -j CONNMARK --${t.mode}-mark --nfmask ${hex(t.nfmask)} --ctmask ${hex(t.ctmask)}`;
    case 'LOG': {
      let s = ' -j LOG';
      if (t.prefix !== null) s += ` --log-prefix ${saveString(t.prefix)}`;
      if (t.level !== null && t.level !== 4) s += ` --log-level ${t.level}`;
      return s;
    }
  }
}
