/*
 * The cache of rendered single-object GETs (server/http_cache.h): what it
 * keeps and under which generations, and over HTTP that a kept answer is
 * never served stale: after a write through the API, after a write through
 * another database handle, after a delete, and after the reconciler records
 * a new status with no write at all.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_kernel.h"
#include "http.h"
#include "http_cache.h"
#include "http_client.h"
#include "recon.h"
#include "store.h"

#define WAIT_MS 5000

static uint64_t hits(struct fixture *f)
{
	uint64_t h, m;

	http_cache_stats(http_server_cache(f->srv), &h, &m);
	return h;
}

/* The ETag header of r into buf ("" when there is none). */
static void etag_of(const struct reply *r, char *buf, size_t size)
{
	const char *t = strstr(r->headers, "ETag: ");

	buf[0] = '\0';
	if (t)
		snprintf(buf, size, "%.*s", (int)strcspn(t + 6, "\r\n"), t + 6);
}

/* GET path with If-None-Match: tag (NULL: without). */
static void get_if(struct fixture *f, const char *path, const char *tag, struct reply *r)
{
	char hdr[128];

	snprintf(hdr, sizeof(hdr), "If-None-Match: %s\r\n", tag ? tag : "");
	request(f, "GET", path, "Bearer " TOKEN, NULL, NULL, 0, tag ? hdr : NULL, r);
}

/* GET path: 200, its description is want; its ETag into etag. */
static void expect_description(struct fixture *f, const char *path, const char *want, char etag[64])
{
	struct reply r;

	call(f, "GET", path, NULL, &r);
	if (r.status != 200 || !jstr(r.json, "description", NULL) ||
	    strcmp(jstr(r.json, "description", NULL), want))
		fail_msg("GET %s -> %d %s, want 200 with description \"%s\"", path, r.status,
		         r.body, want);
	etag_of(&r, etag, 64);
	assert_true(etag[0] != '\0');
	reply_free(&r);
}

static void test_keys(void **state)
{
	struct http_cache *c = http_cache_new();
	struct http_resp in = {.status = 200, .raw = "{\"id\":\"rt-1\"}\n", .raw_len = 14};
	struct http_resp out = {0};
	struct http_cache_key k = {.kind = &in, .id = "rt-1", .wgen = 5, .sgen = 7}, o;
	uint64_t h, m;

	(void)state;
	assert_non_null(c);
	snprintf(in.etag, sizeof(in.etag), "\"3-abc\"");
	assert_false(http_cache_get(c, &k, NULL, &out));
	http_cache_put(c, &k, &in);
	assert_true(http_cache_get(c, &k, NULL, &out));
	assert_int_equal(out.status, 200);
	assert_int_equal(out.raw_len, in.raw_len);
	assert_memory_equal(out.raw, in.raw, in.raw_len);
	assert_ptr_equal(out.raw, out.owned); /* a copy of its own, freed with the answer */
	assert_string_equal(out.etag, "\"3-abc\"");
	free(out.owned);

	/* Naming its ETag: 304, the tag, no body. */
	memset(&out, 0, sizeof(out));
	assert_true(http_cache_get(c, &k, "\"x\", W/\"3-abc\"", &out));
	assert_int_equal(out.status, 304);
	assert_null(out.raw);
	assert_null(out.owned);
	assert_string_equal(out.etag, "\"3-abc\"");
	/* Another tag: the whole answer. */
	memset(&out, 0, sizeof(out));
	assert_true(http_cache_get(c, &k, "\"3-abd\"", &out));
	assert_int_equal(out.status, 200);
	free(out.owned);

	/* Any generation, id or kind of its own misses. */
	memset(&out, 0, sizeof(out));
	o = k, o.wgen = 6;
	assert_false(http_cache_get(c, &o, NULL, &out));
	o = k, o.sgen = 8;
	assert_false(http_cache_get(c, &o, NULL, &out));
	o = k, o.id = "rt-2";
	assert_false(http_cache_get(c, &o, NULL, &out));
	o = k, o.kind = &out;
	assert_false(http_cache_get(c, &o, NULL, &out));
	assert_int_equal(out.status, 0);
	http_cache_stats(c, &h, &m);
	assert_int_equal(h, 3);
	assert_int_equal(m, 5);

	/* Newer generations replace the answer kept: the older one is gone. */
	o = k, o.wgen = 6;
	http_cache_put(c, &o, &in);
	assert_false(http_cache_get(c, &k, NULL, &out));
	assert_true(http_cache_get(c, &o, NULL, &out));
	free(out.owned);

	/* Not kept: an untracked generation, no ETag, not a 200, another type, too big. */
	memset(&out, 0, sizeof(out));
	o = k, o.id = "rt-3", o.wgen = 0;
	http_cache_put(c, &o, &in);
	assert_false(http_cache_get(c, &o, NULL, &out));
	o.wgen = 5;
	assert_false(http_cache_get(c, &o, NULL, &out));
	in.etag[0] = '\0';
	http_cache_put(c, &o, &in);
	assert_false(http_cache_get(c, &o, NULL, &out));
	snprintf(in.etag, sizeof(in.etag), "\"3-abc\"");
	in.status = 201;
	http_cache_put(c, &o, &in);
	assert_false(http_cache_get(c, &o, NULL, &out));
	in.status = 200;
	in.content_type = "text/plain";
	http_cache_put(c, &o, &in);
	assert_false(http_cache_get(c, &o, NULL, &out));
	in.content_type = NULL;
	in.raw_len = HTTP_CACHE_ENTRY_MAX + 1;
	in.owned = calloc(1, in.raw_len);
	in.raw = in.owned;
	http_cache_put(c, &o, &in);
	assert_false(http_cache_get(c, &o, NULL, &out));
	free(in.owned);
	http_cache_free(c);

	/* Without a cache (out of memory): every lookup misses, puts are dropped. */
	http_cache_put(NULL, &k, &in);
	assert_false(http_cache_get(NULL, &k, NULL, &out));
}

/* The store's write generation: every commit moves it, whatever handle made it; reads do not. */
static void test_write_gen(void **state)
{
	struct fixture *f = *state;
	struct store *other;
	struct vr_err e = {0};
	uint64_t g = store_write_gen();
	struct route r = {0};

	assert_true(g > 0);
	assert_int_equal(store_open(f->db, &other, &e), 0);
	g = store_write_gen();
	snprintf(r.table_id, sizeof(r.table_id), "rtb-main");
	snprintf(r.destination, sizeof(r.destination), "10.9.0.0/16");
	r.type = ROUTE_BLACKHOLE;
	assert_int_equal(model_route_validate(&r, &e), 0);
	assert_int_equal(store_obj_create(other, STORE_ROUTE, &r, &e), STORE_CREATED);
	assert_true(store_write_gen() > g);
	g = store_write_gen();
	model_route_clear(&r);
	assert_int_equal(count_items(f, "/v1/routes"), 1);
	assert_int_equal(store_write_gen(), g);
	store_close(other);
}

static void test_never_stale(void **state)
{
	struct fixture *f = *state;
	struct store *other;
	struct vr_err e = {0};
	struct route rt = {0};
	struct reply r;
	char path[128], e1[64], e2[64], e3[64];
	uint64_t h;
	char *id = post_id(f, "/v1/routes",
	                   "{\"destination\":\"10.1.0.0/16\",\"type\":\"blackhole\","
	                   "\"description\":\"one\"}",
	                   201);

	assert_non_null(id);
	snprintf(path, sizeof(path), "/v1/routes/%s", id);
	expect_description(f, path, "one", e1);
	/* Nothing changed: the second GET and a conditional one are answered from the cache. */
	h = hits(f);
	expect_description(f, path, "one", e2);
	assert_string_equal(e1, e2);
	get_if(f, path, e1, &r);
	assert_int_equal(r.status, 304);
	assert_true(r.body == NULL || r.body[0] == '\0');
	assert_non_null(strstr(r.headers, e1));
	reply_free(&r);
	assert_int_equal(hits(f), h + 2);

	/* A write through the API: the next GET shows it, with a new ETag. */
	expect_status(f, "PUT", path,
	              "{\"destination\":\"10.1.0.0/16\",\"type\":\"blackhole\","
	              "\"description\":\"two\"}",
	              200);
	expect_description(f, path, "two", e2);
	assert_string_not_equal(e1, e2);
	get_if(f, path, e1, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "description", NULL), "two");
	reply_free(&r);
	expect_description(f, path, "two", e3); /* kept again */

	/* A write through another handle on the database (as the reconciler's or a reader's). */
	assert_int_equal(store_open(f->db, &other, &e), 0);
	assert_int_equal(store_obj_get(other, STORE_ROUTE, id, &rt, &e), 0);
	free(rt.description);
	rt.description = strdup("three");
	assert_int_equal(store_obj_replace(other, STORE_ROUTE, &rt, 0, &e), 0);
	model_route_clear(&rt);
	store_close(other);
	expect_description(f, path, "three", e3);
	assert_string_not_equal(e2, e3);

	/* A delete: 404, also for a conditional GET naming the last ETag, and for HEAD. */
	expect_status(f, "DELETE", path, NULL, 204);
	expect_status(f, "GET", path, NULL, 404);
	get_if(f, path, e3, &r);
	assert_int_equal(r.status, 404);
	reply_free(&r);
	request(f, "HEAD", path, "Bearer " TOKEN, NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 404);
	reply_free(&r);
	free(id);

	/* The other kinds share the mechanism: a security group renamed is seen renamed. */
	id = post_id(f, "/v1/security-groups", "{\"name\":\"web\",\"description\":\"a\"}", 201);
	assert_non_null(id);
	snprintf(path, sizeof(path), "/v1/security-groups/%s", id);
	expect_description(f, path, "a", e1);
	expect_description(f, path, "a", e1);
	expect_status(f, "PUT", path, "{\"name\":\"web\",\"description\":\"b\"}", 200);
	expect_description(f, path, "b", e2);
	assert_string_not_equal(e1, e2);
	free(id);
}

/* The fixture with a reconciler on the fake kernel: objects get a status. */
static int setup_recon(void **state)
{
	return http_fixture_setup_recon(state, WAIT_MS);
}

/*
 * A status the reconciler records changes the answer without any write: the
 * answer kept before it is not served after it.
 */
static void test_status_change(void **state)
{
	struct fixture *f = *state;
	struct vr_err e = {0};
	struct route rt = {0};
	struct reply r;
	char path[128], e1[64];
	uint64_t h, g;
	int64_t rev;
	struct recon_stats st = {0};

	/* Its start-up pass over (an empty store), so that only a kick applies the route. */
	for (int i = 0; i < WAIT_MS / 10 && !st.applies; i++) {
		recon_stats(f->app.recon, &st);
		if (!st.applies)
			usleep(10 * 1000);
	}
	assert_true(st.applies > 0);
	/* Written behind the reconciler's back: it applies the route when kicked. */
	snprintf(rt.table_id, sizeof(rt.table_id), "rtb-main");
	snprintf(rt.destination, sizeof(rt.destination), "192.168.100.0/24");
	snprintf(rt.via_text, sizeof(rt.via_text), "192.168.150.3");
	assert_int_equal(model_route_validate(&rt, &e), 0);
	pthread_mutex_lock(&f->app.store_lock);
	assert_int_equal(store_obj_create(f->app.store, STORE_ROUTE, &rt, &e), STORE_CREATED);
	pthread_mutex_unlock(&f->app.store_lock);
	rev = rt.rev;
	snprintf(path, sizeof(path), "/v1/routes/%s", rt.id);

	call(f, "GET", path, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "status", "state"), "pending");
	etag_of(&r, e1, sizeof(e1));
	reply_free(&r);
	h = hits(f);
	call(f, "GET", path, NULL, &r);
	assert_string_equal(jstr(r.json, "status", "state"), "pending");
	reply_free(&r);
	assert_int_equal(hits(f), h + 1); /* kept */

	g = store_write_gen();
	recon_kick(f->app.recon, rev, RECON_ROUTE, rt.id);
	assert_int_equal(recon_wait(f->app.recon, rev, WAIT_MS), 0);
	assert_int_equal(store_write_gen(), g); /* no write: the status alone changed */
	call(f, "GET", path, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "status", "state"), "active");
	reply_free(&r);
	/* The old ETag no longer matches: the new status is sent. */
	get_if(f, path, e1, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "status", "state"), "active");
	reply_free(&r);

	/* A failure recorded: the route's gateway made unreachable by a write, then answered. */
	expect_status(f, "PUT", path, "{\"destination\":\"192.168.100.0/24\",\"via\":\"10.0.0.1\"}",
	              200);
	call(f, "GET", path, NULL, &r);
	assert_string_equal(jstr(r.json, "status", "state"), "failed");
	assert_non_null(strstr(jstr(r.json, "status", "reason"), "10.0.0.1"));
	reply_free(&r);
	model_route_clear(&rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keys),
#define T(fn) cmocka_unit_test_setup_teardown(fn, http_fixture_setup, http_fixture_teardown)
	    T(test_write_gen),
	    T(test_never_stale),
#undef T
	    cmocka_unit_test_setup_teardown(test_status_change, setup_recon,
	                                    http_fixture_teardown_recon),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
