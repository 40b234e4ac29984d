/**
 * Big-endian integer access and address formatting over `Uint8Array`
 * (wire layer, fast path).
 *
 * What: `be16`/`be32` readers and `setBe16`/`setBe32` writers used by every
 * view, plus slow-path formatters for MACs, IPv4 and IPv6 addresses in the
 * text forms Wireshark and OVS print.
 * Why shifts here: a DataView per buffer is an allocation or a cache to keep
 * in step with the buffer, so the views use shifts, which need nothing. The
 * per-packet walker (extract.ts) does keep one DataView per receive ring,
 * where bench/wire.bench.ts shows it faster.
 * Invariant: callers have proved the range is in bounds (a view's `check()`);
 * these helpers do not check. `be32` returns an unsigned number (`>>> 0`).
 * Cost: a few integer ops; allocates nothing. The formatters allocate strings
 * and are for the slow path only.
 * Slow-path parsing of address text is ip-address's; hex goes through the
 * `buffer` package's Buffer (Node's own in Node, the npm package in a browser
 * bundle), so wire/ runs unchanged in the trace viewer.
 */
import { Buffer } from 'buffer';
import { Address4, Address6 } from 'ip-address';

export const EMPTY = new Uint8Array(0);

export function be16(b: Uint8Array, o: number): number {
  return ((b[o]! << 8) | b[o + 1]!);
}

export function be32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/**
 * be32 as a signed int32 (same bits), for per-packet code: V8 boxes a uint32 above 2^31
 * returned from a call it did not inline into a new HeapNumber, an int32 never.
 */
export function be32i(b: Uint8Array, o: number): number {
  return (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
}

export function be24(b: Uint8Array, o: number): number {
  return (b[o]! << 16) | (b[o + 1]! << 8) | b[o + 2]!;
}

export function setBe16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}

export function setBe24(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 16;
  b[o + 1] = v >>> 8;
  b[o + 2] = v;
}

export function setBe32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

// ---- slow path: text forms -------------------------------------------------

const HEX2: string[] = [];
for (let i = 0; i < 256; i++) HEX2.push(i.toString(16).padStart(2, '0'));

/** `aa:bb:cc:dd:ee:ff` from six bytes at 'o' (eth.src form). */
export function macToString(b: Uint8Array, o: number): string {
  return `${HEX2[b[o]!]}:${HEX2[b[o + 1]!]}:${HEX2[b[o + 2]!]}:${HEX2[b[o + 3]!]}:${HEX2[b[o + 4]!]}:${HEX2[b[o + 5]!]}`;
}

/** Six bytes from `aa:bb:cc:dd:ee:ff` (also `-` separated); null if malformed. */
export function parseMac(s: string): Uint8Array | null {
  const m = /^([0-9a-fA-F]{1,2})[:-]([0-9a-fA-F]{1,2})[:-]([0-9a-fA-F]{1,2})[:-]([0-9a-fA-F]{1,2})[:-]([0-9a-fA-F]{1,2})[:-]([0-9a-fA-F]{1,2})$/.exec(s.trim());
  if (!m) return null;
  const out = new Uint8Array(6);
  for (let i = 0; i < 6; i++) out[i] = parseInt(m[i + 1]!, 16);
  return out;
}

/** Dotted quad from a uint32. */
export function ipv4ToString(a: number): string {
  return `${(a >>> 24) & 255}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/**
 * uint32 from a dotted quad; null if malformed. Validation is ip-address's
 * (`Address4.isValid`: four decimal octets, no leading zeros); a prefix
 * length (`/24`) is not an address.
 */
export function parseIpv4(s: string): number | null {
  const t = s.trim();
  if (t.includes('/') || !Address4.isValid(t)) return null;
  const [a, b, c, d] = new Address4(t).toArray() as [number, number, number, number];
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

/**
 * uint32 from exactly four 1-3 digit decimal octets, each at most 255, or
 * null: the parser of flow, rule and ipset text (unlike parseIpv4, no
 * trimming and leading zeros allowed).
 */
export function parseIpv4Dotted(s: string): number | null {
  const m = /^([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$/.exec(s);
  if (m === null) return null;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]!);
    if (o > 255) return null;
    v = (v << 8) | o;
  }
  return v >>> 0;
}

/** RFC 5952 text of the 16 bytes at 'o', as tshark and tcpdump print it. */
export function ipv6ToString(b: Uint8Array, o: number): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push(be16(b, o + 2 * i));
  // IPv4-mapped ::ffff:a.b.c.d, and IPv4-compatible ::a.b.c.d when the zero
  // run is exactly the first six words (::0.1.0.0, but ::2 and ::1): the rule
  // of glibc's and Wireshark's inet_ntop6, so tcpdump and tshark print the same
  if (w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0 && w[4] === 0) {
    if (w[5] === 0xffff) return `::ffff:${ipv4ToString(be32(b, o + 12))}`;
    if (w[5] === 0 && w[6] !== 0) return `::${ipv4ToString(be32(b, o + 12))}`;
  }
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = (x: number): string => x.toString(16);
  if (bestStart < 0) return w.map(hex).join(':');
  const head = w.slice(0, bestStart).map(hex).join(':');
  const tail = w.slice(bestStart + bestLen).map(hex).join(':');
  return `${head}::${tail}`;
}

/**
 * 16 bytes from IPv6 text (`::` compression, a dotted IPv4 tail), parsed by
 * ip-address's `Address6`; null if malformed. Prefix lengths (`/64`) and zone
 * ids (`%eth0`) are not part of an address on the wire and are refused.
 */
export function parseIpv6(s: string): Uint8Array | null {
  const t = s.trim();
  if (t.includes('/') || t.includes('%') || !Address6.isValid(t)) return null;
  const arr = new Address6(t).toByteArray();
  if (arr.length > 16) return null;
  const out = new Uint8Array(16);
  out.set(arr, 16 - arr.length);
  return out;
}

/** Lower-case hex of bytes [off, end) with no separators. */
export function toHex(b: Uint8Array, off = 0, end = b.length): string {
  return Buffer.from(b.buffer, b.byteOffset + off, end - off).toString('hex');
}

/** Bytes from hex text; whitespace and `:` separators are ignored; null if malformed. */
export function fromHex(s: string): Uint8Array | null {
  const clean = s.replace(/[\s:]/g, '');
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) return null;
  return new Uint8Array(Buffer.from(clean, 'hex'));
}
