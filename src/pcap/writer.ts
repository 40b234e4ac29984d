/**
 * Capture file writers: classic pcap and pcapng (pcap layer, slow path).
 *
 * What: `PcapWriter` serialises records as classic pcap — µs or ns
 * timestamps, either byte order, any linktype and snaplen; `PcapngWriter`
 * writes one Section Header Block, Interface Description Blocks added with
 * `addInterface` (with `if_tsresol` 9 for ns interfaces, `if_name` when
 * named) and one Enhanced Packet Block per record. `writePcap` builds a whole
 * file in memory; file.ts streams either writer to a file or a Writable.
 * Why buffer-based: both writers append to one growable buffer that `take()`
 * hands out and empties, so a file writer flushes large slices rather than
 * one write per packet, and tests get the exact bytes.
 * Records: `data` longer than the snaplen is cut to it (the captured length),
 * and `origLen` defaults to `data.length`, as a capture would record it.
 * µs files truncate the ns part (as Wireshark does when saving as µs pcap).
 * Bad input (a timestamp outside the format's range, an origLen below the
 * captured length, an unknown interface) throws `PcapError` with the output
 * offset the record would have had: PCAP_BAD_RECORD or PCAP_NO_INTERFACE.
 * Invariant: `readPcap(writer output)` yields the records written, with
 * timestamps at the file's resolution (round-trip tested, and read back by
 * tshark and tcpdump in the tests).
 * Cost: one copy of each record into the buffer.
 */
import { PcapError } from '../errors.js';
import {
  IF_NAME, IF_TSRESOL, LINKTYPE_ETHERNET, PCAPNG_BYTE_ORDER_MAGIC, PCAPNG_EPB, PCAPNG_IDB, PCAPNG_SHB, PCAP_MAGIC_NS,
  PCAP_MAGIC_US, PCAP_MAX_CAPLEN, SHB_USERAPPL, type ByteOrder,
} from './format.js';

/** A record to write; the same shape as `PcapRecord`, with the lengths optional. */
export interface PcapWriteRecord {
  tsSec: number;
  tsNsec: number;
  data: Uint8Array;
  /** Bytes on the wire; default `data.length`. */
  origLen?: number;
  /** pcapng interface (default 0); ignored by the classic writer. */
  interfaceId?: number;
}

export interface PcapWriterOptions {
  /** ns timestamps (magic 0xa1b23c4d); default µs. */
  nanosecond?: boolean;
  /** Default 1 (Ethernet). */
  linktype?: number;
  /** Default 262144. */
  snaplen?: number;
  /** Default 'le'. */
  byteOrder?: ByteOrder;
}

/** Growable output buffer with byte-order-aware integer writes. */
class Out {
  buf = new Uint8Array(64 * 1024);
  len = 0;
  /** Bytes taken out by `take()` before the current buffer: file offset of buf[0]. */
  base = 0;
  constructor(readonly le: boolean) {}

  reserve(n: number): number {
    if (this.len + n > this.buf.length) {
      let cap = this.buf.length;
      while (cap < this.len + n) cap *= 2;
      const b = new Uint8Array(cap);
      b.set(this.buf.subarray(0, this.len));
      this.buf = b;
    }
    const at = this.len;
    this.len += n;
    return at;
  }

  u16(v: number): void {
    const o = this.reserve(2), b = this.buf;
    if (this.le) { b[o] = v; b[o + 1] = v >>> 8; } else { b[o] = v >>> 8; b[o + 1] = v; }
  }

  u32(v: number): void {
    this.u32At(this.reserve(4), v);
  }

  u32At(o: number, v: number): void {
    const b = this.buf;
    if (this.le) { b[o] = v; b[o + 1] = v >>> 8; b[o + 2] = v >>> 16; b[o + 3] = v >>> 24; }
    else { b[o] = v >>> 24; b[o + 1] = v >>> 16; b[o + 2] = v >>> 8; b[o + 3] = v; }
  }

  /** 'data' then zero padding to a multiple of 4 (when 'pad'). */
  bytes(data: Uint8Array, pad: boolean): void {
    const n = pad ? (data.length + 3) & ~3 : data.length;
    const o = this.reserve(n);
    this.buf.set(data, o);
    this.buf.fill(0, o + data.length, o + n);
  }

  /** File offset of the next byte written. */
  offset(): number {
    return this.base + this.len;
  }

  take(): Uint8Array {
    const out = this.buf.slice(0, this.len);
    this.base += this.len;
    this.len = 0;
    return out;
  }
}

/** Validate 'r' and return its captured and original lengths. */
function lengths(r: PcapWriteRecord, snaplen: number, at: number): [number, number] {
  if (!Number.isInteger(r.tsNsec) || r.tsNsec < 0 || r.tsNsec > 999_999_999) {
    throw new PcapError('PCAP_BAD_RECORD', at, `tsNsec ${r.tsNsec} is not an integer in 0..999999999`);
  }
  const limit = snaplen === 0 ? PCAP_MAX_CAPLEN : Math.min(snaplen, PCAP_MAX_CAPLEN);
  const capLen = Math.min(r.data.length, limit);
  const origLen = r.origLen ?? r.data.length;
  if (!Number.isInteger(origLen) || origLen < capLen || origLen > 0xffffffff) {
    throw new PcapError('PCAP_BAD_RECORD', at, `origLen ${origLen} is below the captured length ${capLen} or not a uint32`);
  }
  return [capLen, origLen];
}

/** Classic pcap writer. The file header is written at construction. */
export class PcapWriter {
  readonly nanosecond: boolean;
  readonly linktype: number;
  readonly snaplen: number;
  readonly byteOrder: ByteOrder;
  private readonly out: Out;

  constructor(opts: PcapWriterOptions = {}) {
    this.nanosecond = opts.nanosecond ?? false;
    this.linktype = opts.linktype ?? LINKTYPE_ETHERNET;
    this.snaplen = opts.snaplen ?? PCAP_MAX_CAPLEN;
    this.byteOrder = opts.byteOrder ?? 'le';
    this.out = new Out(this.byteOrder === 'le');
    const o = this.out;
    o.u32(this.nanosecond ? PCAP_MAGIC_NS : PCAP_MAGIC_US);
    o.u16(2);
    o.u16(4);
    o.u32(0); // thiszone
    o.u32(0); // sigfigs
    o.u32(this.snaplen);
    o.u32(this.linktype);
  }

  /** File offset of the next record. */
  get offset(): number {
    return this.out.offset();
  }

  /** Append one record. Throws `PcapError` (PCAP_BAD_RECORD) for out-of-range values. */
  write(r: PcapWriteRecord): void {
    const at = this.out.offset();
    if (!Number.isInteger(r.tsSec) || r.tsSec < 0 || r.tsSec > 0xffffffff) {
      throw new PcapError('PCAP_BAD_RECORD', at, `tsSec ${r.tsSec} does not fit a classic pcap record (uint32)`);
    }
    const [capLen, origLen] = lengths(r, this.snaplen, at);
    const o = this.out;
    o.u32(r.tsSec);
    o.u32(this.nanosecond ? r.tsNsec : Math.floor(r.tsNsec / 1000));
    o.u32(capLen);
    o.u32(origLen);
    o.bytes(capLen === r.data.length ? r.data : r.data.subarray(0, capLen), false);
  }

  /** The bytes written since the last `take()` (the first call includes the file header). */
  take(): Uint8Array {
    return this.out.take();
  }
}

export interface PcapngWriterOptions {
  /** Default 'le'. */
  byteOrder?: ByteOrder;
  /** shb_userappl; default 'sdnemu'. Empty string: no option. */
  application?: string;
}

export interface PcapngInterfaceOptions {
  /** Default 1 (Ethernet). */
  linktype?: number;
  /** Default 262144; 0 means no limit. */
  snaplen?: number;
  /** ns timestamps (if_tsresol 9); default µs (no option, the pcapng default). */
  nanosecond?: boolean;
  /** if_name, e.g. the port the capture was taken on. */
  name?: string;
}

interface WriterIface {
  snaplen: number;
  nanosecond: boolean;
}

/** pcapng writer: one section; interfaces, then packets on them. */
export class PcapngWriter {
  readonly byteOrder: ByteOrder;
  private readonly out: Out;
  private readonly ifaces: WriterIface[] = [];

  constructor(opts: PcapngWriterOptions = {}) {
    this.byteOrder = opts.byteOrder ?? 'le';
    this.out = new Out(this.byteOrder === 'le');
    const app = opts.application ?? 'sdnemu';
    const o = this.out;
    const start = this.blockStart(PCAPNG_SHB);
    o.u32(PCAPNG_BYTE_ORDER_MAGIC);
    o.u16(1);
    o.u16(0);
    o.u32(0xffffffff); // section length: unknown (-1)
    o.u32(0xffffffff);
    if (app !== '') {
      this.option(SHB_USERAPPL, new TextEncoder().encode(app));
      this.option(0, new Uint8Array(0));
    }
    this.blockEnd(start);
  }

  /** File offset of the next block. */
  get offset(): number {
    return this.out.offset();
  }

  /** Describe an interface; returns its id for `write`. */
  addInterface(opts: PcapngInterfaceOptions = {}): number {
    const snaplen = opts.snaplen ?? PCAP_MAX_CAPLEN;
    const nanosecond = opts.nanosecond ?? false;
    const o = this.out;
    const start = this.blockStart(PCAPNG_IDB);
    o.u16(opts.linktype ?? LINKTYPE_ETHERNET);
    o.u16(0);
    o.u32(snaplen);
    const name = opts.name ?? '';
    if (nanosecond || name !== '') {
      if (name !== '') this.option(IF_NAME, new TextEncoder().encode(name));
      if (nanosecond) this.option(IF_TSRESOL, Uint8Array.of(9));
      this.option(0, new Uint8Array(0));
    }
    this.blockEnd(start);
    this.ifaces.push({ snaplen, nanosecond });
    return this.ifaces.length - 1;
  }

  /** Append one Enhanced Packet Block on interface `r.interfaceId` (default 0). */
  write(r: PcapWriteRecord): void {
    const at = this.out.offset();
    const ifid = r.interfaceId ?? 0;
    const iface = this.ifaces[ifid];
    if (iface === undefined) {
      throw new PcapError('PCAP_NO_INTERFACE', at, `interface ${ifid} was not added (addInterface) before its packets`);
    }
    if (!Number.isInteger(r.tsSec) || r.tsSec < 0 || r.tsSec > Number.MAX_SAFE_INTEGER) {
      throw new PcapError('PCAP_BAD_RECORD', at, `tsSec ${r.tsSec} is not a non-negative integer`);
    }
    const [capLen, origLen] = lengths(r, iface.snaplen, at);
    // 64-bit timestamp in units of the interface, as (hi, lo) without precision loss
    const ts = BigInt(r.tsSec) * (iface.nanosecond ? 1_000_000_000n : 1_000_000n)
      + BigInt(iface.nanosecond ? r.tsNsec : Math.floor(r.tsNsec / 1000));
    if (ts > 0xffffffffffffffffn) throw new PcapError('PCAP_BAD_RECORD', at, `tsSec ${r.tsSec} overflows a 64-bit timestamp`);
    const o = this.out;
    const start = this.blockStart(PCAPNG_EPB);
    o.u32(ifid);
    o.u32(Number(ts >> 32n));
    o.u32(Number(ts & 0xffffffffn));
    o.u32(capLen);
    o.u32(origLen);
    o.bytes(capLen === r.data.length ? r.data : r.data.subarray(0, capLen), true);
    this.blockEnd(start);
  }

  /** The bytes written since the last `take()` (the first call includes the section header). */
  take(): Uint8Array {
    return this.out.take();
  }

  private blockStart(type: number): number {
    const start = this.out.len;
    this.out.u32(type);
    this.out.u32(0); // length, patched by blockEnd
    return start;
  }

  private blockEnd(start: number): void {
    const len = this.out.len - start + 4;
    this.out.u32(len);
    this.out.u32At(start + 4, len);
  }

  private option(code: number, value: Uint8Array): void {
    this.out.u16(code);
    this.out.u16(value.length);
    this.out.bytes(value, true);
  }
}

/** A whole classic pcap file holding 'records'. */
export function writePcap(records: Iterable<PcapWriteRecord>, opts: PcapWriterOptions = {}): Uint8Array {
  const w = new PcapWriter(opts);
  for (const r of records) w.write(r);
  return w.take();
}

/**
 * A whole pcapng file holding 'records'; one interface per entry of
 * 'interfaces' (default: one Ethernet interface with 'opts' resolution).
 */
export function writePcapng(records: Iterable<PcapWriteRecord>, opts: PcapngWriterOptions & { interfaces?: PcapngInterfaceOptions[] } = {}): Uint8Array {
  const w = new PcapngWriter(opts);
  for (const i of opts.interfaces ?? [{}]) w.addInterface(i);
  for (const r of records) w.write(r);
  return w.take();
}
