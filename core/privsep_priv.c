/*
 * The privileged side of privilege separation (privsep.h): one loop per
 * channel, each with its own kernel handle, in the process that keeps
 * CAP_NET_ADMIN. It reads a request, has privsep_msg.c check it, calls the
 * real kernel (nl_kernel.c, nft.c) and writes the answer. It parses nothing
 * else: no HTTP, no JSON, no SQL, no security-group model. The query
 * channel's kernel answers questions only: its write operations are refused
 * like any malformed request. A refused request ends the channel, and the
 * process with it (the front then exits).
 */
#include "privsep.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "nft.h"

struct srv {
	int sock;
	bool query;
	int kev, nev; /* -1 on the query channel */
	struct kernel_ops k;
	bool open;
};

/* Operations the query channel never performs. */
#define PS_WRITES                                                                                  \
	((1u << PS_ROUTE_APPLY) | (1u << PS_ADDR_APPLY) | (1u << PS_RULE_APPLY) |                  \
	 (1u << PS_FWD_SET) | (1u << PS_NFT_ATTACH) | (1u << PS_NFT_SEND) |                        \
	 (1u << PS_NFT_DELETE) | (1u << PS_NFT_DUMP))

/* Which requests this channel serves now (bit = request type). */
static uint32_t served(const struct srv *s)
{
	const struct kernel_ops *k = &s->k;
	uint32_t m = 1u << PS_OPEN;

	if (!s->open)
		return m;
#define OP(bit, fn) (k->fn ? 1u << (bit) : 0)
	m |= OP(PS_ROUTE_DUMP, route_dump) | OP(PS_ROUTE_APPLY, route_apply) |
	     OP(PS_LINK_INDEX, link_index) | OP(PS_ADDR_DUMP, addr_dump) |
	     OP(PS_ADDR_APPLY, addr_apply) | OP(PS_RULE_DUMP, rule_dump) |
	     OP(PS_RULE_APPLY, rule_apply) | OP(PS_FWD_GET, forwarding_get) |
	     OP(PS_FWD_SET, forwarding_set) | OP(PS_LINKS_LIST, links_list) |
	     OP(PS_TABLES_IN_USE, tables_in_use) | OP(PS_ROUTE_GET, route_get) |
	     OP(PS_CT_FIND, ct_find) | OP(PS_CAPTURE_OPEN, capture_open) |
	     OP(PS_NFT_SEND, nft_send) | OP(PS_NFT_DUMP, nft_check) |
	     OP(PS_NFT_DELETE, nft_delete) | OP(PS_NFT_COUNTERS, nft_counters);
#undef OP
	if (!k->nft)
		m |= 1u << PS_NFT_ATTACH;
	if (s->query)
		m &= ~PS_WRITES;
	return m;
}

/* One answer: struct ps_answer, extra fixed bytes, then an array; fd goes along. */
static int answer(struct srv *s, uint32_t type, int rc, uint32_t aux, uint64_t n, const void *extra,
                  size_t elen, const void *arr, size_t alen, int fd)
{
	char fixed[sizeof(struct ps_answer) + sizeof(struct ps_nft_info) + PS_WHY_MAX +
	           sizeof(struct kroute_answer)];
	struct ps_answer a = {.rc = rc, .aux = aux, .n = n};

	memcpy(fixed, &a, sizeof(a));
	if (elen)
		memcpy(fixed + sizeof(a), extra, elen);
	return ps_send(s->sock, type, fixed, sizeof(a) + elen, arr, alen, fd);
}

static int answer_why(struct srv *s, uint32_t type, int rc, uint32_t aux, uint64_t n,
                      const char *why)
{
	char w[PS_WHY_MAX] = "";

	snprintf(w, sizeof(w), "%s", why);
	return answer(s, type, rc, aux, n, w, sizeof(w), NULL, 0, -1);
}

static int links_answer(struct srv *s, uint32_t type)
{
	struct klink *v = NULL;
	size_t n = 0, naddrs = 0;
	char *buf = NULL;
	int rc = s->k.links_list(s->k.ctx, &v, &n), wrc;

	if (!rc) {
		struct ps_link *l;
		struct prefix *p;

		for (size_t i = 0; i < n; i++)
			naddrs += v[i].naddrs;
		buf = calloc(1, n * sizeof(*l) + naddrs * sizeof(*p) + 1);
		if (!buf) {
			rc = -ENOMEM;
			n = 0;
		} else {
			l = (struct ps_link *)buf;
			p = (struct prefix *)(buf + n * sizeof(*l));
			for (size_t i = 0; i < n; i++) {
				l[i].ifindex = v[i].ifindex;
				memcpy(l[i].name, v[i].name, sizeof(l[i].name));
				l[i].up = v[i].up;
				l[i].lower_up = v[i].lower_up;
				memcpy(l[i].mac, v[i].mac, sizeof(l[i].mac));
				l[i].mtu = v[i].mtu;
				l[i].naddrs = (uint32_t)v[i].naddrs;
				memcpy(p, v[i].addrs, v[i].naddrs * sizeof(*p));
				p += v[i].naddrs;
			}
		}
	}
	wrc = answer(s, type, rc, 0, rc ? 0 : n, NULL, 0, buf,
	             rc ? 0 : n * sizeof(struct ps_link) + naddrs * sizeof(struct prefix), -1);
	free(buf);
	kernel_links_free(v, n);
	return wrc;
}

/* Dumps: an op that fills a malloc'd array of elem-byte elements. */
#define DUMP(call, elem)                                                                           \
	do {                                                                                       \
		void *v_ = NULL;                                                                   \
		size_t n_ = 0;                                                                     \
		int r_ = (call), w_;                                                               \
                                                                                                   \
		if (r_)                                                                            \
			n_ = 0;                                                                    \
		w_ = answer(s, type, r_, 0, n_, NULL, 0, v_, n_ * (elem), -1);                     \
		free(v_);                                                                          \
		return w_;                                                                         \
	} while (0)

/* Applies: n ops in, n results out. */
#define APPLY(fn, optype)                                                                          \
	do {                                                                                       \
		size_t n_ = blen / sizeof(optype);                                                 \
		int *res_ = calloc(n_ + 1, sizeof(int)), r_, w_;                                   \
                                                                                                   \
		if (!res_)                                                                         \
			return -ENOMEM;                                                            \
		r_ = s->k.fn(s->k.ctx, body, n_, res_);                                            \
		w_ = answer(s, type, r_, 0, n_, NULL, 0, res_, n_ * sizeof(int), -1);              \
		free(res_);                                                                        \
		return w_;                                                                         \
	} while (0)

static int open_kernel(struct srv *s)
{
	char why[PS_WHY_MAX];
	int rc;

	if (s->open)
		return -EALREADY;
	rc = s->query ? nl_kernel_open_query(&s->k) : nl_kernel_open(&s->k);
	if (rc)
		return rc;
	s->open = true;
	/*
	 * The query kernel reads counters: a read-only nftables handle of its own
	 * (no notification socket, no batches); without it diagnostics say the
	 * counters are not available.
	 */
	if (s->query && nft_attach_query(&s->k, why, sizeof(why)))
		log_warnx("nftables (counters for diagnostics): %s", why);
	return 0;
}

static int handle(struct srv *s, uint32_t type, void *body, size_t blen)
{
	struct kernel_ops *k = &s->k;
	char why[PS_WHY_MAX] = "";
	int rc;

	switch (type) {
	case PS_OPEN:
		rc = open_kernel(s);
		return answer(s, type, rc, served(s), 0, NULL, 0, NULL, 0, -1);
	case PS_NFT_ATTACH:
		rc = nft_attach(k, why, sizeof(why));
		return answer_why(s, type, rc, served(s), 0, why);
	case PS_ROUTE_DUMP:
		DUMP(k->route_dump(k->ctx, (struct kroute **)&v_, &n_), sizeof(struct kroute));
	case PS_ROUTE_APPLY: APPLY(route_apply, struct kroute_op);
	case PS_LINK_INDEX:
		rc = k->link_index(k->ctx, ((const struct ps_name *)body)->name);
		return answer(s, type, rc, 0, 0, NULL, 0, NULL, 0, -1);
	case PS_ADDR_DUMP:
		DUMP(k->addr_dump(k->ctx, (struct kaddr **)&v_, &n_), sizeof(struct kaddr));
	case PS_ADDR_APPLY: APPLY(addr_apply, struct kaddr_op);
	case PS_RULE_DUMP:
		DUMP(k->rule_dump(k->ctx, (struct krule **)&v_, &n_), sizeof(struct krule));
	case PS_RULE_APPLY: APPLY(rule_apply, struct krule_op);
	case PS_FWD_GET: {
		bool v4 = false, v6 = false;

		rc = k->forwarding_get(k->ctx, &v4, &v6);
		return answer(s, type, rc, (uint32_t)v4 | (uint32_t)v6 << 1, 0, NULL, 0, NULL, 0,
		              -1);
	}
	case PS_FWD_SET: {
		const struct ps_fwd *f = body;

		rc = k->forwarding_set(k->ctx, f->v4, f->v6);
		return answer(s, type, rc, 0, 0, NULL, 0, NULL, 0, -1);
	}
	case PS_LINKS_LIST: return links_answer(s, type);
	case PS_TABLES_IN_USE:
		DUMP(k->tables_in_use(k->ctx, (uint32_t **)&v_, &n_), sizeof(uint32_t));
	case PS_ROUTE_GET: {
		struct kroute_answer a;

		memset(&a, 0, sizeof(a));
		rc = k->route_get(k->ctx, body, &a);
		return answer(s, type, rc, 0, 0, &a, sizeof(a), NULL, 0, -1);
	}
	case PS_CT_FIND:
		DUMP(k->ct_find(k->ctx, body, (struct kflow **)&v_, &n_), sizeof(struct kflow));
	case PS_CAPTURE_OPEN: {
		const struct ps_capture *c = body;
		size_t n = (blen - sizeof(*c)) / sizeof(struct sock_filter);
		int fd =
		        k->capture_open(k->ctx, c->ifindex, (const struct sock_filter *)(c + 1), n),
		    w;

		w = answer(s, type, fd < 0 ? fd : 0, 0, 0, NULL, 0, NULL, 0, fd);
		if (fd >= 0)
			close(fd);
		return w;
	}
	case PS_NFT_SEND: {
		const struct ps_nft_send *ns = body;
		size_t failed = 0;

		rc = nft_send_raw(k->nft, ns + 1, blen - sizeof(*ns), (size_t)ns->nmsgs, &failed,
		                  why, sizeof(why));
		return answer_why(s, type, rc, 0, failed, why);
	}
	case PS_NFT_DUMP: {
		struct nft_table_info info;
		struct {
			struct ps_nft_info i;
			char why[PS_WHY_MAX];
		} x;
		void *raw = NULL;
		size_t rawlen = 0;
		int w;

		memset(&x, 0, sizeof(x));
		rc = nft_table_dump(k->nft, &info, &raw, &rawlen, x.why, sizeof(x.why));
		x.i = (struct ps_nft_info){.exists = info.exists,
		                           .ours = info.ours,
		                           .flags = info.flags,
		                           .owner = info.owner,
		                           .use = info.use};
		w = answer(s, type, rc, 0, rawlen, &x, sizeof(x), raw, rc ? 0 : rawlen, -1);
		free(raw);
		return w;
	}
	case PS_NFT_DELETE:
		rc = k->nft_delete(k->nft, why, sizeof(why));
		return answer_why(s, type, rc, 0, 0, why);
	case PS_NFT_COUNTERS:
		DUMP(k->nft_counters(k->nft, (struct kcounter **)&v_, &n_),
		     sizeof(struct kcounter));
	default: return -EBADMSG;
	}
}

/* Tell the front a resync is needed; a byte already waiting says as much. */
static void notify(int fd)
{
	if (fd >= 0 && write(fd, "!", 1) < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
		log_warn("privsep: notification");
}

static void check_events(struct srv *s)
{
	if (s->query || !s->open)
		return;
	if (s->k.events_drain && s->k.events_drain(s->k.ctx))
		notify(s->kev);
	if (s->k.nft && s->k.nft_events_drain(s->k.nft))
		notify(s->nev);
}

void privsep_serve(int sock, bool query, int kev, int nev)
{
	struct srv s = {.sock = sock, .query = query, .kev = kev, .nev = nev};
	const char *ch = query ? "query" : "reconciler";

	if (kev >= 0)
		fcntl(kev, F_SETFL, fcntl(kev, F_GETFL) | O_NONBLOCK);
	if (nev >= 0)
		fcntl(nev, F_SETFL, fcntl(nev, F_GETFL) | O_NONBLOCK);
	for (;;) {
		struct pollfd p[3] = {
		    {.fd = sock, .events = POLLIN},
		    {.fd = s.open && !query && s.k.events_fd ? s.k.events_fd(s.k.ctx) : -1,
		     .events = POLLIN},
		    {.fd = s.k.nft && !query ? s.k.nft_events_fd(s.k.nft) : -1, .events = POLLIN},
		};
		char why[PS_WHY_MAX];
		struct ps_hdr h;
		void *body = NULL;
		int rc;

		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_warn("privsep: poll");
			break;
		}
		if (p[1].revents || p[2].revents)
			check_events(&s);
		if (!p[0].revents)
			continue;
		rc = ps_recv(sock, &h, &body, NULL, ps_check_hdr, why, sizeof(why));
		if (rc == -EPIPE) {
			log_debug("privsep: the front closed the %s channel", ch);
			break;
		}
		if (!rc && !(served(&s) & (1u << h.type))) {
			snprintf(why, sizeof(why), "%s is not served on the %s channel%s",
			         ps_type_name(h.type), ch, s.open ? "" : " before open");
			rc = -EBADMSG;
		}
		if (!rc)
			rc = ps_check_body(h.type, body, h.len, why, sizeof(why));
		if (rc) {
			log_error("privsep: refused a request on the %s channel (%s); closing it",
			          ch, why[0] ? why : strerror(-rc));
			free(body);
			break;
		}
		rc = handle(&s, h.type, body, h.len);
		free(body);
		if (rc) {
			log_error("privsep: answering %s on the %s channel: %s",
			          ps_type_name(h.type), ch, strerror(-rc));
			break;
		}
		check_events(&s);
	}
	/* The nftables table stays (NFT_TABLE_F_PERSIST); sockets close with the process. */
}
