/**
 * IPv4 CIDR text for the CNI (k8s layer, CNI; slow path): parse with the
 * field path in the error, test membership.
 * Neighbours: network.ts (node and Service CIDRs), policy.ts (ipBlock).
 */
import { parseIpv4 } from '../../wire/bytes.js';
import { CniError } from './errors.js';

/** 'text' as a network (host bits cleared) and prefix length; throws CniError 'code' at 'path'. */
export function parseCidr(text: unknown, path: string, code = 'CNI_BAD_CIDR'): { net: number; len: number } {
  const s = typeof text === 'string' ? text : '';
  const [a, l] = s.split('/');
  const addr = parseIpv4(a ?? '');
  const len = l === undefined || !/^\d+$/.test(l) ? -1 : Number(l);
  if (addr === null || len < 0 || len > 32) throw new CniError(code, path, `'${String(text)}' is not an IPv4 CIDR`);
  return { net: len === 0 ? 0 : (addr & ((0xffffffff << (32 - len)) >>> 0)) >>> 0, len };
}

/** Is 'a' in net/len? */
export function inNet(a: number, net: number, len: number): boolean {
  return len === 0 || ((a ^ net) >>> (32 - len)) === 0;
}
