/**
 * Kubernetes NetworkPolicy compiled into the CNI's OVS flows (k8s layer,
 * CNI; slow path): tables EgressRule (50), EgressDefault (60), IngressRule
 * (90) and IngressDefault (100) of pipeline.ts, as Antrea's agent fills them.
 *
 * What: `compilePolicies(policies, pods, nsLabels, nodes)` gives, per node,
 * every flow of the four tables — the fixed ones (established connections
 * and the gateway pass, the misses) and the policies':
 *  - a pod is isolated for ingress (egress) when some policy of its
 *    namespace selects it (podSelector, `{}` = all) and its policyTypes hold
 *    Ingress (Egress); policyTypes default to Ingress, plus Egress when the
 *    policy has egress rules. An isolated pod gets a default drop on its
 *    node: `table=100,priority=200,ip,reg1=<its port> actions=drop`, or
 *    `table=60,priority=200,ip,nw_src=<its IP> actions=drop`;
 *  - each rule is one conjunction (ids from 1, in policy order — namespace/
 *    name sorted — then rule order) with clause flows at priority 200 and
 *    the conj_id flow at 190 that allows: ingress `load:ID->reg6`, on to
 *    ConntrackCommit; egress `load:ID->reg5`, on to L3Forwarding. Ingress
 *    clauses: the peers' addresses (nw_src), the selected local pods'
 *    ports (reg1 — ingress is enforced on the destination's node after
 *    L2ForwardingCalc chose the port, as Antrea does), the ports. Egress:
 *    the selected local pods' addresses (nw_src), the peers (nw_dst), the
 *    ports. A dimension the rule leaves open (no `from`/`to`, no `ports`) is
 *    no clause; a rule with a single clause gets a second clause `ip` (OVS
 *    needs two); a dimension that selects nothing makes the rule match
 *    nothing (no flows). Clause flows with the same match and priority are
 *    one flow with several conjunction() actions, as OVS keeps them;
 *  - peers: podSelector (the policy's namespace), namespaceSelector (every
 *    pod of the namespaces whose labels match; `kubernetes.io/metadata.name`
 *    is always a namespace label), both (ANDed), ipBlock (the CIDR minus its
 *    excepts, as the fewest prefixes);
 *  - ports: protocol (TCP by default) and port, endPort ranges as masked
 *    tp_dst prefixes (`tp_dst=0x100/0xff00`); a named port resolves against
 *    the containers' ports — of the selected pods for ingress, of the peer
 *    pods for egress (the union of the numbers; an ipBlock peer has no named
 *    ports).
 * Why conjunctions: n sources × m destinations × k ports cost n + m + k
 * flows instead of n·m·k (docs/design/ovs-pipeline.md).
 * A packet a policy denies ends in a drop flow of table 60 or 100, which the
 * bridge's trace record (a 'flow' record with the rules matched) names.
 * Cookies say why: a conj_id flow's cookie is its conjunction id, a default
 * drop's is above DEFAULT_DROP_COOKIE; 'explain', when given, is filled with
 * cookie → sentence ("allowed by NetworkPolicy default/x, spec.ingress[0]",
 * "denied: pod default/y is isolated for ingress by NetworkPolicy
 * default/x and no ingress rule allows the packet").
 * Not modelled: Antrea-native policies, the metrics tables, SCTP port
 * checks beyond tp_dst, named ports per destination pod (the union is an
 * over-approximation when pods map one name to different numbers).
 * Errors: `CniError` with the field path (`spec.ingress[0].from[1].ipBlock.cidr`)
 * for a malformed policy: an unknown policy type, an empty peer, an ipBlock
 * with selectors, a bad CIDR, a port out of range, endPort without a
 * numeric port or below it.
 * Neighbours: network.ts (calls this on every change and installs the
 * result), pipeline.ts (tables, egressIngressBase), k8s/labels.ts (selectors).
 */
import type { ContainerPort, LabelSelector, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort } from '../api.js';
import { matchesSelector } from '../labels.js';
import { ipv4ToString } from '../../wire/bytes.js';
import { CniError } from './errors.js';
import { parseCidr } from './cidr.js';
import { egressIngressBase, TABLES, type Flow } from './pipeline.js';

/** The tables this module owns (network.ts reinstalls them whole). */
export const POLICY_TABLES = [TABLES.EgressRule, TABLES.EgressDefault, TABLES.IngressRule, TABLES.IngressDefault] as const;

/** What the compiler needs of a pod. */
export interface PolicyPod {
  namespace: string; name: string; node: string; ip: string; ofport: number;
  labels: Readonly<Record<string, string>>; ports: readonly ContainerPort[];
}

/** A malformed policy: CniError CNI_BAD_POLICY at 'path'. */
class PolicyError extends CniError {
  constructor(path: string, message: string) {
    super('CNI_BAD_POLICY', path, message);
  }
}

const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;

/** Cookies of the default-drop flows start above this (the conjunction ids, the allow flows' cookies, stay below). */
export const DEFAULT_DROP_COOKIE = 0x10000000;

/** A peer set: null = anything; else addresses/CIDRs as ovs-ofctl text, and the pods they came from. */
interface Peers { cidrs: string[]; pods: PolicyPod[] }

/**
 * The four policy tables' flows per node name: 'policies' over 'pods', namespace labels from
 * 'nsLabels', for 'nodes' (name, gateway IP). Throws CniError (code CNI_BAD_POLICY) naming the field.
 */
export function compilePolicies(
  policies: readonly NetworkPolicy[], pods: readonly PolicyPod[],
  nsLabels: (ns: string) => Readonly<Record<string, string>>, nodes: readonly { name: string; gwIP: string }[],
  explain?: Map<number, string>,
): Map<string, Flow[]> {
  const out = new Map<string, Flow[]>();
  for (const n of nodes) out.set(n.name, egressIngressBase(n));
  const ordered = [...policies].sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
  /** clause flows by node, then by "table/priority/match" → actions */
  const clauses = new Map<string, Map<string, { f: Flow; acts: string[] }>>();
  const isolated = { ingress: new Map<PolicyPod, string[]>(), egress: new Map<PolicyPod, string[]>() };
  const isolate = (m: Map<PolicyPod, string[]>, p: PolicyPod, by: string): void => {
    const l = m.get(p);
    if (l === undefined) m.set(p, [by]); else l.push(by);
  };
  let conj = 0;
  const addFlow = (node: string, f: Flow): void => { out.get(node)?.push(f); };
  const addClause = (node: string, table: number, match: string, act: string): void => {
    let m = clauses.get(node);
    if (m === undefined) { m = new Map(); clauses.set(node, m); }
    const k = `${table}/${match}`;
    const e = m.get(k);
    if (e === undefined) m.set(k, { f: { table, priority: 200, match, actions: '' }, acts: [act] });
    else if (!e.acts.includes(act)) e.acts.push(act);
  };

  for (const np of ordered) {
    const ns = np.metadata.namespace ?? 'default';
    const spec = np.spec as NetworkPolicy['spec'] | undefined;
    if (spec === undefined || spec === null || typeof spec.podSelector !== 'object' || spec.podSelector === null) {
      throw new PolicyError('spec.podSelector', `NetworkPolicy ${ns}/${np.metadata.name} has no podSelector`);
    }
    const types = spec.policyTypes ?? (spec.egress !== undefined ? ['Ingress', 'Egress'] : ['Ingress']);
    types.forEach((t, i) => { if (t !== 'Ingress' && t !== 'Egress') throw new PolicyError(`spec.policyTypes[${i}]`, `'${String(t)}' is not Ingress or Egress`); });
    const applied = pods.filter((p) => p.namespace === ns && matchesSelector(p.labels, spec.podSelector));
    const byNode = groupByNode(applied);

    if (types.includes('Ingress')) {
      for (const p of applied) isolate(isolated.ingress, p, keyOf(np));
      (spec.ingress ?? []).forEach((rule, ri) => {
        const path = `spec.ingress[${ri}]`;
        const from = peersOf(rule.from, `${path}.from`, ns, pods, nsLabels);
        const id = ++conj;
        explain?.set(id, `allowed by NetworkPolicy ${keyOf(np)}, ${path}`);
        for (const [node, local] of byNode) {
          const ports = portMatches(rule.ports, `${path}.ports`, local);
          const dims = [from === null ? null : from.cidrs.map((c) => `ip,nw_src=${c}`), local.map((p) => `ip,reg1=${hex(p.ofport)}`), ports];
          emitConjunction(node, TABLES.IngressRule, id, dims, `load:${hex(id)}->NXM_NX_REG6[],goto_table:${TABLES.ConntrackCommit}`);
        }
      });
    }
    if (types.includes('Egress')) {
      for (const p of applied) isolate(isolated.egress, p, keyOf(np));
      (spec.egress ?? []).forEach((rule, ri) => {
        const path = `spec.egress[${ri}]`;
        const to = peersOf(rule.to, `${path}.to`, ns, pods, nsLabels);
        const id = ++conj;
        explain?.set(id, `allowed by NetworkPolicy ${keyOf(np)}, ${path}`);
        const ports = portMatches(rule.ports, `${path}.ports`, to === null ? pods : to.pods);
        for (const [node, local] of byNode) {
          const dims = [local.map((p) => `ip,nw_src=${p.ip}`), to === null ? null : to.cidrs.map((c) => `ip,nw_dst=${c}`), ports];
          emitConjunction(node, TABLES.EgressRule, id, dims, `load:${hex(id)}->NXM_NX_REG5[],goto_table:${TABLES.L3Forwarding}`);
        }
      });
    }
  }

  /** Rule 'id' on 'node': its clause flows and its conj_id flow; nothing when a dimension is empty. */
  function emitConjunction(node: string, table: number, id: number, dims: (string[] | null)[], allow: string): void {
    const open = dims.filter((d): d is string[] => d !== null);
    if (open.some((d) => d.length === 0)) return;
    if (open.length < 2) open.push(['ip']);
    open.forEach((d, k) => { for (const m of d) addClause(node, table, m, `conjunction(${id},${k + 1}/${open.length})`); });
    addFlow(node, { table, priority: 190, match: `conj_id=${id},ip`, actions: allow, cookie: id });
  }

  for (const [node, m] of clauses) for (const { f, acts } of m.values()) addFlow(node, { ...f, actions: acts.join(',') });
  // default drops: cookies above the conjunction ids, one per isolated pod and direction
  let cookie = DEFAULT_DROP_COOKIE;
  const drop = (p: PolicyPod, dir: 'ingress' | 'egress', by: string[], f: Omit<Flow, 'cookie' | 'actions'>): void => {
    cookie++;
    explain?.set(cookie, `denied: pod ${p.namespace}/${p.name} is isolated for ${dir} by NetworkPolicy ${by.join(', ')} and no ${dir} rule allows the packet`);
    addFlow(p.node, { ...f, actions: 'drop', cookie });
  };
  for (const [p, by] of isolated.egress) drop(p, 'egress', by, { table: TABLES.EgressDefault, priority: 200, match: `ip,nw_src=${p.ip}` });
  for (const [p, by] of isolated.ingress) drop(p, 'ingress', by, { table: TABLES.IngressDefault, priority: 200, match: `ip,reg1=${hex(p.ofport)}` });
  return out;
}

function keyOf(np: NetworkPolicy): string { return `${np.metadata.namespace ?? 'default'}/${np.metadata.name}`; }

function groupByNode(pods: readonly PolicyPod[]): Map<string, PolicyPod[]> {
  const m = new Map<string, PolicyPod[]>();
  for (const p of pods) {
    const l = m.get(p.node);
    if (l === undefined) m.set(p.node, [p]); else l.push(p);
  }
  return m;
}

/** The peers of a rule's from/to: null when absent or empty (anything). */
function peersOf(list: NetworkPolicyPeer[] | undefined, path: string, ns: string, pods: readonly PolicyPod[],
  nsLabels: (ns: string) => Readonly<Record<string, string>>): Peers | null {
  if (list === undefined || list.length === 0) return null;
  const cidrs = new Set<string>();
  const chosen = new Set<PolicyPod>();
  list.forEach((peer, i) => {
    const at = `${path}[${i}]`;
    const hasSel = peer.podSelector !== undefined || peer.namespaceSelector !== undefined;
    if (peer.ipBlock !== undefined) {
      if (hasSel) throw new PolicyError(at, 'ipBlock may not be combined with podSelector or namespaceSelector');
      for (const c of ipBlockCidrs(peer.ipBlock, `${at}.ipBlock`)) cidrs.add(c);
      return;
    }
    if (!hasSel) throw new PolicyError(at, 'must specify a peer (podSelector, namespaceSelector or ipBlock)');
    for (const p of pods) {
      const nsOk = peer.namespaceSelector === undefined ? p.namespace === ns : matchesSelector(nsLabels(p.namespace), peer.namespaceSelector);
      if (nsOk && matchesSelector(p.labels, peer.podSelector as LabelSelector | undefined)) chosen.add(p);
    }
  });
  for (const p of chosen) cidrs.add(p.ip);
  return { cidrs: [...cidrs], pods: [...chosen] };
}

/** An ipBlock as the fewest prefixes: 'cidr' minus every 'except'. */
export function ipBlockCidrs(block: { cidr: string; except?: string[] }, path: string): string[] {
  const cidr = (t: unknown, at: string): [number, number] => { const c = parseCidr(t, at, 'CNI_BAD_POLICY'); return [c.net, c.len]; };
  const base = cidr(block.cidr, `${path}.cidr`);
  const ex = (block.except ?? []).map((e, i) => cidr(e, `${path}.except[${i}]`));
  const out: string[] = [];
  const contains = (n: number, l: number, a: number, al: number): boolean => al >= l && (l === 0 || ((n ^ a) >>> (32 - l)) === 0);
  const walk = (n: number, l: number): void => {
    if (ex.some(([en, el]) => contains(en, el, n, l))) return;
    if (!ex.some(([en, el]) => contains(n, l, en, el))) { out.push(l === 32 ? ipv4ToString(n) : `${ipv4ToString(n)}/${l}`); return; }
    walk(n, l + 1);
    walk((n | (1 << (31 - l))) >>> 0, l + 1);
  };
  walk(base[0], base[1]);
  return out;
}

/** The port dimension of a rule: null = any port; else match texts (empty: nothing matches). */
function portMatches(list: NetworkPolicyPort[] | undefined, path: string, named: readonly PolicyPod[]): string[] | null {
  if (list === undefined || list.length === 0) return null;
  const out = new Set<string>();
  list.forEach((p, i) => {
    const at = `${path}[${i}]`;
    const proto = (p.protocol ?? 'TCP');
    if (proto !== 'TCP' && proto !== 'UDP' && proto !== 'SCTP') throw new PolicyError(`${at}.protocol`, `'${String(proto)}' is not TCP, UDP or SCTP`);
    const kw = proto.toLowerCase();
    if (p.port === undefined) {
      if (p.endPort !== undefined) throw new PolicyError(`${at}.endPort`, 'endPort needs a numeric port');
      out.add(kw);
      return;
    }
    if (typeof p.port === 'string' && !/^\d+$/.test(p.port)) {
      if (p.endPort !== undefined) throw new PolicyError(`${at}.endPort`, 'endPort needs a numeric port');
      for (const pod of named) {
        for (const c of pod.ports) if (c.name === p.port && (c.protocol ?? 'TCP') === proto) out.add(`${kw},tp_dst=${c.containerPort}`);
      }
      return;
    }
    const lo = Number(p.port);
    if (!Number.isInteger(lo) || lo < 1 || lo > 65535) throw new PolicyError(`${at}.port`, `${String(p.port)} is not a port (1-65535)`);
    const hi = p.endPort ?? lo;
    if (!Number.isInteger(hi) || hi < lo || hi > 65535) throw new PolicyError(`${at}.endPort`, `${String(p.endPort)} is not a port from ${lo} to 65535`);
    for (const [v, m] of portPrefixes(lo, hi)) out.add(m === 0xffff ? `${kw},tp_dst=${v}` : `${kw},tp_dst=${hex(v)}/${hex(m)}`);
  });
  return [...out];
}

/** The range [lo, hi] as the fewest (value, mask) bit prefixes, lowest first. */
export function portPrefixes(lo: number, hi: number): [number, number][] {
  const out: [number, number][] = [];
  let a = lo;
  while (a <= hi) {
    let size = 1;
    while ((a & (size * 2 - 1)) === 0 && a + size * 2 - 1 <= hi && size < 0x10000) size *= 2;
    out.push([a, (0x10000 - size) & 0xffff]);
    a += size;
  }
  return out;
}
