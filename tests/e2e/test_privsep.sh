#!/usr/bin/env bash
# Privilege separation (core/privsep.h): vrouterd started as root in a namespace is two
# processes. The front end, which owns the listening socket and parses HTTP and JSON,
# runs as the user vrouter with every capability set empty and no_new_privs; the
# privileged process keeps CAP_NET_ADMIN and owns no listening socket. Routes, subnets
# and a security group still reach the kernel through it; killing either ends both;
# SIGTERM to the started pid stops both cleanly; `ip netns pids | xargs kill` leaves
# nothing; --user naming a missing user is refused with the fix.
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

e2e_init privsep
command -v ss >/dev/null || e2e_fatal "ss (iproute2) is missing"
id -u vrouter >/dev/null 2>&1 || e2e_fatal "no user vrouter: deploy/setup.sh test creates it"
VR_UID=$(id -u vrouter)

e2e_ns r
R=$E2E_NS
e2e_ns h
H=$E2E_NS
e2e_link "$R" eth0 "$H" eth0
ip -n "$R" addr add 192.168.70.1/24 dev eth0
ip -n "$H" addr add 192.168.70.2/24 dev eth0

# children PID: the pids whose parent is PID.
children() { pgrep -P "$1" || true; }
# listening PID: the TCP sockets PID listens on (ss in the namespace), one a line.
listening() { ip netns exec "$R" ss -Htlnp | grep "pid=$1," || true; }
status_of() { cat "/proc/$1/status"; }
gone() { ! harness_alive "$1"; }

e2e_step "two processes: the front end without privilege, the kernel side with CAP_NET_ADMIN"
e2e_daemon "$R"
FRONT=${E2E_DAEMON_PID[$R]}
PRIV=$(children "$FRONT")
check_eq "the started process has one child" 1 "$(wc -w <<<"$PRIV")"
check_eq "both are vrouterd" "vrouterd vrouterd" "$(cat "/proc/$FRONT/comm") $(cat "/proc/$PRIV/comm")"
# vrouterd starts itself again with glibc's per-thread malloc caches off (server/main.c,
# malloc_tunables); /proc/PID/environ is what a process was started with.
tunables() { tr '\0' '\n' <"/proc/$1/environ" | sed -n 's/^GLIBC_TUNABLES=//p'; }
check_eq "both run with glibc's per-thread malloc caches off" \
	"glibc.malloc.tcache_count=0 glibc.malloc.tcache_count=0" "$(tunables "$FRONT") $(tunables "$PRIV")"
check_match "the front end owns the listening socket" '127\.0\.0\.1:' "$(listening "$FRONT")"
check_eq "the privileged process owns none" "" "$(listening "$PRIV")"
st=$(status_of "$FRONT")
check_match "the front end runs as user vrouter ($VR_UID)" "^Uid:	$VR_UID	$VR_UID	$VR_UID	$VR_UID$" "$st"
check_match "in its group" "^Gid:	$(id -g vrouter)	" "$st"
check_match "with no supplementary group" '^Groups:[[:space:]]*$' "$st"
for set in CapInh CapPrm CapEff CapBnd CapAmb; do
	check_match "front end $set: empty" "^$set:	0000000000000000$" "$st"
done
check_match "front end: no new privileges" '^NoNewPrivs:	1$' "$st"
pst=$(status_of "$PRIV")
# CAP_NET_ADMIN (bit 12) and CAP_NET_RAW (bit 13): 0x3000; root's other capabilities go.
for set in CapEff CapPrm CapBnd; do
	check_match "privileged process $set: CAP_NET_ADMIN and CAP_NET_RAW only" "^$set:	0000000000003000$" "$pst"
done
check_match "privileged process: no new privileges" '^NoNewPrivs:	1$' "$pst"
check "the database is the front end's" test "$(stat -c %u "$(e2e__daemon_dir "$R")/vrouter.db")" = "$VR_UID"
check_eq "the token file is the front end's, 0600" "$VR_UID 600" "$(stat -c '%u %a' "$(e2e_token_file "$R")")"
check_match "the log says how it runs" 'front end runs as user vrouter with no capability' \
	"$(cat "$(e2e__daemon_dir "$R")/vrouterd.log")"

e2e_step "everything still reaches the kernel"
e2e_api "$R" POST '/v1/subnets?require_active=true' \
	'{"name":"lan","cidr":"192.168.71.0/24","interface":"eth0","router_ip":"192.168.71.1"}' >/dev/null
e2e_expect_status 201 "a subnet, applied"
check_match "its address is on eth0" 'inet 192\.168\.71\.1/24 ' "$(ip -n "$R" addr show eth0)"
e2e_api "$R" POST '/v1/routes?require_active=true' '{"id":"rt-0a","destination":"10.71.0.0/16","via":"192.168.70.2"}' >/dev/null
e2e_expect_status 201 "a route, applied"
check_match "the route is in the kernel" '^10\.71\.0\.0/16 via 192\.168\.70\.2 dev eth0 proto vrouter' "$(ip -n "$R" route show)"
e2e_api "$R" POST '/v1/routes?require_active=true' '{"destination":"10.72.0.0/16","via":"10.9.9.9"}' >/dev/null
e2e_expect_status 422 "a route the kernel refuses: its reason crosses back"
check_match "the kernel's reason" 'gateway 10\.9\.9\.9 is not on any connected network' "$(e2e_jq .detail)"
e2e_api "$R" POST '/v1/security-groups?require_active=true' '{"id":"sg-0a","name":"g","targets":["local"]}' >/dev/null
e2e_expect_status 201 "a security group, applied"
e2e_api "$R" POST '/v1/security-group-rules?require_active=true' \
	'{"security_group_id":"sg-0a","direction":"ingress","protocol":"icmp","cidr":"192.168.70.0/24"}' >/dev/null
e2e_expect_status 201 "a rule, applied"
check_match "table inet vrouter holds the rule's network" '192\.168\.70\.0/24' \
	"$(ip netns exec "$R" nft list table inet vrouter)"
check "ping from h passes the group" e2e_in "$H" ping -c1 -W2 192.168.70.1
e2e_api "$R" GET /v1/interfaces >/dev/null
e2e_expect_status 200 "links through the query channel"
check_match "eth0 with its addresses" '192\.168\.71\.1/24' "$(e2e_last_body)"
e2e_api "$R" GET /v1/security-groups/sg-0a >/dev/null
check_eq "the group is active (the table read back and compared)" active "$(e2e_jq .status.state)"

e2e_step "drift: a change made by someone else is noticed and undone"
ip -n "$R" route del 10.71.0.0/16
check_poll "the route is back (a notification crossed to the front end)" 10 \
	eval '[[ -n $(ip -n "$R" route show 10.71.0.0/16 proto 245) ]]'
check "another process cannot change table inet vrouter (the privileged process owns it)" \
	bash -c "! ip netns exec '$R' nft flush table inet vrouter 2>/dev/null"

e2e_step "a GET answered again from the front end's cache is never stale (server/http_cache.h)"
e2e_link "$R" eth1 "$H" eth1
ip -n "$R" addr add 192.168.72.1/24 dev eth1
e2e_api "$R" POST '/v1/routes?require_active=true' '{"id":"rt-0c","destination":"10.73.0.0/16","via":"192.168.72.2","description":"one"}' >/dev/null
e2e_expect_status 201 "a route via eth1, applied"
e2e_api "$R" GET /v1/routes/rt-0c >/dev/null
TAG=$(e2e_header ETag)
e2e_api "$R" GET /v1/routes/rt-0c >/dev/null
check_eq "asked again: the same answer and ETag" "active $TAG" "$(e2e_jq .status.state) $(e2e_header ETag)"
e2e_api "$R" GET /v1/routes/rt-0c '' -H "If-None-Match: $TAG" >/dev/null
e2e_expect_status 304 "If-None-Match naming it: 304"
e2e_api "$R" PUT /v1/routes/rt-0c '{"destination":"10.73.0.0/16","via":"192.168.72.2","description":"two"}' >/dev/null
e2e_expect_status 200 "a write"
e2e_api "$R" GET /v1/routes/rt-0c '' -H "If-None-Match: $TAG" >/dev/null
check_eq "the old ETag no longer matches: the write is seen" "200 two" "$(e2e_last_status) $(e2e_jq .description)"
TAG=$(e2e_header ETag)
# No write: the kernel drops the route with its link, the repair fails, the reconciler records it.
ip -n "$R" link set eth1 down
check_poll "the status the reconciler records without a write is seen: failed" 10 \
	eval '[[ $(e2e_api "$R" GET /v1/routes/rt-0c | jq -r .status.state) == failed ]]'
check_not "with a new ETag" test "$(e2e_header ETag)" = "$TAG"
e2e_api "$R" DELETE /v1/routes/rt-0c >/dev/null
e2e_expect_status 204 "a delete"
e2e_api "$R" GET /v1/routes/rt-0c >/dev/null
e2e_expect_status 404 "then GET: 404"

e2e_step "SIGTERM to the started process stops both"
e2e_stop "$R"
check_poll "the privileged process is gone" 5 gone "$PRIV"
check_eq "nothing left in the namespace" "" "$(ip netns pids "$R")"
check_match "routes stay in the kernel" '^10\.71\.0\.0/16 ' "$(ip -n "$R" route show proto 245)"

e2e_step "killing the privileged process ends the front end"
e2e_daemon "$R"
FRONT=${E2E_DAEMON_PID[$R]}
PRIV=$(children "$FRONT")
kill -KILL "$PRIV"
check_poll "the front end exits" 10 gone "$FRONT"
check_match "and says why" 'the privileged process ended' "$(cat "$(e2e__daemon_dir "$R")/vrouterd.log")"
wait "$FRONT" 2>/dev/null || true
unset "E2E_DAEMON_PID[$R]"
check_eq "nothing left in the namespace" "" "$(ip netns pids "$R")"

e2e_step "killing the front end (SIGKILL) ends the privileged process"
e2e_daemon "$R"
FRONT=${E2E_DAEMON_PID[$R]}
PRIV=$(children "$FRONT")
e2e_kill9 "$R"
check_poll "the privileged process exits" 10 gone "$PRIV"
check_eq "nothing left in the namespace" "" "$(ip netns pids "$R")"

e2e_step "ip netns pids | xargs kill leaves nothing"
e2e_daemon "$R"
FRONT=${E2E_DAEMON_PID[$R]}
ip netns pids "$R" | xargs kill
check_poll "both are gone" 10 eval '[[ -z $(ip netns pids "$R") ]]'
wait "$FRONT" 2>/dev/null || true
unset "E2E_DAEMON_PID[$R]"

e2e_step "--user naming a missing user: refused with the fix"
NOUSER=vrnouser$RANDOM
e2e_daemon_fails "$R" --user "$NOUSER"
check_eq "exit status 78" 78 "$E2E_EXIT"
check_match "the message names the user and the fix" "user $NOUSER.*does not exist.*useradd --system" "$E2E_OUT"
check_eq "nothing left in the namespace" "" "$(ip netns pids "$R")"

e2e_step "a database directory the user cannot write: refused with the fix"
mkdir -m 755 "$E2E_TMP/rootonly"
e2e_daemon_fails "$R" --db "$E2E_TMP/rootonly/vrouter.db"
check_eq "exit status 78" 78 "$E2E_EXIT"
check_match "the message names the directory and the fix" "$E2E_TMP/rootonly is not writable by user vrouter.*chown vrouter: $E2E_TMP/rootonly" "$E2E_OUT"
check_eq "nothing was created there" "" "$(ls -A "$E2E_TMP/rootonly")"

e2e_step "a missing state directory is created for the user"
e2e_daemon "$R" --db "$E2E_TMP/new/state/vrouter.db" --take-over
check_eq "created, the user's, 0700" "$VR_UID 700" "$(stat -c '%u %a' "$E2E_TMP/new/state")"
e2e_stop "$R"

e2e_done
