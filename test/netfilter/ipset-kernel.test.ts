/**
 * Differential test: src/netfilter/ipset.ts against Linux's ip_set (built
 * in) driven by ipset 7.17, and the `-m set` match of restore.ts / save.ts
 * against iptables 1.8.9 (nf_tables). Every case runs in a fresh network
 * namespace `sdnemu-ipset-<pid>-<n>` (ipsets are per namespace), deleted in
 * a finally (and at exit). No traffic leaves a namespace.
 *  1. SAVE: `ipset restore < text; ipset save` vs `Ipsets.restore(text);
 *     save()`, byte for byte once (a) the initval of sets created without
 *     one is masked (the kernel draws it at random), (b) a member timeout the
 *     kernel printed up to 3 s below ours is taken as ours (it prints the
 *     seconds left), (c) the members of hash sets are sorted (the kernel
 *     prints them in the bucket order of its seeded jhash). bitmap:port
 *     members are compared in the order printed.
 *  2. MEMBERSHIP: `ipset test SET ELEM` (in / NOT in / refused) vs
 *     `Ipsets.test()`; and the packet path: raw IPv4 packets written from
 *     inside the namespace (Debian's /usr/bin/python3, plain sockets) through
 *     `filter OUTPUT` rules `-m length --length L -m set [!] --match-set …
 *     [--return-nomatch]` without a target — every packet has its own
 *     length, so each rule's packet counter says whether its packet matched
 *     — vs the same `-m set` rule read by parseRestore and run by the
 *     Evaluator on our sets.
 *  3. COUNTERS: the same kind of packets, in order, through `filter OUTPUT`
 *     rules with --packets-… and --bytes-… conditions, `! --update-counters`
 *     and --return-nomatch on sets with counters (no targets, so every
 *     packet reaches every rule) vs `NfStack.send()` of the same packets:
 *     the rules' counters (`iptables-save -c`) and `ipset save` after.
 *  4. IPTABLES: `iptables-save` of `-m set` rules (with every option of the
 *     match) loaded with iptables-restore (their sets created first) vs
 *     `formatSave(parseRestore())`, and bad `-m set` rules refused on the
 *     same line.
 *  5. BAD: refused `ipset restore` inputs. ipset prints "Error in line N:"
 *     for most errors but none for usage errors (unknown or missing
 *     argument); the line sdnemu names must equal the one given here and
 *     ipset's when printed, and the sets left behind must be the same,
 *     which pins where both stopped.
 * `describeIpset` mirrors describeWith(): with CI=true a missing ipset,
 * iptables-restore, `ip netns` (as root) or /usr/bin/python3 fails.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SYSTEM_PYTHON, describeNeeding } from '../oracle/tools.js';
import { inNamespaceSync, runSync as run, type SyncExec } from '../oracle/netns.js';
import { IpsetError, Ipsets, type IpsetPacket, type MatchDir } from '../../src/netfilter/ipset.js';
import { IptablesRestoreError, parseRestore } from '../../src/netfilter/restore.js';
import { formatSave } from '../../src/netfilter/save.js';
import { Evaluator, type NfPacket } from '../../src/netfilter/eval.js';
import { NfStack } from '../../src/netfilter/stack.js';
import { parseHost } from '../../src/netfilter/host.js';
import { FrameBuilder } from '../../src/wire/builder.js';
import { parseIpv4 } from '../../src/wire/bytes.js';
import { Ruleset } from '../../src/netfilter/model.js';

const missing: string[] = [];
if (run(['ipset', '--version']).status !== 0) missing.push('ipset');
if (run(['iptables-restore', '--version']).status !== 0) missing.push('iptables-restore');
if (process.getuid?.() !== 0 || run(['ip', 'netns', 'list']).status !== 0) missing.push('`ip netns` as root');
if (!existsSync(SYSTEM_PYTHON)) missing.push(SYSTEM_PYTHON);

function describeIpset(name: string, fn: () => void): void {
  describeNeeding(missing, name, fn);
}

/** Run 'fn' with a command runner inside a fresh namespace, deleted whatever happens. */
const inNamespace = <T>(fn: (x: SyncExec) => T): T => inNamespaceSync('ipset', fn);

const L = (...lines: string[]): string => lines.join('\n') + '\n';

// ---------------------------------------------------------------------------
// save comparison

/** `ipset [-exist] restore` of 'text' in a fresh namespace: status, stderr and the `ipset save` after it. */
function kernelRestore(text: string, exist: boolean): { status: number; stderr: string; save: string } {
  return inNamespace((x) => {
    const r = x(exist ? ['ipset', '-exist', 'restore'] : ['ipset', 'restore'], text);
    return { status: r.status, stderr: r.stderr, save: x(['ipset', 'save']).stdout };
  });
}

function oursRestore(text: string, exist: boolean): { error: unknown; save: string } {
  const s = new Ipsets();
  let error: unknown = null;
  try { s.restore(text, { exist }); } catch (e) { error = e; }
  return { error, save: s.save() };
}

/**
 * The two saves made comparable (see the file comment): initvals of sets
 * 'text' did not give one masked, the kernel's remaining member timeouts
 * taken as ours when at most 3 s lower, hash set members sorted.
 */
function comparable(text: string, kernel: string, ours: string): [string, string] {
  const explicit = new Set([...text.matchAll(/^\s*create\s+(\S+)\s.*\binitval\b/gm)].map((m) => m[1]!));
  const ourTimeout = new Map<string, number>();
  for (const l of ours.split('\n')) {
    const m = / timeout (\d+)/.exec(l);
    if (l.startsWith('add ') && m) ourTimeout.set(l.replace(/ timeout \d+/, ''), Number(m[1]));
  }
  const fix = (save: string, isKernel: boolean): string => {
    const blocks: { head: string; adds: string[] }[] = [];
    for (const l of save.split('\n')) {
      if (l === '') continue;
      if (l.startsWith('create ')) {
        const name = l.split(' ')[1]!;
        blocks.push({ head: explicit.has(name) ? l : l.replace(/initval 0x[0-9a-f]{8}/, 'initval 0x(random)'), adds: [] });
        continue;
      }
      let line = l;
      const m = / timeout (\d+)/.exec(l);
      const want = m ? ourTimeout.get(l.replace(/ timeout \d+/, '')) : undefined;
      if (isKernel && m && want !== undefined && Number(m[1]) <= want && Number(m[1]) >= want - 3) line = l.replace(/ timeout \d+/, ` timeout ${want}`);
      blocks[blocks.length - 1]!.adds.push(line);
    }
    return blocks.map((b) => [b.head, ...(b.head.includes(' bitmap:port ') ? b.adds : [...b.adds].sort())].join('\n') + '\n').join('');
  };
  return [fix(kernel, true), fix(ours, false)];
}

const COMMENT_255 = 'c'.repeat(255);

/** Restore inputs the kernel accepts, covering every type sdnemu models and the options of each. */
const SAVE: Record<string, { text: string; exist?: boolean }> = {
  'hash:ip: addresses, ranges (a reversed one swapped) and CIDRs expanded': { text: L(
    'create A hash:ip',
    'add A 10.0.0.1',
    'add A 10.0.0.3-10.0.0.5',
    'add A 10.0.0.9-10.0.0.7',
    'add A 192.168.0.5/30',
    'add A 172.16.0.1/32',
  ) },
  'hash options: hashsize rounded, maxelem, bucketsize clamped to even 2..12, initval, hex and octal numbers': { text: L(
    'create A hash:ip hashsize 100 maxelem 7',
    'create B hash:ip hashsize 1 bucketsize 0',
    'create C hash:ip hashsize 0x100 maxelem 010 bucketsize 3',
    'create D hash:ip family inet hashsize 1025 bucketsize 13 initval 0x1',
    'create E hash:ip bucketsize 255 initval 12',
    'create F hash:net hashsize 64 maxelem 0 bucketsize 11 initval 0xdeadbeef',
    'create G hash:ip,port,net hashsize 65 bucketsize 1 timeout 0',
  ) },
  'hash:net: nets masked, /32 bare, ranges split into CIDRs, nomatch': { text: L(
    'create N hash:net',
    'add N 10.1.2.3/8',
    'add N 10.1.0.0/16 nomatch',
    'add N 172.16.0.1',
    'add N 172.16.0.2/32',
    'add N 128.0.0.0/1',
    'add N 192.168.1.0-192.168.1.5',
    'add N 192.168.2.200-192.168.2.100',
    'add N 0.0.0.0/8',
    'add N 0.0.0.0',
  ) },
  'extensions: member timeout, nomatch, counters and comment in that order': { text: L(
    'create N hash:net timeout 600 counters comment',
    'add N 10.0.0.0/8',
    'add N 10.1.0.0/16 nomatch timeout 5 packets 3 bytes 4 comment "c"',
    'add N 10.2.0.0/16 comment "two words" bytes 9 nomatch',
    'add N 10.3.0.0/16 timeout 0 packets 7',
    `add N 10.4.0.0/16 comment "${COMMENT_255}"`,
    'create A hash:ip timeout 0',
    'add A 1.1.1.1',
    'add A 1.1.1.2 timeout 30',
    'create C hash:ip,port counters',
    'add C 1.1.1.1,80 packets 5',
  ) },
  'hash:ip,port: a bare port is tcp, protocol names and numbers, address and port ranges': { text: L(
    'create P hash:ip,port',
    'add P 10.0.0.1,80',
    'add P 10.0.0.1,udp:53',
    'add P 10.0.0.2,sctp:5',
    'add P 10.0.0.3,udplite:7',
    'add P 10.0.0.4,6:8080',
    'add P 10.0.0.4,17:1-3',
    'add P 10.0.0.5,TCP:9',
    'add P 10.0.0.6,udp:5-3',
    'add P 10.0.0.8-10.0.0.9,tcp:9-10',
    'add P 10.0.0.12/31,tcp:11',
    'add P 10.0.0.13,0',
    'add P 10.0.0.14,0x50',
  ) },
  'hash:ip,port,ip (KUBE-LOOP-BACK, KUBE-LOAD-BALANCER-SOURCE-IP)': { text: L(
    'create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536',
    'add KUBE-LOOP-BACK 10.244.1.5,tcp:6443,10.244.1.5',
    'add KUBE-LOOP-BACK 10.244.1.6,udp:53,10.244.1.6',
    'add KUBE-LOOP-BACK 10.244.1.7-10.244.1.8,sctp:1-2,0.0.0.0',
    'add KUBE-LOOP-BACK 0.0.0.0,80,1.1.1.1',
    'create KUBE-LOAD-BALANCER-SOURCE-IP hash:ip,port,ip family inet hashsize 1024 maxelem 65536',
    'add KUBE-LOAD-BALANCER-SOURCE-IP 203.0.113.20,tcp:80,198.51.100.7',
  ) },
  'hash:ip,port,net (KUBE-LOAD-BALANCER-SOURCE-CIDR): nets masked, ranges split, nomatch': { text: L(
    'create KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family inet hashsize 1024 maxelem 65536',
    'add KUBE-LOAD-BALANCER-SOURCE-CIDR 1.2.3.4,tcp:80,10.9.9.9/8',
    'add KUBE-LOAD-BALANCER-SOURCE-CIDR 1.2.3.4,tcp:80,10.9.9.9',
    'add KUBE-LOAD-BALANCER-SOURCE-CIDR 1.2.3.4,tcp:80,10.1.0.0/16 nomatch',
    'add KUBE-LOAD-BALANCER-SOURCE-CIDR 1.2.3.4,udp:53,2.2.2.2-2.2.2.9',
    'add KUBE-LOAD-BALANCER-SOURCE-CIDR 1.2.3.5,80,192.168.0.0/24',
    'add KUBE-LOAD-BALANCER-SOURCE-CIDR 0.0.0.0,udp:1,0.0.0.0/32',
  ) },
  'bitmap:port (KUBE-NODE-PORT-*): range swapped, members ascending, edges, protocol ignored': { text: L(
    'create KUBE-NODE-PORT-TCP bitmap:port range 0-65535',
    'add KUBE-NODE-PORT-TCP 30080',
    'add KUBE-NODE-PORT-TCP 65535',
    'add KUBE-NODE-PORT-TCP 0',
    'add KUBE-NODE-PORT-TCP udp:31000',
    'add KUBE-NODE-PORT-TCP 30003-30001',
    'create B bitmap:port range 2000-1000',
    'add B tcp:1500',
    'add B 2000',
    'add B 1000',
    'create C bitmap:port range 0x10-020',
    'create D bitmap:port range 1-100 timeout 30 counters comment',
    'add D 80 comment "web"',
    'add D 81 packets 1 bytes 2 timeout 0',
  ) },
  'the kube-proxy ipvs-mode sets as kube-proxy creates and fills them': { text: L(
    'create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536',
    'create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536',
    'create KUBE-EXTERNAL-IP hash:ip,port family inet hashsize 1024 maxelem 65536',
    'create KUBE-EXTERNAL-IP-LOCAL hash:ip,port family inet hashsize 1024 maxelem 65536',
    'create KUBE-LOAD-BALANCER hash:ip,port family inet hashsize 1024 maxelem 65536',
    'create KUBE-LOAD-BALANCER-FW hash:ip,port family inet hashsize 1024 maxelem 65536',
    'create KUBE-LOAD-BALANCER-LOCAL hash:ip,port family inet hashsize 1024 maxelem 65536',
    'create KUBE-LOAD-BALANCER-SOURCE-IP hash:ip,port,ip family inet hashsize 1024 maxelem 65536',
    'create KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family inet hashsize 1024 maxelem 65536',
    'create KUBE-NODE-PORT-TCP bitmap:port range 0-65535',
    'create KUBE-NODE-PORT-LOCAL-TCP bitmap:port range 0-65535',
    'create KUBE-NODE-PORT-UDP bitmap:port range 0-65535',
    'create KUBE-NODE-PORT-LOCAL-UDP bitmap:port range 0-65535',
    'create KUBE-NODE-PORT-SCTP-HASH hash:ip,port family inet hashsize 1024 maxelem 65536',
    'create KUBE-NODE-PORT-LOCAL-SCTP-HASH hash:ip,port family inet hashsize 1024 maxelem 65536',
    'create KUBE-HEALTH-CHECK-NODE-PORT bitmap:port range 0-65535',
    'create KUBE-IPVS-IPS hash:ip family inet hashsize 1024 maxelem 65536',
    'add KUBE-LOOP-BACK 10.244.1.5,tcp:8080,10.244.1.5',
    'add KUBE-CLUSTER-IP 10.96.0.1,tcp:443',
    'add KUBE-CLUSTER-IP 10.96.0.10,udp:53',
    'add KUBE-CLUSTER-IP 10.96.0.10,tcp:53',
    'add KUBE-EXTERNAL-IP 203.0.113.10,tcp:80',
    'add KUBE-LOAD-BALANCER 203.0.113.20,tcp:80',
    'add KUBE-LOAD-BALANCER-FW 203.0.113.20,tcp:80',
    'add KUBE-LOAD-BALANCER-SOURCE-CIDR 203.0.113.20,tcp:80,198.51.100.0/24',
    'add KUBE-NODE-PORT-TCP 30080',
    'add KUBE-NODE-PORT-UDP 30053',
    'add KUBE-NODE-PORT-SCTP-HASH 192.0.2.10,sctp:30132',
    'add KUBE-HEALTH-CHECK-NODE-PORT 32000',
    'add KUBE-IPVS-IPS 10.96.0.1',
    'add KUBE-IPVS-IPS 10.96.0.10',
  ) },
  "ipset's old type names": { text: L(
    'create A iphash', 'create B nethash', 'create C ipporthash', 'create D portmap range 1-2', 'create E ipportiphash', 'create F ipportnethash',
  ) },
  'indexes: a destroyed set leaves a hole the next create fills; rename keeps the index; swap trades contents': { text: L(
    'create A hash:ip',
    'create B hash:ip',
    'create C hash:ip',
    'add A 1.1.1.1',
    'add B 2.2.2.2',
    'destroy A',
    'create D hash:ip,port',
    'rename B E',
    'create F hash:ip',
    'add F 3.3.3.3',
    'swap E F',
    'add C 4.4.4.4',
    'flush C',
    'destroy D',
    'create G hash:net',
    'create H hash:net',
  ) },
  'comments: words split as ipset splits them (quotes toggle and vanish, backslashes stay)': { text: L(
    'create A hash:ip comment',
    'add A 1.1.1.1 comment "with space"',
    'add A 1.1.1.2 comment nospace',
    'add A 1.1.1.3 comment "x,y=z\\\\q"',
    'add A 1.1.1.4 comment "with \\"esc\\" and \'single\'"',
    "add A 1.1.1.5 comment 'single'",
    'add A 1.1.1.6 comment a"b c"d',
  ) },
  'ipset -exist restore: re-adds replace nomatch, timeout and comment; re-create with another hashsize': { exist: true, text: L(
    'create N hash:net counters comment timeout 100',
    'add N 10.0.0.0/8 packets 5 bytes 6 comment "a"',
    'add N 10.0.0.0/8 nomatch',
    'add N 10.1.0.0/16 nomatch packets 1 timeout 7',
    'add N 10.1.0.0/16 bytes 9',
    'create N hash:net counters comment timeout 100 hashsize 64 bucketsize 4',
    'del N 10.9.0.0/16',
    'create A hash:ip',
    'add A 1.1.1.1',
    'add A 1.1.1.1',
    'create B bitmap:port range 1-10',
    'create B bitmap:port range 1-10',
  ) },
  'restore syntax: comments, blank lines, leading blanks, COMMIT, command letters, a per-line -exist': { text: L(
    '# a comment',
    '',
    '   create A hash:ip',
    'add A 1.1.1.1 -exist',
    'COMMIT',
    '-N B hash:net',
    '-A B 10.0.0.0/8',
    'a B 11.0.0.0/8',
    '-D B 10.0.0.0/8',
  ) },
  'maxelem reached exactly': { text: L('create A hash:ip maxelem 4', 'add A 10.0.0.0/30') },
};

// ---------------------------------------------------------------------------
// membership

const MEMBERSHIP_SETS = L(
  'create N hash:net',
  'add N 10.0.0.0/8',
  'add N 10.1.0.0/16 nomatch',
  'add N 10.1.2.0/24',
  'add N 192.168.0.0/16',
  'add N 192.168.1.0/24 nomatch',
  'create I hash:ip',
  'add I 10.0.0.1',
  'add I 10.0.0.2',
  'create P hash:ip,port',
  'add P 10.0.0.1,tcp:80',
  'add P 10.0.0.1,udp:53',
  'add P 10.0.0.1,sctp:80',
  'create L hash:ip,port,ip',
  'add L 1.1.1.1,udp:53,2.2.2.2',
  'create IPN hash:ip,port,net',
  'add IPN 1.1.1.1,tcp:80,10.0.0.0/8',
  'add IPN 1.1.1.1,tcp:80,10.1.0.0/16 nomatch',
  'add IPN 1.1.1.1,tcp:80,10.1.2.3',
  'create B bitmap:port range 100-200',
  'add B 100',
  'add B 150',
  'add B 200',
  'create KUBE-NODE-PORT-TCP bitmap:port range 0-65535',
  'add KUBE-NODE-PORT-TCP 30080',
);

/** `ipset test` arguments after the command (set, element[, nomatch]). */
const TESTS: string[][] = [
  ...['10.0.0.1', '10.1.0.1', '10.1.2.3', '10.1.0.0/16', '10.0.0.0/8', '10.0.0.0/9', '10.1.2.0/24', '10.1.2.0/25', '10.1.2.3/32',
    '10.1.2.3/31', '11.0.0.1', '192.168.1.1', '192.168.2.1', '10.0.0.5-10.0.0.9'].map((e) => ['N', e]),
  ...['10.1.0.0/16', '10.0.0.0/8', '10.0.0.1', '10.1.0.1', '10.2.0.0/16'].map((e) => ['N', e, 'nomatch']),
  ...['10.0.0.1', '10.0.0.3', '10.0.0.2-10.0.0.9', '10.0.0.0-10.0.0.1', '10.0.0.9-10.0.0.1', '10.0.0.1/31', '10.0.0.0/31', '10.0.0.1/32',
    '1.1.1.1,80'].map((e) => ['I', e]),
  ['I', '10.0.0.1', 'nomatch'],
  ...['10.0.0.1,80', '10.0.0.1,tcp:80', '10.0.0.1,udp:80', '10.0.0.1,udp:53', '10.0.0.1,sctp:80', '10.0.0.1,udplite:80', '10.0.0.1,6:80',
    '10.0.0.1,80-81', '10.0.0.0/31,80', '10.0.0.1-10.0.0.2,80', '10.0.0.1/32,80', '10.0.0.1', '10.0.0.1,tcp:80,1.1.1.1'].map((e) => ['P', e]),
  ...['1.1.1.1,udp:53,2.2.2.2', '1.1.1.1,53,2.2.2.2', '1.1.1.1,udp:53,2.2.2.3', '1.1.1.1,udp:53,2.2.2.0/24', '1.1.1.1,udp:53'].map((e) => ['L', e]),
  ...['1.1.1.1,tcp:80,10.2.3.4', '1.1.1.1,tcp:80,10.1.3.4', '1.1.1.1,tcp:80,10.1.2.3', '1.1.1.1,80,10.0.0.0/8', '1.1.1.1,80,10.0.0.0/12',
    '1.1.1.1,80,10.1.0.0/16', '1.1.1.1,udp:80,10.2.3.4', '1.1.1.1,80,10.2.0.1-10.2.0.9', '1.1.1.1-1.1.1.3,80,10.1.1.1'].map((e) => ['IPN', e]),
  ...['1.1.1.1,80,10.1.3.4', '1.1.1.1,80,10.2.3.4', '1.1.1.1,80,10.1.0.0/16'].map((e) => ['IPN', e, 'nomatch']),
  ...['100', '99', '200', '201', '150', '151', 'udp:100', 'sctp:150', '100-101', '0', '65535'].map((e) => ['B', e]),
  ['NOPE', '1.1.1.1'],
];

type Verdict = 'in' | 'out' | 'refused';

/** Each test of 'tests' run with `ipset test` inside one shell in the namespace. */
function kernelTests(x: SyncExec, tests: string[][]): Verdict[] {
  const script = tests.map((t) => `out=$(ipset test ${t.join(' ')} 2>&1); printf '%s|%s\\n' "$?" "$(printf '%s' "$out" | head -n1)"`).join('\n');
  const lines = x(['sh', '-c', script]).stdout.trim().split('\n');
  return lines.map((l) => (l.startsWith('0|') ? 'in' : l.includes('is NOT in set') ? 'out' : 'refused'));
}

function ourTest(s: Ipsets, t: string[]): Verdict {
  try {
    return s.test(t[0]!, t[1]!, { nomatch: t[2] === 'nomatch' }) ? 'in' : 'out';
  } catch (e) {
    if (e instanceof IpsetError) return 'refused';
    throw e;
  }
}

const PROTO = { tcp: 6, udp: 17, icmp: 1, gre: 47, sctp: 132, udplite: 136 } as const;
type ProtoName = keyof typeof PROTO;

/** A `-m set` query: set, direction flags, packet `proto src:sport > dst:dport`, the options after the flags, `!`. */
interface Query { set: string; flags: MatchDir[]; pkt: string; opts: string; invert: boolean }

const Q = (set: string, flags: string, pkt: string, opts = '', invert = false): Query => ({ set, flags: flags.split(',') as MatchDir[], pkt, opts, invert });
const RN = '--return-nomatch';

const QUERIES: Query[] = [
  Q('I', 'src', 'tcp 10.0.0.1:1 > 9.9.9.9:2'), Q('I', 'dst', 'tcp 10.0.0.1:1 > 9.9.9.9:2'), Q('I', 'dst', 'icmp 9.9.9.9:0 > 10.0.0.2:0'),
  Q('N', 'dst', 'udp 9.9.9.9:1 > 10.0.0.1:2'), Q('N', 'dst', 'udp 9.9.9.9:1 > 10.1.0.1:2'), Q('N', 'dst', 'udp 9.9.9.9:1 > 10.1.2.3:2'),
  Q('N', 'dst', 'udp 9.9.9.9:1 > 11.1.1.1:2'), Q('N', 'dst', 'udp 9.9.9.9:1 > 192.168.1.1:2'), Q('N', 'src', 'udp 192.168.2.1:1 > 9.9.9.9:2'),
  Q('N', 'dst', 'udp 9.9.9.9:1 > 10.1.0.1:2', RN), Q('N', 'dst', 'udp 9.9.9.9:1 > 10.0.0.1:2', RN), Q('N', 'dst', 'udp 9.9.9.9:1 > 11.1.1.1:2', RN),
  // --return-nomatch: the most specific entry decides (10.1.2.0/24 is a member inside the nomatch 10.1.0.0/16), with `!`,
  // and on types without nomatch, where it changes nothing
  Q('N', 'dst', 'udp 9.9.9.9:1 > 10.1.2.3:2', RN), Q('N', 'dst', 'udp 9.9.9.9:1 > 192.168.1.1:2', RN), Q('N', 'src', 'udp 192.168.2.1:1 > 9.9.9.9:2', RN),
  Q('N', 'dst', 'udp 9.9.9.9:1 > 10.1.0.1:2', RN, true), Q('N', 'dst', 'udp 9.9.9.9:1 > 10.0.0.1:2', RN, true), Q('N', 'dst', 'udp 9.9.9.9:1 > 11.1.1.1:2', RN, true),
  Q('N', 'dst', 'udp 9.9.9.9:1 > 10.1.0.1:2 frag', RN), Q('N', 'dst', 'udp 9.9.9.9:1 > 10.1.0.1:2', '', true),
  Q('I', 'src', 'tcp 10.0.0.1:1 > 9.9.9.9:2', RN), Q('I', 'dst', 'tcp 10.0.0.1:1 > 9.9.9.9:2', RN), Q('P', 'dst,dst', 'tcp 9.9.9.9:1 > 10.0.0.1:80', RN),
  Q('B', 'dst', 'tcp 9.9.9.9:1 > 10.0.0.1:150', RN), Q('L', 'dst,dst,src', 'udp 2.2.2.2:9 > 1.1.1.1:53', RN),
  // counter options on sets without counters change nothing
  Q('I', 'src', 'tcp 10.0.0.1:1 > 9.9.9.9:2', '! --update-counters ! --update-subcounters --packets-gt 5 --bytes-eq 1'),
  Q('N', 'dst', 'udp 9.9.9.9:1 > 10.1.0.1:2', '--return-nomatch --packets-lt 0'),
  Q('P', 'dst,dst', 'tcp 9.9.9.9:1 > 10.0.0.1:80'), Q('P', 'dst,dst', 'udp 9.9.9.9:1 > 10.0.0.1:53'), Q('P', 'dst,dst', 'sctp 9.9.9.9:1 > 10.0.0.1:80'),
  Q('P', 'dst,dst', 'udp 9.9.9.9:1 > 10.0.0.1:80'), Q('P', 'dst,dst', 'udplite 9.9.9.9:1 > 10.0.0.1:80'), Q('P', 'dst,dst', 'icmp 9.9.9.9:0 > 10.0.0.1:0'),
  Q('P', 'dst,dst', 'gre 9.9.9.9:0 > 10.0.0.1:0'), Q('P', 'dst,src', 'tcp 9.9.9.9:80 > 10.0.0.1:1'), Q('P', 'dst', 'tcp 9.9.9.9:1 > 10.0.0.1:80'),
  Q('P', 'dst,dst,src', 'tcp 9.9.9.9:1 > 10.0.0.1:80'), Q('P', 'src,dst', 'tcp 9.9.9.9:1 > 10.0.0.1:80'),
  Q('L', 'dst,dst,src', 'udp 2.2.2.2:9 > 1.1.1.1:53'), Q('L', 'dst,dst,src', 'udp 2.2.2.3:9 > 1.1.1.1:53'), Q('L', 'dst,dst', 'udp 2.2.2.2:9 > 1.1.1.1:53'),
  Q('IPN', 'dst,dst,src', 'tcp 10.2.3.4:9 > 1.1.1.1:80'), Q('IPN', 'dst,dst,src', 'tcp 10.1.3.4:9 > 1.1.1.1:80'),
  Q('IPN', 'dst,dst,src', 'tcp 10.1.2.3:9 > 1.1.1.1:80'), Q('IPN', 'dst,dst,src', 'udp 10.2.3.4:9 > 1.1.1.1:80'),
  Q('IPN', 'dst,dst,src', 'tcp 10.1.3.4:9 > 1.1.1.1:80', RN), Q('IPN', 'dst,dst,src', 'tcp 10.2.3.4:9 > 1.1.1.1:80', RN),
  Q('IPN', 'dst,dst,src', 'tcp 10.1.2.3:9 > 1.1.1.1:80', RN), Q('IPN', 'dst,dst,src', 'udp 10.1.3.4:9 > 1.1.1.1:80', RN),
  Q('IPN', 'dst,dst', 'tcp 10.1.3.4:9 > 1.1.1.1:80', RN), Q('IPN', 'dst,dst,src', 'tcp 10.1.3.4:9 > 1.1.1.1:80 frag', RN),
  Q('IPN', 'dst,dst,src', 'tcp 10.1.3.4:9 > 1.1.1.1:80', RN, true),
  ...[100, 150, 200, 99, 201, 151].map((p) => Q('B', 'dst', `tcp 9.9.9.9:1 > 10.0.0.1:${p}`)),
  Q('B', 'dst', 'udp 9.9.9.9:1 > 10.0.0.1:150'), Q('B', 'dst', 'sctp 9.9.9.9:1 > 10.0.0.1:150'), Q('B', 'dst', 'udplite 9.9.9.9:1 > 10.0.0.1:150'),
  Q('B', 'src', 'tcp 9.9.9.9:150 > 10.0.0.1:1'), Q('B', 'dst', 'icmp 9.9.9.9:0 > 10.0.0.1:0'),
  Q('KUBE-NODE-PORT-TCP', 'dst', 'tcp 192.0.2.9:40000 > 192.0.2.1:30080'), Q('KUBE-NODE-PORT-TCP', 'dst', 'tcp 192.0.2.9:40000 > 192.0.2.1:30081'),
  // later fragments (offset > 0): no ports to read
  Q('KUBE-NODE-PORT-TCP', 'dst', 'tcp 192.0.2.9:40000 > 192.0.2.1:30080 frag'), Q('P', 'dst,dst', 'tcp 9.9.9.9:1 > 10.0.0.1:80 frag'),
  Q('P', 'dst,dst', 'gre 9.9.9.9:0 > 10.0.0.1:0 frag'), Q('I', 'dst', 'tcp 9.9.9.9:1 > 10.0.0.1:80 frag'),
  Q('N', 'dst', 'udp 9.9.9.9:1 > 10.0.0.1:2 frag'), Q('IPN', 'dst,dst,src', 'tcp 10.2.3.4:9 > 1.1.1.1:80 frag'),
];

/** `proto src:sport > dst:dport [frag]` ('frag': a later fragment, offset 1480). */
function parsePkt(s: string): { p: IpsetPacket; wire: (string | number)[] } {
  const m = /^(\w+) ([\d.]+):(\d+) > ([\d.]+):(\d+)( frag)?$/.exec(s)!;
  const proto = PROTO[m[1] as ProtoName];
  const p = { src: parseIpv4(m[2]!)!, sport: Number(m[3]), dst: parseIpv4(m[4]!)!, dport: Number(m[5]), proto, fragment: m[6] !== undefined };
  return { p, wire: [proto, m[2]!, p.sport, m[4]!, p.dport, p.fragment ? 185 : 0] };
}

/** Python that writes each [proto, src, sport, dst, dport, fragment offset / 8, total length] as a raw IPv4 packet (IP_HDRINCL). */
const SENDER = `
import json, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
for proto, src, sport, dst, dport, frag, total in json.load(sys.stdin):
    if proto == 6: l4 = struct.pack('!HHIIBBHHH', sport, dport, 0, 0, 0x50, 2, 8192, 0, 0)
    elif proto in (17, 136): l4 = struct.pack('!HHHH', sport, dport, 8, 0)
    elif proto == 132: l4 = struct.pack('!HHII', sport, dport, 0, 0)
    elif proto == 1: l4 = struct.pack('!BBHHH', 8, 0, 0, 0, 0)
    else: l4 = struct.pack('!HH', 0, 0x0800)
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, total, 0, frag, 64, proto, 0, socket.inet_aton(src), socket.inet_aton(dst))
    s.sendto(ip + l4 + bytes(total - 20 - len(l4)), (dst, 0))
`;

/** The namespace's one link: v0 192.0.2.1/24, default route via a neighbour that never answers (packets only leave). */
function routerSetup(x: SyncExec): void {
  for (const c of [['ip', 'link', 'set', 'lo', 'up'], ['ip', 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1'], ['ip', 'link', 'set', 'v0', 'up'],
    ['ip', 'link', 'set', 'v1', 'up'], ['ip', 'addr', 'add', '192.0.2.1/24', 'dev', 'v0'], ['ip', 'route', 'add', 'default', 'via', '192.0.2.2'],
    ['ip', 'neigh', 'replace', '192.0.2.2', 'lladdr', '02:00:00:00:00:02', 'nud', 'permanent', 'dev', 'v0']]) {
    const r = x(c);
    expect(r.status, `${c.join(' ')}: ${r.stderr}`).toBe(0);
  }
}

/** The same node for NfStack. */
const ROUTER_HOST = L(
  'interfaces:',
  '  - { name: v0, addresses: [192.0.2.1/24] }',
  'routes:',
  '  - { dst: default, via: 192.0.2.2, dev: v0 }',
);

/** 'p' as the rules of filter OUTPUT see the packet of total length 'length' leaving by v0. */
function nfPacket(p: IpsetPacket, length: number): NfPacket {
  return { src: p.src, dst: p.dst, proto: p.proto, sport: p.sport, dport: p.dport, tcpFlags: p.proto === 6 ? 2 : 0, fragment: p.fragment === true, length,
    inIface: null, outIface: 'v0', mark: 0, ctStates: new Set(), ctMark: 0, physIn: null, physOut: null, bridged: false };
}

/** A UDP frame of IP total length 'total' with the addresses and ports of 'p'. */
function udpFrame(p: IpsetPacket, total: number): Uint8Array {
  return new FrameBuilder().eth({}).ipv4({ src: p.src, dst: p.dst, ttl: 64, ident: 0 }).udp({ srcPort: p.sport, dstPort: p.dport })
    .payload(new Uint8Array(total - 28)).build();
}

/** Sets with counters (and one without) for the counters case. */
const COUNTER_SETS = L(
  'create A hash:ip', 'add A 10.0.0.1',
  'create C hash:ip counters', 'add C 10.0.0.1',
  'create N hash:net counters', 'add N 10.0.0.0/8', 'add N 10.1.0.0/16 nomatch', 'add N 10.1.2.0/24 packets 10',
  'create B bitmap:port range 1-100 counters', 'add B 53',
  'create B2 bitmap:port range 1-100 counters', 'add B2 53',
  'create B3 bitmap:port range 1-100 counters', 'add B3 53',
  'create IPN hash:ip,port,net counters', 'add IPN 10.0.0.1,udp:53,192.0.2.0/24', 'add IPN 10.0.0.1,udp:53,192.0.2.1 nomatch packets 2',
  'create LB hash:ip,port,ip counters', 'add LB 10.0.0.1,udp:53,192.0.2.1 bytes 100',
);

/**
 * Rules without targets, so every packet is checked by every rule in order.
 * Counting happens before the conditions (C, B), a member failing them is
 * passed over and a net walk goes on (N, IPN), `! --update-counters` only
 * reads, and a match after `-m set` that fails does not undo its counting
 * while one before it keeps the set from being looked at (B2, B3).
 */
const COUNTER_RULES = L(
  '*filter',
  ':INPUT ACCEPT [0:0]',
  ':FORWARD ACCEPT [0:0]',
  ':OUTPUT ACCEPT [0:0]',
  '-A OUTPUT -d 10.0.0.1/32 -m set --match-set A dst --packets-gt 5',
  '-A OUTPUT -m set --match-set C dst --packets-lt 3',
  '-A OUTPUT -m set --match-set C dst ! --update-counters --packets-eq 2',
  '-A OUTPUT -m set --match-set N dst --packets-lt 2',
  '-A OUTPUT -m set --match-set N dst --return-nomatch --packets-lt 2',
  '-A OUTPUT -m set ! --match-set N dst --packets-gt 3',
  '-A OUTPUT -m set --match-set N dst ! --update-counters ! --bytes-eq 0x1f8',
  '-A OUTPUT -m set --match-set B dst --bytes-gt 100',
  '-A OUTPUT -p udp -m set --match-set B2 dst -m udp --dport 54',
  '-A OUTPUT -p udp -m udp --dport 54 -m set --match-set B3 dst',
  '-A OUTPUT -m set --match-set IPN dst,dst,src --return-nomatch --packets-gt 3',
  '-A OUTPUT -m set --match-set IPN dst,dst,src --bytes-lt 300 ! --update-subcounters',
  '-A OUTPUT -m set --match-set LB dst,dst,src --bytes-gt 200 --packets-lt 4',
  'COMMIT',
);

/** [packet, IP total length], sent in this order. */
const COUNTER_PACKETS: [string, number][] = [
  ['udp 192.0.2.1:1 > 10.0.0.1:53', 60], ['udp 192.0.2.1:1 > 10.0.0.1:53', 61], ['udp 192.0.2.1:1 > 10.1.0.1:53', 62],
  ['udp 192.0.2.1:1 > 10.1.0.1:53', 63], ['udp 192.0.2.1:1 > 10.1.2.1:53', 64], ['udp 192.0.2.1:1 > 10.0.0.1:53', 65],
  ['udp 192.0.2.1:1 > 10.0.0.1:53', 66], ['udp 192.0.2.1:1 > 10.0.0.1:54', 67], ['udp 192.0.2.1:1 > 10.0.0.1:53', 68],
];

// ---------------------------------------------------------------------------
// iptables -m set

const IPT_SETS = L(
  'create A hash:ip', 'create P hash:ip,port', 'create L hash:ip,port,ip', 'create B bitmap:port range 0-65535',
  'create ThisNameIsExactly31CharactersXX hash:net',
  'create KUBE-LOOP-BACK hash:ip,port,ip', 'create KUBE-CLUSTER-IP hash:ip,port', 'create KUBE-LOAD-BALANCER hash:ip,port',
  'create KUBE-LOAD-BALANCER-LOCAL hash:ip,port', 'create KUBE-LOAD-BALANCER-FW hash:ip,port', 'create KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net',
  'create KUBE-LOAD-BALANCER-SOURCE-IP hash:ip,port,ip', 'create KUBE-NODE-PORT-TCP bitmap:port range 0-65535',
  'create KUBE-NODE-PORT-LOCAL-TCP bitmap:port range 0-65535', 'create KUBE-NODE-PORT-SCTP-HASH hash:ip,port',
);

/** `-m set` rules as users write them and as kube-proxy's ipvs mode writes them (proxier.go ipsetWithIptablesChain). */
const IPT_RULES = L(
  '*nat',
  ':PREROUTING ACCEPT [0:0]',
  ':INPUT ACCEPT [0:0]',
  ':OUTPUT ACCEPT [0:0]',
  ':POSTROUTING ACCEPT [0:0]',
  ':KUBE-SERVICES - [0:0]',
  ':KUBE-POSTROUTING - [0:0]',
  ':KUBE-NODE-PORT - [0:0]',
  ':KUBE-LOAD-BALANCER - [0:0]',
  ':KUBE-MARK-MASQ - [0:0]',
  '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
  '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
  '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
  '-A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE',
  '-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000',
  '-A KUBE-SERVICES -m comment --comment "Kubernetes service lb portal" -m set --match-set KUBE-LOAD-BALANCER dst,dst -j KUBE-LOAD-BALANCER',
  '-A KUBE-SERVICES ! -s 10.244.0.0/16 -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ',
  '-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT',
  '-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT',
  '-A KUBE-LOAD-BALANCER -m comment --comment "Kubernetes service load balancer ip + port with externalTrafficPolicy=local" -m set --match-set KUBE-LOAD-BALANCER-LOCAL dst,dst -j RETURN',
  '-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ',
  '-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port with externalTrafficPolicy=local" -m set --match-set KUBE-NODE-PORT-LOCAL-TCP dst -j RETURN',
  '-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ',
  '-A KUBE-NODE-PORT -p sctp -m comment --comment "Kubernetes nodeport SCTP port for masquerade purpose with type \'hash ip:port\'" -m set --match-set KUBE-NODE-PORT-SCTP-HASH dst,dst -j KUBE-MARK-MASQ',
  'COMMIT',
  '*filter',
  ':INPUT ACCEPT [0:0]',
  ':FORWARD ACCEPT [0:0]',
  ':OUTPUT ACCEPT [0:0]',
  ':KUBE-PROXY-FIREWALL - [0:0]',
  ':KUBE-SOURCE-RANGES-FIREWALL - [0:0]',
  '-A INPUT -m set --match-set A src -j ACCEPT',
  '-A INPUT -m set ! --match-set A dst -j DROP',
  '-A INPUT -m set --set A src -j ACCEPT',
  '-A INPUT -m set --match-set P dst,dst -j ACCEPT',
  '-A INPUT -m set --match-set L dst,dst,src -j ACCEPT',
  '-A INPUT -m set --match-set B dst -m set --match-set A src -j ACCEPT',
  '-A INPUT -m set --match-set A src,dst,src,dst,src,dst -j ACCEPT',
  '-A INPUT -p tcp -m set --match-set P dst,dst -m comment --comment "set then comment" -j REJECT --reject-with tcp-reset',
  '-A FORWARD -m set --match-set A srcx,dstfoo -j ACCEPT',
  '-A OUTPUT -m set --match-set ThisNameIsExactly31CharactersXX dst -j ACCEPT',
  '-A KUBE-PROXY-FIREWALL -m comment --comment "Kubernetes service load balancer ip + port for load balancer with sourceRange" -m set --match-set KUBE-LOAD-BALANCER-FW dst,dst -j KUBE-SOURCE-RANGES-FIREWALL',
  '-A KUBE-SOURCE-RANGES-FIREWALL -m comment --comment "Kubernetes service load balancer ip + port + source cidr for packet filter purpose" -m set --match-set KUBE-LOAD-BALANCER-SOURCE-CIDR dst,dst,src -j RETURN',
  '-A KUBE-SOURCE-RANGES-FIREWALL -m comment --comment "Kubernetes service load balancer ip + port + source IP for packet filter purpose" -m set --match-set KUBE-LOAD-BALANCER-SOURCE-IP dst,dst,src -j RETURN',
  '-A KUBE-SOURCE-RANGES-FIREWALL -j DROP',
  // the options after --match-set, printed in libxt_set's fixed order whatever order they came in
  '-A OUTPUT -m set --match-set A src --return-nomatch -j ACCEPT',
  '-A OUTPUT -m set --match-set A src ! --update-counters',
  '-A OUTPUT -m set --match-set A src --update-counters',
  '-A OUTPUT -m set --match-set A src ! --update-subcounters --update-subcounters',
  '-A OUTPUT -m set --match-set A src ! --packets-eq 5 --bytes-gt 0',
  '-A OUTPUT -m set --match-set A src --packets-lt 0x10 --bytes-eq 010',
  '-A OUTPUT -m set --match-set A src --bytes-lt 18446744073709551615 --packets-gt +7',
  '-A OUTPUT -m set ! --match-set P dst,dst --return-nomatch ! --update-counters ! --update-subcounters ! --packets-eq 3 ! --bytes-eq 7 -j DROP',
  '-A OUTPUT -m set --bytes-gt 7 --packets-lt 2 ! --update-subcounters --return-nomatch --match-set A src,dst -j ACCEPT',
  '-A OUTPUT -m set --match-set A src --return-nomatch --return-nomatch ! --update-counters --update-counters ! --update-counters',
  '-A OUTPUT -m set --packets-gt 0 --match-set A dst -m set --bytes-lt 1 --match-set L dst,dst,src --return-nomatch',
  '-A OUTPUT -m set --match-set A dst --packets-eq 0 --bytes-eq 0 -m comment --comment "after the set"',
  'COMMIT',
);

/** Bad `-m set` rules (line 3 of a filter block). */
const IPT_BAD: Record<string, string> = {
  'more than 6 direction flags': '-m set --match-set A src,dst,src,dst,src,dst,src',
  'flags missing (the next word is an option)': '-m set --match-set A -j ACCEPT',
  'flags missing at the end of the rule': '-m set --match-set A',
  '--match-set twice': '-m set --match-set A src --match-set A dst',
  '-m set without --match-set': '-m set -j ACCEPT',
  'a flag that is neither src nor dst': '-m set --match-set A SRC',
  'an empty flag': '-m set --match-set A src,',
  'a set name longer than 31 characters': '-m set --match-set ThisNameIsLongerThan31Characters1 src',
  'inverted flags': '-m set --match-set A ! src',
  '--return-nomatch inverted': '-m set --match-set A src ! --return-nomatch',
  '--return-nomatch without --match-set': '-m set --return-nomatch -j ACCEPT',
  'counter options without --match-set': '-m set ! --update-counters --packets-gt 1',
  '--return-nomatch before -m set': '--return-nomatch -m set --match-set A src',
  '--packets-gt inverted': '-m set --match-set A src ! --packets-gt 5',
  '--packets-lt inverted': '-m set --match-set A src ! --packets-lt 5',
  '--bytes-gt inverted': '-m set --match-set A src ! --bytes-gt 5',
  '--bytes-lt inverted': '-m set --match-set A src ! --bytes-lt 5',
  'two packet conditions': '-m set --match-set A src --packets-gt 5 --packets-lt 9',
  'a packet condition twice': '-m set --match-set A src --packets-eq 5 ! --packets-eq 6',
  'two byte conditions': '-m set --match-set A src --bytes-lt 5 --bytes-gt 1',
  'a counter past 2^64-1': '-m set --match-set A src --bytes-eq 18446744073709551616',
  'a negative counter': '-m set --match-set A src --packets-eq -1',
  'a counter with trailing text': '-m set --match-set A src --packets-eq 5x',
  'a counter of 8 in octal': '-m set --match-set A src --packets-eq 08',
  'a counter of bare 0x': '-m set --match-set A src --bytes-eq 0x',
  'a counter with a trailing blank': '-m set --match-set A src --bytes-eq "5 "',
  'a counter that is a blank and a minus': '-m set --match-set A src --bytes-eq " -5"',
  'a counter that is an option': '-m set --match-set A src --packets-lt -j ACCEPT',
  'a counter missing at the end': '-m set --match-set A src --packets-lt',
  '--update-counters with an argument': '-m set --match-set A src --update-counters 5',
};

/** Rules the kernel takes, with options or values at the edges of what libxt_set parses. */
const IPT_EDGE: string[] = [
  '-m set --match-set A src --bytes-eq " 5"',
  '-m set --match-set A src --bytes-eq " +0x1F"',
  '-m set --match-set A src --packets-eq 0',
  '-m set --match-set A src --packets-eq 00',
  '-m set --match-set A src --packets-eq 0XfF',
  '-m set --packets-eq 1 --set A src --return-nomatch',
];

const normaliseIptables = (s: string): string => s.replace(/^# (Generated by iptables-save v[\d.]+ \(nf_tables\)|Completed) on .*$/gm, '# $1 on DATE');

// ---------------------------------------------------------------------------
// bad ipset input

/** [restore text, the line that fails] (with the global -exist when a third element is true). */
const BAD: Record<string, [string, number, boolean?]> = {
  'add to a set that does not exist': [L('add NOPE 1.1.1.1'), 1],
  'an address that does not parse': [L('create A hash:ip', 'add A 1.1.1.1', 'add A 1.1.1.300', 'add A 1.1.1.2'), 3],
  'an unknown type': [L('create A hash:ip', 'create B hash:foo'), 2],
  'a number that does not parse': [L('create A hash:ip hashsize x'), 1],
  'bucketsize out of range': [L('create A hash:ip bucketsize 256'), 1],
  'maxelem out of range': [L('create A hash:ip maxelem 4294967296'), 1],
  'timeout out of range': [L('create A hash:ip timeout 2147484'), 1],
  'hashsize too large to allocate': [L('create A hash:ip', 'create B hash:ip hashsize 2147483648'), 2],
  'an option given twice': [L('create A hash:ip timeout 5 timeout 6'), 1],
  'an unknown create argument (usage error, no line printed)': [L('create A hash:ip', 'create B hash:ip bogus'), 2],
  'a create option of the other kind of set': [L('create A bitmap:port range 1-2 hashsize 64'), 1],
  'an option value missing': [L('create A hash:ip', 'create B hash:ip hashsize'), 2],
  'bitmap:port without range': [L('create B bitmap:port'), 1],
  'bitmap:port range without its end': [L('create A hash:ip', 'create B bitmap:port range 5'), 2],
  'bitmap:port range past 65535': [L('create B bitmap:port range 1-70000'), 1],
  'an unknown family': [L('create A hash:ip family foo'), 1],
  'a set name longer than 31 characters': [L('create ThisNameIsLongerThan31Characters1 hash:ip'), 1],
  'create of an existing set': [L('create A hash:ip', 'create A hash:ip'), 2],
  '-exist create of an existing set with another maxelem': [L('create A hash:ip', 'create A hash:ip maxelem 5'), 2, true],
  '-exist create of an existing set with other extensions': [L('create A hash:ip timeout 5', 'create A hash:ip timeout 5 comment'), 2, true],
  '-exist create of an existing set of another type': [L('create A hash:ip', 'create A hash:net'), 2, true],
  'create without a name': [L('create A hash:ip', 'create'), 2],
  'create without a type': [L('create A'), 1],
  'add without an element': [L('create A hash:ip', 'add A'), 2],
  'an unknown command': [L('create A hash:ip', 'frobnicate A'), 2],
  'an element already added': [L('create A hash:ip', 'add A 1.1.1.1', 'add A 1.1.1.1'), 3],
  'a per-line -exist does not excuse a re-add': [L('create A hash:ip', 'add A 1.1.1.1', 'add A 1.1.1.1 -exist'), 3],
  'a range reaching an element already added (the ones before stay)': [L('create A hash:ip', 'add A 10.0.0.3', 'add A 10.0.0.1-10.0.0.5'), 3],
  'del of an element not added': [L('create A hash:ip', 'del A 1.1.1.1'), 2],
  'test of an element not in the set': [L('create A hash:ip', 'add A 1.1.1.1', 'test A 2.2.2.2', 'add A 3.3.3.3'), 3],
  'comment on a set without comment support': [L('create A hash:ip', 'add A 1.1.1.1 comment "x"'), 2],
  'timeout on a set without timeout support': [L('create A hash:ip', 'add A 1.1.1.1 timeout 5'), 2],
  'counters on a set without counter support': [L('create A hash:ip', 'add A 1.1.1.1 packets 5'), 2],
  'a comment longer than 255 characters': [L('create A hash:ip comment', `add A 1.1.1.1 comment "${COMMENT_255}c"`), 2],
  'an empty comment': [L('create A hash:ip comment', 'add A 1.1.1.1 comment ""'), 2],
  'an unterminated quote': [L('create A hash:ip comment', 'add A 1.1.1.1 comment "unterminated'), 2],
  'a stray quote in a comment': [L('create A hash:ip comment', 'add A 1.1.1.1 comment "a"b"'), 2],
  'nomatch on hash:ip': [L('create A hash:ip', 'add A 1.1.1.1 nomatch'), 2],
  'nomatch on del': [L('create N hash:net', 'add N 10.0.0.0/8 nomatch', 'del N 10.0.0.0/8 nomatch'), 3],
  'an unknown member argument': [L('create A hash:ip', 'add A 1.1.1.1 bogus'), 2],
  'an unknown protocol': [L('create A hash:ip,port', 'add A 1.1.1.1,icmpx:3'), 2],
  'a port past 65535': [L('create A hash:ip,port', 'add A 1.1.1.1,tcp:70000'), 2],
  'an empty port': [L('create A hash:ip,port', 'add A 1.1.1.1,tcp:'), 2],
  'the second element missing': [L('create A hash:ip,port', 'add A 1.1.1.1'), 2],
  'the third element missing': [L('create A hash:ip,port,ip', 'add A 1.1.1.1,80'), 2],
  'an element separator hash:ip does not have': [L('create A hash:ip', 'add A 1.1.1.1,80'), 2],
  'one element too many': [L('create A hash:ip,port', 'add A 1.1.1.1,80,2.2.2.2'), 2],
  'a net where hash:ip,port,ip wants a plain address': [L('create A hash:ip,port,ip', 'add A 1.1.1.1,80,2.2.2.0/24'), 2],
  'a range where hash:ip,port,ip wants a plain address': [L('create A hash:ip,port,ip', 'add A 1.1.1.1,80,2.2.2.2-2.2.2.3'), 2],
  'hash:net /0': [L('create A hash:net', 'add A 10.0.0.0/0'), 2],
  'hash:net /33': [L('create A hash:net', 'add A 10.0.0.0/33'), 2],
  'hash:net with an empty prefix length': [L('create A hash:net', 'add A 10.0.0.0/'), 2],
  'hash:ip 0.0.0.0': [L('create A hash:ip', 'add A 0.0.0.0'), 2],
  'hash:ip,port 0.0.0.0': [L('create A hash:ip,port', 'add A 0.0.0.0,80'), 2],
  'bitmap:port below its range': [L('create A bitmap:port range 10-20', 'add A 9'), 2],
  'bitmap:port range partly outside (nothing added)': [L('create A bitmap:port range 10-20', 'add A 5-15'), 2],
  'maxelem reached inside a range (the elements before stay)': [L('create A hash:ip maxelem 3', 'add A 10.0.0.1', 'add A 10.0.1.0-10.0.1.5'), 3],
  'maxelem 0': [L('create A hash:ip maxelem 0', 'add A 1.1.1.1'), 2],
  // ipset 7.17 sends consecutive add (or del) lines of one set as one batch (see Ipsets.restore)
  'a syntax error drops the unsent batch of its set': [L('create A hash:ip', 'add A 1.1.1.1', 'add A 1.1.1.2', 'add A 1.1.1.300'), 4],
  'a batch is sent when the set changes': [L('create A hash:ip', 'create B hash:ip', 'add A 1.1.1.1', 'add B 2.2.2.2', 'add B 2.2.2.300'), 5],
  'a batch is sent when the command changes': [L('create A hash:ip', 'add A 1.1.1.1', 'add A 1.1.1.2', 'del A 1.1.1.2', 'add A 1.1.1.300'), 5],
  'an add to an unknown set drops the pending batch': [L('create A hash:ip', 'add A 1.1.1.1', 'add NOPE 1.1.1.2'), 3],
  'a create with a syntax error drops the pending batch': [L('create A hash:ip', 'add A 1.1.1.1', 'create B hash:foo'), 3],
  'a usage error drops the pending batch': [L('create A hash:ip', 'add A 1.1.1.1', 'create B hash:ip bogus'), 3],
  'a kernel error is reported when its batch is sent, with the elements before it applied':
    [L('create A hash:ip', 'add A 1.1.1.1', 'add A 1.1.1.1', 'add A 1.1.1.2', 'create B hash:ip'), 3],
  'a syntax error later in the batch wins over its kernel error': [L('create A hash:ip', 'add A 1.1.1.1', 'add A 1.1.1.1', 'add A 1.1.1.2', 'add A 1.1.1.300'), 5],
  'a kernel error at the end of the input': [L('create A hash:ip', 'add A 1.1.1.1', 'add A 1.1.1.2 timeout 5', 'add A 1.1.1.3'), 3],
  'a failing flush after a batch keeps the batch': [L('create A hash:ip', 'add A 1.1.1.1', 'flush X'), 3],
  'swap of sets of different types': [L('create A hash:ip', 'create B hash:net', 'swap A B'), 3],
  'swap with a set that does not exist': [L('create A hash:ip', 'swap A X'), 2],
  'rename onto an existing name': [L('create A hash:ip', 'create B hash:ip', 'rename A B'), 3],
  'destroy of a set that does not exist': [L('create A hash:ip', 'destroy X'), 2],
  'flush of a set that does not exist': [L('create A hash:ip', 'flush X'), 2],
};

/** Inputs the kernel takes that sdnemu refuses as unsupported (documented in ipset.ts). */
const UNSUPPORTED: Record<string, string> = {
  'family inet6': L('create A hash:ip family inet6'),
  'hash:net,port': L('create A hash:net,port'),
  'list:set': L('create A list:set'),
  'an ICMP member': L('create A hash:ip,port', 'add A 1.1.1.1,icmp:ping'),
  'a protocol by number without ports': L('create A hash:ip,port', 'add A 1.1.1.1,47:0'),
  'a service name': L('create A hash:ip,port', 'add A 1.1.1.1,tcp:http'),
  'skbinfo': L('create A hash:ip skbinfo'),
};

// ---------------------------------------------------------------------------

describeIpset('ipset (Linux ip_set, ipset 7.17) vs ipset.ts', () => {
  describe('ipset save after ipset restore', () => {
    for (const [name, { text, exist = false }] of Object.entries(SAVE)) {
      it(name, () => {
        const k = kernelRestore(text, exist);
        expect(k.status, `kernel refused: ${k.stderr}`).toBe(0);
        const o = oursRestore(text, exist);
        expect(o.error).toBeNull();
        const [kernel, ours] = comparable(text, k.save, o.save);
        expect(ours).toBe(kernel);
      });
    }
  });

  it('ipset test: in, NOT in, or refused, as the kernel answers', () => {
    const kernel = inNamespace((x) => {
      expect(x(['ipset', 'restore'], MEMBERSHIP_SETS).status).toBe(0);
      return kernelTests(x, TESTS);
    });
    const s = new Ipsets();
    s.restore(MEMBERSHIP_SETS);
    const show = (v: Verdict[]): string[] => TESTS.map((t, i) => `${t.join(' ')} → ${v[i]}`);
    expect(show(TESTS.map((t) => ourTest(s, t)))).toEqual(show(kernel));
  });

  it('packets through -m set rules match as the same rules in the Evaluator say', () => {
    const s = new Ipsets();
    s.restore(MEMBERSHIP_SETS);
    // one packet per distinct description, told apart by its total length
    const pkts = [...new Set(QUERIES.map((q) => q.pkt))];
    const len = (pkt: string): number => 100 + pkts.indexOf(pkt);
    const setMatch = (q: Query): string => `-m set${q.invert ? ' !' : ''} --match-set ${q.set} ${q.flags.join(',')}${q.opts === '' ? '' : ' ' + q.opts}`;
    const rules = L('*filter', ...QUERIES.map((q) => `-A OUTPUT -m length --length ${len(q.pkt)} ${setMatch(q)}`), 'COMMIT');
    const wire = pkts.map((d) => [...parsePkt(d).wire, len(d)]);
    const counts = inNamespace((x) => {
      routerSetup(x);
      expect(x(['ipset', 'restore'], MEMBERSHIP_SETS).status).toBe(0);
      const ir = x(['iptables-restore'], rules);
      expect(ir.status, ir.stderr).toBe(0);
      const sent = x([SYSTEM_PYTHON, '-c', SENDER], JSON.stringify(wire));
      expect(sent.status, sent.stderr).toBe(0);
      return [...x(['iptables-save', '-c', '-t', 'filter']).stdout.matchAll(/^\[(\d+):\d+\] -A OUTPUT /gm)].map((m) => Number(m[1]));
    });
    expect(counts).toHaveLength(QUERIES.length);
    // ours: the -m set part alone, read by parseRestore and matched by the Evaluator against our sets (as NfStack wires it)
    const ev = new Evaluator(new Ruleset(), { addrType: () => 'UNICAST', setMatches: (name, flags, p, m) => s.matches(name, flags, p, m) });
    const ours = QUERIES.map((q) => {
      const rule = parseRestore(L('*filter', `-A OUTPUT ${setMatch(q)}`, 'COMMIT')).chain('filter', 'OUTPUT')!.rules[0]!;
      return ev.matches(rule, nfPacket(parsePkt(q.pkt).p, len(q.pkt)));
    });
    const show = (q: Query, hit: boolean): string => `${setMatch(q)} ${q.pkt} → ${hit}`;
    expect(QUERIES.map((q, i) => show(q, ours[i]!))).toEqual(QUERIES.map((q, i) => show(q, counts[i]! > 0)));
  });

  it('counters: packets in order through rules with counter options, NfStack.send() vs the kernel (rule counters, ipset save)', () => {
    const kernel = inNamespace((x) => {
      routerSetup(x);
      expect(x(['ipset', 'restore'], COUNTER_SETS).status).toBe(0);
      const ir = x(['iptables-restore'], COUNTER_RULES);
      expect(ir.status, ir.stderr).toBe(0);
      const sent = x([SYSTEM_PYTHON, '-c', SENDER], JSON.stringify(COUNTER_PACKETS.map((d) => [...parsePkt(d[0]).wire, d[1]])));
      expect(sent.status, sent.stderr).toBe(0);
      return { rules: x(['iptables-save', '-c', '-t', 'filter']).stdout, sets: x(['ipset', 'save']).stdout };
    });
    const sets = new Ipsets();
    sets.restore(COUNTER_SETS);
    const rs = parseRestore(COUNTER_RULES);
    const stack = new NfStack(rs, parseHost(ROUTER_HOST), { ipsets: sets });
    COUNTER_PACKETS.forEach(([d, total], i) => {
      const { p } = parsePkt(d);
      const r = stack.send(udpFrame(p, total), i * 1000);
      expect(r.path, d).toBe('out');
    });
    const ruleLines = (t: string): string[] => t.split('\n').filter((l) => l.includes('-A OUTPUT'));
    expect(ruleLines(formatSave(rs, { counters: true }))).toEqual(ruleLines(kernel.rules));
    const [k, o] = comparable(COUNTER_SETS, kernel.sets, sets.save());
    expect(o).toBe(k);
  });

  describe('iptables -m set', () => {
    it('iptables-save of -m set rules equals formatSave(parseRestore())', () => {
      const kernel = inNamespace((x) => {
        expect(x(['ipset', 'restore'], IPT_SETS).status).toBe(0);
        const r = x(['iptables-restore'], IPT_RULES);
        expect(r.status, r.stderr).toBe(0);
        return x(['iptables-save']).stdout;
      });
      expect(normaliseIptables(formatSave(parseRestore(IPT_RULES)))).toBe(normaliseIptables(kernel));
    });

    it('bad -m set rules are refused on the same line, in the same words', () => {
      const cases = Object.entries(IPT_BAD);
      const kernel = inNamespace((x) => {
        expect(x(['ipset', 'restore'], IPT_SETS).status).toBe(0);
        return cases.map(([, rule]) => {
          const r = x(['iptables-restore'], L('*filter', ':INPUT ACCEPT [0:0]', `-A INPUT ${rule}`, 'COMMIT'));
          const m = /line:? (\d+)/.exec(r.stderr);
          const words = (r.stderr.split('\n')[0] ?? '').replace(/^iptables-restore v[\d.]+ \(nf_tables\): /, '');
          return `${r.status === 0 ? 'accepted' : 'refused'} at ${m ? m[1] : '-'}${r.status === 0 ? '' : `: ${words}`}`;
        });
      });
      const ours = cases.map(([, rule]) => {
        try { parseRestore(L('*filter', ':INPUT ACCEPT [0:0]', `-A INPUT ${rule}`, 'COMMIT')); return 'accepted at -'; } catch (e) {
          if (!(e instanceof IptablesRestoreError)) throw e;
          return `refused at ${e.line}: ${e.message.replace(/^line \d+: /, '')}`;
        }
      });
      expect(cases.map(([n], i) => `${n}: ${ours[i]}`)).toEqual(cases.map(([n], i) => `${n}: ${kernel[i]}`));
    });

    it('-m set options at the edges of what libxt_set parses print as iptables-save prints them', () => {
      const rules = L('*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ...IPT_EDGE.map((r) => `-A INPUT ${r}`), 'COMMIT');
      const kernel = inNamespace((x) => {
        expect(x(['ipset', 'restore'], IPT_SETS).status).toBe(0);
        const r = x(['iptables-restore'], rules);
        expect(r.status, r.stderr).toBe(0);
        return x(['iptables-save', '-t', 'filter']).stdout;
      });
      expect(normaliseIptables(formatSave(parseRestore(rules), { tables: ['filter'] }))).toBe(normaliseIptables(kernel));
    });

    it('a rule naming a set that does not exist: the kernel refuses it, parseRestore cannot know (stack.ts checks)', () => {
      const rules = L('*filter', ':INPUT ACCEPT [0:0]', '-A INPUT -m set --match-set NOPE src -j ACCEPT', 'COMMIT');
      const k = inNamespace((x) => x(['iptables-restore'], rules));
      expect(k.status).not.toBe(0);
      expect(k.stderr).toMatch(/Set NOPE doesn't exist[\s\S]*line:? 3/);
      expect(() => parseRestore(rules)).not.toThrow();
    });
  });

  describe('refused ipset restore input: same line, same sets left', () => {
    for (const [name, [text, line, exist = false]] of Object.entries(BAD)) {
      it(name, () => {
        const k = kernelRestore(text, exist);
        expect(k.status, 'the kernel tool accepted it').not.toBe(0);
        const kLine = /Error in line (\d+)/.exec(k.stderr);
        if (kLine) expect(Number(kLine[1]), k.stderr).toBe(line);
        const o = oursRestore(text, exist);
        expect(o.error).toBeInstanceOf(IpsetError);
        expect((o.error as IpsetError).line, `ours: ${(o.error as Error).message}; kernel: ${k.stderr}`).toBe(line);
        const [kernel, ours] = comparable(text, k.save, o.save);
        expect(ours).toBe(kernel);
      });
    }
  });

  it('inputs the kernel takes and sdnemu refuses as unsupported', () => {
    for (const [name, text] of Object.entries(UNSUPPORTED)) {
      const k = kernelRestore(text, false);
      expect(k.status, `${name}: ${k.stderr}`).toBe(0);
      const o = oursRestore(text, false);
      expect(o.error, name).toBeInstanceOf(IpsetError);
      expect((o.error as IpsetError).code, name).toBe('IPSET_UNSUPPORTED');
    }
  });
});
