/**
 * ovs-ofctl text for flows, actions and groups (ofproto layer, slow path).
 *
 * What: the parser and printer for the three texts users write and read:
 *  - actions (`output:2,resubmit(,1),ct(commit,nat(src=10.0.0.1))`):
 *    `parseActions()` → Action[] (actions.ts), `formatActions()` → text;
 *  - add-flow lines and add-flows files (`table=1,priority=100,ip,nw_dst=10.0.0.1,actions=…`):
 *    `parseFlowLine()` / `parseFlowsFile()` → FlowSpec, `formatFlowLine()` → one
 *    `ovs-ofctl dump-flows` line (with or without statistics);
 *  - add-group lines and files: `parseGroupLine()` / `parseGroupsFile()` → GroupSpec,
 *    `formatGroupLine()` → one `ovs-ofctl dump-groups` line.
 * The match part is match.ts's (MatchBuilder, tokenize, formatMatch); fields are
 * fields.ts's registry plus the NXM/OXM names kept here (NXM_FIELDS).
 *
 * Why it follows OVS 3.1 line by line (lib/ofp-actions.c, learn.c, nx-match.c,
 * ofp-flow.c, ofp-group.c): users paste Neutron/OVN pipelines and compare our
 * dump with ovs-vswitchd's, so the accepted syntax, the error messages (kept
 * verbatim in FlowSyntaxError.detail) and the printed text are OVS's. The
 * differential test (test/ofproto/ofctl.test.ts) adds every corpus line to a
 * real ovs-vswitchd and compares dump-flows/dump-groups byte for byte.
 *
 * The wire round trip (`actionsAsStored`): OVS never keeps the text. ovs-ofctl
 * encodes the actions for the OpenFlow version it speaks (OpenFlow 1.0 with Nicira
 * extensions unless -O says otherwise: the 3.1 binary negotiates only OF1.0 by
 * default, whatever its --help says), ovs-vswitchd decodes and keeps that, and
 * dump-flows re-encodes for the dump's version. So the same flow prints
 * `mod_nw_dst:10.0.0.1` under OpenFlow10 and `set_field:10.0.0.1->ip_dst` under
 * OpenFlow13, `set_field:5->reg0` becomes `load:0x5->NXM_NX_REG0[]`, `pop_vlan`
 * becomes `strip_vlan`, OF1.0 turns goto_table into `resubmit(,N)` and
 * `mod_vlan_vid` under OF1.3 grows a `push_vlan:0x8100` when the match has no VLAN.
 * `actionsAsStored(actions, protocol, match)` reproduces encode+decode for one
 * version; parseFlowLine/parseGroupLine return the list as ovs-vswitchd stores it
 * after an add in their 'protocols' (default OpenFlow10, as ovs-ofctl), and
 * formatFlowLine/formatGroupLine print what dump-* shows in theirs (same
 * default). The function is idempotent, so print→parse is a round trip.
 * formatActions() prints a list verbatim (no conversion).
 *
 * Representation choices (actions.ts gives the types):
 *  - `load:V->F[a..b]` is a set_field with raw 'load', dst the SUB-field
 *    F[a..b], value the sub-field's value (right-aligned) and mask all-ones of
 *    its width. `set_field:V[/M]->F` has raw 'set_field', dst the whole field and
 *    value/mask over it (value stored masked). xlate applies both the same way:
 *    bits [ofs, ofs+nBits) ← (old & ~mask) | (value & mask). A load wider than 64
 *    bits is split into 64-bit loads at parse time (OVS prints and encodes it so).
 *  - `controller`, `controller:N`, `output:CONTROLLER` and a controller(...) with
 *    only max_len are `output` to OFPP_CONTROLLER (OVS parses them so and prints
 *    `CONTROLLER:N`); `output(port=P,max_len=N)` is `output` with maxLen > 0 on a
 *    port other than CONTROLLER.
 *  - conjunction's 'clause' is 1-based, as written (`conjunction(id,k/n)`).
 *  - ct's NatSpec keeps an IPv4 range as [addrMin, addrMax] (equal for one
 *    address) and ports as [portMin, portMax] (null when absent; `:0` is absent).
 *  - ct_label is not in the flow-key registry: it is accepted only as a
 *    ct(exec(...)) destination, with CT_LABEL_FIELD (word -1, never read from a
 *    key). Other names the registry lacks (pkt_mark, xreg*, nd_target, …) are
 *    unknown fields.
 * OVS prints some stored actions lossily and so does formatActions, to match
 * dump-flows: `resubmit(3,,ct)` prints `resubmit:3`, nat flags without an
 * address print nothing (`nat(src,persistent)` → `nat(src)`), and a stored note
 * is zero-padded to the NXAST_NOTE length (`note:01.02` → `note:01.02.00.00.00.00`).
 * Notes and userdata are hex pairs separated by nothing, `.` or spaces (OVS 3.1
 * refuses `:`).
 * Where sdnemu is stricter than ovs-ofctl (all FlowSyntaxError):
 *  - values OVS wraps or ignores: group ids past 32 bits, `load:1x->…`
 *    (garbage before `->`), MAC/IP text with trailing junk, conjunction numbers
 *    over 255, nat octets over 255;
 *  - actions OVS silently drops: write_actions and clear_actions under
 *    OpenFlow10 (encoded as nothing), a masked set_field on a field OF1.0 sets
 *    whole (the mask vanishes), set_field with an all-zero mask;
 *  - things only ovs-vswitchd refuses (ovs-ofctl sends them): ct without commit
 *    but with exec/nat arguments, a ct zone sub-field that is not 16 bits, a nat
 *    port range starting at 0, a load to a read-only field, write_metadata
 *    before goto_table under OpenFlow 1.0 (sent as resubmit); and what OVS
 *    mangles: set_field to dl_vlan/dl_vlan_pcp (OVS 3.1 encodes them as a load
 *    to in_port), a nat range starting at 0.0.0.0 (sent as no range);
 *  - sdnemu limits: nat must come before exec(...) in ct(...) and only once (the
 *    CtAction keeps one NatSpec), no IPv6 nat ranges, and actions/options
 *    sdnemu does not execute (enqueue, bundle, multipath, MPLS, meters,
 *    set_vlan_vid, learn result_dst, selection_method_param, …) are refused.
 * Prerequisites: set_field/move/load/learn/ct follow OVS exactly (ip_src needs
 * `ip`, not arp); inconsistencies OVS tolerates only in OpenFlow 1.0
 * (`mod_nw_dst` without `ip`) are accepted under OpenFlow10 and refused under
 * OpenFlow13, as ovs-ofctl does. The match part refuses missing prerequisites
 * unless `prereqs: 'ovs'` (see match.ts).
 * Error codes: OFCTL_UNKNOWN_FIELD (unknown field or keyword), OFCTL_BAD_VALUE
 * (bad number, port, table, range, width, and OVS's hard OFPERR refusals),
 * OFCTL_BAD_MASK (masks), OFCTL_MISSING_PREREQ (OFPBAC_MATCH_INCONSISTENT),
 * OFCTL_SYNTAX (unknown action, structure, instruction order, protocol, and
 * what sdnemu does not support). Columns are 1-based in the whole line.
 * Cost: slow path only (strings, BigInt); never on the per-packet path.
 * formatSubfield() and formatFieldValue() are exported for traces (xlate.ts).
 * Neighbours: actions.ts (types), flow/match.ts and flow/fields.ts (match text,
 * registry), flow/errors.ts (FlowSyntaxError); xlate.ts and the flow table
 * consume FlowSpec/GroupSpec; trace.ts prints actions with formatActions().
 */
import { FlowSyntaxError, type FlowSyntaxCode } from '../flow/errors.js';
import {
  ETH_TYPE_IP, ETH_TYPE_IPV6, type FieldDef, FIELDS, IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP,
  OFPP_NAMES, OFPP_PRINT, type Prereq, PREREQ_IP_ANY, PREREQ_IPV4, prereqSatisfied, TUN_FLAG_NAMES,
} from '../flow/fields.js';
import { F_CT_STATE, F_DL_TYPE, F_NW_FRAG, F_NW_PROTO, F_VLAN_TCI } from '../flow/key.js';
import { formatMatch, Match, MatchBuilder, tokenize } from '../flow/match.js';
import { ipv4ToString, ipv6ToString, parseIpv4Dotted } from '../wire/bytes.js';
import {
  type Action, type Bucket, type CtAction, type FieldRef, type FlowSpec, type GroupSpec, type GroupType,
  type LearnAction, type LearnSpec, type NatSpec, OFPP_ALL, OFPP_CONTROLLER, OFPP_FLOOD, OFPP_IN_PORT,
  OFPP_LOCAL, OFPP_NONE, OFPP_NORMAL, OFPP_TABLE, readSubfield, wholeField, writeSubfield,
} from './actions.js';

/** The OpenFlow versions sdnemu models for ovs-ofctl (-O). */
export type OfProtocol = 'OpenFlow10' | 'OpenFlow13';

// ---- protocol sets (lib/ofp-protocol.c) ---------------------------------------------------------

const P_OF10_STD = 1, P_OF10_STD_TID = 2, P_OF10_NXM = 4, P_OF10_NXM_TID = 8, P_OF11 = 16;
const P_OF12 = 32, P_OF13 = 64, P_OF14 = 128, P_OF15 = 256;
const P_OF10_STD_ANY = P_OF10_STD | P_OF10_STD_TID, P_OF10_NXM_ANY = P_OF10_NXM | P_OF10_NXM_TID;
const P_OF10_ANY = P_OF10_STD_ANY | P_OF10_NXM_ANY;
const P_ANY_OXM = P_OF12 | P_OF13 | P_OF14 | P_OF15;
const P_OF11_UP = P_OF11 | P_ANY_OXM, P_NXM_OF11_UP = P_OF10_NXM_ANY | P_OF11_UP;
const P_OF12_UP = P_ANY_OXM, P_OF13_UP = P_OF13 | P_OF14 | P_OF15, P_ANY = 511;
const P_TID = P_OF10_STD_TID | P_OF10_NXM_TID | P_OF11 | P_ANY_OXM;

const PROTO_ABBREVS: readonly (readonly [number, string])[] = [
  [P_ANY, 'any'], [P_OF10_STD_ANY, 'OpenFlow10'], [P_OF10_NXM_ANY, 'NXM'], [P_ANY_OXM, 'OXM'],
];
const PROTO_NAMES: readonly string[] = [
  'OpenFlow10-table_id', 'OpenFlow10+table_id', 'NXM-table_id', 'NXM+table_id', 'OpenFlow11',
  'OXM-OpenFlow12', 'OXM-OpenFlow13', 'OXM-OpenFlow14', 'OXM-OpenFlow15',
];

/** ofputil_protocols_to_string(): 'OpenFlow10,NXM', 'OXM,OpenFlow11', … */
function protocolsText(p: number): string {
  if (p === 0) return 'none';
  const out: string[] = [];
  while (p !== 0) {
    const ab = PROTO_ABBREVS.find(([bits]) => (p & bits) === bits);
    if (ab !== undefined) {
      out.push(ab[1]);
      p &= ~ab[0];
      continue;
    }
    for (let i = 0; i < 9; i++) {
      if ((p & (1 << i)) !== 0) {
        out.push(PROTO_NAMES[i]!);
        p &= ~(1 << i);
        break;
      }
    }
  }
  return out.join(',');
}

/** What `ovs-ofctl -O P` allows (allowed_protocols masked by the version). */
function allowedFor(p: OfProtocol): number {
  return p === 'OpenFlow10' ? P_OF10_ANY : P_OF13;
}

// ---- numbers as OVS's C helpers read them -------------------------------------------------------

const U64_MAX = 0xffffffffffffffffn;

/** strtoll/strtoull over the WHOLE string (base 0: 0x hex, 0 octal; or base 10); null when malformed or past 64 bits. */
function cInt(s: string, base: 0 | 10): bigint | null {
  const m = (base === 10 ? /^[ \t\n\v\f\r]*([+-]?)([0-9]+)$/ : /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/).exec(s);
  if (m === null) return null;
  const d = m[2]!;
  let v: bigint;
  if (base === 0 && (d.startsWith('0x') || d.startsWith('0X'))) v = BigInt(d);
  else if (base === 0 && d.startsWith('0')) v = d.length === 1 ? 0n : BigInt(`0o${d.slice(1)}`);
  else v = BigInt(d);
  if (v > U64_MAX) return null;
  return m[1] === '-' ? -v : v;
}

/** C atoi(): leading white space, optional sign, digits; 0 when none. */
function atoi(s: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?[0-9]+)/.exec(s);
  if (m === null) return 0;
  const n = Number(m[1]);
  return Math.max(-0x80000000, Math.min(0x7fffffff, n));
}

/** strtoull(s, NULL, 0) on a prefix (learn's cookie): garbage after the number is ignored. */
function strtoullPrefix(s: string): bigint {
  const m = /^[ \t\n\v\f\r]*(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)/.exec(s);
  if (m === null) return 0n;
  const v = cInt(m[1]!, 0);
  return v === null ? U64_MAX : v;
}

const hexText = (v: bigint | number): string => (BigInt(v) === 0n ? '0' : `0x${BigInt(v).toString(16)}`);


/** A 48-bit MAC as `aa:bb:cc:dd:ee:ff`. */
export function macText(v: bigint): string {
  const b: string[] = [];
  for (let i = 5; i >= 0; i--) b.push(Number((v >> BigInt(8 * i)) & 0xffn).toString(16).padStart(2, '0'));
  return b.join(':');
}


/** ETH_ADDR_SCAN_FMT: six groups of 1–2 hex digits; null otherwise. */
function parseMacStrict(s: string): bigint | null {
  const m = /^([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})$/.exec(s);
  if (m === null) return null;
  let v = 0n;
  for (let i = 1; i <= 6; i++) v = (v << 8n) | BigInt(parseInt(m[i]!, 16));
  return v;
}

/** ofpbuf_put_hex(): pairs of hex digits, skipping ' ', '.', TAB, CR, LF; null when a non-pair remains. */
function parseHexBytes(s: string): Uint8Array | null {
  const out: number[] = [];
  let i = 0;
  for (;;) {
    while (i < s.length && ' .\t\r\n'.includes(s[i]!)) i++;
    if (i >= s.length) return Uint8Array.from(out);
    const pair = s.slice(i, i + 2);
    if (!/^[0-9a-fA-F]{2}$/.test(pair)) return null;
    out.push(parseInt(pair, 16));
    i += 2;
  }
}

/** format_hex_arg(): bytes as `01.02.ab`. */
function hexBytesText(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('.');
}

/**
 * parse_int_string(): `0x` + any number of hex digits (fitting 'width' bytes) or
 * a strtoull number, over the whole string. null when malformed or too wide.
 */
function parseIntString(s: string, width: number): bigint | null {
  let v: bigint;
  if (s.startsWith('0x') || s.startsWith('0X')) {
    const h = s.slice(2).replace(/^0+/, '');
    if (!/^[0-9a-fA-F]*$/.test(h)) return null;
    if (Math.ceil(h.length / 2) > width) return null;
    v = h === '' ? 0n : BigInt(`0x${h}`);
    if (s.length === 2) return null;
  } else {
    const c = cInt(s, 0);
    if (c === null || c < 0n) return null;
    v = c;
    if (width < 8 && v >= (1n << BigInt(8 * width))) return null;
  }
  return v;
}

// ---- ports and tables ---------------------------------------------------------------------------

const OFPP_MAX = 0xff00;

/** ofputil_port_from_string(): decimal (OF1.1 numbers folded) or a reserved name; -1 when invalid. */
function portFromString(s: string): number {
  if (s.startsWith('-')) return -1;
  const n = cInt(s, 10);
  if (n !== null) {
    if (n <= 0xffffn) return Number(n);
    if (n < 0xffffff00n) return -1;
    if (n <= 0xffffffffn) return Number(n - 0xffff0000n);
    return -1;
  }
  return OFPP_NAMES.get(s.toUpperCase()) ?? -1;
}

/** ofputil_format_port() without a port map. */
function portText(p: number): string {
  return OFPP_PRINT.get(p) ?? String(p);
}

/** ofputil_table_from_string() without a table map: decimal 0..255; -1 otherwise. */
function tableFromString(s: string): number {
  if (s.startsWith('-')) return -1;
  const n = cInt(s, 10);
  return n !== null && n >= 0n && n <= 255n ? Number(n) : -1;
}

// ---- fields: NXM/OXM names, canonical definitions -----------------------------------------------

/**
 * ct_label (128 bits): not in the flow key registry. Accepted only as the
 * destination of set_field/load inside ct(exec(...)); 'word' is -1 because no
 * key word holds it (xlate hands it to conntrack instead).
 */
export const CT_LABEL_FIELD: FieldDef = {
  name: 'ct_label', ovsName: 'ct_label', bits: 128, nBytes: 16, storage: 'ipv6', word: -1, nWords: 4, shift: 0,
  wordMask: 0xffffffff, fixedBits: 0, maskable: true, prereq: null, ethernet: false, format: 'hex',
};

/**
 * NXM/OXM names → OVS field names (meta-flow.h), for the fields the registry has.
 * The first NXM_ name of a field is the one OVS prints (mf_format_subfield with
 * version 0); fields with only an OXM name print that.
 */
const NXM_FIELDS: readonly (readonly [string, string])[] = [
  ['NXM_OF_IN_PORT', 'in_port'], ['NXM_NX_RECIRC_ID', 'recirc_id'],
  ['NXM_NX_TUN_ID', 'tun_id'], ['OXM_OF_TUNNEL_ID', 'tun_id'],
  ['NXM_NX_TUN_IPV4_SRC', 'tun_src'], ['NXM_NX_TUN_IPV4_DST', 'tun_dst'], ['NXM_NX_TUN_FLAGS', 'tun_flags'],
  ['OXM_OF_METADATA', 'metadata'],
  ['NXM_NX_CT_STATE', 'ct_state'], ['NXM_NX_CT_ZONE', 'ct_zone'], ['NXM_NX_CT_MARK', 'ct_mark'],
  ['NXM_NX_CT_LABEL', 'ct_label'],
  ...Array.from({ length: 16 }, (_, i) => [`NXM_NX_REG${i}`, `reg${i}`] as const),
  ['NXM_OF_ETH_SRC', 'eth_src'], ['OXM_OF_ETH_SRC', 'eth_src'], ['NXM_OF_ETH_DST', 'eth_dst'], ['OXM_OF_ETH_DST', 'eth_dst'],
  ['NXM_OF_ETH_TYPE', 'eth_type'], ['OXM_OF_ETH_TYPE', 'eth_type'], ['NXM_OF_VLAN_TCI', 'vlan_tci'],
  ['OXM_OF_VLAN_VID', 'vlan_vid'], ['OXM_OF_VLAN_PCP', 'vlan_pcp'],
  ['NXM_OF_IP_SRC', 'ip_src'], ['OXM_OF_IPV4_SRC', 'ip_src'], ['NXM_OF_IP_DST', 'ip_dst'], ['OXM_OF_IPV4_DST', 'ip_dst'],
  ['NXM_NX_IPV6_SRC', 'ipv6_src'], ['OXM_OF_IPV6_SRC', 'ipv6_src'], ['NXM_NX_IPV6_DST', 'ipv6_dst'], ['OXM_OF_IPV6_DST', 'ipv6_dst'],
  ['NXM_NX_IPV6_LABEL', 'ipv6_label'], ['OXM_OF_IPV6_FLABEL', 'ipv6_label'],
  ['NXM_OF_IP_PROTO', 'nw_proto'], ['OXM_OF_IP_PROTO', 'nw_proto'], ['NXM_OF_IP_TOS', 'nw_tos'], ['OXM_OF_IP_DSCP', 'ip_dscp'],
  ['NXM_NX_IP_ECN', 'nw_ecn'], ['OXM_OF_IP_ECN', 'nw_ecn'], ['NXM_NX_IP_TTL', 'nw_ttl'], ['NXM_NX_IP_FRAG', 'ip_frag'],
  ['NXM_OF_ARP_OP', 'arp_op'], ['OXM_OF_ARP_OP', 'arp_op'], ['NXM_OF_ARP_SPA', 'arp_spa'], ['OXM_OF_ARP_SPA', 'arp_spa'],
  ['NXM_OF_ARP_TPA', 'arp_tpa'], ['OXM_OF_ARP_TPA', 'arp_tpa'], ['NXM_NX_ARP_SHA', 'arp_sha'], ['OXM_OF_ARP_SHA', 'arp_sha'],
  ['NXM_NX_ARP_THA', 'arp_tha'], ['OXM_OF_ARP_THA', 'arp_tha'],
  ['NXM_OF_TCP_SRC', 'tcp_src'], ['OXM_OF_TCP_SRC', 'tcp_src'], ['NXM_OF_TCP_DST', 'tcp_dst'], ['OXM_OF_TCP_DST', 'tcp_dst'],
  ['NXM_NX_TCP_FLAGS', 'tcp_flags'],
  ['NXM_OF_UDP_SRC', 'udp_src'], ['OXM_OF_UDP_SRC', 'udp_src'], ['NXM_OF_UDP_DST', 'udp_dst'], ['OXM_OF_UDP_DST', 'udp_dst'],
  ['OXM_OF_SCTP_SRC', 'sctp_src'], ['OXM_OF_SCTP_DST', 'sctp_dst'],
  ['NXM_OF_ICMP_TYPE', 'icmp_type'], ['OXM_OF_ICMPV4_TYPE', 'icmp_type'], ['NXM_OF_ICMP_CODE', 'icmp_code'], ['OXM_OF_ICMPV4_CODE', 'icmp_code'],
  ['NXM_NX_ICMPV6_TYPE', 'icmpv6_type'], ['OXM_OF_ICMPV6_TYPE', 'icmpv6_type'],
  ['NXM_NX_ICMPV6_CODE', 'icmpv6_code'], ['OXM_OF_ICMPV6_CODE', 'icmpv6_code'],
  ['NXM_NX_ND_TARGET', 'nd_target'], ['OXM_OF_IPV6_ND_TARGET', 'nd_target'],
  ['NXM_NX_ND_SLL', 'nd_sll'], ['OXM_OF_IPV6_ND_SLL', 'nd_sll'], ['NXM_NX_ND_TLL', 'nd_tll'], ['OXM_OF_IPV6_ND_TLL', 'nd_tll'],
  ['OXM_OF_IN_PORT', 'in_port_oxm'],
  ...Array.from({ length: 8 }, (_, i) => [`OXM_OF_PKT_REG${i}`, `xreg${i}`] as const),
];
const NXM_TO_OVS = new Map<string, string>(NXM_FIELDS.map(([n, o]) => [n, o]));
const OVS_TO_NXM = new Map<string, string>();
for (const [n, o] of NXM_FIELDS) {
  const cur = OVS_TO_NXM.get(o);
  if (cur === undefined || (!cur.startsWith('NXM_') && n.startsWith('NXM_'))) OVS_TO_NXM.set(o, n);
}

/** OVS's mf_field order (enum mf_field_id), for select-group fields(...). */
const MFF_ORDER: readonly string[] = [
  'recirc_id', 'tun_id', 'tun_src', 'tun_dst', 'tun_flags', 'metadata', 'in_port', 'ct_state', 'ct_zone', 'ct_mark',
  'ct_label', ...Array.from({ length: 16 }, (_, i) => `reg${i}`), 'eth_src', 'eth_dst', 'eth_type', 'vlan_tci', 'dl_vlan',
  'vlan_vid', 'dl_vlan_pcp', 'vlan_pcp', 'ip_src', 'ip_dst', 'ipv6_src', 'ipv6_dst', 'ipv6_label', 'nw_proto', 'nw_tos',
  'ip_dscp', 'nw_ecn', 'nw_ttl', 'ip_frag', 'arp_op', 'arp_spa', 'arp_tpa', 'arp_sha', 'arp_tha', 'tcp_src', 'tcp_dst',
  'tcp_flags', 'udp_src', 'udp_dst', 'sctp_src', 'sctp_dst', 'icmp_type', 'icmp_code', 'icmpv6_type', 'icmpv6_code',
];

/** Fields OVS will not write (mf->writable false); ct_mark/ct_label only inside ct. */
const READ_ONLY = new Set(['recirc_id', 'ct_state', 'ct_zone', 'eth_type', 'nw_proto', 'ip_frag', 'tcp_flags']);
const CT_FIELDS = new Set(['ct_mark', 'ct_label']);

/** OVS's own prerequisites where the registry relaxes them for match printing (ip_src under arp, …). */
const PREREQ_ICMPV4: Prereq = { name: 'ICMPv4', dlTypes: [ETH_TYPE_IP], nwProtos: [IPPROTO_ICMP], hint: '"icmp"' };
const ACTION_PREREQ = new Map<string, Prereq>([
  ['ip_src', PREREQ_IPV4], ['ip_dst', PREREQ_IPV4], ['nw_proto', PREREQ_IP_ANY],
  ['icmp_type', PREREQ_ICMPV4], ['icmp_code', PREREQ_ICMPV4],
]);

/** The registry definition OVS means by 'name' (its canonical field, e.g. tp_dst → tcp_dst); undefined when unknown. */
function fieldByName(name: string): FieldDef | undefined {
  if (name === 'ct_label') return CT_LABEL_FIELD;
  const f = FIELDS.get(name);
  if (f === undefined) return undefined;
  return FIELDS.get(f.ovsName) ?? f;
}

/** A sub-field name: NXM/OXM (optionally `_W`) or an OVS name. */
function fieldBySubfieldName(name: string): FieldDef | undefined {
  const base = name.length > 2 && name.endsWith('_W') ? name.slice(0, -2) : name;
  const o = NXM_TO_OVS.get(base);
  if (o !== undefined) return fieldByName(o);
  return fieldByName(name);
}

/**
 * A sub-field as OVS prints it (mf_format_subfield): the NXM/OXM name and
 * `[]`, `[bit]` or `[start..end]`, e.g. `NXM_NX_REG0[0..15]`.
 */
export function formatSubfield(r: FieldRef): string {
  const name = OVS_TO_NXM.get(r.field.ovsName) ?? r.field.ovsName;
  if (r.ofs === 0 && r.nBits === r.field.bits) return `${name}[]`;
  if (r.nBits === 1) return `${name}[${r.ofs}]`;
  return `${name}[${r.ofs}..${r.ofs + r.nBits - 1}]`;
}

const allOnes = (bits: number): bigint => (1n << BigInt(bits)) - 1n;

/** The mask match.ts stores for an exact value of 'f' (nw_tos keeps only its DSCP bits, 0xfc). */
function storedFullMask(f: FieldDef): bigint {
  if (f.storage !== 'word') return allOnes(f.bits);
  return BigInt((f.wordMask >>> f.shift) >>> 0) & allOnes(f.bits);
}

/**
 * A value of field 'f' as OVS prints it (mf_format): by the field's format
 * (hex, decimal, IPv4, MAC, port name, …), with `/mask` unless 'mask' is null
 * or all-ones.
 */
export function formatFieldValue(f: FieldDef, v: bigint, mask: bigint | null = null): string {
  const full = allOnes(f.bits);
  if (mask !== null && (mask & full) === 0n) return 'ANY';
  const m = mask === null || (mask & full) === full ? null : mask;
  switch (f.format) {
    case 'port':
      if (m === null) return portText(Number(v));
      return `${v}/${hexText(m)}`;
    case 'decimal':
      if (f.ovsName === 'ct_zone') return m === null ? hexText(v) : `${hexText(v)}/${hexText(m)}`;
      return m === null ? v.toString() : `${v}/${hexText(m)}`;
    case 'mac':
      return m === null ? macText(v) : `${macText(v)}/${macText(m)}`;
    case 'ipv4': {
      const a = ipv4ToString(Number(v));
      if (m === null) return a;
      const n = Number(m);
      const inv = ~n >>> 0;
      return (inv & (inv + 1)) === 0 ? `${a}/${Math.clz32(inv)}` : `${a}/${ipv4ToString(n)}`;
    }
    case 'ipv6': {
      const a = ipv6BigText(v);
      if (m === null) return a;
      const inv = ~m & full;
      const hostBits = inv === 0n ? 0 : inv.toString(2).length;
      return (inv & (inv + 1n)) === 0n ? `${a}/${128 - hostBits}` : `${a}/${ipv6BigText(m)}`;
    }
    case 'tun_flags': {
      if (m !== null) return `${hexText(v)}/${hexText(m)}`;
      const names = TUN_FLAG_NAMES.filter(([, bit]) => (Number(v) & bit) !== 0).map(([n]) => n);
      return names.length === 0 ? '0' : names.join('|');
    }
    default:
      return m === null ? hexText(v) : `${hexText(v)}/${hexText(m)}`;
  }
}

function ipv6BigText(v: bigint): string {
  const b = new Uint8Array(16);
  for (let i = 0; i < 16; i++) b[i] = Number((v >> BigInt(8 * (15 - i))) & 0xffn);
  return ipv6ToString(b, 0);
}

/** Sub-field bounds check result or the parsed reference. */
type SubfieldResult = { ref: FieldRef; len: number } | { error: string; unknown: boolean };

/**
 * mf_parse_subfield__(): `name[]`, `name[bit]`, `name[start..end]` or a bare
 * field name at the start of 'sp'. Errors are OVS's, quoting 'sp'.
 */
function parseSubfieldPrefix(sp: string): SubfieldResult {
  let nameLen = 0;
  while (nameLen < sp.length && sp[nameLen] !== '[' && sp[nameLen] !== '-') nameLen++;
  const name = sp.slice(0, nameLen);
  const f = fieldBySubfieldName(name);
  if (f === undefined) return { error: `${sp}: unknown field \`${name}'`, unknown: true };
  let start = 0, end = f.bits - 1, i = nameLen;
  if (sp[i] === '[') {
    const m = /^\[(?:([0-9]{1,9})(?:\.\.([0-9]{1,9}))?)?\]/.exec(sp.slice(i));
    if (m === null) return { error: `${sp}: syntax error expecting [] or [<bit>] or [<start>..<end>]`, unknown: false };
    if (m[1] !== undefined) {
      start = Number(m[1]);
      end = m[2] !== undefined ? Number(m[2]) : start;
    }
    i += m[0].length;
  }
  if (start > end) return { error: `${sp}: starting bit ${start} is after ending bit ${end}`, unknown: false };
  if (start >= f.bits) return { error: `${sp}: starting bit ${start} is not valid because field is only ${f.bits} bits wide`, unknown: false };
  if (end >= f.bits) return { error: `${sp}: ending bit ${end} is not valid because field is only ${f.bits} bits wide`, unknown: false };
  return { ref: { field: f, ofs: start, nBits: end - start + 1 }, len: i };
}

/** mf_parse_subfield(): the whole of 's' is one sub-field. */
function parseSubfield(s: string): SubfieldResult {
  const r = parseSubfieldPrefix(s);
  if ('ref' in r && r.len !== s.length) return { error: 'unexpected input following field syntax', unknown: false };
  return r;
}

// ---- parsed items (actions with where they were written) ----------------------------------------

/** One parsed action, its 1-based column in the line, its text, and nested items. */
interface Item {
  a: Action;
  col: number;
  tok: string;
  kids: Item[] | null;
}

/** The item of action 'a' written at 'col' as 'tok' (a module function: no closure made per action parsed). */
function itemAt(col: number, tok: string, a: Action, kids: Item[] | null = null): Item {
  return { a, col, tok, kids };
}

type Outer = 'none' | 'clone' | 'ct' | 'write_actions';

/** Where a `drop` appeared in the list being parsed (it must stand alone). */
interface DropState { drop: { col: number; tok: string } | null }

/** A protocol restriction and the text that caused it (for the error's location). */
interface Narrowing { mask: number; col: number; tok: string }

/** Instruction kinds in OpenFlow 1.1 order (enum ovs_instruction_type). */
const INST_METER = 0, INST_APPLY = 1, INST_CLEAR = 2, INST_WRITE_ACTIONS = 3, INST_WRITE_METADATA = 4, INST_GOTO = 5;
const INST_NAMES = ['meter', 'apply_actions', 'clear_actions', 'write_actions', 'write_metadata', 'goto_table'];

function instructionOf(a: Action): number {
  switch (a.type) {
    case 'clear_actions': return INST_CLEAR;
    case 'write_actions': return INST_WRITE_ACTIONS;
    case 'write_metadata': return INST_WRITE_METADATA;
    case 'goto_table': return INST_GOTO;
    default: return INST_APPLY;
  }
}

/** ofpact_name(): OVS's internal action name, as its messages use it. */
function ofpactName(a: Action): string {
  switch (a.type) {
    case 'output': return a.maxLen > 0 && a.port !== OFPP_CONTROLLER ? 'output_trunc' : 'output';
    case 'output_reg': return 'output_reg';
    case 'move': return 'move';
    case 'mod_vlan_vid': return 'set_vlan_vid';
    case 'mod_vlan_pcp': return 'set_vlan_pcp';
    case 'pop_vlan': return 'strip_vlan';
    case 'mod_nw_ttl': return 'mod_nw_ttl';
    default: return a.type;
  }
}

/** The field an action writes (ofpact_get_mf_dst): set_field/load and move. */
function mfDst(a: Action): FieldDef | null {
  if (a.type === 'set_field' || a.type === 'move') return a.dst.field;
  return null;
}

/** Text reserved for OVS actions sdnemu does not execute. */
const UNSUPPORTED_ACTIONS = new Set([
  'enqueue', 'bundle', 'bundle_load', 'push', 'pop', 'set_mpls_label', 'set_mpls_tc', 'set_mpls_ttl', 'dec_mpls_ttl',
  'push_mpls', 'pop_mpls', 'dec_nsh_ttl', 'delete_field', 'encap', 'decap', 'set_queue', 'pop_queue', 'fin_timeout',
  'multipath', 'sample', 'unroll_xlate', 'check_pkt_larger', 'debug_recirc', 'debug_slow', 'meter', 'set_vlan_vid',
  'set_vlan_pcp',
]);

const MAX_PARSE_DEPTH = 100;

/**
 * One parse of an action text: collects protocol restrictions and throws
 * FlowSyntaxError placed on 'line'. Columns are absolute (1-based in the line).
 */
class ActionParser {
  usable = P_ANY;
  readonly narrowings: Narrowing[] = [];
  constructor(readonly line: number) {}

  fail(code: FlowSyntaxCode, detail: string, col: number, token: string): never {
    throw new FlowSyntaxError(code, detail, col, token, this.line);
  }

  narrow(mask: number, col: number, tok: string): void {
    this.usable &= mask;
    this.narrowings.push({ mask, col, tok });
  }

  /** str_to_u8 / str_to_u16 (str_to_int base 0 then a range check). */
  uint(s: string, max: number, name: string, col: number): number {
    const v = cInt(s, 0);
    if (v === null || v < 0n || v > BigInt(max) || v > 0x7fffffffn) this.fail('OFCTL_BAD_VALUE', `invalid ${name} "${s}"`, col, s);
    return Number(v);
  }

  /** str_to_u32 / str_to_u64 (strtoul(l) base 0 over the whole string). */
  unum(s: string, bits: 32 | 64, col: number): bigint {
    if (s === '') this.fail('OFCTL_BAD_VALUE', 'missing required numeric argument', col, s);
    const v = cInt(s, 0);
    if (v === null || v < 0n || v > allOnes(bits)) this.fail('OFCTL_BAD_VALUE', `invalid numeric format ${s}`, col, s);
    return v;
  }

  /**
   * Parse 'text' (absolute column 'base' for its first character) as a list of
   * actions, appending to 'acc'. 'st' tracks `drop` across pieces of one list.
   */
  items(text: string, base: number, outer: Outer, depth: number, acc: Item[], st: DropState): void {
    if (depth >= MAX_PARSE_DEPTH) this.fail('OFCTL_SYNTAX', 'Action nested too deeply', base, text);
    for (const [key, value, kcol] of tokenize(text)) {
      const col = base + kcol - 1;
      const delim = text[kcol - 1 + key.length] ?? '';
      const hasValue = delim === ':' || delim === '=' || delim === '(';
      const tok = !hasValue ? key : delim === '(' ? `${key}(${value})` : `${key}${delim}${value}`;
      const vcol = col + key.length + 1;
      const name = key.toLowerCase();
      if (name === 'drop') {
        st.drop = { col, tok };
        continue;
      }
      const item = this.action(name, key, value, col, vcol, tok, outer, depth);
      if (Array.isArray(item)) acc.push(...item);
      else acc.push(item);
    }
  }

  /** A complete action list: items, the `drop` rule, then ofpacts_verify(). */
  list(text: string, base: number, instructions: boolean, outer: Outer, depth: number): Item[] {
    const acc: Item[] = [];
    const st: DropState = { drop: null };
    this.items(text, base, outer, depth, acc, st);
    this.finish(acc, st, instructions, outer);
    return acc;
  }

  /** After all pieces of one list: the `drop` rule, then ofpacts_verify(). */
  finish(acc: Item[], st: DropState, instructions: boolean, outer: Outer): void {
    if (st.drop !== null && acc.length > 0) {
      this.fail('OFCTL_SYNTAX', '"drop" must not be accompanied by any other action or instruction', st.drop.col, st.drop.tok);
    }
    verify(this, acc, instructions, outer);
  }

  private action(name: string, key: string, value: string, col: number, vcol: number, tok: string, outer: Outer, depth: number): Item | Item[] {
    switch (name) {
      case 'output':
      case 'output_reg':
        return itemAt(col, tok, this.output(value, vcol));
      case 'controller':
        return itemAt(col, tok, this.controller(value, vcol));
      case 'resubmit':
        return itemAt(col, tok, this.resubmit(value, vcol));
      case 'goto_table': {
        const t = tableFromString(value);
        if (t < 0) this.fail('OFCTL_BAD_VALUE', `unknown table "${value}"`, vcol, value);
        return itemAt(col, tok, { type: 'goto_table', table: t });
      }
      case 'write_metadata':
        return itemAt(col, tok, this.writeMetadata(value, vcol, col, tok));
      case 'set_field':
        return itemAt(col, tok, this.setField(value, vcol));
      case 'load':
        return this.load(value, vcol).map((a) => itemAt(col, tok, a));
      case 'move':
        return itemAt(col, tok, this.move(value, vcol));
      case 'mod_dl_src':
      case 'mod_dl_dst': {
        const mac = parseMacStrict(value);
        if (mac === null) this.fail('OFCTL_BAD_VALUE', `invalid mac address ${value}`, vcol, value);
        return itemAt(col, tok, { type: name, mac });
      }
      case 'mod_nw_src':
      case 'mod_nw_dst': {
        const ip = parseIpv4Dotted(value);
        if (ip === null) this.fail('OFCTL_BAD_VALUE', `${value}: could not convert to IP address`, vcol, value);
        return itemAt(col, tok, { type: name, ip });
      }
      case 'mod_nw_tos': {
        const tos = this.uint(value, 255, 'TOS', vcol);
        if ((tos & ~0xfc) !== 0) this.fail('OFCTL_BAD_VALUE', `${value}: not a valid TOS`, vcol, value);
        return itemAt(col, tok, { type: 'mod_nw_tos', tos });
      }
      case 'mod_nw_ecn': {
        const ecn = this.uint(value, 255, 'ECN', vcol);
        if ((ecn & ~3) !== 0) this.fail('OFCTL_BAD_VALUE', `${value}: not a valid ECN`, vcol, value);
        return itemAt(col, tok, { type: 'mod_nw_ecn', ecn });
      }
      case 'mod_nw_ttl':
      case 'set_nw_ttl':
        return itemAt(col, tok, { type: 'mod_nw_ttl', ttl: this.uint(value, 255, 'TTL', vcol) });
      case 'mod_tp_src':
        return itemAt(col, tok, { type: 'mod_tp_src', port: this.uint(value, 65535, 'source port', vcol) });
      case 'mod_tp_dst':
        return itemAt(col, tok, { type: 'mod_tp_dst', port: this.uint(value, 65535, 'destination port', vcol) });
      case 'dec_ttl':
        return itemAt(col, tok, this.decTtl(value, vcol));
      case 'push_vlan': {
        this.narrow(P_OF11_UP, col, tok);
        const tpid = this.uint(value, 65535, 'ethertype', vcol);
        if (tpid !== 0x8100 && tpid !== 0x88a8) this.fail('OFCTL_BAD_VALUE', `${value}: not a valid VLAN ethertype`, vcol, value);
        return itemAt(col, tok, { type: 'push_vlan', tpid });
      }
      case 'strip_vlan':
        return itemAt(col, tok, { type: 'pop_vlan', raw: 'strip_vlan' });
      case 'pop_vlan':
        return itemAt(col, tok, { type: 'pop_vlan', raw: 'pop_vlan' });
      case 'mod_vlan_vid': {
        const vid = this.uint(value, 65535, 'VLAN VID', vcol);
        if ((vid & ~0xfff) !== 0) this.fail('OFCTL_BAD_VALUE', `${value}: not a valid VLAN VID`, vcol, value);
        return itemAt(col, tok, { type: 'mod_vlan_vid', vid });
      }
      case 'mod_vlan_pcp': {
        const pcp = this.uint(value, 255, 'VLAN PCP', vcol);
        if ((pcp & ~7) !== 0) this.fail('OFCTL_BAD_VALUE', `${value}: not a valid VLAN PCP`, vcol, value);
        return itemAt(col, tok, { type: 'mod_vlan_pcp', pcp });
      }
      case 'group':
        return itemAt(col, tok, { type: 'group', groupId: Number(this.unum(value, 32, vcol)) });
      case 'ct':
        return this.ct(value, vcol, col, tok, depth);
      case 'ct_clear':
        return itemAt(col, tok, { type: 'ct_clear' });
      case 'nat': {
        this.nat(value, vcol);
        if (outer === 'ct') return this.fail('OFCTL_SYNTAX', 'sdnemu keeps one nat per ct and needs it before exec(...)', col, tok);
        return this.fail('OFCTL_SYNTAX', 'Cannot have NAT action outside of "ct" action', col, tok);
      }
      case 'conjunction':
        return itemAt(col, tok, this.conjunction(value, vcol));
      case 'learn':
        return itemAt(col, tok, this.learn(value, vcol));
      case 'note': {
        const data = parseHexBytes(value);
        if (data === null) this.fail('OFCTL_BAD_VALUE', 'bad hex digit in `note\' argument', vcol, value);
        return itemAt(col, tok, { type: 'note', data });
      }
      case 'clone': {
        const kids = this.list(value, vcol, false, 'clone', depth + 1);
        return itemAt(col, tok, { type: 'clone', actions: kids.map((k) => k.a) }, kids);
      }
      case 'write_actions': {
        const kids = this.list(value, vcol, false, 'write_actions', depth + 1);
        return itemAt(col, tok, { type: 'write_actions', actions: kids.map((k) => k.a) }, kids);
      }
      case 'clear_actions':
        return itemAt(col, tok, { type: 'clear_actions' });
      case 'set_tunnel':
      case 'set_tunnel64': {
        const tunId = this.unum(value, 64, vcol);
        return itemAt(col, tok, { type: 'set_tunnel', tunId, is64: name === 'set_tunnel64' || tunId > 0xffffffffn });
      }
      case 'exit':
        return itemAt(col, tok, { type: 'exit' });
      case 'apply_actions':
        return this.fail('OFCTL_SYNTAX', 'apply_actions is the default instruction', col, tok);
      case 'output_trunc':
        return this.fail('OFCTL_SYNTAX', `unknown action ${value}`, col, tok);
      default:
        break;
    }
    if (UNSUPPORTED_ACTIONS.has(name)) {
      this.fail('OFCTL_SYNTAX', `${key}: sdnemu does not support this Open vSwitch action`, col, tok);
    }
    const port = portFromString(key);
    if (port >= 0) return itemAt(col, tok, { type: 'output', port, maxLen: 0 });
    return this.fail('OFCTL_SYNTAX', `unknown action ${key}`, col, key);
  }

  /** parse_OUTPUT(): a port, output(port=,max_len=), or a sub-field. */
  private output(arg: string, vcol: number): Action {
    if (arg.includes('port') && arg.includes('max_len')) {
      let port = 0, maxLen = 0;
      for (const [k, v, c] of tokenize(arg)) {
        const kc = vcol + c - 1, vc = kc + k.length + 1;
        if (k === 'port') {
          port = portFromString(v);
          if (port < 0) this.fail('OFCTL_BAD_VALUE', `output to unknown truncate port: ${v}`, vc, v);
          if (port > OFPP_MAX && port !== OFPP_LOCAL && port !== OFPP_IN_PORT) {
            this.fail('OFCTL_BAD_VALUE', `output to unsupported truncate port: ${v}`, vc, v);
          }
        } else if (k === 'max_len') {
          maxLen = Number(this.unum(v, 32, vc));
          if (maxLen < 14) this.fail('OFCTL_BAD_VALUE', `max_len ${maxLen} is less than the minimum value 14`, vc, v);
        } else {
          this.fail('OFCTL_SYNTAX', `invalid key '${k}' in output_trunc argument`, kc, k);
        }
      }
      return { type: 'output', port, maxLen };
    }
    const port = portFromString(arg);
    if (port >= 0) return { type: 'output', port, maxLen: port === OFPP_CONTROLLER ? 0xffff : 0 };
    const r = parseSubfield(arg);
    if ('ref' in r) return { type: 'output_reg', src: this.keyField(r.ref, vcol, arg), maxLen: 0xffff };
    return this.fail('OFCTL_BAD_VALUE', `${arg}: output to unknown port`, vcol, arg);
  }

  /** Refuse ct_label outside ct(exec(...)): it is not in the flow key. */
  private keyField(r: FieldRef, col: number, tok: string): FieldRef {
    if (r.field === CT_LABEL_FIELD) {
      this.fail('OFCTL_UNKNOWN_FIELD', `${tok}: sdnemu supports ct_label only as a ct(exec(...)) destination`, col, tok);
    }
    return r;
  }

  /** parse_CONTROLLER(). */
  private controller(arg: string, vcol: number): Action {
    let reason: 'action' | 'no_match' | 'invalid_ttl' = 'action';
    let maxLen = 0xffff, id = 0, pause = false;
    let userdata: Uint8Array | null = null;
    if (arg === '') {
      // defaults
    } else if (/^[0-9]+$/.test(arg)) {
      maxLen = this.uint(arg, 65535, 'max_len', vcol);
    } else {
      for (const [k, v, c] of tokenize(arg)) {
        const kc = vcol + c - 1, vc = kc + k.length + 1;
        if (k === 'reason') {
          const r = v.toLowerCase();
          if (r === 'action' || r === 'no_match' || r === 'invalid_ttl') reason = r;
          else if (r === 'action_set' || r === 'group' || r === 'packet_out') {
            this.fail('OFCTL_SYNTAX', `reason=${v}: sdnemu does not support this controller reason`, vc, v);
          } else this.fail('OFCTL_BAD_VALUE', `unknown reason "${v}"`, vc, v);
        } else if (k === 'max_len') {
          maxLen = this.uint(v, 65535, 'max_len', vc);
        } else if (k === 'id') {
          id = this.uint(v, 65535, 'id', vc);
        } else if (k === 'userdata') {
          const b = parseHexBytes(v);
          if (b === null) this.fail('OFCTL_BAD_VALUE', 'bad hex digit in `controller\' action `userdata\'', vc, v);
          userdata = b.length > 0 ? b : null;
        } else if (k === 'pause') {
          pause = true;
        } else if (k === 'meter_id') {
          this.fail('OFCTL_SYNTAX', 'meter_id: sdnemu does not model meters', kc, k);
        } else {
          this.fail('OFCTL_SYNTAX', `unknown key "${k}" parsing controller action`, kc, k);
        }
      }
    }
    if (reason === 'action' && id === 0 && userdata === null && !pause) return { type: 'output', port: OFPP_CONTROLLER, maxLen };
    return { type: 'controller', reason, maxLen, controllerId: id, userdata, pause };
  }

  /** parse_RESUBMIT(): `N`, `(N,T)`, `(,T)`, `(N,T,ct)`. */
  private resubmit(arg: string, vcol: number): Action {
    const parts = arg.split(',');
    const ps = parts[0] ?? '', ts = parts[1] ?? '', cs = parts[2] ?? '';
    let port = OFPP_IN_PORT, table = 255;
    if (ps !== '') {
      port = portFromString(ps);
      if (port < 0) this.fail('OFCTL_BAD_VALUE', `${ps}: resubmit to unknown port`, vcol, ps);
    }
    const tcol = vcol + ps.length + 1;
    if (ts !== '') {
      table = tableFromString(ts);
      if (table < 0) this.fail('OFCTL_BAD_VALUE', `${ts}: resubmit to unknown table`, tcol, ts);
    }
    if (cs !== '' && cs !== 'ct') this.fail('OFCTL_BAD_VALUE', `${cs}: unknown parameter`, tcol + ts.length + 1, cs);
    if (port === OFPP_IN_PORT && table === 255) {
      this.fail('OFCTL_BAD_VALUE', 'at least one "in_port" or "table" must be specified on resubmit', vcol, arg);
    }
    return { type: 'resubmit', port, table, ct: cs === 'ct' };
  }

  /** parse_WRITE_METADATA(): VALUE[/MASK], 64-bit. */
  private writeMetadata(arg: string, vcol: number, col: number, tok: string): Action {
    this.narrow(P_NXM_OF11_UP, col, tok);
    const slash = arg.indexOf('/');
    let mask = U64_MAX;
    if (slash >= 0) mask = this.unum(arg.slice(slash + 1), 64, vcol + slash + 1);
    const value = this.unum(slash >= 0 ? arg.slice(0, slash) : arg, 64, vcol);
    return { type: 'write_metadata', value, mask };
  }

  /**
   * Parse 'text' as the value (and mask) of 'f' with match.ts's value parser
   * (mf_parse). An exact value gets the all-ones mask of the field's width.
   */
  private fieldValue(f: FieldDef, text: string, col: number): { v: bigint; m: bigint } {
    if (f.ovsName === 'vlan_vid') {
      // OF1.0's set_field:5->vlan_vid (mod_vlan_vid:5) has no present bit; match.ts would refuse it
      const slash = text.indexOf('/');
      const v = cInt(slash < 0 ? text : text.slice(0, slash), 0);
      const m = slash < 0 ? 0x1fffn : cInt(text.slice(slash + 1), 0);
      if (v === null || v < 0n) this.fail('OFCTL_BAD_VALUE', `${text}: bad syntax for vlan_vid value`, col, text);
      if (m === null || m < 0n) this.fail('OFCTL_BAD_MASK', `${text}: bad syntax for vlan_vid mask`, col, text);
      if (v > 0x1fffn || m > 0x1fffn) this.fail('OFCTL_BAD_VALUE', `${text} is not a valid value for field vlan_vid`, col, text);
      return { v: v & m, m };
    }
    if (f === CT_LABEL_FIELD) {
      const slash = text.indexOf('/');
      const vs = slash < 0 ? text : text.slice(0, slash);
      const v = parseIntString(vs, 16);
      const m = slash < 0 ? allOnes(128) : parseIntString(text.slice(slash + 1), 16);
      if (v === null || m === null) this.fail('OFCTL_BAD_VALUE', `${text}: bad syntax for ct_label value`, col, text);
      return { v: v & m, m };
    }
    const b = new MatchBuilder(this.line);
    b.add(f.name, text, col - f.name.length - 1);
    const ref = wholeField(f);
    const m = readSubfield(b.match.mask, 0, ref);
    return { v: readSubfield(b.match.value, 0, ref), m: m === storedFullMask(f) ? allOnes(f.bits) : m };
  }

  /** set_field_parse__(): VALUE[/MASK]->FIELD (OVS field names only). */
  private setField(arg: string, vcol: number): Action {
    const arrow = arg.indexOf('->');
    if (arrow < 0) this.fail('OFCTL_SYNTAX', `${arg}: missing \`->'`, vcol, arg);
    const key = arg.slice(arrow + 2), value = arg.slice(0, arrow);
    if (key === '') this.fail('OFCTL_SYNTAX', `${arg}: missing field name following \`->'`, vcol, arg);
    const kcol = vcol + arrow + 2;
    const f = fieldByName(key);
    if (f === undefined) this.fail('OFCTL_UNKNOWN_FIELD', `${key} is not a valid OXM field name`, kcol, key);
    if (READ_ONLY.has(f.ovsName)) this.fail('OFCTL_BAD_VALUE', `${key} is read-only`, kcol, key);
    if (f.ovsName === 'dl_vlan' || f.ovsName === 'dl_vlan_pcp') {
      this.fail('OFCTL_BAD_VALUE', `${key}: Open vSwitch 3.1 encodes set_field to ${f.ovsName} as a load to in_port; use mod_vlan_${f.ovsName === 'dl_vlan' ? 'vid' : 'pcp'}`, kcol, key);
    }
    const { v, m } = this.fieldValue(f, value, vcol);
    if (m === 0n) this.fail('OFCTL_BAD_MASK', `${value}: set_field with an all-zero mask changes nothing (Open vSwitch drops it)`, vcol, value);
    return { type: 'set_field', dst: wholeField(f), value: v, mask: m, raw: 'set_field' };
  }

  /** parse_reg_load(): VALUE->DST[a..b]; loads wider than 64 bits are split as OVS prints them. */
  private load(arg: string, vcol: number): Action[] {
    const arrow = arg.indexOf('->');
    if (arrow < 0) this.fail('OFCTL_SYNTAX', `${arg}: missing \`->'`, vcol, arg);
    const key = arg.slice(arrow + 2), vs = arg.slice(0, arrow);
    if (key === '') this.fail('OFCTL_SYNTAX', `${arg}: missing field name following \`->'`, vcol, arg);
    const kcol = vcol + arrow + 2;
    const r = parseSubfield(key);
    if (!('ref' in r)) this.fail(r.unknown ? 'OFCTL_UNKNOWN_FIELD' : 'OFCTL_BAD_VALUE', r.error, kcol, key);
    const dst = r.ref;
    const v = parseIntString(vs, dst.field.nBytes);
    if (v === null) this.fail('OFCTL_BAD_VALUE', `${arg}: cannot parse integer value`, vcol, vs);
    if (v > allOnes(dst.nBits)) {
      this.fail('OFCTL_BAD_VALUE', `${arg}: value ${formatFieldValue(dst.field, v, null)} does not fit into ${dst.nBits} bits`, vcol, vs);
    }
    return loadSegments(dst, v);
  }

  /** nxm_parse_reg_move(): SRC[a..b]->DST[c..d] of equal widths. */
  private move(arg: string, vcol: number): Action {
    const { src, dst } = this.moveRefs(arg, vcol);
    return { type: 'move', src, dst };
  }

  private moveRefs(arg: string, vcol: number): { src: FieldRef; dst: FieldRef } {
    const r = parseSubfieldPrefix(arg);
    if (!('ref' in r)) this.fail(r.unknown ? 'OFCTL_UNKNOWN_FIELD' : 'OFCTL_BAD_VALUE', r.error, vcol, arg);
    if (arg.slice(r.len, r.len + 2) !== '->') this.fail('OFCTL_SYNTAX', `${arg}: missing \`->' following source`, vcol, arg);
    const dtext = arg.slice(r.len + 2), dcol = vcol + r.len + 2;
    const d = parseSubfield(dtext);
    if (!('ref' in d)) this.fail(d.unknown ? 'OFCTL_UNKNOWN_FIELD' : 'OFCTL_BAD_VALUE', d.error, dcol, dtext);
    if (r.ref.nBits !== d.ref.nBits) {
      this.fail('OFCTL_BAD_VALUE', `${arg}: source field is ${r.ref.nBits} bits wide but destination is ${d.ref.nBits} bits wide`, vcol, arg);
    }
    return { src: this.keyField(r.ref, vcol, arg), dst: d.ref };
  }

  /** parse_DEC_TTL(): `dec_ttl` or `dec_ttl(id,…)` (atoi, as OVS). */
  private decTtl(arg: string, vcol: number): Action {
    if (arg === '') return { type: 'dec_ttl', ids: [0], explicitIds: false };
    const ids = arg.split(/[, ]+/).filter((t) => t !== '').map((t) => atoi(t) & 0xffff);
    if (ids.length === 0) this.fail('OFCTL_BAD_VALUE', 'dec_ttl_cnt_ids: expected at least one controller id.', vcol, arg);
    return { type: 'dec_ttl', ids, explicitIds: true };
  }

  /** parse_CONJUNCTION(): `id,k/n`. */
  private conjunction(arg: string, vcol: number): Action {
    const m = /^\s*([+-]?(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*))\s*,\s*([0-9]{1,3})\s*\/\s*([0-9]{1,3})\s*$/.exec(arg);
    const id = m === null ? null : cInt(m[1]!, 0);
    if (m === null || id === null || id > 0xffffffffn || id < -0x80000000n || Number(m[2]) > 255 || Number(m[3]) > 255) {
      return this.fail('OFCTL_SYNTAX', '"conjunction" syntax is "conjunction(id,i/n)"', vcol, arg);
    }
    const clause = Number(m[2]), n = Number(m[3]);
    if (n < 2) this.fail('OFCTL_BAD_VALUE', 'conjunction must have at least 2 clauses', vcol, arg);
    if (n > 64) this.fail('OFCTL_BAD_VALUE', 'conjunction must have at most 64 clauses', vcol, arg);
    if (clause < 1) this.fail('OFCTL_BAD_VALUE', 'clause index must be positive', vcol, arg);
    if (clause > n) this.fail('OFCTL_BAD_VALUE', 'clause index must be less than or equal to number of clauses', vcol, arg);
    return { type: 'conjunction', id: Number(BigInt.asUintN(32, id)), clause, nClauses: n };
  }

  /** parse_CT(): commit, force, table=, zone=N|zone=SUBFIELD, alg=, nat(...), exec(...). */
  private ct(arg: string, vcol: number, col: number, tok: string, depth: number): Item {
    const ct: CtAction = { type: 'ct', commit: false, force: false, zone: 0, zoneSrc: null, table: null, alg: null, nat: null, exec: [] };
    const kids: Item[] = [];
    let natCol = 0;
    for (const [k, v, c] of tokenize(arg)) {
      const kc = vcol + c - 1, vc = kc + k.length + 1;
      if (k === 'commit') ct.commit = true;
      else if (k === 'force') ct.force = true;
      else if (k === 'table') {
        const t = tableFromString(v);
        if (t < 0) this.fail('OFCTL_BAD_VALUE', `unknown table ${v}`, vc, v);
        if (t === 255) this.fail('OFCTL_BAD_VALUE', 'invalid table 0xff', vc, v);
        ct.table = t;
      } else if (k === 'zone') {
        const z = cInt(v, 0);
        if (z !== null && z >= 0n && z <= 65535n) {
          ct.zone = Number(z);
          ct.zoneSrc = null;
        } else {
          const r = parseSubfield(v);
          if (!('ref' in r)) this.fail(r.unknown ? 'OFCTL_UNKNOWN_FIELD' : 'OFCTL_BAD_VALUE', r.error, vc, v);
          if (r.ref.nBits !== 16) {
            this.fail('OFCTL_BAD_VALUE', `${v}: zone n_bits ${r.ref.nBits} not within valid range [16..16] (ovs-vswitchd refuses it)`, vc, v);
          }
          ct.zoneSrc = this.keyField(r.ref, vc, v);
          ct.zone = 0;
        }
      } else if (k === 'alg') {
        if (v !== 'ftp' && v !== 'tftp') this.fail('OFCTL_BAD_VALUE', `invalid conntrack helper "${v}"`, vc, v);
        ct.alg = v;
      } else if (k === 'nat') {
        const nat = this.nat(v, vc);
        if (ct.nat !== null || kids.length > 0) {
          this.fail('OFCTL_SYNTAX', 'sdnemu keeps one nat per ct and needs it before exec(...)', kc, k);
        }
        ct.nat = nat;
        natCol = kc;
      } else if (k === 'exec') {
        const sub = this.list(v, vc, false, 'ct', depth + 1);
        kids.push(...sub);
      } else {
        this.fail('OFCTL_SYNTAX', `invalid argument to "ct" action: \`${k}'`, kc, k);
      }
    }
    if (ct.force && !ct.commit) this.fail('OFCTL_BAD_VALUE', '"force" flag requires "commit" flag.', col, tok);
    const natArgs = ct.nat !== null && (ct.nat.kind !== null || ct.nat.persistent || ct.nat.hash || ct.nat.random);
    if (!ct.commit && (kids.length > 0 || natArgs)) {
      this.fail('OFCTL_BAD_VALUE', 'CT action requires commit flag if actions other than NAT without arguments are specified.',
        natArgs ? natCol : col, tok);
    }
    ct.exec = kids.map((x) => x.a);
    return { a: ct, col, tok, kids };
  }

  /** parse_NAT(): src=|dst=RANGE, persistent, hash, random. */
  private nat(arg: string, vcol: number): NatSpec {
    const nat: NatSpec = { kind: null, addrMin: null, addrMax: null, portMin: null, portMax: null, persistent: false, hash: false, random: false };
    let flags = false;
    let range = false;
    for (const [k, v, c] of tokenize(arg)) {
      const kc = vcol + c - 1, vc = kc + k.length + 1;
      if (k === 'src' || k === 'dst') {
        if (nat.kind !== null && nat.kind !== k) this.fail('OFCTL_BAD_VALUE', 'May only specify one of "src" or "dst".', kc, k);
        nat.kind = k;
        range = this.natRange(v, vc, nat) || range;
      } else if (k === 'persistent') { nat.persistent = true; flags = true; }
      else if (k === 'hash') { nat.hash = true; flags = true; }
      else if (k === 'random') { nat.random = true; flags = true; }
      else this.fail('OFCTL_SYNTAX', `invalid key "${k}" in "nat" argument`, kc, k);
    }
    if (nat.kind === null) {
      if (flags) this.fail('OFCTL_BAD_VALUE', 'Flags allowed only with "src" or "dst".', vcol, arg);
      if (range) this.fail('OFCTL_BAD_VALUE', 'Range allowed only with "src" or "dst".', vcol, arg);
    }
    if (nat.hash && nat.random) this.fail('OFCTL_BAD_VALUE', 'Both "hash" and "random" are not allowed.', vcol, arg);
    return nat;
  }

  /** str_to_nat_range(): IP[-IP][:PORT[-PORT]] (IPv4 only in sdnemu). True when an address was given. */
  private natRange(s: string, col: number, nat: NatSpec): boolean {
    nat.addrMin = nat.addrMax = nat.portMin = nat.portMax = null;
    if (s === '') return false;
    const bad = (): never => this.fail('OFCTL_BAD_VALUE', `invalid nat range "${s}"`, col, s);
    const ipAt = (i: number): [number, number] | null => {
      const m = /^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})/.exec(s.slice(i));
      if (m === null) return null;
      const ip = parseIpv4Dotted(m[0]);
      if (ip === null) bad();
      return [ip!, m[0].length];
    };
    let n = 0;
    const min = ipAt(0);
    if (min === null) {
      if (/^\[?[0-9a-fA-F:]*:[0-9a-fA-F:.]*\]?/.test(s) && s.includes(':')) {
        this.fail('OFCTL_SYNTAX', `${s}: sdnemu does not support IPv6 nat ranges`, col, s);
      }
    } else {
      nat.addrMin = nat.addrMax = min[0];
      n = min[1];
      if (s[n] === '-') {
        const max = ipAt(n + 1);
        if (max === null || max[0] < min[0]) bad();
        nat.addrMax = max![0];
        n += 1 + max![1];
      }
      if (s[n] === ':') {
        const pm = /^([0-9]{1,5})(?:-([0-9]{1,5}))?/.exec(s.slice(n + 1));
        if (pm === null) bad();
        const pmin = Number(pm![1]), pmax = pm![2] !== undefined ? Number(pm![2]) : pmin;
        if (pmin > 65535 || pmax > 65535 || (pm![2] !== undefined && pmax < pmin)) bad();
        n += 1 + pm![0].length;
        if (pmin === 0 && pm![2] !== undefined && pmax !== 0) {
          this.fail('OFCTL_BAD_VALUE', `${s}: a nat port range cannot start at 0 (ovs-vswitchd refuses it)`, col, s);
        }
        if (pmin !== 0) { nat.portMin = pmin; nat.portMax = pmax; }
      }
      if (nat.addrMin === 0) this.fail('OFCTL_BAD_VALUE', `${s}: a nat address range cannot start at 0.0.0.0 (Open vSwitch would send no range at all)`, col, s);
    }
    if (n !== s.length) this.fail('OFCTL_BAD_VALUE', `garbage (${s.slice(n)}) after nat range "${s}" (pos: ${n})`, col, s);
    return min !== null;
  }

  /** learn_parse__(): options and specs (learn.c). */
  private learn(arg: string, vcol: number): LearnAction {
    const l: LearnAction = {
      type: 'learn', table: 1, priority: 32768, idleTimeout: 0, hardTimeout: 0, finIdleTimeout: 0, finHardTimeout: 0,
      cookie: 0n, sendFlowRem: false, deleteLearned: false, limit: 0, specs: [],
    };
    for (const [k, v, c] of tokenize(arg)) {
      const kc = vcol + c - 1, vc = kc + k.length + 1;
      switch (k) {
        case 'table': {
          const t = tableFromString(v);
          if (t < 0) this.fail('OFCTL_BAD_VALUE', `unknown table "${v}"`, vc, v);
          if (t === 255) this.fail('OFCTL_BAD_VALUE', `${arg}: table id 255 not valid for \`learn' action`, vc, v);
          l.table = t;
          break;
        }
        case 'priority': l.priority = atoi(v) & 0xffff; break;
        case 'idle_timeout': l.idleTimeout = atoi(v) & 0xffff; break;
        case 'hard_timeout': l.hardTimeout = atoi(v) & 0xffff; break;
        case 'fin_idle_timeout': l.finIdleTimeout = atoi(v) & 0xffff; break;
        case 'fin_hard_timeout': l.finHardTimeout = atoi(v) & 0xffff; break;
        case 'cookie': l.cookie = strtoullPrefix(v); break;
        case 'send_flow_rem': l.sendFlowRem = true; break;
        case 'delete_learned': l.deleteLearned = true; break;
        case 'limit': l.limit = atoi(v) >>> 0; break;
        case 'result_dst':
          this.fail('OFCTL_SYNTAX', 'result_dst: sdnemu does not model learn result_dst', kc, k);
          break;
        default:
          l.specs.push(this.learnSpec(arg, k, v, kc, vc));
      }
    }
    return l;
  }

  /** learn_parse_spec(): DST[=SRC|=VALUE], load:SRC|VALUE->DST, output:SRC. */
  private learnSpec(orig: string, name: string, value: string, kc: number, vc: number): LearnSpec {
    const d = parseSubfield(name);
    if ('ref' in d) {
      const dst = this.keyField(d.ref, kc, name);
      if (value === '') return { kind: 'match', dst, src: null, value: null };
      const s = parseSubfield(value);
      if ('ref' in s) {
        if (s.ref.nBits !== dst.nBits) {
          this.fail('OFCTL_BAD_VALUE', `${orig}: bit widths of ${name} (${s.ref.nBits}) and ${value} (${dst.nBits}) differ`, vc, value);
        }
        const src = this.keyField(s.ref, vc, value);
        const same = src.field === dst.field && src.ofs === dst.ofs;
        return { kind: 'match', dst, src: same ? null : src, value: null };
      }
      let imm: bigint | null = null;
      let immError = '';
      if (dst.ofs === 0 && dst.nBits === dst.field.bits) {
        try {
          const fv = this.fieldValue(dst.field, value, vc);
          if (fv.m !== allOnes(dst.field.bits)) immError = `${value}: wildcards not allowed here`;
          else imm = fv.v;
        } catch (e) {
          if (!(e instanceof FlowSyntaxError)) throw e;
          immError = e.detail;
        }
      } else {
        const v = parseIntString(value, dst.field.nBytes);
        if (v === null) immError = `${orig}: cannot parse integer value`;
        else if (v > allOnes(dst.nBits)) immError = `${orig}: value ${formatFieldValue(dst.field, v, null)} does not fit into ${dst.nBits} bits`;
        else imm = v;
      }
      if (imm === null) {
        this.fail('OFCTL_BAD_VALUE', `${orig}: ${name} value ${value} cannot be parsed as a subfield (${s.error}) or an immediate value (${immError})`, vc, value);
      }
      return { kind: 'match', dst, src: null, value: imm };
    }
    if (name === 'load') {
      const arrow = value.indexOf('->');
      if (arrow === 0) this.fail('OFCTL_SYNTAX', `${name}: missing source before \`->' in \`${value}'`, vc, value);
      if (arrow < 0) this.fail('OFCTL_SYNTAX', `${name}: missing \`->' in \`${value}'`, vc, value);
      const srcText = value.slice(0, arrow), dstText = value.slice(arrow + 2), dcol = vc + arrow + 2;
      if (/^[0-9]/.test(srcText)) {
        const v = parseIntString(srcText, 128);
        if (v === null) this.fail('OFCTL_SYNTAX', `${name}: garbage before \`->' in \`${value}'`, vc, value);
        const r = parseSubfield(dstText);
        if (!('ref' in r)) this.fail(r.unknown ? 'OFCTL_UNKNOWN_FIELD' : 'OFCTL_BAD_VALUE', r.error, dcol, dstText);
        if (v > allOnes(r.ref.nBits)) this.fail('OFCTL_BAD_VALUE', `${value}: value does not fit into ${r.ref.nBits} bits`, vc, value);
        return { kind: 'load', dst: this.keyField(r.ref, dcol, dstText), src: null, value: v };
      }
      const mv = this.moveRefs(value, vc);
      return { kind: 'load', dst: this.keyField(mv.dst, dcol, dstText), src: mv.src, value: null };
    }
    if (name === 'output') {
      const r = parseSubfield(value);
      if (!('ref' in r)) this.fail(r.unknown ? 'OFCTL_UNKNOWN_FIELD' : 'OFCTL_BAD_VALUE', r.error, vc, value);
      return { kind: 'output', src: this.keyField(r.ref, vc, value) };
    }
    return this.fail('OFCTL_SYNTAX', `${orig}: unknown keyword ${name}`, kc, name);
  }
}

/** A load of 'v' into 'dst', as 64-bit segments (next_load_segment). */
function loadSegments(dst: FieldRef, v: bigint): Action[] {
  const out: Action[] = [];
  for (let ofs = 0; ofs < dst.nBits; ofs += 64) {
    const n = Math.min(64, dst.nBits - ofs);
    out.push({
      type: 'set_field', dst: { field: dst.field, ofs: dst.ofs + ofs, nBits: n },
      value: (v >> BigInt(ofs)) & allOnes(n), mask: allOnes(n), raw: 'load',
    });
  }
  return out;
}

/** ofpacts_verify() + ofpacts_verify_nested(): instruction order, nesting, conjunction. */
function verify(p: ActionParser, items: Item[], instructions: boolean, outer: Outer): void {
  let inst = INST_METER;
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    const a = it.a;
    if (a.type === 'conjunction') {
      for (const o of items) {
        if (o.a.type !== 'conjunction' && o.a.type !== 'note') {
          p.fail('OFCTL_SYNTAX', `"conjunction" actions may be used along with "note" but not any other kind of action (such as the "${ofpactName(o.a)}" action used here)`, o.col, o.tok);
        }
      }
      return;
    }
    const f = mfDst(a);
    if (f !== null && CT_FIELDS.has(f.ovsName) && outer !== 'ct') {
      p.fail('OFCTL_BAD_VALUE', 'cannot set CT fields outside of ct action', it.col, it.tok);
    }
    if (outer === 'ct') {
      if (f === null) p.fail('OFCTL_SYNTAX', `ct action doesn't support nested action ${ofpactName(a)}`, it.col, it.tok);
      if (!CT_FIELDS.has(f.ovsName)) p.fail('OFCTL_BAD_VALUE', `ct action doesn't support nested modification of ${f.ovsName}`, it.col, it.tok);
    } else if (f === CT_LABEL_FIELD) {
      p.fail('OFCTL_UNKNOWN_FIELD', 'sdnemu supports ct_label only as a ct(exec(...)) destination', it.col, it.tok);
    }
    const next = instructionOf(a);
    if (i > 0 && (inst === INST_APPLY ? next < inst : next <= inst)) {
      if (next === inst) {
        p.fail('OFCTL_SYNTAX', `duplicate ${INST_NAMES[inst]} instruction not allowed, for OpenFlow 1.1+ compatibility`, it.col, it.tok);
      }
      p.fail('OFCTL_SYNTAX', `invalid instruction ordering: ${INST_NAMES[next]} must appear before ${INST_NAMES[inst]}, for OpenFlow 1.1+ compatibility`, it.col, it.tok);
    }
    if (!instructions && next !== INST_APPLY) p.fail('OFCTL_SYNTAX', `${INST_NAMES[next]} instruction not allowed here`, it.col, it.tok);
    inst = next;
  }
}

// ---- consistency with the match (ofpacts_check) -------------------------------------------------

/** The part of the flow ofpacts_check() reads and the VLAN tags actions push and pop. */
interface CheckState {
  dlType: number;
  dlMask: number;
  nwProto: number;
  nwMask: number;
  frag: number;
  ctState: number;
  ctMask: number;
  vlans: number;
  /** the flow's table, 255 when the line gave none */
  table: number;
}

function stateFromMatch(m: Match | null, table: number): CheckState {
  if (m === null) return { dlType: 0, dlMask: 0, nwProto: 0, nwMask: 0, frag: 0, ctState: 0, ctMask: 0, vlans: 0, table };
  return {
    dlType: m.value[F_DL_TYPE]!, dlMask: m.mask[F_DL_TYPE]!, nwProto: m.value[F_NW_PROTO]!, nwMask: m.mask[F_NW_PROTO]!,
    frag: m.value[F_NW_FRAG]!, ctState: m.value[F_CT_STATE]!, ctMask: m.mask[F_CT_STATE]!,
    vlans: (m.value[F_VLAN_TCI]! & 0x1000) !== 0 ? 1 : 0, table,
  };
}

const isIp = (st: CheckState): boolean => st.dlType === ETH_TYPE_IP;
const isIpAny = (st: CheckState): boolean => st.dlType === ETH_TYPE_IP || st.dlType === ETH_TYPE_IPV6;

/** mf_are_prereqs_ok() for an action's field against the (action-modified) flow. */
function prereqsOk(f: FieldDef, st: CheckState): boolean {
  const pre = ACTION_PREREQ.get(f.ovsName) ?? f.prereq;
  if (f.ovsName === 'vlan_pcp' && st.vlans === 0) return false;
  if (pre === null) return true;
  return prereqSatisfied(pre, st.dlType, st.dlMask, st.nwProto, st.nwMask);
}

const VALID_OUT_PORTS = new Set([OFPP_IN_PORT, OFPP_TABLE, OFPP_NORMAL, OFPP_FLOOD, OFPP_ALL, OFPP_CONTROLLER, OFPP_LOCAL]);

/** An action list the match makes invalid (check's refusal, naming the action). */
function badActions(p: ActionParser, err: string, it: Item): never {
  const code: FlowSyntaxCode = err === 'OFPBAC_MATCH_INCONSISTENT' ? 'OFCTL_MISSING_PREREQ' : 'OFCTL_BAD_VALUE';
  return p.fail(code, `actions are invalid with specified match (${err})`, it.col, it.tok);
}

/** An inconsistency only OpenFlow 1.0 tolerates: a flow's protocols narrow to it. */
function inconsistentAction(p: ActionParser, mode: 'flow' | 'group', it: Item): void {
  if (mode === 'flow') p.narrow(P_OF10_ANY, it.col, it.tok);
}

/**
 * ofpacts_check(): refuse what no protocol accepts (OFPERR_*) and narrow the
 * usable protocols where only OpenFlow 1.0 tolerates an inconsistency. 'group'
 * mode checks only what ovs-vswitchd checks in a bucket (output ports).
 */
function check(p: ActionParser, items: Item[], st: CheckState, mode: 'flow' | 'group'): void {
  for (const it of items) {
    const a = it.a;
    switch (a.type) {
      case 'output':
        if (a.port >= OFPP_MAX && !VALID_OUT_PORTS.has(a.port)) badActions(p, 'OFPBAC_BAD_OUT_PORT', it);
        break;
      case 'output_reg':
        if (mode === 'flow' && !prereqsOk(a.src.field, st)) badActions(p, 'OFPBAC_MATCH_INCONSISTENT', it);
        break;
      case 'mod_vlan_vid':
      case 'mod_vlan_pcp':
        if (st.vlans === 0) st.vlans = 1;
        break;
      case 'pop_vlan':
        if (st.vlans === 0) inconsistentAction(p, mode, it);
        st.vlans = Math.max(0, st.vlans - 1);
        break;
      case 'push_vlan':
        if (st.vlans >= 2) badActions(p, 'OFPBAC_BAD_TAG', it);
        st.vlans++;
        break;
      case 'mod_nw_src':
      case 'mod_nw_dst':
        if (!isIp(st)) inconsistentAction(p, mode, it);
        break;
      case 'mod_nw_tos':
      case 'mod_nw_ecn':
      case 'mod_nw_ttl':
      case 'dec_ttl':
        if (!isIpAny(st)) inconsistentAction(p, mode, it);
        break;
      case 'mod_tp_src':
      case 'mod_tp_dst':
        if (!isIpAny(st) || (st.frag & 2) !== 0
          || (st.nwProto !== IPPROTO_TCP && st.nwProto !== IPPROTO_UDP && st.nwProto !== IPPROTO_SCTP)) inconsistentAction(p, mode, it);
        break;
      case 'move':
        if (mode === 'flow' && (!prereqsOk(a.src.field, st) || !prereqsOk(a.dst.field, st))) badActions(p, 'OFPBAC_MATCH_INCONSISTENT', it);
        if (READ_ONLY.has(a.dst.field.ovsName)) badActions(p, 'OFPBAC_BAD_SET_ARGUMENT', it);
        break;
      case 'set_field': {
        const f = a.dst.field;
        if (a.raw === 'load' && READ_ONLY.has(f.ovsName)) badActions(p, 'OFPBAC_BAD_SET_ARGUMENT', it);
        if (mode === 'flow' && (!prereqsOk(f, st) || (f.ovsName === 'vlan_vid' && st.vlans === 0))) {
          badActions(p, 'OFPBAC_MATCH_INCONSISTENT', it);
        }
        if (f.ovsName === 'vlan_tci') st.vlans = (wholeValueMask(a).v & 0x1000n) !== 0n ? Math.max(st.vlans, 1) : 0;
        break;
      }
      case 'resubmit':
        if (mode === 'flow' && a.ct && !ctValid(st)) badActions(p, 'OFPBAC_MATCH_INCONSISTENT', it);
        break;
      case 'learn':
        if (mode === 'flow') learnCheck(a, st, it, (err, item) => badActions(p, err, item));
        break;
      case 'ct': {
        if (mode === 'group') break;
        if (!isIpAny(st) || ((st.ctState & 0x10) !== 0 && a.commit)
          || (a.alg === 'ftp' && st.nwProto !== IPPROTO_TCP) || (a.alg === 'tftp' && st.nwProto !== IPPROTO_UDP)) {
          badActions(p, 'OFPBAC_MATCH_INCONSISTENT', it);
        }
        if (a.zoneSrc !== null) {
          // check_CT() returns after the zone's check: exec and nat are not checked (OVS 3.1)
          if (!prereqsOk(a.zoneSrc.field, st)) badActions(p, 'OFPBAC_MATCH_INCONSISTENT', it);
          break;
        }
        if (a.nat !== null && a.nat.addrMin !== null && !isIp(st)) badActions(p, 'OFPBAC_MATCH_INCONSISTENT', it);
        check(p, it.kids ?? [], st, mode);
        break;
      }
      case 'clone':
        check(p, it.kids ?? [], st, mode);
        break;
      case 'write_actions': {
        const saved = p.usable;
        const n = p.narrowings.length;
        check(p, it.kids ?? [], { ...st }, mode);
        p.usable = saved;
        p.narrowings.length = n;
        break;
      }
      case 'goto_table':
        if (mode === 'flow' && ((st.table !== 255 && a.table <= st.table) || a.table >= 255)) {
          p.fail('OFCTL_BAD_VALUE', 'actions are invalid with specified match (OFPBIC_BAD_TABLE_ID)', it.col, it.tok);
        }
        break;
      default:
        break;
    }
  }
}

/** is_ct_valid() for a match: +new/+est/+rel/+rpl/+snat/+dnat, or +trk with an explicit -inv. */
function ctValid(st: CheckState): boolean {
  return (st.ctState & (0x01 | 0x02 | 0x04 | 0x08 | 0x40 | 0x80)) !== 0
    || ((st.ctState & 0x20) !== 0 && (st.ctMask & 0x10) !== 0 && (st.ctState & 0x10) === 0);
}

/**
 * learn_check(): sources need the flow's prerequisites; match destinations the
 * prerequisites set by the immediate specs before them; loads writable fields.
 */
function learnCheck(l: LearnAction, st: CheckState, it: Item, bad: (err: string, it: Item) => never): void {
  const learned = new Match();
  const lst = (): CheckState => ({
    ...st, dlType: learned.value[F_DL_TYPE]!, dlMask: learned.mask[F_DL_TYPE]!,
    nwProto: learned.value[F_NW_PROTO]!, nwMask: learned.mask[F_NW_PROTO]!,
    vlans: (learned.value[F_VLAN_TCI]! & 0x1000) !== 0 ? 1 : 0,
  });
  for (const s of l.specs) {
    if (s.kind !== 'output' && s.src !== null && !prereqsOk(s.src.field, st)) bad('OFPBAC_MATCH_INCONSISTENT', it);
    if (s.kind === 'output') {
      if (!prereqsOk(s.src.field, st)) bad('OFPBAC_MATCH_INCONSISTENT', it);
      continue;
    }
    if (s.kind === 'match') {
      if (s.src === null && s.value === null && !prereqsOk(s.dst.field, st)) bad('OFPBAC_MATCH_INCONSISTENT', it);
      if (!prereqsOk(s.dst.field, lst())) bad('OFPBAC_MATCH_INCONSISTENT', it);
      if (s.value !== null && s.dst.field.word >= 0) {
        writeSubfield(learned.value, 0, s.dst, s.value);
        writeSubfield(learned.mask, 0, s.dst, allOnes(s.dst.nBits));
      }
    } else {
      if (!prereqsOk(s.dst.field, lst())) bad('OFPBAC_MATCH_INCONSISTENT', it);
      if (READ_ONLY.has(s.dst.field.ovsName)) bad('OFPBAC_BAD_SET_ARGUMENT', it);
    }
  }
}

// ---- the wire round trip (encode for one version, decode) ---------------------------------------

const F = (name: string): FieldDef => {
  const f = fieldByName(name);
  if (f === undefined) throw new Error(`field registry lacks ${name}`);
  return f;
};

/** set_field of the whole field 'name' (raw set_field), as OF1.2+ decodes it. */
function setFieldWhole(name: string, value: bigint): Action {
  const f = F(name);
  return { type: 'set_field', dst: wholeField(f), value, mask: allOnes(f.bits), raw: 'set_field' };
}

/** The whole-field value and mask a set_field/load writes. */
function wholeValueMask(a: Extract<Action, { type: 'set_field' }>): { v: bigint; m: bigint } {
  const ofs = BigInt(a.dst.ofs);
  const m = (a.mask & allOnes(a.dst.nBits)) << ofs;
  return { v: (a.value << ofs) & m, m };
}

/** set_field_to_nxast(): one load per contiguous run of mask bits (at most 64 bits each). */
function toLoads(f: FieldDef, v: bigint, m: bigint): Action[] {
  const out: Action[] = [];
  let i = 0;
  while (i < f.bits) {
    if (((m >> BigInt(i)) & 1n) === 0n) { i++; continue; }
    let j = i;
    while (j < f.bits && j - i < 64 && ((m >> BigInt(j)) & 1n) === 1n) j++;
    const n = j - i;
    out.push({ type: 'set_field', dst: { field: f, ofs: i, nBits: n }, value: (v >> BigInt(i)) & allOnes(n), mask: allOnes(n), raw: 'load' });
    i = j;
  }
  return out;
}

/**
 * The action list as ovs-vswitchd holds it after 'actions' crossed the wire in
 * 'protocol' (ofpacts_put_openflow_instructions + ofpacts_pull_…): what
 * `ovs-ofctl -O protocol dump-flows` prints, and what an add in 'protocol'
 * stores. 'match' is the flow's (VLAN presence and nw_proto pick the OF1.3
 * encodings of mod_vlan_* and mod_tp_*); null for a group bucket. Idempotent.
 */
export function actionsAsStored(actions: readonly Action[], protocol: OfProtocol, match: Match | null = null): Action[] {
  const st = stateFromMatch(match, 255);
  return wire(actions, protocol === 'OpenFlow10', st);
}

function wire(actions: readonly Action[], of10: boolean, st: CheckState): Action[] {
  const out: Action[] = [];
  for (const a of actions) {
    switch (a.type) {
      case 'goto_table':
        out.push(of10 ? { type: 'resubmit', port: OFPP_IN_PORT, table: a.table, ct: false } : a);
        break;
      case 'write_actions':
        if (!of10) out.push({ type: 'write_actions', actions: wire(a.actions, of10, { ...st }) });
        break;
      case 'clear_actions':
        if (!of10) out.push(a);
        break;
      case 'clone':
        out.push({ type: 'clone', actions: wire(a.actions, of10, st) });
        break;
      case 'ct':
        out.push({ ...a, exec: wire(a.exec, of10, st) });
        break;
      case 'set_field': {
        const f = a.dst.field;
        const { v, m } = wholeValueMask(a);
        const full = m === allOnes(f.bits);
        if (a.raw === 'load') {
          out.push(...toLoads(f, v, m));
        } else if (of10) {
          out.push(...legacySetField(f, v, m));
        } else if (full) {
          out.push({ type: 'set_field', dst: wholeField(f), value: v, mask: m, raw: 'set_field' });
        } else {
          out.push(...toLoads(f, v, m));
        }
        if (f.ovsName === 'vlan_tci') st.vlans = (v & 0x1000n) !== 0n ? Math.max(st.vlans, 1) : 0;
        break;
      }
      case 'mod_dl_src':
      case 'mod_dl_dst':
        out.push(of10 ? a : setFieldWhole(a.type === 'mod_dl_src' ? 'eth_src' : 'eth_dst', a.mac));
        break;
      case 'mod_nw_src':
      case 'mod_nw_dst':
        out.push(of10 ? a : setFieldWhole(a.type === 'mod_nw_src' ? 'ip_src' : 'ip_dst', BigInt(a.ip)));
        break;
      case 'mod_nw_tos':
        out.push(of10 ? a : setFieldWhole('ip_dscp', BigInt(a.tos >> 2)));
        break;
      case 'mod_nw_ecn':
        out.push(of10 ? { type: 'set_field', dst: wholeField(F('nw_ecn')), value: BigInt(a.ecn), mask: 3n, raw: 'load' } : setFieldWhole('nw_ecn', BigInt(a.ecn)));
        break;
      case 'mod_nw_ttl':
        out.push(of10 ? { type: 'set_field', dst: wholeField(F('nw_ttl')), value: BigInt(a.ttl), mask: 0xffn, raw: 'load' } : a);
        break;
      case 'mod_tp_src':
      case 'mod_tp_dst': {
        const l4 = st.nwProto === IPPROTO_TCP ? 'tcp' : st.nwProto === IPPROTO_UDP ? 'udp' : st.nwProto === IPPROTO_SCTP ? 'sctp' : null;
        out.push(of10 || l4 === null ? a : setFieldWhole(`${l4}_${a.type === 'mod_tp_src' ? 'src' : 'dst'}`, BigInt(a.port)));
        break;
      }
      case 'push_vlan':
        if (!of10) out.push(a);
        st.vlans++;
        break;
      case 'pop_vlan':
        out.push({ type: 'pop_vlan', raw: of10 ? 'strip_vlan' : 'pop_vlan' });
        st.vlans = Math.max(0, st.vlans - 1);
        break;
      case 'mod_vlan_vid':
      case 'mod_vlan_pcp':
        if (of10) out.push(a);
        else {
          if (st.vlans === 0) out.push({ type: 'push_vlan', tpid: 0x8100 });
          out.push(a.type === 'mod_vlan_vid' ? setFieldWhole('vlan_vid', BigInt(a.vid | 0x1000)) : setFieldWhole('vlan_pcp', BigInt(a.pcp)));
        }
        if (st.vlans === 0) st.vlans = 1;
        break;
      case 'set_tunnel':
        if (of10) out.push({ type: 'set_tunnel', tunId: a.tunId, is64: a.is64 || a.tunId > 0xffffffffn });
        else out.push(setFieldWhole('tun_id', a.tunId));
        break;
      case 'note': {
        // NXAST_NOTE is 10 bytes of header plus the note, zero-padded to a multiple of 8 (pad_ofpat)
        const n = Math.ceil((10 + a.data.length) / 8) * 8 - 10;
        if (n === a.data.length) out.push(a);
        else {
          const data = new Uint8Array(n);
          data.set(a.data);
          out.push({ type: 'note', data });
        }
        break;
      }
      default:
        out.push(a);
    }
  }
  return out;
}

/** set_field_to_legacy_openflow() for OpenFlow 1.0. */
function legacySetField(f: FieldDef, v: bigint, m: bigint): Action[] {
  switch (f.ovsName) {
    case 'vlan_tci':
      if ((v & 0x1000n) !== 0n) return [{ type: 'mod_vlan_vid', vid: Number(v & 0xfffn) }, { type: 'mod_vlan_pcp', pcp: Number(v >> 13n) }];
      return [{ type: 'pop_vlan', raw: 'strip_vlan' }];
    case 'vlan_vid': return [{ type: 'mod_vlan_vid', vid: Number(v & 0xfffn) }];
    case 'vlan_pcp': return [{ type: 'mod_vlan_pcp', pcp: Number(v) }];
    case 'eth_src': return [{ type: 'mod_dl_src', mac: v }];
    case 'eth_dst': return [{ type: 'mod_dl_dst', mac: v }];
    case 'ip_src': return [{ type: 'mod_nw_src', ip: Number(v) }];
    case 'ip_dst': return [{ type: 'mod_nw_dst', ip: Number(v) }];
    case 'nw_tos': return [{ type: 'mod_nw_tos', tos: Number(v) }];
    case 'ip_dscp': return [{ type: 'mod_nw_tos', tos: Number(v) << 2 }];
    case 'nw_ecn': return [{ type: 'set_field', dst: wholeField(f), value: v, mask: 3n, raw: 'load' }];
    case 'tcp_src':
    case 'udp_src': return [{ type: 'mod_tp_src', port: Number(v) }];
    case 'tcp_dst':
    case 'udp_dst': return [{ type: 'mod_tp_dst', port: Number(v) }];
    default:
      return toLoads(f, v, m);
  }
}

/** Fields whose OpenFlow 1.0 encoding (set_field_to_legacy_openflow) sets the whole field. */
const LEGACY_WHOLE = new Set(['vlan_tci', 'vlan_vid', 'vlan_pcp', 'eth_src', 'eth_dst', 'ip_src', 'ip_dst', 'nw_tos', 'ip_dscp',
  'nw_ecn', 'tcp_src', 'udp_src', 'tcp_dst', 'udp_dst']);

/** Refuse what ovs-vswitchd refuses from an OpenFlow 1.3 ovs-ofctl: set_field to vlan_vid without the present bit. */
function refuseOf13(p: ActionParser, items: Item[]): void {
  for (const it of items) {
    const a = it.a;
    if (a.type === 'set_field' && a.raw === 'set_field' && a.dst.field.ovsName === 'vlan_vid' && (a.value & 0x1000n) === 0n
      && a.mask === allOnes(a.dst.field.bits)) {
      p.fail('OFCTL_BAD_VALUE', `${it.tok}: OpenFlow 1.3 needs the present bit (0x1000) in a vlan_vid value (ovs-vswitchd refuses it)`, it.col, it.tok);
    }
    if (it.kids !== null) refuseOf13(p, it.kids);
  }
}

/**
 * Refuse, under OpenFlow 1.0, what its encoding would silently lose (masks,
 * write_actions, clear_actions) and what ovs-vswitchd then refuses: OF1.0 sends
 * goto_table as resubmit, which may not follow write_metadata.
 */
function refuseLossyOf10(p: ActionParser, items: Item[]): void {
  let metadata = false;
  for (const it of items) {
    const a = it.a;
    if (a.type === 'write_metadata') metadata = true;
    if (a.type === 'goto_table' && metadata) {
      p.fail('OFCTL_SYNTAX', `${it.tok}: OpenFlow 1.0 sends goto_table as resubmit, which may not follow write_metadata (ovs-vswitchd refuses it: OFPBAC_UNSUPPORTED_ORDER)`, it.col, it.tok);
    }
    if (a.type === 'write_actions' || a.type === 'clear_actions') {
      p.fail('OFCTL_SYNTAX', `${a.type}: instruction needs OpenFlow 1.1 or later (ovs-ofctl -O OpenFlow10 silently drops it)`, it.col, it.tok);
    }
    if (a.type === 'set_field' && a.raw === 'set_field' && LEGACY_WHOLE.has(a.dst.field.ovsName) && a.mask !== allOnes(a.dst.field.bits)) {
      p.fail('OFCTL_BAD_MASK', `${it.tok}: OpenFlow 1.0 sets ${a.dst.field.ovsName} whole (ovs-ofctl -O OpenFlow10 silently drops the mask)`, it.col, it.tok);
    }
    if (it.kids !== null) refuseLossyOf10(p, it.kids);
  }
}

// ---- actions: public parse and print ------------------------------------------------------------

export interface ParseActionsOptions {
  /** 1-based line for errors (1 by default) */
  line?: number;
  /** column of the text's first character in its line (1 by default) */
  column?: number;
  /** check consistency with this match (ofpacts_check); omitted: no prerequisite checks */
  match?: Match;
  /** the flow's table (255 or omitted: none), for goto_table checks */
  table?: number;
  /**
   * refuse what ovs-ofctl refuses in this protocol and return the list as
   * ovs-vswitchd stores it after an add in it (actionsAsStored); omitted: the
   * list as written
   */
  protocols?: OfProtocol;
}

/**
 * Parse the action part of an ovs-ofctl flow (the text after `actions=`).
 * An empty text or `drop` is the empty list. Throws only FlowSyntaxError, with
 * 'line', the column of the offending token in the whole line, and the token.
 */
export function parseActions(text: string, opts: ParseActionsOptions = {}): Action[] {
  const p = new ActionParser(opts.line ?? 1);
  const col = opts.column ?? 1;
  const items = guard(p, () => p.list(text, col, true, 'none', 0), col, text);
  if (opts.match !== undefined || opts.protocols !== undefined) {
    guard(p, () => checkAndRestrict(p, items, opts.match ?? null, opts.table ?? 255, opts.protocols ?? null, col, text), col, text);
  }
  const acts = items.map((i) => i.a);
  return opts.protocols === undefined ? acts : actionsAsStored(acts, opts.protocols, opts.match ?? null);
}

/** Run ofpacts_check with 'match' and the protocol rules for 'protocols'. */
function checkAndRestrict(p: ActionParser, items: Item[], match: Match | null, table: number, protocols: OfProtocol | null,
  col: number, text: string): void {
  if (match !== null) {
    check(p, items, stateFromMatch(match, table), 'flow');
    if (p.usable === 0) p.fail('OFCTL_MISSING_PREREQ', 'actions are invalid with specified match (OFPBAC_MATCH_INCONSISTENT)', col, text);
  }
  if (protocols !== null) {
    const allowed = allowedFor(protocols);
    if ((p.usable & allowed) === 0) {
      const n = p.narrowings.find((x) => (x.mask & allowed) === 0) ?? { col, tok: text };
      p.fail('OFCTL_SYNTAX', `none of the usable flow formats (${protocolsText(p.usable)}) is among the allowed flow formats (${protocolsText(allowed)})`, n.col, n.tok);
    }
    if (protocols === 'OpenFlow10') refuseLossyOf10(p, items);
    else refuseOf13(p, items);
  }
}

/**
 * Run 'fn'; let FlowSyntaxError through and turn anything else (a bug) into an
 * OFCTL_SYNTAX error at 'col', so callers see one error type for any input.
 */
function guard<T>(p: ActionParser, fn: () => T, col: number, text: string): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof FlowSyntaxError) throw e;
    throw new FlowSyntaxError('OFCTL_SYNTAX', `internal error while parsing: ${e instanceof Error ? e.message : String(e)}`, col, text, p.line);
  }
}

/**
 * The actions as ovs-ofctl prints them (ofpacts_format), verbatim: no protocol
 * conversion (see actionsAsStored). The empty list is `drop`.
 */
export function formatActions(actions: readonly Action[]): string {
  if (actions.length === 0) return 'drop';
  return actions.map(formatAction).join(',');
}

function formatAction(a: Action): string {
  switch (a.type) {
    case 'output':
      if (a.port === OFPP_CONTROLLER) return `CONTROLLER:${a.maxLen}`;
      if (a.maxLen > 0) return `output(port=${portText(a.port)},max_len=${a.maxLen})`;
      return a.port < OFPP_MAX ? `output:${a.port}` : portText(a.port);
    case 'output_reg':
      return `output:${formatSubfield(a.src)}`;
    case 'controller': {
      if (a.reason === 'action' && a.controllerId === 0 && (a.userdata === null || a.userdata.length === 0) && !a.pause) {
        return `CONTROLLER:${a.maxLen}`;
      }
      const parts: string[] = [];
      if (a.reason !== 'action') parts.push(`reason=${a.reason}`);
      if (a.maxLen !== 0xffff) parts.push(`max_len=${a.maxLen}`);
      if (a.controllerId !== 0) parts.push(`id=${a.controllerId}`);
      if (a.userdata !== null && a.userdata.length > 0) parts.push(`userdata=${hexBytesText(a.userdata)}`);
      if (a.pause) parts.push('pause');
      return `controller(${parts.join(',')})`;
    }
    case 'resubmit':
      // format_RESUBMIT(): a port without a table prints `resubmit:PORT`, even with ct (OVS loses it in print)
      if (a.port !== OFPP_IN_PORT && a.table === 255) return `resubmit:${portText(a.port)}`;
      return `resubmit(${a.port !== OFPP_IN_PORT ? portText(a.port) : ''},${a.table !== 255 ? a.table : ''}${a.ct ? ',ct' : ''})`;
    case 'goto_table':
      return `goto_table:${a.table}`;
    case 'write_metadata':
      return `write_metadata:${hexText(a.value)}${a.mask !== U64_MAX ? `/${hexText(a.mask)}` : ''}`;
    case 'set_field': {
      const { v, m } = wholeValueMask(a);
      if (a.raw === 'load') {
        const loads = toLoads(a.dst.field, v, m);
        return loads.map((l) => (l.type === 'set_field' ? `load:${hexText(l.value)}->${formatSubfield(l.dst)}` : '')).join(',');
      }
      return `set_field:${formatFieldValue(a.dst.field, v, m)}->${a.dst.field.ovsName}`;
    }
    case 'move':
      return `move:${formatSubfield(a.src)}->${formatSubfield(a.dst)}`;
    case 'mod_dl_src':
    case 'mod_dl_dst':
      return `${a.type}:${macText(a.mac)}`;
    case 'mod_nw_src':
    case 'mod_nw_dst':
      return `${a.type}:${ipv4ToString(a.ip)}`;
    case 'mod_nw_tos':
      return `mod_nw_tos:${a.tos}`;
    case 'mod_nw_ecn':
      return `mod_nw_ecn:${a.ecn}`;
    case 'mod_nw_ttl':
      return `mod_nw_ttl:${a.ttl}`;
    case 'mod_tp_src':
    case 'mod_tp_dst':
      return `${a.type}:${a.port}`;
    case 'dec_ttl':
      return a.explicitIds ? `dec_ttl(${a.ids.join(',')})` : 'dec_ttl';
    case 'push_vlan':
      return `push_vlan:${hexText(a.tpid)}`;
    case 'pop_vlan':
      return a.raw;
    case 'mod_vlan_vid':
      return `mod_vlan_vid:${a.vid}`;
    case 'mod_vlan_pcp':
      return `mod_vlan_pcp:${a.pcp}`;
    case 'group':
      return `group:${a.groupId}`;
    case 'ct':
      return formatCt(a);
    case 'ct_clear':
      return 'ct_clear';
    case 'conjunction':
      return `conjunction(${a.id},${a.clause}/${a.nClauses})`;
    case 'learn':
      return formatLearn(a);
    case 'note':
      return `note:${hexBytesText(a.data)}`;
    case 'clone':
      return `clone(${formatActions(a.actions)})`;
    case 'write_actions':
      return `write_actions(${formatActions(a.actions)})`;
    case 'clear_actions':
      return 'clear_actions';
    case 'set_tunnel':
      return `set_tunnel${a.is64 || a.tunId > 0xffffffffn ? '64' : ''}:${hexText(a.tunId)}`;
    case 'exit':
      return 'exit';
  }
}

/** format_CT() with format_NAT(). */
function formatCt(a: CtAction): string {
  const parts: string[] = [];
  if (a.commit) parts.push('commit');
  if (a.force) parts.push('force');
  if (a.table !== null) parts.push(`table=${a.table}`);
  if (a.zoneSrc !== null) parts.push(`zone=${formatSubfield(a.zoneSrc)}`);
  else if (a.zone !== 0) parts.push(`zone=${a.zone}`);
  if (a.nat !== null) parts.push(formatNat(a.nat));
  if (a.exec.length > 0) parts.push(`exec(${formatActions(a.exec)})`);
  if (a.alg !== null) parts.push(`alg=${a.alg}`);
  return `ct(${parts.join(',')})`;
}

function formatNat(n: NatSpec): string {
  if (n.kind === null) return 'nat';
  let s = n.kind;
  if (n.addrMin !== null) {
    s += `=${ipv4ToString(n.addrMin)}`;
    if (n.addrMax !== null && n.addrMax !== 0 && n.addrMax !== n.addrMin) s += `-${ipv4ToString(n.addrMax)}`;
    if (n.portMin !== null && n.portMin !== 0) {
      s += `:${n.portMin}`;
      if (n.portMax !== null && n.portMax !== 0 && n.portMax !== n.portMin) s += `-${n.portMax}`;
    }
    // OVS prints the flags only after a range (format_NAT)
    if (n.persistent) s += ',persistent';
    if (n.hash) s += ',hash';
    if (n.random) s += ',random';
  }
  return `nat(${s})`;
}

/** learn_format(). */
function formatLearn(l: LearnAction): string {
  let s = `learn(table=${l.table}`;
  if (l.idleTimeout !== 0) s += `,idle_timeout=${l.idleTimeout}`;
  if (l.hardTimeout !== 0) s += `,hard_timeout=${l.hardTimeout}`;
  if (l.finIdleTimeout !== 0) s += `,fin_idle_timeout=${l.finIdleTimeout}`;
  if (l.finHardTimeout !== 0) s += `,fin_hard_timeout=${l.finHardTimeout}`;
  if (l.priority !== 32768) s += `,priority=${l.priority}`;
  if (l.sendFlowRem) s += ',send_flow_rem';
  if (l.deleteLearned) s += ',delete_learned';
  if (l.cookie !== 0n) s += `,cookie=${hexText(l.cookie)}`;
  if (l.limit !== 0) s += `,limit=${l.limit}`;
  for (const sp of l.specs) {
    s += ',';
    switch (sp.kind) {
      case 'match':
        if (sp.value !== null) {
          const whole = sp.dst.ofs === 0 && sp.dst.nBits === sp.dst.field.bits;
          s += whole ? `${sp.dst.field.ovsName}=${formatFieldValue(sp.dst.field, sp.value, null)}` : `${formatSubfield(sp.dst)}=${hexText(sp.value)}`;
        } else {
          s += formatSubfield(sp.dst);
          if (sp.src !== null && (sp.src.field !== sp.dst.field || sp.src.ofs !== sp.dst.ofs)) s += `=${formatSubfield(sp.src)}`;
        }
        break;
      case 'load':
        s += `load:${sp.value !== null ? hexText(sp.value) : sp.src !== null ? formatSubfield(sp.src) : '0'}->${formatSubfield(sp.dst)}`;
        break;
      case 'output':
        s += `output:${formatSubfield(sp.src)}`;
        break;
    }
  }
  return `${s})`;
}

// ---- flows ------------------------------------------------------------------------------------

export interface FlowParseOptions {
  /**
   * the OpenFlow version ovs-ofctl speaks (-O): 'OpenFlow10' by default, as the
   * 3.1 binary negotiates. Decides what is refused and the stored action list.
   */
  protocols?: OfProtocol;
  /** the match's prerequisite policy (match.ts): 'error' (default) or 'ovs' */
  prereqs?: 'error' | 'ovs';
}

/** OFPUTIL_FF_* words in ovs-ofctl's print order, with the protocols each needs. */
const FLOW_FLAGS: readonly (readonly [string, number])[] = [
  ['send_flow_rem', P_ANY], ['check_overlap', P_ANY], ['reset_counts', P_OF12_UP],
  ['no_packet_counts', P_OF13_UP], ['no_byte_counts', P_OF13_UP],
];

/**
 * Parse one `ovs-ofctl add-flow` line (parse_ofp_str__ for OFPFC_ADD): match
 * fields, table=, priority=, cookie=, idle_timeout=, hard_timeout=,
 * importance=, flag words, then `actions=` (everything after the first
 * "action…=" is actions). Returns null for a blank line. The actions are those
 * ovs-vswitchd stores after an add in 'protocols' (OpenFlow10 by default); an
 * OpenFlow 1.0 add also sets reset_counts, as OVS does.
 * Throws only FlowSyntaxError (line 'line', column and token of the fault).
 */
export function parseFlowLine(text: string, line = 1, opts: FlowParseOptions = {}): FlowSpec | null {
  return parseFlow(text, line, opts, false);
}

function parseFlow(text: string, line: number, opts: FlowParseOptions, allowCommand: boolean): FlowSpec | null {
  return parseLine(text, line, (p) => parseFlowInner(p, text, line, opts,
    allowCommand ? skipAddCommand(p, text, ['delete', 'delete_strict', 'modify', 'modify_strict']) : 0));
}

/** One non-blank line through 'inner' with an ActionParser for 'line'; null for a blank line. */
function parseLine<T>(text: string, line: number, inner: (p: ActionParser) => T): T | null {
  if (/^[ \t\r\n]*$/.test(text)) return null;
  const p = new ActionParser(line);
  return guard(p, () => inner(p), 1, text);
}

/**
 * A file line may start with its command word, as ovs-ofctl's add-flows/add-groups files may:
 * `add` (or none) is skipped and the column after it returned; the 'others' (commands sdnemu
 * does not apply from a file) are refused.
 */
function skipAddCommand(p: ActionParser, text: string, others: string[]): number {
  const lead = /^[ \t\r\n]*/.exec(text)![0].length;
  const m = /^[^, \t\r\n]*/.exec(text.slice(lead))![0];
  if (m.length === 0 || 'add'.startsWith(m)) return lead + m.length;
  if (others.some((c) => c.startsWith(m))) p.fail('OFCTL_SYNTAX', `${m}: sdnemu reads add commands only`, lead + 1, m);
  return 0;
}

/** what a FlowSpec's match is until its MatchBuilder finishes (never read, never stored) */
const NO_MATCH_YET = new Match();

function parseFlowInner(p: ActionParser, text: string, line: number, opts: FlowParseOptions, start: number): FlowSpec {
  const protocols = opts.protocols ?? 'OpenFlow10';
  const actIdx = text.indexOf('action', start);
  const eq = actIdx < 0 ? -1 : text.indexOf('=', actIdx + 1);
  if (eq < 0) p.fail('OFCTL_SYNTAX', 'must specify an action', actIdx < 0 ? text.length + 1 : actIdx + 1, actIdx < 0 ? text.trim() : text.slice(actIdx));
  const spec: FlowSpec = {
    table: 0, priority: 32768, cookie: 0n, idleTimeout: 0, hardTimeout: 0, importance: 0, flags: [],
    match: NO_MATCH_YET, actions: [], line,
  };
  let table = 255;
  const flags = new Set<string>();
  const b = new MatchBuilder(line);
  const head = text.slice(start, actIdx);
  for (const [key, value, kc] of tokenize(head)) {
    const col = start + kc;
    const vcol = col + key.length + 1;
    const flag = FLOW_FLAGS.find(([n]) => n === key);
    if (flag !== undefined) {
      flags.add(key);
      p.narrow(flag[1], col, key);
      continue;
    }
    if (key === 'no_readonly_table' || key === 'allow_hidden_fields') continue;
    if (b.add(key, value, col)) continue;
    if (key.includes('[')) {
      subfieldMatch(p, b, key, value, col, vcol);
      continue;
    }
    if (value === '') p.fail('OFCTL_UNKNOWN_FIELD', `field ${key} missing value`, col, key);
    switch (key) {
      case 'table': {
        const t = tableFromString(value);
        if (t < 0) p.fail('OFCTL_BAD_VALUE', `unknown table "${value}"`, vcol, value);
        table = t;
        if (t !== 255) p.narrow(P_TID, col, `${key}=${value}`);
        break;
      }
      case 'priority': spec.priority = p.uint(value, 65535, 'priority', vcol); break;
      case 'idle_timeout': spec.idleTimeout = p.uint(value, 65535, 'idle_timeout', vcol); break;
      case 'hard_timeout': spec.hardTimeout = p.uint(value, 65535, 'hard_timeout', vcol); break;
      case 'importance': spec.importance = p.uint(value, 65535, 'importance', vcol); break;
      case 'cookie':
        if (value.includes('/')) p.fail('OFCTL_SYNTAX', 'flow additions cannot use a cookie mask', vcol, value);
        spec.cookie = p.unum(value, 64, vcol);
        break;
      case 'conj_id':
        // the rule a complete conjunction(ID, k/n) leads to (bridge.ts FlowTable.lookup)
        spec.conjId = Number(p.unum(value, 32, vcol));
        break;
      case 'duration': case 'n_packets': case 'n_bytes': case 'idle_age': case 'hard_age':
        break;
      default:
        p.fail('OFCTL_UNKNOWN_FIELD', `unknown keyword ${key}`, col, key);
    }
  }
  spec.match = b.finish(opts.prereqs === 'ovs' ? { prereqs: 'ovs', line } : { line });
  spec.table = table === 255 ? 0 : table;
  const acol = eq + 2;
  const atext = text.slice(eq + 1);
  const items = p.list(atext, acol, true, 'none', 0);
  checkAndRestrict(p, items, spec.match, table, protocols, acol, atext);
  if (protocols === 'OpenFlow10') flags.add('reset_counts');
  spec.flags = FLOW_FLAGS.filter(([n]) => flags.has(n)).map(([n]) => n);
  spec.actions = actionsAsStored(items.map((i) => i.a), protocols, spec.match);
  return spec;
}

/**
 * A `field[a..b]=value` match item (parse_subfield in ofp-flow.c): the bits are
 * merged into the field's current value and mask, then applied through the
 * MatchBuilder as `field=value/mask`.
 */
function subfieldMatch(p: ActionParser, b: MatchBuilder, key: string, value: string, col: number, vcol: number): void {
  const r = parseSubfield(key);
  if (!('ref' in r)) return p.fail(r.unknown ? 'OFCTL_UNKNOWN_FIELD' : 'OFCTL_BAD_VALUE', r.error, col, key);
  const ref = r.ref, f = ref.field;
  const v = parseIntString(value, f.nBytes);
  if (v === null) p.fail('OFCTL_BAD_VALUE', `${key}: cannot parse integer value: ${value}`, vcol, value);
  if (v > allOnes(ref.nBits)) p.fail('OFCTL_BAD_VALUE', `${key}: value ${formatFieldValue(f, v, null)} does not fit into ${ref.nBits} bits`, vcol, value);
  if (f.word < 0 || !f.maskable || (f.storage !== 'word' && f.storage !== 'u64' && f.storage !== 'mac')
    || !['hex', 'decimal', 'ipv4', 'mac'].includes(f.format)) {
    p.fail('OFCTL_SYNTAX', `${key}: sdnemu matches sub-fields only of maskable numeric, IPv4 or Ethernet fields`, col, key);
  }
  const whole = wholeField(f);
  let cv = readSubfield(b.match.value, 0, whole), cm = readSubfield(b.match.mask, 0, whole);
  const sm = allOnes(ref.nBits) << BigInt(ref.ofs);
  cv = (cv & ~sm) | (v << BigInt(ref.ofs));
  cm |= sm;
  b.add(f.name, `${formatFieldValue(f, cv, null)}/${formatFieldValue(f, cm, null)}`, col);
}

/**
 * Parse an `ovs-ofctl add-flows` file: one flow per line, `#` starts a comment
 * anywhere in a line, blank lines are skipped, a line may start with the
 * command word `add` (ds_get_preprocessed_line + parse_ofp_flow_mod_str with
 * command -2; OVS 3.1 has no line continuation). Errors carry the 1-based line.
 */
export function parseFlowsFile(text: string, opts: FlowParseOptions = {}): FlowSpec[] {
  return fileLines(text).map(([l, n]) => parseFlowCached(l, n, opts)).filter((x): x is FlowSpec => x !== null);
}

/**
 * Flows parsed lately, by options and line text: a line seen again (the same flows on many
 * bridges: a cluster's nodes) is not parsed again, and its FlowSpec — match and actions, which
 * nothing changes once parsed — is shared (a copy of the record when its line number differs).
 * Bounded: emptied when full. A line that fails is never kept (it fails again, at its own line).
 */
const parsedFlows = new Map<string, FlowSpec>();
const PARSED_FLOWS_MAX = 2048;

function parseFlowCached(text: string, line: number, opts: FlowParseOptions): FlowSpec | null {
  const key = `${opts.protocols ?? 'OpenFlow10'}|${opts.prereqs ?? 'error'}|${text}`;
  const hit = parsedFlows.get(key);
  if (hit !== undefined) return hit.line === line ? hit : { ...hit, line };
  const spec = parseFlow(text, line, opts, true);
  if (spec === null) return null;
  if (parsedFlows.size >= PARSED_FLOWS_MAX) parsedFlows.clear();
  parsedFlows.set(key, spec);
  return spec;
}

/** The lines of an ovs-ofctl file with `#` comments cut and blank lines dropped, each with its 1-based number. */
function fileLines(text: string): [string, number][] {
  const out: [string, number][] = [];
  text.split('\n').forEach((raw, i) => {
    const hash = raw.indexOf('#');
    const l = hash >= 0 ? raw.slice(0, hash) : raw;
    if (!/^[ \t\n]*$/.test(l)) out.push([l, i + 1]);
  });
  return out;
}

export interface FlowStats {
  durationSec: number;
  nPackets: number;
  nBytes: number;
  /** seconds since last use (printed as idle_age when given: OpenFlow 1.0/NXM dumps) */
  idleAge?: number;
  /** seconds since last modification (printed as hard_age when given and ≠ duration's seconds) */
  hardAge?: number;
}

/** ofp_print_duration(): `1s`, `1.234s`, `0.000000001s`. */
function durationText(d: number): string {
  const sec = Math.floor(d);
  const nsec = Math.round((d - sec) * 1e9);
  if (nsec === 0) return `${sec}s`;
  if (nsec >= 1e9) return `${sec + 1}s`;
  if (nsec % 1e6 === 0) return `${sec}.${String(nsec / 1e6).padStart(3, '0')}s`;
  return `${sec}.${String(nsec).padStart(9, '0').replace(/0+$/, '')}s`;
}

/**
 * One `ovs-ofctl dump-flows` line (ofputil_flow_stats_format), leading space
 * included. With 'stats': cookie, duration, table, n_packets, n_bytes always;
 * without (as --no-stats): cookie only when nonzero, table only when nonzero.
 * priority is omitted when 32768. 'protocols' is the dump's version
 * (OpenFlow10 by default, as ovs-ofctl): OpenFlow 1.0 flow stats carry no flags
 * and neither 1.0 nor 1.3 carries importance; the actions are printed as
 * actionsAsStored() gives them for that version.
 */
export function formatFlowLine(spec: FlowSpec, stats?: FlowStats, opts: { protocols?: OfProtocol } = {}): string {
  const protocols = opts.protocols ?? 'OpenFlow10';
  let s = ' ';
  if (stats !== undefined || spec.cookie !== 0n) s += `cookie=0x${spec.cookie.toString(16)}, `;
  if (stats !== undefined) s += `duration=${durationText(stats.durationSec)}, `;
  if (stats !== undefined || spec.table !== 0) s += `table=${spec.table}, `;
  if (stats !== undefined) s += `n_packets=${stats.nPackets}, n_bytes=${stats.nBytes}, `;
  if (spec.idleTimeout !== 0) s += `idle_timeout=${spec.idleTimeout}, `;
  if (spec.hardTimeout !== 0) s += `hard_timeout=${spec.hardTimeout}, `;
  if (protocols !== 'OpenFlow10') for (const [n] of FLOW_FLAGS) if (spec.flags.includes(n)) s += `${n} `;
  if (stats?.idleAge !== undefined) s += `idle_age=${stats.idleAge}, `;
  if (stats?.hardAge !== undefined && stats.hardAge !== Math.floor(stats.durationSec)) s += `hard_age=${stats.hardAge}, `;
  const m = formatRuleMatch(spec);
  const match = spec.priority !== 32768 ? (m === '' ? `priority=${spec.priority}` : `priority=${spec.priority},${m}`) : m;
  if (match !== '') s += `${match} `;
  return `${s}actions=${formatActions(actionsAsStored(spec.actions, protocols, spec.match))}`;
}

/** A flow's match as OVS prints it: conj_id (a metadata field, printed first) then formatMatch(). */
export function formatRuleMatch(spec: FlowSpec): string {
  const m = formatMatch(spec.match);
  if (spec.conjId === undefined) return m;
  return m === '' ? `conj_id=${spec.conjId}` : `conj_id=${spec.conjId},${m}`;
}

// ---- groups ------------------------------------------------------------------------------------

const OFPG_MAX = 0xffffff00, OFPG_ANY = 0xffffffff, OFPG_BUCKET_MAX = 0xffffff00;

export interface GroupParseOptions {
  /** as for flows: what is refused and how bucket actions are stored (OpenFlow10 by default) */
  protocols?: OfProtocol;
}

/**
 * Parse one `ovs-ofctl add-group` line (parse_ofp_group_mod_str__ for
 * OFPGC11_ADD): group_id=, type=all|select|indirect|ff|fast_failover,
 * selection_method=, fields(...)/fields=, then `bucket=` items (weight:,
 * watch_port:, watch_group:, bucket_id:, actions=… or bare actions). Null for a
 * blank line. Throws only FlowSyntaxError.
 */
export function parseGroupLine(text: string, line = 1, opts: GroupParseOptions = {}): GroupSpec | null {
  return parseGroup(text, line, opts, false);
}

function parseGroup(text: string, line: number, opts: GroupParseOptions, allowCommand: boolean): GroupSpec | null {
  return parseLine(text, line, (p) => parseGroupInner(p, text, line, opts,
    allowCommand ? skipAddCommand(p, text, ['delete', 'modify', 'add_or_mod', 'insert_bucket', 'remove_bucket']) : 0));
}

function parseGroupInner(p: ActionParser, text: string, line: number, opts: GroupParseOptions, start: number): GroupSpec {
  const g: GroupSpec = { groupId: OFPG_ANY, type: 'all', selectionMethod: '', fields: [], buckets: [], line };
  let hadType = false;
  const bkt = text.indexOf('bucket=', start);
  const head = text.slice(start, bkt < 0 ? text.length : bkt);
  for (const [key, value, kc] of tokenize(head)) {
    const col = start + kc, vcol = col + key.length + 1;
    switch (key) {
      case 'group_id':
        if (value === 'all') p.fail('OFCTL_BAD_VALUE', 'group_id=all: sdnemu adds numbered groups only', vcol, value);
        g.groupId = Number(p.unum(value, 32, vcol));
        if (g.groupId > OFPG_MAX) p.fail('OFCTL_BAD_VALUE', `invalid group id ${g.groupId}`, vcol, value);
        break;
      case 'type': {
        const t: GroupType | undefined = value === 'all' ? 'all' : value === 'select' ? 'select' : value === 'indirect' ? 'indirect'
          : value === 'ff' || value === 'fast_failover' ? 'ff' : undefined;
        if (t === undefined) p.fail('OFCTL_BAD_VALUE', `invalid group type ${value}`, vcol, value);
        g.type = t;
        hadType = true;
        break;
      }
      case 'selection_method':
        if (value.length >= 16) p.fail('OFCTL_BAD_VALUE', 'selection method is longer than 15 bytes long', vcol, value);
        g.selectionMethod = value;
        break;
      case 'selection_method_param':
        p.fail('OFCTL_SYNTAX', 'selection_method_param: sdnemu does not model it', col, key);
        break;
      case 'fields':
        g.fields = selectFields(p, value, vcol);
        break;
      case 'command_bucket_id':
        p.fail('OFCTL_SYNTAX', 'command bucket id is not needed', col, key);
        break;
      default:
        p.fail('OFCTL_UNKNOWN_FIELD', `unknown keyword ${key}`, col, key);
    }
  }
  if (g.groupId === OFPG_ANY) p.fail('OFCTL_SYNTAX', 'must specify a group_id', 1, text);
  if (!hadType) p.fail('OFCTL_SYNTAX', 'must specify a type', 1, text);
  if (g.selectionMethod !== 'hash' && g.fields.length > 0) {
    p.fail('OFCTL_SYNTAX', 'fields may only be specified with "selection_method=hash"', 1, text);
  }
  // buckets: each from its "bucket=" to the next
  let at = bkt;
  while (at >= 0) {
    const next = text.indexOf('bucket=', at + 7);
    const body = text.slice(at + 7, next < 0 ? text.length : next);
    g.buckets.push(parseBucket(p, body, at + 8, g.type, opts.protocols ?? 'OpenFlow10'));
    at = next;
  }
  if (g.type === 'indirect' && g.buckets.length > 1) {
    p.fail('OFCTL_BAD_VALUE', 'Indirect groups can have at most one bucket.', bkt + 1, text.slice(bkt));
  }
  return g;
}

/** parse_select_group_field(): `fields(a,b=mask,…)` in OVS's field order. */
function selectFields(p: ActionParser, value: string, vcol: number): string[] {
  const seen = new Map<string, string>();
  for (const [name, v, c] of tokenize(value)) {
    const col = vcol + c - 1;
    const f = fieldByName(name);
    const rest = value.slice(c - 1 + name.length + (v === '' ? 0 : v.length + 1)).replace(/^[, \t\r\n]*/, '');
    if (f === undefined || f === CT_LABEL_FIELD) p.fail('OFCTL_UNKNOWN_FIELD', `${rest}: unknown field ${name}`, col, name);
    if (seen.has(f.ovsName)) p.fail('OFCTL_BAD_VALUE', `${name}: duplicate field`, col, name);
    let text = f.ovsName;
    if (v !== '') {
      const b = new MatchBuilder(p.line);
      b.add(f.name, v, col);
      const mask = readSubfield(b.match.value, 0, wholeField(f));
      if (mask === 0n) p.fail('OFCTL_BAD_VALUE', `${rest}: values are wildcards here and must not be all-zeros`, col + name.length + 1, v);
      if (mask !== allOnes(f.bits)) text += `=${formatFieldValue(f, mask, null)}`;
    }
    seen.set(f.ovsName, text);
  }
  return MFF_ORDER.filter((n) => seen.has(n)).map((n) => seen.get(n)!);
}

/** parse_bucket_str(): weight:, watch_port:, watch_group:, bucket_id:, actions=…, bare actions. */
function parseBucket(p: ActionParser, body: string, base: number, type: GroupType, protocols: OfProtocol): Bucket {
  const b: Bucket = { bucketId: -1, weight: type === 'select' ? 1 : 0, watchPort: OFPP_NONE, watchGroup: OFPG_ANY, actions: [] };
  const items: Item[] = [];
  const st: DropState = { drop: null };
  let any = false;
  for (const [key, value, kc] of tokenize(body)) {
    const col = base + kc - 1, vcol = col + key.length + 1;
    const k = key.toLowerCase();
    if (k === 'weight') b.weight = p.uint(value, 65535, 'weight', vcol);
    else if (k === 'watch_port') {
      const port = portFromString(value);
      if (port < 0 || (port >= OFPP_MAX && port !== OFPP_NONE && port !== OFPP_CONTROLLER)) {
        p.fail('OFCTL_BAD_VALUE', `${value}: invalid watch_port`, vcol, value);
      }
      b.watchPort = port;
    } else if (k === 'watch_group') {
      b.watchGroup = Number(p.unum(value, 32, vcol));
      if (b.watchGroup > OFPG_MAX) p.fail('OFCTL_BAD_VALUE', `invalid watch_group id ${b.watchGroup}`, vcol, value);
    } else if (k === 'bucket_id') {
      b.bucketId = Number(p.unum(value, 32, vcol));
      if (b.bucketId > OFPG_BUCKET_MAX) p.fail('OFCTL_BAD_VALUE', `invalid bucket_id id ${b.bucketId}`, vcol, value);
    } else if (k === 'action' || k === 'actions') {
      any = true;
      p.items(value, vcol, 'none', 1, items, st);
    } else {
      any = true;
      const delim = body[kc - 1 + key.length] ?? '';
      const hasValue = delim === ':' || delim === '=' || delim === '(';
      p.items(hasValue ? `${key}(${value})` : key, col, 'none', 1, items, st);
    }
  }
  if (!any) p.fail('OFCTL_SYNTAX', 'bucket must specify actions', base, body);
  if (type === 'ff' && b.watchPort === OFPP_NONE && b.watchGroup === OFPG_ANY) {
    p.fail('OFCTL_BAD_VALUE', 'fast failover bucket requires watch_port or watch_group', base, body);
  }
  p.finish(items, st, false, 'none');
  check(p, items, stateFromMatch(null, 255), 'group');
  if (protocols === 'OpenFlow10') refuseLossyOf10(p, items);
  else refuseOf13(p, items);
  if (type !== 'select' && b.weight !== 0) p.fail('OFCTL_BAD_VALUE', 'Only select groups can have bucket weights.', base, body);
  b.actions = actionsAsStored(items.map((i) => i.a), protocols, null);
  return b;
}

/** Parse an `ovs-ofctl add-groups` file (comments, blank lines and the `add` word as for flows). */
export function parseGroupsFile(text: string, opts: GroupParseOptions = {}): GroupSpec[] {
  return fileLines(text).map(([l, n]) => parseGroup(l, n, opts, true)).filter((x): x is GroupSpec => x !== null);
}

/**
 * The bucket ids ovs-ofctl sends: a bucket without bucket_id takes the lowest
 * id not yet taken by an earlier generated id or by a later explicit one
 * (ofputil_encode_ofp15_group_mod's id pool).
 */
function bucketIds(buckets: readonly Bucket[]): number[] {
  const ids: number[] = [];
  let pool: Set<number> | null = null;
  for (let i = 0; i < buckets.length; i++) {
    const b = buckets[i]!;
    if (b.bucketId >= 0 && b.bucketId <= OFPG_BUCKET_MAX) {
      ids.push(b.bucketId);
      continue;
    }
    if (pool === null) {
      pool = new Set<number>();
      for (let j = i + 1; j < buckets.length; j++) {
        const id = buckets[j]!.bucketId;
        if (id >= 0 && id <= OFPG_BUCKET_MAX) pool.add(id);
      }
    }
    let id = 0;
    while (pool.has(id)) id++;
    pool.add(id);
    ids.push(id);
  }
  return ids;
}

/**
 * One `ovs-ofctl dump-groups` line (ofp_print_group) without the leading space:
 * `group_id=1,type=select,bucket=bucket_id:0,weight:100,actions=output:2,…`.
 * 'protocols' is the dump's version (OpenFlow10 by default, as ovs-ofctl):
 * OpenFlow 1.0 (Nicira group extension) shows bucket ids and the selection
 * method; OpenFlow 1.3 shows neither.
 */
export function formatGroupLine(g: GroupSpec, opts: { protocols?: OfProtocol } = {}): string {
  const protocols = opts.protocols ?? 'OpenFlow10';
  const of10 = protocols === 'OpenFlow10';
  let s = `group_id=${g.groupId},type=${g.type}`;
  if (of10 && g.selectionMethod !== '') {
    s += `,selection_method=${g.selectionMethod}`;
    if (g.fields.length === 1) s += `,fields=${g.fields[0]}`;
    else if (g.fields.length > 1) s += `,fields(${g.fields.join(',')})`;
  }
  const ids = bucketIds(g.buckets);
  g.buckets.forEach((b, i) => {
    s += ',bucket=';
    if (of10) s += `bucket_id:${ids[i]},`;
    if (b.weight !== (g.type === 'select' ? 1 : 0)) s += `weight:${b.weight},`;
    if (b.watchPort !== OFPP_NONE) s += `watch_port:${portText(b.watchPort)},`;
    if (b.watchGroup !== OFPG_ANY) s += `watch_group:${b.watchGroup},`;
    s += `actions=${formatActions(actionsAsStored(b.actions, protocols, null))}`;
  });
  return s;
}
