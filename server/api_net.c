/* /v1/subnets, /v1/settings and /v1/interfaces: translation between JSON and core/. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "crud.h"
#include "etag.h"
#include "jsonv.h"
#include "kernel.h"
#include "model.h"
#include "store.h"

/* The reconciler's status id for the settings object (there is only one). */
#define SETTINGS_ID "settings"

static const char *const computed_keys[] = {"status", "created_at", "updated_at", NULL};

/* ---- subnets ---- */

static const char *const subnet_keys[] = {"id",        "name",           "cidr",        "interface",
                                          "router_ip", "route_table_id", "description", NULL};
static const struct crud_filter subnet_filters[] = {
    {"route_table_id", offsetof(struct store_filter, table_id)},
    {"interface", offsetof(struct store_filter, interface)},
    {NULL, 0},
};

static int subnet_from_json(json_t *body, void *obj, struct vr_err *e)
{
	struct subnet *sn = obj;

	snprintf(sn->table_id, sizeof(sn->table_id), "%s", RTB_MAIN_ID);
	if (jsonv_check_keys(body, subnet_keys, computed_keys, e) ||
	    jsonv_str(body, "id", sn->id, sizeof(sn->id), NULL, e) ||
	    jsonv_str(body, "name", sn->name, sizeof(sn->name), NULL, e) ||
	    jsonv_str(body, "cidr", sn->cidr_text, sizeof(sn->cidr_text), NULL, e) ||
	    jsonv_str(body, "interface", sn->interface, sizeof(sn->interface), NULL, e) ||
	    jsonv_str(body, "router_ip", sn->router_ip_text, sizeof(sn->router_ip_text), NULL, e) ||
	    jsonv_str(body, "route_table_id", sn->table_id, sizeof(sn->table_id), NULL, e) ||
	    jsonv_strdup(body, "description", &sn->description, DESC_MAX_LEN, e))
		return -1;
	return model_subnet_validate(sn, e);
}

static json_t *subnet_to_json(struct app *app, const void *obj)
{
	const struct subnet *sn = obj;
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(sn->id));
	json_object_set_new(o, "name", json_string(sn->name));
	json_object_set_new(o, "cidr", json_string(sn->cidr_text));
	json_object_set_new(o, "interface", json_string(sn->interface));
	json_object_set_new(o, "router_ip", json_string(sn->router_ip_text));
	json_object_set_new(o, "route_table_id", json_string(sn->table_id));
	json_object_set_new(o, "description", json_string(sn->description ? sn->description : ""));
	json_object_set_new(o, "status", crud_status_json(app, sn->id));
	json_object_set_new(o, "created_at", json_string(sn->created_at));
	json_object_set_new(o, "updated_at", json_string(sn->updated_at));
	return o;
}

static void subnet_clear(void *obj)
{
	model_subnet_clear(obj);
}
static const char *subnet_id(const void *obj)
{
	return ((const struct subnet *)obj)->id;
}
static bool subnet_id_valid(const char *text)
{
	return model_id_valid(text, SUBNET_PREFIX);
}
static int64_t subnet_rev(const void *obj)
{
	return ((const struct subnet *)obj)->rev;
}

const struct crud_resource api_subnets = {
    .collection = "/v1/subnets",
    .kind = RECON_SUBNET,
    .store_kind = STORE_SUBNET,
    .size = sizeof(struct subnet),
    .from_json = subnet_from_json,
    .to_json = subnet_to_json,
    .clear = subnet_clear,
    .id = subnet_id,
    .id_valid = subnet_id_valid,
    .rev = subnet_rev,
    .filters = subnet_filters,
    .router_off = offsetof(struct subnet, router),
    .table_off = offsetof(struct subnet, table_id),
};

/* ---- settings ---- */

static const char *const settings_keys[] = {"forwarding", NULL};
static const char *const settings_computed[] = {"managed", "status", "updated_at", NULL};
static const char *const forwarding_keys[] = {"ipv4", "ipv6", NULL};

/*
 * The status is only the reconciler's to report once the settings are
 * managed; before that nothing is applied, and "pending" would never end.
 */
static json_t *settings_to_json(struct app *app, const struct settings *set)
{
	json_t *o = json_object();
	const char *router = model_router_or_local(set->router);

	json_object_set_new(o, "forwarding",
	                    json_pack("{s:b, s:b}", "ipv4", set->fwd_v4, "ipv6", set->fwd_v6));
	json_object_set_new(o, "managed", json_boolean(set->managed));
	if (set->managed && app->fleet && strcmp(router, model_router_or_local(app->router)) != 0)
		json_object_set_new(o, "status", crud_remote_status(router));
	else if (set->managed)
		json_object_set_new(o, "status", crud_status_json(app, SETTINGS_ID));
	json_object_set_new(o, "updated_at", json_string(set->updated_at));
	if (app->fleet)
		json_object_set_new(o, "router", json_string(router));
	return o;
}

/*
 * Whose settings a request is about: ?router= in fleet mode (422 naming
 * router for a bad one), else the router this daemon serves; a single router
 * takes no ?router=. A body's "router" (fleet mode) must be that one, and is
 * taken out before the body is read.
 */
static int settings_router(struct http_req *req, json_t *body, char *router, struct vr_err *e)
{
	const char *q = NULL;
	json_t *v;

	router[0] = '\0';
	if (!req->app->fleet)
		return 0;
	if (crud_query_router(req, &q, e))
		return -1;
	snprintf(router, ROUTER_MAX, "%s", q ? q : model_router_or_local(req->app->router));
	v = json_is_object(body) ? json_object_get(body, "router") : NULL;
	if (!v)
		return 0;
	if (!json_is_string(v) || strcmp(json_string_value(v), router) != 0)
		return err_set(e, VR_ERR_INVALID, "router",
		               "router in the body must be \"%s\", the router these settings are "
		               "of (?router=)",
		               router);
	json_object_del(body, "router");
	return 0;
}

static void settings_reply(struct app *app, struct http_resp *resp, const struct settings *set)
{
	http_json(resp, 200, settings_to_json(app, set));
	etag_set_rev(resp, set->rev);
}

/* An error about forwarding.<key>, with that path as its field. */
static int forwarding_err(struct vr_err *e, enum vr_errc code, const char *key, const char *what)
{
	err_set(e, code, "", "forwarding.%s %s", key, what);
	snprintf(e->field, sizeof(e->field), "forwarding.%s", key);
	return -1;
}

/* One required boolean of "forwarding". */
static int forwarding_flag(json_t *fwd, const char *key, bool *dst, struct vr_err *e)
{
	json_t *v = jsonv_get(fwd, key);

	if (!v)
		return forwarding_err(e, VR_ERR_INVALID, key, "is required (true or false)");
	if (!json_is_boolean(v))
		return forwarding_err(e, VR_ERR_INVALID, key, "must be true or false");
	*dst = json_is_true(v);
	return 0;
}

/* {"forwarding": {"ipv4": bool, "ipv6": bool}}, both required; unknown keys are a 400. */
static int settings_from_json(json_t *body, struct settings *set, struct vr_err *e)
{
	json_t *fwd;
	const char *key;
	json_t *v;

	if (!body)
		return err_set(e, VR_ERR_MALFORMED, NULL, "a JSON object body is required");
	if (jsonv_check_keys(body, settings_keys, settings_computed, e))
		return -1;
	fwd = jsonv_get(body, "forwarding");
	if (!fwd)
		return err_set(e, VR_ERR_INVALID, "forwarding",
		               "forwarding is required: {\"ipv4\": bool, \"ipv6\": bool}");
	if (!json_is_object(fwd))
		return err_set(e, VR_ERR_INVALID, "forwarding",
		               "forwarding must be an object {\"ipv4\": bool, \"ipv6\": bool}");
	json_object_foreach(fwd, key, v)
	{
		bool known = false;

		for (const char *const *k = forwarding_keys; *k; k++)
			known = known || !strcmp(*k, key);
		if (known)
			continue;
		return forwarding_err(e, VR_ERR_MALFORMED, key,
		                      "is not a field (forwarding has ipv4 and ipv6)");
	}
	if (forwarding_flag(fwd, "ipv4", &set->fwd_v4, e) ||
	    forwarding_flag(fwd, "ipv6", &set->fwd_v6, e))
		return -1;
	return 0;
}

json_t *api_settings_json(struct app *app, const struct settings *set)
{
	return settings_to_json(app, set);
}

int api_settings_from_json(json_t *body, struct settings *set, struct vr_err *e)
{
	return settings_from_json(body, set, e);
}

void api_settings_get(struct http_req *req, struct http_resp *resp)
{
	struct settings set;
	struct vr_err e = {0};
	char router[ROUTER_MAX];
	int rc;

	if (settings_router(req, NULL, router, &e)) {
		http_problem(resp, &e);
		return;
	}
	{
		struct store *s = app_read_begin(req->app);

		rc = store_settings_get_of(s, router, &set, &e);
		app_read_done(req->app, s);
	}
	if (rc) {
		http_problem(resp, &e);
		return;
	}
	settings_reply(req->app, resp, &set);
}

/* ?require_active=true: 0 when the settings are active, else undo the put (old: before it). */
static int settings_active(struct app *app, const struct settings *old, const struct settings *set,
                           bool wrote, struct vr_err *e)
{
	struct vr_err ue = {0};
	int64_t rev = 0;

	if (!crud_require_active(app, SETTINGS_ID, e))
		return 0;
	if (!wrote) { /* STORE_UNCHANGED: nothing to undo */
		size_t n = strlen(e->msg);

		snprintf(e->msg + n, sizeof(e->msg) - n,
		         "; they were so before this request and stay");
		return -1;
	}
	pthread_mutex_lock(&app->store_lock);
	if (!store_settings_restore(app->store, old, set->rev, &rev, &ue))
		crud_kick(app, rev, RECON_SETTINGS, SETTINGS_ID);
	else
		rev = 0;
	pthread_mutex_unlock(&app->store_lock);
	crud_undone(app, rev, &ue, "they were left as they were", e);
	return -1;
}

void api_settings_put(struct http_req *req, struct http_resp *resp)
{
	struct app *app = req->app;
	struct settings set = {0}, old;
	struct vr_err e = {0};
	int64_t if_rev = http_if_match_rev(req->if_match);
	bool active;
	int rc;

	if (crud_query_options(req, app->fleet ? "router" : NULL, &active, &e) ||
	    settings_router(req, req->body, set.router, &e)) {
		http_problem(resp, &e);
		return;
	}
	if (if_rev < 0) {
		http_problemf(resp, 412, NULL, "If-Match %s does not match the current ETag",
		              req->if_match);
		return;
	}
	if (settings_from_json(req->body, &set, &e)) {
		http_problem(resp, &e);
		return;
	}
	pthread_mutex_lock(&app->store_lock);
	rc = store_settings_get_of(app->store, set.router, &old, &e);
	if (!rc) {
		int run = 0;

		do
			rc = store_settings_put(app->store, &set, if_rev, &e);
		while (rc < 0 && app_write_again(app, ++run, &e));
	}
	if (!rc)
		crud_kick(app, set.rev, RECON_SETTINGS, SETTINGS_ID);
	pthread_mutex_unlock(&app->store_lock);
	if (rc < 0) {
		http_problem(resp, &e);
		return;
	}
	/* STORE_UNCHANGED: the same values again, nothing written or applied. */
	if (!rc)
		crud_wait(app, set.rev);
	if (active && settings_active(app, &old, &set, rc == 0, &e)) {
		http_problem(resp, &e);
		return;
	}
	settings_reply(app, resp, &set);
}

/* ---- interfaces ---- */

static int link_cmp(const void *a, const void *b)
{
	const struct klink *x = a, *y = b;

	return (x->ifindex > y->ifindex) - (x->ifindex < y->ifindex);
}

static const char *link_state(const struct klink *l)
{
	if (!l->up)
		return "down";
	return l->lower_up ? "up" : "lower-down";
}

/* The subnet on link name whose cidr holds addr: the one that put it there, or would. */
static const char *subnet_of(const struct subnet *subs, size_t ns, const char *name,
                             const struct ipaddr *addr)
{
	for (size_t i = 0; i < ns; i++)
		if (!strcmp(subs[i].interface, name) && cidr_contains(&subs[i].cidr, addr))
			return subs[i].id;
	return NULL;
}

static json_t *link_to_json(const struct klink *l, const struct subnet *subs, size_t ns)
{
	json_t *addrs = json_array();
	char text[CIDR_STR_MAX];
	char name[sizeof(l->name) + 1];
	const char *sid;

	/* Copied so a name that fills the field still ends. */
	snprintf(name, sizeof(name), "%.*s", (int)sizeof(l->name), l->name);
	for (size_t j = 0; j < l->naddrs; j++) {
		cidr_format_prefix(&l->addrs[j], text, sizeof(text));
		sid = subnet_of(subs, ns, name, &l->addrs[j].addr);
		json_array_append_new(addrs, json_pack("{s:s, s:o}", "address", text, "subnet_id",
		                                       sid ? json_string(sid) : json_null()));
	}
	return json_pack("{s:i, s:s, s:s, s:o, s:I, s:o}", "index", l->ifindex, "name", name,
	                 "state", link_state(l), "mac",
	                 l->mac[0] ? json_string(l->mac) : json_null(), "mtu", (json_int_t)l->mtu,
	                 "addresses", addrs);
}

void api_interfaces_list(struct http_req *req, struct http_resp *resp)
{
	static const char *const params[] = {"limit", "after", NULL};
	struct app *app = req->app;
	const char *after = http_req_query(req, "after");
	size_t limit, first = 0, shown = 0;
	struct klink *links = NULL;
	struct subnet *subs = NULL;
	size_t nl = 0, ns = 0;
	struct vr_err e = {0};
	bool more = false;
	json_t *items;
	int rc;

	if (http_req_check_query(req, params, &e) || crud_query_limit(req, &limit, &e)) {
		http_problem(resp, &e);
		return;
	}
	if (!app->links_list) {
		http_problemf(
		    resp, 503, NULL,
		    "this vrouterd runs without a kernel adapter: links cannot be listed");
		return;
	}
	rc = app->links_list(app->query_ctx, &links, &nl);
	if (rc < 0) {
		http_problemf(resp, 503, NULL, "listing the links failed: %s", strerror(-rc));
		return;
	}
	{
		struct store *s = app_read_begin(app);

		rc = store_obj_list(s, STORE_SUBNET, NULL, NULL, SIZE_MAX, (void **)&subs, &ns,
		                    &more, &e);
		app_read_done(app, s);
	}
	if (rc) {
		http_problem(resp, &e);
		goto out;
	}
	if (nl > 1)
		qsort(links, nl, sizeof(*links), link_cmp);
	/* Paged like every collection; the cursor is the last link's index. */
	if (after && after[0]) {
		char *end;
		long a;

		errno = 0;
		a = strtol(after, &end, 10);
		if (errno || *end || end == after || a < 0) {
			http_problemf(resp, 400, "after",
			              "after \"%s\" is not a cursor of /v1/interfaces: give the "
			              "\"next\" of the page before (a link index)",
			              after);
			goto out;
		}
		while (first < nl && links[first].ifindex <= a)
			first++;
	}
	items = json_array();
	for (size_t i = first; i < nl && shown < limit; i++, shown++)
		json_array_append_new(items, link_to_json(&links[i], subs, ns));
	if (first + shown < nl) {
		char cur[16];

		snprintf(cur, sizeof(cur), "%d", links[first + shown - 1].ifindex);
		http_json(resp, 200, json_pack("{s:o, s:s}", "items", items, "next", cur));
	} else {
		http_json(resp, 200, json_pack("{s:o, s:n}", "items", items, "next"));
	}
out:
	model_subnets_free(subs, ns);
	if (app->links_free)
		app->links_free(links, nl);
}
