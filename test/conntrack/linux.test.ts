// Linux conntrack semantics (BEHAVIOUR.md "Linux netfilter and conntrack"): unconfirmed entries,
// ctinfo, the TCP state machine of nf_conntrack_proto_tcp.c, NAT bindings per manip type with
// the reply un-NATed, port choice, and the `conntrack -L` text. Kernel comparisons come with the
// netfilter hook pipeline (test/netfilter/).
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
