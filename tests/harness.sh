# shellcheck shell=bash
# The mechanism under both test harnesses, tests/e2e/lib.sh and tests/bench/lib.sh:
# per-run names and a temp dir, network namespaces and veth pairs, processes inside
# them, vrouterd started and stopped, everything removed at the end, also on failure or
# interruption. Nothing here touches the root network namespace: links are created
# inside the run's own namespaces.
#
# Its records live in the caller's variables, named by the prefix REC given to
# harness_start (E2E for the tests, BENCH for the benchmarks); the caller declares them
# and its scripts read them:
#
#   <REC>_PREFIX      what every name of the run starts with: vr<kind>-<name>-<pid>-<random>
#   <REC>_TMP         the run's temp dir, only root's
#   <REC>_PORT        the port vrouterd listens on (set by the caller)
#   <REC>_NAMESPACES  every namespace made (array); <REC>_NS the last one
#   <REC>_BG_PIDS     every background process started (array); <REC>_BG the last one
#   <REC>_DAEMON_PID  per namespace, its vrouterd's pid; <REC>_TOKEN its bearer token
#   <REC>_KEEP        when set (by the user), the temp dir is kept at the end
#
# Other results come back in HARNESS_* variables.

# shellcheck disable=SC2034 # HARNESS_* results are for the callers
# The records are reached through namerefs (local -n), which look like string assignments
# to the linter, and arrays of them are keyed by namespace name, not by number:
# shellcheck disable=SC2178,SC2004

# harness_start REC KIND NAME CLEANUP ON_ERR: records in REC_*, a unique <REC>_PREFIX;
# CLEANUP runs on exit, INT and TERM exit with 130 and 143, a command that fails calls
# ON_ERR STATUS LINE COMMAND.
harness_start() {
	local rnd
	local -n prefix=$1_PREFIX
	HARNESS_REC=$1
	rnd=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
	prefix="vr$2-$3-$$-${rnd}"
	# shellcheck disable=SC2064 # CLEANUP and ON_ERR are expanded now, on purpose
	trap "$4" EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap "$5"' $? $LINENO "$BASH_COMMAND"' ERR
}

# harness_tmpdir: make <REC>_TMP.
harness_tmpdir() {
	local -n tmp=${HARNESS_REC}_TMP prefix=${HARNESS_REC}_PREFIX
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/${prefix}.XXXXXX")
	chmod 700 "$tmp"
}

# harness_ns NAME: namespace <prefix>-NAME with lo up, left in <REC>_NS.
harness_ns() {
	local -n prefix=${HARNESS_REC}_PREFIX all=${HARNESS_REC}_NAMESPACES last=${HARNESS_REC}_NS
	local ns="${prefix}-$1"
	all+=("$ns") # recorded first: removed even if the rest fails
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	last=$ns
}

# harness_link NS1 IF1 NS2 IF2: veth pair, IF1 in NS1 and IF2 in NS2 (NS1 may equal NS2),
# created directly inside the namespaces, both ends up.
harness_link() {
	ip -n "$1" link add "$2" type veth peer name "$4" netns "$3"
	ip -n "$1" link set "$2" up
	ip -n "$3" link set "$4" up
}

# harness_in NS CMD...: run CMD inside NS.
harness_in() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

# harness_bg NS CMD...: run CMD inside NS in the background (killed at the end); its pid
# in <REC>_BG.
harness_bg() {
	local ns=$1
	local -n last=${HARNESS_REC}_BG all=${HARNESS_REC}_BG_PIDS
	shift
	ip netns exec "$ns" "$@" </dev/null &
	last=$!
	disown "$last" # no "Killed" job report when it is killed
	all+=("$last")
}

# harness_poll SECONDS INTERVAL CMD...: run CMD every INTERVAL seconds until it succeeds
# (0) or SECONDS have passed (1).
harness_poll() {
	local secs=$1 every=$2 deadline
	shift 2
	deadline=$(($(date +%s%N) + secs * 1000000000))
	while :; do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		(($(date +%s%N) < deadline)) || return 1
		sleep "$every"
	done
}

# harness_alive PID: running and not a zombie.
harness_alive() {
	local st
	[[ -r /proc/$1/stat ]] || return 1
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[[ -n $st && $st != Z ]]
}

# harness_state_dir DIR: DIR exists and, when root owns it, belongs to the user vrouterd's
# front end runs as (vrouter: deploy/setup.sh creates it), which also gets through the temp
# dir (0711) to reach it: vrouterd started as root keeps its database as that user. Without
# the user vrouterd refuses to start and says how to create it.
harness_state_dir() {
	local dir=$1
	local -n tmp=${HARNESS_REC}_TMP
	mkdir -p "$dir"
	id -u vrouter >/dev/null 2>&1 || return 0
	[[ $(stat -c %u "$dir") != 0 ]] || chown vrouter: "$dir"
	[[ -z $tmp ]] || chmod 0711 "$tmp"
}

# harness_daemon NS DIR [vrouterd args...]: start $VROUTERD in the background in NS on
# 127.0.0.1:<REC>_PORT (args may override that), its database and token file in DIR,
# its output appended to DIR/vrouterd.log; its pid in <REC>_DAEMON_PID[NS].
harness_daemon() {
	local ns=$1 dir=$2
	local -n pids=${HARNESS_REC}_DAEMON_PID port=${HARNESS_REC}_PORT
	local -n wrap=${HARNESS_REC}_DAEMON_WRAP # a command vrouterd runs under, if the caller has one
	shift 2
	harness_state_dir "$dir"
	ip netns exec "$ns" ${wrap[@]+"${wrap[@]}"} "$VROUTERD" --listen "127.0.0.1:$port" --db "$dir/vrouter.db" \
		--token-file "$dir/token" "$@" </dev/null >>"$dir/vrouterd.log" 2>&1 &
	pids[$ns]=$!
}

# harness_daemon_ready NS DIR HOST SECONDS [SCHEME]: wait up to SECONDS for the vrouterd
# started in NS with DIR to answer SCHEME://HOST:<REC>_PORT/healthz (SCHEME http unless
# given; https is not verified: up is all this asks, tests check certificates themselves). 0 with its token in
# <REC>_TOKEN[NS]; otherwise 1 with why in HARNESS_ERR. One that exited is no longer
# recorded; one that still runs is, so that the end stops it.
harness_daemon_ready() {
	local ns=$1 dir=$2 host=$3 secs=$4 scheme=${5:-http} pid deadline rc=0
	local -n pids=${HARNESS_REC}_DAEMON_PID port=${HARNESS_REC}_PORT tokens=${HARNESS_REC}_TOKEN
	pid=${pids[$ns]}
	HARNESS_ERR=""
	deadline=$((SECONDS + secs))
	while :; do
		if ! harness_alive "$pid"; then
			wait "$pid" || rc=$?
			unset "pids[$ns]"
			HARNESS_ERR="vrouterd in $ns exited at start (status $rc)"
			return 1
		fi
		if ip netns exec "$ns" curl -ksf -o /dev/null --max-time 1 "$scheme://$host:$port/healthz"; then
			break
		fi
		if ((SECONDS >= deadline)); then
			HARNESS_ERR="vrouterd in $ns did not answer /healthz within ${secs}s"
			return 1
		fi
		sleep 0.1
	done
	if [[ ! -s $dir/token ]]; then
		HARNESS_ERR="vrouterd in $ns did not create its token file $dir/token"
		return 1
	fi
	tokens[$ns]=$(tr -d ' \t\r\n' <"$dir/token")
}

# harness_stop NS SECONDS: SIGTERM to the vrouterd of NS (there must be one), wait up to
# SECONDS for it to exit, SIGKILL if it has not; it is no longer recorded. Its exit
# status in HARNESS_EXIT; 1 when it had to be killed.
harness_stop() {
	local ns=$1 secs=$2 pid i killed=0
	local -n pids=${HARNESS_REC}_DAEMON_PID
	pid=${pids[$ns]}
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < secs * 10; i++)); do
		harness_alive "$pid" || break
		sleep 0.1
	done
	if harness_alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null || true
		killed=1
	fi
	HARNESS_EXIT=0
	wait "$pid" 2>/dev/null || HARNESS_EXIT=$?
	unset "pids[$ns]"
	return "$killed"
}

# harness_signal SIG: send SIG to every vrouterd and background process still recorded.
harness_signal() {
	local -n daemons=${HARNESS_REC}_DAEMON_PID bg=${HARNESS_REC}_BG_PIDS
	local -a pids=("${daemons[@]}" "${bg[@]}")
	((${#pids[@]} == 0)) || kill "-$1" "${pids[@]}" 2>/dev/null || true
}

# harness_ns_del NS: kill whatever still runs in NS and delete it; 1 when it could not be
# deleted. Nothing to do when it is gone already.
harness_ns_del() {
	local p
	[[ -e /run/netns/$1 ]] || return 0
	for p in $(ip netns pids "$1" 2>/dev/null); do
		kill -KILL "$p" 2>/dev/null || true
	done
	ip netns del "$1" 2>/dev/null
}

# harness_teardown LOG: the end of a run. SIGKILL what is still recorded, delete every
# namespace with whatever runs in it, wait for the children, remove the temp dir unless
# <REC>_KEEP is set. LOG (a function taking one message) reports what is left behind.
harness_teardown() {
	local log=$1 ns
	local -n all=${HARNESS_REC}_NAMESPACES tmp=${HARNESS_REC}_TMP keep=${HARNESS_REC}_KEEP
	harness_signal KILL
	for ns in "${all[@]}"; do
		harness_ns_del "$ns" || "$log" "warning: could not delete namespace $ns"
	done
	wait 2>/dev/null
	[[ -n $tmp && -d $tmp ]] || return 0
	if [[ -n ${keep:-} ]]; then
		"$log" "kept $tmp (${HARNESS_REC}_KEEP set)"
	else
		rm -rf -- "$tmp"
	fi
}
