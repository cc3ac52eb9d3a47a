/* The endpoint table, and the small endpoints that belong to no collection. */
#include <jansson.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "http.h"
#include "metrics.h"
#include "recon.h"
#include "store.h"
#include "version.h"

/* Alive, and the database can be read: a damaged or deleted one is not "ok". */
static void healthz(struct http_req *req, struct http_resp *resp)
{
	struct vr_err e = {0};

	if (app_store_probe(req->app, &e)) {
		http_problemf(resp, 503, NULL, "%s", e.msg);
		return;
	}
	http_json(resp, 200, json_pack("{s:s, s:s}", "status", "ok", "version", vr_version()));
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

#define STATUS_FAILURES_MAX 100 /* failed objects listed by /v1/status */

static void status(struct http_req *req, struct http_resp *resp)
{
	struct recon_stats st = {0};
	json_t *o, *last;

	if (req->app->recon)
		recon_stats(req->app->recon, &st);
	{
		struct store *s = app_read_begin(req->app);

		st.desired_rev = store_revision(s);
		app_read_done(req->app, s);
	}
	last = st.last_apply_at[0]
	           ? json_pack("{s:s, s:f, s:s, s:s}", "at", st.last_apply_at, "duration_ms",
	                       st.last_apply_ms, "outcome", st.last_apply_ok ? "ok" : "failed",
	                       "error", st.last_error)
	           : json_null();
	o = json_object();
	json_object_set_new(o, "version", json_string(vr_version()));
	json_object_set_new(o, "desired_revision", json_integer(st.desired_rev));
	json_object_set_new(o, "applied_revision", json_integer(st.applied_rev));
	json_object_set_new(o, "converged", json_boolean(st.applied_rev >= st.desired_rev));
	json_object_set_new(o, "last_apply", last);
	json_object_set_new(o, "applies", json_integer((json_int_t)st.applies));
	json_object_set_new(o, "apply_failures", json_integer((json_int_t)st.apply_failures));
	/* The kernel's values as last read, and whether vrouter enforces them. */
	json_object_set_new(o, "forwarding",
	                    json_pack("{s:b, s:b, s:b}", "ipv4", st.fwd_v4, "ipv6", st.fwd_v6,
	                              "managed", st.forwarding_managed));
	json_object_set_new(o, "owned",
	                    json_pack("{s:I, s:I, s:I, s:I}", "routes", (json_int_t)st.routes_owned,
	                              "addresses", (json_int_t)st.addrs_owned, "rules",
	                              (json_int_t)st.rules_owned, "nft_objects",
	                              (json_int_t)st.nft_objects));
	json_object_set_new(o, "failed",
	                    json_pack("{s:I, s:I}", "routes", (json_int_t)st.routes_failed, "other",
	                              (json_int_t)st.objects_failed));
	json_object_set_new(o, "drift_repairs",
	                    json_pack("{s:I, s:I, s:I, s:I, s:I}", "routes",
	                              (json_int_t)st.drift_repairs_routes, "addresses",
	                              (json_int_t)st.drift_repairs_addrs, "rules",
	                              (json_int_t)st.drift_repairs_rules, "forwarding",
	                              (json_int_t)st.drift_repairs_forwarding, "nftables",
	                              (json_int_t)st.drift_repairs_nft));
	{
		/* The objects that are not applied, and why: where to look first. */
		struct recon_failure fl[STATUS_FAILURES_MAX];
		size_t n =
		    req->app->recon ? recon_failures(req->app->recon, fl, STATUS_FAILURES_MAX) : 0;
		json_t *arr = json_array();

		for (size_t i = 0; i < n; i++)
			json_array_append_new(
			    arr, json_pack("{s:s, s:s}", "id", fl[i].id, "reason", fl[i].reason));
		json_object_set_new(o, "failed_objects", arr);
	}
	http_json(resp, 200, o);
}

/* Who the caller is: its token's name and scope (the web UI's read-only mode). */
static void whoami(struct http_req *req, struct http_resp *resp)
{
	const char *name = http_req_token_name(req);

	http_json(resp, 200,
	          json_pack("{s:s, s:s}", "name", name ? name : "", "scope",
	                    http_req_token_write(req) ? "write" : "read"));
}

const struct http_endpoint api_endpoints[] = {
    {"GET", "/healthz", healthz, NULL, 0, 0},
    {"GET", "/openapi.yaml", api_web_file, "openapi.yaml", 0, 0},
    /* The web UI (server/api_web.c): its page, and its scripts, styles and icon. */
    {"GET", "/", api_web_file, "index.html", 0, 0},
    {"GET", "/ui/{file}", api_web_file, NULL, 0, 0},
    {"GET", "/metrics", metrics, NULL, 0, 0},
    {"GET", "/v1/status", status, NULL, 0, 0},
    {"GET", "/v1/whoami", whoami, NULL, 0, 0},
    {"GET", "/v1/routers", api_routers_list, NULL, 0, 0},

    {"POST", "/v1/route-tables", crud_create, &api_route_tables, 0, 0},
    {"GET", "/v1/route-tables", crud_list, &api_route_tables, 0, 0},
    {"GET", "/v1/route-tables/{id}", crud_get, &api_route_tables, 0, 0},
    {"PUT", "/v1/route-tables/{id}", crud_replace, &api_route_tables, 0, 0},
    {"DELETE", "/v1/route-tables/{id}", crud_delete, &api_route_tables, 0, 0},

    {"POST", "/v1/routes", crud_create, &api_routes, 0, 0},
    {"GET", "/v1/routes", crud_list, &api_routes, 0, 0},
    {"GET", "/v1/routes/{id}", crud_get, &api_routes, 0, 0},
    {"PUT", "/v1/routes/{id}", crud_replace, &api_routes, 0, 0},
    {"DELETE", "/v1/routes/{id}", crud_delete, &api_routes, 0, 0},

    {"POST", "/v1/security-groups", crud_create, &api_security_groups, 0, 0},
    {"GET", "/v1/security-groups", crud_list, &api_security_groups, 0, 0},
    {"GET", "/v1/security-groups/{id}", crud_get, &api_security_groups, 0, 0},
    {"PUT", "/v1/security-groups/{id}", crud_replace, &api_security_groups, 0, 0},
    {"DELETE", "/v1/security-groups/{id}", crud_delete, &api_security_groups, 0, 0},

    {"POST", "/v1/security-group-rules", crud_create, &api_security_group_rules, 0, 0},
    {"GET", "/v1/security-group-rules", crud_list, &api_security_group_rules, 0, 0},
    {"GET", "/v1/security-group-rules/{id}", crud_get, &api_security_group_rules, 0, 0},
    {"PUT", "/v1/security-group-rules/{id}", crud_replace, &api_security_group_rules, 0, 0},
    {"DELETE", "/v1/security-group-rules/{id}", crud_delete, &api_security_group_rules, 0, 0},

    {"POST", "/v1/subnets", crud_create, &api_subnets, 0, 0},
    {"GET", "/v1/subnets", crud_list, &api_subnets, 0, 0},
    {"GET", "/v1/subnets/{id}", crud_get, &api_subnets, 0, 0},
    {"PUT", "/v1/subnets/{id}", crud_replace, &api_subnets, 0, 0},
    {"DELETE", "/v1/subnets/{id}", crud_delete, &api_subnets, 0, 0},

    {"GET", "/v1/settings", api_settings_get, NULL, 0, 0},
    {"PUT", "/v1/settings", api_settings_put, NULL, 0, 0},

    {"GET", "/v1/interfaces", api_interfaces_list, NULL, 0, 0},

    {"GET", "/v1/config", api_config_get, NULL, 0, 0},
    /* The whole state in one document: 100,000 routes and more, parsed item by item. */
    {"PUT", "/v1/config", api_config_put, NULL, API_CONFIG_BODY_MAX, HTTP_RAW_BODY},

    {"GET", "/v1/events", api_events_list, NULL, 0, 0},

    {"POST", "/v1/diagnostics/reachability", api_diag_reachability, NULL, 0, 0},
    {"POST", "/v1/diagnostics/captures", api_capture_start, NULL, 0, 0},
    {"GET", "/v1/diagnostics/captures", api_capture_list, NULL, 0, 0},
    {"GET", "/v1/diagnostics/captures/{id}", api_capture_get, NULL, 0, 0},
    {"DELETE", "/v1/diagnostics/captures/{id}", api_capture_delete, NULL, 0, 0},
    {"POST", "/v1/diagnostics/captures/{id}/stop", api_capture_stop, NULL, 0, 0},
    {"GET", "/v1/diagnostics/captures/{id}/pcap", api_capture_pcap, NULL, 0, 0},

    {NULL, NULL, NULL, NULL, 0, 0},
};
