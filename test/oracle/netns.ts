/**
 * The Linux kernel as a netfilter oracle: a packet scenario run through a real router
 * namespace (test oracle for issue 5, not part of src/).
 *
 * What: `runKernelScenario(host, rules, packets)` builds a throw-away router from a
 * `HostConfig` (the same host file `sdnemu iptables-trace --host` takes), loads `rules` with
 * iptables-restore, injects each `KernelPacket` as a real Ethernet frame on the router
 * interface it names — or has the router itself send a `LocalKernelPacket` (`from: 'local'`,
 * the OUTPUT path; see "Local packets") — and reports per packet what the router transmitted on
 * every interface (the forwarded packet after NAT, or the ICMP error / TCP RST sent back) and
 * its conntrack table afterwards. The emulator's evaluator is compared with exactly this.
 *
 * Topology (one set per call; every name starts `sdnemu-k-<pid>-<n>-`, n counts calls):
 *
 *     ns …-r  (the router)                          ns …-<IFACE>-peer   (one per HostIface)
 *     ┌───────────────────────────────┐            ┌───────────────────────────────────┐
 *     │ IFACE  addrs, routes, rules,  │── veth ────│ `wire` (no IPv4 address; injects   │
 *     │ mac routerMac(host, i)        │            │ frames, tcpdump -Q in captures)   │
 *     └───────────────────────────────┘            │ mac peerMac(i)                    │
 *                                                  └───────────────────────────────────┘
 *  - Router: `lo` up; per HostIface a veth named as the iface, its addresses in the given
 *    order (the first of a subnet is the primary), then the routes (`ip route replace`).
 *  - Peers have NO IPv4 address, on purpose: an addressed peer would answer packets sent to
 *    its address (RST, ICMP errors), those answers would come back through the router and
 *    pollute the capture. Without an address the peer kernel drops every IPv4 packet silently
 *    (forwarding off, no route: no ICMP). So the router's neighbours are static instead:
 *    every IPv4 address written anywhere in the scenario (addresses, routes' `via`, the rules
 *    text, the packets) that lies inside a connected subnet of an interface gets
 *    `ip neigh replace … lladdr peerMac(i) nud permanent` there. An address nobody wrote
 *    (a DNAT range's middle, say) makes the router send an ARP request; the harness sees it in
 *    the capture, adds the permanent neighbour, which releases the queued packet, and settles
 *    again. ARP frames are never reported in `out`.
 *  - IPv6 is disabled in every namespace before any link exists (no DAD, MLD or router
 *    solicitations on the wire).
 *  - Router sysctls pinned so that the host cannot change the outcome:
 *    `net.ipv4.conf.{all,default}.rp_filter=0` (a fresh netns's default; a host with
 *    `devconf_inherit_init_net=1` could otherwise hand down 1) and `net.ipv4.icmp_ratelimit=0`
 *    (the per-destination ICMP token bucket would otherwise suppress REJECT's errors after a
 *    burst of 6; the emulator does not model rate limiting).
 *    HostConfig.sysctls apply on top; a sysctl not given keeps the KERNEL DEFAULT of a fresh
 *    namespace: ip_forward=0, route_localnet=0, nf_conntrack_tcp_loose=1. The emulator must
 *    use the same defaults. `nf_conntrack_tcp_loose` is set after iptables-restore.
 *  - TX checksum offload is switched off on the router's veths (ETHTOOL_STXCSUM through an
 *    ioctl from Python: ethtool(8) is not installed). Without that, packets the router builds
 *    itself (REJECT's RST) cross the veth as CHECKSUM_PARTIAL and tcpdump records the
 *    pseudo-header sum, not the checksum a NIC would send (seen: RST `cksum 0x1c23
 *    (incorrect -> 0x8abc)`).
 *
 * Frames: `buildFrames` makes them with scapy in ONE Python process per call (scapy's import
 * costs ~0.8 s): `Ether(src=peerMac(i), dst=routerMac(host, i)) / IP(src, dst) / L4 [/ Raw]`
 * with scapy's defaults — IPv4 id 1, TTL 64, tos 0, no DF; TCP window 8192, no options,
 * flags 'S' unless given, seq/ack 0 unless given; ICMP echo request (type 8) id 0 seq 0
 * unless given. Each result carries the frame as `sent`, so the emulator can be fed the same
 * bytes. tcp/udp packets must give both ports.
 *
 * Injection and capture: one tcpdump per peer (`-Q in -U --immediate-mode -w FILE
 * --time-stamp-precision=nano`, started before the first packet; the harness waits for its
 * "listening on" line) records what the router TRANSMITTED on that interface, never what the
 * peer injected. A packet is sent with a raw AF_PACKET socket from /usr/bin/python3 inside
 * its peer namespace (~40 ms a packet); then the harness waits `settleMs` (default 50 ms) and
 * reads the bytes each capture file gained since the last look, so the frames are attributed
 * to the packet just sent (packets go one at a time). The frames of one packet are ordered by
 * capture timestamp, then interface order. Measured on these machines: the router's answer
 * is in the capture within ~1 ms of the send returning; the 50 ms is margin for a loaded
 * 2-core box (a run with settleMs 2 still attributed every frame correctly).
 *
 * Observed with this harness (Linux 6.18, iptables 1.8.9 nf_tables), beyond BEHAVIOUR.md:
 *  - A forwarded packet that leaves by the interface it came in on first triggers an ICMP
 *    host redirect (type 5 code 1, gateway = next hop) from ip_forward, BEFORE the FORWARD
 *    hook, so even a packet REJECTed there yields redirect + error. See `sendRedirects`.
 *  - REJECT in FORWARD quotes the packet with TTL already decremented (63) and its IPv4
 *    checksum updated: the FORWARD hook runs after ip_forward's TTL-1.
 *  - The IPv4 id of packets the router makes itself is not predictable (ICMP errors carry an
 *    id from the kernel's hashed per-destination counter); a TCP RST has id 0 and DF. Compare
 *    generated packets with the id masked.
 *  - iptables-restore (nf_tables) reports a jump to a missing chain at the COMMIT line
 *    ("Error occurred at line: 4"), not at the -A line.
 *  - Forwarded frames keep the client's IPv4 id; checksums stay valid through NAT.
 *
 * Local packets (`from: 'local'`): the router sends the IPv4 packet (scapy-built like the
 * frames, both MACs zero) itself, from /usr/bin/python3 in its namespace, through a raw socket
 * (SOCK_RAW, IPPROTO_RAW, i.e. IP_HDRINCL) to the header's destination. raw_send_hdrinc runs
 * NF_INET_LOCAL_OUT, so the packet meets raw → conntrack → mangle → nat → filter OUTPUT and
 * POSTROUTING like a socket's: checked here, a nat OUTPUT DNAT rewrites it, re-routes it to
 * another interface and leaves a `conntrack -L` entry. The kernel keeps the header as given —
 * IPv4 id 1, no DF, TTL 64 leave unchanged — and refills only tot_len and the header checksum.
 * A source 0.0.0.0 is replaced, before sending, by what an unbound socket would get (the
 * router's answer to a UDP connect() towards the destination), with the checksums redone;
 * `sent` shows the packet as sent. `sendErrno` records sendto()'s failure: EPERM when a hook
 * dropped or rejected the packet, EINVAL when the re-route after nat OUTPUT fails (a 127/8
 * source leaving with route_localnet=0). Packets the router sends to itself, and answers to
 * them, cross only `lo`: `captureLo` records it too (reported as iface 'lo'; its TCP/UDP
 * checksums are filled in, see `withL4Checksum`).
 *
 * Observed with local packets (same kernel), beyond BEHAVIOUR.md:
 *  - REJECT in filter OUTPUT: sendto() fails with EPERM and the answer (ICMP error from the
 *    rejected packet's source address to itself, TOS 0xc0; or the RST from the original
 *    destination) is looped back through lo; nothing appears on any other interface. The
 *    answer itself traverses OUTPUT: a `-p icmp -j REJECT` rule there swallows the ICMP error.
 *  - filter OUTPUT's `-o` is the device of the route chosen BEFORE nat OUTPUT's DNAT (the hook's
 *    out device is fixed when LOCAL_OUT starts): a packet DNATed from 10.96.0.53 (default route,
 *    eth-ext) to a pod on eth-pod matches `-o eth-ext` there, not `-o eth-pod`, and still leaves
 *    by eth-pod; POSTROUTING sees eth-pod.
 *  - A nat table whose rules have no NAT target (only its built-in chains, or only MARK
 *    rules) does not start conntrack: the table stays empty, as with filter rules only.
 *  - A packet DNATed in nat OUTPUT to a local address (or sent to one) is delivered over lo;
 *    the router's stack answers it (RST, ICMP port unreachable) over lo, and a TCP entry
 *    answered only by that RST is deleted.
 *
 * Conntrack: `conntrack -L` in the router after every packet, each line with its timeout
 * (the third token) removed, whitespace collapsed, sorted: e.g.
 * `tcp 6 SYN_SENT src=10.0.0.2 dst=10.96.0.10 sport=40000 dport=80 [UNREPLIED] src=10.244.1.5 dst=10.0.0.2 sport=8080 dport=40000 mark=0 use=1`.
 *
 * Cleanup: every namespace and tcpdump is removed in a `finally`, and a process 'exit' hook
 * removes whatever a crashed run left (only names this process created). Deleting a
 * namespace deletes its veth ends.
 *
 * Cost (measured, 2 shared cores): ~1 s of setup per scenario (scapy's import overlaps ~15
 * short `ip` / `sysctl` processes and the tcpdump starts) plus ~0.1 s a packet.
 *
 * Neighbours: tools.ts (describeWith, SYSTEM_PYTHON, scapy); src/pcap (reading the
 * captures); the emulator side is src/netfilter/, driven with the same HostConfig, rules
 * and packets.
 */
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, openSync, readSync, closeSync, fstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'vitest';
import { SdnemuError, InputError } from '../../src/errors.js';
import { PcapReader } from '../../src/pcap/reader.js';
import { SYSTEM_PYTHON, describeNeeding } from './tools.js';
import { txChecksumOff } from './frame-agent.js';

// ---------------------------------------------------------------------------------------------
// Scenario types (shared with the `sdnemu iptables-trace` CLI's host file and packets)

export interface HostIface {
  /** Interface name on the router, e.g. 'eth-pod' (at most 15 characters). */
  name: string;
  /** 'a.b.c.d/len', the primary address of each subnet first. */
  addrs: string[];
  /** MAC of the router's interface; default `routerMac(host, i)`. */
  mac?: string;
  /** The interface's MTU (`ip link set … mtu`); default 1500. */
  mtu?: number;
}

export interface HostRoute {
  /** A CIDR or 'default'. */
  dst: string;
  via?: string;
  dev: string;
  src?: string;
}

export interface HostConfig {
  ifaces: HostIface[];
  routes: HostRoute[];
  /** Not given = the kernel default of a fresh namespace (ip_forward 0, route_localnet 0, tcp_loose 1). */
  sysctls?: { ip_forward?: 0 | 1; route_localnet?: 0 | 1; nf_conntrack_tcp_loose?: 0 | 1 };
}

export interface KernelPacket {
  proto: 'tcp' | 'udp' | 'icmp';
  src: string;
  sport?: number;
  dst: string;
  dport?: number;
  /** scapy flag letters: 'S', 'A', 'PA', 'R', 'F', 'SA'…; default 'S'. */
  tcpFlags?: string;
  seq?: number;
  ack?: number;
  /** Payload bytes, as latin-1 text. */
  payload?: string;
  /** Default 8 (echo request). */
  icmpType?: number;
  icmpId?: number;
  /** IPv4 TTL; default 64 (scapy's). */
  ttl?: number;
  /** IPv4 don't-fragment flag; default off (scapy's). */
  df?: boolean;
  /** The router interface the packet arrives on. */
  in: string;
  /** Injected by the peer behind `in` (the default); see LocalKernelPacket for the router's own. */
  from?: 'peer';
}

/**
 * A packet the ROUTER sends itself: written whole (IPv4 header included) to a raw socket in the
 * router namespace, so it meets raw/mangle/nat/filter OUTPUT and POSTROUTING like any locally
 * generated packet. `src` '0.0.0.0' stands for an unbound socket's source: the harness asks the
 * router's routing table (a UDP connect() to `dst`) and writes that address, with the L4 and IP
 * checksums redone, before sending; `sent` shows the result.
 */
export interface LocalKernelPacket extends Omit<KernelPacket, 'in' | 'from'> {
  from: 'local';
}

/** What a scenario sends: a frame injected by a peer, or a packet the router sends itself. */
export type ScenarioPacket = KernelPacket | LocalKernelPacket;

export interface KernelFrame {
  /** Router interface the frame was transmitted on. */
  iface: string;
  frame: Uint8Array;
}

export interface KernelResult {
  /** Index of the packet in the scenario. */
  packet: number;
  /** IPv4 frames the router transmitted because of this packet, in capture order (with `captureLo`, also those it looped back on lo). */
  out: KernelFrame[];
  /** `conntrack -L` of the router after this packet: timeouts removed, sorted. */
  conntrack: string[];
  /**
   * Extension: the exact frame injected (built by scapy), on `in`; for a LocalKernelPacket the
   * IPv4 packet handed to the raw socket (source filled in) behind a 14-byte Ethernet header with
   * both MACs zero, the shape `NfStack.send` takes.
   */
  sent: Uint8Array;
  /**
   * LocalKernelPacket only: the errno name sendto() failed with (a hook dropped or rejected the
   * packet: EPERM; a failed re-route after nat OUTPUT: EINVAL…), null when the kernel took it.
   * Always null for injected packets.
   */
  sendErrno: string | null;
}

export interface KernelScenarioOptions {
  /** Wait after each send before reading the captures (default 50 ms). */
  settleMs?: number;
  /**
   * ICMP redirects for packets forwarded out of the interface they came in on (kernel default
   * true). They are rate-limited per destination with exponential back-off (20 ms << n, at most
   * 9), so several hairpinned packets in one scenario get them or not depending on timing;
   * false sets `send_redirects=0` for all interfaces.
   */
  sendRedirects?: boolean;
  /**
   * Also capture the router's own `lo` (incoming side, i.e. each looped-back packet once); its
   * IPv4 frames are reported in `out` with iface 'lo' (both MACs zero). Default false: packets
   * the router sends to its own addresses, and its stack's answers to them, cross lo too.
   */
  captureLo?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Errors

/** A command run for the harness failed. 'stderr' holds the tool's own message (iptables-restore names the line). */
export class KernelCommandError extends SdnemuError {
  constructor(
    readonly argv: string[],
    readonly status: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super('KERNEL_COMMAND_FAILED', `${argv.join(' ')} exited with ${status}: ${stderr.trim() || stdout.trim()}`);
    this.name = 'KernelCommandError';
  }
  override location(): Record<string, string | number> {
    return { argv: this.argv.join(' '), status: this.status ?? -1 };
  }
}

// ---------------------------------------------------------------------------------------------
// Tools

function has(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

/** Tools the kernel oracle needs; false entries name what is missing. */
export const kernelTools = {
  ip: has('ip', ['-V']) || has('/usr/sbin/ip', ['-V']),
  iptablesRestore: has('iptables-restore', ['--version']) || has('/usr/sbin/iptables-restore', ['--version']),
  tcpdump: has('tcpdump', ['--version']),
  conntrack: has('conntrack', ['--version']) || has('/usr/sbin/conntrack', ['--version']),
  scapy: existsSync(SYSTEM_PYTHON) && has(SYSTEM_PYTHON, ['-c', 'import scapy']),
};

/** The missing tools, by name ([] when all are there). */
export function missingKernelTools(): string[] {
  const names: Record<keyof typeof kernelTools, string> = {
    ip: 'ip', iptablesRestore: 'iptables-restore', tcpdump: 'tcpdump', conntrack: 'conntrack', scapy: 'scapy (/usr/bin/python3)',
  };
  return (Object.keys(kernelTools) as (keyof typeof kernelTools)[]).filter((k) => !kernelTools[k]).map((k) => names[k]);
}

/**
 * `describe` for suites that need the kernel oracle: runs when every tool is present; with
 * CI=true a missing tool FAILS the suite, elsewhere it is skipped with the reason printed
 * (the rule of tools.ts's describeWith).
 */
export function describeWithKernel(name: string, fn: () => void): void {
  describeNeeding(missingKernelTools(), name, fn);
}

/** 'cmd' resolved against PATH, then the sbin directories (ip, conntrack live in /usr/sbin). */
function bin(cmd: string): string {
  for (const d of [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    if (d && existsSync(join(d, cmd))) return join(d, cmd);
  }
  return cmd;
}

const COMMAND_TIMEOUT_MS = 20_000;

/** Run 'argv' feeding 'input'; resolves to stdout, rejects with KernelCommandError. */
function run(argv: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const [cmd, ...args] = argv;
    let child: ChildProcess;
    try {
      child = spawn(bin(cmd!), args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: COMMAND_TIMEOUT_MS });
    } catch (e) {
      reject(new KernelCommandError(argv, null, '', String(e)));
      return;
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => reject(new KernelCommandError(argv, null, '', String(e))));
    child.on('close', (status) => {
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (status === 0) resolve(stdout);
      else reject(new KernelCommandError(argv, status, stdout, stderr));
    });
    child.stdin!.on('error', () => { /* the tool may exit before reading; 'close' reports it */ });
    child.stdin!.end(input ?? '');
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// Namespaces

/** Namespaces of this process not yet deleted, for the exit hook. */
const liveNamespaces = new Set<string>();
/** tcpdump processes of this process still running, for the exit hook. */
const liveCaptures = new Set<ChildProcess>();
let exitHookInstalled = false;
let setCounter = 0;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of liveCaptures) c.kill('SIGKILL');
    for (const ns of liveNamespaces) spawnSync(bin('ip'), ['netns', 'del', ns], { stdio: 'ignore' });
  });
}

/**
 * A set of network namespaces sharing the prefix `sdnemu-k-<pid>-<n>-`; `destroy()` deletes
 * exactly the ones `add` created.
 */
export class NetnsSet {
  readonly prefix: string;
  private readonly names: string[] = [];

  constructor() {
    installExitHook();
    this.prefix = `sdnemu-k-${process.pid}-${setCounter++}-`;
  }

  /**
   * Create namespace prefix+'suffix'; returns its full name. IPv6 is disabled, unless
   * 'opts.ipv6': then it stays on without DAD (accept_dad=0, so addresses are usable at once,
   * as the emulator's `nodad` addresses are).
   */
  async add(suffix: string, opts: { ipv6?: boolean } = {}): Promise<string> {
    const name = this.prefix + suffix;
    await run(['ip', 'netns', 'add', name]);
    this.names.push(name);
    liveNamespaces.add(name);
    await this.exec(name, ['sysctl', '-qw', ...(opts.ipv6 === true
      ? ['net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']
      : ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'])]);
    return name;
  }

  /** Run 'argv' inside namespace 'ns' (`ip netns exec`), feeding 'input'. */
  exec(ns: string, argv: string[], input?: string): Promise<string> {
    return run(['ip', 'netns', 'exec', ns, ...argv], input);
  }

  /** Run `ip -n NS -batch -` with 'lines'; ip stops at the first failing line and names it. */
  ipBatch(ns: string, lines: string[]): Promise<string> {
    return run(['ip', '-n', ns, '-batch', '-'], lines.join('\n') + '\n');
  }

  /** Delete every namespace of this set (idempotent; never throws). */
  async destroy(): Promise<void> {
    for (const name of this.names.splice(0)) {
      await run(['ip', 'netns', 'del', name]).catch(() => undefined);
      liveNamespaces.delete(name);
    }
  }
}

/** A synchronous command's outcome (status -1 when it did not run or timed out). */
export interface SyncResult { status: number; stdout: string; stderr: string }
/** Runs 'argv' (inside a namespace, for inNamespaceSync's callback), 'input' on stdin. */
export type SyncExec = (argv: string[], input?: string) => SyncResult;

/** Run 'argv' synchronously, feeding 'input'; never throws. */
export function runSync(argv: string[], input?: string): SyncResult {
  const r = spawnSync(bin(argv[0]!), argv.slice(1), { input, encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS, maxBuffer: 16 << 20 });
  return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

let syncCounter = 0;

/**
 * Run 'fn' synchronously with a runner for a fresh namespace `sdnemu-<tag>-<pid>-<n>`
 * (IPv6 left as the kernel sets it: these callers send no traffic); the namespace is deleted
 * whether 'fn' succeeds or throws, and by the exit hook if the process dies inside 'fn'.
 */
export function inNamespaceSync<T>(tag: string, fn: (exec: SyncExec, ns: string) => T): T {
  installExitHook();
  const ns = `sdnemu-${tag}-${process.pid}-${syncCounter++}`;
  const add = runSync(['ip', 'netns', 'add', ns]);
  if (add.status !== 0) throw new Error(`ip netns add ${ns}: ${add.stderr}`);
  liveNamespaces.add(ns);
  try {
    return fn((argv, input) => runSync(['ip', 'netns', 'exec', ns, ...argv], input), ns);
  } finally {
    runSync(['ip', 'netns', 'del', ns]);
    liveNamespaces.delete(ns);
  }
}

/** Run 'fn' with a fresh NetnsSet, destroyed afterwards whether 'fn' succeeds or throws. */
export async function withNetns<T>(fn: (set: NetnsSet) => Promise<T>): Promise<T> {
  const set = new NetnsSet();
  try {
    return await fn(set);
  } finally {
    await set.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Addresses and MACs

/** Default MAC of router interface 'i' (HostIface.mac overrides it): 02:52:00:00:ii:01. */
export function routerMac(host: HostConfig, i: number): string {
  return host.ifaces[i]?.mac ?? `02:52:00:00:${hex2(i)}:01`;
}

/** MAC of the peer namespace behind router interface 'i': 02:50:00:00:ii:02. */
export function peerMac(i: number): string {
  return `02:50:00:00:${hex2(i)}:02`;
}

function hex2(n: number): string {
  return (n & 0xff).toString(16).padStart(2, '0');
}

const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** uint32 of a dotted quad, or -1 when 's' is not one. */
function ipv4(s: string): number {
  const m = IPV4_RE.exec(s);
  if (!m) return -1;
  let v = 0;
  for (let k = 1; k <= 4; k++) {
    const o = Number(m[k]);
    if (o > 255) return -1;
    v = (v * 256 + o) >>> 0;
  }
  return v;
}

function quad(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

interface Subnet { iface: number; net: number; mask: number; own: number }

function parseCidr(s: string, where: string): { addr: number; len: number } {
  const [a, l] = s.split('/');
  const addr = ipv4(a ?? '');
  const len = Number(l);
  if (addr < 0 || l === undefined || !Number.isInteger(len) || len < 0 || len > 32) {
    throw new InputError('KERNEL_BAD_SCENARIO', where, `'${s}' is not an IPv4 address/len`);
  }
  return { addr, len };
}

function maskOf(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/** Check the scenario's shape; throws InputError naming the field. */
function validate(host: HostConfig, packets: ScenarioPacket[]): void {
  const names = new Set<string>();
  host.ifaces.forEach((f, i) => {
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(f.name) || f.name === 'lo') {
      throw new InputError('KERNEL_BAD_SCENARIO', `ifaces[${i}].name`, `'${f.name}' is not a usable interface name`);
    }
    if (names.has(f.name)) throw new InputError('KERNEL_BAD_SCENARIO', `ifaces[${i}].name`, `duplicate interface '${f.name}'`);
    names.add(f.name);
    f.addrs.forEach((a, j) => parseCidr(a, `ifaces[${i}].addrs[${j}]`));
  });
  if (host.ifaces.length > 255) throw new InputError('KERNEL_BAD_SCENARIO', 'ifaces', 'at most 255 interfaces');
  host.routes.forEach((r, i) => {
    if (!names.has(r.dev)) throw new InputError('KERNEL_BAD_SCENARIO', `routes[${i}].dev`, `no interface '${r.dev}'`);
    if (r.dst !== 'default') parseCidr(r.dst.includes('/') ? r.dst : `${r.dst}/32`, `routes[${i}].dst`);
    if (r.via !== undefined && ipv4(r.via) < 0) throw new InputError('KERNEL_BAD_SCENARIO', `routes[${i}].via`, `'${r.via}' is not an IPv4 address`);
    if (r.src !== undefined && ipv4(r.src) < 0) throw new InputError('KERNEL_BAD_SCENARIO', `routes[${i}].src`, `'${r.src}' is not an IPv4 address`);
  });
  packets.forEach((p, i) => {
    if (p.from !== 'local' && !names.has(p.in)) throw new InputError('KERNEL_BAD_SCENARIO', `packets[${i}].in`, `no interface '${p.in}'`);
    if (ipv4(p.src) < 0) throw new InputError('KERNEL_BAD_SCENARIO', `packets[${i}].src`, `'${p.src}' is not an IPv4 address`);
    if (ipv4(p.dst) < 0) throw new InputError('KERNEL_BAD_SCENARIO', `packets[${i}].dst`, `'${p.dst}' is not an IPv4 address`);
    if (p.proto !== 'icmp') {
      for (const k of ['sport', 'dport'] as const) {
        const v = p[k];
        if (v === undefined || !Number.isInteger(v) || v < 0 || v > 65535) {
          throw new InputError('KERNEL_BAD_SCENARIO', `packets[${i}].${k}`, `${p.proto} needs a port 0..65535`);
        }
      }
    }
  });
}

/**
 * Static neighbour entries for the router: every IPv4 address in 'texts' that falls inside
 * a connected subnet of 'host' (not the network, broadcast or a router address), mapped to the
 * peer of the first interface owning that subnet. Returns `ip neigh` batch lines.
 */
function neighbourLines(host: HostConfig, texts: string[]): string[] {
  const subnets: Subnet[] = [];
  const own = new Set<number>();
  host.ifaces.forEach((f, i) => {
    for (const a of f.addrs) {
      const { addr, len } = parseCidr(a, `ifaces[${i}]`);
      own.add(addr);
      if (len < 31) subnets.push({ iface: i, net: (addr & maskOf(len)) >>> 0, mask: maskOf(len), own: addr });
    }
  });
  const lines: string[] = [];
  const done = new Set<number>();
  for (const t of texts) {
    for (const m of t.matchAll(/(?<![\d.])(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})(?![\d.])/g)) {
      const v = ipv4(m[1]!);
      if (v < 0 || own.has(v) || done.has(v)) continue;
      const s = subnets.find((n) => ((v & n.mask) >>> 0) === n.net);
      if (!s || v === s.net || v === ((s.net | ~s.mask) >>> 0)) continue;
      done.add(v);
      lines.push(`neigh replace ${quad(v)} lladdr ${peerMac(s.iface)} dev ${host.ifaces[s.iface]!.name} nud permanent`);
    }
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Frames

const BUILD_FRAMES_PY = `
import sys, json
from scapy.all import Ether, IP, TCP, UDP, ICMP, Raw
for p in json.loads(sys.stdin.read()):
    if p['proto'] == 'tcp':
        l4 = TCP(sport=p['sport'], dport=p['dport'], flags=p.get('tcpFlags', 'S'), seq=p.get('seq', 0), ack=p.get('ack', 0))
    elif p['proto'] == 'udp':
        l4 = UDP(sport=p['sport'], dport=p['dport'])
    else:
        l4 = ICMP(type=p.get('icmpType', 8), id=p.get('icmpId', 0))
    pkt = Ether(src=p['smac'], dst=p['dmac']) / IP(src=p['src'], dst=p['dst'], ttl=p.get('ttl', 64), flags='DF' if p.get('df') else 0) / l4
    if p.get('payload'):
        pkt = pkt / Raw(load=p['payload'].encode('latin-1'))
    print(bytes(pkt).hex())
`;

/**
 * The Ethernet frames the harness injects for 'packets' into the router of 'host', built by
 * scapy in one process (see the module comment for the defaults it fills in). A
 * LocalKernelPacket gets both MACs zero: its IPv4 part is what the router's raw socket sends.
 */
export async function buildFrames(host: HostConfig, packets: ScenarioPacket[]): Promise<Uint8Array[]> {
  validate(host, packets);
  if (packets.length === 0) return [];
  const spec = packets.map((p) => {
    if (p.from === 'local') return { ...p, smac: ZERO_MAC, dmac: ZERO_MAC };
    const i = host.ifaces.findIndex((f) => f.name === p.in);
    return { ...p, smac: peerMac(i), dmac: routerMac(host, i) };
  });
  const out = await run([SYSTEM_PYTHON, '-c', BUILD_FRAMES_PY], JSON.stringify(spec));
  const lines = out.split('\n').filter((l) => l.length > 0);
  if (lines.length !== packets.length) {
    throw new KernelCommandError([SYSTEM_PYTHON, '-c', '<build frames>'], 0, out, `expected ${packets.length} frames, got ${lines.length}`);
  }
  return lines.map((l) => Uint8Array.from(Buffer.from(l, 'hex')));
}

/** Send one frame (hex) on interface 'dev' with an AF_PACKET socket; run inside a peer namespace. */
const SEND_FRAME_PY = `
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
s.send(bytes.fromhex(sys.argv[2]))
`;

/**
 * Send one IPv4 packet (hex, header included) from the router itself through a raw socket
 * (IPPROTO_RAW implies IP_HDRINCL: raw_send_hdrinc keeps the header as given — id, DF, TTL —
 * refilling only tot_len and the header checksum, then runs NF_INET_LOCAL_OUT). The route is
 * looked up for the destination passed to sendto(), the header's. A zero source is replaced by
 * the one an unbound socket would get (connect() on a UDP socket), with the checksums redone.
 * Prints the packet as sent, then the errno name of a failed sendto() or an empty line.
 */
const SEND_LOCAL_PY = `
import errno, socket, struct, sys
def csum(b):
    if len(b) % 2:
        b += b'\\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
p = bytearray.fromhex(sys.argv[1])
ihl = (p[0] & 15) * 4
dst = socket.inet_ntoa(bytes(p[16:20]))
if p[12:16] == b'\\0\\0\\0\\0':
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.connect((dst, 9))
    p[12:16] = socket.inet_aton(u.getsockname()[0])
    u.close()
    proto, tot = p[9], struct.unpack('!H', p[2:4])[0]
    at = {6: 16, 17: 6}.get(proto)
    if at is not None:
        p[ihl + at:ihl + at + 2] = b'\\0\\0'
        c = csum(bytes(p[12:20]) + bytes([0, proto]) + struct.pack('!H', tot - ihl) + bytes(p[ihl:tot]))
        if proto == 17 and c == 0:
            c = 0xffff
        p[ihl + at:ihl + at + 2] = struct.pack('!H', c)
    p[10:12] = b'\\0\\0'
    p[10:12] = struct.pack('!H', csum(bytes(p[:ihl])))
print(p.hex())
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
try:
    s.sendto(bytes(p), (dst, 0))
    print('')
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
`;


// ---------------------------------------------------------------------------------------------
// Capture

const PEER_DEV = 'wire';
const ZERO_MAC = '00:00:00:00:00:00';
/** Capture.iface of the router's own loopback capture. */
const LO_CAPTURE = -1;
const ETH_TYPE_IPV4 = 0x0800;
const ETH_TYPE_ARP = 0x0806;

/** One tcpdump on a peer's `wire` (or the router's `lo`), read incrementally. */
class Capture {
  private readonly reader = new PcapReader();
  private readonly fd: number;
  private pos = 0;

  private constructor(readonly iface: number, readonly child: ChildProcess, readonly path: string) {
    this.fd = openSync(path, 'r');
  }

  /** Start tcpdump on 'dev' in 'ns' writing 'path'; resolves once it is listening. */
  static async start(ns: string, iface: number, path: string, dev = PEER_DEV): Promise<Capture> {
    const argv = ['ip', 'netns', 'exec', ns, bin('tcpdump'), '-i', dev, '-Q', 'in', '-U', '--immediate-mode',
      '--time-stamp-precision=nano', '-n', '-s', '0', '-w', path];
    const child = spawn(bin('ip'), argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    liveCaptures.add(child);
    child.on('exit', () => liveCaptures.delete(child));
    await new Promise<void>((resolve, reject) => {
      let err = '';
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new KernelCommandError(argv, null, '', `tcpdump not listening after 5 s: ${err}`));
      }, 5000);
      child.stderr!.on('data', (b: Buffer) => {
        err += b.toString('utf8');
        if (err.includes('listening on')) { clearTimeout(timer); resolve(); }
      });
      child.on('exit', (status) => { clearTimeout(timer); reject(new KernelCommandError(argv, status, '', err)); });
    });
    // tcpdump writes the file header before printing "listening on"
    for (let k = 0; k < 100 && !existsSync(path); k++) await sleep(10);
    return new Capture(iface, child, path);
  }

  /** Records captured since the previous call. */
  drain(): { tsSec: number; tsNsec: number; data: Uint8Array }[] {
    const size = fstatSync(this.fd).size;
    if (size > this.pos) {
      const buf = Buffer.alloc(size - this.pos);
      const n = readSync(this.fd, buf, 0, buf.length, this.pos);
      this.pos += n;
      this.reader.push(buf.subarray(0, n));
    }
    return [...this.reader.records()];
  }

  async stop(): Promise<void> {
    closeSync(this.fd);
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGTERM');
    await Promise.race([gone, sleep(2000)]);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/**
 * 'f' (Ethernet/IPv4) with its TCP or UDP checksum computed. lo's TX checksumming is fixed on
 * (ETHTOOL_STXCSUM fails there), so a segment the kernel builds and loops back (REJECT's reset)
 * stays CHECKSUM_PARTIAL and tcpdump records the pseudo-header sum; this is the value a wire
 * would carry. A UDP checksum of 0 (none) and fragments are left alone; 'f' is not modified.
 */
export function withL4Checksum(f: Uint8Array): Uint8Array {
  if (f.length < 34 || (f[14]! >>> 4) !== 4) return f;
  const ihl = (f[14]! & 15) * 4, proto = f[23]!;
  const end = Math.min(f.length, 14 + ((f[16]! << 8) | f[17]!));
  const l4 = 14 + ihl, at = proto === 6 ? 16 : proto === 17 ? 6 : -1;
  if (at < 0 || (((f[20]! << 8) | f[21]!) & 0x3fff) !== 0 || end < l4 + at + 2) return f;
  if (proto === 17 && f[l4 + 6] === 0 && f[l4 + 7] === 0) return f;
  const g = f.slice();
  const word = (o: number): number => (g[o]! << 8) | g[o + 1]!;
  let acc = word(26) + word(28) + word(30) + word(32) + proto + (end - l4);
  g[l4 + at] = 0; g[l4 + at + 1] = 0;
  for (let o = l4; o < end; o += 2) acc += o + 1 < end ? word(o) : g[o]! << 8;
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  let sum = ~acc & 0xffff;
  if (proto === 17 && sum === 0) sum = 0xffff;
  g[l4 + at] = sum >>> 8; g[l4 + at + 1] = sum & 0xff;
  return g;
}

/** `conntrack -L` text → lines without the timeout (third token), whitespace collapsed, sorted. */
export function normaliseConntrack(text: string): string[] {
  const lines: string[] = [];
  for (const raw of text.split('\n')) {
    const t = raw.trim().split(/\s+/).filter((x) => x.length > 0);
    if (t.length < 4) continue;
    // "tcp 6 119 SYN_SENT src=…": proto name, proto number, timeout, …
    if (/^\d+$/.test(t[2]!)) t.splice(2, 1);
    lines.push(t.join(' '));
  }
  return lines.sort();
}

// ---------------------------------------------------------------------------------------------
// The scenario

/**
 * Build the router of 'host' in fresh namespaces, load 'rules' (iptables-restore text) into it,
 * inject 'packets' one at a time on their `in` interfaces and return, per packet, the frames the
 * router transmitted and its conntrack table. Every namespace and capture is removed before the
 * promise settles. Throws InputError (KERNEL_BAD_SCENARIO, naming the field) for a malformed
 * scenario and KernelCommandError (KERNEL_COMMAND_FAILED; stderr has iptables-restore's
 * "line N failed") when a tool refuses it.
 */
export async function runKernelScenario(
  host: HostConfig, rules: string, packets: ScenarioPacket[], opts: KernelScenarioOptions = {},
): Promise<KernelResult[]> {
  validate(host, packets);
  const settleMs = opts.settleMs ?? 50;
  const dir = mkdtempSync(join(tmpdir(), 'sdnemu-k-'));
  try {
    return await withNetns(async (set) => {
      const captures: Capture[] = [];
      try {
        return await scenarioIn(set, captures, dir, host, rules, packets, settleMs, opts.sendRedirects ?? true, opts.captureLo ?? false);
      } finally {
        for (const c of captures) await c.stop();
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The body of runKernelScenario inside its NetnsSet; 'captures' collects what must be stopped. */
async function scenarioIn(
  set: NetnsSet, captures: Capture[], dir: string, host: HostConfig, rules: string, packets: ScenarioPacket[], settleMs: number,
  sendRedirects: boolean, captureLo: boolean,
): Promise<KernelResult[]> {
  const framesP = buildFrames(host, packets);
  framesP.catch(() => undefined); // awaited below; avoid an unhandled rejection meanwhile
  const router = await set.add('r');
  const pinned = ['net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0', 'net.ipv4.icmp_ratelimit=0'];
  if (!sendRedirects) pinned.push('net.ipv4.conf.all.send_redirects=0', 'net.ipv4.conf.default.send_redirects=0');
  await set.exec(router, ['sysctl', '-qw', ...pinned]);
  const peers: string[] = [];
  for (const f of host.ifaces) peers.push(await set.add(`${f.name}-peer`));

  const lines: string[] = ['link set lo up'];
  host.ifaces.forEach((f, i) => {
    lines.push(`link add ${f.name} address ${routerMac(host, i)} type veth peer name ${PEER_DEV} netns ${peers[i]} address ${peerMac(i)}`);
  });
  host.ifaces.forEach((f) => {
    for (const a of f.addrs) lines.push(`addr add ${a} dev ${f.name}`);
    if (f.mtu !== undefined) lines.push(`link set ${f.name} mtu ${f.mtu}`);
    lines.push(`link set ${f.name} up`);
  });
  await set.ipBatch(router, lines);
  if (host.ifaces.length > 0) {
    await txChecksumOff(set, router, host.ifaces.map((f) => f.name));
  }
  for (const p of peers) await set.ipBatch(p, [`link set ${PEER_DEV} up`]);

  const routeLines = host.routes.map((r) => {
    let l = `route replace ${r.dst}`;
    if (r.via !== undefined) l += ` via ${r.via}`;
    l += ` dev ${r.dev}`;
    if (r.src !== undefined) l += ` src ${r.src}`;
    return l;
  });
  const texts = [rules, ...host.routes.map((r) => r.via ?? ''),
    ...packets.map((p) => `${p.src} ${p.dst}`)];
  const neigh = neighbourLines(host, texts);
  if (routeLines.length + neigh.length > 0) await set.ipBatch(router, [...routeLines, ...neigh]);

  const sc = host.sysctls ?? {};
  const pre: string[] = [];
  if (sc.ip_forward !== undefined) pre.push(`net.ipv4.ip_forward=${sc.ip_forward}`);
  if (sc.route_localnet !== undefined) {
    pre.push(`net.ipv4.conf.all.route_localnet=${sc.route_localnet}`, `net.ipv4.conf.default.route_localnet=${sc.route_localnet}`);
  }
  if (pre.length > 0) await set.exec(router, ['sysctl', '-qw', ...pre]);
  await set.exec(router, ['iptables-restore'], rules);
  if (sc.nf_conntrack_tcp_loose !== undefined) {
    await set.exec(router, ['sysctl', '-qw', `net.netfilter.nf_conntrack_tcp_loose=${sc.nf_conntrack_tcp_loose}`]);
  }

  for (let i = 0; i < peers.length; i++) {
    captures.push(await Capture.start(peers[i]!, i, join(dir, `${host.ifaces[i]!.name}.pcap`)));
  }
  if (captureLo) captures.push(await Capture.start(router, LO_CAPTURE, join(dir, 'lo.pcap'), 'lo'));
  const frames = await framesP;
  const ifaceName = (i: number): string => (i === LO_CAPTURE ? 'lo' : host.ifaces[i]!.name);

  const results: KernelResult[] = [];
  for (let k = 0; k < packets.length; k++) {
    const p = packets[k]!;
    let sent = frames[k]!;
    let sendErrno: string | null = null;
    if (p.from === 'local') {
      const out = await set.exec(router, [SYSTEM_PYTHON, '-c', SEND_LOCAL_PY, Buffer.from(sent.subarray(14)).toString('hex')]);
      const [hex, errno] = out.split('\n');
      if (hex === undefined || !/^([0-9a-f]{2})+$/.test(hex) || errno === undefined) {
        throw new KernelCommandError([SYSTEM_PYTHON, '-c', '<send local>'], 0, out, 'expected the packet sent and an errno line');
      }
      sent = Uint8Array.from([...sent.subarray(0, 14), ...Buffer.from(hex, 'hex')]);
      sendErrno = errno === '' ? null : errno;
    } else {
      const i = host.ifaces.findIndex((f) => f.name === p.in);
      await set.exec(peers[i]!, [SYSTEM_PYTHON, '-c', SEND_FRAME_PY, PEER_DEV, Buffer.from(sent).toString('hex')]);
    }
    const got: { iface: number; tsSec: number; tsNsec: number; data: Uint8Array }[] = [];
    for (let round = 0; round < 10; round++) {
      await sleep(settleMs);
      let arp = 0;
      for (const c of captures) {
        for (const r of c.drain()) {
          const type = r.data.length >= 14 ? (r.data[12]! << 8) | r.data[13]! : -1;
          if (type === ETH_TYPE_ARP && r.data.length >= 42 && r.data[21] === 1 && c.iface !== LO_CAPTURE) {
            const target = quad(((r.data[38]! << 24) | (r.data[39]! << 16) | (r.data[40]! << 8) | r.data[41]!) >>> 0);
            await set.ipBatch(router, [`neigh replace ${target} lladdr ${peerMac(c.iface)} dev ${host.ifaces[c.iface]!.name} nud permanent`]);
            arp++;
          } else if (type === ETH_TYPE_IPV4) {
            const data = c.iface === LO_CAPTURE ? withL4Checksum(r.data) : r.data;
            got.push({ iface: c.iface, tsSec: r.tsSec, tsNsec: r.tsNsec, data });
          }
        }
      }
      if (arp === 0) break;
    }
    got.sort((a, b) => a.tsSec - b.tsSec || a.tsNsec - b.tsNsec || a.iface - b.iface);
    const ct = await set.exec(router, ['conntrack', '-L']);
    results.push({
      packet: k,
      out: got.map((g) => ({ iface: ifaceName(g.iface), frame: g.data })),
      conntrack: normaliseConntrack(ct),
      sent,
      sendErrno,
    });
  }
  return results;
}

/** Synchronous check used by tests: names of namespaces of this process still present. */
export function leftoverNamespaces(): string[] {
  const out = execFileSync(bin('ip'), ['netns', 'list'], { encoding: 'utf8' });
  const mine = `sdnemu-k-${process.pid}-`;
  return out.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n.startsWith(mine));
}
