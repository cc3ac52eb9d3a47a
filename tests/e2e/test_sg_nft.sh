#!/usr/bin/env bash
# The security-group compiler and nftables adapter (core/sgc_*.c, core/nft.c) against the
# real kernel, through tests/e2e/sg_probe.c, in namespaces of the test's own (sg_probe
# refuses the root namespace): no daemon involved.
#   - dump: the compiled table without a kernel (API port honoured);
#   - apply: the full atomic batch, read back and compared (`check`); a table left by an
#     exited process is orphaned (flags 0x4, no owner) and still enforced (traffic);
#   - update: incremental batches (elements only, new chains and groups, IPv6, remote
#     groups, egress, a shrink, large tables, down to nothing) each read back equal;
#   - stale / badflags: a refused batch leaves the previous table in place;
#   - selfwatch: our own changes are not reported as drift; watch: others' changes to
#     our table are, changes to a foreign table are not;
#   - hold: while a process owns the table, nft delete / flush / add rule, another
#     sg_probe apply and delete are refused, `nft flush ruleset` leaves it; kill -9: it
#     stays (fail closed) and the next process takes it over in one transaction;
#   - delete: removes it, idempotently; a vrouterd on a new database refuses to start
#     over a table left by a previous run, and removes it with --take-over; a foreign
#     table is untouched throughout.
# shellcheck disable=SC2317,SC2016,SC2054 # helpers run through check; sh -c scripts; commas in specs
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

e2e_init sg_nft
SG_PROBE=${SG_PROBE:-$(dirname "$VROUTERD")/tests/sg_probe}
[[ -x $SG_PROBE ]] || e2e_fatal "sg_probe not found at $SG_PROBE: build it (cmake --build build --target sg_probe) or set SG_PROBE"
e2e_log "--- [$E2E_NAME] sg_probe $SG_PROBE"

# probe_rc WANT ARGS...: sg_probe ARGS in the guarded namespace exits WANT; its output
# is in $E2E_TMP/probe.out (and shown on failure).
probe_rc() {
	local want=$1 rc=0
	shift
	ip netns exec "$B" timeout 60 "$SG_PROBE" "$@" >"$E2E_TMP/probe.out" 2>&1 || rc=$?
	cat "$E2E_TMP/probe.out"
	((rc == want)) || {
		echo "sg_probe $1 exited $rc, expected $want"
		return 1
	}
}
probe_out() { cat "$E2E_TMP/probe.out"; }
has_vtable() { ip netns exec "$B" nft list tables | grep -x 'table inet vrouter' >/dev/null; } # no -q: no SIGPIPE for nft
foreign() { ip netns exec "$B" nft list table inet foreign; }
nft_refused() { ! ip netns exec "$B" nft "$@"; }
ping_fails() { ! ip netns exec "$A" ping -c1 -W1 10.9.0.2; }
ping_ok() { ip netns exec "$A" ping -c1 -W2 10.9.0.2; }
listening() { [[ -n $(ip netns exec "$B" ss -Hltn "sport = :$1") ]]; }
# tcp_ok PORT: a message from A reaches `nc -l PORT` in B.
tcp_ok() {
	local port=$1 out="$E2E_TMP/nc-$RANDOM" pid rc=0
	: >"$out"
	e2e_bg "$B" sh -c 'exec nc -4 -l "$1" >"$2" 2>/dev/null' sh "$port" "$out"
	pid=$E2E_BG
	e2e_poll 5 listening "$port" || rc=1
	echo "hello $port" | ip netns exec "$A" timeout 6 nc -4 -N -w 2 10.9.0.2 "$port" || true
	e2e_poll 3 grep -q "hello $port" "$out" || rc=1
	kill "$pid" 2>/dev/null || true
	return "$rc"
}
wait_line() { e2e_poll "$1" grep -q "$2" "$3"; } # wait_line SECS TEXT FILE

# ---------------------------------------------------------------- specs

# A: net B guarded as `local` and as a forwarded target, tcp/22 from 10.9.0.0/24.
SA=(g:sg-a:10.9.0.2,local r:sgr-1:sg-a:in:tcp:22:10.9.0.0/24)
# A2: A with the rule's cidr widened: only set elements change.
SA2=(g:sg-a:10.9.0.2,local r:sgr-1:sg-a:in:tcp:22:10.0.0.0/8)
# B: more of everything: IPv6 targets, ranges, icmp/icmpv6/all, a remote group, egress.
SB=(g:sg-a:10.9.0.2,local g:sg-b:fd00:100::/64,192.168.100.0/24 g:sg-c:192.168.150.2,fd00:150::2
	r:sgr-1:sg-a:in:tcp:22-23:10.9.0.0/24 r:sgr-2:sg-a:in:icmp:-:10.9.0.0/24
	r:sgr-3:sg-b:in:icmpv6:-:fd00:150::/64 r:sgr-4:sg-b:in:tcp:12345:sg-c
	r:sgr-5:sg-b:eg:tcp:80:192.168.150.0/24 r:sgr-6:sg-b:in:udp:53:sg-b r:sgr-7:sg-c:in:all:-:::/0)
# BIG: 8 groups of 250 targets, 2000 rules; BIG2 a part of it.
SBIG=(g:sg-r:local,fd00:100::/64)
for g in 0 1 2 3 4 5 6 7; do
	t="g:sg-$g:"
	for ((i = 0; i < 250; i++)); do t+="10.$g.$i.1,"; done
	SBIG+=("${t%,}")
done
for ((i = 1; i <= 2000; i++)); do SBIG+=("r:sgr-$i:sg-$((i % 8)):in:tcp:$((1000 + i)):172.16.$((i / 250)).$((i % 250))/32"); done
SBIG+=(r:sgr-x:sg-1:in:udp:53:sg-r r:sgr-y:sg-r:eg:all:-:fd00::/8)
SBIG2=("${SBIG[@]:0:1500}")

# ---------------------------------------------------------------- namespaces

e2e_step "namespaces: A (10.9.0.1) -- B (10.9.0.2), sg_probe works in B"
e2e_ns a
A=$E2E_NS
e2e_ns b
B=$E2E_NS
e2e_link "$A" eth0 "$B" eth0
ip -n "$A" addr add 10.9.0.1/24 dev eth0
ip -n "$B" addr add 10.9.0.2/24 dev eth0
check "ping A -> B before any table" ping_ok

e2e_step "dump: the compiled table, no kernel"
out=$("$SG_PROBE" dump "${SA[@]}")
check_match "dump names table inet vrouter" '^table inet vrouter' "$out"
check_match "dump has the input hook with the API port 8080 accepted" 'tcp dport 8080 accept' "$out"
check_match "dump has the forward hook" 'chain forward_in' "$out"
check_match "--api-port 9090 is honoured" 'tcp dport 9090 accept' "$("$SG_PROBE" dump --api-port 9090 "${SA[@]}")"

e2e_step "apply A: full batch, read back equal; orphaned when sg_probe exits, still enforced"
check "apply A" probe_rc 0 apply "${SA[@]}"
check_match "apply was a full rebuild, read back equal" 'full rebuild' "$(probe_out)"
check "probe" probe_rc 0 probe
check_match "orphaned: exists, flags 0x4 (persist, no owner), owner 0" '^exists=1 flags=0x4 owner=0 ours=0' "$(probe_out)"
check "check --flags 4 A: the kernel holds A" probe_rc 0 check --flags 4 "${SA[@]}"
check "check --flags 4 A2: differs (exit 1)" probe_rc 1 check --flags 4 "${SA2[@]}"
check "check A with owner flags: differs (not owned, exit 1)" probe_rc 1 check "${SA[@]}"
check "the orphan still guards: ping A -> B dropped" ping_fails
check "the orphan still guards: tcp A -> B:22 passes" tcp_ok 22
check "loopback unaffected: ping 127.0.0.1 in B" ip netns exec "$B" ping -c1 -W2 127.0.0.1

e2e_step "update: incremental batches, each read back equal"
check "update A -> A2" probe_rc 0 update "${SA[@]}" -- "${SA2[@]}"
check_match "A -> A2 touches set elements only" 'incremental, elements only' "$(probe_out)"
check "update A -> B" probe_rc 0 update "${SA[@]}" -- "${SB[@]}"
check_match "A -> B incremental" 'incremental' "$(probe_out)"
check "update B -> A" probe_rc 0 update "${SB[@]}" -- "${SA[@]}"
check "update A -> nothing: the table goes" probe_rc 0 update "${SA[@]}" --
check_not "no table after updating to nothing" has_vtable
check "update BIG (2000 rules) -> BIG2 (a part of it)" probe_rc 0 update "${SBIG[@]}" -- "${SBIG2[@]}"
check "update BIG2 -> BIG" probe_rc 0 update "${SBIG2[@]}" -- "${SBIG[@]}"
check "update BIG -> B" probe_rc 0 update "${SBIG[@]}" -- "${SB[@]}"

e2e_step "stale and bad batches are refused and change nothing"
check "stale: B -> A sent while the kernel holds A is refused, A stays" probe_rc 0 stale "${SA[@]}" -- "${SB[@]}" -- "${SA[@]}"
check_match "said refused as expected" 'refused as expected' "$(probe_out)"
check "badflags: a batch with invalid table flags is refused, A stays" probe_rc 0 badflags "${SA[@]}" -- "${SB[@]}"
check "selfwatch: our own change is not reported as drift" probe_rc 0 selfwatch "${SB[@]}"

e2e_step "hold: a live owner's table cannot be touched by others"
hold="$E2E_TMP/hold.out"
e2e_bg "$B" sh -c 'p=$1; shift; exec "$p" hold "$@" >"$0" 2>&1' "$hold" "$SG_PROBE" "${SA[@]}"
HOLD=$E2E_BG
wait_line 10 '^held' "$hold" || e2e_fatal "sg_probe hold did not hold" "$(cat "$hold")"
check "probe while held" probe_rc 0 probe
check_match "owned by another live socket: flags 0x6, owner set, not ours" '^exists=1 flags=0x6 owner=[1-9][0-9]* ours=0' "$(probe_out)"
check "nft delete table inet vrouter refused" nft_refused delete table inet vrouter
check "nft flush table inet vrouter refused" nft_refused flush table inet vrouter
check "nft add rule inet vrouter input accept refused" nft_refused add rule inet vrouter input accept
check "another sg_probe apply B is refused (exit 2)" probe_rc 2 apply "${SB[@]}"
check "another sg_probe delete is refused (exit 2)" probe_rc 2 delete
ip netns exec "$B" nft flush ruleset || true
check "nft flush ruleset leaves it" has_vtable
check "still guarding: ping A -> B dropped" ping_fails

e2e_step "a foreign table appears"
ip netns exec "$B" nft add table inet foreign
ip netns exec "$B" nft add chain inet foreign input '{ type filter hook input priority 10; policy accept; }'
ip netns exec "$B" nft add rule inet foreign input tcp dport 9999 accept
FOREIGN=$(foreign)

e2e_step "kill -9 the owner: the table stays (fail closed); the next process takes over"
kill -KILL "$HOLD"
e2e_poll 5 sh -c '! kill -0 "$1" 2>/dev/null' sh "$HOLD" || true
check "table still listed" has_vtable
check "probe after the kill" probe_rc 0 probe
check_match "orphaned: flags 0x4, owner 0" '^exists=1 flags=0x4 owner=0' "$(probe_out)"
check "the kernel still holds A" probe_rc 0 check --flags 4 "${SA[@]}"
check "fail closed: ping A -> B still dropped" ping_fails
check "tcp A -> B:22 still passes" tcp_ok 22
check "a new process replaces the orphan with B in one batch" probe_rc 0 apply "${SB[@]}"
check "ping A -> B passes under B (icmp from 10.9.0.0/24)" ping_ok
check_eq "foreign table untouched" "$FOREIGN" "$(foreign)"

e2e_step "watch: others' changes to our table are seen, a foreign table's are not"
watch="$E2E_TMP/watch.out"
e2e_bg "$B" sh -c 'exec "$1" watch 2 >"$2" 2>&1' sh "$SG_PROBE" "$watch"
W=$E2E_BG
wait_line 5 '^watching' "$watch" || true
ip netns exec "$B" nft add rule inet foreign input tcp dport 9998 accept
e2e_poll 5 sh -c '! kill -0 "$1" 2>/dev/null' sh "$W" || true
check_no_match "a foreign change is not reported" '^changed' "$(cat "$watch")"
ip netns exec "$B" nft delete rule inet foreign input handle "$(ip netns exec "$B" nft -a list chain inet foreign input | sed -n 's/.*dport 9998 accept # handle \([0-9]*\)/\1/p')"
check_eq "foreign table back as it was" "$FOREIGN" "$(foreign)"
: >"$watch"
e2e_bg "$B" sh -c 'exec "$1" watch 3 >"$2" 2>&1' sh "$SG_PROBE" "$watch"
W=$E2E_BG
wait_line 5 '^watching' "$watch" || true
ip netns exec "$B" nft add rule inet vrouter input accept # the orphan can be changed: it has no owner
check_poll "a change to the orphaned table inet vrouter is reported" 5 grep -q '^changed' "$watch"
check "the kernel no longer holds B exactly" probe_rc 1 check --flags 4 "${SB[@]}"

e2e_step "delete"
check "delete" probe_rc 0 delete
check_not "no table inet vrouter" has_vtable
check "probe" probe_rc 0 probe
check_match "exists=0" '^exists=0' "$(probe_out)"
check "delete again: nothing to do" probe_rc 0 delete
check "check of the empty state: the table is absent, as it must be" probe_rc 0 check
check "ping A -> B passes without a table" ping_ok
check_eq "foreign table untouched" "$FOREIGN" "$(foreign)"

e2e_step "a table left by a previous run: a new database refuses it, --take-over removes it"
check "apply A and exit: an orphaned table" probe_rc 0 apply "${SA[@]}"
e2e_daemon_fails "$B"
check_eq "vrouterd on a new database refuses to start over it (exit 78)" 78 "$E2E_EXIT"
check "the orphaned table is still there" has_vtable
e2e_daemon "$B" --take-over
check_poll "vrouterd --take-over (no groups) removed the orphaned table" 5 sh -c '! ip netns exec "$1" nft list table inet vrouter' sh "$B"
check "ping A -> B passes" ping_ok
check_eq "foreign table untouched at the end" "$FOREIGN" "$(foreign)"

e2e_done
