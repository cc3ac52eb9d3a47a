/*
 * The router of route tables, routes, subnets and settings through the API
 * (issue 16): shown and accepted only in fleet mode (app.fleet set), taken
 * from the serving router when a write gives none, ?router= on lists,
 * settings and config, rtb-main as the object's router's main table, status
 * "remote" for another router's objects, and a single router's API as it was.
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

#include "app.h"
#include "http_client.h"

/* method path body, expecting status; the reply stays in *r. */
static void expect(struct fixture *f, const char *method, const char *path, const char *body,
                   int status, struct reply *r)
{
	call(f, method, path, body, r);
	if (r->status != status)
		fail_msg("%s %s -> %d %s, want %d", method, path, r->status, r->body, status);
}

/* The same, for a refusal naming field. */
static void refused(struct fixture *f, const char *method, const char *path, const char *body,
                    int status, const char *field)
{
	struct reply r;

	expect(f, method, path, body, status, &r);
	assert_non_null(err_field(&r));
	assert_string_equal(err_field(&r), field);
	reply_free(&r);
}

/* Fleet mode, serving r1: a struct fleet is only looked at for being there. */
static void fleet_on(struct fixture *f)
{
	f->app.fleet = (struct fleet *)&f->app;
	f->app.router = "r1";
}

/* A single router's answers carry no router, and its API takes none. */
static void test_single_mode(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	expect(f, "POST", "/v1/route-tables", "{\"name\":\"blue\"}", 201, &r);
	assert_null(json_object_get(r.json, "router"));
	reply_free(&r);
	expect(f, "POST", "/v1/routes", "{\"destination\":\"10.1.0.0/16\",\"dev\":\"eth0\"}", 201,
	       &r);
	assert_null(json_object_get(r.json, "router"));
	assert_string_equal(jstr(r.json, "route_table_id", NULL), "rtb-main");
	reply_free(&r);
	call(f, "POST", "/v1/route-tables", "{\"name\":\"green\",\"router\":\"r2\"}", &r);
	assert_true(r.status == 400 || r.status == 422);
	reply_free(&r);
	call(f, "GET", "/v1/routes?router=r1", NULL, &r);
	assert_int_equal(r.status, 400);
	reply_free(&r);
	expect(f, "GET", "/v1/settings", NULL, 200, &r);
	assert_null(json_object_get(r.json, "router"));
	reply_free(&r);
	expect(f, "GET", "/v1/config", NULL, 200, &r);
	assert_null(
	    json_object_get(json_array_get(json_object_get(r.json, "route_tables"), 0), "router"));
	reply_free(&r);
	call(f, "GET", "/v1/config?router=r1", NULL, &r);
	assert_int_equal(r.status, 400);
	reply_free(&r);
	/* Another router's main table is no table id here, as before fleet mode. */
	refused(f, "POST", "/v1/routes",
	        "{\"destination\":\"10.2.0.0/16\",\"dev\":\"eth0\",\"route_table_id\":"
	        "\"rtb-main-r2\"}",
	        422, "route_table_id");
	refused(f, "POST", "/v1/route-tables", "{\"id\":\"rtb-main-r2\",\"name\":\"main\"}", 422,
	        "id");
	refused(f, "PUT", "/v1/config",
	        "{\"subnets\":[{\"name\":\"lan\",\"cidr\":\"10.9.0.0/24\",\"interface\":"
	        "\"eth0\",\"router_ip\":\"10.9.0.1\",\"route_table_id\":\"rtb-main-r2\"}]}",
	        422, "subnets[0].route_table_id");
	assert_int_equal(count_items(f, "/v1/route-tables"), 2);
}

/* Writes take the serving router unless they name one; lists filter by ?router=. */
static void test_fleet_objects(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	char blue2[64], body[256], rt2[64];

	fleet_on(f);
	expect(f, "POST", "/v1/route-tables", "{\"name\":\"blue\",\"table\":100}", 201, &r);
	assert_string_equal(jstr(r.json, "router", NULL), "r1");
	reply_free(&r);
	expect(f, "POST", "/v1/route-tables", "{\"name\":\"blue\",\"table\":100,\"router\":\"r2\"}",
	       201, &r);
	assert_string_equal(jstr(r.json, "router", NULL), "r2");
	snprintf(blue2, sizeof(blue2), "%s", jstr(r.json, "id", NULL));
	reply_free(&r);
	refused(f, "POST", "/v1/route-tables", "{\"name\":\"blue\",\"router\":\"r1\"}", 409,
	        "name");
	refused(f, "POST", "/v1/route-tables", "{\"name\":\"x\",\"router\":\"R!\"}", 422, "router");
	refused(f, "POST", "/v1/route-tables", "{\"name\":\"x\",\"router\":7}", 422, "router");
	expect(f, "POST", "/v1/route-tables", "{\"name\":\"x\",\"router\":null}", 201, &r);
	assert_string_equal(jstr(r.json, "router", NULL), "r1");
	reply_free(&r);

	/* rtb-main with router r2 is r2's main table; the status is r2's to report. */
	expect(f, "POST", "/v1/routes",
	       "{\"destination\":\"10.1.0.0/16\",\"dev\":\"eth0\",\"router\":\"r2\"}", 201, &r);
	assert_string_equal(jstr(r.json, "route_table_id", NULL), "rtb-main-r2");
	assert_string_equal(jstr(r.json, "router", NULL), "r2");
	assert_string_equal(jstr(r.json, "status", "state"), "remote");
	snprintf(rt2, sizeof(rt2), "%s", jstr(r.json, "id", NULL));
	reply_free(&r);
	expect(f, "POST", "/v1/routes", "{\"destination\":\"10.2.0.0/16\",\"dev\":\"eth0\"}", 201,
	       &r);
	assert_string_equal(jstr(r.json, "route_table_id", NULL), "rtb-main-r1");
	assert_string_equal(jstr(r.json, "router", NULL), "r1");
	assert_string_equal(jstr(r.json, "status", "state"), "pending");
	reply_free(&r);
	/* Another router's table: the route is that router's, and naming another is refused. */
	snprintf(body, sizeof(body),
	         "{\"destination\":\"10.3.0.0/16\",\"dev\":\"eth0\",\"route_table_id\":\"%s\"}",
	         blue2);
	expect(f, "POST", "/v1/routes", body, 201, &r);
	assert_string_equal(jstr(r.json, "router", NULL), "r2");
	reply_free(&r);
	snprintf(body, sizeof(body),
	         "{\"destination\":\"10.4.0.0/16\",\"dev\":\"eth0\",\"route_table_id\":\"%s\","
	         "\"router\":\"r1\"}",
	         blue2);
	refused(f, "POST", "/v1/routes", body, 422, "router");
	refused(f, "POST", "/v1/subnets",
	        "{\"name\":\"lan\",\"cidr\":\"10.9.0.0/24\",\"interface\":\"eth0\",\"router_ip\":"
	        "\"10.9.0.1\",\"route_table_id\":\"rtb-main-r2\",\"router\":\"r1\"}",
	        422, "router");

	assert_int_equal(count_items(f, "/v1/routes?router=r2"), 2);
	assert_int_equal(count_items(f, "/v1/routes?router=r1"), 1);
	assert_int_equal(count_items(f, "/v1/routes"), 3);
	assert_int_equal(count_items(f, "/v1/route-tables?router=r2"), 2);
	assert_int_equal(count_items(f, "/v1/route-tables?router=r9"), 0);
	refused(f, "GET", "/v1/routes?router=Bad", NULL, 422, "router");

	/* A replace without a router keeps the object's: rtb-main is still r2's main. */
	snprintf(body, sizeof(body), "/v1/routes/%s", rt2);
	expect(f, "PUT", body, "{\"destination\":\"10.1.0.0/16\",\"dev\":\"eth1\"}", 200, &r);
	assert_string_equal(jstr(r.json, "route_table_id", NULL), "rtb-main-r2");
	assert_string_equal(jstr(r.json, "router", NULL), "r2");
	reply_free(&r);
	expect(f, "GET", body, NULL, 200, &r);
	assert_string_equal(jstr(r.json, "dev", NULL), "eth1");
	assert_string_equal(jstr(r.json, "status", "state"), "remote");
	reply_free(&r);
}

/* Settings per router: ?router=, default the serving router's. */
static void test_fleet_settings(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	fleet_on(f);
	expect(f, "PUT", "/v1/settings?router=r2",
	       "{\"forwarding\":{\"ipv4\":true,\"ipv6\":false}}", 200, &r);
	assert_string_equal(jstr(r.json, "router", NULL), "r2");
	assert_string_equal(jstr(r.json, "status", "state"), "remote");
	assert_string_equal(jstr(r.json, "status", "reason"), "applied by router r2");
	reply_free(&r);
	expect(f, "GET", "/v1/settings", NULL, 200, &r);
	assert_string_equal(jstr(r.json, "router", NULL), "r1");
	assert_false(json_is_true(json_object_get(r.json, "managed")));
	reply_free(&r);
	expect(f, "GET", "/v1/settings?router=r2", NULL, 200, &r);
	assert_true(json_is_true(json_object_get(r.json, "managed")));
	assert_true(json_is_true(json_object_get(json_object_get(r.json, "forwarding"), "ipv4")));
	reply_free(&r);
	refused(f, "GET", "/v1/settings?router=-x", NULL, 422, "router");
	refused(f, "PUT", "/v1/settings?router=r2",
	        "{\"router\":\"r3\",\"forwarding\":{\"ipv4\":true,\"ipv6\":false}}", 422, "router");
	expect(f, "PUT", "/v1/settings", "{\"forwarding\":{\"ipv4\":false,\"ipv6\":true}}", 200,
	       &r);
	assert_string_equal(jstr(r.json, "router", NULL), "r1");
	reply_free(&r);
	expect(f, "GET", "/v1/settings?router=r2", NULL, 200, &r);
	assert_false(json_is_true(json_object_get(json_object_get(r.json, "forwarding"), "ipv6")));
	reply_free(&r);
}

/* GET/PUT /v1/config?router=N: N's objects and settings with the fleet's groups. */
static void test_fleet_config(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	json_t *tables;

	fleet_on(f);
	expect(f, "POST", "/v1/route-tables", "{\"name\":\"blue\"}", 201, &r);
	reply_free(&r);
	expect(f, "POST", "/v1/routes", "{\"destination\":\"10.2.0.0/16\",\"dev\":\"eth0\"}", 201,
	       &r);
	reply_free(&r);
	expect(f, "POST", "/v1/security-groups", "{\"name\":\"web\"}", 201, &r);
	reply_free(&r);

	/* r2's document, written through r1: rtb-main is r2's main table. */
	expect(f, "PUT", "/v1/config?router=r2",
	       "{\"route_tables\":[{\"id\":\"rtb-0b\",\"name\":\"blue\"}],"
	       "\"routes\":[{\"destination\":\"10.1.0.0/16\",\"dev\":\"eth0\"},"
	       "{\"destination\":\"10.5.0.0/16\",\"dev\":\"eth0\",\"route_table_id\":\"rtb-0b\"}],"
	       "\"security_groups\":[{\"name\":\"web\"}],"
	       "\"settings\":{\"forwarding\":{\"ipv4\":true,\"ipv6\":true}}}",
	       200, &r);
	reply_free(&r);
	assert_int_equal(count_items(f, "/v1/routes?router=r2"), 2);
	assert_int_equal(count_items(f, "/v1/routes?router=r1"), 1);
	assert_int_equal(count_items(f, "/v1/route-tables?router=r1"), 2);
	expect(f, "GET", "/v1/settings", NULL, 200, &r);
	assert_false(json_is_true(json_object_get(r.json, "managed")));
	reply_free(&r);

	expect(f, "GET", "/v1/config?router=r2", NULL, 200, &r);
	tables = json_object_get(r.json, "route_tables");
	assert_int_equal(json_array_size(tables), 2); /* rtb-0b and rtb-main-r2 */
	assert_string_equal(jstr(json_array_get(tables, 0), "router", NULL), "r2");
	assert_int_equal(json_array_size(json_object_get(r.json, "routes")), 2);
	assert_int_equal(json_array_size(json_object_get(r.json, "security_groups")), 1);
	assert_true(json_is_true(json_object_get(
	    json_object_get(json_object_get(r.json, "settings"), "forwarding"), "ipv4")));
	reply_free(&r);
	refused(f, "GET", "/v1/config?router=R", NULL, 422, "router");

	/* An item of another router is refused whole; nothing changes. */
	refused(f, "PUT", "/v1/config?router=r2",
	        "{\"route_tables\":[{\"name\":\"x\",\"router\":\"r1\"}]}", 422,
	        "route_tables[0].router");
	assert_int_equal(count_items(f, "/v1/routes?router=r2"), 2);

	/* An empty document for r2 empties r2 (its main table stays) and leaves r1. */
	expect(f, "PUT", "/v1/config?router=r2", "{}", 200, &r);
	reply_free(&r);
	assert_int_equal(count_items(f, "/v1/routes?router=r2"), 0);
	assert_int_equal(count_items(f, "/v1/route-tables?router=r2"), 1);
	assert_int_equal(count_items(f, "/v1/routes?router=r1"), 1);
	assert_int_equal(count_items(f, "/v1/route-tables?router=r1"), 2);
	/* The groups are the fleet's: an empty document drops them, for every router. */
	assert_int_equal(count_items(f, "/v1/security-groups"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_single_mode, http_fixture_setup,
	                                    http_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_fleet_objects, http_fixture_setup,
	                                    http_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_fleet_settings, http_fixture_setup,
	                                    http_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_fleet_config, http_fixture_setup,
	                                    http_fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
