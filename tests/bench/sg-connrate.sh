#!/usr/bin/env bash
# sg-connrate: new TCP connections per second through a router guarding 192.168.100.2
# with 10,000 ingress rules (tests/bench/README.md). Run through tests/bench/run.sh.
#
#   client ns 192.168.150.2 ---- 192.168.150.3 router ns 192.168.100.3 ---- 192.168.100.2 server ns
#
# One such trio of namespaces per variant, all built up front, so that runs of the
# variants can alternate (round 1: a b c d, round 2: a b c d, ...) and drift of the
# machine hits them alike:
#   nofw    no firewall on the router (the anchor)
#   ct1     a stateful one-rule chain (ct established accept, one accept, drop): the
#           cost of conntrack alone, for reference
#   linear  the same rules as one linear nft chain on the forward hook; the client
#           matches the LAST rule (worst case for a linear chain)
#   vrouter vrouterd in the router namespace, one security group targeting
#           192.168.100.2 with the same rules (the figure under test)
# The server listens on 12345 (allowed) and 12346 (allowed by no rule): every variant
# is checked before it is measured (12345 connects; 12346 is dropped where a guard is).
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/bench/lib.sh
source "$HERE/lib.sh"
bench_init sg-connrate

RULES=${BENCH_SG_RULES:-10000}
if [[ ${BENCH_QUICK:-0} == 1 ]]; then
	DURATION=${BENCH_DURATION:-2}
	ROUNDS=${BENCH_ROUNDS:-1}
	API_RULES=${BENCH_SG_API_RULES:-50}
else
	DURATION=${BENCH_DURATION:-3}
	ROUNDS=${BENCH_ROUNDS:-5}
	API_RULES=${BENCH_SG_API_RULES:-200}
fi
WORKERS=${BENCH_CONN_WORKERS:-8}
SERVER_THREADS=${BENCH_SERVER_THREADS:-4}
SERVER=192.168.100.2
PORT=12345
BLOCKED_PORT=12346
CONNRATE=$BENCH_BIN/connrate
GOAL=0.9
[[ -x $CONNRATE ]] || bench_fail "$CONNRATE missing (run.sh builds it)"
for t in nft sqlite3 curl jq; do
	command -v "$t" >/dev/null || bench_fail "$t is not installed (run.sh installs it)"
done
((RULES >= 2 && RULES <= 60000)) || bench_fail "BENCH_SG_RULES must be 2..60000"

declare -A CLI RTR

# topo V: client, router and server namespaces for variant V, server started.
topo() {
	local v=$1 c r s
	bench_ns "$v-cli"
	c=$BENCH_NS
	bench_ns "$v-rtr"
	r=$BENCH_NS
	bench_ns "$v-srv"
	s=$BENCH_NS
	bench_link "$r" e1 "$c" e0
	bench_link "$r" e2 "$s" e0
	ip -n "$r" addr add 192.168.150.3/24 dev e1
	ip -n "$r" addr add 192.168.100.3/24 dev e2
	ip -n "$c" addr add 192.168.150.2/24 dev e0
	ip -n "$s" addr add "$SERVER/24" dev e0
	# Plumbing of the benchmark inside its own namespaces (not what is measured).
	ip -n "$c" route add default via 192.168.150.3
	ip -n "$s" route add default via 192.168.100.3
	bench_in "$r" sysctl -qw net.ipv4.ip_forward=1
	# The client closes with an RST (SO_LINGER 0): no TIME_WAIT; a wide port range anyway.
	bench_in "$c" sysctl -qw net.ipv4.ip_local_port_range="1024 65000"
	bench_bg "$s" "$CONNRATE" server -p "$PORT" -p "$BLOCKED_PORT" -t "$SERVER_THREADS" -d 1800
	CLI[$v]=$c RTR[$v]=$r
}

probe() { bench_in "${CLI[$1]}" "$CONNRATE" probe -a "$SERVER" -p "$2" -T "${3:-1000}" 2>/dev/null; }

# check_variant V GUARDED(0|1): the allowed port connects; the other one only when
# unguarded. Returns 1 with the reason in $CHECK_ERR.
check_variant() {
	local v=$1 guarded=$2
	CHECK_ERR=""
	if ! bench_poll 10 probe "$v" "$PORT"; then
		CHECK_ERR="$v: no connection to $SERVER:$PORT through the router"
	elif ((guarded)) && probe "$v" "$BLOCKED_PORT" 500; then
		CHECK_ERR="$v: $SERVER:$BLOCKED_PORT connects although no rule allows it: the guard is not in place"
	elif ((!guarded)) && ! probe "$v" "$BLOCKED_PORT"; then
		CHECK_ERR="$v: $SERVER:$BLOCKED_PORT does not connect without a firewall"
	fi
	[[ -z $CHECK_ERR ]]
}

# The rules, one "cidr port" a line: RULES-1 rules from 10.0.0.0/8 (distinct /32s) on
# varied ports, then the client's subnet on PORT, last.
RULES_FILE=$BENCH_TMP/rules.txt
awk -v n="$RULES" -v port="$PORT" 'BEGIN {
	for (i = 1; i < n; i++)
		printf "10.%d.%d.%d/32 %d\n", int(i / 65536), int(i / 256) % 256, i % 256, 1024 + (i * 7) % 60000
	printf "192.168.150.0/24 %d\n", port
}' >"$RULES_FILE"

# ---------------------------------------------------------------- variants
blog "building the namespaces"
topo nofw
topo ct1
topo linear
topo vrouter
VARIANTS=(nofw ct1 linear)

# ct1: stateful, one rule.
cat >"$BENCH_TMP/ct1.nft" <<EOF
table inet vrbench_ct1 {
	chain forward {
		type filter hook forward priority 0; policy accept;
		ct state established,related accept
		ip daddr $SERVER tcp dport $PORT accept
		ip daddr $SERVER drop
	}
}
EOF
bench_in "${RTR[ct1]}" nft -f "$BENCH_TMP/ct1.nft"

# linear: RULES rules, the client's last.
{
	echo "table inet vrbench_linear {"
	echo "	chain forward {"
	echo "		type filter hook forward priority 0; policy accept;"
	echo "		ct state established,related accept"
	awk -v dst="$SERVER" 'NR > 1 { print prev } { prev = "\t\tip daddr " dst " ip saddr " $1 " tcp dport " $2 " accept" }
		END { sub(/ accept$/, " counter accept", prev); print prev }' "$RULES_FILE"
	echo "		ip daddr $SERVER counter drop"
	echo "	}"
	echo "}"
} >"$BENCH_TMP/linear.nft"
t0=$(date +%s%N)
bench_in "${RTR[linear]}" nft -f "$BENCH_TMP/linear.nft" || bench_fail "nft -f of the linear ruleset failed"
LINEAR_APPLY_MS=$((($(date +%s%N) - t0) / 1000000))
nlinear=$(bench_in "${RTR[linear]}" nft -a list chain inet vrbench_linear forward | grep -c ' accept # handle' || true)
blog "linear chain: $nlinear accept rules loaded in $LINEAR_APPLY_MS ms"
((nlinear == RULES + 1)) || bench_fail "linear chain holds $nlinear accept rules, expected $((RULES + 1))"

# vrouter: a group through the API, API_RULES rules through the API (timed), the rest
# written into the database with sqlite3 while the daemon is stopped, then a start.
VR_ERR=""
VR_API_NOTE=""
vrouter_setup() {
	local r=${RTR[vrouter]} dir db sg code api_ms nrules i cidr port rev before desired applied
	dir=$(bench_daemon_dir "$r")
	db=$dir/vrouter.db
	if [[ ! -x $VROUTERD ]]; then
		VR_ERR="vrouterd not found at $VROUTERD"
		return 1
	fi
	if ! bench_daemon "$r"; then
		VR_ERR=$BENCH_ERR
		return 1
	fi
	sg=$(bench_api "$r" POST /v1/security-groups "{\"name\":\"bench\",\"targets\":[\"$SERVER\"]}" | jq -r '.id // empty')
	code=$(bench_status)
	if [[ $code != 201 || -z $sg ]]; then
		VR_ERR="POST /v1/security-groups answered $code: $(head -c 300 "$BENCH_TMP/body")"
		return 1
	fi
	# API_RULES rules through the API, one HTTP request each over one kept-alive connection.
	: >"$BENCH_TMP/api.curl"
	head -n "$API_RULES" "$RULES_FILE" | while read -r cidr port; do
		printf 'url = "http://127.0.0.1:%s/v1/security-group-rules"\n' "$BENCH_PORT"
		printf 'header = "Authorization: Bearer %s"\nheader = "Content-Type: application/json"\n' "${BENCH_TOKEN[$r]}"
		printf 'data = "{\\"security_group_id\\":\\"%s\\",\\"direction\\":\\"ingress\\",\\"protocol\\":\\"tcp\\",\\"port_from\\":%s,\\"port_to\\":%s,\\"cidr\\":\\"%s\\"}"\n' "$sg" "$port" "$port" "$cidr"
		printf 'output = "/dev/null"\nwrite-out = "%%{http_code}\\n"\nnext\n'
	done >"$BENCH_TMP/api.curl"
	t0=$(date +%s%N)
	bench_in "$r" curl -sS --max-time 600 -K "$BENCH_TMP/api.curl" >"$BENCH_TMP/api.codes" 2>"$BENCH_TMP/api.err" || true
	api_ms=$((($(date +%s%N) - t0) / 1000000))
	nrules=$(grep -c '^201$' "$BENCH_TMP/api.codes" || true)
	if ((nrules != API_RULES)); then
		VR_ERR="POST /v1/security-group-rules: $nrules of $API_RULES answered 201 ($(sort "$BENCH_TMP/api.codes" | uniq -c | tr '\n' ' ')$(head -c 200 "$BENCH_TMP/api.err"))"
		return 1
	fi
	VR_API_NOTE="$API_RULES rules through the API in $(awk -v m="$api_ms" 'BEGIN { printf "%.2f", m / 1000 }') s ($(awk -v n="$API_RULES" -v m="$api_ms" 'BEGIN { printf "%.0f", n * 1000 / m }') rules/s, so $RULES would take ~$(awk -v n="$API_RULES" -v m="$api_ms" -v t="$RULES" 'BEGIN { printf "%.0f", m / n * t / 1000 }') s)"
	bench_stop "$r"

	# The rest straight into the database: one transaction, one revision, as one write
	# would. INSERT OR IGNORE skips the rules the API already created (same key).
	{
		echo "PRAGMA foreign_keys = ON;"
		echo "BEGIN IMMEDIATE;"
		echo "UPDATE meta SET value = value + 1 WHERE key = 'revision';"
		echo "CREATE TEMP TABLE r (cidr TEXT, port INTEGER);"
		awk '{ printf "INSERT INTO r VALUES (\x27%s\x27, %d);\n", $1, $2 }' "$RULES_FILE"
		cat <<EOF
INSERT OR IGNORE INTO security_group_rules (id, security_group_id, direction, protocol,
	port_from, port_to, cidr, cidr_key, remote_security_group_id, description,
	created_at, updated_at, rev)
SELECT printf('sgr-b%015x', rowid), '$sg', 'ingress', 'tcp', port, port, cidr, cidr, NULL, '',
	strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
	(SELECT value FROM meta WHERE key = 'revision')
FROM r ORDER BY rowid;
COMMIT;
EOF
	} >"$BENCH_TMP/rules.sql"
	t0=$(date +%s%N)
	if ! sqlite3 "$db" <"$BENCH_TMP/rules.sql" 2>"$BENCH_TMP/sqlite.err"; then
		VR_ERR="sqlite3 could not write the rules: $(head -c 300 "$BENCH_TMP/sqlite.err")"
		return 1
	fi
	SQL_MS=$((($(date +%s%N) - t0) / 1000000))
	nrules=$(sqlite3 "$db" "SELECT count(*) FROM security_group_rules WHERE security_group_id = '$sg'")
	rev=$(sqlite3 "$db" "SELECT value FROM meta WHERE key = 'revision'")
	if ((nrules != RULES)); then
		VR_ERR="the database holds $nrules rules, expected $RULES"
		return 1
	fi
	blog "vrouter: $RULES rules in the database (revision $rev), $API_RULES of them through the API"

	t0=$(date +%s%N)
	if ! bench_daemon "$r"; then
		VR_ERR=$BENCH_ERR
		return 1
	fi
	# Converged: the applied revision caught up with the desired one (at most 120 s).
	before=$SECONDS
	while :; do
		bench_api "$r" GET /v1/status >"$BENCH_TMP/status.json"
		desired=$(jq -r '.desired_revision // empty' "$BENCH_TMP/status.json" 2>/dev/null || true)
		applied=$(jq -r '.applied_revision // empty' "$BENCH_TMP/status.json" 2>/dev/null || true)
		[[ -n $desired && -n $applied && $applied -ge $desired ]] && break
		if ((SECONDS - before > 120)); then
			VR_ERR="vrouterd did not converge within 120 s of its start: $(head -c 300 "$BENCH_TMP/status.json")"
			return 1
		fi
		sleep 0.05
	done
	VR_START_MS=$((($(date +%s%N) - t0) / 1000000))
	VR_APPLY_MS=$(jq -r '.last_apply.duration_ms // "?"' "$BENCH_TMP/status.json" | awk '{ printf "%s", ($1 == "?" ? "?" : sprintf("%.0f", $1)) }')
	VR_APPLY_OUTCOME=$(jq -r '.last_apply.outcome // "?"' "$BENCH_TMP/status.json")
	if ! bench_in "$r" nft list table inet vrouter >"$BENCH_TMP/vrouter.nft" 2>"$BENCH_TMP/nft.err"; then
		VR_ERR="vrouterd converged (revision $applied) but there is no table inet vrouter in the router namespace: security groups are not enforced by this build ($(date -r "$VROUTERD" '+%F %T'))"
		return 1
	fi
	VR_ELEMS=$(grep -oE '\. (tcp|6) \. [0-9]+' "$BENCH_TMP/vrouter.nft" | wc -l || true)
	VR_NFT_RULES=$(grep -cE '(accept|drop)$|jump |goto ' "$BENCH_TMP/vrouter.nft" || true)
	return 0
}
blog "vrouter variant: setting up vrouterd with $RULES rules"
if vrouter_setup; then
	VARIANTS+=(vrouter)
else
	blog "vrouter variant cannot run: $VR_ERR"
fi

# ---------------------------------------------------------------- checks, runs
# Closed connections stay in conntrack for nf_conntrack_tcp_timeout_close (10 s by
# default). At tens of thousands of connections per second that is hundreds of
# thousands of entries in the kernel's one global conntrack hash (shared by all
# namespaces), whose upkeep slows every later run, the anchor's too. The routers'
# namespaces (their own copy of the sysctl; the root namespace's is not touched) keep
# closed entries for CT_CLOSE_TIMEOUT seconds instead, the same for every variant.
CT_CLOSE_TIMEOUT=${BENCH_CT_CLOSE_TIMEOUT:-1}
for v in nofw ct1 linear vrouter; do
	bench_in "${RTR[$v]}" sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_close="$CT_CLOSE_TIMEOUT" 2>/dev/null || true
done
check_variant nofw 0 || bench_fail "$CHECK_ERR"
check_variant ct1 1 || bench_fail "$CHECK_ERR"
check_variant linear 1 || bench_fail "$CHECK_ERR"
if [[ -z $VR_ERR ]] && ! check_variant vrouter 1; then
	VR_ERR=$CHECK_ERR
	VARIANTS=(nofw ct1 linear)
fi
# The linear chain's last rule is the one that matched (its counter moved).
lastrule=$(bench_in "${RTR[linear]}" nft list chain inet vrbench_linear forward | grep -F "saddr 192.168.150.0/24 tcp dport $PORT counter" || true)
[[ $lastrule =~ counter\ packets\ [1-9] ]] ||
	bench_fail "linear: the client's connection did not match the last rule (${lastrule:-no such rule})"

declare -A RUNS
run_once() { # run_once V SECS: conn/s in $RATE
	local v=$1 secs=$2 out
	out=$(bench_in "${CLI[$v]}" "$CONNRATE" client -a "$SERVER" -p "$PORT" -c "$WORKERS" -d "$secs" 2>"$BENCH_TMP/client.err") ||
		bench_fail "$v: connrate client failed: $out $(cat "$BENCH_TMP/client.err")"
	blog "$v: $out"
	if grep -q 'failures=[1-9]' <<<"$out"; then
		blog "$v: warning: $(cat "$BENCH_TMP/client.err")"
	fi
	RATE=$(sed -n 's/.*conn_per_s=\([0-9]*\).*/\1/p' <<<"$out")
	# Closed connections stay in conntrack for 10 s (tcp_timeout_close): a full table
	# would drop new connections and make the figure meaningless. Say so if it got close.
	local count max
	count=$(bench_in "${RTR[$v]}" cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo 0)
	max=$(bench_in "${RTR[$v]}" cat /proc/sys/net/netfilter/nf_conntrack_max 2>/dev/null || echo 0)
	if ((max > 0 && count * 10 > max * 9)); then
		blog "$v: WARNING: conntrack table nearly full ($count of $max entries): shorten BENCH_DURATION"
	fi
}
for v in "${VARIANTS[@]}"; do
	run_once "$v" 1 # warm-up
done
for ((round = 1; round <= ROUNDS; round++)); do
	for v in "${VARIANTS[@]}"; do
		run_once "$v" "$DURATION"
		RUNS[$v]="${RUNS[$v]:-} $RATE"
	done
done
# shellcheck disable=SC2086 # word splitting of the run lists is wanted
{
	NOFW=$(median ${RUNS[nofw]})
	CT1=$(median ${RUNS[ct1]})
	LIN=$(median ${RUNS[linear]})
	[[ -z $VR_ERR ]] && OURS=$(median ${RUNS[vrouter]})
}

runs_of() { echo "${RUNS[$1]:- -}" | sed 's/^ //; s/ /, /g'; }
if [[ -z $VR_ERR ]]; then
	R=$(paired_ratio "${RUNS[vrouter]}" "${RUNS[nofw]}")
	verdict="goal met"
	meets "$R" "$GOAL" || verdict="GOAL MISSED"
	bench_result "sg-connrate  ours $OURS conn/s  no-firewall $NOFW conn/s  ratio $R (goal >= $GOAL, $verdict)  linear-chain $LIN conn/s (ours/linear $(paired_ratio "${RUNS[vrouter]}" "${RUNS[linear]}" | awk '{ printf "%.1f", $1 }')x)"
	bench_result "  sg-connrate  $RULES ingress rules; stateful one-rule chain $CT1 conn/s: one-rule/no-firewall $(paired_ratio "${RUNS[ct1]}" "${RUNS[nofw]}"), ours/one-rule $(paired_ratio "${RUNS[vrouter]}" "${RUNS[ct1]}") (what the 10,000 rules cost beyond conntrack)"
else
	bench_result "sg-connrate  ours n/a (could not run: $VR_ERR)  no-firewall $NOFW conn/s  linear-chain $LIN conn/s (linear/no-firewall $(paired_ratio "${RUNS[linear]}" "${RUNS[nofw]}"))  (goal ours/no-firewall >= $GOAL)"
	bench_result "  sg-connrate  $RULES ingress rules; stateful one-rule chain $CT1 conn/s: one-rule/no-firewall $(paired_ratio "${RUNS[ct1]}" "${RUNS[nofw]}")"
fi
bench_result "  sg-connrate  medians of $ROUNDS alternating runs of ${DURATION}s, ratios the median of the per-round ratios, $WORKERS client workers; conn/s per run: ours [$(runs_of vrouter)] no-firewall [$(runs_of nofw)] one-rule [$(runs_of ct1)] linear [$(runs_of linear)]"
if [[ -z $VR_ERR ]]; then
	bench_result "  sg-connrate  apply: linear nft -f of $RULES rules ${LINEAR_APPLY_MS} ms; vrouterd start-up apply ${VR_APPLY_MS} ms (GET /v1/status last_apply.duration_ms, outcome $VR_APPLY_OUTCOME), start to converged ${VR_START_MS} ms; table inet vrouter holds $VR_ELEMS address.proto.port elements and $VR_NFT_RULES rules"
	bench_result "  sg-connrate  loading: ${VR_API_NOTE}; the other $((RULES - API_RULES)) written with the sqlite3 CLI in ${SQL_MS} ms"
else
	bench_result "  sg-connrate  apply: linear nft -f of $RULES rules ${LINEAR_APPLY_MS} ms${VR_API_NOTE:+; vrouter loading: $VR_API_NOTE}"
	exit 1
fi
