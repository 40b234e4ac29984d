// The cloud file: what it builds, and what it refuses — naming the line and the field — before the data
// plane hears anything.
import { describe, expect, it } from 'vitest';
import { loadCloud, CloudFileError } from '../../src/compute/file.js';
import type { CloudDataplane } from '../../src/compute/types.js';

const GOOD = `seed: 7
external: { cidr: 203.0.113.0/24, gateway: 203.0.113.1 }
hypervisors:
  - { name: hv1, region: r1, az: az1, vcpus: 8, ramMb: 16384, ip: 192.168.0.11 }
  - { name: hv2, region: r1, az: az1, vcpus: 8, ramMb: 16384, ip: 192.168.0.12 }
serverGroups:
  - { name: web, policy: anti-affinity }
vpcs:
  - name: acme
    cidr: 10.0.0.0/16
    tenant: acme
    subnets:
      - { name: acme-a, cidr: 10.0.1.0/24 }
      - { name: acme-b, cidr: 10.0.2.0/24, hostRoutes: [{ destination: 10.9.0.0/16, nexthop: 10.0.2.254 }] }
securityGroups:
  - name: web
    tenant: acme
    rules:
      - { direction: ingress, protocol: tcp, portRangeMin: 80, portRangeMax: 80 }
      - { direction: ingress, remoteGroupId: admin }
  - name: admin
    tenant: acme
routers:
  - name: r1
    tenant: acme
    externalGateway: { snat: true }
    interfaces: [acme-a]
ports:
  - { name: vip, subnet: acme-a, ip: 10.0.1.50, securityGroups: [web] }
vms:
  - { name: web1, flavor: m1.small, image: cirros, subnets: [acme-a], securityGroups: [web], serverGroup: web }
  - { name: web2, flavor: m1.small, image: cirros, subnets: [acme-a], securityGroups: [web], serverGroup: web }
  - { name: db1, flavor: { vcpus: 2, ramMb: 1024 }, image: cirros, ports: [vip] }
floatingIps:
  - { tenant: acme, vm: web1 }
natGateways:
  - { name: nat1, vpc: acme, subnet: acme-b }
`;

function recorder(): { dp: CloudDataplane; calls: string[] } {
  const calls: string[] = [];
  const dp = new Proxy({}, { get: (_t, k) => () => { calls.push(String(k)); } }) as CloudDataplane;
  return { dp, calls };
}

function refusal(text: string): CloudFileError {
  const { dp, calls } = recorder();
  try {
    loadCloud(text, { dataplane: dp });
  } catch (e) {
    expect(calls).toEqual([]);
    expect(e).toBeInstanceOf(CloudFileError);
    return e as CloudFileError;
  }
  throw new Error('the file was accepted');
}

describe('loadCloud', () => {
  it('builds the cloud the file describes', () => {
    const { dp, calls } = recorder();
    const c = loadCloud(GOOD, { dataplane: dp });
    expect(c.vm('web1').hypervisor).not.toBe(c.vm('web2').hypervisor);
    expect(c.vm('db1').portDetails[0]!.fixedIps).toEqual(['10.0.1.50']);
    expect(c.vm('web1').portDetails[0]!.fixedIps).toEqual(['10.0.1.2']);
    const web = c.securityGroups().find((g) => g.name === 'web')!;
    const admin = c.securityGroups().find((g) => g.name === 'admin')!;
    expect(web.rules.at(-1)).toMatchObject({ direction: 'ingress', remoteGroupId: admin.id });
    expect(c.routerInfoOf('r1').floatingIps).toEqual([{ floatingIp: '203.0.113.3', fixedIp: '10.0.1.2' }]);
    // acme-b has no router: the NAT gateway is its gateway
    expect(c.natGatewayInfoOf('nat1').inside.cidr).toBe('10.0.2.1/24');
    expect(calls.filter((k) => k === 'startVm')).toHaveLength(3);
    expect(calls.slice(0, 2)).toEqual(['addHypervisor', 'addHypervisor']);
    // applied in one batch: the groups told once, the router once (its interfaces, routes, floating IP in it)
    expect(calls.filter((k) => k === 'securityGroups')).toHaveLength(1);
    expect(calls.filter((k) => k === 'routerChanged')).toHaveLength(1);
  });

  it('is deterministic: the same file gives the same cloud', () => {
    expect(loadCloud(GOOD).describe()).toEqual(loadCloud(GOOD).describe());
  });

  const bad: [string, string, string, number, string][] = [
    ['a YAML syntax error', 'hypervisors: [\n  {', 'CLOUD_BAD_YAML', 2, ''],
    ['an unknown top-level key', 'seed: 1\nclouds: []\n', 'CLOUD_UNKNOWN_KEY', 2, 'clouds'],
    ['an unknown key in a VM', GOOD.replace('image: cirros, ports: [vip]', 'image: cirros, portz: [vip]'), 'CLOUD_UNKNOWN_KEY', 33, 'vms[2].portz'],
    ['a list that is not one', 'vms: web1\n', 'CLOUD_BAD_VALUE', 1, 'vms'],
    ['subnets not a list of names', GOOD.replace('subnets: [acme-a], securityGroups: [web], serverGroup: web }\n  - { name: web2', 'subnets: acme-a, securityGroups: [web], serverGroup: web }\n  - { name: web2'), 'CLOUD_BAD_VALUE', 31, 'vms[0].subnets'],
    ['an overlapping subnet', GOOD.replace('10.0.2.0/24', '10.0.1.128/25'), 'OverlappingSubnet', 14, 'vpcs[0].subnets[1].cidr'],
    ['a bad port range in a rule', GOOD.replace('portRangeMin: 80, portRangeMax: 80', 'portRangeMin: 90, portRangeMax: 80'), 'InvalidPortRange', 19, 'securityGroups[0].rules[0].portRangeMin'],
    ['a remote group that does not exist', GOOD.replace('remoteGroupId: admin', 'remoteGroupId: ops'), 'SecurityGroupNotFound', 20, 'securityGroups[0].rules[1].remoteGroupId'],
    ['a third member of a two-host anti-affinity group', GOOD.replace('ports: [vip] }', 'ports: [vip], serverGroup: web }'), 'NoValidHost', 33, 'vms[2].flavor'],
    ['a VM on an unknown subnet', GOOD.replace('subnets: [acme-a], securityGroups: [web], serverGroup: web }\n  - { name: web2', 'subnets: [acme-z], securityGroups: [web], serverGroup: web }\n  - { name: web2'), 'SubnetNotFound', 31, 'vms[0].subnets[0].subnet'],
    ['a port address taken', GOOD.replace('ip: 10.0.1.50', 'ip: 10.0.1.1'), 'IpAddressAlreadyAllocated', 29, 'ports[0].ip'],
    ['a duplicate hypervisor IP', GOOD.replace('192.168.0.12', '192.168.0.11'), 'DuplicateIp', 5, 'hypervisors[1].ip'],
    ['a bad external network', GOOD.replace('gateway: 203.0.113.1', 'gateway: 198.51.100.1'), 'InvalidInput', 2, 'external.gateway'],
    ['a floating IP for a VM without NIC n', GOOD.replace('{ tenant: acme, vm: web1 }', '{ tenant: acme, vm: web1, nic: 3 }'), 'PortNotFound', 35, 'floatingIps[0].nic'],
  ];
  for (const [what, text, code, line, field] of bad) {
    it(`refuses ${what} (${code}, line ${line})`, () => {
      const e = refusal(text);
      expect({ code: e.code, line: e.line, field: e.field }).toEqual({ code, line, field });
    });
  }

  it('the error names the line in its message and its JSON', () => {
    const e = refusal(GOOD.replace('10.0.2.0/24', '10.0.1.128/25'));
    expect(e.message).toMatch(/^line 14: vpcs\[0\]\.subnets\[1\]\.cidr: /);
    expect(e.toJSON()).toMatchObject({ code: 'OverlappingSubnet', line: 14 });
  });
});
