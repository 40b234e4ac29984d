/**
 * UDP (RFC 768) — view and Repr (wire layer; the view is fast path).
 *
 * What: `UdpPacket`, a reusable cursor over (bytes, off, end) that reads and
 * writes header fields in place, and `UdpRepr`, a plain record that `parse`s
 * from a view and `emit`s into one.
 * Safety contract: `reset()` inspects nothing; `check()` returns 0 when every
 * accessor stays inside [off, end) and the length field is consistent, else a
 * `WireErrc` with `errAt` (absolute byte offset) and `errField` (Wireshark
 * field) set. Parse untrusted input only after `check()` or via `checked()`.
 * Do *not* `check()` a buffer you are about to emit into: the answer would
 * depend on stale bytes. `setLength()` invalidates a previous `check()`.
 * The UDP payload ends at `off + length()`, not at `end`: Ethernet padding
 * after a short datagram is not payload.
 * Checksums: the caller supplies the pseudo-header partial sum
 * (`ipv4PseudoSum`/`ipv6PseudoSum` from checksum.ts), so this module knows
 * nothing of IP. A zero checksum over IPv4 means "none" (RFC 768); over IPv6
 * it is invalid (RFC 8200 §8.1) — `verifyChecksum` takes 'zeroOk'.
 * Cost: accessors are a few integer ops; nothing allocates except `Repr`s.
 */
import { EMPTY, be16, setBe16 } from './bytes.js';
import { checksumOf, fold, sum16 } from './checksum.js';
import { checkOrThrow, WireErrc, wireError } from './errc.js';

const SRC_PORT = 0, DST_PORT = 2, LENGTH = 4, CHECKSUM = 6;
export const UDP_HEADER_LEN = 8;
export const IPPROTO_UDP = 17;

export class UdpPacket {
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

  /** 0 when the header is in bounds and `length` fits; invalidated by `setLength()`. */
  check(): number {
    const o = this.off;
    if (this.end - o < UDP_HEADER_LEN) return this.fail(WireErrc.Truncated, 'udp', o < this.end ? this.end : o);
    const len = be16(this.bytes, o + LENGTH);
    if (len < UDP_HEADER_LEN) return this.fail(WireErrc.BadLength, 'udp.length', o + LENGTH);
    if (len > this.end - o) return this.fail(WireErrc.Truncated, 'udp.length', this.end); // cut at 'end'
    return WireErrc.Ok;
  }

  private fail(c: number, field: string, at: number): number {
    this.errField = field;
    this.errAt = at;
    return c;
  }

  /** A new checked view over 'bytes'; throws `WireError` if `check()` fails. */
  static checked(bytes: Uint8Array, off = 0, end = bytes.length): UdpPacket {
    return checkOrThrow(new UdpPacket().reset(bytes, off, end), 'udp');
  }

  /** udp.srcport */
  srcPort(): number { return be16(this.bytes, this.off + SRC_PORT); }
  /** udp.dstport */
  dstPort(): number { return be16(this.bytes, this.off + DST_PORT); }
  /** udp.length: header plus payload, in bytes */
  length(): number { return be16(this.bytes, this.off + LENGTH); }
  /** udp.checksum */
  checksum(): number { return be16(this.bytes, this.off + CHECKSUM); }
  /** Offset of the first payload byte. */
  payloadOffset(): number { return this.off + UDP_HEADER_LEN; }
  /** Offset one past the last payload byte (`off + length`). */
  payloadEnd(): number { return this.off + be16(this.bytes, this.off + LENGTH); }

  setSrcPort(v: number): void { setBe16(this.bytes, this.off + SRC_PORT, v); }
  setDstPort(v: number): void { setBe16(this.bytes, this.off + DST_PORT, v); }
  setLength(v: number): void { setBe16(this.bytes, this.off + LENGTH, v); }
  setChecksum(v: number): void { setBe16(this.bytes, this.off + CHECKSUM, v); }

  /** The checksum the datagram should carry, given the pseudo-header sum 'pseudo'. */
  computeChecksum(pseudo: number, end = this.off + this.length()): number {
    const c = checksumOf(this.bytes, this.off, end, this.off + CHECKSUM, pseudo);
    return c === 0 ? 0xffff : c; // RFC 768: a computed zero is sent as all ones
  }

  /** True when the stored checksum is right; a stored 0 is accepted only if 'zeroOk' (IPv4). */
  verifyChecksum(pseudo: number, zeroOk: boolean): boolean {
    const stored = this.checksum();
    if (stored === 0) return zeroOk;
    const o = this.off;
    return fold(sum16(this.bytes, o, o + this.length(), pseudo)) === 0;
  }

  /** Compute and store the checksum (payload must already be in place). */
  fillChecksum(pseudo: number): void {
    this.setChecksum(this.computeChecksum(pseudo));
  }
}

/** A UDP header as values. 'length'/'checksum' of -1 mean "compute on emit". */
export interface UdpRepr {
  srcPort: number;
  dstPort: number;
  length: number;
  checksum: number;
}

export const UdpRepr = {
  /** Read a checked view (throws `WireError` if it does not check). */
  parse(p: UdpPacket): UdpRepr {
    checkOrThrow(p, 'udp');
    return { srcPort: p.srcPort(), dstPort: p.dstPort(), length: p.length(), checksum: p.checksum() };
  },
  /** Header bytes `emit` writes. */
  bufferLen(_r: UdpRepr): number {
    return UDP_HEADER_LEN;
  },
  /**
   * Write the header at 'p.off'. The 'payloadLen' bytes of payload must already
   * follow it. 'pseudoOf' gives the pseudo-header sum for a UDP length.
   * Lengths and checksums are computed unless the Repr gives them (>= 0).
   */
  emit(r: UdpRepr, p: UdpPacket, payloadLen: number, pseudoOf: (udpLen: number) => number): void {
    p.setSrcPort(r.srcPort);
    p.setDstPort(r.dstPort);
    const len = r.length >= 0 ? r.length : UDP_HEADER_LEN + payloadLen;
    if (len > 0xffff) throw wireError(WireErrc.BadLength, 'udp', 'udp.length', p.off + LENGTH, `udp: length ${len} does not fit udp.length (at most 65535)`);
    p.setLength(len);
    p.setChecksum(0);
    if (r.checksum >= 0) p.setChecksum(r.checksum);
    else {
      // over the bytes actually present, even when the caller gave a lying length
      p.setChecksum(p.computeChecksum(pseudoOf(len), p.off + UDP_HEADER_LEN + payloadLen));
    }
  },
};
