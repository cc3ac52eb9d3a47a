/*
 * Reachability diagnostics (POST /v1/diagnostics/reachability): why can't
 * source reach destination through this host? The desired state, turned
 * into kernel objects by the planner's one translation (plan.h), is read
 * beside the live kernel (route lookups, forwarding, links, connection
 * tracking, the guard's drop counters) through a kernel_ops, and every
 * check on the packet's path gets a verdict and its evidence. The first
 * check that fails is what blocks, with a stable code and the API call
 * that fixes it. Reads only; no JSON (server/api_diag.c says it in JSON).
 */
#ifndef VR_DIAG_H
#define VR_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "kernel.h"
#include "model.h"

#define DIAG_TEXT_MAX 512 /* one sentence or one kernel fact */
#define DIAG_IDS_MAX 4    /* our objects named by one check */
#define DIAG_HOPS_MAX 8
#define DIAG_BODY_MAX 6 /* fields of a suggested request body */

/* The question as the client wrote it; diag_request_validate fills the parsed part. */
struct diag_request {
	char source[CIDR_STR_MAX];
	char destination[CIDR_STR_MAX];
	char protocol[16];
	bool has_port;
	int64_t port_in;
	/* Filled by diag_request_validate. */
	struct ipaddr src, dst;
	enum sg_protocol proto; /* tcp, udp, icmp or icmpv6 */
	uint16_t port;          /* 0 for icmp */
};

/*
 * INVALID naming the field and quoting the value: an address that is not
 * one (a CIDR is not an address), source and destination of different
 * families, a protocol other than tcp, udp, icmp, icmpv6, icmp with IPv6
 * addresses (icmpv6 with IPv4), a port with icmp, no port or one outside
 * 1..65535 with tcp/udp.
 */
int diag_request_validate(struct diag_request *r, struct vr_err *e)
    __attribute__((warn_unused_result));

/* Stable codes of what blocks (schema/openapi.yaml lists and explains them). */
enum diag_code {
	DIAG_OK = 0,
	DIAG_FORWARDING_DISABLED,
	DIAG_NO_ROUTE,
	DIAG_BLACKHOLE_ROUTE,
	DIAG_UNREACHABLE_ROUTE,
	DIAG_PROHIBIT_ROUTE,
	DIAG_ROUTE_NOT_APPLIED,
	DIAG_SG_EGRESS_NO_MATCH,
	DIAG_SG_INGRESS_NO_MATCH,
	DIAG_NO_RETURN_ROUTE,
	DIAG_NO_REPLY_OBSERVED,
};
const char *diag_code_name(enum diag_code c);

enum diag_verdict {
	DIAG_PASS,
	DIAG_FAIL,
	DIAG_SKIP,    /* does not apply to this path (no forwarding for this host's own traffic) */
	DIAG_UNKNOWN, /* could not be checked (the kernel would not say) */
};
const char *diag_verdict_name(enum diag_verdict v);

struct diag_hop {
	const char *check; /* "source", "destination", "forwarding", "route", ... */
	enum diag_verdict verdict;
	char ids[DIAG_IDS_MAX][ID_MAX]; /* our objects the check found */
	size_t nids;
	char kernel[DIAG_TEXT_MAX]; /* kernel facts as iproute2/conntrack print them; "" none */
	char detail[DIAG_TEXT_MAX]; /* what it means, in a sentence */
};

/* A field of a suggested request body: a string, an integer or a boolean. */
struct diag_field {
	const char *key;
	enum { DIAG_STR, DIAG_INT, DIAG_BOOL } type;
	char s[CIDR_STR_MAX + ID_MAX];
	int64_t i;
	bool b;
};

/*
 * The API call that fixes what blocks. on_destination: to be sent to the
 * vrouterd of the destination host, not this one. complete false: the body
 * holds a value only the operator knows (placeholder, named in note).
 */
struct diag_suggestion {
	bool present;
	const char *method;
	char path[128];
	struct diag_field body[DIAG_BODY_MAX];
	size_t nbody;
	bool on_destination;
	bool complete;
	char note[DIAG_TEXT_MAX];
};

struct diag_result {
	bool reachable;
	struct diag_hop hops[DIAG_HOPS_MAX];
	size_t nhops;
	enum diag_code code; /* DIAG_OK when reachable */
	char object_id[ID_MAX];
	char message[DIAG_TEXT_MAX];
	struct diag_suggestion fix;
};

/* The desired state the answer is checked against, as the store loads it. */
struct diag_state {
	const struct route *routes; /* table numbers resolved */
	size_t nroutes;
	const struct subnet *subnets; /* parsed, table numbers resolved */
	size_t nsubnets;
	const struct security_group *groups; /* targets parsed */
	size_t ngroups;
	const struct sg_rule *rules; /* parsed */
	size_t nrules;
	/* Why a route is not applied, as the reconciler recorded it (may be NULL). */
	void (*route_status)(void *ctx, const char *id, struct obj_status *out);
	void *status_ctx;
};

/*
 * Answer q (validated) for state st against the kernel k. Ops k lacks
 * (NULL: an older or fake kernel) make their checks DIAG_UNKNOWN, never a
 * guess. Returns 0 with *out filled, or -errno with why when the kernel
 * could not be read at all (links, route dump).
 */
int diag_reachability(const struct kernel_ops *k, const struct diag_state *st,
                      const struct diag_request *q, struct diag_result *out, char *why, size_t len)
    __attribute__((warn_unused_result));

#endif
