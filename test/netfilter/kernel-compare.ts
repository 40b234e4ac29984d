/**
 * What the kernel differential tests of the host path share (test helpers, not part of src/):
 * the harness's host description turned into NfStack's, the rule-set headers, and how a packet
 * the router made itself is compared (its IPv4 id is the kernel's, not predictable).
 * Neighbours: test/oracle/netns.ts (the kernel side); stack-kernel, stack-output-kernel and
 * tcp-window-kernel tests.
 */
import type { HostConfig as StackHost } from '../../src/netfilter/stack.js';
import { parseIpv4, toHex } from '../../src/wire/bytes.js';
import { routerMac, type HostConfig } from '../oracle/netns.js';

export const NAT_HEAD = '*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n';
export const FILTER_HEAD = '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n';

/** The harness's host description 'h' as NfStack's (the same interfaces, MACs, routes and sysctls). */
export function stackHost(h: HostConfig): StackHost {
  const cidr = (s: string): { addr: number; prefixLen: number } => {
    const [a, l] = s.split('/');
    return { addr: parseIpv4(a!)!, prefixLen: l === undefined ? 32 : Number(l) };
  };
  return {
    ifaces: h.ifaces.map((i, n) => ({ name: i.name, mac: routerMac(h, n), addrs: i.addrs.map(cidr), ...(i.mtu !== undefined ? { mtu: i.mtu } : {}) })),
    routes: h.routes.map((r) => {
      const d = r.dst === 'default' ? { addr: 0, prefixLen: 0 } : cidr(r.dst);
      return { net: d.addr, prefixLen: d.prefixLen, dev: r.dev, via: r.via === undefined ? null : parseIpv4(r.via)!, src: r.src === undefined ? null : parseIpv4(r.src)! };
    }),
    ipForward: h.sysctls?.ip_forward === 1, routeLocalnet: h.sysctls?.route_localnet === 1, tcpLoose: h.sysctls?.nf_conntrack_tcp_loose !== 0,
  };
}

/**
 * Is Ethernet frame 'f' a packet the router made itself rather than the one 'sent' (or
 * injected): an ICMP error or a TCP reset when 'sent' is not one.
 */
export function isRouterMade(f: Uint8Array, sent: Uint8Array): boolean {
  const rst = (b: Uint8Array): boolean => b[23] === 6 && (b[14 + (b[14]! & 15) * 4 + 13]! & 0x04) !== 0;
  const icmpError = (b: Uint8Array): boolean => b[23] === 1 && [3, 4, 5, 11, 12].includes(b[14 + (b[14]! & 15) * 4]!);
  return (rst(f) && !rst(sent)) || (icmpError(f) && !icmpError(sent));
}

/** The IP packet of frame 'f' as hex with its IPv4 id and header checksum zeroed. */
export function masked(f: Uint8Array): string {
  const p = f.slice(14);
  p[4] = 0; p[5] = 0; p[10] = 0; p[11] = 0;
  return toHex(p);
}
