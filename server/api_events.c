/* GET /v1/events: the audit log (core/store_audit.c) as JSON, newest first. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "api.h"
#include "app.h"
#include "crud.h"
#include "store.h"

static json_t *opt_string(const char *s)
{
	return s[0] ? json_string(s) : json_null();
}

static json_t *event_json(const struct store_event *ev)
{
	json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:o, s:i, s:o}", "id",
	                      (json_int_t)ev->id, "time", ev->time, "token_name", ev->token,
	                      "client", ev->client, "method", ev->method, "path", ev->path,
	                      "object_id", opt_string(ev->object_id), "status", ev->status,
	                      "revision", ev->rev > 0 ? json_integer(ev->rev) : json_null());

	if (!o)
		return json_null();
	json_object_set_new(o, "plan",
	                    ev->has_plan
	                        ? json_pack("{s:I, s:I, s:I, s:I}", "added", (json_int_t)ev->added,
	                                    "changed", (json_int_t)ev->changed, "removed",
	                                    (json_int_t)ev->removed, "unchanged",
	                                    (json_int_t)ev->unchanged)
	                        : json_null());
	return o;
}

/* ?after=: an event id, the "next" of the page before; 0 when absent or empty. */
static int query_after(struct http_req *req, int64_t *after, struct vr_err *e)
{
	const char *a = http_req_query(req, "after");
	char *end;
	long long v;

	*after = 0;
	if (!a || !a[0])
		return 0;
	errno = 0;
	v = strtoll(a, &end, 10);
	if (errno || *end || a[0] < '0' || a[0] > '9' || v < 1)
		return err_set(e, VR_ERR_MALFORMED, "after",
		               "after must be the \"next\" of the page before (an event id, a "
		               "positive integer)");
	*after = v;
	return 0;
}

/* A filter's value: NULL (any) when absent or empty. */
static const char *query_filter(struct http_req *req, const char *name)
{
	const char *v = http_req_query(req, name);

	return v && v[0] ? v : NULL;
}

void api_events_list(struct http_req *req, struct http_resp *resp)
{
	static const char *const allowed[] = {"limit", "after", "object_id", "token_name", NULL};
	struct store_event_filter f = {
	    .object_id = query_filter(req, "object_id"),
	    .token = query_filter(req, "token_name"),
	};
	struct store_event *v = NULL;
	struct vr_err e = {0};
	size_t n = 0, limit;
	bool more = false;
	int64_t after;
	char next[24];
	json_t *arr;
	struct store *s;
	int rc;

	if (http_req_check_query(req, allowed, &e) || crud_query_limit(req, &limit, &e) ||
	    query_after(req, &after, &e)) {
		http_problem(resp, &e);
		return;
	}
	s = app_read_begin(req->app);
	rc = store_audit_list(s, &f, after, limit, &v, &n, &more, &e);
	app_read_done(req->app, s);
	if (rc) {
		http_problem(resp, &e);
		return;
	}
	arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, event_json(&v[i]));
	if (more && n)
		snprintf(next, sizeof(next), "%" PRId64, v[n - 1].id);
	crud_page(resp, arr, more && n ? next : NULL);
	free(v);
}
