/**
 * ipset.ts tests that need no kernel. The expectations were taken from
 * Linux 6.18's ip_set driven by ipset 7.17 in network namespaces; the same
 * behaviours are checked against the live system, with many more inputs, by
 * ipset-kernel.test.ts (which needs root, `ip netns` and the ipset tool).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IpsetError, Ipsets, WordKeyTable, matchesSet, type IpsetPacket } from '../../src/netfilter/ipset.js';
import { parseIpv4 } from '../../src/wire/bytes.js';

const ip = (s: string): number => parseIpv4(s)!;
const pkt = (src: string, sport: number, dst: string, dport: number, proto = 6): IpsetPacket =>
  ({ src: ip(src), dst: ip(dst), proto, sport, dport });

function code(f: () => unknown): string {
  try { f(); } catch (e) { if (e instanceof IpsetError) return `${e.code}@${e.line}`; throw e; }
  return 'no error';
}

/** The `add` lines of 'set' in a save, sorted (hash sets print in insertion order, the kernel in bucket order). */
const adds = (s: Ipsets, set: string): string[] => s.save(set).split('\n').filter((l) => l.startsWith('add ')).sort();

describe('ipset matching', () => {
  it('hash:ip matches the chosen side only', () => {
    const s = new Ipsets();
    s.create('A', 'hash:ip');
    s.add('A', '10.0.0.1');
    expect(s.matches('A', ['src'], pkt('10.0.0.1', 1, '10.0.0.9', 2))).toBe(true);
    expect(s.matches('A', ['dst'], pkt('10.0.0.1', 1, '10.0.0.9', 2))).toBe(false);
    expect(s.matches('A', ['dst'], pkt('10.0.0.9', 1, '10.0.0.1', 2))).toBe(true);
    expect(s.matches('missing', ['dst'], pkt('10.0.0.9', 1, '10.0.0.1', 2))).toBe(false);
  });

  it('hash:ip expands ranges (reversed ones too) and CIDRs; test takes the first address as written', () => {
    const s = new Ipsets();
    s.create('A', 'hash:ip');
    s.add('A', '10.0.0.3-10.0.0.1');
    s.add('A', '192.168.0.5/30');
    expect(s.get('A')!.members.size).toBe(7);
    expect(s.test('A', '192.168.0.7')).toBe(true);
    expect(s.test('A', '192.168.0.8')).toBe(false);
    expect(s.test('A', '10.0.0.2-10.0.0.9')).toBe(true);
    expect(s.test('A', '10.0.0.0-10.0.0.1')).toBe(false);
    expect(s.test('A', '10.0.0.1/31')).toBe(true);
    expect(s.test('A', '10.0.0.0/31')).toBe(false);
  });

  it('hash:ip,port (KUBE-CLUSTER-IP) needs ip, protocol and port; dst,dst', () => {
    const s = new Ipsets();
    s.create('KUBE-CLUSTER-IP', 'hash:ip,port', { hashsize: 1024, maxelem: 65536 });
    s.add('KUBE-CLUSTER-IP', '10.96.0.10,tcp:443');
    s.add('KUBE-CLUSTER-IP', '10.96.0.10,udp:53');
    const p = pkt('10.244.1.5', 40000, '10.96.0.10', 443);
    expect(s.matches('KUBE-CLUSTER-IP', ['dst', 'dst'], p)).toBe(true);
    expect(s.matches('KUBE-CLUSTER-IP', ['dst', 'dst'], { ...p, proto: 17 })).toBe(false);
    expect(s.matches('KUBE-CLUSTER-IP', ['dst', 'dst'], { ...p, proto: 17, dport: 53 })).toBe(true);
    expect(s.matches('KUBE-CLUSTER-IP', ['dst', 'dst'], { ...p, dport: 80 })).toBe(false);
    // fewer direction flags than the set's dimension: ip_set_test() says no
    expect(s.matches('KUBE-CLUSTER-IP', ['dst'], p)).toBe(false);
    // dst,src takes the port from the source side
    expect(s.matches('KUBE-CLUSTER-IP', ['dst', 'src'], { ...p, sport: 443, dport: 1 })).toBe(true);
    // extra flags are ignored
    expect(s.matches('KUBE-CLUSTER-IP', ['dst', 'dst', 'src'], p)).toBe(true);
    // tests refuse ranges and CIDRs, even /32
    expect(code(() => s.test('KUBE-CLUSTER-IP', '10.96.0.10,tcp:443-444'))).toBe('IPSET_TEST_RANGE@0');
    expect(code(() => s.test('KUBE-CLUSTER-IP', '10.96.0.10/32,tcp:443'))).toBe('IPSET_TEST_RANGE@0');
  });

  it('a bare port is tcp, protocol numbers print as names, port ranges expand (reversed swapped)', () => {
    const s = new Ipsets();
    s.create('P', 'hash:ip,port', { initval: 1 });
    s.add('P', '10.0.0.1,80');
    s.add('P', '10.0.0.1,udp:1002-1000');
    s.add('P', '10.0.0.2,132:7');
    expect(s.save()).toBe('create P hash:ip,port family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x00000001\n'
      + 'add P 10.0.0.1,tcp:80\nadd P 10.0.0.1,udp:1000\nadd P 10.0.0.1,udp:1001\nadd P 10.0.0.1,udp:1002\nadd P 10.0.0.2,sctp:7\n');
    expect(code(() => s.add('P', '10.0.0.1,icmp:8'))).toBe('IPSET_UNSUPPORTED@0');
    expect(code(() => s.add('P', '10.0.0.1,tcp:http'))).toBe('IPSET_UNSUPPORTED@0');
    expect(code(() => s.add('P', '0.0.0.0,80'))).toBe('IPSET_NULL_ELEMENT@0');
  });

  it('hash:ip,port,ip (KUBE-LOOP-BACK) matches dst,dst,src hairpin traffic', () => {
    const s = new Ipsets();
    s.create('KUBE-LOOP-BACK', 'hash:ip,port,ip');
    s.add('KUBE-LOOP-BACK', '10.244.1.5,tcp:6443,10.244.1.5');
    expect(s.matches('KUBE-LOOP-BACK', ['dst', 'dst', 'src'], pkt('10.244.1.5', 5555, '10.244.1.5', 6443))).toBe(true);
    expect(s.matches('KUBE-LOOP-BACK', ['dst', 'dst', 'src'], pkt('10.244.1.6', 5555, '10.244.1.5', 6443))).toBe(false);
    expect(s.matches('KUBE-LOOP-BACK', ['dst', 'dst'], pkt('10.244.1.5', 5555, '10.244.1.5', 6443))).toBe(false);
    expect(code(() => s.add('KUBE-LOOP-BACK', '10.244.1.5,tcp:1,10.0.0.0/8'))).toBe('IPSET_BAD_ELEMENT@0');
  });

  it('hash:ip,port,net (KUBE-LOAD-BALANCER-SOURCE-CIDR): the most specific stored net decides, nomatch says no', () => {
    const s = new Ipsets();
    s.create('SC', 'hash:ip,port,net');
    s.add('SC', '1.2.3.4,tcp:80,10.0.0.0/8');
    s.add('SC', '1.2.3.4,tcp:80,10.1.0.0/16', { nomatch: true });
    s.add('SC', '1.2.3.4,tcp:80,192.168.1.0/24');
    const m = (src: string, returnNomatch = false): boolean => s.matches('SC', ['dst', 'dst', 'src'], pkt(src, 9, '1.2.3.4', 80), { returnNomatch });
    expect(m('10.200.3.4')).toBe(true);
    expect(m('10.1.3.4')).toBe(false);
    expect(m('192.168.1.77')).toBe(true);
    expect(m('192.168.2.77')).toBe(false);
    // --return-nomatch: nomatch members match, members do not
    expect(m('10.1.3.4', true)).toBe(true);
    expect(m('10.200.3.4', true)).toBe(false);
    // ipset test of a net looks that net up exactly; of an address, walks the prefixes
    expect(s.test('SC', '1.2.3.4,tcp:80,10.1.0.0/16')).toBe(false);
    expect(s.test('SC', '1.2.3.4,tcp:80,10.1.0.0/16', { nomatch: true })).toBe(true);
    expect(s.test('SC', '1.2.3.4,tcp:80,10.2.0.0/16')).toBe(false);
    expect(s.test('SC', '1.2.3.4,tcp:80,10.2.0.1')).toBe(true);
    s.del('SC', '1.2.3.4,tcp:80,10.0.0.0/8');
    expect(m('10.200.3.4')).toBe(false);
    expect(m('192.168.1.77')).toBe(true);
  });

  it('hash:net: nets masked, /32 bare, ranges split into CIDRs, nomatch, /0 refused', () => {
    const s = new Ipsets();
    s.create('N', 'hash:net');
    s.add('N', '10.1.2.3/8');
    s.add('N', '10.1.0.0/16', { nomatch: true });
    s.add('N', '172.16.0.1');
    s.add('N', '192.168.1.5-192.168.1.0');
    expect([...s.get('N')!.members.keys()]).toEqual(['10.0.0.0/8', '10.1.0.0/16', '172.16.0.1', '192.168.1.0/30', '192.168.1.4/31']);
    expect(s.matches('N', ['src'], pkt('10.9.9.9', 1, '1.1.1.1', 1))).toBe(true);
    expect(s.matches('N', ['src'], pkt('10.1.9.9', 1, '1.1.1.1', 1))).toBe(false);
    expect(s.matches('N', ['src'], pkt('172.16.0.1', 1, '1.1.1.1', 1))).toBe(true);
    expect(s.matches('N', ['src'], pkt('172.16.0.2', 1, '1.1.1.1', 1))).toBe(false);
    expect(s.test('N', '10.0.0.0/9')).toBe(false);
    expect(code(() => s.test('N', '10.0.0.1-10.0.0.2'))).toBe('IPSET_TEST_RANGE@0');
    s.del('N', '10.0.0.0/8');
    expect(s.matches('N', ['src'], pkt('10.9.9.9', 1, '1.1.1.1', 1))).toBe(false);
    expect(code(() => s.add('N', '10.0.0.0/0'))).toBe('IPSET_BAD_CIDR@0');
    expect(s.get('N')!.cidrs).toEqual(Int8Array.from([32, 31, 30, 16]));
  });

  it('bitmap:port (KUBE-NODE-PORT-TCP) matches TCP and UDP packets only, members print ascending', () => {
    const s = new Ipsets();
    s.create('KUBE-NODE-PORT-TCP', 'bitmap:port', { range: { min: 0, max: 65535 } });
    s.add('KUBE-NODE-PORT-TCP', '30080');
    s.add('KUBE-NODE-PORT-TCP', 'udp:80');
    const set = s.get('KUBE-NODE-PORT-TCP')!;
    expect(matchesSet(set, ['dst'], pkt('1.1.1.1', 1, '2.2.2.2', 30080))).toBe(true);
    expect(matchesSet(set, ['dst'], pkt('1.1.1.1', 1, '2.2.2.2', 30080, 17))).toBe(true);
    expect(matchesSet(set, ['dst'], pkt('1.1.1.1', 1, '2.2.2.2', 30080, 132))).toBe(false); // SCTP: ip_set_get_ip_port says no
    expect(matchesSet(set, ['dst'], pkt('1.1.1.1', 1, '2.2.2.2', 30081))).toBe(false);
    expect(matchesSet(set, ['dst'], pkt('1.1.1.1', 1, '2.2.2.2', 30080, 1))).toBe(false);
    expect(matchesSet(set, ['src'], pkt('1.1.1.1', 30080, '2.2.2.2', 1))).toBe(true);
    // a later fragment has no ports to read
    expect(matchesSet(set, ['dst'], { ...pkt('1.1.1.1', 1, '2.2.2.2', 30080), fragment: true })).toBe(false);
    expect(s.save('KUBE-NODE-PORT-TCP')).toBe('create KUBE-NODE-PORT-TCP bitmap:port range 0-65535\nadd KUBE-NODE-PORT-TCP 80\nadd KUBE-NODE-PORT-TCP 30080\n');
    expect(code(() => s.add('KUBE-NODE-PORT-TCP', 'sctp:5'))).toBe('IPSET_BAD_PROTO@0');
    s.create('R', 'bitmap:port', { range: { min: 1000, max: 2000 } });
    expect(code(() => s.add('R', '999'))).toBe('IPSET_OUT_OF_RANGE@0');
    expect(code(() => s.add('R', '990-1010'))).toBe('IPSET_OUT_OF_RANGE@0');
    expect(s.get('R')!.members.size).toBe(0);
    expect(s.test('R', '999')).toBe(false);
    expect(code(() => s.create('X', 'bitmap:port'))).toBe('IPSET_MISSING_RANGE@0');
    s.restore('create Y bitmap:port range 2000-1000\nadd Y tcp:1500');
    expect(s.save('Y')).toBe('create Y bitmap:port range 1000-2000\nadd Y 1500\n');
  });
});

describe('-m set counters (sets created with counters)', () => {
  // The kernel run these numbers come from (Linux 6.18, ipset 7.17, iptables 1.8.9; rules in
  // filter OUTPUT without targets, so every packet reaches every rule; UDP packets of IP total
  // length 60..66 from a raw socket): ipset-kernel.test.ts replays it live ("counters" case).
  const SETS = [
    'create A hash:ip', 'add A 10.0.0.1',
    'create C hash:ip counters', 'add C 10.0.0.1',
    'create N hash:net counters', 'add N 10.0.0.0/8', 'add N 10.1.0.0/16 nomatch', 'add N 10.1.2.0/24 packets 10',
    'create B bitmap:port range 1-100 counters', 'add B 53',
  ].join('\n') + '\n';
  type Rule = [string, ('src' | 'dst')[], boolean, Parameters<Ipsets['matches']>[3]];
  const RULES: Rule[] = [
    ['A', ['dst'], false, { packets: { op: 'gt', value: 5n } }],
    ['C', ['dst'], false, { packets: { op: 'lt', value: 3n } }],
    ['C', ['dst'], false, { updateCounters: false, packets: { op: 'eq', value: 2n } }],
    ['N', ['dst'], false, { packets: { op: 'lt', value: 2n } }],
    ['N', ['dst'], false, { returnNomatch: true, packets: { op: 'lt', value: 2n } }],
    ['N', ['dst'], true, { packets: { op: 'gt', value: 3n } }],
    ['B', ['dst'], false, { bytes: { op: 'gt', value: 100n } }],
  ];
  const SENT: [string, number][] = [['10.0.0.1', 60], ['10.0.0.1', 61], ['10.1.0.1', 62], ['10.1.0.1', 63], ['10.1.2.1', 64], ['10.0.0.1', 65], ['10.0.0.1', 66]];

  it('count first, then check; a failing member is passed over (nets walk on); no counters: no conditions', () => {
    const s = new Ipsets();
    s.restore(SETS);
    const hits = RULES.map(() => [0, 0]);
    for (const [dst, length] of SENT) {
      const p = { ...pkt('192.0.2.1', 1, dst, 53, 17), length };
      RULES.forEach(([set, flags, invert, o], i) => {
        if (s.matches(set, flags, p, o) !== invert) { hits[i]![0]!++; hits[i]![1]! += length; }
      });
    }
    // the kernel's `iptables-save -c` counters of the seven rules
    expect(hits).toEqual([[4, 252], [2, 121], [1, 61], [1, 60], [0, 0], [2, 123], [6, 381]]);
    expect(adds(s, 'C')).toEqual(['add C 10.0.0.1 packets 4 bytes 252']);
    expect(adds(s, 'N')).toEqual(['add N 10.0.0.0/8 packets 18 bytes 1134', 'add N 10.1.0.0/16 nomatch packets 8 bytes 503', 'add N 10.1.2.0/24 packets 13 bytes 192']);
    expect(adds(s, 'B')).toEqual(['add B 53 packets 7 bytes 441']);
    expect(adds(s, 'A')).toEqual(['add A 10.0.0.1']);
  });

  it('ipset test neither counts nor checks; a packet that finds no member counts nothing', () => {
    const s = new Ipsets();
    s.restore(SETS);
    expect(s.test('C', '10.0.0.1')).toBe(true);
    expect(s.test('N', '10.1.0.1', { nomatch: true })).toBe(true);
    expect(s.matches('C', ['dst'], { ...pkt('1.1.1.1', 1, '10.0.0.2', 53, 17), length: 80 })).toBe(false);
    // fewer flags than the dimension: ip_set_test returns before the lookup
    expect(s.matches('B', [], { ...pkt('1.1.1.1', 1, '10.0.0.2', 53, 17), length: 80 })).toBe(false);
    // out of the bitmap's range, and a protocol bitmap:port does not read
    expect(s.matches('B', ['dst'], { ...pkt('1.1.1.1', 1, '10.0.0.2', 530, 17), length: 80 })).toBe(false);
    expect(s.matches('B', ['dst'], { ...pkt('1.1.1.1', 1, '10.0.0.2', 53, 132), length: 80 })).toBe(false);
    expect(adds(s, 'C')).toEqual(['add C 10.0.0.1 packets 0 bytes 0']);
    expect(adds(s, 'N')).toEqual(['add N 10.0.0.0/8 packets 0 bytes 0', 'add N 10.1.0.0/16 nomatch packets 0 bytes 0', 'add N 10.1.2.0/24 packets 10 bytes 0']);
    expect(adds(s, 'B')).toEqual(['add B 53 packets 0 bytes 0']);
  });

  it('conditions compare exactly with u64 values; ne is `! --…-eq`', () => {
    const s = new Ipsets();
    s.restore('create C hash:ip counters\nadd C 10.0.0.1 packets 9007199254740990 bytes 5\n');
    const p = { ...pkt('1.1.1.1', 1, '10.0.0.1', 1), length: 0 };
    const no = { updateCounters: false };
    expect(s.matches('C', ['dst'], p, { ...no, packets: { op: 'eq', value: 9007199254740990n } })).toBe(true);
    expect(s.matches('C', ['dst'], p, { ...no, packets: { op: 'lt', value: (1n << 64n) - 1n } })).toBe(true);
    expect(s.matches('C', ['dst'], p, { ...no, packets: { op: 'gt', value: (1n << 64n) - 1n } })).toBe(false);
    expect(s.matches('C', ['dst'], p, { ...no, bytes: { op: 'ne', value: 5n } })).toBe(false);
    expect(s.matches('C', ['dst'], p, { ...no, bytes: { op: 'ne', value: 6n } })).toBe(true);
    // both conditions must hold
    expect(s.matches('C', ['dst'], p, { ...no, packets: { op: 'gt', value: 0n }, bytes: { op: 'lt', value: 5n } })).toBe(false);
    expect(adds(s, 'C')).toEqual(['add C 10.0.0.1 packets 9007199254740990 bytes 5']);
    // counted: one packet of length 0
    expect(s.matches('C', ['dst'], p, { packets: { op: 'eq', value: 9007199254740991n } })).toBe(true);
  });

  it('member ids are reused after del and flush; the counters stay with their member', () => {
    const s = new Ipsets();
    s.restore('create C hash:ip counters\nadd C 10.0.0.1\nadd C 10.0.0.2 packets 7\n');
    const p = (dst: string): IpsetPacket => ({ ...pkt('1.1.1.1', 1, dst, 1), length: 100 });
    s.matches('C', ['dst'], p('10.0.0.2'));
    s.del('C', '10.0.0.1');
    s.add('C', '10.0.0.3');
    s.matches('C', ['dst'], p('10.0.0.3'));
    s.matches('C', ['dst'], p('10.0.0.3'));
    expect(adds(s, 'C')).toEqual(['add C 10.0.0.2 packets 8 bytes 100', 'add C 10.0.0.3 packets 2 bytes 200']);
    expect(s.get('C')!.byId.filter((m) => m !== null)).toHaveLength(2);
    s.flush('C');
    s.add('C', '10.0.0.2');
    expect(s.matches('C', ['dst'], p('10.0.0.2'), { packets: { op: 'eq', value: 1n } })).toBe(true);
    // -exist re-add keeps the running counters unless new ones are given
    s.add('C', '10.0.0.2', { exist: true });
    expect(adds(s, 'C')).toEqual(['add C 10.0.0.2 packets 1 bytes 100']);
    s.add('C', '10.0.0.2', { exist: true, packets: 0 });
    expect(adds(s, 'C')).toEqual(['add C 10.0.0.2 packets 0 bytes 100']);
  });
});

describe('ipset management', () => {
  it('refuses duplicates unless -exist, and deleting absent members', () => {
    const s = new Ipsets();
    s.create('A', 'hash:ip');
    s.add('A', '1.1.1.1');
    expect(code(() => s.add('A', '1.1.1.1'))).toBe('IPSET_EXIST_ELEMENT@0');
    s.add('A', '1.1.1.1', { exist: true });
    expect(code(() => s.del('A', '2.2.2.2'))).toBe('IPSET_NOT_ELEMENT@0');
    expect(code(() => s.create('A', 'hash:ip'))).toBe('IPSET_EXISTS@0');
    s.create('A', 'hash:ip', { hashsize: 64, bucketsize: 4 }, { exist: true }); // hashsize, bucketsize, initval may differ
    expect(code(() => s.create('A', 'hash:ip', { maxelem: 5 }, { exist: true }))).toBe('IPSET_EXISTS@0');
    expect(code(() => s.create('A', 'hash:net', {}, { exist: true }))).toBe('IPSET_EXISTS@0');
  });

  it('-exist re-adds replace nomatch, timeout and comment, and the counters given', () => {
    const s = new Ipsets();
    s.create('N', 'hash:net', { counters: true, comment: true, timeout: 100, initval: 7 });
    s.add('N', '10.0.0.0/8', { packets: 5, bytes: 6, comment: 'a', timeout: 9 });
    s.add('N', '10.0.0.0/8', { nomatch: true, exist: true });
    expect(s.save()).toBe('create N hash:net family inet hashsize 1024 maxelem 65536 timeout 100 counters comment bucketsize 12 initval 0x00000007\n'
      + 'add N 10.0.0.0/8 timeout 100 nomatch packets 5 bytes 6\n');
    expect(s.matches('N', ['dst'], pkt('1.1.1.1', 1, '10.1.1.1', 1))).toBe(false);
  });

  it('create canonicalises hashsize and bucketsize as the kernel does', () => {
    const s = new Ipsets();
    s.create('A', 'hash:ip', { hashsize: 100, bucketsize: 3, initval: 0xdeadbeef });
    s.create('B', 'hash:ip', { hashsize: 1, bucketsize: 13, initval: 1 });
    expect(s.save()).toBe('create A hash:ip family inet hashsize 128 maxelem 65536 bucketsize 4 initval 0xdeadbeef\n'
      + 'create B hash:ip family inet hashsize 64 maxelem 65536 bucketsize 12 initval 0x00000001\n');
    expect(code(() => s.create('C', 'hash:ip', { hashsize: 2 ** 31 }))).toBe('IPSET_NOMEM@0');
  });

  it('a destroyed set leaves its index to the next create; swap trades contents; destroy refuses a held set', () => {
    const s = new Ipsets();
    s.create('A', 'hash:ip'); s.add('A', '1.1.1.1');
    s.create('B', 'hash:ip'); s.add('B', '2.2.2.2');
    s.create('C', 'hash:ip');
    s.destroy('A');
    s.create('D', 'hash:net');
    expect(s.names()).toEqual(['D', 'B', 'C']);
    s.hold('B');
    s.swap('B', 'C');
    expect(s.test('C', '2.2.2.2')).toBe(true);
    expect(s.get('B')!.members.size).toBe(0);
    expect(s.get('B')!.refs).toBe(1); // the rule's reference stays with the name
    expect(code(() => s.destroy('B'))).toBe('IPSET_IN_USE@0');
    s.release('B');
    s.destroy('B');
    expect(s.get('B')).toBeUndefined();
    expect(code(() => s.swap('C', 'D'))).toBe('IPSET_SWAP_TYPE@0');
    expect(code(() => s.rename('C', 'D'))).toBe('IPSET_EXISTS@0');
  });

  it('a range sdnemu would have to expand past 2^22 elements is refused up front', () => {
    const s = new Ipsets();
    s.create('A', 'hash:ip', { maxelem: 0xffffffff });
    expect(code(() => s.add('A', '10.0.0.0/8'))).toBe('IPSET_RANGE_TOO_LARGE@0');
    expect(s.get('A')!.members.size).toBe(0);
  });

  it('maxelem bounds hash sets; a range fills the set before it fails', () => {
    const s = new Ipsets();
    s.create('A', 'hash:ip', { maxelem: 3 });
    s.add('A', '1.1.1.1');
    expect(code(() => s.add('A', '1.1.2.0-1.1.2.9'))).toBe('IPSET_FULL@0');
    expect(adds(s, 'A')).toEqual(['add A 1.1.1.1', 'add A 1.1.2.0', 'add A 1.1.2.1']);
  });
});

// The kube-proxy ipvs-mode sets (pkg/proxy/ipvs/proxier.go ipsetInfo) as kube-proxy creates them
// (pkg/proxy/ipvs/ipset/ipset.go createSet), and what `ipset save` prints for them.
const KUBE_RESTORE = `create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536
add KUBE-CLUSTER-IP 10.96.0.10,tcp:443
add KUBE-CLUSTER-IP 10.96.0.10,udp:53
create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536
add KUBE-LOOP-BACK 10.244.1.5,tcp:6443,10.244.1.5
create KUBE-EXTERNAL-IP hash:ip,port family inet hashsize 1024 maxelem 65536
create KUBE-LOAD-BALANCER hash:ip,port family inet hashsize 1024 maxelem 65536
add KUBE-LOAD-BALANCER 1.2.3.4,tcp:80
create KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family inet hashsize 1024 maxelem 65536
add KUBE-LOAD-BALANCER-SOURCE-CIDR 1.2.3.4,tcp:80,10.0.0.0/8
create KUBE-LOAD-BALANCER-SOURCE-IP hash:ip,port,ip family inet hashsize 1024 maxelem 65536
create KUBE-NODE-PORT-TCP bitmap:port range 0-65535
add KUBE-NODE-PORT-TCP 30080
create KUBE-NODE-PORT-UDP bitmap:port range 0-65535
create KUBE-HEALTH-CHECK-NODE-PORT bitmap:port range 0-65535
create KUBE-IPVS-IPS hash:ip family inet hashsize 1024 maxelem 65536 comment
add KUBE-IPVS-IPS 10.96.0.10 comment "kube-dns"
`;
/** The initvals are the first draws of `new Ipsets()` (seed 1); the kernel's are random. */
const KUBE_SAVE = KUBE_RESTORE
  .replace(/^(create \S+ hash:\S+ .*)$/gm, '$1 bucketsize 12 initval X')
  .replace(/initval X/, 'initval 0xb356c534').replace(/initval X/, 'initval 0x22ab08af').replace(/initval X/, 'initval 0x39665103')
  .replace(/initval X/, 'initval 0x5a0af3a5').replace(/initval X/, 'initval 0x3b78d734').replace(/initval X/, 'initval 0x899d24f2')
  .replace(/initval X/, 'initval 0xfb97774f');

describe('ipset save / restore', () => {
  it('loads the kube-proxy sets and saves them back byte for byte', () => {
    const s = new Ipsets();
    s.restore(KUBE_RESTORE);
    expect(s.names()).toHaveLength(10);
    expect(s.save()).toBe(KUBE_SAVE);
    expect(s.matches('KUBE-CLUSTER-IP', ['dst', 'dst'], pkt('10.244.1.5', 1234, '10.96.0.10', 53, 17))).toBe(true);
    const again = new Ipsets({ seed: 99 });
    again.restore(KUBE_SAVE);
    expect(again.save()).toBe(KUBE_SAVE);
  });

  it('runs flush/del/swap/destroy lines, command letters, and skips comments and COMMIT', () => {
    const s = new Ipsets();
    s.restore('# generated\ncreate A hash:ip initval 2\n-N B hash:ip initval 3\nadd A 1.1.1.1\na B 2.2.2.2\nswap A B\ndel A 2.2.2.2\nflush B\ndestroy B\nCOMMIT\n');
    expect(s.save()).toBe('create A hash:ip family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x00000003\n');
  });

  it('splits words as ipset does: quotes toggle and vanish, backslashes stay', () => {
    const s = new Ipsets();
    s.restore('create A hash:ip comment initval 0\nadd A 1.1.1.1 comment "with \\"esc\\" and \'single\'"\nadd A 1.1.1.2 comment a"b c"d\n');
    expect(adds(s, 'A')).toEqual(['add A 1.1.1.1 comment "with \\esc\\ and \'single\'"', 'add A 1.1.1.2 comment "ab cd"']);
  });

  it('numbers are C strtoul: hex and leading-0 octal', () => {
    const s = new Ipsets();
    s.restore('create A hash:ip hashsize 0x100 maxelem 010 initval 0\ncreate B bitmap:port range 0x10-020\n');
    expect(s.save()).toBe('create A hash:ip family inet hashsize 256 maxelem 8 bucketsize 12 initval 0x00000000\ncreate B bitmap:port range 16-16\n');
  });

  it.each([
    ['add NOPE 1.1.1.1', 'IPSET_NO_SET@1'],
    ['create A hash:ip\nadd A 1.1.1.300', 'IPSET_BAD_IP@2'],
    ['create A hash:foo', 'IPSET_UNKNOWN_TYPE@1'],
    ['create A hash:mac', 'IPSET_UNSUPPORTED@1'],
    ['create A hash:ip family inet6', 'IPSET_UNSUPPORTED@1'],
    ['create A hash:ip hashsize x', 'IPSET_BAD_NUMBER@1'],
    ['create A hash:ip bucketsize 256', 'IPSET_NUMBER_RANGE@1'],
    ['create A hash:ip timeout 5 timeout 6', 'IPSET_DUPLICATE_OPTION@1'],
    ['create A hash:ip bogus', 'IPSET_UNKNOWN_ARG@1'],
    ['create A hash:ip hashsize', 'IPSET_MISSING_ARG@1'],
    ['create B bitmap:port range 5', 'IPSET_MISSING_ARG@1'],
    ['create A hash:ip,port\n\nadd A 1.1.1.1,icmpx:3', 'IPSET_BAD_PROTO@3'],
    ['create A hash:ip,port\nadd A 1.1.1.1,tcp:70000', 'IPSET_BAD_PORT@2'],
    ['create A hash:ip,port\nadd A 1.1.1.1', 'IPSET_BAD_ELEMENT@2'],
    ['create A hash:ip\nadd A 1.1.1.1 comment "x"', 'IPSET_NO_COMMENT@2'],
    ['create A hash:ip\nadd A 1.1.1.1 timeout 5', 'IPSET_NO_TIMEOUT@2'],
    ['create A hash:ip\nadd A 1.1.1.1 nomatch', 'IPSET_UNKNOWN_ARG@2'],
    ['create A hash:ip\nadd A 0.0.0.0', 'IPSET_NULL_ELEMENT@2'],
    ['frobnicate A', 'IPSET_UNKNOWN_COMMAND@1'],
    ['create A hash:ip\ncreate A hash:ip', 'IPSET_EXISTS@2'],
    ['create A hash:ip\ntest A 1.1.1.1', 'IPSET_NOT_IN_SET@2'],
    ['create A hash:ip comment\nadd A 1.1.1.1 comment "unterminated', 'IPSET_MISSING_ARG@2'],
    ['create A hash:ip comment\nadd A 1.1.1.1 comment ""', 'IPSET_MISSING_ARG@2'],
  ])('%j fails with %s', (text, expected) => {
    expect(code(() => new Ipsets().restore(text))).toBe(expected);
  });

  it('restore keeps what ipset 7.17 leaves: unsent batches of adds are dropped on a syntax error', () => {
    const run = (text: string): [string, string] => {
      const s = new Ipsets();
      const c = code(() => s.restore(text));
      return [c, adds(s, 'A').join(';')];
    };
    // a syntax error drops the pending batch of add lines of the same set
    expect(run('create A hash:ip\nadd A 1.1.1.1\nadd A 1.1.1.2\nadd A 1.1.1.300\n')).toEqual(['IPSET_BAD_IP@4', '']);
    // a line of another command sends the batch first
    expect(run('create A hash:ip\nadd A 1.1.1.1\nflush X\n')).toEqual(['IPSET_NO_SET@3', 'add A 1.1.1.1']);
    // a kernel error is reported when its batch is sent, the elements before it applied
    expect(run('create A hash:ip\nadd A 1.1.1.1\nadd A 1.1.1.1\nadd A 1.1.1.2\ncreate B hash:ip\n')).toEqual(['IPSET_EXIST_ELEMENT@3', 'add A 1.1.1.1']);
    // unless a syntax error follows in the same batch
    expect(run('create A hash:ip\nadd A 1.1.1.1\nadd A 1.1.1.1\nadd A 1.1.1.300\n')).toEqual(['IPSET_BAD_IP@4', '']);
    // a per-line -exist does nothing in a restore; the global one does
    expect(run('create A hash:ip\nadd A 1.1.1.1\nadd A 1.1.1.1 -exist\n')).toEqual(['IPSET_EXIST_ELEMENT@3', 'add A 1.1.1.1']);
    const s = new Ipsets();
    s.restore('create A hash:ip\nadd A 1.1.1.1\nadd A 1.1.1.1\n', { exist: true });
    expect(adds(s, 'A')).toEqual(['add A 1.1.1.1']);
  });

  it('command() honours -exist anywhere, as the ipset command line does', () => {
    const s = new Ipsets();
    s.command(['create', 'A', 'hash:ip']);
    s.command(['add', 'A', '1.1.1.1']);
    s.command(['add', 'A', '1.1.1.1', '-exist']);
    s.command(['-!', 'create', 'A', 'hash:ip']);
    expect(code(() => s.command(['add', 'A', '1.1.1.1'], 7))).toBe('IPSET_EXIST_ELEMENT@7');
  });

  it('property: arbitrary restore text throws only IpsetError', () => {
    const word = fc.oneof(
      fc.constantFrom('create', 'add', 'del', 'test', 'flush', 'destroy', 'swap', 'rename', 'A', 'B', 'hash:ip', 'hash:net',
        'hash:ip,port', 'hash:ip,port,ip', 'hash:ip,port,net', 'bitmap:port', 'range', '0-65535', 'family', 'inet', 'hashsize',
        'maxelem', '10.0.0.1', '10.0.0.0/8', '10.0.0.1,tcp:80', '1.2.3.4,udp:53,10.0.0.0/24', 'comment', '"x y"', '-exist',
        '80', 'tcp:80-90', '1.1.1.1-1.1.1.9', 'timeout', 'counters', 'nomatch', 'packets', 'bytes', '0x10', '010', 'COMMIT'),
      fc.string({ maxLength: 12 }),
    );
    const line = fc.array(word, { maxLength: 7 }).map((ws) => ws.join(' '));
    fc.assert(fc.property(fc.array(line, { maxLength: 12 }), (lines) => {
      try { new Ipsets().restore(lines.join('\n')); } catch (e) { if (!(e instanceof IpsetError)) throw e; }
    }), { numRuns: 400 });
  });

  it('property: save → restore → save is stable', () => {
    const el = fc.tuple(fc.integer({ min: 1, max: 0xffffffff }), fc.constantFrom('tcp', 'udp', 'sctp'), fc.integer({ min: 0, max: 65535 }),
      fc.integer({ min: 1, max: 32 }), fc.integer({ min: 0, max: 0xffffffff }), fc.boolean());
    fc.assert(fc.property(fc.array(el, { maxLength: 30 }), (els) => {
      const s = new Ipsets();
      s.create('P', 'hash:ip,port,net', { counters: true });
      s.create('N', 'hash:net', { timeout: 50 });
      for (const [a, pr, port, cidr, b, nomatch] of els) {
        const ipA = `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
        const ipB = `${b >>> 24}.${(b >>> 16) & 255}.${(b >>> 8) & 255}.${b & 255}`;
        s.add('P', `${ipA},${pr}:${port},${ipB}/${cidr}`, { exist: true, nomatch, packets: port });
        s.add('N', `${ipB}/${cidr}`, { exist: true, nomatch });
      }
      const t = s.save();
      const r = new Ipsets();
      r.restore(t);
      expect(r.save()).toBe(t);
    }), { numRuns: 100 });
  });
});

describe('WordKeyTable', () => {
  it('property: behaves as a Map under random set/delete', () => {
    const op = fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 3 }));
    fc.assert(fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
      const t = new WordKeyTable(3, 16);
      const m = new Map<string, number>();
      let n = 0;
      for (const [ins, k, w] of ops) {
        const a = k * 0x01000193, b = w, c = k ^ w;
        const key = `${a}/${b}/${c}`;
        if (ins) { t.set(a, b, c, 0, n); m.set(key, n); n++; } else { const v = t.delete(a, b, c, 0); expect(v).toBe(m.get(key) ?? -1); m.delete(key); }
        expect(t.size).toBe(m.size);
      }
      for (const [key, v] of m) {
        const [a, b, c] = key.split('/').map(Number) as [number, number, number];
        expect(t.get(a, b, c, 0)).toBe(v);
      }
    }), { numRuns: 200 });
  });
});
