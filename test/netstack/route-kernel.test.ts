/**
 * Kernel differential test of src/netstack/route.ts: the same devices, addresses and `ip route`
 * commands go into a network namespace and into a RoutingTable; then every answer is compared
 * byte for byte — each command's error (or success), `ip [-6] route show` of tables main, local
 * and all, and `ip [-6] route get` for thousands of destinations.
 *
 * Namespace (one per test, deleted in a finally by withNetns): IPv6 enabled with DAD off
 * (`accept_dad=0`, else new addresses stay tentative and are no source) and `addr_gen_mode=1`
 * (no EUI-64 link-local addresses: their MAC-derived values would be unpredictable), `lo` up,
 * then per device dN a veth pair (peer dNp created first, so dNp has ifindex 2+2N and dN 3+2N);
 * dNp is set up before dN, so both get their carrier when dN comes up and the kernel adds
 * `multicast ff00::/8` for dN, then dNp — the model registers them in that order.
 * No normalisation is applied: nothing in these outputs is unpredictable once link-local
 * autoconfiguration is off (MACs are never printed; `uid 0` is this root test's uid).
 * One thing is, and it is kept out instead: random IPv4 destinations exclude 224.0.0.0/4 (but
 * 224.0.0.1). The kernel caches output routes per nexthop and CPU (nhc_pcpu_rth_output), and a
 * multicast destination of a group not joined, routed by a prefix of length >= 4, uses that
 * same cache (__mkroute_output leaves do_cache set); routes with identical attributes share
 * one fib_info and so one cache. So whether `ip route get 225.1.2.3` says `multicast … <mc>`
 * and whether a later unicast destination through an equal nexthop says so too depends on
 * which came first on that CPU (seen: `multicast 192.185.7.48 … cache <mc>` for a unicast
 * address). The model answers as a fresh cache does (checked by replaying in a new
 * namespace); 224.0.0.1 (joined: never cached) and multicast via the default route (prefix < 4:
 * no fib_info, no cache) are safe and stay in the corpus.
 *
 * Batches: valid commands go through `ip -force -batch -` (a kernel refusal prints its message
 * and `Command failed -:N` on stderr and the batch goes on); a parse error makes ip exit, so
 * the bad-input corpus runs one process per line.
 * Requires `ip` and root; with CI=true their absence fails the suite (tools.ts's rule).
 * Corpus per random scenario (seeded): 4 devices with 11 IPv4 and 11 IPv6 addresses (secondary,
 * /31, /32, /127, /128, metric, 127/8 on a non-loopback device, link- and site-local), 320 IPv4
 * and 220 IPv6 commands (add/append/prepend/replace/del; unicast via gateway or dev, onlink,
 * blackhole, unreachable, prohibit, throw, local, broadcast; tables main, local, default, 100;
 * metrics, proto static, src), then 2500 IPv4 and 1200 IPv6 `route get`s.
 * To replay a scenario by hand: ROUTE_KERNEL_DUMP=DIR writes its commands to DIR/seedN.sh.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withNetns, kernelTools, type NetnsSet } from '../oracle/netns.js';
import { describeNeeding } from '../oracle/tools.js';
import { RouteError, RoutingTable, inetPton6, ipv4Text, ipv6Text } from '../../src/netstack/route.js';
import { mulberry32 } from '../../src/rng.js';

const IS_ROOT = process.getuid?.() === 0;

function describeWithIp(name: string, fn: () => void): void {
  describeNeeding([...(kernelTools.ip ? [] : ['ip']), ...(IS_ROOT ? [] : ['root'])], name, fn);
}

/** `ip -n NS ARGS` with 'input' on stdin: stdout, stderr, exit status. */
function ip(ns: string, args: string[], input = ''): { out: string; err: string; status: number } {
  const r = spawnSync('ip', ['-n', ns, ...args], { input, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { out: r.stdout, err: r.stderr, status: r.status ?? -1 };
}

/**
 * Run 'lines' (`route …`) through `ip [-6] -force -batch -`; per line: '' for success or
 * the stderr message, and the concatenated stdout of the successful lines.
 */
function batch(ns: string, lines: string[], family: 4 | 6): { errors: Map<number, string>; out: string } {
  const r = ip(ns, [...(family === 6 ? ['-6'] : []), '-force', '-batch', '-'], lines.join('\n') + '\n');
  const errors = new Map<number, string>();
  let msg: string[] = [];
  for (const l of r.err.split('\n')) {
    const m = /^Command failed -:(\d+)$/.exec(l);
    if (m !== null) { errors.set(Number(m[1]) - 1, msg.join('\n')); msg = []; } else if (l !== '') msg.push(l);
  }
  // a parse error makes ip exit without "Command failed": the lines after it never ran
  if (msg.length > 0) throw new Error(`ip -batch aborted: ${msg.join(' / ')}`);
  return { errors, out: r.out };
}

interface Scenario {
  /** devices dN by number */
  devices: number;
  addrs: { dev: string; cidr: string; metric?: number }[];
  v4: string[];
  v6: string[];
  gets4: string[];
  gets6: string[];
}

/** Build the namespace: sysctls, lo, veth pairs, addresses (in order). */
function setupKernel(set: NetnsSet, ns: string, s: Scenario): Promise<string> {
  return set.exec(ns, ['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=0', 'net.ipv6.conf.default.disable_ipv6=0',
    'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0', 'net.ipv6.conf.default.addr_gen_mode=1']).then(() => {
    const lines = ['link set lo up'];
    for (let i = 0; i < s.devices; i++) lines.push(`link add d${i} type veth peer name d${i}p`, `link set d${i}p up`, `link set d${i} up`);
    for (const a of s.addrs) lines.push(`addr add ${a.cidr} dev ${a.dev}${a.metric !== undefined ? ` metric ${a.metric}` : ''}`);
    return set.ipBatch(ns, lines);
  });
}

/** The same host in the model. */
function setupModel(s: Scenario): RoutingTable {
  const t = new RoutingTable();
  t.addLoopback();
  for (let i = 0; i < s.devices; i++) {
    t.addDevice(`d${i}`, { index: 3 + 2 * i });
    t.addDevice(`d${i}p`, { index: 2 + 2 * i });
  }
  for (const a of s.addrs) t.addConnected(a.dev, a.cidr, a.metric !== undefined ? { metric: a.metric } : {});
  return t;
}

/** The model's answer to `route …` 'line': stdout text, or the RouteError message. */
function model(t: RoutingTable, line: string, family: 4 | 6): { out: string; err: string; token: string } {
  try {
    // v4 lines run without -4 (iproute2's family is then AF_UNSPEC), v6 lines with -6
    return { out: t.ipRoute(line.replace(/^route /, ''), family === 6 ? 6 : 0), err: '', token: '' };
  } catch (e) {
    if (e instanceof RouteError) return { out: '', err: e.message, token: e.token };
    throw e;
  }
}

/** Compare per-line results; returns the first mismatches as readable text ('' when all agree). */
function mismatches(lines: string[], kernel: string[], mine: string[], limit = 12): string {
  const bad: string[] = [];
  for (let i = 0; i < lines.length && bad.length < limit; i++) {
    if (kernel[i] !== mine[i]) bad.push(`#${i} ${lines[i]}\n  kernel: ${JSON.stringify(kernel[i])}\n  model:  ${JSON.stringify(mine[i])}`);
  }
  return bad.join('\n');
}

/** Apply command lines to both; compare each line's error. */
function applyBoth(ns: string, t: RoutingTable, lines: string[], family: 4 | 6): void {
  if (lines.length === 0) return;
  const k = batch(ns, lines, family);
  const kernel = lines.map((_, i) => k.errors.get(i) ?? '');
  const mine = lines.map((l) => model(t, l, family).err);
  expect(mismatches(lines, kernel, mine), `route commands (IPv${family})`).toBe('');
}

/** Compare `ip [-6] route get` of every destination. */
function compareGets(ns: string, t: RoutingTable, dsts: string[], family: 4 | 6): { ok: number; failed: number } {
  const lines = dsts.map((d) => `route get ${d}`);
  const k = batch(ns, lines, family);
  const outLines = k.out.split('\n');
  let pos = 0;
  const per = family === 4 ? 2 : 1;
  const kernel = lines.map((_, i) => {
    const e = k.errors.get(i);
    if (e !== undefined) return e;
    const chunk = outLines.slice(pos, pos + per).join('\n') + '\n';
    pos += per;
    return chunk;
  });
  const mine = lines.map((l) => { const r = model(t, l, family); return r.err !== '' ? r.err : r.out; });
  expect(mismatches(lines, kernel, mine), `route get (IPv${family})`).toBe('');
  return { ok: lines.length - k.errors.size, failed: k.errors.size };
}

/**
 * The kernel's ff00::/8 multicast routes, one per device, are listed in the order addrconf added
 * them — when each device came up, which is asynchronous (under load a veth's peer can come up
 * after all the others): that run of lines is compared as a set, the rest byte for byte.
 */
function settleMulticast(text: string): string {
  const lines = text.split('\n');
  const run = (l: string): boolean => l.startsWith('multicast ff00::/8 dev ');
  for (let i = 0; i < lines.length;) {
    if (!run(lines[i]!)) { i++; continue; }
    let j = i;
    while (j < lines.length && run(lines[j]!)) j++;
    lines.splice(i, j - i, ...lines.slice(i, j).sort());
    i = j;
  }
  return lines.join('\n');
}

/** Compare the show commands (byte for byte, but for settleMulticast). */
function compareShows(ns: string, t: RoutingTable, extra4: string[] = [], extra6: string[] = []): void {
  for (const fam of [4, 6] as const) {
    for (const sel of ['', 'table local', 'table all', ...(fam === 4 ? extra4 : extra6)]) {
      const args = [...(fam === 6 ? ['-6'] : []), 'route', 'show', ...sel.split(' ').filter((x) => x !== '')];
      const k = ip(ns, args);
      expect(k.status, `ip ${args.join(' ')}: ${k.err}`).toBe(0);
      expect(settleMulticast(t.ipRoute(['show', ...sel.split(' ').filter((x) => x !== '')], fam === 6 ? 6 : 0)), `ip ${args.join(' ')}`).toBe(settleMulticast(k.out));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Random scenarios

const V4_ADDRS: Scenario['addrs'] = [
  { dev: 'd0', cidr: '10.0.0.1/24' }, { dev: 'd0', cidr: '10.0.0.7/24' }, { dev: 'd0', cidr: '10.0.0.9/16' },
  { dev: 'd1', cidr: '192.168.1.5/24' }, { dev: 'd1', cidr: '172.16.0.1/12' },
  { dev: 'd2', cidr: '10.200.0.1/30' }, { dev: 'd2', cidr: '10.201.0.1/31' }, { dev: 'd2', cidr: '10.202.0.1/32' },
  { dev: 'd3', cidr: '100.64.0.1/10', metric: 50 }, { dev: 'd3', cidr: '127.5.0.1/16' }, { dev: 'd3', cidr: '192.168.1.6/24' },
];
const V6_ADDRS: Scenario['addrs'] = [
  { dev: 'd0', cidr: '2001:db8::1/64' }, { dev: 'd0', cidr: '2001:db8::7/64' }, { dev: 'd0', cidr: 'fd00::1/48' }, { dev: 'd0', cidr: 'fe80::1/64' },
  { dev: 'd1', cidr: '2001:db8:1::5/64' }, { dev: 'd1', cidr: 'fe80::2/64' },
  { dev: 'd2', cidr: '2001:db8:2::1/128' }, { dev: 'd2', cidr: '2001:db8:3::1/127' }, { dev: 'd2', cidr: '2002:c000:201::1/48' },
  { dev: 'd3', cidr: '2001:db8:4::1/64', metric: 50 }, { dev: 'd3', cidr: 'fec0::1/64' },
];
/** Gateways: mostly on-link hosts of the connected subnets, some local, some unreachable. */
const GW4 = ['10.0.0.2', '10.0.0.3', '10.0.0.200', '10.0.5.5', '192.168.1.1', '192.168.1.77', '172.16.9.9', '172.31.0.1', '10.200.0.2',
  '10.201.0.0', '100.64.3.3', '100.100.0.1', '10.0.0.1', '192.168.1.6', '10.99.0.1', '8.8.8.8', '127.5.0.9'];
const GW6 = ['2001:db8::2', '2001:db8::3', '2001:db8::ff', '2001:db8:1::1', '2001:db8:1::9', '2001:db8:3::', '2001:db8:4::2',
  'fd00::2', 'fd00:0:0:7::1', '2002:c000:201::9', 'fec0::5', '2001:db8::1', '2001:db8:99::1'];
const LOCAL4 = ['10.0.0.1', '10.0.0.7', '10.0.0.9', '192.168.1.5', '172.16.0.1', '10.200.0.1', '100.64.0.1', '192.168.1.6'];
const LOCAL6 = ['2001:db8::1', '2001:db8::7', 'fd00::1', '2001:db8:1::5', '2001:db8:2::1', '2001:db8:4::1', 'fec0::1'];

function pick<T>(r: () => number, a: readonly T[]): T {
  return a[r() % a.length]!;
}
/** A weighted choice: 'w' lists [weight, value]. */
function weighted<T>(r: () => number, w: readonly [number, T][]): T {
  const total = w.reduce((s, x) => s + x[0], 0);
  let x = r() % total;
  for (const [n, v] of w) { if (x < n) return v; x -= n; }
  return w[w.length - 1]![1];
}

/** A random IPv4 prefix of length 'len' near the host's subnets (so routes overlap them and each other). */
function prefix4(r: () => number, len: number): number {
  const base = weighted(r, [[10, 0x0a000000], [3, 0xc0a80000], [2, 0xac100000], [2, 0x64400000], [1, 0x7f000000], [3, r()]]);
  const spread = weighted(r, [[4, 0x0000ffff], [3, 0x00ffffff], [1, 0xffffffff]]);
  const a = ((base & ~spread) | (r() & spread)) >>> 0;
  return len === 0 ? 0 : (a & ((-1 << (32 - len)) >>> 0)) >>> 0;
}

function prefix6(r: () => number, len: number): number[] {
  const base = weighted(r, [[10, [0x20010db8, 0, 0, 0]], [2, [0xfd000000, 0, 0, 0]], [1, [0x2002c000, 0x02010000, 0, 0]], [2, [0x3fff0000 | (r() & 0xffff), 0, 0, 0]], [1, [0xfe800000, 0, 0, 0]]]);
  const w = [base[0]!, base[1]!, base[2]!, base[3]!];
  // randomise the bits below 32 (keeping 2001:db8 etc.) but mostly a few low nibbles, for overlap
  w[1] = weighted(r, [[5, r() & 0x000f0000], [2, r() & 0xffff0000], [1, r()]]) >>> 0;
  if (base[0] === 0x2002c000) w[1] = (0x02010000 | (r() & 0xf)) >>> 0;
  w[2] = weighted(r, [[6, 0], [2, r() & 0xf], [1, r()]]) >>> 0;
  w[3] = weighted(r, [[4, r() & 0xff], [1, r()]]) >>> 0;
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(32, len - 32 * i));
    w[i] = bits === 0 ? 0 : (w[i]! & ((-1 << (32 - bits)) >>> 0)) >>> 0;
  }
  return w;
}

const TYPES = ['blackhole', 'unreachable', 'prohibit', 'throw', 'local', 'broadcast'];

function v4Line(r: () => number, earlier: string[]): string {
  const verb = weighted(r, [[80, 'add'], [6, 'append'], [4, 'prepend'], [6, 'replace'], [4, 'del']]);
  const adds = earlier.filter((l) => !l.startsWith('route del '));
  if (verb === 'del' && adds.length > 0) {
    // delete something added before: the same words, only its destination, or that and a metric
    const parts = pick(r, adds).replace(/^route (add|append|prepend|replace) /, '').split(' ');
    const head = parts.slice(0, TYPES.includes(parts[0]!) ? 2 : 1);
    const drop = r() % 3;
    const sel = drop === 0 ? parts : drop === 1 ? head : [...head, 'metric', '5'];
    return `route del ${sel.join(' ')}`;
  }
  const len = weighted(r, [[2, 0], [4, 8], [3, 12], [14, 16], [4, 20], [4, 22], [16, 24], [3, 26], [3, 28], [3, 30], [8, 32]]);
  const dst = prefix4(r, len);
  const dstText = len === 0 ? 'default' : len === 32 && r() % 2 === 0 ? ipv4Text(dst) : `${ipv4Text(dst)}/${len}`;
  const kind = weighted(r, [[44, 'gw'], [14, 'dev'], [7, 'blackhole'], [7, 'unreachable'], [5, 'prohibit'], [5, 'throw'], [4, 'local'], [2, 'broadcast'],
    [4, 'localtable'], [3, 'default-table'], [3, 'table100'], [2, 'onlink']]);
  const opts: string[] = [];
  const dev = `d${r() % 4}`;
  let head = dstText;
  switch (kind) {
    case 'gw': opts.push('via', pick(r, GW4)); if (r() % 8 === 0) opts.push('dev', dev); break;
    case 'dev': opts.push('dev', dev); if (r() % 10 === 0) opts.push('scope', 'global'); break;
    case 'blackhole': case 'unreachable': case 'prohibit': case 'throw': head = `${kind} ${dstText}`; break;
    case 'local': head = `local ${dstText}`; opts.push('dev', dev); break;
    case 'broadcast': head = `broadcast ${ipv4Text(dst)}`; opts.push('dev', dev); break;
    case 'localtable': if (r() % 2 === 0) head = `throw ${dstText}`; else opts.push('via', pick(r, GW4)); opts.push('table', 'local'); break;
    case 'default-table': opts.push('via', pick(r, GW4), 'table', 'default'); break;
    case 'table100': opts.push('via', pick(r, GW4), 'table', '100'); break;
    case 'onlink': opts.push('via', pick(r, GW4), 'dev', dev, 'onlink'); break;
  }
  const metric = weighted(r, [[10, -1], [2, 0], [2, 5], [2, 10], [1, 100], [1, 1024]]);
  if (metric >= 0) opts.push('metric', String(metric));
  if (r() % 7 === 0) opts.push('proto', 'static');
  if (r() % 10 === 0 && kind !== 'blackhole') opts.push('src', pick(r, [...LOCAL4, '10.0.0.99']));
  return `route ${verb} ${head} ${opts.join(' ')}`.trim();
}

function v6Line(r: () => number, earlier: string[]): string {
  const verb = weighted(r, [[86, 'add'], [9, 'replace'], [5, 'del']]);
  const adds = earlier.filter((l) => !l.startsWith('route del '));
  if (verb === 'del' && adds.length > 0) {
    const parts = pick(r, adds).replace(/^route (add|replace) /, '').split(' ');
    const n = TYPES.includes(parts[0]!) ? 2 : 1;
    return `route del ${(r() % 2 === 0 ? parts : parts.slice(0, n)).join(' ')}`;
  }
  const len = weighted(r, [[2, 0], [2, 16], [5, 32], [2, 40], [2, 44], [14, 48], [3, 56], [2, 60], [14, 64], [2, 96], [2, 127], [6, 128]]);
  const dst = prefix6(r, len);
  const dstText = len === 0 ? 'default' : len === 128 && r() % 2 === 0 ? ipv6Text(dst) : `${ipv6Text(dst)}/${len}`;
  const kind = weighted(r, [[48, 'gw'], [16, 'dev'], [6, 'blackhole'], [5, 'unreachable'], [4, 'prohibit'], [4, 'throw'], [3, 'local'], [4, 'localtable'], [3, 'table100'], [4, 'linklocal']]);
  const opts: string[] = [];
  const dev = `d${r() % 4}`;
  let head = dstText;
  switch (kind) {
    case 'gw': opts.push('via', pick(r, GW6)); if (r() % 8 === 0) opts.push('dev', dev); break;
    case 'dev': opts.push('dev', dev); break;
    case 'blackhole': case 'unreachable': case 'prohibit': case 'throw': head = `${kind} ${dstText}`; break;
    case 'local': head = `local ${dstText}`; opts.push('dev', dev); break;
    case 'localtable': if (r() % 2 === 0) head = `throw ${dstText}`; else opts.push('dev', dev); opts.push('table', 'local'); break;
    case 'table100': opts.push('via', pick(r, GW6), 'table', '100'); break;
    case 'linklocal': opts.push('via', `fe80::${(r() % 200 + 1).toString(16)}`, 'dev', dev); break;
  }
  const metric = weighted(r, [[10, -1], [1, 0], [2, 1], [2, 100], [1, 256], [1, 2048]]);
  if (metric >= 0) opts.push('metric', String(metric));
  if (r() % 7 === 0) opts.push('proto', 'static');
  if (r() % 12 === 0 && !['blackhole', 'unreachable', 'prohibit', 'throw'].includes(kind)) opts.push('src', pick(r, [...LOCAL6, '2001:db8::99']));
  return `route ${verb} ${head} ${opts.join(' ')}`.trim();
}

/** Destinations: inside the routes' prefixes, in the connected subnets, random, and the special ones. */
function dests4(r: () => number, n: number, lines: string[]): string[] {
  const prefixes: [number, number][] = [];
  for (const l of lines) {
    const m = /(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?/.exec(l.replace(/ via .*| src .*/, ''));
    if (m !== null) {
      const [a, b, c, d] = m[1]!.split('.').map(Number) as [number, number, number, number];
      prefixes.push([((a << 24) | (b << 16) | (c << 8) | d) >>> 0, m[2] === undefined ? 32 : Number(m[2])]);
    }
  }
  const special = ['0.0.0.0', '255.255.255.255', '224.0.0.1', '127.0.0.1', '127.9.9.9', '127.5.0.1', '127.5.255.255',
    '10.0.0.0', '10.0.0.255', '10.0.255.255', '192.168.1.255', '10.200.0.3', '10.201.0.0', '10.202.0.1', '172.31.255.255', '100.127.255.255',
    ...LOCAL4, ...GW4];
  const out: string[] = [...special];
  while (out.length < n) {
    const kind = r() % 10;
    let a: number;
    if (kind < 7 && prefixes.length > 0) {
      const [p, len] = pick(r, prefixes);
      const host = len === 32 ? 0 : r() & (0xffffffff >>> len);
      a = (p | host) >>> 0;
    } else if (kind < 9) a = prefix4(r, 32);
    else a = r();
    if ((a >>> 28) !== 0xe) out.push(ipv4Text(a)); // see the module comment: multicast is cache-dependent
  }
  return out;
}

function dests6(r: () => number, n: number, lines: string[]): string[] {
  const prefixes: [number[], number][] = [];
  for (const l of lines) {
    const t = l.replace(/ via .*| src .*| dev .*/, '').split(' ').find((x) => x.includes(':'));
    if (t === undefined) continue;
    const [a, len] = t.split('/') as [string, string | undefined];
    const w = inetPton6(a);
    if (w !== null) prefixes.push([w, len === undefined ? 128 : Number(len)]);
  }
  const special = ['::', '::1', 'ff02::1', 'ff0e::1', 'ff05::2', 'fe80::5', 'fe80::1', 'fe80::2', 'fec0::9', '::ffff:10.0.0.1', '2002:c000:201::1',
    '2001:db8:3::', '2001:db8:3::1', '2001:db8:2::1', '2001:10::1', ...LOCAL6, ...GW6];
  const out: string[] = [...special];
  while (out.length < n) {
    const kind = r() % 10;
    if (kind < 7 && prefixes.length > 0) {
      const [p, len] = pick(r, prefixes);
      const w = p.map((x, i) => {
        const bits = Math.max(0, Math.min(32, len - 32 * i));
        const host = bits === 32 ? 0 : (r() & (0xffffffff >>> bits)) >>> 0;
        return (x | host) >>> 0;
      });
      out.push(ipv6Text(w));
    } else out.push(ipv6Text(prefix6(r, 128)));
  }
  return out;
}

function scenario(seed: number, n4: number, n6: number, g4: number, g6: number): Scenario {
  const r = mulberry32(seed);
  const v4: string[] = [], v6: string[] = [];
  for (let i = 0; i < n4; i++) v4.push(v4Line(r, v4));
  for (let i = 0; i < n6; i++) v6.push(v6Line(r, v6));
  return { devices: 4, addrs: [...V4_ADDRS, ...V6_ADDRS], v4, v6, gets4: dests4(r, g4, v4), gets6: dests6(r, g6, v6) };
}

async function runScenario(s: Scenario, name: string): Promise<void> {
  // ROUTE_KERNEL_DUMP=DIR writes the scenario's command lines there, to replay a failure by hand
  const dump = process.env.ROUTE_KERNEL_DUMP;
  if (dump !== undefined && dump !== '') {
    mkdirSync(dump, { recursive: true });
    writeFileSync(join(dump, `${name}.sh`), [
      ...s.addrs.map((a) => `ip addr add ${a.cidr} dev ${a.dev}${a.metric !== undefined ? ` metric ${a.metric}` : ''}`),
      ...s.v4.map((l) => `ip ${l}`), ...s.v6.map((l) => `ip -6 ${l}`),
      ...s.gets4.map((d) => `ip route get ${d}`), ...s.gets6.map((d) => `ip -6 route get ${d}`)].join('\n') + '\n');
  }
  await withNetns(async (set) => {
    const ns = await set.add('rt');
    await setupKernel(set, ns, s);
    const t = setupModel(s);
    compareShows(ns, t);
    applyBoth(ns, t, s.v4, 4);
    applyBoth(ns, t, s.v6, 6);
    compareShows(ns, t, [...(t.fib4.tables.has(253) ? ['table default'] : []), ...(t.fib4.tables.has(100) ? ['table 100'] : [])],
      t.fib6.tables.has(100) ? ['table 100'] : []);
    const a = compareGets(ns, t, s.gets4, 4);
    const b = compareGets(ns, t, s.gets6, 6);
    // the corpus must exercise both answers, not only errors
    expect(a.ok).toBeGreaterThan(s.gets4.length / 3);
    expect(a.failed).toBeGreaterThan(10);
    expect(b.ok).toBeGreaterThan(s.gets6.length / 3);
    expect(b.failed).toBeGreaterThan(10);
  });
}

describeWithIp('route.ts against the kernel FIB (ip route in a namespace)', () => {
  it('random tables (seed 1): command errors, show main/local/all, 2500 v4 and 1200 v6 route gets', async () => {
    await runScenario(scenario(1, 320, 220, 2500, 1200), 'seed1');
  });

  it('random tables (seed 2)', async () => {
    await runScenario(scenario(2, 320, 220, 2500, 1200), 'seed2');
  });

  it('hand-made corners: merged local/main trie, throw, table default, append/prepend/replace/change/del', async () => {
    const s: Scenario = {
      devices: 3,
      addrs: [{ dev: 'd0', cidr: '10.0.0.1/24' }, { dev: 'd1', cidr: '192.168.1.5/24' }, { dev: 'd0', cidr: '10.0.0.7/24' }, { dev: 'd0', cidr: '10.0.0.9/16' },
        { dev: 'd1', cidr: '169.254.1.1/16' }],
      v4: [
        'route add default via 192.168.1.1', 'route add 127.0.0.0/16 via 10.0.0.2', 'route add throw 10.0.0.128/25 table local',
        'route add 10.40.0.0/16 via 10.0.0.2', 'route append 10.40.0.0/16 via 192.168.1.2', 'route prepend 10.40.0.0/16 dev d2',
        'route append blackhole 10.40.0.0/16', 'route add 10.40.0.0/16 via 10.0.0.3 metric 2', 'route del 10.40.0.0/16',
        'route del 10.40.0.0/16 via 192.168.1.2', 'route replace 10.40.0.0/16 via 192.168.1.9', 'route replace 10.40.0.0/16 dev d0 metric 7',
        'route change 10.41.0.0/16 dev d0', 'route add 10.41.0.0/16 dev d2', 'route change 10.41.0.0/16 dev d0', 'route add 10.43.0.0/16 dev d2 scope global',
        'route add 10.44.0.0/16 dev d1 scope link', 'route add 10.45.0.0/16 via 10.5.0.9', 'route add 10.5.0.0/16 dev d0',
        'route add 10.45.0.0/16 via 10.5.0.9', 'route add 10.46.0.0/16 via 10.43.0.9', 'route add 10.47.0.0/16 via 10.0.1.9',
        'route add blackhole 10.70.0.0/16', 'route add 10.71.0.0/16 via 10.0.0.9 table default', 'route add throw 10.72.0.0/16',
        'route add 10.72.0.0/16 via 10.0.0.8 table default', 'route add 1.2.3.4 via 10.0.0.2', 'route add 1.2.3.4 via 192.168.1.3 table local',
        'route add 10.120.0.0/16 dev d0 metric 5', 'route append 10.120.0.0/16 dev d0 metric 5', 'route append 10.120.0.0/16 dev d0 metric 5 proto static',
        'route add local 10.16.0.0/16 dev d0', 'route add 10.17.0.0/16 dev d0 src 10.16.3.3', 'route add 10.18.0.0/16 via 10.0.0.1',
        'route add 10.19.0.0/16 via 10.0.0.2 dev d0 onlink', 'route add 10.19.0.0/16 via 10.0.0.2 dev d0 onlink metric 1',
        'route add broadcast 10.0.0.99 dev d0', 'route del local 10.16.0.0/16 dev d0', 'route add local 10.16.0.0/16 dev d1',
      ],
      v6: [
        'route add default via 2001:db8:1::1', 'route add 2001:db8:5::/48 via 2001:db8::2', 'route add 2001:db8:5::/48 via 2001:db8::3',
        'route add throw 2001:db8:c::/48 table local', 'route add 2001:db8:c::/48 via 2001:db8::2', 'route add 2001:db8:e::/48 via 2001:db8::2 metric 5',
        'route add 2001:db8:e::/48 via 2001:db8:1::2 metric 3', 'route replace 2001:db8:e::/48 via 2001:db8:1::9 metric 3', 'route del 2001:db8:e::/48 metric 5',
        'route add 2001:db8:f::1 via fe80::1 dev d0', 'route add 2001:db8:f::2 via fe80::1', 'route add 2001:db8:20::1/48 dev d0',
        'route add 2001:db8:21::/48 via 2001:db8::1', 'route add 2001:db8:22::/48 via 2001:db8::2 dev d1', 'route add 2001:db8:23::/48 dev d0 src 2001:db8:1::5',
        'route add local 2001:db8:30::/64 dev d1', 'route add unreachable default metric 4000', 'route add blackhole 2001:db8:77::/48 dev d0',
        'route add 2001:db8:31::/48 dev d0 metric 0', 'route add 2001:db8:32::/48 dev d0 table 0',
      ],
      gets4: ['8.8.8.8', '127.0.0.5', '127.1.1.1', '10.0.0.200', '10.0.0.100', '10.40.1.1', '10.41.1.1', '10.43.1.1', '10.44.1.1', '10.45.0.1',
        '10.47.0.1', '10.70.0.1', '10.71.0.1', '10.72.0.1', '1.2.3.4', '10.120.0.1', '10.16.3.3', '10.17.1.1', '10.18.1.1', '10.19.1.1',
        '10.0.0.99', '255.255.255.255', '224.0.0.1', '239.9.9.9', '0.0.0.0', '0.1.2.3', '10.0.255.255', '169.254.9.9'],
      gets6: ['2001:db8:5::1', '2001:db8:c::1', '2001:db8:e::1', '2001:db8:f::1', '2001:db8:20::5', '2001:db8:23::1', '2001:db8:30::1',
        '2001:db8:77::1', '2606:4700::1', '::', 'ff02::1', 'fe80::9'],
    };
    s.addrs.push({ dev: 'd0', cidr: '2001:db8::1/64' }, { dev: 'd1', cidr: '2001:db8:1::5/64' }, { dev: 'd0', cidr: 'fe80::1/64' });
    await withNetns(async (set) => {
      const ns = await set.add('rt');
      await setupKernel(set, ns, s);
      const t = setupModel(s);
      applyBoth(ns, t, s.v4, 4);
      applyBoth(ns, t, s.v6, 6);
      compareShows(ns, t, ['table default']);
      expect(t.ipRoute('show table default')).toContain('10.72.0.0/16 via 10.0.0.8 dev d0');
      compareGets(ns, t, s.gets4, 4);
      compareGets(ns, t, s.gets6, 6);
    });
  });

  it('bad input: the same message as iproute2, naming the token', async () => {
    const bad: [string, 4 | 6][] = [
      ['route add 10.0.0.300/24 dev d0', 4], ['route add 10.20.0.0/33 dev d0', 4], ['route add 10.20.0.1/8 dev d0', 4],
      ['route add 10.20.0.0/16 via 10.0.0.300', 4], ['route add 10.20.0.0/16 via 10.99.0.1', 4], ['route add 10.20.0.0/16 dev eth9', 4],
      ['route add 10.20.0.0/16 dev d0 metric abc', 4], ['route add 10.20.0.0/16 dev d0 metric', 4], ['route add 10.20.0.0/16 dev d0 table foo', 4],
      ['route add 10.20.0.0/16 dev d0 foo', 4], ['route add 10.20.0.0/16 dev d0 src 10.99.9.9', 4], ['route add 10.20.0.0/16 dev d0 src 10.0.0.300', 4],
      ['route add 10.20.0.0/16 dev d0 proto bogus', 4], ['route add 10.20.0.0/16 dev d0 proto 300', 4], ['route add 10.20.0.0/16 dev d0 scope bogus', 4],
      ['route add 10.20.0.0/16 dev d0 scope 256', 4], ['route add bogus 10.20.0.0/16 dev d0', 4], ['route add 10.20.0.0/16', 4],
      ['route add blackhole 10.20.0.0/16 dev d0', 4], ['route add 10.20.0.0/16 via 2001:db8::2', 4], ['route add 2001:db8:99::/48 via 10.0.0.2', 4],
      ['route add 10.20.0.0/16 dev d0 10.21.0.0/16', 4], ['route del 10.77.0.0/16', 4], ['route add 10.20.0.0/16 via 10.0.0.2 dev d1', 4],
      ['route add default dev d0 metric 4294967296', 4], ['route add default dev d0 metric -1', 4], ['route add 10.20.0.0/16 dev d0 table 4294967296', 4],
      ['route add local 10.112.0.0/16', 4], ['route add 10.0.0.0/24 dev d0 proto kernel scope link src 10.0.0.1', 4],
      ['route add local 10.20.0.0/16 dev d0 scope global', 4], ['route add 10.20.0.0/16 via 10.0.0.2 scope link', 4],
      ['route add 10.20.0.0/16 via 10.0.0.2 scope host', 4], ['route add 10.20.0.0/16 via 10.0.0.2 onlink', 4],
      ['route add 10.20.0.0/16 via 10.0.0.1 dev d0 onlink', 4], ['route change 10.21.0.0/16 dev d0', 4], ['route add 010.0.0.0/0x08 dev d0', 4],
      ['route add 10.0.0.0/255.0.0.0 dev d0 metric 0x10', 4], ['route add 10.22/16 dev d0', 4], ['route add 10. dev d0', 4], ['route add 1.2.3.4.5 dev d0', 4],
      ['route add 2001:db8:20::1/48 dev d0', 6], ['route add 2001:db8:21::/48 via 2001:db8:99::1', 6], ['route add 2001:db8:21::/48 via 2001:db8::1', 6],
      ['route add 2001:db8:22::/48 via 2001:db8::2 dev d1', 6], ['route add 2001:db8:23::/48 dev d0 src 2001:db8::99', 6], ['route add 2001:db8:28::/48 via fe80::1', 6],
      ['route add 2001:db8:29::/48', 6], ['route add 2001:db8::/129 dev d0', 6], ['route add 2001:db8:::/48 dev d0', 6], ['route add 2001:db8::/64 dev d0', 6],
      ['route add 1:2:3:4:5:6:7:8:9/64 dev d0', 6], ['route add 2001:db8:2a::/48 via ff02::1 dev d0', 6], ['route add ::ffff:1.2.3.4/128 dev d0', 6],
      ['route add 2001:db8:2b::/48 via 2001:db8::2 dev lo', 6], ['route del 2001:db8:77::/48', 6], ['route add 10.0.0.0/8 dev d0', 6],
    ];
    await withNetns(async (set) => {
      const ns = await set.add('rt');
      const s: Scenario = { devices: 2, addrs: [{ dev: 'd0', cidr: '10.0.0.1/24' }, { dev: 'd1', cidr: '192.168.1.5/24' }, { dev: 'd0', cidr: '2001:db8::1/64' }], v4: [], v6: [], gets4: [], gets6: [] };
      await setupKernel(set, ns, s);
      const t = setupModel(s);
      const kernel: string[] = [], mine: string[] = [], lines: string[] = [];
      for (const [line, fam] of bad) {
        lines.push(`${fam === 6 ? '-6 ' : ''}${line}`);
        const k = ip(ns, [...(fam === 6 ? ['-6'] : []), ...line.split(' ')]);
        kernel.push(k.status === 0 ? '' : k.err.split('\n')[0]!);
        const m = model(t, line, fam);
        mine.push(m.err.split('\n')[0]!);
        // a message about one argument names it, and that argument is in the line
        if (m.token !== '') expect(line.split(' '), `token of ${line}`).toContain(m.token);
      }
      expect(mismatches(lines, kernel, mine, 60)).toBe('');
    });
  });
});

describeWithIp('route.ts address and device deletion against the kernel', () => {
  it('ip addr del (primary with secondaries, secondary, /32, an address another device holds) and ip link del', async () => {
    const s: Scenario = {
      devices: 3,
      addrs: [{ dev: 'd0', cidr: '10.0.0.1/24' }, { dev: 'd0', cidr: '10.0.0.7/24' }, { dev: 'd0', cidr: '10.0.0.9/24' }, { dev: 'd0', cidr: '10.1.0.1/16' },
        { dev: 'd1', cidr: '192.168.1.5/24' }, { dev: 'd1', cidr: '203.0.113.50/32' }, { dev: 'd1', cidr: '203.0.113.51/32' }, { dev: 'd2', cidr: '10.1.0.1/24' },
        { dev: 'd2', cidr: '172.16.0.1/30' }],
      v4: [], v6: [], gets4: [], gets6: [],
    };
    const routes = ['route add default via 192.168.1.1', 'route add 10.40.0.0/16 via 10.0.0.2', 'route add 10.41.0.0/16 dev d0 src 10.0.0.7',
      'route add 10.42.0.0/16 via 172.16.0.2', 'route add 10.43.0.0/16 dev d1 src 203.0.113.50', 'route add 10.44.0.0/16 via 10.1.0.9 dev d0'];
    await withNetns(async (set) => {
      const ns = await set.add('rtdel');
      await setupKernel(set, ns, s);
      const t = setupModel(s);
      applyBoth(ns, t, routes, 4);
      compareShows(ns, t);
      for (const [dev, cidr] of [['d0', '10.0.0.7/24'], ['d1', '203.0.113.50/32'], ['d2', '10.1.0.1/24'], ['d0', '10.0.0.1/24']] as const) {
        expect(ip(ns, ['addr', 'del', cidr, 'dev', dev]).status).toBe(0);
        t.delAddress4(dev, cidr);
        compareShows(ns, t);
      }
      expect(ip(ns, ['link', 'del', 'd2']).status).toBe(0);
      t.delDevice('d2');
      t.delDevice('d2p');
      compareShows(ns, t);
      const refused = ip(ns, ['addr', 'del', '10.9.9.9/24', 'dev', 'd0']).err.trim();
      expect(() => t.delAddress4('d0', '10.9.9.9/24')).toThrow(expect.objectContaining({ code: 'ROUTE_EADDRNOTAVAIL', message: refused }));
    });
  });
});
