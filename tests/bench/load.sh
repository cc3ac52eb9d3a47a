#!/usr/bin/env bash
# load: 60 s of wrk, 64 connections, mixing POST, GET, PUT and DELETE on routes, against
# vrouterd in a namespace (tests/bench/README.md, "load"). Unlike the benchmarks this is
# a test: it exits 0 when every criterion holds and 1 when one does not (2: it could
# not run):
#   - no 5xx answer and no socket error (connect, read, write, timeout)
#   - the mix did its work: routes were created (201) and deleted (204), no 401
#   - vrouterd's RSS grows less than 5 % from the first 10 s to the last 10 s (the mean
#     of the samples taken in each, by their time since wrk started)
#   - at the end the kernel holds exactly the routes of the database (GET /v1/config
#     against `ip route show table all proto vrouter`: destination, type and metric)
#
#   sudo tests/bench/load.sh              # or: cmake --build build --target load
#
# Not part of ctest (it takes about 80 s). Environment: VROUTERD (default
# build/vrouterd), LOAD_DURATION (60), LOAD_CONNS (64; over LOAD_CLIENTS wrk processes),
# LOAD_CLIENTS (4), LOAD_LAG (150, see load_mix.lua), LOAD_RSS_GROWTH_MAX (5, percent).
# Each wrk process connects from an address of its own, since vrouterd admits at most
# 32 connections from one address (server/http_guard.h): client namespace 192.168.7i.2
# to the daemon's 192.168.7i.1, i = 0..LOAD_CLIENTS-1, over one veth pair.
# The result lines also go to tests/bench/results/load.txt (not in git).
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ $(id -u) -ne 0 ]]; then
	command -v sudo >/dev/null || { echo "load.sh: must be root (network namespaces)" >&2 && exit 2; }
	exec sudo -- "$0" "$@"
fi
# shellcheck source=tests/bench/lib.sh
source "$HERE/lib.sh"
mkdir -p "$HERE/results"
export BENCH_OUT=${BENCH_OUT:-$HERE/results/load.txt}
: >"$BENCH_OUT"
bench_init load
# bench_fail exits 1; could-not-run is 2 here (1 is a failed criterion).
cant() {
	bench_result "load  COULD NOT RUN: $*"
	exit 2
}

DURATION=${LOAD_DURATION:-60}
CONNS=${LOAD_CONNS:-64}
CLIENTS=${LOAD_CLIENTS:-4}
LAG=${LOAD_LAG:-150}
GROWTH_MAX=${LOAD_RSS_GROWTH_MAX:-5}
WINDOW=10 # seconds at each end for the RSS comparison
((CONNS % CLIENTS == 0)) || cant "LOAD_CONNS ($CONNS) must be a multiple of LOAD_CLIENTS ($CLIENTS)"
((CONNS / CLIENTS <= 32)) || cant "more than 32 connections per client address ($((CONNS / CLIENTS)))"
((DURATION >= 2 * WINDOW)) || cant "LOAD_DURATION must be at least $((2 * WINDOW)) s"
[[ -x $VROUTERD ]] || cant "vrouterd not found at $VROUTERD (build it, or set VROUTERD)"
for t in wrk curl jq ip; do
	command -v "$t" >/dev/null || cant "$t is not installed (apt-get install $t; tests/bench/run.sh installs it)"
done

bench_ns d
D=$BENCH_NS
bench_ns c
C=$BENCH_NS
bench_link "$D" eth0 "$C" eth0
for ((i = 0; i < CLIENTS; i++)); do
	ip -n "$D" addr add "192.168.7$i.1/24" dev eth0
	ip -n "$C" addr add "192.168.7$i.2/24" dev eth0
done
bench_daemon "$D" --listen "0.0.0.0:$BENCH_PORT" || cant "$BENCH_ERR"
PID=${BENCH_DAEMON_PID[$D]}
TOKEN=${BENCH_TOKEN[$D]}
for ((i = 0; i < CLIENTS; i++)); do
	bench_poll 10 bench_in "$C" curl -sf -o /dev/null "http://192.168.7$i.1:$BENCH_PORT/healthz" ||
		cant "the daemon does not answer on 192.168.7$i.1 from the client namespace"
done
blog "vrouterd pid $PID; $CLIENTS wrk processes x $((CONNS / CLIENTS)) connections, ${DURATION}s"

# RSS twice a second while wrk runs: "<ms since wrk started> <kB>" of PID, the front end
# (the process that serves HTTP and holds the database: the criterion's); the privileged
# child's the same way by a sampler of its own, reported, not judged (README.md, "load").
# The time is the clock's, not a count of samples: on a loaded machine `sleep` stretches,
# and a count would put samples taken after wrk stopped into the last window.
usec() { local t=${EPOCHREALTIME//[.,]/}; echo "$t"; }
rss_sampler() { # PID
	local t
	while :; do
		t=$(usec)
		echo "$(((t - T0) / 1000)) $(bench_vm "$1" VmRSS)"
		sleep 0.5
	done
}
T0=$(usec)
rss_sampler "$PID" >"$BENCH_TMP/rss" &
SAMPLER=$!
BENCH_BG_PIDS+=("$SAMPLER")
PRIV=$(cat /proc/"$PID"/task/*/children 2>/dev/null | awk '{ print $1; exit }')
PRIV_SAMPLER=""
if [[ -n $PRIV ]]; then
	rss_sampler "$PRIV" >"$BENCH_TMP/rss.priv" &
	PRIV_SAMPLER=$!
	BENCH_BG_PIDS+=("$PRIV_SAMPLER")
fi
WRK=()
for ((i = 0; i < CLIENTS; i++)); do
	bench_in "$C" timeout $((DURATION + 60)) wrk -t1 -c $((CONNS / CLIENTS)) -d "${DURATION}s" --timeout 30s \
		-H "Authorization: Bearer $TOKEN" -s "$HERE/load_mix.lua" \
		"http://192.168.7$i.1:$BENCH_PORT" -- "$i" "$LAG" >"$BENCH_TMP/wrk.$i" 2>&1 &
	WRK+=($!)
	BENCH_BG_PIDS+=($!)
done
wrk_rc=0
for p in "${WRK[@]}"; do wait "$p" || wrk_rc=$?; done
kill "$SAMPLER" $PRIV_SAMPLER 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
[[ -z $PRIV_SAMPLER ]] || wait "$PRIV_SAMPLER" 2>/dev/null || true
((wrk_rc == 0)) || cant "wrk failed (exit $wrk_rc): $(cat "$BENCH_TMP"/wrk.* | tail -n 20)"
harness_alive "$PID" || cant "vrouterd died under load: $(tail -n 20 "$(bench_daemon_dir "$D")/vrouterd.log")"

# The wrk processes' LOAD lines, summed.
sum() { grep -h '^LOAD ' "$BENCH_TMP"/wrk.* | sed -n "s/.* $1=\([0-9]*\).*/\1/p" | awk '{ s += $1 } END { print s + 0 }'; }
maxof() { grep -h '^LOAD ' "$BENCH_TMP"/wrk.* | sed -n "s/.* $1=\([0-9]*\).*/\1/p" | sort -n | tail -n1; }
(($(grep -hc '^LOAD ' "$BENCH_TMP"/wrk.* | awk '{ s += $1 } END { print s }') == CLIENTS)) ||
	cant "a wrk process printed no LOAD line: $(cat "$BENCH_TMP"/wrk.*)"
REQ=$(sum requests)
S5=$(sum s5xx)
SOCK=$(sum socket_errors)
CODES=$(grep -h '^LOAD ' "$BENCH_TMP"/wrk.* | sed 's/.* codes=//' | tr ',' '\n' |
	awk -F: '{ n[$1] += $2 } END { for (c in n) print c ":" n[c] }' | sort -n | paste -sd' ')
RPS=$(awk -v r="$REQ" -v d="$DURATION" 'BEGIN { printf "%.0f", r / d }')

# RSS: the mean of the samples taken in the first and in the last WINDOW seconds of wrk's
# DURATION (by their time; samples after it are not counted), and how many each had.
WINDOWS='$1 < w * 1000 { a += $2; na++ } $1 >= (d - w) * 1000 && $1 < d * 1000 { b += $2; nb++ }'
read -r RSS_FIRST RSS_LAST N_FIRST N_LAST < <(awk -v w="$WINDOW" -v d="$DURATION" "$WINDOWS"'
	END { printf "%.0f %.0f %d %d\n", na ? a / na : 0, nb ? b / nb : 0, na, nb }' "$BENCH_TMP/rss")
((N_FIRST >= WINDOW && N_LAST >= WINDOW)) ||
	cant "too few RSS samples in a window (first $N_FIRST, last $N_LAST; wanted $WINDOW each): $(tr '\n' ' ' <"$BENCH_TMP/rss" | head -c 400)"
GROWTH=$(awk -v a="$RSS_FIRST" -v b="$RSS_LAST" 'BEGIN { printf "%.2f", (b - a) * 100 / a }')
PRIV_LINE="no privileged child found"
if [[ -s $BENCH_TMP/rss.priv ]]; then
	PRIV_LINE=$(awk -v w="$WINDOW" -v d="$DURATION" -v p="$PRIV" "$WINDOWS"'
		END { printf "privileged child (pid %s): first %ss mean %.0f kB, last %ss mean %.0f kB", p, w, na ? a / na : 0, w, nb ? b / nb : 0 }' "$BENCH_TMP/rss.priv")
fi

# Kernel against database, once the daemon has applied the last write.
bench_poll 60 bench_converged "$D" || cant "vrouterd did not converge within 60 s of the load's end: $(bench_api "$D" GET /v1/status | head -c 600)"
bench_api "$D" GET /v1/config >"$BENCH_TMP/config.json"
[[ $(bench_status) == 200 ]] || cant "GET /v1/config answered $(bench_status)"
jq -r '.routes[] | "\(.type // "unicast") \(.destination | sub("/32$"; "")) \(.metric // 0)"' \
	"$BENCH_TMP/config.json" | sort >"$BENCH_TMP/db.routes"
ip -n "$D" -j route show table all proto 245 |
	jq -r '.[] | "\(.type // "unicast") \(.dst) \(.metric // 0)"' | sort >"$BENCH_TMP/kernel.routes"
NDB=$(wc -l <"$BENCH_TMP/db.routes")
NK=$(wc -l <"$BENCH_TMP/kernel.routes")
DIFF=$(diff "$BENCH_TMP/db.routes" "$BENCH_TMP/kernel.routes" | grep -c '^[<>]' || true)

failed=0
verdict() { # OK? TEXT
	if [[ $1 == 1 ]]; then
		bench_result "  load  ok    $2"
	else
		bench_result "  load  FAIL  $2"
		failed=1
	fi
}
bench_result "load  $REQ requests in ${DURATION}s ($RPS req/s), wrk x$CLIENTS, $CONNS connections; latency p50 max $(maxof p50_us) us, p99 max $(maxof p99_us) us, max $(maxof max_us) us (per wrk process)"
bench_result "  load  responses by status: $CODES"
verdict "$((S5 == 0))" "5xx answers: $S5"
verdict "$((SOCK == 0))" "socket errors: $SOCK (connect $(sum connect), read $(sum read), write $(sum write), timeout $(sum timeout))"
verdict "$(awk -v g="$GROWTH" -v m="$GROWTH_MAX" 'BEGIN { print (g < m) ? 1 : 0 }')" \
	"RSS growth $GROWTH % (< $GROWTH_MAX %): first ${WINDOW}s mean $RSS_FIRST kB ($N_FIRST samples), last ${WINDOW}s mean $RSS_LAST kB ($N_LAST samples)"
bench_result "  load  info  $PRIV_LINE (not in the RSS criterion)"
code_n() { tr ' ' '\n' <<<"$CODES" | awk -F: -v c="$1" '$1 == c { print $2 }' | grep . || echo 0; }
verdict "$(($(code_n 401) == 0 && $(code_n 201) > 0 && $(code_n 204) > 0))" \
	"the load did its work: $(code_n 201) routes created (201), $(code_n 204) deleted (204), $(code_n 401) refused for the token (401)"
verdict "$((DIFF == 0 && NDB > 0))" "kernel equals database: $NDB routes in the database, $NK in the kernel, $DIFF lines differ"
if ((DIFF)); then
	diff "$BENCH_TMP/db.routes" "$BENCH_TMP/kernel.routes" | grep '^[<>]' | head -n 10 | sed 's/^/    /' >&2
fi
bench_stop "$D"
exit "$failed"
