/**
 * Differential test of the whole dissector against tshark on every capture in
 * pcap-samples/ (made by the kernel, tcpdump and scapy, never by sdnemu).
 * For every packet, every field sdnemu emits must print exactly as
 * `tshark -T fields` prints it (all occurrences, outer first), with checksum
 * validation on. tshark runs without reassembly (sdnemu's dissector is per
 * packet) and with absolute TCP sequence numbers.
 * `frame.protocols` must agree up to where tshark goes on into an application
 * protocol sdnemu does not dissect (sdnemu then shows `data`).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { readPcap } from '../src/pcap/index.js';
import { dissect } from '../src/wire/dissect/index.js';
import type { Dissection } from '../src/wire/dissect.js';
import { describeWith, DISSECTOR_PREFS, tsharkFields } from './oracle/tools.js';
import { values } from './oracle/wire.js';

const DIR = 'pcap-samples';
const FILES = readdirSync(DIR).filter((f) => /\.pcap(ng)?$/.test(f)).sort();
/**
 * Fields users rely on (DESIGN.md's CLI contract and the common filters):
 * wherever tshark prints one, sdnemu must print the same — so a field the
 * dissector forgot is caught, not only a field it printed wrong.
 */
const REQUIRED = [
  'frame.len', 'eth.src', 'eth.dst', 'eth.type', 'vlan.id', 'ieee8021ad.id', 'arp.opcode', 'arp.src.proto_ipv4', 'ip.src', 'ip.dst', 'ip.ttl',
  'ip.proto', 'ip.checksum.status', 'ip.flags.df', 'ip.frag_offset', 'ipv6.src', 'ipv6.dst', 'ipv6.nxt', 'ipv6.hlim', 'icmp.type', 'icmp.code',
  'icmpv6.type', 'udp.srcport', 'udp.dstport', 'udp.length', 'udp.checksum.status', 'tcp.srcport', 'tcp.dstport', 'tcp.flags', 'tcp.seq',
  'tcp.ack', 'tcp.checksum.status', 'tcp.options.mss_val', 'vxlan.vni', 'geneve.vni', 'sll.pkttype', 'sll.etype',
];

/** Fields whose tshark value depends on state across packets or on the capture file, not on the frame. */
const STATEFUL = new Set(['frame.number', 'frame.time_epoch']);

describeWith('tshark', 'pcap-samples decode exactly as tshark decodes them', () => {
  it('has samples to check', () => {
    expect(FILES.length).toBeGreaterThanOrEqual(10);
  });
  for (const file of FILES) {
    it(file, () => {
      const path = join(DIR, file);
      const recs = [...readPcap(readFileSync(path))];
      expect(recs.length).toBeGreaterThan(0);
      const ds = recs.map((r) => dissect(r.data, { origLen: r.origLen, linktype: r.linktype }));
      const names = new Set<string>();
      for (const d of ds) {
        expect(d.error, `${file}: ${JSON.stringify(d.error)}`).toBeNull();
        for (const l of d.layers) for (const [k] of l.fields) if (!STATEFUL.has(k)) names.add(k);
      }
      for (const r of REQUIRED) names.add(r);
      const fields = [...names].sort();
      const ts = tsharkFields(path, fields, { prefs: DISSECTOR_PREFS });
      expect(ts.length).toBe(ds.length);
      let compared = 0;
      ds.forEach((d, i) => {
        const ours = values(d);
        const theirs = ts[i]!;
        for (const f of fields) {
          const mine = ours.get(f);
          if (mine === undefined) {
            if (REQUIRED.includes(f)) expect(theirs[f], `${file} #${i + 1}: tshark prints ${f}, sdnemu does not`).toBe('');
            continue;
          }
          if (f === 'frame.protocols') {
            const p = mine[0]!.replace(/:data$/, '');
            expect(theirs[f]!.startsWith(p), `${file} #${i + 1} frame.protocols: ours ${mine[0]} tshark ${theirs[f]}`).toBe(true);
            continue;
          }
          if ((f === 'data.data' || f === 'data.len') && theirs[f] === '') continue; // tshark dissected an app protocol there
          expect(mine.join(','), `${file} #${i + 1} ${f}`).toBe(theirs[f]);
          compared++;
        }
      });
      expect(compared).toBeGreaterThan(ds.length * 5);
    });
  }
});
