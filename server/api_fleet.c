/* GET /v1/routers: the routers of the fleet (fleet mode), or this daemon alone. */
#include <jansson.h>

#include "api.h"
#include "app.h"
#include "fleet.h"
#include "http.h"
#include "recon.h"

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

void api_routers_list(struct http_req *req, struct http_resp *resp)
{
	static const char *const no_params[] = {NULL};
	struct vr_err e = {0};
	json_t *items;

	if (http_req_check_query(req, no_params, &e)) {
		http_problem(resp, &e);
		return;
	}
	if (!req->app->fleet) {
		items = json_array();
		json_array_append_new(items, self_item(req->app));
	} else if (!(items = fleet_members(req->app->fleet, &e))) {
		http_problem(resp, &e);
		return;
	}
	http_json(resp, 200, json_pack("{s:o}", "items", items));
}
