#!/usr/bin/env bash
# The audit log, one daemon in one namespace: every write request of each kind (create,
# replace, delete, PUT /v1/settings, PUT /v1/config) appears in GET /v1/events with its
# token name, client address, method, path, object id, status and revision, newest
# first; PUT /v1/config with its plan's counts; refused writes with their status (a
# 4xx, no revision); a write undone by ?require_active=true as its 201 and then its 422;
# writes that change nothing (an unchanged replace, a dry run) without a revision; no
# event for a request without the token. Paging (limit/after), the object_id and
# token_name filters, bad queries, and the retention bound (--audit-keep) after a
# restart.
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

e2e_init audit

e2e_ns host
H=$E2E_NS
e2e_ns peer
P=$E2E_NS
e2e_link "$H" eth0 "$P" eth0
ip -n "$H" addr add 192.168.160.2/24 dev eth0
e2e_daemon "$H"

# ev N FILTER: jq FILTER on item N of the last GET /v1/events.
ev() { e2e_jq ".items[$1] | $2"; }

e2e_step "writes of each kind"
e2e_api "$H" POST /v1/routes '{"id":"rt-a1","destination":"10.1.0.0/16","type":"unreachable"}' >/dev/null
e2e_expect_status 201 "create a route"
RT_REV=$(e2e_header ETag | sed -E 's/^"?([0-9]+).*/\1/')
e2e_api "$H" PUT /v1/routes/rt-a1 '{"destination":"10.1.0.0/16","type":"unreachable","description":"changed"}' >/dev/null
e2e_expect_status 200 "replace it"
e2e_api "$H" DELETE /v1/routes/rt-a1 >/dev/null
e2e_expect_status 204 "delete it"
e2e_api "$H" POST /v1/route-tables '{"id":"rtb-a1","name":"blue","table":100}' >/dev/null
e2e_expect_status 201 "create a route table"
e2e_api "$H" PUT /v1/settings '{"forwarding":{"ipv4":true,"ipv6":false}}' >/dev/null
e2e_expect_status 200 "put the settings"
e2e_api "$H" PUT /v1/config '{"route_tables":[{"id":"rtb-a1","name":"blue","table":100}],
 "routes":[{"id":"rt-c1","destination":"10.3.0.0/16","type":"unreachable"},
           {"id":"rt-c2","destination":"10.4.0.0/16","type":"unreachable"}]}' >/dev/null
e2e_expect_status 200 "PUT /v1/config"
CFG_REV=$(e2e_api "$H" GET /v1/status | jq -r .desired_revision)

e2e_step "refused writes"
e2e_api "$H" POST /v1/routes '{"destination":"10.999.0.0/16","type":"unreachable"}' >/dev/null
BAD_STATUS=$(e2e_last_status)
check_match "a bad destination is refused with a 4xx" '^4[0-9][0-9]$' "$BAD_STATUS"
e2e_api "$H" DELETE /v1/routes/rt-0000000000000099 >/dev/null
e2e_expect_status 404 "deleting a route that does not exist"
e2e_curl "$H" POST /v1/routes -H "Content-Type: application/json" \
	--data-binary '{"destination":"10.5.0.0/16","type":"unreachable"}' >/dev/null
e2e_expect_status 401 "a write without the token"
e2e_api "$H" POST '/v1/routes?require_active=true' '{"id":"rt-0e","destination":"10.20.0.0/16","via":"10.0.0.1"}' >/dev/null
e2e_expect_status 422 "a write that would not become active is undone"

e2e_step "GET /v1/events: newest first, every field"
e2e_api "$H" GET /v1/events >/dev/null
e2e_expect_status 200 "GET /v1/events"
check_eq "one event per authenticated write request (the 401 is not one)" 10 "$(e2e_jq '.items | length')"
check_eq "ids descend: newest first" true "$(e2e_jq '[.items[].id] | . == (sort | reverse)')"
check_eq "no next page" null "$(e2e_jq .next)"
check_eq "all by the token named default" '["default"]' "$(e2e_jq '[.items[].token_name] | unique | tojson')"
check_eq "all from the client's address" '["127.0.0.1"]' "$(e2e_jq '[.items[].client] | unique | tojson')"
check_eq "times are UTC timestamps" true "$(e2e_jq '[.items[].time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$")] | all')"
check_eq "[0] the undo: its 422" "POST /v1/routes rt-0e 422 null" "$(ev 0 '"\(.method) \(.path) \(.object_id) \(.status) \(.revision)"')"
check_eq "[1] the create it undid: 201 with a revision" "POST /v1/routes rt-0e 201 true" "$(ev 1 '"\(.method) \(.path) \(.object_id) \(.status) \(.revision > 0)"')"
check_eq "[2] the 401 is absent; the 404 delete names its object" "DELETE /v1/routes/rt-0000000000000099 rt-0000000000000099 404 null" "$(ev 2 '"\(.method) \(.path) \(.object_id) \(.status) \(.revision)"')"
check_eq "[3] the refused create, with its status" "POST /v1/routes null $BAD_STATUS null null" "$(ev 3 '"\(.method) \(.path) \(.object_id) \(.status) \(.revision) \(.plan)"')"
check_eq "[4] PUT /v1/config with the plan's counts and its revision" \
	"PUT /v1/config null 200 $CFG_REV {\"added\":2,\"changed\":0,\"removed\":0,\"unchanged\":2}" \
	"$(ev 4 '"\(.method) \(.path) \(.object_id) \(.status) \(.revision) \(.plan | tojson)"')"
check_eq "[5] the settings" "PUT /v1/settings settings 200 null" "$(ev 5 '"\(.method) \(.path) \(.object_id) \(.status) \(.plan)"')"
check_eq "[6] the route table create" "POST /v1/route-tables rtb-a1 201" "$(ev 6 '"\(.method) \(.path) \(.object_id) \(.status)"')"
check_eq "[7] the delete" "DELETE /v1/routes/rt-a1 rt-a1 204" "$(ev 7 '"\(.method) \(.path) \(.object_id) \(.status)"')"
check_eq "[8] the replace" "PUT /v1/routes/rt-a1 rt-a1 200" "$(ev 8 '"\(.method) \(.path) \(.object_id) \(.status)"')"
check_eq "[9] the create, at the route's revision" "POST /v1/routes rt-a1 201 $RT_REV" "$(ev 9 '"\(.method) \(.path) \(.object_id) \(.status) \(.revision)"')"
check_eq "revisions of committed writes ascend with them" true \
	"$(e2e_jq '[.items[] | select(.revision != null) | .revision] | . == (sort | reverse)')"

e2e_step "filters and paging"
e2e_api "$H" GET '/v1/events?object_id=rt-a1' >/dev/null
check_eq "object_id=rt-a1: its delete, replace, create" "DELETE PUT POST" "$(e2e_jq '[.items[].method] | join(" ")')"
e2e_api "$H" GET '/v1/events?token_name=default&limit=1000' >/dev/null
check_eq "token_name=default: all" 10 "$(e2e_jq '.items | length')"
e2e_api "$H" GET '/v1/events?token_name=nobody' >/dev/null
check_eq "token_name=nobody: none" 0 "$(e2e_jq '.items | length')"
e2e_api "$H" GET '/v1/events' >/dev/null
ALL=$(e2e_jq '[.items[].id] | join(" ")')
PAGED=""
after=""
for _ in 1 2 3 4 5 6; do
	e2e_api "$H" GET "/v1/events?limit=3${after:+&after=$after}" >/dev/null
	e2e_expect_status 200 "a page of 3"
	PAGED="$PAGED $(e2e_jq '[.items[].id] | join(" ")')"
	after=$(e2e_jq '.next // empty')
	[[ -n $after ]] || break
done
check_eq "pages of 3 walk every event once, newest first" "$ALL" "$(echo $PAGED)"
e2e_api "$H" GET '/v1/events?after=x1' >/dev/null
e2e_expect_status 400 "after that is not an event id"
check_eq "it names after" after "$(e2e_jq '.errors[0].field')"
e2e_api "$H" GET '/v1/events?limit=0' >/dev/null
e2e_expect_status 422 "limit 0"
e2e_api "$H" GET '/v1/events?object=rt-a1' >/dev/null
e2e_expect_status 400 "an unknown query parameter"
e2e_curl "$H" GET /v1/events >/dev/null
e2e_expect_status 401 "the audit log needs the token"

e2e_step "retention: --audit-keep"
e2e_stop "$H"
e2e_daemon "$H" --audit-keep 3
e2e_api "$H" GET /v1/events >/dev/null
check_eq "the log survives a restart" 10 "$(e2e_jq '.items | length')"
e2e_api "$H" DELETE /v1/routes/rt-c2 >/dev/null
e2e_expect_status 204 "one more write"
e2e_api "$H" GET /v1/events >/dev/null
check_eq "only the newest 3 are kept" 3 "$(e2e_jq '.items | length')"
check_eq "the newest is that write" "DELETE rt-c2 204" "$(ev 0 '"\(.method) \(.object_id) \(.status)"')"
check_eq "then the two before it" "$(echo "$ALL" | cut -d' ' -f1-2)" "$(e2e_jq '[.items[1:][].id] | join(" ")')"

e2e_step "writes that change nothing: recorded, without a revision"
e2e_api "$H" PUT /v1/routes/rt-c1 '{"destination":"10.3.0.0/16","type":"unreachable"}' >/dev/null
e2e_expect_status 200 "a replace with the stored body"
e2e_api "$H" GET /v1/events >/dev/null
check_eq "recorded with no revision" "PUT rt-c1 200 null" "$(ev 0 '"\(.method) \(.object_id) \(.status) \(.revision)"')"
e2e_api "$H" PUT '/v1/config?dry_run=true' '{"routes":[]}' >/dev/null
e2e_expect_status 200 "a dry run"
e2e_api "$H" GET /v1/events >/dev/null
check_eq "recorded with no revision and no plan" "PUT /v1/config 200 null null" "$(ev 0 '"\(.method) \(.path) \(.status) \(.revision) \(.plan)"')"
check_eq "still 3 events" 3 "$(e2e_jq '.items | length')"

e2e_daemon_fails "$H" --audit-keep 0
check_eq "--audit-keep 0 is refused" 2 "$E2E_EXIT"

e2e_done
