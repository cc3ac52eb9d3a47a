/*
 * /v1/subnets, /v1/settings and /v1/interfaces through the in-process server
 * (tests/unit/http_client.c): status codes, echoes as written, and that a
 * refused request stores nothing. /v1/interfaces reads links from a fake.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "http_client.h"
#include "kernel.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* The ETag header of a reply, quotes included. */
static void etag_of(const struct reply *r, char *buf, size_t size)
{
	const char *h = strstr(r->headers, "ETag: ");
	size_t n;

	assert_non_null(h);
	h += strlen("ETag: ");
	n = strcspn(h, " \t\r\n");
	assert_true(n > 0 && n < size);
	memcpy(buf, h, n);
	buf[n] = '\0';
}

/* ---- subnets ---- */

static void test_subnet_lifecycle(void **state)
{
	struct fixture *f = *state;
	struct reply r, r2;
	char path[128], etag[64], hdr[128];
	char *id, *again, *rtb;

	call(f, "POST", "/v1/subnets",
	     "{\"name\":\"lan\",\"cidr\":\"192.168.150.0/24\",\"interface\":\"eth0\","
	     "\"router_ip\":\"192.168.150.1\",\"description\":\"the lan\"}",
	     &r);
	assert_int_equal(r.status, 201);
	assert_non_null(strstr(r.headers, "Location: /v1/subnets/subnet-"));
	assert_non_null(strstr(r.headers, "ETag: \""));
	id = strdup(jstr(r.json, "id", NULL));
	assert_string_equal(jstr(r.json, "name", NULL), "lan");
	assert_string_equal(jstr(r.json, "cidr", NULL), "192.168.150.0/24");
	assert_string_equal(jstr(r.json, "interface", NULL), "eth0");
	assert_string_equal(jstr(r.json, "router_ip", NULL), "192.168.150.1");
	assert_string_equal(jstr(r.json, "route_table_id", NULL), "rtb-main");
	assert_string_equal(jstr(r.json, "description", NULL), "the lan");
	assert_string_equal(jstr(r.json, "status", "state"), "pending");
	assert_non_null(jstr(r.json, "created_at", NULL));
	assert_non_null(jstr(r.json, "updated_at", NULL));
	reply_free(&r);

	/* A GET's output can be sent back as is. */
	snprintf(path, sizeof(path), "/v1/subnets/%s", id);
	call(f, "GET", path, NULL, &r);
	assert_int_equal(r.status, 200);
	etag_of(&r, etag, sizeof(etag));
	/* It changes nothing, not even the ETag. */
	expect_put_unchanged(f, path, &r);
	json_object_set_new(r.json, "description", json_string("moved"));
	again = json_dumps(r.json, 0);
	call(f, "PUT", path, again, &r2);
	assert_int_equal(r2.status, 200);
	assert_string_equal(jstr(r2.json, "cidr", NULL), "192.168.150.0/24");
	reply_free(&r2);
	free(again);
	reply_free(&r);

	/* A PUT that changed something changed the ETag. */
	snprintf(hdr, sizeof(hdr), "If-Match: %s\r\n", etag);
	{
		const char *b = "{\"name\":\"lan\",\"cidr\":\"192.168.150.0/24\",\"interface\":"
		                "\"eth0\",\"router_ip\":\"192.168.150.1\"}";

		request(f, "PUT", path, "Bearer " TOKEN, "application/json", b, strlen(b), hdr, &r);
		assert_int_equal(r.status, 412);
		reply_free(&r);
	}
	request(f, "DELETE", path, "Bearer " TOKEN, NULL, NULL, 0, hdr, &r);
	assert_int_equal(r.status, 412);
	reply_free(&r);

	/* PUT replaces: another table, interface and address; the description back to "". */
	rtb = post_id(f, "/v1/route-tables", "{\"name\":\"blue\"}", 201);
	{
		char body[512];

		snprintf(
		    body, sizeof(body),
		    "{\"name\":\"lan2\",\"cidr\":\"2001:DB8::/64\",\"interface\":\"br-lan.10\","
		    "\"router_ip\":\"2001:db8::1\",\"route_table_id\":\"%s\"}",
		    rtb);
		call(f, "PUT", path, body, &r);
	}
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "name", NULL), "lan2");
	assert_string_equal(jstr(r.json, "cidr", NULL), "2001:DB8::/64");
	assert_string_equal(jstr(r.json, "interface", NULL), "br-lan.10");
	assert_string_equal(jstr(r.json, "route_table_id", NULL), rtb);
	assert_string_equal(jstr(r.json, "description", NULL), "");
	reply_free(&r);
	expect_status(
	    f, "PUT", path,
	    "{\"id\":\"subnet-1\",\"name\":\"x\",\"cidr\":\"10.0.0.0/8\",\"interface\":\"e\","
	    "\"router_ip\":\"10.0.0.1\"}",
	    422);
	expect_status(f, "PUT", "/v1/subnets/subnet-dead",
	              "{\"name\":\"x\",\"cidr\":\"10.0.0.0/8\",\"interface\":\"e\",\"router_ip\":"
	              "\"10.0.0.1\"}",
	              404);

	/* Lists and their filters. */
	free(post_id(f, "/v1/subnets",
	             "{\"name\":\"dmz\",\"cidr\":\"10.0.0.0/24\",\"interface\":\"eth1\","
	             "\"router_ip\":\"10.0.0.1\"}",
	             201));
	assert_int_equal(count_items(f, "/v1/subnets"), 2);
	snprintf(path, sizeof(path), "/v1/subnets?route_table_id=%s", rtb);
	assert_int_equal(count_items(f, path), 1);
	assert_int_equal(count_items(f, "/v1/subnets?route_table_id=rtb-main"), 1);
	assert_int_equal(count_items(f, "/v1/subnets?interface=eth1"), 1);
	assert_int_equal(count_items(f, "/v1/subnets?interface=eth1&route_table_id=rtb-main"), 1);
	assert_int_equal(count_items(f, "/v1/subnets?interface=eth9"), 0);
	expect_status(f, "GET", "/v1/subnets?security_group_id=sg-1", NULL, 400);
	call(f, "GET", "/v1/subnets?limit=1", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
	assert_non_null(jstr(r.json, "next", NULL));
	reply_free(&r);

	snprintf(path, sizeof(path), "/v1/subnets/%s", id);
	expect_status(f, "DELETE", path, NULL, 204);
	expect_status(f, "DELETE", path, NULL, 404);
	expect_status(f, "GET", path, NULL, 404);
	expect_status(f, "PATCH", "/v1/subnets", NULL, 405);
	free(rtb);
	free(id);
}

struct bad_case {
	const char *body;
	int status;
	const char *field; /* NULL: no field */
};

static void check_cases(struct fixture *f, const char *method, const char *path,
                        const struct bad_case *cases, size_t n)
{
	struct reply r;
	size_t i;

	for (i = 0; i < n; i++) {
		const char *field;

		call(f, method, path, cases[i].body, &r);
		field = err_field(&r);
		if (r.status != cases[i].status || (cases[i].field && !field) ||
		    (cases[i].field && strcmp(field, cases[i].field)))
			fail_msg("%s -> %d %s, want %d field %s",
			         cases[i].body ? cases[i].body : "-", r.status, r.body,
			         cases[i].status, cases[i].field ? cases[i].field : "-");
		assert_non_null(strstr(r.headers, "application/problem+json"));
		assert_non_null(jstr(r.json, "detail", NULL));
		reply_free(&r);
	}
}

#define SN(extra) "{\"name\":\"a\",\"interface\":\"eth0\"," extra "}"

static void test_subnet_validation(void **state)
{
	struct fixture *f = *state;
	static const struct bad_case cases[] = {
	    {SN("\"cidr\":\"192.168.150.1/24\",\"router_ip\":\"192.168.150.2\""), 422, "cidr"},
	    {SN("\"cidr\":\"192.168.150.0\",\"router_ip\":\"192.168.150.2\""), 422, "cidr"},
	    {SN("\"cidr\":\"default\",\"router_ip\":\"10.0.0.1\""), 422, "cidr"},
	    {SN("\"cidr\":\"0.0.0.0/0\",\"router_ip\":\"10.0.0.1\""), 422, "cidr"},
	    {SN("\"router_ip\":\"10.0.0.1\""), 422, "cidr"},
	    {SN("\"cidr\":24,\"router_ip\":\"10.0.0.1\""), 422, "cidr"},
	    {SN("\"cidr\":\"10.0.0.0/24\""), 422, "router_ip"},
	    {SN("\"cidr\":\"10.0.0.0/24\",\"router_ip\":\"10.0.1.1\""), 422, "router_ip"},
	    {SN("\"cidr\":\"10.0.0.0/24\",\"router_ip\":\"10.0.0.1/24\""), 422, "router_ip"},
	    {SN("\"cidr\":\"10.0.0.0/24\",\"router_ip\":\"fd00::1\""), 422, "router_ip"},
	    {SN("\"cidr\":\"10.0.0.0/24\",\"router_ip\":\"10.0.0.0\""), 422, "router_ip"},
	    {SN("\"cidr\":\"10.0.0.0/24\",\"router_ip\":\"10.0.0.255\""), 422, "router_ip"},
	    {SN("\"cidr\":\"fd00::/64\",\"router_ip\":\"fd00::\""), 422, "router_ip"},
	    {SN("\"cidr\":\"10.0.0.0/24\",\"router_ip\":\"10.0.0.1\",\"route_table_id\":\"main\""),
	     422, "route_table_id"},
	    {SN("\"cidr\":\"10.0.0.0/"
	        "24\",\"router_ip\":\"10.0.0.1\",\"route_table_id\":\"rtb-77\""),
	     422, "route_table_id"},
	    {SN("\"cidr\":\"10.0.0.0/24\",\"router_ip\":\"10.0.0.1\",\"id\":\"rt-01\""), 422, "id"},
	    {SN("\"cidr\":\"10.0.0.0/24\",\"router_ip\":\"10.0.0.1\",\"gateway\":\"10.0.0.1\""),
	     400, "gateway"},
	    {SN("\"cidr\":\"10.0.0.0/24\",\"router_ip\":\"10.0.0.1\",\"description\":5"), 422,
	     "description"},
	    {"{\"name\":\"a\",\"interface\":\"eth0:1\",\"cidr\":\"10.0.0.0/24\","
	     "\"router_ip\":\"10.0.0.1\"}",
	     422, "interface"},
	    {"{\"name\":\"a\",\"interface\":\"a-very-long-name0\",\"cidr\":\"10.0.0.0/24\","
	     "\"router_ip\":\"10.0.0.1\"}",
	     422, "interface"},
	    {"{\"name\":\"a\",\"cidr\":\"10.0.0.0/24\",\"router_ip\":\"10.0.0.1\"}", 422,
	     "interface"},
	    {"{\"interface\":\"eth0\",\"cidr\":\"10.0.0.0/24\",\"router_ip\":\"10.0.0.1\"}", 422,
	     "name"},
	    {"[1]", 400, NULL},
	};
	json_int_t rev = status_revision(f);

	check_cases(f, "POST", "/v1/subnets", cases, N_ELEMS(cases));
	assert_int_equal(count_items(f, "/v1/subnets"), 0);
	assert_int_equal(status_revision(f), rev);
	/* An interface that does not exist (yet) is accepted: it is applied when it appears. */
	free(post_id(f, "/v1/subnets",
	             "{\"name\":\"later\",\"interface\":\"veth-later\",\"cidr\":\"10.0.0.0/31\","
	             "\"router_ip\":\"10.0.0.0\"}",
	             201));
	assert_int_equal(status_revision(f), rev + 1);
}

static void test_subnet_conflicts(void **state)
{
	struct fixture *f = *state;
	const char *body = "{\"id\":\"subnet-0a\",\"name\":\"a\",\"cidr\":\"10.0.0.0/16\","
	                   "\"interface\":\"eth0\",\"router_ip\":\"10.0.0.1\","
	                   "\"route_table_id\":\"rtb-0b\"}";
	struct reply r;
	json_int_t rev;

	free(post_id(f, "/v1/route-tables", "{\"id\":\"rtb-0b\",\"name\":\"blue\"}", 201));
	free(post_id(f, "/v1/subnets", body, 201));
	/* A retry with the same id and body gets the object back. */
	call(f, "POST", "/v1/subnets", body, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(jstr(r.json, "id", NULL), "subnet-0a");
	reply_free(&r);
	rev = status_revision(f);
	call(f, "POST", "/v1/subnets",
	     "{\"id\":\"subnet-0a\",\"name\":\"a\",\"cidr\":\"10.0.0.0/16\",\"interface\":\"eth1\","
	     "\"router_ip\":\"10.0.0.1\",\"route_table_id\":\"rtb-0b\"}",
	     &r);
	assert_int_equal(r.status, 409);
	assert_string_equal(err_field(&r), "id");
	reply_free(&r);
	/* Overlaps, on any link. */
	call(f, "POST", "/v1/subnets",
	     "{\"name\":\"b\",\"cidr\":\"10.0.3.0/24\",\"interface\":\"eth7\","
	     "\"router_ip\":\"10.0.3.1\"}",
	     &r);
	assert_int_equal(r.status, 409);
	assert_string_equal(err_field(&r), "cidr");
	assert_non_null(strstr(jstr(r.json, "detail", NULL), "subnet-0a"));
	reply_free(&r);
	call(f, "POST", "/v1/subnets",
	     "{\"name\":\"a\",\"cidr\":\"10.1.0.0/24\",\"interface\":\"eth7\","
	     "\"router_ip\":\"10.1.0.1\"}",
	     &r);
	assert_int_equal(r.status, 409);
	assert_string_equal(err_field(&r), "name");
	reply_free(&r);
	assert_int_equal(status_revision(f), rev);
	/* IPv6 beside it is fine. */
	free(post_id(f, "/v1/subnets",
	             "{\"name\":\"b\",\"cidr\":\"fd00::/64\",\"interface\":\"eth0\","
	             "\"router_ip\":\"fd00::1\"}",
	             201));

	/* The table is in use by the subnet: 409 naming it, nothing changes. */
	rev = status_revision(f);
	call(f, "DELETE", "/v1/route-tables/rtb-0b", NULL, &r);
	assert_int_equal(r.status, 409);
	assert_non_null(strstr(jstr(r.json, "detail", NULL), "subnet-0a"));
	reply_free(&r);
	assert_int_equal(status_revision(f), rev);
	expect_status(f, "GET", "/v1/route-tables/rtb-0b", NULL, 200);
	expect_status(f, "DELETE", "/v1/subnets/subnet-0a", NULL, 204);
	expect_status(f, "DELETE", "/v1/route-tables/rtb-0b", NULL, 204);
}

/* ---- settings ---- */

static void test_settings(void **state)
{
	struct fixture *f = *state;
	static const struct bad_case cases[] = {
	    {"{}", 422, "forwarding"},
	    {"{\"forwarding\":true}", 422, "forwarding"},
	    {"{\"forwarding\":null}", 422, "forwarding"},
	    {"{\"forwarding\":{\"ipv4\":true}}", 422, "forwarding.ipv6"},
	    {"{\"forwarding\":{\"ipv6\":true}}", 422, "forwarding.ipv4"},
	    {"{\"forwarding\":{\"ipv4\":1,\"ipv6\":true}}", 422, "forwarding.ipv4"},
	    {"{\"forwarding\":{\"ipv4\":true,\"ipv6\":\"yes\"}}", 422, "forwarding.ipv6"},
	    {"{\"forwarding\":{\"ipv4\":true,\"ipv6\":true,\"mpls\":true}}", 400,
	     "forwarding.mpls"},
	    {"{\"forwarding\":{\"ipv4\":true,\"ipv6\":true},\"nat\":true}", 400, "nat"},
	    {"[true]", 400, NULL},
	    {NULL, 400, NULL},
	};
	struct reply r;
	char etag[64], hdr[128];
	const char *on = "{\"forwarding\":{\"ipv4\":true,\"ipv6\":false}}";
	json_int_t rev = status_revision(f);
	char *again;

	/* Before any PUT: the defaults, unmanaged, no status, an ETag. */
	call(f, "GET", "/v1/settings", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_false(json_object_get(json_object_get(r.json, "forwarding"), "ipv4")));
	assert_true(json_is_false(json_object_get(json_object_get(r.json, "forwarding"), "ipv6")));
	assert_true(json_is_false(json_object_get(r.json, "managed")));
	assert_null(json_object_get(r.json, "status"));
	assert_non_null(jstr(r.json, "updated_at", NULL));
	etag_of(&r, etag, sizeof(etag));
	reply_free(&r);

	check_cases(f, "PUT", "/v1/settings", cases, N_ELEMS(cases));
	assert_int_equal(status_revision(f), rev);

	/* A stale If-Match, then the right one. */
	request(f, "PUT", "/v1/settings", "Bearer " TOKEN, "application/json", on, strlen(on),
	        "If-Match: \"999\"\r\n", &r);
	assert_int_equal(r.status, 412);
	reply_free(&r);
	request(f, "PUT", "/v1/settings", "Bearer " TOKEN, "application/json", on, strlen(on),
	        "If-Match: bogus\r\n", &r);
	assert_int_equal(r.status, 412);
	reply_free(&r);
	assert_int_equal(status_revision(f), rev);
	snprintf(hdr, sizeof(hdr), "If-Match: %s\r\n", etag);
	request(f, "PUT", "/v1/settings", "Bearer " TOKEN, "application/json", on, strlen(on), hdr,
	        &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_true(json_object_get(json_object_get(r.json, "forwarding"), "ipv4")));
	assert_true(json_is_false(json_object_get(json_object_get(r.json, "forwarding"), "ipv6")));
	assert_true(json_is_true(json_object_get(r.json, "managed")));
	assert_string_equal(jstr(r.json, "status", "state"), "pending");
	assert_non_null(strstr(r.headers, "ETag: \""));
	reply_free(&r);
	assert_int_equal(status_revision(f), rev + 1);

	/* A GET's output goes back as is and changes nothing; a change makes the old ETag stale. */
	call(f, "GET", "/v1/settings", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(json_is_true(json_object_get(r.json, "managed")));
	expect_put_unchanged(f, "/v1/settings", &r);
	json_object_set_new(json_object_get(r.json, "forwarding"), "ipv6", json_true());
	again = json_dumps(r.json, 0);
	reply_free(&r);
	expect_status(f, "PUT", "/v1/settings", again, 200);
	free(again);
	request(f, "PUT", "/v1/settings", "Bearer " TOKEN, "application/json", on, strlen(on), hdr,
	        &r);
	assert_int_equal(r.status, 412);
	reply_free(&r);
	assert_int_equal(status_revision(f), rev + 2);

	expect_status(f, "POST", "/v1/settings", on, 405);
	expect_status(f, "DELETE", "/v1/settings", NULL, 405);
	request(f, "GET", "/v1/settings", NULL, NULL, NULL, 0, NULL, &r);
	assert_int_equal(r.status, 401);
	reply_free(&r);
}

/* ---- interfaces ---- */

static int fake_fail;

static void fake_links_free(struct klink *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i].addrs);
	free(v);
}

static void fake_link(struct klink *l, int index, const char *name, bool up, bool lower_up,
                      const char *mac, unsigned mtu, const char *const *addrs)
{
	size_t n = 0;

	memset(l, 0, sizeof(*l));
	l->ifindex = index;
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->up = up;
	l->lower_up = lower_up;
	snprintf(l->mac, sizeof(l->mac), "%s", mac);
	l->mtu = mtu;
	while (addrs[n])
		n++;
	l->addrs = calloc(n ? n : 1, sizeof(*l->addrs));
	assert_non_null(l->addrs);
	for (l->naddrs = 0; l->naddrs < n; l->naddrs++) {
		/* An address on a link has host bits: -EDOM, with the prefix filled. */
		int rc = cidr_parse_prefix(addrs[l->naddrs], true, &l->addrs[l->naddrs]);

		assert_true(rc == 0 || rc == -EDOM);
	}
}

/* Three links, out of index order: the server sorts them. */
static int fake_links_list(void *ctx, struct klink **out, size_t *n)
{
	static const char *const lo[] = {"127.0.0.1/8", "::1/128", NULL};
	static const char *const eth0[] = {"10.0.0.1/24", "10.0.9.5/24", "fe80::1/64",
	                                   "2001:db8::1/64", NULL};
	static const char *const eth1[] = {"10.0.0.7/24", NULL};
	struct klink *v;

	assert_ptr_equal(ctx, &fake_fail);
	*out = NULL;
	*n = 0;
	if (fake_fail)
		return -ENOBUFS;
	v = calloc(3, sizeof(*v));
	assert_non_null(v);
	fake_link(&v[0], 3, "eth0", true, true, "52:54:00:12:34:56", 1500, eth0);
	fake_link(&v[1], 1, "lo", true, true, "00:00:00:00:00:00", 65536, lo);
	fake_link(&v[2], 2, "eth1", true, false, "", 9000, eth1);
	*out = v;
	*n = 3;
	return 0;
}

static void test_interfaces_without_kernel(void **state)
{
	struct fixture *f = *state;
	struct reply r;

	call(f, "GET", "/v1/interfaces", NULL, &r);
	assert_int_equal(r.status, 503);
	assert_non_null(strstr(r.headers, "application/problem+json"));
	assert_non_null(jstr(r.json, "detail", NULL));
	reply_free(&r);
}

static json_t *address(json_t *link, size_t i)
{
	return json_array_get(json_object_get(link, "addresses"), i);
}

static void test_interfaces(void **state)
{
	struct fixture *f = *state;
	struct reply r;
	json_t *items, *l;
	char *v4, *v6;

	f->app.query_ctx = &fake_fail;
	f->app.links_free = fake_links_free;
	f->app.links_list = fake_links_list;
	v4 = post_id(f, "/v1/subnets",
	             "{\"name\":\"lan\",\"cidr\":\"10.0.0.0/24\",\"interface\":\"eth0\","
	             "\"router_ip\":\"10.0.0.1\"}",
	             201);
	v6 = post_id(f, "/v1/subnets",
	             "{\"name\":\"lan6\",\"cidr\":\"2001:db8::/64\",\"interface\":\"eth0\","
	             "\"router_ip\":\"2001:db8::1\"}",
	             201);

	call(f, "GET", "/v1/interfaces", NULL, &r);
	assert_int_equal(r.status, 200);
	items = json_object_get(r.json, "items");
	assert_int_equal(json_array_size(items), 3);
	assert_true(json_is_null(json_object_get(r.json, "next")));

	l = json_array_get(items, 0);
	assert_int_equal(json_integer_value(json_object_get(l, "index")), 1);
	assert_string_equal(jstr(l, "name", NULL), "lo");
	assert_string_equal(jstr(l, "state", NULL), "up");
	assert_string_equal(jstr(l, "mac", NULL), "00:00:00:00:00:00");
	assert_int_equal(json_integer_value(json_object_get(l, "mtu")), 65536);
	assert_string_equal(jstr(address(l, 0), "address", NULL), "127.0.0.1/8");
	assert_true(json_is_null(json_object_get(address(l, 0), "subnet_id")));
	assert_string_equal(jstr(address(l, 1), "address", NULL), "::1/128");

	/* Inside a subnet's cidr but on another link: not that subnet's. */
	l = json_array_get(items, 1);
	assert_string_equal(jstr(l, "name", NULL), "eth1");
	assert_string_equal(jstr(l, "state", NULL), "lower-down");
	assert_true(json_is_null(json_object_get(l, "mac")));
	assert_string_equal(jstr(address(l, 0), "address", NULL), "10.0.0.7/24");
	assert_true(json_is_null(json_object_get(address(l, 0), "subnet_id")));

	l = json_array_get(items, 2);
	assert_int_equal(json_integer_value(json_object_get(l, "index")), 3);
	assert_string_equal(jstr(l, "name", NULL), "eth0");
	assert_string_equal(jstr(l, "mac", NULL), "52:54:00:12:34:56");
	assert_int_equal(json_array_size(json_object_get(l, "addresses")), 4);
	assert_string_equal(jstr(address(l, 0), "address", NULL), "10.0.0.1/24");
	assert_string_equal(jstr(address(l, 0), "subnet_id", NULL), v4);
	assert_true(json_is_null(json_object_get(address(l, 1), "subnet_id")));
	assert_string_equal(jstr(address(l, 2), "address", NULL), "fe80::1/64");
	assert_true(json_is_null(json_object_get(address(l, 2), "subnet_id")));
	assert_string_equal(jstr(address(l, 3), "subnet_id", NULL), v6);
	reply_free(&r);

	/* Paged like every collection: the cursor is the last link's index. */
	call(f, "GET", "/v1/interfaces?limit=2", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "items")), 2);
	assert_string_equal(jstr(r.json, "next", NULL), "2");
	reply_free(&r);
	call(f, "GET", "/v1/interfaces?limit=2&after=2", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(json_array_size(json_object_get(r.json, "items")), 1);
	assert_int_equal(json_integer_value(json_object_get(
	                     json_array_get(json_object_get(r.json, "items"), 0), "index")),
	                 3);
	assert_true(json_is_null(json_object_get(r.json, "next")));
	reply_free(&r);
	expect_status(f, "GET", "/v1/interfaces?limit=0", NULL, 422);
	expect_status(f, "GET", "/v1/interfaces?after=eth0", NULL, 400);
	expect_status(f, "GET", "/v1/interfaces?colour=red", NULL, 400);
	expect_status(f, "POST", "/v1/interfaces", "{}", 405);
	fake_fail = 1;
	expect_status(f, "GET", "/v1/interfaces", NULL, 503);
	fake_fail = 0;
	free(v4);
	free(v6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, http_fixture_setup, http_fixture_teardown)
	    T(test_subnet_lifecycle), T(test_subnet_validation),         T(test_subnet_conflicts),
	    T(test_settings),         T(test_interfaces_without_kernel), T(test_interfaces),
#undef T
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
