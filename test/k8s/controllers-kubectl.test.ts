import { describe, it, expect } from 'vitest';
import { ControlPlane } from '../../src/k8s/controllers/control-plane.js';
import { humanDuration, kubectlGet } from '../../src/k8s/controllers/kubectl.js';

describe('kubectl get', () => {
  it('prints the columns kubectl prints', () => {
    const cp = new ControlPlane({ autoReady: true, seed: 5 });
    cp.addNode('cp', { controlPlane: true, internalIP: '192.168.0.10' });
    cp.addNode('w1', { internalIP: '192.168.0.11' });
    cp.applyYaml(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {type: LoadBalancer, selector: {app: web}, ports: [{port: 80}]}
`);
    cp.advance(65_000);
    const pods = kubectlGet(cp, 'Pod', { wide: true }).split('\n');
    expect(pods[0]).toBe('NAME                   READY   STATUS    RESTARTS   AGE   IP           NODE');
    expect(pods[1]).toMatch(/^web-\w+-\w{5}   1\/1     Running   0          65s   10\.244\.1\.\d   w1$/);
    expect(kubectlGet(cp, 'Service')).toBe([
      'NAME         TYPE           CLUSTER-IP   EXTERNAL-IP   PORT(S)        AGE',
      'kubernetes   ClusterIP      10.96.0.1    <none>        443/TCP        65s',
      'web          LoadBalancer   10.96.0.2    <pending>     80:30000/TCP   65s',
    ].join('\n'));
    expect(kubectlGet(cp, 'Deployment')).toBe('NAME   READY   UP-TO-DATE   AVAILABLE   AGE\nweb    2/2     2            2           65s');
    expect(kubectlGet(cp, 'Node')).toBe('NAME   STATUS   ROLES           AGE   VERSION\ncp     Ready    control-plane   65s   v1.33.0\nw1     Ready    <none>          65s   v1.33.0');
    cp.nodeDown('w1');
    expect(kubectlGet(cp, 'Node').split('\n')[2]).toMatch(/^w1 +NotReady/);
    expect(kubectlGet(cp, 'Job')).toBe('No resources found in default namespace.');
  });

  it('writes ages as HumanDuration does', () => {
    expect([5e3, 119e3, 150e3, 600e3, 7200e3, 9 * 3600e3, 50 * 3600e3, 10 * 86400e3, 800 * 86400e3].map(humanDuration))
      .toEqual(['5s', '119s', '2m30s', '10m', '120m', '9h', '2d2h', '10d', '2y']);
  });
});
