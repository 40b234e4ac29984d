// Network faults on a link, end to end: two hosts through a router (h1 — r1 — h2, real Links,
// the hosts' own TCP and UDP). A link cut in the middle of a TCP transfer and restored; a cut
// that outlasts tcp_retries2; loss and reordering under TCP; reordering as UDP sees it.
// What users expect of Linux is asserted from the segments on the wire (port taps).
import { describe, expect, it } from 'vitest';
import { Topology } from '../../src/topology/topology.js';
import type { Host } from '../../src/netstack/host.js';
import type { TcpConn } from '../../src/netstack/tcp.js';
import type { Link, LinkOptions } from '../../src/sim/link.js';
import { ms, sec } from '../../src/sim/engine.js';
import { mulberry32 } from '../../src/rng.js';
import { TCP_ACK, TCP_SYN } from '../../src/wire/tcp.js';

const H2 = 0x0a000202; // 10.0.2.2

/** One TCP segment as h1's or h2's port saw it leave. */
interface Seg { t: number; seq: number; ack: number; flags: number; len: number; doff: number }

function segOf(f: Uint8Array, t: number): Seg | null {
  if (f[12] !== 0x08 || f[13] !== 0x00 || f[23] !== 6) return null;
  const ihl = (f[14]! & 15) * 4, l4 = 14 + ihl;
  const total = (f[16]! << 8) | f[17]!;
  const doff = (f[l4 + 12]! >> 4) * 4;
  const u32 = (o: number): number => ((f[o]! << 24) | (f[o + 1]! << 16) | (f[o + 2]! << 8) | f[o + 3]!) >>> 0;
  return { t, seq: u32(l4 + 4), ack: u32(l4 + 8), flags: f[l4 + 13]!, len: total - ihl - doff, doff };
}

interface Net {
  topo: Topology; h1: Host; h2: Host;
  /** h1 — r1 and r1 — h2 */
  l1: Link; l2: Link;
  /** segments h1 and h2 sent */
  out1: Seg[]; out2: Seg[];
}

function net(l2opts: LinkOptions = {}, seed = 11): Net {
  const topo = new Topology({ seed });
  const h1 = topo.host('h1', { ip: '10.0.1.2/24', gw: '10.0.1.1' });
  const h2 = topo.host('h2', { ip: '10.0.2.2/24', gw: '10.0.2.1' });
  const r1 = topo.router('r1', { ifaces: [{ name: 'eth1', addrs: ['10.0.1.1/24'] }, { name: 'eth2', addrs: ['10.0.2.1/24'] }] });
  const l1 = topo.link([h1, 'eth0'], [r1, 'eth1'], { delay: '1ms', bandwidth: '100Mbps' });
  const l2 = topo.link([r1, 'eth2'], [h2, 'eth0'], { delay: '1ms', bandwidth: '100Mbps', ...l2opts });
  const n: Net = { topo, h1, h2, l1, l2, out1: [], out2: [] };
  l1.a.tap((f, dir, t) => { const s = dir === 'out' ? segOf(f, t) : null; if (s !== null) n.out1.push(s); });
  l2.b.tap((f, dir, t) => { const s = dir === 'out' ? segOf(f, t) : null; if (s !== null) n.out2.push(s); });
  return n;
}

function bytes(n: number, seed = 1): Uint8Array {
  const r = mulberry32(seed);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = r() & 0xff;
  return b;
}

interface Transfer { conn: TcpConn; got: () => Uint8Array; errors: string[]; closedAt: number[] }

/** h1 sends 'data' to a sink on h2:5001 and closes. */
function transfer(n: Net, data: Uint8Array): Transfer {
  const parts: Uint8Array[] = [];
  let len = 0;
  n.h2.tcp.listen(5001, (c) => {
    c.onData = (d) => { parts.push(d.slice()); len += d.length; };
  });
  const conn = n.h1.tcp.connect(H2, 5001);
  const tr: Transfer = {
    conn, errors: [], closedAt: [],
    got: () => { const out = new Uint8Array(len); let o = 0; for (const p of parts) { out.set(p, o); o += p.length; } return out; },
  };
  conn.onConnect = () => { conn.send(data); conn.close(); };
  conn.onError = (e) => tr.errors.push(`${e.errno}@${(n.topo.sim.now / 1e9).toFixed(3)}s`);
  conn.onClose = () => tr.closedAt.push(n.topo.sim.now);
  return tr;
}

const equalBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** The retransmissions of the first sequence number that went unacknowledged at 'cutAt': their send times. */
function retransmissionsOf(out: Seg[], after: number): { seq: number; times: number[] } {
  const data = out.filter((s) => s.len > 0);
  const seen = new Set<number>();
  // a segment is a retransmission when its sequence number was sent before
  let firstRtx: Seg | null = null;
  for (const s of data) {
    if (s.t > after && seen.has(s.seq)) { firstRtx = s; break; }
    seen.add(s.seq);
  }
  if (firstRtx === null) return { seq: -1, times: [] };
  return { seq: firstRtx.seq, times: data.filter((s) => s.seq === firstRtx.seq && s.t > after).map((s) => s.t) };
}

describe('a link cut in the middle of a TCP transfer, then restored', () => {
  it('stalls, retransmits SND.UNA with the RTO doubling each time (200 ms floor, as Linux), and completes with equal bytes after the restore', () => {
    const n = net();
    const data = bytes(3_000_000);
    const tr = transfer(n, data);
    const cutAt = ms(100), restoreAt = ms(100) + sec(5);
    n.l2.cut(cutAt);
    n.l2.restore(restoreAt);
    // what was in flight on h1's side of the router still arrives and is acknowledged: 5 ms later
    // (past the 4 ms round trip) nothing moves any more
    n.topo.sim.runUntil(cutAt + ms(5));
    const before = tr.conn.bytesAcked;
    expect(before).toBeGreaterThan(100_000);
    expect(before).toBeLessThan(data.length);
    const rtoAtCut = tr.conn.info().rtoNs;
    // a 4 ms path: RTO = SRTT + max(4·RTTVAR, 200 ms) ≈ 200-215 ms
    expect(rtoAtCut).toBeGreaterThanOrEqual(ms(200));
    expect(rtoAtCut).toBeLessThan(ms(260));
    n.topo.sim.runUntil(restoreAt);
    // stalled: nothing more acknowledged while cut
    expect(tr.conn.bytesAcked).toBe(before);
    expect(n.l2.a.stats.drops.down).toBeGreaterThan(0);
    const rtx = retransmissionsOf(n.out1, cutAt);
    // timeouts at +RTO, +2 RTO, +4 RTO … : the gaps between retransmissions of SND.UNA double
    const gaps = rtx.times.slice(1).map((t, i) => t - rtx.times[i]!);
    expect(gaps.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]! / gaps[i - 1]!).toBeCloseTo(2, 6);
    expect(gaps[0]).toBeGreaterThanOrEqual(ms(400) - ms(1));
    expect(tr.conn.totalRto).toBe(rtx.times.length);
    expect(tr.conn.info().retransmits).toBe(rtx.times.length);
    n.topo.sim.runFor(sec(120));
    // after the restore the next retransmission gets through and the transfer completes
    expect(tr.errors).toEqual([]);
    expect(equalBytes(tr.got(), data)).toBe(true);
    expect(tr.conn.bytesAcked).toBe(data.length);
    // the transfer resumed at the first RTO expiry after the restore, not before
    const resumed = n.out1.find((s) => s.t >= restoreAt && s.len > 0)!;
    const after = retransmissionsOf(n.out1, cutAt);
    expect(after.seq).toBe(rtx.seq);
    expect(after.times.length).toBe(rtx.times.length + 1);
    expect(resumed.t).toBe(after.times.at(-1));
    expect(resumed.t - rtx.times.at(-1)!).toBeCloseTo(2 * gaps.at(-1)!, -1);
    const m = {
      rtoAtCutMs: rtoAtCut / 1e6, gapsMs: gaps.map((g) => g / 1e6), resumedAfterRestoreMs: (resumed.t - restoreAt) / 1e6,
      retransmittedSegments: tr.conn.totalRetrans, rtos: tr.conn.totalRto,
    };
    expect(m.retransmittedSegments).toBeGreaterThanOrEqual(m.rtos);
    console.log('[faults] cut 5 s mid-transfer:', JSON.stringify(m));
  });

  it('a cut that outlasts tcp_retries2 aborts the connection at the first RTO expiry 924.6 s after the first was armed; the error is the host unreachable the router sent', () => {
    const n = net();
    const data = bytes(2_000_000);
    const tr = transfer(n, data);
    const unreach: number[] = [];
    n.l1.a.tap((f, dir, t) => { if (dir === 'in' && f[23] === 1 && f[34] === 3 && f[35] === 1) unreach.push(t); });
    const cutAt = ms(100);
    n.l2.cut(cutAt);
    n.topo.sim.runUntil(sec(2000));
    expect(tr.errors.length).toBe(1);
    expect(tr.conn.state).toBe('CLOSED');
    expect(tr.closedAt.length).toBe(1);
    const rtx = retransmissionsOf(n.out1, cutAt);
    const gaps = rtx.times.slice(1).map((t, i) => t - rtx.times[i]!);
    const failedAt = tr.closedAt[0]!;
    // retransmits_timed_out: the first RTO's timer was armed RTO0 = gaps[0] / 2 before it fired
    const armed = rtx.times[0]! - gaps[0]! / 2;
    expect(failedAt - armed).toBeGreaterThanOrEqual(sec(924.6));
    // … and it failed at an expiry: no retransmission after the last gap's RTO
    expect(failedAt - rtx.times.at(-1)!).toBeLessThanOrEqual(sec(120));
    // until the router's neighbour entry for h2 fails (its ARP probes unanswered), nothing answers:
    // the RTO doubles from ~205 ms
    const firstUnreach = unreach[0]!;
    expect(firstUnreach).toBeGreaterThan(sec(100));
    const quiet = gaps.filter((_g, i) => rtx.times[i + 1]! <= firstUnreach);
    expect(quiet.length).toBeGreaterThan(6);
    for (let i = 1; i < quiet.length; i++) expect(quiet[i]).toBeCloseTo(2 * quiet[i - 1]!, -1);
    // then every retransmission gets a host unreachable from r1 (its resolution fails again, 3 s
    // later), which undoes that retransmission's doubling (RFC 6069): the RTO stops growing
    const later = gaps.filter((_g, i) => rtx.times[i]! > firstUnreach);
    expect(later.length).toBeGreaterThan(5);
    for (const g of later) expect(g).toBeCloseTo(later[0]!, -1);
    expect(later[0]).toBeLessThan(sec(120));
    expect(unreach.length).toBeGreaterThanOrEqual(later.length);
    // Linux reports the soft error it kept instead of ETIMEDOUT (tcp_write_err: sk_err_soft ?: ETIMEDOUT)
    expect(tr.conn.softError).toBe('EHOSTUNREACH');
    expect(tr.errors[0]).toMatch(/^EHOSTUNREACH@/);
    console.log('[faults] cut for good:', JSON.stringify({ retransmissions: rtx.times.length, failedAtS: failedAt / 1e9, firstUnreachS: firstUnreach / 1e9, gapsS: gaps.map((g) => +(g / 1e9).toFixed(3)) }));
  });
});

/** Consecutive duplicate ACKs h2 sent (pure ACKs repeating the previous ACK number). */
function dupAcks(out: Seg[]): number {
  let n = 0, last = -1;
  for (const s of out) {
    if ((s.flags & TCP_ACK) === 0 || (s.flags & TCP_SYN) !== 0) continue;
    if (s.len === 0 && s.ack === last) n++;
    last = s.ack;
  }
  return n;
}

describe('loss and reordering on a link', () => {
  it('TCP across 1 % loss and 10 % reordering (3 ms) delivers the bytes equal; dup ACKs drive fast retransmits, no SACK is offered', () => {
    const n = net({ loss: 0.01, reorder: '10% 3ms' });
    const data = bytes(4_000_000, 3);
    const tr = transfer(n, data);
    n.topo.sim.runFor(sec(300));
    expect(tr.errors).toEqual([]);
    expect(equalBytes(tr.got(), data)).toBe(true);
    expect(n.l2.heldBack(0)).toBeGreaterThan(200);
    expect(n.l2.a.stats.drops.loss).toBeGreaterThan(20);
    // the receiver ACKs every out-of-order segment at once with RCV.NXT: duplicate ACKs
    const dups = dupAcks(n.out2);
    expect(dups).toBeGreaterThan(n.l2.heldBack(0));
    // three of them trigger NewReno's fast retransmit (spuriously, for a segment only held back)
    expect(tr.conn.fastRetrans).toBeGreaterThan(10);
    // only MSS on the SYNs: no SACK-permitted, so recovery is NewReno's, one hole per RTT
    const syns = [...n.out1, ...n.out2].filter((s) => (s.flags & TCP_SYN) !== 0);
    expect(syns.map((s) => s.doff)).toEqual([24, 24]);
    console.log('[faults] TCP 4 MB over 1% loss + 10% reorder:', JSON.stringify({
      heldBack: n.l2.heldBack(0), lost: n.l2.a.stats.drops.loss, dupAcks: dups, fastRetrans: tr.conn.fastRetrans,
      rtos: tr.conn.totalRto, retransmittedSegments: tr.conn.totalRetrans, doneAtS: tr.closedAt.length ? tr.closedAt[0]! / 1e9 : null,
    }));
  });

  it('reordering alone: every byte once and in order for the application, fast retransmits without any loss', () => {
    const n = net({ reorder: '5% 2ms' });
    const data = bytes(2_000_000, 5);
    const tr = transfer(n, data);
    n.topo.sim.runFor(sec(60));
    expect(equalBytes(tr.got(), data)).toBe(true);
    const d = n.l2.a.stats.drops;
    expect(d.loss + d.down + d.queue + d.mtu).toBe(0);
    expect(n.l2.heldBack(0)).toBeGreaterThan(20);
    expect(tr.conn.fastRetrans).toBeGreaterThan(0);
    expect(tr.conn.totalRto).toBe(0);
  });

  it('UDP sees the reordering: datagrams arrive out of sequence, as many as were held back, none lost; with loss the ledger still balances', () => {
    for (const loss of [0, 0.02]) {
      const n = net({ reorder: '20% 1ms', loss });
      // resolve the neighbours first, so only the datagrams cross the model
      const rx = n.h2.sockets.udp(7000);
      const got: number[] = [];
      rx.onMessage = (d) => { got.push((d[0]! << 8) | d[1]!); };
      const tx = n.h1.sockets.udp(7001);
      tx.send('10.0.2.2', 7000, new Uint8Array([0xff, 0xff]));
      n.topo.sim.runFor(ms(100));
      got.length = 0;
      const held0 = n.l2.heldBack(0), rx0 = n.l2.b.stats.rxPackets, tx0 = n.l2.a.stats.txPackets;
      const N = 2000;
      for (let i = 0; i < N; i++) n.topo.sim.at(n.topo.sim.now + 1 + i * 100_000, { onEvent: () => { tx.send('10.0.2.2', 7000, new Uint8Array([i >> 8, i & 0xff])); } });
      n.topo.sim.runFor(sec(2));
      let late = 0, max = -1;
      for (const s of got) { if (s < max) late++; else max = s; }
      const held = n.l2.heldBack(0) - held0;
      const lost = n.l2.a.stats.drops.loss;
      expect(new Set(got).size).toBe(got.length);
      expect(got.length + lost).toBe(N);
      // 1 ms extra at 100 µs spacing: every held-back datagram is overtaken by the next ones
      // (a held-back one that was lost is neither)
      expect(late).toBe(held);
      expect(n.l2.b.stats.rxPackets - rx0 + lost + n.l2.inFlight(0)).toBe(n.l2.a.stats.txPackets - tx0);
      if (loss === 0) expect(held / N).toBeCloseTo(0.2, 1);
      console.log(`[faults] UDP ${N} datagrams, loss ${loss}, reorder 20% 1ms: ${late} out of sequence, ${lost} lost`);
    }
  });
});
