/*
 * The HTTP layer on libmicrohttpd: an endpoint table (method + path pattern ->
 * handler), bounded bodies, JSON-only input, bearer auth, problem+json errors.
 * Handlers only translate between JSON and core/ and never see libmicrohttpd.
 */
#ifndef VR_HTTP_H
#define VR_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

struct app;
struct http_cache;
struct http_server;
struct tls;

#define HTTP_PARAMS_MAX 4
#define HTTP_BODY_MAX_DEFAULT (1024 * 1024) /* bytes; endpoints may choose their own */
#define HTTP_HEADER_MAX 128

struct http_req {
	struct app *app;
	const char *method;
	const char *path;
	const char *params[HTTP_PARAMS_MAX]; /* the {x} parts of the pattern, in order */
	json_t *body;                        /* parsed body, NULL when none was sent */
	const char *if_match;                /* If-Match header or NULL */
	void *conn;                          /* opaque: for http_req_query */
	const void *cls;                     /* the endpoint's cls */
	/*
	 * HTTP_RAW_BODY endpoints: the body as sent (NUL-terminated, raw_len
	 * bytes), not parsed; NULL when none was sent. The handler owns it and
	 * may free it early (then set it NULL); it is freed after the handler.
	 */
	char *raw;
	size_t raw_len;
	/* The authenticated token (paths under /v1/): http_req_token_name, _write. */
	const char *token_name;
	bool token_write;
	const char *if_none_match; /* If-None-Match header or NULL */
	struct http_cache *cache;  /* the server's rendered answers (http_cache.h) */
};

#define HTTP_XHDR_MAX 3
#define HTTP_XHDR_LEN 48

struct http_resp {
	int status;
	json_t *body;             /* owned: freed after sending */
	const char *content_type; /* default application/json */
	const char *raw;          /* bytes instead of body (web assets, metrics) */
	char *owned;              /* malloc'd buffer freed after sending (raw may point into it) */
	size_t raw_len;
	char location[HTTP_HEADER_MAX];
	char etag[HTTP_HEADER_MAX];
	char allow[HTTP_HEADER_MAX];
	const char *const *headers; /* NULL, or extra name, value pairs ending in NULL */
	/* Headers held by value (fleet mode's Vrouter-Etcd-Revision...): nxhdr name, value pairs.
	 */
	char xhdr[HTTP_XHDR_MAX][2][HTTP_XHDR_LEN];
	size_t nxhdr;
	/*
	 * A body written in pieces while it is sent (instead of body or raw), for
	 * documents too big to hold: stream(stream_cls, buf, max) writes up to
	 * max bytes into buf and returns how many (> 0), 0 at the end, -1 when it
	 * cannot go on (the status is sent already: the connection is closed and
	 * the client sees a truncated body). stream_free(stream_cls) is called
	 * once, after the last piece or when the body is not sent (304, HEAD, an
	 * error); http_resp_end_stream does so early.
	 */
	ssize_t (*stream)(void *stream_cls, char *buf, size_t max);
	void (*stream_free)(void *stream_cls);
	void *stream_cls;
	/* Set by http.c for HEAD of a streamed answer: the stream is dropped unread and
	 * the head goes out alone (see send_resp). */
	bool head_of_stream;
};

/* Free resp's stream, if it has one, and forget it (NULL-safe). */
void http_resp_end_stream(struct http_resp *resp);

typedef void (*http_handler)(struct http_req *req, struct http_resp *resp);

struct http_endpoint {
	const char *method;
	const char *pattern; /* "/v1/routes/{id}" */
	http_handler fn;
	const void *cls; /* handed to the handler as req->cls */
	size_t max_body; /* 0 = HTTP_BODY_MAX_DEFAULT */
	unsigned flags;  /* HTTP_RAW_BODY */
};

/*
 * Hand the body to the handler unparsed (http_req.raw): for documents whose
 * jansson tree would be many times their size. Content-Type is still checked.
 */
#define HTTP_RAW_BODY 1u

/* The table, terminated by an entry with method NULL (server/api.c). */
extern const struct http_endpoint api_endpoints[];

/*
 * The name of the token the request was authenticated with (the token file's
 * NAME; "default" for a one-token file), valid during the handler; NULL on
 * paths that need no token (/healthz, /metrics, the web UI's files).
 */
const char *http_req_token_name(const struct http_req *req);
/* Whether that token has scope write (false: read, or no token). */
bool http_req_token_write(const struct http_req *req);

/* Query parameter or NULL. */
const char *http_req_query(struct http_req *req, const char *name);
/* 400 naming the first query parameter not in allowed (NULL-terminated); 0 if all known. */
int http_req_check_query(struct http_req *req, const char *const *allowed, struct vr_err *e);

/*
 * The HTTP status a core error answers with: the one place codes become
 * statuses (CONFLICT and REFERENCED are both 409; NONE, INTERNAL are 500).
 */
int http_status_of(enum vr_errc code);
/* Set resp to a problem+json for e (http_status_of its code, title, detail, errors[field]). */
void http_problem(struct http_resp *resp, const struct vr_err *e);
/* A problem+json with an HTTP status of its own, field (NULL: none), printf-message. */
void http_problemf(struct http_resp *resp, int status, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/*
 * A whole HTTP/1.1 answer (status line, headers, problem+json body saying
 * detail, Connection: close) for a connection libmicrohttpd does not serve.
 * Malloc'd, *len bytes; NULL when out of memory.
 */
char *http_problem_response(int status, const char *detail, size_t *len);
/* Set resp to status + JSON body (stolen). */
void http_json(struct http_resp *resp, int status, json_t *body);
/*
 * Turn a JSON body into the bytes sent (compact, keys in order, one trailing
 * newline) in resp->owned/raw, once: the ETag hashes them and send uses them.
 * No-op without a body or with raw bytes already. 0 or -ENOMEM.
 */
int http_render(struct http_resp *resp);

/*
 * Parse an If-Match value ("\"42\"", "42", "*", or an object's ETag
 * "\"42-<hash>\"", whose hash is ignored) into a revision: 0 when the header
 * is absent or "*", -1 when it cannot match any ETag.
 */
int64_t http_if_match_rev(const char *if_match);

/*
 * Listen on addr:port ("127.0.0.1:8080", "[::1]:8080") and serve until
 * http_stop. The address is resolved and checked before anything starts.
 */
int http_start(struct app *app, const char *listen, struct http_server **out, struct vr_err *e)
    __attribute__((warn_unused_result));
/*
 * http_start, over TLS when tls is not NULL: TLS 1.2 and 1.3 only, presenting
 * tls's certificate at each handshake (tls_reload replaces it for the next
 * ones). One TLS server per process.
 */
int http_start_tls(struct app *app, const char *listen, struct tls *tls, struct http_server **out,
                   struct vr_err *e) __attribute__((warn_unused_result));
void http_stop(struct http_server *s);
/* The port actually bound (useful when listening on port 0 in tests). */
uint16_t http_port(const struct http_server *s);
/* The server's cache of rendered answers (http_cache.h); NULL: none. */
struct http_cache *http_server_cache(struct http_server *s);

/* Split "host:port" / "[v6]:port" into a socket address. */
int http_parse_listen(const char *listen, void *sockaddr_storage, unsigned *socklen,
                      struct vr_err *e) __attribute__((warn_unused_result));

#endif
