/*
 * The kernel as the reconciler sees it: a small table of operations, so the
 * planner and reconciler can be tested with a fake. nl_route.c implements it
 * with libnl-route-3 for the namespace the process runs in.
 */
#ifndef VR_KERNEL_H
#define VR_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cidr.h"
#include "model.h"

/* Our routing protocol number ("proto vrouter"); see deploy/rt_protos.d/vrouter.conf. */
#define VR_RTPROT 245

/*
 * A route as the kernel holds it. Only RTN_UNICAST routes have a next hop:
 * for the other types route_apply sends no gateway or device and route_dump
 * reports none (the kernel shows IPv6 reject routes on "lo").
 */
struct kroute {
	uint32_t table;
	struct prefix dst;
	uint8_t type;	   /* RTN_UNICAST, RTN_BLACKHOLE, RTN_UNREACHABLE, RTN_PROHIBIT */
	struct ipaddr via; /* family 0 = no gateway */
	int oif;	   /* 0 = no device; route_dump gives -1 for a multipath route */
	/*
	 * IPv6: the kernel stores metric 0 as 1024 and route_dump reports 1024,
	 * so callers must pass 1024 for an IPv6 route with metric 0.
	 */
	uint32_t metric;
};

/*
 * KOP_ADD creates a route whose key (table, dst, metric) is free in the
 * kernel (NLM_F_CREATE|NLM_F_EXCL): a foreign route holding the key is left
 * alone and the op fails with -EEXIST. KOP_REPLACE overwrites the route at
 * that key (NLM_F_CREATE|NLM_F_REPLACE); use it only for keys we own.
 * KOP_DELETE removes the route matching r exactly (protocol VR_RTPROT).
 */
enum kop_kind { KOP_REPLACE, KOP_DELETE, KOP_ADD };

struct kroute_op {
	enum kop_kind kind;
	struct kroute r;
	size_t tag; /* caller's index (e.g. into the desired array); not used by the kernel */
};

struct kernel_ops {
	void *ctx;
	/* All routes carrying VR_RTPROT, every table, both families. *out is malloc'd. */
	int (*route_dump)(void *ctx, struct kroute **out, size_t *n);
	/*
	 * Apply ops in order. res[i] gets 0 or -errno for ops[i]
	 * (kernel_route_reason turns it into words). Returns 0 when every op was
	 * attempted (even if some failed), -errno if the socket itself failed;
	 * then ops without an answer have res[i] = that -errno.
	 */
	int (*route_apply)(void *ctx, const struct kroute_op *ops, size_t n, int *res);
	/* Interface index for a name, 0 if there is no such link. */
	int (*link_index)(void *ctx, const char *name);
	/*
	 * Notifications: a file descriptor to poll for route/link/address changes,
	 * and a function to drain it that returns true when a resync is needed
	 * (anything touching our routes, links, addresses, or lost messages).
	 */
	int (*events_fd)(void *ctx);
	bool (*events_drain)(void *ctx);
};

/* The libnl-backed kernel for the current network namespace. */
int nl_kernel_open(struct kernel_ops *out) __attribute__((warn_unused_result));
void nl_kernel_close(struct kernel_ops *k);

/*
 * Human words for a failed route op ("gateway 10.0.0.1 is not on any connected
 * network"). err is the -errno from route_apply (the sign is ignored).
 */
void kernel_route_reason(const struct kroute *r, int err, char *buf, size_t len);

#endif
