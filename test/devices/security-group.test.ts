/**
 * Security groups (src/devices/security-group.ts): "security groups that allow one port and block
 * another, proven by traffic". VMs (netstack Hosts) on one OvsBridge br-int loaded with the
 * compiled flows; what their sockets receive is the proof:
 *  - a UDP/TCP allow rule on one port: the request passes and its reply passes back although
 *    the client's group has no ingress rule (stateful), another port is dropped silently;
 *    ICMP errors about an allowed flow come back (related);
 *  - ICMP allowed or not per rule, a remote prefix;
 *  - remote-group membership (conjunctions): members pass, others do not, and a recompile after
 *    a membership change takes effect;
 *  - anti-spoofing: a VM sending from another IP or MAC is dropped, ARP included;
 *  - removing a rule cuts an established flow (ct_mark), as Neutron does;
 *  - per-network conntrack zones, trusted ports, the trace naming Neutron's tables;
 *  - the compiler's pieces against Neutron's own definitions (port masks, priorities, conjunction
 *    ids, merged port ranges) and its refusals of bad input.
 * The same flows are checked against a real Open vSwitch in security-group-ovs.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { Sim } from '../../src/sim/engine.js';
import { Link } from '../../src/sim/link.js';
import { Host } from '../../src/netstack/host.js';
import { ping } from '../../src/netstack/tools.js';
import { OvsBridge } from '../../src/devices/ovs-bridge.js';
import {
  SecurityGroups, portRuleMasking, linkLocalAddress, type SecurityGroup, type SgCompileOptions, type SgPort,
} from '../../src/devices/security-group.js';
import { InputError } from '../../src/errors.js';
import { ipv4ToString } from '../../src/wire/bytes.js';

const dec = (d: Uint8Array): string => new TextDecoder().decode(d);

interface VmSpec { name: string; ip: string; groups: string[]; network?: number; trusted?: boolean; mac?: string }

/** A compute node: br-int and its VMs, each on a tap port, the security groups loaded. */
class Cloud {
  readonly sim = new Sim({ seed: 11 });
  readonly br = new OvsBridge(this.sim, 'br-int', { defaultFlows: 'none' });
  readonly vms = new Map<string, Host>();
  readonly specs: VmSpec[];
  groups: SecurityGroup[];
  constructor(specs: VmSpec[], groups: SecurityGroup[], readonly opts: SgCompileOptions = {}) {
    this.specs = specs;
    this.groups = groups;
    specs.forEach((s, i) => {
      const mac = s.mac ?? `fa:16:3e:00:00:${(i + 1).toString(16).padStart(2, '0')}`;
      const h = new Host(this.sim, s.name, { ifaces: [{ name: 'eth0', mac, addrs: [`${s.ip}/24`] }] });
      new Link(this.sim, h.ports.get('eth0')!, this.br.addPort(`tap${i + 1}`), { delay: '20us' });
      this.vms.set(s.name, h);
    });
    this.load();
  }

  /** What the agent knows of each port (the MAC Neutron assigned: the VM's own unless it lies). */
  ports(): SgPort[] {
    return this.specs.map((s, i) => ({
      id: s.name, ofport: this.br.port(`tap${i + 1}`).ofport, mac: `fa:16:3e:00:00:${(i + 1).toString(16).padStart(2, '0')}`,
      fixedIps: [s.ip], securityGroups: s.groups, network: s.network ?? 1, portSecurity: !(s.trusted ?? false),
    }));
  }

  /** Compile and (re)load every flow, as the agent's full resync does. */
  load(): void {
    this.br.replaceFlows(SecurityGroups.compile(this.ports(), this.groups, this.opts));
  }

  vm(name: string): Host { return this.vms.get(name)!; }

  /** A UDP server on 'vm':'port' answering "re:<data>"; returns what it got. */
  udpEcho(vm: string, port: number): string[] {
    const got: string[] = [];
    const s = this.vm(vm).sockets.udp(port);
    s.onMessage = (d, from) => { got.push(dec(d)); s.send(from.addr, from.port, `re:${dec(d)}`); };
    return got;
  }

  /** Send 'data' from 'vm' to dst:dport and run 1 s; the answers and ICMP errors the client saw. */
  udpAsk(vm: string, dst: string, dport: number, data: string, opts: { bind?: string } = {}): { answers: string[]; errors: string[] } {
    const s = this.vm(vm).sockets.udp(0, opts.bind ?? 0);
    const answers: string[] = [], errors: string[] = [];
    s.onMessage = (d) => answers.push(dec(d));
    s.onError = (e) => errors.push(`${e.type}/${e.code} from ${ipv4ToString(e.from)}`);
    s.send(dst, dport, data);
    this.sim.runFor(1e9);
    s.close();
    return { answers, errors };
  }
}

const WEB = (): SecurityGroup => SecurityGroups.newGroup('web', [
  { direction: 'ingress', protocol: 'udp', portRangeMin: 5000, portRangeMax: 5000 },
  { direction: 'ingress', protocol: 'tcp', portRangeMin: 80, portRangeMax: 80 },
  { direction: 'ingress', protocol: 'icmp' },
]);

function threeVms(extra: SecurityGroup[] = [], opts: SgCompileOptions = {}): Cloud {
  return new Cloud([
    { name: 'client', ip: '10.0.0.1', groups: ['client'] },
    { name: 'web1', ip: '10.0.0.2', groups: ['web'] },
    { name: 'web2', ip: '10.0.0.3', groups: ['web'] },
  ], [SecurityGroups.newGroup('client'), WEB(), ...extra], opts);
}

describe('security groups, proven by traffic', () => {
  it('UDP: the allowed port answers and the reply passes back (stateful); another port is dropped silently', () => {
    const c = threeVms();
    const allowed = c.udpEcho('web1', 5000);
    const blocked = c.udpEcho('web1', 5001);
    expect(c.udpAsk('client', '10.0.0.2', 5000, 'hello')).toEqual({ answers: ['re:hello'], errors: [] });
    expect(c.udpAsk('client', '10.0.0.2', 5001, 'hello')).toEqual({ answers: [], errors: [] });
    expect(allowed).toEqual(['hello']);
    expect(blocked).toEqual([]);
    // the client's group has no ingress rule: an unsolicited datagram from web1 does not reach it
    const inbound = c.udpEcho('client', 7000);
    expect(c.udpAsk('web1', '10.0.0.1', 7000, 'unsolicited')).toEqual({ answers: [], errors: [] });
    expect(inbound).toEqual([]);
    expect(c.br.drops().of_pipeline).toBeGreaterThanOrEqual(2);
  });

  it('an ICMP error about an allowed flow comes back as related (port unreachable)', () => {
    const c = threeVms();
    // web2 has no socket on 5000: its stack answers port unreachable, which conntrack relates to the flow
    expect(c.udpAsk('client', '10.0.0.3', 5000, 'anyone?')).toEqual({ answers: [], errors: ['3/3 from 10.0.0.3'] });
  });

  it('both modes of table 94 deliver (NORMAL, or explicitly_egress_direct)', () => {
    for (const opts of [{}, { explicitlyEgressDirect: true }]) {
      const c = threeVms([], opts);
      c.udpEcho('web1', 5000);
      expect(c.udpAsk('client', '10.0.0.2', 5000, 'x').answers).toEqual(['re:x']);
      // either way the replies reach the client's port only (NORMAL learns the MACs, as OVS's does):
      // web2 sees just the flooded ARP request
      expect(c.br.port('tap3').stats.txPackets).toBe(1);
    }
  });

  it('TCP: a connection to the allowed port completes with data both ways; the blocked port times out', () => {
    const c = threeVms();
    const web1 = c.vm('web1'), client = c.vm('client');
    const log: string[] = [];
    for (const port of [80, 22]) {
      web1.tcp.listen(port, (conn) => {
        conn.onData = (d) => { log.push(`server:${port}:${dec(d)}`); conn.send(new TextEncoder().encode('200 OK')); conn.close(); };
      });
    }
    for (const port of [80, 22]) {
      const conn = client.tcp.connect(0x0a000002, port);
      conn.onConnect = () => { log.push(`connected:${port}`); conn.send(new TextEncoder().encode('GET /')); };
      conn.onData = (d) => log.push(`client:${port}:${dec(d)}`);
      conn.onError = (e) => log.push(`error:${port}:${e.errno}@${c.sim.now / 1e9}s`);
    }
    c.sim.runFor(200e9);
    expect(log).toEqual(['connected:80', 'server:80:GET /', 'client:80:200 OK', 'error:22:ETIMEDOUT@131s']);
  });

  it('ICMP per rule: web allows any ping, client none; a remote prefix admits one peer only', async () => {
    const c = threeVms([SecurityGroups.newGroup('ops', [{ direction: 'ingress', protocol: 'icmp', portRangeMin: 8, remoteIpPrefix: '10.0.0.3/32' }])]);
    expect((await ping(c.vm('client'), '10.0.0.2', { count: 2 })).received).toBe(2);
    expect((await ping(c.vm('web1'), '10.0.0.1', { count: 2, timeout: 2 })).received).toBe(0);
    c.specs[0]!.groups = ['client', 'ops'];
    c.load();
    expect((await ping(c.vm('web2'), '10.0.0.1', { count: 2 })).received).toBe(2);
    expect((await ping(c.vm('web1'), '10.0.0.1', { count: 2, timeout: 2 })).received).toBe(0);
  });

  it('remote group: members of web reach the database port, the client does not until it joins', () => {
    const db = SecurityGroups.newGroup('db', [{ direction: 'ingress', protocol: 'udp', portRangeMin: 5432, portRangeMax: 5432, remoteGroupId: 'web' }]);
    const c = new Cloud([
      { name: 'client', ip: '10.0.0.1', groups: ['client'] },
      { name: 'web1', ip: '10.0.0.2', groups: ['web'] },
      { name: 'db1', ip: '10.0.0.4', groups: ['db'] },
    ], [SecurityGroups.newGroup('client'), WEB(), db]);
    const got = c.udpEcho('db1', 5432);
    expect(c.udpAsk('web1', '10.0.0.4', 5432, 'from web').answers).toEqual(['re:from web']);
    expect(c.udpAsk('client', '10.0.0.4', 5432, 'from client').answers).toEqual([]);
    expect(got).toEqual(['from web']);
    // the trace shows the conjunction: conj_id flow, both clauses, reg7 loaded
    const tr = c.br.trace('in_port=tap2,udp,dl_src=fa:16:3e:00:00:02,dl_dst=fa:16:3e:00:00:03,nw_src=10.0.0.2,nw_dst=10.0.0.4,udp_src=1,udp_dst=5432');
    expect(tr).toMatch(/82\. conj_id=\d+,ct_state=\+new-est,ip,reg5=0x3, priority 73/);
    expect(tr).toContain('-> conj. priority=73,ct_state=+new-est,ip,reg6=0x1,nw_src=10.0.0.2');
    // the client joins web: the agent recompiles, the address flows now include 10.0.0.1
    c.specs[0]!.groups = ['client', 'web'];
    c.load();
    expect(c.udpAsk('client', '10.0.0.4', 5432, 'member now').answers).toEqual(['re:member now']);
  });

  it('anti-spoofing: a VM using another IP or MAC is dropped, ARP included', () => {
    const c = threeVms();
    const got = c.udpEcho('web1', 5000);
    // the client adds an address Neutron does not know and sends from it
    c.vm('client').addAddress('eth0', '10.0.0.99/24');
    expect(c.udpAsk('client', '10.0.0.2', 5000, 'spoofed', { bind: '10.0.0.99' }).answers).toEqual([]);
    expect(got).toEqual([]);
    // its ARP claimed 10.0.0.99 too: web1 never learnt that address (`ip neigh show`)
    expect(c.vm('web1').neigh.show().join('\n')).not.toContain('10.0.0.99');
    // the real address still works
    expect(c.udpAsk('client', '10.0.0.2', 5000, 'genuine').answers).toEqual(['re:genuine']);
    // a VM whose MAC is not the port's gets nothing through, not even ARP
    const m = new Cloud([
      { name: 'client', ip: '10.0.0.1', groups: ['client'], mac: '02:00:00:00:00:66' },
      { name: 'web1', ip: '10.0.0.2', groups: ['web'] },
    ], [SecurityGroups.newGroup('client'), WEB()]);
    const got2 = m.udpEcho('web1', 5000);
    expect(m.udpAsk('client', '10.0.0.2', 5000, 'x').answers).toEqual([]);
    expect(got2).toEqual([]);
    expect(m.br.port('tap2').stats.txPackets).toBe(0);
  });

  it('removing a rule cuts an established flow (ct_mark=1), as Neutron does', () => {
    const c = threeVms();
    const got = c.udpEcho('web1', 5000);
    const s = c.vm('client').sockets.udp(41000);
    const answers: string[] = [];
    s.onMessage = (d) => answers.push(dec(d));
    s.send('10.0.0.2', 5000, 'one');
    c.sim.runFor(1e9);
    c.groups = [SecurityGroups.newGroup('client'), SecurityGroups.newGroup('web')];
    c.load();
    s.send('10.0.0.2', 5000, 'two');
    c.sim.runFor(1e9);
    s.send('10.0.0.2', 5000, 'three');
    c.sim.runFor(1e9);
    expect(got).toEqual(['one']);
    expect(answers).toEqual(['re:one']);
    const tr = c.br.trace('in_port=tap1,udp,dl_src=fa:16:3e:00:00:01,dl_dst=fa:16:3e:00:00:02,nw_src=10.0.0.1,nw_dst=10.0.0.2,udp_src=41000,udp_dst=5000',
      { ctNext: ['trk,est'] });
    expect(tr).toContain('ct(commit,zone=NXM_NX_REG6[0..15],exec(load:0x1->NXM_NX_CT_MARK[]))');
  });

  it('trusted ports (port security off) are not filtered, but the VMs behind groups still are', () => {
    const c = new Cloud([
      { name: 'client', ip: '10.0.0.1', groups: ['client'] },
      { name: 'web1', ip: '10.0.0.2', groups: ['web'] },
      { name: 'router', ip: '10.0.0.254', groups: [], trusted: true },
    ], [SecurityGroups.newGroup('client'), WEB()]);
    const r = c.udpEcho('router', 9999);
    expect(c.udpAsk('client', '10.0.0.254', 9999, 'out').answers).toEqual(['re:out']);   // egress allowed, reply established
    expect(r).toEqual(['out']);
    c.udpEcho('web1', 5000);
    expect(c.udpAsk('router', '10.0.0.2', 5000, 'in').answers).toEqual(['re:in']);
    expect(c.udpAsk('router', '10.0.0.2', 5001, 'in').answers).toEqual([]);
    expect(c.udpAsk('router', '10.0.0.1', 5000, 'in').answers).toEqual([]);              // client: no ingress
  });

  it('each network has its own conntrack zone (reg6), and a blocked packet ends in table 93', () => {
    const c = new Cloud([
      { name: 'a1', ip: '10.0.0.1', groups: ['web'], network: 1 },
      { name: 'b1', ip: '10.0.0.1', groups: ['web'], network: 7 },
    ], [WEB()]);
    const t1 = c.br.trace('in_port=tap1,udp,dl_src=fa:16:3e:00:00:01,dl_dst=fa:16:3e:00:00:99,nw_src=10.0.0.1,nw_dst=10.0.0.9,udp_src=1,udp_dst=2');
    const t2 = c.br.trace('in_port=tap2,udp,dl_src=fa:16:3e:00:00:02,dl_dst=fa:16:3e:00:00:99,nw_src=10.0.0.1,nw_dst=10.0.0.9,udp_src=1,udp_dst=2');
    expect(t1).toContain('Datapath actions: ct(zone=1),recirc(');
    expect(t2).toContain('Datapath actions: ct(zone=7),recirc(');
    const blocked = c.br.trace('in_port=tap1,udp,dl_src=fa:16:3e:00:00:01,dl_dst=fa:16:3e:00:00:01,nw_src=10.0.0.9,nw_dst=10.0.0.1,udp_src=1,udp_dst=2');
    expect(blocked).toContain('71. reg5=0x1,in_port=1, priority 10');
    expect(blocked).toContain('93. priority 0');
    expect(blocked).toMatch(/Datapath actions: drop\n$/);
  });

  it('is deterministic: the same script gives the same flows, counters and frames', () => {
    const run = (): string => {
      const c = threeVms();
      c.udpEcho('web1', 5000);
      c.udpAsk('client', '10.0.0.2', 5000, 'a');
      c.udpAsk('client', '10.0.0.2', 5001, 'b');
      return [...c.br.dumpFlows(), c.br.dumpPorts(), JSON.stringify(c.br.drops())].join('\n');
    };
    expect(run()).toBe(run());
  });
});

describe('the compiler', () => {
  it('masks port ranges as neutron.common.utils.port_rule_masking (its docstring examples)', () => {
    expect(portRuleMasking(16, 23)).toEqual(['0x0010/0xfff8']);
    expect(portRuleMasking(40, 105)).toEqual(['0x0030/0xfff0', '0x0028/0xfff8', '0x0040/0xffe0', '0x0060/0xfff8', '0x0068/0xfffe']);
    expect(portRuleMasking(22, 22)).toEqual(['0x0016']);
    expect(portRuleMasking(0, 65535)).toEqual(['0x0000/0x0000']);
    expect(() => portRuleMasking(12, 5)).toThrow(RangeError);
  });

  it('the masks of a range cover exactly that range (Neutron\'s edge cases and pseudo-random ranges)', () => {
    const covers = (masks: [number, number][], p: number): boolean => masks.some(([v, m]) => (p & m) === v);
    const ranges: [number, number][] = [[5, 12], [20, 130], [4501, 33057], [0, 65535], [22, 22], [5001, 5001], [0, 7], [8, 15], [1, 127]];
    let x = 12345;
    for (let i = 0; i < 20; i++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      const a = x % 65536;
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      const b = x % 65536;
      ranges.push([Math.min(a, b), Math.max(a, b)]);
    }
    for (const [lo, hi] of ranges) {
      const text = portRuleMasking(lo, hi);
      const masks = text.map((m): [number, number] => { const [v, k] = m.split('/'); return [Number(v), k === undefined ? 0xffff : Number(k)]; });
      for (let p = 0; p < 65536; p++) if (covers(masks, p) !== (p >= lo && p <= hi)) throw new Error(`${lo}-${hi}: port ${p} wrong (${text.join(' ')})`);
    }
  });

  it('gives rules Neutron\'s priorities and twin ct states', () => {
    const text = SecurityGroups.compile(
      [{ ofport: 5, mac: 'fa:16:3e:aa:bb:cc', fixedIps: ['10.1.0.5'], securityGroups: ['g'], network: 3 }],
      [SecurityGroups.newGroup('g', [
        { direction: 'ingress', protocol: 'icmp' },
        { direction: 'ingress', protocol: 'icmp', portRangeMin: 8 },
        { direction: 'ingress', protocol: 'icmp', portRangeMin: 3, portRangeMax: 4 },
        { direction: 'ingress', protocol: 'tcp', portRangeMin: 1000, portRangeMax: 1001, remoteIpPrefix: '192.168.7.9/16' },
        { direction: 'ingress', protocol: 'gre', remoteIpPrefix: '0.0.0.0/0' },
      ])]);
    const lines = text.trim().split('\n');
    expect(lines).toContain('table=82,priority=75,ct_state=+est-rel-rpl,dl_type=0x0800,nw_proto=1,reg5=5,actions=output:5');
    expect(lines).toContain('table=82,priority=76,ct_state=+new-est,dl_type=0x0800,nw_proto=1,reg5=5,icmp_type=8,'
      + 'actions=ct(commit,zone=NXM_NX_REG6[0..15]),output:5,resubmit(,92)');
    expect(lines).toContain('table=82,priority=77,ct_state=+est-rel-rpl,dl_type=0x0800,nw_proto=1,reg5=5,icmp_type=3,icmp_code=4,actions=output:5');
    expect(lines).toContain('table=82,priority=77,ct_state=+est-rel-rpl,dl_type=0x0800,nw_proto=6,reg5=5,nw_src=192.168.0.0/16,tcp_dst=0x03e8/0xfffe,actions=output:5');
    // the any-prefix adds no match (rules.is_valid_prefix)
    expect(lines).toContain('table=82,priority=77,ct_state=+est-rel-rpl,dl_type=0x0800,nw_proto=47,reg5=5,actions=output:5');
    // egress: the two default rules of a new group, any protocol, to table 73
    expect(lines).toContain('table=72,priority=74,ct_state=+new-est,dl_type=0x86dd,reg5=5,actions=resubmit(,73)');
    expect(lines).toContain('table=60,priority=100,in_port=5,actions=set_field:5->reg5,set_field:3->reg6,resubmit(,71)');
    expect(lines).toContain(`table=71,priority=65,reg5=5,in_port=5,dl_type=0x86dd,dl_src=fa:16:3e:aa:bb:cc,ipv6_src=${linkLocalAddress('fa:16:3e:aa:bb:cc')},`
      + 'actions=ct(table=72,zone=NXM_NX_REG6[0..15])');
    expect(linkLocalAddress('fa:16:3e:aa:bb:cc')).toBe('fe80::f816:3eff:feaa:bbcc');
    // no duplicates: shared flows (the +inv drops) are written once
    expect(new Set(lines).size).toBe(lines.length);
    expect(lines.filter((l) => l.startsWith('table=82,priority=50,ct_state=+trk+inv,'))).toHaveLength(1);
  });

  it('allocates conjunction ids as ConjIdMap does and merges overlapping port ranges', () => {
    const r = SecurityGroups.compileDetailed([
      { ofport: 1, mac: 'fa:16:3e:00:00:01', fixedIps: ['10.0.0.1'], securityGroups: ['a'], network: 1 },
      { ofport: 2, mac: 'fa:16:3e:00:00:02', fixedIps: ['10.0.0.2'], securityGroups: ['b'], network: 1 },
    ], [
      SecurityGroups.newGroup('a'),
      SecurityGroups.newGroup('b', [
        { direction: 'ingress', protocol: 'tcp', portRangeMin: 1000, portRangeMax: 1999, remoteGroupId: 'a' },
        { direction: 'ingress', protocol: 'tcp', portRangeMin: 1500, portRangeMax: 2500, remoteGroupId: 'b' },
        { direction: 'ingress', protocol: 'icmp', remoteGroupId: 'a' },
      ]),
    ]);
    expect(r.conjIds).toEqual([
      { sgId: 'b', remoteGroupId: 'a', direction: 'ingress', ethertype: 'IPv4', id: 16 },
      { sgId: 'b', remoteGroupId: 'b', direction: 'ingress', ethertype: 'IPv4', id: 24 },
    ]);
    // tcp offset 3 → ids 22 (a) and 30 (b); icmp without type offset 1 → 18
    const tcp2 = r.flows.filter((l) => l.includes('nw_proto=6') && l.includes('conjunction(') && l.includes('+est-rel-rpl'));
    const seg = (mask: string): string => tcp2.find((l) => l.includes(`tcp_dst=${mask},`))!.replace(/.*actions=/, '');
    expect(seg('0x03e8/0xfff8')).toBe('conjunction(22,2/2)');                       // 1000-1007: a only
    expect(seg('0x05dc/0xfffc')).toBe('conjunction(22,2/2),conjunction(30,2/2)');   // 1500-1503: both
    expect(seg('0x07d0/0xfff0')).toBe('conjunction(30,2/2)');                       // 2000-2015: b only
    expect(r.flows).toContain('table=82,priority=73,ct_state=+new-est,dl_type=0x0800,reg6=1,nw_src=10.0.0.1/32,actions=conjunction(23,1/2)');
    expect(r.flows).toContain('table=82,priority=71,ct_state=+est-rel-rpl,dl_type=0x0800,reg6=1,nw_src=10.0.0.1/32,actions=conjunction(18,1/2)');
    expect(r.flows).toContain('table=82,priority=73,ct_state=+est-rel-rpl,dl_type=0x0800,reg6=1,nw_src=10.0.0.2/32,actions=conjunction(30,1/2)');
    expect(r.flows).toContain('table=82,priority=71,conj_id=18,ct_state=+est-rel-rpl,dl_type=0x0800,reg5=2,actions=set_field:18->reg7,output:2');
    expect(r.flows).toContain('table=82,priority=71,conj_id=19,ct_state=+new-est,dl_type=0x0800,reg5=2,'
      + 'actions=set_field:19->reg7,ct(commit,zone=NXM_NX_REG6[0..15]),output:2,resubmit(,92)');
  });

  it('writes IPv6 rules with ICMPv6 and IPv6 prefixes (canonical CIDR)', () => {
    const text = SecurityGroups.compile(
      [{ ofport: 1, mac: 'fa:16:3e:00:00:01', fixedIps: ['2001:db8::1', '10.0.0.1'], securityGroups: ['g'], network: 1 }],
      [SecurityGroups.newGroup('g', [
        { direction: 'ingress', ethertype: 'IPv6', protocol: 'icmp', portRangeMin: 128 },
        { direction: 'egress', ethertype: 'IPv6', protocol: 'udp', portRangeMin: 53, portRangeMax: 53, remoteIpPrefix: '2001:DB8:0:0:1::5/64' },
      ])]);
    expect(text).toContain('table=82,priority=76,ct_state=+est-rel-rpl,dl_type=0x86dd,nw_proto=58,reg5=1,icmp_type=128,actions=output:1');
    expect(text).toContain('table=72,priority=77,ct_state=+new-est,dl_type=0x86dd,nw_proto=17,reg5=1,ipv6_dst=2001:db8::/64,udp_dst=0x0035,actions=resubmit(,73)');
    expect(text).toContain('table=71,priority=65,reg5=1,in_port=1,dl_type=0x86dd,dl_src=fa:16:3e:00:00:01,ipv6_src=2001:db8::1,actions=ct(table=72,zone=NXM_NX_REG6[0..15])');
    // the text loads into a bridge (sdnemu's ovs-ofctl parser accepts every line)
    const br = new OvsBridge(new Sim(), 'br-int', { defaultFlows: 'none' });
    br.addFlows(text);
    expect(br.br.allRules().length).toBe(text.trim().split('\n').length);
  });

  it('refuses bad input with a code and the path of the field', () => {
    const port: SgPort = { ofport: 1, mac: 'fa:16:3e:00:00:01', fixedIps: ['10.0.0.1'], securityGroups: ['g'], network: 1 };
    const bad: [string, () => unknown][] = [
      ['SG_UNKNOWN_GROUP', () => SecurityGroups.compile([{ ...port, securityGroups: ['nope'] }], [SecurityGroups.newGroup('g')])],
      ['SG_UNKNOWN_GROUP', () => SecurityGroups.compile([port], [SecurityGroups.newGroup('g', [{ direction: 'ingress', remoteGroupId: 'x' }])])],
      ['SG_REMOTE_CONFLICT', () => SecurityGroups.compile([port], [SecurityGroups.newGroup('g', [{ direction: 'ingress', remoteGroupId: 'g', remoteIpPrefix: '1.2.3.4/32' }])])],
      ['SG_BAD_PORT_RANGE', () => SecurityGroups.compile([port], [SecurityGroups.newGroup('g', [{ direction: 'ingress', protocol: 'tcp', portRangeMin: 90, portRangeMax: 80 }])])],
      ['SG_BAD_PORT_RANGE', () => SecurityGroups.compile([port], [SecurityGroups.newGroup('g', [{ direction: 'ingress', portRangeMin: 80, portRangeMax: 80 }])])],
      ['SG_BAD_PORT_RANGE', () => SecurityGroups.compile([port], [SecurityGroups.newGroup('g', [{ direction: 'ingress', protocol: 'icmp', portRangeMax: 0 }])])],
      ['SG_BAD_PROTOCOL', () => SecurityGroups.compile([port], [SecurityGroups.newGroup('g', [{ direction: 'ingress', protocol: 'tcpp' }])])],
      ['SG_BAD_ADDRESS', () => SecurityGroups.compile([port], [SecurityGroups.newGroup('g', [{ direction: 'ingress', remoteIpPrefix: '10.0.0.0/33' }])])],
      ['SG_BAD_ADDRESS', () => SecurityGroups.compile([port], [SecurityGroups.newGroup('g', [{ direction: 'ingress', ethertype: 'IPv6', remoteIpPrefix: '10.0.0.0/8' }])])],
      ['SG_BAD_ADDRESS', () => SecurityGroups.compile([{ ...port, fixedIps: ['10.0.0.1/24'] }], [SecurityGroups.newGroup('g')])],
      ['SG_BAD_MAC', () => SecurityGroups.compile([{ ...port, mac: 'fa:16:3e' }], [SecurityGroups.newGroup('g')])],
      ['SG_BAD_NETWORK', () => SecurityGroups.compile([{ ...port, network: 0 }], [SecurityGroups.newGroup('g')])],
      ['SG_DUPLICATE_PORT', () => SecurityGroups.compile([port, { ...port, mac: 'fa:16:3e:00:00:02' }], [SecurityGroups.newGroup('g')])],
      ['SG_DUPLICATE_GROUP', () => SecurityGroups.compile([port], [SecurityGroups.newGroup('g'), SecurityGroups.newGroup('g')])],
    ];
    for (const [code, f] of bad) {
      let err: unknown = null;
      try { f(); } catch (e) { err = e; }
      expect(err, code).toBeInstanceOf(InputError);
      expect((err as InputError).code).toBe(code);
    }
    try {
      SecurityGroups.compile([port], [SecurityGroups.newGroup('g', [{ direction: 'ingress', protocol: 'tcp', portRangeMin: 90, portRangeMax: 80 }])]);
    } catch (e) {
      expect((e as InputError).path).toBe('groups[0].rules[2].portRangeMin');
    }
  });

  it('the default group lets its members talk to each other and nobody else in', () => {
    const c = new Cloud([
      { name: 'a', ip: '10.0.0.1', groups: ['default'] },
      { name: 'b', ip: '10.0.0.2', groups: ['default'] },
      { name: 'x', ip: '10.0.0.3', groups: ['other'] },
    ], [SecurityGroups.defaultGroup(), SecurityGroups.newGroup('other')]);
    c.udpEcho('b', 53);
    expect(c.udpAsk('a', '10.0.0.2', 53, 'q').answers).toEqual(['re:q']);
    expect(c.udpAsk('x', '10.0.0.2', 53, 'q').answers).toEqual([]);
  });
});
