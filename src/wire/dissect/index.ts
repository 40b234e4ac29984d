/**
 * The dissector driver (wire layer, slow path): chains the per-protocol
 * dissectors of this folder over one frame. See ../dissect.ts for the model.
 *
 * Dispatch: EtherType → eth/vlan/arp/ip/ipv6 dissectors; IP protocol → icmp,
 * icmpv6, tcp, udp; UDP port → vxlan (4789), geneve (6081), or what the caller
 * maps with `udpPorts` (tshark's `-d udp.port==8472,vxlan`), trying the lower
 * port first as Wireshark does; anything else becomes a `data` layer with
 * `data.data` in hex. A packet quoted in an ICMP error is dissected with
 * `ctx.quoted` set. Work is bounded (at most MAX_LAYERS layers), so a crafted
 * frame cannot loop.
 * `frame.protocols` is built as tshark builds it (`eth:ethertype:ip:udp`).
 */
import { WireError } from '../../errors.js';
import { toHex } from '../bytes.js';
import { DissectCtx, addField, errorInfo, type Dissection, type LayerDissector, type Next } from '../dissect.js';
import { dissectArp } from './arp.js';
import { dissectEthernet } from './ethernet.js';
import { dissectGeneve } from './geneve.js';
import { dissectIcmp } from './icmp.js';
import { dissectIcmpv6 } from './icmpv6.js';
import { dissectIpv4 } from './ipv4.js';
import { dissectIpv6 } from './ipv6.js';
import { dissectTcp } from './tcp.js';
import { dissectUdp } from './udp.js';
import { dissectVxlan } from './vxlan.js';

const MAX_LAYERS = 32;

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
}

/**
 * Dissect 'frame' (an Ethernet frame). Never throws for malformed input: the
 * result holds every layer decoded before the fault and `error` with its offset.
 */
export function dissect(frame: Uint8Array, opts: DissectOptions = {}): Dissection {
  const ports = new Map(DEFAULT_UDP_PORTS);
  if (opts.udpPorts) for (const [p, n] of opts.udpPorts) ports.set(p, n);
  const ctx = new DissectCtx(frame, ports);
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
    for (let n = 0; n < MAX_LAYERS && next.kind !== 'end'; n++) {
      next = step(ctx, next);
    }
  } catch (e) {
    if (!(e instanceof WireError)) throw e;
    error = errorInfo(e);
  }
  addField(fl, 'frame.protocols', protocolsOf(ctx));
  return { frameLen: frame.length, layers: ctx.layers, error };
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
  if (next.off >= next.end) return { kind: 'end' };
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
    if ((p === 'eth' || p === 'vlan' || p === 'ieee8021ad') && i + 1 < ls.length) out.push('ethertype');
  }
  return out.join(':');
}
