/*
 * core/cidr.c: addresses and prefixes as clients write them. The input is
 * one or two lines; each is parsed as an address and as a prefix (with and
 * without a bare address meaning a host), and what parses must format to
 * canonical text that parses back to the same value. Two lines also check
 * that containment and overlap agree with each other.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#include "cidr.h"
#include "fuzz.h"

static void check_addr(const char *s)
{
	struct ipaddr a, b;
	char text[CIDR_STR_MAX], again[CIDR_STR_MAX];

	if (cidr_parse_addr(s, &a) < 0)
		return;
	FUZZ_CHECK(a.family == AF_INET || a.family == AF_INET6, "\"%s\": family %d", s, a.family);
	cidr_format_addr(&a, text, sizeof(text));
	FUZZ_CHECK(cidr_parse_addr(text, &b) == 0, "\"%s\" formats as \"%s\"", s, text);
	FUZZ_CHECK(cidr_addr_equal(&a, &b), "\"%s\" -> \"%s\" reads back differently", s, text);
	cidr_format_addr(&b, again, sizeof(again));
	FUZZ_CHECK(!strcmp(text, again), "\"%s\": \"%s\" then \"%s\"", s, text, again);
}

/* Parse s as a prefix; on a success or a host-bits error, check it and return it masked. */
static bool check_prefix(const char *s, bool allow_host, struct prefix *out)
{
	struct prefix p, q;
	char text[CIDR_STR_MAX];
	int rc = cidr_parse_prefix(s, allow_host, &p);

	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -EDOM, "\"%s\": rc %d", s, rc);
	if (rc == -EINVAL)
		return false;
	FUZZ_CHECK(p.addr.family == AF_INET || p.addr.family == AF_INET6, "\"%s\": family %d", s,
	           p.addr.family);
	FUZZ_CHECK(p.len <= cidr_max_len(p.addr.family), "\"%s\": length %u", s, p.len);
	if (rc == -EDOM) {
		q = p;
		cidr_mask(&p);
		FUZZ_CHECK(!cidr_prefix_equal(&p, &q), "\"%s\": -EDOM but no host bits", s);
	}
	FUZZ_CHECK(cidr_contains(&p, &p.addr), "\"%s\" does not contain its own address", s);
	cidr_format_prefix(&p, text, sizeof(text));
	FUZZ_CHECK(cidr_parse_prefix(text, false, &q) == 0, "\"%s\" formats as \"%s\"", s, text);
	FUZZ_CHECK(cidr_prefix_equal(&p, &q), "\"%s\" -> \"%s\" reads back differently", s, text);
	*out = p;
	return true;
}

static bool check_line(const char *s, struct prefix *out)
{
	struct prefix strict, host;
	bool ok_strict, ok_host;

	check_addr(s);
	ok_strict = check_prefix(s, false, &strict);
	ok_host = check_prefix(s, true, &host);
	/* A bare address as a host prefix is the only thing allow_host adds. */
	FUZZ_CHECK(!ok_strict || (ok_host && cidr_prefix_equal(&strict, &host)),
	           "\"%s\": allow_host changes a prefix", s);
	*out = host;
	return ok_host;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	char *nl = strchr(s, '\n');
	struct prefix a, b;
	bool ok_a, ok_b = false;

	if (nl)
		*nl = '\0';
	ok_a = check_line(s, &a);
	if (nl)
		ok_b = check_line(nl + 1, &b);
	if (ok_a && ok_b) {
		bool over = cidr_overlaps(&a, &b);

		FUZZ_CHECK(over == cidr_overlaps(&b, &a), "overlap is not symmetric");
		/* Two networks overlap exactly when one holds the other's first address. */
		FUZZ_CHECK(over == (cidr_contains(&a, &b.addr) || cidr_contains(&b, &a.addr)),
		           "overlap %d disagrees with containment", over);
		FUZZ_CHECK(a.addr.family == b.addr.family || !over, "families differ, yet overlap");
	}
	free(s);
	return 0;
}
