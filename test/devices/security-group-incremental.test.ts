// FirewallState (the incremental compiler) against the full compile: after any sequence of port
// additions, removals and group changes, its flows are a fresh compileDetailed's, key for key and
// line for line (conjunction ids included), and a flush reports exactly the flows that differ.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FirewallState, SecurityGroups, type SecurityGroup, type SgPort, type SgRule } from '../../src/devices/security-group.js';
import { InputError } from '../../src/errors.js';

const GIDS = ['a', 'b', 'c', 'd'];

const rule = (ids: string[]) => fc.record({
  direction: fc.constantFrom('ingress' as const, 'egress' as const),
  ethertype: fc.constantFrom('IPv4' as const, 'IPv6' as const),
  kind: fc.constantFrom('any', 'tcp', 'udp-range', 'icmp', 'icmp-type'),
  remote: fc.option(fc.constantFrom(...ids), { nil: undefined }),
  lo: fc.integer({ min: 1, max: 2000 }),
  span: fc.integer({ min: 0, max: 600 }),
}).map(({ direction, ethertype, kind, remote, lo, span }): SgRule => {
  const r: SgRule = { direction, ethertype };
  if (remote !== undefined) r.remoteGroupId = remote;
  if (kind === 'tcp') { r.protocol = 'tcp'; r.portRangeMin = lo; r.portRangeMax = lo; }
  if (kind === 'udp-range') { r.protocol = 'udp'; r.portRangeMin = lo; r.portRangeMax = lo + span; }
  if (kind === 'icmp') r.protocol = 'icmp';
  if (kind === 'icmp-type') { r.protocol = 'icmp'; r.portRangeMin = 8; }
  return r;
});

const group = (id: string, ids: string[]) => fc.record({
  rules: fc.array(rule(ids), { maxLength: 4 }),
  members: fc.array(fc.integer({ min: 1, max: 6 }).map((n) => `10.9.0.${n}`), { maxLength: 3 }),
}).map(({ rules, members }): SecurityGroup => ({ id, rules, ...(members.length > 0 ? { members } : {}) }));

const groups = fc.subarray(GIDS, { minLength: 1 }).chain((ids) => fc.tuple(...ids.map((id) => group(id, ids))));

const port = fc.record({
  mac: fc.integer({ min: 1, max: 5 }),
  ip: fc.integer({ min: 1, max: 8 }),
  groups: fc.subarray(['a', 'b', 'c', 'd', 'e']),
  network: fc.integer({ min: 1, max: 3 }),
  pair: fc.option(fc.constantFrom('10.0.0.200', '10.0.5.0/24', '0.0.0.0/0'), { nil: undefined }),
  secured: fc.boolean(),
});

type Op = { kind: 'add'; p: { mac: number; ip: number; groups: string[]; network: number; pair?: string; secured: boolean } }
  | { kind: 'remove'; i: number } | { kind: 'groups'; g: SecurityGroup[] } | { kind: 'flush' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: port.map((p) => ({ kind: 'add' as const, p })) },
  { weight: 2, arbitrary: fc.nat(10).map((i) => ({ kind: 'remove' as const, i })) },
  { weight: 1, arbitrary: groups.map((g) => ({ kind: 'groups' as const, g })) },
  { weight: 2, arbitrary: fc.constant({ kind: 'flush' as const }) },
);

const keyOf = (l: string): string => l.slice(0, l.lastIndexOf(',actions='));
const asMap = (lines: string[]): Map<string, string> => new Map(lines.map((l) => [keyOf(l), l]));

describe('FirewallState', () => {
  it('holds what a full compile of its ports and groups gives, and flushes exactly the difference', () => {
    fc.assert(fc.property(groups, fc.array(op, { maxLength: 25 }), (g0, ops) => {
      const fw = new FirewallState();
      let gs: SecurityGroup[] = g0;
      fw.setGroups(gs);
      const ports: SgPort[] = [];
      let next = 1;
      let installed = new Map<string, string>();
      const check = (): void => {
        for (const c of fw.flush()) {
          if (c.line === null) { expect(installed.has(c.key)).toBe(true); installed.delete(c.key); }
          else { expect(installed.get(c.key)).not.toBe(c.line); installed.set(c.key, c.line); }
        }
        const known = new Set(gs.map((g) => g.id));
        const full = SecurityGroups.compileDetailed(ports.map((p) => ({ ...p, securityGroups: p.securityGroups.filter((x) => known.has(x)) })), gs).flows;
        expect(installed).toEqual(asMap(full));
        expect(asMap(fw.lines())).toEqual(asMap(full));
        expect(fw.size).toBe(full.length);
      };
      for (const o of ops) {
        if (o.kind === 'add') {
          const p: SgPort = {
            ofport: next++, mac: `fa:16:3e:00:00:0${o.p.mac}`, fixedIps: [`10.0.0.${o.p.ip}`], securityGroups: o.p.groups,
            network: o.p.network, portSecurity: o.p.secured, ...(o.p.pair !== undefined ? { allowedAddressPairs: [{ ip: o.p.pair }] } : {}),
          };
          fw.addPort(p);
          ports.push(p);
        } else if (o.kind === 'remove') {
          if (ports.length === 0) continue;
          const [p] = ports.splice(o.i % ports.length, 1);
          fw.removePort(p!.ofport);
        } else if (o.kind === 'groups') {
          // some groups kept as the same objects (unchanged), the rest new
          const ids = new Set(o.g.map((g) => g.id));
          const keep = (x: SecurityGroup): boolean => x.rules.every((r) => r.remoteGroupId === undefined || ids.has(r.remoteGroupId!));
          gs = o.g.map((g) => gs.find((x) => x.id === g.id && g.rules.length % 2 === 0 && keep(x)) ?? g);
          fw.setGroups(gs);
        } else {
          check();
        }
      }
      check();
    }), { numRuns: 300 });
  });

  it('refuses a bad port or group before anything changes', () => {
    const fw = new FirewallState();
    fw.setGroups([SecurityGroups.defaultGroup('g')]);
    fw.addPort({ ofport: 1, mac: 'fa:16:3e:00:00:01', fixedIps: ['10.0.0.1'], securityGroups: ['g'], network: 1 });
    const before = fw.flush();
    expect(() => fw.addPort({ ofport: 2, mac: 'nope', fixedIps: ['10.0.0.2'], securityGroups: ['g'], network: 1 })).toThrow(InputError);
    expect(() => fw.addPort({ ofport: 1, mac: 'fa:16:3e:00:00:02', fixedIps: ['10.0.0.2'], securityGroups: ['g'], network: 1 })).toThrow(/already a port/);
    expect(() => fw.setGroups([{ id: 'g', rules: [{ direction: 'ingress', remoteGroupId: 'x' }] }])).toThrow(InputError);
    expect(fw.flush()).toEqual([]);
    expect(fw.size).toBe(new Set(before.map((c) => c.key)).size);
  });
});
