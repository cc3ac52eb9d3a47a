#!/usr/bin/env bash
# Security groups over IPv6, in the seed lab (net01 fd00:150::2 -- router -- fd00:100::2
# net02): the same guarantees as over IPv4, and neighbour discovery keeps working.
#   local guard on net02 (vrouterd on net02): icmpv6 and tcp/22 allowed, tcp/12345 blocked
#     until a rule from fd00:150::/64 opens it, blocked again once it is deleted; after
#     `ip neigh flush` on net02 and the router traffic still flows; with no rules at all
#     the router still resolves net02's address (ND passes), also when net02's egress
#     is restricted to tcp/80;
#   forward guard on the router (vrouterd on the router): a remote-group rule (clients
#     = fd00:150::2) on server (fd00:100::2), icmpv6 from fd00:150::/64, a non-member
#     address blocked, the clients' targets changed; `ip neigh flush` on all three hosts;
#     an egress rule allowing only tcp/80 (replies still pass); IPv4 unaffected by
#     IPv6-only targets.
# shellcheck disable=SC2317,SC2016 # helpers run through check; sh -c scripts
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/e2e/sg_lib.sh
. "$HERE/sg_lib.sh"
# shellcheck source=deploy/lab-topology.sh
. "${VR_SRC:-$HERE/../..}/deploy/lab-topology.sh"

e2e_init sg_ipv6

# ---------------------------------------------------------------- helpers

# api NS METHOD PATH [JSON]: a call to the daemon in NS; the answer's id in $ID.
api() {
	e2e_api "$@" >/dev/null
	ID=$(e2e_jq '.id // empty')
}
rule_json() { # rule_json GROUP DIRECTION PROTO PORT|- PEER (a CIDR or an sg- id)
	local ports="" peer
	[[ $4 == - ]] || ports=",\"port_from\":$4,\"port_to\":$4"
	if [[ $5 == sg-* ]]; then peer="\"remote_security_group_id\":\"$5\""; else peer="\"cidr\":\"$5\""; fi
	printf '{"security_group_id":"%s","direction":"%s","protocol":"%s"%s,%s}' "$1" "$2" "$3" "$ports" "$peer"
}
# resolved NS ADDR: NS has a link-layer address for ADDR (not INCOMPLETE/FAILED).
resolved() { ip -n "$1" -6 neigh show "$2" | grep lladdr >/dev/null; }
poke() { ip netns exec "$1" timeout 3 nc -6 -z -w 1 "$2" "$3" || true; } # one SYN, outcome ignored

# ---------------------------------------------------------------- the lab

e2e_step "build the lab; IPv6 routes by hand; a second address on net01"
sg_lab
# preferred_lft 0: never chosen as a source address unless asked for (nc -s)
ip -n "$N1" -6 addr add fd00:150::4/64 dev enp0s1 nodad preferred_lft 0
e2e_daemon "$N2"
e2e_daemon "$R"
check "ping -6 net01 -> net02 before any group" ping_ok "$N1" fd00:100::2
check "tcp net01 -> [fd00:100::2]:12345 before any group" tcp_ok "$N1" "$N2" fd00:100::2 12345

e2e_step "local guard on net02: icmpv6 and tcp/22 from ::/0"
api "$N2" POST /v1/security-groups '{"name":"ufw6","targets":["local"]}'
e2e_expect_status 201 "POST group local on net02"
GL=$ID
api "$N2" POST /v1/security-group-rules "$(rule_json "$GL" ingress icmpv6 - ::/0)"
e2e_expect_status 201 "POST icmpv6 from ::/0"
check_eq "icmpv6 rule active" active "$(e2e_jq .status.state)"
RL_ICMP=$ID
api "$N2" POST /v1/security-group-rules "$(rule_json "$GL" ingress tcp 22 ::/0)"
e2e_expect_status 201 "POST tcp/22 from ::/0"
check_eq "tcp/22 rule active" active "$(e2e_jq .status.state)"
RL_22=$ID
check "ping -6 net01 -> net02 passes" ping_ok "$N1" fd00:100::2
check "tcp net01 -> [fd00:100::2]:22 passes" tcp_ok "$N1" "$N2" fd00:100::2 22
check "tcp net01 -> [fd00:100::2]:12345 is blocked" tcp_blocked "$N1" "$N2" fd00:100::2 12345
check "IPv4 is guarded too: ping net01 -> 192.168.100.2 dropped (icmpv6 is not icmp)" ping_fails "$N1" 192.168.100.2
api "$N2" POST /v1/security-group-rules "$(rule_json "$GL" ingress tcp 12345 fd00:150::/64)"
e2e_expect_status 201 "POST tcp/12345 from fd00:150::/64"
check_eq "tcp/12345 rule active" active "$(e2e_jq .status.state)"
RL_12345=$ID
check "tcp net01 -> [fd00:100::2]:12345 passes" tcp_ok "$N1" "$N2" fd00:100::2 12345
check "tcp router (fd00:100::3) -> [fd00:100::2]:12345 blocked (not in fd00:150::/64)" tcp_blocked "$R" "$N2" fd00:100::2 12345
check "tcp net01 -> 192.168.100.2:12345 blocked (the rule is IPv6 only)" tcp_blocked "$N1" "$N2" 192.168.100.2 12345

e2e_step "local guard: neighbour discovery after ip neigh flush on net02 and the router"
flush_neigh "$N2" "$R"
check "ping -6 net01 -> net02 after the flush" ping_ok "$N1" fd00:100::2
check "router resolved fd00:100::2 again" resolved "$R" fd00:100::2
check "net02 resolved the router fd00:100::3 again" resolved "$N2" fd00:100::3
flush_neigh "$N2" "$R"
check "tcp net01 -> [fd00:100::2]:12345 after another flush" tcp_ok "$N1" "$N2" fd00:100::2 12345
api "$N2" DELETE "/v1/security-group-rules/$RL_12345"
e2e_expect_status 204 "DELETE the 12345 rule"
check "tcp net01 -> [fd00:100::2]:12345 blocked again" tcp_blocked "$N1" "$N2" fd00:100::2 12345

e2e_step "local guard with no rules at all: ND still passes"
api "$N2" DELETE "/v1/security-group-rules/$RL_ICMP"
e2e_expect_status 204 "DELETE the icmpv6 rule"
api "$N2" DELETE "/v1/security-group-rules/$RL_22"
e2e_expect_status 204 "DELETE the tcp/22 rule"
check "ping -6 net01 -> net02 dropped" ping_fails "$N1" fd00:100::2
flush_neigh "$N2" "$R"
poke "$R" fd00:100::2 22
check_poll "router resolves fd00:100::2 (NS/NA pass a rule-less guard)" 3 resolved "$R" fd00:100::2
check "net02 can still talk out: ping -6 net02 -> net01" ping_ok "$N2" fd00:150::2
check "net02 resolved the router fd00:100::3" resolved "$N2" fd00:100::3
check "ping ::1 inside net02" ping_ok "$N2" ::1

e2e_step "local guard with an egress rule (only tcp/80 to fd00:150::/64): ND still passes both ways"
api "$N2" POST /v1/security-group-rules "$(rule_json "$GL" egress tcp 80 fd00:150::/64)"
e2e_expect_status 201 "POST egress tcp/80 to fd00:150::/64 on net02's local group"
check_eq "egress rule active" active "$(e2e_jq .status.state)"
flush_neigh "$N2" "$R"
check "net02 -> [fd00:150::2]:80 works after ip neigh flush (NS out, NA in; replies pass)" tcp_ok "$N2" "$N1" fd00:150::2 80
check "net02 -> [fd00:150::2]:12345 is blocked (egress)" tcp_blocked "$N2" "$N1" fd00:150::2 12345
check "ping -6 net02 -> net01 is blocked (egress allows no icmpv6)" ping_fails "$N2" fd00:150::2
flush_neigh "$N2" "$R"
poke "$R" fd00:100::2 22
check_poll "router resolves fd00:100::2 (net02's NA passes its restricted output)" 3 resolved "$R" fd00:100::2
check "ping ::1 inside net02 (loopback is never restricted)" ping_ok "$N2" ::1
api "$N2" DELETE "/v1/security-groups/$GL"
e2e_expect_status 204 "DELETE the local group"
check_not "no table inet vrouter left on net02" has_vtable "$N2"
check "ping -6 net01 -> net02 passes again" ping_ok "$N1" fd00:100::2

e2e_step "forward guard on the router: server fd00:100::2, tcp/12345 from remote group clients fd00:150::2"
api "$R" POST /v1/security-groups '{"name":"clients","targets":["fd00:150::2"]}'
e2e_expect_status 201 "POST group clients"
GC=$ID
api "$R" POST /v1/security-groups '{"name":"server","targets":["fd00:100::2"]}'
e2e_expect_status 201 "POST group server"
GS=$ID
check_eq "server active" active "$(e2e_jq .status.state)"
api "$R" POST /v1/security-group-rules "$(rule_json "$GS" ingress tcp 12345 "$GC")"
e2e_expect_status 201 "POST tcp/12345 from remote group clients"
check_eq "remote rule active" active "$(e2e_jq .status.state)"
: "$ID" # the remote rule stays until the end
api "$R" POST /v1/security-group-rules "$(rule_json "$GS" ingress icmpv6 - fd00:150::/64)"
e2e_expect_status 201 "POST icmpv6 from fd00:150::/64"
check_eq "icmpv6 rule active" active "$(e2e_jq .status.state)"
check "ping -6 net01 -> net02 passes" ping_ok "$N1" fd00:100::2
check "tcp net01 (fd00:150::2) -> [fd00:100::2]:12345 passes" tcp_ok "$N1" "$N2" fd00:100::2 12345 fd00:150::2
check "tcp net01 (fd00:150::4, not a member) -> [fd00:100::2]:12345 blocked" tcp_blocked "$N1" "$N2" fd00:100::2 12345 fd00:150::4
check "tcp net01 -> [fd00:100::2]:12346 blocked" tcp_blocked "$N1" "$N2" fd00:100::2 12346
check "IPv4 is not filtered (only IPv6 targets): net01 -> 192.168.100.2:12346" tcp_ok "$N1" "$N2" 192.168.100.2 12346
flush_neigh "$N1" "$R" "$N2"
check "ping -6 net01 -> net02 after ip neigh flush on all three" ping_ok "$N1" fd00:100::2
check "tcp net01 -> [fd00:100::2]:12345 after the flush" tcp_ok "$N1" "$N2" fd00:100::2 12345
check "router resolved net01 again" resolved "$R" fd00:150::2
check "router resolved net02 again" resolved "$R" fd00:100::2
api "$R" PUT "/v1/security-groups/$GC" '{"name":"clients","targets":["fd00:150::4"]}'
e2e_expect_status 200 "PUT clients {targets:[fd00:150::4]}"
check_eq "clients active" active "$(e2e_jq .status.state)"
check "tcp net01 (fd00:150::2) -> [fd00:100::2]:12345 blocked now" tcp_blocked "$N1" "$N2" fd00:100::2 12345 fd00:150::2
check "tcp net01 (fd00:150::4) -> [fd00:100::2]:12345 passes now" tcp_ok "$N1" "$N2" fd00:100::2 12345 fd00:150::4

e2e_step "forward guard: egress from server only tcp/80 to fd00:150::/64"
api "$R" POST /v1/security-group-rules "$(rule_json "$GS" egress tcp 80 fd00:150::/64)"
e2e_expect_status 201 "POST egress tcp/80 to fd00:150::/64"
check_eq "egress rule active" active "$(e2e_jq .status.state)"
check "net02 -> [fd00:150::2]:12345 new connection fails" tcp_blocked "$N2" "$N1" fd00:150::2 12345
check "net02 -> [fd00:150::2]:80 works" tcp_ok "$N2" "$N1" fd00:150::2 80
check "net01 (fd00:150::4) -> [fd00:100::2]:12345 works, replies pass (stateful)" tcp_ok "$N1" "$N2" fd00:100::2 12345 fd00:150::4
check "ping -6 net01 -> net02 works: echo replies pass (stateful)" ping_ok "$N1" fd00:100::2
check "ping -6 net02 -> net01 fails (egress allows no icmpv6)" ping_fails "$N2" fd00:150::2
check "udp net01 -> [fd00:100::2]:5353: no udp rule, dropped silently" udp_silent "$N1" fd00:100::2 5353
api "$R" POST /v1/security-group-rules "$(rule_json "$GS" ingress udp 5353 fd00:150::/64)"
e2e_expect_status 201 "POST ingress udp/5353 from fd00:150::/64"
check "udp net01 -> [fd00:100::2]:5353 (nobody listens): the ICMPv6 port unreachable passes the egress restriction" \
	udp_refused "$N1" fd00:100::2 5353
e2e_api "$R" GET /v1/security-group-rules >/dev/null
check_eq "every rule on the router active" "active" "$(e2e_jq '[.items[].status.state] | unique | join(",")')"
e2e_api "$R" GET /v1/security-groups >/dev/null
check_eq "every group on the router active" "active" "$(e2e_jq '[.items[].status.state] | unique | join(",")')"

e2e_done
