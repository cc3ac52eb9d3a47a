/* The endpoint table, and the small endpoints that belong to no collection. */
#include <jansson.h>
#include <string.h>

#include "api.h"
#include "embedded.h"
#include "app.h"
#include "http.h"
#include "metrics.h"
#include "recon.h"
#include "store.h"
#include "version.h"

static void healthz(struct http_req *req, struct http_resp *resp)
{
	http_json(resp, 200, json_pack("{s:s, s:s}", "status", "ok", "version", vr_version()));
}

/* Static files compiled into the binary: the OpenAPI document (and the web UI). */
static void asset(struct http_req *req, struct http_resp *resp)
{
	const char *name = req->cls;

	for (const struct embedded_asset *a = embedded_assets; a->name; a++) {
		if (strcmp(a->name, name))
			continue;
		resp->status = 200;
		resp->raw = a->data;
		resp->raw_len = a->len;
		resp->content_type = !strcmp(name, "openapi.yaml") ? "application/yaml"
				     : strstr(name, ".html")	? "text/html; charset=utf-8"
				     : strstr(name, ".js")	? "text/javascript; charset=utf-8"
				     : strstr(name, ".css")	? "text/css; charset=utf-8"
								: "application/octet-stream";
		return;
	}
	http_problemf(resp, 404, NULL, "%s is not part of this build", name);
}

static void metrics(struct http_req *req, struct http_resp *resp)
{
	size_t len = 0;
	char *text = metrics_render(&len);

	if (!text) {
		http_problemf(resp, 500, NULL, "out of memory rendering metrics");
		return;
	}
	resp->status = 200;
	resp->owned = text;
	resp->raw = text;
	resp->raw_len = len;
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

static void status(struct http_req *req, struct http_resp *resp)
{
	struct recon_stats st = {0};
	json_t *last;

	if (req->app->recon)
		recon_stats(req->app->recon, &st);
	pthread_mutex_lock(&req->app->store_lock);
	st.desired_rev = store_revision(req->app->store);
	pthread_mutex_unlock(&req->app->store_lock);
	last = st.last_apply_at[0]
		       ? json_pack("{s:s, s:f, s:s, s:s}", "at", st.last_apply_at, "duration_ms",
				   st.last_apply_ms, "outcome", st.last_apply_ok ? "ok" : "failed",
				   "error", st.last_error)
		       : json_null();
	http_json(resp, 200,
		  json_pack("{s:s, s:I, s:I, s:b, s:o, s:I, s:I, s:{s:I}, s:{s:I}, s:{s:I}}",
			    "version", vr_version(), "desired_revision", (json_int_t)st.desired_rev,
			    "applied_revision", (json_int_t)st.applied_rev, "converged",
			    st.applied_rev >= st.desired_rev, "last_apply", last, "applies",
			    (json_int_t)st.applies, "apply_failures", (json_int_t)st.apply_failures,
			    "owned", "routes", (json_int_t)st.routes_owned, "failed", "routes",
			    (json_int_t)st.routes_failed, "drift_repairs", "routes",
			    (json_int_t)st.drift_repairs_routes));
}

const struct http_endpoint api_endpoints[] = {
	{"GET", "/healthz", healthz, NULL, 0},
	{"GET", "/openapi.yaml", asset, "openapi.yaml", 0},
	{"GET", "/metrics", metrics, NULL, 0},
	{"GET", "/v1/status", status, NULL, 0},

	{"POST", "/v1/route-tables", crud_create, &api_route_tables, 0},
	{"GET", "/v1/route-tables", crud_list, &api_route_tables, 0},
	{"GET", "/v1/route-tables/{id}", crud_get, &api_route_tables, 0},
	{"PUT", "/v1/route-tables/{id}", crud_replace, &api_route_tables, 0},
	{"DELETE", "/v1/route-tables/{id}", crud_delete, &api_route_tables, 0},

	{"POST", "/v1/routes", crud_create, &api_routes, 0},
	{"GET", "/v1/routes", crud_list, &api_routes, 0},
	{"GET", "/v1/routes/{id}", crud_get, &api_routes, 0},
	{"PUT", "/v1/routes/{id}", crud_replace, &api_routes, 0},
	{"DELETE", "/v1/routes/{id}", crud_delete, &api_routes, 0},

	{"POST", "/v1/security-groups", crud_create, &api_security_groups, 0},
	{"GET", "/v1/security-groups", crud_list, &api_security_groups, 0},
	{"GET", "/v1/security-groups/{id}", crud_get, &api_security_groups, 0},
	{"PUT", "/v1/security-groups/{id}", crud_replace, &api_security_groups, 0},
	{"DELETE", "/v1/security-groups/{id}", crud_delete, &api_security_groups, 0},

	{"POST", "/v1/security-group-rules", crud_create, &api_security_group_rules, 0},
	{"GET", "/v1/security-group-rules", crud_list, &api_security_group_rules, 0},
	{"GET", "/v1/security-group-rules/{id}", crud_get, &api_security_group_rules, 0},
	{"PUT", "/v1/security-group-rules/{id}", crud_replace, &api_security_group_rules, 0},
	{"DELETE", "/v1/security-group-rules/{id}", crud_delete, &api_security_group_rules, 0},

	{NULL, NULL, NULL, NULL, 0},
};
