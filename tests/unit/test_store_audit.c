/* The audit log (core/store_audit.c) against real SQLite files in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "model.h"
#include "store.h"
#include "tmpdir.h"

struct fx {
	struct tmpdir_fx *t;
	struct store *s;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct vr_err e = {0};

	assert_non_null(f);
	f->t = tmpdir_fx_new("audit", "vrouter.db");
	assert_int_equal(store_open(f->t->path, &f->s, &e), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	store_audit_arm(NULL);
	store_close(f->s);
	tmpdir_fx_free(f->t);
	free(f);
	return 0;
}

static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void mkev(struct store_event *ev, const char *token, const char *method, const char *path,
                 int status)
{
	memset(ev, 0, sizeof(*ev));
	snprintf(ev->token, sizeof(ev->token), "%s", token);
	snprintf(ev->client, sizeof(ev->client), "192.0.2.7");
	snprintf(ev->method, sizeof(ev->method), "%s", method);
	snprintf(ev->path, sizeof(ev->path), "%s", path);
	ev->status = status;
}

static void mkroute(struct route *r, const char *table, const char *dst)
{
	struct vr_err e = {0};

	memset(r, 0, sizeof(*r));
	snprintf(r->table_id, sizeof(r->table_id), "%s", table);
	snprintf(r->destination, sizeof(r->destination), "%s", dst);
	r->type = ROUTE_UNICAST;
	snprintf(r->dev, sizeof(r->dev), "eth0");
	assert_int_equal(model_route_validate(r, &e), 0);
}

/* Every event (up to 100), newest first. */
static size_t all_events(struct store *s, const struct store_event_filter *flt,
                         struct store_event **v)
{
	struct vr_err e = {0};
	size_t n = 0;
	bool more = true;

	assert_int_equal(store_audit_list(s, flt, 0, 100, v, &n, &more, &e), 0);
	assert_false(more);
	return n;
}

/* create, replace and delete each record one event with the object, revision and status. */
static void test_writes_recorded(void **state)
{
	struct fx *f = *state;
	struct store_event c, u, d, *v = NULL;
	struct route r;
	struct vr_err e = {0};
	size_t n;

	mkroute(&r, RTB_MAIN_ID, "10.1.0.0/16");
	mkev(&c, "default", "POST", "/v1/routes", 201);
	store_audit_arm(&c);
	assert_int_equal(store_obj_create(f->s, STORE_ROUTE, &r, &e), STORE_CREATED);
	assert_true(c.id > 0);
	assert_string_equal(c.object_id, r.id);
	assert_int_equal(c.rev, r.rev);

	snprintf(r.dev, sizeof(r.dev), "eth1");
	mkev(&u, "default", "PUT", "/v1/routes/x", 200);
	store_audit_arm(&u);
	assert_int_equal(store_obj_replace(f->s, STORE_ROUTE, &r, 0, &e), 0);
	assert_true(u.id > c.id);

	mkev(&d, "default", "DELETE", "/v1/routes/x", 204);
	store_audit_arm(&d);
	assert_int_equal(store_obj_delete(f->s, STORE_ROUTE, r.id, 0, &e), 0);
	store_audit_arm(NULL);
	assert_true(d.id > u.id);

	n = all_events(f->s, NULL, &v);
	assert_int_equal(n, 3);
	/* Newest first. */
	assert_int_equal(v[0].id, d.id);
	assert_string_equal(v[0].method, "DELETE");
	assert_int_equal(v[0].status, 204);
	assert_string_equal(v[0].object_id, r.id);
	assert_int_equal(v[0].rev, store_revision(f->s));
	assert_string_equal(v[1].method, "PUT");
	assert_int_equal(v[1].rev, r.rev);
	assert_string_equal(v[2].method, "POST");
	assert_string_equal(v[2].token, "default");
	assert_string_equal(v[2].client, "192.0.2.7");
	assert_string_equal(v[2].path, "/v1/routes");
	assert_int_equal(v[2].status, 201);
	assert_false(v[2].has_plan);
	assert_true(v[2].time[0] != '\0');
	model_route_clear(&r);
	free(v);
}

/* A write refused inside its transaction leaves no event; an unarmed write records none. */
static void test_refused_write_no_event(void **state)
{
	struct fx *f = *state;
	struct store_event ev, *v = NULL;
	struct settings set = {.fwd_v4 = true};
	struct route r;
	struct vr_err e = {0};

	mkroute(&r, "rtb-00000000000000ff", "10.2.0.0/16");
	mkev(&ev, "default", "POST", "/v1/routes", 201);
	store_audit_arm(&ev);
	assert_int_equal(store_obj_create(f->s, STORE_ROUTE, &r, &e), -1);
	assert_int_equal(ev.id, 0);
	store_audit_arm(NULL);
	/* The reconciler's and adoption's writes are not requests. */
	assert_int_equal(store_settings_put(f->s, &set, 0, &e), 0);
	assert_int_equal(all_events(f->s, NULL, &v), 0);
	model_route_clear(&r);
	free(v);
}

/* The change and its event are one transaction: an event that cannot be written undoes the write.
 */
static void test_same_transaction(void **state)
{
	struct fx *f = *state;
	struct store_event ev, *v = NULL;
	struct route r, *got = NULL;
	struct vr_err e = {0};
	int64_t rev = store_revision(f->s);
	size_t n = 0;
	bool more;

	raw_exec(f->t->path, "CREATE TRIGGER no_events BEFORE INSERT ON events "
	                     "BEGIN SELECT RAISE(ABORT, 'audit log refused'); END");
	mkroute(&r, RTB_MAIN_ID, "10.3.0.0/16");
	mkev(&ev, "default", "POST", "/v1/routes", 201);
	store_audit_arm(&ev);
	assert_int_equal(store_obj_create(f->s, STORE_ROUTE, &r, &e), -1);
	store_audit_arm(NULL);
	assert_int_equal(ev.id, 0);
	assert_int_equal(store_revision(f->s), rev);
	assert_int_equal(
	    store_obj_list(f->s, STORE_ROUTE, NULL, NULL, 10, (void **)&got, &n, &more, &e), 0);
	assert_int_equal(n, 0);
	store_objs_free(STORE_ROUTE, got, n);

	raw_exec(f->t->path, "DROP TRIGGER no_events");
	model_route_clear(&r);
	mkroute(&r, RTB_MAIN_ID, "10.3.0.0/16");
	store_audit_arm(&ev);
	assert_int_equal(store_obj_create(f->s, STORE_ROUTE, &r, &e), STORE_CREATED);
	store_audit_arm(NULL);
	assert_int_equal(all_events(f->s, NULL, &v), 1);
	assert_string_equal(v[0].object_id, r.id);
	model_route_clear(&r);
	free(v);
}

/*
 * Group commit: three writes in one transaction, each in its own savepoint.
 * The one that fails is undone alone (no event, no revision); the other two
 * stand with their events once the group commits.
 */
static void test_group(void **state)
{
	struct fx *f = *state;
	struct store_event a, b, c, *v = NULL;
	struct route ra, rb, rc;
	struct vr_err e = {0};
	int64_t rev = store_revision(f->s);

	mkroute(&ra, RTB_MAIN_ID, "10.4.0.0/16");
	mkroute(&rb, "rtb-00000000000000ff", "10.5.0.0/16"); /* no such table */
	mkroute(&rc, RTB_MAIN_ID, "10.6.0.0/16");
	mkev(&a, "default", "POST", "/v1/routes", 201);
	mkev(&b, "default", "POST", "/v1/routes", 201);
	mkev(&c, "default", "POST", "/v1/routes", 201);
	assert_int_equal(store_group_begin(f->s, &e), 0);
	assert_int_equal(store_group_begin(f->s, &e), -1); /* not nested */
	store_audit_arm(&a);
	assert_int_equal(store_obj_create(f->s, STORE_ROUTE, &ra, &e), STORE_CREATED);
	store_audit_arm(&b);
	assert_int_equal(store_obj_create(f->s, STORE_ROUTE, &rb, &e), -1);
	store_audit_arm(&c);
	assert_int_equal(store_obj_create(f->s, STORE_ROUTE, &rc, &e), STORE_CREATED);
	store_audit_arm(NULL);
	/* Not durable yet: another handle sees none of it. */
	{
		struct store *other;
		struct route *got = NULL;
		size_t n = 9;
		bool more;

		assert_int_equal(store_open(f->t->path, &other, &e), 0);
		assert_int_equal(store_revision(other), rev);
		assert_int_equal(store_obj_list(other, STORE_ROUTE, NULL, NULL, 10, (void **)&got,
		                                &n, &more, &e),
		                 0);
		assert_int_equal(n, 0);
		store_objs_free(STORE_ROUTE, got, n);
		store_close(other);
	}
	assert_int_equal(store_group_end(f->s, &e), 0);
	assert_int_equal(store_group_end(f->s, &e), -1); /* none open any more */
	assert_true(a.id > 0);
	assert_int_equal(b.id, 0);
	assert_true(c.id > a.id);
	assert_int_equal(ra.rev, rev + 1);
	assert_int_equal(rc.rev, rev + 2);
	assert_int_equal(store_revision(f->s), rev + 2);
	assert_int_equal(all_events(f->s, NULL, &v), 2);
	assert_string_equal(v[0].object_id, rc.id);
	assert_string_equal(v[1].object_id, ra.id);
	/* Outside a group, writes commit one by one again. */
	model_route_clear(&rb);
	mkroute(&rb, RTB_MAIN_ID, "10.5.0.0/16");
	assert_int_equal(store_obj_create(f->s, STORE_ROUTE, &rb, &e), STORE_CREATED);
	assert_int_equal(store_revision(f->s), rev + 3);
	model_route_clear(&ra);
	model_route_clear(&rb);
	model_route_clear(&rc);
	free(v);
}

/* PUT /v1/config's event carries its plan's counts; the settings' event names "settings". */
static void test_config_plan_and_settings(void **state)
{
	struct fx *f = *state;
	struct store_config c = {0};
	struct store_diff d = {0};
	struct store_event ev, sev, *v = NULL;
	struct settings set = {.fwd_v6 = true};
	struct vr_err e = {0};

	c.routes = calloc(2, sizeof(*c.routes));
	assert_non_null(c.routes);
	c.nroutes = 2;
	mkroute(&c.routes[0], RTB_MAIN_ID, "10.4.0.0/16");
	mkroute(&c.routes[1], RTB_MAIN_ID, "10.5.0.0/16");
	mkev(&ev, "default", "PUT", "/v1/config", 200);
	store_audit_arm(&ev);
	assert_int_equal(store_config_replace(f->s, &c, 0, NULL, 0, false, &d, &e), 0);
	mkev(&sev, "default", "PUT", "/v1/settings", 200);
	store_audit_arm(&sev);
	assert_int_equal(store_settings_put(f->s, &set, 0, &e), 0);
	store_audit_arm(NULL);
	assert_int_equal(all_events(f->s, NULL, &v), 2);
	assert_string_equal(v[0].object_id, STORE_SETTINGS_ID);
	assert_false(v[0].has_plan);
	assert_true(v[1].has_plan);
	assert_int_equal(v[1].added, 2);
	assert_int_equal(v[1].removed, 0);
	assert_int_equal(v[1].changed, 0);
	/* rtb-main, there already */
	assert_int_equal(v[1].unchanged, 1);
	assert_string_equal(v[1].object_id, "");
	assert_int_equal(v[1].rev, d.rev);
	store_diff_free(&d);
	store_config_clear(&c);
	free(v);
}

/* A recording on its own, for a refused write; the bound drops the oldest. */
static void test_record_and_prune(void **state)
{
	struct fx *f = *state;
	struct store_event ev, *v = NULL;
	struct vr_err e = {0};
	char path[64];

	store_audit_keep(f->s, 3);
	for (int i = 1; i <= 5; i++) {
		snprintf(path, sizeof(path), "/v1/routes/rt-%d", i);
		mkev(&ev, "default", "DELETE", path, 404);
		assert_int_equal(store_audit_record(f->s, &ev, &e), 0);
		assert_int_equal(ev.id, i);
	}
	assert_int_equal(all_events(f->s, NULL, &v), 3);
	assert_string_equal(v[0].path, "/v1/routes/rt-5");
	assert_string_equal(v[2].path, "/v1/routes/rt-3");
	assert_int_equal(v[2].status, 404);
	assert_int_equal(v[2].rev, 0);
	free(v);
}

/* Pages of limit, newest first, continued before the last id; filters by object and token. */
static void test_paging_filters(void **state)
{
	struct fx *f = *state;
	struct store_event ev, *v = NULL;
	struct store_event_filter byobj = {.object_id = "rt-a"}, bytok = {.token = "ops"},
	                          both = {.object_id = "rt-a", .token = "ops"};
	struct vr_err e = {0};
	size_t n;
	bool more;

	for (int i = 0; i < 7; i++) {
		mkev(&ev, i % 2 ? "ops" : "default", "PUT", "/v1/routes/x", 422);
		snprintf(ev.object_id, sizeof(ev.object_id), "%s", i % 3 ? "rt-b" : "rt-a");
		assert_int_equal(store_audit_record(f->s, &ev, &e), 0);
	}
	assert_int_equal(store_audit_list(f->s, NULL, 0, 3, &v, &n, &more, &e), 0);
	assert_int_equal(n, 3);
	assert_true(more);
	assert_int_equal(v[0].id, 7);
	assert_int_equal(v[2].id, 5);
	free(v);
	assert_int_equal(store_audit_list(f->s, NULL, 5, 3, &v, &n, &more, &e), 0);
	assert_int_equal(n, 3);
	assert_true(more);
	assert_int_equal(v[0].id, 4);
	free(v);
	assert_int_equal(store_audit_list(f->s, NULL, 2, 3, &v, &n, &more, &e), 0);
	assert_int_equal(n, 1);
	assert_false(more);
	assert_int_equal(v[0].id, 1);
	free(v);
	/* ids 1, 4, 7 are rt-a; 2, 4, 6 are ops. */
	assert_int_equal(all_events(f->s, &byobj, &v), 3);
	assert_int_equal(v[0].id, 7);
	assert_int_equal(v[2].id, 1);
	free(v);
	assert_int_equal(all_events(f->s, &bytok, &v), 3);
	assert_int_equal(v[0].id, 6);
	assert_string_equal(v[0].token, "ops");
	free(v);
	assert_int_equal(all_events(f->s, &both, &v), 1);
	assert_int_equal(v[0].id, 4);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_writes_recorded, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused_write_no_event, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_same_transaction, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_group, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_plan_and_settings, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_record_and_prune, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_paging_filters, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
