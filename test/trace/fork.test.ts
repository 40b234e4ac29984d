/**
 * Trace forks (ovn-trace's): at a load-balancing decision — a kube-proxy-style run of
 * `statistic --mode random` rules, an IPVS scheduler — the session replays the simulation with
 * each other choice forced on that packet, and reports what the packet did there; the live
 * world is untouched.
 */
import { describe, expect, it } from 'vitest';
import { Session } from '../../src/trace/session.js';
import { Topology } from '../../src/topology/topology.js';
import { tcpServer } from '../../src/netstack/tools.js';
import { Ipvs } from '../../src/netfilter/ipvs.js';
import type { TraceEvent } from '../../src/sim/tracer.js';
import { macText } from '../../src/netstack/neigh.js';

const BACKENDS = ['10.0.2.2', '10.0.3.2', '10.0.4.2'];

/** What kube-proxy writes for a ClusterIP Service 10.96.0.10:80 with three endpoints (abridged). */
const RULES = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-WEB - [0:0]
:KUBE-SEP-B1 - [0:0]
:KUBE-SEP-B2 - [0:0]
:KUBE-SEP-B3 - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "default/web cluster IP" -m tcp --dport 80 -j KUBE-SVC-WEB
-A KUBE-SVC-WEB -m comment --comment "default/web -> 10.0.2.2:80" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-B1
-A KUBE-SVC-WEB -m comment --comment "default/web -> 10.0.3.2:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-B2
-A KUBE-SVC-WEB -m comment --comment "default/web -> 10.0.4.2:80" -j KUBE-SEP-B3
-A KUBE-SEP-B1 -p tcp -m comment --comment default/web -m tcp -j DNAT --to-destination 10.0.2.2:80
-A KUBE-SEP-B2 -p tcp -m comment --comment default/web -m tcp -j DNAT --to-destination 10.0.3.2:80
-A KUBE-SEP-B3 -p tcp -m comment --comment default/web -m tcp -j DNAT --to-destination 10.0.4.2:80
COMMIT
`;

/** client c — router lb — backends b1, b2, b3, each on a subnet of its own; lb balances with iptables or IPVS. */
function balanced(mode: 'iptables' | 'ipvs'): () => Topology {
  return () => {
    const t = new Topology({ seed: 3 });
    const c = t.host('c', { ip: '10.0.1.2/24', gw: '10.0.1.1' });
    let ipvs: Ipvs | undefined;
    if (mode === 'ipvs') {
      ipvs = new Ipvs();
      ipvs.restore(`-A -t 10.96.0.10:80 -s rr\n${BACKENDS.map((b) => `-a -t 10.96.0.10:80 -r ${b}:80 -m -w 1`).join('\n')}\n`);
    }
    const lb = t.router('lb', mode === 'iptables' ? { rules: RULES } : { ipvs, ifaces: [{ name: 'kube-ipvs0', addrs: ['10.96.0.10/32'] }] });
    t.link(c, lb, { delay: '10us', b: { iface: 'eth0', addr: '10.0.1.1/24' } });
    BACKENDS.forEach((ip, i) => {
      const b = t.host(`b${i + 1}`, { ip: `${ip}/24`, gw: ip.replace(/\.2$/, '.1') });
      tcpServer(b, 80);
      t.link(b, lb, { delay: '10us', b: { iface: `eth${i + 1}`, addr: ip.replace(/\.2$/, '.1/24') } });
    });
    return t;
  };
}

function firstDecision(s: Session): { packet: number; ev: TraceEvent } {
  for (const p of s.store.all()) {
    const ev = p.events.find((e) => e.fields?.['lb'] !== undefined);
    if (ev !== undefined) return { packet: p.id, ev };
  }
  throw new Error('no load-balancing decision traced');
}

const deliveredAt = (records: TraceEvent[]): string[] => records.filter((e) => e.kind === 'deliver').map((e) => e.node);

describe('trace forks at a load-balancing decision', () => {
  for (const mode of ['iptables', 'ipvs'] as const) {
    it(`${mode}: each other backend's fork, the live world untouched`, () => {
      const s = new Session(balanced(mode));
      s.inject({ kind: 'tcp', from: 'c', to: '10.96.0.10', port: 80, count: 1, payload: 'GET / HTTP/1.0\r\n\r\n' });
      s.advance(1000);
      const { packet, ev } = firstDecision(s);
      const f = ev.fields!;
      expect(f['lb']).toBe(mode);
      expect(ev.node).toBe('lb');
      const choices = String(f['choices']).split(' ');
      expect(choices).toEqual(mode === 'iptables' ? ['KUBE-SEP-B1', 'KUBE-SEP-B2', 'KUBE-SEP-B3'] : BACKENDS.map((b) => `${b}:80`).reverse());
      const chosen = Number(f['chosen']);
      expect(chosen).toBeGreaterThanOrEqual(0);
      const live = s.store.all().map((p) => p.events.map((e) => `${e.seq} ${e.text}`).join('|'));
      const events = s.state().events;

      const r = s.fork(packet, ev.seq);
      expect(r.choices).toEqual(choices);
      expect(r.chosen).toBe(chosen);
      expect(r.forks[chosen]).toBeNull();
      for (let k = 0; k < choices.length; k++) {
        if (k === chosen) continue;
        const fork = r.forks[k]!;
        // the packet (a SYN) reached the other backend, DNATed to it, and was taken by its socket
        const backend = mode === 'iptables' ? BACKENDS[k]! : choices[k]!.replace(/:80$/, '');
        const node = `b${BACKENDS.indexOf(backend) + 1}`;
        expect(fork.records.find((e) => e.node === 'lb' && (e.kind === 'nat' || e.kind === 'ipvs'))?.text).toContain(backend);
        expect(deliveredAt(fork.records)).toEqual([node]);
        expect(fork.summary?.verdict).toBe('delivered');
        // the same decision, its other choice
        expect(fork.records.find((e) => e.fields?.['lb'] !== undefined)?.fields?.['chosen']).toBe(k);
      }
      // the live world: the same store, the same clock
      expect(s.store.all().map((p) => p.events.map((e) => `${e.seq} ${e.text}`).join('|'))).toEqual(live);
      expect(s.state().events).toBe(events);
      expect(deliveredAt(s.store.get(packet)!.events)).toEqual([`b${BACKENDS.indexOf(mode === 'iptables' ? BACKENDS[chosen]! : choices[chosen]!.replace(/:80$/, '')) + 1}`]);
    });
  }

  it('an OVS select group: each other bucket\'s fork, its flow not cached', () => {
    // client c pings the VIP 10.0.0.100; bridge lb answers ARP for it (an ARP responder flow) and a select
    // group rewrites the destination to one of three backends; their replies get the VIP back as source
    const VIP_MAC = '02:00:00:00:01:00';
    const build = (): Topology => {
      const t = new Topology({ seed: 5 });
      const lb = t.ovsBridge('lb', { defaultFlows: 'none', protocols: 'OpenFlow13' });
      const c = t.host('c', { ip: '10.0.0.2/24' });
      t.link(c, lb.addPort('p1', { ofport: 1 }));
      const bs = [11, 12, 13].map((n, i) => {
        const b = t.host(`b${i + 1}`, { ip: `10.0.0.${n}/24` });
        t.link(b, lb.addPort(`p${i + 2}`, { ofport: i + 2 }));
        return b;
      });
      lb.addGroups(`group_id=1,type=select,selection_method=hash,fields(ip_src),${bs.map((b, i) =>
        `bucket=bucket_id:${i},actions=set_field:${macText(b.mac('eth0')!)}->eth_dst,set_field:10.0.0.${11 + i}->ip_dst,output:${i + 2}`).join(',')}`);
      lb.addFlows([
        `table=0,priority=200,arp,arp_tpa=10.0.0.100,arp_op=1,actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],set_field:${VIP_MAC}->eth_src,`
          + `load:0x2->NXM_OF_ARP_OP[],move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],set_field:${VIP_MAC}->arp_sha,move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],`
          + 'set_field:10.0.0.100->arp_spa,IN_PORT',
        'table=0,priority=100,in_port=1,ip,nw_dst=10.0.0.100,actions=group:1',
        `table=0,priority=100,ip,nw_dst=10.0.0.2,actions=set_field:10.0.0.100->ip_src,set_field:${VIP_MAC}->eth_src,output:1`,
        'table=0,priority=10,arp,actions=NORMAL',
      ].join('\n'));
      return t;
    };
    const s = new Session(build);
    s.inject({ kind: 'ping', from: 'c', to: '10.0.0.100', port: 0, count: 1, payload: '' });
    s.advance(1000);
    const { packet, ev } = firstDecision(s);
    expect(ev.node).toBe('lb');
    expect(ev.fields!['lb']).toBe('select');
    expect(String(ev.fields!['choices']).split(' ')).toEqual(['bucket_id=0', 'bucket_id=1', 'bucket_id=2']);
    const chosen = Number(ev.fields!['chosen']);
    const r = s.fork(packet, ev.seq);
    for (let k = 0; k < 3; k++) {
      if (k === chosen) { expect(r.forks[k]).toBeNull(); continue; }
      const fork = r.forks[k]!;
      expect(deliveredAt(fork.records)).toEqual([`b${k + 1}`]);
      // the forced translation is an upcall, and its choice is the other bucket
      expect(fork.records.find((e) => e.fields?.['lb'] === 'select')?.fields?.['chosen']).toBe(k);
    }
    expect(deliveredAt(s.store.get(packet)!.events)).toEqual([`b${chosen + 1}`]);
  });

  it('refuses a record that is not a decision, and an unknown packet', () => {
    const s = new Session(balanced('iptables'));
    s.inject({ kind: 'tcp', from: 'c', to: '10.96.0.10', port: 80, count: 1, payload: 'x' });
    s.advance(1000);
    const { packet, ev } = firstDecision(s);
    const other = s.store.get(packet)!.events.find((e) => e.fields?.['lb'] === undefined)!;
    expect(() => s.fork(packet, other.seq)).toThrow(/not a load-balancing decision/);
    expect(() => s.fork(packet, 1e9)).toThrow(/has no record/);
    expect(() => s.fork(1e9, ev.seq)).toThrow(/not in the store/);
  });
});
