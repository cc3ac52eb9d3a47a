/*
 * The netlink kernel adapter put together (nl_int.h shows the layers): one
 * transport, the object files over it, and kernel_ops filled with them.
 * Notifications are handed to the object files in turn, each asked whether
 * the message is its own and whether it calls for a resync; batches are
 * stepped here so that notifications can be read between their steps.
 */
#include "nl_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "log.h"

/* Datagrams read per events_drain call, so a flood cannot hold the thread. */
#define NLK_DRAIN_MAX 4096

struct nl_kernel {
	struct nl_xport *x;
	struct nl_ifaddr *addr;
	struct nl_link *link;
	/*
	 * Notifications are drained between the batches of a large apply (else
	 * our own route notifications overflow the socket and force a needless
	 * resync); what they said waits here for the next events_drain.
	 */
	bool ev_pending;
};

/* Does this notification call for a resync? Its owner says; nobody's needs none. */
static bool event_resync(const struct nl_kernel *k, const struct nlmsghdr *h)
{
	uint32_t port = nl_xport_port(k->x);
	bool resync = false;

	if (nl_route_event(h, port, &resync) || nl_ifaddr_event(k->addr, h, port, &resync) ||
	    nl_rule_event(h, port, &resync) || nl_link_event(k->link, h, &resync))
		return resync;
	return false;
}

/* Read every pending notification; true when one of them (or a loss) needs a resync. */
static bool drain(struct nl_kernel *k)
{
	bool resync = false;

	if (nl_xport_events_fd(k->x) < 0)
		return false;
	for (int i = 0; i < NLK_DRAIN_MAX; i++) {
		struct nlmsghdr *h;
		ssize_t len = nl_xport_events_read(k->x, &h);
		int left;

		if (len == -EAGAIN || len == -EWOULDBLOCK)
			break;
		if (len == -ENOBUFS) {
			log_debug("netlink: notifications lost, a resync will follow");
			resync = true;
			continue;
		}
		if (len < 0) {
			errno = (int)-len;
			log_warn("netlink: reading notifications");
			resync = true;
			break;
		}
		left = (int)len;
		for (; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left))
			if (event_resync(k, h))
				resync = true;
	}
	return resync;
}

/* Run a batch to its end, reading notifications between its steps. */
static int run(struct nl_kernel *k, struct nl_xport_batch *b)
{
	int err = 0;

	while (!err && b->next < b->n) {
		err = nl_xport_batch_step(k->x, b);
		if (!err && b->next < b->n && drain(k))
			k->ev_pending = true;
	}
	return err;
}

static int k_route_dump(void *ctx, struct kroute **out, size_t *n)
{
	struct nl_kernel *k = ctx;

	return nl_route_dump(k->x, out, n);
}

static int k_route_apply(void *ctx, const struct kroute_op *ops, size_t n, int *res)
{
	struct nl_xport_batch b;

	nl_route_batch(&b, ops, n, res);
	return run(ctx, &b);
}

static int k_link_index(void *ctx, const char *name)
{
	return nl_link_index(name);
}

static int k_events_fd(void *ctx)
{
	struct nl_kernel *k = ctx;

	return nl_xport_events_fd(k->x);
}

static bool k_events_drain(void *ctx)
{
	struct nl_kernel *k = ctx;
	bool resync = drain(k) || k->ev_pending;

	k->ev_pending = false;
	return resync;
}

static int k_addr_dump(void *ctx, struct kaddr **out, size_t *n)
{
	struct nl_kernel *k = ctx;

	return nl_ifaddr_dump(k->addr, k->x, out, n);
}

static int k_addr_apply(void *ctx, const struct kaddr_op *ops, size_t n, int *res)
{
	struct nl_kernel *k = ctx;
	struct nl_xport_batch b;
	int err;

	nl_ifaddr_batch(k->x, &b, ops, n, res);
	err = run(k, &b);
	nl_ifaddr_applied(k->addr, ops, n, res);
	return err;
}

static int k_rule_dump(void *ctx, struct krule **out, size_t *n)
{
	struct nl_kernel *k = ctx;

	return nl_rule_dump(k->x, out, n);
}

static int k_rule_apply(void *ctx, const struct krule_op *ops, size_t n, int *res)
{
	struct nl_xport_batch b;

	nl_rule_batch(&b, ops, n, res);
	return run(ctx, &b);
}

static int k_forwarding_get(void *ctx, bool *v4, bool *v6)
{
	struct nl_kernel *k = ctx;

	return nl_link_forwarding_get(k->link, v4, v6);
}

static int k_forwarding_set(void *ctx, bool v4, bool v6)
{
	struct nl_kernel *k = ctx;

	return nl_link_forwarding_set(k->link, v4, v6);
}

static int k_links_list(void *ctx, struct klink **out, size_t *nout)
{
	struct nl_kernel *k = ctx;
	struct klink *v = NULL;
	struct kaddr *addrs = NULL;
	size_t n = 0, naddrs = 0;
	int err;

	*out = NULL;
	*nout = 0;
	err = nl_link_dump(k->x, &v, &n);
	if (!err)
		err = nl_ifaddr_all(k->x, &addrs, &naddrs);
	if (!err)
		err = nl_link_attach(v, n, addrs, naddrs);
	if (!err) {
		*out = v;
		*nout = n;
		v = NULL;
	}
	kernel_links_free(v, n);
	free(addrs);
	return err;
}

static int u32_qcmp(const void *pa, const void *pb)
{
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;

	return (a > b) - (a < b);
}

/* The tables that hold a route, then those a rule points to: sorted, each once. */
static int k_tables_in_use(void *ctx, uint32_t **out, size_t *nout)
{
	struct nl_kernel *k = ctx;
	uint32_t *v = NULL, *rules = NULL, *nv;
	size_t n = 0, nrules = 0, m = 0;
	int err;

	*out = NULL;
	*nout = 0;
	err = nl_route_tables(k->x, &v, &n);
	if (!err)
		err = nl_rule_tables(k->x, &rules, &nrules);
	if (err)
		goto out;
	nv = realloc(v, (n + nrules ? n + nrules : 1) * sizeof(*v));
	if (!nv) {
		err = -ENOMEM;
		goto out;
	}
	v = nv;
	memcpy(v + n, rules, nrules * sizeof(*v));
	n += nrules;
	qsort(v, n, sizeof(*v), u32_qcmp);
	for (size_t i = 0; i < n; i++)
		if (!m || v[m - 1] != v[i])
			v[m++] = v[i];
	*out = v;
	*nout = m;
	v = NULL;
out:
	free(v);
	free(rules);
	return err;
}

/*
 * An IPv4 input lookup on a link that does not forward fails with
 * -EHOSTUNREACH before the route's type counts (ip_route_input_slow), the
 * same errno an unreachable route gives: no route is named then.
 */
static int k_route_get(void *ctx, const struct kroute_query *q, struct kroute_answer *a)
{
	struct nl_kernel *k = ctx;
	bool fwd = true;

	if (q->iif > 0 && q->dst.family == AF_INET && nl_link_forwarding_of(q->iif, AF_INET, &fwd))
		fwd = true; /* unreadable: let the kernel's answer stand */
	return nl_route_get(k->x, q, fwd, a);
}

static int k_ct_find(void *ctx, const struct kflow_query *q, struct kflow **out, size_t *n)
{
	return nl_ct_find(q, out, n);
}

static void kernel_free(struct nl_kernel *k)
{
	if (!k)
		return;
	nl_link_free(k->link);
	nl_ifaddr_free(k->addr);
	nl_xport_free(k->x);
	free(k);
}

/* with_events: also open the notification socket (only the reconciler needs one). */
static int kernel_open(struct kernel_ops *out, bool with_events)
{
	/* What the object files watch: links, addresses, routes, rules, forwarding. */
	static const unsigned groups[] = {
	    RTNLGRP_LINK,       RTNLGRP_IPV4_IFADDR,  RTNLGRP_IPV6_IFADDR,
	    RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE,   RTNLGRP_IPV4_RULE,
	    RTNLGRP_IPV6_RULE,  RTNLGRP_IPV4_NETCONF, RTNLGRP_IPV6_NETCONF,
	};
	struct nl_kernel *k;
	int err;

	memset(out, 0, sizeof(*out));
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	err = nl_xport_open(&k->x, with_events ? groups : NULL, sizeof(groups) / sizeof(groups[0]));
	if (!err)
		err = nl_ifaddr_new(&k->addr);
	if (!err)
		err = nl_link_new(&k->link);
	if (err) {
		kernel_free(k);
		return err;
	}
	*out = (struct kernel_ops){
	    .ctx = k,
	    .route_dump = k_route_dump,
	    .route_apply = k_route_apply,
	    .link_index = k_link_index,
	    .events_fd = k_events_fd,
	    .events_drain = k_events_drain,
	    .addr_dump = k_addr_dump,
	    .addr_apply = k_addr_apply,
	    .rule_dump = k_rule_dump,
	    .rule_apply = k_rule_apply,
	    .forwarding_get = k_forwarding_get,
	    .forwarding_set = k_forwarding_set,
	    .links_list = k_links_list,
	    .tables_in_use = k_tables_in_use,
	    .route_get = k_route_get,
	    .ct_find = k_ct_find,
	};
	return 0;
}

int nl_kernel_open(struct kernel_ops *out)
{
	return kernel_open(out, true);
}

int nl_kernel_open_query(struct kernel_ops *out)
{
	return kernel_open(out, false);
}

void nl_kernel_close(struct kernel_ops *k)
{
	if (!k)
		return;
	kernel_free(k->ctx);
	memset(k, 0, sizeof(*k));
}
