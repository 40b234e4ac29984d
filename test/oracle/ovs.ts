/**
 * A private, userspace Open vSwitch for differential tests (test oracle, not part of src/).
 *
 * What: `OvsSandbox.start()` brings up ovsdb-server and ovs-vswitchd exactly as ORACLES.md
 * describes: a fresh temporary directory that is OVS_RUNDIR, OVS_LOGDIR, OVS_DBDIR and
 * OVS_SYSCONFDIR for every child; `ovsdb-tool create`; `ovsdb-server --detach --pidfile
 * --remote=punix:DIR/db.sock`; `ovs-vsctl --no-wait init`; `ovs-vswitchd --enable-dummy
 * --disable-system --detach --pidfile`. Bridges use `datapath_type=dummy` and
 * `fail-mode=secure`, so nothing is learned and nothing leaves the machine. The sandbox then
 * offers thin wrappers over ovs-vsctl / ovs-ofctl / ovs-appctl, the one that matters most
 * being `trace()` (`ovs-appctl ofproto/trace`), and `parseTrace()` turns that text into the
 * translations the emulator's own trace must agree with (issue 3).
 *
 * Why this shape:
 *  - One sandbox per test FILE (beforeAll). Measured here (2 cores): start() ~50 ms
 *    (`startupMs`), a bridge with two ports ~20 ms, one trace ~7 ms, stop() ~17 ms; every
 *    call is one short client process.
 *  - Vitest runs files in parallel forks, so each sandbox has its own directory and talks only
 *    over unix sockets inside it (db.sock, br0.mgmt, ovs-vswitchd.PID.ctl). No TCP, no shared
 *    /var/run/openvswitch. The daemons still READ the host's kernel routing table (see below).
 *  - Daemons must never outlive the test process. `stop()` kills exactly the two pids named in
 *    the pidfiles (after checking /proc/PID/cmdline mentions this sandbox's directory, so a
 *    recycled pid is never hit) and removes the directory. A process 'exit' hook does the same
 *    synchronously, and a detached watchdog shell (started before the daemons) does it if the
 *    test process dies without running any JavaScript (SIGKILL, OOM, vitest killing the fork).
 *
 * Observed on Open vSwitch 3.1.0 (Debian 12), `ovs-appctl dpif/show` for a bridge br0 with
 * p1 (dummy, ofport_request=1), p2 (dummy, ofport_request=2), vx1 (vxlan, ofport_request=10):
 *     dummy@ovs-dummy: hit:0 missed:0
 *       br0:
 *         br0 65534/100: (dummy-internal)
 *         p1 1/1: (dummy)
 *         p2 2/2: (dummy)
 *         vx1 10/4789: (vxlan: key=flow, remote_ip=192.168.1.2)
 * i.e. OpenFlow port / datapath port: LOCAL 65534 → 100, pN → N (digits of the name),
 * every VXLAN port → 4789 (the shared vxlan_sys_4789 tunnel port), as BEHAVIOUR.md item 5 says.
 *
 * Other things observed while building this harness (all relevant to comparing traces):
 *  - recirc ids are allocated per daemon and keep growing: the first `ct(table=1)` trace prints
 *    `recirc(0x1)`, the next one `recirc(0x2)`, … and a controller action's
 *    `controller(…,recirc_id=N,…)` takes from the same counter (printed in decimal). Compare
 *    through `normaliseRecircIds()`, or trace on a fresh sandbox.
 *  - `--ct-next` takes COMMA-separated flags (`trk,est`); `trk|est` and `+trk+est` are rejected
 *    ("unknown connection tracking state flag"), although the Flow: line prints `ct_state=est|trk`.
 *  - Native tunnelling reads the host's routes ("Cached:" entries in `ovs/route/show`, e.g. the
 *    default route via eth0). Add a user route (`routeAdd`) for every tunnel remote, or the
 *    result depends on the host. Output to a VXLAN port re-enters the bridge with
 *    in_port=LOCAL; if nothing there outputs, the whole tnl_push disappears (`Datapath actions: drop`).
 *  - OF1.0 IPv4 rewrites (mod_nw_tos, mod_nw_src, dec_ttl; set_field:…->ip_dscp sent as OF1.0,
 *    which becomes mod_nw_tos) un-wildcard nw_proto, so the megaflow keyword becomes udp/tcp or
 *    prints `ip,…,nw_proto=0`; the same set_field sent with -O OpenFlow13 does not. BEHAVIOUR.md
 *    does not say this; ovs.test.ts pins it.
 *  - On these machines PID 1 reaps orphans lazily, so a killed daemon can stay a zombie for
 *    a moment; zombies count as gone here.
 *
 * Packets through the dummy datapath (receive, txFrames, dumpDpFlows, dpctlShow, …), observed:
 *  - `netdev-dummy/receive PORT HEX…` queues frames; the main thread processes them (upcall,
 *    flow install, output) before it serves the next appctl request, so a dump right after sees
 *    them. tx_pcap records are fflush()ed per packet.
 *  - `dpctl/dump-flows` prints the upcalled packet's UNMASKED key under the megaflow mask; the
 *    packet that caused the upcall is not counted (packets:0, used:never until a second hit).
 *  - datapath flows idle for max-idle (10 s by default) disappear at the next revalidation:
 *    setMaxIdle() raises it for tests that dump later.
 *  - `revalidator/wait` takes ~150 ms; `dpctl/del-flows` empties the table; an empty datapath
 *    dumps nothing at all (not even the `flow-dump from …` header).
 * Neighbours: tools.ts (describeWith('ovs', …) makes the suite fail under CI=true when OVS is
 * missing); ovs.test.ts exercises this module; issue 3's differential corpus builds on it;
 * test/datapath/odp-flow-ovs.test.ts exercises the datapath methods.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPcap } from '../../src/pcap/index.js';
import { parsePortsFile } from '../../src/ofproto/ports.js';

const SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';
/** Seconds any client (ovs-vsctl, ovs-ofctl, ovs-appctl) may take before it is killed. */
const CLIENT_TIMEOUT_S = 20;

// ---------------------------------------------------------------------------------------------
// Types

/** One port of a bridge: `type` defaults to 'dummy'; `options` become Interface options:K=V. */
export interface OvsPort {
  name: string;
  ofport: number;
  type?: string;
  options?: Record<string, string>;
  /**
   * Record what the port transmits: Interface option `tx_pcap=<sandbox dir>/<name>.pcap`
   * (read back with OvsSandbox.txFrames). netdev-dummy writes and fflush()es one record per
   * packet as it sends it.
   */
  txPcap?: boolean;
}

export interface BridgeOptions {
  /** other-config:hwaddr, the bridge's (LOCAL port's) MAC, used as tunnel source MAC. */
  hwaddr?: string;
  /** Bridge protocols column, e.g. ['OpenFlow10', 'OpenFlow13']; OVS's default when absent. */
  protocols?: string[];
  /** fail-mode, 'secure' unless given. */
  failMode?: 'secure' | 'standalone';
  /** Extra other-config keys. */
  otherConfig?: Record<string, string>;
}

export interface OfctlOptions {
  /** `-O` version for ovs-ofctl, e.g. 'OpenFlow13'. */
  protocols?: string;
}

export interface TraceOptions {
  /**
   * `--ct-next FLAGS` for the conntrack recirculations, in order. FLAGS are comma-separated as
   * OVS wants them: 'trk,est' (not 'trk|est'). A string is one occurrence, an array several.
   */
  ctNext?: string | string[];
  /** An Ethernet frame in hex; the flow string then supplies only metadata (in_port=1). */
  hex?: string;
}

/** A port as `ovs-appctl dpif/show` lists it. */
export interface DpifPort {
  bridge: string;
  name: string;
  /** OpenFlow port number (65534 for LOCAL). */
  ofport: number;
  /** Datapath (ODP) port number, the one printed in `Datapath actions:`. */
  odpPort: number;
  /** The text in parentheses, e.g. 'dummy', 'dummy-internal', 'vxlan: key=flow, remote_ip=…'. */
  detail: string;
}

/** A client tool exited non-zero (or could not be run). Tests can match ovs' own messages in 'stderr'. */
export class OvsCommandError extends Error {
  readonly code = 'OVS_COMMAND_FAILED';
  constructor(
    readonly argv: string[],
    readonly status: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`${argv.join(' ')} exited with ${status}: ${stderr.trim() || stdout.trim()}`);
    this.name = 'OvsCommandError';
  }
}

// ---------------------------------------------------------------------------------------------
// Processes

/** 'cmd' resolved against PATH, then /usr/sbin and /usr/bin (ovs-vswitchd lives in /usr/sbin). */
function bin(cmd: string): string {
  for (const d of (process.env.PATH ?? '').split(':')) {
    if (d && existsSync(join(d, cmd))) return join(d, cmd);
  }
  for (const d of ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin']) {
    if (existsSync(join(d, cmd))) return join(d, cmd);
  }
  return cmd;
}

/** Run 'cmd' with 'args' and 'env', feeding 'input' on stdin; resolves to stdout, rejects with OvsCommandError. */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const argv = [cmd, ...args];
    let child: ChildProcess;
    try {
      child = spawn(bin(cmd), args, { env, stdio: ['pipe', 'pipe', 'pipe'], timeout: CLIENT_TIMEOUT_S * 1000 });
    } catch (e) {
      reject(new OvsCommandError(argv, null, '', String(e)));
      return;
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => reject(new OvsCommandError(argv, null, '', String(e))));
    child.on('close', (status) => {
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (status === 0) resolve(stdout);
      else reject(new OvsCommandError(argv, status, stdout, stderr));
    });
    child.stdin!.on('error', () => { /* the tool may exit before reading; 'close' reports it */ });
    child.stdin!.end(input ?? '');
  });
}

/** True if 'pid' exists and is not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/**
 * Pids of live (non-zombie) processes whose command line mentions 'dir': the sandbox's daemons
 * and its watchdog. Empty once a sandbox is fully stopped.
 */
export function sandboxProcesses(dir: string): number[] {
  const pids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === process.pid) continue;
    if (cmdline(pid).includes(dir) && alive(pid)) pids.push(pid);
  }
  return pids;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Quote 'v' as an ovs-vsctl value (a JSON-style string), so ':' ',' '=' survive. */
function q(v: string): string {
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * Shell run detached from the test process: waits for 'parent' to die, then kills the daemons
 * named in DIR's pidfiles (only if their cmdline mentions DIR) and removes DIR.
 */
const WATCHDOG = `
parent=$1; dir=$2
while [ -e /proc/$parent ]; do
  s=$(sed 's/.*) //' /proc/$parent/stat 2>/dev/null | cut -c1)
  [ "$s" = Z ] && break
  sleep 1
done
for n in ovs-vswitchd ovsdb-server; do
  p=$(cat "$dir/$n.pid" 2>/dev/null) || continue
  case "$p" in ''|*[!0-9]*) continue;; esac
  if tr '\\0' ' ' < /proc/$p/cmdline 2>/dev/null | grep -qF "$dir"; then kill -9 "$p"; fi
done
rm -rf "$dir"
`;

const live = new Set<OvsSandbox>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const s of live) s.stopSync();
  });
}

// ---------------------------------------------------------------------------------------------
// The sandbox

export class OvsSandbox {
  /** The temporary directory: rundir, logdir, dbdir and sysconfdir. */
  readonly dir: string;
  /** Environment given to every OVS child (OVS_RUNDIR etc. point at 'dir'). */
  readonly env: NodeJS.ProcessEnv;
  /** Milliseconds start() took, from mkdtemp to a ready ovs-vswitchd. */
  startupMs = 0;
  /** Pids read from the pidfiles; 0 until that daemon has started. */
  readonly pids = { ovsdbServer: 0, ovsVswitchd: 0 };
  private watchdog: ChildProcess | null = null;
  private stopped = false;

  private constructor(dir: string) {
    this.dir = dir;
    this.env = { ...process.env, OVS_RUNDIR: dir, OVS_LOGDIR: dir, OVS_DBDIR: dir, OVS_SYSCONFDIR: dir };
  }

  /**
   * Start ovsdb-server and ovs-vswitchd in a new temporary directory. On any failure the
   * half-started sandbox is stopped and the error rethrown (with the daemon log appended).
   */
  static async start(): Promise<OvsSandbox> {
    const t0 = performance.now();
    // unix socket paths are limited to 108 bytes; keep the directory short.
    let base = tmpdir();
    if (base.length > 40) base = '/tmp';
    const sb = new OvsSandbox(mkdtempSync(join(base, 'sdnemu-ovs-')));
    live.add(sb);
    installExitHook();
    try {
      sb.watchdog = spawn('sh', ['-c', WATCHDOG, 'sdnemu-ovs-watchdog', String(process.pid), sb.dir], {
        detached: true,
        stdio: 'ignore',
      });
      sb.watchdog.unref();
      const d = sb.dir;
      await run('ovsdb-tool', ['create', join(d, 'conf.db'), SCHEMA], sb.env);
      await run('ovsdb-server', ['--detach', '--no-chdir', '--pidfile', '--log-file',
        `--remote=punix:${join(d, 'db.sock')}`, join(d, 'conf.db')], sb.env);
      sb.pids.ovsdbServer = sb.readPid('ovsdb-server');
      await sb.vsctlNoWait('init');
      await run('ovs-vswitchd', ['--enable-dummy', '--disable-system', '--detach', '--no-chdir', '--pidfile',
        '--log-file', `unix:${join(d, 'db.sock')}`], sb.env);
      sb.pids.ovsVswitchd = sb.readPid('ovs-vswitchd');
    } catch (e) {
      const log = sb.logTail();
      await sb.stop();
      if (e instanceof Error && log) e.message += `\n--- ovs logs ---\n${log}`;
      throw e;
    }
    sb.startupMs = performance.now() - t0;
    return sb;
  }

  private readPid(daemon: string): number {
    const pid = Number(readFileSync(join(this.dir, `${daemon}.pid`), 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) throw new Error(`bad pidfile for ${daemon} in ${this.dir}`);
    return pid;
  }

  /** Last lines of both daemon logs (for error messages). */
  logTail(lines = 20): string {
    const parts: string[] = [];
    for (const f of ['ovsdb-server.log', 'ovs-vswitchd.log']) {
      try {
        const t = readFileSync(join(this.dir, f), 'utf8').trimEnd().split('\n');
        parts.push(`${f}:\n${t.slice(-lines).join('\n')}`);
      } catch { /* not there yet */ }
    }
    return parts.join('\n');
  }

  private assertRunning(): void {
    if (this.stopped) throw new Error(`OvsSandbox ${this.dir} has been stopped`);
  }

  // --- escape hatches ------------------------------------------------------------------------

  /** `ovs-vsctl --db=unix:DIR/db.sock ARGS…` (waits for ovs-vswitchd to apply changes); stdout. */
  async vsctl(...args: string[]): Promise<string> {
    this.assertRunning();
    return run('ovs-vsctl', [`--db=unix:${join(this.dir, 'db.sock')}`, `--timeout=${CLIENT_TIMEOUT_S}`, ...args], this.env);
  }

  private vsctlNoWait(...args: string[]): Promise<string> {
    return run('ovs-vsctl', [`--db=unix:${join(this.dir, 'db.sock')}`, `--timeout=${CLIENT_TIMEOUT_S}`, '--no-wait', ...args], this.env);
  }

  /** `ovs-ofctl --no-names ARGS…` (bridges resolve to DIR/BRIDGE.mgmt); stdout. */
  async ofctl(...args: string[]): Promise<string> {
    this.assertRunning();
    return run('ovs-ofctl', ['--no-names', `--timeout=${CLIENT_TIMEOUT_S}`, ...args], this.env);
  }

  /** `ovs-appctl -t DIR/ovs-vswitchd.PID.ctl ARGS…`; stdout. */
  async appctl(...args: string[]): Promise<string> {
    this.assertRunning();
    const target = join(this.dir, `ovs-vswitchd.${this.pids.ovsVswitchd}.ctl`);
    return run('ovs-appctl', ['-t', target, `--timeout=${CLIENT_TIMEOUT_S}`, ...args], this.env);
  }

  private async ofctlWith(opts: OfctlOptions | undefined, args: string[], input?: string): Promise<string> {
    this.assertRunning();
    const o = opts?.protocols ? ['-O', opts.protocols] : [];
    return run('ovs-ofctl', ['--no-names', `--timeout=${CLIENT_TIMEOUT_S}`, ...o, ...args], this.env, input);
  }

  // --- bridges and ports ---------------------------------------------------------------------

  /**
   * Bridge br0 as an `sdnemu ofproto-trace --ports` file describes it (ports, hwaddr, and the
   * underlay's @ip/@route/@neigh lines), every dummy port recording what it sends (txPcap),
   * datapath flows kept for 'maxIdleMs' (default 10 min), then 'groups' and 'flows' added
   * (OpenFlow 1.3 when 'of13').
   */
  async bridgeFromPortsFile(portsText: string, flows: string, opts: { of13?: boolean; maxIdleMs?: number; groups?: string } = {}): Promise<void> {
    const cfg = parsePortsFile(portsText);
    await this.addBridge('br0', cfg.ports.map((p) => ({
      name: p.name, ofport: p.ofport, type: p.type, options: p.options, txPcap: p.type === 'dummy',
    })), {
      ...(cfg.hwaddr ? { hwaddr: cfg.hwaddr } : {}),
      ...(opts.of13 ? { protocols: ['OpenFlow10', 'OpenFlow13'] } : {}),
    });
    for (const a of cfg.ip4) await this.ip4addr('br0', `${a.addr}/${a.prefixLen}`);
    for (const r of cfg.routes) await this.routeAdd(r.cidr, r.dev);
    for (const n of cfg.neighs) await this.neighSet('br0', n.ip, n.mac);
    await this.setMaxIdle(opts.maxIdleMs ?? 600_000);
    if (opts.groups !== undefined) await this.addGroups('br0', opts.groups, opts.of13 ? { protocols: 'OpenFlow13' } : undefined);
    await this.addFlows('br0', flows, opts.of13 ? { protocols: 'OpenFlow13' } : undefined);
  }

  /**
   * Create bridge 'name' (datapath_type=dummy, fail-mode=secure unless 'opts' says otherwise)
   * with 'ports'. Returns once ovs-vswitchd has applied it.
   */
  async addBridge(name: string, ports: OvsPort[] = [], opts: BridgeOptions = {}): Promise<void> {
    const set = [`datapath_type=dummy`, `fail-mode=${opts.failMode ?? 'secure'}`];
    if (opts.hwaddr) set.push(`other-config:hwaddr=${q(opts.hwaddr)}`);
    for (const [k, v] of Object.entries(opts.otherConfig ?? {})) set.push(`other-config:${k}=${q(v)}`);
    if (opts.protocols?.length) set.push(`protocols=${opts.protocols.join(',')}`);
    await this.vsctl('--', 'add-br', name, '--', 'set', 'bridge', name, ...set, ...portArgs(name, ports, this.dir));
  }

  /** Add 'ports' to an existing bridge. */
  async addPorts(bridge: string, ports: OvsPort[]): Promise<void> {
    if (ports.length) await this.vsctl(...portArgs(bridge, ports, this.dir));
  }

  /** `ovs-appctl dpif/show`, parsed: every port with its OpenFlow and datapath number. */
  async dpifShow(): Promise<DpifPort[]> {
    return parseDpifShow(await this.appctl('dpif/show'));
  }

  // --- tunnel underlay (the issue's @ip / @route / @neigh lines) -------------------------------

  /** `ovs-appctl netdev-dummy/ip4addr BRIDGE ADDR/LEN`. */
  async ip4addr(dev: string, cidr: string): Promise<void> {
    await this.appctl('netdev-dummy/ip4addr', dev, cidr);
  }

  /** `ovs-appctl ovs/route/add CIDR DEV [GW]`. */
  async routeAdd(cidr: string, dev: string, gw?: string): Promise<void> {
    await this.appctl('ovs/route/add', cidr, dev, ...(gw ? [gw] : []));
  }

  /** `ovs-appctl tnl/neigh/set BRIDGE IP MAC`. */
  async neighSet(bridge: string, ip: string, mac: string): Promise<void> {
    await this.appctl('tnl/neigh/set', bridge, ip, mac);
  }

  // --- flows and groups ----------------------------------------------------------------------

  /** `ovs-ofctl [-O P] add-flows BRIDGE -` with 'text' (one flow a line, # comments) on stdin. */
  async addFlows(bridge: string, text: string, opts?: OfctlOptions): Promise<void> {
    await this.ofctlWith(opts, ['add-flows', bridge, '-'], text.endsWith('\n') ? text : `${text}\n`);
  }

  /** `ovs-ofctl [-O P] del-flows BRIDGE [MATCH]`. */
  async delFlows(bridge: string, match?: string, opts?: OfctlOptions): Promise<void> {
    await this.ofctlWith(opts, ['del-flows', bridge, ...(match !== undefined ? [match] : [])]);
  }

  /**
   * `ovs-ofctl [-O P] dump-flows BRIDGE`, one string per flow, with the reply header and the
   * volatile fields removed (see normaliseDumpFlowsLine): 'cookie=0x0, table=0, priority=100,ip actions=…'.
   */
  async dumpFlows(bridge: string, opts?: OfctlOptions): Promise<string[]> {
    return parseDumpFlows(await this.ofctlWith(opts, ['dump-flows', bridge]));
  }

  /** `ovs-ofctl [-O P] add-groups BRIDGE -` with 'text' on stdin. */
  async addGroups(bridge: string, text: string, opts?: OfctlOptions): Promise<void> {
    await this.ofctlWith(opts, ['add-groups', bridge, '-'], text.endsWith('\n') ? text : `${text}\n`);
  }

  /** `ovs-ofctl [-O P] del-groups BRIDGE [GROUP]`. */
  async delGroups(bridge: string, group?: string, opts?: OfctlOptions): Promise<void> {
    await this.ofctlWith(opts, ['del-groups', bridge, ...(group !== undefined ? [group] : [])]);
  }

  /** `ovs-ofctl [-O P] dump-groups BRIDGE`, one trimmed line per group. */
  async dumpGroups(bridge: string, opts?: OfctlOptions): Promise<string[]> {
    const out = await this.ofctlWith(opts, ['dump-groups', bridge]);
    return out.split('\n').filter((l) => l.startsWith(' ')).map((l) => l.trim());
  }

  // --- packets and the datapath (dpctl) ------------------------------------------------------

  /**
   * `ovs-appctl netdev-dummy/receive PORT HEX…`: inject Ethernet frames (hex, no separators; a
   * string may hold several frames separated by blanks or commas, each becoming one argument) on
   * dummy port 'port'. netdev-dummy only queues them; the main thread polls the queue (and runs
   * any upcall) in its next loop iteration, before it serves the next appctl request, so
   * anything asked after this resolves (dumpDpFlows, txFrames) sees their effect. Observed on
   * OVS 3.1: a hex string is taken as is (no `--len`), several frames per call work, an unknown
   * port fails with "no such dummy netdev".
   */
  async receive(port: string, frameHex: string): Promise<void> {
    const frames = frameHex.split(/[\s,]+/).filter((f) => f !== '');
    if (frames.length === 0) throw new Error('receive: no frame');
    await this.appctl('netdev-dummy/receive', port, ...frames);
  }

  /** The pcap file a port created with `txPcap: true` writes. */
  txPcapPath(port: string): string {
    return txPcapPath(this.dir, port);
  }

  /**
   * The frames port 'port' (created with `txPcap: true`) has transmitted so far, oldest first.
   * First makes one appctl round trip (so packets received before the call have been processed
   * and their records fflush()ed), then reads the pcap with src/pcap's reader. With
   * 'opts.expect', polls (every 10 ms, up to 'opts.timeoutMs', default 2000) until at least that
   * many frames are there, and throws if they never come.
   */
  async txFrames(port: string, opts: { expect?: number; timeoutMs?: number } = {}): Promise<Uint8Array[]> {
    await this.appctl('version');
    const path = txPcapPath(this.dir, port);
    const deadline = Date.now() + (opts.timeoutMs ?? 2000);
    for (;;) {
      let frames: Uint8Array[] = [];
      if (existsSync(path)) {
        const bytes = new Uint8Array(readFileSync(path));
        if (bytes.length > 0) frames = [...readPcap(bytes)].map((r) => r.data);
      }
      if (opts.expect === undefined || frames.length >= opts.expect) return frames;
      if (Date.now() > deadline) {
        throw new Error(`txFrames(${port}): ${frames.length} frame(s) after ${opts.timeoutMs ?? 2000} ms, expected ${opts.expect}`);
      }
      await sleep(10);
    }
  }

  /**
   * `ovs-appctl dpctl/dump-flows [-m]`: the flow lines, without the `flow-dump from …` headers
   * (an empty datapath prints nothing at all). Lines come in hash-table order: compare as sets.
   */
  async dumpDpFlows(opts: { verbose?: boolean } = {}): Promise<string[]> {
    const out = await this.appctl('dpctl/dump-flows', ...(opts.verbose ? ['-m'] : []));
    return out.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('flow-dump from'));
  }

  /** `ovs-appctl dpctl/show`, parsed (see parseDpctlShow). */
  async dpctlShow(): Promise<DpctlShow> {
    return parseDpctlShow(await this.appctl('dpctl/show'));
  }

  /**
   * `ovs-appctl revalidator/wait`: returns after the revalidators finished a full round (flows
   * idle longer than max-idle are deleted, stats are pushed to OpenFlow rules). ~150 ms here.
   */
  async revalidatorWait(): Promise<void> {
    await this.appctl('revalidator/wait');
  }

  /** `ovs-appctl dpctl/del-flows`: empty the datapath flow table (counters in dpctl/show stay). */
  async purgeDpFlows(): Promise<void> {
    await this.appctl('dpctl/del-flows');
  }

  /**
   * `ovs-vsctl set Open_vSwitch . other_config:max-idle=MS`. OVS deletes a datapath flow idle
   * for max-idle ms (default 10000) at the next revalidation; tests that dump flows after a
   * while raise it.
   */
  async setMaxIdle(ms: number): Promise<void> {
    await this.vsctl('set', 'Open_vSwitch', '.', `other_config:max-idle=${ms}`);
  }

  // --- trace ---------------------------------------------------------------------------------

  /**
   * `ovs-appctl ofproto/trace [--ct-next F]… BRIDGE FLOW [HEX]`: the raw text. Rejects with
   * OvsCommandError (stderr holds ovs' message, e.g. "…: unknown field foo") on a bad flow.
   */
  async trace(bridge: string, flow: string, opts: TraceOptions = {}): Promise<string> {
    const args: string[] = ['ofproto/trace'];
    const ct = opts.ctNext === undefined ? [] : Array.isArray(opts.ctNext) ? opts.ctNext : [opts.ctNext];
    for (const f of ct) args.push('--ct-next', f);
    args.push(bridge, flow);
    if (opts.hex !== undefined) args.push(opts.hex.replace(/\s+/g, ''));
    return this.appctl(...args);
  }

  // --- teardown ------------------------------------------------------------------------------

  /**
   * Stop the watchdog and the two daemons (SIGTERM, then SIGKILL after 2 s), and remove the
   * directory. Idempotent; never throws.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    live.delete(this);
    this.killWatchdog();
    const pids = this.ownedPids();
    for (const pid of pids) signal(pid, 'SIGTERM');
    const deadline = Date.now() + 2000;
    while (pids.some(alive) && Date.now() < deadline) await sleep(10);
    for (const pid of pids) if (alive(pid)) signal(pid, 'SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** stop() for a process 'exit' hook: SIGKILL at once, synchronously. */
  stopSync(): void {
    if (this.stopped) return;
    this.stopped = true;
    live.delete(this);
    this.killWatchdog();
    for (const pid of this.ownedPids()) signal(pid, 'SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }

  private killWatchdog(): void {
    const w = this.watchdog;
    this.watchdog = null;
    if (w && w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
  }

  /** The daemon pids that are alive AND still mention this sandbox's directory. */
  private ownedPids(): number[] {
    const pids: number[] = [];
    for (const daemon of ['ovsdb-server', 'ovs-vswitchd'] as const) {
      let pid = daemon === 'ovsdb-server' ? this.pids.ovsdbServer : this.pids.ovsVswitchd;
      if (!pid) { try { pid = this.readPid(daemon); } catch { continue; } }
      if (alive(pid) && cmdline(pid).includes(this.dir)) pids.push(pid);
    }
    return pids;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try { process.kill(pid, sig); } catch { /* already gone */ }
}

function txPcapPath(dir: string, port: string): string {
  return join(dir, `${port}.pcap`);
}

function portArgs(bridge: string, ports: OvsPort[], dir: string): string[] {
  const a: string[] = [];
  for (const p of ports) {
    a.push('--', 'add-port', bridge, p.name, '--', 'set', 'Interface', p.name,
      `type=${p.type ?? 'dummy'}`, `ofport_request=${p.ofport}`);
    for (const [k, v] of Object.entries(p.options ?? {})) a.push(`options:${k}=${q(v)}`);
    if (p.txPcap) a.push(`options:tx_pcap=${q(txPcapPath(dir, p.name))}`);
  }
  return a;
}

// ---------------------------------------------------------------------------------------------
// Text helpers (pure; also usable on the emulator's own output)

const VOLATILE = /\b(?:duration|n_packets|n_bytes|idle_age|hard_age)=[^,\s]*,\s*/g;

/**
 * One `ovs-ofctl dump-flows` line without the fields that change from run to run (duration,
 * n_packets, n_bytes, idle_age, hard_age) and without leading/trailing blanks. Keeps cookie,
 * table, timeouts, flags, priority, match and actions in ovs-ofctl's order.
 * ' cookie=0x0, duration=0.01s, table=0, n_packets=0, n_bytes=0, idle_age=0, priority=100,ip actions=drop'
 *   → 'cookie=0x0, table=0, priority=100,ip actions=drop'
 */
export function normaliseDumpFlowsLine(line: string): string {
  return line.replace(VOLATILE, '').trim();
}

/** The flow lines of `ovs-ofctl dump-flows` output (header dropped), normalised. */
export function parseDumpFlows(text: string): string[] {
  return text.split('\n')
    .filter((l) => l.startsWith(' ') && l.trim() !== '')
    .map(normaliseDumpFlowsLine);
}

/** Parse `ovs-appctl dpif/show`. */
export function parseDpifShow(text: string): DpifPort[] {
  const ports: DpifPort[] = [];
  let bridge = '';
  for (const line of text.split('\n')) {
    const b = /^ {2}(\S+):$/.exec(line);
    if (b) { bridge = b[1]!; continue; }
    const p = /^ {4}(\S+) (\d+)\/(\d+): \((.*)\)$/.exec(line);
    if (p) ports.push({ bridge, name: p[1]!, ofport: Number(p[2]), odpPort: Number(p[3]), detail: p[4]! });
  }
  return ports;
}

/**
 * Renumber recirculation ids in order of first appearance (1, 2, …), so traces taken at
 * different points of a daemon's life compare equal. Rewrites `recirc(0xN)`, `recirc_id=0xN`
 * and the decimal `recirc_id=N` inside controller(); `recirc_id=0` is left alone.
 */
/**
 * Renumber the recirculation ids of datapath flow lines (`recirc_id(0x5)`, `recirc(0x5)`) 1, 2, …
 * in increasing numeric order: both OVS and sdnemu hand ids out in order, from different starts.
 */
export function renumberDpRecircIds(lines: string[]): string[] {
  const ids = new Set<number>();
  for (const l of lines) for (const m of l.matchAll(/recirc(?:_id)?\((0x[0-9a-f]+)\)/g)) ids.add(Number(m[1]));
  const sorted = [...ids].sort((a, b) => a - b);
  return lines.map((l) => l.replace(/recirc(_id)?\((0x[0-9a-f]+)\)/g, (_a, id: string | undefined, n: string) =>
    `recirc${id ?? ''}(0x${(sorted.indexOf(Number(n)) + 1).toString(16)})`));
}

export function normaliseRecircIds(text: string): string {
  const map = new Map<number, number>();
  const id = (n: number): number => {
    if (n === 0) return 0;
    let m = map.get(n);
    if (m === undefined) { m = map.size + 1; map.set(n, m); }
    return m;
  };
  return text.replace(/(recirc\(|recirc_id=)(0x[0-9a-f]+|\d+)/g, (_all, pre: string, num: string) => {
    const n = Number(num);
    const m = id(n);
    return pre + (num.startsWith('0x') ? `0x${m.toString(16)}` : String(m));
  });
}

/** One table visit (or the action-set execution) in a trace's pipeline walk. */
export interface TraceStep {
  /** The bridge section it appears in (`bridge("br0")`). */
  bridge: string;
  /** 'table' for `N. …`, 'action-set' for `--. Executing action set:`. */
  kind: 'table' | 'action-set';
  /** Table number; -1 for the action set. */
  table: number;
  /** Nesting: 0 at top level, 1 inside a resubmit/goto from depth 0, … */
  depth: number;
  /** The text after `N. `: 'ip,nw_dst=10.0.0.0/24, priority 100', 'No match.', 'priority 0'. */
  rule: string;
  /** Whether a rule matched ('No match.' → false). */
  matched: boolean;
  /** The rule's match without the priority ('' for a catch-all); null when nothing matched. */
  match: string | null;
  priority: number | null;
  /** Nonzero cookies are printed as ', cookie 0x…'; null otherwise. */
  cookie: string | null;
  /** Lines executed in this table (trimmed), with OVS's `->`/`>>` commentary lines kept in place. */
  actions: string[];
}

/** One translation: the first pass, or one recirculation after it. */
export interface TraceTranslation {
  /** For a recirculation, the banner, e.g. 'recirc(0x1) - resume conntrack with default ct_state=trk|new (…)'; '' for the first. */
  header: string;
  /** recirc id from the banner (0 for the first translation). */
  recircId: number;
  flow: string;
  steps: TraceStep[];
  /** Alias of 'steps' (the wording). */
  tables: TraceStep[];
  /** Lines in the bridge sections that belong to no table (e.g. 'thaw', 'Resuming from table 1'). */
  notes: string[];
  /** 'unchanged' or the full flow. */
  finalFlow: string;
  megaflow: string;
  datapathActions: string;
  /** Non-empty lines after `Datapath actions:` (slow-path explanations, errors). */
  trailer: string[];
}

/** A parsed trace: the fields of the first translation, plus all translations in order. */
export interface ParsedTrace extends TraceTranslation {
  translations: TraceTranslation[];
}

const BANNER = /^={20,}$/;

/**
 * Parse `ovs-appctl ofproto/trace` output. A trace whose actions recirculate (ct(table=N),
 * select groups, controller continuations) prints one translation per pass, separated by
 * `=====` banners; all are returned in order, each with its own Megaflow and Datapath actions.
 * Throws if a translation lacks `Flow:`, `Megaflow:` or `Datapath actions:`.
 */
export function parseTrace(text: string): ParsedTrace {
  const lines = text.replace(/\r/g, '').split('\n');
  const chunks: { header: string; lines: string[] }[] = [{ header: '', lines: [] }];
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (BANNER.test(l) && i + 2 < lines.length && BANNER.test(lines[i + 2]!)) {
      chunks.push({ header: lines[i + 1]!.trim(), lines: [] });
      i += 2;
      continue;
    }
    chunks[chunks.length - 1]!.lines.push(l);
  }
  const translations = chunks
    .filter((c) => c.header !== '' || c.lines.some((l) => l.trim() !== ''))
    .map((c) => parseTranslation(c.header, c.lines));
  if (translations.length === 0) throw new Error('parseTrace: empty trace');
  return { ...translations[0]!, translations };
}

const STEP = /^(\s*)(\d+|--)\. (.*)$/;
const RULE = /^(.*?)(?:,\s*)?priority (\d+)(?:, cookie (0x[0-9a-f]+))?$/;

function parseTranslation(header: string, lines: string[]): TraceTranslation {
  const rid = /^recirc\((0x[0-9a-f]+)\)/.exec(header);
  const t: TraceTranslation = {
    header, recircId: rid ? Number(rid[1]) : 0, flow: '', steps: [], tables: [], notes: [],
    finalFlow: '', megaflow: '', datapathActions: '', trailer: [],
  };
  t.tables = t.steps;
  let bridge = '';
  let inPipeline = false;
  let done = false;
  // Open steps, each with the column of its '.'; a line belongs to the innermost step whose dot
  // column is left of the line's indentation.
  const open: { step: TraceStep; dot: number }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const trimmed = line.trim();
    if (done) { if (trimmed) t.trailer.push(trimmed); continue; }
    if (line.startsWith('Flow: ')) { t.flow = line.slice(6); continue; }
    if (line.startsWith('Final flow: ')) { t.finalFlow = line.slice(12); inPipeline = false; continue; }
    if (line.startsWith('Megaflow: ')) { t.megaflow = line.slice(10); continue; }
    if (line.startsWith('Datapath actions: ')) { t.datapathActions = line.slice(18); done = true; continue; }
    const br = /^bridge\("(.*)"\)$/.exec(line);
    if (br) {
      bridge = br[1]!;
      inPipeline = true;
      open.length = 0;
      if (/^-+$/.test(lines[i + 1] ?? '')) i++;
      continue;
    }
    if (!inPipeline || trimmed === '') continue;
    const indent = line.length - line.trimStart().length;
    const m = STEP.exec(line);
    if (m) {
      const dot = m[1]!.length + m[2]!.length;
      while (open.length && open[open.length - 1]!.dot >= dot) open.pop();
      const isSet = m[2] === '--';
      const rule = m[3]!.trim();
      const r = RULE.exec(rule);
      const matched = !isSet && rule !== 'No match.';
      const step: TraceStep = {
        bridge, kind: isSet ? 'action-set' : 'table', table: isSet ? -1 : Number(m[2]),
        depth: Math.max(0, Math.round((dot - 2) / 4)), rule, matched,
        match: matched ? (r ? r[1]!.trim() : rule) : null,
        priority: matched && r ? Number(r[2]) : null,
        cookie: matched && r && r[3] ? r[3] : null,
        actions: [],
      };
      t.steps.push(step);
      open.push({ step, dot });
      continue;
    }
    while (open.length && open[open.length - 1]!.dot >= indent) open.pop();
    const owner = open[open.length - 1];
    if (owner) owner.step.actions.push(trimmed);
    else t.notes.push(trimmed);
  }
  if (!t.flow || !t.megaflow || !t.datapathActions) {
    throw new Error(`parseTrace: translation ${header || '(first)'} lacks Flow/Megaflow/Datapath actions:\n${lines.join('\n')}`);
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// dpctl

/** One `dpctl/dump-flows` line, split. */
export interface DpFlowDump {
  /** `ufid:…` (only with -m), or null */
  ufid: string | null;
  /** the match part, e.g. 'recirc_id(0),in_port(1),packet_type(ns=0,id=0),eth_type(0x0800),ipv4(frag=no)' */
  key: string;
  packets: number;
  bytes: number;
  /** 'never' or seconds since the last hit (`used:0.004s` → 0.004) */
  used: 'never' | number;
  /** `flags:` letters (tcpdump style, TCP flags seen), or null when not printed */
  flags: string | null;
  /** the text between `used:…` and `actions:` that -m adds (e.g. 'dp:ovs'), '' without -m */
  extra: string;
  /** the datapath actions ('drop' for none), without -m's `, dp-extra-info:…` */
  actions: string;
}

/**
 * Split one `dpctl/dump-flows` line (with or without -m) into its parts. The match part never
 * contains ', ' (OVS joins attributes with ','), so the first ', packets:' ends it.
 * Throws on a line that is not a flow.
 */
export function parseDpFlow(line: string): DpFlowDump {
  let rest = line.trim();
  let ufid: string | null = null;
  const u = /^ufid:([0-9a-f-]+), /.exec(rest);
  if (u) { ufid = u[1]!; rest = rest.slice(u[0].length); }
  const i = rest.indexOf(', packets:');
  if (i < 0) throw new Error(`parseDpFlow: no packets: in ${line}`);
  const key = rest.slice(0, i);
  rest = rest.slice(i + 2);
  const s = /^packets:(\d+), bytes:(\d+), used:(never|[\d.]+s)(?:, flags:([^,]+))?((?:, (?!actions:)[^,]*)*), actions:(.*)$/.exec(rest);
  if (!s) throw new Error(`parseDpFlow: cannot parse stats/actions in ${line}`);
  let actions = s[6]!;
  const extraInfo = actions.indexOf(', dp-extra-info:');
  if (extraInfo >= 0) actions = actions.slice(0, extraInfo);
  return {
    ufid, key, packets: Number(s[1]), bytes: Number(s[2]),
    used: s[3] === 'never' ? 'never' : Number(s[3]!.slice(0, -1)),
    flags: s[4] ?? null, extra: (s[5] ?? '').replace(/^, /, ''), actions,
  };
}

/** `dpctl/show` of the (single) dummy datapath. */
export interface DpctlShow {
  /** e.g. 'dummy@ovs-dummy' */
  name: string;
  hit: number;
  missed: number;
  lost: number;
  flows: number;
  /** `masks: hit:… total:… hit/pkt:…` when printed (not by the dummy datapath of OVS 3.1), else null */
  masks: { hit: number; total: number; hitPerPkt: number } | null;
  /** `port N: NAME (DETAIL)` lines */
  ports: { odpPort: number; name: string; detail: string }[];
}

/**
 * Parse `ovs-appctl dpctl/show` (the first datapath listed). OVS 3.1 prints for the dummy datapath:
 *   dummy@ovs-dummy:
 *     lookups: hit:2 missed:8 lost:0
 *     flows: 1
 *     port 0: ovs-dummy (dummy-internal)
 *     port 1: p1 (dummy)
 * Throws when the lookups or flows line is missing.
 */
export function parseDpctlShow(text: string): DpctlShow {
  const lines = text.split('\n');
  const name = (lines[0] ?? '').replace(/:$/, '').trim();
  const lk = /lookups: hit:(\d+) missed:(\d+) lost:(\d+)/.exec(text);
  const fl = /^\s*flows: (\d+)/m.exec(text);
  if (!lk || !fl) throw new Error(`parseDpctlShow: unexpected text:\n${text}`);
  const mk = /masks: hit:(\d+) total:(\d+) hit\/pkt:([\d.]+)/.exec(text);
  const ports: DpctlShow['ports'] = [];
  for (const l of lines) {
    const p = /^\s*port (\d+): (\S+)(?: \((.*)\))?$/.exec(l);
    if (p) ports.push({ odpPort: Number(p[1]), name: p[2]!, detail: p[3] ?? '' });
  }
  return {
    name, hit: Number(lk[1]), missed: Number(lk[2]), lost: Number(lk[3]), flows: Number(fl[1]),
    masks: mk ? { hit: Number(mk[1]), total: Number(mk[2]), hitPerPkt: Number(mk[3]) } : null,
    ports,
  };
}
