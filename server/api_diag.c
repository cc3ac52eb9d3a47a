/*
 * POST /v1/diagnostics/reachability: the question read and checked here,
 * the desired state read from the store, the answer computed by core/diag.c
 * on the HTTP threads' own kernel handle (app->kernel_query), and said in
 * JSON. Reads only: nothing is written, applied or sent.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "diag.h"
#include "grow.h"
#include "http.h"
#include "jsonv.h"
#include "recon.h"
#include "store.h"

/* Desired routes one question reads: as many as the reconciler applies. */
#define DIAG_ROUTES_MAX ((size_t)4 * 1024 * 1024)

/* What one question reads: routes (without descriptions), subnets, groups, rules. */
struct loaded {
	struct store_config c;
	size_t cap; /* of c.routes */
};

static int keep_route(void *arg, const struct route *r)
{
	struct loaded *l = arg;

	if (vr_grow((void **)&l->c.routes, &l->cap, l->c.nroutes + 1, sizeof(*l->c.routes),
	            DIAG_ROUTES_MAX))
		return 1; /* store_routes_each's own errors are negative */
	l->c.routes[l->c.nroutes] = *r;
	l->c.routes[l->c.nroutes++].description = NULL;
	return 0;
}

static int load(struct app *app, struct loaded *l, struct vr_err *e)
{
	struct store *s = app_read_begin(app);
	/* In a fleet, this router's own: the routes and subnets its kernel has. */
	const char *router = app->fleet ? app->router : NULL;
	struct settings set;
	int64_t rev;
	int rc;

	/* One snapshot: the routes, subnets and groups of one revision. */
	rc = store_snapshot_begin(s, &set, &rev, e);
	if (rc) {
		app_read_done(app, s);
		return rc;
	}
	rc = store_routes_each_of(s, router, keep_route, l, &rev, e);
	if (rc > 0)
		rc = err_set(e, VR_ERR_INTERNAL, NULL, "out of memory reading the routes");
	if (!rc)
		rc = store_net_load_of(s, router, &l->c.subnets, &l->c.nsubnets, &set, &rev, e);
	if (!rc)
		rc = store_sg_load(s, &l->c.groups, &l->c.ngroups, &l->c.rules, &l->c.nrules, &rev,
		                   e);
	store_snapshot_end(s);
	app_read_done(app, s);
	return rc;
}

static void route_status(void *ctx, const char *id, struct obj_status *out)
{
	recon_status(ctx, id, out);
}

struct diag_call {
	const struct diag_state *st;
	const struct diag_request *q;
	struct diag_result *res;
	char why[256];
};

static int diag_fn(const struct kernel_ops *k, void *arg)
{
	struct diag_call *c = arg;

	return diag_reachability(k, c->st, c->q, c->res, c->why, sizeof(c->why));
}

/* Set key, which may be dotted ("forwarding.ipv4"), in o to v (stolen). */
static void set_path(json_t *o, const char *key, json_t *v)
{
	const char *dot = strchr(key, '.');
	char head[64];
	json_t *sub;

	if (!dot) {
		json_object_set_new(o, key, v);
		return;
	}
	snprintf(head, sizeof(head), "%.*s", (int)(dot - key), key);
	sub = json_object_get(o, head);
	if (!sub) {
		sub = json_object();
		json_object_set_new(o, head, sub);
	}
	set_path(sub, dot + 1, v);
}

static json_t *suggestion_json(const struct diag_suggestion *s)
{
	json_t *body = s->nbody ? json_object() : json_null();

	if (!s->present)
		return json_null();
	for (size_t i = 0; i < s->nbody; i++) {
		const struct diag_field *f = &s->body[i];

		set_path(body, f->key,
		         f->type == DIAG_STR   ? json_string(f->s)
		         : f->type == DIAG_INT ? json_integer(f->i)
		                               : json_boolean(f->b));
	}
	return json_pack("{s:s, s:s, s:o, s:s, s:b, s:s}", "method", s->method, "path", s->path,
	                 "body", body, "host", s->on_destination ? "destination" : "this",
	                 "complete", s->complete, "note", s->note);
}

static json_t *result_json(const struct diag_request *q, const struct diag_result *r)
{
	json_t *hops = json_array(), *o;

	for (size_t i = 0; i < r->nhops; i++) {
		const struct diag_hop *h = &r->hops[i];
		json_t *ids = json_array();

		for (size_t j = 0; j < h->nids; j++)
			json_array_append_new(ids, json_string(h->ids[j]));
		json_array_append_new(hops,
		                      json_pack("{s:s, s:s, s:o, s:s, s:s}", "check", h->check,
		                                "verdict", diag_verdict_name(h->verdict), "ids",
		                                ids, "kernel", h->kernel, "detail", h->detail));
	}
	o = json_pack("{s:s, s:s, s:s, s:b, s:o}", "source", q->source, "destination",
	              q->destination, "protocol", q->protocol, "reachable", r->reachable, "hops",
	              hops);
	if (q->port)
		json_object_set_new(o, "port", json_integer(q->port));
	if (r->code == DIAG_OK)
		json_object_set_new(o, "blocking", json_null());
	else
		json_object_set_new(
		    o, "blocking",
		    json_pack("{s:s, s:o, s:s}", "code", diag_code_name(r->code), "object_id",
		              r->object_id[0] ? json_string(r->object_id) : json_null(), "message",
		              r->message));
	json_object_set_new(o, "suggestion", suggestion_json(&r->fix));
	return o;
}

static int request_from_json(json_t *body, struct diag_request *q, struct vr_err *e)
{
	static const char *const keys[] = {"source", "destination", "protocol", "port", NULL};

	if (!body)
		return err_set(e, VR_ERR_MALFORMED, NULL, "a JSON object body is required");
	if (jsonv_check_keys(body, keys, NULL, e) ||
	    jsonv_str(body, "source", q->source, sizeof(q->source), NULL, e) ||
	    jsonv_str(body, "destination", q->destination, sizeof(q->destination), NULL, e) ||
	    jsonv_str(body, "protocol", q->protocol, sizeof(q->protocol), NULL, e) ||
	    jsonv_int(body, "port", "an integer 1..65535", &q->has_port, &q->port_in, e))
		return -1;
	return diag_request_validate(q, e);
}

void api_diag_reachability(struct http_req *req, struct http_resp *resp)
{
	static const char *const no_params[] = {NULL};
	struct app *app = req->app;
	struct diag_request q = {0};
	struct diag_result *res = NULL;
	struct loaded l = {0};
	struct vr_err e = {0};
	struct diag_state st;
	struct diag_call c;

	if (http_req_check_query(req, no_params, &e) || request_from_json(req->body, &q, &e)) {
		http_problem(resp, &e);
		return;
	}
	if (!app->kernel_query) {
		http_problemf(resp, 503, NULL,
		              "diagnostics need the kernel, and this server has none");
		return;
	}
	res = calloc(1, sizeof(*res));
	if (!res) {
		http_problemf(resp, 500, NULL, "out of memory");
		return;
	}
	if (load(app, &l, &e)) {
		http_problem(resp, &e);
		goto out;
	}
	st = (struct diag_state){.routes = l.c.routes,
	                         .nroutes = l.c.nroutes,
	                         .subnets = l.c.subnets,
	                         .nsubnets = l.c.nsubnets,
	                         .groups = l.c.groups,
	                         .ngroups = l.c.ngroups,
	                         .rules = l.c.rules,
	                         .nrules = l.c.nrules,
	                         .route_status = app->recon ? route_status : NULL,
	                         .status_ctx = app->recon};
	c = (struct diag_call){.st = &st, .q = &q, .res = res};
	if (app->kernel_query(app->query_ctx, diag_fn, &c)) {
		http_problemf(resp, 503, NULL, "the kernel could not be read: %s", c.why);
		goto out;
	}
	http_json(resp, 200, result_json(&q, res));
out:
	store_config_clear(&l.c);
	free(res);
}
