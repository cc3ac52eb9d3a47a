#!/usr/bin/env bash
# The etcd client (core/etcd.c) against a real three-member etcd cluster in namespaces
# of the test's own (lib_etcd.sh): range, put, prefix, txn compares, leases and their
# expiry, watches in order and from a compacted revision, a watch's member cut off (TCP
# keepalive notices, it goes on elsewhere missing nothing), the leader killed (no
# acknowledged put lost, the client and its watch go on through another member), and
# every member stopped or dead ("unreachable" within its timeouts); and HTTPS with a
# client certificate against a fourth, single-member etcd (wrong certificates refused).
# tests/e2e/etcd_probe.c holds the checks; it runs in the namespace of the cluster's bridge.
set -Eeuo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_etcd.sh"

e2e_init etcd
probe=${ETCD_PROBE:-$E2E_SRC/build/tests/etcd_probe}
[[ -x $probe ]] || e2e_fatal "$probe not built"

e2e_step "a three-member cluster, and one member over TLS"
etcd_cluster
etcd_tls_member
check_eq "etcd is 3.4 (the gateway's paths)" 3.4 "$(etcd --version | sed -n 's/^etcd Version: \(3\.[0-9]*\).*/\1/p')"

e2e_step "etcd_probe"
pid_list=$(
	IFS=,
	echo "${ETCD_PIDS[*]}"
)
rc=0
t0=$(date +%s%N)
out=$(e2e_in "$ETCD_NET" env ETCD_ENDPOINTS="$ETCD_ENDPOINTS" ETCD_PIDS="$pid_list" \
	ETCD_TLS_ENDPOINT="$ETCD_TLS_ENDPOINT" ETCD_TLS_DIR="$ETCD_TLS_DIR" "$probe" 2>&1) || rc=$?
printf '%s\n' "$out" | sed 's/^/       /'
if ((rc == 0)) && grep -q '^\[  PASSED  \] 11 test(s)' <<<"$out"; then
	pass "etcd_probe: all 11 tests passed in $((($(date +%s%N) - t0) / 1000000)) ms"
else
	fail "etcd_probe: exit $rc" "$(tail -n 5 "$E2E_TMP"/etcd*/etcd.log)"
fi

e2e_done
