/*
 * The edges of the API through the in-process server: explicit nulls, table 0,
 * cursors, the multipath conflict, addresses the kernel would never match.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_client.h"
#include "http_frame.h"
#include "http_guard.h"

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

/* A connection to the fixture's server, or -1. */
static int dial(struct fixture *f)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(f->port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Everything the server sends on fd until it closes (or 5 s pass), NUL-terminated. */
static char *read_all(int fd, size_t *len)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	struct pollfd p = {.fd = fd, .events = POLLIN};

	assert_non_null(buf);
	while (poll(&p, 1, 5000) == 1) {
		ssize_t k = read(fd, buf + n, cap - n - 1);

		if (k <= 0)
			break;
		n += (size_t)k;
		if (n + 1 == cap)
			break;
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

/*
 * Send len bytes as they are on a new connection and read the answer: r gets
 * the status, headers and body of the first response; the return value is
 * how many status lines the connection carried in all.
 */
static int raw(struct fixture *f, const char *bytes, size_t len, struct reply *r)
{
	int fd = dial(f), lines = 0;
	size_t n, off = 0;
	char *all, *sep, *p;

	memset(r, 0, sizeof(*r));
	while (off < len) {
		ssize_t k = write(fd, bytes + off, len - off);

		if (k <= 0)
			break;
		off += (size_t)k;
	}
	all = read_all(fd, &n);
	close(fd);
	for (p = all; (p = strstr(p, "HTTP/1.")); p++)
		lines += p == all || p[-1] == '\n';
	if (sscanf(all, "HTTP/1.1 %d", &r->status) != 1)
		fail_msg("no HTTP answer to \"%.60s\": \"%.200s\"", bytes, all);
	sep = strstr(all, "\r\n\r\n");
	assert_non_null(sep);
	snprintf(r->headers, sizeof(r->headers), "%.*s", (int)(sep - all), all);
	r->body = strdup(sep + 4);
	r->json = json_loads(r->body, JSON_DISABLE_EOF_CHECK, NULL);
	free(all);
	return lines;
}

/* A raw request answered once, with status, as problem+json saying detail. */
static void expect_raw_problem(struct fixture *f, const char *bytes, size_t len, int status,
                               const char *detail)
{
	struct reply r;
	int lines = raw(f, bytes, len, &r);

	if (r.status != status || lines != 1 || !strstr(r.headers, "application/problem+json") ||
	    !jstr(r.json, "detail", NULL) || !strstr(jstr(r.json, "detail", NULL), detail))
		fail_msg("\"%.60s\" -> %d (%d status lines) %s %s, want %d problem+json \"%s\"",
		         bytes, r.status, lines, r.headers, r.body, status, detail);
	assert_int_equal(json_integer_value(json_object_get(r.json, "status")), status);
	reply_free(&r);
}

/* What libmicrohttpd would answer itself (as HTML, the status line twice) is problem+json. */
static void test_malformed_requests(void **state)
{
	struct fixture *f = *state;
	char *big = malloc(HTTP_HEAD_MAX + 4096);
	size_t n;

#define RAW(s, st, d) expect_raw_problem(f, s, strlen(s), st, d)
	RAW("POST /v1/routes HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400,
	    "Content-Length \"abc\"");
	RAW("POST /v1/routes HTTP/1.1\r\nHost: x\r\nContent-Length: "
	    "99999999999999999999999\r\n\r\n",
	    413, "too large");
	RAW("POST /v1/routes HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 60\r\n\r\n"
	    "{\"destination\":\"10.0.0.0/8\",\"dev\":\"lo\"}",
	    400, "given twice");
	RAW("GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 400, "HTTP/2.0");
	RAW("GET /healthz HTTP/1.1\r\nHost x\r\n\r\n", 400, "no name");
	RAW("DELETE /v1/routes/rt-1%00junk HTTP/1.1\r\nHost: x\r\n\r\n", 400, "%00");
	n = (size_t)sprintf(big, "GET /v1/routes?after=");
	memset(big + n, 'a', HTTP_TARGET_MAX + 10);
	n += HTTP_TARGET_MAX + 10;
	n += (size_t)sprintf(big + n, " HTTP/1.1\r\nHost: x\r\n\r\n");
	expect_raw_problem(f, big, n, 414, "request target");
	n = (size_t)sprintf(big, "GET /healthz HTTP/1.1\r\n");
	while (n < HTTP_HEAD_MAX + 100)
		n += (size_t)sprintf(big + n, "X-Filler: %028d\r\n", 0);
	n += (size_t)sprintf(big + n, "\r\n");
	expect_raw_problem(f, big, n, 431, "request head");
#undef RAW
	free(big);
	assert_int_equal(count_items(f, "/v1/routes"), 0);
}

/* %00 and friends in a path or query are refused, never decoded into a shorter id. */
static void test_encoded_control_bytes(void **state)
{
	struct fixture *f = *state;
	char *id = post_id(f, "/v1/routes",
	                   "{\"id\":\"rt-01\",\"destination\":\"10.1.0.0/16\",\"dev\":\"e\"}", 201);
	struct reply r;

	call(f, "DELETE", "/v1/routes/rt-01%00junk", NULL, &r);
	assert_int_equal(r.status, 400);
	assert_non_null(strstr(r.headers, "application/problem+json"));
	reply_free(&r);
	expect_status(f, "GET", "/v1/routes/rt-01%0A", NULL, 400);
	expect_status(f, "GET", "/v1/routes?after=rt-01%00x", NULL, 400);
	expect_status(f, "GET", "/v1/routes/rt-01%7f", NULL, 400);
	/* Other escapes are only characters: no such id. */
	expect_status(f, "GET", "/v1/routes/rt-01%41", NULL, 404);
	expect_status(f, "GET", "/v1/routes/rt-01", NULL, 200);
	free(id);
}

/* HEAD answers wherever GET does: same status and headers, no body. */
static void test_head(void **state)
{
	static const char *const paths[] = {
	    "/healthz",    "/openapi.yaml",   "/v1/routes", "/v1/routes/rt-0a",
	    "/v1/status",  "/v1/settings",    "/v1/config", "/v1/route-tables/rtb-main",
	    "/v1/nothing", "/v1/routes/rt-ff"};
	struct fixture *f = *state;
	char *id = post_id(f, "/v1/routes",
	                   "{\"id\":\"rt-0a\",\"destination\":\"10.1.0.0/16\",\"dev\":\"e\"}", 201);
	struct reply g, h;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		const char *hdrs[] = {"Content-Type: ", "ETag: ", "Content-Length: "};

		call(f, "GET", paths[i], NULL, &g);
		call(f, "HEAD", paths[i], NULL, &h);
		if (h.status != g.status || h.body[0])
			fail_msg("HEAD %s -> %d with body \"%s\"; GET -> %d", paths[i], h.status,
			         h.body, g.status);
		for (size_t k = 0; k < 3; k++) {
			const char *a = strstr(g.headers, hdrs[k]), *b = strstr(h.headers, hdrs[k]);

			if (!a != !b || (a && strncmp(a, b, strcspn(a, "\r\n"))))
				fail_msg("HEAD %s: header %s differs from GET's", paths[i],
				         hdrs[k]);
		}
		reply_free(&g);
		reply_free(&h);
	}
	/* /metrics counts this very request: its length changes, not its type. */
	request(f, "HEAD", "/metrics", NULL, NULL, NULL, 0, NULL, &h);
	assert_int_equal(h.status, 200);
	assert_string_equal(h.body, "");
	assert_non_null(strstr(h.headers, "Content-Type: text/plain"));
	reply_free(&h);
	/* Without the token, as GET. */
	request(f, "HEAD", "/v1/routes", NULL, NULL, NULL, 0, NULL, &h);
	assert_int_equal(h.status, 401);
	reply_free(&h);
	/* 405 names HEAD beside GET. */
	call(f, "PATCH", "/v1/routes/rt-0a", NULL, &h);
	assert_int_equal(h.status, 405);
	assert_non_null(strstr(h.headers, "HEAD"));
	reply_free(&h);
	free(id);
}

/* One address holds at most HTTP_CONN_PER_ADDR connections; the next is told 429. */
static void test_per_address_cap(void **state)
{
	struct fixture *f = *state;
	int fds[HTTP_CONN_PER_ADDR];
	struct reply r;
	size_t n;
	char *all;
	int extra;

	for (int i = 0; i < HTTP_CONN_PER_ADDR; i++)
		fds[i] = dial(f);
	/* Let the server see them all. */
	usleep(200 * 1000);
	extra = dial(f);
	all = read_all(extra, &n);
	close(extra);
	if (!strstr(all, "HTTP/1.1 429") || !strstr(all, "application/problem+json"))
		fail_msg("connection %d from one address: \"%s\", want 429", HTTP_CONN_PER_ADDR + 1,
		         all);
	free(all);
	close(fds[0]);
	usleep(200 * 1000);
	/* One slot free again: a request goes through. */
	request(f, "GET", "/healthz", NULL, NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 200);
	reply_free(&r);
	for (int i = 1; i < HTTP_CONN_PER_ADDR; i++)
		close(fds[i]);
}

/*
 * One connection answers HTTP_KEEPALIVE_REQUESTS requests, the last with
 * Connection: close, then closes: requests sent after it get no answer.
 */
static void test_keepalive_requests(void **state)
{
	struct fixture *f = *state;
	static const char one[] = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
	size_t n = HTTP_KEEPALIVE_REQUESTS + 2, len = n * (sizeof(one) - 1), off = 0, got = 0;
	char *reqs = malloc(len), buf[65536], tail[32] = "";
	int fd = dial(f), answers = 0, closes = 0;
	struct pollfd p = {.fd = fd, .events = POLLIN};

	assert_non_null(reqs);
	for (size_t i = 0; i < n; i++)
		memcpy(reqs + i * (sizeof(one) - 1), one, sizeof(one) - 1);
	while (off < len) {
		ssize_t k = write(fd, reqs + off, len - off);

		assert_true(k > 0);
		off += (size_t)k;
	}
	/* Count status lines and Connection: close as they stream by (a line may span reads). */
	while (poll(&p, 1, 5000) == 1) {
		char win[sizeof(tail) + sizeof(buf)];
		ssize_t k = read(fd, buf, sizeof(buf));
		size_t tl = strlen(tail);

		if (k <= 0)
			break;
		got += (size_t)k;
		memcpy(win, tail, tl);
		memcpy(win + tl, buf, (size_t)k);
		win[tl + (size_t)k] = '\0';
		for (char *q = win; (q = strstr(q, "HTTP/1.1 200")); q++)
			answers +=
			    q + 12 > win + tl; /* not one wholly in the tail: counted before */
		for (char *q = win; (q = strstr(q, "Connection: close")); q++)
			closes += q + 17 > win + tl;
		tl = strlen(win) < sizeof(tail) - 1 ? strlen(win) : sizeof(tail) - 1;
		memcpy(tail, win + strlen(win) - tl, tl);
		tail[tl] = '\0';
	}
	close(fd);
	free(reqs);
	assert_true(got > 0);
	assert_int_equal(answers, HTTP_KEEPALIVE_REQUESTS);
	assert_int_equal(closes, 1);
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
	    T(test_malformed_requests),
	    T(test_encoded_control_bytes),
	    T(test_head),
	    T(test_per_address_cap),
	    T(test_keepalive_requests),
#undef T
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
