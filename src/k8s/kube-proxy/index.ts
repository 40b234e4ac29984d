/**
 * kube-proxy (k8s layer): the rules kube-proxy's own proxiers write, from
 * the same Services and EndpointSlices.
 *
 * What: the public face of this folder — `IptablesProxier` (iptables.ts:
 * the iptables-restore payload of each sync, full then partial) and
 * `IpvsProxier` (ipvs.ts: virtual servers, kube-ipvs0 addresses, ipsets and
 * the KUBE-* iptables rules of ipvs mode), both fed by the change tracker
 * (tracker.ts) through add/update/delete of api.ts objects.
 * `iptablesOnce` / `ipvsOnce` (once.ts) run one sync over a list of parsed
 * objects, for the CLI; `KubeProxyFleet` (fleet.ts) runs the kube-proxy of
 * every node of a cluster, one sync for all nodes whose rules are the same.
 * Neighbours: api.ts (objects in), netfilter/ (restore.ts loads the
 * payloads; ipvs.ts and ipset.ts take the ipvs-mode state), the CLI
 * (`sdnemu kube-proxy --mode iptables|ipvs FILE.yaml`) on top.
 */
export {
  IptablesProxier, IPTABLES_JUMPS, computeProbability, endpointChain, hash16, isServiceChain, serviceChains,
  type JumpRule, type KubeProxyConfig, type LocalDetector, type SyncResult,
} from './iptables.js';
export { IpvsProxier, IPVS_JUMPS, type IpvsProxyConfig, type IpvsSyncResult } from './ipvs.js';
export { iptablesOnce, ipvsOnce, type IpvsOnce } from './once.js';
export { KubeProxyFleet, type FleetProxier, type FleetSync } from './fleet.js';
export { formatV6, joinHostPort, parseCidr, parseIp, type Family } from './ip.js';
export { ChangeTracker, KubeProxyError, categorize, servicePorts, type EndpointInfo, type ServicePortInfo } from './tracker.js';
