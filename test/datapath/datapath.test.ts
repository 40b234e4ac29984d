// The datapath end to end (no real OVS here; datapath-ovs.test.ts compares with it): caches,
// upcalls, revalidation, idle expiry, the flow limit, drops with reasons, tunnels and ct.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Datapath } from '../../src/datapath/datapath.js';
import { loadBridge } from '../../src/ofproto/trace.js';
import { parseFlowsFile } from '../../src/ofproto/ofctl.js';
import { FrameBuilder } from '../../src/wire/builder.js';
import { toHex } from '../../src/wire/bytes.js';

const MAC1 = '00:00:00:00:00:01', MAC2 = '00:00:00:00:00:02';
const hex = (b: Uint8Array): string => toHex(b);

function tcp(src: string, dst: string, sport: number, dport: number, flags = 'PA', ttl = 64, seq = 100, ack = 1): Uint8Array {
  return new FrameBuilder().eth({ src: MAC1, dst: MAC2 }).ipv4({ src, dst, ttl, ident: 1 })
    .tcp({ srcPort: sport, dstPort: dport, seq, ack: flags.includes('A') ? ack : 0, flags }).payload(flags.includes('S') ? '' : 'data').build();
}

/** A datapath over 'flows' with sinks recording what each port sends. */
function setup(flows: string, opts: { ports?: string; emc?: number; flowLimit?: number } = {}) {
  const br = loadBridge({ flows, ports: opts.ports ?? 'p1 1\np2 2\np3 3\n' });
  const dp = new Datapath(br, { emcInsertInvProb: opts.emc ?? 1, flowLimit: opts.flowLimit ?? 200000 });
  const sent = new Map<number, string[]>();
  for (const p of br.ports.values()) {
    sent.set(p.odp, []);
    dp.attach(p.odp, (b, s, e) => sent.get(p.odp)!.push(toHex(b, s, e)));
  }
  return { br, dp, sent };
}

describe('forwarding and the caches', () => {
  it('first packet upcalls, the next hit the megaflow cache then the EMC; bytes are forwarded unchanged', () => {
    const { dp, sent } = setup('in_port=1,actions=output:2\nin_port=2,actions=output:1\n');
    const f = tcp('10.0.0.1', '10.0.0.2', 1000, 80);
    for (let i = 0; i < 5; i++) dp.receive(1, f.slice(), 0);
    expect(sent.get(2)).toEqual(Array(5).fill(hex(f)));
    expect(dp.stats).toMatchObject({ rx: 5, missed: 1, megaflowHits: 1, emcHits: 3, delivered: 5 });
    expect(dp.megaflows.size).toBe(1);
    expect(dp.show()).toContain('lookups: hit:4 missed:1 lost:0');
  });

  it('a port removed and another added before the next packet (same count): the datapath re-reads its port map', () => {
    const { br, dp, sent } = setup('in_port=1,actions=output:2\nin_port=4,actions=output:1\n');
    const f = tcp('10.0.0.1', '10.0.0.2', 1000, 80);
    dp.receive(1, f.slice(), 0);
    br.removePort(3);
    br.addPort({ ofport: 4, name: 'p4', type: 'system', options: {}, odp: 4 });
    sent.set(4, []);
    dp.attach(4, (b, st, e) => sent.get(4)!.push(toHex(b, st, e)));
    // a packet in on the new port's datapath number is known (ofport 4) and forwarded by its flow
    dp.receive(4, f.slice(), 1);
    expect(sent.get(1)).toEqual([hex(f)]);
    expect(dp.drops()).not.toHaveProperty('no_port');
  });

  it('one megaflow serves every packet its mask covers', () => {
    const { dp } = setup('ip,nw_dst=10.0.0.0/24,actions=output:2\n');
    for (let i = 0; i < 50; i++) dp.receive(1, tcp(`192.168.0.${i}`, `10.0.0.${i}`, 1000 + i, 80), 0);
    expect(dp.stats.missed).toBe(1);
    expect(dp.megaflows.size).toBe(1);
  });

  it('rewrites: mod_nw_dst, mod_tp_dst and dec_ttl give the frame with the new fields', () => {
    const { dp, sent } = setup('tcp,actions=mod_nw_dst:172.16.0.9,mod_tp_dst:8080,dec_ttl,output:2\n');
    dp.receive(1, tcp('10.0.0.1', '10.0.0.2', 1000, 80), 0);
    expect(sent.get(2)).toEqual([hex(tcp('10.0.0.1', '172.16.0.9', 1000, 8080, 'PA', 63))]);
    expect(dp.dumpFlows(0)[0]).toMatch(/actions:set\(ipv4\(dst=172\.16\.0\.9,ttl=63\)\),set\(tcp\(dst=8080\)\),2$/);
  });

  it('push_vlan and pop_vlan', () => {
    const { dp, sent } = setup('in_port=1,actions=mod_vlan_vid:10,output:2\nin_port=2,actions=strip_vlan,output:1\n');
    const plain = tcp('10.0.0.1', '10.0.0.2', 1, 2);
    const tagged = new FrameBuilder().eth({ src: MAC1, dst: MAC2 }).vlan({ vid: 10 }).ipv4({ src: '10.0.0.1', dst: '10.0.0.2', ident: 1 })
      .tcp({ srcPort: 1, dstPort: 2, seq: 100, ack: 1, flags: 'PA' }).payload('data').build();
    dp.receive(1, plain.slice(), 0);
    dp.receive(2, tagged.slice(), 0);
    expect(sent.get(2)).toEqual([hex(tagged)]);
    expect(sent.get(1)).toEqual([hex(plain)]);
  });
});

describe('revalidation', () => {
  it('no stale decision survives a flow change; rule counters get the cached packets', () => {
    const { br, dp, sent } = setup('priority=10,ip,actions=output:2\n');
    const f = tcp('10.0.0.1', '10.0.0.2', 1000, 80);
    for (let i = 0; i < 3; i++) dp.receive(1, f.slice(), 0);
    expect(sent.get(2)!.length).toBe(3);
    // a new, higher-priority rule for this traffic: the very next packet must follow it
    br.addFlows(parseFlowsFile('priority=20,tcp,tp_dst=80,actions=output:3\n'), 1);
    dp.receive(1, f.slice(), 1);
    expect(sent.get(3)!.length).toBe(1);
    expect(sent.get(2)!.length).toBe(3);
    // same mask, new actions: modified in place (mod-flows)
    br.deleteFlows(null, null);
    br.addFlows(parseFlowsFile('priority=20,tcp,tp_dst=80,actions=output:1\npriority=10,ip,actions=output:2\n'), 2);
    dp.receive(2, f.slice(), 2);
    expect(sent.get(1)!.length).toBe(1);
    dp.sweep(3);
    const dump = br.dumpFlows(3).join('\n');
    expect(dump).toMatch(/n_packets=1, .*priority=20,tcp,tp_dst=80 actions=output:1/);
  });

  it('idle megaflows expire; the cache is bounded by the flow limit', () => {
    const { dp } = setup('tcp,actions=output:2\n', { flowLimit: 10 });
    for (let i = 0; i < 25; i++) dp.receive(1, tcp('10.0.0.1', '10.0.0.2', 1000, 80 + i), i);
    // tcp with no port match: one megaflow for all of them
    expect(dp.megaflows.size).toBe(1);
    const d2 = setup('tcp,tp_dst=80,actions=output:2\ntcp,tp_dst=81,actions=output:2\n', { flowLimit: 10 }).dp;
    for (let i = 0; i < 25; i++) d2.receive(1, tcp(`10.0.${i}.1`, '10.0.0.2', 1000, (1000 + i * 7919) % 65536), i);
    expect(d2.megaflows.size).toBeLessThanOrEqual(10);
    d2.sweep(100);
    expect(d2.megaflows.size).toBeGreaterThan(0);
    d2.sweep(100 + 10_000);
    expect(d2.megaflows.size).toBe(0);
  });
});

describe('the flow limit, as ofproto-dpif-upcall.c enforces it', () => {
  // move reads the whole source address: a megaflow per source
  const flows = 'priority=10,tcp,tp_dst=80,actions=move:NXM_OF_IP_SRC[]->NXM_NX_REG0[],output:2\n'
    + 'priority=0,ip,actions=move:NXM_OF_IP_SRC[]->NXM_NX_REG0[],output:3\n';
  const pkt = (i: number): Uint8Array => tcp(`10.1.${i >> 8}.${i & 255}`, '10.0.0.2', 1000, 81);

  it('at the limit an upcall still forwards (or drops) the packet as translated, but installs nothing', () => {
    const { dp, sent } = setup(flows, { flowLimit: 4 });
    dp.receive(1, tcp('10.9.9.9', '10.0.0.2', 1, 80), 0);
    for (let i = 0; i < 3; i++) dp.receive(1, pkt(i), 10 + i);
    expect(dp.megaflows.size).toBe(4);
    const before = { ...dp.stats };
    // the cache is full: a fifth flow's packets are delivered, each by an upcall
    for (let k = 0; k < 5; k++) dp.receive(1, pkt(7), 20 + k);
    expect(dp.megaflows.size).toBe(4);
    expect(sent.get(3)!.length).toBe(3 + 5);
    expect(dp.stats.flowLimitHit - before.flowLimitHit).toBe(5);
    expect(dp.stats.missed - before.missed).toBe(5);
    expect(dp.stats.delivered - before.delivered).toBe(5);
    // installed flows keep hitting
    dp.receive(1, tcp('10.9.9.9', '10.0.0.2', 1, 80), 30);
    expect(dp.stats.flowLimitHit - before.flowLimitHit).toBe(5);
    expect(sent.get(2)!.length).toBe(2);
    // the sweep frees room when flows go idle (max-idle 10 s), then the next upcall installs
    dp.sweep(30 + 10_000);
    expect(dp.megaflows.size).toBe(0);
    dp.receive(1, pkt(7), 10_040);
    expect(dp.megaflows.size).toBe(1);
  });

  it('over the limit (lowered at run time) the revalidator uses 100 ms of idle time; over twice the limit it deletes every flow', () => {
    const { dp } = setup(flows, { flowLimit: 100 });
    for (let i = 0; i < 20; i++) dp.receive(1, pkt(i), 0);
    expect(dp.megaflows.size).toBe(20);
    dp.flowLimit = 15;
    // busy flows (hit at 150 ms) stay, idle ones (created at 0, never hit) go after 100 ms
    for (let i = 0; i < 5; i++) dp.receive(1, pkt(i), 150);
    dp.sweep(200);
    expect(dp.megaflows.size).toBe(5);
    const d2 = setup(flows, { flowLimit: 100 }).dp;
    for (let i = 0; i < 20; i++) d2.receive(1, pkt(i), 0);
    d2.flowLimit = 9;
    d2.sweep(1);
    expect(d2.megaflows.size).toBe(0);
  });
});

describe('drops are counted with their reason; nothing else is lost', () => {
  it('short frames, no output, unknown port, bad tunnel packets', () => {
    const ports = 'p1 1\np2 2\nvx1 10 vxlan remote_ip=192.168.1.2 key=flow\n@hwaddr aa:55:aa:55:00:00\n@ip 192.168.1.1/24\n@route 192.168.1.0/24 br0\n@neigh 192.168.1.2 aa:55:aa:66:00:00\n';
    const { dp, sent } = setup('in_port=2,actions=LOCAL\nin_port=10,tun_id=0x64,actions=output:1\nin_port=1,tcp,actions=drop\n', { ports });
    dp.receive(1, new Uint8Array(10), 0);
    dp.receive(1, tcp('1.1.1.1', '2.2.2.2', 1, 2), 0);
    dp.receive(77, tcp('1.1.1.1', '2.2.2.2', 1, 2), 0);
    const inner = tcp('1.1.1.1', '20.0.0.5', 1, 2);
    const vx = (flags: number): Uint8Array => new FrameBuilder().eth({ src: 'aa:55:aa:66:00:00', dst: 'aa:55:aa:55:00:00' })
      .ipv4({ src: '192.168.1.2', dst: '192.168.1.1' }).udp({ srcPort: 50000, dstPort: 4789 }).vxlan({ vni: 100, flags }).payload(inner).build();
    dp.receive(2, vx(0x08), 0);
    dp.receive(2, vx(0x00), 0);
    expect(sent.get(1)).toEqual([hex(inner)]);
    expect(dp.drops()).toEqual({ rx_invalid_packet: 1, of_pipeline: 1, invalid_port: 1, tunnel_pop_error: 1 });
    const s = dp.stats;
    expect(s.rx).toBe(s.delivered + s.droppedTotal + s.toController);
    expect(dp.dumpFlows(0).some((l) => l.includes('tnl_pop(4789)'))).toBe(true);
  });
});

describe('tunnels', () => {
  it('VXLAN push with key=flow; the outer source port comes from the inner flow hash', () => {
    const ports = 'p1 1\np2 2\nvx1 10 vxlan remote_ip=192.168.1.2 key=flow\n@hwaddr aa:55:aa:55:00:00\n@ip 192.168.1.1/24\n@route 192.168.1.0/24 br0\n@neigh 192.168.1.2 aa:55:aa:66:00:00\n';
    const { dp, sent } = setup('in_port=1,actions=set_field:0x64->tun_id,output:10\nin_port=LOCAL,actions=output:2\n', { ports });
    const a = tcp('10.0.0.1', '10.0.0.2', 1000, 80), b = tcp('10.0.0.1', '10.0.0.2', 1001, 80);
    dp.receive(1, a.slice(), 0);
    dp.receive(1, b.slice(), 0);
    const out = sent.get(2)!;
    expect(out.length).toBe(2);
    expect(out[0]!.slice(0, 28)).toBe('aa55aa660000aa55aa5500000800');
    expect(out[0]!.slice(84)).toBe('0800000000006400' + hex(a));
    // different inner flows, different outer source ports (bytes 34-35)
    expect(out[0]!.slice(68, 72)).not.toBe(out[1]!.slice(68, 72));
  });
});

describe('conntrack through the datapath', () => {
  it('ct(commit,nat(src=...)) then recirculation: SNAT out, reverse NAT back, +est on later packets', () => {
    const flows = [
      'table=0,priority=10,ip,ct_state=-trk,actions=ct(table=1,zone=1,nat)',
      'table=1,priority=10,in_port=1,ip,ct_state=+new+trk,actions=ct(commit,zone=1,nat(src=192.168.100.1)),output:2',
      'table=1,priority=10,in_port=1,ip,ct_state=+est+trk,actions=output:2',
      'table=1,priority=10,in_port=2,ip,ct_state=+est+trk,actions=output:1',
      'table=1,priority=1,actions=drop',
    ].join('\n');
    const { dp, sent } = setup(flows);
    dp.receive(1, tcp('10.0.0.1', '8.8.8.8', 40000, 80, 'S', 64, 1000), 0);
    dp.receive(2, tcp('8.8.8.8', '192.168.100.1', 80, 40000, 'SA', 64, 5000, 1001), 1);
    dp.receive(1, tcp('10.0.0.1', '8.8.8.8', 40000, 80, 'PA', 64, 1001, 5001), 2);
    expect(sent.get(2)).toEqual([hex(tcp('192.168.100.1', '8.8.8.8', 40000, 80, 'S', 64, 1000)),
      hex(tcp('192.168.100.1', '8.8.8.8', 40000, 80, 'PA', 64, 1001, 5001))]);
    expect(sent.get(1)).toEqual([hex(tcp('8.8.8.8', '10.0.0.1', 80, 40000, 'SA', 64, 5000, 1001))]);
    expect(dp.ct.dump().join('\n')).toMatch(/tcp,orig=\(src=10\.0\.0\.1,dst=8\.8\.8\.8,sport=40000,dport=80\),reply=\(src=8\.8\.8\.8,dst=192\.168\.100\.1,sport=80,dport=40000\),zone=1/);
    // an unrelated SYN-ACK from outside has no connection: invalid, not +est, dropped
    dp.receive(2, tcp('8.8.4.4', '192.168.100.1', 80, 40001, 'SA', 64, 7000, 1), 3);
    expect(sent.get(1)!.length).toBe(1);
  });
});

describe('hostile input', () => {
  it('arbitrary bytes on any port never throw, and every packet is accounted for', () => {
    const ports = 'p1 1\np2 2\nvx1 10 vxlan remote_ip=192.168.1.2 key=flow\n@hwaddr aa:55:aa:55:00:00\n@ip 192.168.1.1/24\n@route 192.168.1.0/24 br0\n@neigh 192.168.1.2 aa:55:aa:66:00:00\n';
    const flows = [
      'table=0,priority=20,in_port=2,udp,tp_dst=4789,actions=LOCAL',
      'table=0,priority=10,ip,ct_state=-trk,actions=ct(table=1,nat)',
      'table=0,priority=5,actions=mod_vlan_vid:7,output:2',
      'table=1,priority=10,ip,ct_state=+new+trk,actions=ct(commit,nat(src=9.9.9.9)),dec_ttl,output:10',
      'table=1,priority=5,actions=strip_vlan,output:1',
    ].join('\n');
    const { dp } = setup(flows, { ports });
    // frames: random bytes, or a valid frame with random corruption and truncation
    const valid = tcp('10.0.0.1', '10.0.0.2', 1, 2);
    const frame = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      fc.tuple(fc.nat(valid.length), fc.array(fc.tuple(fc.nat(valid.length - 1), fc.nat(255)), { maxLength: 6 }))
        .map(([cut, edits]) => { const f = valid.slice(0, Math.max(cut, 1)); for (const [i, v] of edits) if (i < f.length) f[i] = v; return f; }),
    );
    fc.assert(fc.property(fc.array(fc.tuple(fc.constantFrom(1, 2, 4789, 9), frame), { maxLength: 20 }), (pkts) => {
      for (const [port, f] of pkts) dp.receive(port, f, 1);
      const s = dp.stats;
      expect(s.rx).toBe(s.delivered + s.droppedTotal + s.toController);
    }), { numRuns: 300 });
  });

  it('a conntrack zone at its limit: the commit is refused and counted, the packet goes on as OVS lets it', () => {
    const flows = 'table=0,ip,ct_state=-trk,actions=ct(table=1,zone=3)\ntable=1,ip,ct_state=+new+trk,actions=ct(commit,zone=3),output:2';
    const { dp, sent } = setup(flows);
    dp.ct.setZoneLimit(3, 2);
    for (let i = 0; i < 4; i++) dp.receive(1, tcp('10.0.0.1', '10.0.0.2', 1000 + i, 80, 'S', 64, 1), 1);
    expect(dp.ct.size).toBe(2);
    expect(dp.stats.ctRefused).toBe(2);
    expect(sent.get(2)!.length).toBe(4);
  });
});
