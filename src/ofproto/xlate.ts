/**
 * Translation (ofproto layer, slow path) — sdnemu's ofproto-dpif-xlate.c.
 *
 * What: `xlate(bridge, flow, opts)` runs a flow key through the bridge's
 * OpenFlow pipeline and returns what the datapath must do with every packet
 * of that flow: the datapath actions (printed as OVS prints them), the
 * megaflow (the mask of every key bit the decision read), the final flow,
 * and — when asked — the trace tree `ovs-appctl ofproto/trace` prints.
 * Actions that recirculate (ct(table=N), select groups with dp_hash) end a
 * translation with `recirc(ID)` and leave a `Continuation`; the caller
 * translates it again (`xlateContinuation`) with the state the datapath
 * would supply (ct_state from --ct-next, …), as OVS does after the upcall
 * of the recirculated packet.
 *
 * How (OVS's structure, function for function where it matters):
 *  - `Ctx` is xlate_ctx: 'flow' (xin->flow, changed by actions), 'base'
 *    (base_flow: the packet as the datapath has it so far), 'orig' (the
 *    upcall flow: the megaflow's values), 'wc' (the megaflow mask), 'odp'
 *    (datapath actions), the trace cursor, depth/resubmit counters, the
 *    OpenFlow 1.1+ action set, and the exit/freezing state.
 *  - wc starts with recirc_id, packet_type, in_port, dl_type and, for IP,
 *    nw_frag (xlate_wc_init); the classifier ORs in what each lookup read;
 *    actions OR in what they read or write (mod_nw_* also nw_proto, dec_ttl
 *    nw_ttl, VLAN rewrites the TCI, move the source and destination, …);
 *    xlate_wc_finish clears registers and metadata (not datapath fields),
 *    keeps the CFI bit with any TCI bit, and keeps ICMP type/code to 8 bits.
 *  - header rewrites are committed lazily by odp.ts before each output,
 *    ct, recirc, userspace or hash.
 *  - buckets and clone() run on a copy of the flow (not of 'base'), so the
 *    next output emits the sets that restore the original values.
 *  - the trace is a tree of typed nodes exactly like ofproto-dpif-trace's
 *    (bridge, table, bucket, thaw, action, detail, warn, error); trace.ts
 *    prints it with OVS's indentation rule.
 * Side effects: none. learn() un-wildcards what it reads and installs
 * nothing (a flow-string trace never has side effects, BEHAVIOUR.md item
 * 11); for a real packet (XlateOptions.packet) it also computes the flow it
 * would install and returns it in 'learned' for the caller to apply.
 * NORMAL (normalAction, OVS's xlate_normal) reads the bridge's MAC table
 * and port VLAN settings and, with XlateOptions.learnMacs (the datapath's
 * upcall), returns the source it would learn in 'macLearn' for the caller
 * to apply — a trace or a revalidation learns nothing. Recirculation ids are the one piece of
 * bridge state translation touches (Bridge.recircIds, as OVS's per-daemon
 * recirc id pool).
 * Limits (OVS's): depth 64, 4096 resubmits; errors are reported in the
 * trace as `>>>> … <<<<` and the datapath actions are dropped.
 * Neighbours: bridge.ts (tables, groups, ports), classifier.ts (lookup with
 * wc), odp.ts (commit and printing), actions.ts (Action, sub-fields),
 * ofctl.ts (action text for the trace), trace.ts (front end), and
 * datapath/, whose upcalls install the result (megaflow, actions, `rules`
 * to credit, `slow` reasons) and whose revalidator translates again.
 */
import { type Action, type CtAction, type FieldRef, type FlowSpec, maskSubfield, maskSubfieldBits, readSubfield, writeSubfield, OFPP_ALL, OFPP_CONTROLLER,
  OFPP_FLOOD, OFPP_IN_PORT, OFPP_LOCAL, OFPP_NONE, OFPP_NORMAL, OFPP_TABLE, type Bucket, type GroupSpec } from './actions.js';
import { type Bridge, type Rule, type BridgePort, portVlan, type PortVlan } from './bridge.js';
import { type MacLearn, macFromWords, macIsMulticast } from './mac-learning.js';
import { commitHeaders, hexC } from './odp.js';
import { hash2Words, hashBytes, hashInt } from '../flow/hash.js';
import { Classifier } from './classifier.js';
import { ipv4ToString, parseIpv4Dotted } from '../wire/bytes.js';
import { formatActions, formatFieldValue, formatRuleMatch, formatSubfield, macText } from './ofctl.js';
import { Match, formatMatch } from '../flow/match.js';
import { FIELDS, prereqSatisfied } from '../flow/fields.js';
import {
  F_CT_MARK, F_CT_STATE, F_CT_ZONE, F_DL_DST_HI, F_DL_DST_LO, F_DL_SRC_HI, F_DL_SRC_LO, F_DL_TYPE, F_IN_PORT,
  F_IPV6_DST, F_IPV6_SRC, F_METADATA_HI, F_METADATA_LO, F_NW_DST, F_NW_ECN, F_NW_FRAG, F_NW_PROTO, F_NW_SRC,
  F_NW_TOS, F_NW_TTL, F_PACKET_TYPE, F_RECIRC_ID, F_REG0, F_TP_DST, F_TP_SRC, F_TUN_DST, F_TUN_FLAGS, F_TUN_ID_HI,
  F_TUN_ID_LO, F_TUN_SRC, F_VLAN_TCI, FLOW_WORDS, NW_FRAG_ANY, NW_FRAG_LATER, F_DP_HASH,
  TNL_F_CSUM, TNL_F_DONT_FRAGMENT, TNL_F_KEY, TNL_F_OAM,
} from '../flow/key.js';

const ETH_TYPE_IP = 0x0800, ETH_TYPE_IPV6 = 0x86dd;
const MAX_DEPTH = 64, MAX_RESUBMITS = 4096;
const OFPP_UNSET = 0xfff7;
export const CS_NEW = 0x01, CS_ESTABLISHED = 0x02, CS_TRACKED = 0x20;

// ---- trace tree (ofproto-dpif-trace.h) ---------------------------------------------------------

export type TraceNodeType = 'bridge' | 'table' | 'bucket' | 'thaw' | 'action' | 'detail' | 'warn' | 'error';
export interface TraceNode {
  type: TraceNodeType;
  text: string;
  subs: TraceNode[];
}

/** Terminal node types are printed one level deeper when last (oftrace_node_type_is_terminal). */
export function isTerminal(t: TraceNodeType): boolean {
  return t === 'action' || t === 'detail' || t === 'warn' || t === 'error' || t === 'bucket';
}

// ---- results --------------------------------------------------------------------------------------

/** What a recirculation resumes with (OVS's frozen state). */
export interface Continuation {
  recircId: number;
  /** 'conntrack' for ct(table=N); 'hash' for a dp_hash select group */
  kind: 'conntrack' | 'hash';
  /** the flow at the freeze (ct fields not yet set) */
  flow: Uint32Array;
  table: number;
  zone: number;
  /** ct(commit…nat(...)) seen before the recirculation (drives the snat/dnat bits) */
  nat: CtAction['nat'];
  /** actions to run after thawing, then the frozen action set */
  actions: Action[];
  actionSet: Action[];
  conntracked: boolean;
}

export interface XlateResult {
  /** the flow as it entered */
  flow: Uint32Array;
  /** the flow after the actions (for `Final flow:`) */
  finalFlow: Uint32Array;
  /** megaflow mask (after xlate_wc_finish) */
  wc: Uint32Array;
  /** the megaflow: values of 'flow' under 'wc' */
  megaflow: Match;
  /** datapath actions in OVS syntax; '' means drop */
  odpActions: string[];
  /** root trace nodes ([bridge node]); empty when tracing was off */
  trace: TraceNode[];
  continuations: Continuation[];
  /**
   * flows learn() would install for this packet (only when translating a real packet,
   * XlateOptions.packet): returned, never installed — the caller (the datapath) applies them
   */
  learned: FlowSpec[];
  /** translation error text (XLATE_*), or null */
  error: string | null;
  /** the action set's output port at the end (flow->actset_output; 0xfff7 = unset): part of the final flow */
  actsetOutput: number;
  /** every rule the translation matched, in order (the datapath credits them with the megaflow's statistics) */
  rules: Rule[];
  /** slow-path reasons (odp.ts SLOW_ACTION): the datapath flow then sends every packet to userspace */
  slow: number;
  /** sources NORMAL would learn (only with XlateOptions.learnMacs): returned, never applied — the caller applies them */
  macLearn: MacLearn[];
  /** the first select group's choice among its buckets (a load-balancing decision), or null */
  balance: GroupChoice | null;
}

export interface XlateOptions {
  /** build the trace tree */
  trace?: boolean;
  /**
   * a real packet is being translated (a trace with a hex frame, or an upcall): controller
   * actions are really sent (`dont_send=0`). learn() still installs nothing: sdnemu keeps
   * translation free of side effects and leaves flow-table changes to the caller.
   */
  packet?: boolean;
  /**
   * the translation of a packet the datapath is forwarding (an upcall): NORMAL reports the
   * source MACs to learn in XlateResult.macLearn and looks destinations up as if they were
   * already learned (OVS learns before its lookup). Off for traces and revalidation.
   */
  learnMacs?: boolean;
  /**
   * a trace fork (sim/tracer.ts): the first select group this translation picks a bucket of takes
   * its bucket of this index instead (when live); XlateResult.balance says it was used
   */
  forceBucket?: number;
}

/** A select group's choice in a translation: the group, its buckets (`bucket_id=N`), the one taken (-1: none live). */
export interface GroupChoice { group: number; buckets: string[]; chosen: number }

// ---- context --------------------------------------------------------------------------------------

class Ctx {
  readonly br: Bridge;
  readonly flow: Uint32Array;
  readonly base: Uint32Array;
  readonly orig: Uint32Array;
  readonly wc = new Uint32Array(FLOW_WORDS);
  readonly odp: string[] = [];
  readonly tpid = [0x8100, 0x8100];
  readonly roots: TraceNode[] = [];
  trace: TraceNode[] | null;
  depth = 0;
  resubmits = 0;
  /** XlateOptions.forceBucket (-1: none) and the first select group's choice */
  forceBucket = -1;
  balance: GroupChoice | null = null;
  tableId = 0;
  rule: Rule | null = null;
  exit = false;
  error: string | null = null;
  actionSet: Action[] = [];
  conntracked = false;
  /** set by a recirculating action: the remaining actions go into the continuation */
  freezing: Continuation | null = null;
  readonly continuations: Continuation[] = [];
  readonly learned: FlowSpec[] = [];
  readonly macLearn: MacLearn[] = [];
  learnMacs = false;
  readonly rules: Rule[] = [];
  /** slow-path reasons (odp.ts SLOW_*) */
  slow = 0;
  inActionSet = false;
  /** ct_label written by the current ct(exec(...)) */
  ctLabel: { value: bigint; mask: bigint } | null = null;
  /** the conjunction() flows behind the last lookup's conj_id rule (for the trace) */
  conjMatches: Rule[] = [];
  /** flow->actset_output: the output port of the action set (OFPP_UNSET when none or a group) */
  actsetOutput = OFPP_UNSET;
  actionSetHasGroup = false;
  /** the egress tunnel the datapath packet carries (the last `set(tunnel(...))` emitted; '' none) */
  baseTunnel = '';

  readonly packet: boolean;

  constructor(br: Bridge, flow: Uint32Array, trace: boolean, packet = false) {
    this.br = br;
    this.packet = packet;
    this.flow = flow.slice();
    this.base = flow.slice();
    this.orig = flow.slice();
    this.trace = trace ? this.roots : null;
  }

  /** Append a trace node to the current list; returns it (or null when not tracing). */
  report(type: TraceNodeType, text: string): TraceNode | null {
    if (this.trace === null) return null;
    const n: TraceNode = { type, text, subs: [] };
    this.trace.push(n);
    return n;
  }

  commit(): void {
    this.slow |= commitHeaders(this.flow, this.base, this.wc, this.odp, this.tpid);
  }

  mask(w: number, m = 0xffffffff): void {
    this.wc[w] = (this.wc[w]! | m) >>> 0;
  }

  get isIp(): boolean {
    const t = this.flow[F_DL_TYPE];
    return t === ETH_TYPE_IP || t === ETH_TYPE_IPV6;
  }
}

// ---- entry points -------------------------------------------------------------------------------

/**
 * Translate 'flow' (FLOW_WORDS words; recirc_id 0) through 'br' starting at
 * table 0. Does not change 'br' (recirculation ids are taken from
 * br.nextRecircId, as OVS allocates them per daemon).
 */
export function xlate(br: Bridge, flow: Uint32Array, opts: XlateOptions = {}): XlateResult {
  const ctx = new Ctx(br, flow, opts.trace ?? false, opts.packet ?? false);
  ctx.learnMacs = opts.learnMacs ?? false;
  ctx.forceBucket = opts.forceBucket ?? -1;
  initWc(ctx);
  const bridgeNode = ctx.report('bridge', `bridge("${br.name}")`);
  if (bridgeNode !== null) ctx.trace = bridgeNode.subs;
  if ((ctx.flow[F_CT_STATE]! & CS_TRACKED) !== 0) ctx.conntracked = true;
  const rule = lookupFrom(ctx, 0);
  runPipeline(ctx, rule, null);
  return finish(ctx);
}

/**
 * Translate the recirculated packet of 'c' from table c.table. Without
 * 'packet' (a trace): the frozen flow with recirc_id set and the conntrack
 * state the caller supplies ('ctState', e.g. trk|new). With 'packet' (a
 * datapath upcall): the recirculated packet's own key — its headers as ct's
 * NAT left them, its ct_* and recirc_id — with the pipeline metadata the
 * freeze kept (registers, metadata, the OpenFlow in_port) restored from
 * c.flow, as OVS thaws frozen state onto the upcall's flow.
 */
export function xlateContinuation(br: Bridge, c: Continuation, ctState: number, opts: XlateOptions = {}, packet?: Uint32Array): XlateResult {
  const f = c.flow.slice();
  if (packet !== undefined) {
    // the tunnel is pipeline metadata too (frozen_metadata_to_flow): a tun_dst set before the freeze holds
    for (let w = F_TUN_FLAGS + 1; w < FLOW_WORDS; w++) f[w] = packet[w]!;
    f[F_RECIRC_ID] = packet[F_RECIRC_ID]!;
  } else {
    f[F_RECIRC_ID] = c.recircId;
    if (c.kind === 'conntrack') {
      f[F_CT_STATE] = ctState;
      f[F_CT_ZONE] = c.zone;
    }
  }
  const ctx = new Ctx(br, f, opts.trace ?? false, opts.packet ?? false);
  ctx.learnMacs = opts.learnMacs ?? false;
  ctx.forceBucket = opts.forceBucket ?? -1;
  // ... while the packet's own tunnel is what the megaflow matches and what "Not tunneling to our
  // own address" compares with (xlate_actions takes orig_tunnel_ip_dst before thawing). A trace
  // starts from the frozen flow, tunnel and all, as ofproto/trace does: there an output to the
  // tun_dst set before the freeze is refused as "our own address" (OVS 3.1 does the same).
  if (packet !== undefined) {
    for (let w = F_TUN_ID_HI; w <= F_TUN_FLAGS; w++) { ctx.orig[w] = packet[w]!; ctx.base[w] = packet[w]!; }
  }
  initWc(ctx);
  const bridgeNode = ctx.report('bridge', `bridge("${br.name}")`);
  if (bridgeNode !== null) ctx.trace = bridgeNode.subs;
  const saved = ctx.trace;
  const thaw = ctx.report('thaw', 'thaw');
  if (thaw !== null) ctx.trace = thaw.subs;
  ctx.tableId = c.table;
  ctx.report('thaw', `Resuming from table ${c.table}`);
  ctx.conntracked = c.conntracked || c.kind === 'conntrack';
  if (c.actionSet.length) {
    ctx.report('thaw', `Restoring action set`);
    ctx.actionSet = c.actionSet.slice();
  }
  if (c.actions.length) ctx.report('thaw', `Restoring actions ${formatActions(c.actions)}`);
  ctx.trace = saved;
  if (c.actions.length) {
    runPipeline(ctx, null, c.actions);
  } else {
    const rule = lookupFrom(ctx, c.table);
    runPipeline(ctx, rule, null);
  }
  return finish(ctx);
}

function initWc(ctx: Ctx): void {
  ctx.mask(F_PACKET_TYPE);
  ctx.mask(F_IN_PORT, 0xffff);
  ctx.mask(F_DL_TYPE, 0xffff);
  if (ctx.isIp) ctx.mask(F_NW_FRAG, 3);
  ctx.mask(F_RECIRC_ID);
  // tnl_wc_init: a tunnelled packet's tun_id, outer addresses and tos are exact, and of its flags
  // df, csum and key (tun_tos is not in sdnemu's key: always 0, printed by trace.ts's megaflow)
  if (ctx.flow[F_TUN_DST] !== 0) {
    ctx.mask(F_TUN_ID_HI); ctx.mask(F_TUN_ID_LO); ctx.mask(F_TUN_SRC); ctx.mask(F_TUN_DST); ctx.mask(F_TUN_FLAGS, 0xe);
  }
}

function runPipeline(ctx: Ctx, rule: Rule | null, actions: Action[] | null): void {
  if (actions !== null) {
    doActions(ctx, actions, true, false);
  } else if (rule !== null) {
    ctx.rule = rule;
    const saved = ctx.trace;
    reportTable(ctx, rule, ctx.tableId);
    doActions(ctx, rule.spec.actions, true, false);
    ctx.trace = saved;
  } else {
    const saved = ctx.trace;
    reportTable(ctx, null, ctx.tableId);
    doActions(ctx, [], true, false);
    ctx.trace = saved;
  }
  if (ctx.error === null) {
    if (ctx.freezing === null) executeActionSet(ctx);
    if (ctx.freezing !== null) finishFreezing(ctx);
  }
}

function finish(ctx: Ctx): XlateResult {
  // xlate_wc_finish
  const wc = ctx.wc;
  for (let r = 0; r < 16; r++) wc[F_REG0 + r] = 0;
  wc[F_METADATA_HI] = 0;
  wc[F_METADATA_LO] = 0;
  const f = ctx.orig;
  const icmp = (f[F_DL_TYPE] === ETH_TYPE_IP && f[F_NW_PROTO] === 1) || (f[F_DL_TYPE] === ETH_TYPE_IPV6 && f[F_NW_PROTO] === 58);
  if (icmp) { wc[F_TP_SRC] = wc[F_TP_SRC]! & 0xff; wc[F_TP_DST] = wc[F_TP_DST]! & 0xff; }
  if (wc[F_VLAN_TCI] !== 0) wc[F_VLAN_TCI] = (wc[F_VLAN_TCI]! | 0x1000) >>> 0;
  if ((f[F_NW_FRAG]! & NW_FRAG_LATER) !== 0) { wc[F_TP_SRC] = 0; wc[F_TP_DST] = 0; }
  // fields the original packet lacks are wildcarded (a VLAN or tunnel pushed by an action)
  if (f[F_VLAN_TCI] === 0) wc[F_VLAN_TCI] = 0;
  if (f[F_TUN_DST] === 0) for (let w = F_TUN_ID_HI; w <= F_TUN_FLAGS; w++) wc[w] = 0;
  const m = new Match();
  for (let w = 0; w < FLOW_WORDS; w++) {
    m.mask[w] = wc[w]!;
    m.value[w] = (f[w]! & wc[w]!) >>> 0;
  }
  if (ctx.error !== null) ctx.odp.length = 0;
  return {
    flow: ctx.orig, finalFlow: ctx.flow, wc, megaflow: m, odpActions: ctx.odp, trace: ctx.roots,
    continuations: ctx.continuations, learned: ctx.learned, error: ctx.error, actsetOutput: ctx.actsetOutput,
    rules: ctx.rules, slow: ctx.slow, macLearn: ctx.macLearn, balance: ctx.balance,
  };
}

// ---- tables --------------------------------------------------------------------------------------------

/**
 * rule_dpif_lookup_from_table: the rule of table 'tableId' for the current
 * flow (wc updated), or null for a miss (the caller reports "No match.").
 */
function lookupFrom(ctx: Ctx, tableId: number): Rule | null {
  ctx.tableId = tableId;
  const t = ctx.br.tables[tableId];
  if (t === undefined) return null;
  // frag_handling "normal": a fragment, the first one too, is looked up as if it had no
  // transport ports (rule_dpif_lookup_from_table), and the ports are restored after
  const f = ctx.flow;
  const frag = (f[F_NW_FRAG]! & NW_FRAG_ANY) !== 0 && ctx.isIp;
  const tpSrc = f[F_TP_SRC]!, tpDst = f[F_TP_DST]!;
  if (frag) { f[F_TP_SRC] = 0; f[F_TP_DST] = 0; }
  const r = t.lookup(f, ctx.wc);
  if (frag) { f[F_TP_SRC] = tpSrc; f[F_TP_DST] = tpDst; }
  ctx.conjMatches = r.conjMatches;
  if (r.rule !== null) ctx.rules.push(r.rule);
  return r.rule;
}

function reportTable(ctx: Ctx, rule: Rule | null, tableId: number): void {
  if (ctx.trace === null) return;
  let s = `${String(tableId).padStart(2, ' ')}. `;
  if (rule === null) {
    s += 'No match.';
  } else {
    s += formatRuleMatch(rule.spec);
    if (!s.endsWith(' ')) s += ', ';
    s += `priority ${rule.spec.priority}`;
    if (rule.spec.cookie !== 0n) s += `, cookie 0x${rule.spec.cookie.toString(16)}`;
  }
  const n = ctx.report('table', s)!;
  ctx.trace = n.subs;
  // xlate_report_conj_matches: cls_rule_format of each soft match (priority first unless 32768)
  for (const c of ctx.conjMatches) {
    const m = formatMatch(c.spec.match);
    const p = c.spec.priority === 32768 ? '' : `priority=${c.spec.priority}`;
    ctx.report('detail', `conj. ${[p, m].filter((x) => x).join(',')}`);
  }
  ctx.conjMatches = [];
}


/** xlate_table_action: resubmit/goto into 'tableId' with in_port 'inPort'. */
function tableAction(ctx: Ctx, inPort: number, tableId: number, isLast: boolean): void {
  if (ctx.depth >= MAX_DEPTH) {
    ctx.report('error', `over max translation depth ${MAX_DEPTH}`);
    ctx.error = 'XLATE_RECURSION_TOO_DEEP';
    return;
  }
  if (ctx.resubmits >= MAX_RESUBMITS) {
    ctx.report('error', `over ${MAX_RESUBMITS} resubmit actions`);
    ctx.error = 'XLATE_TOO_MANY_RESUBMITS';
    return;
  }
  const oldTable = ctx.tableId;
  const oldIn = ctx.flow[F_IN_PORT]!;
  ctx.flow[F_IN_PORT] = inPort;
  const rule = lookupFrom(ctx, tableId);
  ctx.flow[F_IN_PORT] = oldIn;
  const saved = ctx.trace;
  if (rule !== null) {
    reportTable(ctx, rule, tableId);
    const oldRule = ctx.rule;
    ctx.resubmits++;
    const deepens = tableId <= oldTable;
    if (deepens) ctx.depth++;
    ctx.rule = rule;
    // 'inPort' applied to the lookup only: the actions still see the packet's in_port
    doActions(ctx, rule.spec.actions, isLast, false);
    ctx.rule = oldRule;
    if (deepens) ctx.depth--;
  } else {
    // a miss: OVS's no_packet_in_rule, whose empty action list prints "drop" and does nothing else
    reportTable(ctx, null, tableId);
    doActions(ctx, [], isLast, false);
  }
  ctx.trace = saved;
  ctx.tableId = oldTable;
}

// ---- the action interpreter ------------------------------------------------------------------------------

function doActions(ctx: Ctx, acts: Action[], isLast: boolean, groupBucket: boolean): void {
  if (acts.length === 0) {
    ctx.report('action', 'drop');
    return;
  }
  for (let i = 0; i < acts.length; i++) {
    const a = acts[i]!;
    const last = isLast && i === acts.length - 1 && ctx.actionSet.length === 0;
    if (ctx.error !== null) break;
    if (ctx.exit) {
      if (ctx.freezing !== null) ctx.freezing.actions.push(...acts.slice(i));
      break;
    }
    if (ctx.trace !== null) ctx.report('action', formatActions([a]));
    if (executeAction(ctx, a, last, groupBucket)) return;
    if (ctx.error === null && ctx.exit && ctx.freezing !== null && i + 1 < acts.length && a.type !== 'resubmit' && a.type !== 'goto_table') {
      ctx.freezing.actions.push(...acts.slice(i + 1));
      break;
    }
  }
}

/** Execute one action; true when the rest of this action list must be skipped (dec_ttl exception, missing group). */
function executeAction(ctx: Ctx, a: Action, last: boolean, groupBucket: boolean): boolean {
  const flow = ctx.flow;
  switch (a.type) {
    case 'output': outputAction(ctx, a.port, a.maxLen, last, groupBucket); break;
    case 'output_reg': {
      const port = Number(readSubfield(flow, 0, a.src));
      ctx.report('detail', `output port is ${port}`);
      maskSubfield(ctx.wc, a.src);
      outputAction(ctx, port, a.maxLen, last, groupBucket);
      break;
    }
    case 'controller':
      if (a.pause) {
        // a paused packet-in freezes the rest of the pipeline; a trace shows nothing more
        ctx.exit = true;
        break;
      }
      controllerAction(ctx, a.maxLen, a.reason === 'action' ? 1 : a.reason === 'no_match' ? 0 : 2, a.controllerId);
      break;
    case 'resubmit': {
      const inPort = a.port === OFPP_IN_PORT ? flow[F_IN_PORT]! : a.port;
      const table = a.table === 255 ? ctx.tableId : a.table;
      tableAction(ctx, inPort, table, last);
      break;
    }
    case 'goto_table': tableAction(ctx, flow[F_IN_PORT]!, a.table, last); break;
    case 'write_metadata': {
      const cur = (BigInt(flow[F_METADATA_HI]!) << 32n) | BigInt(flow[F_METADATA_LO]!);
      const v = (cur & ~a.mask) | (a.value & a.mask);
      flow[F_METADATA_HI] = Number((v >> 32n) & 0xffffffffn);
      flow[F_METADATA_LO] = Number(v & 0xffffffffn);
      break;
    }
    case 'set_field': setField(ctx, a.dst, a.value, a.mask); break;
    case 'move': {
      // mf_subfield_copy: both fields' prerequisites must hold (reading dl_type/nw_proto), then
      // the source and destination bits are un-wildcarded
      if (!prereqsOk(ctx, a.dst.field) || !prereqsOk(ctx, a.src.field)) break;
      maskSubfield(ctx.wc, a.src);
      maskSubfield(ctx.wc, a.dst);
      writeSubfield(flow, 0, a.dst, readSubfield(flow, 0, a.src));
      reportSubfield(ctx, a.dst);
      break;
    }
    case 'mod_dl_src': ctx.mask(F_DL_SRC_HI, 0xffff); ctx.mask(F_DL_SRC_LO); setMac(flow, F_DL_SRC_HI, a.mac); break;
    case 'mod_dl_dst': ctx.mask(F_DL_DST_HI, 0xffff); ctx.mask(F_DL_DST_LO); setMac(flow, F_DL_DST_HI, a.mac); break;
    case 'mod_nw_src':
    case 'mod_nw_dst':
      if (flow[F_DL_TYPE] === ETH_TYPE_IP) {
        const w = a.type === 'mod_nw_src' ? F_NW_SRC : F_NW_DST;
        ctx.mask(w); ctx.mask(F_NW_PROTO, 0xff);
        flow[w] = a.ip >>> 0;
      }
      break;
    case 'mod_nw_tos':
      if (ctx.isIp) { ctx.mask(F_NW_PROTO, 0xff); ctx.mask(F_NW_TOS, 0xfc); flow[F_NW_TOS] = a.tos & 0xfc; }
      break;
    case 'mod_nw_ecn':
      if (ctx.isIp) { ctx.mask(F_NW_PROTO, 0xff); ctx.mask(F_NW_ECN, 0x03); flow[F_NW_ECN] = a.ecn & 3; }
      break;
    case 'mod_nw_ttl':
      if (ctx.isIp) { ctx.mask(F_NW_PROTO, 0xff); ctx.mask(F_NW_TTL, 0xff); flow[F_NW_TTL] = a.ttl & 0xff; }
      break;
    case 'mod_tp_src':
    case 'mod_tp_dst':
      if (ctx.isIp && (flow[F_NW_FRAG]! & NW_FRAG_LATER) === 0) {
        const w = a.type === 'mod_tp_src' ? F_TP_SRC : F_TP_DST;
        ctx.mask(F_NW_PROTO, 0xff); ctx.mask(w, 0xffff);
        flow[w] = a.port & 0xffff;
      }
      break;
    case 'dec_ttl':
      return decTtl(ctx, a.ids);
    case 'push_vlan':
      // flow_push_vlan_uninit: shifting the tag stack un-wildcards the old TCI
      ctx.mask(F_VLAN_TCI, 0xffff);
      ctx.tpid[0] = a.tpid;
      flow[F_VLAN_TCI] = 0x1000;
      break;
    case 'pop_vlan':
      ctx.mask(F_VLAN_TCI, 0xffff);
      flow[F_VLAN_TCI] = 0;
      ctx.tpid[0] = 0x8100;
      break;
    case 'mod_vlan_vid':
      ctx.mask(F_VLAN_TCI, 0x1fff);
      flow[F_VLAN_TCI] = ((flow[F_VLAN_TCI]! & ~0x0fff) | (a.vid & 0x0fff) | 0x1000) >>> 0;
      break;
    case 'mod_vlan_pcp':
      ctx.mask(F_VLAN_TCI, 0xf000);
      flow[F_VLAN_TCI] = ((flow[F_VLAN_TCI]! & ~0xe000) | ((a.pcp & 7) << 13) | 0x1000) >>> 0;
      break;
    case 'group': return groupAction(ctx, a.groupId, last);
    case 'ct': ctAction(ctx, a, last); break;
    case 'ct_clear':
      if (ctx.conntracked) { clearConntrack(ctx); ctx.odp.push('ct_clear'); }
      break;
    case 'conjunction':
      ctx.report('error', 'executing no-op conjunction action');
      break;
    case 'learn':
      learnMask(ctx, a);
      if (ctx.packet) learnExecute(ctx, a);
      // a flow-string trace learns nothing, and ofproto/trace says so under the action
      else ctx.report('warn', 'suppressing side effects, so learn action ignored');
      break;
    case 'note': break;
    case 'clone': cloneAction(ctx, a.actions, last); break;
    case 'write_actions':
      writeActions(ctx, a.actions);
      reportActionSet(ctx, 'is');
      break;
    case 'clear_actions':
      reportActionSet(ctx, 'was');
      ctx.actionSet = [];
      ctx.actsetOutput = OFPP_UNSET;
      ctx.actionSetHasGroup = false;
      break;
    case 'set_tunnel':
      flow[F_TUN_ID_HI] = Number((a.tunId >> 32n) & 0xffffffffn);
      flow[F_TUN_ID_LO] = Number(a.tunId & 0xffffffffn);
      break;
    case 'exit': ctx.exit = true; break;
  }
  return false;
}

// ---- outputs ----------------------------------------------------------------------------------------------

/** OFPR_* reasons as the userspace(controller(reason=N)) action prints them. */
const OFPR_NO_MATCH = 0, OFPR_ACTION = 1, OFPR_INVALID_TTL = 2, OFPR_ACTION_SET = 3, OFPR_GROUP = 4, OFPR_EXPLICIT_MISS = 6;

/** xlate_output_action */
function outputAction(ctx: Ctx, port: number, maxLen: number, last: boolean, groupBucket: boolean): void {
  const inPort = ctx.flow[F_IN_PORT]!;
  switch (port) {
    case OFPP_IN_PORT: composeOutput(ctx, inPort); break;
    case OFPP_TABLE: tableAction(ctx, inPort, 0, last); break;
    case OFPP_NORMAL: normalAction(ctx); break;
    case OFPP_FLOOD:
    case OFPP_ALL: flood(ctx); break;
    case OFPP_CONTROLLER:
      controllerAction(ctx, maxLen, groupBucket ? OFPR_GROUP : ctx.inActionSet ? OFPR_ACTION_SET : OFPR_ACTION, 0);
      break;
    case OFPP_NONE: break;
    default:
      if (port !== inPort) composeOutput(ctx, port);
      else ctx.report('warn', 'skipping output to input port');
  }
}

/** compose_output_action__ for a plain or tunnel port. */
function composeOutput(ctx: Ctx, ofport: number): void {
  const p = ctx.br.ports.get(ofport);
  if (p === undefined) {
    ctx.report('warn', 'Nonexistent output port');
    return;
  }
  if (isTunnel(p)) {
    // compose_output_action__: a remote that is the packet's own outer destination is refused
    const remote = p.options['remote_ip'];
    const dst = remote === 'flow' || remote === undefined ? ctx.flow[F_TUN_DST]! : ipv4Of(remote);
    if (dst === ctx.orig[F_TUN_DST]) { ctx.report('warn', 'Not tunneling to our own address'); return; }
    if (ctx.br.tunnelDatapath === 'kernel') kernelTunnelOutput(ctx, p);
    else tunnelOutput(ctx, p);
    return;
  }
  ctx.commit();
  // terminate_native_tunnel: underlay traffic for the bridge's own address and a tunnel port
  if (ofport === OFPP_LOCAL && ctx.br.underlay.ip4.length > 0) {
    const t = tunnelTerminator(ctx.br);
    const id = t.lookup(ctx.flow, 0, ctx.wc);
    if (id >= 0) {
      ctx.odp.push(`tnl_pop(${t.payloadOf(id)})`);
      return;
    }
  }
  ctx.odp.push(String(p.odp));
}

/**
 * OVS's tnl_port_map: one rule per (tunnel port, bridge address) matching
 * the underlay packets a tunnel terminates (dl_dst = bridge MAC, nw_dst =
 * bridge IP, UDP to the tunnel's port or GRE), looked up with the
 * translation's wildcards so the megaflow gets exactly what OVS's lookup
 * reads (staged; port bits as a prefix). Rebuilt when the bridge changes.
 */
const terminators = new WeakMap<Bridge, { version: number; cls: Classifier<number> }>();
function tunnelTerminator(br: Bridge): Classifier<number> {
  const cached = terminators.get(br);
  const version = br.ports.size * 1000003 + br.underlay.ip4.length;
  if (cached !== undefined && cached.version === version) return cached.cls;
  const cls = new Classifier<number>();
  const mac = br.underlay.hwaddr ?? 0n;
  for (const p of br.ports.values()) {
    if (!isTunnel(p)) continue;
    for (const a of br.underlay.ip4) {
      const m = new Match();
      const set = (w: number, v: number, mask: number): void => { m.value[w] = (v & mask) >>> 0; m.mask[w] = mask >>> 0; };
      set(F_DL_DST_HI, Number(mac >> 32n), 0xffff);
      set(F_DL_DST_LO, Number(mac & 0xffffffffn), 0xffffffff);
      set(F_DL_TYPE, 0x0800, 0xffff);
      set(F_NW_DST, a.addr, 0xffffffff);
      set(F_NW_PROTO, p.type === 'gre' ? 47 : 17, 0xff);
      if (p.type !== 'gre') set(F_TP_DST, Number(p.options['dst_port'] ?? TNL_DST_PORT[p.type]), 0xffff);
      cls.insert(m, 0, p.odp);
    }
  }
  terminators.set(br, { version, cls });
  return cls;
}

function isTunnel(p: BridgePort): boolean {
  return p.type === 'vxlan' || p.type === 'geneve' || p.type === 'gre';
}

/**
 * FLOOD and ALL: every port but the input port, in OpenFlow port order
 * (sdnemu has no per-port no-flood flag, so the two are the same here).
 */
function flood(ctx: Ctx): void {
  const inPort = ctx.flow[F_IN_PORT]!;
  const ports = [...ctx.br.ports.values()].filter((p) => p.ofport !== inPort).sort((a, b) => a.ofport - b.ofport);
  for (const p of ports) composeOutput(ctx, p.ofport);
}

// ---- NORMAL (xlate_normal) ---------------------------------------------------------------------------

/**
 * NORMAL, as OVS's xlate_normal (one port per bundle; no bonds, mirrors,
 * multicast snooping or dot1q-tunnel ports):
 *  - un-wildcards dl_src, dl_dst and the VID and CFI bits (BEHAVIOUR.md
 *    item 4; an output that pops a tag later makes the whole TCI exact);
 *  - drops a packet from an unknown port, a VID the input port does not
 *    carry, and a reserved destination (01:80:c2:00:00:0x, CDP/VTP…);
 *  - reads what is_gratuitous_arp reads (ARP: dl_dst; for a broadcast,
 *    arp_op; for a request, arp_spa and arp_tpa too);
 *  - with ctx.learnMacs, reports the source (dl_src, the packet's VLAN, the
 *    input port) in ctx.macLearn, and a destination equal to that source is
 *    taken as learned on the input port (OVS learns before it looks up);
 *  - a known unicast destination goes to its learned port (not back to the
 *    input port); anything else is flooded to every other port that carries
 *    the VLAN, in port creation order (Bridge.ports), each output tagged or
 *    untagged for its port (output_normal).
 */
function normalAction(ctx: Ctx): void {
  const f = ctx.flow;
  ctx.mask(F_DL_SRC_HI, 0xffff); ctx.mask(F_DL_SRC_LO);
  ctx.mask(F_DL_DST_HI, 0xffff); ctx.mask(F_DL_DST_LO);
  ctx.mask(F_VLAN_TCI, 0x1fff);
  const inPort = f[F_IN_PORT]!;
  const inP = ctx.br.ports.get(inPort);
  if (inP === undefined && inPort !== OFPP_NONE && inPort !== OFPP_CONTROLLER) {
    ctx.report('error', `received packet on unknown port ${inPort}`);
    ctx.report('warn', 'no input bundle, dropping');
    return;
  }
  // the OFPP_NONE / OFPP_CONTROLLER bundle accepts any VID and learns nothing
  const inVlan = inP === undefined ? null : portVlan(inP);
  const tci = f[F_VLAN_TCI]!;
  const vid = tci & 0x0fff, pcp = tci & 0xe000;
  if (inVlan !== null && !inputVidValid(ctx, vid, inVlan, inP!.name)) {
    ctx.report('warn', 'disallowed VLAN VID for this input port, dropping');
    return;
  }
  const vlan = inVlan === null ? vid : inVlan.mode === 'trunk' || vid !== 0 && inVlan.mode !== 'access' ? vid : inVlan.vlan;
  const src = macFromWords(f[F_DL_SRC_HI]!, f[F_DL_SRC_LO]!), dst = macFromWords(f[F_DL_DST_HI]!, f[F_DL_DST_LO]!);
  if (inP !== undefined && macIsReserved(dst)) {
    ctx.report('detail', 'packet has reserved destination MAC, dropping');
    return;
  }
  isGratuitousArp(ctx);
  const learns = ctx.learnMacs && inP !== undefined && !macIsMulticast(src);
  if (learns) ctx.macLearn.push({ mac: src, vlan, port: inPort });
  const port = macIsMulticast(dst) ? -1 : learns && dst === src ? inPort : ctx.br.mac.lookup(dst, vlan);
  if (port >= 0) {
    const out = ctx.br.ports.get(port);
    if (out === undefined) ctx.report('warn', 'learned port is unknown, dropping');
    else if (port === inPort) ctx.report('detail', 'learned port is input port, dropping');
    else {
      ctx.report('detail', 'forwarding to learned port');
      outputNormal(ctx, out, vlan, pcp);
    }
    return;
  }
  ctx.report('detail', 'no learned MAC for destination, flooding');
  for (const p of ctx.br.ports.values()) {
    if (p.ofport === inPort || !vlanIncluded(portVlan(p), vlan)) continue;
    outputNormal(ctx, p, vlan, pcp);
  }
}

/** input_vid_is_valid: may a packet with VID 'vid' enter on a port configured as 'pv'? */
function inputVidValid(ctx: Ctx, vid: number, pv: PortVlan, name: string): boolean {
  if (pv.mode === 'access') {
    if (vid === 0) return true;
    ctx.report('error', `dropping VLAN ${vid} tagged packet received on port ${name} configured as VLAN ${pv.vlan} access port`);
    return false;
  }
  if (vid === 0 && pv.mode !== 'trunk') return true;   // a native-* port always carries its native VLAN
  if (vlanTrunked(pv, vid)) return true;
  ctx.report('error', `dropping VLAN ${vid} packet received on port ${name} not configured for trunking VLAN ${vid}`);
  return false;
}

/** xbundle_trunks_vlan */
function vlanTrunked(pv: PortVlan, vlan: number): boolean {
  return pv.mode !== 'access' && (pv.trunks === null || pv.trunks.has(vlan));
}

/** xbundle_includes_vlan */
function vlanIncluded(pv: PortVlan, vlan: number): boolean {
  return vlan === pv.vlan || vlanTrunked(pv, vlan);
}

/**
 * output_normal: output to 'p' with the packet's VLAN as that port sends it
 * — untagged on an access port and on a native-untagged port's own VLAN,
 * tagged 'vlan' (and the packet's PCP) otherwise — then restore the flow's tag.
 */
function outputNormal(ctx: Ctx, p: BridgePort, vlan: number, pcp: number): void {
  const pv = portVlan(p);
  const untag = pv.mode === 'access' || (pv.mode === 'native-untagged' && vlan === pv.vlan);
  const tci = untag ? 0 : (vlan | pcp);
  const old = ctx.flow[F_VLAN_TCI]!;
  ctx.flow[F_VLAN_TCI] = tci === 0 ? 0 : (tci | 0x1000) >>> 0;
  composeOutput(ctx, p.ofport);
  ctx.flow[F_VLAN_TCI] = old;
}

/** is_gratuitous_arp: only its un-wildcarding matters here (it locks entries on bond ports only). */
function isGratuitousArp(ctx: Ctx): void {
  const f = ctx.flow;
  if (f[F_DL_TYPE] !== 0x0806) return;
  if (f[F_DL_DST_HI] !== 0xffff || f[F_DL_DST_LO] !== 0xffffffff) return;
  ctx.mask(F_NW_PROTO, 0xff);
  if (f[F_NW_PROTO] === 1) { ctx.mask(F_NW_SRC); ctx.mask(F_NW_DST); }
}

/** eth_addr_is_reserved: IEEE 802.1D/802.1Q reserved group addresses and Cisco's CDP/VTP/PVST+ ones. */
function macIsReserved(mac: number): boolean {
  if (mac >= 0x0180c2000000 && mac <= 0x0180c200000f) return true;        // STP, pause, LACP, LLDP, …
  if (mac >= 0x01000cccccc0 && mac <= 0x01000cccccc7) return true;        // Cisco CFM
  return RESERVED_MACS.has(mac);
}
const RESERVED_MACS = new Set([0x00e02b000000, 0x00e02b000004, 0x00e02b000006,   // Extreme EDP, EAPS
  0x01000c000000, 0x01000ccccccc, 0x01000ccccccd, 0x01000ccdcdcd]);              // Cisco ISL, CDP/VTP…, PVST+, Uplink Fast

/** xlate_controller_action: a userspace() action (never sent during a trace). */
function controllerAction(ctx: Ctx, maxLen: number, reason: number, controllerId: number): void {
  ctx.commit();
  const rule = ctx.rule;
  if (reason === OFPR_ACTION && rule !== null && rule.spec.priority === 0 && rule.spec.match.isCatchall()) reason = OFPR_EXPLICIT_MISS;
  const recirc = recircId(ctx, `ctl|${ctx.tableId}|${ctx.conntracked}|${ctx.flow.join(',')}`);
  const cookie = rule === null ? 0n : rule.spec.cookie;
  ctx.odp.push(`userspace(pid=0,controller(reason=${reason},dont_send=${ctx.packet ? 0 : 1},continuation=0,recirc_id=${recirc},` +
    `rule_cookie=${hexC(Number(cookie & 0xffffffffn))},controller_id=${controllerId},max_len=${maxLen}))`);
}

/** compose_dec_ttl: true when the TTL ran out (the rest of the action list is skipped). */
function decTtl(ctx: Ctx, ids: number[]): boolean {
  // do_xlate_actions masks nw_ttl and nw_proto before compose_dec_ttl checks for IP (so ARP gets them too)
  ctx.mask(F_NW_TTL, 0xff);
  ctx.mask(F_NW_PROTO, 0xff);
  if (!ctx.isIp) return false;
  const ttl = ctx.flow[F_NW_TTL]!;
  if (ttl > 1) {
    ctx.flow[F_NW_TTL] = ttl - 1;
    return false;
  }
  for (const id of ids) controllerAction(ctx, 65535, OFPR_INVALID_TTL, id);
  ctx.report('warn', `IPv${ctx.flow[F_DL_TYPE] === ETH_TYPE_IP ? 4 : 6} decrement TTL exception`);
  return true;
}

// ---- set_field / load / move ---------------------------------------------------------------------------

/** OVS's L3 fields whose rewrite also un-wildcards nw_proto (mf_set_mask_l3_prereqs). */
const L3_IP_FIELDS = new Set(['ip_src', 'ip_dst', 'ipv6_src', 'ipv6_dst', 'ipv6_label', 'nw_tos', 'nw_ecn', 'nw_ttl']);  // not ip_dscp (MFF_IP_DSCP_SHIFTED)
const L3_ARP_FIELDS = new Set(['arp_op', 'arp_spa', 'arp_tpa', 'arp_sha', 'arp_tha']);

/** mf_are_prereqs_ok: reads (un-wildcards) dl_type and, for L4 prerequisites, nw_proto. */
function prereqsOk(ctx: Ctx, f: FieldRef['field']): boolean {
  if (f.prereq === null) return true;
  const flow = ctx.flow;
  ctx.mask(F_DL_TYPE, 0xffff);
  if (f.prereq.nwProtos.length) ctx.mask(F_NW_PROTO, 0xff);
  return prereqSatisfied(f.prereq, flow[F_DL_TYPE]!, 0xffff, flow[F_NW_PROTO]!, 0xff);
}

function setField(ctx: Ctx, dst: FieldRef, value: bigint, mask: bigint): void {
  const f = dst.field, flow = ctx.flow;
  if (!prereqsOk(ctx, f)) {
    ctx.report('warn', `unmet prerequisites for ${f.ovsName}, set_field ignored`);
    return;
  }
  const t = flow[F_DL_TYPE]!;
  if (((t === ETH_TYPE_IP || t === ETH_TYPE_IPV6) && L3_IP_FIELDS.has(f.ovsName)) || (t === 0x0806 && L3_ARP_FIELDS.has(f.ovsName))) {
    ctx.mask(F_NW_PROTO, 0xff);
  }
  if (f.word < 0) {
    // ct_label (ct(exec(...)) only): not part of sdnemu's key; remembered for the ct() action
    ctx.ctLabel = { value: (ctx.ctLabel?.value ?? 0n) & ~mask | (value & mask), mask: (ctx.ctLabel?.mask ?? 0n) | mask };
    return;
  }
  const tunnel = f.word >= F_TUN_ID_HI && f.word <= F_TUN_FLAGS;
  const cur = readSubfield(flow, 0, dst);
  const next = (cur & ~mask) | (value & mask);
  if (!tunnel) maskSubfieldBits(ctx.wc, dst, mask);
  writeSubfield(flow, 0, dst, next);
  // dl_vlan / vlan_pcp writes mark the packet tagged (flow_set_dl_vlan / flow_set_vlan_pcp)
  if (f.name === 'dl_vlan' || f.name === 'dl_vlan_pcp' || f.name === 'vlan_pcp') flow[F_VLAN_TCI] = (flow[F_VLAN_TCI]! | 0x1000) >>> 0;
  if (f.name === 'nw_tos' || f.name === 'ip_dscp') flow[F_NW_TOS] = flow[F_NW_TOS]! & 0xfc;
}

function setMac(flow: Uint32Array, w: number, mac: bigint): void {
  flow[w] = Number((mac >> 32n) & 0xffffn);
  flow[w + 1] = Number(mac & 0xffffffffn);
}

function reportSubfield(ctx: Ctx, r: FieldRef): void {
  if (ctx.trace === null) return;
  const whole = r.ofs === 0 && r.nBits >= r.field.bits;
  const v = readSubfield(ctx.flow, 0, r);
  ctx.report('detail', `${formatSubfield(r)} is now ${whole ? formatFieldValue(r.field, v) : `0x${v.toString(16)}`}`);
}

// ---- groups ------------------------------------------------------------------------------------------------

/** xlate_group_action: true when the group does not exist (ends this action list). */
function groupAction(ctx: Ctx, id: number, last: boolean): boolean {
  const g = ctx.br.groups.get(id);
  if (g === undefined) return true;
  if (ctx.depth >= MAX_DEPTH) { ctx.report('error', `over max translation depth ${MAX_DEPTH}`); ctx.error = 'XLATE_RECURSION_TOO_DEEP'; return false; }
  ctx.resubmits++;
  if (g.type === 'all' || g.type === 'indirect') {
    g.buckets.forEach((b, i) => groupBucket(ctx, b, i, last && i === g.buckets.length - 1));
    return false;
  }
  let chosen = -1;
  if (g.type === 'ff') {
    chosen = g.buckets.findIndex((b) => bucketAlive(ctx, b, 0));
  } else {
    // select: OVS's default selection method is dp_hash: recirculate with a hash first
    const map = g.selectionMethod === '' || g.selectionMethod === 'dp_hash' ? dpHashMap(g) : null;
    if (map !== null && ctx.flow[F_DP_HASH] === 0) {
      // pick_dp_hash_select_group with no dp_hash yet: hash in the datapath and recirculate (OVS 3.1
      // then reports "no live bucket", since no bucket was picked in this pass); the default method
      // hashes symmetrically, selection_method=dp_hash with the L4 hash
      ctx.commit();
      ctx.odp.push(g.selectionMethod === 'dp_hash' ? 'hash(l4(0))' : 'hash(sym_l4(0))');
      // the group action itself is frozen (then the actions after it): the recirculated pass
      // resumes there, without looking the table up again (so nothing the rule matched is re-read)
      freeze(ctx, 'hash', ctx.tableId).actions.push({ type: 'group', groupId: id });
      ctx.report('detail', 'no live bucket');
      return false;
    }
    if (map !== null) {
      // the recirculated pass: the first live bucket from hash_map[dp_hash & mask] on
      const mask = map.length - 1, h = ctx.flow[F_DP_HASH]!;
      ctx.mask(F_DP_HASH, mask);
      for (let i = 0; i <= mask; i++) {
        const b = map[(h + i) & mask]!;
        if (bucketAlive(ctx, g.buckets[b]!, 0)) { chosen = b; break; }
      }
    } else {
      chosen = hashSelect(ctx, g);
    }
    if (ctx.balance === null) {
      // a load-balancing decision: a fork may force another live bucket
      const k = ctx.forceBucket;
      if (k >= 0 && k < g.buckets.length && bucketAlive(ctx, g.buckets[k]!, 0)) chosen = k;
      ctx.balance = { group: id, buckets: g.buckets.map((b, i) => `bucket_id=${bucketId(b, i)}`), chosen };
    }
  }
  if (chosen >= 0) {
    const b = g.buckets[chosen]!;
    ctx.report('detail', `using bucket ${bucketId(b, chosen)}`);
    groupBucket(ctx, b, chosen, last);
  } else {
    ctx.report('detail', 'no live bucket');
  }
  return false;
}

/**
 * group_setup_dp_hash_table: the group's dp_hash slots (a power of two, at
 * least 16 and at least 4 per bucket, up to 256), each holding a bucket
 * index, dealt by the Webster method so a bucket's share of slots follows
 * its weight (equal weights: slot i → bucket i % n). null when the group
 * cannot use dp_hash (no bucket with weight, or more than 256 slots needed):
 * OVS then selects in the slow path. Cached per group object.
 */
const dpHashMaps = new WeakMap<GroupSpec, Int32Array | null>();
function dpHashMap(g: GroupSpec): Int32Array | null {
  const cached = dpHashMaps.get(g);
  if (cached !== undefined) return cached;
  let total = 0, minW = 0xffff;
  for (const b of g.buckets) {
    if (b.weight > 0 && b.weight < minW) minW = b.weight;
    total += b.weight;
  }
  let map: Int32Array | null = null;
  if (g.buckets.length > 0 && total > 0) {
    const minSlots = Math.max(Math.ceil(total / minW), Math.min(g.buckets.length * 4, 256));
    let n = 16;
    while (n < minSlots) n *= 2;
    if (n <= 256) {
      map = new Int32Array(n);
      const divisor = g.buckets.map(() => 1), value = g.buckets.map((b) => b.weight);
      for (let slot = 0; slot < n; slot++) {
        let w = 0;
        for (let i = 1; i < g.buckets.length; i++) if (value[i]! > value[w]!) w = i;
        divisor[w] = divisor[w]! + 2;
        value[w] = g.buckets[w]!.weight / divisor[w]!;
        map[slot] = w;
      }
    }
  }
  dpHashMaps.set(g, map);
  return map;
}

/**
 * pick_hash_fields_select_group + group_best_live_bucket: hash the listed
 * fields (network byte order, each un-wildcarded) into a basis, score every
 * live bucket as (hash_int(bucket_id, basis) & 0xffff) * weight and take the
 * best (the later one on ties). Returns the bucket index or -1.
 */
function hashSelect(ctx: Ctx, g: GroupSpec): number {
  let basis = hash2Words(0, 0);   // hash_uint64(selection_method_param = 0)
  if (g.selectionMethod === 'hash') {
    for (const name of g.fields) {
      const f = FIELDS.get(name.split('=')[0]!);
      if (f === undefined || !prereqsOk(ctx, f)) continue;
      const ref = { field: f, ofs: 0, nBits: f.bits };
      let v = readSubfield(ctx.flow, 0, ref);
      const bytes = new Uint8Array(f.nBytes);   // the field in network byte order, as mf_get_value
      for (let i = f.nBytes - 1; i >= 0; i--) { bytes[i] = Number(v & 0xffn); v >>= 8n; }
      basis = hashBytes(bytes, basis);
      maskSubfield(ctx.wc, ref);
    }
  }
  let best = -1, bestScore = 0;
  g.buckets.forEach((b, i) => {
    if (b.weight === 0) {
      // OVS 3.1 reports a zero-weight select bucket as dead, with an empty reason
      ctx.report('detail', `bucket ${bucketId(b, i)}: not live due to `);
      return;
    }
    if (!bucketAlive(ctx, b, 0)) return;
    const score = (hashInt(bucketId(b, i), basis) & 0xffff) * b.weight;
    if (score >= bestScore) { best = i; bestScore = score; }
    ctx.report('detail', `bucket ${bucketId(b, i)}: score ${score}`);
  });
  return best;
}

function bucketId(b: Bucket, i: number): number {
  return b.bucketId >= 0 ? b.bucketId : i;
}

function bucketAlive(ctx: Ctx, b: Bucket, depth: number): boolean {
  if (depth > 32) return false;
  if (b.watchPort !== OFPP_ANY && b.watchPort !== OFPP_NONE_U32 && !ctx.br.ports.has(b.watchPort)) return false;
  if (b.watchGroup !== OFPG_ANY) {
    const g = ctx.br.groups.get(b.watchGroup);
    if (g === undefined || !g.buckets.some((x) => bucketAlive(ctx, x, depth + 1))) return false;
  }
  return true;
}
const OFPP_ANY = 0xffff, OFPP_NONE_U32 = 0xffffffff, OFPG_ANY = 0xffffffff;

/** xlate_group_bucket: the bucket's actions as an action set, on a copy of the flow. */
function groupBucket(ctx: Ctx, b: Bucket, i: number, last: boolean): void {
  const saved = ctx.trace;
  const n = ctx.report('bucket', `bucket ${bucketId(b, i)}`);
  if (n !== null) ctx.trace = n.subs;
  const oldFlow = ctx.flow.slice();
  const oldTpid = ctx.tpid[0]!;
  ctx.depth++;
  doActions(ctx, actionSetToList(b.actions), last, true);
  ctx.depth--;
  if (ctx.freezing !== null) finishFreezing(ctx);
  ctx.flow.set(oldFlow);
  ctx.tpid[0] = oldTpid;
  ctx.exit = false;
  ctx.trace = saved;
}

// ---- action sets (OpenFlow 1.1+) ------------------------------------------------------------------------

const SLOT_ORDER = ['pop_vlan', 'push_vlan', 'dec_ttl'] as const;
const SET_OR_MOVE = new Set(['set_field', 'move', 'mod_dl_src', 'mod_dl_dst', 'mod_nw_tos', 'mod_nw_ecn', 'mod_nw_ttl',
  'mod_nw_src', 'mod_nw_dst', 'mod_tp_src', 'mod_tp_dst', 'set_tunnel', 'mod_vlan_pcp', 'mod_vlan_vid']);
const FINAL_ORDER = ['ct', 'ct_clear', 'resubmit', 'output', 'group'];

/** ofpacts_execute_action_set: slots in spec order, all set/move actions, then the one final action. */
export function actionSetToList(set: Action[]): Action[] {
  const slots = new Map<string, Action>();
  const setMove: Action[] = [];
  let final: Action | null = null, finalClass = -1;
  for (const a of set) {
    if ((SLOT_ORDER as readonly string[]).includes(a.type)) slots.set(a.type, a);
    else if (SET_OR_MOVE.has(a.type)) setMove.push(a);
    else {
      const c = FINAL_ORDER.indexOf(a.type);
      if (c >= 0 && c >= finalClass) { final = a; finalClass = c; }
    }
  }
  if (final === null) return [];
  const out: Action[] = [];
  for (const s of SLOT_ORDER) { const a = slots.get(s); if (a) out.push(a); }
  out.push(...setMove, final);
  return out;
}

/** xlate_write_actions__: append to the action set, keeping actset_output as OVS does. */
function writeActions(ctx: Ctx, acts: Action[]): void {
  if (!ctx.actionSetHasGroup) {
    for (const a of acts) {
      if (a.type === 'output') ctx.actsetOutput = a.port;
      else if (a.type === 'group') { ctx.actsetOutput = OFPP_UNSET; ctx.actionSetHasGroup = true; break; }
    }
  }
  ctx.actionSet.push(...acts);
}

function reportActionSet(ctx: Ctx, verb: 'is' | 'was'): void {
  if (ctx.trace === null) return;
  const list = actionSetToList(ctx.actionSet);
  ctx.report('detail', list.length ? `action set ${verb}: ${formatActions(list)}` : `action set ${verb} empty`);
}

/** xlate_action_set: run the accumulated action set at the end of the pipeline. */
function executeActionSet(ctx: Ctx): void {
  const list = actionSetToList(ctx.actionSet);
  ctx.actionSet = [];
  if (list.length === 0) return;
  ctx.inActionSet = true;
  const saved = ctx.trace;
  const n = ctx.report('table', '--. Executing action set:');
  if (n !== null) ctx.trace = n.subs;
  doActions(ctx, list, true, false);
  ctx.trace = saved;
  ctx.inActionSet = false;
}

function cloneAction(ctx: Ctx, acts: Action[], last: boolean): void {
  if (!last) ctx.commit();
  const oldFlow = ctx.flow.slice();
  const oldSet = ctx.actionSet;
  const oldCt = ctx.conntracked;
  const oldTpid = ctx.tpid[0]!;
  ctx.actionSet = [];
  doActions(ctx, acts, true, false);
  if (ctx.freezing === null) executeActionSet(ctx);
  if (ctx.freezing !== null) finishFreezing(ctx);
  ctx.flow.set(oldFlow);
  ctx.actionSet = oldSet;
  ctx.conntracked = oldCt;
  ctx.tpid[0] = oldTpid;
  ctx.exit = false;
}

// ---- conntrack and recirculation -------------------------------------------------------------------------

/**
 * recirc_alloc_id_ctx: one id per distinct frozen state ('state' is its
 * text), counting up per bridge as OVS's ids do per daemon; an equal state
 * gets the same id (two controller actions of one translation share one).
 */
function recircId(ctx: Ctx, state: string): number {
  let id = ctx.br.recircIds.get(state);
  if (id === undefined) {
    id = ctx.br.nextRecircId++;
    ctx.br.recircIds.set(state, id);
  }
  return id;
}

function freeze(ctx: Ctx, kind: Continuation['kind'], table: number): Continuation {
  const c: Continuation = {
    recircId: recircId(ctx, `${kind}|${table}|${ctx.flow.join(',')}|${formatActions(ctx.actionSet)}`), kind, flow: ctx.flow.slice(), table, zone: 0, nat: null,
    actions: [], actionSet: ctx.actionSet.slice(), conntracked: ctx.conntracked,
  };
  ctx.freezing = c;
  ctx.exit = true;
  return c;
}

/** finish_freezing: emit recirc() for the pending freeze and hand it to the caller. */
function finishFreezing(ctx: Ctx): void {
  const c = ctx.freezing!;
  ctx.freezing = null;
  ctx.odp.push(`recirc(${hexC(c.recircId)})`);
  ctx.continuations.push(c);
}

function clearConntrack(ctx: Ctx): void {
  ctx.flow[F_CT_STATE] = 0;
  ctx.flow[F_CT_ZONE] = 0;
  ctx.flow[F_CT_MARK] = 0;
}

/** compose_conntrack_action */
function ctAction(ctx: Ctx, a: CtAction, last: boolean): void {
  let zone = a.zone;
  if (a.zoneSrc !== null) {
    zone = Number(readSubfield(ctx.flow, 0, a.zoneSrc));
    maskSubfield(ctx.wc, a.zoneSrc);
  }
  ctx.commit();
  const oldMarkMask = ctx.wc[F_CT_MARK]!;
  ctx.wc[F_CT_MARK] = 0;
  // the nested actions, as OVS holds them: exec(...)'s, then the nat (an empty list traces "drop")
  if (a.exec.length) doActions(ctx, a.exec, last, false);
  if (a.nat !== null) ctx.report('action', natText(a.nat));
  if (a.exec.length === 0 && a.nat === null) ctx.report('action', 'drop');
  const parts: string[] = [];
  if (a.commit) parts.push(a.force ? 'force_commit' : 'commit');
  if (zone !== 0) parts.push(`zone=${zone}`);
  const markMask = ctx.wc[F_CT_MARK]!;
  if (markMask !== 0) parts.push(`mark=${hexC(ctx.flow[F_CT_MARK]!)}/${hexC(markMask)}`);
  if (ctx.ctLabel !== null) parts.push(`label=0x${ctx.ctLabel.value.toString(16)}/0x${ctx.ctLabel.mask.toString(16)}`);
  ctx.ctLabel = null;
  if (a.alg !== null) parts.push(`helper=${a.alg}`);
  if (a.nat !== null) parts.push(natText(a.nat));
  ctx.odp.push(parts.length ? `ct(${parts.join(',')})` : 'ct');
  ctx.wc[F_CT_MARK] = oldMarkMask;
  if (a.table !== null) {
    ctx.conntracked = true;
    const c: Continuation = {
      recircId: recircId(ctx, `ct|${a.table}|${zone}|${ctx.flow.join(',')}|${formatActions(ctx.actionSet)}`), kind: 'conntrack', flow: ctx.flow.slice(), table: a.table, zone, nat: a.nat,
      actions: [], actionSet: ctx.actionSet.slice(), conntracked: true,
    };
    ctx.odp.push(`recirc(${hexC(c.recircId)})`);
    ctx.continuations.push(c);
    ctx.report('detail', `A clone of the packet is forked to recirculate. The forked pipeline will be resumed at table ${a.table}.`);
  }
  clearConntrack(ctx);
  ctx.report('detail', 'Sets the packet to an untracked state, and clears all the conntrack fields.');
  ctx.conntracked = false;
}


/** The nat(...) of a datapath ct() action (odp-util.c format_odp_ct_nat). */
function natText(n: NonNullable<CtAction['nat']>): string {
  if (n.kind === null) return 'nat';
  let s = `nat(${n.kind}`;
  if (n.addrMin !== null) {
    s += `=${ipv4ToString(n.addrMin)}`;
    if (n.addrMax !== null && n.addrMax !== n.addrMin) s += `-${ipv4ToString(n.addrMax)}`;
    if (n.portMin !== null) {
      s += `:${n.portMin}`;
      if (n.portMax !== null && n.portMax !== n.portMin) s += `-${n.portMax}`;
    }
  }
  if (n.random) s += ',random';
  if (n.hash) s += ',hash';
  if (n.persistent) s += ',persistent';
  return `${s})`;
}

/** learn_mask: un-wildcard every sub-field learn() reads. */
function learnMask(ctx: Ctx, a: Extract<Action, { type: 'learn' }>): void {
  for (const s of a.specs) {
    // learn_mask: the source sub-field of each spec; `dst[..]` alone reads the same bits of the packet
    const src = s.kind === 'output' ? s.src : s.src ?? (s.kind === 'match' && s.value === null ? s.dst : null);
    if (src !== null) maskSubfield(ctx.wc, src);
  }
}

/**
 * learn_execute: the flow a learn() action installs for the current packet —
 * match specs write the packet's (or an immediate) value into the new match
 * (with the Ethernet packet type for L2+ fields), load specs become
 * `load:` actions, output specs an output to the port the field holds (when
 * it is a valid port). Recorded in the result with OVS's trace detail.
 */
function learnExecute(ctx: Ctx, a: Extract<Action, { type: 'learn' }>): void {
  const m = new Match();
  const actions: Action[] = [];
  const flow = ctx.flow;
  for (const s of a.specs) {
    if (s.kind === 'output') {
      const port = Number(readSubfield(flow, 0, s.src));
      if (port < 0xff00 || [OFPP_IN_PORT, OFPP_FLOOD, OFPP_LOCAL, OFPP_ALL].includes(port)) {
        actions.push({ type: 'output', port, maxLen: 0 });
      }
      continue;
    }
    const v = s.src !== null ? readSubfield(flow, 0, s.src) : s.value ?? readSubfield(flow, 0, s.dst);
    if (s.kind === 'match') {
      writeSubfield(m.value, 0, s.dst, v);
      maskSubfield(m.mask, s.dst);
      if (s.dst.field.ethernet) { m.value[F_PACKET_TYPE] = 0; m.mask[F_PACKET_TYPE] = 0xffffffff; }
    } else {
      actions.push({ type: 'set_field', dst: s.dst, value: v, mask: (1n << BigInt(s.dst.nBits)) - 1n, raw: 'load' });
    }
  }
  const spec: FlowSpec = {
    table: a.table, priority: a.priority, cookie: a.cookie, idleTimeout: a.idleTimeout, hardTimeout: a.hardTimeout,
    importance: 0, flags: a.sendFlowRem ? ['send_flow_rem'] : [], match: m, actions, line: 0,
  };
  ctx.learned.push(spec);
  if (ctx.trace !== null) {
    let t = `table=${a.table} ${formatMatch(m)}`.trimEnd();
    t += ` priority=${a.priority}`;
    if (a.cookie !== 0n) t += ` cookie=0x${a.cookie.toString(16)}`;
    if (a.idleTimeout !== 0) t += ` idle=${a.idleTimeout}`;
    if (a.hardTimeout !== 0) t += ` hard=${a.hardTimeout}`;
    if (a.sendFlowRem) t += ' send_flow_rem';
    ctx.report('detail', `${t} actions=${formatActions(actions)}`);
  }
}

// ---- native tunnelling ----------------------------------------------------------------------------------

/** OVS_VPORT_TYPE_* as `header(type=N)` prints them, and the UDP port of each tunnel type. */
const TNL_TYPE: Record<string, number> = { gre: 3, vxlan: 4, geneve: 5 };
const TNL_DST_PORT: Record<string, number> = { vxlan: 4789, geneve: 6081 };

const ipv4Of = (s: string): number => parseIpv4Dotted(s) ?? 0;

/**
 * compose_output_action__ → tnl_port_send → native_tunnel_output for a
 * VXLAN/Geneve/GRE port: fill the tunnel fields from the port's options,
 * route the outer destination through the underlay (@route/@ip), resolve the
 * next hop (@neigh), emit `tnl_push(...)` and translate the encapsulated
 * packet through the bridge again from LOCAL (as patch_port_output does),
 * with its own throw-away wildcards.
 */
function tunnelOutput(ctx: Ctx, p: BridgePort): void {
  const flow = ctx.flow, u = ctx.br.underlay;
  const savedFlow = flow.slice();
  // tnl_port_send: the port's configuration decides the outer header
  const { tunId, hasKey, dst, tos, ttl, flags } = tunnelParams(ctx, p);
  ctx.report('detail', 'output to native tunnel');
  ctx.commit();
  // tnl_route_lookup_flow: longest prefix over the @route entries
  let route: Bridge['underlay']['routes'][number] | null = null;
  for (const r of u.routes) {
    const m = r.prefixLen === 0 ? 0 : (0xffffffff << (32 - r.prefixLen)) >>> 0;
    if (((dst & m) >>> 0) === r.net && (route === null || r.prefixLen > route.prefixLen)) route = r;
  }
  if (route === null) {
    ctx.report('warn', 'native tunnel routing failed');
    return;
  }
  ctx.report('detail', `tunneling to ${ipv4ToString(dst)} via ${route.dev}`);
  const local = p.options['local_ip'];
  const src = local !== undefined && local !== 'flow' ? ipv4Of(local)
    : (u.ip4.find((a) => {
      const m = a.prefixLen === 0 ? 0 : (0xffffffff << (32 - a.prefixLen)) >>> 0;
      return ((a.addr & m) >>> 0) === ((dst & m) >>> 0);
    }) ?? u.ip4[0])?.addr ?? 0;
  const smac = u.hwaddr ?? 0n;
  const dmac = u.neighs.get(dst);
  if (dmac === undefined) {
    ctx.report('detail', `neighbor cache miss for ${ipv4ToString(dst)} on bridge ${ctx.br.name}, sending ARP request`);
    return;
  }
  ctx.report('detail', `tunneling from ${macText(smac)} ${ipv4ToString(src)} to ${macText(dmac)} ${ipv4ToString(dst)}`);
  const type = p.type;
  const eth = `eth(dst=${macText(dmac)},src=${macText(smac)},dl_type=0x0800)`;
  const csum = (flags & TNL_F_CSUM) !== 0;
  const df = (flags & TNL_F_DONT_FRAGMENT) !== 0;
  const key = hasKey ? '' : undefined;
  const ipv4 = `ipv4(src=${ipv4ToString(src)},dst=${ipv4ToString(dst)},proto=${type === 'gre' ? 47 : 17},tos=${hexC(tos)},ttl=${ttl},frag=${df ? '0x4000' : '0'})`;
  let hdr: string, size: number;
  if (type === 'gre') {
    hdr = `${eth},${ipv4},gre((flags=0x${(key !== undefined ? 0x2000 : 0).toString(16)},proto=0x6558)${key !== undefined ? `,key=0x${tunId.toString(16)}` : ''})`;
    size = 38 + (key !== undefined ? 4 : 0);
  } else if (type === 'geneve') {
    hdr = `${eth},${ipv4},udp(src=0,dst=${p.options['dst_port'] ?? TNL_DST_PORT.geneve},csum=${csum ? '0xffff' : '0x0'}),geneve(vni=0x${tunId.toString(16)})`;
    size = 50;
  } else {
    hdr = `${eth},${ipv4},udp(src=0,dst=${p.options['dst_port'] ?? TNL_DST_PORT.vxlan},csum=${csum ? '0xffff' : '0x0'}),vxlan(flags=0x8000000,vni=0x${tunId.toString(16)})`;
    size = 50;
  }
  const local_ = ctx.br.ports.get(OFPP_LOCAL)!;
  const pushed = `tnl_push(tnl_port(${p.odp}),header(size=${size},type=${TNL_TYPE[type]},${hdr}),out_port(${local_.odp}))`;
  // propagate_tunnel_data_to_flow, then patch_port_output into the bridge from LOCAL
  ctx.odp.push(pushed);
  const savedWc = ctx.wc.slice();
  const savedBase = ctx.base.slice();
  const savedSet = ctx.actionSet;
  const savedCt = ctx.conntracked;
  for (const [w, v] of [[F_DL_DST_HI, Number(dmac >> 32n)], [F_DL_DST_LO, Number(dmac & 0xffffffffn)],
    [F_DL_SRC_HI, Number(smac >> 32n)], [F_DL_SRC_LO, Number(smac & 0xffffffffn)], [F_DL_TYPE, 0x0800],
    [F_NW_SRC, src], [F_NW_DST, dst], [F_NW_PROTO, type === 'gre' ? 47 : 17], [F_NW_TOS, 0], [F_NW_ECN, tos],
    [F_NW_TTL, ttl], [F_NW_FRAG, 0], [F_TP_SRC, 0], [F_TP_DST, TNL_DST_PORT[type] ?? 0], [F_VLAN_TCI, 0]] as const) {
    flow[w] = v >>> 0;
    ctx.base[w] = v >>> 0;
  }
  flow[F_IN_PORT] = OFPP_LOCAL;   // the encapsulated packet enters the bridge from LOCAL
  for (let w = F_TUN_ID_HI; w <= F_TUN_FLAGS; w++) flow[w] = 0;
  for (let r = 0; r < 16; r++) flow[F_REG0 + r] = 0;
  flow[F_METADATA_HI] = 0; flow[F_METADATA_LO] = 0;
  clearConntrack(ctx);
  ctx.actionSet = [];
  const savedTrace = ctx.trace;
  const bn = ctx.report('bridge', `bridge("${ctx.br.name}")`);
  if (bn !== null) ctx.trace = bn.subs;
  tableAction(ctx, OFPP_LOCAL, 0, true);
  if (ctx.freezing === null) executeActionSet(ctx);
  ctx.trace = savedTrace;
  ctx.wc.set(savedWc);
  ctx.base.set(savedBase);
  flow.set(savedFlow);
  ctx.actionSet = savedSet;
  ctx.conntracked = savedCt;
  ctx.exit = false;
}

/**
 * The outer header's parameters tnl_port_send() takes from a tunnel port's
 * options and the flow: tun_id (`key`/`out_key`, or the flow's for
 * key=flow; none without a key), destination (`remote_ip`, or the flow's
 * tun_dst), source (`local_ip`, or the flow's tun_src for local_ip=flow; 0:
 * the route's), TOS (`tos`, the inner DSCP for tos=inherit, with the inner
 * ECN folded in as RFC 6040's normal mode, CE sent as ECT(0)), TTL (`ttl`,
 * the inner TTL for inherit, else 64), flags (df unless df_default=false,
 * csum for csum=true, key when there is a key). Un-wildcards what it reads
 * (nw_ecn, and nw_tos / nw_ttl for inherit).
 */
function tunnelParams(ctx: Ctx, p: BridgePort): { tunId: bigint; hasKey: boolean; src: number; dst: number; tos: number; ttl: number; flags: number; tpDst: number } {
  const flow = ctx.flow, o = p.options;
  const key = o['key'] ?? o['out_key'];
  const hasKey = key !== undefined;
  const tunId = key === 'flow' ? (BigInt(flow[F_TUN_ID_HI]!) << 32n) | BigInt(flow[F_TUN_ID_LO]!) : hasKey ? BigInt(key) : 0n;
  const remote = o['remote_ip'];
  const dst = remote === 'flow' || remote === undefined ? flow[F_TUN_DST]! : ipv4Of(remote);
  const local = o['local_ip'];
  const src = local === 'flow' ? flow[F_TUN_SRC]! : local === undefined ? 0 : ipv4Of(local);
  if (ctx.isIp) ctx.mask(F_NW_ECN, 0x03);
  const ecn = ctx.isIp ? flow[F_NW_ECN]! : 0;
  const tosOpt = o['tos'];
  if (tosOpt === 'inherit' && ctx.isIp) ctx.mask(F_NW_TOS, 0xfc);
  const tos = (tosOpt === 'inherit' ? (ctx.isIp ? flow[F_NW_TOS]! : 0) : tosOpt === undefined ? 0 : Number(tosOpt) & 0xfc) | (ecn === 3 ? 2 : ecn);
  const ttlOpt = o['ttl'];
  if (ttlOpt === 'inherit' && ctx.isIp) ctx.mask(F_NW_TTL, 0xff);
  const ttl = ttlOpt === 'inherit' ? (ctx.isIp ? flow[F_NW_TTL]! : 64) : ttlOpt === undefined ? 64 : Number(ttlOpt);
  const flags = (o['df_default'] !== 'false' ? TNL_F_DONT_FRAGMENT : 0) | (o['csum'] === 'true' ? TNL_F_CSUM : 0) | (hasKey ? TNL_F_KEY : 0);
  const tpDst = Number(o['dst_port'] ?? TNL_DST_PORT[p.type] ?? 0);
  return { tunId, hasKey, src, dst, tos, ttl, flags, tpDst };
}

/** format_odp_tun_attr's `set(tunnel(...))` text for 't' (fields left out where OVS leaves them out). */
export function formatSetTunnel(t: { tunId: bigint; src: number; dst: number; tos: number; ttl: number; tpDst: number; flags: number }): string {
  const parts: string[] = [];
  if (t.tunId !== 0n) parts.push(`tun_id=0x${t.tunId.toString(16)}`);
  if (t.src !== 0) parts.push(`src=${ipv4ToString(t.src)}`);
  if (t.dst !== 0) parts.push(`dst=${ipv4ToString(t.dst)}`);
  if (t.tos !== 0) parts.push(`tos=${hexC(t.tos)}`);
  if (t.ttl !== 0) parts.push(`ttl=${t.ttl}`);
  if (t.tpDst !== 0) parts.push(`tp_dst=${t.tpDst}`);
  const f: string[] = [];
  if ((t.flags & TNL_F_OAM) !== 0) f.push('oam');
  if ((t.flags & TNL_F_DONT_FRAGMENT) !== 0) f.push('df');
  if ((t.flags & TNL_F_CSUM) !== 0) f.push('csum');
  if ((t.flags & TNL_F_KEY) !== 0) f.push('key');
  parts.push(`flags(${f.join('|')})`);
  return `set(tunnel(${parts.join(',')}))`;
}

/**
 * compose_output_action__ for a tunnel port when native tunnelling is off
 * (the kernel datapath: its vxlan/geneve vport encapsulates through the
 * host's IP stack): the tunnel metadata the port's options and the flow
 * give is committed as `set(tunnel(...))` — only when it differs from what
 * the datapath packet already carries (commit_odp_tunnel_action), before
 * the header rewrites — then output to the tunnel's shared datapath port.
 */
function kernelTunnelOutput(ctx: Ctx, p: BridgePort): void {
  const t = tunnelParams(ctx, p);
  ctx.report('detail', 'output to kernel tunnel');
  const set = formatSetTunnel(t);
  if (set !== ctx.baseTunnel) {
    ctx.odp.push(set);
    ctx.baseTunnel = set;
  }
  ctx.commit();
  ctx.odp.push(String(p.odp));
}
