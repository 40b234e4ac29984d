/**
 * ipvs.ts tests. This machine has no ip_vs module and no ipvsadm (checked:
 * `which ipvsadm` is empty, no ip_vs in /sys/module), so the expected values
 * are hand-computed from the kernel's scheduler sources (ip_vs_rr.c,
 * ip_vs_wrr.c, ip_vs_lc.c, ip_vs_wlc.c, ip_vs_sh.c, ip_vs_dh.c, ip_vs_mh.c,
 * ip_vs_proto_tcp.c, ip_vs_conn.c) and ipvsadm 1.26's printf formats; the
 * SipHash under mh is checked against the SipHash paper's reference vectors.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  Ipvs, IpvsError, RealServer, SCHEDULERS, SVC_F_SCHED_FALLBACK, SVC_F_SCHED_PORT, TCP_ACK, TCP_FIN, TCP_SYN,
  hash32, hsiphash32, sipHashHex, type IpvsPacket, type SchedulerName, type VirtualService,
} from '../../src/netfilter/ipvs.js';
import { parseIpv4 } from '../../src/wire/bytes.js';

const ip = (s: string): number => parseIpv4(s)!;
const VIP = ip('10.96.0.10');
const tcp = (src: string, sport: number, flags = TCP_SYN): IpvsPacket =>
  ({ proto: 6, src: ip(src), sport, dst: VIP, dport: 443, fwmark: 0, tcpFlags: flags });
const udp = (src: string, sport: number): IpvsPacket => ({ proto: 17, src: ip(src), sport, dst: VIP, dport: 53, fwmark: 0, tcpFlags: 0 });
const last = (d: RealServer | null): string => (d === null ? '-' : String(d.addr & 255));

/** A service with servers 10.244.1.<n> added in the order given (the kernel puts each at the list front). */
function svcWith(sched: SchedulerName, weights: [number, number][], extra: Partial<Parameters<Ipvs['addService']>[0]> = {}): { v: Ipvs; s: VirtualService } {
  const v = new Ipvs();
  const s = v.addService({ kind: 'tcp', addr: VIP, port: 443, scheduler: sched, ...extra });
  for (const [n, w] of weights) v.addDest(s, { addr: ip(`10.244.1.${n}`), port: 8443, weight: w, fwd: 'masq' });
  return { v, s };
}
function picks(v: Ipvs, s: VirtualService, n: number, p: IpvsPacket = tcp('1.1.1.1', 1)): string {
  let out = '';
  for (let i = 0; i < n; i++) out += last(v.pick(s, p));
  return out;
}

describe('SipHash / hsiphash', () => {
  const key = Uint8Array.from({ length: 16 }, (_, i) => i);
  it('matches the SipHash-2-4 reference vectors (paper, Appendix A; vectors.h)', () => {
    expect(sipHashHex(new Uint8Array(0), key)).toBe('726fdb47dd0e0e31');
    expect(sipHashHex(Uint8Array.from([0, 1, 2, 3]), key)).toBe('cf2794e0277187b7');
    expect(sipHashHex(Uint8Array.from({ length: 15 }, (_, i) => i), key)).toBe('a129ca6149be45e5');
  });
  it('hsiphash32 is SipHash-1-3 over the 4 LE bytes with key words {k, k}, low half', () => {
    const k = 2654435761;
    const kb = new Uint8Array(16);
    for (let i = 0; i < 4; i++) { kb[i] = (k >>> (8 * i)) & 255; kb[8 + i] = (k >>> (8 * i)) & 255; }
    const v = 0x0af40105 + 8443;
    const full = sipHashHex(Uint8Array.from([v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24]), kb, 1, 3);
    expect(hsiphash32(v, k).toString(16).padStart(8, '0')).toBe(full.slice(8));
  });
  it('hash_32 keeps the top bits of v·0x61C88647', () => {
    expect(hash32(1, 8)).toBe(0x61);
    expect(hash32(2, 8)).toBe(0xc3);
  });
});

describe('rr (ip_vs_rr.c)', () => {
  it('walks the list newest-first, skipping weight 0 and overloaded servers', () => {
    const { v, s } = svcWith('rr', [[1, 1], [2, 1], [3, 1]]);
    expect(s.dests.map((d) => d.addr & 255)).toEqual([3, 2, 1]);
    expect(picks(v, s, 6)).toBe('321321');
    v.editDest(s, { addr: ip('10.244.1.2'), port: 8443, weight: 0, fwd: 'masq' });
    expect(picks(v, s, 4)).toBe('3131');
    s.dests[0]!.overloaded = true;
    expect(picks(v, s, 2)).toBe('11');
    s.dests[2]!.weight = 0;
    expect(picks(v, s, 1)).toBe('-');
  });
  it('deleting the server under the cursor steps the cursor back', () => {
    const { v, s } = svcWith('rr', [[1, 1], [2, 1], [3, 1]]);
    expect(picks(v, s, 2)).toBe('32'); // cursor on 2
    v.delDest(s, ip('10.244.1.2'), 8443); // cursor → 3
    expect(picks(v, s, 3)).toBe('131');
    v.addDest(s, { addr: ip('10.244.1.4'), port: 8443, fwd: 'masq' }); // front of list, cursor stays on 1
    expect(picks(v, s, 3)).toBe('431');
  });
});

describe('wrr (ip_vs_wrr.c)', () => {
  it('weights 4,3,2 cycle AABABCABC once cw restarts from mw', () => {
    // added C(2), B(3), A(4): list A,B,C. The first add sets di=2, mw=1, cw=1; later adds keep cw=1
    // (cw ≤ mw, di = 1), so the first pass is at cw=1, then cw=mw=4,3,2,1 …
    const { v, s } = svcWith('wrr', [[3, 2], [2, 3], [1, 4]]);
    expect([s.wrrDi, s.wrrMw, s.wrrCw]).toEqual([1, 4, 1]);
    expect(picks(v, s, 3 + 9 + 9)).toBe('123' + '112123123' + '112123123');
  });
  it('gcd 2: weights 4,2 give 2:1 with di=2, mw=3', () => {
    const { v, s } = svcWith('wrr', [[2, 2], [1, 4]]);
    expect([s.wrrDi, s.wrrMw, s.wrrCw]).toEqual([2, 3, 1]);
    expect(picks(v, s, 8)).toBe('12112112');
  });
  it('all weights 0: no destination', () => {
    const { v, s } = svcWith('wrr', [[1, 0], [2, 0]]);
    expect(picks(v, s, 2)).toBe('--');
  });
  it('all overloaded: null, then recovers', () => {
    const { v, s } = svcWith('wrr', [[1, 1], [2, 1]]);
    for (const d of s.dests) d.overloaded = true;
    expect(picks(v, s, 1)).toBe('-');
    s.dests[1]!.overloaded = false;
    expect(picks(v, s, 2)).toBe('11');
  });
});

describe('lc / wlc (ip_vs_lc.c, ip_vs_wlc.c)', () => {
  it('lc: least activeconns·256 + inactconns, skipping weight 0; first wins ties', () => {
    const { v, s } = svcWith('lc', [[1, 1], [2, 1], [3, 0]]); // list 3,2,1
    const [d3, d2, d1] = s.dests as [RealServer, RealServer, RealServer];
    d1.activeConns = 1;      // 256
    d2.inactConns = 255;     // 255
    expect(last(v.pick(s, tcp('1.1.1.1', 1)))).toBe('2');
    d2.inactConns = 256;     // tie with 1: list order → 2 first
    expect(last(v.pick(s, tcp('1.1.1.1', 1)))).toBe('2');
    d2.inactConns = 257;
    expect(last(v.pick(s, tcp('1.1.1.1', 1)))).toBe('1');
    expect(d3.weight).toBe(0);
  });
  it('wlc: overhead/weight compared as loh·w_d > doh·w_least', () => {
    const { v, s } = svcWith('wlc', [[2, 1], [1, 3]]); // list 1(w3), 2(w1)
    const [d1, d2] = s.dests as [RealServer, RealServer];
    d1.activeConns = 2;     // 512 / 3
    d2.inactConns = 200;    // 200 / 1: 512·1 > 200·3? no → 1
    expect(last(v.pick(s, tcp('1.1.1.1', 1)))).toBe('1');
    d2.inactConns = 170;    // 512 > 510 → 2
    expect(last(v.pick(s, tcp('1.1.1.1', 1)))).toBe('2');
  });
  it('wlc with real connections: established TCP counts 256, new ones 1', () => {
    const { v, s } = svcWith('wlc', [[1, 1], [2, 1]]);
    // first: both 0 → list head (2)
    expect(last(v.schedule(s, tcp('1.1.1.1', 1000), 0))).toBe('2');
    // 2 has one inactive (SYN_RECV) conn → 1
    expect(last(v.schedule(s, tcp('1.1.1.1', 1001), 0))).toBe('1');
    // the first client completes the handshake: 2 now has overhead 256
    v.schedule(s, tcp('1.1.1.1', 1000, TCP_ACK), 1);
    expect([s.dests[0]!.activeConns, s.dests[0]!.inactConns]).toEqual([1, 0]);
    expect(last(v.schedule(s, tcp('1.1.1.1', 1002), 2))).toBe('1');
    expect(last(v.schedule(s, tcp('1.1.1.1', 1003), 2))).toBe('1');
  });
});

describe('sh / dh (256 buckets)', () => {
  it('sh: bucket hash_32(saddr, 8), buckets filled weight-by-weight in list order', () => {
    const { v, s } = svcWith('sh', [[1, 2], [2, 1]]); // list 2(w1), 1(w2): buckets 2,1,1,2,1,1,…
    for (const a of ['192.168.0.1', '10.0.0.7', '172.16.5.5', '8.8.8.8', '1.2.3.4']) {
      const h = hash32(ip(a), 8);
      const expected = h % 3 === 0 ? '2' : '1';
      expect(last(v.pick(s, tcp(a, 1)))).toBe(expected);
      expect(last(v.pick(s, tcp(a, 2)))).toBe(expected); // the port is ignored without sh-port
    }
  });
  it('sh-port hashes port + address', () => {
    const { v, s } = svcWith('sh', [[1, 1], [2, 1]], { schedFlags: SVC_F_SCHED_PORT });
    const a = ip('10.0.0.7');
    for (const port of [1, 2, 3, 4000]) {
      const h = hash32((a + port) >>> 0, 8);
      expect(last(v.pick(s, tcp('10.0.0.7', port)))).toBe(h % 2 === 0 ? '2' : '1');
    }
  });
  it('sh: a weight-0 server keeps its buckets and answers null, or falls back with sh-fallback', () => {
    const { v, s } = svcWith('sh', [[1, 1], [2, 1]]);
    const a = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6'].find((x) => hash32(ip(x), 8) % 2 === 0)!;
    expect(last(v.pick(s, tcp(a, 1)))).toBe('2');
    v.editDest(s, { addr: ip('10.244.1.2'), port: 8443, weight: 0, fwd: 'masq' });
    expect(last(v.pick(s, tcp(a, 1)))).toBe('-');
    v.editService({ kind: 'tcp', addr: VIP, port: 443, scheduler: 'sh', schedFlags: SVC_F_SCHED_FALLBACK });
    expect(last(v.pick(s, tcp(a, 1)))).toBe('1');
  });
  it('dh: bucket (daddr·2654435761) & 255, one server per bucket round the list', () => {
    const { v, s } = svcWith('dh', [[1, 5], [2, 1], [3, 1]]); // list 3,2,1; weight does not matter
    for (const d of ['10.96.0.10', '10.96.0.11', '1.1.1.1', '9.9.9.9']) {
      const b = Math.imul(ip(d), 2654435761) & 255;
      const p: IpvsPacket = { ...tcp('5.5.5.5', 1), dst: ip(d) };
      expect(last(v.pick(s, p))).toBe(['3', '2', '1'][b % 3]);
    }
  });
  it('sh is stable: the same client always gets the same server', () => {
    const { v, s } = svcWith('sh', [[1, 1], [2, 1], [3, 1]]);
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (a) => {
      const p: IpvsPacket = { proto: 6, src: a >>> 0, sport: 1, dst: VIP, dport: 443, fwmark: 0, tcpFlags: TCP_SYN };
      const first = v.pick(s, p);
      expect(v.pick(s, { ...p, sport: 999 })).toBe(first);
    }), { numRuns: 200 });
  });
});

describe('mh (Maglev, 251 entries)', () => {
  const count = (s: VirtualService): Map<number, number> => {
    const m = new Map<number, number>();
    for (const i of s.buckets) { const a = s.dests[i]!.addr & 255; m.set(a, (m.get(a) ?? 0) + 1); }
    return m;
  };
  it('fills the table evenly for equal weights and by weight otherwise', () => {
    const { s } = svcWith('mh', [[1, 1], [2, 1], [3, 1], [4, 1], [5, 1]]);
    expect(s.buckets.length).toBe(251);
    expect([...count(s).values()].sort()).toEqual([50, 50, 50, 50, 51]);
    // weights 1,2: list 2(w2),1(w1): rounds of 2+1 entries; 251 = 83·3 + 2 → 168 / 83
    const w = svcWith('mh', [[1, 1], [2, 2]]);
    expect(count(w.s)).toEqual(new Map([[2, 168], [1, 83]]));
  });
  it('removing a server moves its entries and few others', () => {
    const { v, s } = svcWith('mh', [[1, 1], [2, 1], [3, 1], [4, 1], [5, 1]]);
    const before = Array.from(s.buckets, (i) => s.dests[i]!.addr & 255);
    v.delDest(s, ip('10.244.1.3'), 8443);
    const after = Array.from(s.buckets, (i) => s.dests[i]!.addr & 255);
    let moved = 0;
    for (let i = 0; i < 251; i++) {
      if (before[i] === 3) expect(after[i]).not.toBe(3);
      else if (before[i] !== after[i]) moved++;
    }
    expect(moved).toBeLessThan(20); // 7 with these addresses; Maglev bounds it, not to 0
  });
  it('quiescing (weight 0) keeps the table (last_weight) and drops that server\'s clients', () => {
    const { v, s } = svcWith('mh', [[1, 1], [2, 1], [3, 1]]);
    const table = Int32Array.from(s.buckets);
    v.editDest(s, { addr: ip('10.244.1.2'), port: 8443, weight: 0, fwd: 'masq' });
    expect(Array.from(s.buckets)).toEqual(Array.from(table));
    let nulls = 0, others = 0;
    for (let i = 1; i <= 200; i++) {
      const d = v.pick(s, tcp(`10.1.0.${i}`, 1));
      if (d === null) nulls++; else { others++; expect(d.weight).toBeGreaterThan(0); }
    }
    expect(nulls).toBeGreaterThan(30);
    expect(others).toBeGreaterThan(100);
  });
  it('mh-fallback walks to an available server', () => {
    const { v, s } = svcWith('mh', [[1, 1], [2, 1], [3, 1]], { schedFlags: SVC_F_SCHED_FALLBACK });
    v.editDest(s, { addr: ip('10.244.1.2'), port: 8443, weight: 0, fwd: 'masq' });
    for (let i = 1; i <= 100; i++) expect(v.pick(s, tcp(`10.1.0.${i}`, 1))).not.toBeNull();
  });
  it('is deterministic: the same configuration builds the same table', () => {
    const a = svcWith('mh', [[1, 3], [2, 1], [7, 2]]).s.buckets;
    const b = svcWith('mh', [[1, 3], [2, 1], [7, 2]]).s.buckets;
    expect(Array.from(a)).toEqual(Array.from(b));
  });
});

describe('connection table', () => {
  it('a connection sticks to its server; TCP states move InActConn → ActiveConn → InActConn', () => {
    const { v, s } = svcWith('rr', [[1, 1], [2, 1]]);
    const d = v.schedule(s, tcp('1.1.1.1', 5000), 0)!;
    expect(v.connState(v.lastConn)).toBe('SYN_RECV');
    expect([d.activeConns, d.inactConns]).toEqual([0, 1]);
    // server SYN-ACK (reply), client ACK
    expect(v.reply({ proto: 6, src: d.addr, sport: d.port, dst: ip('1.1.1.1'), dport: 5000, fwmark: 0, tcpFlags: TCP_SYN | TCP_ACK }, 1)).toBe(d);
    expect(v.connVip(v.lastConn)).toBe(VIP);
    expect(v.schedule(s, tcp('1.1.1.1', 5000, TCP_ACK), 2)).toBe(d);
    expect(v.connState(v.lastConn)).toBe('ESTABLISHED');
    expect([d.activeConns, d.inactConns]).toEqual([1, 0]);
    expect(v.connExpiresMs(v.lastConn)).toBe(2 + 900_000);
    // client FIN → CLOSE_WAIT (INPUT table), counted inactive again
    expect(v.schedule(s, tcp('1.1.1.1', 5000, TCP_FIN | TCP_ACK), 3)).toBe(d);
    expect(v.connState(v.lastConn)).toBe('CLOSE_WAIT');
    expect([d.activeConns, d.inactConns]).toEqual([0, 1]);
    expect(v.connExpiresMs(v.lastConn)).toBe(3 + 60_000);
  });
  it('direct routing uses the INPUT-ONLY table', () => {
    const v = new Ipvs();
    const s = v.addService({ kind: 'tcp', addr: VIP, port: 443, scheduler: 'rr' });
    v.addDest(s, { addr: ip('10.244.1.1'), fwd: 'route' });
    v.schedule(s, tcp('1.1.1.1', 5000), 0);
    v.schedule(s, tcp('1.1.1.1', 5000, TCP_ACK), 1);
    expect(v.connState(v.lastConn)).toBe('ESTABLISHED');
    v.schedule(s, tcp('1.1.1.1', 5000, TCP_FIN | TCP_ACK), 2);
    expect(v.connState(v.lastConn)).toBe('FIN_WAIT'); // INPUT-ONLY: sES + fin → sFW (INPUT says sCW)
  });
  it('connections time out on the virtual clock and are then rescheduled', () => {
    const { v, s } = svcWith('rr', [[1, 1], [2, 1]]);
    expect(last(v.schedule(s, tcp('1.1.1.1', 5000), 0))).toBe('2');
    expect(last(v.schedule(s, tcp('1.1.1.1', 5000), 59_999))).toBe('2'); // SYN_RECV 60 s, restarted
    expect(last(v.schedule(s, tcp('1.1.1.1', 5000), 59_999 + 60_000))).toBe('1'); // expired: new connection
    expect(last(v.schedule(s, udp('1.1.1.1', 5000), 120_000))).toBe('2'); // UDP: 300 s
    v.expire(179_998);
    expect(v.connCount).toBe(2);
    v.expire(179_999);                 // the TCP one (SYN_RECV since 119 999)
    expect(v.connCount).toBe(1);
    v.expire(420_000);
    expect(v.connCount).toBe(0);
    expect(s.dests.every((d) => d.activeConns === 0 && d.inactConns === 0)).toBe(true);
  });
  it('a new SYN on a TIME_WAIT connection is a new connection (conn_reuse_mode)', () => {
    const { v, s } = svcWith('rr', [[1, 1], [2, 1]]);
    const d = v.schedule(s, tcp('1.1.1.1', 5000), 0)!;
    v.reply({ proto: 6, src: d.addr, sport: d.port, dst: ip('1.1.1.1'), dport: 5000, fwmark: 0, tcpFlags: TCP_FIN | TCP_ACK }, 1);
    expect(v.connState(v.lastConn)).toBe('TIME_WAIT'); // OUTPUT fin from sSR → sTW
    expect(last(v.schedule(s, tcp('1.1.1.1', 5000), 2))).toBe('1');
  });
  it('packets of a connection whose server was deleted are dropped', () => {
    const { v, s } = svcWith('rr', [[1, 1], [2, 1]]);
    v.schedule(s, tcp('1.1.1.1', 5000), 0);
    v.delDest(s, ip('10.244.1.2'), 8443);
    expect(v.schedule(s, tcp('1.1.1.1', 5000, TCP_ACK), 1)).toBeNull();
    expect(last(v.schedule(s, tcp('1.1.1.1', 5001), 1))).toBe('1');
  });
});

describe('net.ipv4.vs.expire_nodest_conn and expire_quiescent_template (kube-proxy sets both to 1)', () => {
  it('1: deleting a real server flushes its connections at once; the flow\'s next packet is scheduled anew', () => {
    const { v, s } = svcWith('rr', [[1, 1], [2, 1]]);
    v.expireNodestConn = true;
    const d = v.schedule(s, udp('1.1.1.1', 5000), 0)!;
    expect(last(d)).toBe('2');
    v.schedule(s, tcp('1.1.1.1', 6000), 0); // to 1
    expect(v.connCount).toBe(2);
    v.delDest(s, ip('10.244.1.2'), 8443);
    // only the deleted server's connection went (ip_vs_expire_nodest_conn_flush)
    expect(v.connCount).toBe(1);
    expect(d.inactConns).toBe(0);
    expect(v.findConn(udp('1.1.1.1', 5000), 1)).toBe(-1);
    expect(last(v.schedule(s, udp('1.1.1.1', 5000), 1))).toBe('1');
  });
  it('0 (the kernel default): the entry stays and drops every packet, without restarting its timer, until it times out', () => {
    const { v, s } = svcWith('rr', [[1, 1], [2, 1]]);
    v.schedule(s, udp('1.1.1.1', 5000), 0);
    v.delDest(s, ip('10.244.1.2'), 8443);
    expect(v.connCount).toBe(1);
    for (let t = 1000; t < 300_000; t += 50_000) expect(v.schedule(s, udp('1.1.1.1', 5000), t)).toBeNull();
    expect(last(v.schedule(s, udp('1.1.1.1', 5000), 300_000))).toBe('1');
  });
  it('1 set while a server-less entry exists: its next packet expires it and is scheduled anew, or dropped with an old conntrack entry', () => {
    const { v, s } = svcWith('rr', [[1, 1], [2, 1]]);
    v.schedule(s, udp('1.1.1.1', 5000), 0);
    v.schedule(s, udp('1.1.1.1', 5001), 0); // to 1
    v.delDest(s, ip('10.244.1.2'), 8443);
    v.addDest(s, { addr: ip('10.244.1.3'), port: 8443, weight: 1, fwd: 'masq' });
    v.expireNodestConn = true;
    expect(last(v.schedule(s, udp('1.1.1.1', 5000), 1))).not.toBe('2');
    expect(v.connCount).toBe(2);
    // the same on a flow whose conntrack entry is confirmed: dropped, the entry gone all the same
    const w = svcWith('rr', [[1, 1], [2, 1]]);
    w.v.schedule(w.s, udp('1.1.1.1', 5000), 0);
    w.v.delDest(w.s, ip('10.244.1.2'), 8443);
    w.v.expireNodestConn = true;
    expect(w.v.schedule(w.s, udp('1.1.1.1', 5000), 1, true)).toBeNull();
    expect(w.v.connCount).toBe(0);
    expect(last(w.v.schedule(w.s, udp('1.1.1.1', 5000), 2))).toBe('1');
  });
  it('1: a TCP packet that is no SYN on a server-less entry starts no connection; a SYN does', () => {
    const { v, s } = svcWith('rr', [[1, 1], [2, 1]]);
    v.schedule(s, tcp('1.1.1.1', 5000), 0);
    v.delDest(s, ip('10.244.1.2'), 8443);
    v.expireNodestConn = true;
    expect(v.schedule(s, tcp('1.1.1.1', 5000, TCP_ACK), 1)).toBeNull();
    expect(v.connCount).toBe(0);
    expect(last(v.schedule(s, tcp('1.1.1.1', 5000), 2))).toBe('1');
  });
  it('1: a SYN of a connection on a quiesced server (weight 0) is scheduled anew; other packets stay on it', () => {
    const run = (on: boolean): string => {
      const { v, s } = svcWith('rr', [[1, 1], [2, 1]]);
      v.expireNodestConn = on;
      v.schedule(s, tcp('1.1.1.1', 5000), 0); // to 2
      v.editDest(s, { addr: ip('10.244.1.2'), port: 8443, weight: 0, fwd: 'masq' });
      const ack = last(v.schedule(s, tcp('1.1.1.1', 5000, TCP_ACK), 1));
      return ack + last(v.schedule(s, tcp('1.1.1.1', 5000), 2));
    };
    expect(run(false)).toBe('22');
    expect(run(true)).toBe('21');
  });
  it('expire_quiescent_template 1: a template on a quiesced server is not reused', () => {
    const run = (on: boolean): string => {
      const { v, s } = svcWith('rr', [[1, 1], [2, 1]], { persistentS: 300 });
      v.expireQuiescentTemplate = on;
      v.schedule(s, tcp('10.0.0.1', 1000), 0); // template → 2
      v.editDest(s, { addr: ip('10.244.1.2'), port: 8443, weight: 0, fwd: 'masq' });
      return last(v.schedule(s, tcp('10.0.0.1', 1001), 1));
    };
    expect(run(false)).toBe('2');
    expect(run(true)).toBe('1');
  });
  it('1: deleting a persistent service\'s server flushes its connections, then their template', () => {
    const { v, s } = svcWith('rr', [[1, 1], [2, 1]], { persistentS: 300 });
    v.expireNodestConn = true;
    const d = v.schedule(s, udp('10.0.0.1', 1000), 0)!;
    v.schedule(s, udp('10.0.0.1', 1001), 0);
    expect(v.connCount).toBe(3);
    v.delDest(s, d.addr, d.port);
    expect(v.connCount).toBe(0);
    expect(d.persistConns).toBe(0);
  });
});

describe('persistence (-p)', () => {
  it('one client address sticks to one server across ports; -M groups clients', () => {
    const { v, s } = svcWith('rr', [[1, 1], [2, 1]], { persistentS: 300, netmask: ip('255.255.255.0') });
    const a = v.schedule(s, tcp('10.0.0.1', 1000), 0);
    expect(v.schedule(s, tcp('10.0.0.1', 1001), 1)).toBe(a);
    expect(v.schedule(s, tcp('10.0.0.2', 1000), 2)).toBe(a);
    expect(v.schedule(s, tcp('10.0.1.2', 1000), 3)).not.toBe(a);
    expect(a!.persistConns).toBe(1);
  });
  it('a template outlives its timeout while it controls connections, re-armed by 60 s steps', () => {
    const { v, s } = svcWith('rr', [[1, 1], [2, 1]], { persistentS: 30 });
    const a = v.schedule(s, udp('10.0.0.1', 1000), 0)!; // UDP conn lives 300 s; template 30 s
    // template fires at 30 s with a live connection → re-armed 60 s: 90, 150, 210, 270, 330
    expect(v.schedule(s, udp('10.0.0.1', 2000), 320_000)).toBe(a); // the 1000 conn expired at 300 s; template alive till 330
    // the new connection (expires 620 s) re-armed it again (timeout now 60 s): 380
    expect(v.schedule(s, udp('10.0.0.1', 3000), 379_000)).toBe(a);
  });
  it('an idle template expires after its timeout', () => {
    const { v, s } = svcWith('rr', [[1, 1], [2, 1]], { persistentS: 30 });
    const a = v.schedule(s, tcp('10.0.0.1', 1000), 0)!; // SYN_RECV conn: 60 s
    v.expire(60_000);                                   // conn gone at 60; template re-armed at 30 → 90
    expect(v.schedule(s, tcp('10.0.0.1', 1001), 89_000)).toBe(a);
    // now controls the 1001 conn (expires 149 s); template timeout 60 s → 149 s
    v.expire(149_000);
    expect(v.connCount).toBe(0);
    expect(v.schedule(s, tcp('10.0.0.1', 1002), 150_000)).not.toBe(a);
  });
  it('a quiesced server (weight 0) keeps its persistent clients (expire_quiescent_template = 0)', () => {
    const { v, s } = svcWith('rr', [[1, 1], [2, 1]], { persistentS: 300 });
    const a = v.schedule(s, tcp('10.0.0.1', 1000), 0)!;
    v.editDest(s, { addr: a.addr, port: a.port, weight: 0, fwd: 'masq' });
    expect(v.schedule(s, tcp('10.0.0.1', 1001), 1)).toBe(a);
    expect(v.schedule(s, tcp('10.0.0.9', 1001), 1)).not.toBe(a);
  });
  it('fwmark services are found by mark before address', () => {
    const v = new Ipvs();
    const f = v.addService({ kind: 'fwmark', fwmark: 7, scheduler: 'rr' });
    const t = v.addService({ kind: 'tcp', addr: VIP, port: 443, scheduler: 'rr' });
    expect(v.lookupService({ ...tcp('1.1.1.1', 1), fwmark: 7 })).toBe(f);
    expect(v.lookupService(tcp('1.1.1.1', 1))).toBe(t);
    expect(v.lookupService({ ...tcp('1.1.1.1', 1), dport: 80 })).toBeNull();
    const z = v.addService({ kind: 'tcp', addr: VIP, port: 0, scheduler: 'rr', persistentS: 60 });
    expect(v.lookupService({ ...tcp('1.1.1.1', 1), dport: 80 })).toBe(z);
  });
});

const SAVE = `-A -f 100 -s mh
-a -f 100 -r 10.0.0.2:0 -i -w 5
-A -u 10.96.0.10:53 -s sh -p 300 -M 255.255.255.0
-a -u 10.96.0.10:53 -r 10.244.1.2:53 -g -w 1
-A -t 10.96.0.11:80 -s wrr -p 10800
-a -t 10.96.0.11:80 -r 10.244.1.9:8080 -m -w 3
-A -t 10.96.0.10:443 -s rr
-a -t 10.96.0.10:443 -r 10.244.1.5:6443 -m -w 1
-a -t 10.96.0.10:443 -r 10.244.2.7:6443 -m -w 1
`;
// ipvsadm sorts by fwmark, protocol (TCP 6 < UDP 17), address, port.
const SAVED = `-A -t 10.96.0.10:443 -s rr
-a -t 10.96.0.10:443 -r 10.244.1.5:6443 -m -w 1
-a -t 10.96.0.10:443 -r 10.244.2.7:6443 -m -w 1
-A -t 10.96.0.11:80 -s wrr -p 10800
-a -t 10.96.0.11:80 -r 10.244.1.9:8080 -m -w 3
-A -u 10.96.0.10:53 -s sh -p 300 -M 255.255.255.0
-a -u 10.96.0.10:53 -r 10.244.1.2:53 -g -w 1
-A -f 100 -s mh
-a -f 100 -r 10.0.0.2:0 -i -w 5
`;

describe('ipvsadm text', () => {
  it('ipvsadm -Ln: header, 33-column service names, %-28s %-7s %-6d %-10u %-10u', () => {
    const v = new Ipvs();
    v.restore(SAVE);
    const s = v.findServiceExact(6, VIP, 443, 0)!;
    v.schedule(s, tcp('1.1.1.1', 1), 0);
    expect(v.list()).toBe(
      'IP Virtual Server version 1.2.1 (size=4096)\n'
      + 'Prot LocalAddress:Port Scheduler Flags\n'
      + '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n'
      + 'TCP  10.96.0.10:443 rr\n'
      + '  -> 10.244.1.5:6443              Masq    1      0          0         \n'
      + '  -> 10.244.2.7:6443              Masq    1      0          1         \n'
      + 'TCP  10.96.0.11:80 wrr persistent 10800\n'
      + '  -> 10.244.1.9:8080              Masq    3      0          0         \n'
      + 'UDP  10.96.0.10:53 sh persistent 300 mask 255.255.255.0\n'
      + '  -> 10.244.1.2:53                Route   1      0          0         \n'
      + 'FWM  100 mh\n'
      + '  -> 10.0.0.2:0                   Tunnel  5      0          0         \n');
  });
  it('ipvsadm-save -n round trip (sorted), and restore of the output reproduces it', () => {
    const v = new Ipvs();
    v.restore(SAVE);
    expect(v.save()).toBe(SAVED);
    const w = new Ipvs();
    w.restore(v.save());
    expect(w.save()).toBe(SAVED);
  });
  it('restore defaults: wlc, -g, weight 1, service port; long options', () => {
    const v = new Ipvs();
    v.restore('--add-service --tcp-service 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.0.2\n-A -t 10.0.0.1:81 -s rr -p\n');
    expect(v.save()).toBe('-A -t 10.0.0.1:80 -s wlc\n-a -t 10.0.0.1:80 -r 10.0.0.2:80 -g -w 1\n-A -t 10.0.0.1:81 -s rr -p 300\n');
    v.restore('-d -t 10.0.0.1:80 -r 10.0.0.2:80\n-D -t 10.0.0.1:81\n-e -t 10.0.0.1:80 -r 10.0.0.2 -m -w 2\n'.split('\n').slice(0, 2).join('\n'));
    expect(v.save()).toBe('-A -t 10.0.0.1:80 -s wlc\n');
    v.restore('-C');
    expect(v.save()).toBe('');
  });
  it.each([
    ['-A -t 10.0.0.1:80 -s rr\n-A -t 10.0.0.1:80 -s rr', 'IPVS_SVC_EXISTS@2'],
    ['\n-A -t 10.0.0.1:80 -s fancy', 'IPVS_NO_SCHEDULER@2'],
    ['-a -t 10.0.0.1:80 -r 10.0.0.2:80 -m', 'IPVS_NO_SERVICE@1'],
    ['-A -t 10.0.0.1 -s rr', 'IPVS_BAD_ADDRESS@1'],
    ['-A -t 10.0.0.1:99999', 'IPVS_BAD_PORT@1'],
    ['-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.0.2 -w x', 'IPVS_BAD_WEIGHT@2'],
    ['-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80 -r 10.0.0.2\n-a -t 10.0.0.1:80 -r 10.0.0.2', 'IPVS_DEST_EXISTS@3'],
    ['-A -t 10.0.0.1:80\n-d -t 10.0.0.1:80 -r 10.0.0.3', 'IPVS_NO_DEST@2'],
    ['-A -t 10.0.0.1:80\n-a -t 10.0.0.1:80', 'IPVS_MISSING_ARG@2'],
    ['-t 10.0.0.1:80', 'IPVS_BAD_COMMAND@1'],
    ['-A -A -t 10.0.0.1:80', 'IPVS_BAD_COMMAND@1'],
    ['-A -t 10.0.0.1:80 --frob', 'IPVS_UNKNOWN_OPTION@1'],
    ['-A -f 0', 'IPVS_BAD_FWMARK@1'],
    ['-A -t 10.0.0.1:80 -b sh-sideways', 'IPVS_BAD_SCHED_FLAG@1'],
    ['-A -t 10.0.0.1:80 -M 255.0', 'IPVS_BAD_NETMASK@1'],
    ['-D -t 10.0.0.1:80', 'IPVS_NO_SERVICE@1'],
    ['-A', 'IPVS_MISSING_ARG@1'],
  ])('%j fails with %s', (text, expected) => {
    let got = 'no error';
    try { new Ipvs().restore(text); } catch (e) { if (e instanceof IpvsError) got = `${e.code}@${e.line}`; else throw e; }
    expect(got).toBe(expected);
  });
  it('property: arbitrary restore text throws only IpvsError', () => {
    const word = fc.oneof(
      fc.constantFrom('-A', '-E', '-D', '-a', '-e', '-d', '-C', '-t', '-u', '-f', '-s', '-p', '-M', '-r', '-g', '-m', '-i', '-w', '-b',
        'ops', 'rr', 'wrr', 'lc', 'wlc', 'sh', 'dh', 'mh', '10.0.0.1:80', '10.0.0.2', '10.0.0.2:8080', '255.255.0.0', '1', '0', '300',
        'sh-port', 'mh-fallback', '--tcp-service', '--weight', '7'),
      fc.string({ maxLength: 10 }),
    );
    const line = fc.array(word, { maxLength: 8 }).map((ws) => ws.join(' '));
    fc.assert(fc.property(fc.array(line, { maxLength: 10 }), (lines) => {
      try { new Ipvs().restore(lines.join('\n')); } catch (e) { if (!(e instanceof IpvsError)) throw e; }
    }), { numRuns: 400 });
  });
});

describe('property: scheduling a new connection gives null or a live server of the service with weight > 0', () => {
  for (const sched of SCHEDULERS) {
    it(sched, () => {
      const cfg = fc.record({
        weights: fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 0, maxLength: 6 }),
        overloaded: fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
        flags: fc.constantFrom(0, SVC_F_SCHED_FALLBACK, SVC_F_SCHED_PORT, SVC_F_SCHED_FALLBACK | SVC_F_SCHED_PORT),
        delIdx: fc.integer({ min: -1, max: 5 }),
        clients: fc.array(fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 1, max: 65535 })), { minLength: 1, maxLength: 20 }),
      });
      fc.assert(fc.property(cfg, ({ weights, overloaded, flags, delIdx, clients }) => {
        const v = new Ipvs();
        const s = v.addService({ kind: 'udp', addr: VIP, port: 53, scheduler: sched, schedFlags: flags });
        weights.forEach((w, i) => v.addDest(s, { addr: ip(`10.244.0.${i + 1}`), port: 53, weight: w, fwd: 'masq' }));
        const victim = s.dests[delIdx];
        if (victim) v.delDest(s, victim.addr, victim.port);
        s.dests.forEach((d, i) => { d.overloaded = overloaded[i]!; });
        let t = 0;
        for (const [src, sport] of clients) {
          const d = v.schedule(s, { proto: 17, src: src >>> 0, sport, dst: VIP, dport: 53, fwmark: 0, tcpFlags: 0 }, t++);
          if (d !== null) {
            expect(s.dests).toContain(d);
            expect(d.available).toBe(true);
            expect(d.weight).toBeGreaterThan(0);
            expect(d.overloaded).toBe(false);
          }
        }
      }), { numRuns: 150 });
    });
  }
});
