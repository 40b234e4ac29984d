import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  NO_OFFSET, X_DL_DST_HI, X_DL_DST_LO, X_DL_SRC_LO, X_DL_TYPE, X_ERR, X_ERR_OFF, X_IPV6_DST, X_IPV6_SRC, X_L2_OFF, X_L3_OFF, X_L4_OFF,
  X_NW_DST, X_NW_FRAG, X_NW_PROTO, X_NW_SRC, X_NW_TOS, X_NW_TTL, X_TCP_FLAGS, X_TP_DST, X_TP_SRC, X_TUN_DST, X_TUN_ID, X_TUN_PROTO,
  X_TUN_SRC, X_VLAN_TCI, X_WORDS, extractFields,
} from '../../src/wire/extract.js';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readPcap } from '../../src/pcap/index.js';
import { dissect } from '../../src/wire/dissect/index.js';
import { ipv4ToString } from '../../src/wire/bytes.js';
import { describeWith, scapyBytes } from '../oracle/tools.js';

function ex(b: Uint8Array): Uint32Array {
  const out = new Uint32Array(X_WORDS * 2).fill(0xdeadbeef);
  extractFields(b, 0, b.length, out, X_WORDS);
  expect(out[0]).toBe(0xdeadbeef); // nothing written outside its slot
  return out.subarray(X_WORDS);
}

describeWith('scapy', 'extractFields (frames from scapy)', () => {
  it('VXLAN-encapsulated TCP: tunnel metadata plus the inner packet', () => {
    const b = scapyBytes("Ether(src='02:00:00:00:00:01',dst='02:00:00:00:00:02')/IP(src='192.168.1.1',dst='192.168.1.2')/UDP(sport=50000,dport=4789)/VXLAN(vni=0xabcdef)/Ether(src='0a:00:00:00:00:01',dst='0a:00:00:00:00:02')/IP(src='10.0.0.1',dst='10.0.0.2',tos=0xb8,ttl=33)/TCP(sport=1234,dport=80,flags='SA')");
    const k = ex(b);
    expect(k[X_ERR]).toBe(0);
    expect(k[X_TUN_PROTO]).toBe(1);
    expect(k[X_TUN_ID]).toBe(0xabcdef);
    expect(k[X_TUN_SRC]).toBe(0xc0a80101);
    expect(k[X_TUN_DST]).toBe(0xc0a80102);
    expect(k[X_L2_OFF]).toBe(50);
    expect(k[X_L3_OFF]).toBe(64);
    expect(k[X_L4_OFF]).toBe(84);
    expect(k[X_DL_DST_HI]).toBe(0x0a00);
    expect(k[X_DL_DST_LO]).toBe(0x00000002);
    expect(k[X_DL_SRC_LO]).toBe(0x00000001);
    expect(k[X_DL_TYPE]).toBe(0x0800);
    expect(k[X_NW_SRC]).toBe(0x0a000001);
    expect(k[X_NW_DST]).toBe(0x0a000002);
    expect(k[X_NW_PROTO]).toBe(6);
    expect(k[X_NW_TOS]).toBe(0xb8);
    expect(k[X_NW_TTL]).toBe(33);
    expect(k[X_TP_SRC]).toBe(1234);
    expect(k[X_TP_DST]).toBe(80);
    expect(k[X_TCP_FLAGS]).toBe(0x12);
  });

  it('802.1Q and QinQ keep the outer TCI with CFI set', () => {
    const k = ex(scapyBytes("Ether()/Dot1AD(vlan=100,prio=5)/Dot1Q(vlan=10)/IP(src='1.2.3.4',dst='5.6.7.8')/UDP(sport=1,dport=2)"));
    expect(k[X_VLAN_TCI]).toBe((5 << 13) | 0x1000 | 100);
    expect(k[X_DL_TYPE]).toBe(0x0800);
    expect(k[X_L3_OFF]).toBe(22);
    expect(k[X_TP_DST]).toBe(2);
  });

  it('IPv6 through extension headers to ICMPv6', () => {
    const k = ex(scapyBytes("Ether()/IPv6(src='2001:db8::1',dst='2001:db8::2',hlim=7)/IPv6ExtHdrHopByHop()/IPv6ExtHdrDestOpt()/ICMPv6EchoRequest()"));
    expect(k[X_ERR]).toBe(0);
    expect(k[X_DL_TYPE]).toBe(0x86dd);
    expect([k[X_IPV6_SRC], k[X_IPV6_SRC + 3]]).toEqual([0x20010db8, 1]);
    expect([k[X_IPV6_DST], k[X_IPV6_DST + 3]]).toEqual([0x20010db8, 2]);
    expect(k[X_NW_TTL]).toBe(7);
    expect(k[X_NW_PROTO]).toBe(58);
    expect(k[X_TP_SRC]).toBe(128);
    expect(k[X_L4_OFF]).toBe(14 + 40 + 8 + 8);
  });

  it('ARP puts SPA/TPA in nw_src/nw_dst and the opcode in nw_proto', () => {
    const k = ex(scapyBytes("Ether()/ARP(op=2,psrc='10.1.1.1',pdst='10.1.1.2')"));
    expect([k[X_DL_TYPE], k[X_NW_PROTO], k[X_NW_SRC], k[X_NW_DST]]).toEqual([0x0806, 2, 0x0a010101, 0x0a010102]);
  });

  it('IPv4 fragments: first has nw_frag=first and ports, later has no L4', () => {
    const first = ex(scapyBytes("Ether()/IP(src='1.1.1.1',dst='2.2.2.2',flags='MF',frag=0)/UDP(sport=7,dport=9)/(b'x'*16)"));
    expect([first[X_NW_FRAG], first[X_TP_DST]]).toEqual([1, 9]);
    const later = ex(scapyBytes("Ether()/IP(src='1.1.1.1',dst='2.2.2.2',proto=17,frag=3)/(b'x'*16)"));
    expect([later[X_NW_FRAG], later[X_TP_DST], later[X_L4_OFF]]).toEqual([3, 0, NO_OFFSET]);
  });

  it('truncation at every offset stops with an error at or before the cut', () => {
    const b = scapyBytes("Ether()/IP(src='192.168.1.1',dst='192.168.1.2')/UDP(sport=50000,dport=4789)/VXLAN(vni=7)/Ether()/IP()/TCP()");
    for (let cut = 0; cut < b.length; cut++) {
      const out = new Uint32Array(X_WORDS);
      const err = extractFields(b, 0, cut, out, 0);
      expect(err, `cut ${cut}`).not.toBe(0);
      expect(out[X_ERR_OFF]!).toBeLessThanOrEqual(cut);
    }
  });
});

describe('extractFields on arbitrary bytes', () => {
  it('never throws and never writes outside its slot', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
      const out = new Uint32Array(X_WORDS * 3).fill(7);
      extractFields(b, 0, b.length, out, X_WORDS);
      for (let i = 0; i < X_WORDS; i++) { expect(out[i]).toBe(7); expect(out[2 * X_WORDS + i]).toBe(7); }
    }), { numRuns: 2000 });
  });
});

describe('extractFields agrees with the dissector on every frame of every sample', () => {
  const files = readdirSync('pcap-samples').filter((f) => /\.pcap(ng)?$/.test(f)).sort();
  for (const file of files) {
    it(file, () => {
      for (const r of readPcap(readFileSync(join('pcap-samples', file)))) {
        if (r.linktype !== 1) continue; // the flow key is extracted from Ethernet frames
        // the frame as a subarray of a larger buffer: offsets stay relative to the frame
        const big = new Uint8Array(r.data.length + 100);
        big.set(r.data, 37);
        const k = ex(big.subarray(37, 37 + r.data.length));
        const d = dissect(r.data);
        expect(k[X_ERR], file).toBe(0);
        const ls = d.layers;
        const tun = ls.findIndex((l) => (l.proto === 'vxlan' || l.proto === 'geneve') && ls[ls.indexOf(l) + 1]?.proto === 'eth');
        const from = tun >= 0 ? tun : 0;
        const l3 = ls.findIndex((l, i) => i > from && ['ip', 'ipv6', 'arp'].includes(l.proto));
        const l4 = ls.findIndex((l, i) => i > l3 && ['tcp', 'udp', 'icmp', 'icmpv6'].includes(l.proto));
        const f = (l: number, name: string): string | undefined => ls[l]?.fields.find(([n]) => n === name)?.[1];
        if (tun >= 0) expect(k[X_TUN_ID]).toBe(ls[tun]!.proto === 'vxlan' ? Number(f(tun, 'vxlan.vni')) : parseInt(f(tun, 'geneve.vni')!, 16));
        else expect(k[X_TUN_PROTO]).toBe(0);
        expect(k[X_L3_OFF]).toBe(l3 >= 0 ? ls[l3]!.offset : NO_OFFSET);
        if (l3 >= 0 && ls[l3]!.proto === 'ip') {
          expect(ipv4ToString(k[X_NW_SRC]!)).toBe(f(l3, 'ip.src'));
          expect(k[X_NW_TTL]).toBe(Number(f(l3, 'ip.ttl')));
          expect(k[X_NW_PROTO]).toBe(Number(f(l3, 'ip.proto')));
        }
        const isLater = l3 >= 0 && ((ls[l3]!.proto === 'ip' && f(l3, 'ip.frag_offset') !== '0') || ls.some((l) => l.proto === 'ipv6.fraghdr' && l.fields.some(([n, v]) => n === 'ipv6.fraghdr.offset' && v !== '0')));
        if (isLater) { expect(k[X_L4_OFF]).toBe(NO_OFFSET); continue; }
        expect(k[X_L4_OFF], file).toBe(l4 >= 0 ? ls[l4]!.offset : NO_OFFSET);
        if (l4 >= 0 && (ls[l4]!.proto === 'tcp' || ls[l4]!.proto === 'udp')) {
          const p = ls[l4]!.proto;
          expect([k[X_TP_SRC], k[X_TP_DST]]).toEqual([Number(f(l4, `${p}.srcport`)), Number(f(l4, `${p}.dstport`))]);
          if (p === 'tcp') expect(k[X_TCP_FLAGS]).toBe(parseInt(f(l4, 'tcp.flags')!, 16));
        }
        if (l4 >= 0 && (ls[l4]!.proto === 'icmp' || ls[l4]!.proto === 'icmpv6')) {
          expect(k[X_TP_SRC]).toBe(Number(f(l4, `${ls[l4]!.proto}.type`)));
        }
      }
    });
  }
});
