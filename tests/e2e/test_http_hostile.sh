#!/usr/bin/env bash
# Hostile and racing HTTP clients against one daemon in one namespace:
#  - concurrent writers: every answer to a write describes the version that write made
#    (its body and ETag), never another writer's; a create racing a DELETE of the same
#    client id never answers 404;
# shellcheck disable=SC2317 # helpers run through check
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

e2e_init http_hostile

URL="http://127.0.0.1:$E2E_PORT"

# curl_many NS CONFIG OUT: one curl process running every request of CONFIG (a curl config
# file, requests separated by "next") over one kept-alive connection; OUT gets, per
# request, its body line and then a line "## <ETag> <status>".
curl_many() {
	ip netns exec "$1" timeout 120 curl -sS --no-progress-meter -K "$2" >"$3" 2>"$3.err" || true
}

# many_config FILE COUNT METHOD PATH [JSON]: COUNT identical authenticated requests.
many_config() {
	local file=$1 count=$2 method=$3 path=$4 json=${5-} i tok
	tok=$(e2e_token "$NS")
	: >"$file"
	for ((i = 0; i < count; i++)); do
		{
			((i == 0)) || echo 'next'
			echo "url = \"$URL$path\""
			echo "request = \"$method\""
			echo "header = \"Authorization: Bearer $tok\""
			if [[ -n $json ]]; then
				echo 'header = "Content-Type: application/json"'
				printf 'data = "%s"\n' "${json//\"/\\\"}"
			fi
			echo 'write-out = "## %header{etag} %{http_code}\n"'
		} >>"$file"
	done
}

# pairs OUT: "<status> <etag> <compact body>" per request of a curl_many output.
pairs() {
	awk '/^## / { print $3, ($2 == "" ? "-" : $2), body; body = ""; next } { body = $0 }' "$1"
}

e2e_step "set-up: one namespace, one veth, one daemon"
e2e_ns api
NS=$E2E_NS
e2e_link "$NS" v0 "$NS" v1
ip -n "$NS" addr add 192.168.150.2/24 dev v0
e2e_daemon "$NS"

# ---------------------------------------------------------------- truthful answers

e2e_step "two writers PUT metric 1 and metric 2 on one route, concurrently"
RT=rt-00000000000000c7
e2e_api "$NS" POST /v1/routes "{\"id\":\"$RT\",\"destination\":\"10.77.0.0/16\",\"via\":\"192.168.150.3\"}" >/dev/null
e2e_expect_status 201 "the route to write to"
N_PUT=${E2E_RACE_PUTS:-300}
for m in 1 2; do
	many_config "$E2E_TMP/put$m.cfg" "$N_PUT" PUT "/v1/routes/$RT" \
		"{\"destination\":\"10.77.0.0/16\",\"via\":\"192.168.150.3\",\"metric\":$m}"
done
curl_many "$NS" "$E2E_TMP/put1.cfg" "$E2E_TMP/put1.out" &
w1=$!
curl_many "$NS" "$E2E_TMP/put2.cfg" "$E2E_TMP/put2.out" &
w2=$!
wait "$w1" "$w2"
for m in 1 2; do
	pairs "$E2E_TMP/put$m.out" >"$E2E_TMP/put$m.pairs"
	check_eq "writer $m: $N_PUT answers, all 200" "$N_PUT 200" \
		"$(awk '$1 == 200' "$E2E_TMP/put$m.pairs" | wc -l) $(awk '{ print $1 }' "$E2E_TMP/put$m.pairs" | sort -u | tr '\n' ' ' | sed 's/ $//')"
	wrong=$(awk '{ $1 = ""; $2 = ""; print }' "$E2E_TMP/put$m.pairs" | jq -c --argjson m "$m" 'select(.metric != $m) | {id, metric}' | wc -l)
	check_eq "writer $m: every answer shows the metric it wrote ($m)" 0 "$wrong"
done
# An ETag names one version: it never comes with two different bodies.
clash=$(cat "$E2E_TMP/put1.pairs" "$E2E_TMP/put2.pairs" | awk '{ e = $2; $1 = ""; $2 = ""; print e, $0 }' |
	jq -Rr 'split(" ") as $w | ($w[2:] | join(" ") | fromjson) as $b | "\($w[0]) \($b.metric)"' | sort -u |
	awk '{ n[$1]++ } END { c = 0; for (e in n) if (n[e] > 1) c++; print c }')
check_eq "no ETag is answered with two different metrics" 0 "$clash"
e2e_api "$NS" GET "/v1/routes/$RT" >/dev/null
final="$(e2e_header ETag) $(e2e_jq .metric)"
check "the final version (ETag and metric) is one a writer was answered" \
	grep -qxF -- "$final" <(cat "$E2E_TMP/put1.pairs" "$E2E_TMP/put2.pairs" | awk '{ e = $2; $1 = ""; $2 = ""; print e, $0 }' |
		jq -Rr 'split(" ") as $w | ($w[2:] | join(" ") | fromjson) as $b | "\($w[0]) \($b.metric)"')

e2e_step "POST with a client id racing DELETE of that id"
CID=rt-00000000000000d8
N_RACE=${E2E_RACE_POSTS:-1000}
many_config "$E2E_TMP/post.cfg" "$N_RACE" POST /v1/routes \
	"{\"id\":\"$CID\",\"destination\":\"10.78.0.0/16\",\"via\":\"192.168.150.3\"}"
many_config "$E2E_TMP/del.cfg" "$N_RACE" DELETE "/v1/routes/$CID"
curl_many "$NS" "$E2E_TMP/post.cfg" "$E2E_TMP/post.out" &
w1=$!
curl_many "$NS" "$E2E_TMP/del.cfg" "$E2E_TMP/del.out" &
w2=$!
wait "$w1" "$w2"
pairs "$E2E_TMP/post.out" >"$E2E_TMP/post.pairs"
pairs "$E2E_TMP/del.out" >"$E2E_TMP/del.pairs"
check_eq "POST: $N_RACE answers, each 201 or 200" "$N_RACE" "$(awk '$1 == 201 || $1 == 200' "$E2E_TMP/post.pairs" | wc -l)"
check_eq "POST never answers 404 for a create that committed" 0 "$(awk '$1 == 404' "$E2E_TMP/post.pairs" | wc -l)"
check_eq "every POST answer is the object it created" 0 \
	"$(awk '$1 == 201 || $1 == 200 { $1 = ""; $2 = ""; print }' "$E2E_TMP/post.pairs" | jq -c --arg id "$CID" 'select(.id != $id or .destination != "10.78.0.0/16")' | wc -l)"
check "the race really interleaved: some DELETEs found the route" \
	test "$(awk '$1 == 204' "$E2E_TMP/del.pairs" | wc -l)" -gt 0

e2e_done
