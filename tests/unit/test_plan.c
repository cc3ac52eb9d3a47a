/* The route planner: desired + observed -> ops, no kernel involved. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "plan.h"

static void set_addr(struct ipaddr *a, const char *s)
{
	memset(a, 0, sizeof(*a));
	if (!s)
		return;
	a->family = strchr(s, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(a->family, s, a->a), 1);
}

/* A route from text: "10.0.0.0/24", gateway or NULL. */
static struct kroute rt(uint32_t table, const char *dst, uint32_t metric, uint8_t type,
                        const char *via, int oif)
{
	struct kroute r;
	char buf[64];
	char *slash;

	memset(&r, 0, sizeof(r));
	snprintf(buf, sizeof(buf), "%s", dst);
	slash = strchr(buf, '/');
	assert_non_null(slash);
	*slash = '\0';
	set_addr(&r.dst.addr, buf);
	r.dst.len = (uint8_t)atoi(slash + 1);
	r.table = table;
	r.metric = metric;
	r.type = type;
	set_addr(&r.via, via);
	r.oif = oif;
	return r;
}

static struct kroute uni(const char *dst, const char *via, int oif)
{
	return rt(254, dst, 0, RTN_UNICAST, via, oif);
}

static void test_empty(void **state)
{
	struct kroute_op *ops = (void *)1;
	size_t n = 99;

	assert_int_equal(plan_routes(NULL, 0, NULL, 0, &ops, &n, NULL), 0);
	assert_int_equal(n, 0);
	assert_null(ops);
}

static void test_add(void **state)
{
	struct kroute d[2] = {uni("10.1.0.0/16", "192.168.150.3", 0), uni("10.2.0.0/16", NULL, 3)};
	bool ok[2] = {true, true};
	struct kroute_op *ops = NULL;
	size_t n = 0;

	assert_int_equal(plan_routes(d, 2, NULL, 0, &ops, &n, ok), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ops[0].kind, KOP_ADD);
	assert_int_equal(ops[0].tag, 0);
	assert_true(plan_kroute_equal(&ops[0].r, &d[0]));
	assert_int_equal(ops[1].kind, KOP_ADD);
	assert_int_equal(ops[1].tag, 1);
	assert_false(ok[0]);
	assert_false(ok[1]);
	free(ops);
}

static void test_delete(void **state)
{
	struct kroute o[2] = {uni("10.1.0.0/16", "192.168.150.3", 2), uni("10.2.0.0/16", NULL, 3)};
	struct kroute d[1] = {uni("10.2.0.0/16", NULL, 3)};
	bool ok[1] = {false};
	struct kroute_op *ops = NULL;
	size_t n = 0;

	assert_int_equal(plan_routes(d, 1, o, 2, &ops, &n, ok), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ops[0].kind, KOP_DELETE);
	assert_int_equal(ops[0].tag, 0);
	assert_true(plan_kroute_equal(&ops[0].r, &o[0]));
	assert_true(ok[0]);
	free(ops);

	/* Nothing desired: everything owned goes. */
	assert_int_equal(plan_routes(NULL, 0, o, 2, &ops, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ops[0].kind, KOP_DELETE);
	assert_int_equal(ops[1].kind, KOP_DELETE);
	assert_int_equal(ops[0].tag + ops[1].tag, 1);
	free(ops);
}

static void test_replace(void **state)
{
	struct kroute o[3] = {
	    uni("10.1.0.0/16", "192.168.150.3", 2),
	    uni("10.2.0.0/16", NULL, 3),
	    uni("10.3.0.0/16", NULL, 3),
	};
	struct kroute d[3] = {
	    uni("10.1.0.0/16", "192.168.150.4", 0),            /* other gateway */
	    uni("10.2.0.0/16", NULL, 4),                       /* other device */
	    rt(254, "10.3.0.0/16", 0, RTN_BLACKHOLE, NULL, 0), /* other type */
	};
	bool ok[3];
	struct kroute_op *ops = NULL;
	size_t n = 0;

	assert_int_equal(plan_routes(d, 3, o, 3, &ops, &n, ok), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(ops[i].kind, KOP_REPLACE);
		assert_int_equal(ops[i].tag, i);
		assert_true(plan_kroute_equal(&ops[i].r, &d[i]));
		assert_false(ok[i]);
	}
	free(ops);
}

static void test_noop_when_equal(void **state)
{
	struct kroute o[4] = {
	    uni("10.1.0.0/16", "192.168.150.3", 2), /* kernel chose device 2 */
	    uni("10.2.0.0/16", NULL, 3),
	    uni("0.0.0.0/0", "192.168.150.1", 2),
	    rt(254, "2001:db8::/64", 1024, RTN_UNREACHABLE, NULL, 0),
	};
	struct kroute d[4] = {
	    uni("0.0.0.0/0", "192.168.150.1", 2),
	    uni("10.1.0.0/16", "192.168.150.3", 0), /* gateway only */
	    uni("10.2.0.0/16", NULL, 3),
	    /* A reject route's next hop is meaningless. */
	    rt(254, "2001:db8::/64", 1024, RTN_UNREACHABLE, NULL, 1),
	};
	bool ok[4] = {false, false, false, false};
	struct kroute_op *ops = (void *)1;
	size_t n = 5;

	assert_int_equal(plan_routes(d, 4, o, 4, &ops, &n, ok), 0);
	assert_int_equal(n, 0);
	assert_null(ops);
	for (size_t i = 0; i < 4; i++)
		assert_true(ok[i]);

	/* A gateway with an explicit device must match that device. */
	d[1].oif = 7;
	assert_int_equal(plan_routes(d, 4, o, 4, &ops, &n, ok), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ops[0].kind, KOP_REPLACE);
	assert_int_equal(ops[0].tag, 1);
	assert_false(ok[1]);
	assert_true(ok[0]);
	free(ops);
}

static void test_families_mixed(void **state)
{
	struct kroute o[3] = {
	    uni("10.0.0.0/8", NULL, 2),
	    uni("2001:db8:1::/48", "fe80::1", 2),
	    rt(254, "2001:db8:2::/48", 1024, RTN_UNICAST, "2001:db8::1", 0),
	};
	struct kroute d[3] = {
	    rt(254, "2001:db8:2::/48", 1024, RTN_UNICAST, "2001:db8::1", 0),
	    uni("2001:db8:1::/48", "fe80::2", 2),
	    uni("10.0.0.0/8", "192.0.2.1", 0),
	};
	bool ok[3];
	struct kroute_op *ops = NULL;
	size_t n = 0;
	int replaces = 0;

	assert_int_equal(plan_routes(d, 3, o, 3, &ops, &n, ok), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(ops[i].kind, KOP_REPLACE);
		replaces |= 1 << ops[i].tag;
	}
	assert_int_equal(replaces, 6);
	assert_true(ok[0]);
	free(ops);

	/* 10.0.0.0/8 and an IPv6 prefix that starts with the same bytes differ. */
	struct kroute v4 = uni("10.0.0.0/8", NULL, 2);
	struct kroute v6 = uni("a00::/8", NULL, 2);

	assert_false(plan_kroute_same_key(&v4, &v6));
}

static void test_tables_and_metrics(void **state)
{
	struct kroute o[2] = {
	    rt(254, "192.168.100.0/24", 0, RTN_UNICAST, NULL, 2),
	    rt(10000, "192.168.100.0/24", 0, RTN_UNICAST, NULL, 2),
	};
	struct kroute d[4] = {
	    rt(10000, "192.168.100.0/24", 0, RTN_UNICAST, NULL, 2),
	    rt(254, "192.168.100.0/24", 100, RTN_UNICAST, NULL, 3),
	    rt(254, "192.168.100.0/24", 0, RTN_UNICAST, NULL, 2),
	    rt(10001, "192.168.100.0/24", 0, RTN_BLACKHOLE, NULL, 0),
	};
	bool ok[4];
	struct kroute_op *ops = NULL;
	size_t n = 0;

	assert_int_equal(plan_routes(d, 4, o, 2, &ops, &n, ok), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ops[0].kind, KOP_ADD);
	assert_int_equal(ops[0].tag, 1);
	assert_int_equal(ops[1].kind, KOP_ADD);
	assert_int_equal(ops[1].tag, 3);
	assert_true(ok[0]);
	assert_false(ok[1]);
	assert_true(ok[2]);
	assert_false(ok[3]);
	free(ops);
}

static void test_duplicate_observed(void **state)
{
	/* IPv6 can hold two routes with one key (different devices). */
	struct kroute o[3] = {
	    rt(254, "2001:db8::/64", 1024, RTN_UNICAST, NULL, 2),
	    rt(254, "2001:db8::/64", 1024, RTN_UNICAST, NULL, 3),
	    rt(254, "2001:db8:1::/64", 1024, RTN_UNICAST, NULL, 2),
	};
	struct kroute d[2] = {
	    rt(254, "2001:db8::/64", 1024, RTN_UNICAST, NULL, 3),
	    rt(254, "2001:db8:1::/64", 1024, RTN_UNICAST, NULL, 4),
	};
	bool ok[2];
	struct kroute_op *ops = NULL;
	size_t n = 0;

	assert_int_equal(plan_routes(d, 2, o, 3, &ops, &n, ok), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ops[0].kind, KOP_DELETE);
	assert_int_equal(ops[0].tag, 0);
	assert_int_equal(ops[1].kind, KOP_REPLACE);
	assert_int_equal(ops[1].tag, 1);
	assert_true(ok[0]);
	assert_false(ok[1]);
	free(ops);
}

#define BIG 100000

static void fill_big(struct kroute *v, size_t n, int oif)
{
	for (size_t i = 0; i < n; i++) {
		memset(&v[i], 0, sizeof(v[i]));
		v[i].table = 254 + (uint32_t)(i % 3);
		v[i].dst.addr.family = AF_INET;
		v[i].dst.addr.a[0] = 10;
		v[i].dst.addr.a[1] = (uint8_t)(i >> 16);
		v[i].dst.addr.a[2] = (uint8_t)(i >> 8);
		v[i].dst.addr.a[3] = (uint8_t)i;
		v[i].dst.len = 32;
		v[i].type = RTN_UNICAST;
		v[i].oif = oif;
	}
}

static void test_big(void **state)
{
	struct kroute *d = calloc(BIG, sizeof(*d));
	struct kroute *o = calloc(BIG, sizeof(*o));
	bool *ok = calloc(BIG, sizeof(*ok));
	struct kroute_op *ops = NULL;
	size_t n = 0, adds = 0, dels = 0, reps = 0, oks = 0;
	struct timespec t0, t1;

	assert_non_null(d);
	assert_non_null(o);
	assert_non_null(ok);
	fill_big(d, BIG, 2);
	fill_big(o, BIG, 2);
	/* Reverse the observed order so the sort has work to do. */
	for (size_t i = 0; i < BIG / 2; i++) {
		struct kroute t = o[i];

		o[i] = o[BIG - 1 - i];
		o[BIG - 1 - i] = t;
	}
	/* 1000 changed, 1000 gone from the kernel, 1000 extra in the kernel. */
	for (size_t i = 0; i < 1000; i++) {
		o[i].oif = 3;
		o[BIG - 1 - i].dst.addr.a[0] = 11;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(plan_routes(d, BIG, o, BIG, &ops, &n, ok), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (size_t i = 0; i < n; i++) {
		adds += ops[i].kind == KOP_ADD;
		dels += ops[i].kind == KOP_DELETE;
		reps += ops[i].kind == KOP_REPLACE;
	}
	for (size_t i = 0; i < BIG; i++)
		oks += ok[i];
	assert_int_equal(adds, 1000);
	assert_int_equal(dels, 1000);
	assert_int_equal(reps, 1000);
	assert_int_equal(oks, BIG - 2000);
	print_message("plan of %d vs %d routes: %.1f ms\n", BIG, BIG,
	              (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	                  (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	free(ops);
	free(d);
	free(o);
	free(ok);
}

/* An address from text "10.0.0.1/24" on link ifindex. */
static struct kaddr ad(int ifindex, const char *p)
{
	struct kaddr a;
	char buf[64];
	char *slash;

	memset(&a, 0, sizeof(a));
	snprintf(buf, sizeof(buf), "%s", p);
	slash = strchr(buf, '/');
	assert_non_null(slash);
	*slash = '\0';
	set_addr(&a.p.addr, buf);
	a.p.len = (uint8_t)atoi(slash + 1);
	a.ifindex = ifindex;
	return a;
}

/* A rule "from SRC lookup TABLE priority PRIO"; src NULL = from all. */
static struct krule ru(int family, const char *src, uint32_t table, uint32_t prio)
{
	struct krule r;

	memset(&r, 0, sizeof(r));
	r.family = family;
	if (src) {
		struct kaddr a = ad(0, src);

		r.src = a.p;
	} else {
		r.src.addr.family = family;
	}
	r.table = table;
	r.priority = prio;
	return r;
}

static void test_addrs_empty(void **state)
{
	struct kaddr_op *ops = (void *)1;
	size_t n = 9;

	assert_int_equal(plan_addrs(NULL, 0, NULL, 0, &ops, &n, NULL), 0);
	assert_int_equal(n, 0);
	assert_null(ops);
}

static void test_addrs_merge(void **state)
{
	struct kaddr o[3] = {
	    ad(2, "192.168.100.1/24"),
	    ad(3, "10.9.0.1/24"), /* no longer desired */
	    ad(2, "2001:db8:100::1/64"),
	};
	struct kaddr d[3] = {
	    ad(2, "2001:db8:100::1/64"),
	    ad(4, "192.168.150.1/24"), /* new */
	    ad(2, "192.168.100.1/24"),
	};
	bool ok[3] = {false, true, false};
	struct kaddr_op *ops = NULL;
	size_t n = 0;

	assert_int_equal(plan_addrs(d, 3, o, 3, &ops, &n, ok), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ops[0].kind, KOP_DELETE);
	assert_int_equal(ops[0].tag, 1);
	assert_true(plan_kaddr_same_key(&ops[0].a, &o[1]));
	assert_int_equal(ops[1].kind, KOP_ADD);
	assert_int_equal(ops[1].tag, 1);
	assert_true(plan_kaddr_same_key(&ops[1].a, &d[1]));
	assert_true(ok[0]);
	assert_false(ok[1]);
	assert_true(ok[2]);
	free(ops);

	/* Nothing desired: every owned address goes. */
	assert_int_equal(plan_addrs(NULL, 0, o, 3, &ops, &n, NULL), 0);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ops[i].kind, KOP_DELETE);
	free(ops);
}

static void test_addrs_key(void **state)
{
	struct kaddr a = ad(2, "10.0.0.1/24");
	struct kaddr b;

	b = ad(3, "10.0.0.1/24");
	assert_false(plan_kaddr_same_key(&a, &b)); /* other link */
	b = ad(2, "10.0.0.1/25");
	assert_false(plan_kaddr_same_key(&a, &b)); /* other prefix length */
	b = ad(2, "10.0.0.2/24");
	assert_false(plan_kaddr_same_key(&a, &b)); /* other address, same subnet */
	b = ad(2, "a00:1::/24");
	assert_false(plan_kaddr_same_key(&a, &b)); /* same leading bytes, other family */
	b = ad(2, "10.0.0.1/24");
	b.p.addr.a[8] = 0xff; /* bytes past an IPv4 address mean nothing */
	assert_true(plan_kaddr_same_key(&a, &b));
}

static void test_addrs_deletes_first(void **state)
{
	/* The router address changes prefix length: IPv6 wants the old one gone first. */
	struct kaddr o[2] = {ad(2, "2001:db8:1::1/64"), ad(2, "10.1.0.1/16")};
	struct kaddr d[2] = {ad(2, "2001:db8:1::1/48"), ad(2, "10.1.0.1/24")};
	struct kaddr_op *ops = NULL;
	size_t n = 0;

	assert_int_equal(plan_addrs(d, 2, o, 2, &ops, &n, NULL), 0);
	assert_int_equal(n, 4);
	assert_int_equal(ops[0].kind, KOP_DELETE);
	assert_int_equal(ops[1].kind, KOP_DELETE);
	assert_int_equal(ops[2].kind, KOP_ADD);
	assert_int_equal(ops[3].kind, KOP_ADD);
	assert_int_equal(ops[0].tag + ops[1].tag, 1);
	assert_int_equal(ops[2].tag + ops[3].tag, 1);
	free(ops);
}

static void test_addrs_duplicate_observed(void **state)
{
	struct kaddr o[3] = {ad(2, "10.0.0.1/24"), ad(2, "10.0.0.1/24"), ad(2, "10.0.0.9/24")};
	struct kaddr d[1] = {ad(2, "10.0.0.1/24")};
	bool ok[1] = {false};
	struct kaddr_op *ops = NULL;
	size_t n = 0;

	assert_int_equal(plan_addrs(d, 1, o, 3, &ops, &n, ok), 0);
	assert_true(ok[0]);
	assert_int_equal(n, 2);
	assert_int_equal(ops[0].kind, KOP_DELETE);
	assert_int_equal(ops[1].kind, KOP_DELETE);
	/* The first copy stays; the second copy and the stranger go. */
	assert_int_equal(ops[0].tag, 1);
	assert_int_equal(ops[1].tag, 2);
	free(ops);
}

static void test_rules_merge(void **state)
{
	struct krule o[3] = {
	    ru(AF_INET, "192.168.100.0/24", 10000, 20000),
	    ru(AF_INET, "192.168.150.0/24", 10000, 20001), /* moves to table 10001 */
	    ru(AF_INET6, "2001:db8:100::/64", 10000, 20002),
	};
	struct krule d[3] = {
	    ru(AF_INET6, "2001:db8:100::/64", 10000, 20002),
	    ru(AF_INET, "192.168.150.0/24", 10001, 20003),
	    ru(AF_INET, "192.168.100.0/24", 10000, 20000),
	};
	bool ok[3];
	struct krule_op *ops = NULL;
	size_t n = 0;

	assert_int_equal(plan_rules(d, 3, o, 3, &ops, &n, ok), 0);
	assert_int_equal(n, 2);
	/* The new rule is in place before the old one goes. */
	assert_int_equal(ops[0].kind, KOP_ADD);
	assert_int_equal(ops[0].tag, 1);
	assert_true(plan_krule_same_key(&ops[0].r, &d[1]));
	assert_int_equal(ops[1].kind, KOP_DELETE);
	assert_int_equal(ops[1].tag, 1);
	assert_true(plan_krule_same_key(&ops[1].r, &o[1]));
	assert_true(ok[0]);
	assert_false(ok[1]);
	assert_true(ok[2]);
	free(ops);
}

static void test_rules_key(void **state)
{
	struct krule a = ru(AF_INET, "10.0.0.0/24", 100, 20000);
	struct krule b;

	b = ru(AF_INET, "10.0.0.0/24", 101, 20000);
	assert_false(plan_krule_same_key(&a, &b)); /* table */
	b = ru(AF_INET, "10.0.0.0/24", 100, 20001);
	assert_false(plan_krule_same_key(&a, &b)); /* priority */
	b = ru(AF_INET, "10.0.0.0/25", 100, 20000);
	assert_false(plan_krule_same_key(&a, &b)); /* source length */
	b = ru(AF_INET, "10.0.1.0/24", 100, 20000);
	assert_false(plan_krule_same_key(&a, &b)); /* source */
	b = ru(AF_INET6, "a00::/24", 100, 20000);
	assert_false(plan_krule_same_key(&a, &b)); /* family */

	/* "from all": neither the source's family nor its bytes count. */
	a = ru(AF_INET6, NULL, 100, 20000);
	b = ru(AF_INET6, NULL, 100, 20000);
	b.src.addr.family = 0;
	b.src.addr.a[3] = 7;
	assert_true(plan_krule_same_key(&a, &b));
	b = ru(AF_INET, NULL, 100, 20000);
	assert_false(plan_krule_same_key(&a, &b));
}

static void test_rules_all_gone(void **state)
{
	struct krule o[2] = {ru(AF_INET, "10.0.0.0/24", 100, 20000),
	                     ru(AF_INET, "10.0.0.0/24", 100, 20000)};
	struct krule_op *ops = NULL;
	size_t n = 0;

	/* A rule can exist twice (made without NLM_F_EXCL): one delete per copy. */
	assert_int_equal(plan_rules(NULL, 0, o, 2, &ops, &n, NULL), 0);
	assert_int_equal(n, 2);
	assert_int_equal(ops[0].kind, KOP_DELETE);
	assert_int_equal(ops[1].kind, KOP_DELETE);
	assert_int_equal(ops[0].tag, 0);
	assert_int_equal(ops[1].tag, 1);
	free(ops);
}

static void test_rules_action_key(void **state)
{
	struct krule a = ru(AF_INET, "10.0.0.0/24", 0, 20001);
	struct krule b = a;
	struct krule o[1], d[2];
	struct krule_op *ops = NULL;
	size_t n = 0;

	a.action = KRULE_UNREACHABLE;
	assert_false(plan_krule_same_key(&a, &b)); /* action */
	b.action = KRULE_UNREACHABLE;
	assert_true(plan_krule_same_key(&a, &b));

	/* A lookup rule in place, its unreachable twin added beside it. */
	o[0] = ru(AF_INET, "10.0.0.0/24", 100, 20000);
	d[0] = o[0];
	d[1] = a;
	assert_int_equal(plan_rules(d, 2, o, 1, &ops, &n, NULL), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ops[0].kind, KOP_ADD);
	assert_int_equal(ops[0].r.action, KRULE_UNREACHABLE);
	assert_int_equal(ops[0].tag, 1);
	free(ops);
}

/* A link for plan_connected: ifindex, up, addresses ("10.0.0.1/24", ...; NULL-terminated). */
static struct klink lk(int ifindex, bool up, struct prefix *buf, const char *const *addrs)
{
	struct klink l;

	memset(&l, 0, sizeof(l));
	l.ifindex = ifindex;
	l.up = up;
	l.addrs = buf;
	for (; *addrs; addrs++)
		buf[l.naddrs++] = ad(ifindex, *addrs).p;
	return l;
}

static bool has_conn(const struct kaddr *v, size_t n, int ifindex, const char *p)
{
	struct kaddr want = ad(ifindex, p);

	for (size_t i = 0; i < n; i++)
		if (plan_kaddr_same_key(&v[i], &want))
			return true;
	return false;
}

static void test_connected(void **state)
{
	static const char *const lo[] = {"127.0.0.1/8", "::1/128", NULL};
	static const char *const eth0[] = {"192.168.150.3/24", "192.168.150.1/24", "10.9.9.9/32",
	                                   "fd00:150::3/64",   "fe80::1/64",       NULL};
	static const char *const eth1[] = {"10.255.0.1/30", "192.168.150.7/24", NULL};
	static const char *const down[] = {"10.77.0.1/24", NULL};
	struct prefix b0[4], b1[8], b2[4], b3[4];
	struct klink links[4];
	struct kaddr *v = NULL;
	size_t n = 0;
	struct kaddr_op pend[3];

	links[0] = lk(1, true, b0, lo);
	links[1] = lk(3, true, b2, eth1);
	links[2] = lk(2, true, b1, eth0);
	links[3] = lk(4, false, b3, down);
	assert_int_equal(plan_connected(links, 4, NULL, 0, &v, &n), 0);
	/* Loopback, link-local, a /32 and the down link's network are no connected networks. */
	assert_int_equal(n, 3);
	/* 192.168.150.0/24 is on eth0 (2) and eth1 (3): kept once, on the lower ifindex. */
	assert_true(has_conn(v, n, 2, "192.168.150.0/24"));
	assert_true(has_conn(v, n, 3, "10.255.0.0/30"));
	assert_true(has_conn(v, n, 2, "fd00:150::/64"));
	free(v);

	/* A dry run: an address going, one coming (on an up link and on the down one). */
	pend[0] = (struct kaddr_op){.kind = KOP_DELETE, .a = ad(3, "10.255.0.1/30")};
	pend[1] = (struct kaddr_op){.kind = KOP_ADD, .a = ad(2, "172.16.5.1/24")};
	pend[2] = (struct kaddr_op){.kind = KOP_ADD, .a = ad(4, "172.16.6.1/24")};
	assert_int_equal(plan_connected(links, 4, pend, 3, &v, &n), 0);
	assert_int_equal(n, 3);
	assert_false(has_conn(v, n, 3, "10.255.0.0/30"));
	assert_true(has_conn(v, n, 2, "172.16.5.0/24"));
	free(v);

	assert_int_equal(plan_connected(NULL, 0, NULL, 0, &v, &n), 0);
	assert_int_equal(n, 0);
	assert_null(v);
}

static struct subnet sub(const char *cidr, const char *table_id, uint32_t table)
{
	struct subnet s;

	memset(&s, 0, sizeof(s));
	s.cidr = ad(0, cidr).p;
	snprintf(s.table_id, sizeof(s.table_id), "%s", table_id);
	s.table = table;
	return s;
}

static void test_assoc(void **state)
{
	struct subnet subs[5] = {
	    sub("192.168.150.0/24", "rtb-a", 500),
	    sub("fd00:150::/64", "rtb-a", 500),
	    sub("10.255.0.0/30", RTB_MAIN_ID, 254),
	    sub("172.16.5.0/24", "rtb-b", 600), /* its address is not in place */
	    sub("172.16.6.0/24", "rtb-a", 500),
	};
	bool ready[5] = {true, true, true, false, true};
	struct kaddr conn[4] = {ad(2, "192.168.150.0/24"), ad(3, "10.255.0.0/30"),
	                        ad(2, "fd00:150::/64"), ad(3, "fd00:255::/64")};
	struct plan_assoc a;
	struct kroute want;

	assert_int_equal(plan_assoc(subs, 5, ready, conn, 4, &a), 0);
	/* Three ready associated subnets: a lookup rule and an unreachable rule each. */
	assert_int_equal(a.nrules, 6);
	for (size_t i = 0; i < a.nrules; i += 2) {
		const struct subnet *sn = &subs[a.rule_subnet[i]];

		assert_int_equal(a.rule_subnet[i + 1], a.rule_subnet[i]);
		assert_true(a.rule_subnet[i] != 2 && a.rule_subnet[i] != 3);
		assert_int_equal(a.rules[i].action, KRULE_LOOKUP);
		assert_int_equal(a.rules[i].table, 500);
		assert_int_equal(a.rules[i].priority, PLAN_PRIO_LOOKUP);
		assert_true(cidr_prefix_equal(&a.rules[i].src, &sn->cidr));
		assert_int_equal(a.rules[i].family, sn->cidr.addr.family);
		assert_int_equal(a.rules[i + 1].action, KRULE_UNREACHABLE);
		assert_int_equal(a.rules[i + 1].table, 0);
		assert_int_equal(a.rules[i + 1].priority, PLAN_PRIO_MISS);
		assert_true(cidr_prefix_equal(&a.rules[i + 1].src, &sn->cidr));
	}
	assert_int_equal(PLAN_PRIO_MISS, PLAN_PRIO_LOOKUP + 1);
	/* Table 500 gets every connected network of both families; 600 (not ready) none. */
	assert_int_equal(a.nroutes, 4);
	for (size_t i = 0; i < a.nroutes; i++) {
		assert_int_equal(a.routes[i].table, 500);
		assert_int_equal(a.routes[i].type, RTN_UNICAST);
		assert_int_equal(a.routes[i].metric, PLAN_CONNECTED_METRIC);
		assert_int_equal(a.routes[i].via.family, 0);
		if (i)
			assert_false(plan_kroute_same_key(&a.routes[i - 1], &a.routes[i]));
	}
	want = rt(500, "fd00:255::/64", PLAN_CONNECTED_METRIC, RTN_UNICAST, NULL, 3);
	{
		bool found = false;

		for (size_t i = 0; i < a.nroutes; i++)
			found |= plan_kroute_equal(&a.routes[i], &want);
		assert_true(found);
	}

	/* A user route on a copy's key takes it; one at another metric does not. */
	{
		struct kroute user[3] = {
		    rt(500, "192.168.150.0/24", PLAN_CONNECTED_METRIC, RTN_BLACKHOLE, NULL, 0),
		    rt(500, "10.255.0.0/30", 7, RTN_BLACKHOLE, NULL, 0),
		    rt(254, "fd00:150::/64", PLAN_CONNECTED_METRIC, RTN_UNICAST, NULL, 2),
		};

		plan_assoc_shadow(&a, user, 3);
		assert_int_equal(a.nroutes, 3);
		for (size_t i = 0; i < a.nroutes; i++)
			assert_false(plan_kroute_same_key(&a.routes[i], &user[0]));
	}
	plan_assoc_free(&a);
	plan_assoc_free(NULL);

	/* IPv4 only: no IPv6 copies; nothing ready: nothing at all. */
	ready[1] = false;
	assert_int_equal(plan_assoc(subs, 5, ready, conn, 4, &a), 0);
	assert_int_equal(a.nrules, 4);
	assert_int_equal(a.nroutes, 2);
	for (size_t i = 0; i < a.nroutes; i++)
		assert_int_equal(a.routes[i].dst.addr.family, AF_INET);
	plan_assoc_free(&a);
	memset(ready, 0, sizeof(ready));
	assert_int_equal(plan_assoc(subs, 5, ready, conn, 4, &a), 0);
	assert_int_equal(a.nrules + a.nroutes, 0);
	plan_assoc_free(&a);
}

static void test_addrs_big(void **state)
{
	struct kaddr *d = calloc(BIG, sizeof(*d));
	struct kaddr *o = calloc(BIG, sizeof(*o));
	bool *ok = calloc(BIG, sizeof(*ok));
	struct kaddr_op *ops = NULL;
	size_t n = 0, adds = 0, dels = 0, oks = 0;

	assert_non_null(d);
	assert_non_null(o);
	assert_non_null(ok);
	for (size_t i = 0; i < BIG; i++) {
		d[i].ifindex = 2 + (int)(i % 7);
		d[i].p.addr.family = AF_INET;
		d[i].p.addr.a[0] = 10;
		d[i].p.addr.a[1] = (uint8_t)(i >> 16);
		d[i].p.addr.a[2] = (uint8_t)(i >> 8);
		d[i].p.addr.a[3] = (uint8_t)i;
		d[i].p.len = 24;
		o[BIG - 1 - i] = d[i];
	}
	for (size_t i = 0; i < 500; i++)
		o[i].p.len = 25; /* 500 differ: deleted, and re-added */
	assert_int_equal(plan_addrs(d, BIG, o, BIG, &ops, &n, ok), 0);
	for (size_t i = 0; i < n; i++) {
		adds += ops[i].kind == KOP_ADD;
		dels += ops[i].kind == KOP_DELETE;
		if (i > 0 && ops[i - 1].kind == KOP_ADD)
			assert_int_equal(ops[i].kind, KOP_ADD);
	}
	for (size_t i = 0; i < BIG; i++)
		oks += ok[i];
	assert_int_equal(adds, 500);
	assert_int_equal(dels, 500);
	assert_int_equal(oks, BIG - 500);
	free(ops);
	free(d);
	free(o);
	free(ok);
}

/* ---- translation: desired objects -> kernel objects ---- */

/* A link lookup for the translation: eth0 is 2, eth1 is 3, nothing else exists. */
static int fake_index(void *ctx, const char *name)
{
	return !strcmp(name, "eth0") ? 2 : !strcmp(name, "eth1") ? 3 : 0;
}

static const struct plan_links links = {.index = fake_index};

static struct route desired_route(const char *dst, enum route_type type, const char *via,
                                  const char *dev, uint32_t metric, uint32_t table)
{
	struct route r = {.type = type, .metric = metric, .table = table};
	struct vr_err e = {0};

	snprintf(r.table_id, sizeof(r.table_id), "%s", RTB_MAIN_ID);
	snprintf(r.destination, sizeof(r.destination), "%s", dst);
	snprintf(r.via_text, sizeof(r.via_text), "%s", via ? via : "");
	snprintf(r.dev, sizeof(r.dev), "%s", dev ? dev : "");
	assert_int_equal(model_route_validate(&r, &e), 0);
	return r;
}

static void test_kroute_of(void **state)
{
	struct route r =
	    desired_route("2001:db8::/32", ROUTE_UNICAST, "2001:db8::1", "eth1", 0, 100);
	struct kroute k, want = rt(100, "2001:db8::/32", 1024, RTN_UNICAST, "2001:db8::1", 3);
	char why[64] = "";

	/* IPv6 metric 0 is what the kernel stores and reports: 1024. */
	assert_int_equal(plan_kroute_of(&r, &links, &k, why, sizeof(why)), 0);
	assert_true(plan_kroute_equal(&k, &want));
	assert_int_equal(plan_route_metric_of(&k), 0);
	/* IPv4 keeps 0; an IPv6 metric that is not 0 stays as written. */
	r = desired_route("10.0.0.0/8", ROUTE_UNICAST, NULL, "eth0", 0, 254);
	assert_int_equal(plan_kroute_of(&r, &links, &k, why, sizeof(why)), 0);
	want = rt(254, "10.0.0.0/8", 0, RTN_UNICAST, NULL, 2);
	assert_true(plan_kroute_equal(&k, &want));
	k.metric = 1024; /* only IPv6 has the rule */
	assert_int_equal(plan_route_metric_of(&k), 1024);
	r = desired_route("2001:db8::/32", ROUTE_UNICAST, NULL, "eth0", 7, 254);
	assert_int_equal(plan_kroute_of(&r, &links, &k, why, sizeof(why)), 0);
	assert_int_equal(k.metric, 7);
	/* A missing device: -ENODEV with the reason, the rest of the route still there. */
	r = desired_route("10.0.0.0/8", ROUTE_UNICAST, NULL, "eth9", 5, 200);
	assert_int_equal(plan_kroute_of(&r, &links, &k, why, sizeof(why)), -ENODEV);
	assert_string_equal(why, "device eth9 does not exist");
	assert_int_equal(k.table, 200);
	assert_int_equal(k.metric, 5);
	assert_int_equal(k.oif, 0);
}

static void test_route_types(void **state)
{
	static const struct {
		enum route_type t;
		uint8_t rtn;
	} pairs[] = {{ROUTE_UNICAST, RTN_UNICAST},
	             {ROUTE_BLACKHOLE, RTN_BLACKHOLE},
	             {ROUTE_UNREACHABLE, RTN_UNREACHABLE},
	             {ROUTE_PROHIBIT, RTN_PROHIBIT}};

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		bool uni = pairs[i].t == ROUTE_UNICAST; /* a unicast route names a device */
		struct route r =
		    desired_route("10.0.0.0/8", pairs[i].t, NULL, uni ? "eth0" : NULL, 0, 254);
		enum route_type back = ROUTE_UNICAST;
		struct kroute k;
		char why[64];

		assert_int_equal(plan_kroute_of(&r, &links, &k, why, sizeof(why)), 0);
		assert_int_equal(k.type, pairs[i].rtn);
		assert_int_equal(k.oif, uni ? 2 : 0);
		assert_int_equal(plan_route_type_of(pairs[i].rtn, &back), 0);
		assert_int_equal(back, pairs[i].t);
	}
	{
		enum route_type back = ROUTE_BLACKHOLE;

		assert_int_equal(plan_route_type_of(RTN_LOCAL, &back), -EINVAL);
	}
}

static void fail_note(void *arg, size_t i, const char *why)
{
	char *buf = arg;

	snprintf(buf + strlen(buf), 128 - strlen(buf), "%zu:%s;", i, why);
}

static void test_kaddrs_of(void **state)
{
	struct subnet sn[3] = {0};
	const char *cidr[] = {"192.168.100.0/24", "10.9.0.0/16", "2001:db8::/64"};
	const char *rip[] = {"192.168.100.3", "10.9.0.1", "2001:db8::1"};
	const char *ifname[] = {"eth0", "eth9", "eth1"};
	struct kaddr out[3];
	size_t of[3], n;
	char failed[128] = "", p[64];

	for (size_t i = 0; i < 3; i++) {
		struct vr_err e = {0};

		snprintf(sn[i].name, sizeof(sn[i].name), "s%zu", i);
		snprintf(sn[i].cidr_text, sizeof(sn[i].cidr_text), "%s", cidr[i]);
		snprintf(sn[i].router_ip_text, sizeof(sn[i].router_ip_text), "%s", rip[i]);
		snprintf(sn[i].interface, sizeof(sn[i].interface), "%s", ifname[i]);
		snprintf(sn[i].table_id, sizeof(sn[i].table_id), "%s", RTB_MAIN_ID);
		assert_int_equal(model_subnet_validate(&sn[i], &e), 0);
	}
	/* The router address with the subnet's length, on its interface; eth9 is missing. */
	n = plan_kaddrs_of(sn, 3, &links, out, of, fail_note, failed);
	assert_int_equal(n, 2);
	assert_int_equal(of[0], 0);
	assert_int_equal(of[1], 2);
	assert_int_equal(out[0].ifindex, 2);
	cidr_format_prefix(&out[0].p, p, sizeof(p));
	assert_string_equal(p, "192.168.100.3/24");
	assert_int_equal(out[1].ifindex, 3);
	cidr_format_prefix(&out[1].p, p, sizeof(p));
	assert_string_equal(p, "2001:db8::1/64");
	assert_string_equal(failed, "1:interface eth9 does not exist;");
	for (size_t i = 0; i < 3; i++)
		model_subnet_clear(&sn[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_add),
	    cmocka_unit_test(test_delete),
	    cmocka_unit_test(test_replace),
	    cmocka_unit_test(test_noop_when_equal),
	    cmocka_unit_test(test_families_mixed),
	    cmocka_unit_test(test_tables_and_metrics),
	    cmocka_unit_test(test_duplicate_observed),
	    cmocka_unit_test(test_big),
	    cmocka_unit_test(test_addrs_empty),
	    cmocka_unit_test(test_addrs_merge),
	    cmocka_unit_test(test_addrs_key),
	    cmocka_unit_test(test_addrs_deletes_first),
	    cmocka_unit_test(test_addrs_duplicate_observed),
	    cmocka_unit_test(test_addrs_big),
	    cmocka_unit_test(test_rules_merge),
	    cmocka_unit_test(test_rules_key),
	    cmocka_unit_test(test_rules_all_gone),
	    cmocka_unit_test(test_rules_action_key),
	    cmocka_unit_test(test_connected),
	    cmocka_unit_test(test_assoc),
	    cmocka_unit_test(test_kroute_of),
	    cmocka_unit_test(test_route_types),
	    cmocka_unit_test(test_kaddrs_of),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
