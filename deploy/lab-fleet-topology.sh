# shellcheck shell=bash
# The fleet lab's data plane, shared by deploy/lab.sh (fleet) and tests/e2e/test_fleet.sh.
# Source it; it defines functions only (and sources lab-topology.sh for its helpers).
#
#                       core: a bridge, transit 10.255.0.0/24 (fd00:255::/64)
#            +-------------------------+-------------------------+
#     enp0s1 r1 enp0s2          enp0s1 r2 enp0s2          enp0s1 r3 enp0s2
#            |                         |                         |
#     enp0s1 h1                 enp0s1 h2                 enp0s1 h3
#     192.168.1.2/24            192.168.2.2/24            192.168.3.2/24
#     fd00:1::2/64              fd00:2::2/64              fd00:3::2/64
#     default via 192.168.1.1   default via 192.168.2.1   default via 192.168.3.1
#
# Only the hosts are configured here. The routers get links and nothing else: no
# address, no route, forwarding off. Their addresses (10.255.0.N/24 on enp0s1,
# 192.168.N.1/24 on enp0s2), forwarding and routes are made through the fleet's API
# (README, "A fleet of routers"), so until then no host reaches another.
#
# The management network (the routers' APIs and etcd) is separate: fleet_mgmt_link
# gives a router a link mgmt0 onto a bridge the caller made. Everything happens inside
# the namespaces given by the caller: veth pairs are created directly inside them,
# never in the root namespace.

# shellcheck source=deploy/lab-topology.sh
. "$(dirname "${BASH_SOURCE[0]}")/lab-topology.sh"

FLEET_ROUTERS=3

# fleet_topology CORE_NS R1_NS R2_NS R3_NS H1_NS H2_NS H3_NS: the namespaces must
# exist (and be empty).
fleet_topology() {
	local core=$1 i r h
	shift
	local -a routers=("$1" "$2" "$3") hosts=("$4" "$5" "$6")
	lab_ns_prepare "$core"
	ip -n "$core" link add br0 type bridge
	ip -n "$core" link set br0 up
	for ((i = 1; i <= FLEET_ROUTERS; i++)); do
		r=${routers[i - 1]}
		h=${hosts[i - 1]}
		lab_ns_prepare "$r"
		lab_ns_prepare "$h"
		lab_forwarding "$r" 0
		lab_forwarding "$h" 0
		lab_veth "$r" enp0s1 "$core" "r$i"
		ip -n "$core" link set "r$i" master br0
		lab_veth "$r" enp0s2 "$h" enp0s1
		lab_addr "$h" enp0s1 "192.168.$i.2/24" "fd00:$i::2/64"
		# On-link gateways: accepted before the routers have these addresses.
		ip -n "$h" route add default via "192.168.$i.1" dev enp0s1
		ip -n "$h" -6 route add default via "fd00:$i::1" dev enp0s1
	done
}

# fleet_mgmt_link BRIDGE_NS ROUTER_NS PORT ADDR/PREFIX: a link mgmt0 with ADDR in
# ROUTER_NS, its peer PORT a port of br0 in BRIDGE_NS.
fleet_mgmt_link() {
	local bns=$1 rns=$2 port=$3 addr=$4
	lab_veth "$rns" mgmt0 "$bns" "$port"
	ip -n "$bns" link set "$port" master br0
	ip -n "$rns" addr add "$addr" dev mgmt0
}
