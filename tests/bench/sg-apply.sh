#!/usr/bin/env bash
# sg-apply: 10,000 security-group rules through PUT /v1/config into a fresh vrouterd,
# against `nft -f` of the equivalent linear chain (tests/bench/README.md). Run through
# tests/bench/run.sh. (What the rules cost per connection is sg-connrate's business.)
#
# The rules are sg-connrate's: one group targeting 192.168.100.2, BENCH_SG_RULES ingress
# tcp rules, 9,999 from distinct /32s in 10.0.0.0/8 on varied ports and 192.168.150.0/24
# on 12345 last. Each run in a fresh namespace of its own, deleted after it:
#   anchor  `nft -f` of one chain on the forward hook: ct state established,related
#           accept; ip daddr 192.168.100.2 ip saddr CIDR tcp dport PORT accept x N; ip
#           daddr 192.168.100.2 drop. Timed: the whole nft process.
#   ours    vrouterd started with an empty database, then PUT /v1/config with the group
#           and its N rules, timed from request to response (curl time_total). Checked:
#           converged, and table inet vrouter holds N elements.
# Runs alternate (anchor, ours, ...); medians, the median of the per-round ratios.
# Goal: ours / anchor <= 1.
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/bench/lib.sh
source "$HERE/lib.sh"
bench_init sg-apply

RULES=${BENCH_SG_RULES:-10000}
if [[ ${BENCH_QUICK:-0} == 1 ]]; then
	ROUNDS=${BENCH_ROUNDS:-1}
else
	ROUNDS=${BENCH_ROUNDS:-5}
fi
SERVER=192.168.100.2
SG=sg-be7c4a9e10000001
GOAL=1.0
[[ -x $VROUTERD ]] || bench_fail "vrouterd not found at $VROUTERD"
for t in nft curl jq; do
	command -v "$t" >/dev/null || bench_fail "$t is not installed (run.sh installs it)"
done
((RULES >= 2 && RULES <= 60000)) || bench_fail "BENCH_SG_RULES must be 2..60000"

# The rules, one "cidr port" a line (as sg-connrate makes them).
bench_gen_sg_rules "$RULES" >"$BENCH_TMP/rules.txt"
{
	echo "table inet vrbench_linear {"
	echo "	chain forward {"
	echo "		type filter hook forward priority 0; policy accept;"
	echo "		ct state established,related accept"
	awk -v dst="$SERVER" '{ print "\t\tip daddr " dst " ip saddr " $1 " tcp dport " $2 " accept" }' "$BENCH_TMP/rules.txt"
	echo "		ip daddr $SERVER drop"
	echo "	}"
	echo "}"
} >"$BENCH_TMP/linear.nft"
{
	echo '{'
	bench_sg_json_parts "$SG" "$SERVER" "$BENCH_TMP/rules.txt"
	echo '}'
} >"$BENCH_TMP/sg.json"

run_anchor() {
	local ns n t0
	bench_router_ns "nft-$1"
	ns=$BENCH_NS
	t0=$(now_ns)
	bench_in "$ns" nft -f "$BENCH_TMP/linear.nft" || bench_fail "nft -f of the linear chain failed"
	MS=$(ms_since "$t0")
	n=$(bench_in "$ns" nft list chain inet vrbench_linear forward | grep -c ' tcp dport [0-9]* accept$' || true)
	((n == RULES)) || bench_fail "the linear chain holds $n rules, expected $RULES"
	bench_ns_del "$ns"
}

run_ours() {
	local ns elems
	bench_router_ns "vr-$1"
	ns=$BENCH_NS
	bench_daemon "$ns" || bench_fail "$BENCH_ERR"
	bench_apply_config "$ns" "$BENCH_TMP/sg.json" "$RULES rules"
	bench_in "$ns" nft list table inet vrouter >"$BENCH_TMP/vrouter.nft" 2>"$BENCH_TMP/nft.err" ||
		bench_fail "converged, but there is no table inet vrouter: $(head -c 200 "$BENCH_TMP/nft.err")"
	elems=$(grep -oE '\. (tcp|6) \. [0-9]+' "$BENCH_TMP/vrouter.nft" | wc -l || true)
	((elems == RULES)) || bench_fail "table inet vrouter holds $elems address.proto.port elements, expected $RULES"
	SPLIT=$(bench_last_put_log "$ns")
	APPLY_MS=$(bench_api "$ns" GET /v1/status | jq -r '.last_apply.duration_ms // 0' | awk '{ printf "%.0f", $1 }')
	blog "ours: $MS ms; daemon: $SPLIT; last apply $APPLY_MS ms"
	bench_ns_del "$ns"
}

A=() O=() SPLITS=()
NOT_CONVERGED=0
blog "$ROUNDS rounds of anchor, ours; $RULES rules ($(wc -c <"$BENCH_TMP/sg.json") bytes of JSON)"
for ((round = 1; round <= ROUNDS; round++)); do
	run_anchor "$round"
	A+=("$MS")
	blog "nft -f: $MS ms"
	run_ours "$round"
	O+=("$MS")
	SPLITS+=("$SPLIT")
done
OURS=$(median "${O[@]}")
ANCHOR=$(median "${A[@]}")
R=$(paired_ratio "${O[*]}" "${A[*]}")
field_median() { # field_median REGEX-PREFIX: median of "PREFIX X ms" in the daemon's lines
	local l
	local -a v=()
	for l in "${SPLITS[@]}"; do
		v+=("$(sed -n "s/.*$1 \\([0-9.]*\\) ms.*/\\1/p" <<<"$l")")
	done
	median "${v[@]}" | awk '{ printf "%.0f", $1 }'
}
bench_result "sg-apply  $RULES rules: ours $OURS ms  nft -f (linear chain) $ANCHOR ms  ratio $R (goal <= $GOAL, $(verdict_at_most "$R" "$GOAL"))"
bench_result "  sg-apply  medians of $ROUNDS alternating runs, ratio the median of the per-round ratios; ms per run: ours [${O[*]}] nft -f [${A[*]}]; vrouterd's split (median, its log): parsed $(field_median 'checked in') ms, stored $(field_median 'stored in') ms, applied $(field_median 'applied in') ms$( ((NOT_CONVERGED == 0)) || echo "; WARNING: $NOT_CONVERGED answers were sent before convergence")"
