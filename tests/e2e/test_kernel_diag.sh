#!/usr/bin/env bash
# The kernel facts behind diagnostics (kernel_ops route_get, ct_find, nft_counters), read
# by tests/e2e/kernel_probe in the seed lab's router (net01 -- router -- net02):
#   route_get: a route via a gateway, a connected route, a local address, blackhole,
#     unreachable and prohibit routes (IPv4 and IPv6), no route, an input lookup with
#     forwarding on and off, a policy rule steering to another table, our protocol;
#   ct_find: after a ping and a TCP connection net01 -> net02, answered, then unanswered
#     once net02 has no route back (the article's story): the flows, their state and
#     counters, and the query's filters;
#   nft_counters: none before the daemon; after it applied a security group, the group's
#     drop counter as nft lists it, unchanged by allowed traffic, counting what it drops.
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

e2e_step "ct_find: conntrack on the router (a ct rule turns tracking on, accounting on)"
ip netns exec "$R" sysctl -qw net.netfilter.nf_conntrack_acct=1
ip netns exec "$R" nft add table inet diagct
ip netns exec "$R" nft add chain inet diagct fw '{ type filter hook forward priority 0; }'
ip netns exec "$R" nft add rule inet diagct fw ct state new counter
# ct NS PROTO SRC DST DPORT: ct_find's flows, one line each, then flows=N.
ct() { ip netns exec "$1" "$PROBE" ct "${@:2}"; }
check_eq "no flow before any traffic" "flows=0" "$(ct "$R" any any any 0)"

e2e_step "ct_find: a ping answered, a TCP connection answered"
check "ping net01 -> net02 (2 echoes)" e2e_in "$N1" ping -c2 -i0.2 -W2 192.168.100.2
out=$(ct "$R" icmp 192.168.150.2 192.168.100.2 0)
check_match "one icmp flow, echo request (type 8: dport 2048), replied, 2/2 packets" \
	'^proto=1 src=192\.168\.150\.2 dst=192\.168\.100\.2 sport=[0-9]+ dport=2048 reply=1 assured=0 state=0 timeout=[0-9]+ packets=2/2$' "$(head -1 <<<"$out")"
check_eq "exactly one icmp flow" "flows=1" "$(tail -1 <<<"$out")"
check "tcp net01 -> net02:12345 answered" tcp_ok "$N1" "$N2" 192.168.100.2 12345
out=$(ct "$R" tcp 192.168.150.2 192.168.100.2 12345)
check_match "the tcp flow: replied, assured, closed (TIME_WAIT 7 or CLOSE 8), packets both ways" \
	'^proto=6 src=192\.168\.150\.2 dst=192\.168\.100\.2 sport=[0-9]+ dport=12345 reply=1 assured=1 state=[78] timeout=[0-9]+ packets=[3-9][0-9]*/[2-9][0-9]*$' "$(head -1 <<<"$out")"
check_eq "exactly one flow to port 12345" "flows=1" "$(tail -1 <<<"$out")"
check "ping net01 -> net02 over IPv6" e2e_in "$N1" ping -6 -c1 -W2 fd00:100::2
check_match "the IPv6 echo: icmpv6 (58), type 128 (dport 32768), replied" \
	'^proto=58 src=fd00:150::2 dst=fd00:100::2 sport=[0-9]+ dport=32768 reply=1 assured=0 state=0 timeout=[0-9]+ packets=1/1$' \
	"$(ct "$R" icmpv6 fd00:150::2 any 0 | head -1)"

e2e_step "ct_find: net02 loses its route back; a TCP connection and a ping go unanswered"
ip -n "$N2" route del 192.168.150.0/24
e2e_bg "$N2" nc -l 12346
check_poll "net02 listens on 12346" 5 listening "$N2" 12346
check_not "tcp net01 -> net02:12346 gets no answer" e2e_in "$N1" nc -z -w1 192.168.100.2 12346
out=$(ct "$R" tcp 192.168.150.2 192.168.100.2 12346)
check_match "the tcp flow: unreplied, SYN_SENT (1), packets out, none back" \
	'^proto=6 src=192\.168\.150\.2 dst=192\.168\.100\.2 sport=[0-9]+ dport=12346 reply=0 assured=0 state=1 timeout=[0-9]+ packets=[1-9][0-9]*/0$' "$(head -1 <<<"$out")"
check_eq "exactly one flow to port 12346" "flows=1" "$(tail -1 <<<"$out")"
check_not "ping net01 -> net02 gets no answer" e2e_in "$N1" ping -c1 -W1 192.168.100.2
out=$(ct "$R" icmp 192.168.150.2 192.168.100.2 0)
check_eq "two icmp flows now" "flows=2" "$(tail -1 <<<"$out")"
check_match "one of them unreplied, 1/0 packets" 'dport=2048 reply=0 assured=0 state=0 timeout=[0-9]+ packets=1/0$' "$out"
check_eq "the query filters: nothing to port 9" "flows=0" "$(ct "$R" tcp any any 9)"
check_eq "the query filters: no udp" "flows=0" "$(ct "$R" udp any any 0)"
check_eq "the query filters: nothing from net02" "flows=0" "$(ct "$R" any 192.168.100.2 any 0)"
check_eq "every flow: 2 icmp, 2 tcp, 1 icmpv6" "flows=5" "$(ct "$R" any any any 0 | tail -1)"

e2e_step "nft_counters: no table inet vrouter yet, no counters"
ip -n "$N2" route add 192.168.150.0/24 via 192.168.100.3
ip -n "$R" route del 10.30.0.0/16 proto 245 # owned routes with no desired state stop a start
# counters NS: nft_counters through a read-only handle of its own.
counters() { ip netns exec "$1" "$PROBE" counters; }
check_eq "before the daemon: none" "counters=0" "$(counters "$R")"

e2e_step "nft_counters: the daemon applies a group guarding net02 (tcp/12345 from net01's subnet)"
e2e_daemon "$R"
e2e_api "$R" POST /v1/security-groups '{"name":"server","targets":["192.168.100.2"]}' >/dev/null
e2e_expect_status 201 "POST group server"
G=$(e2e_jq .id)
e2e_api "$R" POST /v1/security-group-rules "{\"security_group_id\":\"$G\",\"direction\":\"ingress\",\"protocol\":\"tcp\",\"port_from\":12345,\"port_to\":12345,\"cidr\":\"192.168.150.0/24\"}" >/dev/null
e2e_expect_status 201 "POST rule: ingress tcp/12345 from 192.168.150.0/24"
check_eq "the rule is active" active "$(e2e_jq .status.state)"
check_no_match "the daemon's query kernel has its nftables handle (no warning)" 'counters for diagnostics' \
	"$(cat "$(e2e__daemon_dir "$R")/vrouterd.log")"
out=$(counters "$R")
check_match "the group's drop counter, at zero" "^drop_in_$G packets=0 bytes=0\$" "$out"
check_eq "the same counters as nft lists" \
	"$(ip netns exec "$R" nft -j list counters table inet vrouter | jq -r '.nftables[] | select(.counter) | .counter | "\(.name) packets=\(.packets) bytes=\(.bytes)"' | sort)" \
	"$(grep -v '^counters=' <<<"$out" | sort)"

e2e_step "nft_counters: what the group drops is counted"
check "tcp net01 -> net02:12345 passes" tcp_ok "$N1" "$N2" 192.168.100.2 12345
check_match "an allowed connection drops nothing" "^drop_in_$G packets=0 bytes=0\$" "$(counters "$R")"
check "ping net01 -> net02 is dropped (the group allows no icmp)" ping_fails "$N1" 192.168.100.2
check_match "one echo request dropped: 1 packet, 84 bytes" "^drop_in_$G packets=1 bytes=84\$" "$(counters "$R")"
check "tcp net01 -> net02:12346 is blocked" tcp_blocked "$N1" "$N2" 192.168.100.2 12346
out=$(counters "$R")
check_match "the blocked SYNs are counted too (2 packets or more)" "^drop_in_$G packets=([2-9]|[1-9][0-9]+) bytes=[0-9]+\$" "$out"
check_eq "as nft lists them" \
	"$(ip netns exec "$R" nft -j list counters table inet vrouter | jq -r '.nftables[] | select(.counter) | .counter | "\(.name) packets=\(.packets) bytes=\(.bytes)"' | sort)" \
	"$(grep -v '^counters=' <<<"$out" | sort)"

e2e_done
