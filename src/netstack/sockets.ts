/**
 * A host's UDP and ICMP echo sockets (netstack layer).
 *
 * What: `Sockets.udp(port?, addr?)` binds a UDP socket (port 0 or none: an
 * ephemeral port from ip_local_port_range, 32768–60999, drawn from the
 * simulator's RNG); `send` builds the datagram (checksum computed, TTL 64,
 * source the bound address or the one the route chooses) and hands it to the
 * host. `Sockets.icmp()` is a ping socket: its echo requests carry its id,
 * and replies and errors quoting that id come back to it.
 * Path MTU as Linux's default (IP_PMTUDISC_WANT) for both: DF is set when
 * the packet fits the route's MTU, else the packet goes without DF and is
 * fragmented; `pmtu: 'do'` keeps DF and fails with EMSGSIZE, 'dont' never
 * sets it. The IPv4 id: 0 with DF (ip_select_ident for an unconnected
 * socket), the host's counter without.
 * Input (`input`, called for what the IP path delivers): a UDP datagram
 * with a wrong non-zero checksum is dropped and counted (InCsumErrors); one to
 * the socket bound to its port (a socket bound to an address only for that
 * address); an ICMP echo reply to the ping socket of its id; an ICMP error
 * to the socket its quoted header names (a UDP source port, an echo id) —
 * traceroute and ping read those. False when no socket takes it (the stack
 * answers: port unreachable, echo reply).
 * IPv6 (ipv6.ts): a destination written with ':' makes `send`/`echo` build an
 * IPv6 datagram (UDP, ICMPv6 echo; source by RFC 6724 through the route,
 * hop limit 64, the UDP checksum always computed) handed to `host.ip6.send`,
 * which fragments it to the path MTU unless `pmtu: 'do'` (EMSGSIZE).
 * `input6` is the IPv6 delivery: a UDP datagram with a zero or wrong checksum
 * is dropped (InCsumErrors: the checksum is mandatory in IPv6), one to the
 * socket of its port not bound to an IPv4 address (a socket bound to the
 * wildcard takes both families, as a dual-stack socket does); ICMPv6 echo
 * replies and errors as for IPv4 (the quote's extension headers walked by
 * wire/ipv6.ts). An IPv6 peer is given as text (`from.addr6`, `from6`,
 * `dst6`), the IPv4 fields are then 0.
 * Neighbours: host.ts (sendIp, route), tools.ts (ping, traceroute).
 */
import { FrameBuilder } from '../wire/builder.js';
import { be16, be32, ipv6ToString, parseIpv4, parseIpv6 } from '../wire/bytes.js';
import { fold, ipv4PseudoSum, ipv6PseudoSum, sum16 } from '../wire/checksum.js';
import { Ipv6Packet } from '../wire/ipv6.js';
import { InputError, SdnemuError } from '../errors.js';
import type { Host, SendStatus } from './host.js';

export class SocketError extends SdnemuError {
  constructor(code: string, message: string) { super(code, message); this.name = 'SocketError'; }
}

export interface SendOptions {
  ttl?: number;
  tos?: number;
  /** path MTU discovery: 'want' (Linux's default), 'do' (DF always, EMSGSIZE when too big), 'dont' */
  pmtu?: 'want' | 'do' | 'dont';
}

/** An ICMP error as a socket sees it (IP_RECVERR). */
export interface IcmpErrorInfo {
  type: number; code: number;
  /** who sent the error */
  from: number;
  /** the next-hop MTU of fragmentation needed */
  mtu: number;
  /** the quoted datagram's destination */
  dst: number;
  /** TTL of the error as it arrived */
  ttl: number;
  /** IPv6: who sent the error and the quoted destination, as text ('' for IPv4) */
  from6: string;
  dst6: string;
}

/** 'a' as the 16 bytes of an IPv6 address when it is IPv6 text, else null. */
function addr6Of(a: number | string, field: string): Uint8Array | null {
  if (typeof a !== 'string' || !a.includes(':')) return null;
  const v = parseIpv6(a);
  if (v === null) throw new InputError('SOCKET_BAD_ADDRESS', field, `'${a}' is not an IPv6 address`);
  return v;
}

function addrOf(a: number | string, field: string): number {
  if (typeof a === 'number') return a >>> 0;
  const v = parseIpv4(a);
  if (v === null) throw new InputError('SOCKET_BAD_ADDRESS', field, `'${a}' is not an IPv4 address`);
  return v;
}
const bytesOf = (d: Uint8Array | string): Uint8Array => (typeof d === 'string' ? new TextEncoder().encode(d) : d);

export class UdpSocket {
  /** a datagram arrived: its payload (a view into the frame), sender, destination address, and the whole frame (for TOS, TTL …) */
  onMessage: ((data: Uint8Array, from: { addr: number; port: number; addr6: string }, to: number, frame: Uint8Array) => void) | null = null;
  onError: ((e: IcmpErrorInfo) => void) | null = null;
  /** a tunnel's socket (VXLAN, Geneve: the kernel's encap_rcv): what it takes is decapsulated, not delivered */
  encap = false;
  constructor(private readonly owner: Sockets, readonly port: number, readonly addr: number) {}

  send(dst: number | string, dport: number, data: Uint8Array | string, opts: SendOptions = {}): SendStatus {
    const d6 = addr6Of(dst, 'dst');
    if (d6 !== null) {
      return this.owner.send6(d6, opts, (src) => new FrameBuilder().eth({}).ipv6({ src, dst: d6, hopLimit: opts.ttl ?? 64, trafficClass: opts.tos ?? 0 })
        .udp({ srcPort: this.port, dstPort: dport }).payload(bytesOf(data)).build());
    }
    return this.owner.own(() => this.owner.host.sendIp(this.frame(dst, dport, data, opts)));
  }

  /** The frame `send` would hand to the host (Ethernet addresses still zero). */
  frame(dst: number | string, dport: number, data: Uint8Array | string, opts: SendOptions = {}): Uint8Array {
    const d = addrOf(dst, 'dst');
    const src = this.addr !== 0 ? this.addr : this.owner.host.ip.sourceFor(d);
    const payload = bytesOf(data);
    const df = this.owner.dfFor(d, 28 + payload.length, opts.pmtu ?? 'want');
    return new FrameBuilder().eth({}).ipv4({ src, dst: d, ttl: opts.ttl ?? 64, ident: 0, df, dscp: (opts.tos ?? 0) >> 2 })
      .udp({ srcPort: this.port, dstPort: dport }).payload(payload).build();
  }

  close(): void { this.owner.unbindUdp(this); }
}

export class IcmpSocket {
  onReply: ((seq: number, frame: Uint8Array) => void) | null = null;
  onError: ((seq: number, e: IcmpErrorInfo) => void) | null = null;
  constructor(private readonly owner: Sockets, readonly id: number) {}

  /** An echo request to 'dst' with 'seq' and 'payload'. */
  echo(dst: number | string, seq: number, payload: Uint8Array, opts: SendOptions = {}): SendStatus {
    const d6 = addr6Of(dst, 'dst');
    if (d6 !== null) {
      return this.owner.send6(d6, opts, (src) => new FrameBuilder().eth({}).ipv6({ src, dst: d6, hopLimit: opts.ttl ?? 64, trafficClass: opts.tos ?? 0 })
        .icmpv6({ type: 128, code: 0, ident: this.id, seq }).payload(payload).build());
    }
    const d = addrOf(dst, 'dst');
    const src = this.owner.host.ip.sourceFor(d);
    const df = this.owner.dfFor(d, 28 + payload.length, opts.pmtu ?? 'want');
    return this.owner.own(() => this.owner.host.sendIp(new FrameBuilder().eth({}).ipv4({ src, dst: d, ttl: opts.ttl ?? 64, ident: 0, df, dscp: (opts.tos ?? 0) >> 2 })
      .icmp({ type: 8, code: 0, ident: this.id, seq }).payload(payload).build()));
  }

  close(): void { this.owner.unbindIcmp(this); }
}

export class Sockets {
  private readonly udpByPort = new Map<number, UdpSocket[]>();
  private readonly icmpById = new Map<number, IcmpSocket>();
  private nextIcmpId = 1;
  /** UDP datagrams dropped for a bad checksum (Udp: InCsumErrors) */
  csumErrors = 0;

  constructor(readonly host: Host) {}

  /** Bind a UDP socket to 'port' (0: an ephemeral one) on 'addr' (default any). */
  udp(port = 0, addr: number | string = 0): UdpSocket {
    const a = addrOf(addr, 'addr');
    let p = port;
    if (p === 0) p = this.ephemeral((x) => this.udpByPort.has(x));
    const bound = this.udpByPort.get(p) ?? [];
    if (bound.some((s) => s.addr === 0 || a === 0 || s.addr === a)) throw new SocketError('EADDRINUSE', `${this.host.name}: UDP port ${p} is in use`);
    const s = new UdpSocket(this, p, a);
    this.udpByPort.set(p, [...bound, s]);
    return s;
  }

  /** A ping socket with its own echo id. */
  icmp(): IcmpSocket {
    while (this.icmpById.has(this.nextIcmpId)) this.nextIcmpId = (this.nextIcmpId % 0xffff) + 1;
    const s = new IcmpSocket(this, this.nextIcmpId);
    this.icmpById.set(s.id, s);
    this.nextIcmpId = (this.nextIcmpId % 0xffff) + 1;
    return s;
  }

  unbindUdp(s: UdpSocket): void {
    const l = (this.udpByPort.get(s.port) ?? []).filter((x) => x !== s);
    if (l.length === 0) this.udpByPort.delete(s.port); else this.udpByPort.set(s.port, l);
  }

  unbindIcmp(s: IcmpSocket): void { this.icmpById.delete(s.id); }

  /** A port of ip_local_port_range not 'used', drawn from the simulator's RNG. */
  ephemeral(used: (p: number) => boolean): number {
    for (let i = 0; i < 64; i++) {
      const p = 32768 + ((this.host.sim.rng.nextI32() >>> 0) % (60999 - 32768 + 1));
      if (!used(p)) return p;
    }
    for (let p = 32768; p <= 60999; p++) if (!used(p)) return p;
    throw new SocketError('EADDRNOTAVAIL', `${this.host.name}: no ephemeral port left`);
  }

  /** Send the IPv6 packet 'build' makes from the source the route to 'dst' chooses (ENETUNREACH when there is none). */
  /** whether the socket that took the last UDP datagram was a tunnel's (for trace records) */
  lastEncap = false;

  /** A socket's send: a new packet for the trace (sim/tracer.ts), even when it answers one (an echo server's reply). */
  own<T>(send: () => T): T { return this.host.sim.tracer.aside(send); }

  send6(dst: Uint8Array, opts: SendOptions, build: (src: Uint8Array) => Uint8Array): SendStatus {
    const src = this.host.ip6.sourceFor(dst, 0);
    if (src === null) return 'ENETUNREACH';
    return this.own(() => this.host.ip6.send(build(src), opts.pmtu === 'do'));
  }

  /** A packet delivered to the host over IPv6 ('frame', Ethernet + IPv6, upper layer 'proto' at 'l4'): true when a socket took it. */
  input6(frame: Uint8Array, l4: number, proto: number): boolean {
    const end = frame.length;
    if (proto === 17) {
      if (end - l4 < 8) return true;
      if (be16(frame, l4 + 6) === 0 || fold(sum16(frame, l4, end, ipv6PseudoSum(frame, 22, 38, 17, end - l4))) !== 0) {
        this.csumErrors++;
        this.host.ip6.stats.udpInCsumErrors++;
        return true;
      }
      const s = this.udpByPort.get(be16(frame, l4 + 2))?.find((x) => x.addr === 0);
      if (s === undefined) return false;
      s.onMessage?.(frame.slice(l4 + 8, end), { addr: 0, port: be16(frame, l4), addr6: ipv6ToString(frame, 22) }, 0, frame);
      return true;
    }
    if (proto !== 58 || end - l4 < 8) return false;
    const type = frame[l4]!;
    if (type === 129) return this.echoTo(frame, l4, null);
    if (type < 1 || type > 4) return false;
    const q = new Ipv6Packet().reset(frame, l4 + 8, end);
    if (q.checkHeader() !== 0 || q.upperOff + 8 > end) return false;
    const info: IcmpErrorInfo = { type, code: frame[l4 + 1]!, from: 0, mtu: type === 2 ? be32(frame, l4 + 4) : 0, dst: 0, ttl: frame[21]!,
      from6: ipv6ToString(frame, 22), dst6: ipv6ToString(frame, l4 + 8 + 24) };
    const u = q.upperOff;
    if (q.upperProto === 17) {
      const s = this.udpByPort.get(be16(frame, u))?.find((x) => x.addr === 0);
      if (s === undefined) return false;
      s.onError?.(info);
      return true;
    }
    if (q.upperProto === 58 && frame[u] === 128) return this.echoTo(frame, u, info);
    return false;
  }

  /** DF for a packet of IP length 'len' to 'dst' as the path MTU mode says; 'do' over the path MTU is still DF (the host refuses it). */
  dfFor(dst: number, len: number, mode: 'want' | 'do' | 'dont'): boolean {
    if (mode === 'dont') return false;
    return !(mode === 'want' && !this.host.ip.isLocal(dst) && len > this.host.mtuTo(dst));
  }

  /** A packet delivered to the host ('frame', Ethernet + IPv4): true when a socket took it. */
  input(frame: Uint8Array, _inIface: string): boolean {
    const proto = frame[23]!, l4 = 14 + (frame[14]! & 15) * 4, end = 14 + be16(frame, 16);
    if (proto === 17 && end - l4 >= 8) {
      // udp_lib_checksum_complete: a wrong non-zero checksum is dropped (InCsumErrors), before any socket
      if (be16(frame, l4 + 6) !== 0 && fold(sum16(frame, l4, end, ipv4PseudoSum(be32(frame, 26), be32(frame, 30), 17, end - l4))) !== 0) {
        this.csumErrors++;
        return true;
      }
      const s = this.udpFor(be16(frame, l4 + 2), be32(frame, 30));
      if (s === undefined) return false;
      this.lastEncap = s.encap;
      s.onMessage?.(new Uint8Array(frame.buffer, frame.byteOffset + l4 + 8, end - l4 - 8), { addr: be32(frame, 26), port: be16(frame, l4), addr6: '' }, be32(frame, 30), frame);
      return true;
    }
    if (proto !== 1 || end - l4 < 8) return false;
    const type = frame[l4]!;
    if (type === 0) return this.echoTo(frame, l4, null);
    if (type !== 3 && type !== 11 && type !== 12 && type !== 4) return false;
    // an error: the socket its quoted header names
    const q = l4 + 8;
    if (end - q < 28) return false;
    const qproto = frame[q + 9]!, ql4 = q + (frame[q]! & 15) * 4;
    const info: IcmpErrorInfo = { type, code: frame[l4 + 1]!, from: be32(frame, 26), mtu: type === 3 && frame[l4 + 1] === 4 ? be16(frame, l4 + 6) : 0,
      dst: be32(frame, q + 16), ttl: frame[22]!, from6: '', dst6: '' };
    if (qproto === 17) {
      const s = this.udpFor(be16(frame, ql4), be32(frame, q + 12));
      if (s === undefined) return false;
      s.onError?.(info);
      return true;
    }
    if (qproto === 1 && frame[ql4] === 8) return this.echoTo(frame, ql4, info);
    return false;
  }

  /** The ping socket of the echo id at 'frame'[at + 4] gets the reply 'frame' (info null) or the error 'info', with the sequence at +6; false when there is none. */
  private echoTo(frame: Uint8Array, at: number, info: IcmpErrorInfo | null): boolean {
    const s = this.icmpById.get(be16(frame, at + 4));
    if (s === undefined) return false;
    if (info === null) s.onReply?.(be16(frame, at + 6), frame); else s.onError?.(be16(frame, at + 6), info);
    return true;
  }

  private udpFor(port: number, dst: number): UdpSocket | undefined {
    const l = this.udpByPort.get(port);
    return l?.find((s) => s.addr === dst) ?? l?.find((s) => s.addr === 0);
  }
}
