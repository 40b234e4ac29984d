/**
 * TCP (RFC 9293) — view, Repr and modulo-2^32 sequence arithmetic (wire
 * layer; the view is fast path).
 *
 * What: `TcpPacket`, a reusable cursor over (bytes, off, end) that reads and
 * writes the fixed header in place and finds options without allocating;
 * `TcpRepr`, a plain record whose options are a typed list; `seqLt` & co.,
 * which compare sequence numbers the only correct way, `((a - b) | 0) < 0`
 * (smoltcp's `tcp::SeqNumber`), so no caller compares raw numbers.
 * Safety contract: `reset()` inspects nothing; `check()` returns 0 when the
 * 20-byte header and the options the data offset announces are inside
 * [off, end), the data offset is at least 5, and every option up to the first
 * EOL is well formed (kind, length ≥ 2, fits in the header, and the exact
 * length RFC 9293/7323/2018 gives MSS, window scale, SACK-permitted, SACK and
 * timestamps). Otherwise it returns a `WireErrc` with `errAt` (absolute
 * offset) and `errField` (Wireshark field) set. `setDataOffset()` invalidates
 * it. Do *not* `check()` a buffer you are about to emit into.
 * A segment has no length field: it ends at `end`, which the caller sets to
 * the end of the IP payload (never the end of an Ethernet frame with padding).
 * Options walk: bytes after the first EOL are padding and are not inspected by
 * `check()` (Linux and Wireshark both stop there); `TcpRepr.parse` insists the
 * padding is zero so that `emit(parse(x))` reproduces x.
 * Checksums: the caller supplies the pseudo-header partial sum
 * (`ipv4PseudoSum`/`ipv6PseudoSum` over protocol 6 and `end - off`), as for
 * udp.ts. A TCP checksum of zero is a real value, not "none".
 * Unsigned 32-bit fields (seq, ack, timestamps) are returned with `>>> 0`.
 * Cost: accessors are a few integer ops; option look-ups walk at most 40
 * bytes; nothing allocates except `Repr`s.
 * Neighbours: dissect/tcp.ts (Wireshark fields), checksum.ts; conntrack and
 * the netstack (later) use `seqLt`/`seqAdd` and the view.
 */
import { EMPTY, be16, be32, setBe16, setBe32 } from './bytes.js';
import { checksumOf, fold, sum16 } from './checksum.js';
import { checkOrThrow, WireErrc, wireError } from './errc.js';

const SRC_PORT = 0, DST_PORT = 2, SEQ_NUM = 4, ACK_NUM = 8, DATA_OFF = 12, FLAGS = 12, WINDOW = 14, CHECKSUM = 16, URGENT = 18;
export const TCP_HEADER_LEN = 20;
/** Largest header a 4-bit data offset can describe (15 words). */
export const TCP_MAX_HEADER_LEN = 60;
export const IPPROTO_TCP = 6;

// Flag bits of the 12-bit field that follows the data offset (tcp.flags).
export const TCP_FIN = 0x001;
export const TCP_SYN = 0x002;
export const TCP_RST = 0x004;
export const TCP_PSH = 0x008;
export const TCP_ACK = 0x010;
export const TCP_URG = 0x020;
export const TCP_ECE = 0x040;
export const TCP_CWR = 0x080;
/** AccECN (RFC 9768; formerly the ECN-nonce NS bit of RFC 3540): tcp.flags.ae */
export const TCP_AE = 0x100;
/** The three reserved bits: tcp.flags.res */
export const TCP_RESERVED = 0xe00;
export const TCP_FLAGS_MASK = 0xfff;

// Option kinds (IANA "TCP Option Kind Numbers").
export const TCP_OPT_EOL = 0;
export const TCP_OPT_NOP = 1;
export const TCP_OPT_MSS = 2;
export const TCP_OPT_WSCALE = 3;
export const TCP_OPT_SACK_PERM = 4;
export const TCP_OPT_SACK = 5;
export const TCP_OPT_TIMESTAMP = 8;

// ---- sequence numbers (RFC 9293 §3.4): modulo 2^32 ------------------------

/** True when 'a' precedes 'b' in sequence space. */
export function seqLt(a: number, b: number): boolean { return ((a - b) | 0) < 0; }
export function seqLe(a: number, b: number): boolean { return ((a - b) | 0) <= 0; }
export function seqGt(a: number, b: number): boolean { return ((a - b) | 0) > 0; }
export function seqGe(a: number, b: number): boolean { return ((a - b) | 0) >= 0; }
/** 'a' advanced by 'n' bytes, as an unsigned 32-bit number. */
export function seqAdd(a: number, n: number): number { return (a + n) >>> 0; }
/** Signed distance from 'b' to 'a' (a - b), valid while |a - b| < 2^31. */
export function seqDiff(a: number, b: number): number { return (a - b) | 0; }

/**
 * True when an option of 'kind' may have length byte 'len' (already known to
 * be ≥ 2). Unknown kinds accept any length.
 */
export function tcpOptionLenOk(kind: number, len: number): boolean {
  switch (kind) {
    case TCP_OPT_MSS: return len === 4;
    case TCP_OPT_WSCALE: return len === 3;
    case TCP_OPT_SACK_PERM: return len === 2;
    case TCP_OPT_SACK: return len >= 10 && len <= 34 && ((len - 2) & 7) === 0;
    case TCP_OPT_TIMESTAMP: return len === 10;
    default: return true;
  }
}

export class TcpPacket {
  bytes: Uint8Array = EMPTY;
  off = 0;
  end = 0;
  /** Absolute offset of the fault found by the last `check()`, -1 if none. */
  errAt = -1;
  /** Wireshark field at fault after a failed `check()`. */
  errField = '';

  reset(bytes: Uint8Array, off: number, end: number): this {
    this.bytes = bytes;
    this.off = off;
    this.end = end;
    this.errAt = -1;
    this.errField = '';
    return this;
  }

  /**
   * 0 when the header, its options and every accessor are in bounds; else a
   * `WireErrc` with `errAt`/`errField` set. Invalidated by `setDataOffset()`
   * and by writes into the options area.
   */
  check(): number {
    const b = this.bytes, o = this.off;
    if (this.end - o < TCP_HEADER_LEN) return this.fail(WireErrc.Truncated, 'tcp', o < this.end ? this.end : o);
    const doff = b[o + DATA_OFF]! >>> 4;
    if (doff < 5) return this.fail(WireErrc.BadHdrLen, 'tcp.hdr_len', o + DATA_OFF);
    const hend = o + doff * 4;
    if (hend > this.end) return this.fail(WireErrc.Truncated, 'tcp.options', this.end);
    let i = o + TCP_HEADER_LEN;
    while (i < hend) {
      const kind = b[i]!;
      if (kind === TCP_OPT_EOL) break;
      if (kind === TCP_OPT_NOP) { i++; continue; }
      if (i + 1 >= hend) return this.fail(WireErrc.BadOption, 'tcp.option_len', i + 1);
      const len = b[i + 1]!;
      if (len < 2 || i + len > hend || !tcpOptionLenOk(kind, len)) return this.fail(WireErrc.BadOption, 'tcp.option_len', i + 1);
      i += len;
    }
    return WireErrc.Ok;
  }

  private fail(c: number, field: string, at: number): number {
    this.errField = field;
    this.errAt = at;
    return c;
  }

  /** A new checked view over 'bytes'; throws `WireError` if `check()` fails. */
  static checked(bytes: Uint8Array, off = 0, end = bytes.length): TcpPacket {
    return checkOrThrow(new TcpPacket().reset(bytes, off, end), 'tcp');
  }

  /** tcp.srcport */
  srcPort(): number { return be16(this.bytes, this.off + SRC_PORT); }
  /** tcp.dstport */
  dstPort(): number { return be16(this.bytes, this.off + DST_PORT); }
  /** tcp.seq_raw (tcp.seq with relative sequence numbers off) */
  seqNumber(): number { return be32(this.bytes, this.off + SEQ_NUM); }
  /** tcp.ack_raw; meaningful only with the ACK flag */
  ackNumber(): number { return be32(this.bytes, this.off + ACK_NUM); }
  /** Data offset: header length in 32-bit words (the 4-bit field). */
  dataOffset(): number { return this.bytes[this.off + DATA_OFF]! >>> 4; }
  /** tcp.hdr_len: header length in bytes */
  hdrLen(): number { return (this.bytes[this.off + DATA_OFF]! >>> 4) << 2; }
  /** tcp.flags: the 12 bits after the data offset (reserved, AE, CWR … FIN) */
  flags(): number { return be16(this.bytes, this.off + FLAGS) & TCP_FLAGS_MASK; }
  /** tcp.flags.fin */
  fin(): boolean { return (this.bytes[this.off + FLAGS + 1]! & TCP_FIN) !== 0; }
  /** tcp.flags.syn */
  syn(): boolean { return (this.bytes[this.off + FLAGS + 1]! & TCP_SYN) !== 0; }
  /** tcp.flags.reset */
  rst(): boolean { return (this.bytes[this.off + FLAGS + 1]! & TCP_RST) !== 0; }
  /** tcp.flags.push */
  psh(): boolean { return (this.bytes[this.off + FLAGS + 1]! & TCP_PSH) !== 0; }
  /** tcp.flags.ack */
  ack(): boolean { return (this.bytes[this.off + FLAGS + 1]! & TCP_ACK) !== 0; }
  /** tcp.flags.urg */
  urg(): boolean { return (this.bytes[this.off + FLAGS + 1]! & TCP_URG) !== 0; }
  /** tcp.flags.ece */
  ece(): boolean { return (this.bytes[this.off + FLAGS + 1]! & TCP_ECE) !== 0; }
  /** tcp.flags.cwr */
  cwr(): boolean { return (this.bytes[this.off + FLAGS + 1]! & TCP_CWR) !== 0; }
  /** tcp.flags.ae (the former NS bit) */
  ae(): boolean { return (this.bytes[this.off + FLAGS]! & 0x01) !== 0; }
  /** tcp.window_size_value: the unscaled window */
  window(): number { return be16(this.bytes, this.off + WINDOW); }
  /** tcp.checksum */
  checksum(): number { return be16(this.bytes, this.off + CHECKSUM); }
  /** tcp.urgent_pointer */
  urgentPointer(): number { return be16(this.bytes, this.off + URGENT); }
  /** Offset of the first option byte (equal to `payloadOffset()` when there are none). */
  optionsOffset(): number { return this.off + TCP_HEADER_LEN; }
  /** Offset of the first payload byte. */
  payloadOffset(): number { return this.off + this.hdrLen(); }
  /** tcp.len: payload bytes (`end - payloadOffset()`). */
  payloadLen(): number { return this.end - this.off - this.hdrLen(); }

  /**
   * Offset of the first option of 'kind' before the first EOL, or -1. Valid
   * after a successful `check()`; allocates nothing.
   */
  findOption(kind: number): number {
    const b = this.bytes;
    const hend = this.off + this.hdrLen();
    let i = this.off + TCP_HEADER_LEN;
    while (i < hend) {
      const k = b[i]!;
      if (k === kind) return i;
      if (k === TCP_OPT_EOL) return -1;
      if (k === TCP_OPT_NOP) { i++; continue; }
      if (i + 1 >= hend) return -1;
      const len = b[i + 1]!;
      if (len < 2) return -1;
      i += len;
    }
    return -1;
  }

  /** tcp.options.mss_val, or -1 without an MSS option. */
  mss(): number {
    const o = this.findOption(TCP_OPT_MSS);
    return o < 0 ? -1 : be16(this.bytes, o + 2);
  }
  /** tcp.options.wscale.shift, or -1 without a window-scale option. */
  windowScale(): number {
    const o = this.findOption(TCP_OPT_WSCALE);
    return o < 0 ? -1 : this.bytes[o + 2]!;
  }
  /** True with a SACK-permitted option (tcp.options.sack_perm). */
  sackPermitted(): boolean { return this.findOption(TCP_OPT_SACK_PERM) >= 0; }
  /** tcp.options.timestamp.tsval, or -1 without a timestamps option. */
  tsVal(): number {
    const o = this.findOption(TCP_OPT_TIMESTAMP);
    return o < 0 ? -1 : be32(this.bytes, o + 2);
  }
  /** tcp.options.timestamp.tsecr, or -1 without a timestamps option. */
  tsEcr(): number {
    const o = this.findOption(TCP_OPT_TIMESTAMP);
    return o < 0 ? -1 : be32(this.bytes, o + 6);
  }

  setSrcPort(v: number): void { setBe16(this.bytes, this.off + SRC_PORT, v); }
  setDstPort(v: number): void { setBe16(this.bytes, this.off + DST_PORT, v); }
  setSeqNumber(v: number): void { setBe32(this.bytes, this.off + SEQ_NUM, v); }
  setAckNumber(v: number): void { setBe32(this.bytes, this.off + ACK_NUM, v); }
  /** Set the data offset in 32-bit words, keeping the flag bits. */
  setDataOffset(words: number): void {
    const o = this.off + DATA_OFF;
    this.bytes[o] = ((words & 0xf) << 4) | (this.bytes[o]! & 0x0f);
  }
  /** Set all 12 flag bits, keeping the data offset. */
  setFlags(v: number): void {
    const o = this.off + FLAGS;
    this.bytes[o] = (this.bytes[o]! & 0xf0) | ((v >>> 8) & 0x0f);
    this.bytes[o + 1] = v;
  }
  setWindow(v: number): void { setBe16(this.bytes, this.off + WINDOW, v); }
  setChecksum(v: number): void { setBe16(this.bytes, this.off + CHECKSUM, v); }
  setUrgentPointer(v: number): void { setBe16(this.bytes, this.off + URGENT, v); }

  /**
   * The checksum the segment [off, 'end') should carry, given the
   * pseudo-header sum 'pseudo' (which must count 'end - off' as the length).
   */
  computeChecksum(pseudo: number, end = this.end): number {
    return checksumOf(this.bytes, this.off, end, this.off + CHECKSUM, pseudo);
  }

  /** True when the stored checksum is right for the segment [off, end). */
  verifyChecksum(pseudo: number): boolean {
    return fold(sum16(this.bytes, this.off, this.end, pseudo)) === 0;
  }

  /** Compute and store the checksum (header, options and payload in place). */
  fillChecksum(pseudo: number): void {
    this.setChecksum(this.computeChecksum(pseudo));
  }
}

// ---- Repr (slow path) -------------------------------------------------------

/** One TCP option, as a value. `unknown` keeps kinds this module does not decode. */
export type TcpOption =
  | { kind: 'eol' }
  | { kind: 'nop' }
  | { kind: 'mss'; value: number }
  | { kind: 'wscale'; shift: number }
  | { kind: 'sackPerm' }
  | { kind: 'sack'; blocks: [number, number][] }
  | { kind: 'timestamp'; tsval: number; tsecr: number }
  | { kind: 'unknown'; type: number; data: Uint8Array };

/**
 * A TCP header as values. 'dataOffset' (words) and 'checksum' of -1 mean
 * "compute on emit". 'options' lists the options in wire order up to and
 * including an EOL if there is one; the zero padding after the list is implied
 * by 'dataOffset'.
 */
export interface TcpRepr {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** The 12 flag bits (TCP_SYN | TCP_ACK …). */
  flags: number;
  window: number;
  urgent: number;
  options: TcpOption[];
  dataOffset: number;
  checksum: number;
}

/** Bytes 'opt' takes on the wire. */
export function tcpOptionLen(opt: TcpOption): number {
  switch (opt.kind) {
    case 'eol': case 'nop': return 1;
    case 'mss': return 4;
    case 'wscale': return 3;
    case 'sackPerm': return 2;
    case 'sack': return 2 + 8 * opt.blocks.length;
    case 'timestamp': return 10;
    case 'unknown': return 2 + opt.data.length;
  }
}

/** Bytes the option list 'opts' takes, before padding. */
export function tcpOptionsLen(opts: readonly TcpOption[]): number {
  let n = 0;
  for (const o of opts) n += tcpOptionLen(o);
  return n;
}

function parseOptions(p: TcpPacket): TcpOption[] {
  const b = p.bytes;
  const hend = p.off + p.hdrLen();
  const out: TcpOption[] = [];
  let i = p.off + TCP_HEADER_LEN;
  while (i < hend) {
    const kind = b[i]!;
    if (kind === TCP_OPT_EOL) {
      out.push({ kind: 'eol' });
      for (let j = i + 1; j < hend; j++) {
        if (b[j] !== 0) throw wireError(WireErrc.BadOption, 'tcp', 'tcp.options', j, `tcp: non-zero header padding at offset ${j}`);
      }
      break;
    }
    if (kind === TCP_OPT_NOP) { out.push({ kind: 'nop' }); i++; continue; }
    const len = b[i + 1]!; // check() proved the length byte and the option are in the header
    switch (kind) {
      case TCP_OPT_MSS: out.push({ kind: 'mss', value: be16(b, i + 2) }); break;
      case TCP_OPT_WSCALE: out.push({ kind: 'wscale', shift: b[i + 2]! }); break;
      case TCP_OPT_SACK_PERM: out.push({ kind: 'sackPerm' }); break;
      case TCP_OPT_SACK: {
        const blocks: [number, number][] = [];
        for (let j = i + 2; j < i + len; j += 8) blocks.push([be32(b, j), be32(b, j + 4)]);
        out.push({ kind: 'sack', blocks });
        break;
      }
      case TCP_OPT_TIMESTAMP: out.push({ kind: 'timestamp', tsval: be32(b, i + 2), tsecr: be32(b, i + 6) }); break;
      default: out.push({ kind: 'unknown', type: kind, data: b.slice(i + 2, i + len) });
    }
    i += len;
  }
  return out;
}

/** Write 'opt' at 'o' in 'b'; returns the offset after it. */
function emitOption(b: Uint8Array, o: number, opt: TcpOption): number {
  switch (opt.kind) {
    case 'eol': b[o] = TCP_OPT_EOL; return o + 1;
    case 'nop': b[o] = TCP_OPT_NOP; return o + 1;
    case 'mss': b[o] = TCP_OPT_MSS; b[o + 1] = 4; setBe16(b, o + 2, opt.value); return o + 4;
    case 'wscale': b[o] = TCP_OPT_WSCALE; b[o + 1] = 3; b[o + 2] = opt.shift; return o + 3;
    case 'sackPerm': b[o] = TCP_OPT_SACK_PERM; b[o + 1] = 2; return o + 2;
    case 'sack': {
      b[o] = TCP_OPT_SACK; b[o + 1] = 2 + 8 * opt.blocks.length;
      let j = o + 2;
      for (const [le, re] of opt.blocks) { setBe32(b, j, le); setBe32(b, j + 4, re); j += 8; }
      return j;
    }
    case 'timestamp':
      b[o] = TCP_OPT_TIMESTAMP; b[o + 1] = 10; setBe32(b, o + 2, opt.tsval); setBe32(b, o + 6, opt.tsecr); return o + 10;
    case 'unknown':
      b[o] = opt.type; b[o + 1] = 2 + opt.data.length; b.set(opt.data, o + 2); return o + 2 + opt.data.length;
  }
}

export const TcpRepr = {
  /** Read a view; throws `WireError` if it does not check or its padding is not zero. */
  parse(p: TcpPacket): TcpRepr {
    checkOrThrow(p, 'tcp');
    return {
      srcPort: p.srcPort(), dstPort: p.dstPort(), seq: p.seqNumber(), ack: p.ackNumber(),
      flags: p.flags(), window: p.window(), urgent: p.urgentPointer(),
      options: parseOptions(p), dataOffset: p.dataOffset(), checksum: p.checksum(),
    };
  },
  /** Header bytes `emit` writes: the given data offset, or 20 + options rounded up to 4. */
  bufferLen(r: TcpRepr): number {
    if (r.dataOffset >= 0) return Math.max(TCP_HEADER_LEN, r.dataOffset * 4);
    return TCP_HEADER_LEN + ((tcpOptionsLen(r.options) + 3) & ~3);
  },
  /**
   * Write the header and options at 'p.off', zero-padding the options to the
   * header length. The 'payloadLen' payload bytes must already follow the
   * header. 'pseudoOf' gives the pseudo-header sum for a segment length.
   * Data offset and checksum are computed unless the Repr gives them (>= 0).
   * Throws `WireError` (WIRE_BAD_HDR_LEN) when the options do not fit the
   * header (over 40 bytes, or more than a given data offset allows).
   */
  emit(r: TcpRepr, p: TcpPacket, payloadLen: number, pseudoOf: (segLen: number) => number): void {
    const hlen = TcpRepr.bufferLen(r);
    const optLen = tcpOptionsLen(r.options);
    if (TCP_HEADER_LEN + optLen > hlen || hlen > TCP_MAX_HEADER_LEN) {
      throw wireError(WireErrc.BadHdrLen, 'tcp', 'tcp.hdr_len', p.off + DATA_OFF,
        `tcp: ${optLen} bytes of options do not fit a ${hlen}-byte header`);
    }
    const b = p.bytes, o = p.off;
    p.setSrcPort(r.srcPort);
    p.setDstPort(r.dstPort);
    p.setSeqNumber(r.seq);
    p.setAckNumber(r.ack);
    b[o + DATA_OFF] = ((r.dataOffset >= 0 ? r.dataOffset : hlen >>> 2) & 0xf) << 4;
    p.setFlags(r.flags);
    p.setWindow(r.window);
    p.setChecksum(0);
    p.setUrgentPointer(r.urgent);
    let i = o + TCP_HEADER_LEN;
    for (const opt of r.options) i = emitOption(b, i, opt);
    b.fill(0, i, o + hlen);
    if (r.checksum >= 0) p.setChecksum(r.checksum);
    else p.setChecksum(p.computeChecksum(pseudoOf(hlen + payloadLen), o + hlen + payloadLen));
  },
};
