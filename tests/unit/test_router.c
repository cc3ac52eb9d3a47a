/*
 * Route tables, routes, subnets and settings that belong to a router of a
 * fleet (issue 16), in the store and the reconciler: the migration of a
 * database from before (its rows become router "local"), uniqueness per
 * router, a route's and subnet's router taken from its table, each router's
 * own main table (rtb-main for local, rtb-main-N for N), a whole-state
 * replace scoped to one router, and a reconciler that applies only its own
 * router's routes to its (fake) kernel.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "embedded.h"
#include "fake_kernel.h"
#include "model.h"
#include "recon.h"
#include "store.h"
#include "tmpdir.h"

#define WAIT_MS 5000

struct fix {
	char dir[PATH_MAX];
	char db[PATH_MAX + 8];
	struct store *s;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	tmpdir_make(f->dir, sizeof(f->dir), "router");
	snprintf(f->db, sizeof(f->db), "%s/v.db", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	store_close(f->s);
	tmpdir_remove(f->dir);
	free(f);
	return 0;
}

static void open_store(struct fix *f)
{
	struct vr_err e = {0};

	if (store_open(f->db, &f->s, &e))
		fail_msg("store_open: %s", e.msg);
}

/* A route table of router (NULL: not given) named name with number no (0: assign). */
static int mk_table(struct fix *f, const char *router, const char *name, uint32_t no,
                    struct route_table *t, struct vr_err *e)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->router, sizeof(t->router), "%s", router ? router : "");
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->table = no;
	if (model_rtb_validate(t, e))
		return -1;
	return store_obj_create(f->s, STORE_RTB, t, e);
}

/* A route to dst via via in table_id, naming router (NULL: none). */
static int mk_route(struct fix *f, const char *router, const char *table_id, const char *dst,
                    struct route *r, struct vr_err *e)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->router, sizeof(r->router), "%s", router ? router : "");
	snprintf(r->table_id, sizeof(r->table_id), "%s", table_id);
	snprintf(r->destination, sizeof(r->destination), "%s", dst);
	snprintf(r->dev, sizeof(r->dev), "eth0");
	if (model_route_validate(r, e))
		return -1;
	return store_obj_create(f->s, STORE_ROUTE, r, e);
}

/* A subnet cidr on eth0 in table_id, naming router (NULL: none). */
static int mk_subnet(struct fix *f, const char *router, const char *table_id, const char *name,
                     const char *cidr, const char *ip, struct subnet *sn, struct vr_err *e)
{
	memset(sn, 0, sizeof(*sn));
	snprintf(sn->router, sizeof(sn->router), "%s", router ? router : "");
	snprintf(sn->table_id, sizeof(sn->table_id), "%s", table_id);
	snprintf(sn->name, sizeof(sn->name), "%s", name);
	snprintf(sn->cidr_text, sizeof(sn->cidr_text), "%s", cidr);
	snprintf(sn->router_ip_text, sizeof(sn->router_ip_text), "%s", ip);
	snprintf(sn->interface, sizeof(sn->interface), "eth0");
	if (model_subnet_validate(sn, e))
		return -1;
	return store_obj_create(f->s, STORE_SUBNET, sn, e);
}

static void db_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg ? msg : "?");
}

/*
 * A database made by the migrations before 005 (schema version 4) with a
 * table, a route, a subnet and managed settings: after store_open migrates
 * it, every row is router local's, nothing is lost, and the references hold.
 */
static void test_migrate_old(void **state)
{
	struct fix *f = *state;
	struct route_table t = {0};
	struct route r = {0};
	struct subnet sn = {0};
	struct settings set = {0};
	struct vr_err e = {0};
	sqlite3 *db;
	size_t i;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	for (i = 0; i < embedded_migrations_n && strncmp(embedded_migrations[i].name, "005", 3);
	     i++)
		db_exec(db, embedded_migrations[i].text);
	assert_int_equal(i, 4);
	db_exec(db, "PRAGMA user_version = 4");
	db_exec(db, "INSERT INTO route_tables VALUES ('rtb-0a', 'blue', 100, 'b', 'x', 'x', 2)");
	db_exec(db, "INSERT INTO routes (id, route_table_id, destination, dst_key, family, type, "
	            "via, dev, metric, description, created_at, updated_at, rev) VALUES ('rt-01', "
	            "'rtb-0a', '10.1.0.0/16', '10.1.0.0/16', 4, 'unicast', NULL, 'eth0', 0, '', "
	            "'x', 'x', 3)");
	db_exec(db, "INSERT INTO subnets VALUES ('subnet-01', 'lan', '192.168.150.0/24', "
	            "'192.168.150.0/24', 4, 'eth0', '192.168.150.1', 'rtb-0a', '', 'x', 'x', 4)");
	db_exec(db, "UPDATE settings SET managed = 1, forward_v4 = 1, rev = 5");
	db_exec(db, "UPDATE meta SET value = 5 WHERE key = 'revision'");
	sqlite3_close(db);

	open_store(f);
	assert_int_equal(store_obj_get(f->s, STORE_RTB, "rtb-0a", &t, &e), 0);
	assert_string_equal(t.router, "local");
	assert_string_equal(t.name, "blue");
	assert_int_equal(t.table, 100);
	assert_string_equal(t.description, "b");
	assert_int_equal(t.rev, 2);
	model_rtb_clear(&t);
	assert_int_equal(store_obj_get(f->s, STORE_RTB, RTB_MAIN_ID, &t, &e), 0);
	assert_string_equal(t.router, "local");
	model_rtb_clear(&t);
	assert_int_equal(store_obj_get(f->s, STORE_ROUTE, "rt-01", &r, &e), 0);
	assert_string_equal(r.router, "local");
	assert_string_equal(r.table_id, "rtb-0a");
	assert_int_equal(r.table, 100);
	model_route_clear(&r);
	assert_int_equal(store_obj_get(f->s, STORE_SUBNET, "subnet-01", &sn, &e), 0);
	assert_string_equal(sn.router, "local");
	model_subnet_clear(&sn);
	assert_int_equal(store_settings_get(f->s, &set, &e), 0);
	assert_true(set.managed);
	assert_true(set.fwd_v4);
	assert_false(set.fwd_v6);
	assert_int_equal(set.rev, 5);
	assert_string_equal(set.router, "local");
	assert_int_equal(store_revision(f->s), 5);
	/* The table is still the one its route and subnet hold: no delete while they do. */
	assert_int_equal(store_obj_delete(f->s, STORE_RTB, "rtb-0a", 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_REFERENCED);
	/* And the foreign keys are on again: a route to a missing table is refused. */
	assert_int_equal(mk_route(f, NULL, "rtb-0b", "10.2.0.0/16", &r, &e), -1);
	assert_int_equal(e.code, VR_ERR_INVALID);
	model_route_clear(&r);
}

/* Table names and numbers, subnet names and overlaps are unique per router, not in the fleet. */
static void test_unique_per_router(void **state)
{
	struct fix *f = *state;
	struct route_table t;
	struct subnet sn;
	struct vr_err e = {0};

	open_store(f);
	assert_int_equal(mk_table(f, "r1", "blue", 100, &t, &e), STORE_CREATED);
	assert_string_equal(t.router, "r1");
	model_rtb_clear(&t);
	assert_int_equal(mk_table(f, "r2", "blue", 100, &t, &e), STORE_CREATED);
	model_rtb_clear(&t);
	/* Local's table 100 too: a single router's tables are local's. */
	assert_int_equal(mk_table(f, NULL, "blue", 100, &t, &e), STORE_CREATED);
	assert_string_equal(t.router, "local");
	model_rtb_clear(&t);

	assert_int_equal(mk_table(f, "r1", "blue", 101, &t, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_string_equal(e.field, "name");
	model_rtb_clear(&t);
	assert_int_equal(mk_table(f, "r1", "green", 100, &t, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_string_equal(e.field, "table");
	model_rtb_clear(&t);
	/* Each router's main table holds 254 and "main" for it alone. */
	assert_int_equal(mk_table(f, "r1", "main", 0, &t, &e), -1);
	assert_string_equal(e.field, "name");
	model_rtb_clear(&t);

	assert_int_equal(
	    mk_subnet(f, "r1", RTB_MAIN_ID, "lan1", "10.0.0.0/24", "10.0.0.1", &sn, &e),
	    STORE_CREATED);
	assert_string_equal(sn.table_id, "rtb-main-r1");
	model_subnet_clear(&sn);
	assert_int_equal(
	    mk_subnet(f, "r2", RTB_MAIN_ID, "lan1", "10.0.0.0/24", "10.0.0.1", &sn, &e),
	    STORE_CREATED);
	model_subnet_clear(&sn);
	assert_int_equal(
	    mk_subnet(f, "r1", RTB_MAIN_ID, "lan1", "10.7.0.0/24", "10.7.0.1", &sn, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_string_equal(e.field, "name");
	model_subnet_clear(&sn);
	assert_int_equal(
	    mk_subnet(f, "r1", RTB_MAIN_ID, "lan3", "10.0.0.0/16", "10.0.9.1", &sn, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_string_equal(e.field, "cidr");
	assert_non_null(strstr(e.msg, "overlaps"));
	model_subnet_clear(&sn);
}

/* A route's and a subnet's router is their table's; naming another is INVALID (router). */
static void test_router_from_table(void **state)
{
	struct fix *f = *state;
	struct route_table t;
	struct route r, got;
	struct subnet sn;
	struct vr_err e = {0};
	char blue2[ID_MAX];

	open_store(f);
	assert_int_equal(mk_table(f, "r2", "blue", 0, &t, &e), STORE_CREATED);
	snprintf(blue2, sizeof(blue2), "%s", t.id);
	model_rtb_clear(&t);

	assert_int_equal(mk_route(f, NULL, blue2, "10.1.0.0/16", &r, &e), STORE_CREATED);
	assert_string_equal(r.router, "r2");
	assert_int_equal(store_obj_get(f->s, STORE_ROUTE, r.id, &got, &e), 0);
	assert_string_equal(got.router, "r2");
	model_route_clear(&got);
	model_route_clear(&r);

	assert_int_equal(mk_route(f, "r1", blue2, "10.2.0.0/16", &r, &e), -1);
	assert_int_equal(e.code, VR_ERR_INVALID);
	assert_string_equal(e.field, "router");
	assert_non_null(strstr(e.msg, "r1"));
	/* The refused write leaves the route as it was asked. */
	assert_string_equal(r.router, "r1");
	model_route_clear(&r);
	assert_int_equal(mk_subnet(f, "r1", blue2, "lan", "10.9.0.0/24", "10.9.0.1", &sn, &e), -1);
	assert_string_equal(e.field, "router");
	model_subnet_clear(&sn);
	assert_int_equal(mk_subnet(f, NULL, blue2, "lan", "10.9.0.0/24", "10.9.0.1", &sn, &e),
	                 STORE_CREATED);
	assert_string_equal(sn.router, "r2");
	model_subnet_clear(&sn);

	/* A main table of another router, named outright, is refused before the store. */
	assert_int_equal(mk_route(f, "r1", "rtb-main-r2", "10.3.0.0/16", &r, &e), -1);
	assert_string_equal(e.field, "router");
	model_route_clear(&r);
	/* A table moves to no other router. */
	assert_int_equal(store_obj_get(f->s, STORE_RTB, blue2, &t, &e), 0);
	snprintf(t.router, sizeof(t.router), "r1");
	assert_int_equal(store_obj_replace(f->s, STORE_RTB, &t, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_INVALID);
	assert_string_equal(e.field, "router");
	model_rtb_clear(&t);
}

/* rtb-main means the main table of the object's router; N's is rtb-main-N, made when first named.
 */
static void test_main_alias(void **state)
{
	struct fix *f = *state;
	struct route_table t;
	struct route r;
	struct settings set;
	struct vr_err e = {0};
	int64_t rev;

	open_store(f);
	assert_int_equal(store_obj_get(f->s, STORE_RTB, "rtb-main-r3", &t, &e), -1);
	assert_int_equal(e.code, VR_ERR_NOT_FOUND);
	rev = store_revision(f->s);
	assert_int_equal(mk_route(f, "r3", RTB_MAIN_ID, "10.1.0.0/16", &r, &e), STORE_CREATED);
	assert_string_equal(r.table_id, "rtb-main-r3");
	assert_string_equal(r.router, "r3");
	assert_int_equal(r.table, 254);
	/* The main table came with that write, in its revision. */
	assert_int_equal(r.rev, rev + 1);
	model_route_clear(&r);
	assert_int_equal(store_obj_get(f->s, STORE_RTB, "rtb-main-r3", &t, &e), 0);
	assert_string_equal(t.router, "r3");
	assert_string_equal(t.name, "main");
	assert_int_equal(t.table, 254);
	assert_int_equal(t.rev, rev + 1);
	model_rtb_clear(&t);
	/* So did its settings row: unmanaged. */
	assert_int_equal(store_settings_get_of(f->s, "r3", &set, &e), 0);
	assert_false(set.managed);
	assert_string_equal(set.router, "r3");
	assert_int_equal(set.rev, rev + 1);
	/* Local's route on rtb-main stays local's. */
	assert_int_equal(mk_route(f, NULL, RTB_MAIN_ID, "10.1.0.0/16", &r, &e), STORE_CREATED);
	assert_string_equal(r.table_id, RTB_MAIN_ID);
	assert_string_equal(r.router, "local");
	model_route_clear(&r);

	/* A main table is built in: not created, deleted, renamed. */
	assert_int_equal(mk_table(f, NULL, "x", 0, &t, &e), STORE_CREATED);
	model_rtb_clear(&t);
	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "rtb-main-r4");
	snprintf(t.name, sizeof(t.name), "main");
	t.table = 254;
	assert_int_equal(model_rtb_validate(&t, &e), 0);
	assert_string_equal(t.router, "r4");
	assert_int_equal(store_obj_create(f->s, STORE_RTB, &t, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	model_rtb_clear(&t);
	assert_int_equal(store_obj_delete(f->s, STORE_RTB, "rtb-main-r3", 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_int_equal(store_obj_get(f->s, STORE_RTB, "rtb-main-r3", &t, &e), 0);
	snprintf(t.name, sizeof(t.name), "other");
	assert_int_equal(store_obj_replace(f->s, STORE_RTB, &t, 0, &e), -1);
	assert_int_equal(e.code, VR_ERR_CONFLICT);
	assert_string_equal(e.field, "name");
	model_rtb_clear(&t);

	/* A router's daemon makes its own at start; once made, again writes nothing. */
	assert_int_equal(store_router_ensure(f->s, "r5", &e), 0);
	rev = store_revision(f->s);
	assert_int_equal(store_obj_get(f->s, STORE_RTB, "rtb-main-r5", &t, &e), 0);
	assert_int_equal(t.rev, rev);
	model_rtb_clear(&t);
	assert_int_equal(store_router_ensure(f->s, "r5", &e), 0);
	assert_int_equal(store_router_ensure(f->s, "local", &e), 0);
	assert_int_equal(store_revision(f->s), rev);

	/* Settings per router: r3's put leaves local's. */
	memset(&set, 0, sizeof(set));
	snprintf(set.router, sizeof(set.router), "r3");
	set.fwd_v4 = true;
	assert_int_equal(store_settings_put(f->s, &set, 0, &e), 0);
	assert_int_equal(store_settings_get_of(f->s, "r3", &set, &e), 0);
	assert_true(set.managed && set.fwd_v4);
	assert_int_equal(store_settings_get(f->s, &set, &e), 0);
	assert_false(set.managed);
	/* A router never named has the defaults. */
	assert_int_equal(store_settings_get_of(f->s, "r9", &set, &e), 0);
	assert_false(set.managed);
	assert_int_equal(set.rev, 1);
}

/* Lists by router. */
static size_t count_of(struct fix *f, enum store_kind k, const char *router)
{
	struct store_filter flt = {.router = router};
	struct vr_err e = {0};
	void *v = NULL;
	size_t n = 0;
	bool more;

	assert_int_equal(store_obj_list(f->s, k, &flt, NULL, 1000, &v, &n, &more, &e), 0);
	store_objs_free(k, v, n);
	return n;
}

/* A replace scoped to one router keeps and drops only that router's objects. */
static void test_config_scope(void **state)
{
	struct fix *f = *state;
	struct route_table t;
	struct route r;
	struct subnet sn;
	struct settings set = {0};
	struct store_config c = {0};
	struct store_diff d = {0};
	struct vr_err e = {0};

	open_store(f);
	assert_int_equal(mk_table(f, "r1", "blue", 100, &t, &e), STORE_CREATED);
	model_rtb_clear(&t);
	assert_int_equal(mk_route(f, "r1", RTB_MAIN_ID, "10.1.0.0/16", &r, &e), STORE_CREATED);
	model_route_clear(&r);
	assert_int_equal(mk_subnet(f, "r1", RTB_MAIN_ID, "lan", "10.0.0.0/24", "10.0.0.1", &sn, &e),
	                 STORE_CREATED);
	model_subnet_clear(&sn);
	snprintf(set.router, sizeof(set.router), "r1");
	set.fwd_v4 = true;
	assert_int_equal(store_settings_put(f->s, &set, 0, &e), 0);

	/* r2's document: a table of the same name, a route on its main table, settings. */
	c.router = "r2";
	c.tables = calloc(1, sizeof(*c.tables));
	c.ntables = 1;
	snprintf(c.tables[0].name, sizeof(c.tables[0].name), "blue");
	c.tables[0].table = 100;
	assert_int_equal(model_rtb_validate(&c.tables[0], &e), 0);
	c.routes = calloc(1, sizeof(*c.routes));
	c.nroutes = 1;
	snprintf(c.routes[0].router, ROUTER_MAX, "r2");
	snprintf(c.routes[0].table_id, ID_MAX, RTB_MAIN_ID);
	snprintf(c.routes[0].destination, CIDR_STR_MAX, "10.1.0.0/16");
	snprintf(c.routes[0].dev, IFNAME_MAX, "eth1");
	assert_int_equal(model_route_validate(&c.routes[0], &e), 0);
	c.has_settings = true;
	c.fwd_v6 = true;
	if (store_config_replace(f->s, &c, 0, NULL, 0, false, &d, &e))
		fail_msg("replace: %s (%s)", e.msg, e.field);
	assert_true(d.any);
	assert_int_equal(
	    d.removed[STORE_RTB].n + d.removed[STORE_ROUTE].n + d.removed[STORE_SUBNET].n, 0);
	assert_int_equal(d.added[STORE_RTB].n, 1);
	assert_int_equal(d.added[STORE_ROUTE].n, 1);
	store_diff_free(&d);
	assert_string_equal(c.tables[0].router, "r2");
	assert_string_equal(c.routes[0].router, "r2");
	assert_string_equal(c.routes[0].table_id, "rtb-main-r2");
	store_config_clear(&c);

	assert_int_equal(count_of(f, STORE_RTB, "r1"), 2); /* blue and rtb-main-r1 */
	assert_int_equal(count_of(f, STORE_RTB, "r2"), 2);
	assert_int_equal(count_of(f, STORE_ROUTE, "r1"), 1);
	assert_int_equal(count_of(f, STORE_ROUTE, "r2"), 1);
	assert_int_equal(count_of(f, STORE_SUBNET, "r1"), 1);
	assert_int_equal(count_of(f, STORE_SUBNET, "r2"), 0);
	assert_int_equal(store_settings_get_of(f->s, "r2", &set, &e), 0);
	assert_true(set.managed && set.fwd_v6 && !set.fwd_v4);
	assert_int_equal(store_settings_get_of(f->s, "r1", &set, &e), 0);
	assert_true(set.managed && set.fwd_v4 && !set.fwd_v6);

	/* An item of r1 in r2's document: INVALID naming it, nothing changes. */
	c.router = "r2";
	c.tables = calloc(1, sizeof(*c.tables));
	c.ntables = 1;
	snprintf(c.tables[0].router, ROUTER_MAX, "r1");
	snprintf(c.tables[0].name, sizeof(c.tables[0].name), "red");
	assert_int_equal(model_rtb_validate(&c.tables[0], &e), 0);
	assert_int_equal(store_config_replace(f->s, &c, 0, NULL, 0, false, &d, &e), -1);
	assert_int_equal(e.code, VR_ERR_INVALID);
	assert_string_equal(e.field, "route_tables[0].router");
	store_config_clear(&c);
	assert_int_equal(count_of(f, STORE_RTB, "r2"), 2);

	/* An empty document for r2 empties r2 (but its main table), and leaves r1. */
	c.router = "r2";
	assert_int_equal(store_config_replace(f->s, &c, 0, NULL, 0, false, &d, &e), 0);
	assert_int_equal(d.removed[STORE_RTB].n, 1);
	assert_int_equal(d.removed[STORE_ROUTE].n, 1);
	store_diff_free(&d);
	assert_int_equal(count_of(f, STORE_RTB, "r2"), 1);
	assert_int_equal(count_of(f, STORE_ROUTE, "r2"), 0);
	assert_int_equal(count_of(f, STORE_RTB, "r1"), 2);
	assert_int_equal(count_of(f, STORE_ROUTE, "r1"), 1);
	assert_int_equal(count_of(f, STORE_SUBNET, "r1"), 1);
	/* Every router: local's rtb-main, r1's main and blue, r2's main. */
	assert_int_equal(count_of(f, STORE_RTB, NULL), 4);
}

/* r1's reconciler puts r1's routes in its kernel, and never r2's, incremental or full. */
static void test_recon_filter(void **state)
{
	struct fix *f = *state;
	struct recon *rc = NULL;
	struct route r;
	struct obj_status st;
	struct vr_err e = {0};
	char r1[ID_MAX], r2[ID_MAX];

	memset(&fk, 0, sizeof(fk));
	pthread_mutex_init(&fk.lock, NULL);
	fk.efd = eventfd(0, EFD_NONBLOCK);
	open_store(f);
	if (recon_start_router(f->db, "r1", &fake_ops, 60000, NULL, &rc, &e))
		fail_msg("recon_start_router: %s", e.msg);

	assert_int_equal(mk_route(f, "r1", RTB_MAIN_ID, "10.1.0.0/16", &r, &e), STORE_CREATED);
	snprintf(r1, sizeof(r1), "%s", r.id);
	recon_kick(rc, r.rev, RECON_ROUTE, r.id);
	assert_int_equal(recon_wait(rc, r.rev, WAIT_MS), 0);
	model_route_clear(&r);
	assert_int_equal(mk_route(f, "r2", RTB_MAIN_ID, "10.2.0.0/16", &r, &e), STORE_CREATED);
	snprintf(r2, sizeof(r2), "%s", r.id);
	recon_kick(rc, r.rev, RECON_ROUTE, r.id);
	assert_int_equal(recon_wait(rc, r.rev, WAIT_MS), 0);
	model_route_clear(&r);
	/* Local's too (a single router's rows) stay out of r1's kernel. */
	assert_int_equal(mk_route(f, NULL, RTB_MAIN_ID, "10.3.0.0/16", &r, &e), STORE_CREATED);
	recon_kick(rc, r.rev, RECON_ROUTE, r.id);
	assert_int_equal(recon_wait(rc, r.rev, WAIT_MS), 0);
	model_route_clear(&r);

	assert_true(fake_has(10, 1));
	assert_false(fake_has(10, 2));
	assert_false(fake_has(10, 3));
	assert_int_equal(fake_count(), 1);
	recon_status(rc, r1, &st);
	assert_int_equal(st.state, OBJ_ACTIVE);
	recon_status(rc, r2, &st);
	assert_int_equal(st.state, OBJ_PENDING);

	/* A full pass agrees. */
	assert_int_equal(recon_resync(rc, WAIT_MS), 0);
	assert_true(fake_has(10, 1));
	assert_false(fake_has(10, 2));
	assert_int_equal(fake_count(), 1);

	recon_stop(rc);
	close(fk.efd);
}

/* The reconciler of a single router (no router) applies every row, whatever its router. */
static void test_recon_single_all(void **state)
{
	struct fix *f = *state;
	struct recon *rc = NULL;
	struct route r;
	struct vr_err e = {0};

	memset(&fk, 0, sizeof(fk));
	pthread_mutex_init(&fk.lock, NULL);
	fk.efd = eventfd(0, EFD_NONBLOCK);
	open_store(f);
	assert_int_equal(mk_route(f, "r2", RTB_MAIN_ID, "10.2.0.0/16", &r, &e), STORE_CREATED);
	model_route_clear(&r);
	assert_int_equal(mk_route(f, NULL, RTB_MAIN_ID, "10.3.0.0/16", &r, &e), STORE_CREATED);
	model_route_clear(&r);
	if (recon_start(f->db, &fake_ops, 60000, NULL, &rc, &e))
		fail_msg("recon_start: %s", e.msg);
	assert_int_equal(recon_resync(rc, WAIT_MS), 0);
	assert_true(fake_has(10, 2));
	assert_true(fake_has(10, 3));
	recon_stop(rc);
	close(fk.efd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_migrate_old, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unique_per_router, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_router_from_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_main_alias, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_scope, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_recon_filter, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_recon_single_all, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
