/**
 * The fabric's incremental upkeep (l2pop.ts, ovs-agent.ts): after any mix of
 * plugs and unplugs, batched or not, every br-int holds what a fresh full
 * compile of its bound ports and the groups (members = the groups' addresses
 * bound on other hosts) gives, the viewer's tunnels are what a
 * from-scratch pass over every pair of hypervisors declares, and every
 * br-tun holds what the same steps one by one leave.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Topology } from '../../src/topology/topology.js';
import { OvsFabric } from '../../src/compute/l2pop.js';
import { SecurityGroups, type SecurityGroup } from '../../src/devices/security-group.js';
import type { PortInfo } from '../../src/compute/types.js';

const HVS = ['hv1', 'hv2', 'hv3', 'hv4'];
const NETS = [['net-a', 100], ['net-b', 200], ['net-c', 300]] as const;
const GROUPS: SecurityGroup[] = [
  SecurityGroups.defaultGroup('dflt'),
  SecurityGroups.newGroup('web', [{ direction: 'ingress', protocol: 'tcp', portRangeMin: 80, portRangeMax: 80, remoteGroupId: 'dflt' }]),
  SecurityGroups.newGroup('open', [{ direction: 'ingress', protocol: 'icmp' }]),
];

const strip = (l: string): string => l.replace(/ ?(cookie|duration|n_packets|n_bytes|idle_age|hard_age)=[^,]*,/g, '').trim();

/** br-int's flows as a fresh compile of what 'fabric' has bound gives them (dead ports' drops left out). */
function expectedBrInt(fabric: OvsFabric, name: string): string[] {
  const agent = fabric.agent(name);
  const elsewhere = new Map<string, string[]>();
  for (const o of fabric.hypervisors()) {
    if (o === name) continue;
    for (const p of fabric.agent(o).boundPorts()) {
      if (!p.portSecurity) continue;
      for (const g of p.securityGroups) elsewhere.set(g, [...(elsewhere.get(g) ?? []), ...p.fixedIps]);
    }
  }
  const groups = GROUPS.map((g) => (elsewhere.has(g.id) ? { ...g, members: elsewhere.get(g.id)! } : g));
  const ports = agent.boundPorts().map((p) => ({
    id: p.id, ofport: agent.port(p.id).ofport, mac: p.mac, fixedIps: p.fixedIps, securityGroups: p.securityGroups,
    network: agent.vlans.get(p.segment.networkId), portSecurity: p.portSecurity,
  }));
  const br = new Topology({ seed: 1 }).ovsBridge('x', { defaultFlows: 'none' });
  br.addFlows(SecurityGroups.compile(ports, groups));
  return br.dumpFlows().map(strip).sort();
}

function actualBrInt(fabric: OvsFabric, name: string): string[] {
  return fabric.agent(name).dumpFlows('br-int').map(strip).filter((l) => !/^table=0, priority=2,in_port=/.test(l)).sort();
}

/** The tunnels a pass over every pair declares: (older, newer) while either has a live tunnel to the other. */
function expectedTunnels(fabric: OvsFabric, ips: Map<string, string>): { a: string; b: string; type: string; vni: number }[] {
  const out = [];
  const names = fabric.hypervisors();
  for (let i = 0; i < names.length; i++) {
    for (let j = i + 1; j < names.length; j++) {
      const a = fabric.agent(names[i]!), b = fabric.agent(names[j]!);
      if (!a.tunnelRemotes().includes(ips.get(names[j]!)!) && !b.tunnelRemotes().includes(ips.get(names[i]!)!)) continue;
      const shared = a.boundPorts().find((p) => b.hostsNetwork(p.segment.networkId));
      out.push({ a: `${names[i]}/br-tun`, b: `${names[j]}/br-tun`, type: 'vxlan', vni: shared?.segment.vni ?? 0 });
    }
  }
  return out;
}

type Step = { plug: boolean; vm: number; hv: number; net: number; groups: string[]; secured: boolean; batch: boolean };

describe('OvsFabric, incrementally', () => {
  it('every br-int and the tunnels equal a from-scratch computation after any plugs and unplugs', () => {
    const step = fc.record({
      plug: fc.boolean(), vm: fc.nat(9), hv: fc.nat(HVS.length - 1), net: fc.nat(NETS.length - 1),
      groups: fc.subarray(['dflt', 'web', 'open']), secured: fc.boolean(), batch: fc.boolean(),
    });
    fc.assert(fc.property(fc.array(fc.array(step, { minLength: 1, maxLength: 4 }), { maxLength: 8 }), (rounds) => {
      const ips = new Map(HVS.map((h, i) => [h, `192.168.0.${11 + i}`]));
      const make = (): [Topology, OvsFabric] => {
        const t = new Topology({ seed: 3 });
        const fabric = new OvsFabric(t);
        for (const h of HVS) fabric.addHypervisor({ name: h, region: 'r', az: 'az', ip: ips.get(h)! });
        fabric.setSecurityGroups(GROUPS);
        return [t, fabric];
      };
      const [t, fabric] = make();
      // the same steps one by one, never batched: br-tun ends the same
      const [, plain] = make();
      const where = new Map<number, string>();
      const apply = (s: Step, fabric: OvsFabric, where: Map<number, string>): void => {
        const at = where.get(s.vm);
        if (at !== undefined) { fabric.unplug(at, `port-${s.vm}`); where.delete(s.vm); return; }
        if (!s.plug) return;
        const [net, vni] = NETS[s.net]!;
        const p: PortInfo = {
          id: `port-${s.vm}`, segment: { networkId: net, vni }, mac: `fa:16:3e:00:01:${(s.vm + 16).toString(16)}`,
          fixedIps: [`10.0.${s.net}.${s.vm + 10}`], allowedAddressPairs: [], securityGroups: s.groups, portSecurity: s.secured, deviceOwner: 'compute:nova',
        };
        fabric.plug(HVS[s.hv]!, p);
        where.set(s.vm, HVS[s.hv]!);
      };
      const plainWhere = new Map<number, string>();
      for (const round of rounds) {
        const run = (): void => round.forEach((s) => apply(s, fabric, where));
        if (round[0]!.batch) fabric.batch(run); else run();
        round.forEach((s) => apply(s, plain, plainWhere));
        for (const h of HVS) expect(fabric.agent(h).dumpFlows('br-tun').map(strip).sort()).toEqual(plain.agent(h).dumpFlows('br-tun').map(strip).sort());
        for (const h of HVS) expect(actualBrInt(fabric, h)).toEqual(expectedBrInt(fabric, h));
        expect(t.tunnels).toEqual(expectedTunnels(fabric, ips));
      }
    }), { numRuns: 60 });
  });
});
