# shellcheck shell=bash
# shellcheck disable=SC2034 # globals (E2E_NS, E2E_STATUS, E2E_BODY...) are for the tests
# Helpers for the end-to-end tests: network namespaces, vrouterd daemons inside them,
# API calls with curl, checks. Source it from a test, then:
#
#   e2e_init seed_lab                 # unique names, temp dir, cleanup on exit
#   e2e_ns net01; N1=$E2E_NS          # namespace <prefix>-net01, lo up
#   e2e_link "$N1" eth0 "$N2" eth0    # veth pair between two namespaces
#   e2e_daemon "$N1"                  # vrouterd in N1 on 127.0.0.1:8080, waits for /healthz
#                                     # (--listen ADDR:8080: the API is reached on ADDR)
#   e2e_step "(b) a route"            # names the step in messages
#   body=$(e2e_api "$N1" POST /v1/routes '{"destination":...}')
#   e2e_expect_status 201             # status of the last call (also in $E2E_STATUS)
#   check "ping works" e2e_in "$N1" ping -c1 -W2 192.168.100.2
#   e2e_done                          # prints "N passed, M failed", exit status
#
# Every namespace and process a test makes is removed when it exits, also on failure
# or interruption; on failure the daemons' logs (and sanitizer reports) are printed.
# Nothing is done in the root network namespace: links are created inside the test's
# namespaces, traffic only goes to loopback and the test's own addresses.
#
# Tests use `set -Eeuo pipefail`: a command that fails outside a check aborts the
# test with a message naming the command and line. Checks do not abort: they count.
#
# Namespaces, processes and daemons are tests/harness.sh's mechanism (the benchmarks
# share it); its records are the E2E_* variables below.

# shellcheck source=tests/harness.sh
. "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

E2E_NAME=""
E2E_PREFIX=""
E2E_TMP=""
E2E_NS=""
E2E_BG=""
E2E_STEP="setup"
E2E_PASSED=0
E2E_FAILED=0
E2E_STATUS=""
E2E_BODY=""
E2E_NAMESPACES=()
E2E_BG_PIDS=()
E2E_DONE=0
E2E_WATCHDOG=""
declare -A E2E_DAEMON_PID=()
declare -A E2E_DAEMON_ARGS=()
declare -A E2E_TOKEN=()
declare -A E2E_HOST=() # per namespace: where its daemon's API is reached (e2e_daemon)
declare -A E2E_SCHEME=() # per namespace: https when its daemon has --tls-cert (e2e_daemon)
# A command e2e_daemon runs vrouterd under, inside the namespace; it must exec its
# arguments (test_service.sh: the systemd unit's user, capabilities and read-only /proc/sys).
E2E_DAEMON_WRAP=()

E2E_PORT=8080
E2E_HEALTH_TIMEOUT=${E2E_HEALTH_TIMEOUT:-15}
E2E_STOP_TIMEOUT=${E2E_STOP_TIMEOUT:-10}

# ---------------------------------------------------------------- messages, checks

e2e_log() { printf '%s\n' "$*"; }

e2e_step() {
	E2E_STEP=$1
	e2e_log "--- [$E2E_NAME] $E2E_STEP"
}

pass() {
	E2E_PASSED=$((E2E_PASSED + 1))
	e2e_log "ok   - $1"
}

# fail MESSAGE [DETAIL...]
fail() {
	E2E_FAILED=$((E2E_FAILED + 1))
	e2e_log "FAIL - [$E2E_NAME] step '$E2E_STEP': $1"
	shift
	local d
	for d in "$@"; do
		[[ -n $d ]] && printf '%s\n' "$d" | head -c 4000 | sed 's/^/       | /'
	done
	return 0
}

# e2e_fatal MESSAGE: stop the test now (cleanup still runs).
e2e_fatal() {
	fail "$@"
	e2e_log "FATAL - [$E2E_NAME] cannot go on after step '$E2E_STEP'"
	exit 1
}

# check MESSAGE CMD...: passes when CMD exits 0; its output is shown on failure.
check() {
	local msg=$1 out rc=0
	shift
	out=$("$@" 2>&1) || rc=$?
	if ((rc == 0)); then
		pass "$msg"
	else
		fail "$msg" "command: $* (exit $rc)" "$out"
	fi
}

# check_not MESSAGE CMD...: passes when CMD fails.
check_not() {
	local msg=$1 out rc=0
	shift
	out=$("$@" 2>&1) || rc=$?
	if ((rc != 0)); then
		pass "$msg"
	else
		fail "$msg" "command unexpectedly succeeded: $*" "$out"
	fi
}

# check_eq MESSAGE EXPECTED ACTUAL
check_eq() {
	if [[ $2 == "$3" ]]; then
		pass "$1"
	else
		fail "$1" "expected: $2" "got:      $3"
	fi
}

# check_match MESSAGE ERE TEXT: TEXT matches the extended regular expression.
check_match() {
	if grep -Eq -- "$2" <<<"$3"; then
		pass "$1"
	else
		fail "$1" "expected to match: $2" "got: $3"
	fi
}

# check_no_match MESSAGE ERE TEXT
check_no_match() {
	if grep -Eq -- "$2" <<<"$3"; then
		fail "$1" "expected not to match: $2" "got: $3"
	else
		pass "$1"
	fi
}

# e2e_poll SECONDS CMD...: run CMD every 0.1 s until it succeeds (0) or time is up (1).
e2e_poll() { harness_poll "$1" 0.1 "${@:2}"; }

# e2e_addrs_settled NS [SECONDS]: wait (default 10 s) until no IPv6 address in NS is
# still tentative. Duplicate address detection ends a second or so after a link comes
# up, and its address events make a browser running in NS drop the requests it has in
# flight (net::ERR_NETWORK_CHANGED): a page that loads then stays blank. 1 on timeout.
e2e_addrs_settled() { e2e_poll "${2:-10}" e2e__no_tentative "$1"; }
e2e__no_tentative() { [[ -z $(ip -n "$1" -6 addr show tentative) ]]; }

# check_poll MESSAGE SECONDS CMD...: CMD succeeds within SECONDS.
check_poll() {
	local msg=$1 secs=$2 out rc=0
	shift 2
	if e2e_poll "$secs" "$@"; then
		pass "$msg"
	else
		out=$("$@" 2>&1) || rc=$?
		fail "$msg (waited ${secs}s)" "command: $* (exit $rc)" "$out"
	fi
}

# ---------------------------------------------------------------- set-up, clean-up

e2e__on_err() {
	local rc=$1 line=$2 cmd=$3
	e2e_log "ERROR - [$E2E_NAME] step '$E2E_STEP': command failed (exit $rc) at line $line: $cmd"
}

# e2e_init NAME: unique names, temp dir, cleanup trap, root and tool checks.
e2e_init() {
	E2E_NAME=$1
	harness_start E2E e2e "$E2E_NAME" e2e_cleanup e2e__on_err

	if [[ $(id -u) -ne 0 ]]; then
		e2e_fatal "must run as root: end-to-end tests create network namespaces (run: sudo deploy/setup.sh test)"
	fi
	local t missing=()
	for t in ip curl jq ping nc nft timeout setsid; do
		command -v "$t" >/dev/null 2>&1 || missing+=("$t")
	done
	((${#missing[@]} == 0)) || e2e_fatal "missing tools: ${missing[*]} (deploy/setup.sh installs them)"

	local here
	here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	E2E_SRC=${VR_SRC:-$(cd "$here/../.." && pwd)}
	VROUTERD=${VROUTERD:-$E2E_SRC/build/vrouterd}
	[[ -x $VROUTERD ]] || e2e_fatal "vrouterd not found at $VROUTERD: build first (cmake -S . -B build && cmake --build build)"

	harness_tmpdir
	e2e_log "--- [$E2E_NAME] prefix $E2E_PREFIX, vrouterd $VROUTERD, temp $E2E_TMP"
	e2e__watchdog
}

# A test that runs past E2E_TIMEOUT seconds is stopped with SIGTERM, so its cleanup
# still runs: a runner's own timeout (ctest's) kills with SIGKILL, which would leave
# the namespaces behind. Keep E2E_TIMEOUT below the runner's (tests/CMakeLists.txt).
e2e__watchdog() {
	local secs=${E2E_TIMEOUT:-0} me=$$
	((secs > 0)) || return 0
	(
		trap - EXIT ERR INT TERM
		sleep "$secs" </dev/null >/dev/null 2>&1
		echo "TIMEOUT - [$E2E_NAME] still running after ${secs}s: stopping it (cleanup follows)"
		kill -TERM "$me" 2>/dev/null
	) &
	E2E_WATCHDOG=$!
	disown "$E2E_WATCHDOG" # no "Terminated" notice when cleanup stops it
}

# e2e_ns NAME: create namespace <prefix>-NAME with lo up; its name is left in $E2E_NS.
e2e_ns() {
	harness_ns "$1"
	# ICMP errors (unreachable, prohibited) answer every probe: the kernel's per-peer
	# rate limit would otherwise swallow some when a test probes the same host often.
	ip netns exec "$E2E_NS" sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
}

# e2e_link NS1 IF1 NS2 IF2: veth pair, IF1 in NS1 and IF2 in NS2 (NS1 may equal NS2),
# created directly inside the namespaces, both ends up.
e2e_link() { harness_link "$@"; }

# e2e_in NS CMD...: run CMD inside NS.
e2e_in() { harness_in "$@"; }

# e2e_lab: the seed lab (lab_topology, from deploy/lab-topology.sh, which the test
# sources) in three new namespaces: router $R, net01 $N1, net02 $N2.
# shellcheck disable=SC2034 # R, N1, N2 are the caller's
e2e_lab() {
	e2e_ns router
	R=$E2E_NS
	e2e_ns net01
	N1=$E2E_NS
	e2e_ns net02
	N2=$E2E_NS
	lab_topology "$R" "$N1" "$N2"
}

# e2e_lab2: the two-router lab (lab2_topology, deploy/lab-topology.sh) in four new
# namespaces: net01 $N1 -- r1 $R1 -- transit -- r2 $R2 -- net02 $N2.
# shellcheck disable=SC2034 # R1, R2, N1, N2 are the caller's
e2e_lab2() {
	e2e_ns r1
	R1=$E2E_NS
	e2e_ns r2
	R2=$E2E_NS
	e2e_ns net01
	N1=$E2E_NS
	e2e_ns net02
	N2=$E2E_NS
	lab2_topology "$R1" "$R2" "$N1" "$N2"
}

# e2e_bg NS CMD...: run CMD inside NS in the background (killed at cleanup); pid in $E2E_BG.
e2e_bg() { harness_bg "$@"; }

e2e__alive() { harness_alive "$1"; } # running and not a zombie

e2e__daemon_dir() { echo "$E2E_TMP/$1"; }

# e2e_daemon NS [extra vrouterd args...]: start vrouterd in NS (db and token in the temp
# dir, kept across restarts) and wait for /healthz.
e2e_daemon() {
	local ns=$1
	shift
	local dir
	dir=$(e2e__daemon_dir "$ns")
	mkdir -p "$dir"
	[[ -z ${E2E_DAEMON_PID[$ns]:-} ]] || e2e_fatal "e2e_daemon: a daemon already runs in $ns"
	# printf with no arguments would still print '' and become one empty argument.
	if (($# > 0)); then E2E_DAEMON_ARGS[$ns]=$(printf '%q ' "$@"); else E2E_DAEMON_ARGS[$ns]=''; fi
	# The API is reached on the address of a --listen given (a wildcard: on loopback).
	# With --tls-cert it speaks HTTPS: e2e_curl's callers give the CA (--cacert).
	local host=127.0.0.1 prev="" a scheme=http
	for a in "$@"; do
		[[ $prev != --listen ]] || host=${a%:*}
		[[ $a != --tls-cert ]] || scheme=https
		prev=$a
	done
	case $host in 0.0.0.0) host=127.0.0.1 ;; "[::]") host="[::1]" ;; esac
	E2E_HOST[$ns]=$host
	E2E_SCHEME[$ns]=$scheme
	echo "=== $(date +%T.%N) start: vrouterd $*" >>"$dir/vrouterd.log"
	harness_daemon "$ns" "$dir" --log-level "${E2E_LOG_LEVEL:-debug}" "$@"
	harness_daemon_ready "$ns" "$dir" "$host" "$E2E_HEALTH_TIMEOUT" "$scheme" ||
		e2e_fatal "$HARNESS_ERR" "$(tail -n 40 "$dir/vrouterd.log")"
}

# e2e_daemon_fails NS [extra vrouterd args...]: start vrouterd in NS as e2e_daemon does
# (the same database, token file and port unless the args override them: the last --db
# wins), expecting it to refuse to start. It gets E2E_FAIL_TIMEOUT seconds (default 5) to
# exit; one still running then is stopped. Its exit status goes to E2E_EXIT (124 when it
# had to be stopped), its output to E2E_OUT and to its log.
e2e_daemon_fails() {
	local ns=$1 dir rc=0
	shift
	dir=$(e2e__daemon_dir "$ns")
	harness_state_dir "$dir"
	echo "=== $(date +%T.%N) start, expected to refuse: vrouterd $*" >>"$dir/vrouterd.log"
	timeout -k 5 "${E2E_FAIL_TIMEOUT:-5}" ip netns exec "$ns" "$VROUTERD" \
		--listen "127.0.0.1:$E2E_PORT" --db "$dir/vrouter.db" --token-file "$dir/token" \
		--log-level "${E2E_LOG_LEVEL:-debug}" "$@" </dev/null >"$E2E_TMP/refused.out" 2>&1 || rc=$?
	cat "$E2E_TMP/refused.out" >>"$dir/vrouterd.log"
	echo "=== $(date +%T.%N) exited with status $rc" >>"$dir/vrouterd.log"
	E2E_EXIT=$rc
	E2E_OUT=$(cat "$E2E_TMP/refused.out")
}

# e2e_token NS: the bearer token of the daemon in NS.
e2e_token() { echo "${E2E_TOKEN[$1]}"; }

# e2e_token_file NS: where that daemon keeps it.
e2e_token_file() { echo "$(e2e__daemon_dir "$1")/token"; }

# e2e_stop NS: SIGTERM, wait (bounded), SIGKILL if needed. A daemon that does not exit
# with status 0 on SIGTERM is a failure (it must shut down cleanly; leak reports of the
# sanitizer build also end here).
e2e_stop() {
	local ns=$1 rc
	[[ -n ${E2E_DAEMON_PID[$ns]:-} ]] || return 0
	harness_stop "$ns" "$E2E_STOP_TIMEOUT" ||
		fail "vrouterd in $ns did not exit within ${E2E_STOP_TIMEOUT}s of SIGTERM; killed"
	rc=$HARNESS_EXIT
	echo "=== $(date +%T.%N) stopped (SIGTERM), exit status $rc" >>"$(e2e__daemon_dir "$ns")/vrouterd.log"
	if ((rc != 0)); then
		fail "vrouterd in $ns exited with status $rc on SIGTERM (expected 0)" \
			"$(tail -n 40 "$(e2e__daemon_dir "$ns")/vrouterd.log")"
	fi
}

# e2e_kill9 NS: SIGKILL, as a crash would.
e2e_kill9() {
	local ns=$1 pid
	pid=${E2E_DAEMON_PID[$ns]:-}
	[[ -n $pid ]] || return 0
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	unset "E2E_DAEMON_PID[$ns]"
	echo "=== $(date +%T.%N) killed (SIGKILL)" >>"$(e2e__daemon_dir "$ns")/vrouterd.log"
}

# e2e_restart NS [args...]: stop, start again with the same extra args (or new ones).
e2e_restart() {
	local ns=$1
	shift
	local -a args=()
	if (($# > 0)); then
		args=("$@")
	else
		eval "args=(${E2E_DAEMON_ARGS[$ns]:-})"
	fi
	e2e_stop "$ns"
	e2e_daemon "$ns" "${args[@]}"
}

# Sanitizer and crash reports in a daemon log.
e2e__log_problems() {
	grep -nE 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:|SUMMARY: (Address|Leak|Undefined)|Segmentation fault|stack-buffer|heap-use-after-free' "$1" 2>/dev/null | head -n 20 || true
}

# e2e_stop_all: stop every daemon cleanly and look for sanitizer reports in the logs.
e2e_stop_all() {
	local ns log problems
	for ns in "${!E2E_DAEMON_PID[@]}"; do
		e2e_stop "$ns"
	done
	for ns in "${E2E_NAMESPACES[@]}"; do
		log="$(e2e__daemon_dir "$ns")/vrouterd.log"
		[[ -f $log ]] || continue
		problems=$(e2e__log_problems "$log")
		if [[ -n $problems ]]; then
			fail "sanitizer or crash report in the log of vrouterd in $ns" "$problems"
		fi
	done
}

e2e_print_logs() {
	local ns log
	for ns in "${E2E_NAMESPACES[@]}"; do
		log="$(e2e__daemon_dir "$ns")/vrouterd.log"
		[[ -f $log ]] || continue
		e2e_log "===== vrouterd log, namespace $ns (last 150 lines of $(wc -l <"$log")) ====="
		tail -n 150 "$log"
		if [[ -n $(e2e__log_problems "$log") ]]; then
			e2e_log "===== sanitizer / crash report in $ns ====="
			sed -n '/ERROR: [A-Za-z]*Sanitizer\|runtime error:/,$p' "$log" | head -n 120
		fi
	done
}

# e2e_done: stop the daemons (checking their exit and logs), print "N passed, M failed"
# and exit 0 only if nothing failed.
e2e_done() {
	e2e_step "shutdown"
	e2e_stop_all
	E2E_DONE=1
	if ((E2E_FAILED == 0 && E2E_PASSED == 0)); then
		fail "no checks ran"
	fi
	if ((E2E_FAILED > 0)); then
		e2e_print_logs
	fi
	e2e_log "$E2E_PASSED passed, $E2E_FAILED failed"
	((E2E_FAILED == 0)) && exit 0
	exit 1
}

# e2e_cleanup (EXIT trap): kill what the test started, delete its namespaces and temp
# dir. After an abort, print the logs too.
e2e_cleanup() {
	local rc=$? p
	set +eE
	trap - ERR INT TERM
	if ((E2E_DONE == 0)); then
		e2e_step "cleanup after abort (exit status $rc)"
		e2e_stop_all
		e2e_print_logs
		e2e_log "$E2E_PASSED passed, $((E2E_FAILED > 0 ? E2E_FAILED : 1)) failed (aborted)"
		((rc != 0)) || rc=1
	fi
	if [[ -n ${E2E_WATCHDOG:-} ]]; then
		# The watchdog first (it would report its sleep's death), then its sleep.
		p=$(pgrep -P "$E2E_WATCHDOG" sleep)
		kill "$E2E_WATCHDOG" 2>/dev/null
		[[ -n $p ]] && kill $p 2>/dev/null
	fi
	harness_teardown e2e_log
	exit "$rc"
}

# ---------------------------------------------------------------- HTTP

# e2e_curl NS METHOD PATH [curl args...]: raw request (no token added). Body to stdout
# and to $E2E_TMP/body, response headers to $E2E_TMP/headers, status to E2E_STATUS and
# $E2E_TMP/status (so e2e_expect_status works after `body=$(e2e_curl ...)` too).
e2e_curl() {
	local ns=$1 method=$2 path=$3 code rc=0
	shift 3
	: >"$E2E_TMP/body"
	: >"$E2E_TMP/headers"
	code=$(ip netns exec "$ns" curl -sS -X "$method" -o "$E2E_TMP/body" -D "$E2E_TMP/headers" \
		-w '%{http_code}' --max-time 60 "$@" "${E2E_SCHEME[$ns]:-http}://${E2E_HOST[$ns]:-127.0.0.1}:$E2E_PORT$path" 2>"$E2E_TMP/curl.err") || rc=$?
	if [[ -z $code || $code == 000 ]]; then
		code="000"
		echo "curl exit $rc: $(cat "$E2E_TMP/curl.err")" >>"$E2E_TMP/body"
	fi
	E2E_STATUS=$code
	echo "$code" >"$E2E_TMP/status"
	E2E_BODY=$(cat "$E2E_TMP/body")
	cat "$E2E_TMP/body"
}

# e2e_api NS METHOD PATH [JSON] [curl args...]: request with the daemon's token and
# Content-Type: application/json. JSON "" means no body. JSON "@FILE" sends FILE.
e2e_api() {
	local ns=$1 method=$2 path=$3 json=${4-}
	if (($# >= 4)); then shift 4; else shift 3; fi
	local -a args=(-H "Authorization: Bearer ${E2E_TOKEN[$ns]:-}" -H "Content-Type: application/json")
	if [[ $json == @* ]]; then
		args+=(--data-binary "$json")
	elif [[ -n $json ]]; then
		printf '%s' "$json" >"$E2E_TMP/request"
		args+=(--data-binary "@$E2E_TMP/request")
	fi
	e2e_curl "$ns" "$method" "$path" "${args[@]}" "$@"
}

# e2e_last_status: status of the last request (also after a subshell).
e2e_last_status() { cat "$E2E_TMP/status" 2>/dev/null; }

# e2e_last_body: body of the last request.
e2e_last_body() { cat "$E2E_TMP/body" 2>/dev/null; }

# e2e_header NAME: value of response header NAME of the last request (last one wins).
e2e_header() {
	local name
	name=$(tr '[:upper:]' '[:lower:]' <<<"$1")
	tr -d '\r' <"$E2E_TMP/headers" | awk -v n="$name" '
		{ i = index($0, ":"); if (i > 0 && tolower(substr($0, 1, i - 1)) == n) { v = substr($0, i + 1); sub(/^[ \t]+/, "", v); r = v } }
		END { if (r != "") print r }'
}

# e2e_jq FILTER: jq -r FILTER on the last body.
e2e_jq() { jq -r "$1" "$E2E_TMP/body" 2>/dev/null; }

# e2e_expect_status CODE [MESSAGE]: the last request answered CODE.
e2e_expect_status() {
	local want=$1 msg=${2:-} got
	got=$(e2e_last_status)
	E2E_STATUS=$got
	[[ -n $msg ]] || msg="HTTP $want"
	if [[ $got == "$want" ]]; then
		pass "$msg (HTTP $got)"
	else
		fail "$msg: expected HTTP $want, got $got" "body: $(e2e_last_body)"
	fi
}
