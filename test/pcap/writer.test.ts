import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PcapWriter, PcapngWriter, writePcap, writePcapng, type PcapWriteRecord } from '../../src/pcap/writer.js';
import { PcapReader, readPcap } from '../../src/pcap/reader.js';
import type { ByteOrder, PcapRecord } from '../../src/pcap/format.js';
import { PcapError } from '../../src/errors.js';
import { describeWith, scapy, tempDir } from '../oracle/tools.js';
import { frame } from './build.js';

const RECS: PcapWriteRecord[] = [
  { tsSec: 1700000000, tsNsec: 123456789, data: frame(60, 1) },
  { tsSec: 1700000000, tsNsec: 999999999, data: frame(1514, 2), origLen: 1514 },
  { tsSec: 1700000001, tsNsec: 0, data: frame(0, 3), origLen: 64 },
  { tsSec: 4294967295, tsNsec: 1000, data: frame(42, 4) },
];

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** What a reader should give back for 'r' written at µs or ns resolution. */
function expected(r: PcapWriteRecord, nanosecond: boolean, interfaceId = 0, linktype = 1): PcapRecord {
  return {
    interfaceId, linktype, tsSec: r.tsSec, tsNsec: nanosecond ? r.tsNsec : Math.floor(r.tsNsec / 1000) * 1000,
    capLen: r.data.length, origLen: r.origLen ?? r.data.length, data: r.data,
  };
}

function catchPcap(f: () => unknown): PcapError {
  try { f(); } catch (e) { if (e instanceof PcapError) return e; throw e; }
  throw new Error('expected a PcapError');
}

describe('PcapWriter', () => {
  it('writes the classic header and records field by field', () => {
    const w = new PcapWriter({ byteOrder: 'le', snaplen: 65535, linktype: 1 });
    w.write({ tsSec: 0x01020304, tsNsec: 5_000_999, data: Uint8Array.of(0xaa, 0xbb) });
    expect(hex(w.take())).toBe(
      'd4c3b2a1' + '0200' + '0400' + '00000000' + '00000000' + 'ffff0000' + '01000000' // file header
      + '04030201' + '88130000' + '02000000' + '02000000' + 'aabb', // 5000 µs: the ns part is truncated
    );
    const be = new PcapWriter({ byteOrder: 'be', nanosecond: true, linktype: 101, snaplen: 100 });
    be.write({ tsSec: 1, tsNsec: 5_000_999, data: Uint8Array.of(0xcc), origLen: 9 });
    expect(hex(be.take())).toBe('a1b23c4d' + '0002' + '0004' + '00000000' + '00000000' + '00000064' + '00000065'
      + '00000001' + '004c4f27' + '00000001' + '00000009' + 'cc');
    expect(hex(be.take())).toBe('');
  });

  for (const byteOrder of ['le', 'be'] as const) {
    for (const nanosecond of [false, true]) {
      it(`round-trips through the reader (${byteOrder}, ${nanosecond ? 'ns' : 'µs'})`, () => {
        const file = writePcap(RECS, { byteOrder, nanosecond });
        const r = new PcapReader();
        r.push(file);
        r.end();
        expect([...r.records()]).toEqual(RECS.map((x) => expected(x, nanosecond)));
        expect([r.byteOrder, r.nanosecond, r.interfaces[0]!.snaplen]).toEqual([byteOrder, nanosecond, 262144]);
      });
    }
  }

  it('cuts data to the snaplen and keeps the original length', () => {
    const [r] = [...readPcap(writePcap([{ tsSec: 1, tsNsec: 0, data: frame(100, 9) }], { snaplen: 64 }))];
    expect([r!.capLen, r!.origLen, hex(r!.data)]).toEqual([64, 100, hex(frame(100, 9).subarray(0, 64))]);
  });

  it('rejects records it cannot represent, at the output offset', () => {
    const w = new PcapWriter();
    w.write(RECS[0]!);
    const at = 24 + 16 + 60;
    for (const bad of [{ tsSec: -1, tsNsec: 0 }, { tsSec: 2 ** 32, tsNsec: 0 }, { tsSec: 1.5, tsNsec: 0 }, { tsSec: 1, tsNsec: 1e9 }, { tsSec: 1, tsNsec: -1 }]) {
      const e = catchPcap(() => w.write({ ...bad, data: frame(4, 0) }));
      expect([e.code, e.offset]).toEqual(['PCAP_BAD_RECORD', at]);
    }
    const e = catchPcap(() => w.write({ tsSec: 1, tsNsec: 0, data: frame(10, 0), origLen: 9 }));
    expect([e.code, e.offset]).toEqual(['PCAP_BAD_RECORD', at]);
    expect(w.offset).toBe(at);
  });

  it('property: the reader gives back what was written', () => {
    const rec = fc.record({
      tsSec: fc.integer({ min: 0, max: 0xffffffff }),
      tsNsec: fc.integer({ min: 0, max: 999_999_999 }),
      data: fc.uint8Array({ maxLength: 200 }),
      extra: fc.nat(100),
    }).map(({ extra, ...r }): PcapWriteRecord => ({ ...r, origLen: r.data.length + extra }));
    fc.assert(fc.property(fc.array(rec, { maxLength: 10 }), fc.boolean(), fc.constantFrom<ByteOrder>('le', 'be'), (recs, ns, order) => {
      expect([...readPcap(writePcap(recs, { nanosecond: ns, byteOrder: order }))]).toEqual(recs.map((r) => expected(r, ns)));
    }));
  });
});

describe('PcapngWriter', () => {
  it('writes a section header, interfaces and enhanced packet blocks', () => {
    const w = new PcapngWriter({ application: '' });
    w.addInterface({ linktype: 1, snaplen: 0 });
    w.write({ tsSec: 1, tsNsec: 2000, data: Uint8Array.of(0xaa) });
    expect(hex(w.take())).toBe(
      '0a0d0d0a' + '1c000000' + '4d3c2b1a' + '0100' + '0000' + 'ffffffffffffffff' + '1c000000' // SHB
      + '01000000' + '14000000' + '0100' + '0000' + '00000000' + '14000000' // IDB, µs by default
      + '06000000' + '24000000' + '00000000' + '00000000' + '42420f00' + '01000000' + '01000000' + 'aa000000' + '24000000', // EPB, ts 1000002 µs
    );
  });

  for (const byteOrder of ['le', 'be'] as const) {
    it(`round-trips several interfaces through the reader (${byteOrder})`, () => {
      const w = new PcapngWriter({ byteOrder });
      expect(w.addInterface({ name: 'p1' })).toBe(0);
      expect(w.addInterface({ nanosecond: true, linktype: 101, name: 'vxlan_sys_4789' })).toBe(1);
      RECS.forEach((r, i) => w.write({ ...r, interfaceId: i % 2 }));
      const reader = new PcapReader();
      reader.push(w.take());
      reader.end();
      expect([...reader.records()]).toEqual(RECS.map((r, i) => expected(r, i % 2 === 1, i % 2, i % 2 === 1 ? 101 : 1)));
      expect(reader.interfaces.map((i) => [i.name, i.linktype, i.unitsPerSec])).toEqual([['p1', 1, 1000000n], ['vxlan_sys_4789', 101, 1000000000n]]);
    });
  }

  it('rejects a packet on an interface never added, at the output offset', () => {
    const w = new PcapngWriter();
    const at = w.offset;
    const e = catchPcap(() => w.write({ ...RECS[0]!, interfaceId: 0 }));
    expect([e.code, e.offset]).toEqual(['PCAP_NO_INTERFACE', at]);
  });

  it('writes timestamps beyond 2^32 seconds exactly, and refuses ones beyond 64 bits', () => {
    const recs = [{ tsSec: 2 ** 34 + 7, tsNsec: 999_999_999, data: frame(1, 1) }];
    const [r] = [...readPcap(writePcapng(recs, { interfaces: [{ nanosecond: true }] }))];
    expect([r!.tsSec, r!.tsNsec]).toEqual([2 ** 34 + 7, 999_999_999]);
    const w = new PcapngWriter();
    w.addInterface({ nanosecond: true });
    const e = catchPcap(() => w.write({ tsSec: 2 ** 35, tsNsec: 0, data: frame(1, 1) }));
    expect(e.code).toBe('PCAP_BAD_RECORD');
  });
});

// ---- tshark and tcpdump read what we write ------------------------------------

interface Variant { name: string; file: () => Uint8Array; ns: boolean[]; ifids: number[] }

/** A frame with an Ethernet header of the local experimental EtherType 0x88b5, so tools print it as opaque data. */
function eth(n: number, seed: number): Uint8Array {
  const f = frame(n, seed);
  f[0] = 0x02; // unicast, locally administered
  f[12] = 0x88;
  f[13] = 0xb5;
  return f;
}

// tcpdump rejects an empty record ("caplen==0"), so every frame has at least its Ethernet header
const MIXED: PcapWriteRecord[] = [
  { tsSec: 1700000000, tsNsec: 123456789, data: eth(60, 1) },
  { tsSec: 1700000000, tsNsec: 999999999, data: eth(1514, 2) },
  { tsSec: 1700000001, tsNsec: 0, data: eth(14, 3), origLen: 64 },
];

const VARIANTS: Variant[] = [
  ...(['le', 'be'] as const).flatMap((byteOrder) => [false, true].map((nanosecond): Variant => ({
    name: `pcap-${byteOrder}-${nanosecond ? 'ns' : 'us'}`,
    file: () => writePcap(MIXED, { byteOrder, nanosecond }),
    ns: MIXED.map(() => nanosecond),
    ifids: MIXED.map(() => 0),
  }))),
  ...(['le', 'be'] as const).map((byteOrder): Variant => ({
    name: `pcapng-${byteOrder}`,
    file: () => writePcapng(MIXED.map((r, i) => ({ ...r, interfaceId: i % 2 })), { byteOrder, interfaces: [{ name: 'a' }, { nanosecond: true, name: 'b' }] }),
    ns: MIXED.map((_, i) => i % 2 === 1),
    ifids: MIXED.map((_, i) => i % 2),
  })),
];

function timeText(r: PcapWriteRecord, ns: boolean): string {
  const nsec = ns ? r.tsNsec : Math.floor(r.tsNsec / 1000) * 1000;
  return `${r.tsSec}.${String(nsec).padStart(9, '0')}`;
}

describeWith('tshark', 'tshark reads what PcapWriter and PcapngWriter write', () => {
  for (const v of VARIANTS) {
    it(v.name, () => {
      const { dir, cleanup } = tempDir();
      try {
        const path = join(dir, `${v.name}.${v.name.startsWith('pcapng') ? 'pcapng' : 'pcap'}`);
        writeFileSync(path, v.file());
        const out = execFileSync('tshark', ['-r', path, '-n', '-o', 'frame.generate_md5_hash:TRUE', '-T', 'fields', '-E', 'separator=/t',
          '-e', 'frame.time_epoch', '-e', 'frame.len', '-e', 'frame.cap_len', '-e', 'frame.interface_id', '-e', 'frame.md5_hash'],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
        const classic = v.name.startsWith('pcap-');
        expect(out.trim().split('\n')).toEqual(MIXED.map((r, i) => [
          timeText(r, v.ns[i]!), String(r.origLen ?? r.data.length), String(r.data.length), classic ? '' : String(v.ifids[i]),
          createHash('md5').update(r.data).digest('hex'),
        ].join('\t')));
      } finally {
        cleanup();
      }
    });
  }
});

describeWith('tcpdump', 'tcpdump reads what PcapWriter and PcapngWriter write', () => {
  for (const v of VARIANTS) {
    it(v.name, () => {
      const { dir, cleanup } = tempDir();
      try {
        const path = join(dir, 'out.cap');
        writeFileSync(path, v.file());
        const res = spawnSync('tcpdump', ['-r', path, '-nn', '-tt', '-e', '--time-stamp-precision=nano'], { encoding: 'utf8' });
        expect(res.status).toBe(0);
        expect(res.stderr).toMatch(/link-type EN10MB/);
        const lines = res.stdout.trim().split('\n').filter((l) => /^\d+\.\d{9} /.test(l)); // not the hex dump lines
        expect(lines.map((l) => l.split(' ')[0])).toEqual(MIXED.map((r, i) => timeText(r, v.ns[i]!)));
        // tcpdump -e prints the on-the-wire length of each frame
        expect(lines.map((l) => /length (\d+)/.exec(l)?.[1])).toEqual(MIXED.map((r) => String(r.origLen ?? r.data.length)));
      } finally {
        cleanup();
      }
    });
  }
});

describeWith('scapy', 'scapy reads what PcapWriter writes', () => {
  it('gives the same bytes and times', () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'w.pcap');
      writeFileSync(path, writePcap(MIXED, { nanosecond: true, byteOrder: 'be' }));
      const out = scapy(`for p in rdpcap(${JSON.stringify(path)}): print(p.time, bytes(p).hex())`).trim().split('\n');
      expect(out).toEqual(MIXED.map((r) => `${timeText(r, true)} ${hex(r.data)}`));
    } finally {
      cleanup();
    }
  });
});
