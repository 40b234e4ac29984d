/**
 * The `sdnemu pcap` command end to end, run as a user runs it (a child
 * process on the TypeScript sources through tsx).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readPcap } from '../../src/pcap/index.js';
import { describeWith, tempDir, tsharkFields } from '../oracle/tools.js';
import { sdnemu } from './run.js';


describe('sdnemu CLI', () => {
  it('--help and usage errors', () => {
    const h = sdnemu(['--help']);
    expect(h.status).toBe(0);
    expect(h.stdout).toContain('pcap decode FILE');
    const bad = sdnemu(['pcap', 'decode', '--frob', 'x.pcap']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("unrecognized option '--frob'");
    expect(sdnemu(['pcap', 'decode', 'x.pcap', '-d', 'tcp.port==1,http']).stderr).toContain('CLI_BAD_DECODE_AS');
  });

  it('pcap decode prints one tcpdump-style line per packet', () => {
    const r = sdnemu(['pcap', 'decode', 'pcap-samples/vxlan-kernel.pcap']);
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(22);
    expect(lines[2]).toMatch(/^\d\d:\d\d:\d\d\.\d{6} 02:00:00:00:01:01 > 02:00:00:00:01:02, ethertype IPv4 \(0x0800\), length 92: 192\.168\.100\.1\.\d+ > 192\.168\.100\.2\.4789: VXLAN, flags \[I\] \(0x08\), vni 5001 /);
  });

  it('pcap decode --json: Wireshark field names, repeated fields as arrays outer first', () => {
    const r = sdnemu(['pcap', 'decode', '--json', 'pcap-samples/vxlan-kernel-bigvni.pcap']);
    expect(r.status).toBe(0);
    const pkts = JSON.parse(r.stdout) as Record<string, unknown>[];
    expect(pkts).toHaveLength(22);
    const icmp = pkts.find((p) => p['icmp.type'] === '8')!;
    expect(icmp['vxlan.vni']).toBe('16000000');
    expect(icmp['ip.src']).toEqual(['192.168.100.1', '10.200.0.1']);
    expect(icmp['ip.checksum.status']).toEqual(['1', '1']);
    expect(icmp['frame.protocols']).toBe('eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:icmp:data');
    expect(icmp['error']).toBeUndefined();
  });

  it('pcap decode of a cut capture prints every good packet, closes the JSON, then fails with the file offset', () => {
    const { dir, cleanup } = tempDir();
    try {
      const f = join(dir, 'cut.pcap');
      writeFileSync(f, readFileSync('pcap-samples/tcp-kernel.pcap').subarray(0, 300));
      const r = sdnemu(['pcap', 'decode', '--json', f]);
      expect(r.status).toBe(1);
      expect(JSON.parse(r.stdout)).toHaveLength(3);
      expect(r.stderr).toMatch(/^sdnemu: PCAP_TRUNCATED: .* at file offset 286\n$/);
    } finally { cleanup(); }
  });

  it('a packet that cannot be fully decoded carries its error and what was decoded before it', () => {
    const { dir, cleanup } = tempDir();
    try {
      // one frame: Ethernet + the first 10 bytes of an IPv4 header
      const rec = readPcap(readFileSync('pcap-samples/tcp-kernel.pcap')).next().value!;
      const frame = rec.data.subarray(0, 24);
      const f = join(dir, 'short.pcap');
      const hdr = Buffer.alloc(24); hdr.writeUInt32LE(0xa1b2c3d4, 0); hdr.writeUInt16LE(2, 4); hdr.writeUInt16LE(4, 6); hdr.writeUInt32LE(65535, 16); hdr.writeUInt32LE(1, 20);
      const rh = Buffer.alloc(16); rh.writeUInt32LE(frame.length, 8); rh.writeUInt32LE(frame.length, 12);
      writeFileSync(f, Buffer.concat([hdr, rh, Buffer.from(frame)]));
      const r = sdnemu(['pcap', 'decode', '--json', f]);
      expect(r.status).toBe(0);
      const [p] = JSON.parse(r.stdout) as Record<string, unknown>[];
      expect(p!['eth.type']).toBe('0x0800');
      expect(p!['error']).toMatchObject({ code: 'WIRE_TRUNCATED', offset: 24 });
    } finally { cleanup(); }
  });
});

describeWith('tshark', 'sdnemu pcap encode, read back by tshark', () => {
  it('builds packets from Wireshark field names; tshark finds nothing malformed and every checksum good', () => {
    const { dir, cleanup } = tempDir();
    try {
      const desc = [
        { 'eth.src': '02:00:00:00:00:01', 'eth.dst': '02:00:00:00:00:02', 'ip.src': '10.0.0.1', 'ip.dst': '10.0.0.2', 'udp.srcport': '40000', 'udp.dstport': '5000', 'data.data': '68656c6c6f' },
        {
          'frame.protocols': 'eth:ethertype:ip:udp:vxlan:eth:ethertype:ip:tcp',
          'eth.src': ['52:54:00:00:00:01', '0a:58:0a:f4:01:05'], 'eth.dst': ['52:54:00:00:00:02', '0a:58:0a:f4:02:07'],
          'ip.src': ['192.168.100.1', '10.244.1.5'], 'ip.dst': ['192.168.100.2', '10.244.2.7'], 'ip.ttl': ['64', '63'],
          'udp.srcport': '49152', 'vxlan.vni': '16777215', 'tcp.srcport': '38412', 'tcp.dstport': '8080', 'tcp.flags': '0x0002', 'tcp.seq': '3000000000',
        },
        { 'eth.src': '02:00:00:00:00:01', 'vlan.id': ['100', '10'], 'ipv6.src': 'fe80::1', 'ipv6.dst': 'ff02::1:ff00:2', 'icmpv6.type': '128', 'icmpv6.echo.identifier': '0x0007', 'icmpv6.echo.sequence_number': '1' },
        { 'eth.src': '02:00:00:00:00:01', 'arp.opcode': '1', 'arp.src.hw_mac': '02:00:00:00:00:01', 'arp.src.proto_ipv4': '10.0.0.1', 'arp.dst.proto_ipv4': '10.0.0.2' },
      ];
      const inFile = join(dir, 'in.json'), out = join(dir, 'out.pcap');
      writeFileSync(inFile, JSON.stringify(desc));
      const r = sdnemu(['pcap', 'encode', '--json', inFile, '-w', out]);
      expect(r.stderr).toBe(`wrote 4 packets to ${out}\n`);
      expect(r.status).toBe(0);
      const ts = tsharkFields(out, ['_ws.malformed', '_ws.expert', 'ip.checksum.status', 'udp.checksum.status', 'tcp.checksum.status', 'icmpv6.checksum.status', 'vxlan.vni', 'vlan.id', 'ip.src', 'arp.dst.proto_ipv4']);
      expect(ts).toHaveLength(4);
      for (const p of ts) {
        expect(p['_ws.malformed']).toBe('');
        expect(p['_ws.expert']).not.toMatch(/\((Error|Warning)\//); // a SYN's Chat-level note is fine
        for (const k of ['ip.checksum.status', 'udp.checksum.status', 'tcp.checksum.status', 'icmpv6.checksum.status']) {
          for (const s of p[k]!.split(',').filter((x) => x !== '')) expect(s, k).toBe('1');
        }
      }
      expect(ts[1]!['vxlan.vni']).toBe('16777215');
      expect(ts[1]!['ip.src']).toBe('192.168.100.1,10.244.1.5');
      expect(ts[2]!['vlan.id']).toBe('100,10');
      expect(ts[3]!['arp.dst.proto_ipv4']).toBe('10.0.0.2');
    } finally { cleanup(); }
  });

  it('decode --json then encode reproduces every sample capture byte for byte', () => {
    const { dir, cleanup } = tempDir();
    try {
      for (const s of ['vxlan-kernel.pcap', 'ipv6-nd.pcap', 'vlan.pcap', 'icmp-errors.pcap', 'tcp-options.pcap', 'geneve.pcap']) {
        const d = sdnemu(['pcap', 'decode', '--json', join('pcap-samples', s)]);
        expect(d.status).toBe(0);
        const out = join(dir, s);
        const e = sdnemu(['pcap', 'encode', '--json', '-', '-w', out, '--nano'], d.stdout);
        expect(e.status, e.stderr).toBe(0);
        const a = [...readPcap(readFileSync(join('pcap-samples', s)))];
        const b = [...readPcap(readFileSync(out))];
        expect(b.map((r) => Buffer.from(r.data).toString('hex'))).toEqual(a.map((r) => Buffer.from(r.data).toString('hex')));
        expect(b.map((r) => [r.tsSec, r.tsNsec])).toEqual(a.map((r) => [r.tsSec, r.tsNsec]));
      }
    } finally { cleanup(); }
  });

  it('bad input to encode is an error naming the packet and field', () => {
    const r = sdnemu(['pcap', 'encode', '--json', '-', '-w', '/dev/null'], JSON.stringify([{ 'ip.src': '10.0.0.1' }, { 'ip.sorce': '10.0.0.1' }]));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^sdnemu: ENCODE_UNKNOWN_FIELD: .*\[1\]\.ip\.sorce/);
    const j = sdnemu(['pcap', 'encode', '--json', '-', '-w', '/dev/null'], '[{"ip.src": ');
    expect(j.status).toBe(1);
    expect(j.stderr).toMatch(/^sdnemu: ENCODE_BAD_JSON/);
  });
});
