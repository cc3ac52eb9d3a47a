/*
 * The privilege-separation wire (privsep.h): what a request may look like,
 * checked before the privileged process acts on it, and the framing both
 * sides share. A request that fails a check is never acted on: the caller
 * closes the channel.
 */
#include "privsep.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <endian.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sgc.h"

/* What a request's body is: fixed bytes, then up to max_n elements of elem bytes. */
struct ps_shape {
	const char *name;
	size_t fixed;
	size_t elem; /* 0: exactly fixed bytes */
	size_t max_n;
};

static const struct ps_shape shapes[PS_TYPE_END] = {
    [PS_OPEN] = {"open", 0, 0, 0},
    [PS_NFT_ATTACH] = {"nft_attach", 0, 0, 0},
    [PS_ROUTE_DUMP] = {"route_dump", 0, 0, 0},
    [PS_ROUTE_APPLY] = {"route_apply", 0, sizeof(struct kroute_op),
                        PS_BODY_MAX / sizeof(struct kroute_op)},
    [PS_LINK_INDEX] = {"link_index", sizeof(struct ps_name), 0, 0},
    [PS_ADDR_DUMP] = {"addr_dump", 0, 0, 0},
    [PS_ADDR_APPLY] = {"addr_apply", 0, sizeof(struct kaddr_op),
                       PS_BODY_MAX / sizeof(struct kaddr_op)},
    [PS_RULE_DUMP] = {"rule_dump", 0, 0, 0},
    [PS_RULE_APPLY] = {"rule_apply", 0, sizeof(struct krule_op),
                       PS_BODY_MAX / sizeof(struct krule_op)},
    [PS_FWD_GET] = {"forwarding_get", 0, 0, 0},
    [PS_FWD_SET] = {"forwarding_set", sizeof(struct ps_fwd), 0, 0},
    [PS_LINKS_LIST] = {"links_list", 0, 0, 0},
    [PS_TABLES_IN_USE] = {"tables_in_use", 0, 0, 0},
    [PS_ROUTE_GET] = {"route_get", sizeof(struct kroute_query), 0, 0},
    [PS_CT_FIND] = {"ct_find", sizeof(struct kflow_query), 0, 0},
    [PS_CAPTURE_OPEN] = {"capture_open", sizeof(struct ps_capture), sizeof(struct sock_filter),
                         PS_BPF_MAX},
    [PS_NFT_SEND] = {"nft_send", sizeof(struct ps_nft_send), 1,
                     PS_BODY_MAX - sizeof(struct ps_nft_send)},
    [PS_NFT_DUMP] = {"nft_check", 0, 0, 0},
    [PS_NFT_DELETE] = {"nft_delete", 0, 0, 0},
    [PS_NFT_COUNTERS] = {"nft_counters", 0, 0, 0},
};

const char *ps_type_name(uint32_t type)
{
	return type && type < PS_TYPE_END ? shapes[type].name : "?";
}

static int bad(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int bad(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

int ps_check_hdr(const struct ps_hdr *h, char *why, size_t len)
{
	const struct ps_shape *s;
	size_t n;

	if (!h->type || h->type >= PS_TYPE_END)
		return bad(why, len, "unknown request type %u", h->type);
	s = &shapes[h->type];
	if (!s->elem) {
		if (h->len != s->fixed)
			return bad(why, len, "%s: body of %u bytes, expected %zu", s->name, h->len,
			           s->fixed);
		return 0;
	}
	if (h->len < s->fixed || h->len > PS_BODY_MAX)
		return bad(why, len, "%s: body of %u bytes, expected %zu to %u", s->name, h->len,
		           s->fixed, PS_BODY_MAX);
	n = (h->len - s->fixed) / s->elem;
	if ((h->len - s->fixed) % s->elem)
		return bad(why, len, "%s: %zu bytes are not a whole number of %zu-byte elements",
		           s->name, h->len - s->fixed, s->elem);
	if (n > s->max_n)
		return bad(why, len, "%s: %zu elements, at most %zu", s->name, n, s->max_n);
	return 0;
}

static bool family_ok(int family, bool zero_ok)
{
	return family == AF_INET || family == AF_INET6 || (zero_ok && family == 0);
}

static bool prefix_ok(const struct prefix *p, bool zero_ok)
{
	if (!family_ok(p->addr.family, zero_ok))
		return false;
	return p->len <= (p->addr.family == AF_INET ? 32 : p->addr.family == AF_INET6 ? 128 : 0);
}

static bool kind_ok(enum kop_kind k)
{
	return k == KOP_REPLACE || k == KOP_DELETE || k == KOP_ADD;
}

static bool route_ok(const struct kroute *r)
{
	return prefix_ok(&r->dst, false) &&
	       (r->type == RTN_UNICAST || r->type == RTN_BLACKHOLE || r->type == RTN_UNREACHABLE ||
	        r->type == RTN_PROHIBIT) &&
	       family_ok(r->via.family, true) && r->oif >= 0;
}

int ps_check_body(uint32_t type, const void *body, size_t blen, char *why, size_t len)
{
	struct ps_hdr h = {.type = type, .len = (uint32_t)blen};
	size_t n;
	int rc;

	if (blen > PS_BODY_MAX)
		return bad(why, len, "%s: body of %zu bytes is too large", ps_type_name(type),
		           blen);
	rc = ps_check_hdr(&h, why, len);
	if (rc)
		return rc;
	n = shapes[type].elem ? (blen - shapes[type].fixed) / shapes[type].elem : 0;
	switch (type) {
	case PS_ROUTE_APPLY: {
		const struct kroute_op *o = body;

		for (size_t i = 0; i < n; i++)
			if (!kind_ok(o[i].kind) || !route_ok(&o[i].r))
				return bad(why, len, "route_apply: op %zu is malformed", i);
		return 0;
	}
	case PS_ADDR_APPLY: {
		const struct kaddr_op *o = body;

		for (size_t i = 0; i < n; i++)
			if (!kind_ok(o[i].kind) || o[i].a.ifindex <= 0 ||
			    !prefix_ok(&o[i].a.p, false))
				return bad(why, len, "addr_apply: op %zu is malformed", i);
		return 0;
	}
	case PS_RULE_APPLY: {
		const struct krule_op *o = body;

		for (size_t i = 0; i < n; i++) {
			const struct krule *r = &o[i].r;

			if (!kind_ok(o[i].kind) || !family_ok(r->family, false) ||
			    !prefix_ok(&r->src, true) ||
			    (r->src.addr.family && r->src.addr.family != r->family) ||
			    (r->action != KRULE_LOOKUP && r->action != KRULE_UNREACHABLE))
				return bad(why, len, "rule_apply: op %zu is malformed", i);
		}
		return 0;
	}
	case PS_LINK_INDEX: {
		const struct ps_name *nm = body;

		if (!memchr(nm->name, '\0', sizeof(nm->name)))
			return bad(why, len, "link_index: the name is not NUL-terminated");
		return 0;
	}
	case PS_FWD_SET: {
		const struct ps_fwd *f = body;

		if (f->v4 > 1 || f->v6 > 1)
			return bad(why, len, "forwarding_set: values %u, %u are not 0 or 1", f->v4,
			           f->v6);
		return 0;
	}
	case PS_ROUTE_GET: {
		const struct kroute_query *q = body;

		if (!family_ok(q->dst.family, false) || !family_ok(q->src.family, true) ||
		    q->iif < 0)
			return bad(why, len, "route_get: the query is malformed");
		return 0;
	}
	case PS_CT_FIND: {
		const struct kflow_query *q = body;

		if (!family_ok(q->src.family, true) || !family_ok(q->dst.family, true))
			return bad(why, len, "ct_find: the query is malformed");
		return 0;
	}
	case PS_CAPTURE_OPEN: {
		const struct ps_capture *c = body;

		if (c->ifindex <= 0 || n == 0)
			return bad(why, len, "capture_open: link %d with %zu instructions",
			           (int)c->ifindex, n);
		return 0;
	}
	case PS_NFT_SEND: {
		const struct ps_nft_send *s = body;

		return ps_check_nft_batch((const char *)body + sizeof(*s), blen - sizeof(*s),
		                          s->nmsgs, why, len);
	}
	default: return 0;
	}
}

/* The nf_tables messages a batch of sgc_batch.c may hold (sgc.h). */
static bool nft_type_ok(unsigned t)
{
	switch (t) {
	case NFT_MSG_NEWTABLE:
	case NFT_MSG_DELTABLE:
	case NFT_MSG_NEWCHAIN:
	case NFT_MSG_DELCHAIN:
	case NFT_MSG_NEWRULE:
	case NFT_MSG_DELRULE:
	case NFT_MSG_NEWSET:
	case NFT_MSG_DELSET:
	case NFT_MSG_NEWSETELEM:
	case NFT_MSG_DELSETELEM:
	case NFT_MSG_NEWOBJ:
	case NFT_MSG_DELOBJ: return true;
	default: return false;
	}
}

/*
 * Every top-level attribute of one nf_tables message fits it exactly, and
 * every attribute 1 (the table of every object type) is "vrouter"; at least one.
 */
static bool nft_names_our_table(const struct nlmsghdr *nlh)
{
	size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
	bool seen = false;

	while (off < nlh->nlmsg_len) {
		const struct nlattr *a = (const struct nlattr *)((const char *)nlh + off);

		if (nlh->nlmsg_len - off < sizeof(*a) || a->nla_len < sizeof(*a) ||
		    a->nla_len > nlh->nlmsg_len - off)
			return false;
		if ((a->nla_type & NLA_TYPE_MASK) == 1) {
			const char *s = (const char *)a + NLA_HDRLEN;
			size_t sl = a->nla_len - NLA_HDRLEN;

			if (!sl || !memchr(s, '\0', sl) || strcmp(s, SGC_TABLE))
				return false;
			seen = true;
		}
		off += NLA_ALIGN(a->nla_len);
	}
	return seen;
}

int ps_check_nft_batch(const void *data, size_t len, uint64_t nmsgs, char *why, size_t wlen)
{
	const struct nlmsghdr *nlh = data;
	size_t left = len, i = 0, count = 0;
	bool ended = false;

	if ((uintptr_t)data % 4)
		return bad(why, wlen, "nft_send: the batch is not aligned");
	while (left) {
		const struct nfgenmsg *g;
		size_t step;

		if (ended)
			return bad(why, wlen, "nft_send: bytes after the batch end");
		if (left < NLMSG_HDRLEN || nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(*g) ||
		    nlh->nlmsg_len > left)
			return bad(why, wlen, "nft_send: message %zu is truncated", i);
		g = (const void *)((const char *)nlh + NLMSG_HDRLEN); /* NLMSG_DATA drops const */
		step = NLMSG_ALIGN(nlh->nlmsg_len);
		if (step > left)
			step = left;
		if (i == 0) {
			if (nlh->nlmsg_type != NFNL_MSG_BATCH_BEGIN ||
			    be16toh(g->res_id) != NFNL_SUBSYS_NFTABLES)
				return bad(why, wlen, "nft_send: no nf_tables batch begin");
		} else if (nlh->nlmsg_type == NFNL_MSG_BATCH_END) {
			ended = true;
		} else {
			unsigned t = NFNL_MSG_TYPE(nlh->nlmsg_type);

			if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES ||
			    !nft_type_ok(t))
				return bad(why, wlen, "nft_send: message %zu has type 0x%x", i,
				           nlh->nlmsg_type);
			if (g->nfgen_family != NFPROTO_INET)
				return bad(why, wlen,
				           "nft_send: message %zu is for family %u, not inet", i,
				           g->nfgen_family);
			if (!nft_names_our_table(nlh))
				return bad(
				    why, wlen,
				    "nft_send: message %zu addresses another table than inet %s", i,
				    SGC_TABLE);
			count++;
		}
		i++;
		left -= step;
		nlh = (const struct nlmsghdr *)((const char *)nlh + step);
	}
	if (!ended)
		return bad(why, wlen, "nft_send: no batch end");
	if (count != nmsgs)
		return bad(why, wlen, "nft_send: %zu messages, %llu announced", count,
		           (unsigned long long)nmsgs);
	return 0;
}

/* ---- framing ---- */

static int write_all(int sock, struct iovec *iov, int n, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	bool with_fd = fd >= 0;

	while (n > 0) {
		struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		ssize_t w;

		if (with_fd) {
			struct cmsghdr *c;

			memset(cbuf, 0, sizeof(cbuf));
			m.msg_control = cbuf;
			m.msg_controllen = sizeof(cbuf);
			c = CMSG_FIRSTHDR(&m);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &fd, sizeof(int));
		}
		w = sendmsg(sock, &m, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		with_fd = false;
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

int ps_send(int sock, uint32_t type, const void *fixed, size_t flen, const void *arr, size_t alen,
            int fd)
{
	struct ps_hdr h = {.type = type, .len = (uint32_t)(flen + alen)};
	struct iovec iov[3] = {
	    {&h, sizeof(h)}, {(void *)(uintptr_t)fixed, flen}, {(void *)(uintptr_t)arr, alen}};

	if (flen + alen > PS_BODY_MAX)
		return -EMSGSIZE;
	return write_all(sock, iov, alen ? 3 : flen ? 2 : 1, fd);
}

/* Read exactly len bytes; a descriptor that arrives goes to *fd. */
static int read_all(int sock, void *buf, size_t len, int *fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	size_t got = 0;

	while (got < len) {
		struct iovec iov = {(char *)buf + got, len - got};
		struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
		ssize_t r;

		if (fd) {
			m.msg_control = cbuf;
			m.msg_controllen = sizeof(cbuf);
		}
		r = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return got ? -EBADMSG : -EPIPE;
		if (fd) {
			for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
				if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
				    c->cmsg_len == CMSG_LEN(sizeof(int))) {
					if (*fd >= 0)
						close(*fd);
					memcpy(fd, CMSG_DATA(c), sizeof(int));
				}
		}
		got += (size_t)r;
	}
	return 0;
}

int ps_recv(int sock, struct ps_hdr *h, void **body, int *fd,
            int (*check)(const struct ps_hdr *h, char *why, size_t len), char *why, size_t wlen)
{
	void *b = NULL;
	int rc;

	*body = NULL;
	if (fd)
		*fd = -1;
	why[0] = '\0';
	rc = read_all(sock, h, sizeof(*h), fd);
	if (rc == -EBADMSG)
		snprintf(why, wlen, "a message header cut short");
	if (rc)
		return rc;
	if (check) {
		rc = check(h, why, wlen);
		if (rc)
			return rc;
	} else if (h->len > PS_BODY_MAX) {
		return bad(why, wlen, "a message of %u bytes is too large", h->len);
	}
	if (!h->len)
		return 0;
	b = malloc(h->len);
	if (!b)
		return -ENOMEM;
	rc = read_all(sock, b, h->len, NULL);
	if (rc) {
		free(b);
		if (rc == -EPIPE || rc == -EBADMSG) {
			snprintf(why, wlen, "%s: body cut short", ps_type_name(h->type));
			return -EBADMSG;
		}
		return rc;
	}
	*body = b;
	return 0;
}
