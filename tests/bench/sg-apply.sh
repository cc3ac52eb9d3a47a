#!/usr/bin/env bash
# sg-apply: N security-group rules through PUT /v1/config into a fresh vrouterd, against
# `nft -f` of the identical ruleset (tests/bench/README.md). Run through tests/bench/run.sh.
# (What the rules cost per connection is sg-connrate's business.)
#
# The rules are sg-connrate's: one group targeting 192.168.100.2, N ingress tcp rules,
# N-1 from distinct /32s in 10.0.0.0/8 on varied ports and 192.168.150.0/24 on 12345
# last; N in BENCH_SG_SIZES (default "10000 100000", --quick "10000"). Each run in a
# fresh namespace of its own, deleted after it:
#   ours    vrouterd started with an empty database, then PUT /v1/config with the group
#           and its N rules, timed from request to response (curl time_total). Checked:
#           converged, and table inet vrouter holds N elements. The table is then saved
#           (`nft list table inet vrouter`, without its `flags owner` line: loaded with
#           it, the table would be the nft process's and go when it exits).
#   anchor  `nft -f` of that saved table into a fresh namespace: the kernel's own cost of
#           loading the identical ruleset (issue 15 goal 5). Timed: the whole nft process;
#           checked: the reloaded table holds N elements.
#   linear  for reference, at N <= 20000 only: `nft -f` of the naive linear chain (ct
#           state established,related accept; ip daddr 192.168.100.2 ip saddr CIDR tcp
#           dport PORT accept x N; drop), what a rule-per-rule compiler would load.
# Runs alternate (ours, anchor, linear, ...); medians, the median of the per-round
# ratios. Goal: ours / anchor <= 1.
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/bench/lib.sh
source "$HERE/lib.sh"
bench_init sg-apply

if [[ ${BENCH_QUICK:-0} == 1 ]]; then
	SIZES=${BENCH_SG_SIZES:-10000}
	ROUNDS=${BENCH_ROUNDS:-1}
else
	SIZES=${BENCH_SG_SIZES:-10000 100000}
	ROUNDS=${BENCH_ROUNDS:-5}
fi
LINEAR_MAX=20000
SERVER=192.168.100.2
SG=sg-be7c4a9e10000001
GOAL=1.0
[[ -x $VROUTERD ]] || bench_fail "vrouterd not found at $VROUTERD"
for t in nft curl jq; do
	command -v "$t" >/dev/null || bench_fail "$t is not installed (run.sh installs it)"
done
for n in $SIZES; do
	((n >= 2 && n <= 200000)) || bench_fail "BENCH_SG_SIZES: $n is not in 2..200000"
done

# rule_elems FILE: the address.proto.port elements of a listed table.
rule_elems() { grep -oE '\. (tcp|6) \. [0-9]+' "$1" | wc -l || true; }

# The files of N rules: rules.txt, linear.nft, sg.json (in BENCH_TMP/N/).
make_files() {
	local dir=$BENCH_TMP/$1
	mkdir -p "$dir"
	bench_gen_sg_rules "$1" >"$dir/rules.txt"
	{
		echo "table inet vrbench_linear {"
		echo "	chain forward {"
		echo "		type filter hook forward priority 0; policy accept;"
		echo "		ct state established,related accept"
		awk -v dst="$SERVER" '{ print "\t\tip daddr " dst " ip saddr " $1 " tcp dport " $2 " accept" }' "$dir/rules.txt"
		echo "		ip daddr $SERVER drop"
		echo "	}"
		echo "}"
	} >"$dir/linear.nft"
	{
		echo '{'
		bench_sg_json_parts "$SG" "$SERVER" "$dir/rules.txt"
		echo '}'
	} >"$dir/sg.json"
}

# nft_load TAG FILE CHECK: nft -f FILE into a fresh namespace, timed into MS; CHECK is
# run in the namespace afterwards and must succeed.
nft_load() {
	local ns t0
	bench_router_ns "nft-$1"
	ns=$BENCH_NS
	t0=$(now_ns)
	bench_in "$ns" nft -f "$2" || bench_fail "nft -f $2 failed"
	MS=$(ms_since "$t0")
	"$3" "$ns" || bench_fail "after nft -f $2: $CHECK_ERR"
	bench_ns_del "$ns"
}
check_linear() {
	local n
	n=$(bench_in "$1" nft list chain inet vrbench_linear forward | grep -c ' tcp dport [0-9]* accept$' || true)
	CHECK_ERR="the linear chain holds $n rules, expected $RULES"
	((n == RULES))
}
check_same() {
	local n
	bench_in "$1" nft list table inet vrouter >"$BENCH_TMP/reloaded.nft"
	n=$(rule_elems "$BENCH_TMP/reloaded.nft")
	CHECK_ERR="the reloaded table holds $n elements, expected $RULES"
	((n == RULES))
}

# run_ours TAG: PUT the rules into a fresh vrouterd, time into MS; the table is saved
# to BENCH_TMP/RULES/vrouter.nft.
run_ours() {
	local ns elems dir=$BENCH_TMP/$RULES
	bench_router_ns "vr-$1"
	ns=$BENCH_NS
	bench_daemon "$ns" || bench_fail "$BENCH_ERR"
	bench_apply_config "$ns" "$dir/sg.json" "$RULES rules"
	bench_in "$ns" nft list table inet vrouter >"$dir/vrouter.nft" 2>"$BENCH_TMP/nft.err" ||
		bench_fail "converged, but there is no table inet vrouter: $(head -c 200 "$BENCH_TMP/nft.err")"
	# The table is vrouterd's own (flags owner): loaded as it is, it would go with the nft
	# process. The same ruleset without the flag is what the anchor loads.
	sed -E -i '/^[[:space:]]*flags owner;?$/d' "$dir/vrouter.nft"
	grep -q 'flags.*owner' "$dir/vrouter.nft" && bench_fail "the saved table still has an owner flag: $(grep 'flags' "$dir/vrouter.nft" | head -3)"
	elems=$(rule_elems "$dir/vrouter.nft")
	((elems == RULES)) || bench_fail "table inet vrouter holds $elems address.proto.port elements, expected $RULES"
	SPLIT=$(bench_last_put_log "$ns")
	APPLY_MS=$(bench_api "$ns" GET /v1/status | jq -r '.last_apply.duration_ms // 0' | awk '{ printf "%.0f", $1 }')
	blog "ours: $MS ms; daemon: $SPLIT; last apply $APPLY_MS ms"
	bench_ns_del "$ns"
}

field_median() { # field_median REGEX-PREFIX: median of "PREFIX X ms" in the daemon's lines
	local l
	local -a v=()
	for l in "${SPLITS[@]}"; do
		v+=("$(sed -n "s/.*$1 \\([0-9.]*\\) ms.*/\\1/p" <<<"$l")")
	done
	median "${v[@]}" | awk '{ printf "%.0f", $1 }'
}

NOT_CONVERGED=0
for RULES in $SIZES; do
	make_files "$RULES"
	A=() O=() L=() SPLITS=()
	blog "$RULES rules: $ROUNDS rounds of ours, nft -f of our table$( ((RULES > LINEAR_MAX)) || echo ", nft -f of the linear chain") ($(wc -c <"$BENCH_TMP/$RULES/sg.json") bytes of JSON)"
	for ((round = 1; round <= ROUNDS; round++)); do
		run_ours "$RULES-$round"
		O+=("$MS")
		SPLITS+=("$SPLIT")
		nft_load "same-$RULES-$round" "$BENCH_TMP/$RULES/vrouter.nft" check_same
		A+=("$MS")
		blog "nft -f of our table: $MS ms"
		if ((RULES <= LINEAR_MAX)); then
			nft_load "linear-$RULES-$round" "$BENCH_TMP/$RULES/linear.nft" check_linear
			L+=("$MS")
			blog "nft -f of the linear chain: $MS ms"
		fi
	done
	OURS=$(median "${O[@]}")
	ANCHOR=$(median "${A[@]}")
	R=$(paired_ratio "${O[*]}" "${A[*]}")
	LIN=""
	((${#L[@]} == 0)) || LIN="  (reference: nft -f of the linear chain $(median "${L[@]}") ms)"
	bench_result "sg-apply  $RULES rules: ours $OURS ms  nft -f of the identical ruleset $ANCHOR ms  ratio $R (goal <= $GOAL, $(verdict_at_most "$R" "$GOAL"))$LIN"
	bench_result "  sg-apply  $RULES: medians of $ROUNDS alternating runs, ratio the median of the per-round ratios; ms per run: ours [${O[*]}] nft -f same [${A[*]}]$( ((${#L[@]} == 0)) || echo " nft -f linear [${L[*]}]"); vrouterd's split (median, its log): parsed $(field_median 'checked in') ms, stored $(field_median 'stored in') ms, applied $(field_median 'applied in') ms$( ((NOT_CONVERGED == 0)) || echo "; WARNING: $NOT_CONVERGED answers were sent before convergence")"
done
