#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "model.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static void set(char *dst, size_t size, const char *src)
{
	if (strlen(src) >= size)
		fail_msg("fixture \"%s\" does not fit %zu bytes", src, size);
	strcpy(dst, src);
}

#define SET(field, value) set((field), sizeof(field), (value))

/* Is s valid UTF-8? Error messages go into JSON strings, which must be. */
static bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		int n;

		if (*p < 0x80)
			n = 0;
		else if ((*p & 0xe0) == 0xc0)
			n = 1;
		else if ((*p & 0xf0) == 0xe0)
			n = 2;
		else if ((*p & 0xf8) == 0xf0)
			n = 3;
		else
			return false;
		p++;
		while (n--) {
			if ((*p & 0xc0) != 0x80)
				return false;
			p++;
		}
	}
	return true;
}

static void test_route_type_names(void **state)
{
	static const char *const names[] = {"unicast", "blackhole", "unreachable", "prohibit"};
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMS(names); i++) {
		assert_int_equal(model_route_type_parse(names[i]), (int)i);
		assert_string_equal(model_route_type_name((enum route_type)i), names[i]);
	}
	assert_int_equal(model_route_type_parse(""), -1);
	assert_int_equal(model_route_type_parse("Unicast"), -1);
	assert_int_equal(model_route_type_parse("unicast "), -1);
	assert_int_equal(model_route_type_parse("local"), -1);
	assert_int_equal(model_route_type_parse(NULL), -1);
	assert_non_null(model_route_type_name((enum route_type)42));

	assert_string_equal(model_obj_state_name(OBJ_PENDING), "pending");
	assert_string_equal(model_obj_state_name(OBJ_ACTIVE), "active");
	assert_string_equal(model_obj_state_name(OBJ_FAILED), "failed");
	assert_non_null(model_obj_state_name((enum obj_state)42));
}

struct id_case {
	const char *id;
	const char *prefix;
	bool want;
};

static const struct id_case id_cases[] = {
    {"rt-0", "rt-", true},
    {"rt-abc123", "rt-", true},
    {"rt-0123456789abcdef0123456789abcdef01234567", "rt-", true},   /* 40 hex */
    {"rt-0123456789abcdef0123456789abcdef012345678", "rt-", false}, /* 41 hex */
    {"rt-", "rt-", false},
    {"rt-ABC", "rt-", false},
    {"rt-abg", "rt-", false},
    {"rt--1", "rt-", false},
    {"rt-1 ", "rt-", false},
    {" rt-1", "rt-", false},
    {"rt1", "rt-", false},
    {"rtb-01", "rt-", false},
    {"rt-01", "rtb-", false},
    {"rtb-01", "rtb-", true},
    {"rtb-main", "rtb-", false}, /* not hex: model_rtb_id_valid handles it */
    {"subnet-ff", "subnet-", true},
    {"sg-ff", "sgr-", false},
    {"sgr-ff", "sgr-", true},
    {"", "rt-", false},
};

static void test_id_valid(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMS(id_cases); i++) {
		const struct id_case *c = &id_cases[i];

		if (model_id_valid(c->id, c->prefix) != c->want)
			fail_msg("model_id_valid(\"%s\", \"%s\"): want %d", c->id, c->prefix,
			         c->want);
	}
	assert_false(model_id_valid(NULL, "rt-"));
	assert_false(model_id_valid("rt-1", NULL));

	assert_true(model_rtb_id_valid("rtb-main"));
	assert_true(model_rtb_id_valid("rtb-0a"));
	assert_false(model_rtb_id_valid("rtb-MAIN"));
	assert_false(model_rtb_id_valid("rtb-main2"));
	assert_false(model_rtb_id_valid("rtb-mai"));
	assert_false(model_rtb_id_valid("main"));
	assert_false(model_rtb_id_valid("rtb-"));
	assert_false(model_rtb_id_valid("rt-01"));
	assert_false(model_rtb_id_valid(""));
	assert_false(model_rtb_id_valid(NULL));
}

static void test_id_new(void **state)
{
	enum { N = 2000 };
	static const char *const prefixes[] = {"rtb-", "rt-", "subnet-", "sg-", "sgr-"};
	static char ids[N][ID_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMS(prefixes); i++) {
		char buf[ID_MAX];

		model_id_new(prefixes[i], buf);
		assert_int_equal(strlen(buf), strlen(prefixes[i]) + ID_HEX_NEW);
		if (!model_id_valid(buf, prefixes[i]))
			fail_msg("new id \"%s\" is not valid for \"%s\"", buf, prefixes[i]);
	}
	for (i = 0; i < N; i++)
		model_id_new("rt-", ids[i]);
	/* Each id is greater than the one before (so none repeats): the store's index appends. */
	for (i = 1; i < N; i++)
		if (strcmp(ids[i - 1], ids[i]) >= 0)
			fail_msg("id %s made after %s does not sort after it", ids[i], ids[i - 1]);
	/* Their high part is the time: milliseconds since 2020, now. */
	{
		unsigned long long v = strtoull(ids[N - 1] + 3, NULL, 16);
		unsigned long long ms = v >> 24;
		time_t t = (time_t)(ms / 1000) + 1577836800;
		time_t now = time(NULL);

		assert_true(t >= now - 5 && t <= now + 5);
	}
}

struct ifname_case {
	const char *name;
	bool want;
};

static const struct ifname_case ifname_cases[] = {
    {"eth0", true},
    {"enp0s1", true},
    {"br-lan.10", true},
    {"a", true},
    {"abcdefghijklmno", true},   /* 15 */
    {"abcdefghijklmnop", false}, /* 16 */
    {"", false},
    {".", false},
    {"..", false},
    {"...", true},
    {"a/b", false},
    {"a:b", false},
    {"eth0:1", false},
    {"a b", false},
    {"eth0\t", false},
    {"eth0\n", false},
    {" eth0", false},
};

static void test_ifname_valid(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMS(ifname_cases); i++)
		if (model_ifname_valid(ifname_cases[i].name) != ifname_cases[i].want)
			fail_msg("ifname \"%s\": want %d", ifname_cases[i].name,
			         ifname_cases[i].want);
	assert_false(model_ifname_valid(NULL));
}

/* A valid route with every text field set from arguments; NULL means "" . */
static void route_init(struct route *r, const char *table_id, const char *dst, enum route_type type,
                       const char *via, const char *dev)
{
	memset(r, 0, sizeof(*r));
	SET(r->table_id, table_id ? table_id : "");
	SET(r->destination, dst ? dst : "");
	r->type = type;
	SET(r->via_text, via ? via : "");
	SET(r->dev, dev ? dev : "");
}

struct route_ok_case {
	const char *table_id;
	const char *dst;
	enum route_type type;
	const char *via;
	const char *dev;
	const char *id;
	int family;
	const char *dst_canon;
	const char *via_canon; /* NULL: no via */
};

static const struct route_ok_case route_ok_cases[] = {
    {"rtb-main", "192.168.100.0/24", ROUTE_UNICAST, "192.168.150.3", NULL, NULL, AF_INET,
     "192.168.100.0/24", "192.168.150.3"},
    {"rtb-main", "default", ROUTE_UNICAST, "10.0.0.1", NULL, NULL, AF_INET, "0.0.0.0/0",
     "10.0.0.1"},
    {"rtb-main", "0.0.0.0/0", ROUTE_UNICAST, NULL, "eth0", NULL, AF_INET, "0.0.0.0/0", NULL},
    {"rtb-main", "10.1.2.3/32", ROUTE_UNICAST, NULL, "eth0", NULL, AF_INET, "10.1.2.3/32", NULL},
    {"rtb-0123abcd", "10.0.0.0/8", ROUTE_UNICAST, "10.0.0.1", "eth0", "rt-00ff", AF_INET,
     "10.0.0.0/8", "10.0.0.1"},
    {"rtb-main", "2001:db8::/32", ROUTE_UNICAST, "fe80::1", "eth0", NULL, AF_INET6, "2001:db8::/32",
     "fe80::1"},
    {"rtb-main", "2001:DB8:0::/48", ROUTE_UNICAST, "2001:DB8::1", NULL, NULL, AF_INET6,
     "2001:db8::/48", "2001:db8::1"},
    {"rtb-main", "::/0", ROUTE_UNICAST, NULL, "abcdefghijklmno", NULL, AF_INET6, "::/0", NULL},
    {"rtb-main", "2001:db8::1/128", ROUTE_BLACKHOLE, NULL, NULL, NULL, AF_INET6, "2001:db8::1/128",
     NULL},
    {"rtb-main", "10.0.0.0/8", ROUTE_UNREACHABLE, NULL, NULL, NULL, AF_INET, "10.0.0.0/8", NULL},
    {"rtb-main", "10.0.0.0/8", ROUTE_PROHIBIT, NULL, NULL, NULL, AF_INET, "10.0.0.0/8", NULL},
    {"rtb-main", "default", ROUTE_BLACKHOLE, NULL, NULL, NULL, AF_INET, "0.0.0.0/0", NULL},
    /* Prefixes that merely contain the IPv4-mapped range are ordinary IPv6. */
    {"rtb-main", "::/64", ROUTE_UNICAST, "2001:db8::1", NULL, NULL, AF_INET6, "::/64",
     "2001:db8::1"},
    /* An IPv4 link-local gateway is an ordinary address: no dev needed. */
    {"rtb-main", "default", ROUTE_UNICAST, "169.254.0.1", NULL, NULL, AF_INET, "0.0.0.0/0",
     "169.254.0.1"},
};

static void test_route_validate_ok(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMS(route_ok_cases); i++) {
		const struct route_ok_case *c = &route_ok_cases[i];
		struct vr_err e;
		struct route r;
		char buf[CIDR_STR_MAX];
		int rc;

		route_init(&r, c->table_id, c->dst, c->type, c->via, c->dev);
		SET(r.id, c->id ? c->id : "");
		err_clear(&e);
		rc = model_route_validate(&r, &e);
		if (rc != 0)
			fail_msg("route %s via %s dev %s: rc %d (%s: %s)", c->dst, c->via, c->dev,
			         rc, e.field, e.msg);
		assert_int_equal(e.code, VR_ERR_NONE);
		assert_int_equal(r.dst.addr.family, c->family);
		cidr_format_prefix(&r.dst, buf, sizeof(buf));
		assert_string_equal(buf, c->dst_canon);
		if (c->via_canon) {
			assert_int_equal(r.via.family, c->family);
			cidr_format_addr(&r.via, buf, sizeof(buf));
			assert_string_equal(buf, c->via_canon);
		} else {
			assert_int_equal(r.via.family, 0);
		}
		/* Validation parses; it never rewrites what the client wrote. */
		assert_string_equal(r.destination, c->dst);
		assert_string_equal(r.via_text, c->via ? c->via : "");
	}
}

struct route_bad_case {
	const char *id;
	const char *table_id;
	const char *dst;
	int type;
	const char *via;
	const char *dev;
	const char *field;
	const char *msg; /* substring of the message */
};

static const struct route_bad_case route_bad_cases[] = {
    /* destination */
    {NULL, "rtb-main", "192.168.100.1/24", ROUTE_UNICAST, "10.0.0.1", NULL, "destination",
     "destination 192.168.100.1/24: host bits set (did you mean 192.168.100.0/24?)"},
    {NULL, "rtb-main", "2001:db8::1/64", ROUTE_UNICAST, NULL, "eth0", "destination",
     "destination 2001:db8::1/64: host bits set (did you mean 2001:db8::/64?)"},
    {NULL, "rtb-main", "1.0.0.0/0", ROUTE_BLACKHOLE, NULL, NULL, "destination",
     "did you mean 0.0.0.0/0?"},
    {NULL, "rtb-main", "abc", ROUTE_UNICAST, NULL, "eth0", "destination",
     "destination \"abc\" is not an IPv4 or IPv6 CIDR"},
    {NULL, "rtb-main", "10.0.0.1", ROUTE_UNICAST, NULL, "eth0", "destination", "10.0.0.1/32"},
    {NULL, "rtb-main", "2001:db8::1", ROUTE_UNICAST, NULL, "eth0", "destination",
     "2001:db8::1/128"},
    {NULL, "rtb-main", "", ROUTE_UNICAST, NULL, "eth0", "destination", "required"},
    {NULL, "rtb-main", "1.2.3.0/33", ROUTE_UNICAST, NULL, "eth0", "destination", "\"1.2.3.0/33\""},
    {NULL, "rtb-main", "::/129", ROUTE_UNICAST, NULL, "eth0", "destination", "\"::/129\""},
    {NULL, "rtb-main", "1.2.3.0/024", ROUTE_UNICAST, NULL, "eth0", "destination",
     "\"1.2.3.0/024\""},
    {NULL, "rtb-main", " 10.0.0.0/8", ROUTE_UNICAST, NULL, "eth0", "destination",
     "\" 10.0.0.0/8\""},
    {NULL, "rtb-main", "default6", ROUTE_UNICAST, NULL, "eth0", "destination", "\"default6\""},
    /* via */
    {NULL, "rtb-main", "10.0.0.0/8", ROUTE_UNICAST, "x", NULL, "via",
     "via \"x\" is not an IPv4 or IPv6 address"},
    {NULL, "rtb-main", "10.0.0.0/8", ROUTE_UNICAST, "10.0.0.1/32", NULL, "via", "\"10.0.0.1/32\""},
    {NULL, "rtb-main", "10.0.0.0/8", ROUTE_UNICAST, "2001:db8::1", NULL, "via",
     "via 2001:db8::1 is IPv6 but destination 10.0.0.0/8 is IPv4"},
    {NULL, "rtb-main", "default", ROUTE_UNICAST, "fe80::1", "eth0", "via", "fe80::1"},
    {NULL, "rtb-main", "2001:db8::/32", ROUTE_UNICAST, "192.0.2.1", NULL, "via",
     "via 192.0.2.1 is IPv4 but destination 2001:db8::/32 is IPv6"},
    {NULL, "rtb-main", "::/0", ROUTE_UNICAST, "10.0.0.1", "eth0", "via", "10.0.0.1"},
    /* An IPv6 link-local gateway means nothing without its interface. */
    {NULL, "rtb-main", "2001:db8::/32", ROUTE_UNICAST, "fe80::1", NULL, "via",
     "via fe80::1 is an IPv6 link-local address: give dev"},
    {NULL, "rtb-main", "::/0", ROUTE_UNICAST, "FEBF::1", NULL, "via", "link-local"},
    /* IPv4-mapped IPv6 never matches IPv4 traffic: refused, with the IPv4 spelling. */
    {NULL, "rtb-main", "::ffff:10.0.0.0/104", ROUTE_UNICAST, NULL, "eth0", "destination",
     "destination ::ffff:10.0.0.0/104 is an IPv4-mapped IPv6 prefix"},
    {NULL, "rtb-main", "::ffff:0:0/96", ROUTE_BLACKHOLE, NULL, NULL, "destination",
     "write 0.0.0.0/0"},
    {NULL, "rtb-main", "::ffff:10.0.0.5/128", ROUTE_UNICAST, NULL, "eth0", "destination",
     "write 10.0.0.5/32"},
    {NULL, "rtb-main", "2001:db8::/32", ROUTE_UNICAST, "::ffff:10.0.0.1", NULL, "via",
     "via ::ffff:10.0.0.1 is an IPv4-mapped IPv6 address"},
    /* type vs via/dev */
    {NULL, "rtb-main", "10.0.0.0/8", ROUTE_UNICAST, NULL, NULL, "via", "needs via or dev"},
    {NULL, "rtb-main", "2001:db8::/32", ROUTE_UNICAST, NULL, NULL, "via", "2001:db8::/32"},
    {NULL, "rtb-main", "10.0.0.0/8", ROUTE_BLACKHOLE, "10.0.0.1", NULL, "via",
     "a blackhole route takes no via (got \"10.0.0.1\")"},
    {NULL, "rtb-main", "10.0.0.0/8", ROUTE_BLACKHOLE, NULL, "eth0", "dev",
     "a blackhole route takes no dev (got \"eth0\")"},
    {NULL, "rtb-main", "10.0.0.0/8", ROUTE_UNREACHABLE, "10.0.0.1", "eth0", "via", "unreachable"},
    {NULL, "rtb-main", "2001:db8::/32", ROUTE_UNREACHABLE, NULL, "eth0", "dev", "\"eth0\""},
    {NULL, "rtb-main", "10.0.0.0/8", ROUTE_PROHIBIT, "10.0.0.1", NULL, "via", "prohibit"},
    {NULL, "rtb-main", "10.0.0.0/8", ROUTE_PROHIBIT, NULL, "lo", "dev", "prohibit"},
    {NULL, "rtb-main", "10.0.0.0/8", 7, NULL, "eth0", "type", "7"},
    {NULL, "rtb-main", "10.0.0.0/8", -1, NULL, "eth0", "type", "-1"},
    /* dev */
    {NULL, "rtb-main", "10.0.0.0/8", ROUTE_UNICAST, NULL, "a/b", "dev",
     "dev \"a/b\" is not a valid interface name"},
    {NULL, "rtb-main", "10.0.0.0/8", ROUTE_UNICAST, NULL, "eth0:1", "dev", "\"eth0:1\""},
    {NULL, "rtb-main", "10.0.0.0/8", ROUTE_UNICAST, "10.0.0.1", "a b", "dev", "\"a b\""},
    {NULL, "rtb-main", "10.0.0.0/8", ROUTE_UNICAST, NULL, ".", "dev", "\".\""},
    {NULL, "rtb-main", "10.0.0.0/8", ROUTE_UNICAST, NULL, "..", "dev", "\"..\""},
    {NULL, "rtb-main", "10.0.0.0/8", ROUTE_UNICAST, NULL, "eth0\t", "dev", "dev"},
    /* route_table_id */
    {NULL, "", "10.0.0.0/8", ROUTE_UNICAST, NULL, "eth0", "route_table_id", "required"},
    {NULL, "main", "10.0.0.0/8", ROUTE_UNICAST, NULL, "eth0", "route_table_id",
     "route_table_id \"main\" is not a route table id"},
    {NULL, "rtb-MAIN", "10.0.0.0/8", ROUTE_UNICAST, NULL, "eth0", "route_table_id", "\"rtb-MAIN\""},
    {NULL, "rtb-xyz", "10.0.0.0/8", ROUTE_UNICAST, NULL, "eth0", "route_table_id", "\"rtb-xyz\""},
    {NULL, "rtb-", "10.0.0.0/8", ROUTE_UNICAST, NULL, "eth0", "route_table_id", "\"rtb-\""},
    {NULL, "rt-01", "10.0.0.0/8", ROUTE_UNICAST, NULL, "eth0", "route_table_id", "\"rt-01\""},
    /* id */
    {"rtb-01", "rtb-main", "10.0.0.0/8", ROUTE_UNICAST, NULL, "eth0", "id",
     "id \"rtb-01\" is not a route id"},
    {"rt-", "rtb-main", "10.0.0.0/8", ROUTE_UNICAST, NULL, "eth0", "id", "\"rt-\""},
    {"rt-XYZ", "rtb-main", "10.0.0.0/8", ROUTE_UNICAST, NULL, "eth0", "id", "\"rt-XYZ\""},
    {"rt-0 ", "rtb-main", "10.0.0.0/8", ROUTE_UNICAST, NULL, "eth0", "id", "\"rt-0 \""},
};

static void test_route_validate_errors(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMS(route_bad_cases); i++) {
		const struct route_bad_case *c = &route_bad_cases[i];
		struct vr_err e;
		struct route r;
		int rc;

		route_init(&r, c->table_id, c->dst, (enum route_type)c->type, c->via, c->dev);
		SET(r.id, c->id ? c->id : "");
		err_clear(&e);
		rc = model_route_validate(&r, &e);
		if (rc >= 0)
			fail_msg("case %zu (%s): accepted, want 422 on %s", i, c->dst, c->field);
		if (e.code != VR_ERR_INVALID || strcmp(e.field, c->field) != 0 ||
		    !strstr(e.msg, c->msg))
			fail_msg("case %zu (%s): got %d %s \"%s\", want 422 %s \"...%s...\"", i,
			         c->dst, (int)e.code, e.field, e.msg, c->field, c->msg);
		assert_true(utf8_valid(e.msg));
	}
}

static void test_route_validate_description(void **state)
{
	struct vr_err e;
	struct route r;
	char *long_desc;
	char *p;
	int i;

	(void)state;
	route_init(&r, "rtb-main", "10.0.0.0/8", ROUTE_BLACKHOLE, NULL, NULL);
	err_clear(&e);
	assert_int_equal(model_route_validate(&r, &e), 0); /* NULL description */

	r.description = calloc(1, DESC_MAX_LEN + 2);
	assert_non_null(r.description);
	memset(r.description, 'd', DESC_MAX_LEN);
	assert_int_equal(model_route_validate(&r, &e), 0);
	assert_int_equal(e.code, VR_ERR_NONE);
	r.description[DESC_MAX_LEN] = 'd';
	assert_true(model_route_validate(&r, &e) < 0);
	assert_int_equal(e.code, VR_ERR_INVALID);
	assert_string_equal(e.field, "description");
	assert_non_null(strstr(e.msg, "1024"));
	model_route_clear(&r);
	assert_null(r.description);

	/*
	 * An over-long description is quoted only in part; the cut must not split
	 * a UTF-8 sequence: "a" then "é"s puts a continuation byte at the cut.
	 */
	long_desc = malloc(1 + 2 * 600 + 1);
	assert_non_null(long_desc);
	p = long_desc;
	*p++ = 'a';
	for (i = 0; i < 600; i++) {
		*p++ = (char)0xc3;
		*p++ = (char)0xa9;
	}
	*p = '\0';
	r.description = long_desc;
	err_clear(&e);
	assert_true(model_route_validate(&r, &e) < 0);
	assert_string_equal(e.field, "description");
	assert_true(utf8_valid(e.msg));
	assert_non_null(strstr(e.msg, "\"a\xc3\xa9"));
	model_route_clear(&r);
	assert_null(r.description);
}

/* Unterminated fixed-size fields are refused, not read past their end. */
static void test_route_validate_unterminated(void **state)
{
	struct vr_err e;
	struct route r;

	(void)state;
	route_init(&r, "rtb-main", "10.0.0.0/8", ROUTE_UNICAST, NULL, "eth0");
	memset(r.destination, '1', sizeof(r.destination));
	err_clear(&e);
	assert_true(model_route_validate(&r, &e) < 0);
	assert_int_equal(e.code, VR_ERR_INVALID);
	assert_string_equal(e.field, "destination");

	route_init(&r, "rtb-main", "10.0.0.0/8", ROUTE_UNICAST, NULL, "eth0");
	memset(r.dev, 'e', sizeof(r.dev));
	assert_true(model_route_validate(&r, &e) < 0);
	assert_string_equal(e.field, "dev");

	route_init(&r, "rtb-main", "10.0.0.0/8", ROUTE_UNICAST, NULL, "eth0");
	memset(r.table_id, 'a', sizeof(r.table_id));
	assert_true(model_route_validate(&r, &e) < 0);
	assert_string_equal(e.field, "route_table_id");
}

/* A NULL error pointer is allowed: callers that only want yes/no. */
static void test_route_validate_null_err(void **state)
{
	struct route r;

	(void)state;
	route_init(&r, "rtb-main", "abc", ROUTE_UNICAST, NULL, "eth0");
	assert_true(model_route_validate(&r, NULL) < 0);
	route_init(&r, "rtb-main", "10.0.0.0/8", ROUTE_UNICAST, NULL, "eth0");
	assert_int_equal(model_route_validate(&r, NULL), 0);
}

struct rtb_case {
	const char *id;
	const char *name;
	uint32_t table;
	const char *field; /* NULL: valid */
	const char *msg;
};

static const struct rtb_case rtb_cases[] = {
    {"", "prod", 0, NULL, NULL},
    {"rtb-main", "main", 254, NULL, NULL},
    {"rtb-ab", "x", 100, NULL, NULL},
    {"rtb-ab", "production \xc3\xa9", 1, NULL, NULL},
    {"", "with spaces and ~!@#", 252, NULL, NULL},
    {"", "t", 256, NULL, NULL},
    {"", "t", RTB_AUTO_FIRST, NULL, NULL},
    {"", "t", 0xffffffffu, NULL, NULL},
    {"", "", 0, "name", "required"},
    {"", "a\nb", 0, "name", "control character"},
    {"", "tab\there", 0, "name", "\"tab\there\""},
    {"", "del\x7f", 0, "name", "0x7f"},
    {"", "t", 253, "table", "253"},
    {"", "t", 255, "table", "255"},
    {"rtb-XY", "t", 0, "id", "\"rtb-XY\""},
    {"rt-01", "t", 0, "id", "id \"rt-01\" is not a route table id"},
    {"rtb-", "t", 0, "id", "\"rtb-\""},
    {"rtb-main ", "t", 0, "id", "\"rtb-main \""},
};

static void test_rtb_validate(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMS(rtb_cases); i++) {
		const struct rtb_case *c = &rtb_cases[i];
		struct route_table t;
		struct vr_err e;
		int rc;

		memset(&t, 0, sizeof(t));
		SET(t.id, c->id);
		SET(t.name, c->name);
		t.table = c->table;
		err_clear(&e);
		rc = model_rtb_validate(&t, &e);
		if (!c->field) {
			if (rc != 0)
				fail_msg("rtb %s \"%s\" %u: rc %d (%s: %s)", c->id, c->name,
				         c->table, rc, e.field, e.msg);
			assert_int_equal(e.code, VR_ERR_NONE);
			continue;
		}
		if (rc >= 0)
			fail_msg("rtb %s \"%s\" %u: accepted, want %s", c->id, c->name, c->table,
			         c->field);
		if (e.code != VR_ERR_INVALID || strcmp(e.field, c->field) != 0 ||
		    !strstr(e.msg, c->msg))
			fail_msg("rtb %s \"%s\" %u: got %d %s \"%s\", want 422 %s \"...%s...\"",
			         c->id, c->name, c->table, (int)e.code, e.field, e.msg, c->field,
			         c->msg);
	}
}

static void test_rtb_validate_lengths(void **state)
{
	struct route_table t;
	struct vr_err e;
	size_t i;

	(void)state;
	memset(&t, 0, sizeof(t));
	memset(t.name, 'n', NAME_MAX_LEN);
	err_clear(&e);
	assert_int_equal(model_rtb_validate(&t, &e), 0);

	/* The whole array without a NUL: one byte too long. */
	memset(t.name, 'n', sizeof(t.name));
	assert_true(model_rtb_validate(&t, &e) < 0);
	assert_int_equal(e.code, VR_ERR_INVALID);
	assert_string_equal(e.field, "name");
	assert_non_null(strstr(e.msg, "128"));

	/* Two-byte characters: the quoted part ends on a character boundary. */
	t.name[0] = 'x';
	for (i = 1; i + 1 < sizeof(t.name); i += 2) {
		t.name[i] = (char)0xc3;
		t.name[i + 1] = (char)0xa9;
	}
	assert_true(model_rtb_validate(&t, &e) < 0);
	assert_string_equal(e.field, "name");
	assert_true(utf8_valid(e.msg));

	memset(&t, 0, sizeof(t));
	SET(t.name, "ok");
	t.description = calloc(1, DESC_MAX_LEN + 2);
	assert_non_null(t.description);
	memset(t.description, 'd', DESC_MAX_LEN);
	assert_int_equal(model_rtb_validate(&t, &e), 0);
	t.description[DESC_MAX_LEN] = 'd';
	err_clear(&e);
	assert_true(model_rtb_validate(&t, &e) < 0);
	assert_int_equal(e.code, VR_ERR_INVALID);
	assert_string_equal(e.field, "description");
	model_rtb_clear(&t);
	assert_null(t.description);
}

static void route_fixture(struct route *r)
{
	route_init(r, "rtb-0a", "192.168.100.0/24", ROUTE_UNICAST, "192.168.150.3", "enp0s1");
	SET(r->id, "rt-01");
	r->metric = 100;
}

static void test_route_same(void **state)
{
	struct route a, b;
	struct vr_err e;

	(void)state;
	route_fixture(&a);
	route_fixture(&b);
	assert_true(model_route_same(&a, &b));

	/* Not compared: timestamps, rev, parsed fields, the store's table number. */
	SET(b.created_at, "2026-11-26T13:22:32.123Z");
	SET(b.updated_at, "2026-11-27T13:22:32.123Z");
	b.rev = 42;
	b.table = 10000;
	assert_int_equal(model_route_validate(&b, &e), 0);
	assert_true(model_route_same(&a, &b));

	/* NULL description is "". */
	b.description = strdup("");
	assert_true(model_route_same(&a, &b));
	assert_true(model_route_same(&b, &a));
	a.description = strdup("");
	assert_true(model_route_same(&a, &b));
	model_route_clear(&b);
	b.description = strdup("x");
	assert_false(model_route_same(&a, &b));
	assert_false(model_route_same(&b, &a));
	model_route_clear(&a);
	a.description = strdup("x");
	assert_true(model_route_same(&a, &b));
	model_route_clear(&a);
	model_route_clear(&b);

	/* Each writable field, compared as written (same prefix, other text: different). */
	route_fixture(&b);
	SET(b.id, "rt-02");
	assert_false(model_route_same(&a, &b));
	route_fixture(&b);
	SET(b.table_id, "rtb-main");
	assert_false(model_route_same(&a, &b));
	route_fixture(&b);
	SET(b.destination, "192.168.100.0/25");
	assert_false(model_route_same(&a, &b));
	route_fixture(&b);
	SET(b.destination, "192.168.100.000/24");
	assert_false(model_route_same(&a, &b));
	route_fixture(&a);
	route_fixture(&b);
	SET(a.destination, "default");
	SET(b.destination, "0.0.0.0/0");
	assert_false(model_route_same(&a, &b));
	route_fixture(&a);
	route_fixture(&b);
	b.type = ROUTE_BLACKHOLE;
	assert_false(model_route_same(&a, &b));
	route_fixture(&b);
	SET(b.via_text, "192.168.150.4");
	assert_false(model_route_same(&a, &b));
	route_fixture(&b);
	SET(b.via_text, "");
	assert_false(model_route_same(&a, &b));
	route_fixture(&b);
	SET(b.dev, "enp0s2");
	assert_false(model_route_same(&a, &b));
	route_fixture(&b);
	b.metric = 0;
	assert_false(model_route_same(&a, &b));
}

static void test_rtb_same(void **state)
{
	struct route_table a, b;

	(void)state;
	memset(&a, 0, sizeof(a));
	SET(a.id, "rtb-01");
	SET(a.name, "prod");
	a.table = 100;
	b = a;
	assert_true(model_rtb_same(&a, &b));
	SET(b.created_at, "2026-11-26T13:22:32.123Z");
	b.rev = 9;
	assert_true(model_rtb_same(&a, &b));
	b.description = strdup("");
	assert_true(model_rtb_same(&a, &b));
	model_rtb_clear(&b);
	b.description = strdup("d");
	assert_false(model_rtb_same(&a, &b));
	model_rtb_clear(&b);

	b = a;
	SET(b.id, "rtb-02");
	assert_false(model_rtb_same(&a, &b));
	b = a;
	SET(b.name, "Prod");
	assert_false(model_rtb_same(&a, &b));
	b = a;
	b.table = 101;
	assert_false(model_rtb_same(&a, &b));
	/* 0 ("assign one") is a different value from an assigned table, as written. */
	b.table = 0;
	assert_false(model_rtb_same(&a, &b));
}

static void test_clear_free(void **state)
{
	struct route_table *tv;
	struct route *rv;
	struct route r;
	size_t i;

	(void)state;
	model_route_clear(NULL);
	model_rtb_clear(NULL);
	model_routes_free(NULL, 3);
	model_rtbs_free(NULL, 3);

	memset(&r, 0, sizeof(r));
	model_route_clear(&r); /* NULL description */
	r.description = strdup("x");
	model_route_clear(&r);
	assert_null(r.description);
	model_route_clear(&r); /* twice is fine */

	/* The sanitizer build's leak checker verifies these are all freed. */
	rv = calloc(4, sizeof(*rv));
	tv = calloc(4, sizeof(*tv));
	assert_non_null(rv);
	assert_non_null(tv);
	for (i = 0; i < 4; i += 2) {
		rv[i].description = strdup("route");
		tv[i].description = strdup("table");
	}
	model_routes_free(rv, 4);
	model_rtbs_free(tv, 4);
}

static void test_now(void **state)
{
	char buf[TIME_MAX];
	struct tm tm;
	struct timespec ts;
	time_t before, after, t;
	char *end;
	size_t i;

	(void)state;
	/* Not time(): it may read a coarser clock that lags CLOCK_REALTIME. */
	clock_gettime(CLOCK_REALTIME, &ts);
	before = ts.tv_sec;
	model_now(buf);
	clock_gettime(CLOCK_REALTIME, &ts);
	after = ts.tv_sec;

	assert_int_equal(strlen(buf), 24);
	for (i = 0; i < 24; i++) {
		char want = "dddd-dd-ddTdd:dd:dd.dddZ"[i];

		if (want == 'd' ? (buf[i] < '0' || buf[i] > '9') : buf[i] != want)
			fail_msg("\"%s\": byte %zu", buf, i);
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(buf, "%Y-%m-%dT%H:%M:%S", &tm);
	assert_non_null(end);
	assert_string_equal(end, buf + 19);
	t = timegm(&tm);
	/* UTC, and now: within the two clock reads. */
	assert_true(t >= before && t <= after);
}

/* ---- security groups ---- */

static void test_sg_names(void **state)
{
	static const char *const dirs[] = {"ingress", "egress"};
	static const char *const protos[] = {"tcp", "udp", "icmp", "icmpv6", "all"};
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMS(dirs); i++) {
		assert_int_equal(model_sg_direction_parse(dirs[i]), (int)i);
		assert_string_equal(model_sg_direction_name((enum sg_direction)i), dirs[i]);
	}
	for (i = 0; i < N_ELEMS(protos); i++) {
		assert_int_equal(model_sg_protocol_parse(protos[i]), (int)i);
		assert_string_equal(model_sg_protocol_name((enum sg_protocol)i), protos[i]);
	}
	assert_int_equal(model_sg_direction_parse("Ingress"), -1);
	assert_int_equal(model_sg_direction_parse(""), -1);
	assert_int_equal(model_sg_direction_parse(NULL), -1);
	assert_int_equal(model_sg_protocol_parse("TCP"), -1);
	assert_int_equal(model_sg_protocol_parse("icmp6"), -1);
	assert_int_equal(model_sg_protocol_parse(NULL), -1);
	assert_string_equal(model_sg_direction_name((enum sg_direction)2), "unknown");
	assert_string_equal(model_sg_protocol_name((enum sg_protocol)5), "unknown");
	assert_string_equal(model_sg_protocol_name((enum sg_protocol) - 1), "unknown");
}

#define SG_TARGETS_TEST 8

/* A group on the stack: targets point into tv, which the caller provides. */
static void sg_init(struct security_group *g, struct sg_target *tv, const char *name,
                    const char *const *targets)
{
	size_t n = 0;

	memset(g, 0, sizeof(*g));
	memset(tv, 0, SG_TARGETS_TEST * sizeof(*tv));
	SET(g->name, name ? name : "");
	for (; targets && targets[n]; n++) {
		assert_true(n < SG_TARGETS_TEST);
		SET(tv[n].text, targets[n]);
	}
	g->targets = n ? tv : NULL;
	g->ntargets = n;
}

static void test_sg_validate_ok(void **state)
{
	static const char *const targets[] = {
	    "192.168.100.2", "192.168.100.0/24", "local", "2001:DB8::/32",
	    "::1",           "0.0.0.0/0",        NULL};
	struct sg_target tv[SG_TARGETS_TEST];
	struct security_group g;
	struct vr_err e;
	char buf[CIDR_STR_MAX];

	(void)state;
	sg_init(&g, tv, "web", targets);
	SET(g.id, "sg-0123abcd");
	err_clear(&e);
	if (model_sg_validate(&g, &e) != 0)
		fail_msg("%s: %s", e.field, e.msg);
	assert_false(tv[0].local);
	cidr_format_prefix(&tv[0].p, buf, sizeof(buf));
	assert_string_equal(buf, "192.168.100.2/32");
	cidr_format_prefix(&tv[1].p, buf, sizeof(buf));
	assert_string_equal(buf, "192.168.100.0/24");
	assert_true(tv[2].local);
	assert_int_equal(tv[3].p.addr.family, AF_INET6);
	cidr_format_prefix(&tv[3].p, buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8::/32");
	/* Validation parses; it never rewrites what the client wrote. */
	assert_string_equal(tv[3].text, "2001:DB8::/32");
	cidr_format_prefix(&tv[4].p, buf, sizeof(buf));
	assert_string_equal(buf, "::1/128");
	assert_int_equal(tv[5].p.len, 0);

	/* No targets: a group that is only a remote reference for rules. */
	sg_init(&g, tv, "peers", NULL);
	assert_int_equal(model_sg_validate(&g, &e), 0);
	/* The same prefix in both families is two targets. */
	{
		static const char *const two[] = {"0.0.0.0/0", "::/0", NULL};

		sg_init(&g, tv, "all", two);
		assert_int_equal(model_sg_validate(&g, &e), 0);
	}
}

struct sg_bad_case {
	const char *id;
	const char *name;
	const char *targets[SG_TARGETS_TEST];
	const char *field;
	const char *msg;
};

static const struct sg_bad_case sg_bad_cases[] = {
    {"sgr-01", "web", {NULL}, "id", "id \"sgr-01\" is not a security group id"},
    {"sg-", "web", {NULL}, "id", "\"sg-\""},
    {"sg-XY", "web", {NULL}, "id", "\"sg-XY\""},
    {"rtb-01", "web", {NULL}, "id", "\"rtb-01\""},
    {NULL, "", {NULL}, "name", "name is required"},
    {NULL, "a\tb", {NULL}, "name", "control character (0x09 at byte 1)"},
    {NULL, "web\x7f", {NULL}, "name", "control character (0x7f"},
    {NULL, "web", {""}, "targets[0]", "targets[0] is empty"},
    {NULL, "web", {"local", "banana"}, "targets[1]", "targets[1] \"banana\" is not \"local\""},
    {NULL,
     "web",
     {"local", "10.0.0.1", "10.0.0.0/8", "10.0.0.1/24"},
     "targets[3]",
     "targets[3] 10.0.0.1/24: host bits set (did you mean 10.0.0.0/24?)"},
    {NULL, "web", {"2001:db8::1/64"}, "targets[0]", "did you mean 2001:db8::/64?"},
    {NULL, "web", {"10.0.0.0/33"}, "targets[0]", "\"10.0.0.0/33\""},
    {NULL, "web", {"default"}, "targets[0]", "\"default\""},
    {NULL, "web", {"Local"}, "targets[0]", "\"Local\""},
    {NULL, "web", {" local"}, "targets[0]", "\" local\""},
    {NULL,
     "web",
     {"10.0.0.1", "10.0.0.1/32"},
     "targets[1]",
     "targets[1] \"10.0.0.1/32\" repeats targets[0] \"10.0.0.1\""},
    {NULL, "web", {"local", "10.0.0.0/8", "local"}, "targets[2]", "repeats targets[0]"},
    {NULL, "web", {"2001:db8::/32", "2001:DB8::/32"}, "targets[1]", "repeats targets[0]"},
    {NULL,
     "web",
     {"local", "::ffff:10.0.0.5"},
     "targets[1]",
     "targets[1] ::ffff:10.0.0.5 is an IPv4-mapped IPv6 address (inside ::ffff:0:0/96), "
     "which IPv4 traffic never matches: write 10.0.0.5"},
    {NULL, "web", {"::ffff:192.168.0.0/112"}, "targets[0]", "write 192.168.0.0/16"},
};

static void test_sg_validate_errors(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMS(sg_bad_cases); i++) {
		const struct sg_bad_case *c = &sg_bad_cases[i];
		struct sg_target tv[SG_TARGETS_TEST];
		struct security_group g;
		struct vr_err e;

		sg_init(&g, tv, c->name, c->targets);
		SET(g.id, c->id ? c->id : "");
		err_clear(&e);
		if (model_sg_validate(&g, &e) >= 0)
			fail_msg("case %zu: accepted, want 422 on %s", i, c->field);
		if (e.code != VR_ERR_INVALID || strcmp(e.field, c->field) != 0 ||
		    !strstr(e.msg, c->msg))
			fail_msg("case %zu: got %d %s \"%s\", want 422 %s \"...%s...\"", i,
			         (int)e.code, e.field, e.msg, c->field, c->msg);
		assert_true(utf8_valid(e.msg));
	}
}

static void test_sg_validate_limits(void **state)
{
	struct security_group g;
	struct vr_err e;
	size_t i;

	(void)state;
	memset(&g, 0, sizeof(g));
	SET(g.name, "big");
	g.targets = calloc(SG_TARGETS_MAX + 1, sizeof(*g.targets));
	assert_non_null(g.targets);
	for (i = 0; i <= SG_TARGETS_MAX; i++)
		snprintf(g.targets[i].text, sizeof(g.targets[i].text), "10.0.%zu.%zu", i / 256,
		         i % 256);
	g.ntargets = SG_TARGETS_MAX;
	err_clear(&e);
	assert_int_equal(model_sg_validate(&g, &e), 0);
	g.ntargets = SG_TARGETS_MAX + 1;
	assert_int_equal(model_sg_validate(&g, &e), -EINVAL);
	assert_int_equal(e.code, VR_ERR_INVALID);
	assert_string_equal(e.field, "targets");
	assert_non_null(strstr(e.msg, "257"));
	g.ntargets = SG_TARGETS_MAX;

	/* A target without its NUL (server/ fills fixed arrays). */
	memset(g.targets[5].text, '1', sizeof(g.targets[5].text));
	err_clear(&e);
	assert_int_equal(model_sg_validate(&g, &e), -EINVAL);
	assert_string_equal(e.field, "targets[5]");
	assert_non_null(strstr(e.msg, "longer than"));
	free(g.targets);
	g.targets = NULL;
	g.ntargets = 0;

	/* Name: NAME_MAX_LEN fits, one more does not. */
	memset(g.name, 'n', NAME_MAX_LEN);
	g.name[NAME_MAX_LEN] = '\0';
	assert_int_equal(model_sg_validate(&g, &e), 0);
	memset(g.name, 'n', sizeof(g.name));
	err_clear(&e);
	assert_int_equal(model_sg_validate(&g, &e), -EINVAL);
	assert_string_equal(e.field, "name");
	SET(g.name, "ok");

	g.description = calloc(1, DESC_MAX_LEN + 2);
	assert_non_null(g.description);
	memset(g.description, 'd', DESC_MAX_LEN);
	assert_int_equal(model_sg_validate(&g, &e), 0);
	g.description[DESC_MAX_LEN] = 'd';
	err_clear(&e);
	assert_int_equal(model_sg_validate(&g, &e), -EINVAL);
	assert_string_equal(e.field, "description");
	model_sg_clear(&g);
	assert_null(g.description);
}

#define NOPORT INT64_MIN

static void sgr_init(struct sg_rule *r, const char *group, int dir, int proto, int64_t from,
                     int64_t to, const char *cidr, const char *remote)
{
	memset(r, 0, sizeof(*r));
	SET(r->group_id, group ? group : "");
	r->direction = (enum sg_direction)dir;
	r->protocol = (enum sg_protocol)proto;
	r->port_from_set = from != NOPORT;
	r->port_from_in = from != NOPORT ? from : 0;
	r->port_to_set = to != NOPORT;
	r->port_to_in = to != NOPORT ? to : 0;
	SET(r->cidr_text, cidr ? cidr : "");
	SET(r->remote_group_id, remote ? remote : "");
}

static void test_sg_rule_validate_ok(void **state)
{
	struct sg_rule r;
	struct vr_err e;
	char buf[CIDR_STR_MAX];

	(void)state;
	err_clear(&e);
	sgr_init(&r, "sg-01", SG_INGRESS, SG_PROTO_TCP, 22, 22, "192.168.150.0/24", NULL);
	SET(r.id, "sgr-00ff");
	assert_int_equal(model_sg_rule_validate(&r, &e), 0);
	assert_true(r.has_ports);
	assert_int_equal(r.port_from, 22);
	assert_int_equal(r.port_to, 22);
	cidr_format_prefix(&r.cidr, buf, sizeof(buf));
	assert_string_equal(buf, "192.168.150.0/24");

	sgr_init(&r, "sg-01", SG_EGRESS, SG_PROTO_UDP, 1, 65535, "2001:DB8::/32", NULL);
	assert_int_equal(model_sg_rule_validate(&r, &e), 0);
	assert_int_equal(r.port_from, 1);
	assert_int_equal(r.port_to, 65535);
	assert_int_equal(r.cidr.addr.family, AF_INET6);
	assert_string_equal(r.cidr_text, "2001:DB8::/32");

	/* No ports: all ports. */
	sgr_init(&r, "sg-01", SG_INGRESS, SG_PROTO_TCP, NOPORT, NOPORT, "0.0.0.0/0", NULL);
	assert_int_equal(model_sg_rule_validate(&r, &e), 0);
	assert_false(r.has_ports);
	sgr_init(&r, "sg-01", SG_INGRESS, SG_PROTO_ICMP, NOPORT, NOPORT, "10.0.0.0/8", NULL);
	assert_int_equal(model_sg_rule_validate(&r, &e), 0);
	sgr_init(&r, "sg-01", SG_INGRESS, SG_PROTO_ICMPV6, NOPORT, NOPORT, "::/0", NULL);
	assert_int_equal(model_sg_rule_validate(&r, &e), 0);
	/* "all" carries both families; so does a remote group, whatever the protocol. */
	sgr_init(&r, "sg-01", SG_INGRESS, SG_PROTO_ALL, NOPORT, NOPORT, "::/0", NULL);
	assert_int_equal(model_sg_rule_validate(&r, &e), 0);
	sgr_init(&r, "sg-01", SG_INGRESS, SG_PROTO_ICMP, NOPORT, NOPORT, NULL, "sg-02");
	assert_int_equal(model_sg_rule_validate(&r, &e), 0);
	assert_int_equal(r.cidr.addr.family, 0);
	/* A group may name itself: members talk to each other. */
	sgr_init(&r, "sg-01", SG_INGRESS, SG_PROTO_TCP, 5432, 5432, NULL, "sg-01");
	assert_int_equal(model_sg_rule_validate(&r, &e), 0);
	assert_int_equal(e.code, VR_ERR_NONE);
	/* Single host as a /32. */
	sgr_init(&r, "sg-01", SG_INGRESS, SG_PROTO_TCP, NOPORT, NOPORT, "10.1.2.3/32", NULL);
	assert_int_equal(model_sg_rule_validate(&r, &e), 0);
}

struct sgr_bad_case {
	const char *id;
	const char *group;
	int dir, proto;
	int64_t from, to;
	const char *cidr, *remote;
	const char *field;
	const char *msg;
};

#define V4 "10.0.0.0/8"
static const struct sgr_bad_case sgr_bad_cases[] = {
    /* ids */
    {"sg-01", "sg-01", 0, 0, NOPORT, NOPORT, V4, NULL, "id",
     "id \"sg-01\" is not a security group rule id"},
    {"sgr-", "sg-01", 0, 0, NOPORT, NOPORT, V4, NULL, "id", "\"sgr-\""},
    {"sgr-0G", "sg-01", 0, 0, NOPORT, NOPORT, V4, NULL, "id", "\"sgr-0G\""},
    {NULL, "", 0, 0, NOPORT, NOPORT, V4, NULL, "security_group_id", "required"},
    {NULL, "sgr-01", 0, 0, NOPORT, NOPORT, V4, NULL, "security_group_id",
     "security_group_id \"sgr-01\" is not a security group id"},
    {NULL, "web", 0, 0, NOPORT, NOPORT, V4, NULL, "security_group_id", "\"web\""},
    /* enums */
    {NULL, "sg-01", 2, 0, NOPORT, NOPORT, V4, NULL, "direction", "direction 2"},
    {NULL, "sg-01", -1, 0, NOPORT, NOPORT, V4, NULL, "direction", "direction -1"},
    {NULL, "sg-01", 0, 5, NOPORT, NOPORT, V4, NULL, "protocol", "protocol 5"},
    /* ports */
    {NULL, "sg-01", 0, SG_PROTO_ICMP, 1, 1, V4, NULL, "port_from",
     "ports apply only to tcp and udp, not to protocol icmp"},
    {NULL, "sg-01", 0, SG_PROTO_ICMPV6, 1, 1, "::/0", NULL, "port_from", "icmpv6"},
    {NULL, "sg-01", 0, SG_PROTO_ALL, 80, 80, V4, NULL, "port_from", "protocol all"},
    {NULL, "sg-01", 0, SG_PROTO_ALL, NOPORT, 80, V4, NULL, "port_from", "protocol all"},
    {NULL, "sg-01", 0, SG_PROTO_TCP, NOPORT, 80, V4, NULL, "port_from",
     "port_from is required with port_to (80)"},
    {NULL, "sg-01", 0, SG_PROTO_UDP, 53, NOPORT, V4, NULL, "port_to",
     "port_to is required with port_from (53)"},
    {NULL, "sg-01", 0, SG_PROTO_TCP, 0, 80, V4, NULL, "port_from",
     "port_from 0 is out of range 1..65535"},
    {NULL, "sg-01", 0, SG_PROTO_TCP, -22, 80, V4, NULL, "port_from", "port_from -22"},
    {NULL, "sg-01", 0, SG_PROTO_TCP, 65536, 65536, V4, NULL, "port_from", "port_from 65536"},
    {NULL, "sg-01", 0, SG_PROTO_TCP, 80, 70000, V4, NULL, "port_to",
     "port_to 70000 is out of range 1..65535"},
    {NULL, "sg-01", 0, SG_PROTO_TCP, 80, 0, V4, NULL, "port_to", "port_to 0"},
    {NULL, "sg-01", 0, SG_PROTO_TCP, 4294967297LL, 80, V4, NULL, "port_from", "4294967297"},
    {NULL, "sg-01", 0, SG_PROTO_UDP, 81, 80, V4, NULL, "port_from",
     "port_from 81 is above port_to 80"},
    /* peer */
    {NULL, "sg-01", 0, 0, NOPORT, NOPORT, V4, "sg-02", "cidr",
     "give either cidr (\"10.0.0.0/8\") or remote_security_group_id (\"sg-02\"), not both"},
    {NULL, "sg-01", 0, 0, NOPORT, NOPORT, NULL, NULL, "cidr",
     "a rule needs cidr or remote_security_group_id"},
    {NULL, "sg-01", 0, 0, NOPORT, NOPORT, "10.0.0.1/8", NULL, "cidr",
     "cidr 10.0.0.1/8: host bits set (did you mean 10.0.0.0/8?)"},
    {NULL, "sg-01", 0, 0, NOPORT, NOPORT, "2001:db8::1/32", NULL, "cidr", "2001:db8::/32"},
    {NULL, "sg-01", 0, 0, NOPORT, NOPORT, "10.0.0.1", NULL, "cidr",
     "(no prefix length; for one host write 10.0.0.1/32)"},
    {NULL, "sg-01", 0, 0, NOPORT, NOPORT, "banana", NULL, "cidr",
     "cidr \"banana\" is not an IPv4 or IPv6 CIDR"},
    {NULL, "sg-01", 0, 0, NOPORT, NOPORT, "default", NULL, "cidr", "0.0.0.0/0 or ::/0"},
    {NULL, "sg-01", 0, 0, NOPORT, NOPORT, "local", NULL, "cidr", "\"local\""},
    {NULL, "sg-01", 0, SG_PROTO_ICMP, NOPORT, NOPORT, "2001:db8::/32", NULL, "cidr",
     "cidr 2001:db8::/32 is IPv6, which protocol icmp never carries"},
    {NULL, "sg-01", 0, SG_PROTO_ICMPV6, NOPORT, NOPORT, "0.0.0.0/0", NULL, "cidr",
     "cidr 0.0.0.0/0 is IPv4, which protocol icmpv6 never carries"},
    {NULL, "sg-01", 0, 0, NOPORT, NOPORT, NULL, "web", "remote_security_group_id",
     "remote_security_group_id \"web\" is not a security group id"},
    {NULL, "sg-01", 0, 0, NOPORT, NOPORT, NULL, "sgr-01", "remote_security_group_id", "\"sgr-01\""},
    {NULL, "sg-01", 0, 0, NOPORT, NOPORT, "::ffff:10.0.0.0/104", NULL, "cidr",
     "cidr ::ffff:10.0.0.0/104 is an IPv4-mapped IPv6 prefix"},
};

static void test_sg_rule_validate_errors(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMS(sgr_bad_cases); i++) {
		const struct sgr_bad_case *c = &sgr_bad_cases[i];
		struct vr_err e;
		struct sg_rule r;

		sgr_init(&r, c->group, c->dir, c->proto, c->from, c->to, c->cidr, c->remote);
		SET(r.id, c->id ? c->id : "");
		err_clear(&e);
		if (model_sg_rule_validate(&r, &e) >= 0)
			fail_msg("case %zu: accepted, want 422 on %s", i, c->field);
		if (e.code != VR_ERR_INVALID || strcmp(e.field, c->field) != 0 ||
		    !strstr(e.msg, c->msg))
			fail_msg("case %zu: got %d %s \"%s\", want 422 %s \"...%s...\"", i,
			         (int)e.code, e.field, e.msg, c->field, c->msg);
		assert_true(utf8_valid(e.msg));
		/* A refused rule carries no half-parsed ports. */
		assert_false(r.has_ports);
	}
}

static void test_sg_rule_validate_unterminated(void **state)
{
	struct sg_rule r;
	struct vr_err e;

	(void)state;
	sgr_init(&r, "sg-01", 0, 0, NOPORT, NOPORT, V4, NULL);
	memset(r.cidr_text, '1', sizeof(r.cidr_text));
	err_clear(&e);
	assert_int_equal(model_sg_rule_validate(&r, &e), -EINVAL);
	assert_string_equal(e.field, "cidr");
	sgr_init(&r, "sg-01", 0, 0, NOPORT, NOPORT, NULL, "sg-02");
	memset(r.remote_group_id, 'a', sizeof(r.remote_group_id));
	assert_int_equal(model_sg_rule_validate(&r, &e), -EINVAL);
	assert_string_equal(e.field, "remote_security_group_id");
	sgr_init(&r, "sg-01", 0, 0, NOPORT, NOPORT, V4, NULL);
	memset(r.group_id, 'a', sizeof(r.group_id));
	assert_int_equal(model_sg_rule_validate(&r, &e), -EINVAL);
	assert_string_equal(e.field, "security_group_id");
	sgr_init(&r, "sg-01", 0, 0, NOPORT, NOPORT, V4, NULL);
	r.description = calloc(1, DESC_MAX_LEN + 2);
	assert_non_null(r.description);
	memset(r.description, 'd', DESC_MAX_LEN + 1);
	assert_int_equal(model_sg_rule_validate(&r, &e), -EINVAL);
	assert_string_equal(e.field, "description");
	model_sg_rule_clear(&r);
	/* A NULL error struct is allowed. */
	sgr_init(&r, "sg-01", 0, 0, NOPORT, NOPORT, NULL, NULL);
	assert_int_equal(model_sg_rule_validate(&r, NULL), -EINVAL);
}

static void test_sg_same(void **state)
{
	static const char *const t1[] = {"10.0.0.1", "local", NULL};
	static const char *const t2[] = {"local", "10.0.0.1", NULL};
	static const char *const t3[] = {"10.0.0.1/32", "local", NULL};
	struct sg_target ta[SG_TARGETS_TEST], tb[SG_TARGETS_TEST];
	struct security_group a, b;

	(void)state;
	sg_init(&a, ta, "web", t1);
	sg_init(&b, tb, "web", t1);
	assert_true(model_sg_same(&a, &b));
	b.description = "";
	assert_true(model_sg_same(&a, &b)); /* NULL and "" are the same description */
	b.description = "x";
	assert_false(model_sg_same(&a, &b));
	b.description = NULL;
	/* Order and spelling are part of what was written. */
	sg_init(&b, tb, "web", t2);
	assert_false(model_sg_same(&a, &b));
	sg_init(&b, tb, "web", t3);
	assert_false(model_sg_same(&a, &b));
	sg_init(&b, tb, "web", NULL);
	assert_false(model_sg_same(&a, &b));
	sg_init(&b, tb, "Web", t1);
	assert_false(model_sg_same(&a, &b));
	sg_init(&b, tb, "web", t1);
	SET(b.id, "sg-01");
	assert_false(model_sg_same(&a, &b));
}

static void test_sg_rule_same(void **state)
{
	struct sg_rule a, b;

	(void)state;
	sgr_init(&a, "sg-01", SG_INGRESS, SG_PROTO_TCP, 22, 22, V4, NULL);
	sgr_init(&b, "sg-01", SG_INGRESS, SG_PROTO_TCP, 22, 22, V4, NULL);
	assert_true(model_sg_rule_same(&a, &b));
	/* Parsed fields do not take part: only what was written. */
	b.has_ports = true;
	b.port_from = 9;
	assert_true(model_sg_rule_same(&a, &b));
	b.port_to_in = 23;
	assert_false(model_sg_rule_same(&a, &b));
	sgr_init(&b, "sg-01", SG_INGRESS, SG_PROTO_TCP, NOPORT, NOPORT, V4, NULL);
	assert_false(model_sg_rule_same(&a, &b));
	sgr_init(&b, "sg-01", SG_EGRESS, SG_PROTO_TCP, 22, 22, V4, NULL);
	assert_false(model_sg_rule_same(&a, &b));
	sgr_init(&b, "sg-01", SG_INGRESS, SG_PROTO_UDP, 22, 22, V4, NULL);
	assert_false(model_sg_rule_same(&a, &b));
	sgr_init(&b, "sg-02", SG_INGRESS, SG_PROTO_TCP, 22, 22, V4, NULL);
	assert_false(model_sg_rule_same(&a, &b));
	sgr_init(&b, "sg-01", SG_INGRESS, SG_PROTO_TCP, 22, 22, "10.0.0.0/08", NULL);
	assert_false(model_sg_rule_same(&a, &b));
	sgr_init(&b, "sg-01", SG_INGRESS, SG_PROTO_TCP, 22, 22, NULL, "sg-01");
	assert_false(model_sg_rule_same(&a, &b));
	sgr_init(&b, "sg-01", SG_INGRESS, SG_PROTO_TCP, 22, 22, V4, NULL);
	b.description = "ssh";
	assert_false(model_sg_rule_same(&a, &b));
	/* Ports not given compare equal whatever their (unused) values. */
	sgr_init(&a, "sg-01", SG_INGRESS, SG_PROTO_ALL, NOPORT, NOPORT, V4, NULL);
	sgr_init(&b, "sg-01", SG_INGRESS, SG_PROTO_ALL, NOPORT, NOPORT, V4, NULL);
	b.port_from_in = 5;
	assert_true(model_sg_rule_same(&a, &b));
}

static void test_sg_clear_free(void **state)
{
	struct security_group g, *gv;
	struct sg_rule r, *rv;
	size_t i;

	(void)state;
	model_sg_clear(NULL);
	model_sg_rule_clear(NULL);
	model_sgs_free(NULL, 3);
	model_sg_rules_free(NULL, 3);

	memset(&g, 0, sizeof(g));
	model_sg_clear(&g);
	g.description = strdup("x");
	g.targets = calloc(2, sizeof(*g.targets));
	g.ntargets = 2;
	model_sg_clear(&g);
	assert_null(g.description);
	assert_null(g.targets);
	assert_int_equal(g.ntargets, 0);
	model_sg_clear(&g); /* twice is fine */
	memset(&r, 0, sizeof(r));
	r.description = strdup("y");
	model_sg_rule_clear(&r);
	assert_null(r.description);

	/* The sanitizer build's leak checker verifies these are all freed. */
	gv = calloc(4, sizeof(*gv));
	rv = calloc(4, sizeof(*rv));
	assert_non_null(gv);
	assert_non_null(rv);
	for (i = 0; i < 4; i += 2) {
		gv[i].description = strdup("group");
		gv[i].targets = calloc(3, sizeof(*gv[i].targets));
		gv[i].ntargets = 3;
		rv[i].description = strdup("rule");
	}
	model_sgs_free(gv, 4);
	model_sg_rules_free(rv, 4);
}

/* ---- subnets ---- */

/* A subnet as the client wrote it; NULL means "" (table NULL: "rtb-main"). */
static void subnet_init(struct subnet *s, const char *name, const char *cidr, const char *ifname,
                        const char *router_ip, const char *table_id)
{
	memset(s, 0, sizeof(*s));
	SET(s->name, name ? name : "");
	SET(s->cidr_text, cidr ? cidr : "");
	SET(s->interface, ifname ? ifname : "");
	SET(s->router_ip_text, router_ip ? router_ip : "");
	SET(s->table_id, table_id ? table_id : RTB_MAIN_ID);
}

struct subnet_ok_case {
	const char *cidr;
	const char *router_ip;
	int family;
	unsigned len;
};

static const struct subnet_ok_case subnet_ok_cases[] = {
    {"192.168.150.0/24", "192.168.150.1", AF_INET, 24},
    {"192.168.150.0/24", "192.168.150.254", AF_INET, 24},
    {"10.0.0.0/8", "10.255.255.254", AF_INET, 8},
    {"10.0.0.0/30", "10.0.0.2", AF_INET, 30},
    /* RFC 3021: both addresses of a /31 are hosts; a /32 holds only the router. */
    {"10.0.0.0/31", "10.0.0.0", AF_INET, 31},
    {"10.0.0.0/31", "10.0.0.1", AF_INET, 31},
    {"10.0.0.7/32", "10.0.0.7", AF_INET, 32},
    {"2001:db8::/64", "2001:db8::1", AF_INET6, 64},
    {"2001:DB8:0:1::/64", "2001:db8:0:1:ffff:ffff:ffff:ffff", AF_INET6, 64},
    {"fd00::/127", "fd00::", AF_INET6, 127},
    {"fd00::1/128", "fd00::1", AF_INET6, 128},
    {"128.0.0.0/1", "128.0.0.1", AF_INET, 1},
};

static void test_subnet_validate_ok(void **state)
{
	struct vr_err e;
	struct subnet s;
	struct ipaddr want;
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMS(subnet_ok_cases); i++) {
		const struct subnet_ok_case *c = &subnet_ok_cases[i];

		subnet_init(&s, "lan", c->cidr, "eth0", c->router_ip, NULL);
		err_clear(&e);
		if (model_subnet_validate(&s, &e) != 0)
			fail_msg("case %zu (%s, %s): %d %s: %s", i, c->cidr, c->router_ip,
			         (int)e.code, e.field, e.msg);
		assert_int_equal(s.cidr.addr.family, c->family);
		assert_int_equal(s.cidr.len, c->len);
		assert_int_equal(cidr_parse_addr(c->router_ip, &want), 0);
		assert_true(cidr_addr_equal(&s.router_ip, &want));
		assert_true(cidr_contains(&s.cidr, &s.router_ip));
		/* Validation leaves the text as written. */
		assert_string_equal(s.cidr_text, c->cidr);
		assert_string_equal(s.router_ip_text, c->router_ip);
	}
	/* With an id, another table and a description. */
	subnet_init(&s, "web tier", "192.168.100.0/24", "br-lan.10", "192.168.100.1", "rtb-0a");
	SET(s.id, "subnet-00ff");
	s.description = "web";
	assert_int_equal(model_subnet_validate(&s, &e), 0);
}

struct subnet_bad_case {
	const char *id;
	const char *name;
	const char *cidr;
	const char *ifname;
	const char *router_ip;
	const char *table_id;
	const char *field;
	const char *msg; /* substring of the message */
};

static const struct subnet_bad_case subnet_bad_cases[] = {
    /* cidr */
    {NULL, "a", "192.168.150.1/24", "eth0", "192.168.150.2", NULL, "cidr",
     "cidr 192.168.150.1/24: host bits set (did you mean 192.168.150.0/24?)"},
    {NULL, "a", "2001:db8::1/64", "eth0", "2001:db8::2", NULL, "cidr", "2001:db8::/64"},
    {NULL, "a", "192.168.150.0", "eth0", "192.168.150.1", NULL, "cidr", "no prefix length"},
    {NULL, "a", "banana", "eth0", "192.168.150.1", NULL, "cidr",
     "cidr \"banana\" is not an IPv4 or IPv6 CIDR"},
    {NULL, "a", "", "eth0", "192.168.150.1", NULL, "cidr", "cidr is required"},
    {NULL, "a", "default", "eth0", "10.0.0.1", NULL, "cidr", "\"default\""},
    {NULL, "a", "0.0.0.0/0", "eth0", "10.0.0.1", NULL, "cidr", "at least 1"},
    {NULL, "a", "::/0", "eth0", "::1", NULL, "cidr", "every IPv6 address"},
    {NULL, "a", "10.0.0.0/33", "eth0", "10.0.0.1", NULL, "cidr", "\"10.0.0.0/33\""},
    /* router_ip */
    {NULL, "a", "192.168.150.0/24", "eth0", "", NULL, "router_ip", "router_ip is required"},
    {NULL, "a", "192.168.150.0/24", "eth0", "x", NULL, "router_ip",
     "router_ip \"x\" is not an IPv4 or IPv6 address"},
    {NULL, "a", "192.168.150.0/24", "eth0", "192.168.150.1/24", NULL, "router_ip",
     "must be a bare address; the prefix length comes from cidr"},
    {NULL, "a", "192.168.150.0/24", "eth0", "2001:db8::1", NULL, "router_ip",
     "router_ip 2001:db8::1 is IPv6 but cidr 192.168.150.0/24 is IPv4"},
    {NULL, "a", "2001:db8::/64", "eth0", "192.168.150.1", NULL, "router_ip",
     "router_ip 192.168.150.1 is IPv4 but cidr 2001:db8::/64 is IPv6"},
    {NULL, "a", "192.168.150.0/24", "eth0", "192.168.151.1", NULL, "router_ip",
     "router_ip 192.168.151.1 is not inside cidr 192.168.150.0/24"},
    {NULL, "a", "2001:db8::/64", "eth0", "2001:db8:0:1::1", NULL, "router_ip",
     "is not inside cidr 2001:db8::/64"},
    {NULL, "a", "192.168.150.0/24", "eth0", "192.168.150.0", NULL, "router_ip",
     "router_ip 192.168.150.0 is the network address of cidr 192.168.150.0/24"},
    {NULL, "a", "192.168.150.0/24", "eth0", "192.168.150.255", NULL, "router_ip",
     "router_ip 192.168.150.255 is the broadcast address of cidr 192.168.150.0/24"},
    {NULL, "a", "10.0.0.0/30", "eth0", "10.0.0.3", NULL, "router_ip", "broadcast"},
    {NULL, "a", "10.0.0.0/30", "eth0", "10.0.0.0", NULL, "router_ip", "network address"},
    {NULL, "a", "10.0.0.0/8", "eth0", "10.255.255.255", NULL, "router_ip", "broadcast"},
    {NULL, "a", "2001:db8::/64", "eth0", "2001:db8::", NULL, "router_ip", "network address"},
    {NULL, "a", "fd00::/126", "eth0", "fd00::", NULL, "router_ip", "network address"},
    {NULL, "a", "192.168.150.0/24", "eth0", " 192.168.150.1", NULL, "router_ip",
     "\" 192.168.150.1\""},
    {NULL, "a", "::ffff:192.168.150.0/120", "eth0", "::ffff:192.168.150.1", NULL, "cidr",
     "write 192.168.150.0/24"},
    /* interface: syntax only */
    {NULL, "a", "192.168.150.0/24", "", "192.168.150.1", NULL, "interface",
     "interface is required"},
    {NULL, "a", "192.168.150.0/24", "a/b", "192.168.150.1", NULL, "interface",
     "interface \"a/b\" is not a valid interface name"},
    {NULL, "a", "192.168.150.0/24", "eth0:1", "192.168.150.1", NULL, "interface", "\"eth0:1\""},
    {NULL, "a", "192.168.150.0/24", "..", "192.168.150.1", NULL, "interface", "\"..\""},
    /* route_table_id */
    {NULL, "a", "192.168.150.0/24", "eth0", "192.168.150.1", "", "route_table_id",
     "route_table_id is required"},
    {NULL, "a", "192.168.150.0/24", "eth0", "192.168.150.1", "main", "route_table_id",
     "route_table_id \"main\" is not a route table id"},
    {NULL, "a", "192.168.150.0/24", "eth0", "192.168.150.1", "rt-01", "route_table_id",
     "\"rt-01\""},
    /* name */
    {NULL, "", "192.168.150.0/24", "eth0", "192.168.150.1", NULL, "name", "name is required"},
    {NULL, "a\x01", "192.168.150.0/24", "eth0", "192.168.150.1", NULL, "name", "control character"},
    /* id */
    {"sg-01", "a", "192.168.150.0/24", "eth0", "192.168.150.1", NULL, "id",
     "id \"sg-01\" is not a subnet id"},
    {"subnet-", "a", "192.168.150.0/24", "eth0", "192.168.150.1", NULL, "id", "\"subnet-\""},
    {"subnet-XY", "a", "192.168.150.0/24", "eth0", "192.168.150.1", NULL, "id", "\"subnet-XY\""},
};

static void test_subnet_validate_errors(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMS(subnet_bad_cases); i++) {
		const struct subnet_bad_case *c = &subnet_bad_cases[i];
		struct vr_err e;
		struct subnet s;
		int rc;

		subnet_init(&s, c->name, c->cidr, c->ifname, c->router_ip, c->table_id);
		SET(s.id, c->id ? c->id : "");
		err_clear(&e);
		rc = model_subnet_validate(&s, &e);
		if (rc >= 0)
			fail_msg("case %zu (%s, %s): accepted, want 422 on %s", i, c->cidr,
			         c->router_ip, c->field);
		assert_int_equal(rc, -EINVAL);
		if (e.code != VR_ERR_INVALID || strcmp(e.field, c->field) != 0 ||
		    !strstr(e.msg, c->msg))
			fail_msg("case %zu (%s, %s): got %d %s \"%s\", want 422 %s \"...%s...\"", i,
			         c->cidr, c->router_ip, (int)e.code, e.field, e.msg, c->field,
			         c->msg);
		assert_true(utf8_valid(e.msg));
	}
}

static void test_subnet_validate_limits(void **state)
{
	struct vr_err e;
	struct subnet s;
	char name[NAME_MAX_LEN + 1];
	char *desc;

	(void)state;
	/* Fields without their NUL are refused, not read past. */
	subnet_init(&s, "a", "10.0.0.0/24", "eth0", "10.0.0.1", NULL);
	memset(s.interface, 'x', sizeof(s.interface));
	assert_int_equal(model_subnet_validate(&s, &e), -EINVAL);
	assert_string_equal(e.field, "interface");
	subnet_init(&s, "a", "10.0.0.0/24", "eth0", "10.0.0.1", NULL);
	memset(s.router_ip_text, '1', sizeof(s.router_ip_text));
	assert_int_equal(model_subnet_validate(&s, &e), -EINVAL);
	assert_string_equal(e.field, "router_ip");
	subnet_init(&s, "a", "10.0.0.0/24", "eth0", "10.0.0.1", NULL);
	memset(s.cidr_text, '1', sizeof(s.cidr_text));
	assert_int_equal(model_subnet_validate(&s, &e), -EINVAL);
	assert_string_equal(e.field, "cidr");
	subnet_init(&s, "a", "10.0.0.0/24", "eth0", "10.0.0.1", NULL);
	memset(s.table_id, 'r', sizeof(s.table_id));
	assert_int_equal(model_subnet_validate(&s, &e), -EINVAL);
	assert_string_equal(e.field, "route_table_id");
	subnet_init(&s, "a", "10.0.0.0/24", "eth0", "10.0.0.1", NULL);
	memset(s.id, 'i', sizeof(s.id));
	assert_int_equal(model_subnet_validate(&s, &e), -EINVAL);
	assert_string_equal(e.field, "id");

	/* A name of NAME_MAX_LEN bytes is fine; a description one byte too long is not. */
	memset(name, 'n', NAME_MAX_LEN);
	name[NAME_MAX_LEN] = '\0';
	subnet_init(&s, name, "10.0.0.0/24", "eth0", "10.0.0.1", NULL);
	assert_int_equal(model_subnet_validate(&s, &e), 0);
	desc = malloc(DESC_MAX_LEN + 2);
	assert_non_null(desc);
	memset(desc, 'd', DESC_MAX_LEN + 1);
	desc[DESC_MAX_LEN + 1] = '\0';
	s.description = desc;
	assert_int_equal(model_subnet_validate(&s, &e), -EINVAL);
	assert_string_equal(e.field, "description");
	desc[DESC_MAX_LEN] = '\0';
	assert_int_equal(model_subnet_validate(&s, &e), 0);
	free(desc);
	/* A NULL error is allowed. */
	subnet_init(&s, "a", "10.0.0.1/24", "eth0", "10.0.0.1", NULL);
	assert_int_equal(model_subnet_validate(&s, NULL), -EINVAL);
}

static void test_subnet_same(void **state)
{
	struct subnet a, b;

	(void)state;
	subnet_init(&a, "lan", "10.0.0.0/24", "eth0", "10.0.0.1", NULL);
	subnet_init(&b, "lan", "10.0.0.0/24", "eth0", "10.0.0.1", NULL);
	assert_true(model_subnet_same(&a, &b));
	b.description = "";
	assert_true(model_subnet_same(&a, &b)); /* NULL and "" are the same description */
	b.description = "x";
	assert_false(model_subnet_same(&a, &b));
	b.description = NULL;
	/* Parsed and stored fields do not take part. */
	b.table = 254;
	b.rev = 9;
	assert_true(model_subnet_same(&a, &b));
	/* Spelling is part of what was written. */
	subnet_init(&b, "lan", "10.0.0.0/024", "eth0", "10.0.0.1", NULL);
	assert_false(model_subnet_same(&a, &b));
	subnet_init(&b, "lan", "10.0.0.0/24", "eth1", "10.0.0.1", NULL);
	assert_false(model_subnet_same(&a, &b));
	subnet_init(&b, "lan", "10.0.0.0/24", "eth0", "10.0.0.2", NULL);
	assert_false(model_subnet_same(&a, &b));
	subnet_init(&b, "lan", "10.0.0.0/24", "eth0", "10.0.0.1", "rtb-01");
	assert_false(model_subnet_same(&a, &b));
	subnet_init(&b, "LAN", "10.0.0.0/24", "eth0", "10.0.0.1", NULL);
	assert_false(model_subnet_same(&a, &b));
	subnet_init(&b, "lan", "10.0.0.0/24", "eth0", "10.0.0.1", NULL);
	SET(b.id, "subnet-01");
	assert_false(model_subnet_same(&a, &b));
}

/* A pack gives back every route as put: as-written text, numbers, stamps, description. */
static void test_route_pack_round_trip(void **state)
{
	static const char *const dst[] = {"10.1.0.0/16", "default", "2001:DB8::/32", "10.2.0.0/16"};
	static const char *const via[] = {"192.168.1.1", "", "2001:db8::1", "192.168.001.1"};
	struct route_pack *p = route_pack_new(4);
	struct vr_err e = {0};
	struct route r, got;

	(void)state;
	assert_non_null(p);
	assert_int_equal(route_pack_len(p), 4);
	for (size_t i = 0; i < 4; i++) {
		memset(&r, 0, sizeof(r));
		snprintf(r.id, sizeof(r.id), "rt-%zu", i);
		snprintf(r.table_id, sizeof(r.table_id), "rtb-main");
		snprintf(r.destination, sizeof(r.destination), "%s", dst[i]);
		snprintf(r.via_text, sizeof(r.via_text), "%s", via[i]);
		if (i == 1)
			snprintf(r.dev, sizeof(r.dev), "eth0");
		r.metric = (uint32_t)i * 10;
		r.description = i == 2 ? strdup("two") : NULL;
		if (model_route_validate(&r, &e) && i != 3)
			fail_msg("%s", e.msg);
		r.table = 254;
		r.rev = (int64_t)i;
		assert_int_equal(route_pack_put(p, i, &r), 0);
		assert_null(r.description); /* taken */
	}
	for (size_t i = 0; i < 4; i++) {
		route_pack_get(p, i, &got);
		assert_string_equal(got.destination, dst[i]);
		assert_string_equal(got.via_text, via[i]);
		assert_string_equal(got.table_id, "rtb-main");
		assert_string_equal(got.dev, i == 1 ? "eth0" : "");
		assert_int_equal(got.metric, i * 10);
		assert_int_equal(got.table, 254);
		assert_int_equal(got.rev, i);
		assert_string_equal(got.created_at, "");
		if (i == 2)
			assert_string_equal(got.description, "two");
		else
			assert_null(got.description);
		assert_string_equal(route_pack_id(p, i), got.id);
	}
	/* A get put back keeps the description; the table and router set alone. */
	route_pack_get(p, 2, &got);
	snprintf(got.created_at, sizeof(got.created_at), "2026-12-08T00:00:00.000Z");
	assert_int_equal(route_pack_put(p, 2, &got), 0);
	assert_int_equal(route_pack_set_table(p, 2, 7, "r2"), 0);
	route_pack_get_parsed(p, 2, &r);
	assert_string_equal(r.destination, "");
	assert_string_equal(r.router, "r2");
	assert_int_equal(r.table, 7);
	assert_string_equal(r.created_at, "2026-12-08T00:00:00.000Z");
	assert_string_equal(r.description, "two");
	assert_ptr_equal(route_pack_at(NULL, p, 2, &got), &got);
	assert_string_equal(got.destination, "2001:DB8::/32");
	route_pack_free(p);
}

static void test_subnet_clear_free(void **state)
{
	struct subnet s = {0}, *v;

	(void)state;
	model_subnet_clear(NULL);
	model_subnets_free(NULL, 3);
	s.description = strdup("x");
	model_subnet_clear(&s);
	assert_null(s.description);
	model_subnet_clear(&s); /* twice is fine */
	/* The sanitizer build's leak checker verifies these are all freed. */
	v = calloc(3, sizeof(*v));
	assert_non_null(v);
	v[0].description = strdup("a");
	v[2].description = strdup("c");
	model_subnets_free(v, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_route_type_names),
	    cmocka_unit_test(test_id_valid),
	    cmocka_unit_test(test_id_new),
	    cmocka_unit_test(test_ifname_valid),
	    cmocka_unit_test(test_route_validate_ok),
	    cmocka_unit_test(test_route_validate_errors),
	    cmocka_unit_test(test_route_validate_description),
	    cmocka_unit_test(test_route_validate_unterminated),
	    cmocka_unit_test(test_route_validate_null_err),
	    cmocka_unit_test(test_rtb_validate),
	    cmocka_unit_test(test_rtb_validate_lengths),
	    cmocka_unit_test(test_route_same),
	    cmocka_unit_test(test_rtb_same),
	    cmocka_unit_test(test_clear_free),
	    cmocka_unit_test(test_now),
	    cmocka_unit_test(test_sg_names),
	    cmocka_unit_test(test_sg_validate_ok),
	    cmocka_unit_test(test_sg_validate_errors),
	    cmocka_unit_test(test_sg_validate_limits),
	    cmocka_unit_test(test_sg_rule_validate_ok),
	    cmocka_unit_test(test_sg_rule_validate_errors),
	    cmocka_unit_test(test_sg_rule_validate_unterminated),
	    cmocka_unit_test(test_sg_same),
	    cmocka_unit_test(test_sg_rule_same),
	    cmocka_unit_test(test_sg_clear_free),
	    cmocka_unit_test(test_subnet_validate_ok),
	    cmocka_unit_test(test_subnet_validate_errors),
	    cmocka_unit_test(test_subnet_validate_limits),
	    cmocka_unit_test(test_subnet_same),
	    cmocka_unit_test(test_subnet_clear_free),
	    cmocka_unit_test(test_route_pack_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
