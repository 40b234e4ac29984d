/**
 * OpenFlow actions (ofproto layer, slow path): the action list of a flow
 * entry or group bucket as plain records — sdnemu's `struct ofpact`.
 *
 * What: `Action` is a union discriminated by 'type', one member per action
 * ovs-ofctl accepts that sdnemu executes (issue 3's list plus the few that
 * Neutron/OVN pipelines also use: clone, exit, set_tunnel, ct_clear,
 * write_actions/clear_actions, mod_vlan_pcp). An empty list is `drop`.
 * `FieldRef` is a sub-field `field[ofs..ofs+nBits-1]` (`reg0[0..15]`,
 * `NXM_OF_ETH_SRC[]`), the operand of move/load/learn/output:reg.
 *
 * Why records: the same list is parsed from ovs-ofctl text (ofctl.ts),
 * printed back in `dump-flows` syntax (ofctl.ts), translated into datapath
 * actions with un-wildcarding (xlate.ts) and shown in traces. Like OVS's
 * ofpacts, an action remembers how it was written when that changes how it
 * prints ('raw': `load:` vs `set_field:`, `strip_vlan` vs `pop_vlan`,
 * `mod_vlan_vid` vs `set_field:…->vlan_vid`), never how it executes.
 *
 * Values: 64-bit and wider values are `bigint`s (slow path); a MAC is a
 * bigint of 48 bits, an IPv4 address a uint32 number, IPv6 a bigint of 128.
 *
 * Helpers here read and write a FieldRef in a flow key (`readSubfield`,
 * `writeSubfield`) and un-wildcard it (`maskSubfield`) — the single place
 * that knows how a field's bits map onto key words (fields.ts gives the
 * storage), shared by xlate and learn.
 * Neighbours: flow/fields.ts (FieldDef), flow/key.ts; ofctl.ts (text),
 * groups.ts, xlate.ts.
 */
import { type FieldDef } from '../flow/fields.js';

/** OpenFlow reserved ports (OF1.0 numbering, as OVS uses internally). */
export const OFPP_IN_PORT = 0xfff8, OFPP_TABLE = 0xfff9, OFPP_NORMAL = 0xfffa, OFPP_FLOOD = 0xfffb,
  OFPP_ALL = 0xfffc, OFPP_CONTROLLER = 0xfffd, OFPP_LOCAL = 0xfffe, OFPP_NONE = 0xffff;

/** A sub-field: bits [ofs, ofs+nBits) of 'field' (bit 0 = the value's LSB). */
export interface FieldRef {
  readonly field: FieldDef;
  readonly ofs: number;
  readonly nBits: number;
}

/** NAT parameters of ct(nat(...)); an empty `nat` has kind null. */
export interface NatSpec {
  /** 'src' or 'dst' translation, or null for plain `nat` (reverse only). */
  kind: 'src' | 'dst' | null;
  /** address range, IPv4 as numbers (minimum, maximum); null when absent */
  addrMin: number | null;
  addrMax: number | null;
  /** port range; null when absent */
  portMin: number | null;
  portMax: number | null;
  persistent: boolean;
  hash: boolean;
  random: boolean;
}

/** One spec of learn(): match a field, load a field, or output to a port field. */
export type LearnSpec =
  /** `dst[..]=src[..]` or `dst[..]` (src = same field of the packet) or `dst=value` */
  | { kind: 'match'; dst: FieldRef; src: FieldRef | null; value: bigint | null }
  /** `load:src[..]->dst[..]` or `load:value->dst[..]` */
  | { kind: 'load'; dst: FieldRef; src: FieldRef | null; value: bigint | null }
  /** `output:src[..]` */
  | { kind: 'output'; src: FieldRef };

export interface LearnAction {
  type: 'learn';
  table: number;
  priority: number;
  idleTimeout: number;
  hardTimeout: number;
  finIdleTimeout: number;
  finHardTimeout: number;
  cookie: bigint;
  sendFlowRem: boolean;
  deleteLearned: boolean;
  limit: number;
  specs: LearnSpec[];
}

export interface CtAction {
  type: 'ct';
  commit: boolean;
  force: boolean;
  /** immediate zone, or null when 'zoneSrc' gives it */
  zone: number;
  zoneSrc: FieldRef | null;
  /** recirculate to this table after conntrack, or null (no recirculation) */
  table: number | null;
  alg: string | null;
  nat: NatSpec | null;
  /** exec(...) actions: set_field/load of ct_mark and ct_label only */
  exec: Action[];
}

export type Action =
  /** output:PORT, or a bare port number; includes IN_PORT, LOCAL, NORMAL, FLOOD, ALL */
  | { type: 'output'; port: number; maxLen: number }
  /** output:field[] */
  | { type: 'output_reg'; src: FieldRef; maxLen: number }
  /** controller, controller:N, controller(reason=..,max_len=..,id=..,userdata=..,pause) */
  | { type: 'controller'; reason: 'action' | 'no_match' | 'invalid_ttl'; maxLen: number; controllerId: number; userdata: Uint8Array | null; pause: boolean }
  /** resubmit:PORT, resubmit(PORT,TABLE), resubmit(,TABLE); port OFPP_IN_PORT = keep; table 255 = this table */
  | { type: 'resubmit'; port: number; table: number; ct: boolean }
  | { type: 'goto_table'; table: number }
  | { type: 'write_metadata'; value: bigint; mask: bigint }
  /** set_field:VALUE[/MASK]->FIELD ('raw' remembers load: syntax for printing) */
  | { type: 'set_field'; dst: FieldRef; value: bigint; mask: bigint; raw: 'set_field' | 'load' }
  | { type: 'move'; src: FieldRef; dst: FieldRef }
  /** mod_dl_src/mod_dl_dst, mod_nw_*, mod_tp_* (OpenFlow 1.0 style rewrites, printed as written) */
  | { type: 'mod_dl_src' | 'mod_dl_dst'; mac: bigint }
  | { type: 'mod_nw_src' | 'mod_nw_dst'; ip: number }
  | { type: 'mod_nw_tos'; tos: number }
  | { type: 'mod_nw_ecn'; ecn: number }
  | { type: 'mod_nw_ttl'; ttl: number }
  | { type: 'mod_tp_src' | 'mod_tp_dst'; port: number }
  /** dec_ttl or dec_ttl(id,…): 'ids' are the controller ids to notify; [0] by default */
  | { type: 'dec_ttl'; ids: number[]; explicitIds: boolean }
  | { type: 'push_vlan'; tpid: number }
  /** pop_vlan, or strip_vlan ('raw' for printing) */
  | { type: 'pop_vlan'; raw: 'pop_vlan' | 'strip_vlan' }
  /** mod_vlan_vid:VID (pushes a tag on an untagged packet, as OVS's OF1.0 semantics) */
  | { type: 'mod_vlan_vid'; vid: number }
  | { type: 'mod_vlan_pcp'; pcp: number }
  | { type: 'group'; groupId: number }
  | CtAction
  | { type: 'ct_clear' }
  | { type: 'conjunction'; id: number; clause: number; nClauses: number }
  | LearnAction
  | { type: 'note'; data: Uint8Array }
  | { type: 'clone'; actions: Action[] }
  | { type: 'write_actions'; actions: Action[] }
  | { type: 'clear_actions' }
  /** set_tunnel:ID / set_tunnel64:ID */
  | { type: 'set_tunnel'; tunId: bigint; is64: boolean }
  | { type: 'exit' };

export type ActionType = Action['type'];

// ---- sub-field access on flow keys ------------------------------------------------------------

/**
 * Visit the key words sub-field 'r' occupies, least significant part first:
 * 'fn'(word index, bit position in the word, width in bits, position of
 * that part in the sub-field's value). At most five calls (a 128-bit field).
 */
function chunks(r: FieldRef, fn: (w: number, bit: number, width: number, at: number) => void): void {
  const f = r.field, end = r.ofs + r.nBits;
  if (f.storage === 'word') { fn(f.word, f.shift + r.ofs, r.nBits, 0); return; }
  for (let i = r.ofs; i < end;) {
    const bit = i & 31, width = Math.min(32 - bit, end - i);
    fn(f.word + f.nWords - 1 - (i >>> 5), bit, width, i - r.ofs);
    i += width;
  }
}

/** A mask of the low 'n' (1..32) bits, as a uint32. */
function low(n: number): number {
  return n >= 32 ? 0xffffffff : ((1 << n) - 1) >>> 0;
}

/** The value of sub-field 'r' of the key at 'key'[base…], as a bigint. */
export function readSubfield(key: Uint32Array, base: number, r: FieldRef): bigint {
  let v = 0n;
  chunks(r, (w, bit, width, at) => {
    v |= BigInt(((key[base + w]! >>> bit) & low(width)) >>> 0) << BigInt(at);
  });
  return v;
}

/** Store the low r.nBits bits of 'value' into sub-field 'r' of the key. */
export function writeSubfield(key: Uint32Array, base: number, r: FieldRef, value: bigint): void {
  chunks(r, (w, bit, width, at) => {
    const m = (low(width) << bit) >>> 0;
    const part = (Number((value >> BigInt(at)) & BigInt(low(width))) << bit) >>> 0;
    key[base + w] = ((key[base + w]! & ~m) | part) >>> 0;
  });
}

/** OR sub-field 'r''s bits into the wildcard mask 'wc' (un-wildcard them). */
export function maskSubfield(wc: Uint32Array, r: FieldRef): void {
  maskSubfieldBits(wc, r, -1n);
}

/** OR into 'wc' the bits of sub-field 'r' that 'mask' (in the sub-field's value space; -1n = all) selects. */
export function maskSubfieldBits(wc: Uint32Array, r: FieldRef, mask: bigint): void {
  chunks(r, (w, bit, width, at) => {
    const part = mask === -1n ? low(width) : Number((mask >> BigInt(at)) & BigInt(low(width)));
    wc[w] = (wc[w]! | (part << bit)) >>> 0;
  });
}

/** The whole of field 'f' as a FieldRef (`f[]`). */
export function wholeField(f: FieldDef): FieldRef {
  return { field: f, ofs: 0, nBits: f.bits };
}

// ---- flow and group specifications (what an add-flow / add-group line says) ------------------

/** One flow as an `ovs-ofctl add-flow(s)` line gives it. */
export interface FlowSpec {
  table: number;
  priority: number;
  cookie: bigint;
  idleTimeout: number;
  hardTimeout: number;
  importance: number;
  /** OFPFF_* words as ovs-ofctl spells them: send_flow_rem, check_overlap, reset_counts, no_packet_counts, no_byte_counts */
  flags: string[];
  match: import('../flow/match.js').Match;
  /** `conj_id=N` in the match: the rule a satisfied conjunction(N, …) leads to; absent otherwise */
  conjId?: number;
  actions: Action[];
  /** 1-based line in the source file (1 for a single string) */
  line: number;
}

export type GroupType = 'all' | 'select' | 'indirect' | 'ff';

export interface Bucket {
  /** bucket_id, or -1 when not given (OVS numbers them from 0 in order) */
  bucketId: number;
  weight: number;
  watchPort: number;
  watchGroup: number;
  actions: Action[];
}

/** One group as an `ovs-ofctl add-group(s)` line gives it. */
export interface GroupSpec {
  groupId: number;
  type: GroupType;
  /** selection_method=hash|dp_hash, or '' for OVS's default */
  selectionMethod: string;
  /** fields(...) of a hash selection method */
  fields: string[];
  buckets: Bucket[];
  line: number;
}
