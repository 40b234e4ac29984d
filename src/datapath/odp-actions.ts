/**
 * Datapath actions compiled from their OVS text (datapath layer, slow path
 * at install, read on the fast path) — the part of lib/odp-util.c that
 * parses `actions:` of `ovs-dpctl add-flow`.
 *
 * What: `compileActions(list)` turns the datapath actions translation
 * printed (xlate's `odpActions`, e.g. `set(ipv4(dst=10.0.0.9,ttl=63))`,
 * `push_vlan(vid=10,pcp=0)`, `ct(commit,zone=5,nat(src=1.1.1.1))`,
 * `recirc(0x1)`, `tnl_push(tnl_port(4789),header(...),out_port(100))`,
 * `tnl_pop(4789)`, `3`) into `DpAction`s that execute.ts runs on bytes.
 * Why from the text: the text is what `ofproto/trace` and `dpctl/dump-flows`
 * print, so what the datapath executes is by construction what the user
 * reads; there is no second, structured translation that could disagree.
 * Invariants: one class for every action (monomorphic on the fast path);
 * numbers only in `v`/`m` (a set's values and masks: a zero mask word means
 * "leave this field"); `hdr` holds a tunnel's prebuilt outer header bytes.
 * Errors: `OdpParseError` names the action and the character offset.
 * `compileActions` packs a flow's list into a `DpProgram` (below), the form
 * the datapath keeps per megaflow and runs.
 * Neighbours: ofproto/odp.ts and xlate.ts print these actions; execute.ts
 * runs them; datapath.ts compiles them once per megaflow.
 */
import { SdnemuError } from '../errors.js';
import { parseIpv4, parseIpv6, parseMac, setBe16, setBe32 } from '../wire/bytes.js';
import type { CtExecSpec, NatRange } from '../conntrack/conntrack.js';

export const A_OUTPUT = 1, A_SET_ETH = 2, A_SET_IPV4 = 3, A_SET_IPV6 = 4, A_SET_L4 = 5, A_SET_ICMP = 6, A_SET_ARP = 7,
  A_PUSH_VLAN = 8, A_POP_VLAN = 9, A_CT = 10, A_CT_CLEAR = 11, A_RECIRC = 12, A_HASH = 13, A_USERSPACE = 14,
  A_TNL_PUSH = 15, A_TNL_POP = 16, A_CLONE = 17, A_SET_TUNNEL = 18;

/** Tunnel header types as `tnl_push(header(type=N))` prints them (OVS_VPORT_TYPE_*). */
export const TNL_TYPE_GRE = 3, TNL_TYPE_VXLAN = 4, TNL_TYPE_GENEVE = 5;

export class OdpParseError extends SdnemuError {
  readonly action: string;
  readonly offset: number;
  constructor(message: string, action: string, offset: number) {
    super('ODP_BAD_ACTION', `${message} (at offset ${offset} of "${action}")`);
    this.name = 'OdpParseError';
    this.action = action;
    this.offset = offset;
  }
  override location(): Record<string, string | number> {
    return { action: this.action, offset: this.offset };
  }
}

/** One datapath action. Field meanings by op are listed at each parser below. */
export class DpAction {
  op: number;
  /** output / tnl_pop / tnl_push: datapath port; recirc: id; set L4: IP protocol; userspace: controller reason */
  port = 0;
  /** set values (see each op); push_vlan: [tpid, tci] */
  readonly v = new Uint32Array(11);
  /** set masks, same indices as v */
  readonly m = new Uint32Array(11);
  /** tnl_push: the outer header (Ethernet … VXLAN/Geneve), UDP source port and checksums filled per packet */
  hdr: Uint8Array | null = null;
  ct: CtExecSpec | null = null;
  /** clone(...): the actions run on a copy */
  sub: DpAction[] | null = null;
  readonly text: string;

  constructor(op: number, text: string) {
    this.op = op;
    this.text = text;
  }
}

/** Split 'text' at top-level commas (outside parentheses). */
export function splitTop(text: string): { part: string; at: number }[] {
  const out: { part: string; at: number }[] = [];
  let depth = 0, start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      out.push({ part: text.slice(start, i), at: start });
      start = i + 1;
    }
  }
  if (start < text.length) out.push({ part: text.slice(start), at: start });
  return out;
}

/** `name(args)` → [name, args]; a bare word → [word, null]. */
function call(text: string): [string, string | null] {
  const i = text.indexOf('(');
  if (i < 0) return [text, null];
  if (!text.endsWith(')')) throw new OdpParseError('unbalanced parentheses', text, text.length);
  return [text.slice(0, i), text.slice(i + 1, -1)];
}

/** `k=v,k=v/m` → map of key → [value, mask|null] text. */
function keyValues(args: string, whole: string): Map<string, [string, string | null]> {
  const m = new Map<string, [string, string | null]>();
  for (const { part, at } of splitTop(args)) {
    const eq = part.indexOf('=');
    if (eq < 0) { m.set(part, ['', null]); continue; }
    const k = part.slice(0, eq), rest = part.slice(eq + 1);
    if (rest.includes('(')) { m.set(k, [rest, null]); continue; }
    const slash = rest.indexOf('/');
    if (k.length === 0) throw new OdpParseError('empty key', whole, at);
    m.set(k, slash < 0 ? [rest, null] : [rest.slice(0, slash), rest.slice(slash + 1)]);
  }
  return m;
}

function num(s: string, whole: string): number {
  const n = /^0x[0-9a-f]+$/i.test(s) ? parseInt(s.slice(2), 16) : /^\d+$/.test(s) ? parseInt(s, 10) : NaN;
  if (!Number.isFinite(n)) throw new OdpParseError(`"${s}" is not a number`, whole, Math.max(0, whole.indexOf(s)));
  return n >>> 0;
}

function ip4(s: string, whole: string): number {
  const v = parseIpv4(s);
  if (v === null) throw new OdpParseError(`"${s}" is not an IPv4 address`, whole, Math.max(0, whole.indexOf(s)));
  return v;
}

/** 48-bit MAC text into v[i] (top 16 bits) and v[i+1] (low 32). */
function mac(s: string, out: Uint32Array, i: number, whole: string): void {
  const b = parseMac(s);
  if (b === null) throw new OdpParseError(`"${s}" is not a MAC address`, whole, Math.max(0, whole.indexOf(s)));
  out[i] = (b[0]! << 8) | b[1]!;
  out[i + 1] = ((b[2]! << 24) | (b[3]! << 16) | (b[4]! << 8) | b[5]!) >>> 0;
}

function ip6(s: string, out: Uint32Array, i: number, whole: string): void {
  const b = parseIpv6(s);
  if (b === null) throw new OdpParseError(`"${s}" is not an IPv6 address`, whole, Math.max(0, whole.indexOf(s)));
  for (let k = 0; k < 4; k++) out[i + k] = ((b[4 * k]! << 24) | (b[4 * k + 1]! << 16) | (b[4 * k + 2]! << 8) | b[4 * k + 3]!) >>> 0;
}

type Setter = (kv: [string, string | null], a: DpAction, whole: string) => void;

/** A field of a set(): parse value and mask (full when absent) into v/m at 'i'. */
function scalar(i: number, full: number, parse: (s: string, w: string) => number = num): Setter {
  return ([v, m], a, whole) => {
    a.v[i] = parse(v, whole) & full;
    a.m[i] = m === null ? full : parse(m, whole) & full;
  };
}
function macField(i: number): Setter {
  return ([v, m], a, whole) => {
    mac(v, a.v, i, whole);
    if (m === null) { a.m[i] = 0xffff; a.m[i + 1] = 0xffffffff; } else mac(m, a.m, i, whole);
  };
}
function ip6Field(i: number): Setter {
  return ([v, m], a, whole) => {
    ip6(v, a.v, i, whole);
    if (m === null) a.m.fill(0xffffffff, i, i + 4); else ip6(m, a.m, i, whole);
  };
}

/**
 * The set() headers: op and, per key, where its value goes.
 *  eth:  v0-1 src, v2-3 dst
 *  ipv4: v0 src, v1 dst, v2 tos (whole DS byte), v3 ttl
 *  ipv6: v0-3 src, v4-7 dst, v8 label, v9 tclass, v10 hlimit
 *  tcp/udp/sctp: v0 src, v1 dst (port = IP protocol)
 *  icmp: v0 type, v1 code
 *  arp:  v0 sip, v1 tip, v2 op, v3-4 sha, v5-6 tha
 */
const SET_HEADERS: Record<string, { op: number; proto?: number; keys: Record<string, Setter> }> = {
  eth: { op: A_SET_ETH, keys: { src: macField(0), dst: macField(2) } },
  ipv4: { op: A_SET_IPV4, keys: { src: scalar(0, 0xffffffff, ip4), dst: scalar(1, 0xffffffff, ip4), tos: scalar(2, 0xff), ttl: scalar(3, 0xff) } },
  ipv6: { op: A_SET_IPV6, keys: { src: ip6Field(0), dst: ip6Field(4), label: scalar(8, 0xfffff), tclass: scalar(9, 0xff), hlimit: scalar(10, 0xff) } },
  tcp: { op: A_SET_L4, proto: 6, keys: { src: scalar(0, 0xffff), dst: scalar(1, 0xffff) } },
  udp: { op: A_SET_L4, proto: 17, keys: { src: scalar(0, 0xffff), dst: scalar(1, 0xffff) } },
  sctp: { op: A_SET_L4, proto: 132, keys: { src: scalar(0, 0xffff), dst: scalar(1, 0xffff) } },
  icmp: { op: A_SET_ICMP, keys: { type: scalar(0, 0xff), code: scalar(1, 0xff) } },
  arp: { op: A_SET_ARP, keys: { sip: scalar(0, 0xffffffff, ip4), tip: scalar(1, 0xffffffff, ip4), op: scalar(2, 0xffff), sha: macField(3), tha: macField(5) } },
};

/**
 * `set(tunnel(tun_id=..,src=..,dst=..,tos=..,ttl=..,tp_dst=..,flags(df|csum|key)))`:
 * the egress tunnel metadata a kernel vport encapsulates with. v = [tun_id
 * high, tun_id low, src, dst, tos, ttl, tp_dst, flags (FLOW_TNL_F_*)].
 */
function parseSetTunnel(inner: string, whole: string): DpAction {
  const a = new DpAction(A_SET_TUNNEL, whole);
  for (const { part } of splitTop(inner)) {
    const [name, args] = call(part);
    if (name === 'flags') {
      for (const f of (args ?? '').split('|')) {
        const bit = f === 'oam' ? 1 : f === 'df' ? 2 : f === 'csum' ? 4 : f === 'key' ? 8 : f === '' ? 0 : -1;
        if (bit < 0) throw new OdpParseError(`unknown tunnel flag "${f}"`, whole, Math.max(0, whole.indexOf(f)));
        a.v[7] = a.v[7]! | bit;
      }
      continue;
    }
    const eq = part.indexOf('=');
    const k = part.slice(0, eq), val = part.slice(eq + 1);
    switch (k) {
      case 'tun_id': {
        if (!/^0x[0-9a-f]{1,16}$/i.test(val)) throw new OdpParseError(`"${val}" is not a tunnel id`, whole, whole.indexOf(val));
        const id = BigInt(val);
        a.v[0] = Number(id >> 32n); a.v[1] = Number(id & 0xffffffffn);
        break;
      }
      case 'src': a.v[2] = ip4(val, whole); break;
      case 'dst': a.v[3] = ip4(val, whole); break;
      case 'tos': a.v[4] = num(val, whole) & 0xff; break;
      case 'ttl': a.v[5] = num(val, whole) & 0xff; break;
      case 'tp_dst': a.v[6] = num(val, whole) & 0xffff; break;
      default: throw new OdpParseError(`unsupported tunnel field ${k}`, whole, Math.max(0, whole.indexOf(part)));
    }
  }
  return a;
}

function parseSet(args: string, whole: string): DpAction {
  const [hdr, inner] = call(args);
  if (hdr === 'tunnel' && inner !== null) return parseSetTunnel(inner, whole);
  const def = SET_HEADERS[hdr];
  if (def === undefined || inner === null) throw new OdpParseError(`unsupported set(${hdr})`, whole, 4);
  const a = new DpAction(def.op, whole);
  a.port = def.proto ?? 0;
  for (const [k, kv] of keyValues(inner, whole)) {
    const f = def.keys[k];
    if (f === undefined) throw new OdpParseError(`unknown field ${hdr}.${k}`, whole, Math.max(0, whole.indexOf(k)));
    f(kv, a, whole);
  }
  return a;
}

/** `nat(src=A[-B][:P[-Q]][,random|hash|persistent])` or bare `nat`. */
function parseNat(text: string, whole: string): { range: NatRange | null } {
  const [, args] = call(text);
  if (args === null || args === '') return { range: null };
  const parts = splitTop(args);
  const first = parts[0]!.part;
  const eq = first.indexOf('=');
  const kind = (eq < 0 ? first : first.slice(0, eq));
  if (kind !== 'src' && kind !== 'dst') throw new OdpParseError(`nat kind "${kind}"`, whole, whole.indexOf(first));
  const range: NatRange = { kind, addrMin: 0, addrMax: 0, portMin: 0, portMax: 0, flags: {} };
  if (eq >= 0) {
    const spec = first.slice(eq + 1);
    const colon = spec.indexOf(':');
    const addrs = colon < 0 ? spec : spec.slice(0, colon);
    const [lo, hi] = addrs.split('-');
    range.addrMin = ip4(lo!, whole);
    range.addrMax = hi === undefined ? range.addrMin : ip4(hi, whole);
    if (colon >= 0) {
      const [plo, phi] = spec.slice(colon + 1).split('-');
      range.portMin = num(plo!, whole);
      range.portMax = phi === undefined ? range.portMin : num(phi, whole);
    }
  }
  for (const { part } of parts.slice(1)) {
    if (part === 'random' || part === 'hash' || part === 'persistent') range.flags![part] = true;
    else throw new OdpParseError(`unknown nat flag "${part}"`, whole, whole.indexOf(part));
  }
  return { range };
}

/** `ct`, `ct(commit,force_commit,zone=N,mark=V/M,label=V/M,helper=X,nat(...))`. */
function parseCt(args: string | null, whole: string): DpAction {
  const a = new DpAction(A_CT, whole);
  const spec: CtExecSpec = { zone: 0, commit: false, force: false, nat: null, mark: null, label: null };
  a.ct = spec;
  if (args === null) return a;
  for (const { part, at } of splitTop(args)) {
    if (part === 'commit') spec.commit = true;
    else if (part === 'force_commit') { spec.commit = true; spec.force = true; }
    else if (part.startsWith('nat')) spec.nat = parseNat(part, whole);
    else {
      const eq = part.indexOf('=');
      const k = eq < 0 ? part : part.slice(0, eq), v = eq < 0 ? '' : part.slice(eq + 1);
      const [val, mask] = v.split('/') as [string, string | undefined];
      if (k === 'zone') spec.zone = num(val, whole) & 0xffff;
      else if (k === 'mark') spec.mark = { value: num(val, whole), mask: mask === undefined ? 0xffffffff : num(mask, whole) };
      else if (k === 'label') {
        const big = (s: string): bigint => { try { return BigInt(s); } catch { throw new OdpParseError(`"${s}" is not a number`, whole, at); } };
        spec.label = { value: big(val), mask: mask === undefined ? (1n << 128n) - 1n : big(mask) };
      } else if (k === 'helper') { /* ALGs (ftp, tftp) are not run: the connection is tracked without one */ }
      else throw new OdpParseError(`unknown ct argument "${k}"`, whole, at);
    }
  }
  return a;
}

/**
 * `tnl_push(tnl_port(P),header(size=N,type=T,eth(dst=..,src=..,dl_type=0x0800),
 * ipv4(src=..,dst=..,proto=17,tos=..,ttl=..,frag=..),udp(src=0,dst=..,csum=..),
 * vxlan(flags=0x8000000,vni=0x..) | geneve(vni=0x..)),out_port(Q))`: the
 * header is prebuilt once; execute.ts fills the lengths, the IPv4 checksum
 * and the UDP source port per packet.
 */
function parseTnlPush(args: string, whole: string): DpAction {
  const a = new DpAction(A_TNL_PUSH, whole);
  let header: string | null = null;
  for (const { part } of splitTop(args)) {
    const [name, inner] = call(part);
    if (name === 'tnl_port') a.port = num(inner ?? '', whole);
    else if (name === 'header') header = inner;
  }
  if (header === null) throw new OdpParseError('tnl_push without header()', whole, 9);
  let type = 0, size = 0;
  const hdr = new Uint8Array(64);
  let o = 0;
  for (const { part } of splitTop(header)) {
    const [name, inner] = call(part);
    if (inner === null) {
      const [k, v] = part.split('=') as [string, string];
      if (k === 'size') size = num(v, whole);
      else if (k === 'type') type = num(v, whole);
      continue;
    }
    const kv = keyValues(inner, whole);
    const get = (k: string): string => {
      const x = kv.get(k);
      if (x === undefined) throw new OdpParseError(`${name}() lacks ${k}`, whole, whole.indexOf(part));
      return x[0];
    };
    if (name === 'eth') {
      const t = new Uint32Array(4);
      mac(get('dst'), t, 0, whole); mac(get('src'), t, 2, whole);
      setBe16(hdr, 0, t[0]!); setBe32(hdr, 2, t[1]!); setBe16(hdr, 6, t[2]!); setBe32(hdr, 8, t[3]!);
      setBe16(hdr, 12, num(get('dl_type'), whole));
      o = 14;
    } else if (name === 'ipv4') {
      hdr[o] = 0x45; hdr[o + 1] = num(get('tos'), whole);
      setBe16(hdr, o + 6, num(get('frag'), whole));
      hdr[o + 8] = num(get('ttl'), whole); hdr[o + 9] = num(get('proto'), whole);
      setBe32(hdr, o + 12, ip4(get('src'), whole)); setBe32(hdr, o + 16, ip4(get('dst'), whole));
      o += 20;
    } else if (name === 'udp') {
      setBe16(hdr, o, num(get('src'), whole)); setBe16(hdr, o + 2, num(get('dst'), whole));
      setBe16(hdr, o + 6, num(get('csum'), whole));
      o += 8;
    } else if (name === 'vxlan') {
      setBe32(hdr, o, num(get('flags'), whole)); setBe32(hdr, o + 4, (num(get('vni'), whole) << 8) >>> 0);
      o += 8;
    } else if (name === 'geneve') {
      // version 0, no options; protocol Transparent Ethernet Bridging
      hdr[o] = 0; hdr[o + 1] = 0; setBe16(hdr, o + 2, 0x6558); setBe32(hdr, o + 4, (num(get('vni'), whole) << 8) >>> 0);
      o += 8;
    } else {
      throw new OdpParseError(`unsupported tunnel header ${name}()`, whole, whole.indexOf(part));
    }
  }
  if (type !== TNL_TYPE_VXLAN && type !== TNL_TYPE_GENEVE) throw new OdpParseError(`unsupported tunnel type ${type}`, whole, whole.indexOf('type='));
  if (o !== size) throw new OdpParseError(`header size ${size} but ${o} bytes described`, whole, whole.indexOf('size='));
  a.hdr = hdr.slice(0, o);
  a.v[0] = type;
  return a;
}

/** Compile one action's text. */
export function compileAction(text: string): DpAction {
  if (/^\d+$/.test(text)) {
    const a = new DpAction(A_OUTPUT, text);
    a.port = parseInt(text, 10);
    return a;
  }
  const [name, args] = call(text);
  switch (name) {
    case 'set': if (args !== null) return parseSet(args, text); break;
    case 'pop_vlan': return new DpAction(A_POP_VLAN, text);
    case 'push_vlan': {
      if (args === null) break;
      const kv = keyValues(args, text);
      const a = new DpAction(A_PUSH_VLAN, text);
      const g = (k: string, d: number): number => { const x = kv.get(k); return x === undefined ? d : num(x[0], text); };
      a.v[0] = g('tpid', 0x8100);
      a.v[1] = ((g('pcp', 0) & 7) << 13) | (g('cfi', 1) ? 0x1000 : 0) | (g('vid', 0) & 0xfff);
      return a;
    }
    case 'ct': return parseCt(args, text);
    case 'ct_clear': return new DpAction(A_CT_CLEAR, text);
    case 'recirc': { if (args === null) break; const a = new DpAction(A_RECIRC, text); a.port = num(args, text); return a; }
    case 'hash': {
      // hash(l4(BASIS)) or hash(sym_l4(BASIS)): v0 = 1 for the symmetric one, port = the basis
      const m = args === null ? null : /^(l4|sym_l4)\((\d+)\)$/.exec(args);
      if (m === null) break;
      const a = new DpAction(A_HASH, text);
      a.v[0] = m[1] === 'sym_l4' ? 1 : 0;
      a.port = Number(m[2]);
      return a;
    }
    case 'userspace': {
      const a = new DpAction(A_USERSPACE, text);
      const m = /reason=(\d+)/.exec(text);
      a.port = m === null ? 0 : parseInt(m[1]!, 10);
      return a;
    }
    case 'tnl_push': if (args !== null) return parseTnlPush(args, text); break;
    case 'tnl_pop': { if (args === null) break; const a = new DpAction(A_TNL_POP, text); a.port = num(args, text); return a; }
    case 'clone': {
      const a = new DpAction(A_CLONE, text);
      a.sub = args === null || args === '' ? [] : splitTop(args).map((p) => compileAction(p.part));
      return a;
    }
  }
  throw new OdpParseError(`unknown datapath action "${name}"`, text, 0);
}

/** Words per action in a DpProgram: op, port, 11 values, 11 masks. */
export const AW = 24;
/** offsets of the values and masks inside an action's words */
export const AV = 2, AM = 13;

/**
 * A flow's actions packed for the fast path: action i is AW words of 'code'
 * from i * AW (op, port, values, masks — the DpAction's numbers), its
 * tunnel header, ct spec or clone body in 'hdrs'/'cts'/'subs' at i. One
 * typed array per flow instead of an array of action objects and their
 * arrays: at 10k cached flows, chasing those pointers cost more than the
 * actions (the "cached path, same 10k flows" case of bench/datapath.bench.ts).
 */
export class DpProgram {
  readonly n: number;
  readonly code: Int32Array;
  readonly hdrs: (Uint8Array | null)[];
  readonly cts: (CtExecSpec | null)[];
  readonly subs: (DpProgram | null)[];

  constructor(actions: DpAction[]) {
    this.n = actions.length;
    this.code = new Int32Array(actions.length * AW);
    this.hdrs = actions.map((a) => a.hdr);
    this.cts = actions.map((a) => a.ct);
    this.subs = actions.map((a) => (a.sub === null ? null : new DpProgram(a.sub)));
    actions.forEach((a, i) => {
      const o = i * AW;
      this.code[o] = a.op;
      this.code[o + 1] = a.port;
      for (let k = 0; k < 11; k++) { this.code[o + AV + k] = a.v[k]! | 0; this.code[o + AM + k] = a.m[k]! | 0; }
    });
  }
}

/** Compile a translation's action list (an empty list or ['drop'] is a drop). */
export function compileActions(list: readonly string[]): DpProgram {
  return new DpProgram(list.filter((t) => t !== 'drop').map(compileAction));
}
