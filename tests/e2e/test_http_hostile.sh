#!/usr/bin/env bash
# Hostile and racing HTTP clients against one daemon in one namespace:
#  - concurrent writers: every answer to a write describes the version that write made
#    (its body and ETag), never another writer's; a create racing a DELETE of the same
#    client id never answers 404;
#  - slow clients (tests/e2e/slow_client.c) from several source addresses: at most
#    HTTP_CONN_PER_ADDR connections per address, request heads and bodies cut at their
#    deadlines with a 408, /healthz answering all along, even past the global limit;
#  - malformed requests answered with problem+json (never libmicrohttpd's HTML), HEAD,
#    encoded control bytes in paths, and the smaller API edges of issue 9.
# shellcheck disable=SC2317 # helpers run through check
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

e2e_init http_hostile

URL="http://127.0.0.1:$E2E_PORT"
SLOW_CLIENT=${SLOW_CLIENT:-$E2E_SRC/build/tests/slow_client}
[[ -x $SLOW_CLIENT ]] || e2e_fatal "slow_client not found at $SLOW_CLIENT: build first"
# The daemon's limits (server/http_guard.h), as the checks below expect them.
PER_ADDR=32 HEAD_S=10 BODY_S=30

# curl_many NS CONFIG OUT: one curl process running every request of CONFIG (a curl config
# file, requests separated by "next") over one kept-alive connection; OUT gets, per
# request, its body line and then a line "## <ETag> <status>".
curl_many() {
	ip netns exec "$1" timeout 120 curl -sS --no-progress-meter -K "$2" >"$3" 2>"$3.err" || true
}

# many_config FILE COUNT METHOD PATH [JSON]: COUNT identical authenticated requests.
many_config() {
	local file=$1 count=$2 method=$3 path=$4 json=${5-} i tok
	tok=$(e2e_token "$NS")
	: >"$file"
	for ((i = 0; i < count; i++)); do
		{
			((i == 0)) || echo 'next'
			echo "url = \"$URL$path\""
			echo "request = \"$method\""
			echo "header = \"Authorization: Bearer $tok\""
			if [[ -n $json ]]; then
				echo 'header = "Content-Type: application/json"'
				printf 'data = "%s"\n' "${json//\"/\\\"}"
			fi
			echo 'write-out = "## %header{etag} %{http_code}\n"'
		} >>"$file"
	done
}

# pairs OUT: "<status> <etag> <compact body>" per request of a curl_many output.
pairs() {
	awk '/^## / { print $3, ($2 == "" ? "-" : $2), body; body = ""; next } { body = $0 }' "$1"
}

e2e_step "set-up: one namespace, one veth, one daemon"
e2e_ns api
NS=$E2E_NS
e2e_link "$NS" v0 "$NS" v1
ip -n "$NS" addr add 192.168.150.2/24 dev v0
e2e_daemon "$NS"

# ---------------------------------------------------------------- truthful answers

e2e_step "two writers PUT metric 1 and metric 2 on one route, concurrently"
RT=rt-00000000000000c7
e2e_api "$NS" POST /v1/routes "{\"id\":\"$RT\",\"destination\":\"10.77.0.0/16\",\"via\":\"192.168.150.3\"}" >/dev/null
e2e_expect_status 201 "the route to write to"
N_PUT=${E2E_RACE_PUTS:-300}
for m in 1 2; do
	many_config "$E2E_TMP/put$m.cfg" "$N_PUT" PUT "/v1/routes/$RT" \
		"{\"destination\":\"10.77.0.0/16\",\"via\":\"192.168.150.3\",\"metric\":$m}"
done
curl_many "$NS" "$E2E_TMP/put1.cfg" "$E2E_TMP/put1.out" &
w1=$!
curl_many "$NS" "$E2E_TMP/put2.cfg" "$E2E_TMP/put2.out" &
w2=$!
wait "$w1" "$w2"
for m in 1 2; do
	pairs "$E2E_TMP/put$m.out" >"$E2E_TMP/put$m.pairs"
	check_eq "writer $m: $N_PUT answers, all 200" "$N_PUT 200" \
		"$(awk '$1 == 200' "$E2E_TMP/put$m.pairs" | wc -l) $(awk '{ print $1 }' "$E2E_TMP/put$m.pairs" | sort -u | tr '\n' ' ' | sed 's/ $//')"
	wrong=$(awk '{ $1 = ""; $2 = ""; print }' "$E2E_TMP/put$m.pairs" | jq -c --argjson m "$m" 'select(.metric != $m) | {id, metric}' | wc -l)
	check_eq "writer $m: every answer shows the metric it wrote ($m)" 0 "$wrong"
done
# An ETag names one version: it never comes with two different bodies.
clash=$(cat "$E2E_TMP/put1.pairs" "$E2E_TMP/put2.pairs" | awk '{ e = $2; $1 = ""; $2 = ""; print e, $0 }' |
	jq -Rr 'split(" ") as $w | ($w[2:] | join(" ") | fromjson) as $b | "\($w[0]) \($b.metric)"' | sort -u |
	awk '{ n[$1]++ } END { c = 0; for (e in n) if (n[e] > 1) c++; print c }')
check_eq "no ETag is answered with two different metrics" 0 "$clash"
e2e_api "$NS" GET "/v1/routes/$RT" >/dev/null
final="$(e2e_header ETag) $(e2e_jq .metric)"
check "the final version (ETag and metric) is one a writer was answered" \
	grep -qxF -- "$final" <(cat "$E2E_TMP/put1.pairs" "$E2E_TMP/put2.pairs" | awk '{ e = $2; $1 = ""; $2 = ""; print e, $0 }' |
		jq -Rr 'split(" ") as $w | ($w[2:] | join(" ") | fromjson) as $b | "\($w[0]) \($b.metric)"')

e2e_step "POST with a client id racing DELETE of that id"
CID=rt-00000000000000d8
N_RACE=${E2E_RACE_POSTS:-1000}
many_config "$E2E_TMP/post.cfg" "$N_RACE" POST /v1/routes \
	"{\"id\":\"$CID\",\"destination\":\"10.78.0.0/16\",\"via\":\"192.168.150.3\"}"
many_config "$E2E_TMP/del.cfg" "$N_RACE" DELETE "/v1/routes/$CID"
curl_many "$NS" "$E2E_TMP/post.cfg" "$E2E_TMP/post.out" &
w1=$!
curl_many "$NS" "$E2E_TMP/del.cfg" "$E2E_TMP/del.out" &
w2=$!
wait "$w1" "$w2"
pairs "$E2E_TMP/post.out" >"$E2E_TMP/post.pairs"
pairs "$E2E_TMP/del.out" >"$E2E_TMP/del.pairs"
check_eq "POST: $N_RACE answers, each 201 or 200" "$N_RACE" "$(awk '$1 == 201 || $1 == 200' "$E2E_TMP/post.pairs" | wc -l)"
check_eq "POST never answers 404 for a create that committed" 0 "$(awk '$1 == 404' "$E2E_TMP/post.pairs" | wc -l)"
check_eq "every POST answer is the object it created" 0 \
	"$(awk '$1 == 201 || $1 == 200 { $1 = ""; $2 = ""; print }' "$E2E_TMP/post.pairs" | jq -c --arg id "$CID" 'select(.id != $id or .destination != "10.78.0.0/16")' | wc -l)"
check "the race really interleaved: some DELETEs found the route" \
	test "$(awk '$1 == 204' "$E2E_TMP/del.pairs" | wc -l)" -gt 0

# ---------------------------------------------------------------- malformed requests, API edges

# rawreq BYTES: send BYTES (printf format) on a new connection; the answer to $E2E_TMP/raw.
rawreq() {
	# shellcheck disable=SC2059 # the argument is the format
	printf "$1" | e2e_in "$NS" timeout 5 nc -q 3 127.0.0.1 "$E2E_PORT" >"$E2E_TMP/raw" 2>/dev/null || true
}
# raw_problem DESC STATUS DETAIL_ERE BYTES: the answer is one problem+json with STATUS.
raw_problem() {
	local desc=$1 st=$2 re=$3 lines body
	rawreq "$4"
	lines=$(grep -c '^HTTP/1\.[01] ' "$E2E_TMP/raw" || true)
	body=$(sed '1,/^\r$/d' "$E2E_TMP/raw")
	check_eq "$desc: one answer, HTTP $st" "1 $st" "$lines $(sed -n '1s/^HTTP\/1\.1 \([0-9]*\).*/\1/p' "$E2E_TMP/raw")"
	check_match "$desc: problem+json, not HTML" '^Content-Type: application/problem\+json' "$(tr -d '\r' <"$E2E_TMP/raw" | grep -i '^content-type')"
	check_match "$desc: the detail says what is wrong" "$re" "$(jq -r .detail <<<"$body" 2>&1)"
}

e2e_step "requests libmicrohttpd would answer itself (as HTML, the status line twice)"
raw_problem "Content-Length abc" 400 'Content-Length "abc"' \
	'POST /v1/routes HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n'
raw_problem "Content-Length beyond 2^64" 413 'too large' \
	'POST /v1/routes HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n'
raw_problem "two Content-Length headers that differ" 400 'given twice, as 5 and 60' \
	'POST /v1/routes HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 60\r\n\r\n{"destination":"10.0.0.0/8","dev":"v0"}'
raw_problem "HTTP/2.0 in the request line" 400 'HTTP/2.0' 'GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n'
raw_problem "a 3000-byte request target" 414 'request target' \
	"GET /v1/routes?after=$(head -c 3000 /dev/zero | tr '\0' a) HTTP/1.1\r\nHost: x\r\n\r\n"
raw_problem "a 20 kB request head" 431 'request head' \
	"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: $(head -c 20000 /dev/zero | tr '\0' a)\r\n\r\n"
check_eq "nothing stored by them" 0 "$(e2e_api "$NS" GET '/v1/routes?limit=1000' | jq '[.items[] | select(.destination == "10.0.0.0/8")] | length')"

e2e_step "HEAD wherever GET"
e2e_api "$NS" POST /v1/routes '{"id":"rt-00000000000000e1","destination":"10.79.0.0/16","via":"192.168.150.3"}' >/dev/null
e2e_expect_status 201 "a route to look at"
rawhdr() { tr -d '\r' <"$E2E_TMP/raw" | sed '/^$/q' | awk -v n="$(tr '[:upper:]' '[:lower:]' <<<"$1")" \
	'{ i = index($0, ":"); if (i && tolower(substr($0, 1, i - 1)) == n) { v = substr($0, i + 1); sub(/^[ \t]+/, "", v); print v } }'; }
# /v1/status changes between two requests (the last apply's figures): its length is not compared.
for path in /healthz /v1/routes /v1/routes/rt-00000000000000e1 /v1/status /v1/config; do
	e2e_api "$NS" GET "$path" >/dev/null
	get="$(e2e_last_status) $(e2e_header Content-Type) $(e2e_header ETag) $(e2e_header Content-Length)"
	# Raw, with Connection: close: whatever the server sends after the head shows.
	rawreq "HEAD $path HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $(e2e_token "$NS")\r\nConnection: close\r\n\r\n"
	head="$(sed -n '1s/^HTTP\/1\.1 \([0-9]*\).*/\1/p' "$E2E_TMP/raw") $(rawhdr Content-Type) $(rawhdr ETag) $(rawhdr Content-Length)"
	if [[ $path == /v1/status ]]; then
		check "HEAD $path: a Content-Length" test -n "$(rawhdr Content-Length)"
		get=${get% *} head=${head% *}
	fi
	check_eq "HEAD $path: the status and headers of GET" "$get" "$head"
	check_eq "HEAD $path: no body" "" "$(sed '1,/^\r$/d' "$E2E_TMP/raw")"
done

e2e_step "encoded control bytes in a path"
e2e_api "$NS" DELETE '/v1/routes/rt-00000000000000e1%00junk' >/dev/null
e2e_expect_status 400 "DELETE /v1/routes/ID%00junk"
e2e_api "$NS" GET /v1/routes/rt-00000000000000e1 >/dev/null
e2e_expect_status 200 "... and the route ID is still there"
e2e_api "$NS" GET '/v1/routes?after=rt-0%0a' >/dev/null
e2e_expect_status 400 "a %0a in the query"

e2e_step "API edges"
api_problem() { # DESC STATUS FIELD METHOD PATH [JSON]
	local desc=$1 st=$2 fld=$3
	shift 3
	e2e_api "$NS" "$@" >/dev/null
	e2e_expect_status "$st" "$desc"
	check_eq "$desc: names $fld" "$fld" "$(e2e_jq '.errors[0].field')"
}
api_problem "route table with \"table\": 0" 422 table POST /v1/route-tables '{"name":"zero","table":0}'
api_problem "IPv6 link-local via without dev" 422 via POST /v1/routes '{"destination":"fd00:99::/64","via":"fe80::1"}'
api_problem "IPv4-mapped IPv6 target" 422 'targets[0]' POST /v1/security-groups '{"name":"m","targets":["::ffff:10.0.0.5"]}'
api_problem "a garbage cursor" 400 after GET '/v1/routes?after=garbage'
e2e_api "$NS" POST /v1/routes '{"destination":"10.80.0.0/16","via":"192.168.150.3","metric":null,"description":null,"type":null}' >/dev/null
e2e_expect_status 201 "explicit nulls"
check_eq "... mean the defaults" "0 unicast " "$(e2e_jq '"\(.metric) \(.type) \(.description)"')"
api_problem "a second next hop, same table, destination and metric" 409 destination POST /v1/routes '{"destination":"10.80.0.0/16","via":"192.168.150.4"}'
check_match "... the detail says multipath is not supported and names the route" \
	"$(e2e_api "$NS" GET '/v1/routes?limit=1000' | jq -r '.items[] | select(.destination == "10.80.0.0/16") | .id').*multipath.*not supported|multipath.*not supported.*rt-" \
	"$(e2e_api "$NS" POST /v1/routes '{"destination":"10.80.0.0/16","via":"192.168.150.4"}' | jq -r .detail)"
e2e_api "$NS" GET /v1/routes/rt-00000000000000e1 >/dev/null
before="$(e2e_header ETag) $(e2e_jq .updated_at)"
rev0=$(e2e_api "$NS" GET /v1/status | jq .desired_revision)
e2e_api "$NS" PUT /v1/routes/rt-00000000000000e1 "$(e2e_api "$NS" GET /v1/routes/rt-00000000000000e1)" >/dev/null
e2e_expect_status 200 "PUT of a GET's answer"
check_eq "... changes nothing: same ETag and updated_at" "$before" "$(e2e_header ETag) $(e2e_jq .updated_at)"
check_eq "... and no new revision" "$rev0" "$(e2e_api "$NS" GET /v1/status | jq .desired_revision)"

# ---------------------------------------------------------------- slow clients

# field KEY LINE: the value of KEY=... in a slow_client report.
field() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"; }
# within REPORT MIN MAX: every connection was closed (none left open, some closed), and
# those not refused lived between MIN and MAX seconds.
within() {
	awk -v o="$(field open "$1")" -v t="$(field timeout "$1")" -v s="$(field silent "$1")" \
		-v lo="$(field alive_min "$1")" -v hi="$(field alive_max "$1")" -v a="$2" -v b="$3" \
		'BEGIN { exit !(o == 0 && t + s > 0 && lo + 0 >= a && hi + 0 <= b) }'
}
healthz() { e2e_in "$NS" curl -sf -o /dev/null --max-time 3 "$URL/healthz"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/${E2E_DAEMON_PID[$NS]}/stat"; }

e2e_step "one address opens $((PER_ADDR + 8)) connections and sends a header line every 2 s; slow bodies; slow second requests"
e2e_bg "$NS" sh -c "'$SLOW_CLIENT' -p $E2E_PORT -s 127.0.0.2 -n $((PER_ADDR + 8)) -i 2000 -d $((HEAD_S + 6)) >'$E2E_TMP/slow1.out' 2>&1"
e2e_bg "$NS" sh -c "'$SLOW_CLIENT' -p $E2E_PORT -s 127.0.0.3 -n 5 -b 1000 -i 2000 -d $((BODY_S + 8)) >'$E2E_TMP/body.out' 2>&1"
e2e_bg "$NS" sh -c "'$SLOW_CLIENT' -p $E2E_PORT -s 127.0.0.4 -n 5 -k -i 2000 -d $((HEAD_S + 8)) >'$E2E_TMP/keep.out' 2>&1"
sleep 2
check "/healthz answers meanwhile (from another address)" healthz
good=$(e2e_in "$NS" curl -s -o /dev/null -w '%{http_code}' --max-time 3 -H "Authorization: Bearer $(e2e_token "$NS")" "$URL/v1/routes")
check_eq "so does an authenticated GET /v1/routes" 200 "$good"
e2e_poll $((HEAD_S + 20)) test -s "$E2E_TMP/slow1.out" || true
r=$(cat "$E2E_TMP/slow1.out")
e2e_log "slow_client: $r"
check_eq "connections past the ${PER_ADDR}th from that address are refused (429)" 8 "$(field refused "$r")"
check_eq "the other $PER_ADDR are cut with a 408, none left open" "$PER_ADDR 0" "$(field timeout "$r") $(field open "$r")"
check "... at the ${HEAD_S} s deadline ($(field alive_min "$r")-$(field alive_max "$r") s)" \
	within "$r" $((HEAD_S - 1)) $((HEAD_S + 3))
e2e_poll 10 test -s "$E2E_TMP/keep.out" || true
r=$(cat "$E2E_TMP/keep.out")
e2e_log "slow_client (kept-alive, slow second request): $r"
check_eq "slow second requests on kept-alive connections: 408" "5 0" "$(field timeout "$r") $(field open "$r")"
check "... at the ${HEAD_S} s deadline ($(field alive_min "$r")-$(field alive_max "$r") s)" \
	within "$r" $((HEAD_S - 1)) $((HEAD_S + 3))
e2e_poll $((BODY_S + 20)) test -s "$E2E_TMP/body.out" || true
r=$(cat "$E2E_TMP/body.out")
e2e_log "slow_client (slow bodies): $r"
check_eq "slow bodies: 408" "5 0" "$(field timeout "$r") $(field open "$r")"
check "... at the ${BODY_S} s deadline ($(field alive_min "$r")-$(field alive_max "$r") s)" \
	within "$r" $((BODY_S - 1)) $((BODY_S + 3))

e2e_step "12 addresses open 360 slow connections, more than the 256 served at once"
c0=$(cpu_ticks)
SRCS=$(seq -s, -f '127.0.0.%g' 10 21)
e2e_bg "$NS" sh -c "'$SLOW_CLIENT' -p $E2E_PORT -s $SRCS -n 30 -i 2000 -d $((HEAD_S + 8)) >'$E2E_TMP/flood.out' 2>&1"
sleep 1
ok=0
for i in 1 2 3 4 5 6; do
	healthz && ok=$((ok + 1))
	sleep 1
done
check_eq "/healthz answered 6 times of 6 during the flood" 6 "$ok"
e2e_poll $((HEAD_S + 20)) test -s "$E2E_TMP/flood.out" || true
r=$(cat "$E2E_TMP/flood.out")
e2e_log "slow_client (flood): $r"
check_eq "every flood connection was closed with a 408 (cut, or made room)" "360 0" "$(field timeout "$r") $(field open "$r")"
check "none outlived the ${HEAD_S} s deadline by much ($(field alive_max "$r") s)" \
	within "$r" 0 $((HEAD_S + 3))
c1=$(cpu_ticks)
check "vrouterd did not spin on the slow sockets ($((c1 - c0)) CPU ticks in $((HEAD_S + 8)) s)" test $((c1 - c0)) -lt 300
check "/healthz after the attack" healthz

e2e_done
