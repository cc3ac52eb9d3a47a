/*
 * Route tables: their columns, the numbers the store hands out, rtb-main's
 * rules, and what a route or subnet asks of its table.
 */
#include "store_int.h"

#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

/* Tables are never read without their descriptions: with_desc is not looked at. */
static int rtb_from_row(struct store *s, sqlite3_stmt *q, void *o, bool with_desc, struct vr_err *e)
{
	struct route_table *t = o;
	int64_t no = sqlite3_column_int64(q, 2);

	memset(t, 0, sizeof(*t));
	if (col_copy(q, 0, t->id, sizeof(t->id)) < 0 ||
	    col_copy(q, 1, t->name, sizeof(t->name)) < 0 ||
	    col_copy(q, 4, t->created_at, sizeof(t->created_at)) < 0 ||
	    col_copy(q, 5, t->updated_at, sizeof(t->updated_at)) < 0 ||
	    col_copy(q, 7, t->router, sizeof(t->router)) < 0 || no <= 0 || no > UINT32_MAX)
		return corrupt(e, "route table", t->id);
	t->table = (uint32_t)no;
	t->rev = sqlite3_column_int64(q, 6);
	return col_desc(q, 3, &t->description, e);
}

static int rtb_bind(sqlite3_stmt *q, const void *o, const char *key)
{
	const struct route_table *t = o;

	if (bind_text(q, 1, t->id, false) != SQLITE_OK ||
	    bind_text(q, 2, t->name, false) != SQLITE_OK ||
	    sqlite3_bind_int64(q, 3, t->table) != SQLITE_OK ||
	    bind_text(q, 4, t->description, false) != SQLITE_OK ||
	    bind_text(q, 5, t->created_at, false) != SQLITE_OK ||
	    bind_text(q, 6, t->updated_at, false) != SQLITE_OK ||
	    sqlite3_bind_int64(q, 7, t->rev) != SQLITE_OK ||
	    bind_text(q, 8, model_router_or_local(t->router), false) != SQLITE_OK)
		return -1;
	return 0;
}

/* A table that gives no number keeps the stored one (and a retry matches what was assigned). */
static void rtb_inherit(void *o, const void *cur)
{
	struct route_table *t = o;
	const struct route_table *c = cur;

	if (!t->table)
		t->table = c->table;
	if (!t->router[0])
		memcpy(t->router, c->router, sizeof(t->router));
}

/* The other table of t's router whose column (?1: text, or number when text is NULL) is t's. */
static int rtb_other(struct store *s, enum st which, const char *text, int64_t no,
                     const struct route_table *t, char *other, struct vr_err *e)
{
	sqlite3_stmt *q = st_get(s, which);

	return store_first_row(
	    s, q,
	    (text ? bind_text(q, 1, text, false) : sqlite3_bind_int64(q, 1, no)) == SQLITE_OK &&
	        bind_text(q, 2, t->id, false) == SQLITE_OK &&
	        bind_text(q, 3, model_router_or_local(t->router), false) == SQLITE_OK,
	    other, NULL, "looking for a conflicting route table", e);
}

/* Name the other table holding t's name or number. */
static int rtb_unique(struct store *s, const void *o, const char *key, const char *dbmsg,
                      struct vr_err *e)
{
	const struct route_table *t = o;
	char other[ID_MAX];

	if (rtb_other(s, ST_RTB_BY_NAME, t->name, 0, t, other, e) < 0)
		return -1;
	if (other[0])
		return err_set(e, VR_ERR_CONFLICT, "name", "a %s named \"%s\" already exists (%s)",
		               "route table", t->name, other);
	if (rtb_other(s, ST_RTB_BY_NO, NULL, t->table, t, other, e) < 0)
		return -1;
	if (other[0])
		return err_set(e, VR_ERR_CONFLICT, "table",
		               "table %u is already used by route table %s", t->table, other);
	return err_set(e, VR_ERR_CONFLICT, "", "route table %s: %s", t->id, dbmsg);
}

/* Lowest number in [RTB_AUTO_FIRST, RTB_AUTO_LAST] used by no table and not in avoid. */
static int rtb_auto_table(struct store *s, const uint32_t *avoid, size_t navoid, uint32_t *out,
                          struct vr_err *e)
{
	sqlite3_stmt *q = st_get(s, ST_RTB_NOS_IN);
	struct rtb_nos used = {0};
	int ret = -1;
	int rc;

	for (size_t i = 0; i < navoid; i++)
		store_rtb_nos_mark(&used, avoid[i]);
	if (sqlite3_bind_int64(q, 1, RTB_AUTO_FIRST) != SQLITE_OK ||
	    sqlite3_bind_int64(q, 2, RTB_AUTO_LAST) != SQLITE_OK) {
		store_db_err(s, e, "binding");
		goto out;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW)
		store_rtb_nos_mark(&used, (uint32_t)sqlite3_column_int64(q, 0));
	if (rc != SQLITE_DONE) {
		store_db_err(s, e, "listing table numbers");
		goto out;
	}
	*out = store_rtb_nos_free(&used, RTB_AUTO_FIRST);
	if (*out) {
		ret = 0;
		goto out;
	}
	err_set(e, VR_ERR_CONFLICT, "table", RTB_NONE_FREE_FMT, RTB_AUTO_FIRST, RTB_AUTO_LAST);
out:
	st_done(q);
	return ret;
}

/* The table numbers a create must not assign: those the kernel already uses. */
struct rtb_avoid {
	const uint32_t *v;
	size_t n;
};

/*
 * A new table without a number gets a free one (arg: a struct rtb_avoid, or
 * NULL when there is nothing to avoid but the stored tables).
 * The kernel's main table is not ours to rename or move; only its words are.
 */
static int rtb_prepare(struct store *s, void *o, const void *old, const void *arg, struct vr_err *e)
{
	struct route_table *t = o;
	const struct route_table *cur = old;
	const struct rtb_avoid *avoid = arg;
	bool main_table = model_rtb_main_router(t->id) != NULL;

	if (!cur) {
		/* A main table comes with its router (store_router_ensure), never by a create. */
		if (main_table)
			return err_set(
			    e, VR_ERR_CONFLICT, "id",
			    "%s is the built-in main table of router %s: it is made with "
			    "the router's first object, not created",
			    t->id, model_rtb_main_router(t->id));
		if (!t->router[0])
			snprintf(t->router, sizeof(t->router), "%s", ROUTER_LOCAL);
		if (store_router_ensure_in(s, t->router, e) < 0)
			return -1;
		return t->table ? 0
		                : rtb_auto_table(s, avoid ? avoid->v : NULL, avoid ? avoid->n : 0,
		                                 &t->table, e);
	}
	if (strcmp(t->router, cur->router) != 0)
		return err_set(e, VR_ERR_INVALID, "router",
		               "route table %s belongs to router %s: router \"%s\" would move it, "
		               "and a table stays with its router",
		               t->id, cur->router, t->router);
	if (main_table && strcmp(t->name, cur->name) != 0)
		return err_set(
		    e, VR_ERR_CONFLICT, "name",
		    "the built-in main table %s cannot be renamed (name must stay \"%s\")", t->id,
		    cur->name);
	if (main_table && t->table != RTB_MAIN_TABLE)
		return err_set(
		    e, VR_ERR_CONFLICT, "table",
		    "the built-in main table %s cannot be renumbered (table must stay %u)", t->id,
		    RTB_MAIN_TABLE);
	return 0;
}

/* A table stays while a route or a subnet uses it: REFERENCED naming one. */
static int rtb_held(struct store *s, const char *id, struct vr_err *e)
{
	char user[ID_MAX];

	if (store_first_ids(s, ST_RTB_USER, id, NULL, user, NULL, "looking for users of a table",
	                    e) < 0)
		return -1;
	if (user[0])
		return err_set(e, VR_ERR_REFERENCED, "", "route table %s is still used by route %s",
		               id, user);
	if (store_first_ids(s, ST_RTB_SUBNET_USER, id, NULL, user, NULL,
	                    "looking for users of a table", e) < 0)
		return -1;
	if (user[0])
		return err_set(e, VR_ERR_REFERENCED, "",
		               "route table %s is still used by subnet %s", id, user);
	return 0;
}

/* The kernel's main table stays: there is always one to route by. */
static int rtb_may_delete(const char *id, struct vr_err *e)
{
	if (model_rtb_main_router(id))
		return err_set(e, VR_ERR_CONFLICT, "",
		               "the built-in main table %s cannot be deleted", id);
	return 0;
}

/* A failed create or replace leaves no assigned number behind for the caller to resend. */
static void rtb_unfill(void *o, const void *asked)
{
	struct route_table *t = o;

	t->table = ((const struct route_table *)asked)->table;
	memcpy(t->router, ((const struct route_table *)asked)->router, sizeof(t->router));
}

/* All routers' tables, or router f->router's. */
static enum st rtb_list_by(const struct store_filter *f, const char *bind[LIST_BIND_MAX], size_t *n)
{
	bind[0] = f->router;
	*n = 1;
	return ST_RTB_LIST;
}

KIND_MODEL_FNS(rtb)

const struct kind store_kind_rtb = {
    KIND(rtb, RTB, struct route_table, "route_tables", "rtb-", "route table"),
    .name = offsetof(struct route_table, name),
    .from_row = rtb_from_row,
    .inherit = rtb_inherit,
    .bind = rtb_bind,
    .prepare = rtb_prepare,
    .unfill = rtb_unfill,
    .may_delete = rtb_may_delete,
    .held = rtb_held,
    .unique = rtb_unique,
    .list_by = rtb_list_by,
};

int store_rtb_create(struct store *s, struct route_table *t, const uint32_t *avoid, size_t navoid,
                     struct vr_err *e)
{
	const struct rtb_avoid av = {avoid, navoid};

	return store_obj_create_with(s, STORE_RTB, t, &av, e);
}

/* ---- numbers for new tables (also store_config.c's) ---- */

void store_rtb_nos_mark(struct rtb_nos *u, uint32_t no)
{
	if (no >= RTB_AUTO_FIRST && no <= RTB_AUTO_LAST)
		u->used[(no - RTB_AUTO_FIRST) / 8] |= (uint8_t)(1u << ((no - RTB_AUTO_FIRST) % 8));
}

uint32_t store_rtb_nos_free(const struct rtb_nos *u, uint32_t from)
{
	for (uint32_t no = from < RTB_AUTO_FIRST ? RTB_AUTO_FIRST : from; no <= RTB_AUTO_LAST; no++)
		if (!(u->used[(no - RTB_AUTO_FIRST) / 8] & (1u << ((no - RTB_AUTO_FIRST) % 8))))
			return no;
	return 0;
}

/* ---- what routes and subnets ask of their table ---- */

/* INVALID naming route_table_id: the table an object refers to does not exist. */
int store_no_table(struct vr_err *e, const char *table_id)
{
	return err_set(e, VR_ERR_INVALID, "route_table_id", "route table \"%s\" does not exist",
	               table_id);
}

/*
 * The kernel number of table table_id into *no and its router into router
 * (ROUTER_MAX), which must be router's when router was given (INVALID naming
 * router); INVALID when that table does not exist. A main table of a router
 * is made first if it is missing: the first object naming its router.
 */
int store_table_of(struct store *s, const char *table_id, uint32_t *no, char *router,
                   struct vr_err *e)
{
	struct route_table t = {0};
	const char *owner = model_rtb_main_router(table_id);
	int rc;

	if (owner && store_router_ensure_in(s, owner, e) < 0)
		return -1;
	rc = store_obj_read(s, STORE_RTB, table_id, &t, e);
	model_rtb_clear(&t);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return store_no_table(e, table_id);
	if (router[0] && strcmp(router, t.router) != 0)
		return err_set(e, VR_ERR_INVALID, "router",
		               "router \"%s\" is not the router of route table %s (\"%s\"): a "
		               "route's or subnet's router is its table's",
		               router, table_id, t.router);
	*no = t.table;
	memcpy(router, t.router, ROUTER_MAX);
	return 0;
}

/* ---- a router's own main table and settings ---- */

int store_router_ensure_in(struct store *s, const char *router, struct vr_err *e)
{
	sqlite3_stmt *q = st_get(s, ST_RTB_ENSURE);
	char id[ID_MAX], now[TIME_MAX];
	int64_t rev;
	int rc;

	router = model_router_or_local(router);
	if (strcmp(router, ROUTER_LOCAL) == 0)
		return 0; /* rtb-main and its settings row are there from migrations 001 and 005 */
	if (store_rev_read(s, &rev, e) < 0)
		return -1;
	/* Stamped as the write that makes them, whose revision is the next one. */
	rev++;
	model_rtb_main_id(router, id);
	model_now(now);
	rc = bind_text(q, 1, id, false) == SQLITE_OK &&
	             bind_text(q, 2, router, false) == SQLITE_OK &&
	             bind_text(q, 3, now, false) == SQLITE_OK &&
	             sqlite3_bind_int64(q, 4, rev) == SQLITE_OK
	         ? sqlite3_step(q)
	         : SQLITE_MISUSE;
	st_done(q);
	if (rc != SQLITE_DONE)
		return store_db_err(s, e, "making a router's main table");
	q = st_get(s, ST_SET_ENSURE);
	rc = bind_text(q, 1, router, false) == SQLITE_OK &&
	             bind_text(q, 2, now, false) == SQLITE_OK &&
	             sqlite3_bind_int64(q, 3, rev) == SQLITE_OK
	         ? sqlite3_step(q)
	         : SQLITE_MISUSE;
	st_done(q);
	if (rc != SQLITE_DONE)
		return store_db_err(s, e, "making a router's settings");
	return 0;
}

int store_router_ensure(struct store *s, const char *router, struct vr_err *e)
{
	struct route_table t = {0};
	char id[ID_MAX];
	int64_t rev;
	int ret = -1;
	int rc;

	model_rtb_main_id(router, id);
	if (store_tx_begin(s, e) < 0)
		return -1;
	rc = store_obj_read(s, STORE_RTB, id, &t, e);
	model_rtb_clear(&t);
	if (rc != 0) {
		ret = rc < 0 ? -1 : 0;
		goto out;
	}
	if (store_router_ensure_in(s, router, e) < 0 || store_rev_bump(s, &rev, e) < 0 ||
	    store_write_commit(s, id, NULL, e) < 0)
		goto out;
	ret = 0;
out:
	store_tx_end(s);
	return ret;
}
