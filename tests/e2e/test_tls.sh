#!/usr/bin/env bash
# HTTPS (--tls-cert/--tls-key) against one daemon in one namespace, with certificates
# made here by openssl (a CA, two server certificates it signed, another CA):
#   (a) the API over TLS with the right CA (curl --cacert): reads and writes;
#   (b) a client trusting another CA refuses the server (curl exit 60);
#   (c) plain HTTP on the TLS port: a 400 problem+json saying to use https://;
#       bytes that are neither: closed; the daemon keeps serving;
#   (d) TLS 1.2 and 1.3 are served; TLS 1.1 and 1.0 are refused (the same client
#       command succeeds against `openssl s_server` allowing them, so the refusal is
#       the daemon's);
#   (e) SIGHUP with a new certificate: a new connection gets it, a connection made
#       before keeps its session and is served; a bad pair on SIGHUP keeps the one
#       in force;
#   (f) a handshake that stalls is closed within the first head's 10 s of its accept;
#   (g) refused starts: --tls-cert without --tls-key (exit 2), a key that is not the
#       certificate's or is readable by others (exit 78, the file named).
# shellcheck disable=SC2317 # helpers run through check
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

e2e_init tls
command -v openssl >/dev/null || e2e_fatal "openssl is missing (deploy/setup.sh installs it)"

HEAD_S=10 # server/http_guard.h HTTP_HEAD_TIMEOUT_S
C=$E2E_TMP/certs
mkdir -p "$C"
# vrouterd's front end (user vrouter) reads the certificate and key: it gets through the
# directories, and keys are root:vrouter 0640 as README "HTTPS" says.
chmod 0711 "$E2E_TMP" "$C"

# ca NAME: a self-signed CA (P-256), NAME.pem and NAME.key.
ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=vrouter test $1" -keyout "$C/$1.key" -out "$C/$1.pem" 2>/dev/null
}
# server NAME CA: a certificate for 127.0.0.1 signed by CA, NAME.pem and NAME.key
# (root:vrouter 0640).
server() {
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
		-keyout "$C/$1.key" -out "$C/$1.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$C/$1.ext"
	openssl x509 -req -in "$C/$1.csr" -CA "$C/$2.pem" -CAkey "$C/$2.key" -CAcreateserial \
		-days 1 -extfile "$C/$1.ext" -out "$C/$1.pem" 2>/dev/null
	chgrp vrouter "$C/$1.key"
	chmod 640 "$C/$1.key"
}

e2e_step "set-up: certificates, one namespace, one daemon over TLS"
ca ca1
ca ca2
server vrouter-a ca1
server vrouter-b ca1
# The daemon reads these two paths; (e) puts another pair there.
cp "$C/vrouter-a.pem" "$C/serve.pem"
install -m 0640 -g vrouter "$C/vrouter-a.key" "$C/serve.key"
e2e_ns api
NS=$E2E_NS
e2e_daemon "$NS" --tls-cert "$C/serve.pem" --tls-key "$C/serve.key"
PID=${E2E_DAEMON_PID[$NS]}
LOG=$(e2e__daemon_dir "$NS")/vrouterd.log
URL="https://127.0.0.1:$E2E_PORT"
check_match "the log names the certificate served" 'TLS: serving CN ?= ?vrouter-a, valid until' "$(cat "$LOG")"

# (f) first, in the background: it takes 10 s. Each prints the ms from connect to the close.
stall() { # BYTES: send them, then nothing
	ip netns exec "$NS" timeout 30 bash -c '
		exec 3<>/dev/tcp/127.0.0.1/'"$E2E_PORT"'
		t0=$(date +%s%N)
		printf "'"$1"'" >&3
		cat <&3 >/dev/null || true
		echo $((($(date +%s%N) - t0) / 1000000))'
}
stall '' >"$E2E_TMP/stall-nothing" 2>&1 &
STALL1=$!
stall '\x16\x03\x01\x00' >"$E2E_TMP/stall-hello" 2>&1 &
STALL2=$!

# subject_of_new: the subject of the certificate a new connection is shown.
subject_of_new() {
	ip netns exec "$NS" timeout 10 openssl s_client -connect "127.0.0.1:$E2E_PORT" \
		-CAfile "$C/ca1.pem" </dev/null 2>/dev/null | openssl x509 -noout -subject
}

e2e_step "(a) the API over TLS, with the CA that signed the certificate"
e2e_curl "$NS" GET /healthz --cacert "$C/ca1.pem" >/dev/null
e2e_expect_status 200 "GET /healthz over TLS"
e2e_api "$NS" POST /v1/routes '{"destination":"10.44.0.0/16","type":"blackhole"}' --cacert "$C/ca1.pem" >/dev/null
e2e_expect_status 201 "a write over TLS"
RID=$(e2e_jq .id)
e2e_api "$NS" GET "/v1/routes/$RID" "" --cacert "$C/ca1.pem" >/dev/null
e2e_expect_status 200 "a read over TLS"
check "the route is in the kernel" bash -c "ip -n '$NS' route show type blackhole | grep -q '^blackhole 10.44.0.0/16'"
e2e_curl "$NS" GET /v1/routes --cacert "$C/ca1.pem" >/dev/null
e2e_expect_status 401 "the token is still required over TLS"

e2e_step "(b) a client trusting another CA refuses the server"
rc=0
out=$(ip netns exec "$NS" curl -sS -o /dev/null --cacert "$C/ca2.pem" "$URL/healthz" 2>&1) || rc=$?
check_eq "curl --cacert <another CA> exits 60 (certificate not trusted)" 60 "$rc"
check_match "curl says why" 'certificate' "$out"

e2e_step "(c) plain HTTP on the TLS port, and bytes that are neither"
rc=0
code=$(ip netns exec "$NS" curl -sS -o "$E2E_TMP/plain.body" -D "$E2E_TMP/plain.headers" \
	-w '%{http_code}' --max-time 10 "http://127.0.0.1:$E2E_PORT/v1/routes" 2>&1) || rc=$?
check_eq "plain HTTP gets an answer (curl exit 0)" 0 "$rc"
check_eq "plain HTTP: 400" 400 "$code"
check_match "as problem+json" '^Content-Type: application/problem\+json' "$(tr -d '\r' <"$E2E_TMP/plain.headers")"
check_match "saying to use https://" '"detail":"this port speaks HTTPS \(TLS\).*https://' "$(cat "$E2E_TMP/plain.body")"
rc=0
ip netns exec "$NS" timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$E2E_PORT; printf '\x00\x01garbage\r\n\r\n' >&3 2>/dev/null; cat <&3 >'$E2E_TMP/garbage.out' 2>/dev/null" || rc=$?
# (closed or reset: what was sent is not read; only a connection left open would time out)
check "bytes that are neither TLS nor HTTP: closed at once (exit $rc, 124 is a timeout)" test "$rc" != 124
check_eq "... without an answer" 0 "$(stat -c %s "$E2E_TMP/garbage.out")"
check "the daemon is alive" e2e__alive "$PID"
e2e_curl "$NS" GET /healthz --cacert "$C/ca1.pem" >/dev/null
e2e_expect_status 200 "and serves TLS as before"

e2e_step "(d) TLS 1.2 and 1.3 are served, 1.1 and 1.0 are not"
for v in 1.2 1.3; do
	rc=0
	ip netns exec "$NS" curl -sS -o /dev/null --cacert "$C/ca1.pem" "--tlsv$v" --tls-max "$v" "$URL/healthz" || rc=$?
	check_eq "TLS $v: served" 0 "$rc"
done
# OpenSSL offers TLS 1.0/1.1 only at security level 0. The control server proves it does.
CTRL_PORT=8444
e2e_bg "$NS" openssl s_server -accept "$CTRL_PORT" -cert "$C/vrouter-a.pem" -key "$C/vrouter-a.key" \
	-cipher 'DEFAULT@SECLEVEL=0' -min_protocol TLSv1 -naccept 100 -quiet
old_tls() { # PORT FLAG: a handshake with only that old version enabled
	ip netns exec "$NS" timeout 10 openssl s_client -connect "127.0.0.1:$1" "$2" \
		-cipher 'DEFAULT@SECLEVEL=0' </dev/null >"$E2E_TMP/old.out" 2>&1 &&
		grep -Eq 'Protocol *: TLSv1(\.1)?$' "$E2E_TMP/old.out"
}
e2e_poll 5 bash -c "ip netns exec '$NS' bash -c 'exec 3<>/dev/tcp/127.0.0.1/$CTRL_PORT'" ||
	e2e_fatal "the control openssl s_server did not start"
for flag in -tls1_1 -tls1; do
	check "control: openssl s_client $flag completes a handshake with an s_server allowing it" old_tls "$CTRL_PORT" "$flag"
	check_not "openssl s_client $flag: vrouterd refuses the handshake" old_tls "$E2E_PORT" "$flag"
done
check "the daemon is alive" e2e__alive "$PID"

e2e_step "(e) SIGHUP with a new certificate: new connections get it, an old one stays up"
mkfifo "$E2E_TMP/old.in"
ip netns exec "$NS" timeout 60 openssl s_client -connect "127.0.0.1:$E2E_PORT" \
	-CAfile "$C/ca1.pem" -ign_eof <"$E2E_TMP/old.in" >"$E2E_TMP/old.conn" 2>&1 &
OLD=$!
exec 7>"$E2E_TMP/old.in"
printf 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' >&7
check_poll "the old connection: a first request answered" 5 bash -c "(( \$(grep -c '^HTTP/1.1 200' '$E2E_TMP/old.conn') >= 1 ))"
check_match "the old connection got certificate a" 'subject=CN ?= ?vrouter-a' "$(cat "$E2E_TMP/old.conn")"
cp "$C/vrouter-b.pem" "$C/serve.pem"
install -m 0640 -g vrouter "$C/vrouter-b.key" "$C/serve.key"
kill -HUP "$PID"
check_poll "the log says a new certificate is in force" 5 grep -Eq 'a new certificate is in force for new connections: CN ?= ?vrouter-b' "$LOG"
check_match "a new connection gets certificate b" 'CN ?= ?vrouter-b' "$(subject_of_new)"
e2e_curl "$NS" GET /healthz --cacert "$C/ca1.pem" >/dev/null
e2e_expect_status 200 "curl --cacert verifies the new certificate"
printf 'GET /v1/routes HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n' "$(e2e_token "$NS")" >&7
check_poll "the old connection is still served after the reload" 5 bash -c "grep -q '\"destination\":\"10.44.0.0/16\"' '$E2E_TMP/old.conn'"
exec 7>&-
kill "$OLD" 2>/dev/null || true # (-ign_eof: it would wait for the server's idle timeout)
wait "$OLD" 2>/dev/null || true

# A bad pair: a key that is not the certificate's.
cp "$C/vrouter-a.pem" "$C/serve.pem"
kill -HUP "$PID"
check_poll "SIGHUP with a mismatched pair is logged" 5 grep -q 'serve.key is not the private key of the certificate in .*serve.pem; the certificate in force stays' "$LOG"
check_match "and certificate b is still presented" 'CN ?= ?vrouter-b' "$(subject_of_new)"
check "the daemon is alive" e2e__alive "$PID"

e2e_step "(f) stalled handshakes are closed within ${HEAD_S} s of their accept"
wait "$STALL1" "$STALL2" || true
for f in nothing hello; do
	ms=$(cat "$E2E_TMP/stall-$f")
	check "a connection that sent $([[ $f == nothing ]] && echo nothing || echo 'half a ClientHello') was closed after ${ms} ms (${HEAD_S} s to 12 s)" \
		bash -c "[[ '$ms' =~ ^[0-9]+\$ ]] && (( $ms >= ${HEAD_S}000 - 300 && $ms <= 12000 ))"
done

e2e_step "(g) refused starts"
e2e_stop "$NS"
e2e_daemon_fails "$NS" --tls-cert "$C/vrouter-a.pem"
check_eq "--tls-cert without --tls-key: exit 2" 2 "$E2E_EXIT"
check_match "saying what is missing" 'tls-key is missing' "$E2E_OUT"
e2e_daemon_fails "$NS" --tls-cert "$C/vrouter-a.pem" --tls-key "$C/vrouter-b.key"
check_eq "a key that is not the certificate's: exit 78" 78 "$E2E_EXIT"
check_match "naming both files" 'vrouter-b.key is not the private key of the certificate in .*vrouter-a.pem' "$E2E_OUT"
chmod 644 "$C/vrouter-a.key"
e2e_daemon_fails "$NS" --tls-cert "$C/vrouter-a.pem" --tls-key "$C/vrouter-a.key"
check_eq "a key readable by others: exit 78" 78 "$E2E_EXIT"
check_match "naming the file and the mode" 'vrouter-a.key: the private key is open to others \(mode 0644\)' "$E2E_OUT"

e2e_done
