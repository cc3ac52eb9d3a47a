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

	if (tb[RTA_MULTIPATH]) {
		struct rtnexthop *nh = nla_data(tb[RTA_MULTIPATH]);
		int left = nla_len(tb[RTA_MULTIPATH]);
		struct nlattr *ntb[RTA_MAX + 1];

		if (left < (int)sizeof(*nh) || nh->rtnh_len < sizeof(*nh) || nh->rtnh_len > left)
			return false;
		/* We never create multipath routes: report one that cannot match. */
		if (RTNH_ALIGN(nh->rtnh_len) < left) {
			r->oif = -1;
			return true;
		}
		r->oif = nh->rtnh_ifindex;
		if (nla_parse(ntb, RTA_MAX, (struct nlattr *)RTNH_DATA(nh),
		              nh->rtnh_len - (int)sizeof(*nh), NULL) < 0)
			return false;
		tb[RTA_GATEWAY] = ntb[RTA_GATEWAY];
		tb[RTA_VIA] = ntb[RTA_VIA];
	} else if (tb[RTA_OIF]) {
		r->oif = (int)nla_get_u32(tb[RTA_OIF]);
	}
	if (tb[RTA_GATEWAY] && (size_t)nla_len(tb[RTA_GATEWAY]) >= alen) {
		r->via.family = rtm->rtm_family;
		memcpy(r->via.a, nla_data(tb[RTA_GATEWAY]), alen);
	} else if (tb[RTA_VIA] && nla_len(tb[RTA_VIA]) >= (int)sizeof(struct rtvia)) {
		/* An IPv4 route through an IPv6 gateway. */
		struct rtvia *via = nla_data(tb[RTA_VIA]);
		size_t vlen = cidr_addr_len(via->rtvia_family);

		if (vlen && (size_t)nla_len(tb[RTA_VIA]) >= sizeof(*via) + vlen) {
			r->via.family = via->rtvia_family;
			memcpy(r->via.a, via->rtvia_addr, vlen);
		}
	}
	return true;
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
	err = nl_xport_grow((void **)&acc->v, &acc->cap, acc->n, sizeof(*acc->v), NLR_ROUTES_MAX,
	                    "owned routes");
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
	rtm = NLMSG_DATA(h);
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

/* Does this route notification call for a resync? */
static bool route_resync(const struct nlmsghdr *h, uint32_t port)
{
	const struct rtmsg *rtm;

	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*rtm)))
		return true;
	rtm = NLMSG_DATA(h);
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
