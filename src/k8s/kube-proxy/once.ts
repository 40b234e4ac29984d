/**
 * One kube-proxy sync over a set of objects (k8s layer, slow path): what
 * `sdnemu kube-proxy --mode iptables|ipvs FILE.yaml` prints.
 *
 * What: `iptablesOnce(objects, config)` and `ipvsOnce(objects, config)`
 * feed every Service and EndpointSlice of 'objects' (manifests already
 * parsed into api.ts types; other kinds are ignored, except the Node named
 * `config.hostname`, whose labels give the topology zone) to a fresh
 * proxier and return its first, full sync — for ipvs mode with the
 * resulting `ipset save` and `ipvsadm-save -n` texts.
 * Neighbours: iptables.ts, ipvs.ts; the CLI and the cluster model call it.
 */
import type { KubeObject } from '../api.js';
import { IptablesProxier, type KubeProxyConfig, type SyncResult } from './iptables.js';
import { IpvsProxier, type IpvsProxyConfig } from './ipvs.js';
import type { TrackedProxier } from './tracker.js';

function feed(p: TrackedProxier, objects: readonly KubeObject[], hostname: string): void {
  for (const o of objects) {
    if (o.kind === 'Service') p.addService(o);
    else if (o.kind === 'EndpointSlice') p.addEndpointSlice(o);
    else if (o.kind === 'Node' && o.metadata.name === hostname) p.setNodeLabels(o.metadata.labels ?? {});
  }
}

/** The iptables-restore payload (and the jump rules) of one full sync. */
export function iptablesOnce(objects: readonly KubeObject[], config: KubeProxyConfig, nowMs = 0): SyncResult {
  const p = new IptablesProxier(config);
  feed(p, objects, config.hostname);
  return p.sync(nowMs);
}

export interface IpvsOnce {
  /** iptables-restore payload of ipvs mode */
  iptables: string;
  /** the jump rules into the built-in chains */
  ensure: string;
  /** `ipset save` of the sets after the sync */
  ipsets: string;
  /** `ipvsadm-save -n` of the virtual servers */
  ipvsadm: string;
  /** kube-ipvs0's addresses */
  addresses: string[];
}

/** The state ipvs mode leaves after one sync. */
export function ipvsOnce(objects: readonly KubeObject[], config: IpvsProxyConfig, nowMs = 0): IpvsOnce {
  const p = new IpvsProxier(config);
  feed(p, objects, config.hostname);
  const r = p.sync(nowMs);
  return { iptables: r.iptables, ensure: r.ensure ?? '', ipsets: p.ipsets.save(), ipvsadm: p.ipvs.save(), addresses: r.addresses };
}
