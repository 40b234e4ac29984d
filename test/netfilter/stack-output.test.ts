// Packets the host itself sends (the OUTPUT path), held to BEHAVIOUR.md "Linux netfilter and
// conntrack" §13, §14, §16 and §3 (the kernel harness injects only arriving packets, so these
// facts, observed on the kernel, are asserted directly).
import { describe, expect, it } from 'vitest';
import { NfStack } from '../../src/netfilter/stack.js';
import { parseRestore } from '../../src/netfilter/restore.js';
import { parseHost, parsePacketSpec } from '../../src/netfilter/host.js';
import { FrameBuilder } from '../../src/wire/builder.js';
import { be16, be32, ipv4ToString } from '../../src/wire/bytes.js';

const HOST = (localnet: 0 | 1): string => `interfaces:
  - { name: eth-ext, addresses: [192.168.50.1/24] }
  - { name: eth-pod, addresses: [10.244.1.1/24] }
routes:
  - { dst: default, via: 192.168.50.254, dev: eth-ext, src: 192.168.50.1 }
  - { dst: 172.16.0.0/24, dev: eth-ext, src: 192.168.50.2 }
sysctls:
  net.ipv4.ip_forward: 1
  net.ipv4.conf.all.route_localnet: ${localnet}
`;
const RULES = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
-A OUTPUT -j KUBE-SERVICES
-A POSTROUTING -j KUBE-POSTROUTING
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MASQUERADE
-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.1.5:8080
-A KUBE-SERVICES -s 127.0.0.0/8 -d 127.0.0.1/32 -p tcp -m tcp --dport 30080 -j KUBE-MARK-MASQ
-A KUBE-SERVICES -d 127.0.0.1/32 -p tcp -m tcp --dport 30080 -j DNAT --to-destination 10.244.1.6:8080
COMMIT
`;

function frame(src: number, dst: number, sport: number, dport: number): Uint8Array {
  return new FrameBuilder().eth({}).ipv4({ src, dst, ttl: 64, ident: 1 }).tcp({ srcPort: sport, dstPort: dport, flags: 'S', seq: 1 }).build();
}
const text = (f: Uint8Array): string => `${ipv4ToString(be32(f, 26))}:${be16(f, 34)} > ${ipv4ToString(be32(f, 30))}:${be16(f, 36)} ttl ${f[22]}`;

describe('the OUTPUT path', () => {
  it('an unbound socket takes the route\'s src for the ORIGINAL destination and keeps it after the DNAT re-route', () => {
    const st = new NfStack(parseRestore(RULES), parseHost(HOST(0)));
    const vip = 0x0a60000a;
    expect(ipv4ToString(st.sourceFor(vip))).toBe('192.168.50.1');
    const r = st.send(frame(st.sourceFor(vip), vip, 41000, 80), 0);
    expect(r.path).toBe('out');
    // re-routed to the pod's interface; the source stays; locally generated: TTL 64
    expect(r.out!.iface).toBe('eth-pod');
    expect(text(r.out!.frame)).toBe('192.168.50.1:41000 > 10.244.1.5:8080 ttl 64');
    expect(r.hooks.map((h) => `${h.table}/${h.hook}/${h.verdict}`)).toEqual(['nat/OUTPUT/DNAT', 'nat/POSTROUTING/ACCEPT']);
    expect(st.ct.dump(0)[0]).toMatch(/src=192\.168\.50\.1 dst=10\.96\.0\.10 sport=41000 dport=80 \[UNREPLIED\] src=10\.244\.1\.5 dst=192\.168\.50\.1/);
    // an unbound socket to an on-link subnet whose route names another src takes that src (§3)
    expect(ipv4ToString(st.sourceFor(0xac10000a))).toBe('192.168.50.2');
  });

  it('localhost NodePort: DNAT + MASQUERADE with route_localnet=1; silently gone with 0 (no conntrack entry)', () => {
    const on = new NfStack(parseRestore(RULES), parseHost(HOST(1)));
    const r = on.send(frame(0x7f000001, 0x7f000001, 42000, 30080), 0);
    expect(r.verdict).toBe('ACCEPT');
    expect(r.out!.iface).toBe('eth-pod');
    expect(text(r.out!.frame)).toBe('10.244.1.1:42000 > 10.244.1.6:8080 ttl 64');
    const off = new NfStack(parseRestore(RULES), parseHost(HOST(0)));
    const g = off.send(frame(0x7f000001, 0x7f000001, 42000, 30080), 0);
    expect([g.verdict, g.path, g.out]).toEqual(['DROP', 'routing', null]);
    expect(off.ct.dump(0)).toEqual([]);
  });

  it('a local destination is delivered through INPUT', () => {
    const st = new NfStack(parseRestore(RULES), parseHost(HOST(0)));
    const r = st.send(frame(0x0af40101, 0x0af40101, 43000, 22), 0);
    expect([r.verdict, r.path]).toEqual(['ACCEPT', 'local']);
  });

  it('packet lines say out, optionally with the interface', () => {
    expect(parsePacketSpec('tcp 0.0.0.0:1 > 10.96.0.10:80 out')).toMatchObject({ local: true, in: '' });
    expect(parsePacketSpec('tcp 0.0.0.0:1 > 10.96.0.10:80 out eth-ext flags S')).toMatchObject({ local: true, flags: 'S' });
  });
});

describe('the arriving path', () => {
  it('trims Ethernet padding past the IP total length, as ip_rcv does', () => {
    const st = new NfStack(parseRestore('*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n'), parseHost(HOST(0)));
    const f = frame(0xc0a83207, 0x0af40105, 40000, 80);
    const padded = new Uint8Array(f.length + 6);
    padded.set(f);
    const r = st.receive(padded, 'eth-ext', 0);
    expect(r.out!.frame.length).toBe(f.length);
    expect(text(r.out!.frame)).toBe('192.168.50.7:40000 > 10.244.1.5:80 ttl 63');
  });

  it('the host file\'s be_liberal reaches conntrack: an out-of-window segment stays ESTABLISHED', () => {
    const rules = '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A FORWARD -m conntrack --ctstate INVALID -j DROP\nCOMMIT\n';
    const seg = (src: number, dst: number, sp: number, dp: number, flags: string, seq: number, ack: number): Uint8Array =>
      new FrameBuilder().eth({}).ipv4({ src, dst, ttl: 64, ident: 1 }).tcp({ srcPort: sp, dstPort: dp, flags, seq, ack, window: 8192 }).build();
    for (const liberal of [0, 1]) {
      const st = new NfStack(parseRestore(rules), parseHost(`${HOST(0)}  net.netfilter.nf_conntrack_tcp_be_liberal: ${liberal}\n`));
      const c = 0xc0a83207, s = 0x0af40105;
      st.receive(seg(c, s, 40000, 80, 'S', 1000, 0), 'eth-ext', 0);
      st.receive(seg(s, c, 80, 40000, 'SA', 5000, 1001), 'eth-pod', 1);
      st.receive(seg(c, s, 40000, 80, 'A', 1001, 5001), 'eth-ext', 2);
      const far = st.receive(seg(c, s, 40000, 80, 'A', 1001 + 100_000_000, 5001), 'eth-ext', 3);
      expect(far.verdict).toBe(liberal === 1 ? 'ACCEPT' : 'DROP');
    }
  });
});
