#!/usr/bin/env bash
# Regenerate every capture in pcap-samples/ from real tools: the Linux kernel
# (traffic between network namespaces joined by veth pairs, captured with
# tcpdump), scapy (sendp across a veth, or wrpcap), editcap.  sdnemu's own code
# is never involved.
#
#   sudo bash pcap-samples/make-samples.sh
#
# Needs root, iproute2, tcpdump, editcap (tshark package) and Debian's scapy
# under /usr/bin/python3.  Traffic stays inside namespaces created here, on
# private addresses; the namespaces are deleted on exit, even on failure.
# Kernel captures differ between runs in ports, sequence numbers, IP IDs,
# checksums and timestamps; the scapy files are byte-for-byte reproducible.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
  echo "make-samples.sh: must run as root (it creates network namespaces)" >&2
  exit 1
fi
for tool in ip tcpdump editcap; do
  command -v "$tool" >/dev/null || { echo "make-samples.sh: $tool not found" >&2; exit 1; }
done
PY=/usr/bin/python3
"$PY" -c 'import scapy' 2>/dev/null || { echo "make-samples.sh: $PY has no scapy (apt-get install python3-scapy)" >&2; exit 1; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NETTOOL="$HERE/nettool.py"
SCAPY="$HERE/scapy-samples.py"
TAG="pcs$$"                       # namespace name prefix, unique per run
WORK=$(mktemp -d "/tmp/pcap-samples.XXXXXX")
NAMESPACES=()
PIDS=()

cleanup() {
  local rc=$?
  local p ns
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]:-}"; do
    [ -n "$p" ] && wait "$p" 2>/dev/null || true
  done
  for ns in "${NAMESPACES[@]:-}"; do
    [ -n "$ns" ] && ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$WORK"
  if [ "$rc" != 0 ]; then echo "make-samples.sh: FAILED (exit $rc)" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "make-samples.sh: $*" >&2; }

# ns NAME [ipv6]: create namespace $TAG-NAME. IPv6 is disabled unless asked
# for, so no router solicitations or MLD reports appear in IPv4 captures.
ns() {
  local n="$TAG-$1"
  ip netns add "$n"
  NAMESPACES+=("$n")
  ip -n "$n" link set lo up
  nsx "$1" sysctl -qw net.ipv4.ping_group_range="0 2147483647"   # let root use ICMP ping sockets
  nsx "$1" sysctl -qw net.ipv4.icmp_ratelimit=0
  if [ "${2:-}" = ipv6 ]; then
    nsx "$1" sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
    nsx "$1" sysctl -qw net.ipv6.conf.default.router_solicitations=0 net.ipv6.conf.all.router_solicitations=0
  else
    nsx "$1" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.all.disable_ipv6=1
  fi
}
nsx() { local n="$TAG-$1"; shift; ip netns exec "$n" "$@"; }
delns() {
  local n
  for n in "$@"; do ip netns del "$TAG-$n"; done
}

# veth NS1 IF1 MAC1 NS2 IF2 MAC2: a veth pair between two namespaces, up, with
# tx checksum offload off so captured packets carry finished checksums.
veth() {
  ip link add "$2" netns "$TAG-$1" address "$3" type veth peer name "$5" netns "$TAG-$4" address "$6"
  ip -n "$TAG-$1" link set "$2" up
  ip -n "$TAG-$4" link set "$5" up
  nsx "$1" "$PY" "$NETTOOL" offload-off "$2"
  nsx "$4" "$PY" "$NETTOOL" offload-off "$5"
}

# cap_start VAR NS IFACE FILE [tcpdump options and filter...]: start tcpdump,
# wait until it is listening, store its PID in VAR.
cap_start() {
  local var=$1 n=$2 ifc=$3 file=$4 i
  shift 4
  ip netns exec "$TAG-$n" tcpdump --immediate-mode -Z root -U -n -i "$ifc" -w "$WORK/$file" "$@" \
    2>"$WORK/$file.log" &
  local pid=$!
  PIDS+=("$pid")
  printf -v "$var" '%s' "$pid"
  for i in $(seq 100); do
    grep -q "listening on" "$WORK/$file.log" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  cat "$WORK/$file.log" >&2
  return 1
}
cap_stop() {
  sleep 0.3
  kill -INT "$1"
  reap "$1"
}

# wait_ready FILE: wait for a server started by nettool.py to be bound.
wait_ready() {
  local i
  for i in $(seq 100); do [ -e "$1" ] && return 0; sleep 0.05; done
  echo "server did not start ($1)" >&2
  return 1
}

# bg VAR NS cmd...: run cmd in namespace NS in the background (ip netns exec
# execs it, so the PID is the command's own), remember the PID for cleanup.
bg() {
  local var=$1 n=$2
  shift 2
  ip netns exec "$TAG-$n" "$@" &
  PIDS+=("$!")
  printf -v "$var" '%s' "$!"
}
# reap PID: wait for a background job and forget it (so cleanup never signals
# a PID that may since have been reused).  Returns the job's status.
reap() {
  local rc=0 p keep=()
  wait "$1" || rc=$?
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && [ "$p" != "$1" ] && keep+=("$p"); done
  PIDS=("${keep[@]:-}")
  return "$rc"
}

# ---------------------------------------------------------------- VXLAN ----
# vxlan_capture VNI OUTFILE: two namespaces joined by a veth underlay
# (192.168.100.1/.2), a kernel vxlan device in each (overlay 10.200.0.1/.2),
# tcpdump on namespace a's underlay veth.
vxlan_capture() {
  local vni=$1 out=$2 tp srv
  log "$out (VXLAN VNI $vni, kernel)"
  ns va; ns vb
  veth va u1 02:00:00:00:01:01 vb u2 02:00:00:00:01:02
  ip -n "$TAG-va" addr add 192.168.100.1/24 dev u1
  ip -n "$TAG-vb" addr add 192.168.100.2/24 dev u2
  ip -n "$TAG-va" link add vx0 address 02:00:00:00:02:01 type vxlan id "$vni" dstport 4789 \
    local 192.168.100.1 remote 192.168.100.2 dev u1
  ip -n "$TAG-vb" link add vx0 address 02:00:00:00:02:02 type vxlan id "$vni" dstport 4789 \
    local 192.168.100.2 remote 192.168.100.1 dev u2
  ip -n "$TAG-va" addr add 10.200.0.1/24 dev vx0
  ip -n "$TAG-vb" addr add 10.200.0.2/24 dev vx0
  ip -n "$TAG-va" link set vx0 up
  ip -n "$TAG-vb" link set vx0 up
  nsx va "$PY" "$NETTOOL" offload-off vx0
  nsx vb "$PY" "$NETTOOL" offload-off vx0
  cap_start tp va u1 "$out"
  # ARP through the tunnel (and underlay ARP) happens on the first ping.
  nsx va "$PY" "$NETTOOL" ping 10.200.0.2 --count 3
  bg srv vb "$PY" "$NETTOOL" udp-server 10.200.0.2 5000 "$WORK/$out.udp.ready"
  wait_ready "$WORK/$out.udp.ready"
  nsx va "$PY" "$NETTOOL" udp-send 10.200.0.2 5000 "hello over vxlan" --reply
  reap "$srv"
  bg srv vb "$PY" "$NETTOOL" tcp-server 10.200.0.2 8080 "$WORK/$out.tcp.ready"
  wait_ready "$WORK/$out.tcp.ready"
  nsx va "$PY" "$NETTOOL" tcp-client 10.200.0.2 8080
  reap "$srv"
  cap_stop "$tp"
  delns va vb
}

# ------------------------------------------------------------------ ARP ----
arp_capture() {
  local tp
  log "arp.pcap (kernel)"
  ns aa; ns ab
  veth aa e0 02:00:00:00:00:01 ab e0 02:00:00:00:00:02
  ip -n "$TAG-aa" addr add 10.0.0.1/24 dev e0
  ip -n "$TAG-ab" addr add 10.0.0.2/24 dev e0
  # Short neighbour timers so the kernel re-validates its entry with a
  # unicast ARP probe within a couple of seconds.
  nsx aa sysctl -qw net.ipv4.neigh.e0.base_reachable_time_ms=500 net.ipv4.neigh.e0.delay_first_probe_time=1
  nsx ab sysctl -qw net.ipv4.conf.e0.arp_notify=1
  cap_start tp aa e0 arp.pcap arp or icmp
  # broadcast request, reply, then the echo that triggered it
  nsx aa "$PY" "$NETTOOL" ping 10.0.0.2
  # gratuitous ARP: b changes its MAC address with arp_notify=1
  ip -n "$TAG-ab" link set e0 address 02:00:00:00:00:22
  sleep 1.2
  # entry is STALE now: this echo puts it in DELAY, then a unicast probe follows
  nsx aa "$PY" "$NETTOOL" ping 10.0.0.2
  sleep 1.5
  cap_stop "$tp"
  delns aa ab
}

# ------------------------------------------------------------- IPv6 ND ----
ipv6_nd_capture() {
  local tp srv
  log "ipv6-nd.pcap (kernel)"
  ns 6a ipv6; ns 6b ipv6
  veth 6a e0 02:00:00:00:00:01 6b e0 02:00:00:00:00:02
  ip -n "$TAG-6a" addr add fd00:0:0:1::1/64 dev e0 nodad
  ip -n "$TAG-6b" addr add fd00:0:0:1::2/64 dev e0 nodad
  # Only echo (128/129), NS (135), NA (136) and UDP: no MLD/RS noise.
  cap_start tp 6a e0 ipv6-nd.pcap \
    '(icmp6 and (ip6[40] == 128 or ip6[40] == 129 or ip6[40] == 135 or ip6[40] == 136)) or (ip6 and udp)'
  nsx 6a "$PY" "$NETTOOL" ping fd00:0:0:1::2 --count 2
  bg srv 6b "$PY" "$NETTOOL" udp-server fd00:0:0:1::2 5000 "$WORK/nd.udp.ready"
  wait_ready "$WORK/nd.udp.ready"
  nsx 6a "$PY" "$NETTOOL" udp-send fd00:0:0:1::2 5000 "hello over ipv6" --reply
  reap "$srv"
  cap_stop "$tp"
  delns 6a 6b
}

# --------------------------------------------------------- ICMP errors ----
# h1 (10.0.1.1) -- r (10.0.1.254 | 10.0.2.254, forwarding) -- h2 (10.0.2.1)
# The r--h2 link has MTU 1280.  tcpdump on h1's interface.
icmp_errors_capture() {
  local tp
  log "icmp-errors.pcap (kernel)"
  ns h1; ns r; ns h2
  veth h1 e0 02:00:00:00:00:11 r e1 02:00:00:00:00:fe
  veth r e2 02:00:00:00:01:fe h2 e0 02:00:00:00:01:21
  ip -n "$TAG-r" link set e2 mtu 1280
  ip -n "$TAG-h2" link set e0 mtu 1280
  ip -n "$TAG-h1" addr add 10.0.1.1/24 dev e0
  ip -n "$TAG-r" addr add 10.0.1.254/24 dev e1
  ip -n "$TAG-r" addr add 10.0.2.254/24 dev e2
  ip -n "$TAG-h2" addr add 10.0.2.1/24 dev e0
  ip -n "$TAG-h1" route add default via 10.0.1.254
  ip -n "$TAG-h2" route add default via 10.0.2.254
  nsx r sysctl -qw net.ipv4.ip_forward=1
  cap_start tp h1 e0 icmp-errors.pcap ip
  # 1. UDP to a closed port on h2 -> ICMP port unreachable from h2's kernel
  nsx h1 "$PY" "$NETTOOL" udp-send 10.0.2.1 33434 "anyone on 33434?"
  # 2. echo with TTL 1 -> ICMP time exceeded (TTL exceeded in transit) from r
  nsx h1 "$PY" "$NETTOOL" ping 10.0.2.1 --ttl 1 --timeout 0.5
  # 3. 1400-byte echo with DF over the 1280-byte link -> ICMP fragmentation needed (mtu 1280) from r
  nsx h1 "$PY" "$NETTOOL" ping 10.0.2.1 --df --size 1372 --timeout 0.5
  # 4. UDP to a network r has no route for -> ICMP network unreachable from r
  nsx h1 "$PY" "$NETTOOL" udp-send 10.0.3.1 33434 "no route to 10.0.3.0/24"
  cap_stop "$tp"
  delns h1 r h2
}

# ----------------------------------------------------------------- TCP ----
# Also captured at the same time in nanosecond precision (tcp-kernel-nano.pcap)
# and converted to pcapng afterwards.
tcp_capture() {
  local tp tpn srv
  log "tcp-kernel.pcap, tcp-kernel-nano.pcap (kernel)"
  ns ta; ns tb
  veth ta e0 02:00:00:00:00:01 tb e0 02:00:00:00:00:02
  ip -n "$TAG-ta" addr add 10.0.0.1/24 dev e0
  ip -n "$TAG-tb" addr add 10.0.0.2/24 dev e0
  cap_start tp ta e0 tcp-kernel.pcap tcp
  cap_start tpn ta e0 tcp-kernel-nano.pcap --time-stamp-precision=nano tcp
  bg srv tb "$PY" "$NETTOOL" tcp-server 10.0.0.2 8080 "$WORK/tcp.ready"
  wait_ready "$WORK/tcp.ready"
  nsx ta "$PY" "$NETTOOL" tcp-client 10.0.0.2 8080
  reap "$srv"
  cap_stop "$tp"
  cap_stop "$tpn"
  delns ta tb
}

# ---------------------------------------------------------------- VLAN ----
vlan_capture() {
  local tp
  log "vlan.pcap (scapy sendp, tcpdump)"
  ns la; ns lb
  veth la e0 02:00:00:00:00:01 lb e0 02:00:00:00:00:02
  cap_start tp lb e0 vlan.pcap
  nsx la "$PY" "$SCAPY" send-vlan e0
  cap_stop "$tp"
  delns la lb
}

# ----------------------------------------------------------- tcpdump -i any ----
# Linux cooked captures, as `tcpdump -i any` writes them: SLL2 (LINKTYPE 276,
# tcpdump 4.99's default) and SLL v1 (`-y LINUX_SLL`, LINKTYPE 113), both of
# an echo over a veth and a UDP datagram to a closed port on lo.
any_capture() {
  local t2 t1
  log "any-kernel-sll2.pcap, any-kernel-sll.pcap (kernel, tcpdump -i any)"
  ns ya; ns yb
  veth ya e0 02:00:00:00:00:01 yb e0 02:00:00:00:00:02
  ip -n "$TAG-ya" addr add 10.0.0.1/24 dev e0
  ip -n "$TAG-yb" addr add 10.0.0.2/24 dev e0
  cap_start t2 ya any any-kernel-sll2.pcap
  cap_start t1 ya any any-kernel-sll.pcap -y LINUX_SLL
  nsx ya "$PY" "$NETTOOL" ping 10.0.0.2
  nsx ya "$PY" "$NETTOOL" udp-send 127.0.0.1 40000 hello
  sleep 0.5
  cap_stop "$t2"
  cap_stop "$t1"
  delns ya yb
}

vxlan_capture 5001 vxlan-kernel.pcap
vxlan_capture 16000000 vxlan-kernel-bigvni.pcap
arp_capture
ipv6_nd_capture
icmp_errors_capture
tcp_capture
vlan_capture
any_capture

log "scapy files (wrpcap)"
"$PY" "$SCAPY" write "$WORK"

log "tcp-kernel.pcapng (editcap)"
editcap -F pcapng "$WORK/tcp-kernel.pcap" "$WORK/tcp-kernel.pcapng"

for f in vxlan-kernel.pcap vxlan-kernel-bigvni.pcap arp.pcap ipv6-nd.pcap icmp-errors.pcap \
         tcp-kernel.pcap tcp-kernel-nano.pcap tcp-kernel.pcapng vlan.pcap any-kernel-sll2.pcap any-kernel-sll.pcap \
         geneve.pcap ipv4-options.pcap ipv4-fragments.pcap tcp-options.pcap ipv6-ext.pcap; do
  [ -s "$WORK/$f" ] || { echo "make-samples.sh: $f was not produced" >&2; exit 1; }
  install -m 0644 "$WORK/$f" "$HERE/$f"
done
log "done: $(ls "$HERE"/*.pcap "$HERE"/*.pcapng | wc -l) files in $HERE"
