# shellcheck shell=bash
# shellcheck disable=SC2317,SC2016 # helpers run through check; sh -c scripts
# Helpers shared by the security-group tests (test_sg_*.sh), on top of lib.sh: the seed
# lab, ping, TCP and UDP probes between the test's namespaces, and views of the nft tables
# (ours and a foreign one). Source it after lib.sh. Everything runs inside the test's
# namespaces.

# sg_lab [-4]: the seed lab in three new namespaces, router $R, net01 $N1 and net02 $N2
# (deploy/lab-topology.sh, sourced by the test), with routes between net01 and net02 set
# by hand, IPv4 and IPv6 (IPv4 only with -4).
sg_lab() {
	e2e_lab
	ip -n "$N1" route add 192.168.100.0/24 via 192.168.150.3
	ip -n "$N2" route add 192.168.150.0/24 via 192.168.100.3
	[[ ${1:-} != -4 ]] || return 0
	ip -n "$N1" -6 route add fd00:100::/64 via fd00:150::3
	ip -n "$N2" -6 route add fd00:150::/64 via fd00:100::3
}

fam() { [[ $1 == *:* ]] && echo -6 || echo -4; }
# flush_neigh NS...: forget every IPv6 (and IPv4) neighbour in each namespace.
flush_neigh() {
	local ns
	for ns in "$@"; do
		ip -n "$ns" -6 neigh flush all
		ip -n "$ns" -4 neigh flush all
	done
}
# listening NS PORT [ADDR]: something listens on TCP PORT in NS (on ADDR, if given).
listening() {
	local -a at=()
	if [[ -n ${3:-} ]]; then
		at=(src "$3")
		[[ $3 != *:* ]] || at=(src "[$3]")
	fi
	[[ -n $(ip netns exec "$1" ss -Hltn "sport = :$2" "${at[@]}") ]]
}
ping_ok() { ip netns exec "$1" ping "$(fam "$2")" -c1 -W2 "$2"; }
ping_fails() { ! ip netns exec "$1" ping "$(fam "$2")" -c1 -W1 "$2"; }

# tcp_try FROM TO ADDR PORT [SRC]: a one-shot `nc -l PORT` in TO answers "pong ID"; FROM
# sends "ping ID" to ADDR:PORT (from address SRC if given). 0 when both messages crossed,
# 1 when neither side got the other's (blocked), 2 when the listener did not start, the
# client could not bind its source, or only one direction worked. TCP_BIND=ADDR binds the listener to ADDR only (default:
# every address); TCP_SPORT=PORT sends from that source port.
tcp_try() {
	local from=$1 to=$2 addr=$3 port=$4 src=${5:-} id pid srv cli i got_srv=0 got_cli=0
	local bind=${TCP_BIND:-} sport=${TCP_SPORT:-}
	local -a opt=()
	[[ -z $src ]] || opt=(-s "$src")
	[[ -z $sport ]] || opt+=(-p "$sport")
	id="$RANDOM$RANDOM"
	srv="$E2E_TMP/srv-$id"
	cli="$E2E_TMP/cli-$id"
	: >"$srv"
	echo "pong $id" >"$srv.in"
	# nc itself is the background pid (no pipeline, no subshell), all its output in files
	e2e_bg "$to" sh -c 'f=$1 p=$2 s=$3; shift 3; exec nc "$f" -N -l "$@" "$p" <"$s.in" >"$s" 2>"$s.err"' \
		sh "$(fam "$addr")" "$port" "$srv" ${bind:+"$bind"}
	pid=$E2E_BG
	if ! e2e_poll 5 listening "$to" "$port" "$bind"; then
		echo "nc -l $bind $port did not start listening in ${to##*-}"
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
	if grep -qF 'bind failed' "$cli"; then # the client never sent: not a verdict on the network
		echo "nc in ${from##*-} could not bind its source: $(head -c 300 "$cli")"
		return 2
	fi
	echo "${from##*-}${src:+ ($src)}${sport:+ (port $sport)} -> $addr:$port: server got ping: $got_srv, client got pong: $got_cli; client said: $(head -c 300 "$cli")"
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

# monitor_start NS NAME: `nft monitor` in NS into $E2E_TMP/NAME.mon, confirmed to be
# listening (a marker table of our own is seen) before it returns; its pid in MON_PID.
monitor_start() {
	local f="$E2E_TMP/$2.mon" marker="marker_$2"
	e2e_bg "$1" sh -c 'exec nft monitor >"$1" 2>&1' sh "$f"
	MON_PID=$E2E_BG
	e2e_poll 5 sh -c 'ip netns exec "$1" nft add table inet "$2"; ip netns exec "$1" nft delete table inet "$2"; grep -q "delete table inet $2" "$3"' \
		sh "$1" "$marker" "$f" || e2e_fatal "nft monitor did not start"
}
monitor_stop() { kill "$MON_PID" 2>/dev/null || true; }
# vrouter_events NAME: the monitor's lines about our table.
vrouter_events() { grep -E 'inet vrouter( |$)' "$E2E_TMP/$1.mon" || true; }
# vrouter_transactions NAME: how many nft transactions (ended by "# new generation"
# lines) the monitor saw touch our table.
vrouter_transactions() {
	awk '
		/inet vrouter( |$)/ { ours = 1; next }
		/^# new generation/ { n += ours; ours = 0 }
		END { print n + 0 }' "$E2E_TMP/$1.mon"
}
