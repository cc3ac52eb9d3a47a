#!/usr/bin/env bash
# Named, scoped tokens (--token-file lines NAME SCOPE TOKEN) against one daemon in one
# namespace:
#   (a) GET /v1/whoami names each token and its scope;
#   (b) a read token reads (GET, HEAD) but every write (POST, PUT, DELETE) gets a 403
#       problem+json naming the token, and nothing is stored or deleted; a write
#       token writes;
#   (c) the log names the tokens, never holds one;
#   (d) SIGHUP with a changed file: the new tokens at once, the removed ones 401; a
#       malformed file on SIGHUP is logged with its line and the tokens in force stay;
#   (e) refused starts: a group-readable file, a malformed line (its number named);
#   (f) an old one-token file is one write token named "default".
# shellcheck disable=SC2317 # helpers run through check
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

e2e_init tokens

REFUSED=78 # EX_CONFIG
tok() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
W=$(tok) R=$(tok) W2=$(tok) R2=$(tok) OLD=$(tok)
VALID='{"destination":"10.1.0.0/16","via":"192.168.150.3"}'

e2e_step "set-up: one namespace, one veth, a token file with a write and a read token"
e2e_ns tok
NS=$E2E_NS
e2e_link "$NS" v0 "$NS" v1
ip -n "$NS" addr add 192.168.150.2/24 dev v0
DIR=$(e2e__daemon_dir "$NS")
TOKF=$DIR/token
LOG=$DIR/vrouterd.log
mkdir -p "$DIR"
printf '# vrouter API tokens\n\nadmin   write %s\n  # the dashboard\nviewer\tread\t%s\r\n' "$W" "$R" >"$TOKF"
chmod 600 "$TOKF"
e2e_daemon "$NS"
E2E_TOKEN[$NS]=$W

# as TOKEN METHOD PATH [JSON]: e2e_api with TOKEN instead of the daemon's.
as() {
	local save=${E2E_TOKEN[$NS]}
	E2E_TOKEN[$NS]=$1
	e2e_api "$NS" "${@:2}" >/dev/null || true
	E2E_TOKEN[$NS]=$save
}
whoami() { as "$1" GET /v1/whoami && e2e_jq '[.name, .scope] | join(" ")'; }
code() { as "$@" && e2e_last_status; }
routes() { e2e_api "$NS" GET /v1/routes >/dev/null && e2e_jq '.items | length'; }

e2e_step "(a) GET /v1/whoami"
check_eq "the write token is admin, write" "admin write" "$(whoami "$W")"
check_eq "the read token is viewer, read" "viewer read" "$(whoami "$R")"
check_eq "a wrong token gets 401" 401 "$(code "${R}x" GET /v1/whoami)"

e2e_step "(b) a read token reads, and every write it sends is refused with 403"
check_eq "GET /v1/routes with the read token" 200 "$(code "$R" GET /v1/routes)"
check_eq "HEAD /v1/routes with the read token" 200 \
	"$(ip netns exec "$NS" curl -s -I -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $R" "http://127.0.0.1:$E2E_PORT/v1/routes")"
as "$R" POST /v1/routes "$VALID"
e2e_expect_status 403 "POST /v1/routes with the read token"
check_match "the 403 is problem+json" '^application/problem\+json' "$(e2e_header Content-Type)"
check_eq "its status field is 403" 403 "$(e2e_jq .status)"
check_eq "its title is Forbidden" Forbidden "$(e2e_jq .title)"
check_match "its detail names the token and the scope" 'token "viewer" has scope read; POST needs a token with scope write' "$(e2e_jq .detail)"
check_no_match "its body holds no token" "$R|$W" "$(e2e_last_body)"
check_eq "nothing was stored" 0 "$(routes)"
as "$R" PUT /v1/config '{"routes":[{"destination":"10.2.0.0/16","via":"192.168.150.3"}]}'
e2e_expect_status 403 "PUT /v1/config with the read token"
check_eq "still nothing stored" 0 "$(routes)"
as "$R" PUT /v1/settings '{}'
e2e_expect_status 403 "PUT /v1/settings with the read token"
as "$W" POST /v1/routes "$VALID"
e2e_expect_status 201 "POST /v1/routes with the write token"
ID=$(e2e_jq .id)
check_eq "the write token's route is stored" 1 "$(routes)"
as "$R" PUT "/v1/routes/$ID" '{"destination":"10.1.0.0/16","via":"192.168.150.4"}'
e2e_expect_status 403 "PUT /v1/routes/ID with the read token"
as "$R" DELETE "/v1/routes/$ID"
e2e_expect_status 403 "DELETE /v1/routes/ID with the read token"
e2e_api "$NS" GET "/v1/routes/$ID" >/dev/null
e2e_expect_status 200 "the route is still there"
check_eq "unchanged: its gateway" 192.168.150.3 "$(e2e_jq .via)"
check_eq "a read token on an unknown path still gets 404" 404 "$(code "$R" POST /v1/nothing '{}')"
e2e_api "$NS" GET "/v1/events?object_id=$ID" >/dev/null
check_eq "the audit log names each write's token: the create by admin, the refusals by viewer" \
	"viewer DELETE 403,viewer PUT 403,admin POST 201" \
	"$(e2e_jq '[.items[] | "\(.token_name) \(.method) \(.status)"] | join(",")')"

e2e_step "(c) the log names the tokens and holds none of them"
check_match "the start is logged with names and scopes" '2 tokens in force: admin \(write\), viewer \(read\)' "$(cat "$LOG")"
check_no_match "no token in the log" "$W|$R" "$(cat "$LOG")"

e2e_step "(d) SIGHUP reloads a changed file"
PID=${E2E_DAEMON_PID[$NS]}
printf 'ops write %s\nviewer write %s\nguest read %s\n' "$W2" "$R2" "$R" >"$TOKF"
kill -HUP "$PID"
is_who() { [[ $(whoami "$1") == "$2" ]]; }
check_poll "the new write token is accepted" 5 is_who "$W2" "ops write"
check_eq "viewer is now a write token under its new value" "viewer write" "$(whoami "$R2")"
check_eq "the old read token is guest now" "guest read" "$(whoami "$R")"
check_eq "the removed admin token gets 401" 401 "$(code "$W" GET /v1/routes)"
check_match "the reload is logged with names" 'SIGHUP: 3 tokens in force: ops \(write\), viewer \(write\), guest \(read\)' "$(cat "$LOG")"
printf 'ops write %s\n\n# ok so far\nviewer admin %s\n' "$W2" "$R2" >"$TOKF"
kill -HUP "$PID"
check_poll "a malformed file on SIGHUP is logged with its line" 5 grep -qF \
	"SIGHUP: token file $TOKF: line 4: the scope must be read or write; the tokens in force stay" "$LOG"
check "still running" e2e__alive "$PID"
check_eq "the tokens in force stay: guest" "guest read" "$(whoami "$R")"
check_eq "the tokens in force stay: viewer" "viewer write" "$(whoami "$R2")"
chmod 640 "$TOKF"
kill -HUP "$PID"
check_poll "a group-readable file on SIGHUP is refused" 5 grep -qF "(mode 0640)" "$LOG"
check_eq "the tokens in force stay: ops" "ops write" "$(whoami "$W2")"
check_no_match "still no token in the log" "$W|$R|$W2|$R2" "$(cat "$LOG")"
e2e_stop "$NS"

e2e_step "(e) bad token files are refused at start, the line named"
# bad NAME MODE CONTENT ERE
bad() {
	printf '%b' "$3" >"$TOKF"
	chmod "$2" "$TOKF"
	e2e_daemon_fails "$NS"
	check_eq "$1: refused with exit status $REFUSED" "$REFUSED" "$E2E_EXIT"
	check_match "$1: the message names the file and the problem" "token file $TOKF: $4" "$E2E_OUT"
	check_no_match "$1: the message holds no token" "$W|$R" "$E2E_OUT"
}
bad group-readable 640 "admin write $W\n" 'the file is open to its group or others \(mode 0640\)'
bad world-readable 604 "admin write $W\n" 'the file is open to its group or others \(mode 0604\)'
bad "bad scope" 600 "# c\nadmin write $W\n\nviewer all $R\n" 'line 4: the scope must be read or write'
bad "two fields" 600 "admin write $W\nviewer $R\n" 'line 2: 2 fields where NAME SCOPE TOKEN are expected'
bad "short token" 600 "admin write $W\nviewer read 0123456789\n" 'line 2: the token is 10 characters long'
bad "bad name" 600 "ad:min write $W\n" 'line 1: the name holds a character other than'
bad "duplicate name" 600 "admin write $W\nadmin read $R\n" 'line 2: the name admin is already used on line 1'
bad "only comments" 600 "# nothing\n" 'the file holds no token'

e2e_step "(f) an old one-token file is one write token named default"
printf '%s\n' "$OLD" >"$TOKF"
chmod 600 "$TOKF"
e2e_daemon "$NS"
E2E_TOKEN[$NS]=$OLD
check_eq "whoami: default, write" "default write" "$(whoami "$OLD")"
as "$OLD" POST /v1/routes '{"destination":"10.3.0.0/16","via":"192.168.150.3"}'
e2e_expect_status 201 "it writes"
check_match "the start is logged: 1 token, default (write)" '1 token in force: default \(write\)' "$(cat "$LOG")"
e2e_stop "$NS"

e2e_done
