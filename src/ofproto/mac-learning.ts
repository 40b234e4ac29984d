/**
 * The MAC learning table of a bridge (ofproto layer, slow path) — sdnemu's
 * lib/mac-learning.c, the table behind `actions=NORMAL`.
 *
 * What: `MacLearning` maps (VLAN, MAC) to the OpenFlow port the MAC was last
 * seen on. xlate.ts's NORMAL looks destinations up in it and reports the
 * sources it would learn; the datapath (datapath/datapath.ts) applies those
 * reports for packets that really went through an upcall, so `ofproto/trace`
 * never changes the table (as in OVS, whose trace runs without side effects).
 *
 * Semantics (OVS 3.1, checked in test/ofproto/normal-ovs.test.ts):
 *  - `update()` is mac_learning_update: nothing is learned from a multicast
 *    source; an entry is written only when it is new, on another port, or
 *    at least one second old (is_mac_learning_update_needed; OVS's age is
 *    counted in whole seconds of its clock, here of the caller's `now`) —
 *    an entry seen again on its port within the same second is not even made
 *    more recent. A written entry becomes the most recently used one and its
 *    idle timer restarts. A new entry in a full table first evicts, as
 *    evict_mac_entry_fairly does, the least recently used entry of the port
 *    with the most entries.
 *  - the datapath calls `update()` for an upcall's packet and again, with the
 *    same source, whenever it pushes a cached flow's statistics (OVS's xlate
 *    cache entry XC_NORMAL): a MAC that moves back to a port through a cached
 *    flow is learned there, and busy entries do not expire.
 *  - `expire(now)` is mac_learning_run: entries idle for `idleTimeS`
 *    (OVS default 300 s, other_config:mac-aging-time) are removed.
 *  - `lookup()` of a multicast address finds nothing (NORMAL floods it).
 * Gratuitous ARPs only lock an entry against moves on bond ports; sdnemu has
 * no bonds, so they learn like any packet (xlate still un-wildcards the
 * fields the check reads).
 * Revalidation: every change that can alter a forwarding decision (an entry
 * added, moved, expired, evicted or flushed) bumps `version`; the datapath
 * revalidates its megaflows when it moves, as ofproto-dpif sets
 * `need_revalidate = REV_MAC_LEARNING` when mac_learning_run reports a change.
 * Invariant: `entries` iterates least recently used first (Map insertion
 * order: a touched entry is deleted and re-inserted), which is also the
 * order `fdb/show` prints.
 * Cost: one string-keyed Map operation per learn or lookup — slow path only
 * (upcalls and revalidation), never per cached packet.
 * Neighbours: bridge.ts owns one per Bridge (`Bridge.mac`); xlate.ts
 * (normalAction) reads it; datapath.ts writes it.
 */

/** One learned address. MACs are 48-bit numbers (exact in a double). */
export interface MacEntry {
  readonly mac: number;
  readonly vlan: number;
  /** OpenFlow port */
  port: number;
  /** last time (ms) the entry was learned or refreshed: its age counts from here */
  usedMs: number;
}

/** A source address NORMAL saw on a packet: what the datapath should learn. */
export interface MacLearn {
  mac: number;
  vlan: number;
  port: number;
}

export const MAC_DEFAULT_IDLE_S = 300;
export const MAC_DEFAULT_MAX = 2048;

/** True for a group (multicast or broadcast) address. */
export function macIsMulticast(mac: number): boolean {
  return Math.floor(mac / 0x10000000000) % 2 === 1;
}

/** 'hi' (16 bits) and 'lo' (32 bits) flow-key words as one 48-bit number. */
export function macFromWords(hi: number, lo: number): number {
  return (hi & 0xffff) * 0x100000000 + (lo >>> 0);
}

/** aa:bb:cc:dd:ee:ff */
export function macToString(mac: number): string {
  return mac.toString(16).padStart(12, '0').replace(/(..)(?!$)/g, '$1:');
}

export class MacLearning {
  idleTimeS = MAC_DEFAULT_IDLE_S;
  maxEntries = MAC_DEFAULT_MAX;
  /** bumped by every change a forwarding decision may depend on */
  version = 0;
  private readonly entries = new Map<string, MacEntry>();

  get size(): number { return this.entries.size; }

  /** The port 'mac' was learned on in 'vlan', or -1 (unknown, or a multicast address). */
  lookup(mac: number, vlan: number): number {
    if (macIsMulticast(mac)) return -1;
    return this.entries.get(key(mac, vlan))?.port ?? -1;
  }

  /**
   * Learn that 'mac' in 'vlan' is on 'port' at 'now' (ms). Returns true when
   * a forwarding decision may change (a new entry or a move: `version`
   * moved); an entry merely refreshed (≥ 1 s old, same port) returns false.
   */
  update(mac: number, vlan: number, port: number, now: number): boolean {
    if (macIsMulticast(mac)) return false;
    const k = key(mac, vlan);
    const e = this.entries.get(k);
    if (e === undefined) {
      if (this.entries.size >= this.maxEntries) this.evictFairly();
      this.entries.set(k, { mac, vlan, port, usedMs: now });
      this.version++;
      return true;
    }
    const ageS = Math.floor(now / 1000) - Math.floor(e.usedMs / 1000);
    if (e.port === port && ageS < 1) return false;
    this.entries.delete(k);
    e.usedMs = now;
    this.entries.set(k, e);
    if (e.port === port) return false;
    e.port = port;
    this.version++;
    return true;
  }

  /** Remove the entries idle for idleTimeS at 'now' (ms); returns how many. */
  expire(now: number): number {
    let n = 0;
    for (const [k, e] of this.entries) {
      if (now - e.usedMs >= this.idleTimeS * 1000) { this.entries.delete(k); n++; }
    }
    if (n > 0) this.version++;
    return n;
  }

  /** Forget everything learned on 'port' (a port removed from the bridge), or everything when 'port' is undefined. */
  flush(port?: number): void {
    let n = 0;
    for (const [k, e] of this.entries) {
      if (port === undefined || e.port === port) { this.entries.delete(k); n++; }
    }
    if (n > 0) this.version++;
  }

  /** Entries, least recently used first. */
  list(): MacEntry[] {
    return [...this.entries.values()];
  }

  /**
   * `ovs-appctl fdb/show BRIDGE` at 'now' (ms): header, then one line per
   * entry, least recently used first; 'portName' names a port as OVS does
   * (its number, `LOCAL` for the bridge port).
   */
  show(now: number, portName: (port: number) => string): string {
    const lines = [' port  VLAN  MAC                Age'];
    for (const e of this.entries.values()) {
      const age = Math.max(0, Math.floor((now - e.usedMs) / 1000));
      lines.push(`${portName(e.port).padStart(5)}  ${String(e.vlan).padStart(4)}  ${macToString(e.mac)}  ${String(age).padStart(3)}`);
    }
    return `${lines.join('\n')}\n`;
  }

  /** evict_mac_entry_fairly: the least recently used entry of the port with the most entries. */
  private evictFairly(): void {
    const count = new Map<number, number>();
    for (const e of this.entries.values()) count.set(e.port, (count.get(e.port) ?? 0) + 1);
    let port = -1, most = 0;
    for (const [p, n] of count) if (n > most) { most = n; port = p; }
    for (const [k, e] of this.entries) {
      if (e.port === port) { this.entries.delete(k); this.version++; return; }
    }
  }
}

function key(mac: number, vlan: number): string {
  return `${vlan}/${mac}`;
}
