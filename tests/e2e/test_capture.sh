#!/usr/bin/env bash
# Bounded packet captures (POST /v1/diagnostics/captures) in the seed lab: the article's
# tcpdump on the router's net02 leg while net01 pings net02, which has no route back.
# The downloaded file is read by tcpdump -r; the bounds (packets, seconds, the number of
# captures) stop what they must; bad input is a 422 that names the field.
# shellcheck disable=SC2016
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/e2e/traffic_lib.sh
. "$HERE/traffic_lib.sh"
# shellcheck source=deploy/lab-topology.sh
. "${VR_SRC:-$HERE/../..}/deploy/lab-topology.sh"

command -v tcpdump >/dev/null || {
	echo "SKIP: tcpdump is not installed (deploy/setup.sh installs it for the tests)"
	exit 77
}

e2e_init capture

CAPS=/v1/diagnostics/captures

# start JSON: POST a capture; its id in $CID.
start() {
	e2e_api "$R" POST "$CAPS" "$1" >/dev/null
	CID=$(e2e_jq '.id // empty')
}
cap_field() { # cap_field ID JQ: a field of GET /captures/ID
	e2e_api "$R" GET "$CAPS/$1" >/dev/null
	e2e_jq "$2"
}
cap_done() { [[ $(cap_field "$1" .state) == done ]]; }
# download ID FILE: GET .../pcap into FILE; status in $E2E_STATUS.
download() {
	e2e_curl "$R" GET "$CAPS/$1/pcap" -H "Authorization: Bearer $(e2e_token "$R")" >"$2"
}
# bad JSON FIELD: the POST is a 422 whose errors name FIELD, and nothing is started;
# its detail in $BAD_DETAIL.
bad() {
	local n0 n1
	e2e_api "$R" GET "$CAPS" >/dev/null
	n0=$(e2e_jq '.items | length')
	e2e_api "$R" POST "$CAPS" "$1" >/dev/null
	e2e_expect_status 422 "$1"
	check_eq "the 422 names $2" "$2" "$(e2e_jq '[.errors[]?.field] | join(",")')"
	BAD_DETAIL=$(e2e_jq .detail)
	e2e_api "$R" GET "$CAPS" >/dev/null
	n1=$(e2e_jq '.items | length')
	check_eq "nothing was started by $1" "$n0" "$n1"
}

e2e_step "the lab: net01 routes to net02 through the router, net02 has no route back"
e2e_lab
e2e_daemon "$R"
ip -n "$N1" route add 192.168.100.0/24 via 192.168.150.3
check "ping net01 -> net02 fails (no return route)" ping_fails "$N1" 192.168.100.2

e2e_step "a capture on the router's net02 leg during the ping holds the echo requests"
start '{"interface":"enp0s2","filter":"icmp","max_packets":3,"max_seconds":30}'
e2e_expect_status 201 "POST $CAPS"
check_match "capture id" '^cap-[0-9a-f]+$' "$CID"
check_eq "Location header" "$CAPS/$CID" "$(e2e_header Location)"
check_eq "it runs" running "$(e2e_jq .state)"
check_eq "its pcap link" "$CAPS/$CID/pcap" "$(e2e_jq .pcap)"
download "$CID" "$E2E_TMP/early.pcap"
check_eq "the file of a running capture is a 409" 409 "$E2E_STATUS"
e2e_in "$N1" ping -c5 -i0.2 -W1 192.168.100.2 >/dev/null || true
check_poll "max_packets ends it" 5 cap_done "$CID"
check_eq "stop_reason" max_packets "$(cap_field "$CID" .stop_reason)"
check_eq "3 packets" 3 "$(cap_field "$CID" .packets)"
check_match "ended_at and expires_at are set" '^20[0-9-]+T.*Z 20[0-9-]+T.*Z$' \
	"$(cap_field "$CID" '.ended_at + " " + .expires_at')"
download "$CID" "$E2E_TMP/ping.pcap"
check_eq "GET .../pcap" 200 "$E2E_STATUS"
check_eq "Content-Type" application/vnd.tcpdump.pcap "$(e2e_header Content-Type)"
check_eq "pcap magic (little-endian, microseconds) and LINKTYPE_ETHERNET" "d4c3b2a1 01000000" \
	"$(od -An -tx1 -N4 "$E2E_TMP/ping.pcap" | tr -d ' ') $(od -An -tx1 -j20 -N4 "$E2E_TMP/ping.pcap" | tr -d ' ')"
read_out=$(tcpdump -nr "$E2E_TMP/ping.pcap" 2>&1) || fail "tcpdump -r failed" "$read_out"
check_eq "tcpdump -r shows 3 echo requests net01 -> net02" 3 \
	"$(grep -c 'IP 192.168.150.2 > 192.168.100.2: ICMP echo request' <<<"$read_out")"
check_no_match "and no reply (net02 has no route back)" 'echo reply' "$read_out"
check_eq "the header's snaplen reads back" "65535" \
	"$(tcpdump -r "$E2E_TMP/ping.pcap" 2>&1 >/dev/null | sed -n 's/.*snapshot length \([0-9]*\).*/\1/p')"
e2e_curl "$R" HEAD "$CAPS/$CID/pcap" -I -H "Authorization: Bearer $(e2e_token "$R")" >/dev/null
check_eq "HEAD .../pcap" 200 "$E2E_STATUS"
e2e_api "$R" GET "$CAPS/$CID" >/dev/null
check_eq "downloaded" true "$(e2e_jq .downloaded)"
left=$(($(date -u -d "$(e2e_jq .expires_at)" +%s) - $(date -u +%s)))
check "it will be forgotten within a minute (in ${left}s)" test "$left" -ge 50 -a "$left" -le 61
e2e_api "$R" DELETE "$CAPS/$CID" >/dev/null
e2e_expect_status 204 "DELETE forgets it at once"
e2e_api "$R" GET "$CAPS/$CID" >/dev/null
e2e_expect_status 404 "then it is gone"
e2e_api "$R" GET "/v1/events?object_id=$CID" >/dev/null
check_eq "the start is in the audit log, with the capture's id" "POST $CAPS 201" \
	"$(e2e_jq '.items[] | select(.method == "POST") | "\(.method) \(.path) \(.status)"')"

e2e_step "the filter runs in the kernel: a udp filter keeps no ping; max_seconds ends it"
start '{"interface":"enp0s2","filter":"udp port 9","max_seconds":1}'
e2e_expect_status 201 "POST $CAPS (udp port 9, 1 s)"
t0=$(date +%s%N)
e2e_in "$N1" ping -c3 -i0.2 -W1 192.168.100.2 >/dev/null || true
check_poll "max_seconds ends it" 5 cap_done "$CID"
t1=$(date +%s%N)
check "it ran about a second (not before, not much after)" \
	test $(((t1 - t0) / 1000000)) -ge 900 -a $(((t1 - t0) / 1000000)) -lt 4000
check_eq "stop_reason" max_seconds "$(cap_field "$CID" .stop_reason)"
check_eq "no packet passed the filter" 0 "$(cap_field "$CID" .packets)"
download "$CID" "$E2E_TMP/empty.pcap"
check_eq "an empty capture downloads" 200 "$E2E_STATUS"
check "tcpdump -r reads the empty file" tcpdump -nr "$E2E_TMP/empty.pcap"
e2e_api "$R" DELETE "$CAPS/$CID" >/dev/null

e2e_step "stop early, keep the file"
start '{"interface":"enp0s2","max_seconds":60}'
e2e_expect_status 201 "POST $CAPS (everything, 60 s)"
e2e_in "$N1" ping -c2 -i0.2 -W1 192.168.100.2 >/dev/null || true
e2e_api "$R" POST "$CAPS/$CID/stop" >/dev/null
e2e_expect_status 200 "POST .../stop"
check_eq "stopped" "done stopped" "$(e2e_jq '"\(.state) \(.stop_reason)"')"
download "$CID" "$E2E_TMP/stopped.pcap"
check_eq "the stopped capture downloads" 200 "$E2E_STATUS"
check_match "and holds the pings" 'ICMP echo request' "$(tcpdump -nr "$E2E_TMP/stopped.pcap" 2>/dev/null)"
e2e_api "$R" DELETE "$CAPS/$CID" >/dev/null
e2e_api "$R" GET "$CAPS" >/dev/null
check_eq "none held now" 0 "$(e2e_jq '.items | length')"

e2e_step "the link goes away: the capture fails and says why, keeping what it read"
ip -n "$R" link add cap0 type veth peer name cap1
ip -n "$R" link set cap0 up
ip -n "$R" link set cap1 up
start '{"interface":"cap0","max_seconds":60}'
e2e_expect_status 201 "POST $CAPS on cap0"
ip -n "$R" link del cap0
cap_failed() { [[ $(cap_field "$1" .state) == failed ]]; }
check_poll "it fails" 5 cap_failed "$CID"
check_match "naming the link and the error" 'cap0: Network is down' "$(cap_field "$CID" .error)"
check_eq "stop_reason" error "$(cap_field "$CID" .stop_reason)"
download "$CID" "$E2E_TMP/failed.pcap"
check_eq "its file still downloads" 200 "$E2E_STATUS"
check "and tcpdump reads it" tcpdump -nr "$E2E_TMP/failed.pcap"
e2e_api "$R" DELETE "$CAPS/$CID" >/dev/null

e2e_step "at most 4 captures at once"
ids=()
for i in 1 2 3 4; do
	start '{"interface":"enp0s1","max_seconds":60}'
	e2e_expect_status 201 "capture $i of 4"
	ids+=("$CID")
done
e2e_api "$R" GET "$CAPS" >/dev/null
check_eq "the list holds the 4" 4 "$(e2e_jq '.items | length')"
e2e_api "$R" POST "$CAPS" '{"interface":"enp0s1"}' >/dev/null
e2e_expect_status 409 "a fifth"
check_eq "as problem+json" application/problem+json "$(e2e_header Content-Type)"
check_match "naming the bound and what to do" '4 captures are held.*download or delete' "$(e2e_jq .detail)"
e2e_api "$R" DELETE "$CAPS/${ids[0]}" >/dev/null
e2e_expect_status 204 "DELETE one"
e2e_api "$R" GET "$CAPS/${ids[0]}" >/dev/null
e2e_expect_status 404 "deleted: gone"
start '{"interface":"enp0s1","max_seconds":60}'
e2e_expect_status 201 "then a new one starts"
ids[0]=$CID
for id in "${ids[@]}"; do
	e2e_api "$R" DELETE "$CAPS/$id" >/dev/null
done
e2e_api "$R" GET "$CAPS" >/dev/null
check_eq "all deleted" 0 "$(e2e_jq '.items | length')"

e2e_step "bad input is a 422 naming the field, and starts nothing"
bad '{"interface":"nosuch0"}' interface
check_match "unknown interface: said so" 'nosuch0.*does not exist' "$BAD_DETAIL"
bad '{"interface":"bad/name"}' interface
bad '{"interface":5}' interface
bad '{"filter":"icmp"}' interface
bad '{"interface":"enp0s2","filter":"icmp and and"}' filter
check_match "the compiler's own message" 'icmp and and.*syntax error' "$BAD_DETAIL"
bad '{"interface":"enp0s2","filter":"tcp port 99999"}' filter
check_match "the compiler's own message" 'port 99999' "$BAD_DETAIL"
bad '{"interface":"enp0s2","filter":7}' filter
bad '{"interface":"enp0s2","max_packets":0}' max_packets
bad '{"interface":"enp0s2","max_packets":10001}' max_packets
bad '{"interface":"enp0s2","max_packets":"10"}' max_packets
bad '{"interface":"enp0s2","max_seconds":0}' max_seconds
bad '{"interface":"enp0s2","max_seconds":61}' max_seconds
bad '{"interface":"enp0s2","max_seconds":1.5}' max_seconds
bad '{"interface":"enp0s2","max_bytes":100}' max_bytes
e2e_api "$R" POST "$CAPS" '{"interface":"enp0s2","snaplen":5}' >/dev/null
e2e_expect_status 400 "an unknown key"
e2e_api "$R" GET "$CAPS/cap-0123456789abcdef" >/dev/null
e2e_expect_status 404 "an unknown capture"

e2e_done
