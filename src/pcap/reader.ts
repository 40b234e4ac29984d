/**
 * Streaming reader for classic pcap and pcapng (pcap layer, slow path).
 *
 * What: `PcapReader` takes a capture file as chunks of any size (`push`),
 * detects the format from the first bytes, and hands out `PcapRecord`s
 * (`next`); `readPcap(bytes)` iterates an in-memory file. file.ts streams a
 * file from disk through the same reader.
 * Formats: classic pcap in both byte orders with µs (0xa1b2c3d4) or ns
 * (0xa1b23c4d) timestamps and any linktype; pcapng with any number of
 * sections, each in its own byte order, several interfaces per section
 * (linktype, snaplen, `if_tsresol` in powers of 10 or of 2, `if_tsoffset`,
 * `if_name`), Enhanced, Simple and the obsolete Packet Blocks; every other
 * block type is skipped by its length.
 * Why push-based: the reader never needs the whole file. `push` parses every
 * complete record in the chunk at once and queues it (records own a copy of
 * their bytes), and keeps only an incomplete tail — at most one record or
 * block, bounded by `PCAP_MAX_CAPLEN` and `PCAPNG_MAX_BLOCK_LEN` — in a
 * reused stash. So the caller may reuse its chunk buffer as soon as `push`
 * returns, and memory stays at one chunk plus one record whatever the file
 * size. A unit that straddles chunks is completed in the stash by copying
 * only the bytes it still needs; everything else is read in place.
 * Errors (format.ts lists the codes and their offsets): a fault found while
 * pushing is kept; `next` returns every record queued before it, then throws
 * it, and keeps throwing it. `end()` tells the reader the file is complete:
 * an unfinished header, record or block then becomes PCAP_TRUNCATED at its
 * first byte. Only `PcapError` escapes for any input (property-tested).
 * Timestamps: classic files carry seconds and µs/ns; a µs/ns field of 10^6/10^9
 * or more is carried into the seconds (tshark prints such a time unnormalised,
 * e.g. "1.2000000000"). pcapng 64-bit timestamps are divided exactly, with
 * BigInt only for resolutions that do not divide 10^9 (2^-10, ps…);
 * tshark 4.0 overflows 64 bits for resolutions finer than about 2^-34 or
 * 10^-10 and prints wrong fractions there, we do not. A Simple Packet Block
 * has no timestamp: its record has 0/0 (tshark leaves frame.time_epoch empty).
 * Snaplen: a captured length above the interface's snaplen is PCAP_BAD_RECORD
 * unless `allowOverSnaplen` is set; tshark and libpcap read such records
 * (libpcap cuts them to the snaplen). A snaplen of 0 means "no limit".
 * Cost: one copy of each record's bytes plus stash copies at chunk edges;
 * one small object per record. Not for the per-packet fast path.
 */
import { PcapError } from '../errors.js';
import {
  IF_NAME, IF_TSOFFSET, IF_TSRESOL, PCAPNG_BYTE_ORDER_MAGIC, PCAPNG_EPB, PCAPNG_IDB, PCAPNG_MAX_BLOCK_LEN, PCAPNG_PB,
  PCAPNG_SHB, PCAPNG_SPB, PCAP_HEADER_LEN, PCAP_MAGIC_NS, PCAP_MAGIC_US, PCAP_MAX_CAPLEN, PCAP_RECORD_HEADER_LEN,
  type ByteOrder, type CaptureFormat, type PcapInterface, type PcapRecord,
} from './format.js';

export interface PcapReaderOptions {
  /** Accept records captured beyond their interface's snaplen, as tshark and libpcap do (default false). */
  allowOverSnaplen?: boolean;
}

const enum State { Start, Classic, Pcapng }

const SHB_MIN_LEN = 28;
const IDB_MIN_LEN = 20;
const EPB_MIN_LEN = 32;
const SPB_MIN_LEN = 16;
const BLOCK_MIN_LEN = 12;
const NS_PER_SEC = 1_000_000_000;
const UTF8 = new TextDecoder('utf-8', { fatal: false });

export class PcapReader {
  /** 'pcap' or 'pcapng' once the first bytes are seen, else null. */
  format: CaptureFormat | null = null;
  /** Byte order of the classic file or of the current pcapng section. */
  byteOrder: ByteOrder | null = null;
  /** Classic pcap: nanosecond timestamps (magic 0xa1b23c4d). */
  nanosecond = false;
  /** Section Header Blocks seen (1 for a classic file once its header is read). */
  sections = 0;
  /** Interfaces of the current section (the file header for classic pcap). */
  interfaces: PcapInterface[] = [];
  /** File offset of the next header, record or block not yet parsed. */
  offset = 0;

  private readonly strictSnaplen: boolean;
  private state = State.Start;
  private le = true;
  /** Per interface: units per second as a number when it divides 10^9, else 0 (use BigInt). */
  private divs: number[] = [];
  private stash = new Uint8Array(4096);
  private stashLen = 0;
  /** Bytes the current unit needs in all, once `unit` returned 0 (a lower bound until its length is known). */
  private need = 0;
  private queue: PcapRecord[] = [];
  private qHead = 0;
  private error: PcapError | null = null;
  private ended = false;

  constructor(opts: PcapReaderOptions = {}) {
    this.strictSnaplen = !opts.allowOverSnaplen;
  }

  /** True once a fault was found (it is thrown by `next` after the records before it). */
  get failed(): boolean {
    return this.error !== null;
  }

  /**
   * Feed the next 'chunk' of the file. Parses every complete record in it;
   * copies what it keeps, so the caller may reuse 'chunk' afterwards. After a
   * fault, further chunks are ignored.
   */
  push(chunk: Uint8Array): void {
    if (this.ended) throw new Error('PcapReader: push() after end()');
    const len = chunk.length;
    let pos = 0;
    try {
      while (pos < len && this.error === null) {
        if (this.stashLen > 0) {
          const take = Math.min(this.need - this.stashLen, len - pos);
          this.stashAppend(chunk, pos, pos + take);
          pos += take;
          if (this.stashLen < this.need) break;
          this.drainStash();
        } else {
          const n = this.unit(chunk, pos, len);
          if (n > 0) {
            this.offset += n;
            pos += n;
          } else {
            this.stashAppend(chunk, pos, len);
            pos = len;
          }
        }
      }
    } catch (e) {
      if (!(e instanceof PcapError)) throw e;
      this.error = e;
    }
  }

  /** The file is complete: an unfinished header, record or block is now PCAP_TRUNCATED. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.error !== null) return;
    if (this.state === State.Start && this.stashLen === 0) {
      this.error = new PcapError('PCAP_TRUNCATED', this.offset, 'empty file: no pcap or pcapng header');
    } else if (this.stashLen > 0) {
      const what = this.state === State.Start ? 'the file header' : this.state === State.Classic ? 'a pcap record' : 'a pcapng block';
      this.error = new PcapError('PCAP_TRUNCATED', this.offset,
        `file ends inside ${what}: ${this.stashLen} of ${this.state === State.Pcapng && this.need === BLOCK_MIN_LEN ? 'at least ' : ''}${this.need} bytes present`);
    }
  }

  /**
   * The next record, or null when more input is needed (or the file is done).
   * Throws the `PcapError` found, once every record before it was returned.
   */
  next(): PcapRecord | null {
    if (this.qHead < this.queue.length) {
      const r = this.queue[this.qHead++]!;
      if (this.qHead === this.queue.length) {
        this.queue.length = 0;
        this.qHead = 0;
      }
      return r;
    }
    if (this.error !== null) throw this.error;
    return null;
  }

  /** Every record available now (see `next`). */
  *records(): Generator<PcapRecord, void, undefined> {
    for (let r = this.next(); r !== null; r = this.next()) yield r;
  }

  // ---- the stash: one unfinished unit across chunk boundaries ----------------

  private stashAppend(b: Uint8Array, from: number, to: number): void {
    const n = to - from;
    if (this.stashLen + n > this.stash.length) {
      let cap = this.stash.length;
      while (cap < this.stashLen + n) cap *= 2;
      const s = new Uint8Array(cap);
      s.set(this.stash.subarray(0, this.stashLen));
      this.stash = s;
    }
    this.stash.set(b.subarray(from, to), this.stashLen);
    this.stashLen += n;
  }

  /** Parse units out of the stash until it is empty or its unit is incomplete. */
  private drainStash(): void {
    while (this.stashLen > 0) {
      const n = this.unit(this.stash, 0, this.stashLen);
      if (n === 0) return;
      this.offset += n;
      this.stash.copyWithin(0, n, this.stashLen);
      this.stashLen -= n;
    }
  }

  // ---- units: the file header, a classic record, a pcapng block --------------

  /** Parse the unit at 'o' in b[o, end): bytes consumed, or 0 with `need` set. Throws `PcapError`. */
  private unit(b: Uint8Array, o: number, end: number): number {
    switch (this.state) {
      case State.Start: return this.fileHeader(b, o, end);
      case State.Classic: return this.classicRecord(b, o, end);
      case State.Pcapng: return this.block(b, o, end);
    }
  }

  private wait(need: number): number {
    this.need = need;
    return 0;
  }

  private fileHeader(b: Uint8Array, o: number, end: number): number {
    const avail = end - o;
    if (avail < 4) return this.wait(4);
    const magic = u32le(b, o);
    if (magic === PCAPNG_SHB) {
      this.state = State.Pcapng;
      this.format = 'pcapng';
      return this.block(b, o, end);
    }
    let le: boolean, ns: boolean;
    if (magic === PCAP_MAGIC_US) { le = true; ns = false; }
    else if (magic === swap32(PCAP_MAGIC_US)) { le = false; ns = false; }
    else if (magic === PCAP_MAGIC_NS) { le = true; ns = true; }
    else if (magic === swap32(PCAP_MAGIC_NS)) { le = false; ns = true; }
    else {
      throw new PcapError('PCAP_BAD_MAGIC', this.offset,
        `not a pcap or pcapng file (magic bytes ${hex8(b[o]!)}${hex8(b[o + 1]!)}${hex8(b[o + 2]!)}${hex8(b[o + 3]!)})`);
    }
    if (avail < PCAP_HEADER_LEN) return this.wait(PCAP_HEADER_LEN);
    this.le = le;
    this.nanosecond = ns;
    this.format = 'pcap';
    this.byteOrder = le ? 'le' : 'be';
    this.sections = 1;
    this.interfaces = [{
      linktype: this.u32(b, o + 20) & 0xffff, // the upper bits carry FCS information
      snaplen: this.u32(b, o + 16),
      unitsPerSec: ns ? 1_000_000_000n : 1_000_000n,
      tsOffsetSec: 0,
      name: '',
    }];
    this.state = State.Classic;
    return PCAP_HEADER_LEN;
  }

  private classicRecord(b: Uint8Array, o: number, end: number): number {
    const avail = end - o;
    if (avail < PCAP_RECORD_HEADER_LEN) return this.wait(PCAP_RECORD_HEADER_LEN);
    const at = this.offset;
    const capLen = this.u32(b, o + 8);
    const iface = this.interfaces[0]!;
    this.checkCapLen(capLen, iface.snaplen, at + 8);
    const total = PCAP_RECORD_HEADER_LEN + capLen;
    if (avail < total) return this.wait(total);
    let sec = this.u32(b, o);
    let nsec = this.nanosecond ? this.u32(b, o + 4) : this.u32(b, o + 4) * 1000;
    if (nsec >= NS_PER_SEC) {
      sec += Math.floor(nsec / NS_PER_SEC);
      nsec %= NS_PER_SEC;
    }
    this.record(0, iface.linktype, sec, nsec, capLen, this.u32(b, o + 12), b, o + PCAP_RECORD_HEADER_LEN);
    return total;
  }

  private checkCapLen(capLen: number, snaplen: number, at: number): void {
    if (capLen > PCAP_MAX_CAPLEN) {
      throw new PcapError('PCAP_BAD_RECORD', at, `captured length ${capLen} is bigger than the maximum of ${PCAP_MAX_CAPLEN}`);
    }
    if (this.strictSnaplen && snaplen !== 0 && capLen > snaplen) {
      throw new PcapError('PCAP_BAD_RECORD', at, `captured length ${capLen} is bigger than the snaplen ${snaplen}`);
    }
  }

  private block(b: Uint8Array, o: number, end: number): number {
    const avail = end - o;
    // every block has at least type, length and trailer; an SHB's byte order is at 8
    if (avail < BLOCK_MIN_LEN) return this.wait(BLOCK_MIN_LEN);
    const at = this.offset;
    const shb = b[o] === 0x0a && b[o + 1] === 0x0d && b[o + 2] === 0x0d && b[o + 3] === 0x0a;
    if (shb) {
      const bom = u32le(b, o + 8);
      if (bom === PCAPNG_BYTE_ORDER_MAGIC) this.le = true;
      else if (bom === swap32(PCAPNG_BYTE_ORDER_MAGIC)) this.le = false;
      else if (this.sections === 0) throw new PcapError('PCAP_BAD_MAGIC', at + 8, 'pcapng byte-order magic is neither 1a2b3c4d nor 4d3c2b1a');
      else throw new PcapError('PCAP_BAD_BLOCK', at + 8, 'section header byte-order magic is neither 1a2b3c4d nor 4d3c2b1a');
    }
    const type = shb ? PCAPNG_SHB : this.u32(b, o);
    const len = this.u32(b, o + 4);
    if (len < (shb ? SHB_MIN_LEN : BLOCK_MIN_LEN) || (len & 3) !== 0 || len > PCAPNG_MAX_BLOCK_LEN) {
      throw new PcapError('PCAP_BAD_BLOCK', at + 4, `bad length ${len} for a block of type 0x${type.toString(16)}`);
    }
    if (avail < len) return this.wait(len);
    const trailer = this.u32(b, o + len - 4);
    if (trailer !== len) {
      throw new PcapError('PCAP_BAD_BLOCK', at + len - 4, `block trailer length ${trailer} does not repeat the block length ${len}`);
    }
    switch (type) {
      case PCAPNG_SHB: {
        const major = this.u16(b, o + 12);
        if (major !== 1) throw new PcapError('PCAP_BAD_BLOCK', at + 12, `unsupported pcapng version ${major}.${this.u16(b, o + 14)}`);
        this.sections++;
        this.byteOrder = this.le ? 'le' : 'be';
        this.interfaces = [];
        this.divs = [];
        break;
      }
      case PCAPNG_IDB:
        this.interfaceBlock(b, o, len, at);
        break;
      case PCAPNG_EPB:
        if (len < EPB_MIN_LEN) throw new PcapError('PCAP_BAD_BLOCK', at + 4, `enhanced packet block of ${len} bytes is too short`);
        this.packetBlock(b, o, len, at, this.u32(b, o + 8));
        break;
      case PCAPNG_PB:
        if (len < EPB_MIN_LEN) throw new PcapError('PCAP_BAD_BLOCK', at + 4, `packet block of ${len} bytes is too short`);
        this.packetBlock(b, o, len, at, this.u16(b, o + 8));
        break;
      case PCAPNG_SPB:
        this.simplePacketBlock(b, o, len, at);
        break;
      default:
        break; // name resolution, statistics, custom and unknown blocks: skipped by length
    }
    return len;
  }

  private interfaceBlock(b: Uint8Array, o: number, len: number, at: number): void {
    if (len < IDB_MIN_LEN) throw new PcapError('PCAP_BAD_BLOCK', at + 4, `interface description block of ${len} bytes is too short`);
    let units = 1_000_000n, tsOffsetSec = 0, name = '';
    const optEnd = o + len - 4;
    for (let x = o + 16; x + 4 <= optEnd;) {
      const code = this.u16(b, x), olen = this.u16(b, x + 2);
      if (code === 0) break; // opt_endofopt
      const v = x + 4;
      const next = v + ((olen + 3) & ~3);
      if (next > optEnd) throw new PcapError('PCAP_BAD_BLOCK', at + (x - o), `option ${code} of ${olen} bytes does not fit its block`);
      if (code === IF_TSRESOL && olen >= 1) {
        const r = b[v]!;
        units = (r & 0x80) !== 0 ? 1n << BigInt(r & 0x7f) : 10n ** BigInt(r);
      } else if (code === IF_TSOFFSET && olen === 8) {
        const hi = this.le ? u32le(b, v + 4) : u32be(b, v);
        const lo = this.le ? u32le(b, v) : u32be(b, v + 4);
        tsOffsetSec = (hi | 0) * 4294967296 + lo;
      } else if (code === IF_NAME) {
        name = UTF8.decode(b.subarray(v, v + olen)).replace(/\0+$/, '');
      }
      x = next;
    }
    this.interfaces.push({ linktype: this.u16(b, o + 8), snaplen: this.u32(b, o + 12), unitsPerSec: units, tsOffsetSec, name });
    this.divs.push(units <= 1_000_000_000n && 1_000_000_000n % units === 0n ? Number(units) : 0);
  }

  /** EPB and the obsolete PB share a layout after the interface id. */
  private packetBlock(b: Uint8Array, o: number, len: number, at: number, ifid: number): void {
    if (ifid >= this.interfaces.length) {
      throw new PcapError('PCAP_NO_INTERFACE', at + 8, `packet on interface ${ifid}, but the section describes ${this.interfaces.length}`);
    }
    const iface = this.interfaces[ifid]!;
    const capLen = this.u32(b, o + 20);
    this.checkCapLen(capLen, iface.snaplen, at + 20);
    if (EPB_MIN_LEN + ((capLen + 3) & ~3) > len) {
      throw new PcapError('PCAP_BAD_BLOCK', at + 20, `captured length ${capLen} does not fit a block of ${len} bytes`);
    }
    const hi = this.u32(b, o + 12), lo = this.u32(b, o + 16);
    const div = this.divs[ifid]!;
    let sec: number, nsec: number;
    if (div !== 0) {
      // exact long division of hi:lo by div < 2^30, 16 bits at a time so no step exceeds 2^53
      const q1 = Math.floor(hi / div), r1 = hi - q1 * div;
      const t2 = r1 * 65536 + (lo >>> 16);
      const q2 = Math.floor(t2 / div), r2 = t2 - q2 * div;
      const t3 = r2 * 65536 + (lo & 0xffff);
      const q3 = Math.floor(t3 / div), r3 = t3 - q3 * div;
      sec = q1 * 4294967296 + q2 * 65536 + q3;
      nsec = r3 * (NS_PER_SEC / div);
    } else {
      const ts = (BigInt(hi) << 32n) | BigInt(lo);
      const u = iface.unitsPerSec;
      sec = Number(ts / u);
      nsec = Number(((ts % u) * 1_000_000_000n) / u);
    }
    sec += iface.tsOffsetSec;
    if (!Number.isSafeInteger(sec) || sec < 0) {
      // a coarse if_tsresol (1 s, 2^0 s) lets 64 bits of units exceed what a timestamp can mean
      throw new PcapError('PCAP_BAD_RECORD', at + 12, `timestamp of ${sec} seconds is out of range`);
    }
    this.record(ifid, iface.linktype, sec, nsec, capLen, this.u32(b, o + 24), b, o + 28);
  }

  private simplePacketBlock(b: Uint8Array, o: number, len: number, at: number): void {
    if (len < SPB_MIN_LEN) throw new PcapError('PCAP_BAD_BLOCK', at + 4, `simple packet block of ${len} bytes is too short`);
    if (this.interfaces.length === 0) throw new PcapError('PCAP_NO_INTERFACE', at, 'simple packet block before any interface description');
    const iface = this.interfaces[0]!;
    const origLen = this.u32(b, o + 8);
    // the captured length is implied: the original length, cut by the snaplen and the block
    let capLen = Math.min(origLen, len - SPB_MIN_LEN);
    if (iface.snaplen !== 0) capLen = Math.min(capLen, iface.snaplen);
    if (capLen > PCAP_MAX_CAPLEN) {
      throw new PcapError('PCAP_BAD_RECORD', at + 8, `captured length ${capLen} is bigger than the maximum of ${PCAP_MAX_CAPLEN}`);
    }
    this.record(0, iface.linktype, 0, 0, capLen, origLen, b, o + 12);
  }

  private record(ifid: number, linktype: number, tsSec: number, tsNsec: number, capLen: number, origLen: number, b: Uint8Array, data: number): void {
    this.queue.push({ interfaceId: ifid, linktype, tsSec, tsNsec, capLen, origLen, data: b.slice(data, data + capLen) });
  }

  private u16(b: Uint8Array, o: number): number {
    return this.le ? (b[o]! | (b[o + 1]! << 8)) : ((b[o]! << 8) | b[o + 1]!);
  }

  private u32(b: Uint8Array, o: number): number {
    return this.le ? u32le(b, o) : u32be(b, o);
  }
}

/**
 * Iterate the records of a capture held in memory. Yields every good record,
 * then throws the `PcapError` of the first fault, if any.
 */
export function* readPcap(bytes: Uint8Array, opts: PcapReaderOptions = {}): Generator<PcapRecord, void, undefined> {
  const r = new PcapReader(opts);
  const SLICE = 1 << 20; // parse lazily, a slice at a time, rather than queueing the whole file
  for (let o = 0; o < bytes.length && !r.failed; o += SLICE) {
    r.push(bytes.subarray(o, Math.min(o + SLICE, bytes.length)));
    yield* r.records();
  }
  r.end();
  yield* r.records();
}

function u32le(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

function u32be(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function swap32(v: number): number {
  return (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
}

function hex8(v: number): string {
  return v.toString(16).padStart(2, '0');
}
