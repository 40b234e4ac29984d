/**
 * Conntrack NAT (src/conntrack/conntrack.ts nat selection, nat.ts rewrite):
 * translated bytes, reverse translation of replies and of ICMP errors, port
 * choice and exhaustion — with every checksum verified by a full recompute
 * (wire/checksum.ts), independent of the incremental updates under test.
 */
import { describe, expect, it } from 'vitest';
import { Conntrack, CtResult, ctStateToString, type CtExecSpec, type NatRange } from '../../src/conntrack/index.js';
import { be16, be32, parseIpv4, parseIpv6 } from '../../src/wire/bytes.js';
import { fold, ipv4PseudoSum, ipv6PseudoSum, sum16 } from '../../src/wire/checksum.js';
import { FrameBuilder } from '../../src/wire/builder.js';

const A = '10.0.0.1', B = '10.0.0.2', C = '10.0.0.3', NAT_IP = '192.168.0.100';
const ip = (s: string): number => parseIpv4(s)!;

function spec(o: Partial<CtExecSpec> = {}): CtExecSpec {
  return { zone: 0, commit: false, force: false, nat: null, mark: null, label: null, ...o };
}
function natRange(kind: 'src' | 'dst', addrMin: number | Uint8Array, portMin = 0, portMax = 0, addrMax: number | Uint8Array = 0,
  flags?: NatRange['flags']): NatRange {
  return { kind, addrMin, addrMax, portMin, portMax, ...(flags ? { flags } : {}) };
}
const commitNat = (r: NatRange): CtExecSpec => spec({ commit: true, nat: { range: r } });
const NAT = spec({ nat: { range: null } });

const eth = (): FrameBuilder => new FrameBuilder().eth({ src: '00:00:00:00:00:01', dst: '00:00:00:00:00:02' });
const tcp = (s: string, d: string, sp: number, dp: number, flags: string, seq: number, ack = 0): Uint8Array =>
  eth().ipv4({ src: s, dst: d }).tcp({ srcPort: sp, dstPort: dp, flags, seq, ack, window: 1000 }).payload('data').build();
const udp = (s: string, d: string, sp: number, dp: number, checksum?: number): Uint8Array =>
  eth().ipv4({ src: s, dst: d }).udp({ srcPort: sp, dstPort: dp, ...(checksum !== undefined ? { checksum } : {}) }).payload('hello').build();

function run(ct: Conntrack, f: Uint8Array, s: CtExecSpec, now = 0): CtResult {
  const out = new CtResult();
  ct.execute(f, 14, f.length, be16(f, 12), s, now, out);
  return out;
}
const st = (r: CtResult): string => ctStateToString(r.state);

/** Every checksum in an Ethernet/IPv4|IPv6 frame, recomputed from scratch (inner headers of ICMP errors too). */
function checksumsOk(f: Uint8Array): boolean {
  const type = be16(f, 12);
  if (type === 0x0800) {
    const l3 = 14, ihl = (f[l3]! & 15) * 4, end = l3 + be16(f, l3 + 2), l4 = l3 + ihl, proto = f[l3 + 9]!;
    if (fold(sum16(f, l3, l4)) !== 0) return false;
    const ps = ipv4PseudoSum(be32(f, l3 + 12), be32(f, l3 + 16), proto, end - l4);
    if (proto === 6) return fold(sum16(f, l4, end, ps)) === 0;
    if (proto === 17) return be16(f, l4 + 6) === 0 || fold(sum16(f, l4, end, ps)) === 0;
    if (proto === 1) {
      if (fold(sum16(f, l4, end)) !== 0) return false;
      if (f[l4] === 3 || f[l4] === 11) return fold(sum16(f, l4 + 8, l4 + 8 + (f[l4 + 8]! & 15) * 4)) === 0;
      return true;
    }
    return true;
  }
  const l3 = 14, l4 = l3 + 40, end = l4 + be16(f, l3 + 4), proto = f[l3 + 6]!;
  const ps = ipv6PseudoSum(f, l3 + 8, l3 + 24, proto, end - l4);
  return proto === 6 || proto === 17 || proto === 58 ? fold(sum16(f, l4, end, ps)) === 0 : true;
}

const src4 = (f: Uint8Array): number => be32(f, 26), dst4 = (f: Uint8Array): number => be32(f, 30);
const sport = (f: Uint8Array): number => be16(f, 34), dport = (f: Uint8Array): number => be16(f, 36);

describe('SNAT', () => {
  it('keeps the source port when free; the reply is translated back with ct(nat)', () => {
    const ct = new Conntrack();
    const syn = tcp(A, B, 1234, 80, 'S', 1000);
    const r = run(ct, syn, commitNat(natRange('src', ip(NAT_IP))));
    expect(st(r)).toBe('+new+trk+snat');
    expect([src4(syn), dst4(syn), sport(syn), dport(syn)]).toEqual([ip(NAT_IP), ip(B), 1234, 80]);
    expect(checksumsOk(syn)).toBe(true);
    expect(ct.dump()).toEqual(['tcp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=1234,dport=80),reply=(src=10.0.0.2,dst=192.168.0.100,sport=80,dport=1234),protoinfo=(state=SYN_SENT)']);

    const synAck = tcp(B, NAT_IP, 80, 1234, 'SA', 5000, 1001);
    const untranslated = synAck.slice();
    expect(st(run(ct, untranslated, spec()))).toBe('+est+rpl+trk'); // no nat in the action: bytes unchanged
    expect(untranslated).toEqual(synAck);
    const r2 = run(ct, synAck, NAT);
    expect(st(r2)).toBe('+est+rpl+trk+dnat');
    expect([src4(synAck), dst4(synAck), sport(synAck), dport(synAck)]).toEqual([ip(B), ip(A), 80, 1234]);
    expect(checksumsOk(synAck)).toBe(true);

    // ct(nat) without a range on the existing connection applies its binding
    const ack = tcp(A, B, 1234, 80, 'A', 1001, 5001);
    expect(st(run(ct, ack, NAT))).toBe('+est+trk+snat');
    expect(src4(ack)).toBe(ip(NAT_IP));
    expect(checksumsOk(ack)).toBe(true);
  });

  it('a colliding source port gets another ephemeral port, replies go to the right client', () => {
    const ct = new Conntrack();
    const nat = commitNat(natRange('src', ip(NAT_IP)));
    const p1 = udp(A, B, 40000, 53), p2 = udp(C, B, 40000, 53);
    run(ct, p1, nat);
    run(ct, p2, nat);
    expect(sport(p1)).toBe(40000);
    expect(sport(p2)).not.toBe(40000);
    expect(sport(p2)).toBeGreaterThanOrEqual(1024);
    expect(checksumsOk(p2)).toBe(true);
    const back = udp(B, NAT_IP, 53, sport(p2));
    expect(st(run(ct, back, NAT))).toBe('+est+rpl+trk+dnat');
    expect([dst4(back), dport(back)]).toEqual([ip(C), 40000]);
    expect(checksumsOk(back)).toBe(true);
  });

  it('low source ports stay in their class (1-511, 600-1023)', () => {
    const ct = new Conntrack();
    const nat = commitNat(natRange('src', ip(NAT_IP)));
    const a = udp(A, B, 100, 53), b = udp(C, B, 100, 53), c = udp(A, B, 700, 53), d = udp(C, B, 700, 53);
    for (const f of [a, b, c, d]) run(ct, f, nat);
    expect(sport(a)).toBe(100);
    expect(sport(b)).toBeGreaterThanOrEqual(1);
    expect(sport(b)).toBeLessThanOrEqual(511);
    expect(sport(b)).not.toBe(100);
    expect(sport(c)).toBe(700);
    expect(sport(d)).toBeGreaterThanOrEqual(600);
    expect(sport(d)).toBeLessThanOrEqual(1023);
  });

  it('a port range is used from a hashed start; exhaustion leaves the packet +new with no entry', () => {
    const ct = new Conntrack();
    const nat = commitNat(natRange('src', ip(NAT_IP), 5000, 5003));
    const ports = new Set<number>();
    for (let i = 0; i < 4; i++) {
      const f = udp(A, B, 30000 + i, 53);
      expect(st(run(ct, f, nat))).toBe('+new+trk+snat');
      ports.add(sport(f));
    }
    expect([...ports].sort()).toEqual([5000, 5001, 5002, 5003]);
    const f = udp(A, B, 31000, 53);
    const copy = f.slice();
    const r = run(ct, f, nat);
    expect(st(r)).toBe('+new+trk');
    expect(f).toEqual(copy);
    expect(ct.size).toBe(4);
    expect(ct.counters.natExhausted).toBe(1);
  });

  it('an address range picks an address inside it; flags are accepted; the same seed gives the same choice', () => {
    const choose = (flags: NatRange['flags'], seed: number): [number, number] => {
      const ct = new Conntrack({ seed });
      const f = udp(A, B, 1234, 53);
      run(ct, f, commitNat(natRange('src', ip('192.168.0.1'), 2000, 2999, ip('192.168.0.4'), flags)));
      return [src4(f), sport(f)];
    };
    for (const flags of [undefined, { random: true }, { hash: true }, { persistent: true }]) {
      const [a, p] = choose(flags, 7);
      expect(a).toBeGreaterThanOrEqual(ip('192.168.0.1'));
      expect(a).toBeLessThanOrEqual(ip('192.168.0.4'));
      expect(p).toBeGreaterThanOrEqual(2000);
      expect(p).toBeLessThanOrEqual(2999);
      expect(choose(flags, 7)).toEqual([a, p]);
    }
  });

  it('a zero UDP checksum stays zero; a nonzero one stays valid', () => {
    const ct = new Conntrack();
    const z = udp(A, B, 1000, 53, 0);
    run(ct, z, commitNat(natRange('src', ip(NAT_IP))));
    expect(be16(z, 40)).toBe(0);
    expect(src4(z)).toBe(ip(NAT_IP));
    expect(checksumsOk(z)).toBe(true);
  });

  it('ICMP echo: the id is kept when free, changed on collision, restored in the reply', () => {
    const ct = new Conntrack();
    const nat = commitNat(natRange('src', ip(NAT_IP)));
    const echo = (s: string, d: string, type: number, ident: number): Uint8Array =>
      eth().ipv4({ src: s, dst: d }).icmp({ type, ident, seq: 3 }).payload('ping').build();
    const e1 = echo(A, B, 8, 0x4242), e2 = echo(C, B, 8, 0x4242);
    run(ct, e1, nat);
    run(ct, e2, nat);
    expect(be16(e1, 38)).toBe(0x4242);
    expect(be16(e2, 38)).not.toBe(0x4242);
    expect(checksumsOk(e2)).toBe(true);
    const rep = echo(B, NAT_IP, 0, be16(e2, 38));
    expect(st(run(ct, rep, NAT))).toBe('+est+rpl+trk+dnat');
    expect([dst4(rep), be16(rep, 38)]).toEqual([ip(C), 0x4242]);
    expect(checksumsOk(rep)).toBe(true);
  });

  it('RELATED: an ICMP error about a translated flow gets its outer and quoted headers translated back', () => {
    const ct = new Conntrack();
    const nat = commitNat(natRange('src', ip(NAT_IP), 6000, 6000));
    const out = udp(A, B, 1000, 53);
    run(ct, out, nat);
    expect([src4(out), sport(out)]).toEqual([ip(NAT_IP), 6000]);
    const err = eth().ipv4({ src: '192.0.2.1', dst: NAT_IP }).icmp({ type: 11, code: 0 })
      .ipv4({ src: NAT_IP, dst: B, ttl: 1 }).udp({ srcPort: 6000, dstPort: 53 }).payload('hello').build();
    const r = run(ct, err, NAT);
    expect(st(r)).toBe('+rel+rpl+trk+dnat');
    expect(dst4(err)).toBe(ip(A)); // outer destination
    const inner = 14 + 20 + 8;
    expect([be32(err, inner + 12), be32(err, inner + 16)]).toEqual([ip(A), ip(B)]);
    expect([be16(err, inner + 20), be16(err, inner + 22)]).toEqual([1000, 53]);
    expect(checksumsOk(err)).toBe(true);
    // the quoted datagram equals what A originally sent (checksum included)
    const orig = udp(A, B, 1000, 53);
    const quoted = eth().ipv4({ src: A, dst: B, ttl: 1 }).udp({ srcPort: 1000, dstPort: 53 }).payload('hello').build();
    expect(err.slice(inner + 20)).toEqual(quoted.slice(34));
    expect(orig.length).toBe(quoted.length);
  });

  it('IPv6 SNAT rewrites the address with a valid checksum and translates the reply back', () => {
    const ct = new Conntrack();
    const f = eth().ipv6({ src: 'fd00::1', dst: 'fd00::2' }).tcp({ srcPort: 999, dstPort: 80, flags: 'S', seq: 1 }).build();
    const r = run(ct, f, commitNat(natRange('src', parseIpv6('fd00::100')!)));
    expect(st(r)).toBe('+new+trk+snat');
    expect(f.slice(22, 38)).toEqual(parseIpv6('fd00::100'));
    expect(checksumsOk(f)).toBe(true);
    const back = eth().ipv6({ src: 'fd00::2', dst: 'fd00::100' }).tcp({ srcPort: 80, dstPort: 999, flags: 'SA', seq: 9, ack: 2 }).build();
    expect(st(run(ct, back, NAT))).toBe('+est+rpl+trk+dnat');
    expect(back.slice(38, 54)).toEqual(parseIpv6('fd00::1'));
    expect(checksumsOk(back)).toBe(true);
  });
});

describe('DNAT', () => {
  it('translates destination address and port; the reply source is translated back', () => {
    const ct = new Conntrack();
    const VIP = '10.96.0.10', POD = '10.244.1.5';
    const syn = tcp(A, VIP, 40000, 80, 'S', 1);
    const r = run(ct, syn, commitNat(natRange('dst', ip(POD), 8080, 8080)));
    expect(st(r)).toBe('+new+trk+dnat');
    expect([src4(syn), dst4(syn), sport(syn), dport(syn)]).toEqual([ip(A), ip(POD), 40000, 8080]);
    expect(checksumsOk(syn)).toBe(true);
    expect(ct.dump()).toEqual(['tcp,orig=(src=10.0.0.1,dst=10.96.0.10,sport=40000,dport=80),reply=(src=10.244.1.5,dst=10.0.0.1,sport=8080,dport=40000),protoinfo=(state=SYN_SENT)']);
    const synAck = tcp(POD, A, 8080, 40000, 'SA', 77, 2);
    expect(st(run(ct, synAck, NAT))).toBe('+est+rpl+trk+snat');
    expect([src4(synAck), sport(synAck)]).toEqual([ip(VIP), 80]);
    expect(checksumsOk(synAck)).toBe(true);
  });

  it('a second ct(nat) in the same zone does not translate twice; in another zone the packet is looked up afresh', () => {
    const ct = new Conntrack();
    const f = udp(A, '10.96.0.10', 5555, 53);
    const out = new CtResult();
    const s1 = commitNat(natRange('dst', ip('10.244.0.9')));
    ct.execute(f, 14, f.length, 0x800, s1, 0, out);
    const once = f.slice();
    ct.execute(f, 14, f.length, 0x800, NAT, 0, out);
    expect(f).toEqual(once);
    expect(ctStateToString(out.state)).toBe('+new+trk+dnat');
    ct.execute(f, 14, f.length, 0x800, spec({ zone: 3 }), 0, out);
    expect(ctStateToString(out.state)).toBe('+new+trk');
  });
});

describe('plain ct(commit,nat) on a new connection', () => {
  it('translates nothing and stores the degenerate reply tuple OVS stores (nat_action 0)', () => {
    const ct = new Conntrack();
    const f = udp(A, B, 1000, 53);
    const copy = f.slice();
    const r = run(ct, f, spec({ commit: true, nat: { range: null } }));
    expect(st(r)).toBe('+new+trk');
    expect(f).toEqual(copy);
    expect(ct.dump()).toEqual(['udp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=1000,dport=53),reply=(src=0.0.0.0,dst=10.0.0.1,sport=53,dport=0)']);
  });
});
