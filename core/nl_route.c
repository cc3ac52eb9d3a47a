/*
 * The kernel adapter for routes, on libnl-route-3: rtnl_route objects build
 * the requests, and the adapter drives its own two sockets. Requests are
 * batched, many per sendmsg, each with NLM_F_ACK and its own sequence number,
 * and the acks are read back in bulk (recvmmsg) and matched to the ops by
 * sequence number: rtnetlink handles every message of a batch on its own, so
 * one failure never hides another. The batch engine, the dump loop and the
 * event socket are shared with nl_link.c (addresses, rules) through
 * nl_internal.h.
 */
#include "kernel.h"

#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netlink/addr.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>

#include "log.h"
#include "nl_internal.h"

/* One datagram from the kernel; its dump skbs are at most 32 KiB. */
#define NLR_RECV_MAX (64 * 1024)
/* Requests per sendmsg, and their bytes: each op costs one ack skb in the receive buffer. */
#define NLR_BATCH_OPS 512
#define NLR_BATCH_BYTES (128 * 1024)
/* Upper bound for the buffer space the kernel charges per ack; sized conservatively. */
#define NLR_ACK_COST 2048
/* Room for one ack in a recvmmsg slot: nlmsghdr + nlmsgerr + extack text. */
#define NLR_ACK_SLOT 1024
/* One route request built by libnl: header, rtmsg and a handful of attributes. */
#define NLR_ROUTE_MSG_MAX 512
#define NLR_REQ_RCVBUF (4 * 1024 * 1024)
#define NLR_REQ_SNDBUF (1024 * 1024)
#define NLR_EV_RCVBUF (8 * 1024 * 1024)
/* A kernel that never answers is a broken socket, not a slow one. */
#define NLR_TIMEOUT_S 30
#define NLR_DUMP_TRIES 5
#define NLR_ROUTES_MAX (4u * 1024 * 1024)
/* Datagrams read per events_drain call, so a flood cannot hold the thread. */
#define NLR_DRAIN_MAX 4096

int nlr_nle_errno(int nle)
{
	switch (nle < 0 ? -nle : nle) {
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_PERM:
		return -EPERM;
	case NLE_AF_NOSUPPORT:
		return -EAFNOSUPPORT;
	case NLE_RANGE:
	case NLE_INVAL:
		return -EINVAL;
	case NLE_MSGSIZE:
		return -EMSGSIZE;
	default:
		return -EIO;
	}
}

size_t nlr_addr_len(int family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

/* Ask for a buffer size, forcing past the sysctl limit when we may; returns what we got. */
static int set_buf(int fd, int force_opt, int opt, int bytes)
{
	int got = 0;
	socklen_t len = sizeof(got);

	if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof(bytes)) < 0 &&
	    setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof(bytes)) < 0)
		log_warn("netlink: cannot set socket buffer to %d bytes", bytes);
	if (getsockopt(fd, SOL_SOCKET, opt, &got, &len) < 0)
		return 0;
	return got;
}

static int open_req(struct nlr *k)
{
	struct sockaddr_nl sa;
	socklen_t salen = sizeof(sa);
	struct timeval tv = {.tv_sec = NLR_TIMEOUT_S};
	int one = 1, fd, err, rcv, snd;

	k->req = nl_socket_alloc();
	if (!k->req)
		return -ENOMEM;
	err = nl_connect(k->req, NETLINK_ROUTE);
	if (err < 0) {
		log_warnx("netlink: cannot open a route socket: %s", nl_geterror(err));
		return nlr_nle_errno(err);
	}
	fd = nl_socket_get_fd(k->req);
	if (getsockname(fd, (struct sockaddr *)&sa, &salen) < 0)
		return -errno;
	k->req_port = sa.nl_pid;
	/* Acks without the request copied back; error text from the kernel. */
	(void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	(void)setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	/* Lets the kernel filter a dump by protocol; without it we filter alone. */
	if (setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof(one)) < 0)
		log_debug("netlink: no strict checking, dumps are filtered here");
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;

	/*
	 * The kernel handles a whole batch inside our sendmsg and queues every
	 * ack before we read one, so the batch must fit the receive buffer.
	 */
	rcv = set_buf(fd, SO_RCVBUFFORCE, SO_RCVBUF, NLR_REQ_RCVBUF);
	snd = set_buf(fd, SO_SNDBUFFORCE, SO_SNDBUF, NLR_REQ_SNDBUF);
	k->batch_ops = (size_t)rcv / NLR_ACK_COST;
	if (k->batch_ops > NLR_BATCH_OPS)
		k->batch_ops = NLR_BATCH_OPS;
	if (k->batch_ops < 1)
		k->batch_ops = 1;
	k->batch_bytes = NLR_BATCH_BYTES;
	if (snd > 0 && (size_t)snd / 2 < k->batch_bytes)
		k->batch_bytes = (size_t)snd / 2;
	if (k->batch_bytes < NLR_ROUTE_MSG_MAX)
		k->batch_bytes = NLR_ROUTE_MSG_MAX;
	log_debug("netlink: up to %zu route requests (%zu bytes) per batch", k->batch_ops,
	          k->batch_bytes);
	return 0;
}

static int open_ev(struct nlr *k)
{
	int err;

	k->ev = nl_socket_alloc();
	if (!k->ev)
		return -ENOMEM;
	nl_socket_disable_seq_check(k->ev);
	err = nl_connect(k->ev, NETLINK_ROUTE);
	if (err < 0) {
		log_warnx("netlink: cannot open the event socket: %s", nl_geterror(err));
		return nlr_nle_errno(err);
	}
	err = nl_socket_add_memberships(k->ev, RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR,
	                                RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE,
	                                RTNLGRP_IPV4_RULE, RTNLGRP_IPV6_RULE, RTNLGRP_IPV4_NETCONF,
	                                RTNLGRP_IPV6_NETCONF, 0);
	if (err < 0) {
		log_warnx("netlink: cannot join the route/rule/link/address/netconf groups: %s",
		          nl_geterror(err));
		return nlr_nle_errno(err);
	}
	err = nl_socket_set_nonblocking(k->ev);
	if (err < 0)
		return nlr_nle_errno(err);
	/* A big apply echoes a notification per route; overflow only costs a resync. */
	set_buf(nl_socket_get_fd(k->ev), SO_RCVBUFFORCE, SO_RCVBUF, NLR_EV_RCVBUF);
	return 0;
}

static void nlr_free(struct nlr *k)
{
	if (!k)
		return;
	nlr_link_free(k);
	nl_socket_free(k->req);
	nl_socket_free(k->ev);
	free(k->rbuf);
	free(k->sbuf);
	free(k->pending);
	free(k->ackbuf);
	free(k->iov);
	free(k->mm);
	free(k);
}

int nlr_send(struct nlr *k, const void *buf, size_t len)
{
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	ssize_t n;

	do
		n = sendto(nl_socket_get_fd(k->req), buf, len, 0, (struct sockaddr *)&kernel,
		           sizeof(kernel));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		log_warn("netlink: sending %zu bytes", len);
		return -errno;
	}
	return 0;
}

ssize_t nlr_recv(struct nlr *k, struct nl_sock *sk, int flags)
{
	struct iovec iov = {.iov_base = k->rbuf, .iov_len = NLR_RECV_MAX};
	struct sockaddr_nl from;
	struct msghdr mh = {
	    .msg_name = &from,
	    .msg_namelen = sizeof(from),
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	};
	ssize_t n;

	do
		n = recvmsg(nl_socket_get_fd(sk), &mh, flags);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (mh.msg_flags & MSG_TRUNC)
		return -EMSGSIZE;
	return n;
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
	alen = nlr_addr_len(rtm->rtm_family);
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
		size_t vlen = nlr_addr_len(via->rtvia_family);

		if (vlen && (size_t)nla_len(tb[RTA_VIA]) >= sizeof(*via) + vlen) {
			r->via.family = via->rtvia_family;
			memcpy(r->via.a, via->rtvia_addr, vlen);
		}
	}
	return true;
}

static int push_route(struct kroute **v, size_t *n, size_t *cap, const struct kroute *r)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 256;
		struct kroute *nv;

		if (*n >= NLR_ROUTES_MAX) {
			log_warnx("netlink: more than %u owned routes, dump refused",
			          NLR_ROUTES_MAX);
			return -E2BIG;
		}
		nv = realloc(*v, ncap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = ncap;
	}
	(*v)[(*n)++] = *r;
	return 0;
}

int nlr_dump(struct nlr *k, struct nlmsghdr *req, const char *what,
             int (*cb)(struct nlmsghdr *h, void *arg), void *arg, bool *intr)
{
	uint32_t seq = ++k->seq;
	int err;

	req->nlmsg_seq = seq;
	err = nlr_send(k, req, req->nlmsg_len);
	if (err)
		return err;

	for (;;) {
		ssize_t len = nlr_recv(k, k->req, 0);
		struct nlmsghdr *h;
		int left;

		if (len < 0) {
			errno = (int)-len;
			log_warn("netlink: reading the %s dump", what);
			return len == -EAGAIN ? -ETIMEDOUT : (int)len;
		}
		left = (int)len;
		for (h = (struct nlmsghdr *)k->rbuf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
			/* Leftovers of an earlier exchange are not ours to read. */
			if (h->nlmsg_seq != seq)
				continue;
			if (h->nlmsg_flags & NLM_F_DUMP_INTR)
				*intr = true;
			if (h->nlmsg_type == NLMSG_DONE) {
				int derr = 0;

				if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(int)))
					memcpy(&derr, NLMSG_DATA(h), sizeof(derr));
				if (derr < 0)
					log_warnx("netlink: %s dump failed: %s", what,
					          strerror(-derr));
				return derr < 0 ? derr : 0;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
					return -EBADMSG;
				log_warnx("netlink: %s dump refused: %s", what,
				          strerror(-e->error));
				return e->error ? e->error : -EBADMSG;
			}
			err = cb(h, arg);
			if (err)
				return err;
		}
	}
}

struct route_acc {
	struct kroute *v;
	size_t n, cap;
};

static int route_dump_cb(struct nlmsghdr *h, void *arg)
{
	struct route_acc *acc = arg;
	struct kroute r;

	if (h->nlmsg_type != RTM_NEWROUTE || !parse_route(h, &r))
		return 0;
	return push_route(&acc->v, &acc->n, &acc->cap, &r);
}

/* Dump one family's routes of our protocol, every table. Sets *intr when the dump was torn. */
static int dump_family(struct nlr *k, int family, struct route_acc *acc, bool *intr)
{
	struct {
		struct nlmsghdr h;
		struct rtmsg r;
	} req;

	memset(&req, 0, sizeof(req));
	req.h.nlmsg_len = sizeof(req);
	req.h.nlmsg_type = RTM_GETROUTE;
	req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.r.rtm_family = (uint8_t)family;
	req.r.rtm_table = RT_TABLE_UNSPEC;
	req.r.rtm_protocol = VR_RTPROT;
	return nlr_dump(k, &req.h, "route", route_dump_cb, acc, intr);
}

static int nlr_route_dump(void *ctx, struct kroute **out, size_t *nout)
{
	struct nlr *k = ctx;
	struct route_acc acc = {0};
	int err = 0;

	*out = NULL;
	*nout = 0;
	for (int tries = 0; tries < NLR_DUMP_TRIES; tries++) {
		bool intr = false;

		acc.n = 0;
		err = dump_family(k, AF_INET, &acc, &intr);
		if (!err)
			err = dump_family(k, AF_INET6, &acc, &intr);
		if (err)
			goto out;
		/* The tables changed under the dump: what we read may be torn, read again. */
		if (!intr) {
			*out = acc.v;
			*nout = acc.n;
			acc.v = NULL;
			goto out;
		}
		log_debug("netlink: route dump interrupted, retrying");
	}
	log_warnx("netlink: the route dump kept changing under us (%d tries)", NLR_DUMP_TRIES);
	err = -EAGAIN;
out:
	free(acc.v);
	return err;
}

static int build_route(const struct kroute_op *op, struct rtnl_route **out)
{
	const struct kroute *r = &op->r;
	struct rtnl_route *route = NULL;
	struct rtnl_nexthop *nh = NULL;
	struct nl_addr *dst = NULL, *gw = NULL;
	size_t alen = nlr_addr_len(r->dst.addr.family);
	bool unicast = r->type == RTN_UNICAST;
	bool has_via = unicast && r->via.family != 0;
	bool has_oif = unicast && r->oif > 0;
	int err;

	if (!alen || r->dst.len > alen * 8)
		return -EINVAL;
	if (has_via && !nlr_addr_len(r->via.family))
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
		err = nlr_nle_errno(err);
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
			gw = nl_addr_build(r->via.family, r->via.a, nlr_addr_len(r->via.family));
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

/* The request for route op i (nlr_batch's build). */
static int route_msg(void *arg, size_t i, uint32_t seq, struct nl_msg **out)
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
	msg = nlmsg_alloc_size(NLR_ROUTE_MSG_MAX);
	if (!msg || !nlmsg_put(msg, 0, seq, type, 0, flags)) {
		err = -ENOMEM;
		goto out;
	}
	err = rtnl_route_build_msg(msg, route);
	if (err) {
		err = nlr_nle_errno(err);
		goto out;
	}
	*out = msg;
	msg = NULL;
out:
	nlmsg_free(msg);
	rtnl_route_put(route);
	return err;
}

static void route_failed(void *arg, size_t i, int err, const char *text)
{
	const struct kroute_op *op = (const struct kroute_op *)arg + i;
	char dst[CIDR_STR_MAX];

	cidr_format_prefix(&op->r.dst, dst, sizeof(dst));
	log_debug("netlink: route %s table %u: %s%s%s", dst, op->r.table, strerror(-err),
	          *text ? ": " : "", text);
}

/* Append msg to the batch buffer at *off; -ENOSPC when it does not fit. */
static int append_msg(struct nlr *k, struct nl_msg *msg, size_t *off)
{
	struct nlmsghdr *h = nlmsg_hdr(msg);

	if (*off + NLMSG_ALIGN(h->nlmsg_len) > k->batch_bytes)
		return -ENOSPC;
	memcpy(k->sbuf + *off, h, h->nlmsg_len);
	memset(k->sbuf + *off + h->nlmsg_len, 0, NLMSG_ALIGN(h->nlmsg_len) - h->nlmsg_len);
	*off += NLMSG_ALIGN(h->nlmsg_len);
	return 0;
}

/* The kernel's own words for a failed request, when it gave some. */
static const char *ack_text(const struct nlmsghdr *h, size_t len)
{
	const struct nlmsgerr *e = NLMSG_DATA(h);
	size_t off = NLMSG_LENGTH(sizeof(*e));

	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS) || len < off)
		return "";
	/* Without NETLINK_CAP_ACK the request itself sits before the TLVs. */
	if (!(h->nlmsg_flags & NLM_F_CAPPED))
		off += NLMSG_ALIGN(e->msg.nlmsg_len) - NLMSG_HDRLEN;
	while (off + NLA_HDRLEN <= len) {
		const struct nlattr *a = (const void *)((const uint8_t *)h + off);

		if (a->nla_len < NLA_HDRLEN || off + a->nla_len > len)
			break;
		if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG && a->nla_len > NLA_HDRLEN) {
			const char *s = (const char *)a + NLA_HDRLEN;

			return memchr(s, '\0', a->nla_len - NLA_HDRLEN) ? s : "";
		}
		off += NLA_ALIGN(a->nla_len);
	}
	return "";
}

/* What a batch reports failures to. */
struct batch_sink {
	void (*failed)(void *arg, size_t i, int err, const char *text);
	void *arg;
	int *res;
};

/*
 * Take the acks out of one datagram. A truncated datagram still holds the
 * header and error code of its first ack, which is all we need.
 */
static void take_acks(struct nlr *k, const uint8_t *buf, size_t len, uint32_t base, size_t count,
                      const struct batch_sink *sink, size_t *got)
{
	while (len >= NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
		const struct nlmsghdr *h = (const void *)buf;
		size_t mlen = h->nlmsg_len < len ? h->nlmsg_len : len;
		uint32_t pos = h->nlmsg_seq - base;

		if (h->nlmsg_type == NLMSG_ERROR && pos < count && k->pending[pos] != SIZE_MAX) {
			const struct nlmsgerr *e = NLMSG_DATA(h);
			size_t i = k->pending[pos];

			sink->res[i] = e->error > 0 ? -e->error : e->error;
			if (sink->res[i] && sink->failed)
				sink->failed(sink->arg, i, sink->res[i], ack_text(h, mlen));
			k->pending[pos] = SIZE_MAX;
			(*got)++;
		}
		if (h->nlmsg_len < NLMSG_HDRLEN || NLMSG_ALIGN(h->nlmsg_len) >= len)
			break;
		buf += NLMSG_ALIGN(h->nlmsg_len);
		len -= NLMSG_ALIGN(h->nlmsg_len);
	}
}

/*
 * Read the acks of a batch of count requests numbered base.. . The kernel
 * answered them all inside sendmsg, so whatever is missing once the queue
 * is empty was dropped (ENOBUFS).
 */
static int read_acks(struct nlr *k, uint32_t base, size_t count, const struct batch_sink *sink)
{
	int fd = nl_socket_get_fd(k->req);
	size_t got = 0;
	bool lost = false;
	int err = 0;

	while (got < count) {
		size_t want = count - got;
		int n;

		for (size_t s = 0; s < want; s++) {
			k->iov[s].iov_base = k->ackbuf + s * NLR_ACK_SLOT;
			k->iov[s].iov_len = NLR_ACK_SLOT;
			memset(&k->mm[s].msg_hdr, 0, sizeof(k->mm[s].msg_hdr));
			k->mm[s].msg_hdr.msg_iov = &k->iov[s];
			k->mm[s].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(fd, k->mm, (unsigned)want, lost ? MSG_DONTWAIT : MSG_WAITFORONE, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				log_warnx(
				    "netlink: acks lost (socket buffer full) in a batch of %zu",
				    count);
				lost = true;
				continue;
			}
			if (lost && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			err = errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
			errno = -err;
			log_warn("netlink: reading acks");
			break;
		}
		for (int s = 0; s < n; s++)
			take_acks(k, k->ackbuf + (size_t)s * NLR_ACK_SLOT,
			          k->mm[s].msg_len < NLR_ACK_SLOT ? k->mm[s].msg_len : NLR_ACK_SLOT,
			          base, count, sink, &got);
	}
	for (size_t pos = 0; pos < count; pos++)
		if (k->pending[pos] != SIZE_MAX)
			sink->res[k->pending[pos]] = err ? err : -ENOBUFS;
	return err;
}

static bool drain_events(struct nlr *k);

int nlr_batch(struct nlr *k, size_t n,
              int (*build)(void *arg, size_t i, uint32_t seq, struct nl_msg **msg),
              void (*failed)(void *arg, size_t i, int err, const char *text), void *arg, int *res)
{
	const struct batch_sink sink = {.failed = failed, .arg = arg, .res = res};
	size_t i = 0;
	int err = 0;

	while (i < n) {
		uint32_t base = k->seq + 1;
		size_t off = 0, count = 0;

		while (i < n && count < k->batch_ops) {
			struct nl_msg *msg = NULL;
			int e = build(arg, i, base + (uint32_t)count, &msg);

			if (!e)
				e = append_msg(k, msg, &off);
			nlmsg_free(msg);
			if (e == -ENOSPC && count > 0)
				break; /* the batch is full: this op opens the next one */
			if (e) {
				res[i++] = e;
				continue;
			}
			k->pending[count++] = i++;
		}
		if (!count)
			continue;
		k->seq = base + (uint32_t)count - 1;
		err = nlr_send(k, k->sbuf, off);
		if (err) {
			for (size_t pos = 0; pos < count; pos++)
				res[k->pending[pos]] = err;
			break;
		}
		err = read_acks(k, base, count, &sink);
		if (err)
			break;
		if (k->ev && i < n && drain_events(k))
			k->ev_pending = true;
	}
	/* The socket failed: nothing after the broken batch was attempted. */
	for (; err && i < n; i++)
		res[i] = err;
	return err;
}

static int nlr_route_apply(void *ctx, const struct kroute_op *ops, size_t n, int *res)
{
	/* The callbacks only read the ops. */
	return nlr_batch(ctx, n, route_msg, route_failed, (void *)ops, res);
}

static int nlr_link_index(void *ctx, const char *name)
{
	/* The process lives in the namespace it manages: the libc lookup sees the same links. */
	return (int)if_nametoindex(name);
}

static int nlr_events_fd(void *ctx)
{
	struct nlr *k = ctx;

	return k->ev ? nl_socket_get_fd(k->ev) : -1;
}

/* Does this notification call for a resync? */
static bool event_relevant(const struct nlr *k, const struct nlmsghdr *h)
{
	const struct rtmsg *rtm;
	bool relevant;

	if (nlr_link_event(k, h, &relevant))
		return relevant;
	switch (h->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK:
		return true;
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		break;
	default:
		return false;
	}
	if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*rtm)))
		return true;
	rtm = NLMSG_DATA(h);
	if (rtm->rtm_flags & RTM_F_CLONED)
		return false;
	/* A foreign route that replaced something may have replaced one of ours. */
	if (rtm->rtm_protocol != VR_RTPROT)
		return h->nlmsg_type == RTM_NEWROUTE && (h->nlmsg_flags & NLM_F_REPLACE);
	/* Our own requests are known to the caller already. */
	return h->nlmsg_pid != k->req_port;
}

/* Read every pending notification; true when one of them (or a loss) needs a resync. */
static bool drain_events(struct nlr *k)
{
	bool resync = false;

	for (int i = 0; i < NLR_DRAIN_MAX; i++) {
		ssize_t len = nlr_recv(k, k->ev, MSG_DONTWAIT);
		struct nlmsghdr *h;
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
		for (h = (struct nlmsghdr *)k->rbuf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left))
			if (event_relevant(k, h))
				resync = true;
	}
	return resync;
}

static bool nlr_events_drain(void *ctx)
{
	struct nlr *k = ctx;
	bool resync = drain_events(k) || k->ev_pending;

	k->ev_pending = false;
	return resync;
}

/* with_events: also open the notification socket (only the reconciler needs one). */
static int kernel_open(struct kernel_ops *out, bool with_events)
{
	struct nlr *k;
	int err;

	memset(out, 0, sizeof(*out));
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->rbuf = malloc(NLR_RECV_MAX);
	k->sbuf = malloc(NLR_BATCH_BYTES);
	k->pending = calloc(NLR_BATCH_OPS, sizeof(*k->pending));
	k->ackbuf = malloc((size_t)NLR_BATCH_OPS * NLR_ACK_SLOT);
	k->iov = calloc(NLR_BATCH_OPS, sizeof(*k->iov));
	k->mm = calloc(NLR_BATCH_OPS, sizeof(*k->mm));
	k->fwd_known[0] = k->fwd_known[1] = -1;
	if (!k->rbuf || !k->sbuf || !k->pending || !k->ackbuf || !k->iov || !k->mm) {
		err = -ENOMEM;
		goto out;
	}
	err = open_req(k);
	if (!err && with_events)
		err = open_ev(k);
	if (err)
		goto out;

	out->ctx = k;
	out->route_dump = nlr_route_dump;
	out->route_apply = nlr_route_apply;
	out->link_index = nlr_link_index;
	out->events_fd = nlr_events_fd;
	out->events_drain = nlr_events_drain;
	nlr_link_ops(out);
	k = NULL;
out:
	nlr_free(k);
	return err;
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
	nlr_free(k->ctx);
	memset(k, 0, sizeof(*k));
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
	case ENOENT:
		snprintf(buf, len, "the route is not in the kernel (%s)", why);
		break;
	case ENOBUFS:
		snprintf(buf, len, "the kernel's answer was lost; will retry (%s)", why);
		break;
	case ENOMEM:
		snprintf(buf, len, "out of memory (%s)", why);
		break;
	case ETIMEDOUT:
		snprintf(buf, len, "the kernel did not answer (%s)", why);
		break;
	default:
		snprintf(buf, len, "the kernel refused the route (%s)", why);
		break;
	}
}
