/**
 * The dissector driver (wire layer, slow path): chains the per-protocol
 * dissectors of this folder over one frame. See ../dissect.ts for the model.
 *
 * Dispatch: EtherType → eth/vlan/arp/ip/ipv6 dissectors; IP protocol → icmp,
 * icmpv6, tcp, udp, ah, and IPv4/IPv6 again for IP-in-IP (4) and 6in4 (41); UDP port → vxlan (4789), geneve (6081), or what the caller
 * maps with `udpPorts` (tshark's `-d udp.port==8472,vxlan`), trying the lower
 * port first as Wireshark does; anything else becomes a `data` layer with
 * `data.data` in hex. A packet quoted in an ICMP error is dissected with
 * `ctx.quoted` set. Work is bounded (at most MAX_LAYERS layers), so a crafted
 * frame cannot loop.
 * `frame.protocols` is built as tshark builds it (`eth:ethertype:ip:udp`).
 * Each layer gets its fields' byte ranges last (ranges.ts).
 * Bytes after the packet an Ethernet header carries (the IP total length or
 * the ARP message ends first) are reported on that `eth` layer as tshark's
 * packet-eth.c does: zeros that fill the frame up to 60 bytes are
 * `eth.padding`; anything else is `eth.trailer`, and on an outer frame of at
 * least 64 bytes the last four trailer bytes are taken as `eth.fcs`.
 */
import { WireError } from '../../errors.js';
import { toHex } from '../bytes.js';
import { WireErrc, wireError } from '../errc.js';
import { DissectCtx, addField, errorInfo, type DissectLayer, type Dissection, type LayerDissector, type Next } from '../dissect.js';
import { dissectArp } from './arp.js';
import { dissectEthernet } from './ethernet.js';
import { dissectGeneve } from './geneve.js';
import { dissectIcmp } from './icmp.js';
import { dissectIcmpv6 } from './icmpv6.js';
import { dissectIpv4 } from './ipv4.js';
import { dissectAh, dissectIpv6 } from './ipv6.js';
import { dissectTcp } from './tcp.js';
import { dissectUdp } from './udp.js';
import { dissectVxlan } from './vxlan.js';
import { dissectSll, dissectSll2 } from './sll.js';
import { addRanges } from './ranges.js';

const MAX_LAYERS = 64;

/** Link types (pcap LINKTYPE_*) the dissector starts from. */
export const LINKTYPE_ETHERNET = 1, LINKTYPE_RAW = 101, LINKTYPE_LINUX_SLL = 113, LINKTYPE_IPV4 = 228, LINKTYPE_IPV6 = 229, LINKTYPE_LINUX_SLL2 = 276;

const BY_ETHERTYPE = new Map<number, LayerDissector>([
  [0x0800, dissectIpv4],
  [0x86dd, dissectIpv6],
  [0x0806, dissectArp],
  [0x6558, dissectEthernet],
]);

const BY_IPPROTO = new Map<number, LayerDissector>([
  [1, dissectIcmp],
  [6, dissectTcp],
  [17, dissectUdp],
  [58, dissectIcmpv6],
  [51, dissectAh],
  [4, dissectIpv4],    // IP-in-IP (RFC 2003)
  [41, dissectIpv6],   // IPv6 in IP (RFC 4213: 6in4, and IPv6-in-IPv6)
]);

const BY_NAME = new Map<string, LayerDissector>([
  ['vxlan', dissectVxlan],
  ['geneve', dissectGeneve],
  ['eth', dissectEthernet],
]);

const DEFAULT_UDP_PORTS = new Map<number, string>([
  [4789, 'vxlan'],
  [6081, 'geneve'],
]);

export interface DissectOptions {
  /** Extra UDP port → protocol name ('vxlan', 'geneve') mappings. */
  udpPorts?: ReadonlyMap<number, string>;
  /** Frame number (1-based) for `frame.number`. */
  number?: number;
  /** Capture time, for `frame.time_epoch`. */
  tsSec?: number;
  tsNsec?: number;
  /** Length on the wire, when the capture was truncated by a snaplen. */
  origLen?: number;
  /** Interface id (pcapng), for `frame.interface_id`. */
  interfaceId?: number;
  /**
   * The capture's link type (default 1, Ethernet). Also decoded: 113 (Linux
   * cooked v1, 276 (v2, what `tcpdump -i any` writes) and 101/228/229 (raw IP). Any other link type
   * yields the bytes as `data` and a WIRE_UNSUPPORTED error on `frame.linktype`.
   */
  linktype?: number;
}

/**
 * Dissect 'frame' (an Ethernet frame). Never throws for malformed input: the
 * result holds every layer decoded before the fault and `error` with its offset.
 */
export function dissect(frame: Uint8Array, opts: DissectOptions = {}): Dissection {
  const ports = new Map(DEFAULT_UDP_PORTS);
  if (opts.udpPorts) for (const [p, n] of opts.udpPorts) ports.set(p, n);
  const ctx = new DissectCtx(frame, ports);
  const ethEnds = new Map<number, number>();
  const fl = ctx.open('frame', 0, 0);
  if (opts.interfaceId !== undefined) addField(fl, 'frame.interface_id', String(opts.interfaceId));
  if (opts.tsSec !== undefined) {
    addField(fl, 'frame.time_epoch', `${opts.tsSec}.${String(opts.tsNsec ?? 0).padStart(9, '0')}`);
  }
  if (opts.number !== undefined) addField(fl, 'frame.number', String(opts.number));
  addField(fl, 'frame.len', String(opts.origLen ?? frame.length));
  addField(fl, 'frame.cap_len', String(frame.length));
  let error: Dissection['error'] = null;
  let next: Next = { kind: 'eth', off: 0, end: frame.length };
  try {
    next = linkLayer(ctx, opts.linktype ?? LINKTYPE_ETHERNET);
    for (let n = 0; n < MAX_LAYERS && next.kind !== 'end'; n++) {
      if (next.kind === 'eth' || (next.kind === 'ethertype' && next.type === 0x6558)) ethEnds.set(ctx.layers.length, next.end);
      next = step(ctx, next);
    }
    if (next.kind !== 'end') {
      // bounded work: a frame nesting more than MAX_LAYERS headers (tunnels in
      // tunnels, ICMP errors quoting ICMP errors) is shown as far as the bound
      const at = next.off;
      data(ctx, at, next.end);
      throw wireError(WireErrc.Unsupported, 'frame', 'frame.protocols', at,
        `frame: more than ${MAX_LAYERS} nested headers; the rest is shown as data at offset ${at}`);
    }
  } catch (e) {
    if (!(e instanceof WireError)) throw e;
    error = errorInfo(e);
  }
  if (error === null && ctx.truncated !== null) error = errorInfo(ctx.truncated);
  for (const [i, end] of ethEnds) trailer(ctx, i, end, i === 1, opts.origLen ?? frame.length);
  addField(fl, 'frame.protocols', protocolsOf(ctx));
  for (const l of ctx.layers) addRanges(l, frame.length);
  return { frameLen: frame.length, layers: ctx.layers, error };
}

/** The first layer for 'linktype'. */
function linkLayer(ctx: DissectCtx, linktype: number): Next {
  const end = ctx.bytes.length;
  switch (linktype) {
    case LINKTYPE_ETHERNET:
      return { kind: 'eth', off: 0, end };
    case LINKTYPE_LINUX_SLL:
      return dissectSll(ctx, 0, end);
    case LINKTYPE_LINUX_SLL2:
      return dissectSll2(ctx, 0, end);
    case LINKTYPE_RAW: case LINKTYPE_IPV4: case LINKTYPE_IPV6: {
      ctx.open('raw', 0, 0);
      const v = end > 0 ? ctx.bytes[0]! >>> 4 : 0;
      if (v !== 4 && v !== 6) throw wireError(end > 0 ? WireErrc.BadVersion : WireErrc.Truncated, 'raw', 'ip.version', 0);
      return { kind: 'ethertype', type: v === 4 ? 0x0800 : 0x86dd, off: 0, end };
    }
    default:
      data(ctx, 0, end);
      throw wireError(WireErrc.Unsupported, 'frame', 'frame.linktype', 0, `frame: link type ${linktype} is not supported (Ethernet 1, Linux cooked 113/276, raw IP 101/228/229 are)`);
  }
}

function step(ctx: DissectCtx, next: Next): Next {
  let d: LayerDissector | undefined;
  let name = '';
  switch (next.kind) {
    case 'eth':
      d = dissectEthernet;
      break;
    case 'ethertype':
      d = BY_ETHERTYPE.get(next.type);
      break;
    case 'ipproto':
      d = BY_IPPROTO.get(next.proto);
      break;
    case 'udp': {
      const lo = Math.min(next.srcPort, next.dstPort), hi = Math.max(next.srcPort, next.dstPort);
      name = ctx.udpPorts.get(lo) ?? ctx.udpPorts.get(hi) ?? '';
      d = BY_NAME.get(name);
      break;
    }
    case 'ip': {
      const v = next.end > next.off ? ctx.bytes[next.off]! >>> 4 : 0;
      ctx.quoted = true;
      d = v === 4 ? dissectIpv4 : v === 6 ? dissectIpv6 : undefined;
      break;
    }
    case 'data':
      break;
    case 'end':
      return next;
  }
  // Nothing left: fine after UDP (an empty datagram) or where no header was
  // expected; a header that is expected but absent is truncation, reported by its dissector.
  if (next.off >= next.end && (d === undefined || next.kind === 'udp' || next.kind === 'ip')) return { kind: 'end' };
  if (d === undefined) return data(ctx, next.off, next.end);
  return d(ctx, next.off, next.end);
}

function data(ctx: DissectCtx, off: number, end: number): Next {
  const l = ctx.open('data', off, end - off);
  addField(l, 'data.data', toHex(ctx.bytes, off, end));
  addField(l, 'data.len', String(end - off));
  return { kind: 'end' };
}

/** `frame.protocols` as tshark prints it: an `ethertype` pseudo-layer follows each eth/vlan/ieee8021ad header that has a successor. */
function protocolsOf(ctx: DissectCtx): string {
  const out: string[] = [];
  const ls = ctx.layers;
  for (let i = 1; i < ls.length; i++) {
    const p = ls[i]!.proto;
    out.push(p);
    // an 802.3 length field (eth.len, vlan.len) is followed by LLC, not an EtherType
    const isLength = ls[i]!.fields.some(([k]) => k === 'eth.len' || k === 'vlan.len');
    if ((p === 'eth' || p === 'vlan' || p === 'ieee8021ad' || p === 'sll') && i + 1 < ls.length && !isLength) out.push('ethertype');
  }
  return out.join(':');
}

/** Extent of the L3 packet carried by the Ethernet layer at index 'i', or -1 if unknown. */
function carriedEnd(ctx: DissectCtx, i: number): number {
  let k = i + 1;
  while (ctx.layers[k] !== undefined && (ctx.layers[k]!.proto === 'vlan' || ctx.layers[k]!.proto === 'ieee8021ad')) k++;
  const l = ctx.layers[k];
  if (l === undefined) return -1;
  const field = (name: string): number => {
    for (const [n, v] of l.fields) if (n === name) return Number(v);
    return NaN;
  };
  let end = NaN;
  if (l.proto === 'ip') end = l.offset + field('ip.len');
  else if (l.proto === 'ipv6') end = l.offset + 40 + field('ipv6.plen');
  else if (l.proto === 'arp') end = l.offset + l.length;
  return Number.isFinite(end) ? end : -1;
}

/**
 * Add eth.padding / eth.trailer / eth.fcs for the bytes after the packet the
 * Ethernet layer at 'i' carries (frame end 'end'; 'wireLen' is the frame's
 * length on the wire). As packet-eth.c and packet-vlan.c do: zeros are
 * padding only in a frame of at least 60 bytes; in a tagged frame what is not
 * padding is the innermost tag's trailer (`vlan.trailer`, or
 * `ieee8021ah.trailer` after an 802.1ad tag) and never an FCS; otherwise it
 * is `eth.trailer`, with the last four bytes taken as `eth.fcs` on an outer
 * frame of at least 64 bytes.
 */
function trailer(ctx: DissectCtx, i: number, end: number, outer: boolean, wireLen: number): void {
  const eth = ctx.layers[i];
  const extent = carriedEnd(ctx, i);
  if (eth === undefined || extent < 0 || extent >= end) return;
  const b = ctx.bytes;
  let rest = extent;
  const frameLen = outer ? Math.max(wireLen, end - eth.offset) : end - eth.offset;
  const padEnd = Math.min(end, Math.max(extent, eth.offset + 60));
  if (padEnd > extent && frameLen >= 60) {
    let zeros = true;
    for (let j = extent; j < padEnd; j++) if (b[j] !== 0) { zeros = false; break; }
    if (zeros) {
      addField(eth, 'eth.padding', toHex(b, extent, padEnd));
      rest = padEnd;
    }
  }
  if (rest >= end) return;
  let tag: DissectLayer | undefined;
  for (let k = i + 1; ctx.layers[k] !== undefined && (ctx.layers[k]!.proto === 'vlan' || ctx.layers[k]!.proto === 'ieee8021ad'); k++) tag = ctx.layers[k];
  if (tag !== undefined) {
    addField(tag, tag.proto === 'vlan' ? 'vlan.trailer' : 'ieee8021ah.trailer', toHex(b, rest, end));
  } else if (outer && end - eth.offset >= 64 && end - rest >= 4) {
    if (end - 4 > rest) addField(eth, 'eth.trailer', toHex(b, rest, end - 4));
    addField(eth, 'eth.fcs', '0x' + toHex(b, end - 4, end));
  } else {
    addField(eth, 'eth.trailer', toHex(b, rest, end));
  }
}
