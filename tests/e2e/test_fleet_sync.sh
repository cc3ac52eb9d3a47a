#!/usr/bin/env bash
# Fleet mode's sync (server/fleet.c, docs/etcd.md): a one-member etcd in a namespace of
# the test's own (lib_etcd.sh) and two vrouterd, --router r1 and --router r2, each in its
# own namespace reaching etcd over the test's bridge. A write on r1 for r2 is read on r2 at
# the same revision and reaches r2's kernel; If-Match with that ETag works on r2; writes on
# both at once go through (the one that loses etcd's compare catches up and runs again);
# etcd stopped: writes 503 problem+json with Retry-After, reads 200 with
# Vrouter-Stale-Since; etcd back: writes work and r2 catches up; r2 restarted while r1
# writes catches up; r2 down across a compaction resyncs. Every wait is bounded.
# shellcheck disable=SC2317 # helpers run through check_poll
set -Eeuo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_etcd.sh"

e2e_init fleet_sync
# shellcheck disable=SC2034 # lib_etcd.sh reads it: one member is enough here
ETCD_MEMBERS=1

e2e_step "etcd, and two routers on its bridge"
etcd_cluster
declare -A RNS
n=10
for r in r1 r2; do
	e2e_ns "$r"
	RNS[$r]=$E2E_NS
	n=$((n + 1))
	etcd_join "$E2E_NS" eth0 "v$r" "$n"
done
R1=${RNS[r1]}
R2=${RNS[r2]}

# last_run NS: the log of the daemon in NS since its last start.
last_run() {
	awk '/^=== .* start: /{buf = ""} {buf = buf $0 "\n"} END {printf "%s", buf}' "$E2E_TMP/$1/vrouterd.log"
}

e2e_daemon_fails "$R1" --etcd "$ETCD_ENDPOINTS" --router Bad_Name
check_eq "a bad --router is refused at start (exit 2)" 2 "$E2E_EXIT"
check_match "and the message names the value" 'router name "Bad_Name" must be' "$E2E_OUT"

e2e_daemon "$R1" --etcd "$ETCD_ENDPOINTS" --router r1
e2e_daemon "$R2" --etcd "$ETCD_ENDPOINTS" --router r2

# members_alive NS N: GET /v1/routers on NS lists N routers, all alive.
members_alive() {
	e2e_api "$1" GET /v1/routers >/dev/null
	[[ $(e2e_jq '[.items[] | select(.alive)] | length') == "$2" ]]
}
check_poll "GET /v1/routers on r1 lists r1 and r2, alive" 15 members_alive "$R1" 2
e2e_api "$R1" GET /v1/routers >/dev/null
check_eq "r1's member record names it and its API" "r1 127.0.0.1:$E2E_PORT" \
	"$(e2e_jq '.items[] | select(.name == "r1") | "\(.name) \(.api)"')"

e2e_step "a write on r1 is read on r2 with the same ETag, and reaches r2's kernel"
e2e_api "$R1" POST /v1/routes '{"id": "rt-a1", "router": "r2", "destination": "10.99.1.0/24", "type": "blackhole"}' >/dev/null
e2e_expect_status 201 "POST /v1/routes on r1"
etag1=$(e2e_header ETag)
check_match "r1's answer carries Vrouter-Etcd-Revision" '^[0-9]+$' "$(e2e_header Vrouter-Etcd-Revision)"
check_eq "r1's answer has no Vrouter-Stale-Since (its watch is live)" "" "$(e2e_header Vrouter-Stale-Since)"
# The revision an ETag names ("R-hash"): the same on every router; the hash is of the
# body, whose status is each router's own view (remote on the routers that do not apply it).
route_etag_is() { # NS ID ETAG
	local got
	e2e_api "$1" GET "/v1/routes/$2" >/dev/null
	got=$(e2e_header ETag)
	[[ $(e2e_last_status) == 200 && ${got%%-*} == "${3%%-*}" ]]
}
check_poll "r2 reads rt-a1 with r1's ETag $etag1" 10 route_etag_is "$R2" rt-a1 "$etag1"
check_poll "r2's kernel has the blackhole route" 10 \
	eval "ip -n $R2 route show 10.99.1.0/24 | grep -q blackhole"
e2e_api "$R2" GET /v1/routes/rt-a1 >/dev/null
check_eq "r1 and r2 agree on the etcd revision" "$(e2e_api "$R1" GET /v1/routes/rt-a1 >/dev/null && e2e_header Vrouter-Etcd-Revision)" \
	"$(e2e_api "$R2" GET /v1/routes/rt-a1 >/dev/null && e2e_header Vrouter-Etcd-Revision)"

e2e_step "If-Match with that ETag works on r2"
e2e_api "$R2" PUT /v1/routes/rt-a1 '{"router": "r2", "destination": "10.99.1.0/24", "type": "blackhole", "description": "from r2"}' \
	-H "If-Match: $etag1" >/dev/null
e2e_expect_status 200 "PUT on r2 with If-Match $etag1"
etag2=$(e2e_header ETag)
check_poll "r1 reads r2's write with its ETag $etag2" 10 route_etag_is "$R1" rt-a1 "$etag2"
e2e_api "$R1" PUT /v1/routes/rt-a1 '{"router": "r2", "destination": "10.99.1.0/24", "type": "blackhole"}' \
	-H "If-Match: $etag1" >/dev/null
e2e_expect_status 412 "the stale ETag $etag1 on r1 is refused"

e2e_step "writes on both routers at once: the loser of etcd's compare catches up and runs again"
retried() { grep -qh "lost etcd's compare" "$E2E_TMP/$R1/vrouterd.log" "$E2E_TMP/$R2/vrouterd.log"; }
# race_post DIR NS JSON: POST a route on NS keeping the request's files in DIR (two
# requests at once must not share $E2E_TMP/body), its status in DIR/status.
race_post() {
	local E2E_TMP=$1
	mkdir -p "$E2E_TMP"
	e2e_api "$2" POST /v1/routes "$3" >/dev/null
}
all_created=1 rounds=0
for ((i = 1; i <= 60; i++)); do
	race_post "$E2E_TMP/race1" "$R1" "{\"id\": \"rt-b$i\", \"router\": \"r2\", \"destination\": \"10.98.$i.0/24\", \"type\": \"blackhole\"}" &
	p1=$!
	race_post "$E2E_TMP/race2" "$R2" "{\"id\": \"rt-c$i\", \"destination\": \"10.97.$i.0/24\", \"type\": \"blackhole\"}" &
	p2=$!
	wait "$p1" "$p2"
	s1=$(cat "$E2E_TMP/race1/status")
	s2=$(cat "$E2E_TMP/race2/status")
	if [[ $s1 != 201 || $s2 != 201 ]]; then
		all_created=0
		fail "race $i: r1 answered $s1, r2 $s2" "$(cat "$E2E_TMP/race1/body" "$E2E_TMP/race2/body")"
		break
	fi
	rounds=$i
	if ((i >= 5)) && retried; then
		break
	fi
done
((all_created)) && pass "every racing write answered 201 ($rounds rounds)"
check "a write lost the compare and went through on its next run" retried
count_is() { # NS N: the routes NS lists
	e2e_api "$1" GET "/v1/routes?limit=1000" >/dev/null
	[[ $(e2e_jq '.items | length') == "$2" ]]
}
want=$((1 + 2 * rounds))
check_poll "r1 lists all $want routes" 10 count_is "$R1" "$want"
check_poll "r2 lists all $want routes" 10 count_is "$R2" "$want"

e2e_step "etcd stopped: writes 503 problem+json, reads 200 and say since when they may be stale"
etcd_member_stop 1
e2e_api "$R1" POST /v1/routes '{"id": "rt-d1", "destination": "10.96.1.0/24", "type": "blackhole"}' >/dev/null
e2e_expect_status 503 "POST on r1 with etcd down"
check_match "the problem says etcd is unreachable" '^etcd unreachable: ' "$(e2e_jq .detail)"
check_eq "as application/problem+json" "application/problem+json" "$(e2e_header Content-Type)"
check_match "with Retry-After" '^[0-9]+$' "$(e2e_header Retry-After)"
stale_read() { # NS: a 200 read with Vrouter-Stale-Since
	e2e_api "$1" GET /v1/routes/rt-a1 >/dev/null
	[[ $(e2e_last_status) == 200 && $(e2e_header Vrouter-Stale-Since) =~ ^20[0-9-]+T[0-9:]+Z$ ]]
}
check_poll "r2 reads 200 with Vrouter-Stale-Since" 15 stale_read "$R2"
e2e_api "$R1" GET /v1/routes/rt-d1 >/dev/null
e2e_expect_status 404 "the refused write left nothing on r1"
e2e_restart "$R2"
pass "r2 restarts with etcd down, from its copy"
e2e_api "$R2" GET /v1/routes/rt-a1 >/dev/null
e2e_expect_status 200 "r2 reads rt-a1 from its copy after the restart"
check_match "with Vrouter-Stale-Since" '^20[0-9-]+T[0-9:]+Z$' "$(e2e_header Vrouter-Stale-Since)"
e2e_api "$R2" DELETE /v1/routes/rt-a1 >/dev/null
e2e_expect_status 503 "a write on r2 is refused until it has synchronised"
check_match "naming etcd" '^etcd unreachable: ' "$(e2e_jq .detail)"

e2e_step "etcd back: writes work again and r2 catches up"
etcd_member_start 1
write_ok() {
	e2e_api "$R1" POST /v1/routes '{"id": "rt-d1", "destination": "10.96.1.0/24", "type": "blackhole"}' >/dev/null
	[[ $(e2e_last_status) == 201 ]]
}
check_poll "POST on r1 answers 201 once etcd is back" 30 write_ok
etag3=$(e2e_header ETag)
check_poll "r2 reads rt-d1 with r1's ETag" 15 route_etag_is "$R2" rt-d1 "$etag3"
live_read() {
	e2e_api "$1" GET /v1/routes/rt-a1 >/dev/null
	[[ $(e2e_last_status) == 200 && -z $(e2e_header Vrouter-Stale-Since) ]]
}
check_poll "r2's reads are current again (no Vrouter-Stale-Since)" 15 live_read "$R2"

e2e_step "PUT /v1/config through r1: one txn, read on r2; beyond etcd's txn limit: 413"
e2e_api "$R1" GET /v1/config >/dev/null
jq '.routes += [{"id": "rt-9a1", "destination": "10.93.1.0/24", "type": "blackhole"}]' \
	"$E2E_TMP/body" >"$E2E_TMP/config.json"
e2e_api "$R1" PUT /v1/config "@$E2E_TMP/config.json" >/dev/null
e2e_expect_status 200 "PUT /v1/config on r1 adding rt-9a1"
e2e_api "$R1" GET /v1/routes/rt-9a1 >/dev/null
etag6=$(e2e_header ETag)
check_poll "r2 reads rt-9a1 with r1's ETag" 10 route_etag_is "$R2" rt-9a1 "$etag6"
e2e_api "$R1" POST /v1/security-groups '{"id": "sg-a1", "name": "x", "targets": ["10.91.0.1"]}' >/dev/null
e2e_expect_status 201 "POST group sg-a1 (x) on r1"
e2e_api "$R1" POST /v1/security-groups '{"id": "sg-b1", "name": "y", "targets": ["10.91.0.2"]}' >/dev/null
e2e_expect_status 201 "POST group sg-b1 (y) on r1"
e2e_api "$R1" GET /v1/config >/dev/null
jq '(.security_groups[] | select(.id == "sg-a1") | .name) = "y" |
	(.security_groups[] | select(.id == "sg-b1") | .name) = "x"' "$E2E_TMP/body" >"$E2E_TMP/swap.json"
e2e_api "$R1" PUT /v1/config "@$E2E_TMP/swap.json" >/dev/null
e2e_expect_status 200 "PUT /v1/config on r1 swapping the two groups' names"
group_named() { # NS ID NAME
	e2e_api "$1" GET "/v1/security-groups/$2" >/dev/null
	[[ $(e2e_last_status) == 200 && $(e2e_jq .name) == "$3" ]]
}
check_poll "r2 has the swap: sg-a1 is y" 10 group_named "$R2" sg-a1 y
check_poll "and sg-b1 is x" 10 group_named "$R2" sg-b1 x
check_no_match "r2 applied it without a resync" 'could not be applied|resynced' "$(last_run "$R2")"
cp "$E2E_TMP/swap.json" "$E2E_TMP/config.json"
jq '.routes += [range(1; 201) | {"id": "rt-7a\(.)", "destination": "10.92.\(.).0/24", "type": "blackhole"}]' \
	"$E2E_TMP/config.json" >"$E2E_TMP/big.json"
e2e_api "$R1" PUT /v1/config "@$E2E_TMP/big.json" >/dev/null
e2e_expect_status 413 "PUT /v1/config of 200 more routes (over etcd's 128 ops a txn)"
check_match "the problem names etcd's limit" 'max-txn-ops' "$(e2e_jq .detail)"
e2e_api "$R1" GET /v1/routes/rt-7a1 >/dev/null
e2e_expect_status 404 "and nothing of it was stored on r1"

e2e_step "r2 restarted while r1 writes: it catches up"
e2e_stop "$R2"
check_poll "r2 leaves r1's GET /v1/routers when it stops (its lease revoked)" 15 members_alive "$R1" 1
for i in 1 2 3; do
	e2e_api "$R1" POST /v1/routes "{\"id\": \"rt-e$i\", \"destination\": \"10.95.$i.0/24\", \"type\": \"blackhole\"}" >/dev/null
	e2e_expect_status 201 "POST rt-e$i on r1 while r2 is down"
done
e2e_api "$R1" DELETE /v1/routes/rt-b1 >/dev/null
e2e_expect_status 204 "DELETE rt-b1 on r1 while r2 is down"
e2e_api "$R1" GET /v1/routes/rt-e3 >/dev/null
etag4=$(e2e_header ETag)
e2e_daemon "$R2" --etcd "$ETCD_ENDPOINTS" --router r2
check_poll "r2 reads rt-e3 with r1's ETag" 15 route_etag_is "$R2" rt-e3 "$etag4"
gone() {
	e2e_api "$1" GET "/v1/routes/$2" >/dev/null
	[[ $(e2e_last_status) == 404 ]]
}
check_poll "r2 has rt-b1's delete" 10 gone "$R2" rt-b1
check_poll "r2's kernel lost rt-b1's route" 10 eval "! ip -n $R2 route show 10.98.1.0/24 | grep -q blackhole"
check_match "r2 caught up from its revision (no resync)" 'fleet: catching up from etcd revision' \
	"$(last_run "$R2")"

e2e_step "compaction while r2 is down: r2 resyncs"
e2e_stop "$R2"
e2e_api "$R1" POST /v1/routes '{"id": "rt-f1", "destination": "10.94.1.0/24", "type": "blackhole"}' >/dev/null
e2e_expect_status 201 "POST rt-f1 on r1"
etag5=$(e2e_header ETag)
e2e_api "$R1" DELETE /v1/routes/rt-e1 >/dev/null
e2e_expect_status 204 "DELETE rt-e1 on r1"
rev=$(etcd_ctl endpoint status -w json | jq -r '.[0].Status.header.revision')
etcd_ctl compact "$rev" --physical >/dev/null
pass "etcd compacted at revision $rev"
e2e_daemon "$R2" --etcd "$ETCD_ENDPOINTS" --router r2
check_poll "r2 reads rt-f1 with r1's ETag" 15 route_etag_is "$R2" rt-f1 "$etag5"
check_poll "r2 has rt-e1's delete" 10 gone "$R2" rt-e1
check_match "r2 resynced (its revision was compacted)" 'fleet: resynced the copy from etcd' "$(last_run "$R2")"
e2e_api "$R1" GET "/v1/routes?limit=1000" >/dev/null
ids1=$(e2e_jq '[.items[].id] | join(" ")')
e2e_api "$R2" GET "/v1/routes?limit=1000" >/dev/null
check_eq "r1 and r2 list the same routes" "$ids1" "$(e2e_jq '[.items[].id] | join(" ")')"

e2e_step "a single vrouterd's database started as another router is refused"
e2e_ns solo
SOLO=$E2E_NS
etcd_join "$SOLO" eth0 vsolo 19
e2e_daemon "$SOLO"
e2e_api "$SOLO" POST /v1/routes '{"destination": "10.91.0.0/24", "type": "blackhole"}' >/dev/null
e2e_expect_status 201 "a single router's route"
e2e_stop "$SOLO"
e2e_daemon_fails "$SOLO" --etcd "$ETCD_ENDPOINTS" --router r9
check_eq "started as r9 in fleet mode it refuses (exit status 78)" 78 "$E2E_EXIT"
check_match "... saying to start it as router local" 'start it with --router local' "$E2E_OUT"
check "... and its route is still in its kernel" eval "ip -n $SOLO route show 10.91.0.0/24 | grep -q blackhole"

e2e_done
