/**
 * `sdnemu kube-proxy` and `sdnemu run` of Kubernetes manifests, end to end as a user runs them.
 */
import { describe, expect, it } from 'vitest';
import { scratch, sdnemu } from './run.js';
import { parseRestore } from '../../src/netfilter/restore.js';

const { file } = scratch('sdnemu-kube-');

const SERVICE = `apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec:
  clusterIP: 10.96.0.20
  selector: { app: web }
  ports: [{ name: http, port: 80, targetPort: 8080 }]
`;
const slice = (ips: string[]): string => `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abcde
  namespace: shop
  labels: { kubernetes.io/service-name: web }
addressType: IPv4
ports: [{ name: http, port: 8080, protocol: TCP }]
endpoints:
${ips.map((ip) => `  - { addresses: [${ip}], conditions: { ready: true }, nodeName: node-a }`).join('\n')}
`;
const NODE = `apiVersion: v1
kind: Node
metadata: { name: node-a }
status:
  addresses: [{ type: InternalIP, address: 192.168.0.10 }]
`;

describe('sdnemu kube-proxy', () => {
  it('iptables mode: a full sync, then a partial one per later file, each loadable by iptables-restore', () => {
    const a = file('a.yaml', `${NODE}---\n${SERVICE}---\n${slice(['10.244.1.5', '10.244.2.7'])}`);
    const b = file('b.yaml', slice(['10.244.1.5', '10.244.2.7', '10.244.2.9']));
    const r = sdnemu(['kube-proxy', '--mode', 'iptables', '--cluster-cidr', '10.244.0.0/16', a, b]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const [, first, second] = r.stdout.split(/^# sync \d+ .*$/m);
    expect(r.stdout).toMatch(/^# sync 1 \(.*a\.yaml\): full$/m);
    expect(r.stdout).toMatch(/^# sync 2 \(.*b\.yaml\): partial$/m);
    expect(first).toContain('-A KUBE-SERVICES -m comment --comment "shop/web:http cluster IP" -m tcp -p tcp -d 10.96.0.20 --dport 80 -j KUBE-SVC-');
    expect(first).toContain('--probability 0.5000000000');
    expect(second).toContain('--probability 0.3333333333');
    expect(second).toContain('-j DNAT --to-destination 10.244.2.9:8080');
    // the local-traffic detector of --cluster-cidr
    expect(first).toContain('! -s 10.244.0.0/16 -j KUBE-MARK-MASQ');
    const rs = parseRestore(first!, undefined, { noflush: true });
    parseRestore(second!, rs, { noflush: true });
    expect([...rs.tables.get('nat')!.chains.keys()].filter((c) => c.startsWith('KUBE-SEP-'))).toHaveLength(3);
  });

  it('ipvs mode: the virtual server as ipvsadm -Ln lists it, the ipsets and kube-ipvs0', () => {
    const a = file('v.yaml', `${NODE}---\n${SERVICE}---\n${slice(['10.244.1.5'])}`);
    const r = sdnemu(['kube-proxy', '--mode', 'ipvs', a]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/TCP {2}10\.96\.0\.20:80 rr/);
    expect(r.stdout).toMatch(/-> 10\.244\.1\.5:8080 +Masq +1/);
    expect(r.stdout).toContain('add KUBE-CLUSTER-IP 10.96.0.20,tcp:80');
    expect(r.stdout).toContain('10.96.0.20/32');
  });

  it('a bad manifest: its file, line and field; a bad mode is a usage error', () => {
    const bad = file('bad.yaml', SERVICE.replace('port: 80', 'port: 0'));
    const r = sdnemu(['kube-proxy', '--mode', 'iptables', bad]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/bad\.yaml:\d+.*spec\.ports\[0\]\.port/);
    expect(sdnemu(['kube-proxy', '--mode', 'nft', bad]).status).toBe(2);
  });
});

describe('sdnemu run of Kubernetes manifests', () => {
  it('builds examples/k8s/cluster.yaml, prints kubectl get, and every Service answers', () => {
    const r = sdnemu(['run', 'examples/k8s/cluster.yaml']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('deployment.apps/web created');
    expect(r.stdout).toMatch(/^web-\S+ +1\/1 +Running +0 +\S+ +10\.244\.\d+\.\d+ +worker-\d$/m);
    expect(r.stdout).toMatch(/^web-nodeport +NodePort +10\.96\.\d+\.\d+ +<none> +80:30080\/TCP/m);
    const answers = r.stdout.split('\n').filter((l) => l.includes(' → '));
    // two clients × two Services, and the NodePort from outside on three nodes
    expect(answers).toHaveLength(7);
    for (const a of answers) expect(a).toMatch(/: HTTP\/1\.0 200 OK from web-\S+ \(/);
  });
});
