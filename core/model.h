/*
 * The desired-state objects and their validation. Pure C, no I/O, no JSON:
 * server/ fills the text fields as the client wrote them, model_*_validate
 * parses and checks them and fills the parsed fields.
 */
#ifndef VR_MODEL_H
#define VR_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "cidr.h"
#include "err.h"

#define ID_MAX 48 /* prefix + up to 40 lowercase hex digits + NUL */
#define ID_HEX_MAX 40
#define ID_HEX_NEW 16     /* length of the hex part of server-assigned ids */
#define NAME_MAX_LEN 128  /* route table / subnet / group names, bytes */
#define DESC_MAX_LEN 1024 /* descriptions, bytes */
#define IFNAME_MAX 16     /* IFNAMSIZ */
#define TIME_MAX 32       /* "2026-11-26T13:22:32.123Z" */
#define REASON_MAX 256

#define RTB_MAIN_ID "rtb-main"
/*
 * A fleet (issue 16): route tables, and through them routes and subnets, and
 * the settings belong to one router, named [a-z0-9][a-z0-9-]{0,31}. A single
 * vrouterd's objects, and a database's from before, belong to router "local".
 * Each router has its own main table (254): rtb-main is local's, and
 * "rtb-main-" + N router N's.
 */
#define ROUTER_NAME_MAX 32
#define ROUTER_MAX (ROUTER_NAME_MAX + 1)
#define ROUTER_LOCAL "local"
#define RTB_MAIN_PREFIX "rtb-main-"
#define RTB_MAIN_TABLE 254u
/* Kernel table numbers assigned by the server when a route table omits one. */
#define RTB_AUTO_FIRST 10000u
#define RTB_AUTO_LAST 19999u

enum route_type { ROUTE_UNICAST = 0, ROUTE_BLACKHOLE, ROUTE_UNREACHABLE, ROUTE_PROHIBIT };

enum obj_state { OBJ_PENDING = 0, OBJ_ACTIVE, OBJ_FAILED };

struct obj_status {
	enum obj_state state;
	char reason[REASON_MAX];
};

struct route_table {
	char id[ID_MAX];
	char router[ROUTER_MAX]; /* "" when not given: local (see ROUTER_LOCAL) */
	char name[NAME_MAX_LEN + 1];
	uint32_t table;    /* kernel table number; 0 = let the server assign one */
	char *description; /* malloc'd, NULL means "" */
	char created_at[TIME_MAX];
	char updated_at[TIME_MAX];
	int64_t rev; /* desired-state revision of its last write; the ETag */
};

struct route {
	char id[ID_MAX];
	char table_id[ID_MAX]; /* default "rtb-main" */
	/*
	 * Its table's router, which the store fills in; as written, "" or the
	 * same (a route or subnet naming another router is INVALID, router).
	 */
	char router[ROUTER_MAX];
	char destination[CIDR_STR_MAX]; /* as written by the client */
	enum route_type type;           /* default unicast */
	char via_text[CIDR_STR_MAX];    /* as written; "" = none */
	char dev[IFNAME_MAX];           /* "" = none */
	uint32_t metric;                /* default 0 */
	char *description;              /* malloc'd, NULL means "" */
	char created_at[TIME_MAX];
	char updated_at[TIME_MAX];
	int64_t rev;

	/* Filled by model_route_validate. */
	struct prefix dst; /* canonical, "default" -> 0.0.0.0/0 */
	struct ipaddr via; /* family 0 = none */
	/* Filled by the store when loading: the kernel table number of table_id. */
	uint32_t table;
};

/* ---- security groups ---- */

#define SG_TARGETS_MAX 256      /* targets per group */
#define SG_TARGET_LOCAL "local" /* the target meaning this host itself */
#define SG_PORT_MAX 65535

/* One target as written: an address, a CIDR, or "local" (this host itself). */
struct sg_target {
	char text[CIDR_STR_MAX];
	bool local;      /* "local" */
	struct prefix p; /* parsed when !local; a bare address is a host prefix */
};

struct security_group {
	char id[ID_MAX];
	char name[NAME_MAX_LEN + 1];
	char *description;         /* malloc'd, NULL means "" */
	struct sg_target *targets; /* malloc'd array, in the order given */
	size_t ntargets;
	char created_at[TIME_MAX];
	char updated_at[TIME_MAX];
	int64_t rev;
};

enum sg_direction { SG_INGRESS = 0, SG_EGRESS };
enum sg_protocol { SG_PROTO_TCP = 0, SG_PROTO_UDP, SG_PROTO_ICMP, SG_PROTO_ICMPV6, SG_PROTO_ALL };

struct sg_rule {
	char id[ID_MAX];
	char group_id[ID_MAX];
	enum sg_direction direction;
	enum sg_protocol protocol;
	/* As written: which port fields the client gave, with their values unchecked. */
	bool port_from_set, port_to_set;
	int64_t port_from_in, port_to_in;
	/* Filled by model_sg_rule_validate: both ports given (tcp/udp only); else all ports. */
	bool has_ports;
	uint16_t port_from, port_to;
	char cidr_text[CIDR_STR_MAX]; /* as written; "" when remote_group_id is used */
	struct prefix cidr;           /* parsed cidr_text */
	char remote_group_id[ID_MAX]; /* "" when cidr is used */
	char *description;
	char created_at[TIME_MAX];
	char updated_at[TIME_MAX];
	int64_t rev;
};

/* "unicast" <-> ROUTE_UNICAST ... Returns -1 for an unknown name. */
int model_route_type_parse(const char *s);
const char *model_route_type_name(enum route_type t);
const char *model_obj_state_name(enum obj_state s);

/* True if id is prefix followed by 1..ID_HEX_MAX lowercase hex digits. */
bool model_id_valid(const char *id, const char *prefix);
/* True for a route table id: model_id_valid(id, "rtb-") or exactly RTB_MAIN_ID. */
bool model_rtb_id_valid(const char *id);
/* True for a router name: [a-z0-9][a-z0-9-]{0,31}. */
bool model_router_valid(const char *name);
/* A router's name as stored: "" is ROUTER_LOCAL. */
const char *model_router_or_local(const char *router);
/* The id of router's main table into id (>= ID_MAX): rtb-main for "" and local. */
void model_rtb_main_id(const char *router, char *id);
/* The router whose main table id is ("rtb-main": local), or NULL when id is no main table. */
const char *model_rtb_main_router(const char *id);
/* True for a name the kernel accepts as an interface name (its dev_valid_name()). */
bool model_ifname_valid(const char *name);
/*
 * Write a new id "prefix" + ID_HEX_NEW hex digits into buf (>= ID_MAX): ids
 * made later compare greater (model.c says how they are made).
 */
void model_id_new(const char *prefix, char *buf);

/*
 * Check a route as written and fill r->dst and r->via. Errors name the JSON
 * field and quote the value: INVALID for semantic problems (bad CIDR, host bits
 * set, via of the wrong family, an IPv6 link-local via without dev, unicast
 * without via or dev, bad id, bad dev name, description too long). In every
 * address field of every object, an IPv4-mapped IPv6 address or prefix
 * (inside ::ffff:0:0/96) is INVALID naming the IPv4 spelling: IPv4 traffic
 * never matches it.
 */
int model_route_validate(struct route *r, struct vr_err *e) __attribute__((warn_unused_result));

/* INVALID for a bad id, empty/too long name, reserved table number (253, 255); table 0 means
 * "assign one". */
int model_rtb_validate(struct route_table *t, struct vr_err *e) __attribute__((warn_unused_result));

/* True when the writable fields of a and b are identical as written. */
bool model_route_same(const struct route *a, const struct route *b);
bool model_rtb_same(const struct route_table *a, const struct route_table *b);

/* Free what the struct owns (not the struct itself). NULL-safe. */
void model_route_clear(struct route *r);
void model_rtb_clear(struct route_table *t);
/* Free an array of n routes / tables and their contents. NULL-safe. */
void model_routes_free(struct route *v, size_t n);

/*
 * A document's routes held compact (route_pack.c): some 160 bytes an item
 * where a struct route is 416. put stores r into item i (taking its
 * description; -1 when out of memory), get fills *r from item i (its
 * description borrowed: not to be freed), id is item i's id, in place.
 */
struct route_pack;
struct route_pack *route_pack_new(size_t n);
void route_pack_free(struct route_pack *p);
size_t route_pack_len(const struct route_pack *p);
int route_pack_put(struct route_pack *p, size_t i, struct route *r);
void route_pack_get(const struct route_pack *p, size_t i, struct route *r);
/*
 * The same but for the text of destination and via (left ""): enough for a
 * route's kernel form and its table, without printing the addresses.
 */
void route_pack_get_parsed(const struct route_pack *p, size_t i, struct route *r);
/* Item i's table number and router (what the store resolves), without a full put. */
int route_pack_set_table(struct route_pack *p, size_t i, uint32_t table, const char *router);
char *route_pack_id(struct route_pack *p, size_t i);
/* Route i of routes v, or when p is set of p, filled into *tmp. */
const struct route *route_pack_at(const struct route *v, const struct route_pack *p, size_t i,
                                  struct route *tmp);
/* What the routes table keeps unique, without a full get: table, destination, metric. */
void route_pack_key(const struct route_pack *p, size_t i, uint32_t *table,
                    const struct prefix **dst, uint32_t *metric);
void model_rtbs_free(struct route_table *v, size_t n);

/* "ingress" <-> SG_INGRESS, "tcp" <-> SG_PROTO_TCP ... parse returns -1 for an unknown name. */
int model_sg_direction_parse(const char *s);
const char *model_sg_direction_name(enum sg_direction d);
int model_sg_protocol_parse(const char *s);
const char *model_sg_protocol_name(enum sg_protocol p);

/*
 * Check a security group as written and fill each target's local/p. INVALID
 * naming the field for a bad id ("sg-"), a missing, too long or unprintable
 * name, more than SG_TARGETS_MAX targets, a target that is neither "local"
 * nor an address or CIDR, host bits set (field "targets[i]"), a target given
 * twice (compared canonically), a description too long. No targets is valid:
 * such a group is only a remote reference for rules.
 */
int model_sg_validate(struct security_group *g, struct vr_err *e)
    __attribute__((warn_unused_result));

/*
 * Check a rule as written and fill has_ports/port_from/port_to and cidr. INVALID
 * naming the field for a bad id ("sgr-") or group id, a direction or protocol
 * out of range, ports with a protocol other than tcp/udp, one port without the
 * other, a port outside 1..65535 or port_from > port_to, both or neither of
 * cidr and remote_group_id (field "cidr"), a bad CIDR or host bits set, a
 * cidr of a family the protocol never carries (icmp + IPv6, icmpv6 + IPv4).
 */
int model_sg_rule_validate(struct sg_rule *r, struct vr_err *e) __attribute__((warn_unused_result));

/* True when the writable fields are identical as written (targets in order). */
bool model_sg_same(const struct security_group *a, const struct security_group *b);
bool model_sg_rule_same(const struct sg_rule *a, const struct sg_rule *b);

/* Free what the struct owns (description, targets), not the struct. NULL-safe. */
void model_sg_clear(struct security_group *g);
void model_sg_rule_clear(struct sg_rule *r);
/* Free an array of n groups / rules and their contents. NULL-safe. */
void model_sgs_free(struct security_group *v, size_t n);
void model_sg_rules_free(struct sg_rule *v, size_t n);

/* ---- subnets and settings ---- */

#define SUBNET_PREFIX "subnet-"

/*
 * A subnet (JSON keys id, name, cidr, interface, router_ip, route_table_id,
 * description): router_ip/prefix is put on interface, and a route table other
 * than main gets a policy rule "from cidr lookup table". The interface need not
 * exist when the subnet is written: it stays desired (status failed) and is
 * applied when the link appears.
 */
struct subnet {
	char id[ID_MAX];
	char name[NAME_MAX_LEN + 1];
	char cidr_text[CIDR_STR_MAX]; /* "cidr" as written */
	char interface[IFNAME_MAX];
	char router_ip_text[CIDR_STR_MAX]; /* "router_ip" as written */
	char table_id[ID_MAX];             /* "route_table_id", default "rtb-main" */
	char router[ROUTER_MAX];           /* its table's, as for struct route */
	char *description;                 /* malloc'd, NULL means "" */
	char created_at[TIME_MAX];
	char updated_at[TIME_MAX];
	int64_t rev;

	/* Filled by model_subnet_validate. */
	struct prefix cidr;      /* the network, host bits clear */
	struct ipaddr router_ip; /* inside cidr */
	/* Filled by the store when loading: the kernel table number of table_id. */
	uint32_t table;
};

/*
 * The namespace-wide settings (GET/PUT /v1/settings). managed is false until
 * the first PUT: until then vrouter leaves the kernel's forwarding sysctls as
 * they are and fwd_v4/fwd_v6 hold the defaults (false), not the kernel's
 * values (GET /v1/status shows those). Once managed, both families are
 * enforced; there is no way back to unmanaged short of a fresh database.
 */
struct settings {
	char router[ROUTER_MAX]; /* whose settings; "" is local */
	bool managed;
	bool fwd_v4, fwd_v6; /* net.ipv4.ip_forward, net.ipv6.conf.all.forwarding */
	int64_t rev;         /* the ETag */
	char updated_at[TIME_MAX];
};

/*
 * Check a subnet as written and fill s->cidr and s->router_ip. INVALID naming the
 * field for: a bad id ("subnet-"), a missing/too long/unprintable name, a
 * cidr that is not a CIDR, has host bits set or has prefix length 0, a
 * router_ip that is not a bare address, of the other family, outside cidr,
 * or equal to the network address (except IPv4 /31-/32 and IPv6 /127-/128,
 * where every address is a host: RFC 3021, RFC 6164) or the IPv4 broadcast
 * address (prefix < 31), an interface name the kernel would refuse, a bad
 * route_table_id, a description too long. Whether the interface exists is
 * not checked.
 */
int model_subnet_validate(struct subnet *s, struct vr_err *e) __attribute__((warn_unused_result));
/* True when the writable fields are identical as written. */
bool model_subnet_same(const struct subnet *a, const struct subnet *b);
/* Free what the struct owns (description), not the struct. NULL-safe. */
void model_subnet_clear(struct subnet *s);
/* Free an array of n subnets and their contents. NULL-safe. */
void model_subnets_free(struct subnet *v, size_t n);

/* Current time as RFC 3339 UTC with milliseconds. */
void model_now(char buf[TIME_MAX]);

#endif
