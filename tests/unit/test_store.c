/* core/store.c against real SQLite files in a temporary directory. */
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
	int rc = store_route_create(s, r, &e);

	if (rc != STORE_CREATED)
		fail_msg("create %s: %d %s: %s", r->destination, e.status, e.field, e.msg);
	return r->rev;
}

static void add_rtb(struct store *s, struct route_table *t)
{
	struct vr_err e = {0};
	int rc = store_rtb_create(s, t, NULL, 0, &e);

	if (rc != STORE_CREATED)
		fail_msg("create %s: %d %s: %s", t->name, e.status, e.field, e.msg);
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
	assert_int_equal(store_rtb_list(s, NULL, 1000, &t, &n, &more, &e), 0);
	for (i = 0; i < n; i++)
		fprintf(m, "rtb %s|%s|%u|%s|%s|%s|%lld\n", t[i].id, t[i].name, t[i].table,
		        t[i].description ? t[i].description : "", t[i].created_at, t[i].updated_at,
		        (long long)t[i].rev);
	model_rtbs_free(t, n);
	assert_int_equal(store_route_list(s, NULL, NULL, 1000, &r, &n, &more, &e), 0);
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
	assert_int_equal(store_rtb_get(f->s, RTB_MAIN_ID, &t, &e), 0);
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

	assert_int_equal(store_rtb_get(f->s, RTB_MAIN_ID, &main1, &e), 0);
	mkroute(&r, NULL, NULL, "10.1.0.0/16", "192.0.2.1", NULL, 5);
	add_route(f->s, &r);
	assert_int_equal(store_revision(f->s), 2);

	reopen(f);
	assert_int_equal(store_revision(f->s), 2);
	assert_int_equal(store_route_get(f->s, r.id, &got, &e), 0);
	assert_string_equal(got.destination, "10.1.0.0/16");
	assert_int_equal(got.metric, 5);
	/* A re-run migration would have re-created main with new timestamps (or failed). */
	assert_int_equal(store_rtb_get(f->s, RTB_MAIN_ID, &main2, &e), 0);
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
	assert_int_equal(e.status, 500);
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
	assert_int_equal(e.status, 500);
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
	assert_int_equal(e.status, 500);
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
	assert_int_equal(store_route_create(f->s, &again, &e), STORE_EXISTS);
	assert_int_equal(store_revision(f->s), rev + 2);

	/* Refused write: nothing written. */
	mkroute(&dup, NULL, NULL, "10.0.0.0/8", NULL, "eth1", 0);
	assert_int_equal(store_route_create(f->s, &dup, &e), -1);
	assert_int_equal(e.status, 409);
	assert_int_equal(store_revision(f->s), rev + 2);

	r.metric = 7;
	assert_int_equal(store_route_replace(f->s, &r, 0, &e), 0);
	assert_int_equal(r.rev, rev + 3);
	assert_int_equal(store_route_delete(f->s, r.id, 0, &e), 0);
	assert_int_equal(store_revision(f->s), rev + 4);
	assert_int_equal(store_rtb_delete(f->s, t.id, 0, &e), 0);
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

	assert_int_equal(store_rtb_get(f->s, t.id, &got, &e), 0);
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
	assert_int_equal(store_rtb_replace(f->s, &t, 0, &e), 0);
	assert_int_equal(t.table, RTB_AUTO_FIRST);
	assert_int_equal(store_rtb_get(f->s, t.id, &got, &e), 0);
	assert_string_equal(got.name, "bluer");
	assert_string_equal(got.description, "second");
	assert_int_equal(got.table, RTB_AUTO_FIRST);
	assert_int_equal(got.rev, store_revision(f->s));
	assert_string_equal(got.created_at, t.created_at);
	assert_string_equal(got.updated_at, t.updated_at);
	model_rtb_clear(&got);

	/* Explicit renumbering. */
	t.table = 100;
	assert_int_equal(store_rtb_replace(f->s, &t, 0, &e), 0);
	assert_int_equal(store_rtb_get(f->s, t.id, &got, &e), 0);
	assert_int_equal(got.table, 100);
	model_rtb_clear(&got);

	assert_int_equal(store_rtb_list(f->s, NULL, 100, &v, &n, &more, &e), 0);
	assert_int_equal(n, 2);
	assert_false(more);
	/* Ordered by id: "rtb-<hex>" < "rtb-main" since digits and a-f sort before 'm'. */
	assert_string_equal(v[0].id, t.id);
	assert_string_equal(v[1].id, RTB_MAIN_ID);
	assert_null(v[1].description);
	model_rtbs_free(v, n);

	assert_int_equal(store_rtb_delete(f->s, t.id, 0, &e), 0);
	assert_int_equal(store_rtb_get(f->s, t.id, &got, &e), -1);
	assert_int_equal(e.status, 404);
	err_clear(&e);
	assert_int_equal(store_rtb_delete(f->s, t.id, 0, &e), -1);
	assert_int_equal(e.status, 404);
	err_clear(&e);
	assert_int_equal(store_rtb_replace(f->s, &t, 0, &e), -1);
	assert_int_equal(e.status, 404);
	model_rtb_clear(&t);
}

static void test_rtb_main(void **state)
{
	struct fx *f = *state;
	struct route_table t, got = {0};
	struct vr_err e = {0};
	int64_t rev;

	assert_int_equal(store_rtb_delete(f->s, RTB_MAIN_ID, 0, &e), -1);
	assert_int_equal(e.status, 409);
	assert_non_null(strstr(e.msg, "cannot be deleted"));

	mkrtb(&t, RTB_MAIN_ID, "primary", 254, NULL);
	err_clear(&e);
	assert_int_equal(store_rtb_replace(f->s, &t, 0, &e), -1);
	assert_int_equal(e.status, 409);
	assert_string_equal(e.field, "name");
	assert_non_null(strstr(e.msg, "cannot be renamed"));
	model_rtb_clear(&t);

	mkrtb(&t, RTB_MAIN_ID, "main", 100, NULL);
	err_clear(&e);
	assert_int_equal(store_rtb_replace(f->s, &t, 0, &e), -1);
	assert_int_equal(e.status, 409);
	assert_string_equal(e.field, "table");
	assert_non_null(strstr(e.msg, "cannot be renumbered"));
	model_rtb_clear(&t);

	/* Retrying the creation of main itself is harmless. */
	rev = store_revision(f->s);
	mkrtb(&t, RTB_MAIN_ID, "main", 0, NULL);
	assert_int_equal(store_rtb_create(f->s, &t, NULL, 0, &e), STORE_EXISTS);
	assert_int_equal(t.table, 254);
	assert_int_equal(store_revision(f->s), rev);
	model_rtb_clear(&t);

	/* Its description is the user's. */
	mkrtb(&t, RTB_MAIN_ID, "main", 0, "the kernel's main table");
	assert_int_equal(store_rtb_replace(f->s, &t, 0, &e), 0);
	assert_int_equal(t.table, 254);
	assert_int_equal(store_rtb_get(f->s, RTB_MAIN_ID, &got, &e), 0);
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
	assert_int_equal(store_rtb_create(f->s, &b, NULL, 0, &e), -1);
	assert_int_equal(e.status, 409);
	assert_string_equal(e.field, "name");
	assert_non_null(strstr(e.msg, a.id));
	assert_int_equal(b.table, 101);
	model_rtb_clear(&b);

	mkrtb(&b, NULL, "green", 100, NULL);
	err_clear(&e);
	assert_int_equal(store_rtb_create(f->s, &b, NULL, 0, &e), -1);
	assert_int_equal(e.status, 409);
	assert_string_equal(e.field, "table");
	assert_non_null(strstr(e.msg, "table 100"));
	assert_non_null(strstr(e.msg, a.id));
	model_rtb_clear(&b);

	mkrtb(&b, NULL, "green", 254, NULL);
	err_clear(&e);
	assert_int_equal(store_rtb_create(f->s, &b, NULL, 0, &e), -1);
	assert_int_equal(e.status, 409);
	assert_string_equal(e.field, "table");
	assert_non_null(strstr(e.msg, RTB_MAIN_ID));
	model_rtb_clear(&b);

	/* A replace that collides with another table. */
	mkrtb(&b, NULL, "green", 0, NULL);
	add_rtb(f->s, &b);
	snprintf(b.name, sizeof(b.name), "blue");
	err_clear(&e);
	assert_int_equal(store_rtb_replace(f->s, &b, 0, &e), -1);
	assert_int_equal(e.status, 409);
	assert_string_equal(e.field, "name");

	/* Reserved numbers never get in, even past validation. */
	snprintf(b.name, sizeof(b.name), "green");
	b.table = 255;
	err_clear(&e);
	assert_int_equal(store_rtb_replace(f->s, &b, 0, &e), -1);
	assert_int_equal(e.status, 422);
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
	assert_int_equal(store_rtb_create(f->s, &c, NULL, 0, &e), STORE_CREATED);
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
	assert_int_equal(store_rtb_delete(f->s, t.id, 0, &e), -1);
	assert_int_equal(e.status, 409);
	assert_non_null(strstr(e.msg, r.id));
	assert_int_equal(store_revision(f->s), rev);

	assert_int_equal(store_route_delete(f->s, r.id, 0, &e), 0);
	assert_int_equal(store_rtb_delete(f->s, t.id, 0, &e), 0);
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

	assert_int_equal(store_route_get(f->s, r.id, &got, &e), 0);
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
		assert_int_equal(store_route_replace(f->s, &r, 0, &e), 0);
		assert_string_equal(r.created_at, created);
	}
	assert_int_equal(store_route_get(f->s, r.id, &got, &e), 0);
	assert_int_equal(got.type, ROUTE_BLACKHOLE);
	assert_int_equal(got.metric, 10);
	assert_string_equal(got.via_text, "");
	assert_string_equal(got.dev, "");
	assert_int_equal(got.via.family, 0);
	assert_null(got.description);
	assert_string_equal(got.created_at, r.created_at);
	assert_string_equal(got.updated_at, r.updated_at);
	model_route_clear(&got);

	assert_int_equal(store_route_list(f->s, NULL, NULL, 10, &v, &n, &more, &e), 0);
	assert_int_equal(n, 1);
	assert_false(more);
	assert_string_equal(v[0].id, r.id);
	model_routes_free(v, n);

	assert_int_equal(store_route_delete(f->s, r.id, 0, &e), 0);
	assert_int_equal(store_route_get(f->s, r.id, &got, &e), -1);
	assert_int_equal(e.status, 404);
	err_clear(&e);
	assert_int_equal(store_route_delete(f->s, r.id, 0, &e), -1);
	assert_int_equal(e.status, 404);
	err_clear(&e);
	assert_int_equal(store_route_replace(f->s, &r, 0, &e), -1);
	assert_int_equal(e.status, 404);
	assert_int_equal(store_route_list(f->s, NULL, NULL, 10, &v, &n, &more, &e), 0);
	assert_int_equal(n, 0);
	model_routes_free(v, n);
}

static void expect_dup(struct store *s, struct route *r, const struct route *existing)
{
	struct vr_err e = {0};

	assert_int_equal(store_route_create(s, r, &e), -1);
	assert_int_equal(e.status, 409);
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
		         "rtb-main (%s)",
		         a.id);
		assert_int_equal(store_route_create(f->s, &x, &e), -1);
		assert_string_equal(e.msg, want);
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
	assert_int_equal(store_route_create(f->s, &x, &e), -1);
	assert_non_null(strstr(e.msg, "1024"));
	mkroute(&x, NULL, NULL, "2001:db8::/64", "2001:db8:1::2", NULL, 1);
	add_route(f->s, &x);
	/* ... but IPv4 metric 0 and 1024 are two routes. */
	mkroute(&x, NULL, NULL, "192.168.100.0/24", "192.168.150.3", NULL, 1024);
	add_route(f->s, &x);

	/* A replace that collides. */
	b.metric = 0;
	err_clear(&e);
	assert_int_equal(store_route_replace(f->s, &b, 0, &e), -1);
	assert_int_equal(e.status, 409);
	assert_non_null(strstr(e.msg, a.id));
	/* A replace of a route onto its own key is no conflict. */
	a.description = strdup("same key");
	assert_int_equal(store_route_replace(f->s, &a, 0, &e), 0);
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
	assert_int_equal(store_route_create(f->s, &r, &e), -1);
	assert_int_equal(e.status, 422);
	assert_string_equal(e.field, "route_table_id");
	assert_string_equal(e.msg, "route table \"rtb-abc\" does not exist");
	assert_int_equal(store_revision(f->s), rev);

	mkroute(&r, NULL, NULL, "10.0.0.0/8", NULL, "eth0", 0);
	add_route(f->s, &r);
	snprintf(r.table_id, sizeof(r.table_id), "rtb-abc");
	err_clear(&e);
	assert_int_equal(store_route_replace(f->s, &r, 0, &e), -1);
	assert_int_equal(e.status, 422);
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
	assert_int_equal(store_route_create(f->s, &again, &e), STORE_EXISTS);
	assert_int_equal(store_revision(f->s), rev);
	assert_string_equal(again.created_at, r.created_at);
	assert_int_equal(again.rev, r.rev);
	assert_int_equal(again.table, RTB_MAIN_TABLE);
	assert_string_equal(again.description, "retry me");
	model_route_clear(&again);

	mkroute(&other, "rt-0123abcd", NULL, "10.2.0.0/16", NULL, "eth0", 4);
	assert_int_equal(store_route_create(f->s, &other, &e), -1);
	assert_int_equal(e.status, 409);
	assert_string_equal(e.field, "id");
	assert_string_equal(e.msg, "id rt-0123abcd already exists with a different body");
	assert_int_equal(store_revision(f->s), rev);
	model_route_clear(&r);

	/* Route tables; a retry without table matches the number assigned. */
	mkrtb(&t, "rtb-00ff", "blue", 0, "x");
	add_rtb(f->s, &t);
	rev = store_revision(f->s);
	mkrtb(&t2, "rtb-00ff", "blue", 0, "x");
	assert_int_equal(store_rtb_create(f->s, &t2, NULL, 0, &e), STORE_EXISTS);
	assert_int_equal(t2.table, t.table);
	assert_string_equal(t2.created_at, t.created_at);
	assert_int_equal(t2.rev, t.rev);
	model_rtb_clear(&t2);
	mkrtb(&t2, "rtb-00ff", "blue", t.table, "x");
	assert_int_equal(store_rtb_create(f->s, &t2, NULL, 0, &e), STORE_EXISTS);
	model_rtb_clear(&t2);
	mkrtb(&t2, "rtb-00ff", "blue", 0, "y");
	assert_int_equal(store_rtb_create(f->s, &t2, NULL, 0, &e), -1);
	assert_int_equal(e.status, 409);
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
	assert_int_equal(store_route_replace(f->s, &r, old, &e), 0);
	assert_true(r.rev > old);

	r.metric = 2;
	assert_int_equal(store_route_replace(f->s, &r, old, &e), -1);
	assert_int_equal(e.status, 412);
	assert_non_null(strstr(e.msg, "If-Match"));
	assert_non_null(strstr(e.msg, "does not match the current ETag"));
	err_clear(&e);
	assert_int_equal(store_route_delete(f->s, r.id, old, &e), -1);
	assert_int_equal(e.status, 412);
	assert_int_equal(store_route_delete(f->s, r.id, r.rev, &e), 0);

	mkrtb(&t, NULL, "blue", 0, NULL);
	add_rtb(f->s, &t);
	old = t.rev;
	assert_int_equal(store_rtb_replace(f->s, &t, old, &e), 0);
	err_clear(&e);
	assert_int_equal(store_rtb_replace(f->s, &t, old, &e), -1);
	assert_int_equal(e.status, 412);
	err_clear(&e);
	assert_int_equal(store_rtb_delete(f->s, t.id, old, &e), -1);
	assert_int_equal(e.status, 412);
	assert_int_equal(store_rtb_delete(f->s, t.id, t.rev, &e), 0);
	model_rtb_clear(&t);
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
	assert_int_equal(store_route_list(f->s, NULL, NULL, 2, &v, &n, &more, &e), 0);
	assert_int_equal(n, 2);
	assert_true(more);
	assert_string_equal(v[0].id, "rt-01");
	assert_string_equal(v[1].id, "rt-02");
	model_routes_free(v, n);
	assert_int_equal(store_route_list(f->s, NULL, "rt-02", 2, &v, &n, &more, &e), 0);
	assert_int_equal(n, 2);
	assert_true(more);
	assert_string_equal(v[0].id, "rt-03");
	assert_string_equal(v[1].id, "rt-04");
	model_routes_free(v, n);
	assert_int_equal(store_route_list(f->s, NULL, "rt-04", 2, &v, &n, &more, &e), 0);
	assert_int_equal(n, 1);
	assert_false(more);
	assert_string_equal(v[0].id, "rt-05");
	model_routes_free(v, n);
	/* Exactly a full page: no next. */
	assert_int_equal(store_route_list(f->s, NULL, "rt-02", 3, &v, &n, &more, &e), 0);
	assert_int_equal(n, 3);
	assert_false(more);
	model_routes_free(v, n);
	assert_int_equal(store_route_list(f->s, NULL, "rt-05", 2, &v, &n, &more, &e), 0);
	assert_int_equal(n, 0);
	assert_false(more);
	model_routes_free(v, n);
	/* More than LIST_INITIAL rows in one page exercise the array growth. */
	for (i = 0; i < 100; i++) {
		snprintf(dst, sizeof(dst), "10.200.%zu.0/24", i);
		mkroute(&r, NULL, NULL, dst, NULL, "eth0", 0);
		add_route(f->s, &r);
	}
	assert_int_equal(store_route_list(f->s, NULL, NULL, 1000, &v, &n, &more, &e), 0);
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
	assert_int_equal(store_rtb_list(f->s, NULL, 1, &tv, &n, &more, &e), 0);
	assert_int_equal(n, 1);
	assert_true(more);
	assert_string_equal(tv[0].id, "rtb-01");
	model_rtbs_free(tv, n);
	assert_int_equal(store_rtb_list(f->s, "rtb-01", 5, &tv, &n, &more, &e), 0);
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

	assert_int_equal(store_route_list(f->s, t.id, NULL, 10, &v, &n, &more, &e), 0);
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++) {
		assert_string_equal(v[i].table_id, t.id);
		assert_int_equal(v[i].table, t.table);
	}
	assert_string_equal(v[0].id, "rt-2");
	model_routes_free(v, n);
	assert_int_equal(store_route_list(f->s, t.id, "rt-2", 1, &v, &n, &more, &e), 0);
	assert_int_equal(n, 1);
	assert_false(more);
	assert_string_equal(v[0].id, "rt-3");
	model_routes_free(v, n);
	assert_int_equal(store_route_list(f->s, RTB_MAIN_ID, NULL, 10, &v, &n, &more, &e), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].id, "rt-1");
	model_routes_free(v, n);
	assert_int_equal(store_route_list(f->s, "rtb-none", NULL, 10, &v, &n, &more, &e), 0);
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
	assert_int_equal(store_route_create(f->s, &x, &e), -1);
	mkroute(&x, NULL, "rtb-dead", "10.1.0.0/16", NULL, "eth1", 0);
	assert_int_equal(store_route_create(f->s, &x, &e), -1);
	mkroute(&x, a.id, NULL, "10.1.0.0/16", NULL, "eth1", 0);
	assert_int_equal(store_route_create(f->s, &x, &e), -1);
	mkroute(&x, b.id, NULL, "2001:db8::/64", NULL, "eth0", 1024);
	assert_int_equal(store_route_replace(f->s, &x, b.rev + 100, &e), -1);
	assert_int_equal(e.status, 412);
	/* Moving a onto b's key (same table, IPv6 0 == 1024) fails after the revision bump. */
	mkroute(&x, a.id, NULL, "2001:db8::/64", NULL, "eth0", 1024);
	assert_int_equal(store_route_replace(f->s, &x, 0, &e), -1);
	assert_int_equal(e.status, 409);
	/* Host bits set: the store validates again rather than trust its caller. */
	mkroute(&x, "rt-77", NULL, "10.0.0.0/8", NULL, "eth0", 0);
	snprintf(x.destination, sizeof(x.destination), "10.0.0.1/8");
	assert_int_equal(store_route_create(f->s, &x, &e), -1);
	assert_int_equal(e.status, 422);
	assert_int_equal(store_route_delete(f->s, "rt-77", 0, &e), -1);
	assert_int_equal(store_rtb_delete(f->s, t.id, 0, &e), -1);
	assert_int_equal(store_rtb_delete(f->s, RTB_MAIN_ID, 0, &e), -1);
	mkrtb(&t2, NULL, "blue", 0, NULL);
	assert_int_equal(store_rtb_create(f->s, &t2, NULL, 0, &e), -1);
	model_rtb_clear(&t2);
	mkrtb(&t2, t.id, "main", 0, NULL);
	assert_int_equal(store_rtb_replace(f->s, &t2, 0, &e), -1);
	model_rtb_clear(&t2);

	after = snapshot(f->s);
	assert_string_equal(before, after);
	free(before);
	free(after);
	model_rtb_clear(&t);
}

static void test_routes_load(void **state)
{
	struct fx *f = *state;
	struct route_table t;
	struct route r, *v = NULL;
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

	assert_int_equal(store_routes_load(f->s, &v, &n, &rev, &e), 0);
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
	model_routes_free(v, n);
	model_rtb_clear(&t);
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
	    T(test_filter_by_table),
	    T(test_failed_writes_change_nothing),
	    T(test_routes_load),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
