/*
 * The dry-run plan (preview_kernel, behind PUT /v1/config?dry_run=true) and
 * the reconciler turn a desired state into the same kernel operations: one
 * desired state (routes in several tables, IPv6 metric 0, blackhole,
 * unreachable and prohibit routes, subnets with and without associations, a
 * subnet and a route whose device is missing, a subnet whose address someone
 * else holds) is previewed against a fake kernel, then applied by the
 * reconciler to that same kernel; every route, address and policy-rule op
 * the reconciler sends must be the one the preview announced, in order, and
 * the objects the preview says would fail are exactly those the reconciler
 * marks failed. Afterwards the preview sees nothing left to do.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fake_kernel.h"
#include "plan.h"
#include "preview.h"
#include "recon.h"
#include "store.h"
#include "tmpdir.h"

#define WAIT_MS 5000
#define LINE_MAX_LEN (PREVIEW_WHAT_MAX + 16)

struct fixture {
	struct tmpdir_fx *dir;
	struct store *s;
	struct store_config c; /* the desired state, table numbers resolved once written */
	int64_t rev;
};

static void prefix_of(struct prefix *p, const char *text)
{
	char buf[64];
	char *slash;

	snprintf(buf, sizeof(buf), "%s", text);
	slash = strchr(buf, '/');
	assert_non_null(slash);
	*slash = '\0';
	memset(p, 0, sizeof(*p));
	p->addr.family = strchr(buf, ':') ? AF_INET6 : AF_INET;
	assert_int_equal(inet_pton(p->addr.family, buf, p->addr.a), 1);
	p->len = (uint8_t)atoi(slash + 1);
}

static void table(struct store_config *c, const char *id, const char *name, uint32_t number)
{
	struct route_table *t = &c->tables[c->ntables++];
	struct vr_err e = {0};

	snprintf(t->id, sizeof(t->id), "%s", id);
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->table = number;
	assert_int_equal(model_rtb_validate(t, &e), 0);
}

static void route(struct store_config *c, const char *table_id, const char *dst,
                  enum route_type type, const char *via, const char *dev, uint32_t metric)
{
	struct route *r = &c->routes[c->nroutes++];
	struct vr_err e = {0};

	snprintf(r->table_id, sizeof(r->table_id), "%s", table_id);
	snprintf(r->destination, sizeof(r->destination), "%s", dst);
	r->type = type;
	snprintf(r->via_text, sizeof(r->via_text), "%s", via ? via : "");
	snprintf(r->dev, sizeof(r->dev), "%s", dev ? dev : "");
	r->metric = metric;
	assert_int_equal(model_route_validate(r, &e), 0);
}

static void subnet(struct store_config *c, const char *name, const char *cidr, const char *rip,
                   const char *ifname, const char *table_id)
{
	struct subnet *sn = &c->subnets[c->nsubnets++];
	struct vr_err e = {0};

	snprintf(sn->name, sizeof(sn->name), "%s", name);
	snprintf(sn->cidr_text, sizeof(sn->cidr_text), "%s", cidr);
	snprintf(sn->router_ip_text, sizeof(sn->router_ip_text), "%s", rip);
	snprintf(sn->interface, sizeof(sn->interface), "%s", ifname);
	snprintf(sn->table_id, sizeof(sn->table_id), "%s", table_id);
	assert_int_equal(model_subnet_validate(sn, &e), 0);
}

/* The desired state of every test, written to the store. */
static void desire(struct fixture *f)
{
	struct store_config *c = &f->c;
	struct store_diff d = {0};
	struct vr_err e = {0};

	c->tables = calloc(2, sizeof(*c->tables));
	c->routes = calloc(16, sizeof(*c->routes));
	c->subnets = calloc(8, sizeof(*c->subnets));
	assert_non_null(c->tables);
	assert_non_null(c->routes);
	assert_non_null(c->subnets);
	table(c, "rtb-100", "blue", 100);
	table(c, "rtb-200", "green", 200);

	route(c, RTB_MAIN_ID, "10.1.0.0/16", ROUTE_UNICAST, "192.168.150.9", NULL, 0);
	route(c, RTB_MAIN_ID, "10.2.0.0/16", ROUTE_UNICAST, NULL, "eth0", 20);
	route(c, RTB_MAIN_ID, "2001:db8:1::/48", ROUTE_UNICAST, "2001:db8::9", NULL, 0);
	route(c, RTB_MAIN_ID, "2001:db8:2::/48", ROUTE_UNICAST, NULL, "eth0", 5);
	route(c, RTB_MAIN_ID, "10.3.0.0/16", ROUTE_BLACKHOLE, NULL, NULL, 0);
	route(c, RTB_MAIN_ID, "10.4.0.0/16", ROUTE_UNREACHABLE, NULL, NULL, 0);
	route(c, RTB_MAIN_ID, "2001:db8:3::/48", ROUTE_PROHIBIT, NULL, NULL, 0);
	route(c, RTB_MAIN_ID, "10.7.0.0/16", ROUTE_UNICAST, NULL, "eth9", 0); /* no such device */
	route(c, "rtb-100", "0.0.0.0/0", ROUTE_UNICAST, "192.168.100.9", NULL, 0);
	route(c, "rtb-100", "10.5.0.0/16", ROUTE_BLACKHOLE, NULL, NULL, 7);
	route(c, "rtb-100", "::/0", ROUTE_UNREACHABLE, NULL, NULL, 0);
	/* On the very key of the copy of eth1's network in table 100: it takes its place. */
	route(c, "rtb-100", "192.168.150.0/24", ROUTE_UNICAST, NULL, "eth1", UINT32_MAX);
	route(c, "rtb-200", "10.6.0.0/16", ROUTE_UNICAST, NULL, "eth1", 0);
	route(c, "rtb-200", "2001:db8:6::/48", ROUTE_PROHIBIT, NULL, NULL, 0);

	subnet(c, "lan", "192.168.150.0/24", "192.168.150.1", "eth1", RTB_MAIN_ID);
	subnet(c, "blue", "192.168.100.0/24", "192.168.100.3", "eth0", "rtb-100");
	subnet(c, "blue6", "2001:db8::/64", "2001:db8::1", "eth0", "rtb-100");
	subnet(c, "green", "10.20.0.0/24", "10.20.0.1", "eth1", "rtb-200");
	subnet(c, "gone", "10.9.0.0/24", "10.9.0.1", "eth9", "rtb-200");    /* no such link */
	subnet(c, "taken", "10.30.0.0/24", "10.30.0.1", "eth0", "rtb-200"); /* foreign address */

	assert_int_equal(store_config_replace(f->s, c, 0, NULL, 0, false, &d, &e), 0);
	f->rev = d.rev;
	store_diff_free(&d);
}

static struct kroute kr(uint32_t table, const char *dst, uint8_t type, const char *via, int oif,
                        uint32_t metric)
{
	struct kroute r = {.table = table, .type = type, .oif = oif, .metric = metric};

	prefix_of(&r.dst, dst);
	if (via) {
		r.via.family = r.dst.addr.family;
		assert_int_equal(inet_pton(r.via.family, via, r.via.a), 1);
	}
	return r;
}

static struct kaddr ka(int ifindex, const char *p)
{
	struct kaddr a = {.ifindex = ifindex};

	prefix_of(&a.p, p);
	return a;
}

/*
 * What the kernel holds before: owned objects that stay, change or go, and
 * an address someone else put on eth0.
 */
static void kernel_before(void)
{
	struct krule stale = {.family = AF_INET, .table = 300, .priority = 20000};

	/* The same key with another gateway: replaced. */
	fk.r[fk.n++] = kr(254, "10.1.0.0/16", RTN_UNICAST, "192.168.150.8", 3, 0);
	/* IPv6 metric 0 as the kernel stores it: already right. */
	fk.r[fk.n++] = kr(254, "2001:db8:1::/48", RTN_UNICAST, "2001:db8::9", 2, 1024);
	/* No longer desired: removed. */
	fk.r[fk.n++] = kr(254, "10.99.0.0/16", RTN_UNICAST, NULL, 2, 0);
	fk.r[fk.n++] = kr(100, "10.98.0.0/16", RTN_BLACKHOLE, NULL, 0, 0);
	/* A prefix length changed (removed, added again) and an address no longer desired. */
	fk.a[fk.na++] = ka(2, "192.168.100.3/16");
	fk.a[fk.na++] = ka(3, "10.50.0.1/24");
	fk.fa[fk.nfa++] = ka(2, "10.30.0.1/24");
	prefix_of(&stale.src, "10.60.0.0/24");
	fk.rl[fk.nrl++] = stale;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct vr_err e = {0};

	assert_non_null(f);
	memset(&fk, 0, sizeof(fk));
	pthread_mutex_init(&fk.lock, NULL);
	fk.efd = eventfd(0, EFD_NONBLOCK);
	assert_true(fk.efd >= 0);
	f->dir = tmpdir_fx_new("agree", "v.db");
	assert_int_equal(store_open(f->dir->path, &f->s, &e), 0);
	desire(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_config_clear(&f->c);
	store_close(f->s);
	close(fk.efd);
	pthread_mutex_destroy(&fk.lock);
	tmpdir_fx_free(f->dir);
	free(f);
	return 0;
}

static struct preview *preview(struct fixture *f)
{
	struct preview_input in = {.routes = f->c.routes,
	                           .nroutes = f->c.nroutes,
	                           .subnets = f->c.subnets,
	                           .nsubnets = f->c.nsubnets};
	struct preview *p = NULL;
	char why[256] = "";

	assert_int_equal(preview_kernel(&fake_ops, &in, &p, why, sizeof(why)), 0);
	assert_non_null(p);
	return p;
}

/* Ops in words: "add 10.1.0.0/16 via 192.168.150.9 table 254 metric 0". */
static const char *const kop_names[] = {
    [KOP_ADD] = "add", [KOP_REPLACE] = "change", [KOP_DELETE] = "remove"};
static const char *const preview_names[] = {[PREVIEW_ADD] = "add",
                                            [PREVIEW_CHANGE] = "change",
                                            [PREVIEW_REMOVE] = "remove",
                                            [PREVIEW_FAIL] = "fail"};

/* The n lines the reconciler sent (got) against the list the preview announced. */
static void expect_same(const struct preview_list *l, char (*got)[LINE_MAX_LEN], size_t n)
{
	size_t k = 0;

	assert_true(l->nitems < PREVIEW_ITEMS_MAX); /* every op is described */
	assert_int_equal(l->add + l->change + l->remove, n);
	for (size_t i = 0; i < l->nitems; i++) {
		char want[LINE_MAX_LEN];

		if (l->items[i].op == PREVIEW_FAIL)
			continue;
		snprintf(want, sizeof(want), "%s %s", preview_names[l->items[i].op],
		         l->items[i].what);
		assert_true(k < n);
		assert_string_equal(got[k], want);
		k++;
	}
	assert_int_equal(k, n);
}

enum part { ROUTES, ADDRS, RULES };

/*
 * The ops the fake kernel accepted in part p's log, in words as the preview
 * words them, into got; returns how many. An op the kernel refuses (an
 * address someone else holds) is one the preview announces as a failure,
 * which compare_failures checks.
 */
static size_t accepted(enum part p, char (*got)[LINE_MAX_LEN])
{
	size_t n = p == ROUTES ? fk.nrlog : p == ADDRS ? fk.nalog : fk.nrllog, k = 0;

	for (size_t i = 0; i < n; i++) {
		char w[PREVIEW_WHAT_MAX];
		enum kop_kind kind;

		if (p == ROUTES && !fk.rres[i]) {
			kind = fk.rlog[i].kind;
			preview_route_words(&fk.rlog[i].r, w, sizeof(w));
		} else if (p == ADDRS && !fk.ares[i]) {
			kind = fk.alog[i].kind;
			preview_addr_words(&fk.alog[i].a, w, sizeof(w));
		} else if (p == RULES && !fk.rlres[i]) {
			kind = fk.rllog[i].kind;
			preview_rule_words(&fk.rllog[i].r, w, sizeof(w));
		} else {
			continue;
		}
		snprintf(got[k++], LINE_MAX_LEN, "%s %s", kop_names[kind], w);
	}
	return k;
}

static void compare_ops(const struct preview *p)
{
	char(*got)[LINE_MAX_LEN] = calloc(FAKE_LOG_MAX, sizeof(*got));

	assert_non_null(got);
	pthread_mutex_lock(&fk.lock);
	expect_same(&p->routes, got, accepted(ROUTES, got));
	expect_same(&p->addrs, got, accepted(ADDRS, got));
	expect_same(&p->rules, got, accepted(RULES, got));
	pthread_mutex_unlock(&fk.lock);
	free(got);
}

static bool previewed_fail(const struct preview *p, const char *id)
{
	const struct preview_list *l[] = {&p->routes, &p->addrs, &p->rules};

	for (size_t i = 0; i < 3; i++)
		for (size_t j = 0; j < l[i]->nitems; j++)
			if (l[i]->items[j].op == PREVIEW_FAIL && !strcmp(l[i]->items[j].id, id))
				return true;
	return false;
}

/* Failed in the reconciler exactly where the preview said; returns how many. */
static size_t compare_failures(struct fixture *f, struct recon *r, const struct preview *p)
{
	size_t failed = 0;
	struct obj_status st;

	for (size_t i = 0; i < f->c.nroutes + f->c.nsubnets; i++) {
		const char *id =
		    i < f->c.nroutes ? f->c.routes[i].id : f->c.subnets[i - f->c.nroutes].id;

		recon_status(r, id, &st);
		assert_int_not_equal(st.state, OBJ_PENDING);
		if (previewed_fail(p, id) != (st.state == OBJ_FAILED))
			fail_msg("%s: the preview %s failure, the reconciler says %s (%s)", id,
			         previewed_fail(p, id) ? "announced a" : "announced no",
			         st.state == OBJ_FAILED ? "failed" : "active", st.reason);
		failed += st.state == OBJ_FAILED;
	}
	return failed;
}

/* Preview, apply, compare; then the preview of the result has nothing left to do. */
static void preview_then_apply(struct fixture *f, size_t want_failed)
{
	struct preview *p = preview(f);
	struct recon *r = NULL;
	struct vr_err e = {0};

	assert_int_equal(recon_start(f->dir->path, &fake_ops, 60000, NULL, &r, &e), 0);
	assert_int_equal(recon_wait(r, f->rev, WAIT_MS), 0);
	compare_ops(p);
	assert_int_equal(compare_failures(f, r, p), want_failed);
	/* Not vacuous: every kind of op of every kind of object happened. */
	assert_true(p->routes.add > 0 && p->routes.change > 0 && p->routes.remove > 0);
	assert_true(p->addrs.add > 0 && p->addrs.remove > 0);
	assert_true(p->rules.add > 0 && p->rules.remove > 0);
	preview_free(p);

	p = preview(f);
	assert_int_equal(p->routes.add + p->routes.change + p->routes.remove, 0);
	assert_int_equal(p->addrs.add + p->addrs.change + p->addrs.remove, 0);
	assert_int_equal(p->rules.add + p->rules.change + p->rules.remove, 0);
	assert_int_equal(compare_failures(f, r, p), want_failed);
	preview_free(p);
	recon_stop(r);
}

/* The route to eth9, the subnet on eth9, the subnet whose address is taken. */
static void test_agree(void **state)
{
	kernel_before();
	preview_then_apply(*state, 3);
}

/* eth1 down: its connected networks have no copies, in the plan as in the kernel. */
static void test_agree_link_down(void **state)
{
	kernel_before();
	fk.eth1_down = true;
	preview_then_apply(*state, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_agree, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_agree_link_down, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
