/* GET /v1/routers: the routers of the fleet (fleet mode), or this daemon alone. */
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "fleet.h"
#include "http.h"
#include "recon.h"
#include "store.h"

/* Single mode: this daemon, alive, with its reconciler's numbers. */
static json_t *self_item(struct app *app)
{
	struct recon_stats st = {0};

	if (app->recon)
		recon_stats(app->recon, &st);
	return json_pack("{s:s, s:s, s:b, s:I, s:I, s:o}", "name",
	                 app->router ? app->router : FLEET_DEFAULT_ROUTER, "api",
	                 app->listen ? app->listen : "", "alive", 1, "applied_revision",
	                 (json_int_t)st.applied_rev, "failed",
	                 (json_int_t)(st.routes_failed + st.objects_failed), "last_apply",
	                 st.last_apply_at[0] ? json_string(st.last_apply_at) : json_null());
}

/* Whether items lists name already. */
static bool listed(json_t *items, const char *name)
{
	size_t i;
	json_t *m;

	json_array_foreach(items, i, m)
	{
		if (!strcmp(json_string_value(json_object_get(m, "name")) ?: "", name))
			return true;
	}
	return false;
}

/*
 * The routers the desired state names (their route tables, their settings)
 * that hold no member key: not running, or cut off from etcd for longer than
 * their lease. The built-in local is one only when something names it.
 */
static int add_absent(struct app *app, json_t *items, struct vr_err *e)
{
	struct store *s = app_read_begin(app);
	char(*names)[ROUTER_MAX] = NULL;
	size_t n = 0;
	int rc = store_routers(s, &names, &n, e);

	app_read_done(app, s);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (listed(items, names[i]) || !strcmp(names[i], ROUTER_LOCAL))
			continue;
		json_array_append_new(items, json_pack("{s:s, s:n, s:b, s:n, s:n, s:n}", "name",
		                                       names[i], "api", "alive", 0,
		                                       "applied_revision", "failed", "last_apply"));
	}
	free(names);
	return rc;
}

/* items by name. */
static int by_name(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "name")) ?: "",
	              json_string_value(json_object_get(*(json_t *const *)b, "name")) ?: "");
}

static json_t *sorted(json_t *items)
{
	size_t n = json_array_size(items);
	json_t **v = calloc(n ? n : 1, sizeof(*v));
	json_t *out = json_array();

	for (size_t i = 0; v && i < n; i++)
		v[i] = json_array_get(items, i);
	if (v)
		qsort(v, n, sizeof(*v), by_name);
	for (size_t i = 0; v && i < n; i++)
		json_array_append(out, v[i]);
	free(v);
	json_decref(items);
	return out;
}

void api_routers_list(struct http_req *req, struct http_resp *resp)
{
	static const char *const no_params[] = {NULL};
	struct app *app = req->app;
	struct vr_err e = {0};
	json_t *items;

	if (http_req_check_query(req, no_params, &e)) {
		http_problem(resp, &e);
		return;
	}
	if (!app->fleet) {
		items = json_array();
		json_array_append_new(items, self_item(app));
	} else if (!(items = fleet_members(app->fleet, &e))) {
		http_problem(resp, &e);
		return;
	} else if (add_absent(app, items, &e) < 0) {
		json_decref(items);
		http_problem(resp, &e);
		return;
	}
	http_json(resp, 200,
	          json_pack("{s:b, s:s, s:o}", "fleet", app->fleet != NULL, "self",
	                    app->router ? app->router : FLEET_DEFAULT_ROUTER, "items",
	                    sorted(items)));
}
