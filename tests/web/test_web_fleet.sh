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
# shellcheck source=tests/web/lib_web.sh
. "$HERE/lib_web.sh"
# shellcheck source=tests/e2e/lib_etcd.sh
. "$HERE/../e2e/lib_etcd.sh"

e2e_init web_fleet

web_requirements

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
	etcd_join "$E2E_NS" eth0 "w$r" "$n"
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
web_settled "${RNS[r1]}" "${RNS[r2]}" # chromium runs in r1's
e2e_ns browser # node runs here: no link but lo, so the test itself can reach nothing
web_run "$E2E_NS" fleet.test.mjs "$ART" \
	VR_WEB_R1_NS="${RNS[r1]}" VR_WEB_R1_TOKEN="$(e2e_token "${RNS[r1]}")" \
	VR_WEB_R2_NS="${RNS[r2]}" VR_WEB_R2_TOKEN="$(e2e_token "${RNS[r2]}")"
e2e_done
