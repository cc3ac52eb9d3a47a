#!/usr/bin/env bash
# fleet: what the fleet mode (issue 16) costs, against a single router measured in the
# same run (tests/bench/README.md, "fleet"). Run through tests/bench/run.sh.
#
# A three-member etcd cluster (tests/e2e/lib_etcd.sh) in namespaces of its own, three
# vrouterd --etcd ... --router rN (r1 r2 r3), each in a namespace with a link onto the
# cluster's bridge, and one vrouterd without --etcd (single). One security group
# targeting 192.168.100.2 on both sides (nothing is sent to it: the rules are only
# loaded).
#
#   sg        BENCH_FLEET_CHANGES (default 200, --quick 40) rule creates, one after the
#             other, each a new tcp port: fleet through r1, single on its own daemon, in
#             alternating pairs. Each router's kernel is polled (nft list set, about every
#             10 ms): the time from the request to the rule's element in table inet
#             vrouter, for the fleet the last of the three routers. Medians and p99; the ratio of the
#             medians, fleet / single (what the fleet adds to a change; no goal set by
#             the issue: it asks for the figures side by side).
#   bulk      BENCH_FLEET_ROUTES (default 100000, --quick 10000) routes for r2 through
#             r1's API (PUT /v1/config?router=r2, one etcd transaction) against the same
#             routes PUT to the single daemon: time from the request to the routes in
#             the kernel (r2's, the single's). Ratio fleet / single.
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/bench/lib.sh
source "$HERE/lib.sh"
# shellcheck source=tests/e2e/lib_etcd.sh
source "$HERE/../e2e/lib_etcd.sh"
bench_init fleet

if [[ ${BENCH_QUICK:-0} == 1 ]]; then
	CHANGES=${BENCH_FLEET_CHANGES:-40}
	ROUTES=${BENCH_FLEET_ROUTES:-10000}
else
	CHANGES=${BENCH_FLEET_CHANGES:-200}
	ROUTES=${BENCH_FLEET_ROUTES:-100000}
fi
SG=sg-f1ee7000000000b1
TARGET=192.168.100.2
[[ -x $VROUTERD ]] || bench_fail "vrouterd not found at $VROUTERD"
for t in nft curl jq; do
	command -v "$t" >/dev/null || bench_fail "$t is not installed (run.sh installs it)"
done
for t in etcd etcdctl; do
	command -v "$t" >/dev/null || bench_fail "$t is not installed (deploy/setup.sh test installs etcd-server and etcd-client without starting their service)"
done

# ---------------------------------------------------------------- set-up

# etcd's bounds raised for one transaction of ROUTES routes (ops and bytes).
ETCD_ARGS=(--max-txn-ops $((ROUTES + 1000)) --max-request-bytes $((256 << 20))
	--quota-backend-bytes $((8 << 30)))
etcd_cluster
declare -a R
for i in 1 2 3; do
	bench_router_ns "r$i"
	R[i]=$BENCH_NS
	etcd_join "${R[i]}" mgmt0 "mr$i" "2$i"
	bench_daemon "${R[i]}" --etcd "$ETCD_ENDPOINTS" --router "r$i" || bench_fail "$BENCH_ERR"
done
bench_router_ns single
S=$BENCH_NS
bench_daemon "$S" || bench_fail "$BENCH_ERR"

# The group and a first rule, on both sides: later rules are elements added to the set
# that rule made (nft monitor prints those; a set made with its elements, it does not).
for ns in "${R[1]}" "$S"; do
	bench_api "$ns" POST /v1/security-groups "{\"id\":\"$SG\",\"name\":\"bench\",\"targets\":[\"$TARGET\"]}" >/dev/null
	[[ $(bench_status) == 201 ]] || bench_fail "creating the group answered $(bench_status): $(head -c 300 "$BENCH_TMP/body")"
	bench_api "$ns" POST /v1/security-group-rules "{\"security_group_id\":\"$SG\",\"direction\":\"ingress\",\"protocol\":\"tcp\",\"port_from\":19990,\"port_to\":19990,\"cidr\":\"10.0.0.0/8\"}" >/dev/null
	[[ $(bench_status) == 201 ]] || bench_fail "the first rule answered $(bench_status): $(head -c 300 "$BENCH_TMP/body")"
done
sleep 1 # r2 and r3 apply them too

# has_port NS PORT: NS's kernel holds the group's element for PORT (nft list set).
has_port() {
	ip netns exec "$1" nft list set inet vrouter "in4p_$SG" 2>/dev/null | grep -qE "\. (tcp|6) \. $2( |,|$)"
}

# seen_all T0 PORT NS...: poll every NS until its kernel has PORT; prints the
# milliseconds from T0 (EPOCHREALTIME) to the last of them. 1 when 20 s pass first.
seen_all() {
	local t0=$1 port=$2 ns last=0 left
	shift 2
	local -a wait=("$@")
	local deadline=$((SECONDS + 20))
	while ((${#wait[@]})) && ((SECONDS < deadline)); do
		left=()
		for ns in "${wait[@]}"; do
			if has_port "$ns" "$port"; then last=$EPOCHREALTIME; else left+=("$ns"); fi
		done
		wait=("${left[@]}")
	done
	((${#wait[@]} == 0)) || return 1
	awk -v a="$t0" -v b="$last" 'BEGIN { printf "%.1f\n", (b - a) * 1000 }'
}

# rule NS PORT: create a rule for PORT; T0 is when the request left (EPOCHREALTIME).
rule() {
	T0=$EPOCHREALTIME
	bench_api "$1" POST /v1/security-group-rules "{\"security_group_id\":\"$SG\",\"direction\":\"ingress\",\"protocol\":\"tcp\",\"port_from\":$2,\"port_to\":$2,\"cidr\":\"10.0.0.0/8\"}" >/dev/null
	[[ $(bench_status) == 201 ]] || bench_fail "a rule for port $2 answered $(bench_status): $(head -c 300 "$BENCH_TMP/body")"
}

# p99 N...: the 99th percentile (nearest rank).
p99() {
	printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR) { r = int(NR * 0.99 + 0.999); if (r < 1) r = 1; print a[r] } }'
}

# ---------------------------------------------------------------- sg

fleet_ms=()
single_ms=()
for ((k = 0; k < CHANGES; k++)); do
	port=$((20000 + 2 * k)) # never next to another: the set would merge them into a range
	rule "${R[1]}" "$port"
	ms=$(seen_all "$T0" "$port" "${R[1]}" "${R[2]}" "${R[3]}") || bench_fail "port $port: not in every router's kernel within 20 s"
	fleet_ms+=("$ms")
	rule "$S" "$port"
	ms=$(seen_all "$T0" "$port" "$S") || bench_fail "port $port: not in the single router's kernel within 20 s"
	single_ms+=("$ms")
done
fm=$(median "${fleet_ms[@]}")
sm=$(median "${single_ms[@]}")
blog "sg: fleet median $fm ms p99 $(p99 "${fleet_ms[@]}") ms; single median $sm ms p99 $(p99 "${single_ms[@]}") ms"
bench_result "$(printf 'fleet-sg     %d rule changes: all 3 routers enforcing after %s ms median, %s ms p99; a single router %s ms median, %s ms p99; fleet/single %s' \
	"$CHANGES" "$fm" "$(p99 "${fleet_ms[@]}")" "$sm" "$(p99 "${single_ms[@]}")" "$(ratio "$fm" "$sm")")"

# ---------------------------------------------------------------- bulk

bench_gen_routes "$ROUTES" json >"$BENCH_TMP/routes.json"
# The same document for r2, its routes named as r2's.
sed 's/{"destination"/{"router":"r2","destination"/' "$BENCH_TMP/routes.json" >"$BENCH_TMP/routes-r2.json"
# Each PUT replaces its scope: keep the group in both documents.
for f in routes routes-r2; do
	jq --slurpfile sg <(bench_api "$S" GET /v1/config) '.security_groups = $sg[0].security_groups | .security_group_rules = $sg[0].security_group_rules' \
		"$BENCH_TMP/$f.json" >"$BENCH_TMP/$f.doc"
done
has_routes() { (($(bench_kernel_routes "$1") >= ROUTES)); }

t0=$(now_ns)
bench_put_config "${R[1]}" "$BENCH_TMP/routes-r2.doc" router=r2
[[ $PUT_CODE == 200 ]] || bench_fail "PUT /v1/config?router=r2 of $ROUTES routes through r1 answered $PUT_CODE: $(head -c 300 "$BENCH_TMP/put.json")"
ack_fleet=$(ms_since "$t0")
bench_poll 300 has_routes "${R[2]}" || bench_fail "r2's kernel has $(bench_kernel_routes "${R[2]}") of $ROUTES routes after 300 s"
fleet_bulk=$(ms_since "$t0")
t0=$(now_ns)
bench_put_config "$S" "$BENCH_TMP/routes.doc"
[[ $PUT_CODE == 200 ]] || bench_fail "PUT /v1/config of $ROUTES routes answered $PUT_CODE: $(head -c 300 "$BENCH_TMP/put.json")"
bench_poll 300 has_routes "$S" || bench_fail "the single router's kernel has $(bench_kernel_routes "$S") of $ROUTES routes after 300 s"
single_bulk=$(ms_since "$t0")
blog "bulk: fleet answered in $ack_fleet ms, r2's kernel full after $fleet_bulk ms; single $single_bulk ms"
bench_result "$(printf 'fleet-bulk   %d routes for r2 through r1: in r2'"'"'s kernel after %d ms (answered after %d ms); a single router %d ms; fleet/single %s' \
	"$ROUTES" "$fleet_bulk" "$ack_fleet" "$single_bulk" "$(ratio "$fleet_bulk" "$single_bulk")")"
