#!/usr/bin/env bash
# Security groups on the router, on the forward path (the API's `iptables -A FORWARD`):
# the seed lab (net01 -- router -- net02), a vrouterd on the router guarding the hosts
# behind it.
#   (b) a rule naming a remote group: group `clients` (target 192.168.150.2) and group
#       `server` (target 192.168.100.2) with ingress tcp/12345 from remote group
#       clients: net01 reaches net02:12345, a non-member address of net01's subnet does
#       not; after the clients group's targets change to that other address, net01 no
#       longer does and the other address does;
#   (d) egress restriction: `server` with an egress rule allowing only tcp/80 to
#       192.168.150.0/24 (and ingress tcp/12345 from it): a new connection net02 ->
#       net01:12345 fails, net02 -> net01:80 works, and the replies of net01's allowed
#       connections to net02:12345 pass (stateful);
#   (f) a foreign table `inet foreign` on the router is left exactly as it was.
# shellcheck disable=SC2317,SC2016 # helpers run through check; sh -c scripts
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/e2e/sg_lib.sh
. "$HERE/sg_lib.sh"
# shellcheck source=deploy/lab-topology.sh
. "${VR_SRC:-$HERE/../..}/deploy/lab-topology.sh"

e2e_init sg_forward

# ---------------------------------------------------------------- helpers

# api METHOD PATH [JSON]: a call to the router's daemon; the answer's id in $ID.
api() {
	e2e_api "$R" "$@" >/dev/null
	ID=$(e2e_jq '.id // empty')
}
state_of() { # state_of COLLECTION ID
	e2e_api "$R" GET "$1/$2" >/dev/null
	e2e_jq .status.state
}

# ---------------------------------------------------------------- the lab

e2e_step "build the lab; routes by hand on net01 and net02; a second address on net01"
sg_lab -4
ip -n "$N1" addr add 192.168.150.4/24 dev enp0s1 # a second client in net01's subnet
ip netns exec "$R" nft add table inet foreign
ip netns exec "$R" nft add chain inet foreign forward_foreign '{ type filter hook forward priority 10; policy accept; }'
ip netns exec "$R" nft add rule inet foreign forward_foreign tcp dport 9999 accept
FOREIGN=$(foreign "$R")
e2e_daemon "$R"
check "tcp net01 -> net02:12345 before any group" tcp_ok "$N1" "$N2" 192.168.100.2 12345
check "tcp net01 (192.168.150.4) -> net02:12345 before any group" tcp_ok "$N1" "$N2" 192.168.100.2 12345 192.168.150.4
check "tcp net02 -> net01:12345 before any group" tcp_ok "$N2" "$N1" 192.168.150.2 12345

e2e_step "(b) group clients (192.168.150.2), group server (192.168.100.2): tcp/12345 from clients"
api POST /v1/security-groups '{"name":"clients","targets":["192.168.150.2"]}'
e2e_expect_status 201 "POST group clients"
GC=$ID
check_eq "clients active" active "$(e2e_jq .status.state)"
api POST /v1/security-groups '{"name":"server","targets":["192.168.100.2"]}'
e2e_expect_status 201 "POST group server"
GS=$ID
check_eq "server active" active "$(e2e_jq .status.state)"
api POST /v1/security-group-rules "{\"security_group_id\":\"$GS\",\"direction\":\"ingress\",\"protocol\":\"tcp\",\"port_from\":12345,\"port_to\":12345,\"remote_security_group_id\":\"$GC\"}"
e2e_expect_status 201 "POST rule on server: ingress tcp/12345 from remote group clients"
RREM=$ID
check_eq "rule active" active "$(e2e_jq .status.state)"
check_eq "remote_security_group_id echoed" "$GC" "$(e2e_jq .remote_security_group_id)"
check_eq "no cidr in the answer" null "$(e2e_jq .cidr)"
check "tcp net01 (192.168.150.2, a member of clients) -> net02:12345 passes" tcp_ok "$N1" "$N2" 192.168.100.2 12345
check "tcp net01 (192.168.150.4, not a member) -> net02:12345 is blocked" tcp_blocked "$N1" "$N2" 192.168.100.2 12345 192.168.150.4
check "tcp net01 -> net02:12346 is blocked (only 12345 is allowed)" tcp_blocked "$N1" "$N2" 192.168.100.2 12346
check "ping net01 -> net02 is dropped (server allows no icmp)" ping_fails "$N1" 192.168.100.2
check "tcp net02 -> net01:12345 is blocked (clients covers net01 and has no rules)" tcp_blocked "$N2" "$N1" 192.168.150.2 12345
check "the router's own traffic gets only what a rule allows: router -> net02:12346 is blocked" tcp_blocked "$R" "$N2" 192.168.100.2 12346
check_match "the table maps 192.168.100.2 on the forward hook" '192\.168\.100\.2' "$(vtable "$R")"

e2e_step "(b) clients' targets change to 192.168.150.4: net01's .2 loses access, .4 gains it"
api PUT "/v1/security-groups/$GC" '{"name":"clients","targets":["192.168.150.4"]}'
e2e_expect_status 200 "PUT clients {targets:[192.168.150.4]}"
check_eq "targets replaced" '["192.168.150.4"]' "$(jq -c .targets "$E2E_TMP/body")"
check_eq "clients still active" active "$(e2e_jq .status.state)"
check "tcp net01 (192.168.150.2) -> net02:12345 is blocked now" tcp_blocked "$N1" "$N2" 192.168.100.2 12345
check "tcp net01 (192.168.150.4) -> net02:12345 passes now" tcp_ok "$N1" "$N2" 192.168.100.2 12345 192.168.150.4
check "tcp net02 -> net01 (192.168.150.2, no longer covered) :12345 passes" tcp_ok "$N2" "$N1" 192.168.150.2 12345
check_eq "the remote rule stays active" active "$(state_of /v1/security-group-rules "$RREM")"
check_eq "the server group stays active" active "$(state_of /v1/security-groups "$GS")"

e2e_step "(b) a group named by another group's rule cannot be deleted"
before=$(vtable "$R")
api DELETE "/v1/security-groups/$GC"
e2e_expect_status 409 "DELETE clients while server's rule names it"
check_eq "the table is unchanged by the refused DELETE" "$before" "$(vtable "$R")"
check "tcp net01 (192.168.150.4) -> net02:12345 still passes" tcp_ok "$N1" "$N2" 192.168.100.2 12345 192.168.150.4

e2e_step "(d) egress: server allows only tcp/80 out to 192.168.150.0/24, tcp/12345 in from it"
api DELETE "/v1/security-group-rules/$RREM"
e2e_expect_status 204 "DELETE the remote rule"
api DELETE "/v1/security-groups/$GC"
e2e_expect_status 204 "DELETE group clients"
api POST /v1/security-group-rules "{\"security_group_id\":\"$GS\",\"direction\":\"ingress\",\"protocol\":\"tcp\",\"port_from\":12345,\"port_to\":12345,\"cidr\":\"192.168.150.0/24\"}"
e2e_expect_status 201 "POST ingress tcp/12345 from 192.168.150.0/24"
RIN=$ID
check_eq "ingress rule active" active "$(e2e_jq .status.state)"
api POST /v1/security-group-rules "{\"security_group_id\":\"$GS\",\"direction\":\"egress\",\"protocol\":\"tcp\",\"port_from\":80,\"port_to\":80,\"cidr\":\"192.168.150.0/24\",\"description\":\"http only\"}"
e2e_expect_status 201 "POST egress tcp/80 to 192.168.150.0/24"
REG=$ID
check_eq "egress rule active" active "$(e2e_jq .status.state)"
check_eq "direction echoed" egress "$(e2e_jq .direction)"
check "new connection net02 -> net01:12345 fails" tcp_blocked "$N2" "$N1" 192.168.150.2 12345
check "net02 -> net01:80 works" tcp_ok "$N2" "$N1" 192.168.150.2 80
check "ping net02 -> net01 fails (egress allows no icmp)" ping_fails "$N2" 192.168.150.2
check "net01 -> net02:12345 works, and net02's reply comes back (stateful)" tcp_ok "$N1" "$N2" 192.168.100.2 12345
check "net01 (192.168.150.4) -> net02:12345 works too (the whole /24)" tcp_ok "$N1" "$N2" 192.168.100.2 12345 192.168.150.4
check "net01 -> net02:80 fails (ingress allows only 12345)" tcp_blocked "$N1" "$N2" 192.168.100.2 80

e2e_step "(d) ICMP errors related to allowed flows pass the egress restriction"
check "no listener on net02: udp net01 -> net02:5353 unanswered while udp is not allowed in" udp_silent "$N1" 192.168.100.2 5353
api POST /v1/security-group-rules "{\"security_group_id\":\"$GS\",\"direction\":\"ingress\",\"protocol\":\"udp\",\"port_from\":5353,\"port_to\":5353,\"cidr\":\"192.168.150.0/24\"}"
e2e_expect_status 201 "POST ingress udp/5353 from 192.168.150.0/24"
RUDP=$ID
check "udp net01 -> net02:5353 (nobody listens): net02's ICMP port unreachable reaches net01" udp_refused "$N1" 192.168.100.2 5353
check "udp net01 -> net02:5354 (not allowed): dropped, no ICMP error" udp_silent "$N1" 192.168.100.2 5354
api DELETE "/v1/security-group-rules/$RUDP"
e2e_expect_status 204 "DELETE the udp rule"

e2e_step "(d) a second group on 192.168.100.0/24: rules add up, and its lack of egress rules does not lift the restriction"
api POST /v1/security-groups '{"name":"subnet","targets":["192.168.100.0/24"]}'
e2e_expect_status 201 "POST group subnet {targets:[192.168.100.0/24]}"
GN=$ID
api POST /v1/security-group-rules "{\"security_group_id\":\"$GN\",\"direction\":\"ingress\",\"protocol\":\"tcp\",\"port_from\":22,\"port_to\":22,\"cidr\":\"0.0.0.0/0\"}"
e2e_expect_status 201 "POST ingress tcp/22 on subnet"
RN=$ID
check "net01 -> net02:22 passes (subnet's rule)" tcp_ok "$N1" "$N2" 192.168.100.2 22
check "net01 -> net02:12345 passes (server's rule)" tcp_ok "$N1" "$N2" 192.168.100.2 12345
check "net01 -> net02:80 still blocked (neither group allows it)" tcp_blocked "$N1" "$N2" 192.168.100.2 80
check "net02 -> net01:12345 still blocked (server's egress rules apply)" tcp_blocked "$N2" "$N1" 192.168.150.2 12345
check "net02 -> net01:80 still works" tcp_ok "$N2" "$N1" 192.168.150.2 80
api DELETE "/v1/security-group-rules/$RN"
e2e_expect_status 204 "DELETE subnet's rule"
api DELETE "/v1/security-groups/$GN"
e2e_expect_status 204 "DELETE group subnet"

e2e_step "(d) without the egress rule, egress is unrestricted again"
api DELETE "/v1/security-group-rules/$REG"
e2e_expect_status 204 "DELETE the egress rule"
check "net02 -> net01:12345 works again" tcp_ok "$N2" "$N1" 192.168.150.2 12345
check "ping net02 -> net01 works again" ping_ok "$N2" 192.168.150.2
check "ingress still guarded: net01 -> net02:80 blocked" tcp_blocked "$N1" "$N2" 192.168.100.2 80
check_eq "the ingress rule stays active" active "$(state_of /v1/security-group-rules "$RIN")"

e2e_step "(f) the foreign table is untouched; the last group takes the table with it"
check_eq "nft list table inet foreign unchanged" "$FOREIGN" "$(foreign "$R")"
api DELETE "/v1/security-group-rules/$RIN"
e2e_expect_status 204 "DELETE the ingress rule"
api DELETE "/v1/security-groups/$GS"
e2e_expect_status 204 "DELETE group server"
check_not "table inet vrouter gone" has_vtable "$R"
check "net01 -> net02:80 passes with no group" tcp_ok "$N1" "$N2" 192.168.100.2 80
check_eq "nft list table inet foreign still unchanged" "$FOREIGN" "$(foreign "$R")"

e2e_done
