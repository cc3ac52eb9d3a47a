/*
 * The HTTP layer and the route handlers through an in-process server on
 * loopback, with a real store in a temp file and no kernel (no reconciler:
 * objects stay "pending"). Each case checks status, headers and body.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>

#include "app.h"
#include "http.h"
#include "http_client.h"
#include "store.h"

static size_t count_routes(struct fixture *f)
{
	struct reply r;
	size_t n;

	call(f, "GET", "/v1/routes?limit=1000", NULL, &r);
	assert_int_equal(r.status, 200);
	n = json_array_size(json_object_get(r.json, "items"));
	reply_free(&r);
	return n;
}

static void test_healthz_no_auth(void **state)
{
	struct reply r;

	request(*state, "GET", "/healthz", NULL, NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "status", NULL), "ok");
	reply_free(&r);
}

static void test_auth(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	request(f, "GET", "/v1/routes", NULL, NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 401);
	assert_non_null(strstr(r.headers, "WWW-Authenticate: Bearer"));
	assert_non_null(strstr(r.headers, "application/problem+json"));
	reply_free(&r);
	request(f, "GET", "/v1/routes", "Bearer wrong", NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 401);
	reply_free(&r);
	/* A prefix of the token is not the token. */
	request(f, "GET", "/v1/routes", "Bearer 0123456789abcdef", NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 401);
	reply_free(&r);
	request(f, "GET", "/v1/routes", "Bearer " TOKEN "0", NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 401);
	reply_free(&r);
	/* Unknown paths under /v1 also need the token first. */
	request(f, "GET", "/v1/nothing", NULL, NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 401);
	reply_free(&r);
}

static void test_404_405(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	call(f, "GET", "/v1/nothing", NULL, &r);
	assert_int_equal(r.status, 404);
	reply_free(&r);
	call(f, "PATCH", "/v1/routes", NULL, &r);
	assert_int_equal(r.status, 405);
	assert_non_null(strstr(r.headers, "Allow: "));
	reply_free(&r);
	call(f, "GET", "/v1/routes/rt-0000", NULL, &r);
	assert_int_equal(r.status, 404);
	reply_free(&r);
}

static void test_body_checks(void **state)
{
	struct fixture *f = *state;
	const char *ok = "{\"destination\":\"10.1.0.0/16\",\"via\":\"10.0.0.1\"}";
	struct reply r;
	char *big;

	request(f, "POST", "/v1/routes", "Bearer " TOKEN, "text/plain", ok, strlen(ok), NULL, &r);
	assert_int_equal(r.status, 415);
	reply_free(&r);
	request(f, "POST", "/v1/routes", "Bearer " TOKEN, "application/x-www-form-urlencoded", ok,
	        strlen(ok), NULL, &r);
	assert_int_equal(r.status, 415);
	reply_free(&r);
	call(f, "POST", "/v1/routes", "{\"destination\":", &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(jstr(r.json, "detail", NULL), "malformed JSON"));
	reply_free(&r);
	call(f, "POST", "/v1/routes", "[1,2]", &r);
	assert_int_equal(r.status, 400);
	reply_free(&r);
	call(f, "POST", "/v1/routes",
	     "{\"destination\":\"10.1.0.0/16\",\"via\":\"10.0.0.1\",\"colour\":1}", &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(err_field(&r), "colour");
	reply_free(&r);
	/* Duplicate keys are ambiguous: refuse them. */
	call(f, "POST", "/v1/routes",
	     "{\"destination\":\"10.1.0.0/16\",\"destination\":\"10.2.0.0/16\"}", &r);
	assert_int_equal(r.status, 400);
	reply_free(&r);
	big = malloc(2 * 1024 * 1024);
	memset(big, ' ', 2 * 1024 * 1024);
	big[0] = '{';
	big[2 * 1024 * 1024 - 1] = '}';
	request(f, "POST", "/v1/routes", "Bearer " TOKEN, "application/json", big, 2 * 1024 * 1024,
	        NULL, &r);
	assert_int_equal(r.status, 413);
	reply_free(&r);
	free(big);
	assert_int_equal(count_routes(f), 0);
}

struct bad_case {
	const char *body;
	int status;
	const char *field;
};

static void test_route_validation(void **state)
{
	struct fixture *f = *state;
	static const struct bad_case cases[] = {
	    {"{\"destination\":\"192.168.100.1/24\",\"via\":\"192.168.150.3\"}", 422,
	     "destination"},
	    {"{\"destination\":\"192.168.100.0/33\",\"via\":\"192.168.150.3\"}", 422,
	     "destination"},
	    {"{\"destination\":\"banana\",\"via\":\"192.168.150.3\"}", 422, "destination"},
	    {"{\"via\":\"192.168.150.3\"}", 422, "destination"},
	    {"{\"destination\":\"2001:db8::/64\",\"via\":\"192.168.150.3\"}", 422, "via"},
	    {"{\"destination\":\"192.168.100.0/24\",\"via\":\"192.168.150\"}", 422, "via"},
	    {"{\"destination\":\"192.168.100.0/24\"}", 422, "via"},
	    {"{\"destination\":\"192.168.100.0/24\",\"type\":\"anycast\",\"via\":\"1.1.1.1\"}", 422,
	     "type"},
	    {"{\"destination\":\"192.168.100.0/24\",\"type\":\"blackhole\",\"via\":\"1.1.1.1\"}",
	     422, "via"},
	    {"{\"destination\":\"192.168.100.0/24\",\"via\":\"1.1.1.1\",\"metric\":-1}", 422,
	     "metric"},
	    {"{\"destination\":\"192.168.100.0/24\",\"via\":\"1.1.1.1\",\"metric\":\"5\"}", 422,
	     "metric"},
	    {"{\"destination\":\"192.168.100.0/"
	     "24\",\"via\":\"1.1.1.1\",\"route_table_id\":\"rtb-dead\"}",
	     422, "route_table_id"},
	    {"{\"destination\":\"192.168.100.0/24\",\"via\":\"1.1.1.1\",\"id\":\"route-1\"}", 422,
	     "id"},
	    {"{\"destination\":\"192.168.100.0/24\",\"dev\":\"this-name-is-too-long\"}", 422,
	     "dev"},
	    {"{\"destination\":7,\"via\":\"1.1.1.1\"}", 422, "destination"},
	};
	struct reply r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		call(f, "POST", "/v1/routes", cases[i].body, &r);
		if (r.status != cases[i].status || !err_field(&r) ||
		    strcmp(err_field(&r), cases[i].field))
			fail_msg("%s -> %d %s, want %d field %s", cases[i].body, r.status, r.body,
			         cases[i].status, cases[i].field);
		assert_non_null(strstr(r.headers, "application/problem+json"));
		assert_non_null(jstr(r.json, "detail", NULL));
		reply_free(&r);
	}
	assert_int_equal(count_routes(f), 0);
}

static void test_route_lifecycle(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	char path[128], etag[64], hdr[128];
	const char *loc;
	char *id;

	call(f, "POST", "/v1/routes",
	     "{\"destination\":\"default\",\"via\":\"192.168.150.3\",\"description\":\"up\"}", &r);
	assert_int_equal(r.status, 201);
	loc = strstr(r.headers, "Location: /v1/routes/rt-");
	assert_non_null(loc);
	id = strdup(jstr(r.json, "id", NULL));
	/* Writable fields echo as written; defaults filled; status is extra. */
	assert_string_equal(jstr(r.json, "destination", NULL), "default");
	assert_string_equal(jstr(r.json, "route_table_id", NULL), "rtb-main");
	assert_string_equal(jstr(r.json, "type", NULL), "unicast");
	assert_int_equal(json_integer_value(json_object_get(r.json, "metric")), 0);
	assert_string_equal(jstr(r.json, "status", "state"), "pending");
	assert_null(json_object_get(r.json, "dev"));
	assert_non_null(jstr(r.json, "created_at", NULL));
	reply_free(&r);

	/* The same destination written another way is the same route. */
	call(f, "POST", "/v1/routes", "{\"destination\":\"0.0.0.0/0\",\"via\":\"192.168.150.4\"}",
	     &r);
	assert_int_equal(r.status, 409);
	reply_free(&r);

	snprintf(path, sizeof(path), "/v1/routes/%s", id);
	call(f, "GET", path, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(sscanf(strstr(r.headers, "ETag: "), "ETag: %63s", etag) == 1);
	/* A GET's output can be sent back as is: it changes nothing, not even the ETag. */
	expect_put_unchanged(f, path, &r);
	reply_free(&r);
	/* A PUT that changes something makes a new ETag: the old one no longer matches. */
	call(f, "PUT", path,
	     "{\"destination\":\"default\",\"via\":\"192.168.150.3\",\"description\":\"moved\"}",
	     &r);
	assert_int_equal(r.status, 200);
	assert_null(strstr(r.headers, etag));
	reply_free(&r);
	snprintf(hdr, sizeof(hdr), "If-Match: %s\r\n", etag);
	request(f, "PUT", path, "Bearer " TOKEN, "application/json",
	        "{\"destination\":\"default\",\"via\":\"192.168.150.9\"}",
	        strlen("{\"destination\":\"default\",\"via\":\"192.168.150.9\"}"), hdr, &r);
	assert_int_equal(r.status, 412);
	reply_free(&r);
	request(f, "DELETE", path, "Bearer " TOKEN, NULL, NULL, 0, hdr, &r);
	assert_int_equal(r.status, 412);
	reply_free(&r);

	call(f, "PUT", path, "{\"destination\":\"default\",\"via\":\"192.168.150.9\",\"metric\":7}",
	     &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "via", NULL), "192.168.150.9");
	assert_int_equal(json_integer_value(json_object_get(r.json, "metric")), 7);
	/* Fields not sent on PUT go back to their defaults: PUT replaces. */
	assert_string_equal(jstr(r.json, "description", NULL), "");
	reply_free(&r);

	call(f, "PUT", path, "{\"id\":\"rt-1\",\"destination\":\"default\",\"via\":\"1.1.1.1\"}",
	     &r);
	assert_int_equal(r.status, 422);
	assert_string_equal(err_field(&r), "id");
	reply_free(&r);

	call(f, "DELETE", path, NULL, &r);
	assert_int_equal(r.status, 204);
	reply_free(&r);
	call(f, "DELETE", path, NULL, &r);
	assert_int_equal(r.status, 404);
	reply_free(&r);
	free(id);
}

static void test_client_id_idempotent(void **state)
{
	struct fixture *f = *state;
	const char *body = "{\"id\":\"rt-00aa\",\"destination\":\"10.9.0.0/16\",\"dev\":\"eth0\"}";
	struct reply r;

	call(f, "POST", "/v1/routes", body, &r);
	assert_int_equal(r.status, 201);
	assert_string_equal(jstr(r.json, "id", NULL), "rt-00aa");
	reply_free(&r);
	call(f, "POST", "/v1/routes", body, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "id", NULL), "rt-00aa");
	reply_free(&r);
	call(f, "POST", "/v1/routes",
	     "{\"id\":\"rt-00aa\",\"destination\":\"10.9.0.0/16\",\"dev\":\"eth1\"}", &r);
	assert_int_equal(r.status, 409);
	assert_string_equal(err_field(&r), "id");
	reply_free(&r);
	assert_int_equal(count_routes(f), 1);
}

static void test_tables_and_lists(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	char path[256], next[64] = "";
	size_t seen = 0;

	call(f, "DELETE", "/v1/route-tables/rtb-main", NULL, &r);
	assert_int_equal(r.status, 409);
	reply_free(&r);
	call(f, "POST", "/v1/route-tables", "{\"name\":\"blue\"}", &r);
	assert_int_equal(r.status, 201);
	assert_true(json_integer_value(json_object_get(r.json, "table")) >= 10000);
	assert_true(json_integer_value(json_object_get(r.json, "table")) <= 19999);
	snprintf(
	    path, sizeof(path),
	    "{\"destination\":\"10.5.0.0/16\",\"type\":\"blackhole\",\"route_table_id\":\"%s\"}",
	    jstr(r.json, "id", NULL));
	reply_free(&r);
	call(f, "POST", "/v1/routes", path, &r);
	assert_int_equal(r.status, 201);
	snprintf(path, sizeof(path), "/v1/route-tables/%s", jstr(r.json, "route_table_id", NULL));
	reply_free(&r);
	call(f, "DELETE", path, NULL, &r);
	assert_int_equal(r.status, 409);
	reply_free(&r);
	call(f, "POST", "/v1/route-tables", "{\"name\":\"blue\"}", &r);
	assert_int_equal(r.status, 409);
	reply_free(&r);
	call(f, "POST", "/v1/route-tables", "{\"name\":\"local\",\"table\":255}", &r);
	assert_int_equal(r.status, 422);
	assert_string_equal(err_field(&r), "table");
	reply_free(&r);

	for (int i = 0; i < 5; i++) {
		char b[128];

		snprintf(b, sizeof(b), "{\"destination\":\"10.%d.0.0/16\",\"via\":\"10.0.0.1\"}",
		         100 + i);
		call(f, "POST", "/v1/routes", b, &r);
		assert_int_equal(r.status, 201);
		reply_free(&r);
	}
	/* Walk the list two at a time with the cursor. */
	for (int guard = 0; guard < 10; guard++) {
		snprintf(path, sizeof(path), "/v1/routes?limit=2%s%s", next[0] ? "&after=" : "",
		         next);
		call(f, "GET", path, NULL, &r);
		assert_int_equal(r.status, 200);
		seen += json_array_size(json_object_get(r.json, "items"));
		if (json_is_null(json_object_get(r.json, "next"))) {
			reply_free(&r);
			break;
		}
		snprintf(next, sizeof(next), "%s", jstr(r.json, "next", NULL));
		reply_free(&r);
	}
	assert_int_equal(seen, 6);
	call(f, "GET", "/v1/routes?limit=0", NULL, &r);
	assert_int_equal(r.status, 422);
	assert_string_equal(err_field(&r), "limit");
	reply_free(&r);
	call(f, "GET", "/v1/routes?limit=1001", NULL, &r);
	assert_int_equal(r.status, 422);
	reply_free(&r);
	call(f, "GET", "/v1/routes?colour=red", NULL, &r);
	assert_int_equal(r.status, 400);
	reply_free(&r);
	call(f, "GET", "/v1/routes?route_table_id=rtb-main", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "items")), 5);
	reply_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, http_fixture_setup, http_fixture_teardown)
	    T(test_healthz_no_auth),
	    T(test_auth),
	    T(test_404_405),
	    T(test_body_checks),
	    T(test_route_validation),
	    T(test_route_lifecycle),
	    T(test_client_id_idempotent),
	    T(test_tables_and_lists),
#undef T
	};

	/* The server may close a connection before a big body is written (413). */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
