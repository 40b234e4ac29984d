// The iptables-trace host file and packet lines: what they accept, and errors that name the field.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseHost, parsePacketSpec } from '../../src/netfilter/host.js';
import { InputError } from '../../src/errors.js';

const HOST = `
interfaces:
  - { name: eth-ext, mac: 02:00:00:00:00:01, addresses: [192.168.50.1/24, 192.168.50.2/24] }
  - { name: eth-pod, addresses: [10.244.1.1/24] }
routes:
  - { dst: default, via: 192.168.50.254, dev: eth-ext }
  - { dst: 10.244.2.0/24, via: 192.168.50.12, dev: eth-ext, src: 192.168.50.2 }
sysctls:
  net.ipv4.ip_forward: 1
  net.ipv4.conf.all.route_localnet: 1
  net.netfilter.nf_conntrack_tcp_loose: 0
  net.ipv4.vs.conntrack: 1
  net.netfilter.nf_conntrack_tcp_be_liberal: 1
`;

describe('parseHost', () => {
  it('reads interfaces (primary address first), routes and sysctls', () => {
    const h = parseHost(HOST);
    expect(h.ifaces.map((i) => [i.name, i.mac, i.addrs.length])).toEqual([['eth-ext', '02:00:00:00:00:01', 2], ['eth-pod', '02:00:00:00:00:02', 1]]);
    expect(h.ifaces[0]!.addrs[0]).toEqual({ addr: 0xc0a83201, prefixLen: 24 });
    expect(h.routes).toEqual([
      { net: 0, prefixLen: 0, dev: 'eth-ext', via: 0xc0a832fe, src: null },
      { net: 0x0af40200, prefixLen: 24, dev: 'eth-ext', via: 0xc0a8320c, src: 0xc0a83202 },
    ]);
    expect([h.ipForward, h.routeLocalnet, h.tcpLoose, h.vsConntrack, h.tcpBeLiberal, h.tcpIgnoreInvalidRst]).toEqual([true, true, false, true, true, false]);
    // not given: a fresh namespace's defaults
    const d = parseHost('interfaces: []');
    expect([d.ipForward, d.routeLocalnet, d.tcpLoose, d.vsConntrack, d.tcpBeLiberal, d.tcpIgnoreInvalidRst]).toEqual([false, false, true, false, false, false]);
  });

  it('names the field at fault', () => {
    expect(() => parseHost('interfaces:\n  - { name: a, addresses: [10.0.0.300/24] }')).toThrow(/interfaces\[0\]\.addresses\[0\]: '10\.0\.0\.300\/24'/);
    expect(() => parseHost('interfaces: []\nroutes:\n  - { dst: default, dev: eth9 }')).toThrow(/routes\[0\]\.dev: 'eth9' is not one of the interfaces/);
    expect(() => parseHost('sysctls:\n  net.ipv4.tcp_syncookies: 1')).toThrow(/HOST_UNKNOWN_KEY|sysctls\.net\.ipv4\.tcp_syncookies/);
    expect(() => parseHost('sysctls:\n  net.ipv4.ip_forward: 2')).toThrow(/sysctls\.net\.ipv4\.ip_forward: expected 0 or 1/);
    expect(() => parseHost('[')).toThrow(InputError);
  });

  it('arbitrary text throws only InputError', () => {
    fc.assert(fc.property(fc.string(), (s) => {
      try { parseHost(s); } catch (e) { expect(e).toBeInstanceOf(InputError); }
    }), { numRuns: 300 });
  });
});

describe('parsePacketSpec', () => {
  it('reads a packet line', () => {
    expect(parsePacketSpec('tcp 10.0.0.1:1234 > 10.96.0.10:80 in eth0')).toMatchObject({ proto: 'tcp', src: 0x0a000001, sport: 1234, dst: 0x0a60000a, dport: 80, in: 'eth0', flags: 'S' });
    expect(parsePacketSpec('tcp 10.0.0.1:1234 > 10.96.0.10:80 in eth0 flags PA seq 5 ack 9')).toMatchObject({ flags: 'PA', seq: 5, ack: 9 });
    expect(parsePacketSpec('icmp 10.0.0.1 > 10.0.0.2 in eth0 type 8')).toMatchObject({ proto: 'icmp', icmpType: 8 });
  });
  it('refuses what it cannot read, naming the token', () => {
    expect(() => parsePacketSpec('sctp 1.1.1.1:1 > 2.2.2.2:2 in e')).toThrow(/expected tcp, udp or icmp at 'sctp'/);
    expect(() => parsePacketSpec('tcp 1.1.1.1 > 2.2.2.2:2 in e')).toThrow(/needs a port/);
    expect(() => parsePacketSpec('tcp 1.1.1.1:1 2.2.2.2:2 in e')).toThrow(/expected '>'/);
    expect(() => parsePacketSpec('tcp 1.1.1.1:1 > 2.2.2.2:2')).toThrow(/needs 'in IFACE'/);
    expect(() => parsePacketSpec('tcp 1.1.1.1:1 > 2.2.2.2:2 in e colour red')).toThrow(/unknown option/);
  });
});
