/*
 * Routes (rtm_protocol VR_RTPROT, every table, both families) over the
 * netlink transport: rtnl_route objects build the requests, the dumps are
 * parsed here, and so are route notifications and the words for a failed
 * route op.
 */
#include "nl_int.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netlink/addr.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>

#include "log.h"

#define NLR_ROUTES_MAX (4u * 1024 * 1024)
#define NLR_TABLES_MAX (1024u * 1024)

static const int inet[] = {AF_INET, AF_INET6};

/*
 * The next hop of a route message of family: its gateway (family 0 for
 * none) and device; a multipath route of more than one hop gets oif -1.
 * False when the message is malformed.
 */
static bool parse_nexthop(struct nlattr **tb, int family, struct ipaddr *via, int *oif)
{
	size_t alen = cidr_addr_len(family);

	if (tb[RTA_MULTIPATH]) {
		struct rtnexthop *nh = nla_data(tb[RTA_MULTIPATH]);
		int left = nla_len(tb[RTA_MULTIPATH]);
		struct nlattr *ntb[RTA_MAX + 1];

		if (left < (int)sizeof(*nh) || nh->rtnh_len < sizeof(*nh) || nh->rtnh_len > left)
			return false;
		/* We never create multipath routes: report one that cannot match. */
		if (RTNH_ALIGN(nh->rtnh_len) < left) {
			*oif = -1;
			return true;
		}
		*oif = nh->rtnh_ifindex;
		if (nla_parse(ntb, RTA_MAX, (struct nlattr *)RTNH_DATA(nh),
		              nh->rtnh_len - (int)sizeof(*nh), NULL) < 0)
			return false;
		tb[RTA_GATEWAY] = ntb[RTA_GATEWAY];
		tb[RTA_VIA] = ntb[RTA_VIA];
	} else if (tb[RTA_OIF]) {
		*oif = (int)nla_get_u32(tb[RTA_OIF]);
	}
	if (tb[RTA_GATEWAY] && (size_t)nla_len(tb[RTA_GATEWAY]) >= alen) {
		via->family = family;
		memcpy(via->a, nla_data(tb[RTA_GATEWAY]), alen);
	} else if (tb[RTA_VIA] && nla_len(tb[RTA_VIA]) >= (int)sizeof(struct rtvia)) {
		/* An IPv4 route through an IPv6 gateway. */
		struct rtvia *rv = nla_data(tb[RTA_VIA]);
		size_t vlen = cidr_addr_len(rv->rtvia_family);

		if (vlen && (size_t)nla_len(tb[RTA_VIA]) >= sizeof(*rv) + vlen) {
			via->family = rv->rtvia_family;
			memcpy(via->a, rv->rtvia_addr, vlen);
		}
	}
	return true;
}

/*
 * Fill r from an RTM_NEWROUTE if it is one of ours. Returns false for
 * foreign, cloned, unparsable or non-IP routes.
 */
static bool parse_route(struct nlmsghdr *h, struct kroute *r)
{
	struct nlattr *tb[RTA_MAX + 1];
	struct rtmsg *rtm;
	size_t alen;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*rtm)))
		return false;
	rtm = nlmsg_data(h);
	if (rtm->rtm_protocol != VR_RTPROT || (rtm->rtm_flags & RTM_F_CLONED))
		return false;
	alen = cidr_addr_len(rtm->rtm_family);
	if (!alen || rtm->rtm_dst_len > alen * 8)
		return false;
	if (nlmsg_parse(h, sizeof(*rtm), tb, RTA_MAX, NULL) < 0)
		return false;

	memset(r, 0, sizeof(*r));
	r->type = rtm->rtm_type;
	r->table = tb[RTA_TABLE] ? nla_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
	r->metric = tb[RTA_PRIORITY] ? nla_get_u32(tb[RTA_PRIORITY]) : 0;
	r->dst.addr.family = rtm->rtm_family;
	r->dst.len = rtm->rtm_dst_len;
	if (tb[RTA_DST] && (size_t)nla_len(tb[RTA_DST]) >= alen)
		memcpy(r->dst.addr.a, nla_data(tb[RTA_DST]), alen);
	if (r->type != RTN_UNICAST)
		return true;
	return parse_nexthop(tb, rtm->rtm_family, &r->via, &r->oif);
}

struct route_acc {
	struct kroute *v;
	size_t n, cap;
};

static int route_dump_cb(struct nlmsghdr *h, void *arg)
{
	struct route_acc *acc = arg;
	struct kroute r;
	int err;

	if (h->nlmsg_type != RTM_NEWROUTE || !parse_route(h, &r))
		return 0;
	/* Written whole below: a dump's unused tail takes no memory. */
	err = nl_xport_grow_raw((void **)&acc->v, &acc->cap, acc->n, sizeof(*acc->v),
	                        NLR_ROUTES_MAX, "owned routes");
	if (err)
		return err;
	acc->v[acc->n++] = r;
	return 0;
}

/*
 * Read the routes of both families, every table, whose protocol is protocol
 * (0: any), handing each message to cb with acc; *count is acc's length.
 */
static int dump_routes(struct nl_xport *x, uint8_t protocol, int (*cb)(struct nlmsghdr *, void *),
                       void *acc, size_t *count, bool torn_ok)
{
	/* With a protocol set, a strict-checking kernel sends only its routes. */
	const struct rtmsg rtm = {.rtm_table = RT_TABLE_UNSPEC, .rtm_protocol = protocol};
	const struct nl_xport_dump d = {
	    .type = RTM_GETROUTE,
	    .hdr = &rtm,
	    .hlen = sizeof(rtm),
	    .families = inet,
	    .nfamilies = 2,
	    .what = "route",
	    .cb = cb,
	    .arg = acc,
	    .count = count,
	    .torn_ok = torn_ok,
	};

	return nl_xport_dump(x, &d);
}

int nl_route_dump(struct nl_xport *x, struct kroute **out, size_t *nout)
{
	struct route_acc acc = {0};
	int err = dump_routes(x, VR_RTPROT, route_dump_cb, &acc, &acc.n, false);

	if (err) {
		free(acc.v);
		acc = (struct route_acc){0};
	}
	*out = acc.v;
	*nout = acc.n;
	return err;
}

static int build_route(const struct kroute_op *op, struct rtnl_route **out)
{
	const struct kroute *r = &op->r;
	struct rtnl_route *route = NULL;
	struct rtnl_nexthop *nh = NULL;
	struct nl_addr *dst = NULL, *gw = NULL;
	size_t alen = cidr_addr_len(r->dst.addr.family);
	bool unicast = r->type == RTN_UNICAST;
	bool has_via = unicast && r->via.family != 0;
	bool has_oif = unicast && r->oif > 0;
	int err;

	if (!alen || r->dst.len > alen * 8)
		return -EINVAL;
	if (has_via && !cidr_addr_len(r->via.family))
		return -EINVAL;
	route = rtnl_route_alloc();
	dst = nl_addr_build(r->dst.addr.family, r->dst.addr.a, alen);
	if (!route || !dst) {
		err = -ENOMEM;
		goto out;
	}
	nl_addr_set_prefixlen(dst, r->dst.len);
	err = rtnl_route_set_family(route, (uint8_t)r->dst.addr.family);
	if (!err)
		err = rtnl_route_set_dst(route, dst);
	if (!err)
		err = rtnl_route_set_type(route, r->type);
	if (err) {
		err = nl_xport_errno(err);
		goto out;
	}
	rtnl_route_set_table(route, r->table);
	/* libnl defaults to RTPROT_STATIC: without ours the route is not ours. */
	rtnl_route_set_protocol(route, VR_RTPROT);
	rtnl_route_set_priority(route, r->metric);
	/*
	 * A delete must say "any scope" or the kernel finds nothing; an add is
	 * link scope only for a device route without a gateway.
	 */
	if (op->kind == KOP_DELETE)
		rtnl_route_set_scope(route, RT_SCOPE_NOWHERE);
	else if (unicast && !has_via)
		rtnl_route_set_scope(route, RT_SCOPE_LINK);
	else
		rtnl_route_set_scope(route, RT_SCOPE_UNIVERSE);

	if (has_via || has_oif) {
		nh = rtnl_route_nh_alloc();
		if (!nh) {
			err = -ENOMEM;
			goto out;
		}
		if (has_oif)
			rtnl_route_nh_set_ifindex(nh, r->oif);
		if (has_via) {
			gw = nl_addr_build(r->via.family, r->via.a, cidr_addr_len(r->via.family));
			if (!gw) {
				err = -ENOMEM;
				goto out;
			}
			rtnl_route_nh_set_gateway(nh, gw);
		}
		rtnl_route_add_nexthop(route, nh);
		nh = NULL;
	}
	*out = route;
	route = NULL;
out:
	if (nh)
		rtnl_route_nh_free(nh);
	nl_addr_put(gw);
	nl_addr_put(dst);
	rtnl_route_put(route);
	return err;
}

/* The request for route op i (the batch's build). */
static int route_msg(const void *arg, size_t i, uint32_t seq, struct nl_msg **out)
{
	const struct kroute_op *op = (const struct kroute_op *)arg + i;
	struct rtnl_route *route = NULL;
	struct nl_msg *msg = NULL;
	int type = RTM_NEWROUTE, flags = NLM_F_REQUEST | NLM_F_ACK;
	int err;

	if (op->kind == KOP_DELETE)
		type = RTM_DELROUTE;
	else if (op->kind == KOP_ADD)
		flags |= NLM_F_CREATE | NLM_F_EXCL;
	else
		flags |= NLM_F_CREATE | NLM_F_REPLACE;

	err = build_route(op, &route);
	if (err)
		goto out;
	msg = nlmsg_alloc_size(NL_MSG_MAX);
	if (!msg || !nlmsg_put(msg, 0, seq, type, 0, flags)) {
		err = -ENOMEM;
		goto out;
	}
	err = rtnl_route_build_msg(msg, route);
	if (err) {
		err = nl_xport_errno(err);
		goto out;
	}
	*out = msg;
	msg = NULL;
out:
	nlmsg_free(msg);
	rtnl_route_put(route);
	return err;
}

static void route_failed(const void *arg, size_t i, int err, const char *text)
{
	const struct kroute_op *op = (const struct kroute_op *)arg + i;
	char dst[CIDR_STR_MAX];

	cidr_format_prefix(&op->r.dst, dst, sizeof(dst));
	log_debug("netlink: route %s table %u: %s%s%s", dst, op->r.table, strerror(-err),
	          *text ? ": " : "", text);
}

void nl_route_batch(struct nl_xport_batch *b, const struct kroute_op *ops, size_t n, int *res)
{
	*b = (struct nl_xport_batch){
	    .n = n, .build = route_msg, .failed = route_failed, .arg = ops, .res = res};
}

struct table_acc {
	uint32_t *v;
	size_t n, cap;
};

static int table_cb(struct nlmsghdr *h, void *arg)
{
	struct table_acc *acc = arg;
	struct nlattr *tb[RTA_MAX + 1];
	const struct rtmsg *rtm;
	uint32_t t;
	int err;

	if (h->nlmsg_type != RTM_NEWROUTE || h->nlmsg_len < NLMSG_LENGTH(sizeof(*rtm)))
		return 0;
	rtm = nl_data(h);
	if (nlmsg_parse(h, sizeof(*rtm), tb, RTA_MAX, NULL) < 0)
		return 0;
	t = tb[RTA_TABLE] ? nla_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
	/* Dumps come table by table: skip the repeats cheaply, the caller sorts out the rest. */
	if (acc->n && acc->v[acc->n - 1] == t)
		return 0;
	err = nl_xport_grow((void **)&acc->v, &acc->cap, acc->n, sizeof(*acc->v), NLR_TABLES_MAX,
	                    "table numbers");
	if (err)
		return err;
	acc->v[acc->n++] = t;
	return 0;
}

int nl_route_tables(struct nl_xport *x, uint32_t **out, size_t *nout)
{
	struct table_acc acc = {0};
	/*
	 * A torn route dump may miss a route, but a table number is only at
	 * stake if its last route moved meanwhile; callers re-check on EEXIST.
	 */
	int err = dump_routes(x, 0, table_cb, &acc, &acc.n, true);

	if (err) {
		free(acc.v);
		acc = (struct table_acc){0};
	}
	*out = acc.v;
	*nout = acc.n;
	return err;
}

/* ---- the kernel's own lookup (route_get) ---- */

/* Fill a from an RTM_NEWROUTE answering an RTM_GETROUTE (a fibmatch one or not). */
static int answer_cb(struct nlmsghdr *h, void *arg)
{
	struct kroute_answer *a = arg;
	struct nlattr *tb[RTA_MAX + 1];
	const struct rtmsg *rtm;
	size_t alen;

	if (h->nlmsg_type != RTM_NEWROUTE || h->nlmsg_len < NLMSG_LENGTH(sizeof(*rtm)))
		return 0;
	rtm = nl_data(h);
	alen = cidr_addr_len(rtm->rtm_family);
	if (!alen || rtm->rtm_dst_len > alen * 8 ||
	    nl_xport_parse(h, sizeof(*rtm), tb, RTA_MAX) < 0)
		return -EBADMSG;
	memset(a, 0, sizeof(*a));
	a->type = rtm->rtm_type;
	a->protocol = rtm->rtm_protocol;
	a->table = tb[RTA_TABLE] ? nla_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
	a->metric = tb[RTA_PRIORITY] ? nla_get_u32(tb[RTA_PRIORITY]) : 0;
	a->dst.addr.family = rtm->rtm_family;
	a->dst.len = rtm->rtm_dst_len;
	if (tb[RTA_DST] && (size_t)nla_len(tb[RTA_DST]) >= alen)
		memcpy(a->dst.addr.a, nla_data(tb[RTA_DST]), alen);
	if (tb[RTA_PREFSRC] && (size_t)nla_len(tb[RTA_PREFSRC]) >= alen) {
		a->prefsrc.family = rtm->rtm_family;
		memcpy(a->prefsrc.a, nla_data(tb[RTA_PREFSRC]), alen);
	}
	return parse_nexthop(tb, rtm->rtm_family, &a->via, &a->oif) ? 0 : -EBADMSG;
}

/* One RTM_GETROUTE for q, fibmatch or not: 0 with *a filled, or the kernel's -errno. */
static int get_once(struct nl_xport *x, const struct kroute_query *q, bool fibmatch,
                    struct kroute_answer *a)
{
	struct nl_msg *msg = nlmsg_alloc_size(NL_MSG_MAX);
	size_t alen = cidr_addr_len(q->dst.family);
	struct rtmsg rtm = {
	    .rtm_family = (uint8_t)q->dst.family,
	    .rtm_dst_len = (uint8_t)(alen * 8),
	    .rtm_flags = fibmatch ? RTM_F_FIB_MATCH : 0,
	};
	int err = 0;

	memset(a, 0, sizeof(*a));
	if (!msg)
		return -ENOMEM;
	if (q->src.family)
		rtm.rtm_src_len = rtm.rtm_dst_len;
	/*
	 * Without RTM_F_LOOKUP_TABLE IPv4 says "main" for every answer; IPv6
	 * gives the real table and refuses the flag (strict checking).
	 */
	if (q->dst.family == AF_INET)
		rtm.rtm_flags |= RTM_F_LOOKUP_TABLE;
	if (!nlmsg_put(msg, 0, 0, RTM_GETROUTE, 0, 0) ||
	    nlmsg_append(msg, &rtm, sizeof(rtm), NLMSG_ALIGNTO) < 0 ||
	    nla_put(msg, RTA_DST, (int)alen, q->dst.a) < 0 ||
	    (q->src.family && nla_put(msg, RTA_SRC, (int)alen, q->src.a) < 0) ||
	    (q->iif && nla_put_u32(msg, RTA_IIF, (uint32_t)q->iif) < 0))
		err = -ENOMEM;
	if (!err)
		err = nl_xport_request(x, nlmsg_hdr(msg), "route lookup", answer_cb, a);
	nlmsg_free(msg);
	return err;
}

/* What a reject route's lookup fails with (fib_props in the kernel, both families). */
static uint8_t reject_type(int err)
{
	switch (err) {
	case -EINVAL: return RTN_BLACKHOLE;
	case -EHOSTUNREACH: return RTN_UNREACHABLE;
	case -EACCES: return RTN_PROHIBIT;
	default: return RTN_UNSPEC;
	}
}

/* The most specific route of type for dst, any table (the best so far in a). */
struct reject_acc {
	const struct ipaddr *dst;
	uint8_t type;
	bool found;
	struct kroute_answer a;
};

static int reject_cb(struct nlmsghdr *h, void *arg)
{
	struct reject_acc *acc = arg;
	const struct rtmsg *rtm;
	struct kroute_answer a;

	if (h->nlmsg_type != RTM_NEWROUTE || h->nlmsg_len < NLMSG_LENGTH(sizeof(*rtm)))
		return 0;
	rtm = nl_data(h);
	if (rtm->rtm_family != acc->dst->family || rtm->rtm_type != acc->type ||
	    (rtm->rtm_flags & RTM_F_CLONED) || answer_cb(h, &a))
		return 0;
	if (!cidr_contains(&a.dst, acc->dst))
		return 0;
	if (acc->found && (a.dst.len < acc->a.dst.len ||
	                   (a.dst.len == acc->a.dst.len && a.metric >= acc->a.metric)))
		return 0;
	acc->a = a;
	acc->found = true;
	return 0;
}

int nl_route_get(struct nl_xport *x, const struct kroute_query *q, bool name_reject,
                 struct kroute_answer *a)
{
	struct kroute_answer fib;
	size_t count = 0;
	int err;

	memset(a, 0, sizeof(*a));
	if (!cidr_addr_len(q->dst.family) || (q->src.family && q->src.family != q->dst.family) ||
	    (q->iif && !q->src.family) || q->iif < 0)
		return -EINVAL;
	/* The packet's own answer: its type, next hop and source... */
	err = get_once(x, q, false, a);
	if (!err) {
		/* ...and the route it matched: its prefix, table, protocol and metric. */
		err = get_once(x, q, true, &fib);
		if (err) {
			memset(a, 0, sizeof(*a));
			return err;
		}
		a->table = fib.table;
		a->dst = fib.dst;
		a->protocol = fib.protocol;
		a->metric = fib.metric;
		if (!a->prefsrc.family)
			a->prefsrc = fib.prefsrc;
		return 0;
	}
	/*
	 * A reject route fails the lookup, fibmatch too, with an errno of its
	 * type: name the most specific route of that type for dst.
	 */
	memset(a, 0, sizeof(*a));
	if (!name_reject || reject_type(err) == RTN_UNSPEC)
		return err;
	{
		struct reject_acc acc = {.dst = &q->dst, .type = reject_type(err)};
		int derr = dump_routes(x, 0, reject_cb, &acc, &count, true);

		if (!derr && acc.found)
			*a = acc.a;
	}
	return err;
}

/* Does this route notification call for a resync? */
static bool route_resync(const struct nlmsghdr *h, uint32_t port)
{
	const struct rtmsg *rtm;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*rtm)))
		return true;
	rtm = nl_data(h);
	if (rtm->rtm_flags & RTM_F_CLONED)
		return false;
	/* A foreign route that replaced something may have replaced one of ours. */
	if (rtm->rtm_protocol != VR_RTPROT)
		return h->nlmsg_type == RTM_NEWROUTE && (h->nlmsg_flags & NLM_F_REPLACE);
	/* Our own requests are known to the caller already. */
	return h->nlmsg_pid != port;
}

bool nl_route_event(const struct nlmsghdr *h, uint32_t port, bool *resync)
{
	if (h->nlmsg_type != RTM_NEWROUTE && h->nlmsg_type != RTM_DELROUTE)
		return false;
	*resync = route_resync(h, port);
	return true;
}

void kernel_route_reason(const struct kroute *r, int err, char *buf, size_t len)
{
	char via[CIDR_STR_MAX] = "", dst[CIDR_STR_MAX], dev[IF_NAMESIZE] = "";
	bool unicast = r->type == RTN_UNICAST;
	const char *why;

	if (err < 0)
		err = -err;
	why = strerror(err);
	cidr_format_prefix(&r->dst, dst, sizeof(dst));
	if (unicast && r->via.family)
		cidr_format_addr(&r->via, via, sizeof(via));
	if (unicast && r->oif > 0 && !if_indextoname((unsigned)r->oif, dev))
		snprintf(dev, sizeof(dev), "#%d", r->oif);

	switch (err) {
	case ENETUNREACH:
	case EHOSTUNREACH:
		/* IPv4 says ENETUNREACH, IPv6 EHOSTUNREACH, for a gateway off every subnet. */
		if (via[0] && dev[0])
			snprintf(buf, len, "gateway %s is not on a network connected to %s", via,
			         dev);
		else if (via[0])
			snprintf(buf, len, "gateway %s is not on any connected network", via);
		else
			snprintf(buf, len, "no connected network for the route (%s)", why);
		break;
	case ENETDOWN:
		snprintf(buf, len, "device %s is down", dev[0] ? dev : "of the route");
		break;
	case ENODEV:
		/* The index no longer names a link, so there is no name left to quote. */
		if (dev[0] == '#' || !dev[0])
			snprintf(buf, len, "device %s%s does not exist (it was removed)",
			         dev[0] ? "with index " : "of the route", dev[0] ? dev + 1 : "");
		else
			snprintf(buf, len, "device %s cannot carry the route (%s)", dev, why);
		break;
	case EEXIST:
		snprintf(buf, len,
		         "table %u already has a route to %s with metric %u that vrouter does not "
		         "own (%s)",
		         r->table, dst, r->metric, why);
		break;
	case EINVAL:
		if (via[0])
			snprintf(buf, len,
			         "gateway %s%s%s is not a valid next hop (a local address?) (%s)",
			         via, dev[0] ? " on " : "", dev, why);
		else
			snprintf(buf, len, "the kernel refused the route as invalid (%s)", why);
		break;
	case EPERM:
	case EACCES:
		snprintf(buf, len,
		         "not permitted to change routes: vrouterd needs CAP_NET_ADMIN (%s)", why);
		break;
	case ESRCH:
	case ENOENT: snprintf(buf, len, "the route is not in the kernel (%s)", why); break;
	default:
		if (!nl_xport_reason(err, buf, len))
			snprintf(buf, len, "the kernel refused the route (%s)", why);
		break;
	}
}
