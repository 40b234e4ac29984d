/**
 * Wire benchmarks: flow-field extraction (the per-packet fast path), full
 * dissection (slow path) and the frame builder, for a minimum-size UDP frame
 * and a VXLAN-encapsulated TCP frame.
 * Each call processes a batch of BATCH frames, as the datapath will.
 */
import { X_WORDS, extractFields } from '../src/wire/extract.js';
import { fromHex } from '../src/wire/bytes.js';
import { dissect } from '../src/wire/dissect/index.js';
import { FrameBuilder } from '../src/wire/builder.js';
import { pushVxlan } from '../src/wire/vxlan.js';
import { runSuite, type BenchCase, type BenchResult } from './harness.js';

const BATCH = 32;

// /usr/bin/python3 -c "from scapy.all import *; print(bytes(Ether(src='02:00:00:00:00:01',dst='02:00:00:00:00:02')/IP(src='10.0.0.1',dst='10.0.0.2')/UDP(sport=1234,dport=5678)/(b'\x00'*18)).hex())"
const UDP64 = fromHex('02000000000202000000000108004500002e00010000401166bc0a0000010a00000204d2162e001ad0b7000000000000000000000000000000000000')!;
// /usr/bin/python3 -c "from scapy.all import *; print(bytes(Ether(src='02:00:00:00:00:01',dst='02:00:00:00:00:02')/IP(src='192.168.1.1',dst='192.168.1.2')/UDP(sport=50000,dport=4789)/VXLAN(vni=5001)/Ether(src='0a:00:00:00:00:01',dst='0a:00:00:00:00:02')/IP(src='10.0.0.1',dst='10.0.0.2')/TCP(sport=40000,dport=80,flags='PA')/(b'x'*32)).hex())"
const VXLAN_TCP = fromHex('02000000000202000000000108004500007a000100004011f71ec0a80101c0a80102c35012b5006608ec0c000003001389000a00000000020a000000000108004500004800010000400666ad0a0000010a0000029c400050000000000000000050182000579200007878787878787878787878787878787878787878787878787878787878787878')!;

/** BATCH distinct copies of 'frame' (source port varied) laid out in one buffer, as a receive ring would. */
function ring(frame: Uint8Array, portOff: number): { buf: Uint8Array; offs: Int32Array; len: number } {
  const stride = (frame.length + 63) & ~63;
  const buf = new Uint8Array(stride * BATCH);
  const offs = new Int32Array(BATCH);
  for (let i = 0; i < BATCH; i++) {
    buf.set(frame, i * stride);
    buf[i * stride + portOff + 1] = i;
    offs[i] = i * stride;
  }
  return { buf, offs, len: frame.length };
}

/**
 * Garbage collections while extracting 'n' VXLAN/TCP frames: zero means the
 * fast path allocates nothing per packet (a young-generation GC would follow
 * a few MB of allocation; 10M packets at even 8 bytes each is 80 MB).
 */
export async function gcDuringExtraction(n: number): Promise<number> {
  const { PerformanceObserver } = await import('node:perf_hooks');
  let gcs = 0;
  const obs = new PerformanceObserver((list) => { gcs += list.getEntries().length; });
  obs.observe({ entryTypes: ['gc'] });
  const r = ring(VXLAN_TCP, 84);
  const keys = new Uint32Array(BATCH * X_WORDS);
  // warm up first so compilation is not counted
  for (let i = 0; i < 100_000; i++) extractFields(r.buf, r.offs[i & 31]!, r.offs[i & 31]! + r.len, keys, (i & 31) * X_WORDS);
  await new Promise((res) => setTimeout(res, 50));
  gcs = 0;
  for (let i = 0; i < n; i++) extractFields(r.buf, r.offs[i & 31]!, r.offs[i & 31]! + r.len, keys, (i & 31) * X_WORDS);
  await new Promise((res) => setTimeout(res, 50));
  obs.disconnect();
  return gcs;
}

export function extractCases(): BenchCase[] {
  const keys = new Uint32Array(BATCH * X_WORDS);
  const mk = (name: string, frame: Uint8Array, portOff: number): BenchCase => {
    const r = ring(frame, portOff);
    return {
      name,
      batch: BATCH,
      fn: () => {
        let acc = 0;
        for (let i = 0; i < BATCH; i++) {
          const o = r.offs[i]!;
          acc += extractFields(r.buf, o, o + r.len, keys, i * X_WORDS);
        }
        return acc + keys[X_WORDS - 1]!;
      },
    };
  };
  return [
    mk('extract flow fields: UDP 60B', UDP64, 34),
    mk('extract flow fields: VXLAN/TCP 136B', VXLAN_TCP, 84),
  ];
}

/** Full dissection (slow path: every Wireshark field as text). */
export function dissectCases(): BenchCase[] {
  const mk = (name: string, frame: Uint8Array): BenchCase => ({
    name, batch: 1, fn: () => dissect(frame).layers.length,
  });
  return [mk('full dissect: UDP 60B', UDP64), mk('full dissect: VXLAN/TCP 136B', VXLAN_TCP)];
}

/** The builder laying a whole VXLAN/TCP frame, and a VXLAN push into headroom. */
export function builderCases(): BenchCase[] {
  const payload = new Uint8Array(32).fill(0x78);
  const { buf, off } = new FrameBuilder().eth().ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).tcp({ flags: 'PA' }).payload(payload).buildWithHeadroom(64);
  return [
    {
      name: 'builder emit: VXLAN/TCP 136B',
      batch: 1,
      fn: () => new FrameBuilder()
        .eth({ src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }).ipv4({ src: '192.168.1.1', dst: '192.168.1.2' })
        .udp({ srcPort: 50000 }).vxlan({ vni: 5001 })
        .eth({ src: '0a:00:00:00:00:01', dst: '0a:00:00:00:00:02' }).ipv4({ src: '10.0.0.1', dst: '10.0.0.2' })
        .tcp({ srcPort: 40000, dstPort: 80, flags: 'PA' }).payload(payload).build().length,
    },
    {
      name: 'pushVxlan into headroom',
      batch: BATCH,
      fn: () => {
        let acc = 0;
        for (let i = 0; i < BATCH; i++) acc += pushVxlan(buf, off, i);
        return acc;
      },
    },
  ];
}

export async function run(): Promise<BenchResult[]> {
  const results = runSuite('wire', [...extractCases(), ...dissectCases(), ...builderCases()]);
  const n = 10_000_000;
  const gcs = await gcDuringExtraction(n);
  console.log(`wire › GC events while extracting ${n} VXLAN/TCP frames: ${gcs}`);
  const vx = results.find((r) => r.name.startsWith('extract flow fields: VXLAN'));
  if (vx) vx.extra = { gcEventsPer10MPackets: gcs };
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
