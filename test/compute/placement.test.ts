// The scheduler on its own: filters in order with Nova's counts, weighers normalised as nova/weights.py does,
// ties broken by name, and the explanation of every host.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { chooseHost, DEFAULT_PLACEMENT, FILTERS, noValidHostMessage, schedule, type HostState } from '../../src/compute/placement.js';

const host = (name: string, over: Partial<HostState> = {}): HostState => ({ name, az: 'az1', up: true, vcpus: 4, ramMb: 8192, usedVcpus: 0, usedRamMb: 0, ...over });

describe('filters', () => {
  it('a host is rejected by the first filter it fails; counts as Nova logs them', () => {
    const hosts = [
      host('down', { up: false, az: 'az2' }),
      host('far', { az: 'az2' }),
      host('busy', { usedVcpus: 16 }),
      host('full', { usedRamMb: 8000 }),
      host('ok'),
    ];
    const r = schedule(hosts, { vcpus: 1, ramMb: 512, az: 'az1' });
    expect(r.host).toBe('ok');
    expect(r.verdicts.filter((v) => v.state === 'rejected').map((v) => [v.host, v.state === 'rejected' && v.filter])).toEqual([
      ['busy', 'CoreFilter'], ['down', 'ComputeFilter'], ['far', 'AvailabilityZoneFilter'], ['full', 'RamFilter'],
    ]);
    expect(r.filterCounts).toEqual([
      { filter: 'ComputeFilter', start: 5, end: 4 },
      { filter: 'AvailabilityZoneFilter', start: 4, end: 3 },
      { filter: 'CoreFilter', start: 3, end: 2 },
      { filter: 'RamFilter', start: 2, end: 1 },
      { filter: 'ServerGroupAntiAffinityFilter', start: 1, end: 1 },
      { filter: 'ServerGroupAffinityFilter', start: 1, end: 1 },
    ]);
  });

  it('capacity is total × allocation ratio (RAM less the reserved memory)', () => {
    const h = [host('h', { vcpus: 2, ramMb: 4096, usedVcpus: 7, usedRamMb: 3072 })];
    expect(schedule(h, { vcpus: 1, ramMb: 1024 }).host).toBe('h');
    expect(schedule(h, { vcpus: 2, ramMb: 1024 }).host).toBe(null);
    expect(schedule(h, { vcpus: 1, ramMb: 1025 }).host).toBe(null);
    expect(schedule(h, { vcpus: 1, ramMb: 1024 }, { ...DEFAULT_PLACEMENT, reservedHostMemoryMb: 512 }).host).toBe(null);
    expect(schedule(h, { vcpus: 1, ramMb: 2048 }, { ...DEFAULT_PLACEMENT, ramAllocationRatio: 1.5 }).host).toBe('h');
  });

  it('server groups: anti-affinity avoids the members\' hosts; affinity follows them, any host while none is placed', () => {
    const hs = [host('a'), host('b'), host('c')];
    const anti = schedule(hs, { vcpus: 1, ramMb: 1, group: { name: 'g', policy: 'anti-affinity', memberHosts: ['a', 'b'] } });
    expect(anti.host).toBe('c');
    const aff = schedule(hs, { vcpus: 1, ramMb: 1, group: { name: 'g', policy: 'affinity', memberHosts: ['b'] } });
    expect(aff.host).toBe('b');
    expect(schedule(hs, { vcpus: 1, ramMb: 1, group: { name: 'g', policy: 'affinity', memberHosts: [] } }).host).toBe('a');
  });

  it('ignoreHosts and onlyHost narrow the candidates before filtering', () => {
    const hs = [host('a'), host('b')];
    expect(schedule(hs, { vcpus: 1, ramMb: 1, ignoreHosts: ['a'] }).host).toBe('b');
    expect(schedule(hs, { vcpus: 1, ramMb: 1, onlyHost: 'b' }).verdicts.map((v) => v.host)).toEqual(['b']);
  });

  it('NoValidHost: Nova\'s sentence and the filter counts', () => {
    const r = schedule([host('a', { up: false })], { vcpus: 1, ramMb: 1 });
    expect(r.host).toBe(null);
    expect(noValidHostMessage(r)).toBe(
      'No valid host was found. There are not enough hosts available. Filter results: [ComputeFilter: (start: 1, end: 0), '
      + 'AvailabilityZoneFilter: (start: 0, end: 0), CoreFilter: (start: 0, end: 0), RamFilter: (start: 0, end: 0), '
      + 'ServerGroupAntiAffinityFilter: (start: 0, end: 0), ServerGroupAffinityFilter: (start: 0, end: 0)]',
    );
  });
});

describe('weighers', () => {
  it('free RAM and free vCPUs, each normalised to 0..1 over the candidates, summed', () => {
    const r = schedule([host('a', { usedRamMb: 4096 }), host('b', { usedRamMb: 2048, usedVcpus: 8 }), host('c', { usedVcpus: 16 })], { vcpus: 0, ramMb: 0 });
    const w = Object.fromEntries(r.verdicts.map((v) => [v.host, v.state === 'weighed' ? [v.ramWeight, v.cpuWeight, v.weight] : null]));
    expect(w).toEqual({ a: [0, 1, 1], b: [0.5, 0.5, 1], c: [1, 0, 1] });
    // all tied: the name decides
    expect(r.host).toBe('a');
  });

  it('equal hosts weigh 0 (nova/weights.py normalize) and the first name wins', () => {
    const r = schedule([host('z'), host('m'), host('b')], { vcpus: 1, ramMb: 1 });
    expect(r.verdicts.map((v) => [v.host, v.state === 'weighed' && v.weight])).toEqual([['b', 0], ['m', 0], ['z', 0]]);
  });

  it('the least used host wins (RAM multiplier only)', () => {
    const cfg = { ...DEFAULT_PLACEMENT, cpuWeightMultiplier: 0 };
    const r = schedule([host('a', { usedRamMb: 100 }), host('b', { usedRamMb: 50 }), host('c', { usedRamMb: 4000 })], { vcpus: 1, ramMb: 1 }, cfg);
    expect(r.verdicts.map((v) => v.host)).toEqual(['b', 'a', 'c']);
  });

  it('property: the chosen host passed every filter and no candidate weighs more', () => {
    const arbHost = fc.record({
      up: fc.boolean(), az: fc.constantFrom('az1', 'az2'), vcpus: fc.integer({ min: 1, max: 8 }), ramMb: fc.integer({ min: 512, max: 8192 }),
      usedVcpus: fc.integer({ min: 0, max: 40 }), usedRamMb: fc.integer({ min: 0, max: 8192 }),
    });
    fc.assert(fc.property(fc.array(arbHost, { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4096 }), (hs, vcpus, ramMb) => {
      const hosts = hs.map((h, i) => ({ ...h, name: `h${i}` }));
      const r = schedule(hosts, { vcpus, ramMb, az: 'az1' });
      const fits = hosts.filter((h) => h.up && h.az === 'az1' && h.usedVcpus + vcpus <= h.vcpus * 4 && h.usedRamMb + ramMb <= h.ramMb);
      expect(r.host === null).toBe(fits.length === 0);
      expect(r.verdicts).toHaveLength(hosts.length);
      expect(r.filterCounts.map((c) => c.filter)).toEqual([...FILTERS]);
      if (r.host !== null) {
        expect(fits.map((h) => h.name)).toContain(r.host);
        const best = r.verdicts[0]!;
        for (const v of r.verdicts) if (v.state === 'weighed' && best.state === 'weighed') expect(v.weight).toBeLessThanOrEqual(best.weight);
      }
    }));
  });

  it('property: chooseHost picks the host schedule() picks (ties, zones, groups, ignored and only hosts, ratios)', () => {
    const arbHost = fc.record({
      up: fc.boolean(), az: fc.constantFrom('az1', 'az2'), vcpus: fc.constantFrom(2, 4, 8), ramMb: fc.constantFrom(2048, 4096, 8192),
      usedVcpus: fc.constantFrom(0, 1, 2, 4, 8), usedRamMb: fc.constantFrom(0, 512, 1024, 4096),
    });
    const arbReq = fc.record({
      vcpus: fc.constantFrom(1, 2, 4), ramMb: fc.constantFrom(512, 1024, 2048),
      az: fc.option(fc.constantFrom('az1', 'az2'), { nil: undefined }),
      group: fc.option(fc.record({ name: fc.constant('g'), policy: fc.constantFrom('affinity' as const, 'anti-affinity' as const), memberHosts: fc.subarray(['h0', 'h1', 'h2', 'h3']) }), { nil: undefined }),
      ignoreHosts: fc.option(fc.subarray(['h0', 'h1', 'h2']), { nil: undefined }),
      onlyHost: fc.option(fc.constantFrom('h0', 'h1', 'h5'), { nil: undefined }),
    }, { requiredKeys: ['vcpus', 'ramMb'] });
    const arbConfig = fc.record({
      cpuAllocationRatio: fc.constantFrom(1, 4, 16), ramAllocationRatio: fc.constantFrom(1, 1.5), reservedHostMemoryMb: fc.constantFrom(0, 512),
      ramWeightMultiplier: fc.constantFrom(0, 1, 2.5), cpuWeightMultiplier: fc.constantFrom(0, 1, 0.3),
    });
    fc.assert(fc.property(fc.array(arbHost, { minLength: 0, maxLength: 7 }), arbReq, arbConfig, (hs, req, config) => {
      // names out of order, so that the tie by name is not the input order
      const hosts = hs.map((h, i) => ({ ...h, name: `h${(i * 5) % 7}` }));
      expect(chooseHost(hosts, req, config)).toBe(schedule(hosts, req, config).host);
    }), { numRuns: 2000 });
  });
});
