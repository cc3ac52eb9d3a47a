#!/usr/bin/env bash
# A fleet of three routers on etcd (issue 16; deploy/lab-fleet-topology.sh): a
# three-member etcd cluster (lib_etcd.sh) on a management bridge, routers r1 r2 r3
# each running vrouterd --etcd ... --router rN, hosts h1 h2 h3 behind them, the routers
# joined by a core bridge (transit 10.255.0.0/24).
#
# Everything is written through r1's API, also what belongs to r2 and r3, and checked
# in the kernels it must reach: subnets, forwarding and routes of every router; ping
# across; a security group guarding h2 and h3 enforced on r2 and r3 (nc); no router
# applies another's route; the ETag of an object is the same on every router. Then
# the failures: the etcd leader killed while writes go on (no acknowledged write
# lost, writes resume after the election); r3 cut off from etcd (it keeps enforcing,
# answers reads saying how stale, refuses writes with 503, and catches up once the
# cut heals); r2 killed with SIGKILL while it applies 10,000 routes and started again
# (its kernel then holds exactly its desired routes).
# shellcheck disable=SC2317 # helpers run through check
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/e2e/traffic_lib.sh
. "$HERE/traffic_lib.sh"
# shellcheck source=tests/e2e/lib_etcd.sh
. "$HERE/lib_etcd.sh"
# shellcheck source=deploy/lab-fleet-topology.sh
. "${VR_SRC:-$HERE/../..}/deploy/lab-fleet-topology.sh"

e2e_init fleet
T0=$SECONDS
BULK=10000 # routes in the kill -9 mid-apply step

# ---------------------------------------------------------------- helpers

# post NS PATH JSON: POST; the new object's id in $ID.
post() {
	e2e_api "$1" POST "$2" "$3" >/dev/null
	ID=$(e2e_jq '.id // empty')
}

# The routes vrouter put in a router's kernel (proto 245, every table), one
# "destination via" a line, sorted.
owned_routes() {
	{
		ip -n "$1" -4 route show table all proto 245
		ip -n "$1" -6 route show table all proto 245
	} | awk '{d = $1; v = ""; for (i = 2; i < NF; i++) if ($i == "via") v = $(i + 1); print d, v}' | sort
}

# route_in NS DEST VIA: the router's kernel holds vrouter's route DEST via VIA.
route_in() { owned_routes "$1" | grep -qxF "$2 $3"; }
route_absent() { ! owned_routes "$1" | grep -q "^$2 "; }

# The routes the fleet wants on router NAME, read through NS's API, in owned_routes'
# form (the routes of its main table only: this test makes no other).
desired_routes() {
	e2e_api "$1" GET "/v1/config?router=$2" >/dev/null
	e2e_jq '.routes[] | "\(.destination | sub("/32$"; "") | sub("/128$"; "")) \(.via // "")"' | sort
}

kernel_is_desired() { # NS_OF_ROUTER API_NS NAME
	diff <(owned_routes "$1") <(desired_routes "$2" "$3")
}

# get_ok NS PATH: 200 for a GET.
get_ok() {
	e2e_api "$1" GET "$2" >/dev/null
	[[ $(e2e_last_status) == 200 ]]
}

# The status an API answers a write with, in $E2E_TMP/status (no check).
api_status() { e2e_api "$@" >/dev/null || true; }

# write_answers NS CODE JSON: a POST /v1/routes of JSON through NS answers CODE.
write_answers() {
	api_status "$1" POST /v1/routes "$3"
	[[ $(e2e_last_status) == "$2" ]]
}

# stale NS: the answer to a GET through NS says how stale its copy may be.
stale() {
	e2e_api "$1" GET /v1/routes >/dev/null
	[[ -n $(e2e_header Vrouter-Stale-Since) ]]
}
not_stale() { ! stale "$1"; }

# alive_are NS NAMES: GET /v1/routers through NS says exactly NAMES (a,b,c) are alive.
alive_are() {
	e2e_api "$1" GET /v1/routers >/dev/null
	[[ $(e2e_jq '[.items[] | select(.alive) | .name] | sort | join(",")') == "$2" ]]
}

# has_addr4 NS IF ADDR/PREFIX
has_addr4() { ip -n "$1" -4 -o addr show dev "$2" | grep -qF " $3 "; }

# route_metric NS DEST VIA METRIC: vrouter's route has that metric.
route_metric() { ip -n "$1" route show proto 245 | grep -q "^$2 via $3 .*metric $4"; }

# guarded NS ADDR: the router's table inet vrouter guards ADDR.
guarded() { ip netns exec "$1" nft list map inet vrouter in4 | grep -qF "$2"; }

# bulk_seen NS: how many of the bulk routes (100.64.0.0/24 on) the kernel holds.
bulk_seen() { ip -n "$1" route show proto 245 | grep -c '^100\.' || true; }

# tcp_blocked FROM_NS TO_NS ADDR PORT: a TCP connection FROM -> ADDR:PORT does not get through
# (something listens there: the guard, not a missing listener, refuses it).
tcp_blocked() {
	local from=$1 to=$2 addr=$3 port=$4
	e2e_bg "$to" nc -l "$port"
	e2e_poll 5 listening "$to" "$port" || return 1
	if echo x | ip netns exec "$from" timeout 5 nc -N -w 2 "$addr" "$port" >/dev/null 2>&1; then
		kill "$E2E_BG" 2>/dev/null || true
		return 1
	fi
	kill "$E2E_BG" 2>/dev/null || true
	return 0
}

# ---------------------------------------------------------------- the fleet

e2e_step "etcd cluster and topology"
ETCD_ARGS=(--max-txn-ops 50000 --max-request-bytes $((64 << 20)))
etcd_cluster
declare -a R H
e2e_ns core
CORE=$E2E_NS
for i in 1 2 3; do
	e2e_ns "r$i"
	R[i]=$E2E_NS
	e2e_ns "h$i"
	H[i]=$E2E_NS
done
fleet_topology "$CORE" "${R[1]}" "${R[2]}" "${R[3]}" "${H[1]}" "${H[2]}" "${H[3]}"
for i in 1 2 3; do
	fleet_mgmt_link "$ETCD_NET" "${R[i]}" "mr$i" "$ETCD_SUBNET.2$i/24"
done

e2e_step "three routers in fleet mode"
for i in 1 2 3; do
	e2e_daemon "${R[i]}" --etcd "$ETCD_ENDPOINTS" --router "r$i"
done
e2e_api "${R[2]}" GET /v1/routers >/dev/null
e2e_expect_status 200 "GET /v1/routers on r2"
check_poll "r2 lists the three routers, alive" 15 alive_are "${R[2]}" r1,r2,r3

e2e_step "the whole fleet configured through r1"
for i in 1 2 3; do
	post "${R[1]}" /v1/subnets "{\"router\":\"r$i\",\"name\":\"transit\",\"cidr\":\"10.255.0.0/24\",\"interface\":\"enp0s1\",\"router_ip\":\"10.255.0.$i\"}"
	e2e_expect_status 201 "r1 creates r$i's transit subnet"
	post "${R[1]}" /v1/subnets "{\"router\":\"r$i\",\"name\":\"hosts\",\"cidr\":\"192.168.$i.0/24\",\"interface\":\"enp0s2\",\"router_ip\":\"192.168.$i.1\"}"
	e2e_expect_status 201 "r1 creates r$i's subnet for h$i"
	e2e_api "${R[1]}" PUT "/v1/settings?router=r$i" '{"forwarding":{"ipv4":true,"ipv6":false}}' >/dev/null
	e2e_expect_status 200 "r1 switches forwarding on for r$i"
done
# r1 reaches h2 and h3 through them; they answer through r1 (the return path).
post "${R[1]}" /v1/routes '{"router":"r1","destination":"192.168.2.0/24","via":"10.255.0.2"}'
e2e_expect_status 201 "r1: route to h2's network"
post "${R[1]}" /v1/routes '{"router":"r1","destination":"192.168.3.0/24","via":"10.255.0.3"}'
e2e_expect_status 201 "r1: route to h3's network"
post "${R[1]}" /v1/routes '{"router":"r2","destination":"192.168.1.0/24","via":"10.255.0.1"}'
e2e_expect_status 201 "r1 writes r2's return route"
R2_ROUTE=$ID
post "${R[1]}" /v1/routes '{"router":"r3","destination":"192.168.1.0/24","via":"10.255.0.1"}'
e2e_expect_status 201 "r1 writes r3's return route"

check_poll "r2's kernel has the route written through r1" 15 route_in "${R[2]}" 192.168.1.0/24 10.255.0.1
check_poll "r3's kernel has its route" 15 route_in "${R[3]}" 192.168.1.0/24 10.255.0.1
check_poll "r2 has its addresses" 15 has_addr4 "${R[2]}" enp0s2 192.168.2.1/24
check_eq "r1's kernel has only r1's routes" "$(printf '%s\n' '192.168.2.0/24 10.255.0.2' '192.168.3.0/24 10.255.0.3')" "$(owned_routes "${R[1]}")"
check_eq "r2's kernel has only r2's routes" "192.168.1.0/24 10.255.0.1" "$(owned_routes "${R[2]}")"
check_eq "r3's kernel has only r3's routes" "192.168.1.0/24 10.255.0.1" "$(owned_routes "${R[3]}")"
check_poll "h1 pings h2 across r1 and r2" 15 ping_ok "${H[1]}" 192.168.2.2
check_poll "h1 pings h3 across r1 and r3" 15 ping_ok "${H[1]}" 192.168.3.2

e2e_step "one object, one ETag, on every router"
e2e_api "${R[1]}" GET "/v1/routes/$R2_ROUTE" >/dev/null
ETAG1=$(e2e_header ETag)
e2e_api "${R[3]}" GET "/v1/routes/$R2_ROUTE" >/dev/null
e2e_expect_status 200 "r3 reads r2's route"
check_eq "the route's ETag on r3 is the one r1 gave" "$ETAG1" "$(e2e_header ETag)"
check_eq "the route says it belongs to r2" "r2" "$(e2e_jq .router)"
e2e_api "${R[2]}" GET "/v1/routes?router=r2" >/dev/null
check_eq "GET /v1/routes?router=r2 lists r2's route alone" "$R2_ROUTE" "$(e2e_jq '[.items[].id] | join(",")')"
e2e_api "${R[3]}" PUT "/v1/routes/$R2_ROUTE" '{"router":"r2","destination":"192.168.1.0/24","via":"10.255.0.1","metric":5}' -H "If-Match: $ETAG1" >/dev/null
e2e_expect_status 200 "r3 replaces r2's route with the ETag r1 gave (If-Match)"
e2e_api "${R[1]}" PUT "/v1/routes/$R2_ROUTE" '{"router":"r2","destination":"192.168.1.0/24","via":"10.255.0.1","metric":7}' -H "If-Match: $ETAG1" >/dev/null
e2e_expect_status 412 "r1 with the old ETag: 412, the write through r3 stands"
check_poll "r2's kernel has the route at metric 5" 15 route_metric "${R[2]}" 192.168.1.0/24 10.255.0.1 5

e2e_step "a fleet-wide security group guards h2 and h3 on r2 and r3"
post "${R[1]}" /v1/security-groups '{"name":"web","targets":["192.168.2.2","192.168.3.2"]}'
e2e_expect_status 201 "r1 creates the group"
SG=$ID
post "${R[1]}" /v1/security-group-rules "{\"security_group_id\":\"$SG\",\"direction\":\"ingress\",\"protocol\":\"tcp\",\"port_from\":12345,\"port_to\":12345,\"cidr\":\"192.168.1.0/24\"}"
e2e_expect_status 201 "r1 opens port 12345 from h1's network"
for i in 2 3; do
	check_poll "r$i's table inet vrouter guards h$i" 15 guarded "${R[i]}" "192.168.$i.2"
	check_tcp "${H[1]}" "${H[i]}" "192.168.$i.2"
	check "h1 -> h$i port 22 is dropped on r$i" tcp_blocked "${H[1]}" "${H[i]}" "192.168.$i.2" 22
done
check "ping h1 -> h2 is dropped (no rule allows it)" ping_fails "${H[1]}" 192.168.2.2

e2e_step "the etcd leader killed while writes go on"
acked=()
lost_window=0
leader=$(etcd_leader)
for ((n = 0; n < 40; n++)); do
	if ((n == 10)); then
		kill -KILL "${ETCD_PIDS[leader - 1]}"
		e2e_log "killed etcd member m$leader (the leader) after 10 writes"
	fi
	api_status "${R[1]}" POST /v1/routes "{\"router\":\"r2\",\"destination\":\"172.31.$n.0/24\",\"via\":\"10.255.0.1\"}"
	case $(e2e_last_status) in
	201) acked+=("$(e2e_jq .id)") ;;
	503) lost_window=$((lost_window + 1)) ;;
	*) fail "write $n during the election: HTTP $(e2e_last_status)" "$(e2e_last_body)" ;;
	esac
done
e2e_log "writes acknowledged: ${#acked[@]} of 40, refused with 503 during the election: $lost_window"
check "writes resumed after the election (the last one acknowledged)" test "$(e2e_last_status)" = 201
absent=""
for id in "${acked[@]}"; do
	for i in 1 2 3; do
		e2e_poll 10 get_ok "${R[i]}" "/v1/routes/$id" || absent+=" $id@r$i"
	done
done
check_eq "every acknowledged write is on every router" "" "$absent"
check_poll "r2's kernel has every acknowledged route" 20 kernel_is_desired "${R[2]}" "${R[1]}" r2

e2e_step "r3 cut off from etcd"
ip -n "${R[3]}" link set mgmt0 down
R3_ROUTE='{"router":"r3","destination":"172.30.9.0/24","via":"10.255.0.1"}'
check_poll "r3 refuses writes with 503" 20 write_answers "${R[3]}" 503 "$R3_ROUTE"
api_status "${R[3]}" POST /v1/routes "$R3_ROUTE"
check_match "the 503 is problem+json naming etcd" '"status": ?503' "$(e2e_last_body)"
check_match "... and says why" 'etcd' "$(e2e_jq .detail)"
check_poll "r3 answers reads with Vrouter-Stale-Since" 20 stale "${R[3]}"
e2e_api "${R[3]}" GET "/v1/routes?router=r3" >/dev/null
e2e_expect_status 200 "r3 still answers reads from its copy"
check_tcp "${H[1]}" "${H[3]}" 192.168.3.2
check "r3 keeps enforcing: h1 -> h3 port 22 still dropped" tcp_blocked "${H[1]}" "${H[3]}" 192.168.3.2 22
post "${R[1]}" /v1/routes '{"router":"r3","destination":"172.30.1.0/24","via":"10.255.0.1"}'
e2e_expect_status 201 "r1 writes a route for r3 while r3 is cut off"
check "r3 has not seen it" route_absent "${R[3]}" 172.30.1.0/24
ip -n "${R[3]}" link set mgmt0 up
check_poll "after the cut heals, r3's kernel catches up" 30 route_in "${R[3]}" 172.30.1.0/24 10.255.0.1
check_poll "r3 takes writes again" 20 write_answers "${R[3]}" 201 "$R3_ROUTE"
check_poll "r3's answers stop saying stale" 10 not_stale "${R[3]}"
check_poll "r1 lists r3 alive again" 20 alive_are "${R[1]}" r1,r2,r3
check_poll "r3's kernel holds exactly its desired routes" 20 kernel_is_desired "${R[3]}" "${R[1]}" r3

e2e_step "r2 killed with SIGKILL while it applies $BULK routes, then started again"
e2e_api "${R[1]}" GET "/v1/config?router=r2" >/dev/null
jq --argjson n "$BULK" '.routes += [range($n) | {router: "r2",
	destination: "100.\(64 + (. / 256 | floor)).\(. % 256).0/24", via: "10.255.0.1"}]' \
	"$E2E_TMP/body" >"$E2E_TMP/bulk.json"
e2e_api "${R[1]}" PUT "/v1/config?router=r2" "@$E2E_TMP/bulk.json" >/dev/null
e2e_expect_status 200 "r1 replaces r2's configuration with $BULK more routes"
# At once: r2 is still applying the revision (etcd's watch event, its copy, its kernel).
seen=$(bulk_seen "${R[2]}")
e2e_kill9 "${R[2]}"
e2e_log "r2 killed as r1's answer came, with $seen of the $BULK routes in its kernel"
e2e_daemon "${R[2]}" --etcd "$ETCD_ENDPOINTS" --router r2
check_poll "after the restart r2's kernel equals its desired routes" 60 kernel_is_desired "${R[2]}" "${R[1]}" r2
check_eq "r1's kernel still has only r1's routes" "$(printf '%s\n' '192.168.2.0/24 10.255.0.2' '192.168.3.0/24 10.255.0.3')" "$(owned_routes "${R[1]}")"
check_tcp "${H[1]}" "${H[2]}" 192.168.2.2

e2e_log "fleet test took $((SECONDS - T0)) s"
e2e_done
