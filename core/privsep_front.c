/*
 * The front's side of privilege separation (privsep.h): the fork, and
 * kernel_ops proxies that turn each call into one request on a channel and
 * read its one answer back. Answers are checked as strictly as requests
 * (type, lengths against the element counts, strings terminated): a channel
 * whose answer is malformed, or whose privileged end is gone, is dead, and
 * every later call on it fails with -EPIPE (the front exits: serve() in
 * server/main.c watches privsep_life_fd).
 */
#include "privsep.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "nft.h"
#include "sgc.h"

struct chan {
	int sock;
	int kev, nev; /* the notification channels (recon only), else -1 */
	pthread_mutex_t lock;
	uint32_t mask; /* requests the privileged side serves */
	bool dead;
	const char *name;
};

struct privsep {
	struct chan recon, query;
	int kev, nev, life;
	pid_t pid;
};

/* ---- one round trip ---- */

struct reply {
	struct ps_answer a;
	void *arr; /* what follows the answer and the extra bytes (malloc'd, NULL if none) */
	size_t alen;
	int fd; /* a descriptor that came with it, else -1 */
};

static int dead(struct chan *c, const char *what, int rc)
{
	if (!c->dead)
		log_error("privsep: %s channel: %s; kernel operations fail from now on", c->name,
		          what);
	c->dead = true;
	return rc < 0 ? rc : -EPIPE;
}

/*
 * Send a request (fixed bytes, then an array) and read its answer: extra
 * must receive exactly elen bytes after struct ps_answer. 0 (the op's own
 * result is r->a.rc) or -errno for the channel.
 */
static int call(struct chan *c, uint32_t type, const void *fixed, size_t flen, const void *arr,
                size_t alen, void *extra, size_t elen, struct reply *r)
{
	char why[256];
	struct ps_hdr h;
	void *body = NULL;
	int rc;

	memset(r, 0, sizeof(*r));
	r->fd = -1;
	if (!(c->mask & (1u << type)))
		return -EOPNOTSUPP;
	if (flen + alen > PS_BODY_MAX)
		return -EMSGSIZE;
	pthread_mutex_lock(&c->lock);
	if (c->dead) {
		pthread_mutex_unlock(&c->lock);
		return -EPIPE;
	}
	rc = ps_send(c->sock, type, fixed, flen, arr, alen, -1);
	if (rc) {
		rc = dead(c, strerror(-rc), rc);
		goto out;
	}
	rc = ps_recv(c->sock, &h, &body, &r->fd, NULL, why, sizeof(why));
	if (rc) {
		rc = dead(c,
		          why[0]         ? why
		          : rc == -EPIPE ? "the privileged process is gone"
		                         : strerror(-rc),
		          rc);
		goto out;
	}
	if (h.type != type || h.len < sizeof(r->a) + elen) {
		rc = dead(c, "a malformed answer", -EBADMSG);
		goto out;
	}
	memcpy(&r->a, body, sizeof(r->a));
	if (elen)
		memcpy(extra, (char *)body + sizeof(r->a), elen);
	r->alen = h.len - sizeof(r->a) - elen;
	if (r->alen) {
		r->arr = malloc(r->alen);
		if (!r->arr) {
			rc = dead(c, "out of memory", -ENOMEM);
			goto out;
		}
		memcpy(r->arr, (char *)body + sizeof(r->a) + elen, r->alen);
	}
out:
	pthread_mutex_unlock(&c->lock);
	free(body);
	if (rc && r->fd >= 0) {
		close(r->fd);
		r->fd = -1;
	}
	if (rc) {
		free(r->arr);
		r->arr = NULL;
	}
	return rc;
}

static void reply_free(struct reply *r)
{
	free(r->arr);
	if (r->fd >= 0)
		close(r->fd);
}

/* An answer whose array must be exactly a.n elements of elem bytes. */
static int call_array(struct chan *c, uint32_t type, const void *fixed, size_t flen, size_t elem,
                      void **out, size_t *n)
{
	struct reply r;
	int rc = call(c, type, fixed, flen, NULL, 0, NULL, 0, &r);

	*out = NULL;
	*n = 0;
	if (rc)
		return rc;
	if (r.a.rc) {
		reply_free(&r);
		return r.a.rc;
	}
	if (r.a.n > PS_BODY_MAX / elem || r.a.n * elem != r.alen) {
		reply_free(&r);
		return dead(c, "an answer whose length does not match its count", -EBADMSG);
	}
	*out = r.arr ? r.arr : calloc(1, elem);
	*n = (size_t)r.a.n;
	return *out ? 0 : -ENOMEM;
}

/* An answer with no array: its rc (and aux). */
static int call_rc(struct chan *c, uint32_t type, const void *fixed, size_t flen, uint32_t *aux)
{
	struct reply r;
	int rc = call(c, type, fixed, flen, NULL, 0, NULL, 0, &r);

	if (rc)
		return rc;
	if (r.alen || r.fd >= 0) {
		reply_free(&r);
		return dead(c, "an answer with unexpected content", -EBADMSG);
	}
	if (aux)
		*aux = r.a.aux;
	return r.a.rc;
}

/* Applies: n ops, n results. */
static int call_apply(struct chan *c, uint32_t type, const void *ops, size_t n, size_t elem,
                      int *res)
{
	struct reply r;
	int rc = call(c, type, NULL, 0, ops, n * elem, NULL, 0, &r);

	if (!rc && (r.a.n != n || r.alen != n * sizeof(int)))
		rc = dead(c, "an apply answer with the wrong number of results", -EBADMSG);
	if (rc) {
		for (size_t i = 0; i < n; i++)
			res[i] = rc;
		return rc;
	}
	if (n)
		memcpy(res, r.arr, n * sizeof(int));
	reply_free(&r);
	return r.a.rc;
}

/* ---- kernel_ops ---- */

static int p_route_dump(void *ctx, struct kroute **out, size_t *n)
{
	return call_array(ctx, PS_ROUTE_DUMP, NULL, 0, sizeof(**out), (void **)out, n);
}

static int p_route_apply(void *ctx, const struct kroute_op *ops, size_t n, int *res)
{
	return call_apply(ctx, PS_ROUTE_APPLY, ops, n, sizeof(*ops), res);
}

static int p_link_index(void *ctx, const char *name)
{
	struct ps_name q;
	int rc;

	memset(&q, 0, sizeof(q));
	if (strlen(name) >= sizeof(q.name))
		return 0; /* no link has such a name */
	memcpy(q.name, name, strlen(name));
	rc = call_rc(ctx, PS_LINK_INDEX, &q, sizeof(q), NULL);
	return rc > 0 ? rc : 0;
}

static int p_events_fd(void *ctx)
{
	return ((struct chan *)ctx)->kev;
}

/* Read every waiting notification byte: true when there was one. */
static bool drain_fd(int fd)
{
	char buf[64];
	bool any = false;

	for (;;) {
		ssize_t r = read(fd, buf, sizeof(buf));

		if (r > 0) {
			any = true;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		return any;
	}
}

static bool p_events_drain(void *ctx)
{
	return drain_fd(((struct chan *)ctx)->kev);
}

static int p_addr_dump(void *ctx, struct kaddr **out, size_t *n)
{
	return call_array(ctx, PS_ADDR_DUMP, NULL, 0, sizeof(**out), (void **)out, n);
}

static int p_addr_apply(void *ctx, const struct kaddr_op *ops, size_t n, int *res)
{
	return call_apply(ctx, PS_ADDR_APPLY, ops, n, sizeof(*ops), res);
}

static int p_rule_dump(void *ctx, struct krule **out, size_t *n)
{
	return call_array(ctx, PS_RULE_DUMP, NULL, 0, sizeof(**out), (void **)out, n);
}

static int p_rule_apply(void *ctx, const struct krule_op *ops, size_t n, int *res)
{
	return call_apply(ctx, PS_RULE_APPLY, ops, n, sizeof(*ops), res);
}

static int p_forwarding_get(void *ctx, bool *v4, bool *v6)
{
	uint32_t aux = 0;
	int rc = call_rc(ctx, PS_FWD_GET, NULL, 0, &aux);

	*v4 = aux & 1;
	*v6 = aux & 2;
	return rc;
}

static int p_forwarding_set(void *ctx, bool v4, bool v6)
{
	struct ps_fwd f = {.v4 = v4, .v6 = v6};

	return call_rc(ctx, PS_FWD_SET, &f, sizeof(f), NULL);
}

static int p_links_list(void *ctx, struct klink **out, size_t *nout)
{
	struct chan *c = ctx;
	struct reply r;
	struct klink *v = NULL;
	const struct ps_link *l;
	const struct prefix *p;
	size_t n, naddrs = 0;
	int rc = call(c, PS_LINKS_LIST, NULL, 0, NULL, 0, NULL, 0, &r);

	*out = NULL;
	*nout = 0;
	if (rc)
		return rc;
	if (r.a.rc) {
		reply_free(&r);
		return r.a.rc;
	}
	n = (size_t)r.a.n;
	l = r.arr;
	if (r.a.n > r.alen / sizeof(*l))
		goto bad;
	for (size_t i = 0; i < n; i++) {
		if (!memchr(l[i].name, '\0', sizeof(l[i].name)) ||
		    !memchr(l[i].mac, '\0', sizeof(l[i].mac)) || l[i].naddrs > r.alen / sizeof(*p))
			goto bad;
		naddrs += l[i].naddrs;
	}
	if (n * sizeof(*l) + naddrs * sizeof(*p) != r.alen)
		goto bad;
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v) {
		reply_free(&r);
		return -ENOMEM;
	}
	p = (const struct prefix *)((const char *)r.arr + n * sizeof(*l));
	for (size_t i = 0; i < n; i++) {
		v[i].ifindex = l[i].ifindex;
		memcpy(v[i].name, l[i].name, sizeof(v[i].name));
		v[i].up = l[i].up;
		v[i].lower_up = l[i].lower_up;
		memcpy(v[i].mac, l[i].mac, sizeof(v[i].mac));
		v[i].mtu = l[i].mtu;
		if (l[i].naddrs) {
			v[i].addrs = malloc(l[i].naddrs * sizeof(*p));
			if (!v[i].addrs) {
				kernel_links_free(v, n);
				reply_free(&r);
				return -ENOMEM;
			}
			memcpy(v[i].addrs, p, l[i].naddrs * sizeof(*p));
			v[i].naddrs = l[i].naddrs;
			p += l[i].naddrs;
		}
	}
	reply_free(&r);
	*out = v;
	*nout = n;
	return 0;
bad:
	reply_free(&r);
	return dead(c, "a malformed links answer", -EBADMSG);
}

static int p_tables_in_use(void *ctx, uint32_t **out, size_t *n)
{
	return call_array(ctx, PS_TABLES_IN_USE, NULL, 0, sizeof(**out), (void **)out, n);
}

static int p_route_get(void *ctx, const struct kroute_query *q, struct kroute_answer *a)
{
	struct reply r;
	int rc = call(ctx, PS_ROUTE_GET, q, sizeof(*q), NULL, 0, a, sizeof(*a), &r);

	if (rc)
		return rc;
	reply_free(&r);
	return r.alen ? dead(ctx, "a malformed route_get answer", -EBADMSG) : r.a.rc;
}

static int p_ct_find(void *ctx, const struct kflow_query *q, struct kflow **out, size_t *n)
{
	return call_array(ctx, PS_CT_FIND, q, sizeof(*q), sizeof(**out), (void **)out, n);
}

static int p_capture_open(void *ctx, int ifindex, const struct sock_filter *prog, size_t len)
{
	struct ps_capture c = {.ifindex = ifindex};
	struct reply r;
	int rc, fd;

	if (ifindex <= 0 || !len || len > PS_BPF_MAX)
		return -EINVAL;
	rc = call(ctx, PS_CAPTURE_OPEN, &c, sizeof(c), prog, len * sizeof(*prog), NULL, 0, &r);
	if (rc)
		return rc;
	fd = r.fd;
	r.fd = -1;
	reply_free(&r);
	if (r.a.rc < 0) {
		if (fd >= 0)
			close(fd);
		return r.a.rc;
	}
	return fd >= 0 ? fd : dead(ctx, "a capture answer without its descriptor", -EBADMSG);
}

/* nftables: nft is the channel too. */

static int p_nft_send(void *nft, const struct sgc_batch *b, size_t *failed, char *why, size_t len)
{
	struct ps_nft_send s = {.nmsgs = sgc_batch_nmsgs(b)};
	char w[PS_WHY_MAX];
	struct reply r;
	size_t blen;
	const void *data = sgc_batch_data(b, &blen);
	int rc;

	*failed = 0;
	why[0] = '\0';
	if (!s.nmsgs)
		return 0;
	rc = call(nft, PS_NFT_SEND, &s, sizeof(s), data, blen, w, sizeof(w), &r);
	if (rc) {
		snprintf(why, len, "nftables batch: %s", strerror(-rc));
		return rc;
	}
	reply_free(&r);
	if (r.alen || r.a.n > s.nmsgs || !memchr(w, '\0', sizeof(w)))
		return dead(nft, "a malformed nft_send answer", -EBADMSG);
	*failed = (size_t)r.a.n;
	snprintf(why, len, "%s", w);
	if (r.a.rc && *failed)
		nft_send_why(b, *failed, w, why, len);
	return r.a.rc;
}

static int p_nft_check(void *nft, const struct sgc *sc, char *why, size_t len)
{
	struct {
		struct ps_nft_info i;
		char why[PS_WHY_MAX];
	} x;
	struct nft_table_info info;
	struct reply r;
	int rc = call(nft, PS_NFT_DUMP, NULL, 0, NULL, 0, &x, sizeof(x), &r);

	why[0] = '\0';
	if (rc) {
		snprintf(why, len, "reading table inet %s: %s", SGC_TABLE, strerror(-rc));
		return rc;
	}
	if (!memchr(x.why, '\0', sizeof(x.why)) || r.a.n != r.alen) {
		reply_free(&r);
		return dead(nft, "a malformed nft_check answer", -EBADMSG);
	}
	if (r.a.rc) {
		reply_free(&r);
		snprintf(why, len, "%s", x.why);
		return r.a.rc;
	}
	info = (struct nft_table_info){.exists = x.i.exists,
	                               .flags = x.i.flags,
	                               .owner = x.i.owner,
	                               .ours = x.i.ours,
	                               .use = x.i.use};
	rc = nft_table_compare(&info, r.arr, r.alen, sc, why, len);
	reply_free(&r);
	return rc;
}

static int p_nft_delete(void *nft, char *why, size_t len)
{
	char w[PS_WHY_MAX];
	struct reply r;
	int rc = call(nft, PS_NFT_DELETE, NULL, 0, NULL, 0, w, sizeof(w), &r);

	if (rc) {
		snprintf(why, len, "deleting table inet %s: %s", SGC_TABLE, strerror(-rc));
		return rc;
	}
	reply_free(&r);
	if (r.alen || !memchr(w, '\0', sizeof(w)))
		return dead(nft, "a malformed nft_delete answer", -EBADMSG);
	snprintf(why, len, "%s", w);
	return r.a.rc;
}

static int p_nft_events_fd(void *nft)
{
	return ((struct chan *)nft)->nev;
}

static bool p_nft_events_drain(void *nft)
{
	return drain_fd(((struct chan *)nft)->nev);
}

static int p_nft_counters(void *nft, struct kcounter **out, size_t *n)
{
	int rc = call_array(nft, PS_NFT_COUNTERS, NULL, 0, sizeof(**out), (void **)out, n);

	for (size_t i = 0; !rc && i < *n; i++)
		if (!memchr((*out)[i].name, '\0', sizeof((*out)[i].name))) {
			free(*out);
			*out = NULL;
			*n = 0;
			rc = dead(nft, "a counter name not terminated", -EBADMSG);
		}
	return rc;
}

#define HAS(m, t) ((m) & (1u << (t)))

/* kernel_ops for the ops the privileged side serves (the rest stay NULL). */
static void fill(struct chan *c, struct kernel_ops *k)
{
	uint32_t m = c->mask;

	k->ctx = c;
	k->route_dump = HAS(m, PS_ROUTE_DUMP) ? p_route_dump : NULL;
	k->route_apply = HAS(m, PS_ROUTE_APPLY) ? p_route_apply : NULL;
	k->link_index = HAS(m, PS_LINK_INDEX) ? p_link_index : NULL;
	k->events_fd = c->kev >= 0 ? p_events_fd : NULL;
	k->events_drain = c->kev >= 0 ? p_events_drain : NULL;
	k->addr_dump = HAS(m, PS_ADDR_DUMP) ? p_addr_dump : NULL;
	k->addr_apply = HAS(m, PS_ADDR_APPLY) ? p_addr_apply : NULL;
	k->rule_dump = HAS(m, PS_RULE_DUMP) ? p_rule_dump : NULL;
	k->rule_apply = HAS(m, PS_RULE_APPLY) ? p_rule_apply : NULL;
	k->forwarding_get = HAS(m, PS_FWD_GET) ? p_forwarding_get : NULL;
	k->forwarding_set = HAS(m, PS_FWD_SET) ? p_forwarding_set : NULL;
	k->links_list = HAS(m, PS_LINKS_LIST) ? p_links_list : NULL;
	k->tables_in_use = HAS(m, PS_TABLES_IN_USE) ? p_tables_in_use : NULL;
	k->route_get = HAS(m, PS_ROUTE_GET) ? p_route_get : NULL;
	k->ct_find = HAS(m, PS_CT_FIND) ? p_ct_find : NULL;
	k->capture_open = HAS(m, PS_CAPTURE_OPEN) ? p_capture_open : NULL;
	k->nft_counters = HAS(m, PS_NFT_COUNTERS) ? p_nft_counters : NULL;
	if (k->nft_counters)
		k->nft = c;
}

static int open_chan(struct chan *c, struct kernel_ops *out)
{
	uint32_t mask = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	c->mask = 1u << PS_OPEN;
	rc = call_rc(c, PS_OPEN, NULL, 0, &mask);
	if (rc)
		return rc;
	c->mask = mask;
	fill(c, out);
	return 0;
}

int privsep_kernel_open(struct privsep *ps, struct kernel_ops *out)
{
	return open_chan(&ps->recon, out);
}

int privsep_kernel_open_query(struct privsep *ps, struct kernel_ops *out)
{
	return open_chan(&ps->query, out);
}

int privsep_nft_attach(struct privsep *ps, struct kernel_ops *k, char *why, size_t len)
{
	struct chan *c = &ps->recon;
	char w[PS_WHY_MAX];
	struct reply r;
	int rc = call(c, PS_NFT_ATTACH, NULL, 0, NULL, 0, w, sizeof(w), &r);

	if (rc) {
		snprintf(why, len, "%s", strerror(-rc));
		return rc;
	}
	reply_free(&r);
	if (r.alen || !memchr(w, '\0', sizeof(w)))
		return dead(c, "a malformed nft_attach answer", -EBADMSG);
	if (r.a.rc) {
		snprintf(why, len, "%s", w);
		return r.a.rc;
	}
	c->mask = r.a.aux;
	fill(c, k);
	k->nft = c;
	k->nft_send = HAS(c->mask, PS_NFT_SEND) ? p_nft_send : NULL;
	k->nft_check = HAS(c->mask, PS_NFT_DUMP) ? p_nft_check : NULL;
	k->nft_delete = HAS(c->mask, PS_NFT_DELETE) ? p_nft_delete : NULL;
	k->nft_events_fd = c->nev >= 0 ? p_nft_events_fd : NULL;
	k->nft_events_drain = c->nev >= 0 ? p_nft_events_drain : NULL;
	return 0;
}

void privsep_kernel_close(struct kernel_ops *k)
{
	if (k)
		memset(k, 0, sizeof(*k));
}

pid_t privsep_pid(const struct privsep *ps)
{
	return ps->pid;
}

int privsep_life_fd(const struct privsep *ps)
{
	return ps->life;
}

/* ---- the fork ---- */

/* The privileged child keeps stdin, stdout, stderr and its channel ends, nothing else. */
static void close_others(const int *keep, size_t nkeep)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int dfd;

	if (!d)
		return;
	dfd = dirfd(d);
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);
		bool k = fd <= 2 || fd == dfd || e->d_name[0] == '.';

		for (size_t i = 0; i < nkeep && !k; i++)
			k = keep[i] == fd;
		if (!k)
			close(fd);
	}
	closedir(d);
}

/*
 * What the privileged process needs of root: CAP_NET_ADMIN (netlink, nftables,
 * socket buffers past the limits) and CAP_NET_RAW (packet sockets). The rest
 * goes, from the bounding set too where that may change; no new privileges.
 */
static void keep_net_caps(void)
{
	const uint32_t keep = 1u << CAP_NET_ADMIN | 1u << CAP_NET_RAW;
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];

	for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (!(cap < 32 && (keep & 1u << cap)) &&
		    prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1 &&
		    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0))
			break; /* no CAP_SETPCAP: the bounding set is not ours to change */
	if (syscall(SYS_capget, &h, d) == 0) {
		for (int i = 0; i < 2; i++) {
			uint32_t m = i == 0 ? keep : 0;

			d[i].effective &= m;
			d[i].permitted &= m;
			d[i].inheritable &= m;
		}
		if (syscall(SYS_capset, &h, d))
			log_warn("privsep: dropping the capabilities the kernel side does not use");
	}
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

struct serve_arg {
	int sock, kev, nev;
	bool query;
};

static void *serve_thread(void *p)
{
	struct serve_arg *a = p;

	privsep_serve(a->sock, a->query, a->kev, a->nev);
	/* Either channel ending ends the process: the front is gone or misbehaved. */
	_exit(0);
	return NULL;
}

static void child(int recon, int query, int kev, int nev, int life, pid_t parent)
{
	const int keep[] = {recon, query, kev, nev, life};
	struct serve_arg qa = {.sock = query, .kev = -1, .nev = -1, .query = true};
	sigset_t all;
	pthread_t t;

	/* The front's death ends us too, even if a channel end leaked somewhere. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(0);
	close_others(keep, sizeof(keep) / sizeof(keep[0]));
	keep_net_caps();
	/* SIGTERM ends it; ^C and SIGHUP are the front's (it closes the channels). */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	sigemptyset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	if (pthread_create(&t, NULL, serve_thread, &qa)) {
		log_error("privsep: cannot start the query thread");
		_exit(1);
	}
	privsep_serve(recon, false, kev, nev);
	_exit(0);
}

int privsep_fork(struct privsep **out)
{
	int sp[5][2], rc = 0;
	size_t made = 0;
	struct privsep *ps;
	pid_t parent = getpid(), pid;

	*out = NULL;
	for (; made < 5; made++)
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp[made])) {
			rc = -errno;
			goto fail;
		}
	ps = calloc(1, sizeof(*ps));
	if (!ps) {
		rc = -ENOMEM;
		goto fail;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		free(ps);
		goto fail;
	}
	if (pid == 0) {
		for (int i = 0; i < 5; i++)
			close(sp[i][0]);
		child(sp[0][1], sp[1][1], sp[2][1], sp[3][1], sp[4][1], parent);
	}
	for (int i = 0; i < 5; i++)
		close(sp[i][1]);
	ps->pid = pid;
	ps->kev = sp[2][0];
	ps->nev = sp[3][0];
	ps->life = sp[4][0];
	fcntl(ps->kev, F_SETFL, fcntl(ps->kev, F_GETFL) | O_NONBLOCK);
	fcntl(ps->nev, F_SETFL, fcntl(ps->nev, F_GETFL) | O_NONBLOCK);
	ps->recon =
	    (struct chan){.sock = sp[0][0], .kev = ps->kev, .nev = ps->nev, .name = "reconciler"};
	ps->query = (struct chan){.sock = sp[1][0], .kev = -1, .nev = -1, .name = "query"};
	pthread_mutex_init(&ps->recon.lock, NULL);
	pthread_mutex_init(&ps->query.lock, NULL);
	*out = ps;
	return 0;
fail:
	for (size_t i = 0; i < made; i++) {
		close(sp[i][0]);
		close(sp[i][1]);
	}
	return rc;
}

void privsep_close(struct privsep *ps, int wait_ms)
{
	if (!ps)
		return;
	close(ps->recon.sock);
	close(ps->query.sock);
	close(ps->kev);
	close(ps->nev);
	close(ps->life);
	for (int i = 0; i < wait_ms / 10; i++) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		pid_t r = waitpid(ps->pid, NULL, WNOHANG);

		if (r == ps->pid || (r < 0 && errno != EINTR))
			break;
		nanosleep(&ts, NULL);
	}
	pthread_mutex_destroy(&ps->recon.lock);
	pthread_mutex_destroy(&ps->query.lock);
	free(ps);
}
