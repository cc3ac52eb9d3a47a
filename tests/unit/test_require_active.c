/*
 * ?require_active=true on writes, through the in-process server with no
 * kernel (nothing can become active there, so every such write is refused
 * with 503 and undone), and the store's undo itself: the object comes back
 * with its own ETag and updated_at, and a later write is never undone.
 * The refusal with the kernel's reason (422) is tested against a real kernel
 * in tests/e2e/test_require_active.sh.
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

#include "app.h"
#include "http.h"
#include "http_client.h"
#include "store.h"

#define ROUTE "{\"id\":\"rt-0a\",\"destination\":\"10.9.0.0/16\",\"dev\":\"eth0\"}"

/* The ETag header of a reply ("" when none), into buf (64 bytes). */
static void etag_of(const struct reply *r, char *buf)
{
	const char *h = strstr(r->headers, "\r\nETag: ");

	buf[0] = '\0';
	if (h)
		sscanf(h + 8, "%63[^\r]", buf);
}

/* GET path: its body's updated_at and its ETag, both copied out. */
static void stamps(struct fixture *f, const char *path, char *updated, char *etag)
{
	struct reply r;

	call(f, "GET", path, NULL, &r);
	assert_int_equal(r.status, 200);
	snprintf(updated, 64, "%s", jstr(r.json, "updated_at", NULL));
	etag_of(&r, etag);
	assert_true(etag[0] == '"');
	reply_free(&r);
}

static void test_create_undone(void **state)
{
	struct fixture *f = *state;
	json_int_t rev0 = status_revision(f);
	struct reply r;

	call(f, "POST", "/v1/routes?require_active=true", ROUTE, &r);
	assert_int_equal(r.status, 503);
	assert_non_null(strstr(r.headers, "application/problem+json"));
	assert_non_null(strstr(jstr(r.json, "detail", NULL), "rt-0a cannot become active"));
	assert_non_null(strstr(jstr(r.json, "detail", NULL), "nothing was stored"));
	reply_free(&r);
	expect_status(f, "GET", "/v1/routes/rt-0a", NULL, 404);
	assert_int_equal(count_items(f, "/v1/routes"), 0);
	/* The create and its undo are two writes. */
	assert_int_equal(status_revision(f), rev0 + 2);
	/* The same without the flag is stored (pending: there is no kernel). */
	expect_status(f, "POST", "/v1/routes?require_active=false", ROUTE, 201);
	/* A repeated create of an object that exists keeps it. */
	call(f, "POST", "/v1/routes?require_active=1", ROUTE, &r);
	assert_int_equal(r.status, 503);
	assert_non_null(strstr(jstr(r.json, "detail", NULL), "existed before this request"));
	reply_free(&r);
	assert_int_equal(count_items(f, "/v1/routes"), 1);
}

static void test_replace_undone(void **state)
{
	struct fixture *f = *state;
	char upd[64], etag[64], upd2[64], etag2[64];
	struct reply r;

	expect_status(f, "POST", "/v1/routes", ROUTE, 201);
	stamps(f, "/v1/routes/rt-0a", upd, etag);
	call(f, "PUT", "/v1/routes/rt-0a?require_active=true",
	     "{\"destination\":\"10.9.0.0/16\",\"dev\":\"eth1\",\"metric\":7}", &r);
	assert_int_equal(r.status, 503);
	assert_non_null(strstr(jstr(r.json, "detail", NULL), "it was left as it was"));
	reply_free(&r);
	/* Back exactly as it was: fields, updated_at and ETag. */
	call(f, "GET", "/v1/routes/rt-0a", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "dev", NULL), "eth0");
	assert_int_equal(json_integer_value(json_object_get(r.json, "metric")), 0);
	reply_free(&r);
	stamps(f, "/v1/routes/rt-0a", upd2, etag2);
	assert_string_equal(upd2, upd);
	assert_string_equal(etag2, etag);
	/* So the ETag a client held still works. */
	{
		const char *body = "{\"destination\":\"10.9.0.0/16\",\"dev\":\"eth2\"}";
		char hdr[128];

		snprintf(hdr, sizeof(hdr), "If-Match: %s\r\n", etag);
		request(f, "PUT", "/v1/routes/rt-0a", "Bearer " TOKEN, "application/json", body,
		        strlen(body), hdr, &r);
		assert_int_equal(r.status, 200);
		assert_string_equal(jstr(r.json, "dev", NULL), "eth2");
		reply_free(&r);
	}
}

static void test_query_checked(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	call(f, "POST", "/v1/routes?require_active=yes", ROUTE, &r);
	assert_int_equal(r.status, 422);
	assert_string_equal(err_field(&r), "require_active");
	reply_free(&r);
	call(f, "POST", "/v1/routes?require_actve=true", ROUTE, &r);
	assert_int_equal(r.status, 400);
	assert_string_equal(err_field(&r), "require_actve");
	reply_free(&r);
	assert_int_equal(count_items(f, "/v1/routes"), 0);
	/* Reads and deletes of an object take it too (one query string for every request). */
	expect_status(f, "POST", "/v1/routes", ROUTE, 201);
	expect_status(f, "GET", "/v1/routes/rt-0a?require_active=true", NULL, 200);
	expect_status(f, "GET", "/v1/routes/rt-0a?colour=red", NULL, 400);
	expect_status(f, "DELETE", "/v1/routes/rt-0a?require_active=true", NULL, 204);
	/* A route table has no kernel object of its own: nothing to wait for. */
	expect_status(f, "POST", "/v1/route-tables?require_active=true", "{\"name\":\"t\"}", 201);
}

static void test_settings_undone(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	char etag[64], etag2[64];

	call(f, "GET", "/v1/settings", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_false(json_is_true(json_object_get(r.json, "managed")));
	etag_of(&r, etag);
	reply_free(&r);
	call(f, "PUT", "/v1/settings?require_active=true",
	     "{\"forwarding\":{\"ipv4\":true,\"ipv6\":false}}", &r);
	assert_int_equal(r.status, 503);
	assert_non_null(strstr(jstr(r.json, "detail", NULL), "left as they were"));
	reply_free(&r);
	call(f, "GET", "/v1/settings", NULL, &r);
	assert_false(json_is_true(json_object_get(r.json, "managed")));
	assert_false(json_is_true(json_object_get(json_object_get(r.json, "forwarding"), "ipv4")));
	etag_of(&r, etag2);
	assert_string_equal(etag2, etag);
	reply_free(&r);
}

/* The store's undo: only the version the undone write made is put back. */
static void test_store_restore(void **state)
{
	struct fixture *f = *state;
	struct store *s = f->app.store;
	struct vr_err e = {0};
	struct route old = {0}, cur = {0}, r = {0};
	int64_t rev = 0, now;

	expect_status(f, "POST", "/v1/routes", ROUTE, 201);
	assert_int_equal(store_obj_get(s, STORE_ROUTE, "rt-0a", &old, &e), 0);
	assert_int_equal(store_obj_get(s, STORE_ROUTE, "rt-0a", &r, &e), 0);
	r.metric = 5;
	assert_int_equal(store_obj_replace(s, STORE_ROUTE, &r, 0, &e), 0);
	/* Not the version a write made (a later write stands): 412. */
	assert_int_equal(store_obj_restore(s, STORE_ROUTE, &old, r.rev - 1, &rev, &e), -1);
	assert_int_equal(e.code, VR_ERR_PRECONDITION);
	now = store_revision(s);
	assert_int_equal(store_obj_restore(s, STORE_ROUTE, &old, r.rev, &rev, &e), 0);
	assert_int_equal(rev, now + 1);
	assert_int_equal(store_obj_get(s, STORE_ROUTE, "rt-0a", &cur, &e), 0);
	assert_int_equal(cur.metric, 0);
	assert_int_equal(cur.rev, old.rev);
	assert_string_equal(cur.updated_at, old.updated_at);
	assert_string_equal(cur.created_at, old.created_at);
	/* Gone: 404. */
	expect_status(f, "DELETE", "/v1/routes/rt-0a", NULL, 204);
	assert_int_equal(store_obj_restore(s, STORE_ROUTE, &old, old.rev, &rev, &e), -1);
	assert_int_equal(e.code, VR_ERR_NOT_FOUND);
	model_route_clear(&old);
	model_route_clear(&cur);
	model_route_clear(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, http_fixture_setup, http_fixture_teardown)
	    T(test_create_undone),   T(test_replace_undone), T(test_query_checked),
	    T(test_settings_undone), T(test_store_restore),
#undef T
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
