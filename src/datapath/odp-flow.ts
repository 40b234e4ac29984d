/**
 * Datapath flows as `ovs-appctl dpctl/dump-flows` prints them (datapath layer, slow path).
 *
 * What: `formatDpFlowKey(key, mask, opts)` turns a megaflow — the flow key of the packet that
 * caused the upcall (src/flow/key.ts layout) and the mask translation produced (XlateResult.wc)
 * — into the match part of a `dpctl/dump-flows` line of Open vSwitch 3.1's userspace (netdev,
 * "dummy") datapath, e.g.
 *   recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth_type(0x0800),ipv4(dst=10.0.0.5/255.255.255.0,proto=6,frag=no),tcp(dst=80)
 * `formatDpFlowLine()` adds `, packets:N, bytes:N, used:…[, flags:…], actions:…`.
 *
 * Why this shape: OVS builds a netlink key and a netlink mask from (flow, wc)
 * (odp_flow_key_from_flow__ in lib/odp-util.c, once with the flow, once with the mask) and
 * prints them with odp_flow_format(); non-verbose printing leaves out every attribute whose mask
 * is all zeros, and inside an attribute every field whose mask is zero. Which attributes exist is
 * decided by the KEY (the packet: tunnel only when tun_src/tun_dst is set, tcp only when
 * nw_proto is 6, nd only for a neighbour solicitation/advertisement, …), their values are the
 * key's UNMASKED values (`dst=10.0.0.5/255.255.255.0`, not 10.0.0.0), and the mask decides
 * what is shown. The functions below follow those two C functions attribute by attribute, in
 * OVS 3.1's order (observed: `-m` prints skb_priority, tunnel, skb_mark, ct_state, ct_zone,
 * ct_mark, ct_label, ct_tuple4/6, recirc_id, dp_hash, in_port, packet_type, eth, [eth_type(vlan
 * tpid), vlan, encap(] eth_type, ipv4|ipv6|arp, tcp|udp|sctp|icmp|icmpv6, tcp_flags, nd [)]).
 *
 * Rules reproduced (each seen on OVS 3.1.0 with test/datapath/odp-flow-ovs.test.ts):
 *  - numbers: recirc_id/ct_mark/ct_zone and tun_id/tos/label in C's `%#x` (0 prints `0`), ports,
 *    proto, ttl, op, icmp type/code in decimal; a partial mask follows as `/%#x` (or as an
 *    address for IPv4/IPv6/MAC fields); a full mask prints no `/…`.
 *  - ipv4 tos is the whole DS byte (sdnemu keeps DSCP and ECN in two words; they are joined).
 *  - frag: no/first/later, from nw_frag; its mask is ovs_to_odp_frag_mask(), so an IP flow whose
 *    nw_frag is not fully masked prints OVS's own "error: partial mask not supported for frag".
 *  - ct_state is always printed as masked flags (`+new+trk`, `-est`): OVS's ct_state is 8 bits, so
 *    its 32-bit mask is never exact.
 *  - tcp_flags exists when the packet's flags or their mask are non-zero; printed as masked flags
 *    (`+syn-ack`) unless all 12 bits are masked (then `syn|ack`, or `0`).
 *  - the ARP opcode is OVS's nw_proto (8 bits): a matched opcode prints `op=1` (OVS 3.1 shows no
 *    `/0xff` although the netlink attribute is 16 bits wide).
 *  - vlan: a tagged packet gets `eth_type(<tpid>),vlan(vid=…,pcp=…),encap(…rest…)`; when
 *    translation left the TCI fully wildcarded, dpif-netdev's upcall handler masks VID and CFI
 *    anyway (a netlink key cannot wildcard the presence of a tag), and so does this printer.
 *  - in_port is exact and printed as the ODP port number ('opts.odpPort'); packet_type is exact
 *    and always `packet_type(ns=0,id=0)` (sdnemu keys Ethernet only), so an all-wildcarded eth()
 *    is left out (odp_flow_format's packet_type special case).
 *  - tunnel(...) for a decapsulated packet: tun_id (present when non-zero or the KEY flag is set),
 *    src, dst, tos (present when non-zero), ttl, then flags(...) built from the DF/CSUM/OAM/KEY
 *    attributes exactly as format_odp_tun_attr() collects them. The flow key has no outer
 *    tos/ttl/DF/CSUM bits, so 'opts.tunnel' supplies them; tos is masked 0xff by default because
 *    OVS's tnl_wc_init() always does that for packets received on a tunnel.
 * Not printed (always wildcarded in megaflows OVS installs, and absent from sdnemu's key):
 * skb_priority, skb_mark, dp_hash, ct_label (unless 'opts.ctLabel' gives a mask), ct_tuple4/6,
 * MPLS, NSH, ND extensions, geneve/vxlan tunnel options.
 * Cost: string building, a few hundred ns; called when a user dumps flows, never per packet.
 * Neighbours: src/flow/key.ts (layout), src/ofproto/xlate.ts (produces key masks),
 * src/ofproto/odp.ts (the actions text); test/oracle/ovs.ts dumps the real thing.
 */
import {
  F_ARP_SHA_HI, F_ARP_THA_HI, F_CT_MARK, F_CT_STATE, F_CT_ZONE, F_DP_HASH, F_DL_DST_HI, F_DL_SRC_HI, F_DL_TYPE, F_IN_PORT,
  F_IPV6_DST, F_IPV6_LABEL, F_IPV6_SRC, F_ND_TARGET, F_NW_DST, F_NW_ECN, F_NW_FRAG, F_NW_PROTO, F_NW_SRC, F_NW_TOS,
  F_NW_TTL, F_RECIRC_ID, F_TCP_FLAGS, F_TP_DST, F_TP_SRC, F_TUN_DST, F_TUN_FLAGS, F_TUN_ID_HI, F_TUN_ID_LO,
  F_TUN_SRC, F_VLAN_TCI, NW_FRAG_ANY, NW_FRAG_LATER, TNL_F_CSUM, TNL_F_DONT_FRAGMENT, TNL_F_KEY, TNL_F_OAM,
} from '../flow/key.js';
import { ipv4ToString, ipv6ToString } from '../wire/bytes.js';

const ETH_TYPE_IP = 0x0800, ETH_TYPE_IPV6 = 0x86dd, ETH_TYPE_ARP = 0x0806, ETH_TYPE_RARP = 0x8035;
const ETH_TYPE_MIN = 0x600;
const IPPROTO_TCP = 6, IPPROTO_UDP = 17, IPPROTO_SCTP = 132, IPPROTO_ICMP = 1, IPPROTO_ICMPV6 = 58;
const VLAN_CFI = 0x1000, VLAN_VID_MASK = 0x0fff;
/** FLOW_TNL_F_MASK: the four public tunnel flags. */
const TNL_F_MASK = 0xf;
/** TCP_FLAGS(): the 12 flag bits of the TCP header word. */
const TCP_FLAGS_MASK = 0x0fff;

/** The outer-header facts of a decapsulated packet that the flow key does not hold. */
export interface DpTunnelExtras {
  /** FLOW_TNL_F_* bits of the packet (df 2, csum 4, key 8, oam 1); default: the key's tun_flags word. */
  flags?: number;
  /** outer IP tos (0 when absent: OVS then has no tos attribute) */
  tos?: number;
  /** outer TTL (OVS always has the attribute; printed only under a mask) */
  ttl?: number;
  /** mask of tos; default 0xff (tnl_wc_init) */
  tosMask?: number;
  /** mask of ttl; default 0 (tnl_wc_init) */
  ttlMask?: number;
  /** mask of the flags; default: the mask's tun_flags word */
  flagsMask?: number;
  /** a Geneve packet: OVS matches its (here empty) option list, printed `geneve()` */
  geneve?: boolean;
}

export interface DpFlowFormatOptions {
  /** OpenFlow port (the key's in_port) → datapath port number, e.g. from `dpif/show` */
  odpPort: (ofport: number) => number;
  /** outer-header facts for a decapsulated packet (see DpTunnelExtras) */
  tunnel?: DpTunnelExtras;
  /** TPID of the packet's VLAN tag (the key holds the TCI only); default 0x8100 */
  vlanTpid?: number;
  /** ct_label value and mask as 32 hex digits (absent: not printed, as it is always wildcarded) */
  ctLabel?: { value: bigint; mask: bigint };
}

// ---- C printf helpers ---------------------------------------------------------------------------

/** `%#x`: "0" for zero, else 0x-prefixed lower-case hex. */
function hx(n: number): string {
  return n === 0 ? '0' : `0x${(n >>> 0).toString(16)}`;
}

function macText(hi: number, lo: number): string {
  const b = [hi >>> 8 & 0xff, hi & 0xff, lo >>> 24 & 0xff, lo >>> 16 & 0xff, lo >>> 8 & 0xff, lo & 0xff];
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function ip6Text(k: Uint32Array, w: number): string {
  const b = new Uint8Array(16);
  for (let i = 0; i < 4; i++) {
    const x = k[w + i]!;
    b[4 * i] = x >>> 24; b[4 * i + 1] = (x >>> 16) & 0xff; b[4 * i + 2] = (x >>> 8) & 0xff; b[4 * i + 3] = x & 0xff;
  }
  return ipv6ToString(b, 0);
}

// ---- field printers (format_ipv4, format_eth, format_u8u, … of odp-util.c, non-verbose) ---------
// Each appends 'name=value[/mask],' to 'out' unless the mask is zero.

function putIpv4(out: string[], name: string, v: number, m: number): void {
  if (m === 0) return;
  out.push((m >>> 0) === 0xffffffff ? `${name}=${ipv4ToString(v >>> 0)}` : `${name}=${ipv4ToString(v >>> 0)}/${ipv4ToString(m >>> 0)}`);
}

function putEth(out: string[], name: string, k: Uint32Array, m: Uint32Array, w: number): void {
  const mh = m[w]! & 0xffff, ml = m[w + 1]! >>> 0;
  if (mh === 0 && ml === 0) return;
  const v = macText(k[w]!, k[w + 1]!);
  out.push(mh === 0xffff && ml === 0xffffffff ? `${name}=${v}` : `${name}=${v}/${macText(mh, ml)}`);
}

function putIn6(out: string[], name: string, k: Uint32Array, m: Uint32Array, w: number): void {
  let any = false, full = true;
  for (let i = 0; i < 4; i++) {
    const x = m[w + i]! >>> 0;
    if (x !== 0) any = true;
    if (x !== 0xffffffff) full = false;
  }
  if (!any) return;
  out.push(full ? `${name}=${ip6Text(k, w)}` : `${name}=${ip6Text(k, w)}/${ip6Text(m, w)}`);
}

/** format_u8u / format_be16: decimal value, `/%#x` mask. */
function putDec(out: string[], name: string, v: number, m: number, full: number): void {
  if (m === 0) return;
  out.push(m === full ? `${name}=${v}` : `${name}=${v}/${hx(m)}`);
}

/** format_u8x / format_be16x: `%#x` value and mask. */
function putHex(out: string[], name: string, v: number, m: number, full: number): void {
  if (m === 0) return;
  out.push(m === full ? `${name}=${hx(v)}` : `${name}=${hx(v)}/${hx(m)}`);
}

/** format_frag with ovs_to_odp_frag / ovs_to_odp_frag_mask. */
function putFrag(out: string[], nwFrag: number, nwFragMask: number): void {
  let m = 0xfc;
  if (nwFragMask & NW_FRAG_ANY) m |= 1;
  if (nwFragMask & (NW_FRAG_ANY | NW_FRAG_LATER)) m |= 2;
  if (m === 0xff) {
    const t = (nwFrag & NW_FRAG_ANY) === 0 ? 'no' : (nwFrag & NW_FRAG_LATER) !== 0 ? 'later' : 'first';
    out.push(`frag=${t}`);
  } else {
    out.push(`error: partial mask not supported for frag (${hx(m)})`);
  }
}

/** format_flags(…, '|'): names of the set bits, lowest first; "0" when none. */
function flagsText(v: number, name: (bit: number) => string | null): string {
  if (v === 0) return '0';
  const parts: string[] = [];
  let bad = 0;
  for (let bit = 1; bit !== 0 && bit <= v; bit = (bit << 1) >>> 0) {
    if ((v & bit) === 0) continue;
    const s = name(bit);
    if (s === null) bad |= bit;
    else parts.push(s);
  }
  if (bad) parts.push(`0x${(bad >>> 0).toString(16)}`);
  return parts.join('|');
}

/** format_flags_masked: `+name` / `-name` per masked bit, lowest first; plain flags when 'mask' is 'max'. */
function maskedFlagsText(v: number, mask: number, max: number, name: (bit: number) => string | null): string {
  if (mask === max) return flagsText(v, name);
  if (mask === 0) return '0/0';
  let s = '';
  for (let bit = 1; bit !== 0 && bit <= mask; bit = (bit << 1) >>> 0) {
    if ((mask & bit) === 0) continue;
    s += ((v & bit) !== 0 ? '+' : '-') + (name(bit) ?? '[Unknown]');
  }
  return s;
}

const CT_STATE_NAMES: Record<number, string> = {
  0x01: 'new', 0x02: 'est', 0x04: 'rel', 0x08: 'rpl', 0x10: 'inv', 0x20: 'trk', 0x40: 'snat', 0x80: 'dnat',
};
const TCP_FLAG_NAMES: Record<number, string> = {
  0x001: 'fin', 0x002: 'syn', 0x004: 'rst', 0x008: 'psh', 0x010: 'ack', 0x020: 'urg', 0x040: 'ece', 0x080: 'cwr',
  0x100: 'ns', 0x200: '[200]', 0x400: '[400]', 0x800: '[800]',
};
const TNL_FLAG_NAMES: Record<number, string> = { 1: 'oam', 2: 'df', 4: 'csum', 8: 'key' };
const ctStateName = (b: number): string | null => CT_STATE_NAMES[b] ?? null;
const tcpFlagName = (b: number): string | null => TCP_FLAG_NAMES[b] ?? null;
const tnlFlagName = (b: number): string | null => TNL_FLAG_NAMES[b] ?? null;

// ---- attributes ---------------------------------------------------------------------------------

function tunnelAttr(k: Uint32Array, m: Uint32Array, x: DpTunnelExtras): string {
  const out: string[] = [];
  const keyFlags = (x.flags ?? k[F_TUN_FLAGS]!) & TNL_F_MASK;
  const maskFlags = (x.flagsMask ?? m[F_TUN_FLAGS]!) & TNL_F_MASK;
  const idHi = k[F_TUN_ID_HI]! >>> 0, idLo = k[F_TUN_ID_LO]! >>> 0;
  const idMaskHi = m[F_TUN_ID_HI]! >>> 0, idMaskLo = m[F_TUN_ID_LO]! >>> 0;
  let flags = keyFlags & (TNL_F_DONT_FRAGMENT | TNL_F_CSUM | TNL_F_OAM);
  let mflags = maskFlags & (TNL_F_DONT_FRAGMENT | TNL_F_CSUM | TNL_F_OAM);
  // tun_key_to_attr: an ID attribute in the key when tun_id != 0 or KEY is set; in the mask likewise
  if (idHi !== 0 || idLo !== 0 || (keyFlags & TNL_F_KEY) !== 0) {
    flags |= TNL_F_KEY;
    if (idMaskHi !== 0 || idMaskLo !== 0 || (maskFlags & TNL_F_KEY) !== 0) {
      mflags |= TNL_F_KEY;
      if (idMaskHi !== 0 || idMaskLo !== 0) {
        const v = (BigInt(idHi) << 32n) | BigInt(idLo);
        const mv = (BigInt(idMaskHi) << 32n) | BigInt(idMaskLo);
        out.push(mv === 0xffffffffffffffffn ? `tun_id=0x${v.toString(16)}` : `tun_id=0x${v.toString(16)}/0x${mv.toString(16)}`);
      }
    }
  }
  if (k[F_TUN_SRC] !== 0) putIpv4(out, 'src', k[F_TUN_SRC]!, m[F_TUN_SRC]!);
  if (k[F_TUN_DST] !== 0) putIpv4(out, 'dst', k[F_TUN_DST]!, m[F_TUN_DST]!);
  const tos = (x.tos ?? 0) & 0xff;
  if (tos !== 0) putHex(out, 'tos', tos, (x.tosMask ?? 0xff) & 0xff, 0xff);
  putDec(out, 'ttl', (x.ttl ?? 0) & 0xff, (x.ttlMask ?? 0) & 0xff, 0xff);
  if (x.geneve === true) out.push('geneve()');
  // format_tun_flags: omitted when no flag is masked
  if (mflags !== 0) out.push(`flags(${maskedFlagsText(flags, mflags, TNL_F_MASK, tnlFlagName)})`);
  return `tunnel(${out.join(',')})`;
}

/** Everything from eth_type on (the part a VLAN tag nests inside encap()), per odp_flow_format. */
function l3Attrs(k: Uint32Array, m: Uint32Array, attrs: string[]): void {
  const dlType = k[F_DL_TYPE]! & 0xffff;
  if (dlType < ETH_TYPE_MIN) {
    // no ETHERTYPE in the key, 0xffff in the mask: odp_flow_format's trailing eth_type(0/0xffff)
    attrs.push(`eth_type(0/0x${(m[F_DL_TYPE]! & 0xffff).toString(16).padStart(4, '0')})`);
    return;
  }
  const tm = m[F_DL_TYPE]! & 0xffff;
  if (tm !== 0) {
    const t = `0x${dlType.toString(16).padStart(4, '0')}`;
    attrs.push(tm === 0xffff ? `eth_type(${t})` : `eth_type(${t}/0x${tm.toString(16).padStart(4, '0')})`);
  }
  const ip4 = dlType === ETH_TYPE_IP, ip6 = dlType === ETH_TYPE_IPV6;
  const proto = k[F_NW_PROTO]! & 0xff, protoMask = m[F_NW_PROTO]! & 0xff;
  if (ip4 || ip6) {
    const f: string[] = [];
    if (ip4) {
      putIpv4(f, 'src', k[F_NW_SRC]!, m[F_NW_SRC]!);
      putIpv4(f, 'dst', k[F_NW_DST]!, m[F_NW_DST]!);
    } else {
      putIn6(f, 'src', k, m, F_IPV6_SRC);
      putIn6(f, 'dst', k, m, F_IPV6_DST);
      const lm = m[F_IPV6_LABEL]! & 0xfffff;
      if (lm !== 0) {
        const lv = k[F_IPV6_LABEL]! & 0xfffff;
        f.push(lm === 0xfffff ? `label=${hx(lv)}` : `label=${hx(lv)}/${hx(lm)}`);
      }
    }
    putDec(f, 'proto', proto, protoMask, 0xff);
    const tos = (k[F_NW_TOS]! | k[F_NW_ECN]!) & 0xff, tosMask = (m[F_NW_TOS]! | m[F_NW_ECN]!) & 0xff;
    putHex(f, ip4 ? 'tos' : 'tclass', tos, tosMask, 0xff);
    putDec(f, ip4 ? 'ttl' : 'hlimit', k[F_NW_TTL]! & 0xff, m[F_NW_TTL]! & 0xff, 0xff);
    putFrag(f, k[F_NW_FRAG]!, m[F_NW_FRAG]!);
    if (f.length) attrs.push(`${ip4 ? 'ipv4' : 'ipv6'}(${f.join(',')})`);
  } else if (dlType === ETH_TYPE_ARP || dlType === ETH_TYPE_RARP) {
    const f: string[] = [];
    putIpv4(f, 'sip', k[F_NW_SRC]!, m[F_NW_SRC]!);
    putIpv4(f, 'tip', k[F_NW_DST]!, m[F_NW_DST]!);
    putDec(f, 'op', proto, protoMask, 0xff);
    putEth(f, 'sha', k, m, F_ARP_SHA_HI);
    putEth(f, 'tha', k, m, F_ARP_THA_HI);
    if (f.length) attrs.push(`arp(${f.join(',')})`);
  }
  if (!(ip4 || ip6) || (k[F_NW_FRAG]! & NW_FRAG_LATER) !== 0) return;
  const tpSrc = k[F_TP_SRC]! & 0xffff, tpDst = k[F_TP_DST]! & 0xffff;
  const tpSrcM = m[F_TP_SRC]! & 0xffff, tpDstM = m[F_TP_DST]! & 0xffff;
  if (proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP) {
    const f: string[] = [];
    putDec(f, 'src', tpSrc, tpSrcM, 0xffff);
    putDec(f, 'dst', tpDst, tpDstM, 0xffff);
    if (f.length) attrs.push(`${proto === IPPROTO_TCP ? 'tcp' : proto === IPPROTO_UDP ? 'udp' : 'sctp'}(${f.join(',')})`);
    if (proto === IPPROTO_TCP) {
      const fl = k[F_TCP_FLAGS]! & 0xffff, flm = m[F_TCP_FLAGS]! & 0xffff;
      if (flm !== 0) {
        attrs.push(`tcp_flags(${flm === 0xffff
          ? flagsText(fl, tcpFlagName)
          : maskedFlagsText(fl & TCP_FLAGS_MASK, flm & TCP_FLAGS_MASK, TCP_FLAGS_MASK, tcpFlagName)})`);
      }
    }
  } else if ((ip4 && proto === IPPROTO_ICMP) || (ip6 && proto === IPPROTO_ICMPV6)) {
    const f: string[] = [];
    putDec(f, 'type', tpSrc & 0xff, tpSrcM & 0xff, 0xff);
    putDec(f, 'code', tpDst & 0xff, tpDstM & 0xff, 0xff);
    if (f.length) attrs.push(`${ip4 ? 'icmp' : 'icmpv6'}(${f.join(',')})`);
    // is_nd(flow) in the key; in the mask only when tp_src's mask is exactly 0x00ff
    if (ip6 && tpDst === 0 && (tpSrc === 135 || tpSrc === 136) && tpSrcM === 0xff) {
      const n: string[] = [];
      putIn6(n, 'target', k, m, F_ND_TARGET);
      putEth(n, 'sll', k, m, F_ARP_SHA_HI);
      putEth(n, 'tll', k, m, F_ARP_THA_HI);
      if (n.length) attrs.push(`nd(${n.join(',')})`);
    }
  }
}

/**
 * The match part of a `dpctl/dump-flows` line for the megaflow with flow key 'key' (the upcalled
 * packet's key, unmasked) and mask 'mask' (FLOW_WORDS words each, src/flow/key.ts), as OVS 3.1's
 * userspace datapath prints it without `-m`. 'opts.odpPort' maps the key's OpenFlow in_port to
 * the datapath port; 'opts.tunnel' supplies outer-header facts of decapsulated packets. Pure.
 */
export function formatDpFlowKey(key: Uint32Array, mask: Uint32Array, opts: DpFlowFormatOptions): string {
  const k = key, m = mask;
  const attrs: string[] = [];
  // skb_priority: always wildcarded
  if (k[F_TUN_SRC] !== 0 || k[F_TUN_DST] !== 0) attrs.push(tunnelAttr(k, m, opts.tunnel ?? {}));
  // skb_mark: always wildcarded
  const csm = m[F_CT_STATE]! & 0xff;
  if (csm !== 0) attrs.push(`ct_state(${maskedFlagsText(k[F_CT_STATE]! & 0xff, csm, 0xffffffff, ctStateName)})`);
  const czm = m[F_CT_ZONE]! & 0xffff;
  if (czm !== 0) attrs.push(`ct_zone(${hx(k[F_CT_ZONE]! & 0xffff)}${czm === 0xffff ? '' : `/${hx(czm)}`})`);
  const cmm = m[F_CT_MARK]! >>> 0;
  if (cmm !== 0) attrs.push(`ct_mark(${hx(k[F_CT_MARK]!)}${cmm === 0xffffffff ? '' : `/${hx(cmm)}`})`);
  const lbl = opts.ctLabel;
  if (lbl !== undefined && lbl.mask !== 0n) {
    const full = (1n << 128n) - 1n;
    const h = (v: bigint): string => `0x${v.toString(16).padStart(32, '0')}`;
    attrs.push(`ct_label(${h(lbl.value)}${lbl.mask === full ? '' : `/${h(lbl.mask)}`})`);
  }
  const rm = m[F_RECIRC_ID]! >>> 0;
  attrs.push(`recirc_id(${hx(k[F_RECIRC_ID]!)}${rm === 0xffffffff ? '' : `/${hx(rm)}`})`);
  // dp_hash: only after a select group's hash(), masked by its slot count
  const dm = m[F_DP_HASH]! >>> 0;
  if (dm !== 0) attrs.push(`dp_hash(${hx(k[F_DP_HASH]!)}${dm === 0xffffffff ? '' : `/${hx(dm)}`})`);
  attrs.push(`in_port(${opts.odpPort(k[F_IN_PORT]!)})`);
  attrs.push('packet_type(ns=0,id=0)');
  const eth: string[] = [];
  putEth(eth, 'src', k, m, F_DL_SRC_HI);
  putEth(eth, 'dst', k, m, F_DL_DST_HI);
  if (eth.length) attrs.push(`eth(${eth.join(',')})`);
  const tci = k[F_VLAN_TCI]! & 0xffff;
  if (tci !== 0) {
    // dpif-netdev (handle_packet_upcall): an unmasked TCI is matched on VID and CFI anyway
    let tm = m[F_VLAN_TCI]! & 0xffff;
    if (tm === 0) tm = VLAN_VID_MASK | VLAN_CFI;
    attrs.push(`eth_type(0x${(opts.vlanTpid ?? 0x8100).toString(16).padStart(4, '0')})`);
    const v: string[] = [];
    const vid = tci & VLAN_VID_MASK, vidM = tm & VLAN_VID_MASK, pcp = tci >>> 13, pcpM = tm >>> 13;
    if (vid !== 0 || vidM !== 0) v.push(vidM === VLAN_VID_MASK ? `vid=${vid}` : `vid=${vid}/0x${vidM.toString(16)}`);
    if (pcp !== 0 || pcpM !== 0) v.push(pcpM === 7 ? `pcp=${pcp}` : `pcp=${pcp}/0x${pcpM.toString(16)}`);
    if ((tci & VLAN_CFI) === 0) v.push('cfi=0');
    attrs.push(`vlan(${v.join(',')})`);
    const inner: string[] = [];
    l3Attrs(k, m, inner);
    attrs.push(`encap(${inner.join(',')})`);
  } else {
    l3Attrs(k, m, attrs);
  }
  return attrs.join(',');
}

/** Counters of one datapath flow, as dpif_flow_stats. */
export interface DpFlowStats {
  packets: number;
  bytes: number;
  /** time of the last hit in ms on the same clock as 'nowMs'; null = never */
  usedMs: number | null;
  nowMs: number;
  /** OR of the TCP flags seen (stats->tcp_flags); printed as `, flags:S.` when non-zero */
  tcpFlags?: number;
}

/** packet_format_tcp_flags: tcpdump-style letters. */
export function formatTcpFlagLetters(f: number): string {
  if (f === 0) return 'none';
  let s = '';
  if (f & 0x002) s += 'S';
  if (f & 0x001) s += 'F';
  if (f & 0x008) s += 'P';
  if (f & 0x004) s += 'R';
  if (f & 0x020) s += 'U';
  if (f & 0x010) s += '.';
  if (f & 0x040) s += 'E';
  if (f & 0x080) s += 'C';
  if (f & 0x100) s += 'N';
  if (f & 0x200) s += '[200]';
  if (f & 0x400) s += '[400]';
  if (f & 0x800) s += '[800]';
  return s;
}

/**
 * A whole `dpctl/dump-flows` line: formatDpFlowKey('key', 'mask', 'opts'), then
 * `, packets:N, bytes:N, used:Xs|never[, flags:…], actions:A` with 'stats' (used = (nowMs −
 * usedMs)/1000 with three decimals, as dpif_flow_stats_format) and 'actions' (datapath action
 * text; '' prints `drop`).
 */
export function formatDpFlowLine(key: Uint32Array, mask: Uint32Array, stats: DpFlowStats, actions: string,
  opts: DpFlowFormatOptions): string {
  const used = stats.usedMs === null ? 'never' : `${((stats.nowMs - stats.usedMs) / 1000).toFixed(3)}s`;
  const flags = stats.tcpFlags ? `, flags:${formatTcpFlagLetters(stats.tcpFlags)}` : '';
  return `${formatDpFlowKey(key, mask, opts)}, packets:${stats.packets}, bytes:${stats.bytes}, used:${used}${flags}, actions:${actions === '' ? 'drop' : actions}`;
}
