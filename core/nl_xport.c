/*
 * The netlink transport under the kernel adapter's object files (nl_int.h),
 * as libnetlink is under ip(8): two sockets of our own (requests, blocking
 * with a timeout; notifications, non-blocking), dumps read to NLMSG_DONE and
 * read again while torn, and batches. A batch is many requests per sendmsg,
 * each with NLM_F_ACK and its own sequence number; the acks are read back in
 * bulk (recvmmsg) and matched to the ops by sequence number: rtnetlink
 * handles every message of a batch on its own, so one failure never hides
 * another, and the extended ack's text says why. It knows no object type:
 * what a message means is for the file that built or asked for it.
 */
#include "nl_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "grow.h"
#include "log.h"

/* One datagram from the kernel; its dump skbs are at most 32 KiB. */
#define NLX_RECV_MAX (64 * 1024)
/* Requests per sendmsg, and their bytes: each op costs one ack skb in the receive buffer. */
#define NLX_BATCH_OPS 512
#define NLX_BATCH_BYTES (128 * 1024)
/* Upper bound for the buffer space the kernel charges per ack; sized conservatively. */
#define NLX_ACK_COST 2048
/* Room for one ack in a recvmmsg slot: nlmsghdr + nlmsgerr + extack text. */
#define NLX_ACK_SLOT 1024
/* The largest family header of a dump request (ifinfomsg is 16 bytes). */
#define NLX_DUMP_HDR_MAX 32
#define NLX_REQ_RCVBUF (4 * 1024 * 1024)
#define NLX_REQ_SNDBUF (1024 * 1024)
#define NLX_EV_RCVBUF (8 * 1024 * 1024)
/* A kernel that never answers is a broken socket, not a slow one. */
#define NLX_TIMEOUT_S 30
#define NLX_DUMP_TRIES 5

struct nl_xport {
	struct nl_sock *req; /* requests and dumps; blocking, with a timeout */
	struct nl_sock *ev;  /* notifications; non-blocking; NULL when not asked for */
	uint32_t req_port;   /* our port: notifications of our own requests carry it */
	uint32_t seq;
	size_t batch_ops;
	size_t batch_bytes;
	uint8_t *rbuf;   /* NLX_RECV_MAX: dump answers and notifications */
	uint8_t *sbuf;   /* NLX_BATCH_BYTES */
	size_t *pending; /* batch position -> op index, SIZE_MAX once answered */
	uint8_t *ackbuf; /* NLX_BATCH_OPS * NLX_ACK_SLOT */
	struct iovec *iov;
	struct mmsghdr *mm;
};

int nl_xport_parse(const struct nlmsghdr *h, int hdrlen, struct nlattr **tb, int max)
{
	/* libnl only reads the message; its prototype lacks the const. */
	return nlmsg_parse((struct nlmsghdr *)(uintptr_t)h, hdrlen, tb, max, NULL);
}

int nl_xport_errno(int nle)
{
	switch (nle < 0 ? -nle : nle) {
	case NLE_NOMEM: return -ENOMEM;
	case NLE_PERM: return -EPERM;
	case NLE_AF_NOSUPPORT: return -EAFNOSUPPORT;
	case NLE_RANGE:
	case NLE_INVAL: return -EINVAL;
	case NLE_MSGSIZE: return -EMSGSIZE;
	case NLE_OPNOTSUPP: return -EOPNOTSUPP;
	case NLE_PROTO_MISMATCH: return -EPROTONOSUPPORT;
	case NLE_OBJ_NOTFOUND: return -ENOENT;
	case NLE_NOACCESS: return -EACCES;
	case NLE_BUSY: return -EBUSY;
	case NLE_NODEV: return -ENODEV;
	case NLE_AGAIN: return -EAGAIN;
	default: return -EIO;
	}
}

bool nl_xport_reason(int err, char *buf, size_t len)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case ENOBUFS:
		snprintf(buf, len, "the kernel's answer was lost; will retry (%s)", strerror(err));
		return true;
	case ENOMEM: snprintf(buf, len, "out of memory (%s)", strerror(err)); return true;
	case ETIMEDOUT:
		snprintf(buf, len, "the kernel did not answer (%s)", strerror(err));
		return true;
	default: return false;
	}
}

/* A growth's result, the refusal logged. */
static int grow_logged(int err, size_t max, const char *what)
{
	if (err == -E2BIG)
		log_warnx("netlink: more than %zu %s, dump refused", max, what);
	return err;
}

int nl_xport_grow(void **v, size_t *cap, size_t n, size_t size, size_t max, const char *what)
{
	return grow_logged(vr_grow(v, cap, n + 1, size, max), max, what);
}

int nl_xport_grow_raw(void **v, size_t *cap, size_t n, size_t size, size_t max, const char *what)
{
	return grow_logged(vr_grow_raw(v, cap, n + 1, size, max), max, what);
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

static int open_req(struct nl_xport *x)
{
	struct sockaddr_nl sa;
	socklen_t salen = sizeof(sa);
	struct timeval tv = {.tv_sec = NLX_TIMEOUT_S};
	int one = 1, fd, err, rcv, snd;

	x->req = nl_socket_alloc();
	if (!x->req)
		return -ENOMEM;
	err = nl_connect(x->req, NETLINK_ROUTE);
	if (err < 0) {
		log_warnx("netlink: cannot open a route socket: %s", nl_geterror(err));
		return nl_xport_errno(err);
	}
	fd = nl_socket_get_fd(x->req);
	if (getsockname(fd, (struct sockaddr *)&sa, &salen) < 0)
		return -errno;
	x->req_port = sa.nl_pid;
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
	rcv = set_buf(fd, SO_RCVBUFFORCE, SO_RCVBUF, NLX_REQ_RCVBUF);
	snd = set_buf(fd, SO_SNDBUFFORCE, SO_SNDBUF, NLX_REQ_SNDBUF);
	x->batch_ops = (size_t)rcv / NLX_ACK_COST;
	if (x->batch_ops > NLX_BATCH_OPS)
		x->batch_ops = NLX_BATCH_OPS;
	if (x->batch_ops < 1)
		x->batch_ops = 1;
	x->batch_bytes = NLX_BATCH_BYTES;
	if (snd > 0 && (size_t)snd / 2 < x->batch_bytes)
		x->batch_bytes = (size_t)snd / 2;
	if (x->batch_bytes < NL_MSG_MAX)
		x->batch_bytes = NL_MSG_MAX;
	log_debug("netlink: up to %zu requests (%zu bytes) per batch", x->batch_ops,
	          x->batch_bytes);
	return 0;
}

static int open_ev(struct nl_xport *x, const unsigned *groups, size_t ngroups)
{
	int err;

	x->ev = nl_socket_alloc();
	if (!x->ev)
		return -ENOMEM;
	nl_socket_disable_seq_check(x->ev);
	err = nl_connect(x->ev, NETLINK_ROUTE);
	if (err < 0) {
		log_warnx("netlink: cannot open the event socket: %s", nl_geterror(err));
		return nl_xport_errno(err);
	}
	for (size_t i = 0; i < ngroups; i++) {
		err = nl_socket_add_membership(x->ev, (int)groups[i]);
		if (err < 0) {
			log_warnx("netlink: cannot join notification group %u: %s", groups[i],
			          nl_geterror(err));
			return nl_xport_errno(err);
		}
	}
	err = nl_socket_set_nonblocking(x->ev);
	if (err < 0)
		return nl_xport_errno(err);
	/* A big apply echoes a notification per request; overflow only costs a resync. */
	set_buf(nl_socket_get_fd(x->ev), SO_RCVBUFFORCE, SO_RCVBUF, NLX_EV_RCVBUF);
	return 0;
}

void nl_xport_free(struct nl_xport *x)
{
	if (!x)
		return;
	nl_socket_free(x->req);
	nl_socket_free(x->ev);
	free(x->rbuf);
	free(x->sbuf);
	free(x->pending);
	free(x->ackbuf);
	free(x->iov);
	free(x->mm);
	free(x);
}

int nl_xport_open(struct nl_xport **out, const unsigned *groups, size_t ngroups)
{
	struct nl_xport *x;
	int err;

	*out = NULL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->rbuf = malloc(NLX_RECV_MAX);
	x->sbuf = malloc(NLX_BATCH_BYTES);
	x->pending = calloc(NLX_BATCH_OPS, sizeof(*x->pending));
	x->ackbuf = malloc((size_t)NLX_BATCH_OPS * NLX_ACK_SLOT);
	x->iov = calloc(NLX_BATCH_OPS, sizeof(*x->iov));
	x->mm = calloc(NLX_BATCH_OPS, sizeof(*x->mm));
	if (!x->rbuf || !x->sbuf || !x->pending || !x->ackbuf || !x->iov || !x->mm) {
		err = -ENOMEM;
		goto out;
	}
	err = open_req(x);
	if (!err && groups)
		err = open_ev(x, groups, ngroups);
	if (err)
		goto out;
	*out = x;
	x = NULL;
out:
	nl_xport_free(x);
	return err;
}

uint32_t nl_xport_port(const struct nl_xport *x)
{
	return x->req_port;
}

/* Send len bytes to the kernel on the request socket. */
static int send_req(struct nl_xport *x, const void *buf, size_t len)
{
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	ssize_t n;

	do
		n = sendto(nl_socket_get_fd(x->req), buf, len, 0, (struct sockaddr *)&kernel,
		           sizeof(kernel));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		log_warn("netlink: sending %zu bytes", len);
		return -errno;
	}
	return 0;
}

/* One datagram from sk into x->rbuf; its length or -errno (-EMSGSIZE when truncated). */
static ssize_t recv_one(struct nl_xport *x, struct nl_sock *sk, int flags)
{
	struct iovec iov = {.iov_base = x->rbuf, .iov_len = NLX_RECV_MAX};
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
 * Send req (its sequence number is filled in here) and hand every message
 * of the answer to cb until NLMSG_DONE, or until the ack when acked (a
 * request sent with NLM_F_ACK: an ack with error 0 ends it). Sets *intr
 * when the kernel marked a dump torn. A refusal is logged only for a dump:
 * a request's error is its answer.
 */
static int exchange(struct nl_xport *x, struct nlmsghdr *req, const char *what, bool acked,
                    int (*cb)(struct nlmsghdr *h, void *arg), void *arg, bool *intr)
{
	uint32_t seq = ++x->seq;
	int err;

	req->nlmsg_seq = seq;
	err = send_req(x, req, req->nlmsg_len);
	if (err)
		return err;

	for (;;) {
		ssize_t len = recv_one(x, x->req, 0);
		struct nlmsghdr *h;
		int left;

		if (len < 0) {
			errno = (int)-len;
			log_warn("netlink: reading the %s answer", what);
			return len == -EAGAIN ? -ETIMEDOUT : (int)len;
		}
		left = (int)len;
		for (h = (struct nlmsghdr *)x->rbuf; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
			/* Leftovers of an earlier exchange are not ours to read. */
			if (h->nlmsg_seq != seq)
				continue;
			if (h->nlmsg_flags & NLM_F_DUMP_INTR)
				*intr = true;
			if (h->nlmsg_type == NLMSG_DONE) {
				int derr = 0;

				if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(int)))
					memcpy(&derr, nl_data(h), sizeof(derr));
				if (derr < 0)
					log_warnx("netlink: %s dump failed: %s", what,
					          strerror(-derr));
				return derr < 0 ? derr : 0;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = nl_data(h);

				if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
					return -EBADMSG;
				if (acked)
					return e->error > 0 ? -e->error : e->error;
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

int nl_xport_request(struct nl_xport *x, struct nlmsghdr *req, const char *what,
                     int (*cb)(struct nlmsghdr *h, void *arg), void *arg)
{
	bool intr = false;

	req->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	return exchange(x, req, what, true, cb, arg, &intr);
}

int nl_xport_dump(struct nl_xport *x, const struct nl_xport_dump *d)
{
	struct {
		struct nlmsghdr h;
		uint8_t body[NLX_DUMP_HDR_MAX];
	} req;

	if (d->hlen < 1 || d->hlen > sizeof(req.body))
		return -EINVAL;
	for (int tries = 0; tries < NLX_DUMP_TRIES; tries++) {
		bool intr = false;

		*d->count = 0;
		for (size_t f = 0; f < d->nfamilies; f++) {
			int err;

			memset(&req, 0, sizeof(req));
			req.h.nlmsg_len = NLMSG_LENGTH(d->hlen);
			req.h.nlmsg_type = d->type;
			req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
			memcpy(req.body, d->hdr, d->hlen);
			req.body[0] = (uint8_t)d->families[f];
			err = exchange(x, &req.h, d->what, false, d->cb, d->arg, &intr);
			if (err)
				return err;
		}
		/* The objects changed under the dump: what we read may be torn, read again. */
		if (!intr || d->torn_ok)
			return 0;
		log_debug("netlink: %s dump interrupted, retrying", d->what);
	}
	log_warnx("netlink: the %s dump kept changing under us (%d tries)", d->what,
	          NLX_DUMP_TRIES);
	return -EAGAIN;
}

/* Append msg to the batch buffer at *off; -ENOSPC when it does not fit. */
static int append_msg(struct nl_xport *x, struct nl_msg *msg, size_t *off)
{
	struct nlmsghdr *h = nlmsg_hdr(msg);

	if (*off + NLMSG_ALIGN(h->nlmsg_len) > x->batch_bytes)
		return -ENOSPC;
	memcpy(x->sbuf + *off, h, h->nlmsg_len);
	memset(x->sbuf + *off + h->nlmsg_len, 0, NLMSG_ALIGN(h->nlmsg_len) - h->nlmsg_len);
	*off += NLMSG_ALIGN(h->nlmsg_len);
	return 0;
}

/* The kernel's own words for a failed request, when it gave some (extended ack). */
static const char *ack_text(const struct nlmsghdr *h, size_t len)
{
	const struct nlmsgerr *e = nl_data(h);
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

/*
 * Take the acks out of one datagram. A truncated datagram still holds the
 * header and error code of its first ack, which is all we need.
 */
static void take_acks(struct nl_xport *x, const uint8_t *buf, size_t len, uint32_t base,
                      size_t count, const struct nl_xport_batch *b, size_t *got)
{
	while (len >= NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
		const struct nlmsghdr *h = (const void *)buf;
		size_t mlen = h->nlmsg_len < len ? h->nlmsg_len : len;
		uint32_t pos = h->nlmsg_seq - base;

		if (h->nlmsg_type == NLMSG_ERROR && pos < count && x->pending[pos] != SIZE_MAX) {
			const struct nlmsgerr *e = nl_data(h);
			size_t i = x->pending[pos];

			b->res[i] = e->error > 0 ? -e->error : e->error;
			if (b->res[i] && b->failed)
				b->failed(b->arg, i, b->res[i], ack_text(h, mlen));
			x->pending[pos] = SIZE_MAX;
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
static int read_acks(struct nl_xport *x, uint32_t base, size_t count,
                     const struct nl_xport_batch *b)
{
	int fd = nl_socket_get_fd(x->req);
	size_t got = 0;
	bool lost = false;
	int err = 0;

	while (got < count) {
		size_t want = count - got;
		int n;

		for (size_t s = 0; s < want; s++) {
			x->iov[s].iov_base = x->ackbuf + s * NLX_ACK_SLOT;
			x->iov[s].iov_len = NLX_ACK_SLOT;
			memset(&x->mm[s].msg_hdr, 0, sizeof(x->mm[s].msg_hdr));
			x->mm[s].msg_hdr.msg_iov = &x->iov[s];
			x->mm[s].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(fd, x->mm, (unsigned)want, lost ? MSG_DONTWAIT : MSG_WAITFORONE, NULL);
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
			take_acks(x, x->ackbuf + (size_t)s * NLX_ACK_SLOT,
			          x->mm[s].msg_len < NLX_ACK_SLOT ? x->mm[s].msg_len : NLX_ACK_SLOT,
			          base, count, b, &got);
	}
	for (size_t pos = 0; pos < count; pos++)
		if (x->pending[pos] != SIZE_MAX)
			b->res[x->pending[pos]] = err ? err : -ENOBUFS;
	return err;
}

int nl_xport_batch_step(struct nl_xport *x, struct nl_xport_batch *b)
{
	uint32_t base = x->seq + 1;
	size_t off = 0, count = 0;
	int err;

	while (b->next < b->n && count < x->batch_ops) {
		struct nl_msg *msg = NULL;
		int e = b->build(b->arg, b->next, base + (uint32_t)count, &msg);

		if (!e)
			e = append_msg(x, msg, &off);
		nlmsg_free(msg);
		if (e == -ENOSPC && count > 0)
			break; /* the batch is full: this op opens the next one */
		if (e) {
			b->res[b->next++] = e;
			continue;
		}
		x->pending[count++] = b->next++;
	}
	if (!count)
		return 0;
	x->seq = base + (uint32_t)count - 1;
	err = send_req(x, x->sbuf, off);
	if (err) {
		for (size_t pos = 0; pos < count; pos++)
			b->res[x->pending[pos]] = err;
	} else {
		err = read_acks(x, base, count, b);
	}
	/* The socket failed: nothing after the broken batch is attempted. */
	for (; err && b->next < b->n; b->next++)
		b->res[b->next] = err;
	return err;
}

int nl_xport_events_fd(const struct nl_xport *x)
{
	return x->ev ? nl_socket_get_fd(x->ev) : -1;
}

ssize_t nl_xport_events_read(struct nl_xport *x, struct nlmsghdr **msgs)
{
	*msgs = (struct nlmsghdr *)x->rbuf;
	return x->ev ? recv_one(x, x->ev, MSG_DONTWAIT) : -ENOTCONN;
}
