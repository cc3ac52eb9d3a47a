#!/usr/bin/env bash
# The web UI of a fleet router in Debian's chromium (playwright-core): a one-member etcd
# (tests/e2e/lib_etcd.sh) and two routers in fleet mode, r1 and r2, each in a namespace
# of its own on the etcd bridge; chromium runs inside r1's namespace (127.0.0.1:8080 is
# r1's vrouterd). The checks are in fleet.test.mjs: the router field, filter and column,
# a route for r2 made from r1's page and seen in r2's kernel, the Routers page, the
# settings of r2 from r1's page, and the "etcd unreachable" badge while r1 is cut off.
# Nothing runs in the machine's own network namespace.
#
# Needs root, /usr/bin/chromium, node, etcd, and `npm ci` done in tests/web
# (deploy/setup.sh test does all of it).
# shellcheck disable=SC2317
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/../e2e/lib.sh"
# shellcheck source=tests/e2e/lib_etcd.sh
. "$HERE/../e2e/lib_etcd.sh"

e2e_init web_fleet

[[ -x /usr/bin/chromium ]] || e2e_fatal "/usr/bin/chromium is missing: apt-get install chromium (deploy/setup.sh test installs it)"
command -v node >/dev/null || e2e_fatal "node is missing: apt-get install nodejs (deploy/setup.sh test installs it)"
[[ -f $HERE/node_modules/playwright-core/package.json && -f $HERE/node_modules/axe-core/axe.min.js ]] ||
	e2e_fatal "tests/web/node_modules is missing: run (cd tests/web && npm ci), as deploy/setup.sh test does"

e2e_step "etcd and two fleet routers"
# shellcheck disable=SC2034 # lib_etcd.sh reads it
ETCD_MEMBERS=1
etcd_cluster
declare -A RNS
n=20
for r in r1 r2; do
	e2e_ns "$r"
	RNS[$r]=$E2E_NS
	n=$((n + 1))
	e2e_link "$E2E_NS" eth0 "$ETCD_NET" "w$r"
	ip -n "$ETCD_NET" link set "w$r" master br0
	ip -n "$E2E_NS" addr add "$ETCD_SUBNET.$n/24" dev eth0
	# A link for routes to go through (10.20.0.0/24 on both, no traffic).
	ip -n "$E2E_NS" link add e0 type veth peer name e1
	ip -n "$E2E_NS" link set e0 up
	ip -n "$E2E_NS" link set e1 up
	ip -n "$E2E_NS" addr add 10.20.0.1/24 dev e0
	e2e_daemon "$E2E_NS" --etcd "$ETCD_ENDPOINTS" --router "$r"
done

ART=${VR_WEB_ARTIFACTS:-$E2E_TMP/artifacts}
mkdir -p "$ART"

e2e_step "browser"
# chromium runs in r1's namespace: its links' addresses must be settled first.
for r in r1 r2; do
	e2e_addrs_settled "${RNS[$r]}" || e2e_fatal "$r's namespace still has tentative IPv6 addresses after 10 s"
done
e2e_ns browser # node runs here: no link but lo, so the test itself can reach nothing
B=$E2E_NS
result=$E2E_TMP/web-result.json
rc=0
ip netns exec "$B" env VR_WEB_R1_NS="${RNS[r1]}" VR_WEB_R1_TOKEN="$(e2e_token "${RNS[r1]}")" \
	VR_WEB_R2_NS="${RNS[r2]}" VR_WEB_R2_TOKEN="$(e2e_token "${RNS[r2]}")" \
	VR_WEB_RESULT="$result" VR_WEB_ARTIFACTS="$ART" TMPDIR="$E2E_TMP" \
	node "$HERE/fleet.test.mjs" </dev/null || rc=$?
if [[ -s $result ]]; then
	E2E_PASSED=$((E2E_PASSED + $(jq -r .passed "$result")))
	E2E_FAILED=$((E2E_FAILED + $(jq -r .failed "$result")))
fi
if ((rc != 0)) && [[ ! -s $result ]]; then
	fail "the browser test exited with status $rc before it counted its checks"
fi
e2e_done
