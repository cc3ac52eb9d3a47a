#!/usr/bin/env bash
# post-rate: creates per second with 32 clients each POSTing routes at once, every one
# durable (synchronous=FULL) and applied in the kernel before its answer (issue 15 goal 3:
# >= 10,000/s). Run through run.sh.
#
# One namespace, a vrouterd in it. wrk -t2 -c32 for DURATION seconds (bounded in count
# too), each request a new blackhole route (post_routes.lua). Afterwards the kernel must
# hold one route per created object. Two anchors measured in the same run:
#   sqlite-1tx  SQLite's own rate of one-row transactions (WAL, synchronous=FULL, the
#               daemon's settings) in a file on the same file system, by the sqlite3 CLI
#   ip-route    `ip route add blackhole ...` processes, 32 at a time (xargs -P 32), in a
#               namespace of their own: what a script doing it by hand gets
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/bench/lib.sh
source "$HERE/lib.sh"
bench_init post-rate

if [[ ${BENCH_QUICK:-0} == 1 ]]; then
	DURATION=${BENCH_DURATION:-2}
	ANCHOR_N=${BENCH_ANCHOR_N:-500}
else
	DURATION=${BENCH_DURATION:-5}
	ANCHOR_N=${BENCH_ANCHOR_N:-2000}
fi
CONNS=32
THREADS=2
POST_MAX=${BENCH_POST_MAX:-60000} # creates at most, all threads together
GOAL=10000
[[ -x $VROUTERD ]] || bench_fail "vrouterd not found at $VROUTERD"
for t in wrk curl jq sqlite3 xargs; do
	command -v "$t" >/dev/null || bench_fail "$t is not installed (run.sh installs it)"
done

bench_ns post
NS=$BENCH_NS
bench_daemon "$NS" || bench_fail "$BENCH_ERR"
TOKEN=${BENCH_TOKEN[$NS]}
DIR=$(bench_daemon_dir "$NS")
BEFORE=$(ip -n "$NS" route show table all proto 245 | wc -l)

# Ours.
out=$(bench_in "$NS" timeout $((DURATION + 60)) wrk -t "$THREADS" -c "$CONNS" -d "${DURATION}s" \
	-H "Authorization: Bearer $TOKEN" -s "$HERE/post_routes.lua" \
	"http://127.0.0.1:$BENCH_PORT/v1/routes" -- 1 $(((POST_MAX + THREADS - 1) / THREADS)) 2>&1) ||
	bench_fail "wrk failed: $out"
line=$(grep '^BENCH ' <<<"$out") || bench_fail "wrk printed no summary: $out"
blog "POST /v1/routes: $line"
grep -q ' errors=0' <<<"$line" || bench_fail "wrk saw errors: $line"
N=$(sed -n 's/.*BENCH requests=\([0-9]*\).*/\1/p' <<<"$line")
OURS=$(sed -n 's/.* rps=\([0-9]*\).*/\1/p' <<<"$line")
P50=$(sed -n 's/.* p50_us=\([0-9]*\).*/\1/p' <<<"$line")
P99=$(sed -n 's/.* p99_us=\([0-9]*\).*/\1/p' <<<"$line")
# Every answer came after its apply: the kernel holds them all now, without waiting.
KERNEL=$(($(ip -n "$NS" route show table all proto 245 | wc -l) - BEFORE))
((KERNEL >= N)) || bench_fail "$N creates answered but only $KERNEL routes in the kernel"
bench_stop "$NS"

# Anchor 1: SQLite's one-row transactions on the same file system, as the daemon sets it.
db=$DIR/anchor.db
{
	echo "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
	echo "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);"
	for ((i = 0; i < ANCHOR_N; i++)); do
		echo "BEGIN IMMEDIATE; INSERT INTO t (v) VALUES ('route $i'); COMMIT;"
	done
} >"$BENCH_TMP/anchor.sql"
t0=$(date +%s%N)
sqlite3 "$db" <"$BENCH_TMP/anchor.sql" >/dev/null
t1=$(date +%s%N)
SQLITE=$(awk -v n="$ANCHOR_N" -v ns=$((t1 - t0)) 'BEGIN { printf "%.0f", n / (ns / 1e9) }')

# Anchor 2: ip route add processes, 32 at a time, in a namespace of their own.
bench_ns iproute
INS=$BENCH_NS
awk -v n="$ANCHOR_N" 'BEGIN { for (i = 0; i < n; i++) printf "10.%d.%d.%d/32\n", 100 + int(i / 65536), int(i / 256) % 256, i % 256 }' >"$BENCH_TMP/dsts"
t0=$(date +%s%N)
xargs -P "$CONNS" -I{} ip -n "$INS" route add blackhole {} proto 245 <"$BENCH_TMP/dsts"
t1=$(date +%s%N)
[[ $(ip -n "$INS" route show proto 245 | wc -l) == "$ANCHOR_N" ]] || bench_fail "ip route add left the wrong number of routes"
IPR=$(awk -v n="$ANCHOR_N" -v ns=$((t1 - t0)) 'BEGIN { printf "%.0f", n / (ns / 1e9) }')

verdict="goal met"
meets "$OURS" "$GOAL" || verdict="GOAL MISSED"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
bench_result "post-rate  ours $OURS creates/s (32 clients)  sqlite-1tx $SQLITE/s ratio $(ratio "$OURS" "$SQLITE")  ip-route $IPR/s ratio $(ratio "$OURS" "$IPR")  (goal >= $GOAL/s, $verdict)"
bench_result "  post-rate  $N creates in ${DURATION}s, median latency $(awk -v u="$P50" 'BEGIN { printf "%.2f", u / 1000 }') ms, p99 $(awk -v u="$P99" 'BEGIN { printf "%.2f", u / 1000 }') ms, all in the kernel at the end; anchors: $ANCHOR_N rows/processes each; database on $(df --output=fstype "$DIR" | tail -n1 | tr -d ' ')"
