#!/usr/bin/env bash
# deploy/vrouterd.service: (a) `systemd-analyze security --offline=yes` rates its
# exposure 2.0 or lower, and the settings the daemon's work depends on are the ones it
# declares; (b) vrouterd runs as the unit runs it — another user than root, CAP_NET_ADMIN
# its only capability (bounding, ambient, effective), no new privileges, /proc/sys
# read-only — and still does its work: a route, a subnet's address and a security group
# reach the kernel, forwarding set beforehand (as the unit's sysctl.d file does at boot)
# is accepted, and other forwarding values are refused with the reason. No systemd
# runs here, so (b) rebuilds the unit's limits with setpriv and a mount namespace.
# About 10 s.
# shellcheck disable=SC2317,SC2016 # helpers run through check; the wrapper's $0, $@ are its own
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

e2e_init service
UNIT=$VR_SRC/deploy/vrouterd.service
SYSCTL=$VR_SRC/deploy/sysctl.d/60-vrouter.conf
for t in systemd-analyze setpriv unshare; do
	command -v "$t" >/dev/null || e2e_fatal "$t is missing (deploy/setup.sh installs it)"
done

# unit_value KEY: the values KEY= takes in the unit, one line each.
unit_value() { sed -n "s/^$1=//p" "$UNIT"; }

e2e_step "(a) systemd-analyze security --offline=yes $UNIT"
rc=0
# --threshold=20: the command itself fails above 2.0 (its scale is tenths).
out=$(systemd-analyze security --offline=yes --threshold=20 --no-pager "$UNIT" 2>&1) || rc=$?
printf '%s\n' "$out" | grep -E '✗|Overall' | sed 's/^/    /'
score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for vrouterd.service: \([0-9.]*\).*/\1/p')
check_match "an overall exposure is reported" '^[0-9]+\.[0-9]$' "$score"
check "exposure $score is 2.0 or lower" awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }'
check_eq "systemd-analyze --threshold=20 passes (exit 0)" 0 "$rc"
check_no_match "no unknown or misspelt setting" 'Unknown|Failed to parse|Invalid' "$out"
check_eq "its own user" "vrouter" "$(unit_value User)"
check_eq "CAP_NET_ADMIN and CAP_NET_RAW are the only capabilities it may hold" "CAP_NET_ADMIN CAP_NET_RAW" "$(unit_value CapabilityBoundingSet)"
check_eq "and the ones it gets (for the privileged process)" "CAP_NET_ADMIN CAP_NET_RAW" "$(unit_value AmbientCapabilities)"
check_eq "/proc/sys is read-only" "yes" "$(unit_value ProtectKernelTunables)"
check_match "the state directory is /var/lib/vrouter" '^vrouter$' "$(unit_value StateDirectory)"
check_match "the database is there" '--db /var/lib/vrouter/' "$(unit_value ExecStart)"
check_match "the sysctl.d file turns IPv4 forwarding on" '^net\.ipv4\.ip_forward = 1$' "$(cat "$SYSCTL")"
check_match "its syntax is sysctl's (every line a comment or KEY = VALUE)" '^$' \
	"$(grep -Ev '^(#.*|[a-z0-9_.]+ = [0-9]+|)$' "$SYSCTL" || true)"

e2e_step "(b) vrouterd under the unit's limits, in a namespace"
# A uid and gid no account uses: the unit's `vrouter`, which this host does not have.
SVC_UID=$((61000 + RANDOM % 1000))
while getent passwd "$SVC_UID" >/dev/null || getent group "$SVC_UID" >/dev/null; do SVC_UID=$((SVC_UID + 1)); done
e2e_ns r
R=$E2E_NS
e2e_ns h
H=$E2E_NS
e2e_link "$R" eth0 "$H" eth0
ip -n "$H" addr add 192.168.60.2/24 dev eth0
# What systemd-sysctl does at boot with the sysctl.d file, here in the namespace.
ip netns exec "$R" sysctl -q -p "$SYSCTL"
dir=$(e2e__daemon_dir "$R")
mkdir -p "$dir"
chown "$SVC_UID:$SVC_UID" "$dir"
chmod 0700 "$dir"
chmod 0711 "$E2E_TMP" # (the user reaches its directory; mktemp made this 0700)
E2E_DAEMON_WRAP=(unshare --mount --propagation private bash -c '
	mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys || exit 71
	exec setpriv --reuid="$0" --regid="$0" --clear-groups --no-new-privs \
		--bounding-set=-all,+net_admin,+net_raw --inh-caps=-all,+net_admin,+net_raw \
		--ambient-caps=-all,+net_admin,+net_raw "$@"' "$SVC_UID")
e2e_daemon "$R"
E2E_DAEMON_WRAP=()
PID=${E2E_DAEMON_PID[$R]}
st=$(cat "/proc/$PID/status")
check_eq "it is vrouterd" "vrouterd" "$(cat "/proc/$PID/comm")"
check_match "it runs as uid $SVC_UID" "^Uid:	$SVC_UID	$SVC_UID	$SVC_UID	$SVC_UID$" "$st"
# The main process is the HTTP front end: no capability (its bounding set needs
# CAP_SETPCAP to shrink; with everything else empty and no_new_privs it is unusable).
# Its child talks to the kernel: CAP_NET_ADMIN (bit 12) and CAP_NET_RAW (bit 13), 0x3000.
for set in CapInh CapEff CapPrm CapAmb; do
	check_match "front end $set: empty" "^$set:	0000000000000000$" "$st"
done
check_match "front end CapBnd: the unit's" "^CapBnd:	0000000000003000$" "$st"
check_match "no new privileges" '^NoNewPrivs:	1$' "$st"
PRIV=$(pgrep -P "$PID")
pst=$(cat "/proc/$PRIV/status")
check_match "the privileged process runs as uid $SVC_UID too" "^Uid:	$SVC_UID	" "$pst"
for set in CapEff CapPrm CapAmb; do
	check_match "privileged process $set: CAP_NET_ADMIN and CAP_NET_RAW" "^$set:	0000000000003000$" "$pst"
done
check "/proc/sys is read-only for it" bash -c "grep -Eq '^[^ ]+ /proc/sys [^ ]+ ro[, ]' /proc/$PID/mounts"
check_eq "its token file is its own, 0600" "$SVC_UID 600" "$(stat -c '%u %a' "$(e2e_token_file "$R")")"

e2e_api "$R" POST '/v1/subnets?require_active=true' \
	'{"name":"lan","cidr":"192.168.60.0/24","interface":"eth0","router_ip":"192.168.60.1"}' >/dev/null
e2e_expect_status 201 "a subnet, applied"
check_match "its address is on eth0" 'inet 192\.168\.60\.1/24 ' "$(ip -n "$R" addr show eth0)"
e2e_api "$R" POST '/v1/routes?require_active=true' '{"destination":"10.61.0.0/16","via":"192.168.60.2"}' >/dev/null
e2e_expect_status 201 "a route, applied"
check_match "the route is in the kernel" '^10\.61\.0\.0/16 via 192\.168\.60\.2 dev eth0 proto vrouter' "$(ip -n "$R" route show)"
e2e_api "$R" POST '/v1/security-groups?require_active=true' '{"id":"sg-0a","name":"g","targets":["local"]}' >/dev/null
e2e_expect_status 201 "a security group, applied"
e2e_api "$R" POST '/v1/security-group-rules?require_active=true' \
	'{"security_group_id":"sg-0a","direction":"ingress","protocol":"icmp","cidr":"192.168.60.0/24"}' >/dev/null
e2e_expect_status 201 "a rule, applied"
check "table inet vrouter is in nftables" ip netns exec "$R" nft list table inet vrouter
check "ping passes the group" e2e_in "$H" ping -c1 -W2 192.168.60.1
e2e_api "$R" PUT '/v1/settings?require_active=true' '{"forwarding":{"ipv4":true,"ipv6":false}}' >/dev/null
e2e_expect_status 200 "forwarding as the sysctl.d file set it: accepted"
e2e_api "$R" GET /v1/settings >/dev/null
check_eq "and active" "active" "$(e2e_jq .status.state)"
e2e_api "$R" PUT '/v1/settings?require_active=true' '{"forwarding":{"ipv4":false,"ipv6":false}}' >/dev/null
e2e_expect_status 422 "other forwarding values: refused"
check_match "saying why" 'IP forwarding: Read-only file system' "$(e2e_jq .detail)"
check_eq "forwarding is unchanged" "1" "$(ip netns exec "$R" sysctl -n net.ipv4.ip_forward)"
e2e_api "$R" PUT /v1/settings '{"forwarding":{"ipv4":false,"ipv6":false}}' >/dev/null
e2e_expect_status 200 "without require_active: stored"
check_poll "its status says it cannot be applied" 10 bash -c \
	"ip netns exec '$R' curl -sS -H 'Authorization: Bearer $(e2e_token "$R")' http://127.0.0.1:$E2E_PORT/v1/settings | jq -e '.status.state != \"active\" and (.status.reason | test(\"Read-only file system\"))'"
check_eq "forwarding is still unchanged" "1" "$(ip netns exec "$R" sysctl -n net.ipv4.ip_forward)"
check "the daemon is alive" e2e__alive "$PID"

e2e_done
