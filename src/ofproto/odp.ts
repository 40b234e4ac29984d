/**
 * Datapath (ODP) actions as OVS prints them, and the lazy commit of header
 * rewrites (ofproto layer, slow path) — sdnemu's part of lib/odp-util.c.
 *
 * What: `commitHeaders(flow, base, wc, out)` compares the flow as the
 * OpenFlow actions left it ('flow') with what the datapath packet looks like
 * so far ('base') and appends, per header, one `set(...)` with only the fields
 * that differ, then pops/pushes VLAN tags; 'base' is updated to match. xlate
 * calls it just before anything that emits a packet or hands it to another
 * datapath action (output, ct, recirc, userspace, tnl_push, hash).
 *
 * Why lazy: OVS commits rewrites only when the packet leaves ("Header
 * rewrites are committed lazily", BEHAVIOUR.md item 6), so a field changed
 * and changed back between two outputs costs nothing, and the datapath
 * action string is exactly OVS's.
 *
 * The rules reproduced (odp-util.c `commit_odp_actions`, OVS 3.1):
 *  - order: eth, then the L3 header (ipv4 / ipv6 / arp), then the L4 ports
 *    (tcp / udp / sctp), then icmp, then VLAN pop/push;
 *  - a masked set: a field is printed when its value differs from 'base',
 *    with the megaflow's mask for it (`tos=0x20/0xfc`), without a mask when
 *    the mask is all-ones; equal fields are left out (keycmp_mask);
 *  - nothing at L3/L4 when the flow's nw_proto is 0 (the "IPv4 with
 *    nw_proto=0 never gets set(ipv4)" quirk: commit_set_nw_action checks
 *    `flow->nw_proto` first);
 *  - L4 ports only for TCP/UDP/SCTP and not for later fragments;
 *  - ICMP type/code as `set(icmp(type=..,code=..))` (IPv4 only, as OVS) and
 *    ARP as a whole `set(arp(...))`: unmasked sets, so they make every field
 *    of their header exact in the megaflow; both return SLOW_ACTION, as the
 *    datapath has no action for them (commit_set_icmp_action).
 * The VLAN TPID is not in the flow key (one tag, TCI only), so the caller
 * passes it alongside.
 * Neighbours: xlate.ts drives it; flow/key.ts gives the word layout.
 */
import {
  F_ARP_SHA_HI, F_ARP_SHA_LO, F_ARP_THA_HI, F_ARP_THA_LO, F_DL_DST_HI, F_DL_DST_LO, F_DL_SRC_HI, F_DL_SRC_LO,
  F_DL_TYPE, F_IPV6_DST, F_IPV6_LABEL, F_IPV6_SRC, F_NW_DST, F_NW_ECN, F_NW_FRAG, F_NW_PROTO, F_NW_SRC, F_NW_TOS,
  F_NW_TTL, F_TP_DST, F_TP_SRC, F_VLAN_TCI, NW_FRAG_LATER,
} from '../flow/key.js';
import { ipv4ToString, ipv6ToString, macToString } from '../wire/bytes.js';

const ETH_TYPE_IP = 0x0800, ETH_TYPE_IPV6 = 0x86dd, ETH_TYPE_ARP = 0x0806;

/**
 * Slow-path reasons (odp-util.h SLOW_PATH_REASONS, one bit each): SLOW_ACTION marks a
 * translation whose datapath actions include a set() the datapath cannot do itself (ARP, ICMP,
 * ND): OVS installs `userspace(pid=0,slow_path(action))` for it and runs the actions in
 * userspace for every packet.
 */
export const SLOW_ACTION = 1 << 5;

/** C's printf("%#x"): "0" for zero, else 0x-prefixed hex. */
export function hexC(n: number): string {
  return n === 0 ? '0' : `0x${n.toString(16)}`;
}

function macOf(k: Uint32Array, w: number): string {
  const b = new Uint8Array(6);
  const hi = k[w]!, lo = k[w + 1]!;
  b[0] = hi >>> 8; b[1] = hi & 0xff;
  b[2] = lo >>> 24; b[3] = (lo >>> 16) & 0xff; b[4] = (lo >>> 8) & 0xff; b[5] = lo & 0xff;
  return macToString(b, 0);
}

const ip4 = ipv4ToString;

function ip6Of(k: Uint32Array, w: number): string {
  const b = new Uint8Array(16);
  for (let i = 0; i < 4; i++) {
    const x = k[w + i]!;
    b[4 * i] = x >>> 24; b[4 * i + 1] = (x >>> 16) & 0xff; b[4 * i + 2] = (x >>> 8) & 0xff; b[4 * i + 3] = x & 0xff;
  }
  return ipv6ToString(b, 0);
}

/** A field of a set() key: text of value, and whether it differs, and its mask text. */
interface SetField { name: string; differs: boolean; value: string; mask: string | null /* null = full */; maskZero: boolean }

function setText(header: string, fields: SetField[]): string | null {
  const shown = fields.filter((f) => f.differs && !f.maskZero);
  if (shown.length === 0) return null;
  return `set(${header}(${shown.map((f) => (f.mask === null ? `${f.name}=${f.value}` : `${f.name}=${f.value}/${f.mask}`)).join(',')}))`;
}

/** One field spanning key words [w, w+n): differs, and mask full/zero. */
function wordsField(flow: Uint32Array, base: Uint32Array, wc: Uint32Array, w: number, n: number, full: number):
  { differs: boolean; full: boolean; zero: boolean } {
  let differs = false, isFull = true, zero = true;
  for (let i = 0; i < n; i++) {
    if (flow[w + i] !== base[w + i]) differs = true;
    const m = wc[w + i]!;
    const f = (i === 0 && n === 2 && full === 0xffff ? 0xffff : (n === 1 ? full : 0xffffffff)) >>> 0;
    if (((m & f) >>> 0) !== f) isFull = false;
    if ((m & f) !== 0) zero = false;
  }
  return { differs, full: isFull, zero };
}

/**
 * Commit the differences between 'flow' and 'base' as datapath actions
 * appended to 'out', and make 'base' equal to 'flow' in the committed
 * headers. 'wc' is the megaflow mask (its bits decide masked vs plain
 * printing). 'tpid' / 'baseTpid' hold the VLAN TPIDs ([0] current, [1] base).
 */
export function commitHeaders(flow: Uint32Array, base: Uint32Array, wc: Uint32Array, out: string[], tpid: number[]): number {
  let slow = 0;
  // a masked set carries its value under the mask (odp-util.c masks the key): 'mv' prints it
  const mv = flow.map((v, i) => (v & wc[i]!) >>> 0);
  // ---- Ethernet -----------------------------------------------------------------------------
  {
    const src = wordsField(flow, base, wc, F_DL_SRC_HI, 2, 0xffff);
    const dst = wordsField(flow, base, wc, F_DL_DST_HI, 2, 0xffff);
    if (src.differs || dst.differs) {
      const s = setText('eth', [
        { name: 'src', differs: src.differs, value: macOf(src.full ? flow : mv, F_DL_SRC_HI), mask: src.full ? null : macOf(wc, F_DL_SRC_HI), maskZero: src.zero },
        { name: 'dst', differs: dst.differs, value: macOf(dst.full ? flow : mv, F_DL_DST_HI), mask: dst.full ? null : macOf(wc, F_DL_DST_HI), maskZero: dst.zero },
      ]);
      if (s !== null) out.push(s);
      base[F_DL_SRC_HI] = flow[F_DL_SRC_HI]!; base[F_DL_SRC_LO] = flow[F_DL_SRC_LO]!;
      base[F_DL_DST_HI] = flow[F_DL_DST_HI]!; base[F_DL_DST_LO] = flow[F_DL_DST_LO]!;
    }
  }
  const dl = base[F_DL_TYPE]!;
  const proto = flow[F_NW_PROTO]!;
  // ---- L3 -------------------------------------------------------------------------------------
  if (proto !== 0 && dl === ETH_TYPE_IP) {
    const tosF = (flow[F_NW_TOS]! | flow[F_NW_ECN]!), tosB = (base[F_NW_TOS]! | base[F_NW_ECN]!);
    const tosM = ((wc[F_NW_TOS]! & 0xfc) | (wc[F_NW_ECN]! & 0x03));
    const src = wordsField(flow, base, wc, F_NW_SRC, 1, 0xffffffff);
    const dst = wordsField(flow, base, wc, F_NW_DST, 1, 0xffffffff);
    const ttl = wordsField(flow, base, wc, F_NW_TTL, 1, 0xff);
    const s = setText('ipv4', [
      { name: 'src', differs: src.differs, value: ip4((src.full ? flow : mv)[F_NW_SRC]!), mask: src.full ? null : ip4(wc[F_NW_SRC]!), maskZero: src.zero },
      { name: 'dst', differs: dst.differs, value: ip4((dst.full ? flow : mv)[F_NW_DST]!), mask: dst.full ? null : ip4(wc[F_NW_DST]!), maskZero: dst.zero },
      { name: 'tos', differs: tosF !== tosB, value: hexC(tosM === 0xff ? tosF : tosF & tosM), mask: tosM === 0xff ? null : hexC(tosM), maskZero: tosM === 0 },
      { name: 'ttl', differs: ttl.differs, value: String((ttl.full ? flow : mv)[F_NW_TTL]), mask: ttl.full ? null : hexC(wc[F_NW_TTL]! & 0xff), maskZero: ttl.zero },
    ]);
    if (s !== null) out.push(s);
    base[F_NW_SRC] = flow[F_NW_SRC]!; base[F_NW_DST] = flow[F_NW_DST]!;
    base[F_NW_TOS] = flow[F_NW_TOS]!; base[F_NW_ECN] = flow[F_NW_ECN]!; base[F_NW_TTL] = flow[F_NW_TTL]!;
  } else if (proto !== 0 && dl === ETH_TYPE_IPV6) {
    const tcF = (flow[F_NW_TOS]! | flow[F_NW_ECN]!), tcB = (base[F_NW_TOS]! | base[F_NW_ECN]!);
    const tcM = ((wc[F_NW_TOS]! & 0xfc) | (wc[F_NW_ECN]! & 0x03));
    const src = wordsField(flow, base, wc, F_IPV6_SRC, 4, 0);
    const dst = wordsField(flow, base, wc, F_IPV6_DST, 4, 0);
    const lab = wordsField(flow, base, wc, F_IPV6_LABEL, 1, 0xfffff);
    const hl = wordsField(flow, base, wc, F_NW_TTL, 1, 0xff);
    const s = setText('ipv6', [
      { name: 'src', differs: src.differs, value: ip6Of(src.full ? flow : mv, F_IPV6_SRC), mask: src.full ? null : ip6Of(wc, F_IPV6_SRC), maskZero: src.zero },
      { name: 'dst', differs: dst.differs, value: ip6Of(dst.full ? flow : mv, F_IPV6_DST), mask: dst.full ? null : ip6Of(wc, F_IPV6_DST), maskZero: dst.zero },
      { name: 'label', differs: lab.differs, value: hexC((lab.full ? flow : mv)[F_IPV6_LABEL]!), mask: lab.full ? null : hexC(wc[F_IPV6_LABEL]! & 0xfffff), maskZero: lab.zero },
      { name: 'tclass', differs: tcF !== tcB, value: hexC(tcM === 0xff ? tcF : tcF & tcM), mask: tcM === 0xff ? null : hexC(tcM), maskZero: tcM === 0 },
      { name: 'hlimit', differs: hl.differs, value: String((hl.full ? flow : mv)[F_NW_TTL]), mask: hl.full ? null : hexC(wc[F_NW_TTL]! & 0xff), maskZero: hl.zero },
    ]);
    if (s !== null) out.push(s);
    for (let i = 0; i < 4; i++) { base[F_IPV6_SRC + i] = flow[F_IPV6_SRC + i]!; base[F_IPV6_DST + i] = flow[F_IPV6_DST + i]!; }
    base[F_IPV6_LABEL] = flow[F_IPV6_LABEL]!;
    base[F_NW_TOS] = flow[F_NW_TOS]!; base[F_NW_ECN] = flow[F_NW_ECN]!; base[F_NW_TTL] = flow[F_NW_TTL]!;
  } else if (proto !== 0 && dl === ETH_TYPE_ARP) {
    // commit_set_arp_action: a plain set of the whole key when anything differs
    let differs = false;
    for (const w of [F_NW_SRC, F_NW_DST, F_NW_PROTO, F_ARP_SHA_HI, F_ARP_SHA_LO, F_ARP_THA_HI, F_ARP_THA_LO]) {
      if (flow[w] !== base[w]) differs = true;
    }
    if (differs) {
      out.push(`set(arp(sip=${ip4(flow[F_NW_SRC]!)},tip=${ip4(flow[F_NW_DST]!)},op=${flow[F_NW_PROTO]},sha=${macOf(flow, F_ARP_SHA_HI)},tha=${macOf(flow, F_ARP_THA_HI)}))`);
      slow |= SLOW_ACTION;
      for (const w of [F_NW_SRC, F_NW_DST, F_NW_PROTO, F_ARP_SHA_HI, F_ARP_SHA_LO, F_ARP_THA_HI, F_ARP_THA_LO]) {
        base[w] = flow[w]!;
        wc[w] = (wc[w]! | (w === F_NW_PROTO ? 0xff : w === F_ARP_SHA_HI || w === F_ARP_THA_HI ? 0xffff : 0xffffffff)) >>> 0;
      }
    }
  }
  // ---- L4 -------------------------------------------------------------------------------------
  const ip = dl === ETH_TYPE_IP || dl === ETH_TYPE_IPV6;
  if (proto !== 0 && ip && (flow[F_NW_FRAG]! & NW_FRAG_LATER) === 0) {
    const name = proto === 6 ? 'tcp' : proto === 17 ? 'udp' : proto === 132 ? 'sctp' : null;
    if (name !== null) {
      const sp = wordsField(flow, base, wc, F_TP_SRC, 1, 0xffff);
      const dp = wordsField(flow, base, wc, F_TP_DST, 1, 0xffff);
      const s = setText(name, [
        { name: 'src', differs: sp.differs, value: String((sp.full ? flow : mv)[F_TP_SRC]), mask: sp.full ? null : hexC(wc[F_TP_SRC]! & 0xffff), maskZero: sp.zero },
        { name: 'dst', differs: dp.differs, value: String((dp.full ? flow : mv)[F_TP_DST]), mask: dp.full ? null : hexC(wc[F_TP_DST]! & 0xffff), maskZero: dp.zero },
      ]);
      if (s !== null) out.push(s);
      base[F_TP_SRC] = flow[F_TP_SRC]!; base[F_TP_DST] = flow[F_TP_DST]!;
    } else if (proto === 1 && dl === ETH_TYPE_IP) {
      // commit_set_icmp_action: a plain set of type and code
      if (flow[F_TP_SRC] !== base[F_TP_SRC] || flow[F_TP_DST] !== base[F_TP_DST]) {
        out.push(`set(icmp(type=${flow[F_TP_SRC]! & 0xff},code=${flow[F_TP_DST]! & 0xff}))`);
        slow |= SLOW_ACTION;
        base[F_TP_SRC] = flow[F_TP_SRC]!; base[F_TP_DST] = flow[F_TP_DST]!;
        // an unmasked set: the megaflow then matches both fields exactly
        wc[F_TP_SRC] = (wc[F_TP_SRC]! | 0xffff) >>> 0;
        wc[F_TP_DST] = (wc[F_TP_DST]! | 0xffff) >>> 0;
      }
    }
  }
  // ---- VLAN -------------------------------------------------------------------------------------
  const ft = flow[F_VLAN_TCI]!, bt = base[F_VLAN_TCI]!;
  if (ft !== bt || (ft !== 0 && tpid[0] !== tpid[1])) {
    // commit_vlan_action: popping a tag makes the megaflow match its whole TCI
    if (bt !== 0) { out.push('pop_vlan'); wc[F_VLAN_TCI] = 0xffff; }
    if (ft !== 0) {
      const parts: string[] = [];
      if (tpid[0] !== 0x8100) parts.push(`tpid=0x${tpid[0]!.toString(16)}`);
      parts.push(`vid=${ft & 0x0fff}`, `pcp=${ft >>> 13}`);
      if ((ft & 0x1000) === 0) parts.push('cfi=0');
      out.push(`push_vlan(${parts.join(',')})`);
    }
    base[F_VLAN_TCI] = ft;
    tpid[1] = tpid[0]!;
  }
  return slow;
}
