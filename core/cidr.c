#include "cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* Longest address text we hand to inet_pton; INET6_ADDRSTRLEN counts the NUL. */
#define ADDR_TEXT_MAX INET6_ADDRSTRLEN
/* A prefix length is at most "128": three digits. */
#define PLEN_TEXT_MAX 3

size_t cidr_addr_len(int family)
{
	switch (family) {
	case AF_INET: return 4;
	case AF_INET6: return 16;
	default: return 0;
	}
}

unsigned cidr_max_len(int family)
{
	return (unsigned)cidr_addr_len(family) * 8;
}

int cidr_parse_addr(const char *s, struct ipaddr *out)
{
	struct ipaddr a;

	if (!s || !out)
		return -EINVAL;
	memset(&a, 0, sizeof(a));
	/* inet_pton is strict already: no spaces, no zone, no leading zeros in IPv4 octets. */
	if (inet_pton(AF_INET, s, a.a) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, s, a.a) == 1)
		a.family = AF_INET6;
	else
		return -EINVAL;
	*out = a;
	return 0;
}

/*
 * Parse the digits after '/'. Leading zeros are refused ("024"): iproute2
 * reads such a length as octal, so accepting it would make the same text
 * mean different prefixes to us and to `ip route`.
 */
static int parse_plen(const char *s, unsigned max, uint8_t *out)
{
	size_t n = strlen(s);
	unsigned v = 0;
	size_t i;

	if (n == 0 || n > PLEN_TEXT_MAX)
		return -EINVAL;
	if (n > 1 && s[0] == '0')
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = (uint8_t)v;
	return 0;
}

/* True when p has bits set beyond its length, i.e. it names a host, not a network. */
static bool host_bits_set(const struct prefix *p)
{
	struct prefix m = *p;

	cidr_mask(&m);
	return !cidr_addr_equal(&m.addr, &p->addr);
}

int cidr_parse_prefix(const char *s, bool allow_host, struct prefix *out)
{
	char addr[ADDR_TEXT_MAX];
	struct prefix p;
	const char *slash;
	size_t alen;

	if (!s || !out)
		return -EINVAL;
	memset(&p, 0, sizeof(p));
	if (strcmp(s, "default") == 0) {
		p.addr.family = AF_INET;
		*out = p;
		return 0;
	}

	slash = strchr(s, '/');
	if (!slash) {
		if (!allow_host || cidr_parse_addr(s, &p.addr) < 0)
			return -EINVAL;
		p.len = (uint8_t)cidr_max_len(p.addr.family);
		*out = p;
		return 0;
	}

	alen = (size_t)(slash - s);
	if (alen == 0 || alen >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (cidr_parse_addr(addr, &p.addr) < 0)
		return -EINVAL;
	if (parse_plen(slash + 1, cidr_max_len(p.addr.family), &p.len) < 0)
		return -EINVAL;
	*out = p;
	return host_bits_set(&p) ? -EDOM : 0;
}

/* Decimal digits of v (< 1000) at out: their count. */
static size_t dec_text(unsigned v, char *out)
{
	size_t n = 0;

	if (v >= 100)
		out[n++] = (char)('0' + v / 100);
	if (v >= 10)
		out[n++] = (char)('0' + v / 10 % 10);
	out[n++] = (char)('0' + v % 10);
	return n;
}

/*
 * An IPv4 address as inet_ntop writes it, into out (16 bytes at least),
 * NUL-terminated: its length. A PUT of 100,000 routes prints each address a
 * few times; inet_ntop and a snprintf took several times as long.
 */
static size_t v4_text(const uint8_t *a, char *out)
{
	size_t n = 0;

	for (int i = 0; i < 4; i++) {
		if (i)
			out[n++] = '.';
		n += dec_text(a[i], out + n);
	}
	out[n] = '\0';
	return n;
}

void cidr_format_addr(const struct ipaddr *a, char *buf, size_t len)
{
	char tmp[ADDR_TEXT_MAX];

	if (!buf || len == 0)
		return;
	buf[0] = '\0';
	if (!a || !cidr_addr_len(a->family))
		return;
	if (a->family == AF_INET && len >= sizeof("255.255.255.255")) {
		v4_text(a->a, buf);
		return;
	}
	if (!inet_ntop(a->family, a->a, tmp, sizeof(tmp)))
		return;
	snprintf(buf, len, "%s", tmp);
}

void cidr_format_prefix(const struct prefix *p, char *buf, size_t len)
{
	char tmp[ADDR_TEXT_MAX];

	if (!buf || len == 0)
		return;
	buf[0] = '\0';
	if (!p || !cidr_addr_len(p->addr.family))
		return;
	if (p->addr.family == AF_INET && p->len <= 32 && len >= sizeof("255.255.255.255/32")) {
		size_t n = v4_text(p->addr.a, buf);

		buf[n++] = '/';
		buf[n + dec_text(p->len, buf + n)] = '\0';
		return;
	}
	cidr_format_addr(&p->addr, tmp, sizeof(tmp));
	snprintf(buf, len, "%s/%u", tmp, (unsigned)p->len);
}

/* Compare the first bits bits of two address byte arrays. */
static bool bits_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	size_t whole = bits / 8;
	unsigned rest = bits % 8;
	uint8_t mask;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (uint8_t)(0xff << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

/* A prefix length clamped to its family, so a corrupt len never reads past a[]. */
static unsigned plen(const struct prefix *p)
{
	unsigned max = cidr_max_len(p->addr.family);

	return p->len > max ? max : p->len;
}

bool cidr_addr_equal(const struct ipaddr *a, const struct ipaddr *b)
{
	if (a->family != b->family)
		return false;
	return memcmp(a->a, b->a, cidr_addr_len(a->family)) == 0;
}

bool cidr_prefix_equal(const struct prefix *a, const struct prefix *b)
{
	return a->len == b->len && cidr_addr_equal(&a->addr, &b->addr);
}

bool cidr_contains(const struct prefix *p, const struct ipaddr *addr)
{
	if (!p->addr.family || p->addr.family != addr->family)
		return false;
	return bits_equal(p->addr.a, addr->a, plen(p));
}

bool cidr_overlaps(const struct prefix *a, const struct prefix *b)
{
	unsigned la, lb;

	if (!a->addr.family || a->addr.family != b->addr.family)
		return false;
	la = plen(a);
	lb = plen(b);
	return bits_equal(a->addr.a, b->addr.a, la < lb ? la : lb);
}

void cidr_mask(struct prefix *p)
{
	size_t n = cidr_addr_len(p->addr.family);
	unsigned len = plen(p);
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned lo = (unsigned)i * 8;

		if (lo + 8 <= len)
			continue;
		if (lo >= len)
			p->addr.a[i] = 0;
		else
			p->addr.a[i] &= (uint8_t)(0xff << (8 - (len - lo)));
	}
}
