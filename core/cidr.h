/* IPv4/IPv6 addresses and prefixes: parsing, formatting, comparison. Pure, no I/O. */
#ifndef VR_CIDR_H
#define VR_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CIDR_STR_MAX 64 /* enough for "ffff:...:ffff/128" and a NUL */

struct ipaddr {
	int family; /* AF_INET or AF_INET6; 0 = unset */
	uint8_t a[16];
};

struct prefix {
	struct ipaddr addr;
	uint8_t len;
};

/*
 * Parse an address ("192.168.1.2", "2001:db8::1"). Returns 0 or -EINVAL.
 * No prefix length, no surrounding spaces, no zone index.
 */
int cidr_parse_addr(const char *s, struct ipaddr *out) __attribute__((warn_unused_result));

/*
 * Parse a prefix "A/LEN". "default" parses as 0.0.0.0/0. With allow_host
 * false, a bare address without "/LEN" is refused; with it true a bare
 * address means a host prefix (/32 or /128).
 * Returns 0, -EINVAL (syntax: out untouched), or -EDOM when the syntax is fine
 * but bits beyond the prefix length are set (out is still filled, unmasked).
 */
int cidr_parse_prefix(const char *s, bool allow_host, struct prefix *out)
    __attribute__((warn_unused_result));

/* Canonical text: "192.168.100.0/24", "2001:db8::/64". buf >= CIDR_STR_MAX. */
void cidr_format_prefix(const struct prefix *p, char *buf, size_t len);
void cidr_format_addr(const struct ipaddr *a, char *buf, size_t len);

/* Address length in bytes for the family (4 or 16), 0 if unset. */
size_t cidr_addr_len(int family);
/* Maximum prefix length for the family (32 or 128). */
unsigned cidr_max_len(int family);

bool cidr_addr_equal(const struct ipaddr *a, const struct ipaddr *b);
bool cidr_prefix_equal(const struct prefix *a, const struct prefix *b);
/* True when addr lies inside p (same family). */
bool cidr_contains(const struct prefix *p, const struct ipaddr *addr);
/* True when the two prefixes share at least one address. */
bool cidr_overlaps(const struct prefix *a, const struct prefix *b);
/* Clear the host bits of p. */
void cidr_mask(struct prefix *p);

#endif
