#!/usr/bin/env bash
# The whole desired state through GET/PUT /v1/config, one daemon in one namespace: a
# document applied (routes in two tables, IPv6, subnets with a policy rule, a security
# group, forwarding) and checked in the kernel; its GET sent back changes nothing; a dry
# run of another document changes neither the database nor the kernel and says what
# would change; the real PUT then does; an invalid document changes nothing; PUT {}
# empties everything vrouter owns and leaves foreign routes and addresses alone.
# shellcheck disable=SC2317 # helpers run through check
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/e2e/sg_lib.sh
. "$HERE/sg_lib.sh"

e2e_init config

# ---------------------------------------------------------------- helpers

# What vrouter may change in the namespace, and what it must not.
kernel_snap() {
	ip -n "$NS" -4 route show table all proto 245
	ip -n "$NS" -6 route show table all proto 245
	ip -n "$NS" -4 route show table all | grep -v 'proto 245' || true
	ip -n "$NS" addr show | grep -E 'inet6? ' | grep -v fe80 || true
	ip -n "$NS" -4 rule show
	ip -n "$NS" -6 rule show
	ip netns exec "$NS" nft list ruleset
	ip netns exec "$NS" sysctl -n net.ipv4.ip_forward net.ipv6.conf.all.forwarding
}

db_snap() {
	e2e_api "$NS" GET /v1/config
	e2e_api "$NS" GET /v1/status | jq -r .desired_revision
}

# put_config [QUERY] JSON: PUT /v1/config[?QUERY] with JSON; the answer in $E2E_TMP/body.
put_config() {
	local q=""
	if (($# == 2)); then
		q="?$1"
		shift
	fi
	e2e_api "$NS" PUT "/v1/config$q" "$1" >/dev/null
}

vroute() { ip -n "$NS" "$@" proto 245; }
has() { [[ -n $("$@") ]]; }
hasnt() { [[ -z $("$@") ]]; }
nft_table() { ip netns exec "$NS" nft list table inet vrouter; }

# ---------------------------------------------------------------- set-up

e2e_step "set-up: a router namespace with two links, foreign state, a daemon"
e2e_ns router
NS=$E2E_NS
e2e_ns peer
PEER=$E2E_NS
e2e_link "$NS" eth0 "$PEER" eth0
e2e_link "$NS" eth1 "$PEER" eth1
ip -n "$PEER" addr add 192.168.150.2/24 dev eth0
ip -n "$PEER" addr add 10.50.0.2/24 dev eth1
# Foreign: an address and a route vrouter did not make, which it must keep.
ip -n "$NS" addr add 10.50.0.1/24 dev eth1
ip -n "$NS" route add 10.99.0.0/16 via 10.50.0.2
e2e_daemon "$NS"

DOC_A=$(
	cat <<'EOF'
{"route_tables": [{"id": "rtb-b1", "name": "blue", "table": 100}],
 "routes": [
  {"id": "rt-a1", "destination": "10.1.0.0/16", "via": "192.168.150.2"},
  {"id": "rt-a2", "route_table_id": "rtb-b1", "destination": "10.2.0.0/16", "type": "blackhole"},
  {"id": "rt-a3", "destination": "2001:db8:1::/48", "dev": "eth0"}],
 "subnets": [
  {"id": "subnet-a1", "name": "lan", "cidr": "192.168.150.0/24", "interface": "eth0", "router_ip": "192.168.150.3"},
  {"id": "subnet-a2", "name": "blue", "cidr": "192.168.160.0/24", "interface": "eth0", "router_ip": "192.168.160.1", "route_table_id": "rtb-b1"}],
 "security_groups": [{"id": "sg-a1", "name": "web", "targets": ["192.168.160.2"]}],
 "security_group_rules": [{"id": "sgr-a1", "security_group_id": "sg-a1", "direction": "ingress",
  "protocol": "tcp", "port_from": 80, "port_to": 80, "cidr": "0.0.0.0/0"}],
 "settings": {"forwarding": {"ipv4": true, "ipv6": false}}}
EOF
)

# B: rt-a1 changes, rt-a2 goes, rt-b1 comes, the second subnet and the group go.
DOC_B=$(
	cat <<'EOF'
{"route_tables": [{"id": "rtb-b1", "name": "blue", "table": 100}],
 "routes": [
  {"id": "rt-a1", "destination": "10.1.0.0/16", "type": "unreachable"},
  {"id": "rt-a3", "destination": "2001:db8:1::/48", "dev": "eth0"},
  {"id": "rt-b1", "destination": "10.3.0.0/16", "via": "192.168.150.2"}],
 "subnets": [
  {"id": "subnet-a1", "name": "lan", "cidr": "192.168.150.0/24", "interface": "eth0", "router_ip": "192.168.150.3"}]}
EOF
)

# ---------------------------------------------------------------- (a) apply a document

e2e_step "(a) PUT a whole document"
monitor_start "$NS" put-a
put_config "$DOC_A"
monitor_stop
e2e_expect_status 200 "PUT /v1/config"
check_eq "the answer is not a dry run" "false" "$(e2e_jq .dry_run)"
check_eq "3 routes added" "3" "$(e2e_jq .plan.database.routes.added)"
check_eq "1 rule added" "1" "$(e2e_jq .plan.database.security_group_rules.added)"
check_eq "applied" "true" "$(e2e_jq .apply.converged)"
REV_A=$(e2e_jq .revision)
check "route 10.1.0.0/16 via the gateway" has vroute route show 10.1.0.0/16 via 192.168.150.2
check "blackhole 10.2.0.0/16 in table 100" has vroute route show table 100 type blackhole 10.2.0.0/16
check "IPv6 route on eth0" has vroute -6 route show 2001:db8:1::/48 dev eth0
check "router address 192.168.150.3/24" has ip -n "$NS" addr show dev eth0 to 192.168.150.3/24
check "router address 192.168.160.1/24" has ip -n "$NS" addr show dev eth0 to 192.168.160.1/24
check "policy rule from 192.168.160.0/24 lookup 100" has vroute rule show from 192.168.160.0/24 lookup 100
check "table inet vrouter with the group's port" sh -c "ip netns exec '$NS' nft list table inet vrouter | grep -q 80"
# The group went to nftables beside the store; the pass after the commit found it there.
check_eq "one nftables transaction made the table" "1" "$(vrouter_transactions put-a)"
check_eq "the group active" "active" "$(e2e_api "$NS" GET /v1/security-groups/sg-a1 | jq -r .status.state)"
check_eq "the rule active" "active" "$(e2e_api "$NS" GET /v1/security-group-rules/sgr-a1 | jq -r .status.state)"
check_eq "IPv4 forwarding on" "1" "$(ip netns exec "$NS" sysctl -n net.ipv4.ip_forward)"

# ---------------------------------------------------------------- (b) GET -> PUT is a no-op

e2e_step "(b) its GET sent back changes nothing"
GOT=$(e2e_api "$NS" GET /v1/config)
e2e_expect_status 200 "GET /v1/config"
check_eq "ETag is the revision" "\"$REV_A\"" "$(e2e_header ETag)"
check_eq "GET lists the 3 routes" "rt-a1 rt-a2 rt-a3" "$(jq -r '[.routes[].id] | join(" ")' <<<"$GOT")"
K0=$(kernel_snap)
put_config "$GOT"
e2e_expect_status 200 "PUT of the GET"
check_eq "nothing changed" "false" "$(e2e_jq .changed)"
check_eq "no database change" "0 false" \
	"$(e2e_jq '"\([.plan.database[] | objects | select(has("added")) | .added + .changed + .removed] | add) \(.plan.database.settings.changed)"')"
check_eq "revision unchanged" "$REV_A" "$(e2e_jq .revision)"
check_eq "kernel unchanged" "$K0" "$(kernel_snap)"
put_config "dry_run=true" "$GOT"
check_eq "a dry run of it plans nothing for the kernel" "0 0 0 none" \
	"$(e2e_jq '"\([.plan.kernel.routes, .plan.kernel.addresses, .plan.kernel.rules] | map(.add + .change + .remove) | add) \(.plan.kernel.routes.fail) \(.plan.kernel.addresses.fail) \(.plan.kernel.nftables.action)"')"

# ---------------------------------------------------------------- (c) dry run

e2e_step "(c) a dry run of another document changes nothing and says what would"
D0=$(db_snap)
K0=$(kernel_snap)
put_config "dry_run=true" "$DOC_B"
e2e_expect_status 200 "PUT /v1/config?dry_run=true"
check_eq "dry_run in the answer" "true" "$(e2e_jq .dry_run)"
check_eq "revision in the answer unchanged" "$REV_A" "$(e2e_jq .revision)"
check_eq "database: routes +1 ~1 -1" "1 1 1" "$(e2e_jq '.plan.database.routes | "\(.added) \(.changed) \(.removed)"')"
check_eq "database: rt-a2 removed" "rt-a2" "$(e2e_jq '.plan.database.routes.removed_ids | join(" ")')"
check_eq "database: subnet and group removed" "1 1 1" \
	"$(e2e_jq '"\(.plan.database.subnets.removed) \(.plan.database.security_groups.removed) \(.plan.database.security_group_rules.removed)"')"
# -4: the blackhole, and the association's copies of the 3 connected networks in table 100.
check_eq "kernel: routes +1 ~1 -4" "1 1 4" "$(e2e_jq '.plan.kernel.routes | "\(.add) \(.change) \(.remove)"')"
check_eq "kernel: the copies of 10.50.0.0/24, 192.168.150.0/24, 192.168.160.0/24 would go" 3 \
	"$(e2e_jq '[.plan.kernel.routes.items[] | select(.op == "remove") | .what |
		select(test("^(10\\.50\\.0|192\\.168\\.150|192\\.168\\.160)\\.0/24 dev eth[01] table 100 metric 4294967295$"))] | length')"
check_match "kernel: the new route in words" '"10.3.0.0/16 via 192.168.150.2 table 254 metric 0"' \
	"$(e2e_jq '.plan.kernel.routes.items[] | select(.op == "add") | .what | @json')"
check_match "kernel: the blackhole would go" 'blackhole 10.2.0.0/16 table 100' \
	"$(e2e_jq '.plan.kernel.routes.items[] | select(.op == "remove") | .what')"
check_eq "kernel: the address 192.168.160.1/24 would go" "192.168.160.1/24 dev eth0" \
	"$(e2e_jq '.plan.kernel.addresses.items[] | select(.op == "remove") | .what')"
check_eq "kernel: the policy rules would go (lookup, unreachable)" "2" "$(e2e_jq .plan.kernel.rules.remove)"
check_eq "kernel: table inet vrouter would go" "remove" "$(e2e_jq .plan.kernel.nftables.action)"
check_eq "kernel: forwarding stays" "true true" "$(e2e_jq '"\(.plan.kernel.forwarding.ipv4.now) \(.plan.kernel.forwarding.ipv4.then)"')"
check_eq "database unchanged (GET /v1/config, revision)" "$D0" "$(db_snap)"
check_eq "kernel unchanged (routes, addresses, rules, nftables, forwarding)" "$K0" "$(kernel_snap)"

# ---------------------------------------------------------------- (d) invalid: nothing changes

e2e_step "(d) an invalid document changes nothing"
BAD=$(jq -c '.routes[1].destination = "10.3.0.1/16"' <<<"$DOC_B")
put_config "$BAD"
e2e_expect_status 422 "a bad route in the middle"
check_eq "the error names routes[1].destination" "routes[1].destination" "$(e2e_jq '.errors[0].field')"
BAD=$(jq -c '.routes[2].route_table_id = "rtb-gone"' <<<"$DOC_B")
put_config "$BAD"
e2e_expect_status 422 "a dangling route table"
check_eq "the error names routes[2].route_table_id" "routes[2].route_table_id" "$(e2e_jq '.errors[0].field')"
put_config '{"routes": [], "bogus": []}'
e2e_expect_status 400 "an unknown key"
check_eq "database unchanged" "$D0" "$(db_snap)"
check_eq "kernel unchanged" "$K0" "$(kernel_snap)"

# ---------------------------------------------------------------- (e) the real PUT

e2e_step "(e) the real PUT of that document"
put_config "$DOC_B"
e2e_expect_status 200 "PUT /v1/config"
check_eq "one new revision" "$((REV_A + 1))" "$(e2e_jq .revision)"
check "rt-a1 is now unreachable" has vroute route show type unreachable 10.1.0.0/16
check "rt-b1 via the gateway" has vroute route show 10.3.0.0/16 via 192.168.150.2
check "rt-a2 gone" hasnt vroute route show table 100 10.2.0.0/16
check "address 192.168.160.1 gone" hasnt ip -n "$NS" addr show dev eth0 to 192.168.160.1/24
check "address 192.168.150.3 kept" has ip -n "$NS" addr show dev eth0 to 192.168.150.3/24
check "policy rule gone" hasnt vroute rule show from 192.168.160.0/24
check_not "table inet vrouter gone" nft_table
check_eq "forwarding left as it was (the document has no settings)" "1" \
	"$(ip netns exec "$NS" sysctl -n net.ipv4.ip_forward)"
check_eq "GET has the 3 routes of B" "rt-a1 rt-a3 rt-b1" \
	"$(e2e_api "$NS" GET /v1/config | jq -r '[.routes[].id] | join(" ")')"

# ---------------------------------------------------------------- (e2) a failed commit

# The kernel takes a document's routes while its commit runs: a commit that fails (here
# the audit log refuses the PUT's event, in the same transaction) must leave the kernel
# as the database is when the client hears of it.
e2e_step "(e2) a PUT whose commit fails leaves the kernel equal to the database"
DB="$E2E_TMP/$NS/vrouter.db"
D0=$(db_snap)
K0=$(kernel_snap)
sqlite3 -batch "$DB" "CREATE TRIGGER e2e_no_events BEFORE INSERT ON events
	BEGIN SELECT RAISE(ABORT, 'audit log refused'); END"
ip -n "$NS" monitor route >"$E2E_TMP/monitor" 2>&1 &
MON=$!
monitor_start "$NS" put-failed
sleep 0.3
put_config "$DOC_A"
sleep 0.3
kill "$MON"
wait "$MON" || true
monitor_stop
sqlite3 -batch "$DB" "DROP TRIGGER e2e_no_events"
check_eq "the PUT failed" "500" "$E2E_STATUS"
check_match "the answer names the refusal" "audit log refused" "$(cat "$E2E_TMP/body")"
check "the kernel took the document's blackhole route ahead of the commit" \
	grep -q "^blackhole 10.2.0.0/16 table 100" "$E2E_TMP/monitor"
check "and gave it back" grep -q "^Deleted blackhole 10.2.0.0/16 table 100" "$E2E_TMP/monitor"
check "the kernel took the document's security group ahead of the commit" \
	grep -q "^add table inet vrouter" "$E2E_TMP/put-failed.mon"
check "and took it out again" grep -q "^delete table inet vrouter" "$E2E_TMP/put-failed.mon"
check_eq "database unchanged" "$D0" "$(db_snap)"
check_eq "kernel equal to the database again" "$K0" "$(kernel_snap)"

# ---------------------------------------------------------------- (f) PUT {}

e2e_step "(f) PUT {} empties everything vrouter owns"
put_config '{}'
e2e_expect_status 200 "PUT {}"
check_eq "3 routes removed" "3" "$(e2e_jq .plan.database.routes.removed)"
check "no vrouter route left" hasnt sh -c "ip -n '$NS' -4 route show table all proto 245; ip -n '$NS' -6 route show table all proto 245"
check "no vrouter address left" hasnt ip -n "$NS" addr show to 192.168.150.3/24
check_not "no table inet vrouter" nft_table
check "foreign route kept" has ip -n "$NS" route show 10.99.0.0/16 via 10.50.0.2
check "foreign address kept" has ip -n "$NS" addr show dev eth1 to 10.50.0.1/24
check_eq "only rtb-main left" "rtb-main" "$(e2e_api "$NS" GET /v1/config | jq -r '[.route_tables[].id] | join(" ")')"
put_config '{}'
check_eq "PUT {} again: nothing changes" "false" "$(e2e_jq .changed)"

e2e_done
