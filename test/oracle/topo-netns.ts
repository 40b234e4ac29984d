/**
 * A topology built twice: from Linux network namespaces and in the emulator (test oracle for
 * issue 6, not part of src/).
 *
 * What: a `TopoDesc` names hosts (interfaces with addresses and MTUs, routes, forwarding, an
 * iptables-restore payload) and links between interfaces. `runInKernel(desc, commands)` makes
 * one namespace per host, one veth pair per link (both ends set to the link's MTU), the
 * addresses, routes and sysctls, then runs each command (`ping …`, `traceroute …`) in its
 * host's namespace in order and returns what it printed (a command's non-zero exit — ping with
 * losses — is not an error: its output is returned). `buildEmulated(desc, seed)` makes the same
 * network as a `Topology`. `pingFacts`/`tracerouteFacts` reduce both outputs to what does not
 * depend on wall-clock time: replies with their sequence numbers, TTLs and sources; error lines;
 * counts; hops with their addresses, `*` and `!X` notes.
 * Namespaces: IPv6 off (no DAD, no router solicitations) unless the topology has an IPv6
 * address — then on, addresses added `nodad`, net.ipv6.conf.all.forwarding as `forward` and
 * the ICMPv6 rate limit left at its default (the emulator models it); rp_filter 0,
 * icmp_ratelimit 0 (the emulator does not model IPv4's ICMP rate limits), all deleted
 * afterwards (netns.ts's NetnsSet). The facts read IPv4 and IPv6 addresses alike.
 * `CHAIN`/`LOOP` are the shared test topologies; `mapAddresses` makes their IPv6 twins.
 * Neighbours: netns.ts (namespaces), src/topology (the emulated side).
 */
import { NetnsSet, withNetns, KernelCommandError } from './netns.js';
import { Topology } from '../../src/topology/topology.js';

export interface TopoHost {
  name: string;
  forward?: boolean;
  ifaces: { name: string; addrs: string[]; mtu?: number }[];
  routes?: { dst: string; via?: string; dev: string }[];
  rules?: string;
}
export interface TopoDesc {
  hosts: TopoHost[];
  links: { a: [string, string]; b: [string, string]; mtu?: number }[];
}
export interface TopoCommand { host: string; argv: string[] }

/** h1 — r1 — r2 — h2, and a stub 10.0.9.0/24 on r2 with nobody there. */
export const CHAIN: TopoDesc = {
  hosts: [
    { name: 'h1', ifaces: [{ name: 'eth0', addrs: ['10.0.1.2/24'] }], routes: [{ dst: 'default', via: '10.0.1.1', dev: 'eth0' }] },
    { name: 'r1', forward: true, ifaces: [{ name: 'eth1', addrs: ['10.0.1.1/24'] }, { name: 'eth2', addrs: ['10.0.12.1/24'] }],
      routes: [{ dst: '10.0.2.0/24', via: '10.0.12.2', dev: 'eth2' }, { dst: '10.0.9.0/24', via: '10.0.12.2', dev: 'eth2' }] },
    { name: 'r2', forward: true, ifaces: [{ name: 'eth1', addrs: ['10.0.12.2/24'] }, { name: 'eth2', addrs: ['10.0.2.1/24'] }, { name: 'eth3', addrs: ['10.0.9.1/24'] }],
      routes: [{ dst: '10.0.1.0/24', via: '10.0.12.1', dev: 'eth1' }] },
    { name: 'h2', ifaces: [{ name: 'eth0', addrs: ['10.0.2.2/24'] }], routes: [{ dst: 'default', via: '10.0.2.1', dev: 'eth0' }] },
    { name: 'stub', ifaces: [{ name: 'eth0', addrs: ['10.0.9.200/24'] }] },
  ],
  links: [
    { a: ['h1', 'eth0'], b: ['r1', 'eth1'] },
    { a: ['r1', 'eth2'], b: ['r2', 'eth1'] },
    { a: ['r2', 'eth2'], b: ['h2', 'eth0'], mtu: 1280 },
    { a: ['r2', 'eth3'], b: ['stub', 'eth0'] },
  ],
};
/** r1 and r2 send 172.16/12 to each other: a routing loop. */
export const LOOP: TopoDesc = {
  ...CHAIN,
  hosts: CHAIN.hosts.map((h) => (h.name === 'r1' ? { ...h, routes: [...h.routes!, { dst: '172.16.0.0/12', via: '10.0.12.2', dev: 'eth2' }] }
    : h.name === 'r2' ? { ...h, routes: [...h.routes!, { dst: '172.16.0.0/12', via: '10.0.12.1', dev: 'eth1' }] } : h)),
};

/** 'desc' with every address, prefix and gateway rewritten by 'f' (an IPv6 twin of an IPv4 topology). */
export function mapAddresses(desc: TopoDesc, f: (a: string) => string): TopoDesc {
  return {
    links: desc.links,
    hosts: desc.hosts.map((h) => ({
      ...h,
      ifaces: h.ifaces.map((i) => ({ ...i, addrs: i.addrs.map(f) })),
      ...(h.routes !== undefined ? { routes: h.routes.map((r) => ({ ...r, dst: f(r.dst), ...(r.via !== undefined ? { via: f(r.via) } : {}) })) } : {}),
    })),
  };
}

/** Run 'commands' on the kernel-built 'desc'; the output of each. */
export async function runInKernel(desc: TopoDesc, commands: TopoCommand[]): Promise<string[]> {
  return withNetns(async (set: NetnsSet) => {
    const ns = new Map<string, string>();
    const ipv6 = desc.hosts.some((h) => h.ifaces.some((i) => i.addrs.some((a) => a.includes(':'))));
    for (const h of desc.hosts) {
      const n = await set.add(h.name, { ipv6 });
      ns.set(h.name, n);
      await set.exec(n, ['sysctl', '-qw', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0', 'net.ipv4.icmp_ratelimit=0',
        `net.ipv4.ip_forward=${h.forward === true ? 1 : 0}`, ...(ipv6 ? [`net.ipv6.conf.all.forwarding=${h.forward === true ? 1 : 0}`] : [])]);
      await set.ipBatch(n, ['link set lo up']);
    }
    for (const l of desc.links) {
      const [ah, ai] = l.a, [bh, bi] = l.b;
      await set.ipBatch(ns.get(ah)!, [`link add ${ai} type veth peer name ${bi} netns ${ns.get(bh)!}`]);
    }
    for (const h of desc.hosts) {
      const lines: string[] = [];
      for (const i of h.ifaces) {
        const link = desc.links.find((l) => (l.a[0] === h.name && l.a[1] === i.name) || (l.b[0] === h.name && l.b[1] === i.name));
        const mtu = i.mtu ?? link?.mtu;
        if (mtu !== undefined) lines.push(`link set ${i.name} mtu ${mtu}`);
        for (const a of i.addrs) lines.push(`addr add ${a} dev ${i.name}${a.includes(':') ? ' nodad' : ''}`);
        lines.push(`link set ${i.name} up`);
      }
      for (const r of h.routes ?? []) lines.push(`route add ${r.dst}${r.via !== undefined ? ` via ${r.via}` : ''} dev ${r.dev}`);
      await set.ipBatch(ns.get(h.name)!, lines);
      if (h.rules !== undefined) await set.exec(ns.get(h.name)!, ['iptables-restore'], h.rules);
    }
    const out: string[] = [];
    for (const c of commands) {
      out.push(await set.exec(ns.get(c.host)!, c.argv).catch((e: unknown) => {
        if (e instanceof KernelCommandError) return e.stdout + e.stderr;
        throw e;
      }));
    }
    return out;
  });
}

/** 'desc' in the emulator. */
export function buildEmulated(desc: TopoDesc, seed = 1): Topology {
  const t = new Topology({ seed });
  for (const h of desc.hosts) {
    const mk = h.forward === true ? t.router.bind(t) : t.host.bind(t);
    mk(h.name, {
      ifaces: h.ifaces.map((i) => {
        const link = desc.links.find((l) => (l.a[0] === h.name && l.a[1] === i.name) || (l.b[0] === h.name && l.b[1] === i.name));
        const mtu = i.mtu ?? link?.mtu;
        return { name: i.name, addrs: i.addrs, ...(mtu !== undefined ? { mtu } : {}) };
      }),
      routes: h.routes ?? [], ...(h.rules !== undefined ? { rules: h.rules } : {}), ipForward: h.forward === true,
    });
  }
  for (const l of desc.links) {
    t.link([t.hostNamed(l.a[0]), l.a[1]], [t.hostNamed(l.b[0]), l.b[1]], l.mtu !== undefined ? { mtu: l.mtu } : {});
  }
  return t;
}

/** What ping printed, without times: `reply seq=1 from=10.0.2.2 ttl=63`, `From 10.0.1.1 icmp_seq=1 …`, `sent 2 received 1`. */
export function pingFacts(text: string): string[] {
  const out: string[] = [];
  // ping's own errors go to stderr, which the kernel side reads after stdout: they are compared last
  const own: string[] = [];
  for (const line of text.split('\n')) {
    let m = /^\d+ bytes from ([\da-f.:]+): icmp_seq=(\d+) ttl=(\d+)/.exec(line);
    if (m !== null) { out.push(`reply seq=${m[2]} from=${m[1]} ttl=${m[3]}`); continue; }
    m = /^From ([\da-f.:]+) icmp_seq=(\d+) (.*)$/.exec(line);
    if (m !== null) { out.push(line); continue; }
    m = /^(\d+) packets transmitted, (\d+) received(, \+(\d+) errors)?/.exec(line);
    if (m !== null) { out.push(`sent ${m[1]} received ${m[2]} errors ${m[4] ?? 0}`); continue; }
    if (line.startsWith('ping: ')) own.push(line);
  }
  return [...out, ...own];
}

/** What `traceroute -n` printed, without times: ` 1  10.0.1.1`, ` 2  *`, ` 3  10.0.2.1 !N`. */
export function tracerouteFacts(text: string): string[] {
  return text.split('\n').filter((l) => /^\s*\d+\s/.test(l)).map((l) => l.replace(/\s+\d+\.\d+ ms/g, '').replace(/\s+/g, ' ').trim());
}
