/**
 * `ofproto/trace` for sdnemu (ofproto layer, slow path): the text of
 * `ovs-appctl ofproto/trace` and the same trace as structured events.
 *
 * What: `traceCommand({ flows, groups, ports, protocols, packet })` loads
 * ovs-ofctl flow and group files and a ports file into a fresh `Bridge`,
 * parses PACKET… exactly as ofproto/trace takes it (`[--ct-next FLAGS]…
 * FLOW [HEX]`), translates (xlate.ts), follows every conntrack
 * recirculation with the next `--ct-next` state (default trk|new), and
 * prints what OVS prints: `Flow:`, the bridge/table walk, `Final flow:`,
 * `Megaflow:`, `Datapath actions:`, then one banner-separated section per
 * recirculation. `traceEvents()` returns the same walk as `TraceEvent`s
 * for the viewer.
 *
 * Faithful to ofproto-dpif-trace.c: the walk is printed from the xlate
 * trace tree with OVS's indentation rule (a node is indented one level
 * more when it has a later sibling or is terminal: action/detail/warn/error);
 * `Final flow: unchanged` only when the whole flow is unchanged; the flow
 * string is parsed as parse_ofp_exact_flow does (fields in an order that
 * satisfies prerequisites, exact values only, `tp_src`/`tp_dst` are TCP's,
 * in_port defaults to NONE) and a hex frame is re-extracted with the flow
 * string's metadata (in_port, tunnel, ct, recirc) as pkt_metadata_from_flow.
 * Recirculation ids start at 1 per command, as in a fresh ovs-vswitchd.
 * Neighbours: bridge.ts, xlate.ts, ofctl.ts (files), ports.ts (ports file),
 * flow/match.ts (formatting); cli/ofproto-trace.ts prints traceCommand().
 */
import { SLOW_ACTION } from './odp.js';
import { Bridge, OFPP_LOCAL } from './bridge.js';
import { parseFlowsFile, parseGroupsFile } from './ofctl.js';
import { odpPortNumbers, parsePortsFile } from './ports.js';
import { type TraceNode, type XlateResult, isTerminal, xlate, xlateContinuation, CS_NEW, CS_TRACKED } from './xlate.js';
import { FlowSyntaxError } from '../flow/errors.js';
import { FIELDS, PROTOCOLS, CT_STATE_FLAGS, prereqSatisfied, PREREQ_TCP, type Prereq, ETH_TYPE_IP,
  IPPROTO_ICMP } from '../flow/fields.js';
import { Match, MatchBuilder, formatMatch, tokenize } from '../flow/match.js';
import {
  F_CT_MARK, F_CT_STATE, F_CT_ZONE, F_DL_TYPE, F_IN_PORT, F_NW_PROTO, F_RECIRC_ID, F_TUN_DST, F_TUN_FLAGS,
  F_TUN_ID_HI, F_TUN_ID_LO, F_TUN_SRC, F_NW_SRC, F_NW_DST, F_TP_SRC, F_TP_DST, FLOW_WORDS, F_PACKET_TYPE,
  F_DL_DST_HI, F_DL_DST_LO, F_DL_SRC_HI, F_DL_SRC_LO, F_VLAN_TCI, F_IPV6_SRC, F_IPV6_DST, F_IPV6_LABEL, F_NW_TOS,
  F_NW_ECN, F_NW_TTL, F_NW_FRAG, F_ARP_SHA_HI, F_ARP_SHA_LO, F_ARP_THA_HI, F_ARP_THA_LO, F_TCP_FLAGS, F_REG0,
  F_METADATA_HI, F_METADATA_LO, F_ND_TARGET, NW_FRAG_LATER, flowFromFrame,
} from '../flow/key.js';
import { fromHex, ipv4ToString, parseIpv4Dotted } from '../wire/bytes.js';

export interface TraceCommandOptions {
  /** an `ovs-ofctl add-flows` file */
  flows: string;
  /** an `ovs-ofctl add-groups` file */
  groups?: string;
  /** a ports file (see ports.ts); default: no ports but LOCAL */
  ports?: string;
  protocols?: 'OpenFlow10' | 'OpenFlow13';
  /** PACKET… as ofproto/trace takes it: `[--ct-next FLAGS]… FLOW [HEX]` */
  packet: string[];
}

/** One line of the walk, for the viewer: the node type, its nesting and text. */
export interface TraceEvent {
  /** translation index: 0 first, 1… recirculations */
  pass: number;
  kind: 'flow' | 'bridge' | 'table' | 'bucket' | 'thaw' | 'action' | 'detail' | 'warn' | 'error'
    | 'final-flow' | 'megaflow' | 'datapath-actions' | 'recirc';
  depth: number;
  text: string;
}

/** A parsed PACKET… argument list. */
export interface TracePacket {
  flow: Uint32Array;
  ctNext: number[];
  /** a hex frame was given (a real packet: controller actions are sent, dont_send=0) */
  hasFrame: boolean;
}

/** Build the bridge a trace runs on from the three files. Throws FlowSyntaxError / PortsFileError. */
/** An address ports.ts already validated. */
const ipv4Of = (s: string): number => parseIpv4Dotted(s) ?? 0;

export function loadBridge(opts: Omit<TraceCommandOptions, 'packet'>): Bridge {
  const br = new Bridge('br0');
  br.protocols = opts.protocols ?? 'OpenFlow10';
  if (opts.ports !== undefined) {
    const cfg = parsePortsFile(opts.ports);
    const odp = odpPortNumbers(cfg, 'br0');
    for (const p of cfg.ports) {
      br.addPort({ ofport: p.ofport, name: p.name, type: p.type, options: { ...p.options }, odp: odp.get(p.ofport) ?? -1 });
    }
    br.ports.get(OFPP_LOCAL)!.odp = odp.get(OFPP_LOCAL) ?? 100;
    const u = br.underlay;
    if (cfg.hwaddr !== null) u.hwaddr = BigInt(`0x${cfg.hwaddr.replace(/:/g, '')}`);
    for (const a of cfg.ip4) u.ip4.push({ addr: ipv4Of(a.addr), prefixLen: a.prefixLen });
    for (const r of cfg.routes) {
      const [net, len] = r.cidr.split('/');
      u.routes.push({ net: ipv4Of(net!), prefixLen: len === undefined ? 32 : Number(len), dev: r.dev });
    }
    for (const n of cfg.neighs) u.neighs.set(ipv4Of(n.ip), BigInt(`0x${n.mac.replace(/:/g, '')}`));
  }
  br.addFlows(parseFlowsFile(opts.flows, { protocols: br.protocols }));
  if (opts.groups !== undefined) br.addGroups(parseGroupsFile(opts.groups));
  return br;
}


// ---- PACKET… ---------------------------------------------------------------------------------------

/**
 * Parse `[--ct-next FLAGS]… FLOW [HEX]` as ofproto/trace does (see the
 * module comment). Throws FlowSyntaxError naming the token.
 */
export function parseTracePacket(args: string[]): TracePacket {
  const ctNext: number[] = [];
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--ct-next') {
      const v = args[++i];
      if (v === undefined) throw new FlowSyntaxError('OFCTL_SYNTAX', 'Missing argument for option --ct-next', 1, a);
      ctNext.push(parseCtNext(v));
    } else if (a.startsWith('-')) {
      throw new FlowSyntaxError('OFCTL_SYNTAX', `${a}: unknown option`, 1, a);
    } else {
      rest.push(a);
    }
  }
  if (rest.length === 0) throw new FlowSyntaxError('OFCTL_SYNTAX', 'missing flow (PACKET is `FLOW [HEX]`)', 1, '');
  if (rest.length > 2) throw new FlowSyntaxError('OFCTL_SYNTAX', 'too many arguments (PACKET is `FLOW [HEX]`)', 1, rest[2]!);
  const flow = parseExactFlow(rest[0]!);
  if (rest.length === 2) {
    const bytes = fromHex(rest[1]!.replace(/\s+/g, ''));
    if (bytes === null || bytes.length < 14) {
      throw new FlowSyntaxError('OFCTL_SYNTAX', `${rest[1]}: bad hex Ethernet frame`, 1, rest[1]!);
    }
    const key = new Uint32Array(FLOW_WORDS);
    flowFromFrame(bytes, 0, bytes.length, flow[F_IN_PORT]!, key, 0, false);
    // pkt_metadata_from_flow: the flow string's metadata survives, registers do not
    for (const w of [F_RECIRC_ID, F_TUN_ID_HI, F_TUN_ID_LO, F_TUN_SRC, F_TUN_DST, F_TUN_FLAGS, F_CT_STATE, F_CT_ZONE, F_CT_MARK]) {
      key[w] = flow[w]!;
    }
    return { flow: key, ctNext, hasFrame: true };
  }
  return { flow, ctNext, hasFrame: false };
}

/** `--ct-next` flags: comma- or `|`-separated names (parse_ct_state), validated as OVS does. */
function parseCtNext(s: string): number {
  let v = 0;
  for (const part of s.split(/[,|]/)) {
    const f = CT_STATE_FLAGS.find(([n]) => n === part.trim());
    if (f === undefined) throw new FlowSyntaxError('OFCTL_BAD_VALUE', `${part}: unknown connection tracking state flag`, 1, s);
    v |= f[1];
  }
  return v;
}

/** Fields the trace parser knows under a stricter prerequisite than ovs-ofctl's (BEHAVIOUR.md item 13). */
const TRACE_PREREQ: Record<string, Prereq> = { tp_src: PREREQ_TCP, tp_dst: PREREQ_TCP };

/** parse_ofp_exact_flow: exact values only, prerequisites met by what came before. */
export function parseExactFlow(text: string): Uint32Array {
  const b = new MatchBuilder(1);
  const fail = (detail: string, col: number, tok: string): never => {
    throw new FlowSyntaxError('OFCTL_SYNTAX', `Bad openflow flow syntax: ${text}: ${detail}`, col, tok);
  };
  let dlSet = false;
  for (const [key, value, col] of tokenize(text)) {
    const proto = PROTOCOLS.get(key);
    if (proto !== undefined) {
      if (dlSet) fail('Ethernet type set multiple times', col, key);
      dlSet = true;
      b.add(key, value, col);
      continue;
    }
    const f = FIELDS.get(key);
    if (f === undefined) fail(`unknown field ${key}`, col, key);
    const cur = b.peek();
    const p = TRACE_PREREQ[key] ?? (key === 'icmp_type' || key === 'icmp_code' ? null : f!.prereq);
    if (key === 'icmp_type' || key === 'icmp_code') {
      if (cur.value[F_DL_TYPE] !== ETH_TYPE_IP || cur.value[F_NW_PROTO] !== IPPROTO_ICMP) fail(`prerequisites not met for setting ${key}`, col, key);
    } else if (p !== null && !prereqSatisfied(p, cur.value[F_DL_TYPE]!, cur.mask[F_DL_TYPE]!, cur.value[F_NW_PROTO]!, cur.mask[F_NW_PROTO]!)) {
      fail(`prerequisites not met for setting ${key}`, col, key);
    }
    if (value.includes('/') && f!.format !== 'frag') fail(`bad value for ${key} (masks are not allowed in a trace flow)`, col, key);
    if (key === 'ct_state' && /^[+-]/.test(value)) fail(`bad value for ${key} (${value}: ct_state must be exact, e.g. est|trk)`, col, key);
    if (!b.add(key, value, col)) fail(`unknown field ${key}`, col, key);
  }
  const m = b.finish({ prereqs: 'ovs' });
  const flow = m.value.slice();
  if (m.mask[F_IN_PORT] === 0) flow[F_IN_PORT] = 0xffff;
  flow[F_PACKET_TYPE] = 0;
  return flow;
}

// ---- Flow: formatting (flow_format) -------------------------------------------------------------------

const ETH_TYPE_IPV6 = 0x86dd, ETH_TYPE_ARP = 0x0806, ETH_TYPE_RARP = 0x8035;

/** flow_format(): flow_wildcards_init_for_packet, minus all-zero context fields, printed by match_format. */
export function formatFlow(f: Uint32Array): string {
  const m = new Match();
  const k = m.mask;
  const set = (w: number, mask = 0xffffffff): void => { k[w] = mask >>> 0; };
  if (f[F_TUN_DST] !== 0) {
    // a decapsulated packet: formatMatch prints its whole tunnel from the values (tunnel: 'flow')
    set(F_TUN_ID_HI); set(F_TUN_ID_LO); set(F_TUN_SRC); set(F_TUN_DST); set(F_TUN_FLAGS, 0xf);
  } else if (f[F_TUN_ID_HI] !== 0 || f[F_TUN_ID_LO] !== 0) {
    set(F_TUN_ID_HI); set(F_TUN_ID_LO);
  }
  if (f[F_CT_STATE] !== 0) set(F_CT_STATE, 0xff);
  if (f[F_CT_ZONE] !== 0) set(F_CT_ZONE, 0xffff);
  if (f[F_CT_MARK] !== 0) set(F_CT_MARK);
  if (f[F_RECIRC_ID] !== 0) set(F_RECIRC_ID);
  if (f[F_IN_PORT] !== 0) set(F_IN_PORT, 0xffff);
  for (let r = 0; r < 16; r++) if (f[F_REG0 + r] !== 0) set(F_REG0 + r);
  if (f[F_METADATA_HI] !== 0 || f[F_METADATA_LO] !== 0) { set(F_METADATA_HI); set(F_METADATA_LO); }
  set(F_PACKET_TYPE);
  set(F_DL_DST_HI, 0xffff); set(F_DL_DST_LO); set(F_DL_SRC_HI, 0xffff); set(F_DL_SRC_LO);
  set(F_DL_TYPE, 0xffff); set(F_VLAN_TCI, 0xffff);
  const dl = f[F_DL_TYPE]!;
  let l4 = false;
  if (dl === ETH_TYPE_IP) {
    set(F_NW_SRC); set(F_NW_DST); l4 = true;
  } else if (dl === ETH_TYPE_IPV6) {
    for (let i = 0; i < 4; i++) { set(F_IPV6_SRC + i); set(F_IPV6_DST + i); }
    set(F_IPV6_LABEL); l4 = true;
  } else if (dl === ETH_TYPE_ARP || dl === ETH_TYPE_RARP) {
    set(F_NW_SRC); set(F_NW_DST); set(F_NW_PROTO, 0xff);
    set(F_ARP_SHA_HI, 0xffff); set(F_ARP_SHA_LO); set(F_ARP_THA_HI, 0xffff); set(F_ARP_THA_LO);
  }
  if (l4) {
    set(F_NW_FRAG, 3); set(F_NW_TOS, 0xfc); set(F_NW_ECN, 0x03); set(F_NW_TTL, 0xff); set(F_NW_PROTO, 0xff);
    const p = f[F_NW_PROTO]!;
    if ((f[F_NW_FRAG]! & NW_FRAG_LATER) === 0 && (p === 1 || p === 58 || p === 6 || p === 17 || p === 132 || p === 2)) {
      set(F_TP_SRC, 0xffff); set(F_TP_DST, 0xffff);
      if (p === 6) set(F_TCP_FLAGS, 0x0fff);
      // is_nd(): neighbour solicitation/advertisement show the target and link-layer options
      if (dl === ETH_TYPE_IPV6 && p === 58 && f[F_TP_DST] === 0 && (f[F_TP_SRC] === 135 || f[F_TP_SRC] === 136)) {
        for (let i = 0; i < 4; i++) set(F_ND_TARGET + i);
        set(F_ARP_SHA_HI, 0xffff); set(F_ARP_SHA_LO); set(F_ARP_THA_HI, 0xffff); set(F_ARP_THA_LO);
      }
    }
  }
  for (let w = 0; w < FLOW_WORDS; w++) m.value[w] = (f[w]! & k[w]!) >>> 0;
  return formatMatch(m, { tunnel: 'flow', vlanTci1: f[F_VLAN_TCI] !== 0 });
}

/** The megaflow as OVS prints it (formatMatch with the outer TOS a translation makes exact). */
export function formatMegaflow(m: Match): string {
  return formatMatch(m, { tunnel: 'megaflow' });
}

// ---- the walk --------------------------------------------------------------------------------------------

/** oftrace_node_print_details */
function printNodes(out: string[], nodes: TraceNode[], level: number): void {
  for (let i = 0; i < nodes.length; i++) {
    const n = nodes[i]!;
    if (n.type === 'bridge') out.push('');
    const more = i < nodes.length - 1 || isTerminal(n.type) ? 1 : 0;
    const pad = ' '.repeat((level + more) * 4);
    switch (n.type) {
      case 'detail': out.push(`${pad} -> ${n.text}`); break;
      case 'warn': out.push(`${pad} >> ${n.text}`); break;
      case 'error': out.push(`${pad} >>>> ${n.text} <<<<`); break;
      case 'bridge': out.push(`${pad}${n.text}`, `${pad}${'-'.repeat(n.text.length)}`); break;
      default: out.push(`${pad}${n.text}`);
    }
    printNodes(out, n.subs, level + more + more);
  }
}

function eventsOf(ev: TraceEvent[], pass: number, nodes: TraceNode[], depth: number): void {
  for (const n of nodes) {
    ev.push({ pass, kind: n.type, depth, text: n.text });
    eventsOf(ev, pass, n.subs, depth + 1);
  }
}

function flagsPipe(v: number): string {
  return CT_STATE_FLAGS.filter(([, b]) => (v & b) !== 0).map(([n]) => n).join('|');
}

/** One translation and its recirculations, in order, with banners. */
interface Pass { header: string[]; result: XlateResult }

function runAll(br: Bridge, pkt: TracePacket): Pass[] {
  const passes: Pass[] = [];
  const first = xlate(br, pkt.flow, { trace: true, packet: pkt.hasFrame });
  passes.push({ header: [], result: first });
  const queue = [...first.continuations.filter((c) => c.kind === 'conntrack')];
  const ctNext = pkt.ctNext.slice();
  let n = 0;
  while (queue.length && n++ < 4096) {
    const c = queue.shift()!;
    const header: string[] = [];
    let state: number;
    let banner = `recirc(0x${c.recircId.toString(16)})`;
    if (ctNext.length === 0) {
      state = CS_TRACKED | CS_NEW;
      banner += ' - resume conntrack with default ct_state=trk|new (use --ct-next to customize)';
    } else {
      state = ctNext.shift()!;
      banner += ` - resume conntrack with ct_state=${flagsPipe(state)}`;
    }
    header.push(banner);
    const cc = { ...c, flow: c.flow.slice() };
    if (c.nat !== null) {
      // ofproto_trace_recirc_node: assume the first address/port of the range was chosen
      const v4 = c.nat.addrMin !== null;
      const ipText = (f: Uint32Array): string =>
        (v4 ? `nw_src=${ipv4ToString(f[F_NW_SRC]!)},tp_src=${f[F_TP_SRC]},nw_dst=${ipv4ToString(f[F_NW_DST]!)},tp_dst=${f[F_TP_DST]}` : '');
      header.push('Replacing src/dst IP/ports to simulate NAT:', ` Initial flow: ${ipText(cc.flow)}`);
      if (v4 && c.nat.kind === 'src') {
        cc.flow[F_NW_SRC] = c.nat.addrMin!;
        if (c.nat.portMin !== null && c.nat.portMin !== 0) cc.flow[F_TP_SRC] = c.nat.portMin;
      } else if (v4 && c.nat.kind === 'dst') {
        cc.flow[F_NW_DST] = c.nat.addrMin!;
        if (c.nat.portMin !== null && c.nat.portMin !== 0) cc.flow[F_TP_DST] = c.nat.portMin;
      }
      header.push(` Modified flow: ${ipText(cc.flow)}`);
    }
    const r = xlateContinuation(br, cc, state, { trace: true, packet: pkt.hasFrame });
    passes.push({ header, result: r });
    queue.push(...r.continuations.filter((x) => x.kind === 'conntrack'));
  }
  return passes;
}


function sameFlow(a: Uint32Array, b: Uint32Array): boolean {
  for (let w = 0; w < FLOW_WORDS; w++) if (a[w] !== b[w]) return false;
  return true;
}

/** xlate_strerror: the text OVS prints for a translation error. */
const XLATE_STRERROR: Record<string, string> = {
  XLATE_RECURSION_TOO_DEEP: 'Recursion too deep',
  XLATE_TOO_MANY_RESUBMITS: 'Too many resubmits',
  XLATE_STACK_TOO_DEEP: 'Stack too deep',
  XLATE_NO_RECIRCULATION_CONTEXT: 'No recirculation context',
  XLATE_RECIRCULATION_CONFLICT: 'Recirculation conflict',
  XLATE_INVALID_TUNNEL_METADATA: 'Invalid tunnel metadata',
  XLATE_TUNNEL_ROUTING_FAILED: 'Native tunnel routing failed',
  XLATE_TUNNEL_NEIGH_CACHE_MISS: 'Tunnel neighbor cache miss',
};

/** The full `ovs-appctl ofproto/trace` text for one packet on 'br'. */
export function traceText(br: Bridge, pkt: TracePacket): string {
  const out: string[] = [];
  runAll(br, pkt).forEach((p, i) => {
    if (i > 0) {
      out.push('', '='.repeat(79), ...p.header, '='.repeat(79), '');
    }
    const r = p.result;
    out.push(`Flow: ${formatFlow(r.flow)}`);
    printNodes(out, r.trace, 0);
    out.push('');
    out.push(`Final flow: ${sameFlow(r.flow, r.finalFlow) && r.actsetOutput === 0xfff7 ? 'unchanged' : formatFlow(r.finalFlow)}`);
    out.push(`Megaflow: ${formatMegaflow(r.megaflow)}`);
    out.push(`Datapath actions: ${r.odpActions.length ? r.odpActions.join(',') : 'drop'}`);
    if (r.error !== null) out.push(`Translation failed (${XLATE_STRERROR[r.error] ?? r.error}), packet is dropped.`);
    else if ((r.slow & SLOW_ACTION) !== 0) {
      out.push('This flow is handled by the userspace slow path because it:', '  - Uses action(s) not supported by datapath.');
    }
  });
  return `${out.join('\n')}\n`;
}

/** The same trace as events (flow, the walk, final flow, megaflow, datapath actions per pass). */
export function traceEvents(br: Bridge, pkt: TracePacket): TraceEvent[] {
  const ev: TraceEvent[] = [];
  runAll(br, pkt).forEach((p, pass) => {
    for (const h of p.header) ev.push({ pass, kind: 'recirc', depth: 0, text: h });
    const r = p.result;
    ev.push({ pass, kind: 'flow', depth: 0, text: formatFlow(r.flow) });
    eventsOf(ev, pass, r.trace, 0);
    ev.push({ pass, kind: 'final-flow', depth: 0, text: sameFlow(r.flow, r.finalFlow) && r.actsetOutput === 0xfff7 ? 'unchanged' : formatFlow(r.finalFlow) });
    ev.push({ pass, kind: 'megaflow', depth: 0, text: formatMegaflow(r.megaflow) });
    ev.push({ pass, kind: 'datapath-actions', depth: 0, text: r.odpActions.length ? r.odpActions.join(',') : 'drop' });
  });
  return ev;
}

/** Load the files, parse PACKET…, and return the trace text (what `sdnemu ofproto-trace` prints). */
export function traceCommand(opts: TraceCommandOptions): string {
  const br = loadBridge(opts);
  return traceText(br, parseTracePacket(opts.packet));
}
