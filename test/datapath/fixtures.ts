/**
 * The tunnel bridge the datapath tests and benchmarks share: p1, p2, tunnel port 'name' (OpenFlow
 * port 10, remote 192.168.1.2, key=flow) and the underlay that native tunnelling needs — br0 at
 * 192.168.1.1/24 with MAC aa:55:aa:55:00:00, the remote VTEP's MAC aa:55:aa:66:00:00 — as an
 * `ofproto-trace --ports` file.
 */
export function tunnelPorts(type: 'vxlan' | 'geneve' = 'vxlan', name = 'vx1'): string {
  return `p1 1
p2 2
${name} 10 ${type} remote_ip=192.168.1.2 key=flow
@hwaddr aa:55:aa:55:00:00
@ip 192.168.1.1/24
@route 192.168.1.0/24 br0
@neigh 192.168.1.2 aa:55:aa:66:00:00
`;
}
