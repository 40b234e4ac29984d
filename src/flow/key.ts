/**
 * The flow key (flow layer, fast path) — sdnemu's `struct flow` / miniflow.
 *
 * What: a key is FLOW_WORDS uint32 words at fixed indices (F_* below) of a
 * `Uint32Array`, so a batch of keys is one array with stride FLOW_WORDS and a
 * match (match.ts) is a (value, mask) pair over the same layout.
 * `flowFromFrame()` fills one key from a frame.
 *
 * Layout: metadata → L2 → L3 → L4, as OVS orders `struct flow`, so a staged
 * lookup can stop at the first segment that fails (SEG_* give the word
 * ranges). "Order of the fields is significant": the classifier, the megaflow
 * cache and the printer index words by these constants, and
 * test/flow/key.test.ts pins every index. Change the layout only together with
 * FLOW_LAYOUT_VERSION (OVS's FLOW_WC_SEQ) and that test.
 *
 * Value conventions (those of OVS's struct flow, so masks print as OVS prints):
 *  - 48-bit MACs are two words: HI = top 16 bits, LO = low 32 bits.
 *  - 64-bit fields (metadata, tun_id) are two words: HI, LO.
 *  - IPv6 addresses are four words, most significant first.
 *  - vlan_tci has the CFI bit (0x1000) set when the frame is tagged, 0 when not.
 *  - nw_tos holds the DSCP bits in place (DS byte & 0xfc) and nw_ecn the ECN
 *    bits (DS byte & 0x03): two words, because OVS matches and un-wildcards
 *    them separately (`mod_nw_tos` vs `mod_nw_ecn`).
 *  - nw_frag: 0 no, 1 first fragment, 3 later fragment (FLOW_NW_FRAG_ANY|LATER).
 *  - Shared words, as in OVS: for ARP, nw_src/nw_dst are the SPA/TPA and
 *    nw_proto is the opcode (low 8 bits); for ICMP and ICMPv6, tp_src/tp_dst
 *    are the type and code; for ICMPv6 neighbour discovery the ARP SHA/THA
 *    words hold the nd_sll/nd_tll options, as OVS's arp_sha/arp_tha do. The
 *    field registry (fields.ts) gives both names.
 *  - packet_type is always 0 (PT_ETH, Ethernet): the only packet type sdnemu
 *    keys; it has a word so that a match can say "eth" as OVS's does.
 *  - dl_type is 0x05ff (OVS's FLOW_DL_TYPE_NONE) for 802.3 frames whose
 *    type/length field is a length (< 0x600).
 *  - Tunnel words describe the outer header of a decapsulated VXLAN/Geneve
 *    frame (tun_id = VNI, tun_src/tun_dst = outer IPv4 addresses); the rest of
 *    the key describes the inner frame, as after OVS's `tnl_pop`. tun_flags
 *    is left 0: outer DF and checksum are not extracted (OVS's megaflows on
 *    decapsulated packets print `tun_flags=-df-csum-key` too).
 *
 * Extraction: `flowFromFrame` runs wire/extract.ts's one-pass walker into a
 * module-level scratch array and maps those words into the key. The only
 * bytes it reads itself are at offsets the walker reported: the IPv6 flow
 * label (first word of the IPv6 header) and the ARP SHA/THA (fixed offsets in
 * an Ethernet/IPv4 ARP body the walker bounds-checked) — no second walk.
 * Cost: the extract walk plus ~60 word stores; allocates nothing; never
 * throws. Not reentrant (one scratch array); the datapath is single-threaded.
 * Neighbours: built on wire/extract.ts; read by match.ts (masked compare),
 * by datapath/ (EMC, megaflow cache; lastL3Offset/lastL4Offset for its set
 * actions) and ofproto/ (classifier, xlate).
 */
import { be16, be32 } from '../wire/bytes.js';
import {
  NO_OFFSET, X_DL_DST_HI, X_DL_DST_LO, X_DL_SRC_HI, X_DL_SRC_LO, X_DL_TYPE, X_IPV6_DST, X_IPV6_SRC, X_L3_OFF, X_L4_OFF,
  X_NW_DST, X_NW_FRAG, X_NW_PROTO, X_NW_SRC, X_NW_TOS, X_NW_TTL, X_TCP_FLAGS, X_TP_DST, X_TP_SRC, X_TUN_DST,
  X_TUN_ID, X_TUN_PROTO, X_TUN_SRC, X_VLAN_TCI, X_WORDS, extractFields,
} from '../wire/extract.js';

/** Bumped whenever any index below changes (pinned by test/flow/key.test.ts). */
export const FLOW_LAYOUT_VERSION = 3;

// ---- metadata segment --------------------------------------------------------
export const F_IN_PORT = 0;        // OpenFlow port the packet arrived on (context-dependent, as in OVS)
export const F_RECIRC_ID = 1;
export const F_PACKET_TYPE = 2;    // 0 = PT_ETH
export const F_REG0 = 3;           // reg0..reg15 at F_REG0 + n
export const F_METADATA_HI = 19;   // OpenFlow metadata, 64 bits
export const F_METADATA_LO = 20;
export const F_TUN_ID_HI = 21;     // tun_id (VNI in the low 24 bits), 64 bits
export const F_TUN_ID_LO = 22;
export const F_TUN_SRC = 23;       // outer IPv4 source
export const F_TUN_DST = 24;       // outer IPv4 destination
export const F_TUN_FLAGS = 25;     // FLOW_TNL_F_* (oam 1, df 2, csum 4, key 8)
export const F_CT_STATE = 26;      // CS_* bits (new 1 … dnat 0x80)
export const F_CT_ZONE = 27;
export const F_CT_MARK = 28;
export const F_DP_HASH = 29;       // the datapath's hash(...) result (select groups); 0 = not computed
// ---- L2 segment --------------------------------------------------------------
export const F_DL_DST_HI = 30;
export const F_DL_DST_LO = 31;
export const F_DL_SRC_HI = 32;
export const F_DL_SRC_LO = 33;
export const F_DL_TYPE = 34;
export const F_VLAN_TCI = 35;      // outermost tag | CFI, 0 when untagged
// ---- L3 segment --------------------------------------------------------------
export const F_NW_SRC = 36;        // IPv4 source or ARP SPA
export const F_NW_DST = 37;        // IPv4 destination or ARP TPA
export const F_IPV6_SRC = 38;      // 4 words
export const F_IPV6_DST = 42;      // 4 words
export const F_IPV6_LABEL = 46;    // 20 bits
export const F_NW_PROTO = 47;      // IP protocol or ARP opcode (low 8 bits)
export const F_NW_TOS = 48;        // DSCP bits in place (DS & 0xfc)
export const F_NW_ECN = 49;        // ECN bits (DS & 0x03)
export const F_NW_TTL = 50;        // IPv4 TTL or IPv6 hop limit
export const F_NW_FRAG = 51;       // 0 / 1 first / 3 later
export const F_ARP_SHA_HI = 52;    // ARP SHA, or the ND source link-layer address option (nd_sll)
export const F_ARP_SHA_LO = 53;
export const F_ARP_THA_HI = 54;    // ARP THA, or the ND target link-layer address option (nd_tll)
export const F_ARP_THA_LO = 55;
export const F_ND_TARGET = 56;     // 4 words: ICMPv6 neighbour solicitation/advertisement target
// ---- L4 segment --------------------------------------------------------------
export const F_TP_SRC = 60;        // L4 source port or ICMP type
export const F_TP_DST = 61;        // L4 destination port or ICMP code
export const F_TCP_FLAGS = 62;     // 12 bits, NS = 0x100
export const FLOW_WORDS = 63;

/** Segment boundaries for staged lookup: [start, end) word ranges. */
export const SEG_METADATA_START = 0;
export const SEG_L2_START = F_DL_DST_HI;   // = end of metadata
export const SEG_L3_START = F_NW_SRC;      // = end of L2
export const SEG_L4_START = F_TP_SRC;      // = end of L3
export const SEG_END = FLOW_WORDS;
/** The four stage ends, in lookup order (metadata, L2, L3, L4). */
export const SEGMENT_ENDS: readonly number[] = [SEG_L2_START, SEG_L3_START, SEG_L4_START, SEG_END];

export const NW_FRAG_ANY = 1, NW_FRAG_LATER = 2;
export const TNL_F_OAM = 1, TNL_F_DONT_FRAGMENT = 2, TNL_F_CSUM = 4, TNL_F_KEY = 8;
export const PT_ETH = 0;
/** OVS's FLOW_DL_TYPE_NONE: an 802.3 frame (length, not type). */
export const DL_TYPE_NONE = 0x05ff;

const ETH_TYPE_IPV6 = 0x86dd, ETH_TYPE_ARP = 0x0806;

// Module-local copies of the extract word indices flowFromFrame reads: V8's optimized code loads
// an imported binding on every use, while a module's own const folds to a constant (the datapath
// bench's EMC case, `npx tsx bench/run.ts datapath`, is where it shows).
const LX_DL_DST_HI = X_DL_DST_HI;
const LX_DL_DST_LO = X_DL_DST_LO;
const LX_DL_SRC_HI = X_DL_SRC_HI;
const LX_DL_SRC_LO = X_DL_SRC_LO;
const LX_DL_TYPE = X_DL_TYPE;
const LX_IPV6_DST = X_IPV6_DST;
const LX_IPV6_SRC = X_IPV6_SRC;
const LX_L3_OFF = X_L3_OFF;
const LX_L4_OFF = X_L4_OFF;
const LX_NW_DST = X_NW_DST;
const LX_NW_FRAG = X_NW_FRAG;
const LX_NW_PROTO = X_NW_PROTO;
const LX_NW_SRC = X_NW_SRC;
const LX_NW_TOS = X_NW_TOS;
const LX_NW_TTL = X_NW_TTL;
const LX_TCP_FLAGS = X_TCP_FLAGS;
const LX_TP_DST = X_TP_DST;
const LX_TP_SRC = X_TP_SRC;
const LX_TUN_DST = X_TUN_DST;
const LX_TUN_ID = X_TUN_ID;
const LX_TUN_PROTO = X_TUN_PROTO;
const LX_TUN_SRC = X_TUN_SRC;
const LX_VLAN_TCI = X_VLAN_TCI;

// one walk's worth of extract words; see "Not reentrant" above
const scratch = new Uint32Array(X_WORDS);

/**
 * Fill the FLOW_WORDS words of 'key' at 'base' from the frame in 'b' [off, end)
 * that arrived on OpenFlow port 'inPort' ('decap' false: key a VXLAN/Geneve
 * packet by its outer headers, as a packet on a non-tunnel port). Every word is written (metadata
 * other than in_port and the tunnel is zeroed: recirc_id 0, registers 0).
 * Returns the extract walker's WireErrc (0 when the frame was fully parsed);
 * on a fault the key holds what was extracted before it, as in OVS.
 */
export function flowFromFrame(b: Uint8Array, off: number, end: number, inPort: number, key: Uint32Array, base: number, decap = true,
  pipelineZero = false): number {
  const x = scratch;
  const err = extractFields(b, off, end, x, 0, decap);
  key[base + F_IN_PORT] = inPort >>> 0;
  key[base + F_RECIRC_ID] = 0;
  key[base + F_PACKET_TYPE] = PT_ETH;
  if (!pipelineZero) {
    for (let r = 0; r < 16; r++) key[base + F_REG0 + r] = 0;
    key[base + F_METADATA_HI] = 0;
    key[base + F_METADATA_LO] = 0;
  }
  const tunnelled = x[LX_TUN_PROTO] !== 0;
  key[base + F_TUN_ID_HI] = 0;
  key[base + F_TUN_ID_LO] = tunnelled ? x[LX_TUN_ID]! : 0;
  key[base + F_TUN_SRC] = tunnelled ? x[LX_TUN_SRC]! : 0;
  key[base + F_TUN_DST] = tunnelled ? x[LX_TUN_DST]! : 0;
  key[base + F_TUN_FLAGS] = 0;
  key[base + F_CT_STATE] = 0;
  key[base + F_CT_ZONE] = 0;
  key[base + F_CT_MARK] = 0;
  key[base + F_DP_HASH] = 0;

  key[base + F_DL_DST_HI] = x[LX_DL_DST_HI]!;
  key[base + F_DL_DST_LO] = x[LX_DL_DST_LO]!;
  key[base + F_DL_SRC_HI] = x[LX_DL_SRC_HI]!;
  key[base + F_DL_SRC_LO] = x[LX_DL_SRC_LO]!;
  const type = x[LX_DL_TYPE]!;
  key[base + F_DL_TYPE] = type < 0x600 ? DL_TYPE_NONE : type;
  key[base + F_VLAN_TCI] = x[LX_VLAN_TCI]!;

  key[base + F_NW_SRC] = x[LX_NW_SRC]!;
  key[base + F_NW_DST] = x[LX_NW_DST]!;
  for (let i = 0; i < 4; i++) {
    key[base + F_IPV6_SRC + i] = x[LX_IPV6_SRC + i]!;
    key[base + F_IPV6_DST + i] = x[LX_IPV6_DST + i]!;
  }
  const l3 = x[LX_L3_OFF]!;
  // the walker bounds-checked the 40-byte IPv6 header at l3 before setting it
  key[base + F_IPV6_LABEL] = type === ETH_TYPE_IPV6 && l3 !== NO_OFFSET ? be32(b, l3) & 0xfffff : 0;
  key[base + F_NW_PROTO] = x[LX_NW_PROTO]!;
  const tos = x[LX_NW_TOS]!;
  key[base + F_NW_TOS] = tos & 0xfc;
  key[base + F_NW_ECN] = tos & 0x03;
  key[base + F_NW_TTL] = x[LX_NW_TTL]!;
  key[base + F_NW_FRAG] = x[LX_NW_FRAG]!;
  // ARP SHA/THA: the walker checked 28 bytes at l3; like OVS, only Ethernet/IPv4 ARP
  if (type === ETH_TYPE_ARP && l3 !== NO_OFFSET && be32(b, l3) === 0x00010800 && be16(b, l3 + 4) === 0x0604) {
    key[base + F_ARP_SHA_HI] = be16(b, l3 + 8);
    key[base + F_ARP_SHA_LO] = be32(b, l3 + 10);
    key[base + F_ARP_THA_HI] = be16(b, l3 + 18);
    key[base + F_ARP_THA_LO] = be32(b, l3 + 20);
  } else {
    key[base + F_ARP_SHA_HI] = 0;
    key[base + F_ARP_SHA_LO] = 0;
    key[base + F_ARP_THA_HI] = 0;
    key[base + F_ARP_THA_LO] = 0;
  }

  for (let i = 0; i < 4; i++) key[base + F_ND_TARGET + i] = 0;
  const l4 = x[LX_L4_OFF]!;
  if (type === ETH_TYPE_IPV6 && x[LX_NW_PROTO] === 58 && l4 !== NO_OFFSET && x[LX_TP_DST] === 0
    && (x[LX_TP_SRC] === 135 || x[LX_TP_SRC] === 136)) {
    ndFields(b, l4, end, x[LX_TP_SRC]!, key, base);
  }

  key[base + F_TP_SRC] = x[LX_TP_SRC]!;
  key[base + F_TP_DST] = x[LX_TP_DST]!;
  key[base + F_TCP_FLAGS] = x[LX_TCP_FLAGS]!;
  return err;
}

/**
 * The L3 and L4 header offsets the last `flowFromFrame` walk found, as
 * indices into its 'b' (NO_OFFSET, 0xffff, when the frame has no such header
 * or the walk stopped before it): the datapath's set actions write at these offsets
 * without walking the headers again.
 */
export function lastL3Offset(): number { return scratch[LX_L3_OFF]!; }
export function lastL4Offset(): number { return scratch[LX_L4_OFF]!; }

/**
 * Neighbour discovery (parse_icmpv6 in OVS's flow.c): the target address of
 * a solicitation (135) or advertisement (136) at 'icmp' + 8, then the
 * options: a source link-layer address (type 1, solicitations) into the
 * ARP SHA words, a target link-layer address (type 2, advertisements) into
 * the THA words. A truncated or malformed option list stops the walk and
 * keeps what was read (OVS drops the ND fields instead; sdnemu keys what is
 * there). Reads only within [icmp, end).
 */
function ndFields(b: Uint8Array, icmp: number, end: number, type: number, key: Uint32Array, base: number): void {
  if (end - icmp < 24) return;
  for (let i = 0; i < 4; i++) key[base + F_ND_TARGET + i] = be32(b, icmp + 8 + 4 * i);
  let o = icmp + 24;
  while (end - o >= 8) {
    const optType = b[o]!, len = b[o + 1]! * 8;
    if (len === 0 || end - o < len) return;
    if (len === 8 && optType === 1 && type === 135) {
      key[base + F_ARP_SHA_HI] = be16(b, o + 2);
      key[base + F_ARP_SHA_LO] = be32(b, o + 4);
    } else if (len === 8 && optType === 2 && type === 136) {
      key[base + F_ARP_THA_HI] = be16(b, o + 2);
      key[base + F_ARP_THA_LO] = be32(b, o + 4);
    }
    o += len;
  }
}
