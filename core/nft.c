#include "nft.h"

#include "kernel.h"

#include <errno.h>
#include <limits.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/gen.h>
#include <libnftnl/object.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <endian.h>

#include "grow.h"
#include "log.h"

/*
 * The attributes of nlh from offset off, as libmnl's mnl_attr_for_each walks
 * them, without its casts that drop const (clang's -Wcast-qual sees them here).
 */
static int attr_room(const struct nlmsghdr *nlh, const struct nlattr *a)
{
	return (int)((const char *)mnl_nlmsg_get_payload_tail(nlh) - (const char *)a);
}
#define ATTR_EACH(a, nlh, off)                                                                     \
	for ((a) = mnl_nlmsg_get_payload_offset((nlh), (off));                                     \
	     mnl_attr_ok((a), attr_room((nlh), (a))); (a) = mnl_attr_next(a))

#define RBUF_SIZE (64 * 1024)           /* one netlink read: a dump part or an ack */
#define REQ_BUF_SIZE 4096               /* one GET request */
#define REPLY_WAIT_MS 5000              /* a GET that gets no answer in this long failed */
#define ACK_WAIT_MS 1000                /* acks are queued before sendmsg returns; margin */
#define ACK_ROOM 2048                   /* receive buffer per expected ack (skb truesize) */
#define BUF_BASE (256 * 1024)           /* socket buffers never shrink below this */
#define BUF_MAX (256 * 1024 * 1024)     /* nor grow beyond this */
#define MON_RCVBUF (8 * 1024 * 1024)    /* notifications of a large rebuild of our own */
#define NFT_RAW_MAX (256 * 1024 * 1024) /* a whole table dump; as large as a batch may be */

struct nft {
	struct mnl_socket *cmd; /* batches and GETs; owns the table */
	struct mnl_socket *mon; /* NFNLGRP_NFTABLES */
	uint32_t portid;
	uint32_t seq;
	int sndbuf, rcvbuf; /* what we last asked for on cmd */
	char *rbuf;
	bool missed; /* a change by someone else may have gone unnotified: say changed */
};

static int set_buf(struct mnl_socket *nl, int opt, int force_opt, int *cur, size_t want)
{
	int fd = mnl_socket_get_fd(nl), v;

	if (want > BUF_MAX)
		want = BUF_MAX;
	if (want < BUF_BASE)
		want = BUF_BASE;
	if (cur && (size_t)*cur >= want)
		return 0;
	v = (int)want;
	/* FORCE passes the rmem/wmem_max limits; it needs CAP_NET_ADMIN, which we have. */
	if (setsockopt(fd, SOL_SOCKET, force_opt, &v, sizeof(v)) &&
	    setsockopt(fd, SOL_SOCKET, opt, &v, sizeof(v)))
		return -errno;
	if (cur)
		*cur = v;
	return 0;
}

void nft_close(struct nft *n)
{
	if (!n)
		return;
	if (n->cmd)
		mnl_socket_close(n->cmd);
	if (n->mon)
		mnl_socket_close(n->mon);
	free(n->rbuf);
	free(n);
}

/* The command socket, and with monitor the notification socket. */
static int nft_open_sockets(struct nft **out, bool monitor, char *why, size_t len)
{
	struct nft *n = calloc(1, sizeof(*n));
	int one = 1, grp = NFNLGRP_NFTABLES, rc;

	*out = NULL;
	if (!n || !(n->rbuf = malloc(RBUF_SIZE))) {
		free(n);
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	n->cmd = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!n->cmd || mnl_socket_bind(n->cmd, 0, MNL_SOCKET_AUTOPID) < 0) {
		rc = -errno;
		snprintf(why, len, "nftables socket: %s", strerror(errno));
		goto fail;
	}
	n->portid = mnl_socket_get_portid(n->cmd);
	/* Extended acks carry the kernel's words; capped acks keep the ack flood small. */
	mnl_socket_setsockopt(n->cmd, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(n->cmd, NETLINK_CAP_ACK, &one, sizeof(one));
	set_buf(n->cmd, SO_SNDBUF, SO_SNDBUFFORCE, &n->sndbuf, BUF_BASE);
	set_buf(n->cmd, SO_RCVBUF, SO_RCVBUFFORCE, &n->rcvbuf, BUF_BASE);
	if (!monitor)
		goto done;

	n->mon = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!n->mon || mnl_socket_bind(n->mon, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_setsockopt(n->mon, NETLINK_ADD_MEMBERSHIP, &grp, sizeof(grp)) < 0) {
		rc = -errno;
		snprintf(why, len, "nftables notification socket: %s", strerror(errno));
		goto fail;
	}
	set_buf(n->mon, SO_RCVBUF, SO_RCVBUFFORCE, NULL, MON_RCVBUF);
done:
	n->seq = (uint32_t)time(NULL);
	*out = n;
	return 0;
fail:
	nft_close(n);
	return rc ? rc : -EIO;
}

int nft_open(struct nft **out, char *why, size_t len)
{
	return nft_open_sockets(out, true, why, len);
}

uint32_t nft_portid(const struct nft *n)
{
	return n->portid;
}

int nft_events_fd(const struct nft *n)
{
	return n->mon ? mnl_socket_get_fd(n->mon) : -1;
}

/* Throw away anything left on the command socket (a late answer to an earlier request). */
static void drain_stale(struct nft *n)
{
	int fd = mnl_socket_get_fd(n->cmd);

	for (;;) {
		ssize_t r = recv(fd, n->rbuf, RBUF_SIZE, MSG_DONTWAIT);

		if (r == 0 || (r < 0 && errno != EINTR && errno != ENOBUFS))
			break;
	}
}

/* recv with a deadline: > 0 bytes, or -errno (-ETIMEDOUT). */
static ssize_t recv_wait(struct nft *n, int timeout_ms)
{
	int fd = mnl_socket_get_fd(n->cmd);

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t r = recv(fd, n->rbuf, RBUF_SIZE, MSG_DONTWAIT);
		int pr;

		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		pr = poll(&p, 1, timeout_ms);
		if (pr < 0 && errno != EINTR)
			return -errno;
		if (pr == 0)
			return -ETIMEDOUT;
	}
}

/* The kernel's extended-ack message, if the ack carries one, as " (text)". */
static void extack(const struct nlmsghdr *nlh, char *out, size_t len)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a;
	size_t off = sizeof(*e);

	out[0] = '\0';
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(struct nlmsghdr);
	if (off >= nlh->nlmsg_len - NLMSG_HDRLEN)
		return;
	ATTR_EACH(a, nlh, off)
	{
		if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0)
			snprintf(out, len, " (%s)", mnl_attr_get_str(a));
	}
}

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int send_batch(struct nft *n, const void *data, size_t blen, size_t nm, size_t *failed,
                      char *why, size_t len)
{
	double t0 = mono_ms(), t1 = 0;
	size_t got = 0, bad = 0;
	struct nlmsghdr *nlh;
	char *buf = NULL, ext[256] = "", bext[256] = "";
	int err = 0, batch_err = 0, rc = 0, left;
	bool lost = false;
	uint32_t base;

	*failed = 0;
	why[0] = '\0';
	if (!nm)
		return 0;
	buf = malloc(blen);
	if (!buf) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	memcpy(buf, data, blen);
	base = n->seq;
	n->seq += (uint32_t)nm + 2;
	if (blen > INT_MAX) {
		free(buf);
		snprintf(why, len, "nftables batch of %zu bytes is too large", blen);
		return -EMSGSIZE;
	}
	left = (int)blen;
	for (nlh = (struct nlmsghdr *)buf; mnl_nlmsg_ok(nlh, left);
	     nlh = mnl_nlmsg_next(nlh, &left))
		nlh->nlmsg_seq += base;

	/* The whole transaction goes in one sendmsg; every ack must fit before we read. */
	set_buf(n->cmd, SO_SNDBUF, SO_SNDBUFFORCE, &n->sndbuf, blen + BUF_BASE);
	set_buf(n->cmd, SO_RCVBUF, SO_RCVBUFFORCE, &n->rcvbuf, nm * ACK_ROOM + BUF_BASE);
	drain_stale(n);
	if (mnl_socket_sendto(n->cmd, buf, blen) < 0) {
		rc = -errno;
		snprintf(why, len, "sending %zu nftables message(s): %s", nm, strerror(errno));
		goto out;
	}
	t1 = mono_ms();

	while (got < nm) {
		ssize_t r = recv(mnl_socket_get_fd(n->cmd), n->rbuf, RBUF_SIZE, MSG_DONTWAIT);
		int rl;

		if (r < 0) {
			struct pollfd p = {.fd = mnl_socket_get_fd(n->cmd), .events = POLLIN};

			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				lost = true;
				continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				rc = -errno;
				snprintf(why, len, "reading nftables acks: %s", strerror(errno));
				goto out;
			}
			/* A batch-level failure (e.g. -ENOMEM) may be the only answer. */
			if (batch_err || lost || poll(&p, 1, ACK_WAIT_MS) <= 0)
				break;
			continue;
		}
		rl = (int)r;
		for (nlh = (struct nlmsghdr *)n->rbuf; mnl_nlmsg_ok(nlh, rl);
		     nlh = mnl_nlmsg_next(nlh, &rl)) {
			const struct nlmsgerr *e;
			uint32_t idx = nlh->nlmsg_seq - base;

			if (nlh->nlmsg_type != NLMSG_ERROR ||
			    nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(*e))
				continue;
			e = mnl_nlmsg_get_payload(nlh);
			if (idx >= 1 && idx <= nm) {
				got++;
				if (e->error && !err) {
					err = e->error;
					bad = idx;
					extack(nlh, ext, sizeof(ext));
				}
			} else if (idx == 0 || idx == nm + 1) {
				if (e->error && !batch_err) {
					batch_err = e->error;
					extack(nlh, bext, sizeof(bext));
				}
			}
		}
	}
	if (err) {
		*failed = bad;
		rc = err;
		snprintf(why, len, "%s%s", strerror(-err), ext);
	} else if (batch_err) {
		rc = batch_err;
		snprintf(why, len, "nftables refused the transaction: %s%s", strerror(-batch_err),
		         bext);
	} else if (lost || got < nm) {
		rc = lost ? -ENOBUFS : -ETIMEDOUT;
		snprintf(why, len, "%zu of %zu nftables acks %s: outcome unknown", nm - got, nm,
		         lost ? "lost" : "missing");
	}
	log_debug("nftables batch: %zu messages, %zu bytes: sent in %.1f ms, %zu acks read in "
	          "%.1f ms",
	          nm, blen, t1 - t0, got, mono_ms() - t1);
out:
	free(buf);
	return rc;
}

static int request(struct nft *n, struct nlmsghdr *nlh, mnl_cb_t cb, void *data);

struct gen_answer {
	uint32_t id;
	bool got;
};

static int gen_cb(const struct nlmsghdr *nlh, void *data)
{
	struct gen_answer *a = data;
	struct nftnl_gen *g = nftnl_gen_alloc();

	if (!g)
		return MNL_CB_ERROR;
	if (nftnl_gen_nlmsg_parse(nlh, g) == 0 && nftnl_gen_is_set(g, NFTNL_GEN_ID)) {
		a->id = nftnl_gen_get_u32(g, NFTNL_GEN_ID);
		a->got = true;
	}
	nftnl_gen_free(g);
	return MNL_CB_OK;
}

/* A GETGEN request in buf (REQ_BUF_SIZE); flags NLM_F_ACK or 0. */
static struct nlmsghdr *gen_request(char *buf, uint16_t flags, uint32_t seq)
{
	return nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETGEN, AF_UNSPEC, flags, seq);
}

/* The ruleset's generation (every committed transaction adds one). 0 or -errno. */
static int get_gen(struct nft *n, uint32_t *gen)
{
	char buf[REQ_BUF_SIZE];
	struct gen_answer a = {0};
	int rc = request(n, gen_request(buf, NLM_F_ACK, n->seq++), gen_cb, &a);

	*gen = a.id;
	return rc ? rc : a.got ? 0 : -EBADMSG;
}

static int mon_membership(struct nft *n, int opt)
{
	int grp = NFNLGRP_NFTABLES;

	return mnl_socket_setsockopt(n->mon, opt, &grp, sizeof(grp)) < 0 ? -errno : 0;
}

/*
 * While a batch of ours runs, the notification socket leaves the group: with a
 * listener the kernel writes a notification per object and element, which
 * doubles the cost of a large batch, and ours are of no interest (and could
 * overflow the socket, which reads as a change by someone else). Returns true
 * when it left; *gen is the generation before.
 */
static bool mon_suspend(struct nft *n, uint32_t *gen)
{
	int rc;

	if (!n->mon)
		return false;
	rc = get_gen(n, gen);
	if (!rc)
		rc = mon_membership(n, NETLINK_DROP_MEMBERSHIP);
	if (rc)
		log_debug("nftables notifications: staying in the group: %s", strerror(-rc));
	return rc == 0;
}

/*
 * Back in the group. A generation other than gen plus our own commit means
 * someone else committed while we were not listening: the next drain says
 * changed, and a GETGEN answered on the notification socket makes it readable.
 */
static void mon_resume(struct nft *n, uint32_t gen, bool committed)
{
	char buf[REQ_BUF_SIZE];
	uint32_t now;

	if (mon_membership(n, NETLINK_ADD_MEMBERSHIP)) {
		log_warn("nftables notifications: rejoining the group");
		n->missed = true;
	} else if (get_gen(n, &now) || now != gen + (committed ? 1u : 0u)) {
		log_debug("nftables notifications: generation %u before our batch, %u after", gen,
		          now);
		n->missed = true;
	}
	if (n->missed) {
		struct nlmsghdr *nlh = gen_request(buf, 0, 0);

		if (mnl_socket_sendto(n->mon, nlh, nlh->nlmsg_len) < 0)
			log_warn("nftables notifications: waking the reader");
	}
}

int nft_send_raw(struct nft *n, const void *data, size_t blen, size_t nm, size_t *failed, char *why,
                 size_t len)
{
	uint32_t gen = 0;
	bool quiet = nm && mon_suspend(n, &gen);
	int rc = send_batch(n, data, blen, nm, failed, why, len);

	if (quiet)
		mon_resume(n, gen, rc == 0);
	return rc;
}

void nft_send_why(const struct sgc_batch *b, size_t failed, const char *detail, char *why,
                  size_t len)
{
	const char *origin;
	char d[NFT_WHY_MAX];

	if (!failed || failed > sgc_batch_nmsgs(b))
		return;
	origin = sgc_batch_msg_origin(b, failed);
	snprintf(d, sizeof(d), "%s", detail);
	snprintf(why, len, "nftables refused to %s%s%s: %s", sgc_batch_msg_what(b, failed),
	         origin[0] ? " for " : "", origin, d);
}

int nft_send(struct nft *n, const struct sgc_batch *b, size_t *failed, char *why, size_t len)
{
	size_t blen;
	const void *data = sgc_batch_data(b, &blen);
	int rc = nft_send_raw(n, data, blen, sgc_batch_nmsgs(b), failed, why, len);

	if (rc && *failed)
		nft_send_why(b, *failed, why, why, len);
	return rc;
}

/* Send one GET and feed each answer to cb until the ack or the dump's end. */
static int request(struct nft *n, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	uint32_t seq = nlh->nlmsg_seq;

	drain_stale(n);
	if (mnl_socket_sendto(n->cmd, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t r = recv_wait(n, REPLY_WAIT_MS);
		int rc;

		if (r < 0)
			return (int)r;
		rc = mnl_cb_run(n->rbuf, (size_t)r, seq, n->portid, cb, data);
		if (rc < 0)
			return errno ? -errno : -EIO;
		if (rc == MNL_CB_STOP)
			return 0;
	}
}

static int table_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nft_table_info *info = data;
	struct nftnl_table *t = nftnl_table_alloc();

	if (!t)
		return MNL_CB_ERROR;
	if (nftnl_table_nlmsg_parse(nlh, t) == 0) {
		info->exists = true;
		info->flags = nftnl_table_get_u32(t, NFTNL_TABLE_FLAGS);
		if (nftnl_table_is_set(t, NFTNL_TABLE_OWNER))
			info->owner = nftnl_table_get_u32(t, NFTNL_TABLE_OWNER);
		info->use = nftnl_table_get_u32(t, NFTNL_TABLE_USE);
	}
	nftnl_table_free(t);
	return MNL_CB_OK;
}

int nft_table_probe(struct nft *n, struct nft_table_info *info, char *why, size_t len)
{
	char buf[REQ_BUF_SIZE];
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;
	int rc;

	memset(info, 0, sizeof(*info));
	if (!t) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, SGC_TABLE);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, NFPROTO_INET, NLM_F_ACK, n->seq++);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	rc = request(n, nlh, table_cb, info);
	if (rc == -ENOENT) {
		memset(info, 0, sizeof(*info));
		return 0;
	}
	if (rc) {
		snprintf(why, len, "reading table inet %s: %s", SGC_TABLE, strerror(-rc));
		return rc;
	}
	info->ours = (info->flags & NFT_TABLE_F_OWNER) && info->owner == n->portid;
	return 0;
}

int nft_table_delete(struct nft *n, char *why, size_t len)
{
	struct nft_table_info info;
	struct sgc_batch *b = NULL;
	size_t failed;
	int rc;

	rc = nft_table_probe(n, &info, why, len);
	if (rc || !info.exists)
		return rc;
	rc = sgc_batch_full(NULL, &b);
	if (rc) {
		snprintf(why, len, "out of memory");
		return rc;
	}
	rc = nft_send(n, b, &failed, why, len);
	sgc_batch_free(b);
	if (rc == -ENOENT) /* gone meanwhile */
		rc = 0;
	return rc;
}

/* ---- reading the table back ---- */

struct dump {
	struct nftnl_chain_list *chains;
	struct nftnl_rule_list *rules;
	struct nftnl_set_list *sets;
	struct nftnl_obj_list *objs;
	struct nftnl_set *cur; /* set whose elements are being dumped */
};

static bool ours(const char *table, uint32_t family)
{
	return table && !strcmp(table, SGC_TABLE) && family == NFPROTO_INET;
}

static int chain_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump *d = data;
	struct nftnl_chain *c = nftnl_chain_alloc();

	if (!c)
		return MNL_CB_ERROR;
	if (nftnl_chain_nlmsg_parse(nlh, c) < 0 ||
	    !ours(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE),
	          nftnl_chain_get_u32(c, NFTNL_CHAIN_FAMILY))) {
		nftnl_chain_free(c);
		return MNL_CB_OK;
	}
	nftnl_chain_list_add_tail(c, d->chains);
	return MNL_CB_OK;
}

static int rule_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump *d = data;
	struct nftnl_rule *r = nftnl_rule_alloc();

	if (!r)
		return MNL_CB_ERROR;
	if (nftnl_rule_nlmsg_parse(nlh, r) < 0 || !ours(nftnl_rule_get_str(r, NFTNL_RULE_TABLE),
	                                                nftnl_rule_get_u32(r, NFTNL_RULE_FAMILY))) {
		nftnl_rule_free(r);
		return MNL_CB_OK;
	}
	nftnl_rule_list_add_tail(r, d->rules);
	return MNL_CB_OK;
}

static int set_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump *d = data;
	struct nftnl_set *s = nftnl_set_alloc();

	if (!s)
		return MNL_CB_ERROR;
	if (nftnl_set_nlmsg_parse(nlh, s) < 0 ||
	    !ours(nftnl_set_get_str(s, NFTNL_SET_TABLE), nftnl_set_get_u32(s, NFTNL_SET_FAMILY))) {
		nftnl_set_free(s);
		return MNL_CB_OK;
	}
	nftnl_set_list_add_tail(s, d->sets);
	return MNL_CB_OK;
}

static int elem_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump *d = data;

	return nftnl_set_elems_nlmsg_parse(nlh, d->cur) < 0 ? MNL_CB_ERROR : MNL_CB_OK;
}

static int obj_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump *d = data;
	struct nftnl_obj *o = nftnl_obj_alloc();

	if (!o)
		return MNL_CB_ERROR;
	if (nftnl_obj_nlmsg_parse(nlh, o) < 0 ||
	    !ours(nftnl_obj_get_str(o, NFTNL_OBJ_TABLE), nftnl_obj_get_u32(o, NFTNL_OBJ_FAMILY))) {
		nftnl_obj_free(o);
		return MNL_CB_OK;
	}
	nftnl_obj_list_add_tail(o, d->objs);
	return MNL_CB_OK;
}

/* Dump the counter objects of our table, each message to cb. */
static int request_counters(struct nft *n, mnl_cb_t cb, void *data)
{
	char buf[REQ_BUF_SIZE];
	struct nftnl_obj *q = nftnl_obj_alloc();
	struct nlmsghdr *nlh;

	if (!q)
		return -ENOMEM;
	nftnl_obj_set_str(q, NFTNL_OBJ_TABLE, SGC_TABLE);
	nftnl_obj_set_u32(q, NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETOBJ, NFPROTO_INET, NLM_F_DUMP, n->seq++);
	nftnl_obj_nlmsg_build_payload(nlh, q);
	nftnl_obj_free(q);
	return request(n, nlh, cb, data);
}

/* The raw answer of a dump: every message appended as the kernel sent it. */
struct raw {
	char *p;
	size_t len, cap;
	struct dump *d; /* also parse sets here (their names are needed for elements) */
};

static int raw_cb(const struct nlmsghdr *nlh, void *data)
{
	struct raw *r = data;
	size_t need = NLMSG_ALIGN(nlh->nlmsg_len);

	if (r->len + need > NFT_RAW_MAX)
		return MNL_CB_ERROR;
	if (r->len + need > r->cap) {
		size_t cap = r->cap ? r->cap : RBUF_SIZE;
		char *p;

		while (cap < r->len + need)
			cap *= 2;
		p = realloc(r->p, cap);
		if (!p)
			return MNL_CB_ERROR;
		r->p = p;
		r->cap = cap;
	}
	memcpy(r->p + r->len, nlh, nlh->nlmsg_len);
	memset(r->p + r->len + nlh->nlmsg_len, 0, need - nlh->nlmsg_len);
	r->len += need;
	return r->d ? set_cb(nlh, r->d) : MNL_CB_OK;
}

static int dump_set_elems(struct nftnl_set *s, void *data)
{
	struct nft *n = ((void **)data)[0];
	struct raw *r = ((void **)data)[1];
	char buf[REQ_BUF_SIZE];
	struct nftnl_set *q = nftnl_set_alloc();
	struct nlmsghdr *nlh;
	int rc;

	if (!q)
		return -1;
	nftnl_set_set_str(q, NFTNL_SET_TABLE, SGC_TABLE);
	nftnl_set_set_str(q, NFTNL_SET_NAME, nftnl_set_get_str(s, NFTNL_SET_NAME));
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETSETELEM, NFPROTO_INET, NLM_F_DUMP, n->seq++);
	nftnl_set_elems_nlmsg_build_payload(nlh, q);
	nftnl_set_free(q);
	rc = request(n, nlh, raw_cb, r);
	return rc ? -1 : 0;
}

/* Dump one object type of the table (a GET with only the table's name) into r. */
static int dump_type(struct nft *n, uint16_t type, struct raw *r)
{
	char buf[REQ_BUF_SIZE];
	struct nlmsghdr *nlh;

	nlh = nftnl_nlmsg_build_hdr(buf, type, NFPROTO_INET, NLM_F_DUMP, n->seq++);
	mnl_attr_put_strz(nlh, 1, SGC_TABLE); /* NFTA_{CHAIN,RULE,SET,OBJ}_TABLE */
	if (type == NFT_MSG_GETOBJ)
		mnl_attr_put_u32(nlh, NFTA_OBJ_TYPE, htobe32(NFT_OBJECT_COUNTER));
	return request(n, nlh, raw_cb, r);
}

int nft_table_dump(struct nft *n, struct nft_table_info *info, void **raw, size_t *rawlen,
                   char *why, size_t len)
{
	struct dump d = {0};
	struct raw r = {0};
	void *pair[2] = {n, &r};
	int rc;

	*raw = NULL;
	*rawlen = 0;
	why[0] = '\0';
	rc = nft_table_probe(n, info, why, len);
	if (rc || !info->exists)
		return rc;
	d.sets = nftnl_set_list_alloc();
	if (!d.sets)
		return -ENOMEM;
	rc = dump_type(n, NFT_MSG_GETCHAIN, &r);
	if (!rc)
		rc = dump_type(n, NFT_MSG_GETRULE, &r);
	if (!rc) {
		r.d = &d;
		rc = dump_type(n, NFT_MSG_GETSET, &r);
		r.d = NULL;
	}
	if (!rc && nftnl_set_list_foreach(d.sets, dump_set_elems, pair))
		rc = errno ? -errno : -EIO;
	if (!rc)
		rc = dump_type(n, NFT_MSG_GETOBJ, &r);
	nftnl_set_list_free(d.sets);
	if (rc == -ENOENT) { /* deleted while we read it */
		free(r.p);
		memset(info, 0, sizeof(*info));
		snprintf(why, len, "table inet %s vanished while being read", SGC_TABLE);
		return 1;
	}
	if (rc) {
		free(r.p);
		snprintf(why, len, "reading table inet %s: %s", SGC_TABLE, strerror(-rc));
		return rc;
	}
	*raw = r.p;
	*rawlen = r.len;
	return 0;
}

/* The set an element message is for, by the name it carries. */
static struct nftnl_set *elem_set(const struct nlmsghdr *nlh, struct nftnl_set_list *sets)
{
	const struct nlattr *a;

	ATTR_EACH(a, nlh, sizeof(struct nfgenmsg))
	{
		if (mnl_attr_get_type(a) == NFTA_SET_ELEM_LIST_SET &&
		    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0)
			return nftnl_set_list_lookup_byname(sets, mnl_attr_get_str(a));
	}
	return NULL;
}

/* Parse the raw dump into lists, one callback per message as a live dump would call. */
static int parse_raw(const void *raw, size_t rawlen, struct dump *d)
{
	const struct nlmsghdr *nlh;
	int left, rc = MNL_CB_OK;

	if (rawlen > NFT_RAW_MAX)
		return -EMSGSIZE;
	left = (int)rawlen;
	for (nlh = raw; rc == MNL_CB_OK && mnl_nlmsg_ok(nlh, left);
	     nlh = mnl_nlmsg_next(nlh, &left)) {
		if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(struct nfgenmsg))
			return -EBADMSG;
		switch (NFNL_MSG_TYPE(nlh->nlmsg_type)) {
		case NFT_MSG_NEWCHAIN: rc = chain_cb(nlh, d); break;
		case NFT_MSG_NEWRULE: rc = rule_cb(nlh, d); break;
		case NFT_MSG_NEWSET: rc = set_cb(nlh, d); break;
		case NFT_MSG_NEWOBJ: rc = obj_cb(nlh, d); break;
		case NFT_MSG_NEWSETELEM: {
			struct nftnl_set *s = elem_set(nlh, d->sets);

			if (!s)
				return -EBADMSG;
			d->cur = s;
			rc = elem_cb(nlh, d);
			break;
		}
		default: return -EBADMSG;
		}
	}
	if (rc != MNL_CB_OK)
		return -EBADMSG;
	return left == 0 ? 0 : -EBADMSG;
}

int nft_table_compare(const struct nft_table_info *info, const void *raw, size_t rawlen,
                      const struct sgc *c, char *why, size_t len)
{
	struct dump d = {0};
	int rc;

	if (!info->exists) {
		if (sgc_empty(c))
			return 0;
		snprintf(why, len, "table inet %s is missing", SGC_TABLE);
		return 1;
	}
	if (sgc_empty(c)) {
		snprintf(why, len, "table inet %s exists with nothing to enforce", SGC_TABLE);
		return 1;
	}
	if (info->flags != sgc_table_flags(c)) {
		snprintf(why, len, "table inet %s has flags 0x%x, not 0x%x%s", SGC_TABLE,
		         info->flags, sgc_table_flags(c),
		         info->flags & NFT_TABLE_F_OWNER ? "" : " (not owned)");
		return 1;
	}
	if ((info->flags & NFT_TABLE_F_OWNER) && !info->ours) {
		snprintf(why, len, "table inet %s is owned by another socket (port id %u)",
		         SGC_TABLE, info->owner);
		return 1;
	}
	d.chains = nftnl_chain_list_alloc();
	d.rules = nftnl_rule_list_alloc();
	d.sets = nftnl_set_list_alloc();
	d.objs = nftnl_obj_list_alloc();
	if (!d.chains || !d.rules || !d.sets || !d.objs) {
		rc = -ENOMEM;
		goto out;
	}
	rc = parse_raw(raw, rawlen, &d);
	if (rc) {
		snprintf(why, len, "reading table inet %s: %s", SGC_TABLE, strerror(-rc));
		goto out;
	}
	rc = sgc_check(c, d.chains, d.rules, d.sets, d.objs, why, len);
out:
	if (rc < 0 && !why[0])
		snprintf(why, len, "reading table inet %s: %s", SGC_TABLE, strerror(-rc));
	if (d.chains)
		nftnl_chain_list_free(d.chains);
	if (d.rules)
		nftnl_rule_list_free(d.rules);
	if (d.sets)
		nftnl_set_list_free(d.sets);
	if (d.objs)
		nftnl_obj_list_free(d.objs);
	return rc;
}

int nft_table_check(struct nft *n, const struct sgc *c, char *why, size_t len)
{
	struct nft_table_info info;
	void *raw;
	size_t rawlen;
	int rc = nft_table_dump(n, &info, &raw, &rawlen, why, len);

	if (rc)
		return rc;
	rc = nft_table_compare(&info, raw, rawlen, c, why, len);
	free(raw);
	return rc;
}

/* ---- counters ---- */

/* Counters kept per answer: two per security group. */
#define CTR_MAX (256u * 1024)

struct ctr_acc {
	struct kcounter *v;
	size_t n, cap;
	int err;
};

static int counter_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ctr_acc *acc = data;
	struct nftnl_obj *o = nftnl_obj_alloc();
	const char *name;
	int rc = MNL_CB_OK;

	if (!o)
		return MNL_CB_ERROR;
	if (nftnl_obj_nlmsg_parse(nlh, o) < 0 ||
	    !ours(nftnl_obj_get_str(o, NFTNL_OBJ_TABLE), nftnl_obj_get_u32(o, NFTNL_OBJ_FAMILY)) ||
	    nftnl_obj_get_u32(o, NFTNL_OBJ_TYPE) != NFT_OBJECT_COUNTER ||
	    !(name = nftnl_obj_get_str(o, NFTNL_OBJ_NAME)))
		goto out;
	if (strlen(name) >= sizeof(acc->v->name)) {
		log_warnx("nftables: counter %s: name too long to report", name);
		goto out;
	}
	acc->err = vr_grow((void **)&acc->v, &acc->cap, acc->n + 1, sizeof(*acc->v), CTR_MAX);
	if (acc->err) {
		rc = MNL_CB_ERROR;
		goto out;
	}
	snprintf(acc->v[acc->n].name, sizeof(acc->v[acc->n].name), "%s", name);
	acc->v[acc->n].packets = nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_PKTS);
	acc->v[acc->n].bytes = nftnl_obj_get_u64(o, NFTNL_OBJ_CTR_BYTES);
	acc->n++;
out:
	nftnl_obj_free(o);
	return rc;
}

int nft_counters(struct nft *n, struct kcounter **out, size_t *nout)
{
	struct ctr_acc acc = {0};
	int rc = request_counters(n, counter_cb, &acc);

	*out = NULL;
	*nout = 0;
	if (acc.err)
		rc = acc.err;
	if (rc == -ENOENT) /* no table, so no counters */
		rc = 0;
	if (rc) {
		free(acc.v);
		return rc;
	}
	*out = acc.v;
	*nout = acc.n;
	return 0;
}

/* ---- notifications ---- */

/* The table an nf_tables notification is about: attribute 1 of every object type. */
static const char *event_table(const struct nlmsghdr *nlh)
{
	const struct nlattr *a;

	if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(struct nfgenmsg))
		return NULL;
	ATTR_EACH(a, nlh, sizeof(struct nfgenmsg))
	{
		/* NFTA_TABLE_NAME, NFTA_CHAIN_TABLE, NFTA_RULE_TABLE, NFTA_SET_TABLE,
		 * NFTA_SET_ELEM_LIST_TABLE, NFTA_OBJ_TABLE, NFTA_FLOWTABLE_TABLE are all 1. */
		if (mnl_attr_get_type(a) == 1 && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0)
			return mnl_attr_get_str(a);
	}
	return NULL;
}

bool nft_events_drain(struct nft *n)
{
	int fd = n->mon ? mnl_socket_get_fd(n->mon) : -1;
	bool changed = n->missed;

	if (fd < 0)
		return false;
	n->missed = false;

	for (;;) {
		ssize_t r = recv(fd, n->rbuf, RBUF_SIZE, MSG_DONTWAIT);
		const struct nlmsghdr *nlh;
		int rl;

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) { /* lost some: assume the worst */
				changed = true;
				continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("nftables notifications");
			break;
		}
		rl = (int)r;
		for (nlh = (const struct nlmsghdr *)n->rbuf; mnl_nlmsg_ok(nlh, rl);
		     nlh = mnl_nlmsg_next(nlh, &rl)) {
			const struct nfgenmsg *g;
			const char *table;

			if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_NFTABLES ||
			    NFNL_MSG_TYPE(nlh->nlmsg_type) == NFT_MSG_NEWGEN ||
			    nlh->nlmsg_pid == n->portid ||
			    nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(*g))
				continue;
			g = mnl_nlmsg_get_payload(nlh);
			table = event_table(nlh);
			if (g->nfgen_family == NFPROTO_INET && table && !strcmp(table, SGC_TABLE))
				changed = true;
		}
	}
	return changed;
}

/* ---- the kernel_ops glue ---- */

static int ops_send(void *nft, const struct sgc_batch *b, size_t *failed, char *why, size_t len)
{
	return nft_send(nft, b, failed, why, len);
}

static int ops_check(void *nft, const struct sgc *c, char *why, size_t len)
{
	return nft_table_check(nft, c, why, len);
}

static int ops_delete(void *nft, char *why, size_t len)
{
	return nft_table_delete(nft, why, len);
}

static int ops_counters(void *nft, struct kcounter **out, size_t *n)
{
	return nft_counters(nft, out, n);
}

static int ops_events_fd(void *nft)
{
	return nft_events_fd(nft);
}

static bool ops_events_drain(void *nft)
{
	return nft_events_drain(nft);
}

int nft_attach(struct kernel_ops *k, char *why, size_t len)
{
	struct nft *n = NULL;
	int rc = nft_open(&n, why, len);

	if (rc)
		return rc;
	k->nft = n;
	k->nft_send = ops_send;
	k->nft_check = ops_check;
	k->nft_delete = ops_delete;
	k->nft_events_fd = ops_events_fd;
	k->nft_events_drain = ops_events_drain;
	k->nft_counters = ops_counters;
	return 0;
}

int nft_attach_query(struct kernel_ops *k, char *why, size_t len)
{
	struct nft *n = NULL;
	int rc = nft_open_sockets(&n, false, why, len);

	if (rc)
		return rc;
	k->nft = n;
	k->nft_counters = ops_counters;
	return 0;
}

void nft_detach(struct kernel_ops *k)
{
	if (!k)
		return;
	nft_close(k->nft);
	k->nft = NULL;
	k->nft_send = NULL;
	k->nft_check = NULL;
	k->nft_delete = NULL;
	k->nft_events_fd = NULL;
	k->nft_events_drain = NULL;
	k->nft_counters = NULL;
}
