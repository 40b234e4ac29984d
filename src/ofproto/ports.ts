/**
 * The `--ports` file of `sdnemu ofproto-trace` (ofproto layer, slow path):
 * a bridge's ports and tunnel underlay as text, and the datapath (ODP) port
 * numbers Open vSwitch's dummy datapath gives those ports.
 *
 * What: `parsePortsFile()` reads one port a line, `NAME OFPORT [TYPE]
 * [key=value …]` (`p1 1`, `vx1 10 vxlan remote_ip=192.168.1.2 key=flow`),
 * `#` comments and blank lines, and `@` lines that set up the underlay the
 * way the matching ovs-appctl commands do: `@hwaddr MAC` (other-config:hwaddr
 * of the bridge), `@ip ADDR/LEN` (`netdev-dummy/ip4addr br0 ADDR/LEN`),
 * `@route CIDR DEV` (`ovs/route/add CIDR DEV`), `@neigh IP MAC`
 * (`tnl/neigh/set br0 IP MAC`). It returns a `BridgeConfig` of validated
 * strings; bridge.ts turns it into numbers. `odpPortNumbers()` maps each
 * OpenFlow port to the port number printed in `Datapath actions:`.
 *
 * Why ODP numbers need a model: ovs-vswitchd hands each port to the datapath
 * without a number, and the dummy datapath picks one (`choose_port()`,
 * lib/dpif-netdev.c): the first run of digits in the datapath port's name
 * (`p1` → 1, `foo12bar3` → 12), plus 100 when the name starts with `br`
 * (`br0` → 100, `br9` → 109), unless that number is 0, already taken, or
 * 0xffffffff; otherwise the lowest free number from 1. Tunnel ports share one
 * datapath port per kind and UDP port (lib/netdev-vport.c): `vxlan_sys_4789`
 * → 4789 (`vxlan_sys_<dst_port>` when dst_port is set), `genev_sys_6081` →
 * 6081, `gre_sys` (no digits: lowest free). Patch ports have none.
 *   "Lowest free" makes the result depend on the order in which ports reach
 * the datapath. vswitchd/bridge.c (`bridge_add_ports`) adds them in two
 * passes over a `shash` of the bridge's ports: first every interface with an
 * ofport_request (all ports of a ports file), then the others (the bridge's
 * own LOCAL port). Each pass walks the hash table's buckets in order; the
 * bucket is OVS's `hash_string(name, 0)` (murmur3-based `hash_bytes`) masked
 * by the table size, which grows with the number of ports (4 buckets for 2–7
 * ports, 8 for 8–15, …). Observed with `ovs-appctl dpif/show`: `p100 1`,
 * `a 2`, `b 3` give b → 1, a → 2, and LOCAL br0 → 3 (100 was taken by p100).
 *   Inside one bucket OVS's order follows the database's order of the Port
 * rows, i.e. of their random UUIDs, so OVS itself is not deterministic there:
 * `int1 3`, `q 5`, `a 6` (all in bucket 1) came out five different ways in
 * twelve runs. We use the file's order inside a bucket;
 * `possibleOdpPortNumbers()` lists every outcome OVS may produce, and a ports
 * file whose numbering OVS leaves to chance can be detected with it.
 *
 * Invariants: every PortSpec has a unique name and ofport in 1..65279
 * (OFPP_MAX − 1), a known type, only the options OVS accepts for that type,
 * and the options a type needs (remote_ip for tunnels, peer for patch).
 * Errors are `PortsFileError`s naming the line, the field and the token.
 * Cost: parse is linear in the text; numbering is linear in the ports
 * (times the number of orders for `possibleOdpPortNumbers`).
 * Neighbours: bridge.ts (BridgePort, Underlay) consumes the result; trace.ts
 * reads the file for `ofproto-trace --ports`; test/oracle/ovs.ts sets up the
 * same bridge in real OVS for the differential tests.
 */
import { SdnemuError } from '../errors.js';
import { parseIpv4, parseMac } from '../wire/bytes.js';
import { hashBytes } from '../flow/hash.js';

// ---- types ---------------------------------------------------------------------------------

/** One port line. */
export interface PortSpec {
  name: string;
  /** OpenFlow port number (ofport_request), 1..65279 */
  ofport: number;
  /** 'dummy' when the line names no type */
  type: string;
  /** Interface options as written (`remote_ip`, `key`, `dst_port`, `peer`, …) */
  options: Record<string, string>;
  /** 1-based line in the file */
  line: number;
}

/** A whole ports file: the ports in file order and the underlay (`@` lines). */
export interface BridgeConfig {
  ports: PortSpec[];
  /** `@hwaddr`: the bridge's MAC, lower-case `aa:bb:cc:dd:ee:ff`; null when absent */
  hwaddr: string | null;
  /** `@ip`: addresses on the bridge */
  ip4: { addr: string; prefixLen: number }[];
  /** `@route`: CIDR as written (validated), output device */
  routes: { cidr: string; dev: string }[];
  /** `@neigh`: IPv4 → MAC (lower-case) */
  neighs: { ip: string; mac: string }[];
}

export type PortsFileCode =
  | 'PORTS_SYNTAX'
  | 'PORTS_BAD_NAME'
  | 'PORTS_BAD_NUMBER'
  | 'PORTS_DUPLICATE'
  | 'PORTS_UNKNOWN_TYPE'
  | 'PORTS_BAD_OPTION'
  | 'PORTS_MISSING_OPTION'
  | 'PORTS_BAD_ADDRESS'
  | 'PORTS_UNKNOWN_DIRECTIVE';

/**
 * A fault in a ports file: 'line' (1-based), 'field' (`name`, `ofport`,
 * `type`, `options:remote_ip`, `@route`, …) and the offending 'token'.
 */
export class PortsFileError extends SdnemuError {
  readonly line: number;
  readonly field: string;
  readonly token: string;
  constructor(code: PortsFileCode, line: number, field: string, token: string, detail: string) {
    super(code, `ports file line ${line}: ${field}: ${detail}`);
    this.name = 'PortsFileError';
    this.line = line;
    this.field = field;
    this.token = token;
  }
  override location(): Record<string, string | number> {
    return { line: this.line, field: this.field, token: this.token };
  }
}

// ---- port types and their options ------------------------------------------------------------

/** The port types a ports file may name. */
export const PORT_TYPES = ['dummy', 'internal', 'vxlan', 'geneve', 'gre', 'patch'] as const;

const TUNNEL_TYPES: ReadonlySet<string> = new Set(['vxlan', 'geneve', 'gre']);

/** IANA UDP ports OVS uses when a tunnel has no dst_port option. */
export const VXLAN_DST_PORT = 4789, GENEVE_DST_PORT = 6081;

/** Largest ofport a port may request (OFPP_MAX is 0xff00). */
export const OFPORT_MAX = 0xfeff;
/** OpenFlow number of the bridge's own port. */
export const OFPP_LOCAL = 0xfffe;

/** True for the types that are tunnels (vxlan, geneve, gre). */
export function isTunnelType(type: string): boolean {
  return TUNNEL_TYPES.has(type);
}

/** The tunnel ports of 'cfg', in file order (their remote_ip/key/dst_port stay in options). */
export function tunnelPorts(cfg: BridgeConfig): PortSpec[] {
  return cfg.ports.filter((p) => isTunnelType(p.type));
}

type OptionCheck = (v: string) => string | null; // null = fine, else the complaint

const ipOrFlow: OptionCheck = (v) => (v === 'flow' || parseIpv4(v) !== null ? null
  : v.includes(':') ? 'IPv6 tunnel endpoints are not supported' : 'not an IPv4 address or "flow"');
const keyOrFlow: OptionCheck = (v) => (v === 'flow' || parseU64(v) !== null ? null : 'not a 64-bit key or "flow"');
const bool: OptionCheck = (v) => (v === 'true' || v === 'false' ? null : 'not true or false');
const u8OrInherit = (lo: number): OptionCheck => (v) => {
  if (v === 'inherit') return null;
  const n = parseDecimal(v);
  return n !== null && n >= lo && n <= 255 ? null : `not ${lo}..255 or "inherit"`;
};
const udpPort: OptionCheck = (v) => {
  const n = parseDecimal(v);
  return n !== null && n >= 1 && n <= 65535 ? null : 'not a UDP port 1..65535';
};
const portName: OptionCheck = (v) => (NAME.test(v) ? null : 'not a port name');

/** Options common to all tunnels (lib/netdev-vport.c set_tunnel_config()). */
const TUNNEL_OPTIONS: Record<string, OptionCheck> = {
  remote_ip: ipOrFlow, local_ip: ipOrFlow, key: keyOrFlow, in_key: keyOrFlow, out_key: keyOrFlow,
  tos: u8OrInherit(0), ttl: u8OrInherit(1), csum: bool, df_default: bool,
};

/** Per type: the options accepted, and those required. */
const TYPE_OPTIONS: Record<string, { allowed: Record<string, OptionCheck>; required: string[] }> = {
  dummy: { allowed: {}, required: [] },
  internal: { allowed: {}, required: [] },
  vxlan: { allowed: { ...TUNNEL_OPTIONS, dst_port: udpPort }, required: ['remote_ip'] },
  geneve: { allowed: { ...TUNNEL_OPTIONS, dst_port: udpPort }, required: ['remote_ip'] },
  gre: { allowed: TUNNEL_OPTIONS, required: ['remote_ip'] },
  patch: { allowed: { peer: portName }, required: ['peer'] },
};

// ---- parsing ---------------------------------------------------------------------------------

const NAME = /^[A-Za-z0-9_.:-]+$/;
/** OpenFlow reserved port names (ofputil_port_from_string): a port so named could not be referred to. */
const RESERVED_NAMES = new Set(['in_port', 'table', 'normal', 'flood', 'all', 'controller', 'local', 'none', 'any', 'unset']);

function parseDecimal(s: string): number | null {
  return /^[0-9]{1,10}$/.test(s) ? Number(s) : null;
}

function parseU64(s: string): bigint | null {
  if (!/^(?:[0-9]{1,20}|0x[0-9a-fA-F]{1,16})$/.test(s)) return null;
  const v = BigInt(s);
  return v < 1n << 64n ? v : null;
}

/** The whitespace-separated tokens of one line; '#' starts a comment. */
function tokens(text: string): string[] {
  const hash = text.indexOf('#');
  const body = hash < 0 ? text : text.slice(0, hash);
  return body.split(/[ \t]+/).filter((t) => t !== '');
}

/** `ADDR/LEN` with an IPv4 address and 0..32; null if malformed. */
function parseCidr(s: string): { addr: string; prefixLen: number } | null {
  const slash = s.indexOf('/');
  if (slash < 0) return null;
  const addr = s.slice(0, slash), len = parseDecimal(s.slice(slash + 1));
  if (parseIpv4(addr) === null || len === null || len > 32) return null;
  return { addr, prefixLen: len };
}

/** Lower-case `aa:bb:cc:dd:ee:ff` from a MAC as parseMac() accepts it. */
function canonicalMac(s: string): string | null {
  const b = parseMac(s);
  if (b === null) return null;
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}

/**
 * Parse a ports file. Throws `PortsFileError` (line, field, token) on the
 * first fault: a malformed line, a bad name or ofport, a duplicate name or
 * ofport, an unknown type, an option the type does not take or a missing
 * required one, a malformed address, an unknown or repeated `@` line.
 */
export function parsePortsFile(text: string): BridgeConfig {
  const cfg: BridgeConfig = { ports: [], hwaddr: null, ip4: [], routes: [], neighs: [] };
  const names = new Map<string, number>(); // name → line
  const ofports = new Map<number, number>(); // ofport → line
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const tok = tokens(lines[i]!);
    if (tok.length === 0) continue;
    if (tok[0]!.startsWith('@')) parseDirective(cfg, tok, lineNo);
    else cfg.ports.push(parsePortLine(tok, lineNo, names, ofports));
  }
  return cfg;
}

function parsePortLine(tok: string[], line: number, names: Map<string, number>, ofports: Map<number, number>): PortSpec {
  const [name, ofp] = tok as [string, string | undefined];
  if (!NAME.test(name)) {
    throw new PortsFileError('PORTS_BAD_NAME', line, 'name', name, `bad port name "${name}" (letters, digits, _ . : - only)`);
  }
  if (/^[0-9]+$/.test(name) || RESERVED_NAMES.has(name.toLowerCase())) {
    throw new PortsFileError('PORTS_BAD_NAME', line, 'name', name, `"${name}" is a number or an OpenFlow reserved port name`);
  }
  const prev = names.get(name);
  if (prev !== undefined) {
    throw new PortsFileError('PORTS_DUPLICATE', line, 'name', name, `port ${name} already defined on line ${prev}`);
  }
  if (ofp === undefined) {
    throw new PortsFileError('PORTS_SYNTAX', line, 'ofport', '', `port ${name} has no OpenFlow port number (NAME OFPORT [TYPE] [key=value …])`);
  }
  const ofport = parseDecimal(ofp);
  if (ofport === null || ofport < 1 || ofport > OFPORT_MAX) {
    throw new PortsFileError('PORTS_BAD_NUMBER', line, 'ofport', ofp, `"${ofp}" is not an OpenFlow port number 1..${OFPORT_MAX}`);
  }
  const prevOf = ofports.get(ofport);
  if (prevOf !== undefined) {
    throw new PortsFileError('PORTS_DUPLICATE', line, 'ofport', ofp, `OpenFlow port ${ofport} already used on line ${prevOf}`);
  }
  let k = 2;
  let type = 'dummy';
  if (tok[k] !== undefined && !tok[k]!.includes('=')) {
    type = tok[k]!;
    k++;
    if (!Object.hasOwn(TYPE_OPTIONS, type)) {
      throw new PortsFileError('PORTS_UNKNOWN_TYPE', line, 'type', type, `unknown port type "${type}" (known: ${PORT_TYPES.join(', ')})`);
    }
  }
  const spec = TYPE_OPTIONS[type]!;
  const options: Record<string, string> = {};
  for (; k < tok.length; k++) {
    const t = tok[k]!;
    const eq = t.indexOf('=');
    if (eq <= 0 || eq === t.length - 1) {
      throw new PortsFileError('PORTS_SYNTAX', line, 'options', t, `"${t}" is not key=value`);
    }
    const key = t.slice(0, eq), value = t.slice(eq + 1);
    if (Object.hasOwn(options, key)) {
      throw new PortsFileError('PORTS_DUPLICATE', line, `options:${key}`, t, `option ${key} given twice`);
    }
    const bad = optionProblem(type, key, value);
    if (bad !== null) throw new PortsFileError(bad.code, line, bad.field, bad.code === 'PORTS_BAD_OPTION' && !Object.hasOwn(spec.allowed, key) ? t : value, bad.detail);
    options[key] = value;
  }
  const missing = missingOption(type, options);
  if (missing !== null) throw new PortsFileError(missing.code, line, missing.field, '', missing.detail);
  names.set(name, line);
  ofports.set(ofport, line);
  return { name, ofport, type, options, line };
}

/** What is wrong with an option: its code, field (`options:KEY`) and complaint. */
export interface OptionProblem { code: PortsFileCode; field: string; detail: string }

/**
 * The fault of option 'key'='value' on a port of 'type' (one it does not
 * take, or a malformed value), or null. 'type' must be one of PORT_TYPES.
 */
export function optionProblem(type: string, key: string, value: string): OptionProblem | null {
  const spec = TYPE_OPTIONS[type]!;
  const field = `options:${key}`;
  const check = Object.hasOwn(spec.allowed, key) ? spec.allowed[key]! : null;
  if (check === null) {
    const known = Object.keys(spec.allowed);
    return { code: 'PORTS_BAD_OPTION', field, detail: `a ${type} port takes ${known.length ? `only ${known.join(', ')}` : 'no options'}` };
  }
  const bad = check(value);
  if (bad === null) return null;
  return { code: key.endsWith('_ip') ? 'PORTS_BAD_ADDRESS' : 'PORTS_BAD_OPTION', field, detail: `"${value}": ${bad}` };
}

/** The first option a port of 'type' needs and 'options' lacks, or null. */
export function missingOption(type: string, options: Record<string, string>): OptionProblem | null {
  for (const r of TYPE_OPTIONS[type]!.required) {
    if (!Object.hasOwn(options, r)) return { code: 'PORTS_MISSING_OPTION', field: `options:${r}`, detail: `a ${type} port needs ${r}=…` };
  }
  return null;
}

function parseDirective(cfg: BridgeConfig, tok: string[], line: number): void {
  const d = tok[0]!;
  const arity: Record<string, [number, string]> = {
    '@hwaddr': [1, '@hwaddr MAC'],
    '@ip': [1, '@ip ADDR/LEN'],
    '@route': [2, '@route CIDR DEV'],
    '@neigh': [2, '@neigh IP MAC'],
  };
  const a = Object.hasOwn(arity, d) ? arity[d]! : null;
  if (a === null) {
    throw new PortsFileError('PORTS_UNKNOWN_DIRECTIVE', line, d, d, `unknown directive ${d} (known: @hwaddr, @ip, @route, @neigh)`);
  }
  if (tok.length !== a[0] + 1) {
    throw new PortsFileError('PORTS_SYNTAX', line, d, tok.slice(1).join(' '), `expected "${a[1]}"`);
  }
  const arg = tok[1]!;
  switch (d) {
    case '@hwaddr': {
      if (cfg.hwaddr !== null) throw new PortsFileError('PORTS_DUPLICATE', line, d, arg, 'the bridge MAC is already set');
      const mac = canonicalMac(arg);
      if (mac === null) throw new PortsFileError('PORTS_BAD_ADDRESS', line, d, arg, `"${arg}" is not a MAC address`);
      cfg.hwaddr = mac;
      return;
    }
    case '@ip': {
      const c = parseCidr(arg);
      if (c === null) throw new PortsFileError('PORTS_BAD_ADDRESS', line, d, arg, `"${arg}" is not IPv4 ADDR/LEN (LEN 0..32)`);
      if (cfg.ip4.some((x) => x.addr === c.addr)) throw new PortsFileError('PORTS_DUPLICATE', line, d, arg, `address ${c.addr} given twice`);
      cfg.ip4.push(c);
      return;
    }
    case '@route': {
      const dev = tok[2]!;
      if (parseCidr(arg) === null) throw new PortsFileError('PORTS_BAD_ADDRESS', line, d, arg, `"${arg}" is not IPv4 CIDR (LEN 0..32)`);
      if (!NAME.test(dev)) throw new PortsFileError('PORTS_BAD_NAME', line, d, dev, `"${dev}" is not a device name`);
      if (cfg.routes.some((r) => r.cidr === arg)) throw new PortsFileError('PORTS_DUPLICATE', line, d, arg, `route ${arg} given twice`);
      cfg.routes.push({ cidr: arg, dev });
      return;
    }
    default: { // @neigh
      const macTok = tok[2]!;
      if (parseIpv4(arg) === null) throw new PortsFileError('PORTS_BAD_ADDRESS', line, d, arg, `"${arg}" is not an IPv4 address`);
      const mac = canonicalMac(macTok);
      if (mac === null) throw new PortsFileError('PORTS_BAD_ADDRESS', line, d, macTok, `"${macTok}" is not a MAC address`);
      if (cfg.neighs.some((n) => n.ip === arg)) throw new PortsFileError('PORTS_DUPLICATE', line, d, arg, `neighbour ${arg} given twice`);
      cfg.neighs.push({ ip: arg, mac });
    }
  }
}

// ---- datapath port numbers -------------------------------------------------------------------

/**
 * The datapath port that carries port 'p': its own name for dummy and
 * internal ports, the shared tunnel port for tunnels
 * (`vxlan_sys_<dst_port>`, `genev_sys_<dst_port>`, `gre_sys`), null for
 * patch ports (they have no datapath port).
 */
export function dpifPortName(p: PortSpec): string | null {
  switch (p.type) {
    case 'vxlan': return `vxlan_sys_${p.options.dst_port ?? VXLAN_DST_PORT}`;
    case 'geneve': return `genev_sys_${p.options.dst_port ?? GENEVE_DST_PORT}`;
    case 'gre': return 'gre_sys';
    case 'patch': return null;
    default: return p.name;
  }
}

/**
 * OVS's `hash_string('s', 0)`: `hash_bytes()` of lib/hash.c with the murmur3
 * `hash_add()` (the build without SSE 4.2, as Debian's), over the UTF-8 bytes
 * read as little-endian words. Used for the order of a `shash`.
 */
export function ovsHashString(s: string): number {
  return hashBytes(new TextEncoder().encode(s), 0);
}

/** The bucket mask of an OVS hmap after 'n' insertions (hmap_insert_at / calc_mask). */
function hmapMask(n: number): number {
  let mask = 0;
  for (let count = 1; count <= n; count++) {
    if (Math.floor(count / 2) > mask) {
      let m = Math.floor(count / 2);
      m |= m >>> 1; m |= m >>> 2; m |= m >>> 4; m |= m >>> 8; m |= m >>> 16;
      m |= (m & 1) << 1;
      if (m > mask) mask = m;
    }
  }
  return mask;
}

/** One port as the datapath sees it being added: name, OpenFlow number, datapath port name. */
export interface DpAdd {
  name: string;
  ofport: number;
  /** datapath port name (dpifPortName), null for a patch port */
  dpif: string | null;
}

/**
 * The order in which ovs-vswitchd adds the ports of 'cfg' and the bridge's
 * own port 'bridge' (LOCAL) to the datapath when the bridge is created in
 * one transaction: groups in order, one per hash bucket and pass (ports
 * with an ofport_request first, then LOCAL). OVS's order inside a group
 * depends on random UUIDs; the ports keep their file order here.
 */
export function odpAddOrder(cfg: BridgeConfig, bridge = 'br0'): DpAdd[][] {
  if (cfg.ports.some((p) => p.name === bridge)) {
    const p = cfg.ports.find((x) => x.name === bridge)!;
    throw new PortsFileError('PORTS_DUPLICATE', p.line, 'name', p.name, `port ${p.name} has the bridge's name`);
  }
  const mask = hmapMask(cfg.ports.length + 1);
  const groups: DpAdd[][] = [];
  for (let b = 0; b <= mask; b++) {
    const g = cfg.ports.filter((p) => (ovsHashString(p.name) & mask) === b)
      .map((p) => ({ name: p.name, ofport: p.ofport, dpif: dpifPortName(p) }));
    if (g.length) groups.push(g);
  }
  groups.push([{ name: bridge, ofport: OFPP_LOCAL, dpif: bridge }]);
  return groups;
}

const ODPP_NONE = 0xffffffff;
const LONG_MAX = (1n << 63n) - 1n;

/**
 * The dummy datapath's `choose_port()` for a port named 'name', given the
 * numbers already 'used'.
 */
export function chooseOdpPort(name: string, used: ReadonlySet<number>): number {
  const m = /[0-9]+/.exec(name);
  if (m) {
    const start = name.startsWith('br') ? 100n : 0n;
    let v = BigInt(m[0]);
    if (v > LONG_MAX) v = LONG_MAX; // strtol saturates
    const n = Number(BigInt.asUintN(32, BigInt.asIntN(64, start + v)));
    if (n > 0 && n !== ODPP_NONE && !used.has(n)) return n;
  }
  for (let n = 1; n <= 0xffff; n++) if (!used.has(n)) return n;
  return ODPP_NONE;
}

/**
 * Assign datapath numbers to 'adds' in order, as the datapath does: each
 * new datapath port name gets chooseOdpPort(); a tunnel port whose shared
 * datapath port exists reuses it; patch ports get none. Returns ofport →
 * datapath port.
 */
export function assignOdpPorts(adds: readonly DpAdd[]): Map<number, number> {
  const used = new Set<number>([0]); // port 0 is the datapath's own (ovs-dummy)
  const byDpif = new Map<string, number>();
  const out = new Map<number, number>();
  for (const a of adds) {
    if (a.dpif === null) continue;
    let n = byDpif.get(a.dpif);
    if (n === undefined) {
      n = chooseOdpPort(a.dpif, used);
      used.add(n);
      byDpif.set(a.dpif, n);
    }
    out.set(a.ofport, n);
  }
  return out;
}

/**
 * OpenFlow port → datapath port number for the ports of 'cfg' on bridge
 * 'bridge' (LOCAL is 65534), as OVS's dummy datapath assigns them when the
 * bridge and its ports are created together. Patch ports are absent. Where
 * OVS's own order is random (see the header) the file order decides.
 */
export function odpPortNumbers(cfg: BridgeConfig, bridge = 'br0'): Map<number, number> {
  return assignOdpPorts(odpAddOrder(cfg, bridge).flat());
}

function* permutations<T>(xs: readonly T[]): Generator<T[]> {
  if (xs.length <= 1) { yield [...xs]; return; }
  for (let i = 0; i < xs.length; i++) {
    const rest = [...xs.slice(0, i), ...xs.slice(i + 1)];
    for (const p of permutations(rest)) yield [xs[i]!, ...p];
  }
}

/**
 * Every numbering OVS may produce for 'cfg' (one per distinct result over
 * all orders inside the hash buckets), the file-order one first; null when
 * there are more than 'maxOrders' orders to try. A single entry means OVS's
 * numbering of this file is deterministic.
 */
export function possibleOdpPortNumbers(cfg: BridgeConfig, bridge = 'br0', maxOrders = 40320): Map<number, number>[] | null {
  const groups = odpAddOrder(cfg, bridge);
  let orders = 1;
  for (const g of groups) for (let k = 2; k <= g.length; k++) orders *= k;
  if (orders > maxOrders) return null;
  const seen = new Map<string, Map<number, number>>();
  const walk = (gi: number, prefix: DpAdd[]): void => {
    if (gi === groups.length) {
      const m = assignOdpPorts(prefix);
      const key = [...m].sort((a, b) => a[0] - b[0]).map(([o, d]) => `${o}:${d}`).join(',');
      if (!seen.has(key)) seen.set(key, m);
      return;
    }
    for (const p of permutations(groups[gi]!)) walk(gi + 1, [...prefix, ...p]);
  };
  walk(0, []);
  return [...seen.values()];
}
