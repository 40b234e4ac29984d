/**
 * The cloud file (compute layer, control plane): a YAML description of a
 * cloud, turned into Cloud API calls (cloud.ts) in a fixed order.
 *
 * What: `loadCloud(text, { dataplane })` returns the Cloud. The file:
 * ```yaml
 * seed: 7
 * external: { cidr: 203.0.113.0/24, gateway: 203.0.113.1 }
 * vniRange: [1000, 1999]                 # optional (ML2 vni_ranges)
 * placement: { cpuAllocationRatio: 4.0 } # optional (placement.ts)
 * flavors: { c1.big: { vcpus: 16, ramMb: 65536 } }
 * hypervisors:
 *   - { name: hv1, region: r1, az: az1, vcpus: 8, ramMb: 16384, ip: 192.168.0.11 }
 * serverGroups:
 *   - { name: web, policy: anti-affinity }
 * vpcs:
 *   - name: acme
 *     cidr: 10.0.0.0/16
 *     tenant: acme
 *     vni: 100                           # optional
 *     subnets:
 *       - { name: acme-a, cidr: 10.0.1.0/24, gateway: 10.0.1.1, allocationPools: [{ start: 10.0.1.10, end: 10.0.1.99 }],
 *           hostRoutes: [{ destination: 10.9.0.0/16, nexthop: 10.0.1.254 }] }
 * securityGroups:
 *   - name: web
 *     tenant: acme
 *     rules:
 *       - { direction: ingress, protocol: tcp, portRangeMin: 80, portRangeMax: 80 }
 *       - { direction: ingress, remoteGroupId: web }
 * routers:
 *   - { name: r1, tenant: acme, externalGateway: { snat: true }, interfaces: [acme-a],
 *       routes: [{ destination: 10.9.0.0/16, nexthop: 10.0.1.254 }] }
 * ports:
 *   - { name: vip, subnet: acme-a, ip: 10.0.1.50, securityGroups: [web] }
 * vms:
 *   - { name: web1, flavor: m1.small, image: cirros, subnets: [acme-a], securityGroups: [web], serverGroup: web }
 *   - { name: web2, flavor: { vcpus: 2, ramMb: 1024 }, image: cirros, ports: [vip], az: az1 }
 * floatingIps:
 *   - { tenant: acme, vm: web1 }         # or port: <name or id>; nic: n (default 0); ip: optional
 * natGateways:
 *   - { name: nat1, vpc: acme, subnet: acme-a }
 * run:                                   # not the Cloud's: what `sdnemu run` does on the built cloud
 *   - ping: { from: web1, to: 203.0.113.1 }   # (compute/run.ts; the steps of a topology file)
 * ```
 * Order of the calls: the constructor (seed, external, vniRange,
 * placement, flavors), hypervisors, server groups, VPCs with their
 * subnets, security groups (all groups, then all rules: a rule may name a
 * group written after it), routers (create, interfaces, routes), ports,
 * VMs, floating IPs, NAT gateways — each list in file order.
 * The whole file is checked before anything is applied: the YAML, the
 * keys and shapes, then every call is run on a scratch Cloud with no data
 * plane; only when all succeed are the same calls (deterministic: same
 * seed, same ids) run on the Cloud that talks to the data plane, in one
 * `batch` (the security groups told once, each router once).
 * Errors: `CloudFileError` with the line of the faulty value (the field the
 * Cloud named, if the file has it; else the list item) and the field path
 * (`vms[1].subnets[0]`); codes are the Cloud's (NoValidHost …) or
 * CLOUD_BAD_YAML, CLOUD_BAD_FILE, CLOUD_UNKNOWN_KEY, CLOUD_BAD_VALUE.
 * Neighbours: cloud.ts (the calls), topology/file.ts (the same
 * LineCounter approach), yaml (parseDocument, LineCounter).
 */
import { parseDocument, LineCounter, isMap, type Node } from 'yaml';
import { SdnemuError } from '../errors.js';
import { Cloud, type CloudOptions, type CreatePortSpec, type CreateVmSpec } from './cloud.js';
import { CloudError } from './errors.js';
import type { CloudDataplane, SgRule } from './types.js';

export class CloudFileError extends SdnemuError {
  constructor(code: string, readonly line: number, readonly field: string, message: string) {
    super(code, `line ${line}: ${field ? `${field}: ` : ''}${message}`);
    this.name = 'CloudFileError';
  }
  override location(): Record<string, string | number> { return { line: this.line, field: this.field }; }
}

type Obj = Record<string, unknown>;
type Path = (string | number)[];
/** One Cloud call of the file: where it is written and what it does. */
interface Op { path: Path; run: (c: Cloud) => void; /** the head of the Cloud's field paths that 'path' already stands for ('rule') */ head?: string }

const TOP_KEYS = ['seed', 'external', 'vniRange', 'placement', 'flavors', 'hypervisors', 'serverGroups', 'vpcs', 'securityGroups', 'routers', 'ports', 'vms', 'floatingIps', 'natGateways', 'run'];
const KEYS: Readonly<Record<string, string[]>> = {
  hypervisors: ['name', 'region', 'az', 'vcpus', 'ramMb', 'ip'],
  serverGroups: ['name', 'policy'],
  vpcs: ['name', 'cidr', 'tenant', 'vni', 'subnets'],
  subnets: ['name', 'cidr', 'gateway', 'allocationPools', 'hostRoutes'],
  securityGroups: ['name', 'tenant', 'rules'],
  rules: ['direction', 'ethertype', 'protocol', 'portRangeMin', 'portRangeMax', 'remoteIpPrefix', 'remoteGroupId'],
  routers: ['name', 'tenant', 'externalGateway', 'interfaces', 'routes'],
  ports: ['name', 'subnet', 'ip', 'mac', 'securityGroups', 'allowedAddressPairs', 'portSecurity'],
  vms: ['name', 'flavor', 'image', 'ports', 'subnets', 'securityGroups', 'az', 'serverGroup', 'ifNoHost'],
  floatingIps: ['name', 'tenant', 'ip', 'vm', 'nic', 'port'],
  natGateways: ['name', 'vpc', 'subnet', 'elasticIp'],
};

const fieldOf = (path: Path): string => path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');

/** 'vms[1].subnets[0]' → ['vms', 1, 'subnets', 0] */
function pathOf(field: string): Path {
  const out: Path = [];
  for (const m of field.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) out.push(m[2] !== undefined ? Number(m[2]) : m[1]!);
  return out;
}

/**
 * Read the cloud file 'text' and build the Cloud it describes, telling
 * 'opts.dataplane' (if any) only after the whole file was checked.
 * Throws CloudFileError (line, field).
 */
export function loadCloud(text: string, opts: { dataplane?: CloudDataplane } = {}): Cloud {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new CloudFileError('CLOUD_BAD_YAML', lc.linePos(e.pos[0]).line, '', e.message.split('\n')[0]!);
  }
  /** the line of the deepest node of 'path' the file has */
  const lineOf = (path: Path): number => {
    for (let n = path.length; n >= 0; n--) {
      const node = (n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true)) as Node | null | undefined;
      if (node?.range) return lc.linePos(node.range[0]).line;
    }
    return 1;
  };
  const fail = (code: string, path: Path, msg: string): never => { throw new CloudFileError(code, lineOf(path), fieldOf(path), msg); };
  if (!isMap(doc.contents)) fail('CLOUD_BAD_FILE', [], 'a cloud file is a mapping (hypervisors, vpcs, vms …)');
  let js: Obj = {};
  // an alias without its anchor (`*a`) is only found when the document is turned into values
  try { js = doc.toJS() as Obj; } catch (e) { fail('CLOUD_BAD_YAML', [], e instanceof Error ? e.message.split('\n')[0]! : String(e)); }

  const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
  const keys = (o: Obj, allowed: string[], path: Path): void => {
    for (const k of Object.keys(o)) if (!allowed.includes(k)) fail('CLOUD_UNKNOWN_KEY', [...path, k], `unknown key (${allowed.join(', ')})`);
  };
  const objs = (v: unknown, path: Path, allowed?: string[]): Obj[] => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) fail('CLOUD_BAD_VALUE', path, 'expected a list');
    return (v as unknown[]).map((x, i) => {
      if (!isObj(x)) fail('CLOUD_BAD_VALUE', [...path, i], 'expected a mapping');
      if (allowed !== undefined) keys(x as Obj, allowed, [...path, i]);
      return x as Obj;
    });
  };
  const strs = (v: unknown, path: Path): string[] | undefined => {
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) fail('CLOUD_BAD_VALUE', path, 'expected a list of names');
    return v as string[];
  };
  /** the value at 'key' as given, or absent: leaves type checks to the Cloud */
  const opt = <T>(o: Obj, key: string, spec: Obj): void => { if (o[key] !== undefined) spec[key] = o[key] as T; };

  keys(js, TOP_KEYS, []);
  const options: CloudOptions = {};
  if (js.seed !== undefined) {
    if (!Number.isInteger(js.seed)) fail('CLOUD_BAD_VALUE', ['seed'], 'expected an integer');
    options.seed = js.seed as number;
  }
  if (js.external !== undefined) {
    if (!isObj(js.external)) fail('CLOUD_BAD_VALUE', ['external'], 'expected { cidr, gateway }');
    keys(js.external as Obj, ['cidr', 'gateway', 'allocationPools'], ['external']);
    objs((js.external as Obj).allocationPools, ['external', 'allocationPools'], ['start', 'end']);
    options.external = js.external as CloudOptions['external'] & object;
  }
  if (js.vniRange !== undefined) {
    const v = js.vniRange;
    if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => typeof x === 'number')) fail('CLOUD_BAD_VALUE', ['vniRange'], 'expected [min, max]');
    options.vniRange = v as [number, number];
  }
  if (js.placement !== undefined) {
    if (!isObj(js.placement)) fail('CLOUD_BAD_VALUE', ['placement'], 'expected a mapping');
    keys(js.placement as Obj, ['cpuAllocationRatio', 'ramAllocationRatio', 'reservedHostMemoryMb', 'ramWeightMultiplier', 'cpuWeightMultiplier'], ['placement']);
    options.placement = js.placement as CloudOptions['placement'];
  }
  if (js.flavors !== undefined) {
    if (!isObj(js.flavors)) fail('CLOUD_BAD_VALUE', ['flavors'], 'expected a mapping of name → { vcpus, ramMb }');
    for (const [k, f] of Object.entries(js.flavors as Obj)) {
      if (!isObj(f)) fail('CLOUD_BAD_VALUE', ['flavors', k], 'expected { vcpus, ramMb }');
      keys(f as Obj, ['vcpus', 'ramMb'], ['flavors', k]);
    }
    options.flavors = js.flavors as CloudOptions['flavors'];
  }

  const ops: Op[] = [];
  const later: Op[] = [];
  objs(js.hypervisors, ['hypervisors'], KEYS.hypervisors).forEach((h, i) => {
    ops.push({ path: ['hypervisors', i], run: (c) => { c.addHypervisor(h as unknown as Parameters<Cloud['addHypervisor']>[0]); } });
  });
  objs(js.serverGroups, ['serverGroups'], KEYS.serverGroups).forEach((g, i) => {
    ops.push({ path: ['serverGroups', i], run: (c) => { c.createServerGroup(g as unknown as Parameters<Cloud['createServerGroup']>[0]); } });
  });
  objs(js.vpcs, ['vpcs'], KEYS.vpcs).forEach((v, i) => {
    const spec: Obj = { name: v.name, cidr: v.cidr, tenant: v.tenant };
    opt(v, 'vni', spec);
    ops.push({ path: ['vpcs', i], run: (c) => { c.createVpc(spec as unknown as Parameters<Cloud['createVpc']>[0]); } });
    objs(v.subnets, ['vpcs', i, 'subnets'], KEYS.subnets).forEach((s, j) => {
      const at: Path = ['vpcs', i, 'subnets', j];
      objs(s.allocationPools, [...at, 'allocationPools'], ['start', 'end']);
      objs(s.hostRoutes, [...at, 'hostRoutes'], ['destination', 'nexthop']);
      ops.push({ path: at, run: (c) => { c.createSubnet({ ...s, vpc: v.name } as unknown as Parameters<Cloud['createSubnet']>[0]); } });
    });
  });
  objs(js.securityGroups, ['securityGroups'], KEYS.securityGroups).forEach((g, i) => {
    ops.push({ path: ['securityGroups', i], run: (c) => { c.createSecurityGroup({ name: g.name as string, tenant: g.tenant as string }); } });
    objs(g.rules, ['securityGroups', i, 'rules'], KEYS.rules).forEach((r, j) => {
      later.push({
        path: ['securityGroups', i, 'rules', j],
        head: 'rule',
        run: (c) => {
          const id = c.securityGroup(g.name as string, g.tenant as string).id;
          // a remote group's name is looked up within the group's tenant by the Cloud
          const rule = r as unknown as SgRule;
          c.addSecurityGroupRule(id, rule);
        },
      });
    });
  });
  ops.push(...later.splice(0));
  objs(js.routers, ['routers'], KEYS.routers).forEach((r, i) => {
    const at: Path = ['routers', i];
    if (r.externalGateway !== undefined && r.externalGateway !== null && !isObj(r.externalGateway)) fail('CLOUD_BAD_VALUE', [...at, 'externalGateway'], 'expected { snat: true|false }');
    if (isObj(r.externalGateway)) keys(r.externalGateway, ['snat'], [...at, 'externalGateway']);
    const spec: Obj = { name: r.name, tenant: r.tenant };
    if (r.externalGateway !== undefined && r.externalGateway !== null) spec.externalGateway = r.externalGateway;
    ops.push({ path: at, run: (c) => { c.createRouter(spec as unknown as Parameters<Cloud['createRouter']>[0]); } });
    (strs(r.interfaces, [...at, 'interfaces']) ?? []).forEach((s, j) => {
      ops.push({ path: [...at, 'interfaces', j], run: (c) => c.addRouterInterface(r.name as string, s) });
    });
    objs(r.routes, [...at, 'routes'], ['destination', 'nexthop']).forEach((rt, j) => {
      ops.push({ path: [...at, 'routes', j], run: (c) => c.addRoute(r.name as string, rt as { destination: string; nexthop: string }) });
    });
  });
  objs(js.ports, ['ports'], KEYS.ports).forEach((p, i) => {
    const at: Path = ['ports', i];
    strs(p.securityGroups, [...at, 'securityGroups']);
    objs(p.allowedAddressPairs, [...at, 'allowedAddressPairs'], ['ip', 'mac']);
    ops.push({ path: at, run: (c) => { c.createPort(p as unknown as CreatePortSpec); } });
  });
  objs(js.vms, ['vms'], KEYS.vms).forEach((v, i) => {
    const at: Path = ['vms', i];
    for (const k of ['ports', 'subnets', 'securityGroups']) strs(v[k], [...at, k]);
    ops.push({ path: at, run: (c) => { c.createVm(v as unknown as CreateVmSpec); } });
  });
  objs(js.floatingIps, ['floatingIps'], KEYS.floatingIps).forEach((f, i) => {
    const at: Path = ['floatingIps', i];
    if (f.vm !== undefined && f.port !== undefined) fail('CLOUD_BAD_VALUE', [...at, 'port'], 'give vm or port, not both');
    if (f.nic !== undefined && (!Number.isInteger(f.nic) || (f.nic as number) < 0)) fail('CLOUD_BAD_VALUE', [...at, 'nic'], 'expected a NIC index 0, 1 …');
    ops.push({
      path: at,
      run: (c) => {
        const spec: Obj = { tenant: f.tenant };
        opt(f, 'ip', spec);
        opt(f, 'name', spec);
        const fip = c.createFloatingIp(spec as unknown as Parameters<Cloud['createFloatingIp']>[0]);
        let port: string | undefined = f.port as string | undefined;
        if (f.vm !== undefined) {
          const vm = c.vm(f.vm as string);
          port = vm.ports[(f.nic as number | undefined) ?? 0];
          if (port === undefined) throw new CloudError('PortNotFound', 'nic', `VM '${vm.name}' has no NIC ${String(f.nic ?? 0)}`);
        }
        if (port !== undefined) c.associateFloatingIp(fip.id, port);
      },
    });
  });
  objs(js.natGateways, ['natGateways'], KEYS.natGateways).forEach((g, i) => {
    ops.push({ path: ['natGateways', i], run: (c) => { c.createNatGateway(g as unknown as Parameters<Cloud['createNatGateway']>[0]); } });
  });

  /** Build the cloud; a fault becomes a CloudFileError at the line of the field it names. */
  const build = (dataplane: CloudDataplane | undefined): Cloud => {
    const at = <T>(path: Path, fn: () => T, head?: string): T => {
      try { return fn(); } catch (e) {
        if (e instanceof CloudFileError) throw e;
        let sub = e instanceof CloudError ? e.path : '';
        if (head !== undefined && (sub === head || sub.startsWith(`${head}.`))) sub = sub.slice(head.length + 1);
        // a constructor field (external.cidr, placement.x) is a top-level path already
        const full: Path = path.length === 0 ? pathOf(sub) : [...path, ...pathOf(sub)];
        const code = e instanceof SdnemuError ? e.code : 'CLOUD_BAD_VALUE';
        const msg = e instanceof CloudError ? e.message.slice(e.path === '' ? 0 : e.path.length + 2) : (e as Error).message;
        throw new CloudFileError(code, lineOf(full), fieldOf(full), msg);
      }
    };
    const c = at([], () => new Cloud(dataplane === undefined ? options : { ...options, dataplane }));
    // one batch: the data plane hears the groups once, each router once (Cloud.batch)
    c.batch(() => { for (const op of ops) at(op.path, () => op.run(c), op.head); });
    return c;
  };
  build(undefined);
  return build(opts.dataplane);
}
