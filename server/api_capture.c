/*
 * /v1/diagnostics/captures: bounded packet captures (core/capture.c) as
 * JSON, and their pcap files. The packet socket comes from the kernel
 * adapter's capture_open through app->kernel_query, so this process never
 * opens one itself.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "capture.h"
#include "jsonv.h"
#include "kernel.h"
#include "store.h"

#define CAPTURES_PATH "/v1/diagnostics/captures"

struct open_arg {
	const char *ifname;
	const struct sock_filter *prog;
	size_t len;
};

static int open_with(const struct kernel_ops *k, void *arg)
{
	const struct open_arg *a = arg;
	int ifindex;

	if (!k->capture_open || !k->link_index)
		return -EOPNOTSUPP;
	ifindex = k->link_index(k->ctx, a->ifname);
	if (ifindex <= 0)
		return -ENODEV;
	return k->capture_open(k->ctx, ifindex, a->prog, a->len);
}

/* capture_open_fn over the HTTP threads' kernel handle. */
static int open_socket(void *ctx, const char *ifname, const struct sock_filter *prog, size_t len)
{
	struct app *app = ctx;
	struct open_arg a = {.ifname = ifname, .prog = prog, .len = len};

	if (!app->kernel_query)
		return -EOPNOTSUPP;
	return app->kernel_query(app->query_ctx, open_with, &a);
}

int api_captures_open(struct app *app)
{
	return capture_mgr_new(open_socket, app, &app->captures);
}

void api_captures_close(struct app *app)
{
	capture_mgr_free(app->captures);
	app->captures = NULL;
}

static json_t *opt_str(const char *s)
{
	return s[0] ? json_string(s) : json_null();
}

static json_t *capture_json(const struct capture_info *c)
{
	char pcap[sizeof(CAPTURES_PATH) + ID_MAX + 8];
	json_t *o = json_object();

	snprintf(pcap, sizeof(pcap), "%s/%s/pcap", CAPTURES_PATH, c->id);
	json_object_set_new(o, "id", json_string(c->id));
	json_object_set_new(o, "interface", json_string(c->req.ifname));
	json_object_set_new(o, "filter", json_string(c->req.filter));
	json_object_set_new(o, "max_packets", json_integer(c->req.max_packets));
	json_object_set_new(o, "max_seconds", json_integer(c->req.max_seconds));
	json_object_set_new(o, "max_bytes", json_integer(c->req.max_bytes));
	json_object_set_new(o, "state", json_string(capture_state_name(c->state)));
	json_object_set_new(o, "stop_reason", opt_str(c->reason));
	json_object_set_new(o, "error", opt_str(c->error));
	json_object_set_new(o, "packets", json_integer((json_int_t)c->packets));
	json_object_set_new(o, "bytes", json_integer((json_int_t)c->bytes));
	json_object_set_new(o, "dropped", json_integer((json_int_t)c->dropped));
	json_object_set_new(o, "downloaded", json_boolean(c->downloaded));
	json_object_set_new(o, "started_at", json_string(c->started_at));
	json_object_set_new(o, "ended_at", opt_str(c->ended_at));
	json_object_set_new(o, "expires_at", opt_str(c->expires_at));
	json_object_set_new(o, "pcap", json_string(pcap));
	return o;
}

/* 503 when this vrouterd has no capture manager (no kernel: unit tests). */
static bool available(struct http_req *req, struct http_resp *resp)
{
	if (req->app->captures)
		return true;
	http_problemf(resp, 503, NULL, "packet captures are not available in this vrouterd");
	return false;
}

static int req_from_json(json_t *body, struct capture_req *r, struct vr_err *e)
{
	/* What GET shows beside the request: a capture as shown can be sent again. */
	static const char *const computed[] = {
	    "state",      "stop_reason", "error",    "packets",    "bytes", "dropped",
	    "downloaded", "started_at",  "ended_at", "expires_at", "pcap",  NULL};
	static const char *const keys[] = {"id",          "interface", "filter", "max_packets",
	                                   "max_seconds", "max_bytes", NULL};
	bool has_if = false;

	*r = (struct capture_req){.max_packets = CAPTURE_PACKETS_DEFAULT,
	                          .max_seconds = CAPTURE_SECONDS_DEFAULT,
	                          .max_bytes = CAPTURE_BYTES_MAX};
	if (!body)
		return err_set(e, VR_ERR_MALFORMED, NULL,
		               "a JSON object {\"interface\", \"filter\", \"max_packets\", "
		               "\"max_seconds\"} is required");
	if (jsonv_check_keys(body, keys, computed, e) ||
	    jsonv_str(body, "id", r->id, sizeof(r->id), NULL, e) ||
	    jsonv_str(body, "interface", r->ifname, sizeof(r->ifname), &has_if, e) ||
	    jsonv_str(body, "filter", r->filter, sizeof(r->filter), NULL, e) ||
	    jsonv_u32(body, "max_packets", &r->max_packets, NULL, e) ||
	    jsonv_u32(body, "max_seconds", &r->max_seconds, NULL, e) ||
	    jsonv_u32(body, "max_bytes", &r->max_bytes, NULL, e))
		return -1;
	if (!has_if)
		return err_set(
		    e, VR_ERR_INVALID, "interface",
		    "interface is required: the link to capture on (GET /v1/interfaces)");
	return 0;
}

void api_capture_start(struct http_req *req, struct http_resp *resp)
{
	struct capture_req r;
	struct capture_info c;
	struct vr_err e = {0};

	if (!available(req, resp))
		return;
	if (req_from_json(req->body, &r, &e) || capture_start(req->app->captures, &r, &c, &e)) {
		http_problem(resp, &e);
		return;
	}
	store_audit_object(c.id);
	snprintf(resp->location, sizeof(resp->location), "%s/%s", CAPTURES_PATH, c.id);
	http_json(resp, 201, capture_json(&c));
}

void api_capture_list(struct http_req *req, struct http_resp *resp)
{
	static const char *const params[] = {NULL};
	struct capture_info v[CAPTURE_MAX];
	struct vr_err e = {0};
	json_t *items;
	size_t n;

	if (!available(req, resp))
		return;
	if (http_req_check_query(req, params, &e)) {
		http_problem(resp, &e);
		return;
	}
	n = capture_list(req->app->captures, v);
	items = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(items, capture_json(&v[i]));
	http_json(resp, 200, json_pack("{s:o, s:n}", "items", items, "next"));
}

/* 200 with the capture that fn (capture_get, capture_stop) gives for the path's id. */
static void answer(struct http_req *req, struct http_resp *resp,
                   int (*fn)(struct capture_mgr *m, const char *id, struct capture_info *out,
                             struct vr_err *e))
{
	struct capture_info c;
	struct vr_err e = {0};

	if (!available(req, resp))
		return;
	if (fn(req->app->captures, req->params[0], &c, &e)) {
		http_problem(resp, &e);
		return;
	}
	http_json(resp, 200, capture_json(&c));
}

void api_capture_get(struct http_req *req, struct http_resp *resp)
{
	answer(req, resp, capture_get);
}

void api_capture_stop(struct http_req *req, struct http_resp *resp)
{
	answer(req, resp, capture_stop);
}

void api_capture_delete(struct http_req *req, struct http_resp *resp)
{
	struct vr_err e = {0};

	if (!available(req, resp))
		return;
	if (capture_delete(req->app->captures, req->params[0], &e)) {
		http_problem(resp, &e);
		return;
	}
	resp->status = 204;
}

void api_capture_pcap(struct http_req *req, struct http_resp *resp)
{
	unsigned char *buf = NULL;
	struct vr_err e = {0};
	size_t len = 0;

	if (!available(req, resp))
		return;
	/* A HEAD is no download: it leaves the capture as it is. */
	if (capture_pcap(req->app->captures, req->params[0], strcmp(req->method, "HEAD") != 0, &buf,
	                 &len, &e)) {
		http_problem(resp, &e);
		return;
	}
	resp->status = 200;
	resp->owned = (char *)buf;
	resp->raw = (const char *)buf;
	resp->raw_len = len;
	resp->content_type = "application/vnd.tcpdump.pcap";
}
