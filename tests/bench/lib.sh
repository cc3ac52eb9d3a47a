# shellcheck shell=bash
# shellcheck disable=SC2034 # globals are for the benchmark scripts
# Helpers for the benchmarks under tests/bench/. A benchmark script sources this file,
# calls bench_init NAME, and then:
#
#   bench_ns client; C=$BENCH_NS          # namespace <prefix>-client, lo up
#   bench_link "$C" eth0 "$R" eth1         # veth pair between two namespaces
#   bench_bg "$S" connrate server ...      # background process, killed at cleanup
#   bench_daemon "$R" [args...]            # vrouterd in R on 127.0.0.1:8080
#   bench_api "$R" POST /v1/routes '{...}' # curl with the daemon's token
#   bench_result "line"                    # one line of the benchmark's report
#   bench_fail "why"                       # the benchmark could not run (exit 1)
#
# Every namespace and process made here is removed when the script exits, also on
# failure or interruption. Nothing is done in the root network namespace: links are
# created inside the benchmark's own namespaces, traffic goes only to loopback and to
# addresses inside them.
#
# Environment (set by run.sh): BENCH_SRC (checkout), VROUTERD, BENCH_BIN (connrate,
# mhd_min), BENCH_OUT (file the result lines are appended to), BENCH_QUICK (1 = short).

BENCH_NAME=""
BENCH_PREFIX=""
BENCH_TMP=""
BENCH_NAMESPACES=()
BENCH_BG_PIDS=()
declare -A BENCH_DAEMON_PID=()
declare -A BENCH_TOKEN=()
BENCH_PORT=8080

blog() { printf '[%s %s] %s\n' "$(date +%T)" "$BENCH_NAME" "$*" >&2; }

# bench_result LINE: a line of the report (stdout and $BENCH_OUT).
bench_result() {
	printf '%s\n' "$*"
	[[ -z ${BENCH_OUT:-} ]] || printf '%s\n' "$*" >>"$BENCH_OUT"
}

# bench_fail WHY: the benchmark cannot run; report it and exit 1 (cleanup runs).
bench_fail() {
	bench_result "$BENCH_NAME  COULD NOT RUN: $*"
	exit 1
}

bench__on_err() {
	blog "command failed (exit $1) at line $2: $3"
}

bench_init() {
	BENCH_NAME=$1
	local rnd
	rnd=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
	# Interface-name-like and short: namespaces are listed by `ip netns`.
	BENCH_PREFIX="vrbench-${BENCH_NAME}-$$-${rnd}"
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'bench__on_err $? $LINENO "$BASH_COMMAND"' ERR
	[[ $(id -u) -eq 0 ]] || bench_fail "must run as root (network namespaces): sudo tests/bench/run.sh"
	BENCH_SRC=${BENCH_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
	VROUTERD=${VROUTERD:-$BENCH_SRC/build/vrouterd}
	BENCH_BIN=${BENCH_BIN:-$BENCH_SRC/build/bench}
	BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/${BENCH_PREFIX}.XXXXXX")
	chmod 700 "$BENCH_TMP"
	blog "prefix $BENCH_PREFIX, temp $BENCH_TMP"
}

# bench_ns NAME: namespace <prefix>-NAME with lo up; its name in $BENCH_NS.
bench_ns() {
	local ns="${BENCH_PREFIX}-$1"
	BENCH_NAMESPACES+=("$ns") # recorded first: removed even if the rest fails
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	BENCH_NS=$ns
}

# bench_link NS1 IF1 NS2 IF2: veth pair created inside the namespaces, both ends up.
bench_link() {
	ip -n "$1" link add "$2" type veth peer name "$4" netns "$3"
	ip -n "$1" link set "$2" up
	ip -n "$3" link set "$4" up
}

# bench_in NS CMD...
bench_in() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

# bench_bg NS CMD...: in the background, killed at cleanup; pid in $BENCH_BG.
bench_bg() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@" </dev/null &
	BENCH_BG=$!
	disown "$BENCH_BG"
	BENCH_BG_PIDS+=("$BENCH_BG")
}

# bench_poll SECONDS CMD...: run CMD every 0.05 s until it succeeds (0) or time is up (1).
bench_poll() {
	local secs=$1 deadline
	shift
	deadline=$(($(date +%s%N) + secs * 1000000000))
	while :; do
		"$@" >/dev/null 2>&1 && return 0
		(($(date +%s%N) < deadline)) || return 1
		sleep 0.05
	done
}

bench__alive() {
	local st
	[[ -r /proc/$1/stat ]] || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[[ -n $st && $st != Z ]]
}

bench_daemon_dir() { echo "$BENCH_TMP/daemon-$1"; }

# bench_daemon NS [vrouterd args...]: start vrouterd in NS (database and token in the
# temp dir, kept across restarts), wait for /healthz (at most 60 s). Returns 1 with the
# reason in $BENCH_ERR when it does not come up.
bench_daemon() {
	local ns=$1 dir pid deadline
	shift
	dir=$(bench_daemon_dir "$ns")
	mkdir -p "$dir"
	BENCH_ERR=""
	if [[ -n ${BENCH_DAEMON_PID[$ns]:-} ]]; then
		BENCH_ERR="a vrouterd already runs in $ns"
		return 1
	fi
	echo "=== $(date +%T.%N) start" >>"$dir/vrouterd.log"
	ip netns exec "$ns" "$VROUTERD" --listen "127.0.0.1:$BENCH_PORT" --db "$dir/vrouter.db" \
		--token-file "$dir/token" --log-level "${BENCH_LOG_LEVEL:-info}" "$@" \
		</dev/null >>"$dir/vrouterd.log" 2>&1 &
	pid=$!
	BENCH_DAEMON_PID[$ns]=$pid
	deadline=$((SECONDS + 60))
	while :; do
		if ! bench__alive "$pid"; then
			unset "BENCH_DAEMON_PID[$ns]"
			BENCH_ERR="vrouterd in $ns exited at start: $(tail -n 5 "$dir/vrouterd.log" | tr '\n' ' ')"
			return 1
		fi
		if ip netns exec "$ns" curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$BENCH_PORT/healthz"; then
			break
		fi
		if ((SECONDS >= deadline)); then
			BENCH_ERR="vrouterd in $ns did not answer /healthz within 60 s"
			return 1
		fi
		sleep 0.05
	done
	BENCH_TOKEN[$ns]=$(tr -d ' \t\r\n' <"$dir/token")
}

# bench_stop NS: SIGTERM, wait (at most 20 s), then SIGKILL.
bench_stop() {
	local ns=$1 pid i
	pid=${BENCH_DAEMON_PID[$ns]:-}
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 200; i++)); do
		bench__alive "$pid" || break
		sleep 0.1
	done
	if bench__alive "$pid"; then
		blog "warning: vrouterd in $ns did not exit within 20 s of SIGTERM; killed"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	unset "BENCH_DAEMON_PID[$ns]"
}

# bench_api NS METHOD PATH [JSON]: request with the daemon's token; body to stdout,
# HTTP status in $BENCH_TMP/status.
bench_api() {
	local ns=$1 method=$2 path=$3 json=${4-} code
	local -a args=(-H "Authorization: Bearer ${BENCH_TOKEN[$ns]:-}")
	if [[ -n $json ]]; then
		args+=(-H "Content-Type: application/json" --data-binary "$json")
	fi
	code=$(ip netns exec "$ns" curl -sS -X "$method" -o "$BENCH_TMP/body" -w '%{http_code}' \
		--max-time 120 "${args[@]}" "http://127.0.0.1:$BENCH_PORT$path") || code=000
	echo "$code" >"$BENCH_TMP/status"
	cat "$BENCH_TMP/body"
}
bench_status() { cat "$BENCH_TMP/status"; }

# median N...: the median of numbers (the lower middle one for an even count).
median() {
	printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)] }'
}

# ratio A B [DIGITS]: A / B.
ratio() { awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN { if (b == 0) print "n/a"; else printf "%.*f\n", d, a / b }'; }

# paired_ratio "A1 A2..." "B1 B2...": the median of A_i / B_i (runs that alternated, so a
# drift of the machine hits both sides of each pair alike).
paired_ratio() {
	local -a a b r=()
	local i
	read -r -a a <<<"$1"
	read -r -a b <<<"$2"
	for i in "${!a[@]}"; do
		[[ -n ${b[$i]:-} ]] && r+=("$(ratio "${a[$i]}" "${b[$i]}" 4)")
	done
	((${#r[@]})) || { echo n/a && return; }
	awk -v x="$(median "${r[@]}")" 'BEGIN { printf "%.2f\n", x }'
}

# meets VALUE GOAL: 0 when VALUE >= GOAL.
meets() { awk -v v="$1" -v g="$2" 'BEGIN { exit !(v != "n/a" && v + 0 >= g + 0) }'; }

bench_cleanup() {
	local rc=$? ns p
	set +eE
	trap - ERR INT TERM
	for ns in "${!BENCH_DAEMON_PID[@]}"; do
		kill -TERM "${BENCH_DAEMON_PID[$ns]}" 2>/dev/null
	done
	for p in "${BENCH_BG_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	sleep 0.3
	for ns in "${!BENCH_DAEMON_PID[@]}"; do
		kill -KILL "${BENCH_DAEMON_PID[$ns]}" 2>/dev/null
	done
	for p in "${BENCH_BG_PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	for ns in "${BENCH_NAMESPACES[@]}"; do
		[[ -e /run/netns/$ns ]] || continue
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null || blog "warning: could not delete namespace $ns"
	done
	wait 2>/dev/null
	if ((rc != 0)) && [[ -n $BENCH_TMP ]]; then
		for p in "$BENCH_TMP"/daemon-*/vrouterd.log; do
			[[ -f $p ]] || continue
			blog "last lines of $p:"
			tail -n 30 "$p" >&2
		done
	fi
	if [[ -n $BENCH_TMP && -d $BENCH_TMP ]]; then
		if [[ -n ${BENCH_KEEP:-} ]]; then
			blog "kept $BENCH_TMP (BENCH_KEEP set)"
		else
			rm -rf -- "$BENCH_TMP"
		fi
	fi
	exit "$rc"
}
