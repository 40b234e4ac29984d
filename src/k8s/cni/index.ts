/**
 * The CNI (k8s layer): re-exports of the cluster data plane (network.ts), the
 * OVS pipeline (pipeline.ts) and the NetworkPolicy compiler (policy.ts).
 */
export { ClusterNetwork, CniNode, CniPod, antreaNodeRules, type ClusterNetworkOptions, type CniNodeSpec, type CniPodSpec, type IpvsSync } from './network.js';
export { TABLES, tableName, CT_ZONE, GLOBAL_VIRTUAL_MAC, GATEWAY_CT_MARK, TUNNEL_OFPORT, GATEWAY_OFPORT, flowText, type Flow, type TableName } from './pipeline.js';
export { CniError } from './errors.js';
export { compilePolicies, ipBlockCidrs, portPrefixes, POLICY_TABLES, DEFAULT_DROP_COOKIE, type PolicyPod } from './policy.js';
