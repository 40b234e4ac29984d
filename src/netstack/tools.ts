/**
 * The tools a user runs on a host (netstack layer): `ping` and `traceroute`
 * with the output of iputils ping and traceroute 2.x, a constant-rate UDP
 * generator, and a TCP request/response client and server — on virtual time.
 *
 * What: `ping(host, dst, opts)` sends `count` echo requests `interval`
 * apart (iputils defaults: 56 data bytes — a 16-byte timeval then the bytes
 * 0x10, 0x11, … — TTL 64, 1 s apart) through a ping socket and collects the
 * replies and errors (Destination Host Unreachable, Time to live exceeded,
 * Frag needed …) until `deadline`/`timeout`; `traceroute(host, dst, opts)`
 * sends UDP probes to port 33434 upwards with TTL 1, 2, … (3 probes a hop,
 * no DF, 60-byte packets, as traceroute's default method), one at a time,
 * each waiting up to 5 s, and stops at the hop that answers port
 * unreachable (or max hops). Both return their result and the text the
 * real tool prints (times from the virtual clock, so runs repeat exactly).
 * IPv6: a destination written with ':' is pinged over ICMPv6 and traced
 * with IPv6 UDP probes; the text is then what `ping` and `traceroute` print
 * for IPv6 (`PING a(a) 56 data bytes`, `Time exceeded: Hop limit`,
 * `Destination unreachable: No route`, `Packet too big: mtu=1280`,
 * `ping: local error: message too long, mtu: 1280`, 80-byte probes, `!N`
 * no route, `!X` prohibited, `!S` beyond scope, `!H` address unreachable).
 * Driving: the tools run the simulator themselves (`drive`) until they are
 * done, so a script can `await ping(…)`; anything else scheduled meanwhile
 * runs too, in time order. `startPing` and `startTcpRequest` are the same
 * tools without the driving (what `ping` and `tcpRequest` are built on):
 * they schedule their packets and report through a callback, for a caller
 * whose own clock runs the simulator (trace/session.ts).
 * Neighbours: sockets.ts (ping socket, UDP), host.ts, sim/engine.ts.
 */
import type { Sim } from '../sim/engine.js';
import { ipv4ToString, ipv6ToString, parseIpv4, parseIpv6 } from '../wire/bytes.js';
import { InputError } from '../errors.js';
import type { Host, SendStatus } from './host.js';
import type { IcmpErrorInfo } from './sockets.js';
import type { TcpListener } from './tcp.js';

/** Run 'sim' until 'done()' or no event is left; true when done. */
export function drive(sim: Sim, done: () => boolean): boolean {
  while (!done()) if (!sim.step()) return done();
  return true;
}

function target(dst: number | string): number {
  if (typeof dst === 'number') return dst >>> 0;
  const a = parseIpv4(dst);
  if (a === null) throw new InputError('TOOL_BAD_ADDRESS', 'dst', `ping: ${dst}: Name or service not known`);
  return a;
}

/** A destination as the tools take it: IPv4 (uint32, dotted text) or IPv6 (text with ':'). */
interface Dest { v6: boolean; addr: number; bytes: Uint8Array; text: string }
function dest(dst: number | string, tool: string): Dest {
  if (typeof dst === 'string' && dst.includes(':')) {
    const b = parseIpv6(dst);
    if (b === null) throw new InputError('TOOL_BAD_ADDRESS', 'dst', `${tool}: ${dst}: Name or service not known`);
    return { v6: true, addr: 0, bytes: b, text: ipv6ToString(b, 0) };
  }
  const a = target(dst);
  return { v6: false, addr: a, bytes: new Uint8Array(0), text: ipv4ToString(a) };
}

const fmt3 = (ms: number): string => ms.toFixed(3);

export interface PingOptions {
  count?: number;
  /** seconds between requests (default 1) */
  interval?: number;
  /** data bytes (default 56) */
  size?: number;
  ttl?: number;
  /** seconds to wait for the last reply (default 10, as iputils' -W for the final packet is 10 s with -c) */
  timeout?: number;
  pmtu?: 'want' | 'do' | 'dont';
}

export interface PingReply { seq: number; from: string; ttl: number; rttMs: number; bytes: number }

export interface PingResult {
  dst: string;
  transmitted: number;
  received: number;
  /** packet loss, percent */
  loss: number;
  replies: PingReply[];
  /** error lines, as ping prints them (`From 10.0.0.1 icmp_seq=1 Destination Host Unreachable`) */
  errors: string[];
  /** what ping prints */
  text: string;
}

/** The 56 data bytes iputils ping sends: a 16-byte timeval (virtual time), then 0x10, 0x11, … */
function pingPayload(size: number, nowNs: number): Uint8Array {
  const p = new Uint8Array(size);
  for (let i = 0; i < size; i++) p[i] = i & 0xff;
  if (size >= 16) {
    const sec = Math.floor(nowNs / 1e9), usec = Math.floor((nowNs % 1e9) / 1e3);
    const v = new DataView(p.buffer);
    v.setUint32(0, sec, true); v.setUint32(4, 0, true); v.setUint32(8, usec, true); v.setUint32(12, 0, true);
  }
  return p;
}

const ICMP_TEXT: Record<string, string> = {
  '3/0': 'Destination Net Unreachable', '3/1': 'Destination Host Unreachable', '3/2': 'Destination Protocol Unreachable',
  '3/3': 'Destination Port Unreachable', '3/9': 'Destination Net Prohibited', '3/10': 'Destination Host Prohibited',
  '3/13': 'Packet filtered', '11/0': 'Time to live exceeded', '11/1': 'Frag reassembly time exceeded',
};
const ICMP6_TEXT: Record<string, string> = {
  '1/0': 'Destination unreachable: No route', '1/1': 'Destination unreachable: Administratively prohibited',
  '1/2': 'Destination unreachable: Beyond scope of source address', '1/3': 'Destination unreachable: Address unreachable',
  '1/4': 'Destination unreachable: Port unreachable', '3/0': 'Time exceeded: Hop limit', '3/1': 'Time exceeded: Defragmentation failure',
};
function icmpText(e: IcmpErrorInfo): string {
  if (e.from6 !== '') {
    if (e.type === 2) return `Packet too big: mtu=${e.mtu}`;
    return ICMP6_TEXT[`${e.type}/${e.code}`] ?? (e.type === 1 ? `Destination unreachable: Unknown code ${e.code}` : `Time exceeded: code ${e.code}`);
  }
  if (e.type === 3 && e.code === 4) return `Frag needed and DF set (mtu = ${e.mtu})`;
  return ICMP_TEXT[`${e.type}/${e.code}`] ?? `Dest Unreachable, Bad Code: ${e.code}`;
}

/** `ping -c COUNT DST` from 'host'. */
export async function ping(host: Host, dst: number | string, opts: PingOptions = {}): Promise<PingResult> {
  const run = startPing(host, dst, opts);
  drive(host.sim, run.done);
  return run.finish();
}

/** A ping under way (`startPing`): 'done' once every answer is in or the deadline passed; 'finish' closes it and gives the result. */
export interface PingRun { done: () => boolean; finish: () => PingResult }

/**
 * `ping` without driving the simulator: the requests are scheduled on
 * 'host'.sim and go out as something else runs it (the trace viewer's
 * clock). 'onDone', when given, is called (once, with the result, the
 * socket closed) as soon as the ping is done. Throws as `ping` does.
 */
export function startPing(host: Host, dst: number | string, opts: PingOptions = {}, onDone?: (r: PingResult) => void): PingRun {
  const D = dest(dst, 'ping'), d = D.addr, dText = D.text;
  const sim = host.sim;
  const count = opts.count ?? 1, size = opts.size ?? 56, interval = (opts.interval ?? 1) * 1e9;
  // ping connects its socket first: no route, and it stops before sending anything
  if (D.v6 ? host.ip6.sourceFor(D.bytes, 0) === null : !host.routable(d)) {
    const line = 'ping: connect: Network is unreachable';
    const r: PingResult = { dst: dText, transmitted: 0, received: 0, loss: 100, replies: [], errors: [line], text: `${line}\n` };
    onDone?.(r);
    return { done: () => true, finish: () => r };
  }
  const sock = host.sockets.icmp();
  const sentAt = new Map<number, number>();
  const replies: PingReply[] = [];
  const errors: string[] = [];
  const lines: string[] = [D.v6 ? `PING ${dText}(${dText}) ${size} data bytes` : `PING ${dText} (${dText}) ${size}(${size + 28}) bytes of data.`];
  const start = sim.now;
  let transmitted = 0, finished = false;
  sock.onReply = (seq, f) => {
    const t0 = sentAt.get(seq);
    if (t0 === undefined) return;
    const rtt = (sim.now - t0) / 1e6;
    const r: PingReply = D.v6 ? { seq, from: ipv6ToString(f, 22), ttl: f[21]!, rttMs: rtt, bytes: size + 8 }
      : { seq, from: ipv4ToString((f[26]! << 24 | f[27]! << 16 | f[28]! << 8 | f[29]!) >>> 0), ttl: f[22]!, rttMs: rtt, bytes: size + 8 };
    replies.push(r);
    lines.push(`${r.bytes} bytes from ${r.from}: icmp_seq=${seq} ttl=${r.ttl} time=${rtt < 1 ? fmt3(rtt) : rtt < 10 ? rtt.toFixed(2) : rtt < 100 ? rtt.toFixed(1) : rtt.toFixed(0)} ms`);
    check();
  };
  sock.onError = (seq, e) => {
    const line = `From ${D.v6 ? e.from6 : ipv4ToString(e.from)} icmp_seq=${seq} ${icmpText(e)}`;
    errors.push(line);
    lines.push(line);
    check();
  };
  const sendOne = (seq: number): void => {
    sentAt.set(seq, sim.now);
    transmitted++;
    const st: SendStatus = sock.echo(D.v6 ? dText : d, seq, pingPayload(size, sim.now), { ...(opts.ttl !== undefined ? { ttl: opts.ttl } : {}), ...(opts.pmtu !== undefined ? { pmtu: opts.pmtu } : {}) });
    const local = st === 'EMSGSIZE' ? (D.v6 ? `ping: local error: message too long, mtu: ${host.ip6.mtuTo(D.bytes, 0)}` : `ping: local error: message too long, mtu=${host.mtuTo(d)}`)
      : st === 'ENETUNREACH' ? 'ping: sendmsg: Network is unreachable' : st === 'EPERM' ? 'ping: sendmsg: Operation not permitted' : '';
    if (local !== '') { lines.push(local); errors.push(local); }
  };
  const done = (): boolean => finished || (transmitted === count && replies.length + errors.length >= count);
  let result: PingResult | null = null;
  const finish = (): PingResult => (result ??= summary());
  // with 'onDone': checked after each send, answer and the deadline
  const check = (): void => { if (onDone !== undefined && result === null && done()) onDone(finish()); };
  for (let i = 0; i < count; i++) sim.call(i * interval, () => { sendOne(i + 1); check(); });
  const deadline = start + (count - 1) * interval + (opts.timeout ?? 10) * 1e9;
  sim.at(deadline, { onEvent: () => { finished = true; check(); } });
  return { done, finish };

  function summary(): PingResult {
    sock.close();
    const received = replies.length;
    const loss = transmitted === 0 ? 100 : Math.round(((transmitted - received) * 100) / transmitted);
    const elapsedMs = Math.round((Math.max(...[...sentAt.values()], start) - start) / 1e6);
    lines.push('', `--- ${dText} ping statistics ---`);
    lines.push(`${transmitted} packets transmitted, ${received} received${errors.length > 0 ? `, +${errors.length} errors` : ''}, ${loss}% packet loss, time ${elapsedMs}ms`);
    if (received > 0) {
      const rtts = replies.map((r) => r.rttMs);
      const min = Math.min(...rtts), max = Math.max(...rtts), avg = rtts.reduce((a, b) => a + b, 0) / rtts.length;
      const mdev = Math.sqrt(rtts.reduce((a, b) => a + b * b, 0) / rtts.length - avg * avg);
      lines.push(`rtt min/avg/max/mdev = ${fmt3(min)}/${fmt3(avg)}/${fmt3(max)}/${fmt3(Number.isNaN(mdev) ? 0 : mdev)} ms`);
    }
    return { dst: dText, transmitted, received, loss, replies, errors, text: `${lines.join('\n')}\n` };
  }
}

export interface TracerouteOptions {
  maxHops?: number; queries?: number; port?: number; waitSec?: number;
  /** `-n`: addresses only (no `name (address)`) */
  numeric?: boolean;
}

export interface TracerouteHop {
  ttl: number;
  /** one per probe: the address that answered and the time, or null for `*` */
  probes: ({ from: string; rttMs: number; note: string } | null)[];
}

export interface TracerouteResult { dst: string; hops: TracerouteHop[]; reached: boolean; text: string }

/** `traceroute DST` (UDP probes) from 'host'. */
export async function traceroute(host: Host, dst: number | string, opts: TracerouteOptions = {}): Promise<TracerouteResult> {
  const D = dest(dst, 'traceroute'), d = D.addr, dText = D.text;
  const sim = host.sim;
  const maxHops = opts.maxHops ?? 30, queries = opts.queries ?? 3, wait = (opts.waitSec ?? 5) * 1e9;
  let port = opts.port ?? 33434;
  const sock = host.sockets.udp();
  const hops: TracerouteHop[] = [];
  const lines = [`traceroute to ${dText} (${dText}), ${maxHops} hops max, ${D.v6 ? 80 : 60} byte packets`];
  let reached = false;
  for (let ttl = 1; ttl <= maxHops && !reached; ttl++) {
    const hop: TracerouteHop = { ttl, probes: [] };
    for (let q = 0; q < queries; q++) {
      let answer: { from: string; rttMs: number; note: string } | null = null, done = false;
      const t0 = sim.now;
      const probePort = port++;
      sock.onError = (e) => {
        if (done || (D.v6 ? e.dst6 !== dText : e.dst !== d)) return;
        const unreach = D.v6 ? 1 : 3, portUnreach = D.v6 ? 4 : 3;
        const notes: Record<string, string> = D.v6 ? { '1/0': ' !N', '1/1': ' !X', '1/2': ' !S', '1/3': ' !H', '2/0': ' !F' }
          : { '3/0': ' !N', '3/1': ' !H', '3/2': ' !P', '3/4': ' !F', '3/9': ' !X', '3/10': ' !X', '3/13': ' !X' };
        const note = (e.type === unreach && e.code !== portUnreach) || (D.v6 && e.type === 2) ? notes[`${e.type}/${e.code}`] ?? ` !<${e.code}>` : '';
        answer = { from: D.v6 ? e.from6 : ipv4ToString(e.from), rttMs: (sim.now - t0) / 1e6, note };
        if (e.type === unreach || (D.v6 && e.type === 2)) reached = true;
        done = true;
      };
      sock.send(D.v6 ? dText : d, probePort, new Uint8Array(32), { ttl, pmtu: 'dont' });
      const timer = sim.call(wait, () => { done = true; });
      drive(sim, () => done);
      sim.cancel(timer);
      hop.probes.push(answer);
    }
    hops.push(hop);
    let line = `${String(ttl).padStart(2)} `;
    let last = '';
    for (const p of hop.probes) {
      if (p === null) { line += ' *'; continue; }
      if (p.from !== last) line += opts.numeric === true ? ` ${p.from}` : ` ${p.from} (${p.from})`;
      last = p.from;
      line += `  ${fmt3(p.rttMs)} ms${p.note}`;
    }
    lines.push(line);
  }
  sock.close();
  return { dst: dText, hops, reached, text: `${lines.join('\n')}\n` };
}

export interface TrafficOptions {
  /** packets per second */
  pps: number;
  /** UDP payload bytes (default 18: a 64-byte Ethernet frame) */
  size?: number;
  dport?: number;
  sport?: number;
  /** how long, in seconds of virtual time */
  durationSec: number;
}

/** A constant-rate flow's counters: datagrams sent, refused by the stack, and datagrams received back on its socket (an echo's answers). */
export interface TrafficRun { sent: number; refused: number; received: number; stop(): void }

/**
 * A constant-rate UDP sender (an iperf -u / pktgen-like generator): one
 * datagram to 'dst' every 1/pps seconds for 'durationSec', built once and
 * resent (the host fills addresses and checksums in a copy each time).
 * Returns counters that fill as the simulator runs.
 */
export function constantRate(host: Host, dst: number | string, opts: TrafficOptions): TrafficRun {
  const d = target(dst);
  const sock = host.sockets.udp(opts.sport ?? 0);
  const size = opts.size ?? 18;
  const gap = 1e9 / opts.pps, end = host.sim.now + opts.durationSec * 1e9;
  const run: TrafficRun = { sent: 0, refused: 0, received: 0, stop: () => { stopped = true; } };
  let stopped = false;
  sock.onMessage = () => { run.received++; };
  // the datagram as the socket builds it, once; each send is a copy (the host writes MACs and ids in it)
  let template: Uint8Array | null = null;
  const tick = { onEvent: (): void => {
    if (stopped || host.sim.now >= end) { sock.close(); return; }
    if (template === null || 28 + size > host.mtuTo(d)) {
      template = sock.frame(d, opts.dport ?? 9, new Uint8Array(size));
    }
    if (host.sendIp(template.slice()) === 'sent') run.sent++; else run.refused++;
    host.sim.schedule(gap, tick);
  } };
  host.sim.schedule(0, tick);
  return run;
}

/**
 * A TCP request/response server on 'host':'port': each connection's data
 * goes through 'handler' (echo by default) and the answer is sent back;
 * the server closes when the client does.
 */
export function tcpServer(host: Host, port: number, handler: (data: Uint8Array) => Uint8Array = (d) => d): TcpListener {
  return host.tcp.listen(port, (c) => {
    c.onData = (d) => c.send(handler(d));
    c.onEnd = () => c.close();
  });
}

export interface TcpRequestResult {
  response: Uint8Array;
  /** ms from the SYN to the connection being established; null when it never was */
  connectMs: number | null;
  /** ms from the SYN to the server's FIN (or the error) */
  totalMs: number;
  /** the errno ('ECONNREFUSED', 'ETIMEDOUT' …), or null */
  error: string | null;
  retransmits: number;
}

/**
 * Connect from 'host' to 'dst':'port', send 'request', half-close, read
 * until the server closes: the response, the times on the virtual clock,
 * the error if any. Runs the simulator until done (or 'timeoutSec').
 */
export async function tcpRequest(host: Host, dst: number | string, port: number, request: Uint8Array | string,
  opts: { timeoutSec?: number } = {}): Promise<TcpRequestResult> {
  const run = startTcpRequest(host, dst, port, request, opts);
  drive(host.sim, run.done);
  return run.finish();
}

/** A TCP request under way (`startTcpRequest`), as `PingRun`. */
export interface TcpRequestRun { done: () => boolean; finish: () => TcpRequestResult }

/**
 * `tcpRequest` without driving the simulator: the connection starts now
 * and goes on as something else runs 'host'.sim; 'onDone', when given, is
 * called once with the result when the server closed, the connection
 * failed or the timeout passed.
 */
export function startTcpRequest(host: Host, dst: number | string, port: number, request: Uint8Array | string,
  opts: { timeoutSec?: number } = {}, onDone?: (r: TcpRequestResult) => void): TcpRequestRun {
  const d = target(dst), sim = host.sim, t0 = sim.now;
  const chunks: Uint8Array[] = [];
  let connectMs: number | null = null, error: string | null = null, done = false, result: TcpRequestResult | null = null;
  const end = (): void => {
    done = true;
    if (onDone !== undefined && result === null) onDone(finish());
  };
  const c = host.tcp.connect(d, port);
  c.onConnect = () => {
    connectMs = (sim.now - t0) / 1e6;
    c.send(typeof request === 'string' ? new TextEncoder().encode(request) : request);
    c.close();
  };
  c.onData = (x) => { chunks.push(x.slice()); };
  c.onError = (e) => { error = e.errno; end(); };
  c.onEnd = end;
  c.onClose = end;
  const timer = sim.call((opts.timeoutSec ?? 30) * 1e9, () => { if (!done) { error = 'ETIMEDOUT'; c.abort(); end(); } });
  const finish = (): TcpRequestResult => {
    if (result !== null) return result;
    sim.cancel(timer);
    const response = new Uint8Array(chunks.reduce((n, x) => n + x.length, 0));
    let at = 0;
    for (const x of chunks) { response.set(x, at); at += x.length; }
    return (result = { response, connectMs, totalMs: (sim.now - t0) / 1e6, error, retransmits: c.totalRetrans });
  };
  return { done: () => done, finish };
}
