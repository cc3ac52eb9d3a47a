#!/usr/bin/env bash
# ?require_active=true against a real kernel: a write whose object would not become
# active (a gateway on no connected network, a subnet on a link that does not exist) is
# refused with 422 and the kernel's reason, and the desired state is left exactly as it
# was (nothing stored for a create; the old object with its own ETag and updated_at for
# a replace, and the kernel back to it). Writes that do become active pass as usual.
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

e2e_init require_active

e2e_ns host
H=$E2E_NS
e2e_ns peer
P=$E2E_NS
e2e_link "$H" eth0 "$P" eth0
ip -n "$H" addr add 192.168.150.2/24 dev eth0
ip -n "$P" addr add 192.168.150.3/24 dev eth0
e2e_daemon "$H"

vroutes() { ip -n "$H" route show proto 245; }

e2e_step "create: a gateway on no connected network"
e2e_api "$H" POST '/v1/routes?require_active=true' \
	'{"id":"rt-0a","destination":"10.20.0.0/16","via":"10.0.0.1"}' >/dev/null
e2e_expect_status 422 "a route that cannot be applied is refused"
check_eq "problem+json" "application/problem+json" "$(e2e_header Content-Type)"
check_match "the detail has the kernel's reason" 'rt-0a would not become active: gateway 10\.0\.0\.1 is not on any connected network; nothing was stored' "$(e2e_jq .detail)"
e2e_api "$H" GET /v1/routes/rt-0a >/dev/null
e2e_expect_status 404 "nothing was stored"
check_eq "no route in the kernel" "" "$(vroutes)"
e2e_api "$H" POST /v1/routes '{"id":"rt-0b","destination":"10.20.0.0/16","via":"10.0.0.1"}' >/dev/null
e2e_expect_status 201 "without the flag the same route is stored"
check_eq "and reported failed" "failed" "$(e2e_jq .status.state)"
e2e_api "$H" DELETE /v1/routes/rt-0b >/dev/null

e2e_step "create: active"
e2e_api "$H" POST '/v1/routes?require_active=true' \
	'{"id":"rt-0c","destination":"10.20.0.0/16","via":"192.168.150.3"}' >/dev/null
e2e_expect_status 201 "a route that can be applied is created"
check_eq "active" "active" "$(e2e_jq .status.state)"
check_match "in the kernel" '^10\.20\.0\.0/16 via 192\.168\.150\.3 dev eth0' "$(vroutes)"
e2e_api "$H" GET '/v1/routes/rt-0c?require_active=true' >/dev/null
etag=$(e2e_header ETag)
updated=$(e2e_jq .updated_at)
e2e_expect_status 200 "a read takes the flag too"

e2e_step "replace: to a gateway on no connected network"
rev0=$(e2e_api "$H" GET /v1/status | jq -r .desired_revision)
e2e_api "$H" PUT '/v1/routes/rt-0c?require_active=true' \
	'{"destination":"10.20.0.0/16","via":"10.0.0.1","metric":5}' >/dev/null
e2e_expect_status 422 "a replace that cannot be applied is refused"
check_match "with the reason, and left as it was" 'gateway 10\.0\.0\.1 is not on any connected network; it was left as it was' "$(e2e_jq .detail)"
e2e_api "$H" GET /v1/routes/rt-0c >/dev/null
check_eq "via as before" "192.168.150.3" "$(e2e_jq .via)"
check_eq "metric as before" "0" "$(e2e_jq .metric)"
check_eq "active" "active" "$(e2e_jq .status.state)"
check_eq "the same ETag" "$etag" "$(e2e_header ETag)"
check_eq "the same updated_at" "$updated" "$(e2e_jq .updated_at)"
check_eq "two writes: the replace and its undo" "$((rev0 + 2))" "$(e2e_api "$H" GET /v1/status | jq -r .desired_revision)"
check_match "the kernel has the old route back" '^10\.20\.0\.0/16 via 192\.168\.150\.3 dev eth0' "$(vroutes)"
e2e_api "$H" PUT /v1/routes/rt-0c '{"destination":"10.20.0.0/16","via":"192.168.150.3","metric":5}' \
	-H "If-Match: $etag" >/dev/null
e2e_expect_status 200 "the ETag held before the refused write still matches"
check_match "metric 5 in the kernel" '^10\.20\.0\.0/16 via 192\.168\.150\.3 dev eth0 metric 5' "$(vroutes)"

e2e_step "subnet on a link that does not exist"
e2e_api "$H" POST '/v1/subnets?require_active=true' \
	'{"name":"n","cidr":"192.168.7.0/24","interface":"eth9","router_ip":"192.168.7.1"}' >/dev/null
e2e_expect_status 422 "refused"
check_match "the reason names the link" 'eth9' "$(e2e_jq .detail)"
check_eq "nothing stored" "0" "$(e2e_api "$H" GET /v1/subnets | jq '.items | length')"
e2e_api "$H" POST '/v1/subnets?require_active=true' \
	'{"name":"n","cidr":"192.168.150.0/24","interface":"eth0","router_ip":"192.168.150.4"}' >/dev/null
e2e_expect_status 201 "a subnet on eth0 is created"
check_match "its address is on eth0" '192\.168\.150\.4/24' "$(ip -n "$H" addr show eth0)"

e2e_step "security group, rule and settings that become active"
e2e_api "$H" POST '/v1/security-groups?require_active=true' '{"id":"sg-0a","name":"g","targets":["local"]}' >/dev/null
e2e_expect_status 201 "group"
e2e_api "$H" POST '/v1/security-group-rules?require_active=true' \
	'{"security_group_id":"sg-0a","direction":"ingress","protocol":"icmp","cidr":"192.168.150.0/24"}' >/dev/null
e2e_expect_status 201 "rule"
check "ping passes the group" e2e_in "$P" ping -c1 -W2 192.168.150.2
e2e_api "$H" PUT '/v1/settings?require_active=true' '{"forwarding":{"ipv4":true,"ipv6":false}}' >/dev/null
e2e_expect_status 200 "settings"
check_eq "forwarding on" "1" "$(ip netns exec "$H" sysctl -n net.ipv4.ip_forward)"

e2e_step "bad values"
e2e_api "$H" POST '/v1/routes?require_active=yes' '{"destination":"10.30.0.0/16","dev":"eth0"}' >/dev/null
e2e_expect_status 422 "require_active=yes"
check_eq "names the parameter" "require_active" "$(e2e_jq '.errors[0].field')"

e2e_done
