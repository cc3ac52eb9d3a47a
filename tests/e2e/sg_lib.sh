# shellcheck shell=bash
# shellcheck disable=SC2317,SC2016 # helpers run through check; sh -c scripts
# Helpers shared by the security-group tests (test_sg_*.sh), on top of lib.sh: ping, TCP
# and UDP probes between the test's namespaces, and views of the nft tables (ours and a
# foreign one). Source it after lib.sh. Everything runs inside the test's namespaces.

fam() { [[ $1 == *:* ]] && echo -6 || echo -4; }
listening() { [[ -n $(ip netns exec "$1" ss -Hltn "sport = :$2") ]]; }
ping_ok() { ip netns exec "$1" ping "$(fam "$2")" -c1 -W2 "$2"; }
ping_fails() { ! ip netns exec "$1" ping "$(fam "$2")" -c1 -W1 "$2"; }

# tcp_try FROM TO ADDR PORT [SRC]: a one-shot `nc -l PORT` in TO answers "pong ID"; FROM
# sends "ping ID" to ADDR:PORT (from address SRC if given). 0 when both messages crossed,
# 1 when neither side got the other's (blocked), 2 when the listener did not start or
# only one direction worked.
tcp_try() {
	local from=$1 to=$2 addr=$3 port=$4 src=${5:-} id pid srv cli i got_srv=0 got_cli=0
	local -a opt=()
	[[ -z $src ]] || opt=(-s "$src")
	id="$RANDOM$RANDOM"
	srv="$E2E_TMP/srv-$id"
	cli="$E2E_TMP/cli-$id"
	: >"$srv"
	echo "pong $id" >"$srv.in"
	# nc itself is the background pid (no pipeline, no subshell), all its output in files
	e2e_bg "$to" sh -c 'exec nc "$1" -N -l "$2" <"$3.in" >"$3" 2>"$3.err"' sh "$(fam "$addr")" "$port" "$srv"
	pid=$E2E_BG
	if ! e2e_poll 5 listening "$to" "$port"; then
		echo "nc -l $port did not start listening in ${to##*-}"
		kill "$pid" 2>/dev/null || true
		return 2
	fi
	echo "ping $id" | ip netns exec "$from" timeout 8 nc "$(fam "$addr")" "${opt[@]}" -N -w 2 "$addr" "$port" >"$cli" 2>&1 || true
	for ((i = 0; i < 20; i++)); do # the server may still be writing what it got
		grep -qF "ping $id" "$srv" && break
		sleep 0.05
	done
	kill "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do # gone before the next listener binds the port
		e2e__alive "$pid" || break
		sleep 0.05
	done
	grep -qF "ping $id" "$srv" && got_srv=1
	grep -qF "pong $id" "$cli" && got_cli=1
	echo "${from##*-}${src:+ ($src)} -> $addr:$port: server got ping: $got_srv, client got pong: $got_cli; client said: $(head -c 300 "$cli")"
	((got_srv && got_cli)) && return 0
	((!got_srv && !got_cli)) && return 1
	return 2
}
tcp_ok() { tcp_try "$@"; }
tcp_blocked() {
	local rc=0
	tcp_try "$@" || rc=$?
	((rc == 1))
}

# Our table as nft prints it, counter values left out (they move with traffic).
vtable() { ip netns exec "$1" nft list table inet vrouter | sed -E 's/packets [0-9]+ bytes [0-9]+/packets - bytes -/'; }
has_vtable() { ip netns exec "$1" nft list tables | grep -x 'table inet vrouter' >/dev/null; } # no -q: no SIGPIPE for nft
foreign() { ip netns exec "$1" nft list table inet foreign; }

# udp_to FROM ADDR PORT: two datagrams over a connected UDP socket (bash's /dev/udp); the
# second write fails with "Connection refused" when an ICMP (ICMPv6) port
# unreachable came back.
udp_to() { ip netns exec "$1" timeout 5 bash -c 'exec 3<>"/dev/udp/$0/$1"; echo a >&3; sleep 0.5; echo b >&3' "$2" "$3" 2>&1 || true; }
udp_refused() { udp_to "$@" | grep 'Connection refused'; }
udp_silent() { [[ -z $(udp_to "$@") ]]; }
