/**
 * `kubectl get` tables (k8s layer, slow path): what a user would see of
 * the control plane's objects, for the CLI, examples and demos.
 *
 * What: `kubectlGet(cp, kind, { namespace, wide })` prints the columns
 * kubectl prints for pods (`-o wide` adds IP and NODE), services,
 * deployments, replicasets, nodes, endpointslices, jobs and statefulsets,
 * aligned as kubectl's tabwriter aligns them (three spaces between columns), with
 * AGE as apimachinery's HumanDuration writes it, on the control plane's
 * clock. Cluster-scoped kinds ignore the namespace.
 * Neighbours: control-plane.ts (the objects and the clock).
 */
import type { Kind, KubeObject, Node, Pod, Service } from '../api.js';
import type { ControlPlane } from './control-plane.js';
import { isPodReady, isTerminating } from './context.js';

/** apimachinery's duration.HumanDuration. */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  if (h < 24 * 8) return h % 24 === 0 ? `${Math.floor(h / 24)}d` : `${Math.floor(h / 24)}d${h % 24}h`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24)}d`;
  return `${Math.floor(h / 24 / 365)}y`;
}

function table(rows: string[][]): string {
  const width = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(width[i]! + 3))).join('').trimEnd()).join('\n');
}

function servicePorts(s: Service): string {
  const ports = (s.spec.ports ?? []).map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`);
  return ports.length ? ports.join(',') : '<none>';
}

function externalIP(s: Service): string {
  const ext = [...(s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? i.hostname ?? ''), ...(s.spec.externalIPs ?? [])].filter(Boolean);
  if (ext.length) return ext.join(',');
  if (s.spec.type === 'LoadBalancer') return '<pending>';
  if (s.spec.type === 'ExternalName') return s.spec.externalName ?? '<none>';
  return '<none>';
}

function nodeStatus(n: Node): string {
  const ready = n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? 'Ready' : 'NotReady';
  return n.spec?.unschedulable ? `${ready},SchedulingDisabled` : ready;
}

function podStatus(p: Pod): string {
  if (isTerminating(p)) return 'Terminating';
  if (p.status?.phase === 'Succeeded') return 'Completed';
  if (p.status?.phase === 'Failed') return 'Error';
  if (p.status?.phase === 'Running') return 'Running';
  return p.spec.nodeName ? 'ContainerCreating' : 'Pending';
}

/** The table `kubectl get <kind>` prints ('No resources found …' when there is nothing). */
export function kubectlGet(cp: ControlPlane, kind: Kind, opts: { namespace?: string; wide?: boolean } = {}): string {
  const ns = opts.namespace ?? 'default';
  const now = cp.nowMs();
  const age = (o: KubeObject): string => humanDuration(now - Date.parse(o.metadata.creationTimestamp ?? new Date(now).toISOString()));
  const scoped = kind === 'Node' || kind === 'Namespace';
  const objs = scoped ? cp.store.list(kind) : cp.store.list(kind, ns);
  if (objs.length === 0) return scoped ? 'No resources found' : `No resources found in ${ns} namespace.`;
  const rows: string[][] = [];
  switch (kind) {
    case 'Pod':
      rows.push(['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', ...(opts.wide ? ['IP', 'NODE'] : [])]);
      for (const p of objs as Pod[]) {
        const n = p.spec.containers.length;
        rows.push([p.metadata.name, `${isPodReady(p) ? n : 0}/${n}`, podStatus(p), '0', age(p),
          ...(opts.wide ? [p.status?.podIP ?? '<none>', p.spec.nodeName ?? '<none>'] : [])]);
      }
      break;
    case 'Service':
      rows.push(['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE']);
      for (const s of objs as Service[]) rows.push([s.metadata.name, s.spec.type ?? 'ClusterIP', s.spec.clusterIP ?? '<none>', externalIP(s), servicePorts(s), age(s)]);
      break;
    case 'Deployment':
      rows.push(['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE']);
      for (const d of cp.store.list('Deployment', ns)) {
        const st = d.status ?? {};
        rows.push([d.metadata.name, `${st.readyReplicas ?? 0}/${d.spec.replicas ?? 1}`, String(st.updatedReplicas ?? 0), String(st.availableReplicas ?? 0), age(d)]);
      }
      break;
    case 'ReplicaSet':
      rows.push(['NAME', 'DESIRED', 'CURRENT', 'READY', 'AGE']);
      for (const r of cp.store.list('ReplicaSet', ns)) rows.push([r.metadata.name, String(r.spec.replicas ?? 1), String(r.status?.replicas ?? 0), String(r.status?.readyReplicas ?? 0), age(r)]);
      break;
    case 'StatefulSet':
      rows.push(['NAME', 'READY', 'AGE']);
      for (const s of cp.store.list('StatefulSet', ns)) {
        const ready = cp.store.ownedBy('Pod', s.metadata.uid!).filter(isPodReady).length;
        rows.push([s.metadata.name, `${ready}/${s.spec.replicas ?? 1}`, age(s)]);
      }
      break;
    case 'Job':
      rows.push(['NAME', 'COMPLETIONS', 'AGE']);
      for (const j of cp.store.list('Job', ns)) rows.push([j.metadata.name, `${j.status?.succeeded ?? 0}/${j.spec.completions ?? 1}`, age(j)]);
      break;
    case 'Node':
      rows.push(['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION', ...(opts.wide ? ['INTERNAL-IP'] : [])]);
      for (const n of cp.store.list('Node')) {
        const roles = Object.keys(n.metadata.labels ?? {}).filter((k) => k.startsWith('node-role.kubernetes.io/')).map((k) => k.slice('node-role.kubernetes.io/'.length)).sort();
        rows.push([n.metadata.name, nodeStatus(n), roles.join(',') || '<none>', age(n), 'v1.33.0',
          ...(opts.wide ? [n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '<none>'] : [])]);
      }
      break;
    case 'EndpointSlice':
      rows.push(['NAME', 'ADDRESSTYPE', 'PORTS', 'ENDPOINTS', 'AGE']);
      for (const s of cp.store.list('EndpointSlice', ns)) {
        const addrs = s.endpoints.flatMap((e) => e.addresses);
        const shown = addrs.length === 0 ? '<unset>' : addrs.length > 3 ? `${addrs.slice(0, 3).join(',')} + ${addrs.length - 3} more...` : addrs.join(',');
        const ports = (s.ports ?? []).map((p) => String(p.port)).join(',') || '<unset>';
        rows.push([s.metadata.name, s.addressType, ports, shown, age(s)]);
      }
      break;
    default:
      rows.push(['NAME', 'AGE']);
      for (const o of objs) rows.push([o.metadata.name, age(o)]);
  }
  return table(rows);
}
