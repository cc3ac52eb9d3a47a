# shellcheck shell=bash
# shellcheck disable=SC2034 # ETCD_* globals are for the tests
# A three-member etcd cluster for the end-to-end tests and the benchmarks, in
# namespaces of the run's own (source tests/e2e/lib.sh or tests/bench/lib.sh first,
# then this, after e2e_init or bench_init; etcd_tls_member is the tests' alone):
#
#   etcd_cluster            # namespaces <prefix>-etcdnet (a bridge) and
#                           # <prefix>-etcd1..3 (one member each, veth to the bridge),
#                           # data dirs in the run's temp dir; waits for a leader
#   $ETCD_NET               # the bridge's namespace: it reaches every member
#   $ETCD_ENDPOINTS         # http://10.77.0.1:2379,http://10.77.0.2:2379,...
#   ${ETCD_PIDS[i]}         # member i+1's pid (same order as the endpoints)
#   etcd_leader             # prints the leader's index (1..3), from etcdctl endpoint status
#   etcd_ctl ARGS...        # etcdctl against every member, from the bridge's namespace
#   etcd_member_stop I      # stop member I; etcd_member_start I starts it again
#   etcd_tls_member         # a fourth etcd, alone, HTTPS with client certificates
#                           # ($ETCD_TLS_ENDPOINT; certificates in $ETCD_TLS_DIR)
#
# The members die with the run's namespaces (the cleanup kills whatever runs in them),
# also on failure or interruption. The addresses exist only inside those namespaces.

ETCD_NET=""
ETCD_ENDPOINTS=""
ETCD_PIDS=()
ETCD_NS=()
ETCD_MEMBERS=3
ETCD_SUBNET=10.77.0
ETCD_START_TIMEOUT=${ETCD_START_TIMEOUT:-30}
ETCD_ARGS=() # more flags for every member of etcd_cluster (set before calling it)

etcd_ctl() {
	ETCDCTL_API=3 ip netns exec "$ETCD_NET" etcdctl --endpoints="$ETCD_ENDPOINTS" \
		--dial-timeout=2s --command-timeout=3s "$@"
}

# etcd_healthy: every member answers and agrees on one leader.
etcd_healthy() {
	local out
	out=$(etcd_ctl endpoint status -w json 2>/dev/null) || return 1
	jq -e --argjson n "$ETCD_MEMBERS" \
		'length == $n and ([.[].Status.leader] | unique | length == 1 and .[0] != 0)' \
		<<<"$out" >/dev/null
}

# etcd_leader: the leader's member index (1..3).
etcd_leader() {
	local out i
	out=$(etcd_ctl endpoint status -w json) || return 1
	i=$(jq -r '[.[] | .Status.header.member_id == .Status.leader] | index(true)' <<<"$out")
	[[ $i =~ ^[0-9]+$ ]] || return 1
	echo $((i + 1))
}

# What etcd_cluster needs of its caller's harness (tests/harness.sh, whose record
# HARNESS_REC names the caller's variables: E2E_* or BENCH_*).
etcd__ns() { # etcd__ns NAME: harness_ns, the namespace's name in ETCD__NS
	harness_ns "$1"
	local -n last=${HARNESS_REC}_NS
	ETCD__NS=$last
}
etcd__bg() { # etcd__bg NS CMD...: harness_bg, the pid in ETCD__BG
	harness_bg "$@"
	local -n last=${HARNESS_REC}_BG
	ETCD__BG=$last
}
etcd__tmp() {
	local -n tmp=${HARNESS_REC}_TMP
	echo "$tmp"
}
# etcd_join NS IFNAME PORT HOST: NS on the etcd bridge: a veth pair, IFNAME in NS with
# $ETCD_SUBNET.HOST/24, its peer PORT a port of br0 in $ETCD_NET.
etcd_join() {
	harness_link "$1" "$2" "$ETCD_NET" "$3"
	ip -n "$ETCD_NET" link set "$3" master br0
	ip -n "$1" addr add "$ETCD_SUBNET.$4/24" dev "$2"
}

etcd__fatal() { # the tests' e2e_fatal, the benchmarks' bench_fail
	if declare -F e2e_fatal >/dev/null; then e2e_fatal "$@"; else bench_fail "$*"; fi
}

etcd_cluster() {
	if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
		etcd__fatal "etcd and etcdctl missing (deploy/setup.sh installs etcd-server and etcd-client)"
	fi
	local i ns initial="" eps=() tmp
	tmp=$(etcd__tmp)
	etcd__ns etcdnet
	ETCD_NET=$ETCD__NS
	ip -n "$ETCD_NET" link add br0 type bridge
	ip -n "$ETCD_NET" link set br0 up
	ip -n "$ETCD_NET" addr add "$ETCD_SUBNET.254/24" dev br0
	for ((i = 1; i <= ETCD_MEMBERS; i++)); do
		initial+="${initial:+,}m$i=http://$ETCD_SUBNET.$i:2380"
		eps+=("http://$ETCD_SUBNET.$i:2379")
	done
	ETCD_ENDPOINTS=$(
		IFS=,
		echo "${eps[*]}"
	)
	for ((i = 1; i <= ETCD_MEMBERS; i++)); do
		etcd__ns "etcd$i"
		ns=$ETCD__NS
		ETCD_NS+=("$ns")
		etcd_join "$ns" eth0 "m$i" "$i"
		mkdir -p "$tmp/etcd$i"
		ETCD_INITIAL=$initial
		etcd_member_start "$i"
	done
	harness_poll "$ETCD_START_TIMEOUT" 0.1 etcd_healthy ||
		etcd__fatal "etcd cluster: no leader within ${ETCD_START_TIMEOUT}s" \
			"$(tail -n 5 "$tmp"/etcd*/etcd.log)"
	echo "--- etcd cluster up: $ETCD_ENDPOINTS, leader m$(etcd_leader)" >&2
}

# etcd_member_start I: start member I (1..ETCD_MEMBERS) in its namespace, on its data
# dir (a restart after etcd_member_stop keeps its data); its pid in ${ETCD_PIDS[I-1]}.
ETCD_INITIAL=""
etcd_member_start() {
	local i=$1 tmp
	tmp=$(etcd__tmp)
	local -n token=${HARNESS_REC}_PREFIX
	etcd__bg "${ETCD_NS[i - 1]}" etcd --name "m$i" --data-dir "$tmp/etcd$i/data" \
		--listen-peer-urls "http://$ETCD_SUBNET.$i:2380" \
		--initial-advertise-peer-urls "http://$ETCD_SUBNET.$i:2380" \
		--listen-client-urls "http://$ETCD_SUBNET.$i:2379" \
		--advertise-client-urls "http://$ETCD_SUBNET.$i:2379" \
		--initial-cluster "$ETCD_INITIAL" --initial-cluster-state new \
		--initial-cluster-token "$token" --log-outputs stderr "${ETCD_ARGS[@]}" \
		2>>"$tmp/etcd$i/etcd.log"
	ETCD_PIDS[i - 1]=$ETCD__BG
}

# etcd_member_stop I: SIGTERM member I and wait (bounded) for it to end.
etcd_member_stop() {
	local pid=${ETCD_PIDS[$1 - 1]}
	kill -TERM "$pid" 2>/dev/null || true
	harness_poll 10 0.1 eval "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# etcd_tls_member: one more etcd, a cluster of its own, serving HTTPS only to clients
# with a certificate from its CA (made here by openssl), in namespace <prefix>-etcdtls on
# the same bridge. Sets ETCD_TLS_ENDPOINT and ETCD_TLS_DIR (ca.pem; client.pem and
# client.key signed by that CA; other.pem and other.key, a client signed by another CA).
ETCD_TLS_ENDPOINT=""
ETCD_TLS_DIR=""
etcd_tls_member() {
	command -v openssl >/dev/null || e2e_fatal "openssl is missing (deploy/setup.sh installs it)"
	local d=$E2E_TMP/etcdtls ip=$ETCD_SUBNET.9 ns
	ETCD_TLS_DIR=$d/pki
	mkdir -p "$ETCD_TLS_DIR"
	local ca
	for ca in ca otherca; do
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
			-subj "/CN=vrouter etcd test $ca" -keyout "$ETCD_TLS_DIR/$ca.key" \
			-out "$ETCD_TLS_DIR/$ca.pem" 2>/dev/null
	done
	# serverAuth and clientAuth: its own gateway dials it with this certificate.
	etcd__cert server ca "subjectAltName=IP:$ip
extendedKeyUsage=serverAuth,clientAuth"
	etcd__cert client ca "extendedKeyUsage=clientAuth"
	etcd__cert other otherca "extendedKeyUsage=clientAuth"
	e2e_ns etcdtls
	ns=$E2E_NS
	etcd_join "$ns" eth0 mtls "${ip##*.}"
	ETCD_TLS_ENDPOINT=https://$ip:2379
	e2e_bg "$ns" etcd --name tls --data-dir "$d/data" \
		--listen-peer-urls "http://127.0.0.1:2380" \
		--initial-advertise-peer-urls "http://127.0.0.1:2380" \
		--initial-cluster "tls=http://127.0.0.1:2380" --initial-cluster-state new \
		--listen-client-urls "$ETCD_TLS_ENDPOINT" --advertise-client-urls "$ETCD_TLS_ENDPOINT" \
		--cert-file "$ETCD_TLS_DIR/server.pem" --key-file "$ETCD_TLS_DIR/server.key" \
		--client-cert-auth --trusted-ca-file "$ETCD_TLS_DIR/ca.pem" --log-outputs stderr \
		2>"$d/etcd.log"
	e2e_poll "$ETCD_START_TIMEOUT" ip netns exec "$ETCD_NET" curl -sf --cacert "$ETCD_TLS_DIR/ca.pem" \
		--cert "$ETCD_TLS_DIR/client.pem" --key "$ETCD_TLS_DIR/client.key" \
		-X POST -d '{}' "$ETCD_TLS_ENDPOINT/v3/maintenance/status" ||
		e2e_fatal "etcd over TLS: no answer within ${ETCD_START_TIMEOUT}s" "$(tail -n 5 "$d/etcd.log")"
}

# etcd__cert NAME CA EXT: NAME.pem and NAME.key (P-256) signed by CA, with extensions EXT.
etcd__cert() {
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
		-keyout "$ETCD_TLS_DIR/$1.key" -out "$ETCD_TLS_DIR/$1.csr" 2>/dev/null
	printf '%s\n' "$3" >"$ETCD_TLS_DIR/$1.ext"
	openssl x509 -req -in "$ETCD_TLS_DIR/$1.csr" -CA "$ETCD_TLS_DIR/$2.pem" \
		-CAkey "$ETCD_TLS_DIR/$2.key" -CAcreateserial -days 1 \
		-extfile "$ETCD_TLS_DIR/$1.ext" -out "$ETCD_TLS_DIR/$1.pem" 2>/dev/null
}
