/*
 * Exercises the libnl route adapter (core/nl_route.c) against a real kernel.
 * It must run inside a throwaway network namespace, which it refuses to do
 * without; it makes its own veth pair there:
 *
 *   ip netns add kp-$$ && ip netns exec kp-$$ ./kernel_probe check; ip netns del kp-$$
 *   ip netns exec kp-$$ ./kernel_probe bench 10000
 *
 * "check" prints one line per check and exits 1 if any failed. "bench N"
 * times route_apply for N routes against `ip -batch` of the same routes.
 */
#include <errno.h>
#include <linux/rtnetlink.h>
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
#include "plan.h"

#define LINK "kp0"
#define PEER "kp1"
#define MAX_ROUTES 64

static int failures;

static void check(bool ok, const char *fmt, ...)
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

static int sh(const char *fmt, ...)
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
	fprintf(stderr, "usage: %s check | bench N\n", argv[0]);
	return 2;
}
