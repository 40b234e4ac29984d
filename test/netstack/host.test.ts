// The host stack on the simulator: ARP, ping, forwarding through a router, traceroute, ICMP errors,
// fragmentation and reassembly, UDP sockets, and a run that repeats byte for byte.
import { describe, expect, it } from 'vitest';
import { Sim, ms } from '../../src/sim/engine.js';
import { Link } from '../../src/sim/link.js';
import { Host } from '../../src/netstack/host.js';
import { ping, traceroute, drive, tcpRequest, tcpServer } from '../../src/netstack/tools.js';
import { ipv4ToString } from '../../src/wire/bytes.js';

/** h1 (10.0.1.2) — r (10.0.1.1 | 10.0.2.1) — h2 (10.0.2.2), 1 ms links. */
function net(o: { seed?: number; mtu2?: number; rules?: string } = {}): { sim: Sim; h1: Host; r: Host; h2: Host; l1: Link; l2: Link } {
  const sim = new Sim({ seed: o.seed ?? 1 });
  const h1 = new Host(sim, 'h1', { ifaces: [{ name: 'eth0', addrs: ['10.0.1.2/24'] }], routes: [{ dst: 'default', via: '10.0.1.1', dev: 'eth0' }] });
  const h2 = new Host(sim, 'h2', { ifaces: [{ name: 'eth0', addrs: ['10.0.2.2/24'] }], routes: [{ dst: 'default', via: '10.0.2.1', dev: 'eth0' }] });
  const r = new Host(sim, 'r', { ipForward: true, ifaces: [{ name: 'eth1', addrs: ['10.0.1.1/24'] }, { name: 'eth2', addrs: ['10.0.2.1/24'], ...(o.mtu2 !== undefined ? { mtu: o.mtu2 } : {}) }],
    ...(o.rules !== undefined ? { rules: o.rules } : {}) });
  const l1 = new Link(sim, h1.ports.get('eth0')!, r.ports.get('eth1')!, { delay: '1ms' });
  const l2 = new Link(sim, r.ports.get('eth2')!, h2.ports.get('eth0')!, { delay: '1ms', ...(o.mtu2 !== undefined ? { mtu: o.mtu2 } : {}) });
  return { sim, h1, r, h2, l1, l2 };
}

describe('Host', () => {
  it('pings a neighbour: ARP first, then the echo; the reply in 2 link delays', async () => {
    const { sim, h1, r } = net();
    const res = await ping(h1, '10.0.1.1', { count: 2 });
    expect(res.received).toBe(2);
    // the first request waited for ARP (request + reply: 2 ms more)
    expect(res.replies.map((x) => x.rttMs)).toEqual([4, 2]);
    expect(res.text).toContain('64 bytes from 10.0.1.1: icmp_seq=1 ttl=64 time=4.00 ms');
    expect(res.text).toContain('2 packets transmitted, 2 received, 0% packet loss, time 1000ms');
    expect(res.text).toContain('rtt min/avg/max/mdev = 2.000/3.000/4.000/1.000 ms');
    expect(h1.neigh.show()).toEqual([`10.0.1.1 dev eth0 lladdr ${macOf(r, 'eth1')} REACHABLE`]);
    // r learned h1 from its request (STALE: not confirmed by a reply of its own); sending the
    // echo replies to it started DELAY (a probe follows in 5 s unless something confirms it)
    expect(r.neigh.show()).toEqual([`10.0.1.2 dev eth1 lladdr ${macOf(h1, 'eth0')} DELAY`]);
    expect(sim.now).toBeGreaterThan(ms(1000));
  });

  it('forwards through a router (TTL 63) and traceroute finds each hop', async () => {
    const { h1 } = net();
    const p = await ping(h1, '10.0.2.2');
    expect(p.replies[0]).toMatchObject({ from: '10.0.2.2', ttl: 63 });
    const t = await traceroute(h1, '10.0.2.2');
    expect(t.reached).toBe(true);
    expect(t.text).toBe('traceroute to 10.0.2.2 (10.0.2.2), 30 hops max, 60 byte packets\n'
      + ' 1  10.0.1.1 (10.0.1.1)  2.000 ms  2.000 ms  2.000 ms\n'
      + ' 2  10.0.2.2 (10.0.2.2)  4.000 ms  4.000 ms  4.000 ms\n');
  });

  it('a next hop that never answers ARP: Destination Host Unreachable after 3 s, from the router', async () => {
    const { h1 } = net();
    const res = await ping(h1, '10.0.2.99');
    expect(res.received).toBe(0);
    expect(res.errors).toEqual(['From 10.0.1.1 icmp_seq=1 Destination Host Unreachable']);
    // and for an address on the host's own link, from the host itself
    const own = await ping(h1, '10.0.1.99');
    expect(own.errors).toEqual(['From 10.0.1.2 icmp_seq=1 Destination Host Unreachable']);
  });

  it('no route at the router: net unreachable; TTL 1: time exceeded; no route at the host: the socket is told', async () => {
    const { h1 } = net();
    expect((await ping(h1, '172.16.0.1')).errors).toEqual(['From 10.0.1.1 icmp_seq=1 Destination Net Unreachable']);
    expect((await ping(h1, '10.0.2.2', { ttl: 1 })).errors).toEqual(['From 10.0.1.1 icmp_seq=1 Time to live exceeded']);
    const sim = new Sim();
    const lone = new Host(sim, 'lone', { ifaces: [{ name: 'eth0', addrs: ['10.9.0.1/24'] }] });
    expect((await ping(lone, '8.8.8.8')).errors).toEqual(['ping: connect: Network is unreachable']);
  });

  it('fragments to a smaller MTU on the way (DF clear) and reassembles; DF over the MTU: frag needed', async () => {
    const { h1, h2 } = net({ mtu2: 1280 });
    const big = await ping(h1, '10.0.2.2', { size: 2000 });
    expect(big.received).toBe(1);
    expect(h2.stats.reasmOKs).toBe(1);
    const df = await ping(h1, '10.0.2.2', { size: 1400, pmtu: 'do' });
    expect(df.errors).toEqual(['From 10.0.1.1 icmp_seq=1 Frag needed and DF set (mtu = 1280)']);
    // the error taught h1 the path MTU: a DF packet over it never leaves again (for 10 minutes)
    const local = await ping(h1, '10.0.2.2', { size: 1400, pmtu: 'do' });
    expect(local.errors).toEqual(['ping: local error: message too long, mtu=1280']);
    expect(h1.mtuTo(0x0a000202)).toBe(1280);
    h1.sim.runFor(601e9);
    expect(h1.mtuTo(0x0a000202)).toBe(1500);
  });

  it('UDP sockets: a request and its answer; a closed port is answered port unreachable', async () => {
    const { sim, h1, h2 } = net();
    const server = h2.sockets.udp(7);
    server.onMessage = (data, from) => { server.send(from.addr, from.port, data); };
    const client = h1.sockets.udp();
    const got: string[] = [];
    client.onMessage = (d, from) => got.push(`${new TextDecoder().decode(d)} from ${ipv4ToString(from.addr)}:${from.port}`);
    client.onError = (e) => got.push(`error ${e.type}/${e.code} from ${ipv4ToString(e.from)}`);
    client.send('10.0.2.2', 7, 'hello');
    client.send('10.0.2.2', 9, 'nobody');
    drive(sim, () => got.length === 2);
    expect(got).toEqual(['hello from 10.0.2.2:7', 'error 3/3 from 10.0.2.2']);
  });

  it('the router\'s iptables apply: a FORWARD REJECT answers with the ICMP error the rule names', async () => {
    const { h1 } = net({ rules: '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD -p icmp -j REJECT --reject-with icmp-host-prohibited\nCOMMIT\n' });
    expect((await ping(h1, '10.0.2.2')).errors).toEqual(['From 10.0.1.1 icmp_seq=1 Destination Host Prohibited']);
  });

  it('a cut link loses the pings; restored, they come back', async () => {
    const { sim, h1, l2 } = net();
    await ping(h1, '10.0.2.2');
    l2.cut();
    expect((await ping(h1, '10.0.2.2', { count: 2, timeout: 2 })).received).toBe(0);
    l2.restore(sim.now + ms(10));
    // the first request meets the cut link (restored 10 ms later), the second gets through
    const back = await ping(h1, '10.0.2.2', { count: 2 });
    expect(back.replies.map((x) => x.seq)).toEqual([2]);
  });

  it('the same seed gives the same frames, byte for byte', async () => {
    const capture = async (seed: number): Promise<string[]> => {
      const { sim, h1, r } = net({ seed });
      const seen: string[] = [];
      r.ports.get('eth2')!.tap((f, dir, t) => seen.push(`${t} ${dir} ${Buffer.from(f).toString('hex')}`));
      const s = h1.sockets.udp();
      for (let i = 0; i < 5; i++) sim.call(ms(i), () => s.send('10.0.2.2', 5000 + i, `x${i}`));
      await ping(h1, '10.0.2.2', { count: 3 });
      return seen;
    };
    const a = await capture(3);
    expect(a.length).toBeGreaterThan(8);
    expect(await capture(3)).toEqual(a);
  });
});

function macOf(h: Host, ifname: string): string {
  return Array.from(h.mac(ifname)!, (x) => x.toString(16).padStart(2, '0')).join(':');
}

describe('Host: removing configuration (ip addr del, ip route del, ip link del)', () => {
  it('an address, a route and an interface go, with their routes; the name can be used again', async () => {
    const { h1, r } = net();
    r.addAddress('eth2', '10.0.2.9/24');
    r.addAddress('eth2', '198.51.100.7/32');
    r.addRoute({ dst: '192.168.7.0/24', via: '10.0.2.2', dev: 'eth2' });
    expect(r.fib.ipRoute('show')).toContain('192.168.7.0/24 via 10.0.2.2 dev eth2');
    r.removeRoute({ dst: '192.168.7.0/24', via: '10.0.2.2', dev: 'eth2' });
    expect(r.fib.ipRoute('show')).not.toContain('192.168.7.0');
    expect(() => r.removeRoute({ dst: '192.168.7.0/24', via: '10.0.2.2', dev: 'eth2' })).toThrow(expect.objectContaining({ code: 'HOST_BAD_ROUTE' }));
    r.removeAddress('eth2', '198.51.100.7/32');
    expect((await ping(h1, '198.51.100.7', { timeout: 1 })).received).toBe(0);
    // the subnet's primary takes its secondary with it (promote_secondaries off)
    r.removeAddress('eth2', '10.0.2.1/24');
    expect(r.addresses()[1]).toMatch(/^eth2 +\S+$/);
    expect(r.fib.ipRoute('show')).not.toContain('10.0.2.0/24');
    expect(() => r.removeAddress('eth2', '10.0.2.9/24')).toThrow(expect.objectContaining({ code: 'HOST_NO_ADDRESS' }));
    const far = r.ports.get('eth1')!.peer!;
    r.removeIface('eth1');
    expect([...r.ports.keys()]).toEqual(['eth2']);
    // the other end is free to be linked again (ip link del of a veth end)
    expect(far.link).toBeNull();
    expect(r.fib.ipRoute('show')).toBe('');
    expect((await ping(h1, '10.0.1.1', { timeout: 1 })).received).toBe(0);
    r.addIface({ name: 'eth1', addrs: ['10.0.1.1/24'] });
    expect(r.fib.ipRoute('show')).toBe('10.0.1.0/24 dev eth1 proto kernel scope link src 10.0.1.1 \n');
  });
});

describe('TCP through the host', () => {
  it('a request and its response across the router; a closed port refuses; an unreachable host times out at the SYN', async () => {
    const { h1, h2 } = net();
    tcpServer(h2, 80, (d) => new TextEncoder().encode(`HTTP/1.0 200 OK\r\n\r\n${new TextDecoder().decode(d).length} bytes`));
    const r = await tcpRequest(h1, '10.0.2.2', 80, 'GET / HTTP/1.0\r\n\r\n');
    expect(r.error).toBeNull();
    expect(new TextDecoder().decode(r.response)).toBe('HTTP/1.0 200 OK\r\n\r\n18 bytes');
    // SYN, SYN-ACK: one round trip of 4 ms, plus ARP on both hops the first time
    expect(r.connectMs).toBe(8);
    expect((await tcpRequest(h1, '10.0.2.2', 81, 'x')).error).toBe('ECONNREFUSED');
    // the router's ARP for 10.0.2.99 fails: host unreachable comes back and the SYN's connect fails
    expect((await tcpRequest(h1, '10.0.2.99', 80, 'x')).error).toBe('EHOSTUNREACH');
  });
});

describe('UDP input checks', () => {
  it('a datagram with a wrong checksum is dropped and counted, one with none (0) is taken', () => {
    const { sim, h1, h2 } = net();
    const got: string[] = [];
    h2.sockets.udp(7).onMessage = (d, _f, _t, frame) => got.push(`${new TextDecoder().decode(d)} ttl ${frame[22]}`);
    const s = h1.sockets.udp();
    const good = s.frame('10.0.2.2', 7, 'ok');
    const bad = s.frame('10.0.2.2', 7, 'bad');
    bad[bad.length - 1]! ^= 0xff;
    const none = s.frame('10.0.2.2', 7, 'none');
    none[40] = 0; none[41] = 0;
    for (const f of [good, bad, none]) h1.sendIp(f);
    drive(sim, () => got.length === 2 && h2.sockets.csumErrors === 1);
    expect(got).toEqual(['ok ttl 63', 'none ttl 63']);
    expect(h2.sockets.csumErrors).toBe(1);
  });
});
