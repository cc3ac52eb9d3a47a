#!/usr/bin/env bash
# schema/openapi.yaml against a live daemon: the document the daemon serves at
# /openapi.yaml is the source file, and every example of it is sent to (or checked
# against) a vrouterd on the lab's router, as tests/api/examples.mjs describes: the
# documented status, media type and schema of each answer.
#
# The router starts bare, as in the two-router lab: links enp0s1 (to net01,
# 192.168.150.2/24, fd00:150::2/64) and enp0s2 (to net02, 192.168.100.2/24,
# fd00:100::2/64), no address, forwarding off. The examples give it its subnets,
# routes, groups and settings through the API, in the document's order.
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"
# shellcheck source=deploy/lab-topology.sh
. "${VR_SRC:-$HERE/../..}/deploy/lab-topology.sh"

e2e_init openapi_examples
API_DIR=$E2E_SRC/tests/api
command -v node >/dev/null || e2e_fatal "node is not installed (deploy/setup.sh installs nodejs)"
[[ -d $API_DIR/node_modules/ajv ]] || e2e_fatal "$API_DIR/node_modules is missing: run npm ci there (deploy/setup.sh does)"

e2e_ns router
R=$E2E_NS
e2e_ns net01
N1=$E2E_NS
e2e_ns net02
N2=$E2E_NS
for ns in "$R" "$N1" "$N2"; do
	lab_ns_prepare "$ns"
	lab_forwarding "$ns" 0
done
lab_veth "$N1" enp0s1 "$R" enp0s1
lab_veth "$R" enp0s2 "$N2" enp0s1
lab_addr "$N1" enp0s1 192.168.150.2/24 fd00:150::2/64
lab_addr "$N2" enp0s1 192.168.100.2/24 fd00:100::2/64
e2e_daemon "$R"

e2e_step "the daemon serves the document"
e2e_curl "$R" GET /openapi.yaml >/dev/null
e2e_expect_status 200 "GET /openapi.yaml"
check_eq "as application/yaml" "application/yaml" "$(e2e_header Content-Type)"
check "byte for byte schema/openapi.yaml" cmp "$E2E_TMP/body" "$E2E_SRC/schema/openapi.yaml"

e2e_step "every example"
out=$(ip netns exec "$R" node "$API_DIR/examples.mjs" --doc "$E2E_SRC/schema/openapi.yaml" \
	--base "http://127.0.0.1:$E2E_PORT" --token-file "$(e2e_token_file "$R")" 2>&1) && rc=0 || rc=$?
printf '%s\n' "$out" | grep -v '^ok ' || true
if ((rc == 0)); then
	pass "examples.mjs: $(tail -n 1 <<<"$out")"
else
	fail "examples.mjs (exit $rc): $(tail -n 1 <<<"$out")"
fi
check_match "it sent examples to the daemon" '^ok   - (POST|PUT) /v1/routes example ' "$out"

e2e_done
