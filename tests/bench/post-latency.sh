#!/usr/bin/env bash
# post-latency: the latency of one more route POSTed into a daemon that holds 1,000
# routes, and into one that holds 100,000 (tests/bench/README.md). A change should cost
# the same whatever the size of the table (O(1) per change). Run through run.sh.
#
# Two namespaces (a veth pair inside each, 172.31.255.1/24, routes via 172.31.255.2), a
# vrouterd in each, loaded by PUT /v1/config with BENCH_POST_SMALL (1,000) and
# BENCH_POST_BIG (100,000) routes, converged. Then POST /v1/routes, one new route
# (a /32 of its own) per request, sequentially, over one kept-alive curl connection, with
# each request's time (curl time_total): batches of BENCH_POST_BATCH alternating between
# the two daemons (small big, big small, small big, ...), BENCH_POST_COUNT (200) per daemon, after
# 5 warm-up requests each. Reported: the median latency of each, and big/small.
# Goal: <= 1.2.
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/bench/lib.sh
source "$HERE/lib.sh"
bench_init post-latency

SMALL=${BENCH_POST_SMALL:-1000}
BIG=${BENCH_POST_BIG:-100000}
if [[ ${BENCH_QUICK:-0} == 1 ]]; then
	COUNT=${BENCH_POST_COUNT:-50}
	BATCH=${BENCH_POST_BATCH:-25}
else
	COUNT=${BENCH_POST_COUNT:-200}
	BATCH=${BENCH_POST_BATCH:-50}
fi
WARMUP=5
GOAL=1.2
[[ -x $VROUTERD ]] || bench_fail "vrouterd not found at $VROUTERD"
for t in curl jq ip; do
	command -v "$t" >/dev/null || bench_fail "$t is not installed (run.sh installs it)"
done
((COUNT >= 1 && COUNT <= 5000 && BATCH >= 1)) || bench_fail "BENCH_POST_COUNT must be 1..5000, BENCH_POST_BATCH >= 1"

declare -A NS_OF SIZE_OF LAT POSTED
NS_OF=() SIZE_OF=([small]=$SMALL [big]=$BIG) LAT=() POSTED=([small]=0 [big]=0)

# load SIDE: namespace, daemon, SIZE_OF[SIDE] routes through PUT /v1/config, converged.
load() {
	local side=$1 n=${SIZE_OF[$1]} ns got
	bench_router_ns "$side"
	ns=$BENCH_NS
	NS_OF[$side]=$ns
	bench_daemon "$ns" || bench_fail "$BENCH_ERR"
	bench_gen_routes "$n" json >"$BENCH_TMP/load.json"
	bench_put_config "$ns" "$BENCH_TMP/load.json"
	[[ $PUT_CODE == 200 ]] || bench_fail "$side: PUT /v1/config of $n routes answered $PUT_CODE: $(head -c 300 "$BENCH_TMP/put.json")"
	bench_poll 60 bench_converged "$ns" || bench_fail "$side: vrouterd did not converge within 60 s"
	got=$(bench_kernel_routes "$ns")
	((got == n)) || bench_fail "$side: $got routes in the kernel, expected $n"
	blog "$side: $n routes loaded in $(s_to_ms "$PUT_S") ms ($(bench_last_put_log "$ns"))"
	rm -f "$BENCH_TMP/load.json"
}

# post SIDE COUNT KEEP(0|1): COUNT sequential POSTs of new routes; latencies (ms) appended
# to LAT[SIDE] when KEEP.
post() {
	local side=$1 count=$2 keep=$3 ns=${NS_OF[$1]} ok lat
	# Each side numbers its own routes; the two sides never share a namespace anyway.
	bench_gen_routes "$count" post "${POSTED[$side]}" | while read -r body; do
		printf 'url = "http://127.0.0.1:%s/v1/routes"\n' "$BENCH_PORT"
		printf 'header = "Authorization: Bearer %s"\nheader = "Content-Type: application/json"\n' "${BENCH_TOKEN[$ns]}"
		printf 'data = "%s"\n' "${body//\"/\\\"}"
		printf 'output = "/dev/null"\nwrite-out = "%%{http_code} %%{time_total}\\n"\nnext\n'
	done >"$BENCH_TMP/post.curl"
	POSTED[$side]=$((POSTED[$side] + count))
	bench_in "$ns" curl -sS --max-time 300 -K "$BENCH_TMP/post.curl" >"$BENCH_TMP/post.out" 2>"$BENCH_TMP/post.err" || true
	ok=$(grep -c '^201 ' "$BENCH_TMP/post.out" || true)
	((ok == count)) || bench_fail "$side: $ok of $count POST /v1/routes answered 201 ($(cut -d' ' -f1 "$BENCH_TMP/post.out" | sort | uniq -c | tr '\n' ' ')$(head -c 200 "$BENCH_TMP/post.err"))"
	if ((keep)); then
		lat=$(awk '{ printf "%s%.3f", (NR > 1 ? " " : ""), $2 * 1000 }' "$BENCH_TMP/post.out")
		LAT[$side]="${LAT[$side]:-} $lat"
		# shellcheck disable=SC2086 # one number per word
		blog "$side: $count POSTs, median $(median $lat) ms"
	fi
}

# pct P v...: the P-th percentile (nearest rank).
pct() {
	local p=$1
	shift
	printf '%s\n' "$@" | sort -g | awk -v p="$p" '{ a[NR] = $1 } END { r = int(NR * p / 100 + 0.999999); if (r < 1) r = 1; print a[r] }'
}

blog "loading $SMALL and $BIG routes"
load small
load big
sleep 1 # the apply that follows a large load (a resync) is over
post small "$WARMUP" 0
post big "$WARMUP" 0

done_n=0
round=0
declare -A RMED=([small]="" [big]="")
while ((done_n < COUNT)); do
	b=$((COUNT - done_n < BATCH ? COUNT - done_n : BATCH))
	order="small big"
	((round++ % 2 == 0)) || order="big small"
	for side in $order; do
		post "$side" "$b" 1
		# shellcheck disable=SC2046 # the latencies of this batch, one per word
		RMED[$side]="${RMED[$side]} $(median $(tr ' ' '\n' <<<"${LAT[$side]}" | sed '/^$/d' | tail -n "$b"))"
	done
	done_n=$((done_n + b))
done

for side in small big; do
	got=$(bench_kernel_routes "${NS_OF[$side]}")
	want=$((SIZE_OF[$side] + POSTED[$side]))
	((got == want)) || bench_fail "$side: $got routes in the kernel after the POSTs, expected $want"
done

# shellcheck disable=SC2086 # word splitting of the latency lists is wanted
{
	MS=$(median ${LAT[small]})
	MB=$(median ${LAT[big]})
	P90S=$(pct 90 ${LAT[small]}) P90B=$(pct 90 ${LAT[big]})
	MAXS=$(pct 100 ${LAT[small]}) MAXB=$(pct 100 ${LAT[big]})
}
R=$(ratio "$MB" "$MS")
FS=$(df --output=fstype "$BENCH_TMP" | tail -n1 | tr -d ' ')
bench_result "post-latency  ours: median POST /v1/routes $MB ms holding $BIG routes, $MS ms holding $SMALL  ratio $R (goal <= $GOAL, $(verdict_at_most "$R" "$GOAL"))"
bench_result "  post-latency  $COUNT sequential POSTs per daemon (one new /32 each, one kept-alive connection, curl time_total) in batches of $BATCH alternating (small big, big small, ...); p90 $P90B ms vs $P90S ms, max $MAXB ms vs $MAXS ms; batch medians: $BIG [${RMED[big]# }] $SMALL [${RMED[small]# }]; each POST is a durable SQLite commit (database on $FS) and a kernel apply before the answer"
