/**
 * An OpenFlow bridge's state (ofproto layer, slow path): flow tables 0..254,
 * groups, ports and the tunnel underlay — sdnemu's `struct ofproto`.
 *
 * What: `Bridge` owns 255 `FlowTable`s, each a Classifier of `Rule`s (a
 * FlowSpec plus counters and timestamps; most of a bridge's tables stay
 * empty: until its first flow there, a bridge's table is a shared empty one
 * (EMPTY_TABLES), and a table's classifier and maps are made by the first
 * flow that needs them), a group table, the port list with
 * the datapath (ODP) port number of each port, and the underlay facts native
 * tunnelling needs (bridge MAC, its IPv4 addresses, routes, neighbours) —
 * or, with `tunnelDatapath = 'kernel'`, none: tunnel output is then left to
 * the tunnel port's owner, as the kernel datapath's vports do.
 * xlate.ts translates flows through it and changes nothing but the
 * recirculation-id pool (recircIds/nextRecircId); counters move only through
 * credit(), called by whoever forwards the packets.
 *
 * Flow-mod semantics (OpenFlow's, as ovs-vswitchd applies them):
 *  - add: a rule with the same table, priority and match replaces the old
 *    one, counters starting again from zero. `addFlows` is atomic: every spec
 *    is checked before any is installed, so a bad file (whose parse throws
 *    first anyway) loses nothing already loaded. A group an action names
 *    need not exist; translation then ends that action list, as OVS does.
 *  - delete: `deleteFlows(table, match?)` removes rules whose match is the
 *    same or narrower ("loose" delete-flows), `strict` compares priority
 *    and match exactly.
 * Timeouts: rules remember `created` and `used` on the caller's clock (ms,
 * an argument, never Date.now()); `expire(now)` removes rules whose
 * idle_timeout or hard_timeout (seconds) has passed and returns them.
 * Counters: `credit(rule, packets, bytes, now)`.
 * Ports keep their creation order (the `ports` Map's order, LOCAL first; a
 * re-added port moves to the end): NORMAL floods in that order, as OVS walks
 * its bundle list. A port may carry OVSDB's VLAN settings (`tag`, `trunks`,
 * `vlanMode`), which only NORMAL reads (`portVlan`). The bridge owns the MAC
 * learning table (`mac`, mac-learning.ts): xlate.ts reads it, the datapath
 * writes it from upcalls and revalidates when its `version` moves.
 * Neighbours: classifier.ts (lookup), actions.ts (FlowSpec, GroupSpec),
 * xlate.ts (translation), trace.ts (text front end); datapath/ will own a
 * Bridge per switch and revalidate when `version` changes.
 */
import { Classifier } from './classifier.js';
import { type FlowSpec, type GroupSpec } from './actions.js';
import { formatFlowLine } from './ofctl.js';
import { type Match } from '../flow/match.js';
import { FLOW_WORDS } from '../flow/key.js';
import { MacLearning } from './mac-learning.js';

export const N_TABLES = 255;
export const OFPP_LOCAL = 0xfffe;

/** An installed flow: its spec, statistics and times (ms on the caller's clock). */
export interface Rule {
  readonly spec: FlowSpec;
  nPackets: number;
  nBytes: number;
  created: number;
  used: number;
  /** its id in its table's classifier (FlowTable's; -1 when in none, or reached by conj_id) */
  clsId: number;
}

/** The result of a table lookup: the rule (or null), and the conjunction clauses that led to it. */
export interface LookupResult {
  rule: Rule | null;
  /** for a `conj_id=N` rule reached through conjunction(N, k/n) flows: those flows, by clause */
  conjMatches: Rule[];
}

/**
 * One OpenFlow table.
 *
 * Ordinary rules live in a Classifier. Conjunctive matches (ovs-fields(7)
 * "Conjunctive Match Fields") are OVS's "soft" matches: a rule whose actions
 * are all `conjunction(id,k/n)` never matches by itself, and a rule on
 * `conj_id=N` is reached only when, at one priority above the best ordinary
 * match, flows for all n clauses of conjunction N match the packet. The soft
 * rules have a Classifier of their own, searched after the ordinary one for
 * every match above its answer (Classifier.matchesAbove: the same staged,
 * trie-pruned search, so the megaflow gets what OVS's single pass reads);
 * the `conj_id` rules of a complete conjunction are then checked linearly
 * and their masks un-wildcarded (OVS repeats the lookup with conj_id set:
 * here more 1-bits at most, never fewer).
 */
export class FlowTable {
  readonly id: number;
  /** the ordinary rules' classifier, made on first use (most of a bridge's 255 tables stay empty) */
  private clsObj: Classifier<Rule> | null = null;
  /** classifier id → rule, for iteration in insertion order */
  private byId: Map<number, Rule> | null = null;
  /** rules whose actions are all conjunction(), by classifier id */
  private softCls: Classifier<Rule> | null = null;
  private softById: Map<number, Rule> | null = null;
  /** conj_id → the rules matching on it */
  private conjTargets: Map<number, Rule[]> | null = null;
  /**
   * strictHash → the rule (or the rules, on a collision) of that priority, conj_id and match:
   * replace-on-same-match and strict delete in O(1), without a key string per rule
   */
  private strict: Map<number, Rule | Rule[]> | null = null;
  /** number of rules in 'strict' */
  private nStrict = 0;
  /** rules with an idle or hard timeout (expire() skips a table without any) */
  timed = 0;
  /**
   * 'shared': the empty table of this id that every Bridge starts with (EMPTY_TABLES), read by
   * lookups and dumps only; a bridge puts a table of its own in its place before the first insert.
   */
  constructor(id: number, readonly shared = false) { this.id = id; }

  /** the ordinary rules' classifier */
  get cls(): Classifier<Rule> { return this.clsObj ??= new Classifier<Rule>(); }
  /** the conjunction-only rules' classifier, made on first use (most tables never have one) */
  private get soft(): Classifier<Rule> { return this.softCls ??= new Classifier<Rule>(); }

  /** every rule is in 'strict' once */
  get size(): number { return this.nStrict; }

  /** Install 'rule', replacing a rule of identical priority and match. Returns the replaced rule. */
  insert(rule: Rule): Rule | null {
    if (this.shared) throw new Error(`flow table ${this.id}: the shared empty table takes no rules`);
    const s = rule.spec;
    const old = this.findStrict(s.match, s.priority, s.conjId);
    if (old !== null) this.remove(old);
    rule.clsId = -1;
    if (s.conjId !== undefined) {
      const targets = this.conjTargets ??= new Map();
      const l = targets.get(s.conjId) ?? [];
      l.push(rule);
      targets.set(s.conjId, l);
    } else if (s.actions.length > 0 && s.actions.every((a) => a.type === 'conjunction')) {
      const id = this.soft.insert(s.match, s.priority, rule);
      (this.softById ??= new Map()).set(id, rule);
      rule.clsId = id;
    } else {
      const id = this.cls.insert(s.match, s.priority, rule);
      (this.byId ??= new Map()).set(id, rule);
      rule.clsId = id;
    }
    const strict = this.strict ??= new Map();
    const h = strictHash(s.match, s.priority, s.conjId);
    const there = strict.get(h);
    if (there === undefined) strict.set(h, rule);
    else if (Array.isArray(there)) there.push(rule);
    else strict.set(h, [there, rule]);
    this.nStrict++;
    if (s.idleTimeout > 0 || s.hardTimeout > 0) this.timed++;
    return old;
  }

  /** Remove 'rule'; false if it is not in this table. */
  remove(rule: Rule): boolean {
    if (this.strict === null) return false;
    const h = strictHash(rule.spec.match, rule.spec.priority, rule.spec.conjId);
    const there = this.strict.get(h);
    if (there === rule) this.strict.delete(h);
    else if (Array.isArray(there) && there.includes(rule)) {
      there.splice(there.indexOf(rule), 1);
      if (there.length === 1) this.strict.set(h, there[0]!);
    } else return false;
    this.nStrict--;
    if (rule.spec.idleTimeout > 0 || rule.spec.hardTimeout > 0) this.timed--;
    if (rule.spec.conjId !== undefined) {
      const l = this.conjTargets!.get(rule.spec.conjId) ?? [];
      l.splice(l.indexOf(rule), 1);
      return true;
    }
    const id = rule.clsId;
    rule.clsId = -1;
    if (this.softById !== null && this.softById.get(id) === rule) {
      this.soft.remove(id);
      this.softById.delete(id);
    } else {
      this.cls.remove(id);
      this.byId!.delete(id);
    }
    return true;
  }

  /** The rule with exactly this match, priority (and conj_id), or null. */
  findStrict(match: Match, priority: number, conjId?: number): Rule | null {
    const there = this.strict?.get(strictHash(match, priority, conjId));
    if (there === undefined) return null;
    const same = (r: Rule): boolean => r.spec.priority === priority && r.spec.conjId === conjId && r.spec.match.equals(match);
    if (!Array.isArray(there)) return same(there) ? there : null;
    return there.find(same) ?? null;
  }

  private all(): Rule[] {
    if (this.strict === null) return [];
    return [...this.byId?.values() ?? [], ...this.softById?.values() ?? [], ...[...this.conjTargets?.values() ?? []].flat()];
  }

  /** Rules in descending priority, then insertion order (dump-flows order is OVS's hash order; callers sort as they need). */
  rules(): Rule[] {
    return this.all().sort((a, b) => b.spec.priority - a.spec.priority);
  }

  /**
   * The rule for the key at 'key'[0…], ORing what was examined into 'wc':
   * the classifier's answer, unless a complete conjunction of higher
   * priority leads to a matching `conj_id` rule.
   */
  lookup(key: Uint32Array, wc: Uint32Array | null): LookupResult {
    const cls = this.clsObj;
    const id = cls === null ? -1 : cls.lookup(key, 0, wc);
    const hard = id < 0 ? null : cls!.payloadOf(id);
    const softById = this.softById;
    if (softById === null || softById.size === 0) return { rule: hard, conjMatches: [] };
    const floor = hard === null ? -0x80000000 : hard.spec.priority;
    const hits = new Map<number, Rule[]>();
    const ids = wc !== null ? this.soft.matchesAbove(key, 0, wc, floor)
      : [...softById.entries()].filter(([, r]) => r.spec.priority > floor && matchesKey(r.spec.match, key)).map(([id]) => id);
    for (const id of ids) {
      const r = this.soft.payloadOf(id);
      const l = hits.get(r.spec.priority) ?? [];
      l.push(r);
      hits.set(r.spec.priority, l);
    }
    for (const prio of [...hits.keys()].sort((a, b) => b - a)) {
      const rules = hits.get(prio)!;
      const ids = new Set<number>();
      for (const r of rules) for (const a of r.spec.actions) if (a.type === 'conjunction') ids.add(a.id);
      for (const cid of [...ids].sort((a, b) => a - b)) {
        const clauses = new Map<number, Rule>();
        let n = 0;
        for (const r of rules) {
          for (const a of r.spec.actions) {
            if (a.type !== 'conjunction' || a.id !== cid) continue;
            n = a.nClauses;
            if (!clauses.has(a.clause)) clauses.set(a.clause, r);
          }
        }
        if (clauses.size !== n) continue;
        let best: Rule | null = null;
        for (const t of this.conjTargets?.get(cid) ?? []) {
          if (wc !== null) for (let w = 0; w < FLOW_WORDS; w++) wc[w] = (wc[w]! | t.spec.match.mask[w]!) >>> 0;
          if (matchesKey(t.spec.match, key) && (best === null || t.spec.priority > best.spec.priority)) best = t;
        }
        if (best !== null) return { rule: best, conjMatches: [...clauses.entries()].sort((a, b) => a[0] - b[0]).map(([, r]) => r) };
      }
    }
    return { rule: hard, conjMatches: [] };
  }
}

/** The empty table of each id, shared by every bridge until it adds a flow there (most of its 255 tables never get one). */
const EMPTY_TABLES: readonly FlowTable[] = Array.from({ length: N_TABLES }, (_, t) => new FlowTable(t, true));

/**
 * A hash of a rule's identity for replacement: priority, conj_id, and the match's words (rules
 * of one hash are told apart by comparing those: FlowTable.findStrict). Exported for the tests.
 */
export function strictHash(m: Match, priority: number, conjId: number | undefined): number {
  let h = Math.imul(priority ^ 0x5bd1e995, 0x9e3779b1) ^ (conjId === undefined ? 0x7f4a7c15 : Math.imul(conjId + 1, 0x85ebca6b));
  const v = m.value, k = m.mask;
  for (let w = 0; w < FLOW_WORDS; w++) {
    const x = v[w]!, y = k[w]!;
    if ((x | y) !== 0) h = Math.imul(((h << 5) | (h >>> 27)) ^ x ^ Math.imul(y + w, 0xcc9e2d51), 0x1b873593);
  }
  h ^= h >>> 16;
  return Math.imul(h, 0x85ebca6b) >>> 0;
}

function matchesKey(m: Match, key: Uint32Array): boolean {
  for (let w = 0; w < FLOW_WORDS; w++) if (((key[w]! ^ m.value[w]!) & m.mask[w]!) !== 0) return false;
  return true;
}

/** True when every bit 'outer' matches on, 'inner' matches on with the same value ("inner is within outer"). */
export function matchWithin(inner: Match, outer: Match): boolean {
  for (let w = 0; w < FLOW_WORDS; w++) {
    const om = outer.mask[w]!;
    if (((inner.mask[w]! & om) >>> 0) !== om) return false;
    if (((inner.value[w]! ^ outer.value[w]!) & om) !== 0) return false;
  }
  return true;
}

/** A bridge port: OpenFlow number, name, type and options, and its datapath port number. */
export interface BridgePort {
  ofport: number;
  name: string;
  type: string;
  options: Record<string, string>;
  odp: number;
  /** OVSDB Port `tag` (0..4095): the access VLAN, or the native VLAN of a native-* port */
  tag?: number;
  /** OVSDB Port `trunks`: the VLANs a trunk carries (absent or empty: all) */
  trunks?: number[];
  /** OVSDB Port `vlan_mode`; absent: access when 'tag' is set, trunk otherwise */
  vlanMode?: 'access' | 'trunk' | 'native-tagged' | 'native-untagged';
}

/**
 * A port's VLAN configuration as NORMAL uses it (ofproto-dpif's bundle_set):
 * the mode, the port's own VLAN (-1 for a trunk) and the trunked VLANs
 * (null: all). A native-* port always trunks its native VLAN and never
 * VLAN 0; an access port trunks nothing (its tag is its only VLAN).
 */
export interface PortVlan {
  mode: 'access' | 'trunk' | 'native-tagged' | 'native-untagged';
  vlan: number;
  trunks: Set<number> | null;
}

export function portVlan(p: BridgePort): PortVlan {
  const tag = p.tag !== undefined && p.tag >= 0 && p.tag <= 4095 ? p.tag : -1;
  const mode = p.vlanMode ?? (tag >= 0 ? 'access' : 'trunk');
  const listed = p.trunks !== undefined && p.trunks.length > 0 ? new Set(p.trunks) : null;
  if (mode === 'access') return { mode, vlan: tag >= 0 ? tag : 0, trunks: null };
  if (mode === 'trunk') return { mode, vlan: -1, trunks: listed };
  const vlan = tag >= 0 ? tag : 0;
  if (vlan !== 0 && (listed === null || !listed.has(vlan) || listed.has(0))) {
    // "Force trunking the native VLAN and prohibit trunking VLAN 0"
    const t = new Set<number>();
    if (listed === null) { for (let v = 1; v < 4096; v++) t.add(v); } else { for (const v of listed) if (v !== 0) t.add(v); }
    t.add(vlan);
    return { mode, vlan, trunks: t };
  }
  return { mode, vlan, trunks: listed };
}

/** What native tunnelling needs to build outer headers (the `@` lines of a ports file). */
export interface Underlay {
  /** the bridge's MAC as 48-bit bigint, or null */
  hwaddr: bigint | null;
  /** addresses on the bridge (netdev-dummy/ip4addr), IPv4 numbers */
  ip4: { addr: number; prefixLen: number }[];
  /** routes (ovs/route/add): network, prefix length, device */
  routes: { net: number; prefixLen: number; dev: string }[];
  /** tnl/neigh/set: IPv4 → MAC */
  neighs: Map<number, bigint>;
}

export class Bridge {
  readonly name: string;
  /** the tables by id: EMPTY_TABLES' until the bridge's first flow in one (addFlows) */
  readonly tables: FlowTable[];
  readonly groups = new Map<number, GroupSpec>();
  readonly ports = new Map<number, BridgePort>();
  /** 'OpenFlow13' changes table-miss semantics (drop instead of packet-in). */
  protocols: 'OpenFlow10' | 'OpenFlow13' = 'OpenFlow10';
  readonly underlay: Underlay = { hwaddr: null, ip4: [], routes: [], neighs: new Map() };
  /**
   * Who encapsulates tunnel output: 'native' (the userspace datapath's
   * tnl_push with the underlay above, the default) or 'kernel' (native
   * tunnelling off, as on the kernel datapath: translation emits
   * `set(tunnel(...))` and an output to the tunnel's datapath port, whose
   * owner — devices/ovs-tunnel.ts — encapsulates through a host's stack).
   */
  tunnelDatapath: 'native' | 'kernel' = 'native';
  /** Bumped by every flow or group change (the datapath's revalidation trigger). */
  version = 0;
  /** Bumped by every port added, removed or reconfigured (the datapath re-reads its port map). */
  portsVersion = 0;
  /** Next recirculation id handed out by translation (OVS's recirc ids count up per daemon). */
  nextRecircId = 1;
  /** frozen state text → recirculation id (see xlate.ts recircId) */
  readonly recircIds = new Map<string, number>();
  /** the MAC learning table NORMAL uses (written by the datapath from real packets only) */
  readonly mac = new MacLearning();

  constructor(name = 'br0') {
    this.name = name;
    this.tables = EMPTY_TABLES.slice();
    this.ports.set(OFPP_LOCAL, { ofport: OFPP_LOCAL, name, type: 'internal', options: {}, odp: 100 });
  }

  /**
   * Add 'p' (replacing a port of the same OpenFlow number, which then moves
   * to the end of the creation order). Bumps `version`: flooding megaflows
   * must be revalidated.
   */
  addPort(p: BridgePort): void {
    if (this.ports.delete(p.ofport)) this.mac.flush(p.ofport);
    this.ports.set(p.ofport, p);
    this.version++;
    this.portsVersion++;
  }

  /** Remove the port 'ofport' and forget the MACs learned on it (OVS's bundle_flush_macs); false when absent. */
  removePort(ofport: number): boolean {
    if (!this.ports.delete(ofport)) return false;
    this.mac.flush(ofport);
    this.version++;
    this.portsVersion++;
    return true;
  }

  /**
   * `ovs-vsctl set port P tag=… trunks=… vlan_mode=…`: replace the VLAN
   * settings of 'ofport' ('vlan' fields left out are cleared). OVS flushes the
   * port's MACs when its VLAN configuration changes (bundle_set). False when
   * the port does not exist.
   */
  setPortVlan(ofport: number, vlan: Pick<BridgePort, 'tag' | 'trunks' | 'vlanMode'>): boolean {
    const p = this.ports.get(ofport);
    if (p === undefined) return false;
    delete p.tag; delete p.trunks; delete p.vlanMode;
    Object.assign(p, vlan);
    this.mac.flush(ofport);
    this.version++;
    this.portsVersion++;
    return true;
  }

  /** The port whose datapath number is 'odp', or undefined. */
  portByOdp(odp: number): BridgePort | undefined {
    for (const p of this.ports.values()) if (p.odp === odp) return p;
    return undefined;
  }

  /**
   * Install 'specs' at time 'now' (ms). All or nothing: a spec naming a
   * table ≥ 255 throws before anything is installed.
   */
  addFlows(specs: FlowSpec[], now = 0): void {
    for (const s of specs) {
      if (s.table < 0 || s.table >= N_TABLES) throw new RangeError(`line ${s.line}: table ${s.table} out of range (0..254)`);
    }
    for (const s of specs) {
      let t = this.tables[s.table]!;
      if (t.shared) t = this.tables[s.table] = new FlowTable(s.table);
      t.insert({ spec: s, nPackets: 0, nBytes: 0, created: now, used: now, clsId: -1 });
    }
    this.version++;
  }

  /** Every rule of every table, table by table. */
  allRules(): Rule[] {
    return this.tables.flatMap((t) => t.rules());
    this.version++;
  }

  /**
   * delete-flows: rules in 'table' (all tables when null) whose match lies
   * within 'match' (all when null) and, when 'conjId' is given, whose
   * conj_id is it; with 'strict', exactly 'match' and conj_id (or none) at
   * 'priority'. Returns the removed rules.
   */
  deleteFlows(table: number | null, match: Match | null, strict = false, priority = 32768, conjId?: number): Rule[] {
    const out: Rule[] = [];
    for (const t of this.tables) {
      if (table !== null && t.id !== table) continue;
      for (const r of t.rules()) {
        const hit = match === null ? true
          : strict ? r.spec.priority === priority && r.spec.conjId === conjId && r.spec.match.equals(match)
            : (conjId === undefined || r.spec.conjId === conjId) && matchWithin(r.spec.match, match);
        if (hit && t.remove(r)) out.push(r);
      }
    }
    if (out.length) this.version++;
    return out;
  }

  /** Add or replace groups (all-or-nothing like addFlows). */
  addGroups(groups: GroupSpec[]): void {
    for (const g of groups) this.groups.set(g.groupId, g);
    this.version++;
  }

  /**
   * `ovs-ofctl dump-flows` of the bridge at 'now' (ms): one line per flow with
   * its duration, counters and idle age, tables in order and, inside a table,
   * by descending priority (OVS's own order is a hash order; `--rsort` gives
   * this one). 'table' limits it to one table.
   */
  dumpFlows(now: number, opts: { table?: number; protocols?: 'OpenFlow10' | 'OpenFlow13' } = {}): string[] {
    const protocols = opts.protocols ?? this.protocols;
    return this.tables
      .filter((t) => opts.table === undefined || t.id === opts.table)
      .flatMap((t) => t.rules())
      .map((r) => formatFlowLine(r.spec, {
        durationSec: (now - r.created) / 1000, nPackets: r.nPackets, nBytes: r.nBytes,
        idleAge: Math.floor((now - r.used) / 1000),
      }, { protocols }));
  }

  /** Credit 'packets'/'bytes' to 'rule' and mark it used at 'now'. */
  credit(rule: Rule, packets: number, bytes: number, now: number): void {
    rule.nPackets += packets;
    rule.nBytes += bytes;
    rule.used = now;
  }

  /** Remove and return the rules whose idle or hard timeout expired by 'now' (ms). */
  expire(now: number): Rule[] {
    const out: Rule[] = [];
    for (const t of this.tables) {
      if (t.timed === 0) continue;
      for (const r of t.rules()) {
        const s = r.spec;
        const hard = s.hardTimeout > 0 && now - r.created >= s.hardTimeout * 1000;
        const idle = s.idleTimeout > 0 && now - r.used >= s.idleTimeout * 1000;
        if ((hard || idle) && t.remove(r)) out.push(r);
      }
    }
    if (out.length) this.version++;
    return out;
  }
}
