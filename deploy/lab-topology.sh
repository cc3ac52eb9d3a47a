# shellcheck shell=bash
# The seed lab's topology (the article's three machines), shared by deploy/lab.sh and
# tests/e2e/test_seed_lab.sh. Source it; it defines functions only.
#
#   net01 enp0s1 ---- enp0s1 router enp0s2 ---- enp0s1 net02
#   192.168.150.2/24      192.168.150.3/24  192.168.100.3/24      192.168.100.2/24
#   fd00:150::2/64        fd00:150::3/64    fd00:100::3/64        fd00:100::2/64
#
# Everything happens inside the three namespaces given by the caller: veth pairs are
# created directly inside them (never in the root namespace), sysctls are written
# through `ip netns exec`, which only sees the namespace's own /proc/sys/net.

# lab_ns_prepare NS: loopback up, no IPv6 duplicate address detection delays.
lab_ns_prepare() {
	local ns=$1
	ip -n "$ns" link set lo up
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
}

# lab_forwarding NS 0|1: IPv4 and IPv6 forwarding inside NS.
lab_forwarding() {
	local ns=$1 on=$2
	ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward="$on" net.ipv6.conf.all.forwarding="$on"
}

# lab_veth NS1 IF1 NS2 IF2: a veth pair with one end in each namespace, both up.
lab_veth() {
	local ns1=$1 if1=$2 ns2=$3 if2=$4
	ip -n "$ns1" link add "$if1" type veth peer name "$if2" netns "$ns2"
	ip -n "$ns1" link set "$if1" up
	ip -n "$ns2" link set "$if2" up
}

# lab_addr NS IF ADDR/PREFIX...: addresses (IPv6 ones without DAD).
lab_addr() {
	local ns=$1 ifname=$2 a
	shift 2
	for a in "$@"; do
		if [[ $a == *:* ]]; then
			ip -n "$ns" -6 addr add "$a" dev "$ifname" nodad
		else
			ip -n "$ns" addr add "$a" dev "$ifname"
		fi
	done
}

# lab_topology ROUTER_NS NET01_NS NET02_NS: the namespaces must exist (and be empty).
# No routes beyond the connected ones, as in the article: net01 cannot reach net02 yet.
lab_topology() {
	local r=$1 n1=$2 n2=$3 ns
	for ns in "$r" "$n1" "$n2"; do
		lab_ns_prepare "$ns"
	done
	lab_forwarding "$n1" 0
	lab_forwarding "$n2" 0
	lab_forwarding "$r" 1

	lab_veth "$r" enp0s1 "$n1" enp0s1
	lab_veth "$r" enp0s2 "$n2" enp0s1

	lab_addr "$r" enp0s1 192.168.150.3/24 fd00:150::3/64
	lab_addr "$r" enp0s2 192.168.100.3/24 fd00:100::3/64
	lab_addr "$n1" enp0s1 192.168.150.2/24 fd00:150::2/64
	lab_addr "$n2" enp0s1 192.168.100.2/24 fd00:100::2/64
}
