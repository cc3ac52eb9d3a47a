#!/usr/bin/env bash
# Security groups with the target `local`, like ufw on an end host: the seed lab
# (net01 -- router -- net02), a vrouterd on net02 guarding net02 itself.
#   (a) allow tcp/22 and icmp: ping passes, tcp/12345 is blocked; a rule for tcp/12345
#       from 192.168.150.0/24 lets the message through (from net01, not from the router's
#       192.168.100.3); deleting it blocks again;
#   (g) anti-lockout: a `local` group with no rules at all drops every ingress, yet the
#       API on 127.0.0.1:8080 answers and loopback (IPv4 and IPv6) works; with the API
#       listening on 0.0.0.0:8080, net01 reaches it through the guard;
#   (h) every group and rule shows status.state active; a rule with port_from > port_to
#       is 422 (POST and PUT) and changes neither the API state nor the nftables table;
#   local egress: only tcp/80 out; replies and ICMP errors of allowed flows still leave;
#   (f) a foreign table `inet foreign` is left exactly as it was.
# shellcheck disable=SC2317,SC2016 # helpers run through check; sh -c scripts
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/e2e/sg_lib.sh
. "$HERE/sg_lib.sh"
# shellcheck source=deploy/lab-topology.sh
. "${VR_SRC:-$HERE/../..}/deploy/lab-topology.sh"

e2e_init sg_local

# ---------------------------------------------------------------- helpers

# post PATH JSON: POST on net02's daemon; id in $ID (empty when none).
post() {
	e2e_api "$N2" POST "$1" "$2" >/dev/null
	ID=$(e2e_jq '.id // empty')
}
rule_json() { # rule_json GROUP PROTO PORT|- CIDR
	local ports=""
	[[ $3 == - ]] || ports=",\"port_from\":$3,\"port_to\":$3"
	printf '{"security_group_id":"%s","direction":"ingress","protocol":"%s"%s,"cidr":"%s"}' "$1" "$2" "$ports" "$4"
}
states() { # states COLLECTION: "id state" per item
	e2e_api "$N2" GET "$1" >/dev/null
	e2e_jq '.items[] | "\(.id) \(.status.state)"'
}

# ---------------------------------------------------------------- the lab

e2e_step "build the lab; routes between net01 and net02 by hand; a foreign table on net02"
sg_lab -4
ip netns exec "$N2" nft add table inet foreign
ip netns exec "$N2" nft add chain inet foreign input '{ type filter hook input priority 10; policy accept; }'
ip netns exec "$N2" nft add rule inet foreign input tcp dport 9999 accept
FOREIGN=$(foreign "$N2")
e2e_daemon "$N2"
check "ping net01 -> net02 before any group" ping_ok "$N1" 192.168.100.2
check "tcp net01 -> net02:12345 before any group" tcp_ok "$N1" "$N2" 192.168.100.2 12345
check_not "no table inet vrouter before any group" has_vtable "$N2"

e2e_step "(a) ufw-like: group local, allow tcp/22 and icmp"
post /v1/security-groups '{"name":"ufw","description":"like ufw on net02","targets":["local"]}'
e2e_expect_status 201 "POST group {targets:[local]}"
G=$ID
check_match "group id has the sg- prefix" '^sg-[0-9a-f]+$' "$G"
check_eq "group status.state active" active "$(e2e_jq .status.state)"
check_eq "targets echoed" '["local"]' "$(jq -c .targets "$E2E_TMP/body")"
check "table inet vrouter exists once a local group exists" has_vtable "$N2"
check "a local group with no rules drops ping from net01" ping_fails "$N1" 192.168.100.2
post /v1/security-group-rules "$(rule_json "$G" tcp 22 0.0.0.0/0)"
e2e_expect_status 201 "POST rule tcp/22 from 0.0.0.0/0"
R22=$ID
check_eq "rule tcp/22 status.state active" active "$(e2e_jq .status.state)"
check_eq "port_from echoed" 22 "$(e2e_jq .port_from)"
post /v1/security-group-rules "$(rule_json "$G" icmp - 0.0.0.0/0)"
e2e_expect_status 201 "POST rule icmp from 0.0.0.0/0"
RICMP=$ID
check_eq "rule icmp status.state active" active "$(e2e_jq .status.state)"
check_no_match "icmp rule has no ports" 'port' "$(jq -c keys "$E2E_TMP/body")"
check "ping net01 -> net02 passes" ping_ok "$N1" 192.168.100.2
check "ping router -> net02 passes" ping_ok "$R" 192.168.100.2
check "tcp net01 -> net02:22 passes" tcp_ok "$N1" "$N2" 192.168.100.2 22
check "tcp net01 -> net02:12345 is blocked" tcp_blocked "$N1" "$N2" 192.168.100.2 12345
check "net02's own outgoing traffic is not restricted (ping net02 -> net01)" ping_ok "$N2" 192.168.150.2

e2e_step "(a) allow tcp/12345 from 192.168.150.0/24 (ufw allow from 192.168.150.0/24 to any port 12345 proto tcp)"
post /v1/security-group-rules "$(rule_json "$G" tcp 12345 192.168.150.0/24)"
e2e_expect_status 201 "POST rule tcp/12345 from 192.168.150.0/24"
R12345=$ID
check_eq "rule tcp/12345 status.state active" active "$(e2e_jq .status.state)"
check "tcp net01 -> net02:12345 passes now" tcp_ok "$N1" "$N2" 192.168.100.2 12345
check "tcp router (192.168.100.3) -> net02:12345 is still blocked: not in 192.168.150.0/24" \
	tcp_blocked "$R" "$N2" 192.168.100.2 12345
check "tcp net01 -> net02:12346 is blocked: only 12345 was opened" tcp_blocked "$N1" "$N2" 192.168.100.2 12346

e2e_step "(h) status of every group and rule; port_from > port_to is 422 and changes nothing"
check_eq "GET /v1/security-groups: every group active" "$G active" "$(states /v1/security-groups)"
check_eq "GET /v1/security-group-rules: every rule active" \
	"$(printf '%s active\n' "$R22" "$RICMP" "$R12345" | sort)" "$(states /v1/security-group-rules | sort)"
e2e_api "$N2" GET "/v1/security-groups/$G" >/dev/null
check_eq "GET the group: active" active "$(e2e_jq .status.state)"
check_eq "GET the group: status.reason empty" "" "$(e2e_jq .status.reason)"
table_before=$(vtable "$N2")
rules_before=$(e2e_api "$N2" GET /v1/security-group-rules)
post /v1/security-group-rules "{\"security_group_id\":\"$G\",\"direction\":\"ingress\",\"protocol\":\"tcp\",\"port_from\":2000,\"port_to\":1000,\"cidr\":\"192.168.150.0/24\"}"
e2e_expect_status 422 "POST rule with port_from 2000 > port_to 1000"
check_match "the problem names a port field" '"field": *"port_(from|to)"' "$(e2e_last_body)"
check_match "answered as application/problem+json" '^application/problem\+json' "$(e2e_header Content-Type)"
e2e_api "$N2" PUT "/v1/security-group-rules/$R12345" "{\"security_group_id\":\"$G\",\"direction\":\"ingress\",\"protocol\":\"tcp\",\"port_from\":12346,\"port_to\":12345,\"cidr\":\"192.168.150.0/24\"}" >/dev/null
e2e_expect_status 422 "PUT the 12345 rule with port_from 12346 > port_to 12345"
check_eq "the rules are unchanged after the 422s" "$rules_before" "$(e2e_api "$N2" GET /v1/security-group-rules)"
check_eq "nft list table inet vrouter unchanged after the 422s" "$table_before" "$(vtable "$N2")"
check "tcp net01 -> net02:12345 still passes after the 422s" tcp_ok "$N1" "$N2" 192.168.100.2 12345

e2e_step "(a) delete the 12345 rule: blocked again"
e2e_api "$N2" DELETE "/v1/security-group-rules/$R12345" >/dev/null
e2e_expect_status 204 "DELETE the tcp/12345 rule"
check "tcp net01 -> net02:12345 is blocked again" tcp_blocked "$N1" "$N2" 192.168.100.2 12345
check "ping net01 -> net02 still passes" ping_ok "$N1" 192.168.100.2
check "tcp net01 -> net02:22 still passes" tcp_ok "$N1" "$N2" 192.168.100.2 22

e2e_step "local egress: only tcp/80 to 192.168.150.0/24 may leave net02"
post /v1/security-group-rules '{"security_group_id":"'"$G"'","direction":"egress","protocol":"tcp","port_from":80,"port_to":80,"cidr":"192.168.150.0/24"}'
e2e_expect_status 201 "POST egress tcp/80 to 192.168.150.0/24"
REG=$ID
check_eq "egress rule active" active "$(e2e_jq .status.state)"
check "net02 -> net01:80 works" tcp_ok "$N2" "$N1" 192.168.150.2 80
check "net02 -> net01:12345 is blocked" tcp_blocked "$N2" "$N1" 192.168.150.2 12345
check "ping net02 -> net01 is blocked" ping_fails "$N2" 192.168.150.2
check "net01 -> net02:22 still works: replies leave net02 (stateful)" tcp_ok "$N1" "$N2" 192.168.100.2 22
check "ping net01 -> net02 still works: echo replies leave net02" ping_ok "$N1" 192.168.100.2
post /v1/security-group-rules '{"security_group_id":"'"$G"'","direction":"ingress","protocol":"udp","port_from":5353,"port_to":5353,"cidr":"192.168.150.0/24"}'
e2e_expect_status 201 "POST ingress udp/5353"
RUDP=$ID
check "udp net01 -> net02:5353 (nobody listens): net02's ICMP port unreachable leaves net02" udp_refused "$N1" 192.168.100.2 5353
check "net02's own API over loopback still answers" ip netns exec "$N2" curl -sf --max-time 3 http://127.0.0.1:8080/healthz
for id in "$REG" "$RUDP"; do
	e2e_api "$N2" DELETE "/v1/security-group-rules/$id" >/dev/null
	e2e_expect_status 204 "DELETE rule $id"
done
check "net02 -> net01:12345 works again" tcp_ok "$N2" "$N1" 192.168.150.2 12345

e2e_step "(g) anti-lockout: a local group with no rules at all"
e2e_api "$N2" DELETE "/v1/security-group-rules/$R22" >/dev/null
e2e_expect_status 204 "DELETE the tcp/22 rule"
e2e_api "$N2" DELETE "/v1/security-group-rules/$RICMP" >/dev/null
e2e_expect_status 204 "DELETE the icmp rule"
e2e_api "$N2" GET "/v1/security-group-rules?security_group_id=$G" >/dev/null
check_eq "the group has no rules left" 0 "$(e2e_jq '.items | length')"
check "table inet vrouter still exists (a rule-less group drops everything)" has_vtable "$N2"
check "ping net01 -> net02 is dropped" ping_fails "$N1" 192.168.100.2
check "ping router -> net02 is dropped" ping_fails "$R" 192.168.100.2
check "tcp net01 -> net02:22 is dropped" tcp_blocked "$N1" "$N2" 192.168.100.2 22
e2e_api "$N2" GET /v1/security-groups >/dev/null
e2e_expect_status 200 "the API on 127.0.0.1:8080 still answers"
post /v1/security-groups '{"name":"probe","targets":["192.0.2.1"]}'
e2e_expect_status 201 "the API still takes writes"
e2e_api "$N2" DELETE "/v1/security-groups/$ID" >/dev/null
e2e_expect_status 204 "and deletes"
check "curl /healthz on 127.0.0.1:8080" ip netns exec "$N2" curl -sf --max-time 3 http://127.0.0.1:8080/healthz
check "ping 127.0.0.1 inside net02" ping_ok "$N2" 127.0.0.1
check "ping ::1 inside net02" ping_ok "$N2" ::1
check "ping net02's own 192.168.100.2 from inside net02" ping_ok "$N2" 192.168.100.2
check "tcp over loopback 127.0.0.1:12345 inside net02" tcp_ok "$N2" "$N2" 127.0.0.1 12345
check "tcp over loopback [::1]:12345 inside net02" tcp_ok "$N2" "$N2" ::1 12345

e2e_step "(g) anti-lockout with the API on every address: its port stays reachable from outside"
e2e_restart "$N2" --listen 0.0.0.0:8080
check "table inet vrouter still exists after the restart" has_vtable "$N2"
check "net01 reaches net02's API at 192.168.100.2:8080 through the rule-less guard" \
	ip netns exec "$N1" curl -sf --max-time 3 http://192.168.100.2:8080/healthz
check "ping net01 -> net02 is still dropped" ping_fails "$N1" 192.168.100.2
check "tcp net01 -> net02:22 is still dropped" tcp_blocked "$N1" "$N2" 192.168.100.2 22

e2e_step "(f) the foreign table is untouched"
check_eq "nft list table inet foreign unchanged" "$FOREIGN" "$(foreign "$N2")"
e2e_api "$N2" DELETE "/v1/security-groups/$G" >/dev/null
e2e_expect_status 204 "DELETE the last group"
check_not "table inet vrouter gone with the last group" has_vtable "$N2"
check "ping net01 -> net02 passes once no group is left" ping_ok "$N1" 192.168.100.2
check_eq "nft list table inet foreign still unchanged" "$FOREIGN" "$(foreign "$N2")"

e2e_done
