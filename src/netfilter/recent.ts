/**
 * Per-namespace match state (netfilter layer, slow path): xt_recent's
 * address lists and nfacct's named counters.
 *
 * What: `RecentTables` holds the `-m recent` lists of one network
 * namespace (one NfStack): a list per name, each entry an address (the
 * packet's source or destination under the list's mask) with the TTL it
 * was set with and a ring of timestamps on the virtual clock (ms).
 * `match(m, pkt address, ttl, now)` is xt_recent's recent_mt; `sync(rs)`
 * is what loading a rule set does to the lists (checkentry/destroy);
 * `procText`/`procWrite` are /proc/net/xt_recent/NAME. `NfAcct` holds the
 * `nfacct` objects (`nfacct add|del|get|list`) that `-m nfacct` counts into.
 * Behaviour, from net/netfilter/xt_recent.c (Linux 6.x) and checked
 * against the kernel (test/netfilter/recent-kernel.test.ts):
 *  - a list exists while some rule names it; it is created by the first
 *    rule that names it, which fixes its mask for good (a later rule's
 *    --mask is ignored, also across reloads that keep the name); a rule set
 *    that no longer names it destroys it with its entries;
 *  - at most 100 entries a list (ip_list_tot): a new entry first evicts the
 *    least recently set/updated one; --rcheck does not refresh an entry;
 *  - each entry keeps the last 32 timestamps (ip_pkt_list_tot is 0 in
 *    current kernels, so the ring is roundup_pow_of_two(--hitcount) when a
 *    rule of the list has a hitcount above 32, else 32); a rule needing a
 *    larger ring than its list has flushes the list and grows it;
 *  - --rcheck/--update: a timestamp counts when it is at most --seconds old;
 *    the match holds once --hitcount of them count (any one without
 *    --hitcount); the result is then inverted by `!`; --update refreshes
 *    the entry when that inverted result is true; --reap then looks at the
 *    least recently used entry of the list only and removes it when its
 *    newest timestamp is older than --seconds (not when it is the entry
 *    being updated); --rttl matches only entries set with the packet's TTL
 *    (the TTL before forwarding: +1 on a forwarded packet after routing);
 *  - --set adds or refreshes the entry and matches (`! --set`: never);
 *    --remove matches and removes an entry that is there.
 * Deliberate differences: timestamps are virtual-clock milliseconds (the
 * kernel's are jiffies, also what /proc prints here); /proc lists entries
 * in LRU order (the kernel walks its hash buckets, seeded at random); IPv6
 * is not modelled.
 * Cost: a Map lookup per packet and a walk over at most the ring's stamps.
 * Neighbours: model.ts (RecentMatch), eval.ts calls through NfHost,
 * stack.ts owns one RecentTables and is given an NfAcct.
 */
import { SdnemuError } from '../errors.js';
import { ipv4ToString, parseIpv4Dotted } from '../wire/bytes.js';
import type { RecentMatch, Ruleset } from './model.js';

/** ip_list_tot: entries per list. */
export const RECENT_LIST_TOT = 100;
/** Timestamps an entry keeps when no rule asks for more. */
export const RECENT_DEFAULT_STAMPS = 32;
/** The largest --hitcount the kernel takes (XT_RECENT_MAX_NSTAMPS − 1). */
export const RECENT_MAX_HITCOUNT = 65535;
/** XT_RECENT_NAME_LEN − 1: longer names are cut. */
export const RECENT_NAME_MAX = 199;
/** NFACCT_NAME_MAX − 1: longer names are cut. */
export const NFACCT_NAME_MAX = 31;

interface RecentEntry {
  addr: number;
  ttl: number;
  /** the ring of timestamps (ms) */
  stamps: number[];
  /** where the next stamp goes (1-based after a write, as the kernel's index) */
  index: number;
  nstamps: number;
}

/** One recent list. Map order is the LRU order: first = least recently set or updated. */
export class RecentList {
  readonly name: string;
  readonly mask: number;
  /** ring size − 1 (a power of two minus one) */
  ringMask: number;
  readonly entries = new Map<number, RecentEntry>();

  constructor(name: string, mask: number, ringMask: number) {
    this.name = name;
    this.mask = mask >>> 0;
    this.ringMask = ringMask;
  }

  private touch(e: RecentEntry, now: number): void {
    e.index &= this.ringMask;
    e.stamps[e.index++] = now;
    if (e.index > e.nstamps) e.nstamps = e.index;
    this.entries.delete(e.addr);
    this.entries.set(e.addr, e);
  }

  private add(addr: number, ttl: number, now: number): RecentEntry {
    if (this.entries.size >= RECENT_LIST_TOT) this.entries.delete(this.entries.keys().next().value!);
    const e: RecentEntry = { addr, ttl, stamps: [now], index: 1, nstamps: 1 };
    this.entries.set(addr, e);
    return e;
  }

  private lookup(addr: number, ttl: number): RecentEntry | undefined {
    const e = this.entries.get(addr);
    return e !== undefined && (ttl === 0 || e.ttl === 0 || e.ttl === ttl) ? e : undefined;
  }

  /**
   * recent_mt for rule 'm' and a packet whose address on the rule's side is
   * 'addr' and whose TTL (as before forwarding) is 'ttl', at 'now' (ms):
   * whether the match holds; changes the list as the kernel does.
   */
  match(m: RecentMatch, addr: number, ttl: number, now: number): boolean {
    const key = (addr & this.mask) >>> 0;
    let ret = m.invert;
    const e = this.lookup(key, m.rttl ? ttl : 0);
    if (e === undefined) {
      if (m.op !== 'set') return ret;
      this.add(key, ttl, now);
      return !ret;
    }
    if (m.op === 'set') ret = !ret;
    else if (m.op === 'remove') { this.entries.delete(key); return !ret; }
    else {
      const since = now - m.seconds * 1000;
      let hits = 0;
      for (let i = 0; i < e.nstamps; i++) {
        if (m.seconds !== 0 && e.stamps[i]! < since) continue;
        if (m.hitcount === 0 || ++hits >= m.hitcount) { ret = !ret; break; }
      }
      if (m.reap) this.reap(since, e, m.op === 'update' && ret);
    }
    if (m.op === 'set' || (m.op === 'update' && ret)) {
      this.touch(e, now);
      e.ttl = ttl;
    }
    return ret;
  }

  /** recent_entry_reap: the least recently used entry goes when its newest stamp is before 'since' (unless it is 'working' about to be updated). */
  private reap(since: number, working: RecentEntry, update: boolean): void {
    const first = this.entries.values().next().value;
    if (first === undefined || (first === working && update)) return;
    if (first.stamps[first.index - 1]! < since) this.entries.delete(first.addr);
  }

  /** /proc/net/xt_recent/NAME: one line per entry (`src=… ttl: … last_seen: … oldest_pkt: … stamps`). */
  procText(): string {
    let out = '';
    for (const e of this.entries.values()) {
      const last = e.stamps[(e.index - 1) & this.ringMask]!;
      out += `src=${ipv4ToString(e.addr)} ttl: ${e.ttl} last_seen: ${last} oldest_pkt: ${e.index}`;
      for (let i = 0; i < e.nstamps; i++) out += `${i ? ',' : ''} ${e.stamps[i]}`;
      out += '\n';
    }
    return out;
  }

  /**
   * A write to /proc/net/xt_recent/NAME at 'now': `+ADDR` adds (or
   * refreshes) an entry with TTL 0, `-ADDR` removes it, `/` flushes the
   * list. The address is taken as written (not masked), as the kernel does.
   */
  procWrite(cmd: string, now: number): void {
    const c = cmd.replace(/\n$/, '');
    if (c.startsWith('/')) { this.entries.clear(); return; }
    const a = parseIpv4Dotted(c.slice(1));
    if ((c[0] !== '+' && c[0] !== '-') || a === null) throw new RecentError('RECENT_BAD_WRITE', `xt_recent: write ${JSON.stringify(cmd)}: Invalid argument`);
    const e = this.lookup(a, 0);
    if (e === undefined) { if (c[0] === '+') this.add(a, 0, now); }
    else if (c[0] === '+') this.touch(e, now);
    else this.entries.delete(a);
  }
}

export class RecentError extends SdnemuError {
  constructor(code: string, message: string) { super(code, message); this.name = 'RecentError'; }
}

/** The ring mask a rule needs (recent_mt_check with ip_pkt_list_tot 0). */
export function recentRingMask(m: RecentMatch): number {
  if (m.hitcount === 0) return RECENT_DEFAULT_STAMPS - 1;
  let p = 1;
  while (p < m.hitcount) p *= 2;
  return p - 1;
}

/** Every -m recent match of 'rs', in table order, chain order, rule order. */
export function recentMatches(rs: Ruleset): RecentMatch[] {
  const out: RecentMatch[] = [];
  for (const t of rs.tables.values()) for (const c of t.chains.values()) for (const r of c.rules) for (const m of r.matches) if (m.kind === 'recent') out.push(m);
  return out;
}

/** The recent lists of one network namespace. */
export class RecentTables {
  readonly lists = new Map<string, RecentList>();

  /**
   * Make the lists what loading 'rs' leaves: a list per name some rule
   * uses (new ones with the mask of the first such rule), grown (and so
   * flushed) when a rule needs a larger ring; lists no rule names are gone.
   */
  sync(rs: Ruleset): void {
    const used = new Set<string>();
    for (const m of recentMatches(rs)) {
      used.add(m.name);
      const ring = recentRingMask(m);
      const l = this.lists.get(m.name);
      if (l === undefined) this.lists.set(m.name, new RecentList(m.name, m.mask, ring));
      else if (ring > l.ringMask) { l.entries.clear(); l.ringMask = ring; }
    }
    for (const n of [...this.lists.keys()]) if (!used.has(n)) this.lists.delete(n);
  }

  /** recent_mt for 'm' (see RecentList.match); a list not made by `sync` is made here from 'm'. */
  match(m: RecentMatch, addr: number, ttl: number, now: number): boolean {
    let l = this.lists.get(m.name);
    if (l === undefined) { l = new RecentList(m.name, m.mask, recentRingMask(m)); this.lists.set(m.name, l); }
    return l.match(m, addr, ttl, now);
  }

  /** /proc/net/xt_recent/'name', or null when there is no such list. */
  procText(name: string): string | null {
    return this.lists.get(name)?.procText() ?? null;
  }
}

// ---- nfacct ----------------------------------------------------------------------------------

export class NfacctError extends SdnemuError {
  constructor(code: string, message: string) { super(code, message); this.name = 'NfacctError'; }
}

/** The nfacct objects of one network namespace (nfnetlink_acct): named packet and byte counters. */
export class NfAcct {
  private readonly objs = new Map<string, { packets: number; bytes: number }>();

  /** `nfacct add NAME`: EBUSY when it exists (the tool's "Device or resource busy"). */
  add(name: string): void {
    const n = name.slice(0, NFACCT_NAME_MAX);
    if (this.objs.has(n)) throw new NfacctError('NFACCT_EXISTS', 'nfacct v1.0.2: error: Device or resource busy');
    this.objs.set(n, { packets: 0, bytes: 0 });
  }

  /** `nfacct del NAME`: EBUSY while a rule of 'rs' counts into it, ENOENT when there is none. */
  del(name: string, rs?: Ruleset): void {
    if (!this.objs.has(name)) throw new NfacctError('NFACCT_NO_OBJECT', 'nfacct v1.0.2: error: No such file or directory');
    if (rs !== undefined) {
      for (const t of rs.tables.values()) for (const c of t.chains.values()) for (const r of c.rules) {
        if (r.matches.some((m) => m.kind === 'nfacct' && m.name === name)) throw new NfacctError('NFACCT_BUSY', 'nfacct v1.0.2: error: Device or resource busy');
      }
    }
    this.objs.delete(name);
  }

  has(name: string): boolean { return this.objs.has(name); }

  /** The counters of 'name', or null. */
  get(name: string): { packets: number; bytes: number } | null {
    const o = this.objs.get(name);
    return o === undefined ? null : { ...o };
  }

  /** Count one packet of 'len' bytes into 'name' (xt_nfacct's nfnl_acct_update); false when there is no such object. */
  count(name: string, len: number): boolean {
    const o = this.objs.get(name);
    if (o === undefined) return false;
    o.packets++;
    o.bytes += len;
    return true;
  }

  /** `nfacct list` text (`{ pkts = %020llu, bytes = %020llu } = NAME;`), in creation order. */
  list(): string {
    let out = '';
    for (const [n, o] of this.objs) out += `{ pkts = ${String(o.packets).padStart(20, '0')}, bytes = ${String(o.bytes).padStart(20, '0')} } = ${n};\n`;
    return out;
  }
}
