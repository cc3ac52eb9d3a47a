/*
 * Fleet mode's store side (core/store_replica.c): the change capture a commit
 * hands to its hook, a hook refusing a write, the group savepoint case, and
 * the applier's raw writes keeping the stamps etcd carries.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "model.h"
#include "store.h"

#define SEEN_MAX 32

/* What the hook was handed, call by call (the last call's list in seen). */
struct rec {
	struct store_change seen[SEEN_MAX];
	size_t n;
	int calls;
	int fail_call;     /* refuse this call (1-based); 0: never */
	int64_t rev_seen;  /* the store's revision inside the hook */
	int64_t obj_rev;   /* the rev of the first put object, read inside the hook */
	char obj_desc[64]; /* its description, as the transaction wrote it */
};

struct fx {
	char dir[PATH_MAX];
	char path[PATH_MAX];
	struct store *s;
	struct rec rec;
};

static int hook(void *arg, struct store *s, const struct store_change *ch, size_t n,
                struct vr_err *e)
{
	struct rec *r = arg;
	struct vr_err ge = {0};

	r->calls++;
	r->n = n < SEEN_MAX ? n : SEEN_MAX;
	memcpy(r->seen, ch, r->n * sizeof(*ch));
	assert_int_equal(store_meta_get(s, "revision", &r->rev_seen, &ge), 0);
	r->obj_rev = 0;
	if (n && !ch[0].del && ch[0].kind == STORE_ROUTE) {
		struct route rt = {0};

		assert_int_equal(store_obj_get(s, STORE_ROUTE, ch[0].id, &rt, &ge), 0);
		r->obj_rev = rt.rev;
		snprintf(r->obj_desc, sizeof(r->obj_desc), "%s",
		         rt.description ? rt.description : "");
		model_route_clear(&rt);
	}
	if (r->calls == r->fail_call)
		return err_set(e, VR_ERR_UNAVAILABLE, "", "etcd unreachable: test");
	return 0;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct vr_err e = {0};

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s/vr-replica-XXXXXX", getenv("TMPDIR") ?: "/tmp");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/vrouter.db", f->dir);
	assert_int_equal(store_open(f->path, &f->s, &e), 0);
	assert_int_equal(store_set_commit_hook(f->s, hook, &f->rec, &e), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX + 8];

	store_close(f->s);
	unlink(f->path);
	snprintf(p, sizeof(p), "%s-wal", f->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", f->path);
	unlink(p);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void mkroute(struct route *r, const char *id, const char *table, const char *dst,
                    const char *desc)
{
	struct vr_err e = {0};

	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", id);
	snprintf(r->table_id, sizeof(r->table_id), "%s", table);
	snprintf(r->destination, sizeof(r->destination), "%s", dst);
	r->type = ROUTE_BLACKHOLE;
	r->description = desc ? strdup(desc) : NULL;
	assert_int_equal(model_route_validate(r, &e), 0);
}

static void mksg(struct security_group *g, const char *id, const char *name, const char *target)
{
	memset(g, 0, sizeof(*g));
	snprintf(g->id, sizeof(g->id), "%s", id);
	snprintf(g->name, sizeof(g->name), "%s", name);
	if (target) {
		g->targets = calloc(1, sizeof(*g->targets));
		assert_non_null(g->targets);
		snprintf(g->targets[0].text, sizeof(g->targets[0].text), "%s", target);
		g->ntargets = 1;
	}
}

static void mkrule(struct sg_rule *r, const char *id, const char *group, int port)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", id);
	snprintf(r->group_id, sizeof(r->group_id), "%s", group);
	r->direction = SG_INGRESS;
	r->protocol = SG_PROTO_TCP;
	r->port_from_set = r->port_to_set = true;
	r->port_from_in = r->port_to_in = port;
	snprintf(r->cidr_text, sizeof(r->cidr_text), "10.0.0.0/8");
}

static void expect_change(const struct rec *r, size_t i, int kind, const char *id, bool del)
{
	assert_true(i < r->n);
	assert_int_equal(r->seen[i].kind, kind);
	assert_string_equal(r->seen[i].id, id);
	assert_int_equal(r->seen[i].del, del);
}

/* Create, replace, delete of a table and a route: one change each, put or delete. */
static void test_capture_rtb_route(void **state)
{
	struct fx *f = *state;
	struct route_table t = {0};
	struct route r;
	struct vr_err e = {0};

	snprintf(t.id, sizeof(t.id), "rtb-a1");
	snprintf(t.name, sizeof(t.name), "a");
	t.table = 100;
	assert_int_equal(store_obj_create(f->s, STORE_RTB, &t, &e), STORE_CREATED);
	assert_int_equal(f->rec.calls, 1);
	assert_int_equal(f->rec.n, 1);
	expect_change(&f->rec, 0, STORE_RTB, "rtb-a1", false);

	mkroute(&r, "rt-1", "rtb-a1", "10.1.0.0/16", "one");
	assert_int_equal(store_obj_create(f->s, STORE_ROUTE, &r, &e), STORE_CREATED);
	assert_int_equal(f->rec.calls, 2);
	assert_int_equal(f->rec.n, 1);
	expect_change(&f->rec, 0, STORE_ROUTE, "rt-1", false);
	/* The hook reads the new row, stamped with the transaction's revision. */
	assert_int_equal(f->rec.obj_rev, r.rev);
	assert_int_equal(f->rec.rev_seen, r.rev);
	assert_string_equal(f->rec.obj_desc, "one");

	free(r.description);
	r.description = strdup("two");
	assert_int_equal(store_obj_replace(f->s, STORE_ROUTE, &r, 0, &e), 0);
	assert_int_equal(f->rec.calls, 3);
	expect_change(&f->rec, 0, STORE_ROUTE, "rt-1", false);
	assert_string_equal(f->rec.obj_desc, "two");
	/* Unchanged: nothing written, no hook call. */
	assert_int_equal(store_obj_replace(f->s, STORE_ROUTE, &r, 0, &e), STORE_UNCHANGED);
	assert_int_equal(f->rec.calls, 3);

	assert_int_equal(store_obj_delete(f->s, STORE_ROUTE, "rt-1", 0, &e), 0);
	assert_int_equal(f->rec.calls, 4);
	assert_int_equal(f->rec.n, 1);
	expect_change(&f->rec, 0, STORE_ROUTE, "rt-1", true);
	assert_int_equal(store_obj_delete(f->s, STORE_RTB, "rtb-a1", 0, &e), 0);
	expect_change(&f->rec, 0, STORE_RTB, "rtb-a1", true);
	model_route_clear(&r);
	model_rtb_clear(&t);
}

static void test_capture_subnet_settings(void **state)
{
	struct fx *f = *state;
	struct subnet sn = {0};
	struct settings set = {.fwd_v4 = true};
	struct vr_err e = {0};

	snprintf(sn.id, sizeof(sn.id), "subnet-1");
	snprintf(sn.name, sizeof(sn.name), "lan");
	snprintf(sn.cidr_text, sizeof(sn.cidr_text), "10.5.0.0/24");
	snprintf(sn.interface, sizeof(sn.interface), "veth0");
	snprintf(sn.router_ip_text, sizeof(sn.router_ip_text), "10.5.0.1");
	snprintf(sn.table_id, sizeof(sn.table_id), "%s", RTB_MAIN_ID);
	assert_int_equal(model_subnet_validate(&sn, &e), 0);
	assert_int_equal(store_obj_create(f->s, STORE_SUBNET, &sn, &e), STORE_CREATED);
	expect_change(&f->rec, 0, STORE_SUBNET, "subnet-1", false);
	assert_int_equal(store_obj_delete(f->s, STORE_SUBNET, "subnet-1", 0, &e), 0);
	expect_change(&f->rec, 0, STORE_SUBNET, "subnet-1", true);

	/* Settings are a router's: the change names the router. */
	assert_int_equal(store_settings_put(f->s, &set, 0, &e), 0);
	assert_int_equal(f->rec.n, 1);
	expect_change(&f->rec, 0, STORE_KIND_SETTINGS, ROUTER_LOCAL, false);
	/* A router's first write makes its main table too: both go to etcd. */
	snprintf(set.router, sizeof(set.router), "r2");
	assert_int_equal(store_settings_put(f->s, &set, 0, &e), 0);
	assert_int_equal(f->rec.n, 2);
	expect_change(&f->rec, 0, STORE_RTB, "rtb-main-r2", false);
	expect_change(&f->rec, 1, STORE_KIND_SETTINGS, "r2", false);
	model_subnet_clear(&sn);
}

/*
 * A group's targets are its own change; its delete takes its rules along,
 * and they are listed as deleted in the same call.
 */
static void test_capture_sg_cascade(void **state)
{
	struct fx *f = *state;
	struct security_group g;
	struct sg_rule r1, r2;
	struct vr_err e = {0};

	mksg(&g, "sg-1", "web", "10.9.0.0/16");
	assert_int_equal(store_obj_create(f->s, STORE_SG, &g, &e), STORE_CREATED);
	assert_int_equal(f->rec.n, 1);
	expect_change(&f->rec, 0, STORE_SG, "sg-1", false);
	mkrule(&r1, "sgr-1", "sg-1", 22);
	mkrule(&r2, "sgr-2", "sg-1", 80);
	assert_int_equal(store_obj_create(f->s, STORE_SGR, &r1, &e), STORE_CREATED);
	expect_change(&f->rec, 0, STORE_SGR, "sgr-1", false);
	assert_int_equal(store_obj_create(f->s, STORE_SGR, &r2, &e), STORE_CREATED);

	/* New targets only: still one change, the group's. */
	snprintf(g.targets[0].text, sizeof(g.targets[0].text), "10.8.0.0/16");
	assert_int_equal(store_obj_replace(f->s, STORE_SG, &g, 0, &e), 0);
	assert_int_equal(f->rec.n, 1);
	expect_change(&f->rec, 0, STORE_SG, "sg-1", false);

	f->rec.calls = 0;
	assert_int_equal(store_obj_delete(f->s, STORE_SG, "sg-1", 0, &e), 0);
	assert_int_equal(f->rec.calls, 1);
	assert_int_equal(f->rec.n, 3);
	expect_change(&f->rec, 0, STORE_SG, "sg-1", true);
	expect_change(&f->rec, 1, STORE_SGR, "sgr-1", true);
	expect_change(&f->rec, 2, STORE_SGR, "sgr-2", true);
	model_sg_clear(&g);
	model_sg_rule_clear(&r1);
	model_sg_rule_clear(&r2);
}

/* A refusing hook fails the verb with its error and leaves the rows as they were. */
static void test_hook_refuses(void **state)
{
	struct fx *f = *state;
	struct route r, got = {0};
	struct vr_err e = {0};
	int64_t rev;

	mkroute(&r, "rt-2", RTB_MAIN_ID, "10.2.0.0/16", "kept");
	assert_int_equal(store_obj_create(f->s, STORE_ROUTE, &r, &e), STORE_CREATED);
	rev = store_revision(f->s);

	/* A create refused: nothing stored, no revision used. */
	f->rec.calls = 0;
	f->rec.fail_call = 1;
	{
		struct route x;

		mkroute(&x, "rt-3", RTB_MAIN_ID, "10.3.0.0/16", NULL);
		assert_int_equal(store_obj_create(f->s, STORE_ROUTE, &x, &e), -1);
		assert_int_equal(e.code, VR_ERR_UNAVAILABLE);
		assert_string_equal(e.msg, "etcd unreachable: test");
		model_route_clear(&x);
	}
	assert_int_equal(store_obj_get(f->s, STORE_ROUTE, "rt-3", &got, &e), -1);
	assert_int_equal(e.code, VR_ERR_NOT_FOUND);
	assert_int_equal(store_revision(f->s), rev);

	/* A replace refused: the old body and rev stay. */
	f->rec.calls = 0;
	free(r.description);
	r.description = strdup("changed");
	assert_int_equal(store_obj_replace(f->s, STORE_ROUTE, &r, 0, &e), -1);
	assert_int_equal(store_obj_get(f->s, STORE_ROUTE, "rt-2", &got, &e), 0);
	assert_string_equal(got.description, "kept");
	assert_int_equal(got.rev, rev);
	model_route_clear(&got);

	/* A delete refused: still there. */
	f->rec.calls = 0;
	assert_int_equal(store_obj_delete(f->s, STORE_ROUTE, "rt-2", 0, &e), -1);
	assert_int_equal(store_obj_get(f->s, STORE_ROUTE, "rt-2", &got, &e), 0);
	model_route_clear(&got);
	assert_int_equal(store_revision(f->s), rev);

	/* The next write goes through, and its list holds only its own change. */
	f->rec.fail_call = 0;
	assert_int_equal(store_obj_delete(f->s, STORE_ROUTE, "rt-2", 0, &e), 0);
	assert_int_equal(f->rec.n, 1);
	expect_change(&f->rec, 0, STORE_ROUTE, "rt-2", true);
	model_route_clear(&r);
}

/* In a group each write's savepoint is its own hook call; a refused one is undone alone. */
static void test_group_savepoints(void **state)
{
	struct fx *f = *state;
	struct route a, b, c, got = {0};
	struct vr_err e = {0};

	mkroute(&a, "rt-a", RTB_MAIN_ID, "10.10.0.0/16", NULL);
	mkroute(&b, "rt-b", RTB_MAIN_ID, "10.11.0.0/16", NULL);
	mkroute(&c, "rt-c", RTB_MAIN_ID, "10.12.0.0/16", NULL);
	f->rec.calls = 0;
	f->rec.fail_call = 2;
	assert_int_equal(store_group_begin(f->s, &e), 0);
	assert_int_equal(store_obj_create(f->s, STORE_ROUTE, &a, &e), STORE_CREATED);
	assert_int_equal(f->rec.n, 1);
	expect_change(&f->rec, 0, STORE_ROUTE, "rt-a", false);
	assert_int_equal(store_obj_create(f->s, STORE_ROUTE, &b, &e), -1);
	assert_int_equal(e.code, VR_ERR_UNAVAILABLE);
	assert_int_equal(f->rec.n, 1);
	expect_change(&f->rec, 0, STORE_ROUTE, "rt-b", false);
	assert_int_equal(store_obj_create(f->s, STORE_ROUTE, &c, &e), STORE_CREATED);
	assert_int_equal(f->rec.n, 1);
	expect_change(&f->rec, 0, STORE_ROUTE, "rt-c", false);
	assert_int_equal(store_group_end(f->s, &e), 0);
	assert_int_equal(f->rec.calls, 3);
	assert_int_equal(store_obj_get(f->s, STORE_ROUTE, "rt-a", &got, &e), 0);
	model_route_clear(&got);
	assert_int_equal(store_obj_get(f->s, STORE_ROUTE, "rt-b", &got, &e), -1);
	assert_int_equal(store_obj_get(f->s, STORE_ROUTE, "rt-c", &got, &e), 0);
	model_route_clear(&got);
	model_route_clear(&a);
	model_route_clear(&b);
	model_route_clear(&c);
}

/* The applier's writes: stamps as given, no hook call, deletes of absent rows are fine. */
static void test_replica_writes(void **state)
{
	struct fx *f = *state;
	struct route r, got = {0};
	struct settings set = {.fwd_v6 = true, .managed = true, .rev = 41}, sg = {0};
	struct vr_err e = {0};
	char(*ids)[ID_MAX] = NULL;
	int64_t v;
	size_t n;

	mkroute(&r, "rt-9a", "rtb-1f", "10.9.0.0/16", "from etcd");
	r.rev = 42;
	snprintf(r.created_at, sizeof(r.created_at), "2026-12-01T00:00:00.000Z");
	snprintf(r.updated_at, sizeof(r.updated_at), "2026-12-02T00:00:00.000Z");
	snprintf(set.updated_at, sizeof(set.updated_at), "2026-12-03T00:00:00.000Z");
	f->rec.calls = 0;
	assert_int_equal(store_replica_begin(f->s, &e), 0);
	/* The route before its table: foreign keys are checked at the commit. */
	assert_int_equal(store_replica_put(f->s, STORE_ROUTE, &r, &e), 0);
	{
		struct route_table t = {0};

		snprintf(t.id, sizeof(t.id), "rtb-1f");
		snprintf(t.name, sizeof(t.name), "x");
		t.table = 300;
		t.rev = 40;
		snprintf(t.created_at, sizeof(t.created_at), "2026-12-01T00:00:00.000Z");
		snprintf(t.updated_at, sizeof(t.updated_at), "2026-12-01T00:00:00.000Z");
		assert_int_equal(store_replica_put(f->s, STORE_RTB, &t, &e), 0);
	}
	assert_int_equal(store_replica_delete(f->s, STORE_ROUTE, "rt-abc", &e), 0);
	assert_int_equal(store_replica_settings(f->s, &set, &e), 0);
	assert_int_equal(store_replica_set_revision(f->s, 42, &e), 0);
	assert_int_equal(store_meta_set(f->s, "etcd_revision", 1234, &e), 0);
	assert_int_equal(store_replica_commit(f->s, &e), 0);
	store_replica_end(f->s);
	assert_int_equal(f->rec.calls, 0);

	assert_int_equal(store_obj_get(f->s, STORE_ROUTE, "rt-9a", &got, &e), 0);
	assert_int_equal(got.rev, 42);
	assert_int_equal(got.table, 300);
	assert_string_equal(got.created_at, "2026-12-01T00:00:00.000Z");
	assert_string_equal(got.updated_at, "2026-12-02T00:00:00.000Z");
	assert_string_equal(got.description, "from etcd");
	model_route_clear(&got);
	assert_int_equal(store_settings_get(f->s, &sg, &e), 0);
	assert_true(sg.fwd_v6);
	assert_int_equal(sg.rev, 41);
	assert_int_equal(store_revision(f->s), 42);
	assert_int_equal(store_meta_get(f->s, "etcd_revision", &v, &e), 0);
	assert_int_equal(v, 1234);
	assert_int_equal(store_meta_get(f->s, "absent", &v, &e), 0);
	assert_int_equal(v, 0);
	assert_int_equal(store_replica_ids(f->s, STORE_ROUTE, &ids, &n, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], "rt-9a");
	free(ids);

	/* A put over a stored one replaces it; a dangling reference fails the commit. */
	free(r.description);
	r.description = strdup("again");
	r.rev = 43;
	assert_int_equal(store_replica_begin(f->s, &e), 0);
	assert_int_equal(store_replica_put(f->s, STORE_ROUTE, &r, &e), 0);
	assert_int_equal(store_replica_commit(f->s, &e), 0);
	store_replica_end(f->s);
	assert_int_equal(store_obj_get(f->s, STORE_ROUTE, "rt-9a", &got, &e), 0);
	assert_int_equal(got.rev, 43);
	assert_string_equal(got.description, "again");
	model_route_clear(&got);
	{
		struct route d;

		mkroute(&d, "rt-d0", "rtb-ee", "10.77.0.0/16", NULL);
		assert_int_equal(store_replica_begin(f->s, &e), 0);
		assert_int_equal(store_replica_put(f->s, STORE_ROUTE, &d, &e), 0);
		assert_int_equal(store_replica_commit(f->s, &e), -1);
		store_replica_end(f->s);
		assert_int_equal(store_obj_get(f->s, STORE_ROUTE, "rt-d0", &got, &e), -1);
		model_route_clear(&d);
	}
	/* The hook is back on for ordinary writes. */
	assert_int_equal(store_obj_delete(f->s, STORE_ROUTE, "rt-9a", 0, &e), 0);
	assert_int_equal(f->rec.calls, 1);
	model_route_clear(&r);
}

/* Names and table numbers swapped in one replica transaction: they step aside first. */
static void test_replica_swap(void **state)
{
	struct fx *f = *state;
	struct security_group a, b, got = {0};
	struct route_table p = {0}, q = {0}, t = {0};
	struct sg_rule r;
	struct vr_err e = {0};

	mksg(&a, "sg-a", "x", NULL);
	mksg(&b, "sg-b", "y", NULL);
	assert_int_equal(store_obj_create(f->s, STORE_SG, &a, &e), STORE_CREATED);
	assert_int_equal(store_obj_create(f->s, STORE_SG, &b, &e), STORE_CREATED);
	mkrule(&r, "sgr-a", "sg-a", 443);
	assert_int_equal(store_obj_create(f->s, STORE_SGR, &r, &e), STORE_CREATED);
	snprintf(p.id, sizeof(p.id), "rtb-a");
	snprintf(p.name, sizeof(p.name), "p");
	p.table = 100;
	snprintf(q.id, sizeof(q.id), "rtb-b");
	snprintf(q.name, sizeof(q.name), "q");
	q.table = 101;
	assert_int_equal(store_obj_create(f->s, STORE_RTB, &p, &e), STORE_CREATED);
	assert_int_equal(store_obj_create(f->s, STORE_RTB, &q, &e), STORE_CREATED);
	snprintf(a.name, sizeof(a.name), "y");
	snprintf(b.name, sizeof(b.name), "x");
	snprintf(p.name, sizeof(p.name), "q");
	p.table = 101;
	snprintf(q.name, sizeof(q.name), "p");
	q.table = 100;

	/* Written over each other directly, the unique indexes refuse. */
	assert_int_equal(store_replica_begin(f->s, &e), 0);
	assert_int_equal(store_replica_put(f->s, STORE_SG, &a, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	store_replica_end(f->s);

	assert_int_equal(store_replica_begin(f->s, &e), 0);
	assert_int_equal(store_replica_make_way(f->s, STORE_SG, "sg-a", &e), 0);
	assert_int_equal(store_replica_make_way(f->s, STORE_SG, "sg-b", &e), 0);
	assert_int_equal(store_replica_make_way(f->s, STORE_RTB, "rtb-a", &e), 0);
	assert_int_equal(store_replica_make_way(f->s, STORE_RTB, "rtb-b", &e), 0);
	assert_int_equal(store_replica_make_way(f->s, STORE_RTB, "rtb-absent", &e), 0);
	if (store_replica_put(f->s, STORE_SG, &a, &e))
		fail_msg("%s", e.msg);
	assert_int_equal(store_replica_put(f->s, STORE_SG, &b, &e), 0);
	assert_int_equal(store_replica_put(f->s, STORE_RTB, &p, &e), 0);
	assert_int_equal(store_replica_put(f->s, STORE_RTB, &q, &e), 0);
	assert_int_equal(store_replica_commit(f->s, &e), 0);
	store_replica_end(f->s);

	assert_int_equal(store_obj_get(f->s, STORE_SG, "sg-a", &got, &e), 0);
	assert_string_equal(got.name, "y");
	model_sg_clear(&got);
	assert_int_equal(store_obj_get(f->s, STORE_RTB, "rtb-b", &t, &e), 0);
	assert_string_equal(t.name, "p");
	assert_int_equal(t.table, 100);
	model_rtb_clear(&t);
	/* The group stayed (parked, not deleted): its rule is still there. */
	{
		struct sg_rule x = {0};

		assert_int_equal(store_obj_get(f->s, STORE_SGR, "sgr-a", &x, &e), 0);
		model_sg_rule_clear(&x);
	}
	model_sg_clear(&a);
	model_sg_clear(&b);
	model_sg_rule_clear(&r);
	model_rtb_clear(&p);
	model_rtb_clear(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_capture_rtb_route, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_capture_subnet_settings, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_capture_sg_cascade, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hook_refuses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_group_savepoints, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replica_writes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replica_swap, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
