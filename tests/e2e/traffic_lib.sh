# shellcheck shell=bash
# shellcheck disable=SC2317,SC2016 # helpers run through check; sh -c scripts
# Traffic checks shared by the lab tests (test_seed_lab.sh, test_two_routers.sh), on top
# of lib.sh: ping (either family), the TTL a reply arrives with, a TCP message with nc.
# Source it after lib.sh. Everything runs inside the test's namespaces.

# fam ADDR: -6 for an IPv6 address, else -4.
fam() { [[ $1 == *:* ]] && echo -6 || echo -4; }

ping_ok() { ip netns exec "$1" ping "$(fam "$2")" -c1 -W2 "$2"; }
ping_fails() { ! ip netns exec "$1" ping "$(fam "$2")" -c1 -W1 "$2"; }

# check_ttl NS ADDR TTL: one ping answered, with that TTL (hop limit for IPv6).
check_ttl() {
	local ns=$1 addr=$2 want=$3 out rc=0
	out=$(ip netns exec "$ns" ping "$(fam "$addr")" -c1 -W2 "$addr" 2>&1) || rc=$?
	if ((rc == 0)) && grep -q "ttl=$want " <<<"$out"; then
		pass "ping ${ns##*-} -> $addr answered with ttl=$want"
	else
		fail "ping ${ns##*-} -> $addr: expected a reply with ttl=$want (exit $rc)" "$out"
	fi
}

# listening NS PORT: something listens on TCP PORT in NS.
listening() { [[ -n $(ip netns exec "$1" ss -Hltn "sport = :$2") ]]; }

# check_tcp FROM_NS TO_NS ADDR: `echo msg | nc` from FROM_NS reaches `nc -l 12345` in TO_NS.
check_tcp() {
	local from=$1 to=$2 addr=$3 out msg
	out="$E2E_TMP/nc-$RANDOM.out"
	msg="hello from ${from##*-} $RANDOM"
	: >"$out"
	e2e_bg "$to" sh -c 'exec nc "$1" -l 12345 >"$2"' sh "$(fam "$addr")" "$out"
	if ! e2e_poll 5 listening "$to" 12345; then
		fail "nc -l 12345 did not start listening in ${to##*-}"
		return 0
	fi
	echo "$msg" | ip netns exec "$from" timeout 10 nc -N -w 5 "$addr" 12345 || true
	check_poll "TCP message crossed ${from##*-} -> $addr:12345" 5 grep -qF "$msg" "$out"
	kill "$E2E_BG" 2>/dev/null || true
}
