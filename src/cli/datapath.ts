/**
 * `sdnemu datapath` (cli layer): captures through the OVS-style datapath.
 *
 * What: load a bridge as `ofproto-trace` does (flows, groups, ports with the
 * tunnel underlay), feed the packets of one pcap/pcapng file per input port
 * (`--in p1=client.pcap`) through a `Datapath` in timestamp order (ties in
 * the order the `--in` options were given), the capture's own time as the
 * datapath's clock, and write what every port sends to `OUT-DIR/PORT.pcap`
 * (stamped with the time of the packet that caused it). Then print, in the
 * words of the tools users know: `ovs-appctl dpctl/show`, the drop counters,
 * `ovs-appctl dpif-netdev/pmd-stats-show`, `ovs-appctl dpctl/dump-flows`,
 * `ovs-appctl dpctl/dump-conntrack` and `ovs-ofctl dump-flows br0` with the
 * OpenFlow rules' counters.
 * Errors: a port name the ports file does not have, a malformed `--in`, a
 * capture that is not Ethernet are `InputError`s (CLI_BAD_INPUT, a usage error; DP_UNKNOWN_PORT, DP_BAD_LINKTYPE); a corrupt
 * capture is the reader's `PcapError` with its file offset.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { InputError } from '../errors.js';
import { Datapath } from '../datapath/datapath.js';
import { loadBridge } from '../ofproto/trace.js';
import { LINKTYPE_ETHERNET, PcapFileWriter, readPcapFile, type PcapRecord } from '../pcap/index.js';

export interface DatapathCommandOptions {
  flows: string;
  groups?: string;
  ports?: string;
  protocols: 'OpenFlow10' | 'OpenFlow13';
  /** `PORT=FILE` */
  inputs: string[];
  outDir?: string;
}

/** Run the command; returns the exit status. */
export async function datapathCommand(opts: DatapathCommandOptions, out: Writable): Promise<number> {
  const ports = opts.ports ?? 'p1 1\np2 2\n';
  const br = loadBridge({ flows: opts.flows, ports, protocols: opts.protocols, ...(opts.groups !== undefined ? { groups: opts.groups } : {}) });
  const dp = new Datapath(br);
  const byName = new Map([...br.ports.values()].map((p) => [p.name, p]));

  // every input packet, tagged with its port, in time order
  const packets: { rec: PcapRecord; odp: number; order: number }[] = [];
  for (const [i, spec] of opts.inputs.entries()) {
    const eq = spec.indexOf('=');
    if (eq <= 0) throw new InputError('CLI_BAD_INPUT', '--in', `'${spec}' is not PORT=FILE`);
    const name = spec.slice(0, eq), file = spec.slice(eq + 1);
    const port = byName.get(name);
    if (port === undefined) throw new InputError('DP_UNKNOWN_PORT', '--in', `bridge br0 has no port '${name}' (ports: ${[...byName.keys()].join(', ')})`);
    for await (const rec of readPcapFile(file, { allowOverSnaplen: true })) {
      if (rec.linktype !== LINKTYPE_ETHERNET) throw new InputError('DP_BAD_LINKTYPE', file, `link type ${rec.linktype}: only Ethernet captures can enter a bridge`);
      packets.push({ rec, odp: port.odp, order: i });
    }
  }
  packets.sort((a, b) => a.rec.tsSec - b.rec.tsSec || a.rec.tsNsec - b.rec.tsNsec || a.order - b.order);

  // what each port sends, stamped with the time of the packet being processed
  const sent = new Map<string, { tsSec: number; tsNsec: number; data: Uint8Array }[]>();
  let cur: PcapRecord | null = null;
  for (const p of br.ports.values()) {
    dp.attach(p.odp, (b, s, e) => {
      const l = sent.get(p.name) ?? [];
      l.push({ tsSec: cur!.tsSec, tsNsec: cur!.tsNsec, data: b.slice(s, e) });
      sent.set(p.name, l);
    });
  }
  const t0 = packets.length ? packets[0]!.rec.tsSec * 1000 : 0;
  let now = 0;
  for (const p of packets) {
    cur = p.rec;
    now = p.rec.tsSec * 1000 + p.rec.tsNsec / 1e6 - t0;
    dp.receive(p.odp, p.rec.data.slice(), now);
  }
  dp.sweep(now);

  if (opts.outDir !== undefined) {
    mkdirSync(opts.outDir, { recursive: true });
    for (const [name, recs] of sent) {
      const w = await PcapFileWriter.create(join(opts.outDir, `${name}.pcap`), { nanosecond: true });
      for (const r of recs) await w.write(r);
      await w.close();
    }
  }

  const drops = Object.entries(dp.drops()).map(([r, n]) => `  ${r}: ${n}`);
  const sections = [
    `${dp.stats.rx} packets in, ${dp.stats.txPackets} out (${[...sent].map(([n, l]) => `${n}: ${l.length}`).join(', ') || 'none'})`
      + (opts.outDir !== undefined ? `, written to ${opts.outDir}/PORT.pcap` : ''),
    '', '# ovs-appctl dpctl/show', dp.show(),
    '', '# drops', ...(drops.length ? drops : ['  none']),
    '', '# ovs-appctl dpif-netdev/pmd-stats-show', dp.pmdStats(),
    '', '# ovs-appctl dpctl/dump-flows', ...dp.dumpFlows(now),
    '', '# ovs-appctl dpctl/dump-conntrack', ...dp.ct.dump(),
    '', '# ovs-ofctl dump-flows br0', ...br.dumpFlows(now),
  ];
  out.write(`${sections.join('\n')}\n`);
  return 0;
}
