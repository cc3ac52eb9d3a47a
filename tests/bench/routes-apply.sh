#!/usr/bin/env bash
# routes-apply: N routes through PUT /v1/config into a fresh vrouterd, against `ip -batch`
# of the same routes (tests/bench/README.md). Run through tests/bench/run.sh.
#
# Each run has a fresh namespace of its own (a veth pair inside it, 172.31.255.1/24 on
# e0, routes via 172.31.255.2), deleted after the run:
#   anchor  `ip -n NS -batch FILE` of "route add D via 172.31.255.2 proto 245" x N, timed
#           (the whole ip process)
#   ours    vrouterd started with an empty database, then PUT /v1/config {"routes": [N
#           routes]}, timed from request to response (curl time_total); the response is
#           sent after the apply was attempted. Checked: the answer says converged, GET
#           /v1/status converged, N routes of protocol 245 in the kernel.
# Runs alternate (anchor, ours, anchor, ours, ...); medians, and the median of the
# per-round ratios ours/anchor. Goal: <= 0.8 (issue 15 goal 1).
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/bench/lib.sh
source "$HERE/lib.sh"
bench_init routes-apply

SIZES=${BENCH_ROUTES_SIZES:-10000 100000}
if [[ ${BENCH_QUICK:-0} == 1 ]]; then
	ROUNDS_SMALL=${BENCH_ROUNDS:-1} ROUNDS_BIG=${BENCH_ROUNDS:-1}
else
	ROUNDS_SMALL=${BENCH_ROUNDS:-5} ROUNDS_BIG=${BENCH_ROUNDS:-3}
fi
GOAL=0.8 # issue 15 goal 1: PUT /v1/config <= 0.8x ip -batch of the same routes
[[ -x $VROUTERD ]] || bench_fail "vrouterd not found at $VROUTERD"
for t in curl jq ip; do
	command -v "$t" >/dev/null || bench_fail "$t is not installed (run.sh installs it)"
done

# run_anchor N ROUND: ms in $MS.
run_anchor() { bench_ip_batch "$BENCH_TMP/routes-$1.ip" "$1" "ip-$1-$2"; }

# run_ours N ROUND: ms in $MS (request to response), the daemon's own split in $SPLIT.
run_ours() {
	local n=$1 ns got
	bench_router_ns "vr-$n-$2"
	ns=$BENCH_NS
	bench_daemon "$ns" || bench_fail "$BENCH_ERR"
	bench_apply_config "$ns" "$BENCH_TMP/routes-$n.json" "$n routes"
	got=$(bench_kernel_routes "$ns")
	((got == n)) || bench_fail "vrouterd: $got routes in the kernel, expected $n"
	SPLIT=$(bench_last_put_log "$ns")
	blog "ours $n routes: $MS ms; daemon: $SPLIT"
	bench_ns_del "$ns"
}

# split_median FIELD "LINE"...: median of a field of the daemon's log lines
# ("parsed and checked in X ms, stored in Y ms (revision R), applied in Z ms").
split_median() {
	local f=$1 l
	local -a v=()
	shift
	for l in "$@"; do
		case $f in
		parsed) v+=("$(sed -n 's/.*checked in \([0-9.]*\) ms.*/\1/p' <<<"$l")") ;;
		stored) v+=("$(sed -n 's/.*stored in \([0-9.]*\) ms.*/\1/p' <<<"$l")") ;;
		applied) v+=("$(sed -n 's/.*applied in \([0-9.]*\) ms.*/\1/p' <<<"$l")") ;;
		esac
	done
	median "${v[@]}" | awk '{ printf "%.0f", $1 }'
}

rate() { awk -v n="$1" -v ms="$2" 'BEGIN { if (ms > 0) printf "%.0f", n * 1000 / ms; else print "n/a" }'; }

for n in $SIZES; do
	((n >= 1 && n <= 1000000)) || bench_fail "BENCH_ROUTES_SIZES: each size must be 1..1000000"
	bench_gen_routes "$n" ip >"$BENCH_TMP/routes-$n.ip"
	bench_gen_routes "$n" json >"$BENCH_TMP/routes-$n.json"
	rounds=$ROUNDS_SMALL
	((n < 50000)) || rounds=$ROUNDS_BIG
	A=() O=() SPLITS=()
	NOT_CONVERGED=0
	blog "$n routes: $rounds rounds of anchor, ours ($(wc -c <"$BENCH_TMP/routes-$n.json") bytes of JSON)"
	for ((round = 1; round <= rounds; round++)); do
		run_anchor "$n" "$round"
		A+=("$MS")
		blog "ip -batch $n routes: $MS ms"
		sleep 0.5 # the deleted namespace's routes are freed by the kernel in the background
		run_ours "$n" "$round"
		O+=("$MS")
		SPLITS+=("$SPLIT")
		sleep 0.5
	done
	OURS=$(median "${O[@]}")
	ANCHOR=$(median "${A[@]}")
	R=$(paired_ratio "${O[*]}" "${A[*]}")
	bench_result "routes-apply  $n routes: ours $OURS ms ($(rate "$n" "$OURS") routes/s)  ip -batch $ANCHOR ms ($(rate "$n" "$ANCHOR") routes/s)  ratio $R (goal <= $GOAL, $(verdict_at_most "$R" "$GOAL"))"
	bench_result "  routes-apply  $n: medians of $rounds alternating runs, ratio the median of the per-round ratios; ms per run: ours [${O[*]}] ip -batch [${A[*]}]; vrouterd's split (median, its log): parsed $(split_median parsed "${SPLITS[@]}") ms, stored $(split_median stored "${SPLITS[@]}") ms, applied $(split_median applied "${SPLITS[@]}") ms$( ((NOT_CONVERGED == 0)) || echo "; WARNING: $NOT_CONVERGED answers were sent before convergence")"
	rm -f "$BENCH_TMP/routes-$n.ip" "$BENCH_TMP/routes-$n.json"
done
