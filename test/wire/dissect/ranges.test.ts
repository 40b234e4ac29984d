/**
 * Field byte ranges (src/wire/dissect/ranges.ts) against tshark's PDML:
 * on every capture in pcap-samples/, each field sdnemu gives a range must
 * have the `pos` and `size` tshark gives the same occurrence of that field
 * (the checksum status fields excepted: tshark gives them no bytes, sdnemu
 * the checksum's). And the fields the viewer must highlight have ranges.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { readPcap } from '../../../src/pcap/index.js';
import { dissect } from '../../../src/wire/dissect/index.js';
import { DISSECTOR_PREFS, describeWith } from '../../oracle/tools.js';

const DIR = 'pcap-samples';
const FILES = readdirSync(DIR).filter((f) => /\.pcap(ng)?$/.test(f)).sort();

/** Per packet: field name → its occurrences' "pos,size", in PDML order. */
function pdmlPlaces(path: string): Map<string, string[]>[] {
  const args = ['-r', path, '-n', '-T', 'pdml'];
  for (const o of DISSECTOR_PREFS) args.push('-o', o);
  const xml = execFileSync('tshark', args, { encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
  return xml.split('<packet>').slice(1).map((p) => {
    const m = new Map<string, string[]>();
    for (const f of p.matchAll(/<field name="([^"]+)"[^>]*? size="(\d+)" pos="(\d+)"/g)) {
      const list = m.get(f[1]!) ?? [];
      list.push(`${f[3]},${f[2]}`);
      m.set(f[1]!, list);
    }
    return m;
  });
}

it('the fields the viewer highlights have ranges; vxlan.vni covers its 3 bytes', () => {
  const recs = [...readPcap(readFileSync(join(DIR, 'vxlan-kernel.pcap')))];
  const d = recs.map((r) => dissect(r.data)).find((x) => x.layers.some((l) => l.proto === 'vxlan'))!;
  const vx = d.layers.find((l) => l.proto === 'vxlan')!;
  const i = vx.fields.findIndex(([k]) => k === 'vxlan.vni');
  expect(vx.ranges![i]).toEqual([vx.offset + 4, 3]);
  for (const l of d.layers) {
    if (!['eth', 'ip', 'udp', 'vxlan', 'icmp', 'tcp'].includes(l.proto)) continue;
    expect(l.ranges!.length).toBe(l.fields.length);
    l.fields.forEach(([k], j) => expect(l.ranges![j], `${l.proto} ${k}`).not.toBeNull());
  }
});

describeWith('tshark', 'field ranges agree with tshark -T pdml', () => {
  for (const file of FILES) {
    it(file, () => {
      const path = join(DIR, file);
      const recs = [...readPcap(readFileSync(path))];
      const pdml = pdmlPlaces(path);
      expect(pdml.length).toBe(recs.length);
      let compared = 0;
      recs.forEach((r, i) => {
        const d = dissect(r.data, { origLen: r.origLen, linktype: r.linktype });
        const seen = new Map<string, number>();
        for (const l of d.layers) {
          l.fields.forEach(([k], j) => {
            const n = seen.get(k) ?? 0;
            seen.set(k, n + 1);
            const rg = l.ranges![j];
            const theirs = pdml[i]!.get(k);
            if (rg === null || theirs === undefined || k.endsWith('.checksum.status')) return;
            // PDML lists a field's occurrences in tree order; ours are the dissector's: compare as sets per field
            expect(theirs, `${file} #${i + 1} ${k} (occurrence ${n + 1})`).toContain(`${rg![0]},${rg![1]}`);
            compared++;
          });
        }
      });
      expect(compared).toBeGreaterThan(recs.length * 5);
    });
  }
});
