/**
 * Conntrack behaviour (src/conntrack/conntrack.ts, tcp.ts, tuple.ts) on real
 * frames built with wire/builder.ts. Expected states follow OVS's userspace
 * conntrack (lib/conntrack*.c); conntrack-ovs.test.ts compares the same kind
 * of exchange with a real ovs-vswitchd.
 */
import { describe, expect, it } from 'vitest';
import {
  Conntrack, CtResult, CS_ESTABLISHED, CS_INVALID, CS_NEW, CS_RELATED, CS_REPLY_DIR, CS_TRACKED, ctStateToString,
  type CtExecSpec,
} from '../../src/conntrack/index.js';
import { be16, setBe16 } from '../../src/wire/bytes.js';
import { FrameBuilder, type TcpOptions } from '../../src/wire/builder.js';

const A = '10.0.0.1', B = '10.0.0.2';

function spec(o: Partial<CtExecSpec> = {}): CtExecSpec {
  return { zone: 0, commit: false, force: false, nat: null, mark: null, label: null, ...o };
}
const COMMIT = spec({ commit: true });
const TRACK = spec();

function eth(): FrameBuilder {
  return new FrameBuilder().eth({ src: '00:00:00:00:00:01', dst: '00:00:00:00:00:02' });
}
function tcp(src: string, dst: string, o: TcpOptions, payload = ''): Uint8Array {
  const f = eth().ipv4({ src, dst }).tcp({ window: 1000, ...o });
  return (payload ? f.payload(payload) : f).build();
}
function udp(src: string, dst: string, sp: number, dp: number, payload = 'x'): Uint8Array {
  return eth().ipv4({ src, dst }).udp({ srcPort: sp, dstPort: dp }).payload(payload).build();
}
function echo(src: string, dst: string, type: number, ident: number): Uint8Array {
  return eth().ipv4({ src, dst }).icmp({ type, ident, seq: 1 }).payload('ping').build();
}

/** Run one packet through 'ct' with a fresh metadata block; returns the metadata. */
function run(ct: Conntrack, frame: Uint8Array, s: CtExecSpec = TRACK, now = 0): CtResult {
  const out = new CtResult();
  ct.execute(frame, 14, frame.length, be16(frame, 12), s, now, out);
  return out;
}
const st = (r: CtResult): string => ctStateToString(r.state);

describe('ct_state basics', () => {
  it('a packet that is not IP is not tracked', () => {
    const ct = new Conntrack();
    const arp = eth().arp({ spa: A, tpa: B }).build();
    const r = run(ct, arp, COMMIT);
    expect(r.state).toBe(0);
    expect(ct.size).toBe(0);
  });

  it('without commit nothing is stored and a new connection stays +new', () => {
    const ct = new Conntrack();
    for (let i = 0; i < 3; i++) expect(st(run(ct, udp(A, B, 1000, 53)))).toBe('+new+trk');
    expect(ct.size).toBe(0);
    expect(ct.dump()).toEqual([]);
  });

  it('exports the OVS bit values', () => {
    expect([CS_NEW, CS_ESTABLISHED, CS_RELATED, CS_REPLY_DIR, CS_INVALID, CS_TRACKED]).toEqual([1, 2, 4, 8, 0x10, 0x20]);
  });

  it('reports the original-direction tuple (ct_nw_src/dst, ct_tp_src/dst)', () => {
    const ct = new Conntrack();
    run(ct, udp(A, B, 1000, 53), COMMIT);
    const r = run(ct, udp(B, A, 53, 1000));
    expect(st(r)).toBe('+est+rpl+trk');
    expect([r.origProto, r.origSrc[0], r.origDst[0], r.origTpSrc, r.origTpDst]).toEqual([17, 0x0a000001, 0x0a000002, 1000, 53]);
  });
});

describe('TCP', () => {
  const c = (o: TcpOptions, payload = ''): Uint8Array => tcp(A, B, { srcPort: 1234, dstPort: 80, ...o }, payload);
  const s = (o: TcpOptions, payload = ''): Uint8Array => tcp(B, A, { srcPort: 80, dstPort: 1234, ...o }, payload);
  const proto = (ct: Conntrack): string => /protoinfo=\(state=(\w+)\)/.exec(ct.dump()[0] ?? '')?.[1] ?? 'none';

  it('a whole exchange: ct_state and protoinfo after every packet', () => {
    const ct = new Conntrack();
    const steps: [Uint8Array, string, string][] = [
      [c({ flags: 'S', seq: 1000 }), '+new+trk', 'SYN_SENT'],
      [s({ flags: 'SA', seq: 5000, ack: 1001 }), '+est+rpl+trk', 'ESTABLISHED'],
      [c({ flags: 'A', seq: 1001, ack: 5001 }), '+est+trk', 'ESTABLISHED'],
      [c({ flags: 'PA', seq: 1001, ack: 5001 }, 'hello'), '+est+trk', 'ESTABLISHED'],
      [s({ flags: 'A', seq: 5001, ack: 1006 }), '+est+rpl+trk', 'ESTABLISHED'],
      [c({ flags: 'FA', seq: 1006, ack: 5001 }), '+est+trk', 'CLOSING'],
      [s({ flags: 'FA', seq: 5001, ack: 1007 }), '+est+rpl+trk', 'TIME_WAIT'],
      [c({ flags: 'A', seq: 1007, ack: 5002 }), '+est+trk', 'TIME_WAIT'],
    ];
    let now = 0;
    for (const [frame, state, info] of steps) {
      now += 1;
      expect(st(run(ct, frame, COMMIT, now))).toBe(state);
      expect(proto(ct)).toBe(info);
    }
    expect(ct.dump()).toEqual(['tcp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=1234,dport=80),reply=(src=10.0.0.2,dst=10.0.0.1,sport=80,dport=1234),protoinfo=(state=TIME_WAIT)']);
    // closed on both sides: tcp_close (30 s) applies
    expect(ct.expire(now + 29_999)).toBe(0);
    expect(ct.expire(now + 30_000)).toBe(1);
  });

  it('a SYN reusing a closed connection replaces it (CT_UPDATE_NEW)', () => {
    const ct = new Conntrack();
    run(ct, c({ flags: 'S', seq: 1000 }), COMMIT);
    run(ct, s({ flags: 'SA', seq: 5000, ack: 1001 }), COMMIT);
    run(ct, c({ flags: 'FA', seq: 1001, ack: 5001 }), COMMIT);
    run(ct, s({ flags: 'FA', seq: 5001, ack: 1002 }), COMMIT);
    run(ct, c({ flags: 'A', seq: 1002, ack: 5002 }), COMMIT);
    expect(proto(ct)).toBe('TIME_WAIT');
    expect(st(run(ct, c({ flags: 'S', seq: 90000 }), COMMIT))).toBe('+new+trk');
    expect(ct.size).toBe(1);
    expect(proto(ct)).toBe('SYN_SENT');
  });

  it('RST in window closes the connection; RST out of window is +inv', () => {
    const ct = new Conntrack();
    run(ct, c({ flags: 'S', seq: 1000 }), COMMIT);
    run(ct, s({ flags: 'SA', seq: 5000, ack: 1001 }), COMMIT);
    expect(st(run(ct, s({ flags: 'R', seq: 777777 }), COMMIT))).toBe('+inv+trk');
    expect(proto(ct)).toBe('ESTABLISHED');
    expect(st(run(ct, s({ flags: 'RA', seq: 5001, ack: 1001 }), COMMIT))).toBe('+est+rpl+trk');
    expect(proto(ct)).toBe('TIME_WAIT');
  });

  it('retransmitted SYN stays +new; data far outside the window is +inv', () => {
    const ct = new Conntrack();
    run(ct, c({ flags: 'S', seq: 1000 }), COMMIT);
    expect(st(run(ct, c({ flags: 'S', seq: 1000 }), COMMIT))).toBe('+new+trk');
    run(ct, s({ flags: 'SA', seq: 5000, ack: 1001 }), COMMIT);
    run(ct, c({ flags: 'A', seq: 1001, ack: 5001 }), COMMIT);
    expect(st(run(ct, c({ flags: 'PA', seq: 1001 + 500000, ack: 5001 }, 'x'), COMMIT))).toBe('+inv+trk');
    expect(st(run(ct, c({ flags: 'PA', seq: 1001, ack: 5001 }, 'x'), COMMIT))).toBe('+est+trk');
  });

  it('tcp_valid_new: which first packets may create a connection', () => {
    const ct = new Conntrack();
    const first = (flags: string): string => st(run(ct, c({ flags, seq: 1 })));
    expect(first('S')).toBe('+new+trk');
    expect(first('A')).toBe('+new+trk'); // mid-stream pickup is allowed
    expect(first('SA')).toBe('+inv+trk');
    expect(first('F')).toBe('+inv+trk');
    expect(first('SF')).toBe('+inv+trk');
    expect(first('SR')).toBe('+inv+trk');
    expect(first('')).toBe('+inv+trk');
    expect(first('P')).toBe('+inv+trk');
  });

  it('window scaling is honoured (a scaled window admits data far ahead)', () => {
    const far = (shift: number | null): string => {
      const ct = new Conntrack();
      const o = (): TcpOptions['options'] => (shift === null ? [] : [{ kind: 'wscale', shift }]);
      run(ct, c({ flags: 'S', seq: 1000, window: 1000, options: o() }), COMMIT);
      run(ct, s({ flags: 'SA', seq: 5000, ack: 1001, window: 1000, options: o() }), COMMIT);
      run(ct, c({ flags: 'A', seq: 1001, ack: 5001, window: 1000 }), COMMIT);
      run(ct, s({ flags: 'A', seq: 5001, ack: 1001, window: 1000 }), COMMIT);
      return st(run(ct, c({ flags: 'PA', seq: 1001 + 100000, ack: 5001 }, 'x'), COMMIT));
    };
    // 1000 << 7 = 128000 bytes of window: 100000 ahead is in it; unscaled it is not
    expect(far(7)).toBe('+est+trk');
    expect(far(null)).toBe('+inv+trk');
  });
});

describe('UDP and "other"', () => {
  it('new until the reply, then established; timeouts udp_first/single/multiple', () => {
    const ct = new Conntrack();
    expect(st(run(ct, udp(A, B, 1000, 53), COMMIT, 0))).toBe('+new+trk');
    expect(st(run(ct, udp(A, B, 1000, 53), COMMIT, 1))).toBe('+new+trk'); // OTHERS_MULTIPLE: still new
    expect(st(run(ct, udp(B, A, 53, 1000), COMMIT, 2))).toBe('+est+rpl+trk');
    expect(st(run(ct, udp(A, B, 1000, 53), COMMIT, 3))).toBe('+est+trk');
    expect(ct.dump()).toEqual(['udp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=1000,dport=53),reply=(src=10.0.0.2,dst=10.0.0.1,sport=53,dport=1000)']);
    // bidirectional: udp_multiple = 30 s from the last packet
    expect(ct.expire(3 + 29_999)).toBe(0);
    expect(ct.expire(3 + 30_000)).toBe(1);
  });

  it('an unanswered flow lives udp_first (60 s); an expired entry is gone for lookups', () => {
    const ct = new Conntrack();
    run(ct, udp(A, B, 1000, 53), COMMIT, 0);
    expect(st(run(ct, udp(B, A, 53, 1000), TRACK, 59_999))).toBe('+est+rpl+trk');
    const ct2 = new Conntrack();
    run(ct2, udp(A, B, 1000, 53), COMMIT, 0);
    expect(st(run(ct2, udp(B, A, 53, 1000), TRACK, 60_000))).toBe('+new+trk');
    expect(ct2.dump()).toEqual([]);
    expect(ct2.size).toBe(1); // still held until the sweeper runs
    expect(ct2.expire(60_000)).toBe(1);
    expect(ct2.size).toBe(0);
  });

  it('other protocols are keyed by addresses and protocol', () => {
    const ct = new Conntrack();
    const gre = (s: string, d: string): Uint8Array => eth().ipv4({ src: s, dst: d, protocol: 47 }).payload('gre!').build();
    expect(st(run(ct, gre(A, B), COMMIT))).toBe('+new+trk');
    expect(st(run(ct, gre(B, A), COMMIT))).toBe('+est+rpl+trk');
    expect(ct.dump()).toEqual(['47,orig=(src=10.0.0.1,dst=10.0.0.2,sport=0,dport=0),reply=(src=10.0.0.2,dst=10.0.0.1,sport=0,dport=0)']);
  });
});

describe('ICMP', () => {
  it('echo request/reply by id; a reply with no entry is +inv', () => {
    const ct = new Conntrack();
    expect(st(run(ct, echo(A, B, 0, 0x1234)))).toBe('+inv+trk');
    expect(st(run(ct, echo(A, B, 8, 0x1234), COMMIT))).toBe('+new+trk');
    expect(st(run(ct, echo(A, B, 8, 0x1234), COMMIT))).toBe('+new+trk');
    expect(st(run(ct, echo(B, A, 0, 0x1234), COMMIT))).toBe('+est+rpl+trk');
    expect(st(run(ct, echo(A, B, 8, 0x1234), COMMIT))).toBe('+est+trk');
    expect(st(run(ct, echo(A, B, 8, 0x9999)))).toBe('+new+trk');
    expect(ct.dump()).toEqual(['icmp,orig=(src=10.0.0.1,dst=10.0.0.2,id=4660,type=8,code=0),reply=(src=10.0.0.2,dst=10.0.0.1,id=4660,type=0,code=0)']);
  });

  it('ICMPv6 echo is tracked; neighbour discovery is +inv', () => {
    const ct = new Conntrack();
    const e6 = (s: string, d: string, type: number): Uint8Array =>
      eth().ipv6({ src: s, dst: d }).icmpv6({ type, ident: 7, seq: 1 }).payload('ping').build();
    expect(st(run(ct, e6('fd00::1', 'fd00::2', 128), COMMIT))).toBe('+new+trk');
    expect(st(run(ct, e6('fd00::2', 'fd00::1', 129), COMMIT))).toBe('+est+rpl+trk');
    expect(ct.dump()).toEqual(['icmpv6,orig=(src=fd00::1,dst=fd00::2,id=7,type=128,code=0),reply=(src=fd00::2,dst=fd00::1,id=7,type=129,code=0)']);
    const ns = eth().ipv6({ src: 'fd00::1', dst: 'ff02::1:ff00:2', hopLimit: 255 }).icmpv6({ type: 135, rest: 0 }).payload(new Uint8Array(16)).build();
    expect(st(run(ct, ns, COMMIT))).toBe('+inv+trk');
  });

  it('RELATED: ICMP errors quoting a tracked connection, in either direction', () => {
    const ct = new Conntrack();
    run(ct, udp(A, B, 1000, 53), COMMIT);
    // B answers port unreachable, quoting A's datagram
    const unreach = eth().ipv4({ src: B, dst: A }).icmp({ type: 3, code: 3 })
      .ipv4({ src: A, dst: B }).udp({ srcPort: 1000, dstPort: 53 }).payload('x').build();
    expect(st(run(ct, unreach))).toBe('+rel+rpl+trk');
    // a router on the way answers time exceeded
    const ttl = eth().ipv4({ src: '192.0.2.1', dst: A }).icmp({ type: 11, code: 0 })
      .ipv4({ src: A, dst: B, ttl: 1 }).udp({ srcPort: 1000, dstPort: 53 }).payload('x').build();
    expect(st(run(ct, ttl))).toBe('+rel+rpl+trk');
    // about a datagram B sent (original direction of the quoted tuple reversed)
    const fwd = eth().ipv4({ src: A, dst: B }).icmp({ type: 3, code: 3 })
      .ipv4({ src: B, dst: A }).udp({ srcPort: 53, dstPort: 1000 }).payload('x').build();
    expect(st(run(ct, fwd))).toBe('+rel+trk');
    // the RELATED packet does not refresh or change the entry
    expect(ct.size).toBe(1);
  });

  it('RELATED requires a tracked connection and a consistent quote', () => {
    const ct = new Conntrack();
    run(ct, udp(A, B, 1000, 53), COMMIT);
    const about = (outerDst: string, innerSrc: string, dport: number): Uint8Array => eth().ipv4({ src: B, dst: outerDst })
      .icmp({ type: 3, code: 3 }).ipv4({ src: innerSrc, dst: B }).udp({ srcPort: 1000, dstPort: dport }).payload('x').build();
    expect(st(run(ct, about(A, A, 54), COMMIT))).toBe('+inv+trk'); // nothing tracked
    expect(st(run(ct, about('10.0.0.9', A, 53), COMMIT))).toBe('+inv+trk'); // inner src != outer dst
    const tcpQuote = eth().ipv4({ src: B, dst: A }).icmp({ type: 3, code: 4, mtu: 1400 })
      .ipv4({ src: A, dst: B }).tcp({ srcPort: 1234, dstPort: 80, truncate: 8 }).build();
    expect(st(run(ct, tcpQuote))).toBe('+inv+trk');
    run(ct, tcp(A, B, { srcPort: 1234, dstPort: 80, flags: 'S', seq: 1 }), COMMIT);
    expect(st(run(ct, tcpQuote))).toBe('+rel+rpl+trk'); // 8 quoted bytes are enough
    expect(ct.size).toBe(2);
  });
});

describe('zones, commit, force, mark, label', () => {
  it('zones isolate connections', () => {
    const ct = new Conntrack();
    run(ct, udp(A, B, 1000, 53), spec({ zone: 1, commit: true }));
    expect(st(run(ct, udp(B, A, 53, 1000), spec({ zone: 1 })))).toBe('+est+rpl+trk');
    const other = run(ct, udp(B, A, 53, 1000), spec({ zone: 2 }));
    expect(st(other)).toBe('+new+trk');
    expect(other.zone).toBe(2);
    expect(ct.dump(1)).toHaveLength(1);
    expect(ct.dump(2)).toEqual([]);
    expect(ct.dump()[0]).toContain(',zone=1');
    expect(ct.zoneCount(1)).toBe(1);
    ct.flush(2);
    expect(ct.size).toBe(1);
    ct.flush(1);
    expect(ct.size).toBe(0);
  });

  it('force commit in the reply direction replaces the entry', () => {
    const ct = new Conntrack();
    run(ct, udp(A, B, 1000, 53), COMMIT);
    const r = run(ct, udp(B, A, 53, 1000), spec({ commit: true, force: true }));
    expect(st(r)).toBe('+new+trk');
    expect(ct.dump()).toEqual(['udp,orig=(src=10.0.0.2,dst=10.0.0.1,sport=53,dport=1000),reply=(src=10.0.0.1,dst=10.0.0.2,sport=1000,dport=53)']);
    // force in the original direction keeps it
    expect(st(run(ct, udp(B, A, 53, 1000), spec({ commit: true, force: true })))).toBe('+new+trk');
    expect(ct.size).toBe(1);
  });

  it('mark and label are set at commit (value/mask) and read back later', () => {
    const ct = new Conntrack();
    const r1 = run(ct, udp(A, B, 1000, 53), spec({ commit: true, mark: { value: 42, mask: 0xffffffff }, label: { value: 1n << 100n | 5n, mask: (1n << 128n) - 1n } }));
    expect(r1.mark).toBe(42);
    const r2 = run(ct, udp(B, A, 53, 1000));
    expect(r2.mark).toBe(42);
    expect(r2.labelValue()).toBe(1n << 100n | 5n);
    expect(ct.dump()[0]).toBe('udp,orig=(src=10.0.0.1,dst=10.0.0.2,sport=1000,dport=53),reply=(src=10.0.0.2,dst=10.0.0.1,sport=53,dport=1000),mark=42,labels=0x10000000000000000000000005');
    const r3 = run(ct, udp(A, B, 1000, 53), spec({ commit: true, mark: { value: 0xf00, mask: 0xf00 }, label: { value: 0n, mask: 1n } }));
    expect(r3.mark).toBe(0xf00 | 42);
    expect(r3.labelValue()).toBe(1n << 100n | 4n);
    // without commit a mark is not stored anywhere
    const r4 = run(ct, udp(A, B, 7, 7), spec({ mark: { value: 1, mask: 1 } }));
    expect(r4.mark).toBe(0);
  });

  it('a packet already +inv stays so; a new zone resets the state', () => {
    const ct = new Conntrack();
    const out = new CtResult();
    out.state = CS_INVALID;
    const f = udp(A, B, 1000, 53);
    ct.execute(f, 14, f.length, 0x800, COMMIT, 0, out);
    expect(st(out)).toBe('+inv+trk');
    expect(ct.size).toBe(0);
    out.clear();
    ct.execute(f, 14, f.length, 0x800, COMMIT, 0, out);
    expect(st(out)).toBe('+new+trk');
    // second ct on the same packet (recirculation) in the same zone: cached, state kept
    ct.execute(f, 14, f.length, 0x800, TRACK, 0, out);
    expect(st(out)).toBe('+new+trk');
    ct.execute(f, 14, f.length, 0x800, spec({ zone: 9 }), 0, out);
    expect(st(out)).toBe('+new+trk');
    expect(out.zone).toBe(9);
  });
});

describe('limits', () => {
  it('a per-zone limit refuses further commits: +trk+new, no entry, counted', () => {
    const ct = new Conntrack();
    ct.setZoneLimit(5, 2);
    const z5 = spec({ zone: 5, commit: true });
    expect(run(ct, udp(A, B, 1, 53), z5).refused).toBe(false);
    expect(run(ct, udp(A, B, 2, 53), z5).refused).toBe(false);
    const r = run(ct, udp(A, B, 3, 53), z5);
    expect(r.refused).toBe(true);
    expect(st(r)).toBe('+new+trk');
    expect(ct.size).toBe(2);
    expect(ct.counters.zoneFull).toBe(1);
    expect(ct.zoneLimits()).toBe('default limit=0\nzone=5,limit=2,count=2');
    // other zones are not limited
    expect(run(ct, udp(A, B, 3, 53), COMMIT).refused).toBe(false);
    // an entry leaving frees a slot
    ct.flush(5);
    expect(run(ct, udp(A, B, 3, 53), z5).refused).toBe(false);
  });

  it('the default limit counts each zone separately; maxEntries is global', () => {
    const ct = new Conntrack({ defaultZoneLimit: 1, maxEntries: 3 });
    expect(run(ct, udp(A, B, 1, 53), spec({ zone: 1, commit: true })).refused).toBe(false);
    expect(run(ct, udp(A, B, 2, 53), spec({ zone: 1, commit: true })).refused).toBe(true);
    expect(run(ct, udp(A, B, 2, 53), spec({ zone: 2, commit: true })).refused).toBe(false);
    expect(run(ct, udp(A, B, 2, 53), spec({ zone: 3, commit: true })).refused).toBe(false);
    const r = run(ct, udp(A, B, 2, 53), spec({ zone: 4, commit: true }));
    expect(r.refused).toBe(true);
    expect(ct.counters).toEqual({ zoneFull: 1, full: 1, natExhausted: 0 });
  });
});

describe('timeouts', () => {
  it('TCP: syn_sent 30 s, established 24 h', () => {
    const ct = new Conntrack();
    run(ct, tcp(A, B, { srcPort: 1, dstPort: 2, flags: 'S', seq: 10 }), COMMIT, 1000);
    expect(ct.expire(1000 + 29_999)).toBe(0);
    expect(ct.expire(1000 + 30_000)).toBe(1);
    run(ct, tcp(A, B, { srcPort: 1, dstPort: 2, flags: 'S', seq: 10 }), COMMIT, 0);
    run(ct, tcp(B, A, { srcPort: 2, dstPort: 1, flags: 'SA', seq: 50, ack: 11 }), COMMIT, 0);
    run(ct, tcp(A, B, { srcPort: 1, dstPort: 2, flags: 'A', seq: 11, ack: 51 }), COMMIT, 0);
    expect(ct.expire(86_400_000 - 1)).toBe(0);
    expect(ct.expire(86_400_000)).toBe(1);
  });

  it('timeouts can be overridden; ICMP first/reply', () => {
    const ct = new Conntrack({ timeouts: { icmp_first: 5 } });
    run(ct, echo(A, B, 8, 1), COMMIT, 0);
    expect(ct.expire(4_999)).toBe(0);
    expect(ct.expire(5_000)).toBe(1);
    run(ct, echo(A, B, 8, 1), COMMIT, 0);
    run(ct, echo(B, A, 0, 1), COMMIT, 10);
    expect(ct.expire(10 + 29_999)).toBe(0);
    expect(ct.expire(10 + 30_000)).toBe(1);
  });
});

describe('malformed packets are +trk+inv', () => {
  const good = (): Uint8Array => tcp(A, B, { srcPort: 1234, dstPort: 80, flags: 'S', seq: 1 }, 'data');
  const cases: [string, (f: Uint8Array) => Uint8Array][] = [
    ['bad IPv4 header checksum', (f) => { f[24] = f[24]! ^ 0xff; return f; }],
    ['bad TCP checksum', (f) => { f[50] = f[50]! ^ 0xff; return f; }],
    ['IPv4 total length beyond the frame', (f) => { setBe16(f, 16, 200); return f; }],
    ['IHL below 5', (f) => { f[14] = 0x44; return f; }],
    ['frame cut inside the TCP header', (f) => f.slice(0, 14 + 20 + 10)],
    ['TCP data offset beyond the segment', (f) => { f[46] = 0xf0; return f; }],
  ];
  for (const [name, mangle] of cases) {
    it(name, () => {
      const ct = new Conntrack();
      const f = mangle(good());
      const r = run(ct, f, COMMIT);
      expect(st(r)).toBe('+inv+trk');
      expect(ct.size).toBe(0);
    });
  }

  it('a later IPv4 fragment, port 0, and an IPv6 fragment header', () => {
    const ct = new Conntrack();
    const frag = eth().ipv4({ src: A, dst: B, protocol: 17, fragOffset: 8 }).payload('12345678').build();
    expect(st(run(ct, frag, COMMIT))).toBe('+inv+trk');
    expect(st(run(ct, udp(A, B, 0, 53), COMMIT))).toBe('+inv+trk');
    const f6 = eth().ipv6({ src: 'fd00::1', dst: 'fd00::2', nextHeader: 44, extHeaders: Uint8Array.from([17, 0, 0, 0, 0, 0, 0, 1]) })
      .payload('12345678').build();
    expect(st(run(ct, f6, COMMIT))).toBe('+inv+trk');
  });

  it('UDP checksum 0 over IPv4 is accepted, over IPv6 it is not', () => {
    const ct = new Conntrack();
    const u4 = eth().ipv4({ src: A, dst: B }).udp({ srcPort: 1, dstPort: 2, checksum: 0 }).payload('x').build();
    expect(st(run(ct, u4))).toBe('+new+trk');
    const u6 = eth().ipv6({ src: 'fd00::1', dst: 'fd00::2' }).udp({ srcPort: 1, dstPort: 2, checksum: 0 }).payload('x').build();
    expect(st(run(ct, u6))).toBe('+inv+trk');
  });

  it('IPv6 TCP through a destination-options header is tracked', () => {
    const ct = new Conntrack();
    const f = eth().ipv6({ src: 'fd00::1', dst: 'fd00::2', nextHeader: 60, extHeaders: Uint8Array.from([6, 0, 1, 4, 0, 0, 0, 0]) })
      .tcp({ srcPort: 5, dstPort: 6, flags: 'S', seq: 1 }).build();
    expect(st(run(ct, f, COMMIT))).toBe('+new+trk');
    expect(ct.dump()).toEqual(['tcp,orig=(src=fd00::1,dst=fd00::2,sport=5,dport=6),reply=(src=fd00::2,dst=fd00::1,sport=6,dport=5),protoinfo=(state=SYN_SENT)']);
  });
});
