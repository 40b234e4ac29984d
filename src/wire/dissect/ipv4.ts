/**
 * IPv4 dissector (slow path): Wireshark's `ip.*` fields. See ../dissect.ts.
 *
 * Fields, formatted as tshark 4.0 prints them (`-n`, checksum validation on):
 * ip.version, ip.hdr_len (bytes), ip.dsfield (0x%02x), ip.dsfield.dscp,
 * ip.dsfield.ecn, ip.len, ip.id (0x%04x), ip.flags (the three bits,
 * 0x%02x), ip.flags.rb/.df/.mf, ip.frag_offset (8-byte units, as carried),
 * ip.ttl, ip.proto, ip.checksum, ip.checksum.status (1 good, 0 bad),
 * ip.checksum_calculated, ip.src, ip.addr, ip.src_host, ip.host, then
 * ip.dst, ip.addr, ip.dst_host, ip.host (so ip.addr and ip.host come out as
 * "src,dst").
 * Source routes: when a loose/strict source route option (131/137) has a
 * valid pointer that has not run past its end, tshark shows the header's
 * destination as ip.cur_rt (the next hop) and the route's last address as
 * ip.dst (the final destination, from inside the option); ctx.ip.dst is
 * that final destination too, as the upper-layer pseudo-header uses it
 * (RFC 1122 §3.2.1.8).
 * Options: for each option tshark knows: ip.options.<name> (the option's
 * bytes in hex), ip.opt.type, ip.opt.type.copy/.class/.number, ip.opt.len
 * and the value fields of RR (ip.opt.ptr, ip.rec_rt, ip.empty_rt), LSRR and
 * SSRR (ip.opt.ptr, ip.rec_rt, ip.src_rt, final ip.dst), Timestamp
 * (ip.opt.ptr, ip.opt.overflow, ip.opt.flag, ip.opt.time_stamp_addr,
 * ip.opt.time_stamp), Router Alert (ip.opt.ra), Stream ID (ip.opt.sid), MTU
 * probe/reply (ip.opt.mtu), Traceroute (ip.opt.id_number, .ohc, .rhc,
 * .originator), SDB (ip.opt.addr, ip.opt.padding); other known options
 * (security, CIPSO, Quick-Start…) only get the generic fields, and unknown
 * option types none (tshark shows them as text only).
 * Errors: a bad version or header length throws after ip.version/ip.hdr_len;
 * a malformed option list (check()), a total length below the header length,
 * an option too short for its own fields (e.g. a 3-byte Router Alert; tshark
 * warns or marks such packets malformed) or a total length beyond the bytes
 * present throw after every field before the fault was added, so the layer
 * stays in the result. Inside an ICMP error (`ctx.quoted`) or inside an
 * enclosing first fragment (a tunnel's inner packet) the datagram may be cut
 * short: that is accepted and not flagged; the header checksum is still
 * verified when the header is whole, as tshark 4.0 does.
 * Fragments (tshark without reassembly, `-o ip.defragment:FALSE`, which is
 * what sdnemu does since it never reassembles in the dissector): offset 0
 * decodes the upper-layer header from the bytes present; a later fragment
 * has no header, so Next is `{kind:'data'}`.
 * Next: `{kind:'ipproto', proto, off: payload start, end: min(off + ip.len, end)}`.
 * Sets ctx.ip for the upper layer's pseudo-header.
 */
import { be16, be32, ipv4ToString, toHex } from '../bytes.js';
import { CHECKSUM_BAD, CHECKSUM_GOOD, addField, flag, hex, type DissectCtx, type DissectLayer, type Next } from '../dissect.js';
import { WireErrc, wireError } from '../errc.js';
import {
  IPOPT_CIPSO, IPOPT_EOL, IPOPT_ESEC, IPOPT_LSRR, IPOPT_MTU_PROBE, IPOPT_MTU_REPLY, IPOPT_NOP, IPOPT_QS, IPOPT_RA,
  IPOPT_RR, IPOPT_SDB, IPOPT_SEC, IPOPT_SID, IPOPT_SSRR, IPOPT_TR, IPOPT_TS, IPV4_HEADER_LEN, Ipv4Packet,
} from '../ipv4.js';

/** Options tshark decodes: the name of their ip.options.* field and the length their value fields need (0: any >= 2). */
export const KNOWN_IPV4_OPTIONS: ReadonlyMap<number, { name: string; minLen: number; fixed: boolean }> = new Map([
  [IPOPT_EOL, { name: 'eol', minLen: 1, fixed: true }],
  [IPOPT_NOP, { name: 'nop', minLen: 1, fixed: true }],
  [IPOPT_SEC, { name: 'security', minLen: 0, fixed: false }],
  [IPOPT_LSRR, { name: 'route', minLen: 3, fixed: false }],
  [IPOPT_TS, { name: 'timestamp', minLen: 4, fixed: false }],
  [IPOPT_ESEC, { name: 'ext_security', minLen: 0, fixed: false }],
  [IPOPT_CIPSO, { name: 'cipso', minLen: 0, fixed: false }],
  [IPOPT_RR, { name: 'record_route', minLen: 3, fixed: false }],
  [IPOPT_SID, { name: 'sid', minLen: 4, fixed: true }],
  [IPOPT_SSRR, { name: 'source_route', minLen: 3, fixed: false }],
  [IPOPT_MTU_PROBE, { name: 'mtu_probe', minLen: 4, fixed: true }],
  [IPOPT_MTU_REPLY, { name: 'mtu_reply', minLen: 4, fixed: true }],
  [IPOPT_TR, { name: 'traceroute', minLen: 12, fixed: true }],
  [IPOPT_RA, { name: 'routeralert', minLen: 4, fixed: true }],
  [IPOPT_SDB, { name: 'sdb', minLen: 0, fixed: false }],
  [IPOPT_QS, { name: 'qs', minLen: 0, fixed: false }],
]);

/** Dissect the IPv4 datagram at [off, end) into an `ip` layer; sets ctx.ip; see the module comment for Next and errors. */
export function dissectIpv4(ctx: DissectCtx, off: number, end: number): Next {
  const b = ctx.bytes;
  const p = new Ipv4Packet().reset(b, off, end);
  const c = p.checkHeader();
  if (c === WireErrc.Truncated) throw wireError(c, 'ipv4', p.errField, p.errAt);
  if (c === WireErrc.BadVersion || c === WireErrc.BadHdrLen) {
    const l = ctx.open('ip', off, 1);
    addField(l, 'ip.version', String(p.version()));
    if (c === WireErrc.BadHdrLen) addField(l, 'ip.hdr_len', String(p.hdrLen()));
    throw wireError(c, 'ipv4', p.errField, p.errAt);
  }
  const hl = p.hdrLen();
  const tl = p.totalLength();
  const inFragment = insideFirstFragment(ctx, ctx.layers.length);
  const l = ctx.open('ip', off, hl);
  addField(l, 'ip.version', '4');
  addField(l, 'ip.hdr_len', String(hl));
  addField(l, 'ip.dsfield', hex(p.dsfield(), 2));
  addField(l, 'ip.dsfield.dscp', String(p.dscp()));
  addField(l, 'ip.dsfield.ecn', String(p.ecn()));
  addField(l, 'ip.len', String(tl));
  addField(l, 'ip.id', hex(p.ident(), 4));
  addField(l, 'ip.flags', hex(p.flags(), 2));
  addField(l, 'ip.flags.rb', flag(p.reservedFlag()));
  addField(l, 'ip.flags.df', flag(p.dontFrag()));
  addField(l, 'ip.flags.mf', flag(p.moreFrags()));
  addField(l, 'ip.frag_offset', String(p.fragOffset()));
  addField(l, 'ip.ttl', String(p.ttl()));
  addField(l, 'ip.proto', String(p.protocol()));
  addField(l, 'ip.checksum', hex(p.checksum(), 4));
  addField(l, 'ip.checksum.status', p.verifyChecksum() ? CHECKSUM_GOOD : CHECKSUM_BAD);
  addField(l, 'ip.checksum_calculated', hex(p.computeChecksum(), 4));
  const src = ipv4ToString(p.src());
  addField(l, 'ip.src', src);
  addField(l, 'ip.addr', src);
  addField(l, 'ip.src_host', src);
  addField(l, 'ip.host', src);
  // The end of the option list checkHeader() accepted: a malformed option
  // stops it; with a bogus total length the options were not walked at all.
  const optEnd = c === WireErrc.BadOption ? p.errAt : c === 0 ? off + hl : off + IPV4_HEADER_LEN;
  const finalDstAt = sourceRouteDst(b, off + IPV4_HEADER_LEN, optEnd);
  if (finalDstAt < 0) {
    const dst = ipv4ToString(p.dst());
    addField(l, 'ip.dst', dst);
    addField(l, 'ip.addr', dst);
    addField(l, 'ip.dst_host', dst);
    addField(l, 'ip.host', dst);
  } else {
    const cur = ipv4ToString(p.dst());
    addField(l, 'ip.cur_rt', cur);
    addField(l, 'ip.cur_rt_host', cur);
  }
  dissectOptions(l, b, off + IPV4_HEADER_LEN, optEnd);
  if (c !== 0) throw wireError(c, 'ipv4', p.errField, p.errAt);
  if (!ctx.quoted && !inFragment && tl > end - off) ctx.truncated ??= wireError(WireErrc.Truncated, 'ipv4', 'ip.len', end);
  ctx.ip = {
    version: 4, src: p.src(), dst: finalDstAt < 0 ? p.dst() : be32(b, finalDstAt),
    srcOff: -1, dstOff: -1, quoted: ctx.quoted, fragmented: p.moreFrags() || p.fragOffset() !== 0,
  };
  const payOff = off + hl;
  const payEnd = Math.min(off + tl, end);
  if (p.fragOffset() !== 0) return { kind: 'data', off: payOff, end: payEnd };
  return { kind: 'ipproto', proto: p.protocol(), off: payOff, end: payEnd };
}

/**
 * True when one of the first 'upTo' layers of 'ctx' is an IPv4 or IPv6
 * first fragment (more fragments set, offset 0): everything it carries (a
 * tunnel's inner packet…) may end early without being truncated, and a
 * length claiming the missing bytes is not an error. tshark only shows
 * "exceeds packet length" there.
 */
export function insideFirstFragment(ctx: DissectCtx, upTo: number): boolean {
  for (let i = 0; i < upTo; i++) {
    const l = ctx.layers[i]!;
    if (l.proto !== 'ip' && l.proto !== 'ipv6.fraghdr') continue;
    let more = false, offset = '';
    for (const [k, v] of l.fields) {
      if (k === 'ip.flags.mf' || k === 'ipv6.fraghdr.more') more = v === '1';
      else if (k === 'ip.frag_offset' || k === 'ipv6.fraghdr.offset') offset = v;
    }
    if (more && offset === '0') return true;
  }
  return false;
}

/**
 * Offset of the final destination in a loose/strict source route option in
 * [from, to), or -1 when there is none or its pointer is invalid or past the
 * end of the route (then the header's destination is final). Mirrors
 * Wireshark's get_dst_offset().
 */
function sourceRouteDst(b: Uint8Array, from: number, to: number): number {
  let p = from;
  while (p < to) {
    const t = b[p]!;
    if (t === IPOPT_EOL) return -1;
    if (t === IPOPT_NOP) { p++; continue; }
    const n = b[p + 1]!;
    if ((t === IPOPT_LSRR || t === IPOPT_SSRR) && n >= 3) {
      const ptr = b[p + 2]!;
      if (ptr < 4 || (ptr & 3) !== 0 || ptr > n) return -1;
      return p + n - 4;
    }
    p += n;
  }
  return -1;
}

/** Add the fields of the options in [from, to) (a list check() accepted). */
function dissectOptions(l: DissectLayer, b: Uint8Array, from: number, to: number): void {
  let p = from;
  while (p < to) {
    const t = b[p]!;
    const k = KNOWN_IPV4_OPTIONS.get(t);
    if (t === IPOPT_EOL || t === IPOPT_NOP) {
      addField(l, 'ip.options.' + k!.name, toHex(b, p, p + 1));
      addType(l, t);
      if (t === IPOPT_EOL) return;
      p++;
      continue;
    }
    const n = b[p + 1]!;
    if (k === undefined) { p += n; continue; }
    if ((k.fixed && n !== k.minLen) || n < k.minLen) {
      // tshark warns ("with option length = 3 bytes; should be 4") or finds the packet malformed
      throw wireError(WireErrc.BadOption, 'ipv4', 'ip.opt.len', p,
        `ipv4: option ${t} with length ${n} (needs ${k.fixed ? '' : 'at least '}${k.minLen}) at offset ${p}`);
    }
    addField(l, 'ip.options.' + k.name, toHex(b, p, p + n));
    addType(l, t);
    addField(l, 'ip.opt.len', String(n));
    switch (t) {
      case IPOPT_RR: route(l, b, p, n, false); break;
      case IPOPT_LSRR: case IPOPT_SSRR: route(l, b, p, n, true); break;
      case IPOPT_TS: timestamp(l, b, p, n); break;
      case IPOPT_RA: addField(l, 'ip.opt.ra', String(be16(b, p + 2))); break;
      case IPOPT_SID: addField(l, 'ip.opt.sid', String(be16(b, p + 2))); break;
      case IPOPT_MTU_PROBE: case IPOPT_MTU_REPLY: addField(l, 'ip.opt.mtu', String(be16(b, p + 2))); break;
      case IPOPT_TR:
        addField(l, 'ip.opt.id_number', String(be16(b, p + 2)));
        addField(l, 'ip.opt.ohc', String(be16(b, p + 4)));
        addField(l, 'ip.opt.rhc', String(be16(b, p + 6)));
        addField(l, 'ip.opt.originator', ipv4ToString(be32(b, p + 8)));
        break;
      case IPOPT_SDB: {
        let q = p + 2;
        for (; q + 4 <= p + n; q += 4) addField(l, 'ip.opt.addr', ipv4ToString(be32(b, q)));
        if (q < p + n) addField(l, 'ip.opt.padding', toHex(b, q, p + n));
        break;
      }
      default: break;
    }
    p += n;
  }
}

function addType(l: DissectLayer, t: number): void {
  addField(l, 'ip.opt.type', String(t));
  addField(l, 'ip.opt.type.copy', String(t >>> 7));
  addField(l, 'ip.opt.type.class', String((t >>> 5) & 3));
  addField(l, 'ip.opt.type.number', String(t & 31));
}

/**
 * Record Route ('source' false) or loose/strict Source Route ('source' true)
 * option of 'n' bytes at 'p': the pointer, then each 4-byte slot as a
 * recorded, empty or still-to-visit address, as tshark names them.
 */
function route(l: DissectLayer, b: Uint8Array, p: number, n: number, source: boolean): void {
  const ptr = b[p + 2]!;
  addField(l, 'ip.opt.ptr', String(ptr));
  if (ptr < 4 || (ptr & 3) !== 0) return; // tshark: "points before first address" / "to middle of address"
  for (let slot = 3; n - slot >= 4; slot += 4) {
    const a = ipv4ToString(be32(b, p + slot));
    if (ptr > n || slot + 1 < ptr) {
      if (source && ptr <= n && slot === n - 4) addFinalDst(l, a);
      else { addField(l, 'ip.rec_rt', a); addField(l, 'ip.rec_rt_host', a); }
    } else if (source && slot === n - 4) {
      addFinalDst(l, a);
    } else if (source) {
      addField(l, 'ip.src_rt', a); addField(l, 'ip.src_rt_host', a);
    } else {
      addField(l, 'ip.empty_rt', a); addField(l, 'ip.empty_rt_host', a);
    }
  }
}

function addFinalDst(l: DissectLayer, a: string): void {
  addField(l, 'ip.dst', a);
  addField(l, 'ip.addr', a);
  addField(l, 'ip.dst_host', a);
  addField(l, 'ip.host', a);
}

/** Internet Timestamp option (RFC 791) of 'n' bytes at 'p'. */
function timestamp(l: DissectLayer, b: Uint8Array, p: number, n: number): void {
  addField(l, 'ip.opt.ptr', String(b[p + 2]!));
  const of = b[p + 3]!;
  addField(l, 'ip.opt.overflow', String(of >>> 4));
  addField(l, 'ip.opt.flag', hex(of & 15, 2));
  const withAddr = (of & 15) === 1 || (of & 15) === 3;
  const step = withAddr ? 8 : 4;
  for (let q = p + 4; p + n - q >= step; q += step) {
    if (withAddr) {
      addField(l, 'ip.opt.time_stamp_addr', ipv4ToString(be32(b, q)));
      addField(l, 'ip.opt.time_stamp', String(be32(b, q + 4)));
    } else {
      addField(l, 'ip.opt.time_stamp', String(be32(b, q)));
    }
  }
}
