import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { CidrAllocator, IpAllocator, IpamError, LoadBalancerPool, PortAllocator, parseCidr, parseIPv4, formatIPv4 } from '../../src/k8s/ipam.js';

const code = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(IpamError);
    return (e as IpamError).code;
  }
  return 'none';
};

describe('ipam', () => {
  it('carves /24 podCIDRs out of the cluster CIDR, lowest free first', () => {
    const a = new CidrAllocator('10.244.0.0/16');
    expect([a.allocate(), a.allocate(), a.allocate()]).toEqual(['10.244.0.0/24', '10.244.1.0/24', '10.244.2.0/24']);
    a.release('10.244.1.0/24');
    expect(a.allocate()).toBe('10.244.1.0/24');
    a.occupy('10.244.9.0/24');
    expect(code(() => a.occupy('10.244.9.0/24'))).toBe('IPAM_IN_USE');
    expect(code(() => a.occupy('10.245.0.0/24'))).toBe('IPAM_OUT_OF_RANGE');
    const small = new CidrAllocator('10.0.0.0/23', 24);
    small.allocate();
    small.allocate();
    expect(code(() => small.allocate())).toBe('IPAM_FULL');
    expect(code(() => new CidrAllocator('10.0.0.0/24', 16))).toBe('IPAM_BAD_CIDR');
  });

  it('gives Service ClusterIPs from 10.96.0.0/12: 10.96.0.1 first, specific ones checked', () => {
    const s = new IpAllocator('10.96.0.0/12');
    expect(s.allocate()).toBe('10.96.0.1');
    expect(s.allocateSpecific('10.96.0.10')).toBe('10.96.0.10');
    expect(code(() => s.allocateSpecific('10.96.0.10'))).toBe('IPAM_IN_USE');
    expect(code(() => s.allocateSpecific('10.112.0.1'))).toBe('IPAM_OUT_OF_RANGE');
    expect(code(() => s.allocateSpecific('10.96.0.0'))).toBe('IPAM_OUT_OF_RANGE');
    expect(code(() => s.allocateSpecific('10.111.255.255'))).toBe('IPAM_OUT_OF_RANGE');
    expect(s.allocate()).toBe('10.96.0.2');
    expect(s.free).toBe(2 ** 20 - 2 - 3);
  });

  it('reserves the gateway of a pod CIDR', () => {
    const p = new IpAllocator('10.244.1.0/24', 1);
    expect(p.allocate()).toBe('10.244.1.2');
    expect(p.free).toBe(252);
  });

  it('gives NodePorts in 30000-32767 and refuses others with the API server\'s words', () => {
    const n = new PortAllocator();
    expect(n.allocate()).toBe(30000);
    expect(n.allocateSpecific(32767)).toBe(32767);
    expect(() => n.allocateSpecific(80)).toThrow('provided port is not in the valid range. The range of valid ports is 30000-32767');
    expect(code(() => n.allocateSpecific(30000))).toBe('IPAM_IN_USE');
    const tiny = new PortAllocator(30000, 30001);
    tiny.allocate();
    tiny.allocate();
    expect(code(() => tiny.allocate())).toBe('IPAM_FULL');
  });

  it('hands out LoadBalancer addresses from ranges and CIDRs in order', () => {
    const lb = new LoadBalancerPool(['203.0.113.10-203.0.113.11', '198.51.100.0/30']);
    expect([lb.allocate(), lb.allocate(), lb.allocate(), lb.allocate()]).toEqual(['203.0.113.10', '203.0.113.11', '198.51.100.1', '198.51.100.2']);
    expect(code(() => lb.allocate())).toBe('IPAM_FULL');
    lb.release('203.0.113.11');
    expect(lb.allocate()).toBe('203.0.113.11');
    expect(code(() => new LoadBalancerPool(['10.0.0.5-10.0.0.1']))).toBe('IPAM_BAD_CIDR');
    expect(code(() => new LoadBalancerPool([]).allocate())).toBe('IPAM_FULL');
  });

  it('parses addresses and CIDRs, throwing only IpamError', () => {
    expect(parseIPv4('10.0.0.1')).toBe(0x0a000001);
    expect(parseIPv4('10.0.0.256')).toBe(-1);
    expect(parseIPv4('010.0.0.1')).toBe(-1);
    expect(parseCidr('10.1.2.3/8')).toEqual({ base: 0x0a000000, bits: 8 });
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (v) => parseIPv4(formatIPv4(v)) === v));
    fc.assert(fc.property(fc.string({ maxLength: 24 }), (t) => {
      try {
        parseCidr(t);
      } catch (e) {
        if (!(e instanceof IpamError)) throw e;
      }
    }));
  });
});
