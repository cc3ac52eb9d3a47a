#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "etag.h"
#include "http_frame.h"
#include "fleet.h"
#include "http_cache.h"
#include "http_guard.h"
#include "log.h"
#include "metrics.h"
#include "store.h"
#include "tls.h"

/* A client that stops reading an answer: MHD closes it after this long without progress. */
#define HTTP_CONN_TIMEOUT_S 30
/* MHD's own cap, above the guard's: connections the guard cut linger until MHD's thread sees it. */
#define HTTP_MHD_CONN_LIMIT (2 * HTTP_CONN_LIMIT)
#define HTTP_LISTEN_BACKLOG 128
/* The most a stream writes in one piece (http_resp.stream). */
#define HTTP_STREAM_BLOCK (64 * 1024)

struct http_server {
	struct MHD_Daemon *d;
	struct http_guard *guard;
	struct app *app;
	struct tls *tls; /* served over TLS; NULL: plain HTTP */
	struct http_cache *cache;
	uint16_t port;
};

/* Per-request state across the access handler's calls, from the request line on. */
struct req_ctx {
	const struct http_endpoint *ep;
	struct http_guard_conn *gc;      /* the guard's watch on this connection (NULL: none) */
	bool started;                    /* the access handler was called for this request */
	bool authed;                     /* it carries the right token */
	bool token_write;                /* that token's scope is write */
	char token_name[TOKEN_NAME_MAX]; /* that token's name, copied: SIGHUP may replace it */
	/*
	 * The target as sent is refused: why (NULL: it is fine). Apart, so that
	 * the context stays under 1 KiB: glibc's malloc merges its fast bins
	 * for each larger request, which cost ~3% of the daemon's CPU under
	 * tests/bench/post-rate.sh (README "post-rate").
	 */
	struct http_reject *bad_target;
	struct timespec start;
	char path[HTTP_PATH_MAX];
	const char *params[HTTP_PARAMS_MAX];
	char *body;
	size_t len, cap, max;
	size_t expect; /* Content-Length when given (and within max): the buffer's first size */
	bool too_big;
};

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	default: return status >= 500 ? "Internal Server Error" : "Error";
	}
}

void http_json(struct http_resp *resp, int status, json_t *body)
{
	json_decref(resp->body);
	resp->status = status;
	resp->body = body;
	resp->content_type = NULL;
}

int http_status_of(enum vr_errc code)
{
	switch (code) {
	case VR_ERR_MALFORMED: return 400;
	case VR_ERR_NOT_FOUND: return 404;
	case VR_ERR_CONFLICT: return 409;
	case VR_ERR_REFERENCED: return 409;
	case VR_ERR_PRECONDITION: return 412;
	case VR_ERR_TOO_LARGE: return 413;
	case VR_ERR_INVALID: return 422;
	case VR_ERR_UNAVAILABLE: return 503;
	case VR_ERR_NONE: /* an error without a code is a fault of ours */
	case VR_ERR_INTERNAL: break;
	}
	return 500;
}

/* The problem+json answer: status, detail msg, and field (may be "") with msg under errors. */
static void problem(struct http_resp *resp, int status, const char *field, const char *msg)
{
	json_t *p = json_object();

	json_object_set_new(p, "type", json_string("about:blank"));
	json_object_set_new(p, "title", json_string(reason_phrase(status)));
	json_object_set_new(p, "status", json_integer(status));
	json_object_set_new(p, "detail", json_string(msg));
	if (field[0]) {
		json_t *item = json_object();

		json_object_set_new(item, "field", json_string(field));
		json_object_set_new(item, "message", json_string(msg));
		json_object_set_new(p, "errors", json_pack("[o]", item));
	}
	http_json(resp, status, p);
	resp->content_type = "application/problem+json";
}

void http_problem(struct http_resp *resp, const struct vr_err *e)
{
	problem(resp, http_status_of(e->code), e->field, e->msg);
}

void http_problemf(struct http_resp *resp, int status, const char *field, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	problem(resp, status, field ? field : "", msg);
}

char *http_problem_response(int status, const char *detail, size_t *len)
{
	struct http_resp r = {0};
	char *body, *text = NULL;
	int n;

	http_problemf(&r, status, NULL, "%s", detail);
	body = json_dumps(r.body, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(r.body);
	if (!body)
		return NULL;
	n = asprintf(&text,
	             "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Type: "
	             "application/problem+json\r\nContent-Length: %zu\r\n\r\n%s\n",
	             status, reason_phrase(status), strlen(body) + 1, body);
	free(body);
	if (n < 0)
		return NULL;
	*len = (size_t)n;
	return text;
}

int64_t http_if_match_rev(const char *v)
{
	char *end;
	long long n;

	if (!v || !strcmp(v, "*"))
		return 0;
	if (!strncmp(v, "W/", 2))
		v += 2;
	if (*v == '"')
		v++;
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno || end == v || n <= 0)
		return -1;
	if (*end == '-') /* "<rev>-<hash>": the hash covers the status, which no write sets */
		end += 1 + strspn(end + 1, "0123456789abcdef");
	if (*end == '"')
		end++;
	return *end ? -1 : n;
}

const char *http_req_token_name(const struct http_req *req)
{
	return req->token_name;
}

bool http_req_token_write(const struct http_req *req)
{
	return req->token_write;
}

const char *http_req_query(struct http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

struct query_check {
	const char *const *allowed;
	const char *bad;
};

static enum MHD_Result query_visit(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
	struct query_check *q = cls;

	for (const char *const *a = q->allowed; a && *a; a++)
		if (!strcmp(*a, key))
			return MHD_YES;
	q->bad = key;
	return MHD_NO;
}

int http_req_check_query(struct http_req *req, const char *const *allowed, struct vr_err *e)
{
	struct query_check q = {.allowed = allowed};

	MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, query_visit, &q);
	if (q.bad)
		return err_set(e, VR_ERR_MALFORMED, q.bad, "unknown query parameter \"%s\"", q.bad);
	return 0;
}

/* Match path against pattern; fill params with pointers into path (modified in place). */
static bool path_match(const char *pattern, char *path, const char **params)
{
	size_t np = 0;
	const char *p = pattern;
	char *s = path;

	while (*p && *s) {
		if (*p == '{') {
			const char *pe = strchr(p, '}');
			char *se = strchrnul(s, '/');

			if (!pe || se == s || np >= HTTP_PARAMS_MAX)
				return false;
			params[np++] = s;
			p = pe + 1;
			if (*se == '/' && *p == '/') {
				*se = '\0';
				s = se + 1;
				p++;
			} else if (*se == '\0' && *p == '\0') {
				s = se;
			} else {
				return false;
			}
			continue;
		}
		if (*p != *s)
			return false;
		p++;
		s++;
	}
	return *p == '\0' && *s == '\0';
}

static const struct http_endpoint *find_endpoint(const char *method, const char *url, char *path,
                                                 const char **params, char *allow, size_t allow_len)
{
	const struct http_endpoint *ep;
	bool path_known = false;

	/* HEAD is GET without the body (MHD leaves it out), wherever GET is served. */
	const char *as = strcmp(method, "HEAD") ? method : "GET";

	allow[0] = '\0';
	for (ep = api_endpoints; ep->method; ep++) {
		/* The pattern's literal start first: most patterns differ there, without a copy. */
		if (strncmp(ep->pattern, url, strcspn(ep->pattern, "{")))
			continue;
		snprintf(path, HTTP_PATH_MAX, "%s", url);
		if (!path_match(ep->pattern, path, params))
			continue;
		path_known = true;
		if (!strcmp(ep->method, as))
			return ep;
		if (strlen(allow) + strlen(ep->method) + 9 < allow_len) {
			if (allow[0])
				strcat(allow, ", ");
			strcat(allow, ep->method);
			if (!strcmp(ep->method, "GET"))
				strcat(allow, ", HEAD");
		}
	}
	if (!path_known)
		allow[0] = '\0';
	return NULL;
}

/* Whether hdr carries one of the tokens; then its name and scope go into ctx. */
static bool token_ok(struct app *app, const char *hdr, struct req_ctx *ctx)
{
	const char *given;
	int k;

	if (!hdr || strncasecmp(hdr, "Bearer ", 7))
		return false;
	given = hdr + 7;
	while (*given == ' ')
		given++;
	/* SIGHUP may replace the tokens meanwhile. */
	pthread_rwlock_rdlock(&app->token_lock);
	k = token_match(&app->tokens, given, strlen(given));
	if (k >= 0) {
		memcpy(ctx->token_name, app->tokens.v[k].name, sizeof(ctx->token_name));
		ctx->token_write = app->tokens.v[k].scope == TOKEN_WRITE;
	}
	pthread_rwlock_unlock(&app->token_lock);
	return k >= 0;
}

/* Methods a read token may use: the ones that change nothing. */
static bool is_read_method(const char *method)
{
	return !strcmp(method, "GET") || !strcmp(method, "HEAD");
}

static bool is_json_type(const char *ct)
{
	size_t n = strlen("application/json");

	if (!ct)
		return false;
	while (*ct == ' ')
		ct++;
	if (strncasecmp(ct, "application/json", n))
		return false;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

int http_render(struct http_resp *r)
{
	char *text, *nl;
	size_t len;

	if (!r->body || r->raw)
		return 0;
	text = json_dumps(r->body, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!text)
		return -ENOMEM;
	len = strlen(text);
	/* One trailing newline, so curl output ends cleanly in a terminal. */
	nl = realloc(text, len + 2);
	if (!nl) {
		free(text);
		return -ENOMEM;
	}
	nl[len] = '\n';
	nl[len + 1] = '\0';
	free(r->owned);
	r->owned = nl;
	r->raw = nl;
	r->raw_len = len + 1;
	json_decref(r->body);
	r->body = NULL;
	return 0;
}

void http_resp_end_stream(struct http_resp *r)
{
	if (r->stream && r->stream_free)
		r->stream_free(r->stream_cls);
	r->stream = NULL;
	r->stream_free = NULL;
	r->stream_cls = NULL;
}

/* A stream handed to libmicrohttpd, which calls these as the client reads. */
struct stream {
	ssize_t (*fn)(void *cls, char *buf, size_t max);
	void (*free)(void *cls);
	void *cls;
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream *st = cls;
	ssize_t n = st->fn(st->cls, buf, max);

	(void)pos;
	if (n > 0)
		return n;
	/* 0 would mean "nothing yet" to MHD: say which end this is. */
	return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void stream_free(void *cls)
{
	struct stream *st = cls;

	if (st->free)
		st->free(st->cls);
	free(st);
}

/* libmicrohttpd's response for r's stream, which it then owns; NULL on failure. */
static struct MHD_Response *stream_response(struct http_resp *r)
{
	struct stream *st = malloc(sizeof(*st));
	struct MHD_Response *mr;

	if (!st)
		return NULL;
	*st = (struct stream){r->stream, r->stream_free, r->stream_cls};
	mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, HTTP_STREAM_BLOCK, stream_read, st,
	                                       stream_free);
	if (!mr) {
		free(st);
		return NULL;
	}
	r->stream = NULL;
	r->stream_free = NULL;
	r->stream_cls = NULL;
	return mr;
}

/* HEAD of a streamed answer: MHD never asks for its body; if it did, there is none. */
static ssize_t head_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)cls, (void)pos, (void)buf, (void)max;
	return MHD_CONTENT_READER_END_OF_STREAM;
}

static enum MHD_Result send_resp(struct MHD_Connection *c, struct http_resp *r)
{
	struct MHD_Response *mr;
	enum MHD_Result ret;
	bool streamed = r->stream != NULL;

	if (http_render(r))
		return MHD_NO;
	if (r->head_of_stream) {
		/* A length unknown, as GET's; in the HTTP/1.0-compatible mode, since
		 * 0.9.75 ends a chunked HEAD answer with a terminator it must not send. */
		mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64, head_read, NULL, NULL);
		if (mr && MHD_set_response_options(mr, MHD_RF_HTTP_1_0_COMPATIBLE_STRICT,
		                                   MHD_RO_END) != MHD_YES) {
			MHD_destroy_response(mr);
			mr = NULL;
		}
	} else if (streamed) {
		mr = stream_response(r);
	} else if (r->raw && r->owned == r->raw) {
		mr = MHD_create_response_from_buffer(r->raw_len, r->owned, MHD_RESPMEM_MUST_FREE);
		if (mr)
			r->owned = NULL;
	} else if (r->raw) {
		/* PERSISTENT: MHD only reads it (its prototype lacks the const). */
		mr = MHD_create_response_from_buffer(r->raw_len, (void *)(uintptr_t)r->raw,
		                                     MHD_RESPMEM_PERSISTENT);
	} else {
		mr = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	}
	if (!mr)
		return MHD_NO;
	if (r->body || r->raw || streamed || r->head_of_stream)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE,
		                        r->content_type ? r->content_type : "application/json");
	if (r->location[0])
		MHD_add_response_header(mr, MHD_HTTP_HEADER_LOCATION, r->location);
	if (r->etag[0])
		MHD_add_response_header(mr, MHD_HTTP_HEADER_ETAG, r->etag);
	if (r->allow[0])
		MHD_add_response_header(mr, MHD_HTTP_HEADER_ALLOW, r->allow);
	for (const char *const *h = r->headers; h && h[0] && h[1]; h += 2)
		MHD_add_response_header(mr, h[0], h[1]);
	for (size_t i = 0; i < r->nxhdr; i++)
		MHD_add_response_header(mr, r->xhdr[i][0], r->xhdr[i][1]);
	if (http_guard_answered(http_guard_conn_of(c)))
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CONNECTION, "close");
	if (r->status == 401)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		                        "Bearer realm=\"vrouter\"");
	ret = MHD_queue_response(c, r->status, mr);
	MHD_destroy_response(mr);
	return ret;
}

static void xhdr_add(struct http_resp *r, const char *name, const char *value)
{
	if (r->nxhdr == HTTP_XHDR_MAX)
		return;
	snprintf(r->xhdr[r->nxhdr][0], HTTP_XHDR_LEN, "%s", name);
	snprintf(r->xhdr[r->nxhdr][1], HTTP_XHDR_LEN, "%s", value);
	r->nxhdr++;
}

/*
 * Fleet mode: every answer says which etcd revision this router's copy holds
 * and, while its watch is not live, since when it may be stale; a 503 says
 * when to try again.
 */
static void fleet_answer(struct app *app, struct http_resp *r)
{
	char rev[32], stale[40];

	if (!app || !app->fleet)
		return;
	fleet_headers(app->fleet, rev, sizeof(rev), stale, sizeof(stale));
	xhdr_add(r, "Vrouter-Etcd-Revision", rev);
	if (stale[0])
		xhdr_add(r, "Vrouter-Stale-Since", stale);
	if (r->status == 503)
		xhdr_add(r, "Retry-After", FLEET_RETRY_AFTER);
}

static void observe(const struct req_ctx *ctx, const char *method, int status)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	metrics_http(ctx->ep ? ctx->ep->pattern : "unmatched", method, status,
	             (double)(now.tv_sec - ctx->start.tv_sec) +
	                 (double)(now.tv_nsec - ctx->start.tv_nsec) / 1e9);
}

static enum MHD_Result send_and_free(struct MHD_Connection *c, struct http_resp *r)
{
	enum MHD_Result ret = send_resp(c, r);

	json_decref(r->body);
	r->body = NULL;
	free(r->owned);
	r->owned = NULL;
	http_resp_end_stream(r); /* not handed over: never sent */
	return ret;
}

/* Whether a body follows the head (MHD will call again with it). */
static bool body_expected(struct MHD_Connection *c)
{
	const char *cl =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

	return (cl && strtoull(cl, NULL, 10) > 0) ||
	       MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
}

struct cl_check {
	const char *first;
	bool differs;
};

static enum MHD_Result cl_visit(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
	struct cl_check *k = cls;

	if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) && strcmp(value, k->first))
		k->differs = true;
	return MHD_YES;
}

/* Whether a Content-Length header other than the first (cl) says something else. */
static bool content_length_differs(struct MHD_Connection *c, const char *cl)
{
	struct cl_check k = {.first = cl};

	MHD_get_connection_values(c, MHD_HEADER_KIND, cl_visit, &k);
	return k.differs;
}

/* Whether method changes state: an authenticated request with it is audited. */
static bool audited(const char *method)
{
	return !strcmp(method, "POST") || !strcmp(method, "PUT") || !strcmp(method, "DELETE") ||
	       !strcmp(method, "PATCH");
}

/* The event of req as far as the request tells it; status: what a committed write answers. */
static void audit_init(struct store_event *ev, const struct http_req *req)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;
	const char *token = http_req_token_name(req);

	memset(ev, 0, sizeof(*ev));
	snprintf(ev->token, sizeof(ev->token), "%s", token ? token : "");
	snprintf(ev->method, sizeof(ev->method), "%s", req->method);
	snprintf(ev->path, sizeof(ev->path), "%s", req->path);
	if (req->params[0])
		snprintf(ev->object_id, sizeof(ev->object_id), "%s", req->params[0]);
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
		          ev->client, sizeof(ev->client));
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		          ev->client, sizeof(ev->client));
	ev->status = !strcmp(req->method, "POST")     ? 201
	             : !strcmp(req->method, "DELETE") ? 204
	                                              : 200;
}

/*
 * After the request: when no write committed ev with the answer status
 * (refused, nothing changed, or undone), record it on its own.
 */
static void audit_end(struct app *app, struct store_event *ev, int status)
{
	struct vr_err e = {0};
	int rc;

	if ((ev->id && ev->status == status) || !app->store)
		return;
	ev->status = status;
	ev->rev = 0;
	pthread_mutex_lock(&app->store_lock);
	rc = store_audit_record(app->store, ev, &e);
	pthread_mutex_unlock(&app->store_lock);
	if (rc < 0)
		log_warnx("%s %s: not recorded in the audit log: %s", ev->method, ev->path, e.msg);
}

/* A write refused before it reached a handler (authenticated: anyone else is not recorded). */
static void audit_refused(struct http_server *srv, struct MHD_Connection *c, const char *method,
                          const char *url, const struct req_ctx *ctx, int status)
{
	struct http_req req = {.app = srv->app,
	                       .method = method,
	                       .path = url,
	                       .conn = c,
	                       .token_name = ctx->token_name};
	struct store_event ev;

	if (!ctx->authed || !audited(method))
		return;
	memcpy(req.params, ctx->params, sizeof(req.params)); /* the object id, when routed */
	audit_init(&ev, &req);
	audit_end(srv->app, &ev, status);
}

/* First call for a request: route, authenticate, check headers. Returns true if a response was
 * queued. */
static bool admit(struct http_server *srv, struct MHD_Connection *c, const char *url,
                  const char *method, struct req_ctx *ctx, enum MHD_Result *ret)
{
	struct http_resp r = {0};
	const char *cl;

	ctx->ep = find_endpoint(method, url, ctx->path, ctx->params, r.allow, sizeof(r.allow));
	if (!strncmp(url, "/v1/", 4) || !strcmp(url, "/v1")) {
		/* Authenticate before saying anything about the path. */
		if (!token_ok(srv->app,
		              MHD_lookup_connection_value(c, MHD_HEADER_KIND,
		                                          MHD_HTTP_HEADER_AUTHORIZATION),
		              ctx)) {
			r.allow[0] = '\0';
			http_problemf(&r, 401, NULL, "missing or wrong bearer token");
			goto queue;
		}
		ctx->authed = true;
	}
	if (!ctx->ep) {
		if (r.allow[0])
			http_problemf(&r, 405, NULL, "%s is not allowed on %s (allowed: %s)",
			              method, url, r.allow);
		else
			http_problemf(&r, 404, NULL, "no such path: %s", url);
		goto queue;
	}
	r.allow[0] = '\0';
	if (ctx->authed && !ctx->token_write && !is_read_method(method)) {
		/* Before the body is read: nothing of it reaches a handler. */
		http_problemf(&r, 403, NULL,
		              "the token \"%s\" has scope read; %s needs a token with scope write",
		              ctx->token_name, method);
		goto queue;
	}
	ctx->max = ctx->ep->max_body ? ctx->ep->max_body : HTTP_BODY_MAX_DEFAULT;
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && content_length_differs(c, cl)) {
		/* MHD reads the body the first one gives; the other may be what was meant. */
		http_problemf(&r, 400, NULL,
		              "Content-Length is given more than once, with different values");
		goto queue;
	}
	if (cl && strtoull(cl, NULL, 10) > ctx->max) {
		http_problemf(&r, 413, NULL,
		              "request body of %s bytes exceeds the limit of %zu bytes", cl,
		              ctx->max);
		goto queue;
	}
	if (cl)
		ctx->expect = (size_t)strtoull(cl, NULL, 10);
	return false;
queue:
	audit_refused(srv, c, method, url, ctx, r.status);
	observe(ctx, method, r.status);
	*ret = send_and_free(c, &r);
	return true;
}

static void serve(struct req_ctx *ctx, struct http_req *req_, struct http_resp *r);

static void dispatch(struct http_server *srv, struct MHD_Connection *c, const char *method,
                     struct req_ctx *ctx, struct http_resp *r)
{
	struct http_req req = {
	    .app = srv->app,
	    .method = method,
	    .path = ctx->path,
	    .conn = c,
	    .cls = ctx->ep->cls,
	    .token_name = ctx->authed ? ctx->token_name : NULL,
	    .token_write = ctx->authed && ctx->token_write,
	    .cache = srv->cache,
	};

	memcpy(req.params, ctx->params, sizeof(req.params));
	req.if_match = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_MATCH);
	req.if_none_match =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
	if (ctx->authed && audited(method)) {
		struct store_event ev;

		audit_init(&ev, &req);
		/* The handler's committed write records ev in its own transaction. */
		store_audit_arm(&ev);
		serve(ctx, &req, r);
		store_audit_arm(NULL);
		audit_end(srv->app, &ev, r->status ? r->status : 500);
		return;
	}
	serve(ctx, &req, r);
}

/* Check the body against the endpoint, parse it and call the handler. */
static void serve(struct req_ctx *ctx, struct http_req *req_, struct http_resp *r)
{
	struct http_req req = *req_;
	struct MHD_Connection *c = req.conn;
	const char *ct;

	if (ctx->too_big) {
		http_problemf(r, 413, NULL, "request body exceeds the limit of %zu bytes",
		              ctx->max);
		return;
	}
	if (ctx->len > 0) {
		json_error_t jerr;

		ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
		if (!is_json_type(ct)) {
			http_problemf(r, 415, NULL, "request body must be application/json, not %s",
			              ct ? ct : "(no Content-Type)");
			return;
		}
		if (ctx->ep->flags & HTTP_RAW_BODY) {
			req.raw = ctx->body;
			req.raw_len = ctx->len;
			ctx->body = NULL;
			ctx->len = ctx->cap = 0;
		} else {
			req.body = json_loadb(ctx->body, ctx->len, JSON_REJECT_DUPLICATES, &jerr);
			if (!req.body) {
				http_problemf(r, 400, NULL,
				              "malformed JSON at line %d column %d: %s", jerr.line,
				              jerr.column, jerr.text);
				return;
			}
		}
	}
	ctx->ep->fn(&req, r);
	json_decref(req.body);
	free(req.raw);
}

/* A refused target whose reason could not be kept (never written). */
static struct http_reject target_oom = {.status = 503, .msg = "out of memory"};

/* A request's context, for connection c; uri (as sent, NULL: unknown) is checked. */
static struct req_ctx *new_ctx(struct MHD_Connection *c, const char *uri)
{
	struct req_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &ctx->start);
	ctx->gc = http_guard_conn_of(c);
	if (uri) {
		struct http_reject bad = {0};
		struct http_reject *keep;

		if (http_frame_target(uri, strlen(uri), &bad) < 0 && bad.status) {
			keep = malloc(sizeof(*keep));
			if (keep)
				*keep = bad;
			ctx->bad_target = keep ? keep : &target_oom; /* refused either way */
		}
	}
	return ctx;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct req_ctx *ctx = *con_cls;
	struct http_resp r = {0};
	enum MHD_Result ret;

	if (!ctx) {
		/* uri_log makes it; should it have failed, a request without one. */
		ctx = new_ctx(c, NULL);
		if (!ctx)
			return MHD_NO;
		*con_cls = ctx;
	}
	if (!ctx->started) {
		ctx->started = true;
		/* The head is in: no deadline while it is looked at, or refused. */
		if (!http_guard_phase(ctx->gc, HTTP_PHASE_WORK, 0))
			return MHD_NO;
		if (ctx->bad_target) {
			http_problemf(&r, ctx->bad_target->status, NULL, "%s",
			              ctx->bad_target->msg);
			observe(ctx, method, r.status);
			return send_and_free(c, &r);
		}
		if (strlen(url) >= HTTP_PATH_MAX) {
			http_problemf(&r, 414, NULL, "the path is over %d bytes",
			              HTTP_PATH_MAX - 1);
			observe(ctx, method, 414);
			return send_and_free(c, &r);
		}
		if (admit(srv, c, url, method, ctx, &ret))
			return ret;
		/* A body to wait for has a deadline; with a token it never has to make room. */
		if (body_expected(c) &&
		    !http_guard_phase(ctx->gc, ctx->authed ? HTTP_PHASE_BODY_AUTH : HTTP_PHASE_BODY,
		                      ctx->expect ? ctx->expect : ctx->max))
			return MHD_NO;
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (ctx->too_big || ctx->len + n > ctx->max) {
			/* Keep reading (and dropping) so the 413 can be sent once it is over. */
			ctx->too_big = true;
			return MHD_YES;
		}
		if (ctx->len + n + 1 > ctx->cap) {
			/*
			 * Sized from Content-Length when it was given: doubling from 4 KiB
			 * would hold up to twice a 17 MB /v1/config document.
			 */
			size_t cap = ctx->cap ? ctx->cap : ctx->expect ? ctx->expect + 1 : 4096;
			char *nb;

			while (cap < ctx->len + n + 1)
				cap *= 2;
			nb = realloc(ctx->body, cap);
			if (!nb)
				return MHD_NO;
			ctx->body = nb;
			ctx->cap = cap;
		}
		memcpy(ctx->body + ctx->len, upload_data, n);
		ctx->len += n;
		ctx->body[ctx->len] = '\0';
		return MHD_YES;
	}
	/* The whole body is in: no deadline while the request is handled. */
	if (!http_guard_phase(ctx->gc, HTTP_PHASE_WORK, 0))
		return MHD_NO;
	dispatch(srv, c, method, ctx, &r);
	if (!strcmp(method, "GET") || !strcmp(method, "HEAD"))
		etag_conditional(
		    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH),
		    &r);
	if (!strcmp(method, "HEAD") && r.stream) {
		http_resp_end_stream(&r);
		r.head_of_stream = true;
	}
	if (!r.status)
		http_problemf(&r, 500, NULL, "handler produced no response");
	if (r.status >= 500)
		log_warnx("%s %s -> %d", method, url, r.status);
	else
		log_debug("%s %s -> %d", method, url, r.status);
	observe(ctx, method, r.status);
	fleet_answer(srv->app, &r);
	return send_and_free(c, &r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct req_ctx *ctx = *con_cls;

	/* A kept-alive connection now waits for its next request, for a while. */
	http_guard_phase(ctx ? ctx->gc : http_guard_conn_of(c), HTTP_PHASE_IDLE, 0);
	if (ctx) {
		free(ctx->body);
		if (ctx->bad_target != &target_oom)
			free(ctx->bad_target);
		free(ctx);
		*con_cls = NULL;
	}
}

/*
 * MHD's URI log callback: called with the request line's target as sent,
 * before MHD decodes it (%00 would cut an id short) and before the headers.
 * What it returns is the request's context.
 */
static void *uri_log(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct req_ctx *ctx = new_ctx(c, uri);

	/* Its headers have HTTP_HEAD_TIMEOUT_S to arrive; a cut shows at the first call. */
	if (ctx)
		http_guard_phase(ctx->gc, HTTP_PHASE_HEAD, 0);
	return ctx;
}

int http_parse_listen(const char *listen, void *ss_out, unsigned *socklen, struct vr_err *e)
{
	struct sockaddr_storage *ss = ss_out;
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *h = listen;
	size_t hlen;
	char *end;
	long port;

	memset(ss, 0, sizeof(*ss));
	if (!listen || !*listen)
		return err_set(e, VR_ERR_MALFORMED, "listen", "empty listen address");
	if (*h == '[') {
		const char *rb = strchr(h, ']');

		if (!rb || rb[1] != ':')
			return err_set(e, VR_ERR_MALFORMED, "listen",
			               "listen \"%s\": expected [IPv6]:PORT", listen);
		h++;
		hlen = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(h, ':');
		if (!colon)
			return err_set(e, VR_ERR_MALFORMED, "listen",
			               "listen \"%s\": expected ADDR:PORT", listen);
		hlen = (size_t)(colon - h);
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return err_set(e, VR_ERR_MALFORMED, "listen", "listen \"%s\": bad address", listen);
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || port < 0 || port > 65535)
		return err_set(e, VR_ERR_MALFORMED, "listen", "listen \"%s\": bad port", listen);
	if (*listen == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
			return err_set(e, VR_ERR_MALFORMED, "listen",
			               "listen \"%s\": bad IPv6 address", listen);
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*socklen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
			return err_set(e, VR_ERR_MALFORMED, "listen",
			               "listen \"%s\": bad IPv4 address", listen);
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		*socklen = sizeof(*s4);
	}
	return 0;
}

/* A bound, listening, non-blocking socket for ss (as MHD made it: address reuse, IPv6 only). */
static int listen_socket(const struct sockaddr_storage *ss, unsigned socklen, uint16_t *port)
{
	struct sockaddr_storage bound;
	socklen_t blen = sizeof(bound);
	int one = 1, fd, saved;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (ss->ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    bind(fd, (const struct sockaddr *)ss, socklen) < 0 ||
	    listen(fd, HTTP_LISTEN_BACKLOG) < 0 ||
	    getsockname(fd, (struct sockaddr *)&bound, &blen) < 0)
		goto fail;
	*port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
	                                          : ((struct sockaddr_in *)&bound)->sin_port);
	return fd;
fail:
	saved = errno;
	close(fd);
	return -saved;
}

int http_start(struct app *app, const char *listen, struct http_server **out, struct vr_err *e)
{
	return http_start_tls(app, listen, NULL, out, e);
}

int http_start_tls(struct app *app, const char *listen, struct tls *tls, struct http_server **out,
                   struct vr_err *e)
{
	struct sockaddr_storage ss;
	unsigned socklen;
	struct http_server *s;
	/*
	 * A thread per connection, so that a request waiting for its apply holds
	 * only its own; no listening socket of MHD's own: the guard accepts and
	 * hands over connections whose first request head it has checked.
	 */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
	                 MHD_USE_POLL | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC;
	/*
	 * Over TLS the certificate comes from tls_retrieve at each handshake, so
	 * that tls_reload can replace it. Without TLS only the END is given.
	 */
	struct MHD_OptionItem tls_opts[] = {
	    {MHD_OPTION_HTTPS_CERT_CALLBACK2, 0, (void *)tls_retrieve},
	    {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES},
	    {MHD_OPTION_END, 0, NULL},
	};
	int fd, rc;

	*out = NULL;
	if (http_parse_listen(listen, &ss, &socklen, e))
		return -EINVAL;
	if (tls && (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES ||
	            MHD_is_feature_supported(MHD_FEATURE_HTTPS_CERT_CALLBACK2) != MHD_YES))
		return err_set(
		           e, VR_ERR_INTERNAL, "listen",
		           "this libmicrohttpd is built without the TLS support --tls-cert needs"),
		       -ENOTSUP;
	if (tls && (rc = tls_serve(tls)) < 0)
		return err_set(e, VR_ERR_INTERNAL, "listen",
		               "another server presents a certificate already"),
		       rc;
	s = calloc(1, sizeof(*s));
	if (!s) {
		tls_unserve(tls);
		return err_set(e, VR_ERR_INTERNAL, NULL, "out of memory"), -ENOMEM;
	}
	s->app = app;
	s->tls = tls;
	s->cache = http_cache_new(); /* NULL: serve without */
	fd = listen_socket(&ss, socklen, &s->port);
	if (fd < 0) {
		tls_unserve(tls);
		http_cache_free(s->cache);
		free(s);
		err_set(e, VR_ERR_INTERNAL, "listen", "cannot listen on %s: %s", listen,
		        strerror(-fd));
		return fd;
	}
	s->guard = http_guard_new(fd, tls != NULL);
	if (!s->guard) {
		close(fd);
		tls_unserve(tls);
		http_cache_free(s->cache);
		free(s);
		return err_set(e, VR_ERR_INTERNAL, NULL, "out of memory"), -ENOMEM;
	}
	s->d = MHD_start_daemon(flags | (tls ? MHD_USE_TLS : 0), 0, NULL, NULL, on_request, s,
	                        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
	                        MHD_OPTION_NOTIFY_CONNECTION, http_guard_notify, s->guard,
	                        MHD_OPTION_URI_LOG_CALLBACK, uri_log, s,
	                        MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MHD_CONN_LIMIT,
	                        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_CONN_TIMEOUT_S,
	                        MHD_OPTION_ARRAY, tls ? tls_opts : tls_opts + 2, MHD_OPTION_END);
	rc = s->d ? http_guard_run(s->guard, s->d) : -(errno ? errno : ENOMEM);
	if (rc < 0) {
		if (s->d)
			MHD_stop_daemon(s->d);
		http_guard_free(s->guard);
		tls_unserve(tls);
		http_cache_free(s->cache);
		free(s);
		err_set(e, VR_ERR_INTERNAL, "listen", "cannot serve on %s: %s", listen,
		        strerror(-rc));
		return rc;
	}
	*out = s;
	return 0;
}

void http_stop(struct http_server *s)
{
	if (!s)
		return;
	/* No new connections, then MHD's end (it reports each closing one to the guard). */
	http_guard_stop(s->guard);
	MHD_stop_daemon(s->d);
	http_guard_free(s->guard);
	tls_unserve(s->tls);
	http_cache_free(s->cache);
	free(s);
}

uint16_t http_port(const struct http_server *s)
{
	return s ? s->port : 0;
}

struct http_cache *http_server_cache(struct http_server *s)
{
	return s ? s->cache : NULL;
}
