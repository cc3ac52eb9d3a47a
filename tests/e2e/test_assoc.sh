#!/usr/bin/env bash
# A subnet's route-table association, with real traffic, in the two-router lab
# (deploy/lab2-topology.sh; everything on r1 and r2 is made through their APIs):
#
#   net01 192.168.150.2 -- [.3 r1 10.255.0.1] -- transit -- [10.255.0.2 r2 .3] -- 192.168.100.2 net02
#
# r1 reaches net02 only through its main table's default route (IPv4) and a route to
# fd00:100::/64 (IPv6). r1 also holds a foreign address 10.99.9.1/24 on the transit
# link, whose other end (r2) has 10.99.9.2/24: a connected network vrouter did not make.
#
#   (a) before any association net01 reaches net02, r2 and 10.99.9.2
#   (b) net01's subnets (IPv4, IPv6) associated with a table holding only blackholes:
#       the table replaces main for them. What main routes (the default route too) is
#       unreachable, and r1 says so (ICMP unreachable to the sender); the blackholes
#       drop silently; the connected networks (the transit link, the foreign
#       10.99.9.0/24) and r1 itself stay reachable; r1's own traffic and the main table
#       are untouched. In the kernel: per subnet a lookup rule and an unreachable rule
#       right after it, and copies of the connected networks in the table, all
#       proto vrouter; /v1/status counts them
#   (c) renumbering the table (PUT /v1/route-tables, PUT /v1/config) and moving a
#       subnet to another table and back are not drift: every drift counter stays 0 in
#       /v1/status and /metrics, and the routes are in the new table
#   (d) what vrouter added is repaired when deleted by hand (counted as drift), and a
#       foreign route and a foreign rule on the table are never touched
#   (e) removing the association restores the main-table path and removes what it added
#   (f) a subnet whose router address is held by someone else (IPv4, IPv6) is failed,
#       says why, and has no policy rule in the kernel; once the address is free it is
#       applied whole
# shellcheck disable=SC2317,SC2016 # helpers run through check; sh -c scripts
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"
# shellcheck source=deploy/lab2-topology.sh
. "${VR_SRC:-$HERE/../..}/deploy/lab2-topology.sh"

e2e_init assoc

# The metric of the connected-network copies in an associated table (core/plan.h).
CONN_METRIC=4294967295

# ---------------------------------------------------------------- helpers

fam() { [[ $1 == *:* ]] && echo -6 || echo -4; }
pings() { ip netns exec "$1" ping "$(fam "$2")" -c1 -W2 "$2"; }
# ping_out NS ADDR: the output of one ping, whatever its outcome.
ping_out() { ip netns exec "$1" ping "$(fam "$2")" -c1 -W2 "$2" 2>&1 || true; }

# reaches NS ADDR: one ping answered (polled briefly: neighbour entries may be new).
reaches() {
	check_poll "${1##*-} -> $2 answered" 3 pings "$1" "$2"
}

# answered_unreachable NS ADDR FROM_ERE: one ping, answered with an ICMP unreachable from
# FROM (and no echo reply: a fall-through to main would be answered by the host).
answered_unreachable() {
	local out
	out=$(ping_out "$1" "$2")
	grep -Eq "^From $3 .*[Uu]nreachable" <<<"$out" && ! grep -q 'bytes from' <<<"$out"
}

# unreachable NS ADDR FROM_ERE: the ping is answered by FROM with an ICMP unreachable.
# The kernel rate-limits ICMP errors per destination host (net.ipv4.icmp_ratelimit, 1 s):
# a ping that gets no answer at all is tried again, for a few seconds.
unreachable() {
	check_poll "${1##*-} -> $2: $3 answers unreachable" 5 answered_unreachable "$@"
}

# dropped NS ADDR: no answer at all, not even an ICMP error (a blackhole).
dropped() {
	local out
	out=$(ping_out "$1" "$2")
	check_match "${1##*-} -> $2: no reply" ' 0 received' "$out"
	check_no_match "${1##*-} -> $2: no ICMP error either (silently dropped)" '^From ' "$out"
}

api_ok() { # api_ok NS METHOD PATH JSON STATUS MESSAGE: the call, its status checked
	e2e_api "$1" "$2" "$3" "$4" >/dev/null
	e2e_expect_status "$5" "$6"
}

subnet_json() { # NAME CIDR IFACE ROUTER_IP [ROUTE_TABLE_ID]
	jq -cn --arg n "$1" --arg c "$2" --arg i "$3" --arg r "$4" --arg t "${5:-rtb-main}" \
		'{name: $n, cidr: $c, interface: $i, router_ip: $r, route_table_id: $t}'
}

# post NS PATH JSON MESSAGE: POST answered 201; the new id in $ID.
post() {
	api_ok "$1" POST "$2" "$3" 201 "$4"
	ID=$(e2e_jq '.id // empty')
}

vr_rules() { # vrouter's policy rules on r1, both families
	{
		ip -n "$R1" -4 rule show
		ip -n "$R1" -6 rule show
	} | grep -E 'proto (245|vrouter)' || true
}
vr_routes() { # vrouter's routes on r1 in table $1 (or all), both families
	{
		ip -n "$R1" -4 route show table "${1:-all}" proto 245
		ip -n "$R1" -6 route show table "${1:-all}" proto 245
	} || true
}
conn_copies() { vr_routes "${1:-all}" | grep -E " metric $CONN_METRIC" || true; }

status_jq() {
	e2e_api "$R1" GET /v1/status >/dev/null
	e2e_jq "$1"
}
repairs() { status_jq '.drift_repairs | "\(.routes) \(.addresses) \(.rules) \(.nftables) \(.forwarding)"'; }
metric_repairs() {
	e2e_curl "$R1" GET /metrics | awk '/^vrouter_drift_repairs_total\{/ { s += $2; n++ } END { print n, s }'
}
no_drift() { # no_drift WHAT: every drift counter still 0, in /v1/status and /metrics
	check_eq "$1: /v1/status drift_repairs all 0 (routes addresses rules nftables forwarding)" \
		"0 0 0 0 0" "$(repairs)"
	check_eq "$1: /metrics vrouter_drift_repairs_total all 0 (5 kinds, sum 0)" "5 0" "$(metric_repairs)"
}

# The owned counts of /v1/status are what the kernel holds with proto vrouter.
counts_match() {
	local routes rules
	routes=$(vr_routes | grep -c . || true)
	rules=$(vr_rules | grep -c . || true)
	check_eq "$1: /v1/status owned routes and rules = the kernel's proto vrouter ones" \
		"$routes $rules" "$(status_jq '"\(.owned.routes) \(.owned.rules)"')"
}

obj_state() {
	e2e_api "$R1" GET "$1" >/dev/null
	e2e_jq '"\(.status.state): \(.status.reason)"'
}

# ---------------------------------------------------------------- (a) the lab

e2e_step "(a) the lab: net01 -- r1 -- transit -- r2 -- net02, through the APIs"
e2e_lab2
# A connected network of r1 that vrouter does not own, with a host at its far end.
ip -n "$R1" addr add 10.99.9.1/24 dev enp0s2
ip -n "$R2" addr add 10.99.9.2/24 dev enp0s1
e2e_daemon "$R1"
e2e_daemon "$R2"

post "$R1" /v1/subnets "$(subnet_json net01 192.168.150.0/24 enp0s1 192.168.150.3)" "r1: subnet net01"
S4=$ID
post "$R1" /v1/subnets "$(subnet_json net01-v6 fd00:150::/64 enp0s1 fd00:150::3)" "r1: subnet net01-v6"
S6=$ID
post "$R1" /v1/subnets "$(subnet_json transit 10.255.0.0/30 enp0s2 10.255.0.1)" "r1: subnet transit"
post "$R1" /v1/subnets "$(subnet_json transit-v6 fd00:255::/64 enp0s2 fd00:255::1)" "r1: subnet transit-v6"
post "$R2" /v1/subnets "$(subnet_json transit 10.255.0.0/30 enp0s1 10.255.0.2)" "r2: subnet transit"
post "$R2" /v1/subnets "$(subnet_json transit-v6 fd00:255::/64 enp0s1 fd00:255::2)" "r2: subnet transit-v6"
post "$R2" /v1/subnets "$(subnet_json net02 192.168.100.0/24 enp0s2 192.168.100.3)" "r2: subnet net02"
post "$R2" /v1/subnets "$(subnet_json net02-v6 fd00:100::/64 enp0s2 fd00:100::3)" "r2: subnet net02-v6"
for r in "$R1" "$R2"; do
	api_ok "$r" PUT /v1/settings '{"forwarding":{"ipv4":true,"ipv6":true}}' 200 "${r##*-}: forwarding on"
done
post "$R1" /v1/routes '{"destination":"default","via":"10.255.0.2"}' "r1: default via r2"
post "$R1" /v1/routes '{"destination":"fd00:100::/64","via":"fd00:255::2"}' "r1: fd00:100::/64 via r2"
post "$R2" /v1/routes '{"destination":"192.168.150.0/24","via":"10.255.0.1"}' "r2: net01 via r1"
post "$R2" /v1/routes '{"destination":"fd00:150::/64","via":"fd00:255::1"}' "r2: net01-v6 via r1"
reaches "$N1" 192.168.100.2
reaches "$N1" fd00:100::2
reaches "$N1" 10.255.0.2
reaches "$N1" 10.99.9.2
check_eq "no vrouter policy rule while every subnet uses main" "" "$(vr_rules)"
check_eq "no connected-network copies anywhere" "" "$(conn_copies)"
no_drift "after the set-up"

# ---------------------------------------------------------------- (b) association

e2e_step "(b) net01 associated with a table holding only blackholes"
post "$R1" /v1/route-tables '{"name":"blackholes","table":500}' "route table blackholes (500)"
RTB=$ID
for d in 203.0.113.0/24 198.51.100.0/24 2001:db8:1::/48; do
	post "$R1" /v1/routes "{\"route_table_id\":\"$RTB\",\"destination\":\"$d\",\"type\":\"blackhole\"}" \
		"blackhole $d in table 500"
done
MAIN_R1=$(ip -n "$R1" route show table main; ip -n "$R1" -6 route show table main)
api_ok "$R1" PUT "/v1/subnets/$S4" "$(subnet_json net01 192.168.150.0/24 enp0s1 192.168.150.3 "$RTB")" \
	200 "PUT net01 with route_table_id blackholes"
check_eq "net01 active" "active" "$(e2e_jq .status.state)"
api_ok "$R1" PUT "/v1/subnets/$S6" "$(subnet_json net01-v6 fd00:150::/64 enp0s1 fd00:150::3 "$RTB")" \
	200 "PUT net01-v6 with route_table_id blackholes"
check_eq "net01-v6 active" "active" "$(e2e_jq .status.state)"

unreachable "$N1" 192.168.100.2 "192\\.168\\.150\\.3"
unreachable "$N1" fd00:100::2 "fd00:150::3"
dropped "$N1" 203.0.113.5
dropped "$N1" 2001:db8:1::5
reaches "$N1" 10.255.0.2
reaches "$N1" fd00:255::2
reaches "$N1" 10.99.9.2
reaches "$N1" 192.168.150.3
check "r1's own traffic still uses main (from 10.255.0.1 to net02)" \
	ip netns exec "$R1" ping -c1 -W2 -I 10.255.0.1 192.168.100.2
check_eq "r1's main tables unchanged" "$MAIN_R1" "$(ip -n "$R1" route show table main; ip -n "$R1" -6 route show table main)"

rules=$(vr_rules)
e2e_log "$rules"
check_match "IPv4: from 192.168.150.0/24 lookup 500" '^20000:[[:space:]]+from 192\.168\.150\.0/24 lookup 500 proto (245|vrouter)' "$rules"
check_match "IPv4: from 192.168.150.0/24 unreachable, right after it" '^20001:[[:space:]]+from 192\.168\.150\.0/24 unreachable proto (245|vrouter)' "$rules"
check_match "IPv6: from fd00:150::/64 lookup 500" '^20000:[[:space:]]+from fd00:150::/64 lookup 500 proto (245|vrouter)' "$rules"
check_match "IPv6: from fd00:150::/64 unreachable, right after it" '^20001:[[:space:]]+from fd00:150::/64 unreachable proto (245|vrouter)' "$rules"
check_eq "exactly those four vrouter rules" 4 "$(grep -c . <<<"$rules")"
copies=$(conn_copies 500 | sed -E 's/ +$//' | sort)
e2e_log "$copies"
# (ip route show ... proto 245 selects vrouter's routes and then leaves the protocol out)
want=$(sort <<EOF
10.255.0.0/30 dev enp0s2 scope link metric $CONN_METRIC
10.99.9.0/24 dev enp0s2 scope link metric $CONN_METRIC
192.168.150.0/24 dev enp0s1 scope link metric $CONN_METRIC
fd00:150::/64 dev enp0s1 metric $CONN_METRIC pref medium
fd00:255::/64 dev enp0s2 metric $CONN_METRIC pref medium
EOF
)
check_eq "table 500 holds a copy of each connected network of r1 (not lo, not fe80::)" "$want" "$copies"
check_eq "and the three blackholes, nothing else" 8 "$(vr_routes 500 | grep -c .)"
counts_match "associated"
check_eq "nothing failed" "0 0" "$(status_jq '"\(.failed.routes) \(.failed.other)"')"

# ---------------------------------------------------------------- (c) renumbering

e2e_step "(c) renumbering the table, moving a subnet: not drift"
no_drift "before renumbering"
api_ok "$R1" PUT "/v1/route-tables/$RTB" '{"name":"blackholes","table":501}' 200 "PUT table 500 -> 501"
check_eq "table 500 is empty" "" "$(vr_routes 500)"
check_eq "table 501 holds the 3 blackholes and the 5 copies" "3 5" \
	"$(vr_routes 501 | grep -c '^blackhole') $(conn_copies 501 | grep -c .)"
check_match "the lookup rules follow" 'from 192\.168\.150\.0/24 lookup 501' "$(vr_rules)"
check_eq "still four vrouter rules" 4 "$(vr_rules | grep -c .)"
unreachable "$N1" 192.168.100.2 "192\\.168\\.150\\.3"
reaches "$N1" 10.255.0.2
no_drift "after PUT /v1/route-tables (3 routes and 5 copies moved)"

e2e_api "$R1" GET /v1/config >/dev/null
jq --arg id "$RTB" '.route_tables |= map(if .id == $id then .table = 502 else . end)' \
	"$E2E_TMP/body" >"$E2E_TMP/config.json"
api_ok "$R1" PUT "/v1/config?dry_run=true" "@$E2E_TMP/config.json" 200 "dry run of it"
plan_ops() { e2e_jq '[.plan.kernel.routes, .plan.kernel.addresses, .plan.kernel.rules] |
	map("\(.add) \(.change) \(.remove) \(.fail)") | join(" / ")'; }
check_eq "the plan: 8 routes moved (3 blackholes, 5 copies), the 2 lookup rules, no address" \
	"8 0 8 0 / 0 0 0 0 / 2 0 2 0" "$(plan_ops)"
api_ok "$R1" PUT /v1/config "@$E2E_TMP/config.json" 200 "PUT /v1/config with table 502"
check_eq "table 501 is empty" "" "$(vr_routes 501)"
check_eq "table 502 holds the 3 blackholes and the 5 copies" "3 5" \
	"$(vr_routes 502 | grep -c '^blackhole') $(conn_copies 502 | grep -c .)"
no_drift "after PUT /v1/config"
e2e_api "$R1" GET /v1/config >/dev/null
cp "$E2E_TMP/body" "$E2E_TMP/config.json"
api_ok "$R1" PUT "/v1/config?dry_run=true" "@$E2E_TMP/config.json" 200 "dry run of the GET"
check_eq "plans nothing for the kernel: the dry run and the reconciler agree" \
	"0 0 0 0 / 0 0 0 0 / 0 0 0 0" "$(plan_ops)"

post "$R1" /v1/route-tables '{"name":"other","table":600}' "route table other (600)"
RTB2=$ID
api_ok "$R1" PUT "/v1/subnets/$S4" "$(subnet_json net01 192.168.150.0/24 enp0s1 192.168.150.3 "$RTB2")" \
	200 "PUT net01 to table 600"
check_match "IPv4 rule now looks up 600" 'from 192\.168\.150\.0/24 lookup 600' "$(vr_rules)"
check_eq "table 600 has the IPv4 copies" 3 "$(conn_copies 600 | grep -c .)"
unreachable "$N1" 198.51.100.7 "192\\.168\\.150\\.3" # table 600 is empty: no blackhole there
api_ok "$R1" PUT "/v1/subnets/$S4" "$(subnet_json net01 192.168.150.0/24 enp0s1 192.168.150.3 "$RTB")" \
	200 "PUT net01 back to table 502"
check_eq "table 600 is empty again" "" "$(vr_routes 600)"
no_drift "after moving a subnet to another table and back"
counts_match "after the moves"

# ---------------------------------------------------------------- (d) drift, foreign

e2e_step "(d) what the association added is repaired; foreign objects are left alone"
ip -n "$R1" route add 192.0.2.0/24 dev enp0s2 table 502 proto static
ip -n "$R1" rule add from 10.98.0.0/24 lookup 502 pref 100
FOREIGN='192\.0\.2\.0/24 dev enp0s2 proto static'
check "by hand: ip rule del from 192.168.150.0/24 unreachable" \
	ip -n "$R1" rule del from 192.168.150.0/24 unreachable pref 20001
check_poll "the IPv4 unreachable rule is back" 2 \
	eval '[[ $(vr_rules) == *"from 192.168.150.0/24 unreachable"* ]]'
rep_rules() { [[ $(repairs) == "0 0 1 0 0" ]]; }
check_poll "/v1/status counts one rule repair" 2 rep_rules
check "by hand: ip -6 route del the copy of fd00:255::/64 from table 502" \
	ip -n "$R1" -6 route del fd00:255::/64 dev enp0s2 table 502 metric "$CONN_METRIC"
check_poll "the IPv6 copy of fd00:255::/64 is back" 2 \
	eval '[[ -n $(ip -n "$R1" -6 route show table 502 fd00:255::/64 proto 245) ]]'
rep_routes() { [[ $(repairs) == "1 0 1 0 0" ]]; }
check_poll "/v1/status counts one route repair" 2 rep_routes
check_eq "/metrics agrees (5 kinds, sum 2)" "5 2" "$(metric_repairs)"
check_match "the foreign route in table 502 is still there" "$FOREIGN" "$(ip -n "$R1" route show table 502)"
check_match "the foreign rule on table 502 is still there" 'from 10\.98\.0\.0/24 lookup 502' "$(ip -n "$R1" rule show)"
counts_match "after the repairs (foreign objects not counted)"

# ---------------------------------------------------------------- (e) removal

e2e_step "(e) removing the association restores main"
api_ok "$R1" PUT "/v1/subnets/$S4" "$(subnet_json net01 192.168.150.0/24 enp0s1 192.168.150.3)" \
	200 "PUT net01 back to rtb-main"
api_ok "$R1" PUT "/v1/subnets/$S6" "$(subnet_json net01-v6 fd00:150::/64 enp0s1 fd00:150::3)" \
	200 "PUT net01-v6 back to rtb-main"
check_eq "no vrouter rule left" "" "$(vr_rules)"
check_eq "no copies left" "" "$(conn_copies)"
check_eq "table 502 keeps the 3 blackholes (vrouter's) and the foreign route" "3 1" \
	"$(vr_routes 502 | grep -c '^blackhole') $(ip -n "$R1" route show table 502 | grep -cE "$FOREIGN")"
check_match "the foreign rule is still there" 'from 10\.98\.0\.0/24 lookup 502' "$(ip -n "$R1" rule show)"
reaches "$N1" 192.168.100.2
check_match "net01 -> 192.168.100.2 over both routers again (ttl 62)" 'ttl=62 ' "$(ping_out "$N1" 192.168.100.2)"
reaches "$N1" fd00:100::2
unreachable "$N1" 203.0.113.5 "10\\.(255\\.0\\.2|99\\.9\\.2)" # main: default route to r2, which has none
counts_match "after the removal"

# ---------------------------------------------------------------- (f) failed subnet

e2e_step "(f) a subnet whose router address someone else holds: failed, no rule"
ip -n "$R1" addr add 172.16.5.1/24 dev enp0s1
ip -n "$R1" -6 addr add fd00:172::1/64 dev enp0s1 nodad
e2e_api "$R1" POST /v1/subnets "$(subnet_json held 172.16.5.0/24 enp0s1 172.16.5.1 "$RTB")" >/dev/null
e2e_expect_status 201 "POST subnet held (172.16.5.1 is a foreign address on enp0s1)"
SF4=$(e2e_jq .id)
check_eq "its status: failed" "failed" "$(e2e_jq .status.state)"
check_match "the reason names the address" 'already holds 172\.16\.5\.1/24' "$(e2e_jq .status.reason)"
e2e_api "$R1" POST /v1/subnets "$(subnet_json held-v6 fd00:172::/64 enp0s1 fd00:172::1 "$RTB")" >/dev/null
e2e_expect_status 201 "POST subnet held-v6 (fd00:172::1 is a foreign address on enp0s1)"
SF6=$(e2e_jq .id)
check_eq "its status: failed" "failed" "$(e2e_jq .status.state)"
check_match "the reason names the address" 'already holds fd00:172::1/64' "$(e2e_jq .status.reason)"
check_eq "no policy rule in the kernel for either" "" "$(vr_rules)"
check_eq "no copies either (nothing of theirs is installed)" "" "$(conn_copies)"
check_match "GET says failed, with the reason" '^failed: .*172\.16\.5\.1' "$(obj_state "/v1/subnets/$SF4")"
check_eq "/v1/status: 2 failed objects" 2 "$(status_jq .failed.other)"
reaches "$N1" 192.168.100.2 # net01 itself is on main, unaffected
ip -n "$R1" addr del 172.16.5.1/24 dev enp0s1
ip -n "$R1" -6 addr del fd00:172::1/64 dev enp0s1
whole() { [[ $(obj_state "/v1/subnets/$SF4") == active:* && $(obj_state "/v1/subnets/$SF6") == active:* ]]; }
check_poll "once the addresses are free both subnets become active" 3 whole
check_eq "and are applied whole: lookup and unreachable rules for each" 4 \
	"$(vr_rules | grep -cE 'from (172\.16\.5\.0/24|fd00:172::/64) (lookup 502|unreachable)')"
check_match "and r1 owns the address" 'inet 172\.16\.5\.1/24' "$(ip -n "$R1" -4 addr show dev enp0s1)"
for id in "$SF4" "$SF6"; do
	api_ok "$R1" DELETE "/v1/subnets/$id" "" 204 "DELETE $id"
done
check_eq "no vrouter rule left" "" "$(vr_rules)"
check_eq "no copies left" "" "$(conn_copies)"
counts_match "at the end"

e2e_done
