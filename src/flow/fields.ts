/**
 * The field registry (flow layer, slow path): every match field by the name
 * users type in ovs-ofctl syntax, and how it maps onto the key (key.ts).
 *
 * What: `FIELDS` maps each accepted name (OVS's name and the aliases
 * ovs-ofctl accepts: `dl_src`/`eth_src`, `nw_src`/`ip_src`, `tp_dst`,
 * `tcp_dst`, `udp_dst`, `tunnel_id`, …) to a `FieldDef`: width in bits, the
 * key words it occupies, where its bits sit in a word, whether it is
 * maskable, its prerequisites, its value format and OVS's canonical name
 * (the one ovs-ofctl's error messages use: `tp_dst` is reported as
 * `tcp_dst`, `dl_type` as `eth_type`). `PROTOCOLS` maps the shorthand
 * keywords (`ip`, `tcp6`, `arp`, …) to dl_type/nw_proto, as OVS's
 * `ofp_parse_protocol()` does.
 * Why one table: the parser, the printer, the classifier's prerequisite
 * checks and (later) set_field/load/move all need the same facts; OVS keeps
 * them in meta-flow.h's `mf_fields[]`.
 * Shared storage (as OVS): arp_op/arp_spa/arp_tpa live in nw_proto/nw_src/
 * nw_dst; icmp_type/icmp_code and icmpv6_* in tp_src/tp_dst; dl_vlan,
 * dl_vlan_pcp, vlan_vid and vlan_pcp are bit ranges of vlan_tci; ip_dscp is
 * nw_tos shifted right by two. Prerequisites are checked per NAME (so
 * `udp,tcp_dst=1` is refused although the word is the same), with
 * deliberate relaxations that keep print→parse a round trip, because OVS's
 * printer uses these names for other protocols: tp_src/tp_dst accept
 * tcp/udp/sctp (v4 or v6), icmp_type/icmp_code accept icmp and icmp6; and,
 * as ovs-ofctl(8) documents, nw_src/nw_dst/nw_proto also apply to arp/rarp
 * (SPA/TPA/opcode). icmp_* own the whole 16-bit tp_src/tp_dst word (an
 * exact match is tp_src=N/0xffff, as OVS's match_set_icmp_type).
 * Invariant: a field's (word, nWords, wordMask) never overlaps another
 * storage slot except the documented shared ones.
 * Neighbours: key.ts gives the word indices; match.ts parses and prints with
 * this table; ofproto/ will reuse it for set_field and the classifier.
 */
import {
  F_ARP_SHA_HI, F_ARP_THA_HI, F_CT_MARK, F_CT_STATE, F_CT_ZONE, F_DP_HASH, F_DL_DST_HI, F_DL_SRC_HI, F_DL_TYPE, F_IN_PORT,
  F_IPV6_DST, F_IPV6_LABEL, F_IPV6_SRC, F_ND_TARGET, F_METADATA_HI, F_NW_DST, F_NW_ECN, F_NW_FRAG, F_NW_PROTO, F_NW_SRC,
  F_NW_TOS, F_NW_TTL, F_RECIRC_ID, F_REG0, F_TCP_FLAGS, F_TP_DST, F_TP_SRC, F_TUN_DST, F_TUN_FLAGS, F_TUN_ID_HI,
  F_TUN_SRC, F_VLAN_TCI,
} from './key.js';

export const ETH_TYPE_IP = 0x0800, ETH_TYPE_IPV6 = 0x86dd, ETH_TYPE_ARP = 0x0806, ETH_TYPE_RARP = 0x8035;
export const IPPROTO_ICMP = 1, IPPROTO_TCP = 6, IPPROTO_UDP = 17, IPPROTO_SCTP = 132, IPPROTO_ICMPV6 = 58;

/** How a value is written and printed. */
export type ValueFormat =
  | 'decimal' | 'hex' | 'mac' | 'ipv4' | 'ipv6' | 'port'
  | 'ct_state' | 'tcp_flags' | 'tun_flags' | 'frag';

/** How the value maps onto key words. */
export type Storage =
  | 'word'    // one word; the value is shifted by 'shift' and limited to 'wordMask'
  | 'u64'     // two words, high then low
  | 'mac'     // two words: top 16 bits, low 32 bits
  | 'ipv6';   // four words

/**
 * A prerequisite: the match must pin dl_type (exactly) to one of 'dlTypes'
 * and, when 'nwProtos' is non-empty, nw_proto (exactly) to one of them.
 * 'name' is how messages describe it ("TCP", "IPv4/IPv6").
 */
export interface Prereq {
  readonly name: string;
  readonly dlTypes: readonly number[];
  readonly nwProtos: readonly number[];
  /** shorthands that satisfy it, for the error message */
  readonly hint: string;
}

export interface FieldDef {
  /** the registry name (as typed) */
  readonly name: string;
  /** OVS's canonical name (meta-flow `name`), used in ovs-ofctl-style messages */
  readonly ovsName: string;
  /** width of the value the user writes, in bits */
  readonly bits: number;
  /** size OVS gives the field, for "N-byte field" messages */
  readonly nBytes: number;
  readonly storage: Storage;
  /** first key word */
  readonly word: number;
  /** number of key words (1, 2 or 4) */
  readonly nWords: number;
  /** 'word' storage: bit position of the value's LSB in the word */
  readonly shift: number;
  /** 'word' storage: the word bits this field owns (set together, masks replaced) */
  readonly wordMask: number;
  /** 'word' storage: bits forced to 1 in value and mask when the field is set (dl_vlan's CFI) */
  readonly fixedBits: number;
  readonly maskable: boolean;
  /** null: no prerequisite (metadata); else the alternatives */
  readonly prereq: Prereq | null;
  /** true for fields OVS's parser treats as needing an Ethernet packet_type (L2 and up) */
  readonly ethernet: boolean;
  readonly format: ValueFormat;
}

const P = (name: string, dlTypes: number[], nwProtos: number[], hint: string): Prereq => ({ name, dlTypes, nwProtos, hint });
export const PREREQ_IPV4 = P('IPv4', [ETH_TYPE_IP], [], '"ip"');
export const PREREQ_IPV6 = P('IPv6', [ETH_TYPE_IPV6], [], '"ipv6"');
export const PREREQ_IP_ANY = P('IPv4/IPv6', [ETH_TYPE_IP, ETH_TYPE_IPV6], [], '"ip" or "ipv6"');
/** nw_src/nw_dst: ovs-ofctl(8) documents them as ARP SPA/TPA under arp/rarp */
export const PREREQ_IPV4_OR_ARP = P('IPv4/ARP', [ETH_TYPE_IP, ETH_TYPE_ARP, ETH_TYPE_RARP], [], '"ip", "arp" or "rarp"');
/** nw_proto: ovs-ofctl(8) documents it as the low 8 bits of the ARP opcode under arp/rarp */
export const PREREQ_IP_ANY_OR_ARP = P('IPv4/IPv6/ARP', [ETH_TYPE_IP, ETH_TYPE_IPV6, ETH_TYPE_ARP, ETH_TYPE_RARP], [], '"ip", "ipv6", "arp" or "rarp"');
export const PREREQ_ARP = P('ARP', [ETH_TYPE_ARP, ETH_TYPE_RARP], [], '"arp" or "rarp"');
export const PREREQ_TCP = P('TCP', [ETH_TYPE_IP, ETH_TYPE_IPV6], [IPPROTO_TCP], '"tcp" or "tcp6"');
export const PREREQ_UDP = P('UDP', [ETH_TYPE_IP, ETH_TYPE_IPV6], [IPPROTO_UDP], '"udp" or "udp6"');
export const PREREQ_SCTP = P('SCTP', [ETH_TYPE_IP, ETH_TYPE_IPV6], [IPPROTO_SCTP], '"sctp" or "sctp6"');
export const PREREQ_L4 = P('TCP/UDP/SCTP', [ETH_TYPE_IP, ETH_TYPE_IPV6], [IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP],
  '"tcp", "udp", "sctp", "tcp6", "udp6" or "sctp6"');
/** ICMPv4, or ICMPv6 (OVS prints an icmp6 match's type as icmp_type). */
export const PREREQ_ICMP_ANY = P('ICMPv4/ICMPv6', [ETH_TYPE_IP, ETH_TYPE_IPV6], [IPPROTO_ICMP, IPPROTO_ICMPV6], '"icmp" or "icmp6"');
export const PREREQ_ICMPV6 = P('ICMPv6', [ETH_TYPE_IPV6], [IPPROTO_ICMPV6], '"icmp6"');

/**
 * True when a match whose dl_type is 'dlType' (under 'dlMask') and nw_proto
 * 'nwProto' (under 'nwMask') satisfies 'p'. Both must be exact matches.
 */
export function prereqSatisfied(p: Prereq, dlType: number, dlMask: number, nwProto: number, nwMask: number): boolean {
  if (dlMask !== 0xffff || !p.dlTypes.includes(dlType)) return false;
  if (p.nwProtos.length === 0) return true;
  if (nwMask !== 0xff) return false;
  // ICMP_ANY pairs the protocol with the IP version
  if (p === PREREQ_ICMP_ANY) return dlType === ETH_TYPE_IP ? nwProto === IPPROTO_ICMP : nwProto === IPPROTO_ICMPV6;
  return p.nwProtos.includes(nwProto);
}

type Init = Partial<FieldDef> & Pick<FieldDef, 'ovsName' | 'bits' | 'nBytes' | 'word' | 'format'>;

const FIELD_LIST: FieldDef[] = [];
/** Every accepted name → its definition (aliases share one object per name). */
export const FIELDS = new Map<string, FieldDef>();

function def(names: string[], init: Init): void {
  for (const name of names) {
    const storage = init.storage ?? 'word';
    const f: FieldDef = {
      name,
      ovsName: init.ovsName,
      bits: init.bits,
      nBytes: init.nBytes,
      storage,
      word: init.word,
      nWords: storage === 'word' ? 1 : storage === 'ipv6' ? 4 : 2,
      shift: init.shift ?? 0,
      wordMask: init.wordMask ?? (init.bits >= 32 ? 0xffffffff : (((1 << init.bits) - 1) << (init.shift ?? 0)) >>> 0),
      fixedBits: init.fixedBits ?? 0,
      maskable: init.maskable ?? false,
      prereq: init.prereq ?? null,
      ethernet: init.ethernet ?? init.prereq !== undefined,
      format: init.format,
    };
    FIELD_LIST.push(f);
    FIELDS.set(name, f);
  }
}

// ---- metadata ------------------------------------------------------------------
def(['in_port'], { ovsName: 'in_port', bits: 16, nBytes: 2, word: F_IN_PORT, format: 'port' });
def(['recirc_id'], { ovsName: 'recirc_id', bits: 32, nBytes: 4, word: F_RECIRC_ID, format: 'hex' });
def(['dp_hash'], { ovsName: 'dp_hash', bits: 32, nBytes: 4, word: F_DP_HASH, maskable: true, format: 'hex' });
for (let i = 0; i < 16; i++) {
  def([`reg${i}`], { ovsName: `reg${i}`, bits: 32, nBytes: 4, word: F_REG0 + i, maskable: true, format: 'hex' });
}
def(['metadata'], { ovsName: 'metadata', bits: 64, nBytes: 8, word: F_METADATA_HI, storage: 'u64', maskable: true, format: 'hex' });
def(['tun_id', 'tunnel_id'], { ovsName: 'tun_id', bits: 64, nBytes: 8, word: F_TUN_ID_HI, storage: 'u64', maskable: true, format: 'hex' });
def(['tun_src'], { ovsName: 'tun_src', bits: 32, nBytes: 4, word: F_TUN_SRC, maskable: true, format: 'ipv4' });
def(['tun_dst'], { ovsName: 'tun_dst', bits: 32, nBytes: 4, word: F_TUN_DST, maskable: true, format: 'ipv4' });
// only "oam" is settable from a flow (FLOW_TNL_PUB_F_MASK); printed against FLOW_TNL_F_MASK
def(['tun_flags'], { ovsName: 'tun_flags', bits: 1, nBytes: 2, word: F_TUN_FLAGS, maskable: true, format: 'tun_flags' });
def(['ct_state'], { ovsName: 'ct_state', bits: 8, nBytes: 4, word: F_CT_STATE, maskable: true, format: 'ct_state' });
def(['ct_zone'], { ovsName: 'ct_zone', bits: 16, nBytes: 2, word: F_CT_ZONE, format: 'decimal' });
def(['ct_mark'], { ovsName: 'ct_mark', bits: 32, nBytes: 4, word: F_CT_MARK, maskable: true, format: 'hex' });
// ---- L2 ---------------------------------------------------------------------------
def(['dl_src', 'eth_src'], { ovsName: 'eth_src', bits: 48, nBytes: 6, word: F_DL_SRC_HI, storage: 'mac', maskable: true, ethernet: true, format: 'mac' });
def(['dl_dst', 'eth_dst'], { ovsName: 'eth_dst', bits: 48, nBytes: 6, word: F_DL_DST_HI, storage: 'mac', maskable: true, ethernet: true, format: 'mac' });
def(['dl_type', 'eth_type'], { ovsName: 'eth_type', bits: 16, nBytes: 2, word: F_DL_TYPE, ethernet: true, format: 'hex' });
def(['vlan_tci'], { ovsName: 'vlan_tci', bits: 16, nBytes: 2, word: F_VLAN_TCI, maskable: true, ethernet: true, format: 'hex' });
def(['dl_vlan'], { ovsName: 'dl_vlan', bits: 12, nBytes: 2, word: F_VLAN_TCI, wordMask: 0x1fff, fixedBits: 0x1000, ethernet: true, format: 'decimal' });
def(['vlan_vid'], { ovsName: 'vlan_vid', bits: 13, nBytes: 2, word: F_VLAN_TCI, maskable: true, ethernet: true, format: 'decimal' });
def(['dl_vlan_pcp'], { ovsName: 'dl_vlan_pcp', bits: 3, nBytes: 1, word: F_VLAN_TCI, shift: 13, wordMask: 0xf000, fixedBits: 0x1000, ethernet: true, format: 'decimal' });
def(['vlan_pcp'], { ovsName: 'vlan_pcp', bits: 3, nBytes: 1, word: F_VLAN_TCI, shift: 13, wordMask: 0xf000, fixedBits: 0x1000, ethernet: true, format: 'decimal' });
// ---- L3 ---------------------------------------------------------------------------
def(['nw_src', 'ip_src'], { ovsName: 'ip_src', bits: 32, nBytes: 4, word: F_NW_SRC, maskable: true, prereq: PREREQ_IPV4_OR_ARP, format: 'ipv4' });
def(['nw_dst', 'ip_dst'], { ovsName: 'ip_dst', bits: 32, nBytes: 4, word: F_NW_DST, maskable: true, prereq: PREREQ_IPV4_OR_ARP, format: 'ipv4' });
def(['ipv6_src'], { ovsName: 'ipv6_src', bits: 128, nBytes: 16, word: F_IPV6_SRC, storage: 'ipv6', maskable: true, prereq: PREREQ_IPV6, format: 'ipv6' });
def(['ipv6_dst'], { ovsName: 'ipv6_dst', bits: 128, nBytes: 16, word: F_IPV6_DST, storage: 'ipv6', maskable: true, prereq: PREREQ_IPV6, format: 'ipv6' });
def(['ipv6_label'], { ovsName: 'ipv6_label', bits: 20, nBytes: 4, word: F_IPV6_LABEL, maskable: true, prereq: PREREQ_IPV6, format: 'hex' });
def(['nw_proto', 'ip_proto'], { ovsName: 'nw_proto', bits: 8, nBytes: 1, word: F_NW_PROTO, prereq: PREREQ_IP_ANY_OR_ARP, format: 'decimal' });
def(['nw_tos'], { ovsName: 'nw_tos', bits: 8, nBytes: 1, word: F_NW_TOS, wordMask: 0xfc, prereq: PREREQ_IP_ANY, format: 'decimal' });
def(['ip_dscp'], { ovsName: 'ip_dscp', bits: 6, nBytes: 1, word: F_NW_TOS, shift: 2, prereq: PREREQ_IP_ANY, format: 'decimal' });
def(['nw_ecn', 'ip_ecn'], { ovsName: 'nw_ecn', bits: 2, nBytes: 1, word: F_NW_ECN, prereq: PREREQ_IP_ANY, format: 'decimal' });
def(['nw_ttl'], { ovsName: 'nw_ttl', bits: 8, nBytes: 1, word: F_NW_TTL, prereq: PREREQ_IP_ANY, format: 'decimal' });
def(['nw_frag', 'ip_frag'], { ovsName: 'ip_frag', bits: 2, nBytes: 1, word: F_NW_FRAG, maskable: true, prereq: PREREQ_IP_ANY, format: 'frag' });
def(['arp_op'], { ovsName: 'arp_op', bits: 8, nBytes: 2, word: F_NW_PROTO, prereq: PREREQ_ARP, format: 'decimal' });
def(['arp_spa'], { ovsName: 'arp_spa', bits: 32, nBytes: 4, word: F_NW_SRC, maskable: true, prereq: PREREQ_ARP, format: 'ipv4' });
def(['arp_tpa'], { ovsName: 'arp_tpa', bits: 32, nBytes: 4, word: F_NW_DST, maskable: true, prereq: PREREQ_ARP, format: 'ipv4' });
def(['arp_sha'], { ovsName: 'arp_sha', bits: 48, nBytes: 6, word: F_ARP_SHA_HI, storage: 'mac', maskable: true, prereq: PREREQ_ARP, format: 'mac' });
def(['arp_tha'], { ovsName: 'arp_tha', bits: 48, nBytes: 6, word: F_ARP_THA_HI, storage: 'mac', maskable: true, prereq: PREREQ_ARP, format: 'mac' });
// ---- L4 ---------------------------------------------------------------------------
def(['tp_src'], { ovsName: 'tcp_src', bits: 16, nBytes: 2, word: F_TP_SRC, maskable: true, prereq: PREREQ_L4, format: 'decimal' });
def(['tp_dst'], { ovsName: 'tcp_dst', bits: 16, nBytes: 2, word: F_TP_DST, maskable: true, prereq: PREREQ_L4, format: 'decimal' });
def(['tcp_src'], { ovsName: 'tcp_src', bits: 16, nBytes: 2, word: F_TP_SRC, maskable: true, prereq: PREREQ_TCP, format: 'decimal' });
def(['tcp_dst'], { ovsName: 'tcp_dst', bits: 16, nBytes: 2, word: F_TP_DST, maskable: true, prereq: PREREQ_TCP, format: 'decimal' });
def(['udp_src'], { ovsName: 'udp_src', bits: 16, nBytes: 2, word: F_TP_SRC, maskable: true, prereq: PREREQ_UDP, format: 'decimal' });
def(['udp_dst'], { ovsName: 'udp_dst', bits: 16, nBytes: 2, word: F_TP_DST, maskable: true, prereq: PREREQ_UDP, format: 'decimal' });
def(['sctp_src'], { ovsName: 'sctp_src', bits: 16, nBytes: 2, word: F_TP_SRC, maskable: true, prereq: PREREQ_SCTP, format: 'decimal' });
def(['sctp_dst'], { ovsName: 'sctp_dst', bits: 16, nBytes: 2, word: F_TP_DST, maskable: true, prereq: PREREQ_SCTP, format: 'decimal' });
def(['tcp_flags'], { ovsName: 'tcp_flags', bits: 12, nBytes: 2, word: F_TCP_FLAGS, maskable: true, prereq: PREREQ_TCP, format: 'tcp_flags' });
def(['icmp_type'], { ovsName: 'icmp_type', bits: 8, nBytes: 1, word: F_TP_SRC, wordMask: 0xffff, prereq: PREREQ_ICMP_ANY, format: 'decimal' });
def(['icmp_code'], { ovsName: 'icmp_code', bits: 8, nBytes: 1, word: F_TP_DST, wordMask: 0xffff, prereq: PREREQ_ICMP_ANY, format: 'decimal' });
def(['icmpv6_type'], { ovsName: 'icmpv6_type', bits: 8, nBytes: 1, word: F_TP_SRC, wordMask: 0xffff, prereq: PREREQ_ICMPV6, format: 'decimal' });
def(['icmpv6_code'], { ovsName: 'icmpv6_code', bits: 8, nBytes: 1, word: F_TP_DST, wordMask: 0xffff, prereq: PREREQ_ICMPV6, format: 'decimal' });
// neighbour discovery: OVS requires icmpv6_type 135/136 (MFP_ND*); the registry can only say "icmp6"
def(['nd_target'], { ovsName: 'nd_target', bits: 128, nBytes: 16, word: F_ND_TARGET, storage: 'ipv6', maskable: true, prereq: PREREQ_ICMPV6, format: 'ipv6' });
def(['nd_sll'], { ovsName: 'nd_sll', bits: 48, nBytes: 6, word: F_ARP_SHA_HI, storage: 'mac', maskable: true, prereq: PREREQ_ICMPV6, format: 'mac' });
def(['nd_tll'], { ovsName: 'nd_tll', bits: 48, nBytes: 6, word: F_ARP_THA_HI, storage: 'mac', maskable: true, prereq: PREREQ_ICMPV6, format: 'mac' });
// 64- and 32-bit views of existing words (OXM_OF_PKT_REGn, OXM_OF_IN_PORT)
for (let i = 0; i < 8; i++) {
  def([`xreg${i}`], { ovsName: `xreg${i}`, bits: 64, nBytes: 8, word: F_REG0 + 2 * i, storage: 'u64', maskable: true, format: 'hex' });
}
def(['in_port_oxm'], { ovsName: 'in_port_oxm', bits: 32, nBytes: 4, word: F_IN_PORT, format: 'decimal' });

/** All definitions, one per accepted name, in registry order. */
export const FIELD_DEFS: readonly FieldDef[] = FIELD_LIST;

/** The definition for 'name', or undefined when ovs-ofctl would say "unknown keyword". */
export function fieldByName(name: string): FieldDef | undefined {
  return FIELDS.get(name);
}

/** A shorthand protocol keyword: dl_type, and nw_proto when not 0. */
export interface Protocol {
  readonly name: string;
  readonly dlType: number;
  readonly nwProto: number;
}

/** ovs-ofctl's shorthands (ofp-parse.c `ofp_parse_protocol`), without MPLS. */
export const PROTOCOLS = new Map<string, Protocol>();
for (const [name, dlType, nwProto] of [
  ['ip', ETH_TYPE_IP, 0], ['ipv4', ETH_TYPE_IP, 0], ['ip4', ETH_TYPE_IP, 0],
  ['arp', ETH_TYPE_ARP, 0], ['rarp', ETH_TYPE_RARP, 0],
  ['icmp', ETH_TYPE_IP, IPPROTO_ICMP], ['tcp', ETH_TYPE_IP, IPPROTO_TCP],
  ['udp', ETH_TYPE_IP, IPPROTO_UDP], ['sctp', ETH_TYPE_IP, IPPROTO_SCTP],
  ['ipv6', ETH_TYPE_IPV6, 0], ['ip6', ETH_TYPE_IPV6, 0],
  ['icmp6', ETH_TYPE_IPV6, IPPROTO_ICMPV6], ['tcp6', ETH_TYPE_IPV6, IPPROTO_TCP],
  ['udp6', ETH_TYPE_IPV6, IPPROTO_UDP], ['sctp6', ETH_TYPE_IPV6, IPPROTO_SCTP],
] as const) {
  PROTOCOLS.set(name, { name, dlType, nwProto });
}

/** OpenFlow 1.0 reserved port names (ovs-ofctl accepts them case-insensitively). */
export const OFPP_NAMES: ReadonlyMap<string, number> = new Map([
  ['UNSET', 0xfff7], ['IN_PORT', 0xfff8], ['TABLE', 0xfff9], ['NORMAL', 0xfffa], ['FLOOD', 0xfffb],
  ['ALL', 0xfffc], ['CONTROLLER', 0xfffd], ['LOCAL', 0xfffe], ['ANY', 0xffff], ['NONE', 0xffff],
]);
/** Port number → the name ovs-ofctl prints (ANY for 0xffff). */
export const OFPP_PRINT: ReadonlyMap<number, string> = new Map([
  [0xfff7, 'UNSET'], [0xfff8, 'IN_PORT'], [0xfff9, 'TABLE'], [0xfffa, 'NORMAL'], [0xfffb, 'FLOOD'],
  [0xfffc, 'ALL'], [0xfffd, 'CONTROLLER'], [0xfffe, 'LOCAL'], [0xffff, 'ANY'],
]);

/** ct_state bits in OVS's order (CS_NEW = 1 … CS_DST_NAT = 0x80). */
export const CT_STATE_FLAGS: readonly (readonly [string, number])[] = [
  ['new', 0x01], ['est', 0x02], ['rel', 0x04], ['rpl', 0x08], ['inv', 0x10], ['trk', 0x20], ['snat', 0x40], ['dnat', 0x80],
];
/** TCP flag bits as OVS names them (packet_tcp_flag_to_string). */
export const TCP_FLAG_NAMES: readonly (readonly [string, number])[] = [
  ['fin', 0x001], ['syn', 0x002], ['rst', 0x004], ['psh', 0x008], ['ack', 0x010], ['urg', 0x020],
  ['ece', 0x040], ['cwr', 0x080], ['ns', 0x100], ['[200]', 0x200], ['[400]', 0x400], ['[800]', 0x800],
];
/** Tunnel flag bits (flow_tun_flag_to_string). Only oam may be matched. */
export const TUN_FLAG_NAMES: readonly (readonly [string, number])[] = [
  ['oam', 0x1], ['df', 0x2], ['csum', 0x4], ['key', 0x8],
];
