#!/usr/bin/env bash
# startup: how long a vrouterd takes from exec to converged when it starts on a database
# of 100,000 routes in an empty namespace, against `ip -batch` of the same routes
# (tests/bench/README.md). Run through tests/bench/run.sh.
#
# Setup: a throwaway namespace, a vrouterd with an empty database, PUT /v1/config of
# BENCH_START_ROUTES (100,000) routes, converged, stopped (SIGTERM); its database is kept.
# Then runs, each in a fresh namespace (a veth pair inside it, 172.31.255.1/24 on e0, the
# routes via 172.31.255.2) deleted after it, alternating:
#   anchor  `ip -n NS -batch FILE` of the same routes, timed (the whole ip process)
#   ours    a copy of that database; vrouterd exec'd on it, timed until GET /v1/status
#           says converged with applied_revision == desired_revision (polled every
#           10 ms; connection refused until it listens), then checked: all the routes
#           of protocol 245 in the kernel.
# Goal: ours / anchor <= 0.5 (issue 15 goal 2).
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/bench/lib.sh
source "$HERE/lib.sh"
bench_init startup

N=${BENCH_START_ROUTES:-100000}
if [[ ${BENCH_QUICK:-0} == 1 ]]; then
	ROUNDS=${BENCH_ROUNDS:-1}
else
	ROUNDS=${BENCH_ROUNDS:-3}
fi
GOAL=0.5 # issue 15 goal 2: converge after a restart <= 0.5x ip -batch
[[ -x $VROUTERD ]] || bench_fail "vrouterd not found at $VROUTERD"
for t in curl jq ip; do
	command -v "$t" >/dev/null || bench_fail "$t is not installed (run.sh installs it)"
done
((N >= 1 && N <= 1000000)) || bench_fail "BENCH_START_ROUTES must be 1..1000000"

bench_gen_routes "$N" ip >"$BENCH_TMP/routes.ip"
bench_gen_routes "$N" json >"$BENCH_TMP/routes.json"

# The database: filled by a daemon of its own, which is then stopped.
bench_router_ns seed
SEED=$BENCH_NS
bench_daemon "$SEED" || bench_fail "$BENCH_ERR"
bench_put_config "$SEED" "$BENCH_TMP/routes.json"
[[ $PUT_CODE == 200 ]] || bench_fail "PUT /v1/config of $N routes answered $PUT_CODE: $(head -c 300 "$BENCH_TMP/put.json")"
bench_poll 60 bench_converged "$SEED" || bench_fail "the seed daemon did not converge within 60 s"
DESIRED=$(bench_api "$SEED" GET /v1/status | jq -r .desired_revision)
t0=$(now_ns)
bench_stop "$SEED"
STOP_MS=$(ms_since "$t0")
mkdir -p "$BENCH_TMP/seed"
cp -p "$(bench_daemon_dir "$SEED")"/vrouter.db* "$(bench_daemon_dir "$SEED")/token" "$BENCH_TMP/seed/"
bench_ns_del "$SEED"
blog "seed database: $N routes, revision $DESIRED, $(du -sh "$BENCH_TMP/seed" | cut -f1); the seed daemon took $STOP_MS ms to exit after SIGTERM"
rm -f "$BENCH_TMP/routes.json"

run_anchor() { bench_ip_batch "$BENCH_TMP/routes.ip" "$N" "ip-$1"; }

# wait_converged NS PID: poll GET /v1/status from inside NS, one curl every ~10 ms (no
# other process per poll: the poll must not slow down what it measures), until it says
# converged with applied_revision == desired_revision == DESIRED; at most 120 s. Prints
# the time (date +%s%N) of the answer that said so, then that answer. Connection refused
# (not listening yet) fails fast and is polled again.
wait_converged() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	ip netns exec "$1" bash -c '
		pid=$1 url=$2 tok=$3 want=$4 end=$((SECONDS + 120))
		while ((SECONDS < end)); do
			kill -0 "$pid" 2>/dev/null || { echo "vrouterd exited" >&2; exit 2; }
			if s=$(curl -sf --max-time 2 -H "Authorization: Bearer $tok" "$url" 2>/dev/null) &&
				[[ $s =~ \"converged\":\ *true ]] &&
				[[ $s =~ \"desired_revision\":\ *([0-9]+) ]] && d=${BASH_REMATCH[1]} &&
				[[ $s =~ \"applied_revision\":\ *([0-9]+) ]] && a=${BASH_REMATCH[1]} &&
				((a == d && d == want)); then
				date +%s%N
				printf "%s\n" "$s"
				exit 0
			fi
			sleep 0.01
		done
		exit 1' wait_converged "$2" "http://127.0.0.1:$BENCH_PORT/v1/status" "$TOKEN" "$DESIRED"
}

kernel_has_all() { (($(bench_kernel_routes "$1") == N)); }

run_ours() {
	local ns dir pid t0 got
	bench_router_ns "vr-$1"
	ns=$BENCH_NS
	dir=$(bench_daemon_dir "$ns")
	harness_state_dir "$dir" # the front end (user vrouter) keeps the database
	cp -p "$BENCH_TMP/seed"/* "$dir/"
	sync
	echo "=== $(date +%T.%N) start" >>"$dir/vrouterd.log"
	t0=$(now_ns)
	ip netns exec "$ns" "$VROUTERD" --listen "127.0.0.1:$BENCH_PORT" --db "$dir/vrouter.db" \
		--token-file "$dir/token" --log-level "${BENCH_LOG_LEVEL:-info}" \
		</dev/null >>"$dir/vrouterd.log" 2>&1 &
	pid=$!
	# shellcheck disable=SC2034 # lib.sh's: bench_stop and the cleanup stop it
	BENCH_DAEMON_PID[$ns]=$pid
	# shellcheck disable=SC2034 # lib.sh's: bench_api
	BENCH_TOKEN[$ns]=$TOKEN
	if ! wait_converged "$ns" "$pid" >"$BENCH_TMP/conv.out" 2>"$BENCH_TMP/conv.err"; then
		bench_fail "vrouterd did not converge within 120 s of its start ($(cat "$BENCH_TMP/conv.err")): $(tail -n 5 "$dir/vrouterd.log" | tr '\n' ' ')"
	fi
	MS=$((($(head -n 1 "$BENCH_TMP/conv.out") - t0) / 1000000))
	# The start-up apply, from that same answer (a later pass would overwrite last_apply).
	APPLY=$(sed -n 2p "$BENCH_TMP/conv.out" | jq -r '.last_apply.duration_ms // 0' | awk '{ printf "%.0f", $1 }')
	got=$(bench_kernel_routes "$ns")
	if ((got != N)); then
		# Converged by its own account, yet routes are missing: wait for them (and say so).
		blog "WARNING: vrouterd says converged after $MS ms but $got of $N routes are in the kernel"
		bench_poll 30 kernel_has_all "$ns" || bench_fail "$got routes in the kernel, expected $N"
		MS=$(ms_since "$t0")
		EARLY=$((EARLY + 1))
	fi
	blog "ours: converged $MS ms after exec; start-up apply $APPLY ms (last_apply.duration_ms)"
	bench_ns_del "$ns"
}

TOKEN=$(tr -d ' \t\r\n' <"$BENCH_TMP/seed/token")
A=() O=() APPLIES=()
EARLY=0
for ((round = 1; round <= ROUNDS; round++)); do
	run_anchor "$round"
	A+=("$MS")
	blog "ip -batch: $MS ms"
	sleep 0.5 # the deleted namespace's routes are freed by the kernel in the background
	run_ours "$round"
	O+=("$MS")
	APPLIES+=("$APPLY")
	sleep 0.5
done
OURS=$(median "${O[@]}")
ANCHOR=$(median "${A[@]}")
R=$(paired_ratio "${O[*]}" "${A[*]}")
bench_result "startup  $N routes: ours $OURS ms (exec to converged)  ip -batch $ANCHOR ms  ratio $R (goal <= $GOAL, $(verdict_at_most "$R" "$GOAL"))"
bench_result "  startup  medians of $ROUNDS alternating runs, ratio the median of the per-round ratios; ms per run: ours [${O[*]}] ip -batch [${A[*]}]; start-up apply (GET /v1/status last_apply.duration_ms) [${APPLIES[*]}] ms; database $(du -sh "$BENCH_TMP/seed" | cut -f1); the daemon that filled it took $STOP_MS ms to exit on SIGTERM$( ((EARLY == 0)) || echo "; WARNING: in $EARLY runs the daemon said converged before all its routes were in the kernel")"
