#!/usr/bin/env bash
# Start-up safety: vrouterd never fails open, runs once per namespace and per database,
# refuses a damaged database or token file, says when its store cannot be read, and
# survives SIGHUP.
#
#   (a) a new database (and one holding only a route table) in a namespace with owned
#       routes, a policy rule, an address and table inet vrouter: refused (exit 78), the
#       message names what was found and the flags --take-over and --import-owned; the
#       kernel is untouched and the guard still drops. --import-owned is refused while
#       table inet vrouter exists (security groups cannot be read back).
#   (b) --import-owned without the table: the routes, the route table and the subnet
#       with its association become desired state, no route, rule or address event
#       during the start (ip monitor), every route active in the API.
#   (c) a second vrouterd in the same namespace (other database and port) refuses and
#       names the first's pid; the first keeps working. A vrouterd in another namespace
#       on the same database file refuses and names the pid holding the lock.
#   (d) --take-over: starts on a new database and logs each object it removes.
#   (e) modes: a database created in an existing folder is 0600, and so are its -wal,
#       -shm and lock files; a created token is 64 hex characters, 0600.
#   (f) bad token files are refused at start with the file and the problem named: mode
#       0644, 0640, 0604, 31 characters, 256 bytes, a control character, empty; 32 and
#       255 characters are accepted.
#   (g) SIGHUP: logged, the daemon keeps running and reloads a changed token (old 401,
#       new 200); a bad token file on SIGHUP keeps the old token.
#   (h) a database with overwritten pages is refused at start, naming the path and
#       SQLite's words; /healthz answers 503 problem+json when the database file is
#       corrupted, or deleted, under a running daemon.
# shellcheck disable=SC2317,SC2016 # helpers run through check; sh -c scripts
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/e2e/sg_lib.sh
. "$HERE/sg_lib.sh"

e2e_init startup
command -v sqlite3 >/dev/null || e2e_fatal "sqlite3 is needed (deploy/setup.sh installs it)"

REFUSED=78 # EX_CONFIG: deploy/vrouterd.service does not restart on it

# ---------------------------------------------------------------- helpers

# owned NS: what vrouter owns in NS, as text (routes, rules, addresses, table inet vrouter).
owned() {
	ip -n "$1" -4 route show table all proto 245
	ip -n "$1" -6 route show table all proto 245
	ip -n "$1" -4 rule show | grep -E 'proto (245|vrouter)' || true
	ip -n "$1" -6 rule show | grep -E 'proto (245|vrouter)' || true
	ip -n "$1" -br addr show
	if has_vtable "$1"; then vtable "$1"; fi
}
api() { e2e_api "$@" >/dev/null; }
post_id() { # post_id NS PATH JSON: POST expecting 201; the new id on stdout
	e2e_api "$1" POST "$2" "$3" >/dev/null
	[[ $(e2e_last_status) == 201 ]] || e2e_fatal "POST $2 $3: HTTP $(e2e_last_status)" "$(e2e_last_body)"
	e2e_jq .id
}
logof() { cat "$(e2e__daemon_dir "$1")/vrouterd.log"; }
mode() { stat -c %a "$1"; }
converged() {
	e2e_api "$1" GET /v1/status >/dev/null
	[[ $(e2e_jq .converged) == true && $(e2e_jq '.failed.routes + .failed.other') == 0 ]]
}
# refused WHAT: the last e2e_daemon_fails exited with REFUSED.
refused() {
	check_eq "$1: refused with exit status $REFUSED" "$REFUSED" "$E2E_EXIT"
}
# corrupt FILE FIRST COUNT: overwrite COUNT pages (4096 bytes) from page FIRST (1-based).
corrupt() {
	dd if=/dev/urandom of="$1" bs=4096 seek=$(($2 - 1)) count="$3" conv=notrunc status=none
}

# ---------------------------------------------------------------- the namespaces

e2e_step "set-up: namespaces R and P (veth eth0, eth1), spare namespace Q"
e2e_ns r
R=$E2E_NS
e2e_ns p
P=$E2E_NS
e2e_ns q
Q=$E2E_NS
e2e_link "$R" eth0 "$P" eth0
e2e_link "$R" eth1 "$P" eth1
ip -n "$R" addr add 192.168.150.3/24 dev eth0
ip -n "$R" -6 addr add fd00:150::3/64 dev eth0 nodad
ip -n "$P" addr add 192.168.150.2/24 dev eth0
ip -n "$P" -6 addr add fd00:150::2/64 dev eth0 nodad

e2e_step "(a) set-up: routes, a subnet associated with a table, a local guard in R"
e2e_daemon "$R"
T=$(post_id "$R" /v1/route-tables '{"name":"iso","table":10007}')
post_id "$R" /v1/routes '{"destination":"10.20.0.0/16","via":"192.168.150.2"}' >/dev/null
post_id "$R" /v1/routes '{"route_table_id":"'"$T"'","destination":"10.30.0.0/16","type":"blackhole"}' >/dev/null
post_id "$R" /v1/routes '{"destination":"fd00:20::/64","via":"fd00:150::2"}' >/dev/null
post_id "$R" /v1/subnets '{"name":"s1","cidr":"192.168.160.0/24","interface":"eth1","router_ip":"192.168.160.1","route_table_id":"'"$T"'"}' >/dev/null
G=$(post_id "$R" /v1/security-groups '{"name":"self","targets":["local"]}')
post_id "$R" /v1/security-group-rules '{"security_group_id":"'"$G"'","direction":"ingress","protocol":"tcp","port_from":22,"port_to":22,"cidr":"0.0.0.0/0"}' >/dev/null
check_poll "R converged" 5 converged "$R"
check "the guard drops P's ping to R" ping_fails "$P" 192.168.150.3
e2e_stop "$R"
BEFORE=$(owned "$R")
nroutes() { (ip -n "$1" -4 route show table all proto 245; ip -n "$1" -6 route show table all proto 245) | wc -l; }
# Three routes of R's own, and the association's copies of its two connected networks
# (eth0, eth1) in table 10007.
check_eq "R holds five owned routes after the stop (three, two copies)" 5 "$(nroutes "$R")"
check_eq "and two owned policy rules (lookup, unreachable)" 2 "$(ip -n "$R" rule show | grep -cE 'proto (245|vrouter)')"
check "and table inet vrouter" has_vtable "$R"

e2e_step "(a) a new database in R: refused, nothing touched"
e2e_daemon_fails "$R" --db "$E2E_TMP/new1/vrouter.db"
refused "new database"
check_match "the message says the database holds no desired state" 'no desired state' "$E2E_OUT"
check_match "the message names the database" "$E2E_TMP/new1/vrouter.db" "$E2E_OUT"
check_match "the message counts 5 routes" '5 routes' "$E2E_OUT"
check_match "the message gives a route as example" '10\.20\.0\.0/16 via 192\.168\.150\.2' "$E2E_OUT"
check_match "the message counts 2 policy rules" '2 policy rules' "$E2E_OUT"
check_match "the message shows the rule" 'from 192\.168\.160\.0/24 lookup 10007' "$E2E_OUT"
check_match "the message counts 1 address" '1 address' "$E2E_OUT"
check_match "the message shows the address" '192\.168\.160\.1/24 dev eth1' "$E2E_OUT"
check_match "the message names table inet vrouter" 'table inet vrouter' "$E2E_OUT"
check_match "the message names the flag that takes over" '--take-over' "$E2E_OUT"
check_match "the message names the flag that imports" '--import-owned' "$E2E_OUT"
check_eq "the kernel is untouched" "$BEFORE" "$(owned "$R")"
check "the guard still drops P's ping" ping_fails "$P" 192.168.150.3

e2e_step "(a) a database holding only a route table: refused too"
e2e_daemon "$Q" --db "$E2E_TMP/tables-only/vrouter.db"
post_id "$Q" /v1/route-tables '{"name":"only","table":10009}' >/dev/null
e2e_stop "$Q"
e2e_daemon_fails "$R" --db "$E2E_TMP/tables-only/vrouter.db"
refused "database with only a route table"
check_match "the message counts 5 routes" '5 routes' "$E2E_OUT"
check_eq "the kernel is untouched" "$BEFORE" "$(owned "$R")"

e2e_step "(a) --import-owned while table inet vrouter exists: refused"
e2e_daemon_fails "$R" --db "$E2E_TMP/new1/vrouter.db" --import-owned
refused "import with the table present"
check_match "the message says the table cannot be imported" 'table inet vrouter.*cannot be imported|cannot import.*table inet vrouter' "$E2E_OUT"
check_eq "the kernel is untouched" "$BEFORE" "$(owned "$R")"
check "the guard still drops P's ping" ping_fails "$P" 192.168.150.3
check_eq "nothing was imported into the new database" "0" \
	"$(sqlite3 "$E2E_TMP/new1/vrouter.db" 'SELECT count(*) FROM routes' 2>/dev/null || echo 0)"

e2e_step "(b) remove the group through the original database, then import into a new one"
e2e_daemon "$R"
api "$R" DELETE "/v1/security-groups/$G"
e2e_expect_status 204 "DELETE the group"
check_poll "no table inet vrouter" 3 eval '! has_vtable "$R"'
e2e_stop "$R"
BEFORE=$(owned "$R")
MON=$E2E_TMP/monitor.import
e2e_bg "$R" sh -c 'exec ip monitor route rule address >"$1"' sh "$MON"
MONPID=$E2E_BG
sleep 0.3
e2e_daemon "$R" --db "$E2E_TMP/import/vrouter.db" --import-owned
check_poll "converged after the import" 5 converged "$R"
sleep 1.5 # a resync or a late apply would show in the monitor
kill "$MONPID" 2>/dev/null || true
check_eq "ip monitor: no route, rule or address event during the import start" "" "$(cat "$MON")"
check_eq "the kernel is unchanged" "$BEFORE" "$(owned "$R")"
api "$R" GET /v1/routes
check_eq "three routes in the API" 3 "$(e2e_jq '.items | length')"
check_eq "all active" "active active active" "$(e2e_jq '[.items[].status.state] | join(" ")')"
check_eq "10.20.0.0/16 via 192.168.150.2 dev eth0 in table main" "rtb-main 192.168.150.2 eth0" \
	"$(e2e_jq '.items[] | select(.destination == "10.20.0.0/16") | "\(.route_table_id) \(.via) \(.dev)"')"
check_eq "fd00:20::/64 via fd00:150::2" "fd00:150::2" "$(e2e_jq '.items[] | select(.destination == "fd00:20::/64") | .via')"
TI=$(e2e_jq '.items[] | select(.destination == "10.30.0.0/16") | .route_table_id')
check_eq "10.30.0.0/16 is a blackhole" "blackhole" "$(e2e_jq '.items[] | select(.destination == "10.30.0.0/16") | .type')"
api "$R" GET "/v1/route-tables/$TI"
check_eq "its route table has number 10007" 10007 "$(e2e_jq .table)"
api "$R" GET /v1/subnets
check_eq "the subnet: cidr, interface, router_ip, table" "192.168.160.0/24 eth1 192.168.160.1 $TI active" \
	"$(e2e_jq '.items[0] | "\(.cidr) \(.interface) \(.router_ip) \(.route_table_id) \(.status.state)"')"
check_match "the log says what was imported" 'imported 3 route\(s\), 1 subnet\(s\)' "$(logof "$R")"

e2e_step "(c) a second vrouterd in R: refused, naming the first"
PID1=${E2E_DAEMON_PID[$R]}
MON=$E2E_TMP/monitor.second
e2e_bg "$R" sh -c 'exec ip monitor route rule address >"$1"' sh "$MON"
MONPID=$E2E_BG
sleep 0.3
e2e_daemon_fails "$R" --db "$E2E_TMP/second/vrouter.db" --listen 127.0.0.1:8081
sleep 0.5
kill "$MONPID" 2>/dev/null || true
refused "second daemon in the namespace"
check_eq "ip monitor: no route, rule or address changed meanwhile" "" "$(cat "$MON")"
check_match "the message names the first's pid $PID1" "pid $PID1\\b" "$E2E_OUT"
check_match "the message says the namespace is managed" 'network namespace' "$E2E_OUT"
check "the first still runs" e2e__alive "$PID1"
post_id "$R" /v1/routes '{"destination":"10.40.0.0/16","via":"192.168.150.2"}' >/dev/null
check_poll "the first still applies writes" 3 eval '[[ -n $(ip -n "$R" route show 10.40.0.0/16 proto 245) ]]'
check_eq "six owned routes, none lost" 6 "$(nroutes "$R")"

e2e_step "(c) a vrouterd in P on R's database file: refused, naming the holder"
e2e_daemon_fails "$P" --db "$E2E_TMP/import/vrouter.db"
refused "second daemon on the database"
check_match "the message names the pid $PID1 holding the lock" "pid $PID1\\b" "$E2E_OUT"
check_match "the message names the database" "$E2E_TMP/import/vrouter.db" "$E2E_OUT"
check "the first still runs" e2e__alive "$PID1"
api "$R" GET /v1/routes
e2e_expect_status 200 "the first still answers"

e2e_step "(d) --take-over on a new database: starts, logs each removal"
api "$R" POST /v1/security-groups '{"name":"self","targets":["local"]}'
e2e_expect_status 201 "a guard again"
check_poll "the guard drops P's ping" 3 ping_fails "$P" 192.168.150.3
e2e_stop "$R"
e2e_daemon "$R" --db "$E2E_TMP/takeover/vrouter.db" --take-over
check_poll "no owned route left" 3 eval '[[ $(nroutes "$R") == 0 ]]'
check_poll "no table inet vrouter" 3 eval '! has_vtable "$R"'
LOG=$(logof "$R")
for what in '10\.20\.0\.0/16 via 192\.168\.150\.2' '10\.30\.0\.0/16' '10\.40\.0\.0/16' 'fd00:20::/64' \
	'from 192\.168\.160\.0/24 lookup 10007' '192\.168\.160\.1/24 dev eth1' 'table inet vrouter'; do
	check_match "the log says it removed $what" " info .*removed .*$what" "$LOG"
done
check "P's ping passes now (taken over, nothing desired)" ping_ok "$P" 192.168.150.3
e2e_stop "$R"

e2e_step "(e) modes of the files vrouterd creates"
mkdir -m 755 "$E2E_TMP/modes"
harness_state_dir "$E2E_TMP/modes" # the front end (user vrouter) keeps the database
umask 022
e2e_daemon "$P" --db "$E2E_TMP/modes/vrouter.db"
api "$P" POST /v1/route-tables '{"name":"m"}' # a write, so the -wal file has content
check_eq "the database is 0600" 600 "$(mode "$E2E_TMP/modes/vrouter.db")"
check_eq "its -wal is 0600" 600 "$(mode "$E2E_TMP/modes/vrouter.db-wal")"
check_eq "its -shm is 0600" 600 "$(mode "$E2E_TMP/modes/vrouter.db-shm")"
check_eq "its lock file is 0600" 600 "$(mode "$E2E_TMP/modes/vrouter.db.lock")"
TOKF=$(e2e_token_file "$P")
check_eq "the created token file is 0600" 600 "$(mode "$TOKF")"
check_match "the created token is 64 hex characters" '^[0-9a-f]{64}$' "$(cat "$TOKF")"

e2e_step "(g) SIGHUP reloads the token and keeps the daemon running"
PIDP=${E2E_DAEMON_PID[$P]}
OLD=$(e2e_token "$P")
NEW=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$NEW" >"$TOKF"
kill -HUP "$PIDP"
sleep 1
check "still running after SIGHUP" e2e__alive "$PIDP"
check_match "the log mentions SIGHUP" 'SIGHUP|Hangup' "$(logof "$P")"
status_with() { ip netns exec "$P" curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" "http://127.0.0.1:$E2E_PORT/v1/routes"; }
check_poll "the new token is accepted" 3 eval '[[ $(status_with "$NEW") == 200 ]]'
check_eq "the old token is refused" 401 "$(status_with "$OLD")"
printf 'short\n' >"$TOKF"
kill -HUP "$PIDP"
sleep 1
check "still running after SIGHUP with a bad token file" e2e__alive "$PIDP"
check_match "the log says the token file was refused" 'token file .*(at least 32|too short)' "$(logof "$P")"
check_eq "the token in force stays the new one" 200 "$(status_with "$NEW")"
check_eq "the bad one is not accepted" 401 "$(status_with short)"
printf '%s\n' "$NEW" >"$TOKF"
E2E_TOKEN[$P]=$NEW
e2e_stop "$P"

e2e_step "(f) bad token files are refused at start"
TOKDIR=$E2E_TMP/tokens
mkdir -m 700 "$TOKDIR"
harness_state_dir "$TOKDIR" # the front end (user vrouter) reads the token files
GOOD=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
# bad_token NAME MODE CONTENT ERE: refused, naming the file and the problem. CONTENT is
# printf-escaped (\n, \t).
bad_token() {
	local f=$TOKDIR/$1
	printf '%b' "$3" >"$f"
	chmod "$2" "$f"
	e2e_daemon_fails "$P" --db "$E2E_TMP/tok/vrouter.db" --token-file "$f"
	refused "token file $1"
	check_match "token file $1: the message names the file" "$f" "$E2E_OUT"
	check_match "token file $1: the message names the problem" "$4" "$E2E_OUT"
}
bad_token world-readable 644 "$GOOD\n" 'mode 0?644|readable'
bad_token group-readable 640 "$GOOD\n" 'mode 0?640|readable'
bad_token world-writable 602 "$GOOD\n" 'mode 0?602|writable|accessible'
bad_token short 600 "0123456789012345678901234567890\n" '31 characters.*at least 32|at least 32'
bad_token long 600 "$(printf 'a%.0s' {1..256})\n" '256 bytes.*at most 255|longer than 255'
bad_token control 600 "0123456789abcdef\x010123456789abcdef0123\n" 'control character'
bad_token empty 600 "" 'empty'
# ok_token NAME CONTENT: a daemon starts with it and accepts it.
ok_token() {
	local f=$TOKDIR/$1
	printf '%s\n' "$2" >"$f"
	chmod 600 "$f"
	e2e_daemon "$P" --db "$E2E_TMP/tok/vrouter.db" --token-file "$f"
	check_eq "a $1 token is accepted" 200 "$(status_with "$2")"
	e2e_stop "$P"
}
ok_token 32-chars "$(printf 'b%.0s' {1..32})"
ok_token 255-chars "$(printf 'c%.0s' {1..255})"

e2e_step "(h) a database with overwritten pages is refused at start"
e2e_daemon "$P" --db "$E2E_TMP/big/vrouter.db"
{
	printf '{"routes":['
	for ((i = 0; i < 300; i++)); do
		((i == 0)) || printf ','
		printf '{"destination":"10.%d.%d.0/24","via":"192.168.150.3","description":"route %d of the corruption test"}' $((100 + i / 256)) $((i % 256)) "$i"
	done
	printf ']}'
} >"$E2E_TMP/big.json"
api "$P" PUT /v1/config "@$E2E_TMP/big.json"
e2e_expect_status 200 "300 routes"
e2e_stop "$P"
harness_state_dir "$E2E_TMP/bad"
cp "$E2E_TMP/big/vrouter.db" "$E2E_TMP/bad/vrouter.db"
PAGES=$(($(stat -c %s "$E2E_TMP/bad/vrouter.db") / 4096))
check "the database has more than 20 pages ($PAGES)" test "$PAGES" -gt 20
corrupt "$E2E_TMP/bad/vrouter.db" $((PAGES / 2)) 4
e2e_daemon_fails "$P" --db "$E2E_TMP/bad/vrouter.db"
refused "corrupted database"
check_match "the message names the database" "$E2E_TMP/bad/vrouter.db" "$E2E_OUT"
check_match "the message gives SQLite's words" 'malformed|corrupt|btreeInitPage|Page [0-9]+|never used|invalid page' "$E2E_OUT"
check_match "the message says the check failed" 'integrity' "$E2E_OUT"
check_poll "the 300 routes are still in P's kernel" 2 eval '[[ $(ip -n "$P" route show proto 245 | wc -l) == 300 ]]'

e2e_step "(h) /healthz reports a database corrupted under a running daemon"
e2e_daemon "$P" --db "$E2E_TMP/big/vrouter.db"
e2e_curl "$P" GET /healthz >/dev/null
e2e_expect_status 200 "/healthz before"
corrupt "$E2E_TMP/big/vrouter.db" 2 $((PAGES - 1))
e2e_curl "$P" GET /healthz >/dev/null
e2e_expect_status 503 "/healthz after the pages were overwritten"
check_match "problem+json" '^application/problem\+json' "$(e2e_header Content-Type)"
check_match "the detail names the database and the problem" "$E2E_TMP/big/vrouter.db.*(malformed|corrupt)" "$(e2e_jq .detail)"
e2e_stop "$P"

e2e_step "(h) /healthz reports a database file deleted under a running daemon"
e2e_daemon "$Q" --db "$E2E_TMP/del/vrouter.db"
e2e_curl "$Q" GET /healthz >/dev/null
e2e_expect_status 200 "/healthz before"
rm "$E2E_TMP/del/vrouter.db"
e2e_curl "$Q" GET /healthz >/dev/null
e2e_expect_status 503 "/healthz after the file was deleted"
check_match "the detail says the file was deleted or replaced" 'deleted|replaced|moved' "$(e2e_jq .detail)"
e2e_stop "$Q"

e2e_done
