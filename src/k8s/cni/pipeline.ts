/**
 * The Antrea-style OVS pipeline of a node's br-int (k8s layer, CNI; slow
 * path): which flows each table holds, as `ovs-ofctl add-flows` text.
 *
 * What: pure functions from a node's facts (its gateway, its peers, its
 * pods) to `Flow` records, written as Antrea's agent programs them in encap
 * mode with AntreaProxy disabled — kube-proxy does Services in the node's
 * iptables, so the Service tables of newer Antrea (SessionAffinity,
 * ServiceLB, EndpointDNAT) are absent. The table numbers and names are those
 * of Antrea v1.2's docs/design/ovs-pipeline.md (the kube-proxy pipeline;
 * read, not copied). Registers as Antrea used them then:
 *   reg0[0..15]  where the packet came from: 0 tunnel, 1 gateway, 2 local pod
 *   reg0[16]     the destination MAC is known (L2ForwardingCalc resolved it)
 *   reg0[19]     rewrite MACs (set for packets from the tunnel)
 *   reg1         the output port L2ForwardingCalc (or DNAT) chose
 *   reg5 / reg6  the egress / ingress conjunction id that allowed a packet
 *   ct_mark 0x20 the connection was initiated through the gateway
 * Tables, in the order a packet meets them:
 *    0 Classifier        in_port → reg0 source (gateway 1, pod 2; tunnel 0
 *                        plus reg0[19], straight to Conntrack); else drop
 *   10 SpoofGuard        a pod's IP and ARP only with its own MAC and IP;
 *                        IP from the gateway as is (it carries kube-proxy's
 *                        DNATed packets with pod sources), ARP from the
 *                        gateway only with the gateway's MAC and IP
 *   20 ARPResponder      the host's ARP for a peer's gateway IP is answered
 *                        with the Global Virtual MAC aa:bb:cc:dd:ee:ff (the
 *                        onlink routes point there); other ARP: NORMAL
 *   30 Conntrack         ct(table=31,zone=65520)
 *   31 ConntrackState    +inv+trk dropped
 *   40 DNAT              to the Service CIDR: out of the gateway to
 *                        kube-proxy's DNAT (reg1 = gateway), skipping the
 *                        egress policy tables (they see the packet when it
 *                        comes back DNATed)
 *   50 EgressRule        NetworkPolicy egress allow rules (policy.ts):
 *                        established connections pass at 210, conjunctions
 *                        (source pod IP, destination, port) at 200/190
 *   60 EgressDefault     default deny of pods an egress policy selects
 *   70 L3Forwarding      replies of connections initiated through the
 *                        gateway (+rpl, ct_mark 0x20) back to the gateway
 *                        so the host un-DNATs them; tunnel packets to a
 *                        local pod (MACs rewritten) or to the gateway IP;
 *                        a peer's podCIDR: MACs to gateway → Global Virtual
 *                        MAC, reg1 = tunnel, tun_dst = the peer's node IP
 *   72 L3DecTTL          dec_ttl, except for packets from the gateway (the
 *                        host already decremented it)
 *   80 L2ForwardingCalc  the dmac table: Global Virtual MAC → tunnel,
 *                        gateway MAC → gateway, a pod MAC → its port (then
 *                        to the ingress tables); reg0[16] set
 *   90 IngressRule       NetworkPolicy ingress allow rules: established
 *                        pass, the gateway IP passes (the probe bypass of
 *                        the userspace datapath), conjunctions (source,
 *                        reg1 = the selected pod's port, port)
 *  100 IngressDefault    default deny (reg1 = an isolated pod's port)
 *  105 ConntrackCommit   commit new connections; from the gateway with
 *                        ct_mark 0x20, as Antrea writes it:
 *                        ct(commit,table=110,…) — the tun_dst the
 *                        L3Forwarding flow loaded survives the
 *                        recirculation in the frozen metadata
 *  110 L2ForwardingOut   output:reg1 when reg0[16] is set; else drop
 * Left out: AntreaPolicy tables (45, 85), the metrics tables (61, 101),
 * SNAT/Egress (71), the localhost-probe pkt_mark flow (sdnemu has no
 * pkt_mark: the netdev variant matching the gateway IP is used instead).
 * Cookies: 0, except the policy tables' conj_id and default-drop flows,
 * whose cookies name the NetworkPolicy (policy.ts; network.ts explainFlow).
 * Invariants: every flow's (table, priority, match) is unique per node, so a
 * flow can be deleted strictly by them; flows of one pod, one peer, one node
 * are produced by one function each, so adding and removing are symmetric.
 * Neighbours: network.ts (installs these on each node's OvsBridge),
 * policy.ts (tables 50, 60, 90, 100), ofproto/ofctl.ts (parses the text),
 * ofproto/template.ts (nodeFlows and podFlows parsed once: their values are
 * written into the flows verbatim, which the templates rely on).
 */
/** The pipeline's tables by Antrea's names. */
export const TABLES = {
  Classifier: 0, SpoofGuard: 10, ARPResponder: 20, Conntrack: 30, ConntrackState: 31, DNAT: 40,
  EgressRule: 50, EgressDefault: 60, L3Forwarding: 70, L3DecTTL: 72, L2ForwardingCalc: 80,
  IngressRule: 90, IngressDefault: 100, ConntrackCommit: 105, L2ForwardingOut: 110,
} as const;

export type TableName = keyof typeof TABLES;

const NAMES = new Map<number, TableName>(Object.entries(TABLES).map(([k, v]) => [v, k as TableName]));

/** The name of table 'n' ('L3Forwarding'), or null for a table the pipeline does not use. */
export function tableName(n: number): TableName | null { return NAMES.get(n) ?? null; }

/** Antrea's conntrack zone for IPv4. */
export const CT_ZONE = 65520;
/** The Global Virtual MAC: the destination MAC of every tunnelled packet. */
export const GLOBAL_VIRTUAL_MAC = 'aa:bb:cc:dd:ee:ff';
/** ct_mark of connections initiated through the gateway. */
export const GATEWAY_CT_MARK = 0x20;
/** OpenFlow ports Antrea requests for its tunnel and gateway. */
export const TUNNEL_OFPORT = 1;
export const GATEWAY_OFPORT = 2;

/** One flow: table, priority, match (ovs-ofctl text, may be empty), actions; a cookie names what installed it (policy.ts). */
export interface Flow { table: number; priority: number; match: string; actions: string; cookie?: number }

/** The add-flows line of 'f'. */
export function flowText(f: Flow): string {
  const cookie = f.cookie === undefined ? '' : `cookie=${hex(f.cookie)},`;
  return `${cookie}table=${f.table},priority=${f.priority},${f.match === '' ? '' : `${f.match},`}actions=${f.actions}`;
}

/** The strict del-flows match of 'f' (table, priority and match). */
export function flowKey(f: Flow): string {
  return `table=${f.table},priority=${f.priority}${f.match === '' ? '' : `,${f.match}`}`;
}

/** What the node-wide flows need to know about a node. */
export interface NodeFacts {
  gwIP: string;
  gwMAC: string;
  /** the Service CIDR kube-proxy serves (DNAT table) */
  serviceCIDR: string;
}

/** What a peer node's flows need. */
export interface PeerFacts { nodeIP: string; podCIDR: string; gwIP: string }

/** What a pod's flows need. */
export interface PodFacts { ofport: number; mac: string; ip: string }

const T = TABLES;
const goto = (t: number): string => `goto_table:${t}`;
const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;
const macHex = (mac: string): string => `0x${mac.split(':').join('')}`;
function ipHex(ip: string): string {
  const p = ip.split('.').map(Number);
  return hex(((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0);
}

/**
 * The flows every node has: table misses, the gateway's and tunnel's, conntrack, commit, output
 * (the policy tables' own come from egressIngressBase, installed with the policies).
 */
export function nodeFlows(n: NodeFacts): Flow[] {
  const gw = GATEWAY_OFPORT, tun = TUNNEL_OFPORT;
  const ct = `ct(commit,zone=${CT_ZONE}`;
  return [
    { table: T.Classifier, priority: 200, match: `in_port=${gw}`, actions: `load:0x1->NXM_NX_REG0[0..15],${goto(T.SpoofGuard)}` },
    { table: T.Classifier, priority: 200, match: `in_port=${tun}`, actions: `load:0->NXM_NX_REG0[0..15],load:0x1->NXM_NX_REG0[19],${goto(T.Conntrack)}` },
    { table: T.Classifier, priority: 0, match: '', actions: 'drop' },
    { table: T.SpoofGuard, priority: 200, match: `ip,in_port=${gw}`, actions: goto(T.Conntrack) },
    { table: T.SpoofGuard, priority: 200, match: `arp,in_port=${gw},arp_spa=${n.gwIP},arp_sha=${n.gwMAC}`, actions: goto(T.ARPResponder) },
    { table: T.SpoofGuard, priority: 0, match: '', actions: 'drop' },
    { table: T.ARPResponder, priority: 190, match: 'arp', actions: 'NORMAL' },
    { table: T.ARPResponder, priority: 0, match: '', actions: 'drop' },
    { table: T.Conntrack, priority: 200, match: 'ip', actions: `ct(table=${T.ConntrackState},zone=${CT_ZONE})` },
    { table: T.ConntrackState, priority: 190, match: 'ct_state=+inv+trk,ip', actions: 'drop' },
    { table: T.ConntrackState, priority: 0, match: '', actions: goto(T.DNAT) },
    { table: T.DNAT, priority: 200, match: `ip,nw_dst=${n.serviceCIDR}`,
      actions: `load:${hex(gw)}->NXM_NX_REG1[],load:0x1->NXM_NX_REG0[16],${goto(T.ConntrackCommit)}` },
    { table: T.DNAT, priority: 0, match: '', actions: goto(T.EgressRule) },
    { table: T.L3Forwarding, priority: 210, match: `ct_state=+rpl+trk,ct_mark=${hex(GATEWAY_CT_MARK)},ip`,
      actions: `mod_dl_dst:${n.gwMAC},${goto(T.L2ForwardingCalc)}` },
    { table: T.L3Forwarding, priority: 200, match: `ip,reg0=0x80000/0x80000,nw_dst=${n.gwIP}`,
      actions: `mod_dl_dst:${n.gwMAC},${goto(T.L2ForwardingCalc)}` },
    { table: T.L3Forwarding, priority: 0, match: '', actions: goto(T.L2ForwardingCalc) },
    { table: T.L3DecTTL, priority: 210, match: 'ip,reg0=0x1/0xffff', actions: goto(T.L2ForwardingCalc) },
    { table: T.L3DecTTL, priority: 200, match: 'ip', actions: `dec_ttl,${goto(T.L2ForwardingCalc)}` },
    { table: T.L3DecTTL, priority: 0, match: '', actions: goto(T.L2ForwardingCalc) },
    { table: T.L2ForwardingCalc, priority: 200, match: `dl_dst=${GLOBAL_VIRTUAL_MAC}`,
      actions: `load:${hex(tun)}->NXM_NX_REG1[],load:0x1->NXM_NX_REG0[16],${goto(T.ConntrackCommit)}` },
    { table: T.L2ForwardingCalc, priority: 200, match: `dl_dst=${n.gwMAC}`,
      actions: `load:${hex(gw)}->NXM_NX_REG1[],load:0x1->NXM_NX_REG0[16],${goto(T.ConntrackCommit)}` },
    { table: T.L2ForwardingCalc, priority: 0, match: '', actions: goto(T.ConntrackCommit) },
    { table: T.ConntrackCommit, priority: 200, match: 'ct_state=+new+trk,ip,reg0=0x1/0xffff',
      actions: `${ct},table=${T.L2ForwardingOut},exec(load:${hex(GATEWAY_CT_MARK)}->NXM_NX_CT_MARK[]))` },
    { table: T.ConntrackCommit, priority: 190, match: 'ct_state=+new+trk,ip', actions: `${ct},table=${T.L2ForwardingOut})` },
    { table: T.ConntrackCommit, priority: 0, match: '', actions: goto(T.L2ForwardingOut) },
    { table: T.L2ForwardingOut, priority: 200, match: 'ip,reg0=0x10000/0x10000', actions: 'output:NXM_NX_REG1[]' },
    { table: T.L2ForwardingOut, priority: 0, match: '', actions: 'drop' },
  ];
}

/**
 * The fixed flows of the four NetworkPolicy tables (established connections pass, the
 * gateway's probes pass, the table misses): what policy.ts's flows sit between.
 */
export function egressIngressBase(n: Pick<NodeFacts, 'gwIP'>): Flow[] {
  return [
    { table: T.EgressRule, priority: 210, match: 'ct_state=-new+est,ip', actions: goto(T.L3Forwarding) },
    { table: T.EgressRule, priority: 0, match: '', actions: goto(T.EgressDefault) },
    { table: T.EgressDefault, priority: 0, match: '', actions: goto(T.L3Forwarding) },
    { table: T.IngressRule, priority: 210, match: 'ct_state=-new+est,ip', actions: goto(T.ConntrackCommit) },
    { table: T.IngressRule, priority: 210, match: `ip,nw_src=${n.gwIP}`, actions: goto(T.ConntrackCommit) },
    { table: T.IngressRule, priority: 0, match: '', actions: goto(T.IngressDefault) },
    { table: T.IngressDefault, priority: 0, match: '', actions: goto(T.ConntrackCommit) },
  ];
}

/** A peer node's flows on a node whose gateway MAC is 'gwMAC': the ARP responder for its gateway, the tunnel route to its podCIDR. */
export function peerFlows(gwMAC: string, p: PeerFacts): Flow[] {
  return [
    { table: T.ARPResponder, priority: 200, match: `arp,arp_tpa=${p.gwIP},arp_op=1`,
      actions: 'move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],'
        + `mod_dl_src:${GLOBAL_VIRTUAL_MAC},load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],`
        + `load:${macHex(GLOBAL_VIRTUAL_MAC)}->NXM_NX_ARP_SHA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],`
        + `load:${ipHex(p.gwIP)}->NXM_OF_ARP_SPA[],IN_PORT` },
    { table: T.L3Forwarding, priority: 200, match: `ip,nw_dst=${p.podCIDR}`,
      actions: `mod_dl_src:${gwMAC},mod_dl_dst:${GLOBAL_VIRTUAL_MAC},load:${hex(TUNNEL_OFPORT)}->NXM_NX_REG1[],`
        + `load:0x1->NXM_NX_REG0[16],load:${ipHex(p.nodeIP)}->NXM_NX_TUN_IPV4_DST[],${goto(T.L3DecTTL)}` },
  ];
}

/** A local pod's flows on its node (gateway MAC 'gwMAC'): classifier, spoof guard, L3 from the tunnel, the dmac entry. */
export function podFlows(gwMAC: string, p: PodFacts): Flow[] {
  return [
    { table: T.Classifier, priority: 190, match: `in_port=${p.ofport}`, actions: `load:0x2->NXM_NX_REG0[0..15],${goto(T.SpoofGuard)}` },
    { table: T.SpoofGuard, priority: 200, match: `ip,in_port=${p.ofport},dl_src=${p.mac},nw_src=${p.ip}`, actions: goto(T.Conntrack) },
    { table: T.SpoofGuard, priority: 200, match: `arp,in_port=${p.ofport},arp_spa=${p.ip},arp_sha=${p.mac}`, actions: goto(T.ARPResponder) },
    { table: T.L3Forwarding, priority: 200, match: `ip,reg0=0x80000/0x80000,nw_dst=${p.ip}`,
      actions: `mod_dl_src:${gwMAC},mod_dl_dst:${p.mac},${goto(T.L3DecTTL)}` },
    { table: T.L2ForwardingCalc, priority: 200, match: `dl_dst=${p.mac}`,
      actions: `load:${hex(p.ofport)}->NXM_NX_REG1[],load:0x1->NXM_NX_REG0[16],${goto(T.IngressRule)}` },
  ];
}

