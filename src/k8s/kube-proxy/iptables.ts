/**
 * kube-proxy's iptables mode (k8s layer, slow path): the `iptables-restore`
 * payload kube-proxy's iptables proxier writes, from the same Services,
 * EndpointSlices and configuration.
 *
 * What: `IptablesProxier` keeps a `ChangeTracker` (tracker.ts); each
 * `sync(nowMs)` returns `{ full, payload, ensure }`: the text syncProxyRules
 * hands to `iptables-restore --noflush --counters` (pkg/proxy/iptables/
 * proxier.go, read, not copied) and, the first time, the jump rules its
 * EnsureChain/EnsureRule calls put into the built-in chains (as restore
 * text with `-I CHAIN 1`, in the order that leaves them as kube-proxy does).
 * The payload, as kube-proxy writes it:
 *  - `*filter`: chain lines KUBE-SERVICES, KUBE-EXTERNAL-SERVICES,
 *    KUBE-FORWARD, KUBE-NODEPORTS, KUBE-PROXY-FIREWALL (+ KUBE-FIREWALL and
 *    its localnet rule when localhost NodePorts are on), then per service
 *    port the REJECT (no endpoints) / DROP (no local endpoints) rules, the
 *    LB firewall DROP, the health-check ACCEPT; then KUBE-FORWARD (INVALID
 *    drop unless tcp-be-liberal, with `-m nfacct` when the counter exists,
 *    the mark accept, the ctstate accept); `COMMIT`;
 *  - `*nat`: chain lines KUBE-SERVICES, KUBE-NODEPORTS, KUBE-POSTROUTING,
 *    KUBE-MARK-MASQ, then each service port's EXT, FW, SVC, SVL and SEP
 *    chains; KUBE-POSTROUTING's three rules (MASQUERADE with
 *    `--random-fully` if configured), KUBE-MARK-MASQ's; per service port
 *    the KUBE-SERVICES and KUBE-NODEPORTS rules, then its own chains'
 *    rules; then the stale chains (`:C` + `-X C`), then the last
 *    KUBE-SERVICES rule to KUBE-NODEPORTS; `COMMIT`.
 *  - chain names `KUBE-{SVC,SVL,EXT,FW}-` + base32(sha256(name + proto))[:16]
 *    and `KUBE-SEP-` + base32(sha256(name + proto + ip:port))[:16];
 *    probabilities 1/(n-i) as Go's `%0.10f` (toFixed rounds the exact binary
 *    value the same way).
 * Incremental: the first sync (and one after `forceFullSync()`, or an hour
 * after the last full one) is full; later ones rewrite the filter table and
 * the nat top-level chains but the SVC/SVL/EXT/FW/SEP chains only of the
 * Services the tracker reports changed. Stale chains are those the nat
 * table holds (as this proxier's earlier payloads left it) that no service
 * uses now. Large-cluster mode (more than 1000 endpoints) drops the
 * per-endpoint comments and deletes stale chains only once per syncPeriod.
 * IPv6 (`ipFamily: 'IPv6'`, one proxier per family as kube-proxy's
 * dual-stack meta-proxier): the same rules with `[ip]:port` endpoints, no
 * KUBE-FIREWALL and no localhost NodePorts, `! -d ::1/128` on the jump to
 * KUBE-NODEPORTS.
 * A change of the node's zone label (`setNodeLabels`) forces a full sync, as
 * OnNodeUpdate does. Time enters only as `sync`'s 'nowMs'.
 * Cost: a full sync is linear in endpoints (string building, one sha256 per
 * chain name the first time it is seen, then cached); a partial sync reuses
 * each unchanged Service's top-level rules from its last rewrite (kube-proxy
 * recomputes and discards them — same text, since they depend only on that
 * Service, its endpoints and the fixed configuration), so it costs an array
 * copy per Service plus the changed Services' chains.
 * Deliberate differences: services are visited in insertion order (Go's map
 * order is random; the golden tests sort as kube-proxy's do); the
 * nodePortAddresses IPs come out sorted (a Go map there too).
 * Neighbours: tracker.ts (objects → maps), netfilter/restore.ts loads the
 * payload (ClientIP affinity's `-m recent` included; `nfacct: true`
 * payloads need the counters to exist, as in the kernel: restore.ts's
 * `nfacct` option), ipvs.ts (the other mode), index.ts.
 */
import { createHash } from 'node:crypto';
import {
  KubeProxyError, TrackedProxier, categorize, cidrContains, externallyAccessible,
  type EndpointInfo, type ServicePortInfo,
} from './tracker.js';
import { parseCidr, parseIp, type Family } from './ip.js';

export type LocalDetector =
  | { mode: 'cluster-cidr'; clusterCIDR: string }
  | { mode: 'node-cidr'; podCIDR: string }
  | { mode: 'bridge-interface'; interfaceName: string }
  | { mode: 'interface-name-prefix'; prefix: string }
  | { mode: 'none' };

export interface KubeProxyConfig {
  /** the node's name: endpoints with this nodeName are local */
  hostname: string;
  /** the family this proxier handles, default IPv4 (a dual-stack node runs one of each) */
  ipFamily?: Family;
  /** the Node's labels (topology.kubernetes.io/zone for topology hints); later changes: setNodeLabels() */
  nodeLabels?: Record<string, string>;
  /** the node's IPs; the first of the proxier's family is kube-proxy's nodeIP (LB source-range self access) */
  nodeIPs?: string[];
  /** default `{ mode: 'none' }` */
  localDetector?: LocalDetector;
  /** bit of the masquerade mark, default 14; written as kube-proxy formats it (`%#08x`: 0x00004000) */
  masqueradeBit?: number;
  /** the mark text itself, overriding masqueradeBit (kube-proxy's test fixtures set '0x4000') */
  masqueradeMark?: string;
  masqueradeAll?: boolean;
  /** default true; off when nodePortAddresses do not include 127.0.0.1 */
  localhostNodePorts?: boolean;
  /** CIDRs (or `primary`) NodePorts answer on; empty: every local address */
  nodePortAddresses?: string[];
  /** the node's interface addresses nodePortAddresses select from (default: nodeIPs and 127.0.0.1) */
  nodeAddresses?: string[];
  /** MASQUERADE --random-fully (iptables supports it) */
  randomFully?: boolean;
  /** ms, default 30 000 */
  syncPeriodMs?: number;
  /**
   * the nfacct counters exist (ct_state_invalid_dropped_pkts,
   * localhost_nps_accepted_pkts), so the INVALID drop and the localhost
   * NodePort rules count into them (`-m nfacct`). kube-proxy probes the
   * kernel and writes them only when it can create the counters; default
   * false, as a node without the nfacct objects (kube-proxy's test fixture
   * has them: true; netfilter/recent.ts NfAcct models them)
   */
  nfacct?: boolean;
  /** net.netfilter.nf_conntrack_tcp_be_liberal is set: no INVALID drop rule */
  conntrackTCPLiberal?: boolean;
}

export interface SyncResult {
  full: boolean;
  /** the iptables-restore --noflush --counters input */
  payload: string;
  /** restore text for the jump rules EnsureRule adds to the built-in chains (first full sync only), else null */
  ensure: string | null;
}

const LARGE_CLUSTER_THRESHOLD = 1000;
const FULL_SYNC_PERIOD_MS = 3_600_000;
const SERVICE_CHAIN_PREFIXES = ['KUBE-SVC-', 'KUBE-SVL-', 'KUBE-SEP-', 'KUBE-FW-', 'KUBE-EXT-'];
const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** The first 16 characters of base32(sha256(text)), kube-proxy's chain-name hash. */
export function hash16(text: string): string {
  const h = createHash('sha256').update(text).digest();
  let out = '', acc = 0, bits = 0, i = 0;
  while (out.length < 16) {
    acc = ((acc << 8) | h[i++]!) & 0xffff;
    bits += 8;
    while (bits >= 5 && out.length < 16) {
      out += B32[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

export function serviceChains(name: string, proto: string): { svc: string; svl: string; ext: string; fw: string } {
  const h = hash16(name + proto);
  return { svc: `KUBE-SVC-${h}`, svl: `KUBE-SVL-${h}`, ext: `KUBE-EXT-${h}`, fw: `KUBE-FW-${h}` };
}
export function endpointChain(name: string, proto: string, endpoint: string): string {
  return `KUBE-SEP-${hash16(name + proto + endpoint)}`;
}
/** `%0.10f` of 1/n. */
export function computeProbability(n: number): string {
  return (1 / n).toFixed(10);
}
export function isServiceChain(c: string): boolean {
  return SERVICE_CHAIN_PREFIXES.some((p) => c.startsWith(p));
}

const chainLine = (c: string): string => `:${c} - [0:0]`;

/** A jump kube-proxy ensures from a built-in chain ('extra' matches before the comment; '' for none). */
export interface JumpRule { table: 'filter' | 'nat'; from: string; to: string; comment: string; extra: string }

/** The jump rules kube-proxy ensures in the built-in chains (iptablesJumpChains + kubelet's). */
export const IPTABLES_JUMPS: readonly JumpRule[] = [
  { table: 'filter', to: 'KUBE-EXTERNAL-SERVICES', from: 'INPUT', comment: 'kubernetes externally-visible service portals', extra: '-m conntrack --ctstate NEW' },
  { table: 'filter', to: 'KUBE-EXTERNAL-SERVICES', from: 'FORWARD', comment: 'kubernetes externally-visible service portals', extra: '-m conntrack --ctstate NEW' },
  { table: 'filter', to: 'KUBE-NODEPORTS', from: 'INPUT', comment: 'kubernetes health check service ports', extra: '' },
  { table: 'filter', to: 'KUBE-SERVICES', from: 'FORWARD', comment: 'kubernetes service portals', extra: '-m conntrack --ctstate NEW' },
  { table: 'filter', to: 'KUBE-SERVICES', from: 'OUTPUT', comment: 'kubernetes service portals', extra: '-m conntrack --ctstate NEW' },
  { table: 'filter', to: 'KUBE-FORWARD', from: 'FORWARD', comment: 'kubernetes forwarding rules', extra: '' },
  { table: 'filter', to: 'KUBE-PROXY-FIREWALL', from: 'INPUT', comment: 'kubernetes load balancer firewall', extra: '-m conntrack --ctstate NEW' },
  { table: 'filter', to: 'KUBE-PROXY-FIREWALL', from: 'OUTPUT', comment: 'kubernetes load balancer firewall', extra: '-m conntrack --ctstate NEW' },
  { table: 'filter', to: 'KUBE-PROXY-FIREWALL', from: 'FORWARD', comment: 'kubernetes load balancer firewall', extra: '-m conntrack --ctstate NEW' },
  { table: 'nat', to: 'KUBE-SERVICES', from: 'OUTPUT', comment: 'kubernetes service portals', extra: '' },
  { table: 'nat', to: 'KUBE-SERVICES', from: 'PREROUTING', comment: 'kubernetes service portals', extra: '' },
  { table: 'nat', to: 'KUBE-POSTROUTING', from: 'POSTROUTING', comment: 'kubernetes postrouting rules', extra: '' },
  { table: 'filter', to: 'KUBE-FIREWALL', from: 'INPUT', comment: '', extra: '' },
  { table: 'filter', to: 'KUBE-FIREWALL', from: 'OUTPUT', comment: '', extra: '' },
];

/** Where NodePorts are answered: every local address, or the node IPs the CIDRs select. */
export interface NodePortAddresses { matchAll: boolean; cidrs: string[]; containsLoopback: boolean }

const CONFIG_OBJ = 'KubeProxyConfiguration';

/** NewNodePortAddresses for 'family': the CIDRs of that family (`primary`: the node IP). */
export function nodePortAddresses(specs: readonly string[], nodeIP: string | null, family: Family = 'IPv4'): NodePortAddresses {
  const cidrs: string[] = [];
  specs.forEach((s, i) => {
    if (s === 'primary') {
      if (nodeIP !== null) cidrs.push(`${nodeIP}/${family === 'IPv4' ? 32 : 128}`);
      return;
    }
    const c = parseCidr(s);
    if (c === null) throw new KubeProxyError('KP_BAD_CIDR', CONFIG_OBJ, `nodePortAddresses[${i}]`, `'${s}' is not a CIDR`);
    if (c.family === family) cidrs.push(c.text);
  });
  const matchAll = cidrs.length === 0 || cidrs.some((c) => c.endsWith('/0'));
  return { matchAll, cidrs, containsLoopback: family === 'IPv4' && (matchAll || cidrs.some((c) => cidrContains(c, '127.0.0.1'))) };
}

/** Normalised configuration shared by both modes. */
export interface ProxyBase {
  hostname: string; family: Family; nodeIP: string | null; mark: string; masqueradeAll: boolean; localhostNodePorts: boolean;
  npa: NodePortAddresses; nodeAddresses: string[]; randomFully: boolean; syncPeriodMs: number;
  ifLocal: string | null; ifNotLocal: string | null;
}

/** Canonical addresses of 'list' in 'family'; anything that is no address is an error at 'field[i]'. */
function addressesOf(list: readonly string[], field: string, family: Family): string[] {
  return list.map((a, i) => {
    const ip = parseIp(a);
    if (ip === null) throw new KubeProxyError('KP_BAD_IP', CONFIG_OBJ, `${field}[${i}]`, `'${a}' is not an IP address`);
    return ip.family === family ? ip.text : null;
  }).filter((x): x is string => x !== null);
}

export function normaliseConfig(c: KubeProxyConfig): ProxyBase {
  const family = c.ipFamily ?? 'IPv4';
  if (family !== 'IPv4' && family !== 'IPv6') throw new KubeProxyError('KP_BAD_CONFIG', CONFIG_OBJ, 'ipFamily', `'${String(family)}' is not IPv4 or IPv6`);
  const nodeIPs = addressesOf(c.nodeIPs ?? [], 'nodeIPs', family);
  const nodeIP = nodeIPs[0] ?? null;
  const bit = c.masqueradeBit ?? 14;
  if (!Number.isInteger(bit) || bit < 0 || bit > 31) throw new KubeProxyError('KP_BAD_CONFIG', CONFIG_OBJ, 'masqueradeBit', `'${bit}' is not in 0..31`);
  if (c.masqueradeMark !== undefined && !/^0x[0-9a-fA-F]{1,8}$/.test(c.masqueradeMark)) {
    throw new KubeProxyError('KP_BAD_CONFIG', CONFIG_OBJ, 'masqueradeMark', `'${c.masqueradeMark}' is not a hexadecimal mark`);
  }
  const npa = nodePortAddresses(c.nodePortAddresses ?? [], nodeIP, family);
  const det = c.localDetector ?? { mode: 'none' };
  let ifLocal: string | null = null, ifNotLocal: string | null = null;
  switch (det.mode) {
    case 'cluster-cidr': case 'node-cidr': {
      const raw = det.mode === 'cluster-cidr' ? det.clusterCIDR : det.podCIDR;
      const cidr = parseCidr(raw);
      if (cidr === null || cidr.family !== family) {
        throw new KubeProxyError('KP_BAD_CIDR', CONFIG_OBJ, `localDetector.${det.mode === 'cluster-cidr' ? 'clusterCIDR' : 'podCIDR'}`, `'${raw}' is not an ${family} CIDR`);
      }
      ifLocal = `-s ${cidr.text}`; ifNotLocal = `! -s ${cidr.text}`;
      break;
    }
    case 'bridge-interface': ifLocal = `-i ${det.interfaceName}`; ifNotLocal = `! -i ${det.interfaceName}`; break;
    case 'interface-name-prefix': ifLocal = `-i ${det.prefix}+`; ifNotLocal = `! -i ${det.prefix}+`; break;
    case 'none': break;
  }
  return {
    hostname: c.hostname, family, nodeIP, mark: c.masqueradeMark ?? goHex08(2 ** bit), masqueradeAll: c.masqueradeAll ?? false,
    // the dual-stack proxier never gives its IPv6 half localhost NodePorts
    localhostNodePorts: family === 'IPv4' && (c.localhostNodePorts ?? true) && npa.containsLoopback, npa,
    nodeAddresses: addressesOf(c.nodeAddresses ?? [...nodeIPs, family === 'IPv4' ? '127.0.0.1' : '::1'], 'nodeAddresses', family),
    randomFully: c.randomFully ?? false, syncPeriodMs: c.syncPeriodMs ?? 30_000, ifLocal, ifNotLocal,
  };
}

/** Go's `%#08x`: the digits zero-padded to 8, then `0x` (the padding does not count the prefix). */
export function goHex08(v: number): string {
  return `0x${v.toString(16).padStart(8, '0')}`;
}

/** Is 'a' (canonical) a loopback address? */
export const isLoopback = (a: string): boolean => a.startsWith('127.') || a === '::1';

/** The node IPs NodePorts answer on when nodePortAddresses is set (GetNodeIPs), in address order. */
export function nodePortIPs(b: ProxyBase): string[] {
  const out = new Set<string>();
  for (const c of b.npa.cidrs) for (const a of b.nodeAddresses) if (cidrContains(c, a)) out.add(a);
  return [...out].sort((x, y) => { const d = parseIp(x)!.value - parseIp(y)!.value; return d < 0n ? -1 : d > 0n ? 1 : 0; });
}

/** Lines of a restore payload (proxyutil.LineBuffer); a discarding one for skipped services. */
class Lines {
  readonly lines: string[] = [];
  constructor(private readonly keep = true) {}
  write(line: string): void { if (this.keep) this.lines.push(line); }
}

interface SvcChains { svc: string; svl: string; ext: string; fw: string }

export class IptablesProxier extends TrackedProxier {
  private readonly cfg: ProxyBase;
  private readonly nfacct: boolean;
  private readonly liberal: boolean;
  private readonly chainNames = new Map<string, SvcChains>();
  private readonly sepNames = new Map<string, string>();
  private needFullSync = true;
  private lastFullSync = -Infinity;
  private lastCleanup = -Infinity;
  private jumpsEnsured = false;
  /** the user chains the nat table holds, as the payloads so far left it */
  private readonly natChains = new Set<string>();
  /**
   * Per service port, what its last rewrite produced: its top-level rules
   * (nat KUBE-SERVICES/KUBE-NODEPORTS, filter) and its chains. An unchanged
   * Service's are the same on the next partial sync, so they are reused
   * instead of recomputed (kube-proxy recomputes and discards them).
   */
  private readonly svcCache = new Map<string, { nat: string[]; filter: string[]; chains: string[] }>();
  /** large-cluster mode of the last sync */
  largeClusterMode = false;

  constructor(config: KubeProxyConfig) {
    super(config.hostname, config.ipFamily ?? 'IPv4');
    this.cfg = normaliseConfig(config);
    this.nfacct = config.nfacct ?? false;
    this.liberal = config.conntrackTCPLiberal ?? false;
    if (config.nodeLabels !== undefined) this.setNodeLabels(config.nodeLabels);
  }

  /** The next sync is a full one (kube-proxy's iptables monitor, a node-label change). */
  forceFullSync(): void { this.needFullSync = true; }
  protected override topologyChanged(): void { this.needFullSync = true; }

  private chainsOf(s: ServicePortInfo): SvcChains {
    let c = this.chainNames.get(s.key);
    if (c === undefined) this.chainNames.set(s.key, c = serviceChains(s.name, s.protocol));
    return c;
  }
  private sepOf(s: ServicePortInfo, e: EndpointInfo): string {
    const k = `${s.key}|${e.str}`;
    let c = this.sepNames.get(k);
    if (c === undefined) {
      c = endpointChain(s.name, s.protocol, e.str);
      if (this.sepNames.size > 1_000_000) this.sepNames.clear();
      this.sepNames.set(k, c);
    }
    return c;
  }

  /** The ensure-rules text: `-I CHAIN 1 …` per jump, each table's chains created first. */
  private ensureText(): string {
    const out: string[] = [];
    for (const table of ['filter', 'nat'] as const) {
      const js = IPTABLES_JUMPS.filter((j) => j.table === table);
      out.push(`*${table}`);
      for (const d of new Set(js.map((j) => j.to))) out.push(chainLine(d));
      for (const j of js) {
        const parts = [`-I ${j.from} 1`];
        if (j.extra) parts.push(j.extra);
        if (j.comment) parts.push(`-m comment --comment "${j.comment}"`);
        parts.push(`-j ${j.to}`);
        out.push(parts.join(' '));
      }
      out.push('COMMIT');
    }
    return `${out.join('\n')}\n`;
  }

  /** One syncProxyRules at time 'nowMs'. */
  sync(nowMs: number): SyncResult {
    const full = this.needFullSync || nowMs - this.lastFullSync > FULL_SYNC_PERIOD_MS;
    const { svcPorts, endpoints, updated, deleted: gone } = this.tracker.checkout();
    const c = this.cfg;
    const mark = c.mark;
    let ensure: string | null = null;
    if (full && !this.jumpsEnsured) {
      ensure = this.ensureText();
      this.jumpsEnsured = true;
    }
    const filterChains = new Lines(), filterRules = new Lines(), natChainsBuf = new Lines(), natRulesBuf = new Lines();
    const skipped = new Lines(false);
    for (const ch of ['KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES', 'KUBE-FORWARD', 'KUBE-NODEPORTS', 'KUBE-PROXY-FIREWALL']) filterChains.write(chainLine(ch));
    for (const ch of ['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ']) natChainsBuf.write(chainLine(ch));
    natRulesBuf.write(`-A KUBE-POSTROUTING -m mark ! --mark ${mark}/${mark} -j RETURN`);
    natRulesBuf.write(`-A KUBE-POSTROUTING -j MARK --xor-mark ${mark}`);
    natRulesBuf.write(`-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE${c.randomFully ? ' --random-fully' : ''}`);
    natRulesBuf.write(`-A KUBE-MARK-MASQ -j MARK --or-mark ${mark}`);
    if (c.localhostNodePorts) {
      filterChains.write(chainLine('KUBE-FIREWALL'));
      filterRules.write('-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP');
    }
    const active = new Set<string>();
    let total = 0;
    for (const key of svcPorts.keys()) total += endpoints.get(key)?.length ?? 0;
    const large = total > LARGE_CLUSTER_THRESHOLD;
    this.largeClusterMode = large;
    // stale chains are looked for on every sync, or in large-cluster mode once per syncPeriod
    // (the active set is only needed then)
    const cleanup = !large || nowMs - this.lastCleanup > c.syncPeriodMs;

    for (const [key, s] of svcPorts) {
      const rewrite = full || updated.has(s.service);
      const cached = rewrite ? undefined : this.svcCache.get(key);
      if (cached !== undefined) {
        // unchanged Service: the same top-level rules as last time, its chains kept
        natRulesBuf.lines.push(...cached.nat);
        filterRules.lines.push(...cached.filter);
        if (cleanup) for (const ch of cached.chains) active.add(ch);
        continue;
      }
      const proto = s.protocol;
      const name = s.name;
      const names = this.chainsOf(s);
      const cat = categorize(endpoints.get(key) ?? [], s, this.zone);
      const usesCluster = cat.cluster.length > 0 && (!s.internalPolicyLocal || externallyAccessible(s));
      const usesLocal = cat.local.length > 0 && (s.internalPolicyLocal || (s.externalPolicyLocal && externallyAccessible(s)));
      let hasInternal = cat.hasAny;
      const internalChain = s.internalPolicyLocal ? names.svl : names.svc;
      if (s.internalPolicyLocal && cat.local.length === 0) hasInternal = false;
      let hasExternal = cat.hasAny;
      const externalPolicyChain = s.externalPolicyLocal ? names.svl : names.svc;
      if (s.externalPolicyLocal && cat.local.length === 0) hasExternal = false;
      const usesExt = cat.hasAny && externallyAccessible(s);
      const usesFW = cat.hasAny && s.loadBalancerVIPs.length > 0 && s.loadBalancerSourceRanges.length > 0;
      const lbChain = usesFW ? names.fw : names.ext;
      let intTarget = '', intComment = '', extTarget = '', extComment = '';
      if (!cat.hasAny) {
        intTarget = extTarget = 'REJECT';
        intComment = extComment = `"${name} has no endpoints"`;
      } else {
        if (!hasInternal) { intTarget = 'DROP'; intComment = `"${name} has no local endpoints"`; }
        if (!hasExternal) { extTarget = 'DROP'; extComment = `"${name} has no local endpoints"`; }
      }
      const pp = `-m ${proto} -p ${proto}`;
      // the KUBE-SERVICES / KUBE-NODEPORTS / filter rules: written on every sync
      const topNat = new Lines(), topFilter = new Lines();
      if (hasInternal) {
        topNat.write(`-A KUBE-SERVICES -m comment --comment "${name} cluster IP" ${pp} -d ${s.clusterIP} --dport ${s.port} -j ${internalChain}`);
      } else {
        topFilter.write(`-A KUBE-SERVICES -m comment --comment ${intComment} ${pp} -d ${s.clusterIP} --dport ${s.port} -j ${intTarget}`);
      }
      for (const ip of s.externalIPs) {
        if (cat.hasAny) topNat.write(`-A KUBE-SERVICES -m comment --comment "${name} external IP" ${pp} -d ${ip} --dport ${s.port} -j ${names.ext}`);
        if (!hasExternal) topFilter.write(`-A KUBE-EXTERNAL-SERVICES -m comment --comment ${extComment} ${pp} -d ${ip} --dport ${s.port} -j ${extTarget}`);
      }
      for (const ip of s.loadBalancerVIPs) {
        if (cat.hasAny) topNat.write(`-A KUBE-SERVICES -m comment --comment "${name} loadbalancer IP" ${pp} -d ${ip} --dport ${s.port} -j ${lbChain}`);
        if (usesFW) topFilter.write(`-A KUBE-PROXY-FIREWALL -m comment --comment "${name} traffic not accepted by ${names.fw}" ${pp} -d ${ip} --dport ${s.port} -j DROP`);
      }
      if (!hasExternal) {
        for (const ip of s.loadBalancerVIPs) topFilter.write(`-A KUBE-EXTERNAL-SERVICES -m comment --comment ${extComment} ${pp} -d ${ip} --dport ${s.port} -j ${extTarget}`);
      }
      if (s.nodePort !== 0) {
        if (cat.hasAny) {
          if (c.localhostNodePorts && this.nfacct) {
            topNat.write(`-A KUBE-NODEPORTS -m comment --comment ${name} ${pp} -d 127.0.0.0/8 --dport ${s.nodePort} -m nfacct --nfacct-name localhost_nps_accepted_pkts -j ${names.ext}`);
          }
          topNat.write(`-A KUBE-NODEPORTS -m comment --comment ${name} ${pp} --dport ${s.nodePort} -j ${names.ext}`);
        }
        if (!hasExternal) {
          topFilter.write(`-A KUBE-EXTERNAL-SERVICES -m comment --comment ${extComment} -m addrtype --dst-type LOCAL ${pp} --dport ${s.nodePort} -j ${extTarget}`);
        }
      }
      if (s.healthCheckNodePort !== 0) {
        topFilter.write(`-A KUBE-NODEPORTS -m comment --comment "${name} health check node port" -m tcp -p tcp --dport ${s.healthCheckNodePort} -j ACCEPT`);
      }

      natRulesBuf.lines.push(...topNat.lines);
      filterRules.lines.push(...topFilter.lines);
      const chains: string[] = [];
      this.svcCache.set(key, { nat: topNat.lines, filter: topFilter.lines, chains });

      // the service's own chains: only when it changed, on a partial sync
      const natChains = rewrite ? natChainsBuf : skipped;
      const natRules = rewrite ? natRulesBuf : skipped;
      const declare = (ch: string): void => { natChains.write(chainLine(ch)); if (cleanup) active.add(ch); chains.push(ch); };
      if (hasInternal) {
        const args = `-m comment --comment "${name} cluster IP" ${pp} -d ${s.clusterIP} --dport ${s.port}`;
        if (c.masqueradeAll) natRules.write(`-A ${internalChain} ${args} -j KUBE-MARK-MASQ`);
        else if (c.ifNotLocal !== null) natRules.write(`-A ${internalChain} ${args} ${c.ifNotLocal} -j KUBE-MARK-MASQ`);
      }
      if (usesExt) {
        declare(names.ext);
        if (!s.externalPolicyLocal) {
          natRules.write(`-A ${names.ext} -m comment --comment "masquerade traffic for ${name} external destinations" -j KUBE-MARK-MASQ`);
        } else {
          if (c.ifLocal !== null) natRules.write(`-A ${names.ext} -m comment --comment "pod traffic for ${name} external destinations" ${c.ifLocal} -j ${names.svc}`);
          natRules.write(`-A ${names.ext} -m comment --comment "masquerade LOCAL traffic for ${name} external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ`);
          natRules.write(`-A ${names.ext} -m comment --comment "route LOCAL traffic for ${name} external destinations" -m addrtype --src-type LOCAL -j ${names.svc}`);
        }
        if (hasExternal) natRules.write(`-A ${names.ext} -j ${externalPolicyChain}`);
      }
      if (usesFW) {
        declare(names.fw);
        const args = `-A ${names.fw} -m comment --comment "${name} loadbalancer IP"`;
        let allowFromNode = false;
        for (const r of s.loadBalancerSourceRanges) {
          natRules.write(`${args} -s ${r} -j ${names.ext}`);
          if (c.nodeIP !== null && cidrContains(r, c.nodeIP)) allowFromNode = true;
        }
        if (allowFromNode) for (const ip of s.loadBalancerVIPs) natRules.write(`${args} -s ${ip} -j ${names.ext}`);
        natRules.write(`-A ${names.fw} -m comment --comment "other traffic to ${name} will be dropped by KUBE-PROXY-FIREWALL"`);
      }
      if (usesCluster) {
        declare(names.svc);
        this.writeServiceToEndpoint(natRules, s, names.svc, cat.cluster, large);
      }
      if (usesLocal) {
        declare(names.svl);
        this.writeServiceToEndpoint(natRules, s, names.svl, cat.local, large);
      }
      for (const e of cat.allReachable) {
        const sep = this.sepOf(s, e);
        declare(sep);
        const head = large ? `-A ${sep}` : `-A ${sep} -m comment --comment ${name}`;
        natRules.write(`${head} -s ${e.ip} -j KUBE-MARK-MASQ`);
        const recent = s.sessionAffinity ? ` -m recent --name ${sep} --set` : '';
        natRules.write(`${head}${recent} ${pp} -j DNAT --to-destination ${e.str}`);
      }
    }

    for (const d of gone) this.svcCache.delete(d.key);

    // stale chains: in the nat table, ours, no longer used
    const deleted: string[] = [];
    if (cleanup) {
      for (const ch of this.natChains) if (!active.has(ch) && isServiceChain(ch)) deleted.push(ch);
      deleted.sort();
      for (const ch of deleted) {
        natChainsBuf.write(chainLine(ch));
        natRulesBuf.write(`-X ${ch}`);
      }
      this.lastCleanup = nowMs;
    }

    const last = '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain"';
    if (c.npa.matchAll) {
      const lo = c.family === 'IPv6' ? ' ! -d ::1/128' : c.localhostNodePorts ? '' : ' ! -d 127.0.0.0/8';
      natRulesBuf.write(`${last} -m addrtype --dst-type LOCAL${lo} -j KUBE-NODEPORTS`);
    } else {
      for (const ip of nodePortIPs(c)) {
        if (isLoopback(ip) && !c.localhostNodePorts) continue;
        natRulesBuf.write(`${last} -d ${ip} -j KUBE-NODEPORTS`);
      }
    }
    if (!this.liberal) {
      filterRules.write(`-A KUBE-FORWARD -m conntrack --ctstate INVALID${this.nfacct ? ' -m nfacct --nfacct-name ct_state_invalid_dropped_pkts' : ''} -j DROP`);
    }
    filterRules.write(`-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark ${mark}/${mark} -j ACCEPT`);
    filterRules.write('-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT');

    const payload = ['*filter', ...filterChains.lines, ...filterRules.lines, 'COMMIT', '*nat', ...natChainsBuf.lines, ...natRulesBuf.lines, 'COMMIT', ''].join('\n');

    // the nat table as this payload leaves it
    for (const l of natChainsBuf.lines) this.natChains.add(l.slice(1, l.indexOf(' ')));
    for (const ch of deleted) this.natChains.delete(ch);
    this.needFullSync = false;
    if (full) this.lastFullSync = nowMs;
    return { full, payload, ensure };
  }

  private writeServiceToEndpoint(out: Lines, s: ServicePortInfo, chain: string, eps: readonly EndpointInfo[], large: boolean): void {
    const head = (e: EndpointInfo): string => (large ? `-A ${chain}` : `-A ${chain} -m comment --comment "${s.name} -> ${e.str}"`);
    if (s.sessionAffinity) {
      for (const e of eps) {
        const sep = this.sepOf(s, e);
        out.write(`${head(e)} -m recent --name ${sep} --rcheck --seconds ${s.stickyMaxAgeSeconds} --reap -j ${sep}`);
      }
    }
    const n = eps.length;
    eps.forEach((e, i) => {
      const prob = i < n - 1 ? ` -m statistic --mode random --probability ${computeProbability(n - i)}` : '';
      out.write(`${head(e)}${prob} -j ${this.sepOf(s, e)}`);
    });
  }
}
