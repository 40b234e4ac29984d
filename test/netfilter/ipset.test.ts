/**
 * ipset.ts tests. No `ipset` binary and no ip_set kernel modules can be used
 * here (checked: `which ipset` is empty), so expectations come from ipset(8),
 * the kernel's ip_set_core.c / ip_set_hash_gen.h and kube-proxy's ipset
 * usage (pkg/proxy/ipvs/ipset.go set names and types), not from a live run.
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

  it('hash:ip expands ranges and CIDRs to addresses', () => {
    const s = new Ipsets();
    s.create('A', 'hash:ip');
    s.add('A', '10.0.0.1-10.0.0.3');
    s.add('A', '192.168.0.4/30');
    expect(s.get('A')!.members.size).toBe(7);
    expect(s.test('A', '10.0.0.2')).toBe(true);
    expect(s.test('A', '192.168.0.7')).toBe(true);
    expect(s.test('A', '192.168.0.8')).toBe(false);
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
  });

  it('a bare port is tcp; port ranges expand', () => {
    const s = new Ipsets();
    s.create('P', 'hash:ip,port');
    s.add('P', '10.0.0.1,80');
    s.add('P', '10.0.0.1,udp:1000-1002');
    expect(s.save()).toBe('create P hash:ip,port family inet hashsize 1024 maxelem 65536\n'
      + 'add P 10.0.0.1,tcp:80\nadd P 10.0.0.1,udp:1000\nadd P 10.0.0.1,udp:1001\nadd P 10.0.0.1,udp:1002\n');
  });

  it('hash:ip,port,ip (KUBE-LOOP-BACK) matches dst,dst,src hairpin traffic', () => {
    const s = new Ipsets();
    s.create('KUBE-LOOP-BACK', 'hash:ip,port,ip');
    s.add('KUBE-LOOP-BACK', '10.244.1.5,tcp:6443,10.244.1.5');
    expect(s.matches('KUBE-LOOP-BACK', ['dst', 'dst', 'src'], pkt('10.244.1.5', 5555, '10.244.1.5', 6443))).toBe(true);
    expect(s.matches('KUBE-LOOP-BACK', ['dst', 'dst', 'src'], pkt('10.244.1.6', 5555, '10.244.1.5', 6443))).toBe(false);
    expect(s.matches('KUBE-LOOP-BACK', ['dst', 'dst'], pkt('10.244.1.5', 5555, '10.244.1.5', 6443))).toBe(false);
  });

  it('hash:ip,port,net (KUBE-LOAD-BALANCER-SOURCE-CIDR) matches any stored prefix of the source', () => {
    const s = new Ipsets();
    s.create('KUBE-LOAD-BALANCER-SOURCE-CIDR', 'hash:ip,port,net');
    s.add('KUBE-LOAD-BALANCER-SOURCE-CIDR', '1.2.3.4,tcp:80,10.0.0.0/8');
    s.add('KUBE-LOAD-BALANCER-SOURCE-CIDR', '1.2.3.4,tcp:80,192.168.1.0/24');
    const m = (src: string): boolean => s.matches('KUBE-LOAD-BALANCER-SOURCE-CIDR', ['dst', 'dst', 'src'], pkt(src, 9, '1.2.3.4', 80));
    expect(m('10.200.3.4')).toBe(true);
    expect(m('192.168.1.77')).toBe(true);
    expect(m('192.168.2.77')).toBe(false);
    expect(s.test('KUBE-LOAD-BALANCER-SOURCE-CIDR', '1.2.3.4,tcp:80,10.1.0.0/16')).toBe(true);
    s.del('KUBE-LOAD-BALANCER-SOURCE-CIDR', '1.2.3.4,tcp:80,10.0.0.0/8');
    expect(m('10.200.3.4')).toBe(false);
    expect(m('192.168.1.77')).toBe(true);
  });

  it('hash:net: any containing net matches, nets are normalised, /32 prints bare, /0 is refused', () => {
    const s = new Ipsets();
    s.create('N', 'hash:net');
    s.add('N', '10.1.2.3/8');
    s.add('N', '10.1.0.0/16');
    s.add('N', '172.16.0.1');
    expect([...s.get('N')!.members.keys()]).toEqual(['10.0.0.0/8', '10.1.0.0/16', '172.16.0.1']);
    expect(s.matches('N', ['src'], pkt('10.9.9.9', 1, '1.1.1.1', 1))).toBe(true);
    expect(s.matches('N', ['src'], pkt('10.1.9.9', 1, '1.1.1.1', 1))).toBe(true);
    expect(s.matches('N', ['src'], pkt('172.16.0.1', 1, '1.1.1.1', 1))).toBe(true);
    expect(s.matches('N', ['src'], pkt('172.16.0.2', 1, '1.1.1.1', 1))).toBe(false);
    s.del('N', '10.0.0.0/8');
    expect(s.matches('N', ['src'], pkt('10.9.9.9', 1, '1.1.1.1', 1))).toBe(false);
    expect(s.matches('N', ['src'], pkt('10.1.9.9', 1, '1.1.1.1', 1))).toBe(true);
    expect(code(() => s.add('N', '10.0.0.0/0'))).toBe('IPSET_BAD_CIDR@0');
    expect(s.get('N')!.cidrs).toEqual(Int8Array.from([32, 16]));
  });

  it('bitmap:port (KUBE-NODE-PORT-TCP) matches ports in range on port protocols only', () => {
    const s = new Ipsets();
    s.create('KUBE-NODE-PORT-TCP', 'bitmap:port', { range: { min: 0, max: 65535 } });
    s.add('KUBE-NODE-PORT-TCP', '30080');
    const set = s.get('KUBE-NODE-PORT-TCP')!;
    expect(matchesSet(set, ['dst'], pkt('1.1.1.1', 1, '2.2.2.2', 30080))).toBe(true);
    expect(matchesSet(set, ['dst'], pkt('1.1.1.1', 1, '2.2.2.2', 30081))).toBe(false);
    expect(matchesSet(set, ['dst'], pkt('1.1.1.1', 1, '2.2.2.2', 30080, 1))).toBe(false); // ICMP: no ports
    expect(matchesSet(set, ['src'], pkt('1.1.1.1', 30080, '2.2.2.2', 1))).toBe(true);
    s.create('R', 'bitmap:port', { range: { min: 1000, max: 2000 } });
    expect(code(() => s.add('R', '999'))).toBe('IPSET_OUT_OF_RANGE@0');
    expect(code(() => s.create('X', 'bitmap:port'))).toBe('IPSET_MISSING_RANGE@0');
    s.restore('create Y bitmap:port range 2000-1000\nadd Y tcp:1500');
    expect(s.save('Y')).toBe('create Y bitmap:port range 1000-2000\nadd Y 1500\n');
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
    s.create('A', 'hash:ip', {}, { exist: true });
    expect(code(() => s.create('A', 'hash:net', {}, { exist: true }))).toBe('IPSET_EXISTS@0');
  });

  it('swap trades contents between names; types must match; destroy refuses a held set', () => {
    const s = new Ipsets();
    s.create('A', 'hash:ip'); s.add('A', '1.1.1.1');
    s.create('B', 'hash:ip'); s.add('B', '2.2.2.2');
    s.hold('A');
    s.swap('A', 'B');
    expect(s.test('A', '2.2.2.2')).toBe(true);
    expect(s.test('B', '1.1.1.1')).toBe(true);
    expect(s.get('A')!.refs).toBe(1); // the rule's reference stays with the name
    expect(code(() => s.destroy('A'))).toBe('IPSET_IN_USE@0');
    s.release('A');
    s.destroy('A');
    expect(s.get('A')).toBeUndefined();
    s.create('N', 'hash:net');
    expect(code(() => s.swap('B', 'N'))).toBe('IPSET_SWAP_TYPE@0');
  });

  it('maxelem bounds hash sets', () => {
    const s = new Ipsets();
    s.create('A', 'hash:ip', { maxelem: 2 });
    s.add('A', '1.1.1.1'); s.add('A', '1.1.1.2');
    expect(code(() => s.add('A', '1.1.1.3'))).toBe('IPSET_FULL@0');
  });
});

// The kube-proxy ipvs-mode sets (pkg/proxy/ipvs/ipset.go) in the save format its tests expect.
const KUBE_SAVE = `create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536
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

describe('ipset save / restore', () => {
  it('loads the kube-proxy sets and saves them back byte for byte', () => {
    const s = new Ipsets();
    s.restore(KUBE_SAVE);
    expect(s.names()).toHaveLength(10);
    expect(s.save()).toBe(KUBE_SAVE);
    expect(s.matches('KUBE-CLUSTER-IP', ['dst', 'dst'], pkt('10.244.1.5', 1234, '10.96.0.10', 53, 17))).toBe(true);
  });

  it('runs flush/del/swap/destroy lines and skips comments and COMMIT', () => {
    const s = new Ipsets();
    s.restore(`# generated\ncreate A hash:ip\ncreate B hash:ip\nadd A 1.1.1.1\nadd B 2.2.2.2\nswap A B\ndel A 2.2.2.2\nflush B\ndestroy B\nCOMMIT\n`);
    expect(s.save()).toBe('create A hash:ip family inet hashsize 1024 maxelem 65536\n');
  });

  it.each([
    ['add NOPE 1.1.1.1', 'IPSET_NO_SET@1'],
    ['create A hash:ip\nadd A 1.1.1.300', 'IPSET_BAD_IP@2'],
    ['create A hash:mac', 'IPSET_UNKNOWN_TYPE@1'],
    ['create A hash:ip family inet6', 'IPSET_UNSUPPORTED@1'],
    ['create A hash:ip hashsize x', 'IPSET_BAD_OPTION@1'],
    ['create A hash:ip bogus', 'IPSET_UNKNOWN_ARG@1'],
    ['create A hash:ip,port\n\nadd A 1.1.1.1,icmpx:3', 'IPSET_BAD_PROTO@3'],
    ['create A hash:ip,port\nadd A 1.1.1.1,tcp:70000', 'IPSET_BAD_PORT@2'],
    ['create A hash:ip,port\nadd A 1.1.1.1', 'IPSET_BAD_ELEMENT@2'],
    ['create A hash:ip\nadd A 1.1.1.1 comment "x"', 'IPSET_NO_COMMENT@2'],
    ['frobnicate A', 'IPSET_UNKNOWN_COMMAND@1'],
    ['create A hash:ip\ncreate A hash:ip', 'IPSET_EXISTS@2'],
    ['create A hash:ip\ntest A 1.1.1.1', 'IPSET_NOT_IN_SET@2'],
    ['create A hash:ip comment\nadd A 1.1.1.1 comment "unterminated', 'IPSET_BAD_QUOTE@2'],
  ])('%j fails with %s', (text, expected) => {
    expect(code(() => new Ipsets().restore(text))).toBe(expected);
  });

  it('restore -exist tolerates re-adds and identical re-creates', () => {
    const s = new Ipsets();
    s.restore(KUBE_SAVE);
    s.restore(KUBE_SAVE, { exist: true });
    expect(s.save()).toBe(KUBE_SAVE);
  });

  it('property: arbitrary restore text throws only IpsetError', () => {
    const word = fc.oneof(
      fc.constantFrom('create', 'add', 'del', 'test', 'flush', 'destroy', 'swap', 'rename', 'A', 'B', 'hash:ip', 'hash:net',
        'hash:ip,port', 'hash:ip,port,ip', 'hash:ip,port,net', 'bitmap:port', 'range', '0-65535', 'family', 'inet', 'hashsize',
        'maxelem', '10.0.0.1', '10.0.0.0/8', '10.0.0.1,tcp:80', '1.2.3.4,udp:53,10.0.0.0/24', 'comment', '"x y"', '-exist',
        '80', 'tcp:80-90', '1.1.1.1-1.1.1.9', 'timeout', 'counters', 'COMMIT'),
      fc.string({ maxLength: 12 }),
    );
    const line = fc.array(word, { maxLength: 7 }).map((ws) => ws.join(' '));
    fc.assert(fc.property(fc.array(line, { maxLength: 12 }), (lines) => {
      try { new Ipsets().restore(lines.join('\n')); } catch (e) { if (!(e instanceof IpsetError)) throw e; }
    }), { numRuns: 400 });
  });

  it('property: save → restore → save is stable', () => {
    const el = fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom('tcp', 'udp', 'sctp'), fc.integer({ min: 0, max: 65535 }),
      fc.integer({ min: 1, max: 32 }), fc.integer({ min: 0, max: 0xffffffff }));
    fc.assert(fc.property(fc.array(el, { maxLength: 30 }), (els) => {
      const s = new Ipsets();
      s.create('P', 'hash:ip,port,net');
      s.create('N', 'hash:net');
      for (const [a, pr, port, cidr, b] of els) {
        const ipA = `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
        const ipB = `${b >>> 24}.${(b >>> 16) & 255}.${(b >>> 8) & 255}.${b & 255}`;
        s.add('P', `${ipA},${pr}:${port},${ipB}/${cidr}`, { exist: true });
        s.add('N', `${ipB}/${cidr}`, { exist: true });
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
