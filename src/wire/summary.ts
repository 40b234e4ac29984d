/**
 * One-line packet summaries in the style of `tcpdump -nn -e` (wire layer,
 * slow path).
 *
 * What: `summarize(dissection, tsSec, tsNsec)` turns the dissector's layers
 * into `HH:MM:SS.ffffff SRC > DST, ethertype IPv4 (0x0800), length 98: …`,
 * following tcpdump's wording for the protocols sdnemu decodes (Flags [S.],
 * `who-has … tell …`, `ICMP echo request, id 7, seq 3, length 64`, `VXLAN,
 * flags [I] (0x08), vni 5001` followed by the inner frame). Times are UTC.
 * Differences from tcpdump, on purpose: TCP sequence numbers are absolute (as
 * with `-S`), since a summary is per packet and keeps no state; the inner frame
 * of a tunnel is on the same line so there is one line per packet; an
 * undecodable packet ends with `[|proto: error at offset N]`.
 * Built only from the dissection's fields, so it can never disagree with
 * `--json`.
 */
import type { DissectLayer, Dissection } from './dissect.js';

function f(l: DissectLayer, name: string): string | undefined {
  for (const [k, v] of l.fields) if (k === name) return v;
  return undefined;
}

function num(l: DissectLayer, name: string): number {
  const v = f(l, name);
  return v === undefined ? NaN : Number(v);
}

const ETHERTYPE_NAMES: Record<number, string> = {
  0x0800: 'IPv4', 0x0806: 'ARP', 0x86dd: 'IPv6', 0x8100: '802.1Q', 0x88a8: '802.1Q-QinQ', 0x9100: '802.1Q-9100',
  0x88cc: 'LLDP', 0x8847: 'MPLS unicast', 0x6558: 'TEB', 0x8035: 'Reverse ARP',
};

function ethertype(t: number): string {
  const name = ETHERTYPE_NAMES[t] ?? 'Unknown';
  return `ethertype ${name} (0x${t.toString(16).padStart(4, '0')})`;
}

/** HH:MM:SS.ffffff in UTC. */
export function timeOfDay(tsSec: number, tsNsec: number): string {
  const s = ((tsSec % 86400) + 86400) % 86400;
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  const us = Math.floor(tsNsec / 1000);
  const p2 = (n: number): string => String(n).padStart(2, '0');
  return `${p2(hh)}:${p2(mm)}:${p2(ss)}.${String(us).padStart(6, '0')}`;
}

const TCP_FLAG_CHARS: [number, string][] = [[0x01, 'F'], [0x02, 'S'], [0x04, 'R'], [0x08, 'P'], [0x20, 'U'], [0x40, 'E'], [0x80, 'W']];

function tcpFlags(v: number): string {
  let s = '';
  for (const [bit, c] of TCP_FLAG_CHARS) if (v & bit) s += c;
  if (v & 0x10) s += '.';
  return s === '' ? 'none' : s;
}

const ICMP_UNREACH: Record<number, string> = {
  0: 'net %d unreachable', 1: 'host %d unreachable', 2: '%d protocol %p unreachable', 3: '%d %P port %q unreachable',
  9: 'net %d unreachable - admin prohibited', 10: 'host %d unreachable - admin prohibited', 13: 'host %d unreachable - admin prohibited filter',
};

/** The tcpdump-style text for layers from index 'i' on (one Ethernet frame and what it carries). */
function frameText(layers: DissectLayer[], i: number, frameLen: number): string {
  const out: string[] = [];
  let k = i;
  const eth = layers[k];
  if (eth === undefined || eth.proto !== 'eth') return '';
  k++;
  let head = `${f(eth, 'eth.src')} > ${f(eth, 'eth.dst')}, ${ethertype(parseInt(f(eth, 'eth.type') ?? '0', 16))}, length ${frameLen}: `;
  while (layers[k] !== undefined && (layers[k]!.proto === 'vlan' || layers[k]!.proto === 'ieee8021ad')) {
    const v = layers[k]!;
    const p = v.proto === 'vlan' ? 'vlan' : 'ieee8021ad';
    const etype = f(v, `${p}.etype`) ?? f(v, 'vlan.etype') ?? '0';
    head += `vlan ${num(v, `${p}.id`)}, p ${num(v, `${p}.priority`)}, ${ethertype(parseInt(etype, 16))}, `;
    k++;
  }
  out.push(head);
  out.push(l3Text(layers, k));
  return out.join('');
}

function l3Text(layers: DissectLayer[], k: number): string {
  const l = layers[k];
  if (l === undefined) return '';
  switch (l.proto) {
    case 'arp': {
      const op = num(l, 'arp.opcode');
      if (op === 1) return `Request who-has ${f(l, 'arp.dst.proto_ipv4')} tell ${f(l, 'arp.src.proto_ipv4')}, length 28`;
      if (op === 2) return `Reply ${f(l, 'arp.src.proto_ipv4')} is-at ${f(l, 'arp.src.hw_mac')}, length 28`;
      return `ARP, opcode ${op}, length 28`;
    }
    case 'ip':
    case 'ipv6': {
      const v6 = l.proto === 'ipv6';
      const src = f(l, v6 ? 'ipv6.src' : 'ip.src') ?? '?';
      const dst = f(l, v6 ? 'ipv6.dst' : 'ip.dst') ?? '?';
      return l4Text(layers, k + 1, src, dst, l);
    }
    case 'data':
      return `${f(l, 'data.len')} bytes of data`;
    default:
      return l.proto;
  }
}

function l4Text(layers: DissectLayer[], k: number, src: string, dst: string, ip: DissectLayer): string {
  const l = layers[k];
  if (l === undefined || l.proto === 'data') {
    const proto = ip.proto === 'ip' ? num(ip, 'ip.proto') : num(ip, 'ipv6.nxt');
    return `${src} > ${dst}: ip-proto-${proto}`;
  }
  switch (l.proto) {
    case 'udp': {
      const sp = f(l, 'udp.srcport'), dp = f(l, 'udp.dstport');
      const len = num(l, 'udp.length') - 8;
      const base = `${src}.${sp} > ${dst}.${dp}: `;
      const inner = layers[k + 1];
      if (inner?.proto === 'vxlan') {
        const flags = parseInt(f(inner, 'vxlan.flags') ?? '0', 16);
        const fb = (flags >>> 24) & 0xff || flags & 0xff;
        return `${base}VXLAN, flags [${fb & 0x08 ? 'I' : '.'}] (0x${fb.toString(16).padStart(2, '0')}), vni ${f(inner, 'vxlan.vni')}: ${frameText(layers, k + 2, innerLen(layers, k + 2))}`;
      }
      if (inner?.proto === 'geneve') {
        const vni = Number(f(inner, 'geneve.vni') ?? '0');
        return `${base}Geneve, vni 0x${vni.toString(16)}, proto ${ethertype(parseInt(f(inner, 'geneve.proto_type') ?? '0', 16)).slice(10)}: ${frameText(layers, k + 2, innerLen(layers, k + 2))}`;
      }
      return `${base}UDP, length ${len}`;
    }
    case 'tcp': {
      const sp = f(l, 'tcp.srcport'), dp = f(l, 'tcp.dstport');
      const flags = parseInt(f(l, 'tcp.flags') ?? '0', 16);
      const seq = f(l, 'tcp.seq_raw') ?? f(l, 'tcp.seq');
      const ack = f(l, 'tcp.ack_raw') ?? f(l, 'tcp.ack');
      const len = num(l, 'tcp.len');
      let s = `${src}.${sp} > ${dst}.${dp}: Flags [${tcpFlags(flags)}]`;
      if (len > 0) s += `, seq ${seq}:${Number(seq) + len}`;
      else if (flags & 0x07) s += `, seq ${seq}`;
      if (flags & 0x10) s += `, ack ${ack}`;
      s += `, win ${f(l, 'tcp.window_size_value')}`;
      const opts = tcpOptions(l);
      if (opts) s += `, options [${opts}]`;
      return `${s}, length ${Number.isNaN(len) ? 0 : len}`;
    }
    case 'icmp':
      return `${src} > ${dst}: ICMP ${icmpText(layers, k, l)}`;
    case 'icmpv6':
      return `${src} > ${dst}: ICMP6, ${icmpv6Text(l)}`;
    default:
      return `${src} > ${dst}: ${l.proto}`;
  }
}

function innerLen(layers: DissectLayer[], k: number): number {
  const l = layers[k];
  if (l === undefined) return 0;
  let end = l.offset;
  for (let i = k; i < layers.length; i++) {
    const x = layers[i]!;
    end = Math.max(end, x.offset + x.length);
    const d = f(x, 'data.len');
    if (d !== undefined) end = Math.max(end, x.offset + Number(d));
  }
  const ipLen = layers[k + 1] ? num(layers[k + 1]!, 'ip.len') : NaN;
  if (!Number.isNaN(ipLen)) return layers[k + 1]!.offset - l.offset + ipLen;
  return end - l.offset;
}

function tcpOptions(l: DissectLayer): string {
  const parts: string[] = [];
  for (const [k, v] of l.fields) {
    if (k === 'tcp.options.mss_val') parts.push(`mss ${v}`);
    else if (k === 'tcp.options.sack_perm') parts.push('sackOK');
    else if (k === 'tcp.options.timestamp.tsval') parts.push(`TS val ${v}`);
    else if (k === 'tcp.options.timestamp.tsecr') parts[parts.length - 1] += ` ecr ${v}`;
    else if (k === 'tcp.options.nop') parts.push('nop');
    else if (k === 'tcp.options.eol') parts.push('eol');
    else if (k === 'tcp.options.wscale.shift') parts.push(`wscale ${v}`);
    else if (k === 'tcp.options.sack_le') parts.push(`sack ${v}`);
    else if (k === 'tcp.options.sack_re') parts[parts.length - 1] += `:${v}`;
  }
  return parts.join(',');
}

function icmpText(layers: DissectLayer[], k: number, l: DissectLayer): string {
  const type = num(l, 'icmp.type'), code = num(l, 'icmp.code');
  const total = icmpLen(layers, k);
  if (type === 8 || type === 0) {
    return `echo ${type === 8 ? 'request' : 'reply'}, id ${f(l, 'icmp.ident')}, seq ${f(l, 'icmp.seq')}, length ${total}`;
  }
  if (type === 11) return `time exceeded ${code === 0 ? 'in-transit' : 'reassembly'}, length ${total}`;
  if (type === 3) {
    const qip = layers[k + 1];
    const qdst = qip ? f(qip, 'ip.dst') ?? '?' : '?';
    if (code === 4) return `${qdst} unreachable - need to frag (mtu ${f(l, 'icmp.mtu')}), length ${total}`;
    const tmpl = ICMP_UNREACH[code];
    const ql4 = layers[k + 2];
    if (tmpl !== undefined) {
      const qproto = ql4?.proto ?? (qip ? f(qip, 'ip.proto') : '?') ?? '?';
      const qport = ql4 ? f(ql4, `${ql4.proto}.dstport`) ?? '?' : '?';
      return tmpl.replace('%d', qdst).replace('%P', qproto).replace('%p', qproto).replace('%q', qport) + `, length ${total}`;
    }
    return `${qdst} unreachable - code ${code}, length ${total}`;
  }
  return `type-#${type}, length ${total}`;
}

function icmpLen(layers: DissectLayer[], k: number): number {
  // ICMP length = IP total length − IP header length
  const ip = layers[k - 1];
  if (ip?.proto === 'ip') return num(ip, 'ip.len') - num(ip, 'ip.hdr_len');
  if (ip?.proto === 'ipv6') return num(ip, 'ipv6.plen');
  return 0;
}

function icmpv6Text(l: DissectLayer): string {
  const type = num(l, 'icmpv6.type');
  const lenOf = (): number => {
    // ICMPv6 length = the bytes of this layer and beyond (layer length holds it)
    return l.length;
  };
  switch (type) {
    case 128: case 129:
      return `echo ${type === 128 ? 'request' : 'reply'}, id ${f(l, 'icmpv6.echo.identifier')}, seq ${f(l, 'icmpv6.echo.sequence_number')}, length ${lenOf()}`;
    case 135: return `neighbor solicitation, who has ${f(l, 'icmpv6.nd.ns.target_address')}, length ${lenOf()}`;
    case 136: return `neighbor advertisement, tgt is ${f(l, 'icmpv6.nd.na.target_address')}, length ${lenOf()}`;
    case 133: return `router solicitation, length ${lenOf()}`;
    case 134: return `router advertisement, length ${lenOf()}`;
    case 1: return `destination unreachable, length ${lenOf()}`;
    case 2: return `packet too big, mtu ${f(l, 'icmpv6.mtu')}, length ${lenOf()}`;
    case 3: return `time exceeded in-transit, length ${lenOf()}`;
    default: return `type ${type}, length ${lenOf()}`;
  }
}

/** One `tcpdump -nn -e`-style line for a dissected frame. */
export function summarize(d: Dissection, tsSec: number, tsNsec: number, origLen = d.frameLen): string {
  let line = `${timeOfDay(tsSec, tsNsec)} ${frameText(d.layers, 1, origLen)}`;
  if (d.error) line += ` [|${d.error.layer}: ${d.error.code} at offset ${d.error.offset}]`;
  return line;
}
