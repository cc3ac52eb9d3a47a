/*
 * The edges of the API through the in-process server: explicit nulls, table 0,
 * cursors, the multipath conflict, addresses the kernel would never match.
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

#include "http_client.h"

/* POST body to path expecting status and the problem's field (NULL: not checked). */
static void expect_problem(struct fixture *f, const char *method, const char *path,
                           const char *body, int status, const char *field)
{
	struct reply r;

	call(f, method, path, body, &r);
	if (r.status != status || (field && (!err_field(&r) || strcmp(err_field(&r), field))))
		fail_msg("%s %s %s -> %d %s, want %d naming %s", method, path, body ? body : "",
		         r.status, r.body, status, field ? field : "-");
	assert_non_null(strstr(r.headers, "Content-Type: application/problem+json"));
	reply_free(&r);
}

/* An explicit null is the field's default, for every optional field of every resource. */
static void test_null_means_default(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	char path[128], body[512];
	char *sg;

	call(f, "POST", "/v1/routes",
	     "{\"id\":null,\"route_table_id\":null,\"destination\":\"10.1.0.0/16\",\"type\":null,"
	     "\"via\":null,\"dev\":\"eth0\",\"metric\":null,\"description\":null}",
	     &r);
	assert_int_equal(r.status, 201);
	assert_string_equal(jstr(r.json, "route_table_id", NULL), "rtb-main");
	assert_string_equal(jstr(r.json, "type", NULL), "unicast");
	assert_null(json_object_get(r.json, "via"));
	assert_int_equal(json_integer_value(json_object_get(r.json, "metric")), 0);
	assert_string_equal(jstr(r.json, "description", NULL), "");
	snprintf(path, sizeof(path), "/v1/routes/%s", jstr(r.json, "id", NULL));
	reply_free(&r);
	/* On PUT too, "id": null included: the path names the object. */
	call(f, "PUT", path,
	     "{\"id\":null,\"destination\":\"10.1.0.0/16\",\"dev\":\"eth1\",\"metric\":null,"
	     "\"status\":null,\"created_at\":null}",
	     &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "dev", NULL), "eth1");
	reply_free(&r);

	call(f, "POST", "/v1/route-tables",
	     "{\"name\":\"blue\",\"table\":null,\"description\":null}", &r);
	assert_int_equal(r.status, 201);
	assert_true(json_integer_value(json_object_get(r.json, "table")) >= 10000);
	assert_string_equal(jstr(r.json, "description", NULL), "");
	reply_free(&r);

	call(f, "POST", "/v1/security-groups",
	     "{\"name\":\"web\",\"targets\":null,\"description\":null}", &r);
	assert_int_equal(r.status, 201);
	assert_int_equal(json_array_size(json_object_get(r.json, "targets")), 0);
	sg = strdup(jstr(r.json, "id", NULL));
	reply_free(&r);

	snprintf(body, sizeof(body),
	         "{\"security_group_id\":\"%s\",\"direction\":\"ingress\",\"protocol\":\"tcp\","
	         "\"port_from\":null,\"port_to\":null,\"cidr\":\"10.0.0.0/8\","
	         "\"remote_security_group_id\":null,\"description\":null}",
	         sg);
	call(f, "POST", "/v1/security-group-rules", body, &r);
	assert_int_equal(r.status, 201);
	assert_null(json_object_get(r.json, "port_from"));
	assert_null(json_object_get(r.json, "remote_security_group_id"));
	reply_free(&r);

	call(f, "POST", "/v1/subnets",
	     "{\"name\":\"lan\",\"cidr\":\"192.168.7.0/24\",\"interface\":\"eth1\",\"router_ip\":"
	     "\"192.168.7.1\",\"route_table_id\":null,\"description\":null}",
	     &r);
	assert_int_equal(r.status, 201);
	assert_string_equal(jstr(r.json, "route_table_id", NULL), "rtb-main");
	reply_free(&r);

	/* A required field given as null is missing, and says so. */
	expect_problem(f, "POST", "/v1/routes", "{\"destination\":null,\"dev\":\"eth0\"}", 422,
	               "destination");
	expect_problem(f, "POST", "/v1/security-groups", "{\"name\":null}", 422, "name");
	snprintf(body, sizeof(body),
	         "{\"security_group_id\":\"%s\",\"direction\":null,\"protocol\":\"tcp\","
	         "\"cidr\":\"10.0.0.0/8\"}",
	         sg);
	expect_problem(f, "POST", "/v1/security-group-rules", body, 422, "direction");
	expect_problem(f, "PUT", "/v1/settings", "{\"forwarding\":{\"ipv4\":null,\"ipv6\":true}}",
	               422, "forwarding.ipv4");
	free(sg);
}

/* "table": 0 is no table number: 422 (omit it, or null, to have one assigned). */
static void test_table_zero(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	char path[128];

	expect_problem(f, "POST", "/v1/route-tables", "{\"name\":\"zero\",\"table\":0}", 422,
	               "table");
	assert_int_equal(count_items(f, "/v1/route-tables"), 1);
	call(f, "POST", "/v1/route-tables", "{\"name\":\"blue\",\"table\":500}", &r);
	assert_int_equal(r.status, 201);
	snprintf(path, sizeof(path), "/v1/route-tables/%s", jstr(r.json, "id", NULL));
	reply_free(&r);
	expect_problem(f, "PUT", path, "{\"name\":\"blue\",\"table\":0}", 422, "table");
	/* Omitted on PUT: the table keeps its number. */
	call(f, "PUT", path, "{\"name\":\"blue\"}", &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_integer_value(json_object_get(r.json, "table")), 500);
	reply_free(&r);
}

/* A cursor that no list could have produced is a 400 naming "after". */
static void test_bad_cursor(void **state)
{
	static const char *const lists[] = {"/v1/routes", "/v1/route-tables", "/v1/security-groups",
	                                    "/v1/security-group-rules", "/v1/subnets"};
	static const char *const bad[] = {"garbage", "rt-", "rt-XYZ", "sg-01%20", "rtb-main2"};
	struct fixture *f = *state;
	char path[256];

	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
			snprintf(path, sizeof(path), "%s?after=%s", lists[i], bad[j]);
			expect_problem(f, "GET", path, NULL, 400, "after");
		}
	}
	/* Well-formed ids are cursors, whether or not they exist (any more). */
	expect_status(f, "GET", "/v1/routes?after=rt-ffff", NULL, 200);
	expect_status(f, "GET", "/v1/route-tables?after=rtb-main", NULL, 200);
	expect_status(f, "GET", "/v1/route-tables?after=rtb-00", NULL, 200);
	expect_status(f, "GET", "/v1/security-groups?after=sg-00", NULL, 200);
	expect_status(f, "GET", "/v1/security-group-rules?after=sgr-00", NULL, 200);
	expect_status(f, "GET", "/v1/subnets?after=subnet-00", NULL, 200);
	/* An empty cursor is the first page. */
	expect_status(f, "GET", "/v1/routes?after=", NULL, 200);
}

/* A second next hop for one table, destination and metric: 409 naming the route it meets. */
static void test_multipath_conflict(void **state)
{
	struct fixture *f = *state;
	char *id =
	    post_id(f, "/v1/routes",
	            "{\"destination\":\"10.9.0.0/16\",\"via\":\"192.168.1.1\",\"metric\":5}", 201);
	struct reply r;
	const char *d;

	call(f, "POST", "/v1/routes",
	     "{\"destination\":\"10.9.0.0/16\",\"via\":\"192.168.1.2\",\"metric\":5}", &r);
	assert_int_equal(r.status, 409);
	assert_string_equal(err_field(&r), "destination");
	d = jstr(r.json, "detail", NULL);
	assert_non_null(strstr(d, id));
	assert_non_null(strstr(d, "multipath"));
	reply_free(&r);
	free(id);
}

/* What the kernel would never match is refused before it is stored. */
static void test_unmatchable_addresses(void **state)
{
	struct fixture *f = *state;

	expect_problem(f, "POST", "/v1/routes",
	               "{\"destination\":\"2001:db8::/32\",\"via\":\"fe80::1\"}", 422, "via");
	expect_status(f, "POST", "/v1/routes",
	              "{\"destination\":\"2001:db8::/32\",\"via\":\"fe80::1\",\"dev\":\"eth0\"}",
	              201);
	expect_problem(f, "POST", "/v1/security-groups",
	               "{\"name\":\"m\",\"targets\":[\"::ffff:10.0.0.5\"]}", 422, "targets[0]");
	expect_problem(f, "POST", "/v1/routes",
	               "{\"destination\":\"::ffff:10.0.0.0/104\",\"dev\":\"e\"}", 422,
	               "destination");
	assert_int_equal(count_items(f, "/v1/security-groups"), 0);
	assert_int_equal(count_items(f, "/v1/routes"), 1);
}

/* In a whole-state document too: a part given as null is left out, a field as null defaults. */
static void test_config_nulls(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	expect_status(f, "POST", "/v1/routes", "{\"destination\":\"10.1.0.0/16\",\"dev\":\"eth0\"}",
	              201);
	call(f, "PUT", "/v1/config",
	     "{\"route_tables\":null,\"routes\":[{\"destination\":\"10.2.0.0/16\",\"dev\":"
	     "\"eth0\",\"metric\":null,\"description\":null}],\"subnets\":null,"
	     "\"security_groups\":null,\"security_group_rules\":null,\"settings\":null}",
	     &r);
	if (r.status != 200)
		fail_msg("PUT /v1/config -> %d %s", r.status, r.body);
	reply_free(&r);
	call(f, "GET", "/v1/routes", NULL, &r);
	assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
	assert_string_equal(
	    jstr(json_array_get(json_object_get(r.json, "items"), 0), "destination", NULL),
	    "10.2.0.0/16");
	reply_free(&r);
	/* settings: null leaves them as they are (unmanaged). */
	call(f, "GET", "/v1/settings", NULL, &r);
	assert_true(json_is_false(json_object_get(r.json, "managed")));
	reply_free(&r);
	expect_status(f, "PUT", "/v1/config", "{\"routes\":null,\"routes\":[]}", 400);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, http_fixture_setup, http_fixture_teardown)
	    T(test_null_means_default),
	    T(test_table_zero),
	    T(test_bad_cursor),
	    T(test_multipath_conflict),
	    T(test_unmatchable_addresses),
	    T(test_config_nulls),
#undef T
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
