#!/usr/bin/env bash
# The libnl route adapter against the real kernel, in a namespace of its own:
# add/replace/delete of every route type, failures and their reasons, events.
set -euo pipefail
[[ $(id -u) -eq 0 ]] || { echo "test_kernel_probe: FAIL: needs root (network namespaces)"; exit 1; }
probe=${KERNEL_PROBE:-$(dirname "$0")/../../build/tests/kernel_probe}
[[ -x $probe ]] || { echo "test_kernel_probe: FAIL: $probe not built"; exit 1; }
ns=vrkp-$$-$RANDOM
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
ip netns add "$ns"
ip netns exec "$ns" "$probe" check
