/**
 * The dissector driver as a whole: truncation of every sample at every
 * offset, arbitrary bytes, Ethernet padding/trailers against tshark.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { readPcap } from '../../src/pcap/index.js';
import { dissect } from '../../src/wire/dissect/index.js';
import { FrameBuilder } from '../../src/wire/builder.js';
import { summarize } from '../../src/wire/summary.js';
import { dissectionToJson } from '../../src/wire/encode.js';
import { X_WORDS, extractFields } from '../../src/wire/extract.js';
import { fieldValues } from '../../src/wire/dissect.js';
import { describeWith, scapy, tsharkFields, writeTempPcap } from '../oracle/tools.js';

const DIR = 'pcap-samples';
const SAMPLES = readdirSync(DIR).filter((f) => /\.pcap(ng)?$/.test(f)).sort();

/** Offset one past the last byte the dissector interpreted as a header or payload (not padding). */
function decodedEnd(frame: Uint8Array, linktype: number): number {
  const d = dissect(frame, { linktype });
  let end = 0;
  for (const l of d.layers) {
    if (l.proto === 'frame') continue;
    end = Math.max(end, l.offset + l.length);
    if (l.proto === 'data') end = Math.max(end, l.offset + Number(fieldValues(d, 'data.len').at(-1)));
  }
  return end;
}

describe('dissect: truncation of every sample at every offset', () => {
  for (const file of SAMPLES) {
    it(file, () => {
      const recs = [...readPcap(readFileSync(join(DIR, file)))];
      for (const [n, r] of recs.entries()) {
        const full = dissect(r.data, { linktype: r.linktype });
        expect(full.error).toBeNull();
        const end = decodedEnd(r.data, r.linktype);
        for (let cut = 0; cut < end; cut++) {
          const d = dissect(r.data.subarray(0, cut), { linktype: r.linktype });
          expect(d.error, `${file} #${n + 1} cut at ${cut}`).not.toBeNull();
          expect(d.error!.offset, `${file} #${n + 1} cut at ${cut}: ${d.error!.code} ${d.error!.field}`).toBe(cut);
          // what was decoded before the fault is kept: every complete layer before the cut
          for (const l of full.layers) {
            if (l.proto === 'frame' || l.offset + l.length > cut || l.proto === 'data') continue;
            expect(d.layers.some((x) => x.proto === l.proto && x.offset === l.offset), `${file} #${n + 1} cut ${cut} keeps ${l.proto}@${l.offset}`).toBe(true);
          }
        }
      }
    });
  }
});

describe('dissect on arbitrary bytes', () => {
  it('never throws; errors are WireErrors with an offset inside the frame', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      const d = dissect(b);
      if (d.error) {
        expect(d.error.offset).toBeGreaterThanOrEqual(0);
        expect(d.error.offset).toBeLessThanOrEqual(b.length);
      }
    }), { numRuns: 3000 });
  });

  it('never throws on mutated real frames (dissect, summary line, JSON, flow fields)', () => {
    const keys = new Uint32Array(X_WORDS);
    const frames = SAMPLES.flatMap((f) => [...readPcap(readFileSync(join(DIR, f)))].map((r) => r.data));
    fc.assert(fc.property(fc.nat(frames.length - 1), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), (k, muts) => {
      const b = frames[k]!.slice();
      for (const [pos, v] of muts) b[pos % b.length] = v;
      // every consumer of a dissection copes with whatever it decoded
      const d = dissect(b);
      if (d.error) expect(d.error.offset).toBeLessThanOrEqual(b.length);
      expect(summarize(d, b, 0, 0).split('\n')).toHaveLength(1);
      JSON.stringify(dissectionToJson(d));
      extractFields(b, 0, b.length, keys, 0);
    }), { numRuns: 3000 });
  });
});

describeWith('tshark', 'dissect: Ethernet padding, trailer and FCS as tshark reports them', () => {
  it('matches tshark field for field', () => {
    const hex = scapy(`
ps=[Ether()/IP(src='10.0.0.1',dst='10.0.0.2')/UDP(sport=5,dport=5000)/b'abc'/Padding(b'\\x01\\x02'*10),
Ether()/IP(src='10.0.0.1',dst='10.0.0.2')/UDP(sport=5,dport=5000)/b'abc'/Padding(b'\\x01\\x02'*2),
Ether()/IP(src='10.0.0.1',dst='10.0.0.2')/UDP(sport=5,dport=5000)/(b'a'*30)/Padding(b'\\x01\\x02\\x03'),
Ether()/IP(src='10.0.0.1',dst='10.0.0.2')/UDP(sport=5,dport=5000)/(b'a'*30)/Padding(b'\\x00'*5),
Ether()/ARP()/Padding(b'\\x00'*18),
Ether()/IP(src='10.0.0.1',dst='10.0.0.2')/UDP(sport=5,dport=5000)/b'abc'/Padding(b'\\x00'*10+b'\\x01\\x02'),
Ether()/IP(src='10.0.0.1',dst='10.0.0.2')/UDP(sport=5,dport=5000)/b'abc'/Padding(b'\\x00'*15+b'\\x07'*10),
Ether()/Dot1Q(vlan=3)/IP(src='10.0.0.1',dst='10.0.0.2')/UDP(sport=5,dport=5000)/b'abc'/Padding(b'\\x00'*11)]
for p in ps: print(bytes(p).hex())`);
    const frames = hex.trim().split('\n').map((h) => Uint8Array.from(Buffer.from(h, 'hex')));
    const { path, cleanup } = writeTempPcap(frames);
    try {
      const fields = ['eth.padding', 'eth.trailer', 'eth.fcs'];
      const ts = tsharkFields(path, fields);
      frames.forEach((f, i) => {
        const d = dissect(f);
        for (const name of fields) expect(fieldValues(d, name).join(','), `frame ${i + 1} ${name}`).toBe(ts[i]![name]);
      });
    } finally { cleanup(); }
  });
});

describe('dissect regressions', () => {
  it('an IPv6 frame cut one byte into an extension header ends (it once looped forever)', () => {
    const f = Uint8Array.from(Buffer.from('02000000000202000000000186dd6000000000300040fd000000000000000000000000000001fd0000000000000000000000000000022b', 'hex'));
    const d = dissect(f);
    expect([d.error?.code, d.error?.offset]).toEqual(['WIRE_TRUNCATED', 55]);
    expect(d.layers.map((l) => l.proto)).toEqual(['frame', 'eth', 'ipv6']);
  });
});

describe('dissect: link types and bounds', () => {
  const ipUdp = Uint8Array.from(Buffer.from('45000021000100004011f8c70a0000010a000002000109c4000d000068656c6c6f', 'hex'));

  it('raw IP (LINKTYPE_RAW 101) starts at the IP header', () => {
    const d = dissect(ipUdp, { linktype: 101 });
    expect(d.error).toBeNull();
    expect(d.layers.map((l) => l.proto)).toEqual(['frame', 'raw', 'ip', 'udp', 'data']);
    expect(fieldValues(d, 'frame.protocols')).toEqual(['raw:ip:udp:data']);
  });

  it('an unknown link type is data plus WIRE_UNSUPPORTED on frame.linktype', () => {
    const d = dissect(ipUdp, { linktype: 147 });
    expect([d.error?.code, d.error?.field, d.error?.offset]).toEqual(['WIRE_UNSUPPORTED', 'frame.linktype', 0]);
    expect(fieldValues(d, 'data.len')).toEqual([String(ipUdp.length)]);
  });

  it('more nested headers than the bound: shown as far as the bound, then a named error', () => {
    // VXLAN in VXLAN … 40 deep: each header is decoded, the bound stops the walk
    const fb = new FrameBuilder();
    for (let i = 0; i < 40; i++) fb.eth().ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).udp({ srcPort: 40000 }).vxlan({ vni: i });
    const frame = fb.eth().ipv4().udp({ srcPort: 1, dstPort: 40001 }).build();
    const d = dissect(frame);
    expect(d.error?.code).toBe('WIRE_UNSUPPORTED');
    expect(d.error?.field).toBe('frame.protocols');
    expect(d.layers.filter((l) => l.proto === 'vxlan').length).toBeGreaterThan(10);
    expect(d.layers.at(-1)!.proto).toBe('data');
  });
});

describeWith('tshark', 'dissect: IP-in-IP and 6in4 as tshark shows them', () => {
  it('matches tshark field for field', () => {
    const hex = scapy(`
ps=[Ether()/IP(src='192.168.7.1',dst='192.168.7.2')/IP(src='10.8.0.1',dst='10.8.0.2')/ICMP(id=5,seq=1),
Ether()/IP(src='192.168.7.1',dst='192.168.7.2')/IPv6(src='2001:db8::1',dst='2001:db8::2')/UDP(sport=1,dport=40000)/b'x',
Ether()/IPv6(src='2001:db8::a',dst='2001:db8::b')/IPv6(src='2001:db8::1',dst='2001:db8::2')/ICMPv6EchoRequest()]
for p in ps: print(bytes(p).hex())`);
    const frames = hex.trim().split('\n').map((h) => Uint8Array.from(Buffer.from(h, 'hex')));
    const { path, cleanup } = writeTempPcap(frames);
    try {
      const fields = ['frame.protocols', 'ip.src', 'ip.dst', 'ip.proto', 'ip.checksum.status', 'ipv6.src', 'ipv6.nxt', 'udp.checksum.status', 'icmp.type', 'icmpv6.checksum.status'];
      const ts = tsharkFields(path, fields);
      frames.forEach((f, i) => {
        const d = dissect(f);
        expect(d.error).toBeNull();
        for (const name of fields) {
          const mine = fieldValues(d, name).join(',');
          if (name === 'frame.protocols') expect(ts[i]![name]!.startsWith(mine.replace(/:data$/, '')), `frame ${i + 1}`).toBe(true);
          else expect(mine, `frame ${i + 1} ${name}`).toBe(ts[i]![name]);
        }
      });
    } finally { cleanup(); }
  });
});
