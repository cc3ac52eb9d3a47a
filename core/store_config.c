/*
 * The whole desired state at once (GET and PUT /v1/config): a document is
 * checked as a whole against itself, merged with the stored objects by id,
 * written in one transaction in an order no unique index trips over, and
 * described as a diff; or read back in one transaction.
 */
#include "store_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <sqlite3.h>

#include "idmap.h"

/* What a replace does with one item of the document. */
enum cfg_op { CFG_SAME = 0, CFG_NEW, CFG_CHANGED };

/* One replace in progress. */
struct cfg {
	struct store *s;
	struct store_config *c;
	struct store_diff *d;
	void *items[STORE_KINDS];          /* c's arrays, by kind */
	size_t n[STORE_KINDS];             /* their lengths */
	uint32_t *ord[STORE_KINDS];        /* item indices in id order */
	uint8_t *op[STORE_KINDS];          /* enum cfg_op per item */
	char (*gone[STORE_KINDS])[ID_MAX]; /* stored ids the document drops, every one */
	size_t ngone[STORE_KINDS], capgone[STORE_KINDS];
	void *cur[STORE_KINDS]; /* the stored objects of each kind but routes, in id order */
	size_t ncur[STORE_KINDS];
	struct route_table main_cur; /* the stored main table of the scope (rtb-main) */
	char main_id[ID_MAX];        /* its id */
	struct idmap *tables;        /* every table after the replace: id -> struct route_table * */
	ssize_t main_doc;            /* rtb-main's index in the document, -1 when absent */
	int64_t rev;
	char now[TIME_MAX];
};

static void *item_at(const struct cfg *x, enum store_kind k, size_t i)
{
	return (char *)x->items[k] + i * store_kinds[k]->size;
}

static char *item_id(const struct cfg *x, enum store_kind k, size_t i)
{
	if (k == STORE_ROUTE && x->c->pack)
		return route_pack_id(x->c->pack, i);
	return item_at(x, k, i);
}

/* Item i of kind k in full: in place, or for a pack's route filled into *tmp. */
static void *item_full(const struct cfg *x, enum store_kind k, size_t i, struct route *tmp)
{
	if (k == STORE_ROUTE && x->c->pack) {
		route_pack_get(x->c->pack, i, tmp);
		return tmp;
	}
	return item_at(x, k, i);
}

/* An error about item i of kind k; field names its field ("routes[17].destination"), NULL the item.
 */
static int item_err(struct vr_err *e, enum vr_errc code, enum store_kind k, size_t i,
                    const char *field, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static int item_err(struct vr_err *e, enum vr_errc code, enum store_kind k, size_t i,
                    const char *field, const char *fmt, ...)
{
	char path[ERR_FIELD_MAX], msg[ERR_MSG_MAX];
	va_list ap;

	if (field && field[0])
		snprintf(path, sizeof(path), "%s[%zu].%s", store_kinds[k]->key, i, field);
	else
		snprintf(path, sizeof(path), "%s[%zu]", store_kinds[k]->key, i);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(e, code, path, "%s", msg);
}

/* Point an error from a single-object write at item i of kind k. */
static int item_wrap(struct vr_err *e, enum store_kind k, size_t i, const char *id)
{
	char msg[ERR_MSG_MAX];

	if (e->code == VR_ERR_INTERNAL)
		return -1;
	snprintf(msg, sizeof(msg), "%s", e->msg);
	return item_err(e, e->code, k, i, e->field, "%s %s: %s", store_kinds[k]->noun, id, msg);
}

/* ---- sorting item indices ---- */

struct sort_ctx {
	const struct cfg *x;
	enum store_kind k;
};

static int by_id(const void *a, const void *b, void *arg)
{
	const struct sort_ctx *sc = arg;

	return strcmp(item_id(sc->x, sc->k, *(const uint32_t *)a),
	              item_id(sc->x, sc->k, *(const uint32_t *)b));
}

/* A new array of the indices 0..n-1 of kind k sorted with cmp; NULL when out of memory. */
static uint32_t *sorted_idx(const struct cfg *x, enum store_kind k,
                            int (*cmp)(const void *, const void *, void *))
{
	struct sort_ctx sc = {.x = x, .k = k};
	uint32_t *v = malloc((x->n[k] ? x->n[k] : 1) * sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < x->n[k]; i++)
		v[i] = (uint32_t)i;
	qsort_r(v, x->n[k], sizeof(*v), cmp, &sc);
	return v;
}

/*
 * The first pair of items equal under cmp in the sorted v: 1 with *lo < *hi
 * their document indices (the later one is the one to blame), 0 when none.
 */
static int first_dup(const struct cfg *x, enum store_kind k, const uint32_t *v,
                     int (*cmp)(const void *, const void *, void *), uint32_t *lo, uint32_t *hi)
{
	struct sort_ctx sc = {.x = x, .k = k};

	for (size_t j = 1; j < x->n[k]; j++) {
		if (cmp(&v[j - 1], &v[j], &sc))
			continue;
		*lo = v[j - 1] < v[j] ? v[j - 1] : v[j];
		*hi = v[j - 1] < v[j] ? v[j] : v[j - 1];
		return 1;
	}
	return 0;
}

/* Give items without an id a new one, sort by id, refuse an id given twice. */
static int cfg_ids(struct cfg *x, enum store_kind k, struct vr_err *e)
{
	uint32_t lo, hi;

	for (size_t i = 0; i < x->n[k]; i++)
		if (!item_id(x, k, i)[0])
			model_id_new(store_kinds[k]->prefix, item_id(x, k, i));
	x->ord[k] = sorted_idx(x, k, by_id);
	x->op[k] = calloc(x->n[k] ? x->n[k] : 1, 1);
	if (!x->ord[k] || !x->op[k])
		return oom(e);
	if (first_dup(x, k, x->ord[k], by_id, &lo, &hi))
		return item_err(e, VR_ERR_CONFLICT, k, hi, "id", "id %s is also %s[%u]",
		                item_id(x, k, hi), store_kinds[k]->key, lo);
	return 0;
}

/* The document index of the item of kind k with this id, or -1. */
static ssize_t find_id(const struct cfg *x, enum store_kind k, const char *id)
{
	size_t lo = 0, hi = x->n[k];

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(item_id(x, k, x->ord[k][mid]), id);

		if (c == 0)
			return (ssize_t)x->ord[k][mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* ---- merging the document with the stored objects ---- */

static int diff_note(struct store_diff_ids *l, const char *id, struct vr_err *e)
{
	l->n++;
	if (l->nids >= STORE_DIFF_IDS_MAX)
		return 0;
	if (!l->ids) {
		l->ids = malloc(STORE_DIFF_IDS_MAX * sizeof(*l->ids));
		if (!l->ids)
			return oom(e);
	}
	snprintf(l->ids[l->nids++], ID_MAX, "%s", id);
	return 0;
}

static int gone_note(struct cfg *x, enum store_kind k, const char *id, struct vr_err *e)
{
	if (store_array_grow((void **)&x->gone[k], &x->capgone[k], x->ngone[k], sizeof(*x->gone[k]),
	                     LIST_MAX, e) < 0)
		return -1;
	snprintf(x->gone[k][x->ngone[k]++], ID_MAX, "%s", id);
	return diff_note(&x->d->removed[k], id, e);
}

/*
 * The stored objects of one kind, in id order, one at a time: next returns
 * 1 with *obj (valid until the next call), 0 at the end, -1 on error.
 */
struct cur_iter {
	int (*next)(struct cur_iter *it, const void **obj, struct vr_err *e);
	/* an array */
	const char *v;
	size_t n, size, i;
	/* or a statement */
	struct store *s;
	sqlite3_stmt *q;
	struct route r;
};

static int array_next(struct cur_iter *it, const void **obj, struct vr_err *e)
{
	if (it->i >= it->n)
		return 0;
	*obj = it->v + it->size * it->i++;
	return 1;
}

static int routes_next(struct cur_iter *it, const void **obj, struct vr_err *e)
{
	int rc;

	model_route_clear(&it->r);
	rc = sqlite3_step(it->q);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return store_db_err(it->s, e, "reading the routes");
	if (store_kind_route.from_row(it->s, it->q, &it->r, true, e) < 0)
		return -1;
	*obj = &it->r;
	return 1;
}

/* What an item keeps of the stored object: created_at, and updated_at and rev when the same. */
static void obj_keep(const struct kind *d, void *item, const void *cur, bool same)
{
	memcpy(obj_field(item, d->created_at), obj_cfield(cur, d->created_at), TIME_MAX);
	if (!same)
		return;
	memcpy(obj_field(item, d->updated_at), obj_cfield(cur, d->updated_at), TIME_MAX);
	*(int64_t *)obj_field(item, d->rev) = obj_rev(d, cur);
}

/* Whether stored object cur of kind k is in the replace's scope (store_config.router). */
static bool in_scope(const struct cfg *x, enum store_kind k, const void *cur)
{
	const char *router = NULL;

	if (!x->c->router)
		return true;
	if (k == STORE_RTB)
		router = ((const struct route_table *)cur)->router;
	else if (k == STORE_ROUTE)
		router = ((const struct route *)cur)->router;
	else if (k == STORE_SUBNET)
		router = ((const struct subnet *)cur)->router;
	return !router || strcmp(router, x->c->router) == 0;
}

/* INVALID for item i of kind k naming a router other than the scope's. */
static int item_router(const struct cfg *x, enum store_kind k, size_t i, const char *router,
                       struct vr_err *e)
{
	if (!x->c->router || !router[0] || strcmp(router, x->c->router) == 0)
		return 0;
	return item_err(e, VR_ERR_INVALID, k, i, "router",
	                "router \"%s\" is not the router this document is for (\"%s\"): another "
	                "router's objects are replaced by a document for that router",
	                router, x->c->router);
}

/* Classify every item of kind k and every stored object (from it) as same, new, changed, gone. */
static int cfg_merge(struct cfg *x, enum store_kind k, struct cur_iter *it, struct vr_err *e)
{
	const struct kind *kd = store_kinds[k];
	struct store_diff *d = x->d;
	const void *cur = NULL;
	struct route tmp;
	size_t j = 0;
	void *o;
	int rc;

	rc = it->next(it, &cur, e);
	while (rc >= 0 && (rc > 0 || j < x->n[k])) {
		size_t i = j < x->n[k] ? x->ord[k][j] : 0;
		int c;

		/* Another router's: not this replace's to keep or drop. */
		if (rc > 0 && !in_scope(x, k, cur)) {
			rc = it->next(it, &cur, e);
			continue;
		}
		if (rc <= 0)
			c = 1;
		else if (j == x->n[k])
			c = -1;
		else
			c = strcmp((const char *)cur, item_id(x, k, i));
		if (c < 0) {
			/* Stored, not in the document: deleted, except a built-in main table. */
			if (k == STORE_RTB && model_rtb_main_router(cur))
				d->unchanged[k]++;
			else if (gone_note(x, k, cur, e) < 0)
				return -1;
			rc = it->next(it, &cur, e);
			continue;
		}
		if (c > 0) {
			x->op[k][i] = CFG_NEW;
			if (diff_note(&d->added[k], item_id(x, k, i), e) < 0)
				return -1;
			j++;
			continue;
		}
		o = item_full(x, k, i, &tmp);
		if (kd->inherit)
			kd->inherit(o, cur);
		if (kd->same(cur, o)) {
			x->op[k][i] = CFG_SAME;
			d->unchanged[k]++;
		} else {
			x->op[k][i] = CFG_CHANGED;
			if (diff_note(&d->changed[k], item_id(x, k, i), e) < 0)
				return -1;
		}
		obj_keep(kd, o, cur, x->op[k][i] == CFG_SAME);
		/* A pack keeps what the write needs: a changed route's created_at. */
		if (o == &tmp && x->op[k][i] == CFG_CHANGED &&
		    route_pack_put(x->c->pack, i, &tmp) < 0)
			return oom(e);
		j++;
		rc = it->next(it, &cur, e);
	}
	return rc < 0 ? -1 : 0;
}

/* cfg_merge with the stored objects read into x->cur[k]. */
static int cfg_merge_array(struct cfg *x, enum store_kind k, struct vr_err *e)
{
	struct cur_iter it = {
	    .next = array_next, .v = x->cur[k], .n = x->ncur[k], .size = store_kinds[k]->size};

	return cfg_merge(x, k, &it, e);
}

/* Read the stored objects of kind k into x->cur[k] and merge them with the items. */
static int cfg_merge_stored(struct cfg *x, enum store_kind k, struct vr_err *e)
{
	if (store_obj_load(x->s, k, true, LIST_MAX, &x->cur[k], &x->ncur[k], e) < 0)
		return -1;
	return cfg_merge_array(x, k, e);
}

/* Items of a kind with a name (store_kinds[k]->name), by name. */
static int by_name(const void *a, const void *b, void *arg)
{
	const struct sort_ctx *sc = arg;
	size_t off = store_kinds[sc->k]->name;

	return strcmp(obj_cfield(item_at(sc->x, sc->k, *(const uint32_t *)a), off),
	              obj_cfield(item_at(sc->x, sc->k, *(const uint32_t *)b), off));
}

/* CONFLICT for the later of two items of kind k with the same name; v: indices sorted by_name. */
static int cfg_names(const struct cfg *x, enum store_kind k, const uint32_t *v, struct vr_err *e)
{
	const struct kind *d = store_kinds[k];
	uint32_t lo, hi;

	if (!first_dup(x, k, v, by_name, &lo, &hi))
		return 0;
	return item_err(e, VR_ERR_CONFLICT, k, hi, "name", "a %s named \"%s\" is also %s[%u] (%s)",
	                d->noun, (const char *)obj_cfield(item_at(x, k, hi), d->name), d->key, lo,
	                item_id(x, k, lo));
}

/* ---- route tables ---- */

static int rtb_by_no(const void *a, const void *b, void *arg)
{
	const struct sort_ctx *sc = arg;
	const struct route_table *ta = item_at(sc->x, STORE_RTB, *(const uint32_t *)a);
	const struct route_table *tb = item_at(sc->x, STORE_RTB, *(const uint32_t *)b);

	return (ta->table > tb->table) - (ta->table < tb->table);
}

/* Numbers for the new tables that gave none: free in the document, the store and avoid. */
static int rtb_assign(struct cfg *x, const uint32_t *avoid, size_t navoid, struct vr_err *e)
{
	struct route_table *t = x->items[STORE_RTB];
	const struct route_table *cur = x->cur[STORE_RTB];
	struct rtb_nos used = {0};
	uint32_t no = RTB_AUTO_FIRST;

	for (size_t i = 0; i < navoid; i++)
		store_rtb_nos_mark(&used, avoid[i]);
	for (size_t i = 0; i < x->ncur[STORE_RTB]; i++)
		store_rtb_nos_mark(&used, cur[i].table);
	for (size_t i = 0; i < x->n[STORE_RTB]; i++)
		store_rtb_nos_mark(&used, t[i].table);
	for (size_t i = 0; i < x->n[STORE_RTB]; i++) {
		if (t[i].table)
			continue;
		no = store_rtb_nos_free(&used, no);
		if (!no)
			return item_err(e, VR_ERR_CONFLICT, STORE_RTB, i, "table",
			                RTB_NONE_FREE_FMT, RTB_AUTO_FIRST, RTB_AUTO_LAST);
		t[i].table = no;
		store_rtb_nos_mark(&used, no);
	}
	return 0;
}

static int cfg_tables(struct cfg *x, const uint32_t *avoid, size_t navoid, struct vr_err *e)
{
	struct route_table *t = x->items[STORE_RTB];
	const struct route_table *cur;
	uint32_t *v = NULL, lo, hi;
	int ret = -1;

	if (store_obj_load(x->s, STORE_RTB, true, LIST_MAX, &x->cur[STORE_RTB], &x->ncur[STORE_RTB],
	                   e) < 0)
		return -1;
	cur = x->cur[STORE_RTB];
	for (size_t i = 0; i < x->ncur[STORE_RTB]; i++)
		if (!strcmp(cur[i].id, x->main_id))
			x->main_cur = cur[i];
	if (!x->main_cur.id[0])
		return corrupt(e, "route table", x->main_id);
	for (size_t i = 0; i < x->n[STORE_RTB]; i++) {
		if (item_router(x, STORE_RTB, i, t[i].router, e) < 0)
			return -1;
		if (!t[i].router[0])
			snprintf(t[i].router, sizeof(t[i].router), "%s",
			         model_router_or_local(x->c->router));
	}
	if (cfg_ids(x, STORE_RTB, e) < 0 || cfg_merge_array(x, STORE_RTB, e) < 0)
		return -1;
	x->main_doc = find_id(x, STORE_RTB, x->main_id);
	if (x->main_doc >= 0) {
		const struct route_table *m = &t[x->main_doc];

		/* The same words as a route table replace (store_rtb.c). */
		if (strcmp(m->name, x->main_cur.name))
			return item_err(e, VR_ERR_CONFLICT, STORE_RTB, (size_t)x->main_doc, "name",
			                "the built-in main table %s cannot be renamed (name must "
			                "stay \"%s\")",
			                x->main_id, x->main_cur.name);
		if (m->table != RTB_MAIN_TABLE)
			return item_err(e, VR_ERR_CONFLICT, STORE_RTB, (size_t)x->main_doc, "table",
			                "the built-in main table %s cannot be renumbered (table "
			                "must stay %u)",
			                x->main_id, RTB_MAIN_TABLE);
	} else {
		/* rtb-main stays whatever the document says: nothing may take its name or number.
		 */
		for (size_t i = 0; i < x->n[STORE_RTB]; i++) {
			if (!strcmp(t[i].name, x->main_cur.name))
				return item_err(e, VR_ERR_CONFLICT, STORE_RTB, i, "name",
				                "a route table named \"%s\" already exists (%s)",
				                t[i].name, x->main_id);
			if (t[i].table == RTB_MAIN_TABLE)
				return item_err(e, VR_ERR_CONFLICT, STORE_RTB, i, "table",
				                "table %u is already used by route table %s",
				                t[i].table, x->main_id);
		}
	}
	if (rtb_assign(x, avoid, navoid, e) < 0)
		return -1;
	v = sorted_idx(x, STORE_RTB, by_name);
	if (!v) {
		oom(e);
		goto out;
	}
	if (cfg_names(x, STORE_RTB, v, e) < 0)
		goto out;
	qsort_r(v, x->n[STORE_RTB], sizeof(*v), rtb_by_no, &(struct sort_ctx){x, STORE_RTB});
	if (first_dup(x, STORE_RTB, v, rtb_by_no, &lo, &hi)) {
		item_err(e, VR_ERR_CONFLICT, STORE_RTB, hi, "table",
		         "table %u is also used by route_tables[%u] (%s)", t[hi].table, lo,
		         t[lo].id);
		goto out;
	}
	/* Every table after the replace, for the references of routes and subnets. */
	x->tables = idmap_new();
	if (!x->tables) {
		oom(e);
		goto out;
	}
	for (size_t i = 0; i < x->n[STORE_RTB]; i++)
		if (idmap_put(x->tables, t[i].id, &t[i])) {
			oom(e);
			goto out;
		}
	if (x->main_doc < 0 && idmap_put(x->tables, x->main_id, &x->main_cur)) {
		oom(e);
		goto out;
	}
	ret = 0;
out:
	free(v);
	return ret;
}

/*
 * INVALID unless table_id is a table after the replace; fills *no with its
 * number and router (ROUTER_MAX) with its router, which one given must be.
 */
static int table_ref(struct cfg *x, enum store_kind k, size_t i, const char *table_id, uint32_t *no,
                     char *router, struct vr_err *e)
{
	const struct route_table *t = idmap_get(x->tables, table_id);

	if (!t)
		return item_err(e, VR_ERR_INVALID, k, i, "route_table_id",
		                "route table \"%s\" does not exist (it is not in route_tables)",
		                table_id);
	if (router[0] && strcmp(router, t->router) != 0)
		return item_err(e, VR_ERR_INVALID, k, i, "router",
		                "router \"%s\" is not the router of route table %s (\"%s\"): a "
		                "route's or subnet's router is its table's",
		                router, table_id, t->router);
	*no = t->table;
	memcpy(router, t->router, ROUTER_MAX);
	return 0;
}

/* ---- routes ---- */

static int prefix_cmp(const struct prefix *a, const struct prefix *b)
{
	size_t len = cidr_addr_len(a->addr.family);

	if (a->addr.family != b->addr.family)
		return (a->addr.family > b->addr.family) - (a->addr.family < b->addr.family);
	if (a->len != b->len)
		return (a->len > b->len) - (a->len < b->len);
	return memcmp(a->addr.a, b->addr.a, len);
}

/* Route i's key: its table, destination and metric as the kernel counts it. */
static void route_key_of(const struct cfg *x, size_t i, uint32_t *table, const struct prefix **dst,
                         int64_t *metric)
{
	const struct route *r;
	uint32_t m;

	if (x->c->pack) {
		route_pack_key(x->c->pack, i, table, dst, &m);
		*metric = store_metric_key((*dst)->addr.family, m);
		return;
	}
	r = item_at(x, STORE_ROUTE, i);
	*table = r->table;
	*dst = &r->dst;
	*metric = store_route_metric_key(r);
}

/* The key the routes table holds unique: table, canonical destination, kernel metric. */
static int route_by_key(const void *a, const void *b, void *arg)
{
	const struct sort_ctx *sc = arg;
	const struct prefix *da, *db;
	uint32_t ta, tb;
	int64_t ma, mb;
	int c;

	route_key_of(sc->x, *(const uint32_t *)a, &ta, &da, &ma);
	route_key_of(sc->x, *(const uint32_t *)b, &tb, &db, &mb);
	if (ta != tb)
		return (ta > tb) - (ta < tb);
	c = prefix_cmp(da, db);
	if (c)
		return c;
	return (ma > mb) - (ma < mb);
}

static int cfg_routes(struct cfg *x, struct vr_err *e)
{
	struct cur_iter it = {.next = routes_next, .s = x->s, .q = st_get(x->s, ST_RT_LOAD)};
	struct route tmp, tmp_lo;
	const struct route *rh, *rl;
	char key[CIDR_STR_MAX];
	uint32_t *v = NULL, lo, hi;
	int ret = -1;

	if (cfg_ids(x, STORE_ROUTE, e) < 0)
		return -1;
	for (size_t i = 0; i < x->n[STORE_ROUTE]; i++) {
		struct route *r = x->c->pack ? &tmp : item_at(x, STORE_ROUTE, i);

		if (r == &tmp) /* table_id and router are all table_ref reads */
			route_pack_get_parsed(x->c->pack, i, &tmp);
		if (table_ref(x, STORE_ROUTE, i, r->table_id, &r->table, r->router, e) < 0)
			return -1;
		if (r == &tmp && route_pack_set_table(x->c->pack, i, r->table, r->router) < 0)
			return oom(e);
	}
	v = sorted_idx(x, STORE_ROUTE, route_by_key);
	if (!v)
		return oom(e);
	if (first_dup(x, STORE_ROUTE, v, route_by_key, &lo, &hi)) {
		rh = item_full(x, STORE_ROUTE, hi, &tmp);
		rl = item_full(x, STORE_ROUTE, lo, &tmp_lo);
		store_kind_route.index_key(rh, key);
		item_err(e, VR_ERR_CONFLICT, STORE_ROUTE, hi, "destination",
		         "a route to %s with metric %u in table %s is also routes[%u] "
		         "(%s)%s; " NO_MULTIPATH,
		         key, rh->metric, rh->table_id, lo, rl->id,
		         rh->metric != rl->metric ? "; the kernel counts IPv6 metric 0 as 1024"
		                                  : "");
		goto out;
	}
	/* One pass over the stored routes in id order: no copy of them in memory. */
	ret = cfg_merge(x, STORE_ROUTE, &it, e);
out:
	model_route_clear(&it.r);
	st_done(it.q);
	free(v);
	return ret;
}

/* ---- subnets ---- */

/* By network address, the shorter prefix first: an overlap then shows between neighbours. */
static int subnet_by_start(const void *a, const void *b, void *arg)
{
	const struct sort_ctx *sc = arg;
	const struct subnet *sa = item_at(sc->x, STORE_SUBNET, *(const uint32_t *)a);
	const struct subnet *sb = item_at(sc->x, STORE_SUBNET, *(const uint32_t *)b);
	int c;

	if (sa->cidr.addr.family != sb->cidr.addr.family)
		return (sa->cidr.addr.family > sb->cidr.addr.family) -
		       (sa->cidr.addr.family < sb->cidr.addr.family);
	c = memcmp(sa->cidr.addr.a, sb->cidr.addr.a, cidr_addr_len(sa->cidr.addr.family));
	if (c)
		return c;
	return (sa->cidr.len > sb->cidr.len) - (sa->cidr.len < sb->cidr.len);
}

static int cfg_subnets(struct cfg *x, struct vr_err *e)
{
	struct subnet *sn = x->items[STORE_SUBNET];
	size_t n = x->n[STORE_SUBNET];
	uint32_t *v = NULL;
	int ret = -1;

	if (cfg_ids(x, STORE_SUBNET, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (table_ref(x, STORE_SUBNET, i, sn[i].table_id, &sn[i].table, sn[i].router, e) <
		    0)
			return -1;
	v = sorted_idx(x, STORE_SUBNET, by_name);
	if (!v)
		return oom(e);
	if (cfg_names(x, STORE_SUBNET, v, e) < 0)
		goto out;
	/*
	 * Prefixes either nest or are disjoint, so in this order any overlap
	 * shows between neighbours: what lies between a prefix and one inside
	 * it starts inside it too.
	 */
	qsort_r(v, n, sizeof(*v), subnet_by_start, &(struct sort_ctx){x, STORE_SUBNET});
	for (size_t j = 1; j < n; j++) {
		const struct subnet *a = &sn[v[j - 1]], *b = &sn[v[j]];
		uint32_t l = v[j - 1] < v[j] ? v[j - 1] : v[j],
		         h = v[j - 1] < v[j] ? v[j] : v[j - 1];

		if (a->cidr.addr.family != b->cidr.addr.family ||
		    !cidr_overlaps(&a->cidr, &b->cidr))
			continue;
		item_err(e, VR_ERR_CONFLICT, STORE_SUBNET, h, "cidr",
		         "cidr %s overlaps subnets[%u] (%s, \"%s\", cidr %s)", sn[h].cidr_text, l,
		         sn[l].id, sn[l].name, sn[l].cidr_text);
		goto out;
	}
	ret = cfg_merge_stored(x, STORE_SUBNET, e);
out:
	free(v);
	return ret;
}

/* ---- security groups and rules ---- */

static int cfg_groups(struct cfg *x, struct vr_err *e)
{
	uint32_t *v = NULL;
	int ret = -1;

	if (cfg_ids(x, STORE_SG, e) < 0)
		return -1;
	v = sorted_idx(x, STORE_SG, by_name);
	if (!v)
		return oom(e);
	if (cfg_names(x, STORE_SG, v, e) < 0)
		goto out;
	ret = cfg_merge_stored(x, STORE_SG, e);
out:
	free(v);
	return ret;
}

/* The rule's identity as security_group_rules_key holds it unique. */
static int sgr_by_key(const void *a, const void *b, void *arg)
{
	const struct sort_ctx *sc = arg;
	const struct sg_rule *ra = item_at(sc->x, STORE_SGR, *(const uint32_t *)a);
	const struct sg_rule *rb = item_at(sc->x, STORE_SGR, *(const uint32_t *)b);
	unsigned pa = ra->has_ports ? ra->port_from : 0, pb = rb->has_ports ? rb->port_from : 0;
	unsigned qa = ra->has_ports ? ra->port_to : 0, qb = rb->has_ports ? rb->port_to : 0;
	bool ca = ra->cidr_text[0] != '\0', cb = rb->cidr_text[0] != '\0';
	int c = strcmp(ra->group_id, rb->group_id);

	if (c)
		return c;
	if (ra->direction != rb->direction)
		return (int)ra->direction - (int)rb->direction;
	if (ra->protocol != rb->protocol)
		return (int)ra->protocol - (int)rb->protocol;
	if (pa != pb)
		return (pa > pb) - (pa < pb);
	if (qa != qb)
		return (qa > qb) - (qa < qb);
	if (ca != cb)
		return ca ? -1 : 1;
	return ca ? prefix_cmp(&ra->cidr, &rb->cidr)
	          : strcmp(ra->remote_group_id, rb->remote_group_id);
}

static int cfg_rules(struct cfg *x, struct vr_err *e)
{
	struct sg_rule *r = x->items[STORE_SGR];
	uint32_t *v = NULL, lo, hi;
	int ret = -1;

	if (cfg_ids(x, STORE_SGR, e) < 0)
		return -1;
	for (size_t i = 0; i < x->n[STORE_SGR]; i++) {
		if (find_id(x, STORE_SG, r[i].group_id) < 0)
			return item_err(e, VR_ERR_INVALID, STORE_SGR, i, "security_group_id",
			                "security group \"%s\" does not exist (it is not in "
			                "security_groups)",
			                r[i].group_id);
		if (r[i].remote_group_id[0] && find_id(x, STORE_SG, r[i].remote_group_id) < 0)
			return item_err(e, VR_ERR_INVALID, STORE_SGR, i, "remote_security_group_id",
			                "security group \"%s\" does not exist (it is not in "
			                "security_groups)",
			                r[i].remote_group_id);
	}
	v = sorted_idx(x, STORE_SGR, sgr_by_key);
	if (!v)
		return oom(e);
	if (first_dup(x, STORE_SGR, v, sgr_by_key, &lo, &hi)) {
		char key[CIDR_STR_MAX], what[ERR_MSG_MAX / 2];

		store_kind_sgr.index_key(&r[hi], key);
		store_sgr_describe(&r[hi], key, what, sizeof(what));
		item_err(e, VR_ERR_CONFLICT, STORE_SGR, hi, NULL,
		         "security group %s has this rule twice: %s, also security_group_rules[%u] "
		         "(%s)",
		         r[hi].group_id, what, lo, r[lo].id);
		goto out;
	}
	ret = cfg_merge_stored(x, STORE_SGR, e);
out:
	free(v);
	return ret;
}

/* ---- writing ---- */

static bool cfg_changed(const struct cfg *x)
{
	for (int k = 0; k < STORE_KINDS; k++)
		if (x->d->added[k].n || x->d->changed[k].n || x->d->removed[k].n)
			return true;
	return x->d->settings_changed;
}

/* Stamp item i of kind k for its write: this revision, now, created now unless it existed. */
static void stamp(struct cfg *x, enum store_kind k, size_t i, void *o)
{
	const struct kind *d = store_kinds[k];

	if (x->op[k][i] == CFG_NEW)
		memcpy(obj_field(o, d->created_at), x->now, TIME_MAX);
	memcpy(obj_field(o, d->updated_at), x->now, TIME_MAX);
	*(int64_t *)obj_field(o, d->rev) = x->rev;
}

/* A changed item whose row is updated, not deleted and inserted again: groups and rtb-main. */
static bool cfg_in_place(const struct cfg *x, enum store_kind k, size_t i)
{
	return x->op[k][i] == CFG_CHANGED &&
	       (store_kinds[k]->in_place || (k == STORE_RTB && (ssize_t)i == x->main_doc));
}

/* Delete what the document drops, and what it changes but for cfg_in_place: written again. */
static int cfg_delete(struct cfg *x, enum store_kind k, struct vr_err *e)
{
	for (size_t i = 0; i < x->ngone[k]; i++)
		if (store_row_delete(x->s, k, x->gone[k][i], e) < 0)
			return -1;
	for (size_t i = 0; i < x->n[k]; i++) {
		if (x->op[k][i] != CFG_CHANGED || cfg_in_place(x, k, i))
			continue;
		if (store_row_delete(x->s, k, item_id(x, k, i), e) < 0)
			return item_wrap(e, k, i, item_id(x, k, i));
	}
	return 0;
}

/* Renamed groups step aside first, so names can move between groups. */
static int cfg_park_groups(struct cfg *x, struct vr_err *e)
{
	struct security_group *g = x->items[STORE_SG];

	for (size_t i = 0; i < x->n[STORE_SG]; i++)
		if (x->op[STORE_SG][i] == CFG_CHANGED &&
		    store_run_id(x->s, ST_SG_PARK, g[i].id, "renaming a security group", e) < 0)
			return -1;
	return 0;
}

/* Write the new and changed items of kind k. */
static int cfg_write_kind(struct cfg *x, enum store_kind k, struct vr_err *e)
{
	const struct kind *d = store_kinds[k];

	/* In id order: the primary key index grows at its end, page after page. */
	for (size_t j = 0; j < x->n[k]; j++) {
		size_t i = x->ord[k][j];
		struct route tmp;
		void *o;

		if (x->op[k][i] == CFG_SAME)
			continue;
		o = item_full(x, k, i, &tmp);
		stamp(x, k, i, o);
		if (store_obj_write(x->s, k, cfg_in_place(x, k, i) ? d->update : d->insert, o, e) <
		    0)
			return item_wrap(e, k, i, item_id(x, k, i));
	}
	return 0;
}

static int cfg_write_settings(struct cfg *x, struct vr_err *e)
{
	struct settings set = {.managed = true, .fwd_v4 = x->c->fwd_v4, .fwd_v6 = x->c->fwd_v6};

	snprintf(set.router, sizeof(set.router), "%s", model_router_or_local(x->c->router));
	set.rev = x->rev;
	memcpy(set.updated_at, x->now, TIME_MAX);
	return store_settings_write(x->s, &set, e);
}

/*
 * Every write, in an order that never trips a unique index half way (what
 * changes is deleted before anything is inserted; the document itself was
 * checked unique), with references checked at commit: kinds are written in
 * this order, referenced before referrers, and deleted in the reverse one.
 */
static int cfg_write(struct cfg *x, struct vr_err *e)
{
	static const enum store_kind order[] = {STORE_RTB, STORE_SG, STORE_ROUTE, STORE_SUBNET,
	                                        STORE_SGR};
	const size_t n = sizeof(order) / sizeof(order[0]);

	/*
	 * Run afresh each time, not from a cached statement: this pragma takes
	 * effect when it is prepared, and every COMMIT or ROLLBACK turns it off, so
	 * a statement prepared at open did nothing once any write had committed.
	 */
	if (store_db_exec(x->s, "PRAGMA defer_foreign_keys = ON", e) < 0)
		return -1;
	for (size_t i = n; i-- > 0;)
		if (cfg_delete(x, order[i], e) < 0)
			return -1;
	for (size_t i = 0; i < n; i++) {
		if (order[i] == STORE_SG && cfg_park_groups(x, e) < 0)
			return -1;
		if (cfg_write_kind(x, order[i], e) < 0)
			return -1;
	}
	if (x->d->settings_changed && cfg_write_settings(x, e) < 0)
		return -1;
	return 0;
}

void store_diff_free(struct store_diff *d)
{
	if (!d)
		return;
	for (int k = 0; k < STORE_KINDS; k++) {
		free(d->added[k].ids);
		free(d->changed[k].ids);
		free(d->removed[k].ids);
		d->added[k].ids = d->changed[k].ids = d->removed[k].ids = NULL;
	}
}

int store_config_replace(struct store *s, struct store_config *c, int64_t if_rev,
                         const uint32_t *avoid, size_t navoid, bool dry_run, struct store_diff *d,
                         struct vr_err *e)
{
	struct cfg x = {.s = s, .c = c, .d = d, .main_doc = -1};
	int64_t cur_rev = 0;
	int ret = -1;

	memset(d, 0, sizeof(*d));
	x.items[STORE_RTB] = c->tables;
	x.n[STORE_RTB] = c->ntables;
	x.items[STORE_ROUTE] = c->routes;
	x.n[STORE_ROUTE] = c->nroutes;
	x.items[STORE_SUBNET] = c->subnets;
	x.n[STORE_SUBNET] = c->nsubnets;
	x.items[STORE_SG] = c->groups;
	x.n[STORE_SG] = c->ngroups;
	x.items[STORE_SGR] = c->rules;
	x.n[STORE_SGR] = c->nrules;
	for (int k = 0; k < STORE_KINDS; k++)
		if (x.n[k] > UINT32_MAX)
			return err_set(e, VR_ERR_TOO_LARGE, store_kinds[k]->key,
			               "%s: too many items (%zu)", store_kinds[k]->key, x.n[k]);

	if (store_tx_begin(s, e) < 0)
		return -1;
	if (store_rev_read(s, &cur_rev, e) < 0)
		goto out;
	if (if_rev > 0 && if_rev != cur_rev) {
		err_set(e, VR_ERR_PRECONDITION, "",
		        "If-Match \"%" PRId64 "\" does not match the current revision \"%" PRId64
		        "\"",
		        if_rev, cur_rev);
		goto out;
	}
	model_rtb_main_id(c->router, x.main_id);
	/* A router's first document makes its main table, as its first object would. */
	if (store_router_ensure_in(s, c->router, e) < 0 ||
	    store_settings_read(s, c->router, &d->settings_before, e) < 0)
		goto out;
	d->settings_changed = c->has_settings && (!d->settings_before.managed ||
	                                          d->settings_before.fwd_v4 != c->fwd_v4 ||
	                                          d->settings_before.fwd_v6 != c->fwd_v6);
	if (cfg_tables(&x, avoid, navoid, e) < 0 || cfg_routes(&x, e) < 0 ||
	    cfg_subnets(&x, e) < 0 || cfg_groups(&x, e) < 0 || cfg_rules(&x, e) < 0)
		goto out;
	d->rev = cur_rev;
	d->any = cfg_changed(&x);
	if (!d->any) {
		/* The document is what is stored: no write, the revision stays. */
		ret = 0;
		goto out;
	}
	if (!dry_run && c->checked)
		c->checked(c->checked_arg, c);
	if (store_rev_bump(s, &x.rev, e) < 0)
		goto out;
	model_now(x.now);
	if (cfg_write(&x, e) < 0)
		goto out;
	if (dry_run) {
		ret = 0;
		goto out; /* rolled back below */
	}
	if (store_write_commit(s, NULL, d, e) < 0)
		goto out;
	d->rev = x.rev;
	ret = 0;
out:
	store_tx_end(s);
	for (int k = 0; k < STORE_KINDS; k++) {
		free(x.ord[k]);
		free(x.op[k]);
		free(x.gone[k]);
	}
	idmap_free(x.tables);
	for (int k = 0; k < STORE_KINDS; k++)
		store_kinds[k]->free_array(x.cur[k], x.ncur[k]);
	if (ret < 0)
		store_diff_free(d);
	return ret;
}

void store_config_clear(struct store_config *c)
{
	if (!c)
		return;
	model_rtbs_free(c->tables, c->ntables);
	if (c->pack)
		route_pack_free(c->pack);
	else
		model_routes_free(c->routes, c->nroutes);
	model_subnets_free(c->subnets, c->nsubnets);
	model_sgs_free(c->groups, c->ngroups);
	model_sg_rules_free(c->rules, c->nrules);
	memset(c, 0, sizeof(*c));
}

/* ---- reading the whole desired state ---- */

int store_snapshot_begin(struct store *s, struct settings *set, int64_t *rev, struct vr_err *e)
{
	if (store_read_begin(s, rev, e) < 0)
		return -1;
	if (store_settings_read(s, NULL, set, e) < 0) {
		store_read_abort(s);
		return -1;
	}
	return 0;
}

void store_snapshot_end(struct store *s)
{
	store_read_abort(s);
}

int store_config_walk(struct store *s, walk_fn fn, void *arg, struct settings *set, int64_t *rev,
                      struct vr_err *e)
{
	int ret;

	/* One read transaction: every object of the one revision returned. */
	if (store_read_begin(s, rev, e) < 0)
		return -1;
	ret = store_settings_read(s, NULL, set, e);
	for (int k = 0; ret == 0 && k < STORE_KINDS; k++)
		if (store_walk_rows(s, (enum store_kind)k, true, fn, arg,
		                    "reading the desired state", e))
			ret = -1;
	return store_read_end(s, ret, e);
}
