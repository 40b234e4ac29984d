// One subnet's IPAM on its own: the search that starts where the last one ended (`next`) hands out what a
// search from the start of every pool would — the first free address of the first pool with one.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { allocateIp, newSubnetIpam, parseCidr, parseIp, releaseIp } from '../../src/compute/ipam.js';
import { CloudError } from '../../src/compute/errors.js';

describe('allocateIp', () => {
  it('property: the lowest free address of the pools in their order, whatever was taken, requested and released before', () => {
    const cidr = parseCidr('10.0.0.0/27', 'cidr');
    const base = cidr.net;
    // pools out of address order: the second pool is searched only when the first is full
    const poolSets: ([number, number][] | undefined)[] = [undefined, [[base + 20, base + 25], [base + 2, base + 9]], [[base + 3, base + 3], [base + 10, base + 30]]];
    const opArb = fc.oneof(
      fc.constant({ kind: 'lowest' as const, a: 0 }),
      fc.record({ kind: fc.constant('request' as const), a: fc.integer({ min: 1, max: 30 }) }),
      fc.record({ kind: fc.constant('release' as const), a: fc.integer({ min: 0, max: 31 }) }),
    );
    fc.assert(fc.property(fc.constantFrom(...poolSets), fc.array(opArb, { maxLength: 80 }), (pools, ops) => {
      const ipam = newSubnetIpam(cidr, parseIp('10.0.0.1', 'gw'), pools, '');
      const taken = new Set<number>();
      const model = (): number | null => {
        for (const [s, e] of ipam.pools) for (let a = s; a <= e; a++) if (!taken.has(a) && !ipam.reserved.includes(a)) return a;
        return null;
      };
      for (const op of ops) {
        if (op.kind === 'release') { releaseIp(ipam, base + op.a); taken.delete(base + op.a); continue; }
        const want = op.kind === 'lowest' ? model() : base + op.a;
        let got: number | null = null;
        try { got = allocateIp(ipam, 'p', op.kind === 'lowest' ? null : base + op.a, 'ip'); } catch (e) { expect(e).toBeInstanceOf(CloudError); }
        if (op.kind === 'lowest') expect(got).toBe(want);
        if (got !== null) taken.add(got);
        expect(new Set(ipam.allocated.keys())).toEqual(taken);
      }
    }), { numRuns: 500 });
  });
});
