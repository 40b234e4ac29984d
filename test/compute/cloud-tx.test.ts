// How the Cloud runs an operation: whole or not at all (the journal of table.ts), the refused ones leaving
// no trace — not in describe(), not in the ids drawn after, not in the data plane —; batch() holding the
// notifications back and coalescing them without changing where the data plane ends up.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Cloud, CloudError } from '../../src/compute/cloud.js';
import { Journal, Table } from '../../src/compute/table.js';
import { SecurityGroups, type SecurityGroup } from '../../src/devices/security-group.js';
import { modelDataplane, opsArb, OPS_CLOUD, recorder, runOp, type Op } from './cloud-ops.js';

/** run 'op'; true if it was accepted, false if refused (a CloudError); anything else is a bug and thrown */
function accepted(c: Cloud, op: Op): boolean {
  try { runOp(c, op); return true; } catch (e) {
    if (e instanceof CloudError) return false;
    throw e;
  }
}

describe('refused operations leave no trace (random sequences)', () => {
  it('each refusal leaves describe() as it was and tells the data plane nothing', () => {
    fc.assert(fc.property(opsArb(80), (ops) => {
      const { dp, calls } = recorder();
      const c = new Cloud({ ...OPS_CLOUD, dataplane: dp });
      for (const op of ops) {
        const before = c.describe(), n = calls.length;
        if (!accepted(c, op)) {
          expect(c.describe()).toEqual(before);
          expect(calls.length).toBe(n);
        }
      }
    }), { numRuns: 150 });
  });

  it('a sequence gives the same cloud, ids and data-plane calls as the same sequence without its refused operations', () => {
    fc.assert(fc.property(opsArb(80), (ops) => {
      const a = recorder(), b = recorder();
      const ca = new Cloud({ ...OPS_CLOUD, dataplane: a.dp }), cb = new Cloud({ ...OPS_CLOUD, dataplane: b.dp });
      for (const op of ops) if (accepted(ca, op)) expect(accepted(cb, op)).toBe(true);
      expect(cb.describe()).toEqual(ca.describe());
      expect(b.calls).toEqual(a.calls);
      // the RNG too: the next id drawn is the same
      expect(cb.createServerGroup({ name: 'next', policy: 'affinity' }).id).toBe(ca.createServerGroup({ name: 'next', policy: 'affinity' }).id);
    }), { numRuns: 150 });
  });

  it('a refused setRouterGateway puts the old gateway port back in its place', () => {
    // the old gateway port is dropped before the new one is checked: its removal is undone, in place
    const { dp, calls } = recorder();
    const c = new Cloud({ ...OPS_CLOUD, dataplane: dp });
    c.createRouter({ name: 'r0', tenant: 't', externalGateway: {} });
    c.createRouter({ name: 'r1', tenant: 't', externalGateway: {} });
    c.createFloatingIp({ tenant: 't' });
    calls.length = 0;
    const before = c.describe();
    expect(() => c.setRouterGateway('r0', { snat: 'yes' as unknown as boolean })).toThrow(expect.objectContaining({ code: 'InvalidInput', path: 'externalGateway.snat' }));
    expect(c.describe()).toEqual(before);
    expect(calls).toEqual([]);
    c.setRouterGateway('r0', { snat: false });
    expect(c.describe().ports.map((p) => p.deviceId)).toEqual([c.router('r1').id, c.router('r0').id]);
  });
});

describe('batch()', () => {
  it('ends the data plane where the operations one by one leave it, the groups told at most once', () => {
    fc.assert(fc.property(opsArb(80), (ops) => {
      const one = modelDataplane(), all = modelDataplane();
      const rec = recorder();
      const c1 = new Cloud({ ...OPS_CLOUD, dataplane: one.dp });
      const ok = ops.filter((op) => accepted(c1, op));
      const c2 = new Cloud({ ...OPS_CLOUD, dataplane: { ...all.dp, securityGroups: (g) => { all.dp.securityGroups(g); rec.dp.securityGroups(g); } } });
      c2.batch(() => { for (const op of ok) runOp(c2, op); });
      expect(c2.describe()).toEqual(c1.describe());
      expect(all.state()).toEqual(one.state());
      expect(rec.calls.length).toBeLessThanOrEqual(1);
    }), { numRuns: 150 });
  });

  it('holds the notifications until it returns; each router once, from the final state', () => {
    const { dp, calls } = recorder();
    const c = new Cloud({ dataplane: dp, seed: 1, external: { cidr: '203.0.113.0/24', gateway: '203.0.113.1' } });
    c.batch(() => {
      c.addHypervisor({ name: 'hv1', region: 'r', az: 'az1', vcpus: 8, ramMb: 16384, ip: '192.168.0.1' });
      c.createVpc({ name: 'v', cidr: '10.0.0.0/16', tenant: 't' });
      c.createSubnet({ vpc: 'v', name: 's', cidr: '10.0.1.0/24' });
      c.createRouter({ name: 'r', tenant: 't', externalGateway: {} });
      c.addRouterInterface('r', 's');
      for (let i = 0; i < 3; i++) c.createVm({ name: `vm${i}`, flavor: 'm1.tiny', image: 'cirros', subnets: ['s'] });
      c.addRoute('r', { destination: '10.9.0.0/16', nexthop: '10.0.1.254' });
      expect(calls).toEqual([]);
    });
    expect(calls.map((x) => x[0])).toEqual(['addHypervisor', 'routerChanged', 'securityGroups', 'startVm', 'startVm', 'startVm']);
    expect(calls[1]![1]).toEqual(c.routerInfoOf('r'));
    expect(calls[2]![1]).toEqual(c.securityGroupsForDataplane());
    expect((calls[2]![1] as { members: string[] }[])[0]!.members).toEqual(['10.0.1.2', '10.0.1.3', '10.0.1.4']);
  });

  it('a router or NAT gateway created and deleted inside is never told; one that existed before is told deleted', () => {
    const { dp, calls } = recorder();
    const c = new Cloud({ dataplane: dp, seed: 1, external: { cidr: '203.0.113.0/24', gateway: '203.0.113.1' } });
    c.createRouter({ name: 'old', tenant: 't' });
    c.createVpc({ name: 'v', cidr: '10.0.0.0/16', tenant: 't' });
    c.createSubnet({ vpc: 'v', name: 's', cidr: '10.0.1.0/24' });
    calls.length = 0;
    c.batch(() => {
      c.createRouter({ name: 'brief', tenant: 't' });
      c.deleteRouter('brief');
      c.createNatGateway({ vpc: 'v', subnet: 's', name: 'n' });
      c.deleteNatGateway('n');
      c.addRouterInterface('old', 's');
      c.removeRouterInterface('old', 's');
      c.deleteRouter('old');
    });
    expect(calls.map((x) => x[0])).toEqual(['routerDeleted']);
  });

  it('an operation refused inside changes nothing; what was done before a throw is still told', () => {
    const { dp, calls } = recorder();
    const c = new Cloud({ dataplane: dp, seed: 1 });
    c.batch(() => {
      c.addHypervisor({ name: 'hv1', region: 'r', az: 'az1', vcpus: 1, ramMb: 1024, ip: '192.168.0.1' });
      expect(() => c.addHypervisor({ name: 'hv1', region: 'r', az: 'az1', vcpus: 1, ramMb: 1024, ip: '192.168.0.2' })).toThrow(CloudError);
      c.addHypervisor({ name: 'hv2', region: 'r', az: 'az1', vcpus: 1, ramMb: 1024, ip: '192.168.0.2' });
    });
    expect(calls.map((x) => x[1])).toEqual([{ name: 'hv1', region: 'r', az: 'az1', ip: '192.168.0.1' }, { name: 'hv2', region: 'r', az: 'az1', ip: '192.168.0.2' }]);
    calls.length = 0;
    expect(() => c.batch(() => {
      c.removeHypervisor('hv2');
      c.removeHypervisor('hv9');
    })).toThrow(expect.objectContaining({ code: 'ComputeHostNotFound' }));
    expect(calls).toEqual([['removeHypervisor', 'hv2']]);
    expect(c.hypervisors().map((h) => h.name)).toEqual(['hv1']);
  });
});

describe('the groups the data plane gets', () => {
  it('are the same frozen objects while unchanged, new ones when rules or members change; the compiler takes them', () => {
    const told: SecurityGroup[][] = [];
    const { dp } = recorder();
    const c = new Cloud({ dataplane: { ...dp, securityGroups: (g) => { told.push(g); } }, seed: 1 });
    c.addHypervisor({ name: 'hv1', region: 'r', az: 'az1', vcpus: 8, ramMb: 16384, ip: '192.168.0.1' });
    for (const t of ['a', 'b']) {
      c.createVpc({ name: t, cidr: '10.0.0.0/16', tenant: t });
      c.createSubnet({ vpc: t, name: `${t}-s`, cidr: '10.0.1.0/24' });
      c.createSecurityGroup({ name: 'web', tenant: t });
    }
    c.createVm({ name: 'a1', flavor: 'm1.tiny', image: 'i', subnets: ['a-s'] });
    c.createVm({ name: 'b1', flavor: 'm1.tiny', image: 'i', subnets: ['b-s'] });
    const [before, after] = told.slice(-2) as [SecurityGroup[], SecurityGroup[]];
    // groups: web(a), web(b), default(a), default(b); b1 joined default(b) only
    expect(after.map((g) => g.members)).toEqual([[], [], ['10.0.1.2'], ['10.0.1.2']]);
    expect(after.slice(0, 3)).toEqual(before.slice(0, 3));
    for (let i = 0; i < 3; i++) expect(after[i]).toBe(before[i]);
    expect(after[3]).not.toBe(before[3]);
    expect(Object.isFrozen(after[3]) && Object.isFrozen(after[3]!.members) && Object.isFrozen(after[3]!.rules[0])).toBe(true);
    const port = c.vm('b1').portDetails[0]!;
    expect(() => SecurityGroups.compileDetailed([{ id: port.id, ofport: 1, mac: port.mac, fixedIps: port.fixedIps, securityGroups: port.securityGroups, network: 1 }], after)).not.toThrow();
    // what the read API hands out is a copy
    expect(Object.isFrozen(c.securityGroupsForDataplane()[0])).toBe(false);
  });
});

describe('table.ts', () => {
  const table = (j: Journal): Table<{ id: string; v: number[] }> => new Table(j, (r) => r.id);

  it('a rollback undoes puts, updates and removals and keeps the order', () => {
    const j = new Journal();
    const t = table(j);
    j.begin();
    for (const id of ['a', 'b', 'c']) t.put({ id, v: [1] });
    j.commit();
    j.begin();
    t.remove('a');
    t.update(t.get('b')!, { v: [2] });
    t.put({ id: 'd', v: [] });
    t.remove('c');
    t.put({ id: 'a', v: [9] });
    j.rollback();
    expect([...t.values()]).toEqual([{ id: 'a', v: [1] }, { id: 'b', v: [1] }, { id: 'c', v: [1] }]);
    expect(t.seqOf('a')).toBeLessThan(t.seqOf('b'));
  });

  it('the hook hears every change, the undoing ones too', () => {
    const j = new Journal();
    const seen: string[] = [];
    const t = new Table<{ id: string }>(j, (r) => r.id, (k, a, b) => seen.push(`${k}:${a === undefined ? '-' : 'x'}${b === undefined ? '-' : 'x'}`));
    j.begin();
    t.put({ id: 'a' });
    j.rollback();
    expect(seen).toEqual(['a:-x', 'a:x-']);
    expect(t.size).toBe(0);
  });

  it('records are frozen: a change in place fails instead of escaping the journal', () => {
    const j = new Journal();
    const t = table(j);
    const r = t.put({ id: 'a', v: [1] });
    expect(() => { r.v.push(2); }).toThrow(TypeError);
    expect(() => { (r as { id: string }).id = 'b'; }).toThrow(TypeError);
  });
});
