#!/usr/bin/env bash
# The web UI in Debian's chromium (playwright-core), against real vrouterd daemons in
# the seed lab: net01 (192.168.150.2) -- router -- net02 (192.168.100.2), each host with
# its own daemon. The browser checks are in ui.test.mjs; this script builds the lab,
# starts the daemons and runs node inside a namespace of its own (lo only), which
# starts one chromium per host inside that host's namespace (chromium-netns). Nothing
# runs in the machine's own network namespace. Screenshots of every page at 1280 and
# 390 px go to $VR_WEB_ARTIFACTS (ctest sets it to <build>/web-artifacts).
#
# Needs root, /usr/bin/chromium, node, and `npm ci` done in tests/web
# (deploy/setup.sh test does all of it).
# shellcheck disable=SC2317
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/../e2e/lib.sh"
# shellcheck source=tests/web/lib_web.sh
. "$HERE/lib_web.sh"
# shellcheck source=deploy/lab-topology.sh
. "${VR_SRC:-$HERE/../..}/deploy/lab-topology.sh"

e2e_init web_ui

web_requirements

e2e_step "lab"
e2e_lab
e2e_ns browser # node runs here: no link but lo, so the test itself can reach nothing
B=$E2E_NS
e2e_daemon "$R"
e2e_daemon "$N1"
e2e_daemon "$N2"
# net01 gets a second token, scope read, for the UI's read-only mode.
READ_TOKEN=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
printf 'default write %s\nviewer read %s\n' "$(e2e_token "$N1")" "$READ_TOKEN" >"$(e2e_token_file "$N1")"
kill -HUP "${E2E_DAEMON_PID[$N1]}"
read_token_in_force() {
	[[ $(ip netns exec "$N1" curl -s -H "Authorization: Bearer $READ_TOKEN" "http://127.0.0.1:$E2E_PORT/v1/whoami") == *viewer* ]]
}
e2e_poll 5 read_token_in_force ||
	e2e_fatal "net01's daemon did not take its read token on SIGHUP"

ART=${VR_WEB_ARTIFACTS:-$E2E_TMP/artifacts}
rm -rf -- "$ART"
mkdir -p "$ART"

e2e_step "browser"
web_settled "$R" "$N1" "$N2" # chromium runs in these
web_run "$B" ui.test.mjs "$ART" \
	VR_WEB_NS_ROUTER="$R" VR_WEB_TOKEN_ROUTER="$(e2e_token "$R")" \
	VR_WEB_NS_NET01="$N1" VR_WEB_TOKEN_NET01="$(e2e_token "$N1")" VR_WEB_READ_TOKEN_NET01="$READ_TOKEN" \
	VR_WEB_NS_NET02="$N2" VR_WEB_TOKEN_NET02="$(e2e_token "$N2")"
e2e_log "screenshots of every page: $ART"
e2e_done
