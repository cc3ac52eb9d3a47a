/*
 * /v1/security-groups and /v1/security-group-rules through the in-process
 * server (tests/unit/http_client.c): status codes, echoes as written, and
 * that a refused request stores nothing.
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

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static void test_sg_lifecycle(void **state)
{
	struct fixture *f = *state;
	struct reply r, r2;
	char path[128], etag[64], hdr[128];
	json_t *targets;
	char *id, *again;

	call(f, "POST", "/v1/security-groups",
	     "{\"name\":\"web\",\"description\":\"web servers\","
	     "\"targets\":[\"192.168.100.2\",\"192.168.100.0/24\",\"local\",\"2001:DB8::/64\"]}",
	     &r);
	assert_int_equal(r.status, 201);
	assert_non_null(strstr(r.headers, "Location: /v1/security-groups/sg-"));
	assert_non_null(strstr(r.headers, "ETag: \""));
	id = strdup(jstr(r.json, "id", NULL));
	assert_string_equal(jstr(r.json, "name", NULL), "web");
	assert_string_equal(jstr(r.json, "description", NULL), "web servers");
	/* Targets as written, in the order given. */
	targets = json_object_get(r.json, "targets");
	assert_int_equal(json_array_size(targets), 4);
	assert_string_equal(json_string_value(json_array_get(targets, 0)), "192.168.100.2");
	assert_string_equal(json_string_value(json_array_get(targets, 2)), "local");
	assert_string_equal(json_string_value(json_array_get(targets, 3)), "2001:DB8::/64");
	assert_string_equal(jstr(r.json, "status", "state"), "pending");
	assert_non_null(jstr(r.json, "created_at", NULL));
	assert_non_null(jstr(r.json, "updated_at", NULL));
	reply_free(&r);

	snprintf(path, sizeof(path), "/v1/security-groups/%s", id);
	call(f, "GET", path, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(sscanf(strstr(r.headers, "ETag: "), "ETag: %63s", etag) == 1);
	/* A GET's output can be sent back as is: it changes nothing, not even the ETag. */
	expect_put_unchanged(f, path, &r);
	json_object_set_new(r.json, "description", json_string("moved"));
	again = json_dumps(r.json, 0);
	call(f, "PUT", path, again, &r2);
	assert_int_equal(r2.status, 200);
	assert_int_equal(json_array_size(json_object_get(r2.json, "targets")), 4);
	reply_free(&r2);
	free(again);
	reply_free(&r);

	/* The PUT that changed something changed the ETag. */
	snprintf(hdr, sizeof(hdr), "If-Match: %s\r\n", etag);
	request(f, "PUT", path, "Bearer " TOKEN, "application/json", "{\"name\":\"web\"}",
	        strlen("{\"name\":\"web\"}"), hdr, &r);
	assert_int_equal(r.status, 412);
	reply_free(&r);
	request(f, "DELETE", path, "Bearer " TOKEN, NULL, NULL, 0, hdr, &r);
	assert_int_equal(r.status, 412);
	reply_free(&r);

	/* PUT replaces: targets not sent are gone, the description back to "". */
	call(f, "PUT", path, "{\"name\":\"web2\",\"targets\":[]}", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "name", NULL), "web2");
	assert_string_equal(jstr(r.json, "description", NULL), "");
	assert_int_equal(json_array_size(json_object_get(r.json, "targets")), 0);
	reply_free(&r);
	call(f, "PUT", path, "{\"name\":\"web2\"}", &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_array(json_object_get(r.json, "targets")));
	reply_free(&r);
	expect_status(f, "PUT", path, "{\"id\":\"sg-1\",\"name\":\"x\"}", 422);
	expect_status(f, "PUT", "/v1/security-groups/sg-dead", "{\"name\":\"x\"}", 404);

	expect_status(f, "DELETE", path, NULL, 204);
	expect_status(f, "DELETE", path, NULL, 404);
	expect_status(f, "GET", path, NULL, 404);
	expect_status(f, "PATCH", "/v1/security-groups", NULL, 405);
	free(id);
}

struct bad_case {
	const char *body;
	int status;
	const char *field; /* NULL: no field */
};

static void check_cases(struct fixture *f, const char *path, const struct bad_case *cases, size_t n)
{
	struct reply r;
	size_t i;

	for (i = 0; i < n; i++) {
		const char *field;

		call(f, "POST", path, cases[i].body, &r);
		field = err_field(&r);
		if (r.status != cases[i].status || (cases[i].field && !field) ||
		    (cases[i].field && strcmp(field, cases[i].field)))
			fail_msg("%s -> %d %s, want %d field %s", cases[i].body, r.status, r.body,
			         cases[i].status, cases[i].field ? cases[i].field : "-");
		assert_non_null(strstr(r.headers, "application/problem+json"));
		assert_non_null(jstr(r.json, "detail", NULL));
		reply_free(&r);
	}
}

static void test_sg_validation(void **state)
{
	struct fixture *f = *state;
	static const struct bad_case cases[] = {
	    {"{\"name\":\"a\",\"targets\":\"10.0.0.1\"}", 422, "targets"},
	    {"{\"name\":\"a\",\"targets\":{\"x\":1}}", 422, "targets"},
	    {"{\"name\":\"a\",\"targets\":true}", 422, "targets"},
	    {"{\"name\":\"a\",\"targets\":[\"local\",\"10.0.0.1\",7]}", 422, "targets[2]"},
	    {"{\"name\":\"a\",\"targets\":[null]}", 422, "targets[0]"},
	    {"{\"name\":\"a\",\"targets\":[\"10.0.0.0/8\",\"10.0.0.1/24\"]}", 422, "targets[1]"},
	    {"{\"name\":\"a\",\"targets\":[\"banana\"]}", 422, "targets[0]"},
	    {"{\"name\":\"a\",\"targets\":[\"\"]}", 422, "targets[0]"},
	    {"{\"name\":\"a\",\"targets\":[\"10.0.0.1\",\"local\",\"10.0.0.1/32\"]}", 422,
	     "targets[2]"},
	    {"{\"name\":\"a\",\"targets\":[\"local\",\"local\"]}", 422, "targets[1]"},
	    {"{\"name\":\"a\",\"targets\":[\"2001:db8::/32000000000000000000000000000000000000000"
	     "00000000000000000000000000000\"]}",
	     422, "targets[0]"},
	    {"{\"targets\":[]}", 422, "name"},
	    {"{\"name\":\"\"}", 422, "name"},
	    {"{\"name\":7}", 422, "name"},
	    {"{\"name\":\"a\\u0001\"}", 422, "name"},
	    {"{\"name\":\"a\",\"id\":\"sgr-01\"}", 422, "id"},
	    {"{\"name\":\"a\",\"id\":\"sg-XYZ\"}", 422, "id"},
	    {"{\"name\":\"a\",\"colour\":\"red\"}", 400, "colour"},
	    {"{\"name\":\"a\",\"description\":5}", 422, "description"},
	    {"[\"name\"]", 400, NULL},
	};
	json_t *body = json_pack("{s:s, s:[]}", "name", "big", "targets");
	json_int_t rev = status_revision(f);
	char *text;
	struct reply r;

	check_cases(f, "/v1/security-groups", cases, N_ELEMS(cases));
	/* More than SG_TARGETS_MAX (256) targets. */
	for (int i = 0; i < 257; i++) {
		char t[32];

		snprintf(t, sizeof(t), "10.1.%d.%d", i / 256, i % 256);
		json_array_append_new(json_object_get(body, "targets"), json_string(t));
	}
	text = json_dumps(body, 0);
	call(f, "POST", "/v1/security-groups", text, &r);
	assert_int_equal(r.status, 422);
	assert_string_equal(err_field(&r), "targets");
	reply_free(&r);
	free(text);
	/* 256 are fine. */
	json_array_remove(json_object_get(body, "targets"), 256);
	text = json_dumps(body, 0);
	free(post_id(f, "/v1/security-groups", text, 201));
	free(text);
	json_decref(body);
	/* Everything above but the last was refused and left nothing behind. */
	assert_int_equal(count_items(f, "/v1/security-groups"), 1);
	assert_int_equal(status_revision(f), rev + 1);
}

static void test_sg_conflicts(void **state)
{
	struct fixture *f = *state;
	const char *body =
	    "{\"id\":\"sg-00aa\",\"name\":\"web\",\"targets\":[\"10.0.0.1\",\"local\"]}";
	struct reply r;
	char *other;

	free(post_id(f, "/v1/security-groups", body, 201));
	/* A retry with the same id and body gets the object back, not a twin. */
	call(f, "POST", "/v1/security-groups", body, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "id", NULL), "sg-00aa");
	assert_int_equal(json_array_size(json_object_get(r.json, "targets")), 2);
	reply_free(&r);
	call(f, "POST", "/v1/security-groups",
	     "{\"id\":\"sg-00aa\",\"name\":\"web\",\"targets\":[\"local\",\"10.0.0.1\"]}", &r);
	assert_int_equal(r.status, 409);
	assert_string_equal(err_field(&r), "id");
	reply_free(&r);
	call(f, "POST", "/v1/security-groups", "{\"name\":\"web\"}", &r);
	assert_int_equal(r.status, 409);
	assert_string_equal(err_field(&r), "name");
	assert_non_null(strstr(jstr(r.json, "detail", NULL), "sg-00aa"));
	reply_free(&r);
	other = post_id(f, "/v1/security-groups", "{\"name\":\"db\"}", 201);
	{
		char path[128];

		snprintf(path, sizeof(path), "/v1/security-groups/%s", other);
		expect_status(f, "PUT", path, "{\"name\":\"web\"}", 409);
	}
	assert_int_equal(count_items(f, "/v1/security-groups"), 2);
	free(other);
}

static void test_rule_lifecycle(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	char body[512], path[128], *rule;
	char *sg =
	    post_id(f, "/v1/security-groups", "{\"name\":\"web\",\"targets\":[\"local\"]}", 201);

	snprintf(body, sizeof(body),
	         "{\"security_group_id\":\"%s\",\"direction\":\"ingress\",\"protocol\":\"tcp\","
	         "\"port_from\":22,\"port_to\":22,\"cidr\":\"192.168.150.0/24\","
	         "\"description\":\"ssh\"}",
	         sg);
	call(f, "POST", "/v1/security-group-rules", body, &r);
	assert_int_equal(r.status, 201);
	assert_non_null(strstr(r.headers, "Location: /v1/security-group-rules/sgr-"));
	rule = strdup(jstr(r.json, "id", NULL));
	assert_string_equal(jstr(r.json, "security_group_id", NULL), sg);
	assert_string_equal(jstr(r.json, "direction", NULL), "ingress");
	assert_string_equal(jstr(r.json, "protocol", NULL), "tcp");
	assert_int_equal(json_integer_value(json_object_get(r.json, "port_from")), 22);
	assert_int_equal(json_integer_value(json_object_get(r.json, "port_to")), 22);
	assert_string_equal(jstr(r.json, "cidr", NULL), "192.168.150.0/24");
	/* The unused peer field is omitted, not null. */
	assert_null(json_object_get(r.json, "remote_security_group_id"));
	assert_string_equal(jstr(r.json, "description", NULL), "ssh");
	assert_string_equal(jstr(r.json, "status", "state"), "pending");
	reply_free(&r);

	/* A GET's output round-trips through PUT. */
	snprintf(path, sizeof(path), "/v1/security-group-rules/%s", rule);
	call(f, "GET", path, NULL, &r);
	assert_int_equal(r.status, 200);
	{
		char *again = json_dumps(r.json, 0);

		expect_status(f, "PUT", path, again, 200);
		free(again);
	}
	reply_free(&r);

	/* PUT to a remote group (itself), all ports: ports and cidr disappear from the echo. */
	snprintf(body, sizeof(body),
	         "{\"security_group_id\":\"%s\",\"direction\":\"egress\",\"protocol\":\"udp\","
	         "\"remote_security_group_id\":\"%s\"}",
	         sg, sg);
	call(f, "PUT", path, body, &r);
	assert_int_equal(r.status, 200);
	assert_null(json_object_get(r.json, "port_from"));
	assert_null(json_object_get(r.json, "port_to"));
	assert_null(json_object_get(r.json, "cidr"));
	assert_string_equal(jstr(r.json, "remote_security_group_id", NULL), sg);
	assert_string_equal(jstr(r.json, "direction", NULL), "egress");
	assert_string_equal(jstr(r.json, "description", NULL), "");
	reply_free(&r);

	/* List, and the filter on the group. */
	snprintf(body, sizeof(body),
	         "{\"security_group_id\":\"%s\",\"direction\":\"ingress\",\"protocol\":\"icmp\","
	         "\"cidr\":\"0.0.0.0/0\"}",
	         sg);
	free(post_id(f, "/v1/security-group-rules", body, 201));
	assert_int_equal(count_items(f, "/v1/security-group-rules"), 2);
	snprintf(path, sizeof(path), "/v1/security-group-rules?security_group_id=%s", sg);
	assert_int_equal(count_items(f, path), 2);
	assert_int_equal(count_items(f, "/v1/security-group-rules?security_group_id=sg-none"), 0);
	/* Only one of the two names the group as its remote. */
	snprintf(path, sizeof(path), "/v1/security-group-rules?remote_security_group_id=%s", sg);
	assert_int_equal(count_items(f, path), 1);
	snprintf(path, sizeof(path),
	         "/v1/security-group-rules?remote_security_group_id=%s&security_group_id=%s", sg,
	         sg);
	assert_int_equal(count_items(f, path), 1);
	snprintf(path, sizeof(path),
	         "/v1/security-group-rules?remote_security_group_id=%s&security_group_id=sg-none",
	         sg);
	assert_int_equal(count_items(f, path), 0);
	assert_int_equal(
	    count_items(f, "/v1/security-group-rules?remote_security_group_id=sg-none"), 0);
	expect_status(f, "GET", "/v1/security-group-rules?route_table_id=rtb-main", NULL, 400);
	call(f, "GET", "/v1/security-group-rules?limit=1", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
	assert_non_null(jstr(r.json, "next", NULL));
	reply_free(&r);

	snprintf(path, sizeof(path), "/v1/security-group-rules/%s", rule);
	expect_status(f, "DELETE", path, NULL, 204);
	expect_status(f, "DELETE", path, NULL, 404);
	expect_status(f, "GET", "/v1/security-group-rules/sgr-0", NULL, 404);
	free(rule);
	free(sg);
}

static void test_rule_validation(void **state)
{
	struct fixture *f = *state;
	/* %1$s: an existing group. */
	static const struct bad_case templates[] = {
	    {"{\"security_group_id\":\"%1$s\",\"protocol\":\"tcp\",\"cidr\":\"10.0.0.0/8\"}", 422,
	     "direction"},
	    {"{\"security_group_id\":\"%1$s\",\"direction\":\"in\",\"protocol\":\"tcp\","
	     "\"cidr\":\"10.0.0.0/8\"}",
	     422, "direction"},
	    {"{\"security_group_id\":\"%1$s\",\"direction\":\"ingress\",\"cidr\":\"10.0.0.0/8\"}",
	     422, "protocol"},
	    {"{\"security_group_id\":\"%1$s\",\"direction\":\"ingress\",\"protocol\":\"sctp\","
	     "\"cidr\":\"10.0.0.0/8\"}",
	     422, "protocol"},
	    {"{\"security_group_id\":\"%1$s\",\"direction\":\"ingress\",\"protocol\":\"icmp\","
	     "\"port_from\":1,\"port_to\":1,\"cidr\":\"10.0.0.0/8\"}",
	     422, "port_from"},
	    {"{\"security_group_id\":\"%1$s\",\"direction\":\"ingress\",\"protocol\":\"all\","
	     "\"port_to\":80,\"cidr\":\"10.0.0.0/8\"}",
	     422, "port_from"},
	    {"{\"security_group_id\":\"%1$s\",\"direction\":\"ingress\",\"protocol\":\"tcp\","
	     "\"port_to\":80,\"cidr\":\"10.0.0.0/8\"}",
	     422, "port_from"},
	    {"{\"security_group_id\":\"%1$s\",\"direction\":\"ingress\",\"protocol\":\"tcp\","
	     "\"port_from\":80,\"cidr\":\"10.0.0.0/8\"}",
	     422, "port_to"},
	    {"{\"security_group_id\":\"%1$s\",\"direction\":\"ingress\",\"protocol\":\"tcp\","
	     "\"port_from\":0,\"port_to\":80,\"cidr\":\"10.0.0.0/8\"}",
	     422, "port_from"},
	    {"{\"security_group_id\":\"%1$s\",\"direction\":\"ingress\",\"protocol\":\"tcp\","
	     "\"port_from\":80,\"port_to\":65536,\"cidr\":\"10.0.0.0/8\"}",
	     422, "port_to"},
	    {"{\"security_group_id\":\"%1$s\",\"direction\":\"ingress\",\"protocol\":\"tcp\","
	     "\"port_from\":-1,\"port_to\":80,\"cidr\":\"10.0.0.0/8\"}",
	     422, "port_from"},
	    {"{\"security_group_id\":\"%1$s\",\"direction\":\"ingress\",\"protocol\":\"tcp\","
	     "\"port_from\":99999999999999,\"port_to\":80,\"cidr\":\"10.0.0.0/8\"}",
	     422, "port_from"},
	    {"{\"security_group_id\":\"%1$s\",\"direction\":\"ingress\",\"protocol\":\"tcp\","
	     "\"port_from\":\"80\",\"port_to\":80,\"cidr\":\"10.0.0.0/8\"}",
	     422, "port_from"},
	    {"{\"security_group_id\":\"%1$s\",\"direction\":\"ingress\",\"protocol\":\"tcp\","
	     "\"port_from\":80.0,\"port_to\":80,\"cidr\":\"10.0.0.0/8\"}",
	     422, "port_from"},
	    {"{\"security_group_id\":\"%1$s\",\"direction\":\"ingress\",\"protocol\":\"tcp\","
	     "\"port_from\":81,\"port_to\":80,\"cidr\":\"10.0.0.0/8\"}",
	     422, "port_from"},
	    {"{\"security_group_id\":\"%1$s\",\"direction\":\"ingress\",\"protocol\":\"tcp\","
	     "\"cidr\":\"10.0.0.0/8\",\"remote_security_group_id\":\"%1$s\"}",
	     422, "cidr"},
	    {"{\"security_group_id\":\"%1$s\",\"direction\":\"ingress\",\"protocol\":\"tcp\"}", 422,
	     "cidr"},
	    {"{\"security_group_id\":\"%1$s\",\"direction\":\"ingress\",\"protocol\":\"tcp\","
	     "\"cidr\":\"\",\"remote_security_group_id\":\"%1$s\"}",
	     422, "cidr"},
	    {"{\"security_group_id\":\"%1$s\",\"direction\":\"ingress\",\"protocol\":\"tcp\","
	     "\"cidr\":\"10.0.0.0/8\",\"remote_security_group_id\":\"\"}",
	     422, "remote_security_group_id"},
	    {"{\"security_group_id\":\"%1$s\",\"direction\":\"ingress\",\"protocol\":\"tcp\","
	     "\"cidr\":\"10.0.0.1/8\"}",
	     422, "cidr"},
	    {"{\"security_group_id\":\"%1$s\",\"direction\":\"ingress\",\"protocol\":\"tcp\","
	     "\"cidr\":\"10.0.0.1\"}",
	     422, "cidr"},
	    {"{\"security_group_id\":\"%1$s\",\"direction\":\"ingress\",\"protocol\":\"icmp\","
	     "\"cidr\":\"::/0\"}",
	     422, "cidr"},
	    {"{\"security_group_id\":\"%1$s\",\"direction\":\"ingress\",\"protocol\":\"icmpv6\","
	     "\"cidr\":\"0.0.0.0/0\"}",
	     422, "cidr"},
	    {"{\"security_group_id\":\"%1$s\",\"direction\":\"ingress\",\"protocol\":\"tcp\","
	     "\"remote_security_group_id\":\"web\"}",
	     422, "remote_security_group_id"},
	    {"{\"security_group_id\":\"%1$s\",\"direction\":\"ingress\",\"protocol\":\"tcp\","
	     "\"remote_security_group_id\":\"sg-dead\"}",
	     422, "remote_security_group_id"},
	    {"{\"security_group_id\":\"sg-dead\",\"direction\":\"ingress\",\"protocol\":\"tcp\","
	     "\"cidr\":\"10.0.0.0/8\"}",
	     422, "security_group_id"},
	    {"{\"direction\":\"ingress\",\"protocol\":\"tcp\",\"cidr\":\"10.0.0.0/8\"}", 422,
	     "security_group_id"},
	    {"{\"security_group_id\":\"%1$s\",\"id\":\"sg-01\",\"direction\":\"ingress\","
	     "\"protocol\":\"tcp\",\"cidr\":\"10.0.0.0/8\"}",
	     422, "id"},
	    {"{\"security_group_id\":\"%1$s\",\"direction\":\"ingress\",\"protocol\":\"tcp\","
	     "\"cidr\":\"10.0.0.0/8\",\"ports\":\"22\"}",
	     400, "ports"},
	};
	struct bad_case cases[N_ELEMS(templates)];
	char bodies[N_ELEMS(templates)][512];
	char *sg = post_id(f, "/v1/security-groups", "{\"name\":\"web\"}", 201);
	json_int_t rev = status_revision(f);

	for (size_t i = 0; i < N_ELEMS(templates); i++) {
		/* The bodies are templates from the table above, each with one %1$s. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		snprintf(bodies[i], sizeof(bodies[i]), templates[i].body, sg);
#pragma GCC diagnostic pop
		cases[i] = templates[i];
		cases[i].body = bodies[i];
	}
	check_cases(f, "/v1/security-group-rules", cases, N_ELEMS(cases));
	assert_int_equal(count_items(f, "/v1/security-group-rules"), 0);
	assert_int_equal(status_revision(f), rev);
	free(sg);
}

static void test_rule_conflicts_and_deletes(void **state)
{
	struct fixture *f = *state;
	char *a = post_id(f, "/v1/security-groups", "{\"id\":\"sg-0a\",\"name\":\"a\"}", 201);
	char *b = post_id(f, "/v1/security-groups", "{\"id\":\"sg-0b\",\"name\":\"b\"}", 201);
	const char *ssh = "{\"id\":\"sgr-01\",\"security_group_id\":\"sg-0a\",\"direction\":"
	                  "\"ingress\",\"protocol\":\"tcp\",\"port_from\":22,\"port_to\":22,"
	                  "\"cidr\":\"2001:db8::/32\"}";
	struct reply r;
	json_int_t rev;

	/* Idempotent create with a client id. */
	free(post_id(f, "/v1/security-group-rules", ssh, 201));
	free(post_id(f, "/v1/security-group-rules", ssh, 200));
	call(f, "POST", "/v1/security-group-rules",
	     "{\"id\":\"sgr-01\",\"security_group_id\":\"sg-0a\",\"direction\":\"ingress\","
	     "\"protocol\":\"tcp\",\"port_from\":22,\"port_to\":23,\"cidr\":\"2001:db8::/32\"}",
	     &r);
	assert_int_equal(r.status, 409);
	assert_string_equal(err_field(&r), "id");
	reply_free(&r);
	/* The same rule again under another id, the cidr written differently. */
	call(f, "POST", "/v1/security-group-rules",
	     "{\"security_group_id\":\"sg-0a\",\"direction\":\"ingress\",\"protocol\":\"tcp\","
	     "\"port_from\":22,\"port_to\":22,\"cidr\":\"2001:DB8::/32\"}",
	     &r);
	assert_int_equal(r.status, 409);
	assert_non_null(strstr(jstr(r.json, "detail", NULL), "sgr-01"));
	reply_free(&r);

	/* b's rule names a: a cannot go while it does. */
	free(post_id(f, "/v1/security-group-rules",
	             "{\"id\":\"sgr-02\",\"security_group_id\":\"sg-0b\",\"direction\":\"ingress\","
	             "\"protocol\":\"all\",\"remote_security_group_id\":\"sg-0a\"}",
	             201));
	/* a's own rule naming a does not hold a. */
	free(post_id(f, "/v1/security-group-rules",
	             "{\"id\":\"sgr-03\",\"security_group_id\":\"sg-0a\",\"direction\":\"egress\","
	             "\"protocol\":\"all\",\"remote_security_group_id\":\"sg-0a\"}",
	             201));
	rev = status_revision(f);
	call(f, "DELETE", "/v1/security-groups/sg-0a", NULL, &r);
	assert_int_equal(r.status, 409);
	assert_non_null(strstr(jstr(r.json, "detail", NULL), "sgr-02"));
	reply_free(&r);
	assert_int_equal(status_revision(f), rev);
	assert_int_equal(count_items(f, "/v1/security-group-rules"), 3);

	expect_status(f, "DELETE", "/v1/security-group-rules/sgr-02", NULL, 204);
	/* Now a goes, and its own rules with it. */
	expect_status(f, "DELETE", "/v1/security-groups/sg-0a", NULL, 204);
	expect_status(f, "GET", "/v1/security-group-rules/sgr-01", NULL, 404);
	expect_status(f, "GET", "/v1/security-group-rules/sgr-03", NULL, 404);
	assert_int_equal(count_items(f, "/v1/security-group-rules"), 0);
	assert_int_equal(count_items(f, "/v1/security-groups"), 1);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, http_fixture_setup, http_fixture_teardown)
	    T(test_sg_lifecycle),   T(test_sg_validation),   T(test_sg_conflicts),
	    T(test_rule_lifecycle), T(test_rule_validation), T(test_rule_conflicts_and_deletes),
#undef T
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
