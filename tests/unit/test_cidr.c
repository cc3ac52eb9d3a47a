#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "cidr.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* A prefix from text that must parse cleanly; fails the test otherwise. */
static struct prefix P(const char *s) {
	struct prefix p;

	if (cidr_parse_prefix(s, true, &p) != 0)
		fail_msg("fixture prefix \"%s\" does not parse", s);
	return p;
}

static struct ipaddr
A(const char *s) {
	struct ipaddr a;

	if (cidr_parse_addr(s, &a) != 0)
		fail_msg("fixture address \"%s\" does not parse", s);
	return a;
}

static void
test_addr_len(void **state)
{
	(void)state;
	assert_int_equal(cidr_addr_len(AF_INET), 4);
	assert_int_equal(cidr_addr_len(AF_INET6), 16);
	assert_int_equal(cidr_addr_len(0), 0);
	assert_int_equal(cidr_addr_len(AF_UNIX), 0);
	assert_int_equal(cidr_max_len(AF_INET), 32);
	assert_int_equal(cidr_max_len(AF_INET6), 128);
	assert_int_equal(cidr_max_len(0), 0);
}

struct addr_case {
	const char *in;
	int rc;
	int family;
	const char *canon; /* cidr_format_addr output when rc == 0 */
};

static const struct addr_case addr_cases[] = {
    {"192.168.1.2", 0, AF_INET, "192.168.1.2"},
    {"0.0.0.0", 0, AF_INET, "0.0.0.0"},
    {"255.255.255.255", 0, AF_INET, "255.255.255.255"},
    {"2001:db8::1", 0, AF_INET6, "2001:db8::1"},
    {"2001:0DB8:0000:0000:0000:0000:0000:0001", 0, AF_INET6, "2001:db8::1"},
    {"::", 0, AF_INET6, "::"},
    {"::1", 0, AF_INET6, "::1"},
    {"fe80::1", 0, AF_INET6, "fe80::1"},
    {"::ffff:192.0.2.1", 0, AF_INET6, "::ffff:192.0.2.1"},
    {"", -EINVAL, 0, NULL},
    {" 1.2.3.4", -EINVAL, 0, NULL},
    {"1.2.3.4 ", -EINVAL, 0, NULL},
    {"1.2.3.4/32", -EINVAL, 0, NULL},
    {"1.2.3", -EINVAL, 0, NULL},
    {"1.2.3.4.5", -EINVAL, 0, NULL},
    {"256.1.1.1", -EINVAL, 0, NULL},
    {"01.2.3.4", -EINVAL, 0, NULL},
    {"0x1.2.3.4", -EINVAL, 0, NULL},
    {"+1.2.3.4", -EINVAL, 0, NULL},
    {"fe80::1%lo", -EINVAL, 0, NULL},
    {"[::1]", -EINVAL, 0, NULL},
    {"::g", -EINVAL, 0, NULL},
    {"1:2:3:4:5:6:7:8:9", -EINVAL, 0, NULL},
    {"localhost", -EINVAL, 0, NULL},
    {"default", -EINVAL, 0, NULL},
};

static void test_parse_addr(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMS(addr_cases); i++) {
		const struct addr_case *c = &addr_cases[i];
		struct ipaddr a;
		char buf[CIDR_STR_MAX];
		int rc;

		memset(&a, 0x5a, sizeof(a));
		rc = cidr_parse_addr(c->in, &a);
		if (rc != c->rc)
			fail_msg("\"%s\": rc %d, want %d", c->in, rc, c->rc);
		if (rc != 0) {
			/* A refused address leaves the output alone. */
			assert_int_equal(a.family, 0x5a5a5a5a);
			continue;
		}
		assert_int_equal(a.family, c->family);
		cidr_format_addr(&a, buf, sizeof(buf));
		if (strcmp(buf, c->canon) != 0)
			fail_msg("\"%s\": formatted \"%s\", want \"%s\"", c->in, buf, c->canon);
	}
	assert_int_equal(cidr_parse_addr(NULL, &(struct ipaddr){0}), -EINVAL);
}

static void test_parse_addr_v4_zero_tail(void **state)
{
	struct ipaddr a;
	size_t i;

	(void)state;
	memset(&a, 0xff, sizeof(a));
	assert_int_equal(cidr_parse_addr("10.1.2.3", &a), 0);
	assert_int_equal(a.a[0], 10);
	assert_int_equal(a.a[3], 3);
	/* Bytes past an IPv4 address are zeroed so whole-struct compares are safe. */
	for (i = 4; i < sizeof(a.a); i++)
		assert_int_equal(a.a[i], 0);
}

struct prefix_case {
	const char *in;
	bool allow_host;
	int rc;
	int family;
	unsigned len;
	const char *canon; /* cidr_format_prefix output when rc is 0 or -EDOM */
};

static const struct prefix_case prefix_cases[] = {
    /* IPv4 good */
    {"192.168.100.0/24", false, 0, AF_INET, 24, "192.168.100.0/24"},
    {"0.0.0.0/0", false, 0, AF_INET, 0, "0.0.0.0/0"},
    {"10.1.2.3/32", false, 0, AF_INET, 32, "10.1.2.3/32"},
    {"10.0.0.0/8", false, 0, AF_INET, 8, "10.0.0.0/8"},
    {"10.0.0.0/7", false, 0, AF_INET, 7, "10.0.0.0/7"},
    {"192.168.1.128/25", false, 0, AF_INET, 25, "192.168.1.128/25"},
    {"255.255.255.254/31", false, 0, AF_INET, 31, "255.255.255.254/31"},
    {"128.0.0.0/1", false, 0, AF_INET, 1, "128.0.0.0/1"},
    {"default", false, 0, AF_INET, 0, "0.0.0.0/0"},
    {"default", true, 0, AF_INET, 0, "0.0.0.0/0"},
    /* host prefixes from bare addresses */
    {"10.1.2.3", true, 0, AF_INET, 32, "10.1.2.3/32"},
    {"10.1.2.3", false, -EINVAL, 0, 0, NULL},
    {"2001:db8::1", true, 0, AF_INET6, 128, "2001:db8::1/128"},
    {"2001:db8::1", false, -EINVAL, 0, 0, NULL},
    {"::", true, 0, AF_INET6, 128, "::/128"},
    /* IPv6 good */
    {"2001:db8::/32", false, 0, AF_INET6, 32, "2001:db8::/32"},
    {"2001:DB8:0:0::/64", false, 0, AF_INET6, 64, "2001:db8::/64"},
    {"::/0", false, 0, AF_INET6, 0, "::/0"},
    {"::1/128", false, 0, AF_INET6, 128, "::1/128"},
    {"2001:db8::1/128", false, 0, AF_INET6, 128, "2001:db8::1/128"},
    {"fe80::/10", false, 0, AF_INET6, 10, "fe80::/10"},
    {"2001:db8::2/127", false, 0, AF_INET6, 127, "2001:db8::2/127"},
    {"2001:db8::/31", false, 0, AF_INET6, 31, "2001:db8::/31"},
    {"::ffff:10.0.0.0/104", false, 0, AF_INET6, 104, "::ffff:10.0.0.0/104"},
    {"::ffff:0:0/96", false, 0, AF_INET6, 96, "::ffff:0.0.0.0/96"},
    /* host bits: -EDOM, out filled and unmasked */
    {"192.168.100.1/24", false, -EDOM, AF_INET, 24, "192.168.100.1/24"},
    {"11.0.0.0/7", false, -EDOM, AF_INET, 7, "11.0.0.0/7"},
    {"1.0.0.0/0", false, -EDOM, AF_INET, 0, "1.0.0.0/0"},
    {"0.0.0.1/0", true, -EDOM, AF_INET, 0, "0.0.0.1/0"},
    {"192.168.1.129/25", false, -EDOM, AF_INET, 25, "192.168.1.129/25"},
    {"2001:db8::1/64", false, -EDOM, AF_INET6, 64, "2001:db8::1/64"},
    {"2001:db9::/31", false, -EDOM, AF_INET6, 31, "2001:db9::/31"},
    {"::1/0", false, -EDOM, AF_INET6, 0, "::1/0"},
    {"2001:db8::3/127", false, -EDOM, AF_INET6, 127, "2001:db8::3/127"},
    /* syntax */
    {"", false, -EINVAL, 0, 0, NULL},
    {"", true, -EINVAL, 0, 0, NULL},
    {" ", true, -EINVAL, 0, 0, NULL},
    {" 1.2.3.0/24", false, -EINVAL, 0, 0, NULL},
    {"1.2.3.0/24 ", false, -EINVAL, 0, 0, NULL},
    {"1.2.3.0 /24", false, -EINVAL, 0, 0, NULL},
    {"1.2.3.0/ 24", false, -EINVAL, 0, 0, NULL},
    {"1.2.3.0/24\n", false, -EINVAL, 0, 0, NULL},
    {"1.2.3.4/33", false, -EINVAL, 0, 0, NULL},
    {"1.2.3.4/100", false, -EINVAL, 0, 0, NULL},
    {"1.2.3.4/1000", false, -EINVAL, 0, 0, NULL},
    {"1.2.3.4/4294967328", false, -EINVAL, 0, 0, NULL},
    {"1.2.3.4/", false, -EINVAL, 0, 0, NULL},
    {"1.2.3.4/", true, -EINVAL, 0, 0, NULL},
    {"/24", false, -EINVAL, 0, 0, NULL},
    {"/", true, -EINVAL, 0, 0, NULL},
    {"1.2.3.0/024", false, -EINVAL, 0, 0, NULL},
    {"0.0.0.0/00", false, -EINVAL, 0, 0, NULL},
    {"::/0128", false, -EINVAL, 0, 0, NULL},
    {"+1.2.3.0/24", false, -EINVAL, 0, 0, NULL},
    {"1.2.3.0/+24", false, -EINVAL, 0, 0, NULL},
    {"1.2.3.0/-1", false, -EINVAL, 0, 0, NULL},
    {"1.2.3.0/0x18", false, -EINVAL, 0, 0, NULL},
    {"1.2.3.0/24/24", false, -EINVAL, 0, 0, NULL},
    {"1.2.3.0//24", false, -EINVAL, 0, 0, NULL},
    {"1.2.3/24", false, -EINVAL, 0, 0, NULL},
    {"256.0.0.0/8", false, -EINVAL, 0, 0, NULL},
    {"01.2.3.0/24", false, -EINVAL, 0, 0, NULL},
    {"abc", false, -EINVAL, 0, 0, NULL},
    {"abc", true, -EINVAL, 0, 0, NULL},
    {"abc/8", false, -EINVAL, 0, 0, NULL},
    {"::/129", false, -EINVAL, 0, 0, NULL},
    {"::/", false, -EINVAL, 0, 0, NULL},
    {"2001:db8::/64x", false, -EINVAL, 0, 0, NULL},
    {"fe80::1%eth0/64", false, -EINVAL, 0, 0, NULL},
    {"[2001:db8::]/32", false, -EINVAL, 0, 0, NULL},
    {"Default", false, -EINVAL, 0, 0, NULL},
    {"default/0", false, -EINVAL, 0, 0, NULL},
    {"default ", false, -EINVAL, 0, 0, NULL},
    {"2001:db8::/32 ", false, -EINVAL, 0, 0, NULL},
    {"1111:2222:3333:4444:5555:6666:7777:8888:9999/64", false, -EINVAL, 0, 0, NULL},
};

static void test_parse_prefix(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMS(prefix_cases); i++) {
		const struct prefix_case *c = &prefix_cases[i];
		struct prefix p;
		char buf[CIDR_STR_MAX];
		int rc;

		memset(&p, 0x5a, sizeof(p));
		rc = cidr_parse_prefix(c->in, c->allow_host, &p);
		if (rc != c->rc)
			fail_msg("\"%s\" (allow_host %d): rc %d, want %d", c->in, c->allow_host, rc,
			         c->rc);
		if (rc == -EINVAL) {
			/* The contract: a syntax error leaves out untouched. */
			assert_int_equal(p.addr.family, 0x5a5a5a5a);
			assert_int_equal(p.len, 0x5a);
			continue;
		}
		if (p.addr.family != c->family || p.len != c->len)
			fail_msg("\"%s\": family %d len %u, want %d %u", c->in, p.addr.family,
			         (unsigned)p.len, c->family, c->len);
		cidr_format_prefix(&p, buf, sizeof(buf));
		if (strcmp(buf, c->canon) != 0)
			fail_msg("\"%s\": formatted \"%s\", want \"%s\"", c->in, buf, c->canon);
	}
	assert_int_equal(cidr_parse_prefix(NULL, true, &(struct prefix){0}), -EINVAL);
}

/* Every canonical form parses back to the same prefix. */
static void test_prefix_round_trip(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMS(prefix_cases); i++) {
		const struct prefix_case *c = &prefix_cases[i];
		struct prefix a, b;
		char buf[CIDR_STR_MAX];

		if (c->rc != 0)
			continue;
		assert_int_equal(cidr_parse_prefix(c->in, c->allow_host, &a), 0);
		cidr_format_prefix(&a, buf, sizeof(buf));
		assert_int_equal(cidr_parse_prefix(buf, false, &b), 0);
		if (!cidr_prefix_equal(&a, &b))
			fail_msg("\"%s\" -> \"%s\" does not parse back equal", c->in, buf);
	}
}

static void test_format_edges(void **state)
{
	struct prefix p = P("2001:db8:1234:5678:9abc:def0:1234:5678/128");
	struct ipaddr unset;
	char buf[CIDR_STR_MAX];
	char small[5];

	(void)state;
	/* The longest text fits CIDR_STR_MAX. */
	cidr_format_prefix(&p, buf, sizeof(buf));
	assert_string_equal(buf, "2001:db8:1234:5678:9abc:def0:1234:5678/128");
	p = P("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128");
	cidr_format_prefix(&p, buf, sizeof(buf));
	assert_string_equal(buf, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128");

	/* A short buffer truncates but stays terminated. */
	p = P("192.168.100.0/24");
	memset(small, 'x', sizeof(small));
	cidr_format_prefix(&p, small, sizeof(small));
	assert_string_equal(small, "192.");
	memset(small, 'x', sizeof(small));
	cidr_format_addr(&p.addr, small, sizeof(small));
	assert_string_equal(small, "192.");

	/* An unset family formats as the empty string. */
	memset(&unset, 0, sizeof(unset));
	strcpy(buf, "junk");
	cidr_format_addr(&unset, buf, sizeof(buf));
	assert_string_equal(buf, "");
	strcpy(buf, "junk");
	cidr_format_prefix(&(struct prefix){0}, buf, sizeof(buf));
	assert_string_equal(buf, "");
}

static void test_equal(void **state)
{
	struct ipaddr v4 = A("1.2.3.4");
	struct ipaddr v6 = A("102:304::");
	struct ipaddr other;
	struct prefix a, b;

	(void)state;
	assert_true(cidr_addr_equal(&v4, &v4));
	assert_true(cidr_addr_equal(&(struct ipaddr){0}, &(struct ipaddr){0}));
	/* Same leading bytes, different family: not equal. */
	assert_memory_equal(v4.a, v6.a, 4);
	assert_false(cidr_addr_equal(&v4, &v6));
	assert_false(cidr_addr_equal(&v4, &(struct ipaddr){0}));
	v6 = A("2001:db8::1");
	other = A("2001:DB8:0::1");
	assert_true(cidr_addr_equal(&v6, &other));
	other = A("2001:db8::2");
	assert_false(cidr_addr_equal(&v6, &other));

	a = P("10.0.0.0/8");
	b = P("10.0.0.0/16");
	assert_true(cidr_prefix_equal(&a, &a));
	assert_false(cidr_prefix_equal(&a, &b));
	b = P("default");
	a = P("0.0.0.0/0");
	assert_true(cidr_prefix_equal(&a, &b));
	b = P("::/0");
	assert_false(cidr_prefix_equal(&a, &b));
}

struct contains_case {
	const char *prefix;
	const char *addr;
	bool want;
};

static const struct contains_case contains_cases[] = {
    {"10.0.0.0/8", "10.255.1.1", true},
    {"10.0.0.0/8", "10.0.0.0", true},
    {"10.0.0.0/8", "11.0.0.1", false},
    {"10.0.0.0/8", "9.255.255.255", false},
    {"0.0.0.0/0", "203.0.113.9", true},
    {"0.0.0.0/0", "::1", false},
    {"::/0", "2001:db8::1", true},
    {"::/0", "1.2.3.4", false},
    {"10.1.2.3/32", "10.1.2.3", true},
    {"10.1.2.3/32", "10.1.2.4", false},
    {"192.168.1.0/25", "192.168.1.127", true},
    {"192.168.1.0/25", "192.168.1.128", false},
    {"2001:db8::/33", "2001:db8:7fff::1", true},
    {"2001:db8::/33", "2001:db8:8000::", false},
    {"2001:db8::1/128", "2001:db8::1", true},
    {"2001:db8::1/128", "2001:db8::", false},
    {"fe80::/10", "febf::1", true},
    {"fe80::/10", "fec0::1", false},
    {"::ffff:0:0/96", "::ffff:1.2.3.4", true},
    {"::ffff:0:0/96", "1.2.3.4", false},
    {"0.0.0.0/8", "::", false},
};

static void test_contains(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMS(contains_cases); i++) {
		const struct contains_case *c = &contains_cases[i];
		struct prefix p = P(c->prefix);
		struct ipaddr a = A(c->addr);

		if (cidr_contains(&p, &a) != c->want)
			fail_msg("%s contains %s: want %d", c->prefix, c->addr, c->want);
	}
	/* An unset prefix contains nothing, not even an unset address. */
	assert_false(cidr_contains(&(struct prefix){0}, &(struct ipaddr){0}));
}

struct overlap_case {
	const char *a;
	const char *b;
	bool want;
};

static const struct overlap_case overlap_cases[] = {
    {"10.0.0.0/8", "10.1.0.0/16", true},
    {"10.0.0.0/16", "10.1.0.0/16", false},
    {"10.0.0.0/16", "10.0.0.0/16", true},
    {"0.0.0.0/0", "192.0.2.0/24", true},
    {"0.0.0.0/0", "::/0", false},
    {"192.168.1.0/25", "192.168.1.128/25", false},
    {"192.168.1.0/24", "192.168.1.200/32", true},
    {"10.0.0.1/32", "10.0.0.2/32", false},
    {"2001:db8::/32", "2001:db8:1::/48", true},
    {"2001:db8::/32", "2001:db9::/32", false},
    {"::/0", "2001:db8::1/128", true},
    {"::ffff:0:0/96", "0.0.0.0/0", false},
    {"fe80::/64", "fe80::/10", true},
};

static void test_overlaps(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMS(overlap_cases); i++) {
		const struct overlap_case *c = &overlap_cases[i];
		struct prefix a = P(c->a);
		struct prefix b = P(c->b);

		/* Overlap is symmetric. */
		if (cidr_overlaps(&a, &b) != c->want || cidr_overlaps(&b, &a) != c->want)
			fail_msg("%s overlaps %s: want %d", c->a, c->b, c->want);
	}
}

struct mask_case {
	const char *in; /* with host bits */
	const char *out;
};

static const struct mask_case mask_cases[] = {
    {"192.168.100.1/24", "192.168.100.0/24"},
    {"255.255.255.255/0", "0.0.0.0/0"},
    {"255.255.255.255/1", "128.0.0.0/1"},
    {"10.1.2.3/32", "10.1.2.3/32"},
    {"10.255.255.255/9", "10.128.0.0/9"},
    {"192.168.1.255/25", "192.168.1.128/25"},
    {"2001:db8::ffff/64", "2001:db8::/64"},
    {"2001:ffff::/17", "2001:8000::/17"},
    {"2001:db8::3/127", "2001:db8::2/127"},
    {"2001:db8::3/128", "2001:db8::3/128"},
    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/0", "::/0"},
    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/65", "ffff:ffff:ffff:ffff:8000::/65"},
};

/* IPv4 text is written without inet_ntop: the same bytes for every octet and length. */
static void test_format_v4_as_inet_ntop(void **state)
{
	struct prefix p = {.addr.family = AF_INET};
	char got[CIDR_STR_MAX], want[CIDR_STR_MAX], addr[INET_ADDRSTRLEN];

	(void)state;
	for (unsigned v = 0; v < 256; v++) {
		const uint8_t q[4] = {(uint8_t)v, (uint8_t)(255 - v), (uint8_t)(v * 7),
		                      (uint8_t)(v / 3)};

		memcpy(p.addr.a, q, sizeof(q));
		assert_non_null(inet_ntop(AF_INET, q, addr, sizeof(addr)));
		cidr_format_addr(&p.addr, got, sizeof(got));
		assert_string_equal(got, addr);
		for (unsigned len = 0; len <= 32; len++) {
			p.len = (uint8_t)len;
			snprintf(want, sizeof(want), "%s/%u", addr, len);
			cidr_format_prefix(&p, got, sizeof(got));
			assert_string_equal(got, want);
		}
	}
	/* A short buffer still gets snprintf's truncation. */
	p.len = 32;
	memset(p.addr.a, 255, 4);
	cidr_format_prefix(&p, got, 8);
	assert_string_equal(got, "255.255");
}

static void test_mask(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < N_ELEMS(mask_cases); i++) {
		const struct mask_case *c = &mask_cases[i];
		struct prefix p, again;
		char buf[CIDR_STR_MAX];
		int rc;

		rc = cidr_parse_prefix(c->in, false, &p);
		assert_true(rc == 0 || rc == -EDOM);
		cidr_mask(&p);
		cidr_format_prefix(&p, buf, sizeof(buf));
		if (strcmp(buf, c->out) != 0)
			fail_msg("mask %s: \"%s\", want \"%s\"", c->in, buf, c->out);
		/* A masked prefix has no host bits left. */
		assert_int_equal(cidr_parse_prefix(buf, false, &again), 0);
		assert_true(cidr_prefix_equal(&p, &again));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_addr_len),
	    cmocka_unit_test(test_parse_addr),
	    cmocka_unit_test(test_parse_addr_v4_zero_tail),
	    cmocka_unit_test(test_parse_prefix),
	    cmocka_unit_test(test_prefix_round_trip),
	    cmocka_unit_test(test_format_edges),
	    cmocka_unit_test(test_equal),
	    cmocka_unit_test(test_contains),
	    cmocka_unit_test(test_overlaps),
	    cmocka_unit_test(test_mask),
	    cmocka_unit_test(test_format_v4_as_inet_ntop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
