/*
 * The reconciler against a fake kernel: incremental applies, full passes,
 * failures with reasons, drift repair on a notification, table renumbering,
 * route-table associations (rules, copies of connected networks, a subnet
 * applied whole or not at all) and what does and does not count as drift.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <linux/rtnetlink.h>
#include <sqlite3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fake_kernel.h"
#include "kernel.h"
#include "plan.h"
#include "recon.h"
#include "store.h"

#define WAIT_MS 5000

struct fixture {
	char dir[64], db[128];
	struct store *s;
	struct recon *r;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct vr_err e = {0};

	memset(&fk, 0, sizeof(fk));
	pthread_mutex_init(&fk.lock, NULL);
	fk.efd = eventfd(0, EFD_NONBLOCK);
	snprintf(f->dir, sizeof(f->dir), "/tmp/vr-recon-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/v.db", f->dir);
	assert_int_equal(store_open(f->db, &f->s, &e), 0);
	assert_int_equal(recon_start(f->db, &fake_ops, 60000, NULL, &f->r, &e), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	recon_stop(f->r);
	store_close(f->s);
	close(fk.efd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Create a route in the store, kick, wait; returns its id in id. */
static void add_route(struct fixture *f, const char *dst, const char *via, const char *dev,
                      char id[ID_MAX])
{
	struct route r = {0};
	struct vr_err e = {0};

	snprintf(r.table_id, sizeof(r.table_id), "rtb-main");
	snprintf(r.destination, sizeof(r.destination), "%s", dst);
	snprintf(r.via_text, sizeof(r.via_text), "%s", via ? via : "");
	snprintf(r.dev, sizeof(r.dev), "%s", dev ? dev : "");
	assert_int_equal(model_route_validate(&r, &e), 0);
	assert_int_equal(store_obj_create(f->s, STORE_ROUTE, &r, &e), STORE_CREATED);
	recon_kick(f->r, r.rev, RECON_ROUTE, r.id);
	assert_int_equal(recon_wait(f->r, r.rev, WAIT_MS), 0);
	snprintf(id, ID_MAX, "%s", r.id);
	model_route_clear(&r);
}

/* store_config_replace's hook, as PUT /v1/config sets it: the routes go to the reconciler. */
static void hand_over(void *arg, const struct store_config *c)
{
	struct fixture *f = arg;

	recon_preapply(f->r, c->routes, c->pack, c->nroutes);
}

static void db_exec(struct fixture *f, const char *sql)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/*
 * A document's routes reach the kernel while its commit runs; a commit that
 * fails after that (the audit log refuses the write's event) is undone in
 * the kernel by recon_resync, and the statuses never saw the document.
 */
static void test_preapply_failed_commit(void **state)
{
	struct fixture *f = *state;
	struct store_config c = {.checked = hand_over, .checked_arg = f};
	struct store_event ev = {.method = "PUT", .path = "/v1/config", .status = 200};
	struct store_diff d = {0};
	struct obj_status st;
	struct vr_err e = {0};
	char a[ID_MAX];
	int64_t rev;

	add_route(f, "10.1.0.0/16", NULL, "eth0", a);
	assert_true(fake_has(10, 1));
	rev = store_revision(f->s);
	c.routes = calloc(1, sizeof(*c.routes));
	c.nroutes = 1;
	snprintf(c.routes[0].id, ID_MAX, "rt-0b");
	snprintf(c.routes[0].table_id, ID_MAX, "rtb-main");
	snprintf(c.routes[0].destination, CIDR_STR_MAX, "10.2.0.0/16");
	snprintf(c.routes[0].dev, IFNAME_MAX, "eth0");
	assert_int_equal(model_route_validate(&c.routes[0], &e), 0);

	db_exec(f, "CREATE TRIGGER no_events BEFORE INSERT ON events "
	           "BEGIN SELECT RAISE(ABORT, 'audit log refused'); END");
	store_audit_arm(&ev);
	assert_int_equal(store_config_replace(f->s, &c, 0, NULL, 0, false, &d, &e), -1);
	store_audit_arm(NULL);
	assert_non_null(strstr(e.msg, "audit log refused"));
	assert_int_equal(store_revision(f->s), rev);
	recon_preapply_wait(f->r);
	/* The kernel took the document ahead of the commit; no status says so. */
	assert_true(fake_has(10, 2));
	assert_false(fake_has(10, 1));
	recon_status(f->r, a, &st);
	assert_int_equal(st.state, OBJ_ACTIVE);
	recon_status(f->r, "rt-0b", &st);
	assert_int_equal(st.state, OBJ_PENDING);
	/* The stored state back in the kernel. */
	assert_int_equal(recon_resync(f->r, WAIT_MS), 0);
	assert_true(fake_has(10, 1));
	assert_false(fake_has(10, 2));
	assert_int_equal(fake_count(), 1);

	/* The same document committed: applied and recorded by the pass its kick runs. */
	db_exec(f, "DROP TRIGGER no_events");
	assert_int_equal(store_config_replace(f->s, &c, 0, NULL, 0, false, &d, &e), 0);
	assert_true(d.rev > rev);
	recon_kick(f->r, d.rev, RECON_ALL, NULL);
	recon_preapply_wait(f->r);
	assert_int_equal(recon_wait(f->r, d.rev, WAIT_MS), 0);
	assert_true(fake_has(10, 2));
	assert_int_equal(fake_count(), 1);
	recon_status(f->r, "rt-0b", &st);
	assert_int_equal(st.state, OBJ_ACTIVE);
	recon_status(f->r, a, &st);
	assert_int_equal(st.state, OBJ_PENDING);
	store_diff_free(&d);
	store_config_clear(&c);
}

/*
 * Until the caller's commit is over, no full pass runs: one would read the
 * state before the commit and take the document's routes out again. A
 * notification's pass waits for the end of the hold, then runs.
 */
static void test_preapply_hold(void **state)
{
	struct fixture *f = *state;
	struct route doc = {0};
	struct vr_err e = {0};
	uint64_t one = 1;
	char a[ID_MAX];

	add_route(f, "10.1.0.0/16", NULL, "eth0", a);
	snprintf(doc.id, ID_MAX, "rt-0b");
	snprintf(doc.table_id, ID_MAX, "rtb-main");
	snprintf(doc.destination, CIDR_STR_MAX, "10.2.0.0/16");
	snprintf(doc.dev, IFNAME_MAX, "eth0");
	assert_int_equal(model_route_validate(&doc, &e), 0);
	doc.table = RTB_MAIN_TABLE;
	recon_preapply(f->r, &doc, NULL, 1);
	for (int i = 0; i < 200 && !fake_has(10, 2); i++)
		usleep(10 * 1000);
	assert_true(fake_has(10, 2));
	/* A notification asks for a full pass (50 ms later, were it not held). */
	assert_int_equal(write(fk.efd, &one, sizeof(one)), sizeof(one));
	usleep(300 * 1000);
	assert_true(fake_has(10, 2));
	assert_false(fake_has(10, 1));
	/* The commit failed, say: the hold ends and that pass puts the stored state back. */
	recon_preapply_wait(f->r);
	for (int i = 0; i < 200 && !fake_has(10, 1); i++)
		usleep(10 * 1000);
	assert_true(fake_has(10, 1));
	assert_false(fake_has(10, 2));
	model_route_clear(&doc);
}

static void test_incremental_and_status(void **state)
{
	struct fixture *f = *state;
	struct obj_status st;
	struct recon_stats stats;
	char a[ID_MAX], b[ID_MAX], c[ID_MAX];
	unsigned ops_before;

	/* The first full pass at start-up has run (it may have found nothing). */
	add_route(f, "192.168.100.0/24", "192.168.150.3", NULL, a);
	recon_status(f->r, a, &st);
	assert_int_equal(st.state, OBJ_ACTIVE);
	assert_int_equal(fake_count(), 1);

	add_route(f, "10.20.0.0/16", "10.0.0.1", NULL, b);
	recon_status(f->r, b, &st);
	assert_int_equal(st.state, OBJ_FAILED);
	assert_non_null(strstr(st.reason, "10.0.0.1"));

	add_route(f, "10.30.0.0/16", NULL, "eth9", c);
	recon_status(f->r, c, &st);
	assert_int_equal(st.state, OBJ_FAILED);
	assert_non_null(strstr(st.reason, "device eth9 does not exist"));
	assert_int_equal(fake_count(), 1);

	/* One more route costs one op, whatever is already there. */
	ops_before = fk.ops;
	add_route(f, "10.40.0.0/16", NULL, "eth0", c);
	assert_int_equal(fk.ops - ops_before, 1);
	assert_int_equal(fake_count(), 2);

	recon_stats(f->r, &stats);
	assert_int_equal(stats.routes_owned, 2);
	assert_int_equal(stats.routes_failed, 2);
	assert_true(stats.applied_rev >= stats.desired_rev);

	{
		struct recon_failure fl[8];
		size_t nf = recon_failures(f->r, fl, 8);

		assert_int_equal(nf, 2);
		for (size_t i = 0; i < nf; i++)
			assert_true(!strcmp(fl[i].id, b) || strstr(fl[i].reason, "eth9"));
	}
	/* Unknown ids are pending, not an error. */
	recon_status(f->r, "rt-ffff", &st);
	assert_int_equal(st.state, OBJ_PENDING);
}

static void test_replace_delete(void **state)
{
	struct fixture *f = *state;
	struct route r = {0};
	struct vr_err e = {0};
	char id[ID_MAX];
	int64_t rev;

	add_route(f, "192.168.100.0/24", "192.168.150.3", NULL, id);
	assert_int_equal(store_obj_get(f->s, STORE_ROUTE, id, &r, &e), 0);
	snprintf(r.via_text, sizeof(r.via_text), "192.168.150.4");
	assert_int_equal(model_route_validate(&r, &e), 0);
	assert_int_equal(store_obj_replace(f->s, STORE_ROUTE, &r, 0, &e), 0);
	recon_kick(f->r, r.rev, RECON_ROUTE, id);
	assert_int_equal(recon_wait(f->r, r.rev, WAIT_MS), 0);
	assert_int_equal(fake_count(), 1);
	assert_int_equal(fk.r[0].via.a[3], 4);

	/* A new metric is a new key: the old one goes, the new one comes. */
	r.metric = 50;
	assert_int_equal(store_obj_replace(f->s, STORE_ROUTE, &r, 0, &e), 0);
	recon_kick(f->r, r.rev, RECON_ROUTE, id);
	assert_int_equal(recon_wait(f->r, r.rev, WAIT_MS), 0);
	assert_int_equal(fake_count(), 1);
	assert_int_equal(fk.r[0].metric, 50);
	model_route_clear(&r);

	assert_int_equal(store_obj_delete(f->s, STORE_ROUTE, id, 0, &e), 0);
	rev = store_revision(f->s);
	recon_kick(f->r, rev, RECON_ROUTE, id);
	assert_int_equal(recon_wait(f->r, rev, WAIT_MS), 0);
	assert_int_equal(fake_count(), 0);
}

/* Create (or with id set, replace) a route in the store without telling the reconciler. */
static int64_t store_route(struct fixture *f, struct route *r, const char *dst)
{
	struct vr_err e = {0};

	snprintf(r->table_id, sizeof(r->table_id), "rtb-main");
	snprintf(r->destination, sizeof(r->destination), "%s", dst);
	snprintf(r->via_text, sizeof(r->via_text), "192.168.150.3");
	assert_int_equal(model_route_validate(r, &e), 0);
	if (r->id[0])
		assert_int_equal(store_obj_replace(f->s, STORE_ROUTE, r, 0, &e), 0);
	else
		assert_int_equal(store_obj_create(f->s, STORE_ROUTE, r, &e), STORE_CREATED);
	return r->rev;
}

/*
 * Route changes queued together are applied as one kernel batch, deletes
 * first: route a leaves 10.50.0.0/16 for 10.51.0.0/16 while new route b
 * takes 10.50.0.0/16, kicked b first, and b still goes in without a refusal.
 */
static void test_route_batch(void **state)
{
	struct fixture *f = *state;
	struct route a = {0}, b = {0}, more[4];
	struct obj_status st;
	char id[ID_MAX], dst[32];
	unsigned applies, ops;
	int64_t last = 0;
	bool held = false;

	add_route(f, "10.50.0.0/16", "192.168.150.3", NULL, id);
	assert_int_equal(fake_count(), 1);
	snprintf(a.id, sizeof(a.id), "%s", id);
	memset(more, 0, sizeof(more));
	pthread_cond_init(&fk.gate, NULL);
	pthread_mutex_lock(&fk.lock);
	applies = fk.applies;
	ops = fk.ops;
	fk.hold = true;
	pthread_mutex_unlock(&fk.lock);
	/* The reconciler takes the first route and waits in route_apply... */
	store_route(f, &more[0], "10.60.0.0/16");
	recon_kick(f->r, more[0].rev, RECON_ROUTE, more[0].id);
	for (int i = 0; i < WAIT_MS && !held; i++) {
		usleep(1000);
		pthread_mutex_lock(&fk.lock);
		held = fk.held;
		pthread_mutex_unlock(&fk.lock);
	}
	assert_true(held);
	/* ... while these queue up behind it. */
	store_route(f, &a, "10.51.0.0/16");
	store_route(f, &b, "10.50.0.0/16");
	recon_kick(f->r, b.rev, RECON_ROUTE, b.id);
	recon_kick(f->r, a.rev, RECON_ROUTE, a.id);
	for (int i = 1; i < 4; i++) {
		snprintf(dst, sizeof(dst), "10.6%d.0.0/16", i);
		last = store_route(f, &more[i], dst);
		recon_kick(f->r, last, RECON_ROUTE, more[i].id);
	}
	/* a again: the batch takes each route once, as the store has it now. */
	recon_kick(f->r, a.rev, RECON_ROUTE, a.id);
	pthread_mutex_lock(&fk.lock);
	fk.hold = false;
	pthread_cond_broadcast(&fk.gate);
	pthread_mutex_unlock(&fk.lock);
	assert_int_equal(recon_wait(f->r, last, WAIT_MS), 0);
	/* The first route alone, then the six changes of five routes in one batch. */
	assert_int_equal(fk.applies - applies, 2);
	/* more[0]: an add; then a: delete + add; b and three more: an add each. */
	assert_int_equal(fk.ops - ops, 7);
	assert_int_equal(fake_count(), 6);
	recon_status(f->r, a.id, &st);
	assert_int_equal(st.state, OBJ_ACTIVE);
	recon_status(f->r, b.id, &st);
	assert_int_equal(st.state, OBJ_ACTIVE);
	for (int i = 0; i < 4; i++) {
		recon_status(f->r, more[i].id, &st);
		assert_int_equal(st.state, OBJ_ACTIVE);
		model_route_clear(&more[i]);
	}
	model_route_clear(&a);
	model_route_clear(&b);
}

static void test_drift_repair(void **state)
{
	struct fixture *f = *state;
	struct recon_stats stats;
	char id[ID_MAX];
	uint64_t one = 1;

	add_route(f, "192.168.100.0/24", "192.168.150.3", NULL, id);
	pthread_mutex_lock(&fk.lock);
	fk.n = 0; /* deleted by hand */
	pthread_mutex_unlock(&fk.lock);
	assert_int_equal(write(fk.efd, &one, sizeof(one)), sizeof(one));
	for (int i = 0; i < 200 && fake_count() == 0; i++)
		usleep(10 * 1000);
	assert_int_equal(fake_count(), 1);
	for (int i = 0; i < 100; i++) {
		recon_stats(f->r, &stats);
		if (stats.drift_repairs_routes)
			break;
		usleep(10 * 1000);
	}
	assert_int_equal(stats.drift_repairs_routes, 1);
}

/*
 * While a document is held (recon_hold: PUT /v1/config parsing and storing
 * it), the debounced full pass a notification asks for waits, so that its
 * memory does not add to the document's; a kicked change still applies.
 * recon_release runs the pass that fell due.
 */
static void test_doc_hold(void **state)
{
	struct fixture *f = *state;
	char a[ID_MAX], b[ID_MAX];
	uint64_t one = 1;

	add_route(f, "10.1.0.0/16", NULL, "eth0", a);
	recon_hold(f->r);
	pthread_mutex_lock(&fk.lock);
	fk.n = 0; /* deleted by hand */
	pthread_mutex_unlock(&fk.lock);
	assert_int_equal(write(fk.efd, &one, sizeof(one)), sizeof(one));
	/* Well past the debounce (50 ms): no full pass put it back. */
	usleep(300 * 1000);
	assert_false(fake_has(10, 1));
	/* A kicked change is not held. */
	add_route(f, "10.2.0.0/16", NULL, "eth0", b);
	assert_true(fake_has(10, 2));
	assert_false(fake_has(10, 1));
	recon_release(f->r);
	for (int i = 0; i < 200 && !fake_has(10, 1); i++)
		usleep(10 * 1000);
	assert_true(fake_has(10, 1));
	assert_int_equal(fake_count(), 2);
}

static void test_table_renumber(void **state)
{
	struct fixture *f = *state;
	struct route_table t = {0};
	struct route r = {0};
	struct vr_err e = {0};

	snprintf(t.name, sizeof(t.name), "blue");
	t.table = 100;
	assert_int_equal(model_rtb_validate(&t, &e), 0);
	assert_int_equal(store_obj_create(f->s, STORE_RTB, &t, &e), STORE_CREATED);
	snprintf(r.table_id, sizeof(r.table_id), "%s", t.id);
	snprintf(r.destination, sizeof(r.destination), "10.1.0.0/16");
	r.type = ROUTE_BLACKHOLE;
	assert_int_equal(model_route_validate(&r, &e), 0);
	assert_int_equal(store_obj_create(f->s, STORE_ROUTE, &r, &e), STORE_CREATED);
	recon_kick(f->r, r.rev, RECON_ROUTE, r.id);
	assert_int_equal(recon_wait(f->r, r.rev, WAIT_MS), 0);
	assert_int_equal(fk.r[0].table, 100);

	t.table = 200;
	assert_int_equal(store_obj_replace(f->s, STORE_RTB, &t, 0, &e), 0);
	recon_kick(f->r, t.rev, RECON_ROUTE_TABLE, t.id);
	assert_int_equal(recon_wait(f->r, t.rev, WAIT_MS), 0);
	assert_int_equal(fake_count(), 1);
	assert_int_equal(fk.r[0].table, 200);
	model_route_clear(&r);
	model_rtb_clear(&t);
}

static void add_subnet(struct fixture *f, const char *name, const char *cidr, const char *rip,
                       const char *ifname, const char *table_id, char id[ID_MAX])
{
	struct subnet sn = {0};
	struct vr_err e = {0};

	snprintf(sn.name, sizeof(sn.name), "%s", name);
	snprintf(sn.cidr_text, sizeof(sn.cidr_text), "%s", cidr);
	snprintf(sn.router_ip_text, sizeof(sn.router_ip_text), "%s", rip);
	snprintf(sn.interface, sizeof(sn.interface), "%s", ifname);
	snprintf(sn.table_id, sizeof(sn.table_id), "%s", table_id);
	assert_int_equal(model_subnet_validate(&sn, &e), 0);
	assert_int_equal(store_obj_create(f->s, STORE_SUBNET, &sn, &e), STORE_CREATED);
	recon_kick(f->r, sn.rev, RECON_SUBNET, sn.id);
	assert_int_equal(recon_wait(f->r, sn.rev, WAIT_MS), 0);
	snprintf(id, ID_MAX, "%s", sn.id);
	model_subnet_clear(&sn);
}

static void test_subnets_settings(void **state)
{
	struct fixture *f = *state;
	struct route_table t = {0};
	struct settings set = {0};
	struct obj_status st;
	struct recon_stats stats;
	struct vr_err e = {0};
	char a[ID_MAX], b[ID_MAX];
	uint64_t one = 1;

	add_subnet(f, "net01", "192.168.150.0/24", "192.168.150.3", "eth0", "rtb-main", a);
	recon_status(f->r, a, &st);
	assert_int_equal(st.state, OBJ_ACTIVE);
	assert_int_equal(fk.na, 1);
	assert_int_equal(fk.a[0].ifindex, 2);
	assert_int_equal(fk.a[0].p.len, 24);
	assert_int_equal(fk.a[0].p.addr.a[3], 3);
	assert_int_equal(fk.nrl, 0);

	/* A missing link: desired, failed, saying why. */
	add_subnet(f, "net09", "10.9.0.0/24", "10.9.0.1", "eth9", "rtb-main", b);
	recon_status(f->r, b, &st);
	assert_int_equal(st.state, OBJ_FAILED);
	assert_non_null(strstr(st.reason, "eth9"));

	/* A table other than main: a policy rule from the subnet to it. */
	snprintf(t.name, sizeof(t.name), "blue");
	t.table = 100;
	assert_int_equal(model_rtb_validate(&t, &e), 0);
	assert_int_equal(store_obj_create(f->s, STORE_RTB, &t, &e), STORE_CREATED);
	add_subnet(f, "net02", "192.168.100.0/24", "192.168.100.3", "eth0", t.id, b);
	assert_int_equal(fk.nrl, 2); /* the lookup, and the unreachable rule after it */
	{
		const struct krule *lk = &fk.rl[fk.rl[0].action == KRULE_LOOKUP ? 0 : 1];

		assert_int_equal(lk->action, KRULE_LOOKUP);
		assert_int_equal(lk->table, 100);
		assert_int_equal(lk->src.len, 24);
		assert_true(lk->priority >= VR_RULE_PRIO_FIRST &&
		            lk->priority <= VR_RULE_PRIO_LAST);
	}
	model_rtb_clear(&t);

	/* Forwarding is left alone until settings are written, then enforced and repaired. */
	fk.fwd4 = false;
	assert_int_equal(fk.fwd6, false);
	set.managed = true;
	set.fwd_v4 = true;
	set.fwd_v6 = true;
	assert_int_equal(store_settings_put(f->s, &set, 0, &e), 0);
	recon_kick(f->r, set.rev, RECON_SETTINGS, "settings");
	assert_int_equal(recon_wait(f->r, set.rev, WAIT_MS), 0);
	assert_true(fk.fwd4 && fk.fwd6);
	recon_status(f->r, "settings", &st);
	assert_int_equal(st.state, OBJ_ACTIVE);
	pthread_mutex_lock(&fk.lock);
	fk.fwd4 = false; /* sysctl -w by hand */
	fk.na = 0;       /* address removed by hand */
	pthread_mutex_unlock(&fk.lock);
	assert_int_equal(write(fk.efd, &one, sizeof(one)), sizeof(one));
	for (int i = 0; i < 200 && !(fk.fwd4 && fk.na == 2); i++)
		usleep(10 * 1000);
	assert_true(fk.fwd4);
	assert_int_equal(fk.na, 2);
	recon_stats(f->r, &stats);
	assert_int_equal(stats.drift_repairs_forwarding, 1);
	assert_int_equal(stats.drift_repairs_addrs, 2);

	/* Deleting a subnet removes its address and rule, nothing else. */
	assert_int_equal(store_obj_delete(f->s, STORE_SUBNET, b, 0, &e), 0);
	recon_kick(f->r, store_revision(f->s), RECON_SUBNET, b);
	assert_int_equal(recon_wait(f->r, store_revision(f->s), WAIT_MS), 0);
	assert_int_equal(fk.na, 1);
	assert_int_equal(fk.nrl, 0);
}

static size_t rules_count(enum krule_action action, uint32_t table)
{
	size_t n = 0;

	pthread_mutex_lock(&fk.lock);
	for (size_t i = 0; i < fk.nrl; i++)
		n += fk.rl[i].action == action && fk.rl[i].table == table;
	pthread_mutex_unlock(&fk.lock);
	return n;
}

/* Routes in table with metric (UINT32_MAX = any metric). */
static size_t routes_in(uint32_t table, uint32_t metric)
{
	size_t n = 0;

	pthread_mutex_lock(&fk.lock);
	for (size_t i = 0; i < fk.n; i++)
		n += fk.r[i].table == table && (metric == UINT32_MAX || fk.r[i].metric == metric);
	pthread_mutex_unlock(&fk.lock);
	return n;
}

/* Remove a route from the fake kernel, as `ip route del` would. Call with the lock held. */
static void fake_route_del(struct kroute *at)
{
	assert_non_null(at);
	*at = fk.r[fk.n - 1];
	fk.n--;
}

static struct kroute *fake_route_at(uint32_t table, uint8_t a0, uint8_t a1, uint8_t a2)
{
	for (size_t i = 0; i < fk.n; i++)
		if (fk.r[i].table == table && fk.r[i].dst.addr.a[0] == a0 &&
		    fk.r[i].dst.addr.a[1] == a1 && fk.r[i].dst.addr.a[2] == a2)
			return &fk.r[i];
	return NULL;
}

static void repairs(struct fixture *f, uint64_t out[3])
{
	struct recon_stats st;

	recon_stats(f->r, &st);
	out[0] = st.drift_repairs_routes;
	out[1] = st.drift_repairs_addrs;
	out[2] = st.drift_repairs_rules;
}

/* Tell the reconciler the kernel changed, and wait until pred holds (or 2 s). */
static bool notify_until(bool (*pred)(void))
{
	uint64_t one = 1;

	assert_int_equal(write(fk.efd, &one, sizeof(one)), sizeof(one));
	for (int i = 0; i < 200; i++) {
		if (pred())
			return true;
		usleep(10 * 1000);
	}
	return pred();
}

static void make_table(struct fixture *f, const char *name, uint32_t number, struct route_table *t)
{
	struct vr_err e = {0};

	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->table = number;
	assert_int_equal(model_rtb_validate(t, &e), 0);
	assert_int_equal(store_obj_create(f->s, STORE_RTB, t, &e), STORE_CREATED);
}

static void set_subnet_table(struct fixture *f, const char *id, const char *table_id)
{
	struct subnet sn = {0};
	struct vr_err e = {0};

	assert_int_equal(store_obj_get(f->s, STORE_SUBNET, id, &sn, &e), 0);
	snprintf(sn.table_id, sizeof(sn.table_id), "%s", table_id);
	assert_int_equal(model_subnet_validate(&sn, &e), 0);
	assert_int_equal(store_obj_replace(f->s, STORE_SUBNET, &sn, 0, &e), 0);
	recon_kick(f->r, sn.rev, RECON_SUBNET, sn.id);
	assert_int_equal(recon_wait(f->r, sn.rev, WAIT_MS), 0);
	model_subnet_clear(&sn);
}

static bool rules_two(void)
{
	return rules_count(KRULE_LOOKUP, 100) == 1 && rules_count(KRULE_UNREACHABLE, 0) == 1;
}

static bool copies_two(void)
{
	return routes_in(100, PLAN_CONNECTED_METRIC) == 2;
}

static bool copies_one(void)
{
	return routes_in(100, PLAN_CONNECTED_METRIC) == 1;
}

/*
 * An association: the lookup rule and the unreachable rule after it, copies
 * of the connected networks in the table, counted as owned, repaired as
 * drift when deleted by hand, never drift when they follow a link or the
 * user; a user route on a copy's key takes its place and gives it back.
 */
static void test_assoc(void **state)
{
	struct fixture *f = *state;
	struct route_table t;
	struct recon_stats st;
	struct obj_status os;
	struct vr_err e = {0};
	char lan[ID_MAX], blue[ID_MAX], rid[ID_MAX];
	uint64_t rep[3];
	struct route r = {0};

	make_table(f, "blue", 100, &t);
	add_subnet(f, "lan", "192.168.150.0/24", "192.168.150.1", "eth1", RTB_MAIN_ID, lan);
	assert_int_equal(fk.nrl, 0);
	assert_int_equal(fake_count(), 0);
	add_subnet(f, "blue", "192.168.100.0/24", "192.168.100.3", "eth0", t.id, blue);
	recon_status(f->r, blue, &os);
	assert_int_equal(os.state, OBJ_ACTIVE);
	assert_true(rules_two());
	for (size_t i = 0; i < fk.nrl; i++) {
		assert_int_equal(fk.rl[i].src.len, 24);
		assert_int_equal(fk.rl[i].priority, fk.rl[i].action == KRULE_LOOKUP
		                                        ? PLAN_PRIO_LOOKUP
		                                        : PLAN_PRIO_MISS);
	}
	/* Both connected networks (eth0's and eth1's), not loopback, in table 100 only. */
	assert_int_equal(fake_count(), 2);
	assert_true(copies_two());
	assert_int_equal(fake_route_at(100, 192, 168, 100)->oif, 2);
	assert_int_equal(fake_route_at(100, 192, 168, 150)->oif, 3);
	recon_stats(f->r, &st);
	assert_int_equal(st.routes_owned, 2);
	assert_int_equal(st.rules_owned, 2);
	assert_int_equal(st.addrs_owned, 2);

	/* Deleted by hand: put back, and counted. */
	pthread_mutex_lock(&fk.lock);
	for (size_t i = 0; i < fk.nrl; i++)
		if (fk.rl[i].action == KRULE_UNREACHABLE)
			fk.rl[i] = fk.rl[--fk.nrl];
	fake_route_del(fake_route_at(100, 192, 168, 150));
	pthread_mutex_unlock(&fk.lock);
	assert_true(notify_until(rules_two));
	assert_true(notify_until(copies_two));
	usleep(50 * 1000);
	repairs(f, rep);
	assert_int_equal(rep[0], 1);
	assert_int_equal(rep[1], 0);
	assert_int_equal(rep[2], 1);

	/* eth1 goes down (the kernel drops its routes): its copy is not wanted, nor missed. */
	pthread_mutex_lock(&fk.lock);
	fk.eth1_down = true;
	fake_route_del(fake_route_at(100, 192, 168, 150));
	pthread_mutex_unlock(&fk.lock);
	assert_true(notify_until(copies_one));
	for (int i = 0; i < 200; i++) { /* until a pass has seen the link down */
		recon_stats(f->r, &st);
		if (st.routes_owned == 1)
			break;
		usleep(10 * 1000);
	}
	assert_int_equal(st.routes_owned, 1);
	/*
	 * A pass that read the links just before eth1 went down and the routes just
	 * after sees the copy missing on a link it believes up, and repairs it once
	 * (the real kernel allows the same interleaving: link down, then its routes
	 * flushed, between a pass's two dumps). Once a pass has seen the link down,
	 * nothing more is repaired.
	 */
	{
		uint64_t down[3];

		repairs(f, down);
		assert_true(down[0] <= 2);
		assert_int_equal(down[2], 1);
		pthread_mutex_lock(&fk.lock);
		fk.eth1_down = false;
		pthread_mutex_unlock(&fk.lock);
		assert_true(notify_until(copies_two));
		usleep(50 * 1000);
		/* Coming back up is not drift: the copy is put back without a repair. */
		repairs(f, rep);
		assert_int_equal(rep[0], down[0]);
		assert_int_equal(rep[2], 1);
	}

	/* A user route on a copy's very key takes it; deleting it gives the key back. */
	snprintf(r.table_id, sizeof(r.table_id), "%s", t.id);
	snprintf(r.destination, sizeof(r.destination), "192.168.150.0/24");
	r.type = ROUTE_BLACKHOLE;
	r.metric = PLAN_CONNECTED_METRIC;
	assert_int_equal(model_route_validate(&r, &e), 0);
	assert_int_equal(store_obj_create(f->s, STORE_ROUTE, &r, &e), STORE_CREATED);
	recon_kick(f->r, r.rev, RECON_ROUTE, r.id);
	assert_int_equal(recon_wait(f->r, r.rev, WAIT_MS), 0);
	snprintf(rid, sizeof(rid), "%s", r.id);
	model_route_clear(&r);
	recon_status(f->r, rid, &os);
	assert_int_equal(os.state, OBJ_ACTIVE);
	assert_int_equal(fake_route_at(100, 192, 168, 150)->type, RTN_BLACKHOLE);
	assert_int_equal(fake_count(), 2);
	recon_stats(f->r, &st);
	assert_int_equal(st.routes_owned, 2);
	assert_int_equal(store_obj_delete(f->s, STORE_ROUTE, rid, 0, &e), 0);
	recon_kick(f->r, store_revision(f->s), RECON_ROUTE, rid);
	assert_int_equal(recon_wait(f->r, store_revision(f->s), WAIT_MS), 0);
	assert_int_equal(fake_route_at(100, 192, 168, 150)->type, RTN_UNICAST);
	assert_true(copies_two());
	repairs(f, rep);
	assert_int_equal(rep[0], 1);

	/* The association goes: its rules and copies go, nothing else. */
	set_subnet_table(f, blue, RTB_MAIN_ID);
	assert_int_equal(fk.nrl, 0);
	assert_int_equal(fake_count(), 0);
	assert_int_equal(fk.na, 2);
	recon_stats(f->r, &st);
	assert_int_equal(st.routes_owned + st.rules_owned, 0);
	repairs(f, rep);
	assert_int_equal(rep[0] + rep[1] + rep[2], 2);
	model_rtb_clear(&t);
}

static bool held_whole(void)
{
	return rules_count(KRULE_LOOKUP, 100) == 1 && rules_count(KRULE_UNREACHABLE, 0) == 1 &&
	       fk.na == 1;
}

/* A subnet is applied whole or not at all: no rule, no copy while its address cannot be. */
static void test_assoc_whole(void **state)
{
	struct fixture *f = *state;
	struct route_table t;
	struct obj_status os;
	struct recon_stats st;
	struct vr_err e = {0};
	char held[ID_MAX], gone[ID_MAX];

	make_table(f, "blue", 100, &t);
	pthread_mutex_lock(&fk.lock);
	fk.fa[fk.nfa].ifindex = 2;
	fk.fa[fk.nfa].p.addr.family = AF_INET;
	memcpy(fk.fa[fk.nfa].p.addr.a, (uint8_t[]){192, 168, 160, 1}, 4);
	fk.fa[fk.nfa++].p.len = 24;
	pthread_mutex_unlock(&fk.lock);
	add_subnet(f, "held", "192.168.160.0/24", "192.168.160.1", "eth0", t.id, held);
	recon_status(f->r, held, &os);
	assert_int_equal(os.state, OBJ_FAILED);
	assert_non_null(strstr(os.reason, "192.168.160.1/24"));
	add_subnet(f, "gone", "10.9.0.0/24", "10.9.0.1", "eth9", t.id, gone);
	recon_status(f->r, gone, &os);
	assert_int_equal(os.state, OBJ_FAILED);
	assert_non_null(strstr(os.reason, "eth9"));
	assert_int_equal(fk.nrl, 0);
	assert_int_equal(fake_count(), 0);
	recon_stats(f->r, &st);
	assert_int_equal(st.objects_failed, 2);
	assert_int_equal(st.rules_owned, 0);

	/* The foreign address goes: the subnet is applied, all of it. */
	pthread_mutex_lock(&fk.lock);
	fk.nfa = 0;
	pthread_mutex_unlock(&fk.lock);
	assert_true(notify_until(held_whole));
	recon_status(f->r, held, &os);
	assert_int_equal(os.state, OBJ_ACTIVE);
	assert_int_equal(routes_in(100, PLAN_CONNECTED_METRIC), 1);
	assert_int_equal(store_obj_delete(f->s, STORE_SUBNET, gone, 0, &e), 0);
	model_rtb_clear(&t);
}

/*
 * Only kernel changes vrouter did not make are drift: a table renumbered
 * (its routes, the rule and the copies move), a subnet moved to another
 * table and back, an address moved to another link count nothing; a route
 * deleted by hand afterwards still counts.
 */
static void test_renumber_not_drift(void **state)
{
	struct fixture *f = *state;
	struct route_table t, t2;
	struct vr_err e = {0};
	char sn[ID_MAX], id[ID_MAX];
	uint64_t rep[3];
	struct recon_stats st;
	static const char *const dst[3] = {"10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"};

	make_table(f, "blue", 100, &t);
	make_table(f, "green", 300, &t2);
	for (int i = 0; i < 3; i++) {
		struct route r = {0};

		snprintf(r.table_id, sizeof(r.table_id), "%s", t.id);
		snprintf(r.destination, sizeof(r.destination), "%s", dst[i]);
		r.type = ROUTE_BLACKHOLE;
		assert_int_equal(model_route_validate(&r, &e), 0);
		assert_int_equal(store_obj_create(f->s, STORE_ROUTE, &r, &e), STORE_CREATED);
		recon_kick(f->r, r.rev, RECON_ROUTE, r.id);
		assert_int_equal(recon_wait(f->r, r.rev, WAIT_MS), 0);
		snprintf(id, sizeof(id), "%s", r.id);
		model_route_clear(&r);
	}
	add_subnet(f, "blue", "192.168.100.0/24", "192.168.100.3", "eth0", t.id, sn);
	assert_int_equal(routes_in(100, UINT32_MAX), 4);
	assert_int_equal(fk.nrl, 2);

	t.table = 200;
	assert_int_equal(store_obj_replace(f->s, STORE_RTB, &t, 0, &e), 0);
	recon_kick(f->r, t.rev, RECON_ROUTE_TABLE, t.id);
	assert_int_equal(recon_wait(f->r, t.rev, WAIT_MS), 0);
	assert_int_equal(routes_in(100, UINT32_MAX), 0);
	assert_int_equal(routes_in(200, UINT32_MAX), 4);
	assert_int_equal(rules_count(KRULE_LOOKUP, 200), 1);
	assert_int_equal(fk.nrl, 2);
	repairs(f, rep);
	assert_int_equal(rep[0], 0);
	assert_int_equal(rep[1], 0);
	assert_int_equal(rep[2], 0);

	set_subnet_table(f, sn, t2.id);
	assert_int_equal(rules_count(KRULE_LOOKUP, 300), 1);
	assert_int_equal(routes_in(300, UINT32_MAX), 1);
	set_subnet_table(f, sn, t.id);
	assert_int_equal(rules_count(KRULE_LOOKUP, 200), 1);
	assert_int_equal(routes_in(300, UINT32_MAX), 0);
	{
		/* The router address moves to another link: the user's change too. */
		struct subnet s = {0};

		assert_int_equal(store_obj_get(f->s, STORE_SUBNET, sn, &s, &e), 0);
		snprintf(s.interface, sizeof(s.interface), "eth1");
		assert_int_equal(store_obj_replace(f->s, STORE_SUBNET, &s, 0, &e), 0);
		recon_kick(f->r, s.rev, RECON_SUBNET, s.id);
		assert_int_equal(recon_wait(f->r, s.rev, WAIT_MS), 0);
		assert_int_equal(fk.a[0].ifindex, 3);
		model_subnet_clear(&s);
	}
	repairs(f, rep);
	assert_int_equal(rep[0] + rep[1] + rep[2], 0);
	recon_stats(f->r, &st);
	assert_int_equal(st.drift_repairs_forwarding + st.drift_repairs_nft, 0);

	/* Drift is still drift. */
	pthread_mutex_lock(&fk.lock);
	fake_route_del(fake_route_at(200, 10, 2, 0));
	pthread_mutex_unlock(&fk.lock);
	{
		uint64_t one = 1;

		assert_int_equal(write(fk.efd, &one, sizeof(one)), sizeof(one));
	}
	for (int i = 0; i < 200; i++) {
		repairs(f, rep);
		if (rep[0])
			break;
		usleep(10 * 1000);
	}
	assert_int_equal(rep[0], 1);
	assert_int_equal(routes_in(200, UINT32_MAX), 4);
	model_rtb_clear(&t);
	model_rtb_clear(&t2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_incremental_and_status, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replace_delete, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_route_batch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drift_repair, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_doc_hold, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_table_renumber, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_subnets_settings, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_assoc, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_assoc_whole, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_renumber_not_drift, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_preapply_failed_commit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_preapply_hold, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
