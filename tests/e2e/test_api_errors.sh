#!/usr/bin/env bash
# Bad input through the API, one daemon in one namespace: every case answers its status
# code as application/problem+json naming the field, and stores nothing (the route and
# route table lists and the kernel's vrouter routes are the same before and after).
# Also: idempotent POST with a client id, ETag/If-Match, route tables (auto-assigned
# kernel table numbers, routes in custom tables), pagination.
# shellcheck disable=SC2317 # helpers run through check
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

e2e_init api_errors

# ---------------------------------------------------------------- helpers

# The state a rejected request must not change.
snap() {
	e2e_api "$NS" GET '/v1/routes?limit=1000'
	echo
	e2e_api "$NS" GET '/v1/route-tables?limit=1000'
	echo
	ip -n "$NS" -4 route show table all proto 245
	ip -n "$NS" -6 route show table all proto 245
}

AUTH() { echo "Authorization: Bearer $(e2e_token "$NS")"; }
JSON=(-H "Content-Type: application/json")

# bad DESC CODE_ERE FIELD_ERE CMD...: CMD (an e2e_api/e2e_curl call) is answered with a
# status matching CODE_ERE, as problem+json with a matching "status", naming FIELD_ERE
# in errors[].field or detail (FIELD_ERE "-": not checked), and changes nothing.
# Afterwards e2e_header / e2e_jq / e2e_last_status see that answer.
bad() {
	local desc=$1 code=$2 field=$3 before after st ct names
	shift 3
	before=$(snap)
	"$@" >/dev/null
	cp "$E2E_TMP/headers" "$E2E_TMP/bad.headers"
	cp "$E2E_TMP/body" "$E2E_TMP/bad.body"
	st=$(e2e_last_status)
	after=$(snap)
	cp "$E2E_TMP/bad.headers" "$E2E_TMP/headers"
	cp "$E2E_TMP/bad.body" "$E2E_TMP/body"
	echo "$st" >"$E2E_TMP/status"

	if grep -Eq "^($code)\$" <<<"$st"; then
		pass "$desc: HTTP $st"
	else
		fail "$desc: expected HTTP $code, got $st" "body: $(e2e_last_body)"
	fi
	ct=$(e2e_header Content-Type)
	check_match "$desc: Content-Type application/problem+json" '^application/problem\+json' "$ct"
	if jq -e --argjson s "${st:-0}" '(.status == $s) and (.title | type == "string") and (.type | type == "string")' \
		"$E2E_TMP/body" >/dev/null 2>&1; then
		pass "$desc: problem body with type, title, status"
	else
		fail "$desc: problem body lacks type/title/status=$st" "body: $(e2e_last_body)"
	fi
	if [[ $field != - ]]; then
		names=$(jq -r '"fields: " + ([.errors[]?.field // empty] | join(", ")) + "; detail: " + (.detail // "")' \
			"$E2E_TMP/body" 2>/dev/null || true)
		check_match "$desc: names the field ($field)" "$field" "$names"
	fi
	check_eq "$desc: nothing stored" "$before" "$after"
}

# good DESC CODE CMD...: a request that must succeed with CODE.
good() {
	local desc=$1 code=$2
	shift 2
	"$@" >/dev/null
	e2e_expect_status "$code" "$desc"
}

route_ok() { [[ -n $(ip -n "$NS" "$@" proto 245) ]]; }

# ---------------------------------------------------------------- set-up

e2e_step "set-up: one namespace, one veth, one daemon"
e2e_ns api
NS=$E2E_NS
e2e_link "$NS" v0 "$NS" v1
ip -n "$NS" addr add 192.168.150.2/24 dev v0
ip -n "$NS" -6 addr add fd00:150::2/64 dev v0 nodad
e2e_daemon "$NS"

tf=$(e2e_token_file "$NS")
check_eq "token file is mode 600" "600" "$(stat -c %a "$tf")"
check_match "token is 64 lowercase hex characters" '^[0-9a-f]{64}$' "$(e2e_token "$NS")"
good "GET /v1/routes lists" 200 e2e_api "$NS" GET /v1/routes
check_eq "empty list at start" '[]|null' "$(e2e_jq '.items | tostring')|$(e2e_jq '.next')"
check_match "list answer is application/json" '^application/json' "$(e2e_header Content-Type)"
good "GET /v1/route-tables lists" 200 e2e_api "$NS" GET /v1/route-tables
check_match "rtb-main is listed with table 254" '"rtb-main",254' \
	"$(e2e_jq '[.items[] | select(.id == "rtb-main") | .id, .table] | tostring')"

VALID='{"destination":"10.1.0.0/16","via":"192.168.150.3"}'

e2e_step "authentication"
bad "no token" 401 - e2e_curl "$NS" GET /v1/routes
check_match "401 carries WWW-Authenticate: Bearer" '^Bearer' "$(e2e_header WWW-Authenticate)"
bad "wrong token" 401 - e2e_curl "$NS" GET /v1/routes -H "Authorization: Bearer $(printf '0%.0s' {1..64})"
check_match "401 carries WWW-Authenticate: Bearer" '^Bearer' "$(e2e_header WWW-Authenticate)"
bad "not a bearer scheme" 401 - e2e_curl "$NS" GET /v1/routes -H "Authorization: Basic dXNlcjpwYXNz"
bad "POST without token" 401 - e2e_curl "$NS" POST /v1/routes "${JSON[@]}" --data-binary "$VALID"
bad "POST with a wrong token" 401 - e2e_curl "$NS" POST /v1/routes "${JSON[@]}" \
	-H "Authorization: Bearer $(e2e_token "$NS")x" --data-binary "$VALID"
good "/healthz without token" 200 e2e_curl "$NS" GET /healthz

e2e_step "paths and methods"
bad "unknown path /v1/nothing" 404 - e2e_api "$NS" GET /v1/nothing
bad "unknown path /v1/routes/rt-1/x" 404 - e2e_api "$NS" GET /v1/routes/rt-1/x
bad "PATCH /v1/routes" 405 - e2e_api "$NS" PATCH /v1/routes "$VALID"
bad "DELETE /v1/routes (the collection)" 405 - e2e_api "$NS" DELETE /v1/routes
bad "POST /v1/routes/ID" 405 - e2e_api "$NS" POST /v1/routes/rt-00000000000000aa "$VALID"

e2e_step "malformed bodies"
bad "malformed JSON" 400 - e2e_api "$NS" POST /v1/routes '{"destination": "10.1.0.0/16",'
bad "JSON that is not an object" 400 - e2e_api "$NS" POST /v1/routes '["10.1.0.0/16"]'
bad "empty body" 400 - e2e_api "$NS" POST /v1/routes ''
bad "unknown field" 400 colour e2e_api "$NS" POST /v1/routes \
	'{"destination":"10.1.0.0/16","via":"192.168.150.3","colour":"red"}'
bad "text/plain body" 415 - e2e_curl "$NS" POST /v1/routes -H "$(AUTH)" -H "Content-Type: text/plain" \
	--data-binary "$VALID"
big="$E2E_TMP/big.json"
{
	printf '{"destination":"10.1.0.0/16","via":"192.168.150.3","description":"'
	head -c $((1024 * 1024 + 4096)) /dev/zero | tr '\0' x
	printf '"}'
} >"$big"
bad "body over 1 MiB" 413 - e2e_api "$NS" POST /v1/routes "@$big"

e2e_step "semantic validation (422)"
bad "host bits set" 422 destination e2e_api "$NS" POST /v1/routes \
	'{"destination":"192.168.100.1/24","via":"192.168.150.3"}'
bad "bad CIDR (octet 300)" 422 destination e2e_api "$NS" POST /v1/routes \
	'{"destination":"192.168.300.0/24","via":"192.168.150.3"}'
bad "bad CIDR (prefix /33)" 422 destination e2e_api "$NS" POST /v1/routes \
	'{"destination":"10.0.0.0/33","via":"192.168.150.3"}'
bad "bad CIDR (words)" 422 destination e2e_api "$NS" POST /v1/routes \
	'{"destination":"not-a-network","via":"192.168.150.3"}'
bad "IPv6 destination, IPv4 via" 422 via e2e_api "$NS" POST /v1/routes \
	'{"destination":"fd00:99::/64","via":"192.168.150.3"}'
bad "IPv4 destination, IPv6 via" 422 via e2e_api "$NS" POST /v1/routes \
	'{"destination":"10.1.0.0/16","via":"fd00:150::3"}'
bad "unicast without via or dev" 422 'via|dev' e2e_api "$NS" POST /v1/routes \
	'{"destination":"10.1.0.0/16"}'
bad "unknown type" 422 type e2e_api "$NS" POST /v1/routes \
	'{"destination":"10.1.0.0/16","type":"anycast","via":"192.168.150.3"}'
bad "blackhole with via" 422 'via|type' e2e_api "$NS" POST /v1/routes \
	'{"destination":"10.1.0.0/16","type":"blackhole","via":"192.168.150.3"}'
bad "unknown route_table_id" 422 route_table_id e2e_api "$NS" POST /v1/routes \
	'{"route_table_id":"rtb-0123456789abcdef","destination":"10.1.0.0/16","via":"192.168.150.3"}'
bad "client id with the wrong prefix" 422 '(^|[^a-z_])id([^a-z_]|$)' e2e_api "$NS" POST /v1/routes \
	'{"id":"sg-00000000000000a1","destination":"10.1.0.0/16","via":"192.168.150.3"}'
bad "client id with uppercase hex" 422 '(^|[^a-z_])id([^a-z_]|$)' e2e_api "$NS" POST /v1/routes \
	'{"id":"rt-00000000000000A1","destination":"10.1.0.0/16","via":"192.168.150.3"}'
bad "reserved kernel table 255" 422 table e2e_api "$NS" POST /v1/route-tables '{"name":"bad","table":255}'

e2e_step "duplicates (409)"
good "POST 10.2.0.0/16" 201 e2e_api "$NS" POST /v1/routes '{"destination":"10.2.0.0/16","via":"192.168.150.3"}'
A=$(e2e_jq .id)
check_eq "Location of the new route" "/v1/routes/$A" "$(e2e_header Location)"
check "10.2.0.0/16 in the kernel" route_ok -4 route show 10.2.0.0/16
bad "same table, destination and metric" 409 destination e2e_api "$NS" POST /v1/routes \
	'{"destination":"10.2.0.0/16","via":"192.168.150.3"}'
bad "same destination and metric, other via" 409 destination e2e_api "$NS" POST /v1/routes \
	'{"destination":"10.2.0.0/16","dev":"v0"}'
good "same destination, other metric" 201 e2e_api "$NS" POST /v1/routes \
	'{"destination":"10.2.0.0/16","via":"192.168.150.3","metric":100}'
good "POST default" 201 e2e_api "$NS" POST /v1/routes '{"destination":"default","via":"192.168.150.3"}'
check_eq "destination echoed as written" "default" "$(e2e_jq .destination)"
check "default route in the kernel" route_ok -4 route show default
bad "0.0.0.0/0 duplicates default" 409 destination e2e_api "$NS" POST /v1/routes \
	'{"destination":"0.0.0.0/0","via":"192.168.150.3"}'

e2e_step "idempotent POST with a client id"
CID=rt-00000000000000a1
BODY_CID='{"id":"rt-00000000000000a1","destination":"10.4.0.0/16","via":"192.168.150.3"}'
good "POST with client id" 201 e2e_api "$NS" POST /v1/routes "$BODY_CID"
check_eq "client id kept" "$CID" "$(e2e_jq .id)"
first=$(e2e_last_body)
before=$(snap)
good "same POST again" 200 e2e_api "$NS" POST /v1/routes "$BODY_CID"
check_eq "same object returned" "$(jq -cS . <<<"$first")" "$(e2e_jq . | jq -cS .)"
check_eq "no second object" "$before" "$(snap)"
bad "same id, different body" 409 - e2e_api "$NS" POST /v1/routes \
	'{"id":"rt-00000000000000a1","destination":"10.4.0.0/16","via":"192.168.150.3","metric":5}'

e2e_step "ETag and If-Match"
good "GET route" 200 e2e_api "$NS" GET "/v1/routes/$A"
etag=$(e2e_header ETag)
check_match "GET returns an ETag" '^(W/)?"[^"]+"$' "$etag"
check_match "GET answer is application/json" '^application/json' "$(e2e_header Content-Type)"
PUT_A='{"destination":"10.2.0.0/16","via":"192.168.150.3","description":"changed"}'
bad "PUT with a stale If-Match" 412 - e2e_api "$NS" PUT "/v1/routes/$A" "$PUT_A" -H 'If-Match: "999999"'
bad "DELETE with a stale If-Match" 412 - e2e_api "$NS" DELETE "/v1/routes/$A" '' -H 'If-Match: "999999"'
good "PUT with the current ETag" 200 e2e_api "$NS" PUT "/v1/routes/$A" "$PUT_A" -H "If-Match: $etag"
check_eq "PUT answer shows the change" "changed" "$(e2e_jq .description)"
etag2=$(e2e_header ETag)
[[ -n $etag2 ]] || { e2e_api "$NS" GET "/v1/routes/$A" >/dev/null; etag2=$(e2e_header ETag); }
check_match "ETag changed with the write" '.' "$([[ $etag2 != "$etag" ]] && echo changed)"
bad "DELETE with the old ETag" 412 - e2e_api "$NS" DELETE "/v1/routes/$A" '' -H "If-Match: $etag"
bad "PUT with an unknown field" 400 colour e2e_api "$NS" PUT "/v1/routes/$A" \
	'{"destination":"10.2.0.0/16","via":"192.168.150.3","colour":"red"}'
bad "PUT with host bits set" 422 destination e2e_api "$NS" PUT "/v1/routes/$A" \
	'{"destination":"10.2.0.1/16","via":"192.168.150.3"}'

e2e_step "route tables"
bad "DELETE rtb-main" 409 - e2e_api "$NS" DELETE /v1/route-tables/rtb-main
good "POST route table without table" 201 e2e_api "$NS" POST /v1/route-tables '{"name":"custom"}'
T=$(e2e_jq .id)
TN=$(e2e_jq .table)
check_match "route table id has the rtb- prefix" '^rtb-[0-9a-f]+$' "$T"
check_eq "Location of the new route table" "/v1/route-tables/$T" "$(e2e_header Location)"
check "assigned table number in 10000-19999" test "${TN:-0}" -ge 10000 -a "${TN:-0}" -le 19999
good "route in the custom table" 201 e2e_api "$NS" POST /v1/routes \
	"{\"route_table_id\":\"$T\",\"destination\":\"10.5.0.0/16\",\"via\":\"192.168.150.3\"}"
RT=$(e2e_jq .id)
check_eq "it is active" "active" "$(e2e_jq .status.state)"
check_match "ip route show table $TN has it" '^10\.5\.0\.0/16 via 192\.168\.150\.3 dev v0' \
	"$(ip -n "$NS" route show table "${TN:-0}" 2>&1)"
check "not in the main table" test -z "$(ip -n "$NS" route show 10.5.0.0/16)"
good "filter routes by route_table_id" 200 e2e_api "$NS" GET "/v1/routes?route_table_id=$T"
check_eq "filter finds only that route" "$RT" "$(e2e_jq '[.items[].id] | join(",")')"
bad "DELETE a route table still used by a route" 409 - e2e_api "$NS" DELETE "/v1/route-tables/$T"
good "DELETE the route" 204 e2e_api "$NS" DELETE "/v1/routes/$RT"
check "the route left table $TN" test -z "$(ip -n "$NS" route show table "${TN:-0}" proto 245 2>/dev/null)"
good "DELETE the route table now" 204 e2e_api "$NS" DELETE "/v1/route-tables/$T"

e2e_step "unknown ids (404)"
bad "GET unknown route" 404 - e2e_api "$NS" GET /v1/routes/rt-ffffffffffffffff
bad "PUT unknown route" 404 - e2e_api "$NS" PUT /v1/routes/rt-ffffffffffffffff "$VALID"
bad "DELETE unknown route" 404 - e2e_api "$NS" DELETE /v1/routes/rt-ffffffffffffffff
bad "GET malformed route id" 404 - e2e_api "$NS" GET /v1/routes/not-an-id
bad "GET unknown route table" 404 - e2e_api "$NS" GET /v1/route-tables/rtb-ffffffffffffffff
bad "DELETE unknown route table" 404 - e2e_api "$NS" DELETE /v1/route-tables/rtb-ffffffffffffffff

e2e_step "pagination"
bad "limit=0" '422|400' limit e2e_api "$NS" GET '/v1/routes?limit=0'
bad "limit=1001" '422|400' limit e2e_api "$NS" GET '/v1/routes?limit=1001'
bad "limit=abc" '422|400' limit e2e_api "$NS" GET '/v1/routes?limit=abc'
good "full list" 200 e2e_api "$NS" GET '/v1/routes?limit=1000'
all=$(e2e_jq '[.items[].id] | join(",")')
n_all=$(e2e_jq '.items | length')
check "at least 4 routes to page through" test "${n_all:-0}" -ge 4
walked=() path='/v1/routes?limit=1' pages=0 page_ok=1
while ((pages < 100)); do
	e2e_api "$NS" GET "$path" >/dev/null
	if [[ $(e2e_last_status) != 200 || $(e2e_jq '.items | length') != 1 ]]; then
		page_ok=0
		fail "page $pages: expected HTTP 200 with 1 item" "GET $path -> $(e2e_last_status) $(e2e_last_body)"
		break
	fi
	walked+=("$(e2e_jq '.items[0].id')")
	pages=$((pages + 1))
	next=$(e2e_jq '.next // empty')
	[[ -n $next ]] || break
	if [[ $next == /* ]]; then path=$next; else path="/v1/routes?limit=1&after=$next"; fi
done
((page_ok)) && pass "each page of limit=1 has one item"
check_eq "limit=1 and next walk every route once, in list order" "$all" "$(IFS=,; echo "${walked[*]}")"

e2e_done
