#!/usr/bin/env bash
# Two routers in a row (deploy/lab2-topology.sh):
#
#   net01 192.168.150.2 -- [.3 r1 10.255.0.1] -- transit -- [10.255.0.2 r2 .3] -- 192.168.100.2 net02
#
# The hosts are plain hosts (address and default route set with `ip`); everything on
# r1 and r2 is made through their vrouterd APIs: router addresses (subnets), IP
# forwarding (settings), static routes. Then: ping with TTL 62 and a TCP message
# across both routers; a blackhole host route cuts only that host; associating
# net01's subnet with a table that prohibits net02 cuts net01 off while the main table
# is unchanged; forwarding switched off by hand is repaired; /v1/interfaces; bad input
# changes nothing; IPv6; a restart; deleting a subnet removes only its address; a
# foreign address and a foreign policy rule survive all of it.
# shellcheck disable=SC2317,SC2016 # helpers run through check; sh -c scripts
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/e2e/traffic_lib.sh
. "$HERE/traffic_lib.sh"
# shellcheck source=deploy/lab2-topology.sh
. "${VR_SRC:-$HERE/../..}/deploy/lab2-topology.sh"

e2e_init two_routers
T0=$SECONDS

# ---------------------------------------------------------------- helpers

# post NS PATH JSON: POST; the new object's id in $ID.
post() {
	e2e_api "$1" POST "$2" "$3" >/dev/null
	ID=$(e2e_jq '.id // empty')
}

# subnet_json NAME CIDR IFACE ROUTER_IP [ROUTE_TABLE_ID]
subnet_json() {
	jq -cn --arg n "$1" --arg c "$2" --arg i "$3" --arg r "$4" --arg t "${5:-rtb-main}" \
		'{name: $n, cidr: $c, interface: $i, router_ip: $r, route_table_id: $t}'
}

# obj_state NS PATH: status.state of one object.
obj_state() {
	e2e_api "$1" GET "$2" >/dev/null
	e2e_jq '.status.state'
}

# Every address of a namespace, one "ifname address/prefix" per line, sorted.
addrs() { ip -n "$1" -o addr show | awk '{print $2, $4}' | sort; }
has_addr() { addrs "$1" | grep -qxF "$2 $3"; }
no_addr() { ! has_addr "$@"; }
rules() {
	ip -n "$1" -4 rule show
	ip -n "$1" -6 rule show
}

# What the kernel of a router holds (vrouter's own and foreign state).
kernel_of() {
	local ns=$1
	addrs "$ns"
	rules "$ns"
	ip -n "$ns" route show table all
	ip -n "$ns" -6 route show table all | grep -Ev '^(local |multicast |)?(fe80|ff00|anycast fe80)' || true
	ip netns exec "$ns" sysctl -n net.ipv4.ip_forward net.ipv6.conf.all.forwarding
}

# What the API and the kernel of a router hold: bad input must change none of it.
state_of() {
	local ns=$1 c
	for c in subnets route-tables routes; do
		echo "== $c"
		e2e_api "$ns" GET "/v1/$c" | jq -S . 2>/dev/null || true
	done
	echo "== settings"
	e2e_api "$ns" GET /v1/settings | jq -S . 2>/dev/null || true
	echo "== kernel"
	kernel_of "$ns"
}

# bad NS METHOD PATH JSON STATUS MESSAGE: answered STATUS, and nothing changed. The
# answer stays readable with bad_jq FILTER.
bad() {
	local ns=$1 method=$2 path=$3 json=$4 want=$5 msg=$6 before
	before=$(state_of "$ns")
	e2e_api "$ns" "$method" "$path" "$json" >/dev/null
	e2e_expect_status "$want" "$msg"
	check_match "$msg: the answer is problem+json" '^application/problem\+json' "$(e2e_header Content-Type)"
	cp "$E2E_TMP/body" "$E2E_TMP/bad_body"
	check_eq "$msg: nothing changed (API lists, addresses, rules, routes, sysctls)" "$before" "$(state_of "$ns")"
}

fwd_v4() { ip netns exec "$1" sysctl -n net.ipv4.ip_forward; }
fwd_v6() { ip netns exec "$1" sysctl -n net.ipv6.conf.all.forwarding; }
status_jq() {
	e2e_api "$1" GET /v1/status >/dev/null
	e2e_jq "$2"
}

bad_jq() { jq -r "$1" "$E2E_TMP/bad_body" 2>/dev/null; }

# ---------------------------------------------------------------- the lab

e2e_step "build the lab: net01 -- r1 -- transit -- r2 -- net02 (routers bare)"
e2e_ns r1
R1=$E2E_NS
e2e_ns r2
R2=$E2E_NS
e2e_ns net01
N1=$E2E_NS
e2e_ns net02
N2=$E2E_NS
lab2_topology "$R1" "$R2" "$N1" "$N2"
# A second host on net02's side: the blackhole host route must cut 192.168.100.2 only.
ip -n "$N2" addr add 192.168.100.4/24 dev enp0s1

# Foreign state on r1, made by hand before vrouterd ever ran: it must survive everything.
ip -n "$R1" addr add 10.99.9.1/24 dev enp0s1
ip -n "$R1" rule add from 10.98.0.0/24 lookup 100
foreign_addr() { has_addr "$R1" enp0s1 10.99.9.1/24; }
foreign_rule() { ip -n "$R1" rule show | grep -E '^[0-9]+:[[:space:]]+from 10\.98\.0\.0/24 lookup 100 *$' >/dev/null; }
check "foreign address 10.99.9.1/24 on r1" foreign_addr
check "foreign rule from 10.98.0.0/24 lookup 100 on r1" foreign_rule

before_r1=$(kernel_of "$R1")
before_r2=$(kernel_of "$R2")
e2e_daemon "$R1"
e2e_daemon "$R2"
sleep 0.5
check_eq "starting vrouterd with no desired state changes nothing (r1)" "$before_r1" "$(kernel_of "$R1")"
check_eq "starting vrouterd with no desired state changes nothing (r2)" "$before_r2" "$(kernel_of "$R2")"

e2e_step "(a) before the API calls nothing works"
check "ping net01 -> 192.168.100.2 fails" ping_fails "$N1" 192.168.100.2
check "ping net01 -> its gateway 192.168.150.3 fails (r1 has no address)" ping_fails "$N1" 192.168.150.3
check_eq "r1 has only the foreign IPv4 address" "enp0s1 10.99.9.1/24" "$(addrs "$R1" | grep -v ' fe80::\| ::1/\| 127\.0\.0\.1/')"
check_eq "r2 has no IPv4 address but loopback" "lo 127.0.0.1/8" "$(ip -n "$R2" -4 -o addr show | awk '{print $2, $4}')"
check_eq "forwarding off on r1" "0" "$(fwd_v4 "$R1")"
e2e_api "$R1" GET /v1/settings >/dev/null
e2e_expect_status 200 "GET /v1/settings on r1"
check_eq "settings not managed before the first PUT" "false" "$(e2e_jq .managed)"

e2e_step "(b) router addresses through the API: POST /v1/subnets on r1 and r2"
post "$R1" /v1/subnets "$(subnet_json net01 192.168.150.0/24 enp0s1 192.168.150.3)"
e2e_expect_status 201 "POST subnet net01 on r1"
S_NET01=$ID
check_match "subnet id has the subnet- prefix" '^subnet-[0-9a-f]+$' "$S_NET01"
check_eq "Location header" "/v1/subnets/$S_NET01" "$(e2e_header Location)"
check_eq "status.state active in the POST answer" "active" "$(e2e_jq .status.state)"
check_eq "route_table_id echoed" "rtb-main" "$(e2e_jq .route_table_id)"
post "$R1" /v1/subnets "$(subnet_json transit 10.255.0.0/30 enp0s2 10.255.0.1)"
e2e_expect_status 201 "POST subnet transit on r1"
S_R1T=$ID
post "$R2" /v1/subnets "$(subnet_json transit 10.255.0.0/30 enp0s1 10.255.0.2)"
e2e_expect_status 201 "POST subnet transit on r2"
S_R2T=$ID
post "$R2" /v1/subnets "$(subnet_json net02 192.168.100.0/24 enp0s2 192.168.100.3)"
e2e_expect_status 201 "POST subnet net02 on r2"
S_NET02=$ID
check_eq "r2's subnet active" "active" "$(e2e_jq .status.state)"
check "r1 enp0s1 has 192.168.150.3/24" has_addr "$R1" enp0s1 192.168.150.3/24
check "r1 enp0s2 has 10.255.0.1/30" has_addr "$R1" enp0s2 10.255.0.1/30
check "r2 enp0s1 has 10.255.0.2/30" has_addr "$R2" enp0s1 10.255.0.2/30
check "r2 enp0s2 has 192.168.100.3/24" has_addr "$R2" enp0s2 192.168.100.3/24
check_eq "no policy rule for subnets on the main table" "" "$(ip -n "$R1" rule show | grep -E 'proto (245|vrouter)' || true)"
# The hosts' ARP entries for their gateways failed in (a): forget them (host side),
# and poll anyway.
ip -n "$N1" neigh flush dev enp0s1
ip -n "$N2" neigh flush dev enp0s1
check_poll "ping net01 -> gateway 192.168.150.3 works" 5 ping_ok "$N1" 192.168.150.3
check_poll "ping net02 -> gateway 192.168.100.3 works" 5 ping_ok "$N2" 192.168.100.3
check "ping r1 -> r2 over the transit link" ping_ok "$R1" 10.255.0.2
check "ping net01 -> 192.168.100.2 still fails (no forwarding, no routes)" ping_fails "$N1" 192.168.100.2

e2e_step "(c) forwarding through the API: PUT /v1/settings"
for r in "$R1" "$R2"; do
	e2e_api "$r" PUT /v1/settings '{"forwarding":{"ipv4":true,"ipv6":false}}' >/dev/null
	e2e_expect_status 200 "PUT /v1/settings ipv4 on ${r##*-}"
	check_eq "settings echoed (${r##*-})" '{"ipv4":true,"ipv6":false}' "$(jq -c .forwarding "$E2E_TMP/body")"
	check_eq "settings managed (${r##*-})" "true" "$(e2e_jq .managed)"
	check_eq "net.ipv4.ip_forward=1 on ${r##*-}" "1" "$(fwd_v4 "$r")"
	check_eq "net.ipv6.conf.all.forwarding=0 on ${r##*-}" "0" "$(fwd_v6 "$r")"
done
check_eq "GET /v1/status: forwarding.ipv4 true, managed" "true true" "$(status_jq "$R1" '"\(.forwarding.ipv4) \(.forwarding.managed)"')"
check "ping net01 -> 192.168.100.2 still fails (no routes between the routers)" ping_fails "$N1" 192.168.100.2

e2e_step "(d) static routes through the API: POST /v1/routes on both routers"
post "$R1" /v1/routes '{"destination":"192.168.100.0/24","via":"10.255.0.2"}'
e2e_expect_status 201 "POST 192.168.100.0/24 via 10.255.0.2 on r1"
RT_R1=$ID
check_eq "route active on r1" "active" "$(e2e_jq .status.state)"
check "ping net01 -> 192.168.100.2 still fails (r2 has no return path)" ping_fails "$N1" 192.168.100.2
post "$R2" /v1/routes '{"destination":"192.168.150.0/24","via":"10.255.0.1"}'
e2e_expect_status 201 "POST 192.168.150.0/24 via 10.255.0.1 on r2"
RT_R2=$ID
check_eq "route active on r2" "active" "$(e2e_jq .status.state)"
check_match "r1's kernel route" '^192\.168\.100\.0/24 via 10\.255\.0\.2 dev enp0s2 proto (245|vrouter)' \
	"$(ip -n "$R1" route show 192.168.100.0/24)"
check_ttl "$N1" 192.168.100.2 62
check_ttl "$N2" 192.168.150.2 62
check_tcp "$N1" "$N2" 192.168.100.2
check_tcp "$N2" "$N1" 192.168.150.2

e2e_step "(e) forwarding switched off by hand on r1 is repaired"
repairs0=$(status_jq "$R1" .drift_repairs.forwarding)
ip netns exec "$R1" sysctl -qw net.ipv4.ip_forward=0
fwd_is_1() { [[ $(fwd_v4 "$R1") == 1 ]]; }
check_poll "net.ipv4.ip_forward back to 1 within 3s" 3 fwd_is_1
repairs_up() { (($(status_jq "$R1" .drift_repairs.forwarding) > repairs0)); }
check_poll "GET /v1/status: drift_repairs.forwarding incremented (was $repairs0)" 2 repairs_up
check_eq "GET /v1/status: forwarding.ipv4 true" "true" "$(status_jq "$R1" .forwarding.ipv4)"
check "ping net01 -> net02 works again" ping_ok "$N1" 192.168.100.2

e2e_step "(f) GET /v1/interfaces on r1"
e2e_api "$R1" GET /v1/interfaces >/dev/null
e2e_expect_status 200 "GET /v1/interfaces"
check_eq "every link of r1, by name" "enp0s1 enp0s2 lo" "$(e2e_jq '[.items[].name] | sort | join(" ")')"
check_eq "every link of r1 (ip link), by name" "enp0s1 enp0s2 lo" \
	"$(ip -n "$R1" -o link show | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | sort | paste -sd' ')"
check_eq "enp0s1: state up, a MAC" "up true" \
	"$(e2e_jq '.items[] | select(.name == "enp0s1") | "\(.state) \(.mac | test("^[0-9a-f]{2}(:[0-9a-f]{2}){5}$"))"')"
ifaddrs_api=$(e2e_jq '.items[] | .name as $n | .addresses[] | "\($n) \(.address)"' | sort)
check_eq "the addresses of every link, as ip addr shows them" "$(addrs "$R1")" "$ifaddrs_api"
check_eq "192.168.150.3/24 names its subnet" "$S_NET01" \
	"$(e2e_jq '.items[].addresses[] | select(.address == "192.168.150.3/24") | .subnet_id')"
check_eq "10.255.0.1/30 names its subnet" "$S_R1T" \
	"$(e2e_jq '.items[].addresses[] | select(.address == "10.255.0.1/30") | .subnet_id')"
check_eq "the foreign 10.99.9.1/24 has subnet_id null" "null" \
	"$(e2e_jq '.items[].addresses[] | select(.address == "10.99.9.1/24") | .subnet_id')"

e2e_step "(g) a blackhole host route on r1 cuts 192.168.100.2 only"
check "before: net01 -> 192.168.100.4 works" ping_ok "$N1" 192.168.100.4
main_r1=$(ip -n "$R1" route show table main)
post "$R1" /v1/routes '{"destination":"192.168.100.2/32","type":"blackhole"}'
e2e_expect_status 201 "POST 192.168.100.2/32 type blackhole on r1"
RT_BH=$ID
check_eq "blackhole route active" "active" "$(e2e_jq .status.state)"
check_match "r1's kernel shows it" '^blackhole 192\.168\.100\.2 proto (245|vrouter)' "$(ip -n "$R1" route show 192.168.100.2/32)"
check "net01 -> 192.168.100.2 is cut" ping_fails "$N1" 192.168.100.2
check_ttl "$N1" 192.168.100.4 62
check "r1 itself still reaches 10.255.0.2 (transit untouched)" ping_ok "$R1" 10.255.0.2
e2e_api "$R1" DELETE "/v1/routes/$RT_BH" >/dev/null
e2e_expect_status 204 "DELETE the blackhole route"
check_eq "r1's main table as before the blackhole" "$main_r1" "$(ip -n "$R1" route show table main)"
check "net01 -> 192.168.100.2 works again" ping_ok "$N1" 192.168.100.2

e2e_step "(h) net01's subnet associated with a table that prohibits net02"
post "$R1" /v1/route-tables '{"name":"isolated"}'
e2e_expect_status 201 "POST route table isolated on r1"
RTB_ISO=$ID
TBL_ISO=$(e2e_jq .table)
check_match "a kernel table number was assigned" '^[0-9]+$' "$TBL_ISO"
post "$R1" /v1/routes "{\"route_table_id\":\"$RTB_ISO\",\"destination\":\"192.168.100.0/24\",\"type\":\"prohibit\"}"
e2e_expect_status 201 "POST 192.168.100.0/24 type prohibit in isolated"
RT_PROH=$ID
check_eq "prohibit route active" "active" "$(e2e_jq .status.state)"
check_match "in the kernel, table $TBL_ISO" '^prohibit 192\.168\.100\.0/24 proto (245|vrouter)' \
	"$(ip -n "$R1" route show table "$TBL_ISO")"
check "a table nobody uses cuts nothing yet" ping_ok "$N1" 192.168.100.2
main_r1=$(ip -n "$R1" route show table main)
addrs_r1=$(addrs "$R1")
e2e_api "$R1" PUT "/v1/subnets/$S_NET01" "$(subnet_json net01 192.168.150.0/24 enp0s1 192.168.150.3 "$RTB_ISO")" >/dev/null
e2e_expect_status 200 "PUT subnet net01 with route_table_id isolated"
check_eq "route_table_id echoed" "$RTB_ISO" "$(e2e_jq .route_table_id)"
check_eq "subnet still active" "active" "$(e2e_jq .status.state)"
vr_rule_iso() {
	ip -n "$R1" rule show | grep -E "^[0-9]+:[[:space:]]+from 192\.168\.150\.0/24 lookup $TBL_ISO proto (245|vrouter)"
}
check "ip rule: from 192.168.150.0/24 lookup $TBL_ISO proto vrouter" vr_rule_iso
# The lookup, and right after it the rule that makes a miss unreachable (no fall-through to main).
check_eq "exactly two vrouter rules" "2" "$(ip -n "$R1" rule show | grep -cE 'proto (245|vrouter)' || true)"
check_match "the second: from 192.168.150.0/24 unreachable" \
	'^20001:[[:space:]]+from 192\.168\.150\.0/24 unreachable proto (245|vrouter)' "$(ip -n "$R1" rule show)"
out=$(ip netns exec "$N1" ping -c1 -W2 192.168.100.2 2>&1) || true
check_match "net01 -> 192.168.100.2 is cut: r1 answers Packet filtered (prohibit)" \
	'From 192\.168\.150\.3 .*Packet filtered' "$out"
check "net01 -> 192.168.100.4 is cut too" ping_fails "$N1" 192.168.100.4
check "net01 still reaches its gateway" ping_ok "$N1" 192.168.150.3
check "r1 itself (from 10.255.0.1) still reaches net02" ip netns exec "$R1" ping -c1 -W2 -I 10.255.0.1 192.168.100.2
check_eq "r1's main table unchanged" "$main_r1" "$(ip -n "$R1" route show table main)"
check_eq "r1's addresses unchanged (router address kept across the PUT)" "$addrs_r1" "$(addrs "$R1")"
check "foreign rule still there" foreign_rule

e2e_step "(h2) an association holds the table: DELETE it is a 409 and changes nothing"
e2e_api "$R1" DELETE "/v1/routes/$RT_PROH" >/dev/null
e2e_expect_status 204 "DELETE the prohibit route (the table stays associated)"
# (ICMP errors are rate-limited per host, 1 s: a ping without any answer is tried again.)
r1_unreachable() {
	out=$(ip netns exec "$N1" ping -c1 -W1 192.168.100.2 2>&1) || true
	grep -Eq 'From 192\.168\.150\.3 .*Unreachable' <<<"$out" && ! grep -q 'bytes from' <<<"$out"
}
check_poll "no route in the table: unreachable, no fall-through to main (r1 answers)" 5 r1_unreachable
check "the rule stays while the association stays" vr_rule_iso
bad "$R1" DELETE "/v1/route-tables/$RTB_ISO" "" 409 "DELETE route table isolated still used by subnet net01"
check_match "the 409 names the subnet" "$S_NET01" "$(bad_jq .detail)"
post "$R1" /v1/routes "{\"route_table_id\":\"$RTB_ISO\",\"destination\":\"192.168.100.0/24\",\"type\":\"prohibit\"}"
e2e_expect_status 201 "POST the prohibit route again"
RT_PROH=$ID
check "net01 cut again" ping_fails "$N1" 192.168.100.2

e2e_step "(h3) back to rtb-main: the rule goes, reachability comes back"
e2e_api "$R1" PUT "/v1/subnets/$S_NET01" "$(subnet_json net01 192.168.150.0/24 enp0s1 192.168.150.3)" >/dev/null
e2e_expect_status 200 "PUT subnet net01 back to rtb-main"
check_eq "no vrouter rule left" "" "$(ip -n "$R1" rule show | grep -E 'proto (245|vrouter)' || true)"
check_ttl "$N1" 192.168.100.2 62
check_eq "r1's main table unchanged" "$main_r1" "$(ip -n "$R1" route show table main)"
check "foreign rule still there" foreign_rule
check "foreign address still there" foreign_addr
e2e_api "$R1" DELETE "/v1/routes/$RT_PROH" >/dev/null
e2e_expect_status 204 "DELETE the prohibit route"
e2e_api "$R1" DELETE "/v1/route-tables/$RTB_ISO" >/dev/null
e2e_expect_status 204 "DELETE route table isolated, now unused"

e2e_step "(i) bad input: the right code, nothing stored, nothing in the kernel"
bad "$R1" POST /v1/subnets "$(subnet_json bad1 10.50.0.0/24 enp0s2 10.51.0.1)" 422 "router_ip outside cidr"
check_eq "the error names router_ip" "router_ip" "$(bad_jq '.errors[0].field')"
bad "$R1" POST /v1/subnets "$(subnet_json bad2 10.50.0.1/24 enp0s2 10.50.0.1)" 422 "cidr with host bits set"
check_eq "the error names cidr" "cidr" "$(bad_jq '.errors[0].field')"
bad "$R1" POST /v1/subnets "$(subnet_json bad3 192.168.150.0/25 enp0s1 192.168.150.5)" 409 "subnet inside net01's subnet"
bad "$R1" POST /v1/subnets "$(subnet_json bad4 192.168.0.0/16 enp0s2 192.168.0.1)" 409 "subnet around net01's subnet, other interface"
bad "$R1" POST /v1/subnets "$(subnet_json bad5 10.50.0.0/24 enp0s2 10.50.0.1 rtb-0bad)" 422 "route_table_id of no table"
bad "$R1" PUT "/v1/subnets/$S_R1T" "$(subnet_json transit 10.255.0.0/30 enp0s2 10.255.0.9)" 422 "PUT: router_ip outside cidr"
bad "$R1" PUT /v1/settings '{"forwarding":{"ipv4":"yes","ipv6":false}}' 422 "settings: ipv4 a string"
bad "$R1" PUT /v1/settings '{"forwarding":{"ipv4":1,"ipv6":false}}' 422 "settings: ipv4 a number"
bad "$R1" PUT /v1/settings '{"forwarding":{"ipv4":true}}' 422 "settings: ipv6 missing"
bad "$R1" PUT /v1/settings '{"forwarding":{"ipv4":false,"ipv6":false,"ipv5":true}}' 400 "settings: unknown key"
check "after all that, net01 -> net02 still works" ping_ok "$N1" 192.168.100.2

e2e_step "(j) IPv6: subnets, forwarding and routes, hop limit 62"
check "ping -6 net01 -> fd00:100::2 fails before" ping_fails "$N1" fd00:100::2
post "$R1" /v1/subnets "$(subnet_json net01-v6 fd00:150::/64 enp0s1 fd00:150::3)"
e2e_expect_status 201 "POST subnet fd00:150::/64 on r1"
S_NET01_V6=$ID
post "$R1" /v1/subnets "$(subnet_json transit-v6 fd00:255::/64 enp0s2 fd00:255::1)"
e2e_expect_status 201 "POST subnet fd00:255::/64 on r1"
post "$R2" /v1/subnets "$(subnet_json transit-v6 fd00:255::/64 enp0s1 fd00:255::2)"
e2e_expect_status 201 "POST subnet fd00:255::/64 on r2"
post "$R2" /v1/subnets "$(subnet_json net02-v6 fd00:100::/64 enp0s2 fd00:100::3)"
e2e_expect_status 201 "POST subnet fd00:100::/64 on r2"
check "r1 enp0s1 has fd00:150::3/64" has_addr "$R1" enp0s1 fd00:150::3/64
check "r2 enp0s2 has fd00:100::3/64" has_addr "$R2" enp0s2 fd00:100::3/64
for r in "$R1" "$R2"; do
	e2e_api "$r" PUT /v1/settings '{"forwarding":{"ipv4":true,"ipv6":true}}' >/dev/null
	e2e_expect_status 200 "PUT /v1/settings ipv4+ipv6 on ${r##*-}"
	check_eq "net.ipv6.conf.all.forwarding=1 on ${r##*-}" "1" "$(fwd_v6 "$r")"
done
post "$R1" /v1/routes '{"destination":"fd00:100::/64","via":"fd00:255::2"}'
e2e_expect_status 201 "POST fd00:100::/64 via fd00:255::2 on r1"
check_eq "active" "active" "$(e2e_jq .status.state)"
post "$R2" /v1/routes '{"destination":"fd00:150::/64","via":"fd00:255::1"}'
e2e_expect_status 201 "POST fd00:150::/64 via fd00:255::1 on r2"
check_eq "active" "active" "$(e2e_jq .status.state)"
check_ttl "$N1" fd00:100::2 62
check_ttl "$N2" fd00:150::2 62
check_tcp "$N1" "$N2" fd00:100::2

e2e_step "(k) restart r1's daemon: nothing flushed, nothing lost"
addrs_r1=$(addrs "$R1")
rules_r1=$(rules "$R1")
e2e_bg "$R1" sh -c 'exec ip monitor address route rule >"$1"' sh "$E2E_TMP/monitor.r1"
MON=$E2E_BG
sleep 0.3
e2e_stop "$R1" # (e2e_restart without arguments would pass vrouterd an empty one)
e2e_daemon "$R1"
check_ttl "$N1" 192.168.100.2 62
check_ttl "$N1" fd00:100::2 62
sleep 1
kill "$MON" 2>/dev/null || true
check_no_match "nothing deleted during stop and start (ip monitor)" '^Deleted' "$(cat "$E2E_TMP/monitor.r1")"
check_eq "r1's addresses as before the restart" "$addrs_r1" "$(addrs "$R1")"
check_eq "r1's rules as before the restart" "$rules_r1" "$(rules "$R1")"
check_eq "subnet net01 active after restart" "active" "$(obj_state "$R1" "/v1/subnets/$S_NET01")"

e2e_step "(l) deleting a subnet removes only its address"
addrs_r1=$(addrs "$R1")
main_r2=$(ip -n "$R2" route show table main)
e2e_api "$R1" DELETE "/v1/subnets/$S_NET01" >/dev/null
e2e_expect_status 204 "DELETE subnet net01 on r1"
check_eq "only 192.168.150.3/24 is gone from r1" "enp0s1 192.168.150.3/24" \
	"$(comm -23 <(echo "$addrs_r1") <(addrs "$R1"))"
check_eq "and nothing appeared" "" "$(comm -13 <(echo "$addrs_r1") <(addrs "$R1"))"
e2e_api "$R1" GET "/v1/subnets/$S_NET01" >/dev/null
e2e_expect_status 404 "GET the deleted subnet"
check "r1 lost its route back to 192.168.150.0/24: ping net01 -> 192.168.100.2 fails" ping_fails "$N1" 192.168.100.2
check_ttl "$N1" fd00:100::2 62
sleep 1.5
check "still gone a moment later (not repaired back)" no_addr "$R1" enp0s1 192.168.150.3/24
check_eq "r2 untouched" "$main_r2" "$(ip -n "$R2" route show table main)"
e2e_api "$R2" GET "/v1/subnets/$S_NET02" >/dev/null
check_eq "r2's subnet net02 still active" "active" "$(e2e_jq .status.state)"
: "$RT_R1" "$RT_R2" "$S_R2T" "$S_NET01_V6"

e2e_step "(m) the foreign address and rule survived all of it"
check "foreign address 10.99.9.1/24 on r1" foreign_addr
check "foreign rule from 10.98.0.0/24 lookup 100 on r1" foreign_rule

e2e_log "--- [$E2E_NAME] checks took $((SECONDS - T0))s"
e2e_done
