/**
 * The connection tracker (conntrack layer; `execute` is fast path, the rest
 * slow path).
 *
 * What: OVS's userspace conntrack (lib/conntrack.c, conntrack-tcp.c,
 * conntrack-other.c, conntrack-icmp.c, conntrack-tp.c) behind one call,
 * `execute()`, which is `conntrack_execute()` for one packet: look the
 * packet's tuple up in its zone, run the protocol tracker, compute ct_state
 * (+trk, +new/+est/+rel/+rpl/+inv, +snat/+dnat), create the entry on
 * `commit`, choose and apply NAT, set ct_mark/ct_label, and report the
 * packet's conntrack metadata in a reusable `CtResult`.
 *
 * Semantics kept from OVS (each checked in test/conntrack/):
 * - Nothing is stored without commit: an uncommitted new connection stays
 *   +new on every packet. A packet of a committed connection is +est once
 *   the tracker says so (TCP: in window; UDP/other: after a reply; ICMP
 *   echo: after the reply), +rpl in the reply direction. A packet that cannot
 *   start a connection (TCP SYN-ACK, a bare FIN, an echo reply, an ICMP
 *   error about nothing tracked) or fails the TCP window check is +inv.
 * - `force` with a reply-direction packet deletes the entry and starts over.
 * - A TCP SYN on a connection whose both ends are past FIN_WAIT_2 removes it
 *   and makes a new one (CT_UPDATE_NEW).
 * - The packet's previous ct state (in `out`) matters as in OVS: entering a
 *   different zone clears it; if it carries +snat/+dnat from this zone the
 *   lookup uses the reversed tuple (the packet was already translated); a
 *   packet that is exactly +inv (0x10) stays so; a connection cached by a
 *   previous `ct` on this packet (`out.conn`, OVS's `pkt->md.conn`) skips
 *   the tracker when the zone is the same and there is no `force`.
 * - A commit refused by a zone limit or the global maximum leaves the packet
 *   +trk+new with no entry (OVS does not drop it; `out.refused` says why the
 *   entry is missing and the counters count it, like OVS's
 *   conntrack_zone_full/conntrack_full coverage counters).
 * - NAT (nat_get_unique_tuple of OVS ≥ 3.2): the address is picked by hash
 *   in the range (all-zero range keeps the address); with no port range the
 *   source port is kept if the reply tuple is free, else searched in its
 *   class (1-511, 600-1023, 1024-65535); with a port range the search starts
 *   at a hashed (or with `random`, random) port in the range; DNAT tries the
 *   destination-port range first, then the source-port class. `persistent`
 *   hashes only the source address. ICMP echo ids are translated like ports.
 *   Reply traffic is reverse-translated; `nat` without a range on an existing
 *   connection applies its binding; `ct(commit,nat)` without a range on a
 *   new connection stores OVS's degenerate reply tuple (nat_action 0, see
 *   test) and translates nothing.
 * - Timeouts are OVS's default timeout policy (conntrack-tp.c), counted in
 *   milliseconds of the caller's virtual clock 'now' (the datapath's ms). An
 *   entry with now >= expiration is invisible to lookups and dumps;
 *   `expire(now)` frees it (OVS's sweeper) — until then it still counts
 *   toward the limits, as in OVS.
 * - Zone limits as OVS ≥ 3.2 (`dpctl/ct-set-limits`): a zone's own limit,
 *   else the default limit counted per zone; only connections admitted while a
 *   limit applied are counted against it.
 * Divergence: an entry replaced by `force` or by a SYN after close is freed
 * at once; OVS only marks it expired, so there it counts toward the limits
 * until its sweeper runs.
 * Verified against ovs-vswitchd 3.1 (test/conntrack/conntrack-ovs.test.ts):
 * ct_state per packet, translated bytes and `dpctl/dump-conntrack` after
 * every packet, for TCP/UDP/ICMP/IPv6, RELATED, SNAT/DNAT (IPv4 and IPv6,
 * with ICMP errors), force, mark/label, zone limits.
 * Left out: fragment reassembly (ipf: a first fragment is tracked as a whole
 * packet, later ones are +inv), ALGs (FTP/TFTP helpers, expectations),
 * SCTP tracking (tracked as "other"), timeout-policy objects
 * (per-`ct(timeout=…)`), `check_orig_tuple` recovery.
 *
 * Storage: entries are struct-of-arrays indexed by connection id; each has
 * two keys (direction 0 = original, 1 = reply) of KEY_WORDS words. Both keys
 * are chained into one open hash table (`buckets` → node = id*2+dir →
 * `chainNext`), so a lookup is one hash, a short chain walk, and word
 * compares. Ids are recycled through a free list; `gen[id]` changes on every
 * free, so a cached id (`out.conn`) cannot name a different connection.
 * Memory: the arrays start with room for 4 connections (a datapath that
 * tracks nothing costs a few kB) and double when full.
 * Cost per packet: one header pass with a checksum (tuple.ts), one lookup,
 * a few integer ops; NAT adds a few checksum updates; allocates nothing. A
 * commit may grow the arrays (amortised doubling); NAT port search does up
 * to ~250 lookups in the worst case, as OVS.
 *
 * Netfilter's conntrack is a sibling, not a subclass: linux.ts (NfConntrack)
 * tracks every packet with unconfirmed entries confirmed at POSTROUTING/
 * INPUT, nf_nat's bindings, and Linux's TCP tracker (linux-tcp.ts); it
 * shares this module's tuples (tuple.ts) and rewriter (nat.ts).
 */
import { ipv4ToString, ipv6ToString, setBe32 } from '../wire/bytes.js';
import { NAT_ACTION_DST, NAT_ACTION_DST_PORT, NAT_ACTION_SRC, NAT_ACTION_SRC_PORT, natActionReverse, natPacket } from './nat.js';
import {
  CT_TM_ICMP_FIRST, CT_TM_ICMP_REPLY, CT_TM_OTHER_BIDIR, CT_TM_OTHER_FIRST, CT_TM_OTHER_MULTIPLE, CT_UPDATE_INVALID,
  CT_UPDATE_NEW, CT_UPDATE_VALID, CT_UPDATE_VALID_NEW, TcpPeers, tcpValidNew,
} from './tcp.js';
import {
  ETH_TYPE_IP, ETH_TYPE_IPV6, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, KEY_WORDS, K_DST, K_DST_EP,
  K_META, K_SRC, K_SRC_EP, TupleExtractor, copyKey, hashKey, keyEquals, keyIsV6, keyProto, keyZone, reverseKeyInto,
} from './tuple.js';

// ---- ct_state bits (OVS CS_*; lib/packets.h) --------------------------------
export const CS_NEW = 0x01;
export const CS_ESTABLISHED = 0x02;
export const CS_RELATED = 0x04;
export const CS_REPLY_DIR = 0x08;
export const CS_INVALID = 0x10;
export const CS_TRACKED = 0x20;
export const CS_SRC_NAT = 0x40;
export const CS_DST_NAT = 0x80;
const CS_NAT = CS_SRC_NAT | CS_DST_NAT;

/** `+trk+new`-style text of a ct_state value, in OVS's flag order (new est rel rpl inv trk snat dnat). */
export function ctStateToString(s: number): string {
  const names = ['new', 'est', 'rel', 'rpl', 'inv', 'trk', 'snat', 'dnat'];
  let out = '';
  for (let i = 0; i < 8; i++) if (s & (1 << i)) out += `+${names[i]}`;
  return out;
}

/**
 * OVS's default timeout policy in seconds (conntrack-tp.c
 * `ct_dpif_netdev_tp_def`), by ct-dpif attribute name.
 */
export const DEFAULT_TIMEOUTS_S = {
  tcp_syn_sent: 30, tcp_syn_recv: 30, tcp_established: 24 * 60 * 60, tcp_fin_wait: 15 * 60,
  tcp_time_wait: 45, tcp_close: 30, udp_first: 60, udp_single: 60, udp_multiple: 30,
  icmp_first: 60, icmp_reply: 30,
} as const;
export type TimeoutName = keyof typeof DEFAULT_TIMEOUTS_S;

/** CT_TM_* (tcp.ts) → ct-dpif attribute (`tm_to_ct_dpif_tp`). */
const TM_ATTR: readonly TimeoutName[] = [
  'tcp_syn_sent', 'tcp_syn_recv', 'tcp_established', 'tcp_fin_wait', 'tcp_time_wait', 'tcp_close',
  'udp_first', 'udp_single', 'udp_multiple', 'icmp_first', 'icmp_reply',
];

/** OVS's DEFAULT_N_CONN_LIMIT. */
export const DEFAULT_MAX_ENTRIES = 3_000_000;

/**
 * A NAT range as `ct(nat(src=ADDR[-ADDR][:PORT[-PORT]],random|hash|persistent))`.
 * Addresses: uint32 for IPv4, 16 bytes for IPv6; 0 / all zeros = keep the
 * address. 'addrMax' 0 means = 'addrMin'. 'portMin' 0 = no port range;
 * 'portMax' 0 means = 'portMin'.
 */
export interface NatRange {
  kind: 'src' | 'dst';
  addrMin: number | Uint8Array;
  addrMax: number | Uint8Array;
  portMin: number;
  portMax: number;
  flags?: { random?: boolean; hash?: boolean; persistent?: boolean };
}

/**
 * One `ct()` action's arguments. Treat a spec as immutable once passed to
 * `execute` (its derived form is cached per object).
 * 'nat': null = no nat; { range: null } = plain `nat` (apply the existing
 * binding); { range } = `nat(src=…)`/`nat(dst=…)`.
 */
export interface CtExecSpec {
  zone: number;
  commit: boolean;
  force: boolean;
  nat: null | { range: NatRange | null };
  mark: { value: number; mask: number } | null;
  label: { value: bigint; mask: bigint } | null;
}

/**
 * A packet's conntrack metadata (OVS `pkt->md.ct_*`), input and output of
 * `execute`. Reuse one per datapath: call `clear()` when a new packet
 * enters (OVS `pkt_metadata_init`) and on `ct_clear`; keep it across
 * recirculation. Set `conn = -1` when an action rewrites the packet's
 * addresses or ports (OVS `pkt_metadata_init_conn`).
 */
export class CtResult {
  /** ct_state bits (CS_*). */
  state = 0;
  /** ct_zone. */
  zone = 0;
  /** ct_mark. */
  mark = 0;
  /** ct_label, 4 words, most significant first (word 0 = bits 127..96). */
  readonly label = new Uint32Array(4);
  /** True when this execute's commit was refused by a zone limit or the global maximum. */
  refused = false;
  /** ct_nw_proto / ct_nw_src / ct_nw_dst / ct_tp_src / ct_tp_dst (original direction); proto 0 = none. */
  origV6 = false;
  origProto = 0;
  readonly origSrc = new Uint32Array(4);
  readonly origDst = new Uint32Array(4);
  origTpSrc = 0;
  origTpDst = 0;
  /** Cached connection id for the next `ct` on this packet (-1 none), its generation and direction. */
  conn = -1;
  connGen = 0;
  reply = false;
  icmpRelated = false;

  /** Forget everything (new packet, `ct_clear`). */
  clear(): void {
    this.state = 0; this.zone = 0; this.mark = 0;
    this.label.fill(0);
    this.refused = false;
    this.origV6 = false; this.origProto = 0;
    this.origSrc.fill(0); this.origDst.fill(0);
    this.origTpSrc = 0; this.origTpDst = 0;
    this.conn = -1; this.connGen = 0; this.reply = false; this.icmpRelated = false;
  }

  /** ct_label as a bigint (slow path). */
  labelValue(): bigint {
    return wordsToBigint(this.label, 0);
  }
}

export interface ConntrackOptions {
  /** Global maximum of entries (`dpctl/ct-set-maxconns`); default 3,000,000. */
  maxEntries?: number;
  /** Default per-zone limit (`dpctl/ct-set-limits default=N`); 0 = none. */
  defaultZoneLimit?: number;
  /** Seed of the hash basis and of `random` port choice: same seed, same choices. */
  seed?: number;
  /** Timeout overrides in seconds, by ct-dpif attribute name. */
  timeouts?: Partial<Record<TimeoutName, number>>;
  /** false = `dpctl/ct-disable-tcp-seq-chk`. */
  tcpSeqCheck?: boolean;
}

/** Counters in the spirit of OVS's coverage counters. */
export interface ConntrackCounters {
  /** Commits refused by a zone limit (conntrack_zone_full). */
  zoneFull: number;
  /** Commits refused by the global maximum (conntrack_full). */
  full: number;
  /** Commits that found no free NAT tuple ("Unable to NAT due to tuple space exhaustion"). */
  natExhausted: number;
}

interface ZoneLimit { limit: number; count: number; seq: number }

/** A CtExecSpec in the form `execute` uses: numbers and words only (made once per spec by `prepare`). */
export interface PreparedSpec {
  hasNat: boolean;
  natAction: number;
  natRandom: boolean;
  natPersistent: boolean;
  minAddr: Uint32Array;
  maxAddr: Uint32Array;
  minPort: number;
  maxPort: number;
  hasMark: boolean;
  markValue: number;
  markMask: number;
  hasLabel: boolean;
  label: Uint32Array; // value words 0..3, mask words 4..7
}

const OTHERS_FIRST = 0, OTHERS_MULTIPLE = 1, OTHERS_BIDIR = 2;
const OTHER_TM = [CT_TM_OTHER_FIRST, CT_TM_OTHER_MULTIPLE, CT_TM_OTHER_BIDIR];
const ICMPS_FIRST = 0, ICMPS_REPLY = 1;
const ICMP_TM = [CT_TM_ICMP_FIRST, CT_TM_ICMP_REPLY];
const MIN_NAT_EPHEMERAL_PORT = 1024, MAX_NAT_EPHEMERAL_PORT = 65535;
const KW2 = KEY_WORDS * 2;

function wordsToBigint(w: Uint32Array, o: number): bigint {
  let v = 0n;
  for (let i = 0; i < 4; i++) v = (v << 32n) | BigInt(w[o + i]!);
  return v;
}

function bigintToWords(v: bigint, w: Uint32Array, o: number): void {
  for (let i = 3; i >= 0; i--) {
    w[o + i] = Number(v & 0xffffffffn);
    v >>= 32n;
  }
}

function addrWords(a: number | Uint8Array, out: Uint32Array): void {
  out.fill(0);
  if (typeof a === 'number') {
    out[0] = a >>> 0;
  } else {
    for (let i = 0; i < 4 && 4 * i + 3 < a.length; i++) {
      out[i] = ((a[4 * i]! << 24) | (a[4 * i + 1]! << 16) | (a[4 * i + 2]! << 8) | a[4 * i + 3]!) >>> 0;
    }
  }
}

function mix(h: number, w: number): number {
  let k = Math.imul(w | 0, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finish(h: number): number {
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class Conntrack {
  // ---- storage (struct of arrays, by connection id) ----
  protected cap = 0;
  protected used = 0;
  /** Two keys per connection: [id*2*KEY_WORDS, +KEY_WORDS) original, then reply. */
  protected keys = new Uint32Array(0);
  protected chainNext = new Int32Array(0);
  protected nodeHash = new Uint32Array(0);
  protected buckets = new Int32Array(0);
  protected bucketMask = 0;
  protected expiration = new Float64Array(0);
  protected created = new Float64Array(0);
  protected gen = new Uint32Array(0);
  protected live = new Uint8Array(0);
  protected markA = new Uint32Array(0);
  protected labelA = new Uint32Array(0);
  protected natActionA = new Uint8Array(0);
  protected pstate = new Uint8Array(0);
  protected admitZone = new Int32Array(0);
  protected admitSeq = new Int32Array(0);
  protected freeList = new Int32Array(0);
  protected freeTop = 0;
  protected readonly tcp = new TcpPeers();
  protected nConn = 0;
  private createSeq = 0;

  // ---- configuration ----
  private maxEntries: number;
  private defaultZoneLimit: number;
  private readonly zoneLimitsMap = new Map<number, ZoneLimit>();
  private zoneLimitSeq = 0;
  private readonly hashBasis: number;
  private rngState: number;
  private readonly timeoutMs = new Float64Array(TM_ATTR.length);
  private lastNow = -Infinity;

  // ---- per-packet scratch ----
  protected readonly ex = new TupleExtractor();
  private readonly addrScratch = new Uint32Array(4);
  private readonly deltaScratch = new Float64Array(4);
  private readonly prepared = new WeakMap<CtExecSpec, PreparedSpec>();
  private lkReply = false;

  readonly counters: ConntrackCounters = { zoneFull: 0, full: 0, natExhausted: 0 };

  constructor(opts: ConntrackOptions = {}) {
    this.maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.defaultZoneLimit = opts.defaultZoneLimit ?? 0;
    const seed = opts.seed ?? 1;
    this.hashBasis = finish(mix(0x2545f491, seed)) | 1; // nonzero: 0 is the `persistent` basis
    this.rngState = (finish(mix(0x9e3779b9, seed)) | 1) >>> 0;
    for (let i = 0; i < TM_ATTR.length; i++) {
      const name = TM_ATTR[i]!;
      this.timeoutMs[i] = (opts.timeouts?.[name] ?? DEFAULT_TIMEOUTS_S[name]) * 1000;
    }
    this.tcp.seqCheck = opts.tcpSeqCheck ?? true;
    // room for a few connections: most datapaths of a large topology track none (the arrays double as needed)
    this.grow(4);
  }

  /** Number of entries held, expired-but-not-swept ones included (OVS n_conn). */
  get size(): number {
    return this.nConn;
  }

  // =========================================================================
  // Fast path
  // =========================================================================

  /**
   * OVS `conntrack_execute` for one packet: the frame 'b', its L3 header at
   * 'l3', frame end 'end', EtherType 'dlType' (0x0800/0x86dd; anything else
   * is left untracked), the action 'spec', the virtual time 'now' in ms.
   * Reads and updates the packet's metadata 'out'; rewrites 'b' in place for
   * NAT. Never throws.
   */
  execute(b: Uint8Array, l3: number, end: number, dlType: number, spec: CtExecSpec, now: number, out: CtResult): void {
    out.refused = false;
    if (dlType !== ETH_TYPE_IP && dlType !== ETH_TYPE_IPV6) return;
    if (now > this.lastNow) this.lastNow = now;
    const p = this.prepare(spec);
    const zone = spec.zone & 0xffff;
    if (out.state === CS_INVALID) {
      this.writeMd(out, zone, -1, false);
      return;
    }
    const cc = out.conn;
    if (cc >= 0 && cc < this.used && this.live[cc] === 1 && this.gen[cc] === out.connGen
      && keyZone(this.keys[cc * KW2 + K_META]!) === zone && !spec.force) {
      this.processOneFast(b, l3, end, dlType, zone, p, cc, out);
      return;
    }
    if (!this.ex.extract(b, l3, end, dlType, zone)) {
      out.state = CS_INVALID;
      this.writeMd(out, zone, -1, false);
      out.conn = -1;
      return;
    }
    this.processOne(b, zone, spec.force, spec.commit, p, now, out);
  }

  private processOneFast(b: Uint8Array, l3: number, end: number, dlType: number, zone: number, p: PreparedSpec, c: number, out: CtResult): void {
    if (p.hasNat) {
      if (this.ex.extract(b, l3, end, dlType, zone)) this.handleNat(b, c, zone, out.reply, out);
      out.conn = -1;
    }
    out.zone = zone;
    out.mark = this.markA[c]!;
    for (let i = 0; i < 4; i++) out.label[i] = this.labelA[c * 4 + i]!;
    if (p.hasMark) this.setMark(c, p, out);
    if (p.hasLabel) this.setLabel(c, p, out);
  }

  private processOne(b: Uint8Array, zone: number, force: boolean, commit: boolean, p: PreparedSpec, now: number, out: CtResult): void {
    const ex = this.ex;
    const k = ex.key;
    if (out.state !== 0 && out.zone !== zone) out.state = 0;
    const natted = (out.state & CS_NAT) !== 0;
    if (natted) reverseKeyInto(k, 0, k, 0);
    let conn = this.lookup(k, 0, now);
    let reply = this.lkReply;
    if (natted) {
      if (conn >= 0) {
        reply = !reply;
        copyKey(this.keys, conn * KW2 + (reply ? KEY_WORDS : 0), k, 0);
      } else {
        reverseKeyInto(k, 0, k, 0);
      }
    }
    if (force && reply && conn >= 0) {
      this.removeConn(conn);
      conn = -1;
    }
    const related = ex.icmpRelated;
    let createNew = false;
    if (conn >= 0) {
      createNew = this.updateState(b, conn, reply, related, now, out);
      if (p.hasNat && !createNew) this.handleNat(b, conn, zone, reply, out);
    } else if (related) {
      out.state = CS_INVALID;
    } else {
      createNew = true;
    }
    if (createNew) {
      if (this.lookup(k, 0, now) < 0) conn = this.connNotFound(b, p, commit, now, out);
      else if (conn >= 0 && this.live[conn] !== 1) conn = -1;
    }
    this.writeMd(out, zone, conn, true);
    if (conn >= 0) {
      if (p.hasMark) this.setMark(conn, p, out);
      if (p.hasLabel) this.setLabel(conn, p, out);
    }
    if (!p.hasNat && conn >= 0) {
      out.conn = conn;
      out.connGen = this.gen[conn]!;
      out.reply = reply;
      out.icmpRelated = related;
    } else {
      out.conn = -1;
    }
  }

  /** `conn_update_state`: true when a new connection must replace this one. */
  private updateState(b: Uint8Array, c: number, reply: boolean, related: boolean, now: number, out: CtResult): boolean {
    if (related) {
      out.state |= CS_RELATED;
      if (reply) out.state |= CS_REPLY_DIR;
      return false;
    }
    const res = this.connUpdate(b, c, reply, now);
    switch (res) {
      case CT_UPDATE_VALID:
        out.state = (out.state | CS_ESTABLISHED) & ~CS_NEW;
        if (reply) out.state |= CS_REPLY_DIR;
        return false;
      case CT_UPDATE_INVALID:
        out.state = CS_INVALID;
        return false;
      case CT_UPDATE_NEW:
        this.removeConn(c);
        return true;
      default: // CT_UPDATE_VALID_NEW
        out.state |= CS_NEW;
        return false;
    }
  }

  /** The protocol tracker's update (`l4_protos[nw_proto]->conn_update`), refreshing the expiration. */
  private connUpdate(b: Uint8Array, c: number, reply: boolean, now: number): number {
    const proto = keyProto(this.keys[c * KW2 + K_META]!);
    if (proto === IPPROTO_TCP) {
      const r = this.tcp.update(c, b, this.ex.l4, this.ex.l4End, reply);
      if (this.tcp.tm >= 0) this.expiration[c] = now + this.timeoutMs[this.tcp.tm]!;
      return r;
    }
    if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) {
      let st = this.pstate[c]!;
      let ret = CT_UPDATE_VALID;
      if (reply && st === ICMPS_FIRST) st = ICMPS_REPLY;
      else if (st === ICMPS_FIRST) ret = CT_UPDATE_VALID_NEW;
      this.pstate[c] = st;
      this.expiration[c] = now + this.timeoutMs[ICMP_TM[st]!]!;
      return ret;
    }
    let st = this.pstate[c]!;
    if (reply && st !== OTHERS_BIDIR) st = OTHERS_BIDIR;
    else if (st === OTHERS_FIRST) st = OTHERS_MULTIPLE;
    this.pstate[c] = st;
    this.expiration[c] = now + this.timeoutMs[OTHER_TM[st]!]!;
    return st === OTHERS_BIDIR ? CT_UPDATE_VALID : CT_UPDATE_VALID_NEW;
  }

  /** `valid_new` of the packet just extracted. */
  private validNew(b: Uint8Array): boolean {
    const ex = this.ex;
    const proto = keyProto(ex.key[K_META]!);
    if (proto === IPPROTO_TCP) return tcpValidNew(b, ex.l4);
    if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) {
      const t = ex.l4 < ex.l4End ? b[ex.l4]! : -1;
      return proto === IPPROTO_ICMP ? t === 8 || t === 15 || t === 13 : t === 128;
    }
    return true;
  }

  /** `conn_not_found`: decide +new/+inv and, on commit, create the entry (with NAT). Returns the id or -1. */
  private connNotFound(b: Uint8Array, p: PreparedSpec, commit: boolean, now: number, out: CtResult): number {
    if (!this.validNew(b)) {
      out.state = CS_INVALID;
      return -1;
    }
    out.state = CS_NEW;
    if (!commit) return -1;
    const ex = this.ex;
    const zone = keyZone(ex.key[K_META]!);
    const zl = this.zoneLimitLookupOrDefault(zone);
    if (zl !== undefined) {
      const limit = zl.limit < 0 ? (this.defaultZoneLimit || -1) : zl.limit;
      if (limit >= 0 && zl.count >= limit) {
        this.counters.zoneFull++;
        out.refused = true;
        return -1;
      }
    }
    if (this.nConn >= this.maxEntries) {
      this.counters.full++;
      out.refused = true;
      return -1;
    }
    const c = this.allocConn();
    const ko = c * KW2;
    copyKey(ex.key, 0, this.keys, ko);
    reverseKeyInto(this.keys, ko, this.keys, ko + KEY_WORDS);
    this.markA[c] = 0;
    for (let i = 0; i < 4; i++) this.labelA[c * 4 + i] = 0;
    this.natActionA[c] = 0;
    this.created[c] = this.createSeq++;
    const proto = keyProto(ex.key[K_META]!);
    if (proto === IPPROTO_TCP) {
      this.tcp.init(c, b, ex.l4, ex.l4End);
      this.expiration[c] = now + this.timeoutMs[this.tcp.tm]!;
    } else if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) {
      this.pstate[c] = ICMPS_FIRST;
      this.expiration[c] = now + this.timeoutMs[CT_TM_ICMP_FIRST]!;
    } else {
      this.pstate[c] = OTHERS_FIRST;
      this.expiration[c] = now + this.timeoutMs[CT_TM_OTHER_FIRST]!;
    }
    if (zl !== undefined) {
      this.admitZone[c] = zone;
      this.admitSeq[c] = zl.seq;
    } else {
      this.admitZone[c] = -1;
      this.admitSeq[c] = -1;
    }
    if (p.hasNat) {
      this.natActionA[c] = p.natAction;
      if (!this.natGetUniqueTuple(c, p, now)) {
        this.releaseId(c);
        this.counters.natExhausted++;
        return -1;
      }
      this.natPacketFor(b, c, false, out);
    }
    this.insertConn(c);
    if (zl !== undefined) zl.count++;
    return c;
  }

  /** `handle_nat`: translate unless this zone already did. */
  private handleNat(b: Uint8Array, c: number, zone: number, reply: boolean, out: CtResult): void {
    if (this.natActionA[c] !== 0 && (!(out.state & CS_NAT) || zone !== out.zone)) {
      out.state &= ~CS_NAT;
      this.natPacketFor(b, c, reply, out);
    }
  }

  /** `nat_packet`: set +snat/+dnat and rewrite the packet to connection 'c''s other-direction key. */
  private natPacketFor(b: Uint8Array, c: number, reply: boolean, out: CtResult): void {
    const ko = c * KW2 + (reply ? 0 : KEY_WORDS);
    const na = this.natActionA[c]!;
    const act = reply ? natActionReverse(na) : na;
    if (act & NAT_ACTION_SRC) out.state |= CS_SRC_NAT;
    else if (act & NAT_ACTION_DST) out.state |= CS_DST_NAT;
    natPacket(b, this.ex, this.keys, ko, act);
  }

  /** `write_ct_md`: +trk, zone, mark, label and the original-direction tuple. */
  private writeMd(out: CtResult, zone: number, c: number, haveKey: boolean): void {
    out.state |= CS_TRACKED;
    out.zone = zone;
    let src: Uint32Array, so: number;
    if (c >= 0) {
      out.mark = this.markA[c]!;
      for (let i = 0; i < 4; i++) out.label[i] = this.labelA[c * 4 + i]!;
      src = this.keys; so = c * KW2;
    } else {
      out.mark = 0;
      out.label.fill(0);
      if (!haveKey) {
        out.origV6 = false; out.origProto = 0;
        out.origSrc.fill(0); out.origDst.fill(0);
        out.origTpSrc = 0; out.origTpDst = 0;
        return;
      }
      src = this.ex.key; so = 0;
    }
    const meta = src[so + K_META]!;
    const proto = keyProto(meta);
    out.origV6 = keyIsV6(meta);
    out.origProto = proto;
    for (let i = 0; i < 4; i++) {
      out.origSrc[i] = src[so + K_SRC + i]!;
      out.origDst[i] = src[so + K_DST + i]!;
    }
    const se = src[so + K_SRC_EP]!;
    if (proto === (out.origV6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP)) {
      out.origTpSrc = (se >>> 8) & 0xff;
      out.origTpDst = se & 0xff;
    } else {
      out.origTpSrc = se >>> 16;
      out.origTpDst = src[so + K_DST_EP]! >>> 16;
    }
  }

  private setMark(c: number, p: PreparedSpec, out: CtResult): void {
    out.mark = (p.markValue | (out.mark & ~p.markMask)) >>> 0;
    this.markA[c] = out.mark;
  }

  private setLabel(c: number, p: PreparedSpec, out: CtResult): void {
    for (let i = 0; i < 4; i++) {
      out.label[i] = (p.label[i]! | (out.label[i]! & ~p.label[4 + i]!)) >>> 0;
      this.labelA[c * 4 + i] = out.label[i]!;
    }
  }

  // =========================================================================
  // Table primitives (also for netfilter)
  // =========================================================================

  /**
   * Find a live, unexpired connection with a key equal to 'k' at 'ko';
   * returns its id or -1. Sets `lkReply` (the key is the reply-direction
   * key). As OVS, an entry whose both keys match is found as original.
   */
  protected lookup(k: Uint32Array, ko: number, now: number): number {
    const h = hashKey(k, ko, this.hashBasis);
    const keys = this.keys;
    for (let n = this.buckets[h & this.bucketMask]!; n >= 0; n = this.chainNext[n]!) {
      if (this.nodeHash[n] !== h) continue;
      const c = n >> 1;
      if (now >= this.expiration[c]!) continue;
      if (!keyEquals(keys, n * KEY_WORDS, k, ko)) continue;
      this.lkReply = (n & 1) === 1 && !keyEquals(keys, c * KW2, k, ko);
      return c;
    }
    this.lkReply = false;
    return -1;
  }

  /** Id for a new connection (not yet in the hash table). */
  protected allocConn(): number {
    let c: number;
    if (this.freeTop > 0) c = this.freeList[--this.freeTop]!;
    else {
      if (this.used === this.cap) this.grow(this.cap * 2);
      c = this.used++;
    }
    this.live[c] = 2; // allocated, not inserted (netfilter: unconfirmed)
    return c;
  }

  /** Return an allocated id that was never inserted. */
  protected releaseId(c: number): void {
    this.live[c] = 0;
    this.gen[c] = (this.gen[c]! + 1) >>> 0;
    this.freeList[this.freeTop++] = c;
  }

  /** Chain both keys of 'c' into the table and count it (OVS: cmap_insert + n_conn++). */
  protected insertConn(c: number): void {
    for (let dir = 0; dir < 2; dir++) {
      const n = c * 2 + dir;
      const h = hashKey(this.keys, n * KEY_WORDS, this.hashBasis);
      this.nodeHash[n] = h;
      const bi = h & this.bucketMask;
      this.chainNext[n] = this.buckets[bi]!;
      this.buckets[bi] = n;
    }
    this.live[c] = 1;
    this.nConn++;
  }

  /** Unlink and free connection 'c' (OVS `conn_clean`), fixing zone-limit counts. */
  protected removeConn(c: number): void {
    if (this.live[c] !== 1) return;
    for (let dir = 0; dir < 2; dir++) {
      const n = c * 2 + dir;
      const bi = this.nodeHash[n]! & this.bucketMask;
      let prev = -1;
      for (let m = this.buckets[bi]!; m >= 0; prev = m, m = this.chainNext[m]!) {
        if (m !== n) continue;
        if (prev < 0) this.buckets[bi] = this.chainNext[m]!;
        else this.chainNext[prev] = this.chainNext[m]!;
        break;
      }
    }
    const az = this.admitZone[c]!;
    if (az >= 0) {
      const zl = this.zoneLimitsMap.get(az);
      if (zl !== undefined && zl.seq === this.admitSeq[c]) zl.count--;
    }
    this.nConn--;
    this.releaseId(c);
  }

  private grow(cap: number): void {
    const old = this.cap;
    const g = <T extends { set(a: ArrayLike<number>): void }>(make: (n: number) => T, prev: ArrayLike<number>, n: number): T => {
      const a = make(n);
      a.set(prev);
      return a;
    };
    this.keys = g((n) => new Uint32Array(n), this.keys, cap * KW2);
    this.chainNext = g((n) => new Int32Array(n), this.chainNext, cap * 2);
    this.nodeHash = g((n) => new Uint32Array(n), this.nodeHash, cap * 2);
    this.expiration = g((n) => new Float64Array(n), this.expiration, cap);
    this.created = g((n) => new Float64Array(n), this.created, cap);
    this.gen = g((n) => new Uint32Array(n), this.gen, cap);
    this.live = g((n) => new Uint8Array(n), this.live, cap);
    this.markA = g((n) => new Uint32Array(n), this.markA, cap);
    this.labelA = g((n) => new Uint32Array(n), this.labelA, cap * 4);
    this.natActionA = g((n) => new Uint8Array(n), this.natActionA, cap);
    this.pstate = g((n) => new Uint8Array(n), this.pstate, cap);
    this.admitZone = g((n) => new Int32Array(n), this.admitZone, cap);
    this.admitSeq = g((n) => new Int32Array(n), this.admitSeq, cap);
    this.freeList = g((n) => new Int32Array(n), this.freeList, cap);
    this.tcp.grow(cap);
    this.cap = cap;
    // rehash: two nodes per connection, load factor <= 1
    let nb = 16;
    while (nb < cap * 2) nb *= 2;
    this.buckets = new Int32Array(nb).fill(-1);
    this.bucketMask = nb - 1;
    for (let c = 0; c < Math.min(old, this.used); c++) {
      if (this.live[c] !== 1) continue;
      for (let dir = 0; dir < 2; dir++) {
        const n = c * 2 + dir;
        const bi = this.nodeHash[n]! & this.bucketMask;
        this.chainNext[n] = this.buckets[bi]!;
        this.buckets[bi] = n;
      }
    }
  }

  // =========================================================================
  // NAT tuple selection (nat_get_unique_tuple)
  // =========================================================================

  private rng(): number {
    let x = this.rngState;
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    this.rngState = x >>> 0;
    return this.rngState;
  }

  /** `nat_range_hash`: with 'basis' 0 (persistent) only the source address of the original key counts. */
  private natRangeHash(ko: number, basis: number, p: PreparedSpec): number {
    const k = this.keys;
    let h = basis;
    if (basis === 0) for (let i = 0; i < 4; i++) h = mix(h, k[ko + K_SRC + i]!);
    else for (let i = 0; i < 10; i++) h = mix(h, k[ko + i]!);
    for (let i = 0; i < 4; i++) h = mix(h, p.minAddr[i]!);
    for (let i = 0; i < 4; i++) h = mix(h, p.maxAddr[i]!);
    h = mix(h, ((p.maxPort << 16) | p.minPort) >>> 0);
    h = mix(h, k[ko + K_META]!);
    return finish(h);
  }

  /**
   * Choose the reply key of new connection 'c' under the prepared NAT 'p'
   * (writes the reply key in place); false when no free tuple was found.
   */
  protected natGetUniqueTuple(c: number, p: PreparedSpec, now: number): boolean {
    const k = this.keys;
    const fo = c * KW2, ro = fo + KEY_WORDS;
    const meta = k[fo + K_META]!;
    const proto = keyProto(meta);
    const v6 = keyIsV6(meta);
    const act = p.natAction;
    const pat = proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_ICMP;
    const basis = p.natPersistent ? 0 : this.hashBasis;
    const hash = this.natRangeHash(fo, basis, p);
    const portOff = p.natRandom ? this.rng() : basis !== 0 ? hash : this.natRangeHash(fo, this.hashBasis, p);

    // address: find_addr
    const addr = this.addrScratch;
    const minA = p.minAddr, maxA = p.maxAddr;
    if ((minA[0]! | minA[1]! | minA[2]! | minA[3]!) === 0) {
      if (act & NAT_ACTION_SRC) for (let i = 0; i < 4; i++) addr[i] = k[fo + K_SRC + i]!;
      else if (act & NAT_ACTION_DST) for (let i = 0; i < 4; i++) addr[i] = k[fo + K_DST + i]!;
      else addr.fill(0);
    } else if (!v6) {
      const range = ((maxA[0]! - minA[0]!) >>> 0) + 1;
      addr.fill(0);
      addr[0] = (minA[0]! + (hash % range)) >>> 0;
    } else {
      // 128-bit max - min, capped at 0xfffffffe (nat_ipv6_addrs_delta)
      let borrow = 0;
      const d = this.deltaScratch;
      for (let i = 3; i >= 0; i--) {
        let x = maxA[i]! - minA[i]! - borrow;
        borrow = x < 0 ? 1 : 0;
        if (x < 0) x += 0x100000000;
        d[i] = x;
      }
      const delta = borrow || d[0] || d[1] || d[2] || d[3]! > 0xfffffffe ? 0xfffffffe : d[3]!;
      let carry = hash % (delta + 1);
      for (let i = 3; i >= 0; i--) {
        const x = minA[i]! + carry;
        addr[i] = x >>> 0;
        carry = x > 0xffffffff ? 1 : 0;
      }
    }

    // ports: set_sport_range / set_dport_range
    let curS: number, minS: number, maxS: number, curD: number, minD: number, maxD: number;
    if ((act & (NAT_ACTION_SRC | NAT_ACTION_SRC_PORT)) === NAT_ACTION_SRC || (act & NAT_ACTION_DST)) {
      curS = k[fo + K_SRC_EP]! >>> 16;
      if (curS < 512) { minS = 1; maxS = 511; } else if (curS < 1024) { minS = 600; maxS = 1023; } else {
        minS = MIN_NAT_EPHEMERAL_PORT; maxS = MAX_NAT_EPHEMERAL_PORT;
      }
    } else {
      minS = p.minPort; maxS = p.maxPort;
      curS = (minS + (portOff % (maxS - minS + 1))) & 0xffff;
    }
    if (act & NAT_ACTION_DST_PORT) {
      minD = p.minPort; maxD = p.maxPort;
      curD = (minD + (portOff % (maxD - minD + 1))) & 0xffff;
    } else {
      curD = k[fo + K_DST_EP]! >>> 16;
      minD = curD; maxD = curD;
    }
    if (pat) {
      k[ro + K_SRC_EP] = ((curD << 16) | (k[ro + K_SRC_EP]! & 0xffff)) >>> 0;
      k[ro + K_DST_EP] = ((curS << 16) | (k[ro + K_DST_EP]! & 0xffff)) >>> 0;
    }
    const ao = act & NAT_ACTION_SRC ? K_DST : K_SRC;
    for (let i = 0; i < 4; i++) k[ro + ao + i] = addr[i]!;
    if (!pat) return this.lookup(k, ro, now) < 0;

    let found = false;
    if (act & NAT_ACTION_DST_PORT) found = this.natUniqueL4(ro + K_SRC_EP, -1, curD, minD, maxD, ro, now);
    if (!found) found = this.natUniqueL4(ro + K_DST_EP, proto === IPPROTO_ICMP ? ro + K_SRC_EP : -1, curS, minS, maxS, ro, now);
    return found;
  }

  /** `nat_get_unique_l4`: try ports from 'curr' in [min, max] at key word 'w' (and 'peer'); false if none is free. */
  private natUniqueL4(w: number, peer: number, curr: number, min: number, max: number, ro: number, now: number): boolean {
    const k = this.keys;
    const range = (max - min + 1) & 0xffff;
    let attempts = Math.min(range, 128);
    const orig = curr;
    for (;;) {
      let i = 0;
      const inRange = curr >= min && curr <= max;
      for (let n = (inRange ? max - min + 1 : max - min + 2) & 0xffff; n > 0; n--) {
        if (i++ >= attempts) break;
        setKeyPort(k, w, peer, curr);
        if (this.lookup(k, ro, now) < 0) return true;
        curr = (curr < min || curr > max || curr === max) ? min : curr + 1;
      }
      if (attempts < range && attempts >= 16) {
        attempts = attempts >>> 1;
        curr = min + (this.rng() % range);
        continue;
      }
      setKeyPort(k, w, peer, orig);
      return false;
    }
  }

  // =========================================================================
  // Slow path: spec preparation, limits, expiry, flush, dump
  // =========================================================================

  /** The derived form of 'spec' (cached per spec object). */
  protected prepare(spec: CtExecSpec): PreparedSpec {
    const cached = this.prepared.get(spec);
    if (cached !== undefined) return cached;
    const p: PreparedSpec = {
      hasNat: spec.nat !== null, natAction: 0, natRandom: false, natPersistent: false,
      minAddr: new Uint32Array(4), maxAddr: new Uint32Array(4), minPort: 0, maxPort: 0,
      hasMark: spec.mark !== null, markValue: 0, markMask: 0,
      hasLabel: spec.label !== null, label: new Uint32Array(8),
    };
    const r = spec.nat?.range ?? null;
    if (r !== null) {
      p.natAction = r.kind === 'src' ? NAT_ACTION_SRC : NAT_ACTION_DST;
      addrWords(r.addrMin, p.minAddr);
      addrWords(r.addrMax, p.maxAddr);
      if ((p.maxAddr[0]! | p.maxAddr[1]! | p.maxAddr[2]! | p.maxAddr[3]!) === 0) p.maxAddr.set(p.minAddr);
      if (r.portMin !== 0) {
        p.minPort = r.portMin & 0xffff;
        p.maxPort = r.portMax !== 0 ? r.portMax & 0xffff : p.minPort;
        p.natAction |= r.kind === 'src' ? NAT_ACTION_SRC_PORT : NAT_ACTION_DST_PORT;
      }
      // as xlate: `hash` wins over `random`
      p.natRandom = !!r.flags?.random && !r.flags?.hash;
      p.natPersistent = !!r.flags?.persistent;
    }
    if (spec.mark !== null) {
      p.markValue = spec.mark.value >>> 0;
      p.markMask = spec.mark.mask >>> 0;
      p.markValue = (p.markValue & p.markMask) >>> 0;
    }
    if (spec.label !== null) {
      const m = BigInt.asUintN(128, spec.label.mask);
      bigintToWords(BigInt.asUintN(128, spec.label.value) & m, p.label, 0);
      bigintToWords(m, p.label, 4);
    }
    this.prepared.set(spec, p);
    return p;
  }

  private zoneLimitLookupOrDefault(zone: number): ZoneLimit | undefined {
    let zl = this.zoneLimitsMap.get(zone);
    if (zl === undefined && this.defaultZoneLimit > 0) {
      zl = { limit: -1, count: 0, seq: this.zoneLimitSeq++ };
      this.zoneLimitsMap.set(zone, zl);
    }
    return zl;
  }

  /**
   * `dpctl/ct-set-limits`: 'zone' 'default' sets the default limit (0 removes
   * it); a zone number (0..65535) sets that zone's limit.
   */
  setZoneLimit(zone: number | 'default', limit: number): void {
    if (zone === 'default') {
      if (limit === 0) this.deleteZoneLimit('default');
      else this.defaultZoneLimit = limit >>> 0;
      return;
    }
    const zl = this.zoneLimitsMap.get(zone & 0xffff);
    if (zl !== undefined) zl.limit = limit >>> 0;
    else this.zoneLimitsMap.set(zone & 0xffff, { limit: limit >>> 0, count: 0, seq: this.zoneLimitSeq++ });
  }

  /** `dpctl/ct-del-limits`: a zone falls back to the default; 'default' removes the default limit. */
  deleteZoneLimit(zone: number | 'default'): void {
    if (zone === 'default') {
      this.defaultZoneLimit = 0;
      for (const [z, zl] of this.zoneLimitsMap) if (zl.limit < 0) this.zoneLimitsMap.delete(z);
      return;
    }
    const zl = this.zoneLimitsMap.get(zone);
    if (zl === undefined) return;
    if (this.defaultZoneLimit > 0) zl.limit = -1;
    else this.zoneLimitsMap.delete(zone);
  }

  /** `dpctl/ct-get-limits` text: `default limit=N`, then `zone=Z,limit=L,count=C` per zone with a limit entry. */
  zoneLimits(): string {
    const lines = [`default limit=${this.defaultZoneLimit}`];
    const zones = [...this.zoneLimitsMap.keys()].sort((a, b) => a - b);
    for (const z of zones) {
      const zl = this.zoneLimitsMap.get(z)!;
      const limit = zl.limit < 0 ? this.defaultZoneLimit : zl.limit;
      lines.push(`zone=${z},limit=${limit},count=${zl.count}`);
    }
    return lines.join('\n');
  }

  /** `dpctl/ct-set-maxconns`. */
  setMaxEntries(n: number): void {
    this.maxEntries = n >>> 0;
  }

  /** Number of entries in 'zone' (expired-but-not-swept ones included). */
  zoneCount(zone: number): number {
    let n = 0;
    for (let c = 0; c < this.used; c++) if (this.live[c] === 1 && keyZone(this.keys[c * KW2 + K_META]!) === zone) n++;
    return n;
  }

  /** OVS's sweeper: free every entry with 'now' >= its expiration; returns how many. */
  expire(now: number): number {
    if (now > this.lastNow) this.lastNow = now;
    let n = 0;
    for (let c = 0; c < this.used; c++) {
      if (this.live[c] === 1 && now >= this.expiration[c]!) {
        this.removeConn(c);
        n++;
      }
    }
    return n;
  }

  /** `dpctl/flush-conntrack [zone=N]`. */
  flush(zone?: number): void {
    for (let c = 0; c < this.used; c++) {
      if (this.live[c] !== 1) continue;
      if (zone === undefined || keyZone(this.keys[c * KW2 + K_META]!) === zone) this.removeConn(c);
    }
  }

  /**
   * `ovs-appctl dpctl/dump-conntrack [zone=N]` lines (ct_dpif_format_entry,
   * not verbose, no statistics), entries expired at the latest time seen
   * skipped. OVS prints in hash order; here the order is by zone, then by
   * creation.
   */
  dump(zone?: number): string[] {
    const ids: number[] = [];
    for (let c = 0; c < this.used; c++) {
      if (this.live[c] !== 1 || this.lastNow >= this.expiration[c]!) continue;
      const z = keyZone(this.keys[c * KW2 + K_META]!);
      if (zone === undefined || z === zone) ids.push(c);
    }
    ids.sort((a, b) => (keyZone(this.keys[a * KW2 + K_META]!) - keyZone(this.keys[b * KW2 + K_META]!))
      || (this.created[a]! - this.created[b]!));
    return ids.map((c) => this.formatEntry(c));
  }

  private formatEntry(c: number): string {
    const k = this.keys;
    const fo = c * KW2;
    const meta = k[fo + K_META]!;
    const proto = keyProto(meta);
    let s = protoName(proto);
    s += `,orig=(${formatTuple(k, fo)}),reply=(${formatTuple(k, fo + KEY_WORDS)})`;
    const z = keyZone(meta);
    if (z !== 0) s += `,zone=${z}`;
    if (this.markA[c] !== 0) s += `,mark=${this.markA[c]}`;
    const lab = wordsToBigint(this.labelA, c * 4);
    if (lab !== 0n) s += `,labels=0x${lab.toString(16)}`;
    if (proto === IPPROTO_TCP) s += `,protoinfo=(state=${this.tcp.printedState(c)})`;
    return s;
  }
}

/** Set the port (high 16 bits) of key word 'w', and of word 'peer' when >= 0. */
function setKeyPort(k: Uint32Array, w: number, peer: number, port: number): void {
  k[w] = ((port << 16) | (k[w]! & 0xffff)) >>> 0;
  if (peer >= 0) k[peer] = ((port << 16) | (k[peer]! & 0xffff)) >>> 0;
}

/** `ct_dpif_format_ipproto`. */
export function protoName(p: number): string {
  switch (p) {
    case 1: return 'icmp';
    case 58: return 'icmpv6';
    case 6: return 'tcp';
    case 17: return 'udp';
    case 132: return 'sctp';
    case 136: return 'udplite';
    case 33: return 'dccp';
    case 2: return 'igmp';
    default: return String(p);
  }
}

const addrBytes = new Uint8Array(16);

/** `ct_dpif_format_tuple` of the key at 'o'. */
export function formatTuple(k: Uint32Array, o: number): string {
  const meta = k[o + K_META]!;
  const proto = keyProto(meta);
  let s: string;
  if (keyIsV6(meta)) {
    for (let i = 0; i < 4; i++) setBe32(addrBytes, 4 * i, k[o + K_SRC + i]!);
    s = `src=${ipv6ToString(addrBytes, 0)}`;
    for (let i = 0; i < 4; i++) setBe32(addrBytes, 4 * i, k[o + K_DST + i]!);
    s += `,dst=${ipv6ToString(addrBytes, 0)}`;
  } else {
    s = `src=${ipv4ToString(k[o + K_SRC]!)},dst=${ipv4ToString(k[o + K_DST]!)}`;
  }
  const se = k[o + K_SRC_EP]!, de = k[o + K_DST_EP]!;
  if (proto === IPPROTO_ICMP || proto === IPPROTO_ICMPV6) s += `,id=${se >>> 16},type=${(se >>> 8) & 0xff},code=${se & 0xff}`;
  else s += `,sport=${se >>> 16},dport=${de >>> 16}`;
  return s;
}
