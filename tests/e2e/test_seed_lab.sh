#!/usr/bin/env bash
# The article's lab driven through the API: net01 (192.168.150.2) -- router -- net02
# (192.168.100.2), each with its own vrouterd. Routes through the API instead of
# `ip route add ... via ...`, the forgotten return path, TTL 63, a TCP message on port
# 12345, IPv6, restarts, drift repair, foreign state left alone, a failed route that
# heals when its gateway becomes reachable, delete.
# shellcheck disable=SC2317,SC2016 # helpers run through check; sh -c scripts
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/e2e/traffic_lib.sh
. "$HERE/traffic_lib.sh"
# shellcheck source=deploy/lab-topology.sh
. "${VR_SRC:-$HERE/../..}/deploy/lab-topology.sh"

e2e_init seed_lab

# ---------------------------------------------------------------- helpers

# vroute NS DEST [table N]: our route for DEST as the kernel shows it (empty if none).
vroute() {
	local ns=$1 dst=$2
	shift 2
	ip -n "$ns" "$(fam "$dst")" route show "$dst" proto 245 "$@"
}
has_vroute() { [[ -n $(vroute "$@") ]]; }
no_vroute() { [[ -z $(vroute "$@") ]]; }

# Whole routing/firewall picture of a namespace (link-local/multicast v6 noise left out).
snapshot() {
	local ns=$1
	ip -n "$ns" -4 route show table all
	ip -n "$ns" -6 route show table all | grep -Ev '^(local |multicast |)?(fe80|ff00|anycast fe80)' || true
	ip -n "$ns" -4 rule show
	ip -n "$ns" -6 rule show
	ip netns exec "$ns" nft list ruleset
}

# post_route NS JSON: POST /v1/routes; route id in $RID.
post_route() {
	e2e_api "$1" POST /v1/routes "$2" >/dev/null
	RID=$(e2e_jq '.id // empty')
}

route_state() { # route_state NS ID -> status.state
	e2e_api "$1" GET "/v1/routes/$2" >/dev/null
	e2e_jq '.status.state'
}
state_is() { [[ $(route_state "$1" "$2") == "$3" ]]; }

# ---------------------------------------------------------------- the lab

e2e_step "build the lab: router, net01, net02"
e2e_ns router
R=$E2E_NS
e2e_ns net01
N1=$E2E_NS
e2e_ns net02
N2=$E2E_NS
lab_topology "$R" "$N1" "$N2"
check "router reaches net01" ping_ok "$R" 192.168.150.2
check "router reaches net02" ping_ok "$R" 192.168.100.2
check "router reaches net01 over IPv6" ping_ok "$R" fd00:150::2

before_r=$(snapshot "$R")
before_1=$(snapshot "$N1")
before_2=$(snapshot "$N2")
e2e_daemon "$R"
e2e_daemon "$N1"
e2e_daemon "$N2"
sleep 0.5
check_eq "starting vrouterd with no desired state changes nothing (router)" "$before_r" "$(snapshot "$R")"
check_eq "starting vrouterd with no desired state changes nothing (net01)" "$before_1" "$(snapshot "$N1")"
check_eq "starting vrouterd with no desired state changes nothing (net02)" "$before_2" "$(snapshot "$N2")"

e2e_step "(a) no route yet: net01 cannot reach net02"
check "ping net01 -> 192.168.100.2 fails" ping_fails "$N1" 192.168.100.2
check "ping net02 -> 192.168.150.2 fails" ping_fails "$N2" 192.168.150.2

e2e_step "(b) route on net01 only: the forgotten return path"
post_route "$N1" '{"destination":"192.168.100.0/24","via":"192.168.150.3"}'
e2e_expect_status 201 "POST /v1/routes on net01"
R1=$RID
check_match "route id has the rt- prefix" '^rt-[0-9a-f]+$' "$R1"
check_eq "Location header" "/v1/routes/$R1" "$(e2e_header Location)"
check_eq "status.state is active in the POST answer" "active" "$(e2e_jq .status.state)"
check_eq "destination echoed" "192.168.100.0/24" "$(e2e_jq .destination)"
check_eq "via echoed" "192.168.150.3" "$(e2e_jq .via)"
check_eq "route_table_id defaults to rtb-main" "rtb-main" "$(e2e_jq .route_table_id)"
check_eq "type defaults to unicast" "unicast" "$(e2e_jq .type)"
check_match "ip route shows it with proto 245/vrouter via 192.168.150.3" \
	'^192\.168\.100\.0/24 via 192\.168\.150\.3 dev enp0s1 proto (245|vrouter)' \
	"$(ip -n "$N1" route show 192.168.100.0/24)"
check_eq "GET /v1/routes/ID: active" "active" "$(route_state "$N1" "$R1")"
check "ping net01 -> net02 still fails (no return path on net02)" ping_fails "$N1" 192.168.100.2

e2e_step "(c) return path on net02: ping both ways, TTL 63, TCP 12345"
post_route "$N2" '{"destination":"192.168.150.0/24","via":"192.168.100.3"}'
e2e_expect_status 201 "POST /v1/routes on net02"
R2=$RID
check_eq "status.state active" "active" "$(e2e_jq .status.state)"
check "kernel route on net02" has_vroute "$N2" 192.168.150.0/24
check_ttl "$N1" 192.168.100.2 63
check_ttl "$N2" 192.168.150.2 63
check_tcp "$N1" "$N2" 192.168.100.2

e2e_step "(d) the same over IPv6"
check "ping -6 net01 -> fd00:100::2 fails before routes" ping_fails "$N1" fd00:100::2
post_route "$N1" '{"destination":"fd00:100::/64","via":"fd00:150::3"}'
e2e_expect_status 201 "POST IPv6 route on net01"
R1V6=$RID
check_eq "IPv6 route active" "active" "$(e2e_jq .status.state)"
post_route "$N2" '{"destination":"fd00:150::/64","via":"fd00:100::3"}'
e2e_expect_status 201 "POST IPv6 route on net02"
check_eq "IPv6 route active" "active" "$(e2e_jq .status.state)"
check_match "ip -6 route shows it with proto 245/vrouter" \
	'^fd00:100::/64 via fd00:150::3 dev enp0s1 proto (245|vrouter)' \
	"$(ip -n "$N1" -6 route show fd00:100::/64)"
check_ttl "$N1" fd00:100::2 63
check_ttl "$N2" fd00:150::2 63
check_tcp "$N1" "$N2" fd00:100::2

e2e_step "(e) restart the daemon on net01: routes stay, nothing deleted and re-added"
monitor="$E2E_TMP/monitor.net01"
e2e_bg "$N1" sh -c 'exec ip monitor route >"$1"' sh "$monitor"
MON=$E2E_BG
sleep 0.3
e2e_stop "$N1"
check "IPv4 route still in the kernel right after SIGTERM" has_vroute "$N1" 192.168.100.0/24
check "IPv6 route still in the kernel right after SIGTERM" has_vroute "$N1" fd00:100::/64
e2e_daemon "$N1"
check "IPv4 route there after restart" has_vroute "$N1" 192.168.100.0/24
check_eq "route still active after restart" "active" "$(route_state "$N1" "$R1")"
check "ping net01 -> net02 works after restart" ping_ok "$N1" 192.168.100.2
check "ping -6 net01 -> net02 works after restart" ping_ok "$N1" fd00:100::2
sleep 1
kill "$MON" 2>/dev/null || true
check_no_match "no route deleted during stop and start (ip monitor)" \
	'^Deleted .*(192\.168\.100\.0/24|fd00:100::/64)' "$(cat "$monitor")"

e2e_step "(e2) start-up restores what the kernel lost while the daemon was stopped"
e2e_stop "$N1"
ip -n "$N1" route del 192.168.100.0/24
ip -n "$N1" -6 route del fd00:100::/64
e2e_daemon "$N1"
check_poll "IPv4 route restored at start-up" 3 has_vroute "$N1" 192.168.100.0/24
check_poll "IPv6 route restored at start-up" 3 has_vroute "$N1" fd00:100::/64
check "ping works after the restore" ping_ok "$N1" 192.168.100.2

e2e_step "(f) a route deleted by hand comes back"
ip -n "$N1" route del 192.168.100.0/24
check_poll "192.168.100.0/24 back in net01 within 3s" 3 has_vroute "$N1" 192.168.100.0/24
check "ping works again" ping_ok "$N1" 192.168.100.2
ip -n "$N1" -6 route del fd00:100::/64
check_poll "fd00:100::/64 back in net01 within 3s" 3 has_vroute "$N1" fd00:100::/64

e2e_step "(g) foreign routes and nftables survive restarts and resyncs"
ip -n "$N1" route add 10.99.0.0/24 via 192.168.150.3 proto static
ip netns exec "$N1" nft add table inet foreign
ip netns exec "$N1" nft add chain inet foreign input '{ type filter hook input priority 10; policy accept; }'
ip netns exec "$N1" nft add rule inet foreign input counter accept
foreign_route() { ip -n "$N1" route show 10.99.0.0/24 proto static | grep 'via 192.168.150.3' >/dev/null; }
foreign_nft() { ip netns exec "$N1" nft list table inet foreign | grep 'counter .*accept' >/dev/null; }
e2e_restart "$N1" --resync-interval 1
sleep 3
check "foreign route after restart and resyncs" foreign_route
check "foreign nft table after restart and resyncs" foreign_nft
ip -n "$N1" route del 192.168.100.0/24
check_poll "drift repaired again" 3 has_vroute "$N1" 192.168.100.0/24
check "foreign route after a drift repair" foreign_route
check "foreign nft table after a drift repair" foreign_nft
e2e_kill9 "$N1"
check "route still there after SIGKILL" has_vroute "$N1" 192.168.100.0/24
e2e_daemon "$N1" --resync-interval 1
sleep 2
check "foreign route after SIGKILL and start" foreign_route
check "foreign nft table after SIGKILL and start" foreign_nft
check "our route after SIGKILL and start" has_vroute "$N1" 192.168.100.0/24
check_eq "route active after SIGKILL and start" "active" "$(route_state "$N1" "$R1")"
check "ping works after SIGKILL and start" ping_ok "$N1" 192.168.100.2

e2e_step "(h) a gateway on no connected network: failed, then healed"
post_route "$N1" '{"destination":"172.16.50.0/24","via":"10.0.0.1"}'
e2e_expect_status 201 "POST route via 10.0.0.1"
RF=$RID
check_eq "status.state failed" "failed" "$(e2e_jq .status.state)"
check_match "status.reason is not empty" '.' "$(e2e_jq '.status.reason // empty')"
check "not in the kernel" no_vroute "$N1" 172.16.50.0/24
ip -n "$N1" addr add 10.0.0.2/24 dev enp0s1
check_poll "becomes active within 5s of the address appearing" 5 state_is "$N1" "$RF" active
check_match "in the kernel via 10.0.0.1" '^172\.16\.50\.0/24 via 10\.0\.0\.1 dev enp0s1' "$(vroute "$N1" 172.16.50.0/24)"
check_eq "status.reason empty once active" "" "$(route_state "$N1" "$RF" >/dev/null; e2e_jq '.status.reason // empty')"

e2e_step "(i) DELETE removes routes from the kernel"
e2e_api "$N1" DELETE "/v1/routes/$RF" >/dev/null
e2e_expect_status 204 "DELETE the healed route"
check "it left the kernel" no_vroute "$N1" 172.16.50.0/24
e2e_api "$N1" GET "/v1/routes/$RF" >/dev/null
e2e_expect_status 404 "GET the deleted route"
e2e_api "$N1" DELETE "/v1/routes/$R1" >/dev/null
e2e_expect_status 204 "DELETE 192.168.100.0/24 on net01"
check "192.168.100.0/24 left the kernel" no_vroute "$N1" 192.168.100.0/24
check "ping net01 -> net02 fails again" ping_fails "$N1" 192.168.100.2
sleep 1.5
check "still gone after a resync" no_vroute "$N1" 192.168.100.0/24
check "IPv6 route untouched" has_vroute "$N1" fd00:100::/64
check "foreign route untouched" foreign_route
check "foreign nft table untouched" foreign_nft
e2e_api "$N1" DELETE "/v1/routes/$R1V6" >/dev/null
e2e_expect_status 204 "DELETE fd00:100::/64 on net01"
check_eq "no vrouter routes left in net01" "" "$(ip -n "$N1" route show table all proto 245; ip -n "$N1" -6 route show table all proto 245)"
check "net02's routes untouched" has_vroute "$N2" 192.168.150.0/24
: "$R2"

e2e_done
