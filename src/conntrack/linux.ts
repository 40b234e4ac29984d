/**
 * Connection tracking as the Linux kernel does it (conntrack layer) — the
 * nf_conntrack / nf_nat semantics netfilter needs, beside conntrack.ts's
 * OVS semantics. Shares the tuple layout and extraction (tuple.ts) and the
 * NAT rewrite (nat.ts).
 *
 * What differs from OVS, and is done here as nf_conntrack does it:
 *  - Every packet is tracked (`track`, at PREROUTING or OUTPUT); a packet
 *    that can start a connection gets a new, *unconfirmed* entry, inserted
 *    into the table only by `confirm` (POSTROUTING or INPUT: a packet
 *    dropped before that leaves no entry, BEHAVIOUR.md Linux §6).
 *  - ctinfo: NEW for the original direction until a reply was seen (a
 *    retransmitted SYN is NEW again, but its connection's NAT is already
 *    set up, so the nat table is not consulted: §2), ESTABLISHED once
 *    replied (both directions), RELATED for an ICMP error quoting a
 *    tracked connection, INVALID when the tracker refuses the packet — then
 *    the result has no connection (the kernel drops the skb's reference), so
 *    the packet is neither NATed nor confirmed and only the rules decide
 *    (`--ctstate INVALID -j DROP`).
 *  - TCP: nf_conntrack_tcp_packet of Linux 6.x (`tcpPacket`): tcp_error's
 *    flag check, tcp_new (loose pickup of a non-SYN as ESTABLISHED:
 *    nf_conntrack_tcp_loose, §8), the state table tcp_conntracks and its
 *    special cases — IGNORE (the packet belongs to the connection but moves
 *    nothing; an ignored SYN is noted so that the SYN-ACK answering it
 *    resyncs the entry), a SYN on a TIME_WAIT/CLOSE connection closed by FIN
 *    or aborted by RST from the same side kills it and starts a new one
 *    (NF_REPEAT), the RFC 5961 challenge ACK in LAST_ACK, simultaneous
 *    open, and the RST checks (below the peer's highest ACK: INVALID unless
 *    nf_conntrack_tcp_ignore_invalid_rst; in window but not exact on an
 *    established connection: the state is kept for a challenge ACK) — then
 *    the sequence window (tcp_in_window, linux-tcp.ts; out of window:
 *    INVALID or IGNORE as the kernel says, everything accepted with
 *    nf_conntrack_tcp_be_liberal or on a picked-up connection). ASSURED when
 *    SYN_RECV/ESTABLISHED moves to ESTABLISHED after a reply was seen; a RST
 *    while no reply was seen kills the connection at once (§7). The sysctls
 *    are fields (`tcpLoose`, `tcpBeLiberal`, `tcpIgnoreInvalidRst`,
 *    `tcpMaxRetrans`), changeable at run time as the sysctls are.
 *    Left out: SYNPROXY's keep-alive exception in SYN_SENT (no SYNPROXY
 *    target), per-connection timeout policies (nfct timeout objects).
 *  - UDP and other protocols: ASSURED on the first packet after a reply was
 *    seen (§10); ICMP echo keyed by id, its reply ESTABLISHED.
 *  - NAT (nf_nat_setup_info): one binding per manip type (source,
 *    destination), each set up once per connection — by a nat-table target
 *    or as a null binding when no rule matched. The original tuple is
 *    changed, the reply tuple is its inverse, made unique: an address in
 *    the range is kept, else chosen as find_best_ips_proto does (jhash2 of
 *    the original source with the destination — 0 with --persistent — scaled
 *    into the range; the reuse of an existing mapping of the same source,
 *    find_appropriate_src, is not modelled); a port is kept
 *    when the resulting reply tuple is free and the port lies in the range;
 *    otherwise a port of the range (MASQUERADE/SNAT without ports: 1024-
 *    65535) drawn from the seeded RNG until free (§3). `manip` rewrites a
 *    packet at a hook as nf_nat_packet does: the destination at PREROUTING/
 *    OUTPUT, the source at POSTROUTING/INPUT, in whichever direction the
 *    connection's bindings require (a reply is un-NATed the other way).
 *  - `conntrack -L` text (`dump`); `conntrack -D` by protocol and addresses (`deleteWhere`).
 *  - Table size: `maxEntries` (nf_conntrack_max) connections in `buckets`
 *    (nf_conntrack_buckets) hash buckets, 262144 each by default. A packet
 *    that needs a new connection while the table holds maxEntries first
 *    makes early_drop look into the 8 buckets from its tuple's (the first
 *    one holding any non-ASSURED connection loses all of them, timed-out
 *    ones met are freed too); if nothing was deleted the packet is dropped
 *    in conntrack, before any rule: the result says `full`, `stats.drop`
 *    counts it (the kernel logs TABLE_FULL_MESSAGE) and the caller drops it.
 *    Packets of tracked connections are untouched. Not modelled: the GC
 *    worker's early drop when the table is over 95 % full; and a TCP segment
 *    with impossible flags is INVALID before the table-full check (the
 *    kernel allocates first, so with a full table it is dropped as full).
 *  - Timed-out connections are freed as the kernel's are: a lookup that
 *    meets one in its bucket frees it (nf_ct_gc_expired), and the GC
 *    worker's scan — here `GC_BUCKETS_PER_INSERT` buckets further round the
 *    table at each new connection, so a table whose connections come and
 *    go (TIME_WAIT, a stream of fresh UDP ports) stays as large as what is
 *    live, not as everything that ever was (the soak, bench/soak.ts).
 * Timeouts: the kernel's defaults (tcp_timeouts, udp 30 s / 120 s stream,
 * icmp 30 s), on the caller's clock in ms; TCP as the kernel picks them: 300 s
 * (RETRANS) after tcpMaxRetrans repeats of an ACK or for a zero window, 300 s
 * (UNACK) while data is unacknowledged or for an unreplied picked-up
 * connection, CLOSE's 10 s after any accepted RST, no renewal for an ignored
 * segment or a retransmitted SYN, and an out-of-window FIN/RST answering the
 * other side's shortens an ASSURED connection's timeout to 300 s.
 * Cost: a lookup is one hash and a short chain walk over typed keys; TCP
 * tracking of a known connection is integer work on its typed window data
 * and allocates nothing; a new connection allocates its entry (and, for
 * TCP, its NfTcpState: slow path, as the kernel's nf_conn).
 * Neighbours: tuple.ts (keys; it also refuses bad checksums and truncated
 * headers, tcp_error's other half), linux-tcp.ts (the TCP window), nat.ts
 * (rewrite); netfilter's hook pipeline (stack.ts) drives it.
 */
import { be16, be32, ipv4ToString } from '../wire/bytes.js';
import { Mulberry32 } from '../rng.js';
import { jhashBytesLe } from '../flow/hash.js';
import { NAT_ACTION_DST, NAT_ACTION_DST_PORT, NAT_ACTION_SRC, NAT_ACTION_SRC_PORT, natPacket } from './nat.js';
import {
  IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, K_DST, K_DST_EP, K_META, K_SRC, K_SRC_EP, KEY_WORDS, TupleExtractor, copyKey,
  hashKey, keyEquals, reverseKeyInto,
} from './tuple.js';
import {
  IP_CT_EXP_CHALLENGE_ACK, IP_CT_TCP_FLAG_CLOSE_INIT, IP_CT_TCP_FLAG_DATA_UNACKNOWLEDGED, IP_CT_TCP_FLAG_MAXACK_SET,
  IP_CT_TCP_SIMULTANEOUS_OPEN, NFCT_TCP_ACCEPT, NFCT_TCP_IGNORE, NfTcpState, SEEN_WORDS, TCP_ACK_SET, TCP_CLOSE, TCP_CLOSE_WAIT,
  TCP_ESTABLISHED, TCP_FIN_SET, TCP_FIN_WAIT, TCP_IG, TCP_IV, TCP_LAST_ACK, TCP_NONE, TCP_RETRANS_TIMEOUT_S, TCP_RST_SET,
  TCP_STATE_NAMES, TCP_SYNACK_SET, TCP_SYN_RECV, TCP_SYN_SENT, TCP_SYN_SENT2, TCP_SYN_SET, TCP_TABLE, TCP_TIMEOUT_S, TCP_TIME_WAIT,
  TCP_UNACK_TIMEOUT_S, TD_FLAGS, TD_MAXACK, tcpIndex, tcpInWindow, tcpNew, tcpSegmentEnd, tcpStateResync, tcpSynAnnotate,
  tcpValidFlags,
} from './linux-tcp.js';

export {
  TCP_NONE, TCP_SYN_SENT, TCP_SYN_RECV, TCP_ESTABLISHED, TCP_FIN_WAIT, TCP_CLOSE_WAIT, TCP_LAST_ACK, TCP_TIME_WAIT, TCP_CLOSE,
  TCP_SYN_SENT2, TCP_STATE_NAMES,
} from './linux-tcp.js';
const UDP_TIMEOUT_S = 30, UDP_STREAM_TIMEOUT_S = 120, ICMP_TIMEOUT_S = 30, OTHER_TIMEOUT_S = 600;

export const IPS_SEEN_REPLY = 0x2, IPS_ASSURED = 0x4, IPS_CONFIRMED = 0x8, IPS_SRC_NAT = 0x10, IPS_DST_NAT = 0x20,
  IPS_SRC_NAT_DONE = 0x80, IPS_DST_NAT_DONE = 0x100;

/** What nf_conntrack_tcp_packet tells nf_conntrack_in (NF_ACCEPT, -NF_ACCEPT, -NF_REPEAT). */
const TCP_PACKET_ACCEPT = 0, TCP_PACKET_INVALID = 1, TCP_PACKET_REPEAT = 2;

export type CtInfo = 'NEW' | 'ESTABLISHED' | 'RELATED' | 'INVALID' | 'UNTRACKED';

/** The window data of a connection that is not TCP: shared, never written (only the TCP tracker touches `tcp`). */
const NO_TCP = new NfTcpState();

/** One connection (nf_conn): both tuples, status bits, protocol state, timeout. */
export class NfConn {
  /** [0, KEY_WORDS): the original tuple; [KEY_WORDS, 2*KEY_WORDS): the reply tuple */
  readonly keys = new Uint32Array(2 * KEY_WORDS);
  status = 0;
  tcpState = TCP_NONE;
  /** ms on the caller's clock */
  expires = 0;
  mark = 0;
  readonly proto: number;
  /** TCP: the window tracker's data (linux-tcp.ts); other protocols share an unused one */
  readonly tcp: NfTcpState;
  constructor(proto: number) {
    this.proto = proto;
    this.tcp = proto === IPPROTO_TCP ? new NfTcpState() : NO_TCP;
  }
}

/** What `track` found: the connection (null: untracked/invalid), the direction, the kernel's ctinfo. */
export class NfCtResult {
  conn: NfConn | null = null;
  /** 0 original, 1 reply */
  dir = 0;
  info: CtInfo = 'UNTRACKED';
  /**
   * The table was full (nf_conntrack_max) and early_drop freed no room: the
   * kernel drops this packet in nf_conntrack_in, before any rule sees it
   * ("nf_conntrack: table full, dropping packet"). The caller must drop it.
   */
  full = false;
}

/** What the kernel logs (rate-limited) for each packet a full table drops. */
export const TABLE_FULL_MESSAGE = 'nf_conntrack: table full, dropping packet';

/** `conntrack -S` counters this model keeps. */
export interface NfConntrackStats {
  /** packets dropped because the table was full (the kernel's 'drop': "too stressed to deal") */
  drop: number;
  /** connections early_drop deleted to make room ('early_drop') */
  earlyDrop: number;
}

/** NF_CT_EVICTION_RANGE: the buckets early_drop looks into, from the new connection's. */
const EVICTION_RANGE = 8;

export interface NfNatRange { addrMin: number; addrMax: number; portMin: number; portMax: number; random?: boolean; persistent?: boolean }

const bswap32 = (x: number): number => (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
/** reciprocal_scale: 'val' (uint32) scaled into [0, 'n'). */
const reciprocalScale = (val: number, n: number): number => Math.floor(((val >>> 0) * n) / 4294967296);
const addrWords = new Uint32Array(4);

/**
 * The kernel's jhash2 over an IPv4 address as nf_inet_addr holds it — four
 * u32 words, the address in network order read by a little-endian CPU, then
 * three zero words — with 'initval' (find_best_ips_proto's hash). Over 16
 * bytes jhash2 and OVS's jhash_bytes (flow/hash.ts) are the same function.
 */
export function jhashAddr(addr: number, initval: number): number {
  addrWords[0] = bswap32(addr);
  return jhashBytesLe(addrWords, 0, 16, initval);
}

/** Buckets the GC worker looks at per new connection (bounds timed-out entries at about the table's live size). */
const GC_BUCKETS_PER_INSERT = 4;

export class NfConntrack {
  /** by bucket (the tuple's hash scaled into 'buckets'), both directions' tuples */
  private readonly table = new Map<number, { conn: NfConn; dir: number }[]>();
  /** the GC worker's place in the table (a live iterator: buckets added or deleted meanwhile are fine) */
  private gcAt: IterableIterator<{ conn: NfConn; dir: number }[]> | null = null;
  /** the time of the latest packet tracked (ms): the GC worker's clock */
  private lastNow = 0;
  /** confirmed connections in the table (expired ones not yet freed included: the kernel's count) */
  private count = 0;
  /** net.netfilter.nf_conntrack_max (0: no limit) */
  maxEntries: number;
  /** net.netfilter.nf_conntrack_buckets */
  readonly buckets: number;
  readonly stats: NfConntrackStats = { drop: 0, earlyDrop: 0 };
  private readonly ex = new TupleExtractor();
  private readonly tmp = new Uint32Array(KEY_WORDS);
  private readonly rng: Mulberry32;
  /** net.netfilter.nf_conntrack_tcp_loose (default 1): pick up a connection from a segment other than a SYN */
  tcpLoose: boolean;
  /** net.netfilter.nf_conntrack_tcp_be_liberal (default 0): no segment is INVALID for being out of window */
  tcpBeLiberal: boolean;
  /** net.netfilter.nf_conntrack_tcp_ignore_invalid_rst (default 0): a RST below the peer's highest ACK is not INVALID */
  tcpIgnoreInvalidRst: boolean;
  /** net.netfilter.nf_conntrack_tcp_max_retrans (default 3): repeats of an ACK before the 300 s RETRANS timeout */
  tcpMaxRetrans: number;

  constructor(opts: {
    seed?: number; tcpLoose?: boolean; tcpBeLiberal?: boolean; tcpIgnoreInvalidRst?: boolean; tcpMaxRetrans?: number;
    /** nf_conntrack_max (default 262144, as a 6.x kernel on a machine over 4 GB; 0: no limit) */
    maxEntries?: number;
    /** nf_conntrack_buckets (default 262144) */
    buckets?: number;
  } = {}) {
    this.rng = new Mulberry32(opts.seed ?? 1);
    this.maxEntries = opts.maxEntries ?? 262144;
    this.buckets = opts.buckets ?? 262144;
    if (!(Number.isInteger(this.maxEntries) && this.maxEntries >= 0) || !(Number.isInteger(this.buckets) && this.buckets >= 1)) {
      throw new RangeError(`nf_conntrack: bad table size (max ${opts.maxEntries}, buckets ${opts.buckets})`);
    }
    this.tcpLoose = opts.tcpLoose ?? true;
    this.tcpBeLiberal = opts.tcpBeLiberal ?? false;
    this.tcpIgnoreInvalidRst = opts.tcpIgnoreInvalidRst ?? false;
    this.tcpMaxRetrans = opts.tcpMaxRetrans ?? 3;
  }

  /** Connections in the table (the kernel's nf_conntrack_count). */
  get size(): number { return this.count; }

  private bucketOf(k: Uint32Array, o: number): number {
    return reciprocalScale(hashKey(k, o, 0), this.buckets);
  }

  private find(k: Uint32Array, o: number, now: number): { conn: NfConn; dir: number } | null {
    const l = this.table.get(this.bucketOf(k, o));
    if (l === undefined) return null;
    let found: { conn: NfConn; dir: number } | null = null, stale = false;
    // an entry that timed out is skipped (a newer one may follow it) and freed (nf_ct_gc_expired)
    for (const e of l) {
      if (e.conn.expires <= now) stale = true;
      else if (found === null && keyEquals(e.conn.keys, e.dir * KEY_WORDS, k, o)) found = e;
    }
    if (stale) this.freeExpired(l, now);
    return found;
  }

  /** Free the timed-out connections of bucket list 'l'. */
  private freeExpired(l: { conn: NfConn; dir: number }[], now: number): void {
    const dead: NfConn[] = [];
    for (const e of l) if (e.conn.expires <= now && !dead.includes(e.conn)) dead.push(e.conn);
    for (const c of dead) this.remove(c);
  }

  /** The GC worker's share of work at a new connection: the next GC_BUCKETS_PER_INSERT buckets, timed-out entries freed. */
  private gcStep(now: number): void {
    for (let i = 0; i < GC_BUCKETS_PER_INSERT; i++) {
      this.gcAt ??= this.table.values();
      const n = this.gcAt.next();
      if (n.done === true) { this.gcAt = null; if (this.table.size === 0) return; continue; }
      for (const e of n.value) if (e.conn.expires <= now) { this.freeExpired(n.value, now); break; }
    }
  }

  private insert(c: NfConn): void {
    this.count++;
    for (let dir = 0; dir < 2; dir++) {
      const h = this.bucketOf(c.keys, dir * KEY_WORDS);
      const l = this.table.get(h);
      if (l === undefined) this.table.set(h, [{ conn: c, dir }]);
      else l.push({ conn: c, dir });
    }
  }

  private remove(c: NfConn): void {
    for (let dir = 0; dir < 2; dir++) {
      const h = this.bucketOf(c.keys, dir * KEY_WORDS);
      const l = this.table.get(h);
      if (l === undefined) continue;
      const i = l.findIndex((e) => e.conn === c);
      if (i >= 0) { l.splice(i, 1); if (dir === 0) this.count--; }
      if (l.length === 0) this.table.delete(h);
    }
  }

  /**
   * nf_conntrack_in for the IPv4 packet at 'l3' of 'b' (frame end 'end') at
   * 'now': look it up, run its protocol's tracker, or make a new
   * unconfirmed connection; the result in 'out'. A packet the tracker
   * refuses (a bad TCP flag combination, a segment out of the window…) is
   * INVALID with no connection: neither NAT nor confirmation touch it.
   */
  track(b: Uint8Array, l3: number, end: number, now: number, out: NfCtResult): void {
    this.lastNow = now;
    out.conn = null; out.dir = 0; out.info = 'INVALID'; out.full = false;
    const ex = this.ex;
    if (!ex.extract(b, l3, end, 0x0800, 0)) return;
    const k = ex.key;
    const hit = this.find(k, 0, now);
    if (ex.icmpRelated) {
      if (hit === null) return;
      out.conn = hit.conn; out.dir = hit.dir; out.info = 'RELATED';
      return;
    }
    const proto = k[K_META]! >>> 24;
    // tcp_error: flag combinations no TCP sends are INVALID whatever the connection
    if (proto === IPPROTO_TCP && !tcpValidFlags(b[ex.l4 + 13]!)) return;
    if (hit === null) {
      // __nf_conntrack_alloc: a full table first tries early_drop, else the packet is dropped
      if (this.maxEntries > 0 && this.count >= this.maxEntries && !this.earlyDrop(k, now)) {
        this.stats.drop++;
        out.full = true;
        return;
      }
      const c = new NfConn(proto);
      copyKey(k, 0, c.keys, 0);
      reverseKeyInto(k, 0, c.keys, KEY_WORDS);
      if (proto === IPPROTO_TCP) {
        // tcp_new, then the segment through the state machine from NONE
        if (!tcpNew(c.tcp, b, ex.l4, ex.l4End, this.tcpLoose)) return;
        if (this.tcpPacket(c, 0, b, ex.l4, ex.l4End, now) === TCP_PACKET_INVALID) return;
      } else if (proto === IPPROTO_ICMP) {
        // an echo reply or other non-request cannot start a connection
        if ((k[K_SRC_EP]! >>> 8 & 0xff) !== 8 && (k[K_SRC_EP]! >>> 8 & 0xff) !== 13 && (k[K_SRC_EP]! >>> 8 & 0xff) !== 15
          && (k[K_SRC_EP]! >>> 8 & 0xff) !== 17) return;
        c.expires = now + ICMP_TIMEOUT_S * 1000;
      } else {
        c.expires = now + (proto === IPPROTO_UDP ? UDP_TIMEOUT_S : OTHER_TIMEOUT_S) * 1000;
      }
      out.conn = c; out.dir = 0; out.info = 'NEW';
      return;
    }
    const c = hit.conn, dir = hit.dir;
    if (proto === IPPROTO_TCP) {
      const v = this.tcpPacket(c, dir, b, ex.l4, ex.l4End, now);
      if (v === TCP_PACKET_INVALID) return;
      if (v === TCP_PACKET_REPEAT) {
        // a SYN reopening a closed connection: the old entry goes, the packet is looked up again
        this.remove(c);
        c.expires = now;
        this.track(b, l3, end, now, out);
        return;
      }
    } else if (proto === IPPROTO_UDP || proto !== IPPROTO_ICMP) {
      if ((c.status & IPS_SEEN_REPLY) !== 0) {
        c.status |= IPS_ASSURED;
        c.expires = now + (proto === IPPROTO_UDP ? UDP_STREAM_TIMEOUT_S : OTHER_TIMEOUT_S) * 1000;
      } else {
        c.expires = now + (proto === IPPROTO_UDP ? UDP_TIMEOUT_S : OTHER_TIMEOUT_S) * 1000;
      }
    } else {
      c.expires = now + ICMP_TIMEOUT_S * 1000;
    }
    out.conn = c; out.dir = dir;
    // ctinfo is decided before the reply bit is set: a reply is ESTABLISHED either way
    out.info = dir === 1 || (c.status & IPS_SEEN_REPLY) !== 0 ? 'ESTABLISHED' : 'NEW';
    if (dir === 1) c.status |= IPS_SEEN_REPLY;
  }

  /**
   * nf_conntrack_tcp_packet: the segment at 'l4' (IP payload up to 'l4End')
   * of direction 'dir' on connection 'c' at 'now' — the state table, its
   * special cases (an ignored packet noted for a later resync, a SYN
   * reopening a closed connection, the RFC 5961 challenge ACK in LAST_ACK,
   * simultaneous open, the RST checks), then the window (linux-tcp.ts) and
   * the new state, ASSURED and the timeout. A RST while no reply was seen
   * kills the connection at once. Returns TCP_PACKET_ACCEPT (the packet
   * belongs to 'c', whether or not it moved it), TCP_PACKET_INVALID or
   * TCP_PACKET_REPEAT (kill 'c' and track the packet again).
   */
  private tcpPacket(c: NfConn, dir: number, b: Uint8Array, l4: number, l4End: number, now: number): number {
    const t = c.tcp, seen = t.seen;
    const flags = b[l4 + 13]!;
    const index = tcpIndex(flags);
    let old = c.tcpState;
    let neu = TCP_TABLE[dir]![index]![old]!;
    const other = (1 - dir) * SEEN_WORDS;
    let checkWindow = true;
    switch (neu) {
      case TCP_SYN_SENT:
      case TCP_IG: {
        if (neu === TCP_SYN_SENT) {
          if (old < TCP_TIME_WAIT) break;
          // a SYN on a TIME_WAIT/CLOSE connection: reopen it if it was closed (FIN) or aborted (RST) from this side
          if (((seen[TD_FLAGS]! | seen[SEEN_WORDS + TD_FLAGS]!) & IP_CT_TCP_FLAG_CLOSE_INIT) !== 0
            || (t.lastDir === dir && t.lastIndex === TCP_RST_SET)) return TCP_PACKET_REPEAT;
          // otherwise ignored, as below
        }
        // our entry may be out of sync: ignore what may belong to the real connection, and note it
        if (index === TCP_SYNACK_SET && t.lastIndex === TCP_SYN_SET && t.lastDir !== dir && be32(b, l4 + 8) === t.lastEnd) {
          // the SYN-ACK of a SYN we ignored: both ends are in sync, we are not; take the noted values
          old = TCP_SYN_SENT;
          neu = TCP_SYN_RECV;
          tcpStateResync(t, dir);
          break;
        }
        t.lastIndex = index;
        t.lastDir = dir;
        t.lastSeq = be32(b, l4 + 4);
        t.lastEnd = tcpSegmentEnd(b, l4, l4End);
        t.lastWin = be16(b, l4 + 14);
        if (index === TCP_SYN_SET && dir === 0) {
          tcpSynAnnotate(t, b, l4);
          // a challenge ACK may answer it: in LAST_ACK that ACK must not be taken for the last one
          if (old === TCP_LAST_ACK) t.lastFlags |= IP_CT_EXP_CHALLENGE_ACK;
        }
        // possibly a challenge ACK answering the SYN
        if (old === TCP_SYN_SENT && index === TCP_ACK_SET && dir === 1) t.lastAck = be32(b, l4 + 8);
        return TCP_PACKET_ACCEPT;
      }
      case TCP_IV:
        return TCP_PACKET_INVALID;
      case TCP_TIME_WAIT:
        if (old === TCP_LAST_ACK && index === TCP_ACK_SET && t.lastDir !== dir && t.lastIndex === TCP_SYN_SET
          && (t.lastFlags & IP_CT_EXP_CHALLENGE_ACK) !== 0) {
          // the RFC 5961 challenge ACK to a SYN, not the last ACK: no state change
          t.lastFlags &= ~IP_CT_EXP_CHALLENGE_ACK;
          return TCP_PACKET_ACCEPT;
        }
        break;
      case TCP_SYN_SENT2:
        t.lastFlags |= IP_CT_TCP_SIMULTANEOUS_OPEN;
        break;
      case TCP_SYN_RECV:
        if (dir === 1 && index === TCP_ACK_SET && (t.lastFlags & IP_CT_TCP_SIMULTANEOUS_OPEN) !== 0) neu = TCP_ESTABLISHED;
        break;
      case TCP_CLOSE: {
        if (index !== TCP_RST_SET) break;
        // closing already: the tuple may be reused, the window data stale
        if (old === TCP_FIN_WAIT || old === TCP_LAST_ACK || old === TCP_TIME_WAIT || old === TCP_CLOSE || old === TCP_CLOSE_WAIT) {
          checkWindow = false;
          break;
        }
        const seq = be32(b, l4 + 4);
        const established = old === TCP_ESTABLISHED && (c.status & IPS_ASSURED) !== 0;
        if ((seen[other + TD_FLAGS]! & IP_CT_TCP_FLAG_MAXACK_SET) !== 0 && t.lastIndex !== TCP_SYN_SET) {
          // most likely the answer to a SYN let through
          if (seq === 0 && !established) break;
          // below what the peer already acknowledged
          if (((seq - seen[other + TD_MAXACK]!) | 0) < 0 && !this.tcpIgnoreInvalidRst) return TCP_PACKET_INVALID;
          if (!established || seq === seen[other + TD_MAXACK]) break;
          // the end of a train: data, then a RST at its end
          if (t.lastIndex === TCP_ACK_SET && t.lastDir === dir && seq === t.lastEnd) break;
          // not exactly where the peer expects it: keep the state, a challenge ACK may follow
          neu = old;
        }
        const ackSeq = be32(b, l4 + 8);
        if ((((c.status & IPS_SEEN_REPLY) !== 0 && t.lastIndex === TCP_SYN_SET)
          || ((c.status & IPS_ASSURED) === 0 && t.lastIndex === TCP_ACK_SET)) && ackSeq === t.lastEnd) {
          // a RST answering a SYN or ACK we let through above: it may acknowledge what we ignored
          checkWindow = false;
          break;
        }
        // a RST answering a challenge ACK we let through
        if (old === TCP_SYN_SENT && t.lastIndex === TCP_ACK_SET && t.lastDir === 1 && seq === t.lastAck) checkWindow = false;
        break;
      }
      default:
        break;
    }
    if (checkWindow) {
      const res = tcpInWindow(t, c.tcpState, dir, index, b, l4, l4End, this.tcpBeLiberal);
      if (res === NFCT_TCP_IGNORE) return TCP_PACKET_ACCEPT;
      if (res !== NFCT_TCP_ACCEPT) {
        this.tcpHandleInvalid(c, dir, index, now);
        return TCP_PACKET_INVALID;
      }
    }
    // in window
    t.lastIndex = index;
    t.lastDir = dir;
    c.tcpState = neu;
    if (old !== neu && neu === TCP_FIN_WAIT) seen[dir * SEEN_WORDS + TD_FLAGS] = seen[dir * SEEN_WORDS + TD_FLAGS]! | IP_CT_TCP_FLAG_CLOSE_INIT;
    const stateTo = TCP_TIMEOUT_S[neu]!;
    let timeout: number;
    if (t.retrans >= this.tcpMaxRetrans && stateTo > TCP_RETRANS_TIMEOUT_S) timeout = TCP_RETRANS_TIMEOUT_S;
    else if (index === TCP_RST_SET) timeout = TCP_TIMEOUT_S[TCP_CLOSE]!;
    else if (((seen[TD_FLAGS]! | seen[SEEN_WORDS + TD_FLAGS]!) & IP_CT_TCP_FLAG_DATA_UNACKNOWLEDGED) !== 0 && stateTo > TCP_UNACK_TIMEOUT_S) timeout = TCP_UNACK_TIMEOUT_S;
    else if (t.lastWin === 0 && stateTo > TCP_RETRANS_TIMEOUT_S) timeout = TCP_RETRANS_TIMEOUT_S;
    else timeout = stateTo;
    if ((c.status & IPS_SEEN_REPLY) === 0) {
      if (index === TCP_RST_SET) {
        // a RST while no reply was seen (typically the only reply): the connection goes at once (§7)
        this.remove(c);
        c.expires = now;
        return TCP_PACKET_ACCEPT;
      }
      // a retransmitted SYN does not renew the timeout (a reused port must not keep the entry alive)
      if (index === TCP_SYN_SET && old === TCP_SYN_SENT) return TCP_PACKET_ACCEPT;
      // picked up mid-stream, unanswered: not the long ESTABLISHED timeout
      if (neu === TCP_ESTABLISHED && timeout > TCP_UNACK_TIMEOUT_S) timeout = TCP_UNACK_TIMEOUT_S;
    } else if ((c.status & IPS_ASSURED) === 0 && (old === TCP_SYN_RECV || old === TCP_ESTABLISHED) && neu === TCP_ESTABLISHED) {
      c.status |= IPS_ASSURED;
    }
    c.expires = now + timeout * 1000;
    return TCP_PACKET_ACCEPT;
  }

  /**
   * nf_tcp_handle_invalid: an out-of-window FIN or RST on an ASSURED
   * connection answering the other side's FIN/RST shortens a timeout over
   * 120 s to the UNACK one; otherwise it is noted as the last packet.
   */
  private tcpHandleInvalid(c: NfConn, dir: number, index: number, now: number): void {
    if ((c.status & IPS_ASSURED) === 0 || (index !== TCP_RST_SET && index !== TCP_FIN_SET)) return;
    const t = c.tcp;
    if (t.lastDir !== dir && (t.lastIndex === TCP_FIN_SET || t.lastIndex === TCP_RST_SET)) {
      const left = c.expires - now;
      if (left < 120_000) return;
      if (left > TCP_UNACK_TIMEOUT_S * 1000) c.expires = now + TCP_UNACK_TIMEOUT_S * 1000;
    } else {
      t.lastIndex = index;
      t.lastDir = dir;
    }
  }

  /** nf_nat_initialized: has 'c' its source ('src') or destination ('dst') binding yet? */
  natInitialized(c: NfConn, manip: 'src' | 'dst'): boolean {
    return (c.status & (manip === 'src' ? IPS_SRC_NAT_DONE : IPS_DST_NAT_DONE)) !== 0;
  }

  /**
   * nf_nat_setup_info: bind 'c' for 'manip' to 'range' (null: the null
   * binding). Changes the original tuple's source or destination, makes the
   * reply tuple its inverse, and keeps that reply tuple unique.
   */
  setupNat(c: NfConn, manip: 'src' | 'dst', range: NfNatRange | null, now: number): void {
    const k = this.tmp;
    // the tuple the connection will have in the original direction: the inverse of the current reply
    reverseKeyInto(c.keys, KEY_WORDS, k, 0);
    if (range !== null) {
      const addrW = manip === 'src' ? K_SRC : K_DST, epW = manip === 'src' ? K_SRC_EP : K_DST_EP;
      const cur = k[addrW]!;
      // an address outside the range: find_best_ips_proto's choice, a hash of the original
      // source with the destination (or 0 for --persistent), scaled into the range
      if (cur < range.addrMin || cur > range.addrMax) {
        k[addrW] = range.addrMin === range.addrMax ? range.addrMin
          : (range.addrMin + reciprocalScale(jhashAddr(k[K_SRC]!, range.persistent === true ? 0 : bswap32(k[K_DST]!)), range.addrMax - range.addrMin + 1)) >>> 0;
      }
      const proto = c.proto;
      if (proto === IPPROTO_TCP || proto === IPPROTO_UDP) {
        const port = k[epW]! >>> 16;
        const lo = range.portMin !== 0 ? range.portMin : 1024, hi = range.portMin !== 0 ? range.portMax : 65535;
        let p = port;
        // keep the port when it is in range (or no range was asked for and the tuple is free)
        const inRange = range.portMin === 0 || (port >= range.portMin && port <= range.portMax);
        if (!inRange) p = lo + ((this.rng.nextI32() >>> 0) % (hi - lo + 1));
        for (let tries = 0; ; tries++) {
          k[epW] = ((p << 16) | (k[epW]! & 0xffff)) >>> 0;
          reverseKeyInto(k, 0, c.keys, KEY_WORDS);
          if (this.find(c.keys, KEY_WORDS, now) === null || tries > 65535) break;
          p = lo + ((this.rng.nextI32() >>> 0) % (hi - lo + 1));
        }
      } else {
        reverseKeyInto(k, 0, c.keys, KEY_WORDS);
      }
      c.status |= manip === 'src' ? IPS_SRC_NAT : IPS_DST_NAT;
    }
    c.status |= manip === 'src' ? IPS_SRC_NAT_DONE : IPS_DST_NAT_DONE;
  }

  /**
   * nf_nat_packet: rewrite the packet of 'r' (the last `track`ed one) for
   * 'manip' at its hook: in the original direction as the connection's own
   * bindings say, in the reply direction the other binding undone.
   */
  manip(b: Uint8Array, r: NfCtResult, manip: 'src' | 'dst'): void {
    const c = r.conn;
    if (c === null) return;
    // the binding whose effect this hook applies in this direction
    const bit = (manip === 'src') === (r.dir === 0) ? IPS_SRC_NAT : IPS_DST_NAT;
    if ((c.status & bit) === 0) return;
    // the packet's side of this manip must end up as the inverse of the other direction's
    // tuple (natPacket takes that tuple itself); only that side's port changes
    const action = manip === 'src' ? NAT_ACTION_SRC | NAT_ACTION_SRC_PORT : NAT_ACTION_DST | NAT_ACTION_DST_PORT;
    natPacket(b, this.ex, c.keys, (1 - r.dir) * KEY_WORDS, action, true);
  }

  /**
   * nf_conntrack_alter_reply: the unconfirmed connection 'c' will see its
   * replies come from 'addr':'port' (IPVS's NAT forwarding sets the real
   * server so, with net.ipv4.vs.conntrack=1). The reply tuple's source
   * changes; no NAT binding is made (the status bits stay), so conntrack
   * never rewrites these packets — IPVS does.
   */
  alterReplySource(c: NfConn, addr: number, port: number): void {
    if ((c.status & IPS_CONFIRMED) !== 0) throw new Error('alterReplySource: the connection is confirmed');
    const k = c.keys;
    k[KEY_WORDS + K_SRC] = addr >>> 0;
    if (c.proto === IPPROTO_TCP || c.proto === IPPROTO_UDP) k[KEY_WORDS + K_SRC_EP] = ((port << 16) | (k[KEY_WORDS + K_SRC_EP]! & 0xffff)) >>> 0;
  }

  /**
   * nf_ct_attach: the packet at 'l3' of 'b' (frame end 'end'), made by this
   * host in answer to a packet of 'conn' in direction 'dir' (REJECT's TCP
   * reset or ICMP error), carries that connection in the other direction, RELATED, as
   * nf_conntrack_attach sets it, instead of being tracked: NAT then treats it
   * as the connection's own answer. False when it cannot be read.
   */
  attach(b: Uint8Array, l3: number, end: number, conn: NfConn, dir: number, out: NfCtResult): boolean {
    if (!this.ex.extract(b, l3, end, 0x0800, 0)) return false;
    out.conn = conn; out.dir = 1 - dir; out.info = 'RELATED';
    return true;
  }

  /**
   * early_drop: look at the connections in EVICTION_RANGE buckets from the
   * new tuple 'k''s, one bucket at a time; in the first bucket that has any,
   * delete every confirmed connection that is not ASSURED (early_drop_list).
   * Timed-out entries met on the way are freed but do not count. True when
   * something was deleted (room was made).
   */
  private earlyDrop(k: Uint32Array, now: number): boolean {
    const first = this.bucketOf(k, 0);
    for (let i = 0; i < EVICTION_RANGE; i++) {
      const l = this.table.get((first + i) % this.buckets);
      if (l === undefined) continue;
      let drops = 0;
      for (const e of [...l]) {
        const c = e.conn;
        if (c.expires <= now) { this.remove(c); continue; }
        if ((c.status & IPS_ASSURED) !== 0 || !this.contains(c)) continue;
        this.remove(c);
        drops++;
      }
      if (drops > 0) { this.stats.earlyDrop += drops; return true; }
    }
    return false;
  }

  /** Whether 'c' is still in the table (an entry listed twice in one bucket is deleted once). */
  private contains(c: NfConn): boolean {
    const l = this.table.get(this.bucketOf(c.keys, 0));
    return l !== undefined && l.some((e) => e.conn === c && e.dir === 0);
  }

  /** nf_conntrack_confirm: insert a new connection (no-op for a confirmed one, none, or an attached answer). */
  confirm(r: NfCtResult): void {
    const c = r.conn;
    // an answer attached in the reply direction never confirms (__nf_conntrack_confirm)
    if (c === null || r.dir !== 0 || (c.status & IPS_CONFIRMED) !== 0) return;
    c.status |= IPS_CONFIRMED;
    this.gcStep(this.lastNow);
    this.insert(c);
  }

  /**
   * `conntrack -D` with filters (`-p`: the protocol number, `proto`; `-s`/`-d`: the original
   * tuple's source/destination, `-r`/`-q`: the reply tuple's): delete every confirmed connection
   * that meets all the filters given. Returns how many went (the tool exits 1 when none did).
   */
  deleteWhere(f: { proto?: number; origSrc?: number; origDst?: number; replySrc?: number; replyDst?: number }): number {
    const ok = (c: NfConn): boolean => (f.proto === undefined || c.proto === f.proto)
      && (f.origSrc === undefined || c.keys[K_SRC] === f.origSrc >>> 0)
      && (f.origDst === undefined || c.keys[K_DST] === f.origDst >>> 0)
      && (f.replySrc === undefined || c.keys[KEY_WORDS + K_SRC] === f.replySrc >>> 0)
      && (f.replyDst === undefined || c.keys[KEY_WORDS + K_DST] === f.replyDst >>> 0);
    const dead = new Set<NfConn>();
    for (const l of this.table.values()) for (const e of l) if (e.dir === 0 && ok(e.conn)) dead.add(e.conn);
    for (const c of dead) this.remove(c);
    return dead.size;
  }

  /** Remove the entries that timed out by 'now'. */
  expire(now: number): number {
    const dead = new Set<NfConn>();
    for (const l of this.table.values()) for (const e of l) if (e.conn.expires <= now) dead.add(e.conn);
    for (const c of dead) this.remove(c);
    return dead.size;
  }

  /** `conntrack -L` lines at 'now' (insertion order; the tool prints hash order). */
  dump(now: number): string[] {
    const out: string[] = [];
    const seen = new Set<NfConn>();
    for (const l of this.table.values()) {
      for (const e of l) {
        const c = e.conn;
        if (seen.has(c) || c.expires <= now) continue;
        seen.add(c);
        out.push(formatConn(c, now));
      }
    }
    return out;
  }
}

const PROTO_NAMES: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 132: 'sctp' };

function tupleText(k: Uint32Array, o: number, proto: number): string {
  let s = `src=${ipv4ToString(k[o + K_SRC]!)} dst=${ipv4ToString(k[o + K_DST]!)}`;
  if (proto === IPPROTO_TCP || proto === IPPROTO_UDP) s += ` sport=${k[o + K_SRC_EP]! >>> 16} dport=${k[o + K_DST_EP]! >>> 16}`;
  else if (proto === IPPROTO_ICMP) {
    const e = k[o + K_SRC_EP]!;
    s += ` type=${(e >>> 8) & 0xff} code=${e & 0xff} id=${e >>> 16}`;
  }
  return s;
}

/** One `conntrack -L` line (conntrack-tools' default output). */
export function formatConn(c: NfConn, now: number): string {
  const name = PROTO_NAMES[c.proto] ?? 'unknown';
  let s = `${name.padEnd(8)} ${c.proto} ${Math.max(0, Math.floor((c.expires - now) / 1000))} `;
  if (c.proto === IPPROTO_TCP) s += `${TCP_STATE_NAMES[c.tcpState]} `;
  s += tupleText(c.keys, 0, c.proto);
  if ((c.status & IPS_SEEN_REPLY) === 0) s += ' [UNREPLIED]';
  s += ` ${tupleText(c.keys, KEY_WORDS, c.proto)}`;
  if ((c.status & IPS_ASSURED) !== 0) s += ' [ASSURED]';
  s += ` mark=${c.mark} use=1`;
  return s;
}
