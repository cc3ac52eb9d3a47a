#!/usr/bin/env bash
# The libnl kernel adapter against the real kernel, in a namespace of its own:
# routes (add/replace/delete of every type, failures and their reasons),
# owned addresses and policy rules beside foreign ones, forwarding, links,
# tables in use, events.
set -euo pipefail
[[ $(id -u) -eq 0 ]] || { echo "test_kernel_probe: FAIL: needs root (network namespaces)"; exit 1; }
probe=${KERNEL_PROBE:-$(dirname "$0")/../../build/tests/kernel_probe}
[[ -x $probe ]] || { echo "test_kernel_probe: FAIL: $probe not built"; exit 1; }
ns=vrkp-$$-$RANDOM
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
# Forwarding is per namespace: the probe flips it in its own, never here.
# These are only read, never written.
fwd() { cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv6/conf/all/forwarding 2>/dev/null | tr '\n' ' '; }
before=$(fwd)
ip netns add "$ns"
rc=0
ip netns exec "$ns" "$probe" check || rc=$?
after=$(fwd)
if [[ $before != "$after" ]]; then
	echo "test_kernel_probe: FAIL: the root namespace's forwarding changed: $before-> $after"
	exit 1
fi
echo "ok   root namespace forwarding untouched ($before)"
exit $rc
