/*
 * etcd's v3 JSON gateway over libcurl (see etcd.h for the contract). One request is one
 * POST of a JSON object to one endpoint; its answer is one JSON object, or
 * {"error", "message", "code"} with a gRPC code and an HTTP status beside it. A watch
 * is one POST whose answer never ends: a line of JSON per message,
 * {"result": {...}} or {"error": {...}}.
 */
#include "etcd.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "grow.h"
#include "log.h"

/* Idle easy handles kept for reuse (and their open connections). */
#define POOL_MAX 8
#define DEFAULT_TIMEOUT_MS 3000
#define TIMEOUT_PER_MIB_MS 4000 /* more time for a request, per MiB of its body */
#define DEFAULT_CONNECT_TIMEOUT_MS 1000
/* A watch's pause between reconnects grows from the first to the last. */
#define WATCH_BACKOFF_MIN_MS 100
#define WATCH_BACKOFF_MAX_MS 2000
/* TCP keepalive on a watch's connection: idle seconds, interval, probes. */
#define WATCH_KEEPIDLE 2
#define WATCH_KEEPINTVL 1
#define WATCH_KEEPCNT 3
/* gRPC status codes etcd's errors carry. */
#define GRPC_NOT_FOUND 5
#define GRPC_OUT_OF_RANGE 11

struct etcd {
	char *ep[ETCD_MAX_ENDPOINTS];
	size_t nep;
	char *ca_file, *cert_file, *key_file;
	long timeout_ms, connect_timeout_ms;
	struct curl_slist *headers;
	pthread_mutex_t mu; /* guards cur and the pool */
	size_t cur;         /* the endpoint that answered last */
	CURL *idle[POOL_MAX];
	size_t nidle;
};

struct buf {
	char *p;
	size_t len, cap;
	bool over; /* more than ETCD_MAX_RESPONSE came */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

const char *etcd_rc_str(int rc)
{
	switch (rc) {
	case ETCD_OK: return "ok";
	case ETCD_EUNREACHABLE: return "unreachable";
	case ETCD_EREJECTED: return "rejected";
	case ETCD_ECOMPACTED: return "compacted";
	case ETCD_EUNKNOWN: return "outcome unknown";
	case ETCD_ENOTFOUND: return "not found";
	case ETCD_EINTERNAL: return "internal";
	}
	return "?";
}

/* Set *err for rc (the vr_err code follows from it); returns rc. */
static int fail(struct vr_err *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct vr_err *err, int rc, const char *fmt, ...)
{
	enum vr_errc code = VR_ERR_INTERNAL;
	char msg[ERR_MSG_MAX];
	va_list ap;

	if (rc == ETCD_EUNREACHABLE || rc == ETCD_EUNKNOWN || rc == ETCD_ECOMPACTED)
		code = VR_ERR_UNAVAILABLE;
	else if (rc == ETCD_ENOTFOUND)
		code = VR_ERR_NOT_FOUND;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err_set(err, code, "", "etcd %s: %s", etcd_rc_str(rc), msg);
	return rc;
}

/* ---------------------------------------------------------------- base64 */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode_new(const void *data, size_t len)
{
	const unsigned char *s = data;
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
		*o++ = b64[v >> 18];
		*o++ = b64[v >> 12 & 63];
		*o++ = b64[v >> 6 & 63];
		*o++ = b64[v & 63];
	}
	if (i < len) {
		uint32_t v = (uint32_t)s[i] << 16 | (i + 1 < len ? (uint32_t)s[i + 1] << 8 : 0);
		*o++ = b64[v >> 18];
		*o++ = b64[v >> 12 & 63];
		*o++ = i + 1 < len ? b64[v >> 6 & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static int b64_val(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;

	return p ? (int)(p - b64) : -1;
}

/* Decode s into a new NUL-terminated buffer (*len bytes before the NUL); NULL when s
 * is not base64 or memory ran out. */
static char *b64_decode_new(const char *s, size_t *len)
{
	size_t n = strlen(s), i, o = 0;
	char *out;

	while (n > 0 && s[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return NULL;
	out = malloc(n / 4 * 3 + 3);
	if (!out)
		return NULL;
	for (i = 0; i < n; i += 4) {
		uint32_t v = 0;
		size_t k, m = n - i < 4 ? n - i : 4;
		for (k = 0; k < 4; k++) {
			int d = k < m ? b64_val(s[i + k]) : 0;
			if (d < 0) {
				free(out);
				return NULL;
			}
			v = v << 6 | (uint32_t)d;
		}
		out[o++] = (char)(v >> 16);
		if (m > 2)
			out[o++] = (char)(v >> 8 & 255);
		if (m > 3)
			out[o++] = (char)(v & 255);
	}
	out[o] = '\0';
	*len = o;
	return out;
}

/* ---------------------------------------------------------------- JSON */

/* obj[name] as an int64: a string of digits (etcd's way), a JSON integer, or absent
 * (0: the gateway leaves out zero values). -1 when it is something else. */
static int json_i64(const json_t *obj, const char *name, int64_t *v)
{
	const json_t *j = json_object_get(obj, name);
	const char *s;
	char *end;
	long long x;

	*v = 0;
	if (!j)
		return 0;
	if (json_is_integer(j)) {
		*v = json_integer_value(j);
		return 0;
	}
	s = json_string_value(j);
	if (!s || !*s)
		return -1;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno || *end)
		return -1;
	*v = x;
	return 0;
}

static int json_u64(const json_t *obj, const char *name, uint64_t *v)
{
	const char *s = json_string_value(json_object_get(obj, name));
	char *end;

	*v = 0;
	if (!json_object_get(obj, name))
		return 0;
	if (!s || !*s)
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || *end ? -1 : 0;
}

static int json_set_b64(json_t *obj, const char *name, const void *data, size_t len)
{
	char *s = b64_encode_new(data, len);
	int rc = s ? json_object_set_new(obj, name, json_string(s)) : -1;

	free(s);
	return rc;
}

static int json_set_i64(json_t *obj, const char *name, int64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%" PRId64, v);
	return json_object_set_new(obj, name, json_string(s));
}

/* The header's revision of an answer. */
static int64_t header_revision(const json_t *ans)
{
	int64_t rev;

	return json_i64(json_object_get(ans, "header"), "revision", &rev) ? 0 : rev;
}

static void kv_free(struct etcd_kv *kv)
{
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

/* A mvccpb.KeyValue: base64 key and value, revisions as strings. */
static int kv_parse(const json_t *j, struct etcd_kv *kv)
{
	const char *key = json_string_value(json_object_get(j, "key"));
	const char *val = json_string_value(json_object_get(j, "value"));
	size_t klen;

	memset(kv, 0, sizeof(*kv));
	if (!key || json_i64(j, "create_revision", &kv->create_revision) ||
	    json_i64(j, "mod_revision", &kv->mod_revision) ||
	    json_i64(j, "version", &kv->version) || json_i64(j, "lease", &kv->lease))
		return -1;
	kv->key = b64_decode_new(key, &klen);
	kv->value = b64_decode_new(val ? val : "", &kv->value_len);
	if (!kv->key || !kv->value || strlen(kv->key) != klen) {
		kv_free(kv);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- the handle */

static bool endpoint_ok(const char *u)
{
	return (strncmp(u, "http://", 7) == 0 && u[7]) || (strncmp(u, "https://", 8) == 0 && u[8]);
}

static char *strdup_opt(const char *s, bool *oom)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		*oom = true;
	return d;
}

struct etcd *etcd_open(const struct etcd_opts *opts, struct vr_err *err)
{
	struct etcd *e = NULL;
	char *list = NULL, *tok, *save = NULL;
	bool oom = false;

	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		fail(err, ETCD_EINTERNAL, "libcurl: %s", curl_easy_strerror(curl_init_rc));
		return NULL;
	}
	if (!opts->endpoints || !*opts->endpoints) {
		err_set(err, VR_ERR_INVALID, "etcd", "no etcd endpoint given");
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	list = strdup(opts->endpoints);
	if (!e || !list)
		goto oom;
	pthread_mutex_init(&e->mu, NULL);
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t n = strlen(tok);
		while (n > 0 && tok[n - 1] == '/')
			tok[--n] = '\0';
		if (!endpoint_ok(tok)) {
			err_set(err, VR_ERR_INVALID, "etcd",
			        "etcd endpoint '%s': not an http:// or https:// URL", tok);
			goto fail;
		}
		if (e->nep == ETCD_MAX_ENDPOINTS) {
			err_set(err, VR_ERR_TOO_LARGE, "etcd", "more than %d etcd endpoints",
			        ETCD_MAX_ENDPOINTS);
			goto fail;
		}
		e->ep[e->nep] = strdup(tok);
		if (!e->ep[e->nep++])
			goto oom;
	}
	if (e->nep == 0) {
		err_set(err, VR_ERR_INVALID, "etcd", "etcd endpoints '%s': none in the list",
		        opts->endpoints);
		goto fail;
	}
	e->ca_file = strdup_opt(opts->ca_file, &oom);
	e->cert_file = strdup_opt(opts->cert_file, &oom);
	e->key_file = strdup_opt(opts->key_file, &oom);
	e->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
	e->connect_timeout_ms =
	    opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
	if (e->connect_timeout_ms > e->timeout_ms)
		e->connect_timeout_ms = e->timeout_ms;
	e->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (oom || !e->headers)
		goto oom;
	free(list);
	return e;
oom:
	fail(err, ETCD_EINTERNAL, "out of memory");
fail:
	free(list);
	etcd_close(e);
	return NULL;
}

void etcd_close(struct etcd *e)
{
	size_t i;

	if (!e)
		return;
	for (i = 0; i < e->nidle; i++)
		curl_easy_cleanup(e->idle[i]);
	for (i = 0; i < e->nep; i++)
		free(e->ep[i]);
	free(e->ca_file);
	free(e->cert_file);
	free(e->key_file);
	curl_slist_free_all(e->headers);
	pthread_mutex_destroy(&e->mu);
	free(e);
}

const char *etcd_endpoint_get(struct etcd *e)
{
	size_t cur;

	pthread_mutex_lock(&e->mu);
	cur = e->cur;
	pthread_mutex_unlock(&e->mu);
	return e->ep[cur];
}

static size_t buf_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;
	void *p = b->p;
	int rc = vr_grow(&p, &b->cap, b->len + n + 1, 1, ETCD_MAX_RESPONSE);

	b->p = p;
	if (rc) {
		b->over = rc == -E2BIG;
		return 0;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

/* Options every handle of e has: timeouts, TLS files, JSON content type. */
static CURL *handle_new(struct etcd *e)
{
	CURL *c = curl_easy_init();

	if (!c)
		return NULL;
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	/* etcd offers h2 over TLS; one protocol for http:// and https:// alike. */
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, e->connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, e->headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, buf_write);
	if (e->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, e->ca_file);
	if (e->cert_file)
		curl_easy_setopt(c, CURLOPT_SSLCERT, e->cert_file);
	if (e->key_file)
		curl_easy_setopt(c, CURLOPT_SSLKEY, e->key_file);
	return c;
}

static CURL *handle_get(struct etcd *e)
{
	CURL *c = NULL;

	pthread_mutex_lock(&e->mu);
	if (e->nidle > 0)
		c = e->idle[--e->nidle];
	pthread_mutex_unlock(&e->mu);
	if (!c)
		c = handle_new(e); /* post() sets the timeout of each request */
	return c;
}

static void handle_put(struct etcd *e, CURL *c)
{
	pthread_mutex_lock(&e->mu);
	if (e->nidle < POOL_MAX) {
		e->idle[e->nidle++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&e->mu);
	curl_easy_cleanup(c);
}

/* How a request may be sent again after it failed on one endpoint. */
enum retry {
	RETRY_ANY,    /* on the next endpoint, whatever happened */
	RETRY_UNSENT, /* only when nothing was sent; after that: ETCD_EUNKNOWN */
};

/*
 * One POST of one endpoint: 0 with *http set, or the curl error (*sent: bytes left).
 * The time it may take grows with the body, TIMEOUT_PER_MIB a MiB over timeout_ms:
 * etcd answers a transaction of 100,000 objects (40 MB) only once raft has it.
 */
static CURLcode post(CURL *c, long timeout_ms, const char *ep, const char *path, const char *body,
                     struct buf *b, long *http, bool *sent)
{
	char url[1024];
	curl_off_t up = 0;
	long req = 0;
	CURLcode cc;

	snprintf(url, sizeof(url), "%s%s", ep, path);
	b->len = 0;
	b->over = false;
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
	                 timeout_ms + (long)(strlen(body) >> 20) * TIMEOUT_PER_MIB_MS);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &req);
	curl_easy_getinfo(c, CURLINFO_SIZE_UPLOAD_T, &up);
	*sent = req > 0 || up > 0;
	*http = 0;
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, http);
	return cc;
}

/*
 * POST body (stolen) to path on the endpoints, from the last one that answered (or on
 * only_ep alone), and parse the answer into *ans. Failover as retry allows; the
 * message of the last failure goes into *err.
 */
static int request(struct etcd *e, const char *only_ep, const char *path, json_t *body,
                   enum retry retry, json_t **ans, struct vr_err *err)
{
	char *text = json_dumps(body, JSON_COMPACT);
	struct buf b = {0};
	CURL *c = NULL;
	size_t start, i, n = only_ep ? 1 : e->nep;
	int rc = ETCD_EUNREACHABLE;
	char last[ERR_MSG_MAX] = "no endpoint tried";

	*ans = NULL;
	json_decref(body);
	c = text ? handle_get(e) : NULL;
	if (!c) {
		rc = fail(err, ETCD_EINTERNAL, "out of memory");
		goto out;
	}
	pthread_mutex_lock(&e->mu);
	start = e->cur;
	pthread_mutex_unlock(&e->mu);
	for (i = 0; i < n; i++) {
		size_t k = (start + i) % e->nep;
		const char *ep = only_ep ? only_ep : e->ep[k];
		json_t *j, *jerr;
		json_error_t jerror;
		int64_t code;
		long http;
		bool sent;
		CURLcode cc = post(c, e->timeout_ms, ep, path, text, &b, &http, &sent);

		if (cc != CURLE_OK) {
			if (b.over) {
				rc = fail(err, ETCD_EINTERNAL, "%s%s: answer larger than %u bytes",
				          ep, path, ETCD_MAX_RESPONSE);
				goto out;
			}
			snprintf(last, sizeof(last), "%s%s: %s", ep, path, curl_easy_strerror(cc));
			if (sent && retry == RETRY_UNSENT) {
				rc = fail(err, ETCD_EUNKNOWN, "%s (the request was sent)", last);
				goto out;
			}
			continue;
		}
		j = json_loadb(b.p ? b.p : "", b.len, 0, &jerror);
		if (http == 200 && json_is_object(j)) {
			if (!only_ep) {
				pthread_mutex_lock(&e->mu);
				e->cur = k;
				pthread_mutex_unlock(&e->mu);
			}
			*ans = j;
			rc = ETCD_OK;
			goto out;
		}
		jerr = json_object_get(j, "error");
		snprintf(last, sizeof(last), "%s%s: HTTP %ld: %.200s", ep, path, http,
		         json_is_string(jerr) ? json_string_value(jerr)
		         : b.p                ? b.p
		                              : "");
		if (json_i64(j, "code", &code))
			code = 0;
		json_decref(j);
		if (http == 200) {
			rc = fail(err, ETCD_EINTERNAL, "%s%s: an answer that is not a JSON object",
			          ep, path);
			goto out;
		}
		if (http >= 400 && http < 500) {
			/* etcd judged the request itself: another member would say the same. */
			if (code == GRPC_OUT_OF_RANGE && strstr(last, "compacted"))
				rc = fail(err, ETCD_ECOMPACTED, "%s", last);
			else if (code == GRPC_NOT_FOUND)
				rc = fail(err, ETCD_ENOTFOUND, "%s", last);
			else
				rc = fail(err, ETCD_EREJECTED, "%s", last);
			goto out;
		}
		/* 5xx: no leader, leader changed, a raft timeout: the member could not finish. */
		if (retry == RETRY_UNSENT) {
			rc = fail(err, ETCD_EUNKNOWN, "%s", last);
			goto out;
		}
	}
	rc = fail(err, ETCD_EUNREACHABLE, "%s", last);
out:
	if (c)
		handle_put(e, c);
	free(b.p);
	free(text);
	return rc;
}

/* ---------------------------------------------------------------- KV */

void etcd_kvs_free(struct etcd_kvs *kvs)
{
	size_t i;

	if (!kvs)
		return;
	for (i = 0; i < kvs->n; i++)
		kv_free(&kvs->kv[i]);
	free(kvs->kv);
	memset(kvs, 0, sizeof(*kvs));
}

/* The end of the range of keys starting with prefix (etcd's rule: the prefix with its
 * last byte below 0xff raised, what follows dropped; none: "\0", every key). */
static size_t prefix_end(const char *prefix, char *out)
{
	size_t n = strlen(prefix);

	memcpy(out, prefix, n);
	while (n > 0) {
		if ((unsigned char)out[n - 1] < 0xff) {
			out[n - 1]++;
			return n;
		}
		n--;
	}
	out[0] = '\0';
	return 1;
}

/* key (or, with prefix, key and its range's end) into obj. */
static int json_set_key(json_t *obj, const char *key, bool prefix)
{
	char end[ETCD_MAX_KEY];
	size_t n = strlen(key);

	if (n >= ETCD_MAX_KEY || json_set_b64(obj, "key", key, n))
		return -1;
	return prefix ? json_set_b64(obj, "range_end", end, prefix_end(key, end)) : 0;
}

int etcd_range(struct etcd *e, const struct etcd_range_req *req, struct etcd_kvs *out,
               struct vr_err *err)
{
	json_t *body = json_object(), *ans = NULL, *kvs;
	char key[ETCD_MAX_KEY + 1];
	size_t n = strlen(req->key), i;
	int rc;

	memset(out, 0, sizeof(*out));
	if (n >= ETCD_MAX_KEY) {
		json_decref(body);
		return fail(err, ETCD_EREJECTED, "key of %zu bytes: longer than %d", n,
		            ETCD_MAX_KEY);
	}
	memcpy(key, req->key, n);
	key[n] = '\0';
	if (!body || json_set_b64(body, "key", key, n + (req->after_key ? 1 : 0)) ||
	    json_set_i64(body, "revision", req->revision) ||
	    json_set_i64(body, "limit", req->limit)) {
		json_decref(body);
		return fail(err, ETCD_EINTERNAL, "out of memory");
	}
	if (req->prefix || req->range_end) {
		char end[ETCD_MAX_KEY];
		size_t en = req->prefix ? prefix_end(req->key, end) : strlen(req->range_end);
		if (en >= ETCD_MAX_KEY ||
		    json_set_b64(body, "range_end", req->prefix ? end : req->range_end, en)) {
			json_decref(body);
			return fail(err, ETCD_EREJECTED, "range_end longer than %d", ETCD_MAX_KEY);
		}
	}
	rc = request(e, NULL, "/v3/kv/range", body, RETRY_ANY, &ans, err);
	if (rc)
		return rc;
	kvs = json_object_get(ans, "kvs");
	out->revision = header_revision(ans);
	out->more = json_is_true(json_object_get(ans, "more"));
	if (kvs && !json_is_array(kvs))
		goto bad;
	out->kv = calloc(json_array_size(kvs) + 1, sizeof(*out->kv));
	if (!out->kv) {
		json_decref(ans);
		return fail(err, ETCD_EINTERNAL, "out of memory");
	}
	for (i = 0; i < json_array_size(kvs); i++, out->n++)
		if (kv_parse(json_array_get(kvs, i), &out->kv[i]))
			goto bad;
	json_decref(ans);
	return ETCD_OK;
bad:
	json_decref(ans);
	etcd_kvs_free(out);
	return fail(err, ETCD_EINTERNAL, "range: an answer not shaped as etcd's");
}

/* A put's JSON (PutRequest), also a txn's request_put. */
static json_t *put_json(const char *key, const char *value, size_t value_len, int64_t lease)
{
	json_t *o = json_object();

	if (!o || json_set_key(o, key, false) || json_set_b64(o, "value", value, value_len) ||
	    (lease && json_set_i64(o, "lease", lease))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *delete_json(const char *key, bool prefix)
{
	json_t *o = json_object();

	if (!o || json_set_key(o, key, prefix)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int etcd_put(struct etcd *e, const char *key, const char *value, size_t value_len, int64_t lease,
             int64_t *revision, struct vr_err *err)
{
	json_t *body = put_json(key, value, value_len, lease), *ans;
	int rc;

	if (!body)
		return fail(err, ETCD_EREJECTED, "put '%.100s': key too long or out of memory",
		            key);
	rc = request(e, NULL, "/v3/kv/put", body, RETRY_UNSENT, &ans, err);
	if (rc)
		return rc;
	if (revision)
		*revision = header_revision(ans);
	json_decref(ans);
	return ETCD_OK;
}

int etcd_delete(struct etcd *e, const char *key, bool prefix, int64_t *deleted, int64_t *revision,
                struct vr_err *err)
{
	json_t *body = delete_json(key, prefix), *ans;
	int64_t n;
	int rc;

	if (!body)
		return fail(err, ETCD_EREJECTED, "delete '%.100s': key too long or out of memory",
		            key);
	rc = request(e, NULL, "/v3/kv/deleterange", body, RETRY_UNSENT, &ans, err);
	if (rc)
		return rc;
	if (json_i64(ans, "deleted", &n))
		n = 0;
	if (deleted)
		*deleted = n;
	if (revision)
		*revision = header_revision(ans);
	json_decref(ans);
	return ETCD_OK;
}

static json_t *cmp_json(const struct etcd_cmp *c)
{
	bool mod = c->target == ETCD_CMP_MOD_REVISION;
	json_t *o = json_object();

	if (!o || json_set_key(o, c->key, false) ||
	    json_object_set_new(o, "target", json_string(mod ? "MOD" : "VERSION")) ||
	    json_object_set_new(o, "result", json_string("EQUAL")) ||
	    json_set_i64(o, mod ? "mod_revision" : "version", c->value)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *op_json(const struct etcd_op *op)
{
	json_t *o = json_object(), *r;
	bool put = op->type == ETCD_OP_PUT;

	r = put ? put_json(op->key, op->value, op->value_len, op->lease)
	        : delete_json(op->key, op->prefix);
	if (!o || !r || json_object_set_new(o, put ? "request_put" : "request_delete_range", r)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int etcd_txn(struct etcd *e, const struct etcd_cmp *cmps, size_t ncmp, const struct etcd_op *ops,
             size_t nops, bool *succeeded, int64_t *revision, struct vr_err *err)
{
	json_t *body = json_object(), *cmp = json_array(), *suc = json_array(), *ans;
	bool ok = body && cmp && suc && !json_object_set(body, "compare", cmp) &&
	          !json_object_set(body, "success", suc);
	size_t i;
	int rc;

	for (i = 0; ok && i < ncmp; i++)
		ok = !json_array_append_new(cmp, cmp_json(&cmps[i]));
	for (i = 0; ok && i < nops; i++)
		ok = !json_array_append_new(suc, op_json(&ops[i]));
	json_decref(cmp);
	json_decref(suc);
	if (!ok) {
		json_decref(body);
		return fail(err, ETCD_EREJECTED, "txn: a key too long, or out of memory");
	}
	rc = request(e, NULL, "/v3/kv/txn", body, RETRY_UNSENT, &ans, err);
	if (rc)
		return rc;
	*succeeded = json_is_true(json_object_get(ans, "succeeded"));
	if (revision)
		*revision = header_revision(ans);
	json_decref(ans);
	return ETCD_OK;
}

int etcd_compact(struct etcd *e, int64_t revision, struct vr_err *err)
{
	json_t *body = json_object(), *ans;
	int rc;

	if (!body || json_set_i64(body, "revision", revision)) {
		json_decref(body);
		return fail(err, ETCD_EINTERNAL, "out of memory");
	}
	rc = request(e, NULL, "/v3/kv/compaction", body, RETRY_UNSENT, &ans, err);
	json_decref(ans);
	return rc;
}

/* ---------------------------------------------------------------- leases, status */

/* A request whose body is {name: v}. */
static int request_i64(struct etcd *e, const char *path, const char *name, int64_t v, json_t **ans,
                       struct vr_err *err)
{
	json_t *body = json_object();

	if (!body || json_set_i64(body, name, v)) {
		json_decref(body);
		return fail(err, ETCD_EINTERNAL, "out of memory");
	}
	return request(e, NULL, path, body, RETRY_ANY, ans, err);
}

int etcd_lease_grant(struct etcd *e, int64_t ttl, int64_t *id, int64_t *ttl_out, struct vr_err *err)
{
	json_t *ans;
	int64_t got;
	int rc = request_i64(e, "/v3/lease/grant", "TTL", ttl, &ans, err);

	if (rc)
		return rc;
	if (json_i64(ans, "ID", id) || json_i64(ans, "TTL", &got) || *id == 0) {
		json_decref(ans);
		return fail(err, ETCD_EINTERNAL, "lease grant: no lease id in the answer");
	}
	if (ttl_out)
		*ttl_out = got;
	json_decref(ans);
	return ETCD_OK;
}

int etcd_lease_keepalive(struct etcd *e, int64_t id, int64_t *ttl_out, struct vr_err *err)
{
	json_t *ans;
	int64_t ttl;
	/* A stream of one request: one {"result": LeaseKeepAliveResponse}. */
	int rc = request_i64(e, "/v3/lease/keepalive", "ID", id, &ans, err);

	if (rc)
		return rc;
	if (json_object_get(ans, "error")) {
		char *s = json_dumps(json_object_get(ans, "error"), JSON_COMPACT);
		rc = fail(err, ETCD_EREJECTED, "lease keepalive %" PRId64 ": %.200s", id,
		          s ? s : "?");
		free(s);
	} else if (json_i64(json_object_get(ans, "result"), "TTL", &ttl)) {
		rc = fail(err, ETCD_EINTERNAL, "lease keepalive: no TTL in the answer");
	} else if (ttl <= 0) {
		rc = fail(err, ETCD_ENOTFOUND, "lease %" PRId64 ": expired or revoked", id);
	} else if (ttl_out) {
		*ttl_out = ttl;
	}
	json_decref(ans);
	return rc;
}

int etcd_lease_revoke(struct etcd *e, int64_t id, struct vr_err *err)
{
	json_t *ans;
	int rc = request_i64(e, "/v3/lease/revoke", "ID", id, &ans, err);

	json_decref(ans);
	return rc;
}

int etcd_status(struct etcd *e, const char *endpoint, struct etcd_status *out, struct vr_err *err)
{
	json_t *ans, *body = json_object();
	const char *v;
	uint64_t term;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!body)
		return fail(err, ETCD_EINTERNAL, "out of memory");
	rc = request(e, endpoint, "/v3/maintenance/status", body, RETRY_ANY, &ans, err);
	if (rc)
		return rc;
	if (json_u64(json_object_get(ans, "header"), "member_id", &out->member_id) ||
	    json_u64(ans, "leader", &out->leader) || json_u64(ans, "raftTerm", &term)) {
		json_decref(ans);
		return fail(err, ETCD_EINTERNAL, "status: an answer not shaped as etcd's");
	}
	out->raft_term = (int64_t)term;
	out->revision = header_revision(ans);
	v = json_string_value(json_object_get(ans, "version"));
	snprintf(out->version, sizeof(out->version), "%s", v ? v : "");
	json_decref(ans);
	return ETCD_OK;
}

/* ---------------------------------------------------------------- watch */

struct etcd_watch {
	struct etcd *e;
	char *prefix;
	etcd_watch_cb cb;
	void *arg;
	pthread_t thread;
	CURLM *multi;
	atomic_bool stop;
	int64_t next;   /* the next revision to deliver; 0: from the present */
	struct buf in;  /* the stream's bytes not yet parsed */
	bool compacted; /* the stream said so: the watch is over */
	int64_t compact_rev;
	bool created;          /* this connection's watch is set up */
	char why[ERR_MSG_MAX]; /* why this connection ended */
};

static void watch_report(struct etcd_watch *w, int rc, const struct etcd_event *ev, size_t n,
                         const char *msg)
{
	struct etcd_watch_update u = {.rc = rc,
	                              .events = ev,
	                              .n = n,
	                              .revision = w->next,
	                              .compact_revision = w->compact_rev,
	                              .msg = msg};

	w->cb(w->arg, &u);
}

/* The events of one message, those not delivered before, to the callback. */
static int watch_events(struct etcd_watch *w, const json_t *evs)
{
	size_t n = json_array_size(evs), i, k = 0;
	struct etcd_event *ev = calloc(n ? n : 1, sizeof(*ev));
	int rc = 0;

	if (!ev)
		return -1;
	for (i = 0; i < n; i++) {
		const json_t *j = json_array_get(evs, i);
		const char *type = json_string_value(json_object_get(j, "type"));
		if (kv_parse(json_object_get(j, "kv"), &ev[k].kv)) {
			rc = -1;
			break;
		}
		ev[k].type = type && strcmp(type, "DELETE") == 0 ? ETCD_EV_DELETE : ETCD_EV_PUT;
		if (ev[k].kv.mod_revision < w->next) { /* seen before a reconnect */
			kv_free(&ev[k].kv);
			continue;
		}
		k++;
	}
	if (rc == 0 && k > 0) {
		w->next = ev[k - 1].kv.mod_revision + 1;
		watch_report(w, ETCD_OK, ev, k, NULL);
	}
	for (i = 0; i < k; i++)
		kv_free(&ev[i].kv);
	free(ev);
	return rc;
}

/* One message of the stream; -1 ends this connection (w->why says why). */
static int watch_message(struct etcd_watch *w, const json_t *m)
{
	const json_t *res = json_object_get(m, "result"), *evs;
	int64_t compact;

	if (!json_is_object(res)) {
		char *s = json_dumps(m, JSON_COMPACT);
		snprintf(w->why, sizeof(w->why), "the stream said: %.300s", s ? s : "?");
		free(s);
		return -1;
	}
	if (json_i64(res, "compact_revision", &compact))
		compact = 0;
	if (compact > 0) {
		w->compacted = true;
		w->compact_rev = compact;
		snprintf(w->why, sizeof(w->why),
		         "revision %" PRId64 " is compacted (oldest kept: %" PRId64 ")", w->next,
		         compact);
		return -1;
	}
	if (json_is_true(json_object_get(res, "canceled"))) {
		const char *r = json_string_value(json_object_get(res, "cancel_reason"));
		snprintf(w->why, sizeof(w->why), "watch canceled: %s", r ? r : "no reason given");
		return -1;
	}
	if (json_is_true(json_object_get(res, "created"))) {
		w->created = true;
		if (w->next == 0) /* from now on: after the revision the watch was made at */
			w->next = header_revision(res) + 1;
		watch_report(w, ETCD_OK, NULL, 0, NULL);
	}
	evs = json_object_get(res, "events");
	if (json_array_size(evs) > 0 && watch_events(w, evs)) {
		snprintf(w->why, sizeof(w->why), "an event not shaped as etcd's");
		return -1;
	}
	return 0;
}

/* The stream's bytes: every complete line is one message. */
static size_t watch_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct etcd_watch *w = arg;
	size_t n = size * nmemb, used = 0;
	char *nl;

	if (buf_write(data, size, nmemb, &w->in) != n) {
		snprintf(w->why, sizeof(w->why), "a message larger than %u bytes",
		         ETCD_MAX_RESPONSE);
		return 0;
	}
	while ((nl = memchr(w->in.p + used, '\n', w->in.len - used))) {
		size_t len = (size_t)(nl - (w->in.p + used));
		json_error_t jerr;
		json_t *m = len ? json_loadb(w->in.p + used, len, 0, &jerr) : NULL;
		int rc = 0;
		if (len && !m) {
			snprintf(w->why, sizeof(w->why), "not JSON: %s", jerr.text);
			rc = -1;
		} else if (m) {
			rc = watch_message(w, m);
		}
		json_decref(m);
		used += len + 1;
		if (rc)
			return 0;
	}
	memmove(w->in.p, w->in.p + used, w->in.len - used);
	w->in.len -= used;
	return n;
}

/* A dead peer shows within KEEPIDLE + KEEPINTVL * KEEPCNT seconds (a stream is mostly
 * silent: nothing else would notice). */
static int watch_sockopt(void *arg, curl_socket_t fd, curlsocktype purpose)
{
	int cnt = WATCH_KEEPCNT;
	unsigned int user_timeout = (WATCH_KEEPIDLE + WATCH_KEEPINTVL * WATCH_KEEPCNT) * 1000;

	if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) ||
	    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout)))
		log_warn("etcd watch: TCP keepalive options");
	return CURL_SOCKOPT_OK;
}

/* One connection of the watch on endpoint ep, until it ends or the watch is stopped. */
static void watch_connect(struct etcd_watch *w, CURL *c, const char *ep)
{
	char url[1024];
	char *text = NULL;
	json_t *body = json_object(), *create = json_object();
	int running = 1;
	CURLMsg *msg;
	int left;

	w->created = false;
	w->in.len = 0;
	snprintf(url, sizeof(url), "%s/v3/watch", ep);
	if (!body || !create || json_set_key(create, w->prefix, true) ||
	    (w->next && json_set_i64(create, "start_revision", w->next)) ||
	    json_object_set(body, "create_request", create) ||
	    !(text = json_dumps(body, JSON_COMPACT))) {
		snprintf(w->why, sizeof(w->why), "out of memory");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
	curl_multi_add_handle(w->multi, c);
	snprintf(w->why, sizeof(w->why), "%s: the stream ended", url);
	while (running && !atomic_load(&w->stop)) {
		if (curl_multi_perform(w->multi, &running) != CURLM_OK)
			break;
		if (running)
			curl_multi_poll(w->multi, NULL, 0, 1000, NULL);
	}
	while ((msg = curl_multi_info_read(w->multi, &left)))
		if (msg->msg == CURLMSG_DONE && msg->data.result != CURLE_OK &&
		    msg->data.result != CURLE_WRITE_ERROR)
			snprintf(w->why, sizeof(w->why), "%s: %s", url,
			         curl_easy_strerror(msg->data.result));
	if (!w->created && w->in.len > 0) /* an error answer, not a stream: say what it was */
		snprintf(w->why, sizeof(w->why), "%s: %.300s", url, w->in.p);
	curl_multi_remove_handle(w->multi, c);
out:
	json_decref(create);
	json_decref(body);
	free(text);
}

static void *watch_main(void *arg)
{
	struct etcd_watch *w = arg;
	struct etcd *e = w->e;
	CURL *c = handle_new(e);
	long backoff = WATCH_BACKOFF_MIN_MS;
	size_t k;

	pthread_mutex_lock(&e->mu);
	k = e->cur;
	pthread_mutex_unlock(&e->mu);
	if (!c) {
		watch_report(w, ETCD_EUNREACHABLE, NULL, 0, "out of memory");
		return NULL;
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, watch_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, (long)WATCH_KEEPIDLE);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, (long)WATCH_KEEPINTVL);
	curl_easy_setopt(c, CURLOPT_SOCKOPTFUNCTION, watch_sockopt);
	while (!atomic_load(&w->stop)) {
		watch_connect(w, c, e->ep[k]);
		if (atomic_load(&w->stop))
			break;
		if (w->compacted) {
			watch_report(w, ETCD_ECOMPACTED, NULL, 0, w->why);
			break;
		}
		watch_report(w, ETCD_EUNREACHABLE, NULL, 0, w->why);
		if (w->created)
			backoff = WATCH_BACKOFF_MIN_MS;
		k = (k + 1) % e->nep;
		/* A pause that etcd_watch_stop cuts short (curl_multi_wakeup). */
		curl_multi_poll(w->multi, NULL, 0, (int)backoff, NULL);
		backoff = backoff * 2 > WATCH_BACKOFF_MAX_MS ? WATCH_BACKOFF_MAX_MS : backoff * 2;
	}
	curl_easy_cleanup(c);
	return NULL;
}

struct etcd_watch *etcd_watch_start(struct etcd *e, const char *prefix, int64_t from,
                                    etcd_watch_cb cb, void *arg, struct vr_err *err)
{
	struct etcd_watch *w = calloc(1, sizeof(*w));
	int rc;

	if (strlen(prefix) >= ETCD_MAX_KEY) {
		free(w);
		fail(err, ETCD_EREJECTED, "watch prefix longer than %d", ETCD_MAX_KEY);
		return NULL;
	}
	if (!w || !(w->prefix = strdup(prefix)) || !(w->multi = curl_multi_init()))
		goto oom;
	w->e = e;
	w->cb = cb;
	w->arg = arg;
	w->next = from > 0 ? from : 0;
	atomic_init(&w->stop, false);
	rc = pthread_create(&w->thread, NULL, watch_main, w);
	if (rc) {
		fail(err, ETCD_EINTERNAL, "watch thread: %s", strerror(rc));
		goto out;
	}
	return w;
oom:
	fail(err, ETCD_EINTERNAL, "out of memory");
out:
	if (w) {
		if (w->multi)
			curl_multi_cleanup(w->multi);
		free(w->prefix);
		free(w);
	}
	return NULL;
}

void etcd_watch_stop(struct etcd_watch *w)
{
	if (!w)
		return;
	atomic_store(&w->stop, true);
	curl_multi_wakeup(w->multi);
	pthread_join(w->thread, NULL);
	curl_multi_cleanup(w->multi);
	free(w->in.p);
	free(w->prefix);
	free(w);
}
