/*
 * GET/PUT /v1/config through the in-process server (tests/unit/http_client.c):
 * round trips, no-op replaces, dry runs, invalid documents that change
 * nothing, ids, settings, rtb-main, the body limit, and the kernel part of a
 * dry run against a fake kernel.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <linux/rtnetlink.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api.h"
#include "http.h"
#include "http_client.h"
#include "store.h"
#include "kernel.h"

/* A document of tables, routes, a subnet, groups and rules, with ids where a client keeps them. */
static const char *const DOC =
    "{\"route_tables\": ["
    "{\"id\":\"rtb-0a\",\"name\":\"blue\",\"table\":100,\"description\":\"b\"},"
    "{\"id\":\"rtb-0b\",\"name\":\"green\"}],"
    "\"routes\": ["
    "{\"id\":\"rt-01\",\"destination\":\"10.1.0.0/16\",\"via\":\"192.168.150.3\"},"
    "{\"id\":\"rt-02\",\"route_table_id\":\"rtb-0a\",\"destination\":\"default\","
    "\"type\":\"blackhole\",\"metric\":5,\"description\":\"drop\"},"
    "{\"destination\":\"2001:db8:1::/48\",\"dev\":\"eth0\",\"route_table_id\":\"rtb-0b\"}],"
    "\"subnets\": ["
    "{\"id\":\"subnet-01\",\"name\":\"lan\",\"cidr\":\"192.168.150.0/24\",\"interface\":\"eth0\","
    "\"router_ip\":\"192.168.150.1\",\"route_table_id\":\"rtb-0a\"}],"
    "\"security_groups\": ["
    "{\"id\":\"sg-01\",\"name\":\"web\",\"targets\":[\"192.168.150.2\",\"local\"]},"
    "{\"id\":\"sg-02\",\"name\":\"admin\"}],"
    "\"security_group_rules\": ["
    "{\"id\":\"sgr-01\",\"security_group_id\":\"sg-01\",\"direction\":\"ingress\","
    "\"protocol\":\"tcp\",\"port_from\":80,\"port_to\":80,\"cidr\":\"0.0.0.0/0\"},"
    "{\"id\":\"sgr-02\",\"security_group_id\":\"sg-01\",\"direction\":\"ingress\","
    "\"protocol\":\"all\",\"remote_security_group_id\":\"sg-02\"}]}";

static json_int_t desired_revision(struct fixture *f)
{
	struct reply r;
	json_int_t rev;

	call(f, "GET", "/v1/status", NULL, &r);
	assert_int_equal(r.status, 200);
	rev = json_integer_value(json_object_get(r.json, "desired_revision"));
	reply_free(&r);
	return rev;
}

/* GET /v1/config as text (malloc'd). */
static char *get_config(struct fixture *f)
{
	struct reply r;
	char *text;

	call(f, "GET", "/v1/config", NULL, &r);
	if (r.status != 200 || !r.json)
		fail_msg("GET /v1/config -> %d %s", r.status, r.body);
	text = strdup(r.body);
	reply_free(&r);
	return text;
}

/* PUT path body, expecting status; the reply stays in *r. */
static void put(struct fixture *f, const char *path, const char *body, int status, struct reply *r)
{
	call(f, "PUT", path, body, r);
	if (r->status != status)
		fail_msg("PUT %s -> %d %s, want %d", path, r->status, r->body, status);
}

/* plan.database.<kind>.<what> */
static json_int_t db_count(const struct reply *r, const char *kind, const char *what)
{
	return json_integer_value(json_object_get(
	    json_object_get(json_object_get(json_object_get(r->json, "plan"), "database"), kind),
	    what));
}

static bool plan_is_noop(const struct reply *r)
{
	static const char *const kinds[] = {"route_tables", "routes", "subnets", "security_groups",
	                                    "security_group_rules"};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (db_count(r, kinds[i], "added") || db_count(r, kinds[i], "changed") ||
		    db_count(r, kinds[i], "removed"))
			return false;
	return !json_is_true(json_object_get(r->json, "changed"));
}

/* A PUT that must fail with status and name field, and change nothing. */
static void refused(struct fixture *f, const char *body, int status, const char *field)
{
	json_int_t rev = desired_revision(f);
	char *before = get_config(f), *after;
	struct reply r;

	put(f, "/v1/config", body, status, &r);
	if (field && (!err_field(&r) || strcmp(err_field(&r), field)))
		fail_msg("PUT /v1/config %s -> field %s, want %s (%s)", body,
		         err_field(&r) ? err_field(&r) : "(none)", field, r.body);
	assert_non_null(strstr(r.headers, "application/problem+json"));
	reply_free(&r);
	after = get_config(f);
	assert_string_equal(before, after);
	assert_int_equal(desired_revision(f), rev);
	free(before);
	free(after);
}

static json_t *part(json_t *doc, const char *key)
{
	json_t *v = json_object_get(doc, key);

	assert_true(json_is_array(v));
	return v;
}

static json_t *item_by_id(json_t *arr, const char *id)
{
	size_t i;
	json_t *v;

	json_array_foreach(
	    arr, i, v) if (!strcmp(json_string_value(json_object_get(v, "id")), id)) return v;
	return NULL;
}

/* ---- tests ---- */

static void test_fresh(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	json_t *t;

	call(f, "GET", "/v1/config", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.headers, "Content-Type: application/json"));
	assert_non_null(strstr(r.headers, "ETag: \"1\""));
	assert_int_equal(json_array_size(part(r.json, "route_tables")), 1);
	t = json_array_get(part(r.json, "route_tables"), 0);
	assert_string_equal(jstr(t, "id", NULL), "rtb-main");
	assert_string_equal(jstr(t, "name", NULL), "main");
	assert_int_equal(json_integer_value(json_object_get(t, "table")), 254);
	assert_null(json_object_get(t, "created_at"));
	assert_int_equal(json_array_size(part(r.json, "routes")), 0);
	assert_int_equal(json_array_size(part(r.json, "subnets")), 0);
	assert_int_equal(json_array_size(part(r.json, "security_groups")), 0);
	assert_int_equal(json_array_size(part(r.json, "security_group_rules")), 0);
	/* Unmanaged settings are the kernel's: not part of the document. */
	assert_null(json_object_get(r.json, "settings"));
	assert_int_equal(json_object_size(r.json), 5);
	reply_free(&r);
	call(f, "GET", "/v1/config?x=1", NULL, &r);
	assert_int_equal(r.status, 400);
	reply_free(&r);
	/* Its own output is a no-op. */
	{
		char *doc = get_config(f);

		put(f, "/v1/config", doc, 200, &r);
		assert_true(plan_is_noop(&r));
		assert_int_equal(json_integer_value(json_object_get(r.json, "revision")), 1);
		reply_free(&r);
		free(doc);
	}
}

static void test_roundtrip(void **state)
{
	struct fixture *f = *state;
	json_t *in = json_loads(DOC, 0, NULL), *out, *v;
	static const char *const parts[] = {"route_tables", "routes", "subnets", "security_groups",
	                                    "security_group_rules"};
	json_int_t rev;
	struct reply r;
	char *text, *text2;
	size_t i;

	assert_non_null(in);
	put(f, "/v1/config", DOC, 200, &r);
	assert_true(json_is_true(json_object_get(r.json, "changed")));
	assert_false(json_is_true(json_object_get(r.json, "dry_run")));
	assert_int_equal(db_count(&r, "routes", "added"), 3);
	assert_int_equal(db_count(&r, "route_tables", "added"), 2);
	assert_int_equal(db_count(&r, "route_tables", "unchanged"), 1);
	assert_int_equal(db_count(&r, "security_group_rules", "added"), 2);
	rev = json_integer_value(json_object_get(r.json, "revision"));
	assert_int_equal(rev, desired_revision(f));
	assert_int_equal(rev, 2); /* one revision for the whole document */
	reply_free(&r);

	text = get_config(f);
	out = json_loads(text, 0, NULL);
	assert_non_null(out);
	/* Every item comes back as written (ids kept), plus what the server filled in. */
	for (size_t p = 0; p < sizeof(parts) / sizeof(parts[0]); p++) {
		json_array_foreach(part(in, parts[p]), i, v)
		{
			json_t *got, *val;
			const char *k;

			if (!json_object_get(v, "id"))
				continue;
			got = item_by_id(part(out, parts[p]), jstr(v, "id", NULL));
			assert_non_null(got);
			json_object_foreach(v, k, val)
			{
				if (!json_equal(val, json_object_get(got, k)))
					fail_msg("%s %s: %s differs", parts[p], jstr(v, "id", NULL),
					         k);
			}
		}
	}
	assert_int_equal(json_array_size(part(out, "routes")), 3);
	assert_int_equal(json_array_size(part(out, "route_tables")), 3);
	/* A table without a number got one of the server's. */
	v = item_by_id(part(out, "route_tables"), "rtb-0b");
	assert_int_equal(json_integer_value(json_object_get(v, "table")), 10000);
	/* The route without an id got one. */
	json_array_foreach(part(out, "routes"), i, v)
	    assert_true(!strncmp(jstr(v, "id", NULL), "rt-", 3));
	v = item_by_id(part(out, "security_group_rules"), "sgr-02");
	assert_string_equal(jstr(v, "remote_security_group_id", NULL), "sg-02");

	/* GET -> PUT unchanged: a no-op plan, no new revision, the same document. */
	put(f, "/v1/config", text, 200, &r);
	assert_true(plan_is_noop(&r));
	assert_int_equal(json_integer_value(json_object_get(r.json, "revision")), rev);
	assert_int_equal(db_count(&r, "routes", "unchanged"), 3);
	reply_free(&r);
	assert_int_equal(desired_revision(f), rev);
	text2 = get_config(f);
	assert_string_equal(text, text2);
	/* A GET of the whole state fed back with the collections' computed keys is a no-op too. */
	call(f, "GET", "/v1/routes/rt-01", NULL, &r);
	{
		char body[2048];

		snprintf(body, sizeof(body), "{\"routes\": [%s]}", r.body);
		reply_free(&r);
		put(f, "/v1/config?dry_run=true", body, 200, &r);
		assert_int_equal(db_count(&r, "routes", "unchanged"), 1);
		assert_int_equal(db_count(&r, "routes", "removed"), 2);
		reply_free(&r);
	}
	free(text);
	free(text2);
	json_decref(in);
	json_decref(out);
}

static void test_dry_run(void **state)
{
	struct fixture *f = *state;
	const char *other = "{\"routes\": [{\"id\":\"rt-01\",\"destination\":\"10.2.0.0/16\","
	                    "\"via\":\"192.168.150.3\"},{\"id\":\"rt-09\",\"destination\":"
	                    "\"10.9.0.0/16\",\"type\":\"unreachable\"}]}";
	struct reply r;
	json_int_t rev;
	char *before, *after;
	json_t *db;

	put(f, "/v1/config", DOC, 200, &r);
	reply_free(&r);
	rev = desired_revision(f);
	before = get_config(f);
	put(f, "/v1/config?dry_run=true", other, 200, &r);
	assert_true(json_is_true(json_object_get(r.json, "dry_run")));
	assert_true(json_is_true(json_object_get(r.json, "changed")));
	assert_int_equal(json_integer_value(json_object_get(r.json, "revision")), rev);
	assert_int_equal(db_count(&r, "routes", "added"), 1);
	assert_int_equal(db_count(&r, "routes", "changed"), 1);
	assert_int_equal(db_count(&r, "routes", "removed"), 2);
	assert_int_equal(db_count(&r, "route_tables", "removed"), 2);
	assert_int_equal(db_count(&r, "route_tables", "unchanged"), 1);
	assert_int_equal(db_count(&r, "subnets", "removed"), 1);
	assert_int_equal(db_count(&r, "security_groups", "removed"), 2);
	assert_int_equal(db_count(&r, "security_group_rules", "removed"), 2);
	db = json_object_get(json_object_get(r.json, "plan"), "database");
	assert_string_equal(json_string_value(json_array_get(
	                        json_object_get(json_object_get(db, "routes"), "added_ids"), 0)),
	                    "rt-09");
	assert_string_equal(json_string_value(json_array_get(
	                        json_object_get(json_object_get(db, "routes"), "changed_ids"), 0)),
	                    "rt-01");
	/* No kernel in this test: its part is null. */
	assert_true(json_is_null(json_object_get(json_object_get(r.json, "plan"), "kernel")));
	reply_free(&r);
	after = get_config(f);
	assert_string_equal(before, after);
	assert_int_equal(desired_revision(f), rev);
	/* An invalid document is refused by a dry run exactly as by the real one. */
	put(f, "/v1/config?dry_run=true", "{\"routes\": [{\"destination\":\"10.0.0.1/8\"}]}", 422,
	    &r);
	assert_string_equal(err_field(&r), "routes[0].destination");
	reply_free(&r);
	put(f, "/v1/config?dry_run=maybe", "{}", 422, &r);
	reply_free(&r);
	put(f, "/v1/config?dry=1", "{}", 400, &r);
	reply_free(&r);
	/* dry_run=false is the real thing. */
	put(f, "/v1/config?dry_run=false", other, 200, &r);
	assert_int_equal(json_integer_value(json_object_get(r.json, "revision")), rev + 1);
	reply_free(&r);
	free(before);
	free(after);
}

static void test_invalid(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	put(f, "/v1/config", DOC, 200, &r);
	reply_free(&r);
	/* A bad item in the middle. */
	refused(f,
	        "{\"routes\": [{\"destination\":\"10.1.0.0/16\",\"type\":\"blackhole\"},"
	        "{\"destination\":\"10.2.0.1/16\",\"type\":\"blackhole\"},"
	        "{\"destination\":\"10.3.0.0/16\",\"type\":\"blackhole\"}]}",
	        422, "routes[1].destination");
	/* Several: all listed. */
	put(f, "/v1/config",
	    "{\"routes\": [{\"destination\":\"10.1.0.0/16\",\"type\":\"blackhole\"},"
	    "{\"destination\":\"bad\"},{\"destination\":\"10.3.0.0/16\",\"metric\":-1}]}",
	    422, &r);
	assert_int_equal(json_array_size(json_object_get(r.json, "errors")), 2);
	assert_string_equal(err_field(&r), "routes[1].destination");
	assert_string_equal(
	    jstr(json_array_get(json_object_get(r.json, "errors"), 1), "field", NULL),
	    "routes[2].metric");
	reply_free(&r);
	/* Duplicate route keys (default = 0.0.0.0/0), duplicate ids. */
	refused(f,
	        "{\"routes\": [{\"destination\":\"0.0.0.0/0\",\"type\":\"blackhole\"},"
	        "{\"destination\":\"10.0.0.0/8\",\"type\":\"blackhole\"},"
	        "{\"destination\":\"default\",\"type\":\"prohibit\"}]}",
	        409, "routes[2].destination");
	refused(f,
	        "{\"routes\": [{\"destination\":\"2001:db8::/32\",\"type\":\"blackhole\"},"
	        "{\"destination\":\"2001:db8::/32\",\"type\":\"blackhole\",\"metric\":1024}]}",
	        409, "routes[1].destination");
	/* The words name both items, as the document wrote them (compact items, route_pack.c). */
	put(f, "/v1/config",
	    "{\"routes\": [{\"id\":\"rt-d0\",\"destination\":\"2001:DB8::/32\",\"type\":"
	    "\"blackhole\"},{\"destination\":\"2001:db8:0::/32\",\"type\":\"blackhole\","
	    "\"metric\":1024}]}",
	    409, &r);
	assert_string_equal(err_field(&r), "routes[1].destination");
	assert_non_null(strstr(r.body,
	                       "a route to 2001:db8::/32 with metric 1024 in table rtb-main "
	                       "is also routes[0] (rt-d0); the kernel counts IPv6 metric 0 "
	                       "as 1024"));
	reply_free(&r);
	refused(f,
	        "{\"routes\": [{\"id\":\"rt-aa\",\"destination\":\"10.1.0.0/16\",\"type\":"
	        "\"blackhole\"},{\"id\":\"rt-aa\",\"destination\":\"10.2.0.0/16\",\"type\":"
	        "\"blackhole\"}]}",
	        409, "routes[1].id");
	/* Dangling references: resolved in the document, not in the database. */
	refused(f,
	        "{\"routes\": [{\"route_table_id\":\"rtb-0a\",\"destination\":\"10.1.0.0/16\","
	        "\"type\":\"blackhole\"}]}",
	        422, "routes[0].route_table_id");
	refused(f,
	        "{\"security_groups\": [{\"id\":\"sg-01\",\"name\":\"web\"}],"
	        "\"security_group_rules\": [{\"security_group_id\":\"sg-01\",\"direction\":"
	        "\"ingress\",\"protocol\":\"all\",\"remote_security_group_id\":\"sg-02\"}]}",
	        422, "security_group_rules[0].remote_security_group_id");
	refused(f,
	        "{\"security_group_rules\": [{\"security_group_id\":\"sg-01\",\"direction\":"
	        "\"ingress\",\"protocol\":\"all\",\"cidr\":\"10.0.0.0/8\"}]}",
	        422, "security_group_rules[0].security_group_id");
	/* Unique names, table numbers, rules; overlapping subnets. */
	refused(f, "{\"route_tables\": [{\"name\":\"a\"},{\"name\":\"a\"}]}", 409,
	        "route_tables[1].name");
	refused(f, "{\"route_tables\": [{\"name\":\"main\"}]}", 409, "route_tables[0].name");
	refused(f,
	        "{\"route_tables\": [{\"name\":\"a\",\"table\":7},{\"name\":\"b\",\"table\":7}]}",
	        409, "route_tables[1].table");
	refused(f, "{\"route_tables\": [{\"name\":\"a\",\"table\":254}]}", 409,
	        "route_tables[0].table");
	refused(f, "{\"security_groups\": [{\"name\":\"a\"},{\"name\":\"a\"}]}", 409,
	        "security_groups[1].name");
	refused(f,
	        "{\"security_groups\": [{\"id\":\"sg-1\",\"name\":\"a\"}],"
	        "\"security_group_rules\": ["
	        "{\"security_group_id\":\"sg-1\",\"direction\":\"ingress\",\"protocol\":\"tcp\","
	        "\"port_from\":22,\"port_to\":22,\"cidr\":\"10.0.0.0/8\"},"
	        "{\"security_group_id\":\"sg-1\",\"direction\":\"ingress\",\"protocol\":\"tcp\","
	        "\"port_from\":22,\"port_to\":22,\"cidr\":\"10.0.0.0/8\",\"description\":\"x\"}]}",
	        409, "security_group_rules[1]");
	refused(f,
	        "{\"subnets\": [{\"name\":\"a\",\"cidr\":\"10.0.0.0/16\",\"interface\":\"e0\","
	        "\"router_ip\":\"10.0.0.1\"},{\"name\":\"b\",\"cidr\":\"192.168.0.0/24\","
	        "\"interface\":\"e0\",\"router_ip\":\"192.168.0.1\"},{\"name\":\"c\",\"cidr\":"
	        "\"10.0.5.0/24\",\"interface\":\"e1\",\"router_ip\":\"10.0.5.1\"}]}",
	        409, "subnets[2].cidr");
	/* Keys: unknown at the top (400), unknown in an item (400), wrong types (422). */
	refused(f, "{\"routes\": [], \"bogus\": 1}", 400, "bogus");
	refused(f, "{\"routes\": [{\"destination\":\"10.0.0.0/8\",\"bogus\":1}]}", 400,
	        "routes[0].bogus");
	refused(f, "{\"routes\": {}}", 422, "routes");
	refused(f, "{\"routes\": [1]}", 422, "routes[0]");
	refused(f, "{\"settings\": {\"forwarding\": {\"ipv4\": 1, \"ipv6\": false}}}", 422,
	        "settings.forwarding.ipv4");
	/* Malformed JSON, anywhere. */
	refused(f, "{\"routes\": [{\"destination\":\"10.0.0.0/8\"}", 400, NULL);
	refused(f, "{\"routes\": [{\"destination\":\"10.0.0.0/8\",}]}", 400, NULL);
	refused(f, "{\"routes\": [], \"routes\": []}", 400, NULL);
	refused(f, "{\"routes\": []} x", 400, NULL);
	refused(f, "[]", 400, NULL);
	refused(f, "{\"routes\": [{\"destination\":\"10.0.0.0/8\"]]}", 400, NULL);
	refused(f, "{\"routes\": [{\"destination\":\"10.0.0.0/8\", \"type\": \"blackhole\"}] ,}",
	        400, NULL);
	put(f, "/v1/config", "{\n\"routes\": [\n{\"destination\": 10.0}x]}", 400, &r);
	assert_non_null(strstr(jstr(r.json, "detail", NULL), "line 3"));
	reply_free(&r);
	/* rtb-main: a description, never another name or number. */
	refused(f, "{\"route_tables\": [{\"id\":\"rtb-main\",\"name\":\"other\"}]}", 409,
	        "route_tables[0].name");
	refused(f, "{\"route_tables\": [{\"id\":\"rtb-main\",\"name\":\"main\",\"table\":100}]}",
	        409, "route_tables[0].table");
	/* If-Match against the revision. */
	{
		const char *b = "{}";

		request(f, "PUT", "/v1/config", "Bearer " TOKEN, "application/json", b, strlen(b),
		        "If-Match: \"1\"\r\n", &r);
		assert_int_equal(r.status, 412);
		reply_free(&r);
	}
	call(f, "PUT", "/v1/config", NULL, &r);
	assert_int_equal(r.status, 400);
	reply_free(&r);
	request(f, "PUT", "/v1/config", "Bearer " TOKEN, "text/plain", "{}", 2, NULL, &r);
	assert_int_equal(r.status, 415);
	reply_free(&r);
}

static void test_ids_and_changes(void **state)
{
	struct fixture *f = *state;
	struct reply r, a, b;
	char *doc;
	json_t *j;

	put(f, "/v1/config", DOC, 200, &r);
	reply_free(&r);
	call(f, "GET", "/v1/routes/rt-01", NULL, &a);
	assert_int_equal(a.status, 200);
	/*
	 * Change one route, swap the names of two groups and the destinations
	 * of two routes, renumber a table that routes use, move a rule to
	 * another group: all in one document.
	 */
	doc = strdup(DOC);
	j = json_loads(doc, 0, NULL);
	free(doc);
	json_object_set_new(json_array_get(part(j, "routes"), 1), "description",
	                    json_string("changed"));
	json_object_set_new(json_array_get(part(j, "routes"), 2), "id", json_string("rt-03"));
	json_object_set_new(json_array_get(part(j, "security_groups"), 0), "name",
	                    json_string("admin"));
	json_object_set_new(json_array_get(part(j, "security_groups"), 1), "name",
	                    json_string("web"));
	json_object_set_new(json_array_get(part(j, "route_tables"), 0), "table", json_integer(101));
	json_object_set_new(json_array_get(part(j, "security_group_rules"), 0), "security_group_id",
	                    json_string("sg-02"));
	doc = json_dumps(j, 0);
	put(f, "/v1/config", doc, 200, &r);
	assert_int_equal(db_count(&r, "routes", "changed"), 1);
	/* The route without an id was replaced by one that has one. */
	assert_int_equal(db_count(&r, "routes", "added"), 1);
	assert_int_equal(db_count(&r, "routes", "removed"), 1);
	assert_int_equal(db_count(&r, "routes", "unchanged"), 1);
	assert_int_equal(db_count(&r, "security_groups", "changed"), 2);
	assert_int_equal(db_count(&r, "route_tables", "changed"), 1);
	assert_int_equal(db_count(&r, "security_group_rules", "changed"), 1);
	reply_free(&r);
	free(doc);
	/* The unchanged route kept its revision (ETag) and timestamps. */
	call(f, "GET", "/v1/routes/rt-01", NULL, &b);
	assert_string_equal(a.body, b.body);
	reply_free(&b);
	reply_free(&a);
	call(f, "GET", "/v1/routes/rt-02", NULL, &b);
	assert_string_equal(jstr(b.json, "description", NULL), "changed");
	assert_string_not_equal(jstr(b.json, "created_at", NULL), jstr(b.json, "updated_at", NULL));
	reply_free(&b);
	call(f, "GET", "/v1/security-groups/sg-01", NULL, &b);
	assert_string_equal(jstr(b.json, "name", NULL), "admin");
	reply_free(&b);
	call(f, "GET", "/v1/route-tables/rtb-0a", NULL, &b);
	assert_int_equal(json_integer_value(json_object_get(b.json, "table")), 101);
	reply_free(&b);
	/* Swap two routes' destinations. */
	json_object_set_new(json_array_get(part(j, "routes"), 0), "destination",
	                    json_string("10.5.0.0/16"));
	doc = json_dumps(j, 0);
	put(f, "/v1/config", doc, 200, &r);
	reply_free(&r);
	free(doc);
	json_object_set_new(json_array_get(part(j, "routes"), 1), "destination",
	                    json_string("10.5.0.0/16"));
	json_object_set_new(json_array_get(part(j, "routes"), 1), "route_table_id",
	                    json_string("rtb-main"));
	json_object_set_new(json_array_get(part(j, "routes"), 0), "destination",
	                    json_string("0.0.0.0/0"));
	json_object_set_new(json_array_get(part(j, "routes"), 0), "route_table_id",
	                    json_string("rtb-0a"));
	json_object_set_new(json_array_get(part(j, "routes"), 0), "metric", json_integer(5));
	doc = json_dumps(j, 0);
	put(f, "/v1/config", doc, 200, &r);
	assert_int_equal(db_count(&r, "routes", "changed"), 2);
	reply_free(&r);
	free(doc);
	json_decref(j);
}

static void test_settings_and_main(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	char *text;
	json_t *j;

	/* Settings: left as they are when the document has none; written when it has them. */
	put(f, "/v1/settings", "{\"forwarding\":{\"ipv4\":true,\"ipv6\":false}}", 200, &r);
	reply_free(&r);
	put(f, "/v1/config", "{\"routes\": []}", 200, &r);
	reply_free(&r);
	call(f, "GET", "/v1/settings", NULL, &r);
	assert_true(json_is_true(json_object_get(json_object_get(r.json, "forwarding"), "ipv4")));
	reply_free(&r);
	text = get_config(f);
	j = json_loads(text, 0, NULL);
	assert_true(json_is_true(json_object_get(
	    json_object_get(json_object_get(j, "settings"), "forwarding"), "ipv4")));
	json_decref(j);
	put(f, "/v1/config", text, 200, &r);
	assert_true(plan_is_noop(&r));
	reply_free(&r);
	free(text);
	put(f, "/v1/config", "{\"settings\": {\"forwarding\": {\"ipv4\": false, \"ipv6\": true}}}",
	    200, &r);
	assert_true(json_is_true(json_object_get(
	    json_object_get(json_object_get(json_object_get(r.json, "plan"), "database"),
	                    "settings"),
	    "changed")));
	reply_free(&r);
	call(f, "GET", "/v1/settings", NULL, &r);
	assert_true(json_is_false(json_object_get(json_object_get(r.json, "forwarding"), "ipv4")));
	assert_true(json_is_true(json_object_get(json_object_get(r.json, "forwarding"), "ipv6")));
	reply_free(&r);

	/* {} empties everything but rtb-main (and the settings). */
	put(f, "/v1/config", DOC, 200, &r);
	reply_free(&r);
	put(f, "/v1/config", "{}", 200, &r);
	assert_int_equal(db_count(&r, "routes", "removed"), 3);
	assert_int_equal(db_count(&r, "route_tables", "removed"), 2);
	reply_free(&r);
	text = get_config(f);
	j = json_loads(text, 0, NULL);
	assert_int_equal(json_array_size(part(j, "route_tables")), 1);
	assert_int_equal(json_array_size(part(j, "routes")), 0);
	assert_int_equal(json_array_size(part(j, "security_groups")), 0);
	assert_non_null(json_object_get(j, "settings"));
	json_decref(j);
	free(text);
	/* rtb-main may get a description, and keeps its number when the document gives none. */
	put(f, "/v1/config",
	    "{\"route_tables\": [{\"id\":\"rtb-main\",\"name\":\"main\",\"description\":\"d\"}]}",
	    200, &r);
	assert_int_equal(db_count(&r, "route_tables", "changed"), 1);
	reply_free(&r);
	call(f, "GET", "/v1/route-tables/rtb-main", NULL, &r);
	assert_string_equal(jstr(r.json, "description", NULL), "d");
	assert_int_equal(json_integer_value(json_object_get(r.json, "table")), 254);
	reply_free(&r);
	put(f, "/v1/config", "{}", 200, &r);
	/* Not in the document, still there, untouched. */
	assert_int_equal(db_count(&r, "route_tables", "removed"), 0);
	assert_int_equal(db_count(&r, "route_tables", "unchanged"), 1);
	reply_free(&r);
}

/* A document of n blackhole routes; ids when with_ids. */
static char *routes_doc(size_t n, bool with_ids, size_t *len)
{
	size_t cap = 128 + n * 160, l = 0;
	char *b = malloc(cap);

	l += (size_t)snprintf(b + l, cap - l, "{\"routes\": [");
	for (size_t i = 0; i < n; i++) {
		char id[64] = "";

		if (with_ids)
			snprintf(id, sizeof(id), "\"id\":\"rt-%08zx\",", i);
		l += (size_t)snprintf(b + l, cap - l,
		                      "%s\n{%s\"destination\":\"10.%zu.%zu.0/24\",\"type\":"
		                      "\"blackhole\",\"metric\":%zu}",
		                      i ? "," : "", id, (i >> 8) & 255, i & 255, i >> 16);
	}
	l += (size_t)snprintf(b + l, cap - l, "]}");
	*len = l;
	return b;
}

static void test_body_limit(void **state)
{
	struct fixture *f = *state;
	size_t len;
	char *doc = routes_doc(30000, true, &len);
	struct reply r;

	/* Far above the 1 MiB every other endpoint takes. */
	assert_true(len > 2 * HTTP_BODY_MAX_DEFAULT);
	request(f, "PUT", "/v1/config", "Bearer " TOKEN, "application/json", doc, len, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(db_count(&r, "routes", "added"), 30000);
	/* Ids are listed up to a bound; the counts are exact. */
	assert_true(json_is_true(json_object_get(
	    json_object_get(json_object_get(r.json, "plan"), "database"), "ids_truncated")));
	reply_free(&r);
	/* Again: nothing changes. */
	request(f, "PUT", "/v1/config", "Bearer " TOKEN, "application/json", doc, len, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(plan_is_noop(&r));
	reply_free(&r);
	{
		char *text = get_config(f);
		json_t *j = json_loads(text, 0, NULL);

		assert_int_equal(json_array_size(part(j, "routes")), 30000);
		json_decref(j);
		free(text);
	}
	request(f, "POST", "/v1/routes", "Bearer " TOKEN, "application/json", doc, len, NULL, &r);
	assert_int_equal(r.status, 413);
	reply_free(&r);
	free(doc);
}

/*
 * A PUT gives the pages of its text back as its items are parsed: a
 * malformed item past them (in the routes, or in a later part) is still
 * named at the line and column of the whole text, as api_config_parse (which
 * keeps its text) counts them.
 */
static void test_released_text(void **state)
{
	static const char *const tails[] = {
	    "], \"security_group_rules\": [{\"direction\": \"ingress\",}]}",
	    ",\n{\"destination\": \"10.0.0.0/8\" \"type\"}]}",
	    ",  {\"destination\": ]}",
	};
	struct fixture *f = *state;

	for (size_t t = 0; t < sizeof(tails) / sizeof(tails[0]); t++) {
		size_t len, tl = strlen(tails[t]);
		char *doc = routes_doc(40000, false, &len), *text;
		struct store_config c = {0};
		struct vr_err e = {0};
		struct reply r;

		/* Far more than the 1 MiB given back at a time. */
		assert_true(len > 2 * 1024 * 1024);
		len -= 2; /* the closing "]}" */
		text = realloc(doc, len + tl + 1);
		assert_non_null(text);
		memcpy(text + len, tails[t], tl + 1);
		len += tl;
		assert_int_equal(api_config_parse(text, len, &c, &e), -1);
		store_config_clear(&c);
		assert_non_null(strstr(e.msg, "malformed JSON at line 4000"));
		request(f, "PUT", "/v1/config", "Bearer " TOKEN, "application/json", text, len,
		        NULL, &r);
		assert_int_equal(r.status, 400);
		assert_string_equal(jstr(r.json, "detail", NULL), e.msg);
		reply_free(&r);
		free(text);
	}
}

/*
 * A PUT announcing one byte more than 256 MiB is refused before its body
 * is read (the bound README.md and openapi.yaml give; 1,000,000 routes are
 * some 157 MB).
 */
static void test_body_bound(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(f->port)};
	char head[512], buf[4096];
	size_t len = 0;
	ssize_t n;
	int fd;

	assert_int_equal(API_CONFIG_BODY_MAX, 268435456u);
	snprintf(head, sizeof(head),
	         "PUT /v1/config HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: "
	         "Bearer " TOKEN "\r\nContent-Type: application/json\r\nContent-Length: "
	         "%u\r\n\r\n",
	         API_CONFIG_BODY_MAX + 1);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(write(fd, head, strlen(head)), (ssize_t)strlen(head));
	while (len + 1 < sizeof(buf) && (n = read(fd, buf + len, sizeof(buf) - len - 1)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	assert_non_null(strstr(buf, "HTTP/1.1 413"));
	assert_non_null(strstr(buf, "request body of 268435457 bytes exceeds the limit of "
	                            "268435456 bytes"));
}

/* ---- the kernel part of a dry run, against a fake kernel ---- */

static int fake_link_index(void *ctx, const char *name)
{
	return !strcmp(name, "eth0") ? 2 : 0;
}

static int fake_route_dump(void *ctx, struct kroute **out, size_t *n)
{
	struct kroute *v = calloc(2, sizeof(*v));

	/* Owned now: 10.1.0.0/16 via 192.168.150.3 (kept) and 10.8.0.0/16 (to go). */
	v[0].table = 254;
	v[0].type = RTN_UNICAST;
	assert_int_equal(cidr_parse_prefix("10.1.0.0/16", false, &v[0].dst), 0);
	assert_int_equal(cidr_parse_addr("192.168.150.3", &v[0].via), 0);
	v[0].oif = 2;
	v[1] = v[0];
	assert_int_equal(cidr_parse_prefix("10.8.0.0/16", false, &v[1].dst), 0);
	*out = v;
	*n = 2;
	return 0;
}

static int fake_empty_addrs(void *ctx, struct kaddr **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	return 0;
}

static int fake_empty_rules(void *ctx, struct krule **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	return 0;
}

static int fake_forwarding(void *ctx, bool *v4, bool *v6)
{
	*v4 = false;
	*v6 = false;
	return 0;
}

static int fake_links(void *ctx, struct klink **out, size_t *n);
static bool fake_with_links; /* the fake kernel lists links (else it has no links_list) */

static int fake_query(void *ctx, int (*fn)(const struct kernel_ops *k, void *arg), void *arg)
{
	struct kernel_ops k = {
	    .link_index = fake_link_index,
	    .route_dump = fake_route_dump,
	    .addr_dump = fake_empty_addrs,
	    .rule_dump = fake_empty_rules,
	    .forwarding_get = fake_forwarding,
	    .links_list = fake_with_links ? fake_links : NULL,
	};

	return fn(&k, arg);
}

static json_t *kpart(const struct reply *r, const char *what)
{
	return json_object_get(json_object_get(json_object_get(r->json, "plan"), "kernel"), what);
}

static void test_kernel_plan(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	json_t *routes, *items;
	char *before = get_config(f), *after;

	f->app.kernel_query = fake_query;
	put(f, "/v1/config?dry_run=true", DOC, 200, &r);
	routes = kpart(&r, "routes");
	assert_non_null(routes);
	/* rt-01 is there already; rt-02 is new; the IPv6 route's device is eth0 (exists). */
	assert_int_equal(json_integer_value(json_object_get(routes, "add")), 2);
	assert_int_equal(json_integer_value(json_object_get(routes, "remove")), 1);
	assert_int_equal(json_integer_value(json_object_get(routes, "change")), 0);
	assert_int_equal(json_integer_value(json_object_get(routes, "fail")), 0);
	items = json_object_get(routes, "items");
	assert_int_equal(json_array_size(items), 3);
	{
		bool saw_remove = false, saw_blackhole = false;
		size_t i;
		json_t *it;

		json_array_foreach(items, i, it)
		{
			const char *what = jstr(it, "what", NULL);

			if (!strcmp(jstr(it, "op", NULL), "remove")) {
				saw_remove = !strncmp(what, "10.8.0.0/16 via 192.168.150.3", 29);
				assert_null(json_object_get(it, "id"));
			}
			if (strstr(what, "blackhole 0.0.0.0/0 table 100 metric 5")) {
				saw_blackhole = true;
				assert_string_equal(jstr(it, "id", NULL), "rt-02");
			}
		}
		assert_true(saw_remove);
		assert_true(saw_blackhole);
	}
	assert_int_equal(json_integer_value(json_object_get(kpart(&r, "addresses"), "add")), 1);
	/* The association: its lookup rule and the unreachable rule right after it. */
	assert_int_equal(json_integer_value(json_object_get(kpart(&r, "rules"), "add")), 2);
	{
		json_t *ri = json_object_get(kpart(&r, "rules"), "items");
		bool saw_lookup = false, saw_unreachable = false;
		size_t i;
		json_t *it;

		json_array_foreach(ri, i, it)
		{
			const char *what = jstr(it, "what", NULL);

			assert_string_equal(jstr(it, "id", NULL), "subnet-01");
			saw_lookup |=
			    !strcmp(what, "ipv4 from 192.168.150.0/24 lookup 100 priority 20000");
			saw_unreachable |=
			    !strcmp(what, "ipv4 from 192.168.150.0/24 unreachable priority 20001");
		}
		assert_true(saw_lookup);
		assert_true(saw_unreachable);
	}
	assert_string_equal(jstr(kpart(&r, "nftables"), "action", NULL), "create");
	assert_true(json_integer_value(json_object_get(kpart(&r, "nftables"), "messages")) > 0);
	assert_true(json_is_false(json_object_get(kpart(&r, "forwarding"), "managed")));
	reply_free(&r);
	after = get_config(f);
	assert_string_equal(before, after);
	free(before);
	free(after);

	/* After the real PUT, a dry run of its GET changes nothing and leaves nftables alone. */
	put(f, "/v1/config", DOC, 200, &r);
	reply_free(&r);
	before = get_config(f);
	put(f, "/v1/config?dry_run=true", before, 200, &r);
	free(before);
	assert_true(plan_is_noop(&r));
	assert_string_equal(jstr(kpart(&r, "nftables"), "action", NULL), "none");
	reply_free(&r);
	/* A device that does not exist: the route would fail. */
	put(f, "/v1/config?dry_run=true",
	    "{\"routes\": [{\"destination\":\"10.7.0.0/16\",\"dev\":\"nope0\"}], \"settings\": "
	    "{\"forwarding\": {\"ipv4\": true, \"ipv6\": false}}}",
	    200, &r);
	assert_int_equal(json_integer_value(json_object_get(kpart(&r, "routes"), "fail")), 1);
	assert_int_equal(json_integer_value(json_object_get(kpart(&r, "routes"), "remove")), 2);
	assert_string_equal(jstr(kpart(&r, "nftables"), "action", NULL), "remove");
	assert_true(json_is_true(
	    json_object_get(json_object_get(kpart(&r, "forwarding"), "ipv4"), "then")));
	reply_free(&r);
	f->app.kernel_query = NULL;
}

/* eth0 (2), up, holding two addresses vrouter did not make. */
static int fake_links(void *ctx, struct klink **out, size_t *n)
{
	struct klink *l = calloc(1, sizeof(*l));

	l->ifindex = 2;
	l->up = true;
	snprintf(l->name, sizeof(l->name), "eth0");
	l->addrs = calloc(2, sizeof(*l->addrs));
	assert_int_equal(cidr_parse_prefix("10.0.9.1/24", true, &l->addrs[0]), -EDOM);
	assert_int_equal(cidr_parse_prefix("172.16.5.1/24", true, &l->addrs[1]), -EDOM);
	l->naddrs = 2;
	*out = l;
	*n = 1;
	return 0;
}

/*
 * The item of a kernel part whose words start with head and end with tail
 * (a device's name in between is the host's: the test runs outside a
 * namespace); NULL if none.
 */
static json_t *kitem(const struct reply *r, const char *part, const char *head, const char *tail)
{
	size_t i;
	json_t *it;

	json_array_foreach(json_object_get(kpart(r, part), "items"), i, it)
	{
		const char *w = jstr(it, "what", NULL);
		size_t lw = strlen(w), lt = strlen(tail);

		if (!strncmp(w, head, strlen(head)) && lw >= lt && !strcmp(w + lw - lt, tail))
			return it;
	}
	return NULL;
}

/*
 * Associations in a dry run, as the reconciler applies them: a subnet whose
 * address someone else holds would fail and gets nothing; the other gets its
 * two rules, and its table the copies of every connected network as they
 * would be once its address is on the link.
 */
static void test_kernel_plan_assoc(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	f->app.kernel_query = fake_query;
	fake_with_links = true;
	put(f, "/v1/config?dry_run=true",
	    "{\"route_tables\":[{\"id\":\"rtb-0a\",\"name\":\"blue\",\"table\":100}],"
	    "\"subnets\":["
	    "{\"id\":\"subnet-01\",\"name\":\"lan\",\"cidr\":\"192.168.150.0/24\","
	    "\"interface\":\"eth0\",\"router_ip\":\"192.168.150.1\",\"route_table_id\":\"rtb-0a\"},"
	    "{\"id\":\"subnet-02\",\"name\":\"held\",\"cidr\":\"172.16.5.0/24\","
	    "\"interface\":\"eth0\",\"router_ip\":\"172.16.5.1\",\"route_table_id\":\"rtb-0a\"}]}",
	    200, &r);
	assert_int_equal(json_integer_value(json_object_get(kpart(&r, "addresses"), "add")), 1);
	assert_int_equal(json_integer_value(json_object_get(kpart(&r, "addresses"), "fail")), 1);
	{
		size_t i;
		json_t *it;

		json_array_foreach(json_object_get(kpart(&r, "addresses"), "items"), i, it)
		{
			if (strcmp(jstr(it, "op", NULL), "fail"))
				continue;
			assert_string_equal(jstr(it, "id", NULL), "subnet-02");
			assert_non_null(
			    strstr(jstr(it, "what", NULL), "already holds 172.16.5.1/24"));
		}
	}
	assert_int_equal(json_integer_value(json_object_get(kpart(&r, "rules"), "add")), 2);
	assert_non_null(
	    kitem(&r, "rules", "ipv4 from 192.168.150.0/24 lookup 100 priority 20000", ""));
	assert_non_null(
	    kitem(&r, "rules", "ipv4 from 192.168.150.0/24 unreachable priority 20001", ""));
	/* Three copies (the owned-to-be 192.168.150.0/24, the two foreign networks); the two
	 * routes vrouter owns in main now would go. */
	assert_int_equal(json_integer_value(json_object_get(kpart(&r, "routes"), "add")), 3);
	assert_int_equal(json_integer_value(json_object_get(kpart(&r, "routes"), "remove")), 2);
	assert_string_equal(
	    jstr(kitem(&r, "routes", "192.168.150.0/24 dev ", " table 100 metric 4294967295"), "id",
	         NULL),
	    "subnet-01");
	assert_non_null(kitem(&r, "routes", "10.0.9.0/24 dev ", " table 100 metric 4294967295"));
	assert_non_null(kitem(&r, "routes", "172.16.5.0/24 dev ", " table 100 metric 4294967295"));
	reply_free(&r);
	fake_with_links = false;
	f->app.kernel_query = NULL;
}

/*
 * The first replace after the store opened must defer foreign keys like any
 * later one: renumbering a table that a route uses rewrites the table's row
 * while the route still points at it.
 */
static void test_first_replace_defers_fks(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	put(f, "/v1/config",
	    "{\"route_tables\":[{\"id\":\"rtb-0a\",\"name\":\"blue\",\"table\":100}],"
	    "\"routes\":[{\"id\":\"rt-01\",\"route_table_id\":\"rtb-0a\","
	    "\"destination\":\"10.1.0.0/16\",\"type\":\"blackhole\"}]}",
	    200, &r);
	reply_free(&r);
	/* A fresh store handle, as after a restart: its first replaces (a dry run, then the
	 * real one) rename and renumber the table. */
	pthread_mutex_lock(&f->app.store_lock);
	store_close(f->app.store);
	{
		struct vr_err e = {0};

		assert_int_equal(store_open(f->db, &f->app.store, &e), 0);
	}
	pthread_mutex_unlock(&f->app.store_lock);
	/* Any commit on the new handle first (it turns deferred foreign keys off). */
	call(f, "POST", "/v1/route-tables", "{\"name\":\"other\"}", &r);
	assert_int_equal(r.status, 201);
	reply_free(&r);
	put(f, "/v1/config?dry_run=true",
	    "{\"route_tables\":[{\"id\":\"rtb-0a\",\"name\":\"green\",\"table\":100}],"
	    "\"routes\":[{\"id\":\"rt-01\",\"route_table_id\":\"rtb-0a\","
	    "\"destination\":\"10.1.0.0/16\",\"type\":\"blackhole\"}]}",
	    200, &r);
	assert_int_equal(db_count(&r, "route_tables", "changed"), 1);
	reply_free(&r);
	put(f, "/v1/config",
	    "{\"route_tables\":[{\"id\":\"rtb-0a\",\"name\":\"green\",\"table\":100}],"
	    "\"routes\":[{\"id\":\"rt-01\",\"route_table_id\":\"rtb-0a\","
	    "\"destination\":\"10.1.0.0/16\",\"type\":\"blackhole\"}]}",
	    200, &r);
	assert_int_equal(db_count(&r, "route_tables", "changed"), 1);
	reply_free(&r);
}

/*
 * A state of several pages (GET reads 512 objects at a time): the document is
 * streamed (chunked), whole, in id order, the same twice, and its own PUT a
 * no-op; its ETag answers If-None-Match with a 304 without a body, and HEAD
 * with the headers alone.
 */
static void test_stream_pages(void **state)
{
	struct fixture *f = *state;
	enum { N = 1300 };
	size_t cap = N * 64 + 64, len = 0;
	char *doc = malloc(cap), *text, *text2, etag[64], hdr[96];
	const char *prev = "", *tag;
	struct reply r;
	json_t *routes;

	len += (size_t)snprintf(doc + len, cap - len, "{\"routes\": [");
	for (int i = 0; i < N; i++)
		len += (size_t)snprintf(
		    doc + len, cap - len,
		    "%s{\"destination\": \"10.%d.%d.0/24\", \"type\": \"blackhole\"}",
		    i ? ", " : "", i / 256, i % 256);
	snprintf(doc + len, cap - len, "]}");
	put(f, "/v1/config", doc, 200, &r);
	reply_free(&r);
	free(doc);

	call(f, "GET", "/v1/config", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.headers, "Transfer-Encoding: chunked"));
	tag = strstr(r.headers, "ETag: ");
	assert_non_null(tag);
	snprintf(etag, sizeof(etag), "%.*s", (int)strcspn(tag + 6, "\r"), tag + 6);
	assert_non_null(r.json);
	routes = part(r.json, "routes");
	assert_int_equal(json_array_size(routes), N);
	for (size_t i = 0; i < N; i++) {
		const char *id = jstr(json_array_get(routes, i), "id", NULL);

		assert_non_null(id);
		assert_true(strcmp(prev, id) < 0);
		prev = id;
	}
	assert_int_equal(json_array_size(part(r.json, "route_tables")), 1);
	assert_int_equal(json_array_size(part(r.json, "subnets")), 0);
	text = strdup(r.body);
	reply_free(&r);
	assert_true(strlen(text) > 5 && !strcmp(text + strlen(text) - 5, "[]\n}\n"));
	text2 = get_config(f);
	assert_string_equal(text, text2);
	put(f, "/v1/config", text, 200, &r);
	assert_true(plan_is_noop(&r));
	reply_free(&r);

	snprintf(hdr, sizeof(hdr), "If-None-Match: %s\r\n", etag);
	request(f, "GET", "/v1/config", "Bearer " TOKEN, NULL, NULL, 0, hdr, &r);
	assert_int_equal(r.status, 304);
	assert_string_equal(r.body, "");
	reply_free(&r);
	request(f, "HEAD", "/v1/config", "Bearer " TOKEN, NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.headers, etag));
	assert_string_equal(r.body, "");
	reply_free(&r);
	/* The snapshots ended: a write goes through. */
	put(f, "/v1/config", "{\"routes\": []}", 200, &r);
	reply_free(&r);
	free(text);
	free(text2);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, http_fixture_setup, http_fixture_teardown)
	const struct CMUnitTest tests[] = {
	    T(test_fresh),
	    T(test_roundtrip),
	    T(test_dry_run),
	    T(test_invalid),
	    T(test_ids_and_changes),
	    T(test_settings_and_main),
	    T(test_body_limit),
	    T(test_released_text),
	    T(test_body_bound),
	    T(test_kernel_plan),
	    T(test_first_replace_defers_fks),
	    T(test_kernel_plan_assoc),
	    T(test_stream_pages),
	};
#undef T
	/* A 413 may close the connection while the client is still sending. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
