/**
 * TCP dissector (slow path): Wireshark's `tcp.*` fields. See ../dissect.ts.
 *
 * Stateless: sequence numbers are printed raw, as tshark does with
 * `-o tcp.relative_sequence_numbers:FALSE` (tcp.seq = tcp.seq_raw, SACK edges
 * raw). Fields that need conversation state are not produced: tcp.stream,
 * tcp.window_size (scaled), tcp.analysis.*, tcp.time_*.
 * Options: one tcp.option_kind per option, tcp.option_len for all but
 * NOP/EOL, the option's bytes under its protocol name (tcp.options.mss …) and
 * the decoded values. As in tshark, a run of zero bytes after an EOL prints
 * one EOL per byte; non-zero bytes after an EOL end the walk.
 * In a first fragment (`ctx.ip.fragmented`) the segment's length is unknown:
 * tcp.len and tcp.nxtseq are not shown, as in tshark without reassembly.
 * Inside an ICMP error's quote (`ctx.quoted`) the segment is usually cut
 * after 8 bytes: fields are added while their bytes are present, exactly as
 * tshark does (ports from 4 bytes, tcp.seq from 8 in an ICMP quote but from
 * 16 in an ICMPv6 one, ack/hdr_len/flags/window from 16, checksum from 18,
 * urgent pointer from 20, options only when all present); tcp.seq_raw only
 * in an ICMPv6 quote, tcp.nxtseq and tcp.len never; the checksum
 * is verified over the bytes present (so a cut quote reads as bad, as in
 * tshark). Nothing follows a quoted segment.
 * Next: `{kind:'data'}` for the payload, `{kind:'end'}` when there is none.
 */
import { CHECKSUM_BAD, CHECKSUM_GOOD, CHECKSUM_UNVERIFIED, addField, flag, hex, type DissectCtx, type DissectLayer, type Next } from '../dissect.js';
import { be16, be32, toHex } from '../bytes.js';
import { ipv4PseudoSum, ipv6PseudoSum } from '../checksum.js';
import { WireErrc, wireError } from '../errc.js';
import {
  IPPROTO_TCP, TCP_ACK, TCP_AE, TCP_CWR, TCP_ECE, TCP_FIN, TCP_HEADER_LEN, TCP_OPT_EOL, TCP_OPT_MSS, TCP_OPT_NOP,
  TCP_OPT_SACK, TCP_OPT_SACK_PERM, TCP_OPT_TIMESTAMP, TCP_OPT_WSCALE, TCP_PSH, TCP_RESERVED, TCP_RST, TCP_SYN,
  TCP_URG, TcpPacket, tcpOptionLenOk,
} from '../tcp.js';

/** Bits of tcp.flags.str, most significant first, with the letters tshark prints. */
const FLAG_LETTERS = 'RRRACEUAPRSF';

/** tcp.flags.str: one letter per set bit of the 12 flag bits, '·' for a clear bit. */
export function tcpFlagsString(flags: number): string {
  let s = '';
  for (let i = 0; i < 12; i++) s += (flags & (0x800 >>> i)) !== 0 ? FLAG_LETTERS[i] : '\u00b7';
  return s;
}

export function dissectTcp(ctx: DissectCtx, off: number, end: number): Next {
  const p = new TcpPacket().reset(ctx.bytes, off, end);
  if (ctx.quoted) return dissectQuoted(ctx, p, off, end);
  const c = p.check();
  // A malformed option is reported after the fields before it, as tshark shows them.
  if (c !== 0 && c !== WireErrc.BadOption) throw wireError(c, 'tcp', p.errField, p.errAt);
  const hlen = p.hdrLen();
  const l = ctx.open('tcp', off, hlen);
  const seq = p.seqNumber();
  const flags = p.flags();
  const len = end - off - hlen;
  // A first fragment does not hold the whole segment: its length, and so the next sequence number, are unknown.
  const whole = ctx.ip === null || !ctx.ip.fragmented;
  addPorts(l, p);
  addField(l, 'tcp.seq', String(seq));
  addField(l, 'tcp.seq_raw', String(seq));
  const nxt = (seq + len + ((flags & (TCP_SYN | TCP_FIN)) !== 0 ? 1 : 0)) >>> 0;
  if (whole) addField(l, 'tcp.nxtseq', String(nxt));
  addFixed(l, p);
  addField(l, 'tcp.checksum', hex(p.checksum(), 4));
  addField(l, 'tcp.checksum.status', checksumStatus(ctx, p, off, end));
  addField(l, 'tcp.urgent_pointer', String(p.urgentPointer()));
  if (hlen > TCP_HEADER_LEN) addOptions(l, ctx.bytes, off + TCP_HEADER_LEN, off + hlen);
  if (whole) addField(l, 'tcp.len', String(len));
  if (len <= 0) return { kind: 'end' };
  return { kind: 'data', off: off + hlen, end };
}

function dissectQuoted(ctx: DissectCtx, p: TcpPacket, off: number, end: number): Next {
  const n = end - off;
  if (n < 4) return { kind: 'end' };
  const hlen = n >= 13 ? p.hdrLen() : TCP_HEADER_LEN;
  const l = ctx.open('tcp', off, Math.min(n, Math.max(hlen, TCP_HEADER_LEN)));
  addPorts(l, p);
  // Quoted by ICMP (in an IPv4 packet), the sequence number is shown as
  // soon as it is there; in an ICMPv6 quote only with the 16 bytes the
  // regular path reads, and then with tcp.seq_raw (tshark 4.0's dissect_tcp
  // adds it early when the layers before are `icmp` and `ip`).
  const inIcmp4 = ctx.ip !== null && ctx.ip.version === 4;
  if (inIcmp4 && n >= 8) addField(l, 'tcp.seq', String(p.seqNumber()));
  if (!inIcmp4 && n >= 16) {
    addField(l, 'tcp.seq', String(p.seqNumber()));
    addField(l, 'tcp.seq_raw', String(p.seqNumber()));
  }
  if (n >= 16) addFixed(l, p);
  if (n >= 18) {
    addField(l, 'tcp.checksum', hex(p.checksum(), 4));
    addField(l, 'tcp.checksum.status', checksumStatus(ctx, p, off, end));
  }
  if (n >= 20) addField(l, 'tcp.urgent_pointer', String(p.urgentPointer()));
  if (hlen > TCP_HEADER_LEN && n >= hlen) {
    const c = p.check();
    if (c !== 0) throw wireError(c, 'tcp', p.errField, p.errAt);
    addOptions(l, ctx.bytes, off + TCP_HEADER_LEN, off + hlen);
  }
  return { kind: 'end' };
}

function addPorts(l: DissectLayer, p: TcpPacket): void {
  addField(l, 'tcp.srcport', String(p.srcPort()));
  addField(l, 'tcp.dstport', String(p.dstPort()));
  addField(l, 'tcp.port', String(p.srcPort()));
  addField(l, 'tcp.port', String(p.dstPort()));
}

/** ack, header length, flags and window: the fields tshark adds once 16 bytes are present. */
function addFixed(l: DissectLayer, p: TcpPacket): void {
  const flags = p.flags();
  addField(l, 'tcp.ack', String(p.ackNumber()));
  addField(l, 'tcp.ack_raw', String(p.ackNumber()));
  addField(l, 'tcp.hdr_len', String(p.hdrLen()));
  addField(l, 'tcp.flags', hex(flags, 4));
  addField(l, 'tcp.flags.res', flag(flags & TCP_RESERVED));
  addField(l, 'tcp.flags.ae', flag(flags & TCP_AE));
  addField(l, 'tcp.flags.cwr', flag(flags & TCP_CWR));
  addField(l, 'tcp.flags.ece', flag(flags & TCP_ECE));
  addField(l, 'tcp.flags.urg', flag(flags & TCP_URG));
  addField(l, 'tcp.flags.ack', flag(flags & TCP_ACK));
  addField(l, 'tcp.flags.push', flag(flags & TCP_PSH));
  addField(l, 'tcp.flags.reset', flag(flags & TCP_RST));
  addField(l, 'tcp.flags.syn', flag(flags & TCP_SYN));
  addField(l, 'tcp.flags.fin', flag(flags & TCP_FIN));
  addField(l, 'tcp.flags.str', tcpFlagsString(flags));
  addField(l, 'tcp.window_size_value', String(p.window()));
}

/** tcp.checksum.status over the bytes [off, end) present, or unverified without an IP context. */
function checksumStatus(ctx: DissectCtx, p: TcpPacket, off: number, end: number): string {
  const ip = ctx.ip;
  if (ip === null || ip.fragmented) return CHECKSUM_UNVERIFIED;
  const len = end - off;
  const pseudo = ip.version === 4
    ? ipv4PseudoSum(ip.src, ip.dst, IPPROTO_TCP, len)
    : ipv6PseudoSum(ctx.bytes, ip.srcOff, ip.dstOff, IPPROTO_TCP, len);
  return p.verifyChecksum(pseudo) ? CHECKSUM_GOOD : CHECKSUM_BAD;
}

/** Option fields for the options area [o, hend); throws `WireError` at a malformed option. */
function addOptions(l: DissectLayer, b: Uint8Array, o: number, hend: number): void {
  addField(l, 'tcp.options', toHex(b, o, hend));
  let i = o;
  while (i < hend) {
    const kind = b[i]!;
    if (kind === TCP_OPT_EOL) {
      let zeros = true;
      for (let j = i + 1; j < hend; j++) if (b[j] !== 0) { zeros = false; break; }
      const stop = zeros ? hend : i + 1;
      for (; i < stop; i++) {
        addField(l, 'tcp.option_kind', '0');
        addField(l, 'tcp.options.eol', '00');
      }
      return;
    }
    if (kind === TCP_OPT_NOP) {
      addField(l, 'tcp.option_kind', '1');
      addField(l, 'tcp.options.nop', '01');
      i++;
      continue;
    }
    if (i + 1 >= hend) throw wireError(WireErrc.BadOption, 'tcp', 'tcp.option_len', i + 1);
    const len = b[i + 1]!;
    if (len < 2 || i + len > hend || !tcpOptionLenOk(kind, len)) throw wireError(WireErrc.BadOption, 'tcp', 'tcp.option_len', i + 1);
    addField(l, 'tcp.option_kind', String(kind));
    addField(l, 'tcp.option_len', String(len));
    const bytes = toHex(b, i, i + len);
    switch (kind) {
      case TCP_OPT_MSS:
        addField(l, 'tcp.options.mss', bytes);
        addField(l, 'tcp.options.mss_val', String(be16(b, i + 2)));
        break;
      case TCP_OPT_WSCALE: {
        const shift = b[i + 2]!;
        addField(l, 'tcp.options.wscale', bytes);
        addField(l, 'tcp.options.wscale.shift', String(shift));
        addField(l, 'tcp.options.wscale.multiplier', String(1 << Math.min(shift, 14)));
        break;
      }
      case TCP_OPT_SACK_PERM:
        addField(l, 'tcp.options.sack_perm', bytes);
        break;
      case TCP_OPT_SACK:
        addField(l, 'tcp.options.sack', bytes);
        for (let j = i + 2; j < i + len; j += 8) {
          addField(l, 'tcp.options.sack_le', String(be32(b, j)));
          addField(l, 'tcp.options.sack_re', String(be32(b, j + 4)));
        }
        addField(l, 'tcp.options.sack.count', String((len - 2) >>> 3));
        break;
      case TCP_OPT_TIMESTAMP:
        addField(l, 'tcp.options.timestamp', bytes);
        addField(l, 'tcp.options.timestamp.tsval', String(be32(b, i + 2)));
        addField(l, 'tcp.options.timestamp.tsecr', String(be32(b, i + 6)));
        break;
      default:
        // Kinds tshark decodes itself (MD5, MPTCP, TFO …) print their own fields; only kinds it
        // does not know print the generic ones.
        if (!WIRESHARK_KNOWN_KINDS.has(kind)) {
          addField(l, 'tcp.options.unknown', bytes);
          addField(l, 'tcp.options.unknown.payload', toHex(b, i + 2, i + len));
        }
    }
    i += len;
  }
}

/** Option kinds tshark 4.0 dissects with dedicated fields (not `tcp.options.unknown`), found by
 * feeding it every kind 6..255 with length 12. */
export const WIRESHARK_KNOWN_KINDS: ReadonlySet<number> = new Set([6, 7, 11, 12, 13, 19, 20, 21, 22, 23, 27, 28, 29, 30, 34, 76, 78, 172, 174, 253, 254]);
