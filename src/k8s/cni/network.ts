/**
 * The cluster data plane (k8s layer, CNI): nodes with an Antrea-style OVS
 * bridge and a tunnel to every other node, pods on veths into it, kube-proxy
 * payloads loaded into each node's netfilter, NetworkPolicy in the flows.
 *
 * What: `new ClusterNetwork(topology, opts)` puts an underlay L2 segment (a
 * Linux bridge named 'underlay') into the topology. Then:
 *  - `addNode({ name, ip, podCIDR })`: a host `name` with eth0 = the node IP
 *    on the underlay (and a default route via `opts.defaultGateway` when
 *    given: what the node's own packets to a ClusterIP need to be routed
 *    before kube-proxy's OUTPUT DNAT), ip_forward on, Antrea's node iptables (ANTREA-FORWARD
 *    accepts to/from the gateway; ANTREA-POSTROUTING masquerades pod traffic
 *    that leaves by another interface); an OVS bridge `<name>/br-int` on that
 *    host with antrea-tun0 (OpenFlow port 1, type vxlan or geneve,
 *    remote_ip=flow, key=flow: VNI 0, as Antrea creates it) and antrea-gw0
 *    (port 2) linked to the host's antrea-gw0 interface (the podCIDR's .1);
 *    the pipeline's flows (pipeline.ts); for every other node, on both sides,
 *    the route `PEER_PODCIDR via PEER_GW dev antrea-gw0 onlink` and the
 *    peer's flows (ARP responder for its gateway, the tunnel route with
 *    tun_dst = its node IP) — what Antrea's node route controller installs
 *    when a Node appears;
 *  - `addPod({ namespace, name, node, labels, ip?, ports? })`: a host
 *    `<namespace>/<name>` with eth0 (the next free address of the node's
 *    podCIDR from .2 on, round robin as host-local IPAM, or 'ip') and a
 *    default route via the gateway, on a veth to a br-int port named as
 *    Antrea names it (`<pod name[:8]>-<6 hex>`); the pod's flows;
 *    `removePod` cuts the veth and takes the flows back;
 *  - `failNode(name)` cuts every link of the node (the underlay, the
 *    gateway, the pods' veths): a dead machine, `restoreNode(name)` the
 *    machine back (rebooted: its conntrack table empty); `removeNode(name)` also
 *    forgets it and its pods (returned) and removes its routes and flows
 *    from the others — the Node object deleted;
 *  - `applyIptablesShared(nodes, payload)`: one payload for many nodes
 *    (kube-proxy's shared sync): loaded on the first at once, on the others
 *    at the first read of their rules, taking the first node's new chains
 *    (netfilter's replayRestore) — the same result as applyIptables on each;
 *  - `applyIptables(node, payload)`: an iptables-restore payload applied to
 *    the node's netfilter as kube-proxy applies it (`--noflush`), then
 *    kube-proxy's jump rules from the built-in chains (KUBE-SERVICES from nat
 *    PREROUTING/OUTPUT, KUBE-POSTROUTING, the filter ones: kube-proxy/'s own
 *    list for the proxy mode) inserted first when their chain exists and
 *    nothing jumps to it yet — what kube-proxy's EnsureRule does before each
 *    sync; with `proxyMode: 'ipvs'` each node
 *    also has IPVS, ipsets, a kube-ipvs0 interface and the sysctls
 *    kube-proxy sets (vs/conntrack, vs/expire_nodest_conn,
 *    vs/expire_quiescent_template) on, and
 *    `applyIpvs(node, { ipset, addresses, ipvsadm, iptables })` loads what
 *    kube-proxy's ipvs mode programs (addresses are only added: a stale
 *    kube-ipvs0 address is not removed);
 *  - NetworkPolicy (policy.ts): `setNamespace(name, labels)`,
 *    `setPodLabels`, `applyNetworkPolicy`, `deleteNetworkPolicy`; each change
 *    recompiles tables 50/60/90/100 and reinstalls them on the nodes whose
 *    flows change (a cluster without policies skips the compile);
 *  - `batch(fn)`: the flows 'fn' adds are installed at its end, one
 *    add-flows per node, and policies compiled once (building a cluster);
 *  - `addExternalHost(name, ip)`: a machine on the underlay (a NodePort
 *    client); `dumpFlows`, `trace` (ofproto/trace on a node's br-int),
 *    `iptablesSave`; `explainFlow(line)` — a rule of a trace record in
 *    words: its table's name, and for a policy flow the NetworkPolicy and
 *    rule that allow, or the isolation that denies (policy.ts cookies).
 * How a Service packet goes (kube-proxy iptables mode): the pod's packet to
 * the ClusterIP is sent to the gateway MAC (its default route); the DNAT
 * table outputs it to antrea-gw0 (committed in zone 65520); the host's
 * KUBE-SERVICES DNATs it, routes it onlink via the peer's gateway (the ARP
 * responder answers with the Global Virtual MAC), and it comes back into
 * br-int from the gateway: committed with ct_mark 0x20, tunnelled. The reply
 * comes out of the tunnel as +rpl of that connection: L3Forwarding sends it
 * to antrea-gw0, the host's conntrack un-DNATs it (source = ClusterIP), and
 * it goes to the pod. NodePort: the same from the underlay, with kube-proxy's
 * MASQUERADE (source = the gateway IP, the egress interface's address).
 * Errors: `CniError` (an InputError: code and field path) for a duplicate
 * or unknown node or pod, a bad or overlapping CIDR, an address outside the
 * underlay or the podCIDR or already taken, a full podCIDR, a pod on a
 * failed node, a malformed NetworkPolicy (CNI_BAD_POLICY); a bad kube-proxy
 * payload is the netfilter's IptablesRestoreError (its line).
 * Lazy peers (option `lazyPeers`, for clusters of thousands of nodes):
 * Antrea installs one route and two flows per peer on every node, 2·N·(N−1)
 * flows — 50 million at 5,000 nodes, far beyond memory at ~4 kB a flow.
 * With it, a node holds nothing of its peers (not even their names in
 * `peers`, 25 million strings at 5,000 nodes); every other node's route and
 * flows are installed, exactly as without it, the first time its br-int receives
 * a frame from one of its ports (a pod's or the gateway's: the hook
 * OvsBridge.beforeReceive, run before the datapath looks at the frame), or
 * when the node's host first routes traffic itself — a packet of its own,
 * an IPv4 packet from the underlay such as a NodePort's (the hook
 * Host.beforeTraffic; ARP and the tunnel's datagrams do not count) — or
 * when `dumpFlows` / `trace` / `materialize(node)` ask. A frame from the
 * tunnel needs none of them (it goes to a local pod or the gateway by the
 * node's own flows). `node.bridge` and `node.host` read directly show no
 * peer state before.
 * Cost: slow path. A node adds 2 flows and a route on each other node
 * (Antrea's O(nodes²) in all, unless lazyPeers). Memory, what is allocated
 * when: a node's host, bridge, datapath and flows at addNode (what its
 * bridge and datapath make only on first use — the EMC, packet buffers,
 * empty tables' classifiers, conntrack beyond a few entries — is said in
 * ofproto/bridge.ts and datapath/datapath.ts); a pod's veth, bridge port
 * and 5 flows at addPod, its host's interfaces and addresses too, but the
 * host's FIB and IPv4 path (netstack/host.ts lazyStack) when the pod first
 * sends or receives a packet (or something reads `pod.host.fib`/`.ip`).
 * A node's and a pod's flows are not parsed per node or pod: pipeline.ts's
 * nodeFlows and podFlows are parsed once each (a FlowTemplate,
 * ofproto/template.ts; the text again only if no template could be made)
 * and copied with the node's gateway IP and MAC, the pod's port, MAC and IP
 * written in — the flows without them (most of nodeFlows) and every pod
 * flow's match mask shared — then installed as specs
 * (OvsBridge.addFlowSpecs). Measured (bench/k8s.bench.ts, lazyPeers, CPU
 * time on the shared 2-core machine, 2026-11-22): at 500 nodes / 15,000
 * pods a node ~1.5 ms and ~0.18 MB (its bridge's flows and their
 * classifiers most of it, the host ~37 kB), a pod ~0.06 ms and ~10 kB (its
 * 5 flows ~0.7 kB each, its host, veth and port most of the rest, the host
 * ~2 kB of it until first used); at 5,000 / 150,000 the same memory, a
 * node ~1.1 ms and a pod ~0.13 ms (a pod's extra the garbage collector's
 * marking of a 1.5–3 GB heap). A flow ~10–20 µs to parse (peer
 * and policy flows still are). A policy change recompiles
 * O(policies × pods) flows.
 * Neighbours: pipeline.ts (flows), policy.ts (NetworkPolicy → flows),
 * topology/ (hosts, links, bridges), devices/ovs-bridge.ts, netfilter/
 * restore.ts (the payloads), k8s/api.ts and labels.ts.
 */
import type { Topology } from '../../topology/topology.js';
import type { Host } from '../../netstack/host.js';
import type { Link } from '../../sim/link.js';
import { macText } from '../../netstack/neigh.js';
import { LinuxBridge } from '../../devices/linux-bridge.js';
import type { OvsBridge } from '../../devices/ovs-bridge.js';
import { parseRestore, restoreShared } from '../../netfilter/restore.js';
import { deferReplay } from '../../netfilter/share.js';
import { Ipvs } from '../../netfilter/ipvs.js';
import { Ipsets } from '../../netfilter/ipset.js';
import { formatSave } from '../../netfilter/save.js';
import type { Rule, Ruleset } from '../../netfilter/model.js';
import { IPTABLES_JUMPS, IPVS_JUMPS } from '../kube-proxy/index.js';
import { ipv4ToString, parseIpv4 } from '../../wire/bytes.js';
import { CniError } from './errors.js';
import { inNet, parseCidr } from './cidr.js';
import type { ContainerPort, NetworkPolicy } from '../api.js';
import {
  egressIngressBase, flowKey, flowText, GATEWAY_OFPORT, nodeFlows, peerFlows, podFlows, tableName, TUNNEL_OFPORT, type Flow,
} from './pipeline.js';
import { compilePolicies, POLICY_TABLES, type PolicyPod } from './policy.js';
import { FlowTemplate, holeText, TemplateError, type HoleKind } from '../../ofproto/template.js';
import { parseFlowsFile } from '../../ofproto/ofctl.js';
import type { FlowSpec } from '../../ofproto/actions.js';

export { CniError };

export interface ClusterNetworkOptions {
  /** the node network, e.g. '192.168.0.0/24' (its prefix length is the nodes' eth0 prefix) */
  underlay?: string;
  /** the nodes' default route: via this underlay address (a router; default: none — nodes reach only the underlay and the pods) */
  defaultGateway?: string;
  /** the tunnel between nodes (Antrea's default is geneve; 'vxlan' here unless given) */
  tunnelType?: 'vxlan' | 'geneve';
  /** the Service CIDR kube-proxy serves (DNAT table), default 10.96.0.0/12 */
  serviceCIDR?: string;
  /** one-way delay of the underlay links (sim units: '50us', ns; default UNDERLAY_DELAY) */
  underlayDelay?: string | number;
  /** one-way delay of the pods' veths (default 5us) */
  vethDelay?: string | number;
  /**
   * kube-proxy's mode: 'iptables' (default) or 'ipvs' — then each node also has IPVS, ipsets,
   * net.ipv4.vs.conntrack=1 and a kube-ipvs0 interface for the Service addresses (applyIpvs)
   */
  proxyMode?: 'iptables' | 'ipvs';
  /**
   * install a node's peer routes and flows on first use (see "Lazy peers" in the module comment)
   * instead of when each peer appears; default false
   */
  lazyPeers?: boolean;
}

/** What kube-proxy's ipvs mode programs on a node (applyIpvs); each part optional. */
export interface IpvsSync {
  /** ipvsadm-restore text (virtual and real servers) */
  ipvsadm?: string;
  /** `ipset restore` text */
  ipset?: string;
  /** addresses kube-proxy binds to kube-ipvs0 (ClusterIPs, external IPs) */
  addresses?: string[];
  /** its iptables-restore payload (applied as applyIptables does) */
  iptables?: string;
}

export interface CniNodeSpec {
  name: string; ip: string; podCIDR: string;
  /** ipvs mode: the IPVS and ipset state the node's kube-proxy programs, shared (default: new, empty) */
  kernel?: { ipvs: Ipvs; ipsets: Ipsets };
}

export interface CniPodSpec {
  namespace?: string;
  name: string;
  node: string;
  labels?: Record<string, string>;
  /** a fixed address in the node's podCIDR (default: host-local's next free one) */
  ip?: string;
  /** the containers' ports (named ports of NetworkPolicies resolve against them) */
  ports?: ContainerPort[];
}

export class CniNode {
  /** peers whose flows and route this node holds */
  readonly peers = new Set<string>();
  readonly pods = new Set<CniPod>();
  readonly links: Link[] = [];
  /** the policy tables' flows as last installed (text; '' before the first install) */
  policyText = '';
  /** some policy has flows here (beyond the tables' fixed ones) */
  hasPolicyFlows = false;
  failed = false;
  /** its peers' routes and flows are installed (always, unless the network has lazyPeers) */
  materialized = true;
  /** the node's ipsets (kube-proxy's ipvs mode), else null */
  ipsets: Ipsets | null = null;
  /** host-local IPAM: the last address handed out, the addresses in use */
  lastIp: number;
  /** gwMAC as a number (the pod flow template's hole) */
  readonly gwMACValue: number;
  readonly used = new Set<number>();
  constructor(
    readonly name: string, readonly ip: string, readonly podCIDR: string,
    readonly net: number, readonly prefixLen: number,
    readonly gwIP: string, readonly gwMAC: string,
    readonly host: Host, readonly bridge: OvsBridge,
  ) {
    this.lastIp = net + 1;
    this.gwMACValue = Number.parseInt(gwMAC.split(':').join(''), 16);
  }
}

export class CniPod {
  labels: Record<string, string>;
  constructor(
    readonly namespace: string, readonly name: string, readonly node: CniNode,
    readonly ip: string, readonly mac: string, readonly ofport: number, readonly portName: string,
    readonly host: Host, readonly link: Link, labels: Record<string, string>, readonly ports: ContainerPort[],
  ) {
    this.labels = labels;
  }
  /** `namespace/name` */
  get key(): string { return `${this.namespace}/${this.name}`; }
}


/** Antrea's node iptables (route_linux.go, encap mode, without ipsets) for a node with 'podCIDR'. */
export function antreaNodeRules(podCIDR: string): string {
  return [
    '*filter',
    ':ANTREA-FORWARD - [0:0]',
    '-A FORWARD -m comment --comment "Antrea: jump to Antrea forwarding rules" -j ANTREA-FORWARD',
    '-A ANTREA-FORWARD -i antrea-gw0 -m comment --comment "Antrea: accept packets from local Pods" -j ACCEPT',
    '-A ANTREA-FORWARD -o antrea-gw0 -m comment --comment "Antrea: accept packets to local Pods" -j ACCEPT',
    'COMMIT',
    '*nat',
    ':ANTREA-POSTROUTING - [0:0]',
    '-A POSTROUTING -m comment --comment "Antrea: jump to Antrea postrouting rules" -j ANTREA-POSTROUTING',
    `-A ANTREA-POSTROUTING -s ${podCIDR} ! -o antrea-gw0 -m comment --comment "Antrea: masquerade Pod to external packets" -j MASQUERADE`,
    'COMMIT',
    '',
  ].join('\n');
}

/** The underlay links' one-way delay unless the options say otherwise (a sharded cluster's lookahead: shard/source.ts). */
export const UNDERLAY_DELAY = '50us';

/** the values pipeline.ts's pod and node flows are made of (their templates' holes) */
const POD_HOLES = { gwMAC: 'mac', ofport: 'port', mac: 'mac', ip: 'ipv4' } as const;
const NODE_HOLES = { gwIP: 'ipv4', gwMAC: 'mac' } as const;

/**
 * neigh.ts's macText without its subarray: a view of a small (on-heap) Uint8Array makes V8 move
 * the bytes to a backing store of their own, and at 150,000 pods the stores' allocation pays
 * seconds of the collector's marking.
 */
function macString(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < 6; i++) s += `${i === 0 ? '' : ':'}${b[i]! < 16 ? '0' : ''}${b[i]!.toString(16)}`;
  return s;
}

/** An Ethernet address's 6 bytes as a number (< 2^48). */
function macValue(b: Uint8Array): number {
  return ((b[0]! << 8) | b[1]!) * 2 ** 32 + (((b[2]! << 24) | (b[3]! << 16) | (b[4]! << 8) | b[5]!) >>> 0);
}

/** A 6-hex-digit FNV-1a hash of 's' (the suffix of a pod's interface name). */
function hash6(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0').slice(0, 6);
}

/** Is 'f' (an Ethernet frame a node received) IPv4 that its host routes: not ARP, not a datagram to the tunnel port? */
function routedByHost(f: Uint8Array, tunnelPort: number): boolean {
  if (f.length < 34 || f[12] !== 0x08 || f[13] !== 0x00) return false;
  const ihl = (f[14]! & 0x0f) * 4;
  return !(f[23] === 17 && f.length >= 14 + ihl + 4 && ((f[14 + ihl + 2]! << 8) | f[14 + ihl + 3]!) === tunnelPort);
}

export class ClusterNetwork {
  readonly underlay: LinuxBridge;
  readonly tunnelType: 'vxlan' | 'geneve';
  /** the tunnel's UDP port (the OVS default for its type) */
  private readonly tunnelPort: number;
  readonly serviceCIDR: string;
  private readonly underlayNet: { net: number; len: number };
  private readonly nodesByName = new Map<string, CniNode>();
  /**
   * What addNode checks a new node against without walking every node (a cluster of thousands):
   * the nodes by their IP text, their podCIDRs by prefix length then network, the order they
   * were added (an error names the first node that conflicts, as a walk in that order would)
   */
  private readonly nodesByIp = new Map<string, CniNode>();
  private readonly cidrsByLen = new Map<number, Map<number, CniNode>>();
  private readonly nodeOrder = new Map<CniNode, number>();
  private nodeSeq = 0;
  /** lazyPeers: the nodes whose peers are installed (what a new node must be connected to) */
  private readonly materializedNodes = new Set<CniNode>();
  /** called each time a node learns a peer (its route and tunnel flows installed): with lazy peers, only once it is materialized */
  onPeer: ((local: CniNode, peer: CniNode) => void) | null = null;
  private readonly podsByKey = new Map<string, CniPod>();
  private readonly namespaces = new Map<string, Record<string, string>>();
  private readonly policies = new Map<string, NetworkPolicy>();
  private readonly underlayDelay: string | number;
  private readonly vethDelay: string | number;
  private podSeq = 0;
  readonly proxyMode: 'iptables' | 'ipvs';
  readonly defaultGateway: string | null;
  readonly lazyPeers: boolean;
  /** batch() depth, and whether a policy sync waits for its end */
  private deferred = 0;
  private pendingSync = false;
  /** flows a batch holds back, by node (add-flows texts in order) */
  private readonly pendingFlows = new Map<CniNode, (string | FlowSpec[])[]>();
  /** the node and pod flow templates by kind and bridge protocols (null: none could be made; templated) */
  private readonly templates = new Map<string, FlowTemplate<string> | null>();
  /** nodes whose policy tables were never installed; how many nodes hold policy flows */
  private readonly unsynced = new Set<CniNode>();
  private policyFlowNodes = 0;
  /** policy flow cookies → why (policy.ts) */
  private readonly explanations = new Map<number, string>();

  constructor(readonly topology: Topology, opts: ClusterNetworkOptions = {}) {
    this.underlayNet = parseCidr(opts.underlay ?? '192.168.0.0/24', 'underlay');
    const t = opts.tunnelType ?? 'vxlan';
    if (t !== 'vxlan' && t !== 'geneve') throw new CniError('CNI_BAD_TUNNEL', 'tunnelType', `'${String(t)}' is not vxlan or geneve`);
    this.tunnelType = t;
    this.tunnelPort = t === 'vxlan' ? 4789 : 6081;
    const svc = parseCidr(opts.serviceCIDR ?? '10.96.0.0/12', 'serviceCIDR');
    this.serviceCIDR = `${ipv4ToString(svc.net)}/${svc.len}`;
    const gw = opts.defaultGateway === undefined ? null : parseIpv4(opts.defaultGateway);
    if (opts.defaultGateway !== undefined && (gw === null || !inNet(gw, this.underlayNet.net, this.underlayNet.len))) {
      throw new CniError('CNI_BAD_ADDRESS', 'defaultGateway', `'${opts.defaultGateway}' is not an address of the underlay`);
    }
    this.defaultGateway = opts.defaultGateway ?? null;
    const mode = opts.proxyMode ?? 'iptables';
    if (mode !== 'iptables' && mode !== 'ipvs') throw new CniError('CNI_BAD_PROXY_MODE', 'proxyMode', `'${String(mode)}' is not iptables or ipvs`);
    this.proxyMode = mode;
    this.underlayDelay = opts.underlayDelay ?? UNDERLAY_DELAY;
    this.vethDelay = opts.vethDelay ?? '5us';
    this.underlay = topology.add(new LinuxBridge(topology.sim, 'underlay'));
    this.lazyPeers = opts.lazyPeers ?? false;
  }

  // ---- nodes ------------------------------------------------------------------------------------

  /** A node (see the module comment). Throws CniError for a duplicate name, a bad IP or podCIDR. */
  addNode(spec: CniNodeSpec): CniNode {
    if (this.nodesByName.has(spec.name)) throw new CniError('CNI_DUPLICATE_NODE', 'name', `a node named '${spec.name}' already exists`);
    const ip = parseIpv4(spec.ip);
    if (ip === null || !inNet(ip, this.underlayNet.net, this.underlayNet.len)) {
      throw new CniError('CNI_BAD_ADDRESS', 'ip', `'${spec.ip}' is not an address of the underlay ${ipv4ToString(this.underlayNet.net)}/${this.underlayNet.len}`);
    }
    const cidr = parseCidr(spec.podCIDR, 'podCIDR');
    if (cidr.len > 30) throw new CniError('CNI_BAD_CIDR', 'podCIDR', `'${spec.podCIDR}' leaves no address for pods`);
    this.checkNewNode(spec, cidr);
    const gw = ipv4ToString(cidr.net + 1);
    const ipvs = this.proxyMode === 'ipvs';
    const ipsets = spec.kernel?.ipsets ?? new Ipsets({ seed: this.topology.sim.seed });
    const vs = ipvs ? spec.kernel?.ipvs ?? new Ipvs() : null;
    const host = this.topology.host(spec.name, {
      ifaces: [{ name: 'eth0', addrs: [`${spec.ip}/${this.underlayNet.len}`] }, { name: 'antrea-gw0', addrs: [`${gw}/${cidr.len}`] },
        ...(ipvs ? [{ name: 'kube-ipvs0' }] : [])],
      ipForward: true,
      ...(this.defaultGateway !== null ? { routes: [{ dst: 'default', via: this.defaultGateway, dev: 'eth0' }] } : {}),
      rules: antreaNodeRules(`${ipv4ToString(cidr.net)}/${cidr.len}`),
      ...(vs !== null ? { ipvs: vs, ipsets } : {}),
    });
    // kube-proxy's ipvs mode sets net.ipv4.vs.conntrack=1, expire_nodest_conn=1 and expire_quiescent_template=1
    if (ipvs) {
      host.config.vsConntrack = true;
      vs!.expireNodestConn = true;
      vs!.expireQuiescentTemplate = true;
    }
    const bridge = this.topology.ovsBridge(`${spec.name}/br-int`, { host, defaultFlows: 'none', protocols: 'OpenFlow13' });
    bridge.addTunnelPort({ name: 'antrea-tun0', type: this.tunnelType, remote: 'flow', key: 'flow', ofport: TUNNEL_OFPORT });
    const gwPort = bridge.addPort('antrea-gw0', { ofport: GATEWAY_OFPORT });
    const node = new CniNode(spec.name, spec.ip, `${ipv4ToString(cidr.net)}/${cidr.len}`, cidr.net, cidr.len, gw, macText(host.mac('antrea-gw0')!), host, bridge);
    if (ipvs) node.ipsets = ipsets;
    if (this.lazyPeers) {
      node.materialized = false;
      bridge.beforeReceive = () => this.materialize(node);
      // and when the node's own stack routes first: a packet of its own, an IPv4 one from the
      // underlay (a NodePort) — not ARP, not a tunnel's datagram (that goes to a local pod or the gateway)
      host.beforeTraffic = (f) => { if (f === null || routedByHost(f, this.tunnelPort)) this.materialize(node); };
    }
    node.links.push(this.topology.link([host, 'eth0'], this.underlay, { delay: this.underlayDelay, b: { iface: `${spec.name}-eth0` } }));
    node.links.push(this.topology.link([host, 'antrea-gw0'], gwPort));
    const serviceCIDR = this.serviceCIDR;
    this.installParsed(node, this.templated(node, 'node',
      (v) => nodeFlows({ gwIP: v.gwIP, gwMAC: v.gwMAC, serviceCIDR }).map(flowText).join('\n'),
      NODE_HOLES, { gwIP: cidr.net + 1, gwMAC: node.gwMACValue }));
    if (this.lazyPeers) {
      // the new node holds nothing of its peers yet; only the materialized ones learn it now
      for (const peer of this.materializedNodes) this.connect(peer, node);
    } else {
      for (const peer of this.nodesByName.values()) {
        this.connect(node, peer);
        this.connect(peer, node);
      }
    }
    this.nodesByName.set(spec.name, node);
    this.nodesByIp.set(spec.ip, node);
    let nets = this.cidrsByLen.get(cidr.len);
    if (nets === undefined) this.cidrsByLen.set(cidr.len, nets = new Map());
    nets.set(cidr.net, node);
    this.nodeOrder.set(node, this.nodeSeq++);
    this.unsynced.add(node);
    this.syncPolicies();
    return node;
  }

  /**
   * A new node's IP must be no other node's and its podCIDR overlap none (the shorter of two
   * prefixes contains the other): the first node in the order they were added that conflicts is
   * named. Throws CniError.
   */
  private checkNewNode(spec: CniNodeSpec, cidr: { net: number; len: number }): void {
    let first: CniNode | null = null, dupIp = false;
    const consider = (n: CniNode, isIp: boolean): void => {
      const o = this.nodeOrder.get(n)!, f = first === null ? Infinity : this.nodeOrder.get(first)!;
      // one node both ways: the walk checked its IP first
      if (o < f || (o === f && isIp)) { first = n; dupIp = isIp; }
    };
    const byIp = this.nodesByIp.get(spec.ip);
    if (byIp !== undefined) consider(byIp, true);
    for (const [len, nets] of this.cidrsByLen) {
      if (len <= cidr.len) {
        const n = nets.get(len === 0 ? 0 : (cidr.net & ((0xffffffff << (32 - len)) >>> 0)) >>> 0);
        if (n !== undefined) consider(n, false);
      } else {
        for (const [net, n] of nets) if (inNet(net, cidr.net, cidr.len)) consider(n, false);
      }
    }
    const n = first as CniNode | null;
    if (n === null) return;
    if (dupIp) throw new CniError('CNI_DUPLICATE_ADDRESS', 'ip', `${spec.ip} is node ${n.name}'s address`);
    throw new CniError('CNI_OVERLAPPING_CIDR', 'podCIDR', `${spec.podCIDR} overlaps node ${n.name}'s ${n.podCIDR}`);
  }

  /** 'local' learns 'peer': the onlink route to its podCIDR and its flows (with lazy peers, nothing until 'local' is materialized). */
  private connect(local: CniNode, peer: CniNode): void {
    if (!local.materialized) return;
    local.host.fib.ipRoute(['replace', peer.podCIDR, 'via', peer.gwIP, 'dev', 'antrea-gw0', 'onlink']);
    this.install(local, peerFlows(local.gwMAC, { nodeIP: peer.ip, podCIDR: peer.podCIDR, gwIP: peer.gwIP }));
    local.peers.add(peer.name);
    this.onPeer?.(local, peer);
  }

  /**
   * With lazyPeers: install the routes and flows of every other node (what connect() would
   * have installed, in the same order: the nodes in the order they were added), once; done by itself when its br-int first
   * receives a frame from a port, or it is inspected (dumpFlows, trace). Needed before
   * traffic the node's host routes first (NodePort from outside, the node's own connections).
   * Nothing to do without lazyPeers.
   */
  materialize(name: string | CniNode): void {
    const node = typeof name === 'string' ? this.node(name) : name;
    if (node.materialized) return;
    node.materialized = true;
    this.materializedNodes.add(node);
    node.bridge.beforeReceive = null;
    node.host.beforeTraffic = null;
    const flows: Flow[] = [];
    for (const peer of this.nodesByName.values()) {
      if (peer === node) continue;
      node.host.fib.ipRoute(['replace', peer.podCIDR, 'via', peer.gwIP, 'dev', 'antrea-gw0', 'onlink']);
      flows.push(...peerFlows(node.gwMAC, { nodeIP: peer.ip, podCIDR: peer.podCIDR, gwIP: peer.gwIP }));
      node.peers.add(peer.name);
      this.onPeer?.(node, peer);
    }
    if (flows.length > 0) this.install(node, flows);
  }

  /** 'local' forgets 'peer' (its Node object was deleted). */
  private disconnect(local: CniNode, peer: CniNode): void {
    if (!local.peers.delete(peer.name) || !local.materialized) return;
    local.host.fib.ipRoute(['del', peer.podCIDR]);
    this.delFlows(local, peerFlows(local.gwMAC, { nodeIP: peer.ip, podCIDR: peer.podCIDR, gwIP: peer.gwIP }));
  }

  /** Add 'flows' to the node's bridge, at once or (in a batch) at the batch's end, in order. */
  private install(node: CniNode, flows: Flow[]): void {
    this.installParsed(node, flows.map(flowText).join('\n'));
  }

  /** Add flows (add-flows text, or specs parsed for the bridge's protocols) at once or at the batch's end. */
  private installParsed(node: CniNode, flows: string | FlowSpec[]): void {
    if (this.deferred === 0) {
      if (typeof flows === 'string') node.bridge.addFlows(flows); else node.bridge.addFlowSpecs(flows);
      return;
    }
    const l = this.pendingFlows.get(node);
    if (l === undefined) this.pendingFlows.set(node, [flows]); else l.push(flows);
  }

  /** Install what a batch holds back for 'node' (every node when absent), one add-flows each (all or nothing). */
  private flush(node?: CniNode): void {
    for (const [n, items] of this.pendingFlows) {
      if (node !== undefined && n !== node) continue;
      this.pendingFlows.delete(n);
      const specs: FlowSpec[] = [];
      for (const x of items) {
        const parsed = typeof x === 'string' ? parseFlowsFile(x, { protocols: n.bridge.br.protocols }) : x;
        for (const f of parsed) specs.push(f);
      }
      n.bridge.addFlowSpecs(specs);
    }
  }

  /**
   * Flows as specs from a template (ofproto/template.ts: pipeline.ts's text parsed once per
   * kind and bridge protocols, the node's or pod's values written in); the text when no
   * template could be made (never for pipeline.ts's flows as they are).
   */
  private templated<K extends string>(
    node: CniNode, kind: 'node' | 'pod', gen: (v: Record<K, string>) => string, holes: Record<K, HoleKind>, values: Record<K, number>,
  ): string | FlowSpec[] {
    const protocols = node.bridge.br.protocols;
    const key = `${kind}|${protocols}`;
    let t = this.templates.get(key) as FlowTemplate<K> | null | undefined;
    if (t === undefined) {
      try {
        t = FlowTemplate.compile(gen, holes, { protocols });
      } catch (e) {
        if (!(e instanceof TemplateError)) throw e;
        t = null;
      }
      this.templates.set(key, t as FlowTemplate<string> | null);
    }
    if (t !== null) return t.instantiate(values);
    const text: Record<string, string> = {};
    for (const k of Object.keys(holes) as K[]) text[k] = holeText(holes[k], values[k]);
    return gen(text as Record<K, string>);
  }

  private delFlows(node: CniNode, flows: Flow[]): void {
    this.flush(node);
    for (const f of flows) node.bridge.delFlows(flowKey(f), { strict: true });
  }

  /** The node called 'name'. Throws CniError. */
  node(name: string): CniNode {
    const n = this.nodesByName.get(name);
    if (n === undefined) throw new CniError('CNI_NO_NODE', 'node', `no node named '${name}'`);
    return n;
  }

  /** The nodes, in the order they were added. */
  nodes(): CniNode[] { return [...this.nodesByName.values()]; }

  /** The node's machine dies: every link it has is cut (its pods become unreachable); it stays configured everywhere. */
  failNode(name: string): void {
    const n = this.node(name);
    n.failed = true;
    for (const l of n.links) l.cut();
    for (const p of n.pods) p.link.cut();
  }

  /**
   * The node's machine is back (rebooted): its links restored, its kernel's conntrack table
   * empty; its pods still here (not evicted meanwhile) are reachable again with their addresses.
   */
  restoreNode(name: string): void {
    const n = this.node(name);
    if (!n.failed) return;
    n.failed = false;
    for (const l of n.links) l.restore();
    for (const p of n.pods) p.link.restore();
    n.host.ip.ct.deleteWhere({});
  }

  /**
   * The Node object is deleted: the node fails (failNode), its pods are forgotten
   * (returned, for the control plane to reschedule), its routes and flows leave every other node.
   */
  removeNode(name: string): CniPod[] {
    const n = this.node(name);
    this.failNode(name);
    const pods = [...n.pods];
    for (const p of pods) this.forgetPod(p);
    for (const other of this.nodesByName.values()) if (other !== n) this.disconnect(other, n);
    this.nodesByName.delete(name);
    this.nodesByIp.delete(n.ip);
    this.cidrsByLen.get(n.prefixLen)?.delete(n.net);
    this.nodeOrder.delete(n);
    this.materializedNodes.delete(n);
    this.unsynced.delete(n);
    if (n.hasPolicyFlows) this.policyFlowNodes--;
    this.underlay.removePort(`${name}-eth0`);
    this.topology.nodes.delete(n.host.name);
    this.topology.nodes.delete(n.bridge.name);
    this.syncPolicies();
    return pods;
  }

  // ---- pods -------------------------------------------------------------------------------------

  /** A pod on 'spec.node' (see the module comment). Throws CniError. */
  addPod(spec: CniPodSpec): CniPod {
    const ns = spec.namespace ?? 'default';
    const key = `${ns}/${spec.name}`;
    if (this.podsByKey.has(key)) throw new CniError('CNI_DUPLICATE_POD', 'name', `pod ${key} already exists`);
    const node = this.node(spec.node);
    if (node.failed) throw new CniError('CNI_NODE_FAILED', 'node', `node ${node.name} is down`);
    const ip = spec.ip === undefined ? this.allocate(node) : this.reserve(node, spec.ip);
    let portName = '';
    for (let i = 0; portName === '' || node.bridge.ports.some((p) => p.name === portName); i++) {
      portName = `${spec.name.slice(0, 8)}-${hash6(`${key}/${this.podSeq}/${i}`)}`;
    }
    this.podSeq++;
    // the address (checked above) and the gateway (its subnet's .1) are valid: the FIB and IPv4
    // path can wait for the pod's first packet (netstack/host.ts lazyStack)
    const host = this.topology.host(key, {
      ifaces: [{ name: 'eth0', addrs: [`${ipv4ToString(ip)}/${node.prefixLen}`] }],
      routes: [{ dst: 'default', via: node.gwIP, dev: 'eth0' }],
      lazyStack: true,
    });
    const port = node.bridge.addPort(portName);
    const link = this.topology.link([host, 'eth0'], port, { delay: this.vethDelay });
    const macBytes = host.mac('eth0')!;
    const pod = new CniPod(ns, spec.name, node, ipv4ToString(ip), macString(macBytes), port.ofport, portName, host, link,
      { ...(spec.labels ?? {}) }, [...(spec.ports ?? [])]);
    this.installParsed(node, this.templated(node, 'pod',
      (v) => podFlows(v.gwMAC, { ofport: Number(v.ofport), mac: v.mac, ip: v.ip }).map(flowText).join('\n'),
      POD_HOLES, { gwMAC: node.gwMACValue, ofport: pod.ofport, mac: macValue(macBytes), ip }));
    node.pods.add(pod);
    this.podsByKey.set(key, pod);
    this.syncPolicies();
    return pod;
  }

  /** host-local IPAM: the next free address after the last one handed out, wrapping (.1 is the gateway). */
  private allocate(node: CniNode): number {
    const first = node.net + 2, last = node.net + 2 ** (32 - node.prefixLen) - 2;
    let a = node.lastIp;
    for (let i = first; i <= last; i++) {
      a = a + 1 > last ? first : a + 1;
      if (!node.used.has(a)) { node.used.add(a); node.lastIp = a; return a; }
    }
    throw new CniError('CNI_NO_ADDRESS', 'node', `node ${node.name}'s podCIDR ${node.podCIDR} has no free address`);
  }

  private reserve(node: CniNode, text: string): number {
    const a = parseIpv4(text);
    const bcast = node.net + 2 ** (32 - node.prefixLen) - 1;
    if (a === null || !inNet(a, node.net, node.prefixLen) || a <= node.net + 1 || a >= bcast) {
      throw new CniError('CNI_BAD_ADDRESS', 'ip', `'${text}' is not a pod address of ${node.name}'s ${node.podCIDR}`);
    }
    if (node.used.has(a)) throw new CniError('CNI_DUPLICATE_ADDRESS', 'ip', `${text} is in use on ${node.name}`);
    node.used.add(a);
    return a;
  }

  /** Whether a node called 'name' is on the data plane. */
  hasNode(name: string): boolean { return this.nodesByName.has(name); }

  /** The pod 'namespace/name', if it is on the data plane. */
  findPod(namespace: string, name: string): CniPod | undefined { return this.podsByKey.get(`${namespace}/${name}`); }

  /** The pod 'namespace/name'. Throws CniError. */
  pod(namespace: string, name: string): CniPod {
    const p = this.findPod(namespace, name);
    if (p === undefined) throw new CniError('CNI_NO_POD', 'name', `no pod ${namespace}/${name}`);
    return p;
  }

  /** Every pod, in the order they were added. */
  pods(): CniPod[] { return [...this.podsByKey.values()]; }

  /** The pod is deleted: its veth is cut, its flows and address go. Throws CniError when unknown. */
  removePod(namespace: string, name: string): void {
    const p = this.pod(namespace, name);
    this.forgetPod(p);
    this.syncPolicies();
  }

  private forgetPod(p: CniPod): void {
    p.link.cut();
    this.delFlows(p.node, podFlows(p.node.gwMAC, p));
    p.node.used.delete(parseIpv4(p.ip)!);
    p.node.pods.delete(p);
    this.podsByKey.delete(p.key);
    this.topology.nodes.delete(p.host.name);
  }

  /** A pod's labels changed (policies are recompiled). */
  setPodLabels(namespace: string, name: string, labels: Record<string, string>): void {
    this.pod(namespace, name).labels = { ...labels };
    this.syncPolicies();
  }

  // ---- outside the cluster ------------------------------------------------------------------------

  /** A machine on the underlay with address 'ip' (a NodePort client). */
  addExternalHost(name: string, ip: string): Host {
    const a = parseIpv4(ip);
    if (a === null || !inNet(a, this.underlayNet.net, this.underlayNet.len)) throw new CniError('CNI_BAD_ADDRESS', 'ip', `'${ip}' is not an address of the underlay`);
    const h = this.topology.host(name, { ip: `${ip}/${this.underlayNet.len}` });
    this.topology.link([h, 'eth0'], this.underlay, { delay: this.underlayDelay, b: { iface: `${name}-eth0` } });
    return h;
  }

  // ---- kube-proxy ---------------------------------------------------------------------------------

  /**
   * Apply an iptables-restore 'payload' to node 'nodeName' as kube-proxy does
   * (`iptables-restore --noflush`), then its jump rules (module comment).
   * Throws IptablesRestoreError (the line) and leaves the rules unchanged then.
   */
  applyIptables(nodeName: string, payload: string): void {
    const rs = this.node(nodeName).host.ip.ev.rs;
    parseRestore(payload, rs, { noflush: true });
    this.ensureJumps(rs);
  }

  /**
   * One payload for several nodes (kube-proxy's shared sync: KubeProxyFleet): applied as
   * applyIptables does on the first node at once (its errors thrown), and on each other node
   * at the first read of its rules (a packet, an iptables-save: netfilter/share.ts), where it
   * takes the first node's new chains as they are (`replayRestore`: shared objects, no parse)
   * when its rules were in the first node's state, and parses the text otherwise; syncs queued
   * on a node that has not read its rules since are caught up in one replay.
   */
  applyIptablesShared(nodeNames: readonly string[], payload: string): void {
    if (nodeNames.length === 0) return;
    const first = this.node(nodeNames[0]!).host.ip.ev.rs;
    const change = restoreShared(payload, first, { noflush: true });
    this.ensureJumps(first);
    const then = (rs: Ruleset): void => this.ensureJumps(rs);
    for (const name of nodeNames.slice(1)) deferReplay(this.node(name).host.ip.ev, change, payload, then);
  }

  /** kube-proxy's jump rules from the built-in chains, each inserted first when its chain exists and nothing jumps to it yet. */
  private ensureJumps(rs: Ruleset): void {
    // kube-proxy's own list for its mode (kube-proxy/): one place says what it ensures
    const jumps: Record<string, string[]> = {};
    for (const j of this.proxyMode === 'ipvs' ? IPVS_JUMPS : IPTABLES_JUMPS) {
      const t = rs.tables.get(j.table);
      if (t === undefined || !t.chains.has(j.to)) continue;
      const src = t.chains.get(j.from);
      const present = (r: Rule): boolean => r.target?.kind === 'jump' && r.target.chain === j.to
        && (j.comment === '' || r.matches.some((m) => m.kind === 'comment' && m.text === j.comment));
      if (src === undefined || src.rules.some(present)) continue;
      (jumps[j.table] ??= []).push(`-I ${j.from} 1 ${j.extra === '' ? '' : `${j.extra} `}${j.comment === '' ? '' : `-m comment --comment "${j.comment}" `}-j ${j.to}`);
    }
    const text = Object.entries(jumps).map(([t, lines]) => `*${t}\n${lines.join('\n')}\nCOMMIT\n`).join('');
    if (text !== '') parseRestore(text, rs, { noflush: true });
  }

  /**
   * kube-proxy's ipvs mode on node 'nodeName' (needs `proxyMode: 'ipvs'`): the ipsets, the
   * kube-ipvs0 addresses not yet bound, the virtual servers, then the iptables payload — the
   * order kube-proxy's syncProxyRules applies them. Throws CniError without ipvs mode, the
   * tools' own errors (IpsetError, IpvsError, IptablesRestoreError: the line) for bad text.
   */
  applyIpvs(nodeName: string, sync: IpvsSync): void {
    const n = this.node(nodeName);
    const ip = n.host.ip;
    if (ip.ipvs === null || n.ipsets === null) throw new CniError('CNI_NOT_IPVS', 'proxyMode', 'the cluster network was not built with proxyMode: ipvs');
    if (sync.ipset !== undefined) n.ipsets.restore(sync.ipset, { exist: true });
    const bound = new Set(n.host.iface('kube-ipvs0').addrs.map((a) => a.addr));
    (sync.addresses ?? []).forEach((a, i) => {
      const v = parseIpv4(a);
      if (v === null) throw new CniError('CNI_BAD_ADDRESS', `addresses[${i}]`, `'${a}' is not an IPv4 address`);
      if (!bound.has(v)) { n.host.addAddress('kube-ipvs0', `${a}/32`, `addresses[${i}]`); bound.add(v); }
    });
    if (sync.ipvsadm !== undefined) ip.ipvs.restore(sync.ipvsadm);
    if (sync.iptables !== undefined) this.applyIptables(nodeName, sync.iptables);
  }

  /** `iptables-save` of the node's rules (`-c` with 'opts.counters': this node's counters). */
  iptablesSave(nodeName: string, opts: { counters?: boolean } = {}): string {
    const ev = this.node(nodeName).host.ip.ev;
    return formatSave(ev.rs, opts.counters === true ? { counters: true, countersOf: (r) => ev.countersOf(r) } : {});
  }

  // ---- NetworkPolicy ------------------------------------------------------------------------------

  /** A namespace's labels (namespaceSelector reads them); policies are recompiled. */
  setNamespace(name: string, labels: Record<string, string> = {}): void {
    this.namespaces.set(name, { 'kubernetes.io/metadata.name': name, ...labels });
    this.syncPolicies();
  }

  /** Create or replace a NetworkPolicy (by namespace/name). Throws CniError for a malformed one (nothing changes then). */
  applyNetworkPolicy(np: NetworkPolicy): void {
    // compiled alone first: a malformed policy is refused before it is stored
    compilePolicies([np], this.policyPods(), (ns) => this.nsLabels(ns), []);
    this.policies.set(`${np.metadata.namespace ?? 'default'}/${np.metadata.name}`, np);
    this.syncPolicies();
  }

  /** Delete a NetworkPolicy; false when there was none. */
  deleteNetworkPolicy(namespace: string, name: string): boolean {
    const had = this.policies.delete(`${namespace}/${name}`);
    if (had) this.syncPolicies();
    return had;
  }

  /**
   * Run 'fn' (adding nodes, pods, policies …) with the flows it adds installed at its end, one
   * add-flows per node, and the policy tables recompiled once: what building a large cluster
   * wants (no packet should move inside it). Nests.
   */
  batch<T>(fn: () => T): T {
    this.deferred++;
    try {
      return fn();
    } finally {
      if (--this.deferred === 0) {
        this.flush();
        if (this.pendingSync) { this.pendingSync = false; this.syncPolicies(); }
      }
    }
  }

  private policyPods(): PolicyPod[] {
    return [...this.podsByKey.values()].map((p) => ({
      namespace: p.namespace, name: p.name, node: p.node.name, ip: p.ip, ofport: p.ofport, labels: p.labels, ports: p.ports,
    }));
  }

  private nsLabels(ns: string): Record<string, string> {
    return this.namespaces.get(ns) ?? { 'kubernetes.io/metadata.name': ns };
  }

  /**
   * Recompile the policy tables; reinstall them on every node whose flows changed. Without any
   * policy, only nodes that still hold policy flows (or none yet) are touched: adding pods to a
   * policy-free cluster costs nothing here.
   */
  private syncPolicies(): void {
    if (this.deferred > 0) { this.pendingSync = true; return; }
    if (this.policies.size === 0 && this.policyFlowNodes === 0) {
      for (const n of this.unsynced) this.installPolicyFlows(n, egressIngressBase(n));
      this.unsynced.clear();
      return;
    }
    const nodes = [...this.nodesByName.values()];
    this.explanations.clear();
    const byNode = compilePolicies([...this.policies.values()], this.policyPods(), (ns) => this.nsLabels(ns), nodes.map((n) => ({ name: n.name, gwIP: n.gwIP })), this.explanations);
    for (const n of nodes) this.installPolicyFlows(n, byNode.get(n.name) ?? []);
    this.unsynced.clear();
  }

  /** Reinstall the policy tables of 'n' with 'flows' when they differ from what it has. */
  private installPolicyFlows(n: CniNode, flows: Flow[]): void {
    const text = flows.map(flowText).join('\n');
    if (text === n.policyText) return;
    this.flush(n);
    // (a table with no flows has nothing to delete: a new node's first install parses no del-flows)
    for (const t of POLICY_TABLES) if (n.bridge.br.tables[t]!.size > 0) n.bridge.delFlows(`table=${t}`);
    n.bridge.addFlows(text);
    n.policyText = text;
    const has = flows.length > egressIngressBase(n).length;
    if (has !== n.hasPolicyFlows) this.policyFlowNodes += has ? 1 : -1;
    n.hasPolicyFlows = has;
  }

  // ---- inspection -----------------------------------------------------------------------------------

  /** `ovs-ofctl dump-flows br-int` on the node. */
  dumpFlows(nodeName: string, opts: { table?: number } = {}): string[] {
    this.materialize(nodeName);
    return this.node(nodeName).bridge.dumpFlows(opts);
  }

  /**
   * What a flow line does, for a trace: 'line' is a rule as a trace record's `rules` or
   * dump-flows prints it (`cookie=0x…, table=100, priority=200,…`). Returns the table's
   * name and number, and for the policy tables' flows the NetworkPolicy that installed it
   * ("IngressDefault (table 100): denied: pod default/server is isolated for ingress by
   * NetworkPolicy default/allow-dns and no ingress rule allows the packet"); null for a line
   * without a table this pipeline has.
   */
  explainFlow(line: string): string | null {
    const t = /(?:^|[\s,])table=(\d+)/.exec(line);
    const name = t === null ? null : tableName(Number(t[1]));
    if (name === null) return null;
    const c = /cookie=(0x[0-9a-f]+)/.exec(line);
    const why = c === null ? undefined : this.explanations.get(Number(c[1]));
    return `${name} (table ${t![1]})${why === undefined ? '' : `: ${why}`}`;
  }

  /** `ovs-appctl ofproto/trace br-int FLOW` on the node (in_port may name a port: antrea-gw0, a pod's). */
  trace(nodeName: string, flow: string): string {
    this.materialize(nodeName);
    return this.node(nodeName).bridge.trace(flow);
  }
}
