#!/usr/bin/env bash
# What the security-group guards cover beyond forwarded traffic, in the seed lab (net01 --
# router -- net02; net02 also has .5 and .6 in 192.168.100.0/24 and fd00:100::/64), IPv4
# and IPv6.
#   no source-port escape (vrouterd on net02, a `local` group allowing only tcp/80 out): a
#     process on net02 using source port 8080, the API's, cannot open net01:12345;
#   the anti-lockout is the API's listening socket, nothing more (the same group, no
#     ingress rules): with the API on 192.168.100.2:8080 net01 reaches it, not a service
#     bound to 192.168.100.5:8080; the same with the API on [fd00:100::2]:8080; with the
#     API on 0.0.0.0:8080 port 8080 answers on every IPv4 address, an IPv6 service on port
#     8080 does not;
#   the router's own traffic (vrouterd on the router, net02 guarded): the router's ping
#     and TCP to net02 are dropped unless a rule allows the router's address; net02's
#     egress rules govern its connections to the router's addresses; replies, the
#     router's ICMP errors about net02's packets and neighbour discovery pass;
#   a target CIDR holding the router's address (192.168.100.0/24) guards the hosts in it,
#     not the router: the router still reaches itself, net02 still reaches the router;
#     the API on the router's 192.168.100.3:8080 stays reachable from net02 (in that
#     rule-less group) through a rule-less `local` group, a service on the router's
#     192.168.150.3:8080 does not; once net02's group has egress rules, they govern its
#     connections to the API as well.
# shellcheck disable=SC2317,SC2016 # helpers run through check; sh -c scripts
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/e2e/sg_lib.sh
. "$HERE/sg_lib.sh"
# shellcheck source=deploy/lab-topology.sh
. "${VR_SRC:-$HERE/../..}/deploy/lab-topology.sh"

e2e_init sg_scope

# ---------------------------------------------------------------- helpers

# api NS METHOD PATH [JSON]: a call to the daemon in NS; the answer's id in $ID.
api() {
	e2e_api "$@" >/dev/null
	ID=$(e2e_jq '.id // empty')
}
rule_json() { # rule_json GROUP DIRECTION PROTO PORT|- CIDR
	local ports=""
	[[ $4 == - ]] || ports=",\"port_from\":$4,\"port_to\":$4"
	printf '{"security_group_id":"%s","direction":"%s","protocol":"%s"%s,"cidr":"%s"}' "$1" "$2" "$3" "$ports" "$5"
}
# rule NS GROUP DIRECTION PROTO PORT|- CIDR: POST the rule, expect 201 and active.
rule() {
	local ns=$1
	shift
	api "$ns" POST /v1/security-group-rules "$(rule_json "$@")"
	e2e_expect_status 201 "POST rule $*"
	check_eq "rule $* active" active "$(e2e_jq .status.state)"
}
# group NS JSON: POST the group, expect 201; its id in $ID.
group() {
	api "$1" POST /v1/security-groups "$2"
	e2e_expect_status 201 "POST group $2"
}
healthz() { ip netns exec "$1" curl -gsf --max-time 3 "http://$2:8080/healthz"; } # healthz FROM HOST
# hop_limit_error FROM ADDR: a ping with TTL / hop limit 1 gets the router's ICMP error back.
hop_limit_error() {
	grep -E 'Time to live exceeded|Time exceeded: Hop limit' <<<"$(ip netns exec "$1" ping "$(fam "$2")" -c1 -W1 -t1 "$2" 2>&1 || true)"
}

# ---------------------------------------------------------------- the lab

e2e_step "build the lab; routes by hand; second addresses on net02"
sg_lab
# .5: services beside the API; .6: a source no earlier check used (see below)
ip -n "$N2" addr add 192.168.100.5/24 dev enp0s1
ip -n "$N2" addr add 192.168.100.6/24 dev enp0s1
# preferred_lft 0: never chosen as a source address unless asked for
ip -n "$N2" -6 addr add fd00:100::5/64 dev enp0s1 nodad preferred_lft 0
ip -n "$N2" -6 addr add fd00:100::6/64 dev enp0s1 nodad preferred_lft 0
TCP_BIND=192.168.100.5 check "before any group: net01 reaches a service on 192.168.100.5:8080" \
	tcp_ok "$N1" "$N2" 192.168.100.5 8080
check "before any group: the router pings net02" ping_ok "$R" 192.168.100.2

# ---------------------------------------------------------------- the API's socket only

e2e_step "no source-port escape: net02's egress only tcp/80; source port 8080 does not help"
e2e_daemon "$N2"
group "$N2" '{"name":"ufw","targets":["local"]}'
GL=$ID
rule "$N2" "$GL" egress tcp 80 192.168.150.0/24
rule "$N2" "$GL" egress tcp 80 fd00:150::/64
check "net02 -> net01:80 passes" tcp_ok "$N2" "$N1" 192.168.150.2 80
check "net02 -> net01:12345 is blocked" tcp_blocked "$N2" "$N1" 192.168.150.2 12345
# A blocked attempt leaves no socket behind; a connection that got through would leave
# its source 192.168.100.2:8080 in TIME_WAIT, and the API could not bind it below. So the
# passing ones from port 8080 come last, from addresses port 8080 was never used on.
TCP_SPORT=8080 check "net02 (source port 8080) -> net01:12345 is blocked" \
	tcp_blocked "$N2" "$N1" 192.168.150.2 12345 192.168.100.2
TCP_SPORT=8080 check "net02 (source port 8080) -> [fd00:150::2]:12345 is blocked" \
	tcp_blocked "$N2" "$N1" fd00:150::2 12345 fd00:100::2
check "the API over loopback still answers" healthz "$N2" 127.0.0.1

e2e_step "anti-lockout: API on 192.168.100.2:8080; net02's local group has no ingress rules"
e2e_restart "$N2" --listen 192.168.100.2:8080
check "the guard is in force: ping net01 -> net02 dropped" ping_fails "$N1" 192.168.100.2
check "net01 reaches the API at 192.168.100.2:8080" healthz "$N1" 192.168.100.2
TCP_BIND=192.168.100.5 check "net01 -> a service on 192.168.100.5:8080 (not the API's address) is blocked" \
	tcp_blocked "$N1" "$N2" 192.168.100.5 8080
check "tcp net01 -> 192.168.100.2:12345 is blocked" tcp_blocked "$N1" "$N2" 192.168.100.2 12345
check "loopback inside net02 still passes: ping 127.0.0.1" ping_ok "$N2" 127.0.0.1

e2e_step "anti-lockout: API on [fd00:100::2]:8080"
e2e_restart "$N2" --listen "[fd00:100::2]:8080"
check "net01 reaches the API at [fd00:100::2]:8080" healthz "$N1" "[fd00:100::2]"
TCP_BIND=fd00:100::5 check "net01 -> a service on [fd00:100::5]:8080 is blocked" \
	tcp_blocked "$N1" "$N2" fd00:100::5 8080
TCP_BIND=192.168.100.2 check "net01 -> a service on 192.168.100.2:8080 is blocked (the API is on IPv6)" \
	tcp_blocked "$N1" "$N2" 192.168.100.2 8080

e2e_step "anti-lockout: API on 0.0.0.0:8080: the port on every IPv4 address, not on IPv6"
e2e_restart "$N2" --listen 0.0.0.0:8080
check "net01 reaches the API at 192.168.100.2:8080" healthz "$N1" 192.168.100.2
check "net01 reaches the API at 192.168.100.5:8080" healthz "$N1" 192.168.100.5
TCP_BIND=fd00:100::5 check "net01 -> a service on [fd00:100::5]:8080 is blocked (the API is IPv4 only)" \
	tcp_blocked "$N1" "$N2" fd00:100::5 8080

e2e_step "source port 8080 gets what the egress rules allow, like any other port"
e2e_restart "$N2" --listen 127.0.0.1:8080
TCP_SPORT=8080 check "net02 (192.168.100.6, source port 8080) -> net01:80 passes" \
	tcp_ok "$N2" "$N1" 192.168.150.2 80 192.168.100.6
TCP_SPORT=8080 check "net02 ([fd00:100::6], source port 8080) -> [fd00:150::2]:80 passes" \
	tcp_ok "$N2" "$N1" fd00:150::2 80 fd00:100::6
api "$N2" DELETE "/v1/security-groups/$GL"
e2e_expect_status 204 "DELETE net02's local group"
check_not "no table inet vrouter left on net02" has_vtable "$N2"

# ---------------------------------------------------------------- the router's own traffic

e2e_step "the router's own traffic to a guarded host: only what a rule allows"
e2e_daemon "$R"
group "$R" '{"name":"server","targets":["192.168.100.2","fd00:100::2"]}'
GS=$ID
rule "$R" "$GS" ingress tcp 12345 192.168.150.0/24
rule "$R" "$GS" ingress tcp 12345 fd00:150::/64
check "tcp net01 -> net02:12345 passes (forward path)" tcp_ok "$N1" "$N2" 192.168.100.2 12345
check "ping router -> net02 is dropped" ping_fails "$R" 192.168.100.2
check "ping -6 router -> net02 is dropped" ping_fails "$R" fd00:100::2
check "tcp router (192.168.100.3) -> net02:12345 is blocked (not in 192.168.150.0/24)" \
	tcp_blocked "$R" "$N2" 192.168.100.2 12345
check "tcp router -> [fd00:100::2]:12345 is blocked" tcp_blocked "$R" "$N2" fd00:100::2 12345
check "tcp router -> net02:22 is blocked" tcp_blocked "$R" "$N2" 192.168.100.2 22
check "the router's ICMP errors about net02's packets pass (related): ping -t1 from net02" \
	hop_limit_error "$N2" 192.168.150.2
check "the same over IPv6" hop_limit_error "$N2" fd00:150::2
check "tcp router from 192.168.150.3 (in the rule's cidr) -> net02:12345 passes" \
	tcp_ok "$R" "$N2" 192.168.100.2 12345 192.168.150.3
check "net02 -> router:12345 passes: net02's egress is free, the router's replies pass" \
	tcp_ok "$N2" "$R" 192.168.100.3 12345
check "ping net02 -> router passes: echo replies leave the router" ping_ok "$N2" 192.168.100.3
check "the router's API over loopback answers" healthz "$R" 127.0.0.1
rule "$R" "$GS" ingress icmp - 192.168.100.3/32
rule "$R" "$GS" ingress icmpv6 - fd00:100::3/128
flush_neigh "$R" "$N2"
check "ping router -> net02 passes with icmp from 192.168.100.3" ping_ok "$R" 192.168.100.2
check "ping -6 router -> net02 passes after ip neigh flush (ND both ways)" ping_ok "$R" fd00:100::2
check "tcp router -> net02:22 is still blocked" tcp_blocked "$R" "$N2" 192.168.100.2 22

e2e_step "a guarded host's egress rules govern its connections to the router"
rule "$R" "$GS" egress tcp 80 192.168.150.0/24
rule "$R" "$GS" egress tcp 80 fd00:150::/64
check "net02 -> net01:80 passes (forward path)" tcp_ok "$N2" "$N1" 192.168.150.2 80
check "net02 -> router 192.168.100.3:12345 is blocked" tcp_blocked "$N2" "$R" 192.168.100.3 12345
check "net02 -> router 192.168.150.3:12345 is blocked" tcp_blocked "$N2" "$R" 192.168.150.3 12345
check "net02 -> router [fd00:100::3]:12345 is blocked" tcp_blocked "$N2" "$R" fd00:100::3 12345
check "ping net02 -> router is blocked" ping_fails "$N2" 192.168.100.3
check "ping -6 net02 -> router is blocked" ping_fails "$N2" fd00:100::3
check "net02 -> router 192.168.150.3:80 passes (in the egress rule's 192.168.150.0/24)" \
	tcp_ok "$N2" "$R" 192.168.150.3 80
check "net02 -> router [fd00:150::3]:80 passes" tcp_ok "$N2" "$R" fd00:150::3 80
flush_neigh "$R" "$N2"
check "ping router -> net02 still passes: the echo replies are replies" ping_ok "$R" 192.168.100.2
check "ping -6 router -> net02 after ip neigh flush: net02's ND passes its egress guard" \
	ping_ok "$R" fd00:100::2
check "tcp net01 -> net02:12345 still passes" tcp_ok "$N1" "$N2" 192.168.100.2 12345
api "$R" DELETE "/v1/security-groups/$GS"
e2e_expect_status 204 "DELETE group server"

# ---------------------------------------------------------------- targets holding the router

e2e_step "a target CIDR holding the router's address; the router's API on 192.168.100.3:8080"
e2e_restart "$R" --listen 192.168.100.3:8080
group "$R" '{"name":"subnet","targets":["192.168.100.0/24","fd00:100::/64"]}'
GN=$ID
check "ping router -> net02 is dropped (net02 is in 192.168.100.0/24, no rules)" ping_fails "$R" 192.168.100.2
check "ping router -> its own 192.168.100.3 passes (loopback)" ping_ok "$R" 192.168.100.3
check "ping -6 router -> its own fd00:100::3 passes (loopback)" ping_ok "$R" fd00:100::3
check "tcp router -> its own 192.168.100.3:12345 passes" tcp_ok "$R" "$R" 192.168.100.3 12345
check "net02 -> router 192.168.100.3:12345 passes: the target does not guard the router" \
	tcp_ok "$N2" "$R" 192.168.100.3 12345
check "net02 reaches the router's API at 192.168.100.3:8080" healthz "$N2" 192.168.100.3
group "$R" '{"name":"self","targets":["local"]}'
GSELF=$ID
check "the router's local group (no rules) is in force: net02 -> router:12345 is blocked" \
	tcp_blocked "$N2" "$R" 192.168.100.3 12345
check "ping net01 -> router is blocked" ping_fails "$N1" 192.168.150.3
check "net02 (in a rule-less group) still reaches the API at 192.168.100.3:8080" healthz "$N2" 192.168.100.3
TCP_BIND=192.168.150.3 check "net01 -> a service on the router's 192.168.150.3:8080 is blocked" \
	tcp_blocked "$N1" "$R" 192.168.150.3 8080
check "net01 reaches the API at 192.168.100.3:8080 too" healthz "$N1" 192.168.100.3
rule "$R" "$GN" egress tcp 80 192.168.150.0/24
check "net01 still reaches the API" healthz "$N1" 192.168.100.3
check_not "net02's egress rules (only tcp/80 out) govern its connections to the API as well" \
	healthz "$N2" 192.168.100.3
check "tcp router -> its own 192.168.100.3:12345 still passes (loopback)" \
	tcp_ok "$R" "$R" 192.168.100.3 12345
check "ping router -> its own 192.168.100.3 still passes" ping_ok "$R" 192.168.100.3
api "$R" DELETE "/v1/security-groups/$GSELF"
e2e_expect_status 204 "the API takes writes over 192.168.100.3:8080: DELETE group self"
api "$R" DELETE "/v1/security-groups/$GN"
e2e_expect_status 204 "DELETE group subnet"
check_not "no table inet vrouter left on the router" has_vtable "$R"
check "ping router -> net02 passes again" ping_ok "$R" 192.168.100.2

e2e_done
