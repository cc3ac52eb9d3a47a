#!/usr/bin/env bash
# kill -9 at any moment, then a restart: every acknowledged write is there, the database
# passes PRAGMA integrity_check, and within 2 s of the daemon answering /healthz the
# kernel holds exactly the desired state. Foreign state is never touched.
#
#   (a) kill -9 at several points of a 5,000-route PUT /v1/config (adding them, and once
#       removing them): a bounded set of delays (5, 15, 30, 45, 60, 80, 100, 150 ms and
#       50/70/80/90 % of the measured duration of the same PUT, so that slower builds
#       are also killed before the commit, during the kernel apply and after the answer).
#       Each time: the database on disk (copied as the crash left it) passes
#       integrity_check and holds none or all of the 5,000 (all when the PUT was
#       answered 200); after the restart GET /v1/config agrees with the disk, the
#       kernel's proto 245 routes equal it within 2 s of /healthz, the router
#       addresses, policy rule and forwarding are as desired, the live database passes
#       integrity_check, and the foreign state is intact.
#   (b) kill -9 right after acknowledged writes: 20 POSTs, a DELETE, a PUT, a last POST
#       and kill -9 right after its 201: everything acknowledged is in GET and in the
#       kernel after the restart. Then a stream of POSTs killed mid-way: every id
#       answered 201 is there, and at most the one in flight more.
#   (c) kill -9 while security-group rules are applied (a PUT of 1,000 rules, killed at
#       several points), with the orphaned table deleted, a rule deleted in it, or the
#       whole ruleset flushed while the daemon was dead, and right after a 201 for a new
#       rule: after the restart the database holds none or all of the rules and table inet
#       vrouter equals the table a fresh daemon builds from a copy of that database (in
#       a namespace of its own), and the table is owned again (delete refused).
#
# Foreign state throughout: 50 routes (proto static), a policy rule, addresses and the
# nftables table inet foreign. Convergence times after restarts are printed at the end.
# shellcheck disable=SC2317,SC2016 # helpers run through check; eval scripts
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/e2e/fault_lib.sh
. "$HERE/fault_lib.sh"

e2e_init fault_crash
fault_need_sqlite

NBIG=5000
CONVERGE_LIMIT_MS=2000
TIMES_CONVERGE=()

# ---------------------------------------------------------------- helpers

has() { [[ -n $("$@" 2>/dev/null) ]]; }

foreign_intact() {
	local now
	now=$(fault_foreign_snap "$NS")
	[[ $now == "$FOREIGN0" ]] && return 0
	diff <(echo "$FOREIGN0") <(echo "$now")
	return 1
}

converged() {
	e2e_api "$NS" GET /v1/status >/dev/null
	[[ $(e2e_jq .converged) == true && $(e2e_jq '.failed.routes + .failed.other') == 0 ]]
}

DB() { echo "$(e2e__daemon_dir "$NS")/vrouter.db"; }

# integrity DBFILE: PRAGMA integrity_check says ok.
integrity() {
	local out
	out=$(fault_sql "$1" 'PRAGMA integrity_check' 2>&1)
	[[ $out == ok ]] && return 0
	echo "$out" | head -n 20
	return 1
}

# put_doc FILE: PUT /v1/config with FILE, expecting 200 and a converged apply.
put_doc() {
	e2e_api "$NS" PUT /v1/config "@$1" >/dev/null
	[[ $(e2e_last_status) == 200 && $(e2e_jq .apply.converged) == true ]] && return 0
	fail "PUT /v1/config $(basename "$1"): HTTP $(e2e_last_status)" "$(e2e_last_body | head -c 1000)"
	return 1
}

# bg_put FILE: start PUT /v1/config with FILE in the background; its HTTP code goes to
# $E2E_TMP/bg.code; pid in BGPUT.
bg_put() {
	: >"$E2E_TMP/bg.code"
	ip netns exec "$NS" curl -sS -o "$E2E_TMP/bg.body" -w '%{http_code}' --max-time 60 -X PUT \
		-H "Authorization: Bearer $(e2e_token "$NS")" -H "Content-Type: application/json" \
		--data-binary "@$1" "http://127.0.0.1:$E2E_PORT/v1/config" >"$E2E_TMP/bg.code" 2>/dev/null &
	BGPUT=$!
}

# restart_and_converge WHAT: start the daemon again (after a kill -9); from the moment
# it answers /healthz, the kernel must equal GET /v1/config within CONVERGE_LIMIT_MS.
# The time recorded is when the kernel dump that matched had been read (its comparison,
# slow on a loaded machine, is not counted). The document is left in $E2E_TMP/after.json.
restart_and_converge() {
	local what=$1 t0 t ok=0
	e2e_daemon "$NS"
	t0=$(fault_now_ms)
	if ! fault_get_config "$NS" "$E2E_TMP/after.json"; then
		fail "$what: GET /v1/config after the restart: HTTP $(e2e_last_status)"
		return 0
	fi
	fault_db_routes_of "$E2E_TMP/after.json" >"$E2E_TMP/want.routes"
	while :; do
		{
			ip -n "$NS" -4 route show table all proto 245
			ip -n "$NS" -6 route show table all proto 245
		} >"$E2E_TMP/kernel.raw"
		t=$(($(fault_now_ms) - t0))
		if fault_normalize_routes <"$E2E_TMP/kernel.raw" | cmp -s - "$E2E_TMP/want.routes"; then
			ok=1
			break
		fi
		((t < CONVERGE_LIMIT_MS)) || break
		sleep 0.05
	done
	if ((ok)); then
		pass "$what: kernel routes equal GET /v1/config $t ms after /healthz"
		TIMES_CONVERGE+=("$t")
	else
		fail "$what: kernel routes differ from GET /v1/config ${t} ms after /healthz" \
			"$(fault_routes_converged "$NS" "$E2E_TMP/after.json")" \
			"$(tail -n 15 "$(e2e__daemon_dir "$NS")/vrouterd.log")"
	fi
}

has_addr() { ip -n "$NS" -o addr show dev "$1" | grep -F " $2 " >/dev/null; }
# The rest of the base document in the kernel: router addresses, the policy rules of the
# subnet in table 100 (the lookup, and the unreachable rule after it), forwarding.
base_in_kernel() {
	has_addr eth0 192.168.150.3/24 && has_addr eth0 192.168.160.1/24 &&
		[[ $(ip -n "$NS" -4 rule show | grep -E 'proto (245|vrouter)') == *"from 192.168.160.0/24 lookup 100"* ]] &&
		[[ $(ip -n "$NS" -4 rule show | grep -E 'proto (245|vrouter)') == *"from 192.168.160.0/24 unreachable"* ]] &&
		[[ $(ip -n "$NS" -4 rule show | grep -cE 'proto (245|vrouter)') == 2 ]] &&
		[[ $(ip netns exec "$NS" sysctl -n net.ipv4.ip_forward) == 1 ]]
}

# after_restart_checks WHAT: live database sound, status converged, foreign state intact.
after_restart_checks() {
	check "$1: addresses, policy rule, forwarding as desired" base_in_kernel
	check "$1: live database passes integrity_check" integrity "$(DB)"
	check_poll "$1: /v1/status converged, nothing failed" 2 converged
	check "$1: foreign state intact" foreign_intact
}

# count_ids FILE PREFIX: how many routes of a GET /v1/config document have ids starting
# with PREFIX.
count_ids() { jq --arg p "$2" '[.routes[] | select(.id | startswith($p))] | length' "$1"; }

# ---------------------------------------------------------------- set-up

e2e_step "set-up: router with eth0, foreign state, a daemon"
e2e_ns router
NS=$E2E_NS
e2e_ns peer
PEER=$E2E_NS
e2e_link "$NS" eth0 "$PEER" eth0
ip -n "$PEER" addr add 192.168.150.2/24 dev eth0
ip -n "$PEER" addr add fd00:150::2/64 dev eth0 nodad
ip -n "$NS" addr add 192.168.150.1/24 dev eth0
ip -n "$NS" addr add fd00:150::1/64 dev eth0 nodad
fault_foreign_setup "$NS" 192.168.150.2 eth0
FAULT_OWNED_ADDRS=' (192\.168\.150\.3/24|192\.168\.160\.1/24)$'
FOREIGN0=$(fault_foreign_snap "$NS")
check_eq "50 foreign routes (proto static)" 50 "$(fault_static_routes "$NS")"
MONITOR=$E2E_TMP/monitor
e2e_bg "$NS" sh -c 'exec ip monitor route rule address >"$1" 2>&1' sh "$MONITOR"
e2e_daemon "$NS"

# The base document (a few routes, a subnet, a group, forwarding) and the big one: the
# same plus NBIG routes rt-c0000.. 10.128.0.0/24.. via the peer.
BASE_JSON=$(
	cat <<'EOF'
{"route_tables": [{"id": "rtb-100", "name": "blue", "table": 100}],
 "routes": [
  {"id": "rt-b1", "destination": "10.1.0.0/16", "via": "192.168.150.2"},
  {"id": "rt-b2", "route_table_id": "rtb-100", "destination": "10.2.0.0/16", "type": "blackhole"},
  {"id": "rt-b3", "destination": "fd00:99::/64", "via": "fd00:150::2"}],
 "subnets": [
  {"id": "subnet-a1", "name": "lan", "cidr": "192.168.150.0/24", "interface": "eth0", "router_ip": "192.168.150.3"},
  {"id": "subnet-a2", "name": "blue", "cidr": "192.168.160.0/24", "interface": "eth0", "router_ip": "192.168.160.1", "route_table_id": "rtb-100"}],
 "security_groups": [{"id": "sg-a1", "name": "web", "targets": ["192.168.160.2"]}],
 "security_group_rules": [{"id": "sgr-a1", "security_group_id": "sg-a1", "direction": "ingress",
  "protocol": "tcp", "port_from": 80, "port_to": 80, "cidr": "0.0.0.0/0"}],
 "settings": {"forwarding": {"ipv4": true, "ipv6": false}}}
EOF
)
BASE=$E2E_TMP/base.json
BIG=$E2E_TMP/big.json
echo "$BASE_JSON" >"$BASE"
for ((i = 0; i < NBIG; i++)); do
	printf '{"id":"rt-c%04x","destination":"10.%d.%d.0/24","via":"192.168.150.2"}\n' \
		"$i" $((128 + i / 256)) $((i % 256))
done >"$E2E_TMP/big.routes"
jq -c --slurpfile r "$E2E_TMP/big.routes" '.routes += $r' "$BASE" >"$BIG"
check_eq "the big document has $((NBIG + 3)) routes" $((NBIG + 3)) "$(jq '.routes | length' "$BIG")"

put_doc "$BASE"
fault_get_config "$NS" "$E2E_TMP/now.json"
check "base document applied: kernel routes equal it" fault_routes_converged "$NS" "$E2E_TMP/now.json"

# ---------------------------------------------------------------- (a) 5,000 routes

e2e_step "(a) calibration: the 5,000-route PUT and its removal, uninterrupted"
LOG=$(e2e__daemon_dir "$NS")/vrouterd.log
t0=$(fault_now_ms)
put_doc "$BIG"
T_ADD=$(($(fault_now_ms) - t0))
fault_get_config "$NS" "$E2E_TMP/now.json"
check_eq "all $NBIG new routes in GET /v1/config" "$NBIG" "$(count_ids "$E2E_TMP/now.json" rt-c)"
check "kernel routes equal it" fault_routes_converged "$NS" "$E2E_TMP/now.json"
t0=$(fault_now_ms)
put_doc "$BASE"
T_DEL=$(($(fault_now_ms) - t0))
fault_get_config "$NS" "$E2E_TMP/now.json"
check "back to the base document in the kernel" fault_routes_converged "$NS" "$E2E_TMP/now.json"
e2e_log "     PUT of $NBIG routes took $T_ADD ms, their removal $T_DEL ms; daemon's account:"
grep -E 'PUT /v1/config: [0-9]+ routes' "$LOG" | tail -n 2 | sed 's/^/       /'

# crash_put FROM TO DELAY_MS: with FROM applied, PUT TO and kill -9 the daemon DELAY_MS
# later; check the crash image, restart, check convergence.
STATE=base
crash_put() {
	local from=$1 to=$2 delay=$3 what code copy n_disk n_get n_kern want_all
	what="kill -9 ${delay} ms into PUT $(basename "$to" .json) (from $(basename "$from" .json))"
	e2e_step "(a) $what"
	if [[ $STATE != "$from" ]]; then
		put_doc "$E2E_TMP/$from.json" || return 0
		STATE=$from
	fi
	bg_put "$E2E_TMP/$to.json"
	sleep "$(printf '0.%03d' "$delay")"
	e2e_kill9 "$NS"
	wait "$BGPUT" 2>/dev/null || true
	code=$(cat "$E2E_TMP/bg.code")
	[[ -n $code ]] || code=000
	copy=$(fault_db_copy "$(DB)" "$E2E_TMP/crash-image")
	check "crash image passes integrity_check" integrity "$copy"
	n_disk=$(fault_sql "$copy" "SELECT count(*) FROM routes WHERE id LIKE 'rt-c%'")
	n_kern=$(ip -n "$NS" -4 route show proto 245 | grep -c '^10\.1[2-4][0-9]\.' || true)
	e2e_log "     outcome: HTTP $code, database $n_disk of $NBIG, kernel $n_kern of $NBIG at the kill"
	OUTCOMES+=("$delay ms: HTTP $code, db $n_disk, kernel $n_kern")
	check_match "crash image holds none or all of the $NBIG routes (holds $n_disk)" "^(0|$NBIG)\$" "$n_disk"
	want_all=$([[ $to == big ]] && echo "$NBIG" || echo 0)
	if [[ $code == 200 ]]; then
		check_eq "the PUT was acknowledged: the crash image holds its routes" "$want_all" "$n_disk"
	fi
	restart_and_converge "$what"
	n_get=$(count_ids "$E2E_TMP/after.json" rt-c)
	check_eq "GET /v1/config after the restart agrees with the crash image" "$n_disk" "$n_get"
	check_eq "the base routes are all there" 3 "$(count_ids "$E2E_TMP/after.json" rt-b)"
	after_restart_checks "$what"
	if [[ $n_get == "$NBIG" ]]; then STATE=big; else STATE=base; fi
}

# A bounded set of kill points: fixed ones, and fractions of the measured durations.
OUTCOMES=()
for d in $(printf '%s\n' 5 15 30 45 60 80 100 150 $((T_ADD / 2)) $((T_ADD * 7 / 10)) \
	$((T_ADD * 8 / 10)) $((T_ADD * 9 / 10)) | sort -nu); do
	((d > 999)) && d=999
	crash_put base big "$d"
done
d=$((T_DEL / 2))
((d > 999)) && d=999
crash_put big base "$d"

# ---------------------------------------------------------------- (b) acknowledged writes

e2e_step "(b) kill -9 right after acknowledged POSTs, a DELETE and a PUT"
put_doc "$BASE"
IDS=()
for ((i = 1; i <= 20; i++)); do
	e2e_api "$NS" POST /v1/routes "{\"destination\":\"10.90.$i.0/24\",\"via\":\"192.168.150.2\"}" >/dev/null
	[[ $(e2e_last_status) == 201 ]] || fail "POST route $i: HTTP $(e2e_last_status)" "$(e2e_last_body)"
	IDS+=("$(e2e_jq .id)")
done
e2e_api "$NS" DELETE "/v1/routes/${IDS[4]}" >/dev/null
e2e_expect_status 204 "DELETE the 5th route"
e2e_api "$NS" PUT "/v1/routes/${IDS[5]}" '{"destination":"10.90.6.0/24","via":"192.168.150.2","metric":7}' >/dev/null
e2e_expect_status 200 "PUT the 6th route with metric 7"
e2e_api "$NS" POST /v1/routes '{"destination":"10.90.21.0/24","via":"192.168.150.2"}' >/dev/null
code=$(e2e_last_status)
e2e_kill9 "$NS" # right after the answer
check_eq "the last POST was acknowledged" 201 "$code"
IDS+=("$(e2e_jq .id)")
check "crash image passes integrity_check" integrity "$(fault_db_copy "$(DB)" "$E2E_TMP/crash-image")"
restart_and_converge "kill -9 right after a 201"
absent=""
for ((i = 0; i < ${#IDS[@]}; i++)); do
	((i == 4)) && continue
	e2e_api "$NS" GET "/v1/routes/${IDS[i]}" >/dev/null
	[[ $(e2e_last_status) == 200 ]] || absent+=" ${IDS[i]}"
done
check_eq "all 20 acknowledged POSTs (less the deleted one) are there" "" "$absent"
e2e_api "$NS" GET "/v1/routes/${IDS[4]}" >/dev/null
e2e_expect_status 404 "the acknowledged DELETE held"
e2e_api "$NS" GET "/v1/routes/${IDS[5]}" >/dev/null
check_eq "the acknowledged PUT held (metric 7)" 7 "$(e2e_jq .metric)"
check "the last POST's route in the kernel" has ip -n "$NS" route show 10.90.21.0/24 proto 245
check "the PUT's route in the kernel with metric 7" has ip -n "$NS" route show 10.90.6.0/24 proto 245 metric 7
check "the deleted route not in the kernel" eval '[[ -z $(ip -n "$NS" route show 10.90.5.0/24 proto 245) ]]'
after_restart_checks "kill -9 right after a 201"

e2e_step "(b) kill -9 in the middle of a stream of POSTs"
ACKED=$E2E_TMP/acked
: >"$ACKED"
TOKEN=$(e2e_token "$NS")
(
	for ((i = 0; i < 400; i++)); do
		id=$(printf 'rt-d%03x' "$i")
		code=$(ip netns exec "$NS" curl -sS -o /dev/null -w '%{http_code}' --max-time 10 \
			-H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \
			--data-binary "{\"id\":\"$id\",\"destination\":\"10.91.$((i / 256)).$((i % 256))/32\",\"via\":\"192.168.150.2\"}" \
			"http://127.0.0.1:$E2E_PORT/v1/routes" 2>/dev/null) || break
		[[ $code == 201 ]] || break
		echo "$id" >>"$ACKED"
	done
) &
STREAM=$!
sleep 0.6
e2e_kill9 "$NS"
wait "$STREAM" 2>/dev/null || true
NACK=$(wc -l <"$ACKED")
e2e_log "     $NACK POSTs acknowledged before the kill"
check "some POSTs were acknowledged before the kill" test "$NACK" -gt 0
check "crash image passes integrity_check" integrity "$(fault_db_copy "$(DB)" "$E2E_TMP/crash-image")"
restart_and_converge "kill -9 mid-stream"
absent=""
while read -r id; do
	jq -e --arg id "$id" 'any(.routes[]; .id == $id)' "$E2E_TMP/after.json" >/dev/null || absent+=" $id"
done <"$ACKED"
check_eq "every acknowledged POST is in GET /v1/config" "" "$absent"
n=$(jq '[.routes[] | select(.destination | startswith("10.91."))] | length' "$E2E_TMP/after.json")
check "GET holds the $NACK acknowledged and at most the one in flight ($n)" test "$n" -ge "$NACK" -a "$n" -le $((NACK + 1))
after_restart_checks "kill -9 mid-stream"

# ---------------------------------------------------------------- (c) security groups

e2e_step "(c) set-up: 1,000 security-group rules; a reference namespace"
NSG=40
NRULE=25
SG=$E2E_TMP/sg.json
{
	for ((g = 0; g < NSG; g++)); do
		printf '{"id":"sg-f%02x","name":"g%d","targets":["10.%d.%d.0/24"]}\n' "$g" "$g" $((120 + g / 200)) $((g % 200))
	done
} >"$E2E_TMP/sg.groups"
{
	for ((g = 0; g < NSG; g++)); do
		for ((r = 0; r < NRULE; r++)); do
			printf '{"id":"sgr-f%02x%02x","security_group_id":"sg-f%02x","direction":"ingress","protocol":"tcp","port_from":%d,"port_to":%d,"cidr":"172.%d.%d.0/24"}\n' \
				"$g" "$r" "$g" $((10000 + g * 100 + r)) $((10000 + g * 100 + r)) $((20 + g / 250)) $((r % 250))
		done
	done
} >"$E2E_TMP/sg.rules"
jq -c --slurpfile g "$E2E_TMP/sg.groups" --slurpfile r "$E2E_TMP/sg.rules" \
	'.security_groups += $g | .security_group_rules += $r' "$BASE" >"$SG"
cp "$BASE" "$E2E_TMP/sgbase.json"
check_eq "the document has $((NSG * NRULE + 1)) rules" $((NSG * NRULE + 1)) "$(jq '.security_group_rules | length' "$SG")"
e2e_ns ref
REF=$E2E_NS

# table_matches_ref: a fresh daemon in REF, started on a copy of the database as it is
# now, builds the same table inet vrouter as the restarted daemon holds.
table_matches_ref() {
	local refdir mine theirs
	refdir=$(e2e__daemon_dir "$REF")
	e2e_stop "$REF"
	rm -rf "$refdir"
	mkdir -p "$refdir"
	fault_db_backup "$(DB)" "$refdir/vrouter.db"
	e2e_daemon "$REF"
	if ! e2e_poll 3 eval '[[ $(e2e_api "$REF" GET /v1/status | jq -r .applied_revision) -ge $(e2e_api "$REF" GET /v1/status | jq -r .desired_revision) ]]'; then
		echo "reference daemon did not converge"
		return 1
	fi
	mine=$(fault_vrouter_nft "$NS")
	theirs=$(fault_vrouter_nft "$REF")
	e2e_stop "$REF"
	if [[ $mine != "table inet vrouter {"* ]]; then
		echo "no table inet vrouter in $NS: $mine"
		return 1
	fi
	[[ $mine == "$theirs" ]] && return 0
	diff <(echo "$theirs") <(echo "$mine") | head -n 30
	return 1
}
nft_refused() { ! ip netns exec "$NS" nft delete table inet vrouter 2>/dev/null; }
foreign_nft_again() {
	ip netns exec "$NS" nft -f - <<'EOF'
table inet foreign {
	chain input {
		type filter hook input priority 10; policy accept;
		tcp dport 9999 counter accept comment "foreign rule"
	}
}
EOF
}

e2e_step "(c) calibration: PUT of 1,000 rules, uninterrupted"
t0=$(fault_now_ms)
put_doc "$SG"
T_SG=$(($(fault_now_ms) - t0))
put_doc "$BASE"
e2e_log "     PUT of $((NSG * NRULE)) rules took $T_SG ms"
check "the base table after removing them" table_matches_ref

# crash_sg DELAY_MS TAMPER: with the base applied, PUT the rules and kill -9 DELAY_MS later;
# TAMPER (none | table | rule) changes the orphaned table before the restart.
crash_sg() {
	local delay=$1 tamper=$2 what code copy n_disk n_get h
	what="kill -9 ${delay} ms into PUT of $((NSG * NRULE)) rules, tamper: $tamper"
	e2e_step "(c) $what"
	put_doc "$BASE" || return 0
	bg_put "$SG"
	sleep "$(printf '0.%03d' "$delay")"
	e2e_kill9 "$NS"
	wait "$BGPUT" 2>/dev/null || true
	code=$(cat "$E2E_TMP/bg.code")
	copy=$(fault_db_copy "$(DB)" "$E2E_TMP/crash-image")
	check "crash image passes integrity_check" integrity "$copy"
	n_disk=$(fault_sql "$copy" "SELECT count(*) FROM security_group_rules WHERE id LIKE 'sgr-f%'")
	e2e_log "     outcome: HTTP ${code:-000}, database $n_disk of $((NSG * NRULE)) rules," \
		"table inet vrouter at the kill: $(ip netns exec "$NS" nft list table inet vrouter 2>/dev/null | wc -l) lines"
	check_match "crash image holds none or all of the rules (holds $n_disk)" "^(0|$((NSG * NRULE)))\$" "$n_disk"
	[[ $code != 200 ]] || check_eq "the PUT was acknowledged: all rules on disk" $((NSG * NRULE)) "$n_disk"
	case $tamper in
	table)
		check "the orphaned table can be deleted while no daemon runs" \
			ip netns exec "$NS" nft delete table inet vrouter
		;;
	flush)
		check "nft flush ruleset while no daemon runs takes the orphaned table too" \
			eval 'ip netns exec "$NS" nft flush ruleset && ! ip netns exec "$NS" nft list table inet vrouter'
		foreign_nft_again
		;;
	rule)
		h=$(ip netns exec "$NS" nft -a list table inet vrouter | awk '/ handle [0-9]+$/ && /accept|drop|jump|goto/ { h = $NF } END { print h }')
		ch=$(ip netns exec "$NS" nft -a list table inet vrouter | awk -v h="$h" '/^\tchain / { c = $2 } $NF == h { print c; exit }')
		check "a rule of the orphaned table deleted by hand (chain $ch handle $h)" \
			ip netns exec "$NS" nft delete rule inet vrouter "$ch" handle "$h"
		;;
	esac
	restart_and_converge "$what"
	n_get=$(jq '[.security_group_rules[] | select(.id | startswith("sgr-f"))] | length' "$E2E_TMP/after.json")
	check_eq "GET /v1/config agrees with the crash image" "$n_disk" "$n_get"
	check_poll "$what: table inet vrouter equals a fresh daemon's" 2 table_matches_ref
	check "$what: the table is owned again (delete refused)" nft_refused
	after_restart_checks "$what"
}

mid=$((T_SG / 2))
((mid > 999)) && mid=999
crash_sg 5 none
crash_sg "$mid" table
crash_sg $((mid / 2 + 1)) rule
crash_sg $((T_SG * 9 / 10 > 999 ? 999 : T_SG * 9 / 10)) none
crash_sg $((mid * 3 / 2 > 999 ? 999 : mid * 3 / 2)) flush

e2e_step "(c) kill -9 right after a 201 for a new rule"
e2e_api "$NS" POST /v1/security-group-rules '{"security_group_id":"sg-a1","direction":"ingress","protocol":"udp","port_from":4711,"port_to":4711,"cidr":"10.9.9.0/24"}' >/dev/null
code=$(e2e_last_status)
e2e_kill9 "$NS"
check_eq "the POST was acknowledged" 201 "$code"
RID=$(e2e_jq .id)
restart_and_converge "kill -9 right after a rule's 201"
e2e_api "$NS" GET "/v1/security-group-rules/$RID" >/dev/null
e2e_expect_status 200 "the acknowledged rule is there"
check "port 4711 in table inet vrouter" eval 'ip netns exec "$NS" nft list table inet vrouter | grep 4711 >/dev/null'
check_poll "table inet vrouter equals a fresh daemon's" 2 table_matches_ref
check "the table is owned again (delete refused)" nft_refused
after_restart_checks "kill -9 right after a rule's 201"

# ---------------------------------------------------------------- the end

e2e_step "the end"
check_eq "50 foreign routes" 50 "$(fault_static_routes "$NS")"
check "foreign state as at the start" foreign_intact
kill "${E2E_BG_PIDS[0]}" 2>/dev/null || true
foreign_deleted=$(grep -E '^Deleted' "$MONITOR" |
	grep -E 'proto static|lookup 300|172\.1[678]\.|192\.168\.150\.1/24|fd00:150::1/64' || true)
check_eq "ip monitor saw no foreign route, rule or address deleted" "" "$foreign_deleted"
e2e_log "kill points of the 5,000-route PUT: $(printf '[%s] ' "${OUTCOMES[@]}")"
e2e_log "convergence after restarts: $(fault_stats "${TIMES_CONVERGE[@]}") (from /healthz to kernel = GET /v1/config)"
e2e_log "convergence samples (ms): ${TIMES_CONVERGE[*]}"

e2e_done
