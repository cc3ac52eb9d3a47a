#!/usr/bin/env bash
# The fleet from one Terraform configuration (issue 16): `deploy/lab.sh fleet` (three etcd
# members, routers r1 r2 r3 in fleet mode, hosts h1 h2 h3), then
# deploy/terraform/examples/fleet-lab applied from the management namespace with the real
# Mastercard/restapi provider 3.0.0, through r1's API alone, as the README tells users.
# Checked: every router's kernel gets its own routes and addresses and no other's; h1
# pings h2 and h3 and reaches tcp/12345 on both; the group guards h2 and h3 on r2 and r3
# (tcp/22 dropped); r2's and r3's APIs show what r1's wrote; a second plan is empty;
# destroy empties the fleet. Skipped (exit 77) only where terraform or the mirror is absent.
# shellcheck disable=SC2317 # helpers run through check
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/tf_lib.sh
. "$HERE/tf_lib.sh"
tf_require 3.0.0
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"
# shellcheck source=tests/e2e/traffic_lib.sh
. "$HERE/traffic_lib.sh"

e2e_init tf_restapi_fleet
command -v etcd >/dev/null || e2e_fatal "etcd is missing (deploy/setup.sh test installs etcd-server and etcd-client)"

LAB="vrtf$$$RANDOM"
LAB_DIR="$E2E_TMP/lab"
TF_TMP="$E2E_TMP/tf"
mkdir -p "$TF_TMP"

# owned NS: vrouter's routes in a router's kernel, "destination via" a line, sorted.
owned() { ip -n "$1" route show proto 245 | awk '{v = ""; for (i = 2; i < NF; i++) if ($i == "via") v = $(i + 1); print $1, v}' | sort; }
# has_addr4 NS IF ADDR/PREFIX
has_addr4() { ip -n "$1" -4 -o addr show dev "$2" | grep -qF " $3 "; }
# fleet_api ROUTER PATH: a GET through ROUTER's API from the management namespace.
fleet_api() { ip netns exec "$TF_MGMT" curl -sS --max-time 20 -H "@$LAB_DIR/auth" "$(<"$LAB_DIR/$1/url")$2"; }
# tcp_blocked FROM_NS TO_NS ADDR PORT: a listener there, and FROM does not reach it.
tcp_blocked() {
	local pid rc=0
	e2e_bg "$2" nc -l "$4"
	pid=$E2E_BG
	e2e_poll 5 listening "$2" "$4" || return 1
	echo x | ip netns exec "$1" timeout 5 nc -N -w 2 "$3" "$4" >/dev/null 2>&1 && rc=1
	kill "$pid" 2>/dev/null || true
	return "$rc"
}

e2e_step "deploy/lab.sh fleet"
# Recorded first: the test's cleanup deletes them even if lab.sh fails half way.
for h in core r1 r2 r3 h1 h2 h3 etcd1 etcd2 etcd3 mgmt; do
	E2E_NAMESPACES+=("$LAB-$h")
done
TF_MGMT=$LAB-mgmt
chmod 0711 "$E2E_TMP" # the daemons' front ends (user vrouter) reach their lab dirs
VRLAB=$LAB VRLAB_DIR=$LAB_DIR VROUTERD=$VROUTERD "$E2E_SRC/deploy/lab.sh" fleet >"$TF_TMP/lab.log" 2>&1 ||
	e2e_fatal "deploy/lab.sh fleet failed" "$(cat "$TF_TMP/lab.log")"
pass "deploy/lab.sh fleet"
tf_workdir 3.0.0 fleet-lab

e2e_step "terraform init and apply, through r1's API alone"
tf_check "terraform init" init
tf_check "terraform apply" apply -auto-approve
check_poll "r1's kernel has r1's routes and no other's" 20 test "$(owned "$LAB-r1")" = "$(printf '%s\n' '192.168.2.0/24 10.255.0.2' '192.168.3.0/24 10.255.0.3')"
for i in 2 3; do
	check_poll "r$i's kernel has its way back to h1, and nothing else" 20 test "$(owned "$LAB-r$i")" = "192.168.1.0/24 10.255.0.1"
	check_poll "r$i has its addresses" 20 has_addr4 "$LAB-r$i" enp0s2 "192.168.$i.1/24"
	check_poll "h1 pings h$i" 20 ping_ok "$LAB-h1" "192.168.$i.2"
	check_tcp "$LAB-h1" "$LAB-h$i" "192.168.$i.2"
	check "h1 -> h$i tcp/22 is dropped on r$i" tcp_blocked "$LAB-h1" "$LAB-h$i" "192.168.$i.2" 22
done
check_eq "r3's API lists r2's route written through r1" "192.168.1.0/24" \
	"$(fleet_api r3 '/v1/routes?router=r2' | jq -r '[.items[].destination] | join(",")')"
check_eq "r2's API lists the group" "web" "$(fleet_api r2 /v1/security-groups | jq -r '[.items[].name] | join(",")')"

e2e_step "a second plan is empty"
tf_plan_empty "terraform plan after apply: no changes"

e2e_step "destroy"
tf_check "terraform destroy" destroy -auto-approve
for i in 1 2 3; do
	check_poll "r$i's kernel has no vrouter route left" 20 test -z "$(owned "$LAB-r$i")"
done
check_eq "no route left in the fleet" 0 "$(fleet_api r2 /v1/routes | jq '.items | length')"
check_eq "no group left in the fleet" 0 "$(fleet_api r3 /v1/security-groups | jq '.items | length')"

e2e_step "lab down"
for h in r1 r2 r3; do
	problems=$(e2e__log_problems "$LAB_DIR/$h/vrouterd.log")
	[[ -z $problems ]] || fail "sanitizer or crash report in the log of vrouterd on $h" "$problems"
done
VRLAB=$LAB VRLAB_DIR=$LAB_DIR "$E2E_SRC/deploy/lab.sh" down >/dev/null 2>&1 || fail "deploy/lab.sh down failed"
e2e_done
