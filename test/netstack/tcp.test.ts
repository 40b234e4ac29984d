// TCP (src/netstack/tcp.ts): two TcpStacks joined by a simulated wire on the Sim clock, with
// deterministic loss and reordering; a raw peer that writes segments by hand for the RFC corner cases.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Sim, ms, sec } from '../../src/sim/engine.js';
import { mulberry32 } from '../../src/rng.js';
import { ipv4PseudoSum } from '../../src/wire/checksum.js';
import { Ipv4Packet } from '../../src/wire/ipv4.js';
import { FrameBuilder } from '../../src/wire/builder.js';
import { TcpPacket, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, seqAdd, seqDiff } from '../../src/wire/tcp.js';
import {
  SS_STATE, TcpConn, TcpError, TcpStack, type TcpClock, type TcpIo, type TcpStackOptions, type TcpState,
} from '../../src/netstack/tcp.js';

const A = 0x0a000001; // 10.0.0.1
const B = 0x0a000002; // 10.0.0.2

/** One segment as the tests read it. */
interface Seg {
  t: number; from: 'a' | 'b'; src: number; dst: number; sport: number; dport: number; seq: number; ack: number;
  flags: number; window: number; len: number; mss: number; ipId: number; ttl: number; df: boolean;
  ipCsumOk: boolean; tcpCsumOk: boolean; frame: Uint8Array;
}

function decode(frame: Uint8Array, t = 0, from: 'a' | 'b' = 'a'): Seg {
  const ip = new Ipv4Packet().reset(frame, 14, frame.length);
  if (ip.check() !== 0) throw new Error('a malformed IPv4 header was sent');
  const tcp = new TcpPacket().reset(frame, ip.payloadOffset(), ip.payloadEnd());
  if (tcp.check() !== 0) throw new Error('a malformed TCP header was sent');
  return {
    t, from, src: ip.src(), dst: ip.dst(), sport: tcp.srcPort(), dport: tcp.dstPort(), seq: tcp.seqNumber(),
    ack: tcp.ackNumber(), flags: tcp.flags(), window: tcp.window(), len: tcp.payloadLen(), mss: tcp.mss(),
    ipId: ip.ident(), ttl: ip.ttl(), df: ip.dontFrag(), ipCsumOk: ip.verifyChecksum(),
    tcpCsumOk: tcp.verifyChecksum(ipv4PseudoSum(ip.src(), ip.dst(), 6, ip.payloadEnd() - ip.payloadOffset())), frame,
  };
}

/** The RST a Linux host sends for a segment no socket wants (tcp_v4_send_reset), or null. */
function hostReset(frame: Uint8Array): Uint8Array | null {
  const s = decode(frame);
  if ((s.flags & TCP_RST) !== 0) return null;
  const b = new FrameBuilder().eth().ipv4({ src: s.dst, dst: s.src, df: true, ident: 0 });
  if ((s.flags & TCP_ACK) !== 0) return b.tcp({ srcPort: s.dport, dstPort: s.sport, seq: s.ack, ack: 0, flags: TCP_RST, window: 0 }).build();
  const segLen = s.len + ((s.flags & TCP_SYN) !== 0 ? 1 : 0) + ((s.flags & TCP_FIN) !== 0 ? 1 : 0);
  return b.tcp({ srcPort: s.dport, dstPort: s.sport, seq: 0, ack: seqAdd(s.seq, segLen), flags: TCP_RST | TCP_ACK, window: 0 }).build();
}

/** What one direction of the wire does to the n-th frame it carries: drop it, or delay it extra. */
interface WireSpec {
  delayNs?: number;
  drop?: (n: number, s: Seg) => boolean;
  extraDelayNs?: (n: number, s: Seg) => number;
}

interface Pair {
  sim: Sim;
  a: TcpStack;
  b: TcpStack;
  trace: Seg[];
  /** frames each stack's input refused (the host answered with its RST) */
  refused: number;
}

/** Two stacks, A = 10.0.0.1 and B = 10.0.0.2, joined by a wire with 'ab' and 'ba' behaviour. */
function pair(o: { seed?: number; ab?: WireSpec; ba?: WireSpec; a?: TcpStackOptions; b?: TcpStackOptions; mtu?: number; clock?: (sim: Sim) => TcpClock } = {}): Pair {
  const sim = new Sim({ seed: o.seed ?? 7 });
  const clock = o.clock ? o.clock(sim) : sim;
  const p = { sim, trace: [] as Seg[], refused: 0 } as Pair;
  const counts = { a: 0, b: 0 };
  const io = (self: number, from: 'a' | 'b', spec: WireSpec): TcpIo => ({
    sim: clock,
    mtuTo: () => o.mtu ?? 1500,
    sourceFor: () => self,
    send(frame) {
      const s = decode(frame, sim.now, from);
      p.trace.push(s);
      const n = counts[from]++;
      if (spec.drop?.(n, s)) return;
      const to = from === 'a' ? () => p.b : () => p.a;
      const back = from === 'a' ? () => p.a : () => p.b;
      sim.call((spec.delayNs ?? ms(1)) + (spec.extraDelayNs?.(n, s) ?? 0), () => {
        if (!to().input(frame)) {
          p.refused++;
          const r = hostReset(frame);
          if (r !== null) sim.call(spec.delayNs ?? ms(1), () => back().input(r));
        }
      });
    },
  });
  p.a = new TcpStack(io(A, 'a', o.ab ?? {}), o.a);
  p.b = new TcpStack(io(B, 'b', o.ba ?? {}), o.b);
  return p;
}

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const x of parts) n += x.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const x of parts) { out.set(x, o); o += x.length; }
  return out;
}

function bytes(n: number, seed = 1): Uint8Array {
  const r = mulberry32(seed);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = r() & 0xff;
  return b;
}

/** -1 when 'a' and 'b' hold the same bytes, else the first index where they differ (or the shorter length). */
function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array): string => new TextDecoder().decode(b);

/** A server on B:'port' that records everything it gets; 'onConn' sets up each accepted connection. */
function server(b: TcpStack, port: number, onConn: (c: TcpConn, got: Uint8Array[]) => void = () => {}): { conns: TcpConn[]; got: Uint8Array[][] } {
  const r = { conns: [] as TcpConn[], got: [] as Uint8Array[][] };
  b.listen(port, (c) => {
    const got: Uint8Array[] = [];
    r.conns.push(c);
    r.got.push(got);
    c.onData = (d) => { got.push(d.slice()); };
    onConn(c, got);
  });
  return r;
}

/** Record every state each connection of 'stacks' passes through, until 'until' (virtual ns). */
function stateLog(sim: Sim, stacks: TcpStack[], until: number): Map<TcpConn, TcpState[]> {
  const logs = new Map<TcpConn, TcpState[]>();
  for (const st of stacks) {
    st.onStateChange = (c, prev) => {
      let log = logs.get(c);
      if (log === undefined) logs.set(c, (log = [prev]));
      log.push(c.state);
    };
  }
  sim.runUntil(until);
  return logs;
}

describe('handshake and request/response', () => {
  it('connects, exchanges a request and a response, and every frame is well formed', () => {
    const p = pair();
    server(p.b, 80, (c) => { c.onData = (d) => c.send(text(str(d).toUpperCase())); });
    const c = p.a.connect(B, 80);
    const got: string[] = [];
    let connectedAt = -1;
    c.onConnect = () => { connectedAt = p.sim.now; c.send(text('get /index')); };
    c.onData = (d) => got.push(str(d));
    p.sim.runFor(ms(100));
    expect(connectedAt).toBe(ms(2));
    expect(got.join('')).toBe('GET /INDEX');
    expect(c.state).toBe('ESTABLISHED');
    expect(c.localPort).toBeGreaterThanOrEqual(32768);
    expect(c.localPort).toBeLessThanOrEqual(60999);

    const [syn, synAck, ack3] = p.trace;
    expect(syn!.flags).toBe(TCP_SYN);
    expect(synAck!.flags).toBe(TCP_SYN | TCP_ACK);
    expect(ack3!.flags).toBe(TCP_ACK);
    expect([syn!.mss, synAck!.mss, ack3!.mss]).toEqual([1460, 1460, -1]);
    expect(synAck!.ack).toBe(seqAdd(syn!.seq, 1));
    expect(ack3!.seq).toBe(seqAdd(syn!.seq, 1));
    expect(ack3!.ack).toBe(seqAdd(synAck!.seq, 1));
    // Linux's IPv4 header choices: TTL 64, DF, id 0 from a request socket, else a counter per socket
    for (const s of p.trace) {
      expect([s.ttl, s.df, s.ipCsumOk, s.tcpCsumOk, s.window]).toEqual([64, true, true, true, 65535]);
    }
    expect(synAck!.ipId).toBe(0);
    const fromA = p.trace.filter((s) => s.from === 'a').map((s) => s.ipId);
    expect(fromA).toEqual(fromA.map((_, i) => (fromA[0]! + i) & 0xffff));
    const fromB = p.trace.filter((s) => s.from === 'b').slice(1).map((s) => s.ipId);
    expect(fromB).toEqual(fromB.map((_, i) => (fromB[0]! + i) & 0xffff));
    // the request is one PSH segment carrying the ACK
    const req = p.trace.find((s) => s.from === 'a' && s.len > 0)!;
    expect(req.flags).toBe(TCP_ACK | TCP_PSH);
    expect(p.a.mib.ActiveOpens).toBe(1);
    expect(p.b.mib.PassiveOpens).toBe(1);
    expect(p.a.mib.CurrEstab).toBe(1);
    expect(c.bytesAcked).toBe(10);
    expect(c.bytesReceived).toBe(10);
  });

  it('measures the RTT on the handshake: RTO = SRTT + max(4 RTTVAR, 200 ms), as Linux', () => {
    const p = pair({ ab: { delayNs: ms(50) }, ba: { delayNs: ms(50) } });
    server(p.b, 80);
    const c = p.a.connect(B, 80);
    p.sim.runFor(ms(150));
    const i = c.info();
    expect(i.srttNs).toBe(ms(100));
    expect(i.rttvarNs).toBe(ms(50));
    expect(i.rtoNs).toBe(ms(300));
    expect(i.mss).toBe(1460);
    expect(i.cwnd).toBe(14600);
    // a short path keeps the 200 ms floor on the variance term
    const q = pair({ ab: { delayNs: ms(1) }, ba: { delayNs: ms(1) } });
    server(q.b, 80);
    const d = q.a.connect(B, 80);
    q.sim.runFor(ms(10));
    expect(d.info().rtoNs).toBe(ms(202));
  });

  it('segments by the MSS and never sends beyond the window the peer advertised (8000 bytes)', () => {
    const p = pair({ mtu: 1500, b: { rcvWnd: 8000 } });
    const srv = server(p.b, 80);
    const c = p.a.connect(B, 80);
    const data = bytes(50_000);
    c.onConnect = () => c.send(data);
    p.sim.runFor(sec(1));
    expect(firstDiff(concat(srv.got[0]!), data)).toBe(-1);
    const segs = p.trace.filter((s) => s.from === 'a' && s.len > 0);
    expect(Math.max(...segs.map((s) => s.len))).toBe(1460);
    // never more than 8000 bytes beyond the last ACK seen
    let una = 0;
    for (const s of p.trace) {
      if (s.from === 'b' && (s.flags & TCP_ACK) !== 0) una = s.ack;
      if (s.from === 'a' && s.len > 0 && una !== 0) expect(seqDiff(seqAdd(s.seq, s.len), una)).toBeLessThanOrEqual(8000);
    }
    expect(c.totalRetrans).toBe(0);
  });

  it('takes the MSS from the path: a 1000-byte MTU on one side gives 960-byte segments both ways', () => {
    const sim = new Sim({ seed: 3 });
    const trace: Seg[] = [];
    const stacks: TcpStack[] = [];
    const mk = (self: number, mtu: number, peer: () => TcpStack): TcpIo => ({
      sim, mtuTo: () => mtu, sourceFor: () => self,
      send(f) { trace.push(decode(f, sim.now, self === A ? 'a' : 'b')); sim.call(ms(1), () => peer().input(f)); },
    });
    stacks.push(new TcpStack(mk(A, 1500, () => stacks[1]!)), new TcpStack(mk(B, 1000, () => stacks[0]!)));
    const srv = server(stacks[1]!, 80, (c) => c.send(bytes(5000, 2)));
    const c = stacks[0]!.connect(B, 80);
    c.onConnect = () => c.send(bytes(5000, 3));
    sim.runFor(sec(1));
    expect(trace[0]!.mss).toBe(1460);
    expect(trace[1]!.mss).toBe(960);
    expect(Math.max(...trace.filter((s) => s.from === 'a').map((s) => s.len))).toBe(960);
    expect(Math.max(...trace.filter((s) => s.from === 'b').map((s) => s.len))).toBe(960);
    expect(firstDiff(concat(srv.got[0]!), bytes(5000, 3))).toBe(-1);
  });
});

describe('loss, reordering, retransmission', () => {
  it('moves 1 MB across 1 % loss in each direction: the bytes arrive equal, with retransmissions', () => {
    const loss = (seed: number): WireSpec['drop'] => { const r = mulberry32(seed); return () => r() / 2 ** 32 < 0.01; };
    const p = pair({ ab: { drop: loss(11) }, ba: { drop: loss(12) } });
    const data = bytes(1 << 20, 5);
    const srv = server(p.b, 5001);
    const c = p.a.connect(B, 5001);
    let closedAt = -1;
    let closedState = '';
    c.onConnect = () => { c.send(data); c.close(); };
    c.onClose = () => { closedAt = p.sim.now; closedState = c.state; };
    p.sim.runFor(sec(120));
    expect(firstDiff(concat(srv.got[0]!), data)).toBe(-1);
    expect(c.totalRetrans).toBeGreaterThan(0);
    expect(c.bytesAcked).toBe(1 << 20);
    expect(closedState).toBe('TIME_WAIT');
    expect(srv.conns[0]!.state).toBe('CLOSED');
    expect(closedAt).toBeGreaterThan(0);
    expect(closedAt).toBeLessThan(sec(60));
    expect(p.a.mib.RetransSegs).toBe(c.totalRetrans);
  });

  it('a reordered segment is buffered: delivered once, in order, with no retransmission', () => {
    // A's 3rd data segment is held back 5 ms, so the 4th and 5th overtake it (two duplicate
    // ACKs: below the fast-retransmit threshold)
    let dataSeen = 0;
    const p = pair({ ab: { extraDelayNs: (_n, s) => (s.len > 0 && ++dataSeen === 3 ? ms(5) : 0) } });
    const srv = server(p.b, 80);
    const c = p.a.connect(B, 80);
    const data = bytes(5 * 1460, 9);
    c.onConnect = () => c.send(data);
    p.sim.runFor(sec(2));
    expect(firstDiff(concat(srv.got[0]!), data)).toBe(-1);
    expect(c.totalRetrans).toBe(0);
    // B answered the two early segments with duplicate ACKs for the hole (acks[0] is the SYN-ACK's)
    const acks = p.trace.filter((s) => s.from === 'b' && s.len === 0).map((s) => s.ack);
    const hole = acks[2]!;
    expect(acks.filter((a) => a === hole).length).toBe(3);
    expect(acks[acks.length - 1]).toBe(seqAdd(p.trace[0]!.seq, 1 + data.length));
  });

  it('three duplicate ACKs trigger a fast retransmission long before the RTO', () => {
    let dropped = false;
    const p = pair({ ab: { drop: (_n, s) => { if (s.len > 0 && !dropped) { dropped = true; return true; } return false; } } });
    const srv = server(p.b, 80);
    const c = p.a.connect(B, 80);
    const data = bytes(10 * 1460, 4);
    c.onConnect = () => c.send(data);
    p.sim.runFor(ms(50));
    expect(firstDiff(concat(srv.got[0]!), data)).toBe(-1);
    expect(c.fastRetrans).toBe(1);
    expect(c.totalRto).toBe(0);
    expect(c.totalRetrans).toBe(1);
  });

  it('retransmits on RTO with exponential backoff when every data segment is lost for a while', () => {
    let blackout = true;
    const p = pair({ ab: { drop: (_n, s) => blackout && s.len > 0 } });
    const srv = server(p.b, 80);
    const c = p.a.connect(B, 80);
    c.onConnect = () => c.send(text('hello'));
    p.sim.runFor(sec(3));
    const tx = p.trace.filter((s) => s.from === 'a' && s.len > 0).map((s) => s.t);
    // first send at 2 ms; RTO 202 ms (SRTT 2 ms), then 404, 808, 1616 ms
    expect(tx.map((t) => Math.round((t - tx[0]!) / ms(1)))).toEqual([0, 202, 606, 1414]);
    blackout = false;
    p.sim.runFor(sec(5));
    expect(str(concat(srv.got[0]!))).toBe('hello');
    expect(c.totalRto).toBe(4);
    // new data acknowledged: the backoff is gone
    expect(c.info().rtoNs).toBeLessThan(ms(300));
  });

  it('RFC 6069: a host unreachable quoting SND.UNA while backed off undoes one doubling (tcp_ld_RTO_revert)', () => {
    const p = pair({ ab: { drop: (_n, s) => s.len > 0 } });
    server(p.b, 80);
    const c = p.a.connect(B, 80);
    c.onConnect = () => c.send(text('hello'));
    p.sim.runFor(ms(100));
    const first = p.trace.find((s) => s.from === 'a' && s.len > 0)!;
    const unreach = (code: number, seq = first.seq): Uint8Array => new FrameBuilder().eth().ipv4({ src: '10.0.0.254', dst: A })
      .icmp({ type: 3, code }).ipv4({ src: A, dst: B, df: true })
      .tcp({ srcPort: c.localPort, dstPort: 80, seq, flags: 'PA', truncate: 8 }).build();
    // retransmissions at +202, +606, +1414 ms (backoff 3, RTO 1616 ms: the next would be at +3030)
    p.sim.at(first.t + ms(1514), { onEvent: () => {
      // a port unreachable, or one quoting another sequence number, reverts nothing
      expect(p.a.icmpError(unreach(3))).toBe(true);
      expect(p.a.icmpError(unreach(1, seqAdd(first.seq, 1)))).toBe(true);
      expect(c.info().rtoNs).toBe(ms(1616));
      // a host unreachable: backoff 2, RTO 808 ms, 708 ms of it left since the retransmission at +1414
      expect(p.a.icmpError(unreach(1))).toBe(true);
      expect(c.info().rtoNs).toBe(ms(808));
    } });
    // after the retransmission at +2222 (backoff 3 again), a net unreachable 900 ms later: the
    // reverted RTO (808 ms) has already run out, so it retransmits at once
    p.sim.at(first.t + ms(2222 + 900), { onEvent: () => { expect(p.a.icmpError(unreach(0))).toBe(true); } });
    p.sim.runUntil(first.t + ms(3200));
    const tx = p.trace.filter((s) => s.from === 'a' && s.len > 0).map((s) => Math.round((s.t - first.t) / ms(1)));
    expect(tx).toEqual([0, 202, 606, 1414, 2222, 3122]);
    expect(c.softError).toBe('ENETUNREACH');
    expect(c.state).toBe('ESTABLISHED');
  });

  it('gives up with ETIMEDOUT when retransmissions go unanswered (tcp_retries2 = 15: 924.6 s)', () => {
    let cut = false;
    const p = pair({ ab: { drop: () => cut }, ba: { drop: () => cut } });
    server(p.b, 80);
    const c = p.a.connect(B, 80);
    const errs: string[] = [];
    let failedAt = -1;
    c.onConnect = () => { cut = true; c.send(text('x')); };
    c.onError = (e) => { errs.push(e.code); failedAt = p.sim.now; };
    p.sim.runFor(sec(2000));
    expect(errs).toEqual(['ETIMEDOUT']);
    expect(c.state).toBe('CLOSED');
    // the model: RTO 202 ms doubling to at most 120 s; the expiry that finds 924.6 s gone since the
    // timer was first armed (the first send) fails instead of retransmitting
    const tx = p.trace.filter((s) => s.from === 'a' && s.len > 0).map((s) => s.t);
    const expected: number[] = [0];
    let t = 0, rto = ms(202);
    for (;;) {
      t += rto;
      if (t >= sec(924.6)) break;
      expected.push(t);
      rto = Math.min(rto * 2, sec(120));
    }
    expect(tx.map((x) => x - tx[0]!)).toEqual(expected);
    expect(failedAt - tx[0]!).toBe(t);
    expect(tx.length).toBe(16);
  });
});

describe('connect failures', () => {
  it('a SYN to a closed port: input() returns false, the host RST refuses the connect', () => {
    const p = pair();
    const c = p.a.connect(B, 81);
    const errs: string[] = [];
    let closed = 0;
    c.onError = (e) => errs.push(e.code);
    c.onClose = () => closed++;
    p.sim.runFor(ms(10));
    expect(p.refused).toBe(1);
    expect(errs).toEqual(['ECONNREFUSED']);
    expect(closed).toBe(1);
    expect(c.state).toBe('CLOSED');
    expect(c.error).toBeInstanceOf(TcpError);
    expect(p.a.mib.AttemptFails).toBe(1);
    expect(p.a.sockets()).toEqual([]);
  });

  it('a lost SYN times out as Linux 6.x: 4 linear retries, then doubling; ETIMEDOUT at 131 s', () => {
    const p = pair({ ab: { drop: () => true } });
    const c = p.a.connect(B, 80);
    let failedAt = -1;
    c.onError = (e) => { expect(e.code).toBe('ETIMEDOUT'); failedAt = p.sim.now; };
    p.sim.runFor(sec(200));
    expect(p.trace.map((s) => s.t / sec(1))).toEqual([0, 1, 2, 3, 4, 5, 7, 11, 19, 35, 67]);
    expect(p.trace.every((s) => s.flags === TCP_SYN && s.seq === p.trace[0]!.seq)).toBe(true);
    expect(failedAt).toBe(sec(131));
    expect(c.totalRetrans).toBe(10);
  });

  it('with synLinearTimeouts 0 the classic series: SYNs at 0, 1, 3, …, 63 s, ETIMEDOUT at 127 s', () => {
    const p = pair({ ab: { drop: () => true }, a: { synLinearTimeouts: 0 } });
    const c = p.a.connect(B, 80);
    let failedAt = -1;
    c.onError = () => { failedAt = p.sim.now; };
    p.sim.runFor(sec(200));
    expect(p.trace.map((s) => s.t / sec(1))).toEqual([0, 1, 3, 7, 15, 31, 63]);
    expect(failedAt).toBe(sec(127));
  });

  // Linux 6.18 measured on this project's machines: a client in a namespace connects to an
  // address behind a veth whose peer drops everything (static neighbour), tcpdump -tt on the
  // veth, for each (net.ipv4.tcp_syn_retries, net.ipv4.tcp_syn_linear_timeouts):
  //   ip netns exec NS sysctl -w net.ipv4.tcp_syn_retries=R net.ipv4.tcp_syn_linear_timeouts=L
  //   ip netns exec NS python3 -c "import socket; socket.socket().connect(('10.78.0.2', 9000))"
  // SYN times and ETIMEDOUT, rounded to the second (the kernel's run ~2 % late: jiffies).
  const KERNEL_SYN_SCHEDULES: { retries: number; linear: number; syns: number[]; failS: number }[] = [
    { retries: 1, linear: 4, syns: [0, 1, 2], failS: 3 },
    { retries: 2, linear: 4, syns: [0, 1, 2, 3, 4, 5], failS: 7 },
    { retries: 3, linear: 4, syns: [0, 1, 2, 3, 4, 5, 7, 11], failS: 19 },
    { retries: 2, linear: 0, syns: [0, 1, 3], failS: 7 },
    { retries: 2, linear: 1, syns: [0, 1, 2, 4], failS: 8 },
  ];
  it.each(KERNEL_SYN_SCHEDULES)('SYN schedule as the kernel measured: tcp_syn_retries $retries, linear timeouts $linear', ({ retries, linear, syns, failS }) => {
    const p = pair({ ab: { drop: () => true }, a: { synRetries: retries, synLinearTimeouts: linear } });
    const c = p.a.connect(B, 80);
    let failedAt = -1;
    c.onError = (e) => { expect(e.code).toBe('ETIMEDOUT'); failedAt = p.sim.now; };
    p.sim.runFor(sec(100));
    expect(p.trace.map((s) => s.t / sec(1))).toEqual(syns);
    expect(failedAt).toBe(sec(failS));
  });

  it('the SYN-ACK is retransmitted 5 times, then the embryonic connection goes silently (63 s)', () => {
    let n = 0;
    const p = pair({ ab: { drop: () => n++ > 0 } }); // only A's SYN gets through
    const srv = server(p.b, 80);
    const c = p.a.connect(B, 80);
    p.sim.runFor(sec(100));
    const synAcks = p.trace.filter((s) => s.from === 'b').map((s) => s.t / ms(1) - 1);
    expect(synAcks).toEqual([0, 1000, 3000, 7000, 15000, 31000]);
    expect(srv.conns).toEqual([]);
    expect(p.b.sockets().filter((s) => s instanceof TcpConn)).toEqual([]);
    expect(p.b.mib.AttemptFails).toBe(1);
    expect(c.state).toBe('ESTABLISHED'); // A got the SYN-ACK; its ACKs were lost
  });

  it('an ICMP port unreachable for the SYN fails connect with ECONNREFUSED; host unreachable with EHOSTUNREACH', () => {
    for (const [code, errno] of [[3, 'ECONNREFUSED'], [1, 'EHOSTUNREACH']] as const) {
      const p = pair({ ab: { drop: () => true } });
      const c = p.a.connect(B, 80);
      p.sim.runUntil(0);
      const syn = p.trace[0]!;
      const errs: string[] = [];
      c.onError = (e) => errs.push(e.code);
      const icmp = new FrameBuilder().eth().ipv4({ src: '10.0.0.254', dst: A }).icmp({ type: 3, code })
        .ipv4({ src: A, dst: B, df: true }).tcp({ srcPort: syn.sport, dstPort: 80, seq: syn.seq, flags: 'S', truncate: 8 }).build();
      // a quoted sequence number outside [SND.UNA, SND.MAX] is ignored
      const stale = new FrameBuilder().eth().ipv4({ src: '10.0.0.254', dst: A }).icmp({ type: 3, code })
        .ipv4({ src: A, dst: B, df: true }).tcp({ srcPort: syn.sport, dstPort: 80, seq: seqAdd(syn.seq, 1000), flags: 'S', truncate: 8 }).build();
      expect(p.a.icmpError(stale)).toBe(false);
      expect(p.a.icmpError(icmp)).toBe(true);
      expect(errs).toEqual([errno]);
      expect(c.state).toBe('CLOSED');
    }
  });

  it('an ICMP error on an established connection is only remembered; frag-needed shrinks the MSS', () => {
    const p = pair();
    const srv = server(p.b, 80);
    const c = p.a.connect(B, 80);
    p.sim.runFor(ms(10));
    const q = (type: number, code: number, mtu = 0): Uint8Array => new FrameBuilder().eth().ipv4({ src: '10.0.0.254', dst: A })
      .icmp({ type, code, mtu }).ipv4({ src: A, dst: B, df: true })
      .tcp({ srcPort: c.localPort, dstPort: 80, seq: seqAdd(p.trace[0]!.seq, 1), flags: 'A', truncate: 8 }).build();
    expect(p.a.icmpError(q(3, 1))).toBe(true);
    expect(c.state).toBe('ESTABLISHED');
    expect(c.softError).toBe('EHOSTUNREACH');
    expect(p.a.icmpError(q(3, 4, 1000))).toBe(true);
    expect(c.info().mss).toBe(960);
    c.send(bytes(5000, 8));
    p.sim.runFor(ms(100));
    expect(Math.max(...p.trace.filter((s) => s.from === 'a').map((s) => s.len))).toBe(960);
    expect(firstDiff(concat(srv.got[0]!), bytes(5000, 8))).toBe(-1);
  });
});

describe('closing', () => {
  it('the client closes first: FIN_WAIT_1, FIN_WAIT_2, TIME_WAIT for 60 s; the server CLOSE_WAIT, LAST_ACK, CLOSED', () => {
    const p = pair({ b: { allowHalfOpen: true } });
    const srv = server(p.b, 80, (c) => { c.onEnd = () => p.sim.call(ms(5), () => { c.send(text('bye')); c.close(); }); });
    const c = p.a.connect(B, 80);
    const got: string[] = [];
    let ended = 0, closed = 0;
    c.onData = (d) => got.push(str(d));
    c.onEnd = () => ended++;
    c.onClose = () => closed++;
    c.onConnect = () => { c.send(text('req')); c.close(); };
    const logs = stateLog(p.sim, [p.a, p.b], sec(1));
    expect(logs.get(c)).toEqual(['SYN_SENT', 'ESTABLISHED', 'FIN_WAIT_1', 'FIN_WAIT_2', 'TIME_WAIT']);
    expect(logs.get(srv.conns[0]!)).toEqual(['CLOSED', 'SYN_RECEIVED', 'ESTABLISHED', 'CLOSE_WAIT', 'LAST_ACK', 'CLOSED']);
    expect(got.join('')).toBe('bye');
    expect([ended, closed]).toEqual([1, 1]);
    expect(p.a.sockets().length).toBe(1);
    expect(p.a.sockets()[0]).toBe(c);
    expect(c.toString()).toMatch(/^TIME-WAIT 0 0 10\.0\.0\.1:\d+ 10\.0\.0\.2:80$/);
    const twAt = p.trace[p.trace.length - 1]!.t;
    p.sim.runUntil(twAt + sec(59.9));
    expect(c.state).toBe('TIME_WAIT');
    p.sim.runUntil(twAt + sec(60));
    expect(c.state).toBe('CLOSED');
    expect(p.a.sockets()).toEqual([]);
    expect(closed).toBe(1);
    // send() then close(): the request left at once, the FIN after it (as Linux's write(); close())
    expect(p.trace.filter((s) => s.from === 'a' && s.t === ms(2)).map((s) => [s.flags, s.len]))
      .toEqual([[TCP_ACK, 0], [TCP_ACK | TCP_PSH, 3], [TCP_ACK | TCP_FIN, 0]]);
    // the ACK of the server's FIN, sent as the full socket becomes TIME_WAIT, still carries its id counter
    const last = p.trace[p.trace.length - 1]!;
    expect(last.from).toBe('a');
    expect(last.ipId).not.toBe(0);
  });

  it('the server closes first; without allowHalfOpen the client closes back in the same segment', () => {
    const p = pair();
    const srv = server(p.b, 80, (c) => { c.send(text('hello')); c.close(); });
    const c = p.a.connect(B, 80);
    const got: string[] = [];
    c.onData = (d) => got.push(str(d));
    const logs = stateLog(p.sim, [p.a, p.b], sec(1));
    expect(got.join('')).toBe('hello');
    expect(logs.get(c)).toEqual(['SYN_SENT', 'ESTABLISHED', 'CLOSE_WAIT', 'LAST_ACK', 'CLOSED']);
    expect(logs.get(srv.conns[0]!)).toEqual(['CLOSED', 'SYN_RECEIVED', 'ESTABLISHED', 'FIN_WAIT_1', 'FIN_WAIT_2', 'TIME_WAIT']);
    // three-segment close: FIN from B, FIN+ACK from A, ACK from B
    const fins = p.trace.filter((s) => (s.flags & TCP_FIN) !== 0).map((s) => s.from);
    expect(fins).toEqual(['b', 'a']);
  });

  it('simultaneous close: both FIN_WAIT_1, CLOSING, TIME_WAIT', () => {
    const p = pair({ a: { allowHalfOpen: true }, b: { allowHalfOpen: true } });
    const srv = server(p.b, 80);
    const c = p.a.connect(B, 80);
    p.sim.runFor(ms(10));
    const s = srv.conns[0]!;
    const logs = new Map<TcpConn, TcpState[]>();
    for (const st of [p.a, p.b]) {
      st.onStateChange = (x, prev) => {
        if (!logs.has(x)) logs.set(x, [prev]);
        logs.get(x)!.push(x.state);
      };
    }
    c.close();
    s.close();
    p.sim.runFor(sec(1));
    expect(logs.get(c)).toEqual(['ESTABLISHED', 'FIN_WAIT_1', 'CLOSING', 'TIME_WAIT']);
    expect(logs.get(s)).toEqual(['ESTABLISHED', 'FIN_WAIT_1', 'CLOSING', 'TIME_WAIT']);
    p.sim.runFor(sec(61));
    expect([p.a.sockets(), p.b.sockets().length]).toEqual([[], 1]); // B keeps its listener
  });

  it('close() before the handshake completes sends the FIN after the queued data; send() after close() is EPIPE', () => {
    const p = pair();
    const srv = server(p.b, 80);
    const c = p.a.connect(B, 80);
    c.send(text('early'));
    c.close();
    expect(() => c.send(text('late'))).toThrow(expect.objectContaining({ code: 'EPIPE' }));
    p.sim.runFor(sec(1));
    expect(str(concat(srv.got[0]!))).toBe('early');
    expect(c.state).toBe('TIME_WAIT');
    // the handshake's ACK, then the queued data with the FIN on it
    expect(p.trace.filter((s) => s.from === 'a').slice(1, 3).map((s) => [s.flags, s.len]))
      .toEqual([[TCP_ACK, 0], [TCP_ACK | TCP_PSH | TCP_FIN, 5]]);
  });

  it('a retransmitted FIN in TIME_WAIT is ACKed again (IPv4 id 0) and restarts the 60 s', () => {
    let dropAcks = true; // A's pure ACKs after 20 ms: the one for B's FIN is lost
    const p = pair({ ab: { drop: (_n, s) => dropAcks && s.len === 0 && (s.flags & TCP_FIN) === 0 && s.t > ms(20) } });
    const srv = server(p.b, 80);
    const c = p.a.connect(B, 80);
    p.sim.call(ms(20), () => c.close());
    p.sim.runFor(ms(150));
    expect(c.state).toBe('TIME_WAIT');
    expect(srv.conns[0]!.state).toBe('LAST_ACK');
    const before = p.trace.length;
    dropAcks = false;
    p.sim.runFor(sec(1)); // B retransmits its FIN after its RTO
    const after = p.trace.slice(before);
    expect(after.map((s) => [s.from, s.flags])).toEqual([['b', TCP_FIN | TCP_ACK], ['a', TCP_ACK]]);
    expect(after[1]!.ipId).toBe(0);
    expect(srv.conns[0]!.state).toBe('CLOSED');
    const restartAt = after[1]!.t;
    p.sim.runUntil(restartAt + sec(59.9));
    expect(c.state).toBe('TIME_WAIT');
    p.sim.runUntil(restartAt + sec(60));
    expect(c.state).toBe('CLOSED');
  });
});

describe('RST', () => {
  it('abort() sends RST: the peer fails with ECONNRESET, the aborting side closes without error', () => {
    const p = pair();
    const srv = server(p.b, 80);
    const c = p.a.connect(B, 80);
    p.sim.runFor(ms(10));
    const s = srv.conns[0]!;
    const errs: string[] = [];
    let closed = 0, aClosed = 0;
    s.onError = (e) => errs.push(e.code);
    s.onClose = () => closed++;
    c.onClose = () => aClosed++;
    c.abort();
    expect(c.state).toBe('CLOSED');
    expect(c.error).toBe(null);
    p.sim.runFor(ms(10));
    expect(errs).toEqual(['ECONNRESET']);
    expect([closed, aClosed]).toEqual([1, 1]);
    const rst = p.trace[p.trace.length - 1]!;
    expect(rst.flags).toBe(TCP_RST | TCP_ACK);
    expect(p.a.mib.OutRsts).toBe(1);
    expect(p.b.mib.EstabResets).toBe(1);
  });
});

/** A hand-driven peer at B: the test writes its segments and reads A's. */
function rawPeer(o: TcpStackOptions = {}): { sim: Sim; a: TcpStack; out: Seg[]; inject: (fields: { seq: number; ack?: number; flags: number; window?: number; data?: Uint8Array; sport?: number; dport?: number; mss?: number }) => boolean } {
  const sim = new Sim({ seed: 5 });
  const out: Seg[] = [];
  const a = new TcpStack({ sim, mtuTo: () => 1500, sourceFor: () => A, send: (f) => out.push(decode(f, sim.now)) }, o);
  const inject = (x: { seq: number; ack?: number; flags: number; window?: number; data?: Uint8Array; sport?: number; dport?: number; mss?: number }): boolean => {
    const b = new FrameBuilder().eth().ipv4({ src: B, dst: A, df: true })
      .tcp({ srcPort: x.sport ?? 80, dstPort: x.dport ?? out[0]?.sport ?? 1, seq: x.seq, ack: x.ack ?? 0, flags: x.flags, window: x.window ?? 65535,
        options: x.mss !== undefined ? [{ kind: 'mss', value: x.mss }] : [] });
    if (x.data) b.payload(x.data);
    return a.input(b.build());
  };
  return { sim, a, out, inject };
}

describe('RFC 9293 / 5961 corner cases against a hand-driven peer', () => {
  /** A connected to the raw peer: returns A's ISN+1 and the peer's ISN+1. */
  function established(o: TcpStackOptions = {}, window = 65535): ReturnType<typeof rawPeer> & { c: TcpConn; snd: number; rcv: number } {
    const r = rawPeer(o);
    const c = r.a.connect(B, 80);
    r.sim.runUntil(0); // the SYN leaves from a zero-delay event
    const syn = r.out[0]!;
    r.inject({ seq: 5000, ack: seqAdd(syn.seq, 1), flags: TCP_SYN | TCP_ACK, window, mss: 1400 });
    expect(c.state).toBe('ESTABLISHED');
    return { ...r, c, snd: seqAdd(syn.seq, 1), rcv: 5001 };
  }

  it('an ACK to a listener gets <SEQ=SEG.ACK><CTL=RST>; a segment for no socket is the host\'s', () => {
    const r = rawPeer();
    r.a.listen(8080, () => {});
    expect(r.inject({ sport: 4000, dport: 8080, seq: 77, ack: 12345, flags: TCP_ACK })).toBe(true);
    expect(r.out.map((s) => [s.flags, s.seq, s.ack, s.ipId])).toEqual([[TCP_RST, 12345, 0, 0]]);
    expect(r.inject({ sport: 4000, dport: 8081, seq: 77, flags: TCP_SYN })).toBe(false);
    expect(r.inject({ sport: 4000, dport: 8080, seq: 77, flags: TCP_RST })).toBe(true);
    expect(r.out.length).toBe(1);
  });

  it('a SYN-ACK acknowledging the wrong number gets a RST; the connection keeps waiting', () => {
    const r = rawPeer();
    const c = r.a.connect(B, 80);
    r.sim.runUntil(0);
    r.inject({ seq: 5000, ack: seqAdd(r.out[0]!.seq, 7), flags: TCP_SYN | TCP_ACK });
    expect(r.out[1]!.flags).toBe(TCP_RST);
    expect(r.out[1]!.seq).toBe(seqAdd(r.out[0]!.seq, 7));
    expect(c.state).toBe('SYN_SENT');
    // a RST without ACK in SYN_SENT is ignored
    r.inject({ seq: 0, flags: TCP_RST });
    expect(c.state).toBe('SYN_SENT');
  });

  it('without an MSS option the peer gets 536-byte segments', () => {
    const r = rawPeer();
    const c = r.a.connect(B, 80);
    r.sim.runUntil(0);
    r.inject({ seq: 5000, ack: seqAdd(r.out[0]!.seq, 1), flags: TCP_SYN | TCP_ACK });
    c.send(bytes(2000));
    expect(r.out.filter((s) => s.len > 0).map((s) => s.len)).toEqual([536, 536, 536, 392]);
  });

  it('an unacceptable segment gets an ACK and changes nothing', () => {
    const { c, out, inject, snd, rcv } = established();
    const n = out.length;
    inject({ seq: rcv + 100_000, ack: snd, flags: TCP_ACK, data: text('far away') });
    expect(out.slice(n).map((s) => [s.flags, s.seq, s.ack])).toEqual([[TCP_ACK, snd, rcv]]);
    expect(c.bytesReceived).toBe(0);
  });

  it('RST: in window but not at RCV.NXT gets a challenge ACK; at RCV.NXT resets', () => {
    const { c, out, inject, snd, rcv } = established();
    const errs: string[] = [];
    c.onError = (e) => errs.push(e.code);
    const n = out.length;
    inject({ seq: rcv + 10, flags: TCP_RST });
    expect(out.slice(n).map((s) => [s.flags, s.seq, s.ack])).toEqual([[TCP_ACK, snd, rcv]]);
    expect(c.state).toBe('ESTABLISHED');
    inject({ seq: rcv, flags: TCP_RST });
    expect(errs).toEqual(['ECONNRESET']);
  });

  it('a SYN on an established connection gets a challenge ACK (RFC 5961 §4)', () => {
    const { c, out, inject, snd, rcv } = established();
    const n = out.length;
    inject({ seq: rcv + 5, flags: TCP_SYN });
    expect(out.slice(n).map((s) => [s.flags, s.seq, s.ack])).toEqual([[TCP_ACK, snd, rcv]]);
    expect(c.state).toBe('ESTABLISHED');
  });

  it('out-of-order data waits for the hole; the hole delivers both; the FIN after them closes', () => {
    const { c, out, inject, snd, rcv } = established({ allowHalfOpen: true });
    const got: string[] = [];
    let ended = false;
    c.onData = (d) => got.push(str(d));
    c.onEnd = () => { ended = true; };
    inject({ seq: rcv + 5, ack: snd, flags: TCP_ACK | TCP_FIN, data: text('world') });
    expect(got).toEqual([]);
    expect(out[out.length - 1]!.ack).toBe(rcv); // duplicate ACK for the hole
    inject({ seq: rcv, ack: snd, flags: TCP_ACK, data: text('hello') });
    expect(got).toEqual(['hello', 'world']);
    expect(ended).toBe(true);
    expect(c.state).toBe('CLOSE_WAIT');
    expect(out[out.length - 1]!.ack).toBe(rcv + 11);
    // an overlapping retransmission delivers only what is new: nothing
    inject({ seq: rcv + 3, ack: snd, flags: TCP_ACK, data: text('lowor') });
    expect(got).toEqual(['hello', 'world']);
  });

  it('a zero window: the persist timer probes with SEQ = SND.UNA - 1 until the window opens', () => {
    const { c, out, inject, sim, snd, rcv } = established({}, 0);
    c.send(text('blocked'));
    expect(out.filter((s) => s.len > 0)).toEqual([]);
    sim.runFor(sec(1.1)); // the handshake's RTT was ~0: RTO 200 ms; probes at 0.2 s, 0.6 s (backing off)
    const probes = out.filter((s) => s.flags === TCP_ACK && s.seq === seqAdd(snd, -1));
    expect(probes.map((s) => Math.round(s.t / ms(1)))).toEqual([200, 600]);
    inject({ seq: rcv, ack: snd, flags: TCP_ACK, window: 1000 });
    const data = out.filter((s) => s.len > 0);
    expect(data.map((s) => [s.seq, s.len])).toEqual([[snd, 7]]);
  });

  it('a window that closes with data in flight: the RTO hands over to the persist timer', () => {
    const { c, out, inject, sim, snd, rcv } = established();
    c.send(bytes(3000));
    expect(out.filter((s) => s.len > 0).map((s) => s.len)).toEqual([1400, 1400, 200]); // the peer's MSS 1400
    inject({ seq: rcv, ack: seqAdd(snd, 1400), flags: TCP_ACK, window: 0 });
    const n = out.length;
    sim.runFor(sec(3));
    const after = out.slice(n);
    expect(after.length).toBeGreaterThanOrEqual(2);
    expect(after.every((s) => s.flags === TCP_ACK && s.len === 0 && s.seq === seqAdd(snd, 1399))).toBe(true);
    expect(c.state).toBe('ESTABLISHED');
    // the window opens; the RTO left cwnd at one segment (tcp_enter_loss), so one goes, then the rest
    inject({ seq: rcv, ack: seqAdd(snd, 1400), flags: TCP_ACK, window: 65535 });
    expect(out.slice(n + after.length).map((s) => [seqDiff(s.seq, snd), s.len])).toEqual([[1400, 1400]]);
    inject({ seq: rcv, ack: seqAdd(snd, 2800), flags: TCP_ACK, window: 65535 });
    expect(out.slice(n + after.length).map((s) => [seqDiff(s.seq, snd), s.len])).toEqual([[1400, 1400], [2800, 200]]);
  });

  it('TIME_WAIT: a new SYN beyond RCV.NXT goes to the listener; without a listener it is ACKed', () => {
    const r = rawPeer();
    const l = r.a.listen(81, (c) => c.close()); // the server closes first: it ends in TIME_WAIT
    r.inject({ sport: 4000, dport: 81, seq: 100, flags: TCP_SYN });
    const iss = r.out[0]!.seq;
    r.inject({ sport: 4000, dport: 81, seq: 101, ack: seqAdd(iss, 1), flags: TCP_ACK });
    r.inject({ sport: 4000, dport: 81, seq: 101, ack: seqAdd(iss, 2), flags: TCP_ACK | TCP_FIN });
    const c = r.a.lookup(A, 81, B, 4000)!;
    expect(c.state).toBe('TIME_WAIT');
    l.close();
    const n = r.out.length;
    r.inject({ sport: 4000, dport: 81, seq: 5000, flags: TCP_SYN });
    expect(r.out.slice(n).map((s) => [s.flags, s.seq, s.ack, s.ipId])).toEqual([[TCP_ACK, seqAdd(iss, 2), 102, 0]]);
    expect(c.state).toBe('TIME_WAIT');
    r.a.listen(81, () => {});
    r.inject({ sport: 4000, dport: 81, seq: 6000, flags: TCP_SYN });
    const reply = r.out[r.out.length - 1]!;
    expect([reply.flags, reply.ack]).toEqual([TCP_SYN | TCP_ACK, 6001]);
    expect(c.state).toBe('CLOSED');
    expect(r.a.lookup(A, 81, B, 4000)!.state).toBe('SYN_RECEIVED');
  });

  it('EADDRINUSE for overlapping listeners; EADDRNOTAVAIL for a taken 4-tuple', () => {
    const r = rawPeer();
    r.a.listen(80, () => {});
    expect(() => r.a.listen(80, () => {})).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
    expect(() => r.a.listen(80, () => {}, A)).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
    r.a.listen(90, () => {}, A);
    r.a.listen(90, () => {}, 0x0a000009); // another specific address is fine
    expect(() => r.a.connect(B, 80, { sport: 80 })).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
    r.a.connect(B, 80, { sport: 40000 });
    expect(() => r.a.connect(B, 80, { sport: 40000 })).toThrow(expect.objectContaining({ code: 'EADDRNOTAVAIL' }));
    const l = r.a.listen(0, () => {});
    expect(l.localPort % 2).toBe(1);
    expect(l.toString()).toBe(`LISTEN 0 0 0.0.0.0:${l.localPort} 0.0.0.0:*`);
  });

  it('ephemeral ports: in 32768-60999, even first, distinct per destination, from the seeded RNG', () => {
    const r = rawPeer();
    const ports = Array.from({ length: 50 }, () => r.a.connect(B, 80).localPort);
    expect(new Set(ports).size).toBe(50);
    for (const p of ports) {
      expect(p).toBeGreaterThanOrEqual(32768);
      expect(p).toBeLessThanOrEqual(60999);
      expect(p % 2).toBe(0);
    }
    const again = rawPeer();
    expect(Array.from({ length: 50 }, () => again.a.connect(B, 80).localPort)).toEqual(ports);
    // a narrow range is exhausted: even ports, then odd ones, then EADDRNOTAVAIL
    const narrow = rawPeer({ portRange: [40000, 40003] });
    const got = Array.from({ length: 4 }, () => narrow.a.connect(B, 80).localPort);
    expect(got.slice(0, 2).every((p) => p % 2 === 0)).toBe(true);
    expect(new Set(got)).toEqual(new Set([40000, 40001, 40002, 40003]));
    expect(() => narrow.a.connect(B, 80)).toThrow(expect.objectContaining({ code: 'EADDRNOTAVAIL' }));
    expect(narrow.a.connect(B, 81).localPort).toBeGreaterThanOrEqual(40000); // other destination: shared
  });
});

describe('a synchronous loopback (io.send delivering straight into input, as a host\'s lo path may)', () => {
  it('talks to itself: 200 kB each way, both closes, a closed port refused; input meanwhile is queued, not nested', () => {
    const LO = 0x7f000001;
    const sim = new Sim({ seed: 9 });
    let depth = 0, maxDepth = 0, refused = 0;
    const stack: TcpStack = new TcpStack({
      sim, mtuTo: () => 1500, sourceFor: () => LO,
      send(f) {
        maxDepth = Math.max(maxDepth, ++depth);
        if (!stack.input(f)) {
          refused++;
          const r = hostReset(f);
          if (r !== null) stack.input(r);
        }
        depth--;
      },
    });
    const up = bytes(200_000, 1), down = bytes(200_000, 2);
    const srv = server(stack, 80, (c) => c.send(down));
    const c = stack.connect(LO, 80);
    const got: Uint8Array[] = [];
    let connected = false;
    c.onConnect = () => { connected = true; c.send(up); c.close(); };
    c.onData = (d) => got.push(d.slice());
    sim.runFor(sec(1));
    expect(connected).toBe(true);
    expect(firstDiff(concat(srv.got[0]!), up)).toBe(-1);
    expect(firstDiff(concat(got), down)).toBe(-1);
    expect(c.state).toBe('TIME_WAIT');
    expect(srv.conns[0]!.state).toBe('CLOSED');
    expect(maxDepth).toBe(1); // every segment was queued by the nested input, none processed inside send
    const d = stack.connect(LO, 81);
    const errs: string[] = [];
    d.onError = (e) => errs.push(e.code);
    sim.runFor(ms(1));
    expect(errs).toEqual(['ECONNREFUSED']);
    expect(refused).toBe(1);
  });
});

describe('sequence numbers', () => {
  it('a transfer across the 2^32 wrap of both ISNs delivers every byte', () => {
    // a clock whose RNG starts every ISN 3000 bytes before the wrap
    const p = pair({
      clock: (sim) => ({
        get now() { return sim.now; },
        rng: { nextI32: () => -3000 },
        schedule: (d, h, a) => sim.schedule(d, h, a),
        cancel: (id) => sim.cancel(id as Parameters<Sim['cancel']>[0]),
      }),
    });
    const srv = server(p.b, 80, (c) => c.send(bytes(20_000, 2)));
    const c = p.a.connect(B, 80, { sport: 50000 });
    const got: Uint8Array[] = [];
    c.onData = (d) => got.push(d.slice());
    c.onConnect = () => c.send(bytes(20_000, 3));
    p.sim.runFor(sec(2));
    expect(p.trace[0]!.seq).toBe((2 ** 32 - 3000) >>> 0);
    expect(firstDiff(concat(srv.got[0]!), bytes(20_000, 3))).toBe(-1);
    expect(firstDiff(concat(got), bytes(20_000, 2))).toBe(-1);
  });
});

describe('determinism', () => {
  it('the same seed gives the same frames, byte for byte', () => {
    const run = (): string => {
      const r = mulberry32(3);
      const p = pair({ seed: 42, ab: { drop: () => r() / 2 ** 32 < 0.05 } });
      server(p.b, 80, (c) => { c.onData = (d) => c.send(d); });
      const c = p.a.connect(B, 80);
      c.onConnect = () => { c.send(bytes(30_000, 1)); c.close(); };
      p.sim.runFor(sec(30));
      return p.trace.map((s) => `${s.t}:${Buffer.from(s.frame).toString('hex')}`).join('\n');
    };
    expect(run()).toBe(run());
  });
});

describe('property: the received stream equals the sent one', () => {
  it('for random loss, reordering and message sizes, both directions', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        fc.double({ min: 0, max: 0.15, noNaN: true }),
        fc.double({ min: 0, max: 0.3, noNaN: true }),
        fc.array(fc.integer({ min: 1, max: 9000 }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.integer({ min: 1, max: 9000 }), { minLength: 0, maxLength: 6 }),
        (seed, loss, reorder, upSizes, downSizes) => {
          const r = mulberry32(seed);
          const u = (): number => r() / 2 ** 32;
          const spec: WireSpec = { drop: () => u() < loss, extraDelayNs: () => (u() < reorder ? Math.floor(u() * ms(8)) : 0) };
          const p = pair({ seed, ab: spec, ba: { ...spec } });
          const up = upSizes.map((n, i) => bytes(n, seed + i));
          const down = downSizes.map((n, i) => bytes(n, seed + 100 + i));
          const srv = server(p.b, 80, (c) => { for (const d of down) c.send(d); });
          const c = p.a.connect(B, 80);
          const got: Uint8Array[] = [];
          c.onData = (d) => got.push(d.slice());
          c.onConnect = () => { for (const d of up) c.send(d); c.close(); };
          p.sim.runFor(sec(1200));
          expect(firstDiff(concat(srv.got[0] ?? []), concat(up))).toBe(-1);
          expect(firstDiff(concat(got), concat(down))).toBe(-1);
          expect(c.state === 'TIME_WAIT' || c.state === 'CLOSED').toBe(true);
          expect(srv.conns[0]!.state).toBe('CLOSED');
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('names', () => {
  it('ss state names', () => {
    expect([SS_STATE.ESTABLISHED, SS_STATE.SYN_RECEIVED, SS_STATE.TIME_WAIT, SS_STATE.CLOSE_WAIT]).toEqual(['ESTAB', 'SYN-RECV', 'TIME-WAIT', 'CLOSE-WAIT']);
  });
});
