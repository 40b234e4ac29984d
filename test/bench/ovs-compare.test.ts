/**
 * bench/ovs-compare.bench.ts's workloads mean the same thing to both sides: for the first packet
 * of each, ovs-vswitchd 3.1 (dummy-pmd ports, as the bench runs it) and sdnemu's Datapath install
 * the same megaflow (match and datapath actions). Also the bench's parsers of OVS's PMD reports,
 * on text captured from OVS 3.1. Rates are never asserted (benches are not tests).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../src/wire/bytes.js';
import {
  WORKLOADS, emulatorDatapath, histogramMedian, ovsBridge, parseCyclesPerPacketHistogram, parsePmdStats, parseTscHz,
} from '../../bench/ovs-compare.bench.js';
import { OvsSandbox, parseDpFlow } from '../oracle/ovs.js';
import { describeWith } from '../oracle/tools.js';

const megaflow = (line: string): string => { const d = parseDpFlow(line); return `${d.key} actions:${d.actions}`; };

describeWith('ovs', 'ovs-compare workloads: the same megaflow in OVS and in the emulator', () => {
  let sb: OvsSandbox;
  beforeAll(async () => { sb = await OvsSandbox.start(); });
  afterAll(async () => { await sb?.stop(); });

  for (const [i, mk] of WORKLOADS.entries()) {
    const w = mk();
    it(w.name, async () => {
      const first = w.seq[0]!;
      const { dp, odp } = emulatorDatapath(w);
      dp.receive(odp(first.port), first.bytes.slice(), 1);
      const ours = dp.dumpFlows(2).map(megaflow);

      if (i > 0) await sb.vsctl('--if-exists', 'del-br', 'br0');
      await ovsBridge(sb, w);
      await sb.receive(first.port, toHex(first.bytes));
      // the PMD thread handles the packet asynchronously: wait for its megaflow
      let theirs: string[] = [];
      for (let t = 0; t < 200 && theirs.length === 0; t++) {
        theirs = (await sb.dumpDpFlows()).map(megaflow);
        if (theirs.length === 0) await new Promise((r) => setTimeout(r, 10));
      }
      expect(ours.length).toBe(1);
      expect(ours).toEqual(theirs);
    }, 30_000);
  }
});

// Captured from ovs-appctl dpif-netdev/pmd-stats-show and pmd-perf-show (OVS 3.1.0, pmd-perf-metrics=true).
const STATS = `pmd thread numa_id 0 core_id 1:
  packets received: 4900
  packet recirculations: 0
  avg. datapath passes per packet: 1.00
  simple match hits: 0
  emc hits: 4900
  megaflow hits: 0
  miss with success upcall: 0
  idle cycles: 1849183216 (96.51%)
  processing cycles: 66811988 (3.49%)
main thread:
  packets received: 0
`;
const PERF = `Time: 22:20:15.228
Measurement duration: 0.793 s

pmd thread numa_id 0 core_id 1:

  Iterations:               499984  (4000169569.43 us/it)
  - Used TSC cycles:    2000020782  (252209430264.8 % of total cycles)
  Rx packets:                 4900  (6 Kpps, 13635 cycles/pkt)

Histograms
   cycles/it              packets/it             cycles/pkt             pkts/batch             max vhost qlen         upcalls/it             cycles/upcall        
   499       0            0         495084       100       0            0         0            0         499984       0         499984       999       0          
   716       0            1         4900         1096      0            1         4900         1         0            1         0            1258      0          
   1025      0            2         0            2093      429          2         0            2         0            2         0            1584      0          
   1469      0            3         0            3090      4358         3         0            3         0            3         0            1995      0          
   2104      429          4         0            4086      40           4         0            4         0            4         0            2511      0          
   >         0            >         0            >         73           >         0            >         0            >         0            >         0          
----------------------------------------------------------------------------------------------------------------------------------------------------------
   cycles/it              packets/it             cycles/pkt             pkts/batch             vhost qlen             upcalls/it             cycles/upcall        
`;

describe('ovs-compare: parsing OVS PMD reports', () => {
  it('takes the PMD thread section of pmd-stats-show, not the main thread', () => {
    const s = parsePmdStats(STATS);
    expect(s['packets received']).toBe(4900);
    expect(s['emc hits']).toBe(4900);
    expect(s['processing cycles']).toBe(66811988);
    expect(s['avg. datapath passes per packet']).toBe(1);
  });
  it('reads the TSC rate as used cycles over the measurement duration', () => {
    expect(parseTscHz(PERF)).toBeCloseTo(2000020782 / 0.793, 0);
  });
  it('reads the cycles/pkt column of the histogram and interpolates its median', () => {
    const h = parseCyclesPerPacketHistogram(PERF);
    expect(h).toEqual([[100, 0], [1096, 0], [2093, 429], [3090, 4358], [4086, 40], [Infinity, 73]]);
    // 4900 samples: the 2450th lies in the 2093–3090 bin, (2450 - 429) / 4358 of the way up
    expect(histogramMedian(h)).toBeCloseTo(2093 + (997 * (2450 - 429)) / 4358, 6);
    expect(histogramMedian([[100, 1], [Infinity, 5]])).toBeNaN();
    expect(histogramMedian([])).toBeNaN();
  });
});
