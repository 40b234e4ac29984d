/**
 * Translation benchmark (issue 3, item 7): upcalls/s — `xlate()` of distinct
 * flow keys through a 4-table pipeline, without the trace tree, as the
 * datapath's upcall handler will call it.
 *
 * Pipeline (a small Neutron-like shape, ~1.3k flows):
 *   table 0  in_port classification: 64 ports → load the port's network id
 *            into reg5, resubmit(,1); ARP to table 3
 *   table 1  security: per-port allow rules on tcp/udp destination ports and
 *            source prefixes (masks of /8…/24), default drop
 *   table 2  L3: 256 /24 routes (set dl_dst, dec_ttl), then resubmit(,3)
 *   table 3  L2: 512 exact dl_dst → output
 * Keys: 4096 random TCP/UDP/ARP flows over those ports and prefixes (a mix of
 * accepted and dropped). Reported per key; also the average number of
 * datapath actions and the share of keys that output.
 */
import { Bridge } from '../src/ofproto/bridge.js';
import { parseFlowsFile } from '../src/ofproto/ofctl.js';
import { xlate } from '../src/ofproto/xlate.js';
import {
  F_DL_DST_HI, F_DL_DST_LO, F_DL_TYPE, F_IN_PORT, F_NW_DST, F_NW_PROTO, F_NW_SRC, F_NW_TTL, F_TP_DST, F_TP_SRC,
  FLOW_WORDS,
} from '../src/flow/key.js';
import { runSuite, type BenchCase, type BenchResult } from './harness.js';
import { mulberry32 as rng } from '../src/rng.js';

const KEYS = 4096;
const BATCH = 16;


const mac = (n: number): string => `fa:16:3e:00:${((n >> 8) & 0xff).toString(16).padStart(2, '0')}:${(n & 0xff).toString(16).padStart(2, '0')}`;

/** The pipeline's flows as an add-flows file. */
export function pipelineFlows(): string {
  const lines: string[] = [];
  for (let p = 1; p <= 64; p++) {
    lines.push(`table=0,priority=100,in_port=${p},ip,actions=load:${p % 8}->NXM_NX_REG5[],resubmit(,1)`);
    lines.push(`table=0,priority=90,in_port=${p},arp,actions=resubmit(,3)`);
  }
  lines.push('table=0,priority=0,actions=drop');
  for (let p = 0; p < 8; p++) {
    for (const port of [22, 80, 443, 8080]) lines.push(`table=1,priority=50,reg5=${p},tcp,tp_dst=${port},actions=resubmit(,2)`);
    lines.push(`table=1,priority=40,reg5=${p},udp,udp_dst=53,actions=resubmit(,2)`);
    for (const [i, len] of [8, 16, 24].entries()) lines.push(`table=1,priority=${30 - i},reg5=${p},ip,nw_src=${10 + i}.${p}.0.0/${len},actions=resubmit(,2)`);
  }
  lines.push('table=1,priority=0,actions=drop');
  for (let r = 0; r < 256; r++) {
    lines.push(`table=2,priority=24,ip,nw_dst=172.16.${r}.0/24,actions=mod_dl_dst:${mac(r)},dec_ttl,resubmit(,3)`);
  }
  lines.push('table=2,priority=0,actions=drop');
  for (let m = 0; m < 512; m++) lines.push(`table=3,priority=10,dl_dst=${mac(m)},actions=output:${(m % 64) + 1}`);
  lines.push('table=3,priority=0,actions=NORMAL');
  return lines.join('\n');
}

function keysFor(seed: number): Uint32Array {
  const r = rng(seed);
  const keys = new Uint32Array(KEYS * FLOW_WORDS);
  for (let i = 0; i < KEYS; i++) {
    const b = i * FLOW_WORDS;
    keys[b + F_IN_PORT] = (r() % 64) + 1;
    const kind = r() % 8;
    if (kind === 0) {
      keys[b + F_DL_TYPE] = 0x0806;
      keys[b + F_NW_PROTO] = 1;
    } else {
      keys[b + F_DL_TYPE] = 0x0800;
      keys[b + F_NW_PROTO] = kind < 6 ? 6 : 17;
      keys[b + F_NW_SRC] = (((10 + (r() % 3)) << 24) | (r() & 0xffffff)) >>> 0;
      keys[b + F_NW_DST] = ((172 << 24) | (16 << 16) | (r() & 0xffff)) >>> 0;
      keys[b + F_NW_TTL] = 64;
      keys[b + F_TP_SRC] = 1024 + (r() % 60000);
      keys[b + F_TP_DST] = [22, 80, 443, 8080, 53, 9999][r() % 6]!;
    }
    const m = r() % 512;
    keys[b + F_DL_DST_HI] = 0xfa16;
    keys[b + F_DL_DST_LO] = (0x3e000000 | m) >>> 0;
  }
  return keys;
}

export function xlateCases(): BenchCase[] {
  const br = new Bridge('br0');
  for (let p = 1; p <= 64; p++) br.addPort({ ofport: p, name: `p${p}`, type: 'dummy', options: {}, odp: p });
  br.addFlows(parseFlowsFile(pipelineFlows()));
  const keys = keysFor(7);
  const one = new Uint32Array(FLOW_WORDS);
  let at = 0, n = 0, outputs = 0, actions = 0;
  return [{
    name: `4-table pipeline (${[0, 1, 2, 3].map((t) => br.tables[t]!.size).reduce((a, b) => a + b)} flows), no trace`,
    batch: BATCH,
    fn: () => {
      let acc = 0;
      for (let i = 0; i < BATCH; i++) {
        one.set(keys.subarray(at * FLOW_WORDS, (at + 1) * FLOW_WORDS));
        const r = xlate(br, one);
        acc += r.odpActions.length;
        n++;
        actions += r.odpActions.length;
        if (r.odpActions.length > 0) outputs++;
        at = (at + 1) & (KEYS - 1);
      }
      return acc;
    },
    extra: () => ({ avgOdpActions: Math.round((actions / Math.max(n, 1)) * 100) / 100, outputShare: Math.round((outputs / Math.max(n, 1)) * 1000) / 1000 }),
  }];
}

export async function run(): Promise<BenchResult[]> {
  return runSuite('xlate', xlateCases());
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
