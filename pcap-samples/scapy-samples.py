#!/usr/bin/python3
"""Scapy half of make-samples.sh.

  scapy-samples.py write DIR        write the scapy-made captures into DIR
  scapy-samples.py send-vlan IFACE  send 802.1Q / 802.1ad frames out of IFACE
                                    (run inside a namespace; the capture is
                                    made by tcpdump on the veth peer)

The written files are deterministic: fixed addresses, IDs and timestamps
(T0 + n milliseconds), so regenerating them gives the same bytes for the
same scapy version.  Run with /usr/bin/python3 (Debian's scapy).
"""
import sys

from scapy.all import (
    ARP, ICMP, IP, UDP, TCP, Ether, Dot1Q, Dot1AD, Raw, IPv6,
    ICMPv6EchoRequest, ICMPv6EchoReply,
    IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,
    IPv6ExtHdrSegmentRouting, RouterAlert, PadN,
    IPOption, IPOption_NOP, IPOption_EOL, IPOption_RR, IPOption_Router_Alert,
    IPOption_LSRR,
    fragment, fragment6, wrpcap, sendp, conf,
)
from scapy.contrib.geneve import GENEVE, GeneveOptions

conf.verb = 0

T0 = 1700000000  # 2023-11-14T22:13:20Z

MAC_A = "02:00:00:00:00:01"
MAC_B = "02:00:00:00:00:02"


def stamp(pkts):
    """Give packets fixed, increasing timestamps (1 ms apart)."""
    for i, p in enumerate(pkts):
        p.time = T0 + i / 1000
    return pkts


def eth(src=MAC_A, dst=MAC_B):
    return Ether(src=src, dst=dst)


# --------------------------------------------------------------------- Geneve
def geneve():
    outer_ab = eth() / IP(src="192.168.100.1", dst="192.168.100.2", id=1, ttl=64)
    outer_ba = eth(MAC_B, MAC_A) / IP(src="192.168.100.2", dst="192.168.100.1", id=1, ttl=64)
    in_a, in_b = "02:00:00:00:10:01", "02:00:00:00:10:02"
    inner_udp = (Ether(src=in_a, dst=in_b) / IP(src="10.200.0.1", dst="10.200.0.2", id=7)
                 / UDP(sport=5000, dport=5001) / Raw(b"hello over geneve\n"))
    inner_ping = (Ether(src=in_a, dst=in_b) / IP(src="10.200.0.1", dst="10.200.0.2", id=8)
                  / ICMP(type=8, id=0x4242, seq=1) / Raw(bytes(range(32))))
    inner_pong = (Ether(src=in_b, dst=in_a) / IP(src="10.200.0.2", dst="10.200.0.1", id=9)
                  / ICMP(type=0, id=0x4242, seq=1) / Raw(bytes(range(32))))
    # Two TLV options: a 4-byte one with the critical bit (type 0x80) in the
    # OVN class (0x0102, as OVN uses it), and an 8-byte one in the experimental class (0xffff).
    opts = [GeneveOptions(classid=0x0102, type=0x80, data=b"\x00\x00\x00\x2a"),
            GeneveOptions(classid=0xFFFF, type=0x01, data=b"\xde\xad\xbe\xef\x01\x02\x03\x04")]
    optlen = sum(4 + len(o.data) for o in opts) // 4  # set explicitly (scapy 2.5 masks it with 0x2f)
    pkts = [
        # 1: no options, VNI 0x001234, inner Ethernet/IPv4/UDP
        outer_ab / UDP(sport=49152, dport=6081) / GENEVE(vni=0x1234, proto=0x6558, optionlen=0) / inner_udp,
        # 2: two TLV options (critical bit set in the header), inner ICMP echo request
        outer_ab / UDP(sport=49153, dport=6081)
        / GENEVE(vni=0x1234, proto=0x6558, critical=1, optionlen=optlen, options=opts) / inner_ping,
        # 3: no options, inner ICMP echo reply, VNI with a non-zero top byte
        outer_ba / UDP(sport=49154, dport=6081) / GENEVE(vni=0xABCDEF, proto=0x6558, optionlen=0) / inner_pong,
        # 4: OAM bit, one option, inner IPv4 carried directly (protocol 0x0800, no inner Ethernet)
        outer_ab / UDP(sport=49155, dport=6081)
        / GENEVE(vni=0x1234, proto=0x0800, oam=1, optionlen=2, options=opts[:1])
        / IP(src="10.200.0.1", dst="10.200.0.2", id=10) / UDP(sport=5000, dport=5001) / Raw(b"l3 inner\n"),
    ]
    return stamp(pkts)


# ------------------------------------------------------------ IPv4 options
def ipv4_options():
    a, b = "10.0.0.1", "10.0.0.2"
    # The Timestamp options are written as raw bytes (scapy's class holds one slot):
    # type 0x44, length 20, pointer 13 (second slot free), oflw 0, flag 1
    # (address + timestamp), slot 1 = 10.0.0.254 @ 0x00ABCDEF, slot 2 empty.
    ts_opt = IPOption(b"\x44\x14\x0d\x01" + bytes([10, 0, 0, 254]) + b"\x00\xab\xcd\xef" + b"\x00" * 8)
    ts_only = IPOption(b"\x44\x0c\x05\x00" + b"\x00" * 8)  # flag 0: timestamps only, 2 empty slots
    pkts = [
        # 1: ICMP echo with Record Route, 9 empty slots (ping -R style: RR 39 bytes + EOL)
        eth() / IP(src=a, dst=b, id=1, options=[IPOption_RR(pointer=4, routers=["0.0.0.0"] * 9), IPOption_EOL()])
        / ICMP(type=8, id=1, seq=1) / Raw(b"record route"),
        # 2: reply with the route partly filled (pointer 12 = two entries recorded)
        eth(MAC_B, MAC_A) / IP(src=b, dst=a, id=2, options=[IPOption_NOP(), IPOption_RR(
            pointer=12, routers=["10.0.0.2", "10.0.0.254", "0.0.0.0"])])
        / ICMP(type=0, id=1, seq=1) / Raw(b"record route"),
        # 3: UDP with Router Alert (RFC 2113), 4 bytes, no padding needed
        eth() / IP(src=a, dst="224.0.0.22", ttl=1, id=3, options=[IPOption_Router_Alert()])
        / UDP(sport=4000, dport=4001) / Raw(b"router alert"),
        # 4: Timestamp with address+timestamp pairs, NOP NOP before it
        eth() / IP(src=a, dst=b, id=4, options=[IPOption_NOP(), IPOption_NOP(), ts_opt])
        / UDP(sport=4000, dport=4002) / Raw(b"timestamp"),
        # 5: Timestamp only + NOP, then EOL padding to a 4-byte boundary
        eth() / IP(src=a, dst=b, id=5, options=[ts_only, IPOption_NOP(), IPOption_EOL()])
        / ICMP(type=8, id=1, seq=2) / Raw(b"timestamp"),
        # 6: Loose source route (2 hops) + Router Alert + NOP padding
        eth() / IP(src=a, dst=b, id=6, options=[IPOption_LSRR(pointer=4, routers=["10.0.1.254", "10.0.2.1"]),
                                              IPOption_Router_Alert(), IPOption_NOP()])
        / ICMP(type=8, id=1, seq=3) / Raw(b"lsrr"),
    ]
    return stamp(pkts)


# ---------------------------------------------------------- IPv4 fragments
def ipv4_fragments():
    a, b = "10.0.0.1", "10.0.0.2"
    udp = (eth() / IP(src=a, dst=b, id=0x1234, flags=0)
           / UDP(sport=5000, dport=5001) / Raw(bytes((i * 7) & 0xFF for i in range(3000))))
    ping = (eth() / IP(src=a, dst=b, id=0x1235, flags=0)
            / ICMP(type=8, id=2, seq=1) / Raw(bytes(i & 0xFF for i in range(2000))))
    df = (eth() / IP(src=a, dst=b, id=0x1236, flags="DF")
          / UDP(sport=5000, dport=5001) / Raw(b"not fragmented, DF set"))
    # fragment() works on the IP layer; put the Ethernet header back on each piece.
    f1 = [eth() / f for f in fragment(udp[IP], fragsize=1200)]  # 3 fragments (1200+1200+608 bytes), in order
    f2 = [eth() / f for f in fragment(ping[IP], fragsize=800)]  # 3 fragments, sent last-first
    f2.reverse()
    return stamp(f1 + f2 + [df])


# ------------------------------------------------------------- TCP options
def tcp_options():
    a, b = "10.0.0.1", "10.0.0.2"
    sp, dp = 40000, 80
    ci, si = 1000000, 2000000  # initial sequence numbers
    C = lambda **k: eth() / IP(src=a, dst=b, id=k.pop("id", 0), flags="DF") / TCP(sport=sp, dport=dp, **k)
    S = lambda **k: eth(MAC_B, MAC_A) / IP(src=b, dst=a, id=k.pop("id", 0), flags="DF") / TCP(sport=dp, dport=sp, **k)
    ts = lambda v, e: ("Timestamp", (v, e))
    nop = ("NOP", None)
    seg = 100
    data = [bytes([0x41 + n]) * seg for n in range(5)]
    pkts = [
        # 1: Linux-style SYN: MSS, SAckOK, Timestamp, NOP, WScale
        C(flags="S", seq=ci, window=64240,
          options=[("MSS", 1460), ("SAckOK", b""), ts(100, 0), nop, ("WScale", 7)]),
        # 2: SYN-ACK
        S(flags="SA", seq=si, ack=ci + 1, window=65160,
          options=[("MSS", 1400), ("SAckOK", b""), ts(500, 100), nop, ("WScale", 9)]),
        # 3: ACK with NOP NOP Timestamp
        C(flags="A", seq=ci + 1, ack=si + 1, window=502, options=[nop, nop, ts(101, 500)]),
    ]
    # 4-8: five 100-byte segments
    for n in range(5):
        pkts.append(C(flags="PA", seq=ci + 1 + n * seg, ack=si + 1, window=502,
                      options=[nop, nop, ts(102 + n, 500)]) / Raw(data[n]))
    L = lambda n: ci + 1 + n * seg  # left edge of segment n
    pkts += [
        # 9: ACK of segment 0 only (1 and 3 "lost" on the way), SACK block for segment 2
        S(flags="A", seq=si + 1, ack=L(1), window=508, options=[nop, nop, ts(510, 102), nop, nop, ("SAck", (L(2), L(3)))]),
        # 10: duplicate ACK with two SACK blocks (segments 2 and 4)
        S(flags="A", seq=si + 1, ack=L(1), window=508,
          options=[nop, nop, ts(511, 106), nop, nop, ("SAck", (L(4), L(5), L(2), L(3)))]),
        # 11, 12: the sender retransmits segments 1 and 3
        C(flags="PA", seq=L(1), ack=si + 1, window=502, options=[nop, nop, ts(110, 511)]) / Raw(data[1]),
        C(flags="PA", seq=L(3), ack=si + 1, window=502, options=[nop, nop, ts(110, 511)]) / Raw(data[3]),
        # 13: everything acknowledged
        S(flags="A", seq=si + 1, ack=L(5), window=508, options=[nop, nop, ts(515, 110)]),
        # 14: client FIN, options Timestamp then EOL (10 + 1 bytes, padded to 12)
        C(flags="FA", seq=L(5), ack=si + 1, window=502, options=[ts(120, 515), ("EOL", None)]),
        # 15: server FIN-ACK
        S(flags="FA", seq=si + 1, ack=L(5) + 1, window=508, options=[nop, nop, ts(520, 120)]),
        # 16: final ACK
        C(flags="A", seq=L(5) + 1, ack=si + 2, window=502, options=[nop, nop, ts(121, 520)]),
        # 17: a separate SYN in the old style: MSS, WScale, EOL (8 bytes), answered by
        # 18: RST-ACK from a closed port
        eth() / IP(src=a, dst=b, id=0, flags="DF")
        / TCP(sport=40001, dport=81, flags="S", seq=3000000, window=8192,
              options=[("MSS", 536), ("WScale", 0), ("EOL", None)]),
        eth(MAC_B, MAC_A) / IP(src=b, dst=a, id=0, flags="DF")
        / TCP(sport=81, dport=40001, flags="RA", seq=0, ack=3000001, window=0),
    ]
    return stamp(pkts)


# ------------------------------------------------- IPv6 extension headers
def ipv6_ext():
    a, b, r = "fd00::1", "fd00::2", "fd00::fe"
    A = lambda **k: eth("02:00:00:00:00:01", "02:00:00:00:00:02") / IPv6(src=a, hlim=64, **k)
    echo = lambda seq: ICMPv6EchoRequest(id=0x77, seq=seq, data=b"ext headers")
    srh = lambda: IPv6ExtHdrSegmentRouting(addresses=[b, r], segleft=1, lastentry=1)  # final dest first
    big = UDP(sport=6000, dport=6001) / Raw(bytes(i & 0xFF for i in range(3000)))
    pkts = [
        # 1: Hop-by-Hop (Router Alert + PadN) then ICMPv6 echo request
        A(dst=b) / IPv6ExtHdrHopByHop(options=[RouterAlert(value=0), PadN(optdata=b"")]) / echo(1),
        # 2: plain echo reply, no extension headers
        eth("02:00:00:00:00:02", "02:00:00:00:00:01") / IPv6(src=b, dst=a, hlim=64)
        / ICMPv6EchoReply(id=0x77, seq=1, data=b"ext headers"),
        # 3: Destination Options (PadN) then UDP
        A(dst=b) / IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\x00\x00\x00\x00")])
        / UDP(sport=6000, dport=6001) / Raw(b"dest opts"),
        # 4: Segment Routing header (routing type 4, 2 segments, segments left 1) to the
        #    first segment fd00::fe, ICMPv6 echo for the final destination fd00::2
        A(dst=r) / srh() / echo(2),
        # 5: atomic fragment (Fragment header, offset 0, M=0) then ICMPv6 echo
        A(dst=b) / IPv6ExtHdrFragment(id=0xabcd, offset=0, m=0) / echo(3),
        # 6: everything, in RFC 8200 order: HbH, DestOpt, Routing (SRH), Fragment, UDP
        A(dst=r) / IPv6ExtHdrHopByHop(options=[PadN(optdata=b"\x00\x00\x00\x00")])
        / IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\x00\x00\x00\x00")]) / srh()
        / IPv6ExtHdrFragment(id=0xabce, offset=0, m=0) / UDP(sport=6000, dport=6001) / Raw(b"all of them"),
    ]
    # 7-9: a 3000-byte UDP datagram cut into three fragments of at most 1280 bytes
    frags = fragment6(IPv6(src=a, dst=b, hlim=64) / IPv6ExtHdrFragment(id=0xabcf) / big, 1280)
    pkts += [eth("02:00:00:00:00:01", "02:00:00:00:00:02") / f for f in frags]
    return stamp(pkts)


# ------------------------------------------------------------------- VLAN
def send_vlan(iface):
    src, dst = "02:00:00:00:00:01", "02:00:00:00:00:02"
    e = lambda t=None: Ether(src=src, dst=dst) if t is None else Ether(src=src, dst=dst, type=t)
    ip = lambda i: IP(src="10.0.0.1", dst="10.0.0.2", id=i)
    frames = [
        # 1: 802.1Q VLAN 100, PCP 3, IPv4/UDP
        e() / Dot1Q(vlan=100, prio=3) / ip(1) / UDP(sport=5000, dport=5001) / Raw(b"vlan 100"),
        # 2: 802.1Q VLAN 200, ARP request
        Ether(src=src, dst="ff:ff:ff:ff:ff:ff") / Dot1Q(vlan=200)
        / ARP(op=1, hwsrc=src, psrc="10.0.0.1", pdst="10.0.0.2"),
        # 3: priority-tagged frame (VLAN 0, PCP 5), ICMP echo
        e() / Dot1Q(vlan=0, prio=5) / ip(2) / ICMP(type=8, id=1, seq=1) / Raw(b"priority tag"),
        # 4: 802.1Q with DEI set, VLAN 4094, IPv6/UDP
        e() / Dot1Q(vlan=4094, id=1) / IPv6(src="fd00::1", dst="fd00::2")
        / UDP(sport=5000, dport=5001) / Raw(b"vlan 4094 dei"),
        # 5: QinQ, 802.1ad S-tag 300 (0x88a8) outside, 802.1Q C-tag 100 inside, IPv4/ICMP
        e() / Dot1AD(vlan=300, prio=1) / Dot1Q(vlan=100) / ip(3) / ICMP(type=8, id=1, seq=2) / Raw(b"qinq"),
        # 6: QinQ, S-tag 301, C-tag 101, IPv4/UDP
        e() / Dot1AD(vlan=301) / Dot1Q(vlan=101, prio=2) / ip(4) / UDP(sport=5000, dport=5001) / Raw(b"qinq udp"),
        # 7: old-style double 802.1Q (0x8100 outside and inside), IPv4/UDP
        e() / Dot1Q(vlan=10) / Dot1Q(vlan=20) / ip(5) / UDP(sport=5000, dport=5001) / Raw(b"double 8100"),
    ]
    for f in frames:
        sendp(f, iface=iface)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "write":
        out = sys.argv[2].rstrip("/")
        for name, fn in [("geneve", geneve), ("ipv4-options", ipv4_options),
                         ("ipv4-fragments", ipv4_fragments), ("tcp-options", tcp_options),
                         ("ipv6-ext", ipv6_ext)]:
            wrpcap(f"{out}/{name}.pcap", fn())
    elif len(sys.argv) == 3 and sys.argv[1] == "send-vlan":
        send_vlan(sys.argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
