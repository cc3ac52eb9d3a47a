/* The store (core/store_*.c) against real SQLite files in a temporary directory. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "embedded.h"
#include "model.h"
#include "store.h"

struct fx {
	char dir[PATH_MAX];
	char path[PATH_MAX];
	struct store *s;
};

static void db_remove(const char *path)
{
	char p[PATH_MAX + 8];

	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-journal", path);
	unlink(p);
}

/* One text value of a query run on a separate, raw connection. */
static void raw_query(const char *path, const char *sql, char *buf, size_t size)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	buf[0] = '\0';
	if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
		snprintf(buf, size, "%s", (const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	sqlite3_close(db);
}

static void raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct vr_err e = {0};

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "%s/vr-store-XXXXXX", getenv("TMPDIR") ?: "/tmp");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/vrouter.db", f->dir);
	assert_int_equal(store_open(f->path, &f->s, &e), 0);
	assert_non_null(f->s);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char v[64];

	store_close(f->s);
	/* Whatever a test did, the file it leaves must be sound. */
	raw_query(f->path, "PRAGMA integrity_check", v, sizeof(v));
	assert_string_equal(v, "ok");
	raw_query(f->path, "PRAGMA foreign_key_check", v, sizeof(v));
	assert_string_equal(v, "");
	db_remove(f->path);
	assert_int_equal(rmdir(f->dir), 0);
	free(f);
	return 0;
}

static void reopen(struct fx *f)
{
	struct vr_err e = {0};

	store_close(f->s);
	f->s = NULL;
	assert_int_equal(store_open(f->path, &f->s, &e), 0);
}

static void mkroute_type(struct route *r, enum route_type type, const char *id, const char *table,
                         const char *dst, uint32_t metric)
{
	struct vr_err e = {0};

	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", id ? id : "");
	snprintf(r->table_id, sizeof(r->table_id), "%s", table ? table : RTB_MAIN_ID);
	snprintf(r->destination, sizeof(r->destination), "%s", dst);
	r->type = type;
	r->metric = metric;
	assert_int_equal(model_route_validate(r, &e), 0);
}

static void mkroute(struct route *r, const char *id, const char *table, const char *dst,
                    const char *via, const char *dev, uint32_t metric)
{
	struct vr_err e = {0};

	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", id ? id : "");
	snprintf(r->table_id, sizeof(r->table_id), "%s", table ? table : RTB_MAIN_ID);
	snprintf(r->destination, sizeof(r->destination), "%s", dst);
	snprintf(r->via_text, sizeof(r->via_text), "%s", via ? via : "");
	snprintf(r->dev, sizeof(r->dev), "%s", dev ? dev : "");
	r->type = ROUTE_UNICAST;
	r->metric = metric;
	assert_int_equal(model_route_validate(r, &e), 0);
}

static void mkrtb(struct route_table *t, const char *id, const char *name, uint32_t table,
                  const char *desc)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->id, sizeof(t->id), "%s", id ? id : "");
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->table = table;
	t->description = desc ? strdup(desc) : NULL;
}

/* Create a route that must succeed; returns its revision. */
static int64_t add_route(struct store *s, struct route *r)
{
	struct vr_err e = {0};
	int rc = store_obj_create(s, STORE_ROUTE, r, &e);

	if (rc != STORE_CREATED)
		fail_msg("create %s: %d %s: %s", r->destination, (int)e.code, e.field, e.msg);
	return r->rev;
}

static void add_rtb(struct store *s, struct route_table *t)
{
	struct vr_err e = {0};
	int rc = store_obj_create(s, STORE_RTB, t, &e);

	if (rc != STORE_CREATED)
		fail_msg("create %s: %d %s: %s", t->name, (int)e.code, e.field, e.msg);
}

/* Everything the store holds, as text, to compare before and after a refused write. */
static char *snapshot(struct store *s)
{
	struct route_table *t = NULL;
	struct route *r = NULL;
	struct vr_err e = {0};
	size_t n, i, len = 0;
	bool more;
	char *buf = NULL;
	FILE *m = open_memstream(&buf, &len);

	assert_non_null(m);
	fprintf(m, "rev %lld\n", (long long)store_revision(s));
	assert_int_equal(store_obj_list(s, STORE_RTB, NULL, NULL, 1000, (void **)&t, &n, &more, &e),
	                 0);
	for (i = 0; i < n; i++)
		fprintf(m, "rtb %s|%s|%u|%s|%s|%s|%lld\n", t[i].id, t[i].name, t[i].table,
		        t[i].description ? t[i].description : "", t[i].created_at, t[i].updated_at,
		        (long long)t[i].rev);
	model_rtbs_free(t, n);
	assert_int_equal(
	    store_obj_list(s, STORE_ROUTE, NULL, NULL, 1000, (void **)&r, &n, &more, &e), 0);
	for (i = 0; i < n; i++)
		fprintf(m, "rt %s|%s|%s|%d|%s|%s|%u|%s|%s|%s|%lld\n", r[i].id, r[i].table_id,
		        r[i].destination, r[i].type, r[i].via_text, r[i].dev, r[i].metric,
		        r[i].description ? r[i].description : "", r[i].created_at, r[i].updated_at,
		        (long long)r[i].rev);
	model_routes_free(r, n);
	fclose(m);
	return buf;
}

/* ---- open and migrations ---- */

static void test_migrate_fresh(void **state)
{
	struct fx *f = *state;
	struct route_table t = {0};
	struct vr_err e = {0};
	char v[64], want[16];

	snprintf(want, sizeof(want), "%zu", embedded_migrations_n);
	raw_query(f->path, "PRAGMA user_version", v, sizeof(v));
	assert_string_equal(v, want);
	raw_query(f->path, "PRAGMA journal_mode", v, sizeof(v));
	assert_string_equal(v, "wal");
	/* The built-in table is the first write. */
	assert_int_equal(store_revision(f->s), 1);
	assert_int_equal(store_obj_get(f->s, STORE_RTB, RTB_MAIN_ID, &t, &e), 0);
	assert_string_equal(t.name, "main");
	assert_int_equal(t.table, RTB_MAIN_TABLE);
	assert_int_equal(t.rev, 1);
	assert_int_equal(strlen(t.created_at), 24);
	assert_string_equal(t.created_at, t.updated_at);
	model_rtb_clear(&t);
}

static void test_reopen_keeps_data(void **state)
{
	struct fx *f = *state;
	struct route r, got = {0};
	struct route_table main1 = {0}, main2 = {0};
	struct vr_err e = {0};
	char v[64];

	assert_int_equal(store_obj_get(f->s, STORE_RTB, RTB_MAIN_ID, &main1, &e), 0);
	mkroute(&r, NULL, NULL, "10.1.0.0/16", "192.0.2.1", NULL, 5);
	add_route(f->s, &r);
	assert_int_equal(store_revision(f->s), 2);

	reopen(f);
	assert_int_equal(store_revision(f->s), 2);
	assert_int_equal(store_obj_get(f->s, STORE_ROUTE, r.id, &got, &e), 0);
	assert_string_equal(got.destination, "10.1.0.0/16");
	assert_int_equal(got.metric, 5);
	/* A re-run migration would have re-created main with new timestamps (or failed). */
	assert_int_equal(store_obj_get(f->s, STORE_RTB, RTB_MAIN_ID, &main2, &e), 0);
	assert_string_equal(main1.created_at, main2.created_at);
	raw_query(f->path, "SELECT count(*) FROM route_tables", v, sizeof(v));
	assert_string_equal(v, "1");
	model_route_clear(&got);
	model_rtb_clear(&main1);
	model_rtb_clear(&main2);
}

static void test_newer_schema_refused(void **state)
{
	struct fx *f = *state;
	struct store *s2 = NULL;
	struct vr_err e = {0};
	char sql[64];

	store_close(f->s);
	f->s = NULL;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %zu", embedded_migrations_n + 1);
	raw_exec(f->path, sql);
	assert_int_equal(store_open(f->path, &s2, &e), -1);
	assert_null(s2);
	assert_int_equal(e.code, VR_ERR_INTERNAL);
	assert_non_null(strstr(e.msg, "newer than this vrouterd knows"));
	/* Put it back so teardown's checks see the database as it was. */
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %zu", embedded_migrations_n);
	raw_exec(f->path, sql);
	reopen(f);
}

static void test_open_errors(void **state)
{
	struct fx *f = *state;
	struct store *s2 = NULL;
	struct vr_err e = {0};
	char path[PATH_MAX + 16];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/missing/vrouter.db", f->dir);
	assert_int_equal(store_open(path, &s2, &e), -1);
	assert_null(s2);
	assert_int_equal(e.code, VR_ERR_INTERNAL);
	assert_non_null(strstr(e.msg, "cannot open database"));
	assert_non_null(strstr(e.msg, path));

	snprintf(path, sizeof(path), "%s/garbage.db", f->dir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	for (int i = 0; i < 512; i++)
		fputs("this is not an SQLite database. ", fp);
	fclose(fp);
	err_clear(&e);
	assert_int_equal(store_open(path, &s2, &e), -1);
	assert_null(s2);
	assert_int_equal(e.code, VR_ERR_INTERNAL);
	assert_non_null(strstr(e.msg, "cannot open database"));
	assert_non_null(strstr(e.msg, "not a database"));
	db_remove(path);
}

/* ---- revision ---- */

static void test_revision_bumps(void **state)
{
	struct fx *f = *state;
	struct route r, again, dup;
	struct route_table t;
	struct vr_err e = {0};
	int64_t rev = store_revision(f->s);

	mkrtb(&t, NULL, "blue", 0, NULL);
	add_rtb(f->s, &t);
	assert_int_equal(store_revision(f->s), rev + 1);
	assert_int_equal(t.rev, rev + 1);

	mkroute(&r, "rt-aa", NULL, "10.0.0.0/8", NULL, "eth0", 0);
	add_route(f->s, &r);
	assert_int_equal(r.rev, rev + 2);
	assert_int_equal(store_revision(f->s), rev + 2);

	/* Same id, same body: nothing written. */
	mkroute(&again, "rt-aa", NULL, "10.0.0.0/8", NULL, "eth0", 0);
	assert_int_equal(store_obj_create(f->s, STORE_ROUTE, &again, &e), STORE_EXISTS);
	assert_int_equal(store_revision(f->s), rev + 2);

	/* Refused write: nothing written. */
	mkroute(&dup, NULL, NULL, "10.0.0.0/8", NULL, "eth1", 0);
	assert_int_equal(store_obj_create(f->s, STORE_ROUTE, &dup, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_int_equal(store_revision(f->s), rev + 2);

	r.metric = 7;
	assert_int_equal(store_obj_replace(f->s, STORE_ROUTE, &r, 0, &e), 0);
	assert_int_equal(r.rev, rev + 3);
	assert_int_equal(store_obj_delete(f->s, STORE_ROUTE, r.id, 0, &e), 0);
	assert_int_equal(store_revision(f->s), rev + 4);
	assert_int_equal(store_obj_delete(f->s, STORE_RTB, t.id, 0, &e), 0);
	assert_int_equal(store_revision(f->s), rev + 5);
	model_rtb_clear(&t);
}

/* ---- route tables ---- */

static void test_rtb_crud(void **state)
{
	struct fx *f = *state;
	struct route_table t, got = {0}, *v = NULL;
	struct vr_err e = {0};
	size_t n;
	bool more;

	mkrtb(&t, NULL, "blue", 0, "first");
	add_rtb(f->s, &t);
	assert_true(model_id_valid(t.id, "rtb-"));
	assert_int_equal(t.table, RTB_AUTO_FIRST);
	assert_string_equal(t.created_at, t.updated_at);

	assert_int_equal(store_obj_get(f->s, STORE_RTB, t.id, &got, &e), 0);
	assert_true(model_rtb_same(&t, &got));
	assert_string_equal(got.description, "first");
	assert_int_equal(got.rev, t.rev);
	assert_string_equal(got.created_at, t.created_at);
	model_rtb_clear(&got);

	/* table 0 on replace keeps the number; created_at stays. */
	free(t.description);
	t.description = strdup("second");
	t.table = 0;
	snprintf(t.name, sizeof(t.name), "bluer");
	assert_int_equal(store_obj_replace(f->s, STORE_RTB, &t, 0, &e), 0);
	assert_int_equal(t.table, RTB_AUTO_FIRST);
	assert_int_equal(store_obj_get(f->s, STORE_RTB, t.id, &got, &e), 0);
	assert_string_equal(got.name, "bluer");
	assert_string_equal(got.description, "second");
	assert_int_equal(got.table, RTB_AUTO_FIRST);
	assert_int_equal(got.rev, store_revision(f->s));
	assert_string_equal(got.created_at, t.created_at);
	assert_string_equal(got.updated_at, t.updated_at);
	model_rtb_clear(&got);

	/* Explicit renumbering. */
	t.table = 100;
	assert_int_equal(store_obj_replace(f->s, STORE_RTB, &t, 0, &e), 0);
	assert_int_equal(store_obj_get(f->s, STORE_RTB, t.id, &got, &e), 0);
	assert_int_equal(got.table, 100);
	model_rtb_clear(&got);

	assert_int_equal(
	    store_obj_list(f->s, STORE_RTB, NULL, NULL, 100, (void **)&v, &n, &more, &e), 0);
	assert_int_equal(n, 2);
	assert_false(more);
	/* Ordered by id: "rtb-<hex>" < "rtb-main" since digits and a-f sort before 'm'. */
	assert_string_equal(v[0].id, t.id);
	assert_string_equal(v[1].id, RTB_MAIN_ID);
	assert_null(v[1].description);
	model_rtbs_free(v, n);

	assert_int_equal(store_obj_delete(f->s, STORE_RTB, t.id, 0, &e), 0);
	assert_int_equal(store_obj_get(f->s, STORE_RTB, t.id, &got, &e), -1);
	assert_int_equal(e.code, VR_ERR_NOT_FOUND);
	err_clear(&e);
	assert_int_equal(store_obj_delete(f->s, STORE_RTB, t.id, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_NOT_FOUND);
	err_clear(&e);
	assert_int_equal(store_obj_replace(f->s, STORE_RTB, &t, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_NOT_FOUND);
	model_rtb_clear(&t);
}

static void test_rtb_main(void **state)
{
	struct fx *f = *state;
	struct route_table t, got = {0};
	struct vr_err e = {0};
	int64_t rev;

	assert_int_equal(store_obj_delete(f->s, STORE_RTB, RTB_MAIN_ID, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_non_null(strstr(e.msg, "cannot be deleted"));

	mkrtb(&t, RTB_MAIN_ID, "primary", 254, NULL);
	err_clear(&e);
	assert_int_equal(store_obj_replace(f->s, STORE_RTB, &t, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_string_equal(e.field, "name");
	assert_non_null(strstr(e.msg, "cannot be renamed"));
	model_rtb_clear(&t);

	mkrtb(&t, RTB_MAIN_ID, "main", 100, NULL);
	err_clear(&e);
	assert_int_equal(store_obj_replace(f->s, STORE_RTB, &t, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_string_equal(e.field, "table");
	assert_non_null(strstr(e.msg, "cannot be renumbered"));
	model_rtb_clear(&t);

	/* Retrying the creation of main itself is harmless. */
	rev = store_revision(f->s);
	mkrtb(&t, RTB_MAIN_ID, "main", 0, NULL);
	assert_int_equal(store_obj_create(f->s, STORE_RTB, &t, &e), STORE_EXISTS);
	assert_int_equal(t.table, 254);
	assert_int_equal(store_revision(f->s), rev);
	model_rtb_clear(&t);

	/* Its description is the user's. */
	mkrtb(&t, RTB_MAIN_ID, "main", 0, "the kernel's main table");
	assert_int_equal(store_obj_replace(f->s, STORE_RTB, &t, 0, &e), 0);
	assert_int_equal(t.table, 254);
	assert_int_equal(store_obj_get(f->s, STORE_RTB, RTB_MAIN_ID, &got, &e), 0);
	assert_string_equal(got.description, "the kernel's main table");
	assert_int_equal(got.table, 254);
	assert_int_equal(got.rev, rev + 1);
	model_rtb_clear(&got);
	model_rtb_clear(&t);
}

static void test_rtb_conflicts(void **state)
{
	struct fx *f = *state;
	struct route_table a, b;
	struct vr_err e = {0};

	mkrtb(&a, NULL, "blue", 100, NULL);
	add_rtb(f->s, &a);

	mkrtb(&b, NULL, "blue", 101, NULL);
	assert_int_equal(store_obj_create(f->s, STORE_RTB, &b, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_string_equal(e.field, "name");
	assert_non_null(strstr(e.msg, a.id));
	assert_int_equal(b.table, 101);
	model_rtb_clear(&b);

	mkrtb(&b, NULL, "green", 100, NULL);
	err_clear(&e);
	assert_int_equal(store_obj_create(f->s, STORE_RTB, &b, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_string_equal(e.field, "table");
	assert_non_null(strstr(e.msg, "table 100"));
	assert_non_null(strstr(e.msg, a.id));
	model_rtb_clear(&b);

	mkrtb(&b, NULL, "green", 254, NULL);
	err_clear(&e);
	assert_int_equal(store_obj_create(f->s, STORE_RTB, &b, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_string_equal(e.field, "table");
	assert_non_null(strstr(e.msg, RTB_MAIN_ID));
	model_rtb_clear(&b);

	/* A replace that collides with another table. */
	mkrtb(&b, NULL, "green", 0, NULL);
	add_rtb(f->s, &b);
	snprintf(b.name, sizeof(b.name), "blue");
	err_clear(&e);
	assert_int_equal(store_obj_replace(f->s, STORE_RTB, &b, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_string_equal(e.field, "name");

	/* Reserved numbers never get in, even past validation. */
	snprintf(b.name, sizeof(b.name), "green");
	b.table = 255;
	err_clear(&e);
	assert_int_equal(store_obj_replace(f->s, STORE_RTB, &b, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_INVALID);
	model_rtb_clear(&a);
	model_rtb_clear(&b);
}

static void test_rtb_auto_numbers(void **state)
{
	struct fx *f = *state;
	struct route_table a, b, c;
	struct vr_err e = {0};
	const uint32_t avoid[] = {RTB_AUTO_FIRST + 1, 5, RTB_AUTO_FIRST + 3};

	mkrtb(&a, NULL, "a", RTB_AUTO_FIRST, NULL);
	add_rtb(f->s, &a);
	mkrtb(&b, NULL, "b", RTB_AUTO_FIRST + 2, NULL);
	add_rtb(f->s, &b);

	/* 10000 and 10002 are taken by tables, 10001 and 10003 by the kernel. */
	mkrtb(&c, NULL, "c", 0, NULL);
	assert_int_equal(store_rtb_create(f->s, &c, avoid, 3, &e), STORE_CREATED);
	assert_int_equal(c.table, RTB_AUTO_FIRST + 4);
	model_rtb_clear(&c);

	mkrtb(&c, NULL, "d", 0, NULL);
	assert_int_equal(store_obj_create(f->s, STORE_RTB, &c, &e), STORE_CREATED);
	assert_int_equal(c.table, RTB_AUTO_FIRST + 1);
	model_rtb_clear(&c);

	model_rtb_clear(&a);
	model_rtb_clear(&b);
}

static void test_rtb_in_use(void **state)
{
	struct fx *f = *state;
	struct route_table t;
	struct route r;
	struct vr_err e = {0};
	int64_t rev;

	mkrtb(&t, NULL, "blue", 0, NULL);
	add_rtb(f->s, &t);
	mkroute(&r, NULL, t.id, "10.9.0.0/16", NULL, "eth0", 0);
	add_route(f->s, &r);
	assert_int_equal(r.table, t.table);

	rev = store_revision(f->s);
	assert_int_equal(store_obj_delete(f->s, STORE_RTB, t.id, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_REFERENCED);
	assert_non_null(strstr(e.msg, r.id));
	assert_int_equal(store_revision(f->s), rev);

	assert_int_equal(store_obj_delete(f->s, STORE_ROUTE, r.id, 0, &e), 0);
	assert_int_equal(store_obj_delete(f->s, STORE_RTB, t.id, 0, &e), 0);
	model_rtb_clear(&t);
}

/* ---- routes ---- */

static void test_route_crud(void **state)
{
	struct fx *f = *state;
	struct route r, got = {0}, *v = NULL;
	struct vr_err e = {0};
	struct ipaddr via;
	size_t n;
	bool more;

	mkroute(&r, NULL, NULL, "192.168.100.0/24", "192.168.150.3", "enp0s1", 0);
	r.description = strdup("to net02");
	add_route(f->s, &r);
	assert_true(model_id_valid(r.id, "rt-"));
	assert_int_equal(r.table, RTB_MAIN_TABLE);
	assert_string_equal(r.created_at, r.updated_at);

	assert_int_equal(store_obj_get(f->s, STORE_ROUTE, r.id, &got, &e), 0);
	assert_true(model_route_same(&r, &got));
	assert_string_equal(got.description, "to net02");
	assert_int_equal(got.table, RTB_MAIN_TABLE);
	assert_true(cidr_prefix_equal(&got.dst, &r.dst));
	assert_int_equal(cidr_parse_addr("192.168.150.3", &via), 0);
	assert_true(cidr_addr_equal(&got.via, &via));
	assert_int_equal(got.rev, r.rev);
	model_route_clear(&got);

	/* Replace: new body, created_at kept, no via now. */
	model_route_clear(&r);
	{
		char id[ID_MAX], created[TIME_MAX];

		snprintf(id, sizeof(id), "%s", r.id);
		snprintf(created, sizeof(created), "%s", r.created_at);
		mkroute_type(&r, ROUTE_BLACKHOLE, id, NULL, "192.168.100.0/24", 10);
		assert_int_equal(store_obj_replace(f->s, STORE_ROUTE, &r, 0, &e), 0);
		assert_string_equal(r.created_at, created);
	}
	assert_int_equal(store_obj_get(f->s, STORE_ROUTE, r.id, &got, &e), 0);
	assert_int_equal(got.type, ROUTE_BLACKHOLE);
	assert_int_equal(got.metric, 10);
	assert_string_equal(got.via_text, "");
	assert_string_equal(got.dev, "");
	assert_int_equal(got.via.family, 0);
	assert_null(got.description);
	assert_string_equal(got.created_at, r.created_at);
	assert_string_equal(got.updated_at, r.updated_at);
	model_route_clear(&got);

	assert_int_equal(
	    store_obj_list(f->s, STORE_ROUTE, NULL, NULL, 10, (void **)&v, &n, &more, &e), 0);
	assert_int_equal(n, 1);
	assert_false(more);
	assert_string_equal(v[0].id, r.id);
	model_routes_free(v, n);

	assert_int_equal(store_obj_delete(f->s, STORE_ROUTE, r.id, 0, &e), 0);
	assert_int_equal(store_obj_get(f->s, STORE_ROUTE, r.id, &got, &e), -1);
	assert_int_equal(e.code, VR_ERR_NOT_FOUND);
	err_clear(&e);
	assert_int_equal(store_obj_delete(f->s, STORE_ROUTE, r.id, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_NOT_FOUND);
	err_clear(&e);
	assert_int_equal(store_obj_replace(f->s, STORE_ROUTE, &r, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_NOT_FOUND);
	assert_int_equal(
	    store_obj_list(f->s, STORE_ROUTE, NULL, NULL, 10, (void **)&v, &n, &more, &e), 0);
	assert_int_equal(n, 0);
	model_routes_free(v, n);
}

static void expect_dup(struct store *s, struct route *r, const struct route *existing)
{
	struct vr_err e = {0};

	assert_int_equal(store_obj_create(s, STORE_ROUTE, r, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_string_equal(e.field, "destination");
	assert_non_null(strstr(e.msg, "already exists in table"));
	assert_non_null(strstr(e.msg, existing->id));
}

static void test_route_duplicates(void **state)
{
	struct fx *f = *state;
	struct route a, b, d4, d6, x;
	struct route_table t;
	struct vr_err e = {0};

	mkroute(&a, NULL, NULL, "192.168.100.0/24", "192.168.150.3", NULL, 0);
	add_route(f->s, &a);
	mkroute(&x, NULL, NULL, "192.168.100.0/24", NULL, "eth1", 0);
	expect_dup(f->s, &x, &a);
	{
		char want[256];

		snprintf(want, sizeof(want),
		         "a route to 192.168.100.0/24 with metric 0 already exists in table "
		         "rtb-main (%s); multipath",
		         a.id);
		assert_int_equal(store_obj_create(f->s, STORE_ROUTE, &x, &e), -1);
		/* The words, then why: one next hop per table, destination and metric. */
		assert_true(strncmp(e.msg, want, strlen(want)) == 0);
		assert_non_null(strstr(e.msg, "not supported"));
	}
	/* The type is not part of the kernel's key. */
	mkroute_type(&x, ROUTE_BLACKHOLE, NULL, NULL, "192.168.100.0/24", 0);
	expect_dup(f->s, &x, &a);

	/* Another metric, another table: fine. */
	mkroute(&b, NULL, NULL, "192.168.100.0/24", "192.168.150.3", NULL, 1);
	add_route(f->s, &b);
	mkrtb(&t, NULL, "blue", 0, NULL);
	add_rtb(f->s, &t);
	mkroute(&x, NULL, t.id, "192.168.100.0/24", "192.168.150.3", NULL, 0);
	add_route(f->s, &x);

	/* "default" and 0.0.0.0/0 are the same destination. */
	mkroute(&d4, NULL, NULL, "default", "192.0.2.1", NULL, 0);
	add_route(f->s, &d4);
	mkroute(&x, NULL, NULL, "0.0.0.0/0", "192.0.2.2", NULL, 0);
	expect_dup(f->s, &x, &d4);

	/* The kernel keeps IPv6 metric 0 as 1024. */
	mkroute(&d6, NULL, NULL, "2001:db8::/64", "2001:db8:1::1", NULL, 0);
	add_route(f->s, &d6);
	mkroute(&x, NULL, NULL, "2001:db8::/64", "2001:db8:1::2", NULL, 1024);
	expect_dup(f->s, &x, &d6);
	assert_int_equal(store_obj_create(f->s, STORE_ROUTE, &x, &e), -1);
	assert_non_null(strstr(e.msg, "1024"));
	mkroute(&x, NULL, NULL, "2001:db8::/64", "2001:db8:1::2", NULL, 1);
	add_route(f->s, &x);
	/* ... but IPv4 metric 0 and 1024 are two routes. */
	mkroute(&x, NULL, NULL, "192.168.100.0/24", "192.168.150.3", NULL, 1024);
	add_route(f->s, &x);

	/* A replace that collides. */
	b.metric = 0;
	err_clear(&e);
	assert_int_equal(store_obj_replace(f->s, STORE_ROUTE, &b, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_non_null(strstr(e.msg, a.id));
	/* A replace of a route onto its own key is no conflict. */
	a.description = strdup("same key");
	assert_int_equal(store_obj_replace(f->s, STORE_ROUTE, &a, 0, &e), 0);
	model_route_clear(&a);
	model_rtb_clear(&t);
}

static void test_route_unknown_table(void **state)
{
	struct fx *f = *state;
	struct route r;
	struct vr_err e = {0};
	int64_t rev = store_revision(f->s);

	mkroute(&r, NULL, "rtb-abc", "10.0.0.0/8", NULL, "eth0", 0);
	assert_int_equal(store_obj_create(f->s, STORE_ROUTE, &r, &e), -1);
	assert_int_equal(e.code, VR_ERR_INVALID);
	assert_string_equal(e.field, "route_table_id");
	assert_string_equal(e.msg, "route table \"rtb-abc\" does not exist");
	assert_int_equal(store_revision(f->s), rev);

	mkroute(&r, NULL, NULL, "10.0.0.0/8", NULL, "eth0", 0);
	add_route(f->s, &r);
	snprintf(r.table_id, sizeof(r.table_id), "rtb-abc");
	err_clear(&e);
	assert_int_equal(store_obj_replace(f->s, STORE_ROUTE, &r, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_INVALID);
	assert_string_equal(e.field, "route_table_id");
}

static void test_idempotent_create(void **state)
{
	struct fx *f = *state;
	struct route r, again, other;
	struct route_table t, t2;
	struct vr_err e = {0};
	int64_t rev;

	mkroute(&r, "rt-0123abcd", NULL, "10.2.0.0/16", NULL, "eth0", 3);
	r.description = strdup("retry me");
	add_route(f->s, &r);
	rev = store_revision(f->s);

	mkroute(&again, "rt-0123abcd", NULL, "10.2.0.0/16", NULL, "eth0", 3);
	again.description = strdup("retry me");
	assert_int_equal(store_obj_create(f->s, STORE_ROUTE, &again, &e), STORE_EXISTS);
	assert_int_equal(store_revision(f->s), rev);
	assert_string_equal(again.created_at, r.created_at);
	assert_int_equal(again.rev, r.rev);
	assert_int_equal(again.table, RTB_MAIN_TABLE);
	assert_string_equal(again.description, "retry me");
	model_route_clear(&again);

	mkroute(&other, "rt-0123abcd", NULL, "10.2.0.0/16", NULL, "eth0", 4);
	assert_int_equal(store_obj_create(f->s, STORE_ROUTE, &other, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_string_equal(e.field, "id");
	assert_string_equal(e.msg, "id rt-0123abcd already exists with a different body");
	assert_int_equal(store_revision(f->s), rev);
	model_route_clear(&r);

	/* Route tables; a retry without table matches the number assigned. */
	mkrtb(&t, "rtb-00ff", "blue", 0, "x");
	add_rtb(f->s, &t);
	rev = store_revision(f->s);
	mkrtb(&t2, "rtb-00ff", "blue", 0, "x");
	assert_int_equal(store_obj_create(f->s, STORE_RTB, &t2, &e), STORE_EXISTS);
	assert_int_equal(t2.table, t.table);
	assert_string_equal(t2.created_at, t.created_at);
	assert_int_equal(t2.rev, t.rev);
	model_rtb_clear(&t2);
	mkrtb(&t2, "rtb-00ff", "blue", t.table, "x");
	assert_int_equal(store_obj_create(f->s, STORE_RTB, &t2, &e), STORE_EXISTS);
	model_rtb_clear(&t2);
	mkrtb(&t2, "rtb-00ff", "blue", 0, "y");
	assert_int_equal(store_obj_create(f->s, STORE_RTB, &t2, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_string_equal(e.field, "id");
	assert_int_equal(t2.table, 0);
	assert_int_equal(store_revision(f->s), rev);
	model_rtb_clear(&t2);
	model_rtb_clear(&t);
}

static void test_if_match(void **state)
{
	struct fx *f = *state;
	struct route r;
	struct route_table t;
	struct vr_err e = {0};
	int64_t old;

	mkroute(&r, NULL, NULL, "10.3.0.0/16", NULL, "eth0", 0);
	add_route(f->s, &r);
	old = r.rev;
	r.metric = 1;
	assert_int_equal(store_obj_replace(f->s, STORE_ROUTE, &r, old, &e), 0);
	assert_true(r.rev > old);

	r.metric = 2;
	assert_int_equal(store_obj_replace(f->s, STORE_ROUTE, &r, old, &e), -1);
	assert_int_equal(e.code, VR_ERR_PRECONDITION);
	assert_non_null(strstr(e.msg, "If-Match"));
	assert_non_null(strstr(e.msg, "does not match the current ETag"));
	err_clear(&e);
	assert_int_equal(store_obj_delete(f->s, STORE_ROUTE, r.id, old, &e), -1);
	assert_int_equal(e.code, VR_ERR_PRECONDITION);
	assert_int_equal(store_obj_delete(f->s, STORE_ROUTE, r.id, r.rev, &e), 0);

	mkrtb(&t, NULL, "blue", 0, NULL);
	add_rtb(f->s, &t);
	old = t.rev;
	/* A change: a replace with the same fields would write nothing and keep the rev. */
	t.description = strdup("changed");
	assert_int_equal(store_obj_replace(f->s, STORE_RTB, &t, old, &e), 0);
	err_clear(&e);
	assert_int_equal(store_obj_replace(f->s, STORE_RTB, &t, old, &e), -1);
	assert_int_equal(e.code, VR_ERR_PRECONDITION);
	err_clear(&e);
	assert_int_equal(store_obj_delete(f->s, STORE_RTB, t.id, old, &e), -1);
	assert_int_equal(e.code, VR_ERR_PRECONDITION);
	assert_int_equal(store_obj_delete(f->s, STORE_RTB, t.id, t.rev, &e), 0);
	model_rtb_clear(&t);
}

static int count_route(void *arg, const struct route *r)
{
	(void)r;
	++*(int *)arg;
	return 0;
}

/*
 * Inside store_snapshot_begin, the store's own read functions (which begin
 * and end a read of their own) join the snapshot: a write by another handle
 * in between is not seen until the snapshot ends.
 */
static void test_snapshot_joins_reads(void **state)
{
	struct fx *f = *state;
	struct store *other = NULL;
	struct settings set;
	struct route r;
	struct vr_err e = {0};
	int64_t rev, rev2;
	int n = 0;

	mkroute(&r, NULL, NULL, "10.1.0.0/16", "192.0.2.1", NULL, 5);
	add_route(f->s, &r);
	model_route_clear(&r);
	assert_int_equal(store_open(f->path, &other, &e), 0);
	assert_int_equal(store_snapshot_begin(f->s, &set, &rev, &e), 0);
	mkroute(&r, NULL, NULL, "10.2.0.0/16", "192.0.2.1", NULL, 5);
	add_route(other, &r);
	model_route_clear(&r);
	assert_int_equal(store_routes_each(f->s, count_route, &n, &rev2, &e), 0);
	assert_int_equal(n, 1);
	assert_int_equal(rev2, rev);
	store_snapshot_end(f->s);
	n = 0;
	assert_int_equal(store_routes_each(f->s, count_route, &n, &rev2, &e), 0);
	assert_int_equal(n, 2);
	assert_true(rev2 > rev);
	store_close(other);
}

static void test_pagination(void **state)
{
	struct fx *f = *state;
	static const char *const ids[] = {"rt-05", "rt-01", "rt-04", "rt-02", "rt-03"};
	struct route r, *v = NULL;
	struct route_table t, *tv = NULL;
	struct vr_err e = {0};
	char dst[32];
	size_t n, i;
	bool more;

	for (i = 0; i < 5; i++) {
		snprintf(dst, sizeof(dst), "10.%zu.0.0/16", i);
		mkroute(&r, ids[i], NULL, dst, NULL, "eth0", 0);
		add_route(f->s, &r);
	}
	assert_int_equal(
	    store_obj_list(f->s, STORE_ROUTE, NULL, NULL, 2, (void **)&v, &n, &more, &e), 0);
	assert_int_equal(n, 2);
	assert_true(more);
	assert_string_equal(v[0].id, "rt-01");
	assert_string_equal(v[1].id, "rt-02");
	model_routes_free(v, n);
	assert_int_equal(
	    store_obj_list(f->s, STORE_ROUTE, NULL, "rt-02", 2, (void **)&v, &n, &more, &e), 0);
	assert_int_equal(n, 2);
	assert_true(more);
	assert_string_equal(v[0].id, "rt-03");
	assert_string_equal(v[1].id, "rt-04");
	model_routes_free(v, n);
	assert_int_equal(
	    store_obj_list(f->s, STORE_ROUTE, NULL, "rt-04", 2, (void **)&v, &n, &more, &e), 0);
	assert_int_equal(n, 1);
	assert_false(more);
	assert_string_equal(v[0].id, "rt-05");
	model_routes_free(v, n);
	/* Exactly a full page: no next. */
	assert_int_equal(
	    store_obj_list(f->s, STORE_ROUTE, NULL, "rt-02", 3, (void **)&v, &n, &more, &e), 0);
	assert_int_equal(n, 3);
	assert_false(more);
	model_routes_free(v, n);
	assert_int_equal(
	    store_obj_list(f->s, STORE_ROUTE, NULL, "rt-05", 2, (void **)&v, &n, &more, &e), 0);
	assert_int_equal(n, 0);
	assert_false(more);
	model_routes_free(v, n);
	/* More than LIST_INITIAL rows in one page exercise the array growth. */
	for (i = 0; i < 100; i++) {
		snprintf(dst, sizeof(dst), "10.200.%zu.0/24", i);
		mkroute(&r, NULL, NULL, dst, NULL, "eth0", 0);
		add_route(f->s, &r);
	}
	assert_int_equal(
	    store_obj_list(f->s, STORE_ROUTE, NULL, NULL, 1000, (void **)&v, &n, &more, &e), 0);
	assert_int_equal(n, 105);
	assert_false(more);
	for (i = 1; i < n; i++)
		assert_true(strcmp(v[i - 1].id, v[i].id) < 0);
	model_routes_free(v, n);

	mkrtb(&t, "rtb-01", "one", 0, NULL);
	add_rtb(f->s, &t);
	model_rtb_clear(&t);
	mkrtb(&t, "rtb-02", "two", 0, NULL);
	add_rtb(f->s, &t);
	model_rtb_clear(&t);
	assert_int_equal(
	    store_obj_list(f->s, STORE_RTB, NULL, NULL, 1, (void **)&tv, &n, &more, &e), 0);
	assert_int_equal(n, 1);
	assert_true(more);
	assert_string_equal(tv[0].id, "rtb-01");
	model_rtbs_free(tv, n);
	assert_int_equal(
	    store_obj_list(f->s, STORE_RTB, NULL, "rtb-01", 5, (void **)&tv, &n, &more, &e), 0);
	assert_int_equal(n, 2);
	assert_false(more);
	assert_string_equal(tv[0].id, "rtb-02");
	assert_string_equal(tv[1].id, RTB_MAIN_ID);
	model_rtbs_free(tv, n);
}

static void test_filter_by_table(void **state)
{
	struct fx *f = *state;
	struct route_table t;
	struct route r, *v = NULL;
	struct vr_err e = {0};
	size_t n, i;
	bool more;

	mkrtb(&t, NULL, "blue", 0, NULL);
	add_rtb(f->s, &t);
	mkroute(&r, "rt-1", NULL, "10.1.0.0/16", NULL, "eth0", 0);
	add_route(f->s, &r);
	mkroute(&r, "rt-2", t.id, "10.1.0.0/16", NULL, "eth0", 0);
	add_route(f->s, &r);
	mkroute(&r, "rt-3", t.id, "10.2.0.0/16", NULL, "eth0", 0);
	add_route(f->s, &r);

	assert_int_equal(store_obj_list(f->s, STORE_ROUTE, &(struct store_filter){.table_id = t.id},
	                                NULL, 10, (void **)&v, &n, &more, &e),
	                 0);
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++) {
		assert_string_equal(v[i].table_id, t.id);
		assert_int_equal(v[i].table, t.table);
	}
	assert_string_equal(v[0].id, "rt-2");
	model_routes_free(v, n);
	assert_int_equal(store_obj_list(f->s, STORE_ROUTE, &(struct store_filter){.table_id = t.id},
	                                "rt-2", 1, (void **)&v, &n, &more, &e),
	                 0);
	assert_int_equal(n, 1);
	assert_false(more);
	assert_string_equal(v[0].id, "rt-3");
	model_routes_free(v, n);
	assert_int_equal(store_obj_list(f->s, STORE_ROUTE,
	                                &(struct store_filter){.table_id = RTB_MAIN_ID}, NULL, 10,
	                                (void **)&v, &n, &more, &e),
	                 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].id, "rt-1");
	model_routes_free(v, n);
	assert_int_equal(store_obj_list(f->s, STORE_ROUTE,
	                                &(struct store_filter){.table_id = "rtb-none"}, NULL, 10,
	                                (void **)&v, &n, &more, &e),
	                 0);
	assert_int_equal(n, 0);
	model_routes_free(v, n);
	model_rtb_clear(&t);
}

static void test_failed_writes_change_nothing(void **state)
{
	struct fx *f = *state;
	struct route_table t, t2;
	struct route a, b, x;
	struct vr_err e = {0};
	char *before, *after;

	mkrtb(&t, NULL, "blue", 0, "d");
	add_rtb(f->s, &t);
	mkroute(&a, NULL, t.id, "10.1.0.0/16", NULL, "eth0", 0);
	add_route(f->s, &a);
	mkroute(&b, NULL, NULL, "2001:db8::/64", NULL, "eth0", 0);
	add_route(f->s, &b);
	before = snapshot(f->s);

	mkroute(&x, NULL, t.id, "10.1.0.0/16", NULL, "eth1", 0);
	assert_int_equal(store_obj_create(f->s, STORE_ROUTE, &x, &e), -1);
	mkroute(&x, NULL, "rtb-dead", "10.1.0.0/16", NULL, "eth1", 0);
	assert_int_equal(store_obj_create(f->s, STORE_ROUTE, &x, &e), -1);
	mkroute(&x, a.id, NULL, "10.1.0.0/16", NULL, "eth1", 0);
	assert_int_equal(store_obj_create(f->s, STORE_ROUTE, &x, &e), -1);
	mkroute(&x, b.id, NULL, "2001:db8::/64", NULL, "eth0", 1024);
	assert_int_equal(store_obj_replace(f->s, STORE_ROUTE, &x, b.rev + 100, &e), -1);
	assert_int_equal(e.code, VR_ERR_PRECONDITION);
	/* Moving a onto b's key (same table, IPv6 0 == 1024) fails after the revision bump. */
	mkroute(&x, a.id, NULL, "2001:db8::/64", NULL, "eth0", 1024);
	assert_int_equal(store_obj_replace(f->s, STORE_ROUTE, &x, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	/* Host bits set: the store validates again rather than trust its caller. */
	mkroute(&x, "rt-77", NULL, "10.0.0.0/8", NULL, "eth0", 0);
	snprintf(x.destination, sizeof(x.destination), "10.0.0.1/8");
	assert_int_equal(store_obj_create(f->s, STORE_ROUTE, &x, &e), -1);
	assert_int_equal(e.code, VR_ERR_INVALID);
	assert_int_equal(store_obj_delete(f->s, STORE_ROUTE, "rt-77", 0, &e), -1);
	assert_int_equal(store_obj_delete(f->s, STORE_RTB, t.id, 0, &e), -1);
	assert_int_equal(store_obj_delete(f->s, STORE_RTB, RTB_MAIN_ID, 0, &e), -1);
	mkrtb(&t2, NULL, "blue", 0, NULL);
	assert_int_equal(store_obj_create(f->s, STORE_RTB, &t2, &e), -1);
	model_rtb_clear(&t2);
	mkrtb(&t2, t.id, "main", 0, NULL);
	assert_int_equal(store_obj_replace(f->s, STORE_RTB, &t2, 0, &e), -1);
	model_rtb_clear(&t2);

	after = snapshot(f->s);
	assert_string_equal(before, after);
	free(before);
	free(after);
	model_rtb_clear(&t);
}

/* store_routes_each callback: keep a copy of each route (descriptions are not read). */
struct collected {
	struct route v[4];
	size_t n;
};

static int collect(void *arg, const struct route *r)
{
	struct collected *c = arg;

	assert_true(c->n < 4);
	c->v[c->n++] = *r;
	return 0;
}

/* Stops the walk after the first route. */
static int stop_after_one(void *arg, const struct route *r)
{
	(*(size_t *)arg)++;
	return 7;
}

static void test_routes_load(void **state)
{
	struct fx *f = *state;
	struct route_table t;
	struct route r, *v;
	struct collected c = {.n = 0};
	struct vr_err e = {0};
	size_t n;
	int64_t rev = 0;

	mkrtb(&t, NULL, "blue", 0, NULL);
	add_rtb(f->s, &t);
	mkroute(&r, "rt-a", t.id, "10.1.0.0/16", "10.0.0.1", NULL, 0);
	r.description = strdup("not loaded");
	add_route(f->s, &r);
	model_route_clear(&r);
	mkroute_type(&r, ROUTE_UNREACHABLE, "rt-b", NULL, "default", 0);
	add_route(f->s, &r);

	assert_int_equal(store_routes_each(f->s, collect, &c, &rev, &e), 0);
	v = c.v;
	n = c.n;
	assert_int_equal(rev, store_revision(f->s));
	assert_int_equal(n, 2);
	assert_string_equal(v[0].id, "rt-a");
	assert_int_equal(v[0].table, t.table);
	assert_null(v[0].description);
	assert_int_equal(v[0].dst.addr.family, AF_INET);
	assert_int_equal(v[0].dst.len, 16);
	assert_int_equal(v[0].via.family, AF_INET);
	assert_string_equal(v[1].id, "rt-b");
	assert_int_equal(v[1].table, RTB_MAIN_TABLE);
	assert_int_equal(v[1].type, ROUTE_UNREACHABLE);
	assert_int_equal(v[1].dst.len, 0);
	assert_int_equal(v[1].via.family, 0);
	/* The callback's non-zero answer ends the walk and comes back as is. */
	n = 0;
	assert_int_equal(store_routes_each(f->s, stop_after_one, &n, &rev, &e), 7);
	assert_int_equal(n, 1);
	model_rtb_clear(&t);
}

/* ---- security groups ---- */

#define NOPORT INT64_MIN

/* A group with heap targets (the store may swap them out), NULL-terminated list. */
static void mksg(struct security_group *g, const char *id, const char *name, const char *desc,
                 const char *const *targets)
{
	size_t n = 0;

	memset(g, 0, sizeof(*g));
	snprintf(g->id, sizeof(g->id), "%s", id ? id : "");
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->description = desc ? strdup(desc) : NULL;
	while (targets && targets[n])
		n++;
	if (!n)
		return;
	g->targets = calloc(n, sizeof(*g->targets));
	assert_non_null(g->targets);
	for (g->ntargets = 0; g->ntargets < n; g->ntargets++)
		snprintf(g->targets[g->ntargets].text, sizeof(g->targets[0].text), "%s",
		         targets[g->ntargets]);
}

static void mkrule(struct sg_rule *r, const char *id, const char *group, enum sg_direction dir,
                   enum sg_protocol proto, int64_t from, int64_t to, const char *cidr,
                   const char *remote)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->id, sizeof(r->id), "%s", id ? id : "");
	snprintf(r->group_id, sizeof(r->group_id), "%s", group);
	r->direction = dir;
	r->protocol = proto;
	r->port_from_set = from != NOPORT;
	r->port_from_in = from != NOPORT ? from : 0;
	r->port_to_set = to != NOPORT;
	r->port_to_in = to != NOPORT ? to : 0;
	snprintf(r->cidr_text, sizeof(r->cidr_text), "%s", cidr ? cidr : "");
	snprintf(r->remote_group_id, sizeof(r->remote_group_id), "%s", remote ? remote : "");
}

static void add_sg(struct store *s, struct security_group *g)
{
	struct vr_err e = {0};
	int rc = store_obj_create(s, STORE_SG, g, &e);

	if (rc != STORE_CREATED)
		fail_msg("create group %s: %d %s: %s", g->name, (int)e.code, e.field, e.msg);
}

static void add_rule(struct store *s, struct sg_rule *r)
{
	struct vr_err e = {0};
	int rc = store_obj_create(s, STORE_SGR, r, &e);

	if (rc != STORE_CREATED)
		fail_msg("create rule in %s: %d %s: %s", r->group_id, (int)e.code, e.field, e.msg);
}

/* Groups, targets and rules as text, to compare before and after refused writes. */
static char *sg_snapshot(struct store *s)
{
	struct security_group *g = NULL;
	struct sg_rule *r = NULL;
	struct vr_err e = {0};
	size_t n, i, j, len = 0;
	bool more;
	char *buf = NULL;
	FILE *m = open_memstream(&buf, &len);

	assert_non_null(m);
	fprintf(m, "rev %lld\n", (long long)store_revision(s));
	assert_int_equal(store_obj_list(s, STORE_SG, NULL, NULL, 1000, (void **)&g, &n, &more, &e),
	                 0);
	for (i = 0; i < n; i++) {
		fprintf(m, "sg %s|%s|%s|%s|%s|%lld|", g[i].id, g[i].name,
		        g[i].description ? g[i].description : "", g[i].created_at, g[i].updated_at,
		        (long long)g[i].rev);
		for (j = 0; j < g[i].ntargets; j++)
			fprintf(m, "%s,", g[i].targets[j].text);
		fputc('\n', m);
	}
	model_sgs_free(g, n);
	assert_int_equal(store_obj_list(s, STORE_SGR, NULL, NULL, 1000, (void **)&r, &n, &more, &e),
	                 0);
	for (i = 0; i < n; i++)
		fprintf(m, "sgr %s|%s|%d|%d|%d:%lld|%d:%lld|%s|%s|%s|%s|%s|%lld\n", r[i].id,
		        r[i].group_id, r[i].direction, r[i].protocol, r[i].port_from_set,
		        (long long)r[i].port_from_in, r[i].port_to_set, (long long)r[i].port_to_in,
		        r[i].cidr_text, r[i].remote_group_id,
		        r[i].description ? r[i].description : "", r[i].created_at, r[i].updated_at,
		        (long long)r[i].rev);
	model_sg_rules_free(r, n);
	fclose(m);
	return buf;
}

static const char *const web_targets[] = {"192.168.100.2", "local", "2001:DB8::/64", NULL};

static void test_sg_crud(void **state)
{
	static const char *const new_targets[] = {"2001:db8::/64", "10.0.0.0/8", NULL};
	struct fx *f = *state;
	struct security_group g, got = {0}, x, *v = NULL;
	struct vr_err e = {0};
	char created[TIME_MAX];
	int64_t rev = store_revision(f->s);
	size_t n;
	bool more;

	mksg(&g, NULL, "web", "web servers", web_targets);
	add_sg(f->s, &g);
	assert_true(strncmp(g.id, "sg-", 3) == 0);
	assert_int_equal(strlen(g.id), 3 + ID_HEX_NEW);
	assert_int_equal(g.rev, rev + 1);
	assert_int_equal(store_revision(f->s), rev + 1);
	assert_string_equal(g.created_at, g.updated_at);

	assert_int_equal(store_obj_get(f->s, STORE_SG, g.id, &got, &e), 0);
	assert_string_equal(got.name, "web");
	assert_string_equal(got.description, "web servers");
	assert_int_equal(got.ntargets, 3);
	/* As written, in the order given, and parsed. */
	assert_string_equal(got.targets[0].text, "192.168.100.2");
	assert_string_equal(got.targets[1].text, "local");
	assert_string_equal(got.targets[2].text, "2001:DB8::/64");
	assert_true(got.targets[1].local);
	assert_int_equal(got.targets[0].p.len, 32);
	assert_int_equal(got.targets[2].p.addr.family, AF_INET6);
	assert_int_equal(got.rev, g.rev);
	assert_true(model_sg_same(&g, &got));
	snprintf(created, sizeof(created), "%s", got.created_at);
	model_sg_clear(&got);

	/* Replace: new name, targets reordered and changed, no description. */
	mksg(&x, g.id, "web2", NULL, new_targets);
	assert_int_equal(store_obj_replace(f->s, STORE_SG, &x, g.rev + 7, &e), -1);
	assert_int_equal(e.code, VR_ERR_PRECONDITION);
	assert_int_equal(store_obj_replace(f->s, STORE_SG, &x, g.rev, &e), 0);
	assert_int_equal(x.rev, rev + 2);
	assert_int_equal(store_obj_get(f->s, STORE_SG, g.id, &got, &e), 0);
	assert_string_equal(got.name, "web2");
	assert_null(got.description);
	assert_int_equal(got.ntargets, 2);
	assert_string_equal(got.targets[0].text, "2001:db8::/64");
	assert_string_equal(got.targets[1].text, "10.0.0.0/8");
	assert_string_equal(got.created_at, created);
	model_sg_clear(&got);
	model_sg_clear(&x);

	/* Emptied: a group may have no targets. */
	mksg(&x, g.id, "web2", NULL, NULL);
	assert_int_equal(store_obj_replace(f->s, STORE_SG, &x, 0, &e), 0);
	assert_int_equal(store_obj_get(f->s, STORE_SG, g.id, &got, &e), 0);
	assert_int_equal(got.ntargets, 0);
	assert_null(got.targets);
	model_sg_clear(&got);
	model_sg_clear(&x);

	assert_int_equal(store_obj_list(f->s, STORE_SG, NULL, NULL, 10, (void **)&v, &n, &more, &e),
	                 0);
	assert_int_equal(n, 1);
	assert_false(more);
	model_sgs_free(v, n);

	mksg(&x, "sg-dead", "ghost", NULL, NULL);
	assert_int_equal(store_obj_replace(f->s, STORE_SG, &x, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_NOT_FOUND);
	model_sg_clear(&x);
	assert_int_equal(store_obj_get(f->s, STORE_SG, "sg-dead", &got, &e), -1);
	assert_int_equal(e.code, VR_ERR_NOT_FOUND);
	assert_int_equal(store_obj_delete(f->s, STORE_SG, g.id, 1, &e), -1);
	assert_int_equal(e.code, VR_ERR_PRECONDITION);
	assert_int_equal(store_obj_delete(f->s, STORE_SG, g.id, 0, &e), 0);
	assert_int_equal(store_obj_delete(f->s, STORE_SG, g.id, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_NOT_FOUND);
	assert_int_equal(store_revision(f->s), rev + 4);
	model_sg_clear(&g);
}

static void test_sg_conflicts(void **state)
{
	static const char *const reordered[] = {"local", "192.168.100.2", "2001:DB8::/64", NULL};
	struct fx *f = *state;
	struct security_group a, b, x;
	struct vr_err e = {0};
	int64_t rev;

	mksg(&a, "sg-0a", "web", NULL, web_targets);
	add_sg(f->s, &a);
	mksg(&b, NULL, "db", NULL, NULL);
	add_sg(f->s, &b);
	rev = store_revision(f->s);

	mksg(&x, NULL, "web", NULL, NULL);
	assert_int_equal(store_obj_create(f->s, STORE_SG, &x, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_string_equal(e.field, "name");
	assert_non_null(strstr(e.msg, "sg-0a"));
	model_sg_clear(&x);
	mksg(&x, b.id, "web", NULL, NULL);
	assert_int_equal(store_obj_replace(f->s, STORE_SG, &x, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_string_equal(e.field, "name");
	model_sg_clear(&x);

	/* Same id, same body: the stored object back, nothing written. */
	mksg(&x, "sg-0a", "web", NULL, web_targets);
	assert_int_equal(store_obj_create(f->s, STORE_SG, &x, &e), STORE_EXISTS);
	assert_int_equal(x.rev, a.rev);
	assert_string_equal(x.created_at, a.created_at);
	assert_true(x.targets[1].local);
	model_sg_clear(&x);
	/* Same targets in another order is another body. */
	mksg(&x, "sg-0a", "web", NULL, reordered);
	assert_int_equal(store_obj_create(f->s, STORE_SG, &x, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_string_equal(e.field, "id");
	model_sg_clear(&x);
	mksg(&x, "sg-0a", "web", "other", web_targets);
	assert_int_equal(store_obj_create(f->s, STORE_SG, &x, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	model_sg_clear(&x);
	/* The store validates rather than trust its caller. */
	mksg(&x, NULL, "bad", NULL, (const char *const[]){"10.0.0.1/8", NULL});
	assert_int_equal(store_obj_create(f->s, STORE_SG, &x, &e), -1);
	assert_int_equal(e.code, VR_ERR_INVALID);
	assert_string_equal(e.field, "targets[0]");
	model_sg_clear(&x);
	assert_int_equal(store_revision(f->s), rev);
	model_sg_clear(&a);
	model_sg_clear(&b);
}

static void test_sg_rule_crud(void **state)
{
	struct fx *f = *state;
	struct security_group g;
	struct sg_rule r, got = {0}, x;
	struct vr_err e = {0};
	int64_t rev;

	mksg(&g, NULL, "web", NULL, web_targets);
	add_sg(f->s, &g);
	rev = store_revision(f->s);

	mkrule(&r, NULL, g.id, SG_INGRESS, SG_PROTO_TCP, 22, 22, "192.168.150.0/24", NULL);
	r.description = strdup("ssh");
	add_rule(f->s, &r);
	assert_true(strncmp(r.id, "sgr-", 4) == 0);
	assert_int_equal(r.rev, rev + 1);
	assert_int_equal(store_obj_get(f->s, STORE_SGR, r.id, &got, &e), 0);
	assert_true(model_sg_rule_same(&r, &got));
	assert_true(got.has_ports);
	assert_int_equal(got.port_from, 22);
	assert_int_equal(got.cidr.len, 24);
	assert_string_equal(got.description, "ssh");
	assert_int_equal(got.rev, r.rev);
	model_sg_rule_clear(&got);

	/* Replace: no ports, a remote group instead of a cidr (itself), another direction. */
	mkrule(&x, r.id, g.id, SG_EGRESS, SG_PROTO_ALL, NOPORT, NOPORT, NULL, g.id);
	assert_int_equal(store_obj_replace(f->s, STORE_SGR, &x, r.rev + 1, &e), -1);
	assert_int_equal(e.code, VR_ERR_PRECONDITION);
	assert_int_equal(store_obj_replace(f->s, STORE_SGR, &x, r.rev, &e), 0);
	assert_int_equal(store_obj_get(f->s, STORE_SGR, r.id, &got, &e), 0);
	assert_false(got.port_from_set);
	assert_false(got.port_to_set);
	assert_false(got.has_ports);
	assert_string_equal(got.cidr_text, "");
	assert_string_equal(got.remote_group_id, g.id);
	assert_int_equal(got.direction, SG_EGRESS);
	assert_int_equal(got.protocol, SG_PROTO_ALL);
	assert_null(got.description);
	assert_string_equal(got.created_at, r.created_at);
	model_sg_rule_clear(&got);

	mkrule(&x, "sgr-dead", g.id, SG_EGRESS, SG_PROTO_ALL, NOPORT, NOPORT, "::/0", NULL);
	assert_int_equal(store_obj_replace(f->s, STORE_SGR, &x, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_NOT_FOUND);
	assert_int_equal(store_obj_get(f->s, STORE_SGR, "sgr-dead", &got, &e), -1);
	assert_int_equal(e.code, VR_ERR_NOT_FOUND);
	assert_int_equal(store_obj_delete(f->s, STORE_SGR, r.id, 1, &e), -1);
	assert_int_equal(e.code, VR_ERR_PRECONDITION);
	assert_int_equal(store_obj_delete(f->s, STORE_SGR, r.id, 0, &e), 0);
	assert_int_equal(store_obj_delete(f->s, STORE_SGR, r.id, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_NOT_FOUND);
	assert_int_equal(store_revision(f->s), rev + 3);
	model_sg_rule_clear(&r);
	model_sg_clear(&g);
}

static void test_sg_rule_refs(void **state)
{
	struct fx *f = *state;
	struct security_group g;
	struct sg_rule r, x;
	struct vr_err e = {0};
	int64_t rev;

	mksg(&g, NULL, "web", NULL, NULL);
	add_sg(f->s, &g);
	mkrule(&r, NULL, g.id, SG_INGRESS, SG_PROTO_ICMP, NOPORT, NOPORT, "0.0.0.0/0", NULL);
	add_rule(f->s, &r);
	rev = store_revision(f->s);

	mkrule(&x, NULL, "sg-dead", SG_INGRESS, SG_PROTO_TCP, NOPORT, NOPORT, "0.0.0.0/0", NULL);
	assert_int_equal(store_obj_create(f->s, STORE_SGR, &x, &e), -1);
	assert_int_equal(e.code, VR_ERR_INVALID);
	assert_string_equal(e.field, "security_group_id");
	assert_non_null(strstr(e.msg, "sg-dead"));
	mkrule(&x, NULL, g.id, SG_INGRESS, SG_PROTO_TCP, NOPORT, NOPORT, NULL, "sg-beef");
	assert_int_equal(store_obj_create(f->s, STORE_SGR, &x, &e), -1);
	assert_int_equal(e.code, VR_ERR_INVALID);
	assert_string_equal(e.field, "remote_security_group_id");
	assert_non_null(strstr(e.msg, "sg-beef"));
	mkrule(&x, r.id, "sg-dead", SG_INGRESS, SG_PROTO_ICMP, NOPORT, NOPORT, "0.0.0.0/0", NULL);
	assert_int_equal(store_obj_replace(f->s, STORE_SGR, &x, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_INVALID);
	assert_string_equal(e.field, "security_group_id");
	mkrule(&x, r.id, g.id, SG_INGRESS, SG_PROTO_ICMP, NOPORT, NOPORT, NULL, "sg-beef");
	assert_int_equal(store_obj_replace(f->s, STORE_SGR, &x, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_INVALID);
	assert_string_equal(e.field, "remote_security_group_id");
	/* Validated again in the store: icmp never matches an IPv6 peer. */
	mkrule(&x, NULL, g.id, SG_INGRESS, SG_PROTO_ICMP, NOPORT, NOPORT, "::/0", NULL);
	assert_int_equal(store_obj_create(f->s, STORE_SGR, &x, &e), -1);
	assert_int_equal(e.code, VR_ERR_INVALID);
	assert_string_equal(e.field, "cidr");
	assert_int_equal(store_revision(f->s), rev);
	model_sg_clear(&g);
}

static void test_sg_rule_duplicates(void **state)
{
	struct fx *f = *state;
	struct security_group a, b;
	struct sg_rule r1, r2, r3, x;
	struct vr_err e = {0};
	int64_t rev;

	mksg(&a, NULL, "a", NULL, NULL);
	add_sg(f->s, &a);
	mksg(&b, NULL, "b", NULL, NULL);
	add_sg(f->s, &b);
	mkrule(&r1, NULL, a.id, SG_INGRESS, SG_PROTO_TCP, 80, 80, "2001:db8::/32", NULL);
	add_rule(f->s, &r1);
	mkrule(&r2, NULL, a.id, SG_INGRESS, SG_PROTO_TCP, NOPORT, NOPORT, NULL, b.id);
	add_rule(f->s, &r2);
	mkrule(&r3, NULL, a.id, SG_INGRESS, SG_PROTO_UDP, NOPORT, NOPORT, "10.0.0.0/8", NULL);
	add_rule(f->s, &r3);
	rev = store_revision(f->s);

	/* The same cidr written another way is the same rule. */
	mkrule(&x, NULL, a.id, SG_INGRESS, SG_PROTO_TCP, 80, 80, "2001:DB8:0::/32", NULL);
	assert_int_equal(store_obj_create(f->s, STORE_SGR, &x, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_non_null(strstr(e.msg, r1.id));
	assert_non_null(strstr(e.msg, "ingress tcp ports 80-80 from 2001:db8::/32"));
	mkrule(&x, NULL, a.id, SG_INGRESS, SG_PROTO_TCP, NOPORT, NOPORT, NULL, b.id);
	assert_int_equal(store_obj_create(f->s, STORE_SGR, &x, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_non_null(strstr(e.msg, r2.id));
	assert_non_null(strstr(e.msg, "from security group"));
	/* Moving r3 onto r2. */
	mkrule(&x, r3.id, a.id, SG_INGRESS, SG_PROTO_TCP, NOPORT, NOPORT, NULL, b.id);
	assert_int_equal(store_obj_replace(f->s, STORE_SGR, &x, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_non_null(strstr(e.msg, r2.id));
	assert_int_equal(store_revision(f->s), rev);

	/* Differences that make another rule. */
	mkrule(&x, NULL, a.id, SG_INGRESS, SG_PROTO_TCP, 80, 81, "2001:db8::/32", NULL);
	add_rule(f->s, &x);
	mkrule(&x, NULL, a.id, SG_INGRESS, SG_PROTO_TCP, NOPORT, NOPORT, "2001:db8::/32", NULL);
	add_rule(f->s, &x);
	mkrule(&x, NULL, a.id, SG_EGRESS, SG_PROTO_TCP, 80, 80, "2001:db8::/32", NULL);
	add_rule(f->s, &x);
	mkrule(&x, NULL, a.id, SG_INGRESS, SG_PROTO_UDP, 80, 80, "2001:db8::/32", NULL);
	add_rule(f->s, &x);
	mkrule(&x, NULL, a.id, SG_INGRESS, SG_PROTO_TCP, 80, 80, "2001:db8::/48", NULL);
	add_rule(f->s, &x);
	mkrule(&x, NULL, b.id, SG_INGRESS, SG_PROTO_TCP, 80, 80, "2001:db8::/32", NULL);
	add_rule(f->s, &x);
	mkrule(&x, NULL, a.id, SG_INGRESS, SG_PROTO_TCP, NOPORT, NOPORT, NULL, a.id);
	add_rule(f->s, &x);
	/* A replace that keeps its own key is not a conflict with itself. */
	mkrule(&x, r1.id, a.id, SG_INGRESS, SG_PROTO_TCP, 80, 80, "2001:db8::/32", NULL);
	x.description = strdup("http");
	assert_int_equal(store_obj_replace(f->s, STORE_SGR, &x, 0, &e), 0);
	model_sg_rule_clear(&x);
	model_sg_clear(&a);
	model_sg_clear(&b);
}

static void test_sg_rule_idempotent(void **state)
{
	struct fx *f = *state;
	struct security_group g;
	struct sg_rule r, x;
	struct vr_err e = {0};
	int64_t rev;

	mksg(&g, "sg-01", "web", NULL, NULL);
	add_sg(f->s, &g);
	mkrule(&r, "sgr-01", "sg-01", SG_INGRESS, SG_PROTO_TCP, 443, 443, "0.0.0.0/0", NULL);
	add_rule(f->s, &r);
	rev = store_revision(f->s);

	mkrule(&x, "sgr-01", "sg-01", SG_INGRESS, SG_PROTO_TCP, 443, 443, "0.0.0.0/0", NULL);
	assert_int_equal(store_obj_create(f->s, STORE_SGR, &x, &e), STORE_EXISTS);
	assert_int_equal(x.rev, r.rev);
	assert_true(x.has_ports);
	assert_string_equal(x.created_at, r.created_at);
	mkrule(&x, "sgr-01", "sg-01", SG_INGRESS, SG_PROTO_TCP, 443, 444, "0.0.0.0/0", NULL);
	assert_int_equal(store_obj_create(f->s, STORE_SGR, &x, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_string_equal(e.field, "id");
	/* A different object's id is not this one's. */
	mkrule(&x, "sgr-02", "sg-01", SG_INGRESS, SG_PROTO_TCP, 443, 443, "0.0.0.0/0", NULL);
	assert_int_equal(store_obj_create(f->s, STORE_SGR, &x, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_int_equal(store_revision(f->s), rev);
	model_sg_clear(&g);
}

static void test_sg_delete_cascade(void **state)
{
	struct fx *f = *state;
	struct security_group a, b;
	struct sg_rule r1, r2, r3, got = {0};
	struct vr_err e = {0};
	int64_t rev;
	char v[32];

	mksg(&a, NULL, "a", NULL, web_targets);
	add_sg(f->s, &a);
	mksg(&b, NULL, "b", NULL, (const char *const[]){"10.9.0.0/16", NULL});
	add_sg(f->s, &b);
	mkrule(&r1, NULL, a.id, SG_INGRESS, SG_PROTO_TCP, 22, 22, "10.0.0.0/8", NULL);
	add_rule(f->s, &r1);
	/* A rule naming its own group does not hold it. */
	mkrule(&r2, NULL, a.id, SG_INGRESS, SG_PROTO_ALL, NOPORT, NOPORT, NULL, a.id);
	add_rule(f->s, &r2);
	/* a's own rule naming b is a's, and goes with a. */
	mkrule(&r3, NULL, a.id, SG_EGRESS, SG_PROTO_ALL, NOPORT, NOPORT, NULL, b.id);
	add_rule(f->s, &r3);
	rev = store_revision(f->s);

	assert_int_equal(store_obj_delete(f->s, STORE_SG, a.id, 0, &e), 0);
	assert_int_equal(store_revision(f->s), rev + 1);
	assert_int_equal(store_obj_get(f->s, STORE_SGR, r1.id, &got, &e), -1);
	assert_int_equal(e.code, VR_ERR_NOT_FOUND);
	assert_int_equal(store_obj_get(f->s, STORE_SGR, r2.id, &got, &e), -1);
	assert_int_equal(store_obj_get(f->s, STORE_SGR, r3.id, &got, &e), -1);
	raw_query(f->path, "SELECT count(*) FROM security_group_rules", v, sizeof(v));
	assert_string_equal(v, "0");
	/* Only b's target is left. */
	raw_query(f->path, "SELECT count(*) FROM sg_targets", v, sizeof(v));
	assert_string_equal(v, "1");
	/* b no longer named by anything: deletable. */
	assert_int_equal(store_obj_delete(f->s, STORE_SG, b.id, 0, &e), 0);
	model_sg_clear(&a);
	model_sg_clear(&b);
}

static void test_sg_delete_referenced(void **state)
{
	struct fx *f = *state;
	struct security_group a, b;
	struct sg_rule r, x;
	struct vr_err e = {0};
	char *before, *after;

	mksg(&a, NULL, "a", NULL, NULL);
	add_sg(f->s, &a);
	mksg(&b, NULL, "b", NULL, NULL);
	add_sg(f->s, &b);
	mkrule(&r, NULL, b.id, SG_INGRESS, SG_PROTO_TCP, 5432, 5432, NULL, a.id);
	add_rule(f->s, &r);
	before = sg_snapshot(f->s);

	assert_int_equal(store_obj_delete(f->s, STORE_SG, a.id, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_REFERENCED);
	assert_non_null(strstr(e.msg, r.id));
	assert_non_null(strstr(e.msg, b.id));
	after = sg_snapshot(f->s);
	assert_string_equal(before, after);
	free(before);
	free(after);

	/* Pointing the rule elsewhere releases a. */
	mkrule(&x, r.id, b.id, SG_INGRESS, SG_PROTO_TCP, 5432, 5432, NULL, b.id);
	assert_int_equal(store_obj_replace(f->s, STORE_SGR, &x, 0, &e), 0);
	assert_int_equal(store_obj_delete(f->s, STORE_SG, a.id, 0, &e), 0);
	/* b holds a rule naming itself: still deletable, and the rule goes too. */
	assert_int_equal(store_obj_delete(f->s, STORE_SG, b.id, 0, &e), 0);
	assert_int_equal(store_obj_delete(f->s, STORE_SGR, r.id, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_NOT_FOUND);
	model_sg_clear(&a);
	model_sg_clear(&b);
}

static void test_sg_lists(void **state)
{
	struct fx *f = *state;
	struct security_group g, *gv = NULL;
	struct sg_rule r, *rv = NULL;
	struct vr_err e = {0};
	char ids[2][ID_MAX], name[16], after[ID_MAX] = "";
	size_t n, seen = 0;
	bool more = true;
	int i;

	for (i = 0; i < 2; i++) {
		snprintf(name, sizeof(name), "g%d", i);
		mksg(&g, NULL, name, NULL, web_targets);
		add_sg(f->s, &g);
		snprintf(ids[i], sizeof(ids[i]), "%s", g.id);
		model_sg_clear(&g);
	}
	for (i = 0; i < 7; i++) {
		mkrule(&r, NULL, ids[i % 2], SG_INGRESS, SG_PROTO_TCP, 1000 + i, 1000 + i,
		       "10.0.0.0/8", NULL);
		add_rule(f->s, &r);
	}
	/* Walk all rules three at a time. */
	while (more) {
		assert_int_equal(store_obj_list(f->s, STORE_SGR, NULL, after[0] ? after : NULL, 3,
		                                (void **)&rv, &n, &more, &e),
		                 0);
		assert_true(n <= 3);
		for (size_t k = 0; k < n; k++)
			assert_true(strcmp(rv[k].id, after) > 0);
		if (n)
			snprintf(after, sizeof(after), "%s", rv[n - 1].id);
		seen += n;
		model_sg_rules_free(rv, n);
	}
	assert_int_equal(seen, 7);
	assert_int_equal(store_obj_list(f->s, STORE_SGR, &(struct store_filter){.group_id = ids[0]},
	                                NULL, 100, (void **)&rv, &n, &more, &e),
	                 0);
	assert_int_equal(n, 4);
	for (size_t k = 0; k < n; k++)
		assert_string_equal(rv[k].group_id, ids[0]);
	model_sg_rules_free(rv, n);
	assert_int_equal(store_obj_list(f->s, STORE_SGR,
	                                &(struct store_filter){.group_id = "sg-none"}, NULL, 100,
	                                (void **)&rv, &n, &more, &e),
	                 0);
	assert_int_equal(n, 0);
	model_sg_rules_free(rv, n);

	assert_int_equal(store_obj_list(f->s, STORE_SG, NULL, NULL, 1, (void **)&gv, &n, &more, &e),
	                 0);
	assert_int_equal(n, 1);
	assert_true(more);
	assert_int_equal(gv[0].ntargets, 3);
	snprintf(after, sizeof(after), "%s", gv[0].id);
	model_sgs_free(gv, n);
	assert_int_equal(
	    store_obj_list(f->s, STORE_SG, NULL, after, 1, (void **)&gv, &n, &more, &e), 0);
	assert_int_equal(n, 1);
	assert_false(more);
	assert_true(strcmp(gv[0].id, after) > 0);
	model_sgs_free(gv, n);
}

static void test_sg_failed_writes_change_nothing(void **state)
{
	struct fx *f = *state;
	struct security_group a, b, x;
	struct sg_rule r, y;
	struct vr_err e = {0};
	char *before, *after;

	mksg(&a, NULL, "a", "d", web_targets);
	add_sg(f->s, &a);
	mksg(&b, NULL, "b", NULL, NULL);
	add_sg(f->s, &b);
	mkrule(&r, NULL, b.id, SG_INGRESS, SG_PROTO_TCP, 1, 2, NULL, a.id);
	add_rule(f->s, &r);
	before = sg_snapshot(f->s);

	mksg(&x, a.id, "b", NULL, NULL); /* rename onto b: fails after the revision bump */
	assert_int_equal(store_obj_replace(f->s, STORE_SG, &x, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	model_sg_clear(&x);
	mksg(&x, a.id, "a", NULL, (const char *const[]){"10.0.0.0/8", "banana", NULL});
	assert_int_equal(store_obj_replace(f->s, STORE_SG, &x, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_INVALID);
	model_sg_clear(&x);
	mksg(&x, a.id, "a2", NULL, NULL);
	assert_int_equal(store_obj_replace(f->s, STORE_SG, &x, a.rev + 50, &e), -1);
	assert_int_equal(e.code, VR_ERR_PRECONDITION);
	model_sg_clear(&x);
	assert_int_equal(store_obj_delete(f->s, STORE_SG, a.id, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_REFERENCED);
	mkrule(&y, NULL, b.id, SG_INGRESS, SG_PROTO_TCP, 1, 2, NULL, a.id);
	assert_int_equal(store_obj_create(f->s, STORE_SGR, &y, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	mkrule(&y, NULL, "sg-77", SG_INGRESS, SG_PROTO_TCP, 1, 2, NULL, a.id);
	assert_int_equal(store_obj_create(f->s, STORE_SGR, &y, &e), -1);
	assert_int_equal(e.code, VR_ERR_INVALID);
	mkrule(&y, r.id, b.id, SG_INGRESS, SG_PROTO_TCP, 2, 1, NULL, a.id);
	assert_int_equal(store_obj_replace(f->s, STORE_SGR, &y, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_INVALID);
	assert_string_equal(e.field, "port_from");
	assert_int_equal(store_obj_delete(f->s, STORE_SGR, "sgr-77", 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_NOT_FOUND);

	after = sg_snapshot(f->s);
	assert_string_equal(before, after);
	free(before);
	free(after);
	model_sg_clear(&a);
	model_sg_clear(&b);
}

static void test_sg_load(void **state)
{
	struct fx *f = *state;
	struct security_group a, b, *gv = NULL;
	struct sg_rule r, *rv = NULL;
	struct vr_err e = {0};
	size_t ng, nr;
	int64_t rev = 0;

	assert_int_equal(store_sg_load(f->s, &gv, &ng, &rv, &nr, &rev, &e), 0);
	assert_int_equal(ng, 0);
	assert_int_equal(nr, 0);
	assert_null(gv);
	assert_null(rv);
	assert_int_equal(rev, store_revision(f->s));

	mksg(&a, "sg-0a", "a", "not loaded", web_targets);
	add_sg(f->s, &a);
	mksg(&b, "sg-0b", "b", NULL, NULL);
	add_sg(f->s, &b);
	mkrule(&r, "sgr-01", "sg-0a", SG_INGRESS, SG_PROTO_TCP, 22, 23, "10.0.0.0/8", NULL);
	r.description = strdup("not loaded");
	add_rule(f->s, &r);
	model_sg_rule_clear(&r);
	mkrule(&r, "sgr-02", "sg-0a", SG_EGRESS, SG_PROTO_ICMPV6, NOPORT, NOPORT, NULL, "sg-0b");
	add_rule(f->s, &r);

	assert_int_equal(store_sg_load(f->s, &gv, &ng, &rv, &nr, &rev, &e), 0);
	assert_int_equal(rev, store_revision(f->s));
	assert_int_equal(ng, 2);
	assert_string_equal(gv[0].id, "sg-0a");
	assert_null(gv[0].description);
	assert_int_equal(gv[0].ntargets, 3);
	assert_int_equal(gv[0].targets[0].p.addr.family, AF_INET);
	assert_int_equal(gv[0].targets[0].p.len, 32);
	assert_true(gv[0].targets[1].local);
	assert_int_equal(gv[0].targets[2].p.len, 64);
	assert_string_equal(gv[1].id, "sg-0b");
	assert_int_equal(gv[1].ntargets, 0);
	assert_int_equal(nr, 2);
	assert_string_equal(rv[0].id, "sgr-01");
	assert_null(rv[0].description);
	assert_true(rv[0].has_ports);
	assert_int_equal(rv[0].port_from, 22);
	assert_int_equal(rv[0].port_to, 23);
	assert_int_equal(rv[0].cidr.addr.family, AF_INET);
	assert_int_equal(rv[0].cidr.len, 8);
	assert_string_equal(rv[1].id, "sgr-02");
	assert_false(rv[1].has_ports);
	assert_int_equal(rv[1].direction, SG_EGRESS);
	assert_int_equal(rv[1].protocol, SG_PROTO_ICMPV6);
	assert_string_equal(rv[1].remote_group_id, "sg-0b");
	assert_int_equal(rv[1].cidr.addr.family, 0);
	model_sgs_free(gv, ng);
	model_sg_rules_free(rv, nr);
	model_sg_clear(&a);
	model_sg_clear(&b);
}

/* ---- subnets ---- */

static void mksubnet(struct subnet *sn, const char *id, const char *name, const char *cidr,
                     const char *ifname, const char *router_ip, const char *table)
{
	memset(sn, 0, sizeof(*sn));
	snprintf(sn->id, sizeof(sn->id), "%s", id ? id : "");
	snprintf(sn->name, sizeof(sn->name), "%s", name);
	snprintf(sn->cidr_text, sizeof(sn->cidr_text), "%s", cidr);
	snprintf(sn->interface, sizeof(sn->interface), "%s", ifname);
	snprintf(sn->router_ip_text, sizeof(sn->router_ip_text), "%s", router_ip);
	snprintf(sn->table_id, sizeof(sn->table_id), "%s", table ? table : RTB_MAIN_ID);
}

static void add_subnet(struct store *s, struct subnet *sn)
{
	struct vr_err e = {0};
	int rc = store_obj_create(s, STORE_SUBNET, sn, &e);

	if (rc != STORE_CREATED)
		fail_msg("create subnet %s: %d %s: %s", sn->name, (int)e.code, e.field, e.msg);
}

/* Subnets and settings as text, to compare before and after refused writes. */
static char *net_snapshot(struct store *s)
{
	struct subnet *v = NULL;
	struct settings set;
	struct vr_err e = {0};
	size_t n, i, len = 0;
	bool more;
	char *buf = NULL;
	FILE *m = open_memstream(&buf, &len);

	assert_non_null(m);
	fprintf(m, "rev %lld\n", (long long)store_revision(s));
	assert_int_equal(
	    store_obj_list(s, STORE_SUBNET, NULL, NULL, 1000, (void **)&v, &n, &more, &e), 0);
	for (i = 0; i < n; i++)
		fprintf(m, "subnet %s|%s|%s|%s|%s|%s|%s|%s|%s|%lld\n", v[i].id, v[i].name,
		        v[i].cidr_text, v[i].interface, v[i].router_ip_text, v[i].table_id,
		        v[i].description ? v[i].description : "", v[i].created_at, v[i].updated_at,
		        (long long)v[i].rev);
	model_subnets_free(v, n);
	assert_int_equal(store_settings_get(s, &set, &e), 0);
	fprintf(m, "settings %d|%d|%d|%s|%lld\n", set.managed, set.fwd_v4, set.fwd_v6,
	        set.updated_at, (long long)set.rev);
	fclose(m);
	return buf;
}

static void test_subnet_crud(void **state)
{
	struct fx *f = *state;
	struct subnet sn, got = {0}, *v = NULL;
	struct route_table t;
	struct vr_err e = {0};
	int64_t rev = store_revision(f->s);
	size_t n;
	bool more;

	mksubnet(&sn, NULL, "lan", "192.168.150.0/24", "eth0", "192.168.150.1", NULL);
	sn.description = strdup("the lan");
	add_subnet(f->s, &sn);
	assert_true(model_id_valid(sn.id, "subnet-"));
	assert_int_equal(strlen(sn.id), strlen("subnet-") + ID_HEX_NEW);
	assert_int_equal(sn.rev, rev + 1);
	assert_int_equal(store_revision(f->s), rev + 1);
	assert_int_equal(sn.table, RTB_MAIN_TABLE);
	assert_string_equal(sn.created_at, sn.updated_at);

	assert_int_equal(store_obj_get(f->s, STORE_SUBNET, sn.id, &got, &e), 0);
	assert_string_equal(got.name, "lan");
	assert_string_equal(got.cidr_text, "192.168.150.0/24");
	assert_string_equal(got.interface, "eth0");
	assert_string_equal(got.router_ip_text, "192.168.150.1");
	assert_string_equal(got.table_id, RTB_MAIN_ID);
	assert_string_equal(got.description, "the lan");
	assert_int_equal(got.table, RTB_MAIN_TABLE);
	assert_int_equal(got.cidr.len, 24);
	assert_int_equal(got.router_ip.family, AF_INET);
	assert_int_equal(got.rev, sn.rev);
	assert_string_equal(got.created_at, sn.created_at);
	model_subnet_clear(&got);

	/* Replace: another table, interface, address; the description goes. */
	mkrtb(&t, NULL, "blue", 0, NULL);
	add_rtb(f->s, &t);
	model_subnet_clear(&sn);
	snprintf(sn.name, sizeof(sn.name), "lan2");
	snprintf(sn.interface, sizeof(sn.interface), "eth1");
	snprintf(sn.router_ip_text, sizeof(sn.router_ip_text), "192.168.150.254");
	snprintf(sn.table_id, sizeof(sn.table_id), "%s", t.id);
	assert_int_equal(store_obj_replace(f->s, STORE_SUBNET, &sn, 0, &e), 0);
	assert_int_equal(sn.rev, rev + 3);
	assert_int_equal(sn.table, t.table);
	assert_int_equal(store_obj_get(f->s, STORE_SUBNET, sn.id, &got, &e), 0);
	assert_string_equal(got.name, "lan2");
	assert_string_equal(got.interface, "eth1");
	assert_string_equal(got.router_ip_text, "192.168.150.254");
	assert_string_equal(got.table_id, t.id);
	assert_null(got.description);
	assert_int_equal(got.table, t.table);
	assert_string_not_equal(got.updated_at, "");
	model_subnet_clear(&got);

	/* If-Match. */
	assert_int_equal(store_obj_replace(f->s, STORE_SUBNET, &sn, sn.rev - 1, &e), -1);
	assert_int_equal(e.code, VR_ERR_PRECONDITION);
	assert_int_equal(store_obj_delete(f->s, STORE_SUBNET, sn.id, sn.rev - 1, &e), -1);
	assert_int_equal(e.code, VR_ERR_PRECONDITION);

	assert_int_equal(
	    store_obj_list(f->s, STORE_SUBNET, NULL, NULL, 100, (void **)&v, &n, &more, &e), 0);
	assert_int_equal(n, 1);
	assert_false(more);
	assert_string_equal(v[0].id, sn.id);
	assert_int_equal(v[0].table, t.table);
	model_subnets_free(v, n);

	assert_int_equal(store_obj_delete(f->s, STORE_SUBNET, sn.id, sn.rev, &e), 0);
	assert_int_equal(store_revision(f->s), rev + 4);
	err_clear(&e);
	assert_int_equal(store_obj_get(f->s, STORE_SUBNET, sn.id, &got, &e), -1);
	assert_int_equal(e.code, VR_ERR_NOT_FOUND);
	assert_int_equal(store_obj_delete(f->s, STORE_SUBNET, sn.id, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_NOT_FOUND);
	assert_int_equal(store_obj_replace(f->s, STORE_SUBNET, &sn, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_NOT_FOUND);
	assert_int_equal(store_revision(f->s), rev + 4);
	/* With the subnet gone, the table can go. */
	assert_int_equal(store_obj_delete(f->s, STORE_RTB, t.id, 0, &e), 0);
	model_rtb_clear(&t);
}

static void test_subnet_conflicts(void **state)
{
	struct fx *f = *state;
	struct subnet a, b, c, x;
	struct vr_err e = {0};
	int64_t rev;

	mksubnet(&a, "subnet-0a", "a", "10.0.0.0/16", "eth0", "10.0.0.1", NULL);
	add_subnet(f->s, &a);
	/* Another family never overlaps, even on the same link. */
	mksubnet(&b, "subnet-0b", "b", "2001:db8::/64", "eth0", "2001:db8::1", NULL);
	add_subnet(f->s, &b);
	mksubnet(&c, "subnet-0c", "c", "10.1.0.0/16", "eth1", "10.1.0.1", NULL);
	add_subnet(f->s, &c);
	rev = store_revision(f->s);

	/* Inside a, containing a, equal to a: each overlaps, on any interface. */
	mksubnet(&x, NULL, "x", "10.0.5.0/24", "eth9", "10.0.5.1", NULL);
	assert_int_equal(store_obj_create(f->s, STORE_SUBNET, &x, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_string_equal(e.field, "cidr");
	assert_non_null(strstr(e.msg, "subnet-0a"));
	assert_non_null(strstr(e.msg, "10.0.0.0/16"));
	mksubnet(&x, NULL, "x", "10.0.0.0/8", "eth9", "10.200.0.1", NULL);
	assert_int_equal(store_obj_create(f->s, STORE_SUBNET, &x, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_non_null(strstr(e.msg, "subnet-0a"));
	mksubnet(&x, NULL, "x", "2001:DB8::/64", "eth9", "2001:db8::2", NULL);
	assert_int_equal(store_obj_create(f->s, STORE_SUBNET, &x, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_non_null(strstr(e.msg, "subnet-0b"));
	/* A duplicate name. */
	mksubnet(&x, NULL, "a", "10.9.0.0/16", "eth9", "10.9.0.1", NULL);
	assert_int_equal(store_obj_create(f->s, STORE_SUBNET, &x, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_string_equal(e.field, "name");
	assert_non_null(strstr(e.msg, "subnet-0a"));
	/* A replace may keep its own cidr, but not grow into a neighbour's. */
	snprintf(c.router_ip_text, sizeof(c.router_ip_text), "10.1.0.2");
	assert_int_equal(store_obj_replace(f->s, STORE_SUBNET, &c, 0, &e), 0);
	rev = store_revision(f->s);
	mksubnet(&x, "subnet-0c", "c", "10.0.0.0/15", "eth1", "10.1.0.1", NULL);
	assert_int_equal(store_obj_replace(f->s, STORE_SUBNET, &x, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_non_null(strstr(e.msg, "subnet-0a"));
	mksubnet(&x, "subnet-0c", "b", "10.1.0.0/16", "eth1", "10.1.0.1", NULL);
	assert_int_equal(store_obj_replace(f->s, STORE_SUBNET, &x, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_string_equal(e.field, "name");
	/* Adjacent is not overlapping. */
	mksubnet(&x, NULL, "d", "10.2.0.0/16", "eth1", "10.2.0.1", NULL);
	add_subnet(f->s, &x);
	assert_int_equal(store_revision(f->s), rev + 1);
}

static void test_subnet_refs_and_idempotence(void **state)
{
	struct fx *f = *state;
	struct subnet a, x;
	struct route_table t;
	struct vr_err e = {0};
	int64_t rev;

	mksubnet(&x, NULL, "a", "10.0.0.0/24", "eth0", "10.0.0.1", "rtb-77");
	assert_int_equal(store_obj_create(f->s, STORE_SUBNET, &x, &e), -1);
	assert_int_equal(e.code, VR_ERR_INVALID);
	assert_string_equal(e.field, "route_table_id");
	assert_non_null(strstr(e.msg, "rtb-77"));
	/* Not inside cidr: the model's 422 comes through the store. */
	mksubnet(&x, NULL, "a", "10.0.0.0/24", "eth0", "10.0.1.1", NULL);
	assert_int_equal(store_obj_create(f->s, STORE_SUBNET, &x, &e), -1);
	assert_int_equal(e.code, VR_ERR_INVALID);
	assert_string_equal(e.field, "router_ip");

	mkrtb(&t, "rtb-0b", "blue", 0, NULL);
	add_rtb(f->s, &t);
	mksubnet(&a, "subnet-01", "a", "10.0.0.0/24", "eth0", "10.0.0.1", "rtb-0b");
	a.description = strdup("d");
	add_subnet(f->s, &a);
	rev = store_revision(f->s);

	/* The same id and body again: the stored object, nothing written. */
	mksubnet(&x, "subnet-01", "a", "10.0.0.0/24", "eth0", "10.0.0.1", "rtb-0b");
	x.description = strdup("d");
	assert_int_equal(store_obj_create(f->s, STORE_SUBNET, &x, &e), STORE_EXISTS);
	assert_string_equal(x.created_at, a.created_at);
	assert_int_equal(x.rev, a.rev);
	assert_int_equal(x.table, t.table);
	model_subnet_clear(&x);
	/* The same id with another body. */
	mksubnet(&x, "subnet-01", "a", "10.0.0.0/24", "eth0", "10.0.0.2", "rtb-0b");
	assert_int_equal(store_obj_create(f->s, STORE_SUBNET, &x, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_string_equal(e.field, "id");
	assert_int_equal(store_revision(f->s), rev);

	/* The table is in use by the subnet. */
	assert_int_equal(store_obj_delete(f->s, STORE_RTB, "rtb-0b", 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_REFERENCED);
	assert_non_null(strstr(e.msg, "subnet-01"));
	assert_non_null(strstr(e.msg, "subnet"));
	assert_int_equal(store_revision(f->s), rev);
	assert_int_equal(store_obj_delete(f->s, STORE_SUBNET, "subnet-01", 0, &e), 0);
	assert_int_equal(store_obj_delete(f->s, STORE_RTB, "rtb-0b", 0, &e), 0);
	model_subnet_clear(&a);
	model_rtb_clear(&t);
}

static void test_subnet_lists(void **state)
{
	struct fx *f = *state;
	struct subnet sn, *v = NULL;
	struct route_table t;
	struct vr_err e = {0};
	char name[16], cidr[32], ip[32];
	size_t n, i;
	bool more;

	mkrtb(&t, "rtb-0b", "blue", 0, NULL);
	add_rtb(f->s, &t);
	for (i = 0; i < 5; i++) {
		char id[32];

		snprintf(id, sizeof(id), "subnet-0%zu", 5 - i);
		snprintf(name, sizeof(name), "s%zu", i);
		snprintf(cidr, sizeof(cidr), "10.%zu.0.0/16", i);
		snprintf(ip, sizeof(ip), "10.%zu.0.1", i);
		mksubnet(&sn, id, name, cidr, i % 2 ? "eth1" : "eth0", ip, i < 2 ? "rtb-0b" : NULL);
		add_subnet(f->s, &sn);
	}
	/* Pages in id order. */
	assert_int_equal(
	    store_obj_list(f->s, STORE_SUBNET, NULL, NULL, 2, (void **)&v, &n, &more, &e), 0);
	assert_int_equal(n, 2);
	assert_true(more);
	assert_string_equal(v[0].id, "subnet-01");
	assert_string_equal(v[1].id, "subnet-02");
	model_subnets_free(v, n);
	assert_int_equal(
	    store_obj_list(f->s, STORE_SUBNET, NULL, "subnet-04", 2, (void **)&v, &n, &more, &e),
	    0);
	assert_int_equal(n, 1);
	assert_false(more);
	assert_string_equal(v[0].id, "subnet-05");
	model_subnets_free(v, n);
	/* Filters, alone and together. i = 0, 1 are in rtb-0b; odd i on eth1. */
	assert_int_equal(store_obj_list(f->s, STORE_SUBNET,
	                                &(struct store_filter){.table_id = "rtb-0b"}, NULL, 100,
	                                (void **)&v, &n, &more, &e),
	                 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].id, "subnet-04");
	assert_string_equal(v[1].id, "subnet-05");
	assert_int_equal(v[0].table, t.table);
	model_subnets_free(v, n);
	assert_int_equal(store_obj_list(f->s, STORE_SUBNET,
	                                &(struct store_filter){.interface = "eth1"}, NULL, 100,
	                                (void **)&v, &n, &more, &e),
	                 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].id, "subnet-02");
	assert_string_equal(v[1].id, "subnet-04");
	model_subnets_free(v, n);
	assert_int_equal(
	    store_obj_list(f->s, STORE_SUBNET,
	                   &(struct store_filter){.table_id = RTB_MAIN_ID, .interface = "eth0"},
	                   NULL, 100, (void **)&v, &n, &more, &e),
	    0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].id, "subnet-01");
	assert_string_equal(v[1].id, "subnet-03");
	model_subnets_free(v, n);
	assert_int_equal(store_obj_list(f->s, STORE_SUBNET,
	                                &(struct store_filter){.interface = "eth7"}, NULL, 100,
	                                (void **)&v, &n, &more, &e),
	                 0);
	assert_int_equal(n, 0);
	model_subnets_free(v, n);
	model_rtb_clear(&t);
}

static void test_subnet_failed_writes_change_nothing(void **state)
{
	struct fx *f = *state;
	struct subnet a, b, x;
	struct vr_err e = {0};
	struct settings set = {.fwd_v4 = true};
	char *before, *after;

	mksubnet(&a, NULL, "a", "10.0.0.0/24", "eth0", "10.0.0.1", NULL);
	add_subnet(f->s, &a);
	mksubnet(&b, NULL, "b", "fd00::/64", "eth0", "fd00::1", NULL);
	add_subnet(f->s, &b);
	assert_int_equal(store_settings_put(f->s, &set, 0, &e), 0);
	before = net_snapshot(f->s);

	mksubnet(&x, a.id, "b", "10.0.0.0/24", "eth0", "10.0.0.1", NULL);
	assert_int_equal(store_obj_replace(f->s, STORE_SUBNET, &x, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	mksubnet(&x, a.id, "a", "10.0.0.0/24", "eth0", "10.0.0.1", "rtb-99");
	assert_int_equal(store_obj_replace(f->s, STORE_SUBNET, &x, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_INVALID);
	mksubnet(&x, a.id, "a", "10.0.0.0/24", "eth0", "10.0.0.0", NULL);
	assert_int_equal(store_obj_replace(f->s, STORE_SUBNET, &x, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_INVALID);
	mksubnet(&x, NULL, "c", "fd00::/48", "eth1", "fd00::2", NULL);
	assert_int_equal(store_obj_create(f->s, STORE_SUBNET, &x, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_int_equal(store_obj_delete(f->s, STORE_SUBNET, "subnet-77", 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_NOT_FOUND);
	set.fwd_v6 = true;
	assert_int_equal(store_settings_put(f->s, &set, 1, &e), -1);
	assert_int_equal(e.code, VR_ERR_PRECONDITION);

	after = net_snapshot(f->s);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

/* ---- settings ---- */

static void test_settings(void **state)
{
	struct fx *f = *state;
	struct settings set, got;
	struct vr_err e = {0};
	int64_t rev = store_revision(f->s);
	int64_t first;

	/* Before any PUT: unmanaged, defaults, an ETag that is a real revision. */
	assert_int_equal(store_settings_get(f->s, &got, &e), 0);
	assert_false(got.managed);
	assert_false(got.fwd_v4);
	assert_false(got.fwd_v6);
	assert_int_equal(got.rev, 1);
	assert_int_equal(strlen(got.updated_at), 24);

	/* A PUT with a stale If-Match changes nothing. */
	set = (struct settings){.fwd_v4 = true, .fwd_v6 = false};
	assert_int_equal(store_settings_put(f->s, &set, got.rev + 5, &e), -1);
	assert_int_equal(e.code, VR_ERR_PRECONDITION);
	assert_non_null(strstr(e.msg, "If-Match"));
	assert_int_equal(store_revision(f->s), rev);

	/* With the right one: managed from now on, the revision bumped. */
	assert_int_equal(store_settings_put(f->s, &set, got.rev, &e), 0);
	assert_true(set.managed);
	assert_int_equal(set.rev, rev + 1);
	assert_int_equal(store_revision(f->s), rev + 1);
	first = set.rev;
	assert_int_equal(store_settings_get(f->s, &got, &e), 0);
	assert_true(got.managed);
	assert_true(got.fwd_v4);
	assert_false(got.fwd_v6);
	assert_int_equal(got.rev, first);
	assert_string_equal(got.updated_at, set.updated_at);

	/* Without If-Match; writing the same values again changes nothing. */
	set = (struct settings){.fwd_v4 = false, .fwd_v6 = true};
	assert_int_equal(store_settings_put(f->s, &set, 0, &e), 0);
	assert_int_equal(set.rev, first + 1);
	assert_int_equal(store_settings_put(f->s, &set, 0, &e), STORE_UNCHANGED);
	assert_int_equal(set.rev, first + 1);
	assert_int_equal(store_revision(f->s), first + 1);
	assert_int_equal(store_settings_put(f->s, &set, first, &e), -1);
	assert_int_equal(e.code, VR_ERR_PRECONDITION);

	reopen(f);
	assert_int_equal(store_settings_get(f->s, &got, &e), 0);
	assert_true(got.managed);
	assert_false(got.fwd_v4);
	assert_true(got.fwd_v6);
	assert_int_equal(got.rev, first + 1);
}

/* Migration 003 on a database that already has history: no revision bump, a valid ETag. */
static void test_migrate_003_keeps_revision(void **state)
{
	struct fx *f = *state;
	struct route r;
	struct settings got;
	struct vr_err e = {0};
	char v[64];
	int64_t rev;

	mkroute(&r, NULL, NULL, "10.1.0.0/16", NULL, "eth0", 0);
	add_route(f->s, &r);
	assert_int_equal(store_obj_delete(f->s, STORE_ROUTE, r.id, 0, &e), 0);
	rev = store_revision(f->s);
	assert_true(rev > 1);
	store_close(f->s);
	f->s = NULL;
	/* As version 2 left it: no tables of the later migrations. */
	raw_exec(f->path, "DROP TABLE events; DROP TABLE subnets; DROP TABLE settings; "
	                  "PRAGMA user_version = 2");
	reopen(f);
	raw_query(f->path, "PRAGMA user_version", v, sizeof(v));
	assert_int_equal(atoi(v), (int)embedded_migrations_n);
	assert_int_equal(store_revision(f->s), rev);
	assert_int_equal(store_settings_get(f->s, &got, &e), 0);
	assert_false(got.managed);
	assert_int_equal(got.rev, rev);
}

static void test_net_load(void **state)
{
	struct fx *f = *state;
	struct subnet a, b, *v = NULL;
	struct route_table t;
	struct settings set = {0};
	struct vr_err e = {0};
	int64_t rev = 0;
	size_t n;

	assert_int_equal(store_net_load(f->s, &v, &n, &set, &rev, &e), 0);
	assert_null(v);
	assert_int_equal(n, 0);
	assert_false(set.managed);
	assert_int_equal(rev, store_revision(f->s));

	mkrtb(&t, "rtb-0b", "blue", 300, NULL);
	add_rtb(f->s, &t);
	mksubnet(&a, "subnet-0a", "a", "192.168.150.0/24", "eth0", "192.168.150.3", "rtb-0b");
	a.description = strdup("not loaded");
	add_subnet(f->s, &a);
	mksubnet(&b, "subnet-0b", "b", "2001:DB8::/64", "eth1", "2001:db8::1", NULL);
	add_subnet(f->s, &b);
	set = (struct settings){.fwd_v4 = true, .fwd_v6 = true};
	assert_int_equal(store_settings_put(f->s, &set, 0, &e), 0);

	memset(&set, 0, sizeof(set));
	assert_int_equal(store_net_load(f->s, &v, &n, &set, &rev, &e), 0);
	assert_int_equal(rev, store_revision(f->s));
	assert_true(set.managed);
	assert_true(set.fwd_v4);
	assert_true(set.fwd_v6);
	assert_int_equal(set.rev, rev);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].id, "subnet-0a");
	assert_null(v[0].description);
	assert_int_equal(v[0].table, 300);
	assert_int_equal(v[0].cidr.addr.family, AF_INET);
	assert_int_equal(v[0].cidr.len, 24);
	assert_int_equal(v[0].router_ip.a[3], 3);
	assert_string_equal(v[0].interface, "eth0");
	assert_string_equal(v[1].id, "subnet-0b");
	assert_int_equal(v[1].table, RTB_MAIN_TABLE);
	assert_int_equal(v[1].cidr.addr.family, AF_INET6);
	assert_int_equal(v[1].cidr.len, 64);
	assert_int_equal(v[1].router_ip.a[15], 1);
	assert_string_equal(v[1].cidr_text, "2001:DB8::/64");
	model_subnets_free(v, n);
	model_subnet_clear(&a);
	model_rtb_clear(&t);
}

/*
 * A replace with exactly what is stored writes nothing, for every kind and the
 * settings: STORE_UNCHANGED, the object as stored (rev, updated_at), the same
 * desired revision. The first write of the settings is a change (managed).
 */
static void test_replace_unchanged(void **state)
{
	struct fx *f = *state;
	static const char *const targets[] = {"10.0.0.0/8", "local", NULL};
	struct route_table t, t2;
	struct route r, r2;
	struct security_group g, g2;
	struct sg_rule sr, sr2;
	struct subnet sn, sn2;
	struct settings set = {.fwd_v4 = true, .fwd_v6 = false}, set2;
	struct vr_err e = {0};
	int64_t rev;
	char updated[TIME_MAX];

	mkrtb(&t, NULL, "blue", 0, "words");
	add_rtb(f->s, &t);
	mkroute(&r, NULL, NULL, "10.3.0.0/16", "10.0.0.1", NULL, 5);
	add_route(f->s, &r);
	mksg(&g, NULL, "web", "d", targets);
	add_sg(f->s, &g);
	mkrule(&sr, NULL, g.id, SG_INGRESS, SG_PROTO_TCP, 22, 22, "10.1.0.0/16", NULL);
	add_rule(f->s, &sr);
	mksubnet(&sn, NULL, "lan", "192.168.7.0/24", "eth1", "192.168.7.1", t.id);
	add_subnet(f->s, &sn);
	assert_int_equal(store_settings_put(f->s, &set, 0, &e), 0);
	/* Let the clock move, so a rewritten updated_at would differ. */
	usleep(5000);
	rev = store_revision(f->s);

	/* The table without a number keeps the stored one: still the same table. */
	mkrtb(&t2, t.id, "blue", 0, "words");
	assert_int_equal(store_obj_replace(f->s, STORE_RTB, &t2, t.rev, &e), STORE_UNCHANGED);
	assert_int_equal(t2.rev, t.rev);
	assert_int_equal(t2.table, t.table);
	assert_string_equal(t2.updated_at, t.updated_at);
	model_rtb_clear(&t2);

	mkroute(&r2, r.id, NULL, "10.3.0.0/16", "10.0.0.1", NULL, 5);
	assert_int_equal(store_obj_replace(f->s, STORE_ROUTE, &r2, 0, &e), STORE_UNCHANGED);
	assert_int_equal(r2.rev, r.rev);
	assert_string_equal(r2.updated_at, r.updated_at);
	assert_string_equal(r2.created_at, r.created_at);
	assert_int_equal(r2.table, RTB_MAIN_TABLE);
	model_route_clear(&r2);

	mksg(&g2, g.id, "web", "d", targets);
	assert_int_equal(store_obj_replace(f->s, STORE_SG, &g2, 0, &e), STORE_UNCHANGED);
	assert_int_equal(g2.rev, g.rev);
	assert_string_equal(g2.updated_at, g.updated_at);
	assert_int_equal(g2.ntargets, 2);
	model_sg_clear(&g2);

	mkrule(&sr2, sr.id, g.id, SG_INGRESS, SG_PROTO_TCP, 22, 22, "10.1.0.0/16", NULL);
	assert_int_equal(store_obj_replace(f->s, STORE_SGR, &sr2, 0, &e), STORE_UNCHANGED);
	assert_int_equal(sr2.rev, sr.rev);
	assert_string_equal(sr2.updated_at, sr.updated_at);
	model_sg_rule_clear(&sr2);

	mksubnet(&sn2, sn.id, "lan", "192.168.7.0/24", "eth1", "192.168.7.1", t.id);
	assert_int_equal(store_obj_replace(f->s, STORE_SUBNET, &sn2, 0, &e), STORE_UNCHANGED);
	assert_int_equal(sn2.rev, sn.rev);
	assert_string_equal(sn2.updated_at, sn.updated_at);
	model_subnet_clear(&sn2);

	set2 = (struct settings){.fwd_v4 = true, .fwd_v6 = false};
	assert_int_equal(store_settings_put(f->s, &set2, set.rev, &e), STORE_UNCHANGED);
	assert_int_equal(set2.rev, set.rev);
	assert_true(set2.managed);
	assert_string_equal(set2.updated_at, set.updated_at);

	assert_int_equal(store_revision(f->s), rev);

	/* A stale If-Match is still a 412, changed or not. */
	mkroute(&r2, r.id, NULL, "10.3.0.0/16", "10.0.0.1", NULL, 5);
	assert_int_equal(store_obj_replace(f->s, STORE_ROUTE, &r2, r.rev + 1, &e), -1);
	assert_int_equal(e.code, VR_ERR_PRECONDITION);
	model_route_clear(&r2);

	/* One field differs: a write, a new revision. */
	snprintf(updated, sizeof(updated), "%s", r.updated_at);
	mkroute(&r2, r.id, NULL, "10.3.0.0/16", "10.0.0.1", NULL, 6);
	assert_int_equal(store_obj_replace(f->s, STORE_ROUTE, &r2, 0, &e), 0);
	assert_int_equal(r2.rev, rev + 1);
	assert_string_not_equal(r2.updated_at, updated);
	model_route_clear(&r2);

	model_rtb_clear(&t);
	model_route_clear(&r);
	model_sg_clear(&g);
	model_sg_rule_clear(&sr);
	model_subnet_clear(&sn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	    T(test_migrate_fresh),
	    T(test_reopen_keeps_data),
	    T(test_newer_schema_refused),
	    T(test_open_errors),
	    T(test_revision_bumps),
	    T(test_rtb_crud),
	    T(test_rtb_main),
	    T(test_rtb_conflicts),
	    T(test_rtb_auto_numbers),
	    T(test_rtb_in_use),
	    T(test_route_crud),
	    T(test_route_duplicates),
	    T(test_route_unknown_table),
	    T(test_idempotent_create),
	    T(test_if_match),
	    T(test_pagination),
	    T(test_snapshot_joins_reads),
	    T(test_filter_by_table),
	    T(test_failed_writes_change_nothing),
	    T(test_routes_load),
	    T(test_sg_crud),
	    T(test_sg_conflicts),
	    T(test_sg_rule_crud),
	    T(test_sg_rule_refs),
	    T(test_sg_rule_duplicates),
	    T(test_sg_rule_idempotent),
	    T(test_sg_delete_cascade),
	    T(test_sg_delete_referenced),
	    T(test_sg_lists),
	    T(test_sg_failed_writes_change_nothing),
	    T(test_sg_load),
	    T(test_subnet_crud),
	    T(test_subnet_conflicts),
	    T(test_subnet_refs_and_idempotence),
	    T(test_subnet_lists),
	    T(test_subnet_failed_writes_change_nothing),
	    T(test_settings),
	    T(test_migrate_003_keeps_revision),
	    T(test_net_load),
	    T(test_replace_unchanged),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
