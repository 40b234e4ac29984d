/**
 * IPv4 fragmentation and reassembly (netstack layer), as Linux's
 * ip_fragment and ip_defrag do them.
 *
 * What: `fragment(frame, mtu)` splits an Ethernet/IPv4 frame whose packet
 * exceeds 'mtu' into frames of at most 'mtu' bytes of IP: every fragment
 * carries the original header (options are not copied apart from those
 * with the copy bit — sdnemu's packets carry none, so the header is copied
 * whole), its data a multiple of 8 bytes except the last, MF on all but the
 * last (and kept on the last when the original was itself a non-final
 * fragment), offsets in 8-byte units, fresh header checksums.
 * `Reassembler` collects fragments keyed (source, destination, protocol,
 * id), fills holes in any arrival order, drops a duplicate or an overlap
 * (RFC 5722's rule for IPv6, which Linux applies to IPv4 too since 4.x:
 * the whole datagram is dropped), and gives the datagram back when the
 * final fragment and every byte before it are in; what is not complete
 * `timeoutMs` (ipfrag_time, 30 s) after its first fragment is dropped —
 * `expired` returns those that had their first fragment, for ICMP time
 * exceeded (code 1, fragment reassembly); with `expireOn(sim, fn)` a timer
 * does it at the deadline (the kernel's ip_expire), handing 'fn' each
 * first fragment and the tag (the interface) its datagram came in with.
 * The packet ledger (sim/ledger.ts): a fragment held is parked; when its
 * datagram completes, the held ones are merged into the fragment in hand
 * (which goes on as the datagram); a refused datagram's fragments, the one
 * in hand included, are dropped ('reasm-bad'), an expired one's too
 * ('reasm-timeout').
 * Cost: slow path; one copy of the payload into the datagram.
 * `addPiece` is the same without the IPv4 header: ipv6.ts reassembles with it.
 * Neighbours: host.ts (output and local input), ipv6.ts (IPv6 reassembly).
 */
import { be16, be32, setBe16 } from '../wire/bytes.js';
import { checksumOf } from '../wire/checksum.js';
import type { Ledger } from '../sim/ledger.js';
import type { EventId, Sim } from '../sim/engine.js';

/** Split 'frame' (Ethernet + IPv4 at 14) into fragments of at most 'mtu' IP bytes; [frame] when it fits. */
export function fragment(frame: Uint8Array, mtu: number): Uint8Array[] {
  const total = be16(frame, 16);
  if (total <= mtu) return [frame];
  const ihl = (frame[14]! & 15) * 4;
  const data = frame.subarray(14 + ihl, 14 + total);
  const chunk = (mtu - ihl) & ~7;
  if (chunk <= 0) return [];
  const flags = be16(frame, 20);
  const baseOff = flags & 0x1fff, moreAfter = (flags & 0x2000) !== 0;
  const out: Uint8Array[] = [];
  for (let at = 0; at < data.length; at += chunk) {
    const len = Math.min(chunk, data.length - at);
    const last = at + len >= data.length;
    const f = new Uint8Array(14 + ihl + len);
    f.set(frame.subarray(0, 14 + ihl), 0);
    f.set(data.subarray(at, at + len), 14 + ihl);
    setBe16(f, 16, ihl + len);
    setBe16(f, 20, (flags & 0x4000) | (!last || moreAfter ? 0x2000 : 0) | (baseOff + at / 8));
    setBe16(f, 24, checksumOf(f, 14, 14 + ihl, 24));
    out.push(f);
  }
  return out;
}

/** Is 'frame' a fragment (MF set or a non-zero offset)? */
export function isFragment(frame: Uint8Array): boolean {
  return (be16(frame, 20) & 0x3fff) !== 0;
}

class Pending {
  /** [offset, end) of each piece held, by offset */
  pieces: { off: number; data: Uint8Array }[] = [];
  /** the final fragment's end (-1 until it arrived) */
  end = -1;
  first: Uint8Array | null = null;
  constructor(readonly created: number, readonly tag: string) {}
}

export class Reassembler {
  private readonly pending = new Map<string, Pending>();
  readonly timeoutNs: number;
  /** datagrams dropped: a fragment overlapping another, or timed out */
  dropped = 0;

  private sim: Sim | null = null;
  private onExpired: ((first: Uint8Array, tag: string) => void) | null = null;
  private timer: EventId | null = null;

  constructor(timeoutMs = 30_000, private readonly ledger: Ledger | null = null) { this.timeoutNs = timeoutMs * 1e6; }

  /** Expire datagrams on 'sim''s clock, at their deadline: 'fn' gets the first fragment (if it came) and the datagram's tag. */
  expireOn(sim: Sim, fn: (first: Uint8Array, tag: string) => void): void {
    this.sim = sim;
    this.onExpired = fn;
  }

  /** A timer at the oldest datagram's deadline, when there is one and none is set. */
  private arm(): void {
    const sim = this.sim;
    if (sim === null || this.timer !== null) return;
    let oldest = Infinity;
    for (const p of this.pending.values()) { oldest = p.created; break; } // a Map keeps insertion order: the first is the oldest
    if (oldest === Infinity) return;
    this.timer = sim.at(oldest + this.timeoutNs, { onEvent: () => {
      this.timer = null;
      this.expire(sim.now, this.onExpired!);
      this.arm();
    } });
  }

  get size(): number { return this.pending.size; }

  /**
   * Add fragment 'frame' (Ethernet + IPv4) at time 'now' (ns): the
   * reassembled frame (the first fragment's Ethernet and IP header, flags
   * and offset cleared) when it completes a datagram, else null.
   */
  add(frame: Uint8Array, now: number, tag = ''): Uint8Array | null {
    const ihl = (frame[14]! & 15) * 4, total = be16(frame, 16), flags = be16(frame, 20);
    const key = `${be32(frame, 26)}/${be32(frame, 30)}/${frame[23]}/${be16(frame, 18)}`;
    const off = (flags & 0x1fff) * 8;
    const whole = this.addPiece(key, off, frame.slice(14 + ihl, 14 + total), (flags & 0x2000) === 0, off === 0 ? frame.slice(0, 14 + ihl) : null, now, tag);
    if (whole === null) return null;
    const out = whole.datagram, hlen = whole.headLen;
    setBe16(out, 16, hlen - 14 + out.length - hlen);
    setBe16(out, 20, be16(out, 20) & 0x4000);
    setBe16(out, 24, checksumOf(out, 14, hlen, 24));
    return out;
  }

  /**
   * The family-free part of reassembly (IPv4 here, IPv6 in ipv6.ts): piece 'data' at byte
   * 'off' of datagram 'key' ('last': the final piece; 'head': the headers to put in front,
   * given with the piece at offset 0). When the datagram is complete: its bytes (head, then
   * the data) and the head's length, for the caller to fix the header; else null (also when
   * the datagram was dropped: an overlap, a final piece disagreeing on the end, a non-final
   * piece not a multiple of 8).
   */
  addPiece(key: string, off: number, data: Uint8Array, last: boolean, head: Uint8Array | null, now: number, tag = ''): { datagram: Uint8Array; headLen: number } | null {
    let p = this.pending.get(key);
    if (p === undefined) { p = new Pending(now, tag); this.pending.set(key, p); this.arm(); }
    const end = off + data.length;
    if (last) {
      if (p.end >= 0 && p.end !== end) return this.discard(key);
      p.end = end;
    } else if (data.length % 8 !== 0) {
      return this.discard(key);
    }
    for (const q of p.pieces) {
      if (off < q.off + q.data.length && q.off < end) return this.discard(key);
    }
    if (head !== null) p.first = head;
    p.pieces.push({ off, data });
    let have = 0;
    for (const q of p.pieces) have += q.data.length;
    if (p.end < 0 || p.first === null || have !== p.end) { this.ledger?.park(); return null; }
    this.pending.delete(key);
    this.ledger?.settle(p.pieces.length - 1, null);
    const hdr = p.first;
    const out = new Uint8Array(hdr.length + p.end);
    out.set(hdr, 0);
    for (const q of p.pieces) out.set(q.data, hdr.length + q.off);
    return { datagram: out, headLen: hdr.length };
  }

  /** Drop what waited longer than the timeout at 'now'; the first fragments of those datagrams. */
  expired(now: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    this.expire(now, (f) => out.push(f));
    return out;
  }

  /** Drop what waited longer than the timeout at 'now', handing 'fn' each one's first fragment (if it came) and tag. */
  private expire(now: number, fn: (first: Uint8Array, tag: string) => void): void {
    for (const [k, p] of this.pending) {
      if (now - p.created < this.timeoutNs) continue;
      this.pending.delete(k);
      this.dropped++;
      this.ledger?.settle(p.pieces.length, 'reasm-timeout');
      const first = p.pieces.find((q) => q.off === 0);
      if (p.first !== null && first !== undefined) {
        const f = new Uint8Array(p.first.length + first.data.length);
        f.set(p.first, 0);
        f.set(first.data, p.first.length);
        fn(f, p.tag);
      }
    }
  }

  private discard(key: string): null {
    this.ledger?.settle(this.pending.get(key)!.pieces.length, 'reasm-bad');
    this.ledger?.drop('reasm-bad');
    this.pending.delete(key);
    this.dropped++;
    return null;
  }
}
