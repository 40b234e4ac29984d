/**
 * `sdnemu iptables-trace` (cli layer): packets through a Linux host's
 * netfilter, as JSON.
 *
 * What: load an `iptables-save`/`iptables-restore` file (restore.ts), with
 * `--ipsets` an `ipset save` file its `-m set` rules read, and with `--ipvs`
 * an `ipvsadm-save -n` file of IPVS virtual services (ipvs.ts), on the
 * node a `--host` file describes (host.ts; without one: interfaces eth0 and
 * eth1 without addresses, ip_forward on, the default route out of eth1), run
 * each `--packet` in order against one conntrack table (stack.ts), and print
 * one JSON object per packet: the verdict and where the packet went (`forward`,
 * `local`, or the hook that dropped it), per hook and table the number of
 * rules checked and the rules that matched (in iptables-save's words), the
 * packet as it leaves (after NAT, with its egress interface) or the ICMP
 * error / TCP reset sent back, and the conntrack table after it
 * (`conntrack -L` lines) — with IPVS, each IPVS step among the hooks (the
 * service, the real server chosen, the connection's state) and the IPVS
 * connection table (`ipvsadm -Lnc`'s columns).
 * Errors: the restore parser's (line, token), the host file's (field), a
 * bad `--packet` (token); exit status 1, or 2 for usage.
 */
import type { Writable } from 'node:stream';
import { parseRestore } from '../netfilter/restore.js';
import { formatRule } from '../netfilter/save.js';
import { parseHost, parsePacketSpec, type PacketSpec } from '../netfilter/host.js';
import { NfStack, type HostConfig, type StackResult } from '../netfilter/stack.js';
import { Ipsets } from '../netfilter/ipset.js';
import { Ipvs } from '../netfilter/ipvs.js';
import { FrameBuilder } from '../wire/builder.js';
import { be16, be32, ipv4ToString } from '../wire/bytes.js';

const DEFAULT_HOST: HostConfig = {
  ifaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', addrs: [] }, { name: 'eth1', mac: '02:00:00:00:00:02', addrs: [] }],
  routes: [{ net: 0, prefixLen: 0, via: null, dev: 'eth1', src: null }],
  ipForward: true, routeLocalnet: false, tcpLoose: true,
};

/** The Ethernet frame of 'p' arriving on its interface. */
function frameOf(p: PacketSpec, host: HostConfig): Uint8Array {
  const mac = host.ifaces.find((i) => i.name === p.in)?.mac ?? '02:00:00:00:00:ff';
  const b = new FrameBuilder().eth({ src: '02:50:00:00:00:02', dst: mac }).ipv4({ src: p.src, dst: p.dst, ttl: 64, ident: 1 });
  if (p.proto === 'tcp') b.tcp({ srcPort: p.sport, dstPort: p.dport, flags: p.flags, seq: p.seq, ack: p.ack, window: 8192 });
  else if (p.proto === 'udp') b.udp({ srcPort: p.sport, dstPort: p.dport });
  else b.icmp({ type: p.icmpType, ident: p.sport, seq: 1 });
  return b.build();
}

/** `tcp 10.0.0.1:1234 > 10.0.0.2:80 flags S ttl 63` for an Ethernet/IPv4 frame. */
export function packetText(f: Uint8Array): string {
  const src = ipv4ToString(be32(f, 26)), dst = ipv4ToString(be32(f, 30)), proto = f[23]!, ttl = f[22]!;
  const l4 = 14 + (f[14]! & 15) * 4;
  if (proto === 6 || proto === 17) {
    let s = `${proto === 6 ? 'tcp' : 'udp'} ${src}:${be16(f, l4)} > ${dst}:${be16(f, l4 + 2)}`;
    if (proto === 6) {
      const fl = f[l4 + 13]!;
      const letters = [[0x02, 'S'], [0x01, 'F'], [0x04, 'R'], [0x08, 'P'], [0x10, 'A'], [0x20, 'U']].filter(([b]) => (fl & (b as number)) !== 0).map(([, l]) => l).join('');
      s += ` flags ${letters || 'none'} seq ${be32(f, l4 + 4)} ack ${be32(f, l4 + 8)}`;
    }
    return `${s} ttl ${ttl}`;
  }
  if (proto === 1) return `icmp ${src} > ${dst} type ${f[l4]} code ${f[l4 + 1]} ttl ${ttl}`;
  return `ip ${src} > ${dst} proto ${proto} ttl ${ttl}`;
}

function report(text: string, r: StackResult, stack: NfStack, now: number): unknown {
  return {
    packet: text,
    verdict: r.verdict,
    path: r.path,
    ctstate: r.ctinfo,
    hooks: r.hooks.map((h) => h.ipvs !== undefined ? { hook: h.hook, table: h.table, verdict: h.verdict, ...h.ipvs } : ({
      hook: h.hook, table: h.table, verdict: h.verdict, rulesChecked: h.checked,
      matched: h.traversed.filter((t) => t.matched && t.rule !== null).map((t) => formatRule(t.chain, t.rule!)),
      ...(h.traversed.some((t) => t.rule === null) ? { policy: true } : {}),
    })),
    out: r.out === null ? null : { iface: r.out.iface, packet: packetText(r.out.frame) },
    reply: r.reply === null ? null : { iface: r.reply.iface, packet: packetText(r.reply.frame) },
    conntrack: stack.ct.dump(now),
    ...(stack.ipvs !== null ? { ipvs: stack.ipvs.connections(now) } : {}),
  };
}

/** Run the command; returns the exit status. */
export function iptablesTrace(opts: { rules: string; host?: string; ipsets?: string; ipvs?: string; packets: string[] }, out: Writable): number {
  const rs = parseRestore(opts.rules);
  const host = opts.host === undefined ? DEFAULT_HOST : parseHost(opts.host);
  const specs = opts.packets.map(parsePacketSpec);
  let ipsets: Ipsets | undefined;
  if (opts.ipsets !== undefined) {
    ipsets = new Ipsets();
    ipsets.restore(opts.ipsets);
  }
  let ipvs: Ipvs | undefined;
  if (opts.ipvs !== undefined) {
    ipvs = new Ipvs();
    ipvs.restore(opts.ipvs);
  }
  const stack = new NfStack(rs, host, { ...(ipsets !== undefined ? { ipsets } : {}), ...(ipvs !== undefined ? { ipvs } : {}) });
  const results = specs.map((p, i) => {
    const now = i * 1000;
    if (p.local) {
      // the host's own packet: an unset source (0.0.0.0) is chosen by the route, as an unbound socket's
      const q = p.src === 0 ? { ...p, src: stack.sourceFor(p.dst) } : p;
      return report(opts.packets[i]!, stack.send(frameOf(q, host), now), stack, now);
    }
    return report(opts.packets[i]!, stack.receive(frameOf(p, host), p.in, now), stack, now);
  });
  out.write(`${JSON.stringify(results, null, 2)}\n`);
  return 0;
}
