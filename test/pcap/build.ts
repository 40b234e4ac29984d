/**
 * Hand-assembled capture files for the pcap tests: every header field written
 * explicitly from the format specifications (libpcap's savefile format,
 * draft-ietf-opsawg-pcapng), independent of src/pcap/writer.ts, so the reader
 * is never tested only against our own writer.
 */

export type Endian = 'le' | 'be';

export class Bytes {
  private parts: number[] = [];
  constructor(readonly endian: Endian) {}
  u8(v: number): this { this.parts.push(v & 0xff); return this; }
  u16(v: number): this {
    if (this.endian === 'le') this.parts.push(v & 0xff, (v >>> 8) & 0xff);
    else this.parts.push((v >>> 8) & 0xff, v & 0xff);
    return this;
  }
  u32(v: number): this {
    const b = [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
    this.parts.push(...(this.endian === 'le' ? b.reverse() : b));
    return this;
  }
  raw(b: Uint8Array | number[]): this { for (const x of b) this.parts.push(x); return this; }
  pad4(): this { while (this.parts.length % 4 !== 0) this.parts.push(0); return this; }
  get length(): number { return this.parts.length; }
  done(): Uint8Array { return Uint8Array.from(this.parts); }
}

export interface ClassicRec { sec: number; frac: number; data: Uint8Array; orig?: number; capLen?: number }

/** A classic pcap file: magic 'magic' written in 'endian' order. */
export function classicPcap(endian: Endian, records: ClassicRec[], opts: { magic?: number; snaplen?: number; linktype?: number } = {}): Uint8Array {
  const b = new Bytes(endian);
  b.u32(opts.magic ?? 0xa1b2c3d4).u16(2).u16(4).u32(0).u32(0).u32(opts.snaplen ?? 65535).u32(opts.linktype ?? 1);
  for (const r of records) {
    b.u32(r.sec).u32(r.frac).u32(r.capLen ?? r.data.length).u32(r.orig ?? r.data.length).raw(r.data);
  }
  return b.done();
}

/** One pcapng block of type 'type' with 'body' (padded), in 'endian' order. */
export function block(endian: Endian, type: number, body: Uint8Array, trailer?: number): Uint8Array {
  const padded = (body.length + 3) & ~3;
  const len = 12 + padded;
  const b = new Bytes(endian).u32(type).u32(len).raw(body).pad4().u32(trailer ?? len);
  return b.done();
}

export function options(endian: Endian, opts: [number, Uint8Array][]): Uint8Array {
  if (opts.length === 0) return new Uint8Array(0);
  const b = new Bytes(endian);
  for (const [code, v] of opts) b.u16(code).u16(v.length).raw(v).pad4();
  return b.u16(0).u16(0).done();
}

export function shb(endian: Endian, opts: [number, Uint8Array][] = []): Uint8Array {
  const body = new Bytes(endian).u32(0x1a2b3c4d).u16(1).u16(0).u32(0xffffffff).u32(0xffffffff).raw(options(endian, opts)).done();
  return block(endian, 0x0a0d0d0a, body);
}

export function idb(endian: Endian, linktype: number, snaplen: number, opts: [number, Uint8Array][] = []): Uint8Array {
  return block(endian, 1, new Bytes(endian).u16(linktype).u16(0).u32(snaplen).raw(options(endian, opts)).done());
}

/** Enhanced Packet Block; 'ts' is the 64-bit timestamp in interface units. */
export function epb(endian: Endian, ifid: number, ts: bigint, data: Uint8Array, orig?: number, capLen?: number): Uint8Array {
  const body = new Bytes(endian).u32(ifid).u32(Number(ts >> 32n)).u32(Number(ts & 0xffffffffn))
    .u32(capLen ?? data.length).u32(orig ?? data.length).raw(data).pad4().done();
  return block(endian, 6, body);
}

export function spb(endian: Endian, data: Uint8Array, orig?: number): Uint8Array {
  return block(endian, 3, new Bytes(endian).u32(orig ?? data.length).raw(data).pad4().done());
}

/** The obsolete Packet Block (16-bit interface id and drops count). */
export function pb(endian: Endian, ifid: number, ts: bigint, data: Uint8Array): Uint8Array {
  const body = new Bytes(endian).u16(ifid).u16(0).u32(Number(ts >> 32n)).u32(Number(ts & 0xffffffffn))
    .u32(data.length).u32(data.length).raw(data).pad4().done();
  return block(endian, 2, body);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** A frame of 'n' bytes whose content depends on 'seed'. */
export function frame(n: number, seed: number): Uint8Array {
  const f = new Uint8Array(n);
  let x = (seed * 2654435761) >>> 0;
  for (let i = 0; i < n; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; f[i] = x >>> 24; }
  return f;
}
