/**
 * The reader against files written by real tools (scapy, editcap, mergecap,
 * and Python's struct for the big-endian files no tool writes), each compared
 * record by record with what tshark reads from the same file.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readPcapFile } from '../../src/pcap/file.js';
import { PcapReader, readPcap } from '../../src/pcap/reader.js';
import type { PcapRecord } from '../../src/pcap/format.js';
import { PcapError } from '../../src/errors.js';
import { describeWith, scapy, tempDir, tools } from '../oracle/tools.js';

// Files made in beforeAll; the command for each is next to it.
const GENERATE = String.raw`
import struct
from decimal import Decimal
out = OUT
def t(s): return Decimal(s)
pkts = []
sizes = [0, 1, 18, 100, 513, 1400, 7, 64, 3, 1000]
for i, n in enumerate(sizes):
    p = Ether(src='02:00:00:00:00:01', dst='02:00:00:00:00:02')/IP(src='10.0.0.1', dst='10.0.0.%d' % (i + 2))/UDP(sport=1000 + i, dport=53)/(bytes([i]) * n)
    p.time = t('1700000000.000000001') + i * t('1.123456789')
    pkts.append(p)
v6 = Ether()/IPv6(src='2001:db8::1', dst='2001:db8::2')/TCP(sport=1, dport=2, flags='S')
v6.time = t('1700000020.999999999')
arp = Ether(dst='ff:ff:ff:ff:ff:ff')/ARP(psrc='10.0.0.1', pdst='10.0.0.2')
arp.time = t('1700000021.5')
pkts += [v6, arp]
wrpcap(out + '/us.pcap', pkts)               # scapy: classic, little-endian, µs
wrpcap(out + '/ns.pcap', pkts, nano=True)    # scapy: classic, little-endian, ns
raw = []
for i in range(4):
    q = IP(src='192.168.0.1', dst='192.168.0.%d' % (i + 2))/ICMP(seq=i)/(b'r' * (10 * i))
    q.time = t('1700000000.5') + i * 3
    raw.append(q)
wrpcap(out + '/raw.pcap', raw, linktype=101) # scapy: classic, LINKTYPE_RAW

def split(p, units):
    tt = Decimal(p.time); s = int(tt); return s, int((tt - s) * units)
def be_pcap(path, ps, nano):                 # no tool writes big-endian pcap: struct '>'
    with open(path, 'wb') as f:
        f.write(struct.pack('>IHHiIII', 0xa1b23c4d if nano else 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for p in ps:
            b = bytes(p); s, frac = split(p, 10**9 if nano else 10**6)
            f.write(struct.pack('>IIII', s, frac, len(b), len(b)) + b)
be_pcap(out + '/be_us.pcap', pkts, False)
be_pcap(out + '/be_ns.pcap', pkts, True)

# a big-endian pcapng section (draft-ietf-opsawg-pcapng), by hand
E = '>'
def pad4(b): return b + b'\0' * ((-len(b)) % 4)
def opts(lst):
    if not lst: return b''
    return b''.join(struct.pack(E + 'HH', c, len(v)) + pad4(v) for c, v in lst) + struct.pack(E + 'HH', 0, 0)
def blk(ty, body):
    body = pad4(body); n = 12 + len(body)
    return struct.pack(E + 'II', ty, n) + body + struct.pack(E + 'I', n)
def epb(ifid, ts, b, orig=None):
    return blk(6, struct.pack(E + 'IIIII', ifid, ts >> 32, ts & 0xffffffff, len(b), len(b) if orig is None else orig) + pad4(b))
ng = blk(0x0A0D0D0A, struct.pack(E + 'IHHq', 0x1A2B3C4D, 1, 0, -1) + opts([(4, b'hand')]))
ng += blk(1, struct.pack(E + 'HHI', 1, 0, 0) + opts([(2, b'be0'), (9, bytes([9]))]))
ng += blk(1, struct.pack(E + 'HHI', 101, 0, 0) + opts([(9, bytes([0x80 | 20]))]))
ng += blk(1, struct.pack(E + 'HHI', 1, 0, 0))
ng += epb(0, 1700000000123456789, bytes(pkts[3]))
ng += epb(1, (1700000000 << 20) + 12345, bytes(raw[1]))
ng += blk(5, struct.pack(E + 'III', 0, 0, 0))                                  # interface statistics: skipped
ng += epb(2, 1700000000654321, bytes(pkts[5])[:64], len(bytes(pkts[5])))      # cut to 64 bytes
ng += blk(3, struct.pack(E + 'I', len(bytes(pkts[0]))) + pad4(bytes(pkts[0]))) # simple packet block
ng += blk(2, struct.pack(E + 'HHIIII', 2, 0, 1700000000 >> 32, 0, 0, 0) + b'')   # obsolete packet block, empty
ng += blk(0xBAD, b'unknown block')
open(out + '/be_section.pcapng', 'wb').write(ng)
`;

let dir = '';
let cleanup = (): void => {};

interface TsharkRec { time: string; len: string; capLen: string; ifid: string; md5: string }

/**
 * tshark's frames for 'path'. Unknown pcapng blocks come out of wiretap as
 * records without an interface or a time (tshark 4.0 counts them as frames);
 * they are not packets, so they are dropped here.
 */
function tsharkRecords(path: string): TsharkRec[] {
  const out = execFileSync('tshark', ['-r', path, '-n', '-o', 'frame.generate_md5_hash:TRUE', '-T', 'fields', '-E', 'separator=/t',
    '-e', 'frame.time_epoch', '-e', 'frame.len', '-e', 'frame.cap_len', '-e', 'frame.interface_id', '-e', 'frame.md5_hash'],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 });
  return out.split('\n').filter((l) => l !== '').map((l) => {
    const [time = '', len = '', capLen = '', ifid = '', md5 = ''] = l.split('\t');
    return { time: normalise(time), len, capLen, ifid, md5 };
  }).filter((r) => !(r.time === '' && r.ifid === '' && path.endsWith('.pcapng')));
}

/**
 * tshark prints a classic record's µs/ns field as it is, even when it is a
 * whole second or more: scapy writes 1700000020.999999999 as 1700000021 s +
 * 1000000 µs, which tshark shows as "1700000021.1000000000". The reader
 * carries it into the seconds; compare on that normal form.
 */
function normalise(time: string): string {
  const m = /^(\d+)\.(\d+)$/.exec(time);
  if (!m || m[2]!.length <= 9) return time;
  const frac = BigInt(m[2]!);
  return `${BigInt(m[1]!) + frac / 1_000_000_000n}.${String(frac % 1_000_000_000n).padStart(9, '0')}`;
}

/** 'r' as tshark prints it; 'classic' files have no interface id in tshark. */
function asTshark(r: PcapRecord, classic: boolean): TsharkRec {
  return {
    time: `${r.tsSec}.${String(r.tsNsec).padStart(9, '0')}`,
    len: String(r.origLen),
    capLen: String(r.capLen),
    ifid: classic ? '' : String(r.interfaceId),
    md5: createHash('md5').update(r.data).digest('hex'),
  };
}

async function ours(path: string, chunkSize: number): Promise<PcapRecord[]> {
  const recs: PcapRecord[] = [];
  for await (const r of readPcapFile(path, { chunkSize })) recs.push(r);
  return recs;
}

function run(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

describeWith('scapy', 'pcap files written by real tools', () => {
  beforeAll(() => {
    ({ dir, cleanup } = tempDir('sdnemu-pcap-'));
    scapy(`OUT = ${JSON.stringify(dir)}\n${GENERATE}`);
    if (!tools.tshark) return; // the tshark suites below fail loudly in CI
    run('editcap', ['-F', 'pcap', join(dir, 'ns.pcap'), join(dir, 'ed_us.pcap')]);
    run('editcap', ['-F', 'nsecpcap', join(dir, 'us.pcap'), join(dir, 'ed_ns.pcap')]);
    run('editcap', ['-F', 'pcapng', join(dir, 'ns.pcap'), join(dir, 'ed_ns.pcapng')]);
    run('editcap', ['-F', 'pcapng', join(dir, 'us.pcap'), join(dir, 'ed_us.pcapng')]);
    run('editcap', ['-F', 'pcap', '-s', '64', join(dir, 'ns.pcap'), join(dir, 'snap64.pcap')]);
    run('mergecap', ['-F', 'pcapng', '-w', join(dir, 'merged.pcapng'), join(dir, 'ns.pcap'), join(dir, 'raw.pcap')]);
    run('editcap', ['-F', 'pcap', '-r', join(dir, 'us.pcap'), join(dir, 'small.pcap'), '1-3']);
    run('editcap', ['-F', 'pcapng', '-r', join(dir, 'ns.pcap'), join(dir, 'small.pcapng'), '1-3']);
    // several sections, little- and big-endian: concatenated pcapng files are one valid file
    writeFileSync(join(dir, 'multi.pcapng'), Buffer.concat(['ed_ns.pcapng', 'be_section.pcapng', 'merged.pcapng', 'be_section.pcapng']
      .map((f) => readFileSync(join(dir, f)))));
  });
  afterAll(() => cleanup());

  it('the files are what they claim to be', () => {
    const magic = (f: string): string => readFileSync(join(dir, f)).subarray(0, 4).toString('hex');
    expect(magic('us.pcap')).toBe('d4c3b2a1');
    expect(magic('ns.pcap')).toBe('4d3cb2a1');
    expect(magic('be_us.pcap')).toBe('a1b2c3d4');
    expect(magic('be_ns.pcap')).toBe('a1b23c4d');
    expect(readFileSync(join(dir, 'be_section.pcapng')).subarray(8, 12).toString('hex')).toBe('1a2b3c4d');
  });

  describeWith('tshark', 'reads them as tshark does', () => {
    const files = ['us.pcap', 'ns.pcap', 'raw.pcap', 'be_us.pcap', 'be_ns.pcap', 'ed_us.pcap', 'ed_ns.pcap', 'ed_ns.pcapng',
      'ed_us.pcapng', 'snap64.pcap', 'merged.pcapng', 'be_section.pcapng', 'multi.pcapng'];
    for (const f of files) {
      it(f, async () => {
        const path = join(dir, f);
        const want = tsharkRecords(path);
        expect(want.length).toBeGreaterThan(0);
        // a small chunk size, so records straddle chunks all the time
        for (const chunk of [97, 1 << 20]) {
          const got = await ours(path, chunk);
          expect(got.length).toBe(want.length);
          got.forEach((r, i) => {
            const w = want[i]!;
            if (w.time === '') {
              // a Simple Packet Block has no timestamp: tshark prints none, we give 0
              expect([r.tsSec, r.tsNsec]).toEqual([0, 0]);
              expect({ ...asTshark(r, false), time: '' }).toEqual(w);
            } else {
              expect([f, i, asTshark(r, f.endsWith('.pcap'))]).toEqual([f, i, w]);
            }
          });
        }
      });
    }

    it('sees the linktypes and interfaces mergecap wrote', async () => {
      const got = await ours(join(dir, 'merged.pcapng'), 4096);
      expect(new Set(got.map((r) => `${r.interfaceId}:${r.linktype}`))).toEqual(new Set(['0:1', '1:101']));
      const r = new PcapReader();
      r.push(readFileSync(join(dir, 'ed_ns.pcapng')));
      expect(r.interfaces.map((i) => [i.linktype, i.unitsPerSec])).toEqual([[1, 1000000000n]]);
    });
  });

  describeWith('tshark', 'truncated at every offset', () => {
    for (const f of ['small.pcap', 'small.pcapng']) {
      it(f, () => {
        const file = new Uint8Array(readFileSync(join(dir, f)));
        const whole = [...readPcap(file)];
        expect(whole.length).toBe(3);
        // record/block boundaries, walked independently of the reader
        const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
        const starts: number[] = [];
        const packetEnds: number[] = [];
        if (f.endsWith('.pcap')) {
          for (let o = 24; o < file.length; o += 16 + dv.getUint32(o + 8, true)) { starts.push(o); packetEnds.push(o + 16 + dv.getUint32(o + 8, true)); }
          starts.unshift(0);
        } else {
          for (let o = 0; o < file.length; o += dv.getUint32(o + 4, true)) {
            starts.push(o);
            if (dv.getUint32(o, true) === 6) packetEnds.push(o + dv.getUint32(o + 4, true));
          }
        }
        const ends = new Set([...starts.slice(1), file.length]);
        for (let cut = 0; cut < file.length; cut++) {
          const seen: PcapRecord[] = [];
          let err: unknown = null;
          try { for (const r of readPcap(file.subarray(0, cut))) seen.push(r); } catch (e) { err = e; }
          expect(seen.length).toBe(packetEnds.filter((e) => e <= cut).length);
          seen.forEach((r, i) => expect(r).toEqual(whole[i]));
          if (ends.has(cut) && cut > 0) {
            expect(err).toBeNull();
          } else {
            expect(err).toBeInstanceOf(PcapError);
            expect([cut, (err as PcapError).code, (err as PcapError).offset]).toEqual([cut, 'PCAP_TRUNCATED', starts.filter((s) => s <= cut).at(-1)]);
          }
        }
      });
    }
  });
});
