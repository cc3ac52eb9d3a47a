#!/usr/bin/env bash
# memory: the peak resident memory (VmHWM) of a vrouterd holding 100,000 routes and
# 10,000 security-group rules (tests/bench/README.md). Run through tests/bench/run.sh.
#
# One namespace (a veth pair inside it, 172.31.255.1/24, routes via 172.31.255.2); one
# vrouterd with an empty database, started with --resync-interval 5 so that a periodic
# full resync (every 30 s by default) falls inside the measurement. Then, reading
# VmHWM and VmRSS from /proc/PID/status after each step:
#   start     the daemon up, nothing desired
#   load      PUT /v1/config of BENCH_MEM_ROUTES (100,000) routes, one group with
#             BENCH_MEM_RULES (10,000) ingress rules (sg-apply's), converged
#   resync    a periodic full resync over (GET /v1/status applies went up)
#   get       GET /v1/config (the whole document, 100,000 routes); VmHWM is reset through
#             /proc/PID/clear_refs just before, so this step's VmHWM is the peak during
#             the GET (periodic resyncs, every 5 s here, may fall inside it; the peak of
#             the whole life is the largest of the steps')
#   no-op     PUT /v1/config of that same document back (changed: false), converged
# Goal (issue 15 goal 2): VmHWM <= 64 MB over the whole life, <= 512 MB above 100,000
# routes. BENCH_MEM_ROUTES goes up to 1,000,000.
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/bench/lib.sh
source "$HERE/lib.sh"
bench_init memory

NROUTES=${BENCH_MEM_ROUTES:-100000}
NRULES=${BENCH_MEM_RULES:-10000}
# Issue 15 goal 2: <= 64 MB holding 100,000 routes and 10,000 rules, <= 512 MB at 1,000,000.
if ((NROUTES > 100000)); then GOAL_MB=512; else GOAL_MB=64; fi
SG=sg-be7c4a9e10000002
[[ -x $VROUTERD ]] || bench_fail "vrouterd not found at $VROUTERD"
for t in curl jq nft; do
	command -v "$t" >/dev/null || bench_fail "$t is not installed (run.sh installs it)"
done
((NROUTES >= 1 && NROUTES <= 1000000)) || bench_fail "BENCH_MEM_ROUTES must be 1..1000000"
((NRULES >= 2 && NRULES <= 60000)) || bench_fail "BENCH_MEM_RULES must be 2..60000"

bench_gen_sg_rules "$NRULES" >"$BENCH_TMP/rules.txt"
{
	bench_gen_routes "$NROUTES" json | sed '$d' # all but the closing "]}"
	echo "],"
	bench_sg_json_parts "$SG" 192.168.100.2 "$BENCH_TMP/rules.txt"
	echo "}"
} >"$BENCH_TMP/config.json"
jq -e '(.routes | length) and (.security_group_rules | length)' "$BENCH_TMP/config.json" >/dev/null ||
	bench_fail "the generated document is not valid JSON"

bench_router_ns mem
NS=$BENCH_NS
bench_daemon "$NS" --resync-interval 5 || bench_fail "$BENCH_ERR"
PID=${BENCH_DAEMON_PID[$NS]}

mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
STEPS=()
PEAK_KB=0
# sample STEP: VmHWM and VmRSS now.
sample() {
	local hwm rss
	hwm=$(bench_vm "$PID" VmHWM)
	rss=$(bench_vm "$PID" VmRSS)
	[[ -n $hwm && -n $rss ]] || bench_fail "cannot read /proc/$PID/status (vrouterd gone?)"
	HWM_KB=$hwm
	((hwm > PEAK_KB)) && PEAK_KB=$hwm
	STEPS+=("$1 $(mb "$hwm")/$(mb "$rss")")
	blog "$1: VmHWM $(mb "$hwm") MB, VmRSS $(mb "$rss") MB"
}
applies() { bench_api "$NS" GET /v1/status | jq -r '.applies // 0'; }

sample start

bench_put_config "$NS" "$BENCH_TMP/config.json"
[[ $PUT_CODE == 200 ]] || bench_fail "PUT /v1/config answered $PUT_CODE: $(head -c 300 "$BENCH_TMP/put.json") $(cat "$BENCH_TMP/put.err")"
LOAD_MS=$(s_to_ms "$PUT_S")
bench_poll 60 bench_converged "$NS" || bench_fail "vrouterd did not converge within 60 s"
got=$(bench_kernel_routes "$NS")
((got == NROUTES)) || bench_fail "$got routes in the kernel, expected $NROUTES"
elems=$(bench_in "$NS" nft list table inet vrouter | grep -oE '\. (tcp|6) \. [0-9]+' | wc -l || true)
((elems == NRULES)) || bench_fail "table inet vrouter holds $elems rule elements, expected $NRULES"
sleep 1 # the pass that follows a large load (netlink notifications overflow: a resync)
sample load

# A periodic resync: wait for the count of applies to go up (at most 30 s).
a0=$(applies)
deadline=$((SECONDS + 30))
while (($(applies) < a0 + 1)); do
	((SECONDS < deadline)) || bench_fail "no periodic resync within 30 s (applies stayed at $a0)"
	sleep 0.2
done
bench_poll 30 bench_converged "$NS" || bench_fail "vrouterd not converged after its resync"
RESYNC_MS=$(bench_api "$NS" GET /v1/status | jq -r '.last_apply.duration_ms // 0' | awk '{ printf "%.0f", $1 }')
sample resync

echo 5 >"/proc/$PID/clear_refs" || bench_fail "cannot reset the peak memory of $PID"
t0=$(now_ns)
code=$(bench_in "$NS" curl -sS --max-time 120 -o "$BENCH_TMP/got.json" -w '%{http_code}' \
	-H "Authorization: Bearer ${BENCH_TOKEN[$NS]}" "http://127.0.0.1:$BENCH_PORT/v1/config") || code=000
GET_MS=$(ms_since "$t0")
[[ $code == 200 ]] || bench_fail "GET /v1/config answered $code"
n=$(jq '.routes | length' "$BENCH_TMP/got.json")
((n == NROUTES)) || bench_fail "GET /v1/config lists $n routes, expected $NROUTES"
sample get
GET_PEAK_MB=$(mb "$HWM_KB")

bench_put_config "$NS" "$BENCH_TMP/got.json"
[[ $PUT_CODE == 200 ]] || bench_fail "the no-op PUT /v1/config answered $PUT_CODE: $(head -c 300 "$BENCH_TMP/put.json")"
NOOP_MS=$(s_to_ms "$PUT_S")
changed=$(jq -r .changed "$BENCH_TMP/put.json")
[[ $changed == false ]] || blog "warning: PUT /v1/config of GET /v1/config's document answered changed: $changed"
bench_poll 60 bench_converged "$NS" || bench_fail "vrouterd did not converge after the no-op PUT"
sample no-op

PEAK_MB=$(mb "$PEAK_KB")
verdict=$(verdict_at_most "$PEAK_MB" "$GOAL_MB")
bench_result "memory  ours: peak RSS (VmHWM) $PEAK_MB MB holding $NROUTES routes and $NRULES rules  (goal <= $GOAL_MB MB, $verdict)  VmRSS now $(mb "$(bench_vm "$PID" VmRSS)") MB"
bench_result "  memory  VmHWM/VmRSS MB after each step: ${STEPS[*]}; load PUT $LOAD_MS ms ($(wc -c <"$BENCH_TMP/config.json") bytes), periodic resync $RESYNC_MS ms, GET /v1/config $GET_MS ms ($(wc -c <"$BENCH_TMP/got.json") bytes, peak during it $GET_PEAK_MB MB, resyncs included), no-op PUT $NOOP_MS ms (changed: $changed)"
