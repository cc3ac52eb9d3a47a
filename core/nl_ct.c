/*
 * Connection tracking, read only (ct_find in kernel.h): a ctnetlink dump
 * (IPCTNL_MSG_CT_GET over NETLINK_NETFILTER) on a libnl socket of its own,
 * opened per question; each entry's original tuple, status, timeout, TCP
 * state and counters parsed with libnl's attribute parser, and kept when it
 * matches the query. Not the transport's socket: that one is NETLINK_ROUTE.
 */
#include "nl_int.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <netlink/attr.h>
#include <netlink/handlers.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "log.h"

/* Flows kept per answer; a busy router has many more, the query narrows them. */
#define NLCT_FLOWS_MAX (256u * 1024)
#define NLCT_DUMP_TRIES 3
#define NLCT_RCVBUF (1024 * 1024)
#define NLCT_TIMEOUT_S 10

struct ct_acc {
	const struct kflow_query *q;
	struct kflow *v;
	size_t n, cap;
	int err;
};

static uint16_t be16_at(const struct nlattr *a)
{
	return ntohs(nla_get_u16((struct nlattr *)(uintptr_t)a));
}

/* The addresses of a CTA_TUPLE_IP: false when it holds neither family. */
static bool parse_ip(struct nlattr *nest, struct kflow *f)
{
	static const struct {
		int family, src, dst;
	} fams[] = {{AF_INET, CTA_IP_V4_SRC, CTA_IP_V4_DST},
	            {AF_INET6, CTA_IP_V6_SRC, CTA_IP_V6_DST}};
	struct nlattr *tb[CTA_IP_MAX + 1];

	if (nla_parse_nested(tb, CTA_IP_MAX, nest, NULL) < 0)
		return false;
	for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
		struct nlattr *src = tb[fams[i].src], *dst = tb[fams[i].dst];
		size_t alen = cidr_addr_len(fams[i].family);

		if (!src || !dst || (size_t)nla_len(src) < alen || (size_t)nla_len(dst) < alen)
			continue;
		f->src.family = f->dst.family = fams[i].family;
		memcpy(f->src.a, nla_data(src), alen);
		memcpy(f->dst.a, nla_data(dst), alen);
		return true;
	}
	return false;
}

/* Protocol and ports of a CTA_TUPLE_PROTO; ICMP: id in sport, type << 8 | code in dport. */
static bool parse_proto(struct nlattr *nest, struct kflow *f)
{
	struct nlattr *tb[CTA_PROTO_MAX + 1];
	int id = CTA_PROTO_ICMP_ID, type = CTA_PROTO_ICMP_TYPE, code = CTA_PROTO_ICMP_CODE;

	if (nla_parse_nested(tb, CTA_PROTO_MAX, nest, NULL) < 0 || !tb[CTA_PROTO_NUM])
		return false;
	f->l4proto = nla_get_u8(tb[CTA_PROTO_NUM]);
	if (f->l4proto == IPPROTO_ICMPV6) {
		id = CTA_PROTO_ICMPV6_ID;
		type = CTA_PROTO_ICMPV6_TYPE;
		code = CTA_PROTO_ICMPV6_CODE;
	}
	if (f->l4proto == IPPROTO_ICMP || f->l4proto == IPPROTO_ICMPV6) {
		if (tb[id])
			f->sport = be16_at(tb[id]);
		f->dport = (uint16_t)((tb[type] ? nla_get_u8(tb[type]) << 8 : 0) |
		                      (tb[code] ? nla_get_u8(tb[code]) : 0));
		return true;
	}
	if (tb[CTA_PROTO_SRC_PORT])
		f->sport = be16_at(tb[CTA_PROTO_SRC_PORT]);
	if (tb[CTA_PROTO_DST_PORT])
		f->dport = be16_at(tb[CTA_PROTO_DST_PORT]);
	return true;
}

static uint64_t packets_of(struct nlattr *nest)
{
	struct nlattr *tb[CTA_COUNTERS_MAX + 1];

	if (!nest || nla_parse_nested(tb, CTA_COUNTERS_MAX, nest, NULL) < 0 ||
	    !tb[CTA_COUNTERS_PACKETS])
		return 0;
	return be64toh(nla_get_u64(tb[CTA_COUNTERS_PACKETS]));
}

static uint8_t tcp_state_of(struct nlattr *nest)
{
	struct nlattr *tb[CTA_PROTOINFO_MAX + 1], *tcp[CTA_PROTOINFO_TCP_MAX + 1];

	if (!nest || nla_parse_nested(tb, CTA_PROTOINFO_MAX, nest, NULL) < 0 ||
	    !tb[CTA_PROTOINFO_TCP] ||
	    nla_parse_nested(tcp, CTA_PROTOINFO_TCP_MAX, tb[CTA_PROTOINFO_TCP], NULL) < 0 ||
	    !tcp[CTA_PROTOINFO_TCP_STATE])
		return 0;
	return nla_get_u8(tcp[CTA_PROTOINFO_TCP_STATE]);
}

/* One conntrack entry; false when it is malformed or not an IP flow. */
static bool parse_flow(struct nlmsghdr *h, struct kflow *f)
{
	struct nlattr *tb[CTA_MAX + 1], *tuple[CTA_TUPLE_MAX + 1];

	memset(f, 0, sizeof(*f));
	if (NFNL_SUBSYS_ID(h->nlmsg_type) != NFNL_SUBSYS_CTNETLINK ||
	    NFNL_MSG_TYPE(h->nlmsg_type) != IPCTNL_MSG_CT_NEW ||
	    nl_xport_parse(h, sizeof(struct nfgenmsg), tb, CTA_MAX) < 0 || !tb[CTA_TUPLE_ORIG] ||
	    nla_parse_nested(tuple, CTA_TUPLE_MAX, tb[CTA_TUPLE_ORIG], NULL) < 0 ||
	    !tuple[CTA_TUPLE_IP] || !tuple[CTA_TUPLE_PROTO] || !parse_ip(tuple[CTA_TUPLE_IP], f) ||
	    !parse_proto(tuple[CTA_TUPLE_PROTO], f))
		return false;
	if (tb[CTA_STATUS]) {
		uint32_t st = ntohl(nla_get_u32(tb[CTA_STATUS]));

		f->seen_reply = st & IPS_SEEN_REPLY;
		f->assured = st & IPS_ASSURED;
	}
	if (tb[CTA_TIMEOUT])
		f->timeout = ntohl(nla_get_u32(tb[CTA_TIMEOUT]));
	if (f->l4proto == IPPROTO_TCP)
		f->tcp_state = tcp_state_of(tb[CTA_PROTOINFO]);
	f->packets_orig = packets_of(tb[CTA_COUNTERS_ORIG]);
	f->packets_reply = packets_of(tb[CTA_COUNTERS_REPLY]);
	return true;
}

static bool matches(const struct kflow_query *q, const struct kflow *f)
{
	return (!q->l4proto || q->l4proto == f->l4proto) &&
	       (!q->src.family || cidr_addr_equal(&q->src, &f->src)) &&
	       (!q->dst.family || cidr_addr_equal(&q->dst, &f->dst)) &&
	       (!q->dport || q->dport == f->dport);
}

static int ct_cb(struct nl_msg *msg, void *arg)
{
	struct ct_acc *acc = arg;
	struct kflow f;
	int err;

	if (!parse_flow(nlmsg_hdr(msg), &f) || !matches(acc->q, &f))
		return NL_OK;
	err = nl_xport_grow((void **)&acc->v, &acc->cap, acc->n, sizeof(*acc->v), NLCT_FLOWS_MAX,
	                    "conntrack entries");
	if (err) {
		acc->err = err;
		return NL_STOP;
	}
	acc->v[acc->n++] = f;
	return NL_OK;
}

static int open_sock(struct nl_sock **out)
{
	struct timeval tv = {.tv_sec = NLCT_TIMEOUT_S};
	struct nl_sock *sk = nl_socket_alloc();
	int err;

	*out = NULL;
	if (!sk)
		return -ENOMEM;
	err = nl_connect(sk, NETLINK_NETFILTER);
	if (err < 0) {
		log_warnx("conntrack: cannot open a netfilter socket: %s", nl_geterror(err));
		nl_socket_free(sk);
		return nl_xport_errno(err);
	}
	(void)nl_socket_set_buffer_size(sk, NLCT_RCVBUF, 0);
	/* A kernel that never answers is a broken socket, not a slow one. */
	if (setsockopt(nl_socket_get_fd(sk), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		err = -errno;
		nl_socket_free(sk);
		return err;
	}
	*out = sk;
	return 0;
}

int nl_ct_find(const struct kflow_query *q, struct kflow **out, size_t *nout)
{
	struct nfgenmsg hdr = {.version = NFNETLINK_V0};
	struct ct_acc acc = {.q = q};
	struct nl_sock *sk = NULL;
	int err, tries;

	*out = NULL;
	*nout = 0;
	/* The kernel filters the dump by family when told one. */
	hdr.nfgen_family = (uint8_t)(q->src.family ? q->src.family : q->dst.family);
	err = open_sock(&sk);
	if (err)
		return err;
	err = nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, ct_cb, &acc);
	for (tries = 1; !err; tries++) {
		acc.n = 0;
		err = nl_send_simple(sk, (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET,
		                     NLM_F_DUMP, &hdr, sizeof(hdr));
		if (err >= 0)
			err = nl_recvmsgs_default(sk);
		/* Entries come and go all the time: a torn dump is read again, then taken. */
		if (err != -NLE_DUMP_INTR || acc.err)
			break;
		if (tries == NLCT_DUMP_TRIES) {
			log_debug("conntrack: the dump kept changing, taking the last one");
			err = 0;
			break;
		}
		err = 0;
	}
	if (acc.err) {
		err = acc.err;
	} else if (err < 0) {
		log_warnx("conntrack: dump failed: %s", nl_geterror(err));
		/* The socket's receive timeout ran out: the kernel did not answer. */
		err = err == -NLE_AGAIN ? -ETIMEDOUT : nl_xport_errno(err);
	}
	nl_socket_free(sk);
	if (err < 0) {
		free(acc.v);
		return err;
	}
	*out = acc.v;
	*nout = acc.n;
	return 0;
}
