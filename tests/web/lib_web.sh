# shellcheck shell=bash
# What the browser tests (test_web.sh, test_web_fleet.sh) share; sourced after
# tests/e2e/lib.sh.

WEB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# web_requirements: chromium, node and tests/web's npm packages are here, or the test
# stops saying how to get them.
web_requirements() {
	[[ -x /usr/bin/chromium ]] || e2e_fatal "/usr/bin/chromium is missing: apt-get install chromium (deploy/setup.sh test installs it)"
	command -v node >/dev/null || e2e_fatal "node is missing: apt-get install nodejs (deploy/setup.sh test installs it)"
	[[ -f $WEB_DIR/node_modules/playwright-core/package.json && -f $WEB_DIR/node_modules/axe-core/axe.min.js ]] ||
		e2e_fatal "tests/web/node_modules is missing: run (cd tests/web && npm ci), as deploy/setup.sh test does"
}

# web_settled NS...: the namespaces chromium will run in have their links' addresses
# settled (e2e_addrs_settled), or the test stops.
web_settled() {
	local ns
	for ns in "$@"; do
		e2e_addrs_settled "$ns" || e2e_fatal "$ns still has tentative IPv6 addresses after 10 s"
	done
}

# web_run NS SCRIPT ARTIFACTS [VAR=VALUE...]: node SCRIPT (in tests/web) inside NS with
# the variables given, screenshots into ARTIFACTS; its checks count as this test's.
web_run() {
	local ns=$1 script=$2 art=$3 result=$E2E_TMP/web-result.json rc=0
	shift 3
	ip netns exec "$ns" env VR_WEB_RESULT="$result" VR_WEB_ARTIFACTS="$art" TMPDIR="$E2E_TMP" "$@" \
		node "$WEB_DIR/$script" </dev/null || rc=$?
	if [[ -s $result ]]; then
		E2E_PASSED=$((E2E_PASSED + $(jq -r .passed "$result")))
		E2E_FAILED=$((E2E_FAILED + $(jq -r .failed "$result")))
	fi
	if ((rc != 0)) && [[ ! -s $result ]]; then
		fail "the browser test exited with status $rc before it counted its checks"
	fi
}
