/**
 * Addresses as kube-proxy reads and prints them (k8s layer, slow path).
 *
 * What: `parseIp` / `parseCidr` accept what Go's netutils.ParseIPSloppy /
 * ParseCIDRSloppy accept for the two families — IPv4 with leading zeros
 * (`10.180.00.001` is 10.180.0.1), IPv6 in any RFC 4291 spelling, with an
 * embedded dotted quad — and print what net.IP.String and net.IPNet.String
 * print: dotted IPv4; IPv6 per RFC 5952 (lower case, no leading zeros, the
 * longest run of two or more zero groups as `::`, the first on a tie);
 * CIDRs with the host bits cleared. An IPv4-mapped IPv6 address is IPv4, as
 * Go's To4 makes it. Values are bigints (128 bits for IPv6), slow-path only;
 * `canonicalText` skips them for an already canonical dotted quad, the
 * common case among the tens of thousands of endpoints a sync reads.
 * Neighbours: tracker.ts and iptables.ts (every address they print).
 */

export type Family = 'IPv4' | 'IPv6';

export interface Ip { family: Family; value: bigint; text: string }
export interface Cidr { family: Family; net: bigint; len: number; text: string }

function parseV4(s: string): bigint | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  let v = 0n;
  for (const p of parts) {
    if (!/^[0-9]{1,3}$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseV6(s: string): bigint | null {
  if (!/^[0-9a-fA-F:.]+$/.test(s)) return null;
  const dbl = s.indexOf('::');
  if (dbl !== s.lastIndexOf('::')) return null;
  const groupsOf = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      if (it.includes('.')) {
        if (i !== items.length - 1) return null;
        const v4 = parseV4(it);
        if (v4 === null) return null;
        out.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(it)) return null;
        out.push(parseInt(it, 16));
      }
    }
    return out;
  };
  let groups: number[];
  if (dbl >= 0) {
    const head = groupsOf(s.slice(0, dbl)), tail = groupsOf(s.slice(dbl + 2));
    if (head === null || tail === null || head.length + tail.length > 7) return null;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    const g = groupsOf(s);
    if (g === null || g.length !== 8) return null;
    groups = g;
  }
  return groups.reduce((a, g) => (a << 16n) | BigInt(g), 0n);
}

export function formatV4(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((sh) => String((v >> sh) & 255n)).join('.');
}

export function formatV6(v: bigint): string {
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((v >> BigInt(16 * i)) & 0xffffn));
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (bestLen < 2) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

const MAPPED = 0xffffn << 32n;

/**
 * The canonical text of address 's' (parseIp(s).text), with a fast path for
 * the common canonical dotted quad (no bigint): the tracker canonicalises
 * every endpoint of every slice.
 */
export function canonicalText(s: string): string | null {
  let parts = 0, n = 0, digits = 0, lead0 = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || lead0) return parseIp(s)?.text ?? null;
      parts++; n = 0; digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits === 1 && n === 0) lead0 = true;
      n = n * 10 + c - 48; digits++;
      if (n > 255 || digits > 3) return null;
    } else return parseIp(s)?.text ?? null;
  }
  if (parts !== 3 || digits === 0 || lead0) return parseIp(s)?.text ?? null;
  return s;
}

/** The address 's' (either family), or null when it is none. */
export function parseIp(s: string): Ip | null {
  const v4 = parseV4(s);
  if (v4 !== null) return { family: 'IPv4', value: v4, text: formatV4(v4) };
  const v6 = s.includes(':') ? parseV6(s) : null;
  if (v6 === null) return null;
  if (v6 >> 32n === 0xffffn && (v6 & ~0xffffffffn) === MAPPED) {
    const v = v6 & 0xffffffffn;
    return { family: 'IPv4', value: v, text: formatV4(v) };
  }
  return { family: 'IPv6', value: v6, text: formatV6(v6) };
}

const bits = (f: Family): number => (f === 'IPv4' ? 32 : 128);
const maskOf = (f: Family, len: number): bigint => {
  const b = BigInt(bits(f));
  return len === 0 ? 0n : (((1n << b) - 1n) >> (b - BigInt(len))) << (b - BigInt(len));
};

/** The CIDR 's' (surrounding whitespace ignored, as kube-proxy's sloppy parsing of loadBalancerSourceRanges), or null. */
export function parseCidr(s: string): Cidr | null {
  const t = s.trim();
  const slash = t.indexOf('/');
  if (slash < 0) return null;
  const ip = parseIp(t.slice(0, slash));
  const l = t.slice(slash + 1);
  if (ip === null || !/^[0-9]{1,3}$/.test(l)) return null;
  const len = Number(l);
  // an IPv4 address written in IPv6 form keeps an IPv6 prefix length: out of range here
  if (len > bits(ip.family)) return null;
  const net = ip.value & maskOf(ip.family, len);
  return { family: ip.family, net, len, text: `${ip.family === 'IPv4' ? formatV4(net) : formatV6(net)}/${len}` };
}

export function cidrHas(c: Cidr, ip: Ip): boolean {
  return c.family === ip.family && (ip.value & maskOf(c.family, c.len)) === c.net;
}

/** `ip:port`, with brackets for IPv6 (net.JoinHostPort). */
export function joinHostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
