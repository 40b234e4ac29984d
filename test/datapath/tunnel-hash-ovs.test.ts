/**
 * Differential test: the outer headers Open vSwitch 3.1's userspace datapath really writes on
 * tnl_push (VXLAN and Geneve, native tunnelling on the dummy datapath), rebuilt byte for byte
 * from src/datapath/hash.ts (outer UDP source port = tnlUdpSrcPort(rssHash…(inner key))) and the
 * rules in hash.ts's design comment (IP ID 0, DF, TTL, TOS|ECN, checksums, lengths, VXLAN/Geneve
 * fields).
 *
 * Setup (BEHAVIOUR.md §8, OVS tests/tunnel-push-pop.at): one bridge br0 (dummy datapath,
 * hwaddr aa:55:aa:55:00:00, IP 1.1.2.88/24 via netdev-dummy/ip4addr, a user route for the
 * remotes, static neighbours via tnl/arp/set). p0 is the underlay with options:tx_pcap. Inner
 * frames enter on p1/p2/p3 and go out one tunnel port each:
 *   p1 → vx1   vxlan  remote 1.1.2.92 key 100       (defaults: tos 0, ttl 64, DF, no csum)
 *   p2 → gnv1  geneve remote 1.1.2.93 key 0x123456
 *   p3 → vx2   vxlan  remote 1.1.2.94 key 7, csum=true, tos=0x20, ttl=33, df_default=false
 * and the encapsulated packet re-enters br0 from LOCAL, where `in_port=LOCAL,actions=output:p0`
 * sends it to the pcap. Every frame is injected with `ovs-appctl netdev-dummy/receive PORT HEX`.
 *
 * A second suite checks the two other hash uses the datapath engineer needs:
 *  - a default select group (3 equal buckets → `hash(sym_l4(0)),recirc(N)`): each frame must
 *    leave by bucket hash_map[symmetricL4Hash(key) & 15], hash_map[i] = bucket i % 3 (Webster's
 *    method with equal weights deals the 16 slots round-robin);
 *  - tnl_push after a recirculation (`ct(table=1)` then output to the tunnel): the outer source
 *    port still comes from the UNMIXED rssHash5Tuple — the recirc-depth mixing only feeds the EMC;
 *  - a group with selection_method=dp_hash (`hash(l4(0))`): bucket hash_map[dpHashL4(rss, 0) & 15].
 * A third suite checks tnl_pop: which underlay packets OVS decapsulates or drops, the tunnel
 * metadata in the recirculated megaflow, ECN handling, and decap-then-re-encap.
 */
import { readFileSync, existsSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { dpHashL4, rssHash5Tuple, rssHashOfPacket, symmetricL4Hash, tnlUdpSrcPort } from '../../src/flow/hash.js';
import { FLOW_WORDS, flowFromFrame } from '../../src/flow/key.js';
import { readPcap } from '../../src/pcap/reader.js';
import { toHex } from '../../src/wire/bytes.js';
import { checksumOf, fold, ipv4PseudoSum, sum16 } from '../../src/wire/checksum.js';
import { FrameBuilder } from '../../src/wire/builder.js';
import { OvsSandbox } from '../oracle/ovs.js';
import { describeWith } from '../oracle/tools.js';

const BRIDGE_MAC = 'aa:55:aa:55:00:00';
const BRIDGE_IP = '1.1.2.88';

interface Tunnel {
  name: string; ofport: number; inPort: string; inOfport: number;
  type: 'vxlan' | 'geneve'; remote: string; neighMac: string; vni: number;
  dstPort: number; tos: number; ttl: number; df: boolean; csum: boolean;
  options: Record<string, string>;
}

const TUNNELS: Tunnel[] = [
  { name: 'vx1', ofport: 10, inPort: 'p1', inOfport: 2, type: 'vxlan', remote: '1.1.2.92', neighMac: 'f8:bc:12:44:34:b6', vni: 100,
    dstPort: 4789, tos: 0, ttl: 64, df: true, csum: false, options: { remote_ip: '1.1.2.92', key: '100' } },
  { name: 'gnv1', ofport: 11, inPort: 'p2', inOfport: 3, type: 'geneve', remote: '1.1.2.93', neighMac: 'f8:bc:12:44:34:b7', vni: 0x123456,
    dstPort: 6081, tos: 0, ttl: 64, df: true, csum: false, options: { remote_ip: '1.1.2.93', key: '0x123456' } },
  { name: 'vx2', ofport: 12, inPort: 'p3', inOfport: 4, type: 'vxlan', remote: '1.1.2.94', neighMac: 'f8:bc:12:44:34:b8', vni: 7,
    dstPort: 4789, tos: 0x20, ttl: 33, df: false, csum: true,
    options: { remote_ip: '1.1.2.94', key: '7', csum: 'true', tos: '0x20', ttl: '33', df_default: 'false' } },
];

const A = '50:54:00:00:00:01', B = '50:54:00:00:00:02';
const fb = (): FrameBuilder => new FrameBuilder();

/** Inner frames: [label, frame, ip6Nxt for rssHashOfPacket (-1 = none)]. */
function innerFrames(): [string, Uint8Array, number][] {
  const f: [string, Uint8Array, number][] = [];
  const tcp = (s: string, d: string, sp: number, dp: number, flags = 'S'): Uint8Array =>
    fb().eth({ src: A, dst: B }).ipv4({ src: s, dst: d }).tcp({ srcPort: sp, dstPort: dp, flags }).build();
  const udp = (s: string, d: string, sp: number, dp: number, payload = 'x'): Uint8Array =>
    fb().eth({ src: A, dst: B }).ipv4({ src: s, dst: d }).udp({ srcPort: sp, dstPort: dp }).payload(payload).build();
  f.push(['tcp 10.0.0.1:1234>10.0.0.2:80', tcp('10.0.0.1', '10.0.0.2', 1234, 80), -1]);
  f.push(['tcp reply', tcp('10.0.0.2', '10.0.0.1', 80, 1234, 'SA'), -1]);
  f.push(['tcp 172.16.5.9:40000>10.96.0.10:443', tcp('172.16.5.9', '10.96.0.10', 40000, 443), -1]);
  f.push(['tcp high ports', tcp('192.168.100.200', '192.168.100.201', 65535, 65534, 'A'), -1]);
  f.push(['tcp port 0', tcp('1.1.1.1', '2.2.2.2', 0, 0), -1]);
  f.push(['udp dns', udp('10.244.1.5', '10.96.0.10', 53124, 53), -1]);
  f.push(['udp 4789 inside', udp('10.1.1.1', '10.1.1.2', 4789, 4789, 'inner vxlan port'), -1]);
  f.push(['udp big payload', udp('10.2.0.1', '10.2.0.2', 5001, 5201, 'y'.repeat(1000)), -1]);
  f.push(['icmp echo', fb().eth({ src: A, dst: B }).ipv4({ src: '10.0.0.1', dst: '10.0.0.3' }).icmp({ type: 8, code: 0, ident: 7, seq: 1 }).payload('ping').build(), -1]);
  f.push(['icmp unreachable', fb().eth({ src: B, dst: A }).ipv4({ src: '10.0.0.3', dst: '10.0.0.1' }).icmp({ type: 3, code: 4, mtu: 1400 }).payload('quoted').build(), -1]);
  f.push(['gre (proto 47)', fb().eth({ src: A, dst: B }).ipv4({ src: '10.9.9.1', dst: '10.9.9.2', protocol: 47 }).payload('gre-ish').build(), -1]);
  f.push(['ip later fragment', fb().eth({ src: A, dst: B }).ipv4({ src: '10.0.0.1', dst: '10.0.0.2', protocol: 17, fragOffset: 1480 }).payload('fragment tail').build(), -1]);
  f.push(['ip first fragment udp', fb().eth({ src: A, dst: B }).ipv4({ src: '10.0.0.1', dst: '10.0.0.2', mf: true }).udp({ srcPort: 1000, dstPort: 2000, length: 1000 }).payload('head').build(), -1]);
  f.push(['ecn ect0', fb().eth({ src: A, dst: B }).ipv4({ src: '10.3.0.1', dst: '10.3.0.2', ecn: 2, dscp: 10 }).udp({ srcPort: 1, dstPort: 2 }).build(), -1]);
  f.push(['ecn ce', fb().eth({ src: A, dst: B }).ipv4({ src: '10.3.0.1', dst: '10.3.0.2', ecn: 3 }).udp({ srcPort: 3, dstPort: 4 }).build(), -1]);
  f.push(['ecn ect1', fb().eth({ src: A, dst: B }).ipv4({ src: '10.3.0.1', dst: '10.3.0.2', ecn: 1 }).tcp({ srcPort: 5, dstPort: 6 }).build(), -1]);
  f.push(['vlan tcp', fb().eth({ src: A, dst: B }).vlan({ vid: 10, pcp: 3 }).ipv4({ src: '10.4.0.1', dst: '10.4.0.2' }).tcp({ srcPort: 2222, dstPort: 22 }).build(), -1]);
  f.push(['ipv6 tcp', fb().eth({ src: A, dst: B }).ipv6({ src: '2001:db8::1', dst: '2001:db8::2' }).tcp({ srcPort: 443, dstPort: 50000, flags: 'SA' }).build(), -1]);
  f.push(['ipv6 udp', fb().eth({ src: A, dst: B }).ipv6({ src: 'fd00:1::5', dst: 'fd00:2::6' }).udp({ srcPort: 546, dstPort: 547 }).payload('dhcp6').build(), -1]);
  f.push(['ipv6 icmpv6 echo', fb().eth({ src: A, dst: B }).ipv6({ src: 'fe80::1', dst: 'fe80::2' }).icmpv6({ type: 128, code: 0, ident: 1, seq: 2 }).build(), -1]);
  f.push(['ipv6 hop-by-hop + udp', fb().eth({ src: A, dst: B })
    .ipv6({ src: '2001:db8::10', dst: '2001:db8::20', nextHeader: 0, extHeaders: Uint8Array.of(17, 0, 1, 4, 0, 0, 0, 0) })
    .udp({ srcPort: 7777, dstPort: 8888 }).payload('hbh').build(), 0]);
  f.push(['ipv6 dst-opts + tcp', fb().eth({ src: A, dst: B })
    .ipv6({ src: '2001:db8::30', dst: '2001:db8::40', nextHeader: 60, extHeaders: Uint8Array.of(6, 0, 1, 4, 0, 0, 0, 0) })
    .tcp({ srcPort: 1111, dstPort: 2222 }).build(), 60]);
  f.push(['arp request', fb().eth({ src: A, dst: 'ff:ff:ff:ff:ff:ff' }).arp({ op: 1, sha: A, spa: '10.0.0.1', tpa: '10.0.0.2' }).build(), -1]);
  f.push(['arp reply', fb().eth({ src: B, dst: A }).arp({ op: 2, sha: B, spa: '10.0.0.2', tha: A, tpa: '10.0.0.1' }).build(), -1]);
  f.push(['lldp (non-IP)', fb().eth({ src: A, dst: '01:80:c2:00:00:0e', type: 0x88cc }).payload('lldp-ish payload').build(), -1]);
  return f;
}

/** IPv4 dotted quad → 4 bytes. */
function ip4(s: string): number[] {
  return s.split('.').map(Number);
}
function mac(s: string): number[] {
  return s.split(':').map((h) => parseInt(h, 16));
}

/**
 * The outer frame OVS should send for 'inner' through 't' with UDP source port 'srcPort',
 * built only from the rules in hash.ts's design comment.
 */
function expectedOuter(t: Tunnel, inner: Uint8Array, srcPort: number, innerEcn: number): Uint8Array {
  const tunLen = 8;
  const udpLen = 8 + tunLen + inner.length;
  const ipLen = 20 + udpLen;
  const out = new Uint8Array(14 + ipLen);
  out.set(mac(t.neighMac), 0);
  out.set(mac(BRIDGE_MAC), 6);
  out[12] = 0x08; out[13] = 0x00;
  const ip = 14;
  const tos = t.tos | (innerEcn === 3 ? 2 : innerEcn);
  out.set([0x45, tos, ipLen >> 8, ipLen & 0xff, 0, 0, t.df ? 0x40 : 0, 0, t.ttl, 17, 0, 0], ip);
  out.set(ip4(BRIDGE_IP), ip + 12);
  out.set(ip4(t.remote), ip + 16);
  const hc = checksumOf(out, ip, ip + 20, ip + 10);
  out[ip + 10] = hc >> 8; out[ip + 11] = hc & 0xff;
  const udp = ip + 20;
  out.set([srcPort >> 8, srcPort & 0xff, t.dstPort >> 8, t.dstPort & 0xff, udpLen >> 8, udpLen & 0xff, 0, 0], udp);
  const tun = udp + 8;
  if (t.type === 'vxlan') {
    out.set([0x08, 0, 0, 0, (t.vni >> 16) & 0xff, (t.vni >> 8) & 0xff, t.vni & 0xff, 0], tun);
  } else {
    out.set([0x00, 0x00, 0x65, 0x58, (t.vni >> 16) & 0xff, (t.vni >> 8) & 0xff, t.vni & 0xff, 0], tun);
  }
  out.set(inner, tun + tunLen);
  if (t.csum) {
    const src = (ip4(BRIDGE_IP).reduce((a, b) => a * 256 + b, 0)) >>> 0;
    const dst = (ip4(t.remote).reduce((a, b) => a * 256 + b, 0)) >>> 0;
    let c = fold(sum16(out, udp, out.length, ipv4PseudoSum(src, dst, 17, udpLen)));
    if (c === 0) c = 0xffff;
    out[udp + 6] = c >> 8; out[udp + 7] = c & 0xff;
  }
  return out;
}

/** ECN bits of an inner IPv4/IPv6 frame (after an optional 802.1Q tag), 0 for non-IP. */
function innerEcn(f: Uint8Array): number {
  let o = 12;
  let type = (f[o]! << 8) | f[o + 1]!;
  if (type === 0x8100) { o += 4; type = (f[o]! << 8) | f[o + 1]!; }
  if (type === 0x0800) return f[o + 3]! & 3;
  if (type === 0x86dd) return ((((f[o + 2]! << 8) | f[o + 3]!) >> 4) & 0xff) & 3;
  return 0;
}

function readFrames(path: string): Uint8Array[] | null {
  if (!existsSync(path)) return null;
  try {
    return [...readPcap(new Uint8Array(readFileSync(path)))].map((r) => r.data);
  } catch {
    return null; // a record half-written while we read: try again
  }
}

async function waitFrames(path: string, n: number): Promise<Uint8Array[]> {
  const deadline = Date.now() + 10_000;
  let got: Uint8Array[] = [];
  while (Date.now() < deadline) {
    got = readFrames(path) ?? got;
    if (got.length >= n) return got;
    await new Promise((r) => setTimeout(r, 50));
  }
  return got;
}

describeWith('ovs', 'tnl_push outer headers and UDP source port vs Open vSwitch 3.1 (userspace)', () => {
  let ovs: OvsSandbox;
  let pcap = '';
  const frames = innerFrames();
  /** [tunnel, label, inner, ip6Nxt] in injection order */
  const sent: [Tunnel, string, Uint8Array, number][] = [];
  let captured: Uint8Array[] = [];

  beforeAll(async () => {
    ovs = await OvsSandbox.start();
    pcap = `${ovs.dir}/p0-tx.pcap`;
    await ovs.addBridge('br0', [
      { name: 'p0', ofport: 1, options: { tx_pcap: pcap } },
      ...TUNNELS.map((t) => ({ name: t.inPort, ofport: t.inOfport })),
      ...TUNNELS.map((t) => ({ name: t.name, ofport: t.ofport, type: t.type, options: t.options })),
    ], { hwaddr: BRIDGE_MAC });
    await ovs.appctl('netdev-dummy/ip4addr', 'br0', `${BRIDGE_IP}/24`);
    await ovs.routeAdd('1.1.2.0/24', 'br0');
    for (const t of TUNNELS) await ovs.appctl('tnl/arp/set', 'br0', t.remote, t.neighMac);
    await ovs.addFlows('br0', [
      ...TUNNELS.map((t) => `in_port=${t.inOfport},actions=output:${t.ofport}`),
      'in_port=LOCAL,actions=output:1',
    ].join('\n'));
    // every frame twice per tunnel: the first takes the upcall path, the second the megaflow
    for (const t of TUNNELS) {
      for (const [label, f, nxt] of frames) {
        for (let rep = 0; rep < 2; rep++) {
          await ovs.appctl('netdev-dummy/receive', t.inPort, toHex(f));
          sent.push([t, `${t.name} ${label}${rep ? ' (again)' : ''}`, f, nxt]);
        }
      }
    }
    captured = await waitFrames(pcap, sent.length);
  });

  afterAll(async () => {
    await ovs?.stop();
  });

  it('OVS sent one encapsulated frame per injected frame', () => {
    expect(captured.length).toBe(sent.length);
  });

  it('every outer frame equals the one rebuilt from hash.ts (src port) and the tnl_push rules', () => {
    // match by (outer destination, inner bytes): queue order across input ports is OVS's business
    const pool = new Map<string, Uint8Array[]>();
    for (const c of captured) {
      const k = `${c[30]}.${c[31]}.${c[32]}.${c[33]}|${toHex(c, 50)}`;
      const l = pool.get(k) ?? [];
      l.push(c);
      pool.set(k, l);
    }
    const key = new Uint32Array(FLOW_WORDS);
    const mismatches: string[] = [];
    let ok = 0;
    for (const [t, label, inner, nxt] of sent) {
      flowFromFrame(inner, 0, inner.length, t.inOfport, key, 0, false);
      const hash = nxt >= 0 ? rssHashOfPacket(key, 0, nxt) : rssHash5Tuple(key, 0);
      const port = tnlUdpSrcPort(hash);
      const want = expectedOuter(t, inner, port, innerEcn(inner));
      const l = pool.get(`${t.remote}|${toHex(inner)}`);
      const got = l?.shift();
      if (!got) { mismatches.push(`${label}: not captured`); continue; }
      if (toHex(got) !== toHex(want)) {
        const gotPort = (got[34]! << 8) | got[35]!;
        mismatches.push(`${label}: src port ovs=${gotPort} ours=${port}\n  ovs ${toHex(got, 0, 50)}\n  us  ${toHex(want, 0, 50)}`);
        continue;
      }
      ok++;
    }
    expect(mismatches, `${ok}/${sent.length} frames identical`).toEqual([]);
  });

  it('the frames really differ in source port (the hash is exercised, not a constant)', () => {
    const ports = new Set(captured.map((c) => (c[34]! << 8) | c[35]!));
    expect(ports.size).toBeGreaterThan(15);
    for (const p of ports) expect(p >= 32768 && p < 61000).toBe(true);
  });

  it('the IPv6 extension-header quirk is real: OVS used the fixed Next Header, not nw_proto', () => {
    const key = new Uint32Array(FLOW_WORDS);
    const [, , inner, nxt] = sent.find(([t, l]) => t.name === 'vx1' && l.includes('hop-by-hop'))!;
    flowFromFrame(inner, 0, inner.length, 2, key, 0, false);
    const got = captured.find((c) => toHex(c, 50) === toHex(inner) && c[33] === 92)!;
    const port = (got[34]! << 8) | got[35]!;
    expect(port).toBe(tnlUdpSrcPort(rssHashOfPacket(key, 0, nxt)));
    expect(port).not.toBe(tnlUdpSrcPort(rssHash5Tuple(key, 0)));
  });
});

describeWith('ovs', 'dp_hash select groups and tnl_push after recirculation vs Open vSwitch 3.1', () => {
  let ovs: OvsSandbox;
  const BUCKETS = [5, 6, 7];
  /** group 2: selection_method=dp_hash (algorithm 0 = hash(l4(0))) */
  const BUCKETS_L4 = [11, 12, 13];
  const pcaps = new Map<number, string>();
  let underlay = '';
  const frames = innerFrames();
  const ctFrames = frames.filter(([l]) => !/fragment|arp|lldp/.test(l)); // ct() needs an IP match
  const vx1 = TUNNELS[0]!;
  let datapathFlows = '';

  beforeAll(async () => {
    ovs = await OvsSandbox.start();
    for (const b of [...BUCKETS, ...BUCKETS_L4]) pcaps.set(b, `${ovs.dir}/p${b}-tx.pcap`);
    underlay = `${ovs.dir}/p0-tx.pcap`;
    await ovs.addBridge('br0', [
      { name: 'p1', ofport: 1 },
      { name: 'p2', ofport: 2 },
      { name: 'p0', ofport: 3, options: { tx_pcap: underlay } },
      { name: 'p4', ofport: 4 },
      ...[...BUCKETS, ...BUCKETS_L4].map((b) => ({ name: `p${b}`, ofport: b, options: { tx_pcap: pcaps.get(b)! } })),
      { name: vx1.name, ofport: vx1.ofport, type: vx1.type, options: vx1.options },
    ], { hwaddr: BRIDGE_MAC });
    await ovs.appctl('netdev-dummy/ip4addr', 'br0', `${BRIDGE_IP}/24`);
    await ovs.routeAdd('1.1.2.0/24', 'br0');
    await ovs.appctl('tnl/arp/set', 'br0', vx1.remote, vx1.neighMac);
    await ovs.addGroups('br0', [
      `group_id=1,type=select,${BUCKETS.map((b) => `bucket=output:${b}`).join(',')}`,
      `group_id=2,type=select,selection_method=dp_hash,${BUCKETS_L4.map((b) => `bucket=output:${b}`).join(',')}`,
    ].join('\n'), { protocols: 'OpenFlow15' });
    await ovs.addFlows('br0', [
      'in_port=1,actions=group:1',
      'in_port=4,actions=group:2',
      'in_port=2,ip,actions=ct(table=1)',
      'in_port=2,ipv6,actions=ct(table=1)',
      `table=1,in_port=2,actions=output:${vx1.ofport}`,
      'in_port=LOCAL,actions=output:3',
    ].join('\n'), { protocols: 'OpenFlow15' });
    for (const [, f] of frames) await ovs.appctl('netdev-dummy/receive', 'p1', toHex(f));
    for (const [, f] of frames) await ovs.appctl('netdev-dummy/receive', 'p4', toHex(f));
    for (const [, f] of ctFrames) await ovs.appctl('netdev-dummy/receive', 'p2', toHex(f));
    await waitFrames(underlay, ctFrames.length);
    datapathFlows = await ovs.appctl('dpctl/dump-flows');
  });

  afterAll(async () => {
    await ovs?.stop();
  });

  it('the groups really run as hash(sym_l4(0)) / hash(l4(0)) + recirculation in the datapath', () => {
    expect(datapathFlows).toContain('hash(sym_l4(0)),recirc(');
    expect(datapathFlows).toContain('hash(l4(0)),recirc(');
  });

  /** frame hex → bucket port, for the frames sent by 'buckets' */
  async function bucketOf(buckets: number[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      out.clear();
      for (const b of buckets) for (const f of readFrames(pcaps.get(b)!) ?? []) out.set(toHex(f), b);
      if (out.size >= frames.length) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    return out;
  }

  it('each frame leaves by the bucket symmetricL4Hash selects (default select group)', async () => {
    const out = await bucketOf(BUCKETS);
    const key = new Uint32Array(FLOW_WORDS);
    const wrong: string[] = [];
    for (const [label, f] of frames) {
      flowFromFrame(f, 0, f.length, 1, key, 0, false);
      const want = BUCKETS[(symmetricL4Hash(key, 0, 0) & 15) % 3]!;
      const got = out.get(toHex(f));
      if (got !== want) wrong.push(`${label}: OVS p${got ?? '-'}, ours p${want}`);
    }
    expect(wrong).toEqual([]);
    expect(new Set(out.values()).size).toBe(3);
  });

  it('each frame leaves by the bucket dpHashL4(rss, 0) selects (selection_method=dp_hash)', async () => {
    const out = await bucketOf(BUCKETS_L4);
    const key = new Uint32Array(FLOW_WORDS);
    const wrong: string[] = [];
    for (const [label, f, nxt] of frames) {
      flowFromFrame(f, 0, f.length, 4, key, 0, false);
      const rss = nxt >= 0 ? rssHashOfPacket(key, 0, nxt) : rssHash5Tuple(key, 0);
      const want = BUCKETS_L4[(dpHashL4(rss, 0) & 15) % 3]!;
      const got = out.get(toHex(f));
      if (got !== want) wrong.push(`${label}: OVS p${got ?? '-'}, ours p${want}`);
    }
    expect(wrong).toEqual([]);
    expect(new Set(out.values()).size).toBe(3);
  });

  it('tnl_push after ct(table=1) recirculation uses the unmixed RSS hash', () => {
    const got = readFrames(underlay) ?? [];
    expect(got.length).toBe(ctFrames.length);
    const key = new Uint32Array(FLOW_WORDS);
    const wrong: string[] = [];
    for (const [label, f, nxt] of ctFrames) {
      flowFromFrame(f, 0, f.length, 2, key, 0, false);
      const port = tnlUdpSrcPort(nxt >= 0 ? rssHashOfPacket(key, 0, nxt) : rssHash5Tuple(key, 0));
      const c = got.find((g) => toHex(g, 50) === toHex(f));
      if (!c) { wrong.push(`${label}: not captured`); continue; }
      if (toHex(c) !== toHex(expectedOuter(vx1, f, port, innerEcn(f)))) {
        wrong.push(`${label}: OVS src port ${(c[34]! << 8) | c[35]!}, ours ${port}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});

/**
 * tnl_pop: which underlay packets OVS 3.1 decapsulates, and the tunnel metadata it fills, as
 * hash.ts's design comment lists them. Packets to br0's MAC and IP enter on p0 and are output
 * to LOCAL (which makes xlate emit tnl_pop); the decapsulated frame comes back in on the tunnel
 * port and is sent to p1 (tx_pcap). Every case has its own VNI, so `dpctl/dump-flows` shows its
 * own recirculated megaflow with `tunnel(tun_id=…,…,flags(…))`.
 */
describeWith('ovs', 'tnl_pop acceptance and tunnel metadata vs Open vSwitch 3.1', () => {
  let ovs: OvsSandbox;
  let p1 = '';
  let p0 = '';
  let flows = '';
  /** decap on vx1 (VNI 0x200 + i) then re-encap on vx2: [label, inner, underlay frame] */
  const reencap: [string, Uint8Array, Uint8Array][] = [];
  const vx2: Tunnel = { ...TUNNELS[0]!, name: 'vx2', ofport: 12, remote: '1.1.2.95', neighMac: 'f8:bc:12:44:34:b9', vni: 300 };
  const NEIGH = 'f8:bc:12:44:34:b6';
  interface PopCase {
    label: string; vni: number; accept: boolean; frame: Uint8Array; inner: Uint8Array;
    /** expected `tunnel(...)` text in the recirculated megaflow (accepted cases) */
    tunnel?: string;
    /** expected inner ECN bits after delivery, when the case is about ECN */
    innerEcn?: number;
  }
  const cases: PopCase[] = [];

  function innerOf(label: string, ecn = 0): Uint8Array {
    return fb().eth({ src: A, dst: B }).ipv4({ src: '10.0.0.1', dst: '10.0.0.2', ecn }).udp({ srcPort: 1, dstPort: 2 }).payload(label).build();
  }

  interface Outer {
    tos?: number; ttl?: number; df?: boolean; ipChecksum?: number; ipOptions?: Uint8Array; totalLengthExtra?: number;
    udpChecksum?: number; udpLength?: number; srcPort?: number;
    geneve?: boolean; vxFlags?: number; vxReserved8?: number; gnvVersion?: number; gnvProto?: number; gnvOam?: boolean;
    innerEcn?: number;
  }

  function add(label: string, accept: boolean, o: Outer, tunnel?: string, innerEcn?: number): void {
    const vni = 0x100 + cases.length;
    const inner = innerOf(label, o.innerEcn ?? 0);
    const b = fb().eth({ src: NEIGH, dst: BRIDGE_MAC }).ipv4({
      src: '1.1.2.92', dst: BRIDGE_IP, dscp: (o.tos ?? 0) >> 2, ecn: (o.tos ?? 0) & 3, ttl: o.ttl ?? 64, df: o.df ?? false,
      ident: 0x55, ...(o.ipChecksum !== undefined ? { checksum: o.ipChecksum } : {}),
      ...(o.ipOptions ? { options: o.ipOptions } : {}),
    }).udp({
      srcPort: o.srcPort ?? 50000, dstPort: o.geneve ? 6081 : 4789,
      ...(o.udpChecksum !== undefined ? { checksum: o.udpChecksum } : {}),
      ...(o.udpLength !== undefined ? { length: o.udpLength } : {}),
    });
    if (o.geneve) {
      b.geneve({ vni, version: o.gnvVersion ?? 0, protocolType: o.gnvProto ?? 0x6558, oam: o.gnvOam ?? false });
    } else {
      b.vxlan({ vni, flags: o.vxFlags ?? 0x08, reserved8: o.vxReserved8 ?? 0 });
    }
    let frame = b.payload(inner).build();
    if (o.totalLengthExtra) {
      frame = frame.slice();
      const tl = ((frame[16]! << 8) | frame[17]!) + o.totalLengthExtra;
      frame[16] = tl >> 8; frame[17] = tl & 0xff;
      const hc = checksumOf(frame, 14, 34, 24);
      frame[24] = hc >> 8; frame[25] = hc & 0xff;
    }
    cases.push({ label, vni, accept, frame, inner, ...(tunnel ? { tunnel: tunnel.replace('VNI', `0x${vni.toString(16)}`) } : {}), ...(innerEcn !== undefined ? { innerEcn } : {}) });
  }

  beforeAll(async () => {
    // The builder computes a UDP checksum unless told 0. dpctl/dump-flows omits tos=0 and never
    // shows the TTL or tun_tp_src/dst: the megaflow wildcards them (tnl_wc_init).
    add('vxlan udp csum 0', true, { udpChecksum: 0, srcPort: 40001 }, 'tunnel(tun_id=VNI,src=1.1.2.92,dst=1.1.2.88,flags(-df-csum+key))');
    add('vxlan udp csum valid', true, { srcPort: 40002 }, 'tunnel(tun_id=VNI,src=1.1.2.92,dst=1.1.2.88,flags(-df+csum+key))');
    add('vxlan udp csum bad', false, { udpChecksum: 0x1234 });
    add('vxlan outer DF set', true, { udpChecksum: 0, df: true }, 'tunnel(tun_id=VNI,src=1.1.2.92,dst=1.1.2.88,flags(-df-csum+key))');
    add('vxlan tos 0x20 ttl 7', true, { udpChecksum: 0, tos: 0x20, ttl: 7 }, 'tunnel(tun_id=VNI,src=1.1.2.92,dst=1.1.2.88,tos=0x20,flags(-df-csum+key))');
    add('vxlan ip checksum bad', false, { udpChecksum: 0, ipChecksum: 0x1234 });
    add('vxlan ip options', false, { udpChecksum: 0, ipOptions: Uint8Array.of(1, 1, 1, 1) });
    add('vxlan ip total length too long', false, { udpChecksum: 0, totalLengthExtra: 8 });
    add('vxlan udp length wrong', true, { udpChecksum: 0, udpLength: 9999 }, 'tunnel(tun_id=VNI,src=1.1.2.92,dst=1.1.2.88,flags(-df-csum+key))');
    add('vxlan flags without I', false, { udpChecksum: 0, vxFlags: 0x00 });
    add('vxlan flags extra bit', false, { udpChecksum: 0, vxFlags: 0x09 });
    add('vxlan reserved vni byte', false, { udpChecksum: 0, vxReserved8: 1 });
    add('vxlan outer CE, inner not-ECT', false, { udpChecksum: 0, tos: 3 },
      'tunnel(tun_id=VNI,src=1.1.2.92,dst=1.1.2.88,tos=0x3,flags(-df-csum+key)),recirc_id(0),in_port(4789),packet_type(ns=0,id=0),eth_type(0x0800),ipv4(tos=0/0x3,frag=no), packets:0, bytes:0, used:never, actions:drop');
    add('vxlan outer CE, inner ECT(0)', true, { udpChecksum: 0, tos: 3, innerEcn: 2 },
      'tunnel(tun_id=VNI,src=1.1.2.92,dst=1.1.2.88,tos=0x3,flags(-df-csum+key)),recirc_id(0),in_port(4789),packet_type(ns=0,id=0),eth_type(0x0800),ipv4(tos=0x2/0x3,frag=no), packets:0, bytes:0, used:never, actions:set(ipv4(tos=0x3/0x3)),2', 3);
    add('geneve plain', true, { geneve: true, udpChecksum: 0 }, 'tunnel(tun_id=VNI,src=1.1.2.92,dst=1.1.2.88,geneve(),flags(-df-csum+key))');
    add('geneve version 1', false, { geneve: true, udpChecksum: 0, gnvVersion: 1 });
    add('geneve proto ipv4', false, { geneve: true, udpChecksum: 0, gnvProto: 0x0800 });

    const reInner: [string, Uint8Array][] = [
      ['tcp', fb().eth({ src: A, dst: B }).ipv4({ src: '10.7.0.1', dst: '10.7.0.2' }).tcp({ srcPort: 3333, dstPort: 80 }).build()],
      ['udp', fb().eth({ src: A, dst: B }).ipv4({ src: '10.7.0.3', dst: '10.7.0.4' }).udp({ srcPort: 5000, dstPort: 6000 }).build()],
      ['icmp', fb().eth({ src: A, dst: B }).ipv4({ src: '10.7.0.5', dst: '10.7.0.6' }).icmp({ type: 8 }).build()],
      ['ipv6 tcp', fb().eth({ src: A, dst: B }).ipv6({ src: 'fd00::7', dst: 'fd00::8' }).tcp({ srcPort: 9, dstPort: 10 }).build()],
      ['arp', fb().eth({ src: A, dst: 'ff:ff:ff:ff:ff:ff' }).arp({ op: 1, sha: A, spa: '10.7.0.1', tpa: '10.7.0.9' }).build()],
    ];
    reInner.forEach(([label, inner], i) => {
      const frame = fb().eth({ src: NEIGH, dst: BRIDGE_MAC }).ipv4({ src: '1.1.2.92', dst: BRIDGE_IP, ttl: 64 })
        .udp({ srcPort: 41000 + i, dstPort: 4789, checksum: 0 }).vxlan({ vni: 0x200 + i }).payload(inner).build();
      reencap.push([label, inner, frame]);
    });

    ovs = await OvsSandbox.start();
    p1 = `${ovs.dir}/p1-tx.pcap`;
    p0 = `${ovs.dir}/p0-tx.pcap`;
    await ovs.addBridge('br0', [
      { name: 'p0', ofport: 1, options: { tx_pcap: p0 } },
      { name: 'p1', ofport: 2, options: { tx_pcap: p1 } },
      { name: 'vx1', ofport: 10, type: 'vxlan', options: { remote_ip: 'flow', key: 'flow' } },
      { name: 'gnv1', ofport: 11, type: 'geneve', options: { remote_ip: 'flow', key: 'flow' } },
      { name: vx2.name, ofport: vx2.ofport, type: 'vxlan', options: { remote_ip: vx2.remote, key: String(vx2.vni) } },
    ], { hwaddr: BRIDGE_MAC });
    await ovs.appctl('netdev-dummy/ip4addr', 'br0', `${BRIDGE_IP}/24`);
    await ovs.routeAdd('1.1.2.0/24', 'br0');
    await ovs.appctl('tnl/arp/set', 'br0', '1.1.2.92', NEIGH);
    await ovs.appctl('tnl/arp/set', 'br0', vx2.remote, vx2.neighMac);
    await ovs.addFlows('br0', ['in_port=1,actions=LOCAL', 'in_port=10,actions=output:2', 'in_port=11,actions=output:2',
      `priority=40000,in_port=10,tun_id=0x200/0xffffff00,actions=output:${vx2.ofport}`, 'in_port=LOCAL,actions=output:1'].join('\n'));
    for (const c of cases) await ovs.appctl('netdev-dummy/receive', 'p0', toHex(c.frame));
    await waitFrames(p1, cases.filter((c) => c.accept).length);
    // before the megaflows idle out (10 s)
    flows = await ovs.appctl('dpctl/dump-flows');
    for (const [, , f] of reencap) await ovs.appctl('netdev-dummy/receive', 'p0', toHex(f));
    await waitFrames(p0, reencap.length);
  });

  afterAll(async () => {
    await ovs?.stop();
  });

  it('decapsulates exactly the packets the rules accept, and nothing is changed in the inner frame but ECN', () => {
    const got = readFrames(p1) ?? [];
    const wrong: string[] = [];
    for (const c of cases) {
      const hit = got.find((g) => toHex(g, 42) === toHex(c.inner, 42));
      if (c.accept !== (hit !== undefined)) wrong.push(`${c.label}: OVS ${hit ? 'accepted' : 'dropped'}`);
      if (hit && c.innerEcn === undefined && toHex(hit) !== toHex(c.inner)) wrong.push(`${c.label}: inner frame changed`);
      if (hit && c.innerEcn !== undefined && (hit[15]! & 3) !== c.innerEcn) wrong.push(`${c.label}: inner ECN ${hit[15]! & 3}`);
    }
    expect(wrong).toEqual([]);
    expect(got.length).toBe(cases.filter((c) => c.accept).length);
  });

  it('fills tun_id/src/dst/tos and tun_flags (+key, +csum only with a UDP checksum, never +df)', () => {
    const missing = cases.filter((c) => c.tunnel && !flows.includes(c.tunnel)).map((c) => `${c.label}: ${c.tunnel}`);
    expect(missing, flows).toEqual([]);
  });

  it('pop then push (decap on vx1, re-encap on vx2): the outer source port comes from the inner frame', () => {
    const got = readFrames(p0) ?? [];
    const key = new Uint32Array(FLOW_WORDS);
    const wrong: string[] = [];
    for (const [label, inner] of reencap) {
      flowFromFrame(inner, 0, inner.length, 10, key, 0, false);
      const port = tnlUdpSrcPort(rssHash5Tuple(key, 0));
      const c = got.find((g) => toHex(g, 50) === toHex(inner));
      if (!c) { wrong.push(`${label}: not re-encapsulated`); continue; }
      if (toHex(c) !== toHex(expectedOuter(vx2, inner, port, innerEcn(inner)))) {
        wrong.push(`${label}: OVS src port ${(c[34]! << 8) | c[35]!}, ours ${port}\n  ${toHex(c, 0, 50)}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(got.length).toBe(reencap.length);
  });
});
