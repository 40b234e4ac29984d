// The cloud's control plane: every refusal leaves the state as it was and tells the data plane nothing;
// the VNI allocator and IPAM never hand out a live or reserved value (fast-check against a model);
// placement, server groups, migration and evacuation; the exact notifications the data plane receives.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Cloud, CloudError } from '../../src/compute/cloud.js';
import { recorder, type Call } from './cloud-ops.js';

const EXTERNAL = { cidr: '203.0.113.0/24', gateway: '203.0.113.1' };

/** Two tenants, three hypervisors in two zones, a routed subnet with a VM, a floating IP and a NAT gateway. */
function fixture(): { c: Cloud; calls: Call[] } {
  const { dp, calls } = recorder();
  const c = new Cloud({ dataplane: dp, seed: 42, external: EXTERNAL });
  c.addHypervisor({ name: 'hv1', region: 'r1', az: 'az1', vcpus: 4, ramMb: 8192, ip: '192.168.0.11' });
  c.addHypervisor({ name: 'hv2', region: 'r1', az: 'az1', vcpus: 4, ramMb: 8192, ip: '192.168.0.12' });
  c.addHypervisor({ name: 'hv3', region: 'r1', az: 'az2', vcpus: 2, ramMb: 4096, ip: '192.168.0.13' });
  c.createVpc({ name: 'acme', cidr: '10.0.0.0/16', tenant: 'acme' });
  c.createSubnet({ vpc: 'acme', name: 'acme-a', cidr: '10.0.1.0/24' });
  c.createSubnet({ vpc: 'acme', name: 'acme-b', cidr: '10.0.2.0/24' });
  c.createVpc({ name: 'globex', cidr: '10.0.0.0/16', tenant: 'globex' });
  c.createSubnet({ vpc: 'globex', name: 'globex-a', cidr: '10.0.1.0/24' });
  c.createSecurityGroup({ name: 'web', tenant: 'acme' });
  c.createRouter({ name: 'r1', tenant: 'acme', externalGateway: { snat: true } });
  c.addRouterInterface('r1', 'acme-a');
  c.createVm({ name: 'web1', flavor: 'm1.small', image: 'cirros', subnets: ['acme-a'], securityGroups: ['web'] });
  c.createFloatingIp({ tenant: 'acme', name: 'fip1' });
  c.createFloatingIp({ tenant: 'acme', name: 'fip2' });
  c.associateFloatingIp('fip1', c.vm('web1').ports[0]!);
  c.createNatGateway({ vpc: 'acme', subnet: 'acme-b', name: 'nat1' });
  c.createServerGroup({ name: 'spread', policy: 'anti-affinity' });
  calls.length = 0;
  return { c, calls };
}

describe('refused operations change nothing', () => {
  // [what, the refused call, its code, its field, what to set up first]
  const cases: [string, (c: Cloud) => unknown, string, string, ((c: Cloud) => void)?][] = [
    ['duplicate hypervisor name', (c) => c.addHypervisor({ name: 'hv1', region: 'r1', az: 'az1', vcpus: 1, ramMb: 1, ip: '192.168.0.99' }), 'DuplicateName', 'name'],
    ['duplicate hypervisor IP', (c) => c.addHypervisor({ name: 'hv9', region: 'r1', az: 'az1', vcpus: 1, ramMb: 1, ip: '192.168.0.11' }), 'DuplicateIp', 'ip'],
    ['hypervisor with VMs removed', (c) => c.removeHypervisor(c.vm('web1').hypervisor!), 'HypervisorInUse', 'name'],
    ['VNI asked for is live', (c) => c.createVpc({ name: 'x', cidr: '10.1.0.0/16', tenant: 't', vni: c.vpcs()[0]!.vni }), 'VniInUse', 'vni'],
    ['VPC CIDR with host bits', (c) => c.createVpc({ name: 'x', cidr: '10.1.0.1/16', tenant: 't' }), 'InvalidInput', 'cidr'],
    ['subnet outside the VPC', (c) => c.createSubnet({ vpc: 'acme', name: 'x', cidr: '10.1.0.0/24' }), 'InvalidSubnetRange', 'cidr'],
    ['overlapping subnet in a VPC', (c) => c.createSubnet({ vpc: 'acme', name: 'x', cidr: '10.0.1.128/25' }), 'OverlappingSubnet', 'cidr'],
    ['gateway outside the subnet', (c) => c.createSubnet({ vpc: 'acme', name: 'x', cidr: '10.0.3.0/24', gateway: '10.0.4.1' }), 'InvalidInput', 'gateway'],
    ['pool holding the gateway', (c) => c.createSubnet({ vpc: 'acme', name: 'x', cidr: '10.0.3.0/24', allocationPools: [{ start: '10.0.3.1', end: '10.0.3.9' }] }), 'GatewayConflictWithAllocationPools', 'allocationPools[0]'],
    ['overlapping pools', (c) => c.createSubnet({ vpc: 'acme', name: 'x', cidr: '10.0.3.0/24', allocationPools: [{ start: '10.0.3.2', end: '10.0.3.9' }, { start: '10.0.3.9', end: '10.0.3.20' }] }), 'OverlappingAllocationPools', 'allocationPools[1]'],
    ['pool outside the subnet', (c) => c.createSubnet({ vpc: 'acme', name: 'x', cidr: '10.0.3.0/24', allocationPools: [{ start: '10.0.3.2', end: '10.0.4.9' }] }), 'InvalidAllocationPool', 'allocationPools[0]'],
    ['port address outside its subnet', (c) => c.createPort({ subnet: 'acme-a', ip: '10.0.2.5' }), 'InvalidIpForSubnet', 'ip'],
    ['port on the broadcast address', (c) => c.createPort({ subnet: 'acme-a', ip: '10.0.1.255' }), 'InvalidIpForSubnet', 'ip'],
    ['port address taken', (c) => c.createPort({ subnet: 'acme-a', ip: c.vm('web1').portDetails[0]!.fixedIps[0]! }), 'IpAddressAlreadyAllocated', 'ip'],
    ['port on the gateway address', (c) => c.createPort({ subnet: 'acme-b', ip: '10.0.2.1' }), 'IpAddressAlreadyAllocated', 'ip'],
    ['port MAC in use', (c) => c.createPort({ subnet: 'acme-a', mac: c.vm('web1').portDetails[0]!.mac }), 'MacAddressInUse', 'mac'],
    ['port in another tenant\'s group', (c) => c.createPort({ subnet: 'globex-a', securityGroups: ['web'] }), 'SecurityGroupNotFound', 'securityGroups[0]'],
    ['groups without port security', (c) => c.createPort({ subnet: 'acme-a', portSecurity: false, securityGroups: ['web'] }), 'PortSecurityAndIPRequiredForSecurityGroups', 'securityGroups'],
    ['VM port in use', (c) => c.deletePort(c.vm('web1').ports[0]!), 'PortInUse', 'port'],
    ['rule port range min > max', (c) => c.addSecurityGroupRule('web', { direction: 'ingress', protocol: 'tcp', portRangeMin: 90, portRangeMax: 80 }), 'InvalidPortRange', 'rule.portRangeMin'],
    ['rule port above 65535', (c) => c.addSecurityGroupRule('web', { direction: 'ingress', protocol: 'udp', portRangeMin: 1, portRangeMax: 70000 }), 'InvalidPortValue', 'rule.portRangeMax'],
    ['rule port below 0', (c) => c.addSecurityGroupRule('web', { direction: 'ingress', protocol: 'tcp', portRangeMin: -1, portRangeMax: 5 }), 'InvalidPortValue', 'rule.portRangeMin'],
    ['rule ICMP type above 255', (c) => c.addSecurityGroupRule('web', { direction: 'ingress', protocol: 'icmp', portRangeMin: 256 }), 'InvalidIcmpValue', 'rule.portRangeMin'],
    ['rule ICMP code above 255', (c) => c.addSecurityGroupRule('web', { direction: 'ingress', protocol: 'icmp', portRangeMin: 8, portRangeMax: 300 }), 'InvalidIcmpValue', 'rule.portRangeMax'],
    ['rule remote group unknown', (c) => c.addSecurityGroupRule('web', { direction: 'ingress', remoteGroupId: 'nope' }), 'SecurityGroupNotFound', 'rule.remoteGroupId'],
    ['rule protocol unknown', (c) => c.addSecurityGroupRule('web', { direction: 'ingress', protocol: 'bogus' }), 'SecurityGroupRuleInvalidProtocol', 'rule.protocol'],
    ['rule port range on ICMP-less protocol', (c) => c.addSecurityGroupRule('web', { direction: 'ingress', protocol: 'gre', portRangeMin: 1, portRangeMax: 2 }), 'InvalidProtocolForPortRange', 'rule.protocol'],
    ['rule with a bad prefix', (c) => c.addSecurityGroupRule('web', { direction: 'ingress', remoteIpPrefix: '10.0.0.0/40' }), 'InvalidCidr', 'rule.remoteIpPrefix'],
    ['rule with a bad direction', (c) => c.addSecurityGroupRule('web', { direction: 'sideways' as 'ingress' }), 'InvalidInput', 'rule.direction'],
    ['rule twice', (c) => c.addSecurityGroupRule('web', { direction: 'egress', ethertype: 'IPv4' }), 'SecurityGroupRuleExists', 'rule'],
    ['group in use', (c) => c.deleteSecurityGroup('web'), 'SecurityGroupInUse', 'securityGroup'],
    ['unknown flavor', (c) => c.createVm({ name: 'x', flavor: 'm9.huge', image: 'i', subnets: ['acme-a'] }), 'FlavorNotFound', 'flavor'],
    ['VM too big for any host', (c) => c.createVm({ name: 'x', flavor: { vcpus: 1, ramMb: 100000 }, image: 'i', subnets: ['acme-a'] }), 'NoValidHost', 'flavor'],
    ['VM name taken', (c) => c.createVm({ name: 'web1', flavor: 'm1.tiny', image: 'i' }), 'DuplicateName', 'name'],
    ['VM in an unknown zone', (c) => c.createVm({ name: 'x', flavor: 'm1.tiny', image: 'i', az: 'az9' }), 'InvalidInput', 'az'],
    ['VM on a port in use', (c) => c.createVm({ name: 'x', flavor: 'm1.tiny', image: 'i', ports: [c.vm('web1').ports[0]!] }), 'PortInUse', 'ports[0]'],
    ['VM whose second subnet is unknown', (c) => c.createVm({ name: 'x', flavor: 'm1.tiny', image: 'i', subnets: ['acme-a', 'nope'] }), 'SubnetNotFound', 'subnets[1].subnet'],
    ['start an ACTIVE VM', (c) => c.startVm('web1'), 'InstanceInvalidState', 'vm'],
    ['migrate to the host it is on', (c) => c.migrateVm('web1', c.vm('web1').hypervisor!), 'InvalidInput', 'to'],
    ['migrate to a host too small', (c) => c.migrateVm('big', 'hv3'), 'NoValidHost', 'to', (c) => { c.createVm({ name: 'big', flavor: { vcpus: 1, ramMb: 6000 }, image: 'i' }); }],
    ['subnet on two routers', (c) => c.addRouterInterface('r2', 'acme-a'), 'SubnetAlreadyAttached', 'subnet', (c) => { c.createRouter({ name: 'r2', tenant: 'acme' }); }],
    ['overlapping subnets on one router', (c) => c.addRouterInterface('r1', 'acme2-a'), 'RouterInterfaceOverlap', 'subnet',
      (c) => { c.createVpc({ name: 'acme2', cidr: '10.0.0.0/16', tenant: 'acme' }); c.createSubnet({ vpc: 'acme2', name: 'acme2-a', cidr: '10.0.1.0/24' }); }],
    ['another tenant\'s subnet on a router', (c) => c.addRouterInterface('r1', 'globex-a'), 'SubnetNotFound', 'subnet'],
    ['route via a network the router is not on', (c) => c.addRoute('r1', { destination: '10.9.0.0/16', nexthop: '10.0.2.254' }), 'InvalidRoutes', 'route.nexthop'],
    ['interface used by a floating IP', (c) => c.removeRouterInterface('r1', 'acme-a'), 'RouterInterfaceInUseByFloatingIP', 'subnet'],
    ['router with interfaces deleted', (c) => c.deleteRouter('r1'), 'RouterInUse', 'router'],
    ['floating IP already associated', (c) => c.associateFloatingIp('fip1', 'spare-a'), 'FloatingIpAlreadyAssociated', 'floatingIp', (c) => { c.createPort({ subnet: 'acme-a', name: 'spare-a' }); }],
    ['port already has a floating IP', (c) => c.associateFloatingIp('fip2', c.vm('web1').ports[0]!), 'FloatingIPPortAlreadyAssociated', 'port'],
    ['floating IP for a port without a router', (c) => c.associateFloatingIp('fip2', 'spare-b'), 'ExternalGatewayForFloatingIPNotFound', 'port', (c) => { c.createPort({ subnet: 'acme-b', name: 'spare-b' }); }],
    ['floating IP address taken', (c) => c.createFloatingIp({ tenant: 'acme', ip: c.floatingIps()[0]!.ip }), 'IpAddressAlreadyAllocated', 'ip'],
    ['NAT gateway\'s elastic IP released', (c) => c.releaseFloatingIp(c.natGateways()[0]!.floatingIpId), 'FloatingIpInUse', 'floatingIp'],
    ['VPC with ports deleted', (c) => c.deleteVpc('acme'), 'NetworkInUse', 'vpc'],
    ['subnet with ports deleted', (c) => c.deleteSubnet('acme-b'), 'SubnetInUse', 'subnet'],
    ['unknown VM', (c) => c.stopVm('nope'), 'InstanceNotFound', 'vm'],
  ];
  for (const [what, fn, code, path, setup] of cases) {
    it(`${what}: ${code} at ${path}`, () => {
      const { c, calls } = fixture();
      setup?.(c);
      calls.length = 0;
      const before = c.describe();
      let err: unknown;
      try { fn(c); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(CloudError);
      expect({ code: (err as CloudError).code, path: (err as CloudError).path }).toEqual({ code, path });
      expect(c.describe()).toEqual(before);
      expect(calls).toEqual([]);
    });
  }

  it('the RNG is restored too: the next id is the one an untroubled cloud hands out', () => {
    const a = fixture().c, b = fixture().c;
    expect(() => a.createVm({ name: 'x', flavor: { vcpus: 1, ramMb: 100000 }, image: 'i', subnets: ['acme-a'] })).toThrow(CloudError);
    expect(a.createPort({ subnet: 'acme-a' })).toEqual(b.createPort({ subnet: 'acme-a' }));
  });
});

describe('VNI allocator', () => {
  it('hands out the lowest free VNI and frees it with the VPC', () => {
    const c = new Cloud({ vniRange: [100, 102] });
    const v = ['a', 'b', 'c'].map((n) => c.createVpc({ name: n, cidr: '10.0.0.0/16', tenant: 't' }).vni);
    expect(v).toEqual([100, 101, 102]);
    expect(() => c.createVpc({ name: 'd', cidr: '10.0.0.0/16', tenant: 't' })).toThrow(expect.objectContaining({ code: 'NoNetworkAvailable' }));
    c.deleteVpc('b');
    expect(c.createVpc({ name: 'd', cidr: '10.0.0.0/16', tenant: 't' }).vni).toBe(101);
    expect(() => c.createVpc({ name: 'e', cidr: '10.0.0.0/16', tenant: 't', vni: 99 })).toThrow(expect.objectContaining({ code: 'InvalidInput', path: 'vni' }));
  });

  it('the default range is every 24-bit VNI but 0', () => {
    const c = new Cloud();
    expect(c.createVpc({ name: 'top', cidr: '10.0.0.0/16', tenant: 't', vni: 16777215 }).vni).toBe(16777215);
    expect(() => c.createVpc({ name: 'over', cidr: '10.0.0.0/16', tenant: 't', vni: 16777216 })).toThrow(expect.objectContaining({ code: 'InvalidInput', path: 'vni' }));
    expect(() => c.createVpc({ name: 'zero', cidr: '10.0.0.0/16', tenant: 't', vni: 0 })).toThrow(expect.objectContaining({ code: 'InvalidInput', path: 'vni' }));
    expect(c.createVpc({ name: 'low', cidr: '10.0.0.0/16', tenant: 't' }).vni).toBe(1);
  });

  it('refuses a range outside 1..16777215', () => {
    expect(() => new Cloud({ vniRange: [0, 5] })).toThrow(expect.objectContaining({ code: 'InvalidInput', path: 'vniRange' }));
    expect(() => new Cloud({ vniRange: [1, 0x1000000] })).toThrow(CloudError);
  });

  it('never hands out a live VNI (random create/delete sequences)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('create' as const), vni: fc.option(fc.integer({ min: 1, max: 12 }), { nil: undefined }) }),
      fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
      const c = new Cloud({ vniRange: [3, 10] });
      const live = new Map<string, number>();
      let n = 0;
      for (const o of ops) {
        if (o.kind === 'create') {
          const name = `v${n++}`;
          const free = [3, 4, 5, 6, 7, 8, 9, 10].filter((v) => ![...live.values()].includes(v));
          const expectOk = o.vni === undefined ? free.length > 0 : free.includes(o.vni);
          try {
            const spec = { name, cidr: '10.0.0.0/16', tenant: 't', ...(o.vni === undefined ? {} : { vni: o.vni }) };
            const got = c.createVpc(spec).vni;
            expect(expectOk).toBe(true);
            expect(got).toBe(o.vni ?? free[0]);
            live.set(name, got);
          } catch (e) {
            expect(e).toBeInstanceOf(CloudError);
            expect(expectOk).toBe(false);
          }
        } else if (live.size > 0) {
          const name = [...live.keys()][o.pick % live.size]!;
          c.deleteVpc(name);
          live.delete(name);
        }
        const vnis = c.vpcs().map((v) => v.vni);
        expect(new Set(vnis).size).toBe(vnis.length);
        expect(vnis.every((v) => v >= 3 && v <= 10)).toBe(true);
      }
    }), { numRuns: 150 });
  });
});

describe('IPAM', () => {
  it('takes the lowest free pool address; reserves network, gateway, broadcast; frees on delete', () => {
    const c = new Cloud();
    c.createVpc({ name: 'v', cidr: '10.0.0.0/16', tenant: 't' });
    const sn = c.createSubnet({ vpc: 'v', name: 's', cidr: '10.0.0.0/29' });
    expect(sn.gateway).toBe('10.0.0.1');
    expect(sn.allocationPools).toEqual([{ start: '10.0.0.2', end: '10.0.0.6' }]);
    const ips = [0, 1, 2, 3, 4].map(() => c.createPort({ subnet: 's' }).fixedIps[0]);
    expect(ips).toEqual(['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6']);
    expect(() => c.createPort({ subnet: 's' })).toThrow(expect.objectContaining({ code: 'IpAddressGenerationFailure' }));
    const third = c.describe().ports.find((p) => p.fixedIps[0] === '10.0.0.4')!;
    c.deletePort(third.id);
    expect(c.createPort({ subnet: 's' }).fixedIps[0]).toBe('10.0.0.4');
  });

  it('a subnet without gateway has every host address in its pool; a requested address may lie outside the pools', () => {
    const c = new Cloud();
    c.createVpc({ name: 'v', cidr: '10.0.0.0/16', tenant: 't' });
    expect(c.createSubnet({ vpc: 'v', name: 's', cidr: '10.0.0.0/29', gateway: null }).allocationPools).toEqual([{ start: '10.0.0.1', end: '10.0.0.6' }]);
    c.createSubnet({ vpc: 'v', name: 'p', cidr: '10.0.1.0/24', allocationPools: [{ start: '10.0.1.100', end: '10.0.1.101' }] });
    expect(c.createPort({ subnet: 'p' }).fixedIps[0]).toBe('10.0.1.100');
    expect(c.createPort({ subnet: 'p', ip: '10.0.1.7' }).fixedIps[0]).toBe('10.0.1.7');
  });

  it('overlap across VPCs is allowed (tenants overlap)', () => {
    const { c } = fixture();
    expect(c.subnet('globex-a').cidr).toBe(c.subnet('acme-a').cidr);
    expect(c.createPort({ subnet: 'globex-a' }).fixedIps[0]).toBe('10.0.1.2');
  });

  it('never hands out a taken or reserved address (random allocate/release sequences)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('alloc' as const), ip: fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }) }),
      fc.record({ kind: fc.constant('free' as const), pick: fc.nat() }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 50 }), (ops) => {
      const c = new Cloud();
      c.createVpc({ name: 'v', cidr: '10.0.0.0/16', tenant: 't' });
      // 10.0.0.0/28: network .0, gateway .1, broadcast .15; pools .4-.6 and .9-.12
      c.createSubnet({ vpc: 'v', name: 's', cidr: '10.0.0.0/28', allocationPools: [{ start: '10.0.0.4', end: '10.0.0.6' }, { start: '10.0.0.9', end: '10.0.0.12' }] });
      const held = new Map<number, string>();
      const pool = [4, 5, 6, 9, 10, 11, 12];
      for (const o of ops) {
        if (o.kind === 'alloc') {
          const free = pool.filter((a) => !held.has(a));
          const ok = o.ip === undefined ? free.length > 0 : o.ip >= 2 && o.ip <= 14 && !held.has(o.ip);
          try {
            const p = c.createPort({ subnet: 's', portSecurity: false, ...(o.ip === undefined ? {} : { ip: `10.0.0.${o.ip}` }) });
            const a = Number(p.fixedIps[0]!.split('.')[3]);
            expect(ok).toBe(true);
            expect(a).toBe(o.ip ?? free[0]);
            held.set(a, p.id);
          } catch (e) {
            expect(e).toBeInstanceOf(CloudError);
            expect(ok).toBe(false);
          }
        } else if (held.size > 0) {
          const a = [...held.keys()][o.pick % held.size]!;
          c.deletePort(held.get(a)!);
          held.delete(a);
        }
        const addrs = c.describe().ports.map((p) => Number(p.fixedIps[0]!.split('.')[3]));
        expect(new Set(addrs).size).toBe(addrs.length);
        expect(addrs.some((a) => a === 0 || a === 1 || a === 15)).toBe(false);
      }
    }), { numRuns: 150 });
  });
});

describe('security groups', () => {
  it('a new group allows egress anywhere; a port without groups joins its tenant\'s default group', () => {
    const c = new Cloud();
    const g = c.createSecurityGroup({ name: 'web', tenant: 't' });
    expect(g.rules.map(({ id: _id, ...r }) => r)).toEqual([{ direction: 'egress', ethertype: 'IPv4' }, { direction: 'egress', ethertype: 'IPv6' }]);
    c.createVpc({ name: 'v', cidr: '10.0.0.0/16', tenant: 't' });
    c.createSubnet({ vpc: 'v', name: 's', cidr: '10.0.0.0/24' });
    const p = c.createPort({ subnet: 's' });
    const def = c.securityGroups().find((x) => x.name === 'default')!;
    expect(p.securityGroups).toEqual([def.id]);
    expect(def.rules.filter((r) => r.direction === 'ingress').map((r) => r.remoteGroupId)).toEqual([def.id, def.id]);
    expect(c.createPort({ subnet: 's', securityGroups: [] }).securityGroups).toEqual([]);
  });

  it('members are the fixed and allowed-pair addresses of the group\'s ports; a rule is removed by id', () => {
    const { dp, calls } = recorder();
    const c = new Cloud({ dataplane: dp });
    c.createVpc({ name: 'v', cidr: '10.0.0.0/16', tenant: 't' });
    c.createSubnet({ vpc: 'v', name: 's', cidr: '10.0.0.0/24' });
    const g = c.createSecurityGroup({ name: 'web', tenant: 't' });
    const r = c.addSecurityGroupRule('web', { direction: 'ingress', protocol: 'TCP', portRangeMin: 80 });
    expect(r).toMatchObject({ protocol: 'tcp', portRangeMin: 80, portRangeMax: 80 });
    c.createPort({ subnet: 's', securityGroups: ['web'], allowedAddressPairs: [{ ip: '10.0.0.200' }] });
    const last = calls.at(-1)!;
    expect(last[0]).toBe('securityGroups');
    expect((last[1] as { id: string; members: string[] }[]).find((x) => x.id === g.id)!.members).toEqual(['10.0.0.2', '10.0.0.200']);
    c.removeSecurityGroupRule(r.id);
    expect(c.securityGroups()[0]!.rules).toHaveLength(2);
    expect(() => c.removeSecurityGroupRule(r.id)).toThrow(expect.objectContaining({ code: 'SecurityGroupRuleNotFound' }));
  });
});

describe('placement', () => {
  it('spreads by free RAM, respects zones, and explains every host', () => {
    const { c } = fixture();
    const placed = c.vm('web1').hypervisor; // hv1 and hv2 tie on weights; hv1 sorts first
    expect(placed).toBe('hv1');
    c.createVm({ name: 'web2', flavor: 'm1.small', image: 'i' });
    expect(c.vm('web2').hypervisor).toBe('hv2');
    c.createVm({ name: 'z2', flavor: 'm1.tiny', image: 'i', az: 'az2' });
    expect(c.vm('z2').hypervisor).toBe('hv3');
    const ex = c.explain({ flavor: { vcpus: 1, ramMb: 7000 }, az: 'az1' });
    expect(ex.host).toBe(null);
    expect(ex.verdicts).toEqual([
      expect.objectContaining({ host: 'hv1', state: 'rejected', filter: 'RamFilter' }),
      expect.objectContaining({ host: 'hv2', state: 'rejected', filter: 'RamFilter' }),
      expect.objectContaining({ host: 'hv3', state: 'rejected', filter: 'AvailabilityZoneFilter' }),
    ]);
  });

  it('NoValidHost names Nova\'s message and the filter counts', () => {
    const { c } = fixture();
    let err: CloudError | undefined;
    try { c.createVm({ name: 'x', flavor: { vcpus: 17, ramMb: 512 }, image: 'i' }); } catch (e) { err = e as CloudError; }
    expect(err?.code).toBe('NoValidHost');
    expect(err?.message).toContain('No valid host was found. There are not enough hosts available.');
    expect(err?.message).toContain('CoreFilter: (start: 3, end: 0)');
  });

  it('vCPUs overcommit 4.0 by default (Nova 2023.1+), RAM not at all', () => {
    const c = new Cloud();
    c.addHypervisor({ name: 'h', region: 'r', az: 'a', vcpus: 2, ramMb: 4096, ip: '192.0.2.1' });
    for (let i = 0; i < 8; i++) c.createVm({ name: `v${i}`, flavor: { vcpus: 1, ramMb: 512 }, image: 'i' });
    expect(() => c.createVm({ name: 'v8', flavor: { vcpus: 1, ramMb: 1 }, image: 'i' })).toThrow(expect.objectContaining({ code: 'NoValidHost' }));
    const d = new Cloud({ placement: { cpuAllocationRatio: 16 } });
    d.addHypervisor({ name: 'h', region: 'r', az: 'a', vcpus: 1, ramMb: 4096, ip: '192.0.2.1' });
    expect(() => d.createVm({ name: 'v', flavor: { vcpus: 1, ramMb: 4097 }, image: 'i' })).toThrow(expect.objectContaining({ code: 'NoValidHost' }));
  });

  it('anti-affinity puts members on distinct hosts, then refuses; affinity keeps them together', () => {
    const { c } = fixture();
    c.createVm({ name: 's1', flavor: 'm1.tiny', image: 'i', serverGroup: 'spread' });
    c.createVm({ name: 's2', flavor: 'm1.tiny', image: 'i', serverGroup: 'spread' });
    c.createVm({ name: 's3', flavor: 'm1.tiny', image: 'i', serverGroup: 'spread' });
    expect(new Set(['s1', 's2', 's3'].map((n) => c.vm(n).hypervisor)).size).toBe(3);
    expect(() => c.createVm({ name: 's4', flavor: 'm1.tiny', image: 'i', serverGroup: 'spread' })).toThrow(expect.objectContaining({ code: 'NoValidHost' }));
    expect(c.explain({ flavor: 'm1.tiny', serverGroup: 'spread' }).filterCounts.at(-2)).toEqual({ filter: 'ServerGroupAntiAffinityFilter', start: 3, end: 0 });
    c.createServerGroup({ name: 'pack', policy: 'affinity' });
    c.createVm({ name: 'p1', flavor: 'm1.tiny', image: 'i', serverGroup: 'pack', az: 'az2' });
    c.createVm({ name: 'p2', flavor: 'm1.tiny', image: 'i', serverGroup: 'pack' });
    expect(c.vm('p2').hypervisor).toBe('hv3');
    expect(() => c.migrateVm('p2')).toThrow(expect.objectContaining({ code: 'NoValidHost' }));
  });
});

describe('routers and floating IPs', () => {
  it('routes, gateway changes and deletion, each told to the data plane', () => {
    const { c, calls } = fixture();
    c.addRoute('r1', { destination: '10.9.0.0/16', nexthop: '10.0.1.254' });
    expect(c.routerInfoOf('r1').routes).toEqual([{ destination: '10.9.0.0/16', nexthop: '10.0.1.254' }]);
    expect(() => c.removeRouterInterface('r1', 'acme-a')).toThrow(expect.objectContaining({ code: 'RouterInterfaceInUseByFloatingIP' }));
    c.disassociateFloatingIp('fip1');
    expect(() => c.removeRouterInterface('r1', 'acme-a')).toThrow(expect.objectContaining({ code: 'RouterInterfaceInUseByRoute' }));
    c.removeRoute('r1', { destination: '10.9.0.0/16', nexthop: '10.0.1.254' });
    expect(() => c.clearRouterGateway('r1')).not.toThrow();
    expect(c.routerInfoOf('r1').gateway).toBe(undefined);
    c.setRouterGateway('r1', { snat: false });
    expect(c.routerInfoOf('r1').gateway?.snat).toBe(false);
    c.removeRouterInterface('r1', 'acme-a');
    // the gateway address is reserved again: no port may take it
    expect(() => c.createPort({ subnet: 'acme-a', ip: '10.0.1.1' })).toThrow(expect.objectContaining({ code: 'IpAddressAlreadyAllocated' }));
    c.deleteRouter('r1');
    expect(calls.map((x) => x[0])).toEqual(['routerChanged', 'routerChanged', 'routerChanged', 'routerChanged', 'routerChanged', 'routerChanged', 'routerDeleted']);
    expect(c.describe().ports.filter((p) => p.networkId === 'external').map((p) => p.deviceOwner)).toEqual(['network:nat_gateway']);
  });

  it('a floating IP without tenant takes the tenant of its port; released, its address is free', () => {
    const { c } = fixture();
    const f = c.createFloatingIp();
    expect(f.tenant).toBe('');
    const p = c.createPort({ subnet: 'acme-a' });
    c.associateFloatingIp(f.ip, p.id);
    expect(c.floatingIps().find((x) => x.id === f.id)).toMatchObject({ tenant: 'acme', portId: p.id, fixedIp: p.fixedIps[0] });
    c.releaseFloatingIp(f.id);
    expect(c.createFloatingIp({ tenant: 'acme' }).ip).toBe(f.ip);
  });
});

describe('lifecycle, migration, evacuation', () => {
  it('stop, start, delete: the data plane hears each; delete releases the VM\'s own ports', () => {
    const { c, calls } = fixture();
    const vm = c.vm('web1');
    c.stopVm('web1');
    expect(c.vm('web1').status).toBe('SHUTOFF');
    c.startVm('web1');
    expect(calls.map((x) => x[0])).toEqual(['stopVm', 'startVm']);
    expect(calls[0]).toEqual(['stopVm', vm.id]);
    calls.length = 0;
    c.deleteVm('web1');
    expect(calls.map((x) => x[0])).toEqual(['stopVm', 'routerChanged', 'securityGroups']);
    expect(c.describe().ports.some((p) => p.id === vm.ports[0])).toBe(false);
    expect(c.floatingIps().find((f) => f.name === 'fip1')!.portId).toBe(null);
    // its address is free again
    expect(c.createPort({ subnet: 'acme-a' }).fixedIps[0]).toBe(vm.portDetails[0]!.fixedIps[0]);
  });

  it('ifNoHost: error keeps the VM in ERROR with the fault, without ports, the data plane not told', () => {
    const { c, calls } = fixture();
    const vm = c.createVm({ name: 'x', flavor: { vcpus: 1, ramMb: 100000 }, image: 'i', subnets: ['acme-a'], ifNoHost: 'error' });
    expect(vm).toMatchObject({ status: 'ERROR', hypervisor: null, ports: [], fault: { code: 'NoValidHost' } });
    expect(vm.fault!.message).toContain('RamFilter: (start: 3, end: 0)');
    expect(calls).toEqual([]);
    expect(() => c.startVm('x')).toThrow(expect.objectContaining({ code: 'InstanceInvalidState' }));
    c.deleteVm('x');
    expect(c.vms().map((v) => v.name)).toEqual(['web1']);
  });

  it('a port given at boot outlives the VM, address kept', () => {
    const { c } = fixture();
    const p = c.createPort({ subnet: 'acme-b', ip: '10.0.2.77' });
    c.createVm({ name: 'x', flavor: 'm1.tiny', image: 'i', ports: [p.id] });
    expect(c.port(p.id).deviceOwner).toBe('compute:nova');
    c.deleteVm('x');
    expect(c.port(p.id)).toMatchObject({ deviceId: null, fixedIps: ['10.0.2.77'] });
  });

  it('live migration keeps MAC and IP and tells the data plane from where to where', () => {
    const { c, calls } = fixture();
    const before = c.vm('web1');
    const moved = c.migrateVm('web1');
    expect(moved).toEqual({ from: 'hv1', to: 'hv2' });
    const after = c.vm('web1');
    expect(after.hypervisor).toBe('hv2');
    expect(after.portDetails.map((p) => [p.mac, p.fixedIps])).toEqual(before.portDetails.map((p) => [p.mac, p.fixedIps]));
    expect(calls).toEqual([['migrateVm', c.vmBootOf('web1'), 'hv1', 'hv2']]);
    c.stopVm('web1');
    expect(() => c.migrateVm('web1')).toThrow(expect.objectContaining({ code: 'InstanceInvalidState' }));
  });

  it('failHypervisor evacuates what fits and leaves the rest in ERROR with NoValidHost', () => {
    const { c, calls } = fixture();
    c.createVm({ name: 'big', flavor: { vcpus: 1, ramMb: 5000 }, image: 'i' }); // hv2 (more free RAM)
    c.createVm({ name: 'big2', flavor: { vcpus: 1, ramMb: 5000 }, image: 'i' }); // hv1
    expect([c.vm('big').hypervisor, c.vm('big2').hypervisor]).toEqual(['hv2', 'hv1']);
    c.stopVm('web1');
    calls.length = 0;
    const ports = c.vm('web1').portDetails;
    const out = c.failHypervisor('hv1');
    // web1 (2 GB): hv2 has more free vCPUs (15 vs 8), hv3 more free RAM (4096 vs 3192 MB): 1.0 each, the name breaks the tie
    expect(out.map((o) => [o.vm, o.to])).toEqual([['big2', null], ['web1', 'hv2']]);
    expect(c.vm('big2')).toMatchObject({ status: 'ERROR', hypervisor: null, fault: { code: 'NoValidHost' } });
    expect(c.vm('web1')).toMatchObject({ status: 'SHUTOFF', hypervisor: 'hv2' });
    expect(c.vm('web1').portDetails).toEqual(ports);
    // the stopped VM is not started on its new host
    expect(calls).toEqual([['removeHypervisor', 'hv1']]);
    expect(() => c.removeHypervisor('hv1')).not.toThrow();
  });

  it('an ACTIVE VM evacuated is started on its new host', () => {
    const { c, calls } = fixture();
    c.failHypervisor('hv1');
    expect(calls.map((x) => x[0])).toEqual(['removeHypervisor', 'startVm']);
    expect((calls[1]![1] as { hypervisor: string }).hypervisor).toBe('hv2');
    c.recoverHypervisor('hv1');
    expect(calls.at(-1)).toEqual(['addHypervisor', { name: 'hv1', region: 'r1', az: 'az1', ip: '192.168.0.11' }]);
  });
});

describe('what the data plane is told', () => {
  it('a scenario, call by call', () => {
    const { dp, calls } = recorder();
    const c = new Cloud({ dataplane: dp, seed: 1, external: EXTERNAL });
    c.addHypervisor({ name: 'hv1', region: 'r1', az: 'az1', vcpus: 4, ramMb: 8192, ip: '192.168.0.11' });
    const vpc = c.createVpc({ name: 'v', cidr: '10.0.0.0/16', tenant: 't' });
    c.createSubnet({ vpc: 'v', name: 's', cidr: '10.0.1.0/24', hostRoutes: [{ destination: '10.9.0.0/16', nexthop: '10.0.1.254' }] });
    const r = c.createRouter({ name: 'r', tenant: 't', externalGateway: { snat: true } });
    c.addRouterInterface('r', 's');
    const vm = c.createVm({ name: 'vm1', flavor: 'm1.tiny', image: 'cirros', subnets: ['s'] });
    const fip = c.createFloatingIp({ tenant: 't' });
    c.associateFloatingIp(fip.id, vm.ports[0]!);
    const nat = c.createNatGateway({ vpc: 'v', subnet: 's', name: 'nat' });
    c.deleteNatGateway('nat');
    expect(calls.map((x) => x[0])).toEqual([
      'addHypervisor', 'routerChanged', 'routerChanged', 'securityGroups', 'startVm', 'routerChanged', 'natGatewayChanged', 'natGatewayDeleted',
    ]);
    const port = c.vm('vm1').portDetails[0]!;
    const seg = { networkId: vpc.id, vni: 1 };
    expect(calls[4]).toEqual(['startVm', {
      id: vm.id, name: 'vm1', hypervisor: 'hv1',
      nics: [{
        port: { id: port.id, segment: seg, mac: port.mac, fixedIps: ['10.0.1.2'], allowedAddressPairs: [], securityGroups: port.securityGroups, portSecurity: true, deviceOwner: 'compute:nova' },
        cidr: '10.0.1.2/24', gateway: '10.0.1.1', hostRoutes: [{ destination: '10.9.0.0/16', nexthop: '10.0.1.254' }],
      }],
    }]);
    expect(port.mac).toMatch(/^fa:16:3e(:[0-9a-f]{2}){3}$/);
    const info = calls[5]![1] as import('../../src/compute/types.js').RouterInfo;
    expect(info.id).toBe(r.id);
    expect(info.interfaces.map((i) => [i.cidr, i.port.deviceOwner, i.port.portSecurity, i.port.segment])).toEqual([['10.0.1.1/24', 'network:router_interface', false, seg]]);
    expect(info.gateway).toMatchObject({ cidr: '203.0.113.2/24', nexthop: '203.0.113.1', snat: true, port: { segment: { networkId: 'external', vni: 0 }, deviceOwner: 'network:router_gateway' } });
    expect(info.floatingIps).toEqual([{ floatingIp: '203.0.113.3', fixedIp: '10.0.1.2' }]);
    const n = calls[6]![1] as import('../../src/compute/types.js').NatGatewayInfo;
    expect(n).toMatchObject({ id: nat.id, inside: { cidr: '10.0.1.3/24' }, outside: { cidr: '203.0.113.4/24', nexthop: '203.0.113.1' }, sources: ['10.0.0.0/16'] });
    expect(calls[7]).toEqual(['natGatewayDeleted', nat.id]);
    // the NAT gateway's elastic IP and inside address are free again
    expect(c.describe().subnets[0]!.allocated.map((a) => a.ip)).toEqual(['10.0.1.1', '10.0.1.2']);
    expect(c.createFloatingIp({ tenant: 't' }).ip).toBe('203.0.113.4');
  });

  it('the same seed gives the same cloud, ids and MACs included', () => {
    expect(fixture().c.describe()).toEqual(fixture().c.describe());
  });

  it('describe() is JSON-able', () => {
    const d = fixture().c.describe();
    expect(JSON.parse(JSON.stringify(d))).toEqual(d);
  });
});

describe('a NAT gateway in a subnet', () => {
  it('is the gateway of a subnet no router serves (a router cannot take it then), gives it back when deleted, and takes the next free address in a routed one', () => {
    const { c } = fixture();
    // fixture: nat1 in acme-b, which has no router
    expect(c.natGatewayInfoOf('nat1').inside.cidr).toBe('10.0.2.1/24');
    const r = c.createRouter({ name: 'r2', tenant: 'acme' });
    const before = c.describe();
    expect(() => c.addRouterInterface(r.id, 'acme-b')).toThrow(expect.objectContaining({ code: 'IpAddressAlreadyAllocated' }));
    expect(c.describe()).toEqual(before);
    c.deleteNatGateway('nat1');
    // the gateway address is reserved again: a VM does not get it, the router does
    c.createVm({ name: 'b1', flavor: 'm1.tiny', image: 'cirros', subnets: ['acme-b'] });
    expect(c.vm('b1').portDetails[0]!.fixedIps).toEqual(['10.0.2.2']);
    c.addRouterInterface(r.id, 'acme-b');
    expect(c.routerInfoOf('r2').interfaces.map((i) => i.cidr)).toEqual(['10.0.2.1/24']);
    // acme-a is routed (r1): a NAT gateway there takes the next free address
    c.createNatGateway({ vpc: 'acme', subnet: 'acme-a', name: 'nat2' });
    expect(c.natGatewayInfoOf('nat2').inside.cidr).toBe('10.0.1.3/24');
  });
});
