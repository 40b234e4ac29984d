/**
 * An emulated node's underlay on a real UDP socket (shard layer): the
 * node's VTEP (a Linux-style `Vtep`, devices/vtep.ts, or an OVS tunnel
 * vport, devices/ovs-tunnel.ts) sends and receives REAL VXLAN (or Geneve)
 * datagrams — to another shard, another process, or a Linux kernel.
 *
 * What: `new UdpUnderlay(host, opts)` is a device with one port, linked to
 * the host's underlay interface (eth0) the way a switch port would be; it
 * stands for the whole underlay network beyond that interface. `open()`
 * binds a `node:dgram` socket (`bind.address`, `bind.port`; port 0 picks
 * one). A peer map `underlayIp → { address, port }` says where the node
 * whose emulated underlay address is `underlayIp` really listens.
 *
 * Frames the host sends (out of the emulated network):
 *  - ARP requests for a peer's underlay IP (or for `gateway`, when the host
 *    routes its underlay through one) are answered with the device's own
 *    MAC: it is the L2 neighbour of every peer (proxy ARP), so the host's
 *    neighbour table, ARP timers and queues work unchanged. Other ARP
 *    requests go unanswered ('arp_unanswered'), other ARP frames are taken
 *    silently (delivered: the device is their destination).
 *  - IPv4/UDP to a peer's underlay IP and to the tunnel port (`tunnelPort`,
 *    default 4789 for VXLAN, 6081 for Geneve): the UDP payload — the
 *    VXLAN/Geneve header and the inner frame — is sent with dgram to the
 *    peer's real address and port. The outer Ethernet/IPv4/UDP headers the
 *    model wrote are not sent (the kernel writes its own); the packet leaves
 *    the emulated network here (ledger: delivered).
 *  - anything else is dropped with a reason (ledger and `stats.drops`):
 *    IPv4 to an address with no peer ('no_peer' / no-route), other protocols
 *    or ports ('not_tunnel' / unknown-proto), outer fragments ('fragment' /
 *    frag-needed: a datagram socket cannot send a fragment, so the underlay
 *    MTU must carry the whole encapsulated frame — give the VTEP an MTU of
 *    the underlay's − 50, as the kernel does with `dev`), runts and broken
 *    headers ('bad_frame' / bad-header).
 * Datagrams received on the socket (into the emulated network):
 *  - from a known peer: the peer whose (address, port) is the datagram's
 *    source, else the only peer at that address (a Linux VTEP sends from a
 *    hashed source port, 32768–60999, never from its listening port); else
 *    'unknown_peer' (the trace's unknown-peer), counted and dropped;
 *  - a valid header: VXLAN at least 8 bytes with the I flag; Geneve at least
 *    8 bytes, version 0, its options inside the datagram; else 'bad_header';
 *  - not larger than the uplink's MTU once wrapped ('too_big' / frag-needed);
 *  - an underlay not linked to its host (or whose host lacks `iface`) drops
 *    it ('closed' / unconnected), as it drops frames while its socket is shut;
 *  - then wrapped into Ethernet (dst the host's interface MAC, src the
 *    device's) + IPv4 (src the peer's underlay IP, dst `localIp`, TTL 64,
 *    an id counter, header checksum) + UDP (src port = the real source port,
 *    dst = `tunnelPort`, checksum computed) by wire/builder.ts, and sent into
 *    the host as a NEW packet (ledger: it enters the network here). What the
 *    VTEP then finds wrong it reports itself, as the kernel does: a VNI no
 *    device has is counted in `Vtep.socketDrops.vni_not_found` (ledger:
 *    unknown-vni), other flags in its `stats.drops.invalid_hdr`; behind an
 *    OVS tunnel vport, a key or remote no tunnel port takes is counted in the
 *    bridge's `dp.stats.tnlPortNotFound`.
 *  A datagram that makes the model throw is counted (`stats.errors`, the
 *    last one in `lastError`) and the socket keeps serving; socket errors
 *    likewise (`socketErrors`), and failed sends (`sendErrors`: the frame
 *    already left the ledger as delivered — the real network lost it). Bad options are an InputError naming the
 *    option.
 * Time: see udp-realtime.ts. With `clock` given, the underlay calls
 * `clock.catchUp()` before each injection, so a datagram enters the network
 * at the virtual instant matching its arrival; without it, at `sim.now`
 * (whatever drives the simulator decides when it is processed). Frames the
 * model sends go to the socket when their event runs.
 * Datagrams the kernel drops before the event loop reads them (a burst
 * beyond the socket's receive buffer, `recvBufferBytes`) are never seen, so
 * never counted: measured on loopback with the sender in the same process,
 * bursts of 200 lost 83 % with the default 208 KiB buffer, 37 % with 4 MiB;
 * paced bursts of 5–20 lost none at 34–42 k datagrams/s.
 * Not modelled: one tunnel protocol per underlay (a node with VXLAN and
 * Geneve needs two underlay interfaces); IPv6 underlays; the outer TOS, TTL
 * and DF the model chose (the real socket's are the host kernel's); outer
 * fragments; multicast peers; learning peers from datagrams (the map is
 * static, as a shard map is).
 * Cost per datagram: a Map lookup by "address:port" (a string: this is the
 * socket boundary, not the fast path), one frame built and copied onto the
 * link; per frame out: header checks and one copy for the socket.
 * Neighbours: netstack/host.ts (the node whose interface it joins), sim/link
 * (its port, the ledger), wire/builder.ts (the frames it makes),
 * devices/vtep.ts and ovs-tunnel.ts (the VTEPs above the host),
 * udp-realtime.ts (the clock), the shard coordinator (which fills peer maps
 * from the shard map).
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import { Port, type PortOwner } from '../sim/link.js';
import type { Sim } from '../sim/engine.js';
import type { TraceDropReason } from '../sim/tracer.js';
import type { Host } from '../netstack/host.js';
import { FrameBuilder, macBytes } from '../wire/builder.js';
import { be16, ipv4ToString, parseIpv4 } from '../wire/bytes.js';
import { VXLAN_FLAG_I, VXLAN_HEADER_LEN, VXLAN_PORT } from '../wire/vxlan.js';
import { GENEVE_HEADER_LEN, GENEVE_PORT } from '../wire/geneve.js';
import { InputError } from '../errors.js';
import type { RealTimeClock } from './udp-realtime.js';

export type UdpTunnelProto = 'vxlan' | 'geneve';

/** Where a peer really listens. */
export interface UdpPeerAddress { address: string; port: number }

export interface UdpUnderlayOptions {
  /** the device's name (default `<host>/underlay`) */
  name?: string;
  /** the node's underlay address: incoming datagrams are addressed to it */
  localIp: string;
  /** the host interface it serves (default eth0): the MAC incoming frames go to */
  iface?: string;
  /** the real socket's address and port (port 0: any free port) */
  bind: UdpPeerAddress;
  /** the tunnel protocol (default vxlan) */
  proto?: UdpTunnelProto;
  /** the emulated UDP port of the tunnel (default 4789 for VXLAN, 6081 for Geneve) */
  tunnelPort?: number;
  /** peers: emulated underlay IP → real address and port */
  peers?: Record<string, UdpPeerAddress>;
  /** also answer ARP for this address (the host's underlay gateway) */
  gateway?: string;
  /** the device's MAC (default 02:55:00:00:00:01) */
  mac?: string;
  /** the real-time clock to catch up before each injection */
  clock?: RealTimeClock;
  /**
   * the socket's receive buffer (SO_RCVBUF; default the kernel's, net.core.rmem_default, capped
   * by net.core.rmem_max): a burst larger than it is lost in the kernel before the event loop
   * sees it, and nothing here can count that
   */
  recvBufferBytes?: number;
}

/** Why the underlay dropped a frame (out) or a datagram (in). */
export type UdpUnderlayDropReason =
  | 'no_peer' | 'not_tunnel' | 'fragment' | 'bad_frame' | 'arp_unanswered'
  | 'unknown_peer' | 'bad_header' | 'too_big' | 'closed';

/** Each drop as the packet ledger's and the trace's reason (sim/tracer.ts DROP_REASONS). */
const LEDGER_REASON: Record<UdpUnderlayDropReason, TraceDropReason> = {
  no_peer: 'no-route', not_tunnel: 'unknown-proto', fragment: 'frag-needed', bad_frame: 'bad-header',
  arp_unanswered: 'not-for-us', unknown_peer: 'unknown-peer', bad_header: 'bad-header', too_big: 'frag-needed',
  closed: 'unconnected',
};

export class UdpUnderlayStats {
  /** datagrams sent to peers, and their bytes (the UDP payload) */
  txDatagrams = 0; txBytes = 0;
  /** datagrams received and injected, and their bytes */
  rxDatagrams = 0; rxBytes = 0;
  /** proxy-ARP replies sent to the host */
  arpReplies = 0;
  /** socket send failures (reported by dgram after the fact) */
  sendErrors = 0;
  /** socket 'error' events */
  socketErrors = 0;
  /** datagrams whose processing threw (the socket kept serving) */
  errors = 0;
  drops: Record<UdpUnderlayDropReason, number> = {
    no_peer: 0, not_tunnel: 0, fragment: 0, bad_frame: 0, arp_unanswered: 0,
    unknown_peer: 0, bad_header: 0, too_big: 0, closed: 0,
  };
}

const ETH_P_IP = 0x0800, ETH_P_ARP = 0x0806;
const IPPROTO_UDP = 17;
const ETH_HLEN = 14, IPV4_HLEN = 20, UDP_HLEN = 8;
const DEFAULT_MAC = '02:55:00:00:00:01';

interface Peer { underlayIp: number; address: string; port: number }

export class UdpUnderlay implements PortOwner {
  readonly name: string;
  readonly sim: Sim;
  readonly stats = new UdpUnderlayStats();
  /** the last exception a datagram caused (the socket kept serving) */
  lastError: unknown = null;
  readonly proto: UdpTunnelProto;
  readonly tunnelPort: number;
  readonly localIp: number;
  private readonly iface: string;
  private readonly mac: Uint8Array;
  private readonly gateway: number;
  private readonly bindTo: UdpPeerAddress;
  private readonly clock: RealTimeClock | null;
  private readonly recvBufferBytes: number;
  private readonly byIp = new Map<number, Peer>();
  private readonly byAddrPort = new Map<string, Peer>();
  private readonly byAddr = new Map<string, Peer[]>();
  private sock: Socket | null = null;
  private port: Port | null = null;
  private ident = 0;

  constructor(readonly host: Host, opts: UdpUnderlayOptions) {
    this.sim = host.sim;
    this.name = opts.name ?? `${host.name}/underlay`;
    this.proto = opts.proto ?? 'vxlan';
    if (this.proto !== 'vxlan' && this.proto !== 'geneve') {
      throw new InputError('UNDERLAY_BAD_PROTO', 'proto', `tunnel protocol '${String(this.proto)}' is not vxlan or geneve`);
    }
    this.tunnelPort = portOf(opts.tunnelPort ?? (this.proto === 'vxlan' ? VXLAN_PORT : GENEVE_PORT), 'tunnelPort', 1);
    this.localIp = ipOf(opts.localIp, 'localIp');
    this.iface = opts.iface ?? 'eth0';
    this.mac = macBytes(opts.mac ?? DEFAULT_MAC, 'mac');
    this.gateway = opts.gateway === undefined ? -1 : ipOf(opts.gateway, 'gateway');
    if (!isIPv4(opts.bind?.address ?? '')) throw new InputError('UNDERLAY_BAD_ADDRESS', 'bind.address', `'${opts.bind?.address}' is not an IPv4 address`);
    this.bindTo = { address: opts.bind.address, port: portOf(opts.bind.port, 'bind.port', 0) };
    this.clock = opts.clock ?? null;
    const rb = opts.recvBufferBytes ?? 0;
    if (!(Number.isInteger(rb) && rb >= 0 && rb <= 0x7fffffff)) throw new InputError('UNDERLAY_BAD_BUFFER', 'recvBufferBytes', `${String(rb)} is not a byte count`);
    this.recvBufferBytes = rb;
    for (const [ip, to] of Object.entries(opts.peers ?? {})) this.addPeer(ip, to, `peers.${ip}`);
  }

  /** The device's one port (what `Topology.link` joins to the host's interface). */
  addPort(_name?: string): Port {
    if (this.port !== null) throw new InputError('UNDERLAY_ONE_PORT', this.name, `${this.name} has one port, already made`);
    this.port = new Port(this, 'uplink');
    return this.port;
  }

  /** The real address and port the socket is bound to (after `open`). */
  get address(): UdpPeerAddress {
    if (this.sock === null) throw new InputError('UNDERLAY_NOT_OPEN', this.name, `${this.name} is not open`);
    const a = this.sock.address();
    return { address: a.address, port: a.port };
  }

  /** Bind the socket; resolves to its real address (port 0 becomes the port the kernel chose). */
  open(): Promise<UdpPeerAddress> {
    if (this.sock !== null) return Promise.resolve(this.address);
    const s = createSocket({ type: 'udp4', ...(this.recvBufferBytes > 0 ? { recvBufferSize: this.recvBufferBytes } : {}) });
    this.sock = s;
    return new Promise((resolve, reject) => {
      const failed = (e: Error): void => { this.sock = null; s.close(); reject(new InputError('UNDERLAY_BIND', 'bind', `bind ${this.bindTo.address}:${this.bindTo.port}: ${e.message}`)); };
      s.once('error', failed);
      s.bind(this.bindTo.port, this.bindTo.address, () => {
        s.off('error', failed);
        s.on('error', (e) => { this.stats.socketErrors++; this.lastError = e; });
        s.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo));
        resolve(this.address);
      });
    });
  }

  /** Close the socket (idempotent). */
  close(): Promise<void> {
    const s = this.sock;
    this.sock = null;
    if (s === null) return Promise.resolve();
    return new Promise((resolve) => s.close(() => resolve()));
  }

  /** Map emulated underlay address 'underlayIp' to the real 'to' (replacing an earlier mapping). */
  addPeer(underlayIp: string, to: UdpPeerAddress, field = 'peer'): void {
    const ip = ipOf(underlayIp, field);
    if (!isIPv4(to?.address ?? '')) throw new InputError('UNDERLAY_BAD_ADDRESS', `${field}.address`, `'${to?.address}' is not an IPv4 address`);
    const p: Peer = { underlayIp: ip, address: to.address, port: portOf(to.port, `${field}.port`, 1) };
    this.removePeer(underlayIp);
    this.byIp.set(ip, p);
    this.byAddrPort.set(`${p.address}:${p.port}`, p);
    this.byAddr.set(p.address, [...(this.byAddr.get(p.address) ?? []), p]);
  }

  /** Forget the peer at 'underlayIp'; false when there was none. */
  removePeer(underlayIp: string): boolean {
    const p = this.byIp.get(ipOf(underlayIp, 'peer'));
    if (p === undefined) return false;
    this.byIp.delete(p.underlayIp);
    this.byAddrPort.delete(`${p.address}:${p.port}`);
    const rest = (this.byAddr.get(p.address) ?? []).filter((q) => q !== p);
    if (rest.length === 0) this.byAddr.delete(p.address); else this.byAddr.set(p.address, rest);
    return true;
  }

  /** The peers, as `underlayIp → address:port` text. */
  peers(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const p of this.byIp.values()) out[ipv4ToString(p.underlayIp)] = `${p.address}:${p.port}`;
    return out;
  }

  // ---------------------------------------------------------------------------------------------
  // Out of the emulated network: frames from the host

  receive(port: Port, f: Uint8Array): void {
    if (f.length < ETH_HLEN) { this.drop('bad_frame', 'a runt frame'); return; }
    const type = be16(f, 12);
    if (type === ETH_P_ARP) { this.arp(port, f); return; }
    if (type !== ETH_P_IP) { this.drop('not_tunnel', `EtherType 0x${type.toString(16)} is not tunnelled`); return; }
    if (f.length < ETH_HLEN + IPV4_HLEN || f[ETH_HLEN]! >> 4 !== 4) { this.drop('bad_frame', 'not an IPv4 header'); return; }
    const ihl = (f[ETH_HLEN]! & 15) * 4, total = be16(f, ETH_HLEN + 2);
    if (ihl < IPV4_HLEN || total < ihl || ETH_HLEN + total > f.length) { this.drop('bad_frame', 'IPv4 header or total length out of bounds'); return; }
    const dst = readIp(f, ETH_HLEN + 16);
    const peer = this.byIp.get(dst);
    if (peer === undefined) { this.drop('no_peer', `no peer at ${ipv4ToString(dst)}`); return; }
    if ((be16(f, ETH_HLEN + 6) & 0x3fff) !== 0) { this.drop('fragment', 'an outer IPv4 fragment cannot be sent as a datagram'); return; }
    const l4 = ETH_HLEN + ihl;
    if (f[ETH_HLEN + 9] !== IPPROTO_UDP || total < ihl + UDP_HLEN || be16(f, l4 + 2) !== this.tunnelPort) {
      this.drop('not_tunnel', `not UDP to port ${this.tunnelPort}`);
      return;
    }
    const ulen = be16(f, l4 + 4);
    if (ulen < UDP_HLEN || ulen > total - ihl) { this.drop('bad_frame', 'UDP length out of bounds'); return; }
    const s = this.sock;
    if (s === null) { this.drop('closed', 'the socket is not open'); return; }
    // the datagram outlives this call: copy it out of the link's slab
    const payload = Buffer.from(f.subarray(l4 + UDP_HLEN, l4 + ulen));
    this.stats.txDatagrams++;
    this.stats.txBytes += payload.length;
    const tr = this.sim.tracer;
    if (tr.on) tr.emit(this.name, 'uplink', 'deliver', `${this.name}: ${payload.length} bytes to ${peer.address}:${peer.port} (${ipv4ToString(dst)})`);
    this.sim.ledger.deliver();
    const failed = (err: unknown): void => { if (err !== null && err !== undefined) { this.stats.sendErrors++; this.lastError = err; } };
    // a socket closing under us throws at once (ERR_SOCKET_DGRAM_NOT_RUNNING); other failures come back later
    try { s.send(payload, peer.port, peer.address, failed); } catch (e) { failed(e); }
  }

  /** ARP from the host: requests for a peer (or the gateway) are answered with this device's MAC. */
  private arp(port: Port, f: Uint8Array): void {
    // Ethernet/IPv4 ARP: htype 1, ptype 0x0800, hlen 6, plen 4
    if (f.length < ETH_HLEN + 28 || be16(f, 14) !== 1 || be16(f, 16) !== ETH_P_IP || f[18] !== 6 || f[19] !== 4) {
      this.drop('bad_frame', 'not an Ethernet/IPv4 ARP frame');
      return;
    }
    const op = be16(f, 20);
    if (op !== 1) { this.sim.ledger.deliver(); return; } // a reply or an announcement: taken, nothing to do
    const tpa = readIp(f, 38);
    if (!this.byIp.has(tpa) && tpa !== this.gateway) { this.drop('arp_unanswered', `who-has ${ipv4ToString(tpa)}: no peer there`); return; }
    const sha = f.slice(22, 28), spa = f.slice(28, 32), tpaBytes = f.slice(38, 42);
    this.sim.ledger.deliver();
    const reply = new FrameBuilder().eth({ dst: sha, src: this.mac, type: ETH_P_ARP })
      .arp({ op: 2, sha: this.mac, spa: tpaBytes, tha: sha, tpa: spa }).build();
    this.stats.arpReplies++;
    this.sim.tracer.aside(() => port.send(reply));
  }

  // ---------------------------------------------------------------------------------------------
  // Into the emulated network: datagrams from the socket

  private onDatagram(msg: Buffer, from: RemoteInfo): void {
    try {
      this.clock?.catchUp();
      this.sim.tracer.aside(() => this.inject(msg, from));
    } catch (e) {
      this.stats.errors++;
      this.lastError = e;
    }
  }

  private inject(msg: Uint8Array, from: RemoteInfo): void {
    const peer = this.peerOf(from);
    if (peer === null) { this.drop('unknown_peer', `a datagram from ${from.address}:${from.port}, not a peer`); return; }
    const bad = this.headerFault(msg);
    if (bad !== '') { this.drop('bad_header', `from ${from.address}:${from.port}: ${bad}`); return; }
    const port = this.port;
    if (port === null || port.link === null) { this.drop('closed', `${this.name} is not linked`); return; }
    if (IPV4_HLEN + UDP_HLEN + msg.length > port.mtu) { this.drop('too_big', `${msg.length} bytes do not fit the uplink's MTU ${port.mtu}`); return; }
    const hostMac = this.host.mac(this.iface);
    if (hostMac === undefined) { this.drop('closed', `${this.host.name} has no interface ${this.iface}`); return; }
    this.ident = (this.ident + 1) & 0xffff;
    const frame = new FrameBuilder()
      .eth({ dst: hostMac, src: this.mac, type: ETH_P_IP })
      .ipv4({ src: peer.underlayIp, dst: this.localIp, ttl: 64, ident: this.ident, protocol: IPPROTO_UDP })
      .udp({ srcPort: from.port, dstPort: this.tunnelPort })
      .payload(msg)
      .build();
    this.stats.rxDatagrams++;
    this.stats.rxBytes += msg.length;
    port.send(frame);
  }

  /** The peer a datagram from 'from' belongs to: its exact address and port, else the only peer at that address. */
  private peerOf(from: RemoteInfo): Peer | null {
    const exact = this.byAddrPort.get(`${from.address}:${from.port}`);
    if (exact !== undefined) return exact;
    const at = this.byAddr.get(from.address);
    return at !== undefined && at.length === 1 ? at[0]! : null;
  }

  /** What is wrong with the tunnel header of 'd' ('' when nothing). */
  private headerFault(d: Uint8Array): string {
    if (this.proto === 'vxlan') {
      if (d.length < VXLAN_HEADER_LEN) return `${d.length} bytes, shorter than the VXLAN header`;
      if ((d[0]! & VXLAN_FLAG_I) === 0) return `VXLAN flags 0x${d[0]!.toString(16).padStart(2, '0')} without the I flag`;
      return '';
    }
    if (d.length < GENEVE_HEADER_LEN) return `${d.length} bytes, shorter than the Geneve header`;
    if (d[0]! >> 6 !== 0) return `Geneve version ${d[0]! >> 6}`;
    if (GENEVE_HEADER_LEN + (d[0]! & 0x3f) * 4 > d.length) return 'Geneve options beyond the datagram';
    return '';
  }

  private drop(reason: UdpUnderlayDropReason, text: string): void {
    this.stats.drops[reason]++;
    const r = LEDGER_REASON[reason];
    this.sim.ledger.drop(r);
    const tr = this.sim.tracer;
    if (tr.on) tr.drop(this.name, 'uplink', r, `${this.name}: ${text}`);
  }
}

function readIp(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function ipOf(text: string, field: string): number {
  const a = typeof text === 'string' ? parseIpv4(text) : null;
  if (a === null) throw new InputError('UNDERLAY_BAD_ADDRESS', field, `'${String(text)}' is not an IPv4 address`);
  return a;
}

function portOf(v: number, field: string, min: number): number {
  if (!(Number.isInteger(v) && v >= min && v <= 0xffff)) throw new InputError('UNDERLAY_BAD_PORT', field, `port ${String(v)} is not in ${min}..65535`);
  return v;
}
