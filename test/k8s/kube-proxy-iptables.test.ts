/**
 * kube-proxy's iptables mode: the payloads IptablesProxier writes, compared with what
 * kube-proxy's own tests expect (pkg/proxy/iptables/proxier_test.go, read and transcribed:
 * TestOverallIPTablesRules, TestSyncProxyRulesRepeated, TestMasqueradeRule, TestComputeProbability,
 * TestOnlyLocalNodePorts(NoClusterCIDR), TestDisableLocalhostNodePortsIPv6,
 * TestInternalTrafficPolicyE2E, TestTerminatingEndpointsTrafficPolicyLocal), sorted as its
 * assertIPTablesRulesEqual sorts them (full syncs also pass its jump-consistency check). Where
 * the upstream test checks packets rather than text (TestInternalTrafficPolicy, the
 * configuration cases, large-cluster mode), the expected text is derived by hand from
 * syncProxyRules for the same inputs. Then payloads are loaded with the project's
 * iptables-restore parser and packets to a ClusterIP, a NodePort and a Service without
 * endpoints are run through the project's netfilter stack.
 */
import { describe, expect, it } from 'vitest';
import { IptablesProxier, computeProbability, endpointChain, hash16, serviceChains, type KubeProxyConfig } from '../../src/k8s/kube-proxy/index.js';
import { KubeProxyError } from '../../src/k8s/kube-proxy/tracker.js';
import type { EndpointSlice, Service } from '../../src/k8s/api.js';
import { parseRestore } from '../../src/netfilter/restore.js';
import { Ruleset } from '../../src/netfilter/model.js';
import { parseHost } from '../../src/netfilter/host.js';
import { NfStack } from '../../src/netfilter/stack.js';
import { FrameBuilder } from '../../src/wire/builder.js';
import { packetText } from '../../src/cli/iptables-trace.js';
import { checkJumps, dedent, slice, sortRules, svc } from './kube-proxy-helpers.js';

// NewFakeProxier's configuration: node test-node, node IP 192.168.0.2, pod CIDR 10.0.0.0/8, the
// masquerade mark set to the literal "0x4000" (NewProxier would format bit 14 as 0x00004000), and
// both nfacct counters present (older upstream versions, transcribed with nfacct: false, had none)
const FAKE: KubeProxyConfig = {
  hostname: 'test-node', nodeIPs: ['192.168.0.2'], localDetector: { mode: 'cluster-cidr', clusterCIDR: '10.0.0.0/8' }, masqueradeMark: '0x4000',
  nfacct: true,
};

function proxier(extra: Partial<KubeProxyConfig> = {}): IptablesProxier {
  return new IptablesProxier({ ...FAKE, ...extra });
}
function expectRules(actual: string, expected: string, full = true): void {
  expect(sortRules(actual)).toBe(sortRules(dedent(expected)));
  if (full) expect(checkJumps(actual)).toEqual([]);
}
const port = (name: string, p: number, proto: 'TCP' | 'UDP' = 'TCP'): NonNullable<EndpointSlice['ports']>[number] => ({ name, port: p, protocol: proto });

const FILTER_HEAD = `
  *filter
  :KUBE-NODEPORTS - [0:0]
  :KUBE-SERVICES - [0:0]
  :KUBE-EXTERNAL-SERVICES - [0:0]
  :KUBE-FIREWALL - [0:0]
  :KUBE-FORWARD - [0:0]
  :KUBE-PROXY-FIREWALL - [0:0]`;
const FILTER_TAIL = `
  -A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
  -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
  -A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
  -A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
  COMMIT`;
const NAT_BASE = `
  -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
  -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
  -A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
  -A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE`;
const NAT_HEAD = `
  *nat
  :KUBE-NODEPORTS - [0:0]
  :KUBE-SERVICES - [0:0]
  :KUBE-MARK-MASQ - [0:0]
  :KUBE-POSTROUTING - [0:0]`;
const SVC1_CIP = '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O';
const SVC3_CIP = '-A KUBE-SERVICES -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 -j KUBE-SVC-X27LE4BHSL4DOUIK';
// the filter table without KUBE-FIREWALL and the nat head of TestOnlyLocalNodePorts / TestDisableLocalhostNodePortsIPv6
const LOCAL_NP_HEAD = `
  *filter
  :KUBE-NODEPORTS - [0:0]
  :KUBE-SERVICES - [0:0]
  :KUBE-EXTERNAL-SERVICES - [0:0]
  :KUBE-FORWARD - [0:0]
  :KUBE-PROXY-FIREWALL - [0:0]
  -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
  -A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
  -A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
  COMMIT
  *nat
  :KUBE-NODEPORTS - [0:0]
  :KUBE-SERVICES - [0:0]
  :KUBE-EXT-XPGD46QRK7WJZT7O - [0:0]
  :KUBE-MARK-MASQ - [0:0]
  :KUBE-POSTROUTING - [0:0]`;
const EXT_LOCAL = `
  -A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment "masquerade LOCAL traffic for ns1/svc1:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
  -A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment "route LOCAL traffic for ns1/svc1:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-XPGD46QRK7WJZT7O
  -A KUBE-EXT-XPGD46QRK7WJZT7O -j KUBE-SVL-XPGD46QRK7WJZT7O`;
const LAST = '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS';

describe('chain names and probabilities', () => {
  it('hash as kube-proxy: base32(sha256(...))[:16], canonical endpoint IPs', () => {
    expect(hash16('ns1/svc1:p80tcp')).toBe('XPGD46QRK7WJZT7O');
    expect(serviceChains('ns1/svc1', 'tcp').svc).toBe('KUBE-SVC-AQI2S6QIMU7PVVRP'); // an unnamed port (TestInternalTrafficPolicyE2E)
    expect(endpointChain('ns1/svc1:p80', 'tcp', '10.180.0.1:80')).toBe('KUBE-SEP-SXIVWICOYRO3J4NJ');
    expect(serviceChains('ns2/svc2:p80', 'tcp')).toEqual({
      svc: 'KUBE-SVC-GNZBNJ2PO5MGZ6GT', svl: 'KUBE-SVL-GNZBNJ2PO5MGZ6GT', ext: 'KUBE-EXT-GNZBNJ2PO5MGZ6GT', fw: 'KUBE-FW-GNZBNJ2PO5MGZ6GT',
    });
  });
  it('TestComputeProbability: %0.10f of 1/n', () => {
    const want: [number, string][] = [[1, '1.0000000000'], [2, '0.5000000000'], [10, '0.1000000000'], [100, '0.0100000000'],
      [1000, '0.0010000000'], [10000, '0.0001000000'], [100000, '0.0000100000'], [100001, '0.0000099999']];
    for (const [n, s] of want) expect(computeProbability(n)).toBe(s);
    // and sampled values up to 2e5 parses back to 1/n within the printed precision, never equal for neighbours
    let prev = '';
    for (let n = 1; n <= 200000; n += 97) {
      const s = computeProbability(n);
      expect(Math.abs(Number(s) - 1 / n)).toBeLessThanOrEqual(5e-11);
      expect(s).not.toBe(prev);
      prev = s;
    }
  });
});

// TestOverallIPTablesRules: six services of every kind, nfacct counters present
function overallObjects(): { services: Service[]; slices: EndpointSlice[] } {
  const services = [
    svc('ns1', 'svc1', (s) => { s.spec.clusterIP = '172.30.0.41'; s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP' }]; }),
    svc('ns2', 'svc2', (s) => {
      s.spec.type = 'LoadBalancer'; s.spec.externalTrafficPolicy = 'Local'; s.spec.clusterIP = '172.30.0.42';
      s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 3001 }];
      s.status = { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } };
      s.spec.externalIPs = ['192.168.99.22']; s.spec.healthCheckNodePort = 30000;
    }),
    svc('ns3', 'svc3', (s) => { s.spec.type = 'NodePort'; s.spec.clusterIP = '172.30.0.43'; s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 3003 }]; }),
    svc('ns4', 'svc4', (s) => {
      s.spec.type = 'NodePort'; s.spec.clusterIP = '172.30.0.44'; s.spec.externalIPs = ['192.168.99.33'];
      s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP', targetPort: 80 }];
    }),
    svc('ns5', 'svc5', (s) => {
      s.spec.type = 'LoadBalancer'; s.spec.externalTrafficPolicy = 'Cluster'; s.spec.clusterIP = '172.30.0.45';
      s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 3002 }];
      s.status = { loadBalancer: { ingress: [{ ip: '5.6.7.8' }] } };
      s.spec.healthCheckNodePort = 30000;
      s.spec.loadBalancerSourceRanges = [' 203.0.113.0/25'];
      s.spec.sessionAffinity = 'ClientIP'; s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 10800 } };
    }),
    svc('ns6', 'svc6', (s) => { s.spec.type = 'ClusterIP'; s.spec.clusterIP = '172.30.0.46'; s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP', targetPort: 80 }]; }),
  ];
  const slices = [
    slice('ns1', 'svc1', 1, (e) => { e.endpoints = [{ addresses: ['10.180.0.1'] }]; e.ports = [port('p80', 80)]; }),
    slice('ns2', 'svc2', 1, (e) => { e.endpoints = [{ addresses: ['10.180.0.2'] }]; e.ports = [port('p80', 80)]; }),
    slice('ns3', 'svc3', 1, (e) => { e.endpoints = [{ addresses: ['10.180.0.3'] }]; e.ports = [port('p80', 80)]; }),
    slice('ns4', 'svc4', 1, (e) => { e.endpoints = [{ addresses: ['10.180.0.4'] }, { addresses: ['10.180.0.5'], nodeName: 'test-node' }]; e.ports = [port('p80', 80)]; }),
    slice('ns5', 'svc5', 1, (e) => { e.endpoints = [{ addresses: ['10.180.0.3'] }]; e.ports = [port('p80', 80)]; }),
  ];
  return { services, slices };
}

const OVERALL = `${FILTER_HEAD}
  -A KUBE-NODEPORTS -m comment --comment "ns2/svc2:p80 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT
  -A KUBE-SERVICES -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.46 --dport 80 -j REJECT
  -A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j DROP
  -A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP
  -A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j DROP
  -A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
  -A KUBE-FORWARD -m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP
  -A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
  -A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
  -A KUBE-PROXY-FIREWALL -m comment --comment "ns5/svc5:p80 traffic not accepted by KUBE-FW-NUKIZ6OKUXPJNT4C" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j DROP
  COMMIT
  *nat
  :KUBE-NODEPORTS - [0:0]
  :KUBE-SERVICES - [0:0]
  :KUBE-EXT-4SW47YFZTEDKD3PK - [0:0]
  :KUBE-EXT-GNZBNJ2PO5MGZ6GT - [0:0]
  :KUBE-EXT-NUKIZ6OKUXPJNT4C - [0:0]
  :KUBE-EXT-X27LE4BHSL4DOUIK - [0:0]
  :KUBE-FW-NUKIZ6OKUXPJNT4C - [0:0]
  :KUBE-MARK-MASQ - [0:0]
  :KUBE-POSTROUTING - [0:0]
  :KUBE-SEP-C6EBXVWJJZMIWKLZ - [0:0]
  :KUBE-SEP-I77PXRDZVX7PMWMN - [0:0]
  :KUBE-SEP-OYPFS5VJICHGATKP - [0:0]
  :KUBE-SEP-RS4RBKLTHTF2IUXJ - [0:0]
  :KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
  :KUBE-SEP-UKSFD7AGPMPPLUHC - [0:0]
  :KUBE-SVC-4SW47YFZTEDKD3PK - [0:0]
  :KUBE-SVC-GNZBNJ2PO5MGZ6GT - [0:0]
  :KUBE-SVC-NUKIZ6OKUXPJNT4C - [0:0]
  :KUBE-SVC-X27LE4BHSL4DOUIK - [0:0]
  :KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
  -A KUBE-NODEPORTS -m comment --comment ns2/svc2:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3001 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
  -A KUBE-NODEPORTS -m comment --comment ns2/svc2:p80 -m tcp -p tcp --dport 3001 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
  -A KUBE-NODEPORTS -m comment --comment ns3/svc3:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3003 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-X27LE4BHSL4DOUIK
  -A KUBE-NODEPORTS -m comment --comment ns3/svc3:p80 -m tcp -p tcp --dport 3003 -j KUBE-EXT-X27LE4BHSL4DOUIK
  -A KUBE-NODEPORTS -m comment --comment ns5/svc5:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3002 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-NUKIZ6OKUXPJNT4C
  -A KUBE-NODEPORTS -m comment --comment ns5/svc5:p80 -m tcp -p tcp --dport 3002 -j KUBE-EXT-NUKIZ6OKUXPJNT4C
  -A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
  -A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
  -A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 external IP" -m tcp -p tcp -d 192.168.99.22 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
  -A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 loadbalancer IP" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
  -A KUBE-SERVICES -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 -j KUBE-SVC-X27LE4BHSL4DOUIK
  -A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j KUBE-SVC-4SW47YFZTEDKD3PK
  -A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 external IP" -m tcp -p tcp -d 192.168.99.33 --dport 80 -j KUBE-EXT-4SW47YFZTEDKD3PK
  -A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 cluster IP" -m tcp -p tcp -d 172.30.0.45 --dport 80 -j KUBE-SVC-NUKIZ6OKUXPJNT4C
  -A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 loadbalancer IP" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j KUBE-FW-NUKIZ6OKUXPJNT4C
  -A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
  -A KUBE-EXT-4SW47YFZTEDKD3PK -m comment --comment "masquerade traffic for ns4/svc4:p80 external destinations" -j KUBE-MARK-MASQ
  -A KUBE-EXT-4SW47YFZTEDKD3PK -j KUBE-SVC-4SW47YFZTEDKD3PK
  -A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "pod traffic for ns2/svc2:p80 external destinations" -s 10.0.0.0/8 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
  -A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "masquerade LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
  -A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "route LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
  -A KUBE-EXT-NUKIZ6OKUXPJNT4C -m comment --comment "masquerade traffic for ns5/svc5:p80 external destinations" -j KUBE-MARK-MASQ
  -A KUBE-EXT-NUKIZ6OKUXPJNT4C -j KUBE-SVC-NUKIZ6OKUXPJNT4C
  -A KUBE-EXT-X27LE4BHSL4DOUIK -m comment --comment "masquerade traffic for ns3/svc3:p80 external destinations" -j KUBE-MARK-MASQ
  -A KUBE-EXT-X27LE4BHSL4DOUIK -j KUBE-SVC-X27LE4BHSL4DOUIK
  -A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 loadbalancer IP" -s 203.0.113.0/25 -j KUBE-EXT-NUKIZ6OKUXPJNT4C
  -A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "other traffic to ns5/svc5:p80 will be dropped by KUBE-PROXY-FIREWALL"
  -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
  -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
  -A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
  -A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
  -A KUBE-SEP-C6EBXVWJJZMIWKLZ -m comment --comment ns4/svc4:p80 -s 10.180.0.5 -j KUBE-MARK-MASQ
  -A KUBE-SEP-C6EBXVWJJZMIWKLZ -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.5:80
  -A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
  -A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -m recent --name KUBE-SEP-I77PXRDZVX7PMWMN --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
  -A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
  -A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
  -A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -s 10.180.0.2 -j KUBE-MARK-MASQ
  -A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80
  -A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
  -A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
  -A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -s 10.180.0.4 -j KUBE-MARK-MASQ
  -A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.4:80
  -A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
  -A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.4:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-UKSFD7AGPMPPLUHC
  -A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.5:80" -j KUBE-SEP-C6EBXVWJJZMIWKLZ
  -A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
  -A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 -> 10.180.0.2:80" -j KUBE-SEP-RS4RBKLTHTF2IUXJ
  -A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 cluster IP" -m tcp -p tcp -d 172.30.0.45 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
  -A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" -m recent --name KUBE-SEP-I77PXRDZVX7PMWMN --rcheck --seconds 10800 --reap -j KUBE-SEP-I77PXRDZVX7PMWMN
  -A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" -j KUBE-SEP-I77PXRDZVX7PMWMN
  -A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
  -A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.180.0.3:80" -j KUBE-SEP-OYPFS5VJICHGATKP
  -A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
  -A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j KUBE-SEP-SXIVWICOYRO3J4NJ
  COMMIT
`;

describe('full syncs (golden, from proxier_test.go)', () => {
  it('TestOverallIPTablesRules', () => {
    const p = proxier();
    const { services, slices } = overallObjects();
    services.forEach((s) => p.addService(s));
    slices.forEach((e) => p.addEndpointSlice(e));
    const r = p.sync(0);
    expect(r.full).toBe(true);
    expectRules(r.payload, OVERALL);
    // whatever order the services come in, the sorted result is the same
    const q = proxier();
    [...services].reverse().forEach((s) => q.addService(s));
    [...slices].reverse().forEach((e) => q.addEndpointSlice(e));
    expect(sortRules(q.sync(0).payload)).toBe(sortRules(r.payload));
  });

  it('TestMasqueradeRule: no services; MASQUERADE with and without --random-fully', () => {
    for (const randomFully of [false, true]) {
      const r = proxier({ nfacct: false, randomFully }).sync(0);
      expectRules(r.payload, `${FILTER_HEAD}${FILTER_TAIL}${NAT_HEAD}
        ${LAST}
        -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
        -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
        -A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
        -A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE${randomFully ? ' --random-fully' : ''}
        COMMIT
      `);
    }
  });
});

// TestOnlyLocalNodePorts / TestOnlyLocalNodePortsNoClusterCIDR: eTP=Local NodePort, nodePortAddresses
// 192.168.0.0/24 (+ an IPv6 CIDR the IPv4 proxier ignores), localhost NodePorts off
function onlyLocalNodePorts(extra: Partial<KubeProxyConfig>, ext: string, masq: string): void {
  const p = proxier({ nfacct: false, nodePortAddresses: ['192.168.0.0/24', '2001:db8::/64'], localhostNodePorts: false, ...extra });
  p.addService(svc('ns1', 'svc1', (s) => {
    s.spec.type = 'NodePort'; s.spec.clusterIP = '172.30.0.41'; s.spec.externalTrafficPolicy = 'Local';
    s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 3001 }];
  }));
  p.addEndpointSlice(slice('ns1', 'svc1', 1, (e) => { e.endpoints = [{ addresses: ['10.180.0.1'] }, { addresses: ['10.180.2.1'], nodeName: 'test-node' }]; e.ports = [port('p80', 80)]; }));
  expectRules(p.sync(0).payload, `${LOCAL_NP_HEAD}
    :KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
    :KUBE-SEP-ZX7GRIZKSNUQ3LAJ - [0:0]
    :KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
    :KUBE-SVL-XPGD46QRK7WJZT7O - [0:0]
    -A KUBE-NODEPORTS -m comment --comment ns1/svc1:p80 -m tcp -p tcp --dport 3001 -j KUBE-EXT-XPGD46QRK7WJZT7O
    -A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
    -A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -d 192.168.0.2 -j KUBE-NODEPORTS${ext}${EXT_LOCAL}${NAT_BASE}
    -A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
    -A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
    -A KUBE-SEP-ZX7GRIZKSNUQ3LAJ -m comment --comment ns1/svc1:p80 -s 10.180.2.1 -j KUBE-MARK-MASQ
    -A KUBE-SEP-ZX7GRIZKSNUQ3LAJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.2.1:80${masq}
    -A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-SXIVWICOYRO3J4NJ
    -A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.2.1:80" -j KUBE-SEP-ZX7GRIZKSNUQ3LAJ
    -A KUBE-SVL-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.2.1:80" -j KUBE-SEP-ZX7GRIZKSNUQ3LAJ
    COMMIT
  `);
}

describe('NodePorts with eTP=Local (golden, from proxier_test.go)', () => {
  it('TestOnlyLocalNodePorts', () => {
    onlyLocalNodePorts({}, `
    -A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment "pod traffic for ns1/svc1:p80 external destinations" -s 10.0.0.0/8 -j KUBE-SVC-XPGD46QRK7WJZT7O`, `
    -A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ`);
  });
  it('TestOnlyLocalNodePortsNoClusterCIDR', () => {
    onlyLocalNodePorts({ localDetector: { mode: 'none' } }, '', '');
  });
});

describe('IPv6 (golden, from proxier_test.go)', () => {
  it('TestDisableLocalhostNodePortsIPv6: no KUBE-FIREWALL, ::1 excluded, bracketed endpoints', () => {
    const p = new IptablesProxier({ hostname: 'test-node', ipFamily: 'IPv6', nodeIPs: ['192.168.0.2', '2001:db8::1'], nfacct: false, localhostNodePorts: false, masqueradeMark: '0x4000' });
    p.addService(svc('ns1', 'svc1', (s) => {
      s.spec.type = 'NodePort'; s.spec.clusterIP = 'fd00:ab34::20'; s.spec.externalTrafficPolicy = 'Local';
      s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 30001 }];
    }));
    p.addEndpointSlice(slice('ns1', 'svc1', 1, (e) => {
      e.addressType = 'IPv6';
      e.endpoints = [{ addresses: ['ff06::c1'] }, { addresses: ['FF06:0:0::00C2'], nodeName: 'test-node' }];
      e.ports = [port('p80', 80)];
    }));
    // an IPv4 slice of the same Service is the other proxier's
    p.addEndpointSlice(slice('ns1', 'svc1', 2, (e) => { e.endpoints = [{ addresses: ['10.0.0.9'] }]; e.ports = [port('p80', 80)]; }));
    expectRules(p.sync(0).payload, `${LOCAL_NP_HEAD}
      :KUBE-SEP-LIGRYQQLSZN4UWQ5 - [0:0]
      :KUBE-SEP-XJJ5QXWGJG344QDZ - [0:0]
      :KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
      :KUBE-SVL-XPGD46QRK7WJZT7O - [0:0]
      -A KUBE-NODEPORTS -m comment --comment ns1/svc1:p80 -m tcp -p tcp --dport 30001 -j KUBE-EXT-XPGD46QRK7WJZT7O
      -A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d fd00:ab34::20 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
      -A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL ! -d ::1/128 -j KUBE-NODEPORTS${EXT_LOCAL}${NAT_BASE}
      -A KUBE-SEP-LIGRYQQLSZN4UWQ5 -m comment --comment ns1/svc1:p80 -s ff06::c1 -j KUBE-MARK-MASQ
      -A KUBE-SEP-LIGRYQQLSZN4UWQ5 -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination [ff06::c1]:80
      -A KUBE-SEP-XJJ5QXWGJG344QDZ -m comment --comment ns1/svc1:p80 -s ff06::c2 -j KUBE-MARK-MASQ
      -A KUBE-SEP-XJJ5QXWGJG344QDZ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination [ff06::c2]:80
      -A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> [ff06::c1]:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-LIGRYQQLSZN4UWQ5
      -A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> [ff06::c2]:80" -j KUBE-SEP-XJJ5QXWGJG344QDZ
      -A KUBE-SVL-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> [ff06::c2]:80" -j KUBE-SEP-XJJ5QXWGJG344QDZ
      COMMIT
    `);
  });
});

describe('partial syncs (TestSyncProxyRulesRepeated)', () => {
  it('rewrites only the changed services, deletes stale chains', () => {
    const p = proxier({ nfacct: false });
    const svc2 = svc('ns2', 'svc2', (s) => { s.spec.type = 'ClusterIP'; s.spec.clusterIP = '172.30.0.42'; s.spec.ports = [{ name: 'p8080', port: 8080, protocol: 'TCP' }]; });
    p.addService(svc('ns1', 'svc1', (s) => { s.spec.type = 'ClusterIP'; s.spec.clusterIP = '172.30.0.41'; s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP' }]; }));
    p.addService(svc2);
    p.addEndpointSlice(slice('ns1', 'svc1', 1, (e) => { e.endpoints = [{ addresses: ['10.0.1.1'] }]; e.ports = [port('p80', 80)]; }));
    p.addEndpointSlice(slice('ns2', 'svc2', 1, (e) => { e.endpoints = [{ addresses: ['10.0.2.1'] }]; e.ports = [port('p8080', 8080)]; }));
    let r = p.sync(0);
    expect(r.full).toBe(true);
    expectRules(r.payload, `${FILTER_HEAD}${FILTER_TAIL}${NAT_HEAD}
      :KUBE-SEP-SNQ3ZNILQDEJNDQO - [0:0]
      :KUBE-SEP-UHEGFW77JX3KXTOV - [0:0]
      :KUBE-SVC-2VJB64SDSIJUP5T6 - [0:0]
      :KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
      ${SVC1_CIP}
      -A KUBE-SERVICES -m comment --comment "ns2/svc2:p8080 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 8080 -j KUBE-SVC-2VJB64SDSIJUP5T6
      ${LAST}${NAT_BASE}
      -A KUBE-SEP-SNQ3ZNILQDEJNDQO -m comment --comment ns1/svc1:p80 -s 10.0.1.1 -j KUBE-MARK-MASQ
      -A KUBE-SEP-SNQ3ZNILQDEJNDQO -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.1.1:80
      -A KUBE-SEP-UHEGFW77JX3KXTOV -m comment --comment ns2/svc2:p8080 -s 10.0.2.1 -j KUBE-MARK-MASQ
      -A KUBE-SEP-UHEGFW77JX3KXTOV -m comment --comment ns2/svc2:p8080 -m tcp -p tcp -j DNAT --to-destination 10.0.2.1:8080
      -A KUBE-SVC-2VJB64SDSIJUP5T6 -m comment --comment "ns2/svc2:p8080 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 8080 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
      -A KUBE-SVC-2VJB64SDSIJUP5T6 -m comment --comment "ns2/svc2:p8080 -> 10.0.2.1:8080" -j KUBE-SEP-UHEGFW77JX3KXTOV
      -A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
      -A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.0.1.1:80" -j KUBE-SEP-SNQ3ZNILQDEJNDQO
      COMMIT
    `);

    // a new service and its endpoints: only its chains are written
    p.addService(svc('ns3', 'svc3', (s) => { s.spec.type = 'ClusterIP'; s.spec.clusterIP = '172.30.0.43'; s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP' }]; }));
    const eps3 = slice('ns3', 'svc3', 1, (e) => { e.endpoints = [{ addresses: ['10.0.3.1'] }]; e.ports = [port('p80', 80)]; });
    p.addEndpointSlice(eps3);
    r = p.sync(1000);
    expect(r.full).toBe(false);
    expectRules(r.payload, `${FILTER_HEAD}${FILTER_TAIL}${NAT_HEAD}
      :KUBE-SEP-BSWRHOQ77KEXZLNL - [0:0]
      :KUBE-SVC-X27LE4BHSL4DOUIK - [0:0]
      ${SVC1_CIP}
      -A KUBE-SERVICES -m comment --comment "ns2/svc2:p8080 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 8080 -j KUBE-SVC-2VJB64SDSIJUP5T6
      ${SVC3_CIP}
      ${LAST}${NAT_BASE}
      -A KUBE-SEP-BSWRHOQ77KEXZLNL -m comment --comment ns3/svc3:p80 -s 10.0.3.1 -j KUBE-MARK-MASQ
      -A KUBE-SEP-BSWRHOQ77KEXZLNL -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.3.1:80
      -A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
      -A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.0.3.1:80" -j KUBE-SEP-BSWRHOQ77KEXZLNL
      COMMIT
    `, false);

    // delete a service: its chains flushed and deleted, the others untouched
    p.deleteService(svc2);
    r = p.sync(2000);
    expectRules(r.payload, `${FILTER_HEAD}${FILTER_TAIL}${NAT_HEAD}
      :KUBE-SEP-UHEGFW77JX3KXTOV - [0:0]
      :KUBE-SVC-2VJB64SDSIJUP5T6 - [0:0]
      ${SVC1_CIP}
      ${SVC3_CIP}
      ${LAST}${NAT_BASE}
      -X KUBE-SEP-UHEGFW77JX3KXTOV
      -X KUBE-SVC-2VJB64SDSIJUP5T6
      COMMIT
    `, false);

    // a service without endpoints: only its REJECT rule
    p.addService(svc('ns4', 'svc4', (s) => { s.spec.type = 'ClusterIP'; s.spec.clusterIP = '172.30.0.44'; s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP' }]; }));
    r = p.sync(3000);
    expectRules(r.payload, `${FILTER_HEAD}
      -A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j REJECT${FILTER_TAIL}${NAT_HEAD}
      ${SVC1_CIP}
      ${SVC3_CIP}
      ${LAST}${NAT_BASE}
      COMMIT
    `, false);

    // its endpoints arrive
    p.addEndpointSlice(slice('ns4', 'svc4', 1, (e) => { e.endpoints = [{ addresses: ['10.0.4.1'] }]; e.ports = [port('p80', 80)]; }));
    r = p.sync(4000);
    expectRules(r.payload, `${FILTER_HEAD}${FILTER_TAIL}${NAT_HEAD}
      :KUBE-SEP-AYCN5HPXMIRJNJXU - [0:0]
      :KUBE-SVC-4SW47YFZTEDKD3PK - [0:0]
      ${SVC1_CIP}
      ${SVC3_CIP}
      -A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j KUBE-SVC-4SW47YFZTEDKD3PK
      ${LAST}${NAT_BASE}
      -A KUBE-SEP-AYCN5HPXMIRJNJXU -m comment --comment ns4/svc4:p80 -s 10.0.4.1 -j KUBE-MARK-MASQ
      -A KUBE-SEP-AYCN5HPXMIRJNJXU -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.4.1:80
      -A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
      -A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.0.4.1:80" -j KUBE-SEP-AYCN5HPXMIRJNJXU
      COMMIT
    `, false);

    // an endpoint of an existing service changes: its SVC and SEP chains rewritten, the old SEP deleted
    p.updateEndpointSlice({ ...eps3, endpoints: [{ addresses: ['10.0.3.2'] }] });
    r = p.sync(5000);
    expectRules(r.payload, `${FILTER_HEAD}${FILTER_TAIL}${NAT_HEAD}
      :KUBE-SEP-BSWRHOQ77KEXZLNL - [0:0]
      :KUBE-SEP-DKCFIS26GWF2WLWC - [0:0]
      :KUBE-SVC-X27LE4BHSL4DOUIK - [0:0]
      ${SVC1_CIP}
      ${SVC3_CIP}
      -A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j KUBE-SVC-4SW47YFZTEDKD3PK
      ${LAST}${NAT_BASE}
      -A KUBE-SEP-DKCFIS26GWF2WLWC -m comment --comment ns3/svc3:p80 -s 10.0.3.2 -j KUBE-MARK-MASQ
      -A KUBE-SEP-DKCFIS26GWF2WLWC -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.3.2:80
      -A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
      -A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.0.3.2:80" -j KUBE-SEP-DKCFIS26GWF2WLWC
      -X KUBE-SEP-BSWRHOQ77KEXZLNL
      COMMIT
    `, false);

    // nothing changed: no service chains at all; an update to the same content is no change
    p.updateEndpointSlice({ ...eps3, endpoints: [{ addresses: ['10.0.3.2'] }] });
    r = p.sync(6000);
    expect(r.payload).not.toMatch(/^:KUBE-(SVC|SEP)-/m);
    // a forced full sync writes everything again
    p.forceFullSync();
    r = p.sync(7000);
    expect(r.full).toBe(true);
    expect(checkJumps(r.payload)).toEqual([]);
    expect(r.payload.match(/^:KUBE-SVC-/gm)).toHaveLength(3);
  });
});

// ns1/svc1, ClusterIP 172.30.1.1, unnamed port 80. The two internalTrafficPolicy cases are
// TestInternalTrafficPolicyE2E's goldens; the others are syncProxyRules applied by hand to the inputs
// of upstream tests that check packets rather than text.
const C = serviceChains('ns1/svc1', 'tcp');
const sep = (ep: string): string => endpointChain('ns1/svc1', 'tcp', ep);
type Ep = { ip: string; node?: string; ready?: boolean; serving?: boolean; terminating?: boolean };
function svc1(p: IptablesProxier, f: (s: Service) => void, eps: Ep[]): void {
  p.addService(svc('ns1', 'svc1', (s) => { s.spec.clusterIP = '172.30.1.1'; s.spec.ports = [{ port: 80, protocol: 'TCP' }]; f(s); }));
  p.addEndpointSlice(slice('ns1', 'svc1', 1, (e) => {
    e.ports = [port('', 80)];
    e.endpoints = eps.map((x) => ({
      addresses: [x.ip], ...(x.node !== undefined ? { nodeName: x.node } : {}),
      conditions: { ...(x.ready !== undefined ? { ready: x.ready } : {}), ...(x.serving !== undefined ? { serving: x.serving } : {}), ...(x.terminating !== undefined ? { terminating: x.terminating } : {}) },
    }));
  }));
}
const SEP_RULES = (ip: string): string => `
  -A ${sep(`${ip}:80`)} -m comment --comment ns1/svc1 -s ${ip} -j KUBE-MARK-MASQ
  -A ${sep(`${ip}:80`)} -m comment --comment ns1/svc1 -m tcp -p tcp -j DNAT --to-destination ${ip}:80`;
const CIP_MASQ = (chain: string): string => `-A ${chain} -m comment --comment "ns1/svc1 cluster IP" -m tcp -p tcp -d 172.30.1.1 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ`;
const CIP_JUMP = (chain: string): string => `-A KUBE-SERVICES -m comment --comment "ns1/svc1 cluster IP" -m tcp -p tcp -d 172.30.1.1 --dport 80 -j ${chain}`;

describe('traffic policies and endpoint conditions (derived)', () => {
  it('TestInternalTrafficPolicy, local with one local endpoint: only KUBE-SVL, only the local endpoint', () => {
    const p = proxier({ nfacct: false });
    svc1(p, (s) => { s.spec.internalTrafficPolicy = 'Local'; }, [{ ip: '10.0.1.1', node: 'test-node' }, { ip: '10.0.1.2', node: 'node1' }, { ip: '10.0.1.3', node: 'node2' }]);
    expectRules(p.sync(0).payload, `${FILTER_HEAD}${FILTER_TAIL}${NAT_HEAD}
      :${C.svl} - [0:0]
      :${sep('10.0.1.1:80')} - [0:0]
      ${CIP_JUMP(C.svl)}
      ${LAST}${NAT_BASE}${SEP_RULES('10.0.1.1')}
      ${CIP_MASQ(C.svl)}
      -A ${C.svl} -m comment --comment "ns1/svc1 -> 10.0.1.1:80" -j ${sep('10.0.1.1:80')}
      COMMIT
    `);
  });

  it('TestInternalTrafficPolicy, local without local endpoints: a filter DROP, no nat chains', () => {
    const p = proxier({ nfacct: false });
    svc1(p, (s) => { s.spec.internalTrafficPolicy = 'Local'; }, [{ ip: '10.0.1.1', node: 'node0' }, { ip: '10.0.1.2', node: 'node1' }]);
    expectRules(p.sync(0).payload, `${FILTER_HEAD}
      -A KUBE-SERVICES -m comment --comment "ns1/svc1 has no local endpoints" -m tcp -p tcp -d 172.30.1.1 --dport 80 -j DROP${FILTER_TAIL}${NAT_HEAD}
      ${LAST}${NAT_BASE}
      COMMIT
    `);
  });

  it('eTP=Local uses the ready local endpoints, Cluster every ready one (the upstream case without affinity)', () => {
    const p = proxier({ nfacct: false });
    svc1(p, (s) => {
      s.spec.type = 'LoadBalancer'; s.spec.externalTrafficPolicy = 'Local'; s.spec.healthCheckNodePort = 30000;
      s.status = { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } };
    }, [
      { ip: '10.0.1.1', node: 'test-node', ready: true, serving: true, terminating: false },
      { ip: '10.0.1.2', node: 'test-node', ready: true, serving: true, terminating: false },
      { ip: '10.0.1.3', node: 'test-node', ready: false, serving: true, terminating: true },
      { ip: '10.0.1.4', node: 'test-node', ready: false, serving: false, terminating: true },
      { ip: '10.0.1.5', node: 'host-1', ready: true, serving: true, terminating: false },
    ]);
    expectRules(p.sync(0).payload, `${FILTER_HEAD}
      -A KUBE-NODEPORTS -m comment --comment "ns1/svc1 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT${FILTER_TAIL}${NAT_HEAD}
      :${C.ext} - [0:0]
      :${C.svc} - [0:0]
      :${C.svl} - [0:0]
      :${sep('10.0.1.1:80')} - [0:0]
      :${sep('10.0.1.2:80')} - [0:0]
      :${sep('10.0.1.5:80')} - [0:0]
      ${CIP_JUMP(C.svc)}
      -A KUBE-SERVICES -m comment --comment "ns1/svc1 loadbalancer IP" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j ${C.ext}
      ${LAST}
      -A ${C.ext} -m comment --comment "pod traffic for ns1/svc1 external destinations" -s 10.0.0.0/8 -j ${C.svc}
      -A ${C.ext} -m comment --comment "masquerade LOCAL traffic for ns1/svc1 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
      -A ${C.ext} -m comment --comment "route LOCAL traffic for ns1/svc1 external destinations" -m addrtype --src-type LOCAL -j ${C.svc}
      -A ${C.ext} -j ${C.svl}${NAT_BASE}${SEP_RULES('10.0.1.1')}${SEP_RULES('10.0.1.2')}${SEP_RULES('10.0.1.5')}
      ${CIP_MASQ(C.svc)}
      -A ${C.svc} -m comment --comment "ns1/svc1 -> 10.0.1.1:80" -m statistic --mode random --probability 0.3333333333 -j ${sep('10.0.1.1:80')}
      -A ${C.svc} -m comment --comment "ns1/svc1 -> 10.0.1.2:80" -m statistic --mode random --probability 0.5000000000 -j ${sep('10.0.1.2:80')}
      -A ${C.svc} -m comment --comment "ns1/svc1 -> 10.0.1.5:80" -j ${sep('10.0.1.5:80')}
      -A ${C.svl} -m comment --comment "ns1/svc1 -> 10.0.1.1:80" -m statistic --mode random --probability 0.5000000000 -j ${sep('10.0.1.1:80')}
      -A ${C.svl} -m comment --comment "ns1/svc1 -> 10.0.1.2:80" -j ${sep('10.0.1.2:80')}
      COMMIT
    `);
  });

  it('no ready endpoint at all: the serving+terminating ones are used; not-serving ones never', () => {
    const p = proxier({ nfacct: false });
    svc1(p, () => undefined, [
      { ip: '10.0.1.1', ready: false, serving: true, terminating: true },
      { ip: '10.0.1.2', ready: false, serving: true, terminating: true },
      { ip: '10.0.1.3', ready: false, serving: false, terminating: true },
    ]);
    expectRules(p.sync(0).payload, `${FILTER_HEAD}${FILTER_TAIL}${NAT_HEAD}
      :${C.svc} - [0:0]
      :${sep('10.0.1.1:80')} - [0:0]
      :${sep('10.0.1.2:80')} - [0:0]
      ${CIP_JUMP(C.svc)}
      ${LAST}${NAT_BASE}${SEP_RULES('10.0.1.1')}${SEP_RULES('10.0.1.2')}
      ${CIP_MASQ(C.svc)}
      -A ${C.svc} -m comment --comment "ns1/svc1 -> 10.0.1.1:80" -m statistic --mode random --probability 0.5000000000 -j ${sep('10.0.1.1:80')}
      -A ${C.svc} -m comment --comment "ns1/svc1 -> 10.0.1.2:80" -j ${sep('10.0.1.2:80')}
      COMMIT
    `);
  });

  it('loadBalancerSourceRanges containing the node IP also admit the LB IP as a source', () => {
    const p = proxier({ nfacct: false });
    svc1(p, (s) => {
      s.spec.type = 'LoadBalancer'; s.spec.ports![0]!.nodePort = 3001;
      s.spec.loadBalancerSourceRanges = ['192.168.0.0/24', '203.0.113.0/25'];
      s.status = { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } };
    }, [{ ip: '10.180.0.1' }]);
    const out = p.sync(0).payload;
    const fw = out.split('\n').filter((l) => l.startsWith(`-A ${C.fw}`));
    expect(fw).toEqual([
      `-A ${C.fw} -m comment --comment "ns1/svc1 loadbalancer IP" -s 192.168.0.0/24 -j ${C.ext}`,
      `-A ${C.fw} -m comment --comment "ns1/svc1 loadbalancer IP" -s 203.0.113.0/25 -j ${C.ext}`,
      `-A ${C.fw} -m comment --comment "ns1/svc1 loadbalancer IP" -s 1.2.3.4 -j ${C.ext}`,
      `-A ${C.fw} -m comment --comment "other traffic to ns1/svc1 will be dropped by KUBE-PROXY-FIREWALL"`,
    ]);
    expect(out).toContain(`-A KUBE-PROXY-FIREWALL -m comment --comment "ns1/svc1 traffic not accepted by ${C.fw}" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP`);
    expect(out).toContain(`-A KUBE-NODEPORTS -m comment --comment ns1/svc1 -m tcp -p tcp --dport 3001 -j ${C.ext}`);
    expect(checkJumps(out)).toEqual([]);
  });
});

const lines = (t: string): string[] => t.split('\n');

describe('configuration', () => {
  it('the masquerade mark as NewProxier formats bit 14 (%#08x), accepted by iptables-restore', () => {
    const out = new IptablesProxier({ hostname: 'n', nfacct: false }).sync(0).payload;
    expect(lines(out)).toContain('-A KUBE-POSTROUTING -m mark ! --mark 0x00004000/0x00004000 -j RETURN');
    expect(lines(out)).toContain('-A KUBE-POSTROUTING -j MARK --xor-mark 0x00004000');
    expect(lines(out)).toContain('-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x00004000/0x00004000 -j ACCEPT');
    expect(() => parseRestore(out, new Ruleset(), { noflush: true, counters: true })).not.toThrow();
    expect(() => new IptablesProxier({ hostname: 'n', masqueradeMark: '4000' })).toThrow(/masqueradeMark/);
  });
  it('localhostNodePorts off: no KUBE-FIREWALL, loopback excluded from the NodePort jump', () => {
    const out = proxier({ nfacct: false, localhostNodePorts: false }).sync(0).payload;
    expect(out).not.toContain('KUBE-FIREWALL');
    expect(lines(out)).toContain('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS');
  });
  it('nodePortAddresses: one last rule per selected node address; loopback only if selected', () => {
    const tail = '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain"';
    let out = proxier({ nfacct: false, nodePortAddresses: ['192.168.0.0/24'], nodeAddresses: ['192.168.0.3', '192.168.0.2', '10.9.9.9', '127.0.0.1'] }).sync(0).payload;
    expect(lines(out).filter((l) => l.startsWith(tail))).toEqual([`${tail} -d 192.168.0.2 -j KUBE-NODEPORTS`, `${tail} -d 192.168.0.3 -j KUBE-NODEPORTS`]);
    expect(out).not.toContain('KUBE-FIREWALL'); // 127.0.0.1 not selected: localhost NodePorts off
    out = proxier({ nfacct: false, nodePortAddresses: ['127.0.0.0/8', 'primary'] }).sync(0).payload;
    expect(lines(out).filter((l) => l.startsWith(tail))).toEqual([`${tail} -d 127.0.0.1 -j KUBE-NODEPORTS`, `${tail} -d 192.168.0.2 -j KUBE-NODEPORTS`]);
    expect(out).toContain(':KUBE-FIREWALL - [0:0]');
  });
  it('masqueradeAll, no local detector, masquerade bit, tcp-be-liberal', () => {
    let p = proxier({ nfacct: false, masqueradeAll: true });
    svc1(p, () => undefined, [{ ip: '10.0.1.1' }]);
    expect(lines(p.sync(0).payload)).toContain(`-A ${C.svc} -m comment --comment "ns1/svc1 cluster IP" -m tcp -p tcp -d 172.30.1.1 --dport 80 -j KUBE-MARK-MASQ`);
    p = proxier({ nfacct: false, localDetector: { mode: 'none' }, masqueradeBit: 5, masqueradeMark: undefined, conntrackTCPLiberal: true });
    svc1(p, (s) => { s.spec.type = 'NodePort'; s.spec.externalTrafficPolicy = 'Local'; s.spec.ports![0]!.nodePort = 3001; }, [{ ip: '10.0.1.1', node: 'test-node' }]);
    const out = p.sync(0).payload;
    expect(out).not.toContain(' cluster IP" -m tcp -p tcp -d 172.30.1.1 --dport 80 ! -s');
    expect(out).not.toContain('pod traffic for');
    expect(out).not.toContain('INVALID');
    expect(lines(out)).toContain('-A KUBE-MARK-MASQ -j MARK --or-mark 0x00000020');
    expect(lines(out)).toContain('-A KUBE-POSTROUTING -m mark ! --mark 0x00000020/0x00000020 -j RETURN');
    p = proxier({ nfacct: false, localDetector: { mode: 'interface-name-prefix', prefix: 'veth' } });
    svc1(p, () => undefined, [{ ip: '10.0.1.1' }]);
    expect(lines(p.sync(0).payload)).toContain(`${CIP_MASQ(C.svc).replace('! -s 10.0.0.0/8', '! -i veth+')}`);
  });
});

describe('large-cluster mode', () => {
  it('above 1000 endpoints: no per-endpoint comments; stale chains deleted only once per syncPeriod', () => {
    const p = proxier({ nfacct: false, syncPeriodMs: 30_000 });
    const ips = Array.from({ length: 1003 }, (_, i) => `10.1.${i >> 8}.${i & 255}`);
    svc1(p, () => undefined, ips.map((ip) => ({ ip })));
    const out = lines(p.sync(0).payload);
    expect(p.largeClusterMode).toBe(true);
    const sorted = [...ips].map((ip) => `${ip}:80`).sort();
    expect(out).toContain(`-A ${C.svc} -m statistic --mode random --probability 0.0009970090 -j ${sep(sorted[0]!)}`);
    expect(out).toContain(`-A ${C.svc} -j ${sep(sorted[1002]!)}`);
    expect(out).toContain(`-A ${sep('10.1.0.0:80')} -s 10.1.0.0 -j KUBE-MARK-MASQ`);
    expect(out).toContain(`-A ${sep('10.1.0.0:80')} -m tcp -p tcp -j DNAT --to-destination 10.1.0.0:80`);
    expect(out).toContain(CIP_JUMP(C.svc)); // KUBE-SERVICES keeps its comments
    // drop one endpoint: within the sync period its chain is left behind, after it deleted
    const drop = (t: number, keep: number): string => {
      p.updateEndpointSlice(slice('ns1', 'svc1', 1, (e) => { e.ports = [port('', 80)]; e.endpoints = ips.slice(0, keep).map((ip) => ({ addresses: [ip] })); }));
      return p.sync(t).payload;
    };
    expect(drop(10_000, 1002)).not.toContain('-X ');
    const later = drop(40_001, 1001);
    expect(lines(later).filter((l) => l.startsWith('-X '))).toEqual([`-X ${sep('10.1.3.233:80')}`, `-X ${sep('10.1.3.234:80')}`].sort());
  });
});

describe('input', () => {
  it('headless and ExternalName Services are skipped; a sloppy endpoint IP is canonical', () => {
    const p = proxier({ nfacct: false });
    p.addService(svc('ns1', 'headless', (s) => { s.spec.clusterIP = 'None'; s.spec.ports = [{ port: 80 }]; }));
    p.addService(svc('ns1', 'ext', (s) => { s.spec.type = 'ExternalName'; s.spec.externalName = 'example.com'; s.spec.ports = [{ port: 80 }]; }));
    svc1(p, () => undefined, [{ ip: '10.180.00.001' }]);
    const out = p.sync(0).payload;
    expect(out).not.toContain('headless');
    expect(out).not.toContain('ns1/ext');
    expect(out).toContain(`-A ${sep('10.180.0.1:80')} -m comment --comment ns1/svc1 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80`);
  });
  it('bad objects are refused with the field, and change nothing', () => {
    const p = proxier();
    const bad = svc('ns1', 'svc1', (s) => { s.spec.clusterIP = '10.0.0.300'; s.spec.ports = [{ port: 80 }]; });
    expect(() => p.addService(bad)).toThrow(KubeProxyError);
    try { p.addService(bad); } catch (e) { expect((e as KubeProxyError).toJSON()).toMatchObject({ code: 'KP_BAD_IP', object: 'Service ns1/svc1', field: 'spec.clusterIP' }); }
    const noLabel = slice('ns1', 'svc1', 1, (e) => { e.metadata.labels = {}; });
    expect(() => p.addEndpointSlice(noLabel)).toThrow(/service-name/);
    const badEp = slice('ns1', 'svc1', 1, (e) => { e.endpoints = [{ addresses: ['10.1.2'] }]; });
    try { p.addEndpointSlice(badEp); } catch (e) { expect((e as KubeProxyError).field).toBe('endpoints[0].addresses[0]'); }
    expect(() => proxier({ localDetector: { mode: 'cluster-cidr', clusterCIDR: '10.0.0.0/33' } })).toThrow(/clusterCIDR/);
    expect(p.sync(0).payload).not.toContain('svc1');
  });
});

// ---- the payloads in the project's own netfilter

const NODE_HOST = `interfaces:
  - { name: eth0, addresses: [192.168.0.2/24] }
  - { name: cni0, addresses: [10.0.0.1/16] }
routes:
  - { dst: default, via: 192.168.0.1, dev: eth0 }
  - { dst: 10.180.0.0/16, via: 192.168.0.3, dev: eth0 }
sysctls:
  net.ipv4.ip_forward: 1
`;
function tcpFrame(src: string, sport: number, dst: string, dport: number): Uint8Array {
  return new FrameBuilder().eth({ src: '02:50:00:00:00:02', dst: '02:00:00:00:00:01' }).ipv4({ src, dst, ttl: 64, ident: 1 })
    .tcp({ srcPort: sport, dstPort: dport, flags: 0x02, seq: 1000, ack: 0, window: 8192 }).build();
}

describe('the payloads load into sdnemu netfilter and DNAT packets', () => {
  it('every payload of a full-then-partial sequence is accepted by iptables-restore --noflush --counters', () => {
    const p = proxier({ nfacct: false });
    const rs = new Ruleset();
    const { services, slices } = overallObjects();
    // (svc5 keeps its ClientIP affinity: -m recent loads)
    services.forEach((s) => p.addService(s));
    slices.forEach((e) => p.addEndpointSlice(e));
    const first = p.sync(0);
    parseRestore(first.ensure!, rs, { noflush: true, counters: true });
    parseRestore(first.payload, rs, { noflush: true, counters: true });
    p.deleteService(services[0]!);
    p.updateEndpointSlice(slice('ns4', 'svc4', 1, (e) => { e.endpoints = [{ addresses: ['10.180.0.9'] }]; e.ports = [port('p80', 80)]; }));
    const second = p.sync(1000);
    expect(second.full).toBe(false);
    expect(second.ensure).toBeNull();
    parseRestore(second.payload, rs, { noflush: true, counters: true });
    const nat = rs.tables.get('nat')!;
    expect(nat.chains.has('KUBE-SVC-XPGD46QRK7WJZT7O')).toBe(false); // deleted with its service
    expect(nat.chains.get('KUBE-SVC-4SW47YFZTEDKD3PK')!.rules).toHaveLength(2); // rewritten: masq + one endpoint
    expect(nat.chains.get('KUBE-SVC-X27LE4BHSL4DOUIK')!.rules).toHaveLength(2); // untouched by the partial sync
    expect(rs.tables.get('filter')!.chains.get('INPUT')!.rules.length).toBe(4);
  });

  it('a pod to a ClusterIP is DNATed to the endpoint; outside to a NodePort is DNATed and masqueraded', () => {
    const p = proxier({ nfacct: false });
    p.addService(svc('ns1', 'svc1', (s) => { s.spec.type = 'NodePort'; s.spec.clusterIP = '172.30.0.41'; s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 30080 }]; }));
    p.addEndpointSlice(slice('ns1', 'svc1', 1, (e) => { e.endpoints = [{ addresses: ['10.180.0.1'] }]; e.ports = [port('p80', 8080)]; }));
    const r = p.sync(0);
    const rs = new Ruleset();
    parseRestore(r.ensure!, rs, { noflush: true, counters: true });
    parseRestore(r.payload, rs, { noflush: true, counters: true });
    const stack = new NfStack(rs, parseHost(NODE_HOST));
    const a = stack.receive(tcpFrame('10.0.0.5', 40000, '172.30.0.41', 80), 'cni0', 0);
    expect(a.verdict).toBe('ACCEPT');
    expect(packetText(a.out!.frame)).toBe('tcp 10.0.0.5:40000 > 10.180.0.1:8080 flags S seq 1000 ack 0 ttl 63');
    const natPre = a.hooks.find((h) => h.table === 'nat' && h.hook === 'PREROUTING')!;
    expect(natPre.traversed.filter((t) => t.matched).map((t) => t.chain)).toEqual(['PREROUTING', 'KUBE-SERVICES', 'KUBE-SVC-XPGD46QRK7WJZT7O', endpointChain('ns1/svc1:p80', 'tcp', '10.180.0.1:8080')]);
    const b = stack.receive(tcpFrame('203.0.113.2', 50000, '192.168.0.2', 30080), 'eth0', 1000);
    expect(b.verdict).toBe('ACCEPT');
    expect(packetText(b.out!.frame)).toBe('tcp 192.168.0.2:50000 > 10.180.0.1:8080 flags S seq 1000 ack 0 ttl 63');
  });

  // ClientIP affinity through NfStack, with the nfacct counters: test/netfilter/recent-affinity.test.ts

  it('no endpoints: the ClusterIP is rejected in filter', () => {
    const p = proxier({ nfacct: false });
    p.addService(svc('ns1', 'svc1', (s) => { s.spec.clusterIP = '172.30.0.41'; s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP' }]; }));
    const r = p.sync(0);
    const rs = new Ruleset();
    parseRestore(r.ensure!, rs, { noflush: true, counters: true });
    parseRestore(r.payload, rs, { noflush: true, counters: true });
    const res = new NfStack(rs, parseHost(NODE_HOST)).receive(tcpFrame('10.0.0.5', 40000, '172.30.0.41', 80), 'cni0', 0);
    expect(res.verdict).toBe('REJECT');
  });
});

// TestTerminatingEndpointsTrafficPolicyLocal (upstream goldens): LoadBalancer 1.2.3.4, eTP=Local,
// health-check port 30000, ClientIP affinity with the default timeout; endpoints on this node
// ('test-node') and on host-1 in the four states the upstream cases use.
describe('TestTerminatingEndpointsTrafficPolicyLocal (golden, from proxier_test.go)', () => {
  const HC = '-A KUBE-NODEPORTS -m comment --comment "ns1/svc1 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT';
  const SVC = 'KUBE-SVC-AQI2S6QIMU7PVVRP', SVL = 'KUBE-SVL-AQI2S6QIMU7PVVRP', EXT = 'KUBE-EXT-AQI2S6QIMU7PVVRP';
  const S1 = 'KUBE-SEP-3JOIVZTXZZRGORX4', S2 = 'KUBE-SEP-IO5XOSKPAXIFQXAJ', S3 = 'KUBE-SEP-XGJFVO3L2O5SRFNT', S5 = 'KUBE-SEP-EQCHZ7S2PJ72OHAY';
  const sepRules = (chain: string, ip: string): string => `
    -A ${chain} -m comment --comment ns1/svc1 -s ${ip} -j KUBE-MARK-MASQ
    -A ${chain} -m comment --comment ns1/svc1 -m recent --name ${chain} --set -m tcp -p tcp -j DNAT --to-destination ${ip}:80`;
  const sticky = (chain: string, sep: string, ip: string): string => `
    -A ${chain} -m comment --comment "ns1/svc1 -> ${ip}:80" -m recent --name ${sep} --rcheck --seconds 10800 --reap -j ${sep}`;
  const pick = (chain: string, sep: string, ip: string, p?: string): string => `
    -A ${chain} -m comment --comment "ns1/svc1 -> ${ip}:80"${p ? ` -m statistic --mode random --probability ${p}` : ''} -j ${sep}`;
  const EXT_RULES = `
    -A ${EXT} -m comment --comment "pod traffic for ns1/svc1 external destinations" -s 10.0.0.0/8 -j ${SVC}
    -A ${EXT} -m comment --comment "masquerade LOCAL traffic for ns1/svc1 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
    -A ${EXT} -m comment --comment "route LOCAL traffic for ns1/svc1 external destinations" -m addrtype --src-type LOCAL -j ${SVC}`;
  const TOP = `
    -A KUBE-SERVICES -m comment --comment "ns1/svc1 cluster IP" -m tcp -p tcp -d 172.30.1.1 --dport 80 -j ${SVC}
    -A KUBE-SERVICES -m comment --comment "ns1/svc1 loadbalancer IP" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j ${EXT}
    ${LAST}`;
  const MASQ = `
    -A ${SVC} -m comment --comment "ns1/svc1 cluster IP" -m tcp -p tcp -d 172.30.1.1 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ`;
  const R = { ready: true, serving: true, terminating: false }, T = { ready: false, serving: true, terminating: true }, X = { ready: false, serving: false, terminating: true };
  const cases: { name: string; eps: { ip: string; node: string; c: typeof R }[]; expected: string }[] = [
    { name: 'ready endpoints exist', eps: [{ ip: '10.0.1.1', node: 'test-node', c: R }, { ip: '10.0.1.2', node: 'test-node', c: R }, { ip: '10.0.1.3', node: 'test-node', c: T }, { ip: '10.0.1.4', node: 'test-node', c: X }, { ip: '10.0.1.5', node: 'host-1', c: R }],
      expected: `${FILTER_HEAD}
        ${HC}${FILTER_TAIL}${NAT_HEAD}
        :${EXT} - [0:0]
        :${S1} - [0:0]
        :${S5} - [0:0]
        :${S2} - [0:0]
        :${SVC} - [0:0]
        :${SVL} - [0:0]${TOP}${EXT_RULES}
        -A ${EXT} -j ${SVL}${NAT_BASE}${sepRules(S1, '10.0.1.1')}${sepRules(S5, '10.0.1.5')}${sepRules(S2, '10.0.1.2')}${MASQ}${sticky(SVC, S1, '10.0.1.1')}${sticky(SVC, S2, '10.0.1.2')}${sticky(SVC, S5, '10.0.1.5')}${pick(SVC, S1, '10.0.1.1', '0.3333333333')}${pick(SVC, S2, '10.0.1.2', '0.5000000000')}${pick(SVC, S5, '10.0.1.5')}${sticky(SVL, S1, '10.0.1.1')}${sticky(SVL, S2, '10.0.1.2')}${pick(SVL, S1, '10.0.1.1', '0.5000000000')}${pick(SVL, S2, '10.0.1.2')}
        COMMIT` },
    { name: 'only terminating endpoints exist', eps: [{ ip: '10.0.1.2', node: 'test-node', c: T }, { ip: '10.0.1.3', node: 'test-node', c: T }, { ip: '10.0.1.4', node: 'test-node', c: X }, { ip: '10.0.1.5', node: 'host-1', c: R }],
      expected: `${FILTER_HEAD}
        ${HC}${FILTER_TAIL}${NAT_HEAD}
        :${EXT} - [0:0]
        :${S5} - [0:0]
        :${S2} - [0:0]
        :${S3} - [0:0]
        :${SVC} - [0:0]
        :${SVL} - [0:0]${TOP}${EXT_RULES}
        -A ${EXT} -j ${SVL}${NAT_BASE}${sepRules(S5, '10.0.1.5')}${sepRules(S2, '10.0.1.2')}${sepRules(S3, '10.0.1.3')}${MASQ}${sticky(SVC, S5, '10.0.1.5')}${pick(SVC, S5, '10.0.1.5')}${sticky(SVL, S2, '10.0.1.2')}${sticky(SVL, S3, '10.0.1.3')}${pick(SVL, S2, '10.0.1.2', '0.5000000000')}${pick(SVL, S3, '10.0.1.3')}
        COMMIT` },
    { name: 'terminating endpoints on remote node', eps: [{ ip: '10.0.1.5', node: 'host-1', c: T }],
      expected: `${FILTER_HEAD}
        ${HC}
        -A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/svc1 has no local endpoints" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP${FILTER_TAIL}${NAT_HEAD}
        :${EXT} - [0:0]
        :${S5} - [0:0]
        :${SVC} - [0:0]${TOP}${EXT_RULES}${NAT_BASE}${sepRules(S5, '10.0.1.5')}${MASQ}${sticky(SVC, S5, '10.0.1.5')}${pick(SVC, S5, '10.0.1.5')}
        COMMIT` },
    { name: 'no usable endpoints on any node', eps: [{ ip: '10.0.1.5', node: 'test-node', c: X }, { ip: '10.0.1.5', node: 'host-1', c: X }],
      expected: `${FILTER_HEAD}
        ${HC}
        -A KUBE-SERVICES -m comment --comment "ns1/svc1 has no endpoints" -m tcp -p tcp -d 172.30.1.1 --dport 80 -j REJECT
        -A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/svc1 has no endpoints" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j REJECT${FILTER_TAIL}${NAT_HEAD}
        ${LAST}${NAT_BASE}
        COMMIT` },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const p = proxier({ nfacct: false });
      p.addService(svc('ns1', 'svc1', (s) => {
        s.spec.clusterIP = '172.30.1.1'; s.spec.type = 'LoadBalancer'; s.spec.externalTrafficPolicy = 'Local';
        s.spec.ports = [{ name: '', targetPort: 80, port: 80, protocol: 'TCP' }]; s.spec.healthCheckNodePort = 30000;
        s.spec.sessionAffinity = 'ClientIP'; s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 10800 } };
        s.status = { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } };
      }));
      p.addEndpointSlice(slice('ns1', 'svc1', 1, (e) => {
        e.ports = [{ name: '', port: 80, protocol: 'TCP' }];
        e.endpoints = c.eps.map((x) => ({ addresses: [x.ip], conditions: x.c, nodeName: x.node }));
      }));
      expectRules(p.sync(0).payload, c.expected);
    });
  }
});
