/**
 * Helpers of the kube-proxy tests: Service and EndpointSlice builders in the
 * shape of kube-proxy's makeTestService / makeTestEndpointSlice, and the
 * comparison its assertIPTablesRulesEqual makes (sortIPTablesRules, then an
 * exact diff), with checkIPTablesRuleJumps' consistency check for full syncs.
 */
import type { EndpointSlice, Service } from '../../src/k8s/api.js';
import type { Ruleset, TableName } from '../../src/netfilter/model.js';
import { formatRule } from '../../src/netfilter/save.js';

export function svc(ns: string, name: string, f: (s: Service) => void): Service {
  const s: Service = { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: {}, status: {} };
  f(s);
  return s;
}

export function slice(ns: string, name: string, n: number, f: (e: EndpointSlice) => void): EndpointSlice {
  const e: EndpointSlice = {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name: `${name}-${n}`, namespace: ns, labels: { 'kubernetes.io/service-name': name } },
    addressType: 'IPv4', endpoints: [],
  };
  f(e);
  return e;
}

interface DumpTable { name: string; chains: string[]; rules: Map<string, string[]>; deletes: string[] }

function parseDump(text: string): DumpTable[] {
  const tables: DumpTable[] = [];
  let cur: DumpTable | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('*')) {
      cur = { name: line.slice(1), chains: [], rules: new Map(), deletes: [] };
      tables.push(cur);
    } else if (line === 'COMMIT') cur = null;
    else if (cur === null) throw new Error(`line outside a table: ${line}`);
    else if (line.startsWith(':')) cur.chains.push(line.slice(1).split(' ')[0]!);
    else if (line.startsWith('-X ')) cur.deletes.push(line);
    else if (line.startsWith('-A ')) {
      const chain = line.split(' ')[1]!;
      const list = cur.rules.get(chain) ?? [];
      list.push(line);
      cur.rules.set(chain, list);
    } else throw new Error(`unexpected line: ${line}`);
  }
  return tables;
}

function commentOf(rule: string): string | null {
  const m = /--comment ("([^"]*)"|(\S+))/.exec(rule);
  if (m === null) return null;
  return m[2] ?? m[3]!;
}
function serviceNameOf(rule: string): string | null {
  const c = commentOf(rule);
  if (c === null) return null;
  const i = c.search(/[ :]/);
  return i === -1 ? c : c.slice(0, i);
}
/** orderByCommentServiceName as a comparator for a stable sort (undefined order without comments: equal). */
function byService(a: string, b: string): number {
  const x = serviceNameOf(a), y = serviceNameOf(b);
  if (x === null || y === null) return 0;
  return x < y ? -1 : x > y ? 1 : 0;
}

function chainOrder(a: string, b: string): number {
  const rank = (c: string): number => (c === 'KUBE-NODEPORTS' ? 0 : c === 'KUBE-SERVICES' ? 1 : c.startsWith('KUBE-') ? 2 : 3);
  const d = rank(a) - rank(b);
  if (d !== 0) return d;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** sortIPTablesRules: the text with tables, chains and service-ordered chains sorted. */
export function sortRules(text: string): string {
  const tables = parseDump(text).sort((a, b) => (a.name < b.name ? -1 : 1));
  const out: string[] = [];
  for (const t of tables) {
    t.chains.sort(chainOrder);
    for (const name of ['KUBE-NODEPORTS', 'KUBE-SERVICES']) {
      const rules = t.rules.get(name);
      if (rules === undefined) continue;
      const last = (r: string): boolean => (commentOf(r) ?? '').includes('must be the last rule');
      rules.sort((a, b) => (t.name === 'nat' && name === 'KUBE-SERVICES' ? (last(a) ? (last(b) ? 0 : 1) : last(b) ? -1 : byService(a, b)) : byService(a, b)));
    }
    out.push(`*${t.name}`);
    for (const c of t.chains) out.push(`:${c} - [0:0]`);
    const ruleChains = [...t.rules.keys()].sort(chainOrder);
    for (const c of ruleChains) out.push(...t.rules.get(c)!);
    out.push(...t.deletes, 'COMMIT');
  }
  return `${out.join('\n')}\n`;
}

const TOP_LEVEL = new Set(['KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES', 'KUBE-FORWARD', 'KUBE-NODEPORTS', 'KUBE-PROXY-FIREWALL',
  'KUBE-FIREWALL', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ']);

/** checkIPTablesRuleJumps: every KUBE-* jump target declared and non-empty; every declared service chain used. */
export function checkJumps(text: string): string[] {
  const errors: string[] = [];
  for (const t of parseDump(text)) {
    const declared = new Set(t.chains);
    const deleted = new Set(t.deletes.map((d) => d.slice(3)));
    const jumped = new Set<string>();
    for (const rules of t.rules.values()) {
      for (const r of rules) {
        const m = / -j (KUBE-\S+)/.exec(r);
        if (m !== null) jumped.add(m[1]!);
      }
    }
    for (const j of jumped) {
      if (!declared.has(j)) errors.push(`${t.name}: ${j} used but not created`);
      else if (j !== 'KUBE-NODEPORTS' && (t.rules.get(j)?.length ?? 0) === 0) errors.push(`${t.name}: ${j} jumped to but has no rules`);
    }
    for (const c of declared) {
      if (!TOP_LEVEL.has(c) && !deleted.has(c) && !jumped.has(c)) errors.push(`${t.name}: ${c} created but not used`);
    }
  }
  return errors;
}

/** Remove the common indentation of a template literal (lithammer/dedent). */
export function dedent(s: string): string {
  const lines = s.replace(/^\n/, '').split('\n');
  const ind = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => /^\s*/.exec(l)![0].length));
  return lines.map((l) => l.slice(ind)).join('\n').replace(/\s+$/, '\n');
}

/** The KUBE-* chains of a table, rules as iptables-save prints them; top-level chains stable-sorted by service. */
export function kubeChains(rs: Ruleset): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const t of ['filter', 'nat'] as TableName[]) {
    const table = rs.tables.get(t);
    if (table === undefined) continue;
    for (const [name, chain] of table.chains) {
      if (!name.startsWith('KUBE-')) continue;
      const rules = chain.rules.map((r) => formatRule(name, r));
      if (['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-EXTERNAL-SERVICES', 'KUBE-PROXY-FIREWALL'].includes(name)) {
        const svcOf = (r: string): string => (r.includes('must be the last rule') ? '~' : /--comment "?([^ ":]+)/.exec(r)?.[1] ?? '');
        rules.sort((a, b) => (svcOf(a) < svcOf(b) ? -1 : svcOf(a) > svcOf(b) ? 1 : 0));
      }
      out[`${t}/${name}`] = rules;
    }
  }
  return out;
}
