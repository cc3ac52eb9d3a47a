/*
 * Routes: their columns, their table, the conflict a second next hop meets,
 * and the reconciler's walk over all of them.
 */
#include "store_int.h"

#include <string.h>
#include <sys/socket.h>

#include <sqlite3.h>

/* Mirrors routes.metric_key in schema/001_init.sql: the kernel stores IPv6 metric 0 as 1024. */
int64_t store_metric_key(int family, uint32_t metric)
{
	if (family == AF_INET6 && metric == 0)
		return 1024;
	return metric;
}

int64_t store_route_metric_key(const struct route *r)
{
	return store_metric_key(r->dst.addr.family, r->metric);
}

static int route_from_row(struct store *s, sqlite3_stmt *q, void *o, bool with_desc,
                          struct vr_err *e)
{
	struct route *r = o;
	int64_t metric = sqlite3_column_int64(q, 6);
	int64_t no = sqlite3_column_int64(q, 11);
	char type[16];
	int t;

	memset(r, 0, sizeof(*r));
	if (col_copy(q, 0, r->id, sizeof(r->id)) < 0 ||
	    col_copy(q, 1, r->table_id, sizeof(r->table_id)) < 0 ||
	    col_copy(q, 2, r->destination, sizeof(r->destination)) < 0 ||
	    col_copy(q, 3, type, sizeof(type)) < 0 ||
	    col_copy(q, 4, r->via_text, sizeof(r->via_text)) < 0 ||
	    col_copy(q, 5, r->dev, sizeof(r->dev)) < 0 ||
	    col_copy(q, 8, r->created_at, sizeof(r->created_at)) < 0 ||
	    col_copy(q, 9, r->updated_at, sizeof(r->updated_at)) < 0 ||
	    col_copy(q, 12, r->router, sizeof(r->router)) < 0)
		return corrupt(e, "route", r->id);
	t = model_route_type_parse(type);
	if (t < 0 || metric < 0 || metric > UINT32_MAX || no <= 0 || no > UINT32_MAX)
		return corrupt(e, "route", r->id);
	r->type = (enum route_type)t;
	r->metric = (uint32_t)metric;
	r->table = (uint32_t)no;
	r->rev = sqlite3_column_int64(q, 10);
	/* Stored only after validation, so these parse; a failure means a damaged row. */
	if (cidr_parse_prefix(r->destination, false, &r->dst) < 0)
		return corrupt(e, "route", r->id);
	if (r->via_text[0] && cidr_parse_addr(r->via_text, &r->via) < 0)
		return corrupt(e, "route", r->id);
	return with_desc ? col_desc(q, 7, &r->description, e) : 0;
}

/* The uniqueness key: the canonical destination, which validation made agree with the text. */
static void route_key(const void *o, char *key)
{
	const struct route *r = o;

	cidr_format_prefix(&r->dst, key, CIDR_STR_MAX);
}

static int route_bind(sqlite3_stmt *q, const void *o, const char *key)
{
	const struct route *r = o;

	if (bind_text(q, 1, r->id, false) != SQLITE_OK ||
	    bind_text(q, 2, r->table_id, false) != SQLITE_OK ||
	    bind_text(q, 3, r->destination, false) != SQLITE_OK ||
	    bind_text(q, 4, key, false) != SQLITE_OK ||
	    sqlite3_bind_int(q, 5, r->dst.addr.family == AF_INET6 ? 6 : 4) != SQLITE_OK ||
	    bind_text(q, 6, model_route_type_name(r->type), false) != SQLITE_OK ||
	    bind_text(q, 7, r->via_text, true) != SQLITE_OK ||
	    bind_text(q, 8, r->dev, true) != SQLITE_OK ||
	    sqlite3_bind_int64(q, 9, r->metric) != SQLITE_OK ||
	    bind_text(q, 10, r->description, false) != SQLITE_OK ||
	    bind_text(q, 11, r->created_at, false) != SQLITE_OK ||
	    bind_text(q, 12, r->updated_at, false) != SQLITE_OK ||
	    sqlite3_bind_int64(q, 13, r->rev) != SQLITE_OK)
		return -1;
	return 0;
}

/*
 * Fill r->table with the kernel number of r->table_id and r->router with its
 * router (INVALID when it does not exist, or is another router's than r's).
 */
static int route_prepare(struct store *s, void *o, const void *old, const void *arg,
                         struct vr_err *e)
{
	struct route *r = o;

	return store_table_of(s, r->table_id, &r->table, r->router, e);
}

/* A failed write leaves r's router as the caller gave it. */
static void route_unfill(void *o, const void *asked)
{
	memcpy(((struct route *)o)->router, ((const struct route *)asked)->router, ROUTER_MAX);
}

static int route_dangling(const void *o, struct vr_err *e)
{
	const struct route *r = o;

	return store_no_table(e, r->table_id);
}

/* Name the route already there with the same table, destination and kernel metric. */
static int route_unique(struct store *s, const void *o, const char *key, const char *dbmsg,
                        struct vr_err *e)
{
	const struct route *r = o;
	sqlite3_stmt *q = st_get(s, ST_RT_CONFLICT);
	char other[ID_MAX] = "";
	uint32_t metric = 0;
	int ret = -1;
	int rc;

	/* Not first_row: the metric column is a number. */
	if (bind_text(q, 1, r->table_id, false) != SQLITE_OK ||
	    bind_text(q, 2, key, false) != SQLITE_OK ||
	    sqlite3_bind_int64(q, 3, store_route_metric_key(r)) != SQLITE_OK ||
	    bind_text(q, 4, r->id, false) != SQLITE_OK) {
		store_db_err(s, e, "binding");
		goto out;
	}
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		col_copy(q, 0, other, sizeof(other));
		metric = (uint32_t)sqlite3_column_int64(q, 1);
	} else if (rc != SQLITE_DONE) {
		store_db_err(s, e, "looking for the conflicting route");
		goto out;
	}
	if (!other[0])
		err_set(e, VR_ERR_CONFLICT, "destination", "route %s: %s", r->id, dbmsg);
	else
		err_set(
		    e, VR_ERR_CONFLICT, "destination",
		    "a route to %s with metric %u already exists in table %s (%s)%s; " NO_MULTIPATH,
		    key, metric, r->table_id, other,
		    metric != r->metric ? "; the kernel counts IPv6 metric 0 as 1024" : "");
out:
	st_done(q);
	return ret;
}

/* Two statements, so the table filter can use routes_by_table. */
static enum st route_list_by(const struct store_filter *f, const char *bind[LIST_BIND_MAX],
                             size_t *n)
{
	enum st which = list_by_one(f->table_id, ST_RT_LIST_TABLE, ST_RT_LIST, bind, n);

	bind[(*n)++] = f->router;
	return which;
}

KIND_MODEL_FNS(route)

const struct kind store_kind_route = {
    KIND(route, RT, struct route, "routes", "rt-", "route"),
    .from_row = route_from_row,
    .index_key = route_key,
    .bind = route_bind,
    .prepare = route_prepare,
    .unfill = route_unfill,
    .dangling = route_dangling,
    .unique = route_unique,
    .list_by = route_list_by,
};

/* Hands store_walk_rows' routes (of router, unless NULL) to the callback of store_routes_each. */
struct each_route {
	const char *router;
	int (*fn)(void *arg, const struct route *r);
	void *arg;
};

static int each_route(void *arg, enum store_kind k, const void *obj, struct vr_err *e)
{
	const struct each_route *er = arg;
	const struct route *r = obj;

	if (er->router && strcmp(er->router, r->router) != 0)
		return 0;
	return er->fn(er->arg, r);
}

int store_routes_each(struct store *s, int (*fn)(void *arg, const struct route *r), void *arg,
                      int64_t *rev, struct vr_err *e)
{
	return store_routes_each_of(s, NULL, fn, arg, rev, e);
}

int store_routes_each_of(struct store *s, const char *router,
                         int (*fn)(void *arg, const struct route *r), void *arg, int64_t *rev,
                         struct vr_err *e)
{
	struct each_route er = {router, fn, arg};

	if (store_read_begin(s, rev, e) < 0)
		return -1;
	return store_read_end(
	    s, store_walk_rows(s, STORE_ROUTE, false, each_route, &er, "reading routes", e), e);
}
