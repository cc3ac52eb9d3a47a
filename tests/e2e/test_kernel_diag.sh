#!/usr/bin/env bash
# The kernel facts behind diagnostics (kernel_ops route_get, ct_find, nft_counters), read
# by tests/e2e/kernel_probe in the seed lab's router (net01 -- router -- net02):
#   route_get: a route via a gateway, a connected route, a local address, blackhole,
#     unreachable and prohibit routes (IPv4 and IPv6), no route, an input lookup with
#     forwarding on and off, a policy rule steering to another table, our protocol;
# Every answer is checked field by field against what the kernel was given.
# shellcheck disable=SC2317 # helpers run through check
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/e2e/sg_lib.sh
. "$HERE/sg_lib.sh"
# shellcheck source=deploy/lab-topology.sh
. "${VR_SRC:-$HERE/../..}/deploy/lab-topology.sh"

e2e_init kernel_diag
PROBE=${KERNEL_PROBE:-$E2E_SRC/build/tests/kernel_probe}
[[ -x $PROBE ]] || e2e_fatal "kernel_probe not found at $PROBE: build first"

# rget NS DST [SRC IIF]: route_get's answer as one line (kernel_probe route-get).
rget() { ip netns exec "$1" "$PROBE" route-get "${@:2}"; }
# expect_route MESSAGE EXPECTED NS DST [SRC IIF]
expect_route() { check_eq "$1" "$2" "$(rget "${@:3}")"; }

e2e_step "the lab; reject routes, a gateway route, a route of ours, a policy rule to table 200"
sg_lab
ip -n "$R" route add 10.9.0.0/16 via 192.168.100.2 proto static
ip -n "$R" route add blackhole 10.10.0.0/16
ip -n "$R" route add unreachable 10.11.0.0/16
ip -n "$R" route add prohibit 10.12.0.0/16
ip -n "$R" route add 10.30.0.0/16 via 192.168.100.2 proto 245 metric 7
ip -n "$R" -6 route add fd00:9::/48 via fd00:100::2 proto static
ip -n "$R" -6 route add blackhole fd00:10::/48
ip -n "$R" -6 route add unreachable fd00:11::/48
ip -n "$R" -6 route add prohibit fd00:12::/48
# net01's traffic is steered to table 200, which knows 10.20/16 and rejects 10.21/16.
ip -n "$R" rule add from 192.168.150.0/24 lookup 200 pref 1000
ip -n "$R" route add 10.20.0.0/16 via 192.168.100.2 table 200
ip -n "$R" route add unreachable 10.21.0.0/16 table 200

e2e_step "route_get: output lookups (packets the router sends)"
expect_route "via a gateway: the matched /16, its table, protocol and gateway" \
	"ret=0 type=unicast table=254 dst=10.9.0.0/16 via=192.168.100.2 dev=enp0s2 src=192.168.100.3 proto=4 metric=0" "$R" 10.9.1.1
check_match "the same route as ip route get fibmatch" '^10\.9\.0\.0/16 via 192\.168\.100\.2 dev enp0s2' \
	"$(ip -n "$R" route get fibmatch 10.9.1.1)"
expect_route "connected: the subnet's kernel route, no gateway" \
	"ret=0 type=unicast table=254 dst=192.168.100.0/24 via=- dev=enp0s2 src=192.168.100.3 proto=2 metric=0" "$R" 192.168.100.2
expect_route "a route of ours: protocol 245 and its metric" \
	"ret=0 type=unicast table=254 dst=10.30.0.0/16 via=192.168.100.2 dev=enp0s2 src=192.168.100.3 proto=245 metric=7" "$R" 10.30.0.1
# With a policy rule in place the local table is the kernel's own (no longer merged into main).
expect_route "a local address: type local, table local, on lo" \
	"ret=0 type=local table=255 dst=192.168.150.3/32 via=- dev=lo src=192.168.150.3 proto=2 metric=0" "$R" 192.168.150.3
expect_route "blackhole: EINVAL, the route named" \
	"ret=EINVAL type=blackhole table=254 dst=10.10.0.0/16 via=- dev=- src=- proto=3 metric=0" "$R" 10.10.0.1
expect_route "unreachable: EHOSTUNREACH, the route named" \
	"ret=EHOSTUNREACH type=unreachable table=254 dst=10.11.0.0/16 via=- dev=- src=- proto=3 metric=0" "$R" 10.11.0.1
expect_route "prohibit: EACCES, the route named" \
	"ret=EACCES type=prohibit table=254 dst=10.12.0.0/16 via=- dev=- src=- proto=3 metric=0" "$R" 10.12.0.1
expect_route "no route: ENETUNREACH, nothing named" \
	"ret=ENETUNREACH type=none table=0 dst=- via=- dev=- src=- proto=0 metric=0" "$R" 10.99.0.1
expect_route "IPv6 via a gateway" \
	"ret=0 type=unicast table=254 dst=fd00:9::/48 via=fd00:100::2 dev=enp0s2 src=fd00:100::3 proto=4 metric=1024" "$R" fd00:9::1
expect_route "IPv6 blackhole: EINVAL (the kernel shows reject routes on lo)" \
	"ret=EINVAL type=blackhole table=254 dst=fd00:10::/48 via=- dev=lo src=- proto=3 metric=1024" "$R" fd00:10::1
expect_route "IPv6 unreachable: EHOSTUNREACH" \
	"ret=EHOSTUNREACH type=unreachable table=254 dst=fd00:11::/48 via=- dev=lo src=- proto=3 metric=1024" "$R" fd00:11::1
expect_route "IPv6 prohibit: EACCES" \
	"ret=EACCES type=prohibit table=254 dst=fd00:12::/48 via=- dev=lo src=- proto=3 metric=1024" "$R" fd00:12::1
expect_route "IPv6 no route: ENETUNREACH" \
	"ret=ENETUNREACH type=none table=0 dst=- via=- dev=- src=- proto=0 metric=0" "$R" fd00:99::1

e2e_step "route_get: input lookups (a packet from net01 arriving on enp0s1)"
expect_route "forwarding on: net01 -> net02 leaves on enp0s2 (connected)" \
	"ret=0 type=unicast table=254 dst=192.168.100.0/24 via=- dev=enp0s2 src=192.168.100.3 proto=2 metric=0" "$R" 192.168.100.2 192.168.150.2 enp0s1
expect_route "the policy rule steers net01 to table 200" \
	"ret=0 type=unicast table=200 dst=10.20.0.0/16 via=192.168.100.2 dev=enp0s2 src=- proto=3 metric=0" "$R" 10.20.0.5 192.168.150.2 enp0s1
expect_route "table 200's unreachable route, named in table 200" \
	"ret=EHOSTUNREACH type=unreachable table=200 dst=10.21.0.0/16 via=- dev=- src=- proto=3 metric=0" "$R" 10.21.0.5 192.168.150.2 enp0s1
expect_route "the router's own packets do not match the rule: no route to 10.20/16" \
	"ret=ENETUNREACH type=none table=0 dst=- via=- dev=- src=- proto=0 metric=0" "$R" 10.20.0.5
expect_route "from another source (not steered): main has no 10.20/16" \
	"ret=ENETUNREACH type=none table=0 dst=- via=- dev=- src=- proto=0 metric=0" "$R" 10.20.0.5 192.168.100.2 enp0s2
expect_route "input blackhole, forwarding on: EINVAL, named" \
	"ret=EINVAL type=blackhole table=254 dst=10.10.0.0/16 via=- dev=- src=- proto=3 metric=0" "$R" 10.10.0.1 192.168.100.2 enp0s2
expect_route "input to the router's own address" \
	"ret=0 type=local table=255 dst=192.168.100.3/32 via=- dev=lo src=192.168.100.3 proto=2 metric=0" "$R" 192.168.100.3 192.168.150.2 enp0s1
expect_route "IPv6 input, forwarding on" \
	"ret=0 type=unicast table=254 dst=fd00:100::/64 via=- dev=enp0s2 src=- proto=2 metric=256" "$R" fd00:100::2 fd00:150::2 enp0s1
lab_forwarding "$R" 0
expect_route "forwarding off: IPv4 answers EHOSTUNREACH before any route counts; none named" \
	"ret=EHOSTUNREACH type=none table=0 dst=- via=- dev=- src=- proto=0 metric=0" "$R" 192.168.100.2 192.168.150.2 enp0s1
expect_route "forwarding off: a blackhole is not seen either (EHOSTUNREACH, none named)" \
	"ret=EHOSTUNREACH type=none table=0 dst=- via=- dev=- src=- proto=0 metric=0" "$R" 10.10.0.1 192.168.150.2 enp0s1
expect_route "forwarding off: the router's own address still answers" \
	"ret=0 type=local table=255 dst=192.168.150.3/32 via=- dev=lo src=192.168.150.3 proto=2 metric=0" "$R" 192.168.150.3 192.168.150.2 enp0s1
expect_route "forwarding off: IPv6 input lookups ignore it (ip6_forward drops later)" \
	"ret=0 type=unicast table=254 dst=fd00:100::/64 via=- dev=enp0s2 src=- proto=2 metric=256" "$R" fd00:100::2 fd00:150::2 enp0s1
lab_forwarding "$R" 1
expect_route "forwarding back on: forwarded again" \
	"ret=0 type=unicast table=254 dst=192.168.100.0/24 via=- dev=enp0s2 src=192.168.100.3 proto=2 metric=0" "$R" 192.168.100.2 192.168.150.2 enp0s1
expect_route "a source of the other family: EINVAL before asking the kernel" \
	"ret=EINVAL type=none table=0 dst=- via=- dev=- src=- proto=0 metric=0" "$R" 10.9.1.1 fd00:150::2 enp0s1

e2e_done
