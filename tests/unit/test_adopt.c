/*
 * core/adopt.c against a fake kernel that holds owned objects: the decision,
 * the words of a refusal, an import that changes nothing in the kernel, and
 * the imports that must be refused (leaving the database empty).
 */
#include <errno.h>
#include <limits.h>
#include <linux/rtnetlink.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "adopt.h"
#include "cidr.h"
#include "model.h"
#include "store.h"
#include "tmpdir.h"

#define FAKE_MAX 16
#define IF_ETH0 2
#define IF_ETH1 3

/* The owned objects of the fake namespace (links eth0 and eth1). */
static struct {
	struct kroute r[FAKE_MAX];
	size_t nr;
	struct krule rl[FAKE_MAX];
	size_t nrl;
	struct kaddr a[FAKE_MAX];
	size_t na;
	bool table;
	bool eth1_up; /* eth1 up, holding the owned address (its network is connected) */
} fk;

static void *copy(const void *v, size_t n, size_t size)
{
	void *out = malloc(n * size + 1);

	assert_non_null(out);
	memcpy(out, v, n * size);
	return out;
}

static int f_route_dump(void *ctx, struct kroute **out, size_t *n)
{
	*out = copy(fk.r, fk.nr, sizeof(*fk.r));
	*n = fk.nr;
	return 0;
}

static int f_rule_dump(void *ctx, struct krule **out, size_t *n)
{
	*out = copy(fk.rl, fk.nrl, sizeof(*fk.rl));
	*n = fk.nrl;
	return 0;
}

static int f_addr_dump(void *ctx, struct kaddr **out, size_t *n)
{
	*out = copy(fk.a, fk.na, sizeof(*fk.a));
	*n = fk.na;
	return 0;
}

static int f_link_index(void *ctx, const char *name)
{
	return !strcmp(name, "eth0") ? IF_ETH0 : !strcmp(name, "eth1") ? IF_ETH1 : 0;
}

static int f_links_list(void *ctx, struct klink **out, size_t *n)
{
	struct klink *v = calloc(2, sizeof(*v));

	assert_non_null(v);
	v[0].ifindex = IF_ETH0;
	snprintf(v[0].name, sizeof(v[0].name), "eth0");
	v[1].ifindex = IF_ETH1;
	snprintf(v[1].name, sizeof(v[1].name), "eth1");
	if (fk.eth1_up) {
		v[1].up = v[1].lower_up = true;
		v[1].addrs = malloc(sizeof(*v[1].addrs));
		assert_non_null(v[1].addrs);
		v[1].addrs[0] = fk.a[0].p;
		v[1].naddrs = 1;
	}
	*out = v;
	*n = 2;
	return 0;
}

static int f_fwd_get(void *ctx, bool *v4, bool *v6)
{
	*v4 = *v6 = false;
	return 0;
}

/* As nft_table_check against the empty state: 1 when the table exists. */
static int f_nft_check(void *nft, const struct sgc *c, char *why, size_t len)
{
	return fk.table ? 1 : 0;
}

static const struct kernel_ops fake = {
    .route_dump = f_route_dump,
    .rule_dump = f_rule_dump,
    .addr_dump = f_addr_dump,
    .link_index = f_link_index,
    .links_list = f_links_list,
    .forwarding_get = f_fwd_get,
    .nft_check = f_nft_check,
};

static struct kroute route(const char *dst, const char *via, int oif, uint32_t table, uint8_t type,
                           uint32_t metric)
{
	struct kroute r = {.table = table, .type = type, .oif = oif, .metric = metric};

	assert_int_equal(cidr_parse_prefix(dst, false, &r.dst), 0);
	if (via)
		assert_int_equal(cidr_parse_addr(via, &r.via), 0);
	return r;
}

/* The seed state: three routes, a router address on eth1 and its association with 10007. */
static void seed(void)
{
	memset(&fk, 0, sizeof(fk));
	fk.r[fk.nr++] = route("10.20.0.0/16", "192.168.150.2", IF_ETH0, 254, RTN_UNICAST, 0);
	fk.r[fk.nr++] = route("10.30.0.0/16", NULL, 0, 10007, RTN_BLACKHOLE, 0);
	fk.r[fk.nr++] = route("fd00:20::/64", "fd00:150::2", IF_ETH0, 254, RTN_UNICAST, 1024);
	fk.a[0].ifindex = IF_ETH1;
	/* An address with its prefix length: host bits set (-EDOM), as the kernel holds it. */
	assert_int_equal(cidr_parse_prefix("192.168.160.1/24", false, &fk.a[0].p), -EDOM);
	fk.na = 1;
	fk.rl[0].family = AF_INET;
	assert_int_equal(cidr_parse_prefix("192.168.160.0/24", false, &fk.rl[0].src), 0);
	fk.rl[0].table = 10007;
	fk.rl[0].priority = VR_RULE_PRIO_FIRST;
	/* An association refuses what its table does not route (plan.h). */
	fk.rl[1] = fk.rl[0];
	fk.rl[1].action = KRULE_UNREACHABLE;
	fk.rl[1].table = 0;
	fk.rl[1].priority = VR_RULE_PRIO_FIRST + 1;
	fk.nrl = 2;
}

struct fx {
	char dir[PATH_MAX];
	char path[PATH_MAX];
	struct store *s;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct vr_err e = {0};

	assert_non_null(f);
	tmpdir_make(f->dir, sizeof(f->dir), "adopt");
	snprintf(f->path, sizeof(f->path), "%s/vrouter.db", f->dir);
	assert_int_equal(store_open(f->path, &f->s, &e), 0);
	seed();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	store_close(f->s);
	tmpdir_remove(f->dir);
	free(f);
	return 0;
}

static bool db_empty(struct store *s)
{
	struct vr_err e = {0};
	bool empty = false;

	assert_int_equal(store_desired_empty(s, &empty, &e), 0);
	return empty;
}

static void decide(void **state)
{
	/* Something at stake only when the database is empty and the kernel holds owned objects. */
	for (int m = ADOPT_REFUSE; m <= ADOPT_IMPORT; m++) {
		assert_int_equal(adopt_decide(false, true, m), ADOPT_START);
		assert_int_equal(adopt_decide(true, false, m), ADOPT_START);
		assert_int_equal(adopt_decide(false, false, m), ADOPT_START);
	}
	assert_int_equal(adopt_decide(true, true, ADOPT_REFUSE), ADOPT_REFUSE_START);
	assert_int_equal(adopt_decide(true, true, ADOPT_TAKE_OVER), ADOPT_REMOVE_START);
	assert_int_equal(adopt_decide(true, true, ADOPT_IMPORT), ADOPT_IMPORT_START);
}

static void survey_and_words(void **state)
{
	struct adopt_found f;
	char why[256], text[2048];

	fk.table = true;
	fk.r[fk.nr++] = route("10.40.0.0/16", "192.168.150.2", IF_ETH0, 254, RTN_UNICAST, 5);
	fk.r[fk.nr++] = route("10.50.0.0/16", NULL, 0, 254, RTN_PROHIBIT, 0);
	assert_int_equal(adopt_survey(&fake, &f, why, sizeof(why)), 0);
	assert_true(adopt_found_any(&f));
	assert_int_equal(f.nroutes, 5);
	assert_int_equal(f.nrules, 2);
	assert_int_equal(f.naddrs, 1);
	assert_true(f.nft_table);
	adopt_describe(&f, text, sizeof(text));
	/* One line per kind, the count, the first three, how many more. */
	assert_non_null(strstr(text, "5 routes: 10.20.0.0/16 via 192.168.150.2 dev "));
	assert_non_null(strstr(text, "; blackhole 10.30.0.0/16 table 10007 metric 0; "));
	assert_non_null(strstr(text, "; and 2 more\n2 policy rules: ipv4 from 192.168.160.0/24 "
	                             "lookup 10007 priority 20000; ipv4 from 192.168.160.0/24 "
	                             "unreachable priority 20001\n1 address: 192.168.160.1/24 "));
	assert_non_null(strstr(text, "\ntable inet vrouter"));
	assert_null(strstr(text, "10.50.0.0/16")); /* the fifth is only counted */
	adopt_found_clear(&f);

	memset(&fk, 0, sizeof(fk));
	assert_int_equal(adopt_survey(&fake, &f, why, sizeof(why)), 0);
	assert_false(adopt_found_any(&f));
	adopt_describe(&f, text, sizeof(text));
	assert_string_equal(text, "");
	adopt_found_clear(&f);
}

static void import_keeps_the_kernel(void **state)
{
	struct fx *fx = *state;
	struct adopt_found f;
	struct adopt_counts n;
	struct route *rv = NULL;
	struct subnet *sv = NULL;
	struct route_table *tv = NULL;
	struct route_table keep = {0};
	struct vr_err e = {0};
	size_t nr = 0, ns = 0, nt = 0;
	bool more;
	char why[ADOPT_WHY_MAX], t10007[ID_MAX] = "";

	/* A table the database already has stays, beside the one the import adds. */
	snprintf(keep.name, sizeof(keep.name), "keep");
	keep.table = 10009;
	assert_int_equal(model_rtb_validate(&keep, &e), 0);
	assert_int_equal(store_obj_create(fx->s, STORE_RTB, &keep, &e), STORE_CREATED);
	assert_true(db_empty(fx->s));

	assert_int_equal(adopt_survey(&fake, &f, why, sizeof(why)), 0);
	assert_int_equal(adopt_import(fx->s, &fake, &f, &n, why, sizeof(why)), 0);
	adopt_found_clear(&f);
	assert_int_equal(n.routes, 3);
	assert_int_equal(n.subnets, 1);
	assert_int_equal(n.tables, 1);
	assert_false(db_empty(fx->s));

	assert_int_equal(
	    store_obj_list(fx->s, STORE_RTB, NULL, NULL, 100, (void **)&tv, &nt, &more, &e), 0);
	assert_int_equal(nt, 3); /* main, keep, table-10007 */
	for (size_t i = 0; i < nt; i++) {
		if (tv[i].table == 10007) {
			assert_string_equal(tv[i].name, "table-10007");
			snprintf(t10007, sizeof(t10007), "%s", tv[i].id);
		}
		if (tv[i].table == 10009)
			assert_string_equal(tv[i].id, keep.id);
	}
	assert_true(t10007[0]);
	model_rtbs_free(tv, nt);

	assert_int_equal(
	    store_obj_list(fx->s, STORE_ROUTE, NULL, NULL, 100, (void **)&rv, &nr, &more, &e), 0);
	assert_int_equal(nr, 3);
	for (size_t i = 0; i < nr; i++) {
		if (!strcmp(rv[i].destination, "10.20.0.0/16")) {
			assert_string_equal(rv[i].table_id, RTB_MAIN_ID);
			assert_string_equal(rv[i].via_text, "192.168.150.2");
			assert_string_equal(rv[i].dev, "eth0");
			assert_int_equal(rv[i].type, ROUTE_UNICAST);
		} else if (!strcmp(rv[i].destination, "10.30.0.0/16")) {
			assert_string_equal(rv[i].table_id, t10007);
			assert_int_equal(rv[i].type, ROUTE_BLACKHOLE);
			assert_string_equal(rv[i].via_text, "");
			assert_string_equal(rv[i].dev, "");
		} else {
			assert_string_equal(rv[i].destination, "fd00:20::/64");
			assert_int_equal(rv[i].metric, 0); /* the kernel's 1024 */
		}
		assert_string_equal(rv[i].description, "imported from the kernel at start");
	}
	model_routes_free(rv, nr);

	assert_int_equal(
	    store_obj_list(fx->s, STORE_SUBNET, NULL, NULL, 100, (void **)&sv, &ns, &more, &e), 0);
	assert_int_equal(ns, 1);
	assert_string_equal(sv[0].cidr_text, "192.168.160.0/24");
	assert_string_equal(sv[0].router_ip_text, "192.168.160.1");
	assert_string_equal(sv[0].interface, "eth1");
	assert_string_equal(sv[0].table_id, t10007);
	model_subnets_free(sv, ns);
	model_rtb_clear(&keep);
}

/*
 * With eth1 up, the association's table holds a copy of its connected network
 * (plan.h): it belongs to the subnet, is not imported as a route, and the
 * import still changes nothing.
 */
static void import_leaves_copies_to_the_subnet(void **state)
{
	struct fx *fx = *state;
	struct adopt_found f;
	struct adopt_counts n;
	char why[ADOPT_WHY_MAX];

	fk.eth1_up = true;
	fk.r[fk.nr++] = route("192.168.160.0/24", NULL, IF_ETH1, 10007, RTN_UNICAST, UINT32_MAX);
	assert_int_equal(adopt_survey(&fake, &f, why, sizeof(why)), 0);
	assert_int_equal(f.nroutes, 4);
	if (adopt_import(fx->s, &fake, &f, &n, why, sizeof(why)))
		fail_msg("import refused: %s", why);
	adopt_found_clear(&f);
	assert_int_equal(n.routes, 3);
	assert_int_equal(n.subnets, 1);
	assert_false(db_empty(fx->s));
}

/* Each refused import names the object and leaves the database as empty as it was. */
static void refused(struct store *s, const char *words)
{
	struct adopt_found f;
	struct adopt_counts n;
	char why[ADOPT_WHY_MAX];

	assert_int_equal(adopt_survey(&fake, &f, why, sizeof(why)), 0);
	assert_int_equal(adopt_import(s, &fake, &f, &n, why, sizeof(why)), -EINVAL);
	adopt_found_clear(&f);
	if (!strstr(why, words))
		fail_msg("expected \"%s\" in \"%s\"", words, why);
	assert_true(db_empty(s));
}

static void import_refusals(void **state)
{
	struct fx *fx = *state;

	fk.table = true;
	refused(fx->s, "table inet vrouter cannot be imported");
	seed();
	fk.r[0].oif = -1;
	refused(fx->s, "route 10.20.0.0/16 via 192.168.150.2 dev (multipath) table 254 metric 0 "
	               "has several next hops");
	seed();
	/* from 192.168.170.0/24: no owned address there */
	assert_int_equal(cidr_parse_prefix("192.168.170.0/24", false, &fk.rl[0].src), 0);
	refused(fx->s, "policy rule ipv4 from 192.168.170.0/24 lookup 10007 priority 20000 is for "
	               "no address vrouter owns");
	seed();
	fk.rl[0].priority = VR_RULE_PRIO_FIRST + 5; /* vrouter would move it to its own priority */
	refused(fx->s, "the imported state would still change the kernel");
	seed();
	fk.eth1_up = true; /* eth1's network is connected, but the table lacks its copy */
	refused(fx->s, "the imported state would still change the kernel: add route "
	               "192.168.160.0/24");
	seed();
	fk.r[1].table = 255; /* the local table is the kernel's */
	refused(fx->s, "kernel table 255");
	seed();
	fk.r[0].oif = 9; /* a link that is gone */
	refused(fx->s, "no link has index 9");
}

static void at_start(void **state)
{
	struct fx *fx = *state;
	char why[ADOPT_WHY_MAX];

	/* Refused: nothing written. */
	assert_int_equal(adopt_at_start(fx->s, &fake, fx->path, ADOPT_REFUSE, why, sizeof(why)), 1);
	assert_true(db_empty(fx->s));
	/* Take-over: goes on with the database as it is (the first pass removes them). */
	assert_int_equal(adopt_at_start(fx->s, &fake, fx->path, ADOPT_TAKE_OVER, why, sizeof(why)),
	                 0);
	assert_true(db_empty(fx->s));
	/* Import refused while the table exists: refused start, nothing written. */
	fk.table = true;
	assert_int_equal(adopt_at_start(fx->s, &fake, fx->path, ADOPT_IMPORT, why, sizeof(why)), 1);
	assert_true(db_empty(fx->s));
	fk.table = false;
	assert_int_equal(adopt_at_start(fx->s, &fake, fx->path, ADOPT_IMPORT, why, sizeof(why)), 0);
	assert_false(db_empty(fx->s));
	/* With desired state, nothing is at stake whatever the kernel holds. */
	fk.r[fk.nr++] = route("10.60.0.0/16", NULL, 0, 254, RTN_BLACKHOLE, 0);
	assert_int_equal(adopt_at_start(fx->s, &fake, fx->path, ADOPT_REFUSE, why, sizeof(why)), 0);
	/* An empty kernel: nothing at stake either. */
	memset(&fk, 0, sizeof(fk));
	assert_int_equal(adopt_at_start(fx->s, &fake, fx->path, ADOPT_REFUSE, why, sizeof(why)), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(decide), T(survey_and_words), T(import_keeps_the_kernel),
	    T(import_refusals),       T(at_start),         T(import_leaves_copies_to_the_subnet),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
