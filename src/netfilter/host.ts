/**
 * The host file of `sdnemu iptables-trace` and the packet lines it runs
 * (netfilter layer, slow path).
 *
 * What: `parseHost(yamlText)` reads the node the rules run on — its
 * interfaces (addresses, primary first), routes, and the sysctls that change
 * netfilter's outcome — into a `HostConfig`:
 * ```yaml
 * interfaces:
 *   - { name: eth-ext, mac: 02:00:00:00:00:01, addresses: [192.168.50.1/24] }
 *   - { name: eth-pod, addresses: [10.244.1.1/24] }
 * routes:
 *   - { dst: default, via: 192.168.50.254, dev: eth-ext }
 *   - { dst: 10.244.2.0/24, via: 192.168.50.12, dev: eth-ext, src: 192.168.50.1 }
 * sysctls:
 *   net.ipv4.ip_forward: 1
 *   net.ipv4.conf.all.route_localnet: 0
 *   net.netfilter.nf_conntrack_tcp_loose: 1
 *   net.ipv4.vs.conntrack: 1        # IPVS-forwarded packets stay tracked (kube-proxy sets it)
 * ```
 * `parsePacketSpec('tcp 10.0.0.1:1234 > 10.96.0.10:80 in eth0 flags S')`
 * reads one `--packet` (`out` instead of `in IFACE`: the host sends it; a
 * source 0.0.0.0 lets the route choose it, as an unbound socket). Both throw `InputError` naming the field
 * (`interfaces[1].addresses[0]`) or the token.
 * Neighbours: stack.ts takes the HostConfig; cli/iptables-trace.ts.
 */
import { parse as parseYaml } from 'yaml';
import { InputError } from '../errors.js';
import { parseIpv4 } from '../wire/bytes.js';
import type { HostConfig, HostIface } from './stack.js';

function cidr(s: unknown, path: string): { addr: number; prefixLen: number } {
  if (typeof s !== 'string') throw new InputError('HOST_BAD_VALUE', path, `expected 'a.b.c.d/len', got ${JSON.stringify(s)}`);
  const [a, l] = s.split('/');
  const addr = parseIpv4(a ?? '');
  const len = l === undefined ? 32 : Number(l);
  if (addr === null || !Number.isInteger(len) || len < 0 || len > 32) throw new InputError('HOST_BAD_VALUE', path, `'${s}' is not an IPv4 address with a prefix length`);
  return { addr, prefixLen: len };
}
function ip(s: unknown, path: string): number {
  const a = typeof s === 'string' ? parseIpv4(s) : null;
  if (a === null) throw new InputError('HOST_BAD_VALUE', path, `'${String(s)}' is not an IPv4 address`);
  return a;
}

/** The sysctls a host file may set (0 or 1 each). */
const SYSCTLS = ['net.ipv4.ip_forward', 'net.ipv4.conf.all.route_localnet', 'net.netfilter.nf_conntrack_tcp_loose', 'net.ipv4.vs.conntrack',
  'net.netfilter.nf_conntrack_tcp_be_liberal', 'net.netfilter.nf_conntrack_tcp_ignore_invalid_rst'];

/** The node of a host file ('text', YAML). */
export function parseHost(text: string): HostConfig {
  let doc: unknown;
  try { doc = parseYaml(text, { logLevel: 'error' }); } catch (e) { throw new InputError('HOST_BAD_YAML', '', (e as Error).message); }
  if (doc === null || typeof doc !== 'object') throw new InputError('HOST_BAD_YAML', '', 'a host file is a mapping with interfaces, routes and sysctls');
  const d = doc as Record<string, unknown>;
  for (const k of Object.keys(d)) if (!['interfaces', 'routes', 'sysctls'].includes(k)) throw new InputError('HOST_UNKNOWN_KEY', k, 'unknown key (interfaces, routes, sysctls)');
  const ifs = d['interfaces'] ?? [];
  if (!Array.isArray(ifs)) throw new InputError('HOST_BAD_VALUE', 'interfaces', 'expected a list');
  const ifaces: HostIface[] = ifs.map((x: unknown, i: number) => {
    const p = `interfaces[${i}]`;
    if (x === null || typeof x !== 'object') throw new InputError('HOST_BAD_VALUE', p, 'expected a mapping');
    const o = x as Record<string, unknown>;
    if (typeof o['name'] !== 'string' || o['name'] === '') throw new InputError('HOST_BAD_VALUE', `${p}.name`, 'an interface needs a name');
    const addrs = o['addresses'] ?? [];
    if (!Array.isArray(addrs)) throw new InputError('HOST_BAD_VALUE', `${p}.addresses`, 'expected a list');
    const mac = o['mac'] ?? `02:00:00:00:00:${(i + 1).toString(16).padStart(2, '0')}`;
    if (typeof mac !== 'string' || !/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(mac)) throw new InputError('HOST_BAD_VALUE', `${p}.mac`, `'${String(mac)}' is not a MAC address`);
    return { name: o['name'], mac, addrs: addrs.map((a: unknown, j: number) => cidr(a, `${p}.addresses[${j}]`)) };
  });
  const names = new Set(ifaces.map((i) => i.name));
  const rts = d['routes'] ?? [];
  if (!Array.isArray(rts)) throw new InputError('HOST_BAD_VALUE', 'routes', 'expected a list');
  const routes = rts.map((x: unknown, i: number) => {
    const p = `routes[${i}]`;
    const o = (x ?? {}) as Record<string, unknown>;
    const dst = o['dst'] === 'default' ? { addr: 0, prefixLen: 0 } : cidr(o['dst'], `${p}.dst`);
    if (typeof o['dev'] !== 'string' || !names.has(o['dev'])) throw new InputError('HOST_BAD_VALUE', `${p}.dev`, `'${String(o['dev'])}' is not one of the interfaces`);
    return { net: dst.addr, prefixLen: dst.prefixLen, dev: o['dev'], via: o['via'] === undefined ? null : ip(o['via'], `${p}.via`),
      src: o['src'] === undefined ? null : ip(o['src'], `${p}.src`) };
  });
  const sc = (d['sysctls'] ?? {}) as Record<string, unknown>;
  const flag = (k: string, def: boolean): boolean => {
    const v = sc[k];
    if (v === undefined) return def;
    if (v !== 0 && v !== 1) throw new InputError('HOST_BAD_VALUE', `sysctls.${k}`, 'expected 0 or 1');
    return v === 1;
  };
  for (const k of Object.keys(sc)) {
    if (!SYSCTLS.includes(k)) throw new InputError('HOST_UNKNOWN_KEY', `sysctls.${k}`, `sdnemu models ${SYSCTLS.join(', ')}`);
  }
  // unset sysctls keep a fresh network namespace's defaults: ip_forward 0, route_localnet 0, tcp_loose 1, the others 0
  return {
    ifaces, routes, ipForward: flag('net.ipv4.ip_forward', false), routeLocalnet: flag('net.ipv4.conf.all.route_localnet', false),
    tcpLoose: flag('net.netfilter.nf_conntrack_tcp_loose', true), vsConntrack: flag('net.ipv4.vs.conntrack', false),
    tcpBeLiberal: flag('net.netfilter.nf_conntrack_tcp_be_liberal', false), tcpIgnoreInvalidRst: flag('net.netfilter.nf_conntrack_tcp_ignore_invalid_rst', false),
  };
}

export interface PacketSpec {
  proto: 'tcp' | 'udp' | 'icmp';
  src: number; sport: number; dst: number; dport: number;
  /** the interface it arrives on; '' for a packet the host sends ('out') */
  in: string;
  /** a packet the host itself sends */
  local: boolean;
  /** TCP flags letters (S, A, F, R, P), default S; seq/ack */
  flags: string; seq: number; ack: number;
  /** ICMP type (default 8, echo request) */
  icmpType: number;
}

/** `PROTO SRC[:PORT] > DST[:PORT] (in IFACE | out [IFACE]) [flags F] [seq N] [ack N] [type N]`. */
export function parsePacketSpec(text: string): PacketSpec {
  const t = text.trim().split(/\s+/);
  const fail = (tok: string, why: string): never => { throw new InputError('CLI_BAD_PACKET', '--packet', `'${text}': ${why} at '${tok}'`); };
  const proto = t[0];
  if (proto !== 'tcp' && proto !== 'udp' && proto !== 'icmp') fail(t[0] ?? '', 'expected tcp, udp or icmp');
  const ep = (s: string | undefined): [number, number] => {
    if (s === undefined) return fail('', 'missing address');
    const [a, p] = s.split(':');
    const addr = parseIpv4(a ?? '');
    if (addr === null) fail(s, 'not an IPv4 address');
    const port = p === undefined ? 0 : Number(p);
    if (!Number.isInteger(port) || port < 0 || port > 65535 || (proto !== 'icmp' && p === undefined)) fail(s, 'needs a port 0..65535');
    return [addr!, port];
  };
  const [src, sport] = ep(t[1]);
  if (t[2] !== '>') fail(t[2] ?? '', "expected '>'");
  const [dst, dport] = ep(t[3]);
  const spec: PacketSpec = { proto: proto as PacketSpec['proto'], src, sport, dst, dport, in: '', local: false, flags: 'S', seq: 1000, ack: 0, icmpType: 8 };
  const OPTIONS = new Set(['in', 'out', 'flags', 'seq', 'ack', 'type']);
  let i = 4;
  while (i < t.length) {
    const k = t[i]!;
    // `out` alone (or `out IFACE`, the interface the route will choose anyway): sent by the host
    if (k === 'out') {
      spec.local = true;
      i += i + 1 < t.length && !OPTIONS.has(t[i + 1]!) ? 2 : 1;
      continue;
    }
    const v = t[i + 1];
    if (v === undefined) fail(k, 'missing value');
    if (k === 'in') spec.in = v!;
    else if (k === 'flags' && /^[SAFRPU]+$/.test(v!)) spec.flags = v!;
    else if ((k === 'seq' || k === 'ack' || k === 'type') && /^\d+$/.test(v!)) {
      if (k === 'type') spec.icmpType = Number(v); else spec[k] = Number(v);
    } else fail(k, 'unknown option (in, out, flags, seq, ack, type)');
    i += 2;
  }
  if (spec.in === '' && !spec.local) fail(text, "needs 'in IFACE', or 'out' for a packet the host sends");
  return spec;
}
