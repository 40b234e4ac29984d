/**
 * The declarative topology file (topology layer, slow path): the same
 * network a script builds, in YAML, and what to run on it.
 *
 * ```yaml
 * seed: 7
 * hosts:
 *   - { name: h1, ip: 10.0.1.2/24, gw: 10.0.1.1 }
 *   - { name: h3, ip: [10.0.1.3/24, 2001:db8:1::3/64], gw: [10.0.1.1, 2001:db8:1::1] }   # dual stack
 *   - name: h2
 *     interfaces: [{ name: eth0, addresses: [10.0.2.2/24], mtu: 1500 }]
 *     routes: [{ dst: default, via: 10.0.2.1, dev: eth0 }]
 * routers:
 *   - name: r1
 *     interfaces: [{ name: eth1, addresses: [10.0.1.1/24] }, { name: eth2, addresses: [10.0.2.1/24] }]
 *     iptables: |            # iptables-restore text (hosts may have it too)
 *       *filter …
 * natGateways:
 *   - { name: nat1, outside: {…}, inside: […], pool: …, floatingIps: […], portForwards: […] }
 * bridges:
 *   - { name: br0 }          # a Linux bridge; its ports are made by the links (br0:tap1 names one)
 * ovsBridges:
 *   - { name: br-int, flows: "…" }   # an OVS bridge (ovs-ofctl add-flows text; default: a learning switch)
 *   - name: hv1/br-int                # on hypervisor hv1, with VXLAN/Geneve ports through hv1's stack
 *     host: hv1
 *     defaultFlows: normal            # learning (default), normal, none
 *     tunnels:
 *       - { name: vxlan0, type: vxlan, remote: 192.168.2.2, key: 100 }   # also local, dstPort, ofport, options: {csum: "true"}
 *   - name: br-sg                     # or security groups compiled into its flows (Neutron's OVS firewall)
 *     securityGroups:
 *       groups: [{ id: web, rules: [{ direction: ingress, protocol: tcp, portRangeMin: 80, portRangeMax: 80 }] }]
 *       ports: [{ port: tap1, groups: [web] }]    # the host linked to tap1 gives MAC and addresses
 * vteps:
 *   - { host: hv1, vni: 100, local: 192.168.1.2, remotes: [192.168.2.2] }   # node hv1/vxlan100
 * links:
 *   - { a: h1, b: r1:eth1, delay: 1ms, bandwidth: 1Gbps, mtu: 1500, loss: 0.01, queue: 64KB }
 *   - { a: h2, b: r1:eth2, reorder: 25% 5ms }   # netem-like: 25 % of frames held back 5 ms (or { rate: 0.25, delay: 5ms })
 * run:
 *   - ping: { from: h1, to: 10.0.2.2, count: 3 }
 *   - traceroute: { from: h1, to: 10.0.2.2 }
 *   - serve: { host: h2, port: 80, reply: hello }        # a TCP server answering every request
 *   - tcp: { from: h1, to: 10.0.2.2, port: 80, data: GET }   # a request: the answer or the errno
 *   - capture: { at: r1:eth2, file: r1-eth2.pcap }   # from here on
 *   - wait: 2s
 *   - cut: { link: 0 }       # by index in links
 *   - restore: { link: 0 }
 *   - dumpFlows: { bridge: hv1/br-int, table: 0 }    # ovs-ofctl dump-flows (table optional)
 *   - trace: { bridge: hv1/br-int, flow: "in_port=1,icmp,nw_dst=10.0.0.2", ctNext: [+trk+est] }   # ofproto/trace
 * ```
 * `loadTopology(text)` checks the whole file before building anything and
 * refuses, naming the line and the reason (`TopologyFileError`): an unknown
 * key or device kind, a duplicate name, a link to a node or interface that
 * does not exist or is already linked, an address that does not parse, a
 * gateway or route next hop outside every subnet of its interface (of its
 * family; an IPv6 next hop may also be link-local, fe80::/64 being on every
 * interface), the same IP address (IPv4 or IPv6) on two interfaces, the same
 * MAC on two interfaces. `ip` and `gw` take one address or a list (IPv4 and
 * IPv6: a dual-stack eth0 with a default route per family).
 * `runTopology(loaded, out)` builds it and runs the `run` steps in order,
 * printing what each tool prints; captures are written when the run ends.
 * A routing loop needs no check: packets die by TTL (time exceeded).
 * Neighbours: topology.ts (building), netstack/tools.ts (the tools),
 * devices/ (bridges, NAT gateways), cli/run.ts.
 */
import { parseDocument, LineCounter, isMap, isSeq, type Node, type Document } from 'yaml';
import { SdnemuError } from '../errors.js';
import { Topology, type Capture } from './topology.js';
import { LinuxBridge } from '../devices/linux-bridge.js';
import { OvsBridge, OvsPort, type OvsTunnelSpec } from '../devices/ovs-bridge.js';
import { SecurityGroups, type SgPort, type SgRule } from '../devices/security-group.js';
import { Host as HostClass } from '../netstack/host.js';
import { Vtep } from '../devices/vtep.js';
import { natGatewayOutsideAddrs, type NatGatewaySpec } from '../devices/nat-gateway.js';
import { parseIpv4 } from '../wire/bytes.js';
import { inetPton6, ipv6Text } from '../netstack/route.js';

/** How many leading bits the IPv6 addresses 'a' and 'b' (four words) share. */
function commonBits(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < 4; i++) {
    const x = (a[i]! ^ b[i]!) >>> 0;
    if (x !== 0) return i * 32 + Math.clz32(x);
  }
  return 128;
}
import { parseDuration } from '../sim/units.js';
import type { Host, IfaceSpec, RouteSpec } from '../netstack/host.js';
import { tcpRequest, tcpServer } from '../netstack/tools.js';
import { parseReorder, type LinkOptions, type ReorderOptions } from '../sim/link.js';

export class TopologyFileError extends SdnemuError {
  constructor(code: string, readonly line: number, readonly field: string, message: string) {
    super(code, `line ${line}: ${field ? `${field}: ` : ''}${message}`);
    this.name = 'TopologyFileError';
  }
  override location(): Record<string, string | number> { return { line: this.line, field: this.field }; }
}

type Obj = Record<string, unknown>;

/** An OVS bridge's security groups: the groups (Neutron's, a new group's egress rules added) and which ports they guard. */
interface SgDecl {
  groups: { id: string; rules: SgRule[] }[];
  ports: { port: string; groups: string[]; network: number; line: number }[];
}

interface HostDecl {
  kind: 'host' | 'router'; name: string; ifaces: IfaceSpec[]; routes: RouteSpec[]; rules?: string; line: number; field: string;
  /** per interface and per route: the line it is written on, and its field path */
  ifaceAt: { line: number; field: string }[];
  routeAt: { line: number; field: string }[];
}
interface LinkDecl { a: string; b: string; opts: LinkOptions; line: number; field: string }
export type RunStep = Step;
type Step =
  | { kind: 'ping'; from: string; to: string; count: number; interval?: number; size?: number; ttl?: number; line: number }
  | { kind: 'traceroute'; from: string; to: string; maxHops?: number; line: number }
  | { kind: 'capture'; at: string; file: string; line: number }
  | { kind: 'wait'; ns: number; line: number }
  | { kind: 'serve'; host: string; port: number; reply: string; line: number }
  | { kind: 'tcp'; from: string; to: string; port: number; data: string; timeout: number; line: number }
  | { kind: 'cut' | 'restore'; link: number; line: number }
  | { kind: 'dumpFlows'; bridge: string; table?: number; line: number }
  | { kind: 'trace'; bridge: string; flow: string; ctNext?: string[]; line: number };

export interface LoadedTopology {
  seed: number;
  hosts: HostDecl[];
  natGateways: (NatGatewaySpec & { name: string; line: number })[];
  bridges: { name: string; line: number }[];
  ovsBridges: { name: string; flows?: string; securityGroups?: SgDecl; host?: string; defaultFlows?: 'learning' | 'normal' | 'none';
    tunnels: { spec: OvsTunnelSpec; line: number; field: string }[]; line: number; field: string }[];
  vteps: { host: string; name: string; vni: number; local?: string; remotes?: string[]; learning?: boolean; arpSuppress?: boolean; line: number; field: string }[];
  links: LinkDecl[];
  steps: Step[];
}

const TOP_KEYS = ['seed', 'hosts', 'routers', 'natGateways', 'bridges', 'ovsBridges', 'vteps', 'links', 'run'];

/** The YAML document of 'text' and the helpers that read it, naming the line and field of what is wrong. */
function readerOf(text: string, topKeys: string[] | null) {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  const lineAt = (n: Node | null | undefined): number => (n?.range ? lc.linePos(n.range[0]).line : 1);
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new TopologyFileError('TOPO_BAD_YAML', lc.linePos(e.pos[0]).line, '', e.message.split('\n')[0]!);
  }
  const fail = (code: string, node: Node | null | undefined, field: string, msg: string): never => { throw new TopologyFileError(code, lineAt(node), field, msg); };
  const root = doc.contents;
  if (root === null || !isMap(root)) fail('TOPO_BAD_FILE', root, '', 'a topology file is a mapping (hosts, routers, links, run …)');
  const node = (path: (string | number)[]): Node | undefined => doc.getIn(path, true) as Node | undefined;
  /** the key node of the map entry at 'path' (its line is where the key is written) */
  const keyNode = (path: (string | number)[]): Node | undefined => {
    const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
    if (!isMap(parent)) return undefined;
    const pair = parent.items.find((p) => (p.key as { value?: unknown } | null)?.value === path[path.length - 1]);
    return (pair?.key ?? undefined) as Node | undefined;
  };
  let js: Obj = {};
  // an alias without its anchor (`*a`) is only found when the document is turned into values
  try { js = doc.toJS() as Obj; } catch (e) { fail('TOPO_BAD_YAML', root, '', e instanceof Error ? e.message.split('\n')[0]! : String(e)); }
  if (topKeys !== null) for (const k of Object.keys(js)) if (!topKeys.includes(k)) fail('TOPO_UNKNOWN_KEY', keyNode([k]) ?? root, k, `unknown key (${topKeys.join(', ')})`);
  const list = (k: string): Obj[] => {
    const v = js[k] ?? [];
    if (!Array.isArray(v)) fail('TOPO_BAD_VALUE', node([k]), k, 'expected a list');
    return (v as unknown[]).map((x, i) => {
      if (x === null || typeof x !== 'object' || Array.isArray(x)) fail('TOPO_BAD_VALUE', node([k, i]), `${k}[${i}]`, 'expected a mapping');
      return x as Obj;
    });
  };
  const str = (o: Obj, key: string, path: (string | number)[], required = true): string | undefined => {
    const v = o[key];
    if (v === undefined && !required) return undefined;
    if (typeof v !== 'string' || v === '') fail('TOPO_BAD_VALUE', node([...path, key]) ?? node(path), `${fieldOf(path)}.${key}`, `expected text, got ${JSON.stringify(v)}`);
    return v as string;
  };
  const num = (o: Obj, key: string, path: (string | number)[]): number | undefined => {
    const v = o[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) fail('TOPO_BAD_VALUE', node([...path, key]), `${fieldOf(path)}.${key}`, `expected a number, got ${JSON.stringify(v)}`);
    return v as number;
  };
  const keys = (o: Obj, allowed: string[], path: (string | number)[]): void => {
    if (o === null || typeof o !== 'object' || Array.isArray(o)) fail('TOPO_BAD_VALUE', node(path), fieldOf(path), 'expected a mapping');
    for (const k of Object.keys(o)) if (!allowed.includes(k)) fail('TOPO_UNKNOWN_KEY', keyNode([...path, k]) ?? node(path), `${fieldOf(path)}.${k}`, `unknown key (${allowed.join(', ')})`);
  };
  return { doc, js, lineAt, fail, node, keyNode, list, str, num, keys };
}
type Reader = ReturnType<typeof readerOf>;

/** Read and check a topology file ('text', YAML). */
export function loadTopology(text: string): LoadedTopology {
  const r = readerOf(text, TOP_KEYS);
  const { doc, js, lineAt, fail, node, list, str, num, keys } = r;

  const names = new Map<string, string>();
  const claim = (name: string, path: (string | number)[]): void => {
    if (names.has(name)) fail('TOPO_DUPLICATE', node([...path, 'name']), `${fieldOf(path)}.name`, `'${name}' is already the name of ${names.get(name)}`);
    names.set(name, fieldOf(path));
  };

  const hosts: HostDecl[] = [];
  for (const kind of ['hosts', 'routers'] as const) {
    list(kind).forEach((h, i) => {
      const path = [kind, i];
      keys(h, ['name', 'ip', 'gw', 'interfaces', 'routes', 'iptables'], path);
      const name = str(h, 'name', path)!;
      claim(name, path);
      const ifaces: IfaceSpec[] = [];
      const routes: RouteSpec[] = [];
      const ifaceAt: { line: number; field: string }[] = [], routeAt: { line: number; field: string }[] = [];
      const strs = (key: string): string[] | undefined => {
        const v = h[key];
        if (Array.isArray(v)) {
          if (v.length === 0 || v.some((x) => typeof x !== 'string' || x === '')) fail('TOPO_BAD_VALUE', node([...path, key]), `${fieldOf(path)}.${key}`, 'expected an address or a list of addresses');
          return v as string[];
        }
        const one = str(h, key, path, false);
        return one === undefined ? undefined : [one];
      };
      const ip = strs('ip'), gw = strs('gw');
      if (ip !== undefined) { ifaces.push({ name: 'eth0', addrs: ip }); ifaceAt.push({ line: lineAt(node([...path, 'ip'])), field: `${fieldOf(path)}.ip` }); }
      const ifs = h['interfaces'] ?? [];
      if (!Array.isArray(ifs)) fail('TOPO_BAD_VALUE', node([...path, 'interfaces']), `${fieldOf(path)}.interfaces`, 'expected a list');
      (ifs as Obj[]).forEach((f, j) => {
        const p = [...path, 'interfaces', j];
        keys(f, ['name', 'addresses', 'mac', 'mtu'], p);
        const addrs = f['addresses'] ?? [];
        if (!Array.isArray(addrs) || addrs.some((a) => typeof a !== 'string')) fail('TOPO_BAD_VALUE', node([...p, 'addresses']), `${fieldOf(p)}.addresses`, 'expected a list of a.b.c.d/len or IPv6 CIDRs');
        const mac = str(f, 'mac', p, false), mtu = num(f, 'mtu', p);
        ifaces.push({ name: str(f, 'name', p)!, addrs: addrs as string[], ...(mac !== undefined ? { mac } : {}), ...(mtu !== undefined ? { mtu } : {}) });
        ifaceAt.push({ line: lineAt(node(p)), field: fieldOf(p) });
      });
      for (const g of gw ?? []) { routes.push({ dst: 'default', via: g, dev: 'eth0' }); routeAt.push({ line: lineAt(node([...path, 'gw'])), field: `${fieldOf(path)}.gw` }); }
      const rts = h['routes'] ?? [];
      if (!Array.isArray(rts)) fail('TOPO_BAD_VALUE', node([...path, 'routes']), `${fieldOf(path)}.routes`, 'expected a list');
      (rts as Obj[]).forEach((r, j) => {
        const p = [...path, 'routes', j];
        keys(r, ['dst', 'via', 'dev', 'src'], p);
        const via = str(r, 'via', p, false), src = str(r, 'src', p, false);
        routes.push({ dst: str(r, 'dst', p)!, dev: str(r, 'dev', p)!, ...(via !== undefined ? { via } : {}), ...(src !== undefined ? { src } : {}) });
        routeAt.push({ line: lineAt(node(p)), field: fieldOf(p) });
      });
      const rules = str(h, 'iptables', path, false);
      hosts.push({ kind: kind === 'hosts' ? 'host' : 'router', name, ifaces, routes, ...(rules !== undefined ? { rules } : {}), line: lineAt(node(path)), field: fieldOf(path),
        ifaceAt, routeAt });
    });
  }
  const natGateways = list('natGateways').map((g, i) => {
    const path = ['natGateways', i];
    keys(g, ['name', 'outside', 'inside', 'pool', 'floatingIps', 'portForwards', 'routes'], path);
    claim(str(g, 'name', path)!, path);
    if (g['outside'] === undefined || g['inside'] === undefined) fail('TOPO_BAD_VALUE', node(path), fieldOf(path), 'a NAT gateway needs outside and inside');
    // the shapes (the addresses themselves are checked with the rest of the file)
    const o = g['outside'] as Obj, op = [...path, 'outside'];
    keys(o, ['iface', 'addr', 'gw'], op);
    str(o, 'addr', op); str(o, 'iface', op, false); str(o, 'gw', op, false);
    const items = (k: string, allowed: string[], each: (x: Obj, xp: (string | number)[]) => void): void => {
      const v = g[k];
      if (v === undefined) return;
      if (!Array.isArray(v)) fail('TOPO_BAD_VALUE', node([...path, k]), `${fieldOf(path)}.${k}`, 'expected a list');
      (v as Obj[]).forEach((x, j) => { const xp = [...path, k, j]; keys(x, allowed, xp); each(x, xp); });
    };
    items('inside', ['iface', 'addr'], (x, xp) => { str(x, 'addr', xp); str(x, 'iface', xp, false); });
    items('floatingIps', ['ip', 'to'], (x, xp) => { str(x, 'ip', xp); str(x, 'to', xp); });
    items('portForwards', ['proto', 'port', 'to'], (x, xp) => {
      if (x['proto'] !== 'tcp' && x['proto'] !== 'udp') fail('TOPO_BAD_VALUE', node([...xp, 'proto']) ?? node(xp), `${fieldOf(xp)}.proto`, 'expected tcp or udp');
      const port = num(x, 'port', xp);
      if (port === undefined || !Number.isInteger(port) || port < 1 || port > 65535) fail('TOPO_BAD_VALUE', node([...xp, 'port']) ?? node(xp), `${fieldOf(xp)}.port`, 'expected a port 1..65535');
      str(x, 'to', xp);
    });
    items('routes', ['dst', 'via', 'dev'], (x, xp) => { str(x, 'dst', xp); str(x, 'dev', xp); str(x, 'via', xp, false); });
    str(g, 'pool', path, false);
    return { ...(g as unknown as NatGatewaySpec), name: g['name'] as string, line: lineAt(node(path)) };
  });
  const bridges = list('bridges').map((b, i) => {
    const path = ['bridges', i];
    keys(b, ['name'], path);
    const name = str(b, 'name', path)!;
    claim(name, path);
    return { name, line: lineAt(node(path)) };
  });
  const ovsBridges = list('ovsBridges').map((b, i) => {
    const path = ['ovsBridges', i];
    keys(b, ['name', 'flows', 'securityGroups', 'host', 'defaultFlows', 'tunnels'], path);
    const name = str(b, 'name', path)!;
    claim(name, path);
    const flows = str(b, 'flows', path, false);
    const host = str(b, 'host', path, false);
    const defaultFlows = str(b, 'defaultFlows', path, false);
    if (defaultFlows !== undefined && !['learning', 'normal', 'none'].includes(defaultFlows)) {
      fail('TOPO_BAD_VALUE', node([...path, 'defaultFlows']), `${fieldOf(path)}.defaultFlows`, `expected learning, normal or none, got '${defaultFlows}'`);
    }
    const tl = b['tunnels'] ?? [];
    if (!Array.isArray(tl)) fail('TOPO_BAD_VALUE', node([...path, 'tunnels']), `${fieldOf(path)}.tunnels`, 'expected a list of tunnel ports');
    if ((tl as unknown[]).length > 0 && host === undefined) fail('TOPO_BAD_VALUE', node([...path, 'tunnels']), `${fieldOf(path)}.host`, 'tunnel ports need the bridge\'s host');
    const tunnels = (tl as unknown[]).map((x, j) => {
      const tp = [...path, 'tunnels', j];
      if (x === null || typeof x !== 'object' || Array.isArray(x)) fail('TOPO_BAD_VALUE', node(tp), fieldOf(tp), 'expected a mapping');
      const o = x as Obj;
      keys(o, ['name', 'type', 'remote', 'key', 'local', 'dstPort', 'ofport', 'options'], tp);
      const type = str(o, 'type', tp)!;
      if (type !== 'vxlan' && type !== 'geneve') fail('TOPO_BAD_VALUE', node([...tp, 'type']), `${fieldOf(tp)}.type`, `expected vxlan or geneve, got '${type}'`);
      const key = o['key'];
      if (key !== undefined && typeof key !== 'number' && typeof key !== 'string') fail('TOPO_BAD_VALUE', node([...tp, 'key']), `${fieldOf(tp)}.key`, 'expected a VNI or flow');
      const opts = o['options'] ?? {};
      if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) fail('TOPO_BAD_VALUE', node([...tp, 'options']), `${fieldOf(tp)}.options`, 'expected a mapping of Interface options');
      const local = str(o, 'local', tp, false), dstPort = num(o, 'dstPort', tp), ofport = num(o, 'ofport', tp);
      const spec: OvsTunnelSpec = {
        name: str(o, 'name', tp)!, type: type as OvsTunnelSpec['type'], remote: str(o, 'remote', tp)!, ...(key !== undefined ? { key: key as number | string } : {}),
        ...(local !== undefined ? { local } : {}), ...(dstPort !== undefined ? { dstPort } : {}), ...(ofport !== undefined ? { ofport } : {}),
        options: Object.fromEntries(Object.entries(opts as Obj).map(([k, v]) => [k, String(v)])),
      };
      return { spec, line: lineAt(node(tp)), field: fieldOf(tp) };
    });
    let securityGroups: SgDecl | undefined;
    const sg = b['securityGroups'];
    if (sg !== undefined) {
      const p = [...path, 'securityGroups'];
      if (sg === null || typeof sg !== 'object' || Array.isArray(sg)) fail('TOPO_BAD_VALUE', node(p), fieldOf(p), 'expected a mapping with groups and ports');
      keys(sg as Obj, ['groups', 'ports'], p);
      const gs = (sg as Obj)['groups'] ?? [], ps = (sg as Obj)['ports'] ?? [];
      if (!Array.isArray(gs) || !Array.isArray(ps)) fail('TOPO_BAD_VALUE', node(p), fieldOf(p), 'groups and ports are lists');
      const groups = (gs as Obj[]).map((g, j) => {
        const gp = [...p, 'groups', j];
        keys(g, ['id', 'rules'], gp);
        const rules = g['rules'] ?? [];
        if (!Array.isArray(rules)) fail('TOPO_BAD_VALUE', node([...gp, 'rules']), `${fieldOf(gp)}.rules`, 'expected a list of rules');
        return { id: str(g, 'id', gp)!, rules: rules as SgRule[] };
      });
      const ids = new Set(groups.map((g) => g.id));
      const ports = (ps as Obj[]).map((q, j) => {
        const qp = [...p, 'ports', j];
        keys(q, ['port', 'groups', 'network'], qp);
        const gl = q['groups'] ?? [];
        if (!Array.isArray(gl) || gl.some((x) => typeof x !== 'string')) fail('TOPO_BAD_VALUE', node([...qp, 'groups']), `${fieldOf(qp)}.groups`, 'expected a list of group ids');
        for (const x of gl as string[]) if (!ids.has(x)) fail('TOPO_NO_GROUP', node([...qp, 'groups']), `${fieldOf(qp)}.groups`, `no security group '${x}'`);
        return { port: str(q, 'port', qp)!, groups: gl as string[], network: num(q, 'network', qp) ?? 1, line: lineAt(node(qp)) };
      });
      securityGroups = { groups, ports };
    }
    return { name, ...(flows !== undefined ? { flows } : {}), ...(securityGroups !== undefined ? { securityGroups } : {}), ...(host !== undefined ? { host } : {}),
      ...(defaultFlows !== undefined ? { defaultFlows: defaultFlows as 'learning' | 'normal' | 'none' } : {}), tunnels, line: lineAt(node(path)), field: fieldOf(path) };
  });
  const vteps = list('vteps').map((v, i) => {
    const path = ['vteps', i];
    keys(v, ['host', 'name', 'vni', 'local', 'remotes', 'learning', 'arpSuppress'], path);
    const host = str(v, 'host', path)!, vni = num(v, 'vni', path);
    if (vni === undefined || !Number.isInteger(vni) || vni < 0 || vni > 0xffffff) fail('TOPO_BAD_VALUE', node([...path, 'vni']) ?? node(path), `${fieldOf(path)}.vni`, 'a VNI is an integer 0..16777215');
    const name = `${host}/${str(v, 'name', path, false) ?? `vxlan${vni}`}`;
    claim(name, path);
    const remotes = v['remotes'];
    if (remotes !== undefined && (!Array.isArray(remotes) || remotes.some((x) => typeof x !== 'string'))) fail('TOPO_BAD_VALUE', node([...path, 'remotes']), `${fieldOf(path)}.remotes`, 'expected a list of addresses');
    const local = str(v, 'local', path, false);
    return { host, name, vni: vni!, ...(local !== undefined ? { local } : {}), ...(remotes !== undefined ? { remotes: remotes as string[] } : {}),
      ...(typeof v['learning'] === 'boolean' ? { learning: v['learning'] } : {}), ...(typeof v['arpSuppress'] === 'boolean' ? { arpSuppress: v['arpSuppress'] } : {}),
      line: lineAt(node(path)), field: fieldOf(path) };
  });
  // a link's reorder: netem-like text ('25% 5ms') or { rate, delay }, checked here so the error names the line
  const reorderOption = (v: unknown, field: string, at: Node | null | undefined): ReorderOptions => {
    const bad = (msg: string): never => fail('TOPO_BAD_VALUE', at, field, msg);
    if (typeof v === 'string') {
      try { const r = parseReorder(v, field); return { rate: r.rate, delay: r.delayNs }; } catch (e) { return bad((e as Error).message.replace(`${field}: `, '')); }
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return bad("expected netem-like text such as '25% 5ms', or { rate, delay }");
    const o = v as Obj;
    const extra = Object.keys(o).find((k) => k !== 'rate' && k !== 'delay');
    if (extra !== undefined) return bad(`unknown key '${extra}' (rate, delay)`);
    const rate = o['rate'], delay = o['delay'];
    if (typeof rate !== 'number' || !(rate >= 0 && rate <= 1)) return bad(`rate ${JSON.stringify(rate)} is not a probability (0 to 1)`);
    if (typeof delay === 'number' && delay >= 0 && Number.isFinite(delay)) return { rate, delay };
    if (typeof delay !== 'string') return bad(`delay ${JSON.stringify(delay)} is not a duration such as 5ms`);
    try { return { rate, delay: parseDuration(delay, `${field}.delay`) }; } catch (e) { return bad((e as Error).message.replace(`${field}.delay: `, 'delay: ')); }
  };
  const links = list('links').map((l, i): LinkDecl => {
    const path = ['links', i];
    keys(l, ['a', 'b', 'delay', 'bandwidth', 'mtu', 'loss', 'queue', 'reorder'], path);
    const opts: LinkOptions = {};
    for (const k of ['delay', 'bandwidth', 'queue'] as const) {
      const v = l[k];
      if (v !== undefined && typeof v !== 'string' && typeof v !== 'number') fail('TOPO_BAD_VALUE', node([...path, k]), `${fieldOf(path)}.${k}`, 'expected a quantity such as 1ms, 10Gbps, 64KB');
      if (typeof v === 'number' && !(v >= 0 && Number.isFinite(v))) fail('TOPO_BAD_VALUE', node([...path, k]), `${fieldOf(path)}.${k}`, `${v} is not a quantity ≥ 0`);
      if (v !== undefined) opts[k] = v as string | number;
    }
    const mtu = num(l, 'mtu', path), loss = num(l, 'loss', path);
    if (mtu !== undefined && !(Number.isInteger(mtu) && mtu >= 68 && mtu <= 65535)) fail('TOPO_BAD_VALUE', node([...path, 'mtu']), `${fieldOf(path)}.mtu`, `${mtu} is not an MTU (68 to 65535)`);
    if (loss !== undefined && !(loss >= 0 && loss <= 1)) fail('TOPO_BAD_VALUE', node([...path, 'loss']), `${fieldOf(path)}.loss`, `${loss} is not a probability (0 to 1)`);
    if (mtu !== undefined) opts.mtu = mtu;
    if (loss !== undefined) opts.loss = loss;
    if (l['reorder'] !== undefined) opts.reorder = reorderOption(l['reorder'], `${fieldOf(path)}.reorder`, node([...path, 'reorder']));
    return { a: str(l, 'a', path)!, b: str(l, 'b', path)!, opts, line: lineAt(node(path)), field: fieldOf(path) };
  });
  const steps = parseSteps(r);
  const loaded: LoadedTopology = { seed: typeof js['seed'] === 'number' ? js['seed'] : 1, hosts, natGateways, bridges, ovsBridges, vteps, links, steps };
  check(loaded, doc, lineAt, node);
  return loaded;
}

/**
 * The `run` steps of another kind of file ('text', YAML; its other keys are
 * that file's business): checked as a topology file's are, the hosts they
 * name by 'isHost', the links they cut by index below 'links'.
 */
export function loadSteps(text: string, isHost: (name: string) => boolean, links = 0, isBridge: (name: string) => boolean = () => false): RunStep[] {
  const steps = parseSteps(readerOf(text, null));
  checkSteps(steps, isHost, links, isBridge);
  return steps;
}

/** The hosts, links and OVS bridges 'steps' name exist. */
function checkSteps(steps: readonly RunStep[], isHost: (name: string) => boolean, links: number, isBridge: (name: string) => boolean): void {
  steps.forEach((s, i) => {
    if ((s.kind === 'dumpFlows' || s.kind === 'trace') && !isBridge(s.bridge)) throw new TopologyFileError('TOPO_NO_NODE', s.line, `run[${i}].${s.kind}.bridge`, `no OVS bridge named '${s.bridge}'`);
    const hostNamed = (n: string, f: string): void => { if (!isHost(n)) throw new TopologyFileError('TOPO_NO_NODE', s.line, `run[${i}].${f}`, `no host named '${n}'`); };
    if (s.kind === 'ping' || s.kind === 'traceroute' || s.kind === 'tcp') hostNamed(s.from, `${s.kind}.from`);
    if (s.kind === 'serve') hostNamed(s.host, 'serve.host');
    if (s.kind === 'capture') hostNamed(s.at.split(':')[0]!, 'capture.at');
    if ((s.kind === 'cut' || s.kind === 'restore') && (s.link < 0 || s.link >= links)) throw new TopologyFileError('TOPO_NO_LINK', s.line, `run[${i}].${s.kind}.link`, `there is no link ${s.link} (${links} links)`);
  });
}

const STEP_KINDS = 'ping, traceroute, serve, tcp, capture, wait, cut, restore, dumpFlows, trace';

/** The `run` list's steps. */
function parseSteps({ list, fail, node, lineAt, str, num, keys }: Reader): Step[] {
  return list('run').map((s, i): Step => {
    const path = ['run', i];
    const kinds = Object.keys(s);
    if (kinds.length !== 1) fail('TOPO_BAD_STEP', node(path), fieldOf(path), `a step is one of ${STEP_KINDS}`);
    const kind = kinds[0]!, p = [...path, kind], v = s[kind];
    const line = lineAt(node(path));
    if (kind === 'wait') {
      if (typeof v !== 'string' && typeof v !== 'number') fail('TOPO_BAD_STEP', node(p), fieldOf(p), 'expected a duration such as 1s');
      return { kind, ns: typeof v === 'number' ? v : parseDuration(v as string, fieldOf(p)), line };
    }
    if (v === null || typeof v !== 'object') fail('TOPO_BAD_STEP', node(p), fieldOf(p), 'expected a mapping');
    const o = v as Obj;
    switch (kind) {
      case 'ping': {
        keys(o, ['from', 'to', 'count', 'interval', 'size', 'ttl'], p);
        const interval = num(o, 'interval', p), size = num(o, 'size', p), ttl = num(o, 'ttl', p);
        return { kind, from: str(o, 'from', p)!, to: str(o, 'to', p)!, count: num(o, 'count', p) ?? 1, ...(interval !== undefined ? { interval } : {}),
          ...(size !== undefined ? { size } : {}), ...(ttl !== undefined ? { ttl } : {}), line };
      }
      case 'traceroute': {
        keys(o, ['from', 'to', 'maxHops'], p);
        const maxHops = num(o, 'maxHops', p);
        return { kind, from: str(o, 'from', p)!, to: str(o, 'to', p)!, ...(maxHops !== undefined ? { maxHops } : {}), line };
      }
      case 'capture': keys(o, ['at', 'file'], p); return { kind, at: str(o, 'at', p)!, file: str(o, 'file', p)!, line };
      case 'serve': {
        keys(o, ['host', 'port', 'reply'], p);
        return { kind, host: str(o, 'host', p)!, port: num(o, 'port', p) ?? 80, reply: str(o, 'reply', p, false) ?? 'ok', line };
      }
      case 'tcp': {
        keys(o, ['from', 'to', 'port', 'data', 'timeout'], p);
        return { kind, from: str(o, 'from', p)!, to: str(o, 'to', p)!, port: num(o, 'port', p) ?? 80, data: str(o, 'data', p, false) ?? 'hello',
          timeout: num(o, 'timeout', p) ?? 10, line };
      }
      case 'cut': case 'restore': keys(o, ['link'], p); return { kind, link: num(o, 'link', p) ?? -1, line };
      case 'dumpFlows': {
        keys(o, ['bridge', 'table'], p);
        const table = num(o, 'table', p);
        return { kind, bridge: str(o, 'bridge', p)!, ...(table !== undefined ? { table } : {}), line };
      }
      case 'trace': {
        keys(o, ['bridge', 'flow', 'ctNext'], p);
        const ct = o['ctNext'];
        if (ct !== undefined && (!Array.isArray(ct) || ct.some((x) => typeof x !== 'string'))) fail('TOPO_BAD_VALUE', node([...p, 'ctNext']), `${fieldOf(p)}.ctNext`, 'expected a list of ct_state values such as +trk+est');
        return { kind, bridge: str(o, 'bridge', p)!, flow: str(o, 'flow', p)!, ...(ct !== undefined ? { ctNext: ct as string[] } : {}), line };
      }
      default: return fail('TOPO_BAD_STEP', node(path), fieldOf(path), `unknown step '${kind}' (${STEP_KINDS})`);
    }
  });
}

const fieldOf = (path: (string | number)[]): string => path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');

/** The cross-checks: addresses, subnets, duplicates, link ends, steps. */
function check(t: LoadedTopology, _doc: Document, lineAt: (n: Node | null | undefined) => number, node: (p: (string | number)[]) => Node | undefined): void {
  const fail = (code: string, line: number, field: string, msg: string): never => { throw new TopologyFileError(code, line, field, msg); };
  type IfaceAddrs = { addrs: { addr: number; len: number }[]; addrs6: { words: number[]; len: number }[]; mac?: string; line: number };
  const ifacesOf = new Map<string, Map<string, IfaceAddrs>>();
  const ips = new Map<number, string>(), ips6 = new Map<string, string>(), macs = new Map<string, string>();
  const lineOfHost = new Map<string, number>();
  for (const h of t.hosts) {
    lineOfHost.set(h.name, h.line);
    const m = new Map<string, IfaceAddrs>();
    h.ifaces.forEach((f, j) => {
      const at = h.ifaceAt[j]!;
      if (m.has(f.name)) fail('TOPO_DUPLICATE', at.line, at.field, `${h.name} has two interfaces named ${f.name}`);
      const addrs: { addr: number; len: number }[] = [], addrs6: { words: number[]; len: number }[] = [];
      (f.addrs ?? []).forEach((a, k) => {
        const [ip, len] = a.split('/');
        const l = Number(len);
        if (a.includes(':')) {
          const w = inetPton6(ip ?? '');
          if (w === null || len === undefined || !/^\d+$/.test(len) || l > 128) fail('TOPO_BAD_ADDRESS', at.line, `${at.field}[${k}]`, `'${a}' is not an IPv6 address with a prefix length`);
          const key = ipv6Text(w!);
          const owner = ips6.get(key);
          if (owner !== undefined) fail('TOPO_DUPLICATE_IP', at.line, at.field, `${key} is already the address of ${owner}`);
          ips6.set(key, `${h.name}:${f.name}`);
          addrs6.push({ words: w!, len: l });
          return;
        }
        const v = parseIpv4(ip ?? '');
        if (v === null || len === undefined || !Number.isInteger(l) || l < 0 || l > 32) fail('TOPO_BAD_ADDRESS', at.line, `${at.field}[${k}]`, `'${a}' is not an IPv4 address with a prefix length`);
        const owner = ips.get(v!);
        if (owner !== undefined) fail('TOPO_DUPLICATE_IP', at.line, at.field, `${ip} is already the address of ${owner}`);
        ips.set(v!, `${h.name}:${f.name}`);
        addrs.push({ addr: v!, len: l });
      });
      if (f.mac !== undefined) {
        const key = f.mac.toLowerCase();
        if (macs.has(key)) fail('TOPO_DUPLICATE_MAC', at.line, `${at.field}.mac`, `${f.mac} is already the MAC of ${macs.get(key)}`);
        macs.set(key, `${h.name}:${f.name}`);
      }
      m.set(f.name, { addrs, addrs6, ...(f.mac !== undefined ? { mac: f.mac } : {}), line: h.line });
    });
    h.routes.forEach((r, j) => {
      const at = h.routeAt[j]!;
      const f = m.get(r.dev);
      if (f === undefined) fail('TOPO_NO_IFACE', at.line, `${at.field}.dev`, `${h.name} has no interface '${r.dev}'`);
      if (r.dst.includes(':') || (r.via?.includes(':') ?? false)) {
        const [d, dl] = r.dst.split('/');
        if (r.dst !== 'default' && (inetPton6(d ?? '') === null || dl === undefined || !/^\d+$/.test(dl) || Number(dl) > 128)) fail('TOPO_BAD_ADDRESS', at.line, `${at.field}.dst`, `'${r.dst}' is not 'default' or an IPv6 prefix`);
        if (r.via === undefined) return;
        const v = inetPton6(r.via);
        if (v === null) fail('TOPO_BAD_ADDRESS', at.line, `${at.field}.via`, `'${r.via}' is not an IPv6 address`);
        const linkLocal = v![0] === 0xfe800000 && v![1] === 0; // fe80::/64 is on every interface
        if (!linkLocal && !f!.addrs6.some((a) => commonBits(a.words, v!) >= a.len)) {
          fail('TOPO_OUTSIDE_SUBNET', at.line, at.field, `${r.via} is outside every IPv6 subnet of ${h.name}:${r.dev}`);
        }
        return;
      }
      if (r.dst !== 'default' && !/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(r.dst)) fail('TOPO_BAD_ADDRESS', at.line, `${at.field}.dst`, `'${r.dst}' is not 'default' or a.b.c.d/len`);
      if (r.via !== undefined) {
        const v = parseIpv4(r.via);
        if (v === null) fail('TOPO_BAD_ADDRESS', at.line, `${at.field}.via`, `'${r.via}' is not an IPv4 address`);
        if (!f!.addrs.some((a) => a.len === 0 || ((a.addr ^ v!) >>> (32 - a.len)) === 0)) {
          fail('TOPO_OUTSIDE_SUBNET', at.line, at.field, `${r.via} is outside every subnet of ${h.name}:${r.dev}`);
        }
      }
    });
    ifacesOf.set(h.name, m);
  }
  for (const g of t.natGateways) {
    let outside: string[] = [];
    try { outside = natGatewayOutsideAddrs(g); } catch (e) {
      if (e instanceof SdnemuError) fail(e.code, g.line, g.name, e.message);
      throw e;
    }
    for (const a of outside) {
      const v = parseIpv4(a.split('/')[0]!)!;
      if (ips.has(v)) fail('TOPO_DUPLICATE_IP', g.line, g.name, `${a.split('/')[0]} is already the address of ${ips.get(v)}`);
      ips.set(v, g.name);
    }
  }
  const gwNames = new Set(t.natGateways.map((g) => g.name));
  const bridgeNames = new Set([...t.bridges.map((b) => b.name), ...t.ovsBridges.map((b) => b.name), ...t.vteps.map((v) => v.name)]);
  for (const v of t.vteps) if (!ifacesOf.has(v.host)) fail('TOPO_NO_NODE', v.line, `${v.field}.host`, `no host named '${v.host}'`);
  for (const b of t.ovsBridges) if (b.host !== undefined && !ifacesOf.has(b.host)) fail('TOPO_NO_NODE', b.line, `${b.field}.host`, `no host named '${b.host}'`);
  const used = new Set<string>();
  t.links.forEach((l) => {
    for (const [end, text] of [['a', l.a], ['b', l.b]] as const) {
      const [name, iface] = text.split(':');
      const known = ifacesOf.has(name!) || gwNames.has(name!) || bridgeNames.has(name!);
      if (!known && !bridgeNames.has(text)) fail('TOPO_DANGLING_LINK', l.line, `${l.field}.${end}`, `no host, router, gateway or bridge named '${name}'`);
      if (iface !== undefined && ifacesOf.has(name!) && !ifacesOf.get(name!)!.has(iface)) {
        // a link may make a new interface on a host: only a named one that exists elsewhere is an error
      }
      if (iface !== undefined) {
        const key = `${name}:${iface}`;
        if (used.has(key)) fail('TOPO_LINKED', l.line, `${l.field}.${end}`, `${key} is already linked`);
        used.add(key);
      }
    }
  });
  checkSteps(t.steps, (n) => ifacesOf.has(n) || gwNames.has(n), t.links.length, (n) => t.ovsBridges.some((b) => b.name === n));
  void lineAt; void node;
}

/** Build 'loaded' into a Topology (throws TopologyFileError with the line of what failed). */
export function buildTopology(loaded: LoadedTopology): Topology {
  const t = new Topology({ seed: loaded.seed });
  const at = <T>(line: number, field: string, fn: () => T): T => {
    try { return fn(); } catch (e) {
      if (e instanceof SdnemuError && !(e instanceof TopologyFileError)) throw new TopologyFileError(e.code, line, field, e.message);
      throw e;
    }
  };
  for (const h of loaded.hosts) {
    at(h.line, h.field, () => (h.kind === 'router' ? t.router.bind(t) : t.host.bind(t))(h.name, { ifaces: h.ifaces, routes: h.routes, ...(h.rules !== undefined ? { rules: h.rules } : {}) }));
  }
  for (const g of loaded.natGateways) at(g.line, g.name, () => { const { name, line: _l, ...spec } = g; t.natGateway(name, spec); });
  for (const b of loaded.bridges) t.add(new LinuxBridge(t.sim, b.name));
  for (const b of loaded.ovsBridges) {
    const br = at(b.line, b.name, () => t.ovsBridge(b.name, { ...(b.flows !== undefined ? { flows: b.flows } : {}),
      ...(b.defaultFlows !== undefined ? { defaultFlows: b.defaultFlows } : {}), ...(b.host !== undefined ? { host: t.hostNamed(b.host) } : {}) }));
    for (const tun of b.tunnels) at(tun.line, tun.field, () => br.addTunnelPort(tun.spec, tun.field));
  }
  for (const v of loaded.vteps) {
    at(v.line, v.field, () => t.add(new Vtep(t.hostNamed(v.host), { vni: v.vni, name: v.name.slice(v.host.length + 1), ...(v.local !== undefined ? { local: v.local } : {}),
      ...(v.remotes !== undefined ? { remotes: v.remotes } : {}), ...(v.learning !== undefined ? { learning: v.learning } : {}), ...(v.arpSuppress !== undefined ? { arpSuppress: v.arpSuppress } : {}) })));
  }
  for (const l of loaded.links) {
    at(l.line, l.field, () => t.link(endpoint(t, l.a), endpoint(t, l.b), l.opts));
  }
  for (const b of loaded.ovsBridges) if (b.securityGroups !== undefined) at(b.line, `${b.field}.securityGroups`, () => loadSecurityGroups(t.node(b.name) as OvsBridge, b.securityGroups!, b.field));
  return t;
}

/**
 * Compile 'decl' for bridge 'br' and load it (replacing the bridge's flows):
 * each guarded port's MAC and addresses are those of the host interface
 * linked to it, as the agent learns them from Neutron.
 */
function loadSecurityGroups(br: OvsBridge, decl: SgDecl, field: string): void {
  const ports: SgPort[] = decl.ports.map((q, j) => {
    const f = `${field}.securityGroups.ports[${j}]`;
    let port: OvsPort;
    try { port = br.port(q.port); } catch { throw new TopologyFileError('TOPO_NO_PORT', q.line, `${f}.port`, `${br.name} has no port '${q.port}' (a link makes it)`); }
    const peer = port.peer;
    if (peer === null || !(peer.owner instanceof HostClass)) throw new TopologyFileError('TOPO_NO_VM', q.line, `${f}.port`, `no host is linked to ${br.name}:${q.port}`);
    const h = peer.owner, iface = h.iface(peer.name);
    return {
      id: `${h.name}:${peer.name}`, ofport: port.ofport, mac: Array.from(h.mac(peer.name)!, (x) => x.toString(16).padStart(2, '0')).join(':'),
      fixedIps: iface.addrs.map((a) => `${a.addr >>> 24}.${(a.addr >>> 16) & 255}.${(a.addr >>> 8) & 255}.${a.addr & 255}`), securityGroups: q.groups, network: q.network,
    };
  });
  br.replaceFlows(SecurityGroups.compile(ports, decl.groups.map((g) => SecurityGroups.newGroup(g.id, g.rules))));
}

function endpoint(t: Topology, text: string): Parameters<Topology['link']>[0] {
  // a VTEP is named host/vxlanN (no interface part); a bridge's port name may follow a ':'
  if (t.nodes.get(text) instanceof Vtep) return t.nodes.get(text) as Vtep;
  const [name, iface] = text.split(':');
  const n = t.node(name!);
  if (n instanceof LinuxBridge || n instanceof OvsBridge) return iface === undefined ? n : n.addPort(iface);
  const h = n as Host;
  return iface === undefined ? h : [h, iface];
}

/** Build 'loaded' and run its steps, writing what each tool prints to 'write'; the captures, by file name. */
export async function runTopology(loaded: LoadedTopology, write: (s: string) => void): Promise<{ topology: Topology; captures: Map<string, Capture> }> {
  const t = buildTopology(loaded);
  return { topology: t, captures: await runSteps(t, loaded.steps, write) };
}

/** What a `dumpFlows` or `trace` step prints: the command, as a shell would show it, and its output. */
export function bridgeStepText(t: Topology, s: Extract<RunStep, { kind: 'dumpFlows' | 'trace' }>): string {
  const br = t.node(s.bridge) as OvsBridge;
  if (s.kind === 'dumpFlows') {
    return `$ ovs-ofctl dump-flows ${s.bridge}${s.table !== undefined ? ` table=${s.table}` : ''}\n${br.dumpFlows(s.table !== undefined ? { table: s.table } : {}).join('\n')}\n\n`;
  }
  return `$ ovs-appctl ofproto/trace ${s.bridge} ${s.flow}${(s.ctNext ?? []).map((c) => ` --ct-next ${c}`).join('')}\n`
    + `${br.trace(s.flow, s.ctNext !== undefined ? { ctNext: s.ctNext } : {}).trimEnd()}\n\n`;
}

/**
 * Run 'steps' on 't' in order, writing what each tool prints to 'write'; the captures, by file
 * name. At the end the packet ledger (sim/ledger.ts) must balance: a packet lost without a
 * reason is a LedgerError naming its trace id.
 */
export async function runSteps(t: Topology, steps: readonly RunStep[], write: (s: string) => void): Promise<Map<string, Capture>> {
  const captures = new Map<string, Capture>();
  for (const s of steps) {
    switch (s.kind) {
      case 'ping': {
        write(`$ ${s.from}: ping -c ${s.count} ${s.to}\n`);
        const r = await t.ping(s.from, s.to, { count: s.count, ...(s.interval !== undefined ? { interval: s.interval } : {}), ...(s.size !== undefined ? { size: s.size } : {}), ...(s.ttl !== undefined ? { ttl: s.ttl } : {}) });
        write(`${r.text}\n`);
        break;
      }
      case 'traceroute': {
        write(`$ ${s.from}: traceroute -n ${s.to}\n`);
        const r = await t.traceroute(s.from, s.to, { numeric: true, ...(s.maxHops !== undefined ? { maxHops: s.maxHops } : {}) });
        write(`${r.text}\n`);
        break;
      }
      case 'capture': {
        const [host, iface] = s.at.split(':');
        captures.set(s.file, t.capture([t.hostNamed(host!), iface ?? 'eth0']));
        break;
      }
      case 'serve': tcpServer(t.hostNamed(s.host), s.port, () => new TextEncoder().encode(s.reply)); break;
      case 'tcp': {
        const r = await tcpRequest(t.hostNamed(s.from), s.to, s.port, s.data, { timeoutSec: s.timeout });
        write(`$ ${s.from}: tcp ${s.to}:${s.port}  ${r.error ?? `${JSON.stringify(new TextDecoder().decode(r.response))} (connected in ${r.connectMs} ms)`}\n\n`);
        break;
      }
      case 'wait': t.runFor(s.ns); break;
      case 'cut': t.links[s.link]!.cut(); break;
      case 'restore': t.links[s.link]!.restore(); break;
      case 'dumpFlows': case 'trace': write(bridgeStepText(t, s)); break;
    }
  }
  t.sim.ledger.assertBalanced('the topology run');
  return captures;
}
