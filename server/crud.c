#include "crud.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "etag.h"
#include "http_cache.h"
#include "jsonv.h"
#include "log.h"
#include "model.h"
#include "recon.h"
#include "store.h"

#define CRUD_FILTERS_MAX 4

static const struct crud_resource *res_of(struct http_req *req)
{
	return req->cls;
}

void crud_kick(struct app *app, int64_t rev, enum recon_obj kind, const char *id)
{
	if (app->recon && rev > 0)
		recon_kick(app->recon, rev, kind, id);
}

void crud_wait(struct app *app, int64_t rev)
{
	app_wait_applied(app, rev);
}

json_t *crud_status_json(struct app *app, const char *id)
{
	struct obj_status st = {.state = OBJ_PENDING};

	if (app->recon)
		recon_status(app->recon, id, &st);
	return json_pack("{s:s, s:s}", "state", model_obj_state_name(st.state), "reason",
	                 st.reason);
}

json_t *crud_to_json(struct app *app, const struct crud_resource *rs, const void *obj)
{
	json_t *o = rs->to_json(app, obj);
	const char *router;

	if (!app->fleet || !rs->router_off || !o)
		return o;
	router = model_router_or_local((const char *)obj + rs->router_off);
	json_object_set_new(o, "router", json_string(router));
	if (json_object_get(o, "status") && strcmp(router, model_router_or_local(app->router)))
		json_object_set_new(o, "status", crud_remote_status(router));
	return o;
}

json_t *crud_remote_status(const char *router)
{
	char reason[REASON_MAX];

	snprintf(reason, sizeof(reason), "applied by router %s", router);
	return json_pack("{s:s, s:s}", "state", "remote", "reason", reason);
}

int crud_single_ids(struct app *app, const struct crud_resource *rs, const void *obj,
                    struct vr_err *e)
{
	const char *field = rs->table_off ? "route_table_id" : "id";
	const char *id = (const char *)obj + rs->table_off; /* a table's own id is first */

	if ((app && app->fleet) || !rs->router_off || !model_rtb_main_router(id) ||
	    !strcmp(id, RTB_MAIN_ID))
		return 0;
	return err_set(e, VR_ERR_INVALID, field,
	               "%s \"%s\" is not a route table id (\"%s\", or \"rtb-\" and 1 to %d "
	               "lowercase hex digits)",
	               field, id, RTB_MAIN_ID, ID_HEX_MAX);
}

int crud_query_router(struct http_req *req, const char **router, struct vr_err *e)
{
	*router = http_req_query(req, "router");
	if (*router && !model_router_valid(*router))
		return err_set(e, VR_ERR_INVALID, "router",
		               "router \"%s\" is not a router name ([a-z0-9][a-z0-9-]{0,31})",
		               *router);
	return 0;
}

int crud_router_take(struct app *app, const struct crud_resource *rs, json_t *body, void *obj,
                     const char *dflt, struct vr_err *e)
{
	char *router = (char *)obj + rs->router_off;
	json_t *v = json_object_get(body, "router");
	json_t *table;

	if (!app->fleet || !rs->router_off || !json_is_object(body))
		return 0;
	if (json_is_null(v)) { /* an explicit null is the default, as for every field */
		json_object_del(body, "router");
		v = NULL;
	}
	if (v) {
		if (!json_is_string(v) || !model_router_valid(json_string_value(v)))
			return err_set(
			    e, VR_ERR_INVALID, "router",
			    "router %s%s%s is not a router name ([a-z0-9][a-z0-9-]{0,31})",
			    json_is_string(v) ? "\"" : "",
			    json_is_string(v) ? json_string_value(v) : "(not a string)",
			    json_is_string(v) ? "\"" : "");
		snprintf(router, ROUTER_MAX, "%s", json_string_value(v));
		json_object_del(body, "router");
		return 0;
	}
	table = rs->table_off ? json_object_get(body, "route_table_id") : NULL;
	if (dflt && (!rs->table_off || !table ||
	             (json_is_string(table) && !strcmp(json_string_value(table), RTB_MAIN_ID))))
		snprintf(router, ROUTER_MAX, "%s", dflt);
	return 0;
}

int crud_query_require_active(struct http_req *req, bool *on, struct vr_err *e)
{
	return crud_query_options(req, NULL, on, e);
}

int crud_query_options(struct http_req *req, const char *extra, bool *on, struct vr_err *e)
{
	const char *const params[] = {"require_active", extra, NULL};
	const char *v = http_req_query(req, "require_active");

	*on = false;
	if (http_req_check_query(req, params, e))
		return -1;
	if (!v || !strcmp(v, "false") || !strcmp(v, "0"))
		return 0;
	if (strcmp(v, "true") && strcmp(v, "1"))
		return err_set(e, VR_ERR_INVALID, "require_active",
		               "require_active \"%s\" must be true or false", v);
	*on = true;
	return 0;
}

int crud_require_active(struct app *app, const char *id, struct vr_err *e)
{
	struct obj_status st = {.state = OBJ_PENDING};

	if (!app->recon)
		return err_set(e, VR_ERR_UNAVAILABLE, "",
		               "%s cannot become active: this daemon runs without a kernel", id);
	recon_status(app->recon, id, &st);
	if (st.state == OBJ_ACTIVE)
		return 0;
	if (st.state == OBJ_FAILED)
		return err_set(e, VR_ERR_INVALID, "", "%s would not become active: %s", id,
		               st.reason);
	return err_set(e, VR_ERR_UNAVAILABLE, "",
	               "%s is not active yet: its kernel apply did not finish within %d ms", id,
	               app->apply_timeout_ms);
}

/* Add "; more" to e's detail. */
static void err_append(struct vr_err *e, const char *more)
{
	size_t n = strlen(e->msg);

	snprintf(e->msg + n, sizeof(e->msg) - n, "; %s", more);
}

void crud_undone(struct app *app, int64_t rev, const struct vr_err *ue, const char *what,
                 struct vr_err *e)
{
	char more[ERR_MSG_MAX];

	if (rev > 0) {
		crud_wait(app, rev); /* the kernel is back as it was when the client hears of it */
		snprintf(more, sizeof(more), "%s (require_active=true)", what);
	} else if (ue->code == VR_ERR_NOT_FOUND || ue->code == VR_ERR_PRECONDITION) {
		snprintf(more, sizeof(more), "a later write has replaced it since, and stands");
	} else {
		snprintf(more, sizeof(more), "and undoing the write failed: %s", ue->msg);
		e->code = VR_ERR_INTERNAL;
	}
	err_append(e, more);
}

/*
 * ?require_active=true after a create (rc as the store's create returned):
 * 0 when the object is active, else -1 with e filled, the create undone when
 * this request made it. A route table has no kernel object of its own.
 */
static int create_active(struct app *app, const struct crud_resource *rs, const void *obj, int rc,
                         struct vr_err *e)
{
	struct vr_err ue = {0};
	int64_t rev = 0;

	if (rs->kind == RECON_ROUTE_TABLE || !crud_require_active(app, rs->id(obj), e))
		return 0;
	if (rc != STORE_CREATED) {
		err_append(e, "it existed before this request and stays");
		return -1;
	}
	pthread_mutex_lock(&app->store_lock);
	if (!store_obj_delete(app->store, rs->store_kind, rs->id(obj), rs->rev(obj), &ue)) {
		rev = store_revision(app->store);
		crud_kick(app, rev, rs->kind, rs->id(obj));
	}
	pthread_mutex_unlock(&app->store_lock);
	crud_undone(app, rev, &ue, "nothing was stored", e);
	return -1;
}

/* The same after a replace: old is the object as it was stored before. */
static int replace_active(struct app *app, const struct crud_resource *rs, const void *obj,
                          void *old, struct vr_err *e)
{
	struct vr_err ue = {0};
	int64_t rev = 0;

	if (rs->kind == RECON_ROUTE_TABLE || !crud_require_active(app, rs->id(obj), e))
		return 0;
	if (rs->rev(obj) == rs->rev(old)) {
		err_append(e, "it was so before this request and stays");
		return -1;
	}
	pthread_mutex_lock(&app->store_lock);
	if (!store_obj_restore(app->store, rs->store_kind, old, rs->rev(obj), &rev, &ue))
		crud_kick(app, rev, rs->kind, rs->id(obj));
	else
		rev = 0;
	pthread_mutex_unlock(&app->store_lock);
	crud_undone(app, rev, &ue, "it was left as it was", e);
	return -1;
}

/* Reply with the object, its ETag and, for a creation, its Location. */
static void reply_obj(struct http_req *req, struct http_resp *resp, int status, const void *obj)
{
	const struct crud_resource *rs = res_of(req);

	http_json(resp, status, crud_to_json(req->app, rs, obj));
	etag_set_rev(resp, rs->rev(obj));
	if (status == 201)
		snprintf(resp->location, sizeof(resp->location), "%s/%s", rs->collection,
		         rs->id(obj));
}

static int read_one(struct app *app, const struct crud_resource *rs, const char *id, void *obj,
                    struct vr_err *e)
{
	struct store *s = app_read_begin(app);
	int rc = store_obj_get(s, rs->store_kind, id, obj, e);

	app_read_done(app, s);
	return rc;
}

/* The resource's create, or the store's; with the store lock held. */
static int create_one(struct app *app, const struct crud_resource *rs, void *obj, struct vr_err *e)
{
	if (rs->create)
		return rs->create(app, obj, e);
	return store_obj_create(app->store, rs->store_kind, obj, e);
}

/* One create, replace or delete of an object, as app_write runs it. */
struct crud_write {
	const struct crud_resource *rs;
	void *obj;      /* create, replace: the object as the store fills it in */
	const char *id; /* delete */
	int64_t rev;    /* replace, delete: If-Match (0: none); delete: the revision made */
};

static int write_create(struct app *app, void *arg, struct vr_err *e)
{
	struct crud_write *w = arg;

	return create_one(app, w->rs, w->obj, e);
}

/* The committed callbacks return the revision the answer waits to see applied (app_write). */
static int64_t created(struct app *app, void *arg, int rc)
{
	struct crud_write *w = arg;

	if (rc != STORE_CREATED)
		return 0;
	crud_kick(app, w->rs->rev(w->obj), w->rs->kind, w->rs->id(w->obj));
	return w->rs->rev(w->obj);
}

static int write_replace(struct app *app, void *arg, struct vr_err *e)
{
	struct crud_write *w = arg;

	return store_obj_replace(app->store, w->rs->store_kind, w->obj, w->rev, e);
}

static int64_t replaced(struct app *app, void *arg, int rc)
{
	struct crud_write *w = arg;

	/* STORE_UNCHANGED: nothing was written, there is nothing to apply. */
	if (rc != 0)
		return 0;
	crud_kick(app, w->rs->rev(w->obj), w->rs->kind, w->rs->id(w->obj));
	return w->rs->rev(w->obj);
}

static int write_delete(struct app *app, void *arg, struct vr_err *e)
{
	struct crud_write *w = arg;

	if (store_obj_delete(app->store, w->rs->store_kind, w->id, w->rev, e))
		return -1;
	w->rev = store_revision(app->store);
	return 0;
}

static int64_t deleted(struct app *app, void *arg, int rc)
{
	struct crud_write *w = arg;

	(void)rc;
	crud_kick(app, w->rev, w->rs->kind, w->id);
	return w->rev;
}

static int body_required(struct http_req *req, struct vr_err *e)
{
	if (!req->body)
		return err_set(e, VR_ERR_MALFORMED, NULL, "a JSON object body is required");
	return 0;
}

void crud_create(struct http_req *req, struct http_resp *resp)
{
	const struct crud_resource *rs = res_of(req);
	struct vr_err e = {0};
	void *obj = calloc(1, rs->size);
	bool active;
	int rc;

	if (!obj) {
		http_problemf(resp, 500, NULL, "out of memory");
		return;
	}
	if (crud_query_require_active(req, &active, &e) || body_required(req, &e) ||
	    crud_router_take(req->app, rs, req->body, obj, req->app->router, &e) ||
	    rs->from_json(req->body, obj, &e) || crud_single_ids(req->app, rs, obj, &e)) {
		http_problem(resp, &e);
		goto out;
	}
	rc = app_write(req->app, write_create, created, &(struct crud_write){.rs = rs, .obj = obj},
	               &e);
	if (rc < 0) { /* else applied, when it was created (app_write waited) */
		http_problem(resp, &e);
		goto out;
	}
	if (active && create_active(req->app, rs, obj, rc, &e)) {
		http_problem(resp, &e);
		goto out;
	}
	/*
	 * obj is what this request wrote (or found, for a repeated create), as the
	 * store filled it in the same transaction: never read back, which could
	 * see a later writer's version, or none after a racing DELETE.
	 */
	reply_obj(req, resp, rc == STORE_CREATED ? 201 : 200, obj);
out:
	rs->clear(obj);
	free(obj);
}

void crud_get(struct http_req *req, struct http_resp *resp)
{
	const struct crud_resource *rs = res_of(req);
	struct vr_err e = {0};
	void *obj;
	/*
	 * The generations before the read: an answer rendered from it is kept
	 * under them, and served while neither has moved (http_cache.h).
	 */
	struct http_cache_key key = {
	    .kind = rs,
	    .id = req->params[0],
	    .wgen = store_write_gen(),
	    .sgen = req->app->recon ? recon_status_gen(req->app->recon) : 0,
	};
	bool active; /* accepted on every request of an object, as clients send one query */

	if (crud_query_require_active(req, &active, &e)) {
		http_problem(resp, &e);
		return;
	}
	if (http_cache_get(req->cache, &key, req->if_none_match, resp))
		return;
	obj = calloc(1, rs->size);
	if (!obj) {
		http_problemf(resp, 500, NULL, "out of memory");
		return;
	}
	if (read_one(req->app, rs, req->params[0], obj, &e)) {
		http_problem(resp, &e);
	} else {
		reply_obj(req, resp, 200, obj); /* rendered: the ETag hashes the bytes */
		http_cache_put(req->cache, &key, resp);
	}
	rs->clear(obj);
	free(obj);
}

/* -1 and a 412 problem when the If-Match header can never match. */
static int if_match(struct http_req *req, int64_t *rev, struct vr_err *e)
{
	*rev = http_if_match_rev(req->if_match);
	if (*rev < 0)
		return err_set(e, VR_ERR_PRECONDITION, NULL,
		               "If-Match %s does not match the current ETag", req->if_match);
	return 0;
}

void crud_replace(struct http_req *req, struct http_resp *resp)
{
	const struct crud_resource *rs = res_of(req);
	struct vr_err e = {0};
	void *obj = calloc(1, rs->size);
	void *old = calloc(1, rs->size); /* as stored before: what an undo puts back */
	int64_t rev;
	json_t *id;
	bool active;
	int rc;

	if (!obj || !old) {
		free(obj);
		free(old);
		http_problemf(resp, 500, NULL, "out of memory");
		return;
	}
	if (crud_query_require_active(req, &active, &e) || if_match(req, &rev, &e) ||
	    body_required(req, &e))
		goto fail;
	/* An unknown id is a 404 whatever the body says. */
	rc = read_one(req->app, rs, req->params[0], old, &e);
	if (rc)
		goto fail;
	id = jsonv_get(req->body, "id");
	if (id && !(json_is_string(id) && !strcmp(json_string_value(id), req->params[0]))) {
		err_set(&e, VR_ERR_INVALID, "id",
		        "id in the body must be \"%s\", the id in the path", req->params[0]);
		goto fail;
	}
	/* The path names the object; the body carries the same id (or none). */
	json_object_set_new(req->body, "id", json_string(req->params[0]));
	/* Without a router, the object stays its router's: rtb-main is that router's main. */
	if (crud_router_take(req->app, rs, req->body, obj,
	                     rs->router_off ? (const char *)old + rs->router_off : NULL, &e) ||
	    rs->from_json(req->body, obj, &e) || crud_single_ids(req->app, rs, obj, &e))
		goto fail;
	rc = app_write(req->app, write_replace, replaced,
	               &(struct crud_write){.rs = rs, .obj = obj, .rev = rev}, &e);
	if (rc < 0) /* else applied, when it changed anything (app_write waited) */
		goto fail;
	if (active && replace_active(req->app, rs, obj, old, &e))
		goto fail;
	/* As for a create: the version this request wrote, not a read-back. */
	reply_obj(req, resp, 200, obj);
	goto out;
fail:
	http_problem(resp, &e);
out:
	rs->clear(obj);
	free(obj);
	rs->clear(old);
	free(old);
}

void crud_delete(struct http_req *req, struct http_resp *resp)
{
	const struct crud_resource *rs = res_of(req);
	struct vr_err e = {0};
	struct app *app = req->app;
	int64_t rev;
	bool active; /* accepted and ignored: a delete always takes effect */
	int rc;

	if (crud_query_require_active(req, &active, &e) || if_match(req, &rev, &e)) {
		http_problem(resp, &e);
		return;
	}
	{
		struct crud_write w = {.rs = rs, .id = req->params[0], .rev = rev};

		rc = app_write(app, write_delete, deleted, &w, &e);
		rev = w.rev;
	}
	if (rc) {
		http_problem(resp, &e);
		return;
	}
	resp->status = 204; /* applied: app_write waited */
}

int crud_query_limit(struct http_req *req, size_t *limit, struct vr_err *e)
{
	const char *lim = http_req_query(req, "limit");
	char *end;
	long v;

	*limit = CRUD_LIMIT_DEFAULT;
	if (!lim)
		return 0;
	errno = 0;
	v = strtol(lim, &end, 10);
	if (errno || *end || end == lim || v < 1 || v > CRUD_LIMIT_MAX)
		return err_set(e, VR_ERR_INVALID, "limit", "limit \"%s\" must be an integer 1..%d",
		               lim, CRUD_LIMIT_MAX);
	*limit = (size_t)v;
	return 0;
}

void crud_list(struct http_req *req, struct http_resp *resp)
{
	const struct crud_resource *rs = res_of(req);
	const char *allowed[CRUD_FILTERS_MAX + 4] = {"limit", "after"}; /* and router, NULL */
	struct store_filter f = {0};
	const char *after = http_req_query(req, "after");
	struct vr_err e = {0};
	void *items = NULL;
	size_t n = 0, limit = CRUD_LIMIT_DEFAULT, nf = 0;
	bool more = false;
	json_t *arr;
	int rc;

	for (; rs->filters && rs->filters[nf].name && nf < CRUD_FILTERS_MAX; nf++) {
		allowed[2 + nf] = rs->filters[nf].name;
		*(const char **)((char *)&f + rs->filters[nf].field) =
		    http_req_query(req, rs->filters[nf].name);
	}
	/* A fleet's lists of a router's objects: ?router=. */
	if (req->app->fleet && rs->router_off)
		allowed[2 + nf] = "router";
	if (http_req_check_query(req, allowed, &e) ||
	    (req->app->fleet && rs->router_off && crud_query_router(req, &f.router, &e))) {
		http_problem(resp, &e);
		return;
	}
	if (crud_query_limit(req, &limit, &e)) {
		http_problem(resp, &e);
		return;
	}
	if (after && !after[0])
		after = NULL; /* an empty cursor is the first page */
	if (after && !rs->id_valid(after)) {
		/* Quoted only when printable: the detail must stay valid JSON text. */
		bool printable = true;

		for (const char *c = after; *c; c++)
			printable = printable && *c >= 0x20 && *c < 0x7f;
		http_problemf(resp, 400, "after",
		              "after \"%s\" is not a cursor of %s: give the \"next\" of the page "
		              "before (an id)",
		              printable ? after : "(unprintable)", rs->collection);
		return;
	}
	{
		struct store *s = app_read_begin(req->app);

		rc = store_obj_list(s, rs->store_kind, &f, after, limit, &items, &n, &more, &e);
		app_read_done(req->app, s);
	}
	if (rc) {
		http_problem(resp, &e);
		return;
	}
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr,
		                      crud_to_json(req->app, rs, (char *)items + i * rs->size));
	crud_page(resp, arr, more && n ? rs->id((char *)items + (n - 1) * rs->size) : NULL);
	store_objs_free(rs->store_kind, items, n);
}

void crud_page(struct http_resp *resp, json_t *items, const char *next)
{
	http_json(resp, 200,
	          json_pack("{s:o, s:o}", "items", items, "next",
	                    next ? json_string(next) : json_null()));
}
