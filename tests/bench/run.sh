#!/usr/bin/env bash
# The benchmarks, in one command (tests/bench/README.md):
#
#   sudo tests/bench/run.sh [--quick | --full] [--no-build] [name...]
#
#   name        sg-connrate, api-rps, post-rate, routes-apply, post-latency, sg-apply, memory,
#               startup, scale, fleet (default: all)
#   --quick     shorter runs (2 s, one round, fewer POSTs): a smoke run, rougher figures
#   --full      also at 1,000,000 routes (issue 15's full-table sizes): routes-apply,
#               post-latency, memory, startup and scale (about 10 minutes in all, quiet)
#   --no-build  use build/vrouterd as it is (do not run cmake --build)
#
# Installs the Debian packages it needs (apt-get, as deploy/setup.sh does), builds
# build/ with CMake when needed and the benchmark tools into build/bench/, then runs each
# benchmark in network namespaces of its own (removed afterwards, also on failure).
# Prints for each benchmark our figure, the anchor's (measured in the same run), the
# ratio and the goal, and writes the same lines to tests/bench/results/latest.txt.
#
# Exit status: 0 when every benchmark ran, whether or not it met its goal (this reports,
# it does not gate); 1 when a benchmark could not run; 2 for a usage error.
#
# Environment: VROUTERD (default build/vrouterd), BENCH_DURATION (seconds per run),
# BENCH_ROUNDS (runs per variant, the median is reported), BENCH_KEEP=1 (keep temp dirs),
# BENCH_SG_RULES (default 10000), BENCH_CONN_WORKERS (default 8), and the others listed
# in tests/bench/README.md.
set -Eeuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$HERE/../.." && pwd)
ALL=(sg-connrate api-rps post-rate routes-apply post-latency sg-apply memory startup scale fleet)
PACKAGES=(build-essential cmake pkg-config libmicrohttpd-dev libjansson-dev libnl-3-dev
	libnl-route-3-dev libnftnl-dev libmnl-dev libsqlite3-dev libcmocka-dev nftables iproute2
	curl jq procps sqlite3 wrk libgnutls28-dev)

usage() {
	sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-2}"
}

QUICK=0
FULL=0
BUILD=1
NAMES=()
for arg in "$@"; do
	case $arg in
	--quick) QUICK=1 ;;
	--full) FULL=1 ;;
	--no-build) BUILD=0 ;;
	-h | --help) usage 0 ;;
	-*) echo "run.sh: unknown option $arg" >&2 && usage ;;
	*)
		[[ " ${ALL[*]} " == *" $arg "* ]] || { echo "run.sh: unknown benchmark $arg (known: ${ALL[*]})" >&2 && exit 2; }
		NAMES+=("$arg")
		;;
	esac
done
((${#NAMES[@]})) || NAMES=("${ALL[@]}")
((QUICK && FULL)) && echo "run.sh: --quick and --full exclude each other" >&2 && usage

if [[ $(id -u) -ne 0 ]]; then
	command -v sudo >/dev/null || { echo "run.sh: must be root (network namespaces), and sudo is not installed" >&2 && exit 1; }
	echo "run.sh: not root, re-running with sudo" >&2
	exec sudo -- "$0" "$@"
fi

step() { printf '\n==> %s\n' "$*" >&2; }

ensure_packages() {
	local p missing=()
	for p in "${PACKAGES[@]}"; do
		[[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) == *'install ok installed'* ]] || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	step "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y --no-install-recommends "${missing[@]}"
}

# build/: configure when missing, then an incremental build. If the build fails (the
# tree is being edited) go on with the binary of the last good build, saying so loudly:
# build/bench/vrouterd.last-good is a copy of it (a failed link may delete build/vrouterd).
build_vrouterd() {
	local last=$REPO_DIR/build/bench/vrouterd.last-good
	export VROUTERD=${VROUTERD:-$REPO_DIR/build/vrouterd}
	if ((BUILD)) && [[ $VROUTERD == "$REPO_DIR/build/vrouterd" ]]; then
		step "building build/ (cmake)"
		mkdir -p "$REPO_DIR/build/bench"
		if [[ -x $VROUTERD ]] && [[ ! -e $last || $VROUTERD -nt $last ]]; then
			cp -p "$VROUTERD" "$last"
		fi
		if [[ ! -f $REPO_DIR/build/CMakeCache.txt ]]; then
			cmake -S "$REPO_DIR" -B "$REPO_DIR/build" >&2 || true
		fi
		if cmake --build "$REPO_DIR/build" -j "$(nproc)" --target vrouterd >&2; then
			cp -p "$VROUTERD" "$last"
		else
			[[ -x $last ]] || { echo "run.sh: the build failed and there is no earlier vrouterd" >&2 && return 1; }
			VROUTERD=$last
			echo "run.sh: WARNING: the build failed; benchmarking the last good build ($(date -r "$VROUTERD" '+%F %T'))" >&2
			BUILD_NOTE="WARNING: build failed, benchmarked the last good build/vrouterd, of $(date -r "$VROUTERD" '+%F %T')"
		fi
	fi
	[[ -x $VROUTERD ]] || { echo "run.sh: no $VROUTERD (build it, or set VROUTERD)" >&2 && return 1; }
}

# The tools, rebuilt when a source is newer than the binary.
build_tools() {
	export BENCH_BIN=$REPO_DIR/build/bench
	mkdir -p "$BENCH_BIN"
	if [[ ! -x $BENCH_BIN/connrate || $HERE/connrate.c -nt $BENCH_BIN/connrate ]]; then
		cc -O2 -g -Wall -Wextra -Werror -pthread -o "$BENCH_BIN/connrate" "$HERE/connrate.c"
	fi
	if [[ ! -x $BENCH_BIN/mhd_min || $HERE/mhd_min.c -nt $BENCH_BIN/mhd_min ]]; then
		# shellcheck disable=SC2046 # pkg-config's words
		cc -O2 -g -Wall -Wextra -Werror -o "$BENCH_BIN/mhd_min" "$HERE/mhd_min.c" \
			$(pkg-config --cflags --libs libmicrohttpd)
	fi
}

machine() {
	local cpu
	cpu=$(grep -m1 '^model name' /proc/cpuinfo | sed 's/^[^:]*: *//')
	echo "machine: $(nproc) CPUs, ${cpu:-unknown CPU}, kernel $(uname -r), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
}

BUILD_NOTE=""
ensure_packages
build_vrouterd
build_tools

RESULTS_DIR=$HERE/results
mkdir -p "$RESULTS_DIR"
OUT=$(mktemp "${TMPDIR:-/tmp}/vrbench-results.XXXXXX")
trap 'rm -f "$OUT"' EXIT
{
	echo "vrouter benchmarks, $(date -u '+%F %T UTC'), $(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO_DIR" diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')$( ((QUICK)) && echo ', --quick')$( ((FULL)) && echo ', --full')"
	machine
	echo "vrouterd: $VROUTERD ($(date -r "$VROUTERD" '+%F %T'))${BUILD_NOTE:+; $BUILD_NOTE}"
} >"$OUT"
cat "$OUT"

export BENCH_OUT=$OUT BENCH_QUICK=$QUICK BENCH_SRC=$REPO_DIR
# --full: issue 15 goal 2's sizes. A size set in the environment stands. memory and
# startup take one size a run: they run at their default first, then at 1,000,000.
if ((FULL)); then
	export BENCH_ROUTES_SIZES=${BENCH_ROUTES_SIZES:-10000 100000 1000000}
	export BENCH_SCALE_SIZES=${BENCH_SCALE_SIZES:-1000 10000 100000 1000000}
	export BENCH_POST_BIG=${BENCH_POST_BIG:-1000000}
fi
run_one() { # NAME [VAR=VALUE...]: rc in $rc
	rc=0
	env "${@:2}" bash "$HERE/$1.sh" || rc=$?
}
failed=()
for name in "${NAMES[@]}"; do
	step "benchmark $name"
	run_one "$name"
	if ((FULL && rc == 0)); then
		case $name in
		memory) step "benchmark $name at 1,000,000 routes" && run_one "$name" BENCH_MEM_ROUTES=1000000 ;;
		startup) step "benchmark $name at 1,000,000 routes" && run_one "$name" BENCH_START_ROUTES=1000000 ;;
		esac
	fi
	if ((rc == 130 || rc == 143)); then
		echo "run.sh: interrupted; results/latest.txt left as it was" >&2
		exit "$rc"
	fi
	if ((rc != 0)); then
		failed+=("$name")
		grep -q "^$name " "$OUT" || echo "$name  COULD NOT RUN (exit status $rc, see above)" >>"$OUT"
	fi
done

cp "$OUT" "$RESULTS_DIR/latest.txt"
chmod 644 "$RESULTS_DIR/latest.txt"
step "results (also in ${RESULTS_DIR#"$REPO_DIR"/}/latest.txt)"
cat "$OUT"
if ((${#failed[@]})); then
	echo "run.sh: could not run: ${failed[*]}" >&2
	exit 1
fi
exit 0
