/**
 * Display filters against tshark -Y: the same filters over the same packets
 * (the Ethernet captures of pcap-samples/, merged into one file) select the
 * same frames; filters tshark refuses are refused, at the column tshark's
 * caret points to.
 */
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { beforeAll, afterAll, expect, it } from 'vitest';
import { readPcapFile } from '../../src/pcap/file.js';
import { dissect } from '../../src/wire/dissect/index.js';
import { compileFilter, dissectionSubject, FilterError, type FilterSubject } from '../../src/trace/filter.js';
import { describeWith, DISSECTOR_PREFS, writeTempPcap } from '../oracle/tools.js';

const run = promisify(execFile);

const MATCHING = [
  'ip.src == 10.200.0.1', 'ip.src != 10.200.0.1', 'ip.src ~= 10.200.0.1', 'ip.src === 192.168.100.1', 'ip.src eq 10.200.0.1',
  'ip.addr == 10.200.0.0/16', 'ip.addr == 10.0.0.0/8 && tcp.port == 8080', 'ip.dst in {10.200.0.2, 192.168.100.2}',
  'arp || tcp && icmp', 'icmp && tcp || arp', '!(arp or ip)', 'not ip', '!arp && !ip && !ipv6',
  'vxlan', 'vxlan.vni == 5001', 'vxlan.vni >= 16000000', 'geneve', 'geneve.vni != 0',
  'udp.port in {4789, 6081}', 'tcp.port in {1..1024}', 'ip.ttl in {64, 255}', 'ip.ttl > 0x3f', 'ip.ttl le 63', 'ip.ttl < 010',
  'tcp.flags.syn == 1 && tcp.flags.ack == 0', 'tcp.flags.syn', 'tcp.flags == 0x012', 'tcp.flags.str contains "S"', 'ip.flags.df == True', 'ip.flags.mf == 1',
  'eth.src == 02:00:00:00:01:01', 'eth.addr == 02-00-00-00-02-02', 'eth.dst == ff:ff:ff:ff:ff:ff', 'eth.src == 0200.0000.0101',
  'eth.src[0:3] == 02:00:00', 'eth.src[1-2] == 00:00', 'eth.src[5] == 01', 'eth.src[-1:] == 02', 'ip.src[0:2] == c0:a8',
  'ipv6', 'ipv6.addr == fe80::/10', 'ipv6.src == ::', 'ipv6.dst == ff02::1:ff00:0/104', 'icmpv6.type == 135', 'icmpv6.type in {133..137}',
  'vlan', 'vlan.id == 100', 'vlan.id != 100', 'frame.len > 100', 'frame.len <= 60',
  'frame.protocols contains "vxlan"', 'frame.protocols matches "VXLAN"', 'frame.protocols matches "ip:(udp|icmp)"', 'udp contains 00:00', 'icmp contains 08:00',
  'ip.dst == ip.src', 'ip.src == ip.src', 'tcp.srcport > tcp.dstport', 'arp.opcode == 1', 'arp.src.proto_ipv4 == 192.168.100.0/24',
  // (a TCP payload is `data` to sdnemu's dissector, `tcp.payload` to tshark's: data is compared where no TCP is)
  'data.len > 10 && !tcp', 'ip.checksum.status == 1', 'ip.proto == 17 and ip.len >= 100', 'icmp.type == 8 and not ip.ttl < 64', 'ip.frag_offset > 0',
  'ip.host == 10.200.0.1', 'udp.checksum == 0x0000', 'tcp.options.mss', 'tcp.option_kind == 4', 'tcp.flags.syn == 2', '', 'tcp.options.mss && tcp.port == 22',
];

const REFUSED = [
  'foo == 1', 'ip.scr', 'ip.src ==', 'ip.src == 10.0.0.300', 'tcp.port == abc', '(ip', 'ip.addr == 10.0.0.0/8 &&', 'eth.addr == 00:11',
  'ip.src matches "^10"', 'ip.src == "10.0.0.1"', 'udp.port in {4789 80}', 'ip.proto == udp', 'ip && && tcp', 'ip.host matches "\\."', ')',
  'ip.ttl contains 01', 'ip.src == 10.0.0.1 extra', 'tcp.flags.syn == yes',
];

interface Packet { subject: FilterSubject }

describeWith('tshark', 'display filters against tshark -Y', () => {
  let pcap: { path: string; cleanup: () => void };
  const packets: Packet[] = [];

  beforeAll(async () => {
    const frames: Uint8Array[] = [];
    for (const f of readdirSync('pcap-samples').filter((x) => /\.pcap(ng)?$/.test(x)).sort()) {
      for await (const r of readPcapFile(`pcap-samples/${f}`)) if (r.linktype === 1) frames.push(r.data);
    }
    pcap = writeTempPcap(frames);
    for (const f of frames) packets.push({ subject: dissectionSubject(f, dissect(f)) });
  });
  afterAll(() => pcap.cleanup());

  const tshark = (filter: string): Promise<{ ok: true; frames: number[] } | { ok: false; message: string }> =>
    run('tshark', ['-r', pcap.path, '-n', '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE',
      ...DISSECTOR_PREFS.flatMap((p) => ['-o', p]), '-Y', filter, '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8', maxBuffer: 64 << 20 })
      .then((r) => ({ ok: true as const, frames: r.stdout.split('\n').filter((l) => l !== '').map(Number) }))
      .catch((e: { stderr?: string }) => ({ ok: false as const, message: e.stderr ?? String(e) }));

  it('selects the frames tshark selects', async () => {
    expect(packets.length).toBeGreaterThan(100);
    const theirs = await Promise.all(MATCHING.map((f) => tshark(f)));
    const diffs: string[] = [];
    let nonEmpty = 0;
    MATCHING.forEach((f, i) => {
      const t = theirs[i]!;
      if (!t.ok) { diffs.push(`${f}: tshark refused it: ${t.message}`); return; }
      const pred = compileFilter(f);
      const ours = packets.flatMap((p, n) => (pred(p.subject) ? [n + 1] : []));
      if (t.frames.length > 0) nonEmpty++;
      if (ours.join(',') !== t.frames.join(',')) diffs.push(`${f}: ours [${ours.join(',')}] tshark [${t.frames.join(',')}]`);
    });
    expect(diffs).toEqual([]);
    // the corpus exercises the filters: most select something
    expect(nonEmpty).toBeGreaterThan(MATCHING.length * 0.8);
  });

  it('refuses what tshark refuses, at the same column', async () => {
    const theirs = await Promise.all(REFUSED.map((f) => tshark(f)));
    const diffs: string[] = [];
    REFUSED.forEach((f, i) => {
      const t = theirs[i]!;
      if (t.ok) { diffs.push(`${f}: tshark accepts it`); return; }
      let err: unknown = null;
      try { compileFilter(f); } catch (e) { err = e; }
      if (!(err instanceof FilterError)) { diffs.push(`${f}: accepted (tshark: ${t.message.trim()})`); return; }
      const caret = t.message.split('\n').find((l) => /^\s*\^/.test(l));
      if (caret !== undefined && caret.indexOf('^') - 4 + 1 !== err.column) diffs.push(`${f}: column ${err.column}, tshark's caret at ${caret.indexOf('^') - 3}`);
    });
    expect(diffs).toEqual([]);
  });
});
