/**
 * The Internet checksum (RFC 1071), pseudo-headers, and the RFC 1624
 * incremental update (wire layer, fast path).
 *
 * What: `sum16` adds big-endian 16-bit words of a byte range into a 32-bit
 * accumulator; `fold` turns an accumulator into the final one's-complement
 * checksum; `ipv4PseudoSum`/`ipv6PseudoSum` give the pseudo-header partial sums
 * that UDP, TCP and ICMPv6 start from; `csumUpdate16`/`csumUpdate32` patch a
 * stored checksum after one field changes, as NAT and `dec_ttl` will.
 * Why incremental: rewriting a 32-bit address must not cost a pass over the
 * payload. RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'), is exact for every input,
 * unlike RFC 1141's form, which can produce 0xffff/0x0000 wrongly.
 * Invariant: accumulators stay below 2^31 for any range up to 64 KiB so plain
 * integer adds never lose bits; `fold` is the only place carries are folded.
 * Cost: one add per 16-bit word; allocates nothing.
 * Neighbours: every view's `verifyChecksum()`/`fillChecksum()`; the builder;
 * datapath set-field actions and conntrack NAT. Tested against a full recompute.
 */

/** Sum of the 16-bit big-endian words of [off, end); an odd tail byte is padded with zero. */
export function sum16(b: Uint8Array, off: number, end: number, acc = 0): number {
  let i = off;
  const even = end - ((end - off) & 1);
  for (; i < even; i += 2) acc += (b[i]! << 8) | b[i + 1]!;
  if (i < end) acc += b[i]! << 8;
  // keep the accumulator small so repeated calls never overflow 2^53 or lose bits
  return (acc & 0xffff) + (acc >>> 16);
}

/**
 * The checksum a header stores at 'csumOff' for the bytes [off, end), that
 * field counted as zero, starting from the partial sum 'acc' (a
 * pseudo-header, or 0). Every view's `computeChecksum()` is this.
 */
export function checksumOf(b: Uint8Array, off: number, end: number, csumOff: number, acc = 0): number {
  return fold(sum16(b, csumOff + 2, end, sum16(b, off, csumOff, acc)));
}

/** Final checksum (one's complement of the folded sum), 16 bits. */
export function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return (~acc) & 0xffff;
}

/** Pseudo-header sum for IPv4 (RFC 793/768): src, dst, zero+protocol, upper-layer length. */
export function ipv4PseudoSum(src: number, dst: number, proto: number, len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + len;
}

/** Pseudo-header sum for IPv6 (RFC 8200 §8.1): addresses at 'srcOff'/'dstOff' in 'b'. */
export function ipv6PseudoSum(b: Uint8Array, srcOff: number, dstOff: number, nextHeader: number, len: number): number {
  let acc = sum16(b, srcOff, srcOff + 16);
  acc = sum16(b, dstOff, dstOff + 16, acc);
  return acc + (len >>> 16) + (len & 0xffff) + nextHeader;
}

/** Same as `ipv6PseudoSum` with the addresses given as two 16-byte arrays. */
export function ipv6PseudoSumOf(src: Uint8Array, dst: Uint8Array, nextHeader: number, len: number): number {
  return sum16(dst, 0, 16, sum16(src, 0, 16)) + (len >>> 16) + (len & 0xffff) + nextHeader;
}

/** RFC 1624 eqn. 3: checksum 'hc' after a 16-bit word changed from 'oldVal' to 'newVal'. */
export function csumUpdate16(hc: number, oldVal: number, newVal: number): number {
  let acc = ((~hc) & 0xffff) + ((~oldVal) & 0xffff) + (newVal & 0xffff);
  acc = (acc & 0xffff) + (acc >>> 16);
  acc = (acc & 0xffff) + (acc >>> 16);
  return (~acc) & 0xffff;
}

/** RFC 1624 for a 32-bit field (an IPv4 address): two 16-bit updates. */
export function csumUpdate32(hc: number, oldVal: number, newVal: number): number {
  return csumUpdate16(csumUpdate16(hc, oldVal >>> 16, newVal >>> 16), oldVal & 0xffff, newVal & 0xffff);
}
