import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as K from '../../src/flow/key.js';
import {
  F_ARP_SHA_HI, F_ARP_SHA_LO, F_ARP_THA_HI, F_ARP_THA_LO, F_DL_DST_HI, F_DL_DST_LO, F_DL_SRC_LO, F_DL_TYPE, F_IN_PORT,
  F_IPV6_DST, F_IPV6_LABEL, F_IPV6_SRC, F_NW_DST, F_NW_ECN, F_NW_FRAG, F_NW_PROTO, F_NW_SRC, F_NW_TOS, F_NW_TTL,
  F_RECIRC_ID, F_REG0, F_TCP_FLAGS, F_TP_DST, F_TP_SRC, F_TUN_DST, F_TUN_FLAGS, F_TUN_ID_HI, F_TUN_ID_LO, F_TUN_SRC,
  F_VLAN_TCI, FLOW_WORDS, flowFromFrame,
} from '../../src/flow/key.js';
import { matches, parseMatch } from '../../src/flow/match.js';
import { describeWith, scapyBytes } from '../oracle/tools.js';

describe('flow key layout', () => {
  it('pins every word index (bump FLOW_LAYOUT_VERSION when this changes, like FLOW_WC_SEQ)', () => {
    const layout = Object.fromEntries(Object.entries(K).filter(([n, v]) => typeof v === 'number' && (n.startsWith('F_') || n.startsWith('SEG_') || n === 'FLOW_WORDS' || n === 'FLOW_LAYOUT_VERSION')));
    expect(layout).toEqual({
      FLOW_LAYOUT_VERSION: 3,
      F_IN_PORT: 0, F_RECIRC_ID: 1, F_PACKET_TYPE: 2, F_REG0: 3, F_METADATA_HI: 19, F_METADATA_LO: 20,
      F_TUN_ID_HI: 21, F_TUN_ID_LO: 22, F_TUN_SRC: 23, F_TUN_DST: 24, F_TUN_FLAGS: 25,
      F_CT_STATE: 26, F_CT_ZONE: 27, F_CT_MARK: 28, F_DP_HASH: 29,
      F_DL_DST_HI: 30, F_DL_DST_LO: 31, F_DL_SRC_HI: 32, F_DL_SRC_LO: 33, F_DL_TYPE: 34, F_VLAN_TCI: 35,
      F_NW_SRC: 36, F_NW_DST: 37, F_IPV6_SRC: 38, F_IPV6_DST: 42, F_IPV6_LABEL: 46, F_NW_PROTO: 47,
      F_NW_TOS: 48, F_NW_ECN: 49, F_NW_TTL: 50, F_NW_FRAG: 51,
      F_ARP_SHA_HI: 52, F_ARP_SHA_LO: 53, F_ARP_THA_HI: 54, F_ARP_THA_LO: 55,
      F_ND_TARGET: 56, F_TP_SRC: 60, F_TP_DST: 61, F_TCP_FLAGS: 62, FLOW_WORDS: 63,
      SEG_METADATA_START: 0, SEG_L2_START: 30, SEG_L3_START: 36, SEG_L4_START: 60, SEG_END: 63,
    });
    expect(K.SEGMENT_ENDS).toEqual([30, 36, 60, 63]);
  });

  it('segments are ordered metadata → L2 → L3 → L4 and cover the key', () => {
    expect(K.SEG_METADATA_START).toBe(0);
    expect(K.SEG_L2_START < K.SEG_L3_START && K.SEG_L3_START < K.SEG_L4_START && K.SEG_L4_START < K.SEG_END).toBe(true);
    expect(K.F_DP_HASH).toBe(K.SEG_L2_START - 1);
    expect(K.F_VLAN_TCI).toBe(K.SEG_L3_START - 1);
    expect(K.F_ND_TARGET + 3).toBe(K.SEG_L4_START - 1);
    expect(K.F_TCP_FLAGS).toBe(K.SEG_END - 1);
  });
});

/** Key at a nonzero base in a 0xa5-filled batch, checking nothing is written outside it. */
function key(b: Uint8Array, inPort = 7): Uint32Array {
  const batch = new Uint32Array(FLOW_WORDS * 3).fill(0xa5a5a5a5);
  const err = flowFromFrame(b, 0, b.length, inPort, batch, FLOW_WORDS);
  expect(err).toBe(0);
  expect(batch[FLOW_WORDS - 1]).toBe(0xa5a5a5a5);
  expect(batch[2 * FLOW_WORDS]).toBe(0xa5a5a5a5);
  return batch.subarray(FLOW_WORDS, 2 * FLOW_WORDS);
}

describeWith('scapy', 'flowFromFrame (frames from scapy)', () => {
  it('TCP over 802.1Q: every word in place, metadata zeroed', () => {
    const k = key(scapyBytes("Ether(src='00:00:00:00:00:01',dst='aa:bb:cc:dd:ee:ff')/Dot1Q(vlan=10,prio=3)/IP(src='10.0.0.1',dst='10.0.0.2',tos=0xb9,ttl=33)/TCP(sport=1234,dport=80,flags='SA')"));
    expect(k[F_IN_PORT]).toBe(7);
    expect(k[F_RECIRC_ID]).toBe(0);
    for (let r = 0; r < 16; r++) expect(k[F_REG0 + r]).toBe(0);
    expect([k[F_DL_DST_HI], k[F_DL_DST_LO], k[F_DL_SRC_LO]]).toEqual([0xaabb, 0xccddeeff, 1]);
    expect(k[F_DL_TYPE]).toBe(0x0800);
    expect(k[F_VLAN_TCI]).toBe(0x1000 | (3 << 13) | 10);
    expect([k[F_NW_SRC], k[F_NW_DST]]).toEqual([0x0a000001, 0x0a000002]);
    expect([k[F_NW_PROTO], k[F_NW_TOS], k[F_NW_ECN], k[F_NW_TTL], k[F_NW_FRAG]]).toEqual([6, 0xb8, 1, 33, 0]);
    expect([k[F_TP_SRC], k[F_TP_DST], k[F_TCP_FLAGS]]).toEqual([1234, 80, 0x12]);
    expect([k[F_TUN_ID_HI], k[F_TUN_ID_LO], k[F_TUN_SRC], k[F_TUN_DST], k[F_TUN_FLAGS]]).toEqual([0, 0, 0, 0, 0]);
    expect(matches(parseMatch('tcp,dl_vlan=10,dl_vlan_pcp=3,nw_src=10.0.0.0/24,nw_tos=184,nw_ecn=1,tp_dst=80,tcp_flags=+syn+ack'), k, 0)).toBe(true);
    expect(matches(parseMatch('tcp,tp_dst=81'), k, 0)).toBe(false);
  });

  it('VXLAN: tunnel words from the outer header, the rest from the inner frame', () => {
    const k = key(scapyBytes("Ether()/IP(src='192.168.1.1',dst='192.168.1.2')/UDP(sport=50000,dport=4789)/VXLAN(vni=0xabcdef)/Ether(src='0a:00:00:00:00:01',dst='0a:00:00:00:00:02')/IP(src='10.0.0.1',dst='10.0.0.2')/UDP(sport=53,dport=5353)"), 10);
    expect([k[F_TUN_ID_HI], k[F_TUN_ID_LO], k[F_TUN_SRC], k[F_TUN_DST]]).toEqual([0, 0xabcdef, 0xc0a80101, 0xc0a80102]);
    expect([k[F_NW_SRC], k[F_NW_PROTO], k[F_TP_SRC], k[F_TP_DST]]).toEqual([0x0a000001, 17, 53, 5353]);
    expect(matches(parseMatch('udp,in_port=10,tun_id=0xabcdef,tun_src=192.168.1.1,tun_dst=192.168.1.0/24,tp_dst=5353'), k, 0)).toBe(true);
    expect(matches(parseMatch('tun_id=0xabcdee'), k, 0)).toBe(false);
  });

  it('ARP: opcode/SPA/TPA in the shared words, SHA/THA in their own', () => {
    const k = key(scapyBytes("Ether()/ARP(op=2,hwsrc='02:00:00:00:00:01',hwdst='02:00:00:00:00:02',psrc='10.1.1.1',pdst='10.1.1.2')"));
    expect(k[F_DL_TYPE]).toBe(0x0806);
    expect([k[F_NW_PROTO], k[F_NW_SRC], k[F_NW_DST]]).toEqual([2, 0x0a010101, 0x0a010102]);
    expect([k[F_ARP_SHA_HI], k[F_ARP_SHA_LO], k[F_ARP_THA_HI], k[F_ARP_THA_LO]]).toEqual([0x0200, 1, 0x0200, 2]);
    expect(matches(parseMatch('arp,arp_op=2,arp_spa=10.1.1.1,arp_tha=02:00:00:00:00:02'), k, 0)).toBe(true);
  });

  it('IPv6: addresses, flow label, traffic class split into nw_tos/nw_ecn', () => {
    const k = key(scapyBytes("Ether()/IPv6(src='2001:db8::1',dst='2001:db8::2',fl=0x12345,tc=0x2a,hlim=9)/UDP(sport=1,dport=2)"));
    expect(k[F_DL_TYPE]).toBe(0x86dd);
    expect([k[F_IPV6_SRC], k[F_IPV6_SRC + 3], k[F_IPV6_DST + 3]]).toEqual([0x20010db8, 1, 2]);
    expect(k[F_IPV6_LABEL]).toBe(0x12345);
    expect([k[F_NW_TOS], k[F_NW_ECN], k[F_NW_TTL]]).toEqual([0x28, 2, 9]);
    expect(matches(parseMatch('udp6,ipv6_src=2001:db8::/32,ipv6_label=0x12345,tp_dst=2'), k, 0)).toBe(true);
  });

  it('ICMP type/code in tp_src/tp_dst; a later fragment has nw_frag=later', () => {
    const k = key(scapyBytes("Ether()/IP(src='1.1.1.1',dst='2.2.2.2')/ICMP(type=3,code=1)"));
    expect([k[F_NW_PROTO], k[F_TP_SRC], k[F_TP_DST]]).toEqual([1, 3, 1]);
    expect(matches(parseMatch('icmp,icmp_type=3,icmp_code=1'), k, 0)).toBe(true);
    const f = key(scapyBytes("Ether()/IP(src='1.1.1.1',dst='2.2.2.2',proto=17,frag=3)/(b'x'*16)"));
    expect(f[F_NW_FRAG]).toBe(3);
    expect(matches(parseMatch('ip,nw_frag=later'), f, 0)).toBe(true);
    expect(matches(parseMatch('ip,nw_frag=not_later'), f, 0)).toBe(false);
  });
});

describe('flowFromFrame on arbitrary bytes', () => {
  it('never throws and writes only its FLOW_WORDS words', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(0xffff), (b, port) => {
      const batch = new Uint32Array(FLOW_WORDS * 2).fill(0xa5a5a5a5);
      flowFromFrame(b, 0, b.length, port, batch, 0);
      expect(batch[FLOW_WORDS]).toBe(0xa5a5a5a5);
      expect(batch[F_IN_PORT]).toBe(port);
    }), { numRuns: 2000 });
  });

  it('802.3 length field gives dl_type 0x05ff (FLOW_DL_TYPE_NONE)', () => {
    const b = new Uint8Array(60);
    b[12] = 0x00; b[13] = 0x2e;
    const k = new Uint32Array(FLOW_WORDS);
    flowFromFrame(b, 0, b.length, 1, k, 0);
    expect(k[F_DL_TYPE]).toBe(0x05ff);
  });
});

describe('neighbour discovery fields', () => {
  // scapy: bytes(Ether()/IPv6(src='fe80::1',dst='ff02::1:ff00:2')/ICMPv6ND_NS(tgt='fe80::2')/ICMPv6NDOptSrcLLAddr(lladdr='00:00:00:00:00:01')).hex()
  const ns = '3333ff000002000000000000' + '86dd' + '6000000000203aff' + 'fe800000000000000000000000000001' + 'ff0200000000000000000001ff000002'
    + '8700' + '0000' + '00000000' + 'fe800000000000000000000000000002' + '0101000000000001';
  it('puts the target in nd_target and the source link-layer option in the ARP SHA words (as OVS)', () => {
    const b = Uint8Array.from(Buffer.from(ns, 'hex'));
    const key = new Uint32Array(FLOW_WORDS);
    flowFromFrame(b, 0, b.length, 1, key, 0);
    expect([...key.subarray(K.F_ND_TARGET, K.F_ND_TARGET + 4)]).toEqual([0xfe800000, 0, 0, 2]);
    expect([key[K.F_ARP_SHA_HI], key[K.F_ARP_SHA_LO]]).toEqual([0, 1]);
    expect(key[K.F_TP_SRC]).toBe(135);
  });
  it('keeps the target but no option when an option claims more bytes than there are', () => {
    const b = Uint8Array.from(Buffer.from(ns.replace(/0101000000000001$/, '0102000000000001'), 'hex'));
    const key = new Uint32Array(FLOW_WORDS).fill(7);
    flowFromFrame(b, 0, b.length, 1, key, 0);
    expect(key[K.F_ND_TARGET + 3]).toBe(2);
    expect(key[K.F_ARP_SHA_LO]).toBe(0);
  });
});
