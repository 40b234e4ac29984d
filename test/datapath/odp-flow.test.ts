/**
 * Unit tests of src/datapath/odp-flow.ts. The expected strings are lines `ovs-appctl
 * dpctl/dump-flows` printed on Open vSwitch 3.1.0 (dummy datapath) for the same packets and
 * flows (the setup of each is in test/datapath/odp-flow-ovs.test.ts, which re-checks them live);
 * the keys and masks here are built by hand so each rule of the formatter is pinned on its own.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatDpFlowKey, formatDpFlowLine, formatTcpFlagLetters, type DpFlowFormatOptions } from '../../src/datapath/odp-flow.js';
import {
  F_ARP_SHA_HI, F_ARP_SHA_LO, F_CT_MARK, F_CT_STATE, F_CT_ZONE, F_DL_DST_HI, F_DL_DST_LO, F_DL_SRC_HI, F_DL_SRC_LO,
  F_DL_TYPE, F_IN_PORT, F_IPV6_DST, F_IPV6_LABEL, F_IPV6_SRC, F_ND_TARGET, F_NW_DST, F_NW_ECN, F_NW_FRAG, F_NW_PROTO,
  F_NW_SRC, F_NW_TOS, F_NW_TTL, F_PACKET_TYPE, F_RECIRC_ID, F_TCP_FLAGS, F_TP_DST, F_TP_SRC, F_TUN_DST, F_TUN_FLAGS,
  F_TUN_ID_LO, F_TUN_SRC, F_VLAN_TCI, FLOW_WORDS, TNL_F_CSUM, TNL_F_DONT_FRAGMENT, TNL_F_KEY, flowFromFrame,
} from '../../src/flow/key.js';
import { fromHex } from '../../src/wire/bytes.js';

const OPTS: DpFlowFormatOptions = { odpPort: (p) => (p === 10 ? 4789 : p === 0xfffe ? 100 : p) };
const ALL = 0xffffffff;

/** A key from a hex frame (outer headers) on OpenFlow port 'inPort'. */
function keyOf(hex: string, inPort = 1): Uint32Array {
  const b = fromHex(hex)!;
  const k = new Uint32Array(FLOW_WORDS);
  flowFromFrame(b, 0, b.length, inPort, k, 0, false);
  return k;
}

/** The mask every translation starts with (xlate_wc_init): recirc_id, packet_type, in_port, dl_type, and nw_frag for IP. */
function baseMask(ip = true): Uint32Array {
  const m = new Uint32Array(FLOW_WORDS);
  m[F_RECIRC_ID] = ALL; m[F_PACKET_TYPE] = ALL; m[F_IN_PORT] = ALL; m[F_DL_TYPE] = 0xffff;
  if (ip) m[F_NW_FRAG] = 0xff;
  return m;
}

// Ether(src='00:00:00:00:00:01',dst='00:00:00:00:00:02')/IP(src='1.1.1.1',dst='10.0.0.5',ttl=64)/TCP(sport=1234,dport=80)
const TCP_HEX = '0000000000020000000000010800450000280001000040066ec9010101010a00000504d200500000000000000000500220007eba0000';

describe('formatDpFlowKey', () => {
  it('prints the unmasked key under a partial mask, and only masked fields (dec_ttl + nw_dst/24)', () => {
    const k = keyOf(TCP_HEX);
    const m = baseMask();
    m[F_NW_DST] = 0xffffff00; m[F_NW_PROTO] = 0xff; m[F_NW_TTL] = 0xff;
    expect(formatDpFlowKey(k, m, OPTS)).toBe(
      'recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth_type(0x0800),ipv4(dst=10.0.0.5/255.255.255.0,proto=6,ttl=64,frag=no)');
  });

  it('leaves out fully wildcarded attributes and prints L4 and masked MACs', () => {
    const k = keyOf(TCP_HEX);
    const m = baseMask();
    expect(formatDpFlowKey(k, m, OPTS)).toBe('recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth_type(0x0800),ipv4(frag=no)');
    m[F_DL_SRC_HI] = 0x0100; m[F_DL_DST_HI] = 0xffff; m[F_DL_DST_LO] = ALL;
    m[F_NW_PROTO] = 0xff; m[F_TP_DST] = 0xffc0; m[F_TP_SRC] = 0xffff;
    expect(formatDpFlowKey(k, m, OPTS)).toBe('recirc_id(0),in_port(1),packet_type(ns=0,id=0),'
      + 'eth(src=00:00:00:00:00:01/01:00:00:00:00:00,dst=00:00:00:00:00:02),eth_type(0x0800),ipv4(proto=6,frag=no),tcp(src=1234,dst=80/0xffc0)');
  });

  it('joins DSCP and ECN into tos', () => {
    const k = keyOf(TCP_HEX);
    k[F_NW_TOS] = 0x20; k[F_NW_ECN] = 0x1;
    const m = baseMask();
    m[F_NW_TOS] = 0xfc;
    expect(formatDpFlowKey(k, m, OPTS)).toContain('ipv4(tos=0x21/0xfc,frag=no)');
    m[F_NW_ECN] = 0x3;
    expect(formatDpFlowKey(k, m, OPTS)).toContain('ipv4(tos=0x21,frag=no)');
  });

  it('prints frag as OVS does, with its error text for a partial nw_frag mask', () => {
    const k = keyOf(TCP_HEX);
    const m = baseMask();
    k[F_NW_FRAG] = 1;
    expect(formatDpFlowKey(k, m, OPTS)).toContain('ipv4(frag=first)');
    k[F_NW_FRAG] = 3;
    m[F_NW_PROTO] = 0xff; m[F_TP_DST] = 0xffff;
    // a later fragment has no L4 attribute at all
    expect(formatDpFlowKey(k, m, OPTS)).toBe('recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth_type(0x0800),ipv4(proto=6,frag=later)');
    m[F_NW_FRAG] = 2;
    expect(formatDpFlowKey(k, m, OPTS)).toContain('ipv4(proto=6,error: partial mask not supported for frag (0xfe))');
  });

  it('prints ct_state as masked flags, ct_zone and ct_mark in %#x before recirc_id', () => {
    const k = keyOf(TCP_HEX);
    k[F_RECIRC_ID] = 1; k[F_CT_STATE] = 0x21; k[F_CT_ZONE] = 5;
    const m = baseMask();
    m[F_CT_STATE] = 0x21;
    expect(formatDpFlowKey(k, m, OPTS)).toBe('ct_state(+new+trk),recirc_id(0x1),in_port(1),packet_type(ns=0,id=0),eth_type(0x0800),ipv4(frag=no)');
    m[F_CT_STATE] = 0x22; m[F_CT_ZONE] = 0xffff; m[F_CT_MARK] = 0xf;
    expect(formatDpFlowKey(k, m, OPTS)).toMatch(/^ct_state\(-est\+trk\),ct_zone\(0x5\),ct_mark\(0\/0xf\),recirc_id\(0x1\),/);
    m[F_CT_STATE] = 0xff; m[F_CT_MARK] = ALL;
    expect(formatDpFlowKey(k, m, OPTS)).toMatch(/^ct_state\(\+new-est-rel-rpl-inv\+trk-snat-dnat\),ct_zone\(0x5\),ct_mark\(0\),/);
  });

  it('prints tcp_flags as masked flags, or plain when all 12 bits are masked', () => {
    const k = keyOf(TCP_HEX); // flags S
    const m = baseMask();
    m[F_NW_PROTO] = 0xff; m[F_TCP_FLAGS] = 0x12;
    expect(formatDpFlowKey(k, m, OPTS)).toContain('ipv4(proto=6,frag=no),tcp_flags(+syn-ack)');
    m[F_TCP_FLAGS] = 0x0fff;
    expect(formatDpFlowKey(k, m, OPTS)).toContain(',tcp_flags(syn)');
    k[F_TCP_FLAGS] = 0;
    expect(formatDpFlowKey(k, m, OPTS)).toContain(',tcp_flags(0)');
  });

  it('wraps a tagged packet in eth_type(0x8100),vlan(),encap() and masks VID+CFI when translation did not', () => {
    // Ether/Dot1Q(vlan=7,prio=5)/IP(src='10.0.0.1',dst='10.0.0.2')/ICMP()
    const k = keyOf('0000000000020000000000018100a00708004500001c00010000400166df0a0000010a0000020800f7ff00000000');
    const m = baseMask();
    m[F_NW_SRC] = ALL;
    expect(formatDpFlowKey(k, m, OPTS)).toBe('recirc_id(0),in_port(1),packet_type(ns=0,id=0),'
      + 'eth_type(0x8100),vlan(vid=7,pcp=5/0x0),encap(eth_type(0x0800),ipv4(src=10.0.0.1,frag=no))');
    m[F_VLAN_TCI] = 0xffff;
    expect(formatDpFlowKey(k, m, OPTS)).toContain('vlan(vid=7,pcp=5),encap(');
    expect(formatDpFlowKey(k, m, { ...OPTS, vlanTpid: 0x88a8 })).toContain('eth_type(0x88a8),vlan(');
  });

  it('prints arp() fields and omits an all-wildcarded arp()', () => {
    // Ether(dst=ff:..)/ARP(op=1,hwsrc=00:00:00:00:00:01,psrc=10.0.0.1,pdst=10.0.0.2)
    const k = keyOf('ffffffffffff00000000000108060001080006040001000000000001' + '0a000001' + '000000000000' + '0a000002');
    const m = baseMask(false);
    expect(formatDpFlowKey(k, m, OPTS)).toBe('recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth_type(0x0806)');
    m[F_NW_DST] = ALL; m[F_NW_PROTO] = 0xff; m[F_ARP_SHA_HI] = 0xffff; m[F_ARP_SHA_LO] = ALL;
    expect(formatDpFlowKey(k, m, OPTS)).toContain('eth_type(0x0806),arp(tip=10.0.0.2,op=1,sha=00:00:00:00:00:01)');
  });

  it('prints ipv6(), icmpv6() and nd() only when the type mask is exactly 0xff', () => {
    const k = new Uint32Array(FLOW_WORDS);
    k[F_IN_PORT] = 1; k[F_DL_TYPE] = 0x86dd; k[F_NW_PROTO] = 58; k[F_NW_TTL] = 255; k[F_TP_SRC] = 135; k[F_TP_DST] = 0;
    k[F_IPV6_SRC] = 0x20010db8; k[F_IPV6_SRC + 3] = 1; k[F_IPV6_DST] = 0xff020000; k[F_IPV6_DST + 2] = 1; k[F_IPV6_DST + 3] = 0xff000002;
    k[F_ND_TARGET] = 0x20010db8; k[F_ND_TARGET + 3] = 2; k[F_ARP_SHA_LO] = 1; k[F_IPV6_LABEL] = 0x12345;
    const m = baseMask();
    m[F_NW_PROTO] = 0xff; m[F_TP_SRC] = 0xff; m[F_ND_TARGET] = ALL; m[F_ND_TARGET + 1] = ALL; m[F_ND_TARGET + 2] = ALL; m[F_ND_TARGET + 3] = ALL;
    expect(formatDpFlowKey(k, m, OPTS)).toBe('recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth_type(0x86dd),'
      + 'ipv6(proto=58,frag=no),icmpv6(type=135),nd(target=2001:db8::2)');
    m[F_TP_SRC] = 0xffff;
    expect(formatDpFlowKey(k, m, OPTS)).not.toContain('nd(');
    m[F_IPV6_DST] = ALL; m[F_IPV6_DST + 1] = 0xffff0000; m[F_IPV6_LABEL] = 0xfffff; m[F_NW_TTL] = 0xff;
    expect(formatDpFlowKey(k, m, OPTS)).toContain('ipv6(dst=ff02::1:ff00:2/ffff:ffff:ffff::,label=0x12345,proto=58,hlimit=255,frag=no)');
  });

  it('prints eth_type(0/0xffff) for an 802.3 frame', () => {
    const k = keyOf('0180c20000000000000000010030424203' + '7a'.repeat(45));
    expect(formatDpFlowKey(k, baseMask(false), OPTS)).toBe('recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth_type(0/0xffff)');
  });

  it('prints tunnel() for a decapsulated packet, with flags built like format_odp_tun_attr', () => {
    const k = keyOf(TCP_HEX, 10);
    k[F_TUN_ID_LO] = 0x64; k[F_TUN_SRC] = 0xc0a80102; k[F_TUN_DST] = 0xc0a80101;
    const m = baseMask();
    m[F_TUN_ID_LO] = ALL; m[F_TUN_ID_LO - 1] = ALL; m[F_TUN_SRC] = ALL; m[F_TUN_DST] = ALL;
    m[F_TUN_FLAGS] = TNL_F_DONT_FRAGMENT | TNL_F_CSUM | TNL_F_KEY;
    const tunnel = { flags: TNL_F_CSUM | TNL_F_KEY, ttl: 64, tos: 0 };
    expect(formatDpFlowKey(k, m, { ...OPTS, tunnel })).toBe('tunnel(tun_id=0x64,src=192.168.1.2,dst=192.168.1.1,flags(-df+csum+key)),'
      + 'recirc_id(0),in_port(4789),packet_type(ns=0,id=0),eth_type(0x0800),ipv4(frag=no)');
    expect(formatDpFlowKey(k, m, { ...OPTS, tunnel: { ...tunnel, tos: 8 } })).toMatch(/^tunnel\(tun_id=0x64,src=192\.168\.1\.2,dst=192\.168\.1\.1,tos=0x8,flags/);
    m[F_TUN_FLAGS] = 0xf;
    expect(formatDpFlowKey(k, m, { ...OPTS, tunnel })).toContain(',flags(csum|key)),');
    m[F_TUN_ID_LO] = 0xff; m[F_TUN_ID_LO - 1] = 0;
    expect(formatDpFlowKey(k, m, { ...OPTS, tunnel })).toMatch(/^tunnel\(tun_id=0x64\/0xff,/);
  });

  it('never throws and never prints ", " on arbitrary keys and masks (parseDpFlow splits on it)', () => {
    fc.assert(fc.property(
      fc.uint32Array({ minLength: FLOW_WORDS, maxLength: FLOW_WORDS }),
      fc.uint32Array({ minLength: FLOW_WORDS, maxLength: FLOW_WORDS }),
      fc.constantFrom(0x0800, 0x86dd, 0x0806, 0x0100, 0x88cc),
      fc.constantFrom(1, 6, 17, 58, 132),
      (k, m, type, proto) => {
        k[F_DL_TYPE] = type; k[F_NW_PROTO] = proto;
        const s = formatDpFlowKey(k, m, OPTS);
        expect(s).not.toContain(', ');
        expect(s).toMatch(/recirc_id\([^)]*\),(dp_hash\([^)]*\),)?in_port\(\d+\),packet_type\(ns=0,id=0\)/);
      }), { numRuns: 300 });
  });
});

describe('formatDpFlowLine', () => {
  const k = keyOf(TCP_HEX);
  const m = baseMask();
  it('prints never / seconds with three decimals / flags / drop', () => {
    expect(formatDpFlowLine(k, m, { packets: 0, bytes: 0, usedMs: null, nowMs: 5 }, '', OPTS))
      .toBe('recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth_type(0x0800),ipv4(frag=no), packets:0, bytes:0, used:never, actions:drop');
    expect(formatDpFlowLine(k, m, { packets: 2, bytes: 84, usedMs: 1000, nowMs: 1313, tcpFlags: 0x12 }, 'set(ipv4(ttl=63)),2', OPTS))
      .toMatch(/, packets:2, bytes:84, used:0\.313s, flags:S\., actions:set\(ipv4\(ttl=63\)\),2$/);
  });
  it('uses tcpdump letters for TCP flags', () => {
    expect(formatTcpFlagLetters(0)).toBe('none');
    expect(formatTcpFlagLetters(0x0ff)).toBe('SFPRU.EC');
    expect(formatTcpFlagLetters(0x900)).toBe('N[800]');
  });
});
