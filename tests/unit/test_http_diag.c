/*
 * POST /v1/diagnostics/reachability through the in-process server, its
 * kernel questions answered by the fake kernel set up as the seed lab's
 * router: bad questions are 422 naming the field and the value, no kernel
 * is 503, and a suggestion sent back to the API as it stands makes the same
 * question reachable, naming the rule it created; in fleet mode only the
 * serving router's routes count.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fake_kernel.h"
#include "http_client.h"

static struct prefix P(const char *s) {
	struct prefix p;
	int rc = cidr_parse_prefix(s, true, &p);

	if (rc && rc != -EDOM)
		fail_msg("fixture prefix %s", s);
	return p;
}

static int
fake_query(void *ctx, int (*fn)(const struct kernel_ops *k, void *arg), void *arg)
{
	return fn(&fake_ops, arg);
}

static void rget(const char *pfx, int oif)
{
	struct fake_rget *g = &fk.rg[fk.nrg++];

	memset(g, 0, sizeof(*g));
	g->dst = P(pfx);
	g->iif = -1;
	g->a.type = RTN_UNICAST;
	g->a.table = 254;
	g->a.dst = g->dst;
	g->a.oif = oif;
	g->a.protocol = RTPROT_KERNEL;
}

static int setup(void **state)
{
	struct fixture *f;

	if (http_fixture_setup(state))
		return -1;
	f = *state;
	memset(&fk, 0, sizeof(fk));
	pthread_mutex_init(&fk.lock, NULL);
	fk.efd = eventfd(0, EFD_NONBLOCK);
	fk.fa[0] = (struct kaddr){.ifindex = 2, .p = P("192.168.150.3/24")};
	fk.fa[1] = (struct kaddr){.ifindex = 3, .p = P("192.168.100.3/24")};
	fk.nfa = 2;
	fk.fwd4 = true;
	rget("192.168.150.0/24", 2);
	rget("192.168.100.0/24", 3);
	f->app.kernel_query = fake_query;
	return 0;
}

static int teardown(void **state)
{
	close(fk.efd);
	pthread_mutex_destroy(&fk.lock);
	return http_fixture_teardown(state);
}

#define PATH "/v1/diagnostics/reachability"

static void expect_422(struct fixture *f, const char *body, const char *field, const char *needle)
{
	struct reply r;

	call(f, "POST", PATH, body, &r);
	assert_int_equal(r.status, 422);
	assert_non_null(strstr(r.headers, "application/problem+json"));
	assert_string_equal(err_field(&r), field);
	if (!strstr(jstr(r.json, "detail", NULL), needle))
		fail_msg("detail \"%s\" lacks \"%s\"", jstr(r.json, "detail", NULL), needle);
	reply_free(&r);
}

static void test_bad_questions(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	expect_422(f,
	           "{\"source\":\"192.168.150.999\",\"destination\":\"192.168.100.2\",\"protocol\":"
	           "\"icmp\"}",
	           "source", "192.168.150.999");
	expect_422(f,
	           "{\"source\":\"192.168.150.2\",\"destination\":\"fd00:100::2\",\"protocol\":"
	           "\"tcp\",\"port\":80}",
	           "destination", "different families");
	expect_422(f,
	           "{\"source\":\"192.168.150.2\",\"destination\":\"192.168.100.2\",\"protocol\":"
	           "\"tcp\",\"port\":70000}",
	           "port", "70000");
	expect_422(f,
	           "{\"source\":\"192.168.150.2\",\"destination\":\"192.168.100.2\",\"protocol\":"
	           "\"tcp\",\"port\":\"80\"}",
	           "port", "integer");
	expect_422(f,
	           "{\"source\":\"192.168.150.2\",\"destination\":\"192.168.100.2\",\"protocol\":"
	           "\"icmp\",\"port\":80}",
	           "port", "icmp");
	expect_422(
	    f,
	    "{\"source\":\"192.168.150.2\",\"destination\":\"192.168.100.2\",\"protocol\":\"gre\"}",
	    "protocol", "gre");
	/* An unknown key is malformed (400), as everywhere. */
	call(f, "POST", PATH, "{\"source\":\"192.168.150.2\",\"to\":\"x\"}", &r);
	assert_int_equal(r.status, 400);
	reply_free(&r);
}

static void test_no_kernel(void **state)
{
	struct fixture *f = *state;

	f->app.kernel_query = NULL;
	expect_status(f, "POST", PATH,
	              "{\"source\":\"192.168.150.2\",\"destination\":\"192.168.100.2\","
	              "\"protocol\":\"icmp\"}",
	              503);
	f->app.kernel_query = fake_query;
}

/* Send the suggestion of reply r back to the API as it stands; its reply in out. */
static void run_suggestion(struct fixture *f, const struct reply *r, struct reply *out)
{
	json_t *s = json_object_get(r->json, "suggestion");
	char *body = json_dumps(json_object_get(s, "body"), 0);

	assert_true(json_is_true(json_object_get(s, "complete")));
	assert_string_equal(jstr(s, "host", NULL), "this");
	call(f, jstr(s, "method", NULL), jstr(s, "path", NULL), body, out);
	free(body);
}

static void test_suggestion_makes_it_reachable(void **state)
{
	struct fixture *f = *state;
	const char *q = "{\"source\":\"192.168.150.2\",\"destination\":\"192.168.100.2\","
	                "\"protocol\":\"tcp\",\"port\":12345}";
	char *gid = post_id(f, "/v1/security-groups",
	                    "{\"name\":\"web\",\"targets\":[\"192.168.100.2\"]}", 201);
	struct reply r, made;
	json_t *hops, *h;
	char rule[256];

	snprintf(rule, sizeof(rule),
	         "{\"security_group_id\":\"%s\",\"direction\":\"ingress\",\"protocol\":\"tcp\","
	         "\"port_from\":22,\"port_to\":22,\"cidr\":\"0.0.0.0/0\"}",
	         gid);
	free(post_id(f, "/v1/security-group-rules", rule, 201));

	call(f, "POST", PATH, q, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_false(json_object_get(r.json, "reachable")));
	assert_string_equal(jstr(r.json, "blocking", "code"), "SG_INGRESS_NO_MATCH");
	assert_string_equal(jstr(r.json, "blocking", "object_id"), gid);
	assert_non_null(strstr(jstr(r.json, "blocking", "message"), "port 12345"));
	hops = json_object_get(r.json, "hops");
	assert_int_equal(json_array_size(hops), 8);
	h = json_array_get(hops, 5);
	assert_string_equal(jstr(h, "check", NULL), "security_group_ingress");
	assert_string_equal(jstr(h, "verdict", NULL), "fail");
	assert_string_equal(jstr(r.json, "suggestion", "method"), "POST");
	assert_string_equal(jstr(r.json, "suggestion", "path"), "/v1/security-group-rules");

	run_suggestion(f, &r, &made);
	assert_int_equal(made.status, 201);
	reply_free(&r);

	call(f, "POST", PATH, q, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_true(json_object_get(r.json, "reachable")));
	assert_true(json_is_null(json_object_get(r.json, "blocking")));
	assert_true(json_is_null(json_object_get(r.json, "suggestion")));
	h = json_array_get(json_object_get(r.json, "hops"), 5);
	assert_string_equal(jstr(h, "verdict", NULL), "pass");
	assert_string_equal(json_string_value(json_array_get(json_object_get(h, "ids"), 1)),
	                    jstr(made.json, "id", NULL));
	reply_free(&r);
	reply_free(&made);
	free(gid);
}

static void test_forwarding_suggestion_is_settings_put(void **state)
{
	struct fixture *f = *state;
	struct reply r, made;

	fk.fwd4 = false;
	call(f, "POST", PATH,
	     "{\"source\":\"192.168.150.2\",\"destination\":\"192.168.100.2\",\"protocol\":"
	     "\"icmp\"}",
	     &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "blocking", "code"), "FORWARDING_DISABLED");
	assert_true(
	    json_is_null(json_object_get(json_object_get(r.json, "blocking"), "object_id")));
	assert_string_equal(jstr(r.json, "suggestion", "method"), "PUT");
	assert_string_equal(jstr(r.json, "suggestion", "path"), "/v1/settings");
	assert_true(json_is_true(json_object_get(
	    json_object_get(json_object_get(json_object_get(r.json, "suggestion"), "body"),
	                    "forwarding"),
	    "ipv4")));
	/* The body is what PUT /v1/settings takes (without a reconciler nothing is applied). */
	run_suggestion(f, &r, &made);
	assert_int_equal(made.status, 200);
	assert_true(
	    json_is_true(json_object_get(json_object_get(made.json, "forwarding"), "ipv4")));
	reply_free(&made);
	reply_free(&r);
}

/*
 * Fleet mode (issue 16): a question to r1 reasons about r1's own desired
 * routes. r2's route that r1's kernel lacks is not a route r1 failed to
 * apply; r1's own is.
 */
static void test_fleet_own_routes(void **state)
{
	struct fixture *f = *state;
	const char *q = "{\"source\":\"192.168.150.2\",\"destination\":\"192.168.100.2\","
	                "\"protocol\":\"icmp\"}";
	struct reply r;

	f->app.fleet = (struct fleet *)&f->app;
	f->app.router = "r1";
	free(post_id(f, "/v1/routes",
	             "{\"destination\":\"192.168.100.0/25\",\"dev\":\"eth1\",\"router\":\"r2\"}",
	             201));
	call(f, "POST", PATH, q, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_true(json_object_get(r.json, "reachable")));
	reply_free(&r);

	free(post_id(f, "/v1/routes", "{\"destination\":\"192.168.100.0/25\",\"dev\":\"eth1\"}",
	             201));
	call(f, "POST", PATH, q, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_false(json_object_get(r.json, "reachable")));
	assert_string_equal(jstr(r.json, "blocking", "code"), "ROUTE_NOT_APPLIED");
	reply_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_bad_questions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fleet_own_routes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_kernel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_suggestion_makes_it_reachable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_forwarding_suggestion_is_settings_put, setup,
	                                    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
