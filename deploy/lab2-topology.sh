# shellcheck shell=bash
# The two-router lab's topology, shared by deploy/lab.sh (up2) and
# tests/e2e/test_two_routers.sh. Source it; it defines functions only (and sources
# lab-topology.sh for the helpers they share).
#
#   net01 enp0s1 --- enp0s1 r1 enp0s2 --- transit --- enp0s1 r2 enp0s2 --- enp0s1 net02
#   192.168.150.2/24                                                     192.168.100.2/24
#   fd00:150::2/64                                                         fd00:100::2/64
#   default via 192.168.150.3                                   default via 192.168.100.3
#   (-6 default via fd00:150::3)                                (-6 default via fd00:100::3)
#
# Only the hosts are configured here. The routers get links and nothing else: no
# address, no route, forwarding off. Their addresses (192.168.150.3/24 and
# 10.255.0.1/30 on r1, 10.255.0.2/30 and 192.168.100.3/24 on r2, and the fd00:…
# equivalents), forwarding and routes are meant to be made through each router's
# vrouterd API, so until then net01 cannot reach net02.
#
# Everything happens inside the four namespaces given by the caller: veth pairs are
# created directly inside them (never in the root namespace), sysctls are written
# through `ip netns exec`, which only sees the namespace's own /proc/sys/net.

# shellcheck source=deploy/lab-topology.sh
. "$(dirname "${BASH_SOURCE[0]}")/lab-topology.sh"

# lab2_topology R1_NS R2_NS NET01_NS NET02_NS: the namespaces must exist (and be empty).
lab2_topology() {
	local r1=$1 r2=$2 n1=$3 n2=$4 ns
	for ns in "$r1" "$r2" "$n1" "$n2"; do
		lab_ns_prepare "$ns"
		lab_forwarding "$ns" 0
	done

	lab_veth "$n1" enp0s1 "$r1" enp0s1
	lab_veth "$r1" enp0s2 "$r2" enp0s1 # the transit link
	lab_veth "$r2" enp0s2 "$n2" enp0s1

	lab_addr "$n1" enp0s1 192.168.150.2/24 fd00:150::2/64
	lab_addr "$n2" enp0s1 192.168.100.2/24 fd00:100::2/64
	# On-link gateways: accepted before the routers have these addresses.
	ip -n "$n1" route add default via 192.168.150.3 dev enp0s1
	ip -n "$n1" -6 route add default via fd00:150::3 dev enp0s1
	ip -n "$n2" route add default via 192.168.100.3 dev enp0s1
	ip -n "$n2" -6 route add default via fd00:100::3 dev enp0s1
}
