#!/usr/bin/env bash
# The article's lab in network namespaces, with a vrouterd in each machine.
#
#   deploy/lab.sh up       build the namespaces and start the daemons
#   deploy/lab.sh up2      the two-router lab instead: net01 -- r1 -- r2 -- net02, bare
#                          routers, a vrouterd in each router (deploy/lab2-topology.sh)
#   deploy/lab.sh fleet    the fleet lab instead: a three-member etcd cluster and three
#                          routers r1 r2 r3 in fleet mode (--etcd) on a management
#                          network, hosts h1 h2 h3 behind them (deploy/lab-fleet-topology.sh)
#   deploy/lab.sh status   what is there
#   deploy/lab.sh down     stop the daemons, delete the namespaces and the state dir
#
# up and up2 take --mgmt: a management network as well, a namespace <prefix>-mgmt whose
# bridge (10.99.0.1/24) reaches every daemon's host on a link of its own, mgmt0, and
# the daemons listen on their management addresses instead of loopback. Run Terraform
# (deploy/terraform/examples/classic-lab) or any other client inside <prefix>-mgmt.
# Each daemon's API base URL is written to $VRLAB_DIR/<host>/url either way.
#
# Environment: VRLAB (namespace prefix, default vrlab), VRLAB_DIR (state, default
# /run/vrlab), VROUTERD (daemon binary, default <repo>/build/vrouterd).
#
# It touches nothing outside its own namespaces and $VRLAB_DIR: the root namespace's
# links, addresses, routes and firewall are never changed.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
# shellcheck source=deploy/lab-topology.sh
. "$SCRIPT_DIR/lab-topology.sh"
# shellcheck source=deploy/lab2-topology.sh
. "$SCRIPT_DIR/lab2-topology.sh"
# shellcheck source=deploy/lab-fleet-topology.sh
. "$SCRIPT_DIR/lab-fleet-topology.sh"

VRLAB=${VRLAB:-vrlab}
DIR=${VRLAB_DIR:-/run/vrlab}
VROUTERD=${VROUTERD:-$REPO_DIR/build/vrouterd}
PORT=8080
HOSTS=(router net01 net02)
HOSTS2=(r1 r2 net01 net02) # up2; only r1 and r2 run a vrouterd
HOSTS3=(core r1 r2 r3 h1 h2 h3 etcd1 etcd2 etcd3) # fleet; r1 r2 r3 run a vrouterd each
ALL_HOSTS=(router r1 r2 r3 net01 net02 core h1 h2 h3 etcd1 etcd2 etcd3)
HEALTH_TIMEOUT=10 # seconds, per daemon
MGMT=mgmt             # the management namespace is ${VRLAB}-mgmt (up --mgmt, up2 --mgmt)
MGMT_NET=10.99.0      # its /24: the bridge is .1, each daemon's host has its own address
MGMT_BRIDGE_ADDR=$MGMT_NET.1
declare -A MGMT_ADDR=([router]=$MGMT_NET.10 [net01]=$MGMT_NET.11 [net02]=$MGMT_NET.12
	[r1]=$MGMT_NET.21 [r2]=$MGMT_NET.22 [r3]=$MGMT_NET.23
	[etcd1]=$MGMT_NET.31 [etcd2]=$MGMT_NET.32 [etcd3]=$MGMT_NET.33)
ETCD_TIMEOUT=30 # seconds for the etcd cluster to elect a leader
# etcd's request bounds, raised so that one PUT /v1/config (one etcd transaction) can
# carry a large configuration: a transaction's operations and a request's bytes.
ETCD_MAX_TXN_OPS=200000
ETCD_MAX_REQUEST_BYTES=$((128 << 20))

die() {
	echo "lab.sh: $*" >&2
	exit 1
}

usage() {
	cat <<EOF
usage: deploy/lab.sh up|up2 [--mgmt] | fleet | down | status

  up      create namespaces ${VRLAB}-router, ${VRLAB}-net01, ${VRLAB}-net02 (the article's
          lab: net01 192.168.150.2 -- router -- 192.168.100.2 net02), start a vrouterd in
          each, state in ${DIR}/<host>/
  up2     the two-router lab instead: ${VRLAB}-net01 -- ${VRLAB}-r1 -- transit -- ${VRLAB}-r2 --
          ${VRLAB}-net02; the hosts have addresses and default routes, the routers only
          links, for their vrouterd APIs to configure (README, "Two routers in a row")
  --mgmt  (with up or up2) a management network too: namespace ${VRLAB}-${MGMT}, bridge
          ${MGMT_BRIDGE_ADDR}/24, a link mgmt0 into each daemon's host (router ${MGMT_ADDR[router]},
          net01 ${MGMT_ADDR[net01]}, net02 ${MGMT_ADDR[net02]}, r1 ${MGMT_ADDR[r1]}, r2 ${MGMT_ADDR[r2]}), and every
          vrouterd listening on its management address, port ${PORT}: run Terraform there
          (ip netns exec ${VRLAB}-${MGMT} terraform ...)
  fleet   the fleet lab: a three-member etcd cluster (${VRLAB}-etcd1..3) and three routers
          ${VRLAB}-r1..3 on the management network ${VRLAB}-${MGMT} (bridge ${MGMT_BRIDGE_ADDR}/24; r1
          ${MGMT_ADDR[r1]}, r2 ${MGMT_ADDR[r2]}, r3 ${MGMT_ADDR[r3]}, etcd ${MGMT_ADDR[etcd1]}-${MGMT_ADDR[etcd3]##*.}), each vrouterd
          in fleet mode (--etcd, --router rN) on its management address, port ${PORT},
          all with one token (${DIR}/auth); routers linked by a bridge ${VRLAB}-core,
          hosts ${VRLAB}-h1..3 (192.168.N.2) behind them (README, "A fleet of routers")
  status  show namespaces, daemons, addresses and routes
  down    stop the daemons, delete the namespaces and ${DIR} (idempotent)

environment: VRLAB=prefix (default vrlab), VRLAB_DIR=dir (default /run/vrlab),
             VROUTERD=binary (default <repo>/build/vrouterd)
EOF
}

ns_of() { echo "${VRLAB}-$1"; }

ns_exists() { [[ -e /run/netns/$1 ]]; }

need_root() {
	[[ $(id -u) -eq 0 ]] || die "must be root (network namespaces need CAP_SYS_ADMIN): try sudo $0 $*"
}

check_names() {
	[[ $VRLAB =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || die "VRLAB='$VRLAB': use letters, digits, '_', '.', '-'"
	[[ $DIR == /* && $DIR != / ]] || die "VRLAB_DIR='$DIR' must be an absolute path other than /"
}

# The pid is ours only if it still runs vrouterd inside our namespace's daemon slot.
pid_is_daemon() {
	local pid=$1
	[[ $pid =~ ^[0-9]+$ ]] && [[ -r /proc/$pid/cmdline ]] &&
		tr '\0' ' ' <"/proc/$pid/cmdline" | grep -- "vrouterd" >/dev/null
}

stop_pid() { # stop_pid PID: SIGTERM, wait up to 5 s, then SIGKILL
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	echo "lab.sh: pid $pid ignored SIGTERM for 5 s, killing" >&2
	kill -KILL "$pid" 2>/dev/null || true
}

cmd_down() {
	need_root down
	check_names
	local h ns pid p
	for h in "${ALL_HOSTS[@]}"; do
		ns=$(ns_of "$h")
		if [[ -f $DIR/$h/pid ]]; then
			pid=$(<"$DIR/$h/pid")
			if pid_is_daemon "$pid"; then
				stop_pid "$pid"
			fi
		fi
		if ns_exists "$ns"; then
			# Anything else still running inside the lab's namespace (a user's nc, ...)
			# would keep it alive after `ip netns del`.
			for p in $(ip netns pids "$ns" 2>/dev/null); do
				stop_pid "$p"
			done
			ip netns del "$ns" || echo "lab.sh: could not delete namespace $ns" >&2
		fi
		rm -rf -- "${DIR:?}/$h"
	done
	ns=$(ns_of "$MGMT")
	if ns_exists "$ns"; then
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			stop_pid "$p"
		done
		ip netns del "$ns" || echo "lab.sh: could not delete namespace $ns" >&2
	fi
	rm -f -- "$DIR/.vrlab" "$DIR/auth" "$DIR/etcd-endpoints"
	if [[ -d $DIR ]]; then
		rmdir -- "$DIR" 2>/dev/null || echo "lab.sh: $DIR not removed: it holds files that are not the lab's" >&2
	fi
	echo "lab ${VRLAB} is down"
}

wait_healthy() { # wait_healthy HOST: bounded wait for /healthz in its namespace
	local h=$1 ns pid deadline
	ns=$(ns_of "$h")
	pid=$(<"$DIR/$h/pid")
	deadline=$((SECONDS + HEALTH_TIMEOUT))
	while ((SECONDS < deadline)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "lab.sh: vrouterd in $ns exited; its log ($DIR/$h/vrouterd.log):" >&2
			tail -n 30 "$DIR/$h/vrouterd.log" >&2 || true
			return 1
		fi
		if ip netns exec "$ns" curl -sf -o /dev/null --max-time 1 "$(<"$DIR/$h/url")/healthz"; then
			return 0
		fi
		sleep 0.2
	done
	echo "lab.sh: vrouterd in $ns did not answer /healthz within ${HEALTH_TIMEOUT}s; its log:" >&2
	tail -n 30 "$DIR/$h/vrouterd.log" >&2 || true
	return 1
}

start_daemon() { # start_daemon HOST ADDR [vrouterd args...]: vrouterd listening on ADDR:PORT
	local h=$1 addr=$2 ns pid
	shift 2
	ns=$(ns_of "$h")
	echo "http://$addr:$PORT" >"$DIR/$h/url"
	# setsid: the daemon outlives this script and the terminal it was started from.
	# No fork happens in between, so $! is the daemon's pid.
	setsid ip netns exec "$ns" "$VROUTERD" --listen "$addr:$PORT" \
		--db "$DIR/$h/vrouter.db" --token-file "$DIR/$h/token" "$@" \
		</dev/null >>"$DIR/$h/vrouterd.log" 2>&1 &
	pid=$!
	echo "$pid" >"$DIR/$h/pid"
}

write_auth() { # write_auth HOST
	local h=$1 token
	[[ -s $DIR/$h/token ]] || {
		echo "lab.sh: vrouterd did not create $DIR/$h/token" >&2
		return 1
	}
	token=$(tr -d ' \n\r\t' <"$DIR/$h/token")
	[[ $token =~ ^[0-9a-f]{64}$ ]] || echo "lab.sh: warning: $DIR/$h/token is not 64 hex characters" >&2
	(
		umask 077
		printf 'Authorization: Bearer %s\n' "$token" >"$DIR/$h/auth"
	)
	chmod 600 "$DIR/$h/auth"
}

print_help() {
	local h ns a
	echo
	echo "lab ${VRLAB} is up (state in $DIR):"
	echo
	echo "  ${VRLAB}-net01 enp0s1 192.168.150.2/24 fd00:150::2/64"
	echo "     -- ${VRLAB}-router enp0s1 192.168.150.3/24 fd00:150::3/64 | enp0s2 192.168.100.3/24 fd00:100::3/64 --"
	echo "  ${VRLAB}-net02 enp0s1 192.168.100.2/24 fd00:100::2/64"
	for h in "${HOSTS[@]}"; do
		ns=$(ns_of "$h")
		a="ip netns exec $ns"
		echo
		echo "$h (namespace $ns), vrouterd log $DIR/$h/vrouterd.log:"
		echo "  shell:  $a bash"
		echo "  api:    $a curl -sS -H @$DIR/$h/auth $(<"$DIR/$h/url")/v1/routes"
		case $h in
		net01)
			echo "  try:    $a ping -c1 192.168.100.2        # fails: no route yet"
			echo "  route:  $a curl -sS -H @$DIR/$h/auth \\"
			echo "            --json '{\"destination\":\"192.168.100.0/24\",\"via\":\"192.168.150.3\"}' $(<"$DIR/$h/url")/v1/routes"
			;;
		net02)
			echo "  try:    $a ping -c1 192.168.150.2"
			echo "  route:  $a curl -sS -H @$DIR/$h/auth \\"
			echo "            --json '{\"destination\":\"192.168.150.0/24\",\"via\":\"192.168.100.3\"}' $(<"$DIR/$h/url")/v1/routes"
			;;
		router)
			echo "  try:    $a ip route"
			;;
		esac
	done
	print_help_mgmt example
	echo
	echo "tear down: $0 down"
}

print_help_mgmt() { # print_help_mgmt [example]: the classic-lab example fits the seed lab only
	local ns
	ns=$(ns_of "$MGMT")
	ns_exists "$ns" || return 0
	echo
	echo "management network: namespace $ns, bridge $MGMT_BRIDGE_ADDR/24; the daemons listen on"
	echo "their management addresses (above). Run Terraform and other clients there (ip netns exec $ns ...)."
	[[ ${1:-} == example ]] || return 0
	echo "The classic lab as Terraform code:"
	local var=""
	[[ $DIR == /run/vrlab ]] || var=" -var lab_dir=$DIR"
	echo "  cd $REPO_DIR/deploy/terraform/examples/classic-lab"
	echo "  ip netns exec $ns terraform init && ip netns exec $ns terraform apply$var"
}

print_help2() {
	local h
	echo
	echo "two-router lab ${VRLAB} is up (state in $DIR):"
	echo
	echo "  ${VRLAB}-net01 enp0s1 192.168.150.2/24 fd00:150::2/64, default via 192.168.150.3"
	echo "     -- enp0s1 ${VRLAB}-r1 enp0s2 -- transit -- enp0s1 ${VRLAB}-r2 enp0s2 --"
	echo "  ${VRLAB}-net02 enp0s1 192.168.100.2/24 fd00:100::2/64, default via 192.168.100.3"
	echo
	echo "The routers have links only: give them addresses (POST /v1/subnets), forwarding"
	echo "(PUT /v1/settings) and routes (POST /v1/routes) through their APIs (README,"
	echo "\"Two routers in a row\")."
	for h in r1 r2; do
		echo
		echo "$h (namespace $(ns_of "$h")), vrouterd log $DIR/$h/vrouterd.log:"
		echo "  api:    ip netns exec $(ns_of "$h") curl -sS -H @$DIR/$h/auth $(<"$DIR/$h/url")/v1/interfaces"
	done
	print_help_mgmt
	echo
	echo "try:      ip netns exec $(ns_of net01) ping -c1 192.168.100.2   # fails until both routers are set up"
	echo "tear down: $0 down"
}

# mgmt_topology HOST...: the management namespace and its bridge, and a link mgmt0 with
# the host's management address into each HOST (their namespaces must exist).
mgmt_topology() {
	local m h
	m=$(ns_of "$MGMT")
	mgmt_bridge
	for h in "$@"; do
		fleet_mgmt_link "$m" "$(ns_of "$h")" "m-$h" "${MGMT_ADDR[$h]}/24"
	done
}

# mgmt_bridge: the management namespace and its bridge br0 (MGMT_BRIDGE_ADDR/24).
mgmt_bridge() {
	local m
	m=$(ns_of "$MGMT")
	ip netns add "$m"
	lab_ns_prepare "$m"
	ip -n "$m" link add br0 type bridge
	ip -n "$m" link set br0 up
	ip -n "$m" addr add "$MGMT_BRIDGE_ADDR/24" dev br0
}

cmd_up() { # cmd_up up|up2 [--mgmt]
	local mode=$1 mgmt=0 arg
	shift
	for arg in "$@"; do
		case $arg in
		--mgmt) mgmt=1 ;;
		*) die "$mode: unknown option $arg (only --mgmt)" ;;
		esac
	done
	local -a hosts=("${HOSTS[@]}") daemons=("${HOSTS[@]}")
	if [[ $mode == up2 ]]; then
		hosts=("${HOSTS2[@]}")
		daemons=(r1 r2)
	fi
	need_root "$mode"
	check_names
	[[ -x $VROUTERD ]] || die "vrouterd not built ($VROUTERD): run 'cmake -S . -B build && cmake --build build' in $REPO_DIR first (or deploy/setup.sh run)"
	local tool h ns
	for tool in ip curl setsid sysctl; do
		command -v "$tool" >/dev/null || die "$tool not found (deploy/setup.sh installs what the lab needs)"
	done
	for h in "${hosts[@]}" "$MGMT"; do
		ns=$(ns_of "$h")
		! ns_exists "$ns" || die "namespace $ns exists already: run '$0 down' first (or pick another VRLAB=)"
	done

	# From here on, a failure undoes everything.
	trap 'rc=$?; if ((rc != 0)); then echo "lab.sh: up failed, cleaning up" >&2; cmd_down >/dev/null || true; fi' EXIT

	mkdir -p -- "$DIR"
	chmod 711 "$DIR" # vrouterd's front end (user vrouter) reaches its host's directory
	: >"$DIR/.vrlab"
	for h in "${hosts[@]}"; do
		rm -rf -- "${DIR:?}/$h"
		mkdir -m 700 -- "$DIR/$h"
		! id -u vrouter >/dev/null 2>&1 || chown vrouter: "$DIR/$h"
		ip netns add "$(ns_of "$h")"
	done
	if [[ $mode == up2 ]]; then
		lab2_topology "$(ns_of r1)" "$(ns_of r2)" "$(ns_of net01)" "$(ns_of net02)"
	else
		lab_topology "$(ns_of router)" "$(ns_of net01)" "$(ns_of net02)"
	fi
	((mgmt == 0)) || mgmt_topology "${daemons[@]}"

	for h in "${daemons[@]}"; do
		if ((mgmt)); then start_daemon "$h" "${MGMT_ADDR[$h]}"; else start_daemon "$h" 127.0.0.1; fi
	done
	for h in "${daemons[@]}"; do
		wait_healthy "$h"
		write_auth "$h"
	done
	trap - EXIT
	if [[ $mode == up2 ]]; then print_help2; else print_help; fi
}

# etcd_member_start N ENDPOINT_LIST: member N of the lab's etcd cluster in ${VRLAB}-etcdN,
# on the management network; its data and log in $DIR/etcdN/.
etcd_member_start() {
	local i=$1 initial=$2 ns a
	ns=$(ns_of "etcd$i")
	a=${MGMT_ADDR[etcd$i]}
	setsid ip netns exec "$ns" etcd --name "m$i" --data-dir "$DIR/etcd$i/data" \
		--listen-peer-urls "http://$a:2380" --initial-advertise-peer-urls "http://$a:2380" \
		--listen-client-urls "http://$a:2379" --advertise-client-urls "http://$a:2379" \
		--initial-cluster "$initial" --initial-cluster-state new \
		--initial-cluster-token "$VRLAB" --max-txn-ops "$ETCD_MAX_TXN_OPS" \
		--max-request-bytes "$ETCD_MAX_REQUEST_BYTES" --log-outputs stderr \
		</dev/null >>"$DIR/etcd$i/etcd.log" 2>&1 &
	echo "$!" >"$DIR/etcd$i/pid"
}

# etcd_wait_leader ENDPOINTS: bounded wait until every member agrees on a leader.
etcd_wait_leader() {
	local eps=$1 deadline out
	deadline=$((SECONDS + ETCD_TIMEOUT))
	while ((SECONDS < deadline)); do
		out=$(ETCDCTL_API=3 ip netns exec "$(ns_of "$MGMT")" etcdctl --endpoints="$eps" \
			--dial-timeout=1s --command-timeout=2s endpoint status -w json 2>/dev/null) || out=""
		if [[ -n $out ]] && jq -e 'length == 3 and ([.[].Status.leader] | unique |
			length == 1 and .[0] != 0)' <<<"$out" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.5
	done
	echo "lab.sh: the etcd cluster elected no leader within ${ETCD_TIMEOUT}s; member 1's log:" >&2
	tail -n 20 "$DIR/etcd1/etcd.log" >&2 || true
	return 1
}

# fleet_token: one token for the whole fleet (any router's API writes the whole fleet),
# in each router's token file and, as a curl header, in $DIR/auth.
fleet_token() {
	local token h
	token=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
	for h in r1 r2 r3; do
		(
			umask 077
			printf '%s\n' "$token" >"$DIR/$h/token"
		)
		! id -u vrouter >/dev/null 2>&1 || chown vrouter: "$DIR/$h/token"
	done
	(
		umask 077
		printf 'Authorization: Bearer %s\n' "$token" >"$DIR/auth"
	)
}

cmd_fleet() {
	(($# == 0)) || die "fleet: unknown option $1"
	need_root fleet
	check_names
	[[ -x $VROUTERD ]] || die "vrouterd not built ($VROUTERD): run 'cmake -S . -B build && cmake --build build' in $REPO_DIR first (or deploy/setup.sh run)"
	local tool h i eps="" initial=""
	for tool in ip curl setsid sysctl etcd etcdctl jq; do
		command -v "$tool" >/dev/null || die "$tool not found (deploy/setup.sh test installs etcd-server and etcd-client without starting their service; or apt-get install them)"
	done
	for h in "${HOSTS3[@]}" "$MGMT"; do
		! ns_exists "$(ns_of "$h")" || die "namespace $(ns_of "$h") exists already: run '$0 down' first (or pick another VRLAB=)"
	done
	trap 'rc=$?; if ((rc != 0)); then echo "lab.sh: fleet failed, cleaning up" >&2; cmd_down >/dev/null || true; fi' EXIT

	mkdir -p -- "$DIR"
	chmod 711 "$DIR"
	: >"$DIR/.vrlab"
	for h in "${HOSTS3[@]}"; do
		rm -rf -- "${DIR:?}/$h"
		mkdir -m 700 -- "$DIR/$h"
		! id -u vrouter >/dev/null 2>&1 || [[ $h != r* ]] || chown vrouter: "$DIR/$h"
		ip netns add "$(ns_of "$h")"
	done
	fleet_topology "$(ns_of core)" "$(ns_of r1)" "$(ns_of r2)" "$(ns_of r3)" \
		"$(ns_of h1)" "$(ns_of h2)" "$(ns_of h3)"
	mgmt_bridge
	for i in 1 2 3; do
		lab_ns_prepare "$(ns_of "etcd$i")"
		fleet_mgmt_link "$(ns_of "$MGMT")" "$(ns_of "etcd$i")" "m-etcd$i" "${MGMT_ADDR[etcd$i]}/24"
		fleet_mgmt_link "$(ns_of "$MGMT")" "$(ns_of "r$i")" "m-r$i" "${MGMT_ADDR[r$i]}/24"
		initial+="${initial:+,}m$i=http://${MGMT_ADDR[etcd$i]}:2380"
		eps+="${eps:+,}http://${MGMT_ADDR[etcd$i]}:2379"
	done
	for i in 1 2 3; do
		etcd_member_start "$i" "$initial"
	done
	etcd_wait_leader "$eps"
	echo "$eps" >"$DIR/etcd-endpoints"
	fleet_token
	for i in 1 2 3; do
		start_daemon "r$i" "${MGMT_ADDR[r$i]}" --etcd "$eps" --router "r$i"
	done
	for i in 1 2 3; do
		wait_healthy "r$i"
		cp "$DIR/auth" "$DIR/r$i/auth"
	done
	trap - EXIT
	print_help_fleet "$eps"
}

print_help_fleet() {
	local eps=$1 m
	m="ip netns exec $(ns_of "$MGMT")"
	echo
	echo "fleet lab ${VRLAB} is up (state in $DIR):"
	echo
	echo "  etcd: $eps (namespaces ${VRLAB}-etcd1..3)"
	echo "  routers (fleet mode): r1 $(<"$DIR/r1/url")  r2 $(<"$DIR/r2/url")  r3 $(<"$DIR/r3/url")"
	echo "  data plane: ${VRLAB}-core bridges r1..r3's enp0s1; hN 192.168.N.2/24 behind rN's enp0s2"
	echo
	echo "Every router's API reads and writes the whole fleet, with one token:"
	echo "  $m curl -sS -H @$DIR/auth $(<"$DIR/r1/url")/v1/routers"
	echo "The routers have links only: give them addresses, forwarding and routes through"
	echo "any router's API (README, \"A fleet of routers\")."
	echo
	echo "try:      ip netns exec $(ns_of h1) ping -c1 192.168.2.2   # fails until the fleet is set up"
	echo "tear down: $0 down"
}

cmd_status() {
	check_names
	local h ns pid state
	local -a hosts=("${HOSTS[@]}")
	! ns_exists "$(ns_of r1)" || hosts=("${HOSTS2[@]}") # the two-router lab is up
	! ns_exists "$(ns_of r3)" || hosts=("${HOSTS3[@]}") # the fleet lab is up
	for h in "${hosts[@]}"; do
		ns=$(ns_of "$h")
		if ! ns_exists "$ns"; then
			echo "$h: namespace $ns absent"
			continue
		fi
		state="not running"
		if [[ -f $DIR/$h/pid ]]; then
			pid=$(<"$DIR/$h/pid")
			if pid_is_daemon "$pid"; then
				state="running (pid $pid)"
				if ip netns exec "$ns" curl -sf -o /dev/null --max-time 2 "$(<"$DIR/$h/url")/healthz"; then
					state+=", healthy at $(<"$DIR/$h/url")"
				else
					state+=", /healthz not answering"
				fi
			fi
		fi
		echo "$h: namespace $ns, vrouterd $state"
		ip -n "$ns" -br addr show | sed 's/^/    /'
		ip -n "$ns" route show | sed 's/^/    route  /'
		ip -n "$ns" -6 route show | grep -v '^fe80::\|^multicast\|^ff00::' | sed 's/^/    route6 /' || true
	done
	ns=$(ns_of "$MGMT")
	if ns_exists "$ns"; then
		echo "$MGMT: namespace $ns (management network)"
		ip -n "$ns" -br addr show | sed 's/^/    /'
	fi
}

case ${1:-} in
up | up2) cmd_up "$@" ;;
fleet)
	shift
	cmd_fleet "$@"
	;;
down) cmd_down ;;
status) cmd_status ;;
-h | --help | help) usage ;;
*)
	usage >&2
	exit 2
	;;
esac
