/**
 * kube-proxy's ipvs mode (k8s layer, slow path): the virtual servers, the
 * kube-ipvs0 addresses, the ipsets and the KUBE-* iptables rules kube-proxy's
 * ipvs proxier keeps, from the same Services, EndpointSlices and
 * configuration as the iptables mode.
 *
 * What: `IpvsProxier` owns an `Ipvs` (netfilter/ipvs.ts) and an `Ipsets`
 * (netfilter/ipset.ts) standing for the node's kernel state, and a
 * `ChangeTracker` (tracker.ts). Each `sync(nowMs)` does what
 * pkg/proxy/ipvs/proxier.go syncProxyRules does (read, not copied), every
 * time in full (ipvs mode has no partial sync):
 *  - per service port: a virtual server for the ClusterIP (its address bound
 *    to kube-ipvs0), each external IP and LB ingress IP (bound unless the
 *    node already has the address), and with a NodePort one per node
 *    address (never bound); scheduler `rr` by default, ClientIP affinity as
 *    persistence with its timeout, `mh` with the port flag; real servers are
 *    the Cluster-policy endpoints, or the local ones where the policy is
 *    Local (iTP for the ClusterIP, eTP for the rest — the cluster ones when
 *    there is no local endpoint, as kube-proxy does), masq forwarding,
 *    weight 1; removed real servers with TCP connections are quiesced
 *    (weight 0) and deleted at a later sync once idle (the graceful
 *    termination manager), the others deleted at once (with the
 *    expire_nodest_conn=1 and expire_quiescent_template=1 kube-proxy sets on
 *    the node's IPVS, so their connections go with them); virtual servers and
 *    kube-ipvs0 addresses no longer wanted are removed;
 *  - the ipsets KUBE-LOOP-BACK (local endpoints, hash:ip,port,ip),
 *    KUBE-CLUSTER-IP, KUBE-EXTERNAL-IP(-LOCAL), KUBE-LOAD-BALANCER(-LOCAL,
 *    -FW, -SOURCE-IP, -SOURCE-CIDR), KUBE-NODE-PORT(-LOCAL)-TCP/-UDP
 *    (bitmap:port), KUBE-NODE-PORT(-LOCAL)-SCTP-HASH, KUBE-HEALTH-CHECK-
 *    NODE-PORT, KUBE-IPVS-IPS, created `-exist` and brought to the wanted
 *    members with del/add lines (the `ipsets` text of the result);
 *  - the iptables-restore payload: `*nat` (KUBE-SERVICES, KUBE-POSTROUTING,
 *    KUBE-NODE-PORT, KUBE-LOAD-BALANCER, KUBE-MARK-MASQ) then `*filter`
 *    (KUBE-FORWARD, KUBE-NODE-PORT, KUBE-PROXY-FIREWALL,
 *    KUBE-SOURCE-RANGES-FIREWALL, KUBE-IPVS-FILTER, KUBE-IPVS-OUT-FILTER),
 *    with the `-m set` rules of writeIptablesRules for the non-empty sets.
 * Deliberate differences: sets, addresses and real servers are written in
 * sorted order (Go's set iteration is random; the resulting state is the
 * same); the node's addresses are given (`nodeAddresses`, loopback never a
 * NodePort address) instead of read from netlink; SCTP service ports get
 * their ipset entries and kube-ipvs0 addresses but no virtual server (the
 * IPVS model has TCP and UDP only); IPv6 is not handled.
 * The virtual servers themselves are `proxier.ipvs` (its `save()` is
 * `ipvsadm-save -n`, `list()` `ipvsadm -Ln`), the sets `proxier.ipsets`.
 * Neighbours: tracker.ts, iptables.ts (config and helpers shared),
 * netfilter/ipvs.ts and ipset.ts (the state), netfilter/stack.ts runs
 * packets through all three.
 */
import { Ipvs, SVC_F_SCHED_PORT, type SchedulerName, type VirtualService } from '../../netfilter/ipvs.js';
import { Ipsets, type IpsetType } from '../../netfilter/ipset.js';
import { parseCidr } from './ip.js';
import { KubeProxyError, TrackedProxier, categorize, cidrContains, ipv4Number, type EndpointInfo, type ServicePortInfo } from './tracker.js';
import { normaliseConfig, nodePortIPs, type JumpRule, type KubeProxyConfig, type ProxyBase } from './iptables.js';

export interface IpvsProxyConfig extends KubeProxyConfig {
  /** IPVS scheduler, default rr */
  scheduler?: SchedulerName;
  /** CIDRs whose virtual servers kube-proxy never deletes (--ipvs-exclude-cidrs) */
  excludeCIDRs?: string[];
}

export interface IpvsSyncResult {
  /** iptables-restore --noflush --counters input (nat, then filter) */
  iptables: string;
  /** the ipset commands of this sync as `ipset restore` text (creates with -exist, then del/add) */
  ipsets: string;
  /** the addresses on kube-ipvs0 after the sync, sorted */
  addresses: string[];
  /** restore text of the jump rules into the built-in chains (first sync only), else null */
  ensure: string | null;
}

interface SetInfo { name: string; type: IpsetType; comment: string }
const SETS: readonly SetInfo[] = [
  { name: 'KUBE-LOOP-BACK', type: 'hash:ip,port,ip', comment: 'Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose' },
  { name: 'KUBE-CLUSTER-IP', type: 'hash:ip,port', comment: 'Kubernetes service cluster ip + port for masquerade purpose' },
  { name: 'KUBE-EXTERNAL-IP', type: 'hash:ip,port', comment: 'Kubernetes service external ip + port for masquerade and filter purpose' },
  { name: 'KUBE-EXTERNAL-IP-LOCAL', type: 'hash:ip,port', comment: 'Kubernetes service external ip + port with externalTrafficPolicy=local' },
  { name: 'KUBE-LOAD-BALANCER', type: 'hash:ip,port', comment: 'Kubernetes service lb portal' },
  { name: 'KUBE-LOAD-BALANCER-FW', type: 'hash:ip,port', comment: 'Kubernetes service load balancer ip + port for load balancer with sourceRange' },
  { name: 'KUBE-LOAD-BALANCER-LOCAL', type: 'hash:ip,port', comment: 'Kubernetes service load balancer ip + port with externalTrafficPolicy=local' },
  { name: 'KUBE-LOAD-BALANCER-SOURCE-IP', type: 'hash:ip,port,ip', comment: 'Kubernetes service load balancer ip + port + source IP for packet filter purpose' },
  { name: 'KUBE-LOAD-BALANCER-SOURCE-CIDR', type: 'hash:ip,port,net', comment: 'Kubernetes service load balancer ip + port + source cidr for packet filter purpose' },
  { name: 'KUBE-NODE-PORT-TCP', type: 'bitmap:port', comment: 'Kubernetes nodeport TCP port for masquerade purpose' },
  { name: 'KUBE-NODE-PORT-LOCAL-TCP', type: 'bitmap:port', comment: 'Kubernetes nodeport TCP port with externalTrafficPolicy=local' },
  { name: 'KUBE-NODE-PORT-UDP', type: 'bitmap:port', comment: 'Kubernetes nodeport UDP port for masquerade purpose' },
  { name: 'KUBE-NODE-PORT-LOCAL-UDP', type: 'bitmap:port', comment: 'Kubernetes nodeport UDP port with externalTrafficPolicy=local' },
  { name: 'KUBE-NODE-PORT-SCTP-HASH', type: 'hash:ip,port', comment: "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'" },
  { name: 'KUBE-NODE-PORT-LOCAL-SCTP-HASH', type: 'hash:ip,port', comment: "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'" },
  { name: 'KUBE-HEALTH-CHECK-NODE-PORT', type: 'bitmap:port', comment: 'Kubernetes health check node port' },
  { name: 'KUBE-IPVS-IPS', type: 'hash:ip', comment: 'Addresses on the ipvs interface' },
];
const COMMENT = new Map(SETS.map((s) => [s.name, s.comment]));

/** ipsetWithIptablesChain: the set, table, from-chain, target, match flags, protocol. */
const SET_RULES: readonly { set: string; table: 'nat' | 'filter'; from: string; to: string; match: string; proto: string }[] = [
  { set: 'KUBE-LOOP-BACK', table: 'nat', from: 'KUBE-POSTROUTING', to: 'MASQUERADE', match: 'dst,dst,src', proto: '' },
  { set: 'KUBE-LOAD-BALANCER', table: 'nat', from: 'KUBE-SERVICES', to: 'KUBE-LOAD-BALANCER', match: 'dst,dst', proto: '' },
  { set: 'KUBE-LOAD-BALANCER-LOCAL', table: 'nat', from: 'KUBE-LOAD-BALANCER', to: 'RETURN', match: 'dst,dst', proto: '' },
  { set: 'KUBE-NODE-PORT-LOCAL-TCP', table: 'nat', from: 'KUBE-NODE-PORT', to: 'RETURN', match: 'dst', proto: 'tcp' },
  { set: 'KUBE-NODE-PORT-TCP', table: 'nat', from: 'KUBE-NODE-PORT', to: 'KUBE-MARK-MASQ', match: 'dst', proto: 'tcp' },
  { set: 'KUBE-NODE-PORT-LOCAL-UDP', table: 'nat', from: 'KUBE-NODE-PORT', to: 'RETURN', match: 'dst', proto: 'udp' },
  { set: 'KUBE-NODE-PORT-UDP', table: 'nat', from: 'KUBE-NODE-PORT', to: 'KUBE-MARK-MASQ', match: 'dst', proto: 'udp' },
  { set: 'KUBE-NODE-PORT-LOCAL-SCTP-HASH', table: 'nat', from: 'KUBE-NODE-PORT', to: 'RETURN', match: 'dst,dst', proto: 'sctp' },
  { set: 'KUBE-NODE-PORT-SCTP-HASH', table: 'nat', from: 'KUBE-NODE-PORT', to: 'KUBE-MARK-MASQ', match: 'dst,dst', proto: 'sctp' },
  { set: 'KUBE-LOAD-BALANCER-FW', table: 'filter', from: 'KUBE-PROXY-FIREWALL', to: 'KUBE-SOURCE-RANGES-FIREWALL', match: 'dst,dst', proto: '' },
  { set: 'KUBE-LOAD-BALANCER-SOURCE-CIDR', table: 'filter', from: 'KUBE-SOURCE-RANGES-FIREWALL', to: 'RETURN', match: 'dst,dst,src', proto: '' },
  { set: 'KUBE-LOAD-BALANCER-SOURCE-IP', table: 'filter', from: 'KUBE-SOURCE-RANGES-FIREWALL', to: 'RETURN', match: 'dst,dst,src', proto: '' },
];

const NAT_CHAINS = ['KUBE-SERVICES', 'KUBE-POSTROUTING', 'KUBE-NODE-PORT', 'KUBE-LOAD-BALANCER', 'KUBE-MARK-MASQ'];
const FILTER_CHAINS = ['KUBE-FORWARD', 'KUBE-NODE-PORT', 'KUBE-PROXY-FIREWALL', 'KUBE-SOURCE-RANGES-FIREWALL', 'KUBE-IPVS-FILTER', 'KUBE-IPVS-OUT-FILTER'];
/** The jump rules ipvs mode ensures in the built-in chains. */
export const IPVS_JUMPS: readonly JumpRule[] = [
  { table: 'nat', from: 'OUTPUT', to: 'KUBE-SERVICES', comment: 'kubernetes service portals', extra: '' },
  { table: 'nat', from: 'PREROUTING', to: 'KUBE-SERVICES', comment: 'kubernetes service portals', extra: '' },
  { table: 'nat', from: 'POSTROUTING', to: 'KUBE-POSTROUTING', comment: 'kubernetes postrouting rules', extra: '' },
  { table: 'filter', from: 'FORWARD', to: 'KUBE-FORWARD', comment: 'kubernetes forwarding rules', extra: '' },
  { table: 'filter', from: 'INPUT', to: 'KUBE-NODE-PORT', comment: 'kubernetes health check rules', extra: '' },
  { table: 'filter', from: 'INPUT', to: 'KUBE-PROXY-FIREWALL', comment: 'kube-proxy firewall rules', extra: '' },
  { table: 'filter', from: 'FORWARD', to: 'KUBE-PROXY-FIREWALL', comment: 'kube-proxy firewall rules', extra: '' },
  { table: 'filter', from: 'INPUT', to: 'KUBE-IPVS-FILTER', comment: 'kubernetes ipvs access filter', extra: '' },
  { table: 'filter', from: 'OUTPUT', to: 'KUBE-IPVS-OUT-FILTER', comment: 'kubernetes ipvs access filter', extra: '' },
];

const PROTO_NUM: Readonly<Record<string, number>> = { tcp: 6, udp: 17 };
const ipNum = (s: string): number => ipv4Number(s)!;
const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

interface WantedVs { proto: 'tcp' | 'udp'; addr: string; port: number; persistentS?: number; dests: EndpointInfo[] }

export class IpvsProxier extends TrackedProxier {
  readonly ipvs = new Ipvs();
  readonly ipsets = new Ipsets();
  private readonly cfg: ProxyBase;
  private readonly scheduler: SchedulerName;
  private readonly exclude: string[];
  /** kube-ipvs0's addresses */
  private readonly bound = new Set<string>();
  private ensured = false;
  private setsCreated = false;
  /** real servers quiesced for graceful deletion: `vs key|ip:port` */
  private readonly graceful = new Set<string>();

  constructor(config: IpvsProxyConfig) {
    super(config.hostname);
    if (config.ipFamily === 'IPv6') throw new KubeProxyError('KP_UNSUPPORTED', 'KubeProxyConfiguration', 'ipFamily', 'ipvs mode is modelled for IPv4 only');
    this.cfg = normaliseConfig(config);
    this.scheduler = config.scheduler ?? 'rr';
    if (config.nodeLabels !== undefined) this.setNodeLabels(config.nodeLabels);
    this.exclude = (config.excludeCIDRs ?? []).map((c, i) => {
      const cidr = parseCidr(c);
      if (cidr === null || cidr.family !== 'IPv4') throw new KubeProxyError('KP_BAD_CIDR', 'KubeProxyConfiguration', `excludeCIDRs[${i}]`, `'${c}' is not an IPv4 CIDR`);
      return cidr.text;
    });
    // NewProxier's sysctls on the node's kernel: net/ipv4/vs/expire_nodest_conn=1 and
    // expire_quiescent_template=1 (vs/conntrack=1 is the host's, set by the CNI: k8s/cni/network.ts)
    this.ipvs.expireNodestConn = true;
    this.ipvs.expireQuiescentTemplate = true;
  }

  /** The node addresses other than kube-ipvs0's (GetAllLocalAddressesExcept, loopback left out). */
  private nodeAddressSet(): Set<string> {
    return new Set(this.cfg.nodeAddresses.filter((a) => !a.startsWith('127.')));
  }

  /**
   * One syncProxyRules. 'nowMs' is accepted for symmetry with the iptables
   * proxier; nothing here depends on time (graceful deletions finish at the
   * first sync after their connections are gone).
   */
  sync(nowMs: number): IpvsSyncResult {
    void nowMs;
    const c = this.cfg;
    const { svcPorts, endpoints } = this.tracker.checkout();
    const active = new Map<string, Set<string>>(SETS.map((s) => [s.name, new Set<string>()]));
    const put = (set: string, entry: string): void => { active.get(set)!.add(entry); };
    const wanted = new Map<string, WantedVs>();
    const bind = new Set<string>();
    const nodeAddrs = this.nodeAddressSet();
    const noNodeAccess: { ip: string; proto: string; port: number }[] = [];
    let hasNodePort = false;
    for (const s of svcPorts.values()) if (s.nodePort !== 0) hasNodePort = true;
    let nodeIPs: string[] = [];
    if (hasNodePort) {
      nodeIPs = c.npa.matchAll ? [...nodeAddrs].sort((a, b) => ipNum(a) - ipNum(b)) : nodePortIPs(c).filter((a) => !a.startsWith('127.'));
    }

    const addVs = (s: ServicePortInfo, addr: string, port: number, onlyLocal: boolean, eps: readonly EndpointInfo[]): void => {
      if (s.protocol === 'sctp') return;
      const cat = categorize(eps, s, this.zone);
      const dests = onlyLocal ? (cat.local.length > 0 ? cat.local : cat.cluster) : cat.cluster;
      const vs: WantedVs = { proto: s.protocol, addr, port, dests };
      if (s.sessionAffinity) vs.persistentS = s.stickyMaxAgeSeconds;
      wanted.set(`${s.protocol}|${addr}|${port}`, vs);
    };

    for (const [key, s] of svcPorts) {
      const eps = endpoints.get(key) ?? [];
      const proto = s.protocol;
      for (const e of eps) if (e.isLocal) put('KUBE-LOOP-BACK', `${e.ip},${proto}:${e.port},${e.ip}`);
      put('KUBE-CLUSTER-IP', `${s.clusterIP},${proto}:${s.port}`);
      addVs(s, s.clusterIP, s.port, s.internalPolicyLocal, eps);
      bind.add(s.clusterIP);
      for (const ip of s.externalIPs) {
        put(s.externalPolicyLocal ? 'KUBE-EXTERNAL-IP-LOCAL' : 'KUBE-EXTERNAL-IP', `${ip},${proto}:${s.port}`);
        addVs(s, ip, s.port, s.externalPolicyLocal, eps);
        if (!nodeAddrs.has(ip)) bind.add(ip);
      }
      for (const ip of s.loadBalancerVIPs) {
        const entry = `${ip},${proto}:${s.port}`;
        put('KUBE-LOAD-BALANCER', entry);
        if (s.externalPolicyLocal) put('KUBE-LOAD-BALANCER-LOCAL', entry);
        if (s.loadBalancerSourceRanges.length > 0) {
          put('KUBE-LOAD-BALANCER-FW', entry);
          let allowFromNode = false;
          for (const r of s.loadBalancerSourceRanges) {
            put('KUBE-LOAD-BALANCER-SOURCE-CIDR', `${entry},${r}`);
            if (c.nodeIP !== null && cidrContains(r, c.nodeIP)) allowFromNode = true;
          }
          if (allowFromNode) put('KUBE-LOAD-BALANCER-SOURCE-IP', `${entry},${ip}`);
          else noNodeAccess.push({ ip, proto, port: s.port });
        }
        addVs(s, ip, s.port, s.externalPolicyLocal, eps);
        if (!nodeAddrs.has(ip)) bind.add(ip);
      }
      if (s.nodePort !== 0 && nodeIPs.length > 0) {
        const entries = proto === 'sctp' ? nodeIPs.map((ip) => `${ip},sctp:${s.nodePort}`) : [String(s.nodePort)];
        const suffix = proto === 'sctp' ? 'SCTP-HASH' : proto.toUpperCase();
        for (const e of entries) put(`KUBE-NODE-PORT-${suffix}`, e);
        if (s.externalPolicyLocal) for (const e of entries) put(`KUBE-NODE-PORT-LOCAL-${suffix}`, e);
        for (const ip of nodeIPs) addVs(s, ip, s.nodePort, s.externalPolicyLocal, eps);
      }
      if (s.healthCheckNodePort !== 0) put('KUBE-HEALTH-CHECK-NODE-PORT', String(s.healthCheckNodePort));
    }
    for (const a of bind) put('KUBE-IPVS-IPS', a);

    const ipsetText = this.syncSets(active);
    this.syncVirtualServers(wanted);
    // kube-ipvs0 ends up with exactly the addresses bound this sync (superfluous ones unbound)
    this.bound.clear();
    for (const a of bind) this.bound.add(a);

    let ensure: string | null = null;
    if (!this.ensured) {
      this.ensured = true;
      ensure = this.ensureText();
    }
    return {
      iptables: this.iptablesText(active, noNodeAccess), ipsets: ipsetText,
      addresses: [...this.bound].sort((a, b) => ipNum(a) - ipNum(b)), ensure,
    };
  }

  /** Bring the ipsets to 'active'; returns the commands as restore text. */
  private syncSets(active: Map<string, Set<string>>): string {
    const lines: string[] = [];
    if (!this.setsCreated) {
      for (const s of SETS) {
        lines.push(s.type === 'bitmap:port'
          ? `create ${s.name} bitmap:port range 0-65535`
          : `create ${s.name} ${s.type} family inet hashsize 1024 maxelem 65536`);
      }
      this.setsCreated = true;
    }
    for (const s of SETS) {
      // kube-proxy's entries as it writes them; the set holds them canonical (a /32 net bare)
      const want = new Map([...active.get(s.name)!].map((e) => [e.replace(/\/32$/, ''), e]));
      const have = new Set(this.ipsets.get(s.name)?.members.keys() ?? []);
      for (const e of [...have].filter((x) => !want.has(x)).sort(byText)) lines.push(`del ${s.name} ${e}`);
      for (const [k, e] of [...want].sort((a, b) => byText(a[0], b[0]))) if (!have.has(k)) lines.push(`add ${s.name} ${e}`);
    }
    const text = lines.length === 0 ? '' : `${lines.join('\n')}\n`;
    if (text !== '') this.ipsets.restore(text, { exist: true });
    return text;
  }

  private syncVirtualServers(wanted: Map<string, WantedVs>): void {
    const ipvs = this.ipvs;
    for (const [key, w] of wanted) {
      const proto = PROTO_NUM[w.proto]!;
      const addr = ipNum(w.addr);
      const spec = {
        kind: w.proto, addr, port: w.port, scheduler: this.scheduler,
        ...(w.persistentS !== undefined ? { persistentS: w.persistentS } : {}),
        ...(this.scheduler === 'mh' ? { schedFlags: SVC_F_SCHED_PORT } : {}),
      } as const;
      let vs = ipvs.findServiceExact(proto, addr, w.port, 0);
      if (vs === null) vs = ipvs.addService(spec);
      else if (vs.scheduler !== this.scheduler || vs.persistent !== (w.persistentS !== undefined) || (w.persistentS !== undefined && vs.timeoutS !== w.persistentS)) {
        ipvs.editService(spec);
      }
      this.syncDests(key, vs, w.dests);
    }
    // cleanLegacyService
    for (const vs of [...ipvs.services]) {
      if (vs.fwmark !== 0) continue;
      const key = `${vs.proto === 6 ? 'tcp' : 'udp'}|${ipv4String(vs.addr)}|${vs.port}`;
      if (wanted.has(key)) continue;
      if (this.exclude.some((cidr) => cidrContains(cidr, ipv4String(vs.addr)))) continue;
      ipvs.delService({ kind: vs.proto === 6 ? 'tcp' : 'udp', addr: vs.addr, port: vs.port });
      for (const g of [...this.graceful]) if (g.startsWith(`${key}#`)) this.graceful.delete(g);
    }
  }

  private syncDests(key: string, vs: VirtualService, eps: readonly EndpointInfo[]): void {
    // real servers by (address, port) as one number; endpoints come sorted by `ip:port` text
    const want = new Map<number, EndpointInfo>();
    for (const e of eps) want.set(ipNum(e.ip) * 65536 + e.port, e);
    const gkey = (addr: number, port: number): string => `${key}#${ipv4String(addr)}:${port}`;
    const graceful = this.graceful.size > 0;
    // finish graceful deletions whose connections are gone
    if (graceful) {
      for (const d of [...vs.dests]) {
        const k = gkey(d.addr, d.port);
        if (this.graceful.has(k) && !want.has(d.addr * 65536 + d.port) && d.activeConns + d.inactConns === 0) {
          this.ipvs.delDest(vs, d.addr, d.port);
          this.graceful.delete(k);
        }
      }
    }
    const have = new Set<number>();
    for (const d of vs.dests) have.add(d.addr * 65536 + d.port);
    for (const [k, e] of want) {
      const addr = Math.floor(k / 65536);
      if (!have.has(k)) this.ipvs.addDest(vs, { addr, port: e.port, weight: 1, fwd: 'masq' });
      else if (graceful && this.graceful.has(gkey(addr, e.port))) {
        // back before its deletion finished: delete and add afresh, as MoveRSOutofGracefulDeleteList does
        this.graceful.delete(gkey(addr, e.port));
        this.ipvs.delDest(vs, addr, e.port);
        this.ipvs.addDest(vs, { addr, port: e.port, weight: 1, fwd: 'masq' });
      }
    }
    if (vs.dests.length === want.size) return;
    for (const d of [...vs.dests]) {
      if (want.has(d.addr * 65536 + d.port)) continue;
      const gk = gkey(d.addr, d.port);
      if (this.graceful.has(gk)) continue;
      if (vs.proto === 6 && d.activeConns + d.inactConns > 0) {
        this.ipvs.editDest(vs, { addr: d.addr, port: d.port, weight: 0, fwd: d.fwd });
        this.graceful.add(gk);
      } else {
        this.ipvs.delDest(vs, d.addr, d.port);
      }
    }
  }

  private ensureText(): string {
    const out: string[] = [];
    for (const table of ['nat', 'filter'] as const) {
      out.push(`*${table}`);
      for (const ch of table === 'nat' ? NAT_CHAINS : FILTER_CHAINS) out.push(`:${ch} - [0:0]`);
      for (const j of IPVS_JUMPS.filter((x) => x.table === table)) out.push(`-I ${j.from} 1 -m comment --comment "${j.comment}" -j ${j.to}`);
      out.push('COMMIT');
    }
    return `${out.join('\n')}\n`;
  }

  /** writeIptablesRules: the restore payload for the sets as they are now. */
  private iptablesText(active: Map<string, Set<string>>, noNodeAccess: { ip: string; proto: string; port: number }[]): string {
    const c = this.cfg;
    const mark = c.mark;
    const nat: string[] = ['*nat', ...NAT_CHAINS.map((ch) => `:${ch} - [0:0]`)];
    const filter: string[] = ['*filter', ...FILTER_CHAINS.map((ch) => `:${ch} - [0:0]`)];
    const empty = (s: string): boolean => active.get(s)!.size === 0;
    const comment = (s: string): string => `-m comment --comment "${COMMENT.get(s)!}"`;
    nat.push('-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN');
    for (const r of SET_RULES) {
      if (empty(r.set)) continue;
      const line = `-A ${r.from}${r.proto ? ` -p ${r.proto}` : ''} ${comment(r.set)} -m set --match-set ${r.set} ${r.match} -j ${r.to}`;
      (r.table === 'filter' ? filter : nat).push(line);
    }
    if (!empty('KUBE-CLUSTER-IP')) {
      const head = `-A KUBE-SERVICES ${comment('KUBE-CLUSTER-IP')} -m set --match-set KUBE-CLUSTER-IP`;
      if (c.masqueradeAll) nat.push(`${head} dst,dst -j KUBE-MARK-MASQ`);
      else if (c.ifNotLocal !== null) nat.push(`${head} dst,dst ${c.ifNotLocal} -j KUBE-MARK-MASQ`);
      else nat.push(`${head} src,dst -j KUBE-MARK-MASQ`);
    }
    const externalIPRules = (head: string): void => {
      nat.push(`${head} -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT`);
      nat.push(`${head} -m addrtype --dst-type LOCAL -j ACCEPT`);
    };
    if (!empty('KUBE-EXTERNAL-IP')) {
      const head = `-A KUBE-SERVICES ${comment('KUBE-EXTERNAL-IP')} -m set --match-set KUBE-EXTERNAL-IP dst,dst`;
      nat.push(`${head} -j KUBE-MARK-MASQ`);
      externalIPRules(head);
    }
    if (!empty('KUBE-EXTERNAL-IP-LOCAL')) {
      externalIPRules(`-A KUBE-SERVICES ${comment('KUBE-EXTERNAL-IP-LOCAL')} -m set --match-set KUBE-EXTERNAL-IP-LOCAL dst,dst`);
    }
    nat.push('-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT');
    nat.push('-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ');
    filter.push('-A KUBE-SOURCE-RANGES-FIREWALL -j DROP');
    for (const e of noNodeAccess) {
      filter.push(`-A KUBE-IPVS-OUT-FILTER -s ${e.ip} -m ipvs --vaddr ${e.ip} --vproto ${e.proto} --vport ${e.port} -j DROP`);
    }
    for (const s of ['KUBE-CLUSTER-IP', 'KUBE-LOAD-BALANCER']) {
      if (!empty(s)) nat.push(`-A KUBE-SERVICES -m set --match-set ${s} dst,dst -j ACCEPT`);
    }
    filter.push(`-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark ${mark}/${mark} -j ACCEPT`);
    filter.push('-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT');
    filter.push(`-A KUBE-NODE-PORT ${comment('KUBE-HEALTH-CHECK-NODE-PORT')} -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j ACCEPT`);
    for (const s of ['KUBE-LOAD-BALANCER', 'KUBE-CLUSTER-IP', 'KUBE-EXTERNAL-IP', 'KUBE-EXTERNAL-IP-LOCAL']) {
      filter.push(`-A KUBE-IPVS-FILTER -m set --match-set ${s} dst,dst -j RETURN`);
    }
    filter.push('-A KUBE-IPVS-FILTER -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j RETURN');
    filter.push('-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT');
    nat.push(`-A KUBE-POSTROUTING -m mark ! --mark ${mark}/${mark} -j RETURN`);
    nat.push(`-A KUBE-POSTROUTING -j MARK --xor-mark ${mark}`);
    nat.push(`-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE${c.randomFully ? ' --random-fully' : ''}`);
    nat.push(`-A KUBE-MARK-MASQ -j MARK --or-mark ${mark}`);
    return `${[...nat, 'COMMIT', ...filter, 'COMMIT'].join('\n')}\n`;
  }
}

function ipv4String(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}
