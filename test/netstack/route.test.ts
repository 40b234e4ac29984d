/**
 * Unit tests of src/netstack/route.ts: the LPM lookups against a linear scan (fast-check, and a
 * large deterministic table that crosses the slot-stride switch), the kernel's ordering rules,
 * connected routes, `ip route` parsing with iproute2's messages, and the text formats.
 * Expected strings come from Linux 6.18 / iproute2 6.1 in a namespace (the command is given
 * beside each); route-kernel.test.ts checks the same against the live kernel at scale.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  LpmIndex, RouteError, RoutingTable, inetPton6, ipv4Text, ipv6Text, parseRouteArgs,
  RTN_BLACKHOLE, RTN_LOCAL, RTN_THROW, RTN_UNICAST, RTF_USES_GATEWAY, RT_TABLE_LOCAL, RT_TABLE_MAIN, type StrideOption,
} from '../../src/netstack/route.js';
import { mulberry32 } from '../../src/rng.js';

// ---------------------------------------------------------------------------------------------
// The linear-scan oracle

/** A route the oracle knows: prefix words, length, table, metric, type. Only `add` (so one route per prefix, table and metric). */
interface OracleRoute { w: number[]; len: number; table: number; metric: number; type: number; id: number }

function covers(r: OracleRoute, a: number[]): boolean {
  for (let i = 0; i < r.w.length; i++) {
    const bits = Math.max(0, Math.min(32, r.len - 32 * i));
    if (bits === 0) break;
    const m = bits === 32 ? 0xffffffff : (~(0xffffffff >>> bits)) >>> 0;
    if (((a[i]! ^ r.w[i]!) & m) >>> 0 !== 0) return false;
  }
  return true;
}

/** The first route of the longest prefix covering 'a' among 'tables' (table descending, then metric), or null. */
function scan(routes: OracleRoute[], a: number[], tables: number[]): OracleRoute | null {
  let best: OracleRoute | null = null;
  for (const r of routes) {
    if (!tables.includes(r.table) || !covers(r, a)) continue;
    if (best === null || r.len > best.len || (r.len === best.len && (r.table > best.table || (r.table === best.table && r.metric < best.metric)))) best = r;
  }
  return best;
}

/** The kernel's answer by scanning: IPv4 local+main merged, then default on throw/none; IPv6 local then main. */
function oracleLookup(routes: OracleRoute[], a: number[], family: 4 | 6): number {
  const steps = family === 4 ? [[RT_TABLE_LOCAL, RT_TABLE_MAIN], [253]] : [[RT_TABLE_LOCAL], [RT_TABLE_MAIN]];
  for (const tables of steps) {
    const r = scan(routes, a, tables);
    if (r !== null && r.type !== RTN_THROW) return r.id;
  }
  return -1;
}

interface Op { del: boolean; w: number[]; len: number; table: number; metric: number; kind: 'dev' | 'blackhole' | 'throw' | 'unreachable' }

const TYPE_OF = { dev: RTN_UNICAST, blackhole: RTN_BLACKHOLE, throw: RTN_THROW, unreachable: 7 } as const;

/** Apply 'ops' to a fresh table and to the oracle; returns both. */
function build(ops: Op[], family: 4 | 6, stride: StrideOption): { t: RoutingTable; routes: OracleRoute[] } {
  const t = new RoutingTable({ stride });
  t.addLoopback();
  t.addDevice('d0');
  const routes: OracleRoute[] = [];
  const W = family === 4 ? 1 : 4;
  // the routes the host starts with (lo's 127/8 and ::1, d0's ff00::/8), as the fib holds them
  const fib0 = family === 4 ? t.fib4 : t.fib6;
  for (const id of fib0.ids()) {
    routes.push({ w: Array.from(fib0.dst.subarray(id * W, id * W + W)), len: fib0.dstLen[id]!, table: fib0.table[id]!, metric: fib0.metric[id]!, type: fib0.type[id]!, id });
  }
  for (const op of ops) {
    const w = op.w.slice(0, W).map((x, i) => {
      const bits = Math.max(0, Math.min(32, op.len - 32 * i));
      return bits === 0 ? 0 : (x & ((0xffffffff << (32 - bits)) >>> 0)) >>> 0;
    });
    const text = family === 4 ? `${ipv4Text(w[0]!)}/${op.len}` : `${ipv6Text(w)}/${op.len}`;
    const head = op.kind === 'dev' ? text : `${op.kind} ${text}`;
    // IPv6 stores metric 0 as 1024; a delete with metric 0 matches any metric (the first, lowest)
    const metric = family === 6 && op.metric === 0 ? 1024 : op.metric;
    const tail = `${op.kind === 'dev' ? ' dev d0' : ''} table ${op.table} metric ${op.metric}`;
    if (op.del) {
      const same = routes.filter((r) => r.len === op.len && r.table === op.table && r.w.every((x, k) => x === w[k]) && (op.metric === 0 || r.metric === op.metric));
      same.sort((a, b) => a.metric - b.metric);
      const i = same.length === 0 ? -1 : routes.indexOf(same[0]!);
      try {
        t.ipRoute(`del ${text} table ${op.table} metric ${op.metric}`, family);
        expect(i).toBeGreaterThanOrEqual(0);
        routes.splice(i, 1);
      } catch (e) {
        expect((e as RouteError).code).toBe('ROUTE_ESRCH');
        expect(i).toBe(-1);
      }
      continue;
    }
    try {
      t.ipRoute(`add ${head}${tail}`, family);
    } catch (e) {
      expect((e as RouteError).code).toBe('ROUTE_EEXIST');
      continue;
    }
    const fib = family === 4 ? t.fib4 : t.fib6;
    const id = fib.routesOf(w, op.len).find((r) => fib.table[r] === op.table && fib.metric[r] === metric)!;
    routes.push({ w, len: op.len, table: op.table, metric, type: TYPE_OF[op.kind], id });
  }
  return { t, routes };
}

function lookup(t: RoutingTable, a: number[], family: 4 | 6): number {
  return family === 4 ? t.lookup4(a[0]!) : t.lookup6(Uint32Array.from(a), 0);
}

/** Addresses near the routes (inside a prefix with random host bits) and uniformly random. */
function probes(routes: OracleRoute[], r: () => number, n: number, W: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < n; i++) {
    if (routes.length > 0 && r() % 4 !== 0) {
      const base = routes[r() % routes.length]!;
      out.push(base.w.map((x, k) => {
        const bits = Math.max(0, Math.min(32, base.len - 32 * k));
        return (x | (bits === 32 ? 0 : r() & (0xffffffff >>> bits))) >>> 0;
      }));
    } else out.push(Array.from({ length: W }, () => r()));
  }
  return out;
}

const LENS4 = [0, 1, 4, 7, 8, 9, 12, 15, 16, 17, 20, 24, 28, 31, 32];
const LENS6 = [0, 3, 8, 16, 17, 32, 33, 48, 56, 64, 65, 96, 127, 128];

function arbOps(family: 4 | 6): fc.Arbitrary<Op[]> {
  const W = family === 4 ? 1 : 4;
  // a small address pool so prefixes nest and collide
  const word = fc.constantFrom(0x0a000000, 0x0a010000, 0x0a010200, 0x0a010203, 0xc0a80000, 0x80000000, 0xffffffff, 0x20010db8, 0x00000000, 0x7f000001);
  return fc.array(fc.record({
    // a delete repeats an earlier operation's prefix, table and metric (else it would rarely hit)
    delOf: fc.option(fc.nat(), { freq: 4, nil: null }).map((x) => (x !== null && x % 3 === 0 ? x : null)),
    w: fc.array(word, { minLength: W, maxLength: W }),
    len: fc.constantFrom(...(family === 4 ? LENS4 : LENS6)),
    table: fc.constantFrom(RT_TABLE_MAIN, RT_TABLE_MAIN, RT_TABLE_LOCAL, ...(family === 4 ? [253] : [])),
    metric: fc.constantFrom(0, 0, 5, 100),
    kind: fc.constantFrom('dev' as const, 'dev' as const, 'blackhole' as const, 'throw' as const, 'unreachable' as const),
  }), { maxLength: 60 }).map((rs) => rs.map((x, i): Op => {
    const { delOf, ...rest } = x;
    if (delOf === null || i === 0) return { ...rest, del: false };
    const prev = rs[delOf % i]!;
    return { del: true, w: prev.w, len: prev.len, table: prev.table, metric: prev.metric, kind: prev.kind };
  }));
}

describe('lookup equals a linear scan', () => {
  for (const family of [4, 6] as const) {
    for (const stride of [0, 8, 16] as const) {
      it(`IPv${family}, stride ${stride}: random tables with deletes (fast-check)`, () => {
        fc.assert(fc.property(arbOps(family), fc.integer(), (ops, seed) => {
          const { t, routes } = build(ops, family, stride);
          const r = mulberry32(seed);
          // probe under every prefix ever used, deleted ones included (what a delete leaves behind)
          const all: OracleRoute[] = [...routes, ...ops.map((o) => ({ w: o.w.slice(0, family === 4 ? 1 : 4), len: o.len, table: 0, metric: 0, type: 0, id: -1 }))];
          for (const a of probes(all, r, 300, family === 4 ? 1 : 4)) {
            const got = lookup(t, a, family), want = oracleLookup(routes, a, family);
            if (got !== want) throw new Error(`lookup ${family === 4 ? ipv4Text(a[0]!) : ipv6Text(a)}: got route ${got}, scan says ${want}`);
          }
        }), { numRuns: 150 });
      });
    }
  }

  for (const family of [4, 6] as const) {
    for (const stride of ['auto', 0, 16] as const) {
      it(`IPv${family}, stride ${stride}: 3000 routes (the auto stride switches at 1024 prefixes), 2400 deletes, 1000 re-adds, 20000 lookups`, () => {
        const r = mulberry32(family * 100 + (stride === 'auto' ? 1 : stride));
        const ops: Op[] = [];
        const lens = family === 4 ? [8, 12, 16, 18, 20, 22, 24, 24, 24, 26, 28, 32] : [16, 24, 32, 40, 44, 48, 48, 52, 56, 64, 64, 128];
        for (let i = 0; i < 3000; i++) {
          const w = family === 4 ? [(0x0a000000 | (r() & 0x00ffffff)) >>> 0] : [0x20010db8, r() & 0xffff0000, r(), r()];
          ops.push({ del: false, w, len: lens[r() % lens.length]!, table: r() % 8 === 0 ? RT_TABLE_LOCAL : RT_TABLE_MAIN, metric: [0, 5][r() % 2]!, kind: (['dev', 'dev', 'dev', 'blackhole', 'throw'] as const)[r() % 5]! });
        }
        // churn: delete most of them (the hash's backward-shift deletion, the slots' replacement), add some back
        for (let i = 0; i < 2400; i++) ops.push({ ...ops[r() % 3000]!, del: true });
        for (let i = 0; i < 1000; i++) ops.push({ ...ops[r() % 3000]!, del: false });
        const { t, routes } = build(ops, family, stride);
        let bad = 0;
        for (const a of probes(routes, r, 20000, family === 4 ? 1 : 4)) if (lookup(t, a, family) !== oracleLookup(routes, a, family)) bad++;
        expect(bad).toBe(0);
        expect(routes.length).toBeGreaterThan(800);
      });
    }
  }
});

describe('LpmIndex under churn, against a Map', () => {
  for (const W of [1, 4] as const) {
    for (const stride of [0, 8, 16] as const) {
      it(`W=${W}, stride ${stride}: 20000 random sets and removals over 48 prefixes, every prefix checked every 10`, () => {
        // a small universe keeps the hash table at 64–128 slots near half full, where probe
        // clusters wrap around the end and backward-shift deletion has to move them
        const r = mulberry32(W * 1000 + stride);
        const idx = new LpmIndex(W, stride);
        const keys: { k: number[]; len: number }[] = [];
        const seen = new Set<string>();
        for (let i = 0; keys.length < 48; i++) {
          const len = [0, 4, 8, 12, 16, 20, 24, 32][i % 8]! * (W === 4 ? (i % 3) + 1 : 1);
          const k = Array.from({ length: W }, () => r()).map((x, j) => {
            const bits = Math.max(0, Math.min(32, len - 32 * j));
            return bits === 0 ? 0 : (x & ((0xffffffff << (32 - bits)) >>> 0)) >>> 0;
          });
          const name = `${len}/${k.join(',')}`;
          if (seen.has(name)) continue; // one entry per prefix (the /0s are all the same one)
          seen.add(name);
          keys.push({ k, len });
        }
        const truth = new Map<number, number>();
        for (let step = 0; step < 20000; step++) {
          const i = r() % keys.length;
          const v = r() % 3 === 0 ? -1 : step;
          idx.set(keys[i]!.k, keys[i]!.len, v);
          if (v < 0) truth.delete(i); else truth.set(i, v);
          if (step % 10 !== 0) continue;
          for (let j = 0; j < keys.length; j++) {
            // an address inside key j: the answer is the longest present key covering it
            const a = keys[j]!.k;
            let want = -1, wantLen = -1;
            for (const [q, val] of truth) {
              const kq = keys[q]!;
              if (kq.len > wantLen && covers({ w: kq.k, len: kq.len, table: 0, metric: 0, type: 0, id: 0 }, a)) { want = val; wantLen = kq.len; }
            }
            const got = W === 1 ? idx.lookup1(a[0]!) : idx.lookup4w(a, 0);
            if (got !== want) throw new Error(`step ${step}: key ${j} (/${keys[j]!.len}) got ${got}, want ${want}`);
          }
        }
        expect(idx.count).toBe(truth.size);
      });
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Kernel rules, with expected text from a namespace

/** The host of the module's examples: lo, d0 (10.0.0.1/24, 10.0.0.7/24 secondary, 10.0.0.9/16), d1 (192.168.1.5/24). */
function host(): RoutingTable {
  const t = new RoutingTable();
  t.addLoopback();
  t.addDevice('d0');
  t.addDevice('d1');
  t.addConnected('d0', '10.0.0.1/24');
  t.addConnected('d1', '192.168.1.5/24');
  t.addConnected('d0', '10.0.0.7/24');
  t.addConnected('d0', '10.0.0.9/16');
  return t;
}

describe('connected routes (ip addr add)', () => {
  it('IPv4: local, subnet and broadcast routes; a secondary adds only its local route with the primary as src', () => {
    const t = host();
    // ip route show; ip route show table local (Linux 6.18, same addresses)
    expect(t.ipRoute('show')).toBe(
      '10.0.0.0/24 dev d0 proto kernel scope link src 10.0.0.1 \n'
      + '10.0.0.0/16 dev d0 proto kernel scope link src 10.0.0.9 \n'
      + '192.168.1.0/24 dev d1 proto kernel scope link src 192.168.1.5 \n');
    expect(t.ipRoute('show table local')).toBe(
      'local 10.0.0.1 dev d0 proto kernel scope host src 10.0.0.1 \n'
      + 'local 10.0.0.7 dev d0 proto kernel scope host src 10.0.0.1 \n'
      + 'local 10.0.0.9 dev d0 proto kernel scope host src 10.0.0.9 \n'
      + 'broadcast 10.0.0.255 dev d0 proto kernel scope link src 10.0.0.1 \n'
      + 'broadcast 10.0.255.255 dev d0 proto kernel scope link src 10.0.0.9 \n'
      + 'local 127.0.0.0/8 dev lo proto kernel scope host src 127.0.0.1 \n'
      + 'local 127.0.0.1 dev lo proto kernel scope host src 127.0.0.1 \n'
      + 'broadcast 127.255.255.255 dev lo proto kernel scope link src 127.0.0.1 \n'
      + 'local 192.168.1.5 dev d1 proto kernel scope host src 192.168.1.5 \n'
      + 'broadcast 192.168.1.255 dev d1 proto kernel scope link src 192.168.1.5 \n');
  });

  it('IPv4 /31 has no broadcast route, /32 no subnet route; metric goes on the subnet route; duplicates are EEXIST', () => {
    const t = new RoutingTable();
    t.addDevice('d0');
    t.addConnected('d0', '10.1.0.1/31');
    t.addConnected('d0', '10.2.0.1/32');
    t.addConnected('d0', '10.4.0.1/24', { metric: 50 });
    expect(t.ipRoute('show')).toBe('10.1.0.0/31 dev d0 proto kernel scope link src 10.1.0.1 \n10.4.0.0/24 dev d0 proto kernel scope link src 10.4.0.1 metric 50 \n');
    expect(() => t.addConnected('d0', '10.4.0.1/24')).toThrow(expect.objectContaining({ code: 'ROUTE_EEXIST' }));
    expect(() => t.addConnected('eth9', '10.4.0.1/24')).toThrow(expect.objectContaining({ code: 'ROUTE_UNKNOWN_DEVICE', token: 'eth9' }));
  });

  it('IPv6: local route metric 0, prefix route metric 256 (also for /128), ff00::/8 per device, fe80::/64 like any prefix', () => {
    const t = new RoutingTable();
    t.addLoopback();
    t.addDevice('d0');
    t.addDevice('d1');
    t.addConnected('d0', '2001:db8:1::1/128');
    t.addConnected('d0', '2001:db8:2::1/127');
    t.addConnected('d1', '2001:db8:4::1/64', { metric: 50 });
    t.addConnected('d1', 'fe80::99/64');
    // ip -6 route show table all
    expect(t.ipRoute('show table all', 6)).toBe(
      '2001:db8:1::1 dev d0 proto kernel metric 256 pref medium\n'
      + '2001:db8:2::/127 dev d0 proto kernel metric 256 pref medium\n'
      + '2001:db8:4::/64 dev d1 proto kernel metric 50 pref medium\n'
      + 'fe80::/64 dev d1 proto kernel metric 256 pref medium\n'
      + 'local ::1 dev lo table local proto kernel metric 0 pref medium\n'
      + 'local 2001:db8:1::1 dev d0 table local proto kernel metric 0 pref medium\n'
      + 'local 2001:db8:2::1 dev d0 table local proto kernel metric 0 pref medium\n'
      + 'local 2001:db8:4::1 dev d1 table local proto kernel metric 0 pref medium\n'
      + 'local fe80::99 dev d1 table local proto kernel metric 0 pref medium\n'
      + 'multicast ff00::/8 dev d0 table local proto kernel metric 256 pref medium\n'
      + 'multicast ff00::/8 dev d1 table local proto kernel metric 256 pref medium\n');
  });
});

describe('lookups as the kernel does them', () => {
  it('IPv4 looks up local and main as ONE trie: the longer main 127.0.0.0/16 beats local 127.0.0.0/8; a local throw /25 hides main /24', () => {
    const t = host();
    t.ipRoute('add 127.0.0.0/16 via 10.0.0.2');
    t.ipRoute('add throw 10.0.0.128/25 table local');
    // ip route get 127.0.0.5; ip route get 127.1.1.1; ip route get 10.0.0.200
    expect(t.ipRoute('get 127.0.0.5')).toBe('127.0.0.5 via 10.0.0.2 dev d0 src 10.0.0.1 uid 0 \n    cache \n');
    expect(t.ipRoute('get 127.1.1.1')).toBe('local 127.1.1.1 dev lo src 127.0.0.1 uid 0 \n    cache <local> \n');
    expect(() => t.ipRoute('get 10.0.0.200')).toThrow('RTNETLINK answers: Network is unreachable');
    expect(t.lookup4(0x0a0000c8)).toBe(-1);
  });

  it('IPv4 table default is consulted after a throw or no match, never after blackhole', () => {
    const t = host();
    t.ipRoute('add blackhole 10.70.0.0/16');
    t.ipRoute('add 10.70.0.0/16 via 10.0.0.9 table default');
    t.ipRoute('add throw 10.72.0.0/16');
    t.ipRoute('add 10.72.0.0/16 via 10.0.0.8 table default');
    expect(() => t.ipRoute('get 10.70.0.1')).toThrow('RTNETLINK answers: Invalid argument');
    expect(t.ipRoute('get 10.72.0.1')).toBe('10.72.0.1 via 10.0.0.8 dev d0 table default src 10.0.0.1 uid 0 \n    cache \n');
    expect(t.fib4.type[t.lookup4(0x0a460001)]).toBe(RTN_BLACKHOLE);
  });

  it('IPv6 looks up local, then main; a throw in local goes on to main', () => {
    const t = new RoutingTable();
    t.addLoopback();
    t.addDevice('d0');
    t.addConnected('d0', '2001:db8::1/64');
    t.ipRoute('add throw 2001:db8:c::/48 table local', 6);
    t.ipRoute('add 2001:db8:c::/48 via 2001:db8::2', 6);
    t.ipRoute('add 2001:db8:c::/64 dev d0 table local', 6);
    // ip -6 route get 2001:db8:c:1::1 → main's route; 2001:db8:c::1 → local's /64
    expect(t.ipRoute('get 2001:db8:c:1::1', 6)).toBe('2001:db8:c:1::1 from :: via 2001:db8::2 dev d0 src 2001:db8::1 metric 1024 pref medium\n');
    expect(t.ipRoute('get 2001:db8:c::1', 6)).toBe('2001:db8:c::1 from :: dev d0 table local src 2001:db8::1 metric 1024 pref medium\n');
    expect(t.ipRoute('get 2001:db8::1', 6)).toBe('local 2001:db8::1 from :: dev lo table local proto kernel src 2001:db8::1 metric 0 pref medium\n');
  });

  it('append/prepend/replace/del keep the kernel order; the first route of a prefix answers', () => {
    const t = host();
    t.addDevice('d2');
    for (const c of ['add 10.40.0.0/16 via 10.0.0.2', 'append 10.40.0.0/16 via 192.168.1.2', 'prepend 10.40.0.0/16 dev d2', 'append blackhole 10.40.0.0/16', 'add 10.40.0.0/16 via 10.0.0.3 metric 2']) t.ipRoute(c);
    // ip route show 10.40.0.0/16 (in this order on Linux)
    const show = (): string => t.ipRoute('show').split('\n').filter((l) => l.includes('10.40.')).join('\n');
    expect(show()).toBe('10.40.0.0/16 dev d2 scope link \n10.40.0.0/16 via 10.0.0.2 dev d0 \n10.40.0.0/16 via 192.168.1.2 dev d1 \nblackhole 10.40.0.0/16 \n10.40.0.0/16 via 10.0.0.3 dev d0 metric 2 ');
    expect(t.routeInfo(4, t.lookup4(0x0a280101))).toMatchObject({ dev: 'd2', gateway: null, type: 'unicast' });
    t.ipRoute('del 10.40.0.0/16');
    t.ipRoute('del 10.40.0.0/16 via 192.168.1.2');
    t.ipRoute('replace 10.40.0.0/16 via 192.168.1.9');
    t.ipRoute('replace 10.40.0.0/16 dev d0 metric 7');
    expect(show()).toBe('10.40.0.0/16 via 192.168.1.9 dev d1 \nblackhole 10.40.0.0/16 \n10.40.0.0/16 via 10.0.0.3 dev d0 metric 2 \n10.40.0.0/16 dev d0 scope link metric 7 ');
    expect(() => t.ipRoute('add 10.40.0.0/16 via 10.0.0.5')).toThrow(expect.objectContaining({ code: 'ROUTE_EEXIST', message: 'RTNETLINK answers: File exists' }));
    expect(() => t.ipRoute('change 10.41.0.0/16 dev d0')).toThrow(expect.objectContaining({ code: 'ROUTE_ENOENT' }));
    expect(() => t.ipRoute('del 10.77.0.0/16')).toThrow(expect.objectContaining({ code: 'ROUTE_ESRCH', message: 'RTNETLINK answers: No such process' }));
  });

  it('a gateway that is a local address is not the next hop (nexthop scope host)', () => {
    const t = host();
    t.ipRoute('add 10.18.0.0/16 via 10.0.0.1');
    const r = t.lookup4(0x0a120101);
    expect(t.fib4.flags[r]! & RTF_USES_GATEWAY).toBe(0);
    expect(t.ipRoute('show')).toContain('10.18.0.0/16 via 10.0.0.1 dev d0 \n');
    expect(t.ipRoute('get 10.18.1.1')).toBe('10.18.1.1 dev d0 src 10.0.0.1 uid 0 \n    cache \n');
    t.ipRoute('add 10.19.0.0/16 via 10.0.0.2');
    expect(t.fib4.flags[t.lookup4(0x0a130101)]! & RTF_USES_GATEWAY).toBe(RTF_USES_GATEWAY);
  });

  it('source addresses: IPv4 primary in the gateway subnet; IPv6 RFC 6724 (outgoing interface, label, prefix capped at its length)', () => {
    const t = host();
    t.ipRoute('add 10.47.0.0/16 via 10.0.1.9');
    expect(t.ipRoute('get 10.47.0.1')).toBe('10.47.0.1 via 10.0.1.9 dev d0 src 10.0.0.9 uid 0 \n    cache \n');
    t.addConnected('d0', '2001:db8::1/64');
    t.addConnected('d0', '2001:db8::7/64');
    t.addConnected('d0', 'fd00::1/48');
    t.addConnected('d1', '2001:db8:1::5/64');
    // newest first within a scope: ::7 wins the /64-capped tie; fd00::1 loses on label; d1's address on interface
    expect(t.routeGet6(inetPton6('2001:db8::5')!)).toMatchObject({ src: '2001:db8::7', dev: 'd0' });
    expect(t.routeGet6(inetPton6('fd00::5')!)).toMatchObject({ src: 'fd00::1' });
    expect(t.routeGet6(inetPton6('2001:db8:1::9')!)).toMatchObject({ src: '2001:db8:1::5', dev: 'd1' });
  });

  it('route ids are stable until deleted; lookup answers -1 for no route', () => {
    const t = host();
    t.ipRoute('add 10.50.0.0/16 via 10.0.0.2');
    const id = t.lookup4(0x0a320001);
    t.ipRoute('add 10.51.0.0/16 via 10.0.0.2');
    expect(t.lookup4(0x0a320001)).toBe(id);
    expect(t.routeInfo(4, id)).toEqual({ id, family: 4, type: 'unicast', dst: '10.50.0.0/16', table: 254, metric: 0, protocol: 'boot', scope: 'global', dev: 'd0', gateway: '10.0.0.2', prefsrc: null, onlink: false });
    t.ipRoute('del 10.50.0.0/16');
    expect(t.lookup4(0x0a320001)).toBe(-1);
    expect(t.lookup4(0x08080808)).toBe(-1);
    expect(t.lookup6(new Uint32Array(4), 0)).toBe(-1);
    expect(t.fib4.type[t.lookup4(0x0a000001)]).toBe(RTN_LOCAL);
  });
});

// ---------------------------------------------------------------------------------------------
// Parsing

describe('ip route argument parsing (iproute2 6.1)', () => {
  it.each([
    ['default via 192.168.1.1 dev eth0', { family: 4, dst: [0], dstLen: 0, gateway: [0xc0a80101], dev: 'eth0' }],
    ['10.1.0.0/16 dev eth0 src 10.0.0.1', { dstLen: 16, dst: [0x0a010000], src: [0x0a000001] }],
    ['blackhole 10.9.0.0/16', { type: RTN_BLACKHOLE }],
    ['10.0.0.0/8 dev d0 metric 7 table 100', { metric: 7, table: 100 }],
    ['to unicast 10.0.0.0/8 dev d0 m 5 t 100 pro static', { metric: 5, table: 100, protocol: 4 }],
    ['10.22 dev d0', { dst: [0x0a160000], dstLen: 32 }],
    ['010.23.0.0/16 dev d0', { dst: [0x08170000] }], // strtoul base 0: 010 is octal 8
    ['10.24.0.0/016 dev d0', { dstLen: 14 }],
    ['10.0.0.0/255.255.0.0 dev d0 preference 0x10', { dstLen: 16, metric: 16 }],
    ['10.0.0.1/8 dev d0', { hostBits: true, dst: [0x0a000000] }],
    ['default via 2001:db8::1', { family: 6, gateway: [0x20010db8, 0, 0, 1] }],
    ['2001:db8::/32 via fe80::1 dev d0 proto 0x20 scope link', { family: 6, protocol: 32, scope: 253 }],
    ['b 10.100.0.0/16 dev d0', { type: 3 }],
  ])('%s', (line, want) => {
    expect(parseRouteArgs(line.split(' '))).toMatchObject(want);
  });

  it.each([
    ['10.0.0.300/24 dev d0', 'ROUTE_BAD_PREFIX', '10.0.0.300/24', 'Error: any valid prefix is expected rather than "10.0.0.300/24".'],
    ['10.20.0.0/33 dev d0', 'ROUTE_BAD_PREFIX', '10.20.0.0/33', 'Error: any valid prefix is expected rather than "10.20.0.0/33".'],
    ['10.20.0.0/16 via 10.0.0.300', 'ROUTE_BAD_ADDRESS', '10.0.0.300', 'Error: inet address is expected rather than "10.0.0.300".'],
    ['10.20.0.0/16 dev d0 metric abc', 'ROUTE_BAD_VALUE', 'abc', 'Error: argument "abc" is wrong: "metric" value is invalid'],
    ['10.20.0.0/16 dev d0 metric', 'ROUTE_INCOMPLETE', '', 'Command line is not complete. Try option "help"'],
    ['10.20.0.0/16 dev d0 table foo', 'ROUTE_BAD_VALUE', 'foo', 'Error: argument "foo" is wrong: "table" value is invalid'],
    ['10.20.0.0/16 dev d0 foo', 'ROUTE_GARBAGE', 'foo', 'Error: either "to" is duplicate, or "foo" is a garbage.'],
    ['10.20.0.0/16 dev d0 proto 300', 'ROUTE_BAD_VALUE', '300', 'Error: argument "300" is wrong: "protocol" value is invalid'],
    ['10.20.0.0/16 dev d0 scope 256', 'ROUTE_BAD_VALUE', '256', 'Error: argument "256" is wrong: invalid "scope" value'],
    ['bogus 10.20.0.0/16 dev d0', 'ROUTE_BAD_PREFIX', 'bogus', 'Error: any valid prefix is expected rather than "bogus".'],
    ['2001:db8:99::/48 via 10.0.0.2', 'ROUTE_BAD_ADDRESS', '10.0.0.2', 'Error: inet6 address is expected rather than "10.0.0.2".'],
    ['default dev d0 metric 4294967296', 'ROUTE_BAD_VALUE', '4294967296', 'Error: argument "4294967296" is wrong: "metric" value is invalid'],
    ['default dev d0 metric -1', 'ROUTE_BAD_VALUE', '-1', 'Error: argument "-1" is wrong: "metric" value is invalid'],
    ['10.0.0.0/8 dev d0 mtu 1400', 'ROUTE_UNSUPPORTED', 'mtu', 'sdnemu: the route option "mtu" is not supported'],
  ])('%s → %s', (line, code, token, message) => {
    let err: unknown = null;
    try { parseRouteArgs(line.split(' ')); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(RouteError);
    expect(err).toMatchObject({ code, token, message });
  });

  it('the kernel-side checks answer as the kernel does', () => {
    const t = host();
    const cases: [string, string][] = [
      ['add 10.20.0.1/8 dev d0', 'Error: Invalid prefix for given prefix length.'],
      ['add 10.20.0.0/16 via 10.99.0.1', 'Error: Nexthop has invalid gateway.'],
      ['add 10.20.0.0/16 via 10.0.0.2 dev d1', 'Error: Nexthop has invalid gateway.'],
      ['add 10.20.0.0/16 dev eth9', 'Cannot find device "eth9"'],
      ['add 10.20.0.0/16 dev d0 src 10.99.9.9', 'Error: Invalid prefsrc address.'],
      ['add 10.20.0.0/16', 'RTNETLINK answers: No such device'],
      ['add blackhole 10.20.0.0/16 dev d0', 'Error: Gateway, device and multipath can not be specified for this route type.'],
      ['add local 10.20.0.0/16 dev d0 scope global', 'Error: Invalid scope.'],
    ];
    for (const [c, msg] of cases) expect(() => t.ipRoute(c), c).toThrow(msg);
    t.addConnected('d0', '2001:db8::1/64');
    expect(() => t.ipRoute('add 2001:db8:21::/48 via 2001:db8::1', 6)).toThrow('Error: Gateway can not be a local address.');
    expect(() => t.ipRoute('add 2001:db8:21::/48 via 2001:db8:99::1', 6)).toThrow('RTNETLINK answers: No route to host');
    expect(() => t.ipRoute('add 2001:db8:28::/48 via fe80::1', 6)).toThrow('Error: Egress device not specified.');
    expect(() => t.ipRoute('add 2001:db8:23::/48 dev d0 src 2001:db8::99', 6)).toThrow('Error: Invalid source address.');
    expect(() => t.ipRoute('show table 77')).toThrow('Error: ipv4: FIB table does not exist.');
  });

  it('inet_pton6 accepts what glibc accepts', () => {
    const ok: [string, string][] = [['::', '::'], ['::1', '::1'], ['1::', '1::'], ['2001:db8::1', '2001:db8::1'], ['::ffff:1.2.3.4', '::ffff:1.2.3.4'],
      ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'], ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'], ['2001:DB8:0:0:0:0:0:1', '2001:db8::1']];
    for (const [s, text] of ok) expect(ipv6Text(inetPton6(s)!), s).toBe(text);
    for (const s of ['', ':', ':1::', '1:::2', '1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::8', '::1.2.3', '::01.2.3.4', '1:', 'g::', '1.2.3.4']) {
      expect(inetPton6(s), s).toBeNull();
    }
  });
});
