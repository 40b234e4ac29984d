#!/usr/bin/python3
"""Tiny traffic tools for make-samples.sh, run inside network namespaces.

Every packet these commands cause is built by the Linux kernel: they only use
ordinary sockets (ICMP "ping" datagram sockets, UDP and TCP sockets) and one
ethtool ioctl.  Nothing here writes packet bytes itself.  This exists because
the CI machines have no ping, socat or ethtool.

  nettool.py offload-off IFACE             turn off tx checksum offload (ethtool -K IFACE tx off)
  nettool.py ping DST [--count N] [--ttl T] [--size S] [--df] [--timeout SEC]
  nettool.py udp-server ADDR PORT READYFILE   answer one datagram, then exit
  nettool.py udp-send DST PORT TEXT [--reply]
  nettool.py tcp-server ADDR PORT READYFILE   serve one connection, then exit
  nettool.py tcp-client DST PORT

ADDR/DST may be IPv4 or IPv6.  Exit status is 0 unless a socket call fails.
"""
import argparse
import array
import fcntl
import socket
import struct
import sys
import time

SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM = 0x17  # set tx checksum offload
ETHTOOL_SSG = 0x19      # set scatter-gather
ETHTOOL_STSO = 0x1F     # set TCP segmentation offload
ETHTOOL_SGSO = 0x24     # set generic segmentation offload


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def offload_off(iface):
    """Clear tx checksum offload (and the offloads that depend on it) so that
    tcpdump on a veth sees finished checksums instead of partial ones."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for cmd in (ETHTOOL_STSO, ETHTOOL_SGSO, ETHTOOL_SSG, ETHTOOL_STXCSUM):
            val = array.array("B", struct.pack("II", cmd, 0))
            addr, _ = val.buffer_info()
            ifreq = struct.pack("16sP", iface.encode(), addr)
            try:
                fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifreq)
            except OSError as e:
                # Some devices refuse some settings; tx csum is the one that matters.
                if cmd == ETHTOOL_STXCSUM:
                    raise
                print(f"offload-off {iface}: cmd {cmd:#x}: {e}", file=sys.stderr)
    finally:
        s.close()


def ping(a):
    fam = family_of(a.dst)
    proto = socket.IPPROTO_ICMPV6 if fam == socket.AF_INET6 else socket.IPPROTO_ICMP
    # A "ping socket": the kernel writes the ICMP identifier and checksum
    # (this is what iputils ping uses when allowed).  Needs
    # net.ipv4.ping_group_range to include our group.
    s = socket.socket(fam, socket.SOCK_DGRAM, proto)
    if a.ttl is not None:
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, a.ttl)
        else:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, a.ttl)
    if a.df:
        s.setsockopt(socket.IPPROTO_IP, 10, 2)  # IP_MTU_DISCOVER = IP_PMTUDISC_DO
    s.settimeout(a.timeout)
    etype = 128 if fam == socket.AF_INET6 else 8
    payload = bytes((i & 0xFF) for i in range(a.size))
    for seq in range(1, a.count + 1):
        pkt = struct.pack("!BBHHH", etype, 0, 0, 0, seq) + payload
        s.sendto(pkt, (a.dst, 0))
        try:
            s.recvfrom(65535)
        except (socket.timeout, OSError):
            pass  # errors (time exceeded, frag needed) and timeouts are expected
        if seq != a.count:
            time.sleep(a.interval)
    s.close()


def ready(path):
    with open(path, "w") as f:
        f.write("ready\n")


def udp_server(a):
    s = socket.socket(family_of(a.addr), socket.SOCK_DGRAM)
    s.bind((a.addr, a.port))
    s.settimeout(10)
    ready(a.readyfile)
    data, peer = s.recvfrom(65535)
    s.sendto(data.upper(), peer)
    s.close()


def udp_send(a):
    s = socket.socket(family_of(a.dst), socket.SOCK_DGRAM)
    s.settimeout(1.0)
    s.sendto(a.text.encode(), (a.dst, a.port))
    if a.reply:
        s.recvfrom(65535)
    else:
        try:
            s.recvfrom(65535)  # e.g. ECONNREFUSED after an ICMP port unreachable
        except (socket.timeout, OSError):
            pass
    s.close()


def tcp_server(a):
    s = socket.socket(family_of(a.addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((a.addr, a.port))
    s.listen(1)
    s.settimeout(10)
    ready(a.readyfile)
    c, _ = s.accept()
    c.settimeout(10)
    data = c.recv(4096)
    c.sendall(b"pong: " + data)
    while c.recv(4096):  # wait for the client's FIN
        pass
    c.close()
    s.close()


def tcp_client(a):
    c = socket.create_connection((a.dst, a.port), timeout=5)
    c.sendall(b"ping from sdnemu pcap-samples\n")
    c.recv(4096)
    time.sleep(0.05)
    c.close()
    time.sleep(0.2)  # let the server's FIN arrive and be ACKed


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    o = sub.add_parser("offload-off")
    o.add_argument("iface")
    o = sub.add_parser("ping")
    o.add_argument("dst")
    o.add_argument("--count", type=int, default=1)
    o.add_argument("--ttl", type=int)
    o.add_argument("--size", type=int, default=56)
    o.add_argument("--df", action="store_true")
    o.add_argument("--timeout", type=float, default=1.0)
    o.add_argument("--interval", type=float, default=0.1)
    o = sub.add_parser("udp-server")
    o.add_argument("addr")
    o.add_argument("port", type=int)
    o.add_argument("readyfile")
    o = sub.add_parser("udp-send")
    o.add_argument("dst")
    o.add_argument("port", type=int)
    o.add_argument("text")
    o.add_argument("--reply", action="store_true")
    o = sub.add_parser("tcp-server")
    o.add_argument("addr")
    o.add_argument("port", type=int)
    o.add_argument("readyfile")
    o = sub.add_parser("tcp-client")
    o.add_argument("dst")
    o.add_argument("port", type=int)
    a = p.parse_args()
    {
        "offload-off": lambda a: offload_off(a.iface),
        "ping": ping,
        "udp-server": udp_server,
        "udp-send": udp_send,
        "tcp-server": tcp_server,
        "tcp-client": tcp_client,
    }[a.cmd](a)


if __name__ == "__main__":
    main()
