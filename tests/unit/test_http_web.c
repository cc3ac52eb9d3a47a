/*
 * The web UI's files (GET /, /ui/{file}) with their security headers and ETags,
 * and conditional GETs: /v1/status, collections and single objects answer
 * If-None-Match with 304 while what they show is unchanged, and with the new
 * state (and a new ETag) once it changed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etag.h"
#include "http_client.h"

/* The value of header name in r (case as the server writes it), or "" when absent. */
static const char *header(const struct reply *r, const char *name, char *out, size_t len)
{
	char key[64];
	const char *p;

	snprintf(key, sizeof(key), "\r\n%s: ", name);
	p = strstr(r->headers, key);
	out[0] = '\0';
	if (p)
		snprintf(out, len, "%.*s", (int)strcspn(p + strlen(key), "\r\n"), p + strlen(key));
	return out;
}

/* GET path (with the token) and If-None-Match: inm (NULL: none). */
static void get_inm(struct fixture *f, const char *path, const char *inm, struct reply *r)
{
	char extra[256] = "";

	if (inm)
		snprintf(extra, sizeof(extra), "If-None-Match: %s\r\n", inm);
	request(f, "GET", path, "Bearer " TOKEN, NULL, NULL, 0, extra, r);
}

static void test_static_files(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	char v[512], etag[128], extra[256];

	/* No token needed: the page itself asks for one. */
	request(f, "GET", "/", NULL, NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(header(&r, "Content-Type", v, sizeof(v)), "text/html; charset=utf-8");
	assert_non_null(strstr(r.body, "<script type=\"module\" src=\"/ui/app.js\">"));
	header(&r, "Content-Security-Policy", v, sizeof(v));
	assert_non_null(strstr(v, "default-src 'none'"));
	assert_non_null(strstr(v, "script-src 'self'"));
	assert_non_null(strstr(v, "frame-ancestors 'none'"));
	assert_null(strstr(v, "unsafe-inline"));
	assert_string_equal(header(&r, "X-Content-Type-Options", v, sizeof(v)), "nosniff");
	assert_string_equal(header(&r, "Referrer-Policy", v, sizeof(v)), "no-referrer");
	header(&r, "ETag", etag, sizeof(etag));
	assert_true(strlen(etag) == 18 && etag[0] == '"' && etag[17] == '"');
	reply_free(&r);

	/* Revalidation: the same file is a 304 without a body, its ETag repeated. */
	snprintf(extra, sizeof(extra), "If-None-Match: %s\r\n", etag);
	request(f, "GET", "/", NULL, NULL, NULL, 0, extra, &r);
	assert_int_equal(r.status, 304);
	assert_string_equal(r.body, "");
	assert_string_equal(header(&r, "ETag", v, sizeof(v)), etag);
	reply_free(&r);
	request(f, "GET", "/", NULL, NULL, NULL, 0, "If-None-Match: \"0000000000000000\"\r\n", &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);

	request(f, "GET", "/ui/app.js", NULL, NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(header(&r, "Content-Type", v, sizeof(v)),
	                    "text/javascript; charset=utf-8");
	assert_string_equal(header(&r, "X-Content-Type-Options", v, sizeof(v)), "nosniff");
	/* A different file, a different ETag. */
	assert_string_not_equal(header(&r, "ETag", v, sizeof(v)), etag);
	reply_free(&r);
	request(f, "GET", "/ui/style.css", NULL, NULL, NULL, 0, NULL, &r);
	assert_string_equal(header(&r, "Content-Type", v, sizeof(v)), "text/css; charset=utf-8");
	reply_free(&r);
	request(f, "GET", "/ui/icon.svg", NULL, NULL, NULL, 0, NULL, &r);
	assert_string_equal(header(&r, "Content-Type", v, sizeof(v)), "image/svg+xml");
	reply_free(&r);
	request(f, "GET", "/openapi.yaml", NULL, NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(header(&r, "Content-Type", v, sizeof(v)), "application/yaml");
	reply_free(&r);

	request(f, "GET", "/ui/nothing.js", NULL, NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 404);
	assert_non_null(strstr(r.headers, "application/problem+json"));
	reply_free(&r);
	request(f, "GET", "/ui/../token", NULL, NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 404);
	reply_free(&r);
	request(f, "POST", "/", NULL, NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 405);
	assert_string_equal(header(&r, "Allow", v, sizeof(v)),
	                    "GET, HEAD"); /* HEAD works wherever GET does */
	reply_free(&r);
}

static void test_status_304(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	char etag[128], v[256], list[512];

	get_inm(f, "/v1/status", NULL, &r);
	assert_int_equal(r.status, 200);
	header(&r, "ETag", etag, sizeof(etag));
	assert_true(etag[0] == '"');
	reply_free(&r);

	get_inm(f, "/v1/status", etag, &r);
	assert_int_equal(r.status, 304);
	assert_string_equal(r.body, "");
	assert_string_equal(header(&r, "ETag", v, sizeof(v)), etag);
	reply_free(&r);
	/* Weak comparison, lists and "*" (RFC 9110 13.1.2). */
	snprintf(list, sizeof(list), "\"x\", W/%s", etag);
	get_inm(f, "/v1/status", list, &r);
	assert_int_equal(r.status, 304);
	reply_free(&r);
	get_inm(f, "/v1/status", "*", &r);
	assert_int_equal(r.status, 304);
	reply_free(&r);
	/* The token is still checked first. */
	request(f, "GET", "/v1/status", NULL, NULL, NULL, 0, "If-None-Match: *\r\n", &r);
	assert_int_equal(r.status, 401);
	reply_free(&r);

	/* A write changes what status shows: a full answer with another ETag. */
	free(post_id(f, "/v1/route-tables", "{\"name\":\"t304\"}", 201));
	get_inm(f, "/v1/status", etag, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(r.json);
	assert_string_not_equal(header(&r, "ETag", v, sizeof(v)), etag);
	reply_free(&r);
}

static void test_collection_304(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	char etag[128], filtered[128], v[128];
	char *id;

	get_inm(f, "/v1/routes", NULL, &r);
	assert_int_equal(r.status, 200);
	header(&r, "ETag", etag, sizeof(etag));
	reply_free(&r);
	get_inm(f, "/v1/routes", etag, &r);
	assert_int_equal(r.status, 304);
	reply_free(&r);

	id =
	    post_id(f, "/v1/routes", "{\"destination\":\"10.7.0.0/16\",\"via\":\"10.0.0.1\"}", 201);
	get_inm(f, "/v1/routes", etag, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
	assert_string_not_equal(header(&r, "ETag", v, sizeof(v)), etag);
	/* The tag is the hash of exactly the bytes sent (its trailing newline aside). */
	{
		char h[ETAG_HASH_LEN + 1], want[ETAG_HASH_LEN + 3];
		size_t len = strlen(r.body);

		assert_true(len > 1 && r.body[len - 1] == '\n');
		etag_hash(r.body, len - 1, h);
		snprintf(want, sizeof(want), "\"%s\"", h);
		assert_string_equal(v, want);
	}
	reply_free(&r);

	/* The ETag follows what the answer shows: another filter, another page. */
	get_inm(f, "/v1/routes?route_table_id=rtb-none", NULL, &r);
	header(&r, "ETag", filtered, sizeof(filtered));
	reply_free(&r);
	assert_string_not_equal(filtered, v);
	get_inm(f, "/v1/routes?route_table_id=rtb-none", filtered, &r);
	assert_int_equal(r.status, 304);
	reply_free(&r);
	free(id);
}

static void test_object_304_and_if_match(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	char path[128], etag[128], v[128], hdr[256];
	long long rev;
	char *id;

	id =
	    post_id(f, "/v1/routes", "{\"destination\":\"10.8.0.0/16\",\"via\":\"10.0.0.1\"}", 201);
	snprintf(path, sizeof(path), "/v1/routes/%s", id);
	get_inm(f, path, NULL, &r);
	assert_int_equal(r.status, 200);
	header(&r, "ETag", etag, sizeof(etag));
	/* "<revision>-<hash of the object as shown>" */
	assert_int_equal(sscanf(etag, "\"%lld-%64[0-9a-f]\"", &rev, v), 2);
	assert_true(rev > 0);
	assert_int_equal(strlen(v), ETAG_HASH_LEN);
	reply_free(&r);
	get_inm(f, path, etag, &r);
	assert_int_equal(r.status, 304);
	reply_free(&r);

	/* The ETag works in If-Match as it is, and so does its revision alone. */
	snprintf(hdr, sizeof(hdr), "If-Match: %s\r\n", etag);
	request(f, "PUT", path, "Bearer " TOKEN, "application/json",
	        "{\"destination\":\"10.8.0.0/16\",\"via\":\"10.0.0.2\"}",
	        strlen("{\"destination\":\"10.8.0.0/16\",\"via\":\"10.0.0.2\"}"), hdr, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	/* Now the old tag is stale: a full answer to If-None-Match, a 412 to If-Match. */
	get_inm(f, path, etag, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "via", NULL), "10.0.0.2");
	header(&r, "ETag", v, sizeof(v));
	assert_string_not_equal(v, etag);
	reply_free(&r);
	request(f, "DELETE", path, "Bearer " TOKEN, NULL, NULL, 0, hdr, &r);
	assert_int_equal(r.status, 412);
	reply_free(&r);
	assert_int_equal(sscanf(v, "\"%lld-", &rev), 1);
	snprintf(hdr, sizeof(hdr), "If-Match: \"%lld\"\r\n", rev);
	request(f, "DELETE", path, "Bearer " TOKEN, NULL, NULL, 0, hdr, &r);
	assert_int_equal(r.status, 204);
	reply_free(&r);
	/* A tag whose hash part is not hex can never match. */
	request(f, "PUT", "/v1/settings", "Bearer " TOKEN, "application/json",
	        "{\"forwarding\":{\"ipv4\":false,\"ipv6\":false}}",
	        strlen("{\"forwarding\":{\"ipv4\":false,\"ipv6\":false}}"),
	        "If-Match: \"1-zz\"\r\n", &r);
	assert_int_equal(r.status, 412);
	reply_free(&r);
	free(id);
}

static void test_etag_none_match(void **state)
{
	char h[ETAG_HASH_LEN + 1];

	assert_true(etag_none_match("\"a\"", "\"a\""));
	assert_true(etag_none_match("W/\"a\"", "\"a\""));
	assert_true(etag_none_match("\"b\" ,  \"a\"", "\"a\""));
	assert_true(etag_none_match("*", "\"a\""));
	assert_false(etag_none_match("\"ab\"", "\"a\""));
	assert_false(etag_none_match("\"a", "\"a\""));
	assert_false(etag_none_match("a", "\"a\""));
	assert_false(etag_none_match(NULL, "\"a\""));
	assert_false(etag_none_match("\"a\"", ""));
	etag_hash("", 0, h);
	assert_string_equal(h, "cbf29ce484222325"); /* FNV-1a 64 offset basis */
	etag_hash("a", 1, h);
	assert_string_equal(h, "af63dc4c8601ec8c");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, http_fixture_setup, http_fixture_teardown)
	    T(test_static_files),
	    T(test_status_304),
	    T(test_collection_304),
	    T(test_object_304_and_if_match),
	    cmocka_unit_test(test_etag_none_match),
#undef T
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
