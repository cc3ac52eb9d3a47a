/*
 * Exercises the libnl kernel adapter (core/nl_*.c: routes,
 * addresses, policy rules, forwarding, links, events) against a real kernel.
 * It must run inside a throwaway network namespace, which it refuses to do
 * without; it makes its own veth pair there:
 *
 *   ip netns add kp-$$ && ip netns exec kp-$$ ./kernel_probe check; ip netns del kp-$$
 *   ip netns exec kp-$$ ./kernel_probe bench 10000
 *
 * "check" prints one line per check and exits 1 if any failed. "bench N"
 * times route_apply for N routes against `ip -batch` of the same routes.
 * The diagnostics' kernel facts are printed for test_kernel_diag.sh to
 * check, in whatever namespace it sets up (these change nothing):
 *
 *   kernel_probe route-get DST [SRC IIF]   route_get's answer, one line
 *   kernel_probe ct PROTO SRC DST DPORT    ct_find's flows, "any" matches all
 *   kernel_probe counters                  nft_counters, on a read-only handle
 */
#include <errno.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kernel.h"
#include "log.h"
#include "nft.h"
#include "plan.h"

#define LINK "kp0"
#define PEER "kp1"
#define MAX_ROUTES 64
#define MAX_OBJS 16
/* Quiet time that ends settle(): IPv6 address notifications come from a work queue. */
#define SETTLE_MS 100

static int failures;

__attribute__((format(printf, 2, 3))) static void check(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s ", ok ? "ok  " : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!ok)
		failures++;
}

__attribute__((format(printf, 1, 2))) static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	return rc == -1 ? -1 : WEXITSTATUS(rc);
}

/* Lines printed by a shell command. */
static int sh_lines(const char *cmd)
{
	char line[512];
	FILE *f = popen(cmd, "r");
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n++;
	pclose(f);
	return n;
}

/* First line printed by a shell command, without its newline ("" if none). */
__attribute__((format(printf, 3, 4))) static void sh_out(char *buf, size_t len, const char *fmt,
                                                         ...)
{
	char cmd[1024];
	va_list ap;
	FILE *f;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	buf[0] = '\0';
	f = popen(cmd, "r");
	if (!f)
		return;
	if (fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = '\0';
	while (fgets(cmd, sizeof(cmd), f))
		;
	pclose(f);
}

/*
 * Wait until no IPv6 address is tentative: a link brought up announces its
 * link-local address only after DAD, a second or two later, and that foreign
 * address change would land in whatever check runs then.
 */
static void wait_dad(void)
{
	for (int i = 0; i < 50; i++) {
		if (sh("ip -6 addr show tentative | grep -q inet6") != 0)
			return;
		usleep(100 * 1000);
	}
}

/* Drain notifications until SETTLE_MS pass in quiet; true if any asked for a resync. */
static bool settle(struct kernel_ops *k)
{
	struct pollfd p = {.fd = k->events_fd(k->ctx), .events = POLLIN};
	bool resync = k->events_drain(k->ctx);

	while (poll(&p, 1, SETTLE_MS) > 0)
		resync |= k->events_drain(k->ctx);
	return resync;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * The root namespace is never ours to change: run only in a named namespace
 * (ip netns exec), and never in the one pid 1 lives in when we can see it.
 */
static bool in_own_netns(void)
{
	struct stat self, init;
	char name[256] = "";
	FILE *f;

	if (!stat("/proc/self/ns/net", &self) && !stat("/proc/1/ns/net", &init) &&
	    self.st_ino == init.st_ino && self.st_dev == init.st_dev)
		return false;
	f = popen("ip netns identify 2>/dev/null", "r");
	if (!f)
		return false;
	if (!fgets(name, sizeof(name), f))
		name[0] = '\0';
	pclose(f);
	return name[0] != '\0' && name[0] != '\n';
}

static int setup_links(void)
{
	return sh("ip link add " LINK " type veth peer name " PEER " && "
	          "ip addr add 192.168.150.1/24 dev " LINK " && "
	          "ip addr add 2001:db8:150::1/64 dev " LINK " nodad && "
	          "ip link set " LINK " up && ip link set " PEER " up && ip link set lo up");
}

/* A route from text; via may be NULL, dev may be NULL. */
static struct kroute mk(struct kernel_ops *k, uint32_t table, const char *dst, uint32_t metric,
                        uint8_t type, const char *via, const char *dev)
{
	struct kroute r;

	memset(&r, 0, sizeof(r));
	r.table = table;
	r.metric = metric;
	r.type = type;
	if (cidr_parse_prefix(dst, false, &r.dst)) {
		fprintf(stderr, "bad prefix %s\n", dst);
		exit(2);
	}
	if (via && cidr_parse_addr(via, &r.via)) {
		fprintf(stderr, "bad address %s\n", via);
		exit(2);
	}
	if (dev)
		r.oif = k->link_index(k->ctx, dev);
	return r;
}

/* Apply one op and return its result. */
static int apply1(struct kernel_ops *k, enum kop_kind kind, const struct kroute *r)
{
	struct kroute_op op = {.kind = kind, .r = *r};
	int res = 1;
	int rc = k->route_apply(k->ctx, &op, 1, &res);

	return rc ? rc : res;
}

/* Make the kernel hold exactly want[0..n); checks every op succeeded. */
static bool converge(struct kernel_ops *k, const struct kroute *want, size_t n, const char *what)
{
	struct kroute *obs = NULL;
	struct kroute_op *ops = NULL;
	size_t nobs = 0, nops = 0;
	int res[MAX_ROUTES * 2];
	bool ok = true;

	if (k->route_dump(k->ctx, &obs, &nobs) ||
	    plan_routes(want, n, obs, nobs, &ops, &nops, NULL))
		return false;
	if (nops > MAX_ROUTES * 2)
		return false;
	if (nops && k->route_apply(k->ctx, ops, nops, res))
		ok = false;
	for (size_t i = 0; ok && i < nops; i++) {
		if (res[i]) {
			char d[CIDR_STR_MAX];

			cidr_format_prefix(&ops[i].r.dst, d, sizeof(d));
			printf("     op %zu (%d) on %s table %u: %s\n", i, ops[i].kind, d,
			       ops[i].r.table, strerror(-res[i]));
			ok = false;
		}
	}
	check(ok, "%s: %zu ops applied", what, nops);
	free(obs);
	free(ops);
	return ok;
}

/* The dump holds exactly want[0..n) (as plan_kroute_satisfies sees it). */
static void expect_dump(struct kernel_ops *k, const struct kroute *want, size_t n, const char *what)
{
	struct kroute *obs = NULL;
	struct kroute_op *ops = NULL;
	size_t nobs = 0, nops = 0;
	int rc = k->route_dump(k->ctx, &obs, &nobs);

	if (!rc)
		rc = plan_routes(want, n, obs, nobs, &ops, &nops, NULL);
	check(!rc && nobs == n && nops == 0, "%s: dump has %zu routes, %zu expected, %zu differ",
	      what, nobs, n, nops);
	free(obs);
	free(ops);
}

static void expect_fail(struct kernel_ops *k, const struct kroute *r, int want, const char *what)
{
	char why[256];
	int res = apply1(k, KOP_ADD, r);

	kernel_route_reason(r, res, why, sizeof(why));
	check(res == -want, "%s: %s (want %s) -> \"%s\"", what, strerror(-res), strerror(want),
	      why);
}

/* ---- addresses ---- */

static struct kaddr mka(struct kernel_ops *k, const char *dev, const char *p)
{
	struct kaddr a;

	memset(&a, 0, sizeof(a));
	if (cidr_parse_prefix(p, false, &a.p) == -EINVAL) {
		fprintf(stderr, "bad prefix %s\n", p);
		exit(2);
	}
	a.ifindex = k->link_index(k->ctx, dev);
	return a;
}

/* Make the kernel hold exactly want[0..n) of our addresses. */
static bool converge_addrs(struct kernel_ops *k, const struct kaddr *want, size_t n,
                           const char *what)
{
	struct kaddr *obs = NULL;
	struct kaddr_op *ops = NULL;
	size_t nobs = 0, nops = 0;
	int res[MAX_OBJS * 2];
	bool ok = true;

	if (k->addr_dump(k->ctx, &obs, &nobs) ||
	    plan_addrs(want, n, obs, nobs, &ops, &nops, NULL) || nops > MAX_OBJS * 2) {
		check(false, "%s: dump or plan failed", what);
		free(obs);
		free(ops);
		return false;
	}
	if (nops && k->addr_apply(k->ctx, ops, nops, res))
		ok = false;
	for (size_t i = 0; ok && i < nops; i++) {
		if (res[i]) {
			char why[256];

			kernel_addr_reason(&ops[i].a, res[i], why, sizeof(why));
			printf("     op %zu (%d): %s\n", i, ops[i].kind, why);
			ok = false;
		}
	}
	check(ok, "%s: %zu address ops applied", what, nops);
	free(obs);
	free(ops);
	return ok;
}

static void expect_addrs(struct kernel_ops *k, const struct kaddr *want, size_t n, const char *what)
{
	struct kaddr *obs = NULL;
	struct kaddr_op *ops = NULL;
	size_t nobs = 0, nops = 0;
	int rc = k->addr_dump(k->ctx, &obs, &nobs);

	if (!rc)
		rc = plan_addrs(want, n, obs, nobs, &ops, &nops, NULL);
	check(!rc && nobs == n && nops == 0,
	      "%s: address dump has %zu owned, %zu expected, %zu differ", what, nobs, n, nops);
	free(obs);
	free(ops);
}

static int addr1(struct kernel_ops *k, enum kop_kind kind, const struct kaddr *a)
{
	struct kaddr_op op = {.kind = kind, .a = *a};
	int res = 1;
	int rc = k->addr_apply(k->ctx, &op, 1, &res);

	return rc ? rc : res;
}

static bool has_addr(const char *dev, const char *p)
{
	return sh("ip addr show dev %s | grep -q ' %s '", dev, p) == 0;
}

static void check_addrs(struct kernel_ops *k)
{
	struct kaddr want[4];
	size_t n = 0;
	char buf[256], why[256];
	struct kaddr bad;
	int rc;

	printf("---- addresses\n");
	wait_dad();
	expect_addrs(k, NULL, 0, "foreign addresses only");
	want[n++] = mka(k, LINK, "10.50.0.1/24");
	want[n++] = mka(k, LINK, "2001:db8:50::1/64");
	want[n++] = mka(k, PEER, "10.51.0.1/24");
	want[n++] = mka(k, PEER, "2001:db8:51::1/64");
	settle(k);
	converge_addrs(k, want, n, "add owned addresses");
	expect_addrs(k, want, n, "after add");
	check(!settle(k), "events_drain false after our own address adds");
	check(has_addr(LINK, "10.50.0.1/24") && has_addr(PEER, "2001:db8:51::1/64"),
	      "ip addr shows the owned addresses");
	sh_out(buf, sizeof(buf), "ip -6 addr show dev " LINK " to 2001:db8:50::1/64 | grep inet6");
	check(strstr(buf, "2001:db8:50::1/64") && !strstr(buf, "tentative"),
	      "IPv6 address usable at once (nodad): \"%s\"", buf);
	check(sh_lines("ip -6 route show 2001:db8:50::/64 dev " LINK " proto kernel") == 1 &&
	          sh_lines("ip route show 10.50.0.0/24 dev " LINK " proto kernel") == 1,
	      "the kernel added the connected routes");

	/* Ownership is in the kernel, not in our memory. */
	nl_kernel_close(k);
	rc = nl_kernel_open(k);
	check(rc == 0, "reopen the adapter (a restart): %s", strerror(-rc));
	if (rc)
		exit(1);
	expect_addrs(k, want, n, "after a restart");

	/* Foreign addresses: one a secondary of our primary 10.50.0.1/24. */
	settle(k);
	sh("ip addr add 10.50.0.77/24 dev " LINK);
	sh("ip -6 addr add 2001:db8:50::77/64 dev " LINK " nodad");
	check(settle(k), "events_drain true after a foreign ip addr add");
	expect_addrs(k, want, n, "foreign addresses are not dumped");
	bad = mka(k, LINK, "192.168.150.1/24");
	rc = addr1(k, KOP_ADD, &bad);
	kernel_addr_reason(&bad, rc, why, sizeof(why));
	check(rc == -EEXIST, "add over a foreign address: %s -> \"%s\"", strerror(-rc), why);
	bad = mka(k, LINK, "2001:db8:150::1/64");
	rc = addr1(k, KOP_ADD, &bad);
	check(rc == -EEXIST, "add over a foreign IPv6 address: %s", strerror(-rc));
	expect_addrs(k, want, n, "the foreign address was not adopted");
	bad = mka(k, LINK, "10.50.0.1/24");
	rc = addr1(k, KOP_REPLACE, &bad);
	check(rc == -EOPNOTSUPP, "replace refused: %s", strerror(-rc));
	bad.ifindex = 9999;
	rc = addr1(k, KOP_ADD, &bad);
	kernel_addr_reason(&bad, rc, why, sizeof(why));
	check(rc == -ENODEV, "add on a missing link: %s -> \"%s\"", strerror(-rc), why);

	/* Hand deletions of ours are noticed, and repaired. */
	settle(k);
	sh("ip addr del 10.51.0.1/24 dev " PEER);
	check(settle(k), "events_drain true after ip addr del of an owned IPv4 address");
	sh("ip -6 addr del 2001:db8:50::1/64 dev " LINK);
	check(settle(k), "events_drain true after ip -6 addr del of an owned IPv6 address");
	converge_addrs(k, want, n, "repair");
	check(!settle(k), "events_drain false after our own repair");
	expect_addrs(k, want, n, "after repair");

	/* Link down: IPv6 addresses go with it (keep_addr_on_down=0), IPv4 ones stay. */
	sh("ip link set " PEER " down");
	check(settle(k), "events_drain true after ip link set down");
	{
		struct kaddr *obs = NULL;
		size_t nobs = 0;

		if (!k->addr_dump(k->ctx, &obs, &nobs))
			printf("     after link down the kernel holds %zu of our %zu addresses\n",
			       nobs, n);
		free(obs);
	}
	sh("ip link set " PEER " up");
	wait_dad();
	settle(k);
	converge_addrs(k, want, n, "repair after link down/up");
	expect_addrs(k, want, n, "after link repair");

	/*
	 * The kernel removes the secondaries of a primary with it unless
	 * promote_secondaries is on: shown here with ip alone, on the peer.
	 */
	sh_out(buf, sizeof(buf), "cat /proc/sys/net/ipv4/conf/" PEER "/promote_secondaries");
	sh("ip addr add 10.60.0.1/24 dev " PEER " && ip addr add 10.60.0.2/24 dev " PEER
	   " && ip addr del 10.60.0.1/24 dev " PEER);
	check(!has_addr(PEER, "10.60.0.2/24"),
	      "kernel quirk: with promote_secondaries=%s, deleting a primary deletes its "
	      "secondaries",
	      buf);

	/* Remove ours: the foreign ones, including the secondary of our primary, stay. */
	settle(k);
	converge_addrs(k, NULL, 0, "delete all owned addresses");
	expect_addrs(k, NULL, 0, "after delete all");
	check(!has_addr(LINK, "10.50.0.1/24") && !has_addr(LINK, "2001:db8:50::1/64") &&
	          !has_addr(PEER, "10.51.0.1/24") && !has_addr(PEER, "2001:db8:51::1/64"),
	      "ip addr shows no owned address");
	check(has_addr(LINK, "10.50.0.77/24") && has_addr(LINK, "2001:db8:50::77/64") &&
	          has_addr(LINK, "192.168.150.1/24") && has_addr(LINK, "2001:db8:150::1/64"),
	      "foreign addresses survive, the secondary of our primary included");
	sh_out(buf, sizeof(buf), "cat /proc/sys/net/ipv4/conf/" LINK "/promote_secondaries");
	check(strcmp(buf, "1") == 0, "promote_secondaries turned on for " LINK " to keep it: %s",
	      buf);
	settle(k);
}

/* ---- policy rules ---- */

static struct krule mkr(int family, const char *src, uint32_t table, uint32_t prio)
{
	struct krule r;

	memset(&r, 0, sizeof(r));
	r.family = family;
	r.src.addr.family = family;
	if (src && cidr_parse_prefix(src, false, &r.src)) {
		fprintf(stderr, "bad prefix %s\n", src);
		exit(2);
	}
	r.table = table;
	r.priority = prio;
	return r;
}

static bool converge_rules(struct kernel_ops *k, const struct krule *want, size_t n,
                           const char *what)
{
	struct krule *obs = NULL;
	struct krule_op *ops = NULL;
	size_t nobs = 0, nops = 0;
	int res[MAX_OBJS * 2];
	bool ok = true;

	if (k->rule_dump(k->ctx, &obs, &nobs) ||
	    plan_rules(want, n, obs, nobs, &ops, &nops, NULL) || nops > MAX_OBJS * 2) {
		check(false, "%s: dump or plan failed", what);
		free(obs);
		free(ops);
		return false;
	}
	if (nops && k->rule_apply(k->ctx, ops, nops, res))
		ok = false;
	for (size_t i = 0; ok && i < nops; i++) {
		if (res[i]) {
			char why[256];

			kernel_rule_reason(&ops[i].r, res[i], why, sizeof(why));
			printf("     op %zu (%d): %s\n", i, ops[i].kind, why);
			ok = false;
		}
	}
	check(ok, "%s: %zu rule ops applied", what, nops);
	free(obs);
	free(ops);
	return ok;
}

static void expect_rules(struct kernel_ops *k, const struct krule *want, size_t n, const char *what)
{
	struct krule *obs = NULL;
	struct krule_op *ops = NULL;
	size_t nobs = 0, nops = 0;
	int rc = k->rule_dump(k->ctx, &obs, &nobs);

	if (!rc)
		rc = plan_rules(want, n, obs, nobs, &ops, &nops, NULL);
	check(!rc && nobs == n && nops == 0,
	      "%s: rule dump has %zu owned, %zu expected, %zu differ", what, nobs, n, nops);
	free(obs);
	free(ops);
}

static int rule1(struct kernel_ops *k, enum kop_kind kind, const struct krule *r)
{
	struct krule_op op = {.kind = kind, .r = *r};
	int res = 1;
	int rc = k->rule_apply(k->ctx, &op, 1, &res);

	return rc ? rc : res;
}

#define OURS " proto (245|vrouter)"

static void check_rules(struct kernel_ops *k)
{
	struct krule want[6], r;
	size_t n = 0;
	char why[256];
	int rc;

	printf("---- policy rules\n");
	sh("ip rule add from 10.9.0.0/24 lookup 100");
	/* A foreign twin of one of ours: same source, table and priority. */
	sh("ip rule add from 10.70.0.0/24 lookup 10070 pref 20005 proto static");
	/* Foreign twins of an unreachable rule of ours: without our protocol, and ours by
	 * protocol but with an action we never use. */
	sh("ip rule add from 10.71.0.0/24 unreachable pref 20006 proto static");
	sh("ip rule add from 10.72.0.0/24 prohibit pref 20007 proto 245");
	expect_rules(k, NULL, 0, "foreign rules only");

	want[n++] = mkr(AF_INET, "192.168.100.0/24", 10000, VR_RULE_PRIO_FIRST);
	want[n++] = mkr(AF_INET, "192.168.150.0/24", 10001, VR_RULE_PRIO_FIRST + 1);
	want[n++] = mkr(AF_INET6, "2001:db8:100::/64", 10000, VR_RULE_PRIO_FIRST + 2);
	want[n++] = mkr(AF_INET, "10.70.0.0/24", 10070, 20005);
	want[n] = mkr(AF_INET, "10.71.0.0/24", 0, 20006);
	want[n++].action = KRULE_UNREACHABLE;
	want[n] = mkr(AF_INET6, "2001:db8:100::/64", 0, VR_RULE_PRIO_FIRST + 3);
	want[n++].action = KRULE_UNREACHABLE;
	settle(k);
	converge_rules(k, want, n, "add rules");
	expect_rules(k, want, n, "after add");
	check(!settle(k), "events_drain false after our own rule adds");
	check(
	    sh_lines("ip -4 rule show | grep -E '^20000:\\s+from 192.168.100.0/24 lookup 10000" OURS
	             "'") == 1 &&
	        sh_lines("ip -4 rule show | grep -E '^20001:\\s+from 192.168.150.0/24 lookup "
	                 "10001" OURS "'") == 1 &&
	        sh_lines("ip -6 rule show | grep -E '^20002:\\s+from 2001:db8:100::/64 lookup "
	                 "10000" OURS "'") == 1 &&
	        sh_lines("ip -4 rule show | grep -E '^20005:.*lookup 10070" OURS "'") == 1 &&
	        sh_lines("ip -4 rule show | grep -E '^20006:\\s+from 10.71.0.0/24 unreachable" OURS
	                 "'") == 1 &&
	        sh_lines("ip -6 rule show | grep -E '^20003:\\s+from 2001:db8:100::/64 "
	                 "unreachable" OURS "'") == 1,
	    "ip rule shows our rules with our protocol");
	printf("---- ip rule show; ip -6 rule show\n");
	fflush(stdout);
	sh("ip rule show; ip -6 rule show");
	printf("----\n");

	r = want[0];
	rc = rule1(k, KOP_ADD, &r);
	kernel_rule_reason(&r, rc, why, sizeof(why));
	check(rc == -EEXIST, "add of an existing rule: %s -> \"%s\"", strerror(-rc), why);
	r.priority = 32000;
	rc = rule1(k, KOP_ADD, &r);
	kernel_rule_reason(&r, rc, why, sizeof(why));
	check(rc == -ERANGE, "priority outside the range: %s -> \"%s\"", strerror(-rc), why);
	r = mkr(AF_INET, "10.9.0.0/24", 100, 20100);
	rc = rule1(k, KOP_DELETE, &r);
	kernel_rule_reason(&r, rc, why, sizeof(why));
	check(rc == -ENOENT, "delete of a rule we do not have: %s -> \"%s\"", strerror(-rc), why);
	check(rule1(k, KOP_REPLACE, &want[0]) == -EOPNOTSUPP, "replace refused");

	/* Events. */
	settle(k);
	sh("ip rule add from 10.9.1.0/24 lookup 101");
	check(!settle(k), "events_drain false after a foreign ip rule add");
	sh("ip rule del from 10.9.1.0/24 lookup 101");
	check(!settle(k), "events_drain false after a foreign ip rule del");
	sh("ip rule del from 192.168.100.0/24 lookup 10000 pref 20000");
	check(settle(k), "events_drain true after ip rule del of our rule");
	sh("ip -6 rule del from 2001:db8:100::/64 lookup 10000 pref 20002");
	check(settle(k), "events_drain true after ip -6 rule del of our rule");
	sh("ip -6 rule del from 2001:db8:100::/64 unreachable pref 20003");
	check(settle(k), "events_drain true after ip -6 rule del of our unreachable rule");
	converge_rules(k, want, n, "repair");
	check(!settle(k), "events_drain false after our own repair");
	expect_rules(k, want, n, "after repair");

	/* Remove ours: the foreign ones, the twin included, stay. */
	converge_rules(k, NULL, 0, "delete all rules");
	expect_rules(k, NULL, 0, "after delete all");
	check(!settle(k), "events_drain false after our own rule deletes");
	check(sh_lines("ip rule show | grep -E '" OURS "' | grep -v prohibit; ip -6 rule show | "
	               "grep -E '" OURS "'") == 0,
	      "ip rule shows no owned rule (the prohibit one of our protocol is not ours)");
	check(
	    sh_lines("ip rule show | grep -E 'from 10.9.0.0/24 lookup 100$'") == 1 &&
	        sh_lines("ip rule show | grep -E '^20005:\\s+from 10.70.0.0/24 lookup 10070 proto "
	                 "static'") == 1 &&
	        sh_lines("ip rule show | grep -E '^20006:\\s+from 10.71.0.0/24 unreachable proto "
	                 "static'") == 1 &&
	        sh_lines("ip rule show | grep -E '^20007:\\s+from 10.72.0.0/24 prohibit'") == 1,
	    "foreign rules survive, the twins of ours included");
}

/* ---- forwarding ---- */

static void check_forwarding(struct kernel_ops *k)
{
	bool v4 = false, v6 = false;
	char b4[16], b6[16];
	int rc;

	printf("---- forwarding (this namespace only)\n");
	rc = k->forwarding_get(k->ctx, &v4, &v6);
	check(rc == 0, "forwarding_get: %s (ipv4 %d, ipv6 %d)", strerror(-rc), v4, v6);
	settle(k);
	rc = k->forwarding_set(k->ctx, true, true);
	check(rc == 0, "forwarding_set on: %s", strerror(-rc));
	sh_out(b4, sizeof(b4), "cat /proc/sys/net/ipv4/ip_forward");
	sh_out(b6, sizeof(b6), "cat /proc/sys/net/ipv6/conf/all/forwarding");
	check(!strcmp(b4, "1") && !strcmp(b6, "1"), "the sysctls say %s %s", b4, b6);
	rc = k->forwarding_get(k->ctx, &v4, &v6);
	check(rc == 0 && v4 && v6, "forwarding_get sees it: %d %d", v4, v6);
	check(!settle(k), "events_drain false after our own forwarding_set");
	check(k->forwarding_set(k->ctx, true, true) == 0 && !settle(k),
	      "forwarding_set of the same values: no change, no event");

	sh("sysctl -qw net.ipv4.ip_forward=0");
	check(settle(k), "events_drain true after sysctl -w net.ipv4.ip_forward=0 by hand");
	rc = k->forwarding_get(k->ctx, &v4, &v6);
	check(rc == 0 && !v4 && v6, "forwarding_get sees the hand change: %d %d", v4, v6);
	check(k->forwarding_set(k->ctx, true, true) == 0 && !settle(k),
	      "repair: forwarding_set, no event of our own");
	sh("sysctl -qw net.ipv6.conf.all.forwarding=0");
	check(settle(k), "events_drain true after sysctl -w net.ipv6.conf.all.forwarding=0");
	check(k->forwarding_set(k->ctx, true, true) == 0 && !settle(k), "repair IPv6");
	sh("sysctl -qw net.ipv4.conf." LINK ".forwarding=0");
	check(!settle(k), "events_drain false after a per-link forwarding change (not ours)");
	sh("sysctl -qw net.ipv4.conf." LINK ".forwarding=1");
	settle(k);
	check(k->forwarding_set(k->ctx, false, false) == 0 && !settle(k),
	      "forwarding_set off, no event of our own");
	sh_out(b4, sizeof(b4), "cat /proc/sys/net/ipv4/ip_forward");
	sh_out(b6, sizeof(b6), "cat /proc/sys/net/ipv6/conf/all/forwarding");
	check(!strcmp(b4, "0") && !strcmp(b6, "0"), "the sysctls say %s %s", b4, b6);
}

/* ---- links and tables ---- */

static const struct klink *find_klink(const struct klink *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].name, name))
			return &v[i];
	return NULL;
}

static bool klink_has(const struct klink *l, const char *p)
{
	char s[CIDR_STR_MAX];

	for (size_t i = 0; l && i < l->naddrs; i++) {
		cidr_format_prefix(&l->addrs[i], s, sizeof(s));
		if (!strcmp(s, p))
			return true;
	}
	return false;
}

static void check_links(struct kernel_ops *k)
{
	struct klink *v = NULL;
	const struct klink *a, *b, *lo;
	struct kaddr owned = mka(k, LINK, "10.52.0.1/24");
	char mac[32];
	size_t n = 0;
	int rc;

	printf("---- links\n");
	sh("ip link set " PEER " mtu 1400");
	check(addr1(k, KOP_ADD, &owned) == 0, "an owned address for the list");
	rc = k->links_list(k->ctx, &v, &n);
	check(rc == 0 && n >= 3, "links_list: %s, %zu links", strerror(-rc), n);
	a = find_klink(v, n, LINK);
	b = find_klink(v, n, PEER);
	lo = find_klink(v, n, "lo");
	check(a && b && lo, "the veth pair and lo are listed");
	if (!a || !b || !lo)
		goto out;
	for (size_t i = 0; i < n; i++) {
		printf("     %d %s %s%s mac %s mtu %u, %zu addresses\n", v[i].ifindex, v[i].name,
		       v[i].up ? "up" : "down", v[i].lower_up ? ",lower_up" : "", v[i].mac,
		       v[i].mtu, v[i].naddrs);
	}
	sh_out(mac, sizeof(mac), "cat /sys/class/net/" LINK "/address");
	check(a->ifindex == k->link_index(k->ctx, LINK) && !strcmp(a->mac, mac) && a->up &&
	          a->lower_up && a->mtu == 1500,
	      LINK ": index %d, mac %s (sysfs %s), up %d, lower_up %d, mtu %u", a->ifindex, a->mac,
	      mac, a->up, a->lower_up, a->mtu);
	check(b->mtu == 1400, PEER ": mtu %u", b->mtu);
	check(klink_has(a, "192.168.150.1/24") && klink_has(a, "2001:db8:150::1/64") &&
	          klink_has(a, "10.50.0.77/24") && klink_has(a, "10.52.0.1/24"),
	      LINK ": foreign and owned addresses listed (%zu)", a->naddrs);
	check(klink_has(lo, "127.0.0.1/8") && klink_has(lo, "::1/128") &&
	          !strcmp(lo->mac, "00:00:00:00:00:00"),
	      "lo: 127.0.0.1/8, ::1/128, mac %s", lo->mac);
	kernel_links_free(v, n);
	v = NULL;

	/* Administratively down vs no carrier. */
	sh("ip link set " PEER " down");
	/* The peer's carrier loss reaches LINK through linkwatch, which may lag: poll (2 s at
	 * most). */
	for (int i = 0; i < 40; i++) {
		kernel_links_free(v, n);
		v = NULL;
		n = 0;
		rc = k->links_list(k->ctx, &v, &n);
		a = rc ? NULL : find_klink(v, n, LINK);
		b = rc ? NULL : find_klink(v, n, PEER);
		if (a && b && !a->lower_up)
			break;
		usleep(50 * 1000);
	}
	check(a && b && a->up && !a->lower_up && !b->up,
	      "peer down: " LINK " up without carrier, " PEER " down");
	sh("ip link set " PEER " up");
	wait_dad();
out:
	kernel_links_free(v, n);
	kernel_links_free(NULL, 0);
	check(addr1(k, KOP_DELETE, &owned) == 0, "the owned address removed");
	settle(k);
}

static bool has_table(const uint32_t *v, size_t n, uint32_t t)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == t)
			return true;
	return false;
}

static void check_tables(struct kernel_ops *k)
{
	uint32_t *v = NULL;
	size_t n = 0;
	bool sorted = true;
	struct krule r = mkr(AF_INET, "10.71.0.0/24", 4444, VR_RULE_PRIO_FIRST + 10);
	int rc;

	printf("---- tables in use\n");
	/* The foreign rule to table 100 is still there from the rule checks. */
	sh("ip route add 10.88.0.0/16 dev " LINK " table 4242");
	sh("ip -6 route add 2001:db8:88::/48 dev " LINK " table 4343");
	check(rule1(k, KOP_ADD, &r) == 0, "one rule of ours to table 4444");
	rc = k->tables_in_use(k->ctx, &v, &n);
	for (size_t i = 1; i < n; i++)
		sorted &= v[i - 1] < v[i];
	printf("     tables:");
	for (size_t i = 0; i < n; i++)
		printf(" %u", v[i]);
	printf("\n");
	check(rc == 0 && sorted, "tables_in_use: %s, %zu tables, sorted and distinct",
	      strerror(-rc), n);
	check(has_table(v, n, 100), "table 100 (only a foreign rule points to it)");
	check(has_table(v, n, 4242), "table 4242 (only a foreign IPv4 route)");
	check(has_table(v, n, 4343), "table 4343 (only a foreign IPv6 route)");
	check(has_table(v, n, 4444), "table 4444 (only our rule)");
	check(has_table(v, n, 253) && has_table(v, n, 254) && has_table(v, n, 255),
	      "tables default, main and local");
	check(!has_table(v, n, 0), "no table 0");
	check(rule1(k, KOP_DELETE, &r) == 0, "our rule to table 4444 removed");
	free(v);
}

static int run_check(void)
{
	struct kernel_ops k;
	struct kroute want[MAX_ROUTES];
	size_t n = 0;
	int rc;

	if (setup_links()) {
		fprintf(stderr, "cannot set up the links\n");
		return 2;
	}
	wait_dad();
	rc = nl_kernel_open(&k);
	check(rc == 0, "nl_kernel_open: %s", strerror(-rc));
	if (rc)
		return 1;
	/* Foreign routes, before and during: never reported, never touched. */
	sh("ip route add 10.99.0.0/16 via 192.168.150.3 proto static");
	sh("ip -6 route add 2001:db8:99::/48 via 2001:db8:150::3 proto static");

	want[n++] = mk(&k, 254, "10.1.0.0/16", 0, RTN_UNICAST, "192.168.150.3", NULL);
	want[n++] = mk(&k, 254, "10.2.0.0/16", 10, RTN_UNICAST, NULL, LINK);
	want[n++] = mk(&k, 10000, "10.3.0.0/16", 0, RTN_BLACKHOLE, NULL, NULL);
	want[n++] = mk(&k, 10000, "10.4.0.0/16", 5, RTN_UNREACHABLE, NULL, NULL);
	want[n++] = mk(&k, 254, "10.5.0.0/16", 0, RTN_PROHIBIT, NULL, NULL);
	want[n++] = mk(&k, 10000, "10.6.0.0/16", 0, RTN_UNICAST, "192.168.150.3", LINK);
	want[n++] = mk(&k, 10000, "0.0.0.0/0", 0, RTN_UNICAST, "192.168.150.3", NULL);
	want[n++] = mk(&k, 10000, "10.2.0.0/16", 10, RTN_UNICAST, NULL, LINK);
	want[n++] = mk(&k, 254, "10.2.0.0/16", 20, RTN_UNICAST, "192.168.150.5", NULL);
	want[n++] = mk(&k, 254, "2001:db8:1::/48", 1024, RTN_UNICAST, "2001:db8:150::3", NULL);
	want[n++] = mk(&k, 10000, "2001:db8:2::/48", 1024, RTN_UNICAST, NULL, LINK);
	want[n++] = mk(&k, 254, "2001:db8:3::/48", 1024, RTN_BLACKHOLE, NULL, NULL);
	want[n++] = mk(&k, 10000, "2001:db8:4::/48", 200, RTN_UNREACHABLE, NULL, NULL);
	want[n++] = mk(&k, 10000, "2001:db8:5::/48", 200, RTN_PROHIBIT, NULL, NULL);
	want[n++] = mk(&k, 254, "2001:db8:6::/48", 1024, RTN_UNICAST, "fe80::3", LINK);
	want[n++] = mk(&k, 10000, "::/0", 300, RTN_UNICAST, "2001:db8:150::3", NULL);
	want[n++] = mk(&k, 254, "2001:db8:1::/48", 50, RTN_UNICAST, "2001:db8:150::4", NULL);

	k.events_drain(k.ctx);
	converge(&k, want, n, "add all");
	expect_dump(&k, want, n, "after add");
	check(sh_lines("ip -4 route show table all proto 245") == 9, "ip -4 shows 9 owned routes");
	check(sh_lines("ip -6 route show table all proto 245") == 8, "ip -6 shows 8 owned routes");
	printf("---- ip route show table all proto 245\n");
	fflush(stdout);
	sh("ip -4 route show table all proto 245; ip -6 route show table all proto 245");
	printf("----\n");
	check(!k.events_drain(k.ctx), "events_drain false after our own apply");
	check(sh_lines("ip route show 10.99.0.0/16 proto static") == 1, "foreign v4 route kept");

	/* Replace: other gateway, other type, dev-only -> gateway, other device. */
	want[0] = mk(&k, 254, "10.1.0.0/16", 0, RTN_UNICAST, "192.168.150.4", NULL);
	want[4] = mk(&k, 254, "10.5.0.0/16", 0, RTN_UNICAST, NULL, LINK);
	want[10] = mk(&k, 10000, "2001:db8:2::/48", 1024, RTN_UNICAST, "2001:db8:150::7", NULL);
	want[11] = mk(&k, 254, "2001:db8:3::/48", 1024, RTN_PROHIBIT, NULL, NULL);
	want[2] = mk(&k, 10000, "10.3.0.0/16", 0, RTN_UNICAST, NULL, PEER);
	converge(&k, want, n, "replace 5");
	expect_dump(&k, want, n, "after replace");
	check(sh_lines("ip route show 10.1.0.0/16 | grep -Eq 'via 192.168.150.4 dev " LINK
	               " proto (245|vrouter)' && echo y") == 1,
	      "ip route shows the new gateway");
	check(sh_lines("ip route show table 10000 10.3.0.0/16 | grep -q 'dev " PEER
	               "' && echo y") == 1,
	      "ip route shows the new device");
	check(sh_lines("ip -6 route show 2001:db8:3::/48 | grep -q '^prohibit' && echo y") == 1,
	      "ip -6 route shows the new type");

	/* Failures, with words. */
	struct kroute bad = mk(&k, 254, "10.7.0.0/16", 0, RTN_UNICAST, "10.200.0.1", NULL);
	expect_fail(&k, &bad, ENETUNREACH, "v4 gateway off-net");
	bad = mk(&k, 254, "2001:db8:7::/48", 1024, RTN_UNICAST, "2001:db8:999::1", NULL);
	expect_fail(&k, &bad, EHOSTUNREACH, "v6 gateway off-net");
	bad = mk(&k, 254, "10.7.0.0/16", 0, RTN_UNICAST, NULL, NULL);
	bad.oif = 9999;
	expect_fail(&k, &bad, ENODEV, "v4 missing device");
	bad = mk(&k, 254, "2001:db8:7::/48", 1024, RTN_UNICAST, "2001:db8:150::1", NULL);
	expect_fail(&k, &bad, EINVAL, "v6 gateway is a local address");
	bad = mk(&k, 254, "10.99.0.0/16", 0, RTN_UNICAST, "192.168.150.3", NULL);
	expect_fail(&k, &bad, EEXIST, "add over a foreign route");
	check(sh_lines("ip route show 10.99.0.0/16 proto static") == 1, "foreign route untouched");
	bad = mk(&k, 254, "2001:db8:99::/48", 1024, RTN_UNICAST, "2001:db8:150::4", NULL);
	expect_fail(&k, &bad, EEXIST, "v6 add over a foreign route");
	bad = mk(&k, 254, "10.8.0.0/16", 0, RTN_UNICAST, NULL, NULL);
	bad.oif = k.link_index(k.ctx, PEER);
	check(apply1(&k, KOP_DELETE, &bad) == -ESRCH, "delete of a missing route: ESRCH");

	/* A batch where one op fails in the middle: the others still land. */
	{
		struct kroute_op ops[3] = {
		    {.kind = KOP_ADD,
		     .r = mk(&k, 254, "10.9.1.0/24", 0, RTN_UNICAST, "192.168.150.3", NULL)},
		    {.kind = KOP_ADD,
		     .r = mk(&k, 254, "10.9.2.0/24", 0, RTN_UNICAST, "10.200.0.1", NULL)},
		    {.kind = KOP_ADD,
		     .r = mk(&k, 254, "10.9.3.0/24", 0, RTN_BLACKHOLE, NULL, NULL)},
		};
		int res[3] = {1, 1, 1};

		rc = k.route_apply(k.ctx, ops, 3, res);
		check(rc == 0 && res[0] == 0 && res[1] == -ENETUNREACH && res[2] == 0,
		      "batch with a failure in the middle: %d %d %d", res[0], res[1], res[2]);
		want[n++] = ops[0].r;
		want[n++] = ops[2].r;
		expect_dump(&k, want, n, "after mixed batch");
	}

	/* Notifications. */
	k.events_drain(k.ctx);
	check(!k.events_drain(k.ctx), "events_drain false when nothing happened");
	sh("ip route add 10.98.0.0/16 via 192.168.150.3 proto static");
	sh("ip -6 route add 2001:db8:98::/48 via 2001:db8:150::3 proto static");
	check(!k.events_drain(k.ctx), "events_drain false after adding foreign static routes");
	sh("ip route del 10.98.0.0/16 proto static");
	check(!k.events_drain(k.ctx), "events_drain false after deleting a foreign route");
	sh("ip route del 10.1.0.0/16 proto 245");
	check(k.events_drain(k.ctx), "events_drain true after ip route del of an owned route");
	sh("ip -6 route del 2001:db8:1::/48 metric 1024 proto 245");
	check(k.events_drain(k.ctx), "events_drain true after ip -6 route del of an owned route");
	sh("ip route replace 10.2.0.0/16 dev " LINK " metric 10 proto static");
	check(k.events_drain(k.ctx), "events_drain true after a foreign replace of an owned route");
	expect_fail(&k, &want[1], EEXIST, "re-add over the foreign replacement");
	sh("ip route del 10.2.0.0/16 metric 10 proto static");
	converge(&k, want, n, "repair");
	k.events_drain(k.ctx);
	sh("ip link set " PEER " down");
	check(k.events_drain(k.ctx), "events_drain true after ip link set down");
	{
		struct kroute *obs = NULL;
		size_t nobs = 0;

		rc = k.route_dump(k.ctx, &obs, &nobs);
		printf("     after link down the kernel holds %zu of our %zu routes\n", nobs, n);
		free(obs);
	}
	bad = mk(&k, 254, "10.7.0.0/16", 0, RTN_UNICAST, NULL, PEER);
	expect_fail(&k, &bad, ENETDOWN, "v4 device down");
	sh("ip link set " PEER " up");
	check(k.events_drain(k.ctx), "events_drain true after ip link set up");
	sh("ip addr add 192.168.151.1/24 dev " LINK);
	check(k.events_drain(k.ctx), "events_drain true after ip addr add");
	converge(&k, want, n, "repair after link down/up");
	expect_dump(&k, want, n, "after repair");

	/* Remove everything we own; the foreign routes stay. */
	converge(&k, NULL, 0, "delete all");
	expect_dump(&k, NULL, 0, "after delete all");
	check(sh_lines("ip route show table all proto 245; ip -6 route show table all proto 245") ==
	          0,
	      "ip route shows no owned route");
	check(sh_lines("ip route show 10.99.0.0/16 proto static; "
	               "ip -6 route show 2001:db8:99::/48 proto static") == 2,
	      "foreign routes still there");

	check_addrs(&k);
	check_rules(&k);
	check_forwarding(&k);
	check_links(&k);
	check_tables(&k);

	nl_kernel_close(&k);
	nl_kernel_close(NULL);
	printf("%s: %d failure(s)\n", failures ? "FAILED" : "PASSED", failures);
	return failures ? 1 : 0;
}

static void host_route(struct kroute *r, size_t i)
{
	memset(r, 0, sizeof(*r));
	r->table = 254;
	r->type = RTN_UNICAST;
	r->dst.addr.family = AF_INET;
	r->dst.addr.a[0] = 10;
	r->dst.addr.a[1] = (uint8_t)(i >> 16);
	r->dst.addr.a[2] = (uint8_t)(i >> 8);
	r->dst.addr.a[3] = (uint8_t)i;
	r->dst.len = 32;
	r->via.family = AF_INET;
	r->via.a[0] = 192;
	r->via.a[1] = 168;
	r->via.a[2] = 150;
	r->via.a[3] = 3;
}

static int run_bench(size_t n)
{
	struct kernel_ops k;
	struct kroute_op *ops = calloc(n, sizeof(*ops));
	struct kroute *obs = NULL;
	int *res = calloc(n, sizeof(*res));
	size_t nobs = 0, bad = 0;
	char path[] = "/tmp/kp-batch-XXXXXX";
	double t0, t_add, t_dump, t_del, t_ip_add, t_ip_del;
	FILE *f;
	int fd, rc;

	if (!ops || !res || setup_links() || nl_kernel_open(&k)) {
		free(ops);
		free(res);
		return 2;
	}
	for (size_t i = 0; i < n; i++) {
		ops[i].kind = KOP_ADD;
		host_route(&ops[i].r, i);
	}
	t0 = now();
	rc = k.route_apply(k.ctx, ops, n, res);
	t_add = now() - t0;
	for (size_t i = 0; i < n; i++)
		bad += res[i] != 0;
	t0 = now();
	rc |= k.route_dump(k.ctx, &obs, &nobs);
	t_dump = now() - t0;
	for (size_t i = 0; i < n; i++)
		ops[i].kind = KOP_DELETE;
	t0 = now();
	rc |= k.route_apply(k.ctx, ops, n, res);
	t_del = now() - t0;
	for (size_t i = 0; i < n; i++)
		bad += res[i] != 0;
	printf("route_apply: %zu adds in %.3f s = %.0f routes/s; %zu deletes in %.3f s = %.0f "
	       "routes/s; dump of %zu in %.3f s; %zu failed, rc %d\n",
	       n, t_add, (double)n / t_add, n, t_del, (double)n / t_del, nobs, t_dump, bad, rc);
	free(obs);

	fd = mkstemp(path);
	f = fd < 0 ? NULL : fdopen(fd, "w");
	if (!f)
		return 2;
	for (size_t i = 0; i < n; i++)
		fprintf(f, "route add 10.%zu.%zu.%zu/32 via 192.168.150.3 proto 245\n",
		        (i >> 16) & 255, (i >> 8) & 255, i & 255);
	fclose(f);
	t0 = now();
	rc = sh("ip -batch %s", path);
	t_ip_add = now() - t0;
	f = fopen(path, "w");
	for (size_t i = 0; f && i < n; i++)
		fprintf(f, "route del 10.%zu.%zu.%zu/32 via 192.168.150.3 proto 245\n",
		        (i >> 16) & 255, (i >> 8) & 255, i & 255);
	if (f)
		fclose(f);
	t0 = now();
	rc |= sh("ip -batch %s", path);
	t_ip_del = now() - t0;
	unlink(path);
	printf("ip -batch:   %zu adds in %.3f s = %.0f routes/s; %zu deletes in %.3f s = %.0f "
	       "routes/s; rc %d\n",
	       n, t_ip_add, (double)n / t_ip_add, n, t_ip_del, (double)n / t_ip_del, rc);
	printf("ratio (route_apply / ip -batch, higher is better): add %.2f, delete %.2f\n",
	       t_ip_add / t_add, t_ip_del / t_del);
	nl_kernel_close(&k);
	free(ops);
	free(res);
	return 0;
}

/* ---- diagnostics: one answer printed per call, for test_kernel_diag.sh ---- */

static const char *rtn_name(uint8_t t)
{
	static const char *const names[] = {
	    [RTN_UNSPEC] = "none",         [RTN_UNICAST] = "unicast",
	    [RTN_LOCAL] = "local",         [RTN_BROADCAST] = "broadcast",
	    [RTN_ANYCAST] = "anycast",     [RTN_MULTICAST] = "multicast",
	    [RTN_BLACKHOLE] = "blackhole", [RTN_UNREACHABLE] = "unreachable",
	    [RTN_PROHIBIT] = "prohibit",   [RTN_THROW] = "throw",
	};

	return t < sizeof(names) / sizeof(names[0]) && names[t] ? names[t] : "other";
}

static void print_addr(const char *key, const struct ipaddr *a)
{
	char buf[CIDR_STR_MAX] = "-";

	if (a->family)
		cidr_format_addr(a, buf, sizeof(buf));
	printf(" %s=%s", key, buf);
}

/*
 * route-get DST [SRC IIF]: one line, "ret=0|-ERRNO type=... table=... dst=PREFIX
 * via=... dev=... src=... proto=N metric=N" ("-" for none), as route_get answered.
 */
static int run_route_get(int argc, char **argv)
{
	struct kernel_ops k;
	struct kroute_query q = {0};
	struct kroute_answer a;
	char dst[CIDR_STR_MAX] = "-", dev[IF_NAMESIZE] = "-";
	int rc;

	if (cidr_parse_addr(argv[0], &q.dst) ||
	    (argc >= 3 &&
	     (cidr_parse_addr(argv[1], &q.src) || !(q.iif = (int)if_nametoindex(argv[2]))))) {
		fprintf(stderr, "route-get: bad arguments\n");
		return 2;
	}
	if (nl_kernel_open_query(&k))
		return 2;
	memset(&a, 0xa5, sizeof(a)); /* whatever route_get leaves unset shows */
	rc = k.route_get(k.ctx, &q, &a);
	if (a.type || a.dst.addr.family)
		cidr_format_prefix(&a.dst, dst, sizeof(dst));
	if (a.oif > 0 && !if_indextoname((unsigned)a.oif, dev))
		snprintf(dev, sizeof(dev), "#%d", a.oif);
	printf("ret=%s type=%s table=%u dst=%s", rc ? strerrorname_np(-rc) : "0", rtn_name(a.type),
	       a.table, dst);
	print_addr("via", &a.via);
	printf(" dev=%s", dev);
	print_addr("src", &a.prefsrc);
	printf(" proto=%u metric=%u\n", a.protocol, a.metric);
	nl_kernel_close(&k);
	return 0;
}

/* "any" or an address; false when it is neither. */
static bool arg_addr(const char *s, struct ipaddr *a)
{
	memset(a, 0, sizeof(*a));
	return !strcmp(s, "any") || !cidr_parse_addr(s, a);
}

/*
 * ct PROTO SRC DST DPORT (each "any", DPORT 0 = any; PROTO tcp, udp, icmp,
 * icmpv6 or a number): ct_find's flows, one line each, "proto=N src=A
 * dst=B sport=N dport=N reply=0|1 assured=0|1 state=N timeout=N
 * packets=ORIG/REPLY", then "flows=N".
 */
static int run_ct(char **argv)
{
	static const struct {
		const char *name;
		uint8_t num;
	} protos[] = {{"any", 0}, {"tcp", 6}, {"udp", 17}, {"icmp", 1}, {"icmpv6", 58}};
	struct kflow_query q = {0};
	struct kernel_ops k;
	struct kflow *v = NULL;
	size_t n = 0, i;
	bool known = false;
	int rc;

	for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (!strcmp(argv[0], protos[i].name)) {
			q.l4proto = protos[i].num;
			known = true;
		}
	if (!known)
		q.l4proto = (uint8_t)atoi(argv[0]);
	if (!arg_addr(argv[1], &q.src) || !arg_addr(argv[2], &q.dst)) {
		fprintf(stderr, "ct: bad address\n");
		return 2;
	}
	q.dport = (uint16_t)atoi(argv[3]);
	if (nl_kernel_open_query(&k))
		return 2;
	rc = k.ct_find(k.ctx, &q, &v, &n);
	if (rc) {
		printf("ret=%s\n", strerrorname_np(-rc));
		nl_kernel_close(&k);
		return 1;
	}
	for (i = 0; i < n; i++) {
		printf("proto=%u", v[i].l4proto);
		print_addr("src", &v[i].src);
		print_addr("dst", &v[i].dst);
		printf(" sport=%u dport=%u reply=%d assured=%d state=%u timeout=%u "
		       "packets=%llu/%llu\n",
		       v[i].sport, v[i].dport, v[i].seen_reply, v[i].assured, v[i].tcp_state,
		       v[i].timeout, (unsigned long long)v[i].packets_orig,
		       (unsigned long long)v[i].packets_reply);
	}
	printf("flows=%zu\n", n);
	free(v);
	nl_kernel_close(&k);
	return 0;
}

/*
 * counters: nft_counters through a read-only handle (the daemon owns the
 * table meanwhile), one "NAME packets=N bytes=N" line each, then "counters=N".
 */
static int run_counters(void)
{
	struct kernel_ops k;
	struct kcounter *v = NULL;
	char why[NFT_WHY_MAX];
	size_t n = 0;
	int rc;

	if (nl_kernel_open_query(&k))
		return 2;
	rc = nft_attach_query(&k, why, sizeof(why));
	if (rc) {
		printf("ret=%s (%s)\n", strerrorname_np(-rc), why);
		nl_kernel_close(&k);
		return 1;
	}
	rc = k.nft_counters(k.nft, &v, &n);
	if (rc)
		printf("ret=%s\n", strerrorname_np(-rc));
	for (size_t i = 0; i < n; i++)
		printf("%s packets=%llu bytes=%llu\n", v[i].name, (unsigned long long)v[i].packets,
		       (unsigned long long)v[i].bytes);
	printf("counters=%zu\n", n);
	free(v);
	nft_detach(&k);
	nl_kernel_close(&k);
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (!in_own_netns()) {
		fprintf(stderr,
		        "kernel_probe: run me inside a throwaway namespace "
		        "(ip netns exec NS %s ...), never in the root one\n",
		        argv[0]);
		return 2;
	}
	if (getenv("KP_DEBUG"))
		log_set_level(LOG_LVL_DEBUG);
	if (argc >= 2 && strcmp(argv[1], "check") == 0)
		return run_check();
	if (argc >= 3 && strcmp(argv[1], "bench") == 0)
		return run_bench(strtoul(argv[2], NULL, 10));
	if (argc >= 3 && strcmp(argv[1], "route-get") == 0)
		return run_route_get(argc - 2, argv + 2);
	if (argc >= 6 && strcmp(argv[1], "ct") == 0)
		return run_ct(argv + 2);
	if (argc >= 2 && strcmp(argv[1], "counters") == 0)
		return run_counters();
	fprintf(stderr,
	        "usage: %s check | bench N | route-get DST [SRC IIF] | ct PROTO SRC DST DPORT | "
	        "counters\n",
	        argv[0]);
	return 2;
}
