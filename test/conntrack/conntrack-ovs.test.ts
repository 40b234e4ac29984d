/**
 * Differential test: sdnemu's Conntrack against the userspace conntrack of a
 * real Open vSwitch 3.1 (dummy datapath, OvsSandbox).
 *
 * Each scenario installs `table=0: ip|ipv6 → ct(table=1,…)` and, in table 1,
 * one flow per ct_state value sdnemu predicts (`ct_state=0xNN/0xff`) that
 * runs the scenario's second ct action (not on +inv: OVS refuses a commit
 * there), writes the matched state into the
 * Ethernet source (02:00:00:00:00:NN) and outputs to p2 (tx_pcap); a
 * catch-all marks anything else 02:00:00:00:ff:ff. Frames are injected on p1
 * with `netdev-dummy/receive`. Per packet we compare the frame p2 sent (the
 * ct_state OVS matched after the first ct, and the bytes after NAT) with what
 * sdnemu computes for the same two ct actions, and after every packet
 * `dpctl/dump-conntrack` (sorted; OVS prints in hash order) with `dump()`.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Conntrack, CtResult, CS_INVALID, type CtExecSpec } from '../../src/conntrack/index.js';
import { be16, parseIpv6, toHex } from '../../src/wire/bytes.js';
import { FrameBuilder } from '../../src/wire/builder.js';
import { OvsSandbox } from '../oracle/ovs.js';
import { describeWith } from '../oracle/tools.js';

const A = '10.0.0.1', B = '10.0.0.2', C = '10.0.0.3', R = '192.0.2.1', NAT_IP = '192.168.0.100', VIP = '10.96.0.10', POD = '10.244.1.5';

const eth = (): FrameBuilder => new FrameBuilder().eth({ src: '00:00:00:00:00:01', dst: '00:00:00:00:00:02' });
const tcp = (s: string, d: string, sp: number, dp: number, flags: string, seq: number, ack = 0, data = ''): Uint8Array => {
  const f = eth().ipv4({ src: s, dst: d }).tcp({ srcPort: sp, dstPort: dp, flags, seq, ack, window: 8192 });
  return (data ? f.payload(data) : f).build();
};
const udp = (s: string, d: string, sp: number, dp: number): Uint8Array =>
  eth().ipv4({ src: s, dst: d }).udp({ srcPort: sp, dstPort: dp }).payload('hello').build();
const echo = (s: string, d: string, type: number, ident: number): Uint8Array =>
  eth().ipv4({ src: s, dst: d }).icmp({ type, ident, seq: 1 }).payload('ping').build();

function spec(o: Partial<CtExecSpec>): CtExecSpec {
  return { zone: 0, commit: false, force: false, nat: null, mark: null, label: null, ...o };
}

interface Scenario {
  name: string;
  /** OpenFlow actions of table 0 (must recirculate to table 1) and the ct action run in table 1 ('' for none). */
  t0: string;
  t1: string;
  /** The same two ct actions for sdnemu. */
  s0: CtExecSpec;
  s1: CtExecSpec | null;
  frames: Uint8Array[];
  ovsSetup?: string[][];
  emuSetup?: (ct: Conntrack) => void;
  /** Compare `dpctl/ct-get-limits` with `zoneLimits()` at the end. */
  limits?: string;
}

const SCENARIOS: Scenario[] = [
  {
    name: 'TCP: handshake, data, FIN/FIN/ACK, reuse after close, RST, invalid segments (zone 5)',
    t0: 'ct(table=1,zone=5)', t1: 'ct(commit,zone=5)',
    s0: spec({ zone: 5 }), s1: spec({ zone: 5, commit: true }),
    frames: [
      tcp(A, B, 1234, 80, 'S', 1000),
      tcp(B, A, 80, 1234, 'SA', 5000, 1001),
      tcp(A, B, 1234, 80, 'A', 1001, 5001),
      tcp(A, B, 1234, 80, 'PA', 1001, 5001, 'hello'),
      tcp(B, A, 80, 1234, 'A', 5001, 1006),
      tcp(A, B, 1234, 80, 'PA', 1006 + 900000, 5001, 'far'), // out of window
      tcp(A, B, 1234, 80, 'FA', 1006, 5001),
      tcp(B, A, 80, 1234, 'FA', 5001, 1007),
      tcp(A, B, 1234, 80, 'A', 1007, 5002),
      tcp(A, B, 1234, 80, 'S', 70000), // reuse of a closed connection
      tcp(A, B, 2000, 80, 'S', 1),
      tcp(B, A, 80, 2000, 'SA', 9, 2),
      tcp(B, A, 80, 2000, 'R', 123456), // RST out of window
      tcp(B, A, 80, 2000, 'RA', 10, 2),
      tcp(A, B, 3000, 80, 'F', 1), // bare FIN: invalid flags
      tcp(B, A, 80, 3001, 'SA', 1, 1), // SYN-ACK may not create
      tcp(A, B, 3002, 80, 'A', 1, 1), // mid-stream pickup
    ],
  },
  {
    name: 'UDP, ICMP echo, RELATED errors, other protocols, IPv6 (zone 0)',
    t0: 'ct(table=1)', t1: 'ct(commit)',
    s0: spec({}), s1: spec({ commit: true }),
    frames: [
      udp(A, B, 1000, 53), udp(A, B, 1000, 53), udp(B, A, 53, 1000), udp(A, B, 1000, 53),
      echo(A, B, 0, 0x77), echo(A, B, 8, 0x1234), echo(A, B, 8, 0x1234), echo(B, A, 0, 0x1234),
      eth().ipv4({ src: B, dst: A }).icmp({ type: 3, code: 3 }).ipv4({ src: A, dst: B }).udp({ srcPort: 1000, dstPort: 53 }).payload('hello').build(),
      eth().ipv4({ src: R, dst: A }).icmp({ type: 11, code: 0 }).ipv4({ src: A, dst: B, ttl: 1 }).udp({ srcPort: 1000, dstPort: 53 }).payload('hello').build(),
      eth().ipv4({ src: R, dst: A }).icmp({ type: 11, code: 0 }).ipv4({ src: A, dst: B, ttl: 1 }).udp({ srcPort: 1001, dstPort: 53 }).payload('hello').build(),
      eth().ipv4({ src: A, dst: B, protocol: 47 }).payload('gre-payload').build(),
      eth().ipv4({ src: B, dst: A, protocol: 47 }).payload('gre-payload').build(),
      eth().ipv6({ src: 'fd00::1', dst: 'fd00::2' }).icmpv6({ type: 128, ident: 7, seq: 1 }).payload('ping').build(),
      eth().ipv6({ src: 'fd00::2', dst: 'fd00::1' }).icmpv6({ type: 129, ident: 7, seq: 1 }).payload('ping').build(),
      eth().ipv6({ src: 'fd00::1', dst: 'fd00::2' }).tcp({ srcPort: 5, dstPort: 6, flags: 'S', seq: 1 }).build(),
      eth().ipv6({ src: 'fd00::1', dst: 'fd00::2' }).udp({ srcPort: 7, dstPort: 8 }).payload('v6').build(),
    ],
  },
  {
    name: 'SNAT: TCP and UDP out, replies and an ICMP error translated back (zone 7)',
    t0: 'ct(table=1,zone=7,nat)', t1: `ct(commit,zone=7,nat(src=${NAT_IP}))`,
    s0: spec({ zone: 7, nat: { range: null } }),
    s1: spec({ zone: 7, commit: true, nat: { range: { kind: 'src', addrMin: 0xc0a80064, addrMax: 0, portMin: 0, portMax: 0 } } }),
    frames: [
      tcp(A, B, 1234, 80, 'S', 1000),
      tcp(B, NAT_IP, 80, 1234, 'SA', 5000, 1001),
      tcp(A, B, 1234, 80, 'A', 1001, 5001),
      udp(A, B, 1000, 53),
      udp(B, NAT_IP, 53, 1000),
      eth().ipv4({ src: R, dst: NAT_IP }).icmp({ type: 11, code: 0 }).ipv4({ src: NAT_IP, dst: B, ttl: 1 }).udp({ srcPort: 1000, dstPort: 53 }).payload('hello').build(),
      eth().ipv4({ src: B, dst: NAT_IP }).icmp({ type: 3, code: 3 }).ipv4({ src: NAT_IP, dst: B }).tcp({ srcPort: 1234, dstPort: 80, seq: 1001, flags: 'A', truncate: 8 }).build(),
      echo(A, B, 8, 0x4242),
      echo(B, NAT_IP, 0, 0x4242),
    ],
  },
  {
    name: 'DNAT to a backend with a port; replies translated back (zone 9)',
    t0: 'ct(table=1,zone=9,nat)', t1: `ct(commit,zone=9,nat(dst=${POD}:8080))`,
    s0: spec({ zone: 9, nat: { range: null } }),
    s1: spec({ zone: 9, commit: true, nat: { range: { kind: 'dst', addrMin: 0x0af40105, addrMax: 0, portMin: 8080, portMax: 8080 } } }),
    frames: [
      tcp(A, VIP, 40000, 80, 'S', 1),
      tcp(POD, A, 8080, 40000, 'SA', 77, 2),
      tcp(A, VIP, 40000, 80, 'PA', 2, 78, 'GET /'),
      tcp(C, VIP, 40000, 80, 'S', 1),
    ],
  },
  {
    name: 'ct(commit,nat) without a range on new connections (zone 11)',
    t0: 'ct(table=1,zone=11)', t1: 'ct(commit,zone=11,nat)',
    s0: spec({ zone: 11 }), s1: spec({ zone: 11, commit: true, nat: { range: null } }),
    frames: [udp(A, B, 1000, 53), udp(B, A, 53, 1000), udp(A, B, 1000, 53)],
  },
  {
    name: 'ct_mark and ct_label set at commit (zone 3)',
    t0: 'ct(table=1,zone=3)', t1: 'ct(commit,zone=3,exec(set_field:42->ct_mark,set_field:0x10000000000000005/0xffffffffffffffffff->ct_label))',
    s0: spec({ zone: 3 }),
    s1: spec({ zone: 3, commit: true, mark: { value: 42, mask: 0xffffffff }, label: { value: 0x10000000000000005n, mask: 0xffffffffffffffffffn } }),
    frames: [udp(A, B, 1000, 53), udp(B, A, 53, 1000)],
  },
  {
    name: 'force commit: a reply-direction packet replaces the entry (zone 17)',
    t0: 'ct(table=1,zone=17)', t1: 'ct(commit,force,zone=17)',
    s0: spec({ zone: 17 }), s1: spec({ zone: 17, commit: true, force: true }),
    frames: [udp(A, B, 1000, 53), udp(B, A, 53, 1000), udp(A, B, 1000, 53), udp(A, B, 1000, 53)],
  },
  {
    name: 'IPv6 SNAT with an ICMPv6 error translated back (zone 15)',
    t0: 'ct(table=1,zone=15,nat)', t1: 'ct(commit,zone=15,nat(src=fd00::100))',
    s0: spec({ zone: 15, nat: { range: null } }),
    s1: spec({ zone: 15, commit: true, nat: { range: { kind: 'src', addrMin: parseIpv6('fd00::100')!, addrMax: 0, portMin: 0, portMax: 0 } } }),
    frames: [
      eth().ipv6({ src: 'fd00::1', dst: 'fd00::2' }).tcp({ srcPort: 999, dstPort: 80, flags: 'S', seq: 1 }).build(),
      eth().ipv6({ src: 'fd00::2', dst: 'fd00::100' }).tcp({ srcPort: 80, dstPort: 999, flags: 'SA', seq: 9, ack: 2 }).build(),
      eth().ipv6({ src: 'fd00::1', dst: 'fd00::2' }).udp({ srcPort: 5000, dstPort: 53 }).payload('query').build(),
      eth().ipv6({ src: 'fd00::2', dst: 'fd00::100' }).icmpv6({ type: 1, code: 4, rest: 0 })
        .ipv6({ src: 'fd00::100', dst: 'fd00::2' }).udp({ srcPort: 5000, dstPort: 53 }).payload('query').build(),
    ],
  },
  {
    name: 'zone limit: commits beyond the limit leave no entry (zone 13)',
    t0: 'ct(table=1,zone=13)', t1: 'ct(commit,zone=13)',
    s0: spec({ zone: 13 }), s1: spec({ zone: 13, commit: true }),
    ovsSetup: [['dpctl/ct-set-limits', 'zone=13,limit=2']],
    emuSetup: (ct) => ct.setZoneLimit(13, 2),
    frames: [udp(A, B, 1, 53), udp(A, B, 2, 53), udp(A, B, 3, 53), udp(B, A, 53, 3), udp(B, A, 53, 2)],
    limits: 'zone=13',
  },
];

interface Emulated { states: number[]; frames: string[]; dumps: string[][]; limits: string }

/** Run a scenario through sdnemu: per packet, the state table 1 matches and the frame p2 would send. */
function emulate(sc: Scenario): Emulated {
  const ct = new Conntrack();
  sc.emuSetup?.(ct);
  const out = new CtResult();
  const res: Emulated = { states: [], frames: [], dumps: [], limits: '' };
  for (const f0 of sc.frames) {
    const f = f0.slice();
    out.clear();
    ct.execute(f, 14, f.length, be16(f, 12), sc.s0, 0, out);
    const s = out.state;
    res.states.push(s);
    // OVS refuses ct(commit) on a +inv match (OFPBAC_MATCH_INCONSISTENT): those flows only output
    if (sc.s1 && !(s & CS_INVALID)) ct.execute(f, 14, f.length, be16(f, 12), sc.s1, 0, out);
    f.set([2, 0, 0, 0, 0, s], 6);
    res.frames.push(toHex(f));
    res.dumps.push([...ct.dump()].sort());
  }
  res.limits = ct.zoneLimits();
  return res;
}

describeWith('ovs', 'conntrack: sdnemu against Open vSwitch 3.1 userspace conntrack', () => {
  let sb: OvsSandbox;
  beforeAll(async () => { sb = await OvsSandbox.start(); }, 30_000);
  afterAll(async () => { await sb?.stop(); });

  for (const sc of SCENARIOS) {
    it(sc.name, async () => {
      const emu = emulate(sc);
      await sb.vsctl('--if-exists', 'del-br', 'br0');
      await sb.addBridge('br0', [{ name: 'p1', ofport: 1 }, { name: 'p2', ofport: 2, txPcap: true }]);
      await sb.appctl('dpctl/flush-conntrack');
      for (const cmd of sc.ovsSetup ?? []) await sb.appctl(...cmd);
      const states = [...new Set(emu.states)];
      const l3s = [...new Set(sc.frames.map((f) => (be16(f, 12) === 0x86dd ? 'ipv6' : 'ip')))];
      const t1 = sc.t1 ? `${sc.t1},` : '';
      const flows = [
        `table=0,priority=100,ip,actions=${sc.t0}`,
        `table=0,priority=100,ipv6,actions=${sc.t0}`,
        ...l3s.flatMap((l3) => states.map((s) =>
          `table=1,priority=10,${l3},ct_state=0x${s.toString(16)}/0xff,actions=${s & CS_INVALID ? '' : t1}mod_dl_src:02:00:00:00:00:${s.toString(16).padStart(2, '0')},output:2`)),
        'table=1,priority=1,actions=mod_dl_src:02:00:00:00:ff:ff,output:2',
      ];
      await sb.addFlows('br0', flows.join('\n'));
      // the tx_pcap file may still hold an earlier scenario's frames
      const base = (await sb.txFrames('p2')).length;
      try {
        for (let i = 0; i < sc.frames.length; i++) {
          await sb.receive('p1', toHex(sc.frames[i]!));
          const sent = await sb.txFrames('p2', { expect: base + i + 1 });
          const got = toHex(sent[base + i]!);
          expect({ packet: i, frame: got }).toEqual({ packet: i, frame: emu.frames[i] });
          const dump = (await sb.appctl('dpctl/dump-conntrack')).split('\n').map((l) => l.trim()).filter((l) => l !== '').sort();
          expect({ packet: i, dump }).toEqual({ packet: i, dump: emu.dumps[i] });
        }
        if (sc.limits) {
          const ovsLimits = (await sb.appctl('dpctl/ct-get-limits', sc.limits)).trim();
          expect(ovsLimits).toBe(emu.limits);
        }
      } finally {
        for (const cmd of sc.ovsSetup ?? []) if (cmd[0] === 'dpctl/ct-set-limits') await sb.appctl('dpctl/ct-del-limits', 'zone=13');
      }
    }, 60_000);
  }
});
