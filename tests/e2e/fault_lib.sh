# shellcheck shell=bash
# shellcheck disable=SC2034 # FAULT_MS is for the tests
# Helpers shared by the fault tests (test_fault_*.sh), on top of lib.sh: foreign state
# that vrouter must never touch, normalized views of the kernel's and the database's
# routes, SQLite integrity checks of the daemon's database, drift-repair counters from
# GET /v1/status and GET /metrics, millisecond timing. Source it after lib.sh and after
# e2e_init. Everything runs inside the test's namespaces.

# ---------------------------------------------------------------- time

fault_now_ms() { echo $(($(date +%s%N) / 1000000)); }

# fault_poll_ms TIMEOUT_MS CMD...: run CMD every 50 ms until it succeeds (0) or TIMEOUT_MS
# passed (1). FAULT_MS is left with the milliseconds from the call to the first success
# (or to giving up).
FAULT_MS=0
fault_poll_ms() {
	local limit=$1 t0 now
	shift
	t0=$(fault_now_ms)
	while :; do
		if "$@" >/dev/null 2>&1; then
			FAULT_MS=$(($(fault_now_ms) - t0))
			return 0
		fi
		now=$(fault_now_ms)
		if ((now - t0 >= limit)); then
			FAULT_MS=$((now - t0))
			return 1
		fi
		sleep 0.05
	done
}

# fault_stats LIST...: "min/median/max (n=N)" of integers.
fault_stats() {
	(($# > 0)) || {
		echo "none"
		return 0
	}
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
		m = (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2)
		printf "min %d ms, median %d ms, max %d ms (n=%d)\n", v[1], m, v[NR], NR }'
}

# ---------------------------------------------------------------- routes, normalized

# One line per route: "type destination table via metric", sorted. Devices are left
# out (the kernel names the device of a gateway route the client may not have given).

# fault_kernel_routes NS: the routes carrying vrouter's protocol number (245).
fault_kernel_routes() {
	{
		ip -n "$1" -4 route show table all proto 245
		ip -n "$1" -6 route show table all proto 245
	} | fault_normalize_routes
}

# fault_normalize_routes: `ip route show ... proto 245` output on stdin, normalized. The
# copies of connected networks that a subnet's route-table association puts in its table
# (metric 4294967295, core/plan.h) are left out: they are no routes of a document (the
# association's own test, test_assoc.sh, checks them).
fault_normalize_routes() {
	awk '
		NF == 0 || / metric 4294967295( |$)/ { next }
		{
			type = "unicast"; i = 1
			if ($1 ~ /^(unicast|blackhole|unreachable|prohibit)$/) { type = $1; i = 2 }
			dst = $i; table = "254"; via = "-"; metric = 0
			if (dst == "default") dst = (index($0, ":") ? "::/0" : "0.0.0.0/0")
			else if (index(dst, "/") == 0) dst = dst (index(dst, ":") ? "/128" : "/32")
			for (j = i + 1; j <= NF; j++) {
				if ($j == "table") table = $(j + 1)
				else if ($j == "via") via = $(j + 1)
				else if ($j == "metric") metric = $(j + 1)
			}
			if (table == "main") table = "254"
			print type, dst, table, via, metric
		}' | LC_ALL=C sort
}

# fault_db_routes_of FILE: the same for a GET /v1/config document in FILE.
fault_db_routes_of() {
	jq -r '
		(reduce .route_tables[] as $t ({}; .[$t.id] = ($t.table | tostring))) as $tab
		| .routes[]
		| (.destination | if . == "default" then "0.0.0.0/0" else . end) as $d
		| [(.type // "unicast"), $d, $tab[.route_table_id // "rtb-main"], (.via // "-"),
		   (if ($d | contains(":")) and ((.metric // 0) == 0) then 1024 else (.metric // 0) end)]
		| map(tostring) | join(" ")' "$1" | LC_ALL=C sort
}

# fault_get_config NS FILE: GET /v1/config into FILE; fails unless HTTP 200.
fault_get_config() {
	e2e_api "$1" GET /v1/config >/dev/null
	[[ $(e2e_last_status) == 200 ]] || return 1
	cp "$E2E_TMP/body" "$2"
}

# fault_routes_converged NS DOCFILE: the kernel's vrouter routes are exactly the
# document's. On failure the difference is printed (diff of the two sets).
fault_routes_converged() {
	diff <(fault_db_routes_of "$2") <(fault_kernel_routes "$1") >"$E2E_TMP/routes.diff" && return 0
	head -n 20 "$E2E_TMP/routes.diff"
	echo "($(grep -c '^<' "$E2E_TMP/routes.diff") desired routes missing from the kernel," \
		"$(grep -c '^>' "$E2E_TMP/routes.diff") vrouter routes in the kernel not desired)"
	return 1
}

# ---------------------------------------------------------------- foreign state

# fault_foreign_setup NS GW DEV: what vrouter did not make and must never touch:
# 50 routes `proto static` via GW (in main and in table 300), a policy rule, and an
# nftables table inet foreign with a chain and a rule. (The test adds its own foreign
# addresses.)
fault_foreign_setup() {
	local ns=$1 gw=$2 dev=$3 i
	{
		for ((i = 0; i < 40; i++)); do
			echo "route add 172.16.$i.0/24 via $gw dev $dev proto static"
		done
		for ((i = 0; i < 10; i++)); do
			echo "route add 172.17.$i.0/24 via $gw dev $dev proto static table 300"
		done
		echo "rule add from 172.18.0.0/16 lookup 300 pref 1000"
	} | ip -n "$ns" -batch -
	ip netns exec "$ns" nft -f - <<'EOF'
table inet foreign {
	chain input {
		type filter hook input priority 10; policy accept;
		tcp dport 9999 counter accept comment "foreign rule"
	}
}
EOF
}

# fault_foreign_nft NS: the foreign table (counters zeroed).
fault_foreign_nft() {
	ip netns exec "$1" nft list table inet foreign 2>&1 | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/'
}

# fault_foreign_snap NS: routes, rules and addresses vrouter does not own, and the foreign
# nftables table. FAULT_OWNED_ADDRS: an ERE matching the addresses vrouter owns ("eth0
# 192.168.150.3/24" etc.; iproute2 before 6.3 does not print an address's protocol). Kernel-made routes (proto kernel, local, multicast, link-local) are left
# out: the kernel itself moves them when links and addresses change.
fault_foreign_snap() {
	local ns=$1
	echo "# routes"
	ip -n "$ns" -4 route show table all | grep -Ev 'proto (245|vrouter|kernel)|^(local|broadcast|multicast) ' || true
	ip -n "$ns" -6 route show table all | grep -Ev 'proto (245|vrouter|kernel)|^(local|broadcast|multicast|anycast) |^fe80|^ff00' || true
	echo "# rules"
	ip -n "$ns" -4 rule show | grep -Ev 'proto (245|vrouter)' || true
	ip -n "$ns" -6 rule show | grep -Ev 'proto (245|vrouter)' || true
	echo "# addresses not made by vrouter"
	ip -n "$ns" -o addr show | awk '{ print $2, $3, $4 }' | grep -Ev " fe80:|${FAULT_OWNED_ADDRS:-^$}" || true
	echo "# nft"
	fault_foreign_nft "$ns"
}

# fault_static_routes NS: how many `proto static` routes the namespace holds (all tables).
fault_static_routes() {
	ip -n "$1" -4 route show table all proto static | wc -l
}

# ---------------------------------------------------------------- SQLite

# fault_sql DBFILE SQL: run SQL on DBFILE (sqlite3 CLI, or Python's sqlite3 module).
fault_sql() {
	if command -v sqlite3 >/dev/null 2>&1; then
		sqlite3 -batch "$1" "$2"
	else
		python3 - "$1" "$2" <<'EOF'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
for row in con.execute(sys.argv[2]):
    print("|".join(str(c) for c in row))
EOF
	fi
}

# fault_db_backup SRCDB DEST: a consistent copy of a database in use (SQLite's backup).
fault_db_backup() {
	if command -v sqlite3 >/dev/null 2>&1; then
		sqlite3 -batch "$1" ".backup '$2'"
	else
		python3 - "$1" "$2" <<'EOF'
import sqlite3, sys
src = sqlite3.connect(sys.argv[1])
dst = sqlite3.connect(sys.argv[2])
src.backup(dst)
dst.close()
EOF
	fi
}

fault_need_sqlite() {
	command -v sqlite3 >/dev/null 2>&1 && return 0
	python3 -c 'import sqlite3' 2>/dev/null && return 0
	e2e_fatal "neither the sqlite3 CLI nor python3's sqlite3 module is installed (apt-get install sqlite3)"
}

# fault_db_copy SRCDB DIR: copy the database with its WAL and shared-memory files as they
# are on disk (a crashed daemon's image) into DIR; prints the copy's path.
fault_db_copy() {
	local src=$1 dir=$2 f
	rm -rf "$dir"
	mkdir -p "$dir"
	for f in "$src" "$src-wal" "$src-shm"; do
		[[ -e $f ]] && cp "$f" "$dir/"
	done
	echo "$dir/$(basename "$src")"
}

# ---------------------------------------------------------------- status, metrics

# fault_repairs NS: "routes addresses rules nftables forwarding" from GET /v1/status.
fault_repairs() {
	e2e_api "$1" GET /v1/status >/dev/null
	e2e_jq '.drift_repairs | "\(.routes) \(.addresses) \(.rules) \(.nftables) \(.forwarding)"'
}

# fault_metric_repairs NS: the same from GET /metrics (vrouter_drift_repairs_total).
fault_metric_repairs() {
	local m
	m=$(e2e_curl "$1" GET /metrics)
	awk '
		/^vrouter_drift_repairs_total\{kind="route"\}/ { r = $2 }
		/^vrouter_drift_repairs_total\{kind="address"\}/ { a = $2 }
		/^vrouter_drift_repairs_total\{kind="rule"\}/ { u = $2 }
		/^vrouter_drift_repairs_total\{kind="nftables"\}/ { n = $2 }
		/^vrouter_drift_repairs_total\{kind="forwarding"\}/ { f = $2 }
		END { printf "%s %s %s %s %s\n", r, a, u, n, f }' <<<"$m"
}

# fault_add_counts "A B C D E" "a b c d e": the element-wise sum.
fault_add_counts() {
	local -a x y
	read -r -a x <<<"$1"
	read -r -a y <<<"$2"
	echo "$((x[0] + y[0])) $((x[1] + y[1])) $((x[2] + y[2])) $((x[3] + y[3])) $((x[4] + y[4]))"
}

# ---------------------------------------------------------------- nftables

# fault_vrouter_nft NS: table inet vrouter as nft prints it, counters zeroed.
fault_vrouter_nft() {
	ip netns exec "$1" nft list table inet vrouter 2>&1 | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/'
}
