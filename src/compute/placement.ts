/**
 * Placement (compute layer, control plane): nova-scheduler's filter
 * scheduler, reduced to what a VM's flavor, zone and server group ask.
 *
 * What: `schedule(hosts, request, config)` runs the filters in order on
 * every candidate host — a host is rejected by the first filter it fails —,
 * weighs the survivors, and returns the chosen host (or null) with an
 * explanation per host (the filter that rejected it and why, or its raw
 * and normalised weights) and Nova's per-filter counts
 * (`ComputeFilter: (start: 3, end: 2)`).
 * Filters, in this order:
 *   ComputeFilter                  the hypervisor is up (a failed one is down)
 *   AvailabilityZoneFilter         the host's zone is the requested one (if any)
 *   CoreFilter, RamFilter          capacity: used + requested ≤ total × ratio
 *                                  (RAM: (total − reserved) × ratio). Nova
 *                                  removed these filters in Stein: placement's
 *                                  allocation candidates do the same sum on
 *                                  VCPU and MEMORY_MB inventories; the names are
 *                                  kept because users know them.
 *   ServerGroupAntiAffinityFilter  no other member of the group on the host
 *   ServerGroupAffinityFilter      a member already on the host (any host
 *                                  while the group has no placed member)
 * Allocation ratios: Nova's [DEFAULT] initial_cpu_allocation_ratio and
 * initial_ram_allocation_ratio (nova/conf/compute.py). They were 16.0 and
 * 1.5 from Stein (nova-specs stein "initial-allocation-ratios") until
 * 2023.1 Antelope, which lowered them to 4.0 and 1.0; the current values
 * are the defaults here. reserved_host_memory_mb is 512 in Nova; it is 0
 * here by default so a hypervisor's ramMb is what VMs get (configurable).
 * Weighers: RAMWeigher (free RAM = total − reserved − used, more is better)
 * and CPUWeigher (free vCPUs = total × ratio − used), each multiplier 1.0
 * (ram_weight_multiplier, cpu_weight_multiplier), each weight normalised
 * over the candidates as nova/weights.py does — (w − min) / (max − min),
 * all 0 when every host has the same value — and summed. Nova then picks
 * at random among the best host_subset_size (default 1): the best. Ties
 * are broken by host name (Python's stable sort keeps Nova's arbitrary
 * input order; ours is sorted so a scenario replays).
 * Not modelled: disk, NUMA, PCI, traits, aggregates, soft (anti-)affinity,
 * max_placement_results, retries (scheduler_max_attempts: a build here
 * cannot fail once placed).
 * `chooseHost(hosts, request, config)` is schedule()'s choice without the
 * explanation (no sorting, no verdicts: two passes over the hosts), for
 * the common case where a host is found.
 * Neighbours: cloud.ts builds the HostState list from its hypervisors and
 * VMs, asks chooseHost, and, when it finds nothing, schedule() for the
 * explanation it turns into CloudError NoValidHost.
 */

export interface HostState {
  name: string;
  az: string;
  up: boolean;
  vcpus: number;
  ramMb: number;
  usedVcpus: number;
  usedRamMb: number;
}

export interface ScheduleRequest {
  vcpus: number;
  ramMb: number;
  /** the availability zone asked for */
  az?: string;
  /** the server group's policy and the hosts its other members are on */
  group?: { name: string; policy: 'affinity' | 'anti-affinity'; memberHosts: string[] };
  /** hosts left out before filtering (the source of a migration) */
  ignoreHosts?: string[];
  /** only this host is a candidate (a migration's requested target) */
  onlyHost?: string;
}

export interface PlacementConfig {
  /** initial_cpu_allocation_ratio (Nova 2023.1+: 4.0) */
  cpuAllocationRatio: number;
  /** initial_ram_allocation_ratio (Nova 2023.1+: 1.0) */
  ramAllocationRatio: number;
  /** reserved_host_memory_mb (Nova: 512; here 0) */
  reservedHostMemoryMb: number;
  ramWeightMultiplier: number;
  cpuWeightMultiplier: number;
}

export const DEFAULT_PLACEMENT: PlacementConfig = {
  cpuAllocationRatio: 4.0,
  ramAllocationRatio: 1.0,
  reservedHostMemoryMb: 0,
  ramWeightMultiplier: 1.0,
  cpuWeightMultiplier: 1.0,
};

export const FILTERS = [
  'ComputeFilter', 'AvailabilityZoneFilter', 'CoreFilter', 'RamFilter',
  'ServerGroupAntiAffinityFilter', 'ServerGroupAffinityFilter',
] as const;
export type FilterName = (typeof FILTERS)[number];

/** One host's fate: rejected (by which filter, why) or weighed. */
export type HostVerdict =
  | { host: string; state: 'rejected'; filter: FilterName; reason: string }
  | { host: string; state: 'weighed'; freeRamMb: number; freeVcpus: number; ramWeight: number; cpuWeight: number; weight: number };

export interface ScheduleResult {
  /** the chosen host, or null (NoValidHost) */
  host: string | null;
  /** every candidate host, the weighed ones first (best first), then the rejected ones by name */
  verdicts: HostVerdict[];
  /** Nova's filter log: hosts in and out of each filter */
  filterCounts: { filter: FilterName; start: number; end: number }[];
}

export const NO_VALID_HOST = 'No valid host was found. There are not enough hosts available.';

/** Why no host was chosen: Nova's message and its filter counts. */
export function noValidHostMessage(r: ScheduleResult): string {
  const counts = r.filterCounts.map((c) => `${c.filter}: (start: ${c.start}, end: ${c.end})`).join(', ');
  return `${NO_VALID_HOST} Filter results: [${counts}]`;
}

/** The free RAM of 'h' (RAMWeigher's value). */
const freeRam = (h: HostState, c: PlacementConfig): number => h.ramMb - c.reservedHostMemoryMb - h.usedRamMb;
/** The vCPUs of 'h' left under the ratio (CPUWeigher's value). */
const freeCpu = (h: HostState, c: PlacementConfig): number => h.vcpus * c.cpuAllocationRatio - h.usedVcpus;

/** Why 'h' fails filter 'f' for 'req' (null: it passes). */
function check(f: FilterName, h: HostState, req: ScheduleRequest, c: PlacementConfig): string | null {
  switch (f) {
    case 'ComputeFilter':
      return h.up ? null : 'the hypervisor is down';
    case 'AvailabilityZoneFilter':
      return req.az === undefined || req.az === h.az ? null : `in zone '${h.az}', not '${req.az}'`;
    case 'CoreFilter': {
      const cap = h.vcpus * c.cpuAllocationRatio;
      return h.usedVcpus + req.vcpus <= cap ? null : `needs ${req.vcpus} vCPUs, ${cap - h.usedVcpus} of ${cap} (${h.vcpus} × ${c.cpuAllocationRatio}) free`;
    }
    case 'RamFilter': {
      const cap = (h.ramMb - c.reservedHostMemoryMb) * c.ramAllocationRatio;
      return h.usedRamMb + req.ramMb <= cap ? null : `needs ${req.ramMb} MB RAM, ${cap - h.usedRamMb} of ${cap} MB free`;
    }
    case 'ServerGroupAntiAffinityFilter':
      if (req.group?.policy !== 'anti-affinity') return null;
      return req.group.memberHosts.includes(h.name) ? `a member of anti-affinity group '${req.group.name}' runs here` : null;
    case 'ServerGroupAffinityFilter':
      if (req.group?.policy !== 'affinity' || req.group.memberHosts.length === 0) return null;
      return req.group.memberHosts.includes(h.name) ? null : `the members of affinity group '${req.group.name}' run on ${[...new Set(req.group.memberHosts)].sort().join(', ')}`;
  }
}

/** nova/weights.py normalize: (w − min) / (max − min), all 0 when max = min. */
function normalize(ws: number[]): number[] {
  const min = Math.min(...ws), max = Math.max(...ws);
  return ws.map((w) => (max === min ? 0 : (w - min) / (max - min)));
}

/**
 * The host schedule() would choose (null: none), without its explanation:
 * one pass to filter and find the weights' ranges, one to weigh — no
 * sorting, no verdicts (cloud.ts asks schedule() for those only when no
 * host is found). Pure.
 */
export function chooseHost(hosts: readonly HostState[], req: ScheduleRequest, config: PlacementConfig = DEFAULT_PLACEMENT): string | null {
  const alive: HostState[] = [];
  let ramMin = Infinity, ramMax = -Infinity, cpuMin = Infinity, cpuMax = -Infinity;
  for (const h of hosts) {
    if ((req.ignoreHosts ?? []).includes(h.name) || (req.onlyHost !== undefined && h.name !== req.onlyHost)) continue;
    if (FILTERS.some((f) => check(f, h, req, config) !== null)) continue;
    alive.push(h);
    const ram = freeRam(h, config), cpu = freeCpu(h, config);
    ramMin = Math.min(ramMin, ram); ramMax = Math.max(ramMax, ram);
    cpuMin = Math.min(cpuMin, cpu); cpuMax = Math.max(cpuMax, cpu);
  }
  let best: string | null = null, bestWeight = -Infinity;
  for (const h of alive) {
    // the same arithmetic as normalize() and schedule()'s sum, so equal weights tie as there (by name)
    const ramN = ramMax === ramMin ? 0 : (freeRam(h, config) - ramMin) / (ramMax - ramMin);
    const cpuN = cpuMax === cpuMin ? 0 : (freeCpu(h, config) - cpuMin) / (cpuMax - cpuMin);
    const w = config.ramWeightMultiplier * ramN + config.cpuWeightMultiplier * cpuN;
    if (best === null || w > bestWeight || (w === bestWeight && h.name < best)) { best = h.name; bestWeight = w; }
  }
  return best;
}

/**
 * Choose a host among 'hosts' for 'req' under 'config' (see the module
 * comment). Pure: reads its arguments only.
 */
export function schedule(hosts: readonly HostState[], req: ScheduleRequest, config: PlacementConfig = DEFAULT_PLACEMENT): ScheduleResult {
  let alive = [...hosts]
    .filter((h) => !(req.ignoreHosts ?? []).includes(h.name) && (req.onlyHost === undefined || h.name === req.onlyHost))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const rejected: HostVerdict[] = [];
  const filterCounts: ScheduleResult['filterCounts'] = [];
  for (const f of FILTERS) {
    const start = alive.length;
    alive = alive.filter((h) => {
      const reason = check(f, h, req, config);
      if (reason !== null) rejected.push({ host: h.name, state: 'rejected', filter: f, reason });
      return reason === null;
    });
    filterCounts.push({ filter: f, start, end: alive.length });
  }
  const ram = alive.map((h) => freeRam(h, config));
  const cpu = alive.map((h) => freeCpu(h, config));
  const ramN = normalize(ram), cpuN = normalize(cpu);
  const weighed: HostVerdict[] = alive.map((h, i) => ({
    host: h.name, state: 'weighed', freeRamMb: ram[i]!, freeVcpus: cpu[i]!, ramWeight: ramN[i]!, cpuWeight: cpuN[i]!,
    weight: config.ramWeightMultiplier * ramN[i]! + config.cpuWeightMultiplier * cpuN[i]!,
  }));
  // best first; equal weights keep the name order (the sort is stable)
  weighed.sort((a, b) => (b.state === 'weighed' && a.state === 'weighed' ? b.weight - a.weight : 0));
  rejected.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
  return { host: weighed[0]?.host ?? null, verdicts: [...weighed, ...rejected], filterCounts };
}
