#!/usr/bin/env bash
# The C sources follow .clang-format: this lists every file that clang-format would
# change, with the first line it would change, and fails if there is one. Fix with
#   clang-format -i FILE...
set -euo pipefail
src=${VR_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
cd "$src"
command -v clang-format >/dev/null || {
	echo "SKIP: clang-format is not installed (apt-get install clang-format)"
	exit 77
}
mapfile -t files < <(find core server tests -name node_modules -prune -o \
	-type f \( -name '*.c' -o -name '*.h' \) -print | sort)
((${#files[@]} > 0)) || {
	echo "no C files found under $src"
	exit 1
}
out=$(clang-format --style=file --dry-run --Werror "${files[@]}" 2>&1) && rc=0 || rc=$?
bad=$(grep -oE '^[^:]+\.[ch]:[0-9]+:[0-9]+: (error|warning)' <<<"$out" | cut -d: -f1 | sort -u || true)
if [[ -n $bad ]]; then
	while read -r f; do
		echo "not formatted: $f (first place: $(grep -m1 -oE "^$f:[0-9]+" <<<"$out"))"
	done <<<"$bad"
fi
echo "$(clang-format --version | head -n 1): ${#files[@]} files, $(grep -c . <<<"$bad" || true) not formatted"
# Not a formatting difference: clang-format itself failed (say why).
[[ $rc == 0 || -n $bad ]] || head -n 20 <<<"clang-format failed: $out"
exit $((rc != 0))
