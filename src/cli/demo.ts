/**
 * `sdnemu demo` — what `npm start` runs at this stage: build a
 * VXLAN-encapsulated TCP SYN with the frame builder, push a second VXLAN
 * header in front of a frame built with headroom (no copy), write both to a
 * pcap, read the file back and decode it, as a user would with tcpdump and
 * tshark. Later issues replace this with the full emulator demo.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { PcapFileWriter, readPcapFile } from '../pcap/index.js';
import { FrameBuilder } from '../wire/builder.js';
import { dissect } from '../wire/dissect/index.js';
import { fieldValues } from '../wire/dissect.js';
import { summarize } from '../wire/summary.js';
import { pushVxlan } from '../wire/vxlan.js';
import { toHex } from '../wire/bytes.js';

export async function demo(outPath: string | undefined, out: Writable): Promise<number> {
  const path = outPath ?? join(tmpdir(), 'sdnemu-demo.pcap');
  const say = (s: string): void => { out.write(s + '\n'); };

  // 1. A whole VXLAN packet, outer to inner, lengths and checksums computed.
  const tunnelled = new FrameBuilder()
    .eth({ src: '52:54:00:00:00:01', dst: '52:54:00:00:00:02' })
    .ipv4({ src: '192.168.100.1', dst: '192.168.100.2', ident: 0x1234 })
    .udp({ srcPort: 49152 })
    .vxlan({ vni: 5001 })
    .eth({ src: '0a:58:0a:f4:01:05', dst: '0a:58:0a:f4:02:07' })
    .ipv4({ src: '10.244.1.5', dst: '10.244.2.7', ttl: 63, df: true })
    .tcp({ srcPort: 38412, dstPort: 8080, seq: 3_000_000_000, flags: 'S', window: 64240,
      options: [{ kind: 'mss', value: 1410 }, { kind: 'sackPerm' }, { kind: 'timestamp', tsval: 1, tsecr: 0 }, { kind: 'nop' }, { kind: 'wscale', shift: 7 }] })
    .build();

  // 2. An inner frame built with headroom; the VXLAN header is pushed in front of it without copying.
  const { buf, off, end } = new FrameBuilder()
    .eth({ src: '0a:58:0a:f4:02:07', dst: '0a:58:0a:f4:01:05' })
    .ipv4({ src: '10.244.2.7', dst: '10.244.1.5', ttl: 64 })
    .icmp({ type: 0, ident: 7, seq: 1 })
    .payload('sdnemu demo')
    .buildWithHeadroom(64);
  const vxOff = pushVxlan(buf, off, 16_000_000);

  const w = await PcapFileWriter.create(path, { nanosecond: true });
  await w.write({ tsSec: 1_700_000_000, tsNsec: 0, data: tunnelled });
  await w.write({ tsSec: 1_700_000_000, tsNsec: 250_000, data: buf.subarray(off, end) });
  await w.close();
  say(`wrote 2 packets to ${path}`);
  say(`VXLAN header pushed in front of the inner frame at offset ${vxOff} (headroom ${off}): ${toHex(buf, vxOff, off)}`);
  say('');
  say(`$ sdnemu pcap decode ${path}`);
  let n = 0;
  for await (const r of readPcapFile(path)) {
    n++;
    const d = dissect(r.data, { number: n, tsSec: r.tsSec, tsNsec: r.tsNsec });
    say(summarize(d, r.data, r.tsSec, r.tsNsec, r.origLen));
    if (n === 1) {
      say(`  ip.src ${fieldValues(d, 'ip.src').join(',')}  vxlan.vni ${fieldValues(d, 'vxlan.vni').join(',')}  ` +
        `ip.checksum.status ${fieldValues(d, 'ip.checksum.status').join(',')}  udp.checksum.status ${fieldValues(d, 'udp.checksum.status').join(',')}  ` +
        `tcp.checksum.status ${fieldValues(d, 'tcp.checksum.status').join(',')}`);
    }
  }
  say('');
  say(`Open it in Wireshark, or: tshark -r ${path} -V`);
  return 0;
}
