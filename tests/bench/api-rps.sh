#!/usr/bin/env bash
# api-rps: HTTP requests per second of vrouterd's API, measured with wrk, against a
# minimal libmicrohttpd server with the same threading (tests/bench/mhd_min.c) that
# answers the same bytes (tests/bench/README.md). Run through tests/bench/run.sh.
#
# One namespace of its own: vrouterd on 127.0.0.1:8080, mhd_min on 127.0.0.1:8081,
# wrk inside the namespace too. Runs of the two alternate (round 1: ours, anchor;
# round 2: ...), the median of each is reported.
#   GET /v1/routes/{id}   one existing route (the figure under test, goal >= 0.85x)
#   the same GET with If-None-Match naming its ETag: 304 Not Modified, which must cost
#                         less than the full GET (printed as "304 vs GET")
#   POST /v1/routes       a new blackhole route per request (secondary: rps, median
#                         latency); each is a durable SQLite write and a kernel apply
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/bench/lib.sh
source "$HERE/lib.sh"
bench_init api-rps

if [[ ${BENCH_QUICK:-0} == 1 ]]; then
	DURATION=${BENCH_DURATION:-2}
	ROUNDS=${BENCH_ROUNDS:-1}
else
	DURATION=${BENCH_DURATION:-3}
	ROUNDS=${BENCH_ROUNDS:-5}
fi
THREADS=${BENCH_WRK_THREADS:-2}
CONNS=${BENCH_WRK_CONNS:-16}
POST_MAX=${BENCH_POST_MAX:-20000} # routes created at most, all threads together
GOAL=0.85 # issue 15: GET >= 0.85x a bare libmicrohttpd server
MHD_PORT=8081
MHD_MIN=$BENCH_BIN/mhd_min
[[ -x $MHD_MIN ]] || bench_fail "$MHD_MIN missing (run.sh builds it)"
[[ -x $VROUTERD ]] || bench_fail "vrouterd not found at $VROUTERD"
for t in wrk curl jq; do
	command -v "$t" >/dev/null || bench_fail "$t is not installed (run.sh installs it)"
done

bench_ns api
NS=$BENCH_NS
bench_daemon "$NS" || bench_fail "$BENCH_ERR"
TOKEN=${BENCH_TOKEN[$NS]}

# One route to GET, and the exact bytes vrouterd answers for it.
RID=$(bench_api "$NS" POST /v1/routes '{"destination":"10.255.0.0/24","type":"blackhole","description":"api-rps benchmark"}' | jq -r '.id // empty')
[[ $(bench_status) == 201 && -n $RID ]] || bench_fail "POST /v1/routes answered $(bench_status): $(head -c 300 "$BENCH_TMP/body")"
URL="http://127.0.0.1:$BENCH_PORT/v1/routes/$RID"
bench_in "$NS" curl -sS --max-time 10 -H "Authorization: Bearer $TOKEN" -D "$BENCH_TMP/get.headers" \
	-o "$BENCH_TMP/get.body" "$URL"
header() { tr -d '\r' <"$1" | awk -v n="$(tr '[:upper:]' '[:lower:]' <<<"$2")" '{ i = index($0, ":"); if (i && tolower(substr($0, 1, i - 1)) == n) { v = substr($0, i + 1); sub(/^[ \t]+/, "", v); print v } }'; }
grep -q '^HTTP/1.1 200' "$BENCH_TMP/get.headers" || bench_fail "GET $URL: $(head -n1 "$BENCH_TMP/get.headers")"
CTYPE=$(header "$BENCH_TMP/get.headers" Content-Type)
ETAG=$(header "$BENCH_TMP/get.headers" ETag)
blog "GET /v1/routes/$RID: $(wc -c <"$BENCH_TMP/get.body") bytes, $CTYPE, ETag $ETAG"
[[ -n $ETAG ]] || bench_fail "GET $URL answered without an ETag"
NM_STATUS=$(bench_in "$NS" curl -sS --max-time 10 -H "Authorization: Bearer $TOKEN" -H "If-None-Match: $ETAG" \
	-o "$BENCH_TMP/nm.body" -w '%{http_code}' "$URL")
[[ $NM_STATUS == 304 && ! -s $BENCH_TMP/nm.body ]] ||
	bench_fail "GET $URL with If-None-Match: $ETAG answered $NM_STATUS ($(wc -c <"$BENCH_TMP/nm.body") body bytes), not 304 without a body"

bench_bg "$NS" "$MHD_MIN" -l "127.0.0.1:$MHD_PORT" -b "$BENCH_TMP/get.body" -a "Bearer $TOKEN" \
	-c "${CTYPE:-application/json}" ${ETAG:+-e "$ETAG"} -d 1800
MHD_URL="http://127.0.0.1:$MHD_PORT/v1/routes/$RID"
bench_poll 10 bench_in "$NS" curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" "$MHD_URL" ||
	bench_fail "mhd_min did not answer on 127.0.0.1:$MHD_PORT"
bench_in "$NS" curl -sS --max-time 10 -H "Authorization: Bearer $TOKEN" -o "$BENCH_TMP/mhd.body" "$MHD_URL"
cmp -s "$BENCH_TMP/get.body" "$BENCH_TMP/mhd.body" || bench_fail "mhd_min does not answer the same body as vrouterd"

# wrk_run URL SCRIPT [SCRIPT ARGS...]: sets RPS, P50 (us) from the script's BENCH line.
# Extra request headers: the array WRK_HEADERS (wrk's -H arguments).
WRK_HEADERS=()
wrk_run() {
	local url=$1 script=$2 out line
	shift 2
	out=$(bench_in "$NS" timeout $((DURATION + 30)) wrk -t "$THREADS" -c "$CONNS" -d "${DURATION}s" \
		-H "Authorization: Bearer $TOKEN" "${WRK_HEADERS[@]}" -s "$script" "$url" -- "$@" 2>&1) || bench_fail "wrk failed: $out"
	line=$(grep '^BENCH ' <<<"$out") || bench_fail "wrk printed no summary: $out"
	blog "${url#http://} $line"
	if ! grep -q ' errors=0' <<<"$line"; then
		bench_fail "wrk saw errors against $url: $line ($(grep -i 'non-2xx\|socket errors' <<<"$out" | tr '\n' ' '))"
	fi
	RPS=$(sed -n 's/.* rps=\([0-9]*\).*/\1/p' <<<"$line")
	P50=$(sed -n 's/.* p50_us=\([0-9]*\).*/\1/p' <<<"$line")
}

OURS_RUNS=() ANCHOR_RUNS=() OURS_P50=() ANCHOR_P50=() NM_RUNS=() NM_P50=()
wrk_run "$URL" "$HERE/report.lua" # warm-up
for ((round = 1; round <= ROUNDS; round++)); do
	wrk_run "$URL" "$HERE/report.lua"
	OURS_RUNS+=("$RPS") OURS_P50+=("$P50")
	wrk_run "$MHD_URL" "$HERE/report.lua"
	ANCHOR_RUNS+=("$RPS") ANCHOR_P50+=("$P50")
	WRK_HEADERS=(-H "If-None-Match: $ETAG")
	wrk_run "$URL" "$HERE/report.lua"
	WRK_HEADERS=()
	NM_RUNS+=("$RPS") NM_P50+=("$P50")
done
OURS=$(median "${OURS_RUNS[@]}")
ANCHOR=$(median "${ANCHOR_RUNS[@]}")
NM=$(median "${NM_RUNS[@]}")

# POST: one run, a new route per request, bounded in count and time.
wrk_run "http://127.0.0.1:$BENCH_PORT/v1/routes" "$HERE/post_routes.lua" 1 $(((POST_MAX + THREADS - 1) / THREADS))
POST_RPS=$RPS POST_P50=$P50
NROUTES=$(ip -n "$NS" route show table all proto 245 | wc -l)

R=$(paired_ratio "${OURS_RUNS[*]}" "${ANCHOR_RUNS[*]}")
verdict="goal met"
meets "$R" "$GOAL" || verdict="GOAL MISSED"
R_NM=$(paired_ratio "${NM_RUNS[*]}" "${OURS_RUNS[*]}")
nm_verdict="goal met"
awk -v r="$R_NM" 'BEGIN { exit !(r != "n/a" && r + 0 > 1) }' || nm_verdict="GOAL MISSED"
bench_result "api-rps  ours $OURS req/s  mhd_min $ANCHOR req/s  ratio $R (goal >= $GOAL, $verdict)  GET /v1/routes/{id}"
bench_result "  api-rps  304 vs GET: If-None-Match (304, no body) $NM req/s  full GET $OURS req/s  ratio $R_NM (goal > 1: a 304 costs less, $nm_verdict); median latency 304 $(median "${NM_P50[@]}") us, GET $(median "${OURS_P50[@]}") us; 304 req/s per run [${NM_RUNS[*]}]"
bench_result "  api-rps  POST /v1/routes $POST_RPS req/s, median latency $(awk -v u="$POST_P50" 'BEGIN { printf "%.2f", u / 1000 }') ms ($NROUTES routes in the kernel afterwards; database on $(df --output=fstype "$(bench_daemon_dir "$NS")" | tail -n1 | tr -d ' '))"
bench_result "  api-rps  wrk -t$THREADS -c$CONNS, medians of $ROUNDS alternating runs of ${DURATION}s, ratio the median of the per-round ratios; GET req/s per run: ours [${OURS_RUNS[*]}] mhd_min [${ANCHOR_RUNS[*]}]; GET median latency ours $(median "${OURS_P50[@]}") us, mhd_min $(median "${ANCHOR_P50[@]}") us"
