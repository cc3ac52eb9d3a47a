#!/usr/bin/env bash
# Security groups across the daemon's life (kernel ownership), on the seed lab's router:
# a forward guard (192.168.100.2: tcp/12345 from 192.168.150.0/24) and a `local` guard
# (the router itself: icmp from 192.168.150.0/24).
#   (i)  a daemon started with no groups never creates `table inet vrouter` (nft monitor
#        sees nothing, through start, resyncs and a restart);
#   (e)  while the daemon runs, `nft delete table`, `nft flush table`, `nft add rule` on
#        its table are refused and `nft flush ruleset` leaves it intact; kill -9: the
#        guard holds (blocked stays blocked, allowed stays allowed, the table is still
#        listed, unchanged); restart: the table exists right after /healthz with the
#        same content, was never missing (a tight `nft list tables` loop and nft monitor:
#        every transaction that deletes the table creates it again), belongs to the new
#        process; the same across a SIGTERM stop and start;
#   (i)  deleting the last group removes the table; restarts then create nothing;
#   (f)  a foreign table `inet foreign` is untouched through all of it.
# shellcheck disable=SC2317,SC2016 # helpers run through check; sh -c scripts
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/e2e/sg_lib.sh
. "$HERE/sg_lib.sh"
# shellcheck source=deploy/lab-topology.sh
. "${VR_SRC:-$HERE/../..}/deploy/lab-topology.sh"

e2e_init sg_lifecycle

# ---------------------------------------------------------------- helpers

# The table's content without its header (flags and owner change with the owning
# process), its objects (sets, maps, chains, counters: blank-line separated blocks)
# sorted, since a rebuilt table lists them in creation order: what the kernel enforces.
vbody() {
	vtable "$1" | grep -Ev '^table inet vrouter|^[[:space:]]*flags [a-z,]*[[:space:]]*$|^}$' |
		awk 'BEGIN { RS = "" } { gsub(/\n/, "\001"); print }' | LC_ALL=C sort | tr '\001' '\n'
}

api() { # api METHOD PATH [JSON]: a call to the router's daemon; the answer's id in $ID
	e2e_api "$R" "$@" >/dev/null
	ID=$(e2e_jq '.id // empty')
}

# unsafe_deletes NAME: nft transactions (between "# new generation" lines) that delete
# table inet vrouter without creating it again afterwards, as "generation: lines".
unsafe_deletes() {
	awk '
		/^delete table inet vrouter$/ { del = 1; re = 0; next }
		/^(add|create) table inet vrouter$/ { if (del) re = 1; next }
		/^# new generation/ { if (del && !re) print; del = 0; re = 0 }
		END { if (del && !re) print "(unterminated transaction)" }' "$E2E_TMP/$1.mon"
}
replacements() { # replacements NAME: transactions that deleted and re-created the table
	awk '
		/^delete table inet vrouter$/ { del = 1; next }
		/^(add|create) table inet vrouter$/ { if (del) re = 1; next }
		/^# new generation/ { if (del && re) n++; del = 0; re = 0 }
		END { print n + 0 }' "$E2E_TMP/$1.mon"
}

# The guard: checks that must hold whenever the groups are in the kernel.
guard_holds() {
	local when=$1
	check "$when: tcp net01 -> net02:12345 allowed" tcp_ok "$N1" "$N2" 192.168.100.2 12345
	check "$when: tcp net01 -> net02:12346 blocked" tcp_blocked "$N1" "$N2" 192.168.100.2 12346
	check "$when: ping net01 -> router allowed" ping_ok "$N1" 192.168.150.3
	check "$when: ping net02 -> router blocked" ping_fails "$N2" 192.168.100.3
}
refused() { ! ip netns exec "$R" "$@"; }
# not_tampered WHAT: the table is unchanged since T0 was taken.
not_tampered() { check_eq "$1: nft list table inet vrouter unchanged" "$T0" "$(vbody "$R")"; }

# ---------------------------------------------------------------- the lab

e2e_step "build the lab; routes by hand on net01 and net02"
sg_lab -4

e2e_step "(i) a daemon with no groups never creates the table"
monitor_start "$R" empty
e2e_daemon "$R" --resync-interval 1
sleep 2.5 # two full resyncs
e2e_restart "$R"
sleep 1.5
e2e_kill9 "$R"
e2e_daemon "$R" --resync-interval 1
sleep 1.5
monitor_stop
check_eq "nft monitor: no event about table inet vrouter (start, resyncs, restarts)" "" "$(vrouter_events empty)"
check_not "no table inet vrouter" has_vtable "$R"
check "tcp net01 -> net02:12346 unfiltered" tcp_ok "$N1" "$N2" 192.168.100.2 12346

e2e_step "groups: server (192.168.100.2, tcp/12345 from 192.168.150.0/24), self (local, icmp from it)"
api POST /v1/security-groups '{"name":"server","targets":["192.168.100.2"]}'
e2e_expect_status 201 "POST group server"
GS=$ID
api POST /v1/security-group-rules "{\"security_group_id\":\"$GS\",\"direction\":\"ingress\",\"protocol\":\"tcp\",\"port_from\":12345,\"port_to\":12345,\"cidr\":\"192.168.150.0/24\"}"
e2e_expect_status 201 "POST rule tcp/12345"
RS=$ID
api POST /v1/security-groups '{"name":"self","targets":["local"]}'
e2e_expect_status 201 "POST group self (local)"
GL=$ID
api POST /v1/security-group-rules "{\"security_group_id\":\"$GL\",\"direction\":\"ingress\",\"protocol\":\"icmp\",\"cidr\":\"192.168.150.0/24\"}"
e2e_expect_status 201 "POST rule icmp"
RL=$ID
check "table inet vrouter exists" has_vtable "$R"
guard_holds "daemon running"
T0=$(vbody "$R")

e2e_step "(e) while the daemon runs its table cannot be deleted or changed by others"
check "nft delete table inet vrouter is refused" refused nft delete table inet vrouter
check "nft flush table inet vrouter is refused" refused nft flush table inet vrouter
check "nft add rule inet vrouter input accept is refused" refused nft add rule inet vrouter input accept
check "nft delete chain inet vrouter forward_in is refused" refused nft delete chain inet vrouter forward_in
ip netns exec "$R" nft flush ruleset || true
check "table inet vrouter still listed after nft flush ruleset" has_vtable "$R"
not_tampered "after the refused changes and nft flush ruleset"
guard_holds "after nft flush ruleset"

e2e_step "(f) a foreign table appears beside ours"
ip netns exec "$R" nft add table inet foreign
ip netns exec "$R" nft add chain inet foreign input '{ type filter hook input priority 10; policy accept; }'
ip netns exec "$R" nft add rule inet foreign input tcp dport 9999 accept
FOREIGN=$(foreign "$R")
sleep 1.5 # a resync or two with the foreign table there
check_eq "foreign table untouched by resyncs" "$FOREIGN" "$(foreign "$R")"

e2e_step "(e) kill -9: the guard holds"
e2e_kill9 "$R"
check "table inet vrouter still listed after kill -9" has_vtable "$R"
not_tampered "after kill -9"
guard_holds "after kill -9"
check_eq "foreign table untouched after kill -9" "$FOREIGN" "$(foreign "$R")"

e2e_step "(e) restart after kill -9: the table is replaced atomically, same rules"
monitor_start "$R" restart
stop="$E2E_TMP/hammer.stop"
hammer="$E2E_TMP/hammer.out"
e2e_bg "$R" timeout 60 sh -c 'while [ ! -e "$1" ]; do if nft list tables | grep -x "table inet vrouter" >/dev/null; then echo present; else echo MISSING; fi; done >"$2"' sh "$stop" "$hammer"
HAMMER=$E2E_BG
sleep 0.2
e2e_daemon "$R" --resync-interval 1
right_after=$(vbody "$R")
check_eq "right after /healthz the table holds the same rules" "$T0" "$right_after"
sleep 0.5
touch "$stop"
e2e_poll 5 sh -c '! kill -0 "$1" 2>/dev/null' sh "$HAMMER" || kill "$HAMMER" 2>/dev/null || true
sleep 0.3
monitor_stop
check_eq "nft list tables in a loop through the restart: never without table inet vrouter" \
	"0" "$(grep -c MISSING "$hammer" || true)"
check_match "the loop ran ($(grep -c present "$hammer" || true) listings)" '^[1-9]' "$(grep -c present "$hammer" || true)"
check_eq "nft monitor: no transaction deletes the table without re-creating it" "" "$(unsafe_deletes restart)"
check_match "nft monitor: the restart replaced the table in one transaction" '^[1-9]' "$(replacements restart)"
check "the new process owns it: nft delete table inet vrouter is refused" refused nft delete table inet vrouter
not_tampered "after the restart"
guard_holds "after the restart"
e2e_api "$R" GET /v1/security-group-rules >/dev/null
check_eq "both rules active after the restart" "active active" "$(e2e_jq '[.items[].status.state] | join(" ")')"
e2e_api "$R" GET /v1/security-groups >/dev/null
check_eq "both groups active after the restart" "active active" "$(e2e_jq '[.items[].status.state] | join(" ")')"
check_eq "foreign table untouched after the restart" "$FOREIGN" "$(foreign "$R")"

e2e_step "(e) SIGTERM stop leaves the guard in place; start again"
e2e_stop "$R"
check "table inet vrouter still listed after SIGTERM" has_vtable "$R"
not_tampered "after SIGTERM"
check "after SIGTERM: tcp net01 -> net02:12346 blocked" tcp_blocked "$N1" "$N2" 192.168.100.2 12346
check "after SIGTERM: tcp net01 -> net02:12345 allowed" tcp_ok "$N1" "$N2" 192.168.100.2 12345
e2e_daemon "$R" --resync-interval 1
check "right after the start: table listed" has_vtable "$R"
not_tampered "after SIGTERM and start"
check "owned again: nft delete table inet vrouter is refused" refused nft delete table inet vrouter
guard_holds "after SIGTERM and start"
check_eq "foreign table untouched after SIGTERM and start" "$FOREIGN" "$(foreign "$R")"

e2e_step "(i) deleting the last group removes the table"
api DELETE "/v1/security-group-rules/$RL"
e2e_expect_status 204 "DELETE rule icmp"
check "ping net01 -> router blocked by the rule-less self" ping_fails "$N1" 192.168.150.3
api DELETE "/v1/security-groups/$GS"
e2e_expect_status 204 "DELETE group server, its rule still there"
api GET "/v1/security-group-rules/$RS"
e2e_expect_status 404 "its rule went with it"
check "table still there: group self remains" has_vtable "$R"
check "tcp net01 -> net02:12346 unfiltered (no group covers 192.168.100.2)" tcp_ok "$N1" "$N2" 192.168.100.2 12346
api DELETE "/v1/security-groups/$GL"
e2e_expect_status 204 "DELETE group self, the last one"
check_not "no table inet vrouter once the last group is gone" has_vtable "$R"
check "ping net02 -> router passes" ping_ok "$N2" 192.168.100.3
check_eq "foreign table untouched" "$FOREIGN" "$(foreign "$R")"

e2e_step "(i) with nothing left, restarts create nothing"
monitor_start "$R" after
e2e_restart "$R"
sleep 1.5
e2e_kill9 "$R"
e2e_daemon "$R" --resync-interval 1
sleep 1.5
monitor_stop
check_eq "nft monitor: no event about table inet vrouter" "" "$(vrouter_events after)"
check_not "no table inet vrouter" has_vtable "$R"
check_eq "foreign table untouched at the end" "$FOREIGN" "$(foreign "$R")"

e2e_done
