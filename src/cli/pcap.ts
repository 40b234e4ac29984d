/**
 * `sdnemu pcap decode` and `sdnemu pcap encode` (cli layer).
 *
 * decode streams the capture (readPcapFile, or standard input for `-`: a
 * 1 GB file never sits in memory whole), in the capture's link type and prints one summary line per packet, or with --json one object
 * per packet keyed by Wireshark field names, written as a JSON array as the
 * packets come. A corrupt file: every good packet before the fault is
 * printed, the JSON array is closed, then the `PcapError` (with its file
 * offset) is reported and the exit status is 1.
 */
import type { Writable } from 'node:stream';
import { InputError } from '../errors.js';
import { PcapFileWriter, readPcapFile, readPcapStream } from '../pcap/index.js';
import { dissect } from '../wire/dissect/index.js';
import { dissectionToJson, encodeJson } from '../wire/encode.js';
import { summarize } from '../wire/summary.js';

export interface DecodeOptions {
  json: boolean;
  /** tshark-style decode-as rules: `udp.port==8472,vxlan` */
  decodeAs: string[];
}

/** Parse `udp.port==N,proto` rules into a port → protocol map. */
export function parseDecodeAs(rules: string[]): Map<number, string> {
  const m = new Map<number, string>();
  for (const r of rules) {
    const x = /^udp\.port==(\d{1,5}),(vxlan|geneve)$/.exec(r.trim());
    if (!x || Number(x[1]) > 65535) {
      throw new InputError('CLI_BAD_DECODE_AS', '-d', `'${r}' is not a decode-as rule (expected udp.port==N,vxlan or udp.port==N,geneve)`);
    }
    m.set(Number(x[1]), x[2]!);
  }
  return m;
}

async function write(out: Writable, s: string): Promise<void> {
  if (!out.write(s)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
}

/** Decode 'path' to 'out'; returns the exit status. Throws PcapError after printing the good packets. */
export async function pcapDecode(path: string, opts: DecodeOptions, out: Writable): Promise<number> {
  const udpPorts = parseDecodeAs(opts.decodeAs);
  let n = 0;
  if (opts.json) await write(out, '[');
  try {
    // like libpcap (and so tshark and tcpdump), accept records longer than the header's snaplen
    const records = path === '-' ? readPcapStream(process.stdin, { allowOverSnaplen: true }) : readPcapFile(path, { allowOverSnaplen: true });
    for await (const r of records) {
      n++;
      const d = dissect(r.data, { udpPorts, number: n, tsSec: r.tsSec, tsNsec: r.tsNsec, origLen: r.origLen, interfaceId: r.interfaceId, linktype: r.linktype });
      if (opts.json) {
        await write(out, (n === 1 ? '\n' : ',\n') + JSON.stringify(dissectionToJson(d)));
      } else {
        await write(out, summarize(d, r.data, r.tsSec, r.tsNsec, r.origLen, r.linktype) + '\n');
      }
    }
  } finally {
    if (opts.json) await write(out, n === 0 ? ']\n' : '\n]\n');
  }
  return 0;
}

/** Encode the JSON text 'text' into a pcap at 'outPath'; returns the packet count. */
export async function pcapEncode(text: string, outPath: string, opts: { nanosecond: boolean; source: string }): Promise<number> {
  const { frames } = encodeJson(text, opts.source);
  const w = await PcapFileWriter.create(outPath, { nanosecond: opts.nanosecond });
  try {
    for (const f of frames) await w.write({ tsSec: f.tsSec, tsNsec: f.tsNsec, data: f.data, origLen: f.origLen });
  } finally {
    await w.close();
  }
  return frames.length;
}
