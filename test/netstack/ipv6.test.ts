// IPv6 in the host stack (src/netstack/ipv6.ts): ND, echo, UDP, forwarding, every ICMPv6 error,
// fragmentation, and bad input dropped and counted without throwing.
import { describe, expect, it } from 'vitest';
import { Topology } from '../../src/topology/topology.js';
import type { Host } from '../../src/netstack/host.js';
import { linkLocalOf } from '../../src/netstack/ipv6.js';
import { ping, traceroute } from '../../src/netstack/tools.js';
import { FrameBuilder } from '../../src/wire/builder.js';
import { be16, ipv6ToString } from '../../src/wire/bytes.js';
import { Mulberry32 } from '../../src/rng.js';

/** h1 — r1 — h2 (the r1–h2 link has MTU 1280), and h3 beside h1. */
function chain(): { t: Topology; h1: Host; r1: Host; h2: Host; h3: Host } {
  const t = new Topology();
  const h1 = t.host('h1', { ip: '2001:db8:1::2/64', gw: '2001:db8:1::1' });
  const r1 = t.router('r1', { ifaces: [{ name: 'eth1', addrs: ['2001:db8:1::1/64'] }, { name: 'eth2', addrs: ['2001:db8:2::1/64'] }, { name: 'eth3' }] });
  const h2 = t.host('h2', { ip: '2001:db8:2::2/64', gw: '2001:db8:2::1' });
  const h3 = t.host('h3', { ip: '2001:db8:1::3/64', gw: '2001:db8:1::1' });
  t.link([h1, 'eth0'], [r1, 'eth1']);
  t.link([r1, 'eth2'], [h2, 'eth0'], { mtu: 1280 });
  t.link([h3, 'eth0'], [r1, 'eth3']);
  return { t, h1, r1, h2, h3 };
}

const send = (h: Host, iface: string, frame: Uint8Array): void => h.receive(h.ports.get(iface)!, frame);

describe('addresses and neighbour discovery', () => {
  it('gives each interface its EUI-64 link-local address and the kernel routes', () => {
    const { h1 } = chain();
    const mac = h1.mac('eth0')!;
    expect(linkLocalOf(new Uint8Array([0x02, 0, 0, 0, 0, 1]))).toBe('fe80::ff:fe00:1');
    expect(linkLocalOf(new Uint8Array([0x7e, 0xd2, 0x85, 0x05, 0xab, 0x5a]))).toBe('fe80::7cd2:85ff:fe05:ab5a');
    const shown = h1.fib.ipRoute('show table all', 6);
    expect(shown).toContain('2001:db8:1::/64 dev eth0 proto kernel metric 256');
    expect(shown).toContain('fe80::/64 dev eth0 proto kernel metric 256');
    expect(shown).toContain(`local ${linkLocalOf(mac)} dev eth0 table local proto kernel metric 0`);
    expect(shown).toContain('default via 2001:db8:1::1 dev eth0 metric 1024');
  });

  it('resolves a next hop with NS to the solicited-node group and a solicited NA (router flag from a router)', async () => {
    const { t, h1, r1 } = chain();
    const cap = t.capture([h1, 'eth0']);
    const r = await ping(h1, '2001:db8:1::1');
    expect(r.received).toBe(1);
    const ns = cap.frames.find((f) => be16(f.data, 12) === 0x86dd && f.data[54] === 135)!;
    expect(Array.from(ns.data.subarray(0, 6), (x) => x.toString(16))).toEqual(['33', '33', 'ff', '0', '0', '1']);
    expect(ipv6ToString(ns.data, 38)).toBe('ff02::1:ff00:1');
    expect(ns.data[21]).toBe(255);
    const na = cap.frames.find((f) => be16(f.data, 12) === 0x86dd && f.data[54] === 136)!;
    expect(na.data[58]! & 0xe0).toBe(0xe0); // router, solicited, override
    expect(h1.ip6.neigh.show()).toEqual([`2001:db8:1::1 dev eth0 lladdr ${[...r1.mac('eth1')!].map((x) => x.toString(16).padStart(2, '0')).join(':')} router REACHABLE`]);
    // the NS with a source link-layer option left the router a STALE entry for h1; the echo reply used it: DELAY
    expect(r1.ip6.neigh.get('eth1', '2001:db8:1::2')?.state).toBe('DELAY');
  });

  it('answers NS only for addresses of the receiving interface', () => {
    const { r1 } = chain();
    const before = r1.ip6.stats.naOut;
    const ns = new FrameBuilder().eth({ dst: '33:33:ff:00:00:01' }).ipv6({ src: '2001:db8:1::2', dst: 'ff02::1:ff00:1', hopLimit: 255 })
      .icmpv6({ kind: 'neighborSolicit', code: 0, checksum: -1, reserved: 0, target: new Uint8Array([0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]), options: [] }).build();
    send(r1, 'eth1', ns); // 2001:db8:2::1 lives on eth2
    expect(r1.ip6.stats.naOut).toBe(before);
  });
});

describe('echo, UDP, forwarding', () => {
  it('pings across the router: hop limit 63, iputils text', async () => {
    const { h1 } = chain();
    const r = await ping(h1, '2001:db8:2::2', { count: 2, interval: 0.2 });
    expect(r.replies.map((x) => [x.from, x.ttl])).toEqual([['2001:db8:2::2', 63], ['2001:db8:2::2', 63]]);
    expect(r.text).toMatch(/^PING 2001:db8:2::2\(2001:db8:2::2\) 56 data bytes\n64 bytes from 2001:db8:2::2: icmp_seq=1 ttl=63 time=/);
  });

  it('carries UDP both ways with a checksum, and answers an unbound port with port unreachable', async () => {
    const { t, h1, h2 } = chain();
    const got: string[] = [];
    const srv = h2.sockets.udp(5000);
    srv.onMessage = (d, from) => { got.push(`${new TextDecoder().decode(d)} from ${from.addr6}:${from.port}`); srv.send(from.addr6, from.port, 'pong'); };
    const cli = h1.sockets.udp(4000);
    const back: string[] = [];
    cli.onMessage = (d, from) => back.push(`${new TextDecoder().decode(d)} from ${from.addr6}`);
    const errs: string[] = [];
    cli.onError = (e) => errs.push(`${e.type}/${e.code} from ${e.from6} about ${e.dst6}`);
    expect(cli.send('2001:db8:2::2', 5000, 'ping')).toBe('sent');
    cli.send('2001:db8:2::2', 5001, 'x');
    t.runFor(1e9);
    expect(got).toEqual(['ping from 2001:db8:1::2:4000']);
    expect(back).toEqual(['pong from 2001:db8:2::2']);
    expect(errs).toEqual(['1/4 from 2001:db8:2::2 about 2001:db8:2::2']);
  });

  it('traceroute -6: the router, then the destination', async () => {
    const { h1 } = chain();
    const r = await traceroute(h1, '2001:db8:2::2', { numeric: true, queries: 1 });
    expect(r.text.split('\n').map((l) => l.replace(/ +\d+\.\d+ ms/g, ''))).toEqual([
      'traceroute to 2001:db8:2::2 (2001:db8:2::2), 30 hops max, 80 byte packets', ' 1  2001:db8:1::1', ' 2  2001:db8:2::2', '']);
  });

  it('a host does not forward (forwarding off)', () => {
    const { h3 } = chain();
    const f = new FrameBuilder().eth({ dst: h3.mac('eth0')! }).ipv6({ src: '2001:db8:1::2', dst: '2001:db8:2::2' }).udp({ srcPort: 1, dstPort: 2 }).build();
    send(h3, 'eth0', f);
    expect(h3.ip6.stats.inAddrErrors).toBe(1);
    expect(h3.ip6.stats.outForwDatagrams).toBe(0);
  });
});

describe('ICMPv6 errors', () => {
  it('time exceeded, no route, address unreachable, packet too big then a fragmented echo', async () => {
    const { h1 } = chain();
    expect((await ping(h1, '2001:db8:2::2', { ttl: 1 })).errors).toEqual(['From 2001:db8:1::1 icmp_seq=1 Time exceeded: Hop limit']);
    expect((await ping(h1, '2001:db8:9::2')).errors).toEqual(['From 2001:db8:1::1 icmp_seq=1 Destination unreachable: No route']);
    expect((await ping(h1, '2001:db8:2::99', { timeout: 5 })).errors).toEqual(['From 2001:db8:1::1 icmp_seq=1 Destination unreachable: Address unreachable']);
    expect((await ping(h1, '2001:db8:1::99', { timeout: 5 })).errors).toEqual(['From 2001:db8:1::2 icmp_seq=1 Destination unreachable: Address unreachable']);
    const big = await ping(h1, '2001:db8:2::2', { count: 2, interval: 0.2, size: 1400 });
    expect(big.errors).toEqual(['From 2001:db8:1::1 icmp_seq=1 Packet too big: mtu=1280']);
    expect(big.replies.map((x) => [x.seq, x.bytes])).toEqual([[2, 1408]]);
    expect(h1.ip6.mtuTo(new Uint8Array([0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]), 0)).toBe(1280);
    expect(h1.ip6.stats.fragCreates).toBe(2);
    const df = await ping(h1, '2001:db8:2::2', { size: 1400, pmtu: 'do' });
    expect(df.errors).toEqual(['ping: local error: message too long, mtu: 1280']);
  });

  it('prohibit routes give 1/1, blackholes nothing; a host without a route says so locally', async () => {
    const { h1, r1 } = chain();
    r1.fib.ipRoute('add prohibit 2001:db8:7::/64', 6);
    r1.fib.ipRoute('add blackhole 2001:db8:8::/64', 6);
    expect((await ping(h1, '2001:db8:7::1')).errors).toEqual(['From 2001:db8:1::1 icmp_seq=1 Destination unreachable: Administratively prohibited']);
    expect((await ping(h1, '2001:db8:8::1', { timeout: 1 })).errors).toEqual([]);
    const t = new Topology();
    const lone = t.host('lone', { ip: '2001:db8:1::2/64' });
    expect((await ping(lone, '2001:db8:5::1')).text).toBe('ping: connect: Network is unreachable\n');
  });

  it('rate-limits errors per destination: a burst of 6, then one per 250 ms (a /64 route back)', async () => {
    const { h1, r1 } = chain();
    const r = await ping(h1, '2001:db8:2::2', { count: 10, interval: 0.01, ttl: 1, timeout: 1 });
    expect(r.errors.length).toBe(6);
    expect(r1.ip6.stats.icmpOutRateLimitHost).toBe(4);
    // packet too big is never limited
    const big = await ping(h1, '2001:db8:2::2', { count: 1, size: 1400 });
    expect(big.errors[0]).toContain('Packet too big');
  });
});

describe('bad input is dropped and counted, never thrown', () => {
  const v6 = (h: Host): FrameBuilder => new FrameBuilder().eth({ dst: h.mac('eth0')! });
  it('a truncated header, a wrong version, a payload length past the frame', () => {
    const { h2 } = chain();
    const good = v6(h2).ipv6({ src: '2001:db8:1::2', dst: '2001:db8:2::2' }).udp({ srcPort: 1, dstPort: 7 }).payload(new Uint8Array(4)).build();
    send(h2, 'eth0', good.slice(0, 14 + 30));
    const badVersion = good.slice(); badVersion[14] = 0x40;
    send(h2, 'eth0', badVersion);
    const long = good.slice(); long[18] = 0x10;
    send(h2, 'eth0', long);
    expect(h2.ip6.stats.inHdrErrors).toBe(2);
    expect(h2.ip6.stats.inTruncatedPkts).toBe(1);
  });

  it('a bad ICMPv6 checksum, a zero or wrong UDP checksum', () => {
    const { h2 } = chain();
    const echo = v6(h2).ipv6({ src: '2001:db8:2::5', dst: '2001:db8:2::2' }).icmpv6({ type: 128, ident: 1, seq: 1 }).build();
    echo[56] = echo[56]! ^ 0xff;
    send(h2, 'eth0', echo);
    expect(h2.ip6.stats.icmpInCsumErrors).toBe(1);
    expect(h2.ip6.stats.outRequests).toBe(0);
    h2.sockets.udp(7);
    send(h2, 'eth0', v6(h2).ipv6({ src: '2001:db8:2::5', dst: '2001:db8:2::2' }).udp({ srcPort: 1, dstPort: 7, checksum: 0 }).build());
    send(h2, 'eth0', v6(h2).ipv6({ src: '2001:db8:2::5', dst: '2001:db8:2::2' }).udp({ srcPort: 1, dstPort: 7, checksum: 0x1234 }).build());
    expect(h2.ip6.stats.udpInCsumErrors).toBe(2);
  });

  it('ND with a hop limit other than 255 is ignored', () => {
    const { r1 } = chain();
    const ns = new FrameBuilder().eth({ dst: '33:33:ff:00:00:01' }).ipv6({ src: '2001:db8:1::2', dst: 'ff02::1:ff00:1', hopLimit: 64 })
      .icmpv6({ kind: 'neighborSolicit', code: 0, checksum: -1, reserved: 0, target: new Uint8Array([0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]), options: [] }).build();
    send(r1, 'eth1', ns);
    expect(r1.ip6.stats.naOut).toBe(0);
  });

  it('random bytes after an IPv6 ethertype never throw', () => {
    const { t, r1, h2 } = chain();
    const rng = new Mulberry32(7);
    for (let i = 0; i < 3000; i++) {
      const len = 14 + (rng.nextI32() >>> 0) % 120;
      const f = new Uint8Array(len);
      for (let j = 0; j < len; j++) f[j] = rng.nextI32() & 0xff;
      f.set(r1.mac('eth1')!, 0); f[12] = 0x86; f[13] = 0xdd;
      if (len > 14 && i % 2 === 0) f[14] = 0x60 | (f[14]! & 15);
      if (len > 20 && i % 4 === 0) { f[18] = 0; f[19] = len - 54 > 0 ? len - 54 : 0; }
      expect(() => { send(r1, 'eth1', f); send(h2, 'eth0', f); t.runFor(1e6); }).not.toThrow();
    }
    expect(r1.ip6.stats.inHdrErrors + r1.ip6.stats.inTruncatedPkts).toBeGreaterThan(0);
  });
});

describe('the scripting API', () => {
  it('takes ip/gw lists for dual stack and refuses bad IPv6 input with typed errors naming the field', async () => {
    const t = new Topology();
    const a = t.host('a', { ip: ['10.0.0.2/24', '2001:db8::2/64'], gw: ['10.0.0.1', '2001:db8::1'] });
    expect(a.fib.ipRoute('show', 6)).toContain('default via 2001:db8::1 dev eth0 metric 1024');
    expect(a.fib.ipRoute('show', 4)).toContain('default via 10.0.0.1 dev eth0');
    const codeOf = (fn: () => unknown): [string, string] => {
      try { fn(); } catch (e) { const x = e as { code: string; path: string }; return [x.code, x.path]; }
      return ['', ''];
    };
    expect(codeOf(() => t.host('b', { ip: '2001:db8::3/64', gw: '2001:db8:5::1' }))).toEqual(['HOST_BAD_ROUTE', 'routes[0]']);
    expect(codeOf(() => t.host('c', { ifaces: [{ name: 'eth0', addrs: ['2001:db8::4/64', '2001:db8::4/64'] }] }))).toEqual(['HOST_DUPLICATE_ADDRESS', 'ifaces[0].addrs[1]']);
    expect(codeOf(() => t.host('d', { ip: '2001:db8::zz/64' }))).toEqual(['HOST_BAD_ADDRESS', 'ifaces[0].addrs[0]']);
  });
});

describe('extension headers', () => {
  it('skips a hop-by-hop header and answers the echo behind it', () => {
    const { t, h2 } = chain();
    const hbh = new Uint8Array([58, 0, 1, 4, 0, 0, 0, 0]); // next header ICMPv6, PadN
    const f = new FrameBuilder().eth({ dst: h2.mac('eth0')! }).ipv6({ src: '2001:db8:2::1', dst: '2001:db8:2::2', nextHeader: 0, extHeaders: hbh })
      .icmpv6({ type: 128, ident: 9, seq: 1 }).build();
    const cap = t.capture([h2, 'eth0'], 'out');
    send(h2, 'eth0', f);
    t.runFor(2e9);
    const reply = cap.frames.find((x) => be16(x.data, 12) === 0x86dd && x.data[20] === 58 && x.data[54] === 129);
    expect(reply).toBeDefined();
    expect(h2.ip6.stats.inHdrErrors).toBe(0);
  });

  it('reassembles fragments in any order; an overlap drops the datagram', () => {
    const { t, h2 } = chain();
    const got: number[] = [];
    h2.sockets.udp(9).onMessage = (d) => got.push(d.length);
    // one UDP datagram of 8 + 1992 bytes in two fragments, sent last first
    const whole = new FrameBuilder().eth({ dst: h2.mac('eth0')! }).ipv6({ src: '2001:db8:2::1', dst: '2001:db8:2::2' }).udp({ srcPort: 1, dstPort: 9 }).payload(new Uint8Array(1992)).build();
    const frag = (off: number, len: number, more: boolean, id: number): Uint8Array => {
      const x = new Uint8Array(62 + len);
      x.set(whole.subarray(0, 54), 0);
      x[18] = (8 + len) >> 8; x[19] = (8 + len) & 0xff; x[20] = 44;
      x[54] = 17; x[56] = off >> 8; x[57] = (off & 0xf8) | (more ? 1 : 0); x[61] = id;
      x.set(whole.subarray(54 + off, 54 + off + len), 62);
      return x;
    };
    send(h2, 'eth0', frag(1232, 768, false, 1));
    send(h2, 'eth0', frag(0, 1232, true, 1));
    expect(got).toEqual([1992]);
    send(h2, 'eth0', frag(0, 1232, true, 2));
    send(h2, 'eth0', frag(1224, 776, false, 2)); // overlaps the first
    t.runFor(1e9);
    expect(got).toEqual([1992]);
    expect(h2.ip6.stats.reasmOKs).toBe(1);
    expect(h2.ip6.stats.reasmFails).toBe(1);
  });
});
