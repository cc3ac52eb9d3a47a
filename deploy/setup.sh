#!/usr/bin/env bash
# The script behind the README's two commands.
#
#   deploy/setup.sh run  [vrouterd flags...]   install what is missing, build, start vrouterd
#   deploy/setup.sh test [--unit]              install what is missing, build (normal,
#                                              ASan/UBSan, Release), run the tests
#
# Both re-run themselves with sudo when not root (packages, /etc/iproute2, network
# namespaces for the end-to-end tests). Nothing here changes the host's network: the
# end-to-end tests work in network namespaces they create and remove.
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_DIR"

PACKAGES=(build-essential cmake pkg-config libmicrohttpd-dev libjansson-dev libnl-3-dev
	libnl-route-3-dev libnftnl-dev libmnl-dev libsqlite3-dev libcmocka-dev nftables iproute2
	iputils-ping netcat-openbsd curl jq procps sqlite3 libgnutls28-dev libpcap-dev
	libcurl4-gnutls-dev)
# `test` only: the browser tests (tests/web) drive Debian's chromium, never a downloaded
# browser, through the npm package playwright-core; the OpenAPI checks (tests/api) run
# redocly and ajv. Node and npm come from Debian where the commands are missing (a node
# from elsewhere, e.g. NodeSource's, which bundles npm, is used as it is).
# openssl makes test_tls's certificates, systemd-analyze rates the unit (test_service),
# lintian checks the package (test_package), tcpdump reads the captures' files (test_capture).
TEST_PACKAGES=(chromium openssl systemd lintian clang-format tcpdump)
# The etcd tests run their own members in namespaces; Debian's etcd-server would also
# start a system member on 127.0.0.1:2379 when installed: see ensure_etcd.
ETCD_PACKAGES=(etcd-server etcd-client)
NODE_TEST_DIRS=(tests/web tests/api)
DB_DIR=/var/lib/vrouter
LISTEN=127.0.0.1:8080
# Tests `setup.sh test` runs in build/ only, not again in build-asan/ (see cmd_test).
ASAN_EXCLUDE='^e2e/test_tf_restapi_'

die() {
	echo "setup.sh: $*" >&2
	exit 1
}

usage() {
	cat <<'EOF'
usage: deploy/setup.sh run [vrouterd flags...]
       deploy/setup.sh test [--unit]

  run    install missing packages, build into build/, start build/vrouterd in the
         foreground (database /var/lib/vrouter/vrouter.db, API on 127.0.0.1:8080)
  test   also build build-asan/ (-DVR_SANITIZE=ON, asserts on) and build-rel/ (Release),
         run ctest in build/ and build-asan/ at once (the Terraform tests in build/
         only) and the unit tests in build-rel/;
         the browser and OpenAPI tests also need chromium, node, npm and `npm ci` in
         tests/web and tests/api, which it installs; --unit runs only the unit tests
         (ctest -L unit)
EOF
}

step() { printf '\n==> %s\n' "$*"; }

ensure_root() {
	if [[ $(id -u) -ne 0 ]]; then
		command -v sudo >/dev/null || die "must be root (and sudo is not installed)"
		echo "setup.sh: not root, re-running with sudo" >&2
		exec sudo -- "$REPO_DIR/deploy/setup.sh" "$@"
	fi
}

ensure_packages() { # [PACKAGE...], default: PACKAGES
	local p missing=()
	(($# > 0)) || set -- "${PACKAGES[@]}"
	for p in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$p")
		fi
	done
	if ((${#missing[@]} == 0)); then
		return 0
	fi
	step "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y --no-install-recommends "${missing[@]}"
}

# A naming file only (`ip route` prints "proto vrouter" instead of "proto 245").
install_rt_protos() {
	install -d -m 0755 /etc/iproute2/rt_protos.d
	install -m 0644 deploy/rt_protos.d/vrouter.conf /etc/iproute2/rt_protos.d/vrouter.conf
}

# The user vrouterd's HTTP front end runs as when started as root (vrouterd --user; the
# same account the Debian package and deploy/vrouterd.service use).
ensure_user() {
	id -u vrouter >/dev/null 2>&1 && return 0
	step "creating the system user vrouter"
	useradd --system --home-dir "$DB_DIR" --no-create-home --shell /usr/sbin/nologin vrouter
}

# etcd's binaries without the system member its package would start and enable: the
# install runs under a policy-rc.d that refuses service starts (only when there is none
# already), and a unit this run installed is disabled. An etcd installed before is left
# as it was.
ensure_etcd() {
	local pkg need=0 policy=/usr/sbin/policy-rc.d ours=0
	for pkg in "${ETCD_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need=1
	done
	((need)) || return 0
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\n# vrouter setup.sh: no service starts while etcd-server installs\nexit 101\n' >"$policy"
		chmod 0755 "$policy"
		ours=1
	fi
	ensure_packages "${ETCD_PACKAGES[@]}" || { ((ours)) && rm -f "$policy"; return 1; }
	((ours)) && rm -f "$policy"
	if command -v systemctl >/dev/null; then
		systemctl disable etcd.service >/dev/null 2>&1 || true
	fi
}

# What the tests need beyond PACKAGES: chromium, node and npm, and each Node test folder's
# packages exactly as locked (npm ci), unless its node_modules already holds that lock.
install_test_deps() {
	local dir stamp pkgs=("${TEST_PACKAGES[@]}")
	command -v node >/dev/null || pkgs+=(nodejs)
	command -v npm >/dev/null || pkgs+=(npm)
	ensure_packages "${pkgs[@]}"
	ensure_etcd
	for dir in "${NODE_TEST_DIRS[@]}"; do
		stamp=$dir/node_modules/.vrouter-lock
		cmp -s "$dir/package-lock.json" "$stamp" && continue
		step "npm ci in $dir"
		(cd "$dir" && npm ci --no-audit --no-fund)
		cp "$dir/package-lock.json" "$stamp"
	done
}

build() { # build DIR [cmake args...]
	local dir=$1
	shift
	step "building $dir"
	cmake -S . -B "$dir" "$@"
	cmake --build "$dir" -j "$(nproc)"
}

cmd_run() {
	build build
	# The database belongs to the front end's user (a root-owned one from before is given).
	install -d -m 0700 -o vrouter -g vrouter "$DB_DIR"
	chown vrouter: "$DB_DIR"
	cat <<EOF

vrouterd: API on http://$LISTEN, database $DB_DIR/vrouter.db
token file: $DB_DIR/token (created 0600 on first start)
try, from another terminal:
  curl -sS http://$LISTEN/healthz
  curl -sS -H "Authorization: Bearer \$(sudo cat $DB_DIR/token)" http://$LISTEN/v1/routes

EOF
	exec build/vrouterd --listen "$LISTEN" --db "$DB_DIR/vrouter.db" --token-file "$DB_DIR/token" "$@"
}

# run_ctest DIR LOG JOBS [ctest args...]: runs ctest, each output line prefixed with
# [DIR] (two builds run at once), keeps the output in LOG, returns ctest's rc.
run_ctest() {
	local dir=$1 log=$2 jobs=$3 rc
	shift 3
	echo "==> [$dir] ctest --test-dir $dir -j $jobs $*"
	{
		rc=0
		ctest --test-dir "$dir" --output-on-failure -j "$jobs" "$@" 2>&1 || rc=$?
		echo "$rc" >"$log.rc"
	} | tee "$log" | sed -u "s|^|[$dir] |"
	rc=$(<"$log.rc")
	return "$rc"
}

# "100% tests passed, 0 tests failed out of 12" -> that line, or a word why not. Skipped
# tests (ctest counts them as passed) are named, with the reason each one printed.
ctest_summary() {
	local log=$1 dir=$2 line skipped name why
	line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)
	skipped=$(grep -E '^[[:space:]]*[0-9]+ - .* \(Skipped\)$' "$log" | sed -E 's/^[[:space:]]*[0-9]+ - (.*) \(Skipped\)$/\1/' || true)
	if [[ -n $line && -n $skipped ]]; then
		line+=", but $(wc -l <<<"$skipped") SKIPPED:"
		while read -r name; do
			why=$(awk -v t="$name" '$0 ~ "^[0-9]+/[0-9]+ Testing: " t "$" {f=1} f && /^SKIP: / {print; exit}' \
				"$dir/Testing/Temporary/LastTest.log" 2>/dev/null || true)
			line+=" $name (${why:-no reason printed})"
		done <<<"$skipped"
	fi
	if [[ -n $line ]]; then
		echo "$line"
	elif grep -q 'No tests were found' "$log"; then
		echo "no tests found"
	else
		echo "ctest did not finish"
	fi
}

cmd_test() {
	local ctest_args=() arg
	for arg in "$@"; do
		case $arg in
		--unit) ctest_args=(-L unit) ;;
		*) die "test: unknown option $arg (only --unit)" ;;
		esac
	done

	install_test_deps
	build build
	build build-asan -DVR_SANITIZE=ON
	build build-rel -DCMAKE_BUILD_TYPE=Release

	# Sanitizer reports make the test fail, with a stack trace.
	export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:strict_string_checks=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

	local rc1=0 rc2=0 rc3=0 s1 s2 s3 start=$SECONDS pid2 pid3 jobs
	LOG_DIR=$(mktemp -d)
	trap 'rm -rf "$LOG_DIR"' EXIT
	# The end-to-end tests mostly wait (timeouts that must expire, daemons that must
	# converge), so both builds run at once, several tests each; every test works in its
	# own namespaces. Each line of output is tagged with its build. The Release build
	# (-O3, no asserts) runs the unit tests beside them.
	# Measured on 2 cores: with nproc + 1 each the run used ~1.2 cores for 822 s, so
	# the slots, not the CPUs, were the limit; twice nproc each keeps them busy.
	jobs=$(($(nproc) * 2))
	step "ctest in build/ and build-asan/ at once (-j $jobs each), unit tests in build-rel/"
	# The Terraform tests drive the daemon through terraform and the Go provider (most of
	# their time is terraform's, not ours); the handlers they reach run under ASan in the
	# API and e2e tests, so they run in build/ only.
	run_ctest build-asan "$LOG_DIR/asan.log" "$jobs" "${ctest_args[@]}" -E "$ASAN_EXCLUDE" &
	pid2=$!
	run_ctest build-rel "$LOG_DIR/rel.log" 1 -L unit &
	pid3=$!
	run_ctest build "$LOG_DIR/build.log" "$jobs" "${ctest_args[@]}" || rc1=$?
	wait "$pid2" || rc2=$?
	wait "$pid3" || rc3=$?
	s1=$(ctest_summary "$LOG_DIR/build.log" build)
	s2="$(ctest_summary "$LOG_DIR/asan.log" build-asan); not run there: $ASAN_EXCLUDE"
	s3=$(ctest_summary "$LOG_DIR/rel.log" build-rel)

	echo
	if ((rc1 == 0 && rc2 == 0 && rc3 == 0)); then
		echo "setup.sh test: PASS in $((SECONDS - start))s (build: $s1; build-asan: $s2; build-rel, unit: $s3)"
	else
		echo "setup.sh test: FAIL in $((SECONDS - start))s (build: $s1; build-asan: $s2; build-rel, unit: $s3)"
		return 1
	fi
}

main() {
	local cmd=${1:-}
	case $cmd in
	run | test) ;;
	-h | --help | help)
		usage
		return 0
		;;
	*)
		usage >&2
		return 2
		;;
	esac
	ensure_root "$@"
	shift
	command -v dpkg-query >/dev/null || die "this script expects a Debian/Ubuntu system (dpkg, apt-get)"
	ensure_packages
	install_rt_protos
	ensure_user
	case $cmd in
	run) cmd_run "$@" ;;
	test) cmd_test "$@" ;;
	esac
}

main "$@"
