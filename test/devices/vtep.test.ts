// The VXLAN tunnel endpoint (src/devices/vtep.ts) on the simulator: hypervisors across a routed
// underlay, VMs on the VTEPs' L2 ports. What the kernel itself does is checked in
// vtep-kernel.test.ts; here: the overlay end to end, the frames on the underlay (also read by
// tshark), head-end replication, controller-programmed FDBs, ARP suppression, ageing on the
// virtual clock, bad datagrams, the underlay MTU, options, errors and determinism.
import { describe, expect, it } from 'vitest';
import { Topology } from '../../src/topology/topology.js';
import { Sim, ms, sec } from '../../src/sim/engine.js';
import { Link, Port, type PortOwner } from '../../src/sim/link.js';
import { Host } from '../../src/netstack/host.js';
import { Vtep, innerFlowHash, type VtepOptions } from '../../src/devices/vtep.js';
import { FrameBuilder } from '../../src/wire/builder.js';
import { be16, be32, macToString, parseIpv4 } from '../../src/wire/bytes.js';
import { fold, ipv4PseudoSum, sum16 } from '../../src/wire/checksum.js';
import { describeWith, tsharkFields, writeTempPcap } from '../oracle/tools.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const macOf = (h: Host, i = 'eth0'): string => macToString(h.mac(i)!, 0);
const ip = (s: string): number => parseIpv4(s)!;
const isVxlan = (f: Uint8Array): boolean => f.length >= 50 && be16(f, 12) === 0x0800 && f[23] === 17 && (be16(f, 20) & 0x1fff) === 0 && be16(f, 36) === 4789;

function codeOf(fn: () => unknown): string {
  try { fn(); } catch (e) { return (e as { code?: string }).code ?? String(e); }
  return '';
}

/** A port owner that keeps what it receives: a VM's stand-in, or the far end of an underlay link. */
class Recorder implements PortOwner {
  readonly sink = true;
  readonly port: Port;
  readonly got: Uint8Array[] = [];
  constructor(readonly name: string) { this.port = new Port(this, 'p'); }
  receive(_p: Port, f: Uint8Array): void { this.got.push(f.slice()); }
}

interface Overlay {
  net: Topology; r: Host; hv: Host[]; vt: Vtep[]; vm: Host[];
}

/**
 * hv1 (192.168.1.2) — r — hv2 (192.168.2.2) [— r — hv3 (192.168.3.2)], 100 µs links; a Vtep
 * (VNI 100) on each hypervisor with every other one as an all-zeros remote; vmN (10.0.0.N/24)
 * on Vtep N. 'mtu2' is the MTU of the r—hv2 link.
 */
function overlay(o: { seed?: number; n?: number; mtu2?: number; v?: Partial<VtepOptions>; remotes?: boolean } = {}): Overlay {
  const net = new Topology({ seed: o.seed ?? 1 });
  const n = o.n ?? 2;
  const r = net.router('r', { ifaces: [1, 2, 3].slice(0, n).map((i) => ({ name: `eth${i}`, addrs: [`192.168.${i}.1/24`] })) });
  const hv: Host[] = [], vt: Vtep[] = [], vm: Host[] = [];
  for (let i = 1; i <= n; i++) {
    const h = net.host(`hv${i}`, { ip: `192.168.${i}.2/24`, gw: `192.168.${i}.1` });
    net.link(h, [r, `eth${i}`], { delay: '100us', ...(i === 2 && o.mtu2 !== undefined ? { mtu: o.mtu2 } : {}) });
    hv.push(h);
  }
  for (let i = 1; i <= n; i++) {
    const others = [1, 2, 3].slice(0, n).filter((j) => j !== i).map((j) => `192.168.${j}.2`);
    vt.push(net.add(new Vtep(hv[i - 1]!, { vni: 100, local: `192.168.${i}.2`, ...(o.remotes === false ? {} : { remotes: others }), ...o.v })));
    const m = net.host(`vm${i}`, { ip: `10.0.0.${i}/24` });
    net.link(m, vt[i - 1]!, { delay: '10us' });
    vm.push(m);
  }
  return { net, r, hv, vt, vm };
}

describe('Vtep', () => {
  it('carries a ping between VMs on two hypervisors across a routed underlay; ARP floods, learning fills the FDBs', async () => {
    const { net, hv, vt, vm } = overlay();
    const cap1 = net.capture([hv[0]!, 'eth0']), cap2 = net.capture([hv[1]!, 'eth0']);
    const p = await net.ping(vm[0]!, '10.0.0.2', { count: 2 });
    expect(p.received).toBe(2);
    // one L2 segment over the tunnel: the VMs' TTL is untouched
    expect(p.replies.map((x) => x.ttl)).toEqual([64, 64]);
    expect(vt[0]!.fdbShow()).toBe(`${macOf(vm[1]!)} dst 192.168.2.2 self \n00:00:00:00:00:00 dst 192.168.2.2 self permanent\n`);
    expect(vt[1]!.fdbShow()).toBe(`${macOf(vm[0]!)} dst 192.168.1.2 self \n00:00:00:00:00:00 dst 192.168.1.2 self permanent\n`);
    // ARP request, echo requests out of vtep1; ARP reply, echo replies in (bytes: the inner packet without Ethernet)
    expect([vt[0]!.stats.txPackets, vt[0]!.stats.txBytes, vt[0]!.stats.rxPackets, vt[0]!.stats.rxBytes]).toEqual([3, 28 + 84 + 84, 3, 28 + 84 + 84]);
    const out1 = cap1.frames.filter((f) => f.dir === 'out' && isVxlan(f.data)).map((f) => f.data);
    const in2 = cap2.frames.filter((f) => f.dir === 'in' && isVxlan(f.data)).map((f) => f.data);
    expect(out1.length).toBe(3);
    // the first one carries vm1's broadcast ARP request, byte for byte
    expect(hex(out1[0]!.subarray(50))).toBe(hex(new FrameBuilder().eth({ src: macOf(vm[0]!), dst: 'ff:ff:ff:ff:ff:ff' })
      .arp({ op: 1, sha: macOf(vm[0]!), spa: '10.0.0.1', tpa: '10.0.0.2' }).build()));
    for (const f of out1) {
      expect([be32(f, 26), be32(f, 30), f[22], be16(f, 20), be16(f, 36), hex(f.subarray(42, 50))])
        .toEqual([ip('192.168.1.2'), ip('192.168.2.2'), 64, 0, 4789, '0800000000006400']);
      expect(be16(f, 34)).toBeGreaterThanOrEqual(32768);
      expect(be16(f, 34)).toBeLessThan(60999);
      expect(fold(sum16(f, 34, f.length, ipv4PseudoSum(be32(f, 26), be32(f, 30), 17, be16(f, 38))))).toBe(0);
    }
    // one router hop on the underlay: outer TTL 63 at hv2, inner frame unchanged
    expect(in2.map((f) => f[22])).toEqual([63, 63, 63]);
    expect(in2.map((f) => hex(f.subarray(50)))).toEqual(out1.map((f) => hex(f.subarray(50))));
    // one flow, one source port (the replies come from hv2, whose hash key is its own)
    expect(new Set(out1.slice(1).map((f) => be16(f, 34))).size).toBe(1);
  });

  it('replicates broadcast and unknown unicast to every all-zeros remote, the first remote last; known unicast to one', async () => {
    const { net, hv, vt, vm } = overlay({ n: 3 });
    const cap = net.capture([hv[0]!, 'eth0'], 'out');
    const p = await net.ping(vm[0]!, '10.0.0.2');
    expect(p.received).toBe(1);
    const dsts = cap.frames.map((f) => f.data).filter(isVxlan).map((f) => [be32(f, 30), be16(f.subarray(50), 12)]);
    // the ARP request to hv3 then hv2 (remotes [hv2, hv3]: the driver sends the clones first), the echo to hv2 only
    expect(dsts).toEqual([[ip('192.168.3.2'), 0x0806], [ip('192.168.2.2'), 0x0806], [ip('192.168.2.2'), 0x0800]]);
    // vm3 saw the flooded ARP request and nothing else
    expect(vt[2]!.stats.rxPackets).toBe(1);
    expect(vt[2]!.fdbEntries().filter((e) => e.learned).map((e) => e.mac)).toEqual([macOf(vm[0]!)]);
  });

  it('controller-programmed: static entries and neighbours only, nothing learned, nothing flooded', async () => {
    const { net, hv, vt, vm } = overlay({ remotes: false, v: { learning: false, arpSuppress: true } });
    vt[0]!.fdbAdd(macOf(vm[1]!), '192.168.2.2');
    vt[0]!.addNeigh('10.0.0.2', macOf(vm[1]!));
    vt[1]!.fdbAdd(macOf(vm[0]!), '192.168.1.2');
    vt[1]!.addNeigh('10.0.0.1', macOf(vm[0]!));
    const cap = net.capture([hv[0]!, 'eth0']);
    const p = await net.ping(vm[0]!, '10.0.0.2');
    expect(p.received).toBe(1);
    // each VM's ARP answered by its own VTEP; only the echo request and reply crossed
    expect([vt[0]!.stats.arpReplies, vt[1]!.stats.arpReplies]).toEqual([1, 1]);
    expect(cap.frames.map((f) => f.data).filter(isVxlan).map((f) => be16(f, 50 + 12))).toEqual([0x0800, 0x0800]);
    expect(vt[0]!.fdbShow()).toBe(`${macOf(vm[1]!)} dst 192.168.2.2 self permanent\n`);
    expect(vt[1]!.fdbShow()).toBe(`${macOf(vm[0]!)} dst 192.168.1.2 self permanent\n`);
    // a destination nobody programmed: no all-zeros entry to flood to — dropped (tx_dropped)
    const stranger = new FrameBuilder().eth({ src: macOf(vm[0]!), dst: '02:99:00:00:00:01' }).ipv4({ src: '10.0.0.1', dst: '10.0.0.9' }).udp({}).build();
    vm[0]!.ports.get('eth0')!.send(stranger);
    net.runFor(ms(1));
    expect([vt[0]!.stats.txDropped, vt[0]!.stats.drops.no_tx_target]).toEqual([1, 1]);
    // a frame from a MAC nobody programmed is delivered, not learned
    const v2tx = vt[1]!.stats.txPackets;
    vt[0]!.fdbAdd('02:99:00:00:00:02', '192.168.2.2');
    const rec = new FrameBuilder().eth({ src: '02:99:00:00:00:03', dst: '02:99:00:00:00:02' }).ipv4({ src: '10.0.0.1', dst: '10.0.0.9' }).udp({}).build();
    vm[0]!.ports.get('eth0')!.send(rec);
    net.runFor(ms(1));
    expect(vt[1]!.stats.rxPackets).toBe(2);
    expect(vt[1]!.fdbEntries().map((e) => e.learned)).toEqual([false]);
    expect(vt[1]!.stats.txPackets).toBe(v2tx);
  });

  it('ARP suppression: answers from the neighbour table; every other ARP frame is consumed, never tunnelled', async () => {
    const { net, hv, vt, vm } = overlay({ v: { arpSuppress: true } });
    vt[0]!.addNeigh('10.0.0.2', macOf(vm[1]!));
    // vm2 answers the echo only once it resolves vm1: its own VTEP suppresses too, so it needs the entry
    vt[1]!.addNeigh('10.0.0.1', macOf(vm[0]!));
    const cap = net.capture([hv[0]!, 'eth0'], 'out');
    const got: Uint8Array[] = [];
    vm[0]!.ports.get('eth0')!.tap((f, d) => { if (d === 'in' && be16(f, 12) === 0x0806) got.push(f.slice()); });
    const p = await net.ping(vm[0]!, '10.0.0.2');
    expect(p.received).toBe(1);
    // arp_create's reply: Ethernet from the neighbour's MAC to the requester's, 42 bytes
    expect(got.map(hex)).toEqual([hex(new FrameBuilder().eth({ src: macOf(vm[1]!), dst: macOf(vm[0]!) })
      .arp({ op: 2, sha: macOf(vm[1]!), spa: '10.0.0.2', tha: macOf(vm[0]!), tpa: '10.0.0.1' }).build())]);
    // no ARP crossed the underlay: only the echo request
    expect(cap.frames.map((f) => f.data).filter(isVxlan).map((f) => be16(f, 62))).toEqual([0x0800]);
    expect([vt[0]!.stats.arpReplies, vt[1]!.stats.arpReplies]).toEqual([1, 1]);
    // an unknown target: consumed, not flooded; ping fails after ARP's 3 tries
    const before = cap.frames.length;
    const miss = await net.ping(vm[0]!, '10.0.0.99');
    expect(miss.errors).toEqual(['From 10.0.0.1 icmp_seq=1 Destination Host Unreachable']);
    expect(cap.frames.slice(before).filter((f) => isVxlan(f.data))).toEqual([]);
    expect(vt[0]!.stats.drops.arp_consumed).toBe(3);
    // a neighbour whose MAC the FDB keeps at 0.0.0.0 is bridge-local: not answered
    vt[0]!.addNeigh('10.0.0.50', '02:50:50:50:50:50');
    vt[0]!.fdbAdd('02:50:50:50:50:50', '0.0.0.0');
    const local = await net.ping(vm[0]!, '10.0.0.50');
    expect(local.received).toBe(0);
    expect(vt[0]!.stats.arpReplies).toBe(1);
    expect(vt[0]!.neighShow()).toEqual([`10.0.0.2 lladdr ${macOf(vm[1]!)} PERMANENT`, '10.0.0.50 lladdr 02:50:50:50:50:50 PERMANENT']);
  });

  it('ages learned entries 300 s after the last frame received from them, on the driver\'s 10 s timer; sending does not refresh', async () => {
    const { net, vt, vm } = overlay();
    const sim = net.sim;
    await net.ping(vm[0]!, '10.0.0.2');
    const learned = vt[0]!.fdbEntries().find((e) => e.learned)!;
    const t0 = learned.updatedNs;
    expect(learned.mac).toBe(macOf(vm[1]!));
    // vm2 falls silent; vm1 keeps sending to it (known unicast: one copy, and no refresh)
    net.links.find((l) => l.a.owner === vm[1] || l.b.owner === vm[1])!.cut();
    const toVm2 = new FrameBuilder().eth({ src: macOf(vm[0]!), dst: macOf(vm[1]!) }).ipv4({ src: '10.0.0.1', dst: '10.0.0.2' }).udp({ srcPort: 7, dstPort: 7 }).build();
    for (let k = 1; k <= 5; k++) sim.call(sec(50 * k), () => vm[0]!.ports.get('eth0')!.send(toVm2));
    sim.runUntil(t0 + sec(300) - 1);
    const still = vt[0]!.fdbEntries().find((e) => e.learned)!;
    expect([still.updatedNs, still.usedNs > t0]).toEqual([t0, true]);
    sim.runUntil(t0 + sec(300));
    expect(vt[0]!.fdbEntries().filter((e) => e.learned)).toEqual([]);
    expect(vt[0]!.fdbShow()).toBe('00:00:00:00:00:00 dst 192.168.2.2 self permanent\n');
    // nothing dynamic left: no timer either, so the simulation can end
    sim.run();
    expect(vt[0]!.fdbEntries().length).toBe(1);
  });

  it('with ageing below the 10 s timer period an entry goes at the next timer run; permanent entries never', async () => {
    const { net, vt, vm } = overlay({ v: { ageing: 5 } });
    await net.ping(vm[0]!, '10.0.0.2');
    // vm2 falls silent (its neighbour probe at 5 s would refresh the entry)
    net.links.find((l) => l.a.owner === vm[1] || l.b.owner === vm[1])!.cut();
    vt[0]!.fdbAdd('02:77:00:00:00:01', '192.168.2.2', { state: 'dynamic' });
    vt[0]!.fdbAdd('02:77:00:00:00:02', '192.168.2.2', { state: 'static' });
    const t0 = vt[0]!.fdbEntries().find((e) => e.learned)!.updatedNs;
    expect(t0).toBeLessThan(sec(5));
    // the device was made at 0: the timer runs at 10 s, deletes what expired at ~5 s
    net.runUntil(sec(10) - 1);
    expect(vt[0]!.fdbEntries().filter((e) => e.state === 'dynamic').length).toBe(2);
    net.runUntil(sec(10));
    expect(vt[0]!.fdbEntries().map((e) => [e.mac, e.state])).toEqual([['02:77:00:00:00:02', 'static'], ['00:00:00:00:00:00', 'permanent']]);
    net.runUntil(sec(1000));
    expect(vt[0]!.fdbEntries().length).toBe(2);
  });

  it('drops a datagram with an unknown VNI, a clear I flag or a reserved bit silently — the VXLAN socket takes them all', async () => {
    const { net, hv, vt } = overlay();
    const cap = net.capture([hv[0]!, 'eth0'], 'in');
    const u = hv[0]!.sockets.udp(40000);
    const vx = (flags: number, vni: number, r8 = 0): Uint8Array => new FrameBuilder().vxlan({ vni, flags, reserved8: r8 })
      .eth({ src: '02:aa:00:00:00:01', dst: 'ff:ff:ff:ff:ff:ff', type: 0x88b5 }).payload('x').build();
    u.send('192.168.2.2', 4789, vx(0x08, 999));
    u.send('192.168.2.2', 4789, vx(0x00, 100));
    u.send('192.168.2.2', 4789, vx(0x08, 100, 1));
    u.send('192.168.2.2', 4789, vx(0x0c, 100));
    u.send('192.168.2.2', 4789, new Uint8Array(4));
    net.runFor(ms(5));
    expect(vt[1]!.socketDrops).toEqual({ too_short: 1, invalid_flags: 1, vni_not_found: 1 });
    expect([vt[1]!.stats.rxFrameErrors, vt[1]!.stats.rxErrors, vt[1]!.stats.drops.invalid_hdr, vt[1]!.stats.rxPackets]).toEqual([2, 2, 2, 0]);
    const ipIn = (): number[][] => cap.frames.filter((f) => be16(f.data, 12) === 0x0800).map((f) => [f.data[23]!, f.data[34]!, f.data[35]!]);
    expect(ipIn()).toEqual([]);
    // a port with no VXLAN socket: the host answers port unreachable
    u.send('192.168.2.2', 4790, vx(0x08, 100));
    net.runFor(ms(5));
    expect(ipIn()).toEqual([[1, 3, 3]]);
    // the right VNI from the wrong source MAC (the device's own): dropped, as a loop
    u.send('192.168.2.2', 4789, new FrameBuilder().vxlan({ vni: 100 }).eth({ src: macToString(vt[1]!.mac, 0), dst: 'ff:ff:ff:ff:ff:ff', type: 0x88b5 }).payload('x').build());
    net.runFor(ms(5));
    expect(vt[1]!.stats.drops.local_mac).toBe(1);
  });

  it('underlay MTU: routers fragment the outer packet; a DF packet too big for the tunnel gets fragmentation needed from the VTEP', async () => {
    // the r—hv2 link carries 1400: an outer packet up to 1500 (DF clear) is fragmented by r
    const a = overlay({ mtu2: 1400 });
    const p = await a.net.ping(a.vm[0]!, '10.0.0.2', { size: 1400 });
    expect(p.received).toBe(1);
    // the request's outer packet (1478) fragmented by r towards hv2; the reply's by hv2 itself (its eth0 is 1400)
    expect([a.r.stats.fragCreates, a.hv[1]!.stats.fragCreates]).toEqual([2, 2]);
    expect([a.hv[1]!.stats.reasmOKs, a.hv[0]!.stats.reasmOKs]).toEqual([1, 1]);

    // hv1's own MTU 1500: a 1500-byte DF packet cannot fit in 1500 − 50
    const b = overlay();
    const q = await b.net.ping(b.vm[0]!, '10.0.0.2', { size: 1472, count: 2 });
    expect(q.errors).toEqual(['From 10.0.0.2 icmp_seq=1 Frag needed and DF set (mtu = 1450)']);
    // vm1 learnt the path MTU: the second request went fragmented at the source, and came back
    expect(q.replies.map((x) => x.seq)).toEqual([2]);
    expect(b.vm[0]!.mtuTo(ip('10.0.0.2'))).toBe(1450);
    expect([b.vt[0]!.stats.pmtuReplies, b.vt[0]!.stats.drops.frag_needed]).toEqual([1, 1]);
    // without DF the VTEP tunnels it and its host fragments the outer packet (1550 → 1500 + 70)
    const c = overlay();
    const cap = c.net.capture([c.hv[0]!, 'eth0'], 'out');
    const big = await c.net.ping(c.vm[0]!, '10.0.0.2', { size: 1472, pmtu: 'dont' });
    expect(big.received).toBe(1);
    const frags = cap.frames.map((f) => f.data).filter((f) => be16(f, 12) === 0x0800 && (be16(f, 20) & 0x3fff) !== 0);
    expect(frags.map((f) => [be16(f, 16), be16(f, 20)])).toEqual([[1500, 0x2000], [70, 185]]);

    // the device MTU from `dev` (1500 − 50), the bridge in front with br_netfilter: a 1500-byte DF
    // packet vanishes silently (no error, no reply); without DF the bridge fragments it to 1450
    // and each piece crosses on its own
    const d = overlay({ v: { dev: 'eth0' } });
    expect(d.vt[0]!.mtu).toBe(1450);
    const lost = await d.net.ping(d.vm[0]!, '10.0.0.2', { size: 1472, timeout: 2 });
    expect([lost.received, lost.errors]).toEqual([0, []]);
    expect(d.vt[0]!.stats.drops.too_big).toBe(1);
    const dcap = d.net.capture([d.hv[0]!, 'eth0'], 'out');
    const pieces = await d.net.ping(d.vm[0]!, '10.0.0.2', { size: 1472, pmtu: 'dont' });
    expect(pieces.received).toBe(1);
    expect(dcap.frames.map((f) => f.data).filter(isVxlan).map((f) => [be16(f, 50 + 16), be16(f, 50 + 20)])).toEqual([[1444, 0x2000], [76, 178]]);
    // without br_netfilter the bridge lets a frame through up to MTU + 18: a 1454-byte DF packet reaches
    // the tunnel, which answers it (1454 > 1500 − 50); a 1500-byte one is still dropped
    const e = overlay({ v: { dev: 'eth0', bridgeNf: false } });
    const over = await e.net.ping(e.vm[0]!, '10.0.0.2', { size: 1426, count: 1 });
    expect(over.errors).toEqual(['From 10.0.0.2 icmp_seq=1 Frag needed and DF set (mtu = 1450)']);
    const drop = await e.net.ping(e.vm[0]!, '10.0.0.2', { size: 1472, pmtu: 'dont', timeout: 2 });
    expect([drop.received, e.vt[0]!.stats.drops.too_big]).toEqual([0, 1]);
  });

  it('outer headers: TTL, TOS and ECN, DF, UDP checksum and source-port range as configured', () => {
    const sim = new Sim({ seed: 3 });
    const hv = new Host(sim, 'hv', { ifaces: [{ name: 'eth0', addrs: ['192.168.0.2/24'] }], routes: [{ dst: '224.0.0.0/4', dev: 'eth0' }] });
    hv.neigh.add('eth0', ip('192.168.0.1'), Uint8Array.from([2, 0, 0, 0, 0, 1]));
    const under = new Recorder('under');
    new Link(sim, under.port, hv.ports.get('eth0')!);
    const send = (o: Partial<VtepOptions>, tos: number, ttl: number, df: boolean): Uint8Array => {
      const v = new Vtep(hv, { vni: 7, remotes: ['192.168.0.1'], ...o });
      const vmPort = new Recorder('vm');
      new Link(sim, vmPort.port, v.port);
      vmPort.port.send(new FrameBuilder().eth({ src: '02:00:00:00:00:0a', dst: '02:00:00:00:00:0b' })
        .ipv4({ src: '10.0.0.1', dst: '10.0.0.2', ttl, dscp: tos >> 2, ecn: tos & 3, df }).udp({ srcPort: 1000, dstPort: 2000 }).build());
      sim.runFor(ms(1));
      v.close();
      return under.got.pop()!;
    };
    // defaults: TOS 0 with the inner ECN (CE becomes ECT(0)), TTL 64, DF clear, a checksum
    let f = send({}, 0x03, 17, true);
    expect([f[15], f[22], be16(f, 20) & 0x4000, be16(f, 40) !== 0]).toEqual([0x02, 64, 0, true]);
    f = send({}, 0xb9, 17, true);
    expect(f[15]).toBe(0x01);
    f = send({ tos: 'inherit', ttl: 'inherit', df: 'inherit' }, 0xb8, 17, true);
    expect([f[15], f[22], be16(f, 20) & 0x4000]).toEqual([0xb8, 17, 0x4000]);
    f = send({ tos: 0x20, ttl: 9, df: 'set', udpCsum: false, srcPortRange: [5000, 5010] }, 0x00, 17, false);
    expect([f[15], f[22], be16(f, 20) & 0x4000, be16(f, 40)]).toEqual([0x20, 9, 0x4000, 0]);
    expect(be16(f, 34)).toBeGreaterThanOrEqual(5000);
    expect(be16(f, 34)).toBeLessThan(5010);
    // a multicast remote: TTL 1 unless configured
    const m = new Vtep(hv, { vni: 8, remotes: ['239.1.1.1'] });
    const vmPort = new Recorder('vmm');
    new Link(sim, vmPort.port, m.port);
    vmPort.port.send(new FrameBuilder().eth({ src: '02:00:00:00:00:0a', dst: 'ff:ff:ff:ff:ff:ff' }).arp({ tpa: '10.0.0.2' }).build());
    sim.runFor(ms(1));
    f = under.got.pop()!;
    expect([f[22], hex(f.subarray(0, 6))]).toEqual([1, '01005e010101']);
  });

  it('the outer source port hashes the inner flow: both directions alike, spread over 32768–60998, stable', () => {
    const sim = new Sim({ seed: 9 });
    const hv = new Host(sim, 'hv', { ifaces: [{ name: 'eth0', addrs: ['192.168.0.2/24'] }] });
    const v = new Vtep(hv, { vni: 1 });
    const tcp = (s: string, d: string, sp: number, dp: number): Uint8Array => new FrameBuilder().eth({}).ipv4({ src: s, dst: d }).tcp({ srcPort: sp, dstPort: dp }).build();
    expect(v.srcPort(tcp('10.0.0.1', '10.0.0.2', 40000, 80))).toBe(v.srcPort(tcp('10.0.0.2', '10.0.0.1', 80, 40000)));
    const ports = new Set<number>();
    for (let i = 0; i < 500; i++) ports.add(v.srcPort(tcp('10.0.0.1', '10.0.0.2', 30000 + i, 80)));
    expect(ports.size).toBeGreaterThan(480);
    expect(Math.min(...ports)).toBeGreaterThanOrEqual(32768);
    expect(Math.max(...ports)).toBeLessThan(60999);
    // ICMP: addresses and protocol only (an echo and an error between two hosts share a port, as the kernel's did)
    const icmp = (type: number, id: number): Uint8Array => new FrameBuilder().eth({}).ipv4({ src: '10.0.0.2', dst: '10.0.0.1' }).icmp({ type, ident: id }).build();
    expect(v.srcPort(icmp(8, 5))).toBe(v.srcPort(icmp(3, 0)));
    // every ARP frame alike; a fragment without its ports
    const arp = (t: string): Uint8Array => new FrameBuilder().eth({}).arp({ tpa: t }).build();
    expect(v.srcPort(arp('10.0.0.1'))).toBe(v.srcPort(arp('10.0.0.9')));
    expect(innerFlowHash(new FrameBuilder().eth({}).ipv4({ src: '1.1.1.1', dst: '2.2.2.2', mf: true }).udp({ srcPort: 1 }).build(), 0))
      .toBe(innerFlowHash(new FrameBuilder().eth({}).ipv4({ src: '1.1.1.1', dst: '2.2.2.2', mf: true }).udp({ srcPort: 2 }).build(), 0));
  });

  it('several VNIs on one host share its UDP socket, dispatched by VNI; the same addresses in each stay apart', async () => {
    const { net, hv, vt, vm } = overlay();
    const vt200 = [net.add(new Vtep(hv[0]!, { vni: 200, remotes: ['192.168.2.2'] })), net.add(new Vtep(hv[1]!, { vni: 200, remotes: ['192.168.1.2'] }))];
    const vmB = [net.host('vmB1', { ip: '10.0.0.1/24' }), net.host('vmB2', { ip: '10.0.0.2/24' })];
    net.link(vmB[0]!, vt200[0]!);
    net.link(vmB[1]!, vt200[1]!);
    expect((await net.ping(vm[0]!, '10.0.0.2')).received).toBe(1);
    expect((await net.ping(vmB[0]!, '10.0.0.2')).received).toBe(1);
    expect(vt[0]!.fdbEntries().filter((e) => e.learned).map((e) => e.mac)).toEqual([macOf(vm[1]!)]);
    expect(vt200[0]!.fdbEntries().filter((e) => e.learned).map((e) => e.mac)).toEqual([macOf(vmB[1]!)]);
    expect(vt[0]!.socketDrops).toBe(vt200[0]!.socketDrops);
    expect(codeOf(() => new Vtep(hv[0]!, { vni: 200 }))).toBe('VTEP_VNI_IN_USE');
    // another port is another socket; the kernel's 8472 works between VTEPs that agree
    const legacy = [new Vtep(hv[0]!, { vni: 200, dstPort: 8472, remotes: ['192.168.2.2'] }), new Vtep(hv[1]!, { vni: 200, dstPort: 8472, remotes: ['192.168.1.2'] })];
    const vmC = [net.host('vmC1', { ip: '10.0.0.1/24' }), net.host('vmC2', { ip: '10.0.0.2/24' })];
    net.link(vmC[0]!, legacy[0]!);
    net.link(vmC[1]!, legacy[1]!);
    expect((await net.ping(vmC[0]!, '10.0.0.2')).received).toBe(1);
    expect(legacy[0]!.socketDrops).not.toBe(vt200[0]!.socketDrops);
  });

  it('a remote that is the host itself: local bypass to its VTEP of that VNI, learned at 127.0.0.1', () => {
    const sim = new Sim({ seed: 4 });
    const hv = new Host(sim, 'hv', { ifaces: [{ name: 'eth0', addrs: ['192.168.0.2/24'] }] });
    const a = new Vtep(hv, { vni: 100 }), b = new Vtep(hv, { vni: 200 });
    a.fdbAppend('00:00:00:00:00:00', '192.168.0.2', { vni: 200 });
    const ra = new Recorder('a'), rb = new Recorder('b');
    new Link(sim, ra.port, a.port);
    new Link(sim, rb.port, b.port);
    const f = new FrameBuilder().eth({ src: '02:00:00:00:00:0a', dst: 'ff:ff:ff:ff:ff:ff' }).arp({ tpa: '10.0.0.2' }).build();
    ra.port.send(f);
    sim.runFor(ms(1));
    expect(rb.got.map(hex)).toEqual([hex(f)]);
    expect(b.fdbShow()).toBe('02:00:00:00:00:0a dst 127.0.0.1 self \n');
    // the frame length, counted on both sides (vxlan_encap_bypass)
    expect([a.stats.txPackets, a.stats.txBytes, b.stats.rxPackets, b.stats.rxBytes]).toEqual([1, 42, 1, 42]);
    // a VNI nobody serves: tx_errors
    a.fdbDel('00:00:00:00:00:00');
    a.fdbAppend('00:00:00:00:00:00', '192.168.0.2', { vni: 300 });
    ra.port.send(f);
    sim.runFor(ms(1));
    expect([a.stats.txErrors, a.stats.drops.vni_not_found]).toEqual([1, 1]);
  });

  it('fdb commands behave as bridge fdb on a vxlan device, and bad input is refused with a code', () => {
    const sim = new Sim();
    const hv = new Host(sim, 'hv', { ifaces: [{ name: 'eth0', addrs: ['192.168.0.2/24'] }] });
    const v = new Vtep(hv, { vni: 100, remote: '192.168.0.1', learning: false });
    v.fdbAdd('02:00:00:00:00:05', '192.168.0.11', { state: 'dynamic' });
    v.fdbAdd('02:00:00:00:00:06', '192.168.0.11', { state: 'static' });
    v.fdbAdd('02:00:00:00:00:07', '192.168.0.11', { port: 4790, vni: 200 });
    v.fdbAppend('00:00:00:00:00:00', '192.168.0.10');
    v.fdbAppend('00:00:00:00:00:00', '192.168.0.10'); // the same remote twice: once
    v.fdbAppend('02:00:00:00:00:05', '192.168.0.12'); // unicast: no second remote, state permanent
    expect(v.fdbShow()).toBe([
      '02:00:00:00:00:07 dst 192.168.0.11 port 4790 vni 200 self permanent',
      '02:00:00:00:00:06 dst 192.168.0.11 self static',
      '02:00:00:00:00:05 dst 192.168.0.11 self permanent',
      '00:00:00:00:00:00 dst 192.168.0.1 self permanent',
      '00:00:00:00:00:00 dst 192.168.0.10 self permanent', ''].join('\n'));
    v.fdbReplace('02:00:00:00:00:06', '192.168.0.13');
    v.fdbDel('00:00:00:00:00:00', '192.168.0.1');
    v.fdbDel('02:00:00:00:00:07');
    expect(v.fdbShow()).toBe('02:00:00:00:00:06 dst 192.168.0.13 self permanent\n02:00:00:00:00:05 dst 192.168.0.11 self permanent\n00:00:00:00:00:00 dst 192.168.0.10 self permanent\n');
    expect(codeOf(() => v.fdbAdd('02:00:00:00:00:06', '192.168.0.1'))).toBe('VTEP_EXISTS');
    expect(codeOf(() => v.fdbDel('02:00:00:00:00:99'))).toBe('VTEP_NO_ENTRY');
    expect(codeOf(() => v.fdbReplace('00:00:00:00:00:00', '192.168.0.1'))).toBe('VTEP_UNSUPPORTED');
    expect(codeOf(() => v.fdbAdd('02:00:00:00:00', '192.168.0.1'))).toBe('VTEP_BAD_MAC');
    expect(codeOf(() => v.fdbAdd('02:00:00:00:00:08', '192.168.0'))).toBe('VTEP_BAD_ADDRESS');
    expect(codeOf(() => v.fdbAdd('02:00:00:00:00:08', '192.168.0.1', { vni: 1 << 24 }))).toBe('VTEP_BAD_VALUE');
    expect(codeOf(() => new Vtep(hv, { vni: 1 << 24 }))).toBe('VTEP_BAD_VALUE');
    expect(codeOf(() => new Vtep(hv, { vni: 5, local: '239.0.0.1' }))).toBe('VTEP_BAD_ADDRESS');
    expect(codeOf(() => new Vtep(hv, { vni: 5, group: '239.1.1.1' as unknown as undefined }))).toBe('VTEP_UNSUPPORTED');
    expect(codeOf(() => new Vtep(hv, { vni: 5, dev: 'eth9' }))).toBe('HOST_NO_IFACE');
    // one L2 port: a second link is refused
    const net = new Topology();
    const h = net.host('h', { ip: '192.168.0.2/24' });
    const w = net.add(new Vtep(h, { vni: 1 }));
    net.link(net.host('vm', { ip: '10.0.0.1/24' }), w);
    expect(w.name).toBe('h/vxlan1');
    expect(codeOf(() => net.link(net.host('vm2', { ip: '10.0.0.2/24' }), w))).toBe('VTEP_LINKED');
    // closing releases the VNI (and the socket when last)
    w.close();
    expect(codeOf(() => new Vtep(h, { vni: 1 }))).toBe('');
  });

  it('is deterministic: one seed, the same underlay bytes; the source ports follow the seed', async () => {
    const run = async (seed: number): Promise<Uint8Array[]> => {
      const { net, hv, vm } = overlay({ seed, n: 3 });
      const cap = net.capture([hv[0]!, 'eth0']);
      await net.ping(vm[0]!, '10.0.0.2', { count: 3 });
      await net.ping(vm[0]!, '10.0.0.3', { count: 2 });
      return cap.frames.map((f) => f.data);
    };
    const a = await run(5), b = await run(5), c = await run(6);
    expect(a.length).toBeGreaterThan(10);
    expect(b.map(hex)).toEqual(a.map(hex));
    const ports = (fs: Uint8Array[]): number[] => fs.filter(isVxlan).map((f) => be16(f, 34));
    expect(ports(c)).not.toEqual(ports(a));
    // everything but the source port (and the UDP checksum that covers it) is the same under another seed
    const mask = (f: Uint8Array): string => { const g = f.slice(); if (isVxlan(g)) g[34] = g[35] = g[40] = g[41] = 0; return hex(g); };
    expect(c.map(mask)).toEqual(a.map(mask));
  });
});

describeWith('tshark', 'Vtep frames read by tshark', () => {
  it('decodes the underlay as VXLAN with valid checksums, the VNI, outer and inner addresses', async () => {
    const { net, hv, vm } = overlay();
    const cap = net.capture([hv[0]!, 'eth0']);
    await net.ping(vm[0]!, '10.0.0.2');
    const frames = cap.frames.map((f) => f.data).filter(isVxlan);
    const { path, cleanup } = writeTempPcap(frames);
    try {
      const rows = tsharkFields(path, ['vxlan.flags', 'vxlan.vni', 'ip.src', 'ip.dst', 'eth.src', 'udp.dstport', 'ip.checksum.status', 'udp.checksum.status', 'arp.opcode', 'icmp.type', '_ws.malformed']);
      const m1 = macOf(vm[0]!), m2 = macOf(vm[1]!), h1 = macOf(hv[0]!);
      const r1 = macOf(net.hostNamed('r'), 'eth1');
      expect(rows).toEqual([
        // vm1's ARP request out, vm2's reply in, the echo request out, the reply in
        { 'vxlan.flags': '0x0800', 'vxlan.vni': '100', 'ip.src': '192.168.1.2', 'ip.dst': '192.168.2.2', 'eth.src': `${h1},${m1}`, 'udp.dstport': '4789',
          'ip.checksum.status': '1', 'udp.checksum.status': '1', 'arp.opcode': '1', 'icmp.type': '', '_ws.malformed': '' },
        { 'vxlan.flags': '0x0800', 'vxlan.vni': '100', 'ip.src': '192.168.2.2', 'ip.dst': '192.168.1.2', 'eth.src': `${r1},${m2}`, 'udp.dstport': '4789',
          'ip.checksum.status': '1', 'udp.checksum.status': '1', 'arp.opcode': '2', 'icmp.type': '', '_ws.malformed': '' },
        { 'vxlan.flags': '0x0800', 'vxlan.vni': '100', 'ip.src': '192.168.1.2,10.0.0.1', 'ip.dst': '192.168.2.2,10.0.0.2', 'eth.src': `${h1},${m1}`, 'udp.dstport': '4789',
          'ip.checksum.status': '1,1', 'udp.checksum.status': '1', 'arp.opcode': '', 'icmp.type': '8', '_ws.malformed': '' },
        { 'vxlan.flags': '0x0800', 'vxlan.vni': '100', 'ip.src': '192.168.2.2,10.0.0.2', 'ip.dst': '192.168.1.2,10.0.0.1', 'eth.src': `${r1},${m2}`, 'udp.dstport': '4789',
          'ip.checksum.status': '1,1', 'udp.checksum.status': '1', 'arp.opcode': '', 'icmp.type': '0', '_ws.malformed': '' },
      ]);
    } finally {
      cleanup();
    }
  });
});
