#include "model.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Kernel tables a route table may not claim: RT_TABLE_DEFAULT and RT_TABLE_LOCAL. */
#define TABLE_DEFAULT 253u
#define TABLE_LOCAL 255u
/* How much of an over-long value an error message quotes. */
#define QUOTE_MAX 32

static const char *const route_type_names[] = {
    [ROUTE_UNICAST] = "unicast",
    [ROUTE_BLACKHOLE] = "blackhole",
    [ROUTE_UNREACHABLE] = "unreachable",
    [ROUTE_PROHIBIT] = "prohibit",
};

static const char *const obj_state_names[] = {
    [OBJ_PENDING] = "pending",
    [OBJ_ACTIVE] = "active",
    [OBJ_FAILED] = "failed",
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

int model_route_type_parse(const char *s)
{
	size_t i;

	if (!s)
		return -1;
	for (i = 0; i < N_ELEMS(route_type_names); i++)
		if (strcmp(s, route_type_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *model_route_type_name(enum route_type t)
{
	if ((unsigned)t >= N_ELEMS(route_type_names))
		return "unknown";
	return route_type_names[t];
}

const char *model_obj_state_name(enum obj_state s)
{
	if ((unsigned)s >= N_ELEMS(obj_state_names))
		return "unknown";
	return obj_state_names[s];
}

/* Record INVALID for field and return -EINVAL, the validators' one failure code. */
static int invalid(struct vr_err *e, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int invalid(struct vr_err *e, const char *field, const char *fmt, ...)
{
	char msg[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err_set(e, VR_ERR_INVALID, field, "%s", msg);
	return -EINVAL;
}

/*
 * The text fields are fixed arrays filled by server/; one without a NUL would
 * be read past its end by every later strcmp, so it is refused up front.
 */
static bool terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

/*
 * How many bytes of s to quote, at most QUOTE_MAX, without splitting a UTF-8
 * sequence: the message ends up in a JSON string, which must stay valid UTF-8.
 */
static int quote_len(const char *s)
{
	size_t k = strnlen(s, QUOTE_MAX);

	while (k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80)
		k--;
	return (int)k;
}

static bool is_hex_lower(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool model_id_valid(const char *id, const char *prefix)
{
	size_t plen, n, i;

	if (!id || !prefix)
		return false;
	plen = strlen(prefix);
	if (strncmp(id, prefix, plen) != 0)
		return false;
	id += plen;
	n = strnlen(id, ID_HEX_MAX + 1);
	if (n == 0 || n > ID_HEX_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!is_hex_lower(id[i]))
			return false;
	return true;
}

bool model_rtb_id_valid(const char *id)
{
	if (!id)
		return false;
	/* "rtb-main" is not hex: the main table's id is fixed by the API, not generated. */
	return model_rtb_main_router(id) || model_id_valid(id, "rtb-");
}

bool model_router_valid(const char *name)
{
	size_t n;

	if (!name || !((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= '0' && name[0] <= '9')))
		return false;
	n = strnlen(name, ROUTER_NAME_MAX + 1);
	if (n > ROUTER_NAME_MAX)
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		      name[i] == '-'))
			return false;
	return true;
}

const char *model_router_or_local(const char *router)
{
	return router && router[0] ? router : ROUTER_LOCAL;
}

void model_rtb_main_id(const char *router, char *id)
{
	router = model_router_or_local(router);
	if (strcmp(router, ROUTER_LOCAL) == 0)
		snprintf(id, ID_MAX, "%s", RTB_MAIN_ID);
	else
		snprintf(id, ID_MAX, "%s%s", RTB_MAIN_PREFIX, router);
}

const char *model_rtb_main_router(const char *id)
{
	if (!id)
		return NULL;
	if (strcmp(id, RTB_MAIN_ID) == 0)
		return ROUTER_LOCAL;
	if (strncmp(id, RTB_MAIN_PREFIX, strlen(RTB_MAIN_PREFIX)) == 0 &&
	    strcmp(id + strlen(RTB_MAIN_PREFIX), ROUTER_LOCAL) != 0 &&
	    model_router_valid(id + strlen(RTB_MAIN_PREFIX)))
		return id + strlen(RTB_MAIN_PREFIX);
	return NULL;
}

/* A router as written: "" (not given) or a router name. */
static int check_router(const char *router, size_t size, struct vr_err *e)
{
	if (!terminated(router, size))
		return invalid(e, "router", "router is longer than %d bytes", ROUTER_NAME_MAX);
	if (router[0] && !model_router_valid(router))
		return invalid(e, "router",
		               "router \"%s\" is not a router name ([a-z0-9][a-z0-9-]{0,31})",
		               router);
	return 0;
}

/*
 * A route's or subnet's router as written against its table: rtb-main with a
 * router N means N's main table (table_id becomes its id); a main table of
 * another router is INVALID naming router. Any other table's router is the
 * store's to check.
 */
static int check_table_router(char *table_id, const char *router, size_t size, struct vr_err *e)
{
	const char *owner;

	if (check_router(router, size, e) < 0)
		return -EINVAL;
	if (!router[0])
		return 0;
	if (strcmp(table_id, RTB_MAIN_ID) == 0) {
		model_rtb_main_id(router, table_id);
		return 0;
	}
	owner = model_rtb_main_router(table_id);
	if (owner && strcmp(owner, router) != 0)
		return invalid(e, "router",
		               "router \"%s\" is not the router of route table %s (\"%s\")", router,
		               table_id, owner);
	return 0;
}

/*
 * The kernel's dev_valid_name() (1..15 bytes, no '/', ':' or whitespace, not "." or
 * ".."), so a name we accept is one the kernel can hold.
 */
bool model_ifname_valid(const char *name)
{
	size_t n, i;

	if (!name)
		return false;
	n = strnlen(name, IFNAME_MAX);
	if (n == 0 || n >= IFNAME_MAX)
		return false;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (c == '/' || c == ':' || c == ' ' || (c >= '\t' && c <= '\r'))
			return false;
	}
	return true;
}

/*
 * Fallback when getrandom(2) is unavailable (old kernel, seccomp): ids need to
 * be unique, not secret, so time, pid and a counter mixed by splitmix64 do.
 */
static uint64_t weak_random(void)
{
	static uint64_t counter;
	struct timespec ts;
	uint64_t z;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	z = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 48);
	z += __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) * 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void random_bytes(uint8_t *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = getrandom(p + got, n - got, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		got += (size_t)r;
	}
	while (got < n) {
		uint64_t z = weak_random();
		size_t k = n - got < sizeof(z) ? n - got : sizeof(z);

		memcpy(p + got, &z, k);
		got += k;
	}
}

/*
 * Server-assigned ids grow with time: 40 bits of milliseconds since 2020
 * (until 2054), then 24 bits that start at a random value in each
 * millisecond and count up within it. Ids made one after another are then
 * neighbours in the store's id index, so a bulk insert appends to it instead
 * of scattering across its pages (100,000 routes in one transaction: 1.9-2.6 s
 * instead of 3.9-4.5 s in a test of the schema alone), and lists, which are in
 * id order, come out in creation order. Each id of a process is greater than
 * the one before; across restarts ids differ unless the clock went back to
 * the same millisecond and the same random start, and the store refuses a
 * duplicate id anyway.
 */
#define ID_EPOCH_S 1577836800 /* 2020-01-01T00:00:00Z */
#define ID_LOW_BITS 24

static _Atomic uint64_t id_last;

static uint64_t id_value(void)
{
	struct timespec ts;
	uint64_t ms, old, v, r = 0;
	bool have_r = false;

	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (uint64_t)(ts.tv_sec - ID_EPOCH_S) * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	old = atomic_load(&id_last);
	do {
		if ((old >> ID_LOW_BITS) >= ms) {
			v = old + 1;
		} else {
			if (!have_r) {
				random_bytes((uint8_t *)&r, sizeof(r));
				have_r = true;
			}
			v = ms << ID_LOW_BITS | (r & ((1u << ID_LOW_BITS) - 1));
		}
	} while (!atomic_compare_exchange_weak(&id_last, &old, v));
	return v;
}

void model_id_new(const char *prefix, char *buf)
{
	snprintf(buf, ID_MAX, "%s%0*" PRIx64, prefix ? prefix : "", ID_HEX_NEW, id_value());
}

static const char *family_name(int family)
{
	return family == AF_INET6 ? "IPv6" : "IPv4";
}

static int check_description(const char *desc, struct vr_err *e)
{
	size_t n;

	if (!desc)
		return 0;
	n = strnlen(desc, DESC_MAX_LEN + 1);
	if (n > DESC_MAX_LEN)
		return invalid(e, "description", "description \"%.*s...\" is longer than %d bytes",
		               quote_len(desc), desc, DESC_MAX_LEN);
	return 0;
}

/*
 * IPv4-mapped IPv6 (::ffff:0:0/96) exists in the socket API only: the kernel
 * routes and filters IPv4 packets as IPv4, so a route, target or rule written
 * that way would never match what it names. Every address field refuses it
 * (rather than rewriting it, which would break the echo of what was written),
 * with the IPv4 spelling to use. A prefix is mapped when it lies wholly inside
 * ::ffff:0:0/96; ::/0 or ::/64 merely contain that range and are ordinary.
 */
static int check_not_mapped(const char *field, const char *text, const struct prefix *p,
                            struct vr_err *e)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	struct prefix v4 = {.addr.family = AF_INET};
	char hint[CIDR_STR_MAX];
	bool bare = !strchr(text, '/');

	if (p->addr.family != AF_INET6 || p->len < 96 || memcmp(p->addr.a, mapped, 12) != 0)
		return 0;
	memcpy(v4.addr.a, p->addr.a + 12, 4);
	v4.len = (uint8_t)(p->len - 96);
	if (bare)
		cidr_format_addr(&v4.addr, hint, sizeof(hint));
	else
		cidr_format_prefix(&v4, hint, sizeof(hint));
	return invalid(e, field,
	               "%s %s is an IPv4-mapped IPv6 %s (inside ::ffff:0:0/96), which IPv4 "
	               "traffic never matches: write %s",
	               field, text, bare ? "address" : "prefix", hint);
}

/* check_not_mapped for a bare address. */
static int check_addr_not_mapped(const char *field, const char *text, const struct ipaddr *a,
                                 struct vr_err *e)
{
	struct prefix p = {.addr = *a, .len = (uint8_t)cidr_max_len(a->family)};

	return check_not_mapped(field, text, &p, e);
}

static int route_check_destination(struct route *r, struct vr_err *e)
{
	struct ipaddr bare;
	struct prefix masked;
	char hint[CIDR_STR_MAX];
	int rc;

	if (!r->destination[0])
		return invalid(e, "destination", "destination is required");
	rc = cidr_parse_prefix(r->destination, false, &r->dst);
	if (rc == -EDOM) {
		masked = r->dst;
		cidr_mask(&masked);
		cidr_format_prefix(&masked, hint, sizeof(hint));
		return invalid(e, "destination", "destination %s: host bits set (did you mean %s?)",
		               r->destination, hint);
	}
	if (rc < 0) {
		/* A bare address is the commonest slip; say what is missing. */
		if (cidr_parse_addr(r->destination, &bare) == 0)
			return invalid(e, "destination",
			               "destination \"%s\" is not an IPv4 or IPv6 CIDR "
			               "(no prefix length; for one host write %s/%u)",
			               r->destination, r->destination, cidr_max_len(bare.family));
		return invalid(e, "destination", "destination \"%s\" is not an IPv4 or IPv6 CIDR",
		               r->destination);
	}
	return check_not_mapped("destination", r->destination, &r->dst, e);
}

/* Which of via and dev the route's type demands or forbids. */
static int route_check_type(const struct route *r, struct vr_err *e)
{
	const char *name = model_route_type_name(r->type);

	if ((unsigned)r->type > ROUTE_PROHIBIT)
		return invalid(e, "type", "type %d is not a route type", (int)r->type);
	if (r->type == ROUTE_UNICAST) {
		if (!r->via_text[0] && !r->dev[0])
			return invalid(e, "via", "a unicast route to %s needs via or dev (or both)",
			               r->destination);
		return 0;
	}
	if (r->via_text[0])
		return invalid(e, "via", "a %s route takes no via (got \"%s\")", name, r->via_text);
	if (r->dev[0])
		return invalid(e, "dev", "a %s route takes no dev (got \"%s\")", name, r->dev);
	return 0;
}

static int route_check_via(struct route *r, struct vr_err *e)
{
	if (!r->via_text[0])
		return 0;
	if (cidr_parse_addr(r->via_text, &r->via) < 0)
		return invalid(e, "via", "via \"%s\" is not an IPv4 or IPv6 address", r->via_text);
	if (r->via.family != r->dst.addr.family)
		return invalid(e, "via", "via %s is %s but destination %s is %s", r->via_text,
		               family_name(r->via.family), r->destination,
		               family_name(r->dst.addr.family));
	/* fe80::/10 exists on every link: the kernel cannot tell which one is meant. */
	if (r->via.family == AF_INET6 && r->via.a[0] == 0xfe && (r->via.a[1] & 0xc0) == 0x80 &&
	    !r->dev[0])
		return invalid(
		    e, "via",
		    "via %s is an IPv6 link-local address: give dev, the interface it is "
		    "reached on",
		    r->via_text);
	return check_addr_not_mapped("via", r->via_text, &r->via, e);
}

int model_route_validate(struct route *r, struct vr_err *e)
{
	int rc;

	memset(&r->dst, 0, sizeof(r->dst));
	memset(&r->via, 0, sizeof(r->via));

	if (!terminated(r->id, sizeof(r->id)))
		return invalid(e, "id", "id is longer than %d bytes", ID_MAX - 1);
	if (!terminated(r->table_id, sizeof(r->table_id)))
		return invalid(e, "route_table_id", "route_table_id is longer than %d bytes",
		               ID_MAX - 1);
	if (!terminated(r->destination, sizeof(r->destination)))
		return invalid(e, "destination", "destination is longer than %d bytes",
		               CIDR_STR_MAX - 1);
	if (!terminated(r->via_text, sizeof(r->via_text)))
		return invalid(e, "via", "via is longer than %d bytes", CIDR_STR_MAX - 1);
	if (!terminated(r->dev, sizeof(r->dev)))
		return invalid(e, "dev", "dev is longer than %d bytes", IFNAME_MAX - 1);

	if (r->id[0] && !model_id_valid(r->id, "rt-"))
		return invalid(e, "id",
		               "id \"%s\" is not a route id (\"rt-\" and 1 to %d lowercase hex "
		               "digits)",
		               r->id, ID_HEX_MAX);
	if (!r->table_id[0])
		return invalid(e, "route_table_id", "route_table_id is required");
	if (!model_rtb_id_valid(r->table_id))
		return invalid(e, "route_table_id",
		               "route_table_id \"%s\" is not a route table id (\"%s\", or \"rtb-\" "
		               "and 1 to %d lowercase hex digits)",
		               r->table_id, RTB_MAIN_ID, ID_HEX_MAX);
	if (check_table_router(r->table_id, r->router, sizeof(r->router), e) < 0)
		return -EINVAL;
	rc = route_check_destination(r, e);
	if (rc < 0)
		return rc;
	rc = route_check_type(r, e);
	if (rc < 0)
		return rc;
	rc = route_check_via(r, e);
	if (rc < 0)
		return rc;
	if (r->dev[0] && !model_ifname_valid(r->dev))
		return invalid(e, "dev", "dev \"%s\" is not a valid interface name", r->dev);
	return check_description(r->description, e);
}

/* A group or table name: required, at most NAME_MAX_LEN bytes, no control characters. */
static int check_name(const char *name, size_t size, struct vr_err *e)
{
	size_t n, i;

	n = strnlen(name, size);
	if (n == 0)
		return invalid(e, "name", "name is required");
	if (n > NAME_MAX_LEN)
		return invalid(e, "name", "name \"%.*s...\" is longer than %d bytes",
		               quote_len(name), name, NAME_MAX_LEN);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c == 0x7f)
			return invalid(e, "name",
			               "name \"%s\" contains a control character (0x%02x at byte "
			               "%zu)",
			               name, c, i);
	}
	return 0;
}

int model_rtb_validate(struct route_table *t, struct vr_err *e)
{
	if (!terminated(t->id, sizeof(t->id)))
		return invalid(e, "id", "id is longer than %d bytes", ID_MAX - 1);
	if (t->id[0] && !model_rtb_id_valid(t->id))
		return invalid(e, "id",
		               "id \"%s\" is not a route table id (\"%s\", or \"rtb-\" and 1 to %d "
		               "lowercase hex digits)",
		               t->id, RTB_MAIN_ID, ID_HEX_MAX);

	if (check_router(t->router, sizeof(t->router), e) < 0)
		return -EINVAL;
	if (model_rtb_main_router(t->id)) {
		/* A main table belongs to the router its id names. */
		const char *owner = model_rtb_main_router(t->id);

		if (t->router[0] && strcmp(t->router, owner) != 0)
			return invalid(e, "router",
			               "router \"%s\" is not the router of route table %s (\"%s\")",
			               t->router, t->id, owner);
		snprintf(t->router, sizeof(t->router), "%s", owner);
	}
	if (check_name(t->name, sizeof(t->name), e) < 0)
		return -EINVAL;

	/* 0 asks the server to pick one; 254 is main's and the store reports the clash. */
	if (t->table == TABLE_DEFAULT || t->table == TABLE_LOCAL)
		return invalid(e, "table", "table %u is reserved for the kernel's %s table",
		               t->table, t->table == TABLE_LOCAL ? "local" : "default");
	return check_description(t->description, e);
}

/* Descriptions compare as written, with NULL standing for "". */
static bool desc_same(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

/*
 * A route's or subnet's router as written: "" takes its table's, which the
 * same table_id already compares; one given must be the other's.
 */
static bool router_same(const char *a, const char *b)
{
	return !a[0] || !b[0] || strcmp(a, b) == 0;
}

bool model_route_same(const struct route *a, const struct route *b)
{
	return strcmp(a->id, b->id) == 0 && strcmp(a->table_id, b->table_id) == 0 &&
	       router_same(a->router, b->router) && strcmp(a->destination, b->destination) == 0 &&
	       a->type == b->type && strcmp(a->via_text, b->via_text) == 0 &&
	       strcmp(a->dev, b->dev) == 0 && a->metric == b->metric &&
	       desc_same(a->description, b->description);
}

bool model_rtb_same(const struct route_table *a, const struct route_table *b)
{
	return strcmp(a->id, b->id) == 0 && strcmp(a->name, b->name) == 0 && a->table == b->table &&
	       strcmp(model_router_or_local(a->router), model_router_or_local(b->router)) == 0 &&
	       desc_same(a->description, b->description);
}

void model_route_clear(struct route *r)
{
	if (!r)
		return;
	free(r->description);
	r->description = NULL;
}

void model_rtb_clear(struct route_table *t)
{
	if (!t)
		return;
	free(t->description);
	t->description = NULL;
}

void model_routes_free(struct route *v, size_t n)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < n; i++)
		model_route_clear(&v[i]);
	free(v);
}

void model_rtbs_free(struct route_table *v, size_t n)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < n; i++)
		model_rtb_clear(&v[i]);
	free(v);
}

/* ---- security groups ---- */

static const char *const sg_direction_names[] = {
    [SG_INGRESS] = "ingress",
    [SG_EGRESS] = "egress",
};

static const char *const sg_protocol_names[] = {
    [SG_PROTO_TCP] = "tcp",       [SG_PROTO_UDP] = "udp", [SG_PROTO_ICMP] = "icmp",
    [SG_PROTO_ICMPV6] = "icmpv6", [SG_PROTO_ALL] = "all",
};

static int name_parse(const char *const *names, size_t n, const char *s)
{
	size_t i;

	if (!s)
		return -1;
	for (i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	return -1;
}

int model_sg_direction_parse(const char *s)
{
	return name_parse(sg_direction_names, N_ELEMS(sg_direction_names), s);
}

const char *model_sg_direction_name(enum sg_direction d)
{
	if ((unsigned)d >= N_ELEMS(sg_direction_names))
		return "unknown";
	return sg_direction_names[d];
}

int model_sg_protocol_parse(const char *s)
{
	return name_parse(sg_protocol_names, N_ELEMS(sg_protocol_names), s);
}

const char *model_sg_protocol_name(enum sg_protocol p)
{
	if ((unsigned)p >= N_ELEMS(sg_protocol_names))
		return "unknown";
	return sg_protocol_names[p];
}

/*
 * "default" parses as 0.0.0.0/0 for routes; in a security group it would read
 * as "everything" while meaning IPv4 only, so the word is refused there.
 */
static bool is_default_word(const char *s)
{
	return strcmp(s, "default") == 0;
}

/* Parse target i (field "targets[i]") and fill t->local / t->p. */
static int sg_check_target(struct sg_target *t, size_t i, struct vr_err *e)
{
	char field[ERR_FIELD_MAX];
	char hint[CIDR_STR_MAX];
	struct prefix masked;
	int rc;

	snprintf(field, sizeof(field), "targets[%zu]", i);
	t->local = false;
	memset(&t->p, 0, sizeof(t->p));
	if (!terminated(t->text, sizeof(t->text)))
		return invalid(e, field, "%s is longer than %d bytes", field, CIDR_STR_MAX - 1);
	if (!t->text[0])
		return invalid(e, field, "%s is empty (write \"local\", an address or a CIDR)",
		               field);
	if (strcmp(t->text, SG_TARGET_LOCAL) == 0) {
		t->local = true;
		return 0;
	}
	rc = is_default_word(t->text) ? -EINVAL : cidr_parse_prefix(t->text, true, &t->p);
	if (rc == -EDOM) {
		masked = t->p;
		cidr_mask(&masked);
		cidr_format_prefix(&masked, hint, sizeof(hint));
		return invalid(e, field, "%s %s: host bits set (did you mean %s?)", field, t->text,
		               hint);
	}
	if (rc < 0)
		return invalid(e, field,
		               "%s \"%s\" is not \"local\", an IPv4 or IPv6 address, or a CIDR",
		               field, t->text);
	return check_not_mapped(field, t->text, &t->p, e);
}

static bool sg_target_equal(const struct sg_target *a, const struct sg_target *b)
{
	if (a->local || b->local)
		return a->local == b->local;
	return cidr_prefix_equal(&a->p, &b->p);
}

static int sg_check_targets(struct security_group *g, struct vr_err *e)
{
	size_t i, j;

	if (g->ntargets > SG_TARGETS_MAX)
		return invalid(e, "targets", "targets has %zu entries, at most %d are allowed",
		               g->ntargets, SG_TARGETS_MAX);
	if (g->ntargets && !g->targets)
		return invalid(e, "targets", "targets are missing");
	for (i = 0; i < g->ntargets; i++) {
		if (sg_check_target(&g->targets[i], i, e) < 0)
			return -EINVAL;
		/* Quadratic, but over at most SG_TARGETS_MAX entries. */
		for (j = 0; j < i; j++) {
			char field[ERR_FIELD_MAX];

			if (!sg_target_equal(&g->targets[i], &g->targets[j]))
				continue;
			snprintf(field, sizeof(field), "targets[%zu]", i);
			return invalid(e, field, "%s \"%s\" repeats targets[%zu] \"%s\"", field,
			               g->targets[i].text, j, g->targets[j].text);
		}
	}
	return 0;
}

int model_sg_validate(struct security_group *g, struct vr_err *e)
{
	if (!terminated(g->id, sizeof(g->id)))
		return invalid(e, "id", "id is longer than %d bytes", ID_MAX - 1);
	if (g->id[0] && !model_id_valid(g->id, "sg-"))
		return invalid(
		    e, "id",
		    "id \"%s\" is not a security group id (\"sg-\" and 1 to %d lowercase "
		    "hex digits)",
		    g->id, ID_HEX_MAX);
	if (check_name(g->name, sizeof(g->name), e) < 0)
		return -EINVAL;
	if (sg_check_targets(g, e) < 0)
		return -EINVAL;
	return check_description(g->description, e);
}

static bool proto_has_ports(enum sg_protocol p)
{
	return p == SG_PROTO_TCP || p == SG_PROTO_UDP;
}

static int sg_rule_check_ports(struct sg_rule *r, struct vr_err *e)
{
	r->has_ports = false;
	r->port_from = r->port_to = 0;
	if (!r->port_from_set && !r->port_to_set)
		return 0;
	if (!proto_has_ports(r->protocol))
		return invalid(
		    e, "port_from",
		    "ports apply only to tcp and udp, not to protocol %s (omit port_from "
		    "and port_to)",
		    model_sg_protocol_name(r->protocol));
	if (!r->port_from_set)
		return invalid(e, "port_from",
		               "port_from is required with port_to (%" PRId64
		               "); for one port give both the same value",
		               r->port_to_in);
	if (!r->port_to_set)
		return invalid(e, "port_to",
		               "port_to is required with port_from (%" PRId64
		               "); for one port give both the same value",
		               r->port_from_in);
	if (r->port_from_in < 1 || r->port_from_in > SG_PORT_MAX)
		return invalid(e, "port_from", "port_from %" PRId64 " is out of range 1..%d",
		               r->port_from_in, SG_PORT_MAX);
	if (r->port_to_in < 1 || r->port_to_in > SG_PORT_MAX)
		return invalid(e, "port_to", "port_to %" PRId64 " is out of range 1..%d",
		               r->port_to_in, SG_PORT_MAX);
	if (r->port_from_in > r->port_to_in)
		return invalid(e, "port_from", "port_from %" PRId64 " is above port_to %" PRId64,
		               r->port_from_in, r->port_to_in);
	r->has_ports = true;
	r->port_from = (uint16_t)r->port_from_in;
	r->port_to = (uint16_t)r->port_to_in;
	return 0;
}

static int sg_rule_check_cidr(struct sg_rule *r, struct vr_err *e)
{
	struct ipaddr bare;
	struct prefix masked;
	char hint[CIDR_STR_MAX];
	int rc;

	rc = is_default_word(r->cidr_text) ? -EINVAL
	                                   : cidr_parse_prefix(r->cidr_text, false, &r->cidr);
	if (rc == -EDOM) {
		masked = r->cidr;
		cidr_mask(&masked);
		cidr_format_prefix(&masked, hint, sizeof(hint));
		memset(&r->cidr, 0, sizeof(r->cidr));
		return invalid(e, "cidr", "cidr %s: host bits set (did you mean %s?)", r->cidr_text,
		               hint);
	}
	if (rc < 0) {
		memset(&r->cidr, 0, sizeof(r->cidr));
		if (cidr_parse_addr(r->cidr_text, &bare) == 0)
			return invalid(
			    e, "cidr",
			    "cidr \"%s\" is not an IPv4 or IPv6 CIDR (no prefix length; for "
			    "one host write %s/%u)",
			    r->cidr_text, r->cidr_text, cidr_max_len(bare.family));
		if (is_default_word(r->cidr_text))
			return invalid(
			    e, "cidr",
			    "cidr \"default\" is ambiguous here: write 0.0.0.0/0 or ::/0");
		return invalid(e, "cidr", "cidr \"%s\" is not an IPv4 or IPv6 CIDR", r->cidr_text);
	}
	if ((r->protocol == SG_PROTO_ICMP && r->cidr.addr.family != AF_INET) ||
	    (r->protocol == SG_PROTO_ICMPV6 && r->cidr.addr.family != AF_INET6))
		return invalid(e, "cidr", "cidr %s is %s, which protocol %s never carries",
		               r->cidr_text, family_name(r->cidr.addr.family),
		               model_sg_protocol_name(r->protocol));
	return check_not_mapped("cidr", r->cidr_text, &r->cidr, e);
}

int model_sg_rule_validate(struct sg_rule *r, struct vr_err *e)
{
	memset(&r->cidr, 0, sizeof(r->cidr));
	r->has_ports = false;
	r->port_from = r->port_to = 0;

	if (!terminated(r->id, sizeof(r->id)))
		return invalid(e, "id", "id is longer than %d bytes", ID_MAX - 1);
	if (!terminated(r->group_id, sizeof(r->group_id)))
		return invalid(e, "security_group_id", "security_group_id is longer than %d bytes",
		               ID_MAX - 1);
	if (!terminated(r->cidr_text, sizeof(r->cidr_text)))
		return invalid(e, "cidr", "cidr is longer than %d bytes", CIDR_STR_MAX - 1);
	if (!terminated(r->remote_group_id, sizeof(r->remote_group_id)))
		return invalid(e, "remote_security_group_id",
		               "remote_security_group_id is longer than %d bytes", ID_MAX - 1);

	if (r->id[0] && !model_id_valid(r->id, "sgr-"))
		return invalid(e, "id",
		               "id \"%s\" is not a security group rule id (\"sgr-\" and 1 to %d "
		               "lowercase hex digits)",
		               r->id, ID_HEX_MAX);
	if (!r->group_id[0])
		return invalid(e, "security_group_id", "security_group_id is required");
	if (!model_id_valid(r->group_id, "sg-"))
		return invalid(e, "security_group_id",
		               "security_group_id \"%s\" is not a security group id (\"sg-\" and 1 "
		               "to %d lowercase hex digits)",
		               r->group_id, ID_HEX_MAX);
	if ((unsigned)r->direction > SG_EGRESS)
		return invalid(e, "direction", "direction %d is not ingress or egress",
		               (int)r->direction);
	if ((unsigned)r->protocol > SG_PROTO_ALL)
		return invalid(e, "protocol", "protocol %d is not tcp, udp, icmp, icmpv6 or all",
		               (int)r->protocol);
	if (sg_rule_check_ports(r, e) < 0)
		return -EINVAL;

	if (r->cidr_text[0] && r->remote_group_id[0])
		return invalid(
		    e, "cidr",
		    "give either cidr (\"%s\") or remote_security_group_id (\"%s\"), not "
		    "both",
		    r->cidr_text, r->remote_group_id);
	if (!r->cidr_text[0] && !r->remote_group_id[0])
		return invalid(e, "cidr",
		               "a rule needs cidr or remote_security_group_id (exactly one)");
	if (r->cidr_text[0] && sg_rule_check_cidr(r, e) < 0)
		return -EINVAL;
	if (r->remote_group_id[0] && !model_id_valid(r->remote_group_id, "sg-"))
		return invalid(
		    e, "remote_security_group_id",
		    "remote_security_group_id \"%s\" is not a security group id (\"sg-\" "
		    "and 1 to %d lowercase hex digits)",
		    r->remote_group_id, ID_HEX_MAX);
	return check_description(r->description, e);
}

bool model_sg_same(const struct security_group *a, const struct security_group *b)
{
	size_t i;

	if (strcmp(a->id, b->id) != 0 || strcmp(a->name, b->name) != 0 ||
	    !desc_same(a->description, b->description) || a->ntargets != b->ntargets)
		return false;
	for (i = 0; i < a->ntargets; i++)
		if (strcmp(a->targets[i].text, b->targets[i].text) != 0)
			return false;
	return true;
}

bool model_sg_rule_same(const struct sg_rule *a, const struct sg_rule *b)
{
	return strcmp(a->id, b->id) == 0 && strcmp(a->group_id, b->group_id) == 0 &&
	       a->direction == b->direction && a->protocol == b->protocol &&
	       a->port_from_set == b->port_from_set && a->port_to_set == b->port_to_set &&
	       (!a->port_from_set || a->port_from_in == b->port_from_in) &&
	       (!a->port_to_set || a->port_to_in == b->port_to_in) &&
	       strcmp(a->cidr_text, b->cidr_text) == 0 &&
	       strcmp(a->remote_group_id, b->remote_group_id) == 0 &&
	       desc_same(a->description, b->description);
}

void model_sg_clear(struct security_group *g)
{
	if (!g)
		return;
	free(g->description);
	g->description = NULL;
	free(g->targets);
	g->targets = NULL;
	g->ntargets = 0;
}

void model_sg_rule_clear(struct sg_rule *r)
{
	if (!r)
		return;
	free(r->description);
	r->description = NULL;
}

void model_sgs_free(struct security_group *v, size_t n)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < n; i++)
		model_sg_clear(&v[i]);
	free(v);
}

void model_sg_rules_free(struct sg_rule *v, size_t n)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < n; i++)
		model_sg_rule_clear(&v[i]);
	free(v);
}

/* ---- subnets ---- */

static int subnet_check_cidr(struct subnet *s, struct vr_err *e)
{
	struct ipaddr bare;
	struct prefix masked;
	char hint[CIDR_STR_MAX];
	int rc;

	if (!s->cidr_text[0])
		return invalid(e, "cidr", "cidr is required");
	/* "default" would parse as 0.0.0.0/0, which is no subnet either. */
	rc = is_default_word(s->cidr_text) ? -EINVAL
	                                   : cidr_parse_prefix(s->cidr_text, false, &s->cidr);
	if (rc == -EDOM) {
		masked = s->cidr;
		cidr_mask(&masked);
		cidr_format_prefix(&masked, hint, sizeof(hint));
		return invalid(e, "cidr", "cidr %s: host bits set (did you mean %s?)", s->cidr_text,
		               hint);
	}
	if (rc < 0) {
		if (cidr_parse_addr(s->cidr_text, &bare) == 0)
			return invalid(e, "cidr",
			               "cidr \"%s\" is not an IPv4 or IPv6 CIDR (no prefix length, "
			               "as in 192.168.100.0/24)",
			               s->cidr_text);
		return invalid(e, "cidr", "cidr \"%s\" is not an IPv4 or IPv6 CIDR", s->cidr_text);
	}
	if (s->cidr.len == 0)
		return invalid(e, "cidr",
		               "cidr %s covers every %s address; a subnet needs a prefix length "
		               "of at least 1",
		               s->cidr_text, family_name(s->cidr.addr.family));
	return check_not_mapped("cidr", s->cidr_text, &s->cidr, e);
}

/* The IPv4 broadcast address of p: all host bits set. */
static void broadcast_of(const struct prefix *p, struct ipaddr *out)
{
	unsigned i;

	*out = p->addr;
	for (i = p->len; i < 32; i++)
		out->a[i / 8] |= (uint8_t)(0x80u >> (i % 8));
}

static int subnet_check_router_ip(struct subnet *s, struct vr_err *e)
{
	struct prefix with_len;
	struct ipaddr bcast;
	bool tiny;

	if (!s->router_ip_text[0])
		return invalid(e, "router_ip", "router_ip is required");
	if (cidr_parse_addr(s->router_ip_text, &s->router_ip) < 0) {
		memset(&s->router_ip, 0, sizeof(s->router_ip));
		/* "10.0.0.1/24" is the commonest slip: the length comes from cidr. */
		if (strchr(s->router_ip_text, '/') &&
		    cidr_parse_prefix(s->router_ip_text, true, &with_len) != -EINVAL)
			return invalid(e, "router_ip",
			               "router_ip \"%s\" must be a bare address; the prefix length "
			               "comes from cidr",
			               s->router_ip_text);
		return invalid(e, "router_ip", "router_ip \"%s\" is not an IPv4 or IPv6 address",
		               s->router_ip_text);
	}
	if (s->router_ip.family != s->cidr.addr.family)
		return invalid(e, "router_ip", "router_ip %s is %s but cidr %s is %s",
		               s->router_ip_text, family_name(s->router_ip.family), s->cidr_text,
		               family_name(s->cidr.addr.family));
	if (!cidr_contains(&s->cidr, &s->router_ip))
		return invalid(e, "router_ip", "router_ip %s is not inside cidr %s",
		               s->router_ip_text, s->cidr_text);
	/* On point-to-point sized subnets every address is a host's. */
	tiny = s->cidr.len >= cidr_max_len(s->cidr.addr.family) - 1;
	if (!tiny && cidr_addr_equal(&s->router_ip, &s->cidr.addr))
		return invalid(e, "router_ip", "router_ip %s is the network address of cidr %s",
		               s->router_ip_text, s->cidr_text);
	if (s->cidr.addr.family == AF_INET && !tiny) {
		broadcast_of(&s->cidr, &bcast);
		if (cidr_addr_equal(&s->router_ip, &bcast))
			return invalid(e, "router_ip",
			               "router_ip %s is the broadcast address of cidr %s",
			               s->router_ip_text, s->cidr_text);
	}
	return 0;
}

int model_subnet_validate(struct subnet *s, struct vr_err *e)
{
	memset(&s->cidr, 0, sizeof(s->cidr));
	memset(&s->router_ip, 0, sizeof(s->router_ip));

	if (!terminated(s->id, sizeof(s->id)))
		return invalid(e, "id", "id is longer than %d bytes", ID_MAX - 1);
	if (!terminated(s->cidr_text, sizeof(s->cidr_text)))
		return invalid(e, "cidr", "cidr is longer than %d bytes", CIDR_STR_MAX - 1);
	if (!terminated(s->interface, sizeof(s->interface)))
		return invalid(e, "interface", "interface is longer than %d bytes", IFNAME_MAX - 1);
	if (!terminated(s->router_ip_text, sizeof(s->router_ip_text)))
		return invalid(e, "router_ip", "router_ip is longer than %d bytes",
		               CIDR_STR_MAX - 1);
	if (!terminated(s->table_id, sizeof(s->table_id)))
		return invalid(e, "route_table_id", "route_table_id is longer than %d bytes",
		               ID_MAX - 1);

	if (s->id[0] && !model_id_valid(s->id, SUBNET_PREFIX))
		return invalid(e, "id",
		               "id \"%s\" is not a subnet id (\"" SUBNET_PREFIX "\" and 1 to %d "
		               "lowercase hex digits)",
		               s->id, ID_HEX_MAX);
	if (check_name(s->name, sizeof(s->name), e) < 0)
		return -EINVAL;
	if (subnet_check_cidr(s, e) < 0)
		return -EINVAL;
	if (!s->interface[0])
		return invalid(e, "interface", "interface is required");
	if (!model_ifname_valid(s->interface))
		return invalid(e, "interface", "interface \"%s\" is not a valid interface name",
		               s->interface);
	if (subnet_check_router_ip(s, e) < 0)
		return -EINVAL;
	if (!s->table_id[0])
		return invalid(e, "route_table_id", "route_table_id is required");
	if (!model_rtb_id_valid(s->table_id))
		return invalid(e, "route_table_id",
		               "route_table_id \"%s\" is not a route table id (\"%s\", or \"rtb-\" "
		               "and 1 to %d lowercase hex digits)",
		               s->table_id, RTB_MAIN_ID, ID_HEX_MAX);
	if (check_table_router(s->table_id, s->router, sizeof(s->router), e) < 0)
		return -EINVAL;
	return check_description(s->description, e);
}

bool model_subnet_same(const struct subnet *a, const struct subnet *b)
{
	return strcmp(a->id, b->id) == 0 && strcmp(a->name, b->name) == 0 &&
	       strcmp(a->cidr_text, b->cidr_text) == 0 && strcmp(a->interface, b->interface) == 0 &&
	       strcmp(a->router_ip_text, b->router_ip_text) == 0 &&
	       strcmp(a->table_id, b->table_id) == 0 && router_same(a->router, b->router) &&
	       desc_same(a->description, b->description);
}

void model_subnet_clear(struct subnet *s)
{
	if (!s)
		return;
	free(s->description);
	s->description = NULL;
}

void model_subnets_free(struct subnet *v, size_t n)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < n; i++)
		model_subnet_clear(&v[i]);
	free(v);
}

void model_now(char buf[TIME_MAX])
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, TIME_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, TIME_MAX - n, ".%03ldZ", ts.tv_nsec / 1000000);
}
