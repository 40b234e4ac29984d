// Linux conntrack semantics (BEHAVIOUR.md "Linux netfilter and conntrack"): unconfirmed entries,
// ctinfo, the TCP state machine and window tracking of nf_conntrack_proto_tcp.c (linux-tcp.ts),
// NAT bindings per manip type with the reply un-NATed, port choice, and the `conntrack -L` text.
// Kernel comparisons come with the netfilter hook pipeline (test/netfilter/, the window in
// tcp-window-kernel.test.ts).
import { describe, expect, it } from 'vitest';
import { NfConntrack, NfCtResult } from '../../src/conntrack/linux.js';
import { FrameBuilder } from '../../src/wire/builder.js';
import { toHex } from '../../src/wire/bytes.js';

const eth = (): FrameBuilder => new FrameBuilder().eth({ src: '00:00:00:00:00:01', dst: '00:00:00:00:00:02' });
const tcp = (s: string, d: string, sp: number, dp: number, flags: string, seq = 1, ack = 0): Uint8Array =>
  eth().ipv4({ src: s, dst: d, ident: 1 }).tcp({ srcPort: sp, dstPort: dp, flags, seq, ack, window: 8192 }).build();
const udp = (s: string, d: string, sp: number, dp: number): Uint8Array => eth().ipv4({ src: s, dst: d, ident: 1 }).udp({ srcPort: sp, dstPort: dp }).payload('x').build();

function run(ct: NfConntrack, f: Uint8Array, now = 0): NfCtResult {
  const r = new NfCtResult();
  ct.track(f, 14, f.length, now, r);
  return r;
}

describe('tracking', () => {
  it('a TCP handshake: NEW, unconfirmed until confirm, ESTABLISHED after the reply, ASSURED on the third packet', () => {
    const ct = new NfConntrack();
    const syn = run(ct, tcp('10.0.0.1', '10.0.0.2', 40000, 80, 'S'));
    expect(syn.info).toBe('NEW');
    expect(ct.size).toBe(0);
    // a dropped first packet leaves nothing: the SYN is tracked again as NEW
    expect(run(ct, tcp('10.0.0.1', '10.0.0.2', 40000, 80, 'S')).info).toBe('NEW');
    ct.confirm(syn);
    expect(ct.dump(0)).toEqual(['tcp      6 120 SYN_SENT src=10.0.0.1 dst=10.0.0.2 sport=40000 dport=80 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 sport=80 dport=40000 mark=0 use=1']);
    // a retransmitted SYN: NEW again (no reply yet), same connection
    const again = run(ct, tcp('10.0.0.1', '10.0.0.2', 40000, 80, 'S'), 1);
    expect([again.info, again.conn]).toEqual(['NEW', syn.conn]);
    const sa = run(ct, tcp('10.0.0.2', '10.0.0.1', 80, 40000, 'SA'), 2);
    expect([sa.info, sa.dir]).toEqual(['ESTABLISHED', 1]);
    expect(ct.dump(2)[0]).toMatch(/^tcp {6}6 60 SYN_RECV src=10\.0\.0\.1 .* sport=80 dport=40000 mark=0 use=1$/);
    run(ct, tcp('10.0.0.1', '10.0.0.2', 40000, 80, 'A'), 3);
    expect(ct.dump(3)[0]).toMatch(/ESTABLISHED .* \[ASSURED\] mark=0 use=1$/);
  });

  it('loose pickup: a bare ACK starts an ESTABLISHED [UNREPLIED] connection; a lone RST or FIN is INVALID', () => {
    const ct = new NfConntrack();
    const ack = run(ct, tcp('10.0.0.1', '10.0.0.2', 1, 2, 'A'));
    expect(ack.info).toBe('NEW');
    ct.confirm(ack);
    expect(ct.dump(0)[0]).toMatch(/ESTABLISHED src=10\.0\.0\.1 .* \[UNREPLIED\]/);
    expect(run(ct, tcp('10.0.0.1', '10.0.0.3', 1, 2, 'R')).info).toBe('INVALID');
    expect(run(ct, tcp('10.0.0.1', '10.0.0.3', 1, 2, 'F')).info).toBe('INVALID');
    expect(run(new NfConntrack({ tcpLoose: false }), tcp('10.0.0.1', '10.0.0.2', 1, 2, 'A')).info).toBe('INVALID');
  });

  it('a RST as the only reply deletes the connection at once', () => {
    const ct = new NfConntrack();
    ct.confirm(run(ct, tcp('10.0.0.1', '10.0.0.2', 40000, 80, 'S')));
    run(ct, tcp('10.0.0.2', '10.0.0.1', 80, 40000, 'RA'), 1);
    expect(ct.dump(1)).toEqual([]);
  });

  it('UDP: [UNREPLIED], then no flag after the reply, [ASSURED] on the next packet', () => {
    const ct = new NfConntrack();
    ct.confirm(run(ct, udp('10.0.0.1', '10.0.0.2', 5000, 53)));
    expect(ct.dump(0)[0]).toBe('udp      17 30 src=10.0.0.1 dst=10.0.0.2 sport=5000 dport=53 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 sport=53 dport=5000 mark=0 use=1');
    run(ct, udp('10.0.0.2', '10.0.0.1', 53, 5000), 1);
    expect(ct.dump(1)[0]).not.toMatch(/UNREPLIED|ASSURED/);
    run(ct, udp('10.0.0.1', '10.0.0.2', 5000, 53), 2);
    expect(ct.dump(2)[0]).toMatch(/^udp {6}17 120 .* \[ASSURED\] mark=0 use=1$/);
  });

  it('ICMP echo keyed by id: reply ESTABLISHED; an echo reply alone is INVALID; timeouts expire entries', () => {
    const ct = new NfConntrack();
    const ping = (s: string, d: string, type: number): Uint8Array => eth().ipv4({ src: s, dst: d, ident: 1 }).icmp({ type, ident: 9, seq: 1 }).build();
    const req = run(ct, ping('10.0.0.1', '10.0.0.2', 8));
    ct.confirm(req);
    expect(run(ct, ping('10.0.0.2', '10.0.0.1', 0), 1).info).toBe('ESTABLISHED');
    expect(ct.dump(1)[0]).toBe('icmp     1 30 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=9 src=10.0.0.2 dst=10.0.0.1 type=0 code=0 id=9 mark=0 use=1');
    expect(run(ct, ping('10.0.0.5', '10.0.0.1', 0), 1).info).toBe('INVALID');
    expect(ct.expire(31_001)).toBe(1);
    expect(ct.size).toBe(0);
  });
});

describe('NAT', () => {
  it('kube-proxy path: DNAT at PREROUTING, MASQUERADE at POSTROUTING, the reply un-NATed both ways', () => {
    const ct = new NfConntrack();
    const f = tcp('10.0.0.1', '10.96.0.10', 40000, 80, 'S');
    const r = run(ct, f);
    ct.setupNat(r.conn!, 'dst', { addrMin: 0x0af40105, addrMax: 0x0af40105, portMin: 8080, portMax: 8080 }, 0);   // 10.244.1.5:8080
    ct.manip(f, r, 'dst');
    ct.setupNat(r.conn!, 'src', { addrMin: 0x0af40101, addrMax: 0x0af40101, portMin: 0, portMax: 0 }, 0);          // 10.244.1.1
    ct.manip(f, r, 'src');
    ct.confirm(r);
    expect(toHex(f)).toBe(toHex(tcp('10.244.1.1', '10.244.1.5', 40000, 8080, 'S')));
    expect(ct.dump(0)[0]).toBe('tcp      6 120 SYN_SENT src=10.0.0.1 dst=10.96.0.10 sport=40000 dport=80 [UNREPLIED] src=10.244.1.5 dst=10.244.1.1 sport=8080 dport=40000 mark=0 use=1');
    // the pod answers the masquerading address; the client gets the VIP back
    const back = tcp('10.244.1.5', '10.244.1.1', 8080, 40000, 'SA', 5000, 2);
    const rr = run(ct, back, 1);
    expect([rr.info, rr.dir]).toEqual(['ESTABLISHED', 1]);
    ct.manip(back, rr, 'dst');
    ct.manip(back, rr, 'src');
    expect(toHex(back)).toBe(toHex(tcp('10.96.0.10', '10.0.0.1', 80, 40000, 'SA', 5000, 2)));
    expect(ct.natInitialized(rr.conn!, 'dst') && ct.natInitialized(rr.conn!, 'src')).toBe(true);
  });

  it('a null binding translates nothing; MASQUERADE keeps a free port and moves a taken one into 1024-65535', () => {
    const ct = new NfConntrack({ seed: 3 });
    const a = tcp('10.0.0.1', '8.8.8.8', 40000, 53, 'S'), b = tcp('10.0.0.2', '8.8.8.8', 40000, 53, 'S');
    const ra = run(ct, a);
    ct.setupNat(ra.conn!, 'dst', null, 0);
    ct.manip(a, ra, 'dst');
    ct.setupNat(ra.conn!, 'src', { addrMin: 0xc0a83201, addrMax: 0xc0a83201, portMin: 0, portMax: 0 }, 0);
    ct.manip(a, ra, 'src');
    ct.confirm(ra);
    expect(toHex(a)).toBe(toHex(tcp('192.168.50.1', '8.8.8.8', 40000, 53, 'S')));
    const rb = run(ct, b);
    ct.setupNat(rb.conn!, 'src', { addrMin: 0xc0a83201, addrMax: 0xc0a83201, portMin: 0, portMax: 0 }, 0);
    ct.manip(b, rb, 'src');
    ct.confirm(rb);
    const port = (b[34]! << 8) | b[35]!;
    expect(port).not.toBe(40000);
    expect(port).toBeGreaterThanOrEqual(1024);
    expect(ct.size).toBe(2);
  });

  it('SNAT with a port range keeps a port inside it and picks one of the range otherwise', () => {
    const ct = new NfConntrack({ seed: 5 });
    const inside = tcp('10.0.0.1', '8.8.8.8', 20005, 53, 'S'), outside = tcp('10.0.0.1', '8.8.8.8', 40000, 53, 'S');
    const range = { addrMin: 0xc0a86401, addrMax: 0xc0a86401, portMin: 20000, portMax: 20010 };
    for (const f of [inside, outside]) {
      const r = run(ct, f);
      ct.setupNat(r.conn!, 'src', range, 0);
      ct.manip(f, r, 'src');
      ct.confirm(r);
    }
    expect((inside[34]! << 8) | inside[35]!).toBe(20005);
    const p = (outside[34]! << 8) | outside[35]!;
    expect(p >= 20000 && p <= 20010).toBe(true);
  });
});

/**
 * A client 10.0.0.1:'cport' ↔ server 10.0.0.2:80 conversation through 'ct': each segment is
 * tracked and, unless INVALID, confirmed (as the host path does when the packet leaves), 'step'
 * ms after the previous one.
 */
class Conv {
  t = -100;
  constructor(readonly ct: NfConntrack, readonly cport = 40000) {}
  frame(from: 'c' | 's', flags: string, seq: number, ack = 0, o: { win?: number; len?: number; opts?: number[]; pad?: number } = {}): Uint8Array {
    const c = from === 'c';
    let b = eth().ipv4({ src: c ? '10.0.0.1' : '10.0.0.2', dst: c ? '10.0.0.2' : '10.0.0.1', ident: 1 }).tcp({
      srcPort: c ? this.cport : 80, dstPort: c ? 80 : this.cport, flags, seq: seq >>> 0, ack: ack >>> 0, window: o.win ?? 8192,
      ...(o.opts !== undefined ? { optionBytes: Uint8Array.from(o.opts) } : {}),
    });
    if (o.len !== undefined) b = b.payload('x'.repeat(o.len));
    const f = b.build();
    if (o.pad === undefined) return f;
    const padded = new Uint8Array(f.length + o.pad);
    padded.set(f);
    return padded;
  }
  seg(from: 'c' | 's', flags: string, seq: number, ack = 0, o: { win?: number; len?: number; opts?: number[]; pad?: number; step?: number } = {}): NfCtResult {
    this.t += o.step ?? 100;
    const r = run(this.ct, this.frame(from, flags, seq, ack, o), this.t);
    this.ct.confirm(r);
    return r;
  }
  /** The handshake: client ISN 1000, server ISN 5000, windows 8192. */
  open(): this {
    this.seg('c', 'S', 1000);
    this.seg('s', 'SA', 5000, 1001);
    this.seg('c', 'A', 1001, 5001);
    return this;
  }
  /** This connection's `conntrack -L` line now, '' when there is none. */
  line(): string {
    return this.ct.dump(this.t).find((l) => l.includes(`sport=${this.cport} `)) ?? '';
  }
}

/** NOP, window scale 7, SACK permitted, EOL EOL */
const WS7 = [1, 3, 3, 7, 4, 2, 0, 0];
/** NOP NOP SACK(left, right) */
const sackBlock = (left: number, right: number): number[] =>
  [1, 1, 5, 10, left >>> 24, (left >>> 16) & 255, (left >>> 8) & 255, left & 255, right >>> 24, (right >>> 16) & 255, (right >>> 8) & 255, right & 255];
const state = (line: string): string => line.split(/\s+/)[3] ?? '';
const timeoutS = (line: string): number => Number(line.split(/\s+/)[2]);

describe('TCP window (tcp_in_window)', () => {
  it('in window: the handshake and data move the state; ctinfo NEW, then ESTABLISHED both ways', () => {
    const v = new Conv(new NfConntrack());
    expect(v.seg('c', 'S', 1000).info).toBe('NEW');
    expect(v.seg('s', 'SA', 5000, 1001).info).toBe('ESTABLISHED');
    expect(v.seg('c', 'A', 1001, 5001).info).toBe('ESTABLISHED');
    expect(v.seg('c', 'PA', 1001, 5001, { len: 100 }).info).toBe('ESTABLISHED');
    expect(v.seg('s', 'A', 5001, 1101).info).toBe('ESTABLISHED');
    expect(state(v.line())).toBe('ESTABLISHED');
    expect(v.line()).toMatch(/\[ASSURED\]/);
  });

  it('above the window (seq beyond td_maxend by more than the receiver\'s window): INVALID, no connection, nothing changes', () => {
    const v = new Conv(new NfConntrack()).open();
    v.seg('c', 'PA', 1001, 5001, { len: 100 });
    const before = v.ct.dump(v.t);
    const r = v.seg('c', 'PA', 1101 + 100000, 5001, { len: 10, step: 0 });
    expect([r.info, r.conn]).toEqual(['INVALID', null]);
    expect(v.ct.dump(v.t)).toEqual(before);
    // the same segment in window still passes afterwards
    expect(v.seg('c', 'PA', 1101, 5001, { len: 10 }).info).toBe('ESTABLISHED');
  });

  it('overshooting by no more than the receiver\'s window is ignored (it passes) and moves td_end, so its ACK is in window', () => {
    const v = new Conv(new NfConntrack()).open();
    v.seg('c', 'PA', 1001, 5001, { len: 100 });
    v.seg('s', 'A', 5001, 1101);
    // td_maxend = 1101 + 8192 = 9293: 9300..9400 overshoots by 108
    const r = v.seg('c', 'PA', 9300, 5001, { len: 100 });
    expect([r.info, r.conn !== null]).toEqual(['ESTABLISHED', true]);
    expect(v.seg('s', 'A', 5001, 9400).info).toBe('ESTABLISHED');
    // an ACK of bytes never sent (III) is INVALID
    expect(v.seg('s', 'A', 5001, 9401).info).toBe('INVALID');
  });

  it('below the window (an already acknowledged retransmission) and an overly delayed ACK are ignored: ESTABLISHED, no state change, the timeout not renewed', () => {
    const v = new Conv(new NfConntrack()).open();
    v.seg('c', 'PA', 1001, 5001, { len: 100 });
    v.seg('s', 'A', 5001, 1101);
    expect(timeoutS(v.line())).toBe(432000);
    // II: end 1001 - 20000 + 10 is before td_end - receiver's max window
    const old = v.seg('c', 'PA', 1001 - 20000, 5001, { len: 10, step: 5000 });
    expect([old.info, old.conn !== null]).toEqual(['ESTABLISHED', true]);
    expect(timeoutS(v.line())).toBe(431995);
    // IV: an ACK more than MAXACKWINDOW (66000) behind
    expect(v.seg('s', 'A', 5001, 1101 - 70000, { step: 5000 }).info).toBe('ESTABLISHED');
    expect(timeoutS(v.line())).toBe(431990);
    // a plain retransmission inside the window is accepted and refreshes
    expect(v.seg('c', 'PA', 1001, 5001, { len: 100 }).info).toBe('ESTABLISHED');
    expect(timeoutS(v.line())).toBe(432000);
  });

  it('sequence numbers wrap modulo 2^32', () => {
    const v = new Conv(new NfConntrack());
    v.seg('c', 'S', 0xffffff00);
    v.seg('s', 'SA', 0xfffffff0, 0xffffff01);
    v.seg('c', 'A', 0xffffff01, 0xfffffff1);
    // 0x200 bytes from 0xffffff01 end at 0x101, past zero
    expect(v.seg('c', 'PA', 0xffffff01, 0xfffffff1, { len: 0x200 }).info).toBe('ESTABLISHED');
    expect(v.seg('s', 'PA', 0xfffffff1, 0x101, { len: 0x20 }).info).toBe('ESTABLISHED');
    expect(v.seg('c', 'A', 0x101, 0x11).info).toBe('ESTABLISHED');
    // far ahead across the wrap, and an ACK of more than was sent
    expect(v.seg('c', 'PA', 0x101 + 100000, 0x11, { len: 10 }).info).toBe('INVALID');
    expect(v.seg('s', 'A', 0x11, 0x102).info).toBe('INVALID');
    expect(v.seg('s', 'A', 0x11, 0x101).info).toBe('ESTABLISHED');
  });

  it('window scaling only when both SYNs carry the option, and never on a SYN\'s own window', () => {
    const both = new Conv(new NfConntrack());
    both.seg('c', 'S', 1000, 0, { win: 65535, opts: WS7 });
    both.seg('s', 'SA', 5000, 1001, { win: 65535, opts: WS7 });
    both.seg('c', 'A', 1001, 5001, { win: 1024 });
    both.seg('s', 'A', 5001, 1001, { win: 2048 });   // 2048 << 7 = 256 KiB
    expect(both.seg('c', 'PA', 1001 + 200000, 5001, { win: 1024, len: 100 }).info).toBe('ESTABLISHED');
    const one = new Conv(new NfConntrack());
    one.seg('c', 'S', 1000, 0, { win: 65535, opts: WS7 });
    one.seg('s', 'SA', 5000, 1001, { win: 65535 });
    one.seg('c', 'A', 1001, 5001, { win: 1024 });
    one.seg('s', 'A', 5001, 1001, { win: 2048 });    // unscaled: the SYN-ACK's 65535 stays the limit
    expect(one.seg('c', 'PA', 1001 + 200000, 5001, { win: 1024, len: 100 }).info).toBe('INVALID');
    expect(one.seg('c', 'PA', 1001 + 60000, 5001, { win: 1024, len: 100 }).info).toBe('ESTABLISHED');
  });

  it('with SACK permitted, the right edge of a SACK block is the acknowledgement checked', () => {
    const v = new Conv(new NfConntrack());
    v.seg('c', 'S', 1000, 0, { opts: WS7 });
    v.seg('s', 'SA', 5000, 1001, { opts: WS7 });
    v.seg('c', 'A', 1001, 5001);
    v.seg('c', 'PA', 1001, 5001, { len: 100 });
    expect(v.seg('s', 'A', 5001, 1001, { opts: sackBlock(1051, 1101) }).info).toBe('ESTABLISHED');
    expect(v.seg('s', 'A', 5001, 1001, { opts: sackBlock(1101, 1200) }).info).toBe('INVALID');
    // without SACK permitted the block is not read
    const w = new Conv(new NfConntrack()).open();
    w.seg('c', 'PA', 1001, 5001, { len: 100 });
    expect(w.seg('s', 'A', 5001, 1001, { opts: sackBlock(1101, 1200) }).info).toBe('ESTABLISHED');
  });

  it('retransmissions: the same ACK repeated three times gives the 300 s timeout; a retransmitted SYN does not renew SYN_SENT\'s', () => {
    const v = new Conv(new NfConntrack()).open();
    for (let i = 0; i < 3; i++) v.seg('s', 'A', 5001, 1001);
    expect(timeoutS(v.line())).toBe(432000);
    v.seg('s', 'A', 5001, 1001);
    expect(timeoutS(v.line())).toBe(300);
    const w = new Conv(new NfConntrack(), 40001);
    w.seg('c', 'S', 1000);
    w.seg('c', 'S', 1000, 0, { step: 5000 });
    expect(w.line()).toMatch(/^tcp {6}6 115 SYN_SENT /);
  });

  it('unacknowledged data caps the timeout at 300 s until it is acknowledged', () => {
    const v = new Conv(new NfConntrack()).open();
    v.seg('c', 'PA', 1001, 5001, { len: 100 });
    expect(timeoutS(v.line())).toBe(300);
    v.seg('s', 'A', 5001, 1101);
    expect(timeoutS(v.line())).toBe(432000);
  });

  it('RST: below the peer\'s highest ACK INVALID; in window but not exact keeps ESTABLISHED with the 10 s CLOSE timeout; exact closes', () => {
    const v = new Conv(new NfConntrack()).open();
    v.seg('c', 'PA', 1001, 5001, { len: 100 });
    v.seg('s', 'A', 5001, 1101);
    expect(v.seg('s', 'R', 4000).info).toBe('INVALID');
    expect(state(v.line())).toBe('ESTABLISHED');
    expect(v.seg('s', 'R', 5101).info).toBe('ESTABLISHED');
    expect([state(v.line()), timeoutS(v.line())]).toEqual(['ESTABLISHED', 10]);
    // far beyond the window: tcp_in_window refuses it
    expect(v.seg('s', 'R', 5001 + 100000).info).toBe('INVALID');
    expect(v.seg('s', 'R', 5001).info).toBe('ESTABLISHED');
    expect([state(v.line()), timeoutS(v.line())]).toEqual(['CLOSE', 10]);
  });

  it('nf_conntrack_tcp_ignore_invalid_rst: a RST below the peer\'s ACK is kept in ESTABLISHED instead of INVALID', () => {
    const v = new Conv(new NfConntrack({ tcpIgnoreInvalidRst: true })).open();
    v.seg('c', 'PA', 1001, 5001, { len: 100 });
    v.seg('s', 'A', 5001, 1101);
    expect(v.seg('s', 'R', 4000).info).toBe('ESTABLISHED');
    expect(state(v.line())).toBe('ESTABLISHED');
  });

  it('loose pickup then window: both directions liberal; ASSURED only once a reply was seen; ESTABLISHED unreplied has 300 s', () => {
    const v = new Conv(new NfConntrack());
    expect(v.seg('c', 'A', 1000, 2000).info).toBe('NEW');
    expect(timeoutS(v.line())).toBe(300);
    expect(v.seg('c', 'PA', 1000 + 1000000, 2000, { len: 10 }).info).toBe('NEW');
    expect(v.line()).not.toMatch(/ASSURED/);
    expect(v.seg('s', 'A', 2000, 1000 + 1000010).info).toBe('ESTABLISHED');
    expect(v.line()).not.toMatch(/UNREPLIED|ASSURED/);
    expect(v.seg('c', 'A', 1000 + 1000010, 2000).info).toBe('ESTABLISHED');
    expect(v.line()).toMatch(/ESTABLISHED .*\[ASSURED\]/);
    // out of window in both directions, still accepted
    expect(v.seg('s', 'PA', 2000 + 5000000, 1, { len: 10 }).info).toBe('ESTABLISHED');
  });

  it('nf_conntrack_tcp_be_liberal: out-of-window segments pass; a RST below the peer\'s ACK is still INVALID', () => {
    const v = new Conv(new NfConntrack({ tcpBeLiberal: true })).open();
    expect(v.seg('c', 'PA', 1001 + 500000, 5001, { len: 10 }).info).toBe('ESTABLISHED');
    expect(v.seg('s', 'A', 5001, 1001 + 900000).info).toBe('ESTABLISHED');
    expect(v.seg('s', 'R', 4000).info).toBe('INVALID');
    const ct = new NfConntrack();
    const w = new Conv(ct).open();
    expect(w.seg('c', 'PA', 1001 + 500000, 5001, { len: 10 }).info).toBe('INVALID');
    // a sysctl: switched on at run time
    ct.tcpBeLiberal = true;
    expect(w.seg('c', 'PA', 1001 + 500000, 5001, { len: 10 }).info).toBe('ESTABLISHED');
  });

  it('flag combinations tcp_error refuses are INVALID, new or on a tracked connection', () => {
    const ct = new NfConntrack();
    const v = new Conv(ct).open();
    for (const f of ['F', '', 'SF', 'SR', 'RF', 'SAF', 'U']) expect(v.seg('c', f, 1001, 5001).info, `flags '${f}'`).toBe('INVALID');
    expect(new Conv(ct, 40009).seg('c', 'SF', 1).info).toBe('INVALID');
    expect(state(v.line())).toBe('ESTABLISHED');
    // PSH, ECE and CWR do not matter
    expect(v.seg('c', 'PAEC', 1001, 5001).info).toBe('ESTABLISHED');
  });

  it('a SYN on a connection closed by FIN replaces it with a new one; on one closed by the peer\'s RST it is ignored until its SYN-ACK resyncs', () => {
    const v = new Conv(new NfConntrack()).open();
    v.seg('c', 'FA', 1001, 5001);
    expect(state(v.line())).toBe('FIN_WAIT');
    v.seg('s', 'FA', 5001, 1002);
    expect(state(v.line())).toBe('LAST_ACK');
    v.seg('c', 'A', 1002, 5002);
    expect(state(v.line())).toBe('TIME_WAIT');
    const old = v.ct.dump(v.t);
    const syn = v.seg('c', 'S', 30000);
    expect(syn.info).toBe('NEW');
    expect(v.ct.dump(v.t)).not.toEqual(old);
    expect(v.line()).toMatch(/SYN_SENT .*\[UNREPLIED\]/);
    expect(v.ct.size).toBe(1);

    const w = new Conv(new NfConntrack()).open();
    w.seg('s', 'R', 5001);
    expect(state(w.line())).toBe('CLOSE');
    const again = w.seg('c', 'S', 90000);
    expect([again.info, state(w.line())]).toEqual(['ESTABLISHED', 'CLOSE']);
    w.seg('s', 'SA', 70000, 90001);
    expect(state(w.line())).toBe('SYN_RECV');
    w.seg('c', 'A', 90001, 70001);
    expect(state(w.line())).toBe('ESTABLISHED');
  });

  it('RFC 5961: the challenge ACK answering a SYN in LAST_ACK is not taken for the last ACK', () => {
    const v = new Conv(new NfConntrack()).open();
    v.seg('c', 'FA', 1001, 5001);
    v.seg('s', 'FA', 5001, 1002);
    v.seg('c', 'S', 50000);
    expect(state(v.line())).toBe('LAST_ACK');
    expect(v.seg('s', 'A', 5002, 1002).info).toBe('ESTABLISHED');
    expect(state(v.line())).toBe('LAST_ACK');
    // the client's RST answering the challenge ACK closes it (no window check while closing)
    v.seg('c', 'R', 1002);
    expect(state(v.line())).toBe('CLOSE');
    // the client had started the close: its next SYN makes a new connection
    expect(v.seg('c', 'S', 50000).info).toBe('NEW');
    expect(state(v.line())).toBe('SYN_SENT');
  });

  it('simultaneous open: SYN both ways, SYN-ACK, ACK reach ESTABLISHED [ASSURED]', () => {
    const v = new Conv(new NfConntrack());
    v.seg('c', 'S', 1000);
    v.seg('s', 'S', 5000);
    expect(state(v.line())).toBe('SYN_SENT2');
    v.seg('c', 'SA', 1000, 5001);
    expect(state(v.line())).toBe('SYN_RECV');
    v.seg('s', 'A', 5001, 1001);
    expect(v.line()).toMatch(/ESTABLISHED .*\[ASSURED\]/);
  });

  it('an INVALID segment of a NATed connection is not NATed (it has no connection)', () => {
    const ct = new NfConntrack();
    const v = new Conv(ct);
    const f = v.frame('c', 'S', 1000);
    const r = run(ct, f);
    ct.setupNat(r.conn!, 'src', { addrMin: 0xc0a83201, addrMax: 0xc0a83201, portMin: 0, portMax: 0 }, 0);
    ct.manip(f, r, 'src');
    ct.confirm(r);
    // the reply comes to the masquerading address
    const sa = eth().ipv4({ src: '10.0.0.2', dst: '192.168.50.1', ident: 1 }).tcp({ srcPort: 80, dstPort: 40000, flags: 'SA', seq: 5000, ack: 1001 }).build();
    expect(run(ct, sa, 100).info).toBe('ESTABLISHED');
    const ok = v.frame('c', 'A', 1001, 5001), far = v.frame('c', 'PA', 1001 + 100000, 5001, { len: 10 });
    const farBefore = toHex(far);
    const rOk = run(ct, ok, 200), rFar = run(ct, far, 300);
    ct.manip(ok, rOk, 'src');
    ct.manip(far, rFar, 'src');
    expect(toHex(ok)).toBe(toHex(eth().ipv4({ src: '192.168.50.1', dst: '10.0.0.2', ident: 1 }).tcp({ srcPort: 40000, dstPort: 80, flags: 'A', seq: 1001, ack: 5001 }).build()));
    expect([rFar.info, toHex(far)]).toEqual(['INVALID', farBefore]);
  });

  it('a segment\'s length is the IP payload, not the frame: an Ethernet pad is no data', () => {
    const v = new Conv(new NfConntrack()).open();
    v.seg('c', 'A', 1001, 5001, { pad: 6 });
    expect(v.seg('s', 'A', 5001, 1007).info).toBe('INVALID');
    expect(v.seg('s', 'A', 5001, 1001).info).toBe('ESTABLISHED');
  });
});

describe('conntrack -D by address (deleteWhere)', () => {
  it('deletes the confirmed connections meeting every filter given, and only them', () => {
    const ct = new NfConntrack();
    for (const [s, d, sp] of [['10.0.0.1', '10.0.0.2', 1], ['10.0.0.1', '10.0.0.3', 2], ['10.0.0.4', '10.0.0.2', 3]] as const) ct.confirm(run(ct, udp(s, d, 1000 + sp, 53)));
    run(ct, udp('10.0.0.9', '10.0.0.2', 999, 53)); // unconfirmed: not in the table
    expect(ct.deleteWhere({ origSrc: 0x0a000001, origDst: 0x0a000003 })).toBe(1);
    expect(ct.deleteWhere({ replySrc: 0x0a000002 })).toBe(2);
    expect(ct.deleteWhere({ replyDst: 0x0a000001 })).toBe(0);
    expect(ct.size).toBe(0);
  });
  it('-p: only the given protocol\'s connections of the address pair go (kube-proxy\'s UDP cleanup keeps TCP)', () => {
    const ct = new NfConntrack();
    ct.confirm(run(ct, udp('10.0.0.1', '10.0.0.2', 1000, 53)));
    ct.confirm(run(ct, tcp('10.0.0.1', '10.0.0.2', 1000, 53, 'S')));
    expect(ct.deleteWhere({ proto: 17, origDst: 0x0a000002 })).toBe(1);
    expect(ct.dump(0).map((l) => l.split(' ')[0])).toEqual(['tcp']);
    expect(ct.deleteWhere({ proto: 17, origDst: 0x0a000002 })).toBe(0);
    expect(ct.deleteWhere({ proto: 6, replySrc: 0x0a000002 })).toBe(1);
    expect(ct.size).toBe(0);
  });
});

describe('a full table (nf_conntrack_max) and early_drop', () => {
  const confirmUdp = (ct: NfConntrack, i: number, assured: boolean, now = 0): void => {
    const r = run(ct, udp('10.0.0.1', '10.0.1.1', 1000 + i, 53), now);
    ct.confirm(r);
    if (assured) {
      run(ct, udp('10.0.1.1', '10.0.0.1', 53, 1000 + i), now);
      run(ct, udp('10.0.0.1', '10.0.1.1', 1000 + i, 53), now);
    }
  };

  it('a new connection evicts the non-ASSURED entries of its bucket; with only ASSURED ones it is dropped, and established traffic goes on', () => {
    const ct = new NfConntrack({ maxEntries: 4, buckets: 1 });
    for (let i = 0; i < 4; i++) confirmUdp(ct, i, i < 2);
    expect(ct.size).toBe(4);
    const r = run(ct, udp('10.0.0.9', '10.0.1.1', 5000, 53), 1);
    expect([r.info, r.full]).toEqual(['NEW', false]);
    expect(ct.stats).toEqual({ drop: 0, earlyDrop: 2 });
    ct.confirm(r);
    expect(ct.size).toBe(3);
    expect(ct.dump(1).filter((l) => l.includes('[UNREPLIED]')).map((l) => l.match(/sport=(\d+)/)![1])).toEqual(['5000']);
    // make the new one ASSURED too, fill the table with ASSURED connections: nothing can go
    run(ct, udp('10.0.1.1', '10.0.0.9', 53, 5000), 1);
    run(ct, udp('10.0.0.9', '10.0.1.1', 5000, 53), 1);
    confirmUdp(ct, 7, true, 1);
    expect(ct.size).toBe(4);
    const refused = run(ct, udp('10.0.0.8', '10.0.1.1', 6000, 53), 2);
    expect([refused.info, refused.conn, refused.full]).toEqual(['INVALID', null, true]);
    expect(ct.stats).toEqual({ drop: 1, earlyDrop: 2 });
    expect(ct.size).toBe(4);
    // the tracked connections are not affected, both ways
    expect(run(ct, udp('10.0.0.1', '10.0.1.1', 1000, 53), 3)).toMatchObject({ info: 'ESTABLISHED', full: false });
    expect(run(ct, udp('10.0.1.1', '10.0.0.1', 53, 1001), 3)).toMatchObject({ info: 'ESTABLISHED', dir: 1, full: false });
    // a TCP SYN is refused the same way; maxEntries 0 lifts the limit (the sysctl's 0)
    expect(run(ct, tcp('10.0.0.8', '10.0.1.1', 6001, 80, 'S'), 3).full).toBe(true);
    ct.maxEntries = 0;
    expect(run(ct, tcp('10.0.0.8', '10.0.1.1', 6001, 80, 'S'), 3)).toMatchObject({ info: 'NEW', full: false });
  });

  it('timed-out entries a lookup meets are freed (nf_ct_gc_expired) before the table-full check: the new connection gets in', () => {
    const ct = new NfConntrack({ maxEntries: 2, buckets: 1 });
    confirmUdp(ct, 0, true);
    confirmUdp(ct, 1, true);
    // UDP stream timeout 120 s: both have timed out at 200 s; the new packet's lookup walks their bucket
    const r = run(ct, udp('10.0.0.5', '10.0.1.1', 7000, 53), 200_000);
    expect(r.full).toBe(false);
    expect(ct.size).toBe(0);
    expect(ct.stats).toEqual({ drop: 0, earlyDrop: 0 });
  });

  it('the GC worker frees timed-out connections as new ones come: a stream of fresh ports keeps the table at what is live', () => {
    const ct = new NfConntrack({ buckets: 1024 });
    // one new UDP flow per second (unreplied: 30 s), for an hour
    for (let i = 0; i < 3600; i++) ct.confirm(run(ct, udp('10.0.2.2', '10.0.1.1', 1024 + i, 53), i * 1000));
    // about 30 live; what timed out is freed within a pass of the worker over the buckets
    expect(ct.size).toBeLessThan(30 + 1024 / 4 + 1);
    expect(ct.dump(3600_000).length).toBeLessThanOrEqual(31);
  });

  it('with the kernel\'s many buckets early_drop looks at 8 of them: a table full of unreplied connections still drops most new ones', () => {
    const ct = new NfConntrack({ maxEntries: 200, buckets: 262144 });
    for (let i = 0; i < 200; i++) confirmUdp(ct, i, false);
    let admitted = 0;
    for (let i = 0; i < 100; i++) {
      const r = run(ct, udp('10.0.2.2', '10.0.1.1', 20000 + i, 53), 1);
      if (!r.full) { admitted++; ct.confirm(r); }
    }
    expect(admitted).toBeLessThan(5);
    expect(ct.stats.drop).toBe(100 - admitted);
    expect(ct.stats.earlyDrop).toBeGreaterThanOrEqual(admitted);
    expect(ct.size).toBe(200 - ct.stats.earlyDrop + admitted);
  });
});
