#!/usr/bin/env bash
# The Debian package (deploy/package.cmake): (a) cpack builds it from this build; its
# control fields, conffiles and contents are the expected ones, the unit, sysctl and
# default files in it are the tree's; (b) lintian reports no error; (c) dpkg installs it
# into a throwaway root (dpkg --root, maintainer scripts chroot-less with DPKG_ROOT) in
# a mount namespace where everything outside that root is read-only: the postinst
# creates the system user vrouter in that root only, starts nothing, and the host's
# users, routes, addresses, nftables and forwarding are unchanged; reinstall, remove and
# purge work. About 60 s on a loaded machine (cpack and lintian), 20 s on an idle one.
# Skipped (exit 77) in the sanitizer build: the package ships the normal build.
# shellcheck disable=SC2317,SC2016 # helpers run through check; the guard's $0, $@ are its own
set -Eeuo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# vrouterd is at the top of its build directory (CMakeLists.txt).
BUILD=$(cd "$(dirname "${VROUTERD:-$HERE/../../build/vrouterd}")" && pwd)
if grep -q '^VR_SANITIZE:BOOL=ON$' "$BUILD/CMakeCache.txt" 2>/dev/null; then
	echo "SKIP: $BUILD is the sanitizer build; the package is built and checked in the normal build"
	exit 77
fi
# shellcheck source=tests/e2e/lib.sh
. "$HERE/lib.sh"

e2e_init package
for t in cpack dpkg dpkg-deb lintian systemd-sysusers unshare; do
	command -v "$t" >/dev/null || e2e_fatal "$t is missing (deploy/setup.sh installs it)"
done
[[ -f $BUILD/CPackConfig.cmake ]] || e2e_fatal "no $BUILD/CPackConfig.cmake: configure the build with cmake first"
VERSION=$(sed -n 's/^set(CPACK_PACKAGE_VERSION "\(.*\)")$/\1/p' "$BUILD/CPackConfig.cmake")
ARCH=$(dpkg --print-architecture)

e2e_step "(a) cpack builds the package"
rc=0
# -B: its own output and staging directory, so concurrent runs do not meet.
(cd "$BUILD" && cpack -G DEB -B "$E2E_TMP/out") >"$E2E_TMP/cpack.log" 2>&1 || rc=$?
check_eq "cpack exits 0" 0 "$rc"
DEB=$E2E_TMP/out/vrouter_${VERSION}_$ARCH.deb
[[ -f $DEB ]] || e2e_fatal "cpack made no $DEB" "$(cat "$E2E_TMP/cpack.log")"
field() { dpkg-deb -f "$DEB" "$1"; }
check_eq "Package" vrouter "$(field Package)"
check_eq "Version: the project's" "$VERSION" "$(field Version)"
check_eq "Architecture" "$ARCH" "$(field Architecture)"
check_match "Depends: the libraries vrouterd links (dpkg-shlibdeps)" 'libmicrohttpd12.*libnftnl11|libnftnl11.*libmicrohttpd12' "$(field Depends)"
check_match "Depends: gnutls" 'libgnutls30' "$(field Depends)"
check_match "Depends: libpcap (the captures' filter compiler)" 'libpcap0\.8' "$(field Depends)"
check_match "Depends: systemd (systemd-sysusers, the unit)" '(^|, )systemd(,|$)' "$(field Depends)"
mkdir "$E2E_TMP/ctl"
dpkg-deb -e "$DEB" "$E2E_TMP/ctl"
check_eq "conffiles: what an admin edits" "$(printf '%s\n' /etc/default/vrouterd /etc/iproute2/rt_protos.d/vrouter.conf /etc/sysctl.d/60-vrouter.conf)" \
	"$(sort "$E2E_TMP/ctl/conffiles")"
check_eq "maintainer scripts: postinst, prerm, postrm, no preinst" "postinst postrm prerm" \
	"$(find "$E2E_TMP/ctl" -name 'p*' -printf '%f\n' | sort | xargs)"
check_no_match "no maintainer script starts or enables anything" 'systemctl (start|enable|restart)|deb-systemd-invoke (start|restart)|sysctl |ip (route|addr|link)|nft ' \
	"$(cat "$E2E_TMP/ctl/postinst" "$E2E_TMP/ctl/prerm" "$E2E_TMP/ctl/postrm")"
# Contents: mode owner path, for files.
dpkg-deb -c "$DEB" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $1, $2, $6 }' | sort -k3 >"$E2E_TMP/contents"
expect=$(
	cat <<'EOF'
-rw-r--r-- root/root /etc/default/vrouterd
-rw-r--r-- root/root /etc/iproute2/rt_protos.d/vrouter.conf
-rw-r--r-- root/root /etc/sysctl.d/60-vrouter.conf
-rw-r--r-- root/root /lib/systemd/system/vrouterd.service
-rw-r--r-- root/root /usr/lib/sysusers.d/vrouter.conf
-rwxr-xr-x root/root /usr/sbin/vrouterd
-rw-r--r-- root/root /usr/share/doc/vrouter/README.md.gz
-rw-r--r-- root/root /usr/share/doc/vrouter/changelog.gz
-rw-r--r-- root/root /usr/share/doc/vrouter/copyright
EOF
)
check_eq "the files, their modes and owners" "$expect" "$(cat "$E2E_TMP/contents")"
mkdir "$E2E_TMP/x"
dpkg-deb -x "$DEB" "$E2E_TMP/x"
for f in lib/systemd/system/vrouterd.service:deploy/vrouterd.service etc/sysctl.d/60-vrouter.conf:deploy/sysctl.d/60-vrouter.conf \
	etc/default/vrouterd:deploy/default/vrouterd etc/iproute2/rt_protos.d/vrouter.conf:deploy/rt_protos.d/vrouter.conf; do
	check "/${f%%:*} is the tree's ${f#*:}" cmp -s "$E2E_TMP/x/${f%%:*}" "$E2E_SRC/${f#*:}"
done
check_not "the binary is stripped (no .symtab)" bash -c "readelf -S '$E2E_TMP/x/usr/sbin/vrouterd' | grep -q '\.symtab'"
check "readelf reads it (the check above means something)" bash -c "readelf -S '$E2E_TMP/x/usr/sbin/vrouterd' | grep -q '\.text'"
check_match "the binary runs: --version" "$VERSION" "$("$E2E_TMP/x/usr/sbin/vrouterd" --version 2>&1)"

e2e_step "(b) lintian"
rc=0
lintian --no-cfg --display-level '>=warning' "$DEB" >"$E2E_TMP/lintian.out" 2>&1 || rc=$?
sed 's/^/    /' "$E2E_TMP/lintian.out"
check_eq "no error (E:) from lintian" 0 "$(grep -c '^E:' "$E2E_TMP/lintian.out" || true)"
check_eq "lintian exits 0" 0 "$rc"

e2e_step "(c) dpkg --root: installed into a throwaway root, the host untouched"
ROOT=$E2E_TMP/root
mkdir -p "$ROOT/var/lib/dpkg/info" "$ROOT/var/lib/dpkg/updates" "$ROOT/var/log" "$ROOT/etc"
: >"$ROOT/var/lib/dpkg/status"
: >"$ROOT/var/lib/dpkg/available"
# The host's state that an install must not change.
host_state() {
	{
		sha256sum /etc/passwd /etc/group /etc/shadow /etc/gshadow 2>&1 || true
		ls -la /lib/systemd/system/vrouterd.service /etc/default/vrouterd /etc/sysctl.d/60-vrouter.conf /usr/sbin/vrouterd 2>&1 || true
		ip route show table all
		ip -6 route show table all
		ip addr
		ip rule
		nft list ruleset 2>&1 || true
		sysctl -n net.ipv4.ip_forward net.ipv6.conf.all.forwarding 2>&1 || true
		pgrep -x vrouterd -a | grep -F "$ROOT" || true
	} | sed 's/ *valid_lft.*//; s/ *preferred_lft.*//'
}
host_state >"$E2E_TMP/host.before"
# deploy/setup.sh creates a user vrouter on the host (vrouterd --user): it must stay as it is.
HOST_VROUTER=$(getent passwd vrouter || true)
# guarded CMD...: CMD in a mount namespace where / is read-only and only the throwaway
# root is writable.
guarded() {
	unshare --mount --propagation private bash -c '
		mount --bind "$0" "$0" && mount -o remount,bind,ro / || exit 71
		exec "$@"' "$ROOT" "$@"
}
# rdpkg ARGS...: dpkg on the throwaway root, guarded. Scripts run without chroot (the root
# has no shell), with DPKG_ROOT, which they honour. --force-depends: the root holds no
# libc to depend on.
rdpkg() {
	guarded dpkg --root="$ROOT" --log="$ROOT/var/log/dpkg.log" --force-script-chrootless --force-depends "$@"
}
check_not "the guard holds: /etc cannot be written under it" guarded touch /etc/vrouter-guard-probe
rm -f /etc/vrouter-guard-probe
check "and the root can" guarded touch "$ROOT/guard-probe"
rc=0
out=$(rdpkg -i "$DEB" 2>&1) || rc=$?
printf '%s\n' "$out" | sed 's/^/    /'
check_eq "dpkg --root -i exits 0" 0 "$rc"
check_match "dpkg lists it installed in that root" '^ii +vrouter +'"$VERSION" "$(dpkg --root="$ROOT" -l vrouter 2>&1)"
for f in usr/sbin/vrouterd lib/systemd/system/vrouterd.service etc/sysctl.d/60-vrouter.conf etc/default/vrouterd \
	etc/iproute2/rt_protos.d/vrouter.conf usr/lib/sysusers.d/vrouter.conf usr/share/doc/vrouter/copyright; do
	check "/$f is in the root" test -f "$ROOT/$f"
done
check_match "the postinst created the system user vrouter there (nologin, /var/lib/vrouter)" \
	'^vrouter:x:[0-9]+:[0-9]+:vrouter daemon:/var/lib/vrouter:/usr/sbin/nologin$' "$(cat "$ROOT/etc/passwd" 2>/dev/null)"
uid=$(awk -F: '$1 == "vrouter" { print $3 }' "$ROOT/etc/passwd" 2>/dev/null)
check "a system uid ($uid, below 1000)" bash -c "[[ '$uid' =~ ^[0-9]+\$ ]] && (( $uid > 0 && $uid < 1000 ))"
check_match "and its group" '^vrouter:x:[0-9]+:' "$(cat "$ROOT/etc/group" 2>/dev/null)"
check_no_match "no service enabled in the root" 'vrouterd' "$(find "$ROOT/etc" -path '*systemd*' -name '*.service' 2>/dev/null)"
host_state >"$E2E_TMP/host.after"
check "the host's users, files, routes, addresses, rules, nftables and forwarding are unchanged" \
	diff -u "$E2E_TMP/host.before" "$E2E_TMP/host.after"
check_eq "the host's user vrouter (setup.sh's, or none) is as it was" "$HOST_VROUTER" "$(getent passwd vrouter || true)"

rc=0
rdpkg -i "$DEB" >"$E2E_TMP/re.out" 2>&1 || rc=$?
check_eq "installed again over itself: exit 0 (the postinst is idempotent)" 0 "$rc"
check_eq "still one user vrouter" 1 "$(grep -c '^vrouter:' "$ROOT/etc/passwd")"
echo '# edited by the admin' >>"$ROOT/etc/default/vrouterd"
rc=0
rdpkg -r vrouter >"$E2E_TMP/rm.out" 2>&1 || rc=$?
check_eq "dpkg -r exits 0" 0 "$rc"
check_not "remove: the binary is gone" test -e "$ROOT/usr/sbin/vrouterd"
check "remove: the edited conffile stays" grep -q 'edited by the admin' "$ROOT/etc/default/vrouterd"
rc=0
rdpkg -P vrouter >"$E2E_TMP/purge.out" 2>&1 || rc=$?
check_eq "dpkg -P exits 0" 0 "$rc"
check_not "purge: the conffiles are gone" test -e "$ROOT/etc/default/vrouterd"
check_match "purge: dpkg no longer knows it" '^$|no packages found|not installed' "$(dpkg --root="$ROOT" -l vrouter 2>&1 | grep -E '^(ii|rc) ' || true)"
host_state >"$E2E_TMP/host.end"
check "the host is still unchanged after remove and purge" diff -u "$E2E_TMP/host.before" "$E2E_TMP/host.end"

e2e_done
