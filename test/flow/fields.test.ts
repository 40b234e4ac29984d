import { describe, expect, it } from 'vitest';
import {
  ETH_TYPE_ARP, ETH_TYPE_IP, ETH_TYPE_IPV6, FIELD_DEFS, FIELDS, fieldByName, PREREQ_ARP, PREREQ_IPV4_OR_ARP, PREREQ_IPV6,
  PREREQ_L4, PREREQ_TCP, PROTOCOLS, prereqSatisfied,
} from '../../src/flow/fields.js';
import * as K from '../../src/flow/key.js';

describe('field registry', () => {
  it('knows every OVS name and the aliases ovs-ofctl accepts', () => {
    const names = [
      'in_port', 'recirc_id', 'metadata', 'tun_id', 'tunnel_id', 'tun_src', 'tun_dst', 'tun_flags', 'ct_state', 'ct_zone', 'ct_mark',
      'dl_src', 'eth_src', 'dl_dst', 'eth_dst', 'dl_type', 'eth_type', 'vlan_tci', 'dl_vlan', 'dl_vlan_pcp', 'vlan_vid', 'vlan_pcp',
      'nw_src', 'ip_src', 'nw_dst', 'ip_dst', 'ipv6_src', 'ipv6_dst', 'ipv6_label', 'nw_proto', 'ip_proto', 'nw_tos', 'ip_dscp',
      'nw_ecn', 'ip_ecn', 'nw_ttl', 'nw_frag', 'ip_frag', 'arp_op', 'arp_spa', 'arp_tpa', 'arp_sha', 'arp_tha',
      'tp_src', 'tp_dst', 'tcp_src', 'tcp_dst', 'udp_src', 'udp_dst', 'sctp_src', 'sctp_dst', 'tcp_flags',
      'icmp_type', 'icmp_code', 'icmpv6_type', 'icmpv6_code',
    ];
    for (let i = 0; i < 16; i++) names.push(`reg${i}`);
    for (const n of names) expect(fieldByName(n), n).toBeDefined();
    expect(fieldByName('reg16')).toBeUndefined();
    expect(FIELD_DEFS.length).toBe(FIELDS.size);
  });

  it('aliases share storage; OVS canonical names are what errors use', () => {
    expect(fieldByName('tp_dst')!.ovsName).toBe('tcp_dst');
    expect(fieldByName('dl_type')!.ovsName).toBe('eth_type');
    expect(fieldByName('nw_src')!.word).toBe(K.F_NW_SRC);
    expect(fieldByName('arp_spa')!.word).toBe(K.F_NW_SRC);
    expect(fieldByName('arp_op')!.word).toBe(K.F_NW_PROTO);
    expect(fieldByName('icmp_type')!.word).toBe(K.F_TP_SRC);
    expect(fieldByName('icmpv6_code')!.word).toBe(K.F_TP_DST);
    expect(fieldByName('ip_dscp')!).toMatchObject({ word: K.F_NW_TOS, shift: 2, wordMask: 0xfc });
    expect(fieldByName('dl_vlan_pcp')!).toMatchObject({ word: K.F_VLAN_TCI, shift: 13, wordMask: 0xf000, fixedBits: 0x1000 });
  });

  it('every field stays inside the key and its words', () => {
    for (const f of FIELD_DEFS) {
      expect(f.word + f.nWords, f.name).toBeLessThanOrEqual(K.FLOW_WORDS);
      // nw_tos takes the whole DS byte but owns only the DSCP bits (the ECN bits are refused)
      if (f.storage === 'word' && f.name !== 'nw_tos') expect((((2 ** f.bits - 1) * 2 ** f.shift) & ~f.wordMask) >>> 0, f.name).toBe(0);
      if (f.storage === 'word') expect((f.fixedBits & ~f.wordMask) >>> 0, f.name).toBe(0);
    }
  });

  it('widths, maskability and formats follow ovs-fields(7)', () => {
    const t: [string, number, boolean, string][] = [
      ['in_port', 16, false, 'port'], ['recirc_id', 32, false, 'hex'], ['reg5', 32, true, 'hex'], ['metadata', 64, true, 'hex'],
      ['tun_id', 64, true, 'hex'], ['tun_src', 32, true, 'ipv4'], ['ct_state', 8, true, 'ct_state'], ['ct_zone', 16, false, 'decimal'],
      ['ct_mark', 32, true, 'hex'], ['dl_src', 48, true, 'mac'], ['dl_type', 16, false, 'hex'], ['vlan_tci', 16, true, 'hex'],
      ['dl_vlan', 12, false, 'decimal'], ['nw_src', 32, true, 'ipv4'], ['ipv6_dst', 128, true, 'ipv6'], ['ipv6_label', 20, true, 'hex'],
      ['nw_proto', 8, false, 'decimal'], ['nw_ttl', 8, false, 'decimal'], ['nw_frag', 2, true, 'frag'], ['arp_tha', 48, true, 'mac'],
      ['tp_dst', 16, true, 'decimal'], ['tcp_flags', 12, true, 'tcp_flags'], ['icmp_type', 8, false, 'decimal'],
    ];
    for (const [n, bits, maskable, format] of t) expect(fieldByName(n), n).toMatchObject({ bits, maskable, format });
  });

  it('prerequisites: L4 ports need tcp/udp/sctp, addresses need their dl_type', () => {
    expect(fieldByName('tp_dst')!.prereq).toBe(PREREQ_L4);
    expect(fieldByName('tcp_flags')!.prereq).toBe(PREREQ_TCP);
    expect(fieldByName('arp_sha')!.prereq).toBe(PREREQ_ARP);
    expect(fieldByName('ipv6_label')!.prereq).toBe(PREREQ_IPV6);
    expect(fieldByName('nw_src')!.prereq).toBe(PREREQ_IPV4_OR_ARP);
    expect(fieldByName('arp_spa')!.prereq).toBe(PREREQ_ARP);
    expect(fieldByName('reg0')!.prereq).toBeNull();
    expect(prereqSatisfied(PREREQ_L4, ETH_TYPE_IP, 0xffff, 17, 0xff)).toBe(true);
    expect(prereqSatisfied(PREREQ_L4, ETH_TYPE_IPV6, 0xffff, 132, 0xff)).toBe(true);
    expect(prereqSatisfied(PREREQ_L4, ETH_TYPE_IP, 0xffff, 1, 0xff)).toBe(false);
    expect(prereqSatisfied(PREREQ_L4, ETH_TYPE_IP, 0xffff, 0, 0)).toBe(false);
    expect(prereqSatisfied(PREREQ_ARP, ETH_TYPE_ARP, 0xffff, 0, 0)).toBe(true);
    expect(prereqSatisfied(PREREQ_ARP, ETH_TYPE_ARP, 0, 0, 0)).toBe(false);
    const icmp = fieldByName('icmp_type')!.prereq!;
    expect(prereqSatisfied(icmp, ETH_TYPE_IP, 0xffff, 1, 0xff)).toBe(true);
    expect(prereqSatisfied(icmp, ETH_TYPE_IPV6, 0xffff, 58, 0xff)).toBe(true);
    expect(prereqSatisfied(icmp, ETH_TYPE_IPV6, 0xffff, 1, 0xff)).toBe(false);
  });

  it('shorthand protocols', () => {
    const t: [string, number, number][] = [
      ['ip', 0x0800, 0], ['ipv6', 0x86dd, 0], ['tcp', 0x0800, 6], ['udp', 0x0800, 17], ['sctp', 0x0800, 132], ['icmp', 0x0800, 1],
      ['tcp6', 0x86dd, 6], ['udp6', 0x86dd, 17], ['sctp6', 0x86dd, 132], ['icmp6', 0x86dd, 58], ['arp', 0x0806, 0], ['rarp', 0x8035, 0],
    ];
    for (const [n, dlType, nwProto] of t) expect(PROTOCOLS.get(n), n).toMatchObject({ dlType, nwProto });
  });
});
