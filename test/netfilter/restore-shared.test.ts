/**
 * A payload loaded once and replayed on other rulesets (restore.ts restoreShared / replayRestore,
 * what the CNI does with kube-proxy's shared sync): the same result as parsing it on each, the
 * chain objects shared, each node's own chains kept, each node's rule counters its own, and a
 * node not in the first one's state refused (the caller parses, and gets the kernel's error);
 * loads queued on a node until its first read, composed.
 */
import { describe, expect, it } from 'vitest';
import { Evaluator, type NfHost, type NfPacket } from '../../src/netfilter/eval.js';
import { parseRestore, replayRestore, restoreShared } from '../../src/netfilter/restore.js';
import { Ruleset } from '../../src/netfilter/model.js';
import { formatSave } from '../../src/netfilter/save.js';
import { composeChanges, deferReplay } from '../../src/netfilter/share.js';
import { parseIpv4 } from '../../src/wire/bytes.js';

const ip = (s: string): number => parseIpv4(s)!;
const host: NfHost = { addrType: () => 'UNICAST' };
const pkt = (dst: string): NfPacket => ({
  src: ip('10.0.0.1'), dst: ip(dst), proto: 6, sport: 40000, dport: 80, tcpFlags: 2, fragment: false, length: 60,
  inIface: 'eth0', outIface: null, mark: 0, ctStates: new Set(['NEW']), ctMark: 0, physIn: null, physOut: null, bridged: false,
});

/** A node: Antrea's masquerade for its podCIDR (what the CNI gives every node before kube-proxy's first sync). */
function node(podCIDR: string): Ruleset {
  return parseRestore(`*nat
:ANTREA-POSTROUTING - [0:0]
-A POSTROUTING -j ANTREA-POSTROUTING
-A ANTREA-POSTROUTING -s ${podCIDR} ! -o antrea-gw0 -j MASQUERADE
COMMIT
`);
}
/** kube-proxy's jump, once its chain exists (the CNI's ensureJumps) */
const JUMP = '*nat\n-I PREROUTING 1 -j KUBE-SERVICES\nCOMMIT\n';

const FULL = `*nat
:KUBE-SERVICES - [0:0]
:KUBE-SVC-A - [0:0]
:KUBE-SEP-A1 - [0:0]
-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-A
-A KUBE-SVC-A -j KUBE-SEP-A1
-A KUBE-SEP-A1 -p tcp -m tcp -j DNAT --to-destination 10.244.1.5:8080
COMMIT
`;
const PARTIAL = `*nat
:KUBE-SERVICES - [0:0]
:KUBE-SVC-B - [0:0]
:KUBE-SEP-B1 - [0:0]
-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-A
-A KUBE-SERVICES -d 10.96.0.11/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-B
-A KUBE-SVC-B -j KUBE-SEP-B1
-A KUBE-SEP-B1 -p tcp -m tcp -j DNAT --to-destination 10.244.2.7:8080
COMMIT
`;

describe('restoreShared / replayRestore', () => {
  it('replays a full then a partial sync: the same tables as parsing them, chains shared, each node\'s own kept', () => {
    const a = node('10.244.1.0/24'), b = node('10.244.2.0/24'), parsed = node('10.244.2.0/24');
    for (const payload of [FULL, PARTIAL]) {
      const change = restoreShared(payload, a, { noflush: true });
      expect(replayRestore(change, b)).toBe(true);
      parseRestore(payload, parsed, { noflush: true });
      expect(formatSave(b)).toBe(formatSave(parsed));
      for (const rs of [a, b, parsed]) if (rs.chain('nat', 'PREROUTING')!.rules.length === 0) parseRestore(JUMP, rs, { noflush: true });
    }
    expect(b.chain('nat', 'KUBE-SVC-B')).toBe(a.chain('nat', 'KUBE-SVC-B'));
    expect(b.chain('nat', 'ANTREA-POSTROUTING')).not.toBe(a.chain('nat', 'ANTREA-POSTROUTING'));
    expect(formatSave(b)).toContain('-A ANTREA-POSTROUTING -s 10.244.2.0/24');
  });

  it('keeps each node\'s rule counters its own: the shared rule objects are not counted on', () => {
    const a = node('10.244.1.0/24'), b = node('10.244.2.0/24');
    expect(replayRestore(restoreShared(FULL, a, { noflush: true }), b)).toBe(true);
    for (const rs of [a, b]) parseRestore(JUMP, rs, { noflush: true });
    const ea = new Evaluator(a, host), eb = new Evaluator(b, host);
    for (let i = 0; i < 3; i++) ea.run('nat', 'PREROUTING', pkt('10.96.0.10'));
    eb.run('nat', 'PREROUTING', pkt('10.96.0.10'));
    const sep = a.chain('nat', 'KUBE-SEP-A1')!.rules[0]!;
    expect(b.chain('nat', 'KUBE-SEP-A1')!.rules[0]).toBe(sep);
    expect(ea.countersOf(sep)).toEqual({ packets: 3, bytes: 180 });
    expect(eb.countersOf(sep)).toEqual({ packets: 1, bytes: 60 });
    expect(sep.counters).toEqual({ packets: 0, bytes: 0 });
    // iptables-save -c on each node prints its own
    const dnat = (rs: Ruleset, ev: Evaluator): string => formatSave(rs, { counters: true, countersOf: (r) => ev.countersOf(r) })
      .split('\n').find((l) => l.includes('-A KUBE-SEP-A1'))!;
    expect(dnat(a, ea)).toMatch(/^\[3:180\] -A KUBE-SEP-A1/);
    expect(dnat(b, eb)).toMatch(/^\[1:60\] -A KUBE-SEP-A1/);
  });

  it('takes the chains a payload declares whatever the node had: a node that joins late, one that parsed on its own', () => {
    const a = node('10.244.1.0/24');
    restoreShared(FULL, a, { noflush: true });
    // b joins after the first sync (none of kube-proxy's chains), c loaded it by parsing (its own objects)
    const b = node('10.244.2.0/24'), c = node('10.244.3.0/24');
    parseRestore(FULL, c, { noflush: true });
    const both = FULL + PARTIAL;
    const change = restoreShared(both, a, { noflush: true });
    for (const [rs, cidr, had] of [[b, '10.244.2.0/24', ''], [c, '10.244.3.0/24', FULL]] as const) {
      const parsed = node(cidr);
      if (had !== '') parseRestore(had, parsed, { noflush: true });
      parseRestore(both, parsed, { noflush: true });
      expect(replayRestore(change, rs)).toBe(true);
      expect(formatSave(rs)).toBe(formatSave(parsed));
      expect(rs.chain('nat', 'KUBE-SEP-A1')).toBe(a.chain('nat', 'KUBE-SEP-A1'));
    }
  });

  it('refuses a node whose chain a payload appends to is not the first node\'s, and changes nothing', () => {
    const a = node('10.244.1.0/24'), b = node('10.244.2.0/24');
    for (const rs of [a, b]) parseRestore(FULL, rs, { noflush: true });
    const before = formatSave(b);
    // no `:KUBE-SVC-A` line: the result depends on what the chain held, and b's is its own object
    expect(replayRestore(restoreShared('*nat\n-A KUBE-SVC-A -j KUBE-SEP-A1\nCOMMIT\n', a, { noflush: true }), b)).toBe(false);
    expect(formatSave(b)).toBe(before);
  });

  it('runs the kernel\'s commit checks on the result: a DNAT the node reaches from POSTROUTING is refused', () => {
    const a = node('10.244.1.0/24'), b = node('10.244.2.0/24');
    const empty = '*nat\n:KUBE-MARK-X - [0:0]\nCOMMIT\n';
    expect(replayRestore(restoreShared(empty, a, { noflush: true }), b)).toBe(true);
    // only b jumps to the shared chain from POSTROUTING (its own chain, which the payload leaves alone)
    parseRestore('*nat\n-A ANTREA-POSTROUTING -j KUBE-MARK-X\nCOMMIT\n', b, { noflush: true });
    const dnat = '*nat\n-A KUBE-MARK-X -p tcp -j DNAT --to-destination 10.0.0.9\nCOMMIT\n';
    expect(replayRestore(restoreShared(dnat, a, { noflush: true }), b)).toBe(false);
    expect(() => parseRestore(dnat, b, { noflush: true })).toThrow(/RULE_APPEND failed \(Invalid argument\)/);
  });
});

describe('deferReplay', () => {
  const GONE = `*nat
:KUBE-SERVICES - [0:0]
:KUBE-SVC-B - [0:0]
:KUBE-SEP-B1 - [0:0]
-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-A
-X KUBE-SVC-B
-X KUBE-SEP-B1
COMMIT
`;
  const jump = (rs: Ruleset): void => { if (rs.chain('nat', 'PREROUTING')!.rules.length === 0) parseRestore(JUMP, rs, { noflush: true }); };

  it('a node idle through three syncs catches up at its first read, in one replay, to what parsing them gives', () => {
    const a = node('10.244.1.0/24'), b = node('10.244.2.0/24'), parsed = node('10.244.2.0/24');
    const eb = new Evaluator(b, host);
    for (const payload of [FULL, PARTIAL, GONE]) {
      const change = restoreShared(payload, a, { noflush: true });
      jump(a);
      deferReplay(eb, change, payload, jump);
      parseRestore(payload, parsed, { noflush: true });
      jump(parsed);
    }
    // one queued load: the three changes composed
    expect(eb.deferred).toBe(1);
    expect(b.chain('nat', 'KUBE-SERVICES')).toBeUndefined();
    expect(formatSave(eb.rs)).toBe(formatSave(parsed));
    expect(eb.deferred).toBe(0);
    expect(eb.deferredErrors).toEqual([]);
    expect(b.chain('nat', 'KUBE-SVC-A')).toBe(a.chain('nat', 'KUBE-SVC-A'));
    expect(b.chain('nat', 'KUBE-SVC-B')).toBeUndefined();
  });

  it('parses the queued payloads in order where the node cannot take the chains', () => {
    const a = node('10.244.1.0/24'), b = node('10.244.2.0/24'), parsed = node('10.244.2.0/24');
    for (const rs of [a, b, parsed]) parseRestore(FULL, rs, { noflush: true });
    const eb = new Evaluator(b, host);
    for (const payload of ['*nat\n-A KUBE-SVC-A -j KUBE-SEP-A1\nCOMMIT\n', PARTIAL]) {
      deferReplay(eb, restoreShared(payload, a, { noflush: true }), payload, jump);
      parseRestore(payload, parsed, { noflush: true });
    }
    jump(parsed);
    expect(formatSave(eb.rs)).toBe(formatSave(parsed));
    expect(eb.deferredErrors).toEqual([]);
  });

  it('composes only consecutive changes of one ruleset', () => {
    const a = node('10.244.1.0/24'), c = node('10.244.3.0/24');
    const c1 = restoreShared(FULL, a, { noflush: true });
    const c2 = restoreShared(PARTIAL, a, { noflush: true });
    expect(composeChanges(c1, c2)).not.toBeNull();
    expect(composeChanges(c1, restoreShared(FULL, c, { noflush: true }))).toBeNull();
  });
});

describe('replayRestore and -N', () => {
  it('a chain made with -N is not taken on a node that has it (-N would fail there)', () => {
    const a = node('10.244.1.0/24'), b = node('10.244.2.0/24');
    parseRestore('*nat\n:KUBE-X - [0:0]\nCOMMIT\n', b, { noflush: true });
    const text = '*nat\n-N KUBE-X\nCOMMIT\n';
    expect(replayRestore(restoreShared(text, a, { noflush: true }), b)).toBe(false);
    expect(() => parseRestore(text, b, { noflush: true })).toThrow(/Chain already exists/);
  });
});
