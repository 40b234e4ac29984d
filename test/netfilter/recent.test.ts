/**
 * -m recent, -m nfacct and -m ipvs without a kernel: the parser's branches under fast-check (only
 * IptablesRestoreError escapes, and what loads prints back to text that loads the same), xt_recent's
 * list semantics on the virtual clock (what the kernel test cannot time: windows, reaping, TTL of
 * forwarded packets, lists across reloads), nfacct objects, and -m ipvs against NfStack's IPVS
 * (this kernel has no ip_vs, so those expectations are read from net/netfilter/xt_ipvs.c and
 * libxt_ipvs.c).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IptablesRestoreError, parseRestore } from '../../src/netfilter/restore.js';
import { formatSave } from '../../src/netfilter/save.js';
import { NfStack, type HostConfig } from '../../src/netfilter/stack.js';
import { parseIpv4 } from '../../src/wire/bytes.js';
import { NfAcct, NfacctError, RecentList, RecentTables } from '../../src/netfilter/recent.js';
import { parseHost } from '../../src/netfilter/host.js';
import { Ipvs } from '../../src/netfilter/ipvs.js';
import { FrameBuilder } from '../../src/wire/builder.js';
import { Ruleset, type RecentMatch } from '../../src/netfilter/model.js';
import { IpvsProxier } from '../../src/k8s/kube-proxy/index.js';
import { svc, slice } from '../k8s/kube-proxy-helpers.js';
import { FILTER_HEAD } from './kernel-compare.js';

const rules = (lines: string[]): string => `${FILTER_HEAD}${lines.join('\n')}\nCOMMIT\n`;
const save = (text: string, acct?: NfAcct): string => formatSave(parseRestore(text, undefined, acct ? { nfacct: acct } : {}));
const ruleLines = (dump: string): string[] => dump.split('\n').filter((l) => l.startsWith('-A '));

describe('-m recent / -m nfacct / -m ipvs text', () => {
  it('prints -m recent as iptables-save does (checked against the kernel in recent-kernel.test.ts)', () => {
    expect(ruleLines(save(rules(['-A INPUT -m recent --name KUBE-SEP-X --rcheck --seconds 10800 --reap -j ACCEPT', '-A INPUT -m recent ! --set']))))
      .toEqual(['-A INPUT -m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-X --mask 255.255.255.255 --rsource -j ACCEPT',
        '-A INPUT -m recent ! --set --name DEFAULT --mask 255.255.255.255 --rsource']);
  });
  it('prints -m ipvs as libxt_ipvs saves it: --vproto as a number, /32 left out, --ipvs only alone', () => {
    const text = rules(['-A OUTPUT -s 10.0.0.1/32 -m ipvs --vaddr 10.0.0.1 --vproto tcp --vport 80 -j DROP',
      '-A OUTPUT -m ipvs ! --ipvs', '-A OUTPUT -m ipvs --ipvs --vdir reply ! --vmethod gate --vaddr 10.96.0.0/12 ! --vportctl 21']);
    expect(ruleLines(save(text))).toEqual(['-A OUTPUT -s 10.0.0.1/32 -m ipvs --vproto 6 --vaddr 10.0.0.1 --vport 80 -j DROP',
      '-A OUTPUT -m ipvs ! --ipvs', '-A OUTPUT -m ipvs --vaddr 10.96.0.0/12 --vdir REPLY ! --vmethod GATE ! --vportctl 21']);
  });
  it('refuses what libxt_ipvs refuses', () => {
    const bad = (r: string): string => { try { parseRestore(rules([r])); } catch (e) { return (e as Error).message; } return 'accepted'; };
    expect(bad('-A OUTPUT -m ipvs')).toMatch(/At least one option is required/);
    expect(bad('-A OUTPUT -m ipvs ! --ipvs --vport 80')).toMatch(/! --ipvs cannot be together with other options/);
    expect(bad('-A OUTPUT -m ipvs --vdir sideways')).toMatch(/Bad value for "--vdir"/);
    expect(bad('-A OUTPUT -m ipvs ! --vdir REPLY')).toMatch(/cannot be inverted/);
    expect(bad('-A OUTPUT -m ipvs --vmethod TELEPORT')).toMatch(/--vmethod/);
  });
  it('nfacct: a missing object is refused on its line when the objects are given; the name is cut to 31', () => {
    const acct = new NfAcct();
    acct.add('x'.repeat(40));
    expect(acct.has('x'.repeat(31))).toBe(true);
    const text = rules(['-A INPUT -j ACCEPT', `-A INPUT -m nfacct --nfacct-name ${'x'.repeat(35)}`, '-A INPUT -m nfacct --nfacct-name other']);
    let err: unknown = null;
    try { parseRestore(text, undefined, { nfacct: acct }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(IptablesRestoreError);
    expect((err as IptablesRestoreError).line).toBe(7);
    expect((err as Error).message).toBe('line 7: line 7: RULE_APPEND failed (No such file or directory): rule in chain INPUT');
  });

  const recentOpt = fc.constantFrom('--set', '--rcheck', '--update', '--remove', '--seconds', '--reap', '--hitcount', '--rttl', '--name',
    '--rsource', '--rdest', '--mask', '!', '10', '0', '65536', 'KUBE-SEP-A', 'a/b', '""', '255.255.0.0', '24', 'x y', '--seconds 5', '-j ACCEPT');
  const ipvsOpt = fc.constantFrom('--ipvs', '--vproto', '--vaddr', '--vport', '--vdir', '--vmethod', '--vportctl', '!', 'tcp', '80', 'http',
    '10.0.0.1', '10.0.0.0/8', '10.0.0.0/40', 'ORIGINAL', 'REPLY', 'masq', 'IPIP', 'x');
  const nfacctOpt = fc.constantFrom('--nfacct-name', '!', 'ct_state_invalid_dropped_pkts', 'nosuch', '"a b"');
  const spec = fc.oneof(
    fc.array(recentOpt, { maxLength: 8 }).map((a) => `-m recent ${a.join(' ')}`),
    fc.array(ipvsOpt, { maxLength: 8 }).map((a) => `-m ipvs ${a.join(' ')}`),
    fc.array(nfacctOpt, { maxLength: 4 }).map((a) => `-m nfacct ${a.join(' ')}`),
  );
  it('property: only IptablesRestoreError escapes; what loads prints to text that loads to the same print', () => {
    const acct = new NfAcct();
    acct.add('ct_state_invalid_dropped_pkts');
    acct.add('a b');
    fc.assert(fc.property(fc.array(spec, { minLength: 1, maxLength: 3 }), (specs) => {
      const text = rules([`-A OUTPUT ${specs.join(' ')}`]);
      let first: string;
      try { first = formatSave(parseRestore(text, undefined, { nfacct: acct })); } catch (e) {
        expect(e).toBeInstanceOf(IptablesRestoreError);
        return;
      }
      // the kernel tool prints a recent name with blanks bare, which does not load back; the rest must
      if (/--name \S+ \S+ --mask/.test(first)) return;
      expect(formatSave(parseRestore(first, undefined, { nfacct: acct }))).toBe(first);
    }), { numRuns: 400 });
  });
});

// ---- xt_recent semantics on the virtual clock ---------------------------------------------------

const rm = (o: Partial<RecentMatch>): RecentMatch => ({ kind: 'recent', op: 'set', invert: false, seconds: 0, reap: false, hitcount: 0, rttl: false, name: 'L', mask: 0xffffffff, side: 'src', ...o });
const A = 0x0a000001, B = 0x0a000002;

describe('RecentList', () => {
  it('--rcheck --seconds counts a stamp at most that old; --reap removes the stale least-recently-used entry only', () => {
    const l = new RecentList('L', 0xffffffff, 31);
    l.match(rm({}), A, 64, 1000);
    l.match(rm({}), B, 64, 2000);
    const check = rm({ op: 'rcheck', seconds: 10, reap: true });
    expect(l.match(check, A, 64, 11_000)).toBe(true); // exactly 10 s old: still counts
    expect(l.match(check, A, 64, 11_001)).toBe(false); // and A, the LRU head, is reaped
    expect([...l.entries.keys()]).toEqual([B]);
    expect(l.match(rm({ op: 'rcheck' }), B, 64, 1e9)).toBe(true); // no --seconds: any stamp
  });
  it('--hitcount counts stamps inside the window; ! --update refreshes on the inverted result', () => {
    const l = new RecentList('L', 0xffffffff, 31);
    for (const t of [0, 1000, 2000]) l.match(rm({}), A, 64, t);
    expect(l.match(rm({ op: 'rcheck', hitcount: 3 }), A, 64, 3000)).toBe(true);
    expect(l.match(rm({ op: 'rcheck', hitcount: 3, seconds: 2 }), A, 64, 3000)).toBe(false);
    const upd = rm({ op: 'update', invert: true, seconds: 1 });
    expect(l.match(upd, A, 64, 10_000)).toBe(true); // nothing in the last second: ! makes it true, and it updates
    expect(l.match(upd, A, 64, 10_500)).toBe(false);
    expect(l.entries.get(A)!.nstamps).toBe(4);
  });
  it('keeps the ring of timestamps (32) and evicts the least recently set entry at 100', () => {
    const l = new RecentList('L', 0xffffffff, 31);
    for (let t = 0; t < 40; t++) l.match(rm({}), A, 64, t);
    expect(l.entries.get(A)!.nstamps).toBe(32);
    expect(l.procText()).toMatch(/^src=10\.0\.0\.1 ttl: 64 last_seen: 39 oldest_pkt: 8 32, 33, 34, 35, 36, 37, 38, 39, 8, 9,/);
    for (let i = 0; i < 100; i++) l.match(rm({}), B + i, 64, 100 + i);
    expect(l.entries.size).toBe(100);
    expect(l.entries.has(A)).toBe(false);
  });
  it('--rttl matches only the TTL the entry was set with; /proc writes add, remove and flush', () => {
    const l = new RecentList('L', 0xffffffff, 31);
    l.match(rm({}), A, 64, 0);
    expect(l.match(rm({ op: 'rcheck', rttl: true }), A, 63, 1)).toBe(false);
    expect(l.match(rm({ op: 'rcheck', rttl: true }), A, 64, 1)).toBe(true);
    l.procWrite('+10.0.0.9\n', 5);
    expect(l.match(rm({ op: 'rcheck', rttl: true }), 0x0a000009, 17, 6)).toBe(true); // TTL 0 entries match any
    l.procWrite('-10.0.0.9', 7);
    expect(l.entries.has(0x0a000009)).toBe(false);
    l.procWrite('/', 8);
    expect(l.entries.size).toBe(0);
    expect(() => l.procWrite('10.0.0.1', 9)).toThrow(/Invalid argument/);
  });
  it('sync: the first rule fixes the mask, also across a reload; a larger --hitcount flushes and grows; unnamed lists go', () => {
    const t = new RecentTables();
    t.sync(parseRestore(rules(['-A INPUT -m recent --set --name M --mask 255.255.0.0', '-A INPUT -m recent --rcheck --name M'])));
    t.match(rm({ name: 'M' }), 0x0a010203, 64, 0);
    expect(t.procText('M')).toMatch(/^src=10\.1\.0\.0 /);
    t.sync(parseRestore(rules(['-A INPUT -m recent --set --name M --mask 255.255.255.255'])));
    expect(t.lists.get('M')!.mask).toBe(0xffff0000);
    expect(t.lists.get('M')!.entries.size).toBe(1);
    t.sync(parseRestore(rules(['-A INPUT -m recent --rcheck --hitcount 40 --name M'])));
    expect(t.lists.get('M')!.ringMask).toBe(63);
    expect(t.lists.get('M')!.entries.size).toBe(0);
    t.sync(parseRestore(rules(['-A INPUT -j ACCEPT'])));
    expect(t.procText('M')).toBeNull();
  });
});

describe('NfAcct', () => {
  it('add, count, list, and no deletion while a rule uses it', () => {
    const a = new NfAcct();
    a.add('abc');
    expect(() => a.add('abc')).toThrow(NfacctError);
    const rs = parseRestore(rules(['-A INPUT -m nfacct --nfacct-name abc']), undefined, { nfacct: a });
    expect(a.count('abc', 84)).toBe(true);
    expect(a.list()).toBe('{ pkts = 00000000000000000001, bytes = 00000000000000000084 } = abc;\n');
    expect(() => a.del('abc', rs)).toThrow(/busy/);
    a.del('abc');
    expect(() => a.del('abc')).toThrow(/No such file/);
  });
  it('NfStack refuses rules naming objects it was not given', () => {
    const rs = parseRestore(rules(['-A INPUT -m nfacct --nfacct-name abc']));
    expect(() => new NfStack(rs, parseHost('interfaces: []\nroutes: []\n'))).toThrow(/No such file or directory/);
  });
});

// ---- through the stack --------------------------------------------------------------------------

/** A router with a kube-ipvs0 address (the host file's fields, written as NfStack takes them). */
const ROUTER: HostConfig = {
  ifaces: [['eth-ext', '192.168.50.1', 24], ['eth-pod', '10.244.1.1', 24], ['kube-ipvs0', '10.96.0.10', 32]]
    .map(([name, a, len], i) => ({ name: name as string, mac: `02:00:00:00:01:0${i}`, addrs: [{ addr: parseIpv4(a as string)!, prefixLen: len as number }] })),
  routes: [{ net: 0, prefixLen: 0, via: parseIpv4('192.168.50.254')!, dev: 'eth-ext', src: null }],
  ipForward: true, routeLocalnet: false, tcpLoose: true, vsConntrack: true,
};
const tcp = (src: string, sport: number, dst: string, dport: number, ttl = 64): Uint8Array =>
  new FrameBuilder().eth({ src: '02:00:00:00:00:02', dst: '02:00:00:00:00:01' }).ipv4({ src, dst, ttl, ident: 1 })
    .tcp({ srcPort: sport, dstPort: dport, flags: 0x02, seq: 1000, ack: 0, window: 8192 }).build();

describe('-m recent in NfStack', () => {
  it('records the TTL before forwarding (+1 in FORWARD) and traces what it did', () => {
    const rs = parseRestore(rules(['-A FORWARD -m recent --set --name F', '-A FORWARD -m recent --rcheck --rttl --name F -j DROP']));
    const st = new NfStack(rs, ROUTER);
    const r = st.receive(tcp('192.168.50.7', 40000, '10.244.1.5', 80, 30), 'eth-ext', 5000);
    expect(r.verdict).toBe('DROP');
    expect(st.recent.procText('F')).toBe('src=192.168.50.7 ttl: 30 last_seen: 5000 oldest_pkt: 1 5000\n');
    const fwd = r.hooks.find((h) => h.hook === 'FORWARD')!;
    expect(fwd.traversed.map((t) => t.notes)).toEqual([['recent --set F src 192.168.50.7: match'], ['recent --rcheck F src 192.168.50.7: match']]);
  });
  it('keeps the lists across a reload that still names them, and drops them when it does not', () => {
    const rs = parseRestore(rules(['-A INPUT -m recent --set --name K']));
    const st = new NfStack(rs, ROUTER);
    st.receive(tcp('192.168.50.7', 40000, '192.168.50.1', 22), 'eth-ext', 0);
    parseRestore(rules(['-A INPUT -m recent --rcheck --name K -j DROP']), rs);
    expect(st.receive(tcp('192.168.50.7', 40001, '192.168.50.1', 22), 'eth-ext', 1).verdict).toBe('DROP');
    parseRestore(rules(['-A INPUT -p udp -j ACCEPT']), rs);
    st.receive(tcp('192.168.50.7', 40002, '192.168.50.1', 22), 'eth-ext', 2);
    expect(st.recent.lists.size).toBe(0);
  });
});

describe('-m ipvs in NfStack (expectations from xt_ipvs.c)', () => {
  const ipvsRules = (line: string): string => rules([line]);
  const node = (line: string, fwd = '-m'): NfStack => {
    const ipvs = new Ipvs();
    ipvs.restore(`-A -t 10.96.0.10:80 -s rr\n-a -t 10.96.0.10:80 -r 10.244.1.5:8080 ${fwd} -w 1\n`);
    return new NfStack(parseRestore(ipvsRules(line)), ROUTER, { ipvs });
  };
  it('a local client to a virtual service: its packet after IPVS matches --vaddr/--vport/--vproto in filter OUTPUT', () => {
    const st = node('-A OUTPUT -s 10.244.1.1/32 -m ipvs --vaddr 10.96.0.10 --vproto tcp --vport 80 -j DROP');
    expect(st.send(tcp('10.244.1.1', 40000, '10.96.0.10', 80), 0).verdict).toBe('DROP');
    // another source: the rule's -s fails; not an IPVS packet: --vaddr cannot match
    expect(st.send(tcp('10.244.1.1', 40001, '10.244.1.9', 80), 0).verdict).toBe('ACCEPT');
  });
  it('--vport, --vmethod and --vdir compare the connection; ! --ipvs holds for packets IPVS did not handle', () => {
    expect(node('-A OUTPUT -m ipvs --vport 81 -j DROP').send(tcp('10.244.1.1', 40000, '10.96.0.10', 80), 0).verdict).toBe('ACCEPT');
    expect(node('-A OUTPUT -m ipvs --vmethod MASQ --vdir ORIGINAL -j DROP').send(tcp('10.244.1.1', 40000, '10.96.0.10', 80), 0).verdict).toBe('DROP');
    expect(node('-A OUTPUT -m ipvs --vdir REPLY -j DROP').send(tcp('10.244.1.1', 40000, '10.96.0.10', 80), 0).verdict).toBe('ACCEPT');
    const notIpvs = node('-A OUTPUT -m ipvs ! --ipvs -j DROP');
    expect(notIpvs.send(tcp('10.244.1.1', 40000, '10.244.1.9', 80), 0).verdict).toBe('DROP');
    expect(notIpvs.send(tcp('10.244.1.1', 40001, '10.96.0.10', 80), 0).verdict).toBe('ACCEPT');
  });
  it('direct routing keeps the virtual address as destination: the connection lookup finds nothing, only --ipvs matches', () => {
    expect(node('-A OUTPUT -m ipvs --vport 80 -j DROP', '-g').send(tcp('10.244.1.1', 40000, '10.96.0.10', 80), 0).verdict).toBe('ACCEPT');
    expect(node('-A OUTPUT -m ipvs --ipvs -j DROP', '-g').send(tcp('10.244.1.1', 40000, '10.96.0.10', 80), 0).verdict).toBe('DROP');
  });
});

describe('kube-proxy ipvs mode: a LoadBalancer whose source ranges exclude the node', () => {
  it('the node\'s own packet from the LB address is dropped by KUBE-IPVS-OUT-FILTER\'s -m ipvs rule after IPVS scheduled it', () => {
    const p = new IpvsProxier({ hostname: 'test-node', nodeIPs: ['100.101.102.103'], nodeAddresses: ['100.101.102.103'] });
    p.addService(svc('ns1', 'lb', (x) => {
      x.spec.type = 'LoadBalancer'; x.spec.clusterIP = '10.20.30.41'; x.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 30080 }];
      x.status = { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } }; x.spec.loadBalancerSourceRanges = ['203.0.113.0/24'];
    }));
    p.addEndpointSlice(slice('ns1', 'lb', 1, (e) => { e.endpoints = [{ addresses: ['10.244.2.7'] }]; e.ports = [{ name: 'p80', port: 8080, protocol: 'TCP' }]; }));
    const r = p.sync(0);
    expect(r.iptables).toContain('-A KUBE-IPVS-OUT-FILTER -s 1.2.3.4 -m ipvs --vaddr 1.2.3.4 --vproto tcp --vport 80 -j DROP');
    const rs = new Ruleset();
    parseRestore(r.ensure!, rs, { noflush: true, counters: true });
    parseRestore(r.iptables, rs, { noflush: true, counters: true });
    expect(formatSave(rs)).toContain('-A KUBE-IPVS-OUT-FILTER -s 1.2.3.4/32 -m ipvs --vproto 6 --vaddr 1.2.3.4 --vport 80 -j DROP');
    const addr = (a: string, len: number): { addr: number; prefixLen: number } => ({ addr: parseIpv4(a)!, prefixLen: len });
    const host: HostConfig = {
      ifaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', addrs: [addr('100.101.102.103', 24)] },
        { name: 'kube-ipvs0', mac: '02:00:00:00:00:02', addrs: r.addresses.map((a) => addr(a, 32)) }],
      routes: [{ net: 0, prefixLen: 0, via: parseIpv4('100.101.102.1')!, dev: 'eth0', src: null },
        { net: parseIpv4('10.244.2.0')!, prefixLen: 24, via: parseIpv4('100.101.102.12')!, dev: 'eth0', src: null }],
      ipForward: true, routeLocalnet: false, tcpLoose: true, vsConntrack: true,
    };
    const stack = new NfStack(rs, host, { ipsets: p.ipsets, ipvs: p.ipvs });
    const res = stack.send(tcp('1.2.3.4', 40000, '1.2.3.4', 80), 0);
    expect(res.verdict).toBe('DROP');
    const filterOut = res.hooks.filter((h) => h.table === 'filter' && h.hook === 'OUTPUT').at(-1)!;
    expect(filterOut.traversed.filter((t) => t.matched).map((t) => t.chain)).toEqual(['OUTPUT', 'KUBE-IPVS-OUT-FILTER']);
    // a client inside the source ranges is let through to the real server
    const ok = stack.receive(tcp('203.0.113.5', 40001, '1.2.3.4', 80), 'eth0', 1000);
    expect(ok.path).toBe('ipvs');
  });
});
