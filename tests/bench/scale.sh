#!/usr/bin/env bash
# scale: how time and memory per operation grow with the table (issue 15 goal 6). Run
# through run.sh.
#
# For each size N in BENCH_SCALE_SIZES (default 1000 10000 100000), in a fresh router
# namespace with a fresh vrouterd:
#   put       PUT /v1/config of N routes, durable and applied (answer + convergence), per route
#   ip-batch  `ip -batch` of the same N routes in another fresh namespace (the anchor), per route
#   post      one more route POSTed, median of BENCH_SCALE_POSTS sequential requests
#   page      GET /v1/routes?limit=100, median of as many requests (must stay O(page))
#   rss       the daemon's resident memory after the above (VmRSS, every process of the
#             daemon), and its peak so far (VmHWM)
#   config    GET /v1/config of the whole table, per route, and the daemon's peak memory
#             during it alone (VmHWM reset through /proc/PID/clear_refs just before)
# Sizes go up to 1,000,000 (BENCH_SCALE_SIZES="1000 10000 100000 1000000").
# Prints one line per size, writes results/scale.csv and draws results/scale.svg (time
# per operation and memory against N, both axes logarithmic) so that growth is visible at
# a glance.
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/bench/lib.sh
source "$HERE/lib.sh"
bench_init scale

if [[ ${BENCH_QUICK:-0} == 1 ]]; then
	SIZES=${BENCH_SCALE_SIZES:-1000 10000}
	POSTS=${BENCH_SCALE_POSTS:-10}
else
	SIZES=${BENCH_SCALE_SIZES:-1000 10000 100000}
	POSTS=${BENCH_SCALE_POSTS:-30}
fi
RESULTS=${BENCH_RESULTS_DIR:-$HERE/results}
[[ -x $VROUTERD ]] || bench_fail "vrouterd not found at $VROUTERD"
for t in curl jq ip awk; do
	command -v "$t" >/dev/null || bench_fail "$t is not installed (run.sh installs it)"
done
BENCH_RT_ADDR=172.31.255.1/24
BENCH_RT_VIA=172.31.255.2

# timed_get NS PATH: seconds of one GET (curl's time_total), the body thrown away.
timed_get() {
	ip netns exec "$1" curl -sS -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 300 \
		-H "Authorization: Bearer ${BENCH_TOKEN[$1]}" "http://127.0.0.1:$BENCH_PORT$2"
}

# median_ms NS METHOD PATH BODYGEN COUNT: median ms of COUNT requests, each a curl of its own.
median_ms() {
	local ns=$1 method=$2 path=$3 gen=$4 count=$5 i out body ms=()
	for ((i = 0; i < count; i++)); do
		body=$($gen "$i")
		out=$(ip netns exec "$ns" curl -sS -o /dev/null -w '%{http_code} %{time_total}' \
			--max-time 60 -X "$method" -H "Authorization: Bearer ${BENCH_TOKEN[$ns]}" \
			${body:+-H "Content-Type: application/json" --data-binary "$body"} \
			"http://127.0.0.1:$BENCH_PORT$path")
		[[ ${out%% *} == 2* ]] || bench_fail "$method $path answered ${out%% *}"
		ms+=("$(s_to_ms "${out#* }" 3)")
	done
	median "${ms[@]}"
}
no_body() { :; }
post_body() { printf '{"destination":"10.254.%d.%d/32","type":"blackhole"}' $(($1 / 256)) $(($1 % 256)); }

# The resident and peak memory of a daemon, kB, summed over its processes (a privileged
# helper process counts too).
daemon_kb() {
	local pid=$1 field=$2 sum=0 p
	for p in $pid $(pgrep -P "$pid" || true); do
		sum=$((sum + $(bench_vm "$p" "$field")))
	done
	echo "$sum"
}

# hwm_reset PID: start the daemon's peak (VmHWM) afresh from its resident memory now.
hwm_reset() {
	local p
	for p in $1 $(pgrep -P "$1" || true); do
		echo 5 >"/proc/$p/clear_refs" || bench_fail "cannot reset the peak memory of $p"
	done
}

mkdir -p "$RESULTS"
CSV=$RESULTS/scale.csv
echo "n,put_us_per_route,ip_batch_us_per_route,post_ms,page_ms,config_us_per_route,rss_mb,hwm_mb,config_hwm_mb" >"$CSV"
for n in $SIZES; do
	((n >= 1 && n <= 1000000)) || bench_fail "sizes must be 1..1000000 (bench_gen_routes)"
	bench_gen_routes "$n" ip >"$BENCH_TMP/routes.ip"
	bench_gen_routes "$n" json >"$BENCH_TMP/routes.json"

	bench_ip_batch "$BENCH_TMP/routes.ip" "$n" "ip-$n"
	IP_MS=$MS

	bench_router_ns "vr-$n"
	ns=$BENCH_NS
	bench_daemon "$ns" || bench_fail "$BENCH_ERR"
	bench_apply_config "$ns" "$BENCH_TMP/routes.json" "$n routes"
	PUT_MS=$MS
	got=$(bench_kernel_routes "$ns")
	((got == n)) || bench_fail "$got routes in the kernel after PUT of $n"
	POST_MS=$(median_ms "$ns" POST /v1/routes post_body "$POSTS")
	PAGE_MS=$(median_ms "$ns" GET "/v1/routes?limit=100" no_body "$POSTS")
	pid=${BENCH_DAEMON_PID[$ns]}
	RSS=$(daemon_kb "$pid" VmRSS)
	HWM=$(daemon_kb "$pid" VmHWM)
	hwm_reset "$pid"
	out=$(timed_get "$ns" /v1/config)
	[[ ${out%% *} == 200 ]] || bench_fail "GET /v1/config answered ${out%% *}"
	CONFIG_MS=$(s_to_ms "${out#* }" 3)
	CFG_HWM=$(daemon_kb "$pid" VmHWM)
	bench_ns_del "$ns"

	row=$(awk -v n="$n" -v put="$PUT_MS" -v ip="$IP_MS" -v post="$POST_MS" -v page="$PAGE_MS" \
		-v cfg="$CONFIG_MS" -v rss="$RSS" -v hwm="$HWM" -v chwm="$CFG_HWM" 'BEGIN {
		printf "%d,%.2f,%.2f,%.3f,%.3f,%.2f,%.1f,%.1f,%.1f", n, put * 1000 / n, ip * 1000 / n,
			post, page, cfg * 1000 / n, rss / 1024, hwm / 1024, chwm / 1024 }')
	echo "$row" >>"$CSV"
	IFS=, read -r _ put_us ip_us post_ms page_ms cfg_us rss_mb hwm_mb cfg_hwm_mb <<<"$row"
	bench_result "$(printf 'scale  %7d routes  put %6.2f us/route (ip-batch %5.2f, ratio %.2f)  post %6.3f ms  page %6.3f ms  config %5.2f us/route (peak during it %6.1f MB)  rss %6.1f MB (peak %6.1f)' \
		"$n" "$put_us" "$ip_us" "$(awk -v a="$put_us" -v b="$ip_us" 'BEGIN { printf "%.2f", a / b }')" \
		"$post_ms" "$page_ms" "$cfg_us" "$cfg_hwm_mb" "$rss_mb" "$hwm_mb")"
done

# The plot, two panels over x = routes (log): time per operation (us, log) and the
# daemon's memory (MB, log), one line per measure.
awk -F, -v out="$RESULTS/scale.svg" 'NR == 1 { next }
{
	n[++rows] = $1
	v[rows, 1] = $2; v[rows, 2] = $3; v[rows, 3] = $4 * 1000; v[rows, 4] = $5 * 1000; v[rows, 5] = $6
	v[rows, 6] = $7; v[rows, 7] = $8; v[rows, 8] = $9
}
function lg(x) { return log(x) / log(10) }
# Series k0..k1 in a panel whose plot area starts at y = top; unit "us" or "MB".
function panel(top, title, k0, k1, unit,    d, i, k, x, y, ymin, ymax, pts, lab) {
	ymin = 1e9; ymax = -1e9
	for (i = 1; i <= rows; i++) for (k = k0; k <= k1; k++) if (v[i, k] > 0) {
		y = lg(v[i, k]); if (y < ymin) ymin = y; if (y > ymax) ymax = y }
	if (ymax < ymin) { ymin = 0; ymax = 1 }
	ymin = int(ymin - (ymin < 0)); ymax = int(ymax) + 1
	printf "<text x=\"%d\" y=\"%d\" font-weight=\"bold\">%s</text>\n", L, top - 10, title > out
	for (d = ymin; d <= ymax; d++) {
		y = top + ph - (d - ymin) / (ymax - ymin) * ph
		if (unit == "us")
			lab = d >= 6 ? 10 ^ (d - 6) " s" : d >= 3 ? 10 ^ (d - 3) " ms" : 10 ^ d " us"
		else
			lab = d >= 3 ? 10 ^ (d - 3) " GB" : 10 ^ d " MB"
		printf "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, y, L + pw, y > out
		printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", L - 6, y + 4, lab > out
	}
	for (i = 1; i <= rows; i++) {
		x = L + (lg(n[i]) - xmin) / (xmax - xmin) * pw
		printf "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n", x, top, x, top + ph > out
		printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>\n", x, top + ph + 18, n[i] > out
	}
	printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">routes in the table</text>\n", L + pw / 2, top + ph + 36 > out
	for (k = k0; k <= k1; k++) {
		pts = ""
		for (i = 1; i <= rows; i++) {
			if (v[i, k] <= 0) continue
			x = L + (lg(n[i]) - xmin) / (xmax - xmin) * pw
			y = top + ph - (lg(v[i, k]) - ymin) / (ymax - ymin) * ph
			pts = pts sprintf("%.1f,%.1f ", x, y)
			printf "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", x, y, color[k] > out
		}
		printf "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>\n", pts, color[k] > out
		printf "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/>\n", L + pw + 16, top + (k - k0) * 22, color[k] > out
		printf "<text x=\"%d\" y=\"%d\">%s</text>\n", L + pw + 34, top + (k - k0) * 22 + 10, name[k] > out
	}
}
END {
	split("PUT /v1/config, per route|ip -batch, per route (anchor)|POST one more route|GET a page of 100|GET /v1/config, per route|resident after the loads (VmRSS)|peak so far (VmHWM)|peak during GET /v1/config", name, "|")
	split("#1f77b4|#7f7f7f|#d62728|#2ca02c|#9467bd|#1f77b4|#ff7f0e|#9467bd", color, "|")
	W = 760; L = 70; R = 270; T = 40; ph = 300; gap = 100
	H = T + 2 * ph + gap + 50; pw = W - L - R
	xmin = lg(n[1]); xmax = lg(n[rows]); if (xmax == xmin) xmax = xmin + 1
	printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H > out
	printf "<title>vrouter: time per operation and memory against table size</title>\n" > out
	printf "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H > out
	panel(T, "time per operation", 1, 5, "us")
	panel(T + ph + gap, "the daemon'"'"'s memory (every process)", 6, 8, "MB")
	printf "</svg>\n" > out
}' "$CSV"
blog "wrote ${CSV#"$BENCH_SRC"/} and ${RESULTS#"$BENCH_SRC"/}/scale.svg"
