#!/usr/bin/env bash
# POST /v1/diagnostics/reachability in the seed lab (net01 -- router -- net02), asked of
# the router's vrouterd. One step per failure, each asserting the blocking code and the
# object it names, and running the suggestion where it is a complete API call:
#   bad questions are 422 naming the field and the value;
#   the working path is reachable, naming the kernel's route;
#   forwarding off on the router: FORWARDING_DISABLED; its PUT /v1/settings fixes it;
#   IPv6 through the router; icmp with IPv6 addresses is a 422;
#   a security group without a matching rule: SG_INGRESS_NO_MATCH naming the group and
#     its drop counter as nft counts it; the suggested rule makes the same question reachable, naming that rule, and nc passes;
#   the article's missing return route: ping first, then NO_REPLY_OBSERVED (conntrack
#     saw the echo requests leave and nothing come back); the suggested route, sent to
#     net02's vrouterd, makes ping work and the question reachable;
#   a blackhole route: BLACKHOLE_ROUTE naming it; after its DELETE, NO_ROUTE naming the
#     route table; a reject route on the way back: NO_RETURN_ROUTE naming it;
#   a route whose gateway is on no connected network: ROUTE_NOT_APPLIED naming it.
# shellcheck disable=SC2317,SC2016 # helpers run through check
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/e2e/sg_lib.sh
. "$HERE/sg_lib.sh"
# shellcheck source=deploy/lab-topology.sh
. "${VR_SRC:-$HERE/../..}/deploy/lab-topology.sh"

e2e_init diag_reach
command -v jq >/dev/null || e2e_fatal "jq is not installed"

# reach NS SRC DST PROTO [PORT]: ask NS's daemon; the answer is the last body.
reach() {
	local ns=$1 q
	q=$(jq -cn --arg s "$2" --arg d "$3" --arg p "$4" --arg port "${5:-}" \
		'{source:$s, destination:$d, protocol:$p} + (if $port == "" then {} else {port:($port|tonumber)} end)')
	e2e_api "$ns" POST /v1/diagnostics/reachability "$q" >/dev/null
	[[ $(e2e_last_status) == 200 ]] || fail "reachability $q: HTTP $(e2e_last_status)" "$(e2e_last_body)"
}
code() { e2e_jq '.blocking.code // "none"'; }
object() { e2e_jq '.blocking.object_id // "null"'; }
hop() { e2e_jq ".hops[] | select(.check == \"$1\") | .$2"; }
hop_ids() { e2e_jq ".hops[] | select(.check == \"$1\") | .ids | join(\",\")"; }

# suggest_run NS: send the last answer's suggestion to NS's daemon as it stands; the
# reply's id (if any) in $ID.
suggest_run() {
	local ns=$1 method path body
	method=$(e2e_jq .suggestion.method)
	path=$(e2e_jq .suggestion.path)
	body=$(jq -c '.suggestion.body // empty' "$E2E_TMP/body")
	check_eq "the suggestion is a complete call" true "$(e2e_jq .suggestion.complete)"
	e2e_api "$ns" "$method" "$path" "$body" >/dev/null
	ID=$(e2e_jq '.id // empty')
}

api() {
	e2e_api "$R" "$@" >/dev/null
	ID=$(e2e_jq '.id // empty')
}

# ---------------------------------------------------------------- the lab

e2e_step "the seed lab, routes between net01 and net02 by hand; daemons on router and net02"
sg_lab -4
e2e_daemon "$R"
e2e_daemon "$N2"
check "ping net01 -> net02" ping_ok "$N1" 192.168.100.2

e2e_step "bad questions: 422 naming the field and the value"
bad() { # bad JSON FIELD NEEDLE
	e2e_api "$R" POST /v1/diagnostics/reachability "$1" >/dev/null
	e2e_expect_status 422 "$1"
	check_eq "field of $1" "$2" "$(e2e_jq '.errors[0].field')"
	check_match "detail of $1" "$3" "$(e2e_jq .detail)"
}
bad '{"source":"192.168.150.256","destination":"192.168.100.2","protocol":"icmp"}' source '192\.168\.150\.256'
bad '{"source":"192.168.150.2","destination":"192.168.100.0/24","protocol":"icmp"}' destination '192\.168\.100\.0/24'
bad '{"source":"192.168.150.2","destination":"192.168.100.2","protocol":"tcp","port":0}' port 'port 0 is out of range 1\.\.65535'
bad '{"source":"192.168.150.2","destination":"192.168.100.2","protocol":"udp","port":65536}' port '65536'
bad '{"source":"192.168.150.2","destination":"192.168.100.2","protocol":"icmp","port":22}' port 'port 22 given with protocol icmp'
bad '{"source":"192.168.150.2","destination":"fd00:100::2","protocol":"tcp","port":22}' destination 'different families'
bad '{"source":"192.168.150.2","destination":"192.168.100.2","protocol":"sctp","port":22}' protocol 'sctp'

e2e_step "the working path is reachable"
reach "$R" 192.168.150.2 192.168.100.2 tcp 12345
check_eq "reachable" true "$(e2e_jq .reachable)"
check_eq "nothing blocks" none "$(code)"
check_eq "no suggestion" null "$(e2e_jq .suggestion)"
check_eq "eight checks" 8 "$(e2e_jq '.hops | length')"
check_eq "source on a connected network" pass "$(hop source verdict)"
check_match "source's interface" 'dev enp0s1' "$(hop source kernel)"
check_eq "forwarding on" "net.ipv4.ip_forward = 1" "$(hop forwarding kernel)"
check_eq "route found" pass "$(hop route verdict)"
check_match "the kernel's route, as ip route get fibmatch prints it" '^192\.168\.100\.0/24 dev enp0s2 table 254 proto kernel' "$(hop route kernel)"
check_eq "return path" pass "$(hop return_path verdict)"

e2e_step "forwarding off on the router: FORWARDING_DISABLED, fixed by its suggestion"
ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=0
check "ping net01 -> net02 fails" ping_fails "$N1" 192.168.100.2
reach "$R" 192.168.150.2 192.168.100.2 icmp
check_eq "not reachable" false "$(e2e_jq .reachable)"
check_eq "code" FORWARDING_DISABLED "$(code)"
check_eq "no object" null "$(object)"
check_match "message" 'net\.ipv4\.ip_forward = 0' "$(e2e_jq .blocking.message)"
check_eq "suggestion" "PUT /v1/settings" "$(e2e_jq '.suggestion.method + " " + .suggestion.path')"
suggest_run "$R"
e2e_expect_status 200 "the suggested PUT /v1/settings"
check_eq "sysctl back on" 1 "$(ip netns exec "$R" sysctl -n net.ipv4.ip_forward)"
reach "$R" 192.168.150.2 192.168.100.2 icmp
check_eq "reachable again" true "$(e2e_jq .reachable)"
check "ping net01 -> net02 again" ping_ok "$N1" 192.168.100.2

e2e_step "a security group without a matching rule: SG_INGRESS_NO_MATCH, fixed by the suggested rule"
api POST /v1/security-groups '{"name":"web","targets":["192.168.100.2"]}'
e2e_expect_status 201 "POST group web"
GW=$ID
api POST /v1/security-group-rules '{"security_group_id":"'"$GW"'","direction":"ingress","protocol":"tcp","port_from":22,"port_to":22,"cidr":"0.0.0.0/0"}'
e2e_expect_status 201 "POST rule tcp/22"
check "tcp net01 -> net02:12345 blocked" tcp_blocked "$N1" "$N2" 192.168.100.2 12345
reach "$R" 192.168.150.2 192.168.100.2 tcp 12345
check_eq "code" SG_INGRESS_NO_MATCH "$(code)"
check_eq "the group is named" "$GW" "$(object)"
check_match "message" "group $GW \\(web\\).*port 12345" "$(e2e_jq .blocking.message)"
check_eq "ingress hop fails" fail "$(hop security_group_ingress verdict)"
check_match "the group's drop counter, as nft counts it" "^counter drop_in_$GW packets [1-9][0-9]* bytes " "$(hop security_group_ingress kernel)"
check_match "observation: the counter at the start and at the end" "counter drop_in_$GW packets [1-9][0-9]* -> [1-9][0-9]*\$" "$(hop observation kernel)"
check_eq "rule for exactly this flow" \
	"$GW ingress tcp 12345 12345 192.168.150.2/32" \
	"$(e2e_jq '.suggestion.body | "\(.security_group_id) \(.direction) \(.protocol) \(.port_from) \(.port_to) \(.cidr)"')"
suggest_run "$R"
e2e_expect_status 201 "the suggested rule"
RULE=$ID
check_eq "the rule is active" active "$(e2e_jq .status.state)"
reach "$R" 192.168.150.2 192.168.100.2 tcp 12345
check_eq "reachable now" true "$(e2e_jq .reachable)"
check_eq "ingress names group and rule" "$GW,$RULE" "$(hop_ids security_group_ingress)"
check_match "and says it allows" "rule $RULE of group $GW \\(web\\) allows it" "$(hop security_group_ingress detail)"
check "tcp net01 -> net02:12345 passes" tcp_ok "$N1" "$N2" 192.168.100.2 12345
reach "$R" 192.168.150.2 192.168.100.2 tcp 12346
check_eq "another port still blocked" SG_INGRESS_NO_MATCH "$(code)"

e2e_step "IPv6: the working path through the router, the kernel's lookup named"
reach "$R" fd00:150::2 fd00:100::2 icmpv6
check_eq "reachable" true "$(e2e_jq .reachable)"
check_eq "forwarding" "net.ipv6.conf.all.forwarding = 1" "$(hop forwarding kernel)"
check_match "the kernel's route" '^fd00:100::/64 dev enp0s2 table 254' "$(hop route kernel)"
check_eq "return path" pass "$(hop return_path verdict)"
e2e_api "$R" POST /v1/diagnostics/reachability '{"source":"fd00:150::2","destination":"fd00:100::2","protocol":"icmp"}' >/dev/null
check_eq "icmp with IPv6 addresses is refused" 422 "$(e2e_last_status)"

e2e_step "the article's missing return route: NO_REPLY_OBSERVED after a ping, fixed on net02"
api POST /v1/security-group-rules '{"security_group_id":"'"$GW"'","direction":"ingress","protocol":"icmp","cidr":"0.0.0.0/0"}'
e2e_expect_status 201 "POST rule icmp (the guard's table keeps connection tracking on)"
ip -n "$N2" route del 192.168.150.0/24 via 192.168.100.3
check "ping net01 -> net02 fails" ping_fails "$N1" 192.168.100.2
reach "$R" 192.168.150.2 192.168.100.2 icmp
check_eq "code" NO_REPLY_OBSERVED "$(code)"
check_eq "route, groups and return path pass on the router" "pass pass pass" \
	"$(hop route verdict) $(hop security_group_ingress verdict) $(hop return_path verdict)"
check_match "conntrack saw it unreplied" 'icmp src=192\.168\.150\.2 dst=192\.168\.100\.2 type=8 code=0 .*\[UNREPLIED\]' "$(hop observation kernel)"
check_match "the far host lacks a route back" '192\.168\.100\.2 probably has no route back to 192\.168\.150\.2' "$(e2e_jq .blocking.message)"
check_eq "to be sent to the destination's daemon" destination "$(e2e_jq .suggestion.host)"
SAVED=$(e2e_last_body)
# The README's story: the article's message on tcp/12345 gets no answer either.
check "tcp net01 -> net02:12345 gets no answer" tcp_blocked "$N1" "$N2" 192.168.100.2 12345
reach "$R" 192.168.150.2 192.168.100.2 tcp 12345
check_eq "tcp: the same code" NO_REPLY_OBSERVED "$(code)"
check_match "tcp: conntrack saw the SYN unanswered" 'tcp src=192\.168\.150\.2 dst=192\.168\.100\.2 sport=[0-9]+ dport=12345 \[UNREPLIED\]' "$(hop observation kernel)"
check_match "tcp: the README's sentence" '^1 connection from 192\.168\.150\.2 to 192\.168\.100\.2 went out through this host and nothing came back' "$(e2e_jq .blocking.message)"
printf '%s' "$SAVED" >"$E2E_TMP/body"
check_eq "the route back" "POST /v1/routes 192.168.150.0/24 via 192.168.100.3" \
	"$(e2e_jq '"\(.suggestion.method) \(.suggestion.path) \(.suggestion.body.destination) via \(.suggestion.body.via)"')"
suggest_run "$N2"
e2e_expect_status 201 "the suggested route, on net02"
check_eq "active on net02" active "$(e2e_jq .status.state)"
check "ping net01 -> net02 works" ping_ok "$N1" 192.168.100.2
reach "$R" 192.168.150.2 192.168.100.2 icmp
check_eq "reachable" true "$(e2e_jq .reachable)"
check_eq "replies observed" pass "$(hop observation verdict)"
check "tcp net01 -> net02:12345 passes now" tcp_ok "$N1" "$N2" 192.168.100.2 12345
reach "$R" 192.168.150.2 192.168.100.2 tcp 12345
check_eq "tcp: the latest connection saw replies" "true pass" "$(e2e_jq .reachable) $(hop observation verdict)"

e2e_step "a blackhole route: BLACKHOLE_ROUTE naming it; after its DELETE, NO_ROUTE"
api POST /v1/routes '{"destination":"10.9.0.0/16","type":"blackhole"}'
e2e_expect_status 201 "POST blackhole 10.9.0.0/16"
BH=$ID
reach "$R" 192.168.150.2 10.9.1.1 udp 53
check_eq "code" BLACKHOLE_ROUTE "$(code)"
check_eq "the route is named" "$BH" "$(object)"
check_match "the kernel's route" '^blackhole 10\.9\.0\.0/16 table 254 proto vrouter' "$(hop route kernel)"
check_eq "suggestion" "DELETE /v1/routes/$BH" "$(e2e_jq '.suggestion.method + " " + .suggestion.path')"
suggest_run "$R"
e2e_expect_status 204 "the suggested DELETE"
reach "$R" 192.168.150.2 10.9.1.1 udp 53
check_eq "no route at all" NO_ROUTE "$(code)"
check_eq "names the table" rtb-main "$(object)"
check_eq "suggests a route with a next hop to fill in" "POST /v1/routes 10.9.1.1/32 NEXT_HOP false" \
	"$(e2e_jq '"\(.suggestion.method) \(.suggestion.path) \(.suggestion.body.destination) \(.suggestion.body.via) \(.suggestion.complete)"')"

e2e_step "a reject route on the way back: NO_RETURN_ROUTE naming it"
api POST /v1/routes '{"destination":"192.168.150.2/32","type":"unreachable"}'
e2e_expect_status 201 "POST unreachable 192.168.150.2/32"
UR=$ID
reach "$R" 192.168.150.2 192.168.100.2 icmp
check_eq "code" NO_RETURN_ROUTE "$(code)"
check_eq "the route is named" "$UR" "$(object)"
check_eq "the way there is fine" pass "$(hop route verdict)"
suggest_run "$R"
e2e_expect_status 204 "the suggested DELETE"
reach "$R" 192.168.150.2 192.168.100.2 icmp
check_eq "reachable again" true "$(e2e_jq .reachable)"

e2e_step "a route whose gateway is on no connected network: ROUTE_NOT_APPLIED"
api POST /v1/routes '{"destination":"10.20.0.0/16","via":"10.0.0.1"}'
e2e_expect_status 201 "POST 10.20.0.0/16 via 10.0.0.1"
GR=$ID
check_eq "failed" failed "$(e2e_jq .status.state)"
reach "$R" 192.168.150.2 10.20.30.40 tcp 443
check_eq "code" ROUTE_NOT_APPLIED "$(code)"
check_eq "the route is named" "$GR" "$(object)"
check_match "with the reconciler's reason" 'gateway 10\.0\.0\.1 is not on any connected network' "$(e2e_jq .blocking.message)"
check_eq "suggests replacing its gateway" "PUT /v1/routes/$GR NEXT_HOP" \
	"$(e2e_jq '"\(.suggestion.method) \(.suggestion.path) \(.suggestion.body.via)"')"

e2e_done
