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
#
# Namespaces, processes and daemons are tests/harness.sh's mechanism (the end-to-end
# tests share it); its records are the BENCH_* variables below.

# shellcheck source=tests/harness.sh
. "$(dirname "${BASH_SOURCE[0]}")/../harness.sh"

BENCH_NAME=""
BENCH_PREFIX=""
BENCH_TMP=""
BENCH_NS=""
BENCH_BG=""
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
	harness_start BENCH bench "$BENCH_NAME" bench_cleanup bench__on_err
	[[ $(id -u) -eq 0 ]] || bench_fail "must run as root (network namespaces): sudo tests/bench/run.sh"
	BENCH_SRC=${BENCH_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
	VROUTERD=${VROUTERD:-$BENCH_SRC/build/vrouterd}
	BENCH_BIN=${BENCH_BIN:-$BENCH_SRC/build/bench}
	harness_tmpdir
	blog "prefix $BENCH_PREFIX, temp $BENCH_TMP"
}

# bench_ns NAME: namespace <prefix>-NAME with lo up; its name in $BENCH_NS.
bench_ns() { harness_ns "$1"; }

# bench_link NS1 IF1 NS2 IF2: veth pair created inside the namespaces, both ends up.
bench_link() { harness_link "$@"; }

# bench_in NS CMD...
bench_in() { harness_in "$@"; }

# bench_bg NS CMD...: in the background, killed at cleanup; pid in $BENCH_BG.
bench_bg() { harness_bg "$@"; }

# bench_poll SECONDS CMD...: run CMD every 0.05 s until it succeeds (0) or time is up (1).
bench_poll() { harness_poll "$1" 0.05 "${@:2}"; }

bench_daemon_dir() { echo "$BENCH_TMP/daemon-$1"; }

# bench_daemon NS [vrouterd args...]: start vrouterd in NS (database and token in the
# temp dir, kept across restarts), wait for /healthz (at most 60 s). Returns 1 with the
# reason in $BENCH_ERR when it does not come up.
bench_daemon() {
	local ns=$1 dir
	shift
	dir=$(bench_daemon_dir "$ns")
	mkdir -p "$dir"
	BENCH_ERR=""
	if [[ -n ${BENCH_DAEMON_PID[$ns]:-} ]]; then
		BENCH_ERR="a vrouterd already runs in $ns"
		return 1
	fi
	echo "=== $(date +%T.%N) start" >>"$dir/vrouterd.log"
	harness_daemon "$ns" "$dir" --log-level "${BENCH_LOG_LEVEL:-info}" "$@"
	if ! harness_daemon_ready "$ns" "$dir" 127.0.0.1 60; then
		BENCH_ERR="$HARNESS_ERR: $(tail -n 5 "$dir/vrouterd.log" | tr '\n' ' ')"
		return 1
	fi
}

# bench_stop NS: SIGTERM, wait (at most 20 s), then SIGKILL.
bench_stop() {
	[[ -n ${BENCH_DAEMON_PID[$1]:-} ]] || return 0
	harness_stop "$1" 20 || blog "warning: vrouterd in $1 did not exit within 20 s of SIGTERM; killed"
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

# meets_at_most VALUE GOAL: 0 when VALUE <= GOAL (for goals that are a ceiling).
meets_at_most() { awk -v v="$1" -v g="$2" 'BEGIN { exit !(v != "n/a" && v + 0 <= g + 0) }'; }

# verdict_at_most VALUE GOAL: "goal met", or "GOAL MISSED by N %".
verdict_at_most() {
	if meets_at_most "$1" "$2"; then
		echo "goal met"
	else
		awk -v v="$1" -v g="$2" 'BEGIN { if (v == "n/a") print "GOAL MISSED"; else printf "GOAL MISSED by %.0f %%\n", (v / g - 1) * 100 }'
	fi
}

# now_ns: monotonic-enough wall clock in nanoseconds. ms_since T0: milliseconds since T0 (ns).
now_ns() { date +%s%N; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# Seconds as milliseconds, with DIGITS decimals (default 0).
s_to_ms() { awk -v s="$1" -v d="${2:-0}" 'BEGIN { printf "%.*f\n", d, s * 1000 }'; }

# ---- route benchmarks (routes-apply, post-latency, memory, startup) ----
#
# The routers of these benchmarks: a namespace holding both ends of a veth pair (e0, e1,
# both up), 172.31.255.1/24 on e0, so that routes via 172.31.255.2 resolve. The routes:
# distinct, non-overlapping IPv4 prefixes in an Internet-like mix of lengths (bench_gen_routes),
# all via 172.31.255.2, never traffic.
BENCH_RT_ADDR=172.31.255.1/24
BENCH_RT_VIA=172.31.255.2

# bench_router_ns NAME: namespace <prefix>-NAME as above; its name in $BENCH_NS.
bench_router_ns() {
	bench_ns "$1"
	ip -n "$BENCH_NS" link add e0 type veth peer name e1
	ip -n "$BENCH_NS" link set e0 up
	ip -n "$BENCH_NS" link set e1 up
	ip -n "$BENCH_NS" addr add "$BENCH_RT_ADDR" dev e0
}

# bench_ns_del NS: stop NS's vrouterd (if any), kill what is left in it, delete it and the
# daemon's temp dir. For benchmarks that make a namespace per run: the next run does not
# share the kernel with hundreds of thousands of routes of the last one.
bench_ns_del() {
	local ns=$1
	bench_stop "$ns"
	harness_ns_del "$ns" || blog "warning: could not delete namespace $ns"
	[[ -n ${BENCH_KEEP:-} ]] || rm -rf -- "$(bench_daemon_dir "$ns")"
}

# bench_gen_routes N FORMAT: N routes on stdout, as `ip -batch` lines (FORMAT ip: "route
# add D via GW proto 245", vrouter's own protocol number) or as a /v1/config document
# (FORMAT json: {"routes": [...]}); the same destinations in the same order either way.
# Up to 1,000,000, deterministic, none overlapping another or the labs' networks (10/8,
# 100/8, 127/8, 169/8, 172/8, 192/8 are left out): in every 1,000, 601 /24, 100 /23,
# 130 /22, 50 /21, 60 /20, 25 /19, 15 /18, 10 /17, 9 /16 (an Internet table's mix),
# and from 100,000 on also ten /8-/15.
# FORMAT post N0: N objects for POST /v1/routes, one a line, with destinations of their
# own (10.250+.x.y/32, starting at index N0), outside what the other two formats make.
bench_gen_routes() {
	awk -v n="$1" -v fmt="$2" -v n0="${3:-0}" -v via="$BENCH_RT_VIA" '
	function dotted(a, len) {
		return sprintf("%d.%d.%d.%d/%d", int(a / 16777216), int(a / 65536) % 256,
			int(a / 256) % 256, a % 256, len)
	}
	function emit(i, d) {
		if (fmt == "ip")
			printf "route add %s via %s proto 245\n", d, via
		else
			printf "%s{\"destination\":\"%s\",\"via\":\"%s\"}", (i ? ",\n" : ""), d, via
	}
	BEGIN {
		if (n > 1000000) { print "at most 1000000 routes" > "/dev/stderr"; exit 1 }
		if (fmt == "post") {
			for (i = 0; i < n; i++) {
				k = n0 + i
				printf "{\"destination\":\"10.%d.%d.%d/32\",\"via\":\"%s\"}\n", 250 + int(k / 65536), int(k / 256) % 256, k % 256, via
			}
			exit 0
		}
		# One cycle: 1000 prefixes, lengths largest first so each is aligned, laid out
		# in 2^21 addresses (2,054,400 used).
		split("9 10 15 25 60 50 130 100 601", cnt, " ")
		k = 0; off = 0
		for (l = 16; l <= 24; l++)
			for (c = 0; c < cnt[l - 15]; c++) {
				clen[k] = l; coff[k] = off; off += 2 ^ (32 - l); k++
			}
		# The /8s used, in order: none that the labs or special ranges use.
		split("10 100 127 169 172 192", skip, " ")
		for (x in skip) skipped[skip[x]] = 1
		for (o = 11; o < 224; o++) if (!(o in skipped)) eight[ne++] = o
		if (fmt == "json") printf "{\"routes\": [\n"
		i = 0
		# From 100,000 on, a few short prefixes, in the first two of those /8s.
		if (n >= 100000) {
			split("8 10 12 12 14 14 15 15 15 15", big, " ")
			a = eight[0] * 16777216
			for (b = 1; b <= 10; b++) {
				if (b == 2) a = eight[1] * 16777216
				emit(i++, dotted(a, big[b])); a += 2 ^ (32 - big[b])
			}
		}
		# Then cycles from the third /8 on (8 cycles a /8); in each, the order is a
		# fixed permutation (7919 is prime to 1000), so any count has the mix.
		for (j = 0; i < n; j++) {
			cy = int(j / 1000); k = (j % 1000) * 7919 % 1000
			a = eight[2 + int(cy / 8)] * 16777216 + (cy % 8) * 2097152 + coff[k]
			emit(i++, dotted(a, clen[k]))
		}
		if (fmt == "json") printf "\n]}\n"
	}'
}

# bench_kernel_routes NS: routes of protocol 245 (vrouter's) in NS's main table.
bench_kernel_routes() { ip -n "$1" route show proto 245 | wc -l; }

# bench_put_config NS FILE [QUERY]: PUT /v1/config with the document in FILE. Sets
# PUT_CODE (HTTP status) and PUT_S (curl's time_total, seconds: request sent to response
# received); the answer in $BENCH_TMP/put.json.
bench_put_config() {
	local ns=$1 file=$2 out
	out=$(ip netns exec "$ns" curl -sS -X PUT --max-time 300 -o "$BENCH_TMP/put.json" \
		-w '%{http_code} %{time_total}' -H "Authorization: Bearer ${BENCH_TOKEN[$ns]:-}" \
		-H "Content-Type: application/json" --data-binary "@$file" \
		"http://127.0.0.1:$BENCH_PORT/v1/config${3:+?$3}" 2>"$BENCH_TMP/put.err") || out="000 0"
	PUT_CODE=${out% *}
	PUT_S=${out#* }
}

# bench_apply_config NS FILE WHAT: PUT FILE as /v1/config (bench_put_config) and wait up to
# 60 s for GET /v1/status to say converged; fails the benchmark otherwise (WHAT names the
# document in messages). MS: request to response, ms. An answer sent before convergence
# counts in NOT_CONVERGED (the caller reports it).
bench_apply_config() {
	local ns=$1 file=$2 what=$3 conv
	bench_put_config "$ns" "$file"
	[[ $PUT_CODE == 200 ]] || bench_fail "PUT /v1/config of $what answered $PUT_CODE: $(head -c 300 "$BENCH_TMP/put.json") $(cat "$BENCH_TMP/put.err")"
	MS=$(s_to_ms "$PUT_S")
	conv=$(jq -r '.apply.converged' "$BENCH_TMP/put.json")
	if [[ $conv != true ]]; then
		blog "warning: the answer to PUT /v1/config says converged: $conv ($(jq -c .apply "$BENCH_TMP/put.json"))"
		NOT_CONVERGED=$((${NOT_CONVERGED:-0} + 1))
	fi
	bench_poll 60 bench_converged "$ns" || bench_fail "vrouterd did not converge within 60 s of its answer: $(bench_api "$ns" GET /v1/status | head -c 300)"
}

# bench_ip_batch FILE N NAME: the anchor of the route benchmarks: `ip -batch FILE` in a new
# router namespace (bench_router_ns NAME), which must leave N vrouter routes; ms in MS.
bench_ip_batch() {
	local file=$1 n=$2 ns t0 got
	bench_router_ns "$3"
	ns=$BENCH_NS
	t0=$(now_ns)
	ip -n "$ns" -batch "$file" || bench_fail "ip -batch of $n routes failed"
	MS=$(ms_since "$t0")
	got=$(bench_kernel_routes "$ns")
	((got == n)) || bench_fail "ip -batch: $got routes in the kernel, expected $n"
	bench_ns_del "$ns"
}

# bench_converged NS: 0 when GET /v1/status says converged and applied == desired.
bench_converged() {
	local st
	st=$(bench_api "$1" GET /v1/status) || return 1
	jq -e '.converged == true and .applied_revision == .desired_revision and .desired_revision > 1' <<<"$st" >/dev/null 2>&1
}

# bench_last_put_log NS: the daemon's last "PUT /v1/config: ..." log line, from "parsed".
bench_last_put_log() {
	grep -F 'PUT /v1/config: ' "$(bench_daemon_dir "$1")/vrouterd.log" | tail -n 1 | sed 's/.*routes; //'
}

# bench_vm PID FIELD: a /proc/PID/status field (VmHWM, VmRSS) in kB.
bench_vm() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

bench_cleanup() {
	local rc=$? p
	set +eE
	trap - ERR INT TERM
	harness_signal TERM # a chance to exit cleanly; the teardown kills what is left
	sleep 0.3
	if ((rc != 0)) && [[ -n $BENCH_TMP ]]; then
		for p in "$BENCH_TMP"/daemon-*/vrouterd.log; do
			[[ -f $p ]] || continue
			blog "last lines of $p:"
			tail -n 30 "$p" >&2
		done
	fi
	harness_teardown blog
	exit "$rc"
}

# ---- security-group benchmarks (sg-apply, memory) ----

# bench_gen_sg_rules N: N ingress rules, one "cidr port" a line, as sg-connrate makes
# them: N-1 from distinct /32s in 10.0.0.0/8 on varied ports, then 192.168.150.0/24 on
# 12345.
bench_gen_sg_rules() {
	awk -v n="$1" 'BEGIN {
		for (i = 1; i < n; i++)
			printf "10.%d.%d.%d/32 %d\n", int(i / 65536), int(i / 256) % 256, i % 256, 1024 + (i * 7) % 60000
		printf "192.168.150.0/24 12345\n"
	}'
}

# bench_sg_json_parts SG TARGET RULES_FILE: the "security_groups" and
# "security_group_rules" members of a /v1/config document (no braces around them): group
# SG targeting TARGET with the rules of RULES_FILE, all ingress tcp.
bench_sg_json_parts() {
	printf '"security_groups": [{"id": "%s", "name": "bench", "targets": ["%s"]}],\n"security_group_rules": [\n' "$1" "$2"
	awk -v sg="$1" '{ printf "%s{\"security_group_id\":\"%s\",\"direction\":\"ingress\",\"protocol\":\"tcp\",\"port_from\":%d,\"port_to\":%d,\"cidr\":\"%s\"}", (NR > 1 ? ",\n" : ""), sg, $2, $2, $1 }' "$3"
	printf '\n]'
}
