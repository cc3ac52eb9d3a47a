#!/usr/bin/env bash
# Run the fuzzing harnesses as libFuzzer programs (tests/fuzz/README.md):
#
#   tests/fuzz/run.sh [NAME|all] [SECONDS]
#
#   NAME     cidr, model, config, http or privsep (default: all of them)
#   SECONDS  how long each one runs (default 600)
#
# Installs clang and libclang-rt-14-dev when missing (apt-get, as root or through sudo),
# builds build-fuzz/ with clang (-fsanitize=fuzzer,address,undefined: -DVR_FUZZ=ON
# -DVR_SANITIZE=ON) and runs the harnesses FUZZ_JOBS at a time (default 2), each under
# nice. Each one starts from its seed corpus (tests/fuzz/corpus/NAME, only read) and
# what earlier runs found (build-fuzz/fuzz/corpus/NAME, where new inputs go); crashing
# inputs go to build-fuzz/fuzz/crashes/NAME/, the log to build-fuzz/fuzz/NAME.log. Then
# one line each: executions, coverage and corpus at the start and the end, crashes.
#
# Exit status: 0 when every harness ran its time without a finding, 1 when one found
# something (or could not run), 2 for a usage error.
#
# Environment: FUZZ_JOBS (harnesses at once), FUZZ_BUILD (default <repo>/build-fuzz),
# FUZZ_ARGS (more libFuzzer flags, e.g. -seed=1).
set -Eeuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$HERE/../.." && pwd)
ALL=(cidr model config http privsep)
BUILD_DIR=${FUZZ_BUILD:-$REPO_DIR/build-fuzz}
JOBS=${FUZZ_JOBS:-2}
OUT=$BUILD_DIR/fuzz
PACKAGES=(clang libclang-rt-14-dev)

usage() {
	sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-2}"
}

NAME=${1:-all}
SECONDS_EACH=${2:-600}
[[ $NAME == -h || $NAME == --help ]] && usage 0
(($# <= 2)) || usage
[[ $SECONDS_EACH =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: SECONDS must be a positive number" >&2 && usage; }
if [[ $NAME == all ]]; then
	NAMES=("${ALL[@]}")
elif [[ " ${ALL[*]} " == *" $NAME "* ]]; then
	NAMES=("$NAME")
else
	echo "run.sh: unknown harness $NAME (known: ${ALL[*]})" >&2
	usage
fi

# Per harness: the longest input worth trying (the http seeds include a 17 kB head, to
# go past HTTP_HEAD_MAX) and its dictionary.
max_len() {
	case $1 in
	cidr) echo 128 ;;
	model) echo 4096 ;;
	config) echo 16384 ;;
	http) echo 20000 ;;
	esac
}
dict() {
	case $1 in
	cidr) ;;
	model | config) echo "-dict=$HERE/json.dict" ;;
	http) echo "-dict=$HERE/http.dict" ;;
	esac
}

ensure_packages() {
	local p missing=() sudo=()
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	if [[ $(id -u) -ne 0 ]]; then
		command -v sudo >/dev/null || { echo "run.sh: installing ${missing[*]} needs root" >&2 && exit 1; }
		sudo=(sudo)
	fi
	echo "==> installing ${missing[*]}"
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

ensure_packages
echo "==> building the libFuzzer programs in $BUILD_DIR"
cmake -S "$REPO_DIR" -B "$BUILD_DIR" -DCMAKE_C_COMPILER=clang -DVR_FUZZ=ON -DVR_SANITIZE=ON \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
nice cmake --build "$BUILD_DIR" -j2 --target "${NAMES[@]/#/fuzz_}"

# run NAME: one harness for SECONDS_EACH; its libFuzzer exit status.
run() {
	local name=$1
	local extra=()
	read -ra extra <<<"${FUZZ_ARGS:-}"
	mkdir -p "$OUT/corpus/$name" "$OUT/crashes/$name"
	touch "$OUT/$name.start" # findings of earlier runs stay, but are not this run's
	# shellcheck disable=SC2046 # dict expands to one flag or none
	nice -n 19 "$BUILD_DIR/tests/fuzz/fuzz_$name" -max_total_time="$SECONDS_EACH" -max_len="$(max_len "$name")" \
		-timeout=60 -print_final_stats=1 -artifact_prefix="$OUT/crashes/$name/" \
		$(dict "$name") "${extra[@]}" "$OUT/corpus/$name" "$HERE/corpus/$name" \
		>"$OUT/$name.log" 2>&1
}

# This run's findings for NAME.
findings() {
	find "$OUT/crashes/$1" -type f -newer "$OUT/$1.start"
}

# The figures of one log: executions, exec/s, cov/ft/corpus at INITED and at the end.
summary() {
	local name=$1 log=$OUT/$1.log crashes
	crashes=$(findings "$name" | wc -l)
	awk -v name="$name" -v crashes="$crashes" '
		/INITED/ { for (i = 1; i <= NF; i++) { if ($i == "cov:") c0 = $(i + 1); if ($i == "ft:") f0 = $(i + 1); if ($i == "corp:") k0 = $(i + 1) } }
		/^#[0-9]+/ { for (i = 1; i <= NF; i++) { if ($i == "cov:") c1 = $(i + 1); if ($i == "ft:") f1 = $(i + 1); if ($i == "corp:") k1 = $(i + 1) } }
		/^stat::number_of_executed_units:/ { runs = $2 }
		/^stat::average_exec_per_sec:/ { eps = $2 }
		/^stat::new_units_added:/ { added = $2 }
		/^stat::peak_rss_mb:/ { rss = $2 }
		END {
			printf "%-7s %10s execs %6s/s  cov %s -> %s  ft %s -> %s  corpus %s -> %s (+%s)  rss %s MB  crashes %d\n",
				name, runs, eps, c0, c1, f0, f1, k0, k1, added, rss, crashes
		}' "$log"
}

echo "==> running ${NAMES[*]} for $SECONDS_EACH s each, $JOBS at a time (logs in $OUT)"
declare -A PID_OF
status=0
for name in "${NAMES[@]}"; do
	while (($(jobs -rp | wc -l) >= JOBS)); do
		wait -n || true
	done
	echo "    $name: started $(date +%T)"
	run "$name" &
	PID_OF[$name]=$!
done
for name in "${NAMES[@]}"; do
	if ! wait "${PID_OF[$name]}"; then
		status=1
	fi
done

echo "==> results"
for name in "${NAMES[@]}"; do
	summary "$name"
	if [[ -n $(findings "$name") ]]; then
		status=1
		findings "$name" | sed 's/^/        finding: /'
	fi
done
((status == 0)) || echo "==> a harness found something or failed: see $OUT/*.log" >&2
exit "$status"
