/**
 * OVS tunnel vports through a host's IP stack (devices layer): what the
 * kernel datapath's `vxlan_sys_4789` / `genev_sys_6081` devices do for
 * ovs-vswitchd on a Neutron hypervisor (br-tun's `vxlan-…` ports).
 *
 * What: a `TunnelVport` is one datapath tunnel port of an `OvsBridge` on a
 * `Host` — one per tunnel type and UDP port, shared by every OpenFlow tunnel
 * port of that kind (ports.ts dpifPortName: `vxlan_sys_<dst_port>`), as the
 * kernel has one metadata-mode ("external") vxlan device per port.
 *
 * TX (the datapath outputs to the vport after `set(tunnel(...))`, xlate.ts
 * kernelTunnelOutput): the inner frame is encapsulated with the packet's
 * egress tunnel metadata (Pkt.outTun*) as vxlan_xmit_one / geneve_xmit do
 * with an ip_tunnel_info: outer IPv4 destination = tun_dst, source = tun_src
 * or else the host's source address for that route (sourceFor); TOS and TTL
 * as translation set them (OVS's defaults: TOS 0 with the inner ECN folded
 * in, TTL 64); DF from the `df` flag (OVS sets it unless df_default=false —
 * unlike the Linux VTEP's default); the UDP checksum only with the `csum`
 * flag (metadata mode: udp_sum follows TUNNEL_CSUM; zero by default); UDP
 * destination = tp_dst, source = udp_flow_src_port of the inner flow
 * (vtep.ts udpFlowSrcPort: the same hash and range as the Linux VTEP);
 * VXLAN: flags 0x08 and the VNI = tun_id's low 24 bits; Geneve: version 0,
 * no options, protocol 0x6558, the VNI. The datagram is the host's own
 * (`sendIp`): routed by its FIB, ARP-resolved, through OUTPUT/POSTROUTING,
 * fragmented when DF is clear, refused (EMSGSIZE) when DF is set and it is
 * too big.
 * RX: the vport owns the host's UDP socket on its port (any address). A
 * datagram too short for the header, a VXLAN header without the I flag, or
 * a Geneve header with another version or protocol, or an inner frame
 * shorter than Ethernet, is dropped here and counted (`stats.drops`); any
 * other goes to the bridge's datapath (Datapath.receiveTunnel) with tun_id =
 * VNI, tun_src = outer source, tun_dst = the address it was sent to,
 * tun_flags = key (+csum when the datagram had a checksum: udp_tun_rx_dst),
 * tun_tos/tun_ttl from the outer IPv4 header; the datapath's tnl_find picks
 * the OpenFlow port, and a packet no port takes (another remote, another
 * key where the key is fixed) is dropped and counted there
 * (`upcall_error`, DatapathStats.tnlPortNotFound), as ovs-vswitchd drops
 * it with "receive tunnel port not found".
 * Not modelled: Geneve options (tun_metadata), GRE, IPv6 underlays, the
 * path-MTU ICMP a bridged tunnel sends back for a too-big DF inner packet
 * (the outer packet is refused and counted instead), ECN decapsulation
 * (outer CE), the receive-side UDP checksum check.
 * Cost per packet: one allocation for the outer packet (TX) and the
 * socket's copy (RX); the host's IP path after that (slow path).
 * Neighbours: ovs-bridge.ts (owns the vports), datapath/datapath.ts
 * (receiveTunnel, PortSink with the packet), vtep.ts (source port, outer
 * header), netstack/ (sockets, sendIp).
 */
import type { Host } from '../netstack/host.js';
import type { TraceDropReason } from '../sim/tracer.js';
import type { UdpSocket } from '../netstack/sockets.js';
import { TunnelMeta, type Datapath, type DropReason } from '../datapath/datapath.js';
import type { Ledger } from '../sim/ledger.js';
import type { Pkt } from '../datapath/execute.js';
import { be16, be32, ipv4ToString } from '../wire/bytes.js';
import { dpifPortName } from '../ofproto/ports.js';
import { VXLAN_FLAG_I, VXLAN_HEADER_LEN } from '../wire/vxlan.js';
import { ETH_TYPE_TEB, GENEVE_HEADER_LEN } from '../wire/geneve.js';
import { TNL_F_CSUM, TNL_F_DONT_FRAGMENT, TNL_F_KEY } from '../flow/key.js';
import { encapUdpTunnel, hostHashBasis, udpFlowSrcPort } from './vtep.js';

export type TunnelVportType = 'vxlan' | 'geneve';

/** Why a vport dropped a packet. */
export interface TunnelVportDrops {
  /** RX: shorter than the tunnel header plus an Ethernet header */
  too_short: number;
  /** RX: VXLAN without the I flag, Geneve of another version or payload protocol */
  invalid_hdr: number;
  /** TX: output without tunnel metadata or without a destination */
  no_tunnel_info: number;
  /** TX: the host has no route to tun_dst */
  no_route: number;
  /** TX: the host refused the datagram (EMSGSIZE with DF, netfilter) */
  send_failed: number;
}

/** The datapath's drop reasons as the packet ledger's and the trace's (sim/tracer.ts). */
const LEDGER_REASON: Record<DropReason, TraceDropReason> = {
  of_pipeline: 'flow-drop', rx_invalid_packet: 'bad-header', tunnel_pop_error: 'bad-header', tunnel_push_error: 'no-tunnel-port',
  recirc_error: 'flow-drop', recursion_too_deep: 'flow-drop', invalid_port: 'unconnected', upcall_error: 'flow-drop',
};

/**
 * After a datapath pass, the packet ledger (sim/ledger.ts): a packet still in hand left by no
 * port — the controller took it, or it was dropped for its reason (an output that failed below
 * counted its own drop).
 */
export function settlePass(L: Ledger, dp: Datapath): void {
  const fate = dp.lastFate;
  // (left by a port yet still in hand: that port's owner lost it — the ledger reports the leak)
  if (L.hand === 0 || fate === 'output') return;
  if (fate === 'controller') L.deliver();
  else L.drop(LEDGER_REASON[fate]);
}

export class TunnelVportStats {
  rxPackets = 0;
  txPackets = 0;
  readonly drops: TunnelVportDrops = { too_short: 0, invalid_hdr: 0, no_tunnel_info: 0, no_route: 0, send_failed: 0 };
}

export class TunnelVport {
  readonly stats = new TunnelVportStats();
  private readonly sock: UdpSocket;
  private readonly meta = new TunnelMeta();
  private readonly hashBasis: number;

  /**
   * The vport of 'type' on UDP port 'dstPort' of 'host', datapath port
   * 'odp' of 'dp'; 'nowMs' is the datapath clock. Binds the host's UDP port
   * (throws the host's SocketError EADDRINUSE when something holds it).
   */
  constructor(
    readonly host: Host,
    readonly type: TunnelVportType,
    readonly dstPort: number,
    readonly odp: number,
    private readonly dp: Datapath,
    private readonly nowMs: () => number,
  ) {
    this.sock = host.sockets.udp(dstPort);
    this.sock.encap = true;
    this.sock.onMessage = (data, from, to, frame) => this.rx(data, from.addr, from.port, to, frame);
    this.hashBasis = hostHashBasis(host);
  }

  /** The kernel's name for this vport (`vxlan_sys_4789`, `genev_sys_6081`), as dpif/show prints it. */
  get name(): string { return dpifPortName({ name: '', ofport: 0, type: this.type, options: { dst_port: String(this.dstPort) }, line: 0 }) ?? ''; }

  /** Release the UDP port. */
  close(): void { this.sock.close(); }

  // ---- RX -------------------------------------------------------------------------------------------

  private rx(data: Uint8Array, src: number, sport: number, to: number, frame: Uint8Array): void {
    let inner: number;
    if (this.type === 'vxlan') {
      if (data.length < VXLAN_HEADER_LEN + 14) { this.dropped('too_short', 'bad-header'); return; }
      if ((data[0]! & VXLAN_FLAG_I) === 0) { this.dropped('invalid_hdr', 'bad-header'); return; }
      inner = VXLAN_HEADER_LEN;
    } else {
      if (data.length < GENEVE_HEADER_LEN) { this.dropped('too_short', 'bad-header'); return; }
      if ((data[0]! >>> 6) !== 0 || be16(data, 2) !== ETH_TYPE_TEB) { this.dropped('invalid_hdr', 'bad-header'); return; }
      inner = GENEVE_HEADER_LEN + (data[0]! & 0x3f) * 4;
      if (data.length < inner + 14) { this.dropped('too_short', 'bad-header'); return; }
    }
    const m = this.meta;
    const l4 = 14 + (frame[14]! & 15) * 4;
    m.idHi = 0;
    m.idLo = be32(data, 4) >>> 8;
    m.src = src;
    m.dst = to;
    m.flags = TNL_F_KEY | (be16(frame, l4 + 6) !== 0 ? TNL_F_CSUM : 0);
    m.tos = frame[15]!;
    m.ttl = frame[22]!;
    m.tpSrc = sport;
    m.tpDst = this.dstPort;
    this.stats.rxPackets++;
    const tr = this.host.sim.tracer;
    if (tr.on) {
      tr.emit(this.host.name, this.name, 'decap', `${this.type === 'vxlan' ? 'VXLAN' : 'Geneve'} VNI ${m.idLo} from ${ipv4ToString(src)}`,
        { fields: { vni: m.idLo, src: ipv4ToString(src), dst: ipv4ToString(to) }, frame: data.subarray(inner) });
    }
    this.dp.receiveTunnel(this.odp, data, m, this.nowMs(), inner, data.length);
    settlePass(this.host.sim.ledger, this.dp);
  }

  // ---- TX -------------------------------------------------------------------------------------------

  /** The datapath's sink for this vport: encapsulate [start, end) of 'buf' with 'pkt''s egress tunnel. */
  output(buf: Uint8Array, start: number, end: number, pkt: Pkt): void {
    const d = this.stats.drops;
    const dst = pkt.outTunDst;
    if (pkt.outTunSet === 0 || dst === 0) { this.dropped('no_tunnel_info', 'no-tunnel-port'); return; }
    const host = this.host;
    if (!host.ip.isLocal(dst) && host.ip.route(dst) === null) { this.dropped('no_route', 'no-route'); return; }
    const inner = buf.slice(start, end);
    const vni = (pkt.outTunIdLo & 0xffffff) << 8;
    const w0 = this.type === 'vxlan' ? VXLAN_FLAG_I << 24 : ETH_TYPE_TEB;
    const out = encapUdpTunnel(inner, {
      src: pkt.outTunSrc !== 0 ? pkt.outTunSrc : host.ip.sourceFor(dst),
      dst,
      tos: pkt.outTunTos,
      ttl: pkt.outTunTtl !== 0 ? pkt.outTunTtl : 64,
      df: (pkt.outTunFlags & TNL_F_DONT_FRAGMENT) !== 0,
      sport: udpFlowSrcPort(inner, this.hashBasis),
      dport: pkt.outTunTpDst !== 0 ? pkt.outTunTpDst : this.dstPort,
      csum: (pkt.outTunFlags & TNL_F_CSUM) !== 0,
    }, w0, vni >>> 0);
    const tr = host.sim.tracer;
    if (tr.on) {
      tr.emit(host.name, this.name, 'encap', `${this.type === 'vxlan' ? 'VXLAN' : 'Geneve'} VNI ${vni >>> 8} ${ipv4ToString(be32(out, 26))} > ${ipv4ToString(dst)}:${be16(out, 36)}`,
        { fields: { vni: vni >>> 8, src: ipv4ToString(be32(out, 26)), dst: ipv4ToString(dst), sport: be16(out, 34), dport: be16(out, 36) }, frame: out });
    }
    // a refusal is the host's stack's to count in the packet ledger (sendIp)
    if (host.sendIp(out) === 'sent') this.stats.txPackets++;
    else d.send_failed++;
  }

  /** The packet in hand is dropped for 'reason': counted here and in the packet ledger as 'why'. */
  private dropped(reason: keyof TunnelVportDrops, why: TraceDropReason): void {
    this.stats.drops[reason]++;
    this.host.sim.ledger.drop(why);
  }
}
